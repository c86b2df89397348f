/* SPDX-License-Identifier: MIT */
/* Unit tests for store/store_sqlite_muc.c (store_muc.h): put, replace,
 * list per service in name order, delete, a stopping callback, and the
 * limits on names and document size. A fresh database in its own mkdtemp
 * directory per test. */
#include "core/err.h"
#include "store/store.h"
#include "store/store_muc.h"

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
};

static int setup(void **state)
{
    struct fx *f = calloc(1, sizeof(*f));
    struct store_opts o = {0};
    char *err = NULL;

    snprintf(f->dir, sizeof(f->dir), "/tmp/test_store_muc.XXXXXX");
    if (mkdtemp(f->dir) == NULL)
        return -1;
    snprintf(f->path, sizeof(f->path), "%s/tandem.db", f->dir);
    o.path = f->path;
    o.apply_migrations = true;
    if (store_open(&o, &f->st, &err) != TD_OK) {
        free(err);
        return -1;
    }
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fx *f = *state;
    char p[160];

    store_close(f->st);
    snprintf(p, sizeof(p), "%s-wal", f->path);
    unlink(p);
    snprintf(p, sizeof(p), "%s-shm", f->path);
    unlink(p);
    unlink(f->path);
    rmdir(f->dir);
    free(f);
    return 0;
}

struct seen {
    char names[8][32];
    char data[8][64];
    size_t n, stop_at;
};

static int collect(void *ud, const char *name, const char *data)
{
    struct seen *s = ud;
    snprintf(s->names[s->n], sizeof(s->names[0]), "%s", name);
    snprintf(s->data[s->n], sizeof(s->data[0]), "%s", data);
    s->n++;
    return s->stop_at && s->n >= s->stop_at;
}

static void test_put_list_delete(void **state)
{
    struct fx *f = *state;
    struct seen s = {0};

    assert_int_equal(store_muc_put(f->st, "conference.a", "zeta", "{\"z\":1}"), TD_OK);
    assert_int_equal(store_muc_put(f->st, "conference.a", "alpha", "{\"a\":1}"), TD_OK);
    assert_int_equal(store_muc_put(f->st, "conference.b", "other", "{}"), TD_OK);
    /* replace */
    assert_int_equal(store_muc_put(f->st, "conference.a", "alpha", "{\"a\":2}"), TD_OK);
    assert_int_equal(store_muc_list(f->st, "conference.a", collect, &s), TD_OK);
    assert_int_equal(s.n, 2);
    assert_string_equal(s.names[0], "alpha");
    assert_string_equal(s.data[0], "{\"a\":2}");
    assert_string_equal(s.names[1], "zeta");
    /* a callback that stops */
    memset(&s, 0, sizeof(s));
    s.stop_at = 1;
    assert_int_equal(store_muc_list(f->st, "conference.a", collect, &s), TD_OK);
    assert_int_equal(s.n, 1);
    /* delete, twice */
    assert_int_equal(store_muc_delete(f->st, "conference.a", "alpha"), TD_OK);
    assert_int_equal(store_muc_delete(f->st, "conference.a", "alpha"), TD_OK);
    memset(&s, 0, sizeof(s));
    assert_int_equal(store_muc_list(f->st, "conference.a", collect, &s), TD_OK);
    assert_int_equal(s.n, 1);
    assert_string_equal(s.names[0], "zeta");
    memset(&s, 0, sizeof(s));
    assert_int_equal(store_muc_list(f->st, "nothing.here", collect, &s), TD_OK);
    assert_int_equal(s.n, 0);
}

static void test_limits(void **state)
{
    struct fx *f = *state;
    char *big = malloc(STORE_MUC_DATA_MAX + 2);
    char name[STORE_MUC_NAME_MAX + 2];

    assert_non_null(big);
    memset(big, 'x', STORE_MUC_DATA_MAX + 1);
    big[STORE_MUC_DATA_MAX + 1] = '\0';
    assert_int_equal(store_muc_put(f->st, "c", "r", big), TD_ETOOBIG);
    big[STORE_MUC_DATA_MAX] = '\0';
    assert_int_equal(store_muc_put(f->st, "c", "r", big), TD_OK);
    free(big);
    memset(name, 'n', sizeof(name) - 1);
    name[sizeof(name) - 1] = '\0';
    assert_int_equal(store_muc_put(f->st, "c", name, "{}"), TD_EINVAL);
    assert_int_equal(store_muc_put(f->st, "", "r", "{}"), TD_EINVAL);
    assert_int_equal(store_muc_put(f->st, "c", "", "{}"), TD_EINVAL);
    assert_int_equal(store_muc_put(f->st, "c", "r", NULL), TD_EINVAL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_put_list_delete, setup, teardown),
        cmocka_unit_test_setup_teardown(test_limits, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
