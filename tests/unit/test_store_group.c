/* SPDX-License-Identifier: MIT */
/* Unit tests for store/store_sqlite_group.c (store.h, group commit and
 * checkpoints), on a real libuv loop and real database files: the writes of
 * one loop turn share one transaction, invisible to another connection until
 * the turn's commit and delivered to their callbacks only after it; reads
 * inside a group see the group's writes (a refresh token rotated twice in
 * one turn: the second is reuse); an ungrouped write commits the group
 * first; a commit that fails (a WAL write refused by a fault-injecting VFS
 * wrapped around the real one) is reported to every waiter and loses the
 * whole group, and the store keeps working afterwards; background
 * checkpoints run and the data survives them; without a loop, groups are
 * autocommit. Each test gets a fresh database in its own mkdtemp
 * directory. */
#include "core/err.h"
#include "store/store.h"
#include "store/store_oauth.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sqlite3.h>
#include <unistd.h>
#include <uv.h>

#include <cmocka.h>

/* ---- a VFS that can refuse writes to the WAL (registered as the default) ---- */

static sqlite3_vfs *real_vfs;
static sqlite3_vfs fault_vfs;
static int fail_wal_writes; /* while set, xWrite on a WAL file fails */

struct fault_file {
    sqlite3_file base;
    bool is_wal;
    sqlite3_file *real; /* follows this struct in the same allocation */
};

#define REAL(f) (((struct fault_file *)(f))->real)

static int f_close(sqlite3_file *f)
{
    return REAL(f)->pMethods->xClose(REAL(f));
}
static int f_read(sqlite3_file *f, void *b, int n, sqlite3_int64 o)
{
    return REAL(f)->pMethods->xRead(REAL(f), b, n, o);
}
static int f_write(sqlite3_file *f, const void *b, int n, sqlite3_int64 o)
{
    if (fail_wal_writes && ((struct fault_file *)f)->is_wal)
        return SQLITE_IOERR_WRITE;
    return REAL(f)->pMethods->xWrite(REAL(f), b, n, o);
}
static int f_truncate(sqlite3_file *f, sqlite3_int64 n)
{
    return REAL(f)->pMethods->xTruncate(REAL(f), n);
}
static int f_sync(sqlite3_file *f, int flags)
{
    return REAL(f)->pMethods->xSync(REAL(f), flags);
}
static int f_size(sqlite3_file *f, sqlite3_int64 *n)
{
    return REAL(f)->pMethods->xFileSize(REAL(f), n);
}
static int f_lock(sqlite3_file *f, int l)
{
    return REAL(f)->pMethods->xLock(REAL(f), l);
}
static int f_unlock(sqlite3_file *f, int l)
{
    return REAL(f)->pMethods->xUnlock(REAL(f), l);
}
static int f_reserved(sqlite3_file *f, int *out)
{
    return REAL(f)->pMethods->xCheckReservedLock(REAL(f), out);
}
static int f_fcntl(sqlite3_file *f, int op, void *arg)
{
    return REAL(f)->pMethods->xFileControl(REAL(f), op, arg);
}
static int f_sector(sqlite3_file *f)
{
    return REAL(f)->pMethods->xSectorSize(REAL(f));
}
static int f_devchar(sqlite3_file *f)
{
    return REAL(f)->pMethods->xDeviceCharacteristics(REAL(f));
}
static int f_shm_map(sqlite3_file *f, int pg, int sz, int ext, void volatile **pp)
{
    return REAL(f)->pMethods->xShmMap(REAL(f), pg, sz, ext, pp);
}
static int f_shm_lock(sqlite3_file *f, int off, int n, int flags)
{
    return REAL(f)->pMethods->xShmLock(REAL(f), off, n, flags);
}
static void f_shm_barrier(sqlite3_file *f)
{
    REAL(f)->pMethods->xShmBarrier(REAL(f));
}
static int f_shm_unmap(sqlite3_file *f, int del)
{
    return REAL(f)->pMethods->xShmUnmap(REAL(f), del);
}
static int f_fetch(sqlite3_file *f, sqlite3_int64 o, int n, void **pp)
{
    *pp = NULL; /* no memory mapping: every access goes through xRead */
    (void)f, (void)o, (void)n;
    return SQLITE_OK;
}
static int f_unfetch(sqlite3_file *f, sqlite3_int64 o, void *p)
{
    (void)f, (void)o, (void)p;
    return SQLITE_OK;
}

static const sqlite3_io_methods fault_methods = {
    3,        f_close,   f_read,    f_write,    f_truncate,    f_sync,
    f_size,   f_lock,    f_unlock,  f_reserved, f_fcntl,       f_sector,
    f_devchar, f_shm_map, f_shm_lock, f_shm_barrier, f_shm_unmap, f_fetch,
    f_unfetch,
};

static int v_open(sqlite3_vfs *v, const char *name, sqlite3_file *file, int flags, int *out_flags)
{
    struct fault_file *ff = (struct fault_file *)file;
    int rc;

    (void)v;
    ff->real = (sqlite3_file *)(ff + 1);
    ff->is_wal = (flags & SQLITE_OPEN_WAL) != 0;
    rc = real_vfs->xOpen(real_vfs, name, ff->real, flags, out_flags);
    /* SQLite calls xClose only when pMethods is set, so leave it NULL on failure. */
    ff->base.pMethods = rc == SQLITE_OK ? &fault_methods : NULL;
    return rc;
}

static void install_fault_vfs(void)
{
    if (real_vfs != NULL)
        return;
    real_vfs = sqlite3_vfs_find(NULL);
    fault_vfs = *real_vfs;
    fault_vfs.zName = "tandem-test-fault";
    fault_vfs.szOsFile = (int)sizeof(struct fault_file) + real_vfs->szOsFile;
    fault_vfs.xOpen = v_open;
    fault_vfs.pNext = NULL;
    assert_int_equal(sqlite3_vfs_register(&fault_vfs, 1), SQLITE_OK);
}

/* ---- fixture ---- */

struct fx {
    char dir[64];
    char path[128];
    uv_loop_t loop;
    struct store *st;   /* attached to loop */
    struct store *peek; /* a second connection: sees only committed data */
};

struct waiter {
    int calls;
    int status;
    struct fx *f;
    bool visible_in_peek; /* when the callback ran, another connection saw the token */
    uint8_t hash[32];
};

static void open_store(const char *path, struct store **out)
{
    struct store_opts o = {.path = path, .apply_migrations = true};
    char *err = NULL;
    int rc = store_open(&o, out, &err);

    if (rc != TD_OK)
        fail_msg("store_open: %d %s", rc, err ? err : "");
}

static int setup(void **state)
{
    struct fx *f = calloc(1, sizeof(*f));
    struct oauth_client c = {
        .client_id = (char *)"c1",
        .grant_types = (char *)"client_credentials refresh_token",
        .scope = (char *)"blog.read",
        .has_secret = true,
    };

    install_fault_vfs();
    fail_wal_writes = 0;
    snprintf(f->dir, sizeof(f->dir), "/tmp/test_store_group.XXXXXX");
    if (mkdtemp(f->dir) == NULL)
        return -1;
    snprintf(f->path, sizeof(f->path), "%s/tandem.db", f->dir);
    assert_int_equal(uv_loop_init(&f->loop), 0);
    open_store(f->path, &f->st);
    assert_int_equal(store_oauth_client_create(f->st, &c), TD_OK);
    open_store(f->path, &f->peek);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fx *f = *state;
    char p[160];
    static const char *const suffix[] = {"", "-wal", "-shm"};

    fail_wal_writes = 0;
    store_group_detach(f->st);
    uv_run(&f->loop, UV_RUN_DEFAULT); /* close callbacks, a running checkpoint */
    store_close(f->st);
    store_close(f->peek);
    assert_int_equal(uv_loop_close(&f->loop), 0);
    for (size_t i = 0; i < sizeof(suffix) / sizeof(suffix[0]); i++) {
        snprintf(p, sizeof(p), "%s%s", f->path, suffix[i]);
        unlink(p);
    }
    rmdir(f->dir);
    free(f);
    return 0;
}

static void hash_of(uint8_t h[32], int seed)
{
    for (int i = 0; i < 32; i++)
        h[i] = (uint8_t)(seed * 37 + i);
    memcpy(h, &seed, sizeof(seed)); /* distinct for every seed */
}

/* The row id of the token whose hash is hash_of(h, seed). */
static int64_t id_of(const uint8_t h[32])
{
    int seed;

    memcpy(&seed, h, sizeof(seed));
    return (int64_t)seed + 1;
}

static int put_token(struct store *st, int seed, int kind, int64_t grant_id)
{
    struct oauth_token t = {
        .kind = kind,
        .client_id = (char *)"c1",
        .scope = (char *)"blog.read",
        .grant_id = grant_id,
        .expires_at = store_now_ms() + 3600000,
    };

    hash_of(t.token_hash, seed);
    t.id = id_of(t.token_hash);
    return store_oauth_token_create(st, &t);
}

static bool has_token(struct store *st, const uint8_t h[32])
{
    struct oauth_token t;
    int rc = store_oauth_token_get(st, id_of(h), h, &t);

    store_oauth_token_clear(&t);
    assert_true(rc == TD_OK || rc == TD_ENOTFOUND);
    return rc == TD_OK;
}

static void on_commit(void *ud, int status)
{
    struct waiter *w = ud;

    w->calls++;
    w->status = status;
    w->visible_in_peek = has_token(w->f->peek, w->hash);
}

/* Three callers write in one turn: one transaction, nothing visible elsewhere before
 * the check, every callback after the commit. */
static void test_one_commit_per_turn(void **state)
{
    struct fx *f = *state;
    struct waiter w[3];
    struct store_group_stats gs;

    memset(w, 0, sizeof(w));
    assert_int_equal(store_group_attach(f->st, &f->loop, NULL), TD_OK);
    assert_int_equal(store_group_attach(f->st, &f->loop, NULL), TD_EINVAL);
    for (int i = 0; i < 3; i++) {
        w[i].f = f;
        hash_of(w[i].hash, 100 + i);
        assert_int_equal(store_group_begin(f->st), TD_OK);
        assert_int_equal(put_token(f->st, 100 + i, OAUTH_TOKEN_ACCESS, 7), TD_OK);
        store_group_end(f->st, on_commit, &w[i]);
        assert_int_equal(w[i].calls, 0);
        /* The group's own connection sees its writes; another does not yet. */
        assert_true(has_token(f->st, w[i].hash));
        assert_false(has_token(f->peek, w[i].hash));
    }
    uv_run(&f->loop, UV_RUN_NOWAIT);
    for (int i = 0; i < 3; i++) {
        assert_int_equal(w[i].calls, 1);
        assert_int_equal(w[i].status, TD_OK);
        assert_true(w[i].visible_in_peek);
    }
    store_group_stats(f->st, &gs);
    assert_int_equal(gs.commits, 1);
    assert_int_equal(gs.waiters, 3);
    assert_int_equal(gs.failures, 0);
    /* The next turn with nothing to do commits nothing. */
    uv_run(&f->loop, UV_RUN_NOWAIT);
    store_group_stats(f->st, &gs);
    assert_int_equal(gs.commits, 1);
}

static void far_timer(uv_timer_t *t)
{
    *(bool *)t->data = true;
}

/* A group entered outside an I/O callback (a timer, another commit's callback) must not
 * leave the loop asleep in poll until some unrelated event: the commit comes in the
 * next turn, before a far-off timer. */
static void test_group_does_not_stall_loop(void **state)
{
    struct fx *f = *state;
    struct waiter w = {.f = f};
    uv_timer_t t;
    bool fired = false;

    assert_int_equal(store_group_attach(f->st, &f->loop, NULL), TD_OK);
    uv_timer_init(&f->loop, &t);
    t.data = &fired;
    uv_timer_start(&t, far_timer, 60000, 0); /* keeps the loop alive, as listeners do */
    hash_of(w.hash, 5);
    assert_int_equal(store_group_begin(f->st), TD_OK);
    assert_int_equal(put_token(f->st, 5, OAUTH_TOKEN_ACCESS, 1), TD_OK);
    store_group_end(f->st, on_commit, &w);
    uv_run(&f->loop, UV_RUN_ONCE);
    assert_int_equal(w.calls, 1);
    assert_int_equal(w.status, TD_OK);
    assert_false(fired);
    uv_close((uv_handle_t *)&t, NULL);
    uv_run(&f->loop, UV_RUN_NOWAIT);
}

/* Rotation inside one turn: the second redemption of the same refresh token sees the
 * first one's write and is reuse; revoking the family reaches the token issued by the
 * first redemption in the same transaction. */
static void test_reads_see_group_writes(void **state)
{
    struct fx *f = *state;
    struct waiter w[2];
    uint8_t rt1[32], rt2[32];
    struct oauth_token t;
    int64_t n = 0;

    memset(w, 0, sizeof(w));
    assert_int_equal(store_group_attach(f->st, &f->loop, NULL), TD_OK);
    hash_of(rt1, 1);
    hash_of(rt2, 2);
    assert_int_equal(put_token(f->st, 1, OAUTH_TOKEN_REFRESH, 42), TD_OK); /* ungrouped */
    /* First request: rotate rt1 into rt2. */
    w[0].f = f;
    memcpy(w[0].hash, rt2, 32);
    assert_int_equal(store_group_begin(f->st), TD_OK);
    assert_int_equal(store_oauth_token_mark_used(f->st, id_of(rt1), rt1), TD_OK);
    assert_int_equal(put_token(f->st, 2, OAUTH_TOKEN_REFRESH, 42), TD_OK);
    store_group_end(f->st, on_commit, &w[0]);
    /* Second request, same turn, same rt1: reuse, the family goes. */
    w[1].f = f;
    memcpy(w[1].hash, rt2, 32);
    assert_int_equal(store_group_begin(f->st), TD_OK);
    assert_int_equal(store_oauth_token_mark_used(f->st, id_of(rt1), rt1), TD_EEXIST);
    assert_int_equal(store_oauth_grant_revoke(f->st, 42, &n), TD_OK);
    assert_int_equal(n, 2); /* rt1 and rt2 */
    store_group_end(f->st, on_commit, &w[1]);
    uv_run(&f->loop, UV_RUN_NOWAIT);
    assert_int_equal(w[0].status, TD_OK);
    assert_int_equal(w[1].status, TD_OK);
    assert_int_equal(store_oauth_token_get(f->peek, id_of(rt2), rt2, &t), TD_OK);
    assert_true(t.revoked);
    store_oauth_token_clear(&t);
}

/* An ungrouped write while a group is open commits the group first (so it is never
 * rolled back with a group); the group's callback still runs only from the loop. */
static void test_ungrouped_write_commits_group(void **state)
{
    struct fx *f = *state;
    struct waiter w = {.f = f};
    uint8_t h[32];
    struct store_group_stats gs;

    assert_int_equal(store_group_attach(f->st, &f->loop, NULL), TD_OK);
    hash_of(w.hash, 10);
    hash_of(h, 11);
    assert_int_equal(store_group_begin(f->st), TD_OK);
    assert_int_equal(put_token(f->st, 10, OAUTH_TOKEN_ACCESS, 3), TD_OK);
    store_group_end(f->st, on_commit, &w);
    assert_false(has_token(f->peek, w.hash));
    assert_int_equal(put_token(f->st, 11, OAUTH_TOKEN_ACCESS, 4), TD_OK); /* ungrouped */
    assert_true(has_token(f->peek, w.hash));
    assert_true(has_token(f->peek, h));
    assert_int_equal(w.calls, 0);
    /* store_begin() also commits the group before its own transaction. */
    assert_int_equal(store_group_begin(f->st), TD_OK);
    assert_int_equal(put_token(f->st, 12, OAUTH_TOKEN_ACCESS, 5), TD_OK);
    store_group_end(f->st, NULL, NULL);
    assert_int_equal(store_begin(f->st), TD_OK);
    assert_int_equal(store_commit(f->st), TD_OK);
    hash_of(h, 12);
    assert_true(has_token(f->peek, h));
    uv_run(&f->loop, UV_RUN_NOWAIT);
    assert_int_equal(w.calls, 1);
    assert_int_equal(w.status, TD_OK);
    store_group_stats(f->st, &gs);
    assert_int_equal(gs.commits, 2);
}

/* A failing commit: every waiter of the group hears TD_EIO, none of the group's writes
 * is left, and the next group works. */
static void test_failed_commit_reported_to_all(void **state)
{
    struct fx *f = *state;
    struct waiter w[4];
    struct store_group_stats gs;

    memset(w, 0, sizeof(w));
    assert_int_equal(store_group_attach(f->st, &f->loop, NULL), TD_OK);
    for (int i = 0; i < 3; i++) {
        w[i].f = f;
        hash_of(w[i].hash, 200 + i);
        assert_int_equal(store_group_begin(f->st), TD_OK);
        assert_int_equal(put_token(f->st, 200 + i, OAUTH_TOKEN_ACCESS, 9), TD_OK);
        store_group_end(f->st, on_commit, &w[i]);
    }
    fail_wal_writes = 1;
    uv_run(&f->loop, UV_RUN_NOWAIT);
    fail_wal_writes = 0;
    for (int i = 0; i < 3; i++) {
        assert_int_equal(w[i].calls, 1);
        assert_int_equal(w[i].status, TD_EIO);
        assert_false(w[i].visible_in_peek);
        assert_false(has_token(f->st, w[i].hash)); /* rolled back, not just unseen */
    }
    store_group_stats(f->st, &gs);
    assert_int_equal(gs.failures, 1);
    assert_int_equal(gs.commits, 0);
    /* The store recovers. */
    w[3].f = f;
    hash_of(w[3].hash, 300);
    assert_int_equal(store_group_begin(f->st), TD_OK);
    assert_int_equal(put_token(f->st, 300, OAUTH_TOKEN_ACCESS, 9), TD_OK);
    store_group_end(f->st, on_commit, &w[3]);
    uv_run(&f->loop, UV_RUN_NOWAIT);
    assert_int_equal(w[3].status, TD_OK);
    assert_true(w[3].visible_in_peek);
}

/* With a tiny threshold, checkpoints run on the pool while groups keep committing; the
 * data is all there afterwards, and close folds the WAL back. */
static void test_background_checkpoints(void **state)
{
    struct fx *f = *state;
    struct store_group_opts o = {.ckpt_frames = 8};
    struct store_group_stats gs;
    struct waiter w = {.f = f};
    uint8_t h[32];

    assert_int_equal(store_group_attach(f->st, &f->loop, &o), TD_OK);
    for (int turn = 0; turn < 200; turn++) {
        for (int i = 0; i < 10; i++) {
            assert_int_equal(store_group_begin(f->st), TD_OK);
            assert_int_equal(put_token(f->st, 1000 + turn * 10 + i, OAUTH_TOKEN_ACCESS, turn),
                             TD_OK);
            store_group_end(f->st, on_commit, &w);
        }
        uv_run(&f->loop, UV_RUN_NOWAIT);
    }
    /* Let the last checkpoint finish. */
    for (int i = 0; i < 1000; i++) {
        store_group_stats(f->st, &gs);
        if (gs.checkpoints > 0)
            break;
        uv_run(&f->loop, UV_RUN_ONCE);
    }
    store_group_stats(f->st, &gs);
    assert_true(gs.checkpoints >= 1);
    assert_int_equal(gs.commits, 200);
    assert_int_equal(w.calls, 2000);
    assert_int_equal(w.status, TD_OK);
    for (int i = 0; i < 2000; i += 97) {
        hash_of(h, 1000 + i);
        assert_true(has_token(f->peek, h));
    }
}

/* Without a loop (the command line), a group is autocommit and the callback runs at
 * once. */
static void test_unattached_is_autocommit(void **state)
{
    struct fx *f = *state;
    struct waiter w = {.f = f};

    hash_of(w.hash, 77);
    assert_int_equal(store_group_begin(f->st), TD_OK);
    assert_int_equal(put_token(f->st, 77, OAUTH_TOKEN_ACCESS, 1), TD_OK);
    store_group_end(f->st, on_commit, &w);
    assert_int_equal(w.calls, 1);
    assert_int_equal(w.status, TD_OK);
    assert_true(w.visible_in_peek);
}

/* Detaching commits what is open and delivers it. */
static void test_detach_flushes(void **state)
{
    struct fx *f = *state;
    struct waiter w = {.f = f};

    assert_int_equal(store_group_attach(f->st, &f->loop, NULL), TD_OK);
    hash_of(w.hash, 88);
    assert_int_equal(store_group_begin(f->st), TD_OK);
    assert_int_equal(put_token(f->st, 88, OAUTH_TOKEN_ACCESS, 1), TD_OK);
    store_group_end(f->st, on_commit, &w);
    store_group_detach(f->st);
    assert_int_equal(w.calls, 1);
    assert_int_equal(w.status, TD_OK);
    assert_true(w.visible_in_peek);
}

/* Reads of a turn share one read snapshot, which the turn's check ends; a
 * write or a group in the same turn ends it first and is not held back, and
 * another connection's commit shows from the next turn. */
static void test_read_snapshot_per_turn(void **state)
{
    struct fx *f = *state;
    struct store_group_stats gs;
    uint8_t h[32];

    assert_int_equal(store_group_attach(f->st, &f->loop, NULL), TD_OK);
    hash_of(h, 20);
    assert_false(has_token(f->st, h)); /* a read: opens the snapshot */
    assert_int_equal(put_token(f->peek, 20, OAUTH_TOKEN_ACCESS, 6), TD_OK);
    assert_false(has_token(f->st, h)); /* same turn, same snapshot */
    uv_run(&f->loop, UV_RUN_NOWAIT);
    store_group_stats(f->st, &gs);
    assert_int_equal(gs.read_snapshots, 1);
    assert_true(has_token(f->st, h)); /* next turn: a new snapshot sees it */
    /* An ungrouped write in a turn with a snapshot ends it and commits at once. */
    hash_of(h, 21);
    assert_int_equal(put_token(f->st, 21, OAUTH_TOKEN_ACCESS, 7), TD_OK);
    assert_true(has_token(f->peek, h));
    /* A group too: its BEGIN IMMEDIATE follows the snapshot's end. */
    assert_true(has_token(f->st, h));
    assert_int_equal(store_group_begin(f->st), TD_OK);
    assert_int_equal(put_token(f->st, 22, OAUTH_TOKEN_ACCESS, 8), TD_OK);
    store_group_end(f->st, NULL, NULL);
    uv_run(&f->loop, UV_RUN_NOWAIT);
    hash_of(h, 22);
    assert_true(has_token(f->peek, h));
    store_group_stats(f->st, &gs);
    assert_int_equal(gs.read_snapshots, 3);
    assert_int_equal(gs.commits, 1);
}

#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)

int main(void)
{
    const struct CMUnitTest tests[] = {
        T(test_one_commit_per_turn),
        T(test_group_does_not_stall_loop),
        T(test_reads_see_group_writes),
        T(test_ungrouped_write_commits_group),
        T(test_failed_commit_reported_to_all),
        T(test_background_checkpoints),
        T(test_unattached_is_autocommit),
        T(test_detach_flushes),
        T(test_read_snapshot_per_turn),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
