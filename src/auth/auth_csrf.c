/* SPDX-License-Identifier: MIT */
/* Signed double-submit CSRF tokens; see auth_csrf.h. The HMAC input is the
 * fixed label "csrf:" followed by the cookie string, so the same key could
 * sign other things under other labels without their outputs colliding. The
 * comparison uses sodium_memcmp (constant time), and HMAC state and digests
 * are wiped after use. */
#include "auth/auth_csrf.h"

#include "core/err.h"

#include <sodium.h>
#include <stdlib.h>
#include <string.h>

struct auth_csrf {
    uint8_t key[AUTH_CSRF_KEY_LEN]; /* HMAC-SHA256 key; wiped on free */
};

struct auth_csrf *auth_csrf_new(const uint8_t key[AUTH_CSRF_KEY_LEN])
{
    struct auth_csrf *c;

    TD_ASSERT(sodium_init() >= 0);
    c = td_malloc(sizeof(*c));
    memcpy(c->key, key, sizeof(c->key));
    return c;
}

void auth_csrf_free(struct auth_csrf *c)
{
    if (c == NULL)
        return;
    sodium_memzero(c, sizeof(*c));
    free(c);
}

void auth_csrf_new_cookie(char out[AUTH_CSRF_LEN + 1])
{
    uint8_t raw[32];

    TD_ASSERT(sodium_init() >= 0);
    randombytes_buf(raw, sizeof(raw));
    sodium_bin2base64(out, AUTH_CSRF_LEN + 1, raw, sizeof(raw),
                      sodium_base64_VARIANT_URLSAFE_NO_PADDING);
    sodium_memzero(raw, sizeof(raw));
}

/* out = base64url(HMAC-SHA256(key, "csrf:" || cookie[0..len))), NUL-terminated. */
static void sign(const struct auth_csrf *c, const char *cookie, size_t len,
                 char out[AUTH_CSRF_LEN + 1])
{
    crypto_auth_hmacsha256_state st;
    uint8_t mac[crypto_auth_hmacsha256_BYTES];

    crypto_auth_hmacsha256_init(&st, c->key, sizeof(c->key));
    crypto_auth_hmacsha256_update(&st, (const unsigned char *)"csrf:", 5);
    crypto_auth_hmacsha256_update(&st, (const unsigned char *)cookie, len);
    crypto_auth_hmacsha256_final(&st, mac);
    sodium_bin2base64(out, AUTH_CSRF_LEN + 1, mac, sizeof(mac),
                      sodium_base64_VARIANT_URLSAFE_NO_PADDING);
    sodium_memzero(&st, sizeof(st));
    sodium_memzero(mac, sizeof(mac));
}

void auth_csrf_token(const struct auth_csrf *c, const char *cookie, char out[AUTH_CSRF_LEN + 1])
{
    out[0] = '\0';
    if (c == NULL || cookie == NULL)
        return;
    sign(c, cookie, strlen(cookie), out);
}

bool auth_csrf_check(const struct auth_csrf *c, const char *cookie, const char *token)
{
    char want[AUTH_CSRF_LEN + 1];
    bool ok;

    if (c == NULL || cookie == NULL || token == NULL)
        return false;
    /* strnlen bounds the scan of hostile, possibly huge, values. */
    if (strnlen(cookie, AUTH_CSRF_LEN + 1) != AUTH_CSRF_LEN ||
        strnlen(token, AUTH_CSRF_LEN + 1) != AUTH_CSRF_LEN)
        return false;
    sign(c, cookie, AUTH_CSRF_LEN, want);
    ok = sodium_memcmp(want, token, AUTH_CSRF_LEN) == 0;
    sodium_memzero(want, sizeof(want));
    return ok;
}
