/* SPDX-License-Identifier: MIT */
/* In-process tests of net/conn with net/tls: real listeners on 127.0.0.1
 * port 0 in a libuv loop on the main thread, and a client thread using
 * plain blocking sockets and OpenSSL's ordinary SSL_connect. Covers direct
 * TLS with an echo protocol, STARTTLS mid-stream (RFC 6120 §5.4.3.3 style:
 * "STARTTLS" / "PROCEED", then the handshake), close_notify on conn_close,
 * a TLS listener fed plaintext, the output ceiling closing a peer that never
 * reads, max_conns_per_ip refusing the third connection, conn_close
 * flushing queued output before the socket closes, and corked output (one
 * write per conn per loop turn, in order, plain and TLS). The client thread
 * never calls cmocka: it records its first failure as text, and the main thread
 * asserts after joining it. */
#include "core/buf.h"
#include "core/err.h"
#include "core/log.h"
#include "net/conn.h"
#include "net/tls.h"

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
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/ssl.h>

#include <setjmp.h>
#include <stddef.h>

#include <cmocka.h>

/* ---- the client thread ---- */

#define CLIENT_TIMEOUT_S 10

struct client {
    int port;
    char fail[512];
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

#define CHECK(c, cond)                                                                   \
    do {                                                                                 \
        if (!(cond)) {                                                                   \
            cfail((c), "%s:%d: check failed: %s", __FILE__, __LINE__, #cond);            \
            goto out;                                                                    \
        }                                                                                \
    } while (0)

#define TRY(c, expr)                                                                     \
    do {                                                                                 \
        if ((expr) != 0) {                                                               \
            cfail((c), "%s:%d: %s failed", __FILE__, __LINE__, #expr);                   \
            goto out;                                                                    \
        }                                                                                \
    } while (0)

static int tcp_connect(struct client *c, int port)
{
    struct sockaddr_in sin;
    struct timeval tv = {.tv_sec = CLIENT_TIMEOUT_S};
    int fd = socket(AF_INET, SOCK_STREAM, 0);

    if (fd < 0) {
        cfail(c, "socket: %s", strerror(errno));
        return -1;
    }
    memset(&sin, 0, sizeof(sin));
    sin.sin_family = AF_INET;
    sin.sin_port = htons((uint16_t)port);
    sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
    if (connect(fd, (struct sockaddr *)&sin, sizeof(sin)) != 0) {
        cfail(c, "connect: %s", strerror(errno));
        close(fd);
        return -1;
    }
    return fd;
}

static int send_all(struct client *c, int fd, const void *data, size_t len)
{
    const char *p = data;

    while (len > 0) {
        ssize_t n = send(fd, p, len, MSG_NOSIGNAL);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return cfail(c, "send: %s", strerror(errno));
        p += n;
        len -= (size_t)n;
    }
    return 0;
}

/* Read exactly len bytes. */
static int recv_all(struct client *c, int fd, void *out, size_t len)
{
    char *p = out;

    while (len > 0) {
        ssize_t n = recv(fd, p, len, 0);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return cfail(c, "recv: %s", n == 0 ? "EOF" : strerror(errno));
        p += n;
        len -= (size_t)n;
    }
    return 0;
}

/* The peer must close (EOF or reset) with no more data. */
static int expect_closed(struct client *c, int fd)
{
    char b[256];
    ssize_t n;

    do {
        n = recv(fd, b, sizeof(b), 0);
    } while (n < 0 && errno == EINTR);
    if (n == 0 || (n < 0 && errno == ECONNRESET))
        return 0;
    if (n > 0)
        return cfail(c, "%zd unexpected bytes instead of EOF", n);
    return cfail(c, "not closed: %s", strerror(errno));
}

/* ---- fixture ---- */

struct fixture {
    char dir[64];
    char cert[128];
    char key[128];
    struct tls_ctx *server_ctx;
    uv_loop_t loop;
    struct listener *lis;
    uv_timer_t poll;
    bool (*pred)(void);
    uint64_t deadline;
    bool timed_out;
    atomic_int client_done;
    atomic_int server_closed; /* tells the client the server closed a conn */
    struct client cl;
    int port;
    /* what the protocols saw */
    int opens;
    int closes;
    int frees;
    int write_after_close_rc;
    size_t flood_written;
    bool tls_seen;
    char tls_version[16];
    uint64_t cork_writes_before;      /* c->writes before the pieces (TLS: handshake) */
    uint64_t cork_writes_in_callback; /* writes since, right after the pieces were queued */
    uint64_t cork_writes;             /* writes since, when the conn closed */
};

static struct fixture fx;

static int group_setup(void **state)
{
    char *err = NULL;

    (void)state;
    snprintf(fx.dir, sizeof(fx.dir), "/tmp/test_conn_tls.XXXXXX");
    if (mkdtemp(fx.dir) == NULL)
        return -1;
    snprintf(fx.cert, sizeof(fx.cert), "%s/cert.pem", fx.dir);
    snprintf(fx.key, sizeof(fx.key), "%s/key.pem", fx.dir);
    if (tls_selfsigned_generate(fx.cert, fx.key, "localhost", &err) != TD_OK ||
        tls_ctx_new_server(fx.cert, fx.key, &fx.server_ctx, &err) != TD_OK) {
        fprintf(stderr, "tls setup: %s\n", err ? err : "?");
        free(err);
        return -1;
    }
    return 0;
}

static int group_teardown(void **state)
{
    (void)state;
    tls_ctx_free(fx.server_ctx);
    unlink(fx.cert);
    unlink(fx.key);
    rmdir(fx.dir);
    return 0;
}

static int setup(void **state)
{
    (void)state;
    /* Keep the group's TLS material; reset everything else. */
    fx.lis = NULL;
    fx.opens = fx.closes = fx.frees = 0;
    fx.write_after_close_rc = 0;
    fx.flood_written = 0;
    fx.tls_seen = false;
    fx.tls_version[0] = '\0';
    memset(&fx.cl, 0, sizeof(fx.cl));
    atomic_store(&fx.server_closed, 0);
    alarm(120); /* a hang is a failure, not a stuck CI job */
    if (uv_loop_init(&fx.loop) != 0)
        return -1;
    uv_timer_init(&fx.loop, &fx.poll);
    return 0;
}

static void abort_one(struct conn *c, void *ud)
{
    (void)ud;
    conn_abort(c);
}

static int teardown(void **state)
{
    int rc;

    (void)state;
    if (fx.lis) {
        listener_foreach(fx.lis, abort_one, NULL);
        listener_free(fx.lis);
    }
    uv_close((uv_handle_t *)&fx.poll, NULL);
    uv_run(&fx.loop, UV_RUN_DEFAULT);
    rc = uv_loop_close(&fx.loop);
    alarm(0);
    if (rc != 0 || conn_open_count() != 0 || fx.opens != fx.frees) {
        fprintf(stderr, "teardown: uv_loop_close=%d open=%zu opens=%d frees=%d\n", rc,
                conn_open_count(), fx.opens, fx.frees);
        return -1;
    }
    return 0;
}

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
    return atomic_load(&fx.client_done) != 0;
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

static void run_client(void (*fn)(struct client *c))
{
    pthread_t thr;
    bool ok;

    fx.cl.fn = fn;
    fx.cl.port = fx.port;
    fx.cl.fail[0] = '\0';
    atomic_store(&fx.client_done, 0);
    assert_int_equal(pthread_create(&thr, NULL, client_main, &fx.cl), 0);
    ok = run_until(client_finished, 60000);
    pthread_join(thr, NULL);
    if (fx.cl.fail[0])
        fail_msg("client: %s", fx.cl.fail);
    assert_true(ok);
}

static void start_listener(const struct conn_ops *ops, size_t session_size, bool tls,
                           size_t per_ip, size_t out_max)
{
    struct listener_opts lo;
    char *err = NULL;

    memset(&lo, 0, sizeof(lo));
    lo.host = "127.0.0.1";
    lo.port = 0;
    lo.session_size = session_size;
    lo.ops = ops;
    lo.tls = tls ? fx.server_ctx : NULL;
    lo.max_conns_per_ip = per_ip;
    lo.out_max = out_max;
    lo.out_high_water = out_max ? out_max / 2 : 0;
    lo.name = "test";
    if (listener_start(&fx.loop, &lo, &fx.lis, &err) != TD_OK) {
        fprintf(stderr, "listener_start: %s\n", err ? err : "?");
        free(err);
        fail();
    }
    fx.port = listener_port(fx.lis);
    assert_true(fx.port > 0);
}

/* ---- server protocols ---- */

static int count_open(struct conn *c)
{
    (void)c;
    fx.opens++;
    return 0;
}

static void count_close(struct conn *c)
{
    (void)c;
    fx.closes++;
    atomic_store(&fx.server_closed, 1);
}

static void count_free(struct conn *c)
{
    (void)c;
    fx.frees++;
}

/* Echo; "QUIT\n" answers "BYE\n" and closes. */
static void echo_data(struct conn *c, const char *data, size_t len)
{
    if (c->tls && tls_handshake_done(c->tls)) {
        fx.tls_seen = true;
        snprintf(fx.tls_version, sizeof(fx.tls_version), "%s", tls_version(c->tls));
    }
    if (len == 5 && memcmp(data, "QUIT\n", 5) == 0) {
        conn_write(c, "BYE\n", 4);
        conn_close(c);
        fx.write_after_close_rc = conn_write(c, "late\n", 5);
        return;
    }
    conn_write(c, data, len);
}

static const struct conn_ops echo_ops = {
    .on_open = count_open,
    .on_data = echo_data,
    .on_close = count_close,
    .on_free = count_free,
};

/* STARTTLS: plain lines until "STARTTLS\n", then TLS and echo. */
struct stls_session {
    struct conn conn;
    struct buf line;
};

static int stls_open(struct conn *c)
{
    struct stls_session *s = (struct stls_session *)c;

    buf_init(&s->line, 256);
    return count_open(c);
}

static void stls_data(struct conn *c, const char *data, size_t len)
{
    struct stls_session *s = (struct stls_session *)c;

    if (c->tls) {
        echo_data(c, data, len);
        return;
    }
    for (size_t i = 0; i < len; i++) {
        if (buf_putc(&s->line, data[i]) != TD_OK) {
            conn_close(c);
            return;
        }
        if (data[i] != '\n')
            continue;
        if (strcmp(s->line.data, "STARTTLS\n") == 0) {
            conn_write(c, "PROCEED\n", 8);
            if (conn_start_tls(c, fx.server_ctx) != TD_OK) {
                conn_close(c);
                return;
            }
            /* A second STARTTLS is refused. */
            fx.write_after_close_rc = conn_start_tls(c, fx.server_ctx);
            /* Bytes after the command belong to TLS; this client sends none. */
            return;
        }
        conn_write(c, "PLAIN ", 6);
        conn_write(c, s->line.data, s->line.len);
        buf_reset(&s->line);
    }
}

static void stls_free(struct conn *c)
{
    struct stls_session *s = (struct stls_session *)c;

    buf_free(&s->line);
    count_free(c);
}

static const struct conn_ops stls_ops = {
    .on_open = stls_open,
    .on_data = stls_data,
    .on_close = count_close,
    .on_free = stls_free,
};

/* Flood: after any input, write 16 KiB every millisecond forever. */
static void flood_tick(struct conn *c)
{
    static char chunk[16384];

    memset(chunk, 'f', sizeof(chunk));
    for (int i = 0; i < 4 && !conn_is_closing(c); i++) {
        if (conn_write(c, chunk, sizeof(chunk)) != TD_OK)
            return;
        fx.flood_written += sizeof(chunk);
    }
    if (!conn_is_closing(c))
        conn_timer_set(c, 1, flood_tick);
}

static void flood_data(struct conn *c, const char *data, size_t len)
{
    (void)data;
    (void)len;
    conn_timer_set(c, 1, flood_tick);
}

static const struct conn_ops flood_ops = {
    .on_open = count_open,
    .on_data = flood_data,
    .on_close = count_close,
    .on_free = count_free,
};

/* Bulk: on input, queue 4 MiB (pattern) and close at once. */
#define BULK_LEN (4u << 20)

static void bulk_data(struct conn *c, const char *data, size_t len)
{
    char *p = malloc(BULK_LEN);

    (void)data;
    (void)len;
    if (p == NULL) {
        conn_abort(c);
        return;
    }
    for (size_t i = 0; i < BULK_LEN; i++)
        p[i] = (char)('a' + i % 26);
    conn_write(c, p, BULK_LEN);
    free(p);
    conn_close(c);
    fx.write_after_close_rc = conn_write(c, "x", 1);
}

static const struct conn_ops bulk_ops = {
    .on_open = count_open,
    .on_data = bulk_data,
    .on_close = count_close,
    .on_free = count_free,
};

/* Cork: on input, queue CORK_PIECES numbered lines one conn_write each; the
 * loop must hand them to the kernel as one write at the end of the turn. */
#define CORK_PIECES 100
#define CORK_LINE 9 /* "line 042\n" */

static void cork_data(struct conn *c, const char *data, size_t len)
{
    char line[16];

    (void)data;
    (void)len;
    fx.cork_writes_before = c->writes;
    for (int i = 0; i < CORK_PIECES; i++) {
        snprintf(line, sizeof(line), "line %03d\n", i);
        conn_write(c, line, CORK_LINE);
    }
    fx.cork_writes_in_callback = c->writes - fx.cork_writes_before;
}

static void cork_close(struct conn *c)
{
    fx.cork_writes = c->writes - fx.cork_writes_before;
    count_close(c);
}

static const struct conn_ops cork_ops = {
    .on_open = count_open,
    .on_data = cork_data,
    .on_close = cork_close,
    .on_free = count_free,
};

/* ---- client-side TLS ---- */

static SSL_CTX *client_ctx(struct client *c)
{
    SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());

    if (ctx == NULL) {
        cfail(c, "SSL_CTX_new");
        return NULL;
    }
    /* Trust exactly the generated certificate, and check its name. */
    if (SSL_CTX_load_verify_locations(ctx, fx.cert, NULL) != 1) {
        cfail(c, "load_verify_locations");
        SSL_CTX_free(ctx);
        return NULL;
    }
    SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
    return ctx;
}

static SSL *tls_client_start(struct client *c, SSL_CTX *ctx, int fd)
{
    SSL *ssl = SSL_new(ctx);
    int rc;

    if (ssl == NULL) {
        cfail(c, "SSL_new");
        return NULL;
    }
    SSL_set_fd(ssl, fd);
    SSL_set_tlsext_host_name(ssl, "localhost");
    SSL_set1_host(ssl, "localhost");
    rc = SSL_connect(ssl);
    if (rc != 1) {
        char e[256];
        ERR_error_string_n(ERR_get_error(), e, sizeof(e));
        cfail(c, "SSL_connect: %d %s verify=%ld", SSL_get_error(ssl, rc), e,
              SSL_get_verify_result(ssl));
        SSL_free(ssl);
        return NULL;
    }
    return ssl;
}

static int ssl_write_all(struct client *c, SSL *ssl, const void *data, size_t len)
{
    if (SSL_write(ssl, data, (int)len) != (int)len)
        return cfail(c, "SSL_write failed");
    return 0;
}

static int ssl_read_all(struct client *c, SSL *ssl, void *out, size_t len)
{
    char *p = out;

    while (len > 0) {
        int n = SSL_read(ssl, p, (int)len);
        if (n <= 0)
            return cfail(c, "SSL_read: error %d", SSL_get_error(ssl, n));
        p += n;
        len -= (size_t)n;
    }
    return 0;
}

/* ---- tests ---- */

static void cl_direct_tls(struct client *c)
{
    SSL_CTX *ctx = client_ctx(c);
    SSL *ssl = NULL;
    char buf[70000];
    static char big[65536];
    int fd = -1;
    int n;

    CHECK(c, ctx != NULL);
    fd = tcp_connect(c, c->port);
    CHECK(c, fd >= 0);
    ssl = tls_client_start(c, ctx, fd);
    CHECK(c, ssl != NULL);
    TRY(c, ssl_write_all(c, ssl, "hello tls\n", 10));
    TRY(c, ssl_read_all(c, ssl, buf, 10));
    CHECK(c, memcmp(buf, "hello tls\n", 10) == 0);
    /* Several records' worth, echoed intact. */
    for (size_t i = 0; i < sizeof(big); i++)
        big[i] = (char)(i * 7);
    TRY(c, ssl_write_all(c, ssl, big, sizeof(big)));
    TRY(c, ssl_read_all(c, ssl, buf, sizeof(big)));
    CHECK(c, memcmp(buf, big, sizeof(big)) == 0);
    /* QUIT: "BYE\n", then close_notify from the server's conn_close. */
    TRY(c, ssl_write_all(c, ssl, "QUIT\n", 5));
    TRY(c, ssl_read_all(c, ssl, buf, 4));
    CHECK(c, memcmp(buf, "BYE\n", 4) == 0);
    n = SSL_read(ssl, buf, sizeof(buf));
    CHECK(c, n <= 0 && SSL_get_error(ssl, n) == SSL_ERROR_ZERO_RETURN);
out:
    SSL_free(ssl);
    SSL_CTX_free(ctx);
    if (fd >= 0)
        close(fd);
}

static void test_direct_tls(void **state)
{
    (void)state;
    start_listener(&echo_ops, sizeof(struct conn), true, 0, 0);
    run_client(cl_direct_tls);
    assert_true(fx.tls_seen);
    assert_true(strncmp(fx.tls_version, "TLSv1.", 6) == 0);
    assert_int_equal(fx.write_after_close_rc, TD_ECLOSED);
    assert_true(run_until(no_conns, 10000));
    assert_int_equal(fx.opens, 1);
    assert_int_equal(fx.closes, 1);
}

static void cl_plain_to_tls(struct client *c)
{
    int fd = tcp_connect(c, c->port);
    char b[512];
    ssize_t n;

    CHECK(c, fd >= 0);
    TRY(c, send_all(c, fd, "GET / HTTP/1.1\r\nHost: x\r\n\r\n", 27));
    /* Perhaps an alert, then the end: never an echo of the plaintext. */
    for (int i = 0; i < 10; i++) {
        n = recv(fd, b, sizeof(b), 0);
        if (n == 0 || (n < 0 && errno == ECONNRESET))
            break;
        CHECK(c, n > 0);
        CHECK(c, b[0] == 0x15); /* TLS alert record */
    }
out:
    if (fd >= 0)
        close(fd);
}

static void test_plain_to_tls(void **state)
{
    (void)state;
    start_listener(&echo_ops, sizeof(struct conn), true, 0, 0);
    run_client(cl_plain_to_tls);
    assert_true(run_until(no_conns, 10000));
    assert_false(fx.tls_seen);
    assert_int_equal(fx.closes, 1);
}

static void cl_starttls(struct client *c)
{
    SSL_CTX *ctx = client_ctx(c);
    SSL *ssl = NULL;
    char buf[64];
    int fd = -1;

    CHECK(c, ctx != NULL);
    fd = tcp_connect(c, c->port);
    CHECK(c, fd >= 0);
    TRY(c, send_all(c, fd, "HELLO\n", 6));
    TRY(c, recv_all(c, fd, buf, 12));
    CHECK(c, memcmp(buf, "PLAIN HELLO\n", 12) == 0);
    TRY(c, send_all(c, fd, "STARTTLS\n", 9));
    TRY(c, recv_all(c, fd, buf, 8)); /* exactly: TLS bytes follow */
    CHECK(c, memcmp(buf, "PROCEED\n", 8) == 0);
    ssl = tls_client_start(c, ctx, fd);
    CHECK(c, ssl != NULL);
    TRY(c, ssl_write_all(c, ssl, "secret\n", 7));
    TRY(c, ssl_read_all(c, ssl, buf, 7));
    CHECK(c, memcmp(buf, "secret\n", 7) == 0);
    TRY(c, ssl_write_all(c, ssl, "QUIT\n", 5));
    TRY(c, ssl_read_all(c, ssl, buf, 4));
    CHECK(c, memcmp(buf, "BYE\n", 4) == 0);
out:
    SSL_free(ssl);
    SSL_CTX_free(ctx);
    if (fd >= 0)
        close(fd);
}

static void test_starttls(void **state)
{
    (void)state;
    start_listener(&stls_ops, sizeof(struct stls_session), false, 0, 0);
    run_client(cl_starttls);
    assert_true(fx.tls_seen);
    /* The second conn_start_tls was refused, then QUIT's late write. */
    assert_int_equal(fx.write_after_close_rc, TD_ECLOSED);
    assert_true(run_until(no_conns, 10000));
}

static void cl_starttls_refused_twice(struct client *c)
{
    int fd = tcp_connect(c, c->port);
    char buf[16];

    CHECK(c, fd >= 0);
    TRY(c, send_all(c, fd, "STARTTLS\n", 9));
    TRY(c, recv_all(c, fd, buf, 8));
    CHECK(c, memcmp(buf, "PROCEED\n", 8) == 0);
out:
    if (fd >= 0)
        close(fd);
}

static void test_starttls_twice(void **state)
{
    (void)state;
    start_listener(&stls_ops, sizeof(struct stls_session), false, 0, 0);
    run_client(cl_starttls_refused_twice);
    assert_int_equal(fx.write_after_close_rc, TD_EPROTO);
    assert_true(run_until(no_conns, 10000));
}

static void cl_flood(struct client *c)
{
    int fd = tcp_connect(c, c->port);

    CHECK(c, fd >= 0);
    TRY(c, send_all(c, fd, "GO\n", 3));
    /* Never read; wait until the server gave up on us. */
    for (int i = 0; i < 3000 && !atomic_load(&fx.server_closed); i++)
        usleep(10000);
    CHECK(c, atomic_load(&fx.server_closed));
out:
    if (fd >= 0)
        close(fd);
}

static void test_output_ceiling(void **state)
{
    (void)state;
    start_listener(&flood_ops, sizeof(struct conn), false, 0, 256 * 1024);
    run_client(cl_flood);
    assert_true(run_until(no_conns, 10000));
    assert_int_equal(fx.closes, 1);
    /* It wrote more than the ceiling before being cut off: the kernel took
     * some, and the queue then crossed 256 KiB. */
    assert_true(fx.flood_written > 256 * 1024);
}

static void cl_per_ip(struct client *c)
{
    int fds[3] = {-1, -1, -1};
    char b[4];
    bool again = false;

    for (int i = 0; i < 2; i++) {
        fds[i] = tcp_connect(c, c->port);
        CHECK(c, fds[i] >= 0);
        TRY(c, send_all(c, fds[i], "ab", 2));
        TRY(c, recv_all(c, fds[i], b, 2)); /* accepted and served */
    }
    /* The kernel completes the handshake; the listener then drops it. */
    fds[2] = tcp_connect(c, c->port);
    CHECK(c, fds[2] >= 0);
    send(fds[2], "ab", 2, MSG_NOSIGNAL);
    TRY(c, expect_closed(c, fds[2]));
    close(fds[2]);
    fds[2] = -1;
    /* The first two still work. */
    TRY(c, send_all(c, fds[1], "cd", 2));
    TRY(c, recv_all(c, fds[1], b, 2));
    CHECK(c, memcmp(b, "cd", 2) == 0);
    /* Freeing a slot lets a new connection in (once the server noticed). */
    close(fds[0]);
    fds[0] = -1;
    for (int i = 0; i < 100 && !again; i++) {
        int fd = tcp_connect(c, c->port);
        CHECK(c, fd >= 0);
        if (send(fd, "ef", 2, MSG_NOSIGNAL) == 2 && recv(fd, b, 2, MSG_WAITALL) == 2)
            again = memcmp(b, "ef", 2) == 0;
        close(fd);
        if (!again)
            usleep(50000);
    }
    CHECK(c, again);
out:
    for (int i = 0; i < 3; i++)
        if (fds[i] >= 0)
            close(fds[i]);
}

static void test_max_conns_per_ip(void **state)
{
    (void)state;
    start_listener(&echo_ops, sizeof(struct conn), false, 2, 0);
    run_client(cl_per_ip);
    assert_true(run_until(no_conns, 10000));
    /* Refused conns never reach on_open. */
    assert_int_equal(fx.opens, fx.closes);
}

static void cl_bulk(struct client *c)
{
    static char buf[BULK_LEN + 16];
    size_t got = 0;
    int fd = tcp_connect(c, c->port);

    CHECK(c, fd >= 0);
    TRY(c, send_all(c, fd, "go", 2));
    usleep(200000); /* let the server queue and close while we do not read */
    for (;;) {
        ssize_t n = recv(fd, buf + got, sizeof(buf) - got, 0);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break;
        got += (size_t)n;
    }
    CHECK(c, got == BULK_LEN);
    for (size_t i = 0; i < BULK_LEN; i++) {
        if (buf[i] != (char)('a' + i % 26)) {
            cfail(c, "byte %zu corrupted", i);
            goto out;
        }
    }
out:
    if (fd >= 0)
        close(fd);
}

static void test_close_flushes(void **state)
{
    (void)state;
    start_listener(&bulk_ops, sizeof(struct conn), false, 0, 0);
    run_client(cl_bulk);
    assert_int_equal(fx.write_after_close_rc, TD_ECLOSED);
    assert_true(run_until(no_conns, 10000));
    assert_int_equal(fx.closes, 1);
}

static int cork_check(struct client *c, const char *buf)
{
    char want[16];

    for (int i = 0; i < CORK_PIECES; i++) {
        snprintf(want, sizeof(want), "line %03d\n", i);
        if (memcmp(buf + i * CORK_LINE, want, CORK_LINE) != 0)
            return cfail(c, "piece %d out of order or corrupted", i);
    }
    return 0;
}

static void cl_cork(struct client *c)
{
    char buf[CORK_PIECES * CORK_LINE];
    int fd = tcp_connect(c, c->port);

    CHECK(c, fd >= 0);
    TRY(c, send_all(c, fd, "go\n", 3));
    TRY(c, recv_all(c, fd, buf, sizeof(buf)));
    TRY(c, cork_check(c, buf));
out:
    if (fd >= 0)
        close(fd);
}

static void test_cork_one_write_per_turn(void **state)
{
    (void)state;
    start_listener(&cork_ops, sizeof(struct conn), false, 0, 0);
    run_client(cl_cork);
    assert_true(run_until(no_conns, 10000));
    assert_int_equal(fx.cork_writes_in_callback, 0); /* nothing sent inside the callback */
    assert_int_equal(fx.cork_writes, 1);             /* 100 pieces, one write */
}

static void cl_cork_tls(struct client *c)
{
    SSL_CTX *ctx = client_ctx(c);
    SSL *ssl = NULL;
    char buf[CORK_PIECES * CORK_LINE];
    int fd = -1;

    CHECK(c, ctx != NULL);
    fd = tcp_connect(c, c->port);
    CHECK(c, fd >= 0);
    ssl = tls_client_start(c, ctx, fd);
    CHECK(c, ssl != NULL);
    TRY(c, ssl_write_all(c, ssl, "go\n", 3));
    TRY(c, ssl_read_all(c, ssl, buf, sizeof(buf)));
    TRY(c, cork_check(c, buf));
out:
    SSL_free(ssl);
    SSL_CTX_free(ctx);
    if (fd >= 0)
        close(fd);
}

static void test_cork_tls(void **state)
{
    (void)state;
    start_listener(&cork_ops, sizeof(struct conn), true, 0, 0);
    run_client(cl_cork_tls);
    assert_true(run_until(no_conns, 10000));
    assert_true(fx.cork_writes_before > 0); /* the handshake went out first */
    assert_int_equal(fx.cork_writes_in_callback, 0);
    /* The pieces sealed and sent together, then close_notify on the close
     * that follows the client's EOF. */
    assert_int_equal(fx.cork_writes, 2);
}

static void test_bad_listen_address(void **state)
{
    struct listener_opts lo;
    struct listener *l = NULL;
    char *err = NULL;

    (void)state;
    memset(&lo, 0, sizeof(lo));
    lo.host = "not-an-ip";
    lo.session_size = sizeof(struct conn);
    lo.ops = &echo_ops;
    assert_int_equal(listener_start(&fx.loop, &lo, &l, &err), TD_EINVAL);
    assert_non_null(err);
    free(err);
    err = NULL;
    /* A port already taken. */
    start_listener(&echo_ops, sizeof(struct conn), false, 0, 0);
    lo.host = "127.0.0.1";
    lo.port = fx.port;
    assert_int_equal(listener_start(&fx.loop, &lo, &l, &err), TD_EIO);
    assert_null(l);
    assert_non_null(err);
    free(err);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_direct_tls, setup, teardown),
        cmocka_unit_test_setup_teardown(test_plain_to_tls, setup, teardown),
        cmocka_unit_test_setup_teardown(test_starttls, setup, teardown),
        cmocka_unit_test_setup_teardown(test_starttls_twice, setup, teardown),
        cmocka_unit_test_setup_teardown(test_output_ceiling, setup, teardown),
        cmocka_unit_test_setup_teardown(test_max_conns_per_ip, setup, teardown),
        cmocka_unit_test_setup_teardown(test_close_flushes, setup, teardown),
        cmocka_unit_test_setup_teardown(test_cork_one_write_per_turn, setup, teardown),
        cmocka_unit_test_setup_teardown(test_cork_tls, setup, teardown),
        cmocka_unit_test_setup_teardown(test_bad_listen_address, setup, teardown),
    };

    signal(SIGPIPE, SIG_IGN);
    log_setup(stderr, LOG_ERR);
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
