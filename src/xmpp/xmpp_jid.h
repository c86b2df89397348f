/* SPDX-License-Identifier: MIT */
/* XMPP addresses (RFC 7622): parse "[localpart@]domainpart[/resourcepart]"
 * in the order of §3.1 (the first '/' starts the resource, then the first
 * '@' before it ends the localpart), validate each part and prepare it into
 * the form we compare. Each part is 1..1023 bytes (§3.2.1, §3.3.1, §3.4.1).
 * Preparation is a subset of PRECIS (RFC 8264/8265): input must be valid
 * UTF-8 without control characters; the localpart (UsernameCaseMapped) and
 * the domainpart are lowercased in ASCII, the localpart refuses spaces and
 * the characters " & ' / : < > @ (§3.3.1); a domainpart may end in one dot,
 * which is dropped (§3.2), and holds letters, digits, '-', '.', non-ASCII
 * (an IDN U-label, taken as is) or an IP literal in brackets; the resource
 * (OpaqueString) is kept byte for byte. Full Unicode case folding and NFC
 * are not done: non-ASCII parts compare as given. No I/O, no globals. */
#ifndef TD_XMPP_JID_H
#define TD_XMPP_JID_H

#include <stdbool.h>
#include <stddef.h>

struct arena;

#define XMPP_JID_PART_MAX 1023 /* bytes of one prepared part */

/* A prepared JID; strings live in the arena given to xmpp_jid_parse. */
struct xmpp_jid {
    const char *local;    /* NULL when absent */
    const char *domain;   /* never NULL after a successful parse */
    const char *resource; /* NULL when absent */
};

/** Parse and prepare s (NUL-terminated) into *out, copying the parts into a.
 *  TD_OK, or TD_EINVAL for an empty part, a part over XMPP_JID_PART_MAX
 *  bytes, invalid UTF-8, control characters or a disallowed character
 *  (*out is then zeroed). */
int xmpp_jid_parse(struct arena *a, const char *s, struct xmpp_jid *out);
/** Prepare a localpart alone (e.g. a SASL username): lowercased copy in a,
 *  or NULL if it is not a valid localpart. */
const char *xmpp_jid_local_prep(struct arena *a, const char *local);
/** "local@domain" or "domain" (the bare JID), allocated in a. */
const char *xmpp_jid_bare(struct arena *a, const struct xmpp_jid *j);
/** The full form with the resource when there is one, allocated in a. */
const char *xmpp_jid_full(struct arena *a, const struct xmpp_jid *j);
/** True if j has a resource. */
static inline bool xmpp_jid_is_full(const struct xmpp_jid *j)
{
    return j->resource != NULL;
}

#endif
