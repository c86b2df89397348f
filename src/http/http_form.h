/* SPDX-License-Identifier: MIT */
/* Parsers for small pieces of HTTP text: urlencoded forms and query strings
 * (WHATWG URL Standard §5.1 "application/x-www-form-urlencoded parsing"),
 * percent-decoding and -encoding (RFC 3986 §2.1), header parameters
 * (RFC 9110 §5.6.6 with quoted-string, §5.6.4) and media-type comparison
 * (RFC 9110 §8.3.1). Everything is a pure function: results are allocated
 * from the caller's arena and nothing needs freeing.
 *
 * Deliberate deviations from WHATWG: a malformed %-escape is an error rather
 * than literal text, decoded bytes must be valid UTF-8, and a decoded NUL
 * byte is refused, so every name and value is a safe C string. */
#ifndef TD_HTTP_FORM_H
#define TD_HTTP_FORM_H

#include "core/arena.h"
#include "core/buf.h"

#include <stdbool.h>
#include <stddef.h>

struct http_kv {
    const char *name;  /* NUL-terminated, decoded */
    const char *value; /* NUL-terminated, decoded */
    size_t value_len;  /* strlen(value) */
};

struct http_kvlist {
    struct http_kv *items; /* in input order; NULL when len is 0 */
    size_t len;
};

/** Parse an urlencoded body or query string into out (arena-allocated).
 *  Splits on '&' (empty pieces skipped), first '=' splits name and value,
 *  '+' is a space, %XX is decoded. TD_EINVAL for a malformed escape, a
 *  decoded NUL or invalid UTF-8; TD_ETOOBIG for more than max_pairs pairs
 *  (checked before allocating). Empty input gives an empty list. */
int http_form_parse(struct arena *a, const char *s, size_t len, size_t max_pairs,
                    struct http_kvlist *out);
/** First value for name (exact, case-sensitive), or NULL. l may be NULL. */
const char *http_kv_get(const struct http_kvlist *l, const char *name);
/** Percent-decode s[0..len) ('+' stays '+') into a NUL-terminated arena
 *  string. TD_EINVAL on a malformed escape or a decoded NUL. out_len may be
 *  NULL. For URL paths. */
int http_url_decode(struct arena *a, const char *s, size_t len, char **out, size_t *out_len);
/** Append s[0..len) percent-encoded for a URL query component: only
 *  ALPHA DIGIT - . _ ~ pass; everything else (space too) becomes %XX.
 *  Returns TD_OK or the buffer's TD_ETOOBIG. */
int http_url_encode(struct buf *out, const char *s, size_t len);
/** Value of parameter param (case-insensitive) in a header value such as
 *  `multipart/form-data; boundary="x y"`, with quoted-string unescaped, as an
 *  arena string; NULL if absent or if the parameter list is malformed before
 *  it is found. The first occurrence wins. */
const char *http_header_param(struct arena *a, const char *value, const char *param);
/** True if value's media type (parameters and surrounding whitespace
 *  ignored) equals type, case-insensitively. NULL value gives false. */
bool http_media_type_is(const char *value, const char *type);

/* private: module-internal helper shared with http_multipart.c. With
 * lenient set, a backslash inside a quoted string is literal unless it
 * precedes '"' or '\', matching browsers that send Windows paths unescaped
 * in Content-Disposition filenames (HTML "multipart/form-data encoding"). */
const char *http__header_param(struct arena *a, const char *value, const char *param,
                               bool lenient);

#endif
