/* SPDX-License-Identifier: MIT */
/* Connections and listeners: the one place that touches libuv TCP streams.
 *
 * A listener accepts TCP connections and gives each one a session object of
 * the protocol's size (HTTP, XMPP, ...) whose first member is a struct conn,
 * so the protocol gets back to its session with td_container_of. The
 * protocol sees plaintext only: when the connection uses TLS, conn passes the
 * bytes through net/tls (direct TLS from the first byte, or STARTTLS started
 * mid-stream with conn_start_tls()).
 *
 * Lifetime (libuv's rule, docs/src/handle.rst): conn_close() marks the
 * connection closing, stops reading, lets queued output drain (bounded by a
 * timer), calls ops->on_close once, then closes the handles; the memory is
 * freed only in the last close callback. Code inside on_data may call
 * conn_close() on its own connection; the object stays valid until on_data
 * returns.
 *
 * Output has a ceiling (Redis client output buffer limits): above
 * out_high_water the conn stops reading from the peer until the queue
 * drains; above out_max it is closed.
 *
 * Output is corked per loop turn: conn_write() appends to the conn's pending
 * buffer, and the listener hands every conn's pending bytes to the kernel in
 * one write after the turn's I/O callbacks (a uv_check handle, with a
 * uv_prepare one for bytes queued later in the turn). A server that routes
 * many stanzas to one client in a turn then pays one system call, not one
 * per stanza. conn_close(), conn_abort() and conn_start_tls() flush first,
 * so the order of bytes on the wire is the order of the calls. */
#ifndef TD_NET_CONN_H
#define TD_NET_CONN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

struct conn;
struct listener;
struct tls_ctx;
struct tls_session;
struct wreq;

/** Callbacks a protocol gives its listener. */
struct conn_ops {
    /* Called once after accept, before any data; non-zero refuses (closes) the conn. */
    int (*on_open)(struct conn *c);
    /* Plaintext bytes from the peer; valid only during the call. */
    void (*on_data)(struct conn *c, const char *data, size_t len);
    /* The peer closed its side (EOF). Default when NULL: conn_close(). */
    void (*on_eof)(struct conn *c);
    /* The connection is going away: release what refers to c. Called once.
     * c's memory stays valid until this returns. */
    void (*on_close)(struct conn *c);
    /* Optional: queued output fell to zero (e.g. resume a paused producer). */
    void (*on_drain)(struct conn *c);
    /* Optional: the last handle has closed and c is about to be freed; no
     * callback of this conn can be running. Free what on_close could not
     * (objects that may have been inside their own callbacks then). */
    void (*on_free)(struct conn *c);
};

typedef void conn_timer_cb(struct conn *c);

struct conn {
    uv_tcp_t tcp;                  /* the socket; tcp.data == this conn */
    uv_timer_t timer;              /* one timer the protocol owns (conn_timer_set) */
    const struct conn_ops *ops;    /* the protocol's callbacks */
    struct listener *listener;     /* NULL for outgoing conns */
    struct tls_session *tls;       /* non-NULL once TLS is on; owned */
    uint64_t id;                   /* process-unique, for logs */
    char peer[64];                 /* peer address, "ip" (no port) */
    int peer_port;
    size_t out_queued;             /* bytes pending or handed to uv_write, not yet written */
    size_t out_high_water;         /* pause reading above this (bytes) */
    size_t out_max;                /* close the conn above this (bytes) */
    uint64_t writes;               /* buffers handed to libuv (one per turn with output) */
    void *data;                    /* free for the protocol's use */
    /* private */
    conn_timer_cb *_timer_cb;
    struct conn *_next, *_prev;    /* listener's list of live conns */
    struct wreq *_pend;            /* output corked until the end of the turn */
    struct conn *_dnext, *_dprev;  /* listener's list of conns with _pend */
    int _handles_open;             /* handles not yet closed (tcp, timer) */
    int _in_callback;              /* >0 while inside on_data */
    bool _closing;
    bool _close_notified;          /* ops->on_close has run */
    bool _reading;                 /* uv_read_start is active */
    bool _read_paused_by_user;
    bool _read_paused_by_output;
    bool _shutdown_sent;
};

/** Listener options; strings are copied. */
struct listener_opts {
    const char *host;              /* "127.0.0.1", "::1", "0.0.0.0" */
    int port;                      /* 0 = let the kernel pick (see listener_port) */
    size_t session_size;           /* >= sizeof(struct conn); conn is the first member */
    const struct conn_ops *ops;
    struct tls_ctx *tls;           /* non-NULL: direct TLS on every accepted conn */
    size_t max_conns;              /* 0 = unlimited */
    size_t max_conns_per_ip;       /* 0 = unlimited */
    size_t out_high_water;         /* default 1 MiB */
    size_t out_max;                /* default 16 MiB */
    void *data;                    /* given back by listener_data() */
    const char *name;              /* for logs: "http", "https", "xmpp" */
};

/** Bind and listen. On error returns a TD_E* code and *err (caller frees). */
int listener_start(uv_loop_t *loop, const struct listener_opts *o, struct listener **out,
                   char **err);
/** The port actually bound (useful with port 0). */
int listener_port(const struct listener *l);
void *listener_data(const struct listener *l);
size_t listener_conn_count(const struct listener *l);
/** Stop accepting new connections; live ones go on. Idempotent. */
void listener_stop(struct listener *l);
/** Call fn on every live connection (e.g. to close idle ones on shutdown).
 * fn may close the conn it is given. */
void listener_foreach(struct listener *l, void (*fn)(struct conn *c, void *ud), void *ud);
/** Free the listener once it is stopped and has no live conns (else frees later). */
void listener_free(struct listener *l);

/** Total open connections over all listeners (for /metrics). */
size_t conn_open_count(void);

/** Queue bytes for the peer (copied; encrypted if TLS is on; sent at the end
 * of the loop turn). TD_ECLOSED if closing. */
int conn_write(struct conn *c, const void *data, size_t len);
/** Queue several pieces as one write. */
int conn_writev(struct conn *c, const uv_buf_t *bufs, unsigned nbufs);
/** Close gracefully: flush queued output (at most 5 s), then close. Idempotent. */
void conn_close(struct conn *c);
/** Close now, dropping queued output. */
void conn_abort(struct conn *c);
bool conn_is_closing(const struct conn *c);
/** Stop / resume delivering data to on_data. */
void conn_pause_read(struct conn *c);
void conn_resume_read(struct conn *c);
/** Arm the conn's timer (replacing any previous one); ms 0 stops it. */
void conn_timer_set(struct conn *c, uint64_t ms, conn_timer_cb *cb);
/** Switch to TLS from the next byte on (STARTTLS, RFC 6120 §5.4.3.3), as
 * server. Call after queuing the protocol's "proceed" reply. */
int conn_start_tls(struct conn *c, struct tls_ctx *ctx);
bool conn_is_tls(const struct conn *c);

#endif
