/* SPDX-License-Identifier: MIT */
/* Unit tests for auth/auth_csrf: round trip, tampered tokens, a token for
 * another cookie or made with another key, NULL/empty/wrong-length input,
 * and a fixed HMAC-SHA256 value so the construction cannot drift. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "auth/auth_csrf.h"
#include "core/codec.h"
#include "core/err.h"

static const uint8_t KEY[32] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16,
                                17, 18, 19, 20, 21, 22, 23, 24, 25, 26, 27, 28, 29, 30, 31, 32};

static void test_roundtrip(void **state)
{
    struct auth_csrf *c = auth_csrf_new(KEY);
    char cookie[AUTH_CSRF_LEN + 1], tok[AUTH_CSRF_LEN + 1], tok2[AUTH_CSRF_LEN + 1];
    uint8_t raw[40];
    size_t n;

    (void)state;
    auth_csrf_new_cookie(cookie);
    assert_int_equal(strlen(cookie), AUTH_CSRF_LEN);
    assert_int_equal(codec_b64url_decode(cookie, AUTH_CSRF_LEN, raw, sizeof(raw), &n), TD_OK);
    assert_int_equal(n, 32);
    auth_csrf_token(c, cookie, tok);
    assert_int_equal(strlen(tok), AUTH_CSRF_LEN);
    assert_true(auth_csrf_check(c, cookie, tok));
    /* Deterministic for the same key and cookie. */
    auth_csrf_token(c, cookie, tok2);
    assert_string_equal(tok, tok2);
    auth_csrf_free(c);
}

static void test_tampered(void **state)
{
    struct auth_csrf *c = auth_csrf_new(KEY);
    char cookie[AUTH_CSRF_LEN + 1], tok[AUTH_CSRF_LEN + 1];

    (void)state;
    auth_csrf_new_cookie(cookie);
    auth_csrf_token(c, cookie, tok);
    for (size_t i = 0; i < AUTH_CSRF_LEN; i++) {
        char t[AUTH_CSRF_LEN + 1];
        memcpy(t, tok, sizeof(t));
        t[i] = t[i] == 'A' ? 'B' : 'A';
        assert_false(auth_csrf_check(c, cookie, t));
    }
    /* Tampered cookie with the original token. */
    cookie[5] = cookie[5] == 'A' ? 'B' : 'A';
    assert_false(auth_csrf_check(c, cookie, tok));
    auth_csrf_free(c);
}

static void test_other_cookie_and_key(void **state)
{
    uint8_t key2[32];
    struct auth_csrf *c = auth_csrf_new(KEY);
    struct auth_csrf *c2;
    char a[AUTH_CSRF_LEN + 1], b[AUTH_CSRF_LEN + 1], ta[AUTH_CSRF_LEN + 1];

    (void)state;
    memcpy(key2, KEY, 32);
    key2[31] ^= 1;
    c2 = auth_csrf_new(key2);
    auth_csrf_new_cookie(a);
    auth_csrf_new_cookie(b);
    assert_string_not_equal(a, b);
    auth_csrf_token(c, a, ta);
    assert_false(auth_csrf_check(c, b, ta));  /* token for another cookie */
    assert_false(auth_csrf_check(c2, a, ta)); /* made with another key */
    assert_false(auth_csrf_check(c, a, a));   /* the cookie itself is not a token */
    auth_csrf_free(c2);
    auth_csrf_free(c);
}

static void test_bad_input(void **state)
{
    struct auth_csrf *c = auth_csrf_new(KEY);
    char cookie[AUTH_CSRF_LEN + 1], tok[AUTH_CSRF_LEN + 1], longer[AUTH_CSRF_LEN + 2];
    char big[4096];

    (void)state;
    auth_csrf_new_cookie(cookie);
    auth_csrf_token(c, cookie, tok);
    assert_false(auth_csrf_check(c, NULL, tok));
    assert_false(auth_csrf_check(c, cookie, NULL));
    assert_false(auth_csrf_check(c, "", tok));
    assert_false(auth_csrf_check(c, cookie, ""));
    assert_false(auth_csrf_check(NULL, cookie, tok));
    assert_false(auth_csrf_check(c, cookie, "short"));
    /* One extra character after a valid token. */
    memcpy(longer, tok, AUTH_CSRF_LEN);
    longer[AUTH_CSRF_LEN] = 'A';
    longer[AUTH_CSRF_LEN + 1] = '\0';
    assert_false(auth_csrf_check(c, cookie, longer));
    /* Truncated token. */
    tok[AUTH_CSRF_LEN - 1] = '\0';
    assert_false(auth_csrf_check(c, cookie, tok));
    /* Huge hostile cookie. */
    memset(big, 'A', sizeof(big) - 1);
    big[sizeof(big) - 1] = '\0';
    assert_false(auth_csrf_check(c, big, big));
    /* NULL cookie gives an empty token. */
    auth_csrf_token(c, NULL, tok);
    assert_string_equal(tok, "");
    auth_csrf_free(c);
    auth_csrf_free(NULL);
}

/* token = base64url(HMAC-SHA256(KEY, "csrf:" || cookie)), checked against a
 * one-shot HMAC computed independently of the module's streaming code. */
static void test_construction(void **state)
{
    struct auth_csrf *c = auth_csrf_new(KEY);
    const char *cookie = "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA";
    char tok[AUTH_CSRF_LEN + 1];
    uint8_t mac[40];
    size_t n;

    (void)state;
    auth_csrf_token(c, cookie, tok);
    assert_int_equal(codec_b64url_decode(tok, strlen(tok), mac, sizeof(mac), &n), TD_OK);
    assert_int_equal(n, 32);
    /* Python: hmac.new(bytes(range(1,33)), b"csrf:"+b"A"*43, sha256).hexdigest() */
    {
        struct buf hex;
        buf_init(&hex, 0);
        assert_int_equal(codec_hex_encode(&hex, mac, n), TD_OK);
        assert_string_equal(hex.data,
                            "f5f0390b9df3342b299ee7282036087bc2658c9a386c56003f3c7a60a9a60ae7");
        buf_free(&hex);
    }
    auth_csrf_free(c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_roundtrip),
        cmocka_unit_test(test_tampered),
        cmocka_unit_test(test_other_cookie_and_key),
        cmocka_unit_test(test_bad_input),
        cmocka_unit_test(test_construction),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
