/* SPDX-License-Identifier: MIT */
/* multipart/form-data bodies (RFC 7578, with the framing of RFC 2046
 * §5.1.1). The parser works on a whole body that the server has already
 * capped in size; it does no I/O and copies no part data. Strings (names,
 * filenames, content types) live in the caller's arena. */
#ifndef TD_HTTP_MULTIPART_H
#define TD_HTTP_MULTIPART_H

#include "core/arena.h"

#include <stddef.h>

struct http_part {
    const char *name;         /* form field name (UTF-8, NUL-terminated) */
    const char *filename;     /* last path component only; NULL if not a file;
                                 "" when a file input was left empty */
    const char *content_type; /* "text/plain" if absent (RFC 7578 §4.4) */
    const char *data;         /* points into the body; not NUL-terminated */
    size_t len;               /* bytes of data */
};

struct http_multipart_limits {
    size_t max_parts;             /* more parts gives TD_ETOOBIG */
    size_t max_part_header_bytes; /* per part, header block without its final CRLFCRLF */
};

/* Used when lim is NULL. */
#define HTTP_MULTIPART_MAX_PARTS 128
#define HTTP_MULTIPART_MAX_PART_HEADER_BYTES 8192

/** Parse body[0..len) given the request's Content-Type header value.
 *  On TD_OK *parts (arena array, NULL if none) and *nparts are set; on error
 *  they are NULL and 0. TD_EINVAL: content type not multipart/form-data, a
 *  missing or invalid boundary (RFC 2046 §5.1.1 bchars, 1..70), no
 *  delimiter in the body, a missing or truncated close delimiter, a part
 *  without `Content-Disposition: form-data; name=...`, part headers without
 *  CRLFCRLF or malformed, a name or filename that is not UTF-8.
 *  TD_ETOOBIG: a limit in lim is exceeded. Preamble and epilogue are ignored. */
int http_multipart_parse(struct arena *a, const char *content_type, const char *body,
                         size_t len, const struct http_multipart_limits *lim,
                         struct http_part **parts, size_t *nparts);

#endif
