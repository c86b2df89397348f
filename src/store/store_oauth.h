/* SPDX-License-Identifier: MIT */
/* Storage for the OAuth 2.0 authorization server and OpenID Connect
 * provider: clients, authorization codes, access and refresh tokens,
 * consents, device codes (RFC 8628) and signing keys. Part of the narrow
 * store interface (one function per query) that a PostgreSQL backend can
 * implement too. Codes and tokens are stored only as SHA-256 hashes of the
 * strings handed out (tokens also under the id they carry); client secrets as
 * a keyed hash (the caller computes them). All times are Unix milliseconds.
 * Strings in out-structs are malloc'd and owned by the struct: free them with
 * the *_clear() function. */
#ifndef TD_STORE_OAUTH_H
#define TD_STORE_OAUTH_H

#include "store/store.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* ---- clients ---- */

struct oauth_client {
    char *client_id;
    char *name;
    bool has_secret;               /* false: a public client */
    uint8_t secret_hash[32];       /* keyed hash of the secret (the caller's choice of key) */
    char *redirect_uris;           /* JSON array of strings */
    char *post_logout_redirect_uris; /* JSON array of strings */
    char *grant_types;             /* space-separated grant type names */
    char *scope;                   /* space-separated scopes the client may ask for */
    char *auth_method;             /* "client_secret_basic", "client_secret_post" or "none" */
    char *id_token_alg;            /* "RS256", "ES256" or "EdDSA" */
    char *client_uri;              /* its web page (RFC 7591 client_uri, Mastodon's website), or NULL */
    bool dynamic;                  /* registered through RFC 7591 */
    bool has_reg_token;
    uint8_t reg_token_hash[32];    /* registration access token hash (RFC 7592), if any */
    int64_t created_at;
};
void store_oauth_client_clear(struct oauth_client *c);
/** TD_EEXIST if client_id is taken. Sets created_at if 0. */
int store_oauth_client_create(struct store *st, struct oauth_client *c);
int store_oauth_client_get(struct store *st, const char *client_id, struct oauth_client *out);
typedef int store_oauth_client_cb(void *ud, const struct oauth_client *c); /* non-zero stops */
int store_oauth_client_list(struct store *st, store_oauth_client_cb *cb, void *ud);
/** Deletes the client and (by cascade) its codes, tokens, consents and device codes. */
int store_oauth_client_delete(struct store *st, const char *client_id);

/* ---- authorization codes ---- */

struct oauth_code {
    uint8_t code_hash[32];
    char *client_id;
    int64_t account_id;
    char *redirect_uri;
    char *scope;
    char *code_challenge;          /* NULL without PKCE */
    char *code_challenge_method;   /* "S256" (or NULL) */
    char *nonce;                   /* OIDC, may be NULL */
    int64_t auth_time;             /* when the user last authenticated (ms) */
    char *acr;                     /* may be NULL */
    char *amr;                     /* space-separated, may be NULL */
    int64_t grant_id;              /* ties the code to every token issued from it */
    int64_t expires_at;
    int64_t used_at;               /* 0 until redeemed */
};
void store_oauth_code_clear(struct oauth_code *c);
int store_oauth_code_create(struct store *st, const struct oauth_code *c);
/** Redeem a code: atomically set used_at = now if it was unused, and return it in out.
 * TD_ENOTFOUND if unknown. TD_EEXIST (out filled) if it had been redeemed before: the
 * caller then revokes out->grant_id (RFC 6749 §4.1.2). Expiry is the caller's check. */
int store_oauth_code_consume(struct store *st, const uint8_t code_hash[32], int64_t now,
                             struct oauth_code *out);

/* ---- access and refresh tokens ----
 * A token string carries its row id (see oauth.h, "token format"), so a new token is
 * found by that id, an INTEGER PRIMARY KEY that grows with time: issuing one appends
 * to the table instead of dirtying a random B-tree leaf. The row keeps the SHA-256 of
 * the whole token string, compared in constant time after the row is read. Tokens of
 * the old format (no id inside, id 0 here) live in oauth_tokens_legacy, keyed by their
 * hash, until they expire and are purged (migration 0009_oauth_token_ids); nothing
 * new is written there. */

enum oauth_token_kind { OAUTH_TOKEN_ACCESS = 1, OAUTH_TOKEN_REFRESH = 2 };

struct oauth_token {
    int64_t id;                    /* the id inside the token; 0 for an old-format token */
    uint8_t token_hash[32];        /* SHA-256 of the whole token string */
    int kind;                      /* enum oauth_token_kind */
    char *client_id;
    int64_t account_id;            /* 0 for client_credentials tokens */
    char *scope;
    int64_t grant_id;              /* the family: every token of one authorization */
    int64_t auth_time;             /* 0 if none */
    int64_t created_at;
    int64_t expires_at;
    bool revoked;
    bool used;                     /* a refresh token that was rotated away */
};
void store_oauth_token_clear(struct oauth_token *t);
/** t->id must be > 0 (ids_next()); TD_EEXIST if it is taken. */
int store_oauth_token_create(struct store *st, const struct oauth_token *t);
/* The functions below find a presented token by (id, token_hash): id > 0 reads the row
 * with that id and refuses it (TD_ENOTFOUND, as for an unknown id) unless its stored
 * hash equals token_hash; id 0 finds an old-format token by its hash. */
/** Any token, revoked or expired too (the caller decides). TD_ENOTFOUND if unknown. */
int store_oauth_token_get(struct store *st, int64_t id, const uint8_t token_hash[32],
                          struct oauth_token *out);
/** Rotate a refresh token away: atomically set used=1 if it was 0 and not revoked.
 * TD_EEXIST if it was already used or revoked (reuse: revoke the family). */
int store_oauth_token_mark_used(struct store *st, int64_t id, const uint8_t token_hash[32]);
/** Revoke one token (TD_OK even if unknown: RFC 7009 §2.2). */
int store_oauth_token_revoke(struct store *st, int64_t id, const uint8_t token_hash[32]);
/** Revoke every token of a grant (family). *n (may be NULL) gets the count. */
int store_oauth_grant_revoke(struct store *st, int64_t grant_id, int64_t *n);
/** Revoke every token a client holds for an account (the user revokes a connected app). */
int store_oauth_tokens_revoke_for(struct store *st, int64_t account_id, const char *client_id);
/** Delete tokens and codes that expired before now. */
int store_oauth_purge_expired(struct store *st, int64_t now, int64_t *deleted);

/* ---- consents ("remember this decision") ---- */

int store_oauth_consent_set(struct store *st, int64_t account_id, const char *client_id,
                            const char *scope);
/** The remembered scope string (caller frees), or TD_ENOTFOUND. */
int store_oauth_consent_get(struct store *st, int64_t account_id, const char *client_id,
                            char **scope);
int store_oauth_consent_delete(struct store *st, int64_t account_id, const char *client_id);

/** A client the account has granted access to: remembered consent, or live tokens. */
struct oauth_connected_app {
    const char *client_id;
    const char *client_name;
    const char *scope;             /* union of granted scopes (space-separated) */
    int64_t since;                 /* first grant time */
};
typedef int store_oauth_app_cb(void *ud, const struct oauth_connected_app *app);
/** Apps with a consent or an unrevoked, unexpired token for the account at now. */
int store_oauth_connected_apps(struct store *st, int64_t account_id, int64_t now,
                               store_oauth_app_cb *cb, void *ud);

/* ---- device authorization grant (RFC 8628) ---- */

enum oauth_device_status {
    OAUTH_DEVICE_PENDING = 0,
    OAUTH_DEVICE_APPROVED = 1,
    OAUTH_DEVICE_DENIED = 2,
    OAUTH_DEVICE_USED = 3,
};

struct oauth_device {
    uint8_t device_code_hash[32];
    char *user_code;               /* normalized: uppercase letters without separators */
    char *client_id;
    char *scope;
    int64_t expires_at;
    int64_t interval_ms;           /* current polling interval (grows on slow_down) */
    int64_t last_poll_at;          /* 0 = never polled */
    int status;                    /* enum oauth_device_status */
    int64_t account_id;            /* who approved, 0 while pending */
    int64_t auth_time;
};
void store_oauth_device_clear(struct oauth_device *d);
/** TD_EEXIST if the user code collides (the caller makes a new one). */
int store_oauth_device_create(struct store *st, const struct oauth_device *d);
int store_oauth_device_get(struct store *st, const uint8_t device_code_hash[32],
                           struct oauth_device *out);
int store_oauth_device_get_by_user_code(struct store *st, const char *user_code,
                                        struct oauth_device *out);
/** Approve or deny: only a pending, unexpired code changes (TD_ENOTFOUND otherwise). */
int store_oauth_device_decide(struct store *st, const char *user_code, int64_t now, bool approve,
                              int64_t account_id, int64_t auth_time);
/** Record a poll at now and set the interval; returns the previous last_poll_at. */
int store_oauth_device_poll(struct store *st, const uint8_t device_code_hash[32], int64_t now,
                            int64_t interval_ms, int64_t *previous_poll);
/** Approved → used, atomically; TD_ENOTFOUND if it was not approved (already used, etc.). */
int store_oauth_device_mark_used(struct store *st, const uint8_t device_code_hash[32]);

/* ---- signing keys ---- */

struct oauth_key_row {
    char *kid;
    char *alg;                     /* "RS256", "ES256", "EdDSA" */
    char *private_pem;             /* PKCS#8 */
    int64_t created_at;
    int64_t use_from;              /* published from created_at, used for signing from here */
    int64_t retire_at;             /* 0 = active; else no longer published after this time */
};
void store_oauth_key_clear(struct oauth_key_row *k);
int store_oauth_key_add(struct store *st, const struct oauth_key_row *k);
typedef int store_oauth_key_cb(void *ud, const struct oauth_key_row *k);
/** All keys, oldest first. */
int store_oauth_key_list(struct store *st, store_oauth_key_cb *cb, void *ud);
int store_oauth_key_set_retire(struct store *st, const char *kid, int64_t retire_at);
int store_oauth_key_delete(struct store *st, const char *kid);

#endif
