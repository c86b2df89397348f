/* SPDX-License-Identifier: MIT */
/* In-process tests of http/http_server over net/conn: a real listener on
 * 127.0.0.1 port 0 in a libuv loop run by the main thread, driven by plain
 * blocking POSIX sockets from a second thread. Covers RFC 9112 framing
 * (Content-Length, chunked bodies, keep-alive, pipelining in order §9.3.2,
 * HEAD, 100-continue), the limits (413, 414, 431, 408), malformed input
 * (400), answers deferred to a timer and requests orphaned by a closed
 * connection, and the RFC 6455 §4.2 WebSocket upgrade with echo, ping/pong
 * and the close handshake, and streaming answers (chunked or, for HTTP/1.0,
 * until the close; the peer leaving; the output cap; shutdown). The client
 * thread never calls cmocka: it records
 * the first failure as text, and the main thread asserts after joining it.
 * Run it under ASan: teardown closes every handle and checks that nothing
 * is left open. */
#include "core/err.h"
#include "core/log.h"
#include "http/http_server.h"
#include "http/ws.h"
#include "net/conn.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include <setjmp.h>
#include <stddef.h>

#include <cmocka.h>

/* ---- the client side: blocking sockets on the client thread ---- */

#define CLIENT_TIMEOUT_S 10
#define MAX_SOCKS 8

struct sock {
    int fd;
    size_t len;
    char buf[1 << 17];
};

struct resp {
    int status;
    char head[8192];  /* status line and header lines, NUL-terminated */
    char hval[1024];  /* last value returned by resp_header() */
    char body[65536]; /* NUL-terminated */
    size_t body_len;
};

struct client {
    int port;
    char fail[512];   /* first failure, "" if none */
    struct sock *socks[MAX_SOCKS];
    int nsocks;
    struct resp r;
    int kept_fd;      /* a socket handed back to the test (cl_detach) */
    void (*fn)(struct client *c);
};

static int cfail(struct client *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static int cfail(struct client *c, const char *fmt, ...)
{
    va_list ap;

    if (c->fail[0] == '\0') {
        va_start(ap, fmt);
        vsnprintf(c->fail, sizeof(c->fail), fmt, ap);
        va_end(ap);
    }
    return -1;
}

/* Record the failed condition and leave the client function. */
#define CHECK(c, cond)                                                                   \
    do {                                                                                 \
        if (!(cond)) {                                                                   \
            cfail((c), "%s:%d: check failed: %s", __FILE__, __LINE__, #cond);            \
            return;                                                                      \
        }                                                                                \
    } while (0)

/* Leave the client function if a helper failed (it has recorded why). */
#define TRY(c, expr)                                                                     \
    do {                                                                                 \
        if ((expr) != 0) {                                                               \
            cfail((c), "%s:%d: %s failed", __FILE__, __LINE__, #expr);                   \
            return;                                                                      \
        }                                                                                \
    } while (0)

static struct sock *cl_connect(struct client *c)
{
    struct sockaddr_in sin;
    struct timeval tv = {.tv_sec = CLIENT_TIMEOUT_S};
    struct sock *s;
    int fd;

    if (c->nsocks == MAX_SOCKS) {
        cfail(c, "too many sockets");
        return NULL;
    }
    fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0) {
        cfail(c, "socket: %s", strerror(errno));
        return NULL;
    }
    memset(&sin, 0, sizeof(sin));
    sin.sin_family = AF_INET;
    sin.sin_port = htons((uint16_t)c->port);
    sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
    if (connect(fd, (struct sockaddr *)&sin, sizeof(sin)) != 0) {
        cfail(c, "connect: %s", strerror(errno));
        close(fd);
        return NULL;
    }
    s = calloc(1, sizeof(*s));
    if (s == NULL) {
        close(fd);
        cfail(c, "out of memory");
        return NULL;
    }
    s->fd = fd;
    c->socks[c->nsocks++] = s;
    return s;
}

/* Close and forget one socket (abortive with linger_rst). */
static void cl_close(struct client *c, struct sock *s, bool linger_rst)
{
    for (int i = 0; i < c->nsocks; i++) {
        if (c->socks[i] != s)
            continue;
        if (linger_rst) {
            struct linger lg = {.l_onoff = 1, .l_linger = 0};
            setsockopt(s->fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
        }
        close(s->fd);
        free(s);
        c->socks[i] = c->socks[--c->nsocks];
        return;
    }
}

/* Forget a socket without closing it; returns its fd. */
static int cl_detach(struct client *c, struct sock *s)
{
    int fd = s->fd;

    for (int i = 0; i < c->nsocks; i++) {
        if (c->socks[i] == s) {
            c->socks[i] = c->socks[--c->nsocks];
            break;
        }
    }
    free(s);
    return fd;
}

static int sk_send(struct client *c, struct sock *s, const void *data, size_t len)
{
    const char *p = data;

    while (len > 0) {
        ssize_t n = send(s->fd, p, len, MSG_NOSIGNAL);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return cfail(c, "send: %s", strerror(errno));
        p += n;
        len -= (size_t)n;
    }
    return 0;
}

static int sk_sends(struct client *c, struct sock *s, const char *str)
{
    return sk_send(c, s, str, strlen(str));
}

/* Read more bytes into s->buf: >0 bytes read, 0 EOF, -1 error or timeout. */
static ssize_t sk_fill(struct sock *s)
{
    ssize_t n;

    if (s->len == sizeof(s->buf))
        return -1;
    do {
        n = recv(s->fd, s->buf + s->len, sizeof(s->buf) - s->len, 0);
    } while (n < 0 && errno == EINTR);
    if (n > 0)
        s->len += (size_t)n;
    return n;
}

static void sk_consume(struct sock *s, size_t n)
{
    memmove(s->buf, s->buf + n, s->len - n);
    s->len -= n;
}

static int sk_need(struct client *c, struct sock *s, size_t n)
{
    while (s->len < n) {
        if (sk_fill(s) <= 0)
            return cfail(c, "short read: wanted %zu bytes, have %zu (%s)", n, s->len,
                         strerror(errno));
    }
    return 0;
}

/* A response header's value (copied into r->hval), or NULL. */
static const char *resp_header(struct resp *r, const char *name)
{
    size_t nl = strlen(name);
    const char *p = strstr(r->head, "\r\n");

    while (p && p[2] != '\r' && p[2] != '\0') {
        const char *line = p + 2;
        const char *end = strstr(line, "\r\n");
        if (end == NULL)
            return NULL;
        if ((size_t)(end - line) > nl && line[nl] == ':' && strncasecmp(line, name, nl) == 0) {
            const char *v = line + nl + 1;
            size_t vl;
            while (*v == ' ')
                v++;
            vl = (size_t)(end - v);
            if (vl >= sizeof(r->hval))
                vl = sizeof(r->hval) - 1;
            memcpy(r->hval, v, vl);
            r->hval[vl] = '\0';
            return r->hval;
        }
        p = end;
    }
    return NULL;
}

/* Read one response. head_only: do not read a body (answers to HEAD). */
static int sk_read_response(struct client *c, struct sock *s, struct resp *r, bool head_only)
{
    char *end = memmem(s->buf, s->len, "\r\n\r\n", 4);
    const char *cl;
    size_t hl;
    size_t n;

    while (end == NULL) {
        if (sk_fill(s) <= 0)
            return cfail(c, "no complete response head (have %zu bytes: '%.60s')", s->len,
                         s->buf);
        end = memmem(s->buf, s->len, "\r\n\r\n", 4);
    }
    hl = (size_t)(end + 4 - s->buf);
    if (hl >= sizeof(r->head))
        return cfail(c, "response head too long");
    memcpy(r->head, s->buf, hl);
    r->head[hl] = '\0';
    sk_consume(s, hl);
    r->body_len = 0;
    r->body[0] = '\0';
    if (sscanf(r->head, "HTTP/1.1 %d ", &r->status) != 1)
        return cfail(c, "bad status line '%.60s'", r->head);
    if (head_only || r->status < 200 || r->status == 204 || r->status == 304)
        return 0;
    cl = resp_header(r, "Content-Length");
    if (cl == NULL)
        return cfail(c, "response %d without Content-Length", r->status);
    n = strtoul(cl, NULL, 10);
    if (n >= sizeof(r->body))
        return cfail(c, "response body too long");
    if (sk_need(c, s, n) != 0)
        return -1;
    memcpy(r->body, s->buf, n);
    r->body[n] = '\0';
    r->body_len = n;
    sk_consume(s, n);
    return 0;
}

/* The server must close the connection with nothing more to read. */
static int sk_expect_eof(struct client *c, struct sock *s)
{
    ssize_t n;

    if (s->len > 0)
        return cfail(c, "unexpected %zu bytes before EOF: '%.40s'", s->len, s->buf);
    n = sk_fill(s);
    if (n == 0 || (n < 0 && errno == ECONNRESET))
        return 0;
    if (n > 0)
        return cfail(c, "unexpected %zu bytes instead of EOF: '%.40s'", s->len, s->buf);
    return cfail(c, "connection not closed: %s", strerror(errno));
}

/* One request on a fresh connection; the response lands in c->r. */
static int simple(struct client *c, const char *req, struct sock **out)
{
    struct sock *s = cl_connect(c);

    if (s == NULL || sk_sends(c, s, req) != 0 || sk_read_response(c, s, &c->r, false) != 0)
        return -1;
    if (out)
        *out = s;
    return 0;
}

/* ---- WebSocket client framing (RFC 6455 §5.2) ---- */

#define RFC_KEY "dGhlIHNhbXBsZSBub25jZQ=="
#define RFC_ACCEPT "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=" /* RFC 6455 §1.3 */

static int ws_send_frame(struct client *c, struct sock *s, int op, const void *payload,
                         size_t len)
{
    static const uint8_t mask[4] = {0x37, 0xfa, 0x21, 0x3d};
    uint8_t f[512];
    const uint8_t *p = payload;
    size_t i = 0;

    if (len > sizeof(f) - 8)
        return cfail(c, "frame too long for the test encoder");
    f[i++] = (uint8_t)(0x80 | op);
    if (len < 126) {
        f[i++] = (uint8_t)(0x80 | len);
    } else {
        f[i++] = 0x80 | 126;
        f[i++] = (uint8_t)(len >> 8);
        f[i++] = (uint8_t)len;
    }
    memcpy(f + i, mask, 4);
    i += 4;
    for (size_t j = 0; j < len; j++)
        f[i++] = p[j] ^ mask[j % 4];
    return sk_send(c, s, f, i);
}

static int ws_read_frame(struct client *c, struct sock *s, int *op, uint8_t *out, size_t cap,
                         size_t *len)
{
    size_t hl = 2;
    size_t n;
    uint8_t b1;

    if (sk_need(c, s, 2) != 0)
        return -1;
    *op = (uint8_t)s->buf[0] & 0x0f;
    if (((uint8_t)s->buf[0] & 0x80) == 0)
        return cfail(c, "fragmented frame from the server");
    b1 = (uint8_t)s->buf[1];
    if (b1 & 0x80)
        return cfail(c, "server frame is masked (RFC 6455 §5.1 forbids it)");
    n = b1 & 0x7f;
    if (n == 126) {
        if (sk_need(c, s, 4) != 0)
            return -1;
        n = ((size_t)(uint8_t)s->buf[2] << 8) | (uint8_t)s->buf[3];
        hl = 4;
    } else if (n == 127) {
        return cfail(c, "64-bit frame length in a test");
    }
    if (n > cap)
        return cfail(c, "frame of %zu bytes too long", n);
    if (sk_need(c, s, hl + n) != 0)
        return -1;
    memcpy(out, s->buf + hl, n);
    *len = n;
    sk_consume(s, hl + n);
    return 0;
}

static int ws_handshake(struct client *c, struct sock *s)
{
    const char *acc;

    if (sk_sends(c, s,
                 "GET /ws HTTP/1.1\r\nHost: t\r\nUpgrade: websocket\r\n"
                 "Connection: keep-alive, Upgrade\r\nSec-WebSocket-Key: " RFC_KEY "\r\n"
                 "Sec-WebSocket-Version: 13\r\n\r\n") != 0)
        return -1;
    if (sk_read_response(c, s, &c->r, true) != 0)
        return -1;
    if (c->r.status != 101)
        return cfail(c, "handshake status %d", c->r.status);
    acc = resp_header(&c->r, "Sec-WebSocket-Accept");
    if (acc == NULL || strcmp(acc, RFC_ACCEPT) != 0)
        return cfail(c, "bad Sec-WebSocket-Accept '%s'", acc ? acc : "(none)");
    if (resp_header(&c->r, "Upgrade") == NULL || strcasecmp(c->r.hval, "websocket") != 0)
        return cfail(c, "no Upgrade: websocket");
    if (resp_header(&c->r, "Content-Length") != NULL)
        return cfail(c, "101 with Content-Length");
    return 0;
}

/* ---- the server side: loop, handler and what it saw ---- */

#define MAX_DONE 256
#define MAX_WS 8

struct wsctx {
    struct ws *ws;
    bool upgrading;     /* inside http_ws_upgrade() */
    int msg_during_upgrade;
    int send_rc;        /* last ws_send() result in on_message */
    int nmsg;
    bool closed;
    uint16_t close_code;
};

struct fixture {
    uv_loop_t loop;
    struct http_server *srv;
    struct listener *lis;
    int port;
    uv_timer_t poll;
    bool (*pred)(void);
    uint64_t deadline;
    bool timed_out;
    pthread_t thr;
    atomic_int client_done;
    struct client cl;
    /* seen by the done hook */
    int ndone;
    int done_status[MAX_DONE];
    char done_path[MAX_DONE][32];
    /* deferred answers */
    int async_pending;
    int orphans_seen;
    int bad_header_rc;
    int ws_returned_after_close;
    /* WebSockets */
    struct wsctx ws[MAX_WS];
    int nws;
    /* streaming answers */
    struct http_stream *stream;
    int stream_gone;
    int stream_null; /* http_resp_stream_begin returned NULL */
    uv_timer_t stream_timer;
    bool stream_timer_on;
};

static struct fixture fx;

struct async_answer {
    uv_timer_t timer;
    struct http_req *r;
};

static void do_upgrade(struct http_req *r);

static void async_closed(uv_handle_t *h)
{
    free(h->data);
}

static void async_fire(uv_timer_t *t)
{
    struct async_answer *a = t->data;
    struct http_req *r = a->r;
    const char *body;

    if (http_req_is_orphan(r))
        fx.orphans_seen++;
    if (strcmp(r->path, "/ws-async") == 0) {
        do_upgrade(r);
        fx.async_pending--;
        uv_close((uv_handle_t *)t, async_closed);
        return;
    }
    body = arena_printf(r->arena, "async %s", r->query);
    http_resp_text(r, 200, body);
    fx.async_pending--;
    uv_close((uv_handle_t *)t, async_closed);
}

static void start_async(struct http_req *r)
{
    struct async_answer *a = td_calloc(1, sizeof(*a));

    a->r = r;
    uv_timer_init(&fx.loop, &a->timer);
    a->timer.data = a;
    uv_timer_start(&a->timer, async_fire, 50, 0);
    fx.async_pending++;
}

static void close_conn(struct conn *c, void *ud)
{
    (void)ud;
    conn_close(c);
}

static void ws_echo(void *ud, enum ws_opcode op, const uint8_t *data, size_t len)
{
    struct wsctx *w = ud;

    w->nmsg++;
    if (w->upgrading)
        w->msg_during_upgrade++;
    if (w->ws)
        w->send_rc = ws_send(w->ws, op, data, len);
}

static int ws_no_send(void *ud, const uint8_t *data, size_t len)
{
    (void)ud;
    (void)data;
    (void)len;
    return 0; /* the server's glue sends; this is never called */
}

static void ws_closed(void *ud, uint16_t code)
{
    struct wsctx *w = ud;

    w->closed = true;
    w->close_code = code;
    w->ws = NULL; /* the server frees it after this returns */
}

static const struct ws_callbacks echo_cbs = {
    .on_message = ws_echo,
    .send = ws_no_send,
    .on_close = ws_closed,
};

static void do_upgrade(struct http_req *r)
{
    struct fixture *f = r->app;
    struct wsctx *w = &f->ws[f->nws < MAX_WS - 1 ? f->nws++ : MAX_WS - 1];
    struct ws *ws;

    memset(w, 0, sizeof(*w));
    w->upgrading = true;
    ws = http_ws_upgrade(r, &echo_cbs, w, 0);
    w->upgrading = false;
    /* A ws that already finished (on_close ran inside the call) is freed
     * by the server without further notice: it must not be handed out. */
    if (ws && w->closed)
        f->ws_returned_after_close++;
    if (!w->closed)
        w->ws = ws;
}

static void stream_gone(void *ud)
{
    struct fixture *f = ud;

    f->stream_gone++;
    f->stream = NULL;
}

static void stream_timer_closed(uv_handle_t *h)
{
    struct fixture *f = h->data;
    f->stream_timer_on = false;
}

/* Later: a second event, then the end of the body. */
static void stream_later(uv_timer_t *t)
{
    struct fixture *f = t->data;

    if (f->stream) {
        http_stream_write(f->stream, "second\n", 7);
        http_stream_end(f->stream);
        f->stream = NULL;
    }
    uv_close((uv_handle_t *)t, stream_timer_closed);
}

static void do_stream(struct http_req *r, bool hold)
{
    struct fixture *f = r->app;

    http_resp_header(r, "Cache-Control", "no-store");
    f->stream = http_resp_stream_begin(r, 200, "text/event-stream", hold ? 4096 : 0,
                                       stream_gone, f);
    if (f->stream == NULL) {
        f->stream_null++;
        return;
    }
    http_stream_write(f->stream, "first\n", 6);
    if (!hold) {
        uv_timer_init(&f->loop, &f->stream_timer);
        f->stream_timer.data = f;
        f->stream_timer_on = true;
        uv_timer_start(&f->stream_timer, stream_later, 50, 0);
    }
}

static void handler(struct http_req *r)
{
    struct fixture *f = r->app;

    if (strcmp(r->path, "/hello") == 0) {
        http_resp_text(r, 200, "hello");
    } else if (strcmp(r->path, "/echo") == 0) {
        http_resp_send(r, 200, "application/octet-stream", r->body, r->body_len);
    } else if (strcmp(r->path, "/query") == 0) {
        http_resp_text(r, 200, arena_printf(r->arena, "q %s", r->query));
    } else if (strcmp(r->path, "/async") == 0) {
        start_async(r);
    } else if (strcmp(r->path, "/orphan") == 0) {
        /* Deferred answer, then the connection goes away under it. */
        start_async(r);
        listener_foreach(f->lis, close_conn, NULL);
    } else if (strcmp(r->path, "/redir") == 0) {
        /* Response splitting is refused; a good header goes out. */
        f->bad_header_rc = http_resp_header(r, "X-Evil", "a\r\nSet-Cookie: x=1");
        http_resp_header(r, "X-Test", "yes");
        http_resp_redirect(r, 303, "/hello");
    } else if (strcmp(r->path, "/nobody") == 0) {
        http_resp_send(r, 204, NULL, NULL, 0);
    } else if (strcmp(r->path, "/sse") == 0) {
        do_stream(r, false);
    } else if (strcmp(r->path, "/sse-hold") == 0) {
        do_stream(r, true);
    } else if (strcmp(r->path, "/ws") == 0) {
        do_upgrade(r);
    } else if (strcmp(r->path, "/ws-async") == 0) {
        start_async(r); /* async_fire upgrades it */
    } else {
        http_resp_text(r, 404, "not found\n");
    }
}

static void on_done(const struct http_req *r, int status, size_t body_len, double seconds)
{
    struct fixture *f = r->app;

    (void)body_len;
    assert_true(seconds >= 0);
    if (f->ndone < MAX_DONE) {
        f->done_status[f->ndone] = status;
        snprintf(f->done_path[f->ndone], sizeof(f->done_path[0]), "%s", r->path);
    }
    f->ndone++;
}

static struct http_limits default_limits(void)
{
    struct http_limits l = {
        .max_header_bytes = 4096,
        .max_headers = 16,
        .max_url_bytes = 512,
        .max_body_bytes = 4096,
        .header_timeout_ms = 10000,
        .body_timeout_ms = 10000,
        .idle_timeout_ms = 10000,
    };
    return l;
}

static int setup(void **state)
{
    struct http_server_opts o = {
        .limits = default_limits(),
        .handler = handler,
        .done = on_done,
        .app = &fx,
    };
    struct listener_opts lo;
    char *err = NULL;

    (void)state;
    memset(&fx, 0, sizeof(fx));
    alarm(120); /* a hang is a failure, not a stuck CI job */
    if (uv_loop_init(&fx.loop) != 0 || http_server_new(&fx.loop, &o, &fx.srv) != TD_OK)
        return -1;
    memset(&lo, 0, sizeof(lo));
    lo.host = "127.0.0.1";
    lo.port = 0;
    lo.name = "http-test";
    http_server_listener_opts(fx.srv, &lo);
    if (listener_start(&fx.loop, &lo, &fx.lis, &err) != TD_OK) {
        fprintf(stderr, "listener_start: %s\n", err ? err : "?");
        free(err);
        return -1;
    }
    fx.port = listener_port(fx.lis);
    fx.cl.port = fx.port;
    uv_timer_init(&fx.loop, &fx.poll);
    return 0;
}

static int teardown(void **state)
{
    int rc;

    (void)state;
    http_server_shutdown(fx.srv, fx.lis);
    listener_free(fx.lis);
    uv_close((uv_handle_t *)&fx.poll, NULL);
    uv_run(&fx.loop, UV_RUN_DEFAULT);
    rc = uv_loop_close(&fx.loop);
    http_server_free(fx.srv);
    alarm(0);
    if (rc != 0 || conn_open_count() != 0) {
        fprintf(stderr, "teardown: uv_loop_close=%d open conns=%zu\n", rc, conn_open_count());
        return -1;
    }
    return 0;
}

/* ---- running the loop while the client thread works ---- */

static void poll_cb(uv_timer_t *t)
{
    if (fx.pred()) {
        uv_timer_stop(t);
        uv_stop(t->loop);
    } else if (uv_now(t->loop) > fx.deadline) {
        fx.timed_out = true;
        uv_timer_stop(t);
        uv_stop(t->loop);
    }
}

/* Run the loop until pred() holds; false after timeout_ms. */
static bool run_until(bool (*pred)(void), uint64_t timeout_ms)
{
    fx.pred = pred;
    fx.timed_out = false;
    uv_update_time(&fx.loop);
    fx.deadline = uv_now(&fx.loop) + timeout_ms;
    uv_timer_start(&fx.poll, poll_cb, 5, 5);
    uv_run(&fx.loop, UV_RUN_DEFAULT);
    return !fx.timed_out;
}

static bool client_finished(void)
{
    return atomic_load(&fx.client_done) && http_server_inflight(fx.srv) == 0 &&
           fx.async_pending == 0;
}

static bool no_conns(void)
{
    return listener_conn_count(fx.lis) == 0;
}

static void *client_main(void *arg)
{
    struct client *c = arg;

    c->fn(c);
    atomic_store(&fx.client_done, 1);
    return NULL;
}

/* Run fn on the client thread while the loop serves it; fail on its failure. */
static void run_client(void (*fn)(struct client *c))
{
    bool ok;

    fx.cl.fn = fn;
    fx.cl.fail[0] = '\0';
    fx.cl.kept_fd = -1;
    atomic_store(&fx.client_done, 0);
    assert_int_equal(pthread_create(&fx.thr, NULL, client_main, &fx.cl), 0);
    ok = run_until(client_finished, 60000);
    pthread_join(fx.thr, NULL);
    while (fx.cl.nsocks > 0)
        cl_close(&fx.cl, fx.cl.socks[0], false);
    if (fx.cl.fail[0])
        fail_msg("client: %s", fx.cl.fail);
    assert_true(ok);
}

static int count_done(const char *path, int status)
{
    int n = 0;

    for (int i = 0; i < fx.ndone && i < MAX_DONE; i++)
        if (strcmp(fx.done_path[i], path) == 0 && fx.done_status[i] == status)
            n++;
    return n;
}

static int count_status(int status)
{
    int n = 0;

    for (int i = 0; i < fx.ndone && i < MAX_DONE; i++)
        if (fx.done_status[i] == status)
            n++;
    return n;
}

/* ---- tests: basic exchanges ---- */

static void cl_simple_get(struct client *c)
{
    const char *date;
    struct sock *s;

    TRY(c, simple(c, "GET /hello HTTP/1.1\r\nHost: t\r\n\r\n", &s));
    CHECK(c, c->r.status == 200);
    CHECK(c, strncmp(c->r.head, "HTTP/1.1 200 OK\r\n", 17) == 0);
    CHECK(c, strcmp(c->r.body, "hello") == 0);
    CHECK(c, resp_header(&c->r, "Content-Length") && strcmp(c->r.hval, "5") == 0);
    CHECK(c, resp_header(&c->r, "Content-Type") &&
                 strcmp(c->r.hval, "text/plain; charset=utf-8") == 0);
    /* RFC 9110 §5.6.7 IMF-fixdate: "Sun, 06 Nov 1994 08:49:37 GMT" */
    date = resp_header(&c->r, "Date");
    CHECK(c, date != NULL);
    CHECK(c, strlen(date) == 29 && date[3] == ',' && strcmp(date + 25, " GMT") == 0);
    CHECK(c, resp_header(&c->r, "Connection") == NULL); /* 1.1 keeps alive by default */
    /* A 404 on the same connection. */
    TRY(c, sk_sends(c, s, "GET /nothing-here HTTP/1.1\r\nHost: t\r\n\r\n"));
    TRY(c, sk_read_response(c, s, &c->r, false));
    CHECK(c, c->r.status == 404);
}

static void test_simple_get(void **state)
{
    (void)state;
    run_client(cl_simple_get);
    assert_int_equal(fx.ndone, 2);
    assert_int_equal(count_done("/hello", 200), 1);
    assert_int_equal(count_done("/nothing-here", 404), 1);
}

static void cl_keep_alive(struct client *c)
{
    struct sock *s = cl_connect(c);

    CHECK(c, s != NULL);
    for (int i = 0; i < 3; i++) {
        char req[128];
        char want[32];
        snprintf(req, sizeof(req), "GET /query?n=%d HTTP/1.1\r\nHost: t\r\n\r\n", i);
        snprintf(want, sizeof(want), "q n=%d", i);
        TRY(c, sk_sends(c, s, req));
        TRY(c, sk_read_response(c, s, &c->r, false));
        CHECK(c, c->r.status == 200);
        CHECK(c, strcmp(c->r.body, want) == 0);
    }
    /* The last one asks to close: answered with Connection: close, then EOF. */
    TRY(c, sk_sends(c, s, "GET /hello HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n"));
    TRY(c, sk_read_response(c, s, &c->r, false));
    CHECK(c, resp_header(&c->r, "Connection") && strcasecmp(c->r.hval, "close") == 0);
    TRY(c, sk_expect_eof(c, s));
}

static void test_keep_alive(void **state)
{
    (void)state;
    run_client(cl_keep_alive);
    assert_int_equal(fx.ndone, 4);
    assert_int_equal(count_done("/query", 200), 3);
    assert_int_equal(count_done("/hello", 200), 1);
    assert_true(run_until(no_conns, 10000));
}

static void cl_http10(struct client *c)
{
    struct sock *s;

    /* HTTP/1.0 without keep-alive: answer, then close. */
    TRY(c, simple(c, "GET /hello HTTP/1.0\r\n\r\n", &s));
    CHECK(c, c->r.status == 200);
    CHECK(c, strcmp(c->r.body, "hello") == 0);
    TRY(c, sk_expect_eof(c, s));
    /* HTTP/1.0 asking for keep-alive gets it, said explicitly. */
    TRY(c, simple(c, "GET /hello HTTP/1.0\r\nConnection: keep-alive\r\n\r\n", &s));
    CHECK(c, resp_header(&c->r, "Connection") && strcasecmp(c->r.hval, "keep-alive") == 0);
    TRY(c, sk_sends(c, s, "GET /query?x HTTP/1.0\r\n\r\n"));
    TRY(c, sk_read_response(c, s, &c->r, false));
    CHECK(c, strcmp(c->r.body, "q x") == 0);
    TRY(c, sk_expect_eof(c, s));
}

static void test_http10(void **state)
{
    (void)state;
    run_client(cl_http10);
    assert_int_equal(fx.ndone, 3);
}

static void cl_pipelined(struct client *c)
{
    char reqs[4096];
    size_t off = 0;
    struct sock *s = cl_connect(c);

    CHECK(c, s != NULL);
    for (int i = 0; i < 20; i++) {
        const char *path = i % 3 == 1 ? "/async" : "/query";
        off += (size_t)snprintf(reqs + off, sizeof(reqs) - off,
                                "GET %s?i=%d HTTP/1.1\r\nHost: t\r\n\r\n", path, i);
    }
    /* Everything in one write: the server must answer in order even though
     * the /async answers come from a timer. */
    TRY(c, sk_send(c, s, reqs, off));
    for (int i = 0; i < 20; i++) {
        char want[32];
        snprintf(want, sizeof(want), "%s i=%d", i % 3 == 1 ? "async" : "q", i);
        TRY(c, sk_read_response(c, s, &c->r, false));
        if (c->r.status != 200 || strcmp(c->r.body, want) != 0) {
            cfail(c, "response %d: status %d body '%s', wanted '%s'", i, c->r.status,
                  c->r.body, want);
            return;
        }
    }
    CHECK(c, s->len == 0);
}

static void test_pipelined(void **state)
{
    (void)state;
    run_client(cl_pipelined);
    assert_int_equal(fx.ndone, 20);
    assert_int_equal(count_done("/async", 200), 7);
    assert_int_equal(count_done("/query", 200), 13);
}

static void cl_chunked_post(struct client *c)
{
    static const char *parts[] = {
        "POST /echo HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n",
        "5\r\nhel",
        "lo\r\n6\r\n world\r\n",
        "1;ext=1\r\n!\r\n",
        "0\r\n\r\n",
    };
    struct sock *s = cl_connect(c);

    CHECK(c, s != NULL);
    for (size_t i = 0; i < TD_ARRAY_LEN(parts); i++) {
        TRY(c, sk_sends(c, s, parts[i]));
        usleep(20000); /* separate reads on the server, most likely */
    }
    TRY(c, sk_read_response(c, s, &c->r, false));
    CHECK(c, c->r.status == 200);
    CHECK(c, strcmp(c->r.body, "hello world!") == 0);
    /* A body with Content-Length, split, with NUL bytes in it. */
    TRY(c, sk_sends(c, s, "POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 7\r\n\r\nab"));
    usleep(20000);
    TRY(c, sk_send(c, s, "c\0def", 5));
    TRY(c, sk_read_response(c, s, &c->r, false));
    CHECK(c, c->r.body_len == 7 && memcmp(c->r.body, "abc\0def", 7) == 0);
    /* Expect: 100-continue gets the interim answer before the body. */
    TRY(c, sk_sends(c, s,
                    "POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 3\r\n"
                    "Expect: 100-continue\r\n\r\n"));
    TRY(c, sk_read_response(c, s, &c->r, false));
    CHECK(c, c->r.status == 100);
    TRY(c, sk_sends(c, s, "xyz"));
    TRY(c, sk_read_response(c, s, &c->r, false));
    CHECK(c, c->r.status == 200);
    CHECK(c, strcmp(c->r.body, "xyz") == 0);
}

static void test_chunked_post(void **state)
{
    (void)state;
    run_client(cl_chunked_post);
    assert_int_equal(count_done("/echo", 200), 3);
}

static void cl_head(struct client *c)
{
    struct sock *s = cl_connect(c);

    CHECK(c, s != NULL);
    /* Pipelined HEAD then GET: if the HEAD answer carried a body, the second
     * response would not start where the first head ends. */
    TRY(c, sk_sends(c, s,
                    "HEAD /hello HTTP/1.1\r\nHost: t\r\n\r\n"
                    "GET /hello HTTP/1.1\r\nHost: t\r\n\r\n"));
    TRY(c, sk_read_response(c, s, &c->r, true));
    CHECK(c, c->r.status == 200);
    CHECK(c, resp_header(&c->r, "Content-Length") && strcmp(c->r.hval, "5") == 0);
    TRY(c, sk_read_response(c, s, &c->r, false));
    CHECK(c, c->r.status == 200);
    CHECK(c, strcmp(c->r.body, "hello") == 0);
    /* 204 has neither body nor Content-Length (RFC 9110 §8.6). */
    TRY(c, sk_sends(c, s, "GET /nobody HTTP/1.1\r\nHost: t\r\n\r\n"));
    TRY(c, sk_read_response(c, s, &c->r, false));
    CHECK(c, c->r.status == 204);
    CHECK(c, resp_header(&c->r, "Content-Length") == NULL);
    TRY(c, sk_sends(c, s, "GET /hello HTTP/1.1\r\nHost: t\r\n\r\n"));
    TRY(c, sk_read_response(c, s, &c->r, false));
    CHECK(c, strcmp(c->r.body, "hello") == 0);
}

static void test_head(void **state)
{
    (void)state;
    run_client(cl_head);
    assert_int_equal(count_done("/hello", 200), 3);
    assert_int_equal(count_done("/nobody", 204), 1);
}

static void cl_redirect(struct client *c)
{
    TRY(c, simple(c, "GET /redir HTTP/1.1\r\nHost: t\r\n\r\n", NULL));
    CHECK(c, c->r.status == 303);
    CHECK(c, resp_header(&c->r, "Location") && strcmp(c->r.hval, "/hello") == 0);
    CHECK(c, resp_header(&c->r, "X-Test") && strcmp(c->r.hval, "yes") == 0);
    CHECK(c, resp_header(&c->r, "X-Evil") == NULL);
    CHECK(c, resp_header(&c->r, "Set-Cookie") == NULL);
}

static void test_redirect_headers(void **state)
{
    (void)state;
    run_client(cl_redirect);
    assert_int_equal(fx.bad_header_rc, TD_EINVAL);
    assert_int_equal(count_done("/redir", 303), 1);
}

static void cl_request_id(struct client *c)
{
    TRY(c, simple(c, "GET /hello HTTP/1.1\r\nHost: t\r\n\r\n", NULL));
    CHECK(c, c->r.status == 200);
    if (resp_header(&c->r, "X-Request-Id") == NULL) {
        cfail(c, "no X-Request-Id header, which http.h promises for struct http_req.id");
        return;
    }
    CHECK(c, strlen(c->r.hval) > 0);
}

static void test_request_id(void **state)
{
    (void)state;
    /* FAILS against the current src/http/http_server.c: http.h says the
     * request id is "also logged and sent as X-Request-Id", but
     * write_response() never adds the header. See the report. */
    run_client(cl_request_id);
}

/* ---- tests: limits and malformed input ---- */

static void cl_body_too_big(struct client *c)
{
    struct sock *s;

    /* Declared length over the limit: refused before the body arrives. */
    TRY(c, simple(c, "POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 4097\r\n\r\n", &s));
    CHECK(c, c->r.status == 413);
    CHECK(c, resp_header(&c->r, "Connection") && strcasecmp(c->r.hval, "close") == 0);
    TRY(c, sk_expect_eof(c, s));
    /* Exactly the limit is fine. */
    {
        static char req[8192];
        int n = snprintf(req, sizeof(req),
                         "POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 4096\r\n\r\n");
        memset(req + n, 'b', 4096);
        s = cl_connect(c);
        CHECK(c, s != NULL);
        TRY(c, sk_send(c, s, req, (size_t)n + 4096));
        TRY(c, sk_read_response(c, s, &c->r, false));
        CHECK(c, c->r.status == 200 && c->r.body_len == 4096);
    }
    /* A chunked body that grows past the limit. */
    s = cl_connect(c);
    CHECK(c, s != NULL);
    TRY(c, sk_sends(c, s, "POST /echo HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n"));
    {
        char chunk[1100];
        int n = snprintf(chunk, sizeof(chunk), "400\r\n");
        memset(chunk + n, 'c', 1024);
        memcpy(chunk + n + 1024, "\r\n", 2);
        for (int i = 0; i < 5; i++) {
            /* The server may close after the 4th chunk; ignore send errors. */
            if (send(s->fd, chunk, (size_t)n + 1026, MSG_NOSIGNAL) < 0)
                break;
        }
    }
    TRY(c, sk_read_response(c, s, &c->r, false));
    CHECK(c, c->r.status == 413);
}

static void test_body_too_big(void **state)
{
    (void)state;
    run_client(cl_body_too_big);
    assert_int_equal(count_status(413), 2);
    assert_int_equal(count_done("/echo", 200), 1);
}

static void cl_head_limits(struct client *c)
{
    static char req[16384];
    struct sock *s;
    int n;

    /* One header over max_header_bytes (4096). */
    n = snprintf(req, sizeof(req), "GET /hello HTTP/1.1\r\nHost: t\r\nX-Big: ");
    memset(req + n, 'h', 5000);
    snprintf(req + n + 5000, sizeof(req) - (size_t)n - 5000, "\r\n\r\n");
    TRY(c, simple(c, req, &s));
    CHECK(c, c->r.status == 431);
    TRY(c, sk_expect_eof(c, s));
    /* Many small headers that add up to more than the limit. */
    n = snprintf(req, sizeof(req), "GET /hello HTTP/1.1\r\n");
    for (int i = 0; i < 12; i++)
        n += snprintf(req + n, sizeof(req) - (size_t)n, "X-H%d: %0400d\r\n", i, i);
    snprintf(req + n, sizeof(req) - (size_t)n, "\r\n");
    TRY(c, simple(c, req, &s));
    CHECK(c, c->r.status == 431);
    /* A URL over max_url_bytes (512) → 414. */
    n = snprintf(req, sizeof(req), "GET /hello?");
    memset(req + n, 'u', 600);
    snprintf(req + n + 600, sizeof(req) - (size_t)n - 600, " HTTP/1.1\r\nHost: t\r\n\r\n");
    TRY(c, simple(c, req, &s));
    CHECK(c, c->r.status == 414);
    TRY(c, sk_expect_eof(c, s));
    /* A URL just under the limit is fine. */
    n = snprintf(req, sizeof(req), "GET /query?");
    memset(req + n, 'u', 500);
    snprintf(req + n + 500, sizeof(req) - (size_t)n - 500, " HTTP/1.1\r\nHost: t\r\n\r\n");
    TRY(c, simple(c, req, NULL));
    CHECK(c, c->r.status == 200 && c->r.body_len == 502);
    /* 17 header fields with max_headers 16 → 431; 16 are fine. */
    for (int count = 16; count <= 17; count++) {
        n = snprintf(req, sizeof(req), "GET /hello HTTP/1.1\r\n");
        for (int i = 0; i < count; i++)
            n += snprintf(req + n, sizeof(req) - (size_t)n, "X-%d: v\r\n", i);
        snprintf(req + n, sizeof(req) - (size_t)n, "\r\n");
        TRY(c, simple(c, req, NULL));
        if (c->r.status != (count == 16 ? 200 : 431)) {
            cfail(c, "%d headers: status %d", count, c->r.status);
            return;
        }
    }
}

static void test_head_limits(void **state)
{
    (void)state;
    run_client(cl_head_limits);
    assert_int_equal(count_done("/hello", 200), 1);
    assert_int_equal(count_done("/query", 200), 1);
}

static void cl_garbage(struct client *c)
{
    static const char *bad[] = {
        "GET / HTTP/1.1\r\nHost t\r\n\r\n",              /* header without a colon */
        "GET /a b c HTTP/1.1\r\n\r\n",                   /* junk in the request line */
        "GET / HTTP/1.1\r\nHost: t\r\nContent-Length: x\r\n\r\n",
        "GET / HTTP/1.1\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n",
        "GET http://evil.example/ HTTP/1.1\r\nHost: t\r\n\r\n", /* absolute-form */
        "GET /%00x HTTP/1.1\r\nHost: t\r\n\r\n",                /* NUL in the path */
        "GET / HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
    };
    struct sock *s;

    for (size_t i = 0; i < TD_ARRAY_LEN(bad); i++) {
        TRY(c, simple(c, bad[i], &s));
        if (c->r.status != 400) {
            cfail(c, "bad request %zu: status %d, wanted 400", i, c->r.status);
            return;
        }
        TRY(c, sk_expect_eof(c, s));
    }
}

static void test_garbage(void **state)
{
    (void)state;
    run_client(cl_garbage);
}

static void cl_binary_garbage(struct client *c)
{
    /* The start of a TLS ClientHello sent to the plain port: not a method
     * token at all, so RFC 9112 §3 asks for 400, not 501. */
    static const char hello[] = "\x16\x03\x01\x00\xa5\x01\x00\x00\xa1\x03\x03\r\n\r\n";
    struct sock *s = cl_connect(c);

    CHECK(c, s != NULL);
    TRY(c, sk_send(c, s, hello, sizeof(hello) - 1));
    TRY(c, sk_read_response(c, s, &c->r, false));
    if (c->r.status != 400) {
        cfail(c, "TLS bytes on the plain port: status %d, wanted 400", c->r.status);
        return;
    }
    TRY(c, sk_expect_eof(c, s));
}

static void test_binary_garbage(void **state)
{
    (void)state;
    /* FAILS against the current src/http/http_server.c: map_parser_error()
     * turns every HPE_INVALID_METHOD into 501, including bytes that are no
     * method token at all. See the report. */
    run_client(cl_binary_garbage);
}

static void cl_unknown_method(struct client *c)
{
    struct sock *s;

    /* A well-formed but unknown method: 501 is right here (RFC 9110 §9.1). */
    TRY(c, simple(c, "FROB / HTTP/1.1\r\nHost: t\r\n\r\n", &s));
    CHECK(c, c->r.status == 501 || c->r.status == 400);
    TRY(c, sk_expect_eof(c, s));
}

static void test_unknown_method(void **state)
{
    (void)state;
    run_client(cl_unknown_method);
}

/* ---- tests: timeouts ---- */

static void cl_header_timeout(struct client *c)
{
    struct timespec t0, t1;
    struct sock *s = cl_connect(c);
    double secs;

    CHECK(c, s != NULL);
    clock_gettime(CLOCK_MONOTONIC, &t0);
    TRY(c, sk_sends(c, s, "GET /hello HTTP/1.1\r\nHost: t\r\n")); /* head never ends */
    TRY(c, sk_read_response(c, s, &c->r, false));
    clock_gettime(CLOCK_MONOTONIC, &t1);
    CHECK(c, c->r.status == 408);
    TRY(c, sk_expect_eof(c, s));
    secs = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
    CHECK(c, secs >= 0.15 && secs < 5.0);
    /* A body that stops short: body timeout. */
    s = cl_connect(c);
    CHECK(c, s != NULL);
    TRY(c, sk_sends(c, s, "POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 10\r\n\r\nabc"));
    TRY(c, sk_read_response(c, s, &c->r, false));
    CHECK(c, c->r.status == 408);
    TRY(c, sk_expect_eof(c, s));
    /* Connected, silent: closed without an answer. */
    s = cl_connect(c);
    CHECK(c, s != NULL);
    TRY(c, sk_expect_eof(c, s));
    /* Idle keep-alive connection: closed silently after the idle timeout. */
    TRY(c, simple(c, "GET /hello HTTP/1.1\r\nHost: t\r\n\r\n", &s));
    CHECK(c, c->r.status == 200);
    TRY(c, sk_expect_eof(c, s));
}

static void test_timeouts(void **state)
{
    struct http_limits l = default_limits();

    (void)state;
    l.header_timeout_ms = 200;
    l.body_timeout_ms = 200;
    l.idle_timeout_ms = 200;
    http_server_set_limits(fx.srv, &l);
    run_client(cl_header_timeout);
    /* The path of a request whose head never ended is not known yet. */
    assert_int_equal(count_status(408), 2);
    assert_int_equal(count_done("/echo", 408), 1);
    assert_int_equal(count_done("/hello", 200), 1);
}

/* ---- tests: deferred answers and orphans ---- */

static void cl_async(struct client *c)
{
    struct sock *s = cl_connect(c);

    CHECK(c, s != NULL);
    TRY(c, sk_sends(c, s, "GET /async?one HTTP/1.1\r\nHost: t\r\n\r\n"));
    TRY(c, sk_read_response(c, s, &c->r, false));
    CHECK(c, c->r.status == 200 && strcmp(c->r.body, "async one") == 0);
    TRY(c, sk_sends(c, s, "GET /hello HTTP/1.1\r\nHost: t\r\n\r\n"));
    TRY(c, sk_read_response(c, s, &c->r, false));
    CHECK(c, strcmp(c->r.body, "hello") == 0);
}

static void test_async(void **state)
{
    (void)state;
    run_client(cl_async);
    assert_int_equal(count_done("/async", 200), 1);
    assert_int_equal(fx.orphans_seen, 0);
}

static void cl_disconnect_pending(struct client *c)
{
    struct sock *s = cl_connect(c);
    struct sock *s2;

    CHECK(c, s != NULL);
    TRY(c, sk_sends(c, s, "GET /async?gone HTTP/1.1\r\nHost: t\r\n\r\n"));
    usleep(10000);
    cl_close(c, s, false); /* FIN while the answer is pending */
    s2 = cl_connect(c);
    CHECK(c, s2 != NULL);
    TRY(c, sk_sends(c, s2, "GET /async?rst HTTP/1.1\r\nHost: t\r\n\r\n"));
    usleep(10000);
    cl_close(c, s2, true); /* RST */
}

static void test_disconnect_pending(void **state)
{
    (void)state;
    run_client(cl_disconnect_pending);
    /* Both answered exactly once (to a dead socket or as orphans), and both
     * connections go away. */
    assert_int_equal(count_done("/async", 200), 2);
    assert_int_equal(fx.ndone, 2);
    assert_true(run_until(no_conns, 10000));
    assert_int_equal(http_server_inflight(fx.srv), 0);
}

static void cl_orphan(struct client *c)
{
    struct sock *s = cl_connect(c);

    CHECK(c, s != NULL);
    TRY(c, sk_sends(c, s, "GET /orphan HTTP/1.1\r\nHost: t\r\n\r\n"));
    TRY(c, sk_expect_eof(c, s)); /* the server closed it under the request */
}

static void test_orphan(void **state)
{
    (void)state;
    run_client(cl_orphan);
    assert_int_equal(fx.orphans_seen, 1);
    assert_int_equal(count_done("/orphan", 200), 1);
    assert_int_equal(fx.ndone, 1);
    assert_true(run_until(no_conns, 10000));
}

/* ---- tests: WebSocket ---- */

static void cl_ws_echo(struct client *c)
{
    struct sock *s = cl_connect(c);
    uint8_t buf[512];
    char big[300];
    size_t n;
    int op;

    CHECK(c, s != NULL);
    TRY(c, ws_handshake(c, s));
    TRY(c, ws_send_frame(c, s, 1, "hello ws", 8));
    TRY(c, ws_read_frame(c, s, &op, buf, sizeof(buf), &n));
    CHECK(c, op == 1 && n == 8 && memcmp(buf, "hello ws", 8) == 0);
    /* Binary, 16-bit length. */
    memset(big, 0xab, sizeof(big));
    TRY(c, ws_send_frame(c, s, 2, big, sizeof(big)));
    TRY(c, ws_read_frame(c, s, &op, buf, sizeof(buf), &n));
    CHECK(c, op == 2 && n == sizeof(big) && memcmp(buf, big, n) == 0);
    /* Ping → pong with the same payload (RFC 6455 §5.5.3). */
    TRY(c, ws_send_frame(c, s, 9, "pp", 2));
    TRY(c, ws_read_frame(c, s, &op, buf, sizeof(buf), &n));
    CHECK(c, op == 10 && n == 2 && memcmp(buf, "pp", 2) == 0);
    /* Close 1000 → close echoed, then the TCP connection ends. */
    TRY(c, ws_send_frame(c, s, 8, "\x03\xe8" "bye", 5));
    TRY(c, ws_read_frame(c, s, &op, buf, sizeof(buf), &n));
    CHECK(c, op == 8 && n >= 2 && buf[0] == 0x03 && buf[1] == 0xe8);
    TRY(c, sk_expect_eof(c, s));
}

static bool ws0_closed(void)
{
    return fx.nws > 0 && fx.ws[0].closed;
}

static void test_ws_echo(void **state)
{
    (void)state;
    run_client(cl_ws_echo);
    assert_true(run_until(ws0_closed, 10000));
    assert_int_equal(fx.nws, 1);
    assert_int_equal(fx.ws[0].nmsg, 2);
    assert_int_equal(fx.ws[0].close_code, 1000);
    assert_int_equal(count_done("/ws", 101), 1);
    assert_int_equal(fx.ndone, 1);
    assert_true(run_until(no_conns, 10000));
}

static void cl_ws_abrupt(struct client *c)
{
    struct sock *s = cl_connect(c);
    uint8_t buf[64];
    size_t n;
    int op;

    CHECK(c, s != NULL);
    TRY(c, ws_handshake(c, s));
    TRY(c, ws_send_frame(c, s, 1, "x", 1));
    TRY(c, ws_read_frame(c, s, &op, buf, sizeof(buf), &n));
    cl_close(c, s, false); /* no close frame */
}

static void test_ws_abrupt(void **state)
{
    (void)state;
    run_client(cl_ws_abrupt);
    assert_true(run_until(ws0_closed, 10000));
    assert_int_equal(fx.ws[0].close_code, 1006);
    assert_true(run_until(no_conns, 10000));
}

static void cl_ws_protocol_error(struct client *c)
{
    struct sock *s = cl_connect(c);
    static const uint8_t unmasked[] = {0x81, 0x02, 'h', 'i'};
    uint8_t buf[64];
    size_t n;
    int op;

    CHECK(c, s != NULL);
    TRY(c, ws_handshake(c, s));
    /* An unmasked client frame is a protocol error (RFC 6455 §5.1): 1002. */
    TRY(c, sk_send(c, s, unmasked, sizeof(unmasked)));
    TRY(c, ws_read_frame(c, s, &op, buf, sizeof(buf), &n));
    CHECK(c, op == 8 && n >= 2 && ((buf[0] << 8) | buf[1]) == 1002);
}

static void test_ws_protocol_error(void **state)
{
    (void)state;
    run_client(cl_ws_protocol_error);
    /* The server waits for our close answer, or the conn ends at teardown. */
    assert_int_equal(fx.ws[0].nmsg, 0);
}

/* Handshake and frames in one write (a client that does not wait). */
static void ws_pipelined(struct client *c, const char *path, bool with_close)
{
    static const uint8_t early[] = {0x81, 0x85, 1, 2, 3, 4, 'e' ^ 1, 'a' ^ 2, 'r' ^ 3, 'l' ^ 4,
                                    'y' ^ 1};
    static const uint8_t close1000[] = {0x88, 0x82, 1, 2, 3, 4, 0x03 ^ 1, 0xe8 ^ 2};
    char req[512];
    int n = snprintf(req, sizeof(req),
                     "GET %s HTTP/1.1\r\nHost: t\r\nUpgrade: websocket\r\n"
                     "Connection: Upgrade\r\nSec-WebSocket-Key: " RFC_KEY "\r\n"
                     "Sec-WebSocket-Version: 13\r\n\r\n",
                     path);
    struct sock *s = cl_connect(c);
    uint8_t buf[64];
    size_t len;
    int op;

    CHECK(c, s != NULL);
    memcpy(req + n, early, sizeof(early));
    n += (int)sizeof(early);
    if (with_close) {
        memcpy(req + n, close1000, sizeof(close1000));
        n += (int)sizeof(close1000);
    }
    TRY(c, sk_send(c, s, req, (size_t)n));
    TRY(c, sk_read_response(c, s, &c->r, true));
    CHECK(c, c->r.status == 101);
    TRY(c, ws_read_frame(c, s, &op, buf, sizeof(buf), &len));
    if (op != 1) {
        cfail(c, "first frame after the handshake has opcode %d, wanted the echo of "
                 "\"early\"", op);
        return;
    }
    CHECK(c, len == 5 && memcmp(buf, "early", 5) == 0);
    if (!with_close)
        TRY(c, ws_send_frame(c, s, 8, "\x03\xe8", 2));
    TRY(c, ws_read_frame(c, s, &op, buf, sizeof(buf), &len));
    CHECK(c, op == 8);
    TRY(c, sk_expect_eof(c, s));
}

static void cl_ws_pipelined(struct client *c)
{
    ws_pipelined(c, "/ws", false);
}

static void test_ws_pipelined(void **state)
{
    (void)state;
    run_client(cl_ws_pipelined);
    assert_true(run_until(ws0_closed, 10000));
    assert_int_equal(fx.ws[0].nmsg, 1);
    assert_int_equal(fx.ws[0].msg_during_upgrade, 0);
    assert_int_equal(fx.ws[0].close_code, 1000);
}

static void cl_ws_pipelined_close(struct client *c)
{
    ws_pipelined(c, "/ws", true);
}

static void test_ws_pipelined_close(void **state)
{
    (void)state;
    /* FAILS against the current src/http/ws.c: a message echoed with
     * ws_send() (which returns TD_OK) from on_message is never sent when
     * the peer's close frame arrives in the same ws_feed(): the close reply
     * goes first and wslay then drops the queued data frame, although ws.h
     * says a frame sent inside a callback "is queued and sent when the outer
     * ws_feed() returns". See the report. */
    run_client(cl_ws_pipelined_close);
    assert_true(run_until(ws0_closed, 10000));
    assert_int_equal(fx.ws[0].nmsg, 1);
    assert_int_equal(fx.ws[0].send_rc, TD_OK);
    assert_int_equal(fx.ws_returned_after_close, 0);
}

static void cl_ws_deferred(struct client *c)
{
    ws_pipelined(c, "/ws-async", false);
}

static void test_ws_deferred_upgrade(void **state)
{
    (void)state;
    /* FAILS against the current src/http/http_server.c: when the upgrade is
     * answered later (from a timer, as after an auth lookup), finish() calls
     * drive() with nothing on the stack, so bytes already received are fed
     * to the ws inside http_ws_upgrade(): on_message runs before the
     * application has the ws pointer and cannot answer. See the report. */
    run_client(cl_ws_deferred);
    assert_true(run_until(ws0_closed, 10000));
    assert_int_equal(fx.ws[0].msg_during_upgrade, 0);
    assert_int_equal(fx.ws[0].nmsg, 1);
}

static void cl_ws_refused(struct client *c)
{
    struct sock *s;

    TRY(c, simple(c,
                  "GET /ws HTTP/1.1\r\nHost: t\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                  "Sec-WebSocket-Key: " RFC_KEY "\r\nSec-WebSocket-Version: 8\r\n\r\n",
                  &s));
    CHECK(c, c->r.status == 400);
    CHECK(c, resp_header(&c->r, "Sec-WebSocket-Version") && strcmp(c->r.hval, "13") == 0);
    TRY(c, sk_expect_eof(c, s)); /* after a refused upgrade the rest is not HTTP */
    TRY(c, simple(c,
                  "GET /ws HTTP/1.1\r\nHost: t\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                  "Sec-WebSocket-Key: c2hvcnQ=\r\nSec-WebSocket-Version: 13\r\n\r\n",
                  NULL));
    CHECK(c, c->r.status == 400); /* key not 16 bytes of base64 */
    TRY(c, simple(c, "GET /ws HTTP/1.1\r\nHost: t\r\n\r\n", &s));
    CHECK(c, c->r.status == 426);
    CHECK(c, resp_header(&c->r, "Upgrade") && strcasecmp(c->r.hval, "websocket") == 0);
    /* A plain GET keeps its connection. */
    TRY(c, sk_sends(c, s, "GET /hello HTTP/1.1\r\nHost: t\r\n\r\n"));
    TRY(c, sk_read_response(c, s, &c->r, false));
    CHECK(c, strcmp(c->r.body, "hello") == 0);
}

static void test_ws_refused(void **state)
{
    (void)state;
    run_client(cl_ws_refused);
    assert_int_equal(count_done("/ws", 400), 2);
    assert_int_equal(count_done("/ws", 426), 1);
    assert_int_equal(count_done("/hello", 200), 1);
    assert_int_equal(fx.ndone, 4);
}

static void cl_ws_open(struct client *c)
{
    struct sock *s = cl_connect(c);

    CHECK(c, s != NULL);
    TRY(c, ws_handshake(c, s));
    /* Leave it open: the server's shutdown must close it. */
    c->kept_fd = cl_detach(c, s);
}

static void test_ws_shutdown(void **state)
{
    int fd;
    char b[64];
    ssize_t n;

    (void)state;
    run_client(cl_ws_open);
    fd = fx.cl.kept_fd;
    assert_true(fd >= 0);
    assert_int_equal(fx.nws, 1);
    assert_false(fx.ws[0].closed);
    http_server_shutdown(fx.srv, fx.lis);
    assert_true(run_until(ws0_closed, 10000));
    assert_int_equal(fx.ws[0].close_code, 1006);
    assert_true(run_until(no_conns, 10000));
    n = recv(fd, b, sizeof(b), 0);
    assert_true(n == 0 || (n < 0 && errno == ECONNRESET));
    close(fd);
}

/* ---- tests: streaming answers ---- */

/* The body so far up to EOF (the server ends it). */
static int sk_read_to_eof(struct client *c, struct sock *s)
{
    ssize_t n;

    while ((n = sk_fill(s)) > 0)
        ;
    if (n < 0)
        return cfail(c, "no EOF after the stream: %s", strerror(errno));
    return 0;
}

static void cl_stream(struct client *c)
{
    struct sock *s = cl_connect(c);

    CHECK(c, s != NULL);
    TRY(c, sk_sends(c, s, "GET /sse HTTP/1.1\r\nHost: t\r\n\r\n"));
    TRY(c, sk_read_response(c, s, &c->r, true));
    CHECK(c, c->r.status == 200);
    CHECK(c, resp_header(&c->r, "Content-Length") == NULL);
    CHECK(c, resp_header(&c->r, "Transfer-Encoding") && strcmp(c->r.hval, "chunked") == 0);
    CHECK(c, resp_header(&c->r, "Content-Type") &&
                 strcmp(c->r.hval, "text/event-stream") == 0);
    CHECK(c, resp_header(&c->r, "Cache-Control") != NULL);
    /* RFC 9112 §7.1: each write is one chunk, then the last chunk. */
    TRY(c, sk_read_to_eof(c, s));
    CHECK(c, s->len == 28);
    CHECK(c, memcmp(s->buf, "6\r\nfirst\n\r\n7\r\nsecond\n\r\n0\r\n\r\n", 28) == 0);

    /* HTTP/1.0 has no chunks: the body ends with the connection. */
    s = cl_connect(c);
    CHECK(c, s != NULL);
    TRY(c, sk_sends(c, s, "GET /sse HTTP/1.0\r\n\r\n"));
    TRY(c, sk_read_response(c, s, &c->r, true));
    CHECK(c, c->r.status == 200);
    CHECK(c, resp_header(&c->r, "Transfer-Encoding") == NULL);
    CHECK(c, resp_header(&c->r, "Connection") && strcmp(c->r.hval, "close") == 0);
    TRY(c, sk_read_to_eof(c, s));
    CHECK(c, s->len == 13 && memcmp(s->buf, "first\nsecond\n", 13) == 0);

    /* HEAD: the head alone, no stream. */
    TRY(c, simple(c, "HEAD /sse HTTP/1.1\r\nHost: t\r\n\r\n", NULL));
    CHECK(c, c->r.status == 200 && c->r.body_len == 0);
}

static bool stream_timer_off(void)
{
    return !fx.stream_timer_on && no_conns();
}

static void test_stream(void **state)
{
    (void)state;
    run_client(cl_stream);
    assert_true(run_until(stream_timer_off, 10000));
    assert_int_equal(count_done("/sse", 200), 3);
    assert_int_equal(fx.stream_null, 1); /* the HEAD */
    assert_int_equal(fx.stream_gone, 0); /* ended by the server: not "gone" */
    assert_int_equal(http_server_inflight(fx.srv), 0);
}

/* Read the head and the first chunk, then hand the socket back. */
static void cl_stream_hold(struct client *c)
{
    struct sock *s = cl_connect(c);

    CHECK(c, s != NULL);
    TRY(c, sk_sends(c, s, "GET /sse-hold HTTP/1.1\r\nHost: t\r\n\r\n"));
    TRY(c, sk_read_response(c, s, &c->r, true));
    CHECK(c, c->r.status == 200);
    TRY(c, sk_need(c, s, 11));
    CHECK(c, memcmp(s->buf, "6\r\nfirst\n\r\n", 11) == 0);
    /* Bytes after the request are ignored, not parsed as a request. */
    TRY(c, sk_sends(c, s, "GET /hello HTTP/1.1\r\n\r\n"));
    c->kept_fd = cl_detach(c, s);
}

static bool stream_is_gone(void)
{
    return fx.stream_gone > 0;
}

static void test_stream_peer_gone(void **state)
{
    (void)state;
    run_client(cl_stream_hold);
    assert_non_null(fx.stream);
    assert_true(fx.cl.kept_fd >= 0);
    close(fx.cl.kept_fd);
    assert_true(run_until(stream_is_gone, 10000));
    assert_int_equal(fx.stream_gone, 1);
    assert_null(fx.stream);
    assert_true(run_until(no_conns, 10000));
    assert_int_equal(count_done("/hello", 200), 0);
}

static void test_stream_slow_reader(void **state)
{
    char block[1024];
    int rc = TD_OK;
    int writes = 0;

    (void)state;
    memset(block, 'x', sizeof(block));
    run_client(cl_stream_hold);
    assert_non_null(fx.stream);
    /* The loop does not run meanwhile, so nothing drains: the queue passes
     * the 4096-byte cap within a few writes and the reader is dropped. */
    while (fx.stream && writes < 100) {
        rc = http_stream_write(fx.stream, block, sizeof(block));
        writes++;
    }
    assert_int_equal(rc, TD_ELIMIT);
    assert_true(writes <= 5);
    assert_int_equal(fx.stream_gone, 1);
    assert_true(run_until(no_conns, 10000));
    close(fx.cl.kept_fd);
}

static void test_stream_shutdown(void **state)
{
    (void)state;
    run_client(cl_stream_hold);
    assert_non_null(fx.stream);
    http_server_shutdown(fx.srv, fx.lis);
    assert_true(run_until(stream_is_gone, 10000));
    assert_true(run_until(no_conns, 10000));
    close(fx.cl.kept_fd);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_simple_get, setup, teardown),
        cmocka_unit_test_setup_teardown(test_keep_alive, setup, teardown),
        cmocka_unit_test_setup_teardown(test_http10, setup, teardown),
        cmocka_unit_test_setup_teardown(test_pipelined, setup, teardown),
        cmocka_unit_test_setup_teardown(test_chunked_post, setup, teardown),
        cmocka_unit_test_setup_teardown(test_head, setup, teardown),
        cmocka_unit_test_setup_teardown(test_redirect_headers, setup, teardown),
        cmocka_unit_test_setup_teardown(test_request_id, setup, teardown),
        cmocka_unit_test_setup_teardown(test_body_too_big, setup, teardown),
        cmocka_unit_test_setup_teardown(test_head_limits, setup, teardown),
        cmocka_unit_test_setup_teardown(test_garbage, setup, teardown),
        cmocka_unit_test_setup_teardown(test_binary_garbage, setup, teardown),
        cmocka_unit_test_setup_teardown(test_unknown_method, setup, teardown),
        cmocka_unit_test_setup_teardown(test_timeouts, setup, teardown),
        cmocka_unit_test_setup_teardown(test_async, setup, teardown),
        cmocka_unit_test_setup_teardown(test_disconnect_pending, setup, teardown),
        cmocka_unit_test_setup_teardown(test_orphan, setup, teardown),
        cmocka_unit_test_setup_teardown(test_ws_echo, setup, teardown),
        cmocka_unit_test_setup_teardown(test_ws_abrupt, setup, teardown),
        cmocka_unit_test_setup_teardown(test_ws_protocol_error, setup, teardown),
        cmocka_unit_test_setup_teardown(test_ws_pipelined, setup, teardown),
        cmocka_unit_test_setup_teardown(test_ws_pipelined_close, setup, teardown),
        cmocka_unit_test_setup_teardown(test_ws_deferred_upgrade, setup, teardown),
        cmocka_unit_test_setup_teardown(test_ws_refused, setup, teardown),
        cmocka_unit_test_setup_teardown(test_ws_shutdown, setup, teardown),
        cmocka_unit_test_setup_teardown(test_stream, setup, teardown),
        cmocka_unit_test_setup_teardown(test_stream_peer_gone, setup, teardown),
        cmocka_unit_test_setup_teardown(test_stream_slow_reader, setup, teardown),
        cmocka_unit_test_setup_teardown(test_stream_shutdown, setup, teardown),
    };

    signal(SIGPIPE, SIG_IGN);
    log_setup(stderr, LOG_ERR);
    return cmocka_run_group_tests(tests, NULL, NULL);
}
