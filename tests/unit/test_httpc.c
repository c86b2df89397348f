/* SPDX-License-Identifier: MIT */
/* Unit tests for net/httpc against a real HTTP/1.1 server on 127.0.0.1,
 * port 0, written with libuv in the same loop. The server answers one request
 * per connection and closes it (Connection: close). Paths:
 *   /hello    200 "hello", text/plain
 *   /big      200, 1 MiB with Content-Length
 *   /stream   200, 1 MiB without Content-Length (ends at close)
 *   /bighdr   200 with ~80 KiB of header lines
 *   /slow     never answers
 *   /echo     200 echoing the body; X-Method names the method
 *   /hdr      200 echoing the X-Test request header
 *   /close    closes without answering
 *   /redirect 302 to /hello
 *   other     404 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include <cmocka.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#include "core/buf.h"
#include "core/err.h"
#include "net/httpc.h"

#define BIG_LEN (1024u * 1024)

/* ---- the test server --------------------------------------------------- */

struct srv;

struct sconn {
    uv_tcp_t tcp;
    struct srv *srv;
    struct sconn *prev, *next;
    struct buf in;
    bool done;    /* a request was dispatched */
    bool closing;
};

struct srv {
    uv_tcp_t listener;
    int port;
    struct sconn *conns;
    int nreq;        /* requests dispatched */
    char last_path[64];
};

struct wreq {
    uv_write_t req;
    struct sconn *c;
    char *data;
};

static void sconn_closed(uv_handle_t *handle)
{
    struct sconn *c = handle->data;

    buf_free(&c->in);
    free(c);
}

static void sconn_close(struct sconn *c)
{
    struct srv *s = c->srv;

    if (c->closing)
        return;
    c->closing = true;
    if (c->prev)
        c->prev->next = c->next;
    else
        s->conns = c->next;
    if (c->next)
        c->next->prev = c->prev;
    uv_read_stop((uv_stream_t *)&c->tcp);
    uv_close((uv_handle_t *)&c->tcp, sconn_closed);
}

static void on_written(uv_write_t *req, int status)
{
    struct wreq *w = td_container_of(req, struct wreq, req);

    (void)status;
    sconn_close(w->c);
    free(w->data);
    free(w);
}

/* Send head (status line + headers, without the blank line) and body, then close. */
static void respond(struct sconn *c, const char *head, const char *body, size_t body_len,
                    bool with_length)
{
    struct buf out;
    struct wreq *w;
    uv_buf_t b;

    buf_init(&out, 0);
    buf_appends(&out, head);
    buf_appends(&out, "Connection: close\r\n");
    if (with_length)
        buf_printf(&out, "Content-Length: %zu\r\n", body_len);
    buf_appends(&out, "\r\n");
    buf_append(&out, body, body_len);
    w = td_calloc(1, sizeof(*w));
    w->c = c;
    b.len = out.len;
    w->data = buf_steal(&out, NULL);
    b.base = w->data;
    uv_write(&w->req, (uv_stream_t *)&c->tcp, &b, 1, on_written);
}

/* Value of header name in the head block, copied into out (cap outsz). */
static bool find_header(const char *head, const char *name, char *out, size_t outsz)
{
    size_t n = strlen(name);
    const char *p = strstr(head, "\r\n");

    while (p && p[2] != '\r') {
        p += 2;
        if (strncasecmp(p, name, n) == 0 && p[n] == ':') {
            const char *v = p + n + 1;
            const char *e = strstr(v, "\r\n");

            while (*v == ' ')
                v++;
            snprintf(out, outsz, "%.*s", (int)(e - v), v);
            return true;
        }
        p = strstr(p, "\r\n");
    }
    return false;
}

static void dispatch(struct sconn *c, const char *method, const char *path, const char *head,
                     const char *body, size_t body_len)
{
    struct srv *s = c->srv;
    char val[128];
    struct buf tmp;

    c->done = true;
    s->nreq++;
    snprintf(s->last_path, sizeof(s->last_path), "%s", path);
    buf_init(&tmp, 0);
    if (strcmp(path, "/hello") == 0) {
        respond(c, "HTTP/1.1 200 OK\r\nContent-Type: text/plain; charset=utf-8\r\n", "hello", 5,
                true);
    } else if (strcmp(path, "/big") == 0 || strcmp(path, "/stream") == 0) {
        char *big = malloc(BIG_LEN);

        memset(big, 'x', BIG_LEN);
        respond(c, "HTTP/1.1 200 OK\r\n", big, BIG_LEN, strcmp(path, "/big") == 0);
        free(big);
    } else if (strcmp(path, "/bighdr") == 0) {
        buf_appends(&tmp, "HTTP/1.1 200 OK\r\n");
        for (int i = 0; i < 20; i++) {
            buf_printf(&tmp, "X-Pad-%d: ", i);
            for (int j = 0; j < 4000; j++)
                buf_putc(&tmp, 'p');
            buf_appends(&tmp, "\r\n");
        }
        respond(c, tmp.data, "ok", 2, true);
    } else if (strcmp(path, "/slow") == 0) {
        /* never answer */
    } else if (strcmp(path, "/echo") == 0) {
        buf_printf(&tmp, "HTTP/1.1 200 OK\r\nContent-Type: application/octet-stream\r\n"
                         "X-Method: %s\r\n", method);
        respond(c, tmp.data, body, body_len, true);
    } else if (strcmp(path, "/hdr") == 0) {
        if (!find_header(head, "X-Test", val, sizeof(val)))
            val[0] = '\0';
        respond(c, "HTTP/1.1 200 OK\r\n", val, strlen(val), true);
    } else if (strcmp(path, "/close") == 0) {
        sconn_close(c);
    } else if (strcmp(path, "/redirect") == 0) {
        respond(c, "HTTP/1.1 302 Found\r\nLocation: /hello\r\n", "moved", 5, true);
    } else {
        respond(c, "HTTP/1.1 404 Not Found\r\n", "no", 2, true);
    }
    buf_free(&tmp);
}

/* Parse one request once its head and Content-Length body are in. */
static void try_request(struct sconn *c)
{
    char *end = strstr(c->in.data, "\r\n\r\n");
    char method[16], path[64], val[32];
    size_t head_len, body_len = 0;

    if (!end || c->done)
        return;
    head_len = (size_t)(end - c->in.data) + 4;
    if (find_header(c->in.data, "Content-Length", val, sizeof(val)))
        body_len = strtoul(val, NULL, 10);
    if (c->in.len < head_len + body_len)
        return;
    if (sscanf(c->in.data, "%15s %63s", method, path) != 2) {
        sconn_close(c);
        return;
    }
    end[2] = '\0'; /* the head keeps its last CRLF */
    dispatch(c, method, path, c->in.data, c->in.data + head_len, body_len);
}

static void on_alloc(uv_handle_t *handle, size_t suggested, uv_buf_t *b)
{
    (void)handle;
    b->base = malloc(suggested);
    b->len = suggested;
}

static void on_read(uv_stream_t *stream, ssize_t n, const uv_buf_t *b)
{
    struct sconn *c = stream->data;

    if (n < 0) {
        sconn_close(c);
    } else if (n > 0 && !c->done) {
        /* A TLS ClientHello (record type 0x16) is not HTTP: hang up. */
        if (buf_append(&c->in, b->base, (size_t)n) != TD_OK || c->in.data[0] == 0x16)
            sconn_close(c);
        else
            try_request(c);
    }
    free(b->base);
}

static void on_connection(uv_stream_t *listener, int status)
{
    struct srv *s = listener->data;
    struct sconn *c;

    if (status < 0)
        return;
    c = td_calloc(1, sizeof(*c));
    c->srv = s;
    buf_init(&c->in, 4u * 1024 * 1024);
    uv_tcp_init(listener->loop, &c->tcp);
    c->tcp.data = c;
    c->next = s->conns;
    if (s->conns)
        s->conns->prev = c;
    s->conns = c;
    if (uv_accept(listener, (uv_stream_t *)&c->tcp) != 0) {
        sconn_close(c);
        return;
    }
    uv_read_start((uv_stream_t *)&c->tcp, on_alloc, on_read);
}

static int srv_start(struct srv *s, uv_loop_t *loop)
{
    struct sockaddr_in addr;
    struct sockaddr_storage got;
    int len = sizeof(got);

    memset(s, 0, sizeof(*s));
    uv_ip4_addr("127.0.0.1", 0, &addr);
    uv_tcp_init(loop, &s->listener);
    s->listener.data = s;
    if (uv_tcp_bind(&s->listener, (const struct sockaddr *)&addr, 0) != 0)
        return -1;
    if (uv_listen((uv_stream_t *)&s->listener, 64, on_connection) != 0)
        return -1;
    if (uv_tcp_getsockname(&s->listener, (struct sockaddr *)&got, &len) != 0)
        return -1;
    s->port = ntohs(((struct sockaddr_in *)&got)->sin_port);
    return 0;
}

static void srv_stop(struct srv *s)
{
    while (s->conns)
        sconn_close(s->conns);
    if (!uv_is_closing((uv_handle_t *)&s->listener))
        uv_close((uv_handle_t *)&s->listener, NULL);
}

/* ---- fixture ----------------------------------------------------------- */

struct result {
    int calls;
    int err;
    long status;
    char error[256];
    char ctype[128];
    bool has_ctype;
    struct buf body;
    struct buf headers;
};

struct fx {
    uv_loop_t loop;
    struct srv srv;
    struct httpc *h;
    uv_timer_t watchdog;
    bool expired;
    int done;             /* callbacks fired, over all results */
    struct result r[8];
    /* What some callbacks do on top of recording the result. */
    bool free_in_cb;
    bool chain_in_cb;
    int request_rc_in_cb; /* httpc_request() return seen inside a callback */
};

static struct fx *cur; /* for callbacks that need the fixture */

static void on_done(void *ud, const struct httpc_response *resp)
{
    struct result *r = ud;

    r->calls++;
    r->err = resp->err;
    r->status = resp->status;
    snprintf(r->error, sizeof(r->error), "%s", resp->error ? resp->error : "");
    r->has_ctype = resp->content_type != NULL;
    snprintf(r->ctype, sizeof(r->ctype), "%s", resp->content_type ? resp->content_type : "");
    buf_reset(&r->body);
    buf_reset(&r->headers);
    if (resp->body->len)
        buf_append(&r->body, resp->body->data, resp->body->len);
    if (resp->headers->len)
        buf_append(&r->headers, resp->headers->data, resp->headers->len);
    cur->done++;
}

static void on_watchdog(uv_timer_t *t)
{
    struct fx *f = t->data;

    f->expired = true;
}

/* Run the loop until n callbacks in total have fired, or 10 s pass. */
static void run_until(struct fx *f, int n)
{
    uv_timer_start(&f->watchdog, on_watchdog, 10000, 0);
    while (f->done < n && !f->expired)
        uv_run(&f->loop, UV_RUN_ONCE);
    uv_timer_stop(&f->watchdog);
    assert_false(f->expired);
}

static void url_for(struct fx *f, const char *path, char *out, size_t outsz)
{
    snprintf(out, outsz, "http://127.0.0.1:%d%s", f->srv.port, path);
}

static int setup(void **state)
{
    struct fx *f = calloc(1, sizeof(*f));

    if (!f || uv_loop_init(&f->loop) != 0)
        return -1;
    if (srv_start(&f->srv, &f->loop) != 0)
        return -1;
    uv_timer_init(&f->loop, &f->watchdog);
    f->watchdog.data = f;
    for (size_t i = 0; i < TD_ARRAY_LEN(f->r); i++) {
        buf_init(&f->r[i].body, 0);
        buf_init(&f->r[i].headers, 0);
    }
    if (httpc_new(&f->loop, "tandem-test/1", &f->h) != TD_OK)
        return -1;
    cur = f;
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fx *f = *state;
    int rc;

    httpc_free(f->h);
    srv_stop(&f->srv);
    uv_close((uv_handle_t *)&f->watchdog, NULL);
    uv_run(&f->loop, UV_RUN_DEFAULT);
    rc = uv_loop_close(&f->loop);
    for (size_t i = 0; i < TD_ARRAY_LEN(f->r); i++) {
        buf_free(&f->r[i].body);
        buf_free(&f->r[i].headers);
    }
    free(f);
    cur = NULL;
    return rc == 0 ? 0 : -1; /* every handle, httpc's included, was closed */
}

static int get(struct fx *f, const char *path, struct httpc_request *req, struct result *r)
{
    char url[128];

    url_for(f, path, url, sizeof(url));
    req->url = url;
    return httpc_request(f->h, req, on_done, r);
}

/* ---- tests ------------------------------------------------------------- */

static void test_get_hello(void **state)
{
    struct fx *f = *state;
    struct httpc_request req = {0};

    assert_int_equal(get(f, "/hello", &req, &f->r[0]), TD_OK);
    assert_int_equal(httpc_active(f->h), 1);
    assert_int_equal(f->r[0].calls, 0); /* never from inside httpc_request */
    run_until(f, 1);
    assert_int_equal(f->r[0].calls, 1);
    assert_int_equal(f->r[0].err, TD_OK);
    assert_int_equal(f->r[0].status, 200);
    assert_string_equal(f->r[0].body.data, "hello");
    assert_int_equal(f->r[0].body.len, 5);
    assert_true(f->r[0].has_ctype);
    assert_string_equal(f->r[0].ctype, "text/plain; charset=utf-8");
    assert_non_null(strstr(f->r[0].headers.data, "HTTP/1.1 200 OK\r\n"));
    assert_non_null(strstr(f->r[0].headers.data, "Content-Length: 5\r\n"));
    assert_int_equal(httpc_active(f->h), 0);
    assert_string_equal(f->srv.last_path, "/hello");
}

static void test_post_echo(void **state)
{
    struct fx *f = *state;
    char body[3000];
    struct httpc_request req = {.method = "POST", .body_len = sizeof(body)};

    for (size_t i = 0; i < sizeof(body); i++)
        body[i] = (char)(i * 7);
    req.body = body;
    assert_int_equal(get(f, "/echo", &req, &f->r[0]), TD_OK);
    memset(body, 0, sizeof(body)); /* the request holds its own copy */
    run_until(f, 1);
    assert_int_equal(f->r[0].err, TD_OK);
    assert_int_equal(f->r[0].status, 200);
    assert_int_equal(f->r[0].body.len, sizeof(body));
    for (size_t i = 0; i < sizeof(body); i++)
        assert_int_equal((unsigned char)f->r[0].body.data[i], (unsigned char)(i * 7));
    assert_non_null(strstr(f->r[0].headers.data, "X-Method: POST\r\n"));
    assert_string_equal(f->r[0].ctype, "application/octet-stream");
}

static void test_methods_and_headers(void **state)
{
    struct fx *f = *state;
    const char *hdrs[] = {"X-Test: abc 123", "Accept: */*", NULL};
    struct httpc_request put = {.method = "PUT", .body = "data", .body_len = 4};
    struct httpc_request empty_post = {.method = "POST"};
    struct httpc_request head = {.method = "HEAD"};
    struct httpc_request del = {.method = "DELETE"};
    struct httpc_request hdr = {.headers = hdrs};

    assert_int_equal(get(f, "/echo", &put, &f->r[0]), TD_OK);
    assert_int_equal(get(f, "/echo", &empty_post, &f->r[1]), TD_OK);
    assert_int_equal(get(f, "/hello", &head, &f->r[2]), TD_OK);
    assert_int_equal(get(f, "/echo", &del, &f->r[3]), TD_OK);
    assert_int_equal(get(f, "/hdr", &hdr, &f->r[4]), TD_OK);
    run_until(f, 5);
    assert_int_equal(f->r[0].err, TD_OK);
    assert_non_null(strstr(f->r[0].headers.data, "X-Method: PUT\r\n"));
    assert_string_equal(f->r[0].body.data, "data");
    assert_int_equal(f->r[1].err, TD_OK);
    assert_non_null(strstr(f->r[1].headers.data, "X-Method: POST\r\n"));
    assert_int_equal(f->r[1].body.len, 0);
    assert_int_equal(f->r[2].err, TD_OK);
    assert_int_equal(f->r[2].status, 200);
    assert_int_equal(f->r[2].body.len, 0); /* HEAD: no body read */
    assert_int_equal(f->r[3].err, TD_OK);
    assert_non_null(strstr(f->r[3].headers.data, "X-Method: DELETE\r\n"));
    assert_int_equal(f->r[4].err, TD_OK);
    assert_string_equal(f->r[4].body.data, "abc 123");
}

static void test_concurrent(void **state)
{
    struct fx *f = *state;
    struct httpc_request req = {0};

    for (int i = 0; i < 5; i++)
        assert_int_equal(get(f, "/hello", &req, &f->r[i]), TD_OK);
    assert_int_equal(httpc_active(f->h), 5);
    run_until(f, 5);
    for (int i = 0; i < 5; i++) {
        assert_int_equal(f->r[i].calls, 1);
        assert_int_equal(f->r[i].err, TD_OK);
        assert_string_equal(f->r[i].body.data, "hello");
    }
    assert_int_equal(f->srv.nreq, 5);
    assert_int_equal(httpc_active(f->h), 0);
}

static void test_big_body_ok(void **state)
{
    struct fx *f = *state;
    struct httpc_request req = {0};

    assert_int_equal(get(f, "/big", &req, &f->r[0]), TD_OK);
    assert_int_equal(get(f, "/stream", &req, &f->r[1]), TD_OK);
    run_until(f, 2);
    for (int i = 0; i < 2; i++) {
        assert_int_equal(f->r[i].err, TD_OK);
        assert_int_equal(f->r[i].body.len, BIG_LEN);
        assert_int_equal(f->r[i].body.data[BIG_LEN - 1], 'x');
    }
}

static void test_timeout(void **state)
{
    struct fx *f = *state;
    struct httpc_request req = {.timeout_ms = 200};
    uint64_t t0 = uv_now(&f->loop);

    assert_int_equal(get(f, "/slow", &req, &f->r[0]), TD_OK);
    run_until(f, 1);
    assert_int_equal(f->r[0].err, TD_EIO);
    assert_int_equal(f->r[0].status, 0);
    assert_true(strlen(f->r[0].error) > 0);
    assert_non_null(strstr(f->r[0].error, "timed out"));
    assert_true(uv_now(&f->loop) - t0 >= 150);
    assert_int_equal(f->srv.nreq, 1);
}

static void test_too_big(void **state)
{
    struct fx *f = *state;
    struct httpc_request req = {.max_response_bytes = 1000};

    /* With Content-Length (refused early) and without (write callback). */
    assert_int_equal(get(f, "/big", &req, &f->r[0]), TD_OK);
    assert_int_equal(get(f, "/stream", &req, &f->r[1]), TD_OK);
    req.max_response_bytes = 5; /* exactly fits */
    assert_int_equal(get(f, "/hello", &req, &f->r[2]), TD_OK);
    req.max_response_bytes = 4; /* one short */
    assert_int_equal(get(f, "/hello", &req, &f->r[3]), TD_OK);
    req.max_response_bytes = 0;
    assert_int_equal(get(f, "/bighdr", &req, &f->r[4]), TD_OK); /* header cap */
    run_until(f, 5);
    assert_int_equal(f->r[0].err, TD_ETOOBIG);
    assert_true(strlen(f->r[0].error) > 0);
    assert_int_equal(f->r[1].err, TD_ETOOBIG);
    assert_true(f->r[1].body.len <= 1000);
    assert_int_equal(f->r[2].err, TD_OK);
    assert_string_equal(f->r[2].body.data, "hello");
    assert_int_equal(f->r[3].err, TD_ETOOBIG);
    assert_int_equal(f->r[4].err, TD_ETOOBIG);
}

static void test_refused_and_closed(void **state)
{
    struct fx *f = *state;
    struct httpc_request req = {0};
    struct sockaddr_in sa = {.sin_family = AF_INET};
    socklen_t len = sizeof(sa);
    char url[128];
    int fd;

    /* A bound but not listening socket: connecting to it is refused. */
    fd = socket(AF_INET, SOCK_STREAM, 0);
    assert_true(fd >= 0);
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
    assert_int_equal(getsockname(fd, (struct sockaddr *)&sa, &len), 0);
    snprintf(url, sizeof(url), "http://127.0.0.1:%d/hello", ntohs(sa.sin_port));
    req.url = url;
    assert_int_equal(httpc_request(f->h, &req, on_done, &f->r[0]), TD_OK);
    assert_int_equal(get(f, "/close", &req, &f->r[1]), TD_OK);
    run_until(f, 2);
    close(fd);
    assert_int_equal(f->r[0].err, TD_EIO);
    assert_int_equal(f->r[0].status, 0);
    assert_true(strlen(f->r[0].error) > 0);
    assert_int_equal(f->r[1].err, TD_EIO);
    assert_true(strlen(f->r[1].error) > 0);
}

static void test_status_and_redirect(void **state)
{
    struct fx *f = *state;
    struct httpc_request req = {0};

    assert_int_equal(get(f, "/redirect", &req, &f->r[0]), TD_OK);
    assert_int_equal(get(f, "/nothing", &req, &f->r[1]), TD_OK);
    run_until(f, 2);
    assert_int_equal(f->r[0].err, TD_OK);
    assert_int_equal(f->r[0].status, 302); /* not followed */
    assert_string_equal(f->r[0].body.data, "moved");
    assert_non_null(strstr(f->r[0].headers.data, "Location: /hello\r\n"));
    assert_int_equal(f->r[1].err, TD_OK); /* HTTP errors are not transfer errors */
    assert_int_equal(f->r[1].status, 404);
    assert_false(f->r[1].has_ctype);
    assert_int_equal(f->srv.nreq, 2);
}

static void test_bad_requests(void **state)
{
    struct fx *f = *state;
    static const char *const urls[] = {
        "ftp://127.0.0.1/x", "file:///etc/passwd", "gopher://127.0.0.1/", "dict://x/",
        "HTTP//127.0.0.1/", "http://", "", "not a url", "/relative/path",
        "http://127.0.0.1/a b", "http://127.0.0.1/\r\nX: y", "javascript:alert(1)",
    };
    const char *crlf[] = {"X-A: b\r\nX-Injected: 1", NULL};
    const char *nocolon[] = {"X-A b", NULL};
    const char *noname[] = {": b", NULL};
    const char *many[HTTPC_MAX_REQ_HEADERS + 2];
    char longurl[HTTPC_MAX_URL_LEN + 32];
    char url[128];
    struct httpc_request req = {0};

    for (size_t i = 0; i < TD_ARRAY_LEN(urls); i++) {
        req.url = urls[i];
        assert_int_equal(httpc_request(f->h, &req, on_done, &f->r[0]), TD_EINVAL);
    }
    req.url = NULL;
    assert_int_equal(httpc_request(f->h, &req, on_done, &f->r[0]), TD_EINVAL);
    memset(longurl, 'a', sizeof(longurl) - 1);
    longurl[sizeof(longurl) - 1] = '\0';
    memcpy(longurl, "http://x/", 9);
    req.url = longurl;
    assert_int_equal(httpc_request(f->h, &req, on_done, &f->r[0]), TD_EINVAL);

    url_for(f, "/hello", url, sizeof(url));
    req.url = url;
    assert_int_equal(httpc_request(f->h, &req, NULL, NULL), TD_EINVAL);
    assert_int_equal(httpc_request(f->h, NULL, on_done, &f->r[0]), TD_EINVAL);
    req.method = "GE T";
    assert_int_equal(httpc_request(f->h, &req, on_done, &f->r[0]), TD_EINVAL);
    req.method = "";
    assert_int_equal(httpc_request(f->h, &req, on_done, &f->r[0]), TD_EINVAL);
    req.method = "GET\r\n";
    assert_int_equal(httpc_request(f->h, &req, on_done, &f->r[0]), TD_EINVAL);
    req.method = NULL;
    req.headers = crlf;
    assert_int_equal(httpc_request(f->h, &req, on_done, &f->r[0]), TD_EINVAL);
    req.headers = nocolon;
    assert_int_equal(httpc_request(f->h, &req, on_done, &f->r[0]), TD_EINVAL);
    req.headers = noname;
    assert_int_equal(httpc_request(f->h, &req, on_done, &f->r[0]), TD_EINVAL);
    for (size_t i = 0; i < HTTPC_MAX_REQ_HEADERS + 1; i++)
        many[i] = "X-Many: 1";
    many[HTTPC_MAX_REQ_HEADERS + 1] = NULL;
    req.headers = many;
    assert_int_equal(httpc_request(f->h, &req, on_done, &f->r[0]), TD_EINVAL);
    req.headers = NULL;
    req.body_len = 10; /* length without data */
    assert_int_equal(httpc_request(f->h, &req, on_done, &f->r[0]), TD_EINVAL);
    req.body_len = 0;
    req.timeout_ms = -1;
    assert_int_equal(httpc_request(f->h, &req, on_done, &f->r[0]), TD_EINVAL);
    req.timeout_ms = 0;

    assert_int_equal(httpc_active(f->h), 0);
    assert_int_equal(f->r[0].calls, 0);
    /* The client is still usable, and https is an allowed scheme. */
    req.headers = many + 1; /* exactly the maximum */
    assert_int_equal(httpc_request(f->h, &req, on_done, &f->r[0]), TD_OK);
    run_until(f, 1);
    assert_int_equal(f->r[0].err, TD_OK);
    req.headers = NULL;
    snprintf(url, sizeof(url), "https://127.0.0.1:%d/hello", f->srv.port);
    req.insecure = true;
    assert_int_equal(httpc_request(f->h, &req, on_done, &f->r[1]), TD_OK);
    run_until(f, 2);
    assert_int_equal(f->r[1].err, TD_EIO); /* the server speaks no TLS */
}

static void test_free_in_flight(void **state)
{
    struct fx *f = *state;
    struct httpc_request req = {0};

    assert_int_equal(get(f, "/slow", &req, &f->r[0]), TD_OK);
    assert_int_equal(get(f, "/slow", &req, &f->r[1]), TD_OK);
    uv_timer_start(&f->watchdog, on_watchdog, 10000, 0);
    while (f->srv.nreq < 2 && !f->expired)
        uv_run(&f->loop, UV_RUN_ONCE);
    uv_timer_stop(&f->watchdog);
    assert_int_equal(f->srv.nreq, 2);
    assert_int_equal(f->done, 0);

    httpc_free(f->h);
    for (int i = 0; i < 2; i++) {
        assert_int_equal(f->r[i].calls, 1);
        assert_int_equal(f->r[i].err, TD_ECLOSED);
        assert_true(strlen(f->r[i].error) > 0);
    }
    assert_int_equal(httpc_request(f->h, &req, on_done, &f->r[2]), TD_ECLOSED);
    httpc_free(f->h); /* second call is a no-op */
    assert_int_equal(f->r[0].calls, 1);
    f->h = NULL;      /* teardown's uv_run frees it; uv_loop_close checks */
}

/* Callback that frees the client from inside a completion. */
static void on_done_free(void *ud, const struct httpc_response *resp)
{
    struct httpc_request req = {.url = "http://127.0.0.1:1/"};

    on_done(ud, resp);
    httpc_free(cur->h);
    cur->request_rc_in_cb = httpc_request(cur->h, &req, on_done, &cur->r[7]);
}

static void test_free_from_callback(void **state)
{
    struct fx *f = *state;
    struct httpc_request req = {0};
    char url[128];

    assert_int_equal(get(f, "/slow", &req, &f->r[1]), TD_OK);
    url_for(f, "/hello", url, sizeof(url));
    req.url = url;
    assert_int_equal(httpc_request(f->h, &req, on_done_free, &f->r[0]), TD_OK);
    run_until(f, 2);
    assert_int_equal(f->r[0].err, TD_OK);
    assert_string_equal(f->r[0].body.data, "hello");
    assert_int_equal(f->r[1].calls, 1);
    assert_int_equal(f->r[1].err, TD_ECLOSED);
    assert_int_equal(f->request_rc_in_cb, TD_ECLOSED);
    assert_int_equal(f->r[7].calls, 0);
    f->h = NULL;
}

/* Callback that starts the next request from inside a completion. */
static void on_done_chain(void *ud, const struct httpc_response *resp)
{
    struct httpc_request req = {0};
    char url[128];

    on_done(ud, resp);
    if (cur->done < 3) {
        url_for(cur, "/hello", url, sizeof(url));
        req.url = url;
        cur->request_rc_in_cb = httpc_request(cur->h, &req, on_done_chain, &cur->r[cur->done]);
    }
}

static void test_chain_from_callback(void **state)
{
    struct fx *f = *state;
    struct httpc_request req = {0};
    char url[128];

    url_for(f, "/hello", url, sizeof(url));
    req.url = url;
    assert_int_equal(httpc_request(f->h, &req, on_done_chain, &f->r[0]), TD_OK);
    run_until(f, 3);
    assert_int_equal(f->request_rc_in_cb, TD_OK);
    for (int i = 0; i < 3; i++) {
        assert_int_equal(f->r[i].calls, 1);
        assert_string_equal(f->r[i].body.data, "hello");
    }
    assert_int_equal(httpc_active(f->h), 0);
}

static void test_free_idle(void **state)
{
    struct fx *f = *state;

    /* No request ever: the client still closes cleanly (teardown checks). */
    httpc_free(f->h);
    f->h = NULL;
    httpc_free(NULL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_get_hello, setup, teardown),
        cmocka_unit_test_setup_teardown(test_post_echo, setup, teardown),
        cmocka_unit_test_setup_teardown(test_methods_and_headers, setup, teardown),
        cmocka_unit_test_setup_teardown(test_concurrent, setup, teardown),
        cmocka_unit_test_setup_teardown(test_big_body_ok, setup, teardown),
        cmocka_unit_test_setup_teardown(test_timeout, setup, teardown),
        cmocka_unit_test_setup_teardown(test_too_big, setup, teardown),
        cmocka_unit_test_setup_teardown(test_refused_and_closed, setup, teardown),
        cmocka_unit_test_setup_teardown(test_status_and_redirect, setup, teardown),
        cmocka_unit_test_setup_teardown(test_bad_requests, setup, teardown),
        cmocka_unit_test_setup_teardown(test_free_in_flight, setup, teardown),
        cmocka_unit_test_setup_teardown(test_free_from_callback, setup, teardown),
        cmocka_unit_test_setup_teardown(test_chain_from_callback, setup, teardown),
        cmocka_unit_test_setup_teardown(test_free_idle, setup, teardown),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
