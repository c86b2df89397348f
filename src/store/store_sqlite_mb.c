/* SPDX-License-Identifier: MIT */
/* The SQLite backend of store_mb.h (migration 0008_microblog). Every query
 * is a static SQL text run through the store__stmt() cache with bound
 * values. The counters are the schema's triggers' work, so no function here
 * adds or subtracts; deleting a post is one DELETE whose cascades remove its
 * reblogs, mentions, tags, favourites, edits and notifications and detach its
 * media.
 *
 * Paging: each list has two texts, newest-first and (for min_id)
 * oldest-first, with the same bindings: ?1 the key, ?2 the exclusive upper
 * cursor (max_id or INT64_MAX), ?3 the exclusive lower one (since_id or
 * min_id), ?4 the limit, ?5.. extra filters. The oldest-first page is
 * reversed before it is returned, as Mastodon returns min_id pages.
 *
 * Query plans (checked by test_store_mb.c with EXPLAIN QUERY PLAN): the
 * follower-ids scan is one range of the covering index follows_followee;
 * the public timeline one range of the partial index posts_public; the tag
 * timeline one range of post_tags' primary key plus a rowid lookup per row;
 * the account timeline one range of posts_account; a batch read one rowid
 * lookup per id. */
#include "store/store_mb.h"
#include "store/store_sqlite_int.h"

#include "core/err.h"
#include "core/ids.h"

#include <sqlite3.h>

#include <stdlib.h>
#include <string.h>

/* ---- helpers ---- */

/* Prepare sql and bind the int64 values in order from ?1. */
static int prep_v(struct store *st, const char *sql, sqlite3_stmt **s, const int64_t *v, size_t n)
{
    int rc = store__stmt(st, sql, s);

    for (size_t i = 0; rc == TD_OK && i < n; i++)
        rc = store__bind_i64(st, *s, (int)i + 1, v[i]);
    return rc;
}
#define I64S(...) ((const int64_t[]){__VA_ARGS__})
#define NI64(...) (sizeof(I64S(__VA_ARGS__)) / sizeof(int64_t))
#define PREP(st, sql, s, ...) prep_v(st, sql, s, I64S(__VA_ARGS__), NI64(__VA_ARGS__))

/* Run a statement with int64 parameters and no rows; *changes may be NULL. */
static int exec_v(struct store *st, const char *sql, int64_t *changes, const int64_t *v, size_t n)
{
    sqlite3_stmt *s = NULL;
    int rc = prep_v(st, sql, &s, v, n);

    if (rc == TD_OK)
        rc = store__step_done(st, s, changes);
    store__put(s);
    return rc;
}
#define EXEC(st, sql, changes, ...) exec_v(st, sql, changes, I64S(__VA_ARGS__), NI64(__VA_ARGS__))

/* First column of the first row as an integer; TD_ENOTFOUND without a row. */
static int scalar_v(struct store *st, const char *sql, int64_t *out, const int64_t *v, size_t n)
{
    sqlite3_stmt *s = NULL;
    int rc = prep_v(st, sql, &s, v, n);

    if (rc == TD_OK)
        rc = store__step_row(st, s);
    if (rc == TD_OK && out)
        *out = sqlite3_column_int64(s, 0);
    store__put(s);
    return rc;
}
#define SCALAR(st, sql, out, ...) scalar_v(st, sql, out, I64S(__VA_ARGS__), NI64(__VA_ARGS__))

static bool too_long(const char *s, size_t max)
{
    return s != NULL && strnlen(s, max + 1) > max;
}

static const char *nz(const char *s)
{
    return s ? s : "";
}

/* Unicode code points in UTF-8 s (continuation bytes not counted). */
static size_t utf8_count(const char *s)
{
    size_t n = 0;

    for (; *s; s++)
        n += ((unsigned char)*s & 0xC0) != 0x80;
    return n;
}

/* ---- transactions: own one, or a savepoint inside the caller's ---- */

static const char sql_sp[] = "SAVEPOINT store_mb";
static const char sql_sp_release[] = "RELEASE store_mb";
static const char sql_sp_rollback[] = "ROLLBACK TO store_mb";

struct tx {
    bool own;
};

static int tx_begin(struct store *st, struct tx *t)
{
    sqlite3_stmt *s = NULL;
    int rc = store__stmt(st, sql_sp, &s);

    if (rc != TD_OK)
        return rc;
    store__read_end(st); /* the turn's read snapshot is not the caller's transaction */
    /* Autocommit mode means no transaction is open: take the write lock up
     * front (BEGIN IMMEDIATE) so that a read-then-write cannot fail with a
     * busy snapshot. Inside the caller's transaction, nest a savepoint. */
    t->own = sqlite3_get_autocommit(sqlite3_db_handle(s)) != 0;
    if (t->own) {
        store__put(s);
        return store_begin(st);
    }
    rc = store__step_done(st, s, NULL);
    store__put(s);
    return rc;
}

static int tx_end(struct store *st, struct tx *t, int rc)
{
    if (t->own) {
        if (rc == TD_OK) {
            int crc = store_commit(st);
            if (crc == TD_OK)
                return TD_OK;
            rc = crc;
        }
        store_rollback(st);
        return rc;
    }
    if (rc != TD_OK)
        exec_v(st, sql_sp_rollback, NULL, NULL, 0);
    int rrc = exec_v(st, sql_sp_release, NULL, NULL, 0);
    return rc != TD_OK ? rc : rrc;
}

int store_mb_bulk_begin(struct store *st)
{
    return store_begin(st);
}

int store_mb_bulk_commit(struct store *st)
{
    return store_commit(st);
}

/* ---- paging ---- */

struct span {
    int64_t hi, lo;
    int64_t limit;
    bool asc;
};

static struct span span_of(const struct store_mb_page *pg, int cap)
{
    struct span sp = {INT64_MAX, 0, STORE_MB_LIMIT_DEFAULT, false};

    if (pg == NULL)
        return sp;
    if (pg->max_id > 0)
        sp.hi = pg->max_id;
    if (pg->since_id > 0)
        sp.lo = pg->since_id;
    if (pg->min_id > 0) {
        sp.lo = pg->min_id > sp.lo ? pg->min_id : sp.lo;
        sp.asc = true;
    }
    if (pg->limit > 0)
        sp.limit = pg->limit;
    if (sp.limit > cap)
        sp.limit = cap;
    return sp;
}

/* Run a (cursor, id) list: desc or asc text by the span, bound as described
 * at the top (?1 key, ?2 hi, ?3 lo, ?4 limit, ?5.. extra). */
static int run_list(struct store *st, const char *sql_desc, const char *sql_asc, int64_t key,
                    const struct store_mb_page *pg, int cap, const int64_t *extra, size_t nextra,
                    struct store_mb_list *out)
{
    struct span sp = span_of(pg, cap);
    sqlite3_stmt *s = NULL;
    int rc;

    out->n = 0;
    rc = PREP(st, sp.asc ? sql_asc : sql_desc, &s, key, sp.hi, sp.lo, sp.limit);
    for (size_t i = 0; rc == TD_OK && i < nextra; i++)
        rc = store__bind_i64(st, s, (int)i + 5, extra[i]);
    while (rc == TD_OK && out->n < (size_t)sp.limit) {
        rc = store__step_row(st, s);
        if (rc != TD_OK)
            break;
        out->v[out->n].cursor = sqlite3_column_int64(s, 0);
        out->v[out->n].id = sqlite3_column_int64(s, 1);
        out->n++;
    }
    store__put(s);
    if (rc != TD_OK && rc != TD_ENOTFOUND) {
        out->n = 0;
        return rc;
    }
    if (sp.asc) {
        for (size_t i = 0; i < out->n / 2; i++) {
            struct store_mb_ref t = out->v[i];
            out->v[i] = out->v[out->n - 1 - i];
            out->v[out->n - 1 - i] = t;
        }
    }
    return TD_OK;
}

/* The two ordered texts of a list from its SELECT ... WHERE. */
#define LIST_DESC(q) q " ORDER BY 1 DESC LIMIT ?4"
#define LIST_ASC(q) q " ORDER BY 1 ASC LIMIT ?4"

/* ---- posts ---- */

#define POST_COLS                                                                            \
    "p.id, p.account_id, p.in_reply_to_id, p.in_reply_to_account_id, p.reblog_of_id, "       \
    "p.visibility, p.sensitive, p.spoiler_text, p.source, p.content, p.language, "           \
    "p.created_at, p.edited_at, p.replies_count, p.reblogs_count, p.favourites_count, "      \
    "(SELECT group_concat(account_id) FROM mentions WHERE post_id = p.id), "                 \
    "(SELECT group_concat(name, ' ') FROM (SELECT t.name FROM post_tags pt JOIN tags t "     \
    "ON t.id = pt.tag_id WHERE pt.post_id = p.id ORDER BY t.name)), "                        \
    "(SELECT group_concat(id) FROM (SELECT id FROM media WHERE post_id = p.id ORDER BY id)), " \
    "EXISTS(SELECT 1 FROM favourites f WHERE f.account_id = ?1 AND f.post_id = p.id), "      \
    "EXISTS(SELECT 1 FROM posts r WHERE r.account_id = ?1 AND r.reblog_of_id = p.id)"

static const char sql_post_get[] = "SELECT " POST_COLS " FROM posts p WHERE p.id = ?2";
#define BATCH_PARAMS                                                                         \
    "?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18, ?19, ?20, " \
    "?21, ?22, ?23, ?24, ?25, ?26, ?27, ?28, ?29, ?30, ?31, ?32, ?33, ?34, ?35, ?36, ?37, "  \
    "?38, ?39, ?40, ?41"
/* STORE_MB_STATUSES_MAX placeholders: unused ones are bound NULL. */
static const char sql_posts_get[] =
    "SELECT " POST_COLS " FROM posts p WHERE p.id IN (" BATCH_PARAMS ") ORDER BY p.id DESC";
static const char sql_post_insert[] =
    "INSERT INTO posts (id, account_id, in_reply_to_id, in_reply_to_account_id, reblog_of_id, "
    "visibility, sensitive, spoiler_text, source, content, language, created_at, "
    "idempotency_hash) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13)";
static const char sql_post_idem[] =
    "SELECT id FROM posts WHERE account_id = ?1 AND idempotency_hash = ?2";
static const char sql_post_author[] = "SELECT account_id FROM posts WHERE id = ?1";
static const char sql_mention_insert[] =
    "INSERT OR IGNORE INTO mentions (post_id, account_id) VALUES (?1, ?2)";
static const char sql_tag_insert[] = "INSERT OR IGNORE INTO tags (name) VALUES (?1)";
static const char sql_post_tag_insert[] =
    "INSERT OR IGNORE INTO post_tags (tag_id, post_id) SELECT id, ?2 FROM tags WHERE name = ?1";
static const char sql_media_attach[] =
    "UPDATE media SET post_id = ?3 WHERE id = ?1 AND account_id = ?2 "
    "AND (post_id IS NULL OR post_id = ?3)";
static const char sql_media_owner[] = "SELECT account_id FROM media WHERE id = ?1";
static const char sql_media_count[] = "SELECT count(*) FROM media WHERE post_id = ?1";
static const char sql_edit_save[] =
    "INSERT INTO post_edits (post_id, id, edited_at, source, content, spoiler_text, sensitive) "
    "SELECT id, ?2, CASE edited_at WHEN 0 THEN created_at ELSE edited_at END, source, content, "
    "spoiler_text, sensitive FROM posts WHERE id = ?1 AND reblog_of_id IS NULL";
static const char sql_post_update[] =
    "UPDATE posts SET source = ?2, content = ?3, spoiler_text = ?4, sensitive = ?5, "
    "language = ?6, edited_at = ?7 WHERE id = ?1";
static const char sql_mentions_clear[] = "DELETE FROM mentions WHERE post_id = ?1";
static const char sql_post_tags_clear[] = "DELETE FROM post_tags WHERE post_id = ?1";
static const char sql_media_detach[] = "UPDATE media SET post_id = NULL WHERE post_id = ?1";
static const char sql_history[] =
    "SELECT edited_at, source, content, spoiler_text, sensitive FROM post_edits "
    "WHERE post_id = ?1 ORDER BY id";
static const char sql_current[] =
    "SELECT CASE edited_at WHEN 0 THEN created_at ELSE edited_at END, source, content, "
    "spoiler_text, sensitive FROM posts WHERE id = ?1";
static const char sql_reblogs_of[] = "SELECT id, account_id FROM posts WHERE reblog_of_id = ?1";
static const char sql_post_delete[] = "DELETE FROM posts WHERE id = ?1";

void store_mb_post_clear(struct store_mb_post *p)
{
    if (p == NULL)
        return;
    free(p->spoiler_text);
    free(p->source);
    free(p->content);
    free(p->language);
    free(p->mentions);
    for (size_t i = 0; i < p->ntags; i++)
        free(p->tags[i]);
    free(p->tags);
    memset(p, 0, sizeof(*p));
}

/* Parse a group_concat of integers into at most max values in v. */
static size_t parse_ids(const char *t, int64_t *v, size_t max)
{
    size_t n = 0;

    while (t && *t && n < max) {
        char *end;
        long long x = strtoll(t, &end, 10);
        if (end == t)
            break;
        v[n++] = (int64_t)x;
        t = *end == ',' ? end + 1 : end;
    }
    return n;
}

static void read_post(sqlite3_stmt *s, struct store_mb_post *p)
{
    const char *t;

    memset(p, 0, sizeof(*p));
    p->id = sqlite3_column_int64(s, 0);
    p->account_id = sqlite3_column_int64(s, 1);
    p->in_reply_to_id = sqlite3_column_int64(s, 2);
    p->in_reply_to_account_id = sqlite3_column_int64(s, 3);
    p->reblog_of_id = sqlite3_column_int64(s, 4);
    p->visibility = sqlite3_column_int(s, 5);
    p->sensitive = sqlite3_column_int(s, 6) != 0;
    p->spoiler_text = td_strdup(nz((const char *)sqlite3_column_text(s, 7)));
    p->source = td_strdup(nz((const char *)sqlite3_column_text(s, 8)));
    p->content = td_strdup(nz((const char *)sqlite3_column_text(s, 9)));
    p->language = store__col_strdup(s, 10);
    p->created_at = sqlite3_column_int64(s, 11);
    p->edited_at = sqlite3_column_int64(s, 12);
    p->replies_count = sqlite3_column_int64(s, 13);
    p->reblogs_count = sqlite3_column_int64(s, 14);
    p->favourites_count = sqlite3_column_int64(s, 15);
    t = (const char *)sqlite3_column_text(s, 16);
    if (t) {
        int64_t tmp[STORE_MB_MENTIONS_MAX];
        p->nmentions = parse_ids(t, tmp, STORE_MB_MENTIONS_MAX);
        p->mentions = td_malloc((p->nmentions ? p->nmentions : 1) * sizeof(int64_t));
        memcpy(p->mentions, tmp, p->nmentions * sizeof(int64_t));
    }
    t = (const char *)sqlite3_column_text(s, 17);
    if (t) {
        p->tags = td_calloc(STORE_MB_TAGS_MAX, sizeof(char *));
        while (*t && p->ntags < STORE_MB_TAGS_MAX) {
            const char *sp = strchr(t, ' ');
            size_t len = sp ? (size_t)(sp - t) : strlen(t);
            if (len > 0)
                p->tags[p->ntags++] = td_strndup(t, len);
            t += len + (sp != NULL);
        }
    }
    p->nmedia = parse_ids((const char *)sqlite3_column_text(s, 18), p->media,
                          STORE_MB_MEDIA_PER_POST);
    p->favourited = sqlite3_column_int(s, 19) != 0;
    p->reblogged = sqlite3_column_int(s, 20) != 0;
}

int store_mb_post_get(struct store *st, int64_t id, int64_t viewer, struct store_mb_post *out)
{
    sqlite3_stmt *s = NULL;
    int rc;

    memset(out, 0, sizeof(*out));
    rc = PREP(st, sql_post_get, &s, viewer, id);
    if (rc == TD_OK)
        rc = store__step_row(st, s);
    if (rc == TD_OK)
        read_post(s, out);
    store__put(s);
    return rc;
}

int store_mb_posts_get(struct store *st, const int64_t *ids, size_t n, int64_t viewer,
                       store_mb_post_cb *cb, void *ud)
{
    struct store_mb_post p;
    sqlite3_stmt *s = NULL;
    int rc = TD_OK;
    bool stop = false;

    for (size_t base = 0; rc == TD_OK && !stop && base < n; base += STORE_MB_STATUSES_MAX) {
        size_t k = n - base < STORE_MB_STATUSES_MAX ? n - base : STORE_MB_STATUSES_MAX;
        rc = PREP(st, sql_posts_get, &s, viewer);
        /* Unbound placeholders are NULL, which matches no id. */
        for (size_t i = 0; rc == TD_OK && i < k; i++)
            rc = store__bind_i64(st, s, (int)i + 2, ids[base + i]);
        while (rc == TD_OK) {
            rc = store__step_row(st, s);
            if (rc != TD_OK)
                break;
            read_post(s, &p);
            stop = cb(ud, &p) != 0;
            store_mb_post_clear(&p);
            if (stop)
                break;
        }
        store__put(s);
        s = NULL;
        if (rc == TD_ENOTFOUND)
            rc = TD_OK;
    }
    return rc;
}

static int check_text(const struct store_mb_post *p)
{
    if (too_long(p->source, STORE_MB_SOURCE_MAX) || too_long(p->content, STORE_MB_CONTENT_MAX) ||
        too_long(p->spoiler_text, STORE_MB_SPOILER_MAX))
        return TD_ETOOBIG;
    if (too_long(p->language, STORE_MB_LANGUAGE_MAX))
        return TD_EINVAL;
    return TD_OK;
}

static int check_extras(const struct store_mb_extras *x)
{
    if (x == NULL)
        return TD_OK;
    if (x->nmentions > STORE_MB_MENTIONS_MAX || x->ntags > STORE_MB_TAGS_MAX ||
        x->nmedia > STORE_MB_MEDIA_PER_POST)
        return TD_ELIMIT;
    if ((x->nmentions && !x->mentions) || (x->ntags && !x->tags) || (x->nmedia && !x->media))
        return TD_EINVAL;
    for (size_t i = 0; i < x->ntags; i++) {
        const char *t = x->tags[i];
        if (t == NULL || t[0] == '\0' || too_long(t, STORE_MB_TAG_MAX))
            return TD_EINVAL;
        for (; *t; t++)
            if ((unsigned char)*t <= 0x20)
                return TD_EINVAL;
    }
    return TD_OK;
}

/* The code for a statement on account_id's media (its WHERE names the owner
 * and any state it needs) that changed `changes` rows: when none, TD_EDENIED
 * if the media exists (someone else's, or attached), else TD_ENOTFOUND. */
static int media_outcome(struct store *st, int rc, int64_t changes, int64_t media_id)
{
    int64_t owner;

    if (rc != TD_OK || changes > 0)
        return rc;
    rc = SCALAR(st, sql_media_owner, &owner, media_id);
    return rc == TD_OK ? TD_EDENIED : rc;
}

/* Attach media_id (of account_id) to post_id, which has room. */
static int attach_one(struct store *st, int64_t account_id, int64_t media_id, int64_t post_id)
{
    int64_t changes = 0;
    int rc = EXEC(st, sql_media_attach, &changes, media_id, account_id, post_id);

    return media_outcome(st, rc, changes, media_id);
}

/* Mentions, tags and media of a post just inserted or cleared. */
static int add_extras(struct store *st, int64_t post_id, int64_t account_id,
                      const struct store_mb_extras *x)
{
    sqlite3_stmt *s = NULL;
    int rc = TD_OK;

    if (x == NULL)
        return TD_OK;
    for (size_t i = 0; rc == TD_OK && i < x->nmentions; i++)
        rc = EXEC(st, sql_mention_insert, NULL, post_id, x->mentions[i]);
    for (size_t i = 0; rc == TD_OK && i < x->ntags; i++) {
        rc = store__stmt(st, sql_tag_insert, &s);
        if (rc == TD_OK)
            rc = store__bind_text(st, s, 1, x->tags[i]);
        if (rc == TD_OK)
            rc = store__step_done(st, s, NULL);
        store__put(s);
        if (rc == TD_OK)
            rc = store__stmt(st, sql_post_tag_insert, &s);
        if (rc == TD_OK)
            rc = store__bind_text(st, s, 1, x->tags[i]);
        if (rc == TD_OK)
            rc = store__bind_i64(st, s, 2, post_id);
        if (rc == TD_OK)
            rc = store__step_done(st, s, NULL);
        store__put(s);
    }
    for (size_t i = 0; rc == TD_OK && i < x->nmedia; i++)
        rc = attach_one(st, account_id, x->media[i], post_id);
    return rc;
}

/* Insert the posts row of p (id and created_at set); idem may be NULL. */
static int insert_post(struct store *st, const struct store_mb_post *p, const uint8_t *idem)
{
    sqlite3_stmt *s = NULL;
    int rc = PREP(st, sql_post_insert, &s, p->id, p->account_id);

    if (rc == TD_OK && p->in_reply_to_id)
        rc = store__bind_i64(st, s, 3, p->in_reply_to_id);
    if (rc == TD_OK && p->in_reply_to_id)
        rc = store__bind_i64(st, s, 4, p->in_reply_to_account_id);
    if (rc == TD_OK && p->reblog_of_id)
        rc = store__bind_i64(st, s, 5, p->reblog_of_id);
    if (rc == TD_OK)
        rc = store__bind_i64(st, s, 6, p->visibility);
    if (rc == TD_OK)
        rc = store__bind_i64(st, s, 7, p->sensitive);
    if (rc == TD_OK)
        rc = store__bind_text(st, s, 8, nz(p->spoiler_text));
    if (rc == TD_OK)
        rc = store__bind_text(st, s, 9, nz(p->source));
    if (rc == TD_OK)
        rc = store__bind_text(st, s, 10, nz(p->content));
    if (rc == TD_OK)
        rc = store__bind_text(st, s, 11, p->language);
    if (rc == TD_OK)
        rc = store__bind_i64(st, s, 12, p->created_at);
    if (rc == TD_OK && idem)
        rc = store__bind_blob(st, s, 13, idem, 32);
    if (rc == TD_OK)
        rc = store__step_done(st, s, NULL);
    store__put(s);
    return rc;
}

int store_mb_post_create(struct store *st, struct store_mb_post *p,
                         const struct store_mb_extras *x, const uint8_t idem[32])
{
    sqlite3_stmt *s = NULL;
    struct tx t;
    int rc;

    if (p->reblog_of_id != 0 || p->visibility < STORE_MB_PUBLIC ||
        p->visibility > STORE_MB_DIRECT || p->account_id <= 0)
        return TD_EINVAL;
    rc = check_text(p);
    if (rc == TD_OK)
        rc = check_extras(x);
    if (rc != TD_OK)
        return rc;
    rc = tx_begin(st, &t);
    if (rc != TD_OK)
        return rc;
    if (idem) {
        rc = PREP(st, sql_post_idem, &s, p->account_id);
        if (rc == TD_OK)
            rc = store__bind_blob(st, s, 2, idem, 32);
        if (rc == TD_OK)
            rc = store__step_row(st, s);
        if (rc == TD_OK) {
            p->id = sqlite3_column_int64(s, 0);
            rc = TD_EEXIST;
        } else if (rc == TD_ENOTFOUND) {
            rc = TD_OK;
        }
        store__put(s);
    }
    p->in_reply_to_account_id = 0;
    if (rc == TD_OK && p->in_reply_to_id)
        rc = SCALAR(st, sql_post_author, &p->in_reply_to_account_id, p->in_reply_to_id);
    if (rc == TD_OK) {
        p->id = ids_next();
        if (p->created_at == 0)
            p->created_at = store_now_ms();
        rc = insert_post(st, p, idem);
    }
    if (rc == TD_OK)
        rc = add_extras(st, p->id, p->account_id, x);
    rc = tx_end(st, &t, rc);
    if (rc != TD_OK && rc != TD_EEXIST)
        p->id = 0;
    return rc;
}

int store_mb_post_edit(struct store *st, int64_t id, const struct store_mb_post *p,
                       const struct store_mb_extras *x)
{
    sqlite3_stmt *s = NULL;
    int64_t changes = 0, author = 0;
    struct tx t;
    int rc;

    rc = check_text(p);
    if (rc == TD_OK)
        rc = check_extras(x);
    if (rc != TD_OK)
        return rc;
    rc = tx_begin(st, &t);
    if (rc != TD_OK)
        return rc;
    rc = SCALAR(st, sql_post_author, &author, id);
    if (rc == TD_OK)
        rc = EXEC(st, sql_edit_save, &changes, id, ids_next());
    if (rc == TD_OK && changes == 0)
        rc = TD_EINVAL; /* a reblog */
    if (rc == TD_OK)
        rc = PREP(st, sql_post_update, &s, id);
    if (rc == TD_OK)
        rc = store__bind_text(st, s, 2, nz(p->source));
    if (rc == TD_OK)
        rc = store__bind_text(st, s, 3, nz(p->content));
    if (rc == TD_OK)
        rc = store__bind_text(st, s, 4, nz(p->spoiler_text));
    if (rc == TD_OK)
        rc = store__bind_i64(st, s, 5, p->sensitive);
    if (rc == TD_OK)
        rc = store__bind_text(st, s, 6, p->language);
    if (rc == TD_OK)
        rc = store__bind_i64(st, s, 7, store_now_ms());
    if (rc == TD_OK)
        rc = store__step_done(st, s, NULL);
    store__put(s);
    if (rc == TD_OK)
        rc = EXEC(st, sql_mentions_clear, NULL, id);
    if (rc == TD_OK)
        rc = EXEC(st, sql_post_tags_clear, NULL, id);
    if (rc == TD_OK)
        rc = EXEC(st, sql_media_detach, NULL, id);
    if (rc == TD_OK)
        rc = add_extras(st, id, author, x);
    return tx_end(st, &t, rc);
}

static int emit_version(sqlite3_stmt *s, store_mb_version_cb *cb, void *ud)
{
    struct store_mb_version v = {
        .created_at = sqlite3_column_int64(s, 0),
        .source = (char *)nz((const char *)sqlite3_column_text(s, 1)),
        .content = (char *)nz((const char *)sqlite3_column_text(s, 2)),
        .spoiler_text = (char *)nz((const char *)sqlite3_column_text(s, 3)),
        .sensitive = sqlite3_column_int(s, 4) != 0,
    };
    return cb(ud, &v);
}

int store_mb_post_history(struct store *st, int64_t id, store_mb_version_cb *cb, void *ud)
{
    sqlite3_stmt *s = NULL;
    bool stop = false;
    int rc;

    rc = SCALAR(st, sql_post_author, NULL, id);
    if (rc == TD_OK)
        rc = PREP(st, sql_history, &s, id);
    while (rc == TD_OK) {
        rc = store__step_row(st, s);
        if (rc == TD_OK && (stop = emit_version(s, cb, ud) != 0))
            break;
    }
    store__put(s);
    if (rc != TD_ENOTFOUND || stop)
        return rc;
    s = NULL;
    rc = PREP(st, sql_current, &s, id);
    if (rc == TD_OK)
        rc = store__step_row(st, s);
    if (rc == TD_OK)
        emit_version(s, cb, ud);
    store__put(s);
    return rc;
}

void store_mb_deleted_clear(struct store_mb_deleted *d)
{
    if (d == NULL)
        return;
    store_mb_post_clear(&d->post);
    free(d->reblogs);
    free(d->reblog_accounts);
    memset(d, 0, sizeof(*d));
}

/* The reblogs of id into d (grown as needed). */
static int collect_reblogs(struct store *st, int64_t id, struct store_mb_deleted *d)
{
    sqlite3_stmt *s = NULL;
    size_t cap = 0;
    int rc = PREP(st, sql_reblogs_of, &s, id);

    while (rc == TD_OK) {
        rc = store__step_row(st, s);
        if (rc != TD_OK)
            break;
        if (d->nreblogs == cap) {
            cap = cap ? cap * 2 : 16;
            d->reblogs = td_realloc(d->reblogs, cap * sizeof(int64_t));
            d->reblog_accounts = td_realloc(d->reblog_accounts, cap * sizeof(int64_t));
        }
        d->reblogs[d->nreblogs] = sqlite3_column_int64(s, 0);
        d->reblog_accounts[d->nreblogs++] = sqlite3_column_int64(s, 1);
    }
    store__put(s);
    return rc == TD_ENOTFOUND ? TD_OK : rc;
}

int store_mb_post_delete(struct store *st, int64_t id, int64_t account_id,
                         struct store_mb_deleted *out)
{
    struct store_mb_deleted d;
    struct tx t;
    int rc;

    memset(&d, 0, sizeof(d));
    if (out)
        memset(out, 0, sizeof(*out));
    rc = tx_begin(st, &t);
    if (rc != TD_OK)
        return rc;
    rc = store_mb_post_get(st, id, 0, &d.post);
    if (rc == TD_OK && account_id != 0 && d.post.account_id != account_id)
        rc = TD_ENOTFOUND;
    if (rc == TD_OK && out)
        rc = collect_reblogs(st, id, &d);
    if (rc == TD_OK)
        rc = EXEC(st, sql_post_delete, NULL, id);
    rc = tx_end(st, &t, rc);
    if (rc == TD_OK && out)
        *out = d;
    else
        store_mb_deleted_clear(&d);
    return rc;
}

/* ---- reblogs and favourites ---- */

static const char sql_original[] =
    "SELECT coalesce(reblog_of_id, id), account_id FROM posts WHERE id = ?1";
static const char sql_blocked_either[] =
    "SELECT EXISTS(SELECT 1 FROM blocks WHERE account_id = ?1 AND target_id = ?2) "
    "OR EXISTS(SELECT 1 FROM blocks WHERE account_id = ?2 AND target_id = ?1)";
static const char sql_reblog_find[] =
    "SELECT id FROM posts WHERE account_id = ?1 AND reblog_of_id = ?2";
static const char sql_fav_insert[] =
    "INSERT INTO favourites (account_id, post_id, id, created_at) VALUES (?1, ?2, ?3, ?4)";
static const char sql_fav_delete[] =
    "DELETE FROM favourites WHERE account_id = ?1 AND post_id = ?2";
#define FAV_BY_Q "SELECT id, account_id FROM favourites WHERE post_id = ?1 AND id < ?2 AND id > ?3"
static const char sql_fav_by_d[] = LIST_DESC(FAV_BY_Q);
static const char sql_fav_by_a[] = LIST_ASC(FAV_BY_Q);
#define REBLOG_BY_Q                                                                          \
    "SELECT id, account_id FROM posts WHERE reblog_of_id = ?1 AND id < ?2 AND id > ?3"
static const char sql_reblog_by_d[] = LIST_DESC(REBLOG_BY_Q);
static const char sql_reblog_by_a[] = LIST_ASC(REBLOG_BY_Q);
#define FAVS_Q "SELECT id, post_id FROM favourites WHERE account_id = ?1 AND id < ?2 AND id > ?3"
static const char sql_favs_d[] = LIST_DESC(FAVS_Q);
static const char sql_favs_a[] = LIST_ASC(FAVS_Q);

/* The original of post_id (itself unless a reblog) and its author. */
static int original_of(struct store *st, int64_t post_id, int64_t *orig, int64_t *author)
{
    sqlite3_stmt *s = NULL;
    int rc = PREP(st, sql_original, &s, post_id);

    if (rc == TD_OK)
        rc = store__step_row(st, s);
    if (rc == TD_OK) {
        *orig = sqlite3_column_int64(s, 0);
        if (author)
            *author = sqlite3_column_int64(s, 1);
    }
    store__put(s);
    return rc;
}

/* TD_EDENIED when a or b blocks the other. */
static int not_blocked(struct store *st, int64_t a, int64_t b)
{
    int64_t blocked = 0;
    int rc = SCALAR(st, sql_blocked_either, &blocked, a, b);

    return rc == TD_OK && blocked ? TD_EDENIED : rc;
}

int store_mb_reblog(struct store *st, int64_t account_id, int64_t post_id, int visibility,
                    int64_t *id)
{
    struct store_mb_post p;
    int64_t orig = 0, author = 0;
    struct tx t;
    int rc;

    *id = 0;
    if (visibility < STORE_MB_PUBLIC || visibility > STORE_MB_DIRECT)
        return TD_EINVAL;
    rc = tx_begin(st, &t);
    if (rc != TD_OK)
        return rc;
    rc = original_of(st, post_id, &orig, &author);
    if (rc == TD_OK)
        rc = not_blocked(st, account_id, author);
    if (rc == TD_OK) {
        rc = SCALAR(st, sql_reblog_find, id, account_id, orig);
        rc = rc == TD_OK ? TD_EEXIST : rc == TD_ENOTFOUND ? TD_OK : rc;
    }
    if (rc == TD_OK) {
        memset(&p, 0, sizeof(p));
        p.id = ids_next();
        p.account_id = account_id;
        p.reblog_of_id = orig;
        p.visibility = visibility;
        p.created_at = store_now_ms();
        rc = insert_post(st, &p, NULL);
        if (rc == TD_OK)
            *id = p.id;
    }
    rc = tx_end(st, &t, rc);
    if (rc != TD_OK && rc != TD_EEXIST)
        *id = 0;
    return rc;
}

int store_mb_unreblog(struct store *st, int64_t account_id, int64_t post_id, int64_t *id)
{
    int64_t orig = 0, rid = 0;
    int rc;

    if (id)
        *id = 0;
    rc = original_of(st, post_id, &orig, NULL);
    if (rc == TD_OK)
        rc = SCALAR(st, sql_reblog_find, &rid, account_id, orig);
    if (rc == TD_OK)
        rc = EXEC(st, sql_post_delete, NULL, rid);
    if (rc == TD_OK && id)
        *id = rid;
    return rc;
}

int store_mb_favourite(struct store *st, int64_t account_id, int64_t post_id)
{
    int64_t orig = 0, author = 0;
    int rc;

    rc = original_of(st, post_id, &orig, &author);
    if (rc == TD_OK)
        rc = not_blocked(st, account_id, author);
    if (rc == TD_OK)
        rc = EXEC(st, sql_fav_insert, NULL, account_id, orig, ids_next(), store_now_ms());
    return rc;
}

int store_mb_unfavourite(struct store *st, int64_t account_id, int64_t post_id)
{
    int64_t orig = 0, changes = 0;
    int rc;

    rc = original_of(st, post_id, &orig, NULL);
    if (rc == TD_OK)
        rc = EXEC(st, sql_fav_delete, &changes, account_id, orig);
    return rc == TD_OK && changes == 0 ? TD_ENOTFOUND : rc;
}

int store_mb_favourited_by(struct store *st, int64_t post_id, const struct store_mb_page *pg,
                           struct store_mb_list *out)
{
    return run_list(st, sql_fav_by_d, sql_fav_by_a, post_id, pg, STORE_MB_ACCOUNTS_MAX, NULL, 0,
                    out);
}

int store_mb_reblogged_by(struct store *st, int64_t post_id, const struct store_mb_page *pg,
                          struct store_mb_list *out)
{
    return run_list(st, sql_reblog_by_d, sql_reblog_by_a, post_id, pg, STORE_MB_ACCOUNTS_MAX,
                    NULL, 0, out);
}

int store_mb_favourites(struct store *st, int64_t account_id, const struct store_mb_page *pg,
                        struct store_mb_list *out)
{
    return run_list(st, sql_favs_d, sql_favs_a, account_id, pg, STORE_MB_STATUSES_MAX, NULL, 0,
                    out);
}

/* ---- timelines ---- */

#define TL_ACCOUNT_Q                                                                         \
    "SELECT id, id FROM posts p WHERE account_id = ?1 AND id < ?2 AND id > ?3 "              \
    "AND (?5 = 0 OR in_reply_to_id IS NULL OR in_reply_to_account_id = account_id) "         \
    "AND (?6 = 0 OR reblog_of_id IS NULL) "                                                  \
    "AND (?7 = 0 OR EXISTS(SELECT 1 FROM media m WHERE m.post_id = p.id))"
static const char sql_tl_account_d[] = LIST_DESC(TL_ACCOUNT_Q);
static const char sql_tl_account_a[] = LIST_ASC(TL_ACCOUNT_Q);
/* The WHERE repeats posts_public's, so the partial index serves it. */
#define TL_PUBLIC_Q                                                                          \
    "SELECT id, id FROM posts p WHERE visibility = 0 AND reblog_of_id IS NULL "              \
    "AND id < ?2 AND id > ?3 AND (?5 = 0 OR EXISTS(SELECT 1 FROM media m WHERE m.post_id = p.id))"
static const char sql_tl_public_d[] = LIST_DESC(TL_PUBLIC_Q);
static const char sql_tl_public_a[] = LIST_ASC(TL_PUBLIC_Q);
#define TL_TAG_Q                                                                             \
    "SELECT pt.post_id, pt.post_id FROM post_tags pt JOIN posts p ON p.id = pt.post_id "     \
    "WHERE pt.tag_id = ?1 AND pt.post_id < ?2 AND pt.post_id > ?3 AND p.visibility = 0"
static const char sql_tl_tag_d[] = LIST_DESC(TL_TAG_Q);
static const char sql_tl_tag_a[] = LIST_ASC(TL_TAG_Q);
static const char sql_tag_id[] = "SELECT id FROM tags WHERE name = ?1";
#define TL_DIRECT_Q                                                                          \
    "SELECT id, id FROM (SELECT id FROM posts WHERE account_id = ?1 AND visibility = 3 "     \
    "AND id < ?2 AND id > ?3 UNION SELECT p.id FROM mentions m JOIN posts p ON "             \
    "p.id = m.post_id WHERE m.account_id = ?1 AND m.post_id < ?2 AND m.post_id > ?3 "        \
    "AND p.visibility = 3)"
static const char sql_tl_direct_d[] = LIST_DESC(TL_DIRECT_Q);
static const char sql_tl_direct_a[] = LIST_ASC(TL_DIRECT_Q);
#define HOME_Q(FLOOR)                                                                        \
    "SELECT id FROM posts p WHERE account_id = ?1" FLOOR " UNION ALL "                       \
    "SELECT p.id FROM follows f JOIN posts p ON p.account_id = f.followee_id "              \
    "WHERE f.follower_id = ?1" FLOOR " AND (p.reblog_of_id IS NULL OR f.show_reblogs) "     \
    "AND (p.visibility <> 3 OR EXISTS(SELECT 1 FROM mentions m WHERE m.post_id = p.id "     \
    "AND m.account_id = ?1)) ORDER BY 1 DESC LIMIT ?2"
static const char sql_home[] = HOME_Q("");
static const char sql_home_above[] = HOME_Q(" AND p.id >= ?3");
/* The highest of the own and each followed account's ?2-th newest post id:
 * index look-ups only (posts_account covers account_id, id). */
static const char sql_home_floor[] =
    "SELECT max(k) FROM (SELECT (SELECT id FROM posts WHERE account_id = ?1 "
    "ORDER BY id DESC LIMIT 1 OFFSET ?2 - 1) AS k UNION ALL "
    "SELECT (SELECT id FROM posts p WHERE p.account_id = f.followee_id "
    "ORDER BY id DESC LIMIT 1 OFFSET ?2 - 1) FROM follows f WHERE f.follower_id = ?1)";
static const char sql_parent[] = "SELECT in_reply_to_id FROM posts WHERE id = ?1";
static const char sql_descendants[] =
    "WITH RECURSIVE d(id, depth) AS (SELECT id, 1 FROM posts WHERE in_reply_to_id = ?1 "
    "UNION ALL SELECT p.id, d.depth + 1 FROM d JOIN posts p ON p.in_reply_to_id = d.id "
    "WHERE d.depth < ?2 LIMIT ?3) SELECT id FROM d ORDER BY id";

int store_mb_timeline_account(struct store *st, int64_t account_id, int flags,
                              const struct store_mb_page *pg, struct store_mb_list *out)
{
    const int64_t extra[3] = {(flags & STORE_MB_EXCLUDE_REPLIES) != 0,
                              (flags & STORE_MB_EXCLUDE_REBLOGS) != 0,
                              (flags & STORE_MB_ONLY_MEDIA) != 0};

    return run_list(st, sql_tl_account_d, sql_tl_account_a, account_id, pg,
                    STORE_MB_STATUSES_MAX, extra, 3, out);
}

int store_mb_timeline_public(struct store *st, bool only_media, const struct store_mb_page *pg,
                             struct store_mb_list *out)
{
    const int64_t extra[1] = {only_media};

    return run_list(st, sql_tl_public_d, sql_tl_public_a, 0, pg, STORE_MB_STATUSES_MAX, extra,
                    1, out);
}

int store_mb_timeline_tag(struct store *st, const char *tag, const struct store_mb_page *pg,
                          struct store_mb_list *out)
{
    sqlite3_stmt *s = NULL;
    int64_t tag_id = 0;
    int rc;

    out->n = 0;
    if (tag == NULL || too_long(tag, STORE_MB_TAG_MAX))
        return TD_EINVAL;
    rc = store__stmt(st, sql_tag_id, &s);
    if (rc == TD_OK)
        rc = store__bind_text(st, s, 1, tag);
    if (rc == TD_OK)
        rc = store__step_row(st, s);
    if (rc == TD_OK)
        tag_id = sqlite3_column_int64(s, 0);
    store__put(s);
    if (rc != TD_OK)
        return rc == TD_ENOTFOUND ? TD_OK : rc;
    return run_list(st, sql_tl_tag_d, sql_tl_tag_a, tag_id, pg, STORE_MB_STATUSES_MAX, NULL, 0,
                    out);
}

int store_mb_timeline_direct(struct store *st, int64_t account_id, const struct store_mb_page *pg,
                             struct store_mb_list *out)
{
    return run_list(st, sql_tl_direct_d, sql_tl_direct_a, account_id, pg, STORE_MB_STATUSES_MAX,
                    NULL, 0, out);
}

static int home_read(struct store *st, const char *sql, int64_t account_id, int64_t floor,
                     int64_t *ids, size_t max, size_t *n)
{
    sqlite3_stmt *s = NULL;
    int rc = PREP(st, sql, &s, account_id, (int64_t)max);

    *n = 0;
    if (rc == TD_OK && floor > 0)
        rc = store__bind_i64(st, s, 3, floor);
    while (rc == TD_OK && *n < max) {
        rc = store__step_row(st, s);
        if (rc == TD_OK)
            ids[(*n)++] = sqlite3_column_int64(s, 0);
    }
    store__put(s);
    return rc == TD_ENOTFOUND ? TD_OK : rc;
}

/* The newest max ids of the home timeline. Merging every followed account's
 * posts reads all of them; but each account's max-th newest post is a floor
 * under which the answer cannot reach once the posts above the highest such
 * floor are max or more (filters may drop some: then the full merge runs). */
int store_mb_home_rebuild(struct store *st, int64_t account_id, int64_t *ids, size_t max,
                          size_t *n)
{
    int64_t floor = 0; /* 0 (SQL NULL) when nobody has max posts */
    int rc;

    *n = 0;
    if (max == 0)
        return TD_OK;
    if (max > STORE_MB_HOME_MAX)
        max = STORE_MB_HOME_MAX;
    /* Both reads see the loop turn's one read snapshot (store_sqlite_group.c). */
    rc = SCALAR(st, sql_home_floor, &floor, account_id, (int64_t)max);
    if (rc == TD_OK && floor > 0)
        rc = home_read(st, sql_home_above, account_id, floor, ids, max, n);
    if (rc == TD_OK && *n < max)
        rc = home_read(st, sql_home, account_id, 0, ids, max, n);
    return rc;
}

int store_mb_context(struct store *st, int64_t id, int max_depth, int max_count,
                     int64_t **ancestors, size_t *nancestors, int64_t **descendants,
                     size_t *ndescendants)
{
    int64_t up[STORE_MB_ANCESTORS_MAX];
    int64_t parent = 0, cur = id;
    sqlite3_stmt *s = NULL;
    size_t nup = 0, cap = 0;
    int rc;

    *ancestors = *descendants = NULL;
    *nancestors = *ndescendants = 0;
    if (max_depth <= 0 || max_depth > STORE_MB_DEPTH_MAX)
        max_depth = STORE_MB_DEPTH_MAX;
    if (max_count <= 0 || max_count > STORE_MB_DESCENDANTS_MAX)
        max_count = STORE_MB_DESCENDANTS_MAX;
    rc = SCALAR(st, sql_parent, &parent, cur);
    if (rc != TD_OK)
        return rc;
    /* Walk up while the parent still exists (a deleted one ends the thread). */
    while (parent != 0 && nup < STORE_MB_ANCESTORS_MAX) {
        int64_t next = 0;
        rc = SCALAR(st, sql_parent, &next, parent);
        if (rc == TD_ENOTFOUND)
            break;
        if (rc != TD_OK)
            return rc;
        up[nup++] = parent;
        parent = next;
    }
    rc = TD_OK;
    if (nup > 0) {
        *ancestors = td_malloc(nup * sizeof(int64_t));
        for (size_t i = 0; i < nup; i++)
            (*ancestors)[i] = up[nup - 1 - i];
        *nancestors = nup;
    }
    rc = PREP(st, sql_descendants, &s, id, max_depth, max_count);
    while (rc == TD_OK && *ndescendants < (size_t)max_count) {
        rc = store__step_row(st, s);
        if (rc != TD_OK)
            break;
        if (*ndescendants == cap) {
            cap = cap ? cap * 2 : 16;
            *descendants = td_realloc(*descendants, cap * sizeof(int64_t));
        }
        (*descendants)[(*ndescendants)++] = sqlite3_column_int64(s, 0);
    }
    store__put(s);
    if (rc == TD_ENOTFOUND)
        rc = TD_OK;
    if (rc != TD_OK) {
        free(*ancestors);
        free(*descendants);
        *ancestors = *descendants = NULL;
        *nancestors = *ndescendants = 0;
    }
    return rc;
}

/* ---- follows ---- */

static const char sql_follow_update[] =
    "UPDATE follows SET show_reblogs = ?3 WHERE follower_id = ?1 AND followee_id = ?2";
static const char sql_locked[] = "SELECT locked FROM accounts WHERE id = ?1";
static const char sql_follow_insert[] =
    "INSERT INTO follows (follower_id, followee_id, id, created_at, show_reblogs) "
    "VALUES (?1, ?2, ?3, ?4, ?5)";
static const char sql_request_upsert[] =
    "INSERT INTO follow_requests (requester_id, target_id, id, created_at, show_reblogs) "
    "VALUES (?1, ?2, ?3, ?4, ?5) ON CONFLICT (requester_id, target_id) "
    "DO UPDATE SET show_reblogs = excluded.show_reblogs";
static const char sql_follow_delete[] =
    "DELETE FROM follows WHERE follower_id = ?1 AND followee_id = ?2";
static const char sql_request_delete[] =
    "DELETE FROM follow_requests WHERE requester_id = ?1 AND target_id = ?2";
static const char sql_request_get[] =
    "SELECT show_reblogs FROM follow_requests WHERE requester_id = ?1 AND target_id = ?2";
#define REQUESTS_Q                                                                           \
    "SELECT id, requester_id FROM follow_requests WHERE target_id = ?1 AND id < ?2 AND id > ?3"
static const char sql_requests_d[] = LIST_DESC(REQUESTS_Q);
static const char sql_requests_a[] = LIST_ASC(REQUESTS_Q);
#define FOLLOWERS_Q                                                                          \
    "SELECT id, follower_id FROM follows WHERE followee_id = ?1 AND id < ?2 AND id > ?3"
static const char sql_followers_d[] = LIST_DESC(FOLLOWERS_Q);
static const char sql_followers_a[] = LIST_ASC(FOLLOWERS_Q);
#define FOLLOWING_Q                                                                          \
    "SELECT id, followee_id FROM follows WHERE follower_id = ?1 AND id < ?2 AND id > ?3"
static const char sql_following_d[] = LIST_DESC(FOLLOWING_Q);
static const char sql_following_a[] = LIST_ASC(FOLLOWING_Q);
static const char sql_follower_ids[] = "SELECT follower_id FROM follows WHERE followee_id = ?1";

int store_mb_follow(struct store *st, int64_t follower, int64_t target, bool show_reblogs,
                    int *state)
{
    int64_t changes = 0, locked = 0;
    int result = STORE_MB_FOLLOW_EXISTED;
    struct tx t;
    int rc;

    if (follower == target)
        return TD_EINVAL;
    rc = tx_begin(st, &t);
    if (rc != TD_OK)
        return rc;
    rc = not_blocked(st, follower, target);
    if (rc == TD_OK)
        rc = EXEC(st, sql_follow_update, &changes, follower, target, show_reblogs);
    if (rc == TD_OK && changes == 0) {
        rc = SCALAR(st, sql_locked, &locked, target);
        if (rc == TD_OK && locked) {
            rc = EXEC(st, sql_request_upsert, NULL, follower, target, ids_next(), store_now_ms(),
                      show_reblogs);
            result = STORE_MB_FOLLOW_REQUESTED;
        } else if (rc == TD_OK) {
            rc = EXEC(st, sql_request_delete, NULL, follower, target);
            if (rc == TD_OK)
                rc = EXEC(st, sql_follow_insert, NULL, follower, target, ids_next(),
                          store_now_ms(), show_reblogs);
            result = STORE_MB_FOLLOW_NEW;
        }
    }
    rc = tx_end(st, &t, rc);
    if (state)
        *state = rc == TD_OK ? result : STORE_MB_FOLLOW_EXISTED;
    return rc;
}

int store_mb_unfollow(struct store *st, int64_t follower, int64_t target)
{
    struct tx t;
    int rc = tx_begin(st, &t);

    if (rc != TD_OK)
        return rc;
    rc = EXEC(st, sql_follow_delete, NULL, follower, target);
    if (rc == TD_OK)
        rc = EXEC(st, sql_request_delete, NULL, follower, target);
    return tx_end(st, &t, rc);
}

int store_mb_follow_authorize(struct store *st, int64_t target, int64_t requester)
{
    int64_t show_reblogs = 1;
    struct tx t;
    int rc = tx_begin(st, &t);

    if (rc != TD_OK)
        return rc;
    rc = SCALAR(st, sql_request_get, &show_reblogs, requester, target);
    if (rc == TD_OK)
        rc = EXEC(st, sql_request_delete, NULL, requester, target);
    if (rc == TD_OK) {
        rc = EXEC(st, sql_follow_insert, NULL, requester, target, ids_next(), store_now_ms(),
                  show_reblogs);
        if (rc == TD_EEXIST) /* already following: the request was stale */
            rc = TD_OK;
    }
    return tx_end(st, &t, rc);
}

int store_mb_follow_reject(struct store *st, int64_t target, int64_t requester)
{
    int64_t changes = 0;
    int rc = EXEC(st, sql_request_delete, &changes, requester, target);

    return rc == TD_OK && changes == 0 ? TD_ENOTFOUND : rc;
}

int store_mb_follow_requests(struct store *st, int64_t account_id, const struct store_mb_page *pg,
                             struct store_mb_list *out)
{
    return run_list(st, sql_requests_d, sql_requests_a, account_id, pg, STORE_MB_ACCOUNTS_MAX,
                    NULL, 0, out);
}

int store_mb_followers(struct store *st, int64_t account_id, const struct store_mb_page *pg,
                       struct store_mb_list *out)
{
    return run_list(st, sql_followers_d, sql_followers_a, account_id, pg, STORE_MB_ACCOUNTS_MAX,
                    NULL, 0, out);
}

int store_mb_following(struct store *st, int64_t account_id, const struct store_mb_page *pg,
                       struct store_mb_list *out)
{
    return run_list(st, sql_following_d, sql_following_a, account_id, pg, STORE_MB_ACCOUNTS_MAX,
                    NULL, 0, out);
}

int store_mb_follower_ids(struct store *st, int64_t account_id, store_mb_id_cb *cb, void *ud)
{
    sqlite3_stmt *s = NULL;
    int rc = PREP(st, sql_follower_ids, &s, account_id);

    while (rc == TD_OK) {
        rc = store__step_row(st, s);
        if (rc == TD_OK && cb(ud, sqlite3_column_int64(s, 0)))
            break;
    }
    store__put(s);
    return rc == TD_ENOTFOUND ? TD_OK : rc;
}

/* ---- relationships, blocks, mutes, visibility ---- */

static const char sql_relationship[] =
    "SELECT (SELECT show_reblogs FROM follows WHERE follower_id = ?1 AND followee_id = ?2), "
    "EXISTS(SELECT 1 FROM follows WHERE follower_id = ?2 AND followee_id = ?1), "
    "EXISTS(SELECT 1 FROM follow_requests WHERE requester_id = ?1 AND target_id = ?2), "
    "EXISTS(SELECT 1 FROM follow_requests WHERE requester_id = ?2 AND target_id = ?1), "
    "EXISTS(SELECT 1 FROM blocks WHERE account_id = ?1 AND target_id = ?2), "
    "EXISTS(SELECT 1 FROM blocks WHERE account_id = ?2 AND target_id = ?1), "
    "(SELECT hide_notifications FROM mutes WHERE account_id = ?1 AND target_id = ?2 "
    "AND (expires_at = 0 OR expires_at > ?3))";
static const char sql_block_insert[] =
    "INSERT OR IGNORE INTO blocks (account_id, target_id, id, created_at) "
    "VALUES (?1, ?2, ?3, ?4)";
static const char sql_block_delete[] =
    "DELETE FROM blocks WHERE account_id = ?1 AND target_id = ?2";
#define BLOCKS_Q "SELECT id, target_id FROM blocks WHERE account_id = ?1 AND id < ?2 AND id > ?3"
static const char sql_blocks_d[] = LIST_DESC(BLOCKS_Q);
static const char sql_blocks_a[] = LIST_ASC(BLOCKS_Q);
static const char sql_mute_upsert[] =
    "INSERT INTO mutes (account_id, target_id, id, hide_notifications, expires_at, created_at) "
    "VALUES (?1, ?2, ?3, ?4, ?5, ?6) ON CONFLICT (account_id, target_id) DO UPDATE SET "
    "hide_notifications = excluded.hide_notifications, expires_at = excluded.expires_at";
static const char sql_mute_delete[] = "DELETE FROM mutes WHERE account_id = ?1 AND target_id = ?2";
#define MUTES_Q                                                                              \
    "SELECT id, target_id FROM mutes WHERE account_id = ?1 AND id < ?2 AND id > ?3 "         \
    "AND (expires_at = 0 OR expires_at > ?5)"
static const char sql_mutes_d[] = LIST_DESC(MUTES_Q);
static const char sql_mutes_a[] = LIST_ASC(MUTES_Q);
static const char sql_can_see[] =
    "SELECT p.visibility, p.account_id, "
    "EXISTS(SELECT 1 FROM blocks WHERE account_id = p.account_id AND target_id = ?2) "
    "OR EXISTS(SELECT 1 FROM blocks WHERE account_id = ?2 AND target_id = p.account_id), "
    "EXISTS(SELECT 1 FROM follows WHERE follower_id = ?2 AND followee_id = p.account_id), "
    "EXISTS(SELECT 1 FROM mentions WHERE post_id = p.id AND account_id = ?2) "
    "FROM posts p WHERE p.id = ?1";

int store_mb_relationships(struct store *st, int64_t account_id, const int64_t *targets,
                           size_t n, struct store_mb_relationship *out)
{
    sqlite3_stmt *s = NULL;
    int64_t now = store_now_ms();
    int rc = TD_OK;

    if (n > STORE_MB_ACCOUNTS_MAX)
        return TD_EINVAL;
    for (size_t i = 0; rc == TD_OK && i < n; i++) {
        struct store_mb_relationship *r = &out[i];
        memset(r, 0, sizeof(*r));
        r->id = targets[i];
        rc = PREP(st, sql_relationship, &s, account_id, targets[i], now);
        if (rc == TD_OK)
            rc = store__step_row(st, s);
        if (rc == TD_OK) {
            r->following = sqlite3_column_type(s, 0) != SQLITE_NULL;
            r->showing_reblogs = r->following && sqlite3_column_int(s, 0) != 0;
            r->followed_by = sqlite3_column_int(s, 1) != 0;
            r->requested = sqlite3_column_int(s, 2) != 0;
            r->requested_by = sqlite3_column_int(s, 3) != 0;
            r->blocking = sqlite3_column_int(s, 4) != 0;
            r->blocked_by = sqlite3_column_int(s, 5) != 0;
            r->muting = sqlite3_column_type(s, 6) != SQLITE_NULL;
            r->muting_notifications = r->muting && sqlite3_column_int(s, 6) != 0;
        }
        store__put(s);
        s = NULL;
    }
    return rc;
}

int store_mb_block(struct store *st, int64_t account_id, int64_t target)
{
    struct tx t;
    int rc;

    if (account_id == target)
        return TD_EINVAL;
    rc = tx_begin(st, &t);
    if (rc != TD_OK)
        return rc;
    rc = EXEC(st, sql_block_insert, NULL, account_id, target, ids_next(), store_now_ms());
    if (rc == TD_OK)
        rc = EXEC(st, sql_follow_delete, NULL, account_id, target);
    if (rc == TD_OK)
        rc = EXEC(st, sql_follow_delete, NULL, target, account_id);
    if (rc == TD_OK)
        rc = EXEC(st, sql_request_delete, NULL, account_id, target);
    if (rc == TD_OK)
        rc = EXEC(st, sql_request_delete, NULL, target, account_id);
    return tx_end(st, &t, rc);
}

int store_mb_unblock(struct store *st, int64_t account_id, int64_t target)
{
    return EXEC(st, sql_block_delete, NULL, account_id, target);
}

int store_mb_blocks(struct store *st, int64_t account_id, const struct store_mb_page *pg,
                    struct store_mb_list *out)
{
    return run_list(st, sql_blocks_d, sql_blocks_a, account_id, pg, STORE_MB_ACCOUNTS_MAX, NULL,
                    0, out);
}

int store_mb_mute(struct store *st, int64_t account_id, int64_t target, bool hide_notifications,
                  int64_t expires_at)
{
    if (account_id == target || expires_at < 0)
        return TD_EINVAL;
    return EXEC(st, sql_mute_upsert, NULL, account_id, target, ids_next(), hide_notifications,
                expires_at, store_now_ms());
}

int store_mb_unmute(struct store *st, int64_t account_id, int64_t target)
{
    return EXEC(st, sql_mute_delete, NULL, account_id, target);
}

static const char sql_mute_expires[] =
    "SELECT expires_at FROM mutes WHERE account_id = ?1 AND target_id = ?2 "
    "AND (expires_at = 0 OR expires_at > ?3)";

int store_mb_mute_expires(struct store *st, int64_t account_id, int64_t target,
                          int64_t *expires_at)
{
    return SCALAR(st, sql_mute_expires, expires_at, account_id, target, store_now_ms());
}

int store_mb_mutes(struct store *st, int64_t account_id, const struct store_mb_page *pg,
                   struct store_mb_list *out)
{
    const int64_t extra[1] = {store_now_ms()};

    return run_list(st, sql_mutes_d, sql_mutes_a, account_id, pg, STORE_MB_ACCOUNTS_MAX, extra, 1,
                    out);
}

int store_mb_can_see(struct store *st, int64_t viewer, int64_t post, bool *ok)
{
    sqlite3_stmt *s = NULL;
    int rc = PREP(st, sql_can_see, &s, post, viewer);

    *ok = false;
    if (rc == TD_OK)
        rc = store__step_row(st, s);
    if (rc == TD_OK) {
        int vis = sqlite3_column_int(s, 0);
        int64_t author = sqlite3_column_int64(s, 1);
        bool blocked = sqlite3_column_int(s, 2) != 0;
        bool follows = sqlite3_column_int(s, 3) != 0;
        bool mentioned = sqlite3_column_int(s, 4) != 0;

        if (viewer != 0 && viewer == author)
            *ok = true;
        else if (blocked)
            *ok = false;
        else if (vis == STORE_MB_PUBLIC || vis == STORE_MB_UNLISTED)
            *ok = true;
        else if (viewer == 0)
            *ok = false;
        else if (vis == STORE_MB_PRIVATE)
            *ok = follows;
        else
            *ok = mentioned;
    }
    store__put(s);
    return rc;
}

/* ---- notifications ---- */

static const char *const notif_names[STORE_MB_N_COUNT] = {
    [STORE_MB_N_MENTION] = "mention",
    [STORE_MB_N_STATUS] = "status",
    [STORE_MB_N_REBLOG] = "reblog",
    [STORE_MB_N_FOLLOW] = "follow",
    [STORE_MB_N_FOLLOW_REQUEST] = "follow_request",
    [STORE_MB_N_FAVOURITE] = "favourite",
    [STORE_MB_N_UPDATE] = "update",
};

#define NOTIF_COLS "id, account_id, type, from_account_id, post_id, created_at, read"
static const char sql_notif_insert[] =
    "INSERT INTO notifications (id, account_id, type, from_account_id, post_id, created_at) "
    "VALUES (?1, ?2, ?3, ?4, ?5, ?6)";
/* ?5 / ?6: ",type,type," lists to keep / leave out, or NULL. */
#define NOTIF_Q                                                                              \
    "SELECT " NOTIF_COLS " FROM notifications WHERE account_id = ?1 AND id < ?2 AND id > ?3 " \
    "AND (?5 IS NULL OR instr(?5, ',' || type || ',') > 0) "                                 \
    "AND (?6 IS NULL OR instr(?6, ',' || type || ',') = 0)"
static const char sql_notif_d[] = LIST_DESC(NOTIF_Q);
static const char sql_notif_a[] = LIST_ASC(NOTIF_Q);
static const char sql_notif_get[] =
    "SELECT " NOTIF_COLS " FROM notifications WHERE account_id = ?1 AND id = ?2";
static const char sql_notif_delete[] =
    "DELETE FROM notifications WHERE account_id = ?1 AND id = ?2";
static const char sql_notif_clear[] = "DELETE FROM notifications WHERE account_id = ?1";
static const char sql_notif_read[] =
    "UPDATE notifications SET read = 1 WHERE account_id = ?1 AND id <= ?2 AND read = 0";
static const char sql_notif_unread[] =
    "SELECT count(*) FROM notifications WHERE account_id = ?1 AND read = 0";

const char *store_mb_notif_name(int type)
{
    return type >= 0 && type < STORE_MB_N_COUNT ? notif_names[type] : NULL;
}

int store_mb_notif_type(const char *name)
{
    for (int i = 0; name && i < STORE_MB_N_COUNT; i++)
        if (strcmp(name, notif_names[i]) == 0)
            return i;
    return -1;
}

int store_mb_notif_add(struct store *st, struct store_mb_notif *n)
{
    sqlite3_stmt *s = NULL;
    int rc;

    if (store_mb_notif_name(n->type) == NULL)
        return TD_EINVAL;
    n->id = ids_next();
    n->created_at = store_now_ms();
    n->read = false;
    rc = PREP(st, sql_notif_insert, &s, n->id, n->account_id);
    if (rc == TD_OK)
        rc = store__bind_text(st, s, 3, notif_names[n->type]);
    if (rc == TD_OK)
        rc = store__bind_i64(st, s, 4, n->from_account_id);
    if (rc == TD_OK && n->post_id)
        rc = store__bind_i64(st, s, 5, n->post_id);
    if (rc == TD_OK)
        rc = store__bind_i64(st, s, 6, n->created_at);
    if (rc == TD_OK)
        rc = store__step_done(st, s, NULL);
    store__put(s);
    if (rc != TD_OK)
        n->id = 0;
    return rc;
}

static void read_notif(sqlite3_stmt *s, struct store_mb_notif *n)
{
    memset(n, 0, sizeof(*n));
    n->id = sqlite3_column_int64(s, 0);
    n->account_id = sqlite3_column_int64(s, 1);
    n->type = store_mb_notif_type((const char *)sqlite3_column_text(s, 2));
    n->from_account_id = sqlite3_column_int64(s, 3);
    n->post_id = sqlite3_column_int64(s, 4);
    n->created_at = sqlite3_column_int64(s, 5);
    n->read = sqlite3_column_int(s, 6) != 0;
}

/* ",name,name," for the types in mask, or NULL for an empty mask. */
static const char *type_list(unsigned mask, char *buf, size_t cap)
{
    size_t len = 0;

    if ((mask & ((1u << STORE_MB_N_COUNT) - 1)) == 0)
        return NULL;
    buf[len++] = ',';
    for (int i = 0; i < STORE_MB_N_COUNT; i++) {
        size_t k = strlen(notif_names[i]);
        if (!(mask & (1u << i)) || len + k + 2 > cap)
            continue;
        memcpy(buf + len, notif_names[i], k);
        len += k;
        buf[len++] = ',';
    }
    buf[len] = '\0';
    return buf;
}

int store_mb_notif_list(struct store *st, int64_t account_id, unsigned types, unsigned exclude,
                        const struct store_mb_page *pg, store_mb_notif_cb *cb, void *ud)
{
    struct span sp = span_of(pg, STORE_MB_ACCOUNTS_MAX);
    struct store_mb_notif v[STORE_MB_ACCOUNTS_MAX];
    char keep[128], drop[128];
    sqlite3_stmt *s = NULL;
    size_t n = 0;
    int rc;

    if (types != 0 && type_list(types, keep, sizeof(keep)) == NULL)
        return TD_OK; /* only unknown types asked for: nothing matches */
    rc = PREP(st, sp.asc ? sql_notif_a : sql_notif_d, &s, account_id, sp.hi, sp.lo, sp.limit);
    if (rc == TD_OK)
        rc = store__bind_text(st, s, 5, types ? type_list(types, keep, sizeof(keep)) : NULL);
    if (rc == TD_OK)
        rc = store__bind_text(st, s, 6, type_list(exclude, drop, sizeof(drop)));
    while (rc == TD_OK && n < (size_t)sp.limit) {
        rc = store__step_row(st, s);
        if (rc == TD_OK)
            read_notif(s, &v[n++]);
    }
    store__put(s);
    if (rc != TD_OK && rc != TD_ENOTFOUND)
        return rc;
    for (size_t i = 0; i < n; i++)
        if (cb(ud, &v[sp.asc ? n - 1 - i : i]))
            break;
    return TD_OK;
}

int store_mb_notif_get(struct store *st, int64_t account_id, int64_t id,
                       struct store_mb_notif *out)
{
    sqlite3_stmt *s = NULL;
    int rc = PREP(st, sql_notif_get, &s, account_id, id);

    memset(out, 0, sizeof(*out));
    if (rc == TD_OK)
        rc = store__step_row(st, s);
    if (rc == TD_OK)
        read_notif(s, out);
    store__put(s);
    return rc;
}

int store_mb_notif_dismiss(struct store *st, int64_t account_id, int64_t id)
{
    int64_t changes = 0;
    int rc = EXEC(st, sql_notif_delete, &changes, account_id, id);

    return rc == TD_OK && changes == 0 ? TD_ENOTFOUND : rc;
}

int store_mb_notif_clear(struct store *st, int64_t account_id)
{
    return EXEC(st, sql_notif_clear, NULL, account_id);
}

int store_mb_notif_mark_read(struct store *st, int64_t account_id, int64_t upto)
{
    return EXEC(st, sql_notif_read, NULL, account_id, upto);
}

int store_mb_notif_unread(struct store *st, int64_t account_id, int64_t *n)
{
    return SCALAR(st, sql_notif_unread, n, account_id);
}

/* ---- media ---- */

static const char sql_media_insert[] =
    "INSERT INTO media (id, account_id, content_type, data, thumb, thumb_type, width, height, "
    "description, blurhash, created_at, focus_x, focus_y) "
    "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13)";
static const char sql_media_get[] =
    "SELECT id, account_id, post_id, content_type, CASE WHEN ?2 THEN data END, length(data), "
    "CASE WHEN ?2 THEN thumb END, length(thumb), thumb_type, width, height, description, "
    "blurhash, created_at, focus_x, focus_y FROM media WHERE id = ?1";
static const char sql_media_describe[] =
    "UPDATE media SET description = ?3 WHERE id = ?1 AND account_id = ?2";
static const char sql_media_focus[] =
    "UPDATE media SET focus_x = ?3, focus_y = ?4 WHERE id = ?1 AND account_id = ?2";
static const char sql_media_delete[] =
    "DELETE FROM media WHERE id = ?1 AND account_id = ?2 AND post_id IS NULL";
static const char sql_media_purge[] =
    "DELETE FROM media WHERE post_id IS NULL AND created_at < ?1";

void store_mb_media_clear(struct store_mb_media *m)
{
    if (m == NULL)
        return;
    free(m->content_type);
    free(m->data);
    free(m->thumb);
    free(m->thumb_type);
    free(m->description);
    free(m->blurhash);
    memset(m, 0, sizeof(*m));
}

static bool focus_ok(double x, double y)
{
    return x >= -1.0 && x <= 1.0 && y >= -1.0 && y <= 1.0; /* false for NaN too */
}

static int check_description(const char *d)
{
    /* 4 bytes per code point at most: cap the bytes before counting. */
    if (too_long(d, 4 * STORE_MB_DESCRIPTION_MAX))
        return TD_ETOOBIG;
    return d && utf8_count(d) > STORE_MB_DESCRIPTION_MAX ? TD_ETOOBIG : TD_OK;
}

int store_mb_media_create(struct store *st, struct store_mb_media *m)
{
    sqlite3_stmt *s = NULL;
    int rc;

    if (m->content_type == NULL || m->content_type[0] == '\0' ||
        too_long(m->content_type, STORE_MB_TYPE_MAX) || m->data == NULL || m->len == 0 ||
        too_long(m->thumb_type, STORE_MB_TYPE_MAX) ||
        too_long(m->blurhash, STORE_MB_BLURHASH_MAX) ||
        m->width < 0 || m->height < 0 || (m->thumb_len > 0 && m->thumb == NULL) ||
        (m->has_focus && !focus_ok(m->focus_x, m->focus_y)))
        return TD_EINVAL;
    if (m->len > STORE_MB_MEDIA_MAX || m->thumb_len > STORE_MB_THUMB_MAX)
        return TD_ETOOBIG;
    rc = check_description(m->description);
    if (rc != TD_OK)
        return rc;
    m->id = ids_next();
    m->created_at = store_now_ms();
    m->post_id = 0;
    rc = PREP(st, sql_media_insert, &s, m->id, m->account_id);
    if (rc == TD_OK)
        rc = store__bind_text(st, s, 3, m->content_type);
    if (rc == TD_OK)
        rc = store__bind_blob(st, s, 4, m->data, m->len);
    if (rc == TD_OK && m->thumb_len > 0)
        rc = store__bind_blob(st, s, 5, m->thumb, m->thumb_len);
    if (rc == TD_OK && m->thumb_len > 0)
        rc = store__bind_text(st, s, 6, m->thumb_type);
    if (rc == TD_OK)
        rc = store__bind_i64(st, s, 7, m->width);
    if (rc == TD_OK)
        rc = store__bind_i64(st, s, 8, m->height);
    if (rc == TD_OK)
        rc = store__bind_text(st, s, 9, nz(m->description));
    if (rc == TD_OK)
        rc = store__bind_text(st, s, 10, m->blurhash);
    if (rc == TD_OK)
        rc = store__bind_i64(st, s, 11, m->created_at);
    if (rc == TD_OK && m->has_focus)
        rc = store__bind_double(st, s, 12, m->focus_x);
    if (rc == TD_OK && m->has_focus)
        rc = store__bind_double(st, s, 13, m->focus_y);
    if (rc == TD_OK)
        rc = store__step_done(st, s, NULL);
    store__put(s);
    if (rc != TD_OK)
        m->id = 0;
    return rc;
}

/* A malloc'd copy of blob column i (NULL for SQL NULL or empty). */
static void *col_blob(sqlite3_stmt *s, int i)
{
    const void *b = sqlite3_column_blob(s, i);
    int n = sqlite3_column_bytes(s, i);
    void *out;

    if (b == NULL || n <= 0)
        return NULL;
    out = td_malloc((size_t)n);
    memcpy(out, b, (size_t)n);
    return out;
}

int store_mb_media_get(struct store *st, int64_t id, bool with_data, struct store_mb_media *out)
{
    sqlite3_stmt *s = NULL;
    int rc = PREP(st, sql_media_get, &s, id, with_data);

    memset(out, 0, sizeof(*out));
    if (rc == TD_OK)
        rc = store__step_row(st, s);
    if (rc == TD_OK) {
        char *d;
        out->id = sqlite3_column_int64(s, 0);
        out->account_id = sqlite3_column_int64(s, 1);
        out->post_id = sqlite3_column_int64(s, 2);
        out->content_type = td_strdup(nz((const char *)sqlite3_column_text(s, 3)));
        out->data = col_blob(s, 4);
        out->len = (size_t)sqlite3_column_int64(s, 5);
        out->thumb = col_blob(s, 6);
        out->thumb_len = (size_t)sqlite3_column_int64(s, 7);
        out->thumb_type = store__col_strdup(s, 8);
        out->width = sqlite3_column_int(s, 9);
        out->height = sqlite3_column_int(s, 10);
        d = store__col_strdup(s, 11);
        out->description = d ? d : td_strdup("");
        out->blurhash = store__col_strdup(s, 12);
        out->created_at = sqlite3_column_int64(s, 13);
        out->has_focus = sqlite3_column_type(s, 14) != SQLITE_NULL &&
                         sqlite3_column_type(s, 15) != SQLITE_NULL;
        if (out->has_focus) {
            out->focus_x = sqlite3_column_double(s, 14);
            out->focus_y = sqlite3_column_double(s, 15);
        }
    }
    store__put(s);
    return rc;
}

int store_mb_media_attach(struct store *st, int64_t account_id, int64_t media_id,
                          int64_t post_id)
{
    int64_t author = 0, n = 0;
    struct tx t;
    int rc = tx_begin(st, &t);

    if (rc != TD_OK)
        return rc;
    rc = SCALAR(st, sql_post_author, &author, post_id);
    if (rc == TD_OK && author != account_id)
        rc = TD_EDENIED;
    if (rc == TD_OK)
        rc = SCALAR(st, sql_media_count, &n, post_id);
    if (rc == TD_OK && n >= STORE_MB_MEDIA_PER_POST)
        rc = TD_ELIMIT;
    if (rc == TD_OK)
        rc = attach_one(st, account_id, media_id, post_id);
    return tx_end(st, &t, rc);
}

int store_mb_media_describe(struct store *st, int64_t account_id, int64_t media_id,
                            const char *description)
{
    sqlite3_stmt *s = NULL;
    int64_t changes = 0;
    int rc = check_description(description);

    if (rc == TD_OK)
        rc = PREP(st, sql_media_describe, &s, media_id, account_id);
    if (rc == TD_OK)
        rc = store__bind_text(st, s, 3, nz(description));
    if (rc == TD_OK)
        rc = store__step_done(st, s, &changes);
    store__put(s);
    return media_outcome(st, rc, changes, media_id);
}

int store_mb_media_set_focus(struct store *st, int64_t account_id, int64_t media_id, double x,
                             double y)
{
    sqlite3_stmt *s = NULL;
    int64_t changes = 0;
    int rc = focus_ok(x, y) ? TD_OK : TD_EINVAL;

    if (rc == TD_OK)
        rc = PREP(st, sql_media_focus, &s, media_id, account_id);
    if (rc == TD_OK)
        rc = store__bind_double(st, s, 3, x);
    if (rc == TD_OK)
        rc = store__bind_double(st, s, 4, y);
    if (rc == TD_OK)
        rc = store__step_done(st, s, &changes);
    store__put(s);
    return media_outcome(st, rc, changes, media_id);
}

int store_mb_media_delete(struct store *st, int64_t account_id, int64_t media_id)
{
    int64_t changes = 0;
    int rc = EXEC(st, sql_media_delete, &changes, media_id, account_id);

    return media_outcome(st, rc, changes, media_id);
}

int store_mb_media_purge(struct store *st, int64_t before, int64_t *n)
{
    return EXEC(st, sql_media_purge, n, before);
}

/* ---- search, accounts ---- */

static const char sql_tag_search[] =
    "SELECT id, name FROM tags WHERE name >= ?1 AND (?2 IS NULL OR name < ?2) "
    "ORDER BY name LIMIT ?3";
static const char sql_account_search[] =
    "SELECT id FROM (SELECT id, 0 AS r, username_lc AS k FROM accounts "
    "WHERE username_lc >= ?1 AND (?2 IS NULL OR username_lc < ?2) AND disabled = 0 "
    "UNION ALL SELECT id, 1, username_lc FROM accounts "
    "WHERE display_name LIKE ?3 ESCAPE '\\' AND disabled = 0) "
    "GROUP BY id ORDER BY min(r), max(k) LIMIT ?4";
static const char sql_stats[] =
    "SELECT followers_count, following_count, statuses_count, last_status_at "
    "FROM account_stats WHERE account_id = ?1";
static const char sql_flags[] = "SELECT locked, discoverable FROM accounts WHERE id = ?1";
static const char sql_flags_set[] =
    "UPDATE accounts SET locked = ?2, discoverable = ?3, updated_at = ?4 WHERE id = ?1";

/* The smallest string above every string starting with p[0..len) in byte
 * order, written to up (len + 1 bytes); false if there is none (all 0xff). */
static bool prefix_upper(const char *p, size_t len, char *up)
{
    while (len > 0 && (unsigned char)p[len - 1] == 0xff)
        len--;
    if (len == 0)
        return false;
    memcpy(up, p, len);
    up[len - 1] = (char)((unsigned char)up[len - 1] + 1);
    up[len] = '\0';
    return true;
}

static int search_limit(int limit)
{
    return limit <= 0 ? STORE_MB_LIMIT_DEFAULT
                      : limit > STORE_MB_SEARCH_MAX ? STORE_MB_SEARCH_MAX : limit;
}

int store_mb_tag_search(struct store *st, const char *prefix, int limit, store_mb_tag_cb *cb,
                        void *ud)
{
    char up[STORE_MB_TAG_MAX + 1];
    sqlite3_stmt *s = NULL;
    size_t len;
    int rc;

    if (prefix == NULL || prefix[0] == '\0' || too_long(prefix, STORE_MB_TAG_MAX))
        return TD_EINVAL;
    len = strlen(prefix);
    rc = store__stmt(st, sql_tag_search, &s);
    if (rc == TD_OK)
        rc = store__bind_text(st, s, 1, prefix);
    if (rc == TD_OK)
        rc = store__bind_text(st, s, 2, prefix_upper(prefix, len, up) ? up : NULL);
    if (rc == TD_OK)
        rc = store__bind_i64(st, s, 3, search_limit(limit));
    while (rc == TD_OK) {
        rc = store__step_row(st, s);
        if (rc == TD_OK &&
            cb(ud, sqlite3_column_int64(s, 0), nz((const char *)sqlite3_column_text(s, 1))))
            break;
    }
    store__put(s);
    return rc == TD_ENOTFOUND ? TD_OK : rc;
}

#define SEARCH_PREFIX_MAX 256

int store_mb_account_search(struct store *st, const char *prefix, int limit, int64_t *ids,
                            size_t *n)
{
    char lc[SEARCH_PREFIX_MAX + 1], up[SEARCH_PREFIX_MAX + 1], like[2 * SEARCH_PREFIX_MAX + 2];
    sqlite3_stmt *s = NULL;
    size_t len, k = 0;
    int max = search_limit(limit);
    int rc;

    *n = 0;
    if (prefix == NULL || prefix[0] == '\0' || too_long(prefix, SEARCH_PREFIX_MAX))
        return TD_EINVAL;
    len = strlen(prefix);
    for (size_t i = 0; i <= len; i++) {
        char c = prefix[i];
        lc[i] = c >= 'A' && c <= 'Z' ? (char)(c - 'A' + 'a') : c;
        /* LIKE pattern: the prefix with its wildcards escaped, then '%'. */
        if (c == '%' || c == '_' || c == '\\')
            like[k++] = '\\';
        if (c != '\0')
            like[k++] = c;
    }
    like[k++] = '%';
    like[k] = '\0';
    rc = store__stmt(st, sql_account_search, &s);
    if (rc == TD_OK)
        rc = store__bind_text(st, s, 1, lc);
    if (rc == TD_OK)
        rc = store__bind_text(st, s, 2, prefix_upper(lc, len, up) ? up : NULL);
    if (rc == TD_OK)
        rc = store__bind_text(st, s, 3, like);
    if (rc == TD_OK)
        rc = store__bind_i64(st, s, 4, max);
    while (rc == TD_OK && *n < (size_t)max) {
        rc = store__step_row(st, s);
        if (rc == TD_OK)
            ids[(*n)++] = sqlite3_column_int64(s, 0);
    }
    store__put(s);
    return rc == TD_ENOTFOUND ? TD_OK : rc;
}

int store_mb_account_stats(struct store *st, int64_t account_id, struct store_mb_stats *out)
{
    sqlite3_stmt *s = NULL;
    int rc = PREP(st, sql_stats, &s, account_id);

    memset(out, 0, sizeof(*out));
    if (rc == TD_OK)
        rc = store__step_row(st, s);
    if (rc == TD_OK) {
        out->followers_count = sqlite3_column_int64(s, 0);
        out->following_count = sqlite3_column_int64(s, 1);
        out->statuses_count = sqlite3_column_int64(s, 2);
        out->last_status_at = sqlite3_column_int64(s, 3);
    }
    store__put(s);
    return rc;
}

int store_mb_account_flags(struct store *st, int64_t account_id, bool *locked,
                           bool *discoverable)
{
    sqlite3_stmt *s = NULL;
    int rc = PREP(st, sql_flags, &s, account_id);

    if (rc == TD_OK)
        rc = store__step_row(st, s);
    if (rc == TD_OK) {
        if (locked)
            *locked = sqlite3_column_int(s, 0) != 0;
        if (discoverable)
            *discoverable = sqlite3_column_int(s, 1) != 0;
    }
    store__put(s);
    return rc;
}

int store_mb_account_set_flags(struct store *st, int64_t account_id, bool locked,
                               bool discoverable)
{
    int64_t changes = 0;
    int rc = EXEC(st, sql_flags_set, &changes, account_id, locked, discoverable, store_now_ms());

    return rc == TD_OK && changes == 0 ? TD_ENOTFOUND : rc;
}

/* ---- the viewer's filters (read once per list by the service) ---- */

static const char sql_viewer_blocks[] =
    "SELECT target_id FROM blocks WHERE account_id = ?1 UNION "
    "SELECT account_id FROM blocks WHERE target_id = ?1 ORDER BY 1";
static const char sql_viewer_mutes[] =
    "SELECT target_id FROM mutes WHERE account_id = ?1 AND (expires_at = 0 OR expires_at > ?2) "
    "ORDER BY 1";
/* Index-only: the favourites' primary key and posts_reblog_once, no post row read. */
static const char sql_viewer_flags[] =
    "SELECT 0, post_id FROM favourites WHERE account_id = ?1 AND post_id IN (" BATCH_PARAMS ") "
    "UNION ALL SELECT 1, reblog_of_id FROM posts WHERE account_id = ?1 "
    "AND reblog_of_id IN (" BATCH_PARAMS ")";

#define VIEWER_IDS_MAX 100000 /* blocks or mutes of one account read per list */

/* The first column of every row of a prepared statement, into a malloc'd array. */
static int read_id_column(struct store *st, sqlite3_stmt *s, int64_t **out, size_t *n)
{
    size_t cap = 0;
    int rc;

    *out = NULL;
    *n = 0;
    while ((rc = store__step_row(st, s)) == TD_OK && *n < VIEWER_IDS_MAX) {
        if (*n == cap) {
            cap = cap ? cap * 2 : 16;
            *out = td_realloc(*out, cap * sizeof(int64_t));
        }
        (*out)[(*n)++] = sqlite3_column_int64(s, 0);
    }
    return rc == TD_ENOTFOUND || rc == TD_OK ? TD_OK : rc;
}

int store_mb_viewer_filters(struct store *st, int64_t viewer, int64_t **blocks, size_t *nblocks,
                            int64_t **mutes, size_t *nmutes)
{
    sqlite3_stmt *s = NULL;
    int rc = PREP(st, sql_viewer_blocks, &s, viewer);

    *mutes = NULL;
    *nmutes = 0;
    if (rc == TD_OK)
        rc = read_id_column(st, s, blocks, nblocks);
    store__put(s);
    s = NULL;
    if (rc == TD_OK)
        rc = PREP(st, sql_viewer_mutes, &s, viewer, store_now_ms());
    if (rc == TD_OK)
        rc = read_id_column(st, s, mutes, nmutes);
    store__put(s);
    if (rc != TD_OK) {
        free(*blocks);
        free(*mutes);
        *blocks = *mutes = NULL;
        *nblocks = *nmutes = 0;
    }
    return rc;
}

int store_mb_viewer_flags(struct store *st, int64_t viewer, const int64_t *ids, size_t n,
                          bool *fav, bool *reb)
{
    sqlite3_stmt *s = NULL;
    int rc;

    if (n > STORE_MB_STATUSES_MAX)
        return TD_EINVAL;
    memset(fav, 0, n * sizeof(bool));
    memset(reb, 0, n * sizeof(bool));
    if (n == 0 || viewer == 0)
        return TD_OK;
    rc = PREP(st, sql_viewer_flags, &s, viewer);
    for (size_t i = 0; rc == TD_OK && i < n; i++)
        rc = store__bind_i64(st, s, (int)i + 2, ids[i]);
    while (rc == TD_OK && (rc = store__step_row(st, s)) == TD_OK) {
        bool is_reblog = sqlite3_column_int(s, 0) != 0;
        int64_t id = sqlite3_column_int64(s, 1);
        for (size_t i = 0; i < n; i++)
            if (ids[i] == id)
                *(is_reblog ? &reb[i] : &fav[i]) = true;
    }
    store__put(s);
    return rc == TD_ENOTFOUND ? TD_OK : rc;
}

/* ---- full-text search, markers ---- */

static const char sql_fts_search[] =
    "SELECT rowid FROM posts_fts WHERE posts_fts MATCH ?1 AND rowid < ?2 AND rowid > ?3 "
    "ORDER BY rowid DESC LIMIT ?4";
static const char sql_marker_get[] =
    "SELECT last_read_id, version, updated_at FROM mb_markers "
    "WHERE account_id = ?1 AND timeline = ?2";
static const char sql_marker_set[] =
    "INSERT INTO mb_markers (account_id, timeline, last_read_id, version, updated_at) "
    "VALUES (?1, ?2, ?3, 1, ?4) ON CONFLICT (account_id, timeline) DO UPDATE SET "
    "last_read_id = excluded.last_read_id, version = version + 1, "
    "updated_at = excluded.updated_at";

static bool fts_space(char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v';
}

/* The FTS5 expression for query: each word a double-quoted string (its own
 * quotes doubled), joined by spaces (AND). Nothing of the user's text is
 * read as FTS5 syntax: no operators, columns, prefixes or NEAR. Written to
 * out (cap: 2 * STORE_MB_FTS_QUERY_MAX + 3 * STORE_MB_FTS_WORDS_MAX + 1). */
static size_t fts_expr(const char *q, char *out)
{
    size_t k = 0;
    int words = 0;

    while (*q && words < STORE_MB_FTS_WORDS_MAX) {
        while (fts_space(*q))
            q++;
        if (*q == '\0')
            break;
        if (k)
            out[k++] = ' ';
        out[k++] = '"';
        for (; *q && !fts_space(*q); q++) {
            if (*q == '"')
                out[k++] = '"';
            out[k++] = *q;
        }
        out[k++] = '"';
        words++;
    }
    out[k] = '\0';
    return k;
}

int store_mb_post_search(struct store *st, const char *query, int64_t before, int64_t after,
                         int64_t *ids, size_t max, size_t *n)
{
    char expr[2 * STORE_MB_FTS_QUERY_MAX + 3 * STORE_MB_FTS_WORDS_MAX + 1];
    sqlite3_stmt *s = NULL;
    int rc;

    *n = 0;
    if (query == NULL || too_long(query, STORE_MB_FTS_QUERY_MAX))
        return TD_EINVAL;
    if (fts_expr(query, expr) == 0)
        return TD_EINVAL;
    rc = store__stmt(st, sql_fts_search, &s);
    if (rc == TD_OK)
        rc = store__bind_text(st, s, 1, expr);
    if (rc == TD_OK)
        rc = store__bind_i64(st, s, 2, before > 0 ? before : INT64_MAX);
    if (rc == TD_OK)
        rc = store__bind_i64(st, s, 3, after > 0 ? after : 0);
    if (rc == TD_OK)
        rc = store__bind_i64(st, s, 4, (int64_t)max);
    while (rc == TD_OK && *n < max) {
        rc = store__step_row(st, s);
        if (rc == TD_OK)
            ids[(*n)++] = sqlite3_column_int64(s, 0);
    }
    store__put(s);
    return rc == TD_ENOTFOUND ? TD_OK : rc;
}

static bool marker_timeline_ok(const char *t)
{
    return t && (strcmp(t, "home") == 0 || strcmp(t, "notifications") == 0);
}

int store_mb_marker_get(struct store *st, int64_t account_id, const char *timeline,
                        struct store_mb_marker *out)
{
    sqlite3_stmt *s = NULL;
    int rc;

    memset(out, 0, sizeof(*out));
    if (!marker_timeline_ok(timeline))
        return TD_EINVAL;
    rc = PREP(st, sql_marker_get, &s, account_id);
    if (rc == TD_OK)
        rc = store__bind_text(st, s, 2, timeline);
    if (rc == TD_OK)
        rc = store__step_row(st, s);
    if (rc == TD_OK) {
        out->last_read_id = sqlite3_column_int64(s, 0);
        out->version = sqlite3_column_int64(s, 1);
        out->updated_at = sqlite3_column_int64(s, 2);
    }
    store__put(s);
    return rc;
}

int store_mb_marker_set(struct store *st, int64_t account_id, const char *timeline,
                        int64_t last_read_id, struct store_mb_marker *out)
{
    sqlite3_stmt *s = NULL;
    struct store_mb_marker tmp;
    int rc;

    if (!marker_timeline_ok(timeline) || last_read_id < 0)
        return TD_EINVAL;
    rc = PREP(st, sql_marker_set, &s, account_id);
    if (rc == TD_OK)
        rc = store__bind_text(st, s, 2, timeline);
    if (rc == TD_OK)
        rc = store__bind_i64(st, s, 3, last_read_id);
    if (rc == TD_OK)
        rc = store__bind_i64(st, s, 4, store_now_ms());
    if (rc == TD_OK)
        rc = store__step_done(st, s, NULL);
    store__put(s);
    if (rc != TD_OK)
        return rc;
    return store_mb_marker_get(st, account_id, timeline, out ? out : &tmp);
}
