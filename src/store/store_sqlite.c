/* SPDX-License-Identifier: MIT */
/* The SQLite backend of store.h. One connection per struct store, opened in
 * WAL mode with synchronous=NORMAL (a committed transaction survives a crash
 * of the process; only a power loss may drop the last commits),
 * foreign_keys=ON and busy_timeout=5000. Every query is a fixed SQL text in
 * the table below, prepared once on first use, cached in the store and run
 * with bound values; no SQL is ever built from data. At open the schema is
 * brought to STORE_SCHEMA_VERSION by the numbered migrations of
 * store_migrations.c, each in its own IMMEDIATE transaction with the
 * user_version bump, so a crash mid-upgrade leaves a consistent version.
 * Usernames fold to ASCII lowercase for uniqueness, which is what the
 * username policy (auth_username.h) permits. */
#include "store/store.h"
#include "store/store_sqlite_int.h"

#include "core/err.h"
#include "core/ids.h"
#include "core/log.h"

#include <openssl/crypto.h>
#include <openssl/rand.h>
#include <sqlite3.h>

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

struct store_migration {
    const char *name;
    const char *sql;
};
extern const struct store_migration store__migrations[];
extern const size_t store__migrations_count;

/* Longest string or blob SQLite will accept on this connection: a cap on what
 * any caller can make it store or hand back (avatars are the largest). */
#define STORE_MAX_VALUE (8 * 1024 * 1024)
/* last_seen_at is refreshed at most this often, to keep lookups mostly read-only. */
#define SESSION_TOUCH_MS 60000
#define ACCOUNT_COLS                                                                      \
    "id, username, display_name, bio, email, password_hash, is_admin, disabled, "         \
    "EXISTS(SELECT 1 FROM avatars v WHERE v.account_id = accounts.id), created_at, "       \
    "updated_at"

enum q {
    Q_BEGIN,
    Q_COMMIT,
    Q_ROLLBACK,
    Q_ACCOUNT_INSERT,
    Q_ACCOUNT_BY_NAME,
    Q_ACCOUNT_BY_ID,
    Q_ACCOUNT_LIST,
    Q_ACCOUNT_LIST_DISABLED,
    Q_ACCOUNT_COUNT,
    Q_ACCOUNT_SET_PASSWORD,
    Q_ACCOUNT_SET_DISABLED,
    Q_ACCOUNT_SET_ADMIN,
    Q_ACCOUNT_SET_PROFILE,
    Q_AVATAR_SET,
    Q_AVATAR_GET,
    Q_SESSION_INSERT,
    Q_SESSION_LOOKUP,
    Q_SESSION_TOUCH,
    Q_SESSION_DELETE,
    Q_SESSION_DELETE_ACCOUNT,
    Q_SESSION_DELETE_ACCOUNT_KEEP,
    Q_SESSION_PURGE,
    Q_INVITE_INSERT,
    Q_INVITE_USE,
    Q_SECRET_GET,
    Q_SECRET_INSERT,
    Q_COUNT
};

static const char *const sql_text[Q_COUNT] = {
    [Q_BEGIN] = "BEGIN IMMEDIATE",
    [Q_COMMIT] = "COMMIT",
    [Q_ROLLBACK] = "ROLLBACK",
    [Q_ACCOUNT_INSERT] =
        "INSERT INTO accounts (id, username, username_lc, display_name, bio, email, "
        "password_hash, is_admin, disabled, created_at, updated_at) "
        "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?10)",
    [Q_ACCOUNT_BY_NAME] = "SELECT " ACCOUNT_COLS " FROM accounts WHERE username_lc = ?1",
    [Q_ACCOUNT_BY_ID] = "SELECT " ACCOUNT_COLS " FROM accounts WHERE id = ?1",
    [Q_ACCOUNT_LIST] = "SELECT " ACCOUNT_COLS " FROM accounts ORDER BY username_lc",
    [Q_ACCOUNT_LIST_DISABLED] = "SELECT " ACCOUNT_COLS " FROM accounts WHERE disabled = 1 AND "
                                "updated_at >= ?1 ORDER BY updated_at",
    [Q_ACCOUNT_COUNT] = "SELECT count(*) FROM accounts",
    [Q_ACCOUNT_SET_PASSWORD] =
        "UPDATE accounts SET password_hash = ?2, updated_at = ?3 WHERE id = ?1",
    [Q_ACCOUNT_SET_DISABLED] = "UPDATE accounts SET disabled = ?2, updated_at = ?3 WHERE id = ?1",
    [Q_ACCOUNT_SET_ADMIN] = "UPDATE accounts SET is_admin = ?2, updated_at = ?3 WHERE id = ?1",
    [Q_ACCOUNT_SET_PROFILE] =
        "UPDATE accounts SET display_name = ?2, bio = ?3, updated_at = ?4 WHERE id = ?1",
    [Q_AVATAR_SET] = "INSERT INTO avatars (account_id, content_type, data, updated_at) "
                     "VALUES (?1, ?2, ?3, ?4) ON CONFLICT (account_id) DO UPDATE SET "
                     "content_type = excluded.content_type, data = excluded.data, "
                     "updated_at = excluded.updated_at",
    [Q_AVATAR_GET] = "SELECT content_type, data, updated_at FROM avatars WHERE account_id = ?1",
    [Q_SESSION_INSERT] =
        "INSERT INTO sessions (token_hash, account_id, created_at, expires_at, last_seen_at, "
        "user_agent, address) VALUES (?1, ?2, ?3, ?4, ?3, ?5, ?6)",
    [Q_SESSION_LOOKUP] = "SELECT account_id, last_seen_at FROM sessions "
                         "WHERE token_hash = ?1 AND expires_at > ?2",
    [Q_SESSION_TOUCH] = "UPDATE sessions SET last_seen_at = ?2 WHERE token_hash = ?1",
    [Q_SESSION_DELETE] = "DELETE FROM sessions WHERE token_hash = ?1",
    [Q_SESSION_DELETE_ACCOUNT] = "DELETE FROM sessions WHERE account_id = ?1",
    [Q_SESSION_DELETE_ACCOUNT_KEEP] =
        "DELETE FROM sessions WHERE account_id = ?1 AND token_hash <> ?2",
    [Q_SESSION_PURGE] = "DELETE FROM sessions WHERE expires_at <= ?1",
    [Q_INVITE_INSERT] = "INSERT INTO invites (code_hash, created_at, expires_at, uses_left) "
                        "VALUES (?1, ?2, ?3, ?4)",
    [Q_INVITE_USE] = "UPDATE invites SET uses_left = uses_left - 1 "
                     "WHERE code_hash = ?1 AND expires_at > ?2 AND uses_left > 0",
    [Q_SECRET_GET] = "SELECT value FROM secrets WHERE name = ?1",
    [Q_SECRET_INSERT] = "INSERT OR IGNORE INTO secrets (name, value, created_at) "
                        "VALUES (?1, ?2, ?3)",
};

#define EXTRA_STMTS 256

struct store {
    sqlite3 *db;                   /* owned; closed by store_close() */
    sqlite3_stmt *stmts[Q_COUNT];  /* prepared on first use, finalized at close */
    /* Statements of the other store_sqlite_*.c files, keyed by the address
     * of their static SQL text (see store_sqlite_int.h). */
    struct {
        const char *sql;
        sqlite3_stmt *stmt;
    } extra[EXTRA_STMTS];
    size_t nextra;
    struct store_group *group;     /* store_sqlite_group.c; NULL until attached */
};

int64_t store_now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* *errmsg = a malloc'd printf result, if errmsg is not NULL. */
static void set_errmsg(char **errmsg, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void set_errmsg(char **errmsg, const char *fmt, ...)
{
    char tmp[512];
    va_list ap;

    if (errmsg == NULL)
        return;
    va_start(ap, fmt);
    vsnprintf(tmp, sizeof(tmp), fmt, ap);
    va_end(ap);
    free(*errmsg);
    *errmsg = td_strdup(tmp);
}

/* Map an SQLite result code to TD_*, logging unexpected failures. */
static int map_err(struct store *st, int src, const char *what)
{
    switch (src) {
    case SQLITE_OK:
    case SQLITE_DONE:
    case SQLITE_ROW:
        return TD_OK;
    case SQLITE_CONSTRAINT_UNIQUE:
    case SQLITE_CONSTRAINT_PRIMARYKEY:
        return TD_EEXIST;
    case SQLITE_CONSTRAINT_FOREIGNKEY:
        return TD_ENOTFOUND;
    case SQLITE_TOOBIG:
        return TD_ETOOBIG;
    case SQLITE_NOMEM:
        return TD_ENOMEM;
    default:
        log_err("store.error", "op=%s code=%d msg=%s", what, src,
                log_q(st ? sqlite3_errmsg(st->db) : sqlite3_errstr(src)));
        return TD_EIO;
    }
}

/* The cached statement for q, reset and unbound, in *out. */
static int get_stmt(struct store *st, enum q q, sqlite3_stmt **out)
{
    int src;

    *out = NULL;
    if (st->stmts[q] == NULL) {
        src = sqlite3_prepare_v3(st->db, sql_text[q], -1, SQLITE_PREPARE_PERSISTENT,
                                 &st->stmts[q], NULL);
        if (src != SQLITE_OK)
            return map_err(st, src, "prepare");
    }
    *out = st->stmts[q];
    return TD_OK;
}

/* Return s to its idle state so it holds no locks or bound data. NULL-safe. */
static void put_stmt(sqlite3_stmt *s)
{
    if (s == NULL)
        return;
    sqlite3_reset(s);
    sqlite3_clear_bindings(s);
}

/* Bind helpers: TD_OK or the mapped error. NULL text binds SQL NULL. */
static int bind_text(struct store *st, sqlite3_stmt *s, int i, const char *v)
{
    int src = v ? sqlite3_bind_text(s, i, v, -1, SQLITE_STATIC) : sqlite3_bind_null(s, i);
    return map_err(st, src, "bind");
}

static int bind_blob(struct store *st, sqlite3_stmt *s, int i, const void *v, size_t len)
{
    return map_err(st, sqlite3_bind_blob64(s, i, v, len, SQLITE_STATIC), "bind");
}

static int bind_i64(struct store *st, sqlite3_stmt *s, int i, int64_t v)
{
    return map_err(st, sqlite3_bind_int64(s, i, v), "bind");
}

/* Step a statement that returns no rows; *changes (may be NULL) gets the row count. */
static int step_done(struct store *st, sqlite3_stmt *s, int64_t *changes)
{
    int src;

    if (st->group)
        store__group_guard(st->group, s);
    src = sqlite3_step(s);

    if (src == SQLITE_ROW)
        src = SQLITE_DONE;
    if (src != SQLITE_DONE)
        return map_err(st, sqlite3_extended_errcode(st->db), "step");
    if (changes)
        *changes = sqlite3_changes64(st->db);
    return TD_OK;
}

/* Step once: TD_OK with a row, TD_ENOTFOUND without, else the mapped error. */
static int step_row(struct store *st, sqlite3_stmt *s)
{
    int src;

    if (st->group)
        store__group_guard(st->group, s);
    src = sqlite3_step(s);

    if (src == SQLITE_ROW)
        return TD_OK;
    if (src == SQLITE_DONE)
        return TD_ENOTFOUND;
    return map_err(st, sqlite3_extended_errcode(st->db), "step");
}

static char *col_strdup(sqlite3_stmt *s, int i)
{
    const unsigned char *t = sqlite3_column_text(s, i);
    return t ? td_strdup((const char *)t) : NULL;
}

/* One-shot SQL without data (pragmas, migrations). */
static int exec(struct store *st, const char *sql, const char *what)
{
    char *msg = NULL;
    int src = sqlite3_exec(st->db, sql, NULL, NULL, &msg);

    if (src != SQLITE_OK) {
        log_err("store.error", "op=%s code=%d msg=%s", what, src, log_q(msg ? msg : "?"));
        sqlite3_free(msg);
        return src == SQLITE_NOMEM ? TD_ENOMEM : TD_EIO;
    }
    return TD_OK;
}

/* Run a pragma that returns one row and copy its first column as an integer or text. */
static int pragma_row(struct store *st, const char *sql, int64_t *ival, char *tval, size_t tcap)
{
    sqlite3_stmt *s = NULL;
    int src = sqlite3_prepare_v2(st->db, sql, -1, &s, NULL);
    int rc;

    if (src != SQLITE_OK) {
        rc = map_err(st, src, "pragma");
        goto out;
    }
    rc = step_row(st, s);
    if (rc != TD_OK)
        goto out;
    if (ival)
        *ival = sqlite3_column_int64(s, 0);
    if (tval) {
        const unsigned char *t = sqlite3_column_text(s, 0);
        snprintf(tval, tcap, "%s", t ? (const char *)t : "");
    }
out:
    sqlite3_finalize(s);
    return rc;
}

static int read_version(struct store *st, int *version)
{
    int64_t v = 0;
    int rc = pragma_row(st, "PRAGMA user_version", &v, NULL, 0);

    *version = (int)v;
    return rc;
}

/* Apply migration number n (1-based) with its user_version bump in one
 * transaction, unless another process did it first. */
static int apply_migration(struct store *st, int n)
{
    char sql[64];
    int version;
    int rc;

    rc = exec(st, "BEGIN IMMEDIATE", "migrate.begin");
    if (rc != TD_OK)
        return rc;
    /* Re-read under the write lock: a concurrent opener may have migrated. */
    rc = read_version(st, &version);
    if (rc != TD_OK || version >= n)
        goto out;
    rc = exec(st, store__migrations[n - 1].sql, store__migrations[n - 1].name);
    if (rc != TD_OK)
        goto out;
    /* PRAGMA takes no bound parameters; n is our own integer, not data. */
    snprintf(sql, sizeof(sql), "PRAGMA user_version = %d", n);
    rc = exec(st, sql, "migrate.version");
    if (rc != TD_OK)
        goto out;
    rc = exec(st, "COMMIT", "migrate.commit");
    if (rc == TD_OK)
        log_info("store.migrated", "migration=%s version=%d", store__migrations[n - 1].name, n);
out:
    if (rc != TD_OK || version >= n) {
        sqlite3_exec(st->db, "ROLLBACK", NULL, NULL, NULL);
    }
    return rc;
}

/* store_open() with the version found before migrating reported in *from. */
static int open_store(const struct store_opts *o, struct store **out, char **errmsg, int *from)
{
    struct store *st = NULL;
    char mode[16];
    int version = 0;
    int src;
    int rc;

    TD_ASSERT(store__migrations_count == STORE_SCHEMA_VERSION);
    *out = NULL;
    if (errmsg)
        *errmsg = NULL;
    if (o == NULL || o->path == NULL || o->path[0] == '\0') {
        set_errmsg(errmsg, "no database path given");
        return TD_EINVAL;
    }
    st = td_calloc(1, sizeof(*st));
    /* NOMUTEX: a store is used by one thread (the loop's; background
     * checkpoints open a connection of their own), so SQLite's per-call
     * connection mutex is pure cost on every statement. */
    src = sqlite3_open_v2(o->path, &st->db,
                          SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, NULL);
    if (src != SQLITE_OK) {
        set_errmsg(errmsg, "cannot open database %s: %s", o->path,
                   st->db ? sqlite3_errmsg(st->db) : sqlite3_errstr(src));
        rc = src == SQLITE_NOMEM ? TD_ENOMEM : TD_EIO;
        goto out;
    }
    sqlite3_extended_result_codes(st->db, 1);
    sqlite3_limit(st->db, SQLITE_LIMIT_LENGTH, STORE_MAX_VALUE);
    sqlite3_busy_timeout(st->db, 5000);
    /* Check the version before changing anything in a file we may refuse. */
    rc = read_version(st, &version);
    if (rc != TD_OK) {
        set_errmsg(errmsg, "cannot read database %s: %s", o->path, sqlite3_errmsg(st->db));
        goto out;
    }
    if (from)
        *from = version;
    if (version > STORE_SCHEMA_VERSION) {
        set_errmsg(errmsg, "database schema version %d is newer than this tandem (%d); "
                   "upgrade tandem", version, STORE_SCHEMA_VERSION);
        rc = TD_EVERSION;
        goto out;
    }
    if (version < STORE_SCHEMA_VERSION && !o->apply_migrations) {
        set_errmsg(errmsg, "database needs migration (%d < %d); run tandem migrate", version,
                   STORE_SCHEMA_VERSION);
        rc = TD_EVERSION;
        goto out;
    }
    rc = pragma_row(st, "PRAGMA journal_mode = WAL", NULL, mode, sizeof(mode));
    if (rc == TD_OK && strcmp(mode, "wal") != 0 && strcmp(o->path, ":memory:") != 0)
        rc = TD_EIO;
    if (rc == TD_OK)
        /* A 32 MiB page cache (SQLite's default is 2 MiB): a batch that
         * touches many index pages (archive rows of many accounts, a busy
         * turn of tokens) then writes each page once at commit instead of
         * spilling pages to the WAL in the middle of the transaction. */
        rc = exec(st, "PRAGMA synchronous = NORMAL; PRAGMA foreign_keys = ON; "
                      "PRAGMA cache_size = -32768", "pragma");
    if (rc != TD_OK) {
        set_errmsg(errmsg, "cannot set up database %s (WAL mode): %s", o->path,
                   sqlite3_errmsg(st->db));
        goto out;
    }
    for (int n = version + 1; n <= STORE_SCHEMA_VERSION; n++) {
        rc = apply_migration(st, n);
        if (rc != TD_OK) {
            set_errmsg(errmsg, "migration %s failed: %s", store__migrations[n - 1].name,
                       sqlite3_errmsg(st->db));
            goto out;
        }
    }
    *out = st;
    st = NULL;
out:
    store_close(st);
    return rc;
}

int store_open(const struct store_opts *o, struct store **out, char **errmsg)
{
    return open_store(o, out, errmsg, NULL);
}

void store_close(struct store *st)
{
    if (st == NULL)
        return;
    store__group_free(st->group);
    st->group = NULL;
    for (int i = 0; i < Q_COUNT; i++)
        sqlite3_finalize(st->stmts[i]);
    for (size_t i = 0; i < st->nextra; i++)
        sqlite3_finalize(st->extra[i].stmt);
    if (st->db) {
        /* Fold the WAL back into the main file so a copied .db is complete. */
        sqlite3_wal_checkpoint_v2(st->db, NULL, SQLITE_CHECKPOINT_TRUNCATE, NULL, NULL);
        sqlite3_close_v2(st->db);
    }
    free(st);
}

int store_schema_version(struct store *st, int *version)
{
    return read_version(st, version);
}

int store_migrate(const char *path, int *from, int *to, char **errmsg)
{
    struct store_opts o = {.path = path, .apply_migrations = true};
    struct store *st = NULL;
    int version = 0;
    int rc;

    rc = open_store(&o, &st, errmsg, &version);
    if (from)
        *from = version;
    if (rc == TD_OK)
        rc = read_version(st, &version);
    if (to)
        *to = rc == TD_OK ? version : 0;
    store_close(st);
    return rc;
}

static int run_simple(struct store *st, enum q q)
{
    sqlite3_stmt *s = NULL;
    int rc = get_stmt(st, q, &s);

    if (rc == TD_OK)
        rc = step_done(st, s, NULL);
    put_stmt(s);
    return rc;
}

int store_begin(struct store *st)
{
    if (st->group)
        store__group_guard(st->group, NULL); /* BEGIN counts as read-only: commit a group */
    return run_simple(st, Q_BEGIN);
}

int store_commit(struct store *st)
{
    return run_simple(st, Q_COMMIT);
}

int store_rollback(struct store *st)
{
    return run_simple(st, Q_ROLLBACK);
}

/* ---- accounts ---- */

void store_account_clear(struct account *a)
{
    if (a == NULL)
        return;
    free(a->username);
    free(a->display_name);
    free(a->bio);
    free(a->email);
    free(a->password_hash);
    memset(a, 0, sizeof(*a));
}

/* ASCII-lowercase copy of s (usernames are ASCII by policy; other bytes pass). */
static char *lower_dup(const char *s)
{
    char *d = td_strdup(s);

    for (char *p = d; *p; p++) {
        if (*p >= 'A' && *p <= 'Z')
            *p = (char)(*p - 'A' + 'a');
    }
    return d;
}

/* Fill *a from a row selected with ACCOUNT_COLS. */
static void read_account(sqlite3_stmt *s, struct account *a)
{
    char *t;

    memset(a, 0, sizeof(*a));
    a->id = sqlite3_column_int64(s, 0);
    a->username = col_strdup(s, 1);
    t = col_strdup(s, 2);
    a->display_name = t ? t : td_strdup("");
    t = col_strdup(s, 3);
    a->bio = t ? t : td_strdup("");
    a->email = col_strdup(s, 4);
    a->password_hash = col_strdup(s, 5);
    a->is_admin = sqlite3_column_int(s, 6) != 0;
    a->disabled = sqlite3_column_int(s, 7) != 0;
    a->has_avatar = sqlite3_column_int(s, 8) != 0;
    a->created_at = sqlite3_column_int64(s, 9);
    a->updated_at = sqlite3_column_int64(s, 10);
}

int store_account_create(struct store *st, struct account *a)
{
    sqlite3_stmt *s = NULL;
    char *lc = NULL;
    int64_t id;
    int64_t now = store_now_ms();
    int rc;

    if (a == NULL || a->username == NULL || a->username[0] == '\0')
        return TD_EINVAL;
    lc = lower_dup(a->username);
    id = ids_next();
    rc = get_stmt(st, Q_ACCOUNT_INSERT, &s);
    if (rc != TD_OK)
        goto out;
    rc = bind_i64(st, s, 1, id);
    if (rc == TD_OK)
        rc = bind_text(st, s, 2, a->username);
    if (rc == TD_OK)
        rc = bind_text(st, s, 3, lc);
    if (rc == TD_OK)
        rc = bind_text(st, s, 4, a->display_name ? a->display_name : "");
    if (rc == TD_OK)
        rc = bind_text(st, s, 5, a->bio ? a->bio : "");
    if (rc == TD_OK)
        rc = bind_text(st, s, 6, a->email);
    if (rc == TD_OK)
        rc = bind_text(st, s, 7, a->password_hash);
    if (rc == TD_OK)
        rc = bind_i64(st, s, 8, a->is_admin ? 1 : 0);
    if (rc == TD_OK)
        rc = bind_i64(st, s, 9, a->disabled ? 1 : 0);
    if (rc == TD_OK)
        rc = bind_i64(st, s, 10, now);
    if (rc == TD_OK)
        rc = step_done(st, s, NULL);
    if (rc != TD_OK)
        goto out;
    a->id = id;
    a->created_at = now;
    a->updated_at = now;
    a->has_avatar = false;
out:
    put_stmt(s);
    free(lc);
    return rc;
}

int store_account_get_by_name(struct store *st, const char *username, struct account *out)
{
    sqlite3_stmt *s = NULL;
    char *lc = NULL;
    int rc;

    memset(out, 0, sizeof(*out));
    if (username == NULL)
        return TD_ENOTFOUND;
    lc = lower_dup(username);
    rc = get_stmt(st, Q_ACCOUNT_BY_NAME, &s);
    if (rc == TD_OK)
        rc = bind_text(st, s, 1, lc);
    if (rc == TD_OK)
        rc = step_row(st, s);
    if (rc == TD_OK)
        read_account(s, out);
    put_stmt(s);
    free(lc);
    return rc;
}

int store_account_get_by_id(struct store *st, int64_t id, struct account *out)
{
    sqlite3_stmt *s = NULL;
    int rc;

    memset(out, 0, sizeof(*out));
    rc = get_stmt(st, Q_ACCOUNT_BY_ID, &s);
    if (rc == TD_OK)
        rc = bind_i64(st, s, 1, id);
    if (rc == TD_OK)
        rc = step_row(st, s);
    if (rc == TD_OK)
        read_account(s, out);
    put_stmt(s);
    return rc;
}

static int account_list(struct store *st, int q, int64_t since, store_account_cb *cb, void *ud)
{
    sqlite3_stmt *s = NULL;
    struct account a;
    int rc;

    rc = get_stmt(st, q, &s);
    if (rc == TD_OK && q == Q_ACCOUNT_LIST_DISABLED)
        rc = bind_i64(st, s, 1, since);
    if (rc != TD_OK)
        goto out;
    for (;;) {
        int stop;

        rc = step_row(st, s);
        if (rc == TD_ENOTFOUND) {
            rc = TD_OK;
            break;
        }
        if (rc != TD_OK)
            break;
        read_account(s, &a);
        stop = cb(ud, &a);
        store_account_clear(&a);
        if (stop)
            break;
    }
out:
    put_stmt(s);
    return rc;
}

int store_account_list(struct store *st, store_account_cb *cb, void *ud)
{
    return account_list(st, Q_ACCOUNT_LIST, 0, cb, ud);
}

int store_account_list_disabled(struct store *st, int64_t since, store_account_cb *cb, void *ud)
{
    return account_list(st, Q_ACCOUNT_LIST_DISABLED, since, cb, ud);
}

int store_account_count(struct store *st, int64_t *n)
{
    sqlite3_stmt *s = NULL;
    int rc;

    *n = 0;
    rc = get_stmt(st, Q_ACCOUNT_COUNT, &s);
    if (rc == TD_OK)
        rc = step_row(st, s);
    if (rc == TD_OK)
        *n = sqlite3_column_int64(s, 0);
    put_stmt(s);
    return rc;
}

/* Run one of the Q_ACCOUNT_SET_* updates: ?1 id, ?2 (and ?3) values, then updated_at. */
static int account_update(struct store *st, enum q q, int64_t id, const char *t2, const char *t3,
                          int64_t i2)
{
    sqlite3_stmt *s = NULL;
    int64_t changes = 0;
    int next = 3;
    int rc;

    rc = get_stmt(st, q, &s);
    if (rc == TD_OK)
        rc = bind_i64(st, s, 1, id);
    if (rc == TD_OK) {
        if (q == Q_ACCOUNT_SET_PASSWORD) {
            rc = bind_text(st, s, 2, t2);
        } else if (q == Q_ACCOUNT_SET_PROFILE) {
            rc = bind_text(st, s, 2, t2 ? t2 : "");
            if (rc == TD_OK)
                rc = bind_text(st, s, 3, t3 ? t3 : "");
            next = 4;
        } else {
            rc = bind_i64(st, s, 2, i2);
        }
    }
    if (rc == TD_OK)
        rc = bind_i64(st, s, next, store_now_ms());
    if (rc == TD_OK)
        rc = step_done(st, s, &changes);
    if (rc == TD_OK && changes == 0)
        rc = TD_ENOTFOUND;
    put_stmt(s);
    return rc;
}

int store_account_set_password(struct store *st, int64_t id, const char *password_hash)
{
    return account_update(st, Q_ACCOUNT_SET_PASSWORD, id, password_hash, NULL, 0);
}

int store_account_set_disabled(struct store *st, int64_t id, bool disabled)
{
    return account_update(st, Q_ACCOUNT_SET_DISABLED, id, NULL, NULL, disabled ? 1 : 0);
}

int store_account_set_admin(struct store *st, int64_t id, bool is_admin)
{
    return account_update(st, Q_ACCOUNT_SET_ADMIN, id, NULL, NULL, is_admin ? 1 : 0);
}

int store_account_set_profile(struct store *st, int64_t id, const char *display_name,
                              const char *bio)
{
    return account_update(st, Q_ACCOUNT_SET_PROFILE, id, display_name, bio, 0);
}

int store_avatar_set(struct store *st, int64_t account_id, const char *content_type,
                     const void *data, size_t len)
{
    sqlite3_stmt *s = NULL;
    int rc;

    if (content_type == NULL || (data == NULL && len > 0))
        return TD_EINVAL;
    if (len > STORE_AVATAR_MAX)
        return TD_ETOOBIG;
    rc = get_stmt(st, Q_AVATAR_SET, &s);
    if (rc == TD_OK)
        rc = bind_i64(st, s, 1, account_id);
    if (rc == TD_OK)
        rc = bind_text(st, s, 2, content_type);
    /* A zero-length blob with a NULL pointer would bind SQL NULL; use "". */
    if (rc == TD_OK)
        rc = bind_blob(st, s, 3, data ? data : "", len);
    if (rc == TD_OK)
        rc = bind_i64(st, s, 4, store_now_ms());
    if (rc == TD_OK)
        rc = step_done(st, s, NULL);
    put_stmt(s);
    return rc;
}

int store_avatar_get(struct store *st, int64_t account_id, char **content_type, void **data,
                     size_t *len, int64_t *updated_at)
{
    sqlite3_stmt *s = NULL;
    const void *blob;
    int n;
    int rc;

    *content_type = NULL;
    *data = NULL;
    *len = 0;
    rc = get_stmt(st, Q_AVATAR_GET, &s);
    if (rc == TD_OK)
        rc = bind_i64(st, s, 1, account_id);
    if (rc == TD_OK)
        rc = step_row(st, s);
    if (rc != TD_OK)
        goto out;
    blob = sqlite3_column_blob(s, 1);
    n = sqlite3_column_bytes(s, 1); /* bounded by SQLITE_LIMIT_LENGTH */
    *data = td_malloc(n > 0 ? (size_t)n : 1);
    if (n > 0)
        memcpy(*data, blob, (size_t)n);
    *len = (size_t)n;
    *content_type = col_strdup(s, 0);
    if (*content_type == NULL)
        *content_type = td_strdup("application/octet-stream");
    if (updated_at)
        *updated_at = sqlite3_column_int64(s, 2);
out:
    put_stmt(s);
    return rc;
}

/* ---- sessions ---- */

int store_session_create(struct store *st, const uint8_t token_hash[32], int64_t account_id,
                         int64_t expires_at, const char *user_agent, const char *address)
{
    sqlite3_stmt *s = NULL;
    int rc;

    if (token_hash == NULL)
        return TD_EINVAL;
    rc = get_stmt(st, Q_SESSION_INSERT, &s);
    if (rc == TD_OK)
        rc = bind_blob(st, s, 1, token_hash, 32);
    if (rc == TD_OK)
        rc = bind_i64(st, s, 2, account_id);
    if (rc == TD_OK)
        rc = bind_i64(st, s, 3, store_now_ms());
    if (rc == TD_OK)
        rc = bind_i64(st, s, 4, expires_at);
    if (rc == TD_OK)
        rc = bind_text(st, s, 5, user_agent ? user_agent : "");
    if (rc == TD_OK)
        rc = bind_text(st, s, 6, address ? address : "");
    if (rc == TD_OK)
        rc = step_done(st, s, NULL);
    put_stmt(s);
    return rc;
}

int store_session_lookup(struct store *st, const uint8_t token_hash[32], int64_t now,
                         int64_t *account_id)
{
    sqlite3_stmt *s = NULL;
    int64_t last_seen = 0;
    int64_t id = 0;
    int rc;

    *account_id = 0;
    if (token_hash == NULL)
        return TD_ENOTFOUND;
    rc = get_stmt(st, Q_SESSION_LOOKUP, &s);
    if (rc == TD_OK)
        rc = bind_blob(st, s, 1, token_hash, 32);
    if (rc == TD_OK)
        rc = bind_i64(st, s, 2, now);
    if (rc == TD_OK)
        rc = step_row(st, s);
    if (rc == TD_OK) {
        id = sqlite3_column_int64(s, 0);
        last_seen = sqlite3_column_int64(s, 1);
    }
    put_stmt(s);
    s = NULL;
    if (rc != TD_OK)
        return rc;
    if (now - last_seen >= SESSION_TOUCH_MS) {
        rc = get_stmt(st, Q_SESSION_TOUCH, &s);
        if (rc == TD_OK)
            rc = bind_blob(st, s, 1, token_hash, 32);
        if (rc == TD_OK)
            rc = bind_i64(st, s, 2, now);
        if (rc == TD_OK)
            rc = step_done(st, s, NULL);
        put_stmt(s);
        /* A failed refresh of last_seen_at does not invalidate the session. */
        rc = TD_OK;
    }
    *account_id = id;
    return rc;
}

int store_session_delete(struct store *st, const uint8_t token_hash[32])
{
    sqlite3_stmt *s = NULL;
    int rc;

    if (token_hash == NULL)
        return TD_EINVAL;
    rc = get_stmt(st, Q_SESSION_DELETE, &s);
    if (rc == TD_OK)
        rc = bind_blob(st, s, 1, token_hash, 32);
    if (rc == TD_OK)
        rc = step_done(st, s, NULL);
    put_stmt(s);
    return rc;
}

int store_session_delete_account(struct store *st, int64_t account_id,
                                 const uint8_t keep_hash[32])
{
    sqlite3_stmt *s = NULL;
    int rc;

    rc = get_stmt(st, keep_hash ? Q_SESSION_DELETE_ACCOUNT_KEEP : Q_SESSION_DELETE_ACCOUNT, &s);
    if (rc == TD_OK)
        rc = bind_i64(st, s, 1, account_id);
    if (rc == TD_OK && keep_hash)
        rc = bind_blob(st, s, 2, keep_hash, 32);
    if (rc == TD_OK)
        rc = step_done(st, s, NULL);
    put_stmt(s);
    return rc;
}

int store_session_purge_expired(struct store *st, int64_t now, int64_t *deleted)
{
    sqlite3_stmt *s = NULL;
    int64_t n = 0;
    int rc;

    rc = get_stmt(st, Q_SESSION_PURGE, &s);
    if (rc == TD_OK)
        rc = bind_i64(st, s, 1, now);
    if (rc == TD_OK)
        rc = step_done(st, s, &n);
    put_stmt(s);
    if (deleted)
        *deleted = rc == TD_OK ? n : 0;
    return rc;
}

/* ---- invites ---- */

int store_invite_create(struct store *st, const uint8_t code_hash[32], int64_t expires_at,
                        int uses)
{
    sqlite3_stmt *s = NULL;
    int rc;

    if (code_hash == NULL || uses < 1)
        return TD_EINVAL;
    rc = get_stmt(st, Q_INVITE_INSERT, &s);
    if (rc == TD_OK)
        rc = bind_blob(st, s, 1, code_hash, 32);
    if (rc == TD_OK)
        rc = bind_i64(st, s, 2, store_now_ms());
    if (rc == TD_OK)
        rc = bind_i64(st, s, 3, expires_at);
    if (rc == TD_OK)
        rc = bind_i64(st, s, 4, uses);
    if (rc == TD_OK)
        rc = step_done(st, s, NULL);
    put_stmt(s);
    return rc;
}

int store_invite_use(struct store *st, const uint8_t code_hash[32], int64_t now)
{
    sqlite3_stmt *s = NULL;
    int64_t changes = 0;
    int rc;

    if (code_hash == NULL)
        return TD_ENOTFOUND;
    /* One UPDATE with the checks in its WHERE: two racing uses cannot both win. */
    rc = get_stmt(st, Q_INVITE_USE, &s);
    if (rc == TD_OK)
        rc = bind_blob(st, s, 1, code_hash, 32);
    if (rc == TD_OK)
        rc = bind_i64(st, s, 2, now);
    if (rc == TD_OK)
        rc = step_done(st, s, &changes);
    if (rc == TD_OK && changes == 0)
        rc = TD_ENOTFOUND;
    put_stmt(s);
    return rc;
}

/* ---- secrets ---- */

/* Copy the stored secret name into out: TD_OK, TD_ENOTFOUND or TD_EINVAL (length). */
static int secret_read(struct store *st, const char *name, uint8_t *out, size_t len)
{
    sqlite3_stmt *s = NULL;
    int rc;

    rc = get_stmt(st, Q_SECRET_GET, &s);
    if (rc == TD_OK)
        rc = bind_text(st, s, 1, name);
    if (rc == TD_OK)
        rc = step_row(st, s);
    if (rc == TD_OK) {
        const void *v = sqlite3_column_blob(s, 0);
        int n = sqlite3_column_bytes(s, 0);

        if (v == NULL || n < 0 || (size_t)n != len) {
            log_err("store.secret_length", "name=%s stored=%d wanted=%zu", log_q(name), n, len);
            rc = TD_EINVAL;
        } else {
            memcpy(out, v, len);
        }
    }
    put_stmt(s);
    return rc;
}

int store_secret_get(struct store *st, const char *name, uint8_t *out, size_t len)
{
    uint8_t fresh[STORE_SECRET_MAX];
    sqlite3_stmt *s = NULL;
    int rc;

    if (name == NULL || out == NULL || len == 0 || len > STORE_SECRET_MAX)
        return TD_EINVAL;
    rc = secret_read(st, name, out, len);
    if (rc != TD_ENOTFOUND)
        return rc;
    if (RAND_bytes(fresh, (int)len) != 1) {
        log_err("store.secret_random", "name=%s", log_q(name));
        return TD_EIO;
    }
    /* INSERT OR IGNORE then read back: if another process created it first, its
     * value wins and both agree. */
    rc = get_stmt(st, Q_SECRET_INSERT, &s);
    if (rc == TD_OK)
        rc = bind_text(st, s, 1, name);
    if (rc == TD_OK)
        rc = bind_blob(st, s, 2, fresh, len);
    if (rc == TD_OK)
        rc = bind_i64(st, s, 3, store_now_ms());
    if (rc == TD_OK)
        rc = step_done(st, s, NULL);
    put_stmt(s);
    OPENSSL_cleanse(fresh, sizeof(fresh));
    if (rc == TD_OK)
        rc = secret_read(st, name, out, len);
    return rc;
}

/* ---- module-internal helpers for the other store_sqlite_*.c files ---- */

int store__stmt(struct store *st, const char *sql, sqlite3_stmt **out)
{
    size_t i;
    int src;

    *out = NULL;
    for (i = 0; i < st->nextra; i++)
        if (st->extra[i].sql == sql)
            break;
    if (i == st->nextra) {
        TD_ASSERT(st->nextra < EXTRA_STMTS); /* raise EXTRA_STMTS when adding queries */
        src = sqlite3_prepare_v3(st->db, sql, -1, SQLITE_PREPARE_PERSISTENT, &st->extra[i].stmt,
                                 NULL);
        if (src != SQLITE_OK)
            return map_err(st, src, "prepare");
        st->extra[i].sql = sql;
        st->nextra++;
    }
    *out = st->extra[i].stmt;
    return TD_OK;
}

sqlite3 *store__db(struct store *st)
{
    return st->db;
}

struct store_group **store__group_slot(struct store *st)
{
    return &st->group;
}

void store__put(sqlite3_stmt *s)
{
    put_stmt(s);
}

int store__bind_text(struct store *st, sqlite3_stmt *s, int i, const char *v)
{
    return bind_text(st, s, i, v);
}

int store__bind_blob(struct store *st, sqlite3_stmt *s, int i, const void *v, size_t len)
{
    return bind_blob(st, s, i, v, len);
}

int store__bind_double(struct store *st, sqlite3_stmt *s, int i, double v)
{
    return map_err(st, sqlite3_bind_double(s, i, v), "bind");
}

int store__bind_i64(struct store *st, sqlite3_stmt *s, int i, int64_t v)
{
    return bind_i64(st, s, i, v);
}

int store__step_done(struct store *st, sqlite3_stmt *s, int64_t *changes)
{
    return step_done(st, s, changes);
}

int store__step_row(struct store *st, sqlite3_stmt *s)
{
    return step_row(st, s);
}

char *store__col_strdup(sqlite3_stmt *s, int i)
{
    return col_strdup(s, i);
}

static const char sql_session_created[] = "SELECT created_at FROM sessions WHERE token_hash = ?1";

int store_session_created_at(struct store *st, const uint8_t token_hash[32], int64_t *created_at)
{
    sqlite3_stmt *s = NULL;
    int rc;

    rc = store__stmt(st, sql_session_created, &s);
    if (rc == TD_OK)
        rc = store__bind_blob(st, s, 1, token_hash, 32);
    if (rc == TD_OK)
        rc = store__step_row(st, s);
    if (rc == TD_OK)
        *created_at = sqlite3_column_int64(s, 0);
    store__put(s);
    return rc;
}
