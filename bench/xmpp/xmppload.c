/* SPDX-License-Identifier: MIT */
/* xmppload: an XMPP client load driver for bench/xmpp/run.sh. N clients log in
 * over plain TCP (RFC 6120 §4 stream negotiation, §6 SASL with SCRAM-SHA-1 or
 * SCRAM-SHA-256 per RFC 5802 / RFC 7677, §7 resource binding, RFC 3921 §3
 * session when the server requires it, RFC 6121 §4.2 initial presence), wait
 * at a barrier until all are online, then send M chat messages each (RFC 6121
 * §5) to random online users at an offered total rate; the body carries the
 * send time and the receivers compute the latency. With --register the
 * clients create their accounts instead (XEP-0077 in-band registration).
 *
 * Threads: --threads loops (libuv), client i on loop i % threads. The XML
 * side is a scanner, not a parser: it tracks element depth (quotes, empty
 * elements, PIs) to cut top-level stanzas out of the stream and then looks
 * for the few things this tool needs in them. That is enough for the three
 * servers it is pointed at; it is not a general XMPP client.
 *
 * SCRAM's PBKDF2 costs the client thousands of hash rounds per login (the
 * server, holding StoredKey/ServerKey, does none). So as not to measure the
 * driver, --scram-cache FILE keeps each user's SaltedPassword keyed by salt
 * and iteration count, as RFC 5802 §5.1 allows a client to do; run.sh fills it
 * in an unmeasured priming run, restarts the server, and measures.
 *
 * Build: cc -O2 -Wall -Wextra -o xmppload xmppload.c -luv -lcrypto -lpthread */
#define _GNU_SOURCE
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <uv.h>

#define IN_MAX (1024 * 1024)         /* largest stanza we accept from a server */
#define WQ_HIGH (64 * 1024)          /* a sender with this much unsent output waits */
#define HIST_BUCKETS 2048
#define MAX_PIDS 8

enum mech { M_SHA1, M_SHA256, M_N };
static const char *const mech_name[M_N] = {"SCRAM-SHA-1", "SCRAM-SHA-256"};

enum state {
    S_IDLE, S_CONNECTING, S_FEATURES1, S_CHALLENGE, S_SUCCESS, S_FEATURES2, S_BIND,
    S_SESSION, S_ONLINE, S_REGISTER, S_DONE, S_FAILED,
};

/* ---- options ---- */

static struct {
    const char *host, *domain, *prefix, *password, *resource, *cache_path;
    int port, threads, concurrency, first;
    long users, messages;
    double rate, drain_s, login_timeout_s, hold_s, settle_s;
    int mech_pref;     /* -1: SHA-256 when offered, else SHA-1 */
    bool reg, quiet, pw_suffix;
    bool mam_never; /* ask for no archiving (XEP-0313 prefs) before going online */
    int npids;
    long pids[MAX_PIDS];
} opt = {
    .host = "127.0.0.1", .domain = "localhost", .prefix = "user", .password = "bench password",
    .resource = "load", .port = 5222, .threads = 2, .concurrency = 200, .first = 1,
    .users = 100, .messages = 10, .rate = 1000, .drain_s = 10, .login_timeout_s = 300,
    .settle_s = 1, .mech_pref = M_SHA1,
};

/* ---- shared state ---- */

struct cache_ent {
    uint32_t iter;
    char salt[64]; /* base64 as the server sent it */
    uint8_t salted[32];
};
static struct cache_ent *cache; /* users * M_N */
static atomic_uchar *online;     /* per user: 1 once bound with presence sent */

static atomic_long n_online, n_failed, n_sent, n_delivered, n_reg_ok, n_reg_exist, n_ended;
static atomic_long n_pbkdf2, n_mech[M_N];
static atomic_int phase; /* 0 login, 1 send, 2 stop */
static atomic_uint_fast64_t t_first_connect, t_last_online, t_first_send, t_last_send,
    t_last_delivery;
static atomic_int sends_done_workers;
static char first_error[256];
static uv_mutex_t err_lock;

static void note_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static void note_error(const char *fmt, ...)
{
    va_list ap;
    uv_mutex_lock(&err_lock);
    if (first_error[0] == '\0') {
        va_start(ap, fmt);
        vsnprintf(first_error, sizeof(first_error), fmt, ap);
        va_end(ap);
    }
    uv_mutex_unlock(&err_lock);
}

static void atomic_min64(atomic_uint_fast64_t *a, uint64_t v)
{
    uint64_t cur = atomic_load(a);
    while ((cur == 0 || v < cur) && !atomic_compare_exchange_weak(a, &cur, v)) {
    }
}

static void atomic_max64(atomic_uint_fast64_t *a, uint64_t v)
{
    uint64_t cur = atomic_load(a);
    while (v > cur && !atomic_compare_exchange_weak(a, &cur, v)) {
    }
}

/* ---- latency histogram: log-linear, 64 sub-buckets per power of two (< 1.6% error) ---- */

struct hist {
    uint64_t count, sum_us, max_us;
    uint64_t b[HIST_BUCKETS];
};

static int hist_idx(uint64_t v)
{
    if (v < 128)
        return (int)v;
    int e = 63 - __builtin_clzll(v);
    int shift = e - 6;
    int idx = 128 + (e - 7) * 64 + (int)((v >> shift) - 64);
    return idx < HIST_BUCKETS ? idx : HIST_BUCKETS - 1;
}

static uint64_t hist_val(int idx)
{
    if (idx < 128)
        return (uint64_t)idx;
    int e = (idx - 128) / 64 + 7;
    return (uint64_t)((idx - 128) % 64 + 64) << (e - 6);
}

static void hist_add(struct hist *h, uint64_t us)
{
    h->b[hist_idx(us)]++;
    h->count++;
    h->sum_us += us;
    if (us > h->max_us)
        h->max_us = us;
}

static uint64_t hist_pct(const struct hist *h, double p)
{
    uint64_t want = (uint64_t)ceil(p * (double)h->count), seen = 0;
    if (want == 0)
        want = 1;
    for (int i = 0; i < HIST_BUCKETS; i++) {
        seen += h->b[i];
        if (seen >= want)
            return hist_val(i);
    }
    return h->max_us;
}

/* ---- clients and workers ---- */

struct worker;

struct client {
    uv_tcp_t tcp;
    struct worker *w;
    long idx; /* user number - opt.first */
    enum state st;
    bool open, session_needed;
    int mech;
    char *in;
    size_t len, cap;
    /* scanner */
    size_t pos, tag_start, stanza_start;
    int depth;
    bool in_tag;
    char quote;
    /* SCRAM */
    char cnonce[33];
    char first_bare[160];
    uint8_t server_sig[32];
    long to_send;
};

struct worker {
    int id;
    uv_loop_t loop;
    uv_timer_t tick;
    uv_thread_t thread;
    struct client **cl;
    long ncl, next_connect, inflight, rr;
    long to_send_total, sent;
    uint64_t go_ns;
    bool sending, finished_sends, closing;
    struct hist hist;
    unsigned rnd;
};

static struct worker *workers;

static void fail(struct client *c, const char *why);
static void client_close(struct client *c);
static void start_next(struct worker *w);

static void jid_user(char *out, size_t cap, long idx)
{
    snprintf(out, cap, "%s%ld", opt.prefix, idx + opt.first);
}

/* The password; with --password-suffix it ends in the user's number (tsung's
 * convention: its passwd option is a prefix). */
static void password_of(char *out, size_t cap, long idx)
{
    if (opt.pw_suffix)
        snprintf(out, cap, "%s%ld", opt.password, idx + opt.first);
    else
        snprintf(out, cap, "%s", opt.password);
}

/* ---- output ---- */

struct wreq {
    uv_write_t req;
    char data[];
};

static void on_written(uv_write_t *req, int status)
{
    (void)status;
    free(req);
}

static void csend(struct client *c, const char *s, size_t n)
{
    if (!c->open)
        return;
    uv_buf_t b = uv_buf_init((char *)s, (unsigned)n);
    if (uv_stream_get_write_queue_size((uv_stream_t *)&c->tcp) == 0) {
        int r = uv_try_write((uv_stream_t *)&c->tcp, &b, 1);
        if (r == (int)n)
            return;
        if (r > 0) {
            s += r;
            n -= (size_t)r;
        } else if (r != UV_EAGAIN) {
            fail(c, uv_strerror(r));
            return;
        }
    }
    struct wreq *w = malloc(sizeof(*w) + n);
    if (!w)
        abort();
    memcpy(w->data, s, n);
    b = uv_buf_init(w->data, (unsigned)n);
    int r = uv_write(&w->req, (uv_stream_t *)&c->tcp, &b, 1, on_written);
    if (r != 0) {
        free(w);
        fail(c, uv_strerror(r));
    }
}

static void csendf(struct client *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void csendf(struct client *c, const char *fmt, ...)
{
    char tmp[1024];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(tmp, sizeof(tmp), fmt, ap);
    va_end(ap);
    if (n < 0 || (size_t)n >= sizeof(tmp)) {
        fail(c, "output line too long");
        return;
    }
    csend(c, tmp, (size_t)n);
}

static void send_header(struct client *c)
{
    csendf(c,
           "<?xml version='1.0'?><stream:stream to='%s' xmlns='jabber:client' "
           "xmlns:stream='http://etherx.jabber.org/streams' version='1.0'>",
           opt.domain);
}

/* ---- small text helpers over one stanza [s, e) ---- */

static const char *find(const char *s, const char *e, const char *needle)
{
    size_t n = strlen(needle);
    if ((size_t)(e - s) < n)
        return NULL;
    return memmem(s, (size_t)(e - s), needle, n);
}

/* The element name of the stanza (after '<', up to space, '/' or '>'). */
static bool name_is(const char *s, const char *e, const char *name)
{
    size_t n = strlen(name);
    if ((size_t)(e - s) < n + 2 || memcmp(s + 1, name, n) != 0)
        return false;
    char t = s[1 + n];
    return t == ' ' || t == '>' || t == '/' || t == '\t' || t == '\n' || t == '\r';
}

/* Text of the first child (or the element itself) between '>' and "</": used
 * for SASL payloads, which are base64 without markup. */
static bool inner_text(const char *s, const char *e, char *out, size_t cap)
{
    const char *gt = memchr(s, '>', (size_t)(e - s));
    if (!gt || gt[-1] == '/') {
        out[0] = '\0';
        return true;
    }
    const char *lt = find(gt, e, "</");
    if (!lt || (size_t)(lt - gt - 1) >= cap)
        return false;
    memcpy(out, gt + 1, (size_t)(lt - gt - 1));
    out[lt - gt - 1] = '\0';
    return true;
}

/* An attribute's value in the stanza's first tag ('...' or "..."). */
static bool attr(const char *s, const char *e, const char *name, char *out, size_t cap)
{
    const char *gt = memchr(s, '>', (size_t)(e - s));
    size_t n = strlen(name);
    if (!gt)
        return false;
    for (const char *p = s + 1; p + n + 2 < gt; p++) {
        if ((p[-1] == ' ' || p[-1] == '\t' || p[-1] == '\n') && memcmp(p, name, n) == 0 &&
            p[n] == '=' && (p[n + 1] == '\'' || p[n + 1] == '"')) {
            const char *v = p + n + 2;
            const char *q = memchr(v, p[n + 1], (size_t)(gt - v));
            if (!q || (size_t)(q - v) >= cap)
                return false;
            memcpy(out, v, (size_t)(q - v));
            out[q - v] = '\0';
            return true;
        }
    }
    return false;
}

/* ---- base64 ---- */

static size_t b64enc(const uint8_t *in, size_t n, char *out)
{
    return (size_t)EVP_EncodeBlock((unsigned char *)out, in, (int)n);
}

static long b64dec(const char *in, uint8_t *out, size_t cap)
{
    size_t n = strlen(in);
    if (n % 4 || n / 4 * 3 > cap)
        return -1;
    int r = EVP_DecodeBlock(out, (const unsigned char *)in, (int)n);
    if (r < 0)
        return -1;
    if (n && in[n - 1] == '=')
        r--;
    if (n > 1 && in[n - 2] == '=')
        r--;
    return r;
}

/* ---- SCRAM (RFC 5802 §3) ---- */

static const EVP_MD *md_of(int m) { return m == M_SHA1 ? EVP_sha1() : EVP_sha256(); }
static size_t hlen_of(int m) { return m == M_SHA1 ? 20 : 32; }

static void hmac(int m, const uint8_t *key, size_t kl, const void *d, size_t dl, uint8_t *out)
{
    unsigned ol = 0;
    HMAC(md_of(m), key, (int)kl, d, dl, out, &ol);
}

static void scram_start(struct client *c)
{
    uint8_t r[16];
    char user[96];
    static const char hex[] = "0123456789abcdef";
    RAND_bytes(r, sizeof(r));
    for (int i = 0; i < 16; i++) {
        c->cnonce[2 * i] = hex[r[i] >> 4];
        c->cnonce[2 * i + 1] = hex[r[i] & 15];
    }
    c->cnonce[32] = '\0';
    jid_user(user, sizeof(user), c->idx);
    snprintf(c->first_bare, sizeof(c->first_bare), "n=%s,r=%s", user, c->cnonce);
    char msg[256], b64[400];
    int n = snprintf(msg, sizeof(msg), "n,,%s", c->first_bare);
    b64enc((const uint8_t *)msg, (size_t)n, b64);
    csendf(c, "<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='%s'>%s</auth>",
           mech_name[c->mech], b64);
    c->st = S_CHALLENGE;
}

/* "a=...,b=..." attribute value of the server-first message. */
static bool scram_attr(const char *msg, char key, char *out, size_t cap)
{
    for (const char *p = msg; *p; ) {
        if (p[0] == key && p[1] == '=') {
            const char *v = p + 2, *end = strchr(v, ',');
            size_t n = end ? (size_t)(end - v) : strlen(v);
            if (n >= cap)
                return false;
            memcpy(out, v, n);
            out[n] = '\0';
            return true;
        }
        const char *comma = strchr(p, ',');
        if (!comma)
            break;
        p = comma + 1;
    }
    return false;
}

static void scram_challenge(struct client *c, const char *s, const char *e)
{
    char b64[1024], sfirst[768], nonce[256], salt[128], iters[16];
    uint8_t raw[768];
    if (!inner_text(s, e, b64, sizeof(b64))) {
        fail(c, "challenge too long");
        return;
    }
    long n = b64dec(b64, raw, sizeof(raw) - 1);
    if (n < 0) {
        fail(c, "bad base64 in challenge");
        return;
    }
    memcpy(sfirst, raw, (size_t)n);
    sfirst[n] = '\0';
    if (!scram_attr(sfirst, 'r', nonce, sizeof(nonce)) ||
        !scram_attr(sfirst, 's', salt, sizeof(salt)) ||
        !scram_attr(sfirst, 'i', iters, sizeof(iters)) ||
        strncmp(nonce, c->cnonce, strlen(c->cnonce)) != 0) {
        fail(c, "bad server-first message");
        return;
    }
    uint32_t iter = (uint32_t)strtoul(iters, NULL, 10);
    if (iter == 0 || iter > 10000000) {
        fail(c, "bad iteration count");
        return;
    }
    size_t hl = hlen_of(c->mech);
    struct cache_ent *ce = &cache[c->idx * M_N + c->mech];
    if (ce->iter != iter || strcmp(ce->salt, salt) != 0) {
        uint8_t sraw[96];
        long sl = b64dec(salt, sraw, sizeof(sraw));
        if (sl < 0 || strlen(salt) >= sizeof(ce->salt)) {
            fail(c, "bad salt");
            return;
        }
        char pw[512];
        password_of(pw, sizeof(pw), c->idx);
        PKCS5_PBKDF2_HMAC(pw, (int)strlen(pw), sraw, (int)sl, (int)iter, md_of(c->mech), (int)hl,
                          ce->salted);
        ce->iter = iter;
        snprintf(ce->salt, sizeof(ce->salt), "%s", salt);
        atomic_fetch_add(&n_pbkdf2, 1);
    }
    uint8_t ckey[32], skey[32], stored[32], csig[32], proof[32];
    char final_wo[300], authmsg[1400], pb64[64];
    hmac(c->mech, ce->salted, hl, "Client Key", 10, ckey);
    hmac(c->mech, ce->salted, hl, "Server Key", 10, skey);
    unsigned dl = 0;
    EVP_Digest(ckey, hl, stored, &dl, md_of(c->mech), NULL);
    snprintf(final_wo, sizeof(final_wo), "c=biws,r=%s", nonce);
    int al = snprintf(authmsg, sizeof(authmsg), "%s,%s,%s", c->first_bare, sfirst, final_wo);
    hmac(c->mech, stored, hl, authmsg, (size_t)al, csig);
    hmac(c->mech, skey, hl, authmsg, (size_t)al, c->server_sig);
    for (size_t i = 0; i < hl; i++)
        proof[i] = ckey[i] ^ csig[i];
    b64enc(proof, hl, pb64);
    char final[400], fb64[600];
    int fl = snprintf(final, sizeof(final), "%s,p=%s", final_wo, pb64);
    b64enc((const uint8_t *)final, (size_t)fl, fb64);
    csendf(c, "<response xmlns='urn:ietf:params:xml:ns:xmpp-sasl'>%s</response>", fb64);
    c->st = S_SUCCESS;
}

static bool scram_verify(struct client *c, const char *s, const char *e)
{
    char b64[512], v[128], want[64];
    uint8_t raw[400];
    if (!inner_text(s, e, b64, sizeof(b64)))
        return false;
    long n = b64dec(b64, raw, sizeof(raw) - 1);
    if (n <= 0)
        return false;
    raw[n] = '\0';
    if (!scram_attr((char *)raw, 'v', v, sizeof(v)))
        return false;
    b64enc(c->server_sig, hlen_of(c->mech), want);
    return strcmp(v, want) == 0;
}

/* ---- the protocol, one top-level stanza at a time ---- */

static void went_online(struct client *c)
{
    c->st = S_ONLINE;
    atomic_store(&online[c->idx], 1);
    atomic_fetch_add(&n_online, 1);
    atomic_max64(&t_last_online, uv_hrtime());
    c->w->inflight--;
    start_next(c->w);
}

/* Initial presence (RFC 6121 §4.2), after the archive preference when the
 * run compares servers with archiving off: XEP-0313 §7 default='never'. A
 * server without MAM answers with an error, which is ignored. */
static void go_online(struct client *c)
{
    static const char never[] = "<iq type='set' id='mamprefs'><prefs xmlns='urn:xmpp:mam:2' "
                                "default='never'/></iq>";

    if (opt.mam_never)
        csend(c, never, sizeof(never) - 1);
    csend(c, "<presence/>", 11);
    went_online(c);
}

static void on_message(struct client *c, const char *s, const char *e)
{
    const char *b = find(s, e, "<body>T");
    if (!b)
        return;
    uint64_t now = uv_hrtime();
    uint64_t sent = strtoull(b + 7, NULL, 10);
    if (sent == 0 || sent > now)
        return;
    hist_add(&c->w->hist, (now - sent) / 1000);
    atomic_fetch_add(&n_delivered, 1);
    atomic_max64(&t_last_delivery, now);
}

static void on_stanza(struct client *c, const char *s, const char *e)
{
    char buf[256];

    if (name_is(s, e, "stream:error")) {
        const char *p = find(s, e, "<");
        p = p ? find(p + 1, e, "<") : NULL; /* the first child names the condition */
        snprintf(buf, sizeof(buf), "stream error: %.*s", p ? (int)strcspn(p + 1, " />") : 0,
                 p ? p + 1 : "");
        fail(c, buf);
        return;
    }
    switch (c->st) {
    case S_FEATURES1:
        if (!name_is(s, e, "stream:features"))
            return;
        if (opt.reg) {
            char user[96], pw[512];
            jid_user(user, sizeof(user), c->idx);
            password_of(pw, sizeof(pw), c->idx);
            csendf(c,
                   "<iq type='set' id='reg'><query xmlns='jabber:iq:register'>"
                   "<username>%s</username><password>%s</password></query></iq>",
                   user, pw);
            c->st = S_REGISTER;
            return;
        }
        {
            bool has[M_N] = {find(s, e, ">SCRAM-SHA-1<") != NULL,
                             find(s, e, ">SCRAM-SHA-256<") != NULL};
            if (opt.mech_pref >= 0 && has[opt.mech_pref])
                c->mech = opt.mech_pref;
            else if (opt.mech_pref < 0 && has[M_SHA256])
                c->mech = M_SHA256;
            else if (has[M_SHA1] && opt.mech_pref != M_SHA256)
                c->mech = M_SHA1;
            else {
                fail(c, "no usable SCRAM mechanism offered");
                return;
            }
            atomic_fetch_add(&n_mech[c->mech], 1);
            scram_start(c);
        }
        return;
    case S_REGISTER:
        if (!name_is(s, e, "iq"))
            return;
        if (find(s, e, "type='result'") || find(s, e, "type=\"result\""))
            atomic_fetch_add(&n_reg_ok, 1);
        else if (find(s, e, "<conflict"))
            atomic_fetch_add(&n_reg_exist, 1);
        else {
            snprintf(buf, sizeof(buf), "registration refused: %.*s", (int)(e - s < 200 ? e - s : 200),
                     s);
            fail(c, buf);
            return;
        }
        c->st = S_DONE;
        c->w->inflight--;
        client_close(c);
        start_next(c->w);
        return;
    case S_CHALLENGE:
        if (name_is(s, e, "challenge"))
            scram_challenge(c, s, e);
        else
            fail(c, name_is(s, e, "failure") ? "SASL failure" : "unexpected reply to auth");
        return;
    case S_SUCCESS:
        if (!name_is(s, e, "success")) {
            fail(c, "SASL failure");
            return;
        }
        if (!scram_verify(c, s, e)) {
            fail(c, "server signature did not verify");
            return;
        }
        c->depth = 0; /* the server answers the restart with a new stream header */
        c->st = S_FEATURES2;
        send_header(c);
        return;
    case S_FEATURES2:
        if (!name_is(s, e, "stream:features"))
            return;
        {
            const char *ss = find(s, e, "urn:ietf:params:xml:ns:xmpp-session");
            c->session_needed = ss && !find(ss, e, "<optional");
        }
        csendf(c,
               "<iq type='set' id='bind'><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'>"
               "<resource>%s</resource></bind></iq>",
               opt.resource);
        c->st = S_BIND;
        return;
    case S_BIND:
        if (!name_is(s, e, "iq"))
            return;
        if (!find(s, e, "'result'") && !find(s, e, "\"result\"")) {
            fail(c, "bind refused");
            return;
        }
        if (c->session_needed) {
            csend(c, "<iq type='set' id='sess'><session "
                     "xmlns='urn:ietf:params:xml:ns:xmpp-session'/></iq>", 75);
            c->st = S_SESSION;
            return;
        }
        go_online(c);
        return;
    case S_SESSION:
        if (!name_is(s, e, "iq"))
            return;
        go_online(c);
        return;
    case S_ONLINE:
        if (name_is(s, e, "message")) {
            on_message(c, s, e);
        } else if (name_is(s, e, "iq") && find(s, e, "urn:xmpp:ping") &&
                   (find(s, e, "type='get'") || find(s, e, "type=\"get\""))) {
            char id[128], from[256];
            if (attr(s, e, "id", id, sizeof(id)) && attr(s, e, "from", from, sizeof(from)))
                csendf(c, "<iq type='result' id='%s' to='%s'/>", id, from);
        }
        return;
    default:
        return;
    }
}

/* Cut complete top-level stanzas out of c->in; see the file comment. */
static void scan(struct client *c)
{
    while (c->pos < c->len && c->open) {
        char ch = c->in[c->pos];
        if (!c->in_tag) {
            if (ch == '<') {
                c->in_tag = true;
                c->tag_start = c->pos;
            }
            c->pos++;
            continue;
        }
        if (c->quote) {
            if (ch == c->quote)
                c->quote = 0;
            c->pos++;
            continue;
        }
        if (ch == '\'' || ch == '"') {
            c->quote = ch;
            c->pos++;
            continue;
        }
        if (ch != '>') {
            c->pos++;
            continue;
        }
        /* one tag: [tag_start, pos] */
        c->in_tag = false;
        size_t ts = c->tag_start, te = c->pos + 1;
        c->pos++;
        char k = c->in[ts + 1];
        if (k == '?' || k == '!')
            continue;
        if (k == '/') {
            c->depth--;
            if (c->depth == 1)
                on_stanza(c, c->in + c->stanza_start, c->in + te);
            else if (c->depth <= 0) {
                fail(c, "server closed the stream");
                return;
            }
        } else if (c->in[te - 2] == '/') {
            if (c->depth == 1)
                on_stanza(c, c->in + ts, c->in + te);
        } else if (c->depth == 0 ||
                   (c->depth == 1 && te - ts > 14 && memcmp(c->in + ts, "<stream:stream", 14) == 0)) {
            c->depth = 1; /* stream header */
        } else {
            if (c->depth == 1)
                c->stanza_start = ts;
            c->depth++;
        }
    }
    /* drop what is consumed */
    size_t keep = c->pos;
    if (c->in_tag)
        keep = c->tag_start;
    if (c->depth >= 2 && c->stanza_start < keep)
        keep = c->stanza_start;
    if (keep > 0) {
        memmove(c->in, c->in + keep, c->len - keep);
        c->len -= keep;
        c->pos -= keep;
        if (c->in_tag)
            c->tag_start -= keep;
        if (c->depth >= 2)
            c->stanza_start -= keep;
    }
}

/* ---- connections ---- */

static void on_closed(uv_handle_t *h)
{
    struct client *c = h->data;
    free(c->in);
    c->in = NULL;
    c->len = c->cap = 0;
    atomic_fetch_add(&n_ended, 1);
}

static void client_close(struct client *c)
{
    if (!c->open)
        return;
    c->open = false;
    uv_read_stop((uv_stream_t *)&c->tcp);
    /* RST, not FIN: tens of thousands of TIME_WAIT ports would starve the next run. */
    if (uv_tcp_close_reset(&c->tcp, on_closed) != 0)
        uv_close((uv_handle_t *)&c->tcp, on_closed);
}

static void fail(struct client *c, const char *why)
{
    char user[96];
    if (c->st == S_FAILED || c->st == S_DONE)
        return;
    jid_user(user, sizeof(user), c->idx);
    note_error("%s: %s", user, why);
    if (c->st == S_ONLINE) {
        atomic_store(&online[c->idx], 0);
        atomic_fetch_sub(&n_online, 1);
    } else {
        c->w->inflight--;
    }
    c->st = S_FAILED;
    atomic_fetch_add(&n_failed, 1);
    client_close(c);
    if (atomic_load(&phase) == 0)
        start_next(c->w);
}

static void on_alloc(uv_handle_t *h, size_t hint, uv_buf_t *b)
{
    struct client *c = h->data;
    (void)hint;
    if (c->cap - c->len < 4096) {
        size_t nc = c->cap ? c->cap * 2 : 8192;
        if (nc > IN_MAX + 8192) {
            *b = uv_buf_init(NULL, 0);
            return;
        }
        char *p = realloc(c->in, nc);
        if (!p)
            abort();
        c->in = p;
        c->cap = nc;
    }
    *b = uv_buf_init(c->in + c->len, (unsigned)(c->cap - c->len));
}

static void on_read(uv_stream_t *s, ssize_t n, const uv_buf_t *b)
{
    struct client *c = s->data;
    (void)b;
    if (n < 0) {
        fail(c, n == UV_EOF ? "connection closed by server" : uv_strerror((int)n));
        return;
    }
    if (n == 0) {
        if (b->base == NULL)
            fail(c, "stanza too large");
        return;
    }
    c->len += (size_t)n;
    scan(c);
}

static void on_connect(uv_connect_t *req, int status)
{
    struct client *c = req->data;
    free(req);
    if (status != 0) {
        fail(c, uv_strerror(status));
        return;
    }
    uv_tcp_nodelay(&c->tcp, 1);
    c->st = S_FEATURES1;
    uv_read_start((uv_stream_t *)&c->tcp, on_alloc, on_read);
    send_header(c);
    start_next(c->w); /* a cheap connect: keep the pipeline full */
}

static struct sockaddr_in server_addr;

static void start_one(struct worker *w, struct client *c)
{
    uv_connect_t *req = malloc(sizeof(*req));
    if (!req)
        abort();
    uv_tcp_init(&w->loop, &c->tcp);
    c->tcp.data = c;
    c->open = true;
    c->st = S_CONNECTING;
    c->depth = 0;
    req->data = c;
    w->inflight++;
    atomic_min64(&t_first_connect, uv_hrtime());
    int r = uv_tcp_connect(req, &c->tcp, (const struct sockaddr *)&server_addr, on_connect);
    if (r != 0) {
        free(req);
        fail(c, uv_strerror(r));
    }
}

static void start_next(struct worker *w)
{
    long per = opt.concurrency / opt.threads;
    if (per < 1)
        per = 1;
    while (w->next_connect < w->ncl && w->inflight < per)
        start_one(w, w->cl[w->next_connect++]);
}

/* ---- sending ---- */

static long pick_target(struct worker *w, long self)
{
    for (int tries = 0; tries < 64; tries++) {
        long t = (long)(rand_r(&w->rnd) % (unsigned)opt.users);
        if (opt.users > 1 && t == self)
            continue;
        if (atomic_load(&online[t]))
            return t;
    }
    return -1;
}

static void send_due(struct worker *w)
{
    uint64_t now = uv_hrtime();
    if (!w->sending) {
        w->sending = true;
        w->go_ns = now;
        atomic_min64(&t_first_send, now);
    }
    double rate = opt.rate / opt.threads;
    long due = (long)(rate * (double)(now - w->go_ns) / 1e9) + 1 - w->sent;
    long skipped = 0;
    char user[96];
    while (due > 0 && w->sent < w->to_send_total && skipped < w->ncl) {
        struct client *c = w->cl[w->rr];
        w->rr = (w->rr + 1) % w->ncl;
        if (c->st != S_ONLINE || c->to_send == 0 ||
            uv_stream_get_write_queue_size((uv_stream_t *)&c->tcp) > WQ_HIGH) {
            if (c->st != S_ONLINE && c->to_send > 0) {
                w->to_send_total -= c->to_send; /* a failed sender sends nothing */
                c->to_send = 0;
            }
            skipped++;
            continue;
        }
        skipped = 0;
        long t = pick_target(w, c->idx);
        if (t < 0)
            break;
        jid_user(user, sizeof(user), t);
        csendf(c,
               "<message to='%s@%s' type='chat' id='m%ld'><body>T%" PRIu64
               " bench message</body></message>",
               user, opt.domain, c->to_send, uv_hrtime());
        c->to_send--;
        w->sent++;
        due--;
        atomic_fetch_add(&n_sent, 1);
    }
    if (w->sent >= w->to_send_total && !w->finished_sends) {
        w->finished_sends = true;
        atomic_max64(&t_last_send, uv_hrtime());
        atomic_fetch_add(&sends_done_workers, 1);
    }
}

static void on_tick(uv_timer_t *t)
{
    struct worker *w = t->data;
    int ph = atomic_load(&phase);
    if (ph == 1 && !w->finished_sends)
        send_due(w);
    if (ph == 2 && !w->closing) {
        w->closing = true;
        for (long i = 0; i < w->ncl; i++)
            client_close(w->cl[i]);
        uv_close((uv_handle_t *)&w->tick, NULL);
    }
}

static void worker_main(void *arg)
{
    struct worker *w = arg;
    start_next(w);
    uv_run(&w->loop, UV_RUN_DEFAULT);
}

/* ---- cache file: "idx mech iter salt salted_hex" per line ---- */

static void cache_load(void)
{
    FILE *f = opt.cache_path ? fopen(opt.cache_path, "r") : NULL;
    char line[512];
    if (!f)
        return;
    while (fgets(line, sizeof(line), f)) {
        long idx;
        int m;
        unsigned iter;
        char salt[64], hex[65];
        if (sscanf(line, "%ld %d %u %63s %64s", &idx, &m, &iter, salt, hex) != 5)
            continue;
        idx -= opt.first;
        if (idx < 0 || idx >= opt.users || m < 0 || m >= M_N || strlen(hex) != 2 * hlen_of(m))
            continue;
        struct cache_ent *ce = &cache[idx * M_N + m];
        ce->iter = iter;
        snprintf(ce->salt, sizeof(ce->salt), "%s", salt);
        for (size_t i = 0; i < hlen_of(m); i++) {
            unsigned v;
            if (sscanf(hex + 2 * i, "%2x", &v) != 1)
                break;
            ce->salted[i] = (uint8_t)v;
        }
    }
    fclose(f);
}

static void cache_save(void)
{
    if (!opt.cache_path || atomic_load(&n_pbkdf2) == 0)
        return;
    char tmp[4096];
    snprintf(tmp, sizeof(tmp), "%s.tmp", opt.cache_path);
    FILE *f = fopen(tmp, "w");
    if (!f)
        return;
    for (long i = 0; i < opt.users; i++) {
        for (int m = 0; m < M_N; m++) {
            struct cache_ent *ce = &cache[i * M_N + m];
            if (ce->iter == 0)
                continue;
            fprintf(f, "%ld %d %u %s ", i + opt.first, m, ce->iter, ce->salt);
            for (size_t k = 0; k < hlen_of(m); k++)
                fprintf(f, "%02x", ce->salted[k]);
            fputc('\n', f);
        }
    }
    if (fclose(f) == 0)
        rename(tmp, opt.cache_path);
}

/* ---- server memory ---- */

static long rss_kib(void)
{
    long total = 0;
    for (int i = 0; i < opt.npids; i++) {
        char path[64], line[256];
        snprintf(path, sizeof(path), "/proc/%ld/status", opt.pids[i]);
        FILE *f = fopen(path, "r");
        if (!f)
            return -1;
        while (fgets(line, sizeof(line), f))
            if (strncmp(line, "VmRSS:", 6) == 0)
                total += strtol(line + 6, NULL, 10);
        fclose(f);
    }
    return total;
}

/* ---- main ---- */

static void usage(void)
{
    fputs("usage: xmppload [--host 127.0.0.1] [--port 5222] [--domain localhost]\n"
          "  [--users N] [--first 1] [--prefix user] [--password PW] [--resource load]\n"
          "  [--messages M per user] [--rate total msgs/s] [--threads 2]\n"
          "  [--concurrency logins in flight] [--mech sha1|sha256|best]\n"
          "  [--scram-cache FILE] [--server-pid PID]... [--hold SECONDS]\n"
          "  [--settle SECONDS] [--drain SECONDS] [--login-timeout SECONDS]\n"
          "  [--register] [--password-suffix] [--mam-never] [--quiet]\n"
          "Prints key=value lines (see bench/xmpp/README.md).\n",
          stderr);
    exit(2);
}

static double num(const char *s, double lo, double hi, const char *what)
{
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (errno || *end || v < lo || v > hi) {
        fprintf(stderr, "xmppload: bad %s '%s'\n", what, s);
        exit(2);
    }
    return v;
}

static double span_s(uint64_t from, uint64_t to)
{
    return from && to > from ? (double)(to - from) / 1e9 : 0.0;
}

static void sleep_s(double s)
{
    struct timespec ts = {(time_t)s, (long)((s - (double)(time_t)s) * 1e9)};
    nanosleep(&ts, NULL);
}

static void progress(const char *what)
{
    if (!opt.quiet)
        fprintf(stderr, "xmppload: %s: online %ld failed %ld sent %ld delivered %ld\n", what,
                atomic_load(&n_online), atomic_load(&n_failed), atomic_load(&n_sent),
                atomic_load(&n_delivered));
}

int main(int argc, char **argv)
{
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        bool takes = true;
        if (strcmp(a, "--register") == 0) {
            opt.reg = true;
            takes = false;
        } else if (strcmp(a, "--password-suffix") == 0) {
            opt.pw_suffix = true;
            takes = false;
        } else if (strcmp(a, "--mam-never") == 0) {
            opt.mam_never = true;
            takes = false;
        } else if (strcmp(a, "--quiet") == 0) {
            opt.quiet = true;
            takes = false;
        } else if (!v) {
            usage();
        } else if (strcmp(a, "--host") == 0) {
            opt.host = v;
        } else if (strcmp(a, "--port") == 0) {
            opt.port = (int)num(v, 1, 65535, "port");
        } else if (strcmp(a, "--domain") == 0) {
            opt.domain = v;
        } else if (strcmp(a, "--users") == 0) {
            opt.users = (long)num(v, 1, 1000000, "user count");
        } else if (strcmp(a, "--first") == 0) {
            opt.first = (int)num(v, 0, 1000000, "first user number");
        } else if (strcmp(a, "--prefix") == 0) {
            opt.prefix = v;
        } else if (strcmp(a, "--password") == 0) {
            opt.password = v;
        } else if (strcmp(a, "--resource") == 0) {
            opt.resource = v;
        } else if (strcmp(a, "--messages") == 0) {
            opt.messages = (long)num(v, 0, 1e7, "message count");
        } else if (strcmp(a, "--rate") == 0) {
            opt.rate = num(v, 1, 1e8, "rate");
        } else if (strcmp(a, "--threads") == 0) {
            opt.threads = (int)num(v, 1, 64, "thread count");
        } else if (strcmp(a, "--concurrency") == 0 || strcmp(a, "--conns-per-loop") == 0) {
            opt.concurrency = (int)num(v, 1, 1e6, "concurrency");
        } else if (strcmp(a, "--mech") == 0) {
            opt.mech_pref = strcmp(v, "sha1") == 0 ? M_SHA1
                            : strcmp(v, "sha256") == 0 ? M_SHA256
                            : strcmp(v, "best") == 0 ? -1 : (usage(), 0);
        } else if (strcmp(a, "--scram-cache") == 0) {
            opt.cache_path = v;
        } else if (strcmp(a, "--server-pid") == 0) {
            if (opt.npids == MAX_PIDS)
                usage();
            opt.pids[opt.npids++] = (long)num(v, 1, 1e9, "pid");
        } else if (strcmp(a, "--hold") == 0) {
            opt.hold_s = num(v, 0, 86400, "hold time");
        } else if (strcmp(a, "--settle") == 0) {
            opt.settle_s = num(v, 0, 600, "settle time");
        } else if (strcmp(a, "--drain") == 0) {
            opt.drain_s = num(v, 0, 3600, "drain time");
        } else if (strcmp(a, "--login-timeout") == 0) {
            opt.login_timeout_s = num(v, 1, 86400, "login timeout");
        } else {
            usage();
        }
        if (takes)
            i++;
    }
    if (opt.threads > opt.users)
        opt.threads = (int)opt.users;
    if (uv_ip4_addr(opt.host, opt.port, &server_addr) != 0) {
        fprintf(stderr, "xmppload: bad host %s (IPv4 address)\n", opt.host);
        return 2;
    }
    uv_mutex_init(&err_lock);
    cache = calloc((size_t)opt.users * M_N, sizeof(*cache));
    online = calloc((size_t)opt.users, sizeof(*online));
    workers = calloc((size_t)opt.threads, sizeof(*workers));
    struct client *all = calloc((size_t)opt.users, sizeof(*all));
    if (!cache || !online || !workers || !all)
        abort();
    cache_load();
    for (int t = 0; t < opt.threads; t++) {
        struct worker *w = &workers[t];
        w->id = t;
        w->rnd = (unsigned)(t * 7919 + 17);
        uv_loop_init(&w->loop);
        w->cl = calloc((size_t)(opt.users / opt.threads + 1), sizeof(*w->cl));
        if (!w->cl)
            abort();
        uv_timer_init(&w->loop, &w->tick);
        w->tick.data = w;
    }
    for (long i = 0; i < opt.users; i++) {
        struct worker *w = &workers[i % opt.threads];
        all[i].idx = i;
        all[i].w = w;
        all[i].to_send = opt.reg ? 0 : opt.messages;
        w->to_send_total += all[i].to_send;
        w->cl[w->ncl++] = &all[i];
    }

    long rss0 = opt.npids ? rss_kib() : -1;
    uint64_t t0 = uv_hrtime();
    for (int t = 0; t < opt.threads; t++) {
        uv_timer_start(&workers[t].tick, on_tick, 1, 1);
        uv_thread_create(&workers[t].thread, worker_main, &workers[t]);
    }

    /* Phase 0: logins (or registrations), until every client is online or failed. */
    uint64_t last_report = t0;
    for (;;) {
        long done = atomic_load(&n_online) + atomic_load(&n_failed) +
                    (opt.reg ? atomic_load(&n_reg_ok) + atomic_load(&n_reg_exist) : 0);
        if (done >= opt.users)
            break;
        uint64_t now = uv_hrtime();
        if ((double)(now - t0) / 1e9 > opt.login_timeout_s) {
            note_error("login phase timed out with %ld of %ld online", atomic_load(&n_online),
                       opt.users);
            break;
        }
        if (now - last_report > 5000000000ull) {
            progress("logging in");
            last_report = now;
        }
        sleep_s(0.005);
    }
    long online_at_barrier = atomic_load(&n_online);
    /* Spans are 0 when nothing happened (no login, no delivery), not a wrapped difference. */
    double login_s = span_s(atomic_load(&t_first_connect), atomic_load(&t_last_online));
    if (opt.reg)
        login_s = (double)(uv_hrtime() - t0) / 1e9;
    long rss1 = -1, rss2 = -1;
    if (opt.npids) {
        sleep_s(opt.settle_s);
        rss1 = rss_kib();
    }
    if (opt.hold_s > 0) {
        progress("holding");
        sleep_s(opt.hold_s);
        if (opt.npids)
            rss2 = rss_kib();
    }
    long still_online = atomic_load(&n_online);

    /* Phase 1: messages. */
    double send_s = 0, deliver_s = 0;
    if (!opt.reg && opt.messages > 0 && online_at_barrier > 0) {
        atomic_store(&phase, 1);
        while (atomic_load(&sends_done_workers) < opt.threads) {
            uint64_t now = uv_hrtime();
            if (now - last_report > 5000000000ull) {
                progress("sending");
                last_report = now;
            }
            sleep_s(0.005);
        }
        /* Drain: until all sent are delivered or nothing arrives for drain_s. */
        long last = -1;
        uint64_t since = uv_hrtime();
        for (;;) {
            long d = atomic_load(&n_delivered);
            if (d >= atomic_load(&n_sent))
                break;
            if (d != last) {
                last = d;
                since = uv_hrtime();
            } else if ((double)(uv_hrtime() - since) / 1e9 > opt.drain_s) {
                break;
            }
            sleep_s(0.005);
        }
        send_s = span_s(atomic_load(&t_first_send), atomic_load(&t_last_send));
        deliver_s = span_s(atomic_load(&t_first_send), atomic_load(&t_last_delivery));
    }
    atomic_store(&phase, 2);
    for (int t = 0; t < opt.threads; t++) {
        uv_thread_join(&workers[t].thread);
        uv_loop_close(&workers[t].loop);
    }
    cache_save();

    struct hist h;
    memset(&h, 0, sizeof(h));
    for (int t = 0; t < opt.threads; t++) {
        struct hist *w = &workers[t].hist;
        for (int i = 0; i < HIST_BUCKETS; i++)
            h.b[i] += w->b[i];
        h.count += w->count;
        h.sum_us += w->sum_us;
        if (w->max_us > h.max_us)
            h.max_us = w->max_us;
    }

    long sent = atomic_load(&n_sent), deliv = atomic_load(&n_delivered);
    const char *mech = atomic_load(&n_mech[M_SHA256]) && atomic_load(&n_mech[M_SHA1]) ? "mixed"
                       : atomic_load(&n_mech[M_SHA256])                             ? mech_name[M_SHA256]
                                                                                      : mech_name[M_SHA1];
    printf("users=%ld threads=%d concurrency=%d\n", opt.users, opt.threads, opt.concurrency);
    if (opt.reg) {
        printf("registered=%ld existed=%ld failed=%ld seconds=%.3f\n", atomic_load(&n_reg_ok),
               atomic_load(&n_reg_exist), atomic_load(&n_failed), login_s);
    } else {
        printf("mechanism=%s pbkdf2_computed=%ld\n", mech, atomic_load(&n_pbkdf2));
        printf("online=%ld login_failures=%ld login_seconds=%.3f logins_per_s=%.1f\n",
               online_at_barrier, opt.users - online_at_barrier, login_s,
               login_s > 0 ? (double)online_at_barrier / login_s : 0.0);
        if (opt.npids) {
            printf("rss_before_kib=%ld rss_online_kib=%ld kib_per_session=%.2f\n", rss0, rss1,
                   online_at_barrier ? (double)(rss1 - rss0) / (double)online_at_barrier : 0.0);
        }
        if (opt.hold_s > 0)
            printf("held_seconds=%.0f still_online=%ld rss_after_hold_kib=%ld\n", opt.hold_s,
                   still_online, rss2);
        if (opt.messages > 0) {
            printf("offered_rate=%.0f sent=%ld send_seconds=%.3f sent_per_s=%.1f\n", opt.rate,
                   sent, send_s, send_s > 0 ? (double)sent / send_s : 0.0);
            printf("delivered=%ld lost=%ld deliver_seconds=%.3f delivered_per_s=%.1f\n", deliv,
                   sent - deliv, deliver_s, deliver_s > 0 ? (double)deliv / deliver_s : 0.0);
            if (h.count)
                printf("latency_ms_mean=%.3f latency_ms_p50=%.3f latency_ms_p99=%.3f "
                       "latency_ms_max=%.3f\n",
                       (double)h.sum_us / (double)h.count / 1000.0, hist_pct(&h, 0.50) / 1000.0,
                       hist_pct(&h, 0.99) / 1000.0, h.max_us / 1000.0);
        }
    }
    printf("failures=%ld first_error=\"%s\"\n", atomic_load(&n_failed), first_error);
    free(all);
    return 0;
}
