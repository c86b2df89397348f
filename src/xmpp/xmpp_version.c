/* SPDX-License-Identifier: MIT */
/* Software Version (XEP-0092) of the server: a jabber:iq:version get to the
 * domain (or with no 'to') is answered with the name Tandem and the build's
 * version (§2). The operating system is optional (§2: "os" MAY be
 * included) and left out, so the answer tells a remote party no more than
 * it needs. Version requests to an account's bare JID are not the server's
 * to answer and fall through to the core (service-unavailable); to a full
 * JID they are routed to the client. */
#include "xmpp/xmpp_c2s_int.h"

#include "core/buf.h"
#include "tandem_version.h"

#include <string.h>

#define NS_VERSION "jabber:iq:version"

static int version_iq(struct xmpp_session *s, int slot, struct xmpp_el *iq, struct xmpp_el *q,
                      const struct xmpp_jid *to, struct arena *a)
{
    const char *type = xmpp_el_attr(iq, "type");
    struct buf b;

    (void)slot;
    (void)a;
    if (strcmp(q->ns, NS_VERSION) != 0 || (to != NULL && (to->local || to->resource)))
        return XMPP_MOD_PASS;
    if (strcmp(type, "get") != 0 || strcmp(q->name, "query") != 0) {
        xmpp__stanza_error(s, iq, strcmp(type, "get") != 0 ? "not-allowed" : "bad-request");
        return XMPP_MOD_HANDLED;
    }
    buf_init(&b, 0);
    xmpp__iq_result_open(&b, iq, s->srv->domain);
    buf_appends(&b, "><query xmlns='" NS_VERSION "'><name>Tandem</name><version>");
    xmpp__esc(&b, TANDEM_VERSION);
    buf_appends(&b, "</version></query></iq>");
    xmpp__send_stanza(s, b.data, b.len);
    buf_free(&b);
    return XMPP_MOD_HANDLED;
}

static const char *const version_server_features[] = {NS_VERSION, NULL};

const struct xmpp_mod xmpp_mod_version = {
    .name = "version",
    .server_features = version_server_features,
    .iq = version_iq,
};
