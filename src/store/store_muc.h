/* SPDX-License-Identifier: MIT */
/* Persistent Multi-User Chat rooms (XEP-0045 §10.2 muc#roomconfig_persistentroom):
 * one row per room of a service, holding the room's configuration, subject
 * and affiliations as one opaque document (JSON written and read by
 * xmpp_muc.c), so the room comes back as it was when the server restarts.
 * Temporary rooms are never stored. Migration 0010_muc. */
#ifndef TD_STORE_MUC_H
#define TD_STORE_MUC_H

#include "store/store.h"

#define STORE_MUC_NAME_MAX 1023           /* a room's localpart or a service domain */
#define STORE_MUC_DATA_MAX (1024 * 1024)  /* bytes of one room's document */

/** Insert or replace the room (service, name). TD_EINVAL when a part is
 *  empty or too long, TD_ETOOBIG when data exceeds STORE_MUC_DATA_MAX. */
int store_muc_put(struct store *st, const char *service, const char *name, const char *data);
/** Delete the room; TD_OK even when there was none. */
int store_muc_delete(struct store *st, const char *service, const char *name);
/** Called per room (strings valid during the call); non-zero stops the list. */
typedef int store_muc_cb(void *ud, const char *name, const char *data);
/** Every stored room of the service, ordered by name. */
int store_muc_list(struct store *st, const char *service, store_muc_cb *cb, void *ud);

#endif
