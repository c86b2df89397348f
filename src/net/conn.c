/* SPDX-License-Identifier: MIT */
/* TCP listeners and connections over libuv, with optional TLS; see conn.h for
 * the lifecycle and ownership rules. Per-address connection counts are kept
 * in a small hash table per listener so that one address cannot take every
 * slot (a cheap guard against connection floods). */
#include "net/conn.h"

#include "core/buf.h"
#include "core/err.h"
#include "core/log.h"
#include "net/tls.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define IP_BUCKETS 1024
#define CLOSE_FLUSH_MS 5000
#define READ_BUF_SIZE 65536
#define PEND_MIN 2048      /* first pending buffer; grows by doubling */
#define PEND_MAX 65536     /* above this a conn's pending bytes go out at once */

struct ipcount {
    struct ipcount *next;
    size_t n;
    char ip[64];
};

struct listener {
    uv_tcp_t tcp;
    uv_loop_t *loop;
    struct listener_opts o;        /* host and name point to the copies below */
    char *host;
    char *name;
    int port;
    struct conn *conns;            /* live conns, doubly linked */
    size_t nconns;
    bool stopped;
    bool free_requested;
    bool handle_closed;
    bool flush_started;            /* check and prepare initialized */
    int flush_handles_open;        /* check and prepare not yet closed */
    uv_check_t check;              /* flushes corked output after the turn's I/O */
    uv_prepare_t prepare;          /* ... and what later callbacks queued */
    struct conn *dirty;            /* conns with pending output, doubly linked */
    struct ipcount *ips[IP_BUCKETS];
};

struct wreq {
    uv_write_t req;
    struct conn *c;
    size_t len;
    size_t cap;
    char data[];
};

static uint64_t next_conn_id = 1;
static size_t open_conns;

size_t conn_open_count(void)
{
    return open_conns;
}

/* ---- per-address counts ---- */

static unsigned ip_hash(const char *ip)
{
    unsigned h = 5381;
    for (; *ip; ip++)
        h = h * 33u + (unsigned char)*ip;
    return h % IP_BUCKETS;
}

static struct ipcount **ip_find(struct listener *l, const char *ip)
{
    struct ipcount **pp = &l->ips[ip_hash(ip)];
    while (*pp && strcmp((*pp)->ip, ip) != 0)
        pp = &(*pp)->next;
    return pp;
}

static size_t ip_get(struct listener *l, const char *ip)
{
    struct ipcount **pp = ip_find(l, ip);
    return *pp ? (*pp)->n : 0;
}

static void ip_add(struct listener *l, const char *ip, int delta)
{
    struct ipcount **pp = ip_find(l, ip);

    if (*pp == NULL) {
        if (delta <= 0)
            return;
        *pp = td_calloc(1, sizeof(**pp));
        snprintf((*pp)->ip, sizeof((*pp)->ip), "%s", ip);
    }
    if (delta < 0 && (*pp)->n <= 1) {
        struct ipcount *dead = *pp;
        *pp = dead->next;
        free(dead);
        return;
    }
    (*pp)->n = (size_t)((long)(*pp)->n + delta);
}

/* ---- closing ---- */

static void listener_maybe_free(struct listener *l);
static int write_raw(struct conn *c, const uv_buf_t *bufs, unsigned nbufs);
static void flush_pending(struct conn *c);
static void dirty_unlink(struct conn *c);

static void on_handle_closed(uv_handle_t *h)
{
    struct conn *c = h->data;
    struct listener *l = c->listener;

    if (--c->_handles_open > 0)
        return;
    if (l) {
        if (c->_prev)
            c->_prev->_next = c->_next;
        else
            l->conns = c->_next;
        if (c->_next)
            c->_next->_prev = c->_prev;
        l->nconns--;
        ip_add(l, c->peer, -1);
        dirty_unlink(c);
    }
    free(c->_pend); /* only if written after closing began; never sent */
    if (c->ops->on_free)
        c->ops->on_free(c);
    tls_session_free(c->tls);
    open_conns--;
    free(c); /* the protocol's session block; conn is its first member */
    if (l)
        listener_maybe_free(l);
}

static void notify_close(struct conn *c)
{
    if (c->_close_notified)
        return;
    c->_close_notified = true;
    if (c->ops->on_close)
        c->ops->on_close(c);
}

static void close_handles(struct conn *c)
{
    if (uv_is_closing((uv_handle_t *)&c->tcp))
        return;
    notify_close(c);
    uv_timer_stop(&c->timer);
    uv_close((uv_handle_t *)&c->tcp, on_handle_closed);
    uv_close((uv_handle_t *)&c->timer, on_handle_closed);
}

static void stop_reading(struct conn *c)
{
    if (c->_reading) {
        uv_read_stop((uv_stream_t *)&c->tcp);
        c->_reading = false;
    }
}

static void flush_timeout(struct conn *c)
{
    log_debug("conn.flush_timeout", "conn=%llu", (unsigned long long)c->id);
    close_handles(c);
}

void conn_abort(struct conn *c)
{
    /* What was queued before the abort goes out as it did before output was
     * corked (an error stanza before the close); libuv cancels what the
     * kernel does not take at once. */
    flush_pending(c);
    c->_closing = true;
    stop_reading(c);
    close_handles(c);
}

void conn_close(struct conn *c)
{
    if (c->_closing)
        return;
    flush_pending(c);
    c->_closing = true;
    stop_reading(c);
    if (c->tls) {
        struct buf out;
        buf_init(&out, 0);
        tls_shutdown(c->tls);
        if (tls_take_output(c->tls, &out) > 0) {
            uv_buf_t b = uv_buf_init(out.data, (unsigned)out.len);
            write_raw(c, &b, 1); /* already ciphertext */
        }
        buf_free(&out);
    }
    if (c->out_queued == 0) {
        close_handles(c);
        return;
    }
    /* Let the queued reply reach the peer (Redis CLIENT_CLOSE_AFTER_REPLY),
     * but do not wait forever for a reader that never reads. */
    conn_timer_set(c, CLOSE_FLUSH_MS, flush_timeout);
}

bool conn_is_closing(const struct conn *c)
{
    return c->_closing;
}

/* ---- reading ---- */

static void alloc_cb(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
    /* One loop thread reads one stream at a time and on_data consumes the
     * bytes before returning, so one shared buffer serves every conn and an
     * idle conn costs no read buffer at all. */
    static char read_buf[READ_BUF_SIZE];
    (void)h;
    (void)suggested;
    *buf = uv_buf_init(read_buf, sizeof(read_buf));
}

static void deliver(struct conn *c, const char *data, size_t len)
{
    if (len == 0 || c->_closing)
        return;
    c->_in_callback++;
    c->ops->on_data(c, data, len);
    c->_in_callback--;
}

static void deliver_tls(struct conn *c, const char *data, size_t len)
{
    struct buf plain;
    struct buf out;
    int rc;

    buf_init(&plain, 4 * READ_BUF_SIZE);
    buf_init(&out, 0);
    rc = tls_feed(c->tls, data, len, &plain);
    if (tls_take_output(c->tls, &out) > 0) {
        /* Sealed now, so sent before any pending plaintext, which is
         * sealed when it is flushed: the wire order is the sealing order. */
        uv_buf_t b = uv_buf_init(out.data, (unsigned)out.len);
        write_raw(c, &b, 1); /* already ciphertext: handshake or alert */
    }
    if (rc != TD_OK) {
        log_info("tls.error", "conn=%llu peer=%s err=%s", (unsigned long long)c->id, c->peer,
                 log_q(td_strerror(rc)));
        conn_close(c);
    } else {
        deliver(c, plain.data, plain.len);
    }
    buf_free(&plain);
    buf_free(&out);
}

static void read_cb(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf)
{
    struct conn *c = s->data;

    if (nread == 0)
        return;
    if (nread < 0) {
        stop_reading(c);
        if (nread == UV_EOF && c->ops->on_eof && !c->_closing)
            c->ops->on_eof(c);
        else
            conn_close(c);
        return;
    }
    if (c->tls)
        deliver_tls(c, buf->base, (size_t)nread);
    else
        deliver(c, buf->base, (size_t)nread);
}

static void update_reading(struct conn *c)
{
    bool want = !c->_closing && !c->_read_paused_by_user && !c->_read_paused_by_output;

    if (want && !c->_reading) {
        if (uv_read_start((uv_stream_t *)&c->tcp, alloc_cb, read_cb) == 0)
            c->_reading = true;
    } else if (!want && c->_reading) {
        stop_reading(c);
    }
}

void conn_pause_read(struct conn *c)
{
    c->_read_paused_by_user = true;
    update_reading(c);
}

void conn_resume_read(struct conn *c)
{
    c->_read_paused_by_user = false;
    update_reading(c);
}

/* ---- writing ---- */

static void write_cb(uv_write_t *req, int status)
{
    struct wreq *w = (struct wreq *)req;
    struct conn *c = w->c;

    c->out_queued -= w->len;
    free(w);
    if (status < 0 && status != UV_ECANCELED && !c->_closing) {
        log_debug("conn.write_error", "conn=%llu err=%s", (unsigned long long)c->id,
                  uv_strerror(status));
        conn_abort(c);
        return;
    }
    if (c->_read_paused_by_output && c->out_queued <= c->out_high_water / 2) {
        c->_read_paused_by_output = false;
        update_reading(c);
    }
    if (c->out_queued == 0) {
        if (c->_closing)
            close_handles(c);
        else if (c->ops->on_drain)
            c->ops->on_drain(c);
    }
}

static void pause_if_full(struct conn *c)
{
    if (c->out_queued > c->out_high_water && !c->_read_paused_by_output) {
        c->_read_paused_by_output = true;
        update_reading(c);
    }
}

/* Hand w (owned from here on) to libuv; its bytes are already counted in
 * out_queued. */
static int submit(struct conn *c, struct wreq *w)
{
    uv_buf_t b = uv_buf_init(w->data, (unsigned)w->len);
    int rc;

    w->c = c;
    c->writes++;
    rc = uv_write(&w->req, (uv_stream_t *)&c->tcp, &b, 1, write_cb);
    if (rc < 0) {
        c->out_queued -= w->len;
        free(w);
        conn_abort(c);
        return TD_EIO;
    }
    return TD_OK;
}

static bool over_limit(struct conn *c, size_t more)
{
    if (c->out_queued + more <= c->out_max)
        return false;
    log_warn("conn.output_limit", "conn=%llu peer=%s queued=%zu", (unsigned long long)c->id,
             c->peer, c->out_queued + more);
    conn_abort(c);
    return true;
}

static size_t bufs_len(const uv_buf_t *bufs, unsigned nbufs)
{
    size_t total = 0;

    for (unsigned i = 0; i < nbufs; i++)
        total += bufs[i].len;
    return total;
}

static struct wreq *wreq_new(size_t cap)
{
    struct wreq *w = td_malloc(sizeof(*w) + cap);
    w->len = 0;
    w->cap = cap;
    return w;
}

static void wreq_append(struct wreq *w, const uv_buf_t *bufs, unsigned nbufs)
{
    for (unsigned i = 0; i < nbufs; i++) {
        memcpy(w->data + w->len, bufs[i].base, bufs[i].len);
        w->len += bufs[i].len;
    }
}

/* Bytes that bypass the cork: TLS records sealed here (handshake, alerts,
 * close_notify) and flushed output. */
static int write_raw(struct conn *c, const uv_buf_t *bufs, unsigned nbufs)
{
    size_t total = bufs_len(bufs, nbufs);
    struct wreq *w;

    if (total == 0)
        return TD_OK;
    if (over_limit(c, total))
        return TD_ECLOSED;
    w = wreq_new(total);
    wreq_append(w, bufs, nbufs);
    c->out_queued += total;
    pause_if_full(c);
    return submit(c, w);
}

/* ---- corking: one write per conn per loop turn ---- */

static void dirty_link(struct conn *c)
{
    struct listener *l = c->listener;

    c->_dprev = NULL;
    c->_dnext = l->dirty;
    if (l->dirty)
        l->dirty->_dprev = c;
    l->dirty = c;
}

static void dirty_unlink(struct conn *c)
{
    struct listener *l = c->listener;

    if (c->_dprev)
        c->_dprev->_dnext = c->_dnext;
    else if (l->dirty == c)
        l->dirty = c->_dnext;
    if (c->_dnext)
        c->_dnext->_dprev = c->_dprev;
    c->_dnext = c->_dprev = NULL;
}

/* Send c's pending bytes: as they are on a plain socket, sealed into TLS
 * records (as few as the TLS library makes of one buffer) otherwise. */
static void flush_pending(struct conn *c)
{
    struct wreq *w = c->_pend;
    struct buf out;
    int rc;

    if (w == NULL)
        return;
    c->_pend = NULL;
    dirty_unlink(c);
    if (c->tls == NULL) {
        submit(c, w);
        return;
    }
    c->out_queued -= w->len;
    rc = tls_write(c->tls, w->data, w->len);
    free(w);
    if (rc != TD_OK) {
        conn_abort(c);
        return;
    }
    buf_init(&out, 0);
    if (tls_take_output(c->tls, &out) > 0) {
        uv_buf_t b = uv_buf_init(out.data, (unsigned)out.len);
        write_raw(c, &b, 1);
    }
    buf_free(&out);
}

static void flush_all(struct listener *l)
{
    while (l->dirty)
        flush_pending(l->dirty); /* unlinks it; may close conns, or queue to others */
}

static void on_check(uv_check_t *h)
{
    flush_all(h->data);
}

static void on_prepare(uv_prepare_t *h)
{
    flush_all(h->data);
}

int conn_writev(struct conn *c, const uv_buf_t *bufs, unsigned nbufs)
{
    size_t total = bufs_len(bufs, nbufs);
    struct wreq *w = c->_pend;

    if (c->_closing || uv_is_closing((uv_handle_t *)&c->tcp))
        return TD_ECLOSED;
    if (total == 0)
        return TD_OK;
    if (over_limit(c, total))
        return TD_ECLOSED;
    if (w && w->len + total > w->cap) {
        if (w->len + total > PEND_MAX) {
            flush_pending(c); /* past PEND_MAX: send what waits, do not grow it */
            if (c->_closing)
                return TD_ECLOSED;
            w = NULL;
        } else {
            size_t cap = w->cap * 2;
            while (cap < w->len + total)
                cap *= 2;
            w = td_realloc(w, sizeof(*w) + cap);
            w->cap = cap;
            c->_pend = w;
        }
    }
    if (w == NULL) {
        w = wreq_new(total > PEND_MIN ? total : PEND_MIN);
        c->_pend = w;
        dirty_link(c);
    }
    wreq_append(w, bufs, nbufs);
    c->out_queued += total;
    pause_if_full(c);
    return TD_OK;
}

int conn_write(struct conn *c, const void *data, size_t len)
{
    uv_buf_t b = uv_buf_init((char *)data, (unsigned)len);
    return conn_writev(c, &b, 1);
}

/* ---- timers and TLS ---- */

static void timer_cb(uv_timer_t *t)
{
    struct conn *c = t->data;
    conn_timer_cb *cb = c->_timer_cb;

    c->_timer_cb = NULL;
    if (cb)
        cb(c);
}

void conn_timer_set(struct conn *c, uint64_t ms, conn_timer_cb *cb)
{
    if (uv_is_closing((uv_handle_t *)&c->timer))
        return;
    if (c->_closing && cb != flush_timeout)
        return; /* the flush timer owns a closing conn */
    uv_timer_stop(&c->timer);
    c->_timer_cb = cb;
    if (ms && cb)
        uv_timer_start(&c->timer, timer_cb, ms, 0);
}

int conn_start_tls(struct conn *c, struct tls_ctx *ctx)
{
    if (c->tls)
        return TD_EPROTO;
    flush_pending(c); /* the protocol's "proceed" goes out in plaintext */
    c->tls = tls_session_new(ctx, true, NULL);
    return c->tls ? TD_OK : TD_EIO;
}

bool conn_is_tls(const struct conn *c)
{
    return c->tls != NULL;
}

/* ---- listening ---- */

static void peer_name(struct conn *c)
{
    struct sockaddr_storage ss;
    int len = sizeof(ss);

    snprintf(c->peer, sizeof(c->peer), "unknown");
    if (uv_tcp_getpeername(&c->tcp, (struct sockaddr *)&ss, &len) != 0)
        return;
    if (ss.ss_family == AF_INET) {
        struct sockaddr_in *sin = (struct sockaddr_in *)&ss;
        uv_ip4_name(sin, c->peer, sizeof(c->peer));
        c->peer_port = ntohs(sin->sin_port);
    } else if (ss.ss_family == AF_INET6) {
        struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)&ss;
        uv_ip6_name(sin6, c->peer, sizeof(c->peer));
        c->peer_port = ntohs(sin6->sin6_port);
    }
}

static void refuse(uv_tcp_t *tmp)
{
    uv_close((uv_handle_t *)tmp, (uv_close_cb)free);
}

static void on_connection(uv_stream_t *server, int status)
{
    struct listener *l = server->data;
    struct conn *c;

    if (status < 0) {
        log_warn("listener.accept_error", "listener=%s err=%s", l->name, uv_strerror(status));
        return;
    }
    c = td_calloc(1, l->o.session_size);
    uv_tcp_init(l->loop, &c->tcp);
    if (uv_accept(server, (uv_stream_t *)&c->tcp) != 0) {
        refuse(&c->tcp); /* tcp is first, so free() on it frees c */
        return;
    }
    peer_name(c);
    if ((l->o.max_conns && l->nconns >= l->o.max_conns) ||
        (l->o.max_conns_per_ip && ip_get(l, c->peer) >= l->o.max_conns_per_ip)) {
        log_warn("listener.refused", "listener=%s peer=%s conns=%zu", l->name, c->peer,
                 l->nconns);
        refuse(&c->tcp);
        return;
    }
    uv_timer_init(l->loop, &c->timer);
    c->tcp.data = c;
    c->timer.data = c;
    c->_handles_open = 2;
    c->ops = l->o.ops;
    c->listener = l;
    c->id = next_conn_id++;
    c->out_high_water = l->o.out_high_water;
    c->out_max = l->o.out_max;
    c->_next = l->conns;
    if (l->conns)
        l->conns->_prev = c;
    l->conns = c;
    l->nconns++;
    open_conns++;
    ip_add(l, c->peer, 1);
    uv_tcp_nodelay(&c->tcp, 1);
    if (l->o.tls)
        c->tls = tls_session_new(l->o.tls, true, NULL);
    if ((l->o.tls && c->tls == NULL) || (c->ops->on_open && c->ops->on_open(c) != 0)) {
        conn_abort(c);
        return;
    }
    update_reading(c);
}

int listener_start(uv_loop_t *loop, const struct listener_opts *o, struct listener **out,
                   char **err)
{
    struct listener *l = td_calloc(1, sizeof(*l));
    struct sockaddr_storage ss;
    int namelen = sizeof(ss);
    int rc;
    char msg[256];

    TD_ASSERT(o->session_size >= sizeof(struct conn));
    l->loop = loop;
    l->o = *o;
    l->host = td_strdup(o->host ? o->host : "127.0.0.1");
    l->name = td_strdup(o->name ? o->name : "listener");
    l->o.host = l->host;
    l->o.name = l->name;
    if (l->o.out_high_water == 0)
        l->o.out_high_water = 1u << 20;
    if (l->o.out_max == 0)
        l->o.out_max = 16u << 20;
    if (strchr(l->host, ':'))
        rc = uv_ip6_addr(l->host, o->port, (struct sockaddr_in6 *)&ss);
    else
        rc = uv_ip4_addr(l->host, o->port, (struct sockaddr_in *)&ss);
    if (rc == 0)
        rc = uv_tcp_init(loop, &l->tcp);
    else
        goto fail_noinit;
    l->tcp.data = l;
    if (rc == 0)
        rc = uv_tcp_bind(&l->tcp, (struct sockaddr *)&ss, 0);
    if (rc == 0)
        rc = uv_listen((uv_stream_t *)&l->tcp, 511, on_connection);
    if (rc == 0)
        rc = uv_tcp_getsockname(&l->tcp, (struct sockaddr *)&ss, &namelen);
    if (rc != 0) {
        snprintf(msg, sizeof(msg), "%s: cannot listen on %s port %d: %s", l->name, l->host,
                 o->port, uv_strerror(rc));
        *err = td_strdup(msg);
        l->free_requested = true;
        l->stopped = true;
        uv_close((uv_handle_t *)&l->tcp, NULL);
        /* The handle memory must outlive the close; leak-free path: free
         * after the loop runs the close (listener_maybe_free on next use). */
        l->handle_closed = false;
        *out = NULL;
        uv_run(loop, UV_RUN_NOWAIT);
        free(l->host);
        free(l->name);
        free(l);
        return TD_EIO;
    }
    if (ss.ss_family == AF_INET6)
        l->port = ntohs(((struct sockaddr_in6 *)&ss)->sin6_port);
    else
        l->port = ntohs(((struct sockaddr_in *)&ss)->sin_port);
    uv_check_init(loop, &l->check);
    uv_prepare_init(loop, &l->prepare);
    l->check.data = l;
    l->prepare.data = l;
    uv_check_start(&l->check, on_check);
    uv_prepare_start(&l->prepare, on_prepare);
    /* They run every turn but keep no loop alive: a conn with output does. */
    uv_unref((uv_handle_t *)&l->check);
    uv_unref((uv_handle_t *)&l->prepare);
    l->flush_started = true;
    l->flush_handles_open = 2;
    *out = l;
    return TD_OK;

fail_noinit:
    snprintf(msg, sizeof(msg), "%s: bad listen address '%s'", l->name, l->host);
    *err = td_strdup(msg);
    free(l->host);
    free(l->name);
    free(l);
    return TD_EINVAL;
}

int listener_port(const struct listener *l)
{
    return l->port;
}

void *listener_data(const struct listener *l)
{
    return l->o.data;
}

size_t listener_conn_count(const struct listener *l)
{
    return l->nconns;
}

static void on_listener_closed(uv_handle_t *h)
{
    struct listener *l = h->data;
    l->handle_closed = true;
    listener_maybe_free(l);
}

void listener_stop(struct listener *l)
{
    if (l->stopped)
        return;
    l->stopped = true;
    uv_close((uv_handle_t *)&l->tcp, on_listener_closed);
}

void listener_foreach(struct listener *l, void (*fn)(struct conn *c, void *ud), void *ud)
{
    struct conn *c = l->conns;
    while (c) {
        struct conn *next = c->_next; /* fn may close c; memory stays until its close cb */
        fn(c, ud);
        c = next;
    }
}

static void on_flush_handle_closed(uv_handle_t *h)
{
    struct listener *l = h->data;
    l->flush_handles_open--;
    listener_maybe_free(l);
}

static void listener_maybe_free(struct listener *l)
{
    if (!l->free_requested || l->nconns > 0)
        return;
    /* The last conn is gone: nothing left to flush. Closed at once, not
     * after the socket's close: an owner that frees the listener and then
     * closes every handle left in the loop (main's shutdown) must find
     * these already closing. */
    if (l->flush_started) {
        l->flush_started = false;
        uv_close((uv_handle_t *)&l->check, on_flush_handle_closed);
        uv_close((uv_handle_t *)&l->prepare, on_flush_handle_closed);
    }
    if (!l->handle_closed || l->flush_handles_open > 0)
        return;
    for (size_t i = 0; i < IP_BUCKETS; i++) {
        while (l->ips[i]) {
            struct ipcount *n = l->ips[i]->next;
            free(l->ips[i]);
            l->ips[i] = n;
        }
    }
    free(l->host);
    free(l->name);
    free(l);
}

void listener_free(struct listener *l)
{
    if (l == NULL)
        return;
    listener_stop(l);
    l->free_requested = true;
    listener_maybe_free(l);
}
