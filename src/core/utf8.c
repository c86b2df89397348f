/* SPDX-License-Identifier: MIT */
/* UTF-8 validation and counting; see utf8.h. The validator walks the byte
 * ranges of RFC 3629 §4 (the UTF8-octets ABNF) directly, so it needs no
 * decoding and rejects overlongs and surrogates by the second byte's range. */
#include "core/utf8.h"

#include <stdint.h>

/* Returns true if s[0..len) is valid UTF-8. Reads no byte outside the range. */
bool utf8_valid(const char *s, size_t len)
{
    const uint8_t *p = (const uint8_t *)s;
    size_t i = 0;

    while (i < len) {
        uint8_t c = p[i];
        uint8_t lo = 0x80, hi = 0xbf; /* allowed range of the second byte */
        size_t n;                     /* continuation bytes that follow */

        if (c < 0x80) {
            i++;
            continue;
        }
        if (c >= 0xc2 && c <= 0xdf) {
            n = 1;
        } else if (c >= 0xe0 && c <= 0xef) {
            n = 2;
            if (c == 0xe0)
                lo = 0xa0; /* overlong below U+0800 */
            else if (c == 0xed)
                hi = 0x9f; /* surrogates U+D800..U+DFFF */
        } else if (c >= 0xf0 && c <= 0xf4) {
            n = 3;
            if (c == 0xf0)
                lo = 0x90; /* overlong below U+10000 */
            else if (c == 0xf4)
                hi = 0x8f; /* above U+10FFFF */
        } else {
            return false; /* 0x80..0xc1 (continuation, overlong lead) or 0xf5.. */
        }
        if (len - i - 1 < n)
            return false; /* truncated */
        if (p[i + 1] < lo || p[i + 1] > hi)
            return false;
        for (size_t k = 2; k <= n; k++) {
            if ((p[i + k] & 0xc0) != 0x80)
                return false;
        }
        i += n + 1;
    }
    return true;
}

/* Counts code points by counting bytes that are not continuation bytes. */
size_t utf8_count(const char *s, size_t len)
{
    const uint8_t *p = (const uint8_t *)s;
    size_t n = 0;

    for (size_t i = 0; i < len; i++) {
        if ((p[i] & 0xc0) != 0x80)
            n++;
    }
    return n;
}

/* Multi-byte sequences never contain bytes below 0x80, so a byte scan is
 * exact for C0 controls and DEL. */
bool utf8_has_controls(const char *s, size_t len)
{
    const uint8_t *p = (const uint8_t *)s;

    for (size_t i = 0; i < len; i++) {
        uint8_t c = p[i];

        if (c == 0x7f)
            return true;
        if (c < 0x20 && c != '\t' && c != '\n' && c != '\r')
            return true;
    }
    return false;
}
