/* SPDX-License-Identifier: MIT */
/* Static files from one directory: safe path resolution (no escape from the
 * root by "..", symlinks or encoded bytes), Content-Type by extension,
 * validators (ETag, Last-Modified) with conditional requests answered 304
 * (RFC 9110 §13), and gzip for compressible types when the client accepts
 * it. Files up to STATIC_CACHE_MAX_FILE are kept in memory (with their gzip
 * form) and revalidated with one stat() per request. */
#ifndef TD_HTTP_STATIC_H
#define TD_HTTP_STATIC_H

#include "http/http.h"

#define STATIC_CACHE_MAX_FILE (4u << 20) /* converse.min.js is 1.3 MiB */
#define STATIC_CACHE_MAX_TOTAL (64u << 20)

struct http_static;

/** Serve files under root (must exist). NULL and *err on failure. */
struct http_static *http_static_new(const char *root, char **err);
void http_static_free(struct http_static *st);
/** Answer r with the file at relpath (already percent-decoded, no leading '/').
 * Answers 404 for anything missing or outside the root, 400 for bad paths. */
void http_static_serve(struct http_static *st, struct http_req *r, const char *relpath);
/** Content-Type for a file name, by extension. */
const char *http_static_mime(const char *name);

#endif
