/* SPDX-License-Identifier: MIT */
/* Unit tests for auth/auth_token: shape of new tokens, that the hash is the
 * SHA-256 of the token string, uniqueness, and a known SHA-256 vector. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "auth/auth_token.h"
#include "core/codec.h"
#include "core/err.h"

static void test_token_shape(void **state)
{
    char tok[AUTH_TOKEN_LEN + 1];
    uint8_t hash[32], again[32], raw[40];
    size_t n;

    (void)state;
    memset(tok, 'x', sizeof(tok));
    assert_int_equal(auth_token_new(tok, hash), TD_OK);
    assert_int_equal(strlen(tok), 43);
    /* It is canonical unpadded base64url of 32 bytes. */
    assert_int_equal(codec_b64url_decode(tok, 43, raw, sizeof(raw), &n), TD_OK);
    assert_int_equal(n, 32);
    auth_token_hash(tok, strlen(tok), again);
    assert_memory_equal(hash, again, 32);
}

static void test_tokens_differ(void **state)
{
    char a[AUTH_TOKEN_LEN + 1], b[AUTH_TOKEN_LEN + 1];
    uint8_t ha[32], hb[32];

    (void)state;
    for (int i = 0; i < 100; i++) {
        assert_int_equal(auth_token_new(a, ha), TD_OK);
        assert_int_equal(auth_token_new(b, hb), TD_OK);
        assert_string_not_equal(a, b);
        assert_memory_not_equal(ha, hb, 32);
    }
}

/* FIPS 180-2 example: SHA-256("abc"). */
static void test_hash_vector(void **state)
{
    static const uint8_t want[32] = {
        0xba, 0x78, 0x16, 0xbf, 0x8f, 0x01, 0xcf, 0xea, 0x41, 0x41, 0x40, 0xde, 0x5d, 0xae, 0x22,
        0x23, 0xb0, 0x03, 0x61, 0xa3, 0x96, 0x17, 0x7a, 0x9c, 0xb4, 0x10, 0xff, 0x61, 0xf2, 0x00,
        0x15, 0xad,
    };
    uint8_t h[32], e1[32], e2[32];

    (void)state;
    auth_token_hash("abc", 3, h);
    assert_memory_equal(h, want, 32);
    /* Only len bytes count. */
    auth_token_hash("abcdef", 3, h);
    assert_memory_equal(h, want, 32);
    /* Empty and NULL-with-zero-length give SHA-256(""). */
    auth_token_hash("", 0, e1);
    auth_token_hash(NULL, 0, e2);
    assert_memory_equal(e1, e2, 32);
    assert_int_equal(e1[0], 0xe3);
    assert_int_equal(e1[1], 0xb0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_token_shape),
        cmocka_unit_test(test_tokens_differ),
        cmocka_unit_test(test_hash_vector),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
