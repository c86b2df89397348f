/* SPDX-License-Identifier: MIT */
/* Unit tests for core/codec: RFC 4648 §10 test vectors for base64, base64url
 * and base16, round trips of every byte value, and strict rejection of
 * malformed input (bad characters, lengths, padding, pad bits). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "core/codec.h"
#include "core/err.h"

struct vec {
    const char *in;
    const char *b64;
    const char *b64url;
    const char *hex;
};

/* RFC 4648 §10. */
static const struct vec VECS[] = {
    {"", "", "", ""},
    {"f", "Zg==", "Zg", "66"},
    {"fo", "Zm8=", "Zm8", "666f"},
    {"foo", "Zm9v", "Zm9v", "666f6f"},
    {"foob", "Zm9vYg==", "Zm9vYg", "666f6f62"},
    {"fooba", "Zm9vYmE=", "Zm9vYmE", "666f6f6261"},
    {"foobar", "Zm9vYmFy", "Zm9vYmFy", "666f6f626172"},
};

static void test_rfc4648_vectors(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof(VECS) / sizeof(VECS[0]); i++) {
        const struct vec *v = &VECS[i];
        struct buf b;
        uint8_t out[16];
        size_t n = 99;

        buf_init(&b, 0);
        assert_int_equal(codec_b64_encode(&b, v->in, strlen(v->in)), TD_OK);
        assert_int_equal(b.len, strlen(v->b64));
        assert_memory_equal(b.len ? b.data : "", v->b64, strlen(v->b64));
        buf_reset(&b);
        assert_int_equal(codec_b64url_encode(&b, v->in, strlen(v->in)), TD_OK);
        assert_int_equal(b.len, strlen(v->b64url));
        assert_memory_equal(b.len ? b.data : "", v->b64url, strlen(v->b64url));
        buf_reset(&b);
        assert_int_equal(codec_hex_encode(&b, v->in, strlen(v->in)), TD_OK);
        assert_int_equal(b.len, strlen(v->hex));
        assert_memory_equal(b.len ? b.data : "", v->hex, strlen(v->hex));
        buf_free(&b);

        assert_int_equal(codec_b64_decode(v->b64, strlen(v->b64), out, sizeof(out), &n), TD_OK);
        assert_int_equal(n, strlen(v->in));
        assert_memory_equal(out, v->in, n);
        n = 99;
        assert_int_equal(codec_b64url_decode(v->b64url, strlen(v->b64url), out, sizeof(out), &n),
                         TD_OK);
        assert_int_equal(n, strlen(v->in));
        assert_memory_equal(out, v->in, n);
        n = 99;
        assert_int_equal(codec_hex_decode(v->hex, strlen(v->hex), out, sizeof(out), &n), TD_OK);
        assert_int_equal(n, strlen(v->in));
        assert_memory_equal(out, v->in, n);
    }
}

static void test_length_macros(void **state)
{
    (void)state;
    assert_int_equal(CODEC_B64_LEN(0), 0);
    assert_int_equal(CODEC_B64_LEN(1), 4);
    assert_int_equal(CODEC_B64_LEN(32), 44);
    assert_int_equal(CODEC_B64URL_LEN(32), 43);
    assert_int_equal(CODEC_B64URL_LEN(1), 2);
    assert_int_equal(CODEC_B64URL_LEN(2), 3);
    assert_int_equal(CODEC_B64URL_LEN(3), 4);
}

/* All 256 byte values, at every length 0..300, survive each codec; the
 * alphabet characters that differ (+/ vs -_) appear. */
static void test_roundtrip_all_bytes(void **state)
{
    uint8_t in[300], out[300];
    struct buf b;
    size_t n;

    (void)state;
    for (size_t i = 0; i < sizeof(in); i++)
        in[i] = (uint8_t)(i * 7 + 3);
    buf_init(&b, 0);
    for (size_t len = 0; len <= sizeof(in); len++) {
        buf_reset(&b);
        assert_int_equal(codec_b64_encode(&b, in, len), TD_OK);
        assert_int_equal(b.len, CODEC_B64_LEN(len));
        assert_int_equal(codec_b64_decode(b.data, b.len, out, sizeof(out), &n), TD_OK);
        assert_int_equal(n, len);
        assert_memory_equal(out, in, len);

        buf_reset(&b);
        assert_int_equal(codec_b64url_encode(&b, in, len), TD_OK);
        assert_int_equal(b.len, CODEC_B64URL_LEN(len));
        if (b.len) {
            assert_null(memchr(b.data, '+', b.len));
            assert_null(memchr(b.data, '/', b.len));
            assert_null(memchr(b.data, '=', b.len));
        }
        assert_int_equal(codec_b64url_decode(b.data, b.len, out, sizeof(out), &n), TD_OK);
        assert_int_equal(n, len);
        assert_memory_equal(out, in, len);

        buf_reset(&b);
        assert_int_equal(codec_hex_encode(&b, in, len), TD_OK);
        assert_int_equal(codec_hex_decode(b.data, b.len, out, sizeof(out), &n), TD_OK);
        assert_int_equal(n, len);
        assert_memory_equal(out, in, len);
    }
    buf_free(&b);
}

static void test_alphabets_differ(void **state)
{
    const uint8_t in[] = {0xfb, 0xff, 0xbf};
    uint8_t out[8];
    size_t n;
    struct buf b;

    (void)state;
    buf_init(&b, 0);
    assert_int_equal(codec_b64_encode(&b, in, 3), TD_OK);
    assert_string_equal(b.data, "+/+/");
    buf_reset(&b);
    assert_int_equal(codec_b64url_encode(&b, in, 3), TD_OK);
    assert_string_equal(b.data, "-_-_");
    buf_free(&b);
    /* Each decoder refuses the other alphabet. */
    assert_int_equal(codec_b64_decode("-_-_", 4, out, sizeof(out), &n), TD_EINVAL);
    assert_int_equal(codec_b64url_decode("+/+/", 4, out, sizeof(out), &n), TD_EINVAL);
}

static void test_b64_malformed(void **state)
{
    static const char *bad[] = {
        "Zg=",       /* length not a multiple of 4 */
        "Zg",        /* padding missing */
        "Z===",      /* too much padding */
        "====",      /* only padding */
        "Zg==Zg==",  /* padding in the middle */
        "Z=g=",      /* padding in the middle */
        "Zh==",      /* non-zero pad bits (canonical form is Zg==) */
        "Zm9=",      /* non-zero pad bits (canonical form is Zm8=) */
        "Zm9v\n",    /* line break */
        "Zm 9",      /* space */
        "Zm9*",      /* bad character */
        "Zm\xc3\xa9", /* non-ASCII */
    };
    uint8_t out[16];
    size_t n = 99;

    (void)state;
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        n = 99;
        assert_int_equal(codec_b64_decode(bad[i], strlen(bad[i]), out, sizeof(out), &n),
                         TD_EINVAL);
        assert_int_equal(n, 0);
    }
    /* Embedded NUL. */
    assert_int_equal(codec_b64_decode("Zm\0v", 4, out, sizeof(out), &n), TD_EINVAL);
    /* NULL input with a length. */
    assert_int_equal(codec_b64_decode(NULL, 4, out, sizeof(out), &n), TD_EINVAL);
}

static void test_b64url_malformed(void **state)
{
    static const char *bad[] = {
        "Zg==",  /* padding is refused */
        "Zm8=",  /* padding is refused */
        "Z",     /* a length of 4k+1 cannot be produced by an encoder */
        "Zm9vY", /* 4k+1 */
        "Zh",    /* non-zero pad bits */
        "Zm9",   /* non-zero pad bits */
        "Zm9v.", /* bad character */
        "Zm/v",  /* standard alphabet */
    };
    uint8_t out[16];
    size_t n;

    (void)state;
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        n = 99;
        assert_int_equal(codec_b64url_decode(bad[i], strlen(bad[i]), out, sizeof(out), &n),
                         TD_EINVAL);
        assert_int_equal(n, 0);
    }
}

static void test_hex_malformed(void **state)
{
    uint8_t out[8];
    size_t n;

    (void)state;
    assert_int_equal(codec_hex_decode("abc", 3, out, sizeof(out), &n), TD_EINVAL);
    assert_int_equal(codec_hex_decode("zz", 2, out, sizeof(out), &n), TD_EINVAL);
    assert_int_equal(codec_hex_decode("0x12", 4, out, sizeof(out), &n), TD_EINVAL);
    assert_int_equal(codec_hex_decode(" 1", 2, out, sizeof(out), &n), TD_EINVAL);
    assert_int_equal(codec_hex_decode("DEADbeef", 8, out, sizeof(out), &n), TD_OK);
    assert_int_equal(n, 4);
    assert_memory_equal(out, "\xde\xad\xbe\xef", 4);
}

static void test_decode_out_cap(void **state)
{
    uint8_t out[8];
    size_t n = 99;

    (void)state;
    /* "foobar" needs 6 bytes. */
    assert_int_equal(codec_b64_decode("Zm9vYmFy", 8, out, 5, &n), TD_ETOOBIG);
    assert_int_equal(n, 0);
    assert_int_equal(codec_b64_decode("Zm9vYmFy", 8, out, 6, &n), TD_OK);
    assert_int_equal(n, 6);
    assert_int_equal(codec_b64url_decode("Zm9vYmE", 7, out, 4, &n), TD_ETOOBIG);
    assert_int_equal(codec_b64url_decode("Zm9vYmE", 7, out, 5, &n), TD_OK);
    assert_int_equal(codec_hex_decode("666f6f", 6, out, 2, &n), TD_ETOOBIG);
    assert_int_equal(codec_b64_decode("", 0, NULL, 0, &n), TD_OK);
    assert_int_equal(n, 0);
}

/* Encoding past the buffer ceiling fails and leaves the buffer as it was. */
static void test_encode_ceiling(void **state)
{
    uint8_t in[600];
    struct buf b;

    (void)state;
    memset(in, 0xa5, sizeof(in));
    buf_init(&b, 10);
    assert_int_equal(buf_appends(&b, "ab"), TD_OK);
    assert_int_equal(codec_b64_encode(&b, in, 7), TD_ETOOBIG); /* 12 more > 10 */
    assert_int_equal(b.len, 2);
    assert_string_equal(b.data, "ab");
    assert_int_equal(codec_b64_encode(&b, in, 6), TD_OK); /* exactly 8 more */
    assert_int_equal(b.len, 10);
    buf_free(&b);

    buf_init(&b, 500);
    assert_int_equal(codec_hex_encode(&b, in, sizeof(in)), TD_ETOOBIG);
    assert_int_equal(b.len, 0);
    assert_int_equal(codec_b64url_encode(&b, in, sizeof(in)), TD_ETOOBIG);
    assert_int_equal(b.len, 0);
    assert_int_equal(codec_b64url_encode(&b, in, 375), TD_OK); /* 500 characters */
    assert_int_equal(b.len, 500);
    buf_free(&b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_rfc4648_vectors),
        cmocka_unit_test(test_length_macros),
        cmocka_unit_test(test_roundtrip_all_bytes),
        cmocka_unit_test(test_alphabets_differ),
        cmocka_unit_test(test_b64_malformed),
        cmocka_unit_test(test_b64url_malformed),
        cmocka_unit_test(test_hex_malformed),
        cmocka_unit_test(test_decode_out_cap),
        cmocka_unit_test(test_encode_ceiling),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
