/* SPDX-License-Identifier: MIT */
/* The storage interface. Every query the services need is one function here
 * (no query builder), so that the embedded SQLite backend (store_sqlite.c)
 * and a later PostgreSQL backend for cluster mode can implement the same
 * header; nothing in it names a backend type. The schema evolves through
 * numbered migrations (store_migrations.c) applied at open; a database newer
 * than the binary is refused. Every value is bound to a prepared statement,
 * never spliced into SQL. A committed write survives kill -9 of the process
 * (SQLite WAL with synchronous=NORMAL). Calls are meant for the loop thread:
 * they are indexed point queries; bulk work belongs on a worker with its own
 * store. All functions return TD_OK or a negative TD_E* code: TD_ENOTFOUND for
 * a missing row, TD_EEXIST for a uniqueness clash, TD_EINVAL for bad
 * arguments, TD_EIO for a storage failure (logged). Times are Unix
 * milliseconds. */
#ifndef TD_STORE_H
#define TD_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/** Number of migrations built in: the schema version this binary writes. */
#define STORE_SCHEMA_VERSION 13
/** Largest avatar image accepted by store_avatar_set(), in bytes. */
#define STORE_AVATAR_MAX (4u * 1024 * 1024)
/** Largest secret store_secret_get() manages, in bytes. */
#define STORE_SECRET_MAX 1024

struct store;

struct store_opts {
    const char *path;      /* database file; created if missing (its directory is not) */
    bool apply_migrations; /* false: an outdated schema is an error instead of upgraded */
};

/** Unix time in milliseconds (CLOCK_REALTIME). */
int64_t store_now_ms(void);

/** Open (creating the file if missing) and bring the schema to STORE_SCHEMA_VERSION.
 *  On success *out is a store for store_close(). On error *out is NULL and, if
 *  errmsg is not NULL, *errmsg gets a caller-freed message: TD_EVERSION when the
 *  database is newer than this binary, or older and o->apply_migrations is false;
 *  TD_EIO when the file cannot be opened or is not a database. */
int store_open(const struct store_opts *o, struct store **out, char **errmsg);
/** Finalize statements, checkpoint the WAL and close. NULL-safe. */
void store_close(struct store *st);
/** The schema version recorded in the database (PRAGMA user_version). */
int store_schema_version(struct store *st, int *version);
/** Open path, apply missing migrations and close (`tandem migrate`). *from and
 *  *to (may be NULL) get the versions before and after; errors as store_open. */
int store_migrate(const char *path, int *from, int *to, char **errmsg);

/** Group later calls into one transaction (BEGIN IMMEDIATE); not nestable. A group
 *  commit transaction still open (below) is committed first. */
int store_begin(struct store *st);
int store_commit(struct store *st);
int store_rollback(struct store *st);

/* ---- group commit and checkpoints (the server's loop) ----
 *
 * On a store attached to a libuv loop, writes made between store_group_begin() and
 * store_group_end() during one turn of the loop share one transaction, committed once
 * in that turn (a uv_check handle, after the turn's I/O callbacks); each caller's
 * callback runs after the commit, with TD_OK or the commit's error, and only then may
 * the caller tell anyone about what it wrote. Inside the group, reads on this store see
 * the group's uncommitted writes in order, so one-time transitions (code redemption,
 * refresh rotation) behave exactly as if each caller had committed alone. A write made
 * outside a group while a group transaction is open commits the group first (its
 * callbacks still run later), so ungrouped writes keep their own durability.
 *
 * Attaching also moves WAL checkpoints off the loop thread: automatic checkpoints are
 * off on this connection, and once the WAL holds ckpt_frames pages a PASSIVE checkpoint
 * runs on libuv's thread pool with its own connection (one at a time). store_close()
 * makes the final (TRUNCATE) checkpoint. */

struct uv_loop_s;
struct store_group_opts {
    unsigned ckpt_frames; /* WAL pages that start a background checkpoint; 0 = 1000 */
};
struct store_group_stats {
    uint64_t commits;      /* group transactions committed */
    uint64_t failures;     /* group transactions that failed (every waiter told) */
    uint64_t waiters;      /* callers served */
    uint64_t checkpoints;  /* background checkpoints completed */
    uint64_t loop_checkpoints; /* checkpoints the loop made itself (WAL past the hard cap) */
    uint64_t read_snapshots; /* loop turns whose reads shared one read transaction */
};
/** Called on the loop thread once the caller's writes are committed (TD_OK) or lost
 *  (TD_EIO: the transaction was rolled back). */
typedef void store_group_cb(void *ud, int status);

/** Attach st to loop (the thread that will make every call on st). TD_EINVAL if already
 *  attached. Without this, groups are plain autocommit and callbacks run at once. */
int store_group_attach(struct store *st, struct uv_loop_s *loop,
                       const struct store_group_opts *o);
/** Commit what is open, deliver pending callbacks and close the handles; a background
 *  checkpoint still running completes when the loop runs again (run it before
 *  store_close()). NULL-safe; no-op when not attached. */
void store_group_detach(struct store *st);
/** Enter a group: writes from now until store_group_end() join this turn's transaction
 *  (started here if needed, BEGIN IMMEDIATE). On error (TD_EIO) nothing was entered. */
int store_group_begin(struct store *st);
/** Leave the group; cb(ud, status) runs on the loop thread after the commit (at once,
 *  with TD_OK, on a store that is not attached). */
void store_group_end(struct store *st, store_group_cb *cb, void *ud);
/** Commit the open group transaction now and run the callbacks (tests, shutdown). */
void store_group_flush(struct store *st);
void store_group_stats(struct store *st, struct store_group_stats *out);

/* ---- accounts ---- */

struct account {
    int64_t id;          /* ids_next() */
    char *username;      /* as typed; its ASCII-lowercased form is unique */
    char *display_name;  /* never NULL once read */
    char *bio;           /* never NULL once read */
    char *email;         /* may be NULL */
    char *password_hash; /* argon2id PHC string; NULL for identity-only accounts */
    bool is_admin;
    bool disabled;
    bool has_avatar; /* read-only: whether an avatar row exists */
    int64_t created_at;
    int64_t updated_at;
}; /* strings owned by the struct when filled by the store */

/** Free the strings of a store-filled account and zero it. NULL-safe. */
void store_account_clear(struct account *a);
/** Insert a (username required; NULL display_name/bio mean ""). Sets a->id,
 *  a->created_at and a->updated_at; the strings stay the caller's. TD_EEXIST if
 *  the name is taken case-insensitively (ASCII case folding). */
int store_account_create(struct store *st, struct account *a);
/** Fill *out (zeroed first; free with store_account_clear()). Case-insensitive;
 *  TD_ENOTFOUND. */
int store_account_get_by_name(struct store *st, const char *username, struct account *out);
int store_account_get_by_id(struct store *st, int64_t id, struct account *out);
/** Called per account; a is valid only during the call. Non-zero stops the list. */
typedef int store_account_cb(void *ud, const struct account *a);
/** Every account ordered by lowercased username. TD_OK also when cb stopped it. */
int store_account_list(struct store *st, store_account_cb *cb, void *ud);
/** The disabled accounts whose row changed at or after since (ms): how a
 *  running server learns of `tandem user disable` from another process. */
int store_account_list_disabled(struct store *st, int64_t since, store_account_cb *cb, void *ud);
int store_account_count(struct store *st, int64_t *n);
/** The updates below bump updated_at; TD_ENOTFOUND for an unknown id. */
int store_account_set_password(struct store *st, int64_t id, const char *password_hash);
int store_account_set_disabled(struct store *st, int64_t id, bool disabled);
int store_account_set_admin(struct store *st, int64_t id, bool is_admin);
int store_account_set_profile(struct store *st, int64_t id, const char *display_name,
                              const char *bio);
/** Insert or replace the avatar (len <= STORE_AVATAR_MAX, else TD_ETOOBIG);
 *  TD_ENOTFOUND for an unknown account. */
int store_avatar_set(struct store *st, int64_t account_id, const char *content_type,
                     const void *data, size_t len);
/** *content_type and *data are caller-freed (free()); updated_at may be NULL.
 *  TD_ENOTFOUND if the account has no avatar. */
int store_avatar_get(struct store *st, int64_t account_id, char **content_type, void **data,
                     size_t *len, int64_t *updated_at);

/* ---- sessions (only the SHA-256 of the cookie token is stored) ---- */

/** TD_ENOTFOUND for an unknown account, TD_EEXIST if the hash already exists. */
int store_session_create(struct store *st, const uint8_t token_hash[32], int64_t account_id,
                         int64_t expires_at, const char *user_agent, const char *address);
/** Valid (expires_at > now) session → *account_id; also bumps last_seen_at at
 *  most once a minute. TD_ENOTFOUND otherwise. */
int store_session_lookup(struct store *st, const uint8_t token_hash[32], int64_t now,
                         int64_t *account_id);
/** TD_OK even when no such session existed. */
int store_session_delete(struct store *st, const uint8_t token_hash[32]);
/** When the session was created (the log-in time, ms). TD_ENOTFOUND if unknown. */
int store_session_created_at(struct store *st, const uint8_t token_hash[32], int64_t *created_at);
/** Delete the account's sessions except keep_hash (NULL = delete all). */
int store_session_delete_account(struct store *st, int64_t account_id,
                                 const uint8_t keep_hash[32]);
/** Delete sessions with expires_at <= now; *deleted (may be NULL) gets the count. */
int store_session_purge_expired(struct store *st, int64_t now, int64_t *deleted);

/* ---- invites (only the SHA-256 of the code is stored) ---- */

/** uses must be >= 1. TD_EEXIST if the hash already exists. */
int store_invite_create(struct store *st, const uint8_t code_hash[32], int64_t expires_at,
                        int uses);
/** Atomically take one use; TD_ENOTFOUND if unknown, expired (expires_at <= now)
 *  or used up. */
int store_invite_use(struct store *st, const uint8_t code_hash[32], int64_t now);

/* ---- server secrets ---- */

/** Copy the named secret into out[0..len), creating it with len random bytes
 *  (OpenSSL RAND_bytes) if absent. 1 <= len <= STORE_SECRET_MAX. TD_EINVAL if
 *  the stored secret has another length. */
int store_secret_get(struct store *st, const char *name, uint8_t *out, size_t len);

#endif
