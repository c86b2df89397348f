/* SPDX-License-Identifier: MIT */
/* HTTP/1.1 server sessions; see http_server.h.
 *
 * Each connection is a struct http_session (conn first). Bytes go to
 * libhttp-parser; its callbacks build a struct http_req in a per-request
 * arena. When a message is complete the parser is paused and the request is
 * handed to the application; bytes that arrive meanwhile (pipelining, RFC
 * 9112 §9.3.2) wait in `pending` with reading paused, and are parsed once the
 * answer is written, so responses go out in request order. drive() runs that
 * loop iteratively, never recursively, however many requests are pipelined.
 *
 * Limits are checked before anything is stored: head bytes, header count,
 * URL length, body length (Content-Length is checked up front, chunked
 * bodies as they arrive), and timers per state (head, body, idle). A broken
 * or oversized request gets its status code with a short text body and the
 * connection is closed after it, since the framing can no longer be trusted. */
#include "http/http_server.h"

#include "core/err.h"
#include "core/log.h"
#include "http/http_form.h"
#include "http/ws.h"

#include <http_parser.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

enum sess_state {
    S_IDLE,     /* between requests */
    S_HEAD,     /* receiving the request line and headers */
    S_BODY,     /* receiving the body */
    S_HANDLING, /* the application has the request */
    S_WS,       /* upgraded to WebSocket */
    S_DONE,     /* closing after an error or Connection: close */
};

struct http_server {
    uv_loop_t *loop;
    struct http_server_opts o;
    http_parser_settings settings;
    size_t inflight;
    bool shutting_down;
};

struct http_session {
    struct conn conn;            /* first: conn's memory is the session's */
    struct http_server *srv;
    http_parser parser;
    enum sess_state state;
    struct http_req *req;        /* being parsed or handled; NULL when idle */
    struct arena *spare_arena;   /* kept between requests to avoid malloc churn */
    struct buf pending;          /* received bytes not yet parsed */
    struct buf url;              /* request-target being received */
    struct buf hname, hvalue;    /* header field being received */
    bool in_value;               /* last header callback was a value */
    size_t head_bytes;           /* bytes of request line + headers so far */
    size_t headers_cap;          /* slots in req->headers */
    struct buf body;             /* request body being received */
    size_t body_max;             /* this request's body limit (opts.body_limit) */
    int fail_status;             /* set by a parser callback that hit a limit */
    bool in_drive;               /* drive() is on the stack */
    bool expect_continue;
    struct ws *ws;               /* after an upgrade */
    const struct ws_callbacks *ws_user;
    void *ws_ud;
    bool ws_close_told;          /* ws_user->on_close has run */
};

static void drive(struct http_session *s);

/* ---- small helpers ---- */

static uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* The Date header (RFC 9110 §6.6.1), formatted once a second. */
static const char *http_date(void)
{
    static char cached[40];
    static time_t cached_at = -1;
    time_t now = time(NULL);
    struct tm tm;

    if (now != cached_at) {
        gmtime_r(&now, &tm);
        strftime(cached, sizeof(cached), "%a, %d %b %Y %H:%M:%S GMT", &tm);
        cached_at = now;
    }
    return cached;
}

const char *http_status_text(int status)
{
    switch (status) {
    case 100: return "Continue";
    case 101: return "Switching Protocols";
    case 200: return "OK";
    case 201: return "Created";
    case 202: return "Accepted";
    case 204: return "No Content";
    case 301: return "Moved Permanently";
    case 302: return "Found";
    case 303: return "See Other";
    case 304: return "Not Modified";
    case 307: return "Temporary Redirect";
    case 308: return "Permanent Redirect";
    case 400: return "Bad Request";
    case 401: return "Unauthorized";
    case 403: return "Forbidden";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 406: return "Not Acceptable";
    case 408: return "Request Timeout";
    case 409: return "Conflict";
    case 410: return "Gone";
    case 411: return "Length Required";
    case 413: return "Content Too Large";
    case 414: return "URI Too Long";
    case 415: return "Unsupported Media Type";
    case 422: return "Unprocessable Content";
    case 426: return "Upgrade Required";
    case 429: return "Too Many Requests";
    case 431: return "Request Header Fields Too Large";
    case 500: return "Internal Server Error";
    case 501: return "Not Implemented";
    case 503: return "Service Unavailable";
    case 505: return "HTTP Version Not Supported";
    default: return "Unknown";
    }
}

static bool has_token(const char *value, const char *token)
{
    /* Comma-separated, case-insensitive list membership (RFC 9110 §5.6.1). */
    size_t tl = strlen(token);
    const char *p = value;

    while (p && *p) {
        while (*p == ' ' || *p == '\t' || *p == ',')
            p++;
        const char *end = p;
        while (*end && *end != ',')
            end++;
        const char *e = end;
        while (e > p && (e[-1] == ' ' || e[-1] == '\t'))
            e--;
        if ((size_t)(e - p) == tl && strncasecmp(p, token, tl) == 0)
            return true;
        p = end;
    }
    return false;
}

const char *http_req_header(const struct http_req *r, const char *name)
{
    for (size_t i = 0; i < r->nheaders; i++)
        if (strcasecmp(r->headers[i].name, name) == 0)
            return r->headers[i].value;
    return NULL;
}

const char *http_req_param(const struct http_req *r, const char *name)
{
    for (size_t i = 0; i < r->nparams; i++)
        if (strcmp(r->param_names[i], name) == 0)
            return r->param_values[i];
    return NULL;
}

bool http_req_is_orphan(const struct http_req *r)
{
    return r->_sess == NULL;
}

struct conn *http_req_conn(const struct http_req *r)
{
    return r->_sess ? &r->_sess->conn : NULL;
}

/* ---- request objects ---- */

static uint64_t next_req_id = 1;

static struct http_req *req_new(struct http_session *s)
{
    struct arena *a = s->spare_arena ? s->spare_arena : arena_new(8192);
    struct http_req *r;

    s->spare_arena = NULL;
    r = arena_calloc(a, sizeof(*r));
    r->arena = a;
    r->server = s->srv;
    r->app = s->srv->o.app;
    r->id = next_req_id++;
    snprintf(r->id_str, sizeof(r->id_str), "%llx", (unsigned long long)r->id);
    r->peer = arena_strdup(a, s->conn.peer); /* an orphaned request outlives its conn */
    r->is_tls = conn_is_tls(&s->conn);
    r->_sess = s;
    r->_start_ns = now_ns();
    r->query = "";
    r->body = "";
    r->method = "GET";
    r->path = "/";
    r->target = "/";
    s->headers_cap = s->srv->o.limits.max_headers;
    r->headers = arena_alloc(a, s->headers_cap * sizeof(*r->headers));
    buf_init(&r->_resp_headers, 0);
    return r;
}

/* Free a request; its arena is kept by the session for reuse when possible. */
static void req_free(struct http_req *r, struct http_session *s)
{
    struct arena *a = r->arena;

    buf_free(&r->_resp_headers);
    if (s && s->spare_arena == NULL) {
        arena_reset(a);
        s->spare_arena = a;
    } else {
        arena_free(a);
    }
}

/* ---- writing responses ---- */

static void write_response(struct http_session *s, struct http_req *r, int status,
                           const char *ctype, const void *body, size_t len, bool close)
{
    struct buf head;
    bool no_body_status = status == 204 || status == 304 || status < 200;
    uv_buf_t bufs[2];

    buf_init(&head, 0);
    buf_printf(&head, "HTTP/1.1 %d %s\r\nDate: %s\r\n", status, http_status_text(status),
               http_date());
    if (!no_body_status)
        buf_printf(&head, "Content-Length: %zu\r\n", len);
    if (ctype && !no_body_status)
        buf_printf(&head, "Content-Type: %s\r\n", ctype);
    if (r)
        buf_printf(&head, "X-Request-Id: %s\r\n", r->id_str);
    if (r && r->_resp_headers.len)
        buf_append(&head, r->_resp_headers.data, r->_resp_headers.len);
    if (close)
        buf_appends(&head, "Connection: close\r\n");
    else if (r && r->http_minor == 0)
        buf_appends(&head, "Connection: keep-alive\r\n");
    buf_appends(&head, "\r\n");
    bufs[0] = uv_buf_init(head.data, (unsigned)head.len);
    bufs[1] = uv_buf_init((char *)body, (unsigned)len);
    bool send_body = len > 0 && !no_body_status && !(r && r->is_head);
    conn_writev(&s->conn, bufs, send_body ? 2 : 1);
    buf_free(&head);
}

/* Answer a request the parser could not accept, and close. */
static void fail(struct http_session *s, int status, const char *why)
{
    char body[128];
    int n;

    if (s->state == S_DONE || conn_is_closing(&s->conn))
        return;
    log_info("http.reject", "conn=%llu peer=%s status=%d reason=%s",
             (unsigned long long)s->conn.id, s->conn.peer, status, log_q(why));
    n = snprintf(body, sizeof(body), "%d %s: %s\n", status, http_status_text(status), why);
    write_response(s, NULL, status, "text/plain; charset=utf-8", body, (size_t)n, true);
    if (s->req && s->state == S_HANDLING) {
        s->req->_sess = NULL; /* the application still holds it: orphan it */
        s->req = NULL;
    } else if (s->req) {
        if (s->srv->o.done)
            s->srv->o.done(s->req, status, (size_t)n, 0);
        req_free(s->req, s);
        s->req = NULL;
    }
    s->state = S_DONE;
    conn_close(&s->conn);
}

static void idle_timeout(struct conn *c)
{
    struct http_session *s = (struct http_session *)c;
    if (s->state == S_IDLE && s->pending.len == 0)
        conn_close(c);
}

static void request_timeout(struct conn *c)
{
    struct http_session *s = (struct http_session *)c;
    if (s->state == S_IDLE && s->pending.len == 0 && s->req == NULL)
        conn_close(c); /* connected but never sent anything */
    else if (s->state == S_HEAD || s->state == S_BODY || s->state == S_IDLE)
        fail(s, 408, "request not received in time");
}

/* The application answered; write it and move to the next request. */
static void finish(struct http_req *r, int status, const char *ctype, const void *body,
                   size_t len)
{
    struct http_session *s = r->_sess;
    struct http_server *srv = r->server;
    double secs = (double)(now_ns() - r->_start_ns) / 1e9;

    TD_ASSERT(!r->_answered);
    r->_answered = true;
    srv->inflight--;
    if (srv->o.done)
        srv->o.done(r, status, len, secs);
    if (s == NULL) { /* orphaned: the client left */
        req_free(r, NULL);
        return;
    }
    bool close = !r->_keep_alive || srv->shutting_down;
    if (r->_ws_upgrade && status == 101)
        close = false;
    write_response(s, r, status, ctype, body, len, close);
    s->req = NULL;
    req_free(r, s);
    if (s->state == S_WS)
        return; /* http_ws_upgrade() decides when waiting bytes reach the ws */
    if (close) {
        s->state = S_DONE;
        conn_close(&s->conn);
        return;
    }
    s->state = S_IDLE;
    conn_timer_set(&s->conn, s->srv->o.limits.idle_timeout_ms, idle_timeout);
    conn_resume_read(&s->conn);
    drive(s);
}

int http_resp_header(struct http_req *r, const char *name, const char *value)
{
    if (strpbrk(name, "\r\n:") || strpbrk(value, "\r\n"))
        return TD_EINVAL; /* no response splitting */
    return buf_printf(&r->_resp_headers, "%s: %s\r\n", name, value);
}

void http_resp_send(struct http_req *r, int status, const char *ctype, const void *body,
                    size_t len)
{
    finish(r, status, ctype, body, len);
}

void http_resp_text(struct http_req *r, int status, const char *text)
{
    finish(r, status, "text/plain; charset=utf-8", text, strlen(text));
}

void http_resp_send_buf(struct http_req *r, int status, const char *ctype, struct buf *b)
{
    finish(r, status, ctype, b->data ? b->data : "", b->len);
    buf_free(b);
}

void http_resp_redirect(struct http_req *r, int status, const char *location)
{
    if (http_resp_header(r, "Location", location) != TD_OK) {
        http_resp_text(r, 500, "bad redirect\n");
        return;
    }
    http_resp_text(r, status, "redirecting\n");
}

/* ---- parser callbacks ---- */

static struct http_session *sess_of(http_parser *p)
{
    return p->data;
}

static int cb_message_begin(http_parser *p)
{
    struct http_session *s = sess_of(p);

    s->req = req_new(s);
    s->state = S_HEAD;
    s->head_bytes = 0;
    s->in_value = false;
    buf_reset(&s->url);
    buf_reset(&s->hname);
    buf_reset(&s->hvalue);
    buf_reset(&s->body);
    s->expect_continue = false;
    conn_timer_set(&s->conn, s->srv->o.limits.header_timeout_ms, request_timeout);
    return 0;
}

static int count_head(struct http_session *s, size_t len)
{
    s->head_bytes += len;
    if (s->head_bytes > s->srv->o.limits.max_header_bytes) {
        s->fail_status = 431;
        return -1;
    }
    return 0;
}

static int cb_url(http_parser *p, const char *at, size_t len)
{
    struct http_session *s = sess_of(p);

    if (s->url.len + len > s->srv->o.limits.max_url_bytes) {
        s->fail_status = 414;
        return -1;
    }
    if (count_head(s, len) != 0) {
        s->fail_status = 414;
        return -1;
    }
    buf_append(&s->url, at, len);
    return 0;
}

/* Store the header that has been fully received. */
static int commit_header(struct http_session *s)
{
    struct http_req *r = s->req;
    char *v;
    size_t vl;

    if (s->hname.len == 0)
        return 0;
    if (r->nheaders == s->headers_cap) {
        s->fail_status = 431;
        return -1;
    }
    v = s->hvalue.data ? s->hvalue.data : "";
    vl = s->hvalue.len;
    while (vl && (v[vl - 1] == ' ' || v[vl - 1] == '\t'))
        vl--;
    while (vl && (*v == ' ' || *v == '\t')) {
        v++;
        vl--;
    }
    r->headers[r->nheaders].name = arena_strndup(r->arena, s->hname.data, s->hname.len);
    r->headers[r->nheaders].value = arena_strndup(r->arena, v, vl);
    r->nheaders++;
    buf_reset(&s->hname);
    buf_reset(&s->hvalue);
    return 0;
}

static int cb_header_field(http_parser *p, const char *at, size_t len)
{
    struct http_session *s = sess_of(p);

    if (count_head(s, len) != 0)
        return -1;
    if (s->in_value) {
        if (commit_header(s) != 0)
            return -1;
        s->in_value = false;
    }
    buf_append(&s->hname, at, len);
    return 0;
}

static int cb_header_value(http_parser *p, const char *at, size_t len)
{
    struct http_session *s = sess_of(p);

    if (count_head(s, len) != 0)
        return -1;
    s->in_value = true;
    buf_append(&s->hvalue, at, len);
    return 0;
}

/* Split the target into path and query; decode the path. */
static int set_target(struct http_session *s)
{
    struct http_req *r = s->req;
    const char *t = s->url.data ? s->url.data : "";
    const char *q = strchr(t, '?');
    size_t plen = q ? (size_t)(q - t) : strlen(t);
    char *path;
    size_t path_len;

    r->target = arena_strndup(r->arena, t, s->url.len);
    r->query = q ? arena_strdup(r->arena, q + 1) : "";
    if (plen == 0 || t[0] != '/') {
        /* Absolute-form targets are for proxies; origin servers here take
         * origin-form only, plus "*" for OPTIONS (RFC 9112 §3.2). */
        if (!(strcmp(r->target, "*") == 0 && strcmp(r->method, "OPTIONS") == 0))
            return -1;
        r->path = "*";
        return 0;
    }
    if (http_url_decode(r->arena, t, plen, &path, &path_len) != TD_OK ||
        strlen(path) != path_len)
        return -1;
    r->path = path;
    return 0;
}

static int cb_headers_complete(http_parser *p)
{
    struct http_session *s = sess_of(p);
    struct http_req *r = s->req;
    const char *expect;

    if (s->in_value && commit_header(s) != 0)
        return -1;
    if (p->http_major != 1) {
        s->fail_status = 505; /* RFC 9110 §15.6.6 */
        return -1;
    }
    r->method = http_method_str((enum http_method)p->method);
    r->http_minor = p->http_major == 1 ? p->http_minor : 0;
    r->is_head = p->method == HTTP_HEAD;
    r->_keep_alive = http_should_keep_alive(p);
    if (set_target(s) != 0) {
        s->fail_status = 400;
        return -1;
    }
    s->body_max = s->srv->o.limits.max_body_bytes;
    if (s->srv->o.body_limit) {
        size_t lim = s->srv->o.body_limit(r);
        if (lim)
            s->body_max = lim;
    }
    if ((p->flags & F_CONTENTLENGTH) && p->content_length > s->body_max) {
        s->fail_status = 413;
        return -1;
    }
    expect = http_req_header(r, "Expect");
    if (expect && strcasecmp(expect, "100-continue") == 0 && r->http_minor == 1)
        s->expect_continue = true;
    if (s->expect_continue)
        conn_write(&s->conn, "HTTP/1.1 100 Continue\r\n\r\n", 25);
    s->state = S_BODY;
    conn_timer_set(&s->conn, s->srv->o.limits.body_timeout_ms, request_timeout);
    return 0;
}

static int cb_body(http_parser *p, const char *at, size_t len)
{
    struct http_session *s = sess_of(p);

    if (s->body.len + len > s->body_max) {
        s->fail_status = 413;
        return -1;
    }
    buf_append(&s->body, at, len);
    return 0;
}

static int cb_message_complete(http_parser *p)
{
    struct http_session *s = sess_of(p);
    struct http_req *r = s->req;

    r->body = s->body.len ? arena_strndup(r->arena, s->body.data, s->body.len) : "";
    r->body_len = s->body.len;
    s->state = S_HANDLING;
    http_parser_pause(p, 1);
    return 0;
}

/* ---- the driving loop ---- */

static void dispatch(struct http_session *s)
{
    struct http_req *r = s->req;

    /* Reading goes on while the request is handled: most answers are
     * synchronous, and pausing costs two epoll_ctl calls per request. Bytes
     * that arrive meanwhile pause it (sess_data). */
    conn_timer_set(&s->conn, 0, NULL);
    s->srv->inflight++;
    s->srv->o.handler(r);
}

static bool is_tchar(unsigned char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
           (c && strchr("!#$%&'*+-.^_`|~", c));
}

/* RFC 9112 §3: a well-formed but unknown method is 501; bytes that are not a
 * method at all (a TLS hello on the plain port, binary junk) are 400. */
static int map_parser_error(enum http_errno e, const char *data, size_t len)
{
    size_t i = 0;

    switch (e) {
    case HPE_HEADER_OVERFLOW:
        return 431;
    case HPE_INVALID_METHOD:
        while (i < len && is_tchar((unsigned char)data[i]))
            i++;
        return i > 0 && i < len && data[i] == ' ' ? 501 : 400;
    default:
        return 400;
    }
}

/* Parse len bytes. Leftovers after a complete message go to s->pending. */
static void parse(struct http_session *s, const char *data, size_t len)
{
    size_t n;
    enum http_errno e;

    n = http_parser_execute(&s->parser, &s->srv->settings, data, len);
    e = HTTP_PARSER_ERRNO(&s->parser);
    if (s->fail_status) {
        fail(s, s->fail_status, s->fail_status == 413   ? "body too large"
                                : s->fail_status == 414 ? "request target too long"
                                : s->fail_status == 431 ? "header section too large"
                                : s->fail_status == 505 ? "only HTTP/1.x is spoken here"
                                                        : "bad request target");
        return;
    }
    if (e == HPE_PAUSED) {
        http_parser_pause(&s->parser, 0);
        if (n < len && buf_append(&s->pending, data + n, len - n) != TD_OK) {
            fail(s, 413, "too much pipelined data");
            return;
        }
        if (s->parser.upgrade && !s->req->_ws_upgrade) {
            /* A request asking to switch protocols: whatever follows is not
             * HTTP, so the connection ends after this answer unless the
             * handler upgrades it. */
            s->req->_keep_alive = false;
        }
        dispatch(s);
        return;
    }
    if (e != HPE_OK) {
        fail(s, map_parser_error(e, data, len), http_errno_description(e));
        return;
    }
    if (s->parser.upgrade && s->req && s->state == S_HANDLING)
        dispatch(s);
}

/* Parse pending bytes while the session can take another request. */
static void drive(struct http_session *s)
{
    if (s->in_drive)
        return;
    s->in_drive = true;
    while (!conn_is_closing(&s->conn) && s->pending.len > 0 &&
           (s->state == S_IDLE || s->state == S_HEAD || s->state == S_BODY ||
            s->state == S_WS)) {
        struct buf in = s->pending;
        buf_init(&s->pending, in.max);
        if (s->state == S_WS) {
            ws_feed(s->ws, (const uint8_t *)in.data, in.len);
        } else {
            parse(s, in.data, in.len);
        }
        buf_free(&in);
    }
    s->in_drive = false;
}

/* ---- conn callbacks ---- */

static int sess_open(struct conn *c)
{
    struct http_session *s = (struct http_session *)c;
    const struct http_limits *l;

    s->srv = listener_data(c->listener);
    l = &s->srv->o.limits;
    http_parser_init(&s->parser, HTTP_REQUEST);
    s->parser.data = s;
    s->state = S_IDLE;
    buf_init(&s->pending, l->max_header_bytes + l->max_body_bytes + 256 * 1024);
    buf_init(&s->url, 0);
    buf_init(&s->hname, 0);
    buf_init(&s->hvalue, 0);
    buf_init(&s->body, 0);
    if (s->srv->shutting_down)
        return -1;
    conn_timer_set(c, l->header_timeout_ms, request_timeout);
    return 0;
}

static void sess_data(struct conn *c, const char *data, size_t len)
{
    struct http_session *s = (struct http_session *)c;

    if (s->state == S_DONE)
        return;
    if (s->state == S_WS && s->pending.len == 0 && !s->in_drive) {
        s->in_drive = true;
        ws_feed(s->ws, (const uint8_t *)data, len);
        s->in_drive = false;
        return;
    }
    if (s->pending.len > 0 || s->state == S_HANDLING || s->in_drive) {
        if (buf_append(&s->pending, data, len) != TD_OK) {
            fail(s, 413, "too much pipelined data");
            return;
        }
        if (s->state == S_HANDLING)
            conn_pause_read(c); /* hold the rest until the answer is out */
    } else {
        s->in_drive = true;
        parse(s, data, len);
        s->in_drive = false;
    }
    drive(s);
}

static void sess_eof(struct conn *c)
{
    struct http_session *s = (struct http_session *)c;

    /* A half-closed client may still want the answer to what it sent. */
    if (s->state == S_HANDLING)
        return;
    conn_close(c);
}

static void sess_close(struct conn *c)
{
    struct http_session *s = (struct http_session *)c;

    if (s->req) {
        if (s->state == S_HANDLING)
            s->req->_sess = NULL; /* orphan: freed by its answer */
        else
            req_free(s->req, NULL);
        s->req = NULL;
    }
    if (s->ws && !s->ws_close_told) {
        s->ws_close_told = true;
        if (s->ws_user->on_close)
            s->ws_user->on_close(s->ws_ud, 1006);
    }
}

static void sess_free(struct conn *c)
{
    struct http_session *s = (struct http_session *)c;

    ws_free(s->ws);
    arena_free(s->spare_arena);
    buf_free(&s->pending);
    buf_free(&s->url);
    buf_free(&s->hname);
    buf_free(&s->hvalue);
    buf_free(&s->body);
}

static const struct conn_ops http_conn_ops = {
    .on_open = sess_open,
    .on_data = sess_data,
    .on_eof = sess_eof,
    .on_close = sess_close,
    .on_free = sess_free,
};

/* ---- WebSocket upgrade ---- */

static void ws_on_message(void *ud, enum ws_opcode op, const uint8_t *data, size_t len)
{
    struct http_session *s = ud;
    if (s->ws_user->on_message)
        s->ws_user->on_message(s->ws_ud, op, data, len);
}

static int ws_on_send(void *ud, const uint8_t *data, size_t len)
{
    struct http_session *s = ud;
    return conn_write(&s->conn, data, len) == TD_OK ? 0 : -1;
}

static void ws_on_close(void *ud, uint16_t code)
{
    struct http_session *s = ud;

    if (!s->ws_close_told) {
        s->ws_close_told = true;
        if (s->ws_user->on_close)
            s->ws_user->on_close(s->ws_ud, code);
    }
    conn_close(&s->conn);
}

static const struct ws_callbacks ws_glue = {
    .on_message = ws_on_message,
    .send = ws_on_send,
    .on_close = ws_on_close,
};

static void ws_kick(struct conn *c)
{
    drive((struct http_session *)c);
}

struct ws *http_ws_upgrade(struct http_req *r, const struct ws_callbacks *cb, void *ud,
                           size_t max_message)
{
    struct http_session *s = r->_sess;
    const char *upgrade = http_req_header(r, "Upgrade");
    const char *connection = http_req_header(r, "Connection");
    const char *version = http_req_header(r, "Sec-WebSocket-Version");
    const char *key = http_req_header(r, "Sec-WebSocket-Key");
    char accept[29];

    if (s == NULL) {
        http_resp_text(r, 400, "gone\n");
        return NULL;
    }
    /* RFC 6455 §4.2.1: GET, Upgrade: websocket, Connection: Upgrade, version 13, a key. */
    if (strcmp(r->method, "GET") != 0 || !upgrade || !has_token(upgrade, "websocket") ||
        !connection || !has_token(connection, "upgrade")) {
        http_resp_header(r, "Upgrade", "websocket");
        http_resp_text(r, 426, "this endpoint speaks WebSocket only\n");
        return NULL;
    }
    if (!version || strcmp(version, "13") != 0) {
        http_resp_header(r, "Sec-WebSocket-Version", "13");
        http_resp_text(r, 400, "unsupported WebSocket version\n");
        return NULL;
    }
    if (!key || ws_accept_key(key, accept) != TD_OK) {
        http_resp_text(r, 400, "bad Sec-WebSocket-Key\n");
        return NULL;
    }
    s->ws = ws_new(&ws_glue, s, max_message);
    s->ws_user = cb;
    s->ws_ud = ud;
    r->_ws_upgrade = true;
    http_resp_header(r, "Upgrade", "websocket");
    http_resp_header(r, "Connection", "Upgrade");
    http_resp_header(r, "Sec-WebSocket-Accept", accept);
    s->state = S_WS;
    conn_resume_read(&s->conn);
    finish(r, 101, NULL, NULL, 0);
    /* Bytes the client sent after its upgrade request must reach the ws only
     * once the caller holds it. Called from inside drive() (a synchronous
     * handler), the loop there feeds them when we return; called later, a
     * zero-delay timer does. */
    if (!s->in_drive && s->pending.len)
        conn_timer_set(&s->conn, 1, ws_kick);
    return s->ws;
}

/* ---- the server ---- */

int http_server_new(uv_loop_t *loop, const struct http_server_opts *o,
                    struct http_server **out)
{
    struct http_server *s = td_calloc(1, sizeof(*s));

    s->loop = loop;
    s->o = *o;
    s->settings.on_message_begin = cb_message_begin;
    s->settings.on_url = cb_url;
    s->settings.on_header_field = cb_header_field;
    s->settings.on_header_value = cb_header_value;
    s->settings.on_headers_complete = cb_headers_complete;
    s->settings.on_body = cb_body;
    s->settings.on_message_complete = cb_message_complete;
    *out = s;
    return TD_OK;
}

void http_server_listener_opts(struct http_server *s, struct listener_opts *lo)
{
    lo->ops = &http_conn_ops;
    lo->session_size = sizeof(struct http_session);
    lo->data = s;
}

void http_server_set_limits(struct http_server *s, const struct http_limits *l)
{
    s->o.limits = *l;
}

static void shutdown_one(struct conn *c, void *ud)
{
    struct http_session *s = (struct http_session *)c;
    (void)ud;
    if (s->state == S_IDLE || s->state == S_HEAD || s->state == S_WS)
        conn_close(c);
    /* S_HANDLING: finish() closes it after the answer (shutting_down). */
}

void http_server_shutdown(struct http_server *s, struct listener *l)
{
    s->shutting_down = true;
    listener_foreach(l, shutdown_one, NULL);
}

size_t http_server_inflight(const struct http_server *s)
{
    return s->inflight;
}

void http_server_free(struct http_server *s)
{
    free(s);
}
