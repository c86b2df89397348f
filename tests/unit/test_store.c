/* SPDX-License-Identifier: MIT */
/* Unit tests for store/store_sqlite.c: open and migrations (fresh, reopen,
 * newer and outdated databases), accounts, avatars, sessions, invites,
 * secrets, hostile strings, and durability across kill -9. Each test gets a
 * fresh database in its own mkdtemp directory. */
#include "core/err.h"
#include "store/store.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <signal.h>
#include <sqlite3.h>
#include <sys/wait.h>
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

static int setup(void **state)
{
    struct fx *f = calloc(1, sizeof(*f));

    snprintf(f->dir, sizeof(f->dir), "/tmp/test_store.XXXXXX");
    if (mkdtemp(f->dir) == NULL)
        return -1;
    snprintf(f->path, sizeof(f->path), "%s/tandem.db", f->dir);
    *state = f;
    return 0;
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

static void open_ok(struct fx *f)
{
    struct store_opts o = {.path = f->path, .apply_migrations = true};
    char *err = NULL;
    int rc = store_open(&o, &f->st, &err);

    if (rc != TD_OK)
        fail_msg("store_open: %d %s", rc, err ? err : "");
    assert_null(err);
    assert_non_null(f->st);
}

static void reopen(struct fx *f)
{
    store_close(f->st);
    f->st = NULL;
    open_ok(f);
}

/* Run sql on a raw connection to f->path (for hand-built databases). */
static void raw_exec(struct fx *f, const char *sql)
{
    sqlite3 *db = NULL;
    char *msg = NULL;

    assert_int_equal(sqlite3_open(f->path, &db), SQLITE_OK);
    if (sqlite3_exec(db, sql, NULL, NULL, &msg) != SQLITE_OK)
        fail_msg("raw_exec: %s", msg ? msg : "?");
    sqlite3_close(db);
}

static void raw_text(struct fx *f, const char *sql, char *out, size_t cap)
{
    sqlite3 *db = NULL;
    sqlite3_stmt *s = NULL;

    assert_int_equal(sqlite3_open(f->path, &db), SQLITE_OK);
    assert_int_equal(sqlite3_prepare_v2(db, sql, -1, &s, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_step(s), SQLITE_ROW);
    snprintf(out, cap, "%s", (const char *)sqlite3_column_text(s, 0));
    sqlite3_finalize(s);
    sqlite3_close(db);
}

static void hash_of(uint8_t h[32], int seed)
{
    for (int i = 0; i < 32; i++)
        h[i] = (uint8_t)(seed * 31 + i);
}

static int64_t make_account(struct store *st, const char *name)
{
    struct account a = {.username = (char *)name, .password_hash = (char *)"$argon2id$x"};

    assert_int_equal(store_account_create(st, &a), TD_OK);
    assert_true(a.id > 0);
    return a.id;
}

/* ---- open and migrations ---- */

static void test_open_fresh_wal(void **state)
{
    struct fx *f = *state;
    char buf[32];
    int v = -1;

    open_ok(f);
    assert_int_equal(store_schema_version(f->st, &v), TD_OK);
    assert_int_equal(v, STORE_SCHEMA_VERSION);
    raw_text(f, "PRAGMA journal_mode", buf, sizeof(buf));
    assert_string_equal(buf, "wal");
    raw_text(f, "PRAGMA user_version", buf, sizeof(buf));
    assert_int_equal(strtol(buf, NULL, 10), STORE_SCHEMA_VERSION);
    raw_text(f, "SELECT count(*) FROM sqlite_master WHERE name = 'accounts'", buf, sizeof(buf));
    assert_string_equal(buf, "1");
}

static void test_reopen_idempotent(void **state)
{
    struct fx *f = *state;
    int64_t n = 0;
    int v = 0;

    open_ok(f);
    make_account(f->st, "alice");
    reopen(f);
    reopen(f);
    assert_int_equal(store_schema_version(f->st, &v), TD_OK);
    assert_int_equal(v, STORE_SCHEMA_VERSION);
    assert_int_equal(store_account_count(f->st, &n), TD_OK);
    assert_int_equal(n, 1);
}

static void test_refuse_newer(void **state)
{
    struct fx *f = *state;
    struct store_opts o = {.path = f->path, .apply_migrations = true};
    char want[128];
    char sql[64];
    char buf[32];
    char *err = NULL;

    snprintf(sql, sizeof(sql), "PRAGMA user_version = %d", STORE_SCHEMA_VERSION + 1);
    raw_exec(f, sql);
    assert_int_equal(store_open(&o, &f->st, &err), TD_EVERSION);
    assert_null(f->st);
    assert_non_null(err);
    snprintf(want, sizeof(want),
             "database schema version %d is newer than this tandem (%d); upgrade tandem",
             STORE_SCHEMA_VERSION + 1, STORE_SCHEMA_VERSION);
    assert_string_equal(err, want);
    free(err);
    /* The refused file is left as it was: not switched to WAL, no tables. */
    raw_text(f, "PRAGMA journal_mode", buf, sizeof(buf));
    assert_string_equal(buf, "delete");
    raw_text(f, "SELECT count(*) FROM sqlite_master", buf, sizeof(buf));
    assert_string_equal(buf, "0");
    /* store_migrate refuses too. */
    err = NULL;
    assert_int_equal(store_migrate(f->path, NULL, NULL, &err), TD_EVERSION);
    assert_non_null(err);
    free(err);
}

static void test_no_migrations_on_old_db(void **state)
{
    struct fx *f = *state;
    struct store_opts o = {.path = f->path, .apply_migrations = false};
    char want[128];
    char *err = NULL;
    int from = -1;
    int to = -1;

    /* A hand-made version-0 database with an unrelated table. */
    raw_exec(f, "CREATE TABLE unrelated (x INTEGER)");
    assert_int_equal(store_open(&o, &f->st, &err), TD_EVERSION);
    assert_null(f->st);
    snprintf(want, sizeof(want), "database needs migration (0 < %d); run tandem migrate",
             STORE_SCHEMA_VERSION);
    assert_string_equal(err, want);
    free(err);
    err = NULL;
    assert_int_equal(store_migrate(f->path, &from, &to, &err), TD_OK);
    assert_null(err);
    assert_int_equal(from, 0);
    assert_int_equal(to, STORE_SCHEMA_VERSION);
    /* Now it opens without migrating, and migrate again is a no-op. */
    assert_int_equal(store_open(&o, &f->st, &err), TD_OK);
    make_account(f->st, "bob");
    assert_int_equal(store_migrate(f->path, &from, &to, NULL), TD_OK);
    assert_int_equal(from, STORE_SCHEMA_VERSION);
    assert_int_equal(to, STORE_SCHEMA_VERSION);
}

static void test_upgrade_from_v1_by_hand(void **state)
{
    struct fx *f = *state;
    char sql[4096];
    struct account a;

    /* Build a version-1 database with the raw migration text plus a row. */
    snprintf(sql, sizeof(sql),
             "%s; PRAGMA user_version = 1; INSERT INTO accounts (id, username, username_lc, "
             "created_at, updated_at) VALUES (7, 'Old', 'old', 1, 1);",
             store__migrations[0].sql);
    raw_exec(f, sql);
    open_ok(f);
    assert_int_equal(store_account_get_by_name(f->st, "OLD", &a), TD_OK);
    assert_int_equal(a.id, 7);
    assert_string_equal(a.username, "Old");
    assert_string_equal(a.display_name, "");
    assert_null(a.password_hash);
    store_account_clear(&a);
}

static void test_open_errors(void **state)
{
    struct fx *f = *state;
    struct store_opts o = {.path = NULL, .apply_migrations = true};
    char p[160];
    char *err = NULL;
    FILE *fp;

    assert_int_equal(store_open(&o, &f->st, &err), TD_EINVAL);
    assert_non_null(err);
    free(err);
    err = NULL;
    /* The directory is not created. */
    snprintf(p, sizeof(p), "%s/missing/tandem.db", f->dir);
    o.path = p;
    assert_int_equal(store_open(&o, &f->st, &err), TD_EIO);
    assert_null(f->st);
    assert_non_null(err);
    free(err);
    err = NULL;
    /* A file that is not a database. */
    fp = fopen(f->path, "wb");
    assert_non_null(fp);
    for (int i = 0; i < 200; i++)
        fputs("this is not an sqlite database. ", fp);
    fclose(fp);
    o.path = f->path;
    assert_int_equal(store_open(&o, &f->st, &err), TD_EIO);
    assert_null(f->st);
    assert_non_null(err);
    free(err);
    store_close(NULL);
}

/* ---- accounts ---- */

static void test_account_create_get(void **state)
{
    struct fx *f = *state;
    struct account a = {.username = (char *)"Alice", .display_name = (char *)"Alice A.",
                        .email = (char *)"a@example.org", .password_hash = (char *)"$argon2id$h",
                        .is_admin = true};
    struct account b = {.username = (char *)"alice"};
    struct account got;
    int64_t before;

    open_ok(f);
    before = store_now_ms();
    assert_int_equal(store_account_create(f->st, &a), TD_OK);
    assert_true(a.id > 0);
    assert_true(a.created_at >= before && a.created_at == a.updated_at);
    assert_int_equal(store_account_create(f->st, &b), TD_EEXIST);
    b.username = (char *)"ALICE";
    assert_int_equal(store_account_create(f->st, &b), TD_EEXIST);

    assert_int_equal(store_account_get_by_name(f->st, "aLiCe", &got), TD_OK);
    assert_int_equal(got.id, a.id);
    assert_string_equal(got.username, "Alice");
    assert_string_equal(got.display_name, "Alice A.");
    assert_string_equal(got.bio, "");
    assert_string_equal(got.email, "a@example.org");
    assert_string_equal(got.password_hash, "$argon2id$h");
    assert_true(got.is_admin);
    assert_false(got.disabled);
    assert_false(got.has_avatar);
    assert_int_equal(got.created_at, a.created_at);
    store_account_clear(&got);
    assert_null(got.username);

    assert_int_equal(store_account_get_by_id(f->st, a.id, &got), TD_OK);
    assert_string_equal(got.username, "Alice");
    store_account_clear(&got);

    assert_int_equal(store_account_get_by_name(f->st, "bob", &got), TD_ENOTFOUND);
    assert_null(got.username);
    assert_int_equal(store_account_get_by_name(f->st, NULL, &got), TD_ENOTFOUND);
    assert_int_equal(store_account_get_by_id(f->st, a.id + 1, &got), TD_ENOTFOUND);

    /* Invalid input. */
    b.username = NULL;
    assert_int_equal(store_account_create(f->st, &b), TD_EINVAL);
    b.username = (char *)"";
    assert_int_equal(store_account_create(f->st, &b), TD_EINVAL);
    store_account_clear(NULL);
}

static int collect(void *ud, const struct account *a)
{
    char *names = ud;
    size_t used = strlen(names);

    snprintf(names + used, 200 - used, "%s,", a->username);
    return 0;
}

struct stopper {
    int seen;
};

static int stop_after_two(void *ud, const struct account *a)
{
    struct stopper *s = ud;

    (void)a;
    return ++s->seen == 2;
}

static void test_account_list_count(void **state)
{
    struct fx *f = *state;
    char names[200] = "";
    struct stopper stop = {0};
    int64_t n = -1;

    open_ok(f);
    assert_int_equal(store_account_count(f->st, &n), TD_OK);
    assert_int_equal(n, 0);
    assert_int_equal(store_account_list(f->st, collect, names), TD_OK);
    assert_string_equal(names, "");
    make_account(f->st, "carol");
    make_account(f->st, "Bob");
    make_account(f->st, "alice");
    make_account(f->st, "Dave");
    assert_int_equal(store_account_count(f->st, &n), TD_OK);
    assert_int_equal(n, 4);
    assert_int_equal(store_account_list(f->st, collect, names), TD_OK);
    assert_string_equal(names, "alice,Bob,carol,Dave,");
    assert_int_equal(store_account_list(f->st, stop_after_two, &stop), TD_OK);
    assert_int_equal(stop.seen, 2);
}

static void test_account_updates(void **state)
{
    struct fx *f = *state;
    struct account got;
    int64_t id;

    open_ok(f);
    id = make_account(f->st, "erin");
    assert_int_equal(store_account_set_profile(f->st, id, "Erin ✓", "line1\nline2"), TD_OK);
    assert_int_equal(store_account_set_password(f->st, id, "$argon2id$new"), TD_OK);
    assert_int_equal(store_account_set_disabled(f->st, id, true), TD_OK);
    assert_int_equal(store_account_set_admin(f->st, id, true), TD_OK);
    assert_int_equal(store_account_get_by_id(f->st, id, &got), TD_OK);
    assert_string_equal(got.display_name, "Erin ✓");
    assert_string_equal(got.bio, "line1\nline2");
    assert_string_equal(got.password_hash, "$argon2id$new");
    assert_true(got.disabled);
    assert_true(got.is_admin);
    assert_true(got.updated_at >= got.created_at);
    store_account_clear(&got);

    assert_int_equal(store_account_set_disabled(f->st, id, false), TD_OK);
    assert_int_equal(store_account_set_admin(f->st, id, false), TD_OK);
    assert_int_equal(store_account_set_password(f->st, id, NULL), TD_OK);
    assert_int_equal(store_account_set_profile(f->st, id, NULL, NULL), TD_OK);
    assert_int_equal(store_account_get_by_id(f->st, id, &got), TD_OK);
    assert_false(got.disabled);
    assert_false(got.is_admin);
    assert_null(got.password_hash);
    assert_string_equal(got.display_name, "");
    store_account_clear(&got);

    assert_int_equal(store_account_set_profile(f->st, id + 1, "x", "y"), TD_ENOTFOUND);
    assert_int_equal(store_account_set_password(f->st, id + 1, "x"), TD_ENOTFOUND);
    assert_int_equal(store_account_set_disabled(f->st, id + 1, true), TD_ENOTFOUND);
    assert_int_equal(store_account_set_admin(f->st, id + 1, true), TD_ENOTFOUND);
}

static void test_injection_verbatim(void **state)
{
    struct fx *f = *state;
    static const char evil[] = "a'; DROP TABLE accounts; --";
    struct account got;
    int64_t id;
    int64_t n = 0;

    open_ok(f);
    id = make_account(f->st, evil);
    assert_int_equal(store_account_set_profile(f->st, id, "\"); DELETE FROM sessions; --",
                                               "' OR '1'='1"),
                     TD_OK);
    assert_int_equal(store_account_get_by_name(f->st, evil, &got), TD_OK);
    assert_string_equal(got.username, evil);
    assert_string_equal(got.display_name, "\"); DELETE FROM sessions; --");
    assert_string_equal(got.bio, "' OR '1'='1");
    store_account_clear(&got);
    /* A lookup with a classic injection matches nothing. */
    assert_int_equal(store_account_get_by_name(f->st, "x' OR '1'='1", &got), TD_ENOTFOUND);
    assert_int_equal(store_account_count(f->st, &n), TD_OK);
    assert_int_equal(n, 1);
    reopen(f);
    assert_int_equal(store_account_count(f->st, &n), TD_OK);
    assert_int_equal(n, 1);
}

static void test_avatar(void **state)
{
    struct fx *f = *state;
    uint8_t img[300];
    struct account got;
    char *ct = NULL;
    void *data = NULL;
    size_t len = 0;
    int64_t upd = 0;
    int64_t id;

    for (size_t i = 0; i < sizeof(img); i++)
        img[i] = (uint8_t)i; /* includes NUL bytes */
    open_ok(f);
    id = make_account(f->st, "frank");
    assert_int_equal(store_avatar_get(f->st, id, &ct, &data, &len, &upd), TD_ENOTFOUND);
    assert_null(data);
    assert_int_equal(store_avatar_set(f->st, id, "image/png", img, sizeof(img)), TD_OK);
    assert_int_equal(store_avatar_get(f->st, id, &ct, &data, &len, &upd), TD_OK);
    assert_string_equal(ct, "image/png");
    assert_int_equal(len, sizeof(img));
    assert_memory_equal(data, img, sizeof(img));
    assert_true(upd > 0);
    free(ct);
    free(data);
    assert_int_equal(store_account_get_by_id(f->st, id, &got), TD_OK);
    assert_true(got.has_avatar);
    store_account_clear(&got);

    /* Replace, including with an empty image. */
    assert_int_equal(store_avatar_set(f->st, id, "image/webp", img, 3), TD_OK);
    assert_int_equal(store_avatar_get(f->st, id, &ct, &data, &len, NULL), TD_OK);
    assert_string_equal(ct, "image/webp");
    assert_int_equal(len, 3);
    free(ct);
    free(data);
    assert_int_equal(store_avatar_set(f->st, id, "image/gif", NULL, 0), TD_OK);
    assert_int_equal(store_avatar_get(f->st, id, &ct, &data, &len, NULL), TD_OK);
    assert_int_equal(len, 0);
    free(ct);
    free(data);

    /* Limits and bad arguments. */
    assert_int_equal(store_avatar_set(f->st, id, "image/png", img, STORE_AVATAR_MAX + 1),
                     TD_ETOOBIG);
    assert_int_equal(store_avatar_set(f->st, id, NULL, img, 3), TD_EINVAL);
    assert_int_equal(store_avatar_set(f->st, id, "image/png", NULL, 3), TD_EINVAL);
    assert_int_equal(store_avatar_set(f->st, id + 1, "image/png", img, 3), TD_ENOTFOUND);
}

/* ---- sessions ---- */

static void test_sessions(void **state)
{
    struct fx *f = *state;
    uint8_t h1[32], h2[32], h3[32], h4[32];
    int64_t now = store_now_ms();
    int64_t alice, bob, who = -1, n = -1;

    hash_of(h1, 1);
    hash_of(h2, 2);
    hash_of(h3, 3);
    hash_of(h4, 4);
    open_ok(f);
    alice = make_account(f->st, "alice");
    bob = make_account(f->st, "bob");
    assert_int_equal(store_session_create(f->st, h1, alice, now + 3600000, "UA", "127.0.0.1"),
                     TD_OK);
    assert_int_equal(store_session_create(f->st, h1, alice, now + 3600000, NULL, NULL),
                     TD_EEXIST);
    assert_int_equal(store_session_create(f->st, h2, alice, now + 3600000, NULL, NULL), TD_OK);
    assert_int_equal(store_session_create(f->st, h3, bob, now + 3600000, NULL, NULL), TD_OK);
    assert_int_equal(store_session_create(f->st, h4, bob + 99, now + 3600000, NULL, NULL),
                     TD_ENOTFOUND);

    assert_int_equal(store_session_lookup(f->st, h1, now, &who), TD_OK);
    assert_int_equal(who, alice);
    /* Lookups later (bumping last_seen_at) still work; at expiry they stop. */
    assert_int_equal(store_session_lookup(f->st, h1, now + 120000, &who), TD_OK);
    assert_int_equal(store_session_lookup(f->st, h1, now + 3600000 - 1, &who), TD_OK);
    assert_int_equal(store_session_lookup(f->st, h1, now + 3600000, &who), TD_ENOTFOUND);
    assert_int_equal(who, 0);
    assert_int_equal(store_session_lookup(f->st, h4, now, &who), TD_ENOTFOUND);
    assert_int_equal(store_session_lookup(f->st, NULL, now, &who), TD_ENOTFOUND);

    /* Delete one; deleting twice is fine. */
    assert_int_equal(store_session_delete(f->st, h2), TD_OK);
    assert_int_equal(store_session_delete(f->st, h2), TD_OK);
    assert_int_equal(store_session_lookup(f->st, h2, now, &who), TD_ENOTFOUND);

    /* Delete all of alice's but h1; bob's stay. */
    assert_int_equal(store_session_create(f->st, h2, alice, now + 3600000, NULL, NULL), TD_OK);
    assert_int_equal(store_session_delete_account(f->st, alice, h1), TD_OK);
    assert_int_equal(store_session_lookup(f->st, h1, now, &who), TD_OK);
    assert_int_equal(store_session_lookup(f->st, h2, now, &who), TD_ENOTFOUND);
    assert_int_equal(store_session_lookup(f->st, h3, now, &who), TD_OK);
    assert_int_equal(who, bob);
    assert_int_equal(store_session_delete_account(f->st, alice, NULL), TD_OK);
    assert_int_equal(store_session_lookup(f->st, h1, now, &who), TD_ENOTFOUND);
    assert_int_equal(store_session_lookup(f->st, h3, now, &who), TD_OK);

    /* Purge. */
    assert_int_equal(store_session_create(f->st, h1, alice, now - 1, NULL, NULL), TD_OK);
    assert_int_equal(store_session_purge_expired(f->st, now, &n), TD_OK);
    assert_int_equal(n, 1);
    assert_int_equal(store_session_purge_expired(f->st, now, &n), TD_OK);
    assert_int_equal(n, 0);
    assert_int_equal(store_session_lookup(f->st, h3, now, &who), TD_OK);
}

static void test_session_touch_and_cascade(void **state)
{
    struct fx *f = *state;
    uint8_t h[32];
    char buf[32];
    int64_t now = store_now_ms();
    int64_t id, who;

    hash_of(h, 9);
    open_ok(f);
    id = make_account(f->st, "gina");
    assert_int_equal(store_session_create(f->st, h, id, now + 10000000, NULL, NULL), TD_OK);
    /* Within a minute last_seen_at is not rewritten; after it, it is. */
    assert_int_equal(store_session_lookup(f->st, h, now + 30000, &who), TD_OK);
    store_close(f->st);
    f->st = NULL;
    raw_text(f, "SELECT last_seen_at - created_at FROM sessions", buf, sizeof(buf));
    assert_string_equal(buf, "0");
    open_ok(f);
    assert_int_equal(store_session_lookup(f->st, h, now + 5000000, &who), TD_OK);
    store_close(f->st);
    f->st = NULL;
    snprintf(buf, sizeof(buf), "%lld", (long long)(now + 5000000));
    {
        char got[32];
        raw_text(f, "SELECT last_seen_at FROM sessions", got, sizeof(got));
        assert_string_equal(got, buf);
    }
    /* Deleting the account (by hand; foreign_keys on) cascades to sessions. */
    raw_exec(f, "PRAGMA foreign_keys = ON; DELETE FROM accounts");
    raw_text(f, "SELECT count(*) FROM sessions", buf, sizeof(buf));
    assert_string_equal(buf, "0");
}

/* ---- invites ---- */

static void test_invites(void **state)
{
    struct fx *f = *state;
    uint8_t c1[32], c2[32], c3[32];
    int64_t now = store_now_ms();

    hash_of(c1, 11);
    hash_of(c2, 12);
    hash_of(c3, 13);
    open_ok(f);
    assert_int_equal(store_invite_create(f->st, c1, now + 1000, 2), TD_OK);
    assert_int_equal(store_invite_create(f->st, c1, now + 1000, 2), TD_EEXIST);
    assert_int_equal(store_invite_create(f->st, c2, now + 1000, 0), TD_EINVAL);
    assert_int_equal(store_invite_create(f->st, c2, now + 1000, -5), TD_EINVAL);
    assert_int_equal(store_invite_create(f->st, c2, now + 1000, 1), TD_OK);

    assert_int_equal(store_invite_use(f->st, c1, now), TD_OK);
    assert_int_equal(store_invite_use(f->st, c1, now), TD_OK);
    assert_int_equal(store_invite_use(f->st, c1, now), TD_ENOTFOUND);
    assert_int_equal(store_invite_use(f->st, c2, now + 1000), TD_ENOTFOUND); /* expired */
    assert_int_equal(store_invite_use(f->st, c2, now + 999), TD_OK);
    assert_int_equal(store_invite_use(f->st, c3, now), TD_ENOTFOUND);
    assert_int_equal(store_invite_use(f->st, NULL, now), TD_ENOTFOUND);
}

/* ---- secrets and transactions ---- */

static void test_secret(void **state)
{
    struct fx *f = *state;
    uint8_t a[32], b[32], c[16], zero[32] = {0};
    uint8_t big[STORE_SECRET_MAX + 1];

    open_ok(f);
    assert_int_equal(store_secret_get(f->st, "csrf", a, sizeof(a)), TD_OK);
    assert_memory_not_equal(a, zero, sizeof(a));
    assert_int_equal(store_secret_get(f->st, "csrf", b, sizeof(b)), TD_OK);
    assert_memory_equal(a, b, sizeof(a));
    reopen(f);
    memset(b, 0, sizeof(b));
    assert_int_equal(store_secret_get(f->st, "csrf", b, sizeof(b)), TD_OK);
    assert_memory_equal(a, b, sizeof(a));
    /* Another name gets another value. */
    assert_int_equal(store_secret_get(f->st, "other", b, sizeof(b)), TD_OK);
    assert_memory_not_equal(a, b, sizeof(a));
    /* Asking with the wrong length is an error, not a truncation. */
    assert_int_equal(store_secret_get(f->st, "csrf", c, sizeof(c)), TD_EINVAL);
    assert_int_equal(store_secret_get(f->st, "x", c, 0), TD_EINVAL);
    assert_int_equal(store_secret_get(f->st, "x", big, sizeof(big)), TD_EINVAL);
    assert_int_equal(store_secret_get(f->st, NULL, c, sizeof(c)), TD_EINVAL);
}

static void test_transactions(void **state)
{
    struct fx *f = *state;
    int64_t n = -1;

    open_ok(f);
    assert_int_equal(store_begin(f->st), TD_OK);
    make_account(f->st, "henry");
    assert_int_equal(store_rollback(f->st), TD_OK);
    assert_int_equal(store_account_count(f->st, &n), TD_OK);
    assert_int_equal(n, 0);
    assert_int_equal(store_begin(f->st), TD_OK);
    assert_int_not_equal(store_begin(f->st), TD_OK); /* not nestable */
    make_account(f->st, "henry");
    assert_int_equal(store_commit(f->st), TD_OK);
    assert_int_equal(store_account_count(f->st, &n), TD_OK);
    assert_int_equal(n, 1);
    assert_int_not_equal(store_commit(f->st), TD_OK); /* none open */
}

/* ---- durability ---- */

static void test_durability_kill9(void **state)
{
    struct fx *f = *state;
    struct account got;
    int fds[2];
    char ack = 0;
    int status = 0;
    pid_t pid;

    assert_int_equal(pipe(fds), 0);
    pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        struct store_opts o = {.path = f->path, .apply_migrations = true};
        struct account a = {.username = (char *)"Durable"};
        struct store *st = NULL;
        char r = 'n';

        close(fds[0]);
        if (store_open(&o, &st, NULL) == TD_OK && store_account_create(st, &a) == TD_OK)
            r = 'y';
        if (write(fds[1], &r, 1) != 1)
            _exit(2);
        for (;;)
            pause(); /* killed here, with the store still open */
    }
    close(fds[1]);
    assert_int_equal(read(fds[0], &ack, 1), 1);
    close(fds[0]);
    kill(pid, SIGKILL);
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
    assert_int_equal(ack, 'y');

    open_ok(f);
    assert_int_equal(store_account_get_by_name(f->st, "durable", &got), TD_OK);
    assert_string_equal(got.username, "Durable");
    store_account_clear(&got);
}

#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)

int main(void)
{
    const struct CMUnitTest tests[] = {
        T(test_open_fresh_wal),
        T(test_reopen_idempotent),
        T(test_refuse_newer),
        T(test_no_migrations_on_old_db),
        T(test_upgrade_from_v1_by_hand),
        T(test_open_errors),
        T(test_account_create_get),
        T(test_account_list_count),
        T(test_account_updates),
        T(test_injection_verbatim),
        T(test_avatar),
        T(test_sessions),
        T(test_session_touch_and_cascade),
        T(test_invites),
        T(test_secret),
        T(test_transactions),
        T(test_durability_kill9),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
