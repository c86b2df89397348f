/* SPDX-License-Identifier: MIT */
/* UTF-8 checks for text that arrives from peers (forms, names, messages).
 * utf8_valid() follows RFC 3629 §4 strictly: overlong forms, UTF-16
 * surrogates (U+D800..U+DFFF) and code points above U+10FFFF are invalid, as
 * are stray continuation bytes and truncated sequences. The functions do no
 * allocation and accept embedded NUL bytes as ordinary (valid) U+0000. */
#ifndef TD_UTF8_H
#define TD_UTF8_H

#include <stdbool.h>
#include <stddef.h>

/** True if s[0..len) is well-formed UTF-8 (RFC 3629, no overlongs/surrogates). */
bool utf8_valid(const char *s, size_t len);
/** Number of code points in s[0..len); s must already be valid UTF-8. */
size_t utf8_count(const char *s, size_t len);
/** True if s[0..len) holds a C0 control other than \t \n \r, or DEL (0x7f). */
bool utf8_has_controls(const char *s, size_t len);

#endif
