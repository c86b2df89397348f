/* SPDX-License-Identifier: MIT */
/* Module-internal: what the SQLite backend's files share. store_sqlite.c owns
 * the connection and the accounts/sessions queries; each further area
 * (store_sqlite_oauth.c, ...) keeps its SQL as static strings and gets
 * cached prepared statements through store__stmt(), keyed by the address of
 * the SQL text. Nothing outside src/store includes this header. */
#ifndef TD_STORE_SQLITE_INT_H
#define TD_STORE_SQLITE_INT_H

#include "store/store.h"

#include <sqlite3.h>
#include <stddef.h>
#include <stdint.h>

/** The cached statement for this SQL text (prepared on first use). Return it with store__put. */
int store__stmt(struct store *st, const char *sql, sqlite3_stmt **out);
/** Reset and unbind a statement so it holds no locks. NULL-safe. */
void store__put(sqlite3_stmt *s);
/** Bind helpers (text NULL binds SQL NULL); TD_OK or a mapped error. */
int store__bind_text(struct store *st, sqlite3_stmt *s, int i, const char *v);
int store__bind_blob(struct store *st, sqlite3_stmt *s, int i, const void *v, size_t len);
int store__bind_i64(struct store *st, sqlite3_stmt *s, int i, int64_t v);
int store__bind_double(struct store *st, sqlite3_stmt *s, int i, double v);
/** Step a statement returning no rows; *changes (may be NULL) gets the changed row count.
 * Constraint violations map to TD_EEXIST (unique) and TD_ENOTFOUND (foreign key). */
int store__step_done(struct store *st, sqlite3_stmt *s, int64_t *changes);
/** Step once: TD_OK with a row, TD_ENOTFOUND without. */
int store__step_row(struct store *st, sqlite3_stmt *s);
/** Column text as a malloc'd copy, or NULL for SQL NULL. */
char *store__col_strdup(sqlite3_stmt *s, int i);

/* Group commit (store_sqlite_group.c). */
struct store_group;
sqlite3 *store__db(struct store *st);
struct store_group **store__group_slot(struct store *st);
/** Before stepping s: a write (or, with s NULL, anything) outside a group while a group
 *  transaction is open commits the group first; its callbacks run later on the loop. */
void store__group_guard(struct store_group *g, sqlite3_stmt *s);
/** End the loop turn's read snapshot, if open: before code that decides
 *  between BEGIN and SAVEPOINT by sqlite3_get_autocommit(). */
void store__read_end(struct store *st);
/** Commit an open group and free it (store_close). */
void store__group_free(struct store_group *g);

#endif
