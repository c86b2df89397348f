/* SPDX-License-Identifier: MIT */
/* Unit tests for store/store_sqlite_mb.c (store_mb.h): the migration on a
 * database at the previous version, posts (create, read, batch read, edit
 * and history, delete and its cascades), idempotency, limits, reblogs and
 * favourites with their counters, every timeline with Mastodon's paging edges
 * (max_id, since_id, min_id, limit caps), context, follows and requests,
 * blocks, mutes, relationships, store_mb_can_see()'s table, notifications,
 * media, search, the deletion of an account, bulk loading and the query
 * plans the benchmark relies on. Each test gets a fresh database in its own
 * mkdtemp directory. */
#include "core/err.h"
#include "store/store.h"
#include "store/store_mb.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sqlite3.h>
#include <unistd.h>

#include <cmocka.h>

struct store_migration {
    const char *name;
    const char *sql;
};
extern const struct store_migration store__migrations[];

struct fx {
    char dir[64];
    char path[128];
    struct store *st;
};

static void open_ok(struct fx *f)
{
    struct store_opts o = {.path = f->path, .apply_migrations = true};
    char *err = NULL;
    int rc = store_open(&o, &f->st, &err);

    if (rc != TD_OK)
        fail_msg("store_open: %d %s", rc, err ? err : "");
}

static int setup_raw(void **state)
{
    struct fx *f = calloc(1, sizeof(*f));

    snprintf(f->dir, sizeof(f->dir), "/tmp/test_store_mb.XXXXXX");
    if (mkdtemp(f->dir) == NULL)
        return -1;
    snprintf(f->path, sizeof(f->path), "%s/tandem.db", f->dir);
    *state = f;
    return 0;
}

static int setup(void **state)
{
    int rc = setup_raw(state);

    if (rc == 0)
        open_ok(*state);
    return rc;
}

static int teardown(void **state)
{
    struct fx *f = *state;
    char p[160];
    static const char *const suffix[] = {"", "-wal", "-shm", "-journal"};

    store_close(f->st);
    for (size_t i = 0; i < sizeof(suffix) / sizeof(suffix[0]); i++) {
        snprintf(p, sizeof(p), "%s%s", f->path, suffix[i]);
        unlink(p);
    }
    rmdir(f->dir);
    free(f);
    return 0;
}

/* Run sql on a second, raw connection (foreign keys on, as the store has them). */
static void raw_exec(struct fx *f, const char *sql)
{
    sqlite3 *db = NULL;
    char *msg = NULL;

    assert_int_equal(sqlite3_open(f->path, &db), SQLITE_OK);
    sqlite3_busy_timeout(db, 5000);
    if (sqlite3_exec(db, "PRAGMA foreign_keys = ON", NULL, NULL, &msg) != SQLITE_OK ||
        sqlite3_exec(db, sql, NULL, NULL, &msg) != SQLITE_OK)
        fail_msg("raw_exec: %s", msg ? msg : "?");
    sqlite3_close(db);
}

/* Run one statement with ?1 bound to id on a raw connection (foreign keys on). */
static void raw_exec_id(struct fx *f, const char *sql, int64_t id)
{
    sqlite3 *db = NULL;
    sqlite3_stmt *s = NULL;

    assert_int_equal(sqlite3_open(f->path, &db), SQLITE_OK);
    sqlite3_busy_timeout(db, 5000);
    assert_int_equal(sqlite3_exec(db, "PRAGMA foreign_keys = ON", NULL, NULL, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_prepare_v2(db, sql, -1, &s, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_bind_int64(s, 1, id), SQLITE_OK);
    assert_int_equal(sqlite3_step(s), SQLITE_DONE);
    sqlite3_finalize(s);
    sqlite3_close(db);
}

static int64_t mkacct(struct fx *f, const char *name)
{
    struct account a = {.username = (char *)name, .display_name = (char *)name};

    assert_int_equal(store_account_create(f->st, &a), TD_OK);
    return a.id;
}

/* A post by author; reply_to 0 = none. */
static int64_t post(struct fx *f, int64_t author, const char *text, int vis, int64_t reply_to)
{
    struct store_mb_post p = {.account_id = author, .source = (char *)text,
                              .content = (char *)text, .visibility = vis,
                              .in_reply_to_id = reply_to};

    assert_int_equal(store_mb_post_create(f->st, &p, NULL, NULL), TD_OK);
    assert_true(p.id > 0);
    return p.id;
}

static int64_t media(struct fx *f, int64_t owner)
{
    static const char bytes[] = "\x89PNG fake";
    struct store_mb_media m = {.account_id = owner, .content_type = (char *)"image/png",
                               .data = (void *)bytes, .len = sizeof(bytes)};

    assert_int_equal(store_mb_media_create(f->st, &m), TD_OK);
    return m.id;
}

static struct store_mb_stats stats(struct fx *f, int64_t id)
{
    struct store_mb_stats s;

    assert_int_equal(store_mb_account_stats(f->st, id, &s), TD_OK);
    return s;
}

static struct store_mb_post get(struct fx *f, int64_t id, int64_t viewer)
{
    struct store_mb_post p;

    assert_int_equal(store_mb_post_get(f->st, id, viewer, &p), TD_OK);
    return p;
}

static int64_t count_of(struct fx *f, int64_t id, int which)
{
    struct store_mb_post p = get(f, id, 0);
    int64_t v = which == 0 ? p.replies_count : which == 1 ? p.reblogs_count : p.favourites_count;

    store_mb_post_clear(&p);
    return v;
}
#define REPLIES(f, id) count_of(f, id, 0)
#define REBLOGS(f, id) count_of(f, id, 1)
#define FAVS(f, id) count_of(f, id, 2)

/* ---- migration ---- */

static void test_migration_from_previous(void **state)
{
    struct fx *f = *state;
    char sql[256];
    struct store_mb_stats s;
    bool locked = true, disc = false;
    int v;

    /* A database at the previous version with an account in it. */
    for (int i = 0; i < STORE_SCHEMA_VERSION - 1; i++)
        raw_exec(f, store__migrations[i].sql);
    snprintf(sql, sizeof(sql),
             "PRAGMA user_version = %d; INSERT INTO accounts (id, username, username_lc, "
             "created_at, updated_at) VALUES (7, 'Old', 'old', 1, 1);",
             STORE_SCHEMA_VERSION - 1);
    raw_exec(f, sql);
    open_ok(f);
    assert_int_equal(store_schema_version(f->st, &v), TD_OK);
    assert_int_equal(v, STORE_SCHEMA_VERSION);
    /* The existing account got its counters row and the new columns' defaults. */
    assert_int_equal(store_mb_account_stats(f->st, 7, &s), TD_OK);
    assert_int_equal(s.statuses_count, 0);
    assert_int_equal(store_mb_account_flags(f->st, 7, &locked, &disc), TD_OK);
    assert_false(locked);
    assert_true(disc);
    assert_true(post(f, 7, "hello", STORE_MB_PUBLIC, 0) > 0);
    assert_int_equal(stats(f, 7).statuses_count, 1);
}

/* ---- posts ---- */

static void test_post_create_get(void **state)
{
    struct fx *f = *state;
    int64_t a = mkacct(f, "alice"), b = mkacct(f, "bob"), c = mkacct(f, "carol");
    int64_t m1 = media(f, a), m2 = media(f, a);
    int64_t mentions[] = {c, b, b};
    const char *tags[] = {"zed", "tandem", "zed"};
    int64_t ms[] = {m1, m2};
    struct store_mb_extras x = {mentions, 3, tags, 3, ms, 2};
    struct store_mb_post p = {.account_id = a, .source = (char *)"hi @bob #tandem",
                              .content = (char *)"<p>hi</p>", .spoiler_text = (char *)"cw",
                              .language = (char *)"en", .sensitive = true,
                              .visibility = STORE_MB_UNLISTED};
    struct store_mb_post g;
    struct store_mb_media md;
    int64_t r;

    assert_int_equal(store_mb_post_create(f->st, &p, &x, NULL), TD_OK);
    g = get(f, p.id, 0);
    assert_int_equal(g.account_id, a);
    assert_string_equal(g.source, "hi @bob #tandem");
    assert_string_equal(g.content, "<p>hi</p>");
    assert_string_equal(g.spoiler_text, "cw");
    assert_string_equal(g.language, "en");
    assert_true(g.sensitive);
    assert_int_equal(g.visibility, STORE_MB_UNLISTED);
    assert_int_equal(g.edited_at, 0);
    assert_true(g.created_at > 0);
    assert_int_equal(g.nmentions, 2);
    assert_int_equal(g.mentions[0], b < c ? b : c);
    assert_int_equal(g.ntags, 2);
    assert_string_equal(g.tags[0], "tandem");
    assert_string_equal(g.tags[1], "zed");
    assert_int_equal(g.nmedia, 2);
    assert_int_equal(g.media[0], m1);
    assert_int_equal(g.media[1], m2);
    store_mb_post_clear(&g);
    assert_int_equal(store_mb_media_get(f->st, m1, false, &md), TD_OK);
    assert_int_equal(md.post_id, p.id);
    assert_null(md.data);
    store_mb_media_clear(&md);
    assert_int_equal(stats(f, a).statuses_count, 1);
    assert_int_equal(stats(f, a).last_status_at, p.created_at);

    /* A reply: parent's counter and author, NULL strings read back as "". */
    r = post(f, b, NULL, STORE_MB_PUBLIC, p.id);
    g = get(f, r, 0);
    assert_int_equal(g.in_reply_to_id, p.id);
    assert_int_equal(g.in_reply_to_account_id, a);
    assert_string_equal(g.source, "");
    assert_null(g.language);
    assert_int_equal(g.nmentions, 0);
    store_mb_post_clear(&g);
    assert_int_equal(REPLIES(f, p.id), 1);

    /* Direct posts do not count in statuses_count (Mastodon). */
    post(f, b, "psst", STORE_MB_DIRECT, 0);
    assert_int_equal(stats(f, b).statuses_count, 1);

    /* Failures leave nothing behind. */
    struct store_mb_post bad = {.account_id = a, .source = (char *)"x", .in_reply_to_id = 1};
    assert_int_equal(store_mb_post_create(f->st, &bad, NULL, NULL), TD_ENOTFOUND);
    int64_t ghost[] = {424242};
    struct store_mb_extras gx = {.mentions = ghost, .nmentions = 1};
    bad.in_reply_to_id = 0;
    assert_int_equal(store_mb_post_create(f->st, &bad, &gx, NULL), TD_ENOTFOUND);
    int64_t others[] = {media(f, b)};
    struct store_mb_extras ox = {.media = others, .nmedia = 1};
    assert_int_equal(store_mb_post_create(f->st, &bad, &ox, NULL), TD_EDENIED);
    int64_t used[] = {m1};
    struct store_mb_extras ux = {.media = used, .nmedia = 1};
    assert_int_equal(store_mb_post_create(f->st, &bad, &ux, NULL), TD_EDENIED);
    assert_int_equal(stats(f, a).statuses_count, 1);
    assert_int_equal(store_mb_post_get(f->st, 99, 0, &g), TD_ENOTFOUND);
    struct store_mb_post nobody = {.account_id = 31337};
    assert_int_equal(store_mb_post_create(f->st, &nobody, NULL, NULL), TD_ENOTFOUND);
}

static void test_idempotency(void **state)
{
    struct fx *f = *state;
    int64_t a = mkacct(f, "alice"), b = mkacct(f, "bob");
    uint8_t key[32];
    struct store_mb_post p = {.account_id = a, .source = (char *)"once"};
    int64_t first;

    memset(key, 7, sizeof(key));
    assert_int_equal(store_mb_post_create(f->st, &p, NULL, key), TD_OK);
    first = p.id;
    memset(&p, 0, sizeof(p));
    p.account_id = a;
    p.source = (char *)"twice";
    assert_int_equal(store_mb_post_create(f->st, &p, NULL, key), TD_EEXIST);
    assert_int_equal(p.id, first);
    assert_int_equal(stats(f, a).statuses_count, 1);
    /* The same key from another account is another post. */
    p.account_id = b;
    p.id = 0;
    assert_int_equal(store_mb_post_create(f->st, &p, NULL, key), TD_OK);
    assert_true(p.id != first);
    /* No key: always new. */
    p.account_id = a;
    assert_int_equal(store_mb_post_create(f->st, &p, NULL, NULL), TD_OK);
    assert_int_equal(stats(f, a).statuses_count, 2);
}

static void test_limits(void **state)
{
    struct fx *f = *state;
    int64_t a = mkacct(f, "alice");
    char *big = malloc(STORE_MB_SOURCE_MAX + 2);
    char *desc = malloc(4 * STORE_MB_DESCRIPTION_MAX + 8);
    int64_t ids[STORE_MB_MENTIONS_MAX + 1];
    const char *tags[STORE_MB_TAGS_MAX + 1];
    int64_t ms[STORE_MB_MEDIA_PER_POST + 1];
    struct store_mb_post p = {.account_id = a};
    struct store_mb_extras x = {0};
    struct store_mb_media m = {.account_id = a, .content_type = (char *)"image/png",
                               .data = big, .len = 10};

    memset(big, 'a', STORE_MB_SOURCE_MAX + 1);
    big[STORE_MB_SOURCE_MAX + 1] = '\0';
    p.source = big;
    assert_int_equal(store_mb_post_create(f->st, &p, NULL, NULL), TD_ETOOBIG);
    big[STORE_MB_SOURCE_MAX] = '\0';
    assert_int_equal(store_mb_post_create(f->st, &p, NULL, NULL), TD_OK);
    p.source = (char *)"x";
    big[STORE_MB_SPOILER_MAX + 1] = '\0';
    p.spoiler_text = big;
    assert_int_equal(store_mb_post_create(f->st, &p, NULL, NULL), TD_ETOOBIG);
    p.spoiler_text = NULL;
    p.language = big;
    assert_int_equal(store_mb_post_create(f->st, &p, NULL, NULL), TD_EINVAL);
    p.language = NULL;
    p.visibility = 4;
    assert_int_equal(store_mb_post_create(f->st, &p, NULL, NULL), TD_EINVAL);
    p.visibility = 0;
    p.reblog_of_id = 1;
    assert_int_equal(store_mb_post_create(f->st, &p, NULL, NULL), TD_EINVAL);
    p.reblog_of_id = 0;

    for (int i = 0; i <= STORE_MB_MENTIONS_MAX; i++)
        ids[i] = a;
    x.mentions = ids;
    x.nmentions = STORE_MB_MENTIONS_MAX + 1;
    assert_int_equal(store_mb_post_create(f->st, &p, &x, NULL), TD_ELIMIT);
    x.nmentions = STORE_MB_MENTIONS_MAX;
    assert_int_equal(store_mb_post_create(f->st, &p, &x, NULL), TD_OK);
    memset(&x, 0, sizeof(x));
    for (int i = 0; i <= STORE_MB_TAGS_MAX; i++)
        tags[i] = "t";
    x.tags = tags;
    x.ntags = STORE_MB_TAGS_MAX + 1;
    assert_int_equal(store_mb_post_create(f->st, &p, &x, NULL), TD_ELIMIT);
    x.ntags = 1;
    tags[0] = "two words";
    assert_int_equal(store_mb_post_create(f->st, &p, &x, NULL), TD_EINVAL);
    tags[0] = "";
    assert_int_equal(store_mb_post_create(f->st, &p, &x, NULL), TD_EINVAL);
    memset(&x, 0, sizeof(x));
    for (int i = 0; i <= STORE_MB_MEDIA_PER_POST; i++)
        ms[i] = media(f, a);
    x.media = ms;
    x.nmedia = STORE_MB_MEDIA_PER_POST + 1;
    assert_int_equal(store_mb_post_create(f->st, &p, &x, NULL), TD_ELIMIT);
    x.nmedia = STORE_MB_MEDIA_PER_POST;
    assert_int_equal(store_mb_post_create(f->st, &p, &x, NULL), TD_OK);
    /* A fifth attachment by the other route. */
    assert_int_equal(store_mb_media_attach(f->st, a, ms[4], p.id), TD_ELIMIT);

    /* Media sizes and descriptions (counted in code points). */
    m.len = STORE_MB_MEDIA_MAX + 1;
    assert_int_equal(store_mb_media_create(f->st, &m), TD_ETOOBIG);
    m.len = 0;
    assert_int_equal(store_mb_media_create(f->st, &m), TD_EINVAL);
    m.len = 10;
    m.thumb = big;
    m.thumb_len = STORE_MB_THUMB_MAX + 1;
    assert_int_equal(store_mb_media_create(f->st, &m), TD_ETOOBIG);
    m.thumb_len = 0;
    for (int i = 0; i < STORE_MB_DESCRIPTION_MAX; i++)
        memcpy(desc + 2 * i, "\xc3\xa9", 2); /* é: 2 bytes, 1 code point */
    desc[2 * STORE_MB_DESCRIPTION_MAX] = '\0';
    m.description = desc;
    assert_int_equal(store_mb_media_create(f->st, &m), TD_OK);
    memcpy(desc + 2 * STORE_MB_DESCRIPTION_MAX, "x", 2);
    assert_int_equal(store_mb_media_create(f->st, &m), TD_ETOOBIG);
    assert_int_equal(store_mb_media_describe(f->st, a, ms[0], desc), TD_ETOOBIG);
    m.description = NULL;
    m.content_type = NULL;
    assert_int_equal(store_mb_media_create(f->st, &m), TD_EINVAL);
    free(big);
    free(desc);
}

struct collect {
    int64_t ids[256];
    bool fav[256], reb[256];
    size_t n;
    size_t stop_after;
};

static int collect_post(void *ud, const struct store_mb_post *p)
{
    struct collect *c = ud;

    c->fav[c->n] = p->favourited;
    c->reb[c->n] = p->reblogged;
    c->ids[c->n++] = p->id;
    return c->stop_after && c->n >= c->stop_after;
}

static void test_batch_get(void **state)
{
    struct fx *f = *state;
    int64_t a = mkacct(f, "alice"), v = mkacct(f, "viewer");
    int64_t ids[101];
    struct collect c = {0};
    int64_t rb;

    for (int i = 0; i < 100; i++)
        ids[i] = post(f, a, "p", STORE_MB_PUBLIC, 0);
    ids[100] = 12345; /* missing: skipped */
    assert_int_equal(store_mb_favourite(f->st, v, ids[99]), TD_OK);
    assert_int_equal(store_mb_reblog(f->st, v, ids[98], STORE_MB_PUBLIC, &rb), TD_OK);
    assert_int_equal(store_mb_posts_get(f->st, ids, 101, v, collect_post, &c), TD_OK);
    assert_int_equal(c.n, 100);
    /* Newest first within each chunk of 40. */
    assert_int_equal(c.ids[0], ids[39]);
    assert_int_equal(c.ids[39], ids[0]);
    assert_int_equal(c.ids[80], ids[100 - 1]);
    assert_true(c.fav[80]);
    assert_false(c.reb[80]);
    assert_true(c.reb[81]);
    assert_false(c.fav[0]);
    /* Stopping early. */
    memset(&c, 0, sizeof(c));
    c.stop_after = 3;
    assert_int_equal(store_mb_posts_get(f->st, ids, 100, v, collect_post, &c), TD_OK);
    assert_int_equal(c.n, 3);
    assert_int_equal(store_mb_posts_get(f->st, ids, 0, v, collect_post, &c), TD_OK);
}

struct versions {
    char src[8][32];
    int64_t at[8];
    size_t n;
};

static int collect_version(void *ud, const struct store_mb_version *v)
{
    struct versions *vs = ud;

    snprintf(vs->src[vs->n], sizeof(vs->src[0]), "%s", v->source);
    vs->at[vs->n++] = v->created_at;
    return 0;
}

static void test_edit_history(void **state)
{
    struct fx *f = *state;
    int64_t a = mkacct(f, "alice"), b = mkacct(f, "bob"), c = mkacct(f, "carol");
    int64_t m1 = media(f, a), m2 = media(f, a);
    int64_t men1[] = {b}, men2[] = {c}, ms1[] = {m1}, ms2[] = {m2};
    const char *t1[] = {"old"}, *t2[] = {"new"};
    struct store_mb_extras x1 = {men1, 1, t1, 1, ms1, 1}, x2 = {men2, 1, t2, 1, ms2, 1};
    struct store_mb_post p = {.account_id = a, .source = (char *)"v1", .content = (char *)"v1"};
    struct store_mb_post e = {.source = (char *)"v2", .content = (char *)"<p>v2</p>",
                              .spoiler_text = (char *)"cw", .sensitive = true};
    struct versions vs = {0};
    struct store_mb_list l;
    struct store_mb_post g;
    struct store_mb_media md;
    int64_t rb;

    assert_int_equal(store_mb_post_create(f->st, &p, &x1, NULL), TD_OK);
    assert_int_equal(store_mb_post_history(f->st, p.id, collect_version, &vs), TD_OK);
    assert_int_equal(vs.n, 1);
    assert_string_equal(vs.src[0], "v1");

    assert_int_equal(store_mb_post_edit(f->st, p.id, &e, &x2), TD_OK);
    e.source = (char *)"v3";
    assert_int_equal(store_mb_post_edit(f->st, p.id, &e, &x2), TD_OK);
    g = get(f, p.id, 0);
    assert_string_equal(g.source, "v3");
    assert_string_equal(g.content, "<p>v2</p>");
    assert_string_equal(g.spoiler_text, "cw");
    assert_true(g.sensitive);
    assert_true(g.edited_at >= g.created_at);
    assert_int_equal(g.nmentions, 1);
    assert_int_equal(g.mentions[0], c);
    assert_int_equal(g.ntags, 1);
    assert_string_equal(g.tags[0], "new");
    assert_int_equal(g.nmedia, 1);
    assert_int_equal(g.media[0], m2);
    store_mb_post_clear(&g);
    assert_int_equal(store_mb_media_get(f->st, m1, false, &md), TD_OK);
    assert_int_equal(md.post_id, 0); /* detached by the edit */
    store_mb_media_clear(&md);

    memset(&vs, 0, sizeof(vs));
    assert_int_equal(store_mb_post_history(f->st, p.id, collect_version, &vs), TD_OK);
    assert_int_equal(vs.n, 3);
    assert_string_equal(vs.src[0], "v1");
    assert_string_equal(vs.src[1], "v2");
    assert_string_equal(vs.src[2], "v3");
    assert_true(vs.at[0] <= vs.at[1] && vs.at[1] <= vs.at[2]);

    /* The tag timeline follows the edit. */
    assert_int_equal(store_mb_timeline_tag(f->st, "old", NULL, &l), TD_OK);
    assert_int_equal(l.n, 0);
    assert_int_equal(store_mb_timeline_tag(f->st, "new", NULL, &l), TD_OK);
    assert_int_equal(l.n, 1);

    /* Edit without extras clears them; reblogs and unknown posts refuse. */
    assert_int_equal(store_mb_post_edit(f->st, p.id, &e, NULL), TD_OK);
    g = get(f, p.id, 0);
    assert_int_equal(g.nmentions + g.ntags + g.nmedia, 0);
    store_mb_post_clear(&g);
    assert_int_equal(store_mb_reblog(f->st, b, p.id, STORE_MB_PUBLIC, &rb), TD_OK);
    assert_int_equal(store_mb_post_edit(f->st, rb, &e, NULL), TD_EINVAL);
    assert_int_equal(store_mb_post_edit(f->st, 77, &e, NULL), TD_ENOTFOUND);
    assert_int_equal(store_mb_post_history(f->st, 77, collect_version, &vs), TD_ENOTFOUND);
}

static void test_delete(void **state)
{
    struct fx *f = *state;
    int64_t a = mkacct(f, "alice"), b = mkacct(f, "bob"), c = mkacct(f, "carol");
    int64_t parent = post(f, b, "parent", STORE_MB_PUBLIC, 0);
    int64_t m1 = media(f, a);
    int64_t ms[] = {m1}, men[] = {c};
    const char *tags[] = {"gone"};
    struct store_mb_extras x = {men, 1, tags, 1, ms, 1};
    struct store_mb_post p = {.account_id = a, .source = (char *)"bye",
                              .in_reply_to_id = parent};
    struct store_mb_notif n = {.account_id = a, .type = STORE_MB_N_FAVOURITE,
                               .from_account_id = c};
    struct store_mb_deleted d;
    struct store_mb_list l;
    struct store_mb_media md;
    int64_t rb1, rb2, reply, unread = -1;

    assert_int_equal(store_mb_post_create(f->st, &p, &x, NULL), TD_OK);
    reply = post(f, c, "reply to the doomed", STORE_MB_PUBLIC, p.id);
    assert_int_equal(store_mb_reblog(f->st, b, p.id, STORE_MB_PUBLIC, &rb1), TD_OK);
    assert_int_equal(store_mb_reblog(f->st, c, p.id, STORE_MB_PUBLIC, &rb2), TD_OK);
    assert_int_equal(store_mb_favourite(f->st, c, p.id), TD_OK);
    n.post_id = p.id;
    assert_int_equal(store_mb_notif_add(f->st, &n), TD_OK);
    assert_int_equal(REPLIES(f, parent), 1);
    assert_int_equal(stats(f, b).statuses_count, 2);
    assert_int_equal(stats(f, c).statuses_count, 2);

    /* Only its author (or account 0, moderation) may delete it. */
    assert_int_equal(store_mb_post_delete(f->st, p.id, b, &d), TD_ENOTFOUND);
    assert_int_equal(store_mb_post_delete(f->st, p.id, a, &d), TD_OK);
    assert_int_equal(d.post.id, p.id);
    assert_string_equal(d.post.source, "bye");
    assert_int_equal(d.post.nmentions, 1);
    assert_int_equal(d.nreblogs, 2);
    assert_true((d.reblogs[0] == rb1 && d.reblog_accounts[0] == b) ||
                (d.reblogs[1] == rb1 && d.reblog_accounts[1] == b));
    store_mb_deleted_clear(&d);

    struct store_mb_post none;
    assert_int_equal(store_mb_post_get(f->st, rb1, 0, &none), TD_ENOTFOUND);
    assert_int_equal(store_mb_post_get(f->st, rb2, 0, &none), TD_ENOTFOUND);
    assert_int_equal(REPLIES(f, parent), 0);
    assert_int_equal(stats(f, a).statuses_count, 0);
    assert_int_equal(stats(f, b).statuses_count, 1);
    assert_int_equal(stats(f, c).statuses_count, 1);
    assert_int_equal(store_mb_favourites(f->st, c, NULL, &l), TD_OK);
    assert_int_equal(l.n, 0);
    assert_int_equal(store_mb_timeline_tag(f->st, "gone", NULL, &l), TD_OK);
    assert_int_equal(l.n, 0);
    assert_int_equal(store_mb_notif_unread(f->st, a, &unread), TD_OK);
    assert_int_equal(unread, 0);
    assert_int_equal(store_mb_media_get(f->st, m1, false, &md), TD_OK);
    assert_int_equal(md.post_id, 0); /* kept for a redraft */
    store_mb_media_clear(&md);
    /* The reply outlives its parent. */
    struct store_mb_post g = get(f, reply, 0);
    assert_int_equal(g.in_reply_to_id, p.id);
    store_mb_post_clear(&g);

    assert_int_equal(store_mb_post_delete(f->st, p.id, a, NULL), TD_ENOTFOUND);
    assert_int_equal(store_mb_post_delete(f->st, reply, 0, NULL), TD_OK);
}

static void test_reblog_favourite(void **state)
{
    struct fx *f = *state;
    int64_t a = mkacct(f, "alice"), b = mkacct(f, "bob"), c = mkacct(f, "carol");
    int64_t p = post(f, a, "boost me", STORE_MB_PUBLIC, 0);
    struct store_mb_list l;
    int64_t rb, rb2, again, gone;
    struct store_mb_post g;

    assert_int_equal(store_mb_reblog(f->st, b, p, STORE_MB_PUBLIC, &rb), TD_OK);
    assert_int_equal(store_mb_reblog(f->st, b, p, STORE_MB_PUBLIC, &again), TD_EEXIST);
    assert_int_equal(again, rb);
    /* A reblog of a reblog is a reblog of the original. */
    assert_int_equal(store_mb_reblog(f->st, c, rb, STORE_MB_UNLISTED, &rb2), TD_OK);
    g = get(f, rb2, 0);
    assert_int_equal(g.reblog_of_id, p);
    assert_int_equal(g.visibility, STORE_MB_UNLISTED);
    store_mb_post_clear(&g);
    assert_int_equal(REBLOGS(f, p), 2);
    assert_int_equal(stats(f, b).statuses_count, 1);
    assert_int_equal(store_mb_reblogged_by(f->st, p, NULL, &l), TD_OK);
    assert_int_equal(l.n, 2);
    assert_int_equal(l.v[0].id, c);
    assert_int_equal(l.v[0].cursor, rb2);
    assert_int_equal(l.v[1].id, b);
    assert_int_equal(store_mb_unreblog(f->st, c, p, &gone), TD_OK);
    assert_int_equal(gone, rb2);
    assert_int_equal(store_mb_unreblog(f->st, c, p, &gone), TD_ENOTFOUND);
    assert_int_equal(REBLOGS(f, p), 1);
    assert_int_equal(stats(f, c).statuses_count, 0);
    assert_int_equal(store_mb_reblog(f->st, b, 999, STORE_MB_PUBLIC, &again), TD_ENOTFOUND);

    assert_int_equal(store_mb_favourite(f->st, b, p), TD_OK);
    assert_int_equal(store_mb_favourite(f->st, b, p), TD_EEXIST);
    assert_int_equal(store_mb_favourite(f->st, c, rb), TD_OK); /* lands on the original */
    assert_int_equal(FAVS(f, p), 2);
    assert_int_equal(store_mb_favourited_by(f->st, p, NULL, &l), TD_OK);
    assert_int_equal(l.n, 2);
    assert_int_equal(l.v[0].id, c);
    assert_int_equal(l.v[1].id, b);
    assert_true(l.v[0].cursor > l.v[1].cursor);
    assert_int_equal(store_mb_favourites(f->st, c, NULL, &l), TD_OK);
    assert_int_equal(l.n, 1);
    assert_int_equal(l.v[0].id, p);
    assert_int_equal(store_mb_unfavourite(f->st, b, p), TD_OK);
    assert_int_equal(store_mb_unfavourite(f->st, b, p), TD_ENOTFOUND);
    assert_int_equal(FAVS(f, p), 1);
    g = get(f, p, c);
    assert_true(g.favourited);
    assert_false(g.reblogged);
    store_mb_post_clear(&g);

    /* Blocks either way refuse both. */
    assert_int_equal(store_mb_block(f->st, a, c), TD_OK);
    assert_int_equal(store_mb_reblog(f->st, c, p, STORE_MB_PUBLIC, &again), TD_EDENIED);
    assert_int_equal(store_mb_unfavourite(f->st, c, p), TD_OK);
    assert_int_equal(store_mb_favourite(f->st, c, p), TD_EDENIED);
    assert_int_equal(store_mb_block(f->st, b, a), TD_OK);
    assert_int_equal(store_mb_favourite(f->st, b, p), TD_EDENIED);
}

/* ---- paging and timelines ---- */

static void test_paging(void **state)
{
    struct fx *f = *state;
    int64_t a = mkacct(f, "alice");
    int64_t ids[50];
    struct store_mb_list l;
    struct store_mb_page pg = {0};

    for (int i = 0; i < 50; i++)
        ids[i] = post(f, a, "p", STORE_MB_PUBLIC, 0);
    /* Default 20, newest first. */
    assert_int_equal(store_mb_timeline_public(f->st, false, NULL, &l), TD_OK);
    assert_int_equal(l.n, 20);
    assert_int_equal(l.v[0].id, ids[49]);
    assert_int_equal(l.v[19].id, ids[30]);
    /* The cap. */
    pg.limit = 1000;
    assert_int_equal(store_mb_timeline_public(f->st, false, &pg, &l), TD_OK);
    assert_int_equal(l.n, STORE_MB_STATUSES_MAX);
    pg.limit = 1;
    assert_int_equal(store_mb_timeline_public(f->st, false, &pg, &l), TD_OK);
    assert_int_equal(l.n, 1);
    /* max_id is exclusive. */
    pg = (struct store_mb_page){.max_id = ids[10], .limit = 5};
    assert_int_equal(store_mb_timeline_public(f->st, false, &pg, &l), TD_OK);
    assert_int_equal(l.n, 5);
    assert_int_equal(l.v[0].id, ids[9]);
    assert_int_equal(l.v[4].id, ids[5]);
    pg.max_id = ids[2];
    assert_int_equal(store_mb_timeline_public(f->st, false, &pg, &l), TD_OK);
    assert_int_equal(l.n, 2);
    /* since_id: the newest above it. */
    pg = (struct store_mb_page){.since_id = ids[40], .limit = 5};
    assert_int_equal(store_mb_timeline_public(f->st, false, &pg, &l), TD_OK);
    assert_int_equal(l.n, 5);
    assert_int_equal(l.v[0].id, ids[49]);
    assert_int_equal(l.v[4].id, ids[45]);
    /* min_id: the oldest above it, still newest first. */
    pg = (struct store_mb_page){.min_id = ids[40], .limit = 5};
    assert_int_equal(store_mb_timeline_public(f->st, false, &pg, &l), TD_OK);
    assert_int_equal(l.n, 5);
    assert_int_equal(l.v[0].id, ids[45]);
    assert_int_equal(l.v[4].id, ids[41]);
    /* A window from both ends. */
    pg = (struct store_mb_page){.min_id = ids[10], .max_id = ids[13]};
    assert_int_equal(store_mb_timeline_public(f->st, false, &pg, &l), TD_OK);
    assert_int_equal(l.n, 2);
    assert_int_equal(l.v[0].id, ids[12]);
    assert_int_equal(l.v[1].id, ids[11]);
    pg = (struct store_mb_page){.since_id = ids[49]};
    assert_int_equal(store_mb_timeline_public(f->st, false, &pg, &l), TD_OK);
    assert_int_equal(l.n, 0);

    /* Account lists cap at 80. */
    int64_t star = mkacct(f, "star");
    char name[32];
    for (int i = 0; i < 90; i++) {
        snprintf(name, sizeof(name), "fan%d", i);
        assert_int_equal(store_mb_follow(f->st, mkacct(f, name), star, true, NULL), TD_OK);
    }
    pg = (struct store_mb_page){.limit = 500};
    assert_int_equal(store_mb_followers(f->st, star, &pg, &l), TD_OK);
    assert_int_equal(l.n, STORE_MB_ACCOUNTS_MAX);
    pg = (struct store_mb_page){.max_id = l.v[79].cursor, .limit = 80};
    assert_int_equal(store_mb_followers(f->st, star, &pg, &l), TD_OK);
    assert_int_equal(l.n, 10);
    assert_int_equal(stats(f, star).followers_count, 90);
}

static void test_timelines(void **state)
{
    struct fx *f = *state;
    int64_t a = mkacct(f, "alice"), b = mkacct(f, "bob"), c = mkacct(f, "carol");
    int64_t pub = post(f, a, "public", STORE_MB_PUBLIC, 0);
    int64_t unl = post(f, a, "unlisted", STORE_MB_UNLISTED, 0);
    int64_t prv = post(f, a, "private", STORE_MB_PRIVATE, 0);
    int64_t self = post(f, a, "self-thread", STORE_MB_PUBLIC, pub);
    int64_t other = post(f, b, "bob's", STORE_MB_PUBLIC, 0);
    int64_t reply = post(f, a, "reply to bob", STORE_MB_PUBLIC, other);
    int64_t men[] = {b}, ms[] = {media(f, a)};
    const char *tags[] = {"cats"};
    struct store_mb_extras dx = {.mentions = men, .nmentions = 1};
    struct store_mb_extras mx = {.media = ms, .nmedia = 1, .tags = tags, .ntags = 1};
    struct store_mb_post d = {.account_id = a, .source = (char *)"dm",
                              .visibility = STORE_MB_DIRECT};
    struct store_mb_post m = {.account_id = a, .source = (char *)"pic #cats"};
    struct store_mb_list l;
    int64_t rb, home[16];
    size_t n;

    assert_int_equal(store_mb_post_create(f->st, &d, &dx, NULL), TD_OK);
    assert_int_equal(store_mb_post_create(f->st, &m, &mx, NULL), TD_OK);
    assert_int_equal(store_mb_reblog(f->st, a, other, STORE_MB_PUBLIC, &rb), TD_OK);

    /* Account: every visibility, with the filters. */
    assert_int_equal(store_mb_timeline_account(f->st, a, 0, NULL, &l), TD_OK);
    assert_int_equal(l.n, 8);
    assert_int_equal(l.v[0].id, rb);
    assert_int_equal(store_mb_timeline_account(f->st, a, STORE_MB_EXCLUDE_REPLIES, NULL, &l),
                     TD_OK);
    assert_int_equal(l.n, 7); /* the reply to bob goes, the self-thread stays */
    for (size_t i = 0; i < l.n; i++)
        assert_true(l.v[i].id != reply);
    assert_int_equal(store_mb_timeline_account(f->st, a, STORE_MB_EXCLUDE_REBLOGS, NULL, &l),
                     TD_OK);
    assert_int_equal(l.n, 7);
    assert_int_equal(store_mb_timeline_account(f->st, a, STORE_MB_ONLY_MEDIA, NULL, &l), TD_OK);
    assert_int_equal(l.n, 1);
    assert_int_equal(l.v[0].id, m.id);

    /* Public: visibility 0 and no reblogs. */
    assert_int_equal(store_mb_timeline_public(f->st, false, NULL, &l), TD_OK);
    assert_int_equal(l.n, 5);
    for (size_t i = 0; i < l.n; i++)
        assert_true(l.v[i].id != unl && l.v[i].id != prv && l.v[i].id != d.id &&
                    l.v[i].id != rb);
    (void)self;
    assert_int_equal(store_mb_timeline_public(f->st, true, NULL, &l), TD_OK);
    assert_int_equal(l.n, 1);

    /* Tag: public only; unknown tag: empty. */
    assert_int_equal(store_mb_timeline_tag(f->st, "cats", NULL, &l), TD_OK);
    assert_int_equal(l.n, 1);
    assert_int_equal(l.v[0].id, m.id);
    assert_int_equal(store_mb_timeline_tag(f->st, "dogs", NULL, &l), TD_OK);
    assert_int_equal(l.n, 0);
    struct store_mb_post hidden = {.account_id = b, .visibility = STORE_MB_PRIVATE};
    struct store_mb_extras hx = {.tags = tags, .ntags = 1};
    assert_int_equal(store_mb_post_create(f->st, &hidden, &hx, NULL), TD_OK);
    assert_int_equal(store_mb_timeline_tag(f->st, "cats", NULL, &l), TD_OK);
    assert_int_equal(l.n, 1);

    /* Direct: by or to the account. */
    assert_int_equal(store_mb_timeline_direct(f->st, a, NULL, &l), TD_OK);
    assert_int_equal(l.n, 1);
    assert_int_equal(store_mb_timeline_direct(f->st, b, NULL, &l), TD_OK);
    assert_int_equal(l.n, 1);
    assert_int_equal(l.v[0].id, d.id);
    assert_int_equal(store_mb_timeline_direct(f->st, c, NULL, &l), TD_OK);
    assert_int_equal(l.n, 0);

    /* Home: own posts plus followed accounts', reblogs by show_reblogs, DMs
     * only to or from the reader. */
    assert_int_equal(store_mb_follow(f->st, c, a, false, NULL), TD_OK);
    assert_int_equal(store_mb_home_rebuild(f->st, c, home, 16, &n), TD_OK);
    assert_int_equal(n, 6); /* a's 8 minus the reblog and the DM */
    assert_int_equal(store_mb_follow(f->st, c, a, true, NULL), TD_OK);
    assert_int_equal(store_mb_home_rebuild(f->st, c, home, 16, &n), TD_OK);
    assert_int_equal(n, 7);
    assert_int_equal(home[0], rb);
    assert_int_equal(store_mb_follow(f->st, b, a, true, NULL), TD_OK);
    assert_int_equal(store_mb_home_rebuild(f->st, b, home, 16, &n), TD_OK);
    assert_int_equal(n, 8 + 2); /* a's 8 with the DM to b, and b's own 2 */
    assert_int_equal(store_mb_home_rebuild(f->st, b, home, 2, &n), TD_OK);
    assert_int_equal(n, 2);
}

/* The rebuild's floor (the highest of each account's max-th newest post)
 * must give the same ids as the full merge: with a prolific account, with
 * posts interleaved, and when the followee's newest posts are reblogs the
 * reader hides (the floor then leaves fewer than max and the merge runs). */
static void test_home_rebuild_floor(void **state)
{
    struct fx *f = *state;
    int64_t a = mkacct(f, "alice"), b = mkacct(f, "bob"), c = mkacct(f, "carol");
    int64_t want[8], home[8], rb = 0;
    size_t n = 0, k = 0;
    int64_t bobs[4];

    assert_int_equal(store_mb_follow(f->st, c, a, true, NULL), TD_OK);
    assert_int_equal(store_mb_follow(f->st, c, b, true, NULL), TD_OK);
    for (int i = 0; i < 4; i++)
        bobs[i] = post(f, b, "bob", STORE_MB_PUBLIC, 0); /* older than all of alice's */
    for (int i = 0; i < 20; i++)
        post(f, a, "alice", STORE_MB_PUBLIC, 0);
    /* newest 8 of the merge: alice's last 8 */
    assert_int_equal(store_mb_home_rebuild(f->st, c, home, 8, &n), TD_OK);
    assert_int_equal(n, 8);
    for (size_t i = 1; i < n; i++)
        assert_true(home[i] < home[i - 1]);
    /* bob's posts come in when carol asks for more than alice's above them */
    assert_int_equal(store_mb_home_rebuild(f->st, c, home, 8, &n), TD_OK);
    int64_t full[24];
    size_t nfull = 0;
    assert_int_equal(store_mb_home_rebuild(f->st, c, full, 24, &nfull), TD_OK);
    assert_int_equal(nfull, 24);
    assert_int_equal(full[23], bobs[0]);
    assert_memory_equal(full, home, sizeof(int64_t) * 8);
    /* alice's newest 8 are reblogs, and carol hides alice's reblogs: the
     * floor leaves none above it, and the full merge gives her posts */
    for (int i = 0; i < 8; i++) {
        int64_t id = post(f, b, "to boost", STORE_MB_PUBLIC, 0);
        assert_int_equal(store_mb_reblog(f->st, a, id, STORE_MB_PUBLIC, &rb), TD_OK);
        want[k++] = id;
    }
    assert_int_equal(store_mb_follow(f->st, c, a, false, NULL), TD_OK);
    assert_int_equal(store_mb_home_rebuild(f->st, c, home, 8, &n), TD_OK);
    assert_int_equal(n, 8);
    for (size_t i = 0; i < 8; i++)
        assert_int_equal(home[i], want[7 - i]); /* bob's originals, newest first */
}

static void test_context(void **state)
{
    struct fx *f = *state;
    int64_t a = mkacct(f, "alice");
    int64_t chain[6];
    int64_t *up, *down;
    size_t nup, ndown;

    chain[0] = post(f, a, "root", STORE_MB_PUBLIC, 0);
    for (int i = 1; i < 6; i++)
        chain[i] = post(f, a, "r", STORE_MB_PUBLIC, chain[i - 1]);
    int64_t side = post(f, a, "side", STORE_MB_PUBLIC, chain[1]);

    assert_int_equal(store_mb_context(f->st, chain[3], 0, 0, &up, &nup, &down, &ndown), TD_OK);
    assert_int_equal(nup, 3);
    assert_int_equal(up[0], chain[0]);
    assert_int_equal(up[2], chain[2]);
    assert_int_equal(ndown, 2);
    assert_int_equal(down[0], chain[4]);
    assert_int_equal(down[1], chain[5]);
    free(up);
    free(down);

    assert_int_equal(store_mb_context(f->st, chain[0], 2, 0, &up, &nup, &down, &ndown), TD_OK);
    assert_int_equal(nup, 0);
    assert_null(up);
    assert_int_equal(ndown, 3); /* chain[1], chain[2], side: depth 2 */
    assert_int_equal(down[0], chain[1]);
    assert_int_equal(down[2], side);
    free(down);
    assert_int_equal(store_mb_context(f->st, chain[0], 0, 2, &up, &nup, &down, &ndown), TD_OK);
    assert_int_equal(ndown, 2);
    free(down);

    /* A deleted post ends the walk up. */
    assert_int_equal(store_mb_post_delete(f->st, chain[2], a, NULL), TD_OK);
    assert_int_equal(store_mb_context(f->st, chain[4], 0, 0, &up, &nup, &down, &ndown), TD_OK);
    assert_int_equal(nup, 1);
    assert_int_equal(up[0], chain[3]);
    assert_int_equal(ndown, 1);
    free(up);
    free(down);
    assert_int_equal(store_mb_context(f->st, 5, 0, 0, &up, &nup, &down, &ndown), TD_ENOTFOUND);

    /* The ancestors stop at STORE_MB_ANCESTORS_MAX. */
    int64_t last = chain[5];
    for (int i = 0; i < STORE_MB_ANCESTORS_MAX + 5; i++)
        last = post(f, a, "deep", STORE_MB_PUBLIC, last);
    assert_int_equal(store_mb_context(f->st, last, 0, 0, &up, &nup, &down, &ndown), TD_OK);
    assert_int_equal(nup, STORE_MB_ANCESTORS_MAX);
    free(up);
    free(down);
}

/* ---- follows, blocks, mutes, visibility ---- */

static int count_id(void *ud, int64_t id)
{
    (void)id;
    (*(int64_t *)ud)++;
    return 0;
}

static void test_follows(void **state)
{
    struct fx *f = *state;
    int64_t a = mkacct(f, "alice"), b = mkacct(f, "bob"), c = mkacct(f, "carol");
    struct store_mb_list l;
    int64_t n = 0;
    int state_ = -1;

    assert_int_equal(store_mb_follow(f->st, a, b, true, &state_), TD_OK);
    assert_int_equal(state_, STORE_MB_FOLLOW_NEW);
    assert_int_equal(store_mb_follow(f->st, a, b, false, &state_), TD_OK);
    assert_int_equal(state_, STORE_MB_FOLLOW_EXISTED);
    assert_int_equal(store_mb_follow(f->st, c, b, true, NULL), TD_OK);
    assert_int_equal(stats(f, b).followers_count, 2);
    assert_int_equal(stats(f, a).following_count, 1);
    assert_int_equal(store_mb_follow(f->st, a, a, true, NULL), TD_EINVAL);
    assert_int_equal(store_mb_follow(f->st, a, 4242, true, NULL), TD_ENOTFOUND);

    assert_int_equal(store_mb_followers(f->st, b, NULL, &l), TD_OK);
    assert_int_equal(l.n, 2);
    assert_int_equal(l.v[0].id, c);
    assert_int_equal(l.v[1].id, a);
    assert_int_equal(store_mb_following(f->st, a, NULL, &l), TD_OK);
    assert_int_equal(l.n, 1);
    assert_int_equal(l.v[0].id, b);
    assert_int_equal(store_mb_follower_ids(f->st, b, count_id, &n), TD_OK);
    assert_int_equal(n, 2);

    /* A locked account gets requests. */
    assert_int_equal(store_mb_account_set_flags(f->st, c, true, false), TD_OK);
    assert_int_equal(store_mb_follow(f->st, a, c, false, &state_), TD_OK);
    assert_int_equal(state_, STORE_MB_FOLLOW_REQUESTED);
    assert_int_equal(store_mb_follow(f->st, b, c, true, &state_), TD_OK);
    assert_int_equal(state_, STORE_MB_FOLLOW_REQUESTED);
    assert_int_equal(stats(f, c).followers_count, 0);
    assert_int_equal(store_mb_follow_requests(f->st, c, NULL, &l), TD_OK);
    assert_int_equal(l.n, 2);
    assert_int_equal(l.v[0].id, b);
    assert_int_equal(store_mb_follow_authorize(f->st, c, a), TD_OK);
    assert_int_equal(store_mb_follow_authorize(f->st, c, a), TD_ENOTFOUND);
    assert_int_equal(store_mb_follow_reject(f->st, c, b), TD_OK);
    assert_int_equal(store_mb_follow_reject(f->st, c, b), TD_ENOTFOUND);
    assert_int_equal(store_mb_follow_requests(f->st, c, NULL, &l), TD_OK);
    assert_int_equal(l.n, 0);
    assert_int_equal(stats(f, c).followers_count, 1);
    struct store_mb_relationship r;
    assert_int_equal(store_mb_relationships(f->st, a, &c, 1, &r), TD_OK);
    assert_true(r.following);
    assert_false(r.showing_reblogs); /* kept from the request */

    assert_int_equal(store_mb_unfollow(f->st, a, b), TD_OK);
    assert_int_equal(store_mb_unfollow(f->st, a, b), TD_OK);
    assert_int_equal(stats(f, b).followers_count, 1);
    assert_int_equal(stats(f, a).following_count, 1);

    /* Blocking severs follows both ways and refuses new ones. */
    assert_int_equal(store_mb_follow(f->st, b, a, true, NULL), TD_OK);
    assert_int_equal(store_mb_follow(f->st, a, b, true, NULL), TD_OK);
    assert_int_equal(store_mb_block(f->st, a, b), TD_OK);
    assert_int_equal(store_mb_block(f->st, a, b), TD_OK);
    assert_int_equal(stats(f, a).followers_count, 0);
    assert_int_equal(stats(f, b).followers_count, 1); /* carol still */
    assert_int_equal(store_mb_follow(f->st, b, a, true, NULL), TD_EDENIED);
    assert_int_equal(store_mb_follow(f->st, a, b, true, NULL), TD_EDENIED);
    assert_int_equal(store_mb_blocks(f->st, a, NULL, &l), TD_OK);
    assert_int_equal(l.n, 1);
    assert_int_equal(l.v[0].id, b);
    assert_int_equal(store_mb_unblock(f->st, a, b), TD_OK);
    assert_int_equal(store_mb_follow(f->st, b, a, true, NULL), TD_OK);
    assert_int_equal(store_mb_block(f->st, a, a), TD_EINVAL);
    assert_int_equal(store_mb_block(f->st, a, 4242), TD_ENOTFOUND);
}

static void test_relationships_mutes(void **state)
{
    struct fx *f = *state;
    int64_t a = mkacct(f, "alice"), b = mkacct(f, "bob"), c = mkacct(f, "carol");
    int64_t d = mkacct(f, "dave");
    int64_t targets[] = {b, c, d};
    struct store_mb_relationship r[3];
    struct store_mb_list l;

    assert_int_equal(store_mb_follow(f->st, a, b, false, NULL), TD_OK);
    assert_int_equal(store_mb_follow(f->st, b, a, true, NULL), TD_OK);
    assert_int_equal(store_mb_account_set_flags(f->st, a, true, true), TD_OK);
    assert_int_equal(store_mb_follow(f->st, c, a, true, NULL), TD_OK);
    assert_int_equal(store_mb_block(f->st, d, a), TD_OK);
    assert_int_equal(store_mb_mute(f->st, a, c, false, 0), TD_OK);
    assert_int_equal(store_mb_mute(f->st, a, d, true, 1), TD_OK); /* long expired */
    assert_int_equal(store_mb_relationships(f->st, a, targets, 3, r), TD_OK);
    assert_int_equal(r[0].id, b);
    assert_true(r[0].following && r[0].followed_by);
    assert_false(r[0].showing_reblogs);
    assert_false(r[0].muting || r[0].blocking || r[0].blocked_by || r[0].requested);
    assert_true(r[1].requested_by);
    assert_false(r[1].following);
    assert_true(r[1].muting);
    assert_false(r[1].muting_notifications);
    assert_true(r[2].blocked_by);
    assert_false(r[2].blocking);
    assert_false(r[2].muting);
    assert_int_equal(store_mb_mutes(f->st, a, NULL, &l), TD_OK);
    assert_int_equal(l.n, 1);
    assert_int_equal(l.v[0].id, c);
    assert_int_equal(store_mb_mute(f->st, a, c, true, 0), TD_OK); /* update */
    assert_int_equal(store_mb_relationships(f->st, a, targets, 3, r), TD_OK);
    assert_true(r[1].muting_notifications);
    assert_int_equal(store_mb_unmute(f->st, a, c), TD_OK);
    assert_int_equal(store_mb_relationships(f->st, c, &a, 1, r), TD_OK);
    assert_true(r[0].requested);
    assert_int_equal(store_mb_relationships(f->st, a, targets, 3, r), TD_OK);
    assert_false(r[1].muting);
    assert_int_equal(store_mb_mute(f->st, a, a, true, 0), TD_EINVAL);
    int64_t many[STORE_MB_ACCOUNTS_MAX + 1] = {0};
    struct store_mb_relationship rs[STORE_MB_ACCOUNTS_MAX + 1];
    assert_int_equal(store_mb_relationships(f->st, a, many, STORE_MB_ACCOUNTS_MAX + 1, rs),
                     TD_EINVAL);
}

static void test_can_see_table(void **state)
{
    struct fx *f = *state;
    int64_t au = mkacct(f, "author"), fo = mkacct(f, "follower"), me = mkacct(f, "mentioned");
    int64_t st_ = mkacct(f, "stranger"), bl = mkacct(f, "blocked"), bb = mkacct(f, "blocker");
    int64_t ids[4];
    int64_t men[] = {me, bl};
    struct store_mb_extras x = {.mentions = men, .nmentions = 2};

    assert_int_equal(store_mb_follow(f->st, fo, au, true, NULL), TD_OK);
    assert_int_equal(store_mb_follow(f->st, bl, au, true, NULL), TD_OK);
    assert_int_equal(store_mb_follow(f->st, bb, au, true, NULL), TD_OK);
    for (int v = 0; v < 4; v++) {
        struct store_mb_post p = {.account_id = au, .source = (char *)"x", .visibility = v};
        assert_int_equal(store_mb_post_create(f->st, &p, &x, NULL), TD_OK);
        ids[v] = p.id;
    }
    assert_int_equal(store_mb_block(f->st, au, bl), TD_OK);   /* the author blocks */
    assert_int_equal(store_mb_block(f->st, bb, au), TD_OK);   /* blocks the author */

    static const struct {
        int who; /* 0 anonymous, 1 author, 2 follower, 3 mentioned, 4 stranger, 5, 6 */
        bool see[4]; /* public, unlisted, private, direct */
    } table[] = {
        {0, {true, true, false, false}},
        {1, {true, true, true, true}},
        {2, {true, true, true, false}},
        {3, {true, true, false, true}},
        {4, {true, true, false, false}},
        {5, {false, false, false, false}}, /* blocked by the author, though mentioned */
        {6, {false, false, false, false}}, /* blocks the author, though a follower once */
    };
    const int64_t who[] = {0, au, fo, me, st_, bl, bb};
    for (size_t i = 0; i < sizeof(table) / sizeof(table[0]); i++) {
        for (int v = 0; v < 4; v++) {
            bool ok = !table[i].see[v];
            assert_int_equal(store_mb_can_see(f->st, who[table[i].who], ids[v], &ok), TD_OK);
            if (ok != table[i].see[v])
                fail_msg("viewer %d visibility %d: got %d", table[i].who, v, ok);
        }
    }
    bool ok = true;
    assert_int_equal(store_mb_can_see(f->st, au, 1, &ok), TD_ENOTFOUND);
    assert_false(ok);
}

/* ---- notifications ---- */

struct notifs {
    int64_t ids[100];
    int types[100];
    size_t n;
};

static int collect_notif(void *ud, const struct store_mb_notif *n)
{
    struct notifs *c = ud;

    c->types[c->n] = n->type;
    c->ids[c->n++] = n->id;
    return 0;
}

static void test_notifications(void **state)
{
    struct fx *f = *state;
    int64_t a = mkacct(f, "alice"), b = mkacct(f, "bob"), c = mkacct(f, "carol");
    int64_t p = post(f, a, "hi", STORE_MB_PUBLIC, 0);
    struct store_mb_notif n = {.account_id = a, .from_account_id = b, .post_id = p};
    struct store_mb_notif g;
    struct store_mb_page pg = {0};
    struct notifs c1 = {0};
    int64_t ids[6], unread = 0;

    n.type = STORE_MB_N_FAVOURITE;
    assert_int_equal(store_mb_notif_add(f->st, &n), TD_OK);
    ids[0] = n.id;
    assert_int_equal(store_mb_notif_add(f->st, &n), TD_EEXIST); /* de-duplicated */
    n.from_account_id = c;
    assert_int_equal(store_mb_notif_add(f->st, &n), TD_OK);
    ids[1] = n.id;
    n.type = STORE_MB_N_MENTION;
    assert_int_equal(store_mb_notif_add(f->st, &n), TD_OK);
    ids[2] = n.id;
    assert_int_equal(store_mb_notif_add(f->st, &n), TD_OK); /* mentions are not */
    ids[3] = n.id;
    n.type = STORE_MB_N_FOLLOW;
    n.post_id = 0;
    assert_int_equal(store_mb_notif_add(f->st, &n), TD_OK);
    ids[4] = n.id;
    assert_int_equal(store_mb_notif_add(f->st, &n), TD_EEXIST);
    n.type = STORE_MB_N_REBLOG;
    n.post_id = p;
    assert_int_equal(store_mb_notif_add(f->st, &n), TD_OK);
    ids[5] = n.id;
    n.type = 99;
    assert_int_equal(store_mb_notif_add(f->st, &n), TD_EINVAL);

    assert_int_equal(store_mb_notif_list(f->st, a, 0, 0, NULL, collect_notif, &c1), TD_OK);
    assert_int_equal(c1.n, 6);
    assert_int_equal(c1.ids[0], ids[5]);
    assert_int_equal(c1.types[0], STORE_MB_N_REBLOG);
    memset(&c1, 0, sizeof(c1));
    assert_int_equal(store_mb_notif_list(f->st, a, 1u << STORE_MB_N_MENTION, 0, NULL,
                                         collect_notif, &c1),
                     TD_OK);
    assert_int_equal(c1.n, 2);
    memset(&c1, 0, sizeof(c1));
    assert_int_equal(store_mb_notif_list(f->st, a, 0,
                                         (1u << STORE_MB_N_MENTION) | (1u << STORE_MB_N_FOLLOW),
                                         NULL, collect_notif, &c1),
                     TD_OK);
    assert_int_equal(c1.n, 3);
    memset(&c1, 0, sizeof(c1));
    pg = (struct store_mb_page){.min_id = ids[1], .limit = 2};
    assert_int_equal(store_mb_notif_list(f->st, a, 0, 0, &pg, collect_notif, &c1), TD_OK);
    assert_int_equal(c1.n, 2);
    assert_int_equal(c1.ids[0], ids[3]);
    assert_int_equal(c1.ids[1], ids[2]);
    memset(&c1, 0, sizeof(c1));
    assert_int_equal(store_mb_notif_list(f->st, b, 0, 0, NULL, collect_notif, &c1), TD_OK);
    assert_int_equal(c1.n, 0);

    assert_int_equal(store_mb_notif_get(f->st, a, ids[4], &g), TD_OK);
    assert_int_equal(g.type, STORE_MB_N_FOLLOW);
    assert_int_equal(g.post_id, 0);
    assert_int_equal(g.from_account_id, c);
    assert_false(g.read);
    assert_int_equal(store_mb_notif_get(f->st, b, ids[4], &g), TD_ENOTFOUND);

    assert_int_equal(store_mb_notif_unread(f->st, a, &unread), TD_OK);
    assert_int_equal(unread, 6);
    assert_int_equal(store_mb_notif_mark_read(f->st, a, ids[2]), TD_OK);
    assert_int_equal(store_mb_notif_unread(f->st, a, &unread), TD_OK);
    assert_int_equal(unread, 3);
    assert_int_equal(store_mb_notif_dismiss(f->st, b, ids[5]), TD_ENOTFOUND);
    assert_int_equal(store_mb_notif_dismiss(f->st, a, ids[5]), TD_OK);
    assert_int_equal(store_mb_notif_unread(f->st, a, &unread), TD_OK);
    assert_int_equal(unread, 2);
    assert_int_equal(store_mb_notif_clear(f->st, a), TD_OK);
    assert_int_equal(store_mb_notif_unread(f->st, a, &unread), TD_OK);
    assert_int_equal(unread, 0);

    assert_string_equal(store_mb_notif_name(STORE_MB_N_FOLLOW_REQUEST), "follow_request");
    assert_int_equal(store_mb_notif_type("update"), STORE_MB_N_UPDATE);
    assert_int_equal(store_mb_notif_type("poll"), -1);
    assert_null(store_mb_notif_name(STORE_MB_N_COUNT));
}

/* ---- media ---- */

static void test_media(void **state)
{
    struct fx *f = *state;
    int64_t a = mkacct(f, "alice"), b = mkacct(f, "bob");
    static const unsigned char img[] = {1, 2, 3, 0, 5}, th[] = {9, 9};
    struct store_mb_media m = {.account_id = a, .content_type = (char *)"image/jpeg",
                               .data = (void *)img, .len = sizeof(img), .thumb = (void *)th,
                               .thumb_len = sizeof(th), .thumb_type = (char *)"image/webp",
                               .width = 640, .height = 480, .description = (char *)"a cat",
                               .blurhash = (char *)"LKO2?U%2Tw=w"};
    struct store_mb_media g;
    int64_t p = post(f, a, "x", STORE_MB_PUBLIC, 0), q = post(f, b, "y", STORE_MB_PUBLIC, 0);
    int64_t n = -1;

    assert_int_equal(store_mb_media_create(f->st, &m), TD_OK);
    assert_int_equal(store_mb_media_get(f->st, m.id, true, &g), TD_OK);
    assert_int_equal(g.account_id, a);
    assert_int_equal(g.post_id, 0);
    assert_string_equal(g.content_type, "image/jpeg");
    assert_int_equal(g.len, sizeof(img));
    assert_memory_equal(g.data, img, sizeof(img));
    assert_int_equal(g.thumb_len, sizeof(th));
    assert_memory_equal(g.thumb, th, sizeof(th));
    assert_string_equal(g.thumb_type, "image/webp");
    assert_int_equal(g.width, 640);
    assert_string_equal(g.description, "a cat");
    assert_string_equal(g.blurhash, "LKO2?U%2Tw=w");
    store_mb_media_clear(&g);
    assert_int_equal(store_mb_media_get(f->st, m.id, false, &g), TD_OK);
    assert_null(g.data);
    assert_null(g.thumb);
    assert_int_equal(g.len, sizeof(img));
    store_mb_media_clear(&g);

    /* no focal point until one is set; then it reads back; out of range is refused */
    assert_int_equal(store_mb_media_get(f->st, m.id, false, &g), TD_OK);
    assert_false(g.has_focus);
    store_mb_media_clear(&g);
    assert_int_equal(store_mb_media_set_focus(f->st, a, m.id, 0.5, -0.25), TD_OK);
    assert_int_equal(store_mb_media_set_focus(f->st, b, m.id, 0, 0), TD_EDENIED);
    assert_int_equal(store_mb_media_set_focus(f->st, a, m.id, 1.5, 0), TD_EINVAL);
    assert_int_equal(store_mb_media_set_focus(f->st, a, m.id, 0, -1.01), TD_EINVAL);
    assert_int_equal(store_mb_media_get(f->st, m.id, false, &g), TD_OK);
    assert_true(g.has_focus);
    assert_true(g.focus_x == 0.5 && g.focus_y == -0.25);
    store_mb_media_clear(&g);
    struct store_mb_media bad = m;
    bad.has_focus = true;
    bad.focus_x = 2.0;
    assert_int_equal(store_mb_media_create(f->st, &bad), TD_EINVAL);

    assert_int_equal(store_mb_media_describe(f->st, a, m.id, "a dog"), TD_OK);
    assert_int_equal(store_mb_media_describe(f->st, b, m.id, "mine"), TD_EDENIED);
    assert_int_equal(store_mb_media_describe(f->st, a, 4242, "x"), TD_ENOTFOUND);
    assert_int_equal(store_mb_media_attach(f->st, b, m.id, q), TD_EDENIED); /* not b's media */
    assert_int_equal(store_mb_media_attach(f->st, a, m.id, q), TD_EDENIED); /* not a's post */
    assert_int_equal(store_mb_media_attach(f->st, a, m.id, p), TD_OK);
    assert_int_equal(store_mb_media_delete(f->st, a, m.id), TD_EDENIED);    /* attached */
    struct store_mb_post got = get(f, p, 0);
    assert_int_equal(got.nmedia, 1);
    store_mb_post_clear(&got);

    int64_t loose = media(f, a);
    assert_int_equal(store_mb_media_delete(f->st, b, loose), TD_EDENIED);
    assert_int_equal(store_mb_media_delete(f->st, a, loose), TD_OK);
    assert_int_equal(store_mb_media_get(f->st, loose, false, &g), TD_ENOTFOUND);
    loose = media(f, a);
    assert_int_equal(store_mb_media_purge(f->st, 0, &n), TD_OK);
    assert_int_equal(n, 0);
    assert_int_equal(store_mb_media_purge(f->st, INT64_MAX, &n), TD_OK);
    assert_int_equal(n, 1); /* only the unattached one */
    assert_int_equal(store_mb_media_get(f->st, m.id, false, &g), TD_OK);
    store_mb_media_clear(&g);
}

/* ---- search, accounts ---- */

struct tagnames {
    char names[8][32];
    size_t n;
};

static int collect_tag(void *ud, int64_t id, const char *name)
{
    struct tagnames *t = ud;

    (void)id;
    snprintf(t->names[t->n++], sizeof(t->names[0]), "%s", name);
    return t->n == 8;
}

static void test_search(void **state)
{
    struct fx *f = *state;
    int64_t a = mkacct(f, "Alice"), al = mkacct(f, "alfred"), z = mkacct(f, "zoe");
    const char *tags[] = {"cat", "catalog", "cats", "dog", "ca_t"};
    struct store_mb_extras x = {.tags = tags, .ntags = 5};
    struct store_mb_post p = {.account_id = a};
    struct tagnames t = {0};
    int64_t ids[STORE_MB_SEARCH_MAX];
    size_t n;

    assert_int_equal(store_mb_post_create(f->st, &p, &x, NULL), TD_OK);
    assert_int_equal(store_mb_tag_search(f->st, "cat", 10, collect_tag, &t), TD_OK);
    assert_int_equal(t.n, 3);
    assert_string_equal(t.names[0], "cat");
    assert_string_equal(t.names[2], "cats");
    memset(&t, 0, sizeof(t));
    assert_int_equal(store_mb_tag_search(f->st, "ca", 1, collect_tag, &t), TD_OK);
    assert_int_equal(t.n, 1);
    assert_string_equal(t.names[0], "ca_t");
    assert_int_equal(store_mb_tag_search(f->st, "", 1, collect_tag, &t), TD_EINVAL);

    assert_int_equal(store_mb_account_search(f->st, "AL", 10, ids, &n), TD_OK);
    assert_int_equal(n, 2);
    assert_int_equal(ids[0], al); /* by username */
    assert_int_equal(ids[1], a);
    assert_int_equal(store_account_set_profile(f->st, z, "Alpha Zoe", ""), TD_OK);
    assert_int_equal(store_mb_account_search(f->st, "al", 10, ids, &n), TD_OK);
    assert_int_equal(n, 3);
    assert_int_equal(ids[2], z); /* display-name matches come after */
    assert_int_equal(store_mb_account_search(f->st, "al", 1, ids, &n), TD_OK);
    assert_int_equal(n, 1);
    assert_int_equal(store_mb_account_search(f->st, "a%", 10, ids, &n), TD_OK);
    assert_int_equal(n, 0); /* wildcards are literal */
    assert_int_equal(store_account_set_disabled(f->st, al, true), TD_OK);
    assert_int_equal(store_mb_account_search(f->st, "al", 10, ids, &n), TD_OK);
    assert_int_equal(n, 2);

    bool locked = true, disc = false;
    assert_int_equal(store_mb_account_flags(f->st, a, &locked, &disc), TD_OK);
    assert_false(locked);
    assert_true(disc);
    assert_int_equal(store_mb_account_set_flags(f->st, a, true, false), TD_OK);
    assert_int_equal(store_mb_account_flags(f->st, a, &locked, &disc), TD_OK);
    assert_true(locked);
    assert_false(disc);
    assert_int_equal(store_mb_account_set_flags(f->st, 4242, true, false), TD_ENOTFOUND);
    struct store_mb_stats s;
    assert_int_equal(store_mb_account_stats(f->st, 4242, &s), TD_ENOTFOUND);
}

/* ---- cascades ---- */

static void test_account_delete_cascade(void **state)
{
    struct fx *f = *state;
    int64_t a = mkacct(f, "alice"), b = mkacct(f, "bob");
    int64_t bp = post(f, b, "bob's", STORE_MB_PUBLIC, 0);
    int64_t ap = post(f, a, "alice's", STORE_MB_PUBLIC, 0);
    int64_t rb, ar;
    struct store_mb_notif n = {.account_id = b, .type = STORE_MB_N_FAVOURITE,
                               .from_account_id = a, .post_id = bp};
    struct store_mb_list l;
    int64_t unread = -1;

    ar = post(f, a, "reply", STORE_MB_PUBLIC, bp);
    assert_int_equal(store_mb_reblog(f->st, a, bp, STORE_MB_PUBLIC, &rb), TD_OK);
    assert_int_equal(store_mb_favourite(f->st, a, bp), TD_OK);
    assert_int_equal(store_mb_favourite(f->st, b, ap), TD_OK);
    assert_int_equal(store_mb_follow(f->st, a, b, true, NULL), TD_OK);
    assert_int_equal(store_mb_follow(f->st, b, a, true, NULL), TD_OK);
    assert_int_equal(store_mb_notif_add(f->st, &n), TD_OK);
    assert_int_equal(REPLIES(f, bp), 1);
    assert_int_equal(REBLOGS(f, bp), 1);
    assert_int_equal(FAVS(f, bp), 1);

    raw_exec_id(f, "DELETE FROM accounts WHERE id = ?1", a);
    assert_int_equal(REPLIES(f, bp), 0);
    assert_int_equal(REBLOGS(f, bp), 0);
    assert_int_equal(FAVS(f, bp), 0);
    assert_int_equal(stats(f, b).followers_count, 0);
    assert_int_equal(stats(f, b).following_count, 0);
    assert_int_equal(stats(f, b).statuses_count, 1);
    assert_int_equal(store_mb_favourites(f->st, b, NULL, &l), TD_OK);
    assert_int_equal(l.n, 0);
    assert_int_equal(store_mb_notif_unread(f->st, b, &unread), TD_OK);
    assert_int_equal(unread, 0);
    struct store_mb_post g;
    assert_int_equal(store_mb_post_get(f->st, ar, 0, &g), TD_ENOTFOUND);
    assert_int_equal(store_mb_account_stats(f->st, a, &(struct store_mb_stats){0}),
                     TD_ENOTFOUND);
}

/* ---- bulk loading ---- */

static void test_bulk(void **state)
{
    struct fx *f = *state;
    int64_t a = mkacct(f, "alice"), b = mkacct(f, "bob");
    struct store_mb_post bad = {.account_id = a, .in_reply_to_id = 1};
    int64_t n = 0;

    assert_int_equal(store_mb_bulk_begin(f->st), TD_OK);
    for (int i = 0; i < 500; i++)
        post(f, a, "bulk", STORE_MB_PUBLIC, 0);
    assert_int_equal(store_mb_follow(f->st, b, a, true, NULL), TD_OK);
    /* A failed call inside rolls back only itself (its savepoint). */
    assert_int_equal(store_mb_post_create(f->st, &bad, NULL, NULL), TD_ENOTFOUND);
    int64_t men[] = {4242};
    struct store_mb_extras x = {.mentions = men, .nmentions = 1};
    bad.in_reply_to_id = 0;
    assert_int_equal(store_mb_post_create(f->st, &bad, &x, NULL), TD_ENOTFOUND);
    assert_int_equal(store_mb_bulk_commit(f->st), TD_OK);
    assert_int_equal(stats(f, a).statuses_count, 500);
    assert_int_equal(stats(f, a).followers_count, 1);
    assert_int_equal(store_mb_follower_ids(f->st, a, count_id, &n), TD_OK);
    assert_int_equal(n, 1);
}

/* ---- query plans ---- */

/* The plan of sql (the store's text, repeated here) must name want and
 * must not scan a table. */
static void plan_has(struct fx *f, const char *sql, const char *want)
{
    sqlite3 *db = NULL;
    sqlite3_stmt *s = NULL;
    char plan[2048] = "", q[1024];
    size_t len = 0;

    snprintf(q, sizeof(q), "EXPLAIN QUERY PLAN %s", sql);
    assert_int_equal(sqlite3_open(f->path, &db), SQLITE_OK);
    if (sqlite3_prepare_v2(db, q, -1, &s, NULL) != SQLITE_OK)
        fail_msg("prepare %s: %s", sql, sqlite3_errmsg(db));
    while (sqlite3_step(s) == SQLITE_ROW && len < sizeof(plan) - 200)
        len += (size_t)snprintf(plan + len, sizeof(plan) - len, "%s; ",
                                (const char *)sqlite3_column_text(s, 3));
    sqlite3_finalize(s);
    sqlite3_close(db);
    if (strstr(plan, want) == NULL || strstr(plan, "SCAN posts") != NULL ||
        strstr(plan, "SCAN follows") != NULL || strstr(plan, "SCAN post_tags") != NULL)
        fail_msg("plan of %s: %s (want %s)", sql, plan, want);
}

static void test_query_plans(void **state)
{
    struct fx *f = *state;

    /* store_mb_home_rebuild()'s floor: index look-ups per followed account */
    plan_has(f,
             "SELECT max(k) FROM (SELECT (SELECT id FROM posts WHERE account_id = ?1 "
             "ORDER BY id DESC LIMIT 1 OFFSET ?2 - 1) AS k UNION ALL "
             "SELECT (SELECT id FROM posts p WHERE p.account_id = f.followee_id "
             "ORDER BY id DESC LIMIT 1 OFFSET ?2 - 1) FROM follows f WHERE f.follower_id = ?1)",
             "USING COVERING INDEX posts_account (account_id=?)");
    plan_has(f,
             "SELECT p.id FROM follows f JOIN posts p ON p.account_id = f.followee_id "
             "WHERE f.follower_id = ?1 AND p.id >= ?3 ORDER BY 1 DESC LIMIT ?2",
             "posts_account (account_id=? AND id>?)");

    plan_has(f, "SELECT follower_id FROM follows WHERE followee_id = ?1",
             "SEARCH follows USING COVERING INDEX follows_followee (followee_id=?)");
    plan_has(f,
             "SELECT id, id FROM posts p WHERE visibility = 0 AND reblog_of_id IS NULL "
             "AND id < ?2 AND id > ?3 AND (?5 = 0 OR EXISTS(SELECT 1 FROM media m "
             "WHERE m.post_id = p.id)) ORDER BY 1 DESC LIMIT ?4",
             "INDEX posts_public (id>? AND id<?)");
    plan_has(f,
             "SELECT id, id FROM posts p WHERE account_id = ?1 AND id < ?2 AND id > ?3 "
             "AND (?5 = 0 OR in_reply_to_id IS NULL OR in_reply_to_account_id = account_id) "
             "AND (?6 = 0 OR reblog_of_id IS NULL) ORDER BY 1 DESC LIMIT ?4",
             "USING INDEX posts_account (account_id=? AND id>? AND id<?)");
    plan_has(f,
             "SELECT pt.post_id, pt.post_id FROM post_tags pt JOIN posts p ON p.id = pt.post_id "
             "WHERE pt.tag_id = ?1 AND pt.post_id < ?2 AND pt.post_id > ?3 AND p.visibility = 0 "
             "ORDER BY 1 DESC LIMIT ?4",
             "SEARCH pt USING PRIMARY KEY (tag_id=? AND post_id>? AND post_id<?)");
    plan_has(f, "SELECT id FROM posts p WHERE p.id IN (?2, ?3, ?4) ORDER BY p.id DESC",
             "SEARCH p USING INTEGER PRIMARY KEY (rowid=?)");
    plan_has(f,
             "SELECT id, account_id FROM posts WHERE reblog_of_id = ?1 AND id < ?2 AND id > ?3 "
             "ORDER BY 1 DESC LIMIT ?4",
             "INDEX posts_reblog (reblog_of_id=? AND rowid>? AND rowid<?)");
    plan_has(f,
             "SELECT id, follower_id FROM follows WHERE followee_id = ?1 AND id < ?2 AND id > ?3 "
             "ORDER BY 1 DESC LIMIT ?4",
             "USING COVERING INDEX follows_followee (followee_id=? AND id>? AND id<?)");
    /* store_mb_viewer_flags(): index look-ups only, no post row. */
    plan_has(f,
             "SELECT 0, post_id FROM favourites WHERE account_id = ?1 AND post_id IN (?2, ?3) "
             "UNION ALL SELECT 1, reblog_of_id FROM posts WHERE account_id = ?1 "
             "AND reblog_of_id IN (?2, ?3)",
             "COVERING INDEX posts_reblog_once (account_id=? AND reblog_of_id=?)");
}

/* ---- full-text search and markers (0011_mb_search) ---- */

static size_t fts(struct fx *f, const char *q, int64_t *ids)
{
    size_t n = 99;

    assert_int_equal(store_mb_post_search(f->st, q, 0, 0, ids, 8, &n), TD_OK);
    return n;
}

static void test_fts_migration(void **state)
{
    struct fx *f = *state;
    char sql[512];
    int64_t ids[8];

    /* Posts written before 0011 are indexed by it; reblogs are not. */
    for (int i = 0; i < 10; i++)
        raw_exec(f, store__migrations[i].sql);
    snprintf(sql, sizeof(sql),
             "PRAGMA user_version = 10; INSERT INTO accounts (id, username, username_lc, "
             "created_at, updated_at) VALUES (7, 'Old', 'old', 1, 1);"
             "INSERT INTO posts (id, account_id, source, created_at) VALUES (70, 7, "
             "'an old Éclair', 1);"
             "INSERT INTO posts (id, account_id, reblog_of_id, source, created_at) "
             "VALUES (71, 7, 70, 'eclair', 2);");
    raw_exec(f, sql);
    open_ok(f);
    assert_int_equal(fts(f, "eclair", ids), 1);
    assert_int_equal(ids[0], 70);
}

static void test_fts(void **state)
{
    struct fx *f = *state;
    int64_t a = mkacct(f, "alice");
    int64_t p1 = post(f, a, "The quick brown fox", STORE_MB_PUBLIC, 0);
    int64_t p2 = post(f, a, "a lazy \"dog\" and a fox", STORE_MB_DIRECT, 0);
    struct store_mb_post e = {.source = (char *)"a sleeping cat", .content = (char *)"x"};
    int64_t ids[8], rb;
    size_t n;

    assert_int_equal(fts(f, "fox", ids), 2);
    assert_int_equal(ids[0], p2); /* newest first, every visibility */
    assert_int_equal(ids[1], p1);
    assert_int_equal(fts(f, "QUICK  fox", ids), 1);
    assert_int_equal(fts(f, "quick dog", ids), 0);
    /* No FTS5 syntax gets through: operators, quotes, columns, prefixes. */
    assert_int_equal(fts(f, "fox OR dog", ids), 0);
    assert_int_equal(fts(f, "\"dog\"", ids), 1);
    assert_int_equal(fts(f, "source:fox", ids), 0);
    assert_int_equal(fts(f, "qui*", ids), 0); /* "*" inside a string: no prefix query */
    assert_int_equal(fts(f, "NEAR(fox dog)", ids), 0);
    assert_int_equal(fts(f, "\" OR \"", ids), 0);
    assert_int_equal(store_mb_post_search(f->st, "   ", 0, 0, ids, 8, &n), TD_EINVAL);
    /* Cursors. */
    assert_int_equal(store_mb_post_search(f->st, "fox", p2, 0, ids, 8, &n), TD_OK);
    assert_int_equal(n, 1);
    assert_int_equal(ids[0], p1);
    assert_int_equal(store_mb_post_search(f->st, "fox", 0, p1, ids, 8, &n), TD_OK);
    assert_int_equal(n, 1);
    assert_int_equal(ids[0], p2);
    /* Edits and deletes keep the index in step; reblogs are not indexed. */
    assert_int_equal(store_mb_reblog(f->st, mkacct(f, "bob"), p1, STORE_MB_PUBLIC, &rb), TD_OK);
    assert_int_equal(fts(f, "quick", ids), 1);
    assert_int_equal(store_mb_post_edit(f->st, p1, &e, NULL), TD_OK);
    assert_int_equal(fts(f, "quick", ids), 0);
    assert_int_equal(fts(f, "sleeping", ids), 1);
    assert_int_equal(store_mb_post_delete(f->st, p1, a, NULL), TD_OK);
    assert_int_equal(fts(f, "sleeping", ids), 0);
    assert_int_equal(fts(f, "fox", ids), 1);
    /* The index agrees with its content table (FTS5 fails the statement if not). */
    raw_exec(f, "INSERT INTO posts_fts (posts_fts, rank) VALUES ('integrity-check', 1)");
    /* An account's posts leave the index with it (the cascade fires the trigger). */
    raw_exec_id(f, "DELETE FROM accounts WHERE id = ?1", a);
    assert_int_equal(fts(f, "fox", ids), 0);
    raw_exec(f, "INSERT INTO posts_fts (posts_fts, rank) VALUES ('integrity-check', 1)");
}

static void test_markers(void **state)
{
    struct fx *f = *state;
    int64_t a = mkacct(f, "alice");
    struct store_mb_marker m;

    assert_int_equal(store_mb_marker_get(f->st, a, "home", &m), TD_ENOTFOUND);
    assert_int_equal(store_mb_marker_set(f->st, a, "home", 42, &m), TD_OK);
    assert_int_equal(m.last_read_id, 42);
    assert_int_equal(m.version, 1);
    assert_true(m.updated_at > 0);
    assert_int_equal(store_mb_marker_set(f->st, a, "home", 50, NULL), TD_OK);
    assert_int_equal(store_mb_marker_get(f->st, a, "home", &m), TD_OK);
    assert_int_equal(m.last_read_id, 50);
    assert_int_equal(m.version, 2);
    assert_int_equal(store_mb_marker_get(f->st, a, "notifications", &m), TD_ENOTFOUND);
    assert_int_equal(store_mb_marker_set(f->st, a, "public", 1, &m), TD_EINVAL);
    assert_int_equal(store_mb_marker_get(f->st, a, "public", &m), TD_EINVAL);
}

#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_migration_from_previous, setup_raw, teardown),
        T(test_post_create_get),
        T(test_idempotency),
        T(test_limits),
        T(test_batch_get),
        T(test_edit_history),
        T(test_delete),
        T(test_reblog_favourite),
        T(test_paging),
        T(test_timelines),
        T(test_context),
        T(test_follows),
        T(test_relationships_mutes),
        T(test_can_see_table),
        T(test_notifications),
        T(test_media),
        T(test_search),
        T(test_account_delete_cascade),
        T(test_bulk),
        T(test_query_plans),
        T(test_home_rebuild_floor),
        cmocka_unit_test_setup_teardown(test_fts_migration, setup_raw, teardown),
        T(test_fts),
        T(test_markers),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
