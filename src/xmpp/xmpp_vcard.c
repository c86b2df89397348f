/* SPDX-License-Identifier: MIT */
/* vcard-temp (XEP-0054) and vCard-based avatars (XEP-0153). A user sets
 * their own vCard (§3.2; no 'to', or the own bare JID) and anyone reads a
 * local user's vCard at the bare JID (§3.1, §3.3; blocking applies), an
 * account without one answering an empty <vCard/>. The vCard is stored as
 * the client sent it, serialized, at most STORE_VCARD_MAX bytes with the
 * photo (a bigger one is not-acceptable: XEP-0054 names no condition); a
 * PHOTO's BINVAL must be valid base64 and its SHA-1 is kept with the row.
 *
 * XEP-0153 §4.1 leaves the server side optional; the useful part is done:
 * an available presence the user broadcasts without a vcard-temp:x:update
 * element gets one from the server, <photo>sha1</photo> when the stored
 * vCard has a photo and an empty <photo/> when it has none (nothing when
 * the user never stored a vCard), so contacts of clients that do not do
 * XEP-0153 themselves still learn about the avatar. A client's own <x/> is
 * left as it is. The hash is cached per session and refreshed on a set;
 * a new presence after a set is the client's to send (§4.1). */
#include "xmpp/xmpp_c2s_int.h"

#include "core/buf.h"
#include "core/codec.h"
#include "core/err.h"
#include "core/log.h"
#include "store/store.h"
#include "store/store_xmpp.h"

#include <openssl/evp.h>

#include <stdlib.h>
#include <string.h>

#define NS_VCARD "vcard-temp"
#define NS_VCARD_UPDATE "vcard-temp:x:update"

struct vc_sess {
    bool loaded;
    bool has_vcard;
    char hash[41]; /* hex SHA-1, "" without a photo */
};

static struct vc_sess *sess_of(struct xmpp_session *s, int slot)
{
    if (s->mod[slot] == NULL)
        s->mod[slot] = td_calloc(1, sizeof(struct vc_sess));
    return s->mod[slot];
}

static void sess_load(struct xmpp_session *s, int slot)
{
    struct vc_sess *vs = sess_of(s, slot);
    char *hash = NULL;

    if (vs->loaded || s->account_id == 0)
        return;
    vs->loaded = true;
    vs->has_vcard = store_vcard_get(s->srv->store, s->account_id, NULL, &hash) == TD_OK;
    snprintf(vs->hash, sizeof(vs->hash), "%s", hash ? hash : "");
    free(hash);
}

/* The hex SHA-1 of the decoded BINVAL of q's PHOTO into hash ("" without
 * one); false for a BINVAL that is not base64. */
static bool photo_hash(struct arena *a, struct xmpp_el *q, char hash[41])
{
    struct xmpp_el *photo = xmpp_el_child(q, "PHOTO", NS_VCARD);
    const char *bin;
    size_t len, n = 0, out_len;
    char *clean;
    uint8_t *raw;
    unsigned char h[EVP_MAX_MD_SIZE];
    unsigned int hn = 0;
    struct buf b;

    hash[0] = '\0';
    bin = photo ? xmpp_el_child_text(a, photo, "BINVAL", NS_VCARD) : NULL;
    if (bin == NULL)
        return true;
    len = strlen(bin);
    clean = arena_alloc(a, len + 1);
    for (size_t i = 0; i < len; i++) /* base64 in vCards is often folded */
        if (bin[i] != ' ' && bin[i] != '\t' && bin[i] != '\r' && bin[i] != '\n')
            clean[n++] = bin[i];
    clean[n] = '\0';
    if (n == 0)
        return true;
    raw = arena_alloc(a, n / 4 * 3 + 3);
    if (codec_b64_decode(clean, n, raw, n / 4 * 3 + 3, &out_len) != TD_OK)
        return false;
    if (!EVP_Digest(raw, out_len, h, &hn, EVP_sha1(), NULL))
        return false;
    buf_init(&b, 0);
    codec_hex_encode(&b, h, hn);
    snprintf(hash, 41, "%s", b.data ? b.data : "");
    buf_free(&b);
    return true;
}

static void vcard_get(struct xmpp_session *s, struct xmpp_el *iq, int64_t account_id,
                      const char *from)
{
    char *vcard = NULL;
    struct buf b;
    int rc = store_vcard_get(s->srv->store, account_id, &vcard, NULL);

    if (rc != TD_OK && rc != TD_ENOTFOUND) {
        xmpp__stanza_error(s, iq, "internal-server-error");
        return;
    }
    buf_init(&b, 0);
    xmpp__iq_result_open(&b, iq, from);
    buf_putc(&b, '>');
    /* stored serialized with its own xmlns, so it stands as written */
    buf_appends(&b, vcard ? vcard : "<vCard xmlns='" NS_VCARD "'/>");
    buf_appends(&b, "</iq>");
    xmpp__send_stanza(s, b.data, b.len);
    buf_free(&b);
    free(vcard);
}

static void vcard_set(struct xmpp_session *s, int slot, struct xmpp_el *iq, struct xmpp_el *q,
                      struct arena *a)
{
    struct xmpp_route *rts[XMPP_RESOURCES_MAX];
    char hash[41];
    struct buf b;
    size_t n;
    int rc;

    if (!photo_hash(a, q, hash)) {
        xmpp__stanza_error(s, iq, "bad-request");
        return;
    }
    buf_init(&b, STORE_VCARD_MAX);
    rc = xmpp_el_serialize(q, NULL, &b);
    if (rc == TD_OK)
        rc = store_vcard_set(s->srv->store, s->account_id, b.data, hash);
    buf_free(&b);
    if (rc != TD_OK) {
        xmpp__stanza_error(s, iq, rc == TD_ETOOBIG || rc == TD_EINVAL ? "not-acceptable"
                                                                      : "internal-server-error");
        return;
    }
    /* every session of the user announces the new hash from now on */
    n = xmpp__resources_of(s->srv, s->bare, false, NULL, rts);
    for (size_t i = 0; i < n; i++) {
        struct vc_sess *vs = sess_of(xmpp__session_of(rts[i]), slot);
        vs->loaded = true;
        vs->has_vcard = true;
        snprintf(vs->hash, sizeof(vs->hash), "%s", hash);
    }
    log_info("xmpp.vcard_set", "jid=%s photo=%s", log_q(s->bare), hash[0] ? "yes" : "no");
    xmpp__iq_result_empty(s, iq);
}

static int vcard_iq(struct xmpp_session *s, int slot, struct xmpp_el *iq, struct xmpp_el *q,
                    const struct xmpp_jid *to, struct arena *a)
{
    const char *type = xmpp_el_attr(iq, "type");
    const char *bare = NULL;
    bool own;
    int64_t id;

    if (strcmp(q->ns, NS_VCARD) != 0 || strcmp(q->name, "vCard") != 0)
        return XMPP_MOD_PASS;
    if (to != NULL && (to->local == NULL || to->resource))
        return XMPP_MOD_PASS; /* the server has no vCard (service-unavailable) */
    if (to)
        bare = xmpp_jid_bare(a, to);
    own = bare == NULL || strcmp(bare, s->bare) == 0;
    if (strcmp(type, "set") == 0) {
        if (!own)
            xmpp__stanza_error(s, iq, "forbidden");
        else if (s->account_id == 0)
            xmpp__stanza_error(s, iq, "internal-server-error");
        else
            vcard_set(s, slot, iq, q, a);
        return XMPP_MOD_HANDLED;
    }
    if (own) {
        vcard_get(s, iq, s->account_id, bare);
        return XMPP_MOD_HANDLED;
    }
    if (xmpp__im_check_blocked(s, iq, bare))
        return XMPP_MOD_HANDLED;
    id = xmpp__account_of(s->srv, to->local);
    if (id == 0)
        xmpp__stanza_error(s, iq, "service-unavailable"); /* RFC 6121 §8.5.1 */
    else
        vcard_get(s, iq, id, bare);
    return XMPP_MOD_HANDLED;
}

/* XEP-0153 §4.1: the photo hash in presences that lack it. */
static void vcard_presence_pre(struct xmpp_session *s, int slot, struct xmpp_el *p,
                               struct arena *a)
{
    struct vc_sess *vs;
    struct xmpp_el *x, *photo;

    if (xmpp_el_child(p, "x", NS_VCARD_UPDATE) != NULL)
        return;
    sess_load(s, slot);
    vs = s->mod[slot];
    if (vs == NULL || !vs->has_vcard)
        return;
    x = xmpp_el_child_new(a, p, "x", NS_VCARD_UPDATE);
    photo = xmpp_el_child_new(a, x, "photo", NS_VCARD_UPDATE);
    if (vs->hash[0])
        xmpp_el_text_add(a, photo, vs->hash, strlen(vs->hash));
}

static void vcard_free(struct xmpp_session *s, int slot)
{
    free(s->mod[slot]);
    s->mod[slot] = NULL;
}

static const char *const vcard_features[] = {NS_VCARD, NULL};

const struct xmpp_mod xmpp_mod_vcard = {
    .name = "vcard",
    .server_features = vcard_features,
    .account_features = vcard_features,
    .iq = vcard_iq,
    .presence_pre = vcard_presence_pre,
    .free = vcard_free,
};
