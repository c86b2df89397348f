/* SPDX-License-Identifier: MIT */
/* Unit tests for auth/auth_scram: the RFC 5803 example credential for
 * "pencil", the RFC 7677 salt, SASLprep mapping and refusals, random salts,
 * argument limits, and the storage format: round trip, exact text, and a
 * list of malformed strings. Expected keys were computed independently with
 * Python's hashlib/hmac. */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "auth/auth_scram.h"
#include "core/buf.h"
#include "core/codec.h"
#include "core/err.h"

static void b64(const char *s, uint8_t *out, size_t cap, size_t *n)
{
    assert_int_equal(codec_b64_decode(s, strlen(s), out, cap, n), TD_OK);
}

static void assert_keys(const struct auth_scram_cred *c, const char *stored, const char *server)
{
    struct buf b;

    buf_init(&b, 0);
    assert_int_equal(codec_b64_encode(&b, c->stored_key, c->key_len), TD_OK);
    assert_string_equal(b.data, stored);
    buf_reset(&b);
    assert_int_equal(codec_b64_encode(&b, c->server_key, c->key_len), TD_OK);
    assert_string_equal(b.data, server);
    buf_free(&b);
}

/* RFC 5803 §3 example: user "user", password "pencil" (the RFC 5802 §5 salt). */
static void test_rfc5803_sha1(void **state)
{
    static const char WANT[] = "SCRAM-SHA-1$4096:QSXCR+Q6sek8bf92$"
                               "6dlGYMOdZcOPutkcNY8U2g7vK9Y=:D+CSWLOshSulAsxiupA+qs2/fTE=";
    struct auth_scram_cred c, p;
    uint8_t salt[32];
    size_t n;
    struct buf b;

    (void)state;
    b64("QSXCR+Q6sek8bf92", salt, sizeof(salt), &n);
    assert_int_equal(auth_scram_derive_salted(AUTH_SCRAM_SHA1, "pencil", 6, salt, n, 4096, &c),
                     TD_OK);
    assert_int_equal(c.key_len, 20);
    assert_int_equal(c.iterations, 4096);
    assert_int_equal(c.salt_len, 12);
    assert_keys(&c, "6dlGYMOdZcOPutkcNY8U2g7vK9Y=", "D+CSWLOshSulAsxiupA+qs2/fTE=");
    buf_init(&b, 1024);
    assert_int_equal(auth_scram_cred_format(&c, &b), TD_OK);
    assert_string_equal(b.data, WANT);
    assert_int_equal(auth_scram_cred_parse(WANT, &p), TD_OK);
    assert_int_equal(p.hash, AUTH_SCRAM_SHA1);
    assert_memory_equal(&p, &c, sizeof(c));
    buf_free(&b);
}

static void test_rfc7677_sha256(void **state)
{
    struct auth_scram_cred c, p;
    uint8_t salt[32];
    size_t n;
    struct buf b;

    (void)state;
    b64("W22ZaJ0SNY7soEsUEjb6gQ==", salt, sizeof(salt), &n);
    assert_int_equal(auth_scram_derive_salted(AUTH_SCRAM_SHA256, "pencil", 6, salt, n, 4096, &c),
                     TD_OK);
    assert_int_equal(c.key_len, 32);
    assert_keys(&c, "WG5d8oPm3OtcPnkdi4Uo7BkeZkBFzpcXkuLmtbsT4qY=",
                "wfPLwcE6nTWhTAmQ7tl2KeoiWGPlZqQxSrmfPwDl2dU=");
    buf_init(&b, 1024);
    assert_int_equal(auth_scram_cred_format(&c, &b), TD_OK);
    assert_string_equal(b.data, "SCRAM-SHA-256$4096:W22ZaJ0SNY7soEsUEjb6gQ==$"
                                "WG5d8oPm3OtcPnkdi4Uo7BkeZkBFzpcXkuLmtbsT4qY=:"
                                "wfPLwcE6nTWhTAmQ7tl2KeoiWGPlZqQxSrmfPwDl2dU=");
    assert_int_equal(auth_scram_cred_parse(b.data, &p), TD_OK);
    assert_memory_equal(&p, &c, sizeof(c));
    buf_free(&b);
}

static void test_saslprep(void **state)
{
    /* "péncil" + NBSP (C.1.2 -> SPACE) + ZWSP (B.1 -> nothing) == "péncil ". */
    static const char MAPPED[] = "p\xc3\xa9ncil\xc2\xa0\xe2\x80\x8b";
    static const char PLAIN[] = "p\xc3\xa9ncil ";
    static const char *const BAD[] = {
        "a\x01",           "tab\there",           "nl\n",
        "del\x7f",         "c1\xc2\x85",          "\xff\xfe",
        "over\xc0\xaf",    "pua\xee\x80\x80",     "nonchar\xef\xb7\x90",
        "rtl\xe2\x80\x8f", "tag\xf3\xa0\x80\x81", "ls\xe2\x80\xa8",
        "\xe2\x80\x8b", /* maps to nothing at all */
    };
    struct auth_scram_cred a, b;
    const uint8_t salt[8] = "saltsalt";

    (void)state;
    assert_int_equal(
        auth_scram_derive_salted(AUTH_SCRAM_SHA256, MAPPED, strlen(MAPPED), salt, 8, 4096, &a),
        TD_OK);
    assert_keys(&a, "0jyOI4w3+QRC5mSSzZadVgPkqggqAPTbc4YFzMTnwug=",
                "3vBqMAvHlTQLpoWeVvU8ahl7D3QG1Wn59c8dAbJTx6k=");
    assert_int_equal(
        auth_scram_derive_salted(AUTH_SCRAM_SHA256, PLAIN, strlen(PLAIN), salt, 8, 4096, &b),
        TD_OK);
    assert_memory_equal(a.stored_key, b.stored_key, 32);
    for (size_t i = 0; i < sizeof(BAD) / sizeof(BAD[0]); i++) {
        memset(&a, 0x55, sizeof(a));
        assert_int_equal(
            auth_scram_derive_salted(AUTH_SCRAM_SHA256, BAD[i], strlen(BAD[i]), salt, 8, 4096, &a),
            TD_EINVAL);
        assert_int_equal(a.key_len, 0);
    }
    /* An embedded NUL is a C.2.1 control. */
    assert_int_equal(auth_scram_derive_salted(AUTH_SCRAM_SHA256, "ab\0cd", 5, salt, 8, 4096, &a),
                     TD_EINVAL);
}

static void test_random_salt_and_limits(void **state)
{
    struct auth_scram_cred a, b;
    char big[AUTH_SCRAM_PASSWORD_MAX + 1];
    const uint8_t salt[33] = {0};

    (void)state;
    assert_int_equal(auth_scram_derive(AUTH_SCRAM_SHA256, "secret", 6, 0, &a), TD_OK);
    assert_int_equal(a.iterations, AUTH_SCRAM_ITER_SHA256);
    assert_int_equal(a.salt_len, AUTH_SCRAM_SALT_LEN);
    assert_int_equal(auth_scram_derive(AUTH_SCRAM_SHA256, "secret", 6, 0, &b), TD_OK);
    assert_memory_not_equal(a.salt, b.salt, AUTH_SCRAM_SALT_LEN);
    assert_memory_not_equal(a.stored_key, b.stored_key, 32);
    assert_int_equal(auth_scram_derive(AUTH_SCRAM_SHA1, "secret", 6, 0, &a), TD_OK);
    assert_int_equal(a.iterations, AUTH_SCRAM_ITER_SHA1);
    assert_int_equal(a.key_len, 20);

    assert_int_equal(auth_scram_derive(AUTH_SCRAM_SHA256, "", 0, 0, &a), TD_EINVAL);
    assert_int_equal(auth_scram_derive(AUTH_SCRAM_SHA256, NULL, 3, 0, &a), TD_EINVAL);
    assert_int_equal(auth_scram_derive(AUTH_SCRAM_SHA256, "secret", 6, 4095, &a), TD_EINVAL);
    assert_int_equal(auth_scram_derive(AUTH_SCRAM_SHA256, "secret", 6, AUTH_SCRAM_ITER_MAX + 1, &a),
                     TD_EINVAL);
    assert_int_equal(auth_scram_derive(7, "secret", 6, 4096, &a), TD_EINVAL);
    memset(big, 'a', sizeof(big));
    assert_int_equal(auth_scram_derive(AUTH_SCRAM_SHA1, big, sizeof(big), 0, &a), TD_EINVAL);
    assert_int_equal(auth_scram_derive(AUTH_SCRAM_SHA1, big, sizeof(big) - 1, 0, &a), TD_OK);
    assert_int_equal(auth_scram_derive_salted(AUTH_SCRAM_SHA1, "x", 1, salt, 0, 4096, &a),
                     TD_EINVAL);
    assert_int_equal(auth_scram_derive_salted(AUTH_SCRAM_SHA1, "x", 1, salt, 33, 4096, &a),
                     TD_EINVAL);
    assert_int_equal(auth_scram_derive_salted(AUTH_SCRAM_SHA1, "x", 1, NULL, 8, 4096, &a),
                     TD_EINVAL);
    assert_int_equal(auth_scram_derive_salted(AUTH_SCRAM_SHA1, "x", 1, salt, 32, 0, &a), TD_EINVAL);
}

static void test_format_errors(void **state)
{
    struct auth_scram_cred c;
    struct buf b;

    (void)state;
    assert_int_equal(auth_scram_derive(AUTH_SCRAM_SHA256, "secret", 6, 4096, &c), TD_OK);
    /* Ceiling: the buffer keeps what it had. */
    buf_init(&b, 40);
    assert_int_equal(buf_appends(&b, "keep"), TD_OK);
    assert_int_equal(auth_scram_cred_format(&c, &b), TD_ETOOBIG);
    assert_string_equal(b.data, "keep");
    assert_int_equal(b.len, 4);
    buf_free(&b);
    buf_init(&b, 0);
    c.key_len = 20; /* inconsistent with SHA-256 */
    assert_int_equal(auth_scram_cred_format(&c, &b), TD_EINVAL);
    c.key_len = 32;
    c.iterations = 10;
    assert_int_equal(auth_scram_cred_format(&c, &b), TD_EINVAL);
    assert_int_equal(b.len, 0);
    buf_free(&b);
}

#define PRE "SCRAM-SHA-1$4096:QSXCR+Q6sek8bf92$"
#define KEYS "6dlGYMOdZcOPutkcNY8U2g7vK9Y=:D+CSWLOshSulAsxiupA+qs2/fTE="

static void test_parse_malformed(void **state)
{
    static const char K20[] = "6dlGYMOdZcOPutkcNY8U2g7vK9Y=";
    static const char *const BAD[] = {
        "",
        "SCRAM-SHA-1",
        "SCRAM-SHA-1$",
        "scram-sha-1$4096:QSXCR+Q6sek8bf92$" KEYS,
        "SCRAM-SHA-512$4096:QSXCR+Q6sek8bf92$" KEYS,
        "SCRAM-SHA-1$04096:QSXCR+Q6sek8bf92$" KEYS,
        "SCRAM-SHA-1$4095:QSXCR+Q6sek8bf92$" KEYS,
        "SCRAM-SHA-1$-4096:QSXCR+Q6sek8bf92$" KEYS,
        "SCRAM-SHA-1$99999999999:QSXCR+Q6sek8bf92$" KEYS,
        "SCRAM-SHA-1$1000001:QSXCR+Q6sek8bf92$" KEYS,
        "SCRAM-SHA-1$4096QSXCR+Q6sek8bf92$" KEYS,
        "SCRAM-SHA-1$4096:$" KEYS,
        "SCRAM-SHA-1$4096:QSXCR+Q6sek8bf9$" KEYS,
        "SCRAM-SHA-1$4096:QSXCR+Q6sek8bf92 $" KEYS,
        PRE "6dlGYMOdZcOPutkcNY8U2g7vK9Y=D+CSWLOshSulAsxiupA+qs2/fTE=",
        PRE "6dlGYMOdZcOPutkcNY8U2g7vK9Y=:",
        PRE "6dlGYMOdZcOPutkcNY8U2g7vK9Y=:D+CSWLOshSulAsxiupA+qs2/fTE=:",
        PRE "6dlGYMOdZcOPutkcNY8U2g7vK9Y=:D+CSWLOshSulAsxiupA+qs2/fTE=$",
        PRE "6dlGYMOdZcOPutkcNY8U2g7vK9Y=:D+CSWLOshSulAsxiupA+qs2/fTF=",
        /* SHA-256 name with SHA-1-length keys */
        "SCRAM-SHA-256$4096:QSXCR+Q6sek8bf92$" KEYS,
        /* salt of 33 bytes */
        "SCRAM-SHA-1$4096:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA$" KEYS,
        PRE "6dlGYMOdZcOPutkcNY8U2g7vK9Y=:D+CSWLOshSulAsxiupA+qs2/fTE",
    };
    struct auth_scram_cred c;
    char s[200];

    (void)state;
    for (size_t i = 0; i < sizeof(BAD) / sizeof(BAD[0]); i++) {
        memset(&c, 0x55, sizeof(c));
        assert_int_equal(auth_scram_cred_parse(BAD[i], &c), TD_EINVAL);
        assert_int_equal(c.key_len, 0);
        assert_int_equal(c.iterations, 0);
    }
    assert_int_equal(auth_scram_cred_parse(NULL, &c), TD_EINVAL);
    /* The largest count is fine, and a 32-byte salt. */
    snprintf(s, sizeof(s), "SCRAM-SHA-1$1000000:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=$%s:%s",
             K20, K20);
    assert_int_equal(auth_scram_cred_parse(s, &c), TD_OK);
    assert_int_equal(c.iterations, 1000000);
    assert_int_equal(c.salt_len, 32);
}
#undef PRE
#undef KEYS

/* SASL PLAIN checked against SCRAM keys: the right password only, also
 * after SASLprep (a non-ASCII space maps to a space); on the pool, and a
 * dummy check (unknown account) is always false. */
static int async_result = -1;

static void on_check(void *ud, bool ok, const char *unused)
{
    (void)ud;
    (void)unused;
    async_result = ok;
}

static void test_check_plain(void **state)
{
    struct auth_scram_cred c;
    uv_loop_t loop;

    (void)state;
    assert_int_equal(auth_scram_derive(AUTH_SCRAM_SHA256, "correct horse", 13, 4096, &c), TD_OK);
    assert_true(auth_scram_check(&c, "correct horse", 13));
    assert_false(auth_scram_check(&c, "correct hors", 12));
    assert_false(auth_scram_check(&c, "correct horsf", 13));
    assert_true(auth_scram_check(&c, "correct\xc2\xa0horse", 14)); /* U+00A0 -> space */
    assert_false(auth_scram_check(NULL, "correct horse", 13));
    assert_false(auth_scram_check(&c, "", 0));

    assert_int_equal(uv_loop_init(&loop), 0);
    assert_int_equal(auth_scram_check_async(&loop, &c, "correct horse", 13, on_check, NULL), TD_OK);
    assert_int_equal(uv_run(&loop, UV_RUN_DEFAULT), 0);
    assert_int_equal(async_result, 1);
    assert_int_equal(auth_scram_check_async(&loop, &c, "wrong", 5, on_check, NULL), TD_OK);
    assert_int_equal(uv_run(&loop, UV_RUN_DEFAULT), 0);
    assert_int_equal(async_result, 0);
    async_result = -1;
    assert_int_equal(auth_scram_check_async(&loop, NULL, "correct horse", 13, on_check, NULL),
                     TD_OK);
    assert_int_equal(uv_run(&loop, UV_RUN_DEFAULT), 0);
    assert_int_equal(async_result, 0);
    assert_int_equal(auth_scram_check_async(&loop, &c, "x", AUTH_SCRAM_PASSWORD_MAX + 1, on_check,
                                            NULL),
                     TD_EINVAL);
    assert_int_equal(uv_loop_close(&loop), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_rfc5803_sha1),  cmocka_unit_test(test_rfc7677_sha256),
        cmocka_unit_test(test_saslprep),      cmocka_unit_test(test_random_salt_and_limits),
        cmocka_unit_test(test_format_errors), cmocka_unit_test(test_parse_malformed),
        cmocka_unit_test(test_check_plain),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
