/* SPDX-License-Identifier: MIT */
/* The table of client-session modules (xmpp_c2s_int.h): one line per
 * extension, in the order the core calls their hooks. Order matters where
 * hooks chain: a module that holds output (client state indication) comes
 * before one that counts what is written (stream management). */
#include "xmpp/xmpp_c2s_int.h"

#include "core/err.h"

extern const struct xmpp_mod xmpp_mod_carbons;
extern const struct xmpp_mod xmpp_mod_mam;

const struct xmpp_mod *const xmpp__mods[] = {
    &xmpp_mod_carbons,
    &xmpp_mod_mam,
    NULL,
};

const size_t xmpp__nmods = TD_ARRAY_LEN(xmpp__mods) - 1;
