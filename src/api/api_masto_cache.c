/* SPDX-License-Identifier: MIT */
/* Timelines as text: the hot path of the Mastodon API. A page of 20 posts
 * is 20 Status entities of about 1.5 KiB each, most of which is the same
 * for every reader. Building and serializing them as JSON trees for every
 * request cost more than everything else together (profile of GET
 * /api/v1/timelines/home: two thirds in jansson and malloc), so:
 *  - a post's entity, without its account and without the reader's fields,
 *    is serialized once and kept on the service's cached post (struct
 *    mb_cpost.text), which the service drops whenever the post changes;
 *  - an account's entity is serialized once and kept here until the service
 *    says it changed (MB_EV_ACCOUNT) or MASTO_ACCT_TTL_MS passes;
 *  - a page is then the concatenation of these pieces, with the reader's
 *    own fields (favourited, reblogged, ...) from one query per page.
 * The text is exactly what api_masto_status() would give. */
#include "api/api_masto.h"

#include "core/buf.h"
#include "core/err.h"
#include "store/store.h"
#include "web/web.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MASTO_ACCT_TTL_MS 60000
#define MASTO_ACCT_MAX 65536 /* accounts kept; the table is emptied when full */

struct acct_text {
    int64_t id;
    int64_t expires;
    char *text;
    size_t len;
};

struct masto_cache {
    struct acct_text *slots; /* open addressing, cap slots, at most half full */
    size_t cap, n;
};

static size_t acct_slot(int64_t id, size_t cap)
{
    uint64_t h = (uint64_t)id * 0x9E3779B97F4A7C15ull;
    return (size_t)(h >> 23) & (cap - 1);
}

static void acct_clear_all(struct masto_cache *c)
{
    for (size_t i = 0; i < c->cap; i++) {
        free(c->slots[i].text);
        memset(&c->slots[i], 0, sizeof(c->slots[i]));
    }
    c->n = 0;
}

static struct acct_text *acct_find(struct masto_cache *c, int64_t id)
{
    for (size_t i = acct_slot(id, c->cap);; i = (i + 1) & (c->cap - 1))
        if (c->slots[i].id == 0 || c->slots[i].id == id)
            return &c->slots[i];
}

/* Forget one account. Entries are never removed from the middle of a probe
 * chain: the text goes and the slot keeps its id, expired. */
static void acct_forget(struct masto_cache *c, int64_t id)
{
    struct acct_text *e = acct_find(c, id);

    if (e->id == id) {
        free(e->text);
        e->text = NULL;
        e->len = 0;
        e->expires = 0;
    }
}

static void on_event(void *ud, const struct mb_event *ev)
{
    struct masto_cache *c = ud;

    if (ev->type == MB_EV_ACCOUNT)
        acct_forget(c, ev->account_id);
}

struct masto_cache *api_masto_cache_new(struct mb *mb)
{
    struct masto_cache *c = td_calloc(1, sizeof(*c));

    c->cap = 2 * MASTO_ACCT_MAX;
    c->slots = td_calloc(c->cap, sizeof(*c->slots));
    mb_subscribe(mb, on_event, c);
    return c;
}

void api_masto_cache_free(struct masto_cache *c)
{
    if (c == NULL)
        return;
    acct_clear_all(c);
    free(c->slots);
    free(c);
}

/* The account's entity as text, or NULL if it is gone. */
static const struct acct_text *acct_text(struct masto_req *m, int64_t id, int64_t now)
{
    struct masto_cache *c = m->app->masto_cache;
    struct acct_text *e = acct_find(c, id);
    json_t *j;
    char *s;

    if (e->id == id && e->text && e->expires > now)
        return e;
    j = api_masto_account_fresh(m, id);
    s = j ? json_dumps(j, JSON_COMPACT) : NULL;
    json_decref(j);
    if (s == NULL)
        return NULL;
    if (e->id != id) {
        if (c->n >= MASTO_ACCT_MAX) {
            acct_clear_all(c);
            e = acct_find(c, id);
        }
        e->id = id;
        c->n++;
    }
    free(e->text);
    e->text = s;
    e->len = strlen(s);
    e->expires = now + MASTO_ACCT_TTL_MS;
    return e;
}

/* The post's entity core on its cache entry: the JSON object without
 * "account" (and, for a reblog, without "reblog") and without its closing
 * brace, so that the rest can be appended. */
static bool core_text(struct masto_req *m, struct mb_cpost *e)
{
    json_t *j;
    char *s;
    size_t len;

    if (e->text)
        return true;
    j = api_masto_status_core(m, &e->p);
    s = j ? json_dumps(j, JSON_COMPACT) : NULL;
    json_decref(j);
    if (s == NULL)
        return false;
    len = strlen(s);
    if (len < 2 || s[len - 1] != '}') {
        free(s);
        return false;
    }
    s[--len] = '\0';
    e->text = s;
    e->text_len = len;
    return true;
}

static void viewer_fields(struct buf *b, const struct masto_req *m, const struct store_mb_post *p,
                          bool fav, bool reb)
{
    if (m->viewer == 0)
        return;
    buf_printf(b, ",\"favourited\":%s,\"reblogged\":%s,\"muted\":false,\"bookmarked\":false",
               fav ? "true" : "false", reb ? "true" : "false");
    if (p->account_id == m->viewer)
        buf_appends(b, ",\"pinned\":false");
}

/* One post that is not a reblog, closed. */
static bool emit_post(struct buf *b, struct masto_req *m, struct mb_cpost *e, bool fav, bool reb,
                      int64_t now)
{
    const struct acct_text *a = acct_text(m, e->p.account_id, now);

    if (a == NULL || !core_text(m, e))
        return false;
    buf_append(b, e->text, e->text_len);
    buf_appends(b, ",\"account\":");
    buf_append(b, a->text, a->len);
    viewer_fields(b, m, &e->p, fav, reb);
    buf_putc(b, '}');
    return true;
}

/* A reblog: the wrapper, its reblogger, then the original with the
 * reader's fields, which the wrapper repeats (as Mastodon does). */
static bool emit_reblog(struct buf *b, struct masto_req *m, struct mb_cpost *w,
                        struct mb_cpost *o, bool fav, bool reb, int64_t now)
{
    const struct acct_text *a = acct_text(m, w->p.account_id, now);
    size_t mark = b->len;

    if (a == NULL || !core_text(m, w))
        return false;
    buf_append(b, w->text, w->text_len);
    buf_appends(b, ",\"account\":");
    buf_append(b, a->text, a->len);
    buf_appends(b, ",\"reblog\":");
    if (!emit_post(b, m, o, fav, reb, now)) {
        b->len = mark;
        b->data[mark] = '\0';
        return false;
    }
    viewer_fields(b, m, &w->p, fav, reb);
    buf_putc(b, '}');
    return true;
}

/* Statuses for ids (at most STORE_MB_STATUSES_MAX, from the service's lists)
 * appended to b as JSON array elements. */
static int emit_page(struct buf *b, struct masto_req *m, const int64_t *ids, size_t n)
{
    struct mb_cpost *posts[STORE_MB_STATUSES_MAX], *origs[STORE_MB_STATUSES_MAX];
    int64_t oids[STORE_MB_STATUSES_MAX], fids[STORE_MB_STATUSES_MAX];
    bool fav[STORE_MB_STATUSES_MAX], reb[STORE_MB_STATUSES_MAX];
    int64_t now = store_now_ms();
    size_t no = 0;
    int rc = mb_posts(m->mb, ids, n, posts);

    if (rc != TD_OK)
        return rc;
    memset(origs, 0, sizeof(origs));
    for (size_t i = 0; i < n; i++) {
        fids[i] = ids[i];
        if (posts[i] && posts[i]->p.reblog_of_id)
            oids[no++] = fids[i] = posts[i]->p.reblog_of_id;
    }
    if (no > 0)
        rc = mb_posts(m->mb, oids, no, origs);
    /* favourited and reblogged are about the original of a reblog */
    if (rc == TD_OK)
        rc = store_mb_viewer_flags(m->st, m->viewer, fids, n, fav, reb);
    for (size_t i = 0, k = 0; rc == TD_OK && i < n; i++) {
        struct mb_cpost *o = NULL;
        if (posts[i] && posts[i]->p.reblog_of_id)
            o = origs[k++];
        if (posts[i] == NULL || (posts[i]->p.reblog_of_id && o == NULL))
            continue;
        size_t mark = b->len;
        if (b->data[b->len - 1] != '[') /* after an element: a separator */
            buf_putc(b, ',');
        bool ok = o ? emit_reblog(b, m, posts[i], o, fav[i], reb[i], now)
                    : emit_post(b, m, posts[i], fav[i], reb[i], now);
        if (!ok) { /* an account or post went in between: leave it out */
            b->len = mark;
            b->data[mark] = '\0';
        }
    }
    mb_posts_release(posts, n);
    mb_posts_release(origs, no);
    return rc;
}

/* The JSON array text of the statuses of ids into b. */
static int statuses_text(struct masto_req *m, const int64_t *ids, size_t n, struct buf *b)
{
    int rc = TD_OK;

    buf_putc(b, '[');
    for (size_t i = 0; rc == TD_OK && i < n; i += STORE_MB_STATUSES_MAX) {
        size_t k = n - i < STORE_MB_STATUSES_MAX ? n - i : STORE_MB_STATUSES_MAX;
        rc = emit_page(b, m, ids + i, k);
    }
    buf_putc(b, ']');
    return rc;
}

void api_masto_send_statuses(struct masto_req *m, const int64_t *ids, size_t n)
{
    struct buf b;
    int rc;

    buf_init(&b, 0);
    rc = statuses_text(m, ids, n, &b);
    if (rc != TD_OK) {
        buf_free(&b);
        api_masto_fail(m->r, rc, NULL);
        return;
    }
    http_resp_header(m->r, "Cache-Control", "no-store");
    http_resp_header(m->r, "Access-Control-Allow-Origin", "*");
    http_resp_send_buf(m->r, 200, "application/json; charset=utf-8", &b);
}

void api_masto_send_status_list(struct masto_req *m, const struct store_mb_list *l)
{
    int64_t ids[STORE_MB_ACCOUNTS_MAX];

    for (size_t i = 0; i < l->n; i++)
        ids[i] = l->v[i].id;
    api_masto_send_statuses(m, ids, l->n);
}
