/* SPDX-License-Identifier: MIT */
/* Group commit and background checkpoints for the SQLite backend (store.h,
 * "group commit and checkpoints").
 *
 * Group commit: one durable transaction per request costs a dozen write and
 * lock system calls; callers that can wait a moment for their answer enter a
 * group (store_group_begin/end), their writes share the transaction of the
 * current loop turn, and a uv_check handle, which libuv runs right after the
 * turn's I/O callbacks, commits it once and then runs every caller's
 * callback with the outcome. A uv_idle handle is active while anything is
 * pending so that the loop does not block in poll with an open transaction
 * (a group entered from a timer callback, or from inside another commit's
 * callback, is committed on the next turn). Everything runs on the loop
 * thread, on the store's one connection, so reads inside a group see the
 * group's earlier writes in order. A write outside any group while a group
 * transaction is open commits the group first (store__group_guard), so an
 * ungrouped write is never held back or rolled back with a group; the
 * group's callbacks then run on the next check.
 *
 * Checkpoints: SQLite's automatic checkpoint runs inside a commit, on the
 * committing thread, and fsyncs twice. Here automatic checkpoints are off on
 * the loop's connection; a WAL hook sees the WAL size after each commit and,
 * past ckpt_frames pages, queues a PASSIVE checkpoint on libuv's thread pool
 * on a second connection (never two at once). A PASSIVE checkpoint never
 * takes the write lock, so the loop keeps committing meanwhile. Because the
 * loop keeps appending while it runs, a checkpoint may never catch up under
 * sustained writes, and SQLite restarts the WAL only when it has; past
 * CKPT_HARD_FACTOR times the threshold the loop therefore checkpoints once
 * itself, between its own commits, which always catches up. */
#include "store/store.h"
#include "store/store_sqlite_int.h"

#include "core/err.h"
#include "core/log.h"

#include <sqlite3.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <uv.h>

#define CKPT_DEFAULT_FRAMES 1000 /* SQLite's own default for wal_autocheckpoint */
#define CKPT_HARD_FACTOR 16      /* WAL pages, in thresholds, before the loop steps in */

struct waiter {
    store_group_cb *cb;
    void *ud;
    int status; /* set when the transaction ends */
};

struct waiters {
    struct waiter *v;
    size_t n, cap;
};

struct store_group {
    struct store *st;
    sqlite3 *db;                 /* the store's connection */
    uv_loop_t *loop;
    uv_check_t check;
    uv_idle_t idle;
    sqlite3_stmt *begin_stmt;    /* BEGIN IMMEDIATE */
    sqlite3_stmt *commit_stmt;
    bool open;                   /* a group transaction is open */
    bool reading;                /* the turn's read snapshot is open (BEGIN DEFERRED) */
    sqlite3_stmt *read_stmt;     /* BEGIN */
    bool idle_on;
    bool detached;               /* handles closed; no new background checkpoints */
    int depth;                   /* callers between begin and end */
    struct waiters pending;      /* in the open transaction */
    struct waiters ready;        /* transaction ended; callbacks not yet run */
    struct store_group_stats stats;
    /* background checkpoint */
    unsigned ckpt_frames;
    char *path;                  /* database file */
    sqlite3 *ckpt_db;            /* used only by the worker running the checkpoint */
    uv_work_t work;
    bool ckpt_running;
    int ckpt_rc;                 /* worker's result: SQLite code */
    int ckpt_log, ckpt_done;     /* WAL pages, pages checkpointed */
    bool ckpt_on_loop;           /* the loop is checkpointing itself (inside the WAL hook) */
};

static void push(struct waiters *w, store_group_cb *cb, void *ud)
{
    if (w->n == w->cap) {
        size_t cap = w->cap ? w->cap * 2 : 64;
        struct waiter *v = td_calloc(cap, sizeof(*v));
        if (w->n)
            memcpy(v, w->v, w->n * sizeof(*v));
        free(w->v);
        w->v = v;
        w->cap = cap;
    }
    w->v[w->n].cb = cb;
    w->v[w->n].ud = ud;
    w->v[w->n].status = TD_OK;
    w->n++;
}

/* Keep the loop from sleeping in poll while something waits for a check. */
static void idle_cb(uv_idle_t *h)
{
    (void)h;
}

static void update_idle(struct store_group *g)
{
    bool want = !g->detached && (g->open || g->reading || g->ready.n > 0);

    if (want == g->idle_on)
        return;
    if (want)
        uv_idle_start(&g->idle, idle_cb);
    else
        uv_idle_stop(&g->idle);
    g->idle_on = want;
}

static int step_once(struct store_group *g, sqlite3_stmt *s)
{
    int src = sqlite3_step(s);

    sqlite3_reset(s);
    return src == SQLITE_DONE || src == SQLITE_ROW ? SQLITE_OK : sqlite3_extended_errcode(g->db);
}

/* End the open group transaction: COMMIT, or ROLLBACK when that fails, and move
 * its waiters to the ready list with the outcome. Runs no callbacks. */
static void commit(struct store_group *g)
{
    int src;
    int status = TD_OK;

    if (!g->open)
        return;
    g->open = false;
    /* A statement that failed with an I/O error may have rolled the transaction
     * back already: then what the waiters wrote is gone (or was autocommitted
     * after it, which the error below errs on the safe side about). */
    if (sqlite3_get_autocommit(g->db)) {
        log_err("store.group_commit_failed", "code=0 msg=%s", log_q("transaction was rolled back"));
        status = TD_EIO;
    } else {
        src = step_once(g, g->commit_stmt);
        if (src != SQLITE_OK) {
            log_err("store.group_commit_failed", "code=%d msg=%s waiters=%zu", src,
                    log_q(sqlite3_errmsg(g->db)), g->pending.n);
            if (!sqlite3_get_autocommit(g->db))
                sqlite3_exec(g->db, "ROLLBACK", NULL, NULL, NULL);
            status = TD_EIO;
        }
    }
    if (status == TD_OK)
        g->stats.commits++;
    else
        g->stats.failures++;
    for (size_t i = 0; i < g->pending.n; i++) {
        g->pending.v[i].status = status;
        push(&g->ready, g->pending.v[i].cb, g->pending.v[i].ud);
        g->ready.v[g->ready.n - 1].status = status;
    }
    g->pending.n = 0;
}

/* End the turn's read snapshot. A read transaction has nothing to lose: if
 * COMMIT fails, ROLLBACK. */
static void end_read(struct store_group *g)
{
    if (!g->reading)
        return;
    g->reading = false;
    if (step_once(g, g->commit_stmt) != SQLITE_OK && !sqlite3_get_autocommit(g->db))
        sqlite3_exec(g->db, "ROLLBACK", NULL, NULL, NULL);
    g->stats.read_snapshots++;
}

/* Run the ready callbacks. They may enter new groups (an answered request lets the
 * next pipelined one in); those land in fresh lists. */
static void deliver(struct store_group *g)
{
    struct waiters batch = g->ready;

    if (batch.n == 0)
        return;
    memset(&g->ready, 0, sizeof(g->ready));
    g->stats.waiters += batch.n;
    for (size_t i = 0; i < batch.n; i++)
        batch.v[i].cb(batch.v[i].ud, batch.v[i].status);
    if (g->ready.v == NULL) { /* reuse the array */
        batch.n = 0;
        g->ready = batch;
    } else {
        free(batch.v);
    }
}

static void check_cb(uv_check_t *h)
{
    struct store_group *g = h->data;

    end_read(g);
    if (g->depth == 0)
        commit(g);
    deliver(g);
    update_idle(g);
}

/* ---- background checkpoints ---- */

static void ckpt_work(uv_work_t *w)
{
    struct store_group *g = w->data;
    int src = SQLITE_OK;

    g->ckpt_log = g->ckpt_done = -1;
    if (g->ckpt_db == NULL) {
        src = sqlite3_open_v2(g->path, &g->ckpt_db, SQLITE_OPEN_READWRITE, NULL);
        if (src == SQLITE_OK)
            src = sqlite3_exec(g->ckpt_db, "PRAGMA synchronous = NORMAL", NULL, NULL, NULL);
        if (src != SQLITE_OK) {
            sqlite3_close_v2(g->ckpt_db);
            g->ckpt_db = NULL;
        }
    }
    if (src == SQLITE_OK)
        src = sqlite3_wal_checkpoint_v2(g->ckpt_db, "main", SQLITE_CHECKPOINT_PASSIVE,
                                        &g->ckpt_log, &g->ckpt_done);
    g->ckpt_rc = src;
}

static void ckpt_after(uv_work_t *w, int status)
{
    struct store_group *g = w->data;

    g->ckpt_running = false;
    if (status == 0 && g->ckpt_rc == SQLITE_OK) {
        g->stats.checkpoints++;
        log_debug("store.checkpoint", "wal_pages=%d done=%d", g->ckpt_log, g->ckpt_done);
    } else if (status == 0 && g->ckpt_rc == SQLITE_BUSY) {
        /* Another checkpoint (the loop's, or another process's) was running. */
        log_debug("store.checkpoint_busy", "code=%d", g->ckpt_rc);
    } else if (status == 0) {
        log_warn("store.checkpoint_failed", "code=%d msg=%s", g->ckpt_rc,
                 log_q(sqlite3_errstr(g->ckpt_rc)));
    }
    if (g->detached && g->st == NULL) { /* the store closed while we ran */
        sqlite3_close_v2(g->ckpt_db);
        free(g);
    }
}

/* SQLite calls this after every commit on the loop's connection with the WAL size. */
static int wal_hook(void *ud, sqlite3 *db, const char *name, int pages)
{
    struct store_group *g = ud;

    (void)name;
    if (g->ckpt_on_loop || (unsigned)pages < g->ckpt_frames)
        return SQLITE_OK;
    if ((unsigned)pages >= g->ckpt_frames * CKPT_HARD_FACTOR) {
        /* The background checkpoints are not catching up: fold the WAL back here, where
         * no commit can slip in between, once the running one (which holds the
         * checkpoint lock) is done; meanwhile start no new one. */
        int log_pages = 0, done = 0, src;
        if (g->ckpt_running)
            return SQLITE_OK;
        g->ckpt_on_loop = true;
        src = sqlite3_wal_checkpoint_v2(db, "main", SQLITE_CHECKPOINT_PASSIVE, &log_pages, &done);
        g->ckpt_on_loop = false;
        g->stats.loop_checkpoints++;
        log_info("store.checkpoint_on_loop", "wal_pages=%d done=%d code=%d", log_pages, done, src);
        return SQLITE_OK;
    }
    if (!g->ckpt_running && !g->detached) {
        g->work.data = g;
        if (uv_queue_work(g->loop, &g->work, ckpt_work, ckpt_after) == 0)
            g->ckpt_running = true;
    }
    return SQLITE_OK;
}

/* ---- the interface ---- */

int store_group_attach(struct store *st, struct uv_loop_s *loop, const struct store_group_opts *o)
{
    struct store_group **slot;
    struct store_group *g;
    const char *path;
    int src;

    if (st == NULL || loop == NULL)
        return TD_EINVAL;
    slot = store__group_slot(st);
    if (*slot != NULL)
        return TD_EINVAL;
    g = td_calloc(1, sizeof(*g));
    g->st = st;
    g->db = store__db(st);
    g->loop = loop;
    g->ckpt_frames = o && o->ckpt_frames ? o->ckpt_frames : CKPT_DEFAULT_FRAMES;
    path = sqlite3_db_filename(g->db, "main");
    g->path = td_strdup(path ? path : "");
    src = sqlite3_prepare_v3(g->db, "BEGIN IMMEDIATE", -1, SQLITE_PREPARE_PERSISTENT,
                             &g->begin_stmt, NULL);
    if (src == SQLITE_OK)
        src = sqlite3_prepare_v3(g->db, "COMMIT", -1, SQLITE_PREPARE_PERSISTENT, &g->commit_stmt,
                                 NULL);
    if (src == SQLITE_OK)
        src = sqlite3_prepare_v3(g->db, "BEGIN", -1, SQLITE_PREPARE_PERSISTENT, &g->read_stmt,
                                 NULL);
    if (src != SQLITE_OK) {
        log_err("store.error", "op=group_attach code=%d msg=%s", src, log_q(sqlite3_errmsg(g->db)));
        sqlite3_finalize(g->begin_stmt);
        sqlite3_finalize(g->commit_stmt);
        sqlite3_finalize(g->read_stmt);
        free(g->path);
        free(g);
        return TD_EIO;
    }
    /* An in-memory or temporary database has no file for a second connection. */
    if (g->path[0] != '\0') {
        sqlite3_wal_autocheckpoint(g->db, 0);
        sqlite3_wal_hook(g->db, wal_hook, g);
    }
    uv_check_init(loop, &g->check);
    uv_idle_init(loop, &g->idle);
    g->check.data = g->idle.data = g;
    uv_check_start(&g->check, check_cb);
    /* The check handle alone does not keep the loop alive; the idle handle, active only
     * while something is pending, does: a pending commit is work to be done. */
    uv_unref((uv_handle_t *)&g->check);
    *slot = g;
    return TD_OK;
}

static struct store_group *group_of(struct store *st)
{
    return st ? *store__group_slot(st) : NULL;
}

int store_group_begin(struct store *st)
{
    struct store_group *g = group_of(st);
    int src;

    if (st == NULL)
        return TD_EINVAL;
    if (g == NULL || g->detached)
        return TD_OK; /* autocommit */
    end_read(g);
    if (!g->open) {
        src = step_once(g, g->begin_stmt);
        if (src != SQLITE_OK) {
            log_err("store.error", "op=group_begin code=%d msg=%s", src,
                    log_q(sqlite3_errmsg(g->db)));
            return TD_EIO;
        }
        g->open = true;
        update_idle(g);
    }
    g->depth++;
    return TD_OK;
}

void store_group_end(struct store *st, store_group_cb *cb, void *ud)
{
    struct store_group *g = group_of(st);

    if (g == NULL || g->detached) {
        if (cb)
            cb(ud, TD_OK);
        return;
    }
    TD_ASSERT(g->depth > 0);
    g->depth--;
    if (cb == NULL)
        return;
    if (g->open)
        push(&g->pending, cb, ud);
    else
        push(&g->ready, cb, ud); /* cannot happen while depth > 0; kept safe */
    update_idle(g);
}

/* BEGIN, COMMIT, SAVEPOINT...: "read-only" to sqlite3_stmt_readonly(), but
 * they must not run inside the read snapshot. */
static bool is_txn_control(sqlite3_stmt *s)
{
    const char *sql = sqlite3_sql(s);
    static const char *const kw[] = {"BEGIN", "COMMIT", "END", "ROLLBACK", "SAVEPOINT",
                                     "RELEASE"};

    /* Most statements are SELECTs: decide those on two letters. */
    if (sql == NULL || ((sql[0] | 0x20) == 's' && (sql[1] | 0x20) == 'e'))
        return false;
    for (size_t i = 0; sql && i < TD_ARRAY_LEN(kw); i++)
        if (strncasecmp(sql, kw[i], strlen(kw[i])) == 0)
            return true;
    return false;
}

/* Read snapshot: every read statement outside a transaction would take and
 * drop SQLite's file locks (fcntl system calls) on its own; the first one of
 * a loop turn opens a deferred transaction instead, which the turn's check
 * ends, so that a turn's reads share one snapshot and one set of locks. Other
 * processes' writes show from the next turn. Anything that writes or opens a
 * transaction ends the snapshot first. */
void store__group_guard(struct store_group *g, sqlite3_stmt *s)
{
    bool ro = s != NULL && sqlite3_stmt_readonly(s) && !is_txn_control(s);

    if (ro) {
        if (!g->open && !g->reading && !g->detached && sqlite3_get_autocommit(g->db) &&
            step_once(g, g->read_stmt) == SQLITE_OK) {
            g->reading = true;
            update_idle(g);
        }
        return;
    }
    end_read(g);
    if (!g->open || g->depth > 0)
        return;
    commit(g); /* the callbacks run at the next check */
    update_idle(g);
}

void store__read_end(struct store *st)
{
    struct store_group *g = group_of(st);

    if (g)
        end_read(g);
}

void store_group_flush(struct store *st)
{
    struct store_group *g = group_of(st);

    if (g == NULL)
        return;
    TD_ASSERT(g->depth == 0);
    end_read(g);
    commit(g);
    deliver(g);
    update_idle(g);
}

void store_group_stats(struct store *st, struct store_group_stats *out)
{
    struct store_group *g = group_of(st);

    memset(out, 0, sizeof(*out));
    if (g)
        *out = g->stats;
}

void store_group_detach(struct store *st)
{
    struct store_group *g = group_of(st);

    if (g == NULL || g->detached)
        return;
    store_group_flush(st);
    g->detached = true;
    update_idle(g);
    uv_close((uv_handle_t *)&g->check, NULL);
    uv_close((uv_handle_t *)&g->idle, NULL);
}

void store__group_free(struct store_group *g)
{
    if (g == NULL)
        return;
    /* The handles live in g: they must have been closed (and the loop run) first. */
    TD_ASSERT(g->detached);
    end_read(g);
    commit(g);
    if (g->ready.n)
        log_warn("store.group_unanswered", "waiters=%zu", g->ready.n);
    sqlite3_wal_hook(g->db, NULL, NULL);
    sqlite3_finalize(g->begin_stmt);
    sqlite3_finalize(g->commit_stmt);
    sqlite3_finalize(g->read_stmt);
    free(g->pending.v);
    free(g->ready.v);
    free(g->path);
    g->pending.v = g->ready.v = NULL;
    g->path = NULL;
    if (g->ckpt_running) {
        /* The worker still uses ckpt_db and g: its completion frees g. Only reached
         * when the loop was not run after store_group_detach(). */
        log_warn("store.checkpoint_running_at_close", "pid=0");
        g->detached = true;
        g->st = NULL;
        return;
    }
    if (g->ckpt_db)
        sqlite3_close_v2(g->ckpt_db);
    free(g);
}
