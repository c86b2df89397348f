/* SPDX-License-Identifier: MIT */
/* SCRAM key derivation and the RFC 5803 storage format; see auth_scram.h.
 * Hashing goes through OpenSSL's EVP one-shot calls (PKCS5_PBKDF2_HMAC,
 * HMAC, EVP_Digest), which keep no shared state, so every function is
 * thread-safe. SaltedPassword, ClientKey and the SASLprep'd password are
 * wiped before returning. */
#include "auth/auth_scram.h"

#include "core/codec.h"
#include "core/err.h"
#include "core/utf8.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <sodium.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

static const EVP_MD *md_of(enum auth_scram_hash h)
{
    return h == AUTH_SCRAM_SHA1 ? EVP_sha1() : EVP_sha256();
}

size_t auth_scram_hash_len(enum auth_scram_hash h)
{
    return h == AUTH_SCRAM_SHA1 ? 20 : 32;
}

const char *auth_scram_hash_name(enum auth_scram_hash h)
{
    return h == AUTH_SCRAM_SHA1 ? "SCRAM-SHA-1" : "SCRAM-SHA-256";
}

static bool hash_ok(enum auth_scram_hash h)
{
    return h == AUTH_SCRAM_SHA1 || h == AUTH_SCRAM_SHA256;
}

void auth_scram__hmac(enum auth_scram_hash h, const uint8_t *key, size_t key_len, const void *data,
                      size_t len, uint8_t *out)
{
    unsigned int n = 0;

    /* Only fails on OOM inside OpenSSL or a bad digest: treat as fatal. */
    TD_ASSERT(HMAC(md_of(h), key, (int)key_len, data, len, out, &n) != NULL);
    TD_ASSERT(n == auth_scram_hash_len(h));
}

void auth_scram__digest(enum auth_scram_hash h, const void *data, size_t len, uint8_t *out)
{
    unsigned int n = 0;

    TD_ASSERT(EVP_Digest(data, len, out, &n, md_of(h), NULL) == 1);
    TD_ASSERT(n == auth_scram_hash_len(h));
}

/* Decode one code point of valid UTF-8 at s[*i]; advances *i. */
static uint32_t next_cp(const uint8_t *s, size_t *i)
{
    uint8_t c = s[*i];
    uint32_t cp;
    int more;

    if (c < 0x80) {
        (*i)++;
        return c;
    }
    if (c < 0xe0) {
        cp = c & 0x1f;
        more = 1;
    } else if (c < 0xf0) {
        cp = c & 0x0f;
        more = 2;
    } else {
        cp = c & 0x07;
        more = 3;
    }
    (*i)++;
    while (more-- > 0)
        cp = (cp << 6) | (s[(*i)++] & 0x3f);
    return cp;
}

/* RFC 3454 B.1: commonly mapped to nothing. */
static bool is_map_nothing(uint32_t c)
{
    return c == 0x00ad || c == 0x034f || c == 0x1806 || (c >= 0x180b && c <= 0x180d) ||
           (c >= 0x200b && c <= 0x200d) || c == 0x2060 || (c >= 0xfe00 && c <= 0xfe0f) ||
           c == 0xfeff;
}

/* RFC 3454 C.1.2: non-ASCII space characters (RFC 4013 §2.1 maps them to SPACE). */
static bool is_nonascii_space(uint32_t c)
{
    return c == 0x00a0 || c == 0x1680 || (c >= 0x2000 && c <= 0x200b) || c == 0x202f ||
           c == 0x205f || c == 0x3000;
}

/* RFC 4013 §2.3 prohibited output (the tables we check; see the header). */
static bool is_prohibited(uint32_t c)
{
    if (c < 0x20 || c == 0x7f || (c >= 0x80 && c <= 0x9f)) /* C.2.1, C.2.2 */
        return true;
    if (c == 0x06dd || c == 0x070f || c == 0x180e || c == 0x200c || c == 0x200d || c == 0x2028 ||
        c == 0x2029 || (c >= 0x2060 && c <= 0x2063) || (c >= 0x206a && c <= 0x206f) ||
        c == 0xfeff || (c >= 0xfff9 && c <= 0xfffc) || (c >= 0x1d173 && c <= 0x1d17a)) /* C.2.2 */
        return true;
    if ((c >= 0xe000 && c <= 0xf8ff) || (c >= 0xf0000 && c <= 0xffffd) ||
        (c >= 0x100000 && c <= 0x10fffd)) /* C.3 */
        return true;
    if ((c >= 0xfdd0 && c <= 0xfdef) || (c & 0xfffe) == 0xfffe) /* C.4 */
        return true;
    if (c >= 0xfff9 && c <= 0xfffd) /* C.6 */
        return true;
    if (c >= 0x2ff0 && c <= 0x2ffb) /* C.7 */
        return true;
    if (c == 0x0340 || c == 0x0341 || c == 0x200e || c == 0x200f ||
        (c >= 0x202a && c <= 0x202e)) /* C.8 */
        return true;
    if (c == 0xe0001 || (c >= 0xe0020 && c <= 0xe007f)) /* C.9 */
        return true;
    return false;
}

/* Partial SASLprep of pw[0..len) into out[0..*out_len) (out holds len bytes:
 * the mapping never lengthens). TD_OK or TD_EINVAL. */
static int saslprep(const char *pw, size_t len, uint8_t *out, size_t *out_len)
{
    const uint8_t *s = (const uint8_t *)pw;
    size_t i = 0, o = 0;

    *out_len = 0;
    if (!utf8_valid(pw, len))
        return TD_EINVAL;
    while (i < len) {
        size_t start = i;
        uint32_t c = next_cp(s, &i);

        if (is_map_nothing(c))
            continue;
        if (is_nonascii_space(c)) {
            out[o++] = ' ';
            continue;
        }
        if (is_prohibited(c))
            return TD_EINVAL;
        memcpy(out + o, s + start, i - start);
        o += i - start;
    }
    if (o == 0)
        return TD_EINVAL;
    *out_len = o;
    return TD_OK;
}

int auth_scram_derive_salted(enum auth_scram_hash h, const char *password, size_t len,
                             const uint8_t *salt, size_t salt_len, uint32_t iterations,
                             struct auth_scram_cred *out)
{
    uint8_t prep[AUTH_SCRAM_PASSWORD_MAX];
    uint8_t salted[AUTH_SCRAM_KEY_MAX], client_key[AUTH_SCRAM_KEY_MAX];
    size_t prep_len = 0, hl;
    int rc;

    memset(out, 0, sizeof(*out));
    if (!hash_ok(h) || password == NULL || len == 0 || len > AUTH_SCRAM_PASSWORD_MAX ||
        salt == NULL || salt_len == 0 || salt_len > AUTH_SCRAM_SALT_MAX ||
        iterations < AUTH_SCRAM_ITER_MIN || iterations > AUTH_SCRAM_ITER_MAX)
        return TD_EINVAL;
    rc = saslprep(password, len, prep, &prep_len);
    if (rc != TD_OK)
        goto out;
    hl = auth_scram_hash_len(h);
    TD_ASSERT(PKCS5_PBKDF2_HMAC((const char *)prep, (int)prep_len, salt, (int)salt_len,
                                (int)iterations, md_of(h), (int)hl, salted) == 1);
    auth_scram__hmac(h, salted, hl, "Client Key", 10, client_key);
    auth_scram__digest(h, client_key, hl, out->stored_key);
    auth_scram__hmac(h, salted, hl, "Server Key", 10, out->server_key);
    out->hash = h;
    memcpy(out->salt, salt, salt_len);
    out->salt_len = salt_len;
    out->iterations = iterations;
    out->key_len = hl;
out:
    sodium_memzero(prep, sizeof(prep));
    sodium_memzero(salted, sizeof(salted));
    sodium_memzero(client_key, sizeof(client_key));
    return rc;
}

bool auth_scram_check(const struct auth_scram_cred *c, const char *password, size_t len)
{
    struct auth_scram_cred got;
    bool ok;

    if (c == NULL || c->key_len != auth_scram_hash_len(c->hash) ||
        auth_scram_derive_salted(c->hash, password, len, c->salt, c->salt_len, c->iterations,
                                 &got) != TD_OK)
        return false;
    ok = CRYPTO_memcmp(got.stored_key, c->stored_key, c->key_len) == 0;
    sodium_memzero(&got, sizeof(got));
    return ok;
}

struct check_job {
    uv_work_t req;
    struct auth_scram_cred cred;
    bool dummy;
    bool ok;
    auth_scram_check_cb *cb;
    void *ud;
    size_t len;
    char pw[AUTH_SCRAM_PASSWORD_MAX + 1];
};

static void check_work(uv_work_t *req)
{
    struct check_job *j = td_container_of(req, struct check_job, req);

    j->ok = auth_scram_check(&j->cred, j->pw, j->len) && !j->dummy;
    sodium_memzero(j->pw, sizeof(j->pw));
}

static void check_done(uv_work_t *req, int status)
{
    struct check_job *j = td_container_of(req, struct check_job, req);
    bool ok = status == 0 && j->ok;

    j->cb(j->ud, ok, NULL);
    sodium_memzero(j, sizeof(*j));
    free(j);
}

int auth_scram_check_async(uv_loop_t *loop, const struct auth_scram_cred *c,
                           const char *password, size_t len, auth_scram_check_cb *cb, void *ud)
{
    static const uint8_t dummy_salt[AUTH_SCRAM_SALT_LEN] = "tandem-no-user!";
    struct check_job *j;

    if (loop == NULL || cb == NULL || password == NULL || len > AUTH_SCRAM_PASSWORD_MAX)
        return TD_EINVAL;
    j = td_calloc(1, sizeof(*j));
    if (c != NULL) {
        j->cred = *c;
    } else { /* an unknown account: the same PBKDF2, a key nobody has */
        j->dummy = true;
        j->cred.hash = AUTH_SCRAM_SHA256;
        memcpy(j->cred.salt, dummy_salt, sizeof(dummy_salt));
        j->cred.salt_len = sizeof(dummy_salt);
        j->cred.iterations = AUTH_SCRAM_ITER_SHA256;
        j->cred.key_len = auth_scram_hash_len(AUTH_SCRAM_SHA256);
    }
    memcpy(j->pw, password, len);
    j->len = len;
    j->cb = cb;
    j->ud = ud;
    if (uv_queue_work(loop, &j->req, check_work, check_done) != 0) {
        sodium_memzero(j, sizeof(*j));
        free(j);
        return TD_EIO;
    }
    return TD_OK;
}

int auth_scram_derive(enum auth_scram_hash h, const char *password, size_t len, uint32_t iterations,
                      struct auth_scram_cred *out)
{
    uint8_t salt[AUTH_SCRAM_SALT_LEN];

    if (iterations == 0)
        iterations = h == AUTH_SCRAM_SHA1 ? AUTH_SCRAM_ITER_SHA1 : AUTH_SCRAM_ITER_SHA256;
    TD_ASSERT(sodium_init() >= 0);
    randombytes_buf(salt, sizeof(salt));
    return auth_scram_derive_salted(h, password, len, salt, sizeof(salt), iterations, out);
}

static bool cred_ok(const struct auth_scram_cred *c)
{
    return hash_ok(c->hash) && c->salt_len >= 1 && c->salt_len <= AUTH_SCRAM_SALT_MAX &&
           c->iterations >= AUTH_SCRAM_ITER_MIN && c->iterations <= AUTH_SCRAM_ITER_MAX &&
           c->key_len == auth_scram_hash_len(c->hash);
}

int auth_scram_cred_format(const struct auth_scram_cred *c, struct buf *out)
{
    size_t start = out->len;
    int rc;

    if (!cred_ok(c))
        return TD_EINVAL;
    rc = buf_printf(out, "%s$%u:", auth_scram_hash_name(c->hash), (unsigned)c->iterations);
    if (rc == TD_OK)
        rc = codec_b64_encode(out, c->salt, c->salt_len);
    if (rc == TD_OK)
        rc = buf_putc(out, '$');
    if (rc == TD_OK)
        rc = codec_b64_encode(out, c->stored_key, c->key_len);
    if (rc == TD_OK)
        rc = buf_putc(out, ':');
    if (rc == TD_OK)
        rc = codec_b64_encode(out, c->server_key, c->key_len);
    if (rc != TD_OK && out->data != NULL) { /* roll back to the old contents */
        out->len = start;
        out->data[start] = '\0';
    }
    return rc;
}

/* Decode base64 s[0..len) into out (cap bytes); exactly want bytes unless want is 0. */
static int b64_field(const char *s, size_t len, uint8_t *out, size_t cap, size_t want, size_t *got)
{
    if (len == 0 || codec_b64_decode(s, len, out, cap, got) != TD_OK || *got == 0)
        return TD_EINVAL;
    if (want != 0 && *got != want)
        return TD_EINVAL;
    return TD_OK;
}

int auth_scram_cred_parse(const char *s, struct auth_scram_cred *out)
{
    const char *p, *colon, *dollar, *colon2;
    uint32_t iter = 0;
    size_t n, hl;
    int rc = TD_EINVAL;

    memset(out, 0, sizeof(*out));
    if (s == NULL)
        return TD_EINVAL;
    if (strncmp(s, "SCRAM-SHA-256$", 14) == 0) {
        out->hash = AUTH_SCRAM_SHA256;
        p = s + 14;
    } else if (strncmp(s, "SCRAM-SHA-1$", 12) == 0) {
        out->hash = AUTH_SCRAM_SHA1;
        p = s + 12;
    } else {
        goto out;
    }
    hl = auth_scram_hash_len(out->hash);
    /* <iter>: decimal, no sign, no leading zero, in range. */
    if (*p < '1' || *p > '9')
        goto out;
    for (n = 0; p[n] >= '0' && p[n] <= '9'; n++) {
        if (n >= 7) /* more digits than AUTH_SCRAM_ITER_MAX has */
            goto out;
        iter = iter * 10 + (uint32_t)(p[n] - '0');
    }
    if (p[n] != ':' || iter < AUTH_SCRAM_ITER_MIN || iter > AUTH_SCRAM_ITER_MAX)
        goto out;
    out->iterations = iter;
    p += n + 1;
    dollar = strchr(p, '$');
    if (dollar == NULL)
        goto out;
    if (b64_field(p, (size_t)(dollar - p), out->salt, sizeof(out->salt), 0, &out->salt_len) !=
        TD_OK)
        goto out;
    p = dollar + 1;
    colon = strchr(p, ':');
    if (colon == NULL)
        goto out;
    if (b64_field(p, (size_t)(colon - p), out->stored_key, sizeof(out->stored_key), hl, &n) !=
        TD_OK)
        goto out;
    p = colon + 1;
    colon2 = strpbrk(p, ":$");
    if (colon2 != NULL)
        goto out;
    if (b64_field(p, strlen(p), out->server_key, sizeof(out->server_key), hl, &n) != TD_OK)
        goto out;
    out->key_len = hl;
    rc = TD_OK;
out:
    if (rc != TD_OK)
        memset(out, 0, sizeof(*out));
    return rc;
}
