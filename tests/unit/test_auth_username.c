/* SPDX-License-Identifier: MIT */
/* Unit tests for auth/auth_username: accepted names, length limits, the
 * alphabet (spaces, punctuation, non-ASCII, control bytes), reserved names in
 * any case, and lowercasing. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "auth/auth_username.h"

#define SHAPE "Usernames are 1 to 30 characters: letters a\xe2\x80\x93z, digits and underscore."
#define RESERVED "That name is reserved."

static void test_valid(void **state)
{
    static const char *ok[] = {
        "alice", "Bob", "a", "x_1", "_", "__init__", "0", "1234567890",
        "abcdefghijklmnopqrstuvwxyz0123", /* exactly 30 */
        "ADMINS", "rooted", "users1", "u2", "Administrators",
    };

    (void)state;
    for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
        const char *r = auth_username_check(ok[i]);
        if (r != NULL)
            fail_msg("%s refused: %s", ok[i], r);
    }
}

static void test_shape(void **state)
{
    static const char *bad[] = {
        "",
        "abcdefghijklmnopqrstuvwxyz01234", /* 31 */
        "al ice", " alice", "alice ", "al-ice", "al.ice", "al@ice", "alice!", "a/b", "a:b",
        "caf\xc3\xa9",           /* é */
        "\xd0\xb0\x64min",         /* Cyrillic a, then "dmin" */
        "ali\tce", "ali\nce", "\x7f", "al\xff",
        "well-known",
    };

    (void)state;
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        const char *r = auth_username_check(bad[i]);
        if (r == NULL || strcmp(r, SHAPE) != 0)
            fail_msg("\"%s\" gave %s", bad[i], r ? r : "NULL");
    }
    assert_string_equal(auth_username_check(NULL), SHAPE);
}

/* A very long name is refused without reading it all (strnlen bound); ASan
 * would flag reading past a 31-byte unterminated buffer. */
static void test_long_unterminated(void **state)
{
    char name[AUTH_USERNAME_MAX + 1];

    (void)state;
    memset(name, 'a', sizeof(name)); /* no NUL anywhere */
    assert_string_equal(auth_username_check(name), SHAPE);
}

static void test_reserved(void **state)
{
    static const char *res[] = {
        "admin", "ADMIN", "Admin", "aDmIn", "root", "ROOT", "tandem", "Tandem", "u", "U",
        "postmaster", "PostMaster", "null", "undefined", "everyone", "official", "healthz",
        "oauth", "OIDC", "Xmpp", "www", "Moderator", "staff", "administrator", "abuse",
    };

    (void)state;
    for (size_t i = 0; i < sizeof(res) / sizeof(res[0]); i++) {
        const char *r = auth_username_check(res[i]);
        if (r == NULL || strcmp(r, RESERVED) != 0)
            fail_msg("\"%s\" gave %s", res[i], r ? r : "NULL");
    }
}

static void test_lower(void **state)
{
    char out[AUTH_USERNAME_MAX + 1];
    char big[64];

    (void)state;
    auth_username_lower("AliCE_9Z", out);
    assert_string_equal(out, "alice_9z");
    auth_username_lower("", out);
    assert_string_equal(out, "");
    auth_username_lower(NULL, out);
    assert_string_equal(out, "");
    memset(big, 'Q', sizeof(big) - 1);
    big[sizeof(big) - 1] = '\0';
    auth_username_lower(big, out);
    assert_int_equal(strlen(out), AUTH_USERNAME_MAX);
    assert_int_equal(out[0], 'q');
    /* Non-ASCII bytes pass through unchanged (no locale). */
    auth_username_lower("\xc3\x89T", out);
    assert_string_equal(out, "\xc3\x89t");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_valid),
        cmocka_unit_test(test_shape),
        cmocka_unit_test(test_long_unterminated),
        cmocka_unit_test(test_reserved),
        cmocka_unit_test(test_lower),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
