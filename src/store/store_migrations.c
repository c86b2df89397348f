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

/* 0002_oauth: the OAuth 2.0 authorization server and OpenID Connect provider
 * (store_oauth.h). Codes and tokens are kept only as SHA-256 hashes; a NULL
 * account_id is a token or device code without a user (client_credentials,
 * still pending). Child rows go with their client or account by cascade; the
 * extra indexes serve those cascades, the purge and the per-grant revocation. */
static const char m0002_oauth[] =
    "CREATE TABLE oauth_clients (\n"
    "  client_id TEXT PRIMARY KEY,\n"
    "  name TEXT NOT NULL DEFAULT '',\n"
    "  secret_hash BLOB,\n"                   /* keyed hash; NULL for a public client */
    "  redirect_uris TEXT NOT NULL DEFAULT '[]',\n"            /* JSON array */
    "  post_logout_redirect_uris TEXT NOT NULL DEFAULT '[]',\n" /* JSON array */
    "  grant_types TEXT NOT NULL DEFAULT '',\n"                /* space-separated */
    "  scope TEXT NOT NULL DEFAULT '',\n"                      /* space-separated */
    "  auth_method TEXT NOT NULL,\n"
    "  id_token_alg TEXT NOT NULL,\n"
    "  dynamic INTEGER NOT NULL DEFAULT 0,\n" /* registered through RFC 7591 */
    "  reg_token_hash BLOB,\n"                /* RFC 7592 registration access token */
    "  created_at INTEGER NOT NULL);\n"
    "CREATE TABLE oauth_codes (\n"
    "  code_hash BLOB PRIMARY KEY,\n"
    "  client_id TEXT NOT NULL REFERENCES oauth_clients(client_id) ON DELETE CASCADE,\n"
    "  account_id INTEGER NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,\n"
    "  redirect_uri TEXT NOT NULL,\n"
    "  scope TEXT NOT NULL DEFAULT '',\n"
    "  code_challenge TEXT, code_challenge_method TEXT, nonce TEXT,\n"
    "  auth_time INTEGER NOT NULL DEFAULT 0,\n"
    "  acr TEXT, amr TEXT,\n"
    "  grant_id INTEGER NOT NULL,\n"
    "  expires_at INTEGER NOT NULL,\n"
    "  used_at INTEGER NOT NULL DEFAULT 0);\n" /* 0 until redeemed */
    "CREATE INDEX oauth_codes_client ON oauth_codes(client_id);\n"
    "CREATE INDEX oauth_codes_account ON oauth_codes(account_id, client_id);\n"
    "CREATE INDEX oauth_codes_expires ON oauth_codes(expires_at);\n"
    "CREATE TABLE oauth_tokens (\n"
    "  token_hash BLOB PRIMARY KEY,\n"
    "  kind INTEGER NOT NULL,\n"              /* 1 access, 2 refresh */
    "  client_id TEXT NOT NULL REFERENCES oauth_clients(client_id) ON DELETE CASCADE,\n"
    "  account_id INTEGER REFERENCES accounts(id) ON DELETE CASCADE,\n"
    "  scope TEXT NOT NULL DEFAULT '',\n"
    "  grant_id INTEGER NOT NULL,\n"          /* the token family */
    "  auth_time INTEGER NOT NULL DEFAULT 0,\n"
    "  created_at INTEGER NOT NULL,\n"
    "  expires_at INTEGER NOT NULL,\n"
    "  revoked INTEGER NOT NULL DEFAULT 0,\n"
    "  used INTEGER NOT NULL DEFAULT 0);\n"   /* refresh token rotated away */
    "CREATE INDEX oauth_tokens_grant ON oauth_tokens(grant_id);\n"
    "CREATE INDEX oauth_tokens_account ON oauth_tokens(account_id, client_id);\n"
    "CREATE INDEX oauth_tokens_client ON oauth_tokens(client_id);\n"
    "CREATE INDEX oauth_tokens_expires ON oauth_tokens(expires_at);\n"
    "CREATE TABLE oauth_consents (\n"
    "  account_id INTEGER NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,\n"
    "  client_id TEXT NOT NULL REFERENCES oauth_clients(client_id) ON DELETE CASCADE,\n"
    "  scope TEXT NOT NULL,\n"
    "  created_at INTEGER NOT NULL,\n"        /* first consent; kept on overwrite */
    "  PRIMARY KEY (account_id, client_id));\n"
    "CREATE INDEX oauth_consents_client ON oauth_consents(client_id);\n"
    "CREATE TABLE oauth_device_codes (\n"
    "  device_code_hash BLOB PRIMARY KEY,\n"
    "  user_code TEXT NOT NULL UNIQUE,\n"     /* normalized */
    "  client_id TEXT NOT NULL REFERENCES oauth_clients(client_id) ON DELETE CASCADE,\n"
    "  scope TEXT NOT NULL DEFAULT '',\n"
    "  expires_at INTEGER NOT NULL,\n"
    "  interval_ms INTEGER NOT NULL,\n"
    "  last_poll_at INTEGER NOT NULL DEFAULT 0,\n"
    "  status INTEGER NOT NULL DEFAULT 0,\n"  /* enum oauth_device_status */
    "  account_id INTEGER REFERENCES accounts(id) ON DELETE CASCADE,\n"
    "  auth_time INTEGER NOT NULL DEFAULT 0);\n"
    "CREATE INDEX oauth_device_codes_client ON oauth_device_codes(client_id);\n"
    "CREATE INDEX oauth_device_codes_account ON oauth_device_codes(account_id);\n"
    "CREATE INDEX oauth_device_codes_expires ON oauth_device_codes(expires_at);\n"
    /* Signing keys: the private half never leaves the server. */
    "CREATE TABLE oauth_keys (\n"
    "  kid TEXT PRIMARY KEY,\n"
    "  alg TEXT NOT NULL,\n"
    "  private_pem TEXT NOT NULL,\n"          /* PKCS#8 */
    "  created_at INTEGER NOT NULL,\n"
    "  use_from INTEGER NOT NULL,\n"
    "  retire_at INTEGER NOT NULL DEFAULT 0);\n";

/* 0003_scram: SCRAM credentials for the messenger's SASL (RFC 5802, RFC 7677),
 * one row per hash, in the RFC 5803 text form (salt, iteration count,
 * StoredKey, ServerKey; never the password). Set together with the argon2id
 * hash whenever a password is set. */
static const char m0003_scram[] =
    "CREATE TABLE account_scram (\n"
    "  account_id INTEGER NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,\n"
    "  mechanism TEXT NOT NULL,\n"          /* SCRAM-SHA-1, SCRAM-SHA-256 */
    "  credential TEXT NOT NULL,\n"         /* RFC 5803 */
    "  PRIMARY KEY (account_id, mechanism));\n";

/* 0004_roster: the messenger's rosters and offline messages (RFC 6121 §2,
 * §3; XEP-0160; store_roster.h). A roster row is one contact of an account:
 * subscription 0 none, 1 to, 2 from, 3 both; ask = pending out; pending_in
 * with the stored subscribe stanza; approved = pre-approved (§3.4);
 * in_roster 0 for a row that only holds a pending request. Offline messages
 * are serialized stanzas, delivered oldest first (by id) and then deleted. */
static const char m0004_roster[] =
    "CREATE TABLE roster_items (\n"
    "  account_id INTEGER NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,\n"
    "  jid TEXT NOT NULL,\n"                /* contact bare JID, prepared */
    "  name TEXT NOT NULL DEFAULT '',\n"
    "  groups TEXT NOT NULL DEFAULT '[]',\n" /* JSON array of strings */
    "  subscription INTEGER NOT NULL DEFAULT 0,\n"
    "  ask INTEGER NOT NULL DEFAULT 0,\n"
    "  pending_in INTEGER NOT NULL DEFAULT 0,\n"
    "  pending_stanza TEXT,\n"
    "  approved INTEGER NOT NULL DEFAULT 0,\n"
    "  in_roster INTEGER NOT NULL DEFAULT 1,\n"
    "  PRIMARY KEY (account_id, jid));\n"
    "CREATE TABLE offline_messages (\n"
    "  id INTEGER PRIMARY KEY AUTOINCREMENT,\n"
    "  account_id INTEGER NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,\n"
    "  stanza TEXT NOT NULL,\n"
    "  stamp INTEGER NOT NULL);\n"
    "CREATE INDEX offline_messages_account ON offline_messages(account_id, id);\n";

/* 0005_xmpp_ext: the messenger's extension state (store_xmpp.h): blocked
 * JIDs (XEP-0191, prepared), one vCard per account (XEP-0054, serialized,
 * with the hex SHA-1 of its photo for XEP-0153, '' without one), and PEP
 * (XEP-0163): nodes with their access model (0 presence, 1 open, 2
 * whitelist) and max_items, items ordered by id (a republished item gets a
 * new id, so the newest has the largest). */
static const char m0005_xmpp_ext[] =
    "CREATE TABLE xmpp_blocklist (\n"
    "  account_id INTEGER NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,\n"
    "  jid TEXT NOT NULL,\n"
    "  PRIMARY KEY (account_id, jid));\n"
    "CREATE TABLE xmpp_vcards (\n"
    "  account_id INTEGER PRIMARY KEY REFERENCES accounts(id) ON DELETE CASCADE,\n"
    "  vcard TEXT NOT NULL,\n"
    "  photo_hash TEXT NOT NULL DEFAULT '',\n"
    "  updated_at INTEGER NOT NULL);\n"
    "CREATE TABLE pep_nodes (\n"
    "  account_id INTEGER NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,\n"
    "  node TEXT NOT NULL,\n"
    "  access_model INTEGER NOT NULL DEFAULT 0,\n"
    "  max_items INTEGER NOT NULL DEFAULT 1,\n"
    "  created_at INTEGER NOT NULL,\n"
    "  PRIMARY KEY (account_id, node));\n"
    "CREATE TABLE pep_items (\n"
    "  id INTEGER PRIMARY KEY AUTOINCREMENT,\n"
    "  account_id INTEGER NOT NULL,\n"
    "  node TEXT NOT NULL,\n"
    "  item_id TEXT NOT NULL,\n"
    "  payload TEXT NOT NULL,\n"            /* the item's child, serialized */
    "  published_at INTEGER NOT NULL,\n"
    "  FOREIGN KEY (account_id, node) REFERENCES pep_nodes(account_id, node) ON DELETE CASCADE,\n"
    "  UNIQUE (account_id, node, item_id));\n"
    "CREATE INDEX pep_items_node ON pep_items(account_id, node, id);\n";
/* 0006_mam: message archives (XEP-0313, XEP-0359; store_mam.h). id is the
 * stanza-id given to the message (ids_next(), so id order is time order and
 * a time range is an id range); with_bare/with_res the other party. One row
 * per account in mam_archives holds the preference default (0 always, 1
 * roster, 2 never) and the row count, kept by the triggers so that the
 * size limit is checked without counting the archive. */
static const char m0006_mam[] =
    "CREATE TABLE mam_messages (\n"
    "  id INTEGER PRIMARY KEY,\n"             /* the stanza-id */
    "  account_id INTEGER NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,\n"
    "  with_bare TEXT NOT NULL,\n"
    "  with_res TEXT NOT NULL DEFAULT '',\n"
    "  outgoing INTEGER NOT NULL,\n"
    "  stanza TEXT NOT NULL);\n"
    "CREATE INDEX mam_messages_account ON mam_messages(account_id, id);\n"
    "CREATE INDEX mam_messages_with ON mam_messages(account_id, with_bare, id);\n"
    "CREATE TABLE mam_archives (\n"
    "  account_id INTEGER PRIMARY KEY REFERENCES accounts(id) ON DELETE CASCADE,\n"
    "  default_mode INTEGER NOT NULL DEFAULT 0,\n"
    "  count INTEGER NOT NULL DEFAULT 0);\n"
    "CREATE TRIGGER mam_messages_ins AFTER INSERT ON mam_messages BEGIN\n"
    "  INSERT INTO mam_archives (account_id, count) VALUES (NEW.account_id, 1)\n"
    "  ON CONFLICT (account_id) DO UPDATE SET count = count + 1;\n"
    "END;\n"
    "CREATE TRIGGER mam_messages_del AFTER DELETE ON mam_messages BEGIN\n"
    "  UPDATE mam_archives SET count = count - 1 WHERE account_id = OLD.account_id;\n"
    "END;\n";

/* 0007_oauth_fast: every index on oauth_tokens is one more B-tree page written per
 * token issued. Keep the ones queries use (the primary key for look-ups, grant_id for
 * revoking a family, (account_id, client_id) for revoking a connected app, listing
 * them and the account cascade); drop oauth_tokens_client, which only served the
 * cascade of a client deletion (a rare administrative act that may scan), and
 * oauth_tokens_expires, which only served store_oauth_purge_expired() (a batch job
 * that may scan). */
static const char m0007_oauth_fast[] =
    "DROP INDEX oauth_tokens_client;\n"
    "DROP INDEX oauth_tokens_expires;\n";

/* 0008_microblog: the microblog (store_mb.h). Posts are keyed by ids_next()
 * snowflakes, so "newest first" is ORDER BY id DESC and every list pages by
 * id. A reblog is a post without text whose reblog_of_id names the original
 * (deleted with it by cascade); in_reply_to_id is not a foreign key, so a
 * reply outlives its deleted parent as in Mastodon. Counters live in
 * posts.*_count and account_stats and are kept by the triggers at the end,
 * which fire in the writing transaction, also for rows removed by a cascade
 * (an account's deletion fixes the counts of the posts it favourited). The
 * secondary indexes of WITHOUT ROWID tables carry the primary key, so
 * follows_followee (followee_id, id) also covers the follower ids of the
 * fan-out scan. Notifications of type favourite, reblog and follow are unique
 * per (recipient, type, sender, post). */
static const char m0008_microblog[] =
    "ALTER TABLE accounts ADD COLUMN locked INTEGER NOT NULL DEFAULT 0;\n"
    "ALTER TABLE accounts ADD COLUMN discoverable INTEGER NOT NULL DEFAULT 1;\n"
    "CREATE TABLE posts (\n"
    "  id INTEGER PRIMARY KEY,\n"
    "  account_id INTEGER NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,\n"
    "  in_reply_to_id INTEGER,\n"
    "  in_reply_to_account_id INTEGER,\n"
    "  reblog_of_id INTEGER REFERENCES posts(id) ON DELETE CASCADE,\n"
    "  visibility INTEGER NOT NULL DEFAULT 0,\n" /* 0 public 1 unlisted 2 private 3 direct */
    "  sensitive INTEGER NOT NULL DEFAULT 0,\n"
    "  spoiler_text TEXT NOT NULL DEFAULT '',\n"
    "  source TEXT NOT NULL DEFAULT '',\n"       /* as typed */
    "  content TEXT NOT NULL DEFAULT '',\n"      /* rendered HTML */
    "  language TEXT,\n"
    "  created_at INTEGER NOT NULL,\n"
    "  edited_at INTEGER NOT NULL DEFAULT 0,\n"  /* 0: never edited */
    "  replies_count INTEGER NOT NULL DEFAULT 0,\n"
    "  reblogs_count INTEGER NOT NULL DEFAULT 0,\n"
    "  favourites_count INTEGER NOT NULL DEFAULT 0,\n"
    "  idempotency_hash BLOB);\n"                /* SHA-256 of Idempotency-Key */
    "CREATE INDEX posts_account ON posts(account_id, id);\n"
    "CREATE INDEX posts_reply ON posts(in_reply_to_id) WHERE in_reply_to_id IS NOT NULL;\n"
    "CREATE INDEX posts_reblog ON posts(reblog_of_id) WHERE reblog_of_id IS NOT NULL;\n"
    "CREATE UNIQUE INDEX posts_reblog_once ON posts(account_id, reblog_of_id)\n"
    "  WHERE reblog_of_id IS NOT NULL;\n"
    "CREATE UNIQUE INDEX posts_idempotency ON posts(account_id, idempotency_hash)\n"
    "  WHERE idempotency_hash IS NOT NULL;\n"
    "CREATE INDEX posts_public ON posts(id) WHERE visibility = 0 AND reblog_of_id IS NULL;\n"
    "CREATE INDEX posts_direct ON posts(account_id, id) WHERE visibility = 3;\n"
    "CREATE TABLE post_edits (\n"
    "  post_id INTEGER NOT NULL REFERENCES posts(id) ON DELETE CASCADE,\n"
    "  id INTEGER NOT NULL,\n"                   /* ids_next(): the order of versions */
    "  edited_at INTEGER NOT NULL,\n"            /* when this version was written */
    "  source TEXT NOT NULL, content TEXT NOT NULL, spoiler_text TEXT NOT NULL,\n"
    "  sensitive INTEGER NOT NULL,\n"
    "  PRIMARY KEY (post_id, id)) WITHOUT ROWID;\n"
    "CREATE TABLE mentions (\n"
    "  post_id INTEGER NOT NULL REFERENCES posts(id) ON DELETE CASCADE,\n"
    "  account_id INTEGER NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,\n"
    "  PRIMARY KEY (post_id, account_id)) WITHOUT ROWID;\n"
    "CREATE INDEX mentions_account ON mentions(account_id, post_id);\n"
    "CREATE TABLE tags (id INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE);\n" /* normalized */
    "CREATE TABLE post_tags (\n"
    "  tag_id INTEGER NOT NULL REFERENCES tags(id) ON DELETE CASCADE,\n"
    "  post_id INTEGER NOT NULL REFERENCES posts(id) ON DELETE CASCADE,\n"
    "  PRIMARY KEY (tag_id, post_id)) WITHOUT ROWID;\n"
    "CREATE INDEX post_tags_post ON post_tags(post_id, tag_id);\n"
    "CREATE TABLE follows (\n"
    "  follower_id INTEGER NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,\n"
    "  followee_id INTEGER NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,\n"
    "  id INTEGER NOT NULL,\n"                   /* ids_next(): pages the lists */
    "  created_at INTEGER NOT NULL,\n"
    "  show_reblogs INTEGER NOT NULL DEFAULT 1,\n"
    "  PRIMARY KEY (follower_id, followee_id)) WITHOUT ROWID;\n"
    "CREATE INDEX follows_followee ON follows(followee_id, id);\n"
    "CREATE INDEX follows_follower ON follows(follower_id, id);\n"
    "CREATE TABLE follow_requests (\n"
    "  requester_id INTEGER NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,\n"
    "  target_id INTEGER NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,\n"
    "  id INTEGER NOT NULL,\n"
    "  created_at INTEGER NOT NULL,\n"
    "  show_reblogs INTEGER NOT NULL DEFAULT 1,\n"
    "  PRIMARY KEY (requester_id, target_id)) WITHOUT ROWID;\n"
    "CREATE INDEX follow_requests_target ON follow_requests(target_id, id);\n"
    "CREATE TABLE blocks (\n"
    "  account_id INTEGER NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,\n"
    "  target_id INTEGER NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,\n"
    "  id INTEGER NOT NULL,\n"
    "  created_at INTEGER NOT NULL,\n"
    "  PRIMARY KEY (account_id, target_id)) WITHOUT ROWID;\n"
    "CREATE INDEX blocks_target ON blocks(target_id, account_id);\n"
    "CREATE INDEX blocks_list ON blocks(account_id, id);\n"
    "CREATE TABLE mutes (\n"
    "  account_id INTEGER NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,\n"
    "  target_id INTEGER NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,\n"
    "  id INTEGER NOT NULL,\n"
    "  hide_notifications INTEGER NOT NULL DEFAULT 1,\n"
    "  expires_at INTEGER NOT NULL DEFAULT 0,\n" /* 0: never */
    "  created_at INTEGER NOT NULL,\n"
    "  PRIMARY KEY (account_id, target_id)) WITHOUT ROWID;\n"
    "CREATE INDEX mutes_target ON mutes(target_id);\n"
    "CREATE INDEX mutes_list ON mutes(account_id, id);\n"
    "CREATE TABLE favourites (\n"
    "  account_id INTEGER NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,\n"
    "  post_id INTEGER NOT NULL REFERENCES posts(id) ON DELETE CASCADE,\n"
    "  id INTEGER NOT NULL,\n"
    "  created_at INTEGER NOT NULL,\n"
    "  PRIMARY KEY (account_id, post_id)) WITHOUT ROWID;\n"
    "CREATE INDEX favourites_post ON favourites(post_id, id);\n"
    "CREATE INDEX favourites_list ON favourites(account_id, id);\n"
    "CREATE TABLE notifications (\n"
    "  id INTEGER PRIMARY KEY,\n"
    "  account_id INTEGER NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,\n"
    "  type TEXT NOT NULL,\n"
    "  from_account_id INTEGER NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,\n"
    "  post_id INTEGER REFERENCES posts(id) ON DELETE CASCADE,\n"
    "  created_at INTEGER NOT NULL,\n"
    "  read INTEGER NOT NULL DEFAULT 0);\n"
    "CREATE INDEX notifications_account ON notifications(account_id, id);\n"
    "CREATE INDEX notifications_from ON notifications(from_account_id);\n"
    "CREATE INDEX notifications_post ON notifications(post_id) WHERE post_id IS NOT NULL;\n"
    "CREATE UNIQUE INDEX notifications_once ON notifications(account_id, type,\n"
    "  from_account_id, ifnull(post_id, 0)) WHERE type IN ('favourite', 'reblog', 'follow');\n"
    "CREATE TABLE media (\n"
    "  id INTEGER PRIMARY KEY,\n"
    "  account_id INTEGER NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,\n"
    "  post_id INTEGER REFERENCES posts(id) ON DELETE SET NULL,\n" /* NULL until attached */
    "  content_type TEXT NOT NULL,\n"
    "  data BLOB NOT NULL,\n"
    "  thumb BLOB, thumb_type TEXT,\n"
    "  width INTEGER NOT NULL DEFAULT 0, height INTEGER NOT NULL DEFAULT 0,\n"
    "  description TEXT NOT NULL DEFAULT '',\n"
    "  blurhash TEXT,\n"
    "  created_at INTEGER NOT NULL);\n"
    "CREATE INDEX media_post ON media(post_id) WHERE post_id IS NOT NULL;\n"
    "CREATE INDEX media_account ON media(account_id, id);\n"
    "CREATE TABLE account_stats (\n"
    "  account_id INTEGER PRIMARY KEY REFERENCES accounts(id) ON DELETE CASCADE,\n"
    "  followers_count INTEGER NOT NULL DEFAULT 0,\n"
    "  following_count INTEGER NOT NULL DEFAULT 0,\n"
    "  statuses_count INTEGER NOT NULL DEFAULT 0,\n"
    "  last_status_at INTEGER NOT NULL DEFAULT 0);\n"
    "INSERT INTO account_stats (account_id) SELECT id FROM accounts;\n"
    /* The counters. statuses_count leaves out direct posts, as Mastodon does. */
    "CREATE TRIGGER accounts_stats AFTER INSERT ON accounts BEGIN\n"
    "  INSERT OR IGNORE INTO account_stats (account_id) VALUES (NEW.id); END;\n"
    "CREATE TRIGGER posts_ins AFTER INSERT ON posts BEGIN\n"
    "  UPDATE account_stats SET statuses_count = statuses_count + (NEW.visibility <> 3),\n"
    "    last_status_at = max(last_status_at, NEW.created_at) WHERE account_id = NEW.account_id;\n"
    "  UPDATE posts SET replies_count = replies_count + 1 WHERE id = NEW.in_reply_to_id;\n"
    "  UPDATE posts SET reblogs_count = reblogs_count + 1 WHERE id = NEW.reblog_of_id; END;\n"
    "CREATE TRIGGER posts_del AFTER DELETE ON posts BEGIN\n"
    "  UPDATE account_stats SET statuses_count = max(statuses_count - (OLD.visibility <> 3), 0)\n"
    "    WHERE account_id = OLD.account_id;\n"
    "  UPDATE posts SET replies_count = max(replies_count - 1, 0) WHERE id = OLD.in_reply_to_id;\n"
    "  UPDATE posts SET reblogs_count = max(reblogs_count - 1, 0) WHERE id = OLD.reblog_of_id;\n"
    "  END;\n"
    "CREATE TRIGGER favourites_ins AFTER INSERT ON favourites BEGIN\n"
    "  UPDATE posts SET favourites_count = favourites_count + 1 WHERE id = NEW.post_id; END;\n"
    "CREATE TRIGGER favourites_del AFTER DELETE ON favourites BEGIN\n"
    "  UPDATE posts SET favourites_count = max(favourites_count - 1, 0) WHERE id = OLD.post_id;\n"
    "  END;\n"
    "CREATE TRIGGER follows_ins AFTER INSERT ON follows BEGIN\n"
    "  UPDATE account_stats SET following_count = following_count + 1\n"
    "    WHERE account_id = NEW.follower_id;\n"
    "  UPDATE account_stats SET followers_count = followers_count + 1\n"
    "    WHERE account_id = NEW.followee_id; END;\n"
    "CREATE TRIGGER follows_del AFTER DELETE ON follows BEGIN\n"
    "  UPDATE account_stats SET following_count = max(following_count - 1, 0)\n"
    "    WHERE account_id = OLD.follower_id;\n"
    "  UPDATE account_stats SET followers_count = max(followers_count - 1, 0)\n"
    "    WHERE account_id = OLD.followee_id; END;\n";

/* 0009_oauth_token_ids: tokens carry their row id (ids_next(), time-ordered), so the
 * live table is keyed by that id and every new token is appended at the right edge
 * of the B-tree instead of landing on a random leaf (which dirtied a page per token
 * in the WAL). The row holds the SHA-256 of the whole token string, compared in
 * constant time after the look-up by id. The old table, keyed by the hash, becomes
 * oauth_tokens_legacy: tokens of the old format (no id inside) are still found there
 * until they expire and store_oauth_purge_expired() removes them; nothing new is
 * written to it. Its indexes are renamed with it (recreated under new names). The
 * new table keeps the two indexes queries need, both appended to: grant_id is an
 * ids_next() snowflake too, and (account_id, client_id) grows at the end of each
 * pair's range (client_credentials tokens all share (NULL, client)). */
static const char m0009_oauth_token_ids[] =
    "ALTER TABLE oauth_tokens RENAME TO oauth_tokens_legacy;\n"
    "DROP INDEX oauth_tokens_grant;\n"
    "DROP INDEX oauth_tokens_account;\n"
    "CREATE INDEX oauth_tokens_legacy_grant ON oauth_tokens_legacy(grant_id);\n"
    "CREATE INDEX oauth_tokens_legacy_account ON oauth_tokens_legacy(account_id, client_id);\n"
    "CREATE TABLE oauth_tokens (\n"
    "  id INTEGER PRIMARY KEY,\n"             /* the id inside the token */
    "  token_hash BLOB NOT NULL,\n"           /* SHA-256 of the whole token string */
    "  kind INTEGER NOT NULL,\n"              /* 1 access, 2 refresh */
    "  client_id TEXT NOT NULL REFERENCES oauth_clients(client_id) ON DELETE CASCADE,\n"
    "  account_id INTEGER REFERENCES accounts(id) ON DELETE CASCADE,\n"
    "  scope TEXT NOT NULL DEFAULT '',\n"
    "  grant_id INTEGER NOT NULL,\n"          /* the token family */
    "  auth_time INTEGER NOT NULL DEFAULT 0,\n"
    "  created_at INTEGER NOT NULL,\n"
    "  expires_at INTEGER NOT NULL,\n"
    "  revoked INTEGER NOT NULL DEFAULT 0,\n"
    "  used INTEGER NOT NULL DEFAULT 0);\n"   /* refresh token rotated away */
    "CREATE INDEX oauth_tokens_grant ON oauth_tokens(grant_id);\n"
    "CREATE INDEX oauth_tokens_account ON oauth_tokens(account_id, client_id);\n";

/* 0010_muc: XEP-0045 persistent rooms: the configuration, subject and affiliations
 * of a room as one JSON document (store_muc.h). */
static const char m0010_muc[] =
    "CREATE TABLE muc_rooms (\n"
    "  service TEXT NOT NULL,\n"
    "  name TEXT NOT NULL,\n"
    "  data TEXT NOT NULL,\n"
    "  updated_at INTEGER NOT NULL,\n"
    "  PRIMARY KEY (service, name));\n";

/* 0011_mb_search: full-text search over the posts' source text (an
 * external-content FTS5 table: the text lives once, in posts; the index is
 * kept in step by triggers, reblogs left out), and the Mastodon API's
 * read markers (home, notifications) per account. */
static const char m0011_mb_search[] =
    "CREATE VIRTUAL TABLE posts_fts USING fts5(source, content='posts', content_rowid='id',\n"
    "  tokenize='unicode61 remove_diacritics 2');\n"
    "INSERT INTO posts_fts (rowid, source) SELECT id, source FROM posts\n"
    "  WHERE reblog_of_id IS NULL;\n"
    "CREATE TRIGGER posts_fts_ins AFTER INSERT ON posts WHEN NEW.reblog_of_id IS NULL BEGIN\n"
    "  INSERT INTO posts_fts (rowid, source) VALUES (NEW.id, NEW.source); END;\n"
    "CREATE TRIGGER posts_fts_del AFTER DELETE ON posts WHEN OLD.reblog_of_id IS NULL BEGIN\n"
    "  INSERT INTO posts_fts (posts_fts, rowid, source) VALUES ('delete', OLD.id, OLD.source);\n"
    "  END;\n"
    "CREATE TRIGGER posts_fts_upd AFTER UPDATE OF source ON posts\n"
    "  WHEN OLD.reblog_of_id IS NULL BEGIN\n"
    "  INSERT INTO posts_fts (posts_fts, rowid, source) VALUES ('delete', OLD.id, OLD.source);\n"
    "  INSERT INTO posts_fts (rowid, source) VALUES (NEW.id, NEW.source); END;\n"
    "CREATE TABLE mb_markers (\n"
    "  account_id INTEGER NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,\n"
    "  timeline TEXT NOT NULL,\n"              /* 'home' or 'notifications' */
    "  last_read_id INTEGER NOT NULL,\n"
    "  version INTEGER NOT NULL DEFAULT 1,\n"
    "  updated_at INTEGER NOT NULL,\n"
    "  PRIMARY KEY (account_id, timeline)) WITHOUT ROWID;\n";

/* 0012_client_uri: the page about a client (RFC 7591 §2 client_uri; the
 * Mastodon API's app "website"), NULL when the client gave none. */
static const char m0012_client_uri[] = "ALTER TABLE oauth_clients ADD COLUMN client_uri TEXT;\n";

/* 0013_media_focus: the focal point of an image (Mastodon's media focus,
 * x and y from -1 to 1; NULL when none was set), which clients keep in view
 * when they crop a preview. */
static const char m0013_media_focus[] = "ALTER TABLE media ADD COLUMN focus_x REAL;\n"
                                        "ALTER TABLE media ADD COLUMN focus_y REAL;\n";

/* Index i holds migration i+1. Read by store_sqlite.c. */
const struct store_migration store__migrations[] = {
    {"0001_accounts", m0001_accounts},
    {"0002_oauth", m0002_oauth},
    {"0003_scram", m0003_scram},
    {"0004_roster", m0004_roster},
    {"0005_xmpp_ext", m0005_xmpp_ext},
    {"0006_mam", m0006_mam},
    {"0007_oauth_fast", m0007_oauth_fast},
    {"0008_microblog", m0008_microblog},
    {"0009_oauth_token_ids", m0009_oauth_token_ids},
    {"0010_muc", m0010_muc},
    {"0011_mb_search", m0011_mb_search},
    {"0012_client_uri", m0012_client_uri},
    {"0013_media_focus", m0013_media_focus},
};
const size_t store__migrations_count = sizeof(store__migrations) / sizeof(store__migrations[0]);
