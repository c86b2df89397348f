/* SPDX-License-Identifier: MIT */
/* Unit tests for auth/auth_password: blocking hash and verify (right and
 * wrong password, embedded NUL, empty), the length guard, malformed hashes,
 * needs_rehash, and the async versions through a real uv_loop, checking the
 * callback runs on the thread that called uv_run. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>
#include <sodium.h>
#include <uv.h>

#include "auth/auth_password.h"
#include "core/err.h"

static void test_hash_verify(void **state)
{
    char h[AUTH_PASSWORD_HASH_MAX];

    (void)state;
    assert_int_equal(auth_password_hash("correct horse", 13, h), TD_OK);
    assert_non_null(strstr(h, "$argon2id$"));
    assert_true(auth_password_verify(h, "correct horse", 13));
    assert_false(auth_password_verify(h, "correct horsf", 13));
    assert_false(auth_password_verify(h, "correct hors", 12));
    assert_false(auth_password_verify(h, "", 0));
    assert_false(auth_password_needs_rehash(h));
}

/* Length counts, not the NUL: a password with an embedded NUL is not its prefix. */
static void test_embedded_nul_and_empty(void **state)
{
    char h[AUTH_PASSWORD_HASH_MAX];

    (void)state;
    assert_int_equal(auth_password_hash("ab\0cd", 5, h), TD_OK);
    assert_true(auth_password_verify(h, "ab\0cd", 5));
    assert_false(auth_password_verify(h, "ab", 2));
    assert_int_equal(auth_password_hash("", 0, h), TD_OK);
    assert_true(auth_password_verify(h, "", 0));
    assert_true(auth_password_verify(h, NULL, 0));
    assert_false(auth_password_verify(h, "x", 1));
}

static void test_too_long(void **state)
{
    static char pw[AUTH_PASSWORD_MAX + 1];
    char h[AUTH_PASSWORD_HASH_MAX];

    (void)state;
    memset(pw, 'p', sizeof(pw));
    assert_int_equal(auth_password_hash(pw, AUTH_PASSWORD_MAX + 1, h), TD_EINVAL);
    assert_string_equal(h, "");
    assert_int_equal(auth_password_hash(NULL, 3, h), TD_EINVAL);
    /* Exactly the maximum is fine. */
    assert_int_equal(auth_password_hash(pw, AUTH_PASSWORD_MAX, h), TD_OK);
    assert_true(auth_password_verify(h, pw, AUTH_PASSWORD_MAX));
    assert_false(auth_password_verify(h, pw, AUTH_PASSWORD_MAX + 1));
}

static void test_bad_hashes(void **state)
{
    char junk[300];

    (void)state;
    assert_false(auth_password_verify(NULL, "x", 1));
    assert_false(auth_password_verify("", "x", 1));
    assert_false(auth_password_verify("$argon2id$v=19$m=65536,t=2,p=1$bad", "x", 1));
    assert_false(auth_password_verify("$2y$10$abcdefghijklmnopqrstuu", "x", 1));
    memset(junk, '$', sizeof(junk) - 1);
    junk[sizeof(junk) - 1] = '\0';
    assert_false(auth_password_verify(junk, "x", 1)); /* unterminated within 128 */
    assert_true(auth_password_needs_rehash(NULL));
    assert_true(auth_password_needs_rehash("garbage"));
    assert_true(auth_password_needs_rehash(junk));
}

/* A hash made with weaker parameters still verifies but wants a rehash. */
static void test_needs_rehash(void **state)
{
    char weak[crypto_pwhash_STRBYTES];

    (void)state;
    assert_true(sodium_init() >= 0);
    assert_int_equal(crypto_pwhash_str(weak, "pw", 2, crypto_pwhash_OPSLIMIT_MIN,
                                       crypto_pwhash_MEMLIMIT_MIN), 0);
    assert_true(auth_password_verify(weak, "pw", 2));
    assert_false(auth_password_verify(weak, "px", 2));
    assert_true(auth_password_needs_rehash(weak));
}

/* Async plumbing: remember what the callback saw. */
struct result {
    int calls;
    bool ok;
    char hash[AUTH_PASSWORD_HASH_MAX];
    bool on_loop_thread;
    uv_thread_t loop_thread;
};

static void on_done(void *ud, bool ok, const char *hash)
{
    struct result *r = ud;
    uv_thread_t self = uv_thread_self();

    r->calls++;
    r->ok = ok;
    r->on_loop_thread = uv_thread_equal(&self, &r->loop_thread) != 0;
    r->hash[0] = '\0';
    if (hash != NULL) {
        assert_true(strlen(hash) < sizeof(r->hash));
        memcpy(r->hash, hash, strlen(hash) + 1);
    }
}

/* Run the loop until it has nothing left (every queued job has called back). */
static void run(uv_loop_t *loop, struct result *r, int n)
{
    for (int i = 0; i < n; i++)
        r[i].loop_thread = uv_thread_self();
    assert_int_equal(uv_run(loop, UV_RUN_DEFAULT), 0);
}

static void test_async(void **state)
{
    uv_loop_t loop;
    struct result r[4];
    char pw[] = "hunter2 but longer";

    (void)state;
    memset(r, 0, sizeof(r));
    assert_int_equal(uv_loop_init(&loop), 0);
    assert_int_equal(auth_password_hash_async(&loop, pw, strlen(pw), on_done, &r[0]), TD_OK);
    memset(pw, 0, sizeof(pw)); /* the module made its own copy */
    run(&loop, r, 1);
    assert_int_equal(r[0].calls, 1);
    assert_true(r[0].ok);
    assert_true(r[0].on_loop_thread);
    assert_non_null(strstr(r[0].hash, "$argon2id$"));

    /* Right, wrong and dummy verifications, all in flight at once. */
    assert_int_equal(auth_password_verify_async(&loop, r[0].hash, "hunter2 but longer", 18,
                                                on_done, &r[1]), TD_OK);
    assert_int_equal(auth_password_verify_async(&loop, r[0].hash, "hunter3 but longer", 18,
                                                on_done, &r[2]), TD_OK);
    assert_int_equal(auth_password_dummy_async(&loop, "hunter2 but longer", 18, on_done, &r[3]),
                     TD_OK);
    r[1].ok = r[2].ok = r[3].ok = true; /* must be overwritten */
    run(&loop, &r[1], 3);
    for (int i = 1; i < 4; i++) {
        assert_int_equal(r[i].calls, 1);
        assert_true(r[i].on_loop_thread);
        assert_string_equal(r[i].hash, "");
    }
    assert_true(r[1].ok);
    assert_false(r[2].ok);
    assert_false(r[3].ok);
    assert_int_equal(uv_loop_close(&loop), 0);
}

/* Refused at once, before any work is queued: the callback never fires. */
static void test_async_refused(void **state)
{
    uv_loop_t loop;
    struct result r;
    static char pw[AUTH_PASSWORD_MAX + 1];
    char junk[200];

    (void)state;
    memset(&r, 0, sizeof(r));
    memset(pw, 'p', sizeof(pw));
    memset(junk, 'j', sizeof(junk));
    assert_int_equal(uv_loop_init(&loop), 0);
    assert_int_equal(auth_password_hash_async(&loop, pw, sizeof(pw), on_done, &r), TD_EINVAL);
    assert_int_equal(auth_password_dummy_async(&loop, pw, sizeof(pw), on_done, &r), TD_EINVAL);
    assert_int_equal(auth_password_verify_async(&loop, "$argon2id$", pw, sizeof(pw), on_done, &r),
                     TD_EINVAL);
    assert_int_equal(auth_password_verify_async(&loop, NULL, "x", 1, on_done, &r), TD_EINVAL);
    assert_int_equal(auth_password_verify_async(&loop, junk, "x", 1, on_done, &r), TD_EINVAL);
    assert_int_equal(auth_password_hash_async(&loop, "x", 1, NULL, &r), TD_EINVAL);
    assert_int_equal(auth_password_hash_async(NULL, "x", 1, on_done, &r), TD_EINVAL);
    assert_int_equal(uv_run(&loop, UV_RUN_DEFAULT), 0);
    assert_int_equal(r.calls, 0);
    assert_int_equal(uv_loop_close(&loop), 0);
}

/* A malformed stored hash: the job runs and reports false. */
static void test_async_malformed_hash(void **state)
{
    uv_loop_t loop;
    struct result r;

    (void)state;
    memset(&r, 0, sizeof(r));
    assert_int_equal(uv_loop_init(&loop), 0);
    assert_int_equal(auth_password_verify_async(&loop, "not a hash", "x", 1, on_done, &r), TD_OK);
    r.ok = true;
    run(&loop, &r, 1);
    assert_int_equal(r.calls, 1);
    assert_false(r.ok);
    assert_int_equal(uv_loop_close(&loop), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_hash_verify),
        cmocka_unit_test(test_embedded_nul_and_empty),
        cmocka_unit_test(test_too_long),
        cmocka_unit_test(test_bad_hashes),
        cmocka_unit_test(test_needs_rehash),
        cmocka_unit_test(test_async),
        cmocka_unit_test(test_async_refused),
        cmocka_unit_test(test_async_malformed_hash),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
