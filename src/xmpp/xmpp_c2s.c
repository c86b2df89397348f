/* SPDX-License-Identifier: MIT */
/* XMPP client sessions, the core: see xmpp_c2s.h for the RFC sections and
 * xmpp_c2s_int.h for how the parts fit. A session is driven by the sans-I/O
 * parser of xmpp_stream.h and reaches its peer through a struct
 * xmpp_transport (here: TCP connections of the c2s listener, one struct
 * c2s_conn each). A stream restart (after STARTTLS or SASL success, RFC 6120
 * §4.3.3) is requested from inside a stanza callback with xmpp_stream_stop()
 * and done after the feed returns (restart_pending); the pre-authentication
 * parser has tight limits and is replaced by a roomier one after SASL
 * success. Transport callbacks may run synchronously inside a write (a peer
 * over its output limit is closed at once), so delivery first collects its
 * targets, then writes, and a session leaves the router (and tells its other
 * resources and contacts it is unavailable) exactly once, in leave(). PLAIN
 * runs argon2 on the thread pool; the pending job is detached from the
 * session when the transport goes away first. Stanzas after bind go to the
 * modules (xmpp_mods.c) and to xmpp_im.c. */
#include "xmpp/xmpp_c2s_int.h"

#include "auth/auth_password.h"
#include "auth/auth_sasl.h"
#include "core/arena.h"
#include "core/buf.h"
#include "core/codec.h"
#include "core/err.h"
#include "core/log.h"
#include "net/conn.h"
#include "net/tls.h"
#include "oauth/oauth.h"
#include "store/store.h"
#include "store/store_oauth.h"
#include "store/store_scram.h"
#include "xmpp/xmpp_jid.h"
#include "xmpp/xmpp_roster.h"
#include "xmpp/xmpp_router.h"
#include "xmpp/xmpp_stream.h"
#include "xmpp/xmpp_xml.h"

#include <openssl/rand.h>
#include <sodium.h>

#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define NS_SASL_CB "urn:xmpp:sasl-cb:0" /* XEP-0440 */
#define NS_FRAMING "urn:ietf:params:xml:ns:xmpp-framing" /* RFC 7395 */

#define NEGOTIATION_MS (30 * 1000)       /* TLS + SASL + bind must finish in this */
#define IDLE_MS (15 * 60 * 1000)         /* a bound stream silent this long is closed */
#define PREAUTH_STANZA_MAX (16 * 1024)   /* before SASL success */
#define OUT_HIGH_WATER (256 * 1024)
#define OUT_MAX (2 * 1024 * 1024)        /* a reader this far behind is dropped */
#define SASL_TRIES 5                     /* failures before the stream ends (RFC 6120 §6.4.5) */
#define RESOURCE_RAND_BYTES 8
#define TICK_MS 1000                     /* the modules' tick hook */
#define SWEEP_TICKS 5                    /* disabled accounts are looked for every 5 ticks */
#define THROTTLE_MS 100                  /* how often throttled sessions are looked at */
#define DOZE_MS 50                       /* quick reads are this close; quiet is this long */
#define DOZE_BURST 4                     /* quick reads in a row that keep the parser */
#define BURST_S 2                        /* rate limit burst, in seconds of rate */

struct plain_job {
    struct xmpp_session *s; /* NULL once the session is gone */
};

static void process_pending(struct xmpp_session *s);
static void idle_timeout(struct xmpp_session *s);
static void leave(struct xmpp_session *s);

/* ---- output ---- */

void xmpp__esc(struct buf *b, const char *s)
{
    for (; *s; s++) {
        switch (*s) {
        case '&': buf_appends(b, "&amp;"); break;
        case '<': buf_appends(b, "&lt;"); break;
        case '>': buf_appends(b, "&gt;"); break;
        case '\'': buf_appends(b, "&apos;"); break;
        case '"': buf_appends(b, "&quot;"); break;
        default: buf_putc(b, *s); break;
        }
    }
}

bool xmpp__session_writable(const struct xmpp_session *s)
{
    return !s->ended && s->tr != NULL && !s->tr->is_closing(s);
}

void xmpp__send_raw(struct xmpp_session *s, const char *data, size_t len)
{
    if (len > 0 && s->tr != NULL && !s->tr->is_closing(s))
        (void)s->tr->write(s, data, len, false);
}

static void send_raw_buf(struct xmpp_session *s, struct buf *b)
{
    xmpp__send_raw(s, b->data, b->len);
}

static void send_str(struct xmpp_session *s, const char *str)
{
    xmpp__send_raw(s, str, strlen(str));
}

void xmpp__write_stanza(struct xmpp_session *s, const char *data, size_t len)
{
    if (len == 0 || s->ended)
        return;
    if (s->tr != NULL && !s->tr->is_closing(s))
        (void)s->tr->write(s, data, len, true);
    /* Counted after the write, so that stream management may follow it with
     * an ack request; counted even while detached (or when the write closed
     * a slow reader): a resumed stream gets it (XEP-0198). */
    for (size_t i = 0; i < xmpp__nmods; i++)
        if (xmpp__mods[i]->out_sent)
            xmpp__mods[i]->out_sent(s, (int)i, data, len);
}

void xmpp__send_stanza(struct xmpp_session *s, const char *data, size_t len)
{
    if (len == 0 || s->ended)
        return;
    for (size_t i = 0; i < xmpp__nmods; i++)
        if (xmpp__mods[i]->out_hold &&
            xmpp__mods[i]->out_hold(s, (int)i, data, len) == XMPP_MOD_HANDLED)
            return;
    xmpp__write_stanza(s, data, len);
}

static void send_stanza_buf(struct xmpp_session *s, struct buf *b)
{
    xmpp__send_stanza(s, b->data, b->len);
}

void xmpp__send_el(struct xmpp_session *s, const struct xmpp_el *el)
{
    struct buf b;

    buf_init(&b, 2 * XMPP_STANZA_MAX);
    if (xmpp_el_serialize(el, XMPP_NS_CLIENT, &b) == TD_OK)
        send_stanza_buf(s, &b);
    buf_free(&b);
}

/* Our stream header (or RFC 7395 <open/>) into b. */
static void header_into(struct xmpp_session *s, struct buf *b)
{
    uint8_t rnd[16];

    if (RAND_bytes(rnd, sizeof(rnd)) != 1)
        memset(rnd, 0, sizeof(rnd));
    if (s->tr->framed)
        buf_appends(b, "<open xmlns='" NS_FRAMING "' id='");
    else
        buf_appends(b, "<?xml version='1.0'?><stream:stream xmlns='" XMPP_NS_CLIENT
                       "' xmlns:stream='" XMPP_NS_STREAMS "' id='");
    codec_hex_encode(b, rnd, sizeof(rnd));
    buf_appends(b, "' from='");
    xmpp__esc(b, s->srv->domain);
    buf_appends(b, "' version='1.0' xml:lang='");
    xmpp__esc(b, s->lang[0] ? s->lang : "en");
    buf_appends(b, s->tr->framed ? "'/>" : "'>");
    s->header_sent = true;
}

static void send_header(struct xmpp_session *s)
{
    struct buf b;

    buf_init(&b, 0);
    header_into(s, &b);
    send_raw_buf(s, &b);
    buf_free(&b);
}

/* The closing of the stream: </stream:stream>, or <close/> when framed. */
static void send_footer(struct xmpp_session *s)
{
    send_str(s, s->tr->framed ? "<close xmlns='" NS_FRAMING "'/>" : "</stream:stream>");
}

/* Stop reading and close the transport once output drains. */
static void close_transport(struct xmpp_session *s)
{
    s->ended = true;
    if (s->xs)
        xmpp_stream_stop(s->xs);
    if (s->tr)
        s->tr->close(s);
}

void xmpp__stream_error(struct xmpp_session *s, const char *cond, const char *why)
{
    xmpp__stream_error_app(s, cond, NULL, why);
}

void xmpp__stream_error_app(struct xmpp_session *s, const char *cond, const char *app,
                            const char *why)
{
    char b[640];

    if (s->ended)
        return;
    log_info("xmpp.stream_error", "conn=%llu peer=%s cond=%s why=%s", (unsigned long long)s->id,
             s->peer, cond, log_q(why ? why : ""));
    if (s->tr == NULL) { /* detached: nobody to tell */
        xmpp__session_end(s);
        return;
    }
    if (!s->header_sent)
        send_header(s);
    snprintf(b, sizeof(b),
             "<stream:error%s><%s xmlns='" XMPP_NS_STREAM_ERR "'/>%s</stream:error>",
             s->tr->framed ? " xmlns:stream='" XMPP_NS_STREAMS "'" : "", cond, app ? app : "");
    send_str(s, b);
    send_footer(s);
    s->kept = false; /* an error ends the session, resumable or not */
    close_transport(s);
    leave(s);
}

static void end_stream(struct xmpp_session *s)
{
    if (s->ended)
        return;
    send_footer(s);
    close_transport(s);
    leave(s);
}

/* ---- serialized stanzas read back (held or queued output) ---- */

struct reparse {
    struct xmpp_el *el;
    struct arena *a;
};

static void reparse_stanza(void *ud, struct xmpp_el *el, struct arena *a)
{
    struct reparse *r = ud;

    if (r->el == NULL) {
        r->el = el;
        r->a = a;
    } else {
        arena_free(a);
    }
}

struct xmpp_el *xmpp__stanza_parse(const char *data, size_t len, struct arena **a)
{
    static const char hdr[] = "<stream:stream xmlns='" XMPP_NS_CLIENT "' xmlns:stream='"
                              XMPP_NS_STREAMS "' version='1.0'>";
    static const struct xmpp_stream_cbs cbs = {.on_stanza = reparse_stanza};
    struct xmpp_stream_limits lim = {0};
    struct reparse r = {NULL, NULL};
    struct xmpp_stream *xs;

    /* Our own serialization of a stanza that passed the client limits: the
     * limits only need to admit what escaping and stamping made of it. */
    lim.max_stanza_bytes = len + sizeof(hdr);
    lim.max_tag_bytes = len + sizeof(hdr);
    lim.max_depth = 64;
    lim.max_attrs = 64;
    lim.max_attr_bytes = 16 * 1024;
    xs = xmpp_stream_new(&lim, &cbs, &r);
    if (xmpp_stream_feed(xs, hdr, sizeof(hdr) - 1) != TD_OK ||
        xmpp_stream_feed(xs, data, len) != TD_OK || r.el == NULL) {
        if (r.a)
            arena_free(r.a);
        r.el = NULL;
        r.a = NULL;
    }
    xmpp_stream_free(xs);
    *a = r.a;
    return r.el;
}

/* ---- stanza errors (RFC 6120 §8.3) ---- */

static const char *error_type_of(const char *cond)
{
    if (strcmp(cond, "bad-request") == 0 || strcmp(cond, "jid-malformed") == 0 ||
        strcmp(cond, "not-acceptable") == 0)
        return "modify";
    if (strcmp(cond, "resource-constraint") == 0)
        return "wait";
    if (strcmp(cond, "not-authorized") == 0 || strcmp(cond, "forbidden") == 0)
        return "auth";
    return "cancel";
}

void xmpp__stanza_error(struct xmpp_session *s, const struct xmpp_el *el, const char *cond)
{
    xmpp__stanza_error_app(s, el, cond, NULL, NULL);
}

void xmpp__stanza_error_app(struct xmpp_session *s, const struct xmpp_el *el, const char *cond,
                            const char *type_override, const char *app)
{
    const char *type = xmpp_el_attr(el, "type");
    const char *id = xmpp_el_attr(el, "id");
    const char *to = xmpp_el_attr(el, "to");
    struct buf b;

    if (type && strcmp(type, "error") == 0)
        return;
    buf_init(&b, 0);
    buf_printf(&b, "<%s type='error'", el->name);
    if (id) {
        buf_appends(&b, " id='");
        xmpp__esc(&b, id);
        buf_putc(&b, '\'');
    }
    buf_appends(&b, " from='");
    xmpp__esc(&b, to ? to : s->srv->domain);
    buf_appends(&b, "'");
    if (s->full) {
        buf_appends(&b, " to='");
        xmpp__esc(&b, s->full);
        buf_putc(&b, '\'');
    }
    buf_printf(&b, "><error type='%s'><%s xmlns='" XMPP_NS_STANZAS "'/>%s</error></%s>",
               type_override ? type_override : error_type_of(cond), cond, app ? app : "",
               el->name);
    if (s->bound)
        send_stanza_buf(s, &b);
    else
        send_raw_buf(s, &b);
    buf_free(&b);
}

void xmpp__iq_result_open(struct buf *b, const struct xmpp_el *iq, const char *from)
{
    const char *id = xmpp_el_attr(iq, "id");
    buf_appends(b, "<iq type='result'");
    if (id) {
        buf_appends(b, " id='");
        xmpp__esc(b, id);
        buf_putc(b, '\'');
    }
    if (from) {
        buf_appends(b, " from='");
        xmpp__esc(b, from);
        buf_putc(b, '\'');
    }
}

void xmpp__iq_result_empty(struct xmpp_session *s, const struct xmpp_el *iq)
{
    struct buf b;

    buf_init(&b, 0);
    xmpp__iq_result_open(&b, iq, NULL);
    buf_appends(&b, "/>");
    send_stanza_buf(s, &b);
    buf_free(&b);
}

/* ---- features ---- */

static bool tls_on(const struct xmpp_session *s)
{
    return s->tr->is_secure(s);
}

static bool tls_required(const struct xmpp_session *s)
{
    return !tls_on(s) && !s->srv->allow_plaintext;
}

/* Channel binding of this TLS connection: tls-exporter (RFC 9266) on TLS 1.3,
 * else tls-server-end-point (RFC 5929). false without TLS or data. */
static bool channel_binding(struct xmpp_session *s, const char **type, uint8_t *out, size_t *len)
{
    static const char *const types[] = {"tls-exporter", "tls-server-end-point"};

    if (!tls_on(s) || s->tr->channel_binding == NULL)
        return false;
    for (size_t i = 0; i < TD_ARRAY_LEN(types); i++) {
        *len = TLS_CB_MAX;
        if (s->tr->channel_binding(s, types[i], out, len) == TD_OK) {
            *type = types[i];
            return true;
        }
    }
    return false;
}

static bool mech_allowed(struct xmpp_session *s, enum auth_sasl_mech m)
{
    const char *t;
    uint8_t cb[TLS_CB_MAX];
    size_t n;

    if (tls_required(s))
        return false;
    switch (m) {
    case AUTH_SASL_SCRAM_SHA1_PLUS:
    case AUTH_SASL_SCRAM_SHA256_PLUS:
        return channel_binding(s, &t, cb, &n);
    case AUTH_SASL_PLAIN:
        return tls_on(s) || s->srv->allow_plaintext;
    case AUTH_SASL_OAUTHBEARER: /* a bearer token is a password for its lifetime */
        return s->srv->oauth != NULL && (tls_on(s) || s->srv->allow_plaintext);
    default:
        return true;
    }
}

/* Our header then the stream features. Over a stream transport they go in
 * one write: a client that reads the first chunk as our whole answer (tsung
 * does) would otherwise pipeline its next step too early, and it saves a
 * system call per stream; a framed transport sends each element alone. */
static void send_features(struct xmpp_session *s)
{
    static const enum auth_sasl_mech order[] = {
        AUTH_SASL_SCRAM_SHA256_PLUS, AUTH_SASL_SCRAM_SHA256, AUTH_SASL_SCRAM_SHA1_PLUS,
        AUTH_SASL_SCRAM_SHA1, AUTH_SASL_PLAIN, AUTH_SASL_OAUTHBEARER,
    };
    struct buf b;

    buf_init(&b, 0);
    if (s->tr->framed)
        send_header(s);
    else
        header_into(s, &b);
    if (s->tr->framed)
        buf_appends(&b, "<stream:features xmlns:stream='" XMPP_NS_STREAMS "'>");
    else
        buf_appends(&b, "<stream:features>");
    if (s->authed) {
        buf_appends(&b, "<bind xmlns='" XMPP_NS_BIND "'/>"
                        "<session xmlns='" XMPP_NS_SESSION "'><optional/></session>");
        for (size_t i = 0; i < xmpp__nmods; i++)
            if (xmpp__mods[i]->features)
                xmpp__mods[i]->features(s, (int)i, &b);
    } else {
        if (!tls_on(s) && s->srv->tls && s->tr->start_tls) {
            buf_appends(&b, "<starttls xmlns='" XMPP_NS_TLS "'>");
            if (tls_required(s))
                buf_appends(&b, "<required/>");
            buf_appends(&b, "</starttls>");
        }
        if (!tls_required(s)) {
            const char *cbt = NULL;
            uint8_t cb[TLS_CB_MAX];
            size_t n;
            s->plus_offered = false;
            buf_appends(&b, "<mechanisms xmlns='" XMPP_NS_SASL "'>");
            for (size_t i = 0; i < TD_ARRAY_LEN(order); i++) {
                if (!mech_allowed(s, order[i]))
                    continue;
                if (order[i] == AUTH_SASL_SCRAM_SHA256_PLUS ||
                    order[i] == AUTH_SASL_SCRAM_SHA1_PLUS)
                    s->plus_offered = true;
                buf_printf(&b, "<mechanism>%s</mechanism>", auth_sasl_mech_name(order[i]));
            }
            buf_appends(&b, "</mechanisms>");
            if (s->plus_offered && channel_binding(s, &cbt, cb, &n))
                buf_printf(&b,
                           "<sasl-channel-binding xmlns='" NS_SASL_CB
                           "'><channel-binding type='%s'/></sasl-channel-binding>",
                           cbt);
        }
    }
    buf_appends(&b, "</stream:features>");
    send_raw_buf(s, &b);
    buf_free(&b);
}

/* ---- routing and delivery ---- */

struct xmpp_session *xmpp__session_of(struct xmpp_route *rt)
{
    return rt->data;
}

void xmpp__deliver_bytes(struct xmpp_route **to, size_t n, const char *bytes, size_t len)
{
    struct xmpp_session *t[XMPP_RESOURCES_MAX];

    if (n > XMPP_RESOURCES_MAX)
        n = XMPP_RESOURCES_MAX;
    for (size_t i = 0; i < n; i++)
        t[i] = xmpp__session_of(to[i]);
    for (size_t i = 0; i < n; i++)
        if (!t[i]->ended)
            xmpp__send_stanza(t[i], bytes, len);
}

void xmpp__deliver_el(struct xmpp_route **to, size_t n, const struct xmpp_el *el)
{
    struct buf b;

    if (n == 0)
        return;
    buf_init(&b, 2 * XMPP_STANZA_MAX);
    if (xmpp_el_serialize(el, XMPP_NS_CLIENT, &b) == TD_OK)
        xmpp__deliver_bytes(to, n, b.data, b.len);
    buf_free(&b);
}

size_t xmpp__resources_of(struct xmpp_c2s *srv, const char *bare, bool available_only,
                          const struct xmpp_route *skip, struct xmpp_route **out)
{
    size_t n = 0;
    for (struct xmpp_route *rt = xmpp_router_resources(srv->router, bare);
         rt && n < XMPP_RESOURCES_MAX; rt = xmpp_route_next(rt))
        if (rt != skip && (!available_only || rt->available))
            out[n++] = rt;
    return n;
}

/* Leave the router once: tell the other resources and contacts we went away. */
static void leave(struct xmpp_session *s)
{
    if (s->left)
        return;
    s->left = true;
    if (!s->bound)
        return;
    xmpp_router_remove(s->srv->router, &s->route);
    xmpp__im_leave_presence(s);
    for (size_t i = 0; i < xmpp__nmods; i++)
        if (xmpp__mods[i]->leave)
            xmpp__mods[i]->leave(s, (int)i);
    log_info("xmpp.session_ended", "conn=%llu jid=%s", (unsigned long long)s->id,
             log_q(s->full));
}

/* ---- accounts ---- */

int64_t xmpp__account_of(struct xmpp_c2s *srv, const char *local)
{
    struct account acc;
    int64_t id = 0;

    if (local && store_account_get_by_name(srv->store, local, &acc) == TD_OK) {
        if (!acc.disabled)
            id = acc.id;
        store_account_clear(&acc);
    }
    return id;
}

int64_t xmpp__account_of_bare(struct xmpp_c2s *srv, const char *bare)
{
    struct xmpp_route *rt = xmpp_router_resources(srv->router, bare);
    char local[XMPP_JID_PART_MAX + 1];
    const char *at;
    size_t n;

    /* A bound session is an enabled account's, up to the sweep that ends a
     * disabled one's sessions; until then it gets its messages anyway. */
    if (rt)
        return xmpp__session_of(rt)->account_id;
    at = strchr(bare, '@');
    if (at == NULL || strchr(at, '/') || strcmp(at + 1, srv->domain) != 0)
        return 0;
    n = (size_t)(at - bare);
    if (n == 0 || n > XMPP_JID_PART_MAX)
        return 0;
    memcpy(local, bare, n);
    local[n] = '\0';
    return xmpp__account_of(srv, local);
}

const char *xmpp__local_of(struct xmpp_c2s *srv, struct arena *a, const char *bare)
{
    struct xmpp_jid j;

    if (xmpp_jid_parse(a, bare, &j) != TD_OK || j.local == NULL || j.resource ||
        strcmp(j.domain, srv->domain) != 0)
        return NULL;
    return j.local;
}

bool xmpp__blocked(struct xmpp_c2s *srv, const char *user_bare, const char *other_bare)
{
    for (size_t i = 0; i < xmpp__nmods; i++)
        if (xmpp__mods[i]->blocks && xmpp__mods[i]->blocks(srv, (int)i, user_bare, other_bare))
            return true;
    return false;
}

/* ---- SASL ---- */

/* ---- SASL ---- */

static int get_scram(void *ud, const char *authcid, enum auth_scram_hash h,
                     struct auth_scram_cred *out)
{
    struct xmpp_session *s = ud;
    char *cred = NULL;
    int rc;

    rc = store_scram_get(s->srv->store, authcid, auth_scram_hash_name(h), &cred, NULL);
    if (rc == TD_OK) {
        rc = auth_scram_cred_parse(cred, out) == TD_OK ? TD_OK : TD_ENOTFOUND;
        free(cred);
    }
    return rc == TD_ENOTFOUND || rc == TD_OK ? rc : TD_EIO;
}

static void sasl_result(struct xmpp_session *s, int rc, struct buf *out, bool done,
                        const char *condition);

static void plain_checked(void *ud, bool ok, const char *hash_unused)
{
    struct plain_job *job = ud;
    struct xmpp_session *s = job->s;
    struct buf out;
    bool done = false;
    const char *cond = NULL;
    int rc;

    (void)hash_unused;
    free(job);
    if (s == NULL)
        return; /* the connection went away meanwhile */
    s->plain = NULL;
    if (!s->throttled)
        s->tr->resume_read(s);
    if (s->ended || s->sasl == NULL)
        return;
    auth_sasl_plain_result(s->sasl, ok);
    buf_init(&out, 0);
    rc = auth_sasl_step(s->sasl, NULL, 0, &out, &done, &cond);
    sasl_result(s, rc, &out, done, cond);
    buf_free(&out);
    process_pending(s);
}

/* SASL PLAIN (over TLS only). The password is checked against the account's
 * SCRAM-SHA-256 keys, as Prosody and ejabberd do: PBKDF2 with 4096 rounds
 * (about a millisecond) instead of argon2id with 64 MiB (about 70 ms, the
 * web log-in's hash), which made a PLAIN log-in the slowest of the three
 * servers'. The keys are as secret as the argon2id hash and stored beside it;
 * an online guesser is limited by the SASL failure limit either way. An
 * unknown or disabled account runs the same PBKDF2 against a dummy key, and
 * an account without SCRAM keys falls back to argon2id. */
static int check_plain(void *ud, const char *authcid, const char *password, size_t len)
{
    struct xmpp_session *s = ud;
    struct auth_scram_cred cred;
    struct account a;
    struct plain_job *job;
    bool found, known;
    int rc;

    job = td_calloc(1, sizeof(*job));
    job->s = s;
    found = store_account_get_by_name(s->srv->store, authcid, &a) == TD_OK;
    known = found && !a.disabled;
    if (known && get_scram(s, authcid, AUTH_SCRAM_SHA256, &cred) == TD_OK)
        rc = auth_scram_check_async(s->srv->loop, &cred, password, len, plain_checked, job);
    else if (known && a.password_hash)
        rc = auth_password_verify_async(s->srv->loop, a.password_hash, password, len,
                                        plain_checked, job);
    else
        rc = auth_scram_check_async(s->srv->loop, NULL, password, len, plain_checked, job);
    sodium_memzero(&cred, sizeof(cred));
    if (found)
        store_account_clear(&a);
    if (rc != TD_OK) {
        free(job);
        return rc == TD_EINVAL ? TD_EDENIED : TD_EIO;
    }
    s->plain = job;
    s->tr->pause_read(s);
    return TD_EAGAIN;
}

/* The authzid may be the authcid or its bare JID. */
static int check_authzid(void *ud, const char *authcid, const char *authzid)
{
    struct xmpp_session *s = ud;
    size_t n = strlen(authcid);

    if (strcasecmp(authcid, authzid) == 0)
        return TD_OK;
    if (strncasecmp(authzid, authcid, n) == 0 && authzid[n] == '@' &&
        strcasecmp(authzid + n + 1, s->srv->domain) == 0)
        return TD_OK;
    return TD_EDENIED;
}

/* RFC 7628 with Tandem's access tokens: active, of an enabled account, with
 * the chat scope. A refusal carries the §3.2.2 error object naming the scope
 * and the provider's discovery document. */
static int check_bearer(void *ud, const char *token, size_t len, char **authcid,
                        struct buf *err_json)
{
    struct xmpp_session *s = ud;
    struct oauth_token t;
    struct account acc;
    int rc;

    (void)len;
    if (s->srv->oauth == NULL)
        return TD_EIO;
    rc = oauth_access_token_check(s->srv->oauth, token, store_now_ms(), &t);
    if (rc == TD_OK && t.account_id != 0 && oauth_scope_has(t.scope, "chat")) {
        rc = store_account_get_by_id(s->srv->store, t.account_id, &acc);
        if (rc == TD_OK) {
            *authcid = acc.disabled ? NULL : td_strdup(acc.username);
            store_account_clear(&acc);
        }
        store_oauth_token_clear(&t);
        if (rc == TD_OK && *authcid)
            return TD_OK;
        if (rc != TD_OK && rc != TD_ENOTFOUND)
            return TD_EIO;
    } else if (rc == TD_OK) {
        store_oauth_token_clear(&t);
    }
    buf_appends(err_json, "{\"status\":\"invalid_token\",\"scope\":\"chat\","
                          "\"openid-configuration\":\"");
    buf_appends(err_json, s->srv->oauth->issuer); /* a URL: no JSON escaping needed */
    buf_appends(err_json, "/.well-known/openid-configuration\"}");
    return TD_EDENIED;
}

static const struct auth_sasl_cbs sasl_cbs = {
    .get_scram = get_scram,
    .check_plain = check_plain,
    .check_authzid = check_authzid,
    .check_bearer = check_bearer,
};

static void sasl_failure(struct xmpp_session *s, const char *cond)
{
    char b[160];

    snprintf(b, sizeof(b), "<failure xmlns='" XMPP_NS_SASL "'><%s/></failure>", cond);
    send_str(s, b);
    auth_sasl_free(s->sasl);
    s->sasl = NULL;
    if (++s->sasl_failures >= SASL_TRIES)
        xmpp__stream_error(s, "policy-violation", "too many SASL failures");
}

static void sasl_result(struct xmpp_session *s, int rc, struct buf *out, bool done,
                        const char *condition)
{
    struct buf b;

    if (rc == TD_EAGAIN)
        return;
    if (rc != TD_OK) {
        log_info("xmpp.auth_failed", "conn=%llu peer=%s cond=%s", (unsigned long long)s->id,
                 s->peer, condition ? condition : "?");
        sasl_failure(s, condition ? condition : "temporary-auth-failure");
        return;
    }
    buf_init(&b, 0);
    if (!done) {
        buf_appends(&b, "<challenge xmlns='" XMPP_NS_SASL "'>");
        codec_b64_encode(&b, out->data, out->len);
        buf_appends(&b, "</challenge>");
        send_raw_buf(s, &b);
        buf_free(&b);
        return;
    }
    struct arena *a = arena_new(0);
    const char *local = xmpp_jid_local_prep(a, auth_sasl_authcid(s->sasl));
    if (local == NULL) { /* cannot happen for a stored account name */
        arena_free(a);
        buf_free(&b);
        sasl_failure(s, "not-authorized");
        return;
    }
    if (out->len) {
        buf_appends(&b, "<success xmlns='" XMPP_NS_SASL "'>");
        codec_b64_encode(&b, out->data, out->len);
        buf_appends(&b, "</success>");
    } else {
        buf_appends(&b, "<success xmlns='" XMPP_NS_SASL "'/>");
    }
    send_raw_buf(s, &b);
    buf_free(&b);
    s->local = td_strdup(local);
    arena_free(a);
    size_t bl = strlen(s->local) + strlen(s->srv->domain) + 2;
    s->bare = td_malloc(bl);
    snprintf(s->bare, bl, "%s@%s", s->local, s->srv->domain);
    s->authed = true;
    auth_sasl_free(s->sasl);
    s->sasl = NULL;
    log_info("xmpp.authenticated", "conn=%llu peer=%s user=%s", (unsigned long long)s->id,
             s->peer, log_q(s->local));
    xmpp_stream_stop(s->xs);
    s->restart_pending = true;
}

static void handle_sasl(struct xmpp_session *s, struct xmpp_el *el, struct arena *a)
{
    uint8_t msg[AUTH_SASL_MSG_MAX];
    size_t msg_len = 0;
    const char *text;
    size_t text_len;
    struct buf out;
    bool done = false;
    const char *cond = NULL;
    int rc;

    if (s->authed) {
        xmpp__stream_error(s, "policy-violation", "SASL after authentication");
        return;
    }
    if (s->plain) {
        xmpp__stream_error(s, "policy-violation", "SASL while a check is pending");
        return;
    }
    if (strcmp(el->name, "abort") == 0) {
        sasl_failure(s, "aborted");
        return;
    }
    if (strcmp(el->name, "auth") == 0) {
        enum auth_sasl_mech m;
        const char *mech = xmpp_el_attr(el, "mechanism");
        if (tls_required(s)) {
            sasl_failure(s, "encryption-required");
            return;
        }
        if (mech == NULL || auth_sasl_mech_parse(mech, &m) != TD_OK || !mech_allowed(s, m)) {
            sasl_failure(s, "invalid-mechanism");
            return;
        }
        const char *cbt = NULL;
        uint8_t cb[TLS_CB_MAX];
        size_t cbn = 0;
        if (!channel_binding(s, &cbt, cb, &cbn)) {
            cbt = NULL;
            cbn = 0;
        }
        auth_sasl_free(s->sasl);
        s->sasl = auth_sasl_new(m, &sasl_cbs, s, cbt, cb, cbn, s->plus_offered);
    } else if (strcmp(el->name, "response") != 0 || s->sasl == NULL) {
        sasl_failure(s, "malformed-request");
        return;
    }
    text = xmpp_el_text(a, el, &text_len);
    if (text_len == 1 && text[0] == '=') /* RFC 6120 §6.4.2: empty response */
        text_len = 0;
    if (text_len > 0 && codec_b64_decode(text, text_len, msg, sizeof(msg), &msg_len) != TD_OK) {
        sasl_failure(s, text_len > 4 * (sizeof(msg) / 3 + 1) ? "malformed-request"
                                                             : "incorrect-encoding");
        return;
    }
    buf_init(&out, 0);
    rc = auth_sasl_step(s->sasl, (const char *)msg, msg_len, &out, &done, &cond);
    sasl_result(s, rc, &out, done, cond);
    buf_free(&out);
    memset(msg, 0, sizeof(msg));
}

/* ---- bind (RFC 6120 §7) ---- */


/* ---- bind (RFC 6120 §7) ---- */

static void handle_bind(struct xmpp_session *s, struct xmpp_el *iq, struct xmpp_el *bind,
                        struct arena *a)
{
    const char *res = xmpp_el_child_text(a, bind, "resource", XMPP_NS_BIND);
    struct xmpp_jid j;
    struct xmpp_route *old = NULL;
    struct xmpp_route *mine[XMPP_RESOURCES_MAX];
    const char *full;
    struct buf b;

    if (res == NULL || res[0] == '\0') {
        uint8_t rnd[RESOURCE_RAND_BYTES];
        struct buf r;
        if (RAND_bytes(rnd, sizeof(rnd)) != 1) {
            xmpp__stanza_error(s, iq, "internal-server-error");
            return;
        }
        buf_init(&r, 0);
        buf_appends(&r, "tandem-");
        codec_hex_encode(&r, rnd, sizeof(rnd));
        res = arena_strdup(a, r.data);
        buf_free(&r);
    }
    if (xmpp_jid_parse(a, arena_printf(a, "%s/%s", s->bare, res), &j) != TD_OK ||
        j.resource == NULL) {
        xmpp__stanza_error(s, iq, "bad-request");
        return;
    }
    full = xmpp_jid_full(a, &j);
    if (xmpp__resources_of(s->srv, s->bare, false, NULL, mine) >= XMPP_RESOURCES_MAX &&
        xmpp_router_find(s->srv->router, full) == NULL) {
        xmpp__stanza_error(s, iq, "resource-constraint");
        return;
    }
    s->full = td_strdup(full);
    s->route.full = s->full;
    s->route.bare_len = strlen(s->bare);
    s->route.data = s;
    if (xmpp_router_add(s->srv->router, &s->route, &old) == TD_EEXIST) {
        /* RFC 6120 §7.7.2.2: the new session wins, the old one is ended. */
        struct xmpp_session *o = xmpp__session_of(old);
        log_info("xmpp.resource_conflict", "jid=%s old=%llu new=%llu", log_q(full),
                 (unsigned long long)o->id, (unsigned long long)s->id);
        xmpp_router_remove(s->srv->router, old);
        xmpp__stream_error(o, "conflict", "resource replaced"); /* may free o */
        if (xmpp_router_add(s->srv->router, &s->route, NULL) != TD_OK) {
            free(s->full);
            s->full = NULL;
            xmpp__stanza_error(s, iq, "conflict");
            return;
        }
    }
    s->bound = true;
    s->account_id = xmpp__account_of(s->srv, s->local);
    s->tr->timer_set(s, IDLE_MS, idle_timeout);
    buf_init(&b, 0);
    xmpp__iq_result_open(&b, iq, NULL);
    buf_appends(&b, "><bind xmlns='" XMPP_NS_BIND "'><jid>");
    xmpp__esc(&b, s->full);
    buf_appends(&b, "</jid></bind></iq>");
    send_stanza_buf(s, &b);
    buf_free(&b);
    log_info("xmpp.bound", "conn=%llu jid=%s", (unsigned long long)s->id, log_q(s->full));
    for (size_t i = 0; i < xmpp__nmods && !s->ended; i++)
        if (xmpp__mods[i]->bound)
            xmpp__mods[i]->bound(s, (int)i);
}

/* ---- iq to the server and to accounts ---- */

static bool is_server(const struct xmpp_session *s, const struct xmpp_jid *to)
{
    return to->local == NULL && to->resource == NULL && strcmp(to->domain, s->srv->domain) == 0;
}

/* The core's own server features (XEP-0030, XEP-0199, XEP-0160). */
static const char *const core_server_features[] = {
    XMPP_NS_DISCO_INFO, XMPP_NS_DISCO_ITEMS, XMPP_NS_PING, "msgoffline",
};

size_t xmpp__server_features(const char **out, size_t cap)
{
    size_t n = 0;

    for (size_t i = 0; i < TD_ARRAY_LEN(core_server_features) && n < cap; i++)
        out[n++] = core_server_features[i];
    for (size_t i = 0; i < xmpp__nmods; i++)
        for (const char *const *f = xmpp__mods[i]->server_features; f && *f && n < cap; f++)
            out[n++] = *f;
    return n;
}

/* XEP-0030 disco#info of the server (account: of a bare JID on the domain,
 * answered by the server for the account, RFC 6121 §8.5.1). A node is
 * answered by a module (XEP-0115 §6.2) or not at all. */
void xmpp__disco_info_send(struct xmpp_session *s, const struct xmpp_el *iq, const char *from,
                           bool account, const char *node)
{
    struct buf b;

    buf_init(&b, 0);
    xmpp__iq_result_open(&b, iq, from);
    buf_appends(&b, "><query xmlns='" XMPP_NS_DISCO_INFO "'");
    if (node) {
        buf_appends(&b, " node='");
        xmpp__esc(&b, node);
        buf_putc(&b, '\'');
    }
    buf_putc(&b, '>');
    if (account) {
        buf_appends(&b, "<identity category='account' type='registered'/>");
        for (size_t i = 0; i < xmpp__nmods; i++)
            for (const char *const *id = xmpp__mods[i]->account_identities; id && id[0] && id[1];
                 id += 2)
                buf_printf(&b, "<identity category='%s' type='%s'/>", id[0], id[1]);
        buf_appends(&b, "<feature var='" XMPP_NS_DISCO_INFO "'/>");
        for (size_t i = 0; i < xmpp__nmods; i++)
            for (const char *const *f = xmpp__mods[i]->account_features; f && *f; f++) {
                buf_appends(&b, "<feature var='");
                xmpp__esc(&b, *f);
                buf_appends(&b, "'/>");
            }
    } else {
        const char *f[128];
        size_t n = xmpp__server_features(f, TD_ARRAY_LEN(f));
        buf_appends(&b, "<identity category='" XMPP_SERVER_IDENTITY_CATEGORY
                        "' type='" XMPP_SERVER_IDENTITY_TYPE
                        "' name='" XMPP_SERVER_IDENTITY_NAME "'/>");
        for (size_t i = 0; i < n; i++) {
            buf_appends(&b, "<feature var='");
            xmpp__esc(&b, f[i]);
            buf_appends(&b, "'/>");
        }
    }
    buf_appends(&b, "</query></iq>");
    send_stanza_buf(s, &b);
    buf_free(&b);
}

static void disco_info(struct xmpp_session *s, struct xmpp_el *iq, struct xmpp_el *q,
                       const char *from, bool account)
{
    if (xmpp_el_attr(q, "node")) {
        xmpp__stanza_error(s, iq, "item-not-found");
        return;
    }
    xmpp__disco_info_send(s, iq, from, account, NULL);
}

/* The server's own answers, after the modules had their turn. */
static void iq_server(struct xmpp_session *s, struct xmpp_el *iq, struct xmpp_el *q,
                      const char *type, const char *from)
{
    struct buf b;

    if (strcmp(type, "get") == 0 && strcmp(q->name, "ping") == 0 &&
        strcmp(q->ns, XMPP_NS_PING) == 0) {
        buf_init(&b, 0);
        xmpp__iq_result_open(&b, iq, from);
        buf_appends(&b, "/>");
        send_stanza_buf(s, &b);
        buf_free(&b);
    } else if (strcmp(type, "get") == 0 && strcmp(q->name, "query") == 0 &&
               strcmp(q->ns, XMPP_NS_DISCO_INFO) == 0) {
        disco_info(s, iq, q, from ? from : s->srv->domain, from != NULL);
    } else if (strcmp(type, "get") == 0 && strcmp(q->name, "query") == 0 &&
               strcmp(q->ns, XMPP_NS_DISCO_ITEMS) == 0 && xmpp_el_attr(q, "node") == NULL) {
        buf_init(&b, 0); /* the services modules run (MUC, upload, components) */
        xmpp__iq_result_open(&b, iq, from ? from : s->srv->domain);
        buf_appends(&b, "><query xmlns='" XMPP_NS_DISCO_ITEMS "'>");
        for (size_t i = 0; i < xmpp__nmods && from == NULL; i++)
            if (xmpp__mods[i]->disco_items)
                xmpp__mods[i]->disco_items(s->srv, (int)i, &b);
        buf_appends(&b, "</query></iq>");
        send_stanza_buf(s, &b);
        buf_free(&b);
    } else {
        xmpp__stanza_error(s, iq, "service-unavailable");
    }
}

static int iq_mods(struct xmpp_session *s, struct xmpp_el *iq, struct xmpp_el *q,
                   const struct xmpp_jid *to, struct arena *a)
{
    for (size_t i = 0; i < xmpp__nmods && !s->ended; i++)
        if (xmpp__mods[i]->iq && xmpp__mods[i]->iq(s, (int)i, iq, q, to, a) == XMPP_MOD_HANDLED)
            return XMPP_MOD_HANDLED;
    return XMPP_MOD_PASS;
}

static void handle_iq(struct xmpp_session *s, struct xmpp_el *iq, const struct xmpp_jid *to,
                      const char *to_s, struct arena *a)
{
    const char *type = xmpp_el_attr(iq, "type");
    bool request;
    struct xmpp_el *first;

    if (type == NULL || (strcmp(type, "get") && strcmp(type, "set") && strcmp(type, "result") &&
                         strcmp(type, "error"))) {
        xmpp__stanza_error(s, iq, "bad-request");
        return;
    }
    request = strcmp(type, "get") == 0 || strcmp(type, "set") == 0;
    first = xmpp_el_child(iq, NULL, NULL);
    /* RFC 6120 §8.2.3: an id always; get/set carry exactly one child. */
    if (xmpp_el_attr(iq, "id") == NULL ||
        (request && (first == NULL || xmpp_el_next(first, NULL, NULL) != NULL))) {
        xmpp__stanza_error(s, iq, "bad-request");
        return;
    }
    if (to != NULL && strcmp(to->domain, s->srv->domain) != 0) {
        if (request)
            xmpp__stanza_error(s, iq, "remote-server-not-found");
        return;
    }
    if (to != NULL && to->local && to->resource) { /* to a full JID: routed */
        struct xmpp_route *rt = xmpp_router_find(s->srv->router, to_s);
        if (xmpp__im_check_blocked(s, iq, xmpp_jid_bare(a, to)))
            return;
        if (rt) {
            xmpp__deliver_el(&rt, 1, iq);
            return;
        }
        if (request)
            xmpp__stanza_error(s, iq, "service-unavailable");
        return;
    }
    if (!request) {
        /* An answer to the server: a module's request (XEP-0115 disco#info), else dropped. */
        if (to == NULL || is_server(s, to))
            for (size_t i = 0; i < xmpp__nmods && !s->ended; i++)
                if (xmpp__mods[i]->iq_response &&
                    xmpp__mods[i]->iq_response(s, (int)i, iq, a) == XMPP_MOD_HANDLED)
                    break;
        return;
    }
    /* RFC 6121 §2.1.5: the roster, addressed to no one or the own bare JID */
    bool self = to == NULL || (to->local && strcmp(to_s, s->bare) == 0);
    if (strcmp(first->name, "query") == 0 && strcmp(first->ns, XMPP_NS_ROSTER) == 0 && self) {
        xmpp__im_iq_roster(s, iq, type, first, a);
        return;
    }
    if (iq_mods(s, iq, first, to, a) == XMPP_MOD_HANDLED)
        return;
    if (to == NULL || is_server(s, to)) {
        iq_server(s, iq, first, type, NULL);
        return;
    }
    /* A bare JID on our domain: RFC 6121 §8.5.1, the server answers for the
     * account (ping and disco#info of the own account and of others). */
    if (to->local && xmpp__account_of(s->srv, to->local) != 0 &&
        !xmpp__im_check_blocked(s, iq, to_s)) {
        iq_server(s, iq, first, type, to_s);
        return;
    }
    if (!s->ended)
        xmpp__stanza_error(s, iq, "service-unavailable");
}

static void handle_stanza(struct xmpp_session *s, struct xmpp_el *el, struct arena *a)
{
    const char *to_attr = xmpp_el_attr(el, "to");
    struct xmpp_jid to;
    const char *to_s = NULL;

    /* RFC 6120 §8.1.2.1: the server stamps the sender's full JID. */
    xmpp_el_attr_set(a, el, "from", s->full);
    if (to_attr) {
        if (xmpp_jid_parse(a, to_attr, &to) != TD_OK) {
            xmpp__stanza_error(s, el, "jid-malformed");
            return;
        }
        to_s = xmpp_jid_full(a, &to);
        xmpp_el_attr_set(a, el, "to", to_s);
        if (strcmp(to.domain, s->srv->domain) != 0)
            for (size_t i = 0; i < xmpp__nmods; i++)
                if (xmpp__mods[i]->route_domain &&
                    xmpp__mods[i]->route_domain(s, (int)i, el, &to, a) == XMPP_MOD_HANDLED)
                    return;
    }
    if (strcmp(el->name, "iq") == 0)
        handle_iq(s, el, to_attr ? &to : NULL, to_s, a);
    else if (strcmp(el->name, "message") == 0)
        xmpp__im_message(s, el, to_attr ? &to : NULL, to_s, a);
    else
        xmpp__im_presence(s, el, to_attr ? &to : NULL, to_s, a);
}

/* ---- parser callbacks ---- */

static void on_stream_open(void *ud, const struct xmpp_el *h)
{
    struct xmpp_session *s = ud;
    const char *to = xmpp_el_attr(h, "to");
    const char *ver = xmpp_el_attr(h, "version");
    const char *lang = xmpp_el_attr_ns(h, XMPP_NS_XML, "lang");

    s->lang[0] = '\0';
    if (lang && strlen(lang) < sizeof(s->lang) && strspn(lang, "abcdefghijklmnopqrstuvwxyz"
                                                              "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
                                                              "0123456789-") == strlen(lang))
        snprintf(s->lang, sizeof(s->lang), "%s", lang);
    if (to && strcasecmp(to, s->srv->domain) != 0) {
        xmpp__stream_error(s, "host-unknown", to);
        return;
    }
    /* RFC 6120 §4.7.5: no version or a major version other than 1. */
    if (ver == NULL || strncmp(ver, "1.", 2) != 0) {
        xmpp__stream_error(s, "unsupported-version", ver ? ver : "none");
        return;
    }
    send_features(s); /* with the header */
}

/* A top-level element after SASL success that is not a stanza: the modules'
 * (stream management, client state), else a stream error. */
static void handle_nonza(struct xmpp_session *s, struct xmpp_el *el, struct arena *a)
{
    for (size_t i = 0; i < xmpp__nmods && !s->ended; i++)
        if (xmpp__mods[i]->nonza && xmpp__mods[i]->nonza(s, (int)i, el, a) == XMPP_MOD_HANDLED)
            return;
    xmpp__stream_error(s, "unsupported-stanza-type", el->name);
}

static void on_stanza(void *ud, struct xmpp_el *el, struct arena *a)
{
    struct xmpp_session *s = ud;

    if (s->ended)
        goto out;
    if (strcmp(el->ns, XMPP_NS_TLS) == 0 && strcmp(el->name, "starttls") == 0) {
        if (tls_on(s) || s->srv->tls == NULL || s->authed || s->tr->start_tls == NULL) {
            send_str(s, "<failure xmlns='" XMPP_NS_TLS "'/>");
            send_footer(s);
            close_transport(s);
            goto out;
        }
        send_str(s, "<proceed xmlns='" XMPP_NS_TLS "'/>");
        xmpp_stream_stop(s->xs);
        s->restart_pending = true;
        s->starttls_pending = true;
        goto out;
    }
    if (strcmp(el->ns, XMPP_NS_SASL) == 0) {
        handle_sasl(s, el, a);
        goto out;
    }
    if (!s->authed) {
        xmpp__stream_error(s, "not-authorized", el->name);
        goto out;
    }
    if (strcmp(el->ns, XMPP_NS_CLIENT) != 0) {
        handle_nonza(s, el, a);
        goto out;
    }
    if (strcmp(el->name, "iq") && strcmp(el->name, "message") && strcmp(el->name, "presence")) {
        xmpp__stream_error(s, "unsupported-stanza-type", el->name);
        goto out;
    }
    if (!s->bound) {
        struct xmpp_el *c = xmpp_el_child(el, NULL, NULL);
        const char *type = xmpp_el_attr(el, "type");
        if (strcmp(el->name, "iq") != 0 || c == NULL || type == NULL ||
            strcmp(type, "set") != 0) {
            xmpp__stream_error(s, "not-authorized", "stanza before bind");
            goto out;
        }
        if (strcmp(c->name, "bind") == 0 && strcmp(c->ns, XMPP_NS_BIND) == 0) {
            handle_bind(s, el, c, a);
            goto out; /* not counted: stream management begins after bind */
        }
        xmpp__stanza_error(s, el, "not-authorized");
        goto handled;
    }
    {
        struct xmpp_el *c = xmpp_el_child(el, NULL, NULL);
        if (strcmp(el->name, "iq") == 0 && c && strcmp(c->ns, XMPP_NS_SESSION) == 0) {
            xmpp__iq_result_empty(s, el); /* RFC 3921 session establishment: a no-op now */
            goto handled;
        }
        if (strcmp(el->name, "iq") == 0 && c && strcmp(c->ns, XMPP_NS_BIND) == 0) {
            xmpp__stanza_error(s, el, "not-allowed"); /* one resource per stream */
            goto handled;
        }
    }
    handle_stanza(s, el, a);
handled:
    /* a stanza of the authenticated client was handled (XEP-0198 counting) */
    for (size_t i = 0; i < xmpp__nmods; i++)
        if (xmpp__mods[i]->in_handled)
            xmpp__mods[i]->in_handled(s, (int)i);
out:
    arena_free(a);
}

static void on_stream_close(void *ud)
{
    end_stream(ud);
}

static void on_stream_error(void *ud, enum xmpp_stream_error cond, const char *text)
{
    xmpp__stream_error(ud, xmpp_stream_error_name(cond), text);
}

static const struct xmpp_stream_cbs stream_cbs = {
    .on_open = on_stream_open,
    .on_stanza = on_stanza,
    .on_close = on_stream_close,
    .on_error = on_stream_error,
};

/* Tight limits before authentication, roomier ones after. */
static struct xmpp_stream *new_parser(bool authed, struct xmpp_session *s)
{
    struct xmpp_stream_limits lim = {0};

    lim.max_stanza_bytes = authed ? XMPP_STANZA_MAX : PREAUTH_STANZA_MAX;
    lim.max_tag_bytes = authed ? 16 * 1024 : 8 * 1024;
    lim.max_depth = authed ? 32 : 8;
    lim.framing = s->tr->framed;
    return xmpp_stream_new(&lim, &stream_cbs, s);
}

/* ---- session life ---- */

static void negotiation_timeout(struct xmpp_session *s)
{
    if (!s->bound)
        xmpp__stream_error(s, "connection-timeout", "negotiation took too long");
}

/* Armed for IDLE_MS at bind; feeds only note the time (fed_at), so a busy
 * stream does not move its timer in the loop's heap on every read. */
static void idle_timeout(struct xmpp_session *s)
{
    uint64_t quiet = uv_now(s->srv->loop) - s->fed_at;

    if (quiet < IDLE_MS) {
        s->tr->timer_set(s, IDLE_MS - quiet, idle_timeout);
        return;
    }
    xmpp__stream_error(s, "connection-timeout", "idle");
}

struct xmpp_session *xmpp__session_new(struct xmpp_c2s *srv, const struct xmpp_transport *tr,
                                       void *tr_data, uint64_t id, const char *peer)
{
    struct xmpp_session *s = td_calloc(1, sizeof(*s));

    s->srv = srv;
    s->tr = tr;
    s->tr_data = tr_data;
    s->id = id;
    snprintf(s->peer, sizeof(s->peer), "%s", peer ? peer : "");
    s->rl_tokens = (int64_t)(srv->rate * BURST_S);
    s->rl_at = uv_now(srv->loop);
    s->xs = new_parser(false, s);
    srv->sessions++;
    tr->timer_set(s, NEGOTIATION_MS, negotiation_timeout);
    return s;
}

/* After a feed (or an asynchronous SASL answer): restart the stream if asked. */
static void process_pending(struct xmpp_session *s)
{
    if (!s->restart_pending || s->ended)
        return;
    s->restart_pending = false;
    if (s->starttls_pending) {
        s->starttls_pending = false;
        if (s->tr->start_tls(s) != TD_OK) {
            close_transport(s);
            return;
        }
    }
    s->header_sent = false;
    if (s->authed) {
        /* Roomier limits once authenticated. */
        xmpp_stream_free(s->xs);
        s->xs = new_parser(true, s);
    } else {
        xmpp_stream_reset(s->xs);
    }
}

/* ---- rate limit: a token bucket per session; an over-eager sender is
 * read more slowly (ejabberd's shapers, Prosody's mod_limits), which slows
 * a flood down without an error for a merely bursty client ---- */

static void refill(struct xmpp_session *s, uint64_t now)
{
    int64_t burst = (int64_t)(s->srv->rate * BURST_S);

    s->rl_tokens += (int64_t)((now - s->rl_at) * s->srv->rate / 1000);
    if (s->rl_tokens > burst)
        s->rl_tokens = burst;
    s->rl_at = now;
}

static void unthrottle(struct xmpp_session *s)
{
    struct xmpp_c2s *srv = s->srv;

    if (!s->throttled)
        return;
    if (s->rl_prev)
        s->rl_prev->rl_next = s->rl_next;
    else
        srv->throttled = s->rl_next;
    if (s->rl_next)
        s->rl_next->rl_prev = s->rl_prev;
    s->rl_prev = s->rl_next = NULL;
    s->throttled = false;
    if (srv->throttled == NULL)
        uv_timer_stop(&srv->throttle);
}

static void throttle_tick(uv_timer_t *tm)
{
    struct xmpp_c2s *srv = tm->data;
    uint64_t now = uv_now(srv->loop);
    struct xmpp_session *s = srv->throttled, *next;

    for (; s; s = next) {
        next = s->rl_next;
        refill(s, now);
        if (s->rl_tokens >= 0) {
            unthrottle(s);
            if (s->tr && !s->ended && s->plain == NULL)
                s->tr->resume_read(s);
        }
    }
}

/* Charge len bytes; past the bucket, stop reading until it refills. */
static void rate_charge(struct xmpp_session *s, size_t len)
{
    struct xmpp_c2s *srv = s->srv;

    if (srv->rate == 0)
        return;
    refill(s, uv_now(srv->loop));
    s->rl_tokens -= (int64_t)len;
    if (s->rl_tokens >= 0 || s->throttled || s->tr == NULL)
        return;
    s->tr->pause_read(s);
    s->throttled = true;
    s->rl_next = srv->throttled;
    if (srv->throttled)
        srv->throttled->rl_prev = s;
    srv->throttled = s;
    if (!uv_is_active((uv_handle_t *)&srv->throttle))
        uv_timer_start(&srv->throttle, throttle_tick, THROTTLE_MS, THROTTLE_MS);
    log_info("xmpp.throttled", "conn=%llu peer=%s jid=%s", (unsigned long long)s->id, s->peer,
             log_q(s->full ? s->full : ""));
}

/* ---- hibernation ----
 * A bound stream between stanzas can lend its expat parser back to the pool
 * (xmpp_stream_hibernate): an idle session then keeps a few KiB, not ~13.
 * Doing it after every read made a busy client reset a parser and re-parse
 * its stream header per stanza (13 % of the server's time at 160k messages/s).
 * So a stream hibernates after each read as before, unless its last
 * DOZE_BURST reads each came within DOZE_MS of the one before: such a stream
 * joins the awake list (in order of its last read) and a timer hibernates it
 * from the list's old end once it has been quiet for DOZE_MS. Logging in
 * does not make a stream busy (the count starts at bind), so thousands of
 * sessions logging in do not hold thousands of parsers. */

static void awake_unlink(struct xmpp_session *s)
{
    struct xmpp_c2s *srv = s->srv;

    if (!s->in_awake)
        return;
    if (s->aw_prev)
        s->aw_prev->aw_next = s->aw_next;
    else
        srv->awake = s->aw_next;
    if (s->aw_next)
        s->aw_next->aw_prev = s->aw_prev;
    else
        srv->awake_tail = s->aw_prev;
    s->aw_prev = s->aw_next = NULL;
    s->in_awake = false;
    srv->awake_count--;
}

static void doze_tick(uv_timer_t *tm)
{
    struct xmpp_c2s *srv = tm->data;
    uint64_t now = uv_now(srv->loop);
    struct xmpp_session *s;

    while ((s = srv->awake_tail) != NULL && now - s->fed_at >= DOZE_MS) {
        awake_unlink(s);
        if (s->bound && !s->ended && !s->restart_pending)
            (void)xmpp_stream_hibernate(s->xs);
    }
    if (srv->awake == NULL)
        uv_timer_stop(&srv->doze);
}

static void awake_touch(struct xmpp_session *s)
{
    struct xmpp_c2s *srv = s->srv;

    if (srv->awake == s)
        return;
    awake_unlink(s);
    s->aw_next = srv->awake;
    if (srv->awake)
        srv->awake->aw_prev = s;
    else
        srv->awake_tail = s;
    srv->awake = s;
    s->in_awake = true;
    srv->awake_count++;
    if (!uv_is_active((uv_handle_t *)&srv->doze))
        uv_timer_start(&srv->doze, doze_tick, DOZE_MS, DOZE_MS);
}

void xmpp__session_feed(struct xmpp_session *s, const char *data, size_t len)
{
    uint64_t now = uv_now(s->srv->loop);
    bool quick = now - s->fed_at < DOZE_MS;

    if (s->ended)
        return;
    rate_charge(s, len);
    s->fed_at = now;
    (void)xmpp_stream_feed(s->xs, data, len);
    process_pending(s);
    if (!s->bound || s->ended || s->restart_pending) {
        s->quick_reads = 0;
        return;
    }
    if (!quick)
        s->quick_reads = 0;
    else if (s->quick_reads < DOZE_BURST)
        s->quick_reads++;
    if (s->quick_reads >= DOZE_BURST) {
        awake_touch(s);
    } else {
        awake_unlink(s);
        (void)xmpp_stream_hibernate(s->xs);
    }
}

static void session_free(struct xmpp_session *s)
{
    awake_unlink(s);
    for (size_t i = 0; i < xmpp__nmods; i++)
        if (xmpp__mods[i]->free)
            xmpp__mods[i]->free(s, (int)i);
    s->srv->sessions--;
    xmpp_stream_free(s->xs);
    auth_sasl_free(s->sasl);
    free(s->local);
    free(s->bare);
    free(s->full);
    free(s->presence);
    free(s);
}

bool xmpp__session_transport_gone(struct xmpp_session *s)
{
    unthrottle(s);
    if (s->plain) {
        s->plain->s = NULL; /* the job frees itself */
        s->plain = NULL;
    }
    s->tr = NULL;
    s->tr_data = NULL;
    if (!s->ended && s->bound) {
        /* dropped without a closing tag: a module may keep it for resumption */
        for (size_t i = 0; i < xmpp__nmods && !s->kept; i++)
            if (xmpp__mods[i]->transport_gone && xmpp__mods[i]->transport_gone(s, (int)i))
                s->kept = true;
    }
    if (s->kept) {
        log_info("xmpp.session_detached", "conn=%llu jid=%s", (unsigned long long)s->id,
                 log_q(s->full));
        return true;
    }
    s->ended = true;
    leave(s);
    return false;
}

void xmpp__session_release(struct xmpp_session *s)
{
    if (!s->kept)
        session_free(s);
}

void xmpp__session_end(struct xmpp_session *s)
{
    s->kept = false;
    if (s->tr != NULL) { /* attached: end the stream; the transport releases it */
        xmpp__stream_error(s, "connection-timeout", "session ended");
        return;
    }
    s->ended = true;
    leave(s);
    session_free(s);
}

void xmpp__session_take_over(struct xmpp_session *s, struct xmpp_session *old)
{
    TD_ASSERT(old->tr == NULL && old->kept && !s->bound);
    xmpp_router_remove(s->srv->router, &old->route);
    free(s->full);
    s->full = old->full;
    old->full = NULL;
    s->route = old->route;
    s->route.full = s->full;
    s->route.data = s;
    s->route._next = NULL;
    s->route._node = NULL;
    s->account_id = old->account_id;
    s->push_seq = old->push_seq;
    s->roster_requested = old->roster_requested;
    free(s->presence);
    s->presence = old->presence;
    old->presence = NULL;
    /* s's own module state (made before it resumed) gives way to old's */
    for (size_t i = 0; i < xmpp__nmods; i++)
        if (xmpp__mods[i]->free)
            xmpp__mods[i]->free(s, (int)i);
    for (size_t i = 0; i < XMPP_MODS_MAX; i++) {
        s->mod[i] = old->mod[i];
        old->mod[i] = NULL;
    }
    (void)xmpp_router_add(s->srv->router, &s->route, NULL);
    s->bound = true;
    s->tr->timer_set(s, IDLE_MS, idle_timeout);
    old->kept = false;
    old->left = true; /* its route is s's now */
    session_free(old);
    for (size_t i = 0; i < xmpp__nmods && !s->ended; i++)
        if (xmpp__mods[i]->resumed)
            xmpp__mods[i]->resumed(s, (int)i);
}

/* ---- the TCP transport (RFC 6120 §3: port 5222, STARTTLS) ---- */

struct c2s_conn {
    struct conn conn; /* first: conn.c frees the whole block */
    struct xmpp_session *s;
    xmpp_session_timer_cb *timer_cb;
};

static struct c2s_conn *tcp_of(const struct xmpp_session *s)
{
    return s->tr_data;
}

static int tcp_write(struct xmpp_session *s, const char *data, size_t len, bool stanza)
{
    (void)stanza;
    return conn_write(&tcp_of(s)->conn, data, len);
}

static void tcp_close(struct xmpp_session *s)
{
    conn_close(&tcp_of(s)->conn);
}

static bool tcp_is_closing(const struct xmpp_session *s)
{
    return conn_is_closing(&tcp_of(s)->conn);
}

static bool tcp_is_secure(const struct xmpp_session *s)
{
    return conn_is_tls(&tcp_of(s)->conn);
}

static int tcp_channel_binding(struct xmpp_session *s, const char *type, uint8_t *out,
                               size_t *len)
{
    return tls_channel_binding(tcp_of(s)->conn.tls, type, out, len);
}

static int tcp_start_tls(struct xmpp_session *s)
{
    return conn_start_tls(&tcp_of(s)->conn, s->srv->tls);
}

static void tcp_pause_read(struct xmpp_session *s)
{
    conn_pause_read(&tcp_of(s)->conn);
}

static void tcp_resume_read(struct xmpp_session *s)
{
    conn_resume_read(&tcp_of(s)->conn);
}

static void tcp_timer_fired(struct conn *c)
{
    struct c2s_conn *tc = (struct c2s_conn *)c;
    if (tc->s && tc->timer_cb)
        tc->timer_cb(tc->s);
}

static void tcp_timer_set(struct xmpp_session *s, uint64_t ms, xmpp_session_timer_cb *cb)
{
    struct c2s_conn *tc = tcp_of(s);
    tc->timer_cb = cb;
    conn_timer_set(&tc->conn, ms, ms ? tcp_timer_fired : NULL);
}

static const struct xmpp_transport tcp_transport = {
    .name = "tcp",
    .framed = false,
    .write = tcp_write,
    .close = tcp_close,
    .is_closing = tcp_is_closing,
    .is_secure = tcp_is_secure,
    .channel_binding = tcp_channel_binding,
    .start_tls = tcp_start_tls,
    .pause_read = tcp_pause_read,
    .resume_read = tcp_resume_read,
    .timer_set = tcp_timer_set,
};

static int c2s_open(struct conn *c)
{
    struct c2s_conn *tc = (struct c2s_conn *)c;

    tc->s = xmpp__session_new(listener_data(c->listener), &tcp_transport, tc, c->id, c->peer);
    return 0;
}

static void c2s_data(struct conn *c, const char *data, size_t len)
{
    struct c2s_conn *tc = (struct c2s_conn *)c;

    if (tc->s)
        xmpp__session_feed(tc->s, data, len);
}

static void c2s_close(struct conn *c)
{
    struct c2s_conn *tc = (struct c2s_conn *)c;

    if (tc->s)
        if (xmpp__session_transport_gone(tc->s))
            tc->s = NULL; /* kept by a module, which now owns it */
}

static void c2s_free(struct conn *c)
{
    struct c2s_conn *tc = (struct c2s_conn *)c;

    if (tc->s)
        xmpp__session_release(tc->s);
    tc->s = NULL;
}

static const struct conn_ops c2s_ops = {
    .on_open = c2s_open,
    .on_data = c2s_data,
    .on_close = c2s_close,
    .on_free = c2s_free,
};

/* ---- disabled accounts (`tandem user disable` from another process) ---- */

static int disabled_cb(void *ud, const struct account *acc)
{
    struct xmpp_c2s *srv = ud;
    struct xmpp_route *rts[XMPP_RESOURCES_MAX];
    struct xmpp_session *t[XMPP_RESOURCES_MAX];
    struct arena *a = arena_new(0);
    const char *local = xmpp_jid_local_prep(a, acc->username);
    size_t n = 0;

    if (local != NULL)
        n = xmpp__resources_of(srv, arena_printf(a, "%s@%s", local, srv->domain), false, NULL,
                               rts);
    for (size_t i = 0; i < n; i++)
        t[i] = xmpp__session_of(rts[i]);
    for (size_t i = 0; i < n; i++) {
        log_info("xmpp.account_disabled", "jid=%s", log_q(t[i]->full));
        /* RFC 6120 §4.9.3.12: the entity is no longer authorized */
        xmpp__stream_error(t[i], "not-authorized", "account disabled");
    }
    arena_free(a);
    return 0;
}

/* Every TICK_MS: the modules' tick, and every SWEEP_TICKS ticks the
 * sessions of accounts disabled since the last sweep are ended. A second of
 * overlap covers clock granularity; ending a session twice is harmless as
 * ended sessions have left the router. */
static void sweep_disabled(uv_timer_t *tm)
{
    struct xmpp_c2s *srv = tm->data;
    int64_t now = store_now_ms();

    for (size_t i = 0; i < xmpp__nmods; i++)
        if (xmpp__mods[i]->tick)
            xmpp__mods[i]->tick(srv, (int)i);
    if (++srv->ticks % SWEEP_TICKS != 0)
        return;
    if (xmpp_router_count(srv->router) > 0)
        (void)store_account_list_disabled(srv->store, srv->swept_at - 1000, disabled_cb, srv);
    srv->swept_at = now;
}

/* ---- server ---- */

int xmpp_c2s_start(uv_loop_t *loop, const struct xmpp_c2s_opts *o, struct xmpp_c2s **out,
                   char **err)
{
    struct xmpp_c2s *srv;
    struct listener_opts lo = {0};
    int rc;

    *out = NULL;
    if (o->tls == NULL && !o->allow_plaintext) {
        *err = td_strdup("xmpp: STARTTLS needs a TLS context (or allow_plaintext)");
        return TD_EINVAL;
    }
    srv = td_calloc(1, sizeof(*srv));
    srv->loop = loop;
    srv->store = o->store;
    srv->oauth = o->oauth;
    srv->tls = o->tls;
    srv->allow_plaintext = o->allow_plaintext;
    srv->rate = o->rate_limit;
    srv->domain = td_strdup(o->domain);
    srv->muc_domain = o->muc_domain && o->muc_domain[0] ? td_strdup(o->muc_domain) : NULL;
    srv->router = xmpp_router_new();
    for (size_t i = 0; i < xmpp__nmods; i++) {
        if (xmpp__mods[i]->init && xmpp__mods[i]->init(srv, (int)i) != TD_OK) {
            *err = td_strdup("xmpp: a module failed to start");
            for (size_t k = 0; k < i; k++)
                if (xmpp__mods[k]->fini)
                    xmpp__mods[k]->fini(srv, (int)k);
            xmpp_router_free(srv->router);
            free(srv->domain);
            free(srv->muc_domain);
            free(srv);
            return TD_EINVAL;
        }
    }
    lo.host = o->host;
    lo.port = o->port;
    lo.session_size = sizeof(struct c2s_conn);
    lo.ops = &c2s_ops;
    lo.max_conns = o->max_conns;
    lo.max_conns_per_ip = o->max_conns_per_ip;
    lo.out_high_water = OUT_HIGH_WATER;
    lo.out_max = OUT_MAX;
    lo.data = srv;
    lo.name = "xmpp";
    rc = listener_start(loop, &lo, &srv->l, err);
    if (rc != TD_OK) {
        srv->l = NULL;
        xmpp_c2s_free(srv);
        return rc;
    }
    if (o->direct_tls && o->tls_port >= 0) {
        /* XEP-0368: the same sessions, TLS from the first byte. */
        lo.port = o->tls_port;
        lo.tls = o->direct_tls;
        lo.name = "xmpps";
        rc = listener_start(loop, &lo, &srv->tls_l, err);
        if (rc != TD_OK) {
            srv->tls_l = NULL;
            xmpp_c2s_free(srv);
            return rc;
        }
    }
    srv->swept_at = store_now_ms();
    uv_timer_init(loop, &srv->sweep);
    srv->sweep.data = srv;
    uv_timer_start(&srv->sweep, sweep_disabled, TICK_MS, TICK_MS);
    uv_timer_init(loop, &srv->throttle);
    srv->throttle.data = srv;
    uv_timer_init(loop, &srv->doze);
    srv->doze.data = srv;
    srv->sweep_started = true;
    *out = srv;
    return TD_OK;
}

int xmpp_c2s_port(const struct xmpp_c2s *s)
{
    return listener_port(s->l);
}

int xmpp_c2s_tls_port(const struct xmpp_c2s *s)
{
    return s->tls_l ? listener_port(s->tls_l) : -1;
}

struct listener *xmpp_c2s_listener(const struct xmpp_c2s *s)
{
    return s->l;
}

struct listener *xmpp_c2s_tls_listener(const struct xmpp_c2s *s)
{
    return s->tls_l;
}

size_t xmpp_c2s_session_count(const struct xmpp_c2s *s)
{
    return xmpp_router_count(s->router);
}

size_t xmpp_c2s_awake_count(const struct xmpp_c2s *s)
{
    return s->awake_count;
}

static void shutdown_one(struct conn *c, void *ud)
{
    struct c2s_conn *tc = (struct c2s_conn *)c;

    (void)ud;
    if (tc->s)
        xmpp__stream_error(tc->s, "system-shutdown", "server stopping");
}

void xmpp_c2s_shutdown(struct xmpp_c2s *s)
{
    if (s->sweep_started) {
        uv_timer_stop(&s->sweep);
        uv_timer_stop(&s->throttle);
        uv_timer_stop(&s->doze);
    }
    listener_stop(s->l);
    listener_foreach(s->l, shutdown_one, NULL);
    if (s->tls_l) {
        listener_stop(s->tls_l);
        listener_foreach(s->tls_l, shutdown_one, NULL);
    }
    xmpp__ws_shutdown(s);
    xmpp__bosh_shutdown(s); /* BOSH sessions answer their held requests */
}

void xmpp_c2s_close(struct xmpp_c2s *s)
{
    if (s != NULL && s->sweep_started && !uv_is_closing((uv_handle_t *)&s->sweep)) {
        uv_close((uv_handle_t *)&s->sweep, NULL);
        uv_close((uv_handle_t *)&s->throttle, NULL);
        uv_close((uv_handle_t *)&s->doze, NULL);
    }
    if (s == NULL)
        return;
    if (s->tls_l)
        listener_free(s->tls_l);
    s->tls_l = NULL;
    if (s->l)
        listener_free(s->l);
    s->l = NULL;
}

void xmpp_c2s_free(struct xmpp_c2s *s)
{
    if (s == NULL)
        return;
    xmpp_c2s_close(s);
    for (size_t i = 0; i < xmpp__nmods; i++)
        if (xmpp__mods[i]->fini)
            xmpp__mods[i]->fini(s, (int)i);
    xmpp_router_free(s->router);
    free(s->domain);
    free(s->muc_domain);
    free(s);
}
