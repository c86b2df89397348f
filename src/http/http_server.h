/* SPDX-License-Identifier: MIT */
/* The HTTP/1.1 server: connection sessions on top of net/conn, request
 * parsing with libhttp-parser, limits and timeouts, keep-alive and
 * pipelining, responses, and the WebSocket upgrade. Routing and pages
 * belong to the application, which gets every complete request through
 * its handler. */
#ifndef TD_HTTP_SERVER_H
#define TD_HTTP_SERVER_H

#include "http/http.h"
#include "net/conn.h"

#include <uv.h>

struct http_limits {
    size_t max_header_bytes; /* request line + headers; over → 431 (URL alone → 414) */
    size_t max_headers;      /* header fields; over → 431 */
    size_t max_url_bytes;    /* over → 414 */
    size_t max_body_bytes;   /* over → 413 */
    uint64_t header_timeout_ms; /* to receive a complete head; over → 408 */
    uint64_t body_timeout_ms;   /* to receive the body; over → 408 */
    uint64_t idle_timeout_ms;   /* keep-alive idle; over → silent close */
};

/** Called for every complete request; must answer it (now or later). */
typedef void http_request_fn(struct http_req *r);
/** Called after each answered request (for metrics and the access log). */
typedef void http_done_fn(const struct http_req *r, int status, size_t body_len,
                          double seconds);

struct http_server_opts {
    struct http_limits limits;
    http_request_fn *handler;
    http_done_fn *done;      /* may be NULL */
    void *app;               /* given to handlers as r->app */
    /* May be NULL. Called once a request's head is complete (method, path
     * and headers known): a non-zero result replaces limits.max_body_bytes
     * for that request's body alone (a route that takes larger bodies, such
     * as the XEP-0363 file upload PUT). */
    size_t (*body_limit)(const struct http_req *r);
};

int http_server_new(uv_loop_t *loop, const struct http_server_opts *o,
                    struct http_server **out);
/** Listener settings for this server: pass to listener_start (ops, session size, data). */
void http_server_listener_opts(struct http_server *s, struct listener_opts *lo);
/** Replace the limits (config reload); applies to requests started afterwards. */
void http_server_set_limits(struct http_server *s, const struct http_limits *l);
/** Graceful shutdown: close idle keep-alive connections now, and every other
 * connection as soon as its current request is answered. */
void http_server_shutdown(struct http_server *s, struct listener *l);
/** Requests being handled right now. */
size_t http_server_inflight(const struct http_server *s);
void http_server_free(struct http_server *s);

#endif
