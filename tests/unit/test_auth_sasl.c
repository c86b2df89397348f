/* SPDX-License-Identifier: MIT */
/* Unit tests for auth/auth_sasl: the RFC 5802 §5 (SCRAM-SHA-1) and RFC 7677
 * §3 (SCRAM-SHA-256) exchanges byte for byte, a SCRAM client written here
 * (PBKDF2 straight from OpenSSL) for the other cases: wrong password,
 * unknown user (fails only at the end, stable fake salt), -PLUS with good and
 * bad channel bindings, the 'y' downgrade, authzid rules, saslname escapes,
 * extensions, and a list of malformed client-first and client-final
 * messages; PLAIN synchronous and asynchronous, authzid, NUL layout and
 * limits; callback failures and a too-small output buffer. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <openssl/evp.h>

#include "auth/auth_sasl.h"
#include "auth/auth_scram.h"
#include "core/buf.h"
#include "core/codec.h"
#include "core/err.h"

/* ---- a fake credential store ------------------------------------------- */

struct store {
    struct auth_scram_cred sha1, sha256;
    int get_rc;   /* forced get_scram result when non-zero */
    bool corrupt; /* hand out an inconsistent credential */
    int plain_rc; /* check_plain result */
    int calls_scram, calls_plain, calls_authzid, calls_bearer;
    char last_authcid[256];
    char last_password[256];
};

static int get_scram(void *ud, const char *authcid, enum auth_scram_hash h,
                     struct auth_scram_cred *out)
{
    struct store *st = ud;

    st->calls_scram++;
    snprintf(st->last_authcid, sizeof(st->last_authcid), "%s", authcid);
    if (st->get_rc != 0)
        return st->get_rc;
    if (strcmp(authcid, "user") != 0)
        return TD_ENOTFOUND;
    *out = h == AUTH_SCRAM_SHA1 ? st->sha1 : st->sha256;
    if (st->corrupt)
        out->key_len = 7;
    return TD_OK;
}

static int check_plain(void *ud, const char *authcid, const char *pw, size_t len)
{
    struct store *st = ud;

    st->calls_plain++;
    assert_int_equal(strlen(pw), len);
    snprintf(st->last_authcid, sizeof(st->last_authcid), "%s", authcid);
    snprintf(st->last_password, sizeof(st->last_password), "%s", pw);
    if (st->plain_rc != TD_OK)
        return st->plain_rc;
    return strcmp(authcid, "user") == 0 && strcmp(pw, "pencil") == 0 ? TD_OK : TD_EDENIED;
}

static int check_authzid(void *ud, const char *authcid, const char *authzid)
{
    struct store *st = ud;
    char jid[300];

    st->calls_authzid++;
    snprintf(jid, sizeof(jid), "%s@example.com", authcid);
    return strcmp(jid, authzid) == 0 ? TD_OK : TD_EDENIED;
}

/* The one good bearer token is "tok-user", for "user"; "tok-eio" fails. */
static int check_bearer(void *ud, const char *token, size_t len, char **authcid,
                        struct buf *err_json)
{
    struct store *st = ud;

    st->calls_bearer++;
    assert_int_equal(strlen(token), len);
    if (strcmp(token, "tok-eio") == 0)
        return TD_EIO;
    if (strcmp(token, "tok-user") != 0) {
        buf_appends(err_json, "{\"status\":\"invalid_token\",\"scope\":\"chat\"}");
        return TD_EDENIED;
    }
    *authcid = strdup("user");
    return TD_OK;
}

static const struct auth_sasl_cbs CBS = {get_scram, check_plain, NULL, check_bearer};
static const struct auth_sasl_cbs CBS_JID = {get_scram, check_plain, check_authzid, check_bearer};

static struct store *st_new(void)
{
    static struct store st;
    uint8_t salt[32];
    size_t n;

    memset(&st, 0, sizeof(st));
    assert_int_equal(codec_b64_decode("QSXCR+Q6sek8bf92", 16, salt, sizeof(salt), &n), TD_OK);
    assert_int_equal(
        auth_scram_derive_salted(AUTH_SCRAM_SHA1, "pencil", 6, salt, n, 4096, &st.sha1), TD_OK);
    assert_int_equal(codec_b64_decode("W22ZaJ0SNY7soEsUEjb6gQ==", 24, salt, sizeof(salt), &n),
                     TD_OK);
    assert_int_equal(
        auth_scram_derive_salted(AUTH_SCRAM_SHA256, "pencil", 6, salt, n, 4096, &st.sha256), TD_OK);
    return &st;
}

/* ---- helpers ------------------------------------------------------------ */

struct ex {
    struct auth_sasl *s;
    struct buf out;
    bool done;
    const char *cond;
};

static void ex_start(struct ex *e, enum auth_sasl_mech m, const struct auth_sasl_cbs *cbs,
                     struct store *st, const char *cb_type, const uint8_t *cb, size_t cb_len,
                     bool plus_offered, const char *snonce)
{
    e->s = auth_sasl_new(m, cbs, st, cb_type, cb, cb_len, plus_offered);
    assert_non_null(e->s);
    if (snonce != NULL)
        auth_sasl__set_nonce(e->s, snonce);
    buf_init(&e->out, 8192);
    e->done = false;
    e->cond = NULL;
}

static int ex_step(struct ex *e, const char *msg, size_t len)
{
    return auth_sasl_step(e->s, msg, len, &e->out, &e->done, &e->cond);
}

static int ex_steps(struct ex *e, const char *msg)
{
    return ex_step(e, msg, strlen(msg));
}

static void ex_end(struct ex *e)
{
    auth_sasl_free(e->s);
    buf_free(&e->out);
}

/* The value of attribute a ("s", "i", "r") in a server-first message, copied. */
static void attr(const char *msg, char a, char *out, size_t cap)
{
    char key[4] = {',', a, '=', 0};
    const char *p = msg[0] == a && msg[1] == '=' ? msg + 2 : strstr(msg, key);
    size_t n;

    assert_non_null(p);
    if (p != msg + 2)
        p += 3;
    n = strcspn(p, ",");
    assert_true(n < cap);
    memcpy(out, p, n);
    out[n] = '\0';
}

/* A SCRAM client's final message: "<without_proof>,p=<proof>" for password,
 * given the client-first-bare and the server-first. */
static void client_final(enum auth_scram_hash h, const char *password, const char *bare,
                         const char *server_first, const char *without_proof, char *out, size_t cap)
{
    size_t hl = auth_scram_hash_len(h);
    uint8_t salt[64], salted[32], ckey[32], skey[32], sig[32], proof[32];
    char s64[128], itxt[16];
    size_t slen;
    struct buf am, p64;

    attr(server_first, 's', s64, sizeof(s64));
    attr(server_first, 'i', itxt, sizeof(itxt));
    assert_int_equal(codec_b64_decode(s64, strlen(s64), salt, sizeof(salt), &slen), TD_OK);
    assert_int_equal(PKCS5_PBKDF2_HMAC(password, (int)strlen(password), salt, (int)slen,
                                       (int)strtol(itxt, NULL, 10),
                                       h == AUTH_SCRAM_SHA1 ? EVP_sha1() : EVP_sha256(), (int)hl,
                                       salted),
                     1);
    auth_scram__hmac(h, salted, hl, "Client Key", 10, ckey);
    auth_scram__digest(h, ckey, hl, skey);
    buf_init(&am, 0);
    buf_printf(&am, "%s,%s,%s", bare, server_first, without_proof);
    auth_scram__hmac(h, skey, hl, am.data, am.len, sig);
    for (size_t i = 0; i < hl; i++)
        proof[i] = ckey[i] ^ sig[i];
    buf_init(&p64, 0);
    codec_b64_encode(&p64, proof, hl);
    assert_true((size_t)snprintf(out, cap, "%s,p=%s", without_proof, p64.data) < cap);
    buf_free(&am);
    buf_free(&p64);
}

/* Run a whole SCRAM exchange: gs2 + bare, then c=<cbind>,r=<nonce><ext>,p=.
 * Returns the final step's result; e is left for inspection. */
static int scram_run(struct ex *e, enum auth_scram_hash h, const char *gs2, const char *bare,
                     const char *password, const char *cbind_b64, const char *ext)
{
    char first[600], nonce[600], without[1200], final[1400], sf[1000];
    int rc;

    snprintf(first, sizeof(first), "%s%s", gs2, bare);
    rc = ex_steps(e, first);
    if (rc != TD_OK)
        return rc;
    assert_false(e->done);
    snprintf(sf, sizeof(sf), "%s", e->out.data);
    attr(sf, 'r', nonce, sizeof(nonce));
    snprintf(without, sizeof(without), "c=%s,r=%s%s", cbind_b64, nonce, ext);
    client_final(h, password, bare, sf, without, final, sizeof(final));
    return ex_steps(e, final);
}

/* ---- RFC examples ------------------------------------------------------- */

static void test_rfc5802_sha1(void **state)
{
    struct store *st = st_new();
    struct ex e;

    (void)state;
    ex_start(&e, AUTH_SASL_SCRAM_SHA1, &CBS, st, NULL, NULL, 0, false, "3rfcNHYJY1ZVvWVs7j");
    assert_int_equal(ex_steps(&e, "n,,n=user,r=fyko+d2lbbFgONRv9qkxdawL"), TD_OK);
    assert_false(e.done);
    assert_null(e.cond);
    assert_string_equal(e.out.data,
                        "r=fyko+d2lbbFgONRv9qkxdawL3rfcNHYJY1ZVvWVs7j,s=QSXCR+Q6sek8bf92,i=4096");
    assert_null(auth_sasl_authcid(e.s));
    assert_int_equal(ex_steps(&e, "c=biws,r=fyko+d2lbbFgONRv9qkxdawL3rfcNHYJY1ZVvWVs7j,"
                                  "p=v0X8v3Bz2T0CJGbJQyF0X+HI4Ts="),
                     TD_OK);
    assert_true(e.done);
    assert_null(e.cond);
    assert_string_equal(e.out.data, "v=rmF9pqV8S7suAoZWja4dJRkFsKQ=");
    assert_string_equal(auth_sasl_authcid(e.s), "user");
    assert_string_equal(st->last_authcid, "user");
    /* Nothing may follow success. */
    assert_int_equal(ex_steps(&e, "c=biws"), TD_EDENIED);
    assert_string_equal(e.cond, "malformed-request");
    assert_null(auth_sasl_authcid(e.s));
    ex_end(&e);
}

static void test_rfc7677_sha256(void **state)
{
    struct store *st = st_new();
    struct ex e;

    (void)state;
    ex_start(&e, AUTH_SASL_SCRAM_SHA256, &CBS, st, NULL, NULL, 0, false,
             "%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0");
    /* No initial response first: an empty challenge. */
    assert_int_equal(ex_step(&e, NULL, 0), TD_OK);
    assert_false(e.done);
    assert_int_equal(e.out.len, 0);
    assert_int_equal(ex_steps(&e, "n,,n=user,r=rOprNGfwEbeRWgbNEkqO"), TD_OK);
    assert_string_equal(e.out.data, "r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,"
                                    "s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096");
    assert_int_equal(ex_steps(&e, "c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,"
                                  "p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ="),
                     TD_OK);
    assert_true(e.done);
    assert_string_equal(e.out.data, "v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=");
    assert_string_equal(auth_sasl_authcid(e.s), "user");
    ex_end(&e);
}

/* ---- SCRAM behaviour ---------------------------------------------------- */

static void test_scram_random_nonce_and_client(void **state)
{
    struct store *st = st_new();
    char nonce[600];
    struct ex e;

    (void)state;
    ex_start(&e, AUTH_SASL_SCRAM_SHA256, &CBS, st, NULL, NULL, 0, false, NULL);
    assert_int_equal(ex_steps(&e, "n,,n=user,r=abcdef"), TD_OK);
    attr(e.out.data, 'r', nonce, sizeof(nonce));
    assert_int_equal(strlen(nonce), 6 + 32); /* 24 random bytes, base64 */
    assert_memory_equal(nonce, "abcdef", 6);
    ex_end(&e);

    /* Our own client against the server, with an extension before the proof. */
    ex_start(&e, AUTH_SASL_SCRAM_SHA256, &CBS, st, NULL, NULL, 0, false, NULL);
    assert_int_equal(scram_run(&e, AUTH_SCRAM_SHA256, "n,,", "n=user,r=abc,x=ignored", "pencil",
                               "biws", ",e=ext"),
                     TD_OK);
    assert_true(e.done);
    assert_string_equal(auth_sasl_authcid(e.s), "user");
    ex_end(&e);
}

static void test_scram_wrong_password(void **state)
{
    struct store *st = st_new();
    struct ex e;

    (void)state;
    ex_start(&e, AUTH_SASL_SCRAM_SHA1, &CBS, st, NULL, NULL, 0, false, NULL);
    assert_int_equal(scram_run(&e, AUTH_SCRAM_SHA1, "n,,", "n=user,r=abc", "pencil2", "biws", ""),
                     TD_EDENIED);
    assert_string_equal(e.cond, "not-authorized");
    assert_false(e.done);
    assert_null(auth_sasl_authcid(e.s));
    /* The object stays failed. */
    assert_int_equal(ex_steps(&e, "anything"), TD_EDENIED);
    assert_string_equal(e.cond, "not-authorized");
    ex_end(&e);
}

static void test_scram_unknown_user(void **state)
{
    struct store *st = st_new();
    char salt1[100], salt2[100], salt3[100], it[16];
    struct ex e;

    (void)state;
    ex_start(&e, AUTH_SASL_SCRAM_SHA256, &CBS, st, NULL, NULL, 0, false, NULL);
    assert_int_equal(ex_steps(&e, "n,,n=nobody,r=abc"), TD_OK);
    assert_false(e.done);
    assert_int_equal(st->calls_scram, 1);
    attr(e.out.data, 's', salt1, sizeof(salt1));
    attr(e.out.data, 'i', it, sizeof(it));
    assert_string_equal(it, "10000");
    ex_end(&e);
    /* The same name sees the same salt; another name another one. */
    ex_start(&e, AUTH_SASL_SCRAM_SHA256, &CBS, st, NULL, NULL, 0, false, NULL);
    assert_int_equal(ex_steps(&e, "n,,n=nobody,r=xyz"), TD_OK);
    attr(e.out.data, 's', salt2, sizeof(salt2));
    assert_string_equal(salt1, salt2);
    ex_end(&e);
    ex_start(&e, AUTH_SASL_SCRAM_SHA256, &CBS, st, NULL, NULL, 0, false, NULL);
    assert_int_equal(ex_steps(&e, "n,,n=nobody2,r=xyz"), TD_OK);
    attr(e.out.data, 's', salt3, sizeof(salt3));
    assert_string_not_equal(salt1, salt3);
    ex_end(&e);
    /* A full exchange fails only at the end. */
    ex_start(&e, AUTH_SASL_SCRAM_SHA256, &CBS, st, NULL, NULL, 0, false, NULL);
    assert_int_equal(
        scram_run(&e, AUTH_SCRAM_SHA256, "n,,", "n=nobody,r=abc", "pencil", "biws", ""),
        TD_EDENIED);
    assert_string_equal(e.cond, "not-authorized");
    ex_end(&e);
}

static void test_scram_lookup_failures(void **state)
{
    struct store *st = st_new();
    struct auth_sasl_cbs none = {NULL, NULL, NULL, NULL};
    struct ex e;

    (void)state;
    st->get_rc = TD_EIO;
    ex_start(&e, AUTH_SASL_SCRAM_SHA1, &CBS, st, NULL, NULL, 0, false, NULL);
    assert_int_equal(ex_steps(&e, "n,,n=user,r=abc"), TD_EDENIED);
    assert_string_equal(e.cond, "temporary-auth-failure");
    ex_end(&e);
    st->get_rc = 0;
    st->corrupt = true;
    ex_start(&e, AUTH_SASL_SCRAM_SHA1, &CBS, st, NULL, NULL, 0, false, NULL);
    assert_int_equal(ex_steps(&e, "n,,n=user,r=abc"), TD_EDENIED);
    assert_string_equal(e.cond, "temporary-auth-failure");
    ex_end(&e);
    ex_start(&e, AUTH_SASL_SCRAM_SHA1, &none, st, NULL, NULL, 0, false, NULL);
    assert_int_equal(ex_steps(&e, "n,,n=user,r=abc"), TD_EDENIED);
    assert_string_equal(e.cond, "temporary-auth-failure");
    ex_end(&e);
}

static void test_scram_small_output(void **state)
{
    struct store *st = st_new();
    struct ex e;

    (void)state;
    ex_start(&e, AUTH_SASL_SCRAM_SHA1, &CBS, st, NULL, NULL, 0, false, NULL);
    buf_free(&e.out);
    buf_init(&e.out, 16);
    assert_int_equal(ex_steps(&e, "n,,n=user,r=abc"), TD_EDENIED);
    assert_string_equal(e.cond, "temporary-auth-failure");
    assert_int_equal(e.out.len, 0);
    ex_end(&e);
}

static void test_scram_names_and_authzid(void **state)
{
    struct store *st = st_new();
    struct ex e;

    (void)state;
    /* Escapes are undone before the lookup. */
    ex_start(&e, AUTH_SASL_SCRAM_SHA1, &CBS, st, NULL, NULL, 0, false, NULL);
    assert_int_equal(ex_steps(&e, "n,,n=a=2Cb=3Dc,r=abc"), TD_OK);
    assert_string_equal(st->last_authcid, "a,b=c");
    ex_end(&e);
    /* UTF-8 names pass through. */
    ex_start(&e, AUTH_SASL_SCRAM_SHA1, &CBS, st, NULL, NULL, 0, false, NULL);
    assert_int_equal(ex_steps(&e, "n,,n=j\xc3\xbcrgen,r=abc"), TD_OK);
    assert_string_equal(st->last_authcid, "j\xc3\xbcrgen");
    ex_end(&e);
    /* authzid equal to authcid: fine, and part of c=. */
    ex_start(&e, AUTH_SASL_SCRAM_SHA1, &CBS, st, NULL, NULL, 0, false, NULL);
    assert_int_equal(
        scram_run(&e, AUTH_SCRAM_SHA1, "n,a=user,", "n=user,r=abc", "pencil", "bixhPXVzZXIs", ""),
        TD_OK);
    assert_true(e.done);
    ex_end(&e);
    /* ... and c= must carry that header. */
    ex_start(&e, AUTH_SASL_SCRAM_SHA1, &CBS, st, NULL, NULL, 0, false, NULL);
    assert_int_equal(
        scram_run(&e, AUTH_SCRAM_SHA1, "n,a=user,", "n=user,r=abc", "pencil", "biws", ""),
        TD_EDENIED);
    assert_string_equal(e.cond, "not-authorized");
    ex_end(&e);
    /* Another authzid. */
    ex_start(&e, AUTH_SASL_SCRAM_SHA1, &CBS, st, NULL, NULL, 0, false, NULL);
    assert_int_equal(ex_steps(&e, "n,a=admin,n=user,r=abc"), TD_EDENIED);
    assert_string_equal(e.cond, "invalid-authzid");
    assert_int_equal(st->calls_scram, 2 + 2); /* no lookup for the refused one */
    ex_end(&e);
    /* With a check_authzid callback: the user's JID is accepted, the plain name not. */
    ex_start(&e, AUTH_SASL_SCRAM_SHA1, &CBS_JID, st, NULL, NULL, 0, false, NULL);
    assert_int_equal(ex_steps(&e, "n,a=user@example.com,n=user,r=abc"), TD_OK);
    ex_end(&e);
    ex_start(&e, AUTH_SASL_SCRAM_SHA1, &CBS_JID, st, NULL, NULL, 0, false, NULL);
    assert_int_equal(ex_steps(&e, "n,a=user@evil.example,n=user,r=abc"), TD_EDENIED);
    assert_string_equal(e.cond, "invalid-authzid");
    assert_int_equal(st->calls_authzid, 2);
    ex_end(&e);
}

static void test_scram_malformed_first(void **state)
{
    static const struct {
        const char *msg;
        const char *cond;
    } CASES[] = {
        {"x,,n=user,r=abc", "malformed-request"},
        {"n", "malformed-request"},
        {"n,", "malformed-request"},
        {"n,,", "malformed-request"},
        {"n,n=user,r=abc", "malformed-request"},
        {"n,,r=abc", "malformed-request"},
        {"n,,n=user", "malformed-request"},
        {"n,,n=user,", "malformed-request"},
        {"n,,n=user,r=", "malformed-request"},
        {"n,,n=user,r=ab c", "malformed-request"},
        {"n,,n=user,r=ab\x7f", "malformed-request"},
        {"n,,m=ext,n=user,r=abc", "malformed-request"},
        {"n,,n=us=er,r=abc", "malformed-request"},
        {"n,,n=us=2c,r=abc", "malformed-request"},
        {"n,,n=us=2,r=abc", "malformed-request"},
        {"n,,n=,r=abc", "malformed-request"},
        {"n,,n=user,r=abc,m=x", "malformed-request"},
        {"n,,n=user,r=abc,1=x", "malformed-request"},
        {"n,,n=user,r=abc,x=", "malformed-request"},
        {"n,,n=user,r=abc,", "malformed-request"},
        {"n,,n=user,r=abc,xy=1", "malformed-request"},
        {"n,,n=us\xff"
         "er,r=abc",
         "malformed-request"},
        {"n,a=,n=user,r=abc", "malformed-request"},
        {"n,a=user", "malformed-request"},
        {"p=,,n=user,r=abc", "malformed-request"},
        {"p=tls exporter,,n=user,r=abc", "malformed-request"},
        {"p=tls-exporter,,n=user,r=abc", "malformed-request"}, /* p= with a non-PLUS mech */
        {"N,,n=user,r=abc", "malformed-request"},
        {" n,,n=user,r=abc", "malformed-request"},
    };
    struct store *st = st_new();
    struct ex e;

    (void)state;
    for (size_t i = 0; i < sizeof(CASES) / sizeof(CASES[0]); i++) {
        ex_start(&e, AUTH_SASL_SCRAM_SHA256, &CBS, st, NULL, NULL, 0, false, NULL);
        if (ex_steps(&e, CASES[i].msg) != TD_EDENIED || strcmp(e.cond, CASES[i].cond) != 0)
            fail_msg("case %zu \"%s\": got %s", i, CASES[i].msg, e.cond ? e.cond : "(ok)");
        assert_int_equal(e.out.len, 0);
        assert_false(e.done);
        ex_end(&e);
    }
    assert_int_equal(st->calls_scram, 0);

    /* An embedded NUL. */
    ex_start(&e, AUTH_SASL_SCRAM_SHA256, &CBS, st, NULL, NULL, 0, false, NULL);
    assert_int_equal(ex_step(&e, "n,,n=user,r=abc\0d", 17), TD_EDENIED);
    assert_string_equal(e.cond, "malformed-request");
    ex_end(&e);
    /* Two empty messages: the second is malformed. */
    ex_start(&e, AUTH_SASL_SCRAM_SHA256, &CBS, st, NULL, NULL, 0, false, NULL);
    assert_int_equal(ex_step(&e, "", 0), TD_OK);
    assert_int_equal(ex_step(&e, "", 0), TD_EDENIED);
    assert_string_equal(e.cond, "malformed-request");
    ex_end(&e);
    /* NULL with a length. */
    ex_start(&e, AUTH_SASL_SCRAM_SHA256, &CBS, st, NULL, NULL, 0, false, NULL);
    assert_int_equal(ex_step(&e, NULL, 3), TD_EDENIED);
    ex_end(&e);
}

static void test_scram_limits(void **state)
{
    struct store *st = st_new();
    char *big = malloc(AUTH_SASL_MSG_MAX + 2);
    struct ex e;
    int n;

    (void)state;
    /* A message over the cap. */
    n = snprintf(big, AUTH_SASL_MSG_MAX + 2, "n,,n=user,r=");
    memset(big + n, 'a', (size_t)(AUTH_SASL_MSG_MAX + 1 - n));
    big[AUTH_SASL_MSG_MAX + 1] = '\0';
    ex_start(&e, AUTH_SASL_SCRAM_SHA256, &CBS, st, NULL, NULL, 0, false, NULL);
    assert_int_equal(ex_step(&e, big, AUTH_SASL_MSG_MAX + 1), TD_EDENIED);
    assert_string_equal(e.cond, "malformed-request");
    ex_end(&e);
    /* A nonce over AUTH_SASL_NONCE_MAX inside an acceptable message. */
    big[n + AUTH_SASL_NONCE_MAX + 1] = '\0';
    ex_start(&e, AUTH_SASL_SCRAM_SHA256, &CBS, st, NULL, NULL, 0, false, NULL);
    assert_int_equal(ex_steps(&e, big), TD_EDENIED);
    ex_end(&e);
    big[n + AUTH_SASL_NONCE_MAX] = '\0';
    ex_start(&e, AUTH_SASL_SCRAM_SHA256, &CBS, st, NULL, NULL, 0, false, NULL);
    assert_int_equal(ex_steps(&e, big), TD_OK);
    ex_end(&e);
    /* A name over AUTH_SASL_NAME_MAX. */
    n = snprintf(big, AUTH_SASL_MSG_MAX, "n,,n=");
    memset(big + n, 'u', AUTH_SASL_NAME_MAX + 1);
    snprintf(big + n + AUTH_SASL_NAME_MAX + 1, 20, ",r=abc");
    ex_start(&e, AUTH_SASL_SCRAM_SHA256, &CBS, st, NULL, NULL, 0, false, NULL);
    assert_int_equal(ex_steps(&e, big), TD_EDENIED);
    assert_string_equal(e.cond, "malformed-request");
    ex_end(&e);
    free(big);
}

static void test_scram_malformed_final(void **state)
{
    static const char *const FIRST = "n,,n=user,r=fyko+d2lbbFgONRv9qkxdawL";
    static const char *const GOOD_PROOF = "p=v0X8v3Bz2T0CJGbJQyF0X+HI4Ts=";
#define NONCE "fyko+d2lbbFgONRv9qkxdawL3rfcNHYJY1ZVvWVs7j"
    static const struct {
        const char *msg;
        const char *cond;
    } CASES[] = {
        {"", "malformed-request"},
        {"r=" NONCE ",p=v0X8v3Bz2T0CJGbJQyF0X+HI4Ts=", "malformed-request"},
        {"c=bi!s,r=" NONCE ",p=v0X8v3Bz2T0CJGbJQyF0X+HI4Ts=", "malformed-request"},
        {"c=biw,r=" NONCE ",p=v0X8v3Bz2T0CJGbJQyF0X+HI4Ts=", "malformed-request"},
        {"c=eSws,r=" NONCE ",p=v0X8v3Bz2T0CJGbJQyF0X+HI4Ts=", "not-authorized"},
        {"c=biws,r=" NONCE "x,p=v0X8v3Bz2T0CJGbJQyF0X+HI4Ts=", "not-authorized"},
        {"c=biws,r=fyko+d2lbbFgONRv9qkxdawL,p=v0X8v3Bz2T0CJGbJQyF0X+HI4Ts=", "not-authorized"},
        {"c=biws,r=,p=v0X8v3Bz2T0CJGbJQyF0X+HI4Ts=", "not-authorized"},
        {"c=biws,r=" NONCE, "malformed-request"},
        {"c=biws,r=" NONCE ",", "malformed-request"},
        {"c=biws,r=" NONCE ",p=", "malformed-request"},
        {"c=biws,r=" NONCE ",p=v0X8v3Bz2T0CJGbJQyF0X+HI4Ts=,x=y", "malformed-request"},
        {"c=biws,r=" NONCE ",p=v0X8v3Bz2T0CJGbJQyF0X+HI4T", "malformed-request"},
        {"c=biws,r=" NONCE ",p=v0X8v3Bz2T0CJGbJQyF0X+HI4Ts", "malformed-request"},
        {"c=biws,r=" NONCE ",p=AAAA", "malformed-request"},
        {"c=biws,r=" NONCE ",p=v0X8v3Bz2T0CJGbJQyF0X+HI4Ts=AAAA", "malformed-request"},
        {"c=biws,r=" NONCE ",m=1,p=v0X8v3Bz2T0CJGbJQyF0X+HI4Ts=", "malformed-request"},
        {"c=biws,r=" NONCE ",,p=v0X8v3Bz2T0CJGbJQyF0X+HI4Ts=", "malformed-request"},
        {"c=biws,r=" NONCE ",p=v0X8v3Bz2T0CJGbJQyF0X+HI5Ts=", "not-authorized"},
        /* An extension changes the AuthMessage, so the RFC proof no longer fits. */
        {"c=biws,r=" NONCE ",e=1,p=v0X8v3Bz2T0CJGbJQyF0X+HI4Ts=", "not-authorized"},
        {"c=biws,r=" NONCE ",P=v0X8v3Bz2T0CJGbJQyF0X+HI4Ts=", "malformed-request"},
        {"c=biws,r=" NONCE ",p=v0X8v3Bz2T0CJGbJQyF0X+HI4Ts=\xff", "malformed-request"},
    };
#undef NONCE
    struct store *st = st_new();
    struct ex e;
    char good[200];

    (void)state;
    for (size_t i = 0; i < sizeof(CASES) / sizeof(CASES[0]); i++) {
        ex_start(&e, AUTH_SASL_SCRAM_SHA1, &CBS, st, NULL, NULL, 0, false, "3rfcNHYJY1ZVvWVs7j");
        assert_int_equal(ex_steps(&e, FIRST), TD_OK);
        if (ex_steps(&e, CASES[i].msg) != TD_EDENIED || strcmp(e.cond, CASES[i].cond) != 0)
            fail_msg("case %zu \"%s\": got %s", i, CASES[i].msg, e.cond ? e.cond : "(ok)");
        assert_false(e.done);
        assert_int_equal(e.out.len, 0);
        assert_null(auth_sasl_authcid(e.s));
        ex_end(&e);
    }
    /* The good message still works after all that (the cases were not vacuous). */
    snprintf(good, sizeof(good), "c=biws,r=fyko+d2lbbFgONRv9qkxdawL3rfcNHYJY1ZVvWVs7j,%s",
             GOOD_PROOF);
    ex_start(&e, AUTH_SASL_SCRAM_SHA1, &CBS, st, NULL, NULL, 0, false, "3rfcNHYJY1ZVvWVs7j");
    assert_int_equal(ex_steps(&e, FIRST), TD_OK);
    assert_int_equal(ex_steps(&e, good), TD_OK);
    assert_true(e.done);
    ex_end(&e);
}

/* ---- channel binding ---------------------------------------------------- */

static const uint8_t CB[32] = {0xde, 0xad, 0xbe, 0xef, 1,  2,  3,  4,  5,  6,  7,
                               8,    9,    10,   11,   12, 13, 14, 15, 16, 17, 18,
                               19,   20,   21,   22,   23, 24, 25, 26, 27, 28};

/* base64(gs2 || data[0..n)) into out. */
static void cbind(const char *gs2, const uint8_t *data, size_t n, char *out, size_t cap)
{
    struct buf raw, b;

    buf_init(&raw, 0);
    buf_init(&b, 0);
    buf_appends(&raw, gs2);
    buf_append(&raw, data, n);
    codec_b64_encode(&b, raw.data, raw.len);
    assert_true(b.len < cap);
    memcpy(out, b.data, b.len + 1);
    buf_free(&raw);
    buf_free(&b);
}

static void test_plus(void **state)
{
    struct store *st = st_new();
    uint8_t other[32];
    char c64[200];
    struct ex e;

    (void)state;
    /* Matching binding data. */
    cbind("p=tls-exporter,,", CB, sizeof(CB), c64, sizeof(c64));
    ex_start(&e, AUTH_SASL_SCRAM_SHA256_PLUS, &CBS, st, "tls-exporter", CB, sizeof(CB), true, NULL);
    assert_int_equal(
        scram_run(&e, AUTH_SCRAM_SHA256, "p=tls-exporter,,", "n=user,r=abc", "pencil", c64, ""),
        TD_OK);
    assert_true(e.done);
    assert_string_equal(auth_sasl_authcid(e.s), "user");
    ex_end(&e);
    /* With an authzid in the header, SHA-1. */
    cbind("p=tls-exporter,a=user,", CB, sizeof(CB), c64, sizeof(c64));
    ex_start(&e, AUTH_SASL_SCRAM_SHA1_PLUS, &CBS, st, "tls-exporter", CB, sizeof(CB), true, NULL);
    assert_int_equal(
        scram_run(&e, AUTH_SCRAM_SHA1, "p=tls-exporter,a=user,", "n=user,r=abc", "pencil", c64, ""),
        TD_OK);
    assert_true(e.done);
    ex_end(&e);
    /* Other binding data (a MITM's TLS session). */
    memcpy(other, CB, sizeof(other));
    other[31] ^= 1;
    cbind("p=tls-exporter,,", other, sizeof(other), c64, sizeof(c64));
    ex_start(&e, AUTH_SASL_SCRAM_SHA256_PLUS, &CBS, st, "tls-exporter", CB, sizeof(CB), true, NULL);
    assert_int_equal(
        scram_run(&e, AUTH_SCRAM_SHA256, "p=tls-exporter,,", "n=user,r=abc", "pencil", c64, ""),
        TD_EDENIED);
    assert_string_equal(e.cond, "not-authorized");
    ex_end(&e);
    /* The header alone (no data) is not enough either. */
    cbind("p=tls-exporter,,", CB, 0, c64, sizeof(c64));
    ex_start(&e, AUTH_SASL_SCRAM_SHA256_PLUS, &CBS, st, "tls-exporter", CB, sizeof(CB), true, NULL);
    assert_int_equal(
        scram_run(&e, AUTH_SCRAM_SHA256, "p=tls-exporter,,", "n=user,r=abc", "pencil", c64, ""),
        TD_EDENIED);
    ex_end(&e);
    /* Another binding type than the transport's. */
    ex_start(&e, AUTH_SASL_SCRAM_SHA256_PLUS, &CBS, st, "tls-exporter", CB, sizeof(CB), true, NULL);
    assert_int_equal(ex_steps(&e, "p=tls-unique,,n=user,r=abc"), TD_EDENIED);
    assert_string_equal(e.cond, "not-authorized");
    ex_end(&e);
    ex_start(&e, AUTH_SASL_SCRAM_SHA256_PLUS, &CBS, st, "tls-exporter", CB, sizeof(CB), true, NULL);
    assert_int_equal(ex_steps(&e, "p=tls-exporte,,n=user,r=abc"), TD_EDENIED);
    ex_end(&e);
    /* A -PLUS mechanism with flag n or y. */
    ex_start(&e, AUTH_SASL_SCRAM_SHA256_PLUS, &CBS, st, "tls-exporter", CB, sizeof(CB), true, NULL);
    assert_int_equal(ex_steps(&e, "n,,n=user,r=abc"), TD_EDENIED);
    assert_string_equal(e.cond, "not-authorized");
    ex_end(&e);
    ex_start(&e, AUTH_SASL_SCRAM_SHA256_PLUS, &CBS, st, "tls-exporter", CB, sizeof(CB), true, NULL);
    assert_int_equal(ex_steps(&e, "y,,n=user,r=abc"), TD_EDENIED);
    ex_end(&e);
    /* A -PLUS mechanism without binding data: not offered. */
    ex_start(&e, AUTH_SASL_SCRAM_SHA256_PLUS, &CBS, st, NULL, NULL, 0, false, NULL);
    assert_int_equal(ex_steps(&e, "p=tls-exporter,,n=user,r=abc"), TD_EDENIED);
    assert_string_equal(e.cond, "invalid-mechanism");
    ex_end(&e);
    /* Over-long binding data is refused the same way. */
    {
        uint8_t huge[AUTH_SASL_CB_MAX + 1] = {0};

        ex_start(&e, AUTH_SASL_SCRAM_SHA256_PLUS, &CBS, st, "tls-exporter", huge, sizeof(huge),
                 true, NULL);
        assert_int_equal(ex_steps(&e, "p=tls-exporter,,n=user,r=abc"), TD_EDENIED);
        assert_string_equal(e.cond, "invalid-mechanism");
        ex_end(&e);
    }
}

static void test_downgrade(void **state)
{
    struct store *st = st_new();
    struct ex e;

    (void)state;
    /* 'y' while we offered -PLUS: someone stripped it (RFC 5802 §6). */
    ex_start(&e, AUTH_SASL_SCRAM_SHA256, &CBS, st, "tls-exporter", CB, sizeof(CB), true, NULL);
    assert_int_equal(ex_steps(&e, "y,,n=user,r=abc"), TD_EDENIED);
    assert_string_equal(e.cond, "not-authorized");
    ex_end(&e);
    /* 'y' when we did not offer it: fine, and c= is "eSws". */
    ex_start(&e, AUTH_SASL_SCRAM_SHA256, &CBS, st, NULL, NULL, 0, false, NULL);
    assert_int_equal(scram_run(&e, AUTH_SCRAM_SHA256, "y,,", "n=user,r=abc", "pencil", "eSws", ""),
                     TD_OK);
    assert_true(e.done);
    ex_end(&e);
    /* 'n' while -PLUS is offered: the client cannot bind; allowed. */
    ex_start(&e, AUTH_SASL_SCRAM_SHA256, &CBS, st, "tls-exporter", CB, sizeof(CB), true, NULL);
    assert_int_equal(scram_run(&e, AUTH_SCRAM_SHA256, "n,,", "n=user,r=abc", "pencil", "biws", ""),
                     TD_OK);
    ex_end(&e);
}

/* ---- PLAIN -------------------------------------------------------------- */

static void test_plain(void **state)
{
    struct store *st = st_new();
    struct ex e;

    (void)state;
    ex_start(&e, AUTH_SASL_PLAIN, &CBS, st, NULL, NULL, 0, false, NULL);
    assert_int_equal(ex_step(&e, "\0user\0pencil", 12), TD_OK);
    assert_true(e.done);
    assert_int_equal(e.out.len, 0);
    assert_string_equal(auth_sasl_authcid(e.s), "user");
    assert_string_equal(st->last_password, "pencil");
    ex_end(&e);

    ex_start(&e, AUTH_SASL_PLAIN, &CBS, st, NULL, NULL, 0, false, NULL);
    assert_int_equal(ex_step(&e, "user\0user\0pencil", 16), TD_OK);
    assert_true(e.done);
    ex_end(&e);

    ex_start(&e, AUTH_SASL_PLAIN, &CBS, st, NULL, NULL, 0, false, NULL);
    assert_int_equal(ex_step(&e, "\0user\0pencil2", 13), TD_EDENIED);
    assert_string_equal(e.cond, "not-authorized");
    assert_null(auth_sasl_authcid(e.s));
    ex_end(&e);

    /* No initial response, then the credentials. */
    ex_start(&e, AUTH_SASL_PLAIN, &CBS, st, NULL, NULL, 0, false, NULL);
    assert_int_equal(ex_step(&e, NULL, 0), TD_OK);
    assert_false(e.done);
    assert_int_equal(ex_step(&e, "\0user\0pencil", 12), TD_OK);
    assert_true(e.done);
    ex_end(&e);
}

static void test_plain_malformed(void **state)
{
    static const struct {
        const char *msg;
        size_t len;
        const char *cond;
    } CASES[] = {
        {"userpencil", 10, "malformed-request"},
        {"\0userpencil", 11, "malformed-request"},
        {"\0\0pencil", 8, "malformed-request"},
        {"\0user\0", 6, "malformed-request"},
        {"\0user\0pen\0cil", 13, "malformed-request"},
        {"\0user\0pencil\0", 13, "malformed-request"},
        {"\0us\xff"
         "er\0pencil",
         12, "malformed-request"},
        {"\0user\0pen\xc0\xaf"
         "cil",
         14, "malformed-request"},
        {"admin\0user\0pencil", 17, "invalid-authzid"},
        {"\0", 1, "malformed-request"},
    };
    struct store *st = st_new();
    char *big;
    struct ex e;

    (void)state;
    for (size_t i = 0; i < sizeof(CASES) / sizeof(CASES[0]); i++) {
        ex_start(&e, AUTH_SASL_PLAIN, &CBS, st, NULL, NULL, 0, false, NULL);
        if (ex_step(&e, CASES[i].msg, CASES[i].len) != TD_EDENIED ||
            strcmp(e.cond, CASES[i].cond) != 0)
            fail_msg("case %zu: got %s", i, e.cond ? e.cond : "(ok)");
        ex_end(&e);
    }
    assert_int_equal(st->calls_plain, 0);

    /* Password over the argon2 cap: refused without a check. */
    big = calloc(1, AUTH_SASL_MSG_MAX + 2);
    memcpy(big, "\0user\0", 6);
    memset(big + 6, 'p', AUTH_SASL_PASSWORD_MAX + 1);
    ex_start(&e, AUTH_SASL_PLAIN, &CBS, st, NULL, NULL, 0, false, NULL);
    assert_int_equal(ex_step(&e, big, 6 + AUTH_SASL_PASSWORD_MAX + 1), TD_EDENIED);
    assert_string_equal(e.cond, "not-authorized");
    ex_end(&e);
    assert_int_equal(st->calls_plain, 0);
    /* Message over the cap. */
    memset(big + 6, 'p', AUTH_SASL_MSG_MAX + 1 - 6);
    ex_start(&e, AUTH_SASL_PLAIN, &CBS, st, NULL, NULL, 0, false, NULL);
    assert_int_equal(ex_step(&e, big, AUTH_SASL_MSG_MAX + 1), TD_EDENIED);
    assert_string_equal(e.cond, "malformed-request");
    ex_end(&e);
    free(big);

    /* check_authzid decides when present. */
    ex_start(&e, AUTH_SASL_PLAIN, &CBS_JID, st, NULL, NULL, 0, false, NULL);
    assert_int_equal(ex_step(&e, "user@example.com\0user\0pencil", 28), TD_OK);
    assert_true(e.done);
    ex_end(&e);
    ex_start(&e, AUTH_SASL_PLAIN, &CBS_JID, st, NULL, NULL, 0, false, NULL);
    assert_int_equal(ex_step(&e, "user\0user\0pencil", 16), TD_EDENIED);
    assert_string_equal(e.cond, "invalid-authzid");
    ex_end(&e);
}

static void test_plain_async(void **state)
{
    struct store *st = st_new();
    struct ex e;

    (void)state;
    st->plain_rc = TD_EAGAIN;
    ex_start(&e, AUTH_SASL_PLAIN, &CBS, st, NULL, NULL, 0, false, NULL);
    assert_int_equal(ex_step(&e, "\0user\0pencil", 12), TD_EAGAIN);
    assert_false(e.done);
    assert_null(e.cond);
    assert_null(auth_sasl_authcid(e.s));
    /* Still waiting. */
    assert_int_equal(ex_step(&e, NULL, 0), TD_EAGAIN);
    auth_sasl_plain_result(e.s, true);
    auth_sasl_plain_result(e.s, false); /* ignored: not waiting any more */
    assert_int_equal(ex_step(&e, NULL, 0), TD_OK);
    assert_true(e.done);
    assert_string_equal(auth_sasl_authcid(e.s), "user");
    ex_end(&e);

    ex_start(&e, AUTH_SASL_PLAIN, &CBS, st, NULL, NULL, 0, false, NULL);
    auth_sasl_plain_result(e.s, true); /* ignored: nothing asked yet */
    assert_int_equal(ex_step(&e, "\0user\0pencil", 12), TD_EAGAIN);
    auth_sasl_plain_result(e.s, false);
    assert_int_equal(ex_step(&e, NULL, 0), TD_EDENIED);
    assert_string_equal(e.cond, "not-authorized");
    assert_null(auth_sasl_authcid(e.s));
    ex_end(&e);

    st->plain_rc = TD_EIO;
    ex_start(&e, AUTH_SASL_PLAIN, &CBS, st, NULL, NULL, 0, false, NULL);
    assert_int_equal(ex_step(&e, "\0user\0pencil", 12), TD_EDENIED);
    assert_string_equal(e.cond, "temporary-auth-failure");
    ex_end(&e);
    st->plain_rc = TD_ENOTFOUND;
    ex_start(&e, AUTH_SASL_PLAIN, &CBS, st, NULL, NULL, 0, false, NULL);
    assert_int_equal(ex_step(&e, "\0user\0pencil", 12), TD_EDENIED);
    assert_string_equal(e.cond, "not-authorized");
    ex_end(&e);
}

static void test_mech_names(void **state)
{
    static const char *const NAMES[] = {"PLAIN", "SCRAM-SHA-1", "SCRAM-SHA-1-PLUS", "SCRAM-SHA-256",
                                        "SCRAM-SHA-256-PLUS"};
    enum auth_sasl_mech m;

    (void)state;
    for (size_t i = 0; i < sizeof(NAMES) / sizeof(NAMES[0]); i++) {
        assert_int_equal(auth_sasl_mech_parse(NAMES[i], &m), TD_OK);
        assert_string_equal(auth_sasl_mech_name(m), NAMES[i]);
    }
    assert_int_equal(auth_sasl_mech_parse(NAMES[3], &m), TD_OK);
    assert_int_equal(m, AUTH_SASL_SCRAM_SHA256);
    assert_int_equal(auth_sasl_mech_parse("scram-sha-1", &m), TD_ENOTFOUND);
    assert_int_equal(auth_sasl_mech_parse("DIGEST-MD5", &m), TD_ENOTFOUND);
    assert_int_equal(auth_sasl_mech_parse("SCRAM-SHA-256-PLUS ", &m), TD_ENOTFOUND);
    assert_int_equal(auth_sasl_mech_parse("", &m), TD_ENOTFOUND);
    assert_int_equal(auth_sasl_mech_parse(NULL, &m), TD_ENOTFOUND);
    auth_sasl_free(NULL);
}

/* RFC 7628 §4.1: the example's shape, with and without an authzid. */
static void test_bearer_ok(void **state)
{
    static const char msg[] = "n,a=user@example.com,\x01host=server.example.com\x01port=143\x01"
                              "auth=Bearer tok-user\x01\x01";
    static const char bare[] = "n,,\x01" "auth=bearer tok-user\x01\x01";
    struct store *st = st_new();
    struct ex e;

    (void)state;
    ex_start(&e, AUTH_SASL_OAUTHBEARER, &CBS_JID, st, NULL, NULL, 0, false, NULL);
    assert_int_equal(ex_step(&e, msg, sizeof(msg) - 1), TD_OK);
    assert_true(e.done);
    assert_int_equal(e.out.len, 0);
    assert_string_equal(auth_sasl_authcid(e.s), "user");
    assert_int_equal(st->calls_authzid, 1);
    ex_end(&e);

    ex_start(&e, AUTH_SASL_OAUTHBEARER, &CBS, st, NULL, NULL, 0, false, NULL);
    assert_int_equal(ex_step(&e, bare, sizeof(bare) - 1), TD_OK);
    assert_true(e.done);
    ex_end(&e);
}

/* §3.2.2: a refused token gets the JSON error as a challenge, then the
 * client's %x01 ends with not-authorized; a store error is temporary. */
static void test_bearer_refused(void **state)
{
    static const char bad[] = "n,,\x01" "auth=Bearer nope\x01\x01";
    static const char eio[] = "n,,\x01" "auth=Bearer tok-eio\x01\x01";
    static const char other[] = "n,a=mallory@example.com,\x01" "auth=Bearer tok-user\x01\x01";
    struct store *st = st_new();
    struct ex e;

    (void)state;
    ex_start(&e, AUTH_SASL_OAUTHBEARER, &CBS, st, NULL, NULL, 0, false, NULL);
    assert_int_equal(ex_step(&e, bad, sizeof(bad) - 1), TD_OK);
    assert_false(e.done);
    assert_non_null(strstr(e.out.data, "invalid_token"));
    assert_int_equal(ex_step(&e, "\x01", 1), TD_EDENIED);
    assert_string_equal(e.cond, "not-authorized");
    assert_null(auth_sasl_authcid(e.s));
    ex_end(&e);

    ex_start(&e, AUTH_SASL_OAUTHBEARER, &CBS, st, NULL, NULL, 0, false, NULL);
    assert_int_equal(ex_step(&e, eio, sizeof(eio) - 1), TD_EDENIED);
    assert_string_equal(e.cond, "temporary-auth-failure");
    ex_end(&e);

    /* a good token for "user" cannot act as someone else */
    ex_start(&e, AUTH_SASL_OAUTHBEARER, &CBS_JID, st, NULL, NULL, 0, false, NULL);
    assert_int_equal(ex_step(&e, other, sizeof(other) - 1), TD_EDENIED);
    assert_string_equal(e.cond, "invalid-authzid");
    assert_null(auth_sasl_authcid(e.s));
    ex_end(&e);
}

static void test_bearer_malformed(void **state)
{
    static const char *const bad[] = {
        "p=tls-exporter,,\x01" "auth=Bearer tok-user\x01\x01", /* no channel binding */
        "n,,auth=Bearer tok-user\x01\x01",                   /* no kvsep after gs2 */
        "n,,\x01" "auth=Bearer tok-user\x01",                   /* no final kvsep */
        "n,,\x01host=x\x01\x01",                            /* no auth */
        "n,,\x01" "auth=Basic dXNlcg==\x01\x01",               /* not a bearer */
        "n,,\x01" "auth=Bearer \x01\x01",                      /* empty token */
        "n,a=us=ZZer,\x01" "auth=Bearer tok-user\x01\x01",      /* bad escape */
        "n,x=user,\x01" "auth=Bearer tok-user\x01\x01",         /* not a= */
        "n,,\x01" "auth=Bearer tok-user\x01\x01\x01",          /* trailing bytes */
        "n,,\x01" "auth=Bearer x\x01y\x01\x01",                 /* a pair without '=' */
        "n,,\x01=v\x01" "auth=Bearer tok-user\x01\x01",         /* an empty key */
        "n",
    };
    struct store *st = st_new();
    struct ex e;

    (void)state;
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        ex_start(&e, AUTH_SASL_OAUTHBEARER, &CBS, st, NULL, NULL, 0, false, NULL);
        assert_int_equal(ex_steps(&e, bad[i]), TD_EDENIED);
        assert_string_equal(e.cond, "malformed-request");
        ex_end(&e);
    }
    assert_int_equal(st->calls_bearer, 0);
    /* a NUL inside */
    ex_start(&e, AUTH_SASL_OAUTHBEARER, &CBS, st, NULL, NULL, 0, false, NULL);
    assert_int_equal(ex_step(&e, "n,,\x01" "auth=Bearer a\0b\x01\x01", 21), TD_EDENIED);
    ex_end(&e);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_rfc5802_sha1),
        cmocka_unit_test(test_rfc7677_sha256),
        cmocka_unit_test(test_scram_random_nonce_and_client),
        cmocka_unit_test(test_scram_wrong_password),
        cmocka_unit_test(test_scram_unknown_user),
        cmocka_unit_test(test_scram_lookup_failures),
        cmocka_unit_test(test_scram_small_output),
        cmocka_unit_test(test_scram_names_and_authzid),
        cmocka_unit_test(test_scram_malformed_first),
        cmocka_unit_test(test_scram_limits),
        cmocka_unit_test(test_scram_malformed_final),
        cmocka_unit_test(test_plus),
        cmocka_unit_test(test_downgrade),
        cmocka_unit_test(test_plain),
        cmocka_unit_test(test_plain_malformed),
        cmocka_unit_test(test_plain_async),
        cmocka_unit_test(test_mech_names),
        cmocka_unit_test(test_bearer_ok),
        cmocka_unit_test(test_bearer_refused),
        cmocka_unit_test(test_bearer_malformed),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
