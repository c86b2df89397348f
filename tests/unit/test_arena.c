/* SPDX-License-Identifier: MIT */
/* Unit tests for core/arena: alignment, big allocations, reset reuse. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdalign.h>
#include <string.h>

#include "core/arena.h"

static void test_alignment_and_copies(void **state)
{
    struct arena *a = arena_new(256);
    (void)state;
    for (int i = 0; i < 200; i++) {
        void *p = arena_alloc(a, (size_t)(i % 13) + 1);
        assert_int_equal((uintptr_t)p % alignof(max_align_t), 0);
        memset(p, 0xAB, (size_t)(i % 13) + 1);
    }
    assert_string_equal(arena_strdup(a, "abc"), "abc");
    assert_string_equal(arena_strndup(a, "abcdef", 3), "abc");
    assert_string_equal(arena_printf(a, "%s-%d", "x", 42), "x-42");
    char *z = arena_calloc(a, 64);
    for (int i = 0; i < 64; i++)
        assert_int_equal(z[i], 0);
    arena_free(a);
    arena_free(NULL);
}

static void test_big_and_reset(void **state)
{
    struct arena *a = arena_new(1024);
    (void)state;
    char *small = arena_alloc(a, 16);
    char *big = arena_alloc(a, 100000); /* its own chunk */
    memset(big, 1, 100000);
    char *after = arena_alloc(a, 16); /* still from the first chunk */
    assert_true(after > small && after < small + 1024);
    for (int round = 0; round < 50; round++) {
        arena_reset(a);
        for (int i = 0; i < 100; i++)
            memset(arena_alloc(a, 100), 2, 100);
        memset(arena_alloc(a, 5000), 3, 5000);
    }
    arena_free(a);
}

static void note(void *p)
{
    int *log = p;
    log[log[0] + 1] = log[0] + 1; /* order of calls */
    log[0]++;
}

static void note_last(void *p)
{
    int *log = p;
    log[9] = log[0]; /* how many ran before this one */
    log[0]++;
}

/* Deferred calls run once, newest first, at reset and at free. */
static void test_defer(void **state)
{
    struct arena *a = arena_new(256);
    int log[10] = {0};
    (void)state;

    arena_defer(a, note_last, log); /* registered first: runs last */
    arena_defer(a, note, log);
    arena_defer(a, note, log);
    assert_int_equal(log[0], 0);
    arena_reset(a);
    assert_int_equal(log[0], 3);
    assert_int_equal(log[9], 2);
    arena_reset(a); /* nothing left to run */
    assert_int_equal(log[0], 3);
    arena_defer(a, note, log);
    arena_free(a);
    assert_int_equal(log[0], 4);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_alignment_and_copies),
        cmocka_unit_test(test_big_and_reset),
        cmocka_unit_test(test_defer),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
