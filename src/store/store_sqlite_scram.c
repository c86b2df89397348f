/* SPDX-License-Identifier: MIT */
/* The SQLite backend of store_scram.h: SCRAM credentials in account_scram
 * (migration 0003_scram), keyed by account and mechanism. Usernames are
 * matched through accounts.username_lc, ASCII-lowercased here as
 * store_sqlite.c does; disabled accounts are invisible to the lookup. */
#include "store/store_scram.h"
#include "store/store_sqlite_int.h"

#include "core/err.h"

#include <sqlite3.h>

#include <stdlib.h>
#include <string.h>

#define MECH_MAX 32
#define NAME_MAX_BYTES 1024

static const char sql_set[] =
    "INSERT INTO account_scram (account_id, mechanism, credential) VALUES (?1, ?2, ?3) "
    "ON CONFLICT (account_id, mechanism) DO UPDATE SET credential = excluded.credential";
static const char sql_get[] =
    "SELECT s.credential, a.id FROM accounts a JOIN account_scram s ON s.account_id = a.id "
    "WHERE a.username_lc = ?1 AND a.disabled = 0 AND s.mechanism = ?2";
static const char sql_clear[] = "DELETE FROM account_scram WHERE account_id = ?1";

int store_scram_set(struct store *st, int64_t account_id, const char *mech, const char *cred)
{
    sqlite3_stmt *s = NULL;
    int rc;

    if (mech == NULL || cred == NULL || mech[0] == '\0' || cred[0] == '\0' ||
        strlen(mech) > MECH_MAX || strlen(cred) > STORE_SCRAM_CRED_MAX)
        return TD_EINVAL;
    rc = store__stmt(st, sql_set, &s);
    if (rc == TD_OK)
        rc = store__bind_i64(st, s, 1, account_id);
    if (rc == TD_OK)
        rc = store__bind_text(st, s, 2, mech);
    if (rc == TD_OK)
        rc = store__bind_text(st, s, 3, cred);
    if (rc == TD_OK)
        rc = store__step_done(st, s, NULL);
    store__put(s);
    return rc;
}

int store_scram_get(struct store *st, const char *username, const char *mech, char **cred,
                    int64_t *account_id)
{
    sqlite3_stmt *s = NULL;
    char lc[NAME_MAX_BYTES + 1];
    size_t n;
    int rc;

    *cred = NULL;
    if (username == NULL || mech == NULL)
        return TD_EINVAL;
    n = strnlen(username, NAME_MAX_BYTES + 1);
    if (n == 0 || n > NAME_MAX_BYTES)
        return TD_ENOTFOUND;
    for (size_t i = 0; i < n; i++) {
        char c = username[i];
        lc[i] = (c >= 'A' && c <= 'Z') ? (char)(c - 'A' + 'a') : c;
    }
    lc[n] = '\0';
    rc = store__stmt(st, sql_get, &s);
    if (rc == TD_OK)
        rc = store__bind_text(st, s, 1, lc);
    if (rc == TD_OK)
        rc = store__bind_text(st, s, 2, mech);
    if (rc == TD_OK)
        rc = store__step_row(st, s);
    if (rc == TD_OK) {
        *cred = store__col_strdup(s, 0);
        if (account_id)
            *account_id = sqlite3_column_int64(s, 1);
        if (*cred == NULL)
            rc = TD_ENOTFOUND;
    }
    store__put(s);
    return rc;
}

int store_scram_clear(struct store *st, int64_t account_id)
{
    sqlite3_stmt *s = NULL;
    int rc;

    rc = store__stmt(st, sql_clear, &s);
    if (rc == TD_OK)
        rc = store__bind_i64(st, s, 1, account_id);
    if (rc == TD_OK)
        rc = store__step_done(st, s, NULL);
    store__put(s);
    return rc;
}
