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
#define STORE_SCHEMA_VERSION 5
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

/** Group later calls into one transaction (BEGIN IMMEDIATE); not nestable. */
int store_begin(struct store *st);
int store_commit(struct store *st);
int store_rollback(struct store *st);

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
