/* SPDX-License-Identifier: MIT */
/* JSON request bodies for the APIs: checks the media type, the nesting depth
 * and the UTF-8 before jansson parses, and reports errors in words a client
 * developer can act on. RFC 8259; duplicate object keys are refused (they
 * are a classic source of parser disagreement). */
#ifndef TD_HTTP_JSON_H
#define TD_HTTP_JSON_H

#include "http/http.h"

#include <jansson.h>

#define HTTP_JSON_MAX_DEPTH 32

/** Parse len bytes as one JSON value nested at most max_depth deep.
 * Returns TD_OK and *out (caller decrefs), TD_ETOOBIG for too deep, or
 * TD_EINVAL; on error *why (static or arena text) says what is wrong. */
int http_json_parse(struct arena *a, const char *body, size_t len, size_t max_depth,
                    json_t **out, const char **why);
/** The request's body as JSON: also requires Content-Type application/json
 * (TD_EPROTO otherwise, which callers answer with 415). */
int http_req_json(struct http_req *r, json_t **out, const char **why);

#endif
