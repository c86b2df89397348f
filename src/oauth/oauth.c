/* SPDX-License-Identifier: MIT */
/* The OAuth 2.0 / OpenID Connect protocol core; see oauth.h. Scopes, client
 * registration and authentication, redirect URI and PKCE checks, and the
 * issuing of codes, access and refresh tokens and id_tokens.
 * RFC 6749, RFC 7636 (PKCE), RFC 8252 (native apps), RFC 9700 (security
 * BCP), OpenID Connect Core 1.0. */
#include "oauth/oauth.h"

#include "auth/auth_ratelimit.h"
#include "auth/auth_token.h"
#include "core/codec.h"
#include "core/err.h"
#include "core/ids.h"
#include "core/log.h"

#include <openssl/rand.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define SCOPE_MAX_ITEMS 32
#define REDIRECT_URI_MAX 2000
#define CLIENT_URI_MAX 2000 /* Mastodon's limit for an app's website */
#define REDIRECT_URIS_MAX 16
#define CLIENT_FAIL_MAX 20            /* failed client authentications ... */
#define CLIENT_FAIL_WINDOW_MS 60000   /* ... per minute, per client and per address */
#define REGISTER_MAX 30               /* client registrations ... */
#define REGISTER_WINDOW_MS 3600000    /* ... per hour, per address */

/* ---- scopes ---- */

const struct oauth_scope_def oauth_scope_table[] = {
    {"openid", "Confirm who you are on this site"},
    {"profile", "See your name, username and picture"},
    {"email", "See your email address"},
    {"offline_access", "Stay connected while you are not using the app"},
    {"contacts.read", "See your messenger contacts"},
    {"presence.read", "See when your contacts are online"},
    {"chat", "Send and receive chat messages as you"},
    {"activities.read", "Read the updates from your blog and microblog"},
    {"activities.write", "Publish updates as you"},
    {"microblog.read", "Read your microblog, timelines and notifications"},
    {"microblog.write", "Post, boost and like on the microblog as you"},
    {"blog.read", "Read your blog, including drafts"},
    {"blog.write", "Write and publish blog posts as you"},
    /* Mastodon's scopes, so that its apps work unchanged; api_masto_scope_ok()
     * maps each onto the microblog (read = microblog.read, write = microblog.write). */
    {"read", "Read your microblog: posts, timelines, notifications, follows"},
    {"write", "Post, boost, like, follow and change your microblog account as you"},
    {"follow", "Follow, block and mute accounts as you"},
    {"push", "Receive push notifications (not offered: accepted and unused)"},
    {"read:accounts", "See your microblog profile and other accounts"},
    {"read:blocks", "See whom you block"},
    {"read:bookmarks", "See your bookmarks"},
    {"read:favourites", "See the posts you liked"},
    {"read:filters", "See your filters"},
    {"read:follows", "See whom you follow"},
    {"read:lists", "See your lists"},
    {"read:mutes", "See whom you mute"},
    {"read:notifications", "See your notifications"},
    {"read:search", "Search as you"},
    {"read:statuses", "See your posts and timelines"},
    {"write:accounts", "Change your microblog profile"},
    {"write:blocks", "Block and unblock accounts"},
    {"write:bookmarks", "Bookmark posts"},
    {"write:conversations", "Change your conversations"},
    {"write:favourites", "Like posts"},
    {"write:filters", "Change your filters"},
    {"write:follows", "Follow and unfollow accounts"},
    {"write:lists", "Change your lists"},
    {"write:media", "Upload images"},
    {"write:mutes", "Mute and unmute accounts"},
    {"write:notifications", "Dismiss your notifications"},
    {"write:reports", "Report accounts"},
    {"write:statuses", "Post, boost and delete posts as you"},
};
const size_t oauth_scope_count = sizeof(oauth_scope_table) / sizeof(oauth_scope_table[0]);

static const struct oauth_scope_def *scope_find_n(const char *name, size_t len)
{
    for (size_t i = 0; i < oauth_scope_count; i++)
        if (strlen(oauth_scope_table[i].name) == len &&
            memcmp(oauth_scope_table[i].name, name, len) == 0)
            return &oauth_scope_table[i];
    return NULL;
}

const struct oauth_scope_def *oauth_scope_find(const char *name)
{
    return scope_find_n(name, strlen(name));
}

/* Iterate space-separated items: *p advances; returns the next item's length, 0 at end. */
static size_t next_item(const char **p, const char **item)
{
    const char *s = *p;
    while (*s == ' ')
        s++;
    *item = s;
    while (*s && *s != ' ')
        s++;
    *p = s;
    return (size_t)(s - *item);
}

static bool list_has(const char *list, const char *one, size_t one_len)
{
    const char *p = list;
    const char *item;
    size_t len;

    while ((len = next_item(&p, &item)) > 0)
        if (len == one_len && memcmp(item, one, len) == 0)
            return true;
    return false;
}

bool oauth_scope_valid(const char *scope)
{
    const char *p = scope;
    const char *item;
    size_t len;
    size_t n = 0;

    if (scope == NULL)
        return false;
    for (const char *c = scope; *c; c++)
        if (*c != ' ' && (*c < 0x21 || *c > 0x7e || *c == '"' || *c == '\\'))
            return false; /* RFC 6749 §3.3 scope-token characters */
    while ((len = next_item(&p, &item)) > 0) {
        if (++n > SCOPE_MAX_ITEMS || scope_find_n(item, len) == NULL)
            return false;
    }
    return true;
}

bool oauth_scope_subset(const char *want, const char *have)
{
    const char *p = want;
    const char *item;
    size_t len;

    while ((len = next_item(&p, &item)) > 0)
        if (!list_has(have, item, len))
            return false;
    return true;
}

bool oauth_list_has(const char *list, const char *word)
{
    return list && list_has(list, word, strlen(word));
}

bool oauth_scope_has(const char *scope, const char *one)
{
    return oauth_list_has(scope, one);
}

char *oauth_scope_normalize(struct arena *a, const char *scope)
{
    struct buf b;
    char *out;

    buf_init(&b, 0);
    /* Table order is a stable, meaningful order for people and for tests. */
    for (size_t i = 0; i < oauth_scope_count; i++) {
        if (!oauth_scope_has(scope, oauth_scope_table[i].name))
            continue;
        if (b.len)
            buf_putc(&b, ' ');
        buf_appends(&b, oauth_scope_table[i].name);
    }
    out = arena_strdup(a, b.data ? b.data : "");
    buf_free(&b);
    return out;
}

/* ---- set-up ---- */

int oauth_init(struct oauth *o, uv_loop_t *loop, struct store *st, const char *issuer,
               const char *domain, char **err)
{
    int rc;

    memset(o, 0, sizeof(*o));
    if (sodium_init() < 0) {
        *err = td_strdup("libsodium failed to initialise");
        return TD_EIO;
    }
    o->loop = loop;
    o->store = st;
    o->issuer = td_strdup(issuer);
    o->domain = td_strdup(domain);
    rc = store_secret_get(st, "oauth_client_secret_key", o->secret_key, sizeof(o->secret_key));
    if (rc != TD_OK) {
        *err = td_strdup("cannot read the OAuth secret key from the store");
        return rc;
    }
    rc = oauth_keys_open(st, &o->keys, err);
    if (rc != TD_OK)
        return rc;
    o->rl_token = auth_ratelimit_new(CLIENT_FAIL_MAX, CLIENT_FAIL_WINDOW_MS, 100000);
    o->rl_register = auth_ratelimit_new(REGISTER_MAX, REGISTER_WINDOW_MS, 100000);
    return TD_OK;
}

void oauth_free(struct oauth *o)
{
    if (o == NULL)
        return;
    oauth_keys_free(o->keys);
    auth_ratelimit_free(o->rl_token);
    auth_ratelimit_free(o->rl_register);
    free(o->issuer);
    free(o->domain);
    sodium_memzero(o->secret_key, sizeof(o->secret_key));
    memset(o, 0, sizeof(*o));
}

/* ---- clients ---- */

void oauth_hash(const char *s, uint8_t out[32])
{
    auth_token_hash(s, strlen(s), out);
}

void oauth_token_new(char out[OAUTH_TOKEN_LEN + 1], int64_t *id, uint8_t hash[32])
{
    uint8_t raw[OAUTH_TOKEN_BYTES];
    int64_t row = ids_next();
    uint64_t v = (uint64_t)row;
    struct buf b;
    int rc;

    for (int i = 7; i >= 0; i--) {
        raw[i] = (uint8_t)(v & 0xff);
        v >>= 8;
    }
    /* OpenSSL's DRBG (seeded from the OS, per thread) draws without a system
     * call per token, unlike getrandom() behind randombytes_buf. */
    if (RAND_bytes(raw + 8, (int)(sizeof(raw) - 8)) != 1)
        randombytes_buf(raw + 8, sizeof(raw) - 8);
    buf_init(&b, 0);
    rc = codec_b64url_encode(&b, raw, sizeof(raw));
    TD_ASSERT(rc == TD_OK && b.len == OAUTH_TOKEN_LEN);
    memcpy(out, b.data, OAUTH_TOKEN_LEN);
    out[OAUTH_TOKEN_LEN] = '\0';
    sodium_memzero(b.data, b.len);
    buf_free(&b);
    sodium_memzero(raw, sizeof(raw));
    *id = row;
    auth_token_hash(out, OAUTH_TOKEN_LEN, hash);
}

int oauth_token_parse(const char *token, int64_t *id, uint8_t hash[32])
{
    uint8_t raw[OAUTH_TOKEN_BYTES];
    size_t len = token ? strlen(token) : 0;
    size_t n = 0;
    uint64_t v = 0;

    *id = 0;
    memset(hash, 0, 32);
    if (len == OAUTH_TOKEN_LEGACY_LEN) {
        auth_token_hash(token, len, hash);
        return TD_OK;
    }
    if (len != OAUTH_TOKEN_LEN ||
        codec_b64url_decode(token, len, raw, sizeof(raw), &n) != TD_OK || n != sizeof(raw))
        return TD_EINVAL;
    for (int i = 0; i < 8; i++)
        v = v << 8 | raw[i];
    sodium_memzero(raw, sizeof(raw));
    if (v == 0 || v > (uint64_t)INT64_MAX)
        return TD_EINVAL;
    *id = (int64_t)v;
    auth_token_hash(token, len, hash);
    return TD_OK;
}

void oauth_client_secret_hash(const struct oauth *o, const char *secret, uint8_t out[32])
{
    crypto_auth_hmacsha256(out, (const unsigned char *)secret, strlen(secret), o->secret_key);
}

static bool is_loopback_host(const char *host, size_t len)
{
    return (len == 9 && memcmp(host, "127.0.0.1", 9) == 0) ||
           (len == 5 && memcmp(host, "[::1]", 5) == 0) ||
           (len == 9 && strncasecmp(host, "localhost", 9) == 0);
}

/* Split "scheme://host[:port]/rest": host and port positions; false if not that shape. */
static bool split_authority(const char *uri, const char **host, size_t *host_len,
                            const char **after_port)
{
    const char *p = strstr(uri, "://");
    const char *h;
    const char *end;

    if (p == NULL)
        return false;
    h = p + 3;
    if (*h == '[') {
        end = strchr(h, ']');
        if (end == NULL)
            return false;
        end++;
    } else {
        end = h + strcspn(h, ":/?#");
    }
    *host = h;
    *host_len = (size_t)(end - h);
    if (*end == ':') {
        end++;
        while (*end >= '0' && *end <= '9')
            end++;
    }
    *after_port = end;
    return *host_len > 0;
}

/* RFC 6749 §3.1.2, RFC 8252 §7, RFC 9700 §2.1. Mastodon apps may also register the
 * out-of-band URI: the code is then shown to the user instead of sent anywhere. */
static const char *check_redirect_uri(const char *uri, bool masto)
{
    const char *colon = strchr(uri, ':');
    const char *host;
    const char *rest;
    size_t host_len;

    if (masto && strcmp(uri, OAUTH_REDIRECT_OOB) == 0)
        return NULL;
    if (strlen(uri) > REDIRECT_URI_MAX)
        return "a redirect URI is too long";
    if (strchr(uri, '#'))
        return "redirect URIs must not contain a fragment";
    for (const char *c = uri; *c; c++)
        if ((unsigned char)*c <= 0x20 || *c == 0x7f || *c == '"' || *c == '<' || *c == '>')
            return "redirect URIs must not contain spaces or control characters";
    if (colon == NULL || colon == uri)
        return "redirect URIs must be absolute";
    for (const char *c = uri; c < colon; c++)
        if (!((*c >= 'a' && *c <= 'z') || (*c >= 'A' && *c <= 'Z') ||
              (c > uri && ((*c >= '0' && *c <= '9') || *c == '+' || *c == '-' || *c == '.'))))
            return "a redirect URI has an invalid scheme";
    if (strncasecmp(uri, "https://", 8) == 0)
        return split_authority(uri, &host, &host_len, &rest) ? NULL : "a redirect URI has no host";
    if (strncasecmp(uri, "http://", 7) == 0) {
        if (!split_authority(uri, &host, &host_len, &rest) || !is_loopback_host(host, host_len))
            return "plain http redirect URIs are allowed only on loopback (127.0.0.1, [::1])";
        return NULL;
    }
    /* Private-use URI scheme for native apps: reverse domain name (RFC 8252 §7.1). */
    if (memchr(uri, '.', (size_t)(colon - uri)) == NULL)
        return "custom redirect URI schemes must be reverse domain names (com.example.app:/cb)";
    if (strncasecmp(uri, "javascript:", 11) == 0 || strncasecmp(uri, "data:", 5) == 0)
        return "that redirect URI scheme is not allowed";
    return NULL;
}

/* RFC 7591 §2 client_uri (Mastodon's app website): a web page the consent
 * screen or an admin may link to, so only http(s) with a host, no spaces or
 * markup characters. */
static const char *check_client_uri(const char *uri)
{
    const char *host, *rest;
    size_t host_len;

    if (uri == NULL)
        return NULL;
    if (strlen(uri) > CLIENT_URI_MAX)
        return "the client's website address is too long";
    for (const char *c = uri; *c; c++)
        if ((unsigned char)*c <= 0x20 || *c == 0x7f || *c == '"' || *c == '<' || *c == '>')
            return "the client's website address must not contain spaces or control characters";
    if ((strncasecmp(uri, "https://", 8) != 0 && strncasecmp(uri, "http://", 7) != 0) ||
        !split_authority(uri, &host, &host_len, &rest) || host_len == 0)
        return "the client's website must be an http or https URL";
    return NULL;
}

static const char *const known_grants[] = {OAUTH_GRANT_CODE, OAUTH_GRANT_REFRESH,
                                           OAUTH_GRANT_CLIENT_CREDENTIALS, OAUTH_GRANT_DEVICE,
                                           OAUTH_GRANT_PASSWORD};

/* masto: registered through the Mastodon API, the only way to the password grant. */
static const char *check_client(struct oauth_client *c, bool masto)
{
    const char *p;
    const char *item;
    size_t len;
    json_t *uris;
    json_error_t e;
    const char *why = NULL;
    size_t i;
    json_t *v;

    if (strcmp(c->auth_method, "client_secret_basic") != 0 &&
        strcmp(c->auth_method, "client_secret_post") != 0 && strcmp(c->auth_method, "none") != 0)
        return "token_endpoint_auth_method must be client_secret_basic, client_secret_post "
               "or none";
    p = c->grant_types;
    while ((len = next_item(&p, &item)) > 0) {
        bool ok = false;
        for (i = 0; i < TD_ARRAY_LEN(known_grants); i++)
            ok |= strlen(known_grants[i]) == len && memcmp(known_grants[i], item, len) == 0;
        if (!masto && len == strlen(OAUTH_GRANT_PASSWORD) &&
            memcmp(item, OAUTH_GRANT_PASSWORD, len) == 0)
            ok = false;
        if (!ok)
            return "unsupported grant type (implicit and password grants are not offered)";
    }
    if (strcmp(c->auth_method, "none") == 0 &&
        oauth_client_has_grant(c, OAUTH_GRANT_CLIENT_CREDENTIALS))
        return "public clients cannot use the client_credentials grant";
    if (!oauth_scope_valid(c->scope))
        return "unknown scope";
    enum jose_alg alg;
    if (jose_alg_parse(c->id_token_alg, &alg) != TD_OK)
        return "id_token_signed_response_alg must be RS256, ES256 or EdDSA";
    uris = json_loads(c->redirect_uris, 0, &e);
    if (!json_is_array(uris) || json_array_size(uris) > REDIRECT_URIS_MAX) {
        json_decref(uris);
        return "redirect_uris must be an array of at most 16 URIs";
    }
    if (oauth_client_has_grant(c, OAUTH_GRANT_CODE) && json_array_size(uris) == 0)
        why = "the authorization_code grant needs at least one redirect URI";
    json_array_foreach(uris, i, v)
    {
        if (why == NULL && !json_is_string(v))
            why = "redirect_uris must be strings";
        if (why == NULL)
            why = check_redirect_uri(json_string_value(v), masto);
    }
    json_decref(uris);
    return why ? why : check_client_uri(c->client_uri);
}

static int client_register(struct oauth *o, struct oauth_client *c, char secret_out[44],
                           const char **why, bool masto)
{
    uint8_t id_bytes[16];
    struct buf id;
    uint8_t unused[32];
    char *own_id = NULL;
    int rc;

    if (c->name == NULL || c->name[0] == '\0' || strlen(c->name) > 200) {
        *why = "a client name of 1 to 200 bytes is needed";
        return TD_EINVAL;
    }
    if (c->grant_types == NULL)
        c->grant_types = (char *)"authorization_code refresh_token";
    if (c->scope == NULL)
        c->scope = (char *)"openid profile email offline_access";
    if (c->auth_method == NULL)
        c->auth_method = (char *)"client_secret_basic";
    if (c->id_token_alg == NULL)
        c->id_token_alg = (char *)"RS256";
    if (c->redirect_uris == NULL)
        c->redirect_uris = (char *)"[]";
    if (c->post_logout_redirect_uris == NULL)
        c->post_logout_redirect_uris = (char *)"[]";
    *why = check_client(c, masto);
    if (*why)
        return TD_EINVAL;
    if (c->client_id == NULL) {
        randombytes_buf(id_bytes, sizeof(id_bytes));
        buf_init(&id, 0);
        codec_b64url_encode(&id, id_bytes, sizeof(id_bytes));
        own_id = buf_steal(&id, NULL);
        c->client_id = own_id;
    }
    c->has_secret = strcmp(c->auth_method, "none") != 0;
    secret_out[0] = '\0';
    if (c->has_secret) {
        auth_token_new(secret_out, unused);
        oauth_client_secret_hash(o, secret_out, c->secret_hash);
    }
    rc = store_oauth_client_create(o->store, c);
    if (rc == TD_EEXIST)
        *why = "that client_id is taken";
    if (own_id && rc != TD_OK) {
        free(own_id);
        c->client_id = NULL;
    }
    /* On success the generated id stays in c->client_id, owned by the caller. */
    return rc;
}

int oauth_client_register(struct oauth *o, struct oauth_client *c, char secret_out[44],
                          const char **why)
{
    return client_register(o, c, secret_out, why, false);
}

int oauth_client_register_masto(struct oauth *o, struct oauth_client *c, char secret_out[44],
                                const char **why)
{
    c->grant_types = (char *)OAUTH_MASTO_GRANTS;
    c->auth_method = (char *)"client_secret_post";
    return client_register(o, c, secret_out, why, true);
}

bool oauth_client_is_masto(const struct oauth_client *c)
{
    return oauth_client_has_grant(c, OAUTH_GRANT_PASSWORD);
}

bool oauth_register_allowed(struct oauth *o, const char *peer, int64_t *wait_ms)
{
    char key[80];
    int64_t now = store_now_ms();

    snprintf(key, sizeof(key), "r:%s", peer ? peer : "");
    *wait_ms = 0;
    if (auth_ratelimit_check(o->rl_register, key, now, wait_ms) != TD_OK)
        return false;
    auth_ratelimit_hit(o->rl_register, key, now);
    return true;
}

/* Percent-decoding in place (RFC 6749 §2.3.1: Basic credentials are form-encoded). */
static bool pct_decode(char *s)
{
    char *w = s;
    for (char *r = s; *r; r++) {
        if (*r == '%') {
            unsigned v;
            if (sscanf(r + 1, "%2x", &v) != 1 || !r[1] || !r[2] || v == 0)
                return false;
            *w++ = (char)v;
            r += 2;
        } else {
            *w++ = *r == '+' ? ' ' : *r;
        }
    }
    *w = '\0';
    return true;
}

/* Parse "Basic base64(id:secret)" into id and secret (malloc'd into *mem). */
static bool parse_basic(const char *h, char **mem, const char **id, const char **secret)
{
    uint8_t raw[512];
    size_t n = 0;
    char *colon;

    if (strncasecmp(h, "Basic ", 6) != 0)
        return false;
    h += 6;
    while (*h == ' ')
        h++;
    if (codec_b64_decode(h, strlen(h), raw, sizeof(raw) - 1, &n) != TD_OK)
        return false;
    raw[n] = '\0';
    if (memchr(raw, '\0', n))
        return false;
    *mem = td_strndup((const char *)raw, n);
    colon = strchr(*mem, ':');
    if (colon == NULL)
        return false;
    *colon = '\0';
    if (!pct_decode(*mem) || !pct_decode(colon + 1))
        return false;
    *id = *mem;
    *secret = colon + 1;
    return true;
}

static int deny(struct oauth *o, const char *client_id, const char *peer, const char **error,
                const char **why, const char *reason)
{
    char key[160];
    int64_t now = store_now_ms();

    snprintf(key, sizeof(key), "c:%s", client_id ? client_id : "");
    auth_ratelimit_hit(o->rl_token, key, now);
    snprintf(key, sizeof(key), "a:%s", peer ? peer : "");
    auth_ratelimit_hit(o->rl_token, key, now);
    log_info("oauth.client_auth_failed", "client=%s peer=%s reason=%s",
             log_q(client_id ? client_id : ""), peer ? peer : "", log_q(reason));
    *error = "invalid_client";
    *why = "client authentication failed";
    return TD_EDENIED;
}

static bool throttled(struct oauth *o, const char *client_id, const char *peer)
{
    char key[160];
    int64_t now = store_now_ms();
    int64_t wait;

    snprintf(key, sizeof(key), "c:%s", client_id ? client_id : "");
    if (auth_ratelimit_check(o->rl_token, key, now, &wait) != TD_OK)
        return true;
    snprintf(key, sizeof(key), "a:%s", peer ? peer : "");
    return auth_ratelimit_check(o->rl_token, key, now, &wait) != TD_OK;
}

int oauth_client_authenticate(struct oauth *o, const char *authorization,
                              const char *form_client_id, const char *form_client_secret,
                              const char *peer, struct oauth_client *out, const char **error,
                              const char **why)
{
    char *mem = NULL;
    const char *id = form_client_id;
    const char *secret = form_client_secret;
    const char *method = "none";
    uint8_t h[32];
    int rc = TD_EDENIED;

    memset(out, 0, sizeof(*out));
    if (authorization && strncasecmp(authorization, "Basic ", 6) == 0) {
        if (form_client_secret || !parse_basic(authorization, &mem, &id, &secret)) {
            rc = deny(o, NULL, peer, error, why, "malformed Basic credentials");
            goto out;
        }
        if (form_client_id && strcmp(form_client_id, id) != 0) {
            rc = deny(o, id, peer, error, why, "client_id differs from the Basic one");
            goto out;
        }
        method = "client_secret_basic";
    } else if (secret && secret[0]) {
        method = "client_secret_post";
    }
    if (id == NULL || id[0] == '\0' || strlen(id) > 128) {
        rc = deny(o, NULL, peer, error, why, "no client_id");
        goto out;
    }
    if (throttled(o, id, peer)) {
        *error = "invalid_client";
        *why = "too many failed client authentications; try again later";
        rc = TD_ELIMIT;
        goto out;
    }
    if (store_oauth_client_get(o->store, id, out) != TD_OK) {
        rc = deny(o, id, peer, error, why, "unknown client");
        goto out;
    }
    if (strcmp(out->auth_method, method) != 0 &&
        !(oauth_client_is_masto(out) && strcmp(method, "none") != 0)) {
        /* Mastodon apps send their credentials either way (Mastodon accepts both). */
        rc = deny(o, id, peer, error, why, "not the registered authentication method");
        goto out;
    }
    if (out->has_secret) {
        oauth_client_secret_hash(o, secret, h);
        if (sodium_memcmp(h, out->secret_hash, sizeof(h)) != 0) {
            rc = deny(o, id, peer, error, why, "wrong secret");
            goto out;
        }
    }
    rc = TD_OK;
out:
    if (rc != TD_OK)
        store_oauth_client_clear(out);
    if (mem) {
        sodium_memzero(mem, strlen(mem));
        free(mem);
    }
    return rc;
}

/* Loopback redirect URIs match on any port (RFC 8252 §7.3). */
static bool loopback_match(const char *reg, const char *uri)
{
    const char *rh;
    const char *uh;
    const char *rrest;
    const char *urest;
    size_t rl;
    size_t ul;

    if (strncasecmp(reg, "http://", 7) != 0 || strncasecmp(uri, "http://", 7) != 0)
        return false;
    if (!split_authority(reg, &rh, &rl, &rrest) || !split_authority(uri, &uh, &ul, &urest))
        return false;
    if (!is_loopback_host(rh, rl) || rl != ul || strncasecmp(rh, uh, rl) != 0)
        return false;
    return strcmp(rrest, urest) == 0;
}

bool oauth_redirect_uri_ok(const struct oauth_client *c, const char *uri)
{
    json_error_t e;
    json_t *uris = json_loads(c->redirect_uris, 0, &e);
    bool ok = false;
    size_t i;
    json_t *v;

    if (uri == NULL || uris == NULL)
        goto out;
    json_array_foreach(uris, i, v)
    {
        const char *reg = json_string_value(v);
        if (reg && (strcmp(reg, uri) == 0 || loopback_match(reg, uri)))
            ok = true;
    }
out:
    json_decref(uris);
    return ok;
}

bool oauth_client_has_grant(const struct oauth_client *c, const char *grant)
{
    return c->grant_types && list_has(c->grant_types, grant, strlen(grant));
}

bool oauth_pkce_ok(const char *verifier, const char *challenge)
{
    size_t len = verifier ? strlen(verifier) : 0;
    uint8_t digest[32];
    struct buf b;
    bool ok;

    if (len < 43 || len > 128 || challenge == NULL)
        return false;
    for (size_t i = 0; i < len; i++) {
        char c = verifier[i];
        if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
              c == '-' || c == '.' || c == '_' || c == '~'))
            return false; /* RFC 7636 §4.1 unreserved characters */
    }
    crypto_hash_sha256(digest, (const unsigned char *)verifier, len);
    buf_init(&b, 0);
    codec_b64url_encode(&b, digest, sizeof(digest));
    ok = strlen(challenge) == b.len && sodium_memcmp(b.data, challenge, b.len) == 0;
    buf_free(&b);
    return ok;
}

/* ---- issuing ---- */

void oauth_subject(int64_t account_id, char out[24])
{
    snprintf(out, 24, "%lld", (long long)account_id);
}

static int64_t access_ttl(const struct oauth_issue *is)
{
    return is->access_ttl_ms > 0 ? is->access_ttl_ms : OAUTH_ACCESS_TTL_MS;
}

static int store_token(struct oauth *o, const struct oauth_issue *is, int kind, int64_t grant_id,
                       int64_t now, char token[OAUTH_TOKEN_LEN + 1])
{
    struct oauth_token t;

    memset(&t, 0, sizeof(t));
    oauth_token_new(token, &t.id, t.token_hash);
    t.kind = kind;
    t.client_id = is->client->client_id;
    t.account_id = is->account_id;
    t.scope = (char *)(kind == OAUTH_TOKEN_REFRESH && is->refresh_scope ? is->refresh_scope
                                                                        : is->scope);
    t.grant_id = grant_id;
    t.auth_time = is->auth_time;
    t.created_at = now;
    t.expires_at = now + (kind == OAUTH_TOKEN_ACCESS ? access_ttl(is) : OAUTH_REFRESH_TTL_MS);
    return store_oauth_token_create(o->store, &t);
}

/* The id_token's claims (OIDC Core §2, §3.1.3.6 at_hash) and the key to sign them
 * with (not a new reference). TD_ENOTFOUND if no key signs the client's alg. */
static int id_token_claims(struct oauth *o, const struct oauth_issue *is, const char *access,
                           int64_t now, json_t **claims_out, const struct jose_key **key_out)
{
    enum jose_alg alg = JOSE_RS256;
    const struct jose_key *key;
    char sub[24];
    struct buf at_hash;
    json_t *claims;

    *claims_out = NULL;
    if (jose_alg_parse(is->client->id_token_alg, &alg) != TD_OK)
        alg = JOSE_RS256;
    key = oauth_keys_signer(o->keys, alg);
    if (key == NULL)
        return TD_ENOTFOUND;
    oauth_subject(is->account_id, sub);
    buf_init(&at_hash, 0);
    jose_half_hash(alg, access, strlen(access), &at_hash);
    claims = json_pack("{s:s, s:s, s:s, s:I, s:I, s:s}", "iss", o->issuer, "sub", sub, "aud",
                       is->client->client_id, "iat", (json_int_t)(now / 1000), "exp",
                       (json_int_t)(now / 1000 + OAUTH_ID_TOKEN_TTL_S), "at_hash",
                       at_hash.data ? at_hash.data : "");
    buf_free(&at_hash);
    if (claims == NULL)
        return TD_ENOMEM;
    if (is->auth_time)
        json_object_set_new(claims, "auth_time", json_integer(is->auth_time / 1000));
    if (is->nonce && is->nonce[0])
        json_object_set_new(claims, "nonce", json_string(is->nonce));
    if (is->acr && is->acr[0])
        json_object_set_new(claims, "acr", json_string(is->acr));
    if (is->amr && is->amr[0]) {
        json_t *amr = json_array();
        const char *p = is->amr;
        const char *item;
        size_t len;
        while ((len = next_item(&p, &item)) > 0)
            json_array_append_new(amr, json_stringn(item, len));
        json_object_set_new(claims, "amr", amr);
    }
    json_object_set_new(claims, "azp", json_string(is->client->client_id));
    *claims_out = claims;
    *key_out = key;
    return TD_OK;
}

/* Issue the tokens (store) and build the response without the id_token. */
static int issue_tokens(struct oauth *o, const struct oauth_issue *is, int64_t now,
                        char access[OAUTH_TOKEN_LEN + 1], json_t **response)
{
    int64_t grant_id = is->grant_id ? is->grant_id : ids_next();
    char refresh[OAUTH_TOKEN_LEN + 1];
    json_t *r;
    int rc;

    *response = NULL;
    rc = store_token(o, is, OAUTH_TOKEN_ACCESS, grant_id, now, access);
    if (rc == TD_OK && is->refresh)
        rc = store_token(o, is, OAUTH_TOKEN_REFRESH, grant_id, now, refresh);
    if (rc != TD_OK)
        return rc;
    r = json_pack("{s:s, s:s, s:I, s:s}", "access_token", access, "token_type", "Bearer",
                  "expires_in", (json_int_t)(access_ttl(is) / 1000), "scope", is->scope);
    if (r == NULL)
        return TD_ENOMEM;
    if (is->refresh)
        json_object_set_new(r, "refresh_token", json_string(refresh));
    *response = r;
    return TD_OK;
}

int oauth_issue(struct oauth *o, const struct oauth_issue *is, json_t **response)
{
    int64_t now = store_now_ms();
    const struct jose_key *key = NULL;
    json_t *claims = NULL;
    char access[OAUTH_TOKEN_LEN + 1];
    struct buf idt;
    int rc;

    rc = issue_tokens(o, is, now, access, response);
    if (rc != TD_OK || !is->id_token || is->account_id == 0)
        return rc;
    rc = id_token_claims(o, is, access, now, &claims, &key);
    buf_init(&idt, 0);
    if (rc == TD_OK)
        rc = jose_sign_jwt(key, claims, &idt);
    if (rc == TD_OK)
        json_object_set_new(*response, "id_token", json_string(idt.data));
    buf_free(&idt);
    json_decref(claims);
    if (rc != TD_OK) {
        json_decref(*response);
        *response = NULL;
    }
    return rc;
}

/* An id_token being signed on the thread pool. The worker touches only the key (its
 * own reference), the claims and the output buffer, which nothing else uses meanwhile. */
struct sign_job {
    uv_work_t req;
    struct jose_key *key;
    json_t *claims;
    json_t *response;      /* a reference; gets "id_token" on success */
    struct buf jwt;
    int rc;
    oauth_issue_cb *cb;
    void *ud;
};

static void sign_work(uv_work_t *w)
{
    struct sign_job *j = w->data;

    j->rc = jose_sign_jwt(j->key, j->claims, &j->jwt);
}

static void sign_done(uv_work_t *w, int status)
{
    struct sign_job *j = w->data;
    int rc = status == 0 ? j->rc : TD_EIO;

    if (rc == TD_OK)
        json_object_set_new(j->response, "id_token", json_string(j->jwt.data));
    j->cb(j->ud, rc);
    json_decref(j->response);
    json_decref(j->claims);
    jose_key_free(j->key);
    buf_free(&j->jwt);
    free(j);
}

int oauth_issue_async(struct oauth *o, const struct oauth_issue *is, json_t **response,
                      bool *signing, oauth_issue_cb *cb, void *ud)
{
    int64_t now = store_now_ms();
    const struct jose_key *key = NULL;
    json_t *claims = NULL;
    struct sign_job *j;
    char access[OAUTH_TOKEN_LEN + 1];
    int rc;

    *signing = false;
    if (o->loop == NULL)
        return oauth_issue(o, is, response);
    rc = issue_tokens(o, is, now, access, response);
    if (rc != TD_OK || !is->id_token || is->account_id == 0)
        return rc;
    rc = id_token_claims(o, is, access, now, &claims, &key);
    if (rc != TD_OK) {
        json_decref(*response);
        *response = NULL;
        return rc;
    }
    j = td_calloc(1, sizeof(*j));
    j->req.data = j;
    j->key = jose_key_ref(key);
    j->claims = claims;
    j->response = json_incref(*response);
    buf_init(&j->jwt, 0);
    j->cb = cb;
    j->ud = ud;
    if (uv_queue_work(o->loop, &j->req, sign_work, sign_done) != 0) {
        json_decref(j->response);
        json_decref(claims);
        jose_key_free(j->key);
        free(j);
        json_decref(*response);
        *response = NULL;
        return TD_EIO;
    }
    *signing = true;
    return TD_OK;
}

int oauth_code_issue(struct oauth *o, struct oauth_code *c, char code_out[44])
{
    auth_token_new(code_out, c->code_hash);
    return store_oauth_code_create(o->store, c);
}

json_t *oauth_claims(struct oauth *o, const struct account *a, const char *scope)
{
    char sub[24];
    json_t *c;

    oauth_subject(a->id, sub);
    c = json_pack("{s:s}", "sub", sub);
    if (oauth_scope_has(scope, "profile")) {
        json_object_set_new(c, "name", json_string(a->display_name && a->display_name[0]
                                                       ? a->display_name
                                                       : a->username));
        json_object_set_new(c, "preferred_username", json_string(a->username));
        json_object_set_new(c, "nickname", json_string(a->username));
        json_object_set_new(c, "profile", json_sprintf("%s/u/%s", o->issuer, a->username));
        if (a->has_avatar)
            json_object_set_new(c, "picture",
                                json_sprintf("%s/avatars/%s", o->issuer, a->username));
        json_object_set_new(c, "updated_at", json_integer(a->updated_at / 1000));
    }
    if (oauth_scope_has(scope, "email") && a->email && a->email[0]) {
        json_object_set_new(c, "email", json_string(a->email));
        json_object_set_new(c, "email_verified", json_false());
    }
    return c;
}

int oauth_access_token_check(struct oauth *o, const char *token, int64_t now,
                             struct oauth_token *out)
{
    uint8_t h[32];
    int64_t id = 0;
    struct account a;

    memset(out, 0, sizeof(*out));
    if (oauth_token_parse(token, &id, h) != TD_OK)
        return TD_EDENIED;
    if (store_oauth_token_get(o->store, id, h, out) != TD_OK)
        return TD_EDENIED;
    if (out->kind != OAUTH_TOKEN_ACCESS || out->revoked || out->expires_at <= now)
        goto denied;
    if (out->account_id) {
        if (store_account_get_by_id(o->store, out->account_id, &a) != TD_OK)
            goto denied;
        bool disabled = a.disabled;
        store_account_clear(&a);
        if (disabled)
            goto denied;
    }
    return TD_OK;
denied:
    store_oauth_token_clear(out);
    return TD_EDENIED;
}
