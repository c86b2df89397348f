/* SPDX-License-Identifier: MIT */
/* Account and session services; see auth_account.h. */
#include "auth/auth_account.h"

#include "auth/auth_password.h"
#include "auth/auth_token.h"
#include "core/err.h"
#include "core/utf8.h"

#include <string.h>
#include <time.h>

int64_t auth_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

const char *auth_password_policy(const char *pw, size_t len, size_t min_len)
{
    if (len > AUTH_PASSWORD_MAX)
        return "That password is too long (at most 1024 bytes).";
    if (!utf8_valid(pw, len))
        return "Passwords must be valid UTF-8 text.";
    if (utf8_count(pw, len) < min_len)
        return "That password is too short.";
    return NULL;
}

const char *auth_profile_check(const char *display_name, const char *bio)
{
    size_t dl = strlen(display_name);
    size_t bl = strlen(bio);

    if (!utf8_valid(display_name, dl) || !utf8_valid(bio, bl))
        return "Profile text must be valid UTF-8.";
    if (utf8_count(display_name, dl) > AUTH_DISPLAY_NAME_MAX)
        return "The display name is too long (at most 64 characters).";
    if (utf8_count(bio, bl) > AUTH_BIO_MAX)
        return "The bio is too long (at most 500 characters).";
    /* Line breaks are fine in a bio, not in a name; other controls nowhere. */
    if (utf8_has_controls(display_name, dl) || strpbrk(display_name, "\t\r\n"))
        return "The display name cannot contain control characters.";
    if (utf8_has_controls(bio, bl))
        return "The bio cannot contain control characters.";
    return NULL;
}

int auth_account_create(struct store *st, const char *username, const char *password_hash,
                        bool is_admin, struct account *out)
{
    struct account a;
    int rc;

    memset(&a, 0, sizeof(a));
    a.username = (char *)username;
    a.display_name = (char *)"";
    a.bio = (char *)"";
    a.password_hash = (char *)password_hash;
    a.is_admin = is_admin;
    rc = store_account_create(st, &a);
    if (rc == TD_OK && out)
        rc = store_account_get_by_id(st, a.id, out);
    return rc;
}

int auth_session_start(struct store *st, int64_t account_id, int days, const char *user_agent,
                       const char *address, char token[AUTH_SESSION_TOKEN_LEN + 1])
{
    uint8_t hash[32];
    int64_t now = auth_now_ms();
    int rc;

    auth_token_new(token, hash);
    rc = store_session_create(st, hash, account_id, now + (int64_t)days * 86400000,
                              user_agent ? user_agent : "", address ? address : "");
    if (rc != TD_OK)
        token[0] = '\0';
    return rc;
}

int auth_session_resolve(struct store *st, const char *token, struct account *out)
{
    uint8_t hash[32];
    int64_t account_id;
    int rc;

    if (token == NULL || strlen(token) != AUTH_SESSION_TOKEN_LEN)
        return TD_ENOTFOUND;
    auth_token_hash(token, strlen(token), hash);
    rc = store_session_lookup(st, hash, auth_now_ms(), &account_id);
    if (rc != TD_OK)
        return rc;
    rc = store_account_get_by_id(st, account_id, out);
    if (rc != TD_OK)
        return rc;
    if (out->disabled) {
        store_account_clear(out);
        store_session_delete(st, hash);
        return TD_EDENIED;
    }
    return TD_OK;
}

int auth_session_auth_time(struct store *st, const char *token, int64_t *auth_time)
{
    uint8_t hash[32];

    if (token == NULL || strlen(token) != AUTH_SESSION_TOKEN_LEN)
        return TD_ENOTFOUND;
    auth_token_hash(token, strlen(token), hash);
    return store_session_created_at(st, hash, auth_time);
}

int auth_session_end(struct store *st, const char *token)
{
    uint8_t hash[32];

    if (token == NULL || strlen(token) != AUTH_SESSION_TOKEN_LEN)
        return TD_ENOTFOUND;
    auth_token_hash(token, strlen(token), hash);
    return store_session_delete(st, hash);
}

int auth_session_end_others(struct store *st, int64_t account_id, const char *keep_token)
{
    uint8_t hash[32];

    if (keep_token == NULL)
        return store_session_delete_account(st, account_id, NULL);
    auth_token_hash(keep_token, strlen(keep_token), hash);
    return store_session_delete_account(st, account_id, hash);
}
