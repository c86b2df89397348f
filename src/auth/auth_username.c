/* SPDX-License-Identifier: MIT */
/* Username checks; see auth_username.h. Everything is plain ASCII and does
 * not depend on the C locale (no isalpha/tolower), so a Turkish or other
 * locale cannot change which names are accepted. */
#include "auth/auth_username.h"

#include <stdbool.h>
#include <stddef.h>
#include <string.h>

static const char MSG_SHAPE[] =
    "Usernames are 1 to 30 characters: letters a\xe2\x80\x93z, digits and underscore.";
static const char MSG_RESERVED[] = "That name is reserved.";

/* Lowercase. Some entries (well-known) cannot pass the alphabet check anyway;
 * they are listed so the list can be reused for other name spaces. */
static const char *const RESERVED[] = {
    "admin",      "administrator", "root",     "system",    "tandem",     "api",
    "oauth",      "oidc",          "well-known", "static",  "assets",     "media",
    "avatars",    "login",         "logout",   "signup",    "register",   "settings",
    "account",    "accounts",      "user",     "users",     "u",          "about",
    "help",       "support",       "abuse",    "postmaster", "hostmaster", "webmaster",
    "security",   "info",          "mail",     "www",       "xmpp",       "healthz",
    "metrics",    "share",         "connect",  "null",      "undefined",  "anonymous",
    "everyone",   "here",          "moderator", "staff",    "official",
};

static char ascii_lower(char c)
{
    return (c >= 'A' && c <= 'Z') ? (char)(c - 'A' + 'a') : c;
}

static bool is_name_char(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
           c == '_';
}

const char *auth_username_check(const char *name)
{
    char low[AUTH_USERNAME_MAX + 1];
    size_t len;

    if (name == NULL)
        return MSG_SHAPE;
    len = strnlen(name, AUTH_USERNAME_MAX + 1); /* bounded: name may be hostile */
    if (len == 0 || len > AUTH_USERNAME_MAX)
        return MSG_SHAPE;
    for (size_t i = 0; i < len; i++) {
        if (!is_name_char(name[i]))
            return MSG_SHAPE;
    }
    auth_username_lower(name, low);
    for (size_t i = 0; i < sizeof(RESERVED) / sizeof(RESERVED[0]); i++) {
        if (strcmp(low, RESERVED[i]) == 0)
            return MSG_RESERVED;
    }
    return NULL;
}

void auth_username_lower(const char *name, char out[AUTH_USERNAME_MAX + 1])
{
    size_t i = 0;

    if (name != NULL) {
        for (; i < AUTH_USERNAME_MAX && name[i] != '\0'; i++)
            out[i] = ascii_lower(name[i]);
    }
    out[i] = '\0';
}
