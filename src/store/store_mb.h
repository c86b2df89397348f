/* SPDX-License-Identifier: MIT */
/* The microblog's storage (migration 0008_microblog): posts with their edit
 * history, mentions, hashtags and media, follows and follow requests, blocks,
 * mutes, favourites, reblogs, notifications and per-account counters. It is
 * the layer the Mastodon-compatible service (src/social/) calls; the shapes
 * follow the Mastodon API's entities (Status, Relationship, Notification,
 * MediaAttachment, StatusEdit) and its paging (max_id, since_id, min_id,
 * limit), but nothing here knows HTTP or JSON.
 *
 * IDs come from ids_next() and are time-ordered, so every list is "newest
 * first" and pages by the id of the row it lists (a favourite's own id for
 * the favourites list, a follow's id for followers, a post's id for
 * timelines): store_mb_ref.cursor is that id, for the Link header's max_id
 * and min_id. Lists return ids only; store_mb_posts_get() then reads up to
 * STORE_MB_STATUSES_MAX posts in one query.
 *
 * Visibility is the caller's business beyond what the queries say: each
 * list below states which visibilities it returns. The service must filter
 * account and context lists per viewer (store_mb_can_see()), so that
 * followers-only and direct posts never leak. Blocks and mutes filter
 * nothing here either, except in store_mb_can_see() (blocks) and
 * store_mb_follow() (refused across a block).
 *
 * Writes of several rows run in one transaction; inside a caller's
 * store_begin() they use a savepoint instead, so many calls can be grouped
 * (store_mb_bulk_begin()). Counters (replies, reblogs, favourites, followers,
 * following, statuses) are kept by triggers in the same transaction, also
 * when rows go by cascade (a deleted account). Return codes as in store.h,
 * plus TD_ETOOBIG for a value over its cap, TD_ELIMIT for too many items
 * (mentions, tags, media per post) and TD_EDENIED for an action a block
 * forbids or on another account's media. */
#ifndef TD_STORE_MB_H
#define TD_STORE_MB_H

#include "store/store.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define STORE_MB_SOURCE_MAX (64 * 1024)            /* bytes of a post's source text */
#define STORE_MB_CONTENT_MAX (4 * 1024 * 1024)     /* bytes of its rendered HTML */
#define STORE_MB_SPOILER_MAX 1024                  /* bytes of a content warning */
#define STORE_MB_LANGUAGE_MAX 16                   /* bytes of a language tag */
#define STORE_MB_MENTIONS_MAX 64                   /* mentions per post */
#define STORE_MB_TAGS_MAX 64                       /* hashtags per post */
#define STORE_MB_TAG_MAX 256                       /* bytes of a tag name */
#define STORE_MB_MEDIA_PER_POST 4                  /* media attachments per post */
/* One media row (data + thumbnail) must fit SQLite's 8 MiB value limit
 * (STORE_MAX_VALUE in store_sqlite.c); the service decides smaller. */
#define STORE_MB_MEDIA_MAX (7 * 1024 * 1024)
#define STORE_MB_THUMB_MAX (512 * 1024)
#define STORE_MB_DESCRIPTION_MAX 1500              /* code points of a media description */
#define STORE_MB_TYPE_MAX 128                      /* bytes of a content type */
#define STORE_MB_BLURHASH_MAX 128
#define STORE_MB_STATUSES_MAX 40                   /* page cap for lists of posts */
#define STORE_MB_ACCOUNTS_MAX 80                   /* page cap for lists of accounts */
#define STORE_MB_LIMIT_DEFAULT 20
#define STORE_MB_ANCESTORS_MAX 40                  /* store_mb_context() */
#define STORE_MB_DESCENDANTS_MAX 4096
#define STORE_MB_DEPTH_MAX 64
#define STORE_MB_HOME_MAX 800                      /* store_mb_home_rebuild() */
#define STORE_MB_SEARCH_MAX 40

enum store_mb_visibility {
    STORE_MB_PUBLIC = 0,
    STORE_MB_UNLISTED = 1,
    STORE_MB_PRIVATE = 2, /* followers only */
    STORE_MB_DIRECT = 3,  /* mentioned accounts only */
};

/* Mastodon's paging. max_id and since_id: the newest `limit` rows with
 * since_id < cursor < max_id; min_id: the oldest `limit` rows above min_id,
 * still returned newest first. 0 means absent. limit <= 0 means
 * STORE_MB_LIMIT_DEFAULT; larger than the list's cap means the cap. */
struct store_mb_page {
    int64_t max_id, since_id, min_id;
    int limit;
};

/* One listed row: cursor pages the list, id is the post or account. */
struct store_mb_ref {
    int64_t cursor;
    int64_t id;
};

struct store_mb_list {
    size_t n;
    struct store_mb_ref v[STORE_MB_ACCOUNTS_MAX];
};

struct store_mb_post {
    int64_t id;
    int64_t account_id;
    int64_t in_reply_to_id;         /* 0 = none */
    int64_t in_reply_to_account_id; /* set by the store from the parent */
    int64_t reblog_of_id;           /* 0 = not a reblog */
    int visibility;                 /* enum store_mb_visibility */
    bool sensitive;
    char *spoiler_text;             /* never NULL once read */
    char *source;                   /* as typed; never NULL once read */
    char *content;                  /* rendered HTML; never NULL once read */
    char *language;                 /* may be NULL */
    int64_t created_at;
    int64_t edited_at;              /* 0 = never edited */
    int64_t replies_count, reblogs_count, favourites_count;
    /* Filled when read: */
    int64_t *mentions;              /* account ids, ascending */
    size_t nmentions;
    char **tags;                    /* names, ascending */
    size_t ntags;
    int64_t media[STORE_MB_MEDIA_PER_POST]; /* attachment ids, oldest upload first */
    size_t nmedia;
    bool favourited, reblogged;     /* by the viewer given to the read */
}; /* strings and arrays owned by the struct when filled by the store */

/** Free what a store-filled post owns and zero it. NULL-safe. */
void store_mb_post_clear(struct store_mb_post *p);

/* What a new post or an edit carries besides the post row: the mentioned
 * account ids (resolved by the service), the normalized tag names (mb_text)
 * and the media to attach (the author's own, not yet on another post).
 * Duplicates are ignored. */
struct store_mb_extras {
    const int64_t *mentions;
    size_t nmentions;        /* <= STORE_MB_MENTIONS_MAX */
    const char *const *tags; /* non-empty, no bytes <= 0x20 */
    size_t ntags;            /* <= STORE_MB_TAGS_MAX */
    const int64_t *media;
    size_t nmedia;           /* <= STORE_MB_MEDIA_PER_POST */
};

/** Create p (account_id, text fields, visibility, sensitive, language,
 *  in_reply_to_id; reblog_of_id must be 0: see store_mb_reblog()). Sets p->id,
 *  p->created_at (now unless set) and p->in_reply_to_account_id. idem (may be
 *  NULL) is the SHA-256 of the Idempotency-Key: if this account already made a
 *  post with it, TD_EEXIST and p->id = that post. TD_ENOTFOUND for an unknown
 *  author, parent, mentioned account or media; TD_EDENIED for media of another
 *  account or already attached; TD_ETOOBIG / TD_ELIMIT / TD_EINVAL for limits. */
int store_mb_post_create(struct store *st, struct store_mb_post *p,
                         const struct store_mb_extras *x, const uint8_t idem[32]);
/** One post into *out (zeroed first). viewer (0 = none) fills favourited and
 *  reblogged. TD_ENOTFOUND. */
int store_mb_post_get(struct store *st, int64_t id, int64_t viewer, struct store_mb_post *out);
/** Called per post; p is valid only during the call. Non-zero stops. */
typedef int store_mb_post_cb(void *ud, const struct store_mb_post *p);
/** The posts of ids (any number; read STORE_MB_STATUSES_MAX per query), newest
 *  first within each chunk of STORE_MB_STATUSES_MAX; missing ids are skipped. */
int store_mb_posts_get(struct store *st, const int64_t *ids, size_t n, int64_t viewer,
                       store_mb_post_cb *cb, void *ud);
/** Replace the text of post id (source, content, spoiler_text, sensitive,
 *  language from p; p->id/account_id ignored), its mentions, tags and media
 *  (x; NULL = none), keeping the previous version in the history. Sets
 *  edited_at to now. Reblogs cannot be edited (TD_EINVAL). */
int store_mb_post_edit(struct store *st, int64_t id, const struct store_mb_post *p,
                       const struct store_mb_extras *x);

/* A previous or the current version of a post (Mastodon's StatusEdit). */
struct store_mb_version {
    int64_t created_at; /* when this version was written */
    char *source, *content, *spoiler_text;
    bool sensitive;
};
typedef int store_mb_version_cb(void *ud, const struct store_mb_version *v);
/** The versions of a post, oldest first, the current one last (one version
 *  for a post never edited). TD_ENOTFOUND. */
int store_mb_post_history(struct store *st, int64_t id, store_mb_version_cb *cb, void *ud);

/* What store_mb_post_delete() removed, for the caller's fan-out. */
struct store_mb_deleted {
    struct store_mb_post post;  /* as it was, with mentions and tags (source for redraft) */
    int64_t *reblogs;           /* ids of the reblogs deleted with it */
    int64_t *reblog_accounts;   /* their authors, same order */
    size_t nreblogs;
};
void store_mb_deleted_clear(struct store_mb_deleted *d);
/** Delete post id if account_id wrote it (account_id 0: any author, for
 *  moderation), with its reblogs, mentions, tags, favourites, edits and
 *  notifications; its media are detached (kept for a redraft). Counters are
 *  fixed. *out (may be NULL; zeroed first) gets what went. TD_ENOTFOUND for
 *  an unknown post or one of another account. */
int store_mb_post_delete(struct store *st, int64_t id, int64_t account_id,
                         struct store_mb_deleted *out);

/** Reblog post_id as account_id (a reblog of a reblog reblogs the original)
 *  with the given visibility. *id gets the reblog; TD_EEXIST (and *id the
 *  existing one) if already reblogged; TD_ENOTFOUND for an unknown post;
 *  TD_EDENIED when either account blocks the other. Does not check the
 *  original's visibility: the service refuses private and direct posts. */
int store_mb_reblog(struct store *st, int64_t account_id, int64_t post_id, int visibility,
                    int64_t *id);
/** Delete account_id's reblog of post_id (or of its original); *id (may be
 *  NULL) gets the deleted reblog's id. TD_ENOTFOUND if there was none. */
int store_mb_unreblog(struct store *st, int64_t account_id, int64_t post_id, int64_t *id);
/** Favourite post_id (a reblog favourites its original). TD_EEXIST if already;
 *  TD_ENOTFOUND for an unknown post; TD_EDENIED across a block. */
int store_mb_favourite(struct store *st, int64_t account_id, int64_t post_id);
/** TD_ENOTFOUND if it was not favourited. */
int store_mb_unfavourite(struct store *st, int64_t account_id, int64_t post_id);
/** Accounts that favourited post_id (cursor: the favourite), capped at
 *  STORE_MB_ACCOUNTS_MAX. */
int store_mb_favourited_by(struct store *st, int64_t post_id, const struct store_mb_page *pg,
                           struct store_mb_list *out);
/** Accounts that reblogged post_id (cursor: the reblog's id). */
int store_mb_reblogged_by(struct store *st, int64_t post_id, const struct store_mb_page *pg,
                          struct store_mb_list *out);
/** Posts account_id favourited (cursor: the favourite; id: the post), capped
 *  at STORE_MB_STATUSES_MAX. Any visibility: the caller filters. */
int store_mb_favourites(struct store *st, int64_t account_id, const struct store_mb_page *pg,
                        struct store_mb_list *out);

/* ---- timelines: ids only (cursor = id), capped at STORE_MB_STATUSES_MAX ---- */

enum {
    STORE_MB_EXCLUDE_REPLIES = 1, /* replies to others go; self-threads stay (Mastodon) */
    STORE_MB_EXCLUDE_REBLOGS = 2,
    STORE_MB_ONLY_MEDIA = 4,
};
/** Posts and reblogs by account_id, EVERY visibility: the caller keeps what
 *  the viewer may see. flags: STORE_MB_EXCLUDE_*, STORE_MB_ONLY_MEDIA. */
int store_mb_timeline_account(struct store *st, int64_t account_id, int flags,
                              const struct store_mb_page *pg, struct store_mb_list *out);
/** Public posts (visibility 0), no reblogs, all accounts (there is no
 *  federation: everything is local). Optionally only with media. */
int store_mb_timeline_public(struct store *st, bool only_media, const struct store_mb_page *pg,
                             struct store_mb_list *out);
/** Public posts carrying the tag (normalized name); an unknown tag is an empty list. */
int store_mb_timeline_tag(struct store *st, const char *tag, const struct store_mb_page *pg,
                          struct store_mb_list *out);
/** Direct posts written by account_id or mentioning it. */
int store_mb_timeline_direct(struct store *st, int64_t account_id, const struct store_mb_page *pg,
                             struct store_mb_list *out);
/** The newest `max` (<= STORE_MB_HOME_MAX) post ids for account_id's home
 *  timeline, newest first, into ids (caller's array of max): its own posts and
 *  those of the accounts it follows (their reblogs only with show_reblogs),
 *  direct posts only when it wrote them or is mentioned. *n gets the count.
 *  For rebuilding an in-memory home timeline after a restart; it reads every
 *  post of the followed accounts, so run it off the loop for large follows. */
int store_mb_home_rebuild(struct store *st, int64_t account_id, int64_t *ids, size_t max,
                          size_t *n);
/** A thread around post id: *ancestors (parents, oldest first, at most
 *  STORE_MB_ANCESTORS_MAX) and *descendants (replies at any depth up to
 *  max_depth (<= STORE_MB_DEPTH_MAX), at most max_count (<=
 *  STORE_MB_DESCENDANTS_MAX), oldest first). Both arrays are caller-freed
 *  (free(); NULL when empty). EVERY visibility: the caller filters each. */
int store_mb_context(struct store *st, int64_t id, int max_depth, int max_count,
                     int64_t **ancestors, size_t *nancestors, int64_t **descendants,
                     size_t *ndescendants);

/* ---- follows, blocks, mutes ---- */

enum store_mb_follow_state {
    STORE_MB_FOLLOW_EXISTED = 0,   /* already following: show_reblogs updated */
    STORE_MB_FOLLOW_NEW = 1,       /* now following */
    STORE_MB_FOLLOW_REQUESTED = 2, /* target is locked: a follow request is pending */
};
/** follower follows target. *state (may be NULL) says what happened.
 *  TD_EINVAL for oneself; TD_ENOTFOUND for an unknown account; TD_EDENIED
 *  when either blocks the other. */
int store_mb_follow(struct store *st, int64_t follower, int64_t target, bool show_reblogs,
                    int *state);
/** Remove the follow and any pending request. TD_OK even if there was none. */
int store_mb_unfollow(struct store *st, int64_t follower, int64_t target);
/** Turn requester's pending request to target into a follow. TD_ENOTFOUND if none. */
int store_mb_follow_authorize(struct store *st, int64_t target, int64_t requester);
/** Drop the pending request. TD_ENOTFOUND if none. */
int store_mb_follow_reject(struct store *st, int64_t target, int64_t requester);
/** Pending requests to account_id (cursor: the request; id: the requester). */
int store_mb_follow_requests(struct store *st, int64_t account_id, const struct store_mb_page *pg,
                             struct store_mb_list *out);
/** Accounts following account_id (cursor: the follow). */
int store_mb_followers(struct store *st, int64_t account_id, const struct store_mb_page *pg,
                       struct store_mb_list *out);
/** Accounts account_id follows (cursor: the follow). */
int store_mb_following(struct store *st, int64_t account_id, const struct store_mb_page *pg,
                       struct store_mb_list *out);
/** Called per follower id (in follow order). Non-zero stops. */
typedef int store_mb_id_cb(void *ud, int64_t id);
/** Every follower of account_id, for the fan-out of a new post: one covering
 *  index range (follows_followee), no allocation per row. */
int store_mb_follower_ids(struct store *st, int64_t account_id, store_mb_id_cb *cb, void *ud);

struct store_mb_relationship {
    int64_t id; /* the target */
    bool following, showing_reblogs, followed_by, requested, requested_by;
    bool blocking, blocked_by, muting, muting_notifications;
};
/** account_id's relationship to each of targets[0..n) (n <= STORE_MB_ACCOUNTS_MAX)
 *  into out[0..n). A mute past its expires_at counts as gone. */
int store_mb_relationships(struct store *st, int64_t account_id, const int64_t *targets,
                           size_t n, struct store_mb_relationship *out);
/** Block target: also removes follows and requests both ways. TD_EINVAL for
 *  oneself; TD_ENOTFOUND for an unknown account; TD_OK if already blocked. */
int store_mb_block(struct store *st, int64_t account_id, int64_t target);
int store_mb_unblock(struct store *st, int64_t account_id, int64_t target);
/** Accounts account_id blocks (cursor: the block). */
int store_mb_blocks(struct store *st, int64_t account_id, const struct store_mb_page *pg,
                    struct store_mb_list *out);
/** Mute (or update a mute); expires_at 0 = never. */
int store_mb_mute(struct store *st, int64_t account_id, int64_t target, bool hide_notifications,
                  int64_t expires_at);
int store_mb_unmute(struct store *st, int64_t account_id, int64_t target);
/** When account_id's mute of target ends (*expires_at 0: never).
 *  TD_ENOTFOUND when there is no mute, or it has ended. */
int store_mb_mute_expires(struct store *st, int64_t account_id, int64_t target,
                          int64_t *expires_at);
/** Accounts account_id mutes, expired mutes left out (cursor: the mute). */
int store_mb_mutes(struct store *st, int64_t account_id, const struct store_mb_page *pg,
                   struct store_mb_list *out);

/** May viewer (0 = not logged in) see post? public and unlisted: yes;
 *  private: the author or a follower of the author; direct: the author or a
 *  mentioned account; never when the author blocks the viewer or the viewer
 *  blocks the author. A reblog is judged by its own row: the caller also
 *  asks about its original. TD_ENOTFOUND for an unknown post. */
int store_mb_can_see(struct store *st, int64_t viewer, int64_t post, bool *ok);

/* ---- notifications ---- */

enum store_mb_notif_type {
    STORE_MB_N_MENTION = 0,
    STORE_MB_N_STATUS,
    STORE_MB_N_REBLOG,
    STORE_MB_N_FOLLOW,
    STORE_MB_N_FOLLOW_REQUEST,
    STORE_MB_N_FAVOURITE,
    STORE_MB_N_UPDATE,
    STORE_MB_N_COUNT
};
/** The API name of a type ("mention", ...), or NULL out of range. */
const char *store_mb_notif_name(int type);
/** The type for an API name, or -1. */
int store_mb_notif_type(const char *name);

struct store_mb_notif {
    int64_t id;
    int64_t account_id; /* the recipient */
    int type;           /* enum store_mb_notif_type */
    int64_t from_account_id;
    int64_t post_id;    /* 0 = none */
    int64_t created_at;
    bool read;
};
/** Add n (account_id, type, from_account_id, post_id); sets n->id and
 *  n->created_at. A favourite, reblog or follow that already has a
 *  notification from the same account (and post) gives TD_EEXIST. */
int store_mb_notif_add(struct store *st, struct store_mb_notif *n);
typedef int store_mb_notif_cb(void *ud, const struct store_mb_notif *n);
/** account_id's notifications, newest first, paged by id (cap
 *  STORE_MB_ACCOUNTS_MAX). types / exclude: bit masks of 1 << type (0 = no
 *  filter). */
int store_mb_notif_list(struct store *st, int64_t account_id, unsigned types, unsigned exclude,
                        const struct store_mb_page *pg, store_mb_notif_cb *cb, void *ud);
/** One notification of account_id. TD_ENOTFOUND. */
int store_mb_notif_get(struct store *st, int64_t account_id, int64_t id,
                       struct store_mb_notif *out);
/** Delete one. TD_ENOTFOUND. */
int store_mb_notif_dismiss(struct store *st, int64_t account_id, int64_t id);
/** Delete all of account_id's. */
int store_mb_notif_clear(struct store *st, int64_t account_id);
/** Mark read every notification with id <= upto (Mastodon's markers). */
int store_mb_notif_mark_read(struct store *st, int64_t account_id, int64_t upto);
/** Unread notifications of account_id. */
int store_mb_notif_unread(struct store *st, int64_t account_id, int64_t *n);

/* ---- media ---- */

struct store_mb_media {
    int64_t id;
    int64_t account_id;
    int64_t post_id;     /* 0 until attached */
    char *content_type;
    void *data;          /* NULL unless asked for */
    size_t len;
    void *thumb;         /* NULL if none or not asked for */
    size_t thumb_len;
    char *thumb_type;    /* may be NULL */
    int width, height;
    char *description;   /* never NULL once read */
    char *blurhash;      /* may be NULL */
    bool has_focus;      /* focus_x/y set: the image's focal point, each in [-1, 1] */
    double focus_x, focus_y;
    int64_t created_at;
};
void store_mb_media_clear(struct store_mb_media *m);
/** Insert m (account_id, content_type, data/len, optional thumb, sizes,
 *  description, blurhash, focus; post_id ignored). TD_EINVAL for a focus
 *  outside [-1, 1]. Sets m->id and m->created_at.
 *  TD_ETOOBIG over STORE_MB_MEDIA_MAX / STORE_MB_THUMB_MAX /
 *  STORE_MB_DESCRIPTION_MAX; TD_EINVAL for a missing type or empty data. */
int store_mb_media_create(struct store *st, struct store_mb_media *m);
/** Read media id into *out (zeroed first); the bytes only if with_data. */
int store_mb_media_get(struct store *st, int64_t id, bool with_data, struct store_mb_media *out);
/** Attach account_id's media to its post_id (TD_EDENIED: someone else's
 *  media or post, or media on another post; TD_ELIMIT: the post has
 *  STORE_MB_MEDIA_PER_POST). */
int store_mb_media_attach(struct store *st, int64_t account_id, int64_t media_id,
                          int64_t post_id);
/** Set the description (NULL = "") of account_id's media (TD_EDENIED: someone else's). */
int store_mb_media_describe(struct store *st, int64_t account_id, int64_t media_id,
                            const char *description);
/** Set the focal point of account_id's media (TD_EDENIED: someone else's;
 *  TD_EINVAL: x or y outside [-1, 1]). */
int store_mb_media_set_focus(struct store *st, int64_t account_id, int64_t media_id, double x,
                             double y);
/** Delete account_id's media if it is not attached (TD_EDENIED if it is). */
int store_mb_media_delete(struct store *st, int64_t account_id, int64_t media_id);
/** Delete unattached media created before `before`; *n (may be NULL) the count. */
int store_mb_media_purge(struct store *st, int64_t before, int64_t *n);

/* ---- search, accounts ---- */

/** Tags whose normalized name starts with prefix (non-empty), by name; ids
 *  and names into the callback. limit capped at STORE_MB_SEARCH_MAX. */
typedef int store_mb_tag_cb(void *ud, int64_t id, const char *name);
int store_mb_tag_search(struct store *st, const char *prefix, int limit, store_mb_tag_cb *cb,
                        void *ud);
/** Enabled accounts whose username (ASCII case-insensitive) or display name
 *  (ASCII case-insensitive, a full scan of accounts) starts with prefix;
 *  username matches first. ids (caller's array of limit); limit capped at
 *  STORE_MB_SEARCH_MAX. */
int store_mb_account_search(struct store *st, const char *prefix, int limit, int64_t *ids,
                            size_t *n);

struct store_mb_stats {
    int64_t followers_count, following_count, statuses_count;
    int64_t last_status_at; /* 0 = never posted */
};
int store_mb_account_stats(struct store *st, int64_t account_id, struct store_mb_stats *out);
/** locked: follows become requests. discoverable: listed in directories. */
int store_mb_account_flags(struct store *st, int64_t account_id, bool *locked,
                           bool *discoverable);
int store_mb_account_set_flags(struct store *st, int64_t account_id, bool locked,
                               bool discoverable);

/* ---- full-text search and read markers (migration 0011_mb_search) ---- */

#define STORE_MB_FTS_QUERY_MAX 512 /* bytes of a search query */
#define STORE_MB_FTS_WORDS_MAX 16  /* words of a search query */

/** Posts (not reblogs) whose source text holds every word of query (split
 *  on ASCII white space; each word is matched as an FTS5 string, so no
 *  query syntax reaches the index), newest first, with after < id < before
 *  (before 0: no upper bound), at most max into ids; *n gets the count.
 *  TD_EINVAL for an empty query or one over STORE_MB_FTS_QUERY_MAX. EVERY
 *  visibility: the caller keeps what the viewer may see (mb_visible()). */
int store_mb_post_search(struct store *st, const char *query, int64_t before, int64_t after,
                         int64_t *ids, size_t max, size_t *n);

/* Mastodon's Marker: where an account stopped reading a timeline. */
struct store_mb_marker {
    int64_t last_read_id;
    int64_t version;    /* 1 for the first save, then one more per save */
    int64_t updated_at; /* ms */
};
/** timeline: "home" or "notifications" (TD_EINVAL otherwise). TD_ENOTFOUND
 *  when never saved. */
int store_mb_marker_get(struct store *st, int64_t account_id, const char *timeline,
                        struct store_mb_marker *out);
/** Save (and read back into *out, may be NULL) a marker. */
int store_mb_marker_set(struct store *st, int64_t account_id, const char *timeline,
                        int64_t last_read_id, struct store_mb_marker *out);

/* ---- the viewer's filters, read once per list (the service's fast path) ---- */

/** Accounts hidden from viewer: *blocks (viewer blocks them, or they block
 *  viewer) and *mutes (viewer's unexpired mutes), each ascending and
 *  caller-freed (free(); NULL when empty). */
int store_mb_viewer_filters(struct store *st, int64_t viewer, int64_t **blocks, size_t *nblocks,
                            int64_t **mutes, size_t *nmutes);
/** Which of ids (n <= STORE_MB_STATUSES_MAX) viewer favourited (fav[i]) and
 *  reblogged (reb[i]); all false for viewer 0 or unknown ids. */
int store_mb_viewer_flags(struct store *st, int64_t viewer, const int64_t *ids, size_t n,
                          bool *fav, bool *reb);

/** Bulk loading (the benchmark, imports): store_begin() under another name.
 *  Every store_mb_* call between the two runs in this one transaction (their
 *  own grouping becomes a savepoint), which makes a million inserts a matter
 *  of seconds instead of one fsync each. Not for the loop thread. */
int store_mb_bulk_begin(struct store *st);
int store_mb_bulk_commit(struct store *st);

#endif
