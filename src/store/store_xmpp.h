/* SPDX-License-Identifier: MIT */
/* The messenger's per-account extension state: the blocklist (XEP-0191), the
 * vCard (XEP-0054, with the SHA-1 of its photo for XEP-0153) and the
 * personal eventing nodes and items (XEP-0163 on XEP-0060). Everything is
 * kept as the client sent it (a blocked JID prepared, a vCard or an item
 * payload serialized); the protocol modules parse nothing back but the
 * strings they wrote. Each table has a per-account limit, refused with
 * TD_ELIMIT (count) or TD_EINVAL (size) and never by dropping data: the
 * blocklist STORE_BLOCK_MAX JIDs, PEP STORE_PEP_NODES_MAX nodes of at most
 * STORE_PEP_MAX_ITEMS items each and STORE_PEP_BYTES_MAX payload bytes in
 * all. Tables are migration 0005_xmpp_ext. Return codes as in store.h. */
#ifndef TD_STORE_XMPP_H
#define TD_STORE_XMPP_H

#include "store/store.h"

#include <stddef.h>
#include <stdint.h>

#define STORE_BLOCK_MAX 1000             /* blocked JIDs per account */
#define STORE_BLOCK_JID_MAX 3071         /* bytes of one blocked JID */
#define STORE_VCARD_MAX (128 * 1024)     /* a serialized vCard, photo included */
#define STORE_PEP_NODES_MAX 64           /* PEP nodes per account */
#define STORE_PEP_NODE_NAME_MAX 1023     /* bytes of a node name */
#define STORE_PEP_ITEM_ID_MAX 1023       /* bytes of an item id */
#define STORE_PEP_PAYLOAD_MAX (128 * 1024) /* a serialized item payload */
#define STORE_PEP_MAX_ITEMS 100          /* the largest max_items of a node */
#define STORE_PEP_BYTES_MAX (4 * 1024 * 1024) /* payload bytes of all items of an account */

/* ---- blocklist (XEP-0191) ---- */

typedef int store_block_cb(void *ud, const char *jid);
/** The account's blocked JIDs ordered by JID. Non-zero from cb stops. */
int store_block_list(struct store *st, int64_t account_id, store_block_cb *cb, void *ud);
/** Add jid (TD_OK when already there). TD_ELIMIT past STORE_BLOCK_MAX;
 *  TD_EINVAL for an empty or over-long jid; TD_ENOTFOUND for no account. */
int store_block_add(struct store *st, int64_t account_id, const char *jid);
/** Remove jid; TD_OK even when it was not there. */
int store_block_remove(struct store *st, int64_t account_id, const char *jid);
/** Remove every JID of the account. */
int store_block_clear(struct store *st, int64_t account_id);

/* ---- vCard (XEP-0054, XEP-0153) ---- */

/** The serialized vCard and its photo hash (hex SHA-1, "" without a photo),
 *  malloc'd for the caller (either out pointer may be NULL). TD_ENOTFOUND. */
int store_vcard_get(struct store *st, int64_t account_id, char **vcard, char **photo_hash);
/** Replace the account's vCard. TD_EINVAL for an empty vcard, one over
 *  STORE_VCARD_MAX or a photo_hash over 64 bytes; TD_ENOTFOUND for no account. */
int store_vcard_set(struct store *st, int64_t account_id, const char *vcard,
                    const char *photo_hash);

/* ---- PEP (XEP-0163) ---- */

enum store_pep_access {
    STORE_PEP_PRESENCE = 0,  /* the owner and contacts with a subscription from the owner */
    STORE_PEP_OPEN = 1,      /* anyone */
    STORE_PEP_WHITELIST = 2, /* the owner only (an empty whitelist) */
};

struct store_pep_node {
    const char *node; /* when filled by the store: valid until the next call */
    int access;       /* enum store_pep_access */
    int max_items;    /* 1..STORE_PEP_MAX_ITEMS */
};

/** The configuration of a node (out->node points at name). TD_ENOTFOUND. */
int store_pep_node_get(struct store *st, int64_t account_id, const char *name,
                       struct store_pep_node *out);
/** Create a node or change its configuration; a lower max_items drops the
 *  oldest items past it. TD_ELIMIT for a new node past STORE_PEP_NODES_MAX;
 *  TD_EINVAL for a bad name, access or max_items. */
int store_pep_node_put(struct store *st, int64_t account_id, const struct store_pep_node *n);
/** Delete a node and its items. TD_ENOTFOUND when there is none. */
int store_pep_node_delete(struct store *st, int64_t account_id, const char *name);
typedef int store_pep_node_cb(void *ud, const struct store_pep_node *n);
/** The account's nodes ordered by name. Non-zero from cb stops. */
int store_pep_node_list(struct store *st, int64_t account_id, store_pep_node_cb *cb, void *ud);
/** Publish (or replace: it becomes the newest) item_id with payload on an
 *  existing node, then drop the oldest items past the node's max_items; in
 *  one transaction (not to be called inside store_begin). TD_ENOTFOUND
 *  without the node; TD_EINVAL for an empty or over-long id or payload;
 *  TD_ELIMIT when the account's payloads would pass STORE_PEP_BYTES_MAX. */
int store_pep_item_publish(struct store *st, int64_t account_id, const char *node,
                           const char *item_id, const char *payload, int64_t now);
/** Delete one item. TD_ENOTFOUND when there is none. */
int store_pep_item_retract(struct store *st, int64_t account_id, const char *node,
                           const char *item_id);
typedef int store_pep_item_cb(void *ud, const char *item_id, const char *payload,
                              int64_t published_at);
/** The newest max items of a node, newest first. Non-zero from cb stops. */
int store_pep_items_latest(struct store *st, int64_t account_id, const char *node, int max,
                           store_pep_item_cb *cb, void *ud);
/** One item by id; TD_ENOTFOUND when there is none. */
int store_pep_item_get(struct store *st, int64_t account_id, const char *node,
                       const char *item_id, store_pep_item_cb *cb, void *ud);

#endif
