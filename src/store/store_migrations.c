/* SPDX-License-Identifier: MIT */
/* The SQLite schema as numbered migrations. Migration N brings a database
 * from user_version N-1 to N; store_sqlite.c runs each missing one in its own
 * transaction together with the user_version bump. Never edit a migration
 * that has shipped: append a new one and raise STORE_SCHEMA_VERSION in
 * store.h (store_open() asserts that they agree).
 * Times are Unix milliseconds; IDs come from ids_next(). */
#include "store/store.h"

#include <stddef.h>

struct store_migration {
    const char *name;
    const char *sql;
};

/* 0001_accounts: accounts, linked identities, avatars, sessions, invites and
 * server-side secrets. */
static const char m0001_accounts[] =
    "CREATE TABLE accounts (\n"
    "  id INTEGER PRIMARY KEY,\n"             /* ids_next() */
    "  username TEXT NOT NULL,\n"             /* as the user typed it */
    "  username_lc TEXT NOT NULL UNIQUE,\n"   /* lowercase: case-insensitively unique;
                                                 also the messenger localpart */
    "  display_name TEXT NOT NULL DEFAULT '',\n"
    "  bio TEXT NOT NULL DEFAULT '',\n"
    "  email TEXT,\n"
    "  password_hash TEXT,\n"                 /* argon2id PHC string; NULL for accounts
                                                 that only log in through an identity */
    "  is_admin INTEGER NOT NULL DEFAULT 0,\n"
    "  disabled INTEGER NOT NULL DEFAULT 0,\n"
    "  created_at INTEGER NOT NULL,\n"
    "  updated_at INTEGER NOT NULL\n"
    ");\n"
    /* Later: log in with a partner's ID (OIDC issuer + subject). */
    "CREATE TABLE account_identities (\n"
    "  issuer TEXT NOT NULL, subject TEXT NOT NULL,\n"
    "  account_id INTEGER NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,\n"
    "  created_at INTEGER NOT NULL, PRIMARY KEY (issuer, subject));\n"
    "CREATE INDEX account_identities_account ON account_identities(account_id);\n"
    "CREATE TABLE avatars (\n"
    "  account_id INTEGER PRIMARY KEY REFERENCES accounts(id) ON DELETE CASCADE,\n"
    "  content_type TEXT NOT NULL, data BLOB NOT NULL, updated_at INTEGER NOT NULL);\n"
    "CREATE TABLE sessions (\n"
    "  token_hash BLOB PRIMARY KEY,\n"        /* SHA-256 of the cookie token */
    "  account_id INTEGER NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,\n"
    "  created_at INTEGER NOT NULL, expires_at INTEGER NOT NULL,\n"
    "  last_seen_at INTEGER NOT NULL,\n"
    "  user_agent TEXT NOT NULL DEFAULT '', address TEXT NOT NULL DEFAULT '');\n"
    "CREATE INDEX sessions_account ON sessions(account_id);\n"
    "CREATE INDEX sessions_expires ON sessions(expires_at);\n"
    "CREATE TABLE invites (code_hash BLOB PRIMARY KEY, created_at INTEGER NOT NULL,\n"
    "  expires_at INTEGER NOT NULL, uses_left INTEGER NOT NULL);\n"
    /* Server-side keys (e.g. the CSRF key). */
    "CREATE TABLE secrets (name TEXT PRIMARY KEY, value BLOB NOT NULL,\n"
    "  created_at INTEGER NOT NULL);\n";

/* Index i holds migration i+1. Read by store_sqlite.c. */
const struct store_migration store__migrations[] = {
    {"0001_accounts", m0001_accounts},
};
const size_t store__migrations_count = sizeof(store__migrations) / sizeof(store__migrations[0]);
