/* SPDX-License-Identifier: MIT */
/* The microblog service, transport-free: the one place where posting,
 * editing, deleting, reblogs, favourites, follows, blocks and mutes happen,
 * where visibility is decided (mb_visible()) and where timelines are read.
 * The Mastodon-compatible API and the web pages call this layer and learn of
 * changes only through its events (mb_subscribe()); nothing here knows HTTP,
 * JSON or a connection.
 *
 * Semantics follow the Mastodon API's documented behaviour (Status
 * visibilities public / unlisted / private / direct, notification types,
 * streaming events update / delete / notification / status.update and their
 * streams user, public:local, hashtag:local, direct) and Mastodon's
 * FanOutOnWriteService for who receives a post in the home timeline.
 *
 * Home timelines are fanned out on write into in-memory rings (one per
 * account that has read its home since start, built lazily from
 * store_mb_home_rebuild()); see docs/architecture.md for why and the numbers.
 *
 * Threading: one struct mb per server, used on the loop thread only. Event
 * callbacks run on that thread, synchronously, after the store writes of the
 * action that caused them (inside a store group, before its commit). */
#ifndef TD_MB_H
#define TD_MB_H

#include "store/store.h"
#include "store/store_mb.h"
#include "social/mb_media.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define MB_HOME_DEFAULT 800     /* ring size: Mastodon's FeedManager::MAX_ITEMS */
#define MB_HOME_BUILD 200       /* ids a ring is rebuilt with (it grows to MB_HOME_DEFAULT) */
#define MB_MEDIA_MAX STORE_MB_MEDIA_PER_POST
#define MB_IDEM_KEY_MAX 256     /* bytes of an Idempotency-Key */
#define MB_ERROR_MAX 160
#define MB_CACHE_DEFAULT 32768  /* posts kept by mb_posts() */

struct mb_opts {
    const char *base_url; /* "https://example.org", no trailing slash needed */
    size_t max_chars;     /* 0 = MB_TEXT_DEFAULT_LIMIT (conf microblog.max_chars) */
    size_t home_size;     /* newest ids kept per ring; 0 = MB_HOME_DEFAULT, capped at
                           * STORE_MB_HOME_MAX (what the store can rebuild) */
    size_t cache_size;    /* posts kept in memory; 0 = MB_CACHE_DEFAULT */
};

/* Why an action was refused, for the API's {"error": ...}. code repeats the
 * returned TD_E* value. */
struct mb_error {
    int code;
    char msg[MB_ERROR_MAX];
};

enum mb_event_type {
    MB_EV_UPDATE = 1,        /* a new post or reblog */
    MB_EV_DELETE = 2,        /* a post or reblog went */
    MB_EV_NOTIFICATION = 3,  /* a notification for account_id */
    MB_EV_STATUS_UPDATE = 4, /* a post was edited */
    MB_EV_ACCOUNT = 5,       /* account_id's public data changed (profile, counters):
                              * for caches, not for streams */
    MB_EV_POST_CHANGED = 6,  /* post_id changed (counters, edit, delete): for caches */
};

/* What subscribers get. Arrays are valid only during the callback. The
 * audience of an update or status.update: the home streams of `home`
 * (author and followers as the fan-out computed them; a follower's mutes
 * and show_reblogs are honoured for reblogs, mutes of posts are applied at
 * read time and should be by the stream too), the public stream if
 * `public_stream`, the hashtag streams of `tags`, the direct streams of
 * `direct`. A delete goes to everyone who may hold the post. */
struct mb_event {
    int type;             /* enum mb_event_type */
    int64_t post_id;      /* update, delete, status.update */
    int64_t account_id;   /* notification: recipient; others: the post's author */
    int64_t notif_id;     /* notification */
    const int64_t *home;
    size_t nhome;
    bool public_stream;   /* update: for the public and tag streams; delete: of a public post */
    const char *const *tags;
    size_t ntags;
    const int64_t *direct;
    size_t ndirect;
};
typedef void mb_event_cb(void *ud, const struct mb_event *ev);

struct mb_ring;
struct mb_cache;
struct mb_sub {
    mb_event_cb *cb;
    void *ud;
};

struct mb {
    struct store *st;
    char *base_url;
    char *host;                /* base_url's host: "@user@host" is local */
    size_t max_chars, home_size;
    struct mb_ring **rings;    /* open addressing on account id */
    size_t rings_cap, rings_n;
    struct mb_sub *subs;
    size_t nsubs;
    struct mb_cache *cache;    /* posts by id (mb_posts()) */
    /* fan-out scratch, reused */
    int64_t *aud;
    size_t naud, aud_cap;
};

struct mb_post_req {
    const char *text;        /* required unless media are attached */
    size_t text_len;
    int visibility;          /* enum store_mb_visibility */
    const char *spoiler_text; /* NULL = none */
    bool sensitive;
    int64_t in_reply_to_id;  /* 0 = none */
    const int64_t *media;
    size_t nmedia;
    const char *idempotency_key; /* NULL = none */
    const char *language;    /* NULL = none */
};

/** Set up mb over st. opts may be NULL (defaults). TD_OK. */
int mb_init(struct mb *mb, struct store *st, const struct mb_opts *opts);
void mb_free(struct mb *mb);
/** Add a subscriber; callbacks are called in subscription order. */
void mb_subscribe(struct mb *mb, mb_event_cb *cb, void *ud);

/** May viewer (0 = anonymous) see p? store_mb_can_see() for p and, for a
 *  reblog, its original. False on a store error (closed by default). */
bool mb_visible(struct mb *mb, int64_t viewer, const struct store_mb_post *p);
/** Read post id for viewer into *out: TD_ENOTFOUND also when not visible. */
int mb_get(struct mb *mb, int64_t viewer, int64_t id, struct store_mb_post *out);

/* ---- actions; err may be NULL ---- */

/** Post as author. *id_out gets the new post (or, for a repeated
 *  idempotency key, the earlier one with TD_OK and no events). TD_EINVAL
 *  (bad text, visibility, language, reply, media), TD_ETOOBIG (over the
 *  limit), TD_ENOTFOUND / TD_EDENIED for reply and media, with err->msg. */
int mb_post_create(struct mb *mb, int64_t author, const struct mb_post_req *req,
                   int64_t *id_out, struct mb_error *err);
/** Edit id (author only): text, spoiler, sensitive, language and media of
 *  req; visibility and in_reply_to are kept. The store keeps the history. */
int mb_post_edit(struct mb *mb, int64_t author, int64_t id, const struct mb_post_req *req,
                 struct mb_error *err);
/** Delete id (author only), with its reblogs. */
int mb_post_delete(struct mb *mb, int64_t author, int64_t id, struct mb_error *err);
/** Reblog post id (public or unlisted only) with the reblog's own visibility
 * (public, unlisted or private: who is shown the boost). *reblog_id (may be
 * NULL). Reblogging again is TD_OK and keeps the first reblog. */
int mb_reblog(struct mb *mb, int64_t account, int64_t id, int visibility, int64_t *reblog_id,
              struct mb_error *err);
int mb_unreblog(struct mb *mb, int64_t account, int64_t id, struct mb_error *err);
/** Favourite a visible post. Repeating is TD_OK. */
int mb_favourite(struct mb *mb, int64_t account, int64_t id, struct mb_error *err);
int mb_unfavourite(struct mb *mb, int64_t account, int64_t id, struct mb_error *err);
/** *state (may be NULL): enum store_mb_follow_state. */
int mb_follow(struct mb *mb, int64_t follower, int64_t target, bool show_reblogs, int *state,
              struct mb_error *err);
int mb_unfollow(struct mb *mb, int64_t follower, int64_t target, struct mb_error *err);
int mb_follow_authorize(struct mb *mb, int64_t target, int64_t requester, struct mb_error *err);
int mb_follow_reject(struct mb *mb, int64_t target, int64_t requester, struct mb_error *err);
int mb_block(struct mb *mb, int64_t account, int64_t target, struct mb_error *err);
int mb_unblock(struct mb *mb, int64_t account, int64_t target, struct mb_error *err);
/** expires_at 0 = never. */
int mb_mute(struct mb *mb, int64_t account, int64_t target, bool notifications,
            int64_t expires_at, struct mb_error *err);
int mb_unmute(struct mb *mb, int64_t account, int64_t target, struct mb_error *err);

/* ---- lists: every post id in them is visible to viewer (mb_visible()), and
 * posts by accounts the viewer blocks or mutes are left out of home, public,
 * tag and context lists. Cursors page as store_mb_page says. ---- */

/** Home timeline from the viewer's ring (built on first read), falling back
 *  to the store (at most STORE_MB_HOME_MAX deep) past the ring's oldest id. */
int mb_home(struct mb *mb, int64_t viewer, const struct store_mb_page *pg,
            struct store_mb_list *out);
int mb_public(struct mb *mb, int64_t viewer, bool only_media, const struct store_mb_page *pg,
              struct store_mb_list *out);
int mb_tag(struct mb *mb, int64_t viewer, const char *tag, const struct store_mb_page *pg,
           struct store_mb_list *out);
/** flags: STORE_MB_EXCLUDE_REPLIES, STORE_MB_EXCLUDE_REBLOGS, STORE_MB_ONLY_MEDIA. */
int mb_account(struct mb *mb, int64_t viewer, int64_t account, int flags,
               const struct store_mb_page *pg, struct store_mb_list *out);
/** Thread around id (which must be visible): visible ancestors and descendants,
 *  caller-freed arrays (free()). */
int mb_context(struct mb *mb, int64_t viewer, int64_t id, int64_t **anc, size_t *nanc,
               int64_t **desc, size_t *ndesc);
/** Posts viewer favourited that viewer may still see (cursor: the favourite). */
int mb_favourites(struct mb *mb, int64_t viewer, const struct store_mb_page *pg,
                  struct store_mb_list *out);
/** Accounts that favourited id; TD_ENOTFOUND when viewer may not see id. */
int mb_favourited_by(struct mb *mb, int64_t viewer, int64_t id, const struct store_mb_page *pg,
                     struct store_mb_list *out);
int mb_reblogged_by(struct mb *mb, int64_t viewer, int64_t id, const struct store_mb_page *pg,
                    struct store_mb_list *out);

/* Notifications of viewer (newest first). Those pointing at a post viewer
 * may no longer see are left out. */
struct mb_notif_list {
    size_t n;
    struct store_mb_notif v[STORE_MB_ACCOUNTS_MAX];
};
int mb_notifications(struct mb *mb, int64_t viewer, unsigned types, unsigned exclude,
                     const struct store_mb_page *pg, struct mb_notif_list *out);
int mb_notif_dismiss(struct mb *mb, int64_t viewer, int64_t id);
int mb_notif_clear(struct mb *mb, int64_t viewer);
int mb_notif_mark_read(struct mb *mb, int64_t viewer, int64_t upto);

/** Store a processed upload (mb_media_process_async()'s result) as account's
 *  unattached media with description (may be NULL) and focus (NULL: none; x
 *  and y in [-1, 1], else TD_EINVAL). *out (zeroed first) gets
 *  the row without its bytes, for the API's entity; its strings point into
 *  res and description, so use it before freeing res (never
 *  store_mb_media_clear() it). Codes as store_mb_media_create(). */
int mb_media_save(struct mb *mb, int64_t account, const struct mb_media_result *res,
                  const char *description, const double *focus, struct store_mb_media *out);

/** Accounts whose home ring is built (for tests and metrics). */
size_t mb_rings(const struct mb *mb);

/* ---- cached reads: the hot path of timelines (mb_cache.c) ---- */

/* A post as the anonymous public sees it (favourited and reblogged false),
 * shared between readers. text is free for the API layer to attach its
 * serialized entity to (malloc'd; freed with the entry, which goes whenever
 * the post changes). */
struct mb_cpost {
    struct store_mb_post p;
    char *text;
    size_t text_len;
    int refs;
    int64_t expires;
};
/** out[i] = the post ids[i] (n <= STORE_MB_STATUSES_MAX), a reference the
 *  caller releases (mb_posts_release()), or NULL for an unknown id. Misses
 *  are read in one batch. Says nothing of visibility: the ids must come
 *  from the lists below, or be checked with mb_visible(). */
int mb_posts(struct mb *mb, const int64_t *ids, size_t n, struct mb_cpost **out);
void mb_posts_release(struct mb_cpost **v, size_t n);
void mb_cpost_release(struct mb_cpost *e);
/** Posts in the cache (tests, metrics). */
size_t mb_cache_size(const struct mb *mb);
/** Tell the service (and through MB_EV_ACCOUNT its caches) that account id's
 *  public data changed outside it: a profile, an avatar, a lock. */
void mb_account_changed(struct mb *mb, int64_t id);

/* For mb.c. */
struct mb_cache *mb_cache_new(size_t max);
void mb_cache_free(struct mb_cache *c);
void mb_cache_drop(struct mb_cache *c, int64_t id);

#endif
