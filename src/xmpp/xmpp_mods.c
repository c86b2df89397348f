/* SPDX-License-Identifier: MIT */
/* The table of client-session modules (xmpp_c2s_int.h): one line per
 * extension, in the order the core calls their hooks. Order matters where
 * hooks chain: a module that holds output (client state indication) comes
 * before one that counts what is written (stream management). */
#include "xmpp/xmpp_c2s_int.h"

#include "core/err.h"

extern const struct xmpp_mod xmpp_mod_csi;
extern const struct xmpp_mod xmpp_mod_sm;

const struct xmpp_mod *const xmpp__mods[] = {
    &xmpp_mod_csi, /* XEP-0352: holds output, so before sm */
    &xmpp_mod_sm,  /* XEP-0198: counts what is written */
    NULL,
};

const size_t xmpp__nmods = TD_ARRAY_LEN(xmpp__mods) - 1;
