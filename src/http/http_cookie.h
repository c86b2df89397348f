/* SPDX-License-Identifier: MIT */
/* Cookies (RFC 6265): parsing the Cookie request header (§5.4, read the
 * lenient way browsers and servers do) and writing Set-Cookie values (§4.1,
 * strict). Pure functions: parse results live in the caller's arena, output
 * goes to the caller's buffer. Cookie values are never decoded; callers that
 * store structured data in a cookie encode it themselves (base64url). */
#ifndef TD_HTTP_COOKIE_H
#define TD_HTTP_COOKIE_H

#include "core/arena.h"
#include "core/buf.h"
#include "http/http_form.h"

#include <stdbool.h>
#include <stddef.h>

/** Parse a Cookie header ("a=1; b=2") into out, in order (the first of a
 *  duplicated name is the most specific, RFC 6265 §5.4 step 2). Values are
 *  not decoded; one pair of surrounding DQUOTEs is removed. Malformed pairs
 *  (no '=', empty or non-token name, control bytes) are skipped. More than
 *  max_cookies well-formed pairs gives TD_ETOOBIG (checked before
 *  allocating). Empty header gives an empty list. */
int http_cookie_parse(struct arena *a, const char *header, size_t len, size_t max_cookies,
                      struct http_kvlist *out);

struct http_cookie_opts {
    long max_age;          /* seconds; <0 = session cookie; 0 = delete now */
    const char *path;      /* NULL = "/" */
    bool http_only;
    bool secure;
    const char *same_site; /* "Lax", "Strict", "None" (any case) or NULL */
};

/** Append a Set-Cookie header value (no "Set-Cookie: " prefix, no CRLF),
 *  e.g. "sid=abc; Path=/; Max-Age=3600; HttpOnly; Secure; SameSite=Lax".
 *  o may be NULL (session cookie, Path=/). TD_EINVAL (nothing appended) if
 *  name is not a token, value is not cookie-octets, the path holds ';' or a
 *  control, same_site is unknown, SameSite=None lacks Secure, or a
 *  __Secure-/__Host- prefixed name lacks what its prefix demands. max_age 0
 *  also writes an Expires in the past. TD_ETOOBIG (nothing appended) if the
 *  buffer's ceiling is reached. */
int http_cookie_format(struct buf *out, const char *name, const char *value,
                       const struct http_cookie_opts *o);

#endif
