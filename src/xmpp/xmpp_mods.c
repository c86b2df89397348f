/* SPDX-License-Identifier: MIT */
/* The table of client-session modules (xmpp_c2s_int.h): one line per
 * extension, in the order the core calls their hooks. Order matters where
 * hooks chain: a module that holds output (client state indication) comes
 * before one that counts what is written (stream management). */
#include "xmpp/xmpp_c2s_int.h"

#include "core/err.h"

extern const struct xmpp_mod xmpp_mod_csi;
extern const struct xmpp_mod xmpp_mod_sm;
extern const struct xmpp_mod xmpp_mod_carbons;
extern const struct xmpp_mod xmpp_mod_mam;
extern const struct xmpp_mod xmpp_mod_blocking;
extern const struct xmpp_mod xmpp_mod_vcard;
extern const struct xmpp_mod xmpp_mod_pep;
extern const struct xmpp_mod xmpp_mod_muc;
extern const struct xmpp_mod xmpp_mod_component;
extern const struct xmpp_mod xmpp_mod_upload;
extern const struct xmpp_mod xmpp_mod_version;
extern const struct xmpp_mod xmpp_mod_caps;

const struct xmpp_mod *const xmpp__mods[] = {
    &xmpp_mod_csi, /* XEP-0352: holds output, so before sm */
    &xmpp_mod_sm,  /* XEP-0198: counts what is written */
    &xmpp_mod_carbons,
    &xmpp_mod_mam,
    &xmpp_mod_blocking,
    &xmpp_mod_vcard,
    &xmpp_mod_pep,
    &xmpp_mod_muc, /* XEP-0045 on its own domain */
    &xmpp_mod_component, /* XEP-0114: stanzas to external components' domains */
    &xmpp_mod_upload, /* XEP-0363 on its subdomain */
    &xmpp_mod_version,
    &xmpp_mod_caps, /* last: its ver covers every module's server features */
    NULL,
};

const size_t xmpp__nmods = TD_ARRAY_LEN(xmpp__mods) - 1;
