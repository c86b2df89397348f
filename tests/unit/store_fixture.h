/* SPDX-License-Identifier: MIT */
/* A fresh SQLite store in its own temporary directory for a unit test, with
 * accounts alice and bob, and its removal afterwards (database, WAL and
 * shared-memory files, directory). Header-only: each test binary includes it
 * once. */
#ifndef TD_TESTS_STORE_FIXTURE_H
#define TD_TESTS_STORE_FIXTURE_H

#include "core/err.h"
#include "store/store.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

struct store_fx {
    char dir[64];
    char path[128];
    struct store *st;
    int64_t alice, bob;
};

static int store_fx_account(struct store_fx *f, const char *name, int64_t *id)
{
    struct account acc = {0};

    acc.username = (char *)name;
    if (store_account_create(f->st, &acc) != TD_OK)
        return -1;
    *id = acc.id;
    return 0;
}

/** Open a migrated store under /tmp/<name>.XXXXXX with alice and bob; -1 on failure. */
static int store_fx_open(struct store_fx *f, const char *name)
{
    struct store_opts o = {0};

    memset(f, 0, sizeof(*f));
    snprintf(f->dir, sizeof(f->dir), "/tmp/%s.XXXXXX", name); /* mkdtemp's template */
    if (mkdtemp(f->dir) == NULL)
        return -1;
    snprintf(f->path, sizeof(f->path), "%s/tandem.db", f->dir);
    o.path = f->path;
    o.apply_migrations = true;
    if (store_open(&o, &f->st, NULL) != TD_OK)
        return -1;
    if (store_fx_account(f, "alice", &f->alice) != 0 || store_fx_account(f, "bob", &f->bob) != 0)
        return -1;
    return 0;
}

/** Close the store and remove its files and directory. */
static void store_fx_close(struct store_fx *f)
{
    static const char *const suffix[] = {"", "-wal", "-shm", "-journal"};
    char p[160];

    store_close(f->st);
    for (size_t i = 0; i < sizeof(suffix) / sizeof(suffix[0]); i++) {
        snprintf(p, sizeof(p), "%s%s", f->path, suffix[i]);
        unlink(p);
    }
    rmdir(f->dir);
}

#endif
