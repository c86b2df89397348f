/* SPDX-License-Identifier: MIT */
/* Account pages: sign up, log in, log out, settings (profile, password,
 * avatar); the public profile is web_mb.c's /@name (/u/name redirects).
 * Password hashing and checking run on the thread pool
 * (auth_password_*_async; a new password's SCRAM credentials for the
 * messenger are derived there too); the request waits, and its arena
 * holds the job state, so nothing here outlives the request.
 *
 * Log-in failures are throttled per account and per client address (sliding
 * windows from config). A name that does not exist costs the same argon2id
 * verification as one that does, so timing does not reveal which names
 * exist; the error message is the same for both. */
#include "auth/auth_account.h"
#include "auth/auth_password.h"
#include "auth/auth_ratelimit.h"
#include "auth/auth_scram.h"
#include "auth/auth_token.h"
#include "auth/auth_username.h"
#include "core/err.h"
#include "core/log.h"
#include "http/http_multipart.h"
#include "http/http_router.h"
#include "social/mb.h"
#include "store/store_mb.h"
#include "store/store_scram.h"
#include "web/web.h"

#include <sodium.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define COOKIE_SESSION "tandem_session"
#define COOKIE_CSRF "tandem_csrf"

static struct web_app *app_of(struct http_req *r)
{
    return r->app;
}

/* ---- the messenger's SCRAM credentials (RFC 5802), derived with the
 * argon2id hash whenever a password is set: PBKDF2 on the thread pool ---- */

struct scram_job {
    uv_work_t work;
    const char *pw;   /* the request's copy; untouched on the loop meanwhile */
    char *hash;       /* the argon2id hash, carried along (request arena) */
    char sha1[STORE_SCRAM_CRED_MAX + 1];
    char sha256[STORE_SCRAM_CRED_MAX + 1];
    int rc;
    void (*done)(struct scram_job *j);
    void *ud;
};

static int scram_format(enum auth_scram_hash h, const char *pw, char *out)
{
    struct auth_scram_cred cred;
    struct buf b;
    int rc;

    buf_init(&b, STORE_SCRAM_CRED_MAX);
    rc = auth_scram_derive(h, pw, strlen(pw), 0, &cred);
    if (rc == TD_OK)
        rc = auth_scram_cred_format(&cred, &b);
    if (rc == TD_OK)
        snprintf(out, STORE_SCRAM_CRED_MAX + 1, "%s", b.data);
    sodium_memzero(&cred, sizeof(cred));
    buf_free(&b);
    return rc;
}

static void scram_work(uv_work_t *w)
{
    struct scram_job *j = w->data;

    j->rc = scram_format(AUTH_SCRAM_SHA1, j->pw, j->sha1);
    if (j->rc == TD_OK)
        j->rc = scram_format(AUTH_SCRAM_SHA256, j->pw, j->sha256);
}

static void scram_after(uv_work_t *w, int status)
{
    struct scram_job *j = w->data;

    if (status != 0)
        j->rc = TD_EIO;
    j->done(j);
}

/* Derive both credentials of pw (in r's arena) off the loop, then call done
 * on the loop thread. hash (copied) rides along. TD_OK or TD_EIO. */
static int scram_derive_async(struct http_req *r, const char *pw, const char *hash,
                              void (*done)(struct scram_job *j), void *ud)
{
    struct scram_job *j = arena_calloc(r->arena, sizeof(*j));

    j->pw = pw;
    j->hash = arena_strdup(r->arena, hash);
    j->done = done;
    j->ud = ud;
    j->work.data = j;
    if (uv_queue_work(app_of(r)->loop, &j->work, scram_work, scram_after) != 0)
        return TD_EIO;
    return TD_OK;
}

static int scram_store(struct store *st, int64_t account_id, const struct scram_job *j)
{
    int rc = store_scram_set(st, account_id, "SCRAM-SHA-1", j->sha1);
    if (rc == TD_OK)
        rc = store_scram_set(st, account_id, "SCRAM-SHA-256", j->sha256);
    return rc;
}

/* Only local paths may be redirect targets after log-in (no open redirect). */
static const char *safe_next(const char *next)
{
    if (next && next[0] == '/' && next[1] != '/' && next[1] != '\\' && !strpbrk(next, "\r\n"))
        return next;
    return "/";
}

static void require_login(struct http_req *r)
{
    char *loc = arena_printf(r->arena, "/login?next=%s", r->path);
    web_redirect(r, loc);
}

/* ---- sign up ---- */

static json_t *signup_data(struct http_req *r, const char *error, const char *username)
{
    int mode = app_of(r)->conf->signup;
    return json_pack("{s:s?, s:s, s:b, s:b}", "error", error, "username",
                     username ? username : "", "closed", mode == CONF_SIGNUP_CLOSED,
                     "invite", mode == CONF_SIGNUP_INVITE);
}

static void handle_signup_get(struct http_req *r)
{
    if (web_ctx(r)->logged_in) {
        web_redirect(r, "/");
        return;
    }
    web_render(r, 200, "signup", signup_data(r, NULL, NULL));
}

struct signup_job {
    struct http_req *r;
    const char *username;
    const char *pw;
};

static void start_session(struct http_req *r, int64_t account_id)
{
    struct web_app *app = app_of(r);
    char token[AUTH_SESSION_TOKEN_LEN + 1];
    const char *ua = http_req_header(r, "User-Agent");

    if (auth_session_start(app->store, account_id, (int)app->conf->session_days, ua, r->peer,
                           token) != TD_OK)
        return;
    web_set_cookie(r, COOKIE_SESSION, token, app->conf->session_days * 86400);
}

static void signup_derived(struct scram_job *sj)
{
    struct signup_job *job = sj->ud;
    struct http_req *r = job->r;
    struct web_app *app = app_of(r);
    struct account a;
    int rc;

    if (sj->rc != TD_OK) {
        web_error(r, 500, "The account could not be created. Please try again.");
        return;
    }
    rc = auth_account_create(app->store, job->username, sj->hash, false, &a);
    if (rc == TD_OK && scram_store(app->store, a.id, sj) != TD_OK)
        log_err("account.scram_failed", "req=%s account=%lld", r->id_str, (long long)a.id);
    if (rc == TD_EEXIST) {
        web_render(r, 422, "signup", signup_data(r, "That name is taken.", job->username));
        return;
    }
    if (rc != TD_OK) {
        web_error(r, 500, "The account could not be created. Please try again.");
        return;
    }
    log_info("account.created", "req=%s account=%lld user=%s peer=%s", r->id_str,
             (long long)a.id, log_q(a.username), r->peer);
    if (!http_req_is_orphan(r))
        start_session(r, a.id);
    store_account_clear(&a);
    web_redirect(r, "/settings");
}

static void signup_hashed(void *ud, bool ok, const char *hash)
{
    struct signup_job *job = ud;

    if (!ok || scram_derive_async(job->r, job->pw, hash, signup_derived, job) != TD_OK)
        web_error(job->r, 500, "The account could not be created. Please try again.");
}

static void handle_signup_post(struct http_req *r)
{
    struct web_app *app = app_of(r);
    const char *username;
    const char *pw;
    const char *why;
    struct account existing;
    struct signup_job *job;

    if (!web_form(r) || !web_csrf_ok(r))
        return;
    if (app->conf->signup == CONF_SIGNUP_CLOSED) {
        web_error(r, 403, "Sign-up is closed on this site.");
        return;
    }
    username = web_form_get(r, "username");
    pw = web_form_get(r, "password");
    why = auth_username_check(username);
    if (why == NULL)
        why = auth_password_policy(pw, strlen(pw), (size_t)app->conf->password_min_length);
    if (why == NULL && strcmp(pw, web_form_get(r, "password2")) != 0)
        why = "The two passwords do not match.";
    if (why == NULL && store_account_get_by_name(app->store, username, &existing) == TD_OK) {
        store_account_clear(&existing);
        why = "That name is taken.";
    }
    if (why == NULL && app->conf->signup == CONF_SIGNUP_INVITE) {
        const char *code = web_form_get(r, "invite");
        uint8_t hash[32];
        auth_token_hash(code, strlen(code), hash);
        if (code[0] == '\0' || store_invite_use(app->store, hash, auth_now_ms()) != TD_OK)
            why = "That invitation code is not valid, or it has been used up.";
    }
    if (why) {
        web_render(r, 422, "signup", signup_data(r, why, username));
        return;
    }
    job = arena_calloc(r->arena, sizeof(*job));
    job->r = r;
    job->username = username;
    job->pw = pw;
    if (auth_password_hash_async(app->loop, pw, strlen(pw), signup_hashed, job) != TD_OK)
        web_error(r, 500, "The account could not be created. Please try again.");
}

/* ---- log in / out ---- */

static json_t *login_data(const char *error, const char *username, const char *next)
{
    return json_pack("{s:s?, s:s, s:s}", "error", error, "username", username ? username : "",
                     "next", next ? next : "");
}

static void handle_login_get(struct http_req *r)
{
    const char *next = safe_next(web_query_get(r, "next"));

    /* ?reauth=1 (OpenID Connect prompt=login, max_age) asks a logged-in user
     * to log in again instead of passing straight through. */
    const char *reauth = web_query_get(r, "reauth");
    if (web_ctx(r)->logged_in && !(reauth && strcmp(reauth, "1") == 0)) {
        web_redirect(r, next);
        return;
    }
    /* ?username= pre-fills the form (OpenID Connect login_hint passes through it). */
    web_render(r, 200, "login", login_data(NULL, web_query_get(r, "username"), next));
}

struct login_job {
    struct http_req *r;
    struct account account; /* strings in the request arena */
    bool found;
    const char *username;
    const char *next;
    const char *ukey;       /* rate-limit keys */
    const char *akey;
};

static void login_checked(void *ud, bool ok, const char *hash_unused)
{
    struct login_job *job = ud;
    struct http_req *r = job->r;
    struct web_app *app = app_of(r);
    int64_t now = auth_now_ms();
    (void)hash_unused;

    if (!ok || !job->found) {
        auth_ratelimit_hit(app->rl_account, job->ukey, now);
        auth_ratelimit_hit(app->rl_address, job->akey, now);
        log_warn("login.failed", "req=%s user=%s peer=%s", r->id_str, log_q(job->username),
                 r->peer);
        web_render(r, 403, "login",
                   login_data("Wrong username or password.", job->username, job->next));
        return;
    }
    if (job->account.disabled) {
        log_warn("login.disabled", "req=%s user=%s peer=%s", r->id_str, log_q(job->username),
                 r->peer);
        web_render(r, 403, "login",
                   login_data("This account has been disabled by the site's administrators.",
                              job->username, job->next));
        return;
    }
    auth_ratelimit_reset(app->rl_account, job->ukey);
    log_info("login.ok", "req=%s account=%lld peer=%s", r->id_str, (long long)job->account.id,
             r->peer);
    if (!http_req_is_orphan(r))
        start_session(r, job->account.id);
    web_redirect(r, job->next);
}

static bool throttled(struct http_req *r, struct login_job *job)
{
    struct web_app *app = app_of(r);
    int64_t now = auth_now_ms();
    int64_t wait_a = 0;
    int64_t wait_u = 0;
    bool by_account = auth_ratelimit_check(app->rl_account, job->ukey, now, &wait_u) != TD_OK;
    bool by_address = auth_ratelimit_check(app->rl_address, job->akey, now, &wait_a) != TD_OK;
    int64_t wait = wait_u > wait_a ? wait_u : wait_a;
    char retry[24];
    char *msg;

    if (!by_account && !by_address)
        return false;
    long minutes = (long)((wait + 59999) / 60000);
    msg = arena_printf(r->arena,
                       "Too many failed log-in attempts %s. Try again in %ld minute%s.",
                       by_account ? "for this account" : "from your network", minutes,
                       minutes == 1 ? "" : "s");
    snprintf(retry, sizeof(retry), "%lld", (long long)((wait + 999) / 1000));
    http_resp_header(r, "Retry-After", retry);
    log_warn("login.throttled", "req=%s user=%s peer=%s by=%s", r->id_str,
             log_q(job->username), r->peer, by_account ? "account" : "address");
    web_render(r, 429, "login", login_data(msg, job->username, job->next));
    return true;
}

static void handle_login_post(struct http_req *r)
{
    struct web_app *app = app_of(r);
    struct login_job *job;
    const char *pw;
    char lc[AUTH_USERNAME_MAX + 1];
    struct account a;
    int rc;

    if (!web_form(r) || !web_csrf_ok(r))
        return;
    job = arena_calloc(r->arena, sizeof(*job));
    job->r = r;
    job->username = web_form_get(r, "username");
    job->next = safe_next(web_form_get(r, "next"));
    pw = web_form_get(r, "password");
    if (strlen(job->username) <= AUTH_USERNAME_MAX) {
        auth_username_lower(job->username, lc);
    } else {
        snprintf(lc, sizeof(lc), "%s", "~toolong");
    }
    job->ukey = arena_printf(r->arena, "u:%s", lc);
    job->akey = arena_printf(r->arena, "a:%s", r->peer);
    if (throttled(r, job))
        return;
    if (strlen(pw) > AUTH_PASSWORD_MAX) {
        web_render(r, 403, "login",
                   login_data("Wrong username or password.", job->username, job->next));
        return;
    }
    rc = store_account_get_by_name(app->store, job->username, &a);
    if (rc == TD_OK && a.password_hash) {
        job->found = true;
        job->account = a;
        job->account.username = arena_strdup(r->arena, a.username);
        job->account.password_hash = arena_strdup(r->arena, a.password_hash);
        job->account.display_name = NULL;
        job->account.bio = NULL;
        job->account.email = NULL;
        rc = auth_password_verify_async(app->loop, job->account.password_hash, pw, strlen(pw),
                                        login_checked, job);
        store_account_clear(&a);
    } else {
        if (rc == TD_OK)
            store_account_clear(&a);
        rc = auth_password_dummy_async(app->loop, pw, strlen(pw), login_checked, job);
    }
    if (rc != TD_OK)
        web_error(r, 500, "Logging in failed. Please try again.");
}

static void handle_logout(struct http_req *r)
{
    struct web_ctx *ctx = web_ctx(r);

    if (!web_form(r) || !web_csrf_ok(r))
        return;
    if (ctx->session_token)
        auth_session_end(app_of(r)->store, ctx->session_token);
    web_set_cookie(r, COOKIE_SESSION, "", 0);
    web_redirect(r, "/");
}

/* ---- settings ---- */

static json_t *settings_data(struct http_req *r, const char *error, const char *saved)
{
    struct web_ctx *ctx = web_ctx(r);
    const struct account *a = &ctx->account;
    json_t *d = json_pack("{s:s?, s:s?, s:s, s:s, s:s, s:b, s:I}", "error", error, "saved",
                          saved, "username", a->username, "display_name", a->display_name,
                          "bio", a->bio, "has_avatar", a->has_avatar, "avatar_max_kib",
                          (json_int_t)(app_of(r)->conf->avatar_max_bytes / 1024));
    json_object_set_new(d, "address",
                        json_sprintf("%s@%s", a->username, app_of(r)->conf->domain));
    bool locked = false, discoverable = true;
    store_mb_account_flags(app_of(r)->store, a->id, &locked, &discoverable);
    json_object_set_new(d, "locked", json_boolean(locked));
    return d;
}

static void handle_settings_get(struct http_req *r)
{
    const char *saved = web_query_get(r, "saved");
    const char *msg = NULL;

    if (!web_ctx(r)->logged_in) {
        require_login(r);
        return;
    }
    if (saved && strcmp(saved, "profile") == 0)
        msg = "Your profile was saved.";
    else if (saved && strcmp(saved, "password") == 0)
        msg = "Your password was changed. Other sessions were logged out.";
    else if (saved && strcmp(saved, "avatar") == 0)
        msg = "Your picture was updated.";
    else if (saved && strcmp(saved, "privacy") == 0)
        msg = "Your privacy setting was saved.";
    web_render(r, 200, "settings", settings_data(r, NULL, msg));
}

static bool settings_post_start(struct http_req *r)
{
    if (!web_form(r) || !web_csrf_ok(r))
        return false;
    if (!web_ctx(r)->logged_in) {
        require_login(r);
        return false;
    }
    return true;
}

static void handle_profile_post(struct http_req *r)
{
    struct web_ctx *ctx = web_ctx(r);
    const char *dn;
    const char *bio;
    const char *why;

    if (!settings_post_start(r))
        return;
    dn = web_form_get(r, "display_name");
    bio = web_form_get(r, "bio");
    why = auth_profile_check(dn, bio);
    if (why) {
        web_render(r, 422, "settings", settings_data(r, why, NULL));
        return;
    }
    if (store_account_set_profile(app_of(r)->store, ctx->account.id, dn, bio) != TD_OK) {
        web_error(r, 500, "The profile could not be saved.");
        return;
    }
    if (app_of(r)->mb) /* its caches hold the old name */
        mb_account_changed(app_of(r)->mb, ctx->account.id);
    web_redirect(r, "/settings?saved=profile");
}

struct password_job {
    struct http_req *r;
    const char *new_pw;
};

static void password_derived(struct scram_job *sj)
{
    struct password_job *job = sj->ud;
    struct http_req *r = job->r;
    struct web_app *app = app_of(r);
    struct web_ctx *ctx = web_ctx(r);

    if (sj->rc != TD_OK ||
        store_account_set_password(app->store, ctx->account.id, sj->hash) != TD_OK ||
        scram_store(app->store, ctx->account.id, sj) != TD_OK) {
        web_error(r, 500, "The password could not be changed.");
        return;
    }
    auth_session_end_others(app->store, ctx->account.id, ctx->session_token);
    log_info("account.password_changed", "req=%s account=%lld", r->id_str,
             (long long)ctx->account.id);
    web_redirect(r, "/settings?saved=password");
}

static void password_hashed(void *ud, bool ok, const char *hash)
{
    struct password_job *job = ud;

    if (!ok || scram_derive_async(job->r, job->new_pw, hash, password_derived, job) != TD_OK)
        web_error(job->r, 500, "The password could not be changed.");
}

static void password_verified(void *ud, bool ok, const char *unused)
{
    struct password_job *job = ud;
    struct http_req *r = job->r;
    struct web_app *app = app_of(r);
    (void)unused;

    if (!ok) {
        char *key = arena_printf(r->arena, "u:%s", web_ctx(r)->account.username);
        auth_ratelimit_hit(app->rl_account, key, auth_now_ms());
        web_render(r, 403, "settings",
                   settings_data(r, "The current password is wrong.", NULL));
        return;
    }
    if (auth_password_hash_async(app->loop, job->new_pw, strlen(job->new_pw), password_hashed,
                                 job) != TD_OK)
        web_error(r, 500, "The password could not be changed.");
}

static void handle_password_post(struct http_req *r)
{
    struct web_app *app = app_of(r);
    struct web_ctx *ctx = web_ctx(r);
    struct password_job *job;
    const char *cur;
    const char *why;

    if (!settings_post_start(r))
        return;
    cur = web_form_get(r, "current");
    job = arena_calloc(r->arena, sizeof(*job));
    job->r = r;
    job->new_pw = web_form_get(r, "password");
    why = auth_password_policy(job->new_pw, strlen(job->new_pw),
                               (size_t)app->conf->password_min_length);
    if (why == NULL && strcmp(job->new_pw, web_form_get(r, "password2")) != 0)
        why = "The two new passwords do not match.";
    if (why == NULL && (ctx->account.password_hash == NULL || strlen(cur) > AUTH_PASSWORD_MAX))
        why = "The current password is wrong.";
    if (why) {
        web_render(r, 422, "settings", settings_data(r, why, NULL));
        return;
    }
    if (auth_password_verify_async(app->loop, ctx->account.password_hash, cur, strlen(cur),
                                   password_verified, job) != TD_OK)
        web_error(r, 500, "The password could not be changed.");
}

/* Image type by its first bytes; the client's Content-Type is not trusted. */
static const char *sniff_image(const unsigned char *p, size_t n)
{
    if (n >= 8 && memcmp(p, "\x89PNG\r\n\x1a\n", 8) == 0)
        return "image/png";
    if (n >= 3 && p[0] == 0xFF && p[1] == 0xD8 && p[2] == 0xFF)
        return "image/jpeg";
    if (n >= 6 && (memcmp(p, "GIF87a", 6) == 0 || memcmp(p, "GIF89a", 6) == 0))
        return "image/gif";
    if (n >= 12 && memcmp(p, "RIFF", 4) == 0 && memcmp(p + 8, "WEBP", 4) == 0)
        return "image/webp";
    return NULL;
}

static void handle_avatar_post(struct http_req *r)
{
    struct web_app *app = app_of(r);
    struct web_ctx *ctx = web_ctx(r);
    const char *ct = http_req_header(r, "Content-Type");
    struct http_multipart_limits lim = {.max_parts = 8, .max_part_header_bytes = 4096};
    struct http_part *parts = NULL;
    size_t nparts = 0;
    const char *token = NULL;
    const struct http_part *file = NULL;
    const char *type;
    int rc;

    if (ct == NULL || !http_media_type_is(ct, "multipart/form-data")) {
        web_error(r, 415, "Pictures are uploaded as multipart/form-data.");
        return;
    }
    rc = http_multipart_parse(r->arena, ct, r->body, r->body_len, &lim, &parts, &nparts);
    if (rc != TD_OK) {
        log_info("web.bad_multipart", "req=%s peer=%s err=%s", r->id_str, r->peer,
                 log_q(td_strerror(rc)));
        web_error(r, 400, "The upload could not be read (malformed multipart body).");
        return;
    }
    for (size_t i = 0; i < nparts; i++) {
        if (strcmp(parts[i].name, "csrf") == 0 && parts[i].filename == NULL)
            token = arena_strndup(r->arena, parts[i].data, parts[i].len);
        else if (strcmp(parts[i].name, "avatar") == 0 && parts[i].filename)
            file = &parts[i];
    }
    if (!web_csrf_check(r, token))
        return;
    if (!ctx->logged_in) {
        require_login(r);
        return;
    }
    if (file == NULL || file->len == 0) {
        web_render(r, 422, "settings", settings_data(r, "Choose a picture to upload.", NULL));
        return;
    }
    if (file->len > (size_t)app->conf->avatar_max_bytes) {
        web_render(r, 413, "settings",
                   settings_data(r, "That picture is too large.", NULL));
        return;
    }
    type = sniff_image((const unsigned char *)file->data, file->len);
    if (type == NULL) {
        web_render(r, 415, "settings",
                   settings_data(r, "Pictures must be PNG, JPEG, GIF or WebP images.", NULL));
        return;
    }
    if (store_avatar_set(app->store, ctx->account.id, type, file->data, file->len) != TD_OK) {
        web_error(r, 500, "The picture could not be saved.");
        return;
    }
    if (app->mb)
        mb_account_changed(app->mb, ctx->account.id);
    web_redirect(r, "/settings?saved=avatar");
}

/* Locked accounts (Mastodon's "manually approve followers"): follows
 * become requests the owner accepts or rejects from the notifications. */
static void handle_privacy_post(struct http_req *r)
{
    struct web_app *app = app_of(r);
    struct web_ctx *ctx = web_ctx(r);
    bool locked = false, discoverable = true;

    if (!settings_post_start(r))
        return;
    store_mb_account_flags(app->store, ctx->account.id, &locked, &discoverable);
    locked = strcmp(web_form_get(r, "locked"), "1") == 0;
    if (store_mb_account_set_flags(app->store, ctx->account.id, locked, discoverable) != TD_OK) {
        web_error(r, 500, "The setting could not be saved.");
        return;
    }
    if (app->mb)
        mb_account_changed(app->mb, ctx->account.id);
    web_redirect(r, "/settings?saved=privacy");
}

/* ---- old profile address and avatars ---- */

/* The profile moved to /@name (web_mb.c), Mastodon's address for it. */
static void handle_profile_moved(struct http_req *r)
{
    struct buf loc;

    buf_init(&loc, 0);
    buf_appends(&loc, "/@");
    http_url_encode(&loc, http_req_param(r, "name"), strlen(http_req_param(r, "name")));
    http_resp_redirect(r, 301, loc.data);
    buf_free(&loc);
}

static void handle_avatar_get(struct http_req *r)
{
    struct web_app *app = app_of(r);
    struct account a;
    char *type = NULL;
    void *data = NULL;
    size_t len = 0;
    int64_t updated = 0;
    char etag[40];
    const char *inm;

    if (store_account_get_by_name(app->store, http_req_param(r, "name"), &a) != TD_OK) {
        http_resp_text(r, 404, "not found\n");
        return;
    }
    int rc = a.disabled ? TD_ENOTFOUND
                        : store_avatar_get(app->store, a.id, &type, &data, &len, &updated);
    store_account_clear(&a);
    if (rc != TD_OK) {
        http_resp_text(r, 404, "not found\n");
        return;
    }
    snprintf(etag, sizeof(etag), "\"av-%llx\"", (unsigned long long)updated);
    http_resp_header(r, "ETag", etag);
    http_resp_header(r, "Cache-Control", "public, max-age=300");
    inm = http_req_header(r, "If-None-Match");
    if (inm && strstr(inm, etag))
        http_resp_send(r, 304, NULL, NULL, 0);
    else
        http_resp_send(r, 200, type, data, len);
    free(type);
    free(data);
}

void web_account_routes(struct http_router *rt)
{
    http_router_add(rt, "GET", "/signup", handle_signup_get);
    http_router_add(rt, "POST", "/signup", handle_signup_post);
    http_router_add(rt, "GET", "/login", handle_login_get);
    http_router_add(rt, "POST", "/login", handle_login_post);
    http_router_add(rt, "POST", "/logout", handle_logout);
    http_router_add(rt, "GET", "/settings", handle_settings_get);
    http_router_add(rt, "POST", "/settings/profile", handle_profile_post);
    http_router_add(rt, "POST", "/settings/password", handle_password_post);
    http_router_add(rt, "POST", "/settings/avatar", handle_avatar_post);
    http_router_add(rt, "POST", "/settings/privacy", handle_privacy_post);
    http_router_add(rt, "GET", "/u/:name", handle_profile_moved);
    http_router_add(rt, "GET", "/avatars/:name", handle_avatar_get);
}
