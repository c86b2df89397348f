/* SPDX-License-Identifier: MIT */
/* Unit tests for auth/auth_ratelimit: the limit and retry_after, the window
 * sliding (exactly, event by event), reset, keys being independent and
 * case-sensitive, reconfiguration, and the key cap with eviction under a
 * flood of distinct keys. All times are explicit. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "auth/auth_ratelimit.h"
#include "core/err.h"

static void test_limit_and_retry(void **state)
{
    struct auth_ratelimit *rl = auth_ratelimit_new(3, 1000, 100);
    int64_t ra = -1;

    (void)state;
    assert_int_equal(auth_ratelimit_check(rl, "u:bob", 0, &ra), TD_OK);
    assert_int_equal(ra, 0);
    auth_ratelimit_hit(rl, "u:bob", 0);
    auth_ratelimit_hit(rl, "u:bob", 100);
    assert_int_equal(auth_ratelimit_check(rl, "u:bob", 150, &ra), TD_OK);
    auth_ratelimit_hit(rl, "u:bob", 200);
    assert_int_equal(auth_ratelimit_check(rl, "u:bob", 300, &ra), TD_ELIMIT);
    assert_int_equal(ra, 700);
    /* check does not count: still the same answer. */
    assert_int_equal(auth_ratelimit_check(rl, "u:bob", 300, &ra), TD_ELIMIT);
    assert_int_equal(ra, 700);
    assert_int_equal(auth_ratelimit_check(rl, "u:bob", 999, &ra), TD_ELIMIT);
    assert_int_equal(ra, 1);
    assert_int_equal(auth_ratelimit_check(rl, "u:bob", 300, NULL), TD_ELIMIT);
    /* Other keys are unaffected; keys are case-sensitive. */
    assert_int_equal(auth_ratelimit_check(rl, "u:alice", 300, &ra), TD_OK);
    assert_int_equal(auth_ratelimit_check(rl, "u:BOB", 300, &ra), TD_OK);
    assert_int_equal(auth_ratelimit_check(rl, "a:bob", 300, &ra), TD_OK);
    auth_ratelimit_free(rl);
}

/* The window slides: after the oldest failure leaves it, one more try is
 * allowed, and retry_after then points at the next-oldest failure. */
static void test_window_slides(void **state)
{
    struct auth_ratelimit *rl = auth_ratelimit_new(3, 1000, 100);
    int64_t ra;

    (void)state;
    auth_ratelimit_hit(rl, "k", 0);
    auth_ratelimit_hit(rl, "k", 100);
    auth_ratelimit_hit(rl, "k", 200);
    assert_int_equal(auth_ratelimit_check(rl, "k", 1000, &ra), TD_OK); /* 0 has left */
    auth_ratelimit_hit(rl, "k", 1000);
    assert_int_equal(auth_ratelimit_check(rl, "k", 1001, &ra), TD_ELIMIT);
    assert_int_equal(ra, 99); /* 100 + 1000 - 1001 */
    assert_int_equal(auth_ratelimit_check(rl, "k", 1100, &ra), TD_OK);
    auth_ratelimit_hit(rl, "k", 1100);
    assert_int_equal(auth_ratelimit_check(rl, "k", 1150, &ra), TD_ELIMIT);
    assert_int_equal(ra, 50); /* 200 + 1000 - 1150 */
    /* Long after everything: allowed, and the stale entry is dropped. */
    assert_int_equal(auth_ratelimit_size(rl), 1);
    assert_int_equal(auth_ratelimit_check(rl, "k", 10000, &ra), TD_OK);
    assert_int_equal(ra, 0);
    assert_int_equal(auth_ratelimit_size(rl), 0);
    auth_ratelimit_free(rl);
}

/* Many failures (more than the ring holds) keep the newest ones. */
static void test_many_hits(void **state)
{
    struct auth_ratelimit *rl = auth_ratelimit_new(5, 1000, 10);
    int64_t ra;

    (void)state;
    for (int64_t t = 0; t < 100; t++)
        auth_ratelimit_hit(rl, "k", t * 10);
    /* Newest five: 950..990; the fifth newest is 950. */
    assert_int_equal(auth_ratelimit_check(rl, "k", 1000, &ra), TD_ELIMIT);
    assert_int_equal(ra, 950);
    assert_int_equal(auth_ratelimit_check(rl, "k", 1950, &ra), TD_OK);
    auth_ratelimit_free(rl);
}

static void test_reset(void **state)
{
    struct auth_ratelimit *rl = auth_ratelimit_new(2, 60000, 100);
    int64_t ra;

    (void)state;
    auth_ratelimit_hit(rl, "u:carol", 10);
    auth_ratelimit_hit(rl, "u:carol", 20);
    auth_ratelimit_hit(rl, "a:192.0.2.1", 20);
    assert_int_equal(auth_ratelimit_check(rl, "u:carol", 30, &ra), TD_ELIMIT);
    assert_int_equal(auth_ratelimit_size(rl), 2);
    auth_ratelimit_reset(rl, "u:carol");
    assert_int_equal(auth_ratelimit_size(rl), 1);
    assert_int_equal(auth_ratelimit_check(rl, "u:carol", 30, &ra), TD_OK);
    auth_ratelimit_reset(rl, "u:nobody"); /* harmless */
    auth_ratelimit_reset(rl, NULL);
    assert_int_equal(auth_ratelimit_size(rl), 1);
    auth_ratelimit_hit(rl, "u:carol", 40);
    assert_int_equal(auth_ratelimit_check(rl, "u:carol", 41, &ra), TD_OK);
    auth_ratelimit_free(rl);
}

static void test_configure(void **state)
{
    struct auth_ratelimit *rl = auth_ratelimit_new(2, 1000, 100);
    int64_t ra;

    (void)state;
    auth_ratelimit_hit(rl, "k", 0);
    auth_ratelimit_hit(rl, "k", 10);
    assert_int_equal(auth_ratelimit_check(rl, "k", 20, &ra), TD_ELIMIT);
    /* Raise the limit: the ring grows and keeps the old failures. */
    auth_ratelimit_configure(rl, 4, 1000);
    assert_int_equal(auth_ratelimit_check(rl, "k", 20, &ra), TD_OK);
    auth_ratelimit_hit(rl, "k", 20);
    auth_ratelimit_hit(rl, "k", 30);
    assert_int_equal(auth_ratelimit_check(rl, "k", 40, &ra), TD_ELIMIT);
    assert_int_equal(ra, 960); /* the 4th newest is 0 */
    /* Lower it again and shorten the window. */
    auth_ratelimit_configure(rl, 1, 100);
    assert_int_equal(auth_ratelimit_check(rl, "k", 40, &ra), TD_ELIMIT);
    assert_int_equal(ra, 90); /* the newest is 30 */
    assert_int_equal(auth_ratelimit_check(rl, "k", 130, &ra), TD_OK);
    /* Zero values are clamped, never divide or block forever. */
    auth_ratelimit_configure(rl, 0, 0);
    auth_ratelimit_hit(rl, "z", 500);
    assert_int_equal(auth_ratelimit_check(rl, "z", 500, &ra), TD_ELIMIT);
    assert_int_equal(ra, 1);
    assert_int_equal(auth_ratelimit_check(rl, "z", 501, &ra), TD_OK);
    auth_ratelimit_free(rl);
}

/* A flood of distinct keys never grows the table past max_keys; the oldest
 * entries are evicted and the newest are kept. */
static void test_key_cap(void **state)
{
    enum { MAXK = 64 };
    struct auth_ratelimit *rl = auth_ratelimit_new(1, 1000000, MAXK);
    char key[32];
    int64_t ra;

    (void)state;
    for (int i = 0; i < 10 * MAXK; i++) {
        snprintf(key, sizeof(key), "u:user%d", i);
        auth_ratelimit_hit(rl, key, i);
        assert_true(auth_ratelimit_size(rl) <= MAXK);
    }
    assert_int_equal(auth_ratelimit_size(rl), MAXK);
    /* The newest MAXK keys are still limited; older ones were evicted. */
    for (int i = 9 * MAXK; i < 10 * MAXK; i++) {
        snprintf(key, sizeof(key), "u:user%d", i);
        assert_int_equal(auth_ratelimit_check(rl, key, 10 * MAXK, &ra), TD_ELIMIT);
    }
    snprintf(key, sizeof(key), "u:user%d", 0);
    assert_int_equal(auth_ratelimit_check(rl, key, 10 * MAXK, &ra), TD_OK);
    auth_ratelimit_free(rl);
}

/* Eviction prefers the least recently hit key: a key hit again stays. */
static void test_eviction_order(void **state)
{
    struct auth_ratelimit *rl = auth_ratelimit_new(1, 1000000, 3);
    int64_t ra;

    (void)state;
    auth_ratelimit_hit(rl, "a", 1);
    auth_ratelimit_hit(rl, "b", 2);
    auth_ratelimit_hit(rl, "c", 3);
    auth_ratelimit_hit(rl, "a", 4); /* a becomes the newest */
    auth_ratelimit_hit(rl, "d", 5); /* evicts b */
    assert_int_equal(auth_ratelimit_size(rl), 3);
    assert_int_equal(auth_ratelimit_check(rl, "a", 6, &ra), TD_ELIMIT);
    assert_int_equal(auth_ratelimit_check(rl, "b", 6, &ra), TD_OK);
    assert_int_equal(auth_ratelimit_check(rl, "c", 6, &ra), TD_ELIMIT);
    assert_int_equal(auth_ratelimit_check(rl, "d", 6, &ra), TD_ELIMIT);
    auth_ratelimit_free(rl);
}

/* Hostile keys: very long (cut to AUTH_RATELIMIT_KEY_MAX), empty, NULL. */
static void test_odd_keys(void **state)
{
    struct auth_ratelimit *rl = auth_ratelimit_new(1, 1000, 0); /* max_keys 0 → 1 */
    char big[AUTH_RATELIMIT_KEY_MAX * 4];
    int64_t ra;

    (void)state;
    memset(big, 'x', sizeof(big) - 1);
    big[sizeof(big) - 1] = '\0';
    auth_ratelimit_hit(rl, big, 0);
    assert_int_equal(auth_ratelimit_check(rl, big, 1, &ra), TD_ELIMIT);
    big[AUTH_RATELIMIT_KEY_MAX + 5] = 'y'; /* past the cut: same key */
    assert_int_equal(auth_ratelimit_check(rl, big, 1, &ra), TD_ELIMIT);
    auth_ratelimit_hit(rl, "", 2);
    assert_int_equal(auth_ratelimit_size(rl), 1);
    assert_int_equal(auth_ratelimit_check(rl, "", 3, &ra), TD_ELIMIT);
    auth_ratelimit_hit(rl, NULL, 3);
    assert_int_equal(auth_ratelimit_check(rl, NULL, 3, &ra), TD_OK);
    auth_ratelimit_free(rl);
    auth_ratelimit_free(NULL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_limit_and_retry),
        cmocka_unit_test(test_window_slides),
        cmocka_unit_test(test_many_hits),
        cmocka_unit_test(test_reset),
        cmocka_unit_test(test_configure),
        cmocka_unit_test(test_key_cap),
        cmocka_unit_test(test_eviction_order),
        cmocka_unit_test(test_odd_keys),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
