/* SPDX-License-Identifier: MIT */
/* What the parts of the client-to-server service share, and nothing
 * outside src/xmpp includes: the server and session structs, the output
 * and error helpers, and the module interface. The core (xmpp_c2s.c) does
 * streams, STARTTLS, SASL and bind and dispatches stanzas; xmpp_im.c does
 * RFC 6121 (rosters, presence, messages, offline storage); each extension
 * is a struct xmpp_mod in its own file, listed in xmpp_mods.c, which the
 * core calls at fixed points (features, non-stanza elements, iq requests,
 * messages before and after routing, presence, the session's life).
 *
 * A session is its own allocation, reached from its transport (a TCP
 * connection of the c2s listener, or a WebSocket on the HTTP listener)
 * through struct xmpp_transport, so a module may keep a session after its
 * transport went away (stream resumption) and the same code serves both
 * framings (RFC 6120 streams and RFC 7395 framed elements). */
#ifndef TD_XMPP_C2S_INT_H
#define TD_XMPP_C2S_INT_H

#include "core/arena.h"
#include "core/buf.h"
#include "xmpp/xmpp_c2s.h"
#include "xmpp/xmpp_jid.h"
#include "xmpp/xmpp_router.h"
#include "xmpp/xmpp_xml.h"

#include <stdbool.h>
#include <stdint.h>

#define XMPP_NS_TLS "urn:ietf:params:xml:ns:xmpp-tls"
#define XMPP_NS_SASL "urn:ietf:params:xml:ns:xmpp-sasl"
#define XMPP_NS_BIND "urn:ietf:params:xml:ns:xmpp-bind"
#define XMPP_NS_SESSION "urn:ietf:params:xml:ns:xmpp-session"
#define XMPP_NS_STANZAS "urn:ietf:params:xml:ns:xmpp-stanzas"
#define XMPP_NS_STREAM_ERR "urn:ietf:params:xml:ns:xmpp-streams"
#define XMPP_NS_PING "urn:xmpp:ping"
#define XMPP_NS_DISCO_INFO "http://jabber.org/protocol/disco#info"
#define XMPP_NS_DISCO_ITEMS "http://jabber.org/protocol/disco#items"
#define XMPP_NS_DELAY "urn:xmpp:delay" /* XEP-0203 */

#define XMPP_STANZA_MAX (256 * 1024) /* after authentication */
#define XMPP_RESOURCES_MAX 16        /* bound resources per account */
#define XMPP_MODS_MAX 16             /* entries of the module table */

struct xmpp_session;
struct xmpp_stream;
struct auth_sasl;
struct store;
struct tls_ctx;
struct plain_job;

typedef void xmpp_session_timer_cb(struct xmpp_session *s);

/* How a session reaches its peer. Every write is one complete top-level
 * element (or the stream header/footer), so a framed transport can put each
 * in a message of its own; `stanza` tells a stanza from negotiation. */
struct xmpp_transport {
    const char *name;                 /* "tcp", "websocket" */
    bool framed;                      /* RFC 7395 <open/>/<close/> framing */
    int (*write)(struct xmpp_session *s, const char *data, size_t len, bool stanza);
    void (*close)(struct xmpp_session *s); /* after pending output drains */
    bool (*is_closing)(const struct xmpp_session *s);
    bool (*is_secure)(const struct xmpp_session *s); /* TLS (or HTTPS) underneath */
    /* Channel binding data of type ("tls-exporter", "tls-server-end-point"). */
    int (*channel_binding)(struct xmpp_session *s, const char *type, uint8_t *out, size_t *len);
    int (*start_tls)(struct xmpp_session *s); /* NULL: no STARTTLS on this transport */
    void (*pause_read)(struct xmpp_session *s);
    void (*resume_read)(struct xmpp_session *s);
    /* One timer per session; 0 stops it. */
    void (*timer_set)(struct xmpp_session *s, uint64_t ms, xmpp_session_timer_cb *cb);
};

struct xmpp_ws;
struct xmpp_bosh;

struct xmpp_c2s {
    uv_loop_t *loop;
    struct listener *l;
    struct listener *tls_l;        /* XEP-0368 direct TLS, or NULL */
    struct xmpp_ws *ws;            /* WebSocket transports (xmpp_ws.c), for shutdown */
    struct xmpp_bosh *bosh;        /* BOSH sessions (xmpp_bosh.c): by sid, for shutdown */
    size_t bosh_count;
    bool bosh_stopped;             /* shutdown: no new BOSH sessions */
    struct xmpp_router *router;
    struct store *store;
    struct oauth *oauth;           /* NULL: no OAUTHBEARER */
    struct tls_ctx *tls;
    char *domain;
    char *muc_domain;              /* XEP-0045 service (xmpp_muc.c); NULL = off */
    bool allow_plaintext;
    size_t sessions;               /* live sessions, bound or not */
    uv_timer_t sweep;              /* looks for accounts disabled meanwhile */
    int64_t swept_at;              /* updated_at bound of the last sweep (ms) */
    unsigned ticks;                /* of the sweep timer */
    bool sweep_started;
    size_t rate;                   /* bytes/s per session, 0 = off */
    uv_timer_t throttle;           /* resumes throttled sessions */
    struct xmpp_session *throttled; /* sessions reading paused by the rate limit */
    uv_timer_t doze;               /* hibernates sessions quiet for DOZE_MS */
    struct xmpp_session *awake, *awake_tail; /* bound streams holding a parser, newest first */
    size_t awake_count;
    void *mod[XMPP_MODS_MAX];      /* per-module server state */
};

struct xmpp_session {
    struct xmpp_c2s *srv;
    const struct xmpp_transport *tr; /* NULL while detached (no transport) */
    void *tr_data;                   /* the transport's (its conn or WebSocket) */
    uint64_t id;                     /* connection id, for logs */
    char peer[64];                   /* peer address, for logs */
    struct xmpp_stream *xs;
    struct auth_sasl *sasl;
    struct plain_job *plain;    /* PLAIN check on the thread pool */
    struct xmpp_route route;    /* in srv->router once bound */
    char *local;                /* authenticated localpart (prepared) */
    char *bare;                 /* local@domain */
    char *full;                 /* bound full JID */
    char *presence;             /* last available presence, serialized (own resources) */
    int64_t account_id;         /* the account's row, looked up at bind */
    uint64_t push_seq;          /* ids of roster pushes */
    bool roster_requested;      /* an interested resource (RFC 6121 §2.1.6) */
    char lang[36];              /* xml:lang of the client's header */
    int sasl_failures;
    bool header_sent;           /* our header for the current stream */
    bool restart_pending;       /* reset the parser after this feed */
    bool starttls_pending;      /* ... and switch to TLS first */
    bool plus_offered;          /* -PLUS mechanisms were in the features */
    bool authed;
    bool bound;
    bool ended;                 /* stream closed or failed: ignore input */
    bool left;                  /* leave() has run */
    bool kept;                  /* a module keeps the session past its transport */
    bool throttled;             /* in srv->throttled, reading paused */
    int64_t rl_tokens;          /* rate limit bucket (bytes) */
    uint64_t rl_at;             /* its last refill (loop ms) */
    struct xmpp_session *rl_prev, *rl_next;
    uint64_t fed_at;            /* loop ms of the last bytes from the client */
    int quick_reads;            /* reads in a row, once bound, close to the one before */
    bool in_awake;              /* in srv->awake */
    struct xmpp_session *aw_prev, *aw_next;
    void *mod[XMPP_MODS_MAX];   /* per-module session state */
};

enum xmpp_mod_rc {
    XMPP_MOD_PASS = 0,    /* not mine: the next module, then the core */
    XMPP_MOD_HANDLED = 1, /* answered or consumed */
};

/* An extension. Every hook is optional; the core calls them in table order
 * (xmpp_mods.c). `slot` is the module's index there, for mod[] state. */
struct xmpp_mod {
    const char *name;
    const char *const *server_features; /* disco#info of the server, NULL-terminated */
    const char *const *account_features; /* disco#info of an account's bare JID */
    /* Identities the module adds to an account's disco#info: category, type
     * pairs, NULL-terminated (XEP-0163 §4: pubsub/pep). */
    const char *const *account_identities;
    int (*init)(struct xmpp_c2s *srv, int slot);
    void (*fini)(struct xmpp_c2s *srv, int slot);
    /* Stream features after SASL success (bound or not). */
    void (*features)(struct xmpp_session *s, int slot, struct buf *out);
    /* A top-level element after SASL success that is not a jabber:client
     * stanza (e.g. XEP-0198 <r/>, XEP-0352 <inactive/>). */
    int (*nonza)(struct xmpp_session *s, int slot, struct xmpp_el *el, struct arena *a);
    /* An iq get/set (one child q) to the server (to NULL or the domain), the
     * user's own bare JID, or another local bare JID. */
    int (*iq)(struct xmpp_session *s, int slot, struct xmpp_el *iq, struct xmpp_el *q,
              const struct xmpp_jid *to, struct arena *a);
    /* An iq result or error from s to the server (to NULL or the domain):
     * the answer to a request a module sent to s (XEP-0115 disco#info).
     * HANDLED when it was the module's; unclaimed ones are dropped. */
    int (*iq_response)(struct xmpp_session *s, int slot, struct xmpp_el *iq, struct arena *a);
    /* A message from s to a local user (to_bare), before delivery; may add
     * to it (XEP-0359 ids) or consume it (HANDLED, after answering). */
    int (*message_pre)(struct xmpp_session *s, int slot, struct xmpp_el *msg,
                       const char *to_bare, struct arena *a);
    /* After routing: the resources it went to (n may be 0), offline when stored. */
    void (*message_post)(struct xmpp_session *s, int slot, struct xmpp_el *msg,
                         const char *to_bare, struct xmpp_route **to, size_t n, bool offline,
                         struct arena *a);
    /* A stanza from s to another domain than ours (after the from stamp and
     * the to check): a service the module runs on a subdomain (MUC, upload)
     * or a component takes it and returns HANDLED; unclaimed domains get
     * remote-server-not-found (no server-to-server). */
    int (*route_domain)(struct xmpp_session *s, int slot, struct xmpp_el *el,
                        const struct xmpp_jid *to, struct arena *a);
    /* Items the server lists in its disco#items (XEP-0030 §4): services as
     * <item jid='...' name='...'/>. */
    void (*disco_items)(struct xmpp_c2s *srv, int slot, struct buf *out);
    /* Blocking (XEP-0191): does user_bare refuse traffic with other_bare? */
    bool (*blocks)(struct xmpp_c2s *srv, int slot, const char *user_bare,
                   const char *other_bare);
    /* A broadcast available presence of s (no 'to', no type) before it is
     * serialized and sent: may add children (XEP-0153 photo hash). */
    void (*presence_pre)(struct xmpp_session *s, int slot, struct xmpp_el *p, struct arena *a);
    /* An available/unavailable presence of s was broadcast (initial: first
     * available presence of this session). */
    void (*presence)(struct xmpp_session *s, int slot, struct xmpp_el *p, bool initial,
                     struct arena *a);
    /* Before a stanza is written to s: HANDLED to hold it (XEP-0352); the
     * module writes it later with xmpp__write_stanza. */
    int (*out_hold)(struct xmpp_session *s, int slot, const char *data, size_t len);
    /* Each stanza written to s (XEP-0198 counting), after the write (so a
     * module may follow it with an ack request). Also while detached. */
    void (*out_sent)(struct xmpp_session *s, int slot, const char *data, size_t len);
    /* After each jabber:client stanza from the authenticated client was
     * handled, whatever the outcome (XEP-0198 §4 inbound counting). */
    void (*in_handled)(struct xmpp_session *s, int slot);
    /* s took over a kept session by xmpp__session_take_over(): its mod[]
     * state is the old session's now (fix back-pointers; XEP-0352 §5.2:
     * the client state is not restored). */
    void (*resumed)(struct xmpp_session *s, int slot);
    void (*bound)(struct xmpp_session *s, int slot);
    /* The session leaves (stream closed or transport gone); return true to
     * keep it (then the module ends it later with xmpp__session_end). */
    bool (*transport_gone)(struct xmpp_session *s, int slot);
    void (*leave)(struct xmpp_session *s, int slot);
    void (*free)(struct xmpp_session *s, int slot);
    /* About once a second on the loop thread (batched work, e.g. archive
     * writes). */
    void (*tick)(struct xmpp_c2s *srv, int slot);
};

/* ---- xmpp_mods.c ---- */
extern const struct xmpp_mod *const xmpp__mods[];
extern const size_t xmpp__nmods;

/* ---- xmpp_c2s.c: output ---- */
/** Append s with the five XML specials escaped. */
void xmpp__esc(struct buf *b, const char *s);
/** Write negotiation bytes (header, features, SASL, nonzas). */
void xmpp__send_raw(struct xmpp_session *s, const char *data, size_t len);
/** Write one serialized stanza through out_hold/out_sent. */
void xmpp__send_stanza(struct xmpp_session *s, const char *data, size_t len);
/** Write one stanza past out_hold (a held stanza being released). */
void xmpp__write_stanza(struct xmpp_session *s, const char *data, size_t len);
/** Serialize el and send it as a stanza. */
void xmpp__send_el(struct xmpp_session *s, const struct xmpp_el *el);
/** Answer el with a stanza error (RFC 6120 §8.3), unless it is an error. */
void xmpp__stanza_error(struct xmpp_session *s, const struct xmpp_el *el, const char *cond);
/** The same with an error type other than the condition's usual one, and
 *  app (may be NULL): an application-specific condition element, as XML. */
void xmpp__stanza_error_app(struct xmpp_session *s, const struct xmpp_el *el, const char *cond,
                            const char *type_override, const char *app);
/** Open an iq result to iq in b: "<iq type='result' id=.. [from=..]" (no '>'). */
void xmpp__iq_result_open(struct buf *b, const struct xmpp_el *iq, const char *from);
/** Send an empty iq result. */
void xmpp__iq_result_empty(struct xmpp_session *s, const struct xmpp_el *iq);
/** The same bytes as a stanza to each route (collected beforehand: a write
 *  may close a slow reader synchronously). */
void xmpp__deliver_bytes(struct xmpp_route **to, size_t n, const char *bytes, size_t len);
/** Serialize el once and deliver it. */
void xmpp__deliver_el(struct xmpp_route **to, size_t n, const struct xmpp_el *el);
/** Routes of bare (only the available ones if asked), except skip. */
size_t xmpp__resources_of(struct xmpp_c2s *srv, const char *bare, bool available_only,
                          const struct xmpp_route *skip, struct xmpp_route **out);
/** The session of a route. */
struct xmpp_session *xmpp__session_of(struct xmpp_route *rt);
/** RFC 6120 §4.9: the stream error, the closing tag, then close. */
void xmpp__stream_error(struct xmpp_session *s, const char *cond, const char *why);
/** The same with an application-specific condition (§4.9.4): app is one
 *  serialized element put after the defined condition (NULL: none). */
void xmpp__stream_error_app(struct xmpp_session *s, const char *cond, const char *app,
                            const char *why);
/** Parse one serialized jabber:client stanza (as written by xmpp__send_stanza)
 *  back into a tree in a new arena *a (the caller frees it); NULL if it does
 *  not parse (*a is then NULL). */
struct xmpp_el *xmpp__stanza_parse(const char *data, size_t len, struct arena **a);
/** Is s able to take output (not ended, transport attached and open)? */
bool xmpp__session_writable(const struct xmpp_session *s);

/* ---- xmpp_c2s.c: sessions and accounts ---- */
/** A new session on a transport (the caller then feeds it). */
struct xmpp_session *xmpp__session_new(struct xmpp_c2s *srv, const struct xmpp_transport *tr,
                                       void *tr_data, uint64_t id, const char *peer);
/** Bytes from the peer. */
void xmpp__session_feed(struct xmpp_session *s, const char *data, size_t len);
/** The transport is gone (EOF, error or closed): the session leaves the
 *  router, unless a module keeps it for resumption. Returns true when kept:
 *  the module owns s from then on and the transport must forget it (never
 *  call release); false: the transport calls xmpp__session_release once its
 *  own memory goes (no callback of s may run after that). */
bool xmpp__session_transport_gone(struct xmpp_session *s);
/** Free a session whose transport_gone returned false. */
void xmpp__session_release(struct xmpp_session *s);
/** End a kept session: a stream error if attached, else leave the router
 *  and free it now. Module fini hooks end the sessions they keep. */
void xmpp__session_end(struct xmpp_session *s);
/** Stream resumption (XEP-0198): the authenticated, unbound session s takes
 *  over old (kept, detached): its full JID, route, presence and module
 *  state (s's own module state is freed, then old's mod[] pointers move;
 *  a module fixes any back-pointer in its resumed hook); old is freed,
 *  then the resumed hooks run on s. */
void xmpp__session_take_over(struct xmpp_session *s, struct xmpp_session *old);
/** The account id of an existing, enabled local user, or 0. */
int64_t xmpp__account_of(struct xmpp_c2s *srv, const char *local);
/** The same for a bare JID (0 unless local@our-domain), from an online
 * session when there is one: no store read on the message path. */
int64_t xmpp__account_of_bare(struct xmpp_c2s *srv, const char *bare);
/** The localpart of a bare JID on our domain (in a), or NULL. */
const char *xmpp__local_of(struct xmpp_c2s *srv, struct arena *a, const char *bare);
/** The server's disco#info identity (XEP-0030) as the core answers it. */
#define XMPP_SERVER_IDENTITY_CATEGORY "server"
#define XMPP_SERVER_IDENTITY_TYPE "im"
#define XMPP_SERVER_IDENTITY_NAME "Tandem"
/** The server's disco#info features in answer order (the core's, then each
 *  module's server_features) into out; returns how many (at most cap). For
 *  the server's XEP-0115 ver. */
size_t xmpp__server_features(const char **out, size_t cap);
/** Answer iq with the disco#info of the server (account false) or of the
 *  account from (a bare JID), carrying node when not NULL (XEP-0115 §6.2). */
void xmpp__disco_info_send(struct xmpp_session *s, const struct xmpp_el *iq, const char *from,
                           bool account, const char *node);
/** Does the first tag of a serialized element declare a default namespace?
 *  (Transports that must add xmlns='jabber:client' to stanzas ask it.) */
bool xmpp__has_default_ns(const char *data, size_t len);
/** Does any module's blocks hook say user_bare refuses other_bare? */
bool xmpp__blocked(struct xmpp_c2s *srv, const char *user_bare, const char *other_bare);

/* ---- xmpp_ws.c: RFC 7395 ---- */
/** End every WebSocket session with the system-shutdown stream error. */
void xmpp__ws_shutdown(struct xmpp_c2s *srv);
/** Is peer a loopback address (a session from there counts as secure)? */
bool xmpp__is_loopback(const char *peer);
/** The web transports' Origin policy: the site's own origin (base_url's, or
 *  the scheme and Host r was sent to) or one listed in origins. */
bool xmpp__origin_allowed(struct http_req *r, const char *origin, const char *base_url,
                          const char *origins);

/* ---- xmpp_bosh.c: XEP-0124/XEP-0206 ---- */
/** End every BOSH session (system-shutdown), answering its held requests. */
void xmpp__bosh_shutdown(struct xmpp_c2s *srv);

/* ---- xmpp_im.c: RFC 6121 ---- */
/** A stanza from a service (a MUC room, a component, the upload service)
 *  to a local user, el's from and to set (to on our domain). A full JID:
 *  that resource (a message to a resource that is gone goes on as to the
 *  bare JID, RFC 6121 §8.5.3.2.1); a bare JID: a message to the most
 *  available resources or, none being available, to offline storage
 *  (chat/normal with a body); presence to every available resource; an iq
 *  to a bare JID is not delivered. Refused when the user blocks the sender.
 *  TD_OK if delivered or stored; TD_ENOTFOUND if nobody took it (the
 *  caller answers with an error where the protocol wants one). */
int xmpp__deliver_local(struct xmpp_c2s *srv, struct xmpp_el *el, struct arena *a);
/** XEP-0191 §3.3 for a stanza from s to bare: true (and answered) when
 *  either side blocks the other. */
bool xmpp__im_check_blocked(struct xmpp_session *s, struct xmpp_el *el, const char *bare);
void xmpp__im_leave_presence(struct xmpp_session *s);
/** The presence of from_bare's available resources (their last available
 *  presence, or unavailable) to to_bare's available resources (XEP-0191
 *  §3.3, §3.4: after a block or an unblock). */
void xmpp__im_presence_between(struct xmpp_c2s *srv, const char *from_bare, const char *to_bare,
                               bool available);
/** XEP-0160 storage of a chat/normal message with a body for the local user
 *  `local` (a delay stamp is added unless one of ours is there). TD_OK when
 *  kept, TD_EINVAL when not a message to keep, TD_ENOTFOUND when no such
 *  account, else the store's error (TD_ELIMIT: the user's storage is full). */
int xmpp__im_offline_keep(struct xmpp_c2s *srv, const char *local, struct xmpp_el *msg,
                          struct arena *a);
void xmpp__im_iq_roster(struct xmpp_session *s, struct xmpp_el *iq, const char *type,
                        struct xmpp_el *q, struct arena *a);
void xmpp__im_message(struct xmpp_session *s, struct xmpp_el *msg, const struct xmpp_jid *to,
                      const char *to_s, struct arena *a);
void xmpp__im_presence(struct xmpp_session *s, struct xmpp_el *p, const struct xmpp_jid *to,
                       const char *to_s, struct arena *a);

#endif
