/* SPDX-License-Identifier: MIT */
/* Sliding-window rate limiter with a bounded key table; see auth_ratelimit.h.
 *
 * Window choice: each key keeps the times of its most recent max_events
 * failures in a small ring (8 bytes each). A key is blocked while the
 * max_events-th most recent failure is younger than the window, and then
 * retry_after is exactly (that failure + window - now). This is exact, where
 * the two-window approximation can both over- and under-count by up to the
 * previous window's weight and makes retry_after awkward to compute; the
 * ring's cost is small because login limits are small (a handful per account,
 * tens per address) and max_events is clamped to AUTH_RATELIMIT_EVENTS_MAX.
 * Rings grow lazily when a reload raises max_events.
 *
 * Table: chained hashing with SipHash-2-4 (crypto_shorthash) under a random
 * per-table key, so an attacker who picks usernames cannot aim them all at
 * one chain. The bucket count is a power of two >= max_keys, so chains stay
 * short. Every entry is also on a list ordered by its last failure (oldest
 * first); when the table is full, a new key evicts the list head. With a
 * monotonic clock the head has the oldest last failure, so if any entry's
 * window has expired the head's has too: "expired first, else oldest" in
 * O(1) without a scan. */
#include "auth/auth_ratelimit.h"

#include "core/err.h"

#include <sodium.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

struct rl_entry {
    struct rl_entry *next;     /* hash chain */
    struct rl_entry *older;    /* age list: the entry hit before this one, or NULL */
    struct rl_entry *newer;    /* age list: the entry hit after this one, or NULL */
    uint64_t hash;             /* SipHash of key */
    int64_t *times;            /* owned ring of failure times (ms), cap slots */
    unsigned cap;              /* slots in times */
    unsigned n;                /* failures stored, <= cap */
    unsigned head;             /* slot the next failure goes to */
    int64_t last;              /* time of the newest failure */
    size_t key_len;            /* bytes of key, <= AUTH_RATELIMIT_KEY_MAX */
    char key[];                /* key_len bytes and a NUL */
};

struct auth_ratelimit {
    struct rl_entry **buckets; /* owned, nbuckets chain heads */
    size_t nbuckets;           /* a power of two */
    size_t count;              /* entries held */
    size_t max_keys;           /* most entries ever held */
    unsigned max_events;       /* failures allowed per window */
    int64_t window_ms;         /* window length */
    struct rl_entry *oldest;   /* age list head: evicted first */
    struct rl_entry *newest;   /* age list tail */
    uint8_t sip_key[crypto_shorthash_KEYBYTES]; /* random per table */
};

static unsigned clamp_events(unsigned n)
{
    if (n < 1)
        return 1;
    return n > AUTH_RATELIMIT_EVENTS_MAX ? AUTH_RATELIMIT_EVENTS_MAX : n;
}

static int64_t clamp_window(int64_t ms)
{
    return ms < 1 ? 1 : ms;
}

struct auth_ratelimit *auth_ratelimit_new(unsigned max_events, int64_t window_ms, size_t max_keys)
{
    struct auth_ratelimit *rl;

    TD_ASSERT(sodium_init() >= 0);
    rl = td_calloc(1, sizeof(*rl));
    if (max_keys < 1)
        max_keys = 1;
    if (max_keys > AUTH_RATELIMIT_KEYS_MAX)
        max_keys = AUTH_RATELIMIT_KEYS_MAX;
    rl->max_keys = max_keys;
    rl->nbuckets = 16;
    while (rl->nbuckets < max_keys)
        rl->nbuckets *= 2;
    rl->buckets = td_calloc(rl->nbuckets, sizeof(*rl->buckets));
    rl->max_events = clamp_events(max_events);
    rl->window_ms = clamp_window(window_ms);
    randombytes_buf(rl->sip_key, sizeof(rl->sip_key));
    return rl;
}

void auth_ratelimit_free(struct auth_ratelimit *rl)
{
    struct rl_entry *e, *next;

    if (rl == NULL)
        return;
    for (e = rl->oldest; e != NULL; e = next) {
        next = e->newer;
        free(e->times);
        free(e);
    }
    free(rl->buckets);
    free(rl);
}

static uint64_t key_hash(const struct auth_ratelimit *rl, const char *key, size_t len)
{
    uint8_t out[crypto_shorthash_BYTES];
    uint64_t h;

    crypto_shorthash(out, (const unsigned char *)key, len, rl->sip_key);
    memcpy(&h, out, sizeof(h));
    return h;
}

/* The chain link that points at key's entry, or at the chain's NULL end. */
static struct rl_entry **find_link(struct auth_ratelimit *rl, const char *key, size_t len,
                                   uint64_t h)
{
    struct rl_entry **link = &rl->buckets[h & (rl->nbuckets - 1)];

    while (*link != NULL) {
        struct rl_entry *e = *link;
        if (e->hash == h && e->key_len == len && memcmp(e->key, key, len) == 0)
            break;
        link = &e->next;
    }
    return link;
}

static void age_unlink(struct auth_ratelimit *rl, struct rl_entry *e)
{
    if (e->older)
        e->older->newer = e->newer;
    else
        rl->oldest = e->newer;
    if (e->newer)
        e->newer->older = e->older;
    else
        rl->newest = e->older;
    e->older = e->newer = NULL;
}

static void age_append(struct auth_ratelimit *rl, struct rl_entry *e)
{
    e->older = rl->newest;
    e->newer = NULL;
    if (rl->newest)
        rl->newest->newer = e;
    else
        rl->oldest = e;
    rl->newest = e;
}

/* Unlink e (found through *link) from its chain and the age list; free it. */
static void remove_entry(struct auth_ratelimit *rl, struct rl_entry **link)
{
    struct rl_entry *e = *link;

    *link = e->next;
    age_unlink(rl, e);
    free(e->times);
    free(e);
    rl->count--;
}

static size_t key_len_of(const char *key)
{
    return strnlen(key, AUTH_RATELIMIT_KEY_MAX); /* longer keys are cut */
}

/* The k-th most recent failure time (1 <= k <= e->n). */
static int64_t nth_recent(const struct rl_entry *e, unsigned k)
{
    return e->times[(e->head + e->cap - k) % e->cap];
}

int auth_ratelimit_check(struct auth_ratelimit *rl, const char *key, int64_t now_ms,
                         int64_t *retry_after_ms)
{
    struct rl_entry **link;
    struct rl_entry *e;
    size_t len;
    int64_t t;

    if (retry_after_ms)
        *retry_after_ms = 0;
    if (rl == NULL || key == NULL)
        return TD_OK;
    len = key_len_of(key);
    link = find_link(rl, key, len, key_hash(rl, key, len));
    e = *link;
    if (e == NULL)
        return TD_OK;
    if (now_ms - e->last >= rl->window_ms) {
        remove_entry(rl, link); /* every failure has left the window */
        return TD_OK;
    }
    if (e->n < rl->max_events)
        return TD_OK;
    t = nth_recent(e, rl->max_events);
    if (now_ms - t >= rl->window_ms)
        return TD_OK;
    if (retry_after_ms)
        *retry_after_ms = t + rl->window_ms - now_ms;
    return TD_ELIMIT;
}

/* Make e's ring hold at least want slots, keeping the stored times in order. */
static void ring_grow(struct rl_entry *e, unsigned want)
{
    int64_t *t = td_malloc((size_t)want * sizeof(*t));

    for (unsigned i = 0; i < e->n; i++)
        t[i] = nth_recent(e, e->n - i); /* oldest first */
    free(e->times);
    e->times = t;
    e->cap = want;
    e->head = e->n % want;
}

void auth_ratelimit_hit(struct auth_ratelimit *rl, const char *key, int64_t now_ms)
{
    struct rl_entry **link;
    struct rl_entry *e;
    uint64_t h;
    size_t len;

    if (rl == NULL || key == NULL)
        return;
    len = key_len_of(key);
    h = key_hash(rl, key, len);
    link = find_link(rl, key, len, h);
    e = *link;
    if (e == NULL) {
        if (rl->count >= rl->max_keys) {
            struct rl_entry *victim = rl->oldest;
            remove_entry(rl, find_link(rl, victim->key, victim->key_len, victim->hash));
        }
        e = td_calloc(1, sizeof(*e) + len + 1);
        memcpy(e->key, key, len);
        e->key[len] = '\0';
        e->key_len = len;
        e->hash = h;
        e->next = rl->buckets[h & (rl->nbuckets - 1)];
        rl->buckets[h & (rl->nbuckets - 1)] = e;
        rl->count++;
    } else {
        age_unlink(rl, e);
    }
    if (e->cap < rl->max_events)
        ring_grow(e, rl->max_events);
    e->times[e->head] = now_ms;
    e->head = (e->head + 1) % e->cap;
    if (e->n < e->cap)
        e->n++;
    e->last = now_ms;
    age_append(rl, e);
}

void auth_ratelimit_reset(struct auth_ratelimit *rl, const char *key)
{
    struct rl_entry **link;
    size_t len;

    if (rl == NULL || key == NULL)
        return;
    len = key_len_of(key);
    link = find_link(rl, key, len, key_hash(rl, key, len));
    if (*link != NULL)
        remove_entry(rl, link);
}

void auth_ratelimit_configure(struct auth_ratelimit *rl, unsigned max_events, int64_t window_ms)
{
    rl->max_events = clamp_events(max_events);
    rl->window_ms = clamp_window(window_ms);
}

size_t auth_ratelimit_size(const struct auth_ratelimit *rl)
{
    return rl ? rl->count : 0;
}
