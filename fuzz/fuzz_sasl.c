/* SPDX-License-Identifier: MIT */
/* libFuzzer driver for auth/auth_sasl.h and auth/auth_scram.h. Byte 0
 * chooses the mode (low 2 bits) and options (mechanism = bits 2-4 mod 5,
 * bit 5 plus_offered, bit 6 channel binding available, bit 7 PLAIN answers
 * asynchronously / the client uses the wrong password); the rest is split on
 * '\n'.
 *  0 raw:    up to 4 client messages fed to one exchange as they are;
 *  1 client: "gs2-header\nclient-first-bare\nfinal-extensions": the driver
 *            plays a SCRAM client for "pencil" (right or wrong password),
 *            building c=, r= and the proof itself so the final step is
 *            reached with a valid or an almost-valid message;
 *  2 parse:  the input is an RFC 5803 credential string;
 *  3 derive: the input is a password for SCRAM-SHA-1 key derivation.
 * Checked contracts (__builtin_trap() on violation): step returns only
 * TD_OK, TD_EDENIED (with a known condition and empty output) or TD_EAGAIN
 * (PLAIN only); a failed exchange stays failed; authcid is set exactly after
 * success; server-first is "r=<client nonce><our nonce>,s=...,i=..."; in
 * client mode a success needs the right password and user and its "v=" is
 * the ServerSignature the driver computes, and the textbook exchange ("n,,",
 * user, no extensions, right password) always succeeds; an accepted
 * credential string formats back to the same bytes. */
#include "auth/auth_sasl.h"
#include "auth/auth_scram.h"
#include "core/buf.h"
#include "core/codec.h"
#include "core/err.h"

#include <openssl/evp.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CHECK(cond)                                                                                \
    do {                                                                                           \
        if (!(cond))                                                                               \
            __builtin_trap();                                                                      \
    } while (0)

#define FZ_SNONCE "SrvNonce+/0123456789abcdef"
#define FZ_MAX_MSGS 4

static const uint8_t CBDATA[32] = "0123456789abcdef0123456789abcdef";

static struct {
    bool ready;
    struct auth_scram_cred cred[2]; /* "user"/"pencil" for SHA-1, SHA-256 */
    uint8_t salted[2][2][32];       /* [hash][wrong password] SaltedPassword */
} G;

static void init(void)
{
    static const uint8_t salt[16] = "fuzz-salt-16byte";
    static const char *const PW[2] = {"pencil", "pencil2"};

    if (G.ready)
        return;
    for (int h = 0; h < 2; h++) {
        CHECK(auth_scram_derive_salted((enum auth_scram_hash)h, "pencil", 6, salt, sizeof(salt),
                                       4096, &G.cred[h]) == TD_OK);
        for (int w = 0; w < 2; w++)
            CHECK(PKCS5_PBKDF2_HMAC(PW[w], (int)strlen(PW[w]), salt, sizeof(salt), 4096,
                                    h ? EVP_sha256() : EVP_sha1(),
                                    (int)auth_scram_hash_len((enum auth_scram_hash)h),
                                    G.salted[h][w]) == 1);
    }
    G.ready = true;
}

struct ctx {
    bool async;
};

static int get_scram(void *ud, const char *authcid, enum auth_scram_hash h,
                     struct auth_scram_cred *out)
{
    (void)ud;
    if (strcmp(authcid, "user") == 0) {
        *out = G.cred[h];
        return TD_OK;
    }
    if (strcmp(authcid, "broken") == 0)
        return TD_EIO;
    return TD_ENOTFOUND;
}

static int check_plain(void *ud, const char *authcid, const char *pw, size_t len)
{
    struct ctx *c = ud;

    CHECK(strlen(pw) == len && len > 0 && authcid[0] != '\0');
    if (c->async)
        return TD_EAGAIN;
    return strcmp(authcid, "user") == 0 && strcmp(pw, "pencil") == 0 ? TD_OK : TD_EDENIED;
}

static int check_bearer(void *ud, const char *token, size_t len, char **authcid,
                        struct buf *err_json)
{
    (void)ud;
    CHECK(strlen(token) == len && len > 0);
    if (strcmp(token, "good") == 0) {
        *authcid = strdup("user");
        return TD_OK;
    }
    if (strcmp(token, "broken") == 0)
        return TD_EIO;
    buf_appends(err_json, "{\"status\":\"invalid_token\"}");
    return TD_EDENIED;
}

static const struct auth_sasl_cbs CBS = {get_scram, check_plain, NULL, check_bearer};

static bool known_condition(const char *c)
{
    static const char *const OK[] = {"not-authorized", "malformed-request", "invalid-authzid",
                                     "invalid-mechanism", "temporary-auth-failure"};

    if (c == NULL)
        return false;
    for (size_t i = 0; i < sizeof(OK) / sizeof(OK[0]); i++) {
        if (strcmp(c, OK[i]) == 0)
            return true;
    }
    return false;
}

/* One step with the generic contract checks. */
static int step(struct auth_sasl *s, enum auth_sasl_mech m, const char *in, size_t len,
                struct buf *out, bool *done, bool *failed)
{
    const char *cond = (const char *)1;
    int rc = auth_sasl_step(s, in, len, out, done, &cond);

    CHECK(rc == TD_OK || rc == TD_EDENIED || rc == TD_EAGAIN);
    CHECK(strlen(out->data ? out->data : "") == out->len);
    if (rc == TD_EDENIED) {
        CHECK(known_condition(cond));
        CHECK(out->len == 0 && !*done);
        CHECK(auth_sasl_authcid(s) == NULL);
        *failed = true;
    } else {
        CHECK(cond == NULL);
        CHECK(!*failed);
        CHECK(*done == (auth_sasl_authcid(s) != NULL));
    }
    if (rc == TD_EAGAIN)
        CHECK(m == AUTH_SASL_PLAIN && out->len == 0 && !*done);
    return rc;
}

/* Next '\n'-separated field of data[*pos..size). */
static const char *field(const uint8_t *data, size_t size, size_t *pos, size_t *len)
{
    const char *s = (const char *)data + *pos;
    const char *nl = memchr(s, '\n', size - *pos);

    *len = nl ? (size_t)(nl - s) : size - *pos;
    *pos += nl ? *len + 1 : *len;
    return s;
}

static void fuzz_raw(uint8_t flags, const uint8_t *data, size_t size)
{
    enum auth_sasl_mech m = (enum auth_sasl_mech)(((flags >> 2) & 7) % 6);
    struct ctx c = {(flags & 0x80) != 0};
    bool cb = (flags & 0x40) != 0, failed = false, done = false;
    struct auth_sasl *s = auth_sasl_new(m, &CBS, &c, cb ? "tls-exporter" : NULL, cb ? CBDATA : NULL,
                                        cb ? sizeof(CBDATA) : 0, (flags & 0x20) != 0);
    struct buf out;
    size_t pos = 0;

    buf_init(&out, 8192);
    auth_sasl__set_nonce(s, FZ_SNONCE);
    for (int i = 0; i < FZ_MAX_MSGS && pos <= size; i++) {
        size_t len;
        const char *msg = field(data, size, &pos, &len);
        int rc = step(s, m, msg, len, &out, &done, &failed);

        if (rc == TD_OK && !done && m == AUTH_SASL_OAUTHBEARER && out.len > 0)
            CHECK(strstr(out.data, "invalid_token") != NULL); /* the §3.2.2 error */
        else if (rc == TD_OK && !done && m != AUTH_SASL_PLAIN && out.len > 0) {
            /* server-first: r=<c-nonce><s-nonce>,s=<salt>,i=<count> */
            CHECK(strncmp(out.data, "r=", 2) == 0);
            CHECK(strstr(out.data, FZ_SNONCE ",s=") != NULL);
            CHECK(strstr(out.data, ",i=") != NULL);
        }
        if (rc == TD_EAGAIN) {
            auth_sasl_plain_result(s, (flags & 1) != 0);
            rc = step(s, m, NULL, 0, &out, &done, &failed);
            CHECK(rc != TD_EAGAIN);
        }
        if (done || pos >= size)
            break;
    }
    if (failed) {
        const char *cond = NULL;

        CHECK(auth_sasl_step(s, "x", 1, &out, &done, &cond) == TD_EDENIED);
        CHECK(known_condition(cond));
    }
    buf_free(&out);
    auth_sasl_free(s);
}

static void fuzz_client(uint8_t flags, const uint8_t *data, size_t size)
{
    bool sha256 = (flags & 4) != 0, plus = (flags & 8) != 0, wrong = (flags & 0x80) != 0;
    enum auth_scram_hash h = sha256 ? AUTH_SCRAM_SHA256 : AUTH_SCRAM_SHA1;
    enum auth_sasl_mech m = sha256 ? (plus ? AUTH_SASL_SCRAM_SHA256_PLUS : AUTH_SASL_SCRAM_SHA256)
                                   : (plus ? AUTH_SASL_SCRAM_SHA1_PLUS : AUTH_SASL_SCRAM_SHA1);
    size_t hl = auth_scram_hash_len(h);
    struct ctx c = {false};
    struct auth_sasl *s =
        auth_sasl_new(m, &CBS, &c, "tls-exporter", CBDATA, sizeof(CBDATA), (flags & 0x20) != 0);
    struct buf out, first, raw, am, fin;
    const char *gs2, *bare, *ext, *r, *comma;
    size_t gs2_len, bare_len, ext_len, pos = 0;
    uint8_t ckey[32], skey[32], sig[32], proof[32], serverkey[32];
    bool done = false, failed = false, textbook;
    int rc;

    gs2 = field(data, size, &pos, &gs2_len);
    bare = field(data, size, &pos, &bare_len);
    ext = field(data, size, &pos, &ext_len);
    textbook = !plus && gs2_len == 3 && memcmp(gs2, "n,,", 3) == 0 && bare_len >= 12 &&
               memcmp(bare, "n=user,r=", 9) == 0 && memchr(bare + 9, ',', bare_len - 9) == NULL &&
               bare_len - 9 <= AUTH_SASL_NONCE_MAX && ext_len == 0 && !wrong &&
               memchr(bare, '\0', bare_len) == NULL;
    for (size_t i = 9; textbook && i < bare_len; i++)
        textbook = bare[i] > 0x20 && bare[i] < 0x7f;
    buf_init(&out, 8192);
    buf_init(&first, 0);
    buf_init(&raw, 0);
    buf_init(&am, 0);
    buf_init(&fin, 0);
    auth_sasl__set_nonce(s, FZ_SNONCE);
    buf_append(&first, gs2, gs2_len);
    buf_append(&first, bare, bare_len);
    rc = step(s, m, first.data, first.len, &out, &done, &failed);
    if (rc != TD_OK || done || out.len == 0) {
        CHECK(!textbook);
        goto out;
    }
    /* c= base64(gs2 [+ cbdata]), r= the server's nonce, extensions, proof. */
    buf_append(&raw, gs2, gs2_len);
    if (gs2_len > 0 && gs2[0] == 'p')
        buf_append(&raw, CBDATA, sizeof(CBDATA));
    buf_appends(&fin, "c=");
    codec_b64_encode(&fin, raw.data, raw.len);
    r = out.data + 2;
    comma = strchr(r, ',');
    CHECK(comma != NULL);
    buf_appends(&fin, ",r=");
    buf_append(&fin, r, (size_t)(comma - r));
    buf_append(&fin, ext, ext_len);
    buf_append(&am, bare, bare_len);
    buf_putc(&am, ',');
    buf_append(&am, out.data, out.len);
    buf_putc(&am, ',');
    buf_append(&am, fin.data, fin.len);
    auth_scram__hmac(h, G.salted[h][wrong], hl, "Client Key", 10, ckey);
    auth_scram__digest(h, ckey, hl, skey);
    auth_scram__hmac(h, skey, hl, am.data, am.len, sig);
    for (size_t i = 0; i < hl; i++)
        proof[i] = ckey[i] ^ sig[i];
    buf_appends(&fin, ",p=");
    codec_b64_encode(&fin, proof, hl);
    rc = step(s, m, fin.data, fin.len, &out, &done, &failed);
    if (textbook)
        CHECK(rc == TD_OK && done);
    if (rc == TD_OK && done) {
        struct buf v;

        CHECK(!wrong && strcmp(auth_sasl_authcid(s), "user") == 0);
        auth_scram__hmac(h, G.salted[h][0], hl, "Server Key", 10, serverkey);
        auth_scram__hmac(h, serverkey, hl, am.data, am.len, sig);
        buf_init(&v, 0);
        buf_appends(&v, "v=");
        codec_b64_encode(&v, sig, hl);
        CHECK(v.len == out.len && memcmp(v.data, out.data, v.len) == 0);
        buf_free(&v);
    }
out:
    buf_free(&out);
    buf_free(&first);
    buf_free(&raw);
    buf_free(&am);
    buf_free(&fin);
    auth_sasl_free(s);
}

static void fuzz_parse(const uint8_t *data, size_t size)
{
    char *s = malloc(size + 1);
    struct auth_scram_cred c;
    struct buf b;

    memcpy(s, data, size);
    s[size] = '\0';
    if (auth_scram_cred_parse(s, &c) == TD_OK) {
        buf_init(&b, 0);
        CHECK(auth_scram_cred_format(&c, &b) == TD_OK);
        CHECK(strcmp(b.data, s) == 0);
        buf_free(&b);
    } else {
        CHECK(c.key_len == 0);
    }
    free(s);
}

static void fuzz_derive(const uint8_t *data, size_t size)
{
    struct auth_scram_cred c;
    int rc = auth_scram_derive_salted(AUTH_SCRAM_SHA1, (const char *)data, size,
                                      (const uint8_t *)"saltsalt", 8, 4096, &c);

    CHECK(rc == TD_OK || rc == TD_EINVAL);
    CHECK((rc == TD_OK) == (c.key_len == 20));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    uint8_t flags;

    if (size == 0)
        return 0;
    init();
    flags = data[0];
    data++;
    size--;
    switch (flags & 3) {
    case 0: fuzz_raw(flags, data, size); break;
    case 1: fuzz_client(flags, data, size); break;
    case 2: fuzz_parse(data, size); break;
    default:
        if (size <= 64) /* PBKDF2 is slow; short passwords cover SASLprep */
            fuzz_derive(data, size);
        break;
    }
    return 0;
}
