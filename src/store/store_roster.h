/* SPDX-License-Identifier: MIT */
/* The messenger's per-account persistent state (RFC 6121): roster items with
 * their subscription state (§2.1.2: subscription none/to/from/both, ask =
 * pending out, plus pending in with the stored subscribe stanza, §3.1.3, and
 * pre-approval, §3.4) and offline messages (XEP-0160). A row may exist only
 * to hold a pending inbound request for a contact that is not in the roster
 * (in_roster false, RFC 6121 §3.1.3: such a request must not add an item).
 * Groups are kept as a JSON array. Offline messages are serialized stanzas
 * with their store time, at most STORE_OFFLINE_MAX per account: a further
 * one is refused with TD_ELIMIT (the caller bounces it, XEP-0160 §3); nothing
 * is dropped silently. Tables are migration 0004_roster. Return codes as in
 * store.h. */
#ifndef TD_STORE_ROSTER_H
#define TD_STORE_ROSTER_H

#include "store/store.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define STORE_ROSTER_MAX 1000            /* roster items (in_roster rows) per account */
#define STORE_ROSTER_ROWS_MAX 2000       /* rows of any kind (items + pending-only) */
#define STORE_ROSTER_JID_MAX 3071        /* a bare JID: two parts of 1023 bytes and '@' */
#define STORE_ROSTER_NAME_MAX 256        /* bytes of an item's name */
#define STORE_ROSTER_GROUP_MAX 256       /* bytes of one group name */
#define STORE_ROSTER_GROUPS_MAX 32       /* groups per item */
#define STORE_ROSTER_STANZA_MAX 8192     /* a stored subscribe request */
#define STORE_OFFLINE_MAX 1000           /* offline messages per account */
#define STORE_OFFLINE_STANZA_MAX (512 * 1024)

enum store_sub {
    STORE_SUB_NONE = 0,
    STORE_SUB_TO = 1,   /* the owner sees the contact's presence */
    STORE_SUB_FROM = 2, /* the contact sees the owner's presence */
    STORE_SUB_BOTH = 3, /* TO | FROM */
};

struct store_roster_item {
    char *jid;              /* contact bare JID (prepared) */
    char *name;             /* NULL = none */
    char **groups;          /* ngroups strings */
    size_t ngroups;
    int sub;                /* enum store_sub */
    bool ask;               /* pending out: we asked the contact */
    bool pending_in;        /* the contact asked us; stanza below */
    char *pending_stanza;   /* the stored subscribe, serialized; may be NULL */
    bool approved;          /* pre-approved (RFC 6121 §3.4) */
    bool in_roster;         /* false: a row holding only a pending request */
}; /* strings owned by the struct when filled by the store */

/** Free the strings of a store-filled item and zero it. NULL-safe. */
void store_roster_item_clear(struct store_roster_item *it);
/** The row of (account, jid) into *out (zeroed first). TD_ENOTFOUND. */
int store_roster_get(struct store *st, int64_t account_id, const char *jid,
                     struct store_roster_item *out);
/** Insert or replace the row it->jid of the account (the item stays the
 *  caller's). TD_EINVAL for a missing or over-long jid, name, group or stanza
 *  or too many groups; TD_ELIMIT when the row would be a new roster item past
 *  STORE_ROSTER_MAX, or a new row past STORE_ROSTER_ROWS_MAX; TD_ENOTFOUND
 *  for an unknown account. */
int store_roster_put(struct store *st, int64_t account_id, const struct store_roster_item *it);
/** Delete the row; TD_OK even when there was none. */
int store_roster_delete(struct store *st, int64_t account_id, const char *jid);
/** Called per row (it is valid only during the call). Non-zero stops the list. */
typedef int store_roster_cb(void *ud, const struct store_roster_item *it);
/** Every row of the account ordered by jid (roster items and pending-only rows). */
int store_roster_list(struct store *st, int64_t account_id, store_roster_cb *cb, void *ud);

/** Store a stanza for the account (stamp: ms). TD_ELIMIT when the account
 *  already holds STORE_OFFLINE_MAX; TD_EINVAL for an empty or over-long
 *  stanza; TD_ENOTFOUND for an unknown account. */
int store_offline_add(struct store *st, int64_t account_id, const char *stanza, int64_t stamp);
typedef int store_offline_cb(void *ud, int64_t id, const char *stanza, int64_t stamp);
/** The account's stored messages, oldest first. Non-zero from cb stops. */
int store_offline_list(struct store *st, int64_t account_id, store_offline_cb *cb, void *ud);
/** Delete the account's messages with id <= upto (after delivering them). */
int store_offline_delete(struct store *st, int64_t account_id, int64_t upto);
/** Messages held for the account. */
int store_offline_count(struct store *st, int64_t account_id, int64_t *n);

#endif
