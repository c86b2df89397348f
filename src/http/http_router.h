/* SPDX-License-Identifier: MIT */
/* Request routing by method and path pattern. Patterns are made of literal
 * segments, ":name" segments (match one non-empty segment), "@:name"
 * segments (a literal prefix, then a non-empty parameter: Mastodon-style
 * profile addresses like "/@alice") and a final
 * "*name" (match the rest, possibly empty). Routes are tried in the order
 * they were added; the first whose pattern and method match wins. A path
 * that matches some pattern under another method gets 405 with an Allow
 * header (RFC 9110 §15.5.6); HEAD is accepted wherever GET is. */
#ifndef TD_HTTP_ROUTER_H
#define TD_HTTP_ROUTER_H

#include "http/http.h"

struct http_router;
typedef void http_handler_fn(struct http_req *r);

struct http_router *http_router_new(void);
void http_router_free(struct http_router *rt);
/** Add a route. method is "GET", "POST", ... or "*" for any. Returns TD_EINVAL for a bad pattern. */
int http_router_add(struct http_router *rt, const char *method, const char *pattern,
                    http_handler_fn *fn);

enum http_route_result { HTTP_ROUTE_FOUND, HTTP_ROUTE_NOT_FOUND, HTTP_ROUTE_BAD_METHOD };
/** Match r->method and r->path; on FOUND sets *fn and r->route/params; on
 * BAD_METHOD writes the allowed methods ("GET, HEAD, POST") to allow. */
enum http_route_result http_router_match(const struct http_router *rt, struct http_req *r,
                                         http_handler_fn **fn, struct buf *allow);

#endif
