/* SPDX-License-Identifier: MIT */
/* The OAuth 2.0 authorization server and OpenID Connect provider: the
 * protocol core shared by its front-ends. The JSON endpoints (token,
 * revocation, introspection, userinfo, discovery, JWKS, registration,
 * device authorization) live in api/api_oauth.c; the pages people see
 * (authorize + consent, device verification, connected apps, logout) in
 * web/web_oauth.c. This core knows no HTTP: it validates, decides and
 * issues, and reports OAuth error codes as strings for the front-ends to
 * map onto their wire (RFC 6749 §4.1.2.1 redirects, §5.2 JSON bodies,
 * RFC 6750 §3 WWW-Authenticate).
 *
 * Codes are opaque random strings (256 bits, base64url). Access and refresh
 * tokens carry their store row id before 224 random bits (see "token format"
 * below). The store keeps only the SHA-256 of either. Access tokens are opaque rather than JWTs
 * so that revocation takes effect at once everywhere (introspection and
 * userinfo consult the store), and issuing one costs a hash and an insert
 * instead of a signature. id_tokens are JWTs signed by oauth_keys. */
#ifndef TD_OAUTH_H
#define TD_OAUTH_H

#include "core/arena.h"
#include "core/buf.h"
#include "oauth/jose.h"
#include "store/store.h"
#include "store/store_oauth.h"

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>
#include <uv.h>

/* ---- scopes: the one table every service checks ---- */

struct oauth_scope_def {
    const char *name;
    const char *description; /* plain words for the consent page */
};
extern const struct oauth_scope_def oauth_scope_table[];
extern const size_t oauth_scope_count;
const struct oauth_scope_def *oauth_scope_find(const char *name);
/** True if scope is a space-separated list of known scopes (at most 32 entries). */
bool oauth_scope_valid(const char *scope);
/** True if every scope in want appears in have. */
bool oauth_scope_subset(const char *want, const char *have);
bool oauth_scope_has(const char *scope, const char *one);
/** True if a space-separated parameter list (scope, prompt, grant_types) has the word. */
bool oauth_list_has(const char *list, const char *word);
/** Sorted, de-duplicated copy (arena). */
char *oauth_scope_normalize(struct arena *a, const char *scope);

/* ---- lifetimes ---- */

#define OAUTH_CODE_TTL_MS (60 * 1000)
#define OAUTH_ACCESS_TTL_MS (3600 * 1000)
#define OAUTH_REFRESH_TTL_MS (30LL * 86400 * 1000)
#define OAUTH_ID_TOKEN_TTL_S 3600
#define OAUTH_DEVICE_TTL_MS (600 * 1000)
#define OAUTH_DEVICE_INTERVAL_MS (5 * 1000)

#define OAUTH_GRANT_CODE "authorization_code"
#define OAUTH_GRANT_REFRESH "refresh_token"
#define OAUTH_GRANT_CLIENT_CREDENTIALS "client_credentials"
#define OAUTH_GRANT_DEVICE "urn:ietf:params:oauth:grant-type:device_code"
/* Resource owner password credentials (RFC 6749 §4.3), which RFC 9700 §2.4 says must
 * not be used. Only clients registered through the Mastodon API (/api/v1/apps) carry
 * it, and the token endpoint honours it only when microblog.password_grant is on: old
 * Mastodon apps log in that way. Having it marks a client as a Mastodon app. */
#define OAUTH_GRANT_PASSWORD "password"
/* What a Mastodon app may do (Mastodon's Doorkeeper set-up). */
#define OAUTH_MASTO_GRANTS "authorization_code refresh_token client_credentials password"
/* The out-of-band redirect URI: show the code to the user to paste into the app. Only
 * Mastodon apps may register it. */
#define OAUTH_REDIRECT_OOB "urn:ietf:wg:oauth:2.0:oob"

enum oauth_registration { OAUTH_REG_OFF = 0, OAUTH_REG_OPEN, OAUTH_REG_TOKEN };

struct oauth_keys;
struct auth_ratelimit;

struct oauth {
    uv_loop_t *loop;
    struct store *store;
    char *issuer;                     /* base URL without a trailing slash */
    char *domain;                     /* site domain (for claims) */
    struct oauth_keys *keys;
    uint8_t secret_key[32];           /* HMAC key for client secrets (store secret) */
    struct auth_ratelimit *rl_token;  /* failed client authentications per client/address */
    struct auth_ratelimit *rl_register; /* client registrations per address */
    int registration;                 /* enum oauth_registration */
    uint8_t registration_token_hash[32]; /* when OAUTH_REG_TOKEN */
};

/** Set up the provider: keys (made on first start), secrets. issuer has no trailing '/'. */
int oauth_init(struct oauth *o, uv_loop_t *loop, struct store *st, const char *issuer,
               const char *domain, char **err);
void oauth_free(struct oauth *o);

/* ---- clients ---- */

/** The stored form of a client secret: HMAC-SHA256 under the server's key. A secret is
 * 256 random bits, so a fast keyed hash is as safe as a slow one and keeps the token
 * endpoint fast. */
void oauth_client_secret_hash(const struct oauth *o, const char *secret, uint8_t out[32]);
/** Make a new client (CLI and dynamic registration). Fills c->client_id if NULL with a
 * new malloc'd id that the caller frees (and
 * returns the secret in secret_out, 43 chars + NUL, when c->auth_method is not "none").
 * Validates the redirect URIs (absolute, no fragment; https, or http on loopback, or a
 * private-use scheme for native apps), grant types, scope and auth method; on TD_EINVAL
 * *why tells what is wrong. Fills defaults for NULL fields (grant_types
 * "authorization_code refresh_token", scope "openid profile email offline_access",
 * id_token_alg "RS256", post_logout_redirect_uris "[]"). c's strings stay the caller's. */
int oauth_client_register(struct oauth *o, struct oauth_client *c, char secret_out[44],
                          const char **why);
/** A Mastodon app (POST /api/v1/apps): like oauth_client_register, with grant_types
 * OAUTH_MASTO_GRANTS and auth method client_secret_post (client_secret_basic works
 * too, as on Mastodon), and the out-of-band redirect URI allowed. */
int oauth_client_register_masto(struct oauth *o, struct oauth_client *c, char secret_out[44],
                                const char **why);
/** True for a client registered through the Mastodon API. */
bool oauth_client_is_masto(const struct oauth_client *c);
/** Registration endpoints (RFC 7591 and /api/v1/apps) call this before registering: true
 * and counted if peer is under its hourly allowance, else false with *wait_ms. */
bool oauth_register_allowed(struct oauth *o, const char *peer, int64_t *wait_ms);
/** Client authentication at the token, revocation and introspection endpoints (RFC 6749
 * §2.3.1): the Authorization header value (may be NULL) for client_secret_basic, or
 * client_id/client_secret form fields for client_secret_post; public clients present
 * only client_id. Using a method other than the registered one fails. On success fills
 * out (clear it with store_oauth_client_clear). On failure returns TD_EDENIED with
 * *error "invalid_client" (or TD_ELIMIT with "invalid_client" after too many failures);
 * the front-end answers 401 and, when the header was used, WWW-Authenticate: Basic. */
int oauth_client_authenticate(struct oauth *o, const char *authorization,
                              const char *form_client_id, const char *form_client_secret,
                              const char *peer, struct oauth_client *out, const char **error,
                              const char **why);
/** Exact redirect URI matching (RFC 9700 §2.1), except that loopback redirect URIs of
 * native apps match on any port (RFC 8252 §7.3). */
bool oauth_redirect_uri_ok(const struct oauth_client *c, const char *uri);
bool oauth_client_has_grant(const struct oauth_client *c, const char *grant);
/** PKCE (RFC 7636 §4.6): true if BASE64URL(SHA256(verifier)) == challenge, verifier 43..128
 * unreserved characters. */
bool oauth_pkce_ok(const char *verifier, const char *challenge);

/* ---- issuing ---- */

struct oauth_issue {
    const struct oauth_client *client;
    int64_t account_id;      /* 0 for client_credentials */
    const char *scope;       /* granted scope */
    const char *refresh_scope; /* the new refresh token's scope; NULL = scope (RFC 6749
                                  §6: a refresh keeps the original token's scope even
                                  when the client narrows the new access token's) */
    int64_t grant_id;        /* family id; 0 = make a new one */
    int64_t auth_time;       /* ms; 0 if none */
    const char *nonce;       /* for the id_token; may be NULL */
    const char *acr;         /* may be NULL */
    const char *amr;         /* space-separated; may be NULL */
    bool refresh;            /* also issue a refresh token */
    bool id_token;           /* also issue an id_token (needs an account) */
    int64_t access_ttl_ms;   /* access token lifetime; 0 = OAUTH_ACCESS_TTL_MS */
};
/** Issue tokens and build the token response (RFC 6749 §5.1): access_token, token_type
 * "Bearer", expires_in, scope, refresh_token?, id_token?. Caller decrefs *response. */
int oauth_issue(struct oauth *o, const struct oauth_issue *is, json_t **response);
typedef void oauth_issue_cb(void *ud, int rc);
/** oauth_issue(), with the id_token (when one is due) signed on libuv's thread pool so
 * that an RSA signature does not hold up the loop: then *signing is true, *response
 * lacks the id_token for now, and cb(ud, rc) runs later on the loop thread, after
 * "id_token" has been added to *response (rc TD_OK) or signing failed (the caller
 * must keep *response until then, and answer only after cb). Without a loop
 * (o->loop NULL) it signs at once, like oauth_issue(). */
int oauth_issue_async(struct oauth *o, const struct oauth_issue *is, json_t **response,
                      bool *signing, oauth_issue_cb *cb, void *ud);
/** Store a new authorization code (c->code_hash is filled here; c's other fields are the
 * caller's) and write the code string (43 chars + NUL). */
int oauth_code_issue(struct oauth *o, struct oauth_code *c, char code_out[44]);
/** The userinfo claims for an account under a scope (OIDC Core §5.4): sub always;
 * profile: name, preferred_username, nickname, profile, picture (if any), updated_at;
 * email: email, email_verified (when the account has one). Caller decrefs. */
json_t *oauth_claims(struct oauth *o, const struct account *a, const char *scope);
/** The subject identifier for an account (stable, never reused): the account id as text. */
void oauth_subject(int64_t account_id, char out[24]);
/** Hash a code or token string for the store. */
void oauth_hash(const char *s, uint8_t out[32]);

/* ---- token format ----
 * An access or refresh token is OAUTH_TOKEN_BYTES bytes as unpadded base64url
 * (RFC 4648 §5), OAUTH_TOKEN_LEN characters: an 8-byte big-endian row id from
 * ids_next() and 28 bytes from the CSPRNG (224 bits of secret). The id lets the
 * store append new tokens in time order and find a presented one by primary key;
 * the secret is what proves possession: the store keeps the SHA-256 of the whole
 * string and compares it in constant time. The id reveals only when the token was
 * issued. Tokens issued before this format (43 characters, 256 random bits, no id)
 * stay valid until they expire: they parse with id 0 and are found by hash. */
#define OAUTH_TOKEN_BYTES 36
#define OAUTH_TOKEN_LEN 48            /* CODEC_B64URL_LEN(OAUTH_TOKEN_BYTES) */
#define OAUTH_TOKEN_LEGACY_LEN 43
/** Make a new token: out gets OAUTH_TOKEN_LEN characters and a NUL, *id its row id,
 * hash the SHA-256 of the string. */
void oauth_token_new(char out[OAUTH_TOKEN_LEN + 1], int64_t *id, uint8_t hash[32]);
/** Parse a presented token into the store's look-up key: TD_OK with *id > 0 for a
 * token of the current format, TD_OK with *id 0 for a 43-character old-format one,
 * TD_EINVAL (the caller answers as for an unknown token) for anything else: another
 * length, characters outside base64url, an id that is not positive. */
int oauth_token_parse(const char *token, int64_t *id, uint8_t hash[32]);

/* ---- checking tokens ---- */

/** Look up a presented access token: TD_OK and *out (clear it) if it exists, is an access
 * token, not revoked, not expired at now (ms), and its account (if any) is not disabled;
 * TD_EDENIED otherwise. */
int oauth_access_token_check(struct oauth *o, const char *token, int64_t now,
                             struct oauth_token *out);

/* ---- keys (oauth_keys.c); the only code that touches signing keys ---- */

/** Load keys from the store; make an RS256, ES256 and EdDSA key on first start. */
int oauth_keys_open(struct store *st, struct oauth_keys **out, char **err);
void oauth_keys_free(struct oauth_keys *k);
/** The key to sign with for alg right now (published, in use, not retired), or NULL. */
const struct jose_key *oauth_keys_signer(struct oauth_keys *k, enum jose_alg alg);
/** The public JWKS document {"keys":[...]}: every published key (new ones before use, old
 * ones until their tokens expire). Caller decrefs. */
json_t *oauth_keys_jwks(struct oauth_keys *k);
/** The same document as compact JSON text, cached until the key set or a retirement time
 * changes it; valid until the next call. */
const char *oauth_keys_jwks_text(struct oauth_keys *k, size_t *len);
/** Rotation: publish a new key per alg now, sign with it from now+delay_ms, and stop
 * publishing the old ones after that plus the id_token lifetime. */
int oauth_keys_rotate(struct oauth_keys *k, struct store *st, int64_t delay_ms);

#endif
