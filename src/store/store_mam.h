/* SPDX-License-Identifier: MIT */
/* Per-account message archives (XEP-0313 Message Archive Management) and
 * their preferences. A row is one message in one account's archive: its id
 * is the XEP-0359 stanza-id the server gave it (an ids_next() value, so ids
 * grow with time and the archive is ordered by id), the other party's bare
 * JID and resource (the `with` filter), the direction, and the stanza as
 * serialized (a standalone <message xmlns='jabber:client'>). A message
 * between two local users is two rows, one in each archive, with different
 * ids. Each archive holds at most `max` rows (STORE_MAM_MAX by default): an
 * insert past it drops the oldest rows, plus a slack of max/100 so that the
 * trim runs about once per hundred inserts rather than on each. The row
 * count is kept in mam_archives by triggers (migration 0006_mam), next to
 * the preference default (XEP-0313 §7: always, roster, never). Return codes
 * as in store.h. */
#ifndef TD_STORE_MAM_H
#define TD_STORE_MAM_H

#include "store/store.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define STORE_MAM_MAX 100000              /* messages per archive; the oldest are trimmed */
#define STORE_MAM_JID_MAX 3071            /* a bare JID */
#define STORE_MAM_RES_MAX 1023            /* a resource */
#define STORE_MAM_STANZA_MAX (512 * 1024) /* a stored message */

enum store_mam_default {
    STORE_MAM_ALWAYS = 0, /* archive every message (the default without a row) */
    STORE_MAM_ROSTER = 1, /* only with JIDs in the user's roster */
    STORE_MAM_NEVER = 2,
};

struct store_mam_msg {
    int64_t id;            /* the stanza-id, > 0, unique across archives */
    const char *with_bare; /* the other party's bare JID */
    const char *with_res;  /* its resource, "" for none */
    bool outgoing;         /* sent by the archive's owner */
    const char *stanza;
};

/** Insert m into the account's archive, then trim it to at most max rows
 *  (oldest first, see above; max 0 means STORE_MAM_MAX). TD_EINVAL for a
 *  bad id, missing or over-long JID, resource or stanza; TD_EEXIST for an id
 *  already used; TD_ENOTFOUND for an unknown account. */
int store_mam_add(struct store *st, int64_t account_id, const struct store_mam_msg *m,
                  int64_t max);

/* A query on one archive: ids in [lo, hi] (0 = unbounded on that side),
 * optionally only with one bare JID, or one full JID (with_bare and with_res
 * both set). */
struct store_mam_filter {
    const char *with_bare; /* NULL: any */
    const char *with_res;  /* NULL: any resource of with_bare */
    int64_t lo, hi;
};

/** Called per row (strings valid only during the call); non-zero stops. */
typedef int store_mam_cb(void *ud, int64_t id, bool outgoing, const char *stanza);
/** Rows matching f in id order (reverse: newest first), at most limit of
 *  them (limit <= 0: none). */
int store_mam_query(struct store *st, int64_t account_id, const struct store_mam_filter *f,
                    bool reverse, int64_t limit, store_mam_cb *cb, void *ud);
/** How many rows match f. */
int store_mam_count(struct store *st, int64_t account_id, const struct store_mam_filter *f,
                    int64_t *n);
/** TD_OK if the archive holds id, else TD_ENOTFOUND. */
int store_mam_has(struct store *st, int64_t account_id, int64_t id);
/** Rows in the account's archive (0 without any). */
int store_mam_size(struct store *st, int64_t account_id, int64_t *n);

/** The preference default (STORE_MAM_ALWAYS when never set). */
int store_mam_prefs_get(struct store *st, int64_t account_id, enum store_mam_default *out);
/** Set it; TD_EINVAL for a value outside the enum, TD_ENOTFOUND for an unknown account. */
int store_mam_prefs_set(struct store *st, int64_t account_id, enum store_mam_default d);

#endif
