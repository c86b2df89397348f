/* SPDX-License-Identifier: MIT */
/* The Mastodon API's statuses, timelines and media endpoints; see api_masto.h.
 *
 * Every read goes through the service (mb_get(), mb_home(), mb_context(),
 * ...), which decides visibility: a post the viewer may not see is a 404
 * "Record not found", exactly like one that does not exist. Uploads are
 * decoded and re-encoded on the thread pool (mb_media_process_async()); the
 * request is answered when that work comes back. */
#include "api/api_masto.h"

#include "core/arena.h"
#include "core/conf.h"
#include "core/err.h"
#include "social/mb_media.h"
#include "social/mb_text.h"
#include "web/web.h"

#include <stdint.h>
#include <stdio.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#define MEDIA_CACHE "public, max-age=31536000, immutable"

/* ---- shared bits ---- */

static int visibility_of(const char *s)
{
    if (s == NULL || *s == '\0' || strcmp(s, "public") == 0)
        return STORE_MB_PUBLIC;
    if (strcmp(s, "unlisted") == 0)
        return STORE_MB_UNLISTED;
    if (strcmp(s, "private") == 0)
        return STORE_MB_PRIVATE;
    if (strcmp(s, "direct") == 0)
        return STORE_MB_DIRECT;
    return -1;
}

static bool has_param(struct masto_req *m, const char *name)
{
    return json_object_get(m->params, name) != NULL;
}

/* Answer the status id as the viewer sees it, or 404. */
static void send_status(struct masto_req *m, int64_t id)
{
    json_t *j = api_masto_status_id(m, id);

    if (j == NULL) {
        api_masto_error(m->r, 404, "Record not found");
        return;
    }
    api_masto_send(m->r, 200, j);
}

/* The route's post, visible to the viewer, into *p; answers 404 otherwise. */
static bool visible_post(struct masto_req *m, int64_t *id, struct store_mb_post *p)
{
    int rc;

    if (!api_masto_path_id(m, "id", id))
        return false;
    rc = mb_get(m->mb, m->viewer, *id, p);
    if (rc != TD_OK) {
        api_masto_fail(m->r, rc, NULL);
        return false;
    }
    return true;
}

/* A post write refused by the service: Mastodon says "Validation failed: ..."
 * with 422 for whatever is wrong with the request's own content, media
 * included; an unknown or hidden parent stays a 404. */
static void post_fail(struct http_req *r, int rc, const struct mb_error *err)
{
    const char *msg = err && err->msg[0] ? err->msg : "The post is invalid";
    bool media = strncmp(msg, "Media", 5) == 0;

    if (rc == TD_EINVAL || rc == TD_ETOOBIG || rc == TD_ELIMIT ||
        (media && (rc == TD_ENOTFOUND || rc == TD_EDENIED)))
        api_masto_error(r, 422, arena_printf(r->arena, "Validation failed: %s", msg));
    else
        api_masto_fail(r, rc, err);
}

/* media_ids[] into ids (MB_MEDIA_MAX of them); answers 422 and returns false
 * for a malformed list. *present tells whether the parameter was given. */
static bool read_media_ids(struct masto_req *m, int64_t *ids, size_t *n, bool *present)
{
    json_t *a = api_masto_arr(m, "media_ids");
    size_t i;
    json_t *v;

    *n = 0;
    *present = a != NULL;
    if (a == NULL)
        return true;
    if (json_array_size(a) > MB_MEDIA_MAX) {
        api_masto_error(m->r, 422, "Validation failed: Too many media attachments (at most 4)");
        return false;
    }
    json_array_foreach(a, i, v) {
        const char *s = json_string_value(v);
        char num[24];
        if (json_is_integer(v)) {
            snprintf(num, sizeof(num), "%lld", (long long)json_integer_value(v));
            s = num;
        }
        if (s && *s == '\0')
            continue; /* "media_ids[]=" with nothing: some clients send it for none */
        if (!api_masto_id(s, &ids[*n])) {
            api_masto_error(m->r, 422, "Validation failed: media_ids must be media ids");
            return false;
        }
        (*n)++;
    }
    return true;
}

/* Polls and scheduled posts do not exist here: refuse them out loud rather
 * than post something other than what was asked. */
static bool compose_supported(struct masto_req *m)
{
    const char *k;
    json_t *v;

    json_object_foreach(m->params, k, v) {
        if (strncmp(k, "poll", 4) == 0 && (k[4] == '\0' || k[4] == '[')) {
            api_masto_error(m->r, 422, "Validation failed: polls are not supported");
            return false;
        }
    }
    const char *at = api_masto_str(m, "scheduled_at");
    if (at && *at) {
        api_masto_error(m->r, 422, "Validation failed: scheduled posts are not supported");
        return false;
    }
    return true;
}

static const char *language_of(struct masto_req *m)
{
    const char *l = api_masto_str(m, "language");
    return l && *l ? l : NULL;
}

/* ---- statuses ---- */

/* POST /api/v1/statuses */
static void handle_post(struct http_req *r)
{
    struct masto_req *m = api_masto_auth(r, "write:statuses", true);
    struct mb_post_req req = {0};
    struct mb_error err = {0};
    int64_t id = 0, media[MB_MEDIA_MAX];
    bool present;
    int rc;

    if (m == NULL || !compose_supported(m) || !read_media_ids(m, media, &req.nmedia, &present))
        return;
    const char *text = api_masto_str(m, "status");
    req.text = text ? text : "";
    req.text_len = strlen(req.text);
    req.media = media;
    req.visibility = visibility_of(api_masto_str(m, "visibility"));
    if (req.visibility < 0) {
        api_masto_error(r, 422, "Validation failed: Visibility is not included in the list");
        return;
    }
    req.spoiler_text = api_masto_str(m, "spoiler_text");
    req.sensitive = api_masto_bool(m, "sensitive", false);
    req.language = language_of(m);
    const char *reply = api_masto_str(m, "in_reply_to_id");
    if (reply && *reply && !api_masto_id(reply, &req.in_reply_to_id)) {
        api_masto_error(r, 404, "Record not found");
        return;
    }
    req.idempotency_key = http_req_header(r, "Idempotency-Key");
    rc = mb_post_create(m->mb, m->viewer, &req, &id, &err);
    if (rc != TD_OK) {
        post_fail(r, rc, &err);
        return;
    }
    send_status(m, id);
}

/* GET /api/v1/statuses/:id */
static void handle_get(struct http_req *r)
{
    struct masto_req *m = api_masto_auth(r, "read:statuses", false);
    int64_t id;

    if (m && api_masto_path_id(m, "id", &id))
        send_status(m, id);
}

/* GET /api/v1/statuses?id[]=1&id[]=2: each as the viewer may see it; unknown,
 * malformed and hidden ids are left out, as Mastodon does. */
static void handle_get_many(struct http_req *r)
{
    struct masto_req *m = api_masto_auth(r, "read:statuses", false);
    json_t *ids, *out, *v;
    size_t i;

    if (m == NULL)
        return;
    ids = api_masto_arr(m, "id");
    out = json_array();
    json_array_foreach(ids, i, v) {
        int64_t id;
        if (i >= STORE_MB_STATUSES_MAX)
            break;
        if (!api_masto_id(json_string_value(v), &id))
            continue;
        json_t *s = api_masto_status_id(m, id);
        if (s)
            json_array_append_new(out, s);
    }
    api_masto_send(r, 200, out);
}

/* DELETE /api/v1/statuses/:id: the deleted post with its source as "text",
 * which clients use for delete-and-redraft. */
static void handle_delete(struct http_req *r)
{
    struct masto_req *m = api_masto_auth(r, "write:statuses", true);
    struct store_mb_post p;
    struct mb_error err;
    int64_t id;
    json_t *j;
    int rc;

    if (m == NULL || !visible_post(m, &id, &p))
        return;
    j = api_masto_status(m, &p); /* before it goes */
    if (j)
        json_object_set_new(j, "text", json_string(p.source ? p.source : ""));
    store_mb_post_clear(&p);
    if (j == NULL) {
        api_masto_error(r, 404, "Record not found");
        return;
    }
    rc = mb_post_delete(m->mb, m->viewer, id, &err);
    if (rc != TD_OK) {
        json_decref(j);
        api_masto_fail(r, rc, &err);
        return;
    }
    api_masto_send(r, 200, j);
}

/* PUT /api/v1/statuses/:id: what is not given stays as it was (Mastodon's
 * UpdateStatusService); visibility and the reply cannot change. */
static void handle_edit(struct http_req *r)
{
    struct masto_req *m = api_masto_auth(r, "write:statuses", true);
    struct store_mb_post p;
    struct mb_post_req req = {0};
    struct mb_error err = {0};
    int64_t id, media[MB_MEDIA_MAX];
    bool present;
    int rc;

    if (m == NULL || !compose_supported(m) || !read_media_ids(m, media, &req.nmedia, &present) ||
        !visible_post(m, &id, &p))
        return;
    const char *text = api_masto_str(m, "status");
    req.text = arena_strdup(r->arena, text ? text : p.source);
    req.text_len = strlen(req.text);
    const char *spoiler = api_masto_str(m, "spoiler_text");
    req.spoiler_text = arena_strdup(r->arena, spoiler ? spoiler : p.spoiler_text);
    req.sensitive = has_param(m, "sensitive") ? api_masto_bool(m, "sensitive", false)
                                              : p.sensitive;
    req.language = has_param(m, "language") ? language_of(m)
                   : p.language             ? arena_strdup(r->arena, p.language)
                                            : NULL;
    if (!present) {
        memcpy(media, p.media, p.nmedia * sizeof(media[0]));
        req.nmedia = p.nmedia;
    }
    req.media = media;
    store_mb_post_clear(&p);
    rc = mb_post_edit(m->mb, m->viewer, id, &req, &err);
    if (rc != TD_OK) {
        post_fail(r, rc, &err);
        return;
    }
    send_status(m, id);
}

/* The post's current attachments, for its history. */
static json_t *media_of(struct masto_req *m, const struct store_mb_post *p)
{
    json_t *arr = json_array();

    for (size_t i = 0; i < p->nmedia; i++) {
        struct store_mb_media md;
        if (store_mb_media_get(m->st, p->media[i], false, &md) == TD_OK) {
            json_array_append_new(arr, api_masto_media(m, &md));
            store_mb_media_clear(&md);
        }
    }
    return arr;
}

struct history {
    struct masto_req *m;
    json_t *out, *account, *media;
};

static int history_one(void *ud, const struct store_mb_version *v)
{
    struct history *h = ud;
    json_t *e = json_object();

    json_object_set_new(e, "content", json_string(v->content ? v->content : ""));
    json_object_set_new(e, "spoiler_text", json_string(v->spoiler_text ? v->spoiler_text : ""));
    json_object_set_new(e, "sensitive", json_boolean(v->sensitive));
    json_object_set_new(e, "created_at", json_string(api_masto_date(h->m, v->created_at)));
    json_object_set(e, "account", h->account);
    json_object_set_new(e, "poll", json_null());
    /* The store keeps the text's history, not the attachments': each
     * version shows the current ones. */
    json_object_set(e, "media_attachments", h->media);
    json_object_set_new(e, "emojis", json_array());
    json_array_append_new(h->out, e);
    return 0;
}

/* GET /api/v1/statuses/:id/history: StatusEdit list, oldest first. */
static void handle_history(struct http_req *r)
{
    struct masto_req *m = api_masto_auth(r, "read:statuses", false);
    struct store_mb_post p;
    struct history h;
    int64_t id;
    int rc;

    if (m == NULL || !visible_post(m, &id, &p))
        return;
    h.m = m;
    h.out = json_array();
    h.account = api_masto_account(m, p.account_id);
    h.media = media_of(m, &p);
    store_mb_post_clear(&p);
    rc = h.account ? store_mb_post_history(m->st, id, history_one, &h) : TD_ENOTFOUND;
    json_decref(h.account);
    json_decref(h.media);
    if (rc != TD_OK) {
        json_decref(h.out);
        api_masto_fail(r, rc, NULL);
        return;
    }
    api_masto_send(r, 200, h.out);
}

/* GET /api/v1/statuses/:id/source */
static void handle_source(struct http_req *r)
{
    struct masto_req *m = api_masto_auth(r, "read:statuses", true);
    struct store_mb_post p;
    int64_t id;

    if (m == NULL || !visible_post(m, &id, &p))
        return;
    json_t *j = json_pack("{s:s, s:s, s:s}", "id", http_req_param(r, "id"), "text",
                          p.source ? p.source : "", "spoiler_text",
                          p.spoiler_text ? p.spoiler_text : "");
    store_mb_post_clear(&p);
    api_masto_send(r, 200, j);
}

/* GET /api/v1/statuses/:id/context */
static void handle_context(struct http_req *r)
{
    struct masto_req *m = api_masto_auth(r, "read:statuses", false);
    int64_t id, *anc = NULL, *desc = NULL;
    size_t nanc = 0, ndesc = 0;
    int rc;

    if (m == NULL || !api_masto_path_id(m, "id", &id))
        return;
    rc = mb_context(m->mb, m->viewer, id, &anc, &nanc, &desc, &ndesc);
    if (rc != TD_OK) {
        api_masto_fail(r, rc, NULL);
        return;
    }
    json_t *j = json_pack("{s:o, s:o}", "ancestors", api_masto_statuses(m, anc, nanc),
                          "descendants", api_masto_statuses(m, desc, ndesc));
    free(anc);
    free(desc);
    api_masto_send(r, 200, j);
}

/* The post an action on id acts on and answers with: a reblog's original. */
static bool action_target(struct masto_req *m, int64_t *id)
{
    struct store_mb_post p;

    if (!visible_post(m, id, &p))
        return false;
    if (p.reblog_of_id)
        *id = p.reblog_of_id;
    store_mb_post_clear(&p);
    return true;
}

static void favourite(struct http_req *r, bool on)
{
    struct masto_req *m = api_masto_auth(r, "write:favourites", true);
    struct mb_error err;
    int64_t id;
    int rc;

    if (m == NULL || !action_target(m, &id))
        return;
    rc = on ? mb_favourite(m->mb, m->viewer, id, &err)
            : mb_unfavourite(m->mb, m->viewer, id, &err);
    if (rc != TD_OK) {
        api_masto_fail(r, rc, &err);
        return;
    }
    send_status(m, id);
}

/* POST /api/v1/statuses/:id/favourite */
static void handle_favourite(struct http_req *r)
{
    favourite(r, true);
}

/* POST /api/v1/statuses/:id/unfavourite */
static void handle_unfavourite(struct http_req *r)
{
    favourite(r, false);
}

/* POST /api/v1/statuses/:id/reblog: the reblog, carrying its original.
 * "visibility" (public, unlisted or private) says who is shown the boost. */
static void handle_reblog(struct http_req *r)
{
    struct masto_req *m = api_masto_auth(r, "write:statuses", true);
    struct mb_error err;
    int64_t id, rid = 0;
    int rc, vis;

    if (m == NULL)
        return;
    vis = visibility_of(api_masto_str(m, "visibility"));
    if (vis < 0 || vis == STORE_MB_DIRECT) {
        api_masto_error(r, 422, "Validation failed: Visibility is not included in the list");
        return;
    }
    if (!api_masto_path_id(m, "id", &id))
        return;
    rc = mb_reblog(m->mb, m->viewer, id, vis, &rid, &err);
    if (rc != TD_OK) {
        api_masto_fail(r, rc, &err);
        return;
    }
    send_status(m, rid);
}

/* POST /api/v1/statuses/:id/unreblog: the original. */
static void handle_unreblog(struct http_req *r)
{
    struct masto_req *m = api_masto_auth(r, "write:statuses", true);
    struct mb_error err;
    int64_t id;
    int rc;

    if (m == NULL || !action_target(m, &id))
        return;
    rc = mb_unreblog(m->mb, m->viewer, id, &err);
    if (rc != TD_OK) {
        api_masto_fail(r, rc, &err);
        return;
    }
    send_status(m, id);
}

typedef int who_fn(struct mb *mb, int64_t viewer, int64_t id, const struct store_mb_page *pg,
                   struct store_mb_list *out);

static void accounts_of(struct http_req *r, who_fn *fn)
{
    struct masto_req *m = api_masto_auth(r, "read:accounts", false);
    struct store_mb_page pg;
    struct store_mb_list l;
    int64_t id;
    int rc;

    if (m == NULL || !api_masto_path_id(m, "id", &id) ||
        !api_masto_page(m, &pg, STORE_MB_ACCOUNTS_MAX / 2, STORE_MB_ACCOUNTS_MAX))
        return;
    rc = fn(m->mb, m->viewer, id, &pg, &l);
    if (rc != TD_OK) {
        api_masto_fail(r, rc, NULL);
        return;
    }
    api_masto_link(m, &l);
    api_masto_send(r, 200, api_masto_account_list(m, &l));
}

/* GET /api/v1/statuses/:id/favourited_by */
static void handle_favourited_by(struct http_req *r)
{
    accounts_of(r, mb_favourited_by);
}

/* GET /api/v1/statuses/:id/reblogged_by */
static void handle_reblogged_by(struct http_req *r)
{
    accounts_of(r, mb_reblogged_by);
}

/* Bookmarks, pins and muted conversations do not exist here. Clients show
 * the error's text, which a 404 would not give them. */
static void handle_unsupported(struct http_req *r)
{
    struct masto_req *m = api_masto_auth(r, NULL, true);
    struct store_mb_post p;
    int64_t id;
    const char *what = strrchr(r->path, '/');

    if (m == NULL || !visible_post(m, &id, &p))
        return;
    store_mb_post_clear(&p);
    what = what ? what + 1 : "";
    if (strstr(what, "bookmark"))
        what = "Bookmarks are";
    else if (strstr(what, "pin"))
        what = "Pinned posts are";
    else
        what = "Muting conversations is";
    api_masto_error(r, 422, arena_printf(r->arena, "%s not supported by this server", what));
}

/* ---- timelines ---- */

static void send_list(struct masto_req *m, int rc, const struct store_mb_list *l)
{
    if (rc != TD_OK) {
        api_masto_fail(m->r, rc, NULL);
        return;
    }
    api_masto_link(m, l);
    api_masto_send_status_list(m, l); /* from the cached pieces (api_masto_cache.c) */
}

/* GET /api/v1/timelines/home */
static void handle_home(struct http_req *r)
{
    struct masto_req *m = api_masto_auth(r, "read:statuses", true);
    struct store_mb_page pg;
    struct store_mb_list l;

    if (m == NULL || !api_masto_page(m, &pg, STORE_MB_LIMIT_DEFAULT, STORE_MB_STATUSES_MAX))
        return;
    send_list(m, mb_home(m->mb, m->viewer, &pg, &l), &l);
}

/* GET /api/v1/timelines/public: every account is local, so local=true
 * changes nothing and remote=true is an empty list. */
static void handle_public(struct http_req *r)
{
    struct masto_req *m = api_masto_auth(r, "read:statuses", false);
    struct store_mb_page pg;
    struct store_mb_list l = {0};

    if (m == NULL || !api_masto_page(m, &pg, STORE_MB_LIMIT_DEFAULT, STORE_MB_STATUSES_MAX))
        return;
    if (api_masto_bool(m, "remote", false)) {
        send_list(m, TD_OK, &l);
        return;
    }
    send_list(m, mb_public(m->mb, m->viewer, api_masto_bool(m, "only_media", false), &pg, &l),
              &l);
}

/* A hashtag as the store keeps it, normalized by the same parser as a post's
 * "#tag" (so "#Café" and "#ＣＡＦＥ" find what their posts carry). */
static const char *tag_name(struct http_req *r, const char *s)
{
    struct mb_text t;
    const char *name = "";

    if (s == NULL)
        return name;
    if (*s == '#')
        s++;
    const char *src = arena_printf(r->arena, "#%s", s);
    if (mb_text_parse(src, strlen(src), SIZE_MAX, &t) == TD_OK && t.n_ents == 1 &&
        t.ents[0].kind == MB_ENT_TAG && t.ents[0].len == t.len)
        name = arena_strdup(r->arena, t.ents[0].value);
    mb_text_free(&t);
    return name;
}

/* Drop posts without attachments (only_media on a tag): the page may come
 * out short, its Link still pages the underlying list. */
static json_t *only_media(json_t *list)
{
    json_t *out = json_array(), *s;
    size_t i;

    json_array_foreach(list, i, s) {
        json_t *o = json_object_get(s, "reblog");
        if (json_array_size(json_object_get(json_is_object(o) ? o : s, "media_attachments")))
            json_array_append(out, s);
    }
    json_decref(list);
    return out;
}

/* GET /api/v1/timelines/tag/:hashtag (any[], all[] and none[] are not
 * supported and ignored). */
static void handle_tag(struct http_req *r)
{
    struct masto_req *m = api_masto_auth(r, "read:statuses", false);
    struct store_mb_page pg;
    struct store_mb_list l;
    int rc;

    if (m == NULL || !api_masto_page(m, &pg, STORE_MB_LIMIT_DEFAULT, STORE_MB_STATUSES_MAX))
        return;
    const char *name = tag_name(r, http_req_param(r, "hashtag"));
    if (*name == '\0' || strlen(name) > STORE_MB_TAG_MAX) { /* no post can carry it */
        l.n = 0;
        send_list(m, TD_OK, &l);
        return;
    }
    rc = mb_tag(m->mb, m->viewer, name, &pg, &l);
    if (rc != TD_OK || !api_masto_bool(m, "only_media", false)) {
        send_list(m, rc, &l);
        return;
    }
    api_masto_link(m, &l);
    api_masto_send(r, 200, only_media(api_masto_status_list(m, &l)));
}

/* GET /api/v1/conversations: direct posts are read in the home timeline;
 * conversations as a list of their own are not kept. */
static void handle_conversations(struct http_req *r)
{
    struct masto_req *m = api_masto_auth(r, "read:statuses", true);

    if (m)
        api_masto_send(r, 200, json_array());
}

/* ---- media ---- */

struct upload {
    struct masto_req *m;
    const char *description;
    bool has_focus;
    double focus[2];
};

/* Mastodon's focus parameter: "x,y", each from -1.0 to 1.0 (the image's
 * focal point: left/bottom -1, right/top 1). */
static bool parse_focus(const char *s, double out[2])
{
    char *end;

    errno = 0;
    out[0] = strtod(s, &end);
    if (end == s || *end != ',' || errno)
        return false;
    s = end + 1;
    out[1] = strtod(s, &end);
    if (end == s || *end != '\0' || errno)
        return false;
    return out[0] >= -1.0 && out[0] <= 1.0 && out[1] >= -1.0 && out[1] <= 1.0;
}

/* The request's focus into out: false (after answering 422) when it is there
 * but malformed; *has says whether there was one. */
static bool focus_param(struct masto_req *m, bool *has, double out[2])
{
    const char *f = api_masto_str(m, "focus");

    *has = f != NULL && f[0] != '\0';
    if (*has && !parse_focus(f, out)) {
        api_masto_error(m->r, 422,
                        "Validation failed: Focus must be two numbers from -1.0 to 1.0, as x,y");
        return false;
    }
    return true;
}

static void upload_done(int rc, struct mb_media_result *res, const char *why, void *ud)
{
    struct upload *u = ud;
    struct masto_req *m = u->m;
    struct store_mb_media md = {0};

    if (http_req_is_orphan(m->r)) { /* nobody to tell: store nothing */
        mb_media_result_free(res);
        free(res);
        api_masto_error(m->r, 499, "The client went away");
        return;
    }
    if (rc != TD_OK) {
        api_masto_error(m->r, 422,
                        arena_printf(m->r->arena, "Validation failed: File %s",
                                     why ? why : "could not be processed"));
        return;
    }
    rc = mb_media_save(m->mb, m->viewer, res, u->description, u->has_focus ? u->focus : NULL,
                       &md);
    if (rc == TD_OK)
        api_masto_send(m->r, 200, api_masto_media(m, &md));
    else if (rc == TD_ETOOBIG)
        api_masto_error(m->r, 422, "Validation failed: File or description is too large");
    else
        api_masto_fail(m->r, rc, NULL);
    mb_media_result_free(res);
    free(res);
}

/* Code points of a UTF-8 string (the parameters are valid UTF-8). */
static size_t utf8_chars(const char *s)
{
    size_t n = 0;

    for (; *s; s++)
        n += ((unsigned char)*s & 0xc0) != 0x80;
    return n;
}

/* POST /api/v1/media and /api/v2/media (multipart: file, description,
 * focus). The image is decoded off the loop; the answer waits for it, so v2
 * answers 200 with the URLs filled, which clients accept as well as 202. */
static void handle_media_post(struct http_req *r)
{
    struct masto_req *m = api_masto_auth(r, "write:media", true);
    struct web_app *app = r->app;
    struct mb_media_limits lim;
    const void *data;
    size_t len;
    const char *fname, *ctype;

    if (m == NULL)
        return;
    if (!api_masto_file(m, "file", &data, &len, &fname, &ctype) || len == 0) {
        api_masto_error(r, 422, "Validation failed: File can't be blank");
        return;
    }
    mb_media_limits_default(&lim);
    lim.max_bytes = (size_t)app->conf->mb_media_max_bytes;
    if (len > lim.max_bytes) {
        api_masto_error(r, 413,
                        arena_printf(r->arena, "Validation failed: File must be at most %zu bytes",
                                     lim.max_bytes));
        return;
    }
    struct upload *u = arena_calloc(r->arena, sizeof(*u));
    u->m = m;
    u->description = api_masto_str(m, "description");
    /* refused before the decoding rather than after it */
    if (u->description && utf8_chars(u->description) > STORE_MB_DESCRIPTION_MAX) {
        api_masto_error(r, 422, "Validation failed: Description is too long");
        return;
    }
    if (!focus_param(m, &u->has_focus, u->focus))
        return;
    if (mb_media_process_async(app->loop, data, len, &lim, upload_done, u) != TD_OK)
        api_masto_error(r, 503, "The server is busy; try again later");
}

/* The caller's own media by the route's id; 404 for anyone else's. */
static bool own_media(struct masto_req *m, int64_t *id, struct store_mb_media *md)
{
    if (!api_masto_path_id(m, "id", id))
        return false;
    if (store_mb_media_get(m->st, *id, false, md) != TD_OK) {
        api_masto_error(m->r, 404, "Record not found");
        return false;
    }
    if (md->account_id != m->viewer) {
        store_mb_media_clear(md);
        api_masto_error(m->r, 404, "Record not found");
        return false;
    }
    return true;
}

static void send_media(struct masto_req *m, struct store_mb_media *md)
{
    api_masto_send(m->r, 200, api_masto_media(m, md));
    store_mb_media_clear(md);
}

/* GET /api/v1/media/:id */
static void handle_media_get(struct http_req *r)
{
    struct masto_req *m = api_masto_auth(r, "write:media", true);
    struct store_mb_media md;
    int64_t id;

    if (m && own_media(m, &id, &md))
        send_media(m, &md);
}

/* PUT /api/v1/media/:id: the description and focus, before the media is
 * posted (an attached one changes with its post's edit, as in Mastodon). */
static void handle_media_put(struct http_req *r)
{
    struct masto_req *m = api_masto_auth(r, "write:media", true);
    struct store_mb_media md;
    int64_t id;
    int rc;

    if (m == NULL || !own_media(m, &id, &md))
        return;
    if (md.post_id != 0) {
        store_mb_media_clear(&md);
        api_masto_error(r, 404, "Record not found");
        return;
    }
    store_mb_media_clear(&md);
    bool has_focus;
    double focus[2];
    if (!focus_param(m, &has_focus, focus))
        return;
    if (has_focus && (rc = store_mb_media_set_focus(m->st, m->viewer, id, focus[0],
                                                    focus[1])) != TD_OK) {
        api_masto_fail(r, rc, NULL);
        return;
    }
    if (has_param(m, "description")) {
        rc = store_mb_media_describe(m->st, m->viewer, id, api_masto_str(m, "description"));
        if (rc == TD_ETOOBIG) {
            api_masto_error(r, 422, "Validation failed: Description is too long");
            return;
        }
        if (rc != TD_OK) {
            api_masto_fail(r, rc, NULL);
            return;
        }
    }
    if (own_media(m, &id, &md))
        send_media(m, &md);
}

/* DELETE /api/v1/media/:id: only while no post uses it. */
static void handle_media_delete(struct http_req *r)
{
    struct masto_req *m = api_masto_auth(r, "write:media", true);
    struct store_mb_media md;
    int64_t id;
    int rc;

    if (m == NULL || !own_media(m, &id, &md))
        return;
    if (md.post_id != 0) {
        store_mb_media_clear(&md);
        api_masto_error(r, 422, "Media attachment is currently used by a status");
        return;
    }
    rc = store_mb_media_delete(m->st, m->viewer, id);
    if (rc != TD_OK) {
        store_mb_media_clear(&md);
        api_masto_fail(r, rc, NULL);
        return;
    }
    send_media(m, &md);
}

/* GET /media/:id/:key/:kind: the files. The key in the address is the only
 * check (anyone who was shown the post has it), so the answer may be cached
 * by anyone, for ever: the bytes of a media id never change. */
static void handle_media_file(struct http_req *r)
{
    struct web_app *app = r->app;
    const char *kind = http_req_param(r, "kind");
    struct store_mb_media md;
    int64_t id;
    bool small = kind && strcmp(kind, "small") == 0;

    if (!api_masto_id(http_req_param(r, "id"), &id) ||
        !(small || (kind && strcmp(kind, "original") == 0)) ||
        !api_masto_media_key_ok(app, id, http_req_param(r, "key")) ||
        store_mb_media_get(app->store, id, true, &md) != TD_OK) {
        http_resp_text(r, 404, "not found\n");
        return;
    }
    const char *etag = arena_printf(r->arena, "\"%lld-%s\"", (long long)id, kind);
    const char *inm = http_req_header(r, "If-None-Match");
    http_resp_header(r, "Cache-Control", MEDIA_CACHE);
    http_resp_header(r, "ETag", etag);
    http_resp_header(r, "X-Content-Type-Options", "nosniff");
    http_resp_header(r, "Access-Control-Allow-Origin", "*");
    if (inm && (strstr(inm, etag) || strcmp(inm, "*") == 0))
        http_resp_send(r, 304, NULL, "", 0);
    else if (small && md.thumb)
        http_resp_send(r, 200, md.thumb_type ? md.thumb_type : md.content_type, md.thumb,
                       md.thumb_len);
    else
        http_resp_send(r, 200, md.content_type, md.data, md.len);
    store_mb_media_clear(&md);
}

void api_masto_statuses_routes(struct http_router *rt)
{
    http_router_add(rt, "POST", "/api/v1/statuses", handle_post);
    http_router_add(rt, "GET", "/api/v1/statuses", handle_get_many);
    http_router_add(rt, "GET", "/api/v1/statuses/:id", handle_get);
    http_router_add(rt, "DELETE", "/api/v1/statuses/:id", handle_delete);
    http_router_add(rt, "PUT", "/api/v1/statuses/:id", handle_edit);
    http_router_add(rt, "GET", "/api/v1/statuses/:id/history", handle_history);
    http_router_add(rt, "GET", "/api/v1/statuses/:id/source", handle_source);
    http_router_add(rt, "GET", "/api/v1/statuses/:id/context", handle_context);
    http_router_add(rt, "POST", "/api/v1/statuses/:id/favourite", handle_favourite);
    http_router_add(rt, "POST", "/api/v1/statuses/:id/unfavourite", handle_unfavourite);
    http_router_add(rt, "POST", "/api/v1/statuses/:id/reblog", handle_reblog);
    http_router_add(rt, "POST", "/api/v1/statuses/:id/unreblog", handle_unreblog);
    http_router_add(rt, "GET", "/api/v1/statuses/:id/favourited_by", handle_favourited_by);
    http_router_add(rt, "GET", "/api/v1/statuses/:id/reblogged_by", handle_reblogged_by);
    http_router_add(rt, "POST", "/api/v1/statuses/:id/bookmark", handle_unsupported);
    http_router_add(rt, "POST", "/api/v1/statuses/:id/unbookmark", handle_unsupported);
    http_router_add(rt, "POST", "/api/v1/statuses/:id/pin", handle_unsupported);
    http_router_add(rt, "POST", "/api/v1/statuses/:id/unpin", handle_unsupported);
    http_router_add(rt, "POST", "/api/v1/statuses/:id/mute", handle_unsupported);
    http_router_add(rt, "POST", "/api/v1/statuses/:id/unmute", handle_unsupported);
    http_router_add(rt, "GET", "/api/v1/timelines/home", handle_home);
    http_router_add(rt, "GET", "/api/v1/timelines/public", handle_public);
    http_router_add(rt, "GET", "/api/v1/timelines/tag/:hashtag", handle_tag);
    http_router_add(rt, "GET", "/api/v1/conversations", handle_conversations);
    http_router_add(rt, "POST", "/api/v1/media", handle_media_post);
    http_router_add(rt, "POST", "/api/v2/media", handle_media_post);
    http_router_add(rt, "GET", "/api/v1/media/:id", handle_media_get);
    http_router_add(rt, "PUT", "/api/v1/media/:id", handle_media_put);
    http_router_add(rt, "DELETE", "/api/v1/media/:id", handle_media_delete);
    http_router_add(rt, "GET", "/media/:id/:key/:kind", handle_media_file);
}
