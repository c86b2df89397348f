/* SPDX-License-Identifier: MIT */
/* The service's post cache (mb.h, mb_posts()): timelines show the same
 * posts to many readers, so a post is read from the store once and kept,
 * as the anonymous public sees it, until an action through the service
 * changes it (mb_cache_drop() from mb.c: an edit, a delete, a favourite, a
 * reblog, a reply changing its counters) or it has been kept
 * MB_CACHE_TTL_MS (a safety net for changes made outside the service,
 * such as an account deleted from the command line).
 *
 * Entries are reference-counted, so that eviction never frees a post a
 * caller still reads. The table is open addressing with linear probing and
 * backward-shift deletion; when full, a clock hand evicts the next entry. */
#include "social/mb.h"

#include "core/err.h"
#include "store/store.h"

#include <stdlib.h>
#include <string.h>

#define MB_CACHE_TTL_MS 60000

struct mb_cache {
    struct mb_cpost **slots; /* cap slots, power of two, at most half full */
    size_t cap, n, max;
    size_t hand;             /* next slot the clock looks at for eviction */
};

static size_t cache_slot(int64_t id, size_t cap)
{
    uint64_t h = (uint64_t)id * 0x9E3779B97F4A7C15ull;
    return (size_t)(h >> 21) & (cap - 1);
}

struct mb_cache *mb_cache_new(size_t max)
{
    struct mb_cache *c = td_calloc(1, sizeof(*c));

    c->max = max ? max : MB_CACHE_DEFAULT;
    c->cap = 64;
    while (c->cap < 2 * c->max)
        c->cap *= 2;
    c->slots = td_calloc(c->cap, sizeof(*c->slots));
    return c;
}

void mb_cpost_release(struct mb_cpost *e)
{
    if (e == NULL || --e->refs > 0)
        return;
    store_mb_post_clear(&e->p);
    free(e->text);
    free(e);
}

/* Remove the entry in slot i and close the gap (backward shift). */
static void cache_remove_at(struct mb_cache *c, size_t i)
{
    size_t mask = c->cap - 1;

    mb_cpost_release(c->slots[i]);
    c->slots[i] = NULL;
    c->n--;
    for (size_t j = (i + 1) & mask; c->slots[j] != NULL; j = (j + 1) & mask) {
        size_t home = cache_slot(c->slots[j]->p.id, c->cap);
        /* Move j back into the hole unless its home lies cyclically in (i, j]. */
        bool stays = i <= j ? (home > i && home <= j) : (home > i || home <= j);
        if (!stays) {
            c->slots[i] = c->slots[j];
            c->slots[j] = NULL;
            i = j;
        }
    }
}

static size_t cache_find(const struct mb_cache *c, int64_t id)
{
    size_t mask = c->cap - 1;

    for (size_t i = cache_slot(id, c->cap);; i = (i + 1) & mask) {
        if (c->slots[i] == NULL || c->slots[i]->p.id == id)
            return i;
    }
}

void mb_cache_free(struct mb_cache *c)
{
    if (c == NULL)
        return;
    for (size_t i = 0; i < c->cap; i++)
        mb_cpost_release(c->slots[i]);
    free(c->slots);
    free(c);
}

void mb_cache_drop(struct mb_cache *c, int64_t id)
{
    size_t i;

    if (c == NULL || id == 0)
        return;
    i = cache_find(c, id);
    if (c->slots[i] != NULL)
        cache_remove_at(c, i);
}

/* A live entry for id (a new reference), or NULL. */
static struct mb_cpost *cache_get(struct mb_cache *c, int64_t id, int64_t now)
{
    size_t i = cache_find(c, id);
    struct mb_cpost *e = c->slots[i];

    if (e == NULL)
        return NULL;
    if (e->expires <= now) {
        cache_remove_at(c, i);
        return NULL;
    }
    e->refs++;
    return e;
}

static void cache_evict_one(struct mb_cache *c)
{
    while (c->slots[c->hand] == NULL)
        c->hand = (c->hand + 1) & (c->cap - 1);
    cache_remove_at(c, c->hand);
}

/* Take p (its strings move into the entry) and return a new reference. */
static struct mb_cpost *cache_put(struct mb_cache *c, struct store_mb_post *p, int64_t now)
{
    struct mb_cpost *e = td_calloc(1, sizeof(*e));
    size_t i;

    e->p = *p;
    memset(p, 0, sizeof(*p));
    e->p.favourited = e->p.reblogged = false;
    e->expires = now + MB_CACHE_TTL_MS;
    e->refs = 2; /* the cache's and the caller's */
    i = cache_find(c, e->p.id);
    if (c->slots[i] != NULL) { /* read twice in one batch: keep the newer */
        cache_remove_at(c, i);
        i = cache_find(c, e->p.id);
    }
    if (c->n >= c->max) {
        cache_evict_one(c);
        i = cache_find(c, e->p.id);
    }
    c->slots[i] = e;
    c->n++;
    return e;
}

struct miss_ctx {
    struct mb_cache *c;
    const int64_t *ids;
    size_t n;
    struct mb_cpost **out;
    int64_t now;
};

static int miss_cb(void *ud, const struct store_mb_post *p)
{
    struct miss_ctx *m = ud;
    /* The store's callback gives a borrowed post: copy what it owns. */
    struct store_mb_post own = *p;

    own.spoiler_text = td_strdup(p->spoiler_text ? p->spoiler_text : "");
    own.source = td_strdup(p->source ? p->source : "");
    own.content = td_strdup(p->content ? p->content : "");
    own.language = p->language ? td_strdup(p->language) : NULL;
    own.mentions = td_malloc((p->nmentions ? p->nmentions : 1) * sizeof(int64_t));
    if (p->nmentions)
        memcpy(own.mentions, p->mentions, p->nmentions * sizeof(int64_t));
    own.tags = td_malloc((p->ntags ? p->ntags : 1) * sizeof(char *));
    for (size_t i = 0; i < p->ntags; i++)
        own.tags[i] = td_strdup(p->tags[i]);
    struct mb_cpost *e = cache_put(m->c, &own, m->now);
    for (size_t i = 0; i < m->n; i++) {
        if (m->ids[i] == e->p.id && m->out[i] == NULL) {
            m->out[i] = e;
            e->refs++;
        }
    }
    mb_cpost_release(e);
    return 0;
}

int mb_posts(struct mb *mb, const int64_t *ids, size_t n, struct mb_cpost **out)
{
    int64_t now = store_now_ms();
    int64_t miss[STORE_MB_STATUSES_MAX];
    size_t nmiss = 0;
    int rc = TD_OK;

    if (n > STORE_MB_STATUSES_MAX)
        return TD_EINVAL;
    for (size_t i = 0; i < n; i++) {
        out[i] = cache_get(mb->cache, ids[i], now);
        if (out[i] == NULL)
            miss[nmiss++] = ids[i];
    }
    if (nmiss > 0) {
        struct miss_ctx m = {.c = mb->cache, .ids = ids, .n = n, .out = out, .now = now};
        rc = store_mb_posts_get(mb->st, miss, nmiss, 0, miss_cb, &m);
        if (rc != TD_OK)
            mb_posts_release(out, n);
    }
    return rc;
}

void mb_posts_release(struct mb_cpost **v, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        mb_cpost_release(v[i]);
        v[i] = NULL;
    }
}

size_t mb_cache_size(const struct mb *mb)
{
    return mb->cache ? mb->cache->n : 0;
}
