/* SPDX-License-Identifier: MIT */
/* Client State Indication (XEP-0352): the stream feature <csi/> (§4.1) and
 * the <inactive/> and <active/> nonzas (§4.2) of a bound session. XEP-0352
 * leaves the server's behaviour open (§3.2); Tandem's policy, in the spirit
 * of Prosody's mod_csi_simple:
 *
 * - While inactive, presence updates (available and unavailable presence,
 *   from contacts or the user's other resources) and chat state
 *   notifications without a body (XEP-0085) are held; of each kind only the
 *   latest per sender full JID is kept, so a contact who changes status five
 *   times costs one stanza when the client wakes.
 * - Everything else is urgent and goes out at once: messages with a body
 *   (and any message with more than chat states, e.g. receipts, carbons,
 *   errors), iqs, subscription presences (subscribe, subscribed, ...),
 *   presence errors. Before an urgent stanza the held ones are flushed, in
 *   the order they were held, so the client sees the sender's latest
 *   presence before the message and causality is kept.
 * - <active/> flushes; so does a held queue over CSI_HELD_MAX stanzas or
 *   CSI_HELD_BYTES bytes (the server keeps no unbounded state for a
 *   client that never wakes).
 * - §5.2: the state is not restored when the stream is resumed (XEP-0198):
 *   a resumed session is active and what was held is flushed.
 *
 * Held stanzas have not been written, so stream management (after this
 * module in xmpp_mods.c) counts them only when they are released. */
#include "xmpp/xmpp_csi.h"

#include "xmpp/xmpp_c2s_int.h"

#include "core/arena.h"
#include "core/err.h"

#include <stdlib.h>
#include <string.h>

#define CSI_HELD_MAX 128            /* stanzas held for one session */
#define CSI_HELD_BYTES (256 * 1024) /* bytes held for one session */

#define NS_HINTS "urn:xmpp:hints" /* XEP-0334 */
#define NS_SID "urn:xmpp:sid:0"   /* XEP-0359 */

/* ---- the I/O-free part (xmpp_csi.h) ---- */

/* A bodiless message carrying only a chat state (and the thread, hints or
 * ids that travel with one). */
static bool only_chat_state(const struct xmpp_el *msg)
{
    bool state = false;

    for (const struct xmpp_el *c = xmpp_el_child(msg, NULL, NULL); c;
         c = xmpp_el_next(c, NULL, NULL)) {
        if (strcmp(c->ns, XMPP_NS_CHATSTATES) == 0)
            state = true;
        else if (!(strcmp(c->ns, XMPP_NS_CLIENT) == 0 && strcmp(c->name, "thread") == 0) &&
                 strcmp(c->ns, NS_HINTS) != 0 && strcmp(c->ns, NS_SID) != 0)
            return false;
    }
    return state;
}

enum xmpp_csi_class xmpp_csi_classify(const struct xmpp_el *el, const char **key)
{
    const char *type = xmpp_el_attr(el, "type");
    const char *from = xmpp_el_attr(el, "from");
    enum xmpp_csi_class cls = XMPP_CSI_URGENT;

    if (from == NULL || strcmp(el->ns, XMPP_NS_CLIENT) != 0)
        cls = XMPP_CSI_URGENT;
    else if (strcmp(el->name, "presence") == 0 &&
             (type == NULL || strcmp(type, "unavailable") == 0))
        cls = XMPP_CSI_PRESENCE;
    else if (strcmp(el->name, "message") == 0 && (type == NULL || strcmp(type, "error") != 0) &&
             only_chat_state(el))
        cls = XMPP_CSI_CHATSTATE;
    if (key)
        *key = cls == XMPP_CSI_URGENT ? NULL : from;
    return cls;
}

static void item_free(struct xmpp_csi_item *it)
{
    free(it->key);
    free(it->data);
}

bool xmpp_csi_queue_hold(struct xmpp_csi_queue *q, enum xmpp_csi_class cls, const char *key,
                         const char *data, size_t len, size_t max_items, size_t max_bytes)
{
    for (size_t i = 0; i < q->n; i++) {
        if (q->v[i].cls == cls && strcmp(q->v[i].key, key) == 0) {
            q->bytes -= q->v[i].len;
            item_free(&q->v[i]);
            memmove(&q->v[i], &q->v[i + 1], (q->n - i - 1) * sizeof(*q->v));
            q->n--;
            break; /* at most one per class and key */
        }
    }
    if (q->n == q->cap) {
        q->cap = q->cap ? 2 * q->cap : 8;
        q->v = td_realloc(q->v, q->cap * sizeof(*q->v));
    }
    q->v[q->n].cls = cls;
    q->v[q->n].key = td_strdup(key);
    q->v[q->n].data = td_strndup(data, len);
    q->v[q->n].len = len;
    q->n++;
    q->bytes += len;
    return q->n > max_items || q->bytes > max_bytes;
}

void xmpp_csi_queue_take(struct xmpp_csi_queue *q, struct xmpp_csi_queue *out)
{
    *out = *q;
    memset(q, 0, sizeof(*q));
}

void xmpp_csi_queue_clear(struct xmpp_csi_queue *q)
{
    for (size_t i = 0; i < q->n; i++)
        item_free(&q->v[i]);
    free(q->v);
    memset(q, 0, sizeof(*q));
}

/* ---- the session module ---- */

struct csi_sess {
    bool inactive;
    struct xmpp_csi_queue held;
};

/* Write what is held, oldest first. The queue is moved out before writing:
 * a write may end the session (stream management's limits). */
static void flush(struct xmpp_session *s, struct csi_sess *st)
{
    struct xmpp_csi_queue out;

    xmpp_csi_queue_take(&st->held, &out);
    for (size_t i = 0; i < out.n && !s->ended; i++)
        xmpp__write_stanza(s, out.v[i].data, out.v[i].len);
    xmpp_csi_queue_clear(&out);
}

static void csi_features(struct xmpp_session *s, int slot, struct buf *out)
{
    (void)s;
    (void)slot;
    buf_appends(out, "<csi xmlns='" XMPP_NS_CSI "'/>");
}

static int csi_nonza(struct xmpp_session *s, int slot, struct xmpp_el *el, struct arena *a)
{
    struct csi_sess *st = s->mod[slot];
    bool inactive;

    (void)a;
    if (strcmp(el->ns, XMPP_NS_CSI) != 0)
        return XMPP_MOD_PASS;
    if (strcmp(el->name, "inactive") == 0)
        inactive = true;
    else if (strcmp(el->name, "active") == 0)
        inactive = false;
    else
        return XMPP_MOD_PASS; /* unknown: the core's unsupported-stanza-type */
    if (!s->bound)
        return XMPP_MOD_HANDLED; /* the state is a bound resource's: ignored before bind */
    if (st == NULL) {
        if (!inactive)
            return XMPP_MOD_HANDLED; /* streams begin active (§4.2) */
        st = td_calloc(1, sizeof(*st));
        s->mod[slot] = st;
    }
    st->inactive = inactive;
    if (!inactive)
        flush(s, st);
    return XMPP_MOD_HANDLED;
}

static int csi_out_hold(struct xmpp_session *s, int slot, const char *data, size_t len)
{
    struct csi_sess *st = s->mod[slot];
    enum xmpp_csi_class cls = XMPP_CSI_URGENT;
    const char *key = NULL;
    struct arena *a = NULL;
    struct xmpp_el *el;

    if (st == NULL || !st->inactive)
        return XMPP_MOD_PASS;
    el = xmpp__stanza_parse(data, len, &a);
    if (el)
        cls = xmpp_csi_classify(el, &key);
    if (cls == XMPP_CSI_URGENT) {
        flush(s, st); /* then the core writes this one */
        if (a)
            arena_free(a);
        return XMPP_MOD_PASS;
    }
    if (xmpp_csi_queue_hold(&st->held, cls, key, data, len, CSI_HELD_MAX, CSI_HELD_BYTES))
        flush(s, st);
    arena_free(a);
    return XMPP_MOD_HANDLED;
}

static void csi_resumed(struct xmpp_session *s, int slot)
{
    struct csi_sess *st = s->mod[slot];

    if (st == NULL)
        return;
    st->inactive = false; /* §5.2: not restored on resumption */
    flush(s, st);
}

static void csi_free(struct xmpp_session *s, int slot)
{
    struct csi_sess *st = s->mod[slot];

    if (st == NULL)
        return;
    xmpp_csi_queue_clear(&st->held);
    free(st);
    s->mod[slot] = NULL;
}

const struct xmpp_mod xmpp_mod_csi = {
    .name = "csi",
    .features = csi_features,
    .nonza = csi_nonza,
    .out_hold = csi_out_hold,
    .resumed = csi_resumed,
    .free = csi_free,
};
