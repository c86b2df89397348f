/* SPDX-License-Identifier: MIT */
/* Unit tests for xmpp/xmpp_router: add/find/remove, resource conflicts
 * (RFC 6120 §7.7.2.2), iteration over a bare JID's resources, and the
 * choice of resources for a message to a bare JID (RFC 6121 §8.5.2.1.1:
 * available, highest non-negative priority, ties all receive). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <string.h>

#include "core/err.h"
#include "xmpp/xmpp_router.h"

static void route_init(struct xmpp_route *rt, const char *full, int priority, bool available)
{
    memset(rt, 0, sizeof(*rt));
    rt->full = full;
    rt->bare_len = (size_t)(strchr(full, '/') - full);
    rt->priority = priority;
    rt->available = available;
}

static void test_add_find_remove(void **state)
{
    struct xmpp_router *r = xmpp_router_new();
    struct xmpp_route a, b, c;
    (void)state;
    route_init(&a, "alice@x/phone", 0, true);
    route_init(&b, "alice@x/laptop", 0, true);
    route_init(&c, "bob@x/desk", 0, true);
    assert_int_equal(xmpp_router_add(r, &a, NULL), TD_OK);
    assert_int_equal(xmpp_router_add(r, &b, NULL), TD_OK);
    assert_int_equal(xmpp_router_add(r, &c, NULL), TD_OK);
    assert_int_equal(xmpp_router_count(r), 3);
    assert_ptr_equal(xmpp_router_find(r, "alice@x/phone"), &a);
    assert_ptr_equal(xmpp_router_find(r, "bob@x/desk"), &c);
    assert_null(xmpp_router_find(r, "alice@x/tablet"));
    assert_null(xmpp_router_find(r, "alice@x"));
    /* Both of alice's resources, and only hers. */
    int n = 0;
    for (struct xmpp_route *it = xmpp_router_resources(r, "alice@x"); it; it = xmpp_route_next(it)) {
        assert_true(it == &a || it == &b);
        n++;
    }
    assert_int_equal(n, 2);
    assert_null(xmpp_router_resources(r, "carol@x"));
    xmpp_router_remove(r, &a);
    xmpp_router_remove(r, &a); /* idempotent */
    assert_null(xmpp_router_find(r, "alice@x/phone"));
    assert_ptr_equal(xmpp_router_resources(r, "alice@x"), &b);
    xmpp_router_remove(r, &b);
    assert_null(xmpp_router_resources(r, "alice@x"));
    assert_int_equal(xmpp_router_count(r), 1);
    xmpp_router_free(r);
}

static void test_conflict(void **state)
{
    struct xmpp_router *r = xmpp_router_new();
    struct xmpp_route old, again, bad;
    struct xmpp_route *conflict = NULL;
    (void)state;
    route_init(&old, "alice@x/phone", 0, true);
    route_init(&again, "alice@x/phone", 5, true);
    assert_int_equal(xmpp_router_add(r, &old, NULL), TD_OK);
    assert_int_equal(xmpp_router_add(r, &again, &conflict), TD_EEXIST);
    assert_ptr_equal(conflict, &old);
    assert_ptr_equal(xmpp_router_find(r, "alice@x/phone"), &old);
    /* The policy: the new session replaces the old one. */
    xmpp_router_remove(r, &old);
    assert_int_equal(xmpp_router_add(r, &again, NULL), TD_OK);
    assert_ptr_equal(xmpp_router_find(r, "alice@x/phone"), &again);
    memset(&bad, 0, sizeof(bad));
    bad.full = "alice@x";
    bad.bare_len = strlen(bad.full);
    assert_int_equal(xmpp_router_add(r, &bad, NULL), TD_EINVAL);
    xmpp_router_free(r);
}

static void test_best_resources(void **state)
{
    struct xmpp_router *r = xmpp_router_new();
    struct xmpp_route low, high1, high2, away, negative;
    struct xmpp_route *out[8];
    (void)state;
    route_init(&low, "alice@x/low", 1, true);
    route_init(&high1, "alice@x/h1", 10, true);
    route_init(&high2, "alice@x/h2", 10, true);
    route_init(&away, "alice@x/nopresence", 50, false);   /* no available presence yet */
    route_init(&negative, "bob@x/neg", -1, true);
    assert_int_equal(xmpp_router_add(r, &low, NULL), TD_OK);
    assert_int_equal(xmpp_router_add(r, &high1, NULL), TD_OK);
    assert_int_equal(xmpp_router_add(r, &high2, NULL), TD_OK);
    assert_int_equal(xmpp_router_add(r, &away, NULL), TD_OK);
    assert_int_equal(xmpp_router_add(r, &negative, NULL), TD_OK);
    /* Ties at the highest priority all receive; unavailable ones never do. */
    size_t n = xmpp_router_best(r, "alice@x", out, 8);
    assert_int_equal(n, 2);
    assert_true((out[0] == &high1 && out[1] == &high2) || (out[0] == &high2 && out[1] == &high1));
    assert_int_equal(xmpp_router_best(r, "alice@x", out, 1), 1); /* capped */
    /* Only a negative priority: nothing gets a message to the bare JID. */
    assert_int_equal(xmpp_router_best(r, "bob@x", out, 8), 0);
    assert_int_equal(xmpp_router_best(r, "carol@x", out, 8), 0);
    high1.priority = 0;
    high2.available = false;
    n = xmpp_router_best(r, "alice@x", out, 8);
    assert_int_equal(n, 1);
    assert_ptr_equal(out[0], &low);
    xmpp_router_free(r);
}

static void test_many(void **state)
{
    struct xmpp_router *r = xmpp_router_new();
    static struct xmpp_route routes[5000];
    static char names[5000][40];
    (void)state;
    for (int i = 0; i < 5000; i++) {
        snprintf(names[i], sizeof(names[i]), "user%d@x/r%d", i / 2, i % 2);
        route_init(&routes[i], names[i], 0, true);
        assert_int_equal(xmpp_router_add(r, &routes[i], NULL), TD_OK);
    }
    assert_int_equal(xmpp_router_count(r), 5000);
    for (int i = 0; i < 5000; i += 7)
        assert_ptr_equal(xmpp_router_find(r, names[i]), &routes[i]);
    for (int i = 0; i < 5000; i += 2)
        xmpp_router_remove(r, &routes[i]);
    assert_int_equal(xmpp_router_count(r), 2500);
    assert_ptr_equal(xmpp_router_resources(r, "user10@x"), &routes[21]);
    xmpp_router_free(r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_add_find_remove),
        cmocka_unit_test(test_conflict),
        cmocka_unit_test(test_best_resources),
        cmocka_unit_test(test_many),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
