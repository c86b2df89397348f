/* SPDX-License-Identifier: MIT */
/* Unit tests for src/xmpp/xmpp_jid.c: the RFC 7622 §3.1 split order, ASCII
 * case folding of localpart and domainpart (never of the resource), the
 * characters a localpart refuses, empty parts, the 1023-byte limits, bad
 * UTF-8 and control characters, and the bare/full renderings. */
#include "core/arena.h"
#include "core/err.h"
#include "xmpp/xmpp_jid.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

static int setup(void **state)
{
    *state = arena_new(0);
    return 0;
}

static int teardown(void **state)
{
    arena_free(*state);
    return 0;
}

static void check(struct arena *a, const char *in, const char *local, const char *domain,
                  const char *resource)
{
    struct xmpp_jid j;

    assert_int_equal(xmpp_jid_parse(a, in, &j), TD_OK);
    if (local)
        assert_string_equal(j.local, local);
    else
        assert_null(j.local);
    assert_string_equal(j.domain, domain);
    if (resource)
        assert_string_equal(j.resource, resource);
    else
        assert_null(j.resource);
}

static void bad(struct arena *a, const char *in)
{
    struct xmpp_jid j;

    if (xmpp_jid_parse(a, in, &j) != TD_EINVAL)
        fail_msg("accepted: %s", in);
    assert_null(j.domain);
}

static void test_valid(void **state)
{
    struct arena *a = *state;

    check(a, "juliet@example.com", "juliet", "example.com", NULL);
    check(a, "juliet@example.com/foo", "juliet", "example.com", "foo");
    check(a, "example.com", NULL, "example.com", NULL);
    check(a, "example.com/foo", NULL, "example.com", "foo");
    /* §3.1: the resource starts at the first '/', and may hold '@' and '/' */
    check(a, "juliet@example.com/foo@bar/baz", "juliet", "example.com", "foo@bar/baz");
    check(a, "example.com/juliet@example.net", NULL, "example.com", "juliet@example.net");
    check(a, "juliet@example.com/foo bar", "juliet", "example.com", "foo bar");
    check(a, "localhost", NULL, "localhost", NULL);
    check(a, "a@[::1]/r", "a", "[::1]", "r");
    check(a, "a@127.0.0.1", "a", "127.0.0.1", NULL);
    /* non-ASCII kept as is */
    check(a, "\xc3\xa9lise@example.com/\xe2\x99\x9a", "\xc3\xa9lise", "example.com", "\xe2\x99\x9a");
}

static void test_case_folding(void **state)
{
    struct arena *a = *state;

    check(a, "JuLiEt@Example.COM/Balcony", "juliet", "example.com", "Balcony");
    /* §3.2: one trailing dot of the domain is dropped */
    check(a, "juliet@example.com.", "juliet", "example.com", NULL);
    check(a, "juliet@example.com./R", "juliet", "example.com", "R");
    assert_string_equal(xmpp_jid_local_prep(a, "RoMeO"), "romeo");
    assert_null(xmpp_jid_local_prep(a, "ro meo"));
    assert_null(xmpp_jid_local_prep(a, ""));
    assert_null(xmpp_jid_local_prep(a, NULL));
}

static void test_invalid(void **state)
{
    struct arena *a = *state;

    bad(a, "");
    bad(a, "@example.com");
    bad(a, "juliet@");
    bad(a, "juliet@example.com/");
    bad(a, "/foo");
    bad(a, "example.com.."); /* one trailing dot only */
    bad(a, "exa..mple.com");
    bad(a, ".example.com");
    bad(a, "jul iet@example.com");
    bad(a, "jul\"iet@example.com");
    bad(a, "jul&iet@example.com");
    bad(a, "jul'iet@example.com");
    bad(a, "jul:iet@example.com");
    bad(a, "jul<iet@example.com");
    bad(a, "jul>iet@example.com");
    bad(a, "a@b@example.com"); /* the second '@' lands in the domain */
    bad(a, "juliet@exa mple.com");
    bad(a, "juliet@exa_mple.com");
    bad(a, "juliet@[::1");
    bad(a, "juliet@[xyz]");
    bad(a, "jul\xc2\xa0iet@example.com"); /* no-break space */
    bad(a, "juliet@example.com/a\x01");
    bad(a, "juliet@example.com/a\x7f");
    bad(a, "juliet@example.com/a\xc2\x85"); /* C1 control NEL */
    bad(a, "jul\tiet@example.com");
    bad(a, "juliet@example.com/\xff");
    bad(a, "\xc0\xafjuliet@example.com"); /* overlong */
    bad(a, "juliet@example.com/\xed\xa0\x80"); /* surrogate */
    struct xmpp_jid j;
    assert_int_equal(xmpp_jid_parse(a, NULL, &j), TD_EINVAL);
}

static char *repeat(char c, size_t n)
{
    char *s = malloc(n + 1);
    assert_non_null(s);
    memset(s, c, n);
    s[n] = '\0';
    return s;
}

static void test_limits(void **state)
{
    struct arena *a = *state;
    char *p1023 = repeat('a', 1023);
    char *p1024 = repeat('a', 1024);
    char *huge = repeat('a', 100000);
    char *s = NULL;
    struct xmpp_jid j;

    /* 1023 bytes per part is fine, 1024 is not, for each part */
    s = arena_printf(a, "%s@%s/%s", p1023, "example.com", p1023);
    assert_int_equal(xmpp_jid_parse(a, s, &j), TD_OK);
    assert_int_equal(strlen(j.local), 1023);
    assert_int_equal(strlen(j.resource), 1023);
    bad(a, arena_printf(a, "%s@example.com", p1024));
    bad(a, arena_printf(a, "a@example.com/%s", p1024));
    bad(a, arena_printf(a, "a@%s", p1024));
    s = arena_printf(a, "a@%s", p1023);
    assert_int_equal(xmpp_jid_parse(a, s, &j), TD_OK);
    /* a trailing dot does not count against the domain's limit */
    s = arena_printf(a, "a@%s.", p1023);
    assert_int_equal(xmpp_jid_parse(a, s, &j), TD_OK);
    bad(a, huge);
    bad(a, arena_printf(a, "a@b/%s", huge));
    /* localpart limit also for local_prep */
    assert_non_null(xmpp_jid_local_prep(a, p1023));
    assert_null(xmpp_jid_local_prep(a, p1024));
    free(p1023);
    free(p1024);
    free(huge);
}

static void test_render(void **state)
{
    struct arena *a = *state;
    struct xmpp_jid j;

    assert_int_equal(xmpp_jid_parse(a, "Romeo@Example.net/Orchard", &j), TD_OK);
    assert_true(xmpp_jid_is_full(&j));
    assert_string_equal(xmpp_jid_bare(a, &j), "romeo@example.net");
    assert_string_equal(xmpp_jid_full(a, &j), "romeo@example.net/Orchard");
    assert_int_equal(xmpp_jid_parse(a, "example.net/x", &j), TD_OK);
    assert_string_equal(xmpp_jid_bare(a, &j), "example.net");
    assert_string_equal(xmpp_jid_full(a, &j), "example.net/x");
    assert_int_equal(xmpp_jid_parse(a, "example.net", &j), TD_OK);
    assert_false(xmpp_jid_is_full(&j));
    assert_string_equal(xmpp_jid_full(a, &j), "example.net");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_valid, setup, teardown),
        cmocka_unit_test_setup_teardown(test_case_folding, setup, teardown),
        cmocka_unit_test_setup_teardown(test_invalid, setup, teardown),
        cmocka_unit_test_setup_teardown(test_limits, setup, teardown),
        cmocka_unit_test_setup_teardown(test_render, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
