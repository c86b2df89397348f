/* SPDX-License-Identifier: MIT */
/* The microblog's web pages: the home timeline with a compose form, the
 * local timeline, profiles (/@name) with their posts, followers and
 * follows, threads (/@name/id), notifications, search and hashtag pages,
 * plus the small POST forms behind every button (post, like, boost, delete,
 * follow, follow requests). Every page works without JavaScript;
 * static/mb.js adds live updates from the streaming API and fetch() for the
 * buttons, for which /web/statuses/:id and /web/notifications/:id give one
 * server-rendered card.
 *
 * The data comes from the service (social/mb.h), whose lists hold only what
 * the viewer may see, turned into the Mastodon API's entities
 * (api_masto_status() and friends) and then into the view the templates
 * read. The templates escape every value; the only one output raw is a
 * post's "content", HTML made by the server's own renderer (mb_text).
 *
 * Forms carry the CSRF token and answer 303 to their `back` field when it
 * is a local path. Images attached from the compose form are decoded off
 * the loop (mb_media_process_async()) before the post is made. */
#include "api/api_masto.h"
#include "auth/auth_account.h"
#include "core/arena.h"
#include "core/err.h"
#include "core/log.h"
#include "http/http_form.h"
#include "http/http_multipart.h"
#include "social/mb.h"
#include "social/mb_media.h"
#include "social/mb_text.h"
#include "store/store_mb.h"
#include "web/web.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#define PAGE_SIZE 20
#define SEARCH_LIMIT 20
#define FORM_MAX_PARTS 16

static struct web_app *app_of(struct http_req *r)
{
    return r->app;
}

static int64_t viewer_of(struct http_req *r)
{
    struct web_ctx *ctx = web_ctx(r);
    return ctx && ctx->logged_in ? ctx->account.id : 0;
}

static void masto_free(void *p)
{
    struct masto_req *m = p;
    json_decref(m->params);
    json_decref(m->accounts);
}

/* The entity builders' request state for a web request. r->user stays the
 * web context: api_masto_req() would replace it. */
static struct masto_req *mreq(struct http_req *r)
{
    struct web_app *app = app_of(r);
    struct masto_req *m = arena_calloc(r->arena, sizeof(*m));

    m->r = r;
    m->app = app;
    m->mb = app->mb;
    m->st = app->store;
    m->base = app->base_url;
    m->viewer = viewer_of(r);
    m->params = json_object();
    m->accounts = json_object();
    arena_defer(r->arena, masto_free, m);
    return m;
}

/* Only local paths may be redirect targets (no open redirect). */
static const char *safe_back(const char *back, const char *def)
{
    if (back && back[0] == '/' && back[1] != '/' && back[1] != '\\' && !strpbrk(back, "\r\n"))
        return back;
    return def;
}

static const char *here(struct http_req *r)
{
    return r->query[0] ? arena_printf(r->arena, "%s?%s", r->path, r->query) : r->path;
}

static void require_login(struct http_req *r)
{
    web_redirect(r, arena_printf(r->arena, "/login?next=%s", r->path));
}

/* A fetch() from static/mb.js wants a fragment instead of a redirect. */
static bool is_fetch(struct http_req *r)
{
    const char *x = http_req_header(r, "X-Requested-With");
    return x && strcmp(x, "fetch") == 0;
}

/* ---- views: entities plus what the templates need ---- */

static const char *const months[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                     "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};

/* "27 Nov 2026, 05:40 UTC" from the entity's "2026-11-27T05:40:12.123Z". */
static json_t *human_date(const char *iso)
{
    int y, mo, d, h, mi;

    if (iso == NULL || sscanf(iso, "%4d-%2d-%2dT%2d:%2d", &y, &mo, &d, &h, &mi) != 5 || mo < 1 ||
        mo > 12)
        return json_string("");
    return json_sprintf("%d %s %d, %02d:%02d UTC", d, months[mo - 1], y, h, mi);
}

static const char *vis_label(const char *v)
{
    if (v && strcmp(v, "unlisted") == 0)
        return "Unlisted";
    if (v && strcmp(v, "private") == 0)
        return "Followers only";
    if (v && strcmp(v, "direct") == 0)
        return "Mentioned people only";
    return "Public";
}

static const char *str_of(json_t *o, const char *k)
{
    const char *s = json_string_value(json_object_get(o, k));
    return s ? s : "";
}

static json_t *name_of(json_t *acct)
{
    const char *dn = str_of(acct, "display_name");
    return json_string(dn[0] ? dn : str_of(acct, "username"));
}

/* The view of one Status entity (not taken): a reblog shows its original
 * with a "boosted by" line; card_id stays the listed id, for deletes. */
static json_t *status_view(struct masto_req *m, json_t *e)
{
    json_t *o = json_object_get(e, "reblog");
    json_t *v, *acct;
    const char *vis;

    if (!json_is_object(o))
        o = e;
    v = json_copy(o);
    acct = json_object_get(o, "account");
    json_object_set_new(v, "card_id", json_incref(json_object_get(e, "id")));
    if (o != e) {
        json_t *by = json_object_get(e, "account");
        json_object_set_new(v, "boosted_by",
                            json_pack("{s:O, s:o}", "username", json_object_get(by, "username"),
                                      "name", name_of(by)));
    } else {
        json_object_set_new(v, "boosted_by", json_false());
    }
    json_object_set_new(v, "author_name", name_of(acct));
    json_object_set_new(v, "path", json_sprintf("/@%s/%s", str_of(acct, "username"),
                                                str_of(o, "id")));
    json_object_set_new(v, "time_human", human_date(str_of(o, "created_at")));
    vis = str_of(o, "visibility");
    json_object_set_new(v, "vis_label", json_string(vis_label(vis)));
    json_object_set_new(v, "has_spoiler", json_boolean(str_of(o, "spoiler_text")[0] != '\0'));
    json_object_set_new(v, "has_media",
                        json_boolean(json_array_size(json_object_get(o, "media_attachments"))));
    json_object_set_new(v, "logged", json_boolean(m->viewer != 0));
    int64_t author = 0;
    api_masto_id(str_of(acct, "id"), &author);
    json_object_set_new(v, "mine", json_boolean(m->viewer && author == m->viewer));
    json_object_set_new(v, "can_boost",
                        json_boolean(m->viewer && (strcmp(vis, "public") == 0 ||
                                                   strcmp(vis, "unlisted") == 0)));
    json_object_set_new(v, "favourited", json_boolean(json_is_true(json_object_get(o,
                                                                                   "favourited"))));
    json_object_set_new(v, "reblogged", json_boolean(json_is_true(json_object_get(o,
                                                                                  "reblogged"))));
    return v;
}

/* Views of ids, which come from the service's lists (visible to m->viewer). */
static json_t *statuses_view(struct masto_req *m, const int64_t *ids, size_t n)
{
    json_t *list = api_masto_statuses(m, ids, n);
    json_t *out = json_array();
    size_t i;
    json_t *e;

    json_array_foreach(list, i, e)
        json_array_append_new(out, status_view(m, e));
    json_decref(list);
    return out;
}

static json_t *list_view(struct masto_req *m, const struct store_mb_list *l)
{
    int64_t ids[STORE_MB_ACCOUNTS_MAX];

    for (size_t i = 0; i < l->n; i++)
        ids[i] = l->v[i].id;
    return statuses_view(m, ids, l->n);
}

static const char *notif_label(const char *type)
{
    static const struct {
        const char *type, *label;
    } t[] = {
        {"mention", "mentioned you"},       {"status", "posted"},
        {"reblog", "boosted your post"},    {"follow", "followed you"},
        {"follow_request", "asks to follow you"}, {"favourite", "liked your post"},
        {"update", "edited a post"},
    };
    for (size_t i = 0; i < TD_ARRAY_LEN(t); i++)
        if (strcmp(type, t[i].type) == 0)
            return t[i].label;
    return type;
}

/* The view of a notification (NULL when its account or post is gone). */
static json_t *notif_view(struct masto_req *m, const struct store_mb_notif *n)
{
    json_t *e = api_masto_notification(m, n);
    json_t *v, *s;
    const char *type;

    if (e == NULL)
        return NULL;
    type = str_of(e, "type");
    v = json_pack("{s:O, s:s, s:s, s:O, s:o, s:o, s:b, s:b}", "id", json_object_get(e, "id"),
                  "type", type, "label", notif_label(type), "account",
                  json_object_get(e, "account"), "author_name",
                  name_of(json_object_get(e, "account")), "time_human",
                  human_date(str_of(e, "created_at")), "is_follow_request",
                  strcmp(type, "follow_request") == 0, "unread", !n->read);
    json_object_set(v, "created_at", json_object_get(e, "created_at"));
    s = json_object_get(e, "status");
    json_object_set_new(v, "status", json_is_object(s) ? status_view(m, s) : json_false());
    json_decref(e);
    return v;
}

/* ---- paging ---- */

/* ?max_id= into pg; answers 400 and returns false when malformed. */
static bool page_of(struct http_req *r, struct store_mb_page *pg)
{
    const char *s = web_query_get(r, "max_id");

    memset(pg, 0, sizeof(*pg));
    pg->limit = PAGE_SIZE;
    if (s == NULL || *s == '\0')
        return true;
    if (api_masto_id(s, &pg->max_id))
        return true;
    web_error(r, 400, "That page address is malformed.");
    return false;
}

/* The "Older posts" link: this page's path with max_id = the oldest cursor,
 * when the page was full (a short page is the last). */
static json_t *older_link(struct http_req *r, size_t n, int64_t oldest, const char *extra)
{
    if (n < PAGE_SIZE || oldest == 0)
        return json_null();
    return json_sprintf("%s?%smax_id=%lld", r->path, extra ? extra : "", (long long)oldest);
}

static json_t *page_data(struct http_req *r, const char *title)
{
    struct web_app *app = app_of(r);
    return json_pack("{s:s, s:s, s:I}", "title", title, "back", here(r), "max_chars",
                     (json_int_t)app->mb->max_chars);
}

/* ---- timelines ---- */

typedef int timeline_fn(struct http_req *r, const struct store_mb_page *pg,
                        struct store_mb_list *l);

static void render_timeline(struct http_req *r, timeline_fn *fn, json_t *d, const char *extra)
{
    struct store_mb_page pg;
    struct store_mb_list *l = arena_alloc(r->arena, sizeof(*l));
    struct masto_req *m = mreq(r);

    if (!page_of(r, &pg)) {
        json_decref(d);
        return;
    }
    if (fn(r, &pg, l) != TD_OK) {
        json_decref(d);
        web_error(r, 500, "The timeline could not be read. Please try again.");
        return;
    }
    json_object_set_new(d, "statuses", list_view(m, l));
    json_object_set_new(d, "older",
                        older_link(r, l->n, l->n ? l->v[l->n - 1].cursor : 0, extra));
    json_object_set_new(d, "empty", json_boolean(l->n == 0));
    web_render(r, 200, "home", d);
}

static int tl_home(struct http_req *r, const struct store_mb_page *pg, struct store_mb_list *l)
{
    return mb_home(app_of(r)->mb, viewer_of(r), pg, l);
}

static int tl_public(struct http_req *r, const struct store_mb_page *pg,
                     struct store_mb_list *l)
{
    return mb_public(app_of(r)->mb, viewer_of(r), false, pg, l);
}

static json_t *compose_data(struct http_req *r, const char *text, int vis)
{
    return json_pack("{s:s, s:I, s:b, s:b, s:b, s:b}", "text", text ? text : "", "max_chars",
                     (json_int_t)app_of(r)->mb->max_chars, "vis_public", vis == STORE_MB_PUBLIC,
                     "vis_unlisted", vis == STORE_MB_UNLISTED, "vis_private",
                     vis == STORE_MB_PRIVATE, "vis_direct", vis == STORE_MB_DIRECT);
}

void web_mb_home(struct http_req *r)
{
    json_t *d;

    if (!viewer_of(r)) {
        d = page_data(r, "Tandem");
        json_object_set_new(d, "heading", json_string("Latest posts on this site"));
        json_object_set_new(d, "invite", json_true());
        render_timeline(r, tl_public, d, NULL);
        return;
    }
    d = page_data(r, "Home");
    json_object_set_new(d, "heading", json_string("Home"));
    json_object_set_new(d, "compose", compose_data(r, "", STORE_MB_PUBLIC));
    json_object_set_new(d, "live", json_string("home"));
    render_timeline(r, tl_home, d, NULL);
}

static void handle_public(struct http_req *r)
{
    json_t *d = page_data(r, "Local timeline");

    json_object_set_new(d, "heading", json_string("Local timeline"));
    json_object_set_new(d, "invite", json_boolean(!viewer_of(r)));
    render_timeline(r, tl_public, d, NULL);
}

/* A hashtag as the service stores it: "#name" parsed by the post parser
 * must give exactly one tag spanning the whole text. */
static char *tag_normalize(struct http_req *r, const char *in)
{
    struct mb_text t;
    char *src = arena_printf(r->arena, "#%s", in[0] == '#' ? in + 1 : in);
    char *out = NULL;

    if (strlen(src) > STORE_MB_TAG_MAX)
        return NULL;
    if (mb_text_parse(src, strlen(src), MB_TEXT_MAX_BYTES, &t) == TD_OK && t.n_ents == 1 &&
        t.ents[0].kind == MB_ENT_TAG && t.ents[0].off == 0 && t.ents[0].len == t.len)
        out = arena_strdup(r->arena, t.ents[0].value);
    mb_text_free(&t);
    return out;
}

static int tl_tag(struct http_req *r, const struct store_mb_page *pg, struct store_mb_list *l)
{
    const char *tag = tag_normalize(r, http_req_param(r, "tag"));

    if (tag == NULL) {
        l->n = 0;
        return TD_OK;
    }
    return mb_tag(app_of(r)->mb, viewer_of(r), tag, pg, l);
}

static void handle_tag(struct http_req *r)
{
    const char *tag = http_req_param(r, "tag");
    const char *norm = tag_normalize(r, tag);
    json_t *d;
    struct buf u;

    if (norm == NULL) {
        web_error(r, 404, "That is not a hashtag.");
        return;
    }
    d = page_data(r, arena_printf(r->arena, "#%s", norm));
    json_object_set_new(d, "heading", json_sprintf("#%s", norm));
    buf_init(&u, 0);
    buf_appends(&u, "/tags/");
    http_url_encode(&u, norm, strlen(norm));
    buf_appends(&u, "/feed.atom");
    json_object_set_new(d, "feed", json_string(u.data));
    buf_free(&u);
    render_timeline(r, tl_tag, d, NULL);
}

/* ---- profiles ---- */

/* The enabled account called name into *a (strings owned: store_account_clear()),
 * or answers 404 and returns false. */
static bool account_by_name(struct http_req *r, const char *name, struct account *a)
{
    if (name && store_account_get_by_name(app_of(r)->store, name, a) == TD_OK) {
        if (!a->disabled)
            return true;
        store_account_clear(a);
    }
    web_error(r, 404, "There is no one by that name here.");
    return false;
}

static json_t *profile_view(struct http_req *r, struct masto_req *m, const struct account *a)
{
    struct web_app *app = app_of(r);
    json_t *e = api_masto_account(m, a->id);
    json_t *p;
    char joined[32];
    time_t t = (time_t)(a->created_at / 1000);
    struct tm tm;
    bool locked = json_is_true(json_object_get(e, "locked"));

    gmtime_r(&t, &tm);
    strftime(joined, sizeof(joined), "%B %Y", &tm);
    p = json_pack("{s:s, s:s, s:s, s:b, s:s, s:b, s:s}", "username", a->username,
                  "display_name", a->display_name[0] ? a->display_name : a->username, "bio",
                  a->bio ? a->bio : "", "has_avatar", a->has_avatar, "joined", joined, "locked",
                  locked, "id", str_of(e, "id"));
    json_object_set_new(p, "address", json_sprintf("%s@%s", a->username, app->conf->domain));
    json_object_set(p, "followers_count", json_object_get(e, "followers_count"));
    json_object_set(p, "following_count", json_object_get(e, "following_count"));
    json_object_set(p, "statuses_count", json_object_get(e, "statuses_count"));
    json_object_set_new(p, "feed", json_sprintf("/@%s/feed.atom", a->username));
    json_decref(e);
    int64_t me = viewer_of(r);
    if (me && me != a->id) {
        struct store_mb_relationship rel;
        if (store_mb_relationships(app->store, me, &a->id, 1, &rel) == TD_OK)
            json_object_set_new(p, "rel",
                                json_pack("{s:b, s:b, s:b, s:b, s:b, s:b}", "following",
                                          rel.following, "requested", rel.requested,
                                          "followed_by", rel.followed_by, "blocking",
                                          rel.blocking, "blocked_by", rel.blocked_by,
                                          "muting", rel.muting));
    }
    json_object_set_new(p, "is_me", json_boolean(me == a->id));
    return p;
}

static void handle_profile(struct http_req *r)
{
    struct web_app *app = app_of(r);
    struct masto_req *m = mreq(r);
    struct account a;
    struct store_mb_page pg;
    struct store_mb_list *l = arena_alloc(r->arena, sizeof(*l));
    json_t *d;

    if (!page_of(r, &pg) || !account_by_name(r, http_req_param(r, "name"), &a))
        return;
    d = page_data(r, arena_printf(r->arena, "%s (@%s)",
                                  a.display_name[0] ? a.display_name : a.username, a.username));
    json_object_set_new(d, "profile", profile_view(r, m, &a));
    if (mb_account(app->mb, viewer_of(r), a.id, 0, &pg, l) != TD_OK) {
        store_account_clear(&a);
        json_decref(d);
        web_error(r, 500, "The posts could not be read. Please try again.");
        return;
    }
    store_account_clear(&a);
    json_object_set_new(d, "statuses", list_view(m, l));
    json_object_set_new(d, "older", older_link(r, l->n, l->n ? l->v[l->n - 1].cursor : 0, NULL));
    json_object_set_new(d, "empty", json_boolean(l->n == 0));
    web_render(r, 200, "profile", d);
}

typedef int accounts_fn(struct store *st, int64_t account_id, const struct store_mb_page *pg,
                        struct store_mb_list *out);

static void render_accounts(struct http_req *r, accounts_fn *fn, const char *what)
{
    struct masto_req *m = mreq(r);
    struct account a;
    struct store_mb_page pg;
    struct store_mb_list *l = arena_alloc(r->arena, sizeof(*l));
    json_t *d;

    if (!page_of(r, &pg) || !account_by_name(r, http_req_param(r, "name"), &a))
        return;
    d = page_data(r, arena_printf(r->arena, "%s of @%s", what, a.username));
    json_object_set_new(d, "profile", profile_view(r, m, &a));
    json_object_set_new(d, "heading", json_sprintf("%s of @%s", what, a.username));
    int rc = fn(app_of(r)->store, a.id, &pg, l);
    store_account_clear(&a);
    if (rc != TD_OK) {
        json_decref(d);
        web_error(r, 500, "The list could not be read. Please try again.");
        return;
    }
    json_t *list = api_masto_account_list(m, l);
    size_t i;
    json_t *e;
    json_array_foreach(list, i, e)
        json_object_set_new(e, "author_name", name_of(e));
    json_object_set_new(d, "accounts", list);
    json_object_set_new(d, "older", older_link(r, l->n, l->n ? l->v[l->n - 1].cursor : 0, NULL));
    json_object_set_new(d, "empty", json_boolean(l->n == 0));
    web_render(r, 200, "accounts", d);
}

static void handle_followers(struct http_req *r)
{
    render_accounts(r, store_mb_followers, "Followers");
}

static void handle_following(struct http_req *r)
{
    render_accounts(r, store_mb_following, "Follows");
}

/* ---- threads ---- */

static bool path_id(struct http_req *r, const char *name, int64_t *id)
{
    if (api_masto_id(http_req_param(r, name), id))
        return true;
    web_error(r, 404, "There is nothing at this address.");
    return false;
}

/* Read post id as the viewer sees it into *view (a reblog gives its
 * original); 404 and false when it is not there or not visible. */
static bool post_view(struct http_req *r, struct masto_req *m, int64_t id, json_t **view)
{
    json_t *e = api_masto_status_id(m, id);

    if (e == NULL) {
        web_error(r, 404, "This post does not exist, or you may not see it.");
        return false;
    }
    *view = status_view(m, e);
    json_decref(e);
    return true;
}

static void handle_thread(struct http_req *r)
{
    struct masto_req *m = mreq(r);
    int64_t id, *anc = NULL, *desc = NULL;
    size_t nanc = 0, ndesc = 0;
    json_t *v, *d, *acct;
    const char *name = http_req_param(r, "name");

    if (!path_id(r, "id", &id) || !post_view(r, m, id, &v))
        return;
    acct = json_object_get(v, "account");
    if (strcmp(str_of(v, "id"), http_req_param(r, "id")) != 0 ||
        strcasecmp(str_of(acct, "username"), name) != 0) {
        /* a reblog's id or another author's name: the post's own address */
        http_resp_redirect(r, 301, str_of(v, "path"));
        json_decref(v);
        return;
    }
    if (mb_context(app_of(r)->mb, m->viewer, id, &anc, &nanc, &desc, &ndesc) != TD_OK) {
        json_decref(v);
        web_error(r, 500, "The thread could not be read. Please try again.");
        return;
    }
    d = page_data(r, arena_printf(r->arena, "%s: post", json_string_value(json_object_get(
                                                             v, "author_name"))));
    json_object_set_new(d, "ancestors", statuses_view(m, anc, nanc));
    json_object_set_new(d, "descendants", statuses_view(m, desc, ndesc));
    free(anc);
    free(desc);
    if (m->viewer) {
        const char *mention = "";
        if (!json_is_true(json_object_get(v, "mine")))
            mention = arena_printf(r->arena, "@%s ", str_of(acct, "username"));
        json_t *c = compose_data(r, mention, STORE_MB_PUBLIC);
        json_object_set(c, "reply_to", json_object_get(v, "id"));
        json_object_set_new(c, "reply_name", json_string(str_of(acct, "username")));
        json_object_set_new(c, "back", json_string(here(r)));
        json_object_set_new(d, "compose", c);
    }
    json_object_set_new(d, "status", v);
    web_render(r, 200, "thread", d);
}

/* GET /@:name/:id/edit: the author's form to change a post's text and
 * content warning (Mastodon's edit; visibility and media stay). */
static void handle_edit_form(struct http_req *r)
{
    struct web_app *app = app_of(r);
    struct store_mb_post p;
    int64_t id, me = viewer_of(r);
    json_t *d;
    int rc;

    if (!path_id(r, "id", &id))
        return;
    rc = me ? mb_get(app->mb, me, id, &p) : TD_ENOTFOUND;
    if (rc == TD_OK && (p.account_id != me || p.reblog_of_id != 0)) {
        store_mb_post_clear(&p);
        rc = TD_ENOTFOUND;
    }
    if (rc != TD_OK) {
        web_error(r, 404, "There is no post of yours to edit here.");
        return;
    }
    d = page_data(r, "Edit your post");
    json_object_set_new(d, "id", json_sprintf("%lld", (long long)id));
    json_object_set_new(d, "path", json_sprintf("/@%s/%lld", web_ctx(r)->account.username,
                                                (long long)id));
    json_object_set_new(d, "source", json_string(p.source));
    json_object_set_new(d, "spoiler", json_string(p.spoiler_text));
    store_mb_post_clear(&p);
    web_render(r, 200, "edit", d);
}

/* POST /statuses/:id/edit: the new text and content warning; the rest of
 * the post (visibility, language, sensitive, media) as it was. */
static int edit_post(struct http_req *r, struct mb *mb, int64_t me, int64_t id,
                     struct mb_error *err)
{
    const char *text = web_form_get(r, "status");
    const char *spoiler = web_form_get(r, "spoiler_text");
    struct mb_post_req req = {0};
    struct store_mb_post p;
    int rc = mb_get(mb, me, id, &p);

    if (rc != TD_OK)
        return rc;
    if (p.account_id != me) {
        store_mb_post_clear(&p);
        return TD_EDENIED;
    }
    req.text = text;
    req.text_len = strlen(text);
    req.visibility = p.visibility;
    req.spoiler_text = spoiler[0] ? spoiler : NULL;
    req.sensitive = p.sensitive || spoiler[0];
    req.media = p.media;
    req.nmedia = p.nmedia;
    req.language = p.language;
    rc = mb_post_edit(mb, me, id, &req, err);
    store_mb_post_clear(&p);
    return rc;
}

/* GET /statuses/:id: the post's address (replies link here). */
static void handle_status_redirect(struct http_req *r)
{
    struct masto_req *m = mreq(r);
    int64_t id;
    json_t *v;

    if (!path_id(r, "id", &id) || !post_view(r, m, id, &v))
        return;
    http_resp_redirect(r, 301, str_of(v, "path"));
    json_decref(v);
}

/* ---- fragments for static/mb.js ---- */

static void render_status_fragment(struct http_req *r, struct masto_req *m, int64_t id)
{
    json_t *v;

    if (!post_view(r, m, id, &v))
        return;
    web_render(r, 200, "status_fragment",
               json_pack("{s:o, s:s}", "status", v, "back", safe_back(web_query_get(r, "back"),
                                                                      "/")));
}

static void handle_status_fragment(struct http_req *r)
{
    int64_t id;

    if (path_id(r, "id", &id))
        render_status_fragment(r, mreq(r), id);
}

static void handle_notif_fragment(struct http_req *r)
{
    struct masto_req *m = mreq(r);
    struct store_mb_notif n;
    int64_t id;
    json_t *v = NULL;

    if (!m->viewer) {
        web_error(r, 401, "Log in to see your notifications.");
        return;
    }
    if (!path_id(r, "id", &id))
        return;
    /* mb_notifications() leaves out what points at a post the viewer may no
     * longer see; one notification is checked the same way. */
    if (store_mb_notif_get(m->st, m->viewer, id, &n) == TD_OK)
        v = notif_view(m, &n); /* NULL too when its post is not visible */
    if (v == NULL) {
        web_error(r, 404, "There is no such notification.");
        return;
    }
    web_render(r, 200, "notification_fragment", json_pack("{s:o, s:s}", "n", v, "back",
                                                          "/notifications"));
}

/* ---- notifications ---- */

static void handle_notifications(struct http_req *r)
{
    struct masto_req *m = mreq(r);
    struct store_mb_page pg;
    struct mb_notif_list *l = arena_alloc(r->arena, sizeof(*l));
    json_t *d, *list;

    if (!m->viewer) {
        require_login(r);
        return;
    }
    if (!page_of(r, &pg))
        return;
    if (mb_notifications(m->mb, m->viewer, 0, 0, &pg, l) != TD_OK) {
        web_error(r, 500, "The notifications could not be read. Please try again.");
        return;
    }
    list = json_array();
    for (size_t i = 0; i < l->n; i++) {
        json_t *v = notif_view(m, &l->v[i]);
        if (v)
            json_array_append_new(list, v);
    }
    /* Seen now: up to the newest shown (newer ones, if any arrive meanwhile,
     * stay unread). */
    if (l->n)
        mb_notif_mark_read(m->mb, m->viewer, l->v[0].id);
    d = page_data(r, "Notifications");
    json_object_set_new(d, "notifications", list);
    json_object_set_new(d, "older", older_link(r, l->n, l->n ? l->v[l->n - 1].id : 0, NULL));
    json_object_set_new(d, "empty", json_boolean(l->n == 0));
    json_object_set_new(d, "live", json_string("notifications"));
    web_render(r, 200, "notifications", d);
}

/* ---- search ---- */

static int tag_found(void *ud, int64_t id, const char *name)
{
    struct buf u;
    (void)id;

    buf_init(&u, 0);
    buf_appends(&u, "/tags/");
    http_url_encode(&u, name, strlen(name));
    json_array_append_new(ud, json_pack("{s:s, s:s}", "name", name, "path", u.data));
    buf_free(&u);
    return 0;
}

static void handle_search(struct http_req *r)
{
    struct masto_req *m = mreq(r);
    const char *q = web_query_get(r, "q");
    json_t *d = page_data(r, "Search");
    json_t *accounts = json_array(), *tags = json_array();
    int64_t ids[SEARCH_LIMIT];
    size_t n = 0;

    while (q && (*q == ' ' || *q == '\t'))
        q++;
    json_object_set_new(d, "q", json_string(q ? q : ""));
    if (q && *q) {
        bool only_tags = q[0] == '#', only_accounts = q[0] == '@';
        const char *term = only_tags || only_accounts ? q + 1 : q;
        if (*term && !only_tags &&
            store_mb_account_search(m->st, term, SEARCH_LIMIT, ids, &n) == TD_OK) {
            for (size_t i = 0; i < n; i++) {
                json_t *a = api_masto_account(m, ids[i]);
                if (a == NULL)
                    continue;
                json_object_set_new(a, "author_name", name_of(a));
                json_array_append_new(accounts, a);
            }
        }
        const char *tag = *term && !only_accounts ? tag_normalize(r, term) : NULL;
        if (tag)
            store_mb_tag_search(m->st, tag, SEARCH_LIMIT, tag_found, tags);
        json_object_set_new(d, "searched", json_true());
    }
    json_object_set_new(d, "nothing",
                        json_boolean(json_array_size(accounts) + json_array_size(tags) == 0));
    json_object_set_new(d, "accounts", accounts);
    json_object_set_new(d, "tags", tags);
    web_render(r, 200, "search", d);
}

/* ---- forms ---- */

/* A POST's fields into the web context's form (urlencoded or, for the
 * compose form's image, multipart), the CSRF token checked and the person
 * logged in. *file (may be NULL) gets the "media" file part, if any. On
 * failure the answer is sent and false returned. */
static bool post_start(struct http_req *r, const struct http_part **file)
{
    struct web_ctx *ctx = web_ctx(r);
    const char *ct = http_req_header(r, "Content-Type");

    if (file)
        *file = NULL;
    if (file && ct && http_media_type_is(ct, "multipart/form-data")) {
        struct http_multipart_limits lim = {.max_parts = FORM_MAX_PARTS,
                                            .max_part_header_bytes = 4096};
        struct http_part *parts = NULL;
        size_t n = 0;
        if (http_multipart_parse(r->arena, ct, r->body, r->body_len, &lim, &parts, &n) != TD_OK) {
            web_error(r, 400, "The form could not be read (malformed multipart body).");
            return false;
        }
        ctx->form.items = arena_calloc(r->arena, (n ? n : 1) * sizeof(struct http_kv));
        ctx->form.len = 0;
        for (size_t i = 0; i < n; i++) {
            if (parts[i].filename) {
                if (strcmp(parts[i].name, "media") == 0 && parts[i].len > 0)
                    *file = &parts[i];
                continue;
            }
            struct http_kv *kv = &ctx->form.items[ctx->form.len++];
            kv->name = parts[i].name;
            kv->value = arena_strndup(r->arena, parts[i].data, parts[i].len);
            kv->value_len = strlen(kv->value);
        }
    } else if (!web_form(r)) {
        return false;
    }
    if (!web_csrf_ok(r))
        return false;
    if (!viewer_of(r)) {
        require_login(r);
        return false;
    }
    return true;
}

static int visibility_of(const char *s)
{
    static const char *const names[] = {"public", "unlisted", "private", "direct"};

    for (int i = 0; i < 4; i++)
        if (strcmp(s, names[i]) == 0)
            return i;
    return s[0] ? -1 : STORE_MB_PUBLIC;
}

struct compose_job {
    struct http_req *r;
    struct mb_post_req req;
    int64_t media[1];
    const char *description;
    const char *back;
};

/* The compose form again, with what was typed and why it was refused. */
static void compose_failed(struct compose_job *j, int status, const char *why)
{
    struct http_req *r = j->r;
    json_t *c = compose_data(r, j->req.text, j->req.visibility < 0 ? 0 : j->req.visibility);
    json_t *d = page_data(r, "New post");

    json_object_set_new(c, "spoiler", json_string(j->req.spoiler_text ? j->req.spoiler_text
                                                                       : ""));
    if (j->req.in_reply_to_id)
        json_object_set_new(c, "reply_to", json_sprintf("%lld", (long long)j->req.in_reply_to_id));
    json_object_set_new(c, "back", json_string(j->back));
    json_object_set_new(d, "compose", c);
    json_object_set_new(d, "error", json_string(why));
    web_render(r, status, "compose", d);
}

static void compose_post(struct compose_job *j)
{
    struct http_req *r = j->r;
    struct mb_error err = {0};
    int64_t id = 0;
    int rc = mb_post_create(app_of(r)->mb, viewer_of(r), &j->req, &id, &err);

    if (rc != TD_OK) {
        compose_failed(j, rc == TD_ENOTFOUND ? 404 : 422,
                       err.msg[0] ? err.msg : "The post could not be made.");
        return;
    }
    log_info("web.posted", "req=%s account=%lld post=%lld", r->id_str,
             (long long)viewer_of(r), (long long)id);
    web_redirect(r, j->back);
}

static void compose_media_done(int rc, struct mb_media_result *res, const char *why, void *ud)
{
    struct compose_job *j = ud;
    struct http_req *r = j->r;
    struct store_mb_media md = {0};

    if (http_req_is_orphan(r)) { /* nobody to tell: store nothing */
        if (res)
            mb_media_result_free(res);
        free(res);
        http_resp_text(r, 499, "gone\n");
        return;
    }
    if (rc != TD_OK) {
        compose_failed(j, 422, arena_printf(r->arena, "The image: %s",
                                            why ? why : "could not be processed"));
        return;
    }
    rc = mb_media_save(app_of(r)->mb, viewer_of(r), res, j->description, NULL, &md);
    mb_media_result_free(res);
    free(res);
    if (rc != TD_OK) {
        compose_failed(j, 422, "The image or its description is too large.");
        return;
    }
    j->media[0] = md.id;
    j->req.media = j->media;
    j->req.nmedia = 1;
    compose_post(j);
}

/* POST /statuses: the compose form (urlencoded, or multipart with an image). */
static void handle_compose(struct http_req *r)
{
    struct web_app *app = app_of(r);
    const struct http_part *file = NULL;
    struct compose_job *j;
    const char *reply;

    if (!post_start(r, &file))
        return;
    j = arena_calloc(r->arena, sizeof(*j));
    j->r = r;
    j->req.text = web_form_get(r, "status");
    j->req.text_len = strlen(j->req.text);
    j->req.visibility = visibility_of(web_form_get(r, "visibility"));
    j->req.spoiler_text = web_form_get(r, "spoiler_text");
    if (j->req.spoiler_text[0] == '\0')
        j->req.spoiler_text = NULL;
    j->req.sensitive = j->req.spoiler_text != NULL;
    j->back = safe_back(web_form_get(r, "back"), "/");
    j->description = web_form_get(r, "description");
    reply = web_form_get(r, "in_reply_to_id");
    if (j->req.visibility < 0) {
        compose_failed(j, 422, "Choose who may see the post.");
        return;
    }
    if (reply[0] && !api_masto_id(reply, &j->req.in_reply_to_id)) {
        compose_failed(j, 404, "The post you answer does not exist.");
        return;
    }
    if (file == NULL) {
        compose_post(j);
        return;
    }
    struct mb_media_limits lim;
    mb_media_limits_default(&lim);
    lim.max_bytes = (size_t)app->conf->mb_media_max_bytes;
    if (file->len > lim.max_bytes) {
        compose_failed(j, 413, "The image is too large.");
        return;
    }
    if (mb_media_process_async(app->loop, file->data, file->len, &lim, compose_media_done, j) !=
        TD_OK)
        compose_failed(j, 503, "The server is busy; try again later.");
}

/* After an action: a fetch() gets the post's card again, a form its page. */
static void action_done(struct http_req *r, struct masto_req *m, int64_t id, int rc,
                        const struct mb_error *err, const char *def)
{
    if (rc == TD_ENOTFOUND) {
        web_error(r, 404, "This post does not exist, or you may not see it.");
        return;
    }
    if (rc != TD_OK) {
        web_error(r, rc == TD_EDENIED ? 403 : 422,
                  err && err->msg[0] ? err->msg : "That could not be done.");
        return;
    }
    if (is_fetch(r)) {
        if (id)
            render_status_fragment(r, m, id);
        else
            http_resp_send(r, 204, NULL, "", 0);
        return;
    }
    web_redirect(r, safe_back(web_form_get(r, "back"), def));
}

/* POST /statuses/:id/{favourite,unfavourite,reblog,unreblog,delete} */
static void handle_status_action(struct http_req *r)
{
    struct masto_req *m;
    struct mb_error err = {0};
    const char *act = http_req_param(r, "action");
    int64_t id, me;
    int rc;

    if (!post_start(r, NULL) || !path_id(r, "id", &id))
        return;
    m = mreq(r);
    me = m->viewer;
    if (strcmp(act, "favourite") == 0)
        rc = mb_favourite(m->mb, me, id, &err);
    else if (strcmp(act, "unfavourite") == 0)
        rc = mb_unfavourite(m->mb, me, id, &err);
    else if (strcmp(act, "reblog") == 0)
        rc = mb_reblog(m->mb, me, id, STORE_MB_PUBLIC, NULL, &err);
    else if (strcmp(act, "unreblog") == 0)
        rc = mb_unreblog(m->mb, me, id, &err);
    else if (strcmp(act, "delete") == 0)
        rc = mb_post_delete(m->mb, me, id, &err);
    else if (strcmp(act, "edit") == 0)
        rc = edit_post(r, m->mb, me, id, &err);
    else {
        web_error(r, 404, "There is nothing at this address.");
        return;
    }
    if (rc == TD_EEXIST) /* already done: what the person wanted */
        rc = TD_OK;
    if (rc == TD_OK && strcmp(act, "delete") == 0) {
        /* The post's own page is gone: back to the author's profile then. */
        const char *back = web_form_get(r, "back");
        const char *own = arena_printf(r->arena, "/%lld", (long long)id);
        size_t bl = strlen(back), ol = strlen(own);
        if (!is_fetch(r) && bl >= ol && strcmp(back + bl - ol, own) == 0) {
            web_redirect(r, arena_printf(r->arena, "/@%s", web_ctx(r)->account.username));
            return;
        }
    }
    action_done(r, m, strcmp(act, "delete") == 0 ? 0 : id, rc, &err,
                arena_printf(r->arena, "/statuses/%lld", (long long)id));
}

/* POST /@:name/{follow,unfollow,block,unblock,mute,unmute}: the profile
 * page's buttons, the same service calls as the Mastodon API's account
 * actions. A mute from the web mutes notifications too and never expires.
 * One route each (the action is the path's last segment), so that a POST to
 * another page under /@name, such as the feed, is still 405. */
static void handle_relation(struct http_req *r)
{
    struct web_app *app = app_of(r);
    const char *act = strrchr(r->path, '/') + 1; /* the route has three segments */
    struct mb_error err = {0};
    int64_t me = viewer_of(r);
    struct account a;
    int rc;

    if (!post_start(r, NULL) || !account_by_name(r, http_req_param(r, "name"), &a))
        return;
    if (strcmp(act, "follow") == 0)
        rc = mb_follow(app->mb, me, a.id, true, NULL, &err);
    else if (strcmp(act, "unfollow") == 0)
        rc = mb_unfollow(app->mb, me, a.id, &err);
    else if (strcmp(act, "block") == 0)
        rc = mb_block(app->mb, me, a.id, &err);
    else if (strcmp(act, "unblock") == 0)
        rc = mb_unblock(app->mb, me, a.id, &err);
    else if (strcmp(act, "mute") == 0)
        rc = mb_mute(app->mb, me, a.id, true, 0, &err);
    else if (strcmp(act, "unmute") == 0)
        rc = mb_unmute(app->mb, me, a.id, &err);
    else
        rc = TD_ENOTFOUND; /* not routed here */
    const char *def = arena_printf(r->arena, "/@%s", a.username);
    store_account_clear(&a);
    if (rc != TD_OK) {
        web_error(r, rc == TD_EDENIED ? 403 : 422,
                  err.msg[0] ? err.msg : "That could not be done.");
        return;
    }
    web_redirect(r, safe_back(web_form_get(r, "back"), def));
}

/* POST /follow_requests/:id/{authorize,reject} (id: the requesting account) */
static void handle_follow_request(struct http_req *r)
{
    struct web_app *app = app_of(r);
    struct mb_error err = {0};
    const char *act = http_req_param(r, "action");
    int64_t id;
    int rc;

    if (!post_start(r, NULL) || !path_id(r, "id", &id))
        return;
    if (strcmp(act, "authorize") == 0)
        rc = mb_follow_authorize(app->mb, viewer_of(r), id, &err);
    else if (strcmp(act, "reject") == 0)
        rc = mb_follow_reject(app->mb, viewer_of(r), id, &err);
    else
        rc = TD_ENOTFOUND;
    if (rc != TD_OK) {
        web_error(r, 404, "There is no such follow request.");
        return;
    }
    web_redirect(r, safe_back(web_form_get(r, "back"), "/notifications"));
}

void web_mb_routes(struct http_router *rt)
{
    static const char *const relation[] = {"follow", "unfollow", "block",
                                           "unblock", "mute",    "unmute"};
    char pattern[32];

    http_router_add(rt, "GET", "/public", handle_public);
    http_router_add(rt, "GET", "/tags/:tag", handle_tag);
    http_router_add(rt, "GET", "/search", handle_search);
    http_router_add(rt, "GET", "/notifications", handle_notifications);
    http_router_add(rt, "GET", "/statuses/:id", handle_status_redirect);
    http_router_add(rt, "POST", "/statuses", handle_compose);
    http_router_add(rt, "POST", "/statuses/:id/:action", handle_status_action);
    http_router_add(rt, "POST", "/follow_requests/:id/:action", handle_follow_request);
    http_router_add(rt, "GET", "/web/statuses/:id", handle_status_fragment);
    http_router_add(rt, "GET", "/web/notifications/:id", handle_notif_fragment);
    http_router_add(rt, "GET", "/@:name", handle_profile);
    http_router_add(rt, "GET", "/@:name/followers", handle_followers);
    http_router_add(rt, "GET", "/@:name/following", handle_following);
    for (size_t i = 0; i < TD_ARRAY_LEN(relation); i++) {
        snprintf(pattern, sizeof(pattern), "/@:name/%s", relation[i]);
        http_router_add(rt, "POST", pattern, handle_relation); /* it copies the pattern */
    }
    http_router_add(rt, "GET", "/@:name/:id", handle_thread);
    http_router_add(rt, "GET", "/@:name/:id/edit", handle_edit_form);
}
