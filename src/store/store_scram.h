/* SPDX-License-Identifier: MIT */
/* SCRAM credentials of accounts (RFC 5802 §3 as stored per RFC 5803): the
 * text form auth_scram_cred_format() writes, one per account and mechanism
 * ("SCRAM-SHA-1", "SCRAM-SHA-256"). The table is migration 0003_scram.
 * Lookups by name see only enabled accounts, so a disabled account cannot
 * authenticate over SASL. Return codes as in store.h. */
#ifndef TD_STORE_SCRAM_H
#define TD_STORE_SCRAM_H

#include "store/store.h"

#include <stdint.h>

#define STORE_SCRAM_CRED_MAX 512 /* longest credential string accepted */

/** Insert or replace the credential of account_id for mech (a mechanism name,
 *  at most 32 bytes). TD_EINVAL for empty or over-long strings, TD_ENOTFOUND
 *  for an unknown account. */
int store_scram_set(struct store *st, int64_t account_id, const char *mech, const char *cred);
/** The credential for username (case-insensitive, ASCII) and mech: *cred is a
 *  caller-freed string, *account_id (may be NULL) the account. TD_ENOTFOUND if
 *  the account does not exist, is disabled or has no credential for mech. */
int store_scram_get(struct store *st, const char *username, const char *mech, char **cred,
                    int64_t *account_id);
/** Delete every credential of the account (e.g. the password was removed). */
int store_scram_clear(struct store *st, int64_t account_id);

#endif
