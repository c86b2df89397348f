/* SPDX-License-Identifier: MIT */
/* libFuzzer driver for core/utf8.h (RFC 3629) and core/codec.h (RFC 4648
 * base64 §4, base64url §5, hex §8). The UTF-8 checks are compared with a
 * plain reference decoder written from the RFC 3629 §4 byte-sequence table.
 * The codecs are checked both ways: decode(encode(x)) == x with the encoded
 * length given by the CODEC_* macros, and whenever the input itself decodes,
 * encoding the result gives the input back (strict decoders accept exactly
 * one spelling; hex in either case), an output buffer one byte short gives
 * TD_ETOOBIG, and the decoded length stays within CODEC_B64_DECODED_MAX.
 * A violation calls __builtin_trap(). */
#include "core/buf.h"
#include "core/codec.h"
#include "core/err.h"
#include "core/utf8.h"

#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define CHECK(cond)               \
    do {                          \
        if (!(cond))              \
            __builtin_trap();     \
    } while (0)

/* RFC 3629 §4 UTF8-octets, spelled out range by range. */
static bool ref_utf8_valid(const uint8_t *s, size_t len)
{
    size_t i = 0;

    while (i < len) {
        uint8_t c = s[i];
        uint8_t lo = 0x80, hi = 0xbf;
        size_t n;

        if (c <= 0x7f) {
            i++;
            continue;
        }
        if (c >= 0xc2 && c <= 0xdf) {
            n = 1;
        } else if (c == 0xe0) {
            n = 2, lo = 0xa0;
        } else if ((c >= 0xe1 && c <= 0xec) || c == 0xee || c == 0xef) {
            n = 2;
        } else if (c == 0xed) {
            n = 2, hi = 0x9f;
        } else if (c == 0xf0) {
            n = 3, lo = 0x90;
        } else if (c >= 0xf1 && c <= 0xf3) {
            n = 3;
        } else if (c == 0xf4) {
            n = 3, hi = 0x8f;
        } else {
            return false;
        }
        if (len - i <= n)
            return false;
        if (s[i + 1] < lo || s[i + 1] > hi)
            return false;
        for (size_t k = 2; k <= n; k++) {
            if (s[i + k] < 0x80 || s[i + k] > 0xbf)
                return false;
        }
        i += n + 1;
    }
    return true;
}

static void fuzz_utf8(const uint8_t *data, size_t size)
{
    const char *s = (const char *)data;
    bool valid = utf8_valid(s, size);
    bool controls = false;

    CHECK(valid == ref_utf8_valid(data, size));
    if (valid) {
        size_t n = 0;

        for (size_t i = 0; i < size; i++)
            n += (data[i] & 0xc0) != 0x80;
        CHECK(utf8_count(s, size) == n);
    }
    for (size_t i = 0; i < size; i++) {
        uint8_t c = data[i];

        if ((c < 0x20 && c != '\t' && c != '\n' && c != '\r') || c == 0x7f)
            controls = true;
    }
    CHECK(utf8_has_controls(s, size) == controls);
}

typedef int encode_fn(struct buf *b, const void *p, size_t n);
typedef int decode_fn(const char *s, size_t len, uint8_t *out, size_t out_cap, size_t *out_len);

struct codec {
    encode_fn *enc;
    decode_fn *dec;
    int kind; /* 0 base64, 1 base64url, 2 hex */
};

static size_t encoded_len(int kind, size_t n)
{
    if (kind == 0)
        return CODEC_B64_LEN(n);
    if (kind == 1)
        return CODEC_B64URL_LEN(n);
    return 2 * n;
}

/* decode(encode(x)) == x. */
static void check_encode(const struct codec *c, const uint8_t *data, size_t size, uint8_t *tmp)
{
    struct buf b;
    size_t n = 99;

    buf_init(&b, 0);
    CHECK(c->enc(&b, data, size) == TD_OK);
    CHECK(b.len == encoded_len(c->kind, size));
    CHECK(c->dec(b.data ? b.data : "", b.len, tmp, size, &n) == TD_OK);
    CHECK(n == size && (size == 0 || memcmp(tmp, data, size) == 0));
    buf_free(&b);

    /* A ceiling one byte short must refuse and leave the buffer unchanged. */
    if (size > 0) {
        buf_init(&b, encoded_len(c->kind, size) - 1);
        CHECK(c->enc(&b, data, size) == TD_ETOOBIG);
        CHECK(b.len == 0);
        buf_free(&b);
    }
}

/* If the input decodes, it is the one canonical encoding of its result. */
static void check_decode(const struct codec *c, const uint8_t *data, size_t size, uint8_t *tmp)
{
    const char *s = (const char *)data;
    size_t cap = CODEC_B64_DECODED_MAX(size);
    size_t n = 99, n2 = 99;
    struct buf b;
    int rc;

    rc = c->dec(s, size, tmp, cap, &n);
    CHECK(rc == TD_OK || rc == TD_EINVAL);
    if (rc != TD_OK) {
        CHECK(n == 0);
        return;
    }
    CHECK(n <= cap);
    buf_init(&b, 0);
    CHECK(c->enc(&b, tmp, n) == TD_OK);
    CHECK(b.len == size);
    if (c->kind == 2)
        CHECK(size == 0 || strncasecmp(b.data, s, size) == 0);
    else
        CHECK(size == 0 || memcmp(b.data, s, size) == 0);
    buf_free(&b);
    if (n > 0) {
        rc = c->dec(s, size, tmp, n - 1, &n2);
        CHECK(rc == TD_ETOOBIG && n2 == 0);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const struct codec codecs[] = {
        {codec_b64_encode, codec_b64_decode, 0},
        {codec_b64url_encode, codec_b64url_decode, 1},
        {codec_hex_encode, codec_hex_decode, 2},
    };
    uint8_t *tmp = malloc(CODEC_B64_DECODED_MAX(size) + size + 1);

    if (tmp == NULL)
        abort();
    fuzz_utf8(data, size);
    for (size_t i = 0; i < sizeof(codecs) / sizeof(codecs[0]); i++) {
        check_encode(&codecs[i], data, size, tmp);
        check_decode(&codecs[i], data, size, tmp);
    }
    free(tmp);
    return 0;
}
