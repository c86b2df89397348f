/* SPDX-License-Identifier: MIT */
/* Binary-to-text codecs: base64 (RFC 4648 §4, padded), base64url without
 * padding (RFC 4648 §5, padding omitted as §3.2 permits when the length is
 * known, which is how JOSE, PKCE and our tokens use it) and lowercase hex
 * (RFC 4648 §8). Encoders append to a bounded struct buf. Decoders are strict
 * (RFC 4648 §3.3, §3.5): they refuse characters outside the alphabet, line
 * breaks and whitespace, impossible lengths, misplaced padding and non-zero
 * pad bits, so each byte string has exactly one accepted encoding. Decoders
 * write into a caller buffer and never allocate. Data-independent timing is
 * not promised; for secrets compare the decoded bytes with sodium_memcmp. */
#ifndef TD_CODEC_H
#define TD_CODEC_H

#include "core/buf.h"

#include <stddef.h>
#include <stdint.h>

/** Bytes needed to encode n bytes as padded base64 (without the NUL). */
#define CODEC_B64_LEN(n) ((((n) + 2) / 3) * 4)
/** Bytes needed to encode n bytes as unpadded base64url (without the NUL). */
#define CODEC_B64URL_LEN(n) (((n) / 3) * 4 + ((n) % 3 ? (n) % 3 + 1 : 0))
/** Most bytes a base64/base64url text of len characters can decode to. */
#define CODEC_B64_DECODED_MAX(len) (((len) / 4) * 3 + 2)

/** Append base64 (RFC 4648 §4, with '=' padding) of p[0..n). TD_OK or TD_ETOOBIG
 *  (the buffer ceiling; b is then unchanged). */
int codec_b64_encode(struct buf *b, const void *p, size_t n);
/** Append base64url (RFC 4648 §5) of p[0..n) without padding. TD_OK or TD_ETOOBIG. */
int codec_b64url_encode(struct buf *b, const void *p, size_t n);
/** Decode padded base64 s[0..len) into out[0..out_cap); *out_len gets the byte count.
 *  TD_EINVAL on any malformed input, TD_ETOOBIG if out_cap is too small.
 *  On error *out_len is 0 and out may hold partial output. */
int codec_b64_decode(const char *s, size_t len, uint8_t *out, size_t out_cap, size_t *out_len);
/** Decode unpadded base64url s[0..len) ('=' is refused); errors as codec_b64_decode. */
int codec_b64url_decode(const char *s, size_t len, uint8_t *out, size_t out_cap,
                        size_t *out_len);
/** Append lowercase hex of p[0..n). TD_OK or TD_ETOOBIG. */
int codec_hex_encode(struct buf *b, const void *p, size_t n);
/** Decode hex (either case) s[0..len); len must be even. Errors as codec_b64_decode. */
int codec_hex_decode(const char *s, size_t len, uint8_t *out, size_t out_cap, size_t *out_len);

#endif
