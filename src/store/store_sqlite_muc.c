/* SPDX-License-Identifier: MIT */
/* The SQLite backend of store_muc.h: muc_rooms keyed by (service, name), the
 * room document as text (migration 0010_muc). */
#include "store/store_muc.h"
#include "store/store_sqlite_int.h"

#include "core/err.h"

#include <sqlite3.h>

#include <string.h>

static const char sql_put[] =
    "INSERT INTO muc_rooms (service, name, data, updated_at) VALUES (?1, ?2, ?3, ?4) "
    "ON CONFLICT (service, name) DO UPDATE SET data = excluded.data, "
    "updated_at = excluded.updated_at";
static const char sql_delete[] = "DELETE FROM muc_rooms WHERE service = ?1 AND name = ?2";
static const char sql_list[] = "SELECT name, data FROM muc_rooms WHERE service = ?1 ORDER BY name";

static bool part_ok(const char *s)
{
    return s != NULL && s[0] != '\0' && strnlen(s, STORE_MUC_NAME_MAX + 1) <= STORE_MUC_NAME_MAX;
}

int store_muc_put(struct store *st, const char *service, const char *name, const char *data)
{
    sqlite3_stmt *s = NULL;
    int rc;

    if (!part_ok(service) || !part_ok(name) || data == NULL)
        return TD_EINVAL;
    if (strnlen(data, STORE_MUC_DATA_MAX + 1) > STORE_MUC_DATA_MAX)
        return TD_ETOOBIG;
    rc = store__stmt(st, sql_put, &s);
    if (rc == TD_OK)
        rc = store__bind_text(st, s, 1, service);
    if (rc == TD_OK)
        rc = store__bind_text(st, s, 2, name);
    if (rc == TD_OK)
        rc = store__bind_text(st, s, 3, data);
    if (rc == TD_OK)
        rc = store__bind_i64(st, s, 4, store_now_ms());
    if (rc == TD_OK)
        rc = store__step_done(st, s, NULL);
    store__put(s);
    return rc;
}

int store_muc_delete(struct store *st, const char *service, const char *name)
{
    sqlite3_stmt *s = NULL;
    int rc;

    if (service == NULL || name == NULL)
        return TD_EINVAL;
    rc = store__stmt(st, sql_delete, &s);
    if (rc == TD_OK)
        rc = store__bind_text(st, s, 1, service);
    if (rc == TD_OK)
        rc = store__bind_text(st, s, 2, name);
    if (rc == TD_OK)
        rc = store__step_done(st, s, NULL);
    store__put(s);
    return rc;
}

int store_muc_list(struct store *st, const char *service, store_muc_cb *cb, void *ud)
{
    sqlite3_stmt *s = NULL;
    int rc;

    if (service == NULL)
        return TD_EINVAL;
    rc = store__stmt(st, sql_list, &s);
    if (rc == TD_OK)
        rc = store__bind_text(st, s, 1, service);
    while (rc == TD_OK) {
        const char *name, *data;
        rc = store__step_row(st, s);
        if (rc != TD_OK)
            break;
        name = (const char *)sqlite3_column_text(s, 0);
        data = (const char *)sqlite3_column_text(s, 1);
        if (name && data && cb(ud, name, data) != 0)
            break;
    }
    store__put(s);
    return rc == TD_ENOTFOUND ? TD_OK : rc;
}
