/* SPDX-License-Identifier: MIT */
/* The HTTP/1.1 server's request and response API, as handlers see it.
 *
 * A handler gets a struct http_req that owns an arena for everything about
 * the exchange. It answers with one http_resp_*() call that completes the
 * request, either at once or later from a callback (after work on the
 * thread pool, for instance). If the client goes away first, the request is
 * orphaned: it stays valid, and the final http_resp_*() call frees it
 * without writing anything. Each request gets exactly one answer.
 *
 * RFC 9112 (HTTP/1.1 message syntax) and RFC 9110 (semantics) apply. */
#ifndef TD_HTTP_H
#define TD_HTTP_H

#include "core/arena.h"
#include "core/buf.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct http_server;
struct http_session;
struct ws;

struct http_header {
    const char *name;  /* as received */
    const char *value; /* leading/trailing whitespace removed */
};

#define HTTP_MAX_PARAMS 8

struct http_req {
    struct arena *arena;           /* everything below lives here; reset per request */
    struct http_server *server;
    void *app;                     /* the server's application pointer */
    uint64_t id;                   /* request id, also logged and sent as X-Request-Id */
    char id_str[20];
    const char *method;            /* "GET", "POST", ... */
    const char *target;            /* raw request-target, e.g. "/a%20b?x=1" */
    const char *path;              /* percent-decoded path, e.g. "/a b" */
    const char *query;             /* raw query without '?', "" if none */
    struct http_header *headers;
    size_t nheaders;
    const char *body;              /* NUL-terminated; "" if none */
    size_t body_len;
    const char *peer;              /* client address */
    bool is_tls;
    bool is_head;                  /* HEAD: the response body is not sent */
    int http_minor;                /* 0 or 1 */
    /* Filled by the router. */
    const char *route;             /* the matched pattern, for metrics ("/u/:name") */
    const char *param_names[HTTP_MAX_PARAMS];
    const char *param_values[HTTP_MAX_PARAMS];
    size_t nparams;
    void *user;                    /* free for the application (e.g. the logged-in account) */
    /* private */
    struct http_session *_sess;    /* NULL once orphaned */
    struct buf _resp_headers;      /* extra response header lines */
    uint64_t _start_ns;
    bool _keep_alive;
    bool _answered;
    bool _ws_upgrade;
};

/** Header value by case-insensitive name, or NULL. */
const char *http_req_header(const struct http_req *r, const char *name);
/** Router parameter by name, or NULL. */
const char *http_req_param(const struct http_req *r, const char *name);
/** True if the client has gone away (answering just frees the request). */
bool http_req_is_orphan(const struct http_req *r);

/** Add a response header (name and value are copied). CR/LF in either is refused. */
int http_resp_header(struct http_req *r, const char *name, const char *value);
/** Answer with status and body (copied). ctype may be NULL for no Content-Type. */
void http_resp_send(struct http_req *r, int status, const char *ctype, const void *body,
                    size_t len);
/** Answer with a short text/plain body, e.g. http_resp_text(r, 404, "not found\n"). */
void http_resp_text(struct http_req *r, int status, const char *text);
/** Answer with a body in b (its memory is taken). */
void http_resp_send_buf(struct http_req *r, int status, const char *ctype, struct buf *b);
/** 303 See Other (or the given 3xx) to location. */
void http_resp_redirect(struct http_req *r, int status, const char *location);
/** Standard reason phrase for a status code. */
const char *http_status_text(int status);

/* WebSocket upgrade (RFC 6455 §4.2). On success the connection leaves HTTP
 * and belongs to the returned ws; cb->on_message etc. are called with ud.
 * The request is answered (101) by this call. On failure the request is
 * answered with 400/426 and NULL is returned. The ws is freed by the
 * server after on_close has been called. */
struct ws_callbacks;
struct ws *http_ws_upgrade(struct http_req *r, const struct ws_callbacks *cb, void *ud,
                           size_t max_message);
/** The connection r came on (NULL once orphaned). Once http_ws_upgrade has
 *  succeeded, the ws's owner may pause and resume its reading and close or
 *  abort it (a peer that never answers a close frame) until the ws's
 *  on_close has run; the conn's timer stays the server's. */
struct conn;
struct conn *http_req_conn(const struct http_req *r);

/* Streaming responses (server-sent events, long responses written over
 * time). http_resp_stream_begin() answers r with the status line and
 * headers but no length: over HTTP/1.1 the body is chunked (RFC 9112 §7.1),
 * over HTTP/1.0 it ends when the connection closes. The request is complete
 * (counted, logged and freed) once the head is queued; the connection then
 * belongs to the stream and is never reused for another request. Bytes the
 * client sends afterwards are read and ignored (so its EOF is seen).
 *
 * Output is capped per stream: a write that would leave more than
 * max_queued bytes waiting for a slow reader drops the connection instead
 * of buffering without bound. gone(ud) is called exactly once when the
 * connection goes away for any reason other than http_stream_end(): the
 * peer left, the cap was hit (then from inside http_stream_write, which
 * returns TD_ELIMIT), or the server is shutting down. The handle must not
 * be used once gone has been called or http_stream_end() has returned. */
struct http_stream;
typedef void http_stream_gone_fn(void *ud);
#define HTTP_STREAM_MAX_QUEUED (1024 * 1024) /* default output cap of a stream */

/** Begin a streaming answer to r; max_queued 0 = HTTP_STREAM_MAX_QUEUED.
 *  Returns NULL (and r has been answered or freed, gone is never called)
 *  if the client has already gone, r is a HEAD request (answered with the
 *  head alone) or the server is shutting down (503). */
struct http_stream *http_resp_stream_begin(struct http_req *r, int status, const char *ctype,
                                           size_t max_queued, http_stream_gone_fn *gone,
                                           void *ud);
/** Send len bytes (one chunk; copied). TD_OK, TD_ELIMIT when the reader is
 *  too slow (the connection is dropped and gone has been called), TD_ECLOSED
 *  when the connection is already closing. len 0 sends nothing. */
int http_stream_write(struct http_stream *h, const void *data, size_t len);
/** Bytes queued on the stream's connection, not yet taken by the kernel. */
size_t http_stream_queued(const struct http_stream *h);
/** End the body (last chunk) and close the connection once it is flushed.
 *  gone is not called. */
void http_stream_end(struct http_stream *h);

#endif
