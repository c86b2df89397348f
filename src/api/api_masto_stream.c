/* SPDX-License-Identifier: MIT */
/* The Mastodon streaming API (https://docs.joinmastodon.org/methods/streaming/):
 * live events of the microblog over server-sent events (one stream per
 * request: GET /api/v1/streaming/user, /user/notification, /public,
 * /public/local, /public/remote, /hashtag, /hashtag/local, /direct) or one
 * WebSocket (GET /api/v1/streaming) that subscribes to several streams with
 * {"type":"subscribe","stream":...} messages. The service's events
 * (mb_subscribe()) are turned into Mastodon's events: update, delete,
 * notification, status.update, and conversation on direct streams.
 *
 * Who gets what (the same rules the service's lists apply, so that a stream
 * never shows what a timeline read would not):
 *  - user: updates whose home audience holds the viewer (the fan-out
 *    computed it: author, followers, mentioned followers of a direct post),
 *    the viewer's notifications; user:notification only the notifications;
 *  - public, public:local: public posts (the event's public_stream), never
 *    reblogs; public:remote never has anything (no federation); the :media
 *    variants only posts with attachments;
 *  - hashtag, hashtag:local: public posts carrying the tag;
 *  - direct: a "conversation" for each direct post the viewer takes part in;
 *  - every update is rendered for its viewer through mb_get(), so a post the
 *    viewer may not see is dropped even if an audience were wrong, and posts
 *    by (or reblogs of) accounts the viewer blocks or mutes are left out;
 *  - delete: the author's and their followers' user streams, and any stream
 *    this connection was sent the post on (a small ring of recent ids). The
 *    service sends deletes after the row is gone, so its visibility is not
 *    known any more: a stream that never saw the post is not told.
 * The Status JSON is made once per distinct viewer and event, not once per
 * connection.
 *
 * Authentication: a Bearer token (Authorization header, the access_token
 * parameter, or, for the WebSocket, Sec-WebSocket-Protocol, which is how
 * Mastodon's web client sends it; the value is echoed back). user and
 * user:notification and direct need read:statuses / read:notifications;
 * public and hashtag streams may be anonymous. A token that is presented
 * must be valid (401).
 *
 * The site's own pages open the WebSocket with the browser's session cookie
 * instead of a token. Browsers send cookies on cross-site WebSocket
 * handshakes and WebSockets are not bound by the same-origin policy, so any
 * page could otherwise read a logged-in person's timeline (cross-site
 * WebSocket hijacking). The cookie is therefore accepted only when the
 * handshake's Origin is exactly the base URL's origin; a handshake without
 * Origin (not a browser) gets no cookie login either.
 *
 * Limits: a WebSocket holds at most STREAM_MAX_SUBS subscriptions and takes
 * messages of at most STREAM_MAX_MESSAGE bytes; output waiting for a slow
 * reader is capped at HTTP_STREAM_MAX_QUEUED per connection, past which the
 * reader is dropped. One timer sends every stream's heartbeat (":thump" on
 * server-sent events, a ping on WebSockets). */
#include "api/api_masto.h"

#include "auth/auth_account.h"
#include "core/arena.h"
#include "core/buf.h"
#include "core/err.h"
#include "core/log.h"
#include "core/metrics.h"
#include "http/http_cookie.h"
#include "http/http_form.h"
#include "http/http_json.h"
#include "http/ws.h"
#include "net/conn.h"
#include "oauth/oauth.h"
#include "web/web.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <uv.h>

#define STREAM_MAX_SUBS 16      /* subscriptions per WebSocket */
#define STREAM_MAX_MESSAGE 4096 /* bytes of a client message */
#define STREAM_TAG_MAX 100      /* bytes of a hashtag name */
#define STREAM_SENT_RING 256    /* recent post ids per connection, for deletes */
#define STREAM_HEARTBEAT_MS 15000
#define STREAM_RENDER_CACHE 64 /* distinct viewers rendered per event */
#define COOKIE_SESSION "tandem_session"

enum kind {
    K_USER,
    K_USER_NOTIF,
    K_PUBLIC,
    K_PUBLIC_MEDIA,
    K_PUBLIC_LOCAL,
    K_PUBLIC_LOCAL_MEDIA,
    K_PUBLIC_REMOTE,
    K_PUBLIC_REMOTE_MEDIA,
    K_HASHTAG,
    K_HASHTAG_LOCAL,
    K_DIRECT,
};

/* Mastodon's stream names, indexed by enum kind. */
static const char *const kind_names[] = {
    "user",         "user:notification",  "public",        "public:media",
    "public:local", "public:local:media", "public:remote", "public:remote:media",
    "hashtag",      "hashtag:local",      "direct",
};

struct sub {
    int kind;                     /* enum kind */
    char tag[STREAM_TAG_MAX + 1]; /* hashtag streams: the name, without '#' */
};

/* One streaming connection: server-sent events (h) or a WebSocket (w). */
struct sconn {
    struct sconn *next, *prev; /* hub.conns */
    int64_t viewer;            /* 0 = anonymous */
    bool may_statuses;         /* read:statuses granted */
    bool may_notifs;           /* read:notifications granted */
    struct http_stream *h;     /* SSE; NULL once gone */
    struct ws *w;              /* WebSocket; NULL once gone */
    struct conn *conn;         /* the WebSocket's connection, for the output cap */
    struct sub subs[STREAM_MAX_SUBS];
    size_t nsubs;
    int64_t sent[STREAM_SENT_RING]; /* post ids sent lately (ring) */
    size_t nsent;
    bool dead; /* gone: freed by the next sweep */
};

/* The streams of the server (one hub; the loop thread only). */
struct hub {
    struct web_app *app;
    uv_timer_t heartbeat; /* runs while any stream is open; unref'd */
    bool ticking;
    struct sconn *conns;
    size_t nlive; /* open streams (the gauge) */
    int busy;     /* >0: inside a fan-out or a message; no frees */
};

static struct hub *hub;

/* ---- connections ---- */

static void hub_sweep(void)
{
    struct sconn *c, *next;

    if (hub->busy > 0)
        return;
    for (c = hub->conns; c; c = next) {
        next = c->next;
        if (!c->dead)
            continue;
        if (c->prev)
            c->prev->next = c->next;
        else
            hub->conns = c->next;
        if (c->next)
            c->next->prev = c->prev;
        free(c);
    }
    if (hub->nlive == 0 && hub->ticking) {
        uv_timer_stop(&hub->heartbeat);
        hub->ticking = false;
    }
}

/* The connection went away (or never came): forget it. Safe inside a
 * fan-out or a message callback, which sweep afterwards. */
static void sconn_gone(struct sconn *c)
{
    if (c->dead)
        return;
    c->dead = true;
    c->h = NULL;
    c->w = NULL;
    c->conn = NULL;
    hub->nlive--;
    hub_sweep();
}

static void on_heartbeat(uv_timer_t *t);

static struct sconn *sconn_new(int64_t viewer)
{
    struct sconn *c = td_calloc(1, sizeof(*c));

    c->viewer = viewer;
    c->next = hub->conns;
    if (hub->conns)
        hub->conns->prev = c;
    hub->conns = c;
    hub->nlive++;
    if (!hub->ticking) {
        uv_timer_start(&hub->heartbeat, on_heartbeat, STREAM_HEARTBEAT_MS, STREAM_HEARTBEAT_MS);
        hub->ticking = true;
    }
    return c;
}

static bool sconn_was_sent(const struct sconn *c, int64_t id)
{
    size_t n = c->nsent < STREAM_SENT_RING ? c->nsent : STREAM_SENT_RING;

    for (size_t i = 0; i < n; i++)
        if (c->sent[i] == id)
            return true;
    return false;
}

static void sconn_mark_sent(struct sconn *c, int64_t id)
{
    c->sent[c->nsent++ % STREAM_SENT_RING] = id;
}

/* Send one event: SSE "event:/data:" lines, or a WebSocket message with the
 * payload as a JSON string, as Mastodon sends them. A reader past the
 * output cap is dropped (sconn_gone runs from inside the write). */
static void sconn_send(struct sconn *c, const struct sub *s, const char *event, const char *payload)
{
    if (c->dead)
        return;
    if (c->h) {
        struct buf b;
        buf_init(&b, 0);
        buf_printf(&b, "event: %s\ndata: %s\n\n", event, payload);
        http_stream_write(c->h, b.data, b.len);
        buf_free(&b);
        return;
    }
    json_t *names = json_array();
    json_array_append_new(names, json_string(kind_names[s->kind]));
    if (s->kind == K_HASHTAG || s->kind == K_HASHTAG_LOCAL)
        json_array_append_new(names, json_string(s->tag));
    json_t *msg = json_pack("{s:o,s:s,s:s}", "stream", names, "event", event, "payload", payload);
    char *text = msg ? json_dumps(msg, JSON_COMPACT) : NULL;
    json_decref(msg);
    if (text == NULL)
        return;
    size_t len = strlen(text);
    if (c->conn && c->conn->out_queued + len > HTTP_STREAM_MAX_QUEUED) {
        log_info("masto.stream_slow", "conn=%llu peer=%s", (unsigned long long)c->conn->id,
                 c->conn->peer);
        conn_abort(c->conn); /* the ws's on_close runs: sconn_gone */
    } else if (c->w) {
        ws_send(c->w, WS_TEXT, text, len);
    }
    free(text);
}

/* A WebSocket error answer ({"error": ..., "status": ...}, Mastodon's shape). */
static void sconn_error(struct sconn *c, int status, const char *msg)
{
    json_t *j = json_pack("{s:s,s:i}", "error", msg, "status", status);
    char *text = j ? json_dumps(j, JSON_COMPACT) : NULL;

    json_decref(j);
    if (text && c->w && !c->dead)
        ws_send(c->w, WS_TEXT, text, strlen(text));
    free(text);
}

static void on_heartbeat(uv_timer_t *t)
{
    (void)t;
    hub->busy++;
    for (struct sconn *c = hub->conns; c; c = c->next) {
        if (c->dead)
            continue;
        if (c->h)
            http_stream_write(c->h, ":thump\n", 7); /* an SSE comment keeps proxies open */
        else if (c->w)
            ws_ping(c->w);
    }
    hub->busy--;
    hub_sweep();
}

/* ---- rendering for a viewer ---- */

/* What one event renders, shared by every connection of the same viewer. */
struct render {
    struct arena *arena;
    struct http_req fake; /* only its arena is used by the builders */
    struct masto_req m;
    const struct mb_event *ev;
    int64_t viewers[STREAM_RENDER_CACHE];
    char *json[STREAM_RENDER_CACHE]; /* NULL: nothing for that viewer */
    size_t n;
};

static void render_init(struct render *rd, const struct mb_event *ev)
{
    struct web_app *app = hub->app;

    memset(rd, 0, sizeof(*rd));
    rd->ev = ev;
    rd->arena = arena_new(16384);
    rd->fake.arena = rd->arena;
    rd->fake.app = app;
    rd->fake.method = "GET";
    rd->fake.path = "/api/v1/streaming";
    rd->fake.query = "";
    rd->fake.body = "";
    rd->m.r = &rd->fake;
    rd->m.app = app;
    rd->m.mb = app->mb;
    rd->m.st = app->store;
    rd->m.base = app->base_url;
    rd->m.params = json_object();
    rd->m.accounts = json_object(); /* Account entities do not depend on the viewer */
}

static void render_free(struct render *rd)
{
    for (size_t i = 0; i < rd->n; i++)
        free(rd->json[i]);
    json_decref(rd->m.params);
    json_decref(rd->m.accounts);
    arena_free(rd->arena);
}

/* The participants of a direct post other than viewer, as Accounts. */
static json_t *participants(struct masto_req *m, const struct store_mb_post *p)
{
    json_t *a = json_array();
    json_t *acc;

    if (p->account_id != m->viewer && (acc = api_masto_account(m, p->account_id)))
        json_array_append_new(a, acc);
    for (size_t i = 0; i < p->nmentions; i++)
        if (p->mentions[i] != m->viewer && p->mentions[i] != p->account_id &&
            (acc = api_masto_account(m, p->mentions[i])))
            json_array_append_new(a, acc);
    return a;
}

/* Build the payload of rd->ev for viewer (caller frees), or NULL when the
 * viewer may not see it. conversation: wrap the Status in Mastodon's
 * Conversation entity (one per direct post: there are no threads of
 * conversations here). */
static char *render_one(struct render *rd, int64_t viewer, bool conversation)
{
    const struct mb_event *ev = rd->ev;
    json_t *j = NULL;

    rd->m.viewer = viewer;
    if (ev->type == MB_EV_NOTIFICATION) {
        struct store_mb_notif n;
        if (store_mb_notif_get(rd->m.st, viewer, ev->notif_id, &n) == TD_OK)
            j = api_masto_notification(&rd->m, &n);
    } else {
        struct store_mb_post p;
        if (mb_get(rd->m.mb, viewer, ev->post_id, &p) != TD_OK)
            return NULL;
        j = api_masto_status(&rd->m, &p);
        if (j && conversation) {
            char id[24];
            snprintf(id, sizeof(id), "%lld", (long long)p.id);
            j = json_pack("{s:s,s:b,s:o,s:o}", "id", id, "unread", p.account_id != viewer,
                          "accounts", participants(&rd->m, &p), "last_status", j);
        }
        store_mb_post_clear(&p);
    }
    char *s = j ? json_dumps(j, JSON_COMPACT) : NULL;
    json_decref(j);
    return s;
}

/* The payload for viewer, made once per event (conversations are made apart:
 * only direct streams want them, and they are few). */
static const char *render_for(struct render *rd, int64_t viewer, bool conversation, char **own)
{
    *own = NULL;
    if (conversation) {
        *own = render_one(rd, viewer, true);
        return *own;
    }
    for (size_t i = 0; i < rd->n; i++)
        if (rd->viewers[i] == viewer)
            return rd->json[i];
    char *s = render_one(rd, viewer, false);
    if (rd->n < STREAM_RENDER_CACHE) {
        rd->viewers[rd->n] = viewer;
        rd->json[rd->n++] = s;
        return s;
    }
    *own = s;
    return s;
}

/* ---- who gets an event ---- */

static int cmp_id(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return x < y ? -1 : x > y;
}

static bool in_sorted(const int64_t *v, size_t n, int64_t id)
{
    return n && bsearch(&id, v, n, sizeof(*v), cmp_id) != NULL;
}

static bool in_list(const int64_t *v, size_t n, int64_t id)
{
    for (size_t i = 0; i < n; i++)
        if (v[i] == id)
            return true;
    return false;
}

/* Does viewer block or mute account? Home, public and tag lists hide such
 * posts (mb.c's hides()), so streams do too. */
static bool hides(int64_t viewer, int64_t account)
{
    struct store_mb_relationship rel;

    if (viewer == 0 || account == 0 || viewer == account)
        return false;
    if (store_mb_relationships(hub->app->store, viewer, &account, 1, &rel) != TD_OK)
        return true;
    return rel.blocking || rel.muting;
}

static bool follows(int64_t viewer, int64_t account)
{
    struct store_mb_relationship rel;

    if (viewer == 0)
        return false;
    if (viewer == account)
        return true;
    return store_mb_relationships(hub->app->store, viewer, &account, 1, &rel) == TD_OK &&
           rel.following;
}

/* What the event's post is, read once (author, original's author, media). */
struct post_facts {
    bool ok;
    int64_t author, orig_author;
    bool has_media;
};

static void post_facts(const struct mb_event *ev, struct post_facts *f)
{
    struct store *st = hub->app->store;
    struct store_mb_post p, o;

    memset(f, 0, sizeof(*f));
    if (store_mb_post_get(st, ev->post_id, 0, &p) != TD_OK)
        return;
    f->ok = true;
    f->author = p.account_id;
    f->has_media = p.nmedia > 0;
    if (p.reblog_of_id && store_mb_post_get(st, p.reblog_of_id, 0, &o) == TD_OK) {
        f->orig_author = o.account_id;
        f->has_media = o.nmedia > 0;
        store_mb_post_clear(&o);
    }
    store_mb_post_clear(&p);
}

static bool has_tag(const struct mb_event *ev, const char *tag)
{
    for (size_t i = 0; i < ev->ntags; i++)
        if (strcasecmp(ev->tags[i], tag) == 0)
            return true;
    return false;
}

/* Does sub s of c take this update (before visibility, checked at render)? */
static bool sub_wants_update(const struct sconn *c, const struct sub *s, const struct mb_event *ev,
                             const int64_t *home, size_t nhome, const struct post_facts *f)
{
    bool media = s->kind == K_PUBLIC_MEDIA || s->kind == K_PUBLIC_LOCAL_MEDIA;

    switch (s->kind) {
    case K_USER: return c->viewer && in_sorted(home, nhome, c->viewer);
    case K_PUBLIC:
    case K_PUBLIC_LOCAL:
    case K_PUBLIC_MEDIA:
    case K_PUBLIC_LOCAL_MEDIA: return ev->public_stream && (!media || f->has_media);
    case K_HASHTAG:
    case K_HASHTAG_LOCAL: return ev->public_stream && has_tag(ev, s->tag);
    case K_DIRECT:
        /* conversations are for new posts; edits reach them through user */
        return c->viewer && ev->type == MB_EV_UPDATE && in_list(ev->direct, ev->ndirect, c->viewer);
    default: /* user:notification, public:remote */ return false;
    }
}

static void deliver_update(const struct mb_event *ev)
{
    const char *event = ev->type == MB_EV_UPDATE ? "update" : "status.update";
    struct post_facts f;
    struct render rd;
    int64_t *home = NULL;

    post_facts(ev, &f);
    if (!f.ok)
        return;
    if (ev->nhome) { /* sorted once, searched per connection */
        home = td_malloc(ev->nhome * sizeof(*home));
        memcpy(home, ev->home, ev->nhome * sizeof(*home));
        qsort(home, ev->nhome, sizeof(*home), cmp_id);
    }
    render_init(&rd, ev);
    for (struct sconn *c = hub->conns; c; c = c->next) {
        bool checked = false, hidden = false;
        for (size_t i = 0; i < c->nsubs && !c->dead; i++) {
            const struct sub *s = &c->subs[i];
            if (!sub_wants_update(c, s, ev, home, ev->nhome, &f))
                continue;
            if (!checked) {
                hidden = hides(c->viewer, f.author) ||
                         (f.orig_author && hides(c->viewer, f.orig_author));
                checked = true;
            }
            if (hidden)
                break;
            char *own;
            bool conv = s->kind == K_DIRECT;
            const char *payload = render_for(&rd, c->viewer, conv, &own);
            if (payload) {
                sconn_mark_sent(c, ev->post_id);
                sconn_send(c, s, conv ? "conversation" : event, payload);
            }
            free(own);
        }
    }
    render_free(&rd);
    free(home);
}

static void deliver_notification(const struct mb_event *ev)
{
    struct render rd;

    render_init(&rd, ev);
    for (struct sconn *c = hub->conns; c; c = c->next) {
        if (c->viewer != ev->account_id || !c->may_notifs)
            continue;
        for (size_t i = 0; i < c->nsubs && !c->dead; i++) {
            const struct sub *s = &c->subs[i];
            if (s->kind != K_USER && s->kind != K_USER_NOTIF)
                continue;
            char *own;
            const char *payload = render_for(&rd, c->viewer, false, &own);
            if (payload)
                sconn_send(c, s, "notification", payload);
            free(own);
        }
    }
    render_free(&rd);
}

/* A delete goes to the streams that were sent the post, to the user streams
 * of the author's followers and, for a public post, to every public and tag
 * stream: their clients may hold it from a timeline read made before they
 * connected (Mastodon removes a public post from its public timelines). */
static void deliver_delete(const struct mb_event *ev)
{
    char id[24];

    snprintf(id, sizeof(id), "%lld", (long long)ev->post_id);
    for (struct sconn *c = hub->conns; c; c = c->next) {
        bool sent = sconn_was_sent(c, ev->post_id);
        int fol = -1; /* not looked up yet */
        for (size_t i = 0; i < c->nsubs && !c->dead; i++) {
            const struct sub *s = &c->subs[i];
            bool to = sent && s->kind != K_USER_NOTIF;
            if (!to && ev->public_stream)
                to = s->kind == K_PUBLIC || s->kind == K_PUBLIC_LOCAL ||
                     s->kind == K_PUBLIC_MEDIA || s->kind == K_PUBLIC_LOCAL_MEDIA ||
                     s->kind == K_HASHTAG || s->kind == K_HASHTAG_LOCAL;
            if (!to && s->kind == K_USER) {
                if (fol < 0)
                    fol = follows(c->viewer, ev->account_id);
                to = fol == 1;
            }
            if (to)
                sconn_send(c, s, "delete", id);
        }
    }
}

static void on_event(void *ud, const struct mb_event *ev)
{
    (void)ud;
    if (hub->nlive == 0)
        return;
    hub->busy++;
    switch (ev->type) {
    case MB_EV_UPDATE:
    case MB_EV_STATUS_UPDATE: deliver_update(ev); break;
    case MB_EV_NOTIFICATION: deliver_notification(ev); break;
    case MB_EV_DELETE: deliver_delete(ev); break;
    default: break;
    }
    hub->busy--;
    hub_sweep();
}

/* ---- set-up ---- */

static double gauge_streams(void *ud)
{
    (void)ud;
    return hub ? (double)hub->nlive : 0.0;
}

void api_masto_stream_start(struct web_app *app)
{
    if (hub)
        return;
    hub = td_calloc(1, sizeof(*hub));
    hub->app = app;
    uv_timer_init(app->loop, &hub->heartbeat);
    uv_unref((uv_handle_t *)&hub->heartbeat); /* never keeps the loop alive */
    mb_subscribe(app->mb, on_event, NULL);
    metrics_gauge_add("tandem_masto_streams",
                      "Open Mastodon streaming connections (server-sent events and WebSockets).",
                      gauge_streams, NULL);
}

/* ---- parsing a stream request ---- */

/* Parse a stream name (and tag) into *s. NULL on success, else the error. */
static const char *sub_parse(const char *name, const char *tag, struct sub *s)
{
    memset(s, 0, sizeof(*s));
    if (name == NULL || *name == '\0')
        return "Unknown stream type";
    s->kind = -1;
    for (size_t i = 0; i < TD_ARRAY_LEN(kind_names); i++)
        if (strcmp(name, kind_names[i]) == 0)
            s->kind = (int)i;
    if (s->kind < 0)
        return "Unknown stream type";
    if (s->kind == K_HASHTAG || s->kind == K_HASHTAG_LOCAL) {
        if (tag && *tag == '#')
            tag++;
        if (tag == NULL || *tag == '\0')
            return "No tag for stream provided";
        if (strlen(tag) > STREAM_TAG_MAX)
            return "Tag is too long";
        snprintf(s->tag, sizeof(s->tag), "%s", tag);
    }
    return NULL;
}

/* May c subscribe to s? NULL if so, else the error. Mastodon's rules:
 * user and direct need read:statuses, notifications read:notifications. */
static const char *sub_allowed(const struct sconn *c, const struct sub *s)
{
    switch (s->kind) {
    case K_USER:
    case K_DIRECT:
        if (c->viewer == 0)
            return "Missing access token";
        return c->may_statuses ? NULL : "Access token does not have the required scopes";
    case K_USER_NOTIF:
        if (c->viewer == 0)
            return "Missing access token";
        return c->may_notifs ? NULL : "Access token does not have the required scopes";
    default: return NULL;
    }
}

static bool sub_same(const struct sub *a, const struct sub *b)
{
    return a->kind == b->kind && strcasecmp(a->tag, b->tag) == 0;
}

/* ---- who is asking ---- */

struct who {
    int64_t viewer;
    char *scope;          /* malloc'd; NULL when anonymous */
    const char *protocol; /* the first sub-protocol offered (arena), to echo; or NULL */
};

/* The origin (scheme://host[:port]) of base_url: its length. */
static size_t origin_len(const char *base_url)
{
    const char *p = strstr(base_url, "://");
    const char *slash = p ? strchr(p + 3, '/') : NULL;

    return slash ? (size_t)(slash - base_url) : strlen(base_url);
}

/* The session cookie's account, only when Origin is the site's own origin
 * (see the file comment: cross-site WebSocket hijacking). 0 otherwise. */
static int64_t cookie_viewer(struct http_req *r)
{
    struct web_app *app = r->app;
    const char *origin = http_req_header(r, "Origin");
    const char *hdr = http_req_header(r, "Cookie");
    struct http_kvlist cookies = {0};
    const char *token;
    struct account a;
    int64_t id;

    if (hdr == NULL || origin == NULL || app->base_url == NULL)
        return 0;
    size_t n = origin_len(app->base_url);
    if (strlen(origin) != n || strncasecmp(origin, app->base_url, n) != 0) {
        log_info("masto.stream_origin_refused", "peer=%s origin=%s", r->peer, log_q(origin));
        return 0;
    }
    if (http_cookie_parse(r->arena, hdr, strlen(hdr), 64, &cookies) != TD_OK)
        return 0;
    token = http_kv_get(&cookies, COOKIE_SESSION);
    if (token == NULL || auth_session_resolve(app->store, token, &a) != TD_OK)
        return 0;
    id = a.id;
    store_account_clear(&a);
    return id;
}

/* The first sub-protocol the client offers (RFC 6455 §4.1 item 10: a
 * comma-separated list), or NULL. Mastodon's server picks the first one,
 * which its web client fills with the access token. */
static const char *first_protocol(struct http_req *r)
{
    const char *p = http_req_header(r, "Sec-WebSocket-Protocol");
    size_t n;

    if (p == NULL)
        return NULL;
    while (*p == ' ' || *p == '\t')
        p++;
    n = strcspn(p, ", \t");
    return n ? arena_strndup(r->arena, p, n) : NULL;
}

/* Find out who r is. False if a presented token is invalid (r answered 401). */
static bool who_is(struct http_req *r, bool websocket, struct who *w)
{
    struct masto_req *m = api_masto_req(r);
    struct web_app *app = r->app;
    const char *authz = http_req_header(r, "Authorization");
    const char *token = NULL;
    struct oauth_token t;

    memset(w, 0, sizeof(*w));
    if (authz && strncasecmp(authz, "Bearer ", 7) == 0) {
        token = authz + 7;
        while (*token == ' ')
            token++;
    }
    if (token == NULL || *token == '\0')
        token = api_masto_str(m, "access_token");
    if (websocket)
        w->protocol = first_protocol(r);
    if ((token == NULL || *token == '\0') && w->protocol)
        token = w->protocol;
    if (token == NULL || *token == '\0') {
        if (websocket && (w->viewer = cookie_viewer(r)) != 0)
            w->scope = td_strdup("read"); /* the person's own page */
        return true;
    }
    if (oauth_access_token_check(app->oauth, token, store_now_ms(), &t) != TD_OK) {
        http_resp_header(r, "WWW-Authenticate", "Bearer realm=\"Tandem\", error=\"invalid_token\"");
        api_masto_error(r, 401, "The access token is invalid");
        return false;
    }
    w->viewer = t.account_id;
    w->scope = td_strdup(t.scope ? t.scope : "");
    store_oauth_token_clear(&t);
    return true;
}

static void who_apply(const struct who *w, struct sconn *c)
{
    c->viewer = w->viewer;
    c->may_statuses = w->scope && api_masto_scope_ok(w->scope, "read:statuses");
    c->may_notifs = w->scope && api_masto_scope_ok(w->scope, "read:notifications");
}

/* ---- server-sent events ---- */

static void sse_gone(void *ud)
{
    sconn_gone(ud);
}

static void sse_open(struct http_req *r, const char *name)
{
    struct masto_req *m = api_masto_req(r);
    struct who w;
    struct sub s;
    const char *err;

    if (hub == NULL) {
        api_masto_error(r, 503, "Streaming is not available yet");
        return;
    }
    if (m->bad) {
        api_masto_error(r, 400, m->bad);
        return;
    }
    if (!who_is(r, false, &w))
        return;
    err = sub_parse(name, api_masto_str(m, "tag"), &s);
    if (err) {
        free(w.scope);
        api_masto_error(r, 400, err);
        return;
    }
    struct sconn probe = {0};
    who_apply(&w, &probe);
    free(w.scope);
    err = sub_allowed(&probe, &s);
    if (err) {
        api_masto_error(r, probe.viewer ? 403 : 401, err);
        return;
    }
    http_resp_header(r, "Cache-Control", "no-store");
    http_resp_header(r, "Access-Control-Allow-Origin", "*");
    http_resp_header(r, "X-Accel-Buffering", "no"); /* a proxy must not hold events back */
    struct sconn *c = sconn_new(probe.viewer);
    c->may_statuses = probe.may_statuses;
    c->may_notifs = probe.may_notifs;
    c->subs[0] = s;
    c->nsubs = 1;
    hub->busy++;
    c->h = http_resp_stream_begin(r, 200, "text/event-stream; charset=utf-8", 0, sse_gone, c);
    if (c->h)
        http_stream_write(c->h, ":)\n", 3); /* what Mastodon's server sends first */
    else
        sconn_gone(c);
    hub->busy--;
    hub_sweep();
}

static void handle_user(struct http_req *r)
{
    sse_open(r, "user");
}
static void handle_user_notif(struct http_req *r)
{
    sse_open(r, "user:notification");
}
static void handle_direct(struct http_req *r)
{
    sse_open(r, "direct");
}

static void handle_public(struct http_req *r)
{
    bool media = api_masto_bool(api_masto_req(r), "only_media", false);
    sse_open(r, media ? "public:media" : "public");
}

static void handle_public_local(struct http_req *r)
{
    bool media = api_masto_bool(api_masto_req(r), "only_media", false);
    sse_open(r, media ? "public:local:media" : "public:local");
}

static void handle_public_remote(struct http_req *r)
{
    bool media = api_masto_bool(api_masto_req(r), "only_media", false);
    sse_open(r, media ? "public:remote:media" : "public:remote");
}

static void handle_hashtag(struct http_req *r)
{
    sse_open(r, "hashtag");
}
static void handle_hashtag_local(struct http_req *r)
{
    sse_open(r, "hashtag:local");
}

static void handle_health(struct http_req *r)
{
    http_resp_header(r, "Cache-Control", "no-store");
    http_resp_header(r, "Access-Control-Allow-Origin", "*");
    http_resp_send(r, 200, "text/plain", "OK", 2);
}

/* ---- WebSocket ---- */

static void ws_subscribe(struct sconn *c, const struct sub *s)
{
    const char *err = sub_allowed(c, s);

    if (err) {
        sconn_error(c, c->viewer ? 403 : 401, err);
        return;
    }
    for (size_t i = 0; i < c->nsubs; i++)
        if (sub_same(&c->subs[i], s))
            return; /* already: Mastodon ignores the repeat */
    if (c->nsubs == STREAM_MAX_SUBS) {
        sconn_error(c, 400, "Too many subscriptions");
        return;
    }
    c->subs[c->nsubs++] = *s;
}

static void ws_unsubscribe(struct sconn *c, const struct sub *s)
{
    for (size_t i = 0; i < c->nsubs; i++) {
        if (sub_same(&c->subs[i], s)) {
            c->subs[i] = c->subs[--c->nsubs];
            return;
        }
    }
}

static void ws_handle_message(struct sconn *c, const uint8_t *data, size_t len)
{
    struct arena *a = arena_new(1024);
    json_t *j = NULL;
    const char *why = NULL;
    struct sub s;

    if (http_json_parse(a, (const char *)data, len, 4, &j, &why) != TD_OK || !json_is_object(j)) {
        sconn_error(c, 400, "Could not parse the message as JSON");
        goto out;
    }
    const char *type = json_string_value(json_object_get(j, "type"));
    const char *err = sub_parse(json_string_value(json_object_get(j, "stream")),
                                json_string_value(json_object_get(j, "tag")), &s);
    if (type == NULL || (strcmp(type, "subscribe") != 0 && strcmp(type, "unsubscribe") != 0)) {
        sconn_error(c, 400, "Unknown message type");
        goto out;
    }
    if (err) {
        sconn_error(c, 400, err);
        goto out;
    }
    if (strcmp(type, "subscribe") == 0)
        ws_subscribe(c, &s);
    else
        ws_unsubscribe(c, &s);
out:
    json_decref(j);
    arena_free(a);
}

static void ws_on_message(void *ud, enum ws_opcode op, const uint8_t *data, size_t len)
{
    struct sconn *c = ud;

    if (c->dead)
        return;
    hub->busy++;
    if (op != WS_TEXT)
        sconn_error(c, 400, "Messages are JSON text");
    else
        ws_handle_message(c, data, len);
    hub->busy--;
    hub_sweep();
}

static void ws_on_close(void *ud, uint16_t code)
{
    (void)code;
    sconn_gone(ud); /* the server frees the ws after this */
}

static const struct ws_callbacks stream_ws_cbs = {
    .on_message = ws_on_message,
    .on_close = ws_on_close,
};

/* GET /api/v1/streaming: a WebSocket; ?stream= (and &tag=) subscribes at once. */
static void handle_websocket(struct http_req *r)
{
    struct masto_req *m = api_masto_req(r);
    struct who w;
    struct conn *conn = http_req_conn(r);

    if (hub == NULL) {
        api_masto_error(r, 503, "Streaming is not available yet");
        return;
    }
    if (m->bad) {
        api_masto_error(r, 400, m->bad);
        return;
    }
    if (conn == NULL) {
        http_resp_text(r, 400, "gone\n");
        return;
    }
    if (!who_is(r, true, &w))
        return;
    /* Mastodon's web client sends the token as the sub-protocol: a client
     * that offers sub-protocols must get one of them back (RFC 6455 §4.1
     * item 6), as Mastodon's server does with the first. */
    if (w.protocol && http_resp_header(r, "Sec-WebSocket-Protocol", w.protocol) != TD_OK) {
        free(w.scope);
        api_masto_error(r, 400, "Bad Sec-WebSocket-Protocol");
        return;
    }
    struct sconn *c = sconn_new(w.viewer);
    who_apply(&w, c);
    free(w.scope);
    /* Parsed now: the request (and its parameters) is freed by the upgrade. */
    const char *stream = api_masto_str(m, "stream");
    bool subscribe = stream != NULL && *stream != '\0';
    struct sub s;
    const char *err = subscribe ? sub_parse(stream, api_masto_str(m, "tag"), &s) : NULL;
    hub->busy++;
    c->conn = conn;
    struct ws *ws = http_ws_upgrade(r, &stream_ws_cbs, c, STREAM_MAX_MESSAGE);
    if (ws == NULL)
        sconn_gone(c); /* answered 400/426; no on_close will come */
    else if (!c->dead)
        c->w = ws; /* (if on_close already ran, the server frees ws) */
    if (c->w && subscribe) {
        if (err)
            sconn_error(c, 400, err);
        else
            ws_subscribe(c, &s);
    }
    hub->busy--;
    hub_sweep();
}

void api_masto_stream_routes(struct http_router *rt)
{
    http_router_add(rt, "GET", "/api/v1/streaming", handle_websocket);
    http_router_add(rt, "GET", "/api/v1/streaming/", handle_websocket);
    http_router_add(rt, "GET", "/api/v1/streaming/health", handle_health);
    http_router_add(rt, "GET", "/api/v1/streaming/user", handle_user);
    http_router_add(rt, "GET", "/api/v1/streaming/user/notification", handle_user_notif);
    http_router_add(rt, "GET", "/api/v1/streaming/public", handle_public);
    http_router_add(rt, "GET", "/api/v1/streaming/public/local", handle_public_local);
    http_router_add(rt, "GET", "/api/v1/streaming/public/remote", handle_public_remote);
    http_router_add(rt, "GET", "/api/v1/streaming/hashtag", handle_hashtag);
    http_router_add(rt, "GET", "/api/v1/streaming/hashtag/local", handle_hashtag_local);
    http_router_add(rt, "GET", "/api/v1/streaming/direct", handle_direct);
}
