/* SPDX-License-Identifier: MIT */
/* XMPP client-to-server sessions (RFC 6120): the listener on xmpp.c2s_port
 * and, per connection, stream negotiation (§4: header checks, stream
 * features), STARTTLS (§5, mandatory unless allow_plaintext), SASL (§6, via
 * auth/auth_sasl: SCRAM-SHA-256/-1 with -PLUS when the TLS layer gives
 * channel binding data, PLAIN and OAUTHBEARER (RFC 7628, access tokens with
 * the `chat` scope) only over TLS), resource binding (§7, a
 * conflicting resource replaces the old session, §7.7.2.2), and stanza
 * handling after bind (§8: the from address is stamped by the server,
 * §8.1.2.1; §8.3 stanza errors): XEP-0199 ping and minimal XEP-0030
 * disco#info to the server, iq routed to full JIDs, messages per RFC 6121
 * §8.5 (full JID, or the most available resources of a bare JID; unknown
 * users get service-unavailable; messages for a user with no available
 * resource are stored and delivered at the next initial presence, XEP-0160),
 * rosters and presence subscriptions (RFC 6121 §2–§4, via xmpp_roster: the
 * Appendix A state machine, pushes, broadcast to contacts, probes answered
 * by the server), and directed presence. Limits: stanza sizes through the parser, output through
 * conn's out_max, negotiation within 30 s. Loop thread only.
 *
 * The same sessions are reached three ways: port 5222 with STARTTLS, a
 * second port with TLS from the first byte (XEP-0368, ALPN "xmpp-client";
 * no STARTTLS offered, -PLUS mechanisms available), and RFC 7395 XMPP over
 * WebSocket and XEP-0206 XMPP over BOSH on the HTTP listener (xmpp_ws.c,
 * xmpp_bosh.c; discovery by XEP-0156 host-meta). */
#ifndef TD_XMPP_C2S_H
#define TD_XMPP_C2S_H

#include <stdbool.h>
#include <stddef.h>
#include <uv.h>

struct store;
struct tls_ctx;
struct listener;
struct xmpp_c2s;
struct http_req;

struct xmpp_c2s_opts {
    const char *domain;       /* our XMPP domain (server.domain); copied */
    const char *host;         /* address to bind */
    int port;                 /* 0 = pick a free port */
    struct tls_ctx *tls;      /* STARTTLS context (not owned); NULL = no TLS offered */
    bool allow_plaintext;     /* SASL without TLS (loopback tests only) */
    struct store *store;      /* accounts and SCRAM credentials (not owned) */
    struct oauth *oauth;      /* access tokens for SASL OAUTHBEARER (not owned); NULL: off */
    size_t max_conns;         /* 0 = unlimited */
    size_t max_conns_per_ip;  /* 0 = unlimited */
    size_t rate_limit;        /* bytes/s a connection may send (2 s burst); 0 = unlimited */
    int tls_port;             /* XEP-0368 direct TLS: 0 = pick a free port, -1 = off */
    struct tls_ctx *direct_tls; /* its context (not owned; ALPN xmpp-client); NULL = off */
    const char *muc_domain;   /* XEP-0045 service domain (copied); NULL or "" = off */
};

/** Start listening. TD_OK, or an error code with *err (caller frees). Without
 *  tls, allow_plaintext must be true (else TD_EINVAL). */
int xmpp_c2s_start(uv_loop_t *loop, const struct xmpp_c2s_opts *o, struct xmpp_c2s **out,
                   char **err);
/** The port bound. */
int xmpp_c2s_port(const struct xmpp_c2s *s);
/** The direct TLS port bound (XEP-0368), or -1 when off. */
int xmpp_c2s_tls_port(const struct xmpp_c2s *s);
/** The listener (e.g. to abort its conns on a shutdown timeout). */
struct listener *xmpp_c2s_listener(const struct xmpp_c2s *s);
/** The direct TLS listener, or NULL when off. */
struct listener *xmpp_c2s_tls_listener(const struct xmpp_c2s *s);
/** RFC 7395: answer an HTTP request for the XMPP WebSocket endpoint. It must
 *  ask for the "xmpp" sub-protocol, and a browser's Origin must be the site's
 *  own (base_url's, or the Host the request was sent to) or one of origins
 *  (space-separated; may be NULL); then the connection is upgraded and
 *  becomes a client session of s, else a 400/403 says why. */
void xmpp_c2s_ws_attach(struct xmpp_c2s *s, struct http_req *r, const char *base_url,
                        const char *origins);
/** XEP-0124/XEP-0206: answer an HTTP request to the BOSH endpoint
 *  (/http-bind): POST <body/> (a new session, or a request of one, which may
 *  be answered later), OPTIONS (the CORS preflight) or GET (a short text).
 *  Origin policy as for xmpp_c2s_ws_attach. */
void xmpp_c2s_bosh_handle(struct xmpp_c2s *s, struct http_req *r, const char *base_url,
                          const char *origins);
/** XEP-0156: answer r with the host-meta document (XRD, or JRD when json)
 *  advertising the WebSocket endpoint under base_url (http -> ws, https -> wss)
 *  and the BOSH endpoint (base_url + /http-bind). */
void xmpp_c2s_host_meta(struct http_req *r, const char *base_url, bool json);
/** Bound (online) sessions. */
size_t xmpp_c2s_session_count(const struct xmpp_c2s *s);
/** Bound sessions not yet hibernated: their client sent bytes lately. */
size_t xmpp_c2s_awake_count(const struct xmpp_c2s *s);
/** Stop accepting and end every session with the system-shutdown stream
 *  error (RFC 6120 §4.9.3.19); their conns close once output drains. */
void xmpp_c2s_shutdown(struct xmpp_c2s *s);
/** Release the listener (stopped now, freed once its last conn is gone), as
 *  for listener_free(); before closing the loop's remaining handles. NULL-safe. */
void xmpp_c2s_close(struct xmpp_c2s *s);
/** Free after the loop has closed every conn of the listener (calls
 *  xmpp_c2s_close if that has not run). NULL-safe. */
void xmpp_c2s_free(struct xmpp_c2s *s);

/* XEP-0114 external components (xmpp_component.c), attached to a started
 * server: their listener and the routing to and from their domains. */
struct xmpp_component_opts {
    const char *host;       /* address to bind (loopback: the protocol has no TLS) */
    int port;               /* 0 = pick a free port, -1 = off */
    const char *components; /* "domain:secret" pairs, space-separated; "" = none */
};

/** Parse o->components and, when any is configured and the port is not -1,
 *  start listening. TD_OK, or TD_EINVAL with *err naming xmpp.components
 *  (a malformed entry, a duplicate, the server's own domain), or the
 *  listener's error (caller frees *err). */
int xmpp_component_start(struct xmpp_c2s *s, const struct xmpp_component_opts *o, char **err);
/** The component port bound, or -1 when no listener runs. */
int xmpp_component_port(const struct xmpp_c2s *s);
/** The component listener (to abort its conns on a shutdown timeout), or NULL. */
struct listener *xmpp_component_listener(const struct xmpp_c2s *s);
/** Stop accepting and end every component stream with system-shutdown. */
void xmpp_component_shutdown(struct xmpp_c2s *s);
/** Release the listener (freed once its last conn is gone), before
 *  xmpp_c2s_close. NULL-safe. */
void xmpp_component_close(struct xmpp_c2s *s);

#endif
