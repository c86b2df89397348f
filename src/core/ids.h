/* SPDX-License-Identifier: MIT */
/* 64-bit time-sortable identifiers (snowflake-like) for accounts, posts,
 * messages and activities. Layout, most significant bit first: 1 zero bit (so
 * every ID is positive as an int64_t), 41 bits of milliseconds since
 * 2020-01-01T00:00:00Z (good until about 2089), a 10-bit node id and a 12-bit
 * sequence within the millisecond. IDs from one process are strictly
 * increasing even when the wall clock steps back: the generator then keeps
 * counting from the last time it issued. When 4096 IDs are drawn within one
 * millisecond it borrows the next millisecond instead of sleeping. IDs are
 * exposed to clients as decimal strings in JSON. Thread-safe (one atomic). */
#ifndef TD_IDS_H
#define TD_IDS_H

#include <stdint.h>

/** Unix milliseconds of the ID epoch, 2020-01-01T00:00:00Z. */
#define IDS_EPOCH_MS INT64_C(1577836800000)
#define IDS_NODE_BITS 10
#define IDS_SEQ_BITS 12
#define IDS_NODE_MAX ((1 << IDS_NODE_BITS) - 1)

/** Next ID: positive and greater than every ID this process issued before. */
int64_t ids_next(void);
/** Set the node id (0..IDS_NODE_MAX; other values are masked) placed in later IDs.
 *  Call at start-up, before the first ids_next(); each cluster node needs its own. */
void ids_set_node(int node);
/** Unix milliseconds encoded in id (when it was issued, give or take clock steps). */
int64_t ids_time_ms(int64_t id);

#endif
