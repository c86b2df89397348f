/* SPDX-License-Identifier: MIT */
/* Entity Capabilities (XEP-0115): the verification string of §5.1 (with the
 * extended service discovery forms of XEP-0128, §5.4 rules) from a disco#info
 * answer, and its hash in base64. Used twice: for the server's own caps in
 * the stream features (xmpp_caps.c) and to verify what a client's presence
 * claims before its features are trusted and cached (xmpp_pep.c, §5.4:
 * "verify before caching, else don't trust"). Pure functions: no I/O, no
 * globals; strings are UTF-8. */
#ifndef TD_XMPP_CAPS_H
#define TD_XMPP_CAPS_H

#include <stddef.h>

struct arena;
struct buf;
struct xmpp_el;

#define XMPP_NS_CAPS "http://jabber.org/protocol/caps"
#define XMPP_CAPS_NODE "https://tandem.invalid" /* our software's caps node */
#define XMPP_CAPS_VER_MAX 128                   /* bytes of a ver we accept from a peer */

struct xmpp_caps_identity {
    const char *category, *type, *lang, *name; /* lang, name: NULL = empty */
};

struct xmpp_caps_field {
    const char *var;
    const char **values;
    size_t nvalues;
};

/* One XEP-0128 data form; form_type is the value of its hidden FORM_TYPE field. */
struct xmpp_caps_form {
    const char *form_type;
    struct xmpp_caps_field *fields; /* without FORM_TYPE */
    size_t nfields;
};

struct xmpp_caps_info {
    struct xmpp_caps_identity *identities;
    size_t nidentities;
    const char **features;
    size_t nfeatures;
    struct xmpp_caps_form *forms;
    size_t nforms;
};

/** Append the XEP-0115 §5.1 verification string of in to out: identities
 *  sorted by category/type/lang (then name), each "category/type/lang/name<",
 *  features sorted "var<", then forms sorted by FORM_TYPE, each "FORM_TYPE<"
 *  and its fields sorted by var, "var<" and the sorted values "value<". The
 *  arrays of in are sorted in place (i;octet order). TD_EINVAL for what §5.4
 *  makes the ver invalid: a duplicate identity (category/type/lang/name), a
 *  duplicate feature, two forms with the same FORM_TYPE; TD_ETOOBIG when out
 *  reaches its ceiling. */
int xmpp_caps_ver_string(struct xmpp_caps_info *in, struct buf *out);
/** Read a disco#info <query/> into *out (arrays in a). Forms without a
 *  FORM_TYPE field, or whose FORM_TYPE is not hidden, are left out (§5.4
 *  step 3.6); TD_EINVAL for an identity without category or type, a feature
 *  without var, a form with more than one FORM_TYPE value. */
int xmpp_caps_info_from_query(struct arena *a, const struct xmpp_el *q,
                              struct xmpp_caps_info *out);
/** The ver: hash ("sha-1", "sha-256") of s[0..len) in base64 into out.
 *  TD_EINVAL for another hash name. */
int xmpp_caps_hash(const char *hash, const char *s, size_t len, struct buf *out);
/** Verification string and hash of a disco#info query in one step: TD_OK
 *  with the base64 ver in out, or an error from the steps above. */
int xmpp_caps_ver_of_query(struct arena *a, const struct xmpp_el *q, const char *hash,
                           struct buf *out);

#endif
