/* SPDX-License-Identifier: MIT */
/* Unit tests for store/store_sqlite_mam.c (store_mam.h): adding rows to two
 * accounts' archives, queries by id range and by bare or full `with` in
 * both directions with limits, counts, id lookups, the size limit trimming
 * the oldest rows (with its slack), preferences, bad arguments and hostile
 * strings kept byte for byte. Each test gets a fresh database in its own
 * mkdtemp directory. */
#include "core/err.h"
#include "store/store.h"
#include "store/store_mam.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <unistd.h>

#include <cmocka.h>

struct fx {
    char dir[64];
    char path[128];
    struct store *st;
    int64_t alice;
    int64_t bob;
};

static int64_t make_account(struct store *st, const char *name)
{
    struct account a = {.username = (char *)name, .password_hash = (char *)"$argon2id$x"};

    assert_int_equal(store_account_create(st, &a), TD_OK);
    return a.id;
}

static int setup(void **state)
{
    struct fx *f = calloc(1, sizeof(*f));
    struct store_opts o;
    char *err = NULL;

    snprintf(f->dir, sizeof(f->dir), "/tmp/test_store_mam.XXXXXX");
    if (mkdtemp(f->dir) == NULL)
        return -1;
    snprintf(f->path, sizeof(f->path), "%s/tandem.db", f->dir);
    o = (struct store_opts){.path = f->path, .apply_migrations = true};
    if (store_open(&o, &f->st, &err) != TD_OK)
        return -1;
    f->alice = make_account(f->st, "alice");
    f->bob = make_account(f->st, "bob");
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

static void add(struct fx *f, int64_t acct, int64_t id, const char *bare, const char *res,
                bool out, int64_t max)
{
    char stanza[128];
    struct store_mam_msg m = {.id = id, .with_bare = bare, .with_res = res, .outgoing = out,
                              .stanza = stanza};

    snprintf(stanza, sizeof(stanza), "<message xmlns='jabber:client'><body>%lld</body></message>",
             (long long)id);
    assert_int_equal(store_mam_add(f->st, acct, &m, max), TD_OK);
}

struct got {
    int64_t ids[64];
    bool out[64];
    char stanza[256];
    size_t n;
    size_t stop_after; /* 0: never */
};

static int got_cb(void *ud, int64_t id, bool outgoing, const char *stanza)
{
    struct got *g = ud;

    g->ids[g->n] = id;
    g->out[g->n] = outgoing;
    snprintf(g->stanza, sizeof(g->stanza), "%s", stanza);
    g->n++;
    return g->stop_after && g->n >= g->stop_after;
}

/* alice: ids 10..19 with bob (even ids from bob/phone, odd ones to bob/desk),
 * 20..24 with carol; bob: 100..101 with alice. */
static void fill(struct fx *f)
{
    for (int64_t i = 10; i < 20; i++)
        add(f, f->alice, i, "bob@localhost", i % 2 ? "desk" : "phone", i % 2, 0);
    for (int64_t i = 20; i < 25; i++)
        add(f, f->alice, i, "carol@localhost", "", true, 0);
    add(f, f->bob, 100, "alice@localhost", "a", false, 0);
    add(f, f->bob, 101, "alice@localhost", "a", true, 0);
}

static void test_query_forward_backward(void **state)
{
    struct fx *f = *state;
    struct store_mam_filter all = {0};
    struct got g = {0};
    int64_t n;

    fill(f);
    assert_int_equal(store_mam_query(f->st, f->alice, &all, false, 4, got_cb, &g), TD_OK);
    assert_int_equal(g.n, 4);
    assert_int_equal(g.ids[0], 10);
    assert_int_equal(g.ids[3], 13);
    assert_false(g.out[0]);
    assert_true(g.out[1]);
    memset(&g, 0, sizeof(g));
    assert_int_equal(store_mam_query(f->st, f->alice, &all, true, 3, got_cb, &g), TD_OK);
    assert_int_equal(g.n, 3);
    assert_int_equal(g.ids[0], 24);
    assert_int_equal(g.ids[2], 22);
    assert_string_equal(g.stanza, "<message xmlns='jabber:client'><body>22</body></message>");
    /* an id range, both ends inclusive */
    struct store_mam_filter r = {.lo = 12, .hi = 14};
    memset(&g, 0, sizeof(g));
    assert_int_equal(store_mam_query(f->st, f->alice, &r, false, 50, got_cb, &g), TD_OK);
    assert_int_equal(g.n, 3);
    assert_int_equal(store_mam_count(f->st, f->alice, &r, &n), TD_OK);
    assert_int_equal(n, 3);
    assert_int_equal(store_mam_count(f->st, f->alice, &all, &n), TD_OK);
    assert_int_equal(n, 15);
    assert_int_equal(store_mam_count(f->st, f->bob, &all, &n), TD_OK);
    assert_int_equal(n, 2);
    /* the callback stops the listing; limit 0 lists nothing */
    memset(&g, 0, sizeof(g));
    g.stop_after = 2;
    assert_int_equal(store_mam_query(f->st, f->alice, &all, false, 50, got_cb, &g), TD_OK);
    assert_int_equal(g.n, 2);
    memset(&g, 0, sizeof(g));
    assert_int_equal(store_mam_query(f->st, f->alice, &all, false, 0, got_cb, &g), TD_OK);
    assert_int_equal(g.n, 0);
}

static void test_query_with(void **state)
{
    struct fx *f = *state;
    struct store_mam_filter bare = {.with_bare = "bob@localhost"};
    struct store_mam_filter full = {.with_bare = "bob@localhost", .with_res = "desk"};
    struct store_mam_filter none = {.with_bare = "dave@localhost"};
    struct got g = {0};
    int64_t n;

    fill(f);
    assert_int_equal(store_mam_count(f->st, f->alice, &bare, &n), TD_OK);
    assert_int_equal(n, 10);
    assert_int_equal(store_mam_count(f->st, f->alice, &full, &n), TD_OK);
    assert_int_equal(n, 5);
    assert_int_equal(store_mam_query(f->st, f->alice, &full, true, 50, got_cb, &g), TD_OK);
    assert_int_equal(g.n, 5);
    for (size_t i = 0; i < g.n; i++)
        assert_int_equal(g.ids[i] % 2, 1);
    assert_int_equal(g.ids[0], 19);
    assert_int_equal(store_mam_count(f->st, f->alice, &none, &n), TD_OK);
    assert_int_equal(n, 0);
    /* another account's rows never show */
    struct store_mam_filter alice = {.with_bare = "alice@localhost"};
    assert_int_equal(store_mam_count(f->st, f->alice, &alice, &n), TD_OK);
    assert_int_equal(n, 0);
    assert_int_equal(store_mam_has(f->st, f->alice, 15), TD_OK);
    assert_int_equal(store_mam_has(f->st, f->alice, 100), TD_ENOTFOUND);
    assert_int_equal(store_mam_has(f->st, f->bob, 100), TD_OK);
}

static void test_trim(void **state)
{
    struct fx *f = *state;
    struct store_mam_filter all = {0};
    struct got g = {0};
    int64_t n;

    /* max 10: no slack (10 / 100 = 0), the oldest go one by one */
    for (int64_t i = 1; i <= 15; i++)
        add(f, f->alice, i, "bob@localhost", "", true, 10);
    assert_int_equal(store_mam_size(f->st, f->alice, &n), TD_OK);
    assert_int_equal(n, 10);
    assert_int_equal(store_mam_query(f->st, f->alice, &all, false, 50, got_cb, &g), TD_OK);
    assert_int_equal(g.n, 10);
    assert_int_equal(g.ids[0], 6);
    assert_int_equal(g.ids[9], 15);
    /* max 200: one past it drops 1 + 2 of slack */
    for (int64_t i = 1000; i < 1201; i++)
        add(f, f->bob, i, "alice@localhost", "", false, 200);
    assert_int_equal(store_mam_size(f->st, f->bob, &n), TD_OK);
    assert_int_equal(n, 198);
    assert_int_equal(store_mam_has(f->st, f->bob, 1002), TD_ENOTFOUND);
    assert_int_equal(store_mam_has(f->st, f->bob, 1003), TD_OK);
    /* alice's archive was not touched by bob's trim */
    assert_int_equal(store_mam_size(f->st, f->alice, &n), TD_OK);
    assert_int_equal(n, 10);
}

static void test_prefs(void **state)
{
    struct fx *f = *state;
    enum store_mam_default d;

    assert_int_equal(store_mam_prefs_get(f->st, f->alice, &d), TD_OK);
    assert_int_equal(d, STORE_MAM_ALWAYS);
    assert_int_equal(store_mam_prefs_set(f->st, f->alice, STORE_MAM_ROSTER), TD_OK);
    assert_int_equal(store_mam_prefs_get(f->st, f->alice, &d), TD_OK);
    assert_int_equal(d, STORE_MAM_ROSTER);
    /* adding messages keeps the preference; the count starts from the row */
    add(f, f->alice, 5, "bob@localhost", "", true, 0);
    assert_int_equal(store_mam_prefs_get(f->st, f->alice, &d), TD_OK);
    assert_int_equal(d, STORE_MAM_ROSTER);
    assert_int_equal(store_mam_prefs_set(f->st, f->alice, STORE_MAM_NEVER), TD_OK);
    assert_int_equal(store_mam_prefs_get(f->st, f->alice, &d), TD_OK);
    assert_int_equal(d, STORE_MAM_NEVER);
    assert_int_equal(store_mam_prefs_get(f->st, f->bob, &d), TD_OK);
    assert_int_equal(d, STORE_MAM_ALWAYS);
    assert_int_equal(store_mam_prefs_set(f->st, f->alice, (enum store_mam_default)7), TD_EINVAL);
    assert_int_equal(store_mam_prefs_set(f->st, 999999, STORE_MAM_NEVER), TD_ENOTFOUND);
}

static void test_bad_arguments(void **state)
{
    struct fx *f = *state;
    char *big = malloc(STORE_MAM_STANZA_MAX + 2);
    char *longjid = malloc(STORE_MAM_JID_MAX + 2);
    struct store_mam_msg m = {.id = 1, .with_bare = "bob@localhost", .with_res = "",
                              .stanza = "<message/>"};
    struct got g = {0};
    struct store_mam_filter all = {0};

    memset(big, 'x', STORE_MAM_STANZA_MAX + 1);
    big[STORE_MAM_STANZA_MAX + 1] = '\0';
    memset(longjid, 'j', STORE_MAM_JID_MAX + 1);
    longjid[STORE_MAM_JID_MAX + 1] = '\0';
    assert_int_equal(store_mam_add(f->st, f->alice, NULL, 0), TD_EINVAL);
    m.id = 0;
    assert_int_equal(store_mam_add(f->st, f->alice, &m, 0), TD_EINVAL);
    m.id = 1;
    m.stanza = big;
    assert_int_equal(store_mam_add(f->st, f->alice, &m, 0), TD_EINVAL);
    m.stanza = "";
    assert_int_equal(store_mam_add(f->st, f->alice, &m, 0), TD_EINVAL);
    m.stanza = "<message/>";
    m.with_bare = longjid;
    assert_int_equal(store_mam_add(f->st, f->alice, &m, 0), TD_EINVAL);
    m.with_bare = NULL;
    assert_int_equal(store_mam_add(f->st, f->alice, &m, 0), TD_EINVAL);
    m.with_bare = "bob@localhost";
    assert_int_equal(store_mam_add(f->st, f->alice, &m, -1), TD_EINVAL);
    assert_int_equal(store_mam_add(f->st, 999999, &m, 0), TD_ENOTFOUND);
    /* hostile text is kept as given */
    m.stanza = "<message>'; DROP TABLE mam_messages; --\xc3\xa9</message>";
    assert_int_equal(store_mam_add(f->st, f->alice, &m, 0), TD_OK);
    assert_int_equal(store_mam_add(f->st, f->bob, &m, 0), TD_EEXIST); /* ids are global */
    assert_int_equal(store_mam_query(f->st, f->alice, &all, false, 5, got_cb, &g), TD_OK);
    assert_int_equal(g.n, 1);
    assert_string_equal(g.stanza, m.stanza);
    free(big);
    free(longjid);
}

#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)

int main(void)
{
    const struct CMUnitTest tests[] = {
        T(test_query_forward_backward), T(test_query_with), T(test_trim), T(test_prefs),
        T(test_bad_arguments),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
