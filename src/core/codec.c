/* SPDX-License-Identifier: MIT */
/* Base64, base64url and hex; see codec.h. The encoders build the output in
 * a stack block of at most 256 characters at a time and append it, so the
 * buffer's ceiling is checked before anything large is written; a failed
 * encode rolls the buffer back to its old length. The decoders check the
 * whole input's length and alphabet first and only then write. */
#include "core/codec.h"

#include "core/err.h"

#include <stdbool.h>

static const char B64_STD[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
static const char B64_URL[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
static const char HEX[] = "0123456789abcdef";

#define CHUNK 256 /* output characters built on the stack per append (multiple of 4) */

/* Append the base64 of p[0..n) using alphabet abc; pad adds '=' (RFC 4648 §4)
 * or leaves it out (§5 use without padding). On error b is unchanged. */
static int b64_encode(struct buf *b, const uint8_t *p, size_t n, const char *abc, bool pad)
{
    char out[CHUNK];
    size_t o = 0;
    size_t start = b->len;
    size_t total = pad ? CODEC_B64_LEN(n) : CODEC_B64URL_LEN(n);
    int rc = TD_OK;

    if (n > (((size_t)-1) / 4) * 3 - 2) /* the length computation would wrap */
        return TD_ETOOBIG;
    if (b->max && (b->len > b->max || total > b->max - b->len))
        return TD_ETOOBIG;
    while (n >= 3) {
        uint32_t v = (uint32_t)p[0] << 16 | (uint32_t)p[1] << 8 | p[2];
        out[o++] = abc[v >> 18 & 63];
        out[o++] = abc[v >> 12 & 63];
        out[o++] = abc[v >> 6 & 63];
        out[o++] = abc[v & 63];
        p += 3;
        n -= 3;
        if (o == CHUNK) {
            rc = buf_append(b, out, o);
            if (rc != TD_OK)
                goto out;
            o = 0;
        }
    }
    if (n > 0) {
        uint32_t v = (uint32_t)p[0] << 16 | (n == 2 ? (uint32_t)p[1] << 8 : 0);
        out[o++] = abc[v >> 18 & 63];
        out[o++] = abc[v >> 12 & 63];
        if (n == 2)
            out[o++] = abc[v >> 6 & 63];
        else if (pad)
            out[o++] = '=';
        if (pad)
            out[o++] = '=';
    }
    rc = buf_append(b, out, o);
out:
    if (rc != TD_OK && b->data) {
        b->len = start;
        b->data[start] = '\0';
    }
    return rc;
}

int codec_b64_encode(struct buf *b, const void *p, size_t n)
{
    return b64_encode(b, p, n, B64_STD, true);
}

int codec_b64url_encode(struct buf *b, const void *p, size_t n)
{
    return b64_encode(b, p, n, B64_URL, false);
}

/* Value 0..63 of c in the standard (url=false) or URL-safe alphabet, else -1. */
static int b64_value(unsigned char c, bool url)
{
    if (c >= 'A' && c <= 'Z')
        return c - 'A';
    if (c >= 'a' && c <= 'z')
        return c - 'a' + 26;
    if (c >= '0' && c <= '9')
        return c - '0' + 52;
    if (c == (url ? '-' : '+'))
        return 62;
    if (c == (url ? '_' : '/'))
        return 63;
    return -1;
}

/* Decode len characters of s (no padding in them) whose count mod 4 is not 1.
 * The trailing 2 or 3 characters of a partial group must leave zero bits
 * over (RFC 4648 §3.5: canonical encoding), otherwise TD_EINVAL. */
static int b64_decode_body(const char *s, size_t len, bool url, uint8_t *out, size_t out_cap,
                           size_t *out_len)
{
    size_t need = (len / 4) * 3 + (len % 4 ? len % 4 - 1 : 0);
    size_t i, o = 0;

    if (len % 4 == 1)
        return TD_EINVAL;
    for (i = 0; i < len; i++) {
        if (b64_value((unsigned char)s[i], url) < 0)
            return TD_EINVAL;
    }
    if (need > out_cap)
        return TD_ETOOBIG;
    for (i = 0; i + 4 <= len; i += 4) {
        uint32_t v = (uint32_t)b64_value((unsigned char)s[i], url) << 18 |
                     (uint32_t)b64_value((unsigned char)s[i + 1], url) << 12 |
                     (uint32_t)b64_value((unsigned char)s[i + 2], url) << 6 |
                     (uint32_t)b64_value((unsigned char)s[i + 3], url);
        out[o++] = (uint8_t)(v >> 16);
        out[o++] = (uint8_t)(v >> 8);
        out[o++] = (uint8_t)v;
    }
    if (len - i == 2) {
        uint32_t v = (uint32_t)b64_value((unsigned char)s[i], url) << 18 |
                     (uint32_t)b64_value((unsigned char)s[i + 1], url) << 12;
        if (v & 0xffff)
            return TD_EINVAL; /* non-zero pad bits */
        out[o++] = (uint8_t)(v >> 16);
    } else if (len - i == 3) {
        uint32_t v = (uint32_t)b64_value((unsigned char)s[i], url) << 18 |
                     (uint32_t)b64_value((unsigned char)s[i + 1], url) << 12 |
                     (uint32_t)b64_value((unsigned char)s[i + 2], url) << 6;
        if (v & 0xff)
            return TD_EINVAL; /* non-zero pad bits */
        out[o++] = (uint8_t)(v >> 16);
        out[o++] = (uint8_t)(v >> 8);
    }
    *out_len = o;
    return TD_OK;
}

int codec_b64_decode(const char *s, size_t len, uint8_t *out, size_t out_cap, size_t *out_len)
{
    size_t body = len;
    int rc;

    *out_len = 0;
    if (len == 0)
        return TD_OK;
    if (s == NULL || len % 4 != 0) /* RFC 4648 §4: padded to a multiple of 4 */
        return TD_EINVAL;
    if (s[body - 1] == '=')
        body--;
    if (s[body - 1] == '=')
        body--;
    rc = b64_decode_body(s, body, false, out, out_cap, out_len);
    if (rc != TD_OK)
        *out_len = 0;
    return rc;
}

int codec_b64url_decode(const char *s, size_t len, uint8_t *out, size_t out_cap,
                        size_t *out_len)
{
    int rc;

    *out_len = 0;
    if (len == 0)
        return TD_OK;
    if (s == NULL)
        return TD_EINVAL;
    rc = b64_decode_body(s, len, true, out, out_cap, out_len); /* '=' is not in the alphabet */
    if (rc != TD_OK)
        *out_len = 0;
    return rc;
}

int codec_hex_encode(struct buf *b, const void *p, size_t n)
{
    const uint8_t *in = p;
    char out[CHUNK];
    size_t o = 0;
    size_t start = b->len;
    int rc = TD_OK;

    if (n > ((size_t)-1) / 2)
        return TD_ETOOBIG;
    if (b->max && (b->len > b->max || 2 * n > b->max - b->len))
        return TD_ETOOBIG;
    for (size_t i = 0; i < n; i++) {
        out[o++] = HEX[in[i] >> 4];
        out[o++] = HEX[in[i] & 15];
        if (o == CHUNK) {
            rc = buf_append(b, out, o);
            if (rc != TD_OK)
                goto out;
            o = 0;
        }
    }
    rc = buf_append(b, out, o);
out:
    if (rc != TD_OK && b->data) {
        b->len = start;
        b->data[start] = '\0';
    }
    return rc;
}

/* Value of one hex digit, or -1. */
static int hex_value(unsigned char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

int codec_hex_decode(const char *s, size_t len, uint8_t *out, size_t out_cap, size_t *out_len)
{
    size_t i;

    *out_len = 0;
    if (len == 0)
        return TD_OK;
    if (s == NULL || len % 2 != 0)
        return TD_EINVAL;
    for (i = 0; i < len; i++) {
        if (hex_value((unsigned char)s[i]) < 0)
            return TD_EINVAL;
    }
    if (len / 2 > out_cap)
        return TD_ETOOBIG;
    for (i = 0; i < len; i += 2) {
        int hi = hex_value((unsigned char)s[i]);
        int lo = hex_value((unsigned char)s[i + 1]);
        out[i / 2] = (uint8_t)(hi << 4 | lo);
    }
    *out_len = len / 2;
    return TD_OK;
}
