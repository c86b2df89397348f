/* SPDX-License-Identifier: MIT */
/* External components (XEP-0114, Jabber Component Protocol): a listener on
 * xmpp.component_port (loopback only: the protocol has no TLS) where a
 * trusted service configured in xmpp.components ("domain:secret" pairs)
 * connects, and the module (xmpp_mod_component) that routes between the
 * clients and the connected components.
 *
 * §3 handshake: the component opens a stream in jabber:component:accept
 * with to='its domain' (an unconfigured domain gets host-unknown); our
 * header carries a fresh random id; the component sends
 * <handshake>hex(SHA1(id + secret))</handshake>, compared in constant time;
 * the answer is <handshake/> or the not-authorized stream error. One
 * connection per domain: a second one that authenticates while the first is
 * up gets the conflict stream error (the working connection is kept, so a
 * stray second instance cannot knock the service off).
 *
 * After the handshake every stanza needs from and to (improper-addressing);
 * from must be on the component's domain (else invalid-from, RFC 6120
 * §4.9.3.9, the stream ends). To a local user it goes through
 * xmpp__deliver_local (RFC 6121 rules, blocking honoured); to the server,
 * ping and disco#info are answered, other requests get service-unavailable;
 * to another connected component it is passed on; elsewhere
 * remote-server-not-found (no server-to-server). Stanzas clients send to a
 * component's domain (route_domain hook) go to its connection; a configured
 * component that is not connected answers iq requests and messages with
 * service-unavailable (RFC 6120 §8.3.3.19, §10.4.3: the domain is ours, the
 * service is not there) and drops presence. Connected components are listed
 * in the server's disco#items (XEP-0030 §4). Stanzas change namespace on the
 * way (jabber:client <-> jabber:component:accept). Loop thread only. */
#include "xmpp/xmpp_c2s_int.h"
#include "xmpp/xmpp_stream.h"

#include "core/arena.h"
#include "core/buf.h"
#include "core/codec.h"
#include "core/err.h"
#include "core/log.h"
#include "net/conn.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define NS_COMPONENT "jabber:component:accept"
#define HANDSHAKE_MS 30000          /* stream open to handshake */
#define COMP_OUT_HIGH_WATER (1024 * 1024)
#define COMP_OUT_MAX (16 * 1024 * 1024)
#define COMP_MAX 64                 /* entries of xmpp.components */
#define SECRET_MAX 1024

extern const struct xmpp_mod xmpp_mod_component;

struct comp_conn;

struct comp_entry {
    char *domain;             /* prepared */
    char *secret;
    struct comp_conn *active; /* the authenticated connection, or NULL */
};

struct comp_srv {
    struct xmpp_c2s *srv;
    struct listener *l;
    struct comp_entry e[COMP_MAX];
    size_t n;
};

struct comp_conn {
    struct conn conn; /* first: the listener's session object */
    struct comp_srv *cs;
    struct xmpp_stream *xs;
    struct comp_entry *entry; /* the domain of the stream header */
    char id[33];              /* our stream id, hex */
    bool header_sent;
    bool authed;
    bool ended;
};

static struct comp_srv *comp_srv_of(struct xmpp_c2s *srv)
{
    for (size_t i = 0; i < xmpp__nmods; i++)
        if (xmpp__mods[i] == &xmpp_mod_component)
            return srv->mod[i];
    return NULL;
}

static struct comp_entry *entry_find(struct comp_srv *cs, const char *domain)
{
    for (size_t i = 0; cs && i < cs->n; i++)
        if (strcmp(cs->e[i].domain, domain) == 0)
            return &cs->e[i];
    return NULL;
}

/* The stanza and the children that inherited the stream's default
 * namespace move from namespace from to namespace to. Below an element of
 * another namespace nothing changes: a stanza in jabber:client there (a
 * XEP-0297 forwarded message) was declared so explicitly. */
static void renamespace(struct xmpp_el *el, const char *from, const char *to)
{
    if (xmpp_el_is_text(el) || strcmp(el->ns, from) != 0)
        return;
    el->ns = to;
    for (struct xmpp_el *c = el->children; c; c = c->next)
        renamespace(c, from, to);
}

/* ---- output to the component ---- */

static void comp_write(struct comp_conn *cc, const char *data, size_t len)
{
    if (!cc->ended)
        (void)conn_write(&cc->conn, data, len);
}

static void comp_send_header(struct comp_conn *cc, const char *from)
{
    uint8_t rnd[16];
    struct buf b;

    if (RAND_bytes(rnd, sizeof(rnd)) != 1)
        memset(rnd, 0, sizeof(rnd));
    buf_init(&b, 0);
    codec_hex_encode(&b, rnd, sizeof(rnd));
    snprintf(cc->id, sizeof(cc->id), "%s", b.data);
    buf_reset(&b);
    buf_appends(&b, "<?xml version='1.0'?><stream:stream xmlns:stream='" XMPP_NS_STREAMS
                    "' xmlns='" NS_COMPONENT "' from='");
    xmpp__esc(&b, from);
    buf_appends(&b, "' id='");
    buf_appends(&b, cc->id);
    buf_appends(&b, "'>");
    comp_write(cc, b.data, b.len);
    buf_free(&b);
    cc->header_sent = true;
}

static void comp_close(struct comp_conn *cc)
{
    cc->ended = true;
    if (cc->xs)
        xmpp_stream_stop(cc->xs);
    conn_close(&cc->conn);
}

/* RFC 6120 §4.9: the error, the closing tag, then close. */
static void comp_stream_error(struct comp_conn *cc, const char *cond, const char *why)
{
    char b[256];

    if (cc->ended)
        return;
    log_info("xmpp.component.stream_error", "conn=%llu peer=%s domain=%s cond=%s why=%s",
             (unsigned long long)cc->conn.id, cc->conn.peer,
             log_q(cc->entry ? cc->entry->domain : ""), cond, log_q(why ? why : ""));
    if (!cc->header_sent)
        comp_send_header(cc, cc->entry ? cc->entry->domain : cc->cs->srv->domain);
    snprintf(b, sizeof(b),
             "<stream:error><%s xmlns='" XMPP_NS_STREAM_ERR "'/></stream:error></stream:stream>",
             cond);
    comp_write(cc, b, strlen(b));
    comp_close(cc);
}

/* A stanza error back to the component (RFC 6120 §8.3): from and to
 * swapped, never in answer to an error. */
static void comp_stanza_error(struct comp_conn *cc, const struct xmpp_el *el, const char *cond)
{
    const char *type = xmpp_el_attr(el, "type");
    const char *id = xmpp_el_attr(el, "id");
    const char *to = xmpp_el_attr(el, "to"), *from = xmpp_el_attr(el, "from");
    const char *etype = "cancel";
    struct buf b;

    if (type && strcmp(type, "error") == 0)
        return;
    if (strcmp(cond, "bad-request") == 0 || strcmp(cond, "jid-malformed") == 0)
        etype = "modify";
    buf_init(&b, 0);
    buf_printf(&b, "<%s type='error'", el->name);
    if (id) {
        buf_appends(&b, " id='");
        xmpp__esc(&b, id);
        buf_putc(&b, '\'');
    }
    buf_appends(&b, " from='");
    xmpp__esc(&b, to ? to : cc->cs->srv->domain);
    buf_appends(&b, "' to='");
    xmpp__esc(&b, from ? from : cc->entry->domain);
    buf_printf(&b, "'><error type='%s'><%s xmlns='" XMPP_NS_STANZAS "'/></error></%s>", etype,
               cond, el->name);
    comp_write(cc, b.data, b.len);
    buf_free(&b);
}

/* el (in NS_COMPONENT) serialized to an authenticated component. */
static void comp_send_el(struct comp_conn *cc, struct xmpp_el *el)
{
    struct buf b;

    buf_init(&b, 2 * XMPP_STANZA_MAX);
    if (xmpp_el_serialize(el, NS_COMPONENT, &b) == TD_OK)
        comp_write(cc, b.data, b.len);
    buf_free(&b);
}

/* ---- §3 handshake ---- */

static void handshake(struct comp_conn *cc, struct xmpp_el *el, struct arena *a)
{
    uint8_t want[20] = {0}, got[20] = {0};
    unsigned int want_len = 0;
    size_t got_len = 0, tlen;
    const char *text = xmpp_el_text(a, el, &tlen);
    struct comp_entry *e = cc->entry;
    struct buf in;
    bool ok;

    buf_init(&in, 0);
    buf_appends(&in, cc->id);
    buf_appends(&in, e->secret);
    ok = EVP_Digest(in.data, in.len, want, &want_len, EVP_sha1(), NULL) == 1 &&
         want_len == sizeof(want);
    buf_free(&in);
    /* Hex of either case; the comparison of the digests is constant time. */
    ok = ok && tlen == 2 * sizeof(got) &&
         codec_hex_decode(text, tlen, got, sizeof(got), &got_len) == TD_OK &&
         got_len == sizeof(got);
    ok = (CRYPTO_memcmp(want, got, sizeof(want)) == 0) & ok;
    if (!ok) {
        comp_stream_error(cc, "not-authorized", "handshake mismatch");
        return;
    }
    if (e->active != NULL) {
        comp_stream_error(cc, "conflict", "domain already connected");
        return;
    }
    e->active = cc;
    cc->authed = true;
    conn_timer_set(&cc->conn, 0, NULL);
    comp_write(cc, "<handshake/>", strlen("<handshake/>"));
    log_info("xmpp.component.connected", "conn=%llu peer=%s domain=%s",
             (unsigned long long)cc->conn.id, cc->conn.peer, log_q(e->domain));
}

/* ---- stanzas from the component ---- */

static void answer_server(struct comp_conn *cc, struct xmpp_el *el, struct arena *a)
{
    const char *type = xmpp_el_attr(el, "type");
    struct xmpp_el *q = xmpp_el_child(el, NULL, NULL);
    struct buf b;

    (void)a;
    if (strcmp(el->name, "iq") != 0 || type == NULL ||
        (strcmp(type, "get") != 0 && strcmp(type, "set") != 0))
        return; /* messages, presence and answers to the server: nothing to do */
    if (q == NULL || xmpp_el_attr(el, "id") == NULL) {
        comp_stanza_error(cc, el, "bad-request");
        return;
    }
    buf_init(&b, 0);
    buf_appends(&b, "<iq type='result' id='");
    xmpp__esc(&b, xmpp_el_attr(el, "id"));
    buf_appends(&b, "' from='");
    xmpp__esc(&b, cc->cs->srv->domain);
    buf_appends(&b, "' to='");
    xmpp__esc(&b, xmpp_el_attr(el, "from"));
    buf_putc(&b, '\'');
    if (strcmp(type, "get") == 0 && strcmp(q->name, "ping") == 0 &&
        strcmp(q->ns, XMPP_NS_PING) == 0) {
        buf_appends(&b, "/>");
        comp_write(cc, b.data, b.len);
    } else if (strcmp(type, "get") == 0 && strcmp(q->name, "query") == 0 &&
               strcmp(q->ns, XMPP_NS_DISCO_INFO) == 0 && xmpp_el_attr(q, "node") == NULL) {
        buf_appends(&b, "><query xmlns='" XMPP_NS_DISCO_INFO "'><identity category='"
                        XMPP_SERVER_IDENTITY_CATEGORY "' type='" XMPP_SERVER_IDENTITY_TYPE
                        "' name='" XMPP_SERVER_IDENTITY_NAME "'/><feature var='"
                        XMPP_NS_DISCO_INFO "'/><feature var='" XMPP_NS_PING
                        "'/></query></iq>");
        comp_write(cc, b.data, b.len);
    } else {
        comp_stanza_error(cc, el, "service-unavailable");
    }
    buf_free(&b);
}

static bool wants_error(const struct xmpp_el *el)
{
    const char *type = xmpp_el_attr(el, "type");

    if (strcmp(el->name, "presence") == 0)
        return false;
    if (strcmp(el->name, "iq") == 0)
        return type && (strcmp(type, "get") == 0 || strcmp(type, "set") == 0);
    return type == NULL || strcmp(type, "error") != 0;
}

static void comp_stanza(struct comp_conn *cc, struct xmpp_el *el, struct arena *a)
{
    struct xmpp_c2s *srv = cc->cs->srv;
    const char *from_s = xmpp_el_attr(el, "from"), *to_s = xmpp_el_attr(el, "to");
    struct xmpp_jid from, to;
    struct comp_entry *peer;

    if (strcmp(el->ns, NS_COMPONENT) != 0 ||
        (strcmp(el->name, "iq") && strcmp(el->name, "message") && strcmp(el->name, "presence"))) {
        comp_stream_error(cc, "unsupported-stanza-type", el->name);
        return;
    }
    if (from_s == NULL || to_s == NULL) {
        comp_stream_error(cc, "improper-addressing", "from and to are required");
        return;
    }
    if (xmpp_jid_parse(a, from_s, &from) != TD_OK ||
        strcmp(from.domain, cc->entry->domain) != 0) {
        comp_stream_error(cc, "invalid-from", from_s);
        return;
    }
    if (xmpp_jid_parse(a, to_s, &to) != TD_OK) {
        if (wants_error(el))
            comp_stanza_error(cc, el, "jid-malformed");
        return;
    }
    xmpp_el_attr_set(a, el, "from", xmpp_jid_full(a, &from));
    xmpp_el_attr_set(a, el, "to", xmpp_jid_full(a, &to));
    if (strcmp(to.domain, srv->domain) == 0) {
        if (to.local == NULL) {
            answer_server(cc, el, a);
            return;
        }
        renamespace(el, NS_COMPONENT, XMPP_NS_CLIENT);
        if (xmpp__deliver_local(srv, el, a) != TD_OK && wants_error(el)) {
            renamespace(el, XMPP_NS_CLIENT, NS_COMPONENT);
            comp_stanza_error(cc, el, "service-unavailable");
        }
        return;
    }
    peer = entry_find(cc->cs, to.domain);
    if (peer && peer->active) { /* one component to another, same namespace */
        comp_send_el(peer->active, el);
        return;
    }
    if (wants_error(el))
        comp_stanza_error(cc, el, peer ? "service-unavailable" : "remote-server-not-found");
}

/* ---- parser callbacks ---- */

static void on_open(void *ud, const struct xmpp_el *h)
{
    struct comp_conn *cc = ud;
    const char *to_s = xmpp_el_attr(h, "to");
    struct arena *a = arena_new(0);
    struct xmpp_jid to;

    if (to_s && xmpp_jid_parse(a, to_s, &to) == TD_OK && to.local == NULL &&
        to.resource == NULL)
        cc->entry = entry_find(cc->cs, to.domain);
    arena_free(a);
    if (cc->entry == NULL) {
        comp_stream_error(cc, "host-unknown", to_s ? to_s : "no to");
        return;
    }
    comp_send_header(cc, cc->entry->domain);
}

static void on_stanza(void *ud, struct xmpp_el *el, struct arena *a)
{
    struct comp_conn *cc = ud;

    if (cc->ended) {
        /* nothing */
    } else if (!cc->authed) {
        if (strcmp(el->name, "handshake") == 0 && strcmp(el->ns, NS_COMPONENT) == 0)
            handshake(cc, el, a);
        else
            comp_stream_error(cc, "not-authorized", el->name);
    } else {
        comp_stanza(cc, el, a);
    }
    arena_free(a);
}

static void on_stream_close(void *ud)
{
    struct comp_conn *cc = ud;

    if (cc->ended)
        return;
    comp_write(cc, "</stream:stream>", strlen("</stream:stream>"));
    comp_close(cc);
}

static void on_stream_error(void *ud, enum xmpp_stream_error cond, const char *text)
{
    comp_stream_error(ud, xmpp_stream_error_name(cond), text);
}

static const struct xmpp_stream_cbs comp_cbs = {
    .on_open = on_open,
    .on_stanza = on_stanza,
    .on_close = on_stream_close,
    .on_error = on_stream_error,
};

/* ---- connections ---- */

static void handshake_timeout(struct conn *c)
{
    comp_stream_error((struct comp_conn *)c, "connection-timeout", "no handshake");
}

static int comp_open(struct conn *c)
{
    struct comp_conn *cc = (struct comp_conn *)c;
    struct xmpp_stream_limits lim = {0};

    cc->cs = listener_data(c->listener);
    lim.max_stanza_bytes = XMPP_STANZA_MAX;
    lim.content_ns = NS_COMPONENT;
    cc->xs = xmpp_stream_new(&lim, &comp_cbs, cc);
    conn_timer_set(c, HANDSHAKE_MS, handshake_timeout);
    return 0;
}

static void comp_data(struct conn *c, const char *data, size_t len)
{
    struct comp_conn *cc = (struct comp_conn *)c;

    if (!cc->ended)
        (void)xmpp_stream_feed(cc->xs, data, len);
}

static void comp_conn_close(struct conn *c)
{
    struct comp_conn *cc = (struct comp_conn *)c;

    cc->ended = true;
    if (cc->entry && cc->entry->active == cc) {
        cc->entry->active = NULL;
        log_info("xmpp.component.disconnected", "conn=%llu domain=%s",
                 (unsigned long long)c->id, log_q(cc->entry->domain));
    }
}

static void comp_free(struct conn *c)
{
    struct comp_conn *cc = (struct comp_conn *)c;

    xmpp_stream_free(cc->xs);
    cc->xs = NULL;
}

static const struct conn_ops comp_ops = {
    .on_open = comp_open,
    .on_data = comp_data,
    .on_close = comp_conn_close,
    .on_free = comp_free,
};

/* ---- the module: stanzas from clients, disco#items ---- */

static int mod_init(struct xmpp_c2s *srv, int slot)
{
    struct comp_srv *cs = td_calloc(1, sizeof(*cs));

    cs->srv = srv;
    srv->mod[slot] = cs;
    return TD_OK;
}

static void mod_fini(struct xmpp_c2s *srv, int slot)
{
    struct comp_srv *cs = srv->mod[slot];

    if (cs == NULL)
        return;
    if (cs->l)
        listener_free(cs->l);
    for (size_t i = 0; i < cs->n; i++) {
        free(cs->e[i].domain);
        free(cs->e[i].secret);
    }
    free(cs);
    srv->mod[slot] = NULL;
}

static int mod_route_domain(struct xmpp_session *s, int slot, struct xmpp_el *el,
                            const struct xmpp_jid *to, struct arena *a)
{
    struct comp_entry *e = entry_find(s->srv->mod[slot], to->domain);

    (void)a;
    if (e == NULL)
        return XMPP_MOD_PASS;
    if (e->active) {
        renamespace(el, XMPP_NS_CLIENT, NS_COMPONENT);
        comp_send_el(e->active, el);
        return XMPP_MOD_HANDLED;
    }
    if (wants_error(el))
        xmpp__stanza_error(s, el, "service-unavailable");
    return XMPP_MOD_HANDLED;
}

static void mod_disco_items(struct xmpp_c2s *srv, int slot, struct buf *out)
{
    struct comp_srv *cs = srv->mod[slot];

    for (size_t i = 0; i < cs->n; i++) {
        if (cs->e[i].active == NULL)
            continue;
        buf_appends(out, "<item jid='");
        xmpp__esc(out, cs->e[i].domain);
        buf_appends(out, "'/>");
    }
}

const struct xmpp_mod xmpp_mod_component = {
    .name = "component",
    .init = mod_init,
    .fini = mod_fini,
    .route_domain = mod_route_domain,
    .disco_items = mod_disco_items,
};

/* ---- configuration and the listener ---- */

static int bad(char **err, const char *fmt, const char *what)
{
    struct buf b;

    buf_init(&b, 0);
    buf_printf(&b, fmt, what);
    *err = buf_steal(&b, NULL);
    return TD_EINVAL;
}

/* "domain:secret domain:secret ..." into cs->e. */
static int parse_components(struct comp_srv *cs, const char *spec, char **err)
{
    struct arena *a = arena_new(0);
    char *copy = td_strdup(spec), *save = NULL;
    int rc = TD_OK;

    for (char *tok = strtok_r(copy, " \t", &save); tok; tok = strtok_r(NULL, " \t", &save)) {
        char *colon = strchr(tok, ':');
        struct xmpp_jid j;

        if (colon == NULL || colon == tok || colon[1] == '\0') {
            rc = bad(err, "xmpp.components: '%s' is not domain:secret", tok);
            break;
        }
        *colon = '\0';
        if (xmpp_jid_parse(a, tok, &j) != TD_OK || j.local || j.resource) {
            rc = bad(err, "xmpp.components: '%s' is not a domain", tok);
            break;
        }
        if (strcmp(j.domain, cs->srv->domain) == 0) {
            rc = bad(err, "xmpp.components: '%s' is the server's own domain", tok);
            break;
        }
        if (entry_find(cs, j.domain)) {
            rc = bad(err, "xmpp.components: '%s' is listed twice", tok);
            break;
        }
        if (strlen(colon + 1) > SECRET_MAX) {
            rc = bad(err, "xmpp.components: the secret of '%s' is too long", tok);
            break;
        }
        if (cs->n == COMP_MAX) {
            rc = bad(err, "xmpp.components: more than %s components", "64");
            break;
        }
        cs->e[cs->n].domain = td_strdup(j.domain);
        cs->e[cs->n].secret = td_strdup(colon + 1);
        cs->n++;
    }
    free(copy);
    arena_free(a);
    return rc;
}

int xmpp_component_start(struct xmpp_c2s *srv, const struct xmpp_component_opts *o, char **err)
{
    struct comp_srv *cs = comp_srv_of(srv);
    struct listener_opts lo = {0};
    int rc;

    *err = NULL;
    TD_ASSERT(cs != NULL && cs->l == NULL);
    rc = parse_components(cs, o->components ? o->components : "", err);
    if (rc != TD_OK || cs->n == 0 || o->port < 0)
        return rc; /* nothing configured or off: no listener */
    lo.host = o->host;
    lo.port = o->port;
    lo.session_size = sizeof(struct comp_conn);
    lo.ops = &comp_ops;
    lo.max_conns = 2 * cs->n + 8; /* each component, a reconnect, a few strays */
    lo.out_high_water = COMP_OUT_HIGH_WATER;
    lo.out_max = COMP_OUT_MAX;
    lo.data = cs;
    lo.name = "xmpp-component";
    rc = listener_start(srv->loop, &lo, &cs->l, err);
    if (rc != TD_OK)
        cs->l = NULL;
    return rc;
}

int xmpp_component_port(const struct xmpp_c2s *srv)
{
    struct comp_srv *cs = comp_srv_of((struct xmpp_c2s *)srv);

    return cs && cs->l ? listener_port(cs->l) : -1;
}

struct listener *xmpp_component_listener(const struct xmpp_c2s *srv)
{
    struct comp_srv *cs = comp_srv_of((struct xmpp_c2s *)srv);

    return cs ? cs->l : NULL;
}

static void shutdown_one(struct conn *c, void *ud)
{
    (void)ud;
    comp_stream_error((struct comp_conn *)c, "system-shutdown", "server stopping");
}

void xmpp_component_shutdown(struct xmpp_c2s *srv)
{
    struct comp_srv *cs = comp_srv_of(srv);

    if (cs == NULL || cs->l == NULL)
        return;
    listener_stop(cs->l);
    listener_foreach(cs->l, shutdown_one, NULL);
}

void xmpp_component_close(struct xmpp_c2s *srv)
{
    struct comp_srv *cs = srv ? comp_srv_of(srv) : NULL;

    if (cs == NULL || cs->l == NULL)
        return;
    listener_free(cs->l);
    cs->l = NULL;
}
