/* SPDX-License-Identifier: MIT */
/* argon2id password hashing on and off the loop; see auth_password.h.
 * An async call copies its inputs into a job, hands it to uv_queue_work, runs
 * the blocking function on a pool thread and calls back from the
 * after-work callback, which libuv runs on the loop thread. The password
 * copy is wiped as soon as the pool thread is done with it. The dummy hash
 * is a fixed PHC string made with the INTERACTIVE parameters; should a
 * libsodium upgrade change those, a fresh dummy is made once (uv_once, on a
 * pool thread) so a missing account still costs as much as a real one. */
#include "auth/auth_password.h"

#include "core/err.h"

#include <sodium.h>
#include <stdlib.h>
#include <string.h>

#define OPSLIMIT crypto_pwhash_OPSLIMIT_INTERACTIVE
#define MEMLIMIT crypto_pwhash_MEMLIMIT_INTERACTIVE

/* The hash of a random, discarded 64-character password. */
static const char DUMMY_FIXED[AUTH_PASSWORD_HASH_MAX] =
    "$argon2id$v=19$m=65536,t=2,p=1$oZiB72ugGPwdm6mjd+JFdA$"
    "op4Gjc0Dlr44qK7/L1Ucl/tPRhYPn8bZ7h9ZBOg9VY8";
static char dummy_hash[AUTH_PASSWORD_HASH_MAX]; /* set once by make_dummy */
static uv_once_t dummy_once = UV_ONCE_INIT;

enum job_kind { JOB_HASH, JOB_VERIFY, JOB_DUMMY };

struct pw_job {
    uv_work_t req;          /* libuv request; req.data unused */
    enum job_kind kind;
    auth_password_cb *cb;   /* called once on the loop thread */
    void *ud;               /* caller's pointer for cb */
    char *pw;               /* owned copy of the password; wiped on the pool thread */
    size_t pw_len;          /* bytes in pw */
    char hash[AUTH_PASSWORD_HASH_MAX]; /* JOB_VERIFY: input; JOB_HASH: output */
    bool ok;                /* result, set on the pool thread */
};

_Static_assert(AUTH_PASSWORD_HASH_MAX == crypto_pwhash_STRBYTES, "hash size");

static void crypto_start(void)
{
    TD_ASSERT(sodium_init() >= 0);
}

int auth_password_hash(const char *pw, size_t len, char out[AUTH_PASSWORD_HASH_MAX])
{
    static const char empty[1] = "";

    crypto_start();
    out[0] = '\0';
    if (len > AUTH_PASSWORD_MAX || (pw == NULL && len > 0))
        return TD_EINVAL;
    if (crypto_pwhash_str(out, pw ? pw : empty, len, OPSLIMIT, MEMLIMIT) != 0) {
        out[0] = '\0';
        return TD_ENOMEM; /* libsodium fails only when it cannot get the memory */
    }
    return TD_OK;
}

/* True if hash is non-NULL and NUL-terminated within AUTH_PASSWORD_HASH_MAX. */
static bool hash_ok(const char *hash)
{
    return hash != NULL && strnlen(hash, AUTH_PASSWORD_HASH_MAX) < AUTH_PASSWORD_HASH_MAX;
}

bool auth_password_verify(const char *hash, const char *pw, size_t len)
{
    static const char empty[1] = "";

    crypto_start();
    if (!hash_ok(hash) || len > AUTH_PASSWORD_MAX || (pw == NULL && len > 0))
        return false;
    return crypto_pwhash_str_verify(hash, pw ? pw : empty, len) == 0;
}

bool auth_password_needs_rehash(const char *hash)
{
    crypto_start();
    if (!hash_ok(hash))
        return true;
    return crypto_pwhash_str_needs_rehash(hash, OPSLIMIT, MEMLIMIT) != 0;
}

/* uv_once body, on a pool thread: keep the fixed dummy unless the current
 * parameters differ, in which case hash a random password with them. */
static void make_dummy(void)
{
    uint8_t rnd[32];

    if (crypto_pwhash_str_needs_rehash(DUMMY_FIXED, OPSLIMIT, MEMLIMIT) == 0) {
        memcpy(dummy_hash, DUMMY_FIXED, sizeof(DUMMY_FIXED));
        return;
    }
    randombytes_buf(rnd, sizeof(rnd));
    if (crypto_pwhash_str(dummy_hash, (const char *)rnd, sizeof(rnd), OPSLIMIT, MEMLIMIT) != 0)
        memcpy(dummy_hash, DUMMY_FIXED, sizeof(DUMMY_FIXED)); /* out of memory: keep the old one */
    sodium_memzero(rnd, sizeof(rnd));
}

/* Pool thread. */
static void job_work(uv_work_t *req)
{
    struct pw_job *j = td_container_of(req, struct pw_job, req);

    switch (j->kind) {
    case JOB_HASH:
        j->ok = auth_password_hash(j->pw, j->pw_len, j->hash) == TD_OK;
        break;
    case JOB_VERIFY:
        j->ok = auth_password_verify(j->hash, j->pw, j->pw_len);
        break;
    case JOB_DUMMY:
        uv_once(&dummy_once, make_dummy);
        (void)auth_password_verify(dummy_hash, j->pw, j->pw_len);
        j->ok = false; /* there is no account, whatever the outcome */
        break;
    }
    sodium_memzero(j->pw, j->pw_len);
}

/* Loop thread: report and free. status is UV_ECANCELED if the work never ran. */
static void job_done(uv_work_t *req, int status)
{
    struct pw_job *j = td_container_of(req, struct pw_job, req);
    bool ok = status == 0 && j->ok;

    j->cb(j->ud, ok, ok && j->kind == JOB_HASH ? j->hash : NULL);
    sodium_memzero(j->pw, j->pw_len);
    free(j->pw);
    sodium_memzero(j, sizeof(*j));
    free(j);
}

/* Copy the inputs into a job and queue it. hash may be NULL (not JOB_VERIFY). */
static int submit(uv_loop_t *loop, enum job_kind kind, const char *hash, const char *pw,
                  size_t len, auth_password_cb *cb, void *ud)
{
    struct pw_job *j;

    crypto_start();
    if (loop == NULL || cb == NULL || len > AUTH_PASSWORD_MAX || (pw == NULL && len > 0))
        return TD_EINVAL;
    if (kind == JOB_VERIFY && !hash_ok(hash))
        return TD_EINVAL;
    j = td_calloc(1, sizeof(*j));
    j->kind = kind;
    j->cb = cb;
    j->ud = ud;
    j->pw = td_malloc(len + 1); /* +1: a valid pointer even for an empty password */
    if (len > 0)
        memcpy(j->pw, pw, len);
    j->pw[len] = '\0';
    j->pw_len = len;
    if (hash != NULL)
        memcpy(j->hash, hash, strlen(hash) + 1);
    if (uv_queue_work(loop, &j->req, job_work, job_done) != 0) {
        sodium_memzero(j->pw, len);
        free(j->pw);
        free(j);
        return TD_EIO;
    }
    return TD_OK;
}

int auth_password_hash_async(uv_loop_t *loop, const char *pw, size_t len, auth_password_cb *cb,
                             void *ud)
{
    return submit(loop, JOB_HASH, NULL, pw, len, cb, ud);
}

int auth_password_verify_async(uv_loop_t *loop, const char *hash, const char *pw, size_t len,
                               auth_password_cb *cb, void *ud)
{
    return submit(loop, JOB_VERIFY, hash, pw, len, cb, ud);
}

int auth_password_dummy_async(uv_loop_t *loop, const char *pw, size_t len, auth_password_cb *cb,
                              void *ud)
{
    return submit(loop, JOB_DUMMY, NULL, pw, len, cb, ud);
}
