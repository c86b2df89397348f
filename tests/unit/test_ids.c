/* SPDX-License-Identifier: MIT */
/* Unit tests for core/ids.c: order, sign, embedded time and node bits. */
#include "core/ids.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include <cmocka.h>

static int64_t wall_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void test_strictly_increasing(void **state)
{
    int64_t prev = ids_next();

    (void)state;
    assert_true(prev > 0);
    /* 100k draws outrun 4096 per millisecond, so the borrow path runs too. */
    for (int i = 0; i < 100000; i++) {
        int64_t id = ids_next();

        assert_true(id > 0);
        if (id <= prev)
            fail_msg("id %lld not above %lld at %d", (long long)id, (long long)prev, i);
        prev = id;
    }
}

static void test_time_extraction(void **state)
{
    int64_t before = wall_ms();
    int64_t id = ids_next();
    int64_t after = wall_ms();
    int64_t t = ids_time_ms(id);

    (void)state;
    /* Borrowed milliseconds from the previous test may put t slightly ahead. */
    assert_true(t >= before - 5);
    assert_true(t <= after + 1000);
    assert_int_equal(ids_time_ms((int64_t)0), IDS_EPOCH_MS);
}

static void test_node_bits(void **state)
{
    int64_t a;
    int64_t b;

    (void)state;
    ids_set_node(5);
    a = ids_next();
    assert_int_equal((a >> IDS_SEQ_BITS) & IDS_NODE_MAX, 5);
    /* Lowering the node must not break the order. */
    ids_set_node(0);
    b = ids_next();
    assert_true(b > a);
    assert_int_equal((b >> IDS_SEQ_BITS) & IDS_NODE_MAX, 0);
    /* Out-of-range node ids are masked, never spill into the time bits. */
    ids_set_node(IDS_NODE_MAX + 3);
    a = ids_next();
    assert_int_equal((a >> IDS_SEQ_BITS) & IDS_NODE_MAX, 2);
    assert_true(a > b);
    ids_set_node(-1);
    b = ids_next();
    assert_true(b > a);
    assert_int_equal((b >> IDS_SEQ_BITS) & IDS_NODE_MAX, IDS_NODE_MAX);
    ids_set_node(0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_strictly_increasing),
        cmocka_unit_test(test_time_extraction),
        cmocka_unit_test(test_node_bits),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
