/* SPDX-License-Identifier: MIT */
/* Entity Capabilities (XEP-0115) of the server and the verification-string
 * builder shared with PEP's caps cache (xmpp_caps.h). The server's ver is
 * computed once at start from the disco#info the core answers (§5.1, the
 * identity and features of xmpp__server_features(); the module table is
 * fixed at build time) and announced in the stream features after SASL
 * success as <c hash='sha-1' node=.. ver=../> (§6.3); a disco#info to the
 * server with node 'node#ver' gets the same answer with the node (§6.2).
 * The builder sorts in i;octet order (strcmp, §5.1 steps 2-3) and refuses
 * the duplicates §5.4 step 3.3-3.5 calls ill-formed. */
#include "xmpp/xmpp_caps.h"
#include "xmpp/xmpp_c2s_int.h"

#include "core/arena.h"
#include "core/buf.h"
#include "core/codec.h"
#include "core/err.h"
#include "core/log.h"

#include <openssl/evp.h>

#include <stdlib.h>
#include <string.h>

#define NS_DATA "jabber:x:data" /* XEP-0004 */
#define SERVER_FEATURES_MAX 128

static const char *str0(const char *s)
{
    return s ? s : "";
}

static int cmp_identity(const void *pa, const void *pb)
{
    const struct xmpp_caps_identity *a = pa, *b = pb;
    int c = strcmp(a->category, b->category);
    if (c == 0)
        c = strcmp(a->type, b->type);
    if (c == 0)
        c = strcmp(str0(a->lang), str0(b->lang));
    if (c == 0)
        c = strcmp(str0(a->name), str0(b->name));
    return c;
}

static int cmp_str(const void *pa, const void *pb)
{
    return strcmp(*(const char *const *)pa, *(const char *const *)pb);
}

static int cmp_field(const void *pa, const void *pb)
{
    return strcmp(((const struct xmpp_caps_field *)pa)->var,
                  ((const struct xmpp_caps_field *)pb)->var);
}

static int cmp_form(const void *pa, const void *pb)
{
    return strcmp(((const struct xmpp_caps_form *)pa)->form_type,
                  ((const struct xmpp_caps_form *)pb)->form_type);
}

/* Append s and '<'; the text goes in as is (§5.1: no escaping). */
static int put(struct buf *out, const char *s)
{
    int rc = buf_appends(out, str0(s));
    return rc == TD_OK ? buf_putc(out, '<') : rc;
}

int xmpp_caps_ver_string(struct xmpp_caps_info *in, struct buf *out)
{
    int rc = TD_OK;

    if (in->nidentities > 1)
        qsort(in->identities, in->nidentities, sizeof(*in->identities), cmp_identity);
    if (in->nfeatures > 1)
        qsort(in->features, in->nfeatures, sizeof(*in->features), cmp_str);
    if (in->nforms > 1)
        qsort(in->forms, in->nforms, sizeof(*in->forms), cmp_form);
    for (size_t i = 1; i < in->nidentities; i++)
        if (cmp_identity(&in->identities[i - 1], &in->identities[i]) == 0)
            return TD_EINVAL;
    for (size_t i = 1; i < in->nfeatures; i++)
        if (strcmp(in->features[i - 1], in->features[i]) == 0)
            return TD_EINVAL;
    for (size_t i = 1; i < in->nforms; i++)
        if (strcmp(in->forms[i - 1].form_type, in->forms[i].form_type) == 0)
            return TD_EINVAL;
    for (size_t i = 0; i < in->nidentities && rc == TD_OK; i++) {
        const struct xmpp_caps_identity *id = &in->identities[i];
        rc = buf_printf(out, "%s/%s/%s/", id->category, id->type, str0(id->lang));
        if (rc == TD_OK)
            rc = put(out, id->name);
    }
    for (size_t i = 0; i < in->nfeatures && rc == TD_OK; i++)
        rc = put(out, in->features[i]);
    for (size_t i = 0; i < in->nforms && rc == TD_OK; i++) {
        struct xmpp_caps_form *f = &in->forms[i];
        rc = put(out, f->form_type);
        if (f->nfields > 1)
            qsort(f->fields, f->nfields, sizeof(*f->fields), cmp_field);
        for (size_t k = 0; k < f->nfields && rc == TD_OK; k++) {
            struct xmpp_caps_field *fd = &f->fields[k];
            rc = put(out, fd->var);
            if (fd->nvalues > 1)
                qsort(fd->values, fd->nvalues, sizeof(*fd->values), cmp_str);
            for (size_t v = 0; v < fd->nvalues && rc == TD_OK; v++)
                rc = put(out, fd->values[v]);
        }
    }
    return rc;
}

static size_t count_children(const struct xmpp_el *el, const char *name, const char *ns)
{
    size_t n = 0;
    for (const struct xmpp_el *c = xmpp_el_child(el, name, ns); c; c = xmpp_el_next(c, name, ns))
        n++;
    return n;
}

/* One XEP-0128 form; *keep false for a form §5.4 says to ignore. */
static int form_read(struct arena *a, const struct xmpp_el *x, struct xmpp_caps_form *f,
                     bool *keep)
{
    size_t nf = count_children(x, "field", NS_DATA);

    memset(f, 0, sizeof(*f));
    *keep = false;
    f->fields = arena_calloc(a, (nf ? nf : 1) * sizeof(*f->fields));
    for (const struct xmpp_el *fd = xmpp_el_child(x, "field", NS_DATA); fd;
         fd = xmpp_el_next(fd, "field", NS_DATA)) {
        const char *var = xmpp_el_attr(fd, "var");
        size_t nv = count_children(fd, "value", NS_DATA);
        if (var == NULL)
            continue;
        if (strcmp(var, "FORM_TYPE") == 0) {
            const char *type = xmpp_el_attr(fd, "type");
            if (f->form_type != NULL || nv != 1)
                return TD_EINVAL; /* §5.4 step 3.5 */
            f->form_type = xmpp_el_text(a, xmpp_el_child(fd, "value", NS_DATA), NULL);
            *keep = type != NULL && strcmp(type, "hidden") == 0; /* step 3.6 */
            continue;
        }
        struct xmpp_caps_field *out = &f->fields[f->nfields++];
        out->var = var;
        out->values = arena_calloc(a, (nv ? nv : 1) * sizeof(*out->values));
        for (const struct xmpp_el *v = xmpp_el_child(fd, "value", NS_DATA); v;
             v = xmpp_el_next(v, "value", NS_DATA))
            out->values[out->nvalues++] = xmpp_el_text(a, v, NULL);
    }
    if (f->form_type == NULL)
        *keep = false;
    return TD_OK;
}

int xmpp_caps_info_from_query(struct arena *a, const struct xmpp_el *q,
                              struct xmpp_caps_info *out)
{
    size_t ni = count_children(q, "identity", XMPP_NS_DISCO_INFO);
    size_t nf = count_children(q, "feature", XMPP_NS_DISCO_INFO);
    size_t nx = count_children(q, "x", NS_DATA);

    memset(out, 0, sizeof(*out));
    out->identities = arena_calloc(a, (ni ? ni : 1) * sizeof(*out->identities));
    out->features = arena_calloc(a, (nf ? nf : 1) * sizeof(*out->features));
    out->forms = arena_calloc(a, (nx ? nx : 1) * sizeof(*out->forms));
    for (const struct xmpp_el *c = xmpp_el_child(q, NULL, XMPP_NS_DISCO_INFO); c;
         c = xmpp_el_next(c, NULL, XMPP_NS_DISCO_INFO)) {
        if (strcmp(c->name, "identity") == 0) {
            struct xmpp_caps_identity *id = &out->identities[out->nidentities++];
            id->category = xmpp_el_attr(c, "category");
            id->type = xmpp_el_attr(c, "type");
            id->lang = xmpp_el_attr_ns(c, XMPP_NS_XML, "lang");
            id->name = xmpp_el_attr(c, "name");
            if (id->category == NULL || id->type == NULL)
                return TD_EINVAL;
        } else if (strcmp(c->name, "feature") == 0) {
            const char *var = xmpp_el_attr(c, "var");
            if (var == NULL)
                return TD_EINVAL;
            out->features[out->nfeatures++] = var;
        }
    }
    for (const struct xmpp_el *x = xmpp_el_child(q, "x", NS_DATA); x;
         x = xmpp_el_next(x, "x", NS_DATA)) {
        bool keep;
        int rc = form_read(a, x, &out->forms[out->nforms], &keep);
        if (rc != TD_OK)
            return rc;
        if (keep)
            out->nforms++;
    }
    return TD_OK;
}

int xmpp_caps_hash(const char *hash, const char *s, size_t len, struct buf *out)
{
    const EVP_MD *md;
    unsigned char h[EVP_MAX_MD_SIZE];
    unsigned int hn = 0;

    if (strcmp(hash, "sha-1") == 0)
        md = EVP_sha1();
    else if (strcmp(hash, "sha-256") == 0)
        md = EVP_sha256();
    else
        return TD_EINVAL;
    if (!EVP_Digest(s, len, h, &hn, md, NULL))
        return TD_EIO;
    return codec_b64_encode(out, h, hn);
}

int xmpp_caps_ver_of_query(struct arena *a, const struct xmpp_el *q, const char *hash,
                           struct buf *out)
{
    struct xmpp_caps_info info;
    struct buf s;
    int rc;

    rc = xmpp_caps_info_from_query(a, q, &info);
    if (rc != TD_OK)
        return rc;
    buf_init(&s, 2 * XMPP_STANZA_MAX);
    rc = xmpp_caps_ver_string(&info, &s);
    if (rc == TD_OK)
        rc = xmpp_caps_hash(hash, s.data ? s.data : "", s.len, out);
    buf_free(&s);
    return rc;
}

/* ---- the server's caps ---- */

struct caps_srv {
    char *ver;  /* base64 SHA-1 */
    char *node; /* "node#ver" */
};

static int caps_init(struct xmpp_c2s *srv, int slot)
{
    const char *features[SERVER_FEATURES_MAX];
    struct xmpp_caps_identity id = {
        .category = XMPP_SERVER_IDENTITY_CATEGORY,
        .type = XMPP_SERVER_IDENTITY_TYPE,
        .name = XMPP_SERVER_IDENTITY_NAME,
    };
    struct xmpp_caps_info info = {.identities = &id, .nidentities = 1, .features = features};
    struct caps_srv *cs;
    struct buf s, v;
    int rc;

    info.nfeatures = xmpp__server_features(features, TD_ARRAY_LEN(features));
    buf_init(&s, 0);
    buf_init(&v, 0);
    rc = xmpp_caps_ver_string(&info, &s);
    if (rc == TD_OK)
        rc = xmpp_caps_hash("sha-1", s.data ? s.data : "", s.len, &v);
    if (rc == TD_OK) {
        cs = td_calloc(1, sizeof(*cs));
        cs->ver = td_strndup(v.data, v.len);
        buf_reset(&v);
        buf_printf(&v, "%s#%s", XMPP_CAPS_NODE, cs->ver);
        cs->node = td_strndup(v.data, v.len);
        srv->mod[slot] = cs;
    } else {
        log_err("xmpp.caps_failed", "rc=%d", rc);
    }
    buf_free(&s);
    buf_free(&v);
    return rc;
}

static void caps_fini(struct xmpp_c2s *srv, int slot)
{
    struct caps_srv *cs = srv->mod[slot];

    if (cs) {
        free(cs->ver);
        free(cs->node);
        free(cs);
    }
    srv->mod[slot] = NULL;
}

/* XEP-0115 §6.3: the server's caps in the stream features. */
static void caps_features(struct xmpp_session *s, int slot, struct buf *out)
{
    struct caps_srv *cs = s->srv->mod[slot];

    buf_appends(out, "<c xmlns='" XMPP_NS_CAPS "' hash='sha-1' node='" XMPP_CAPS_NODE "' ver='");
    xmpp__esc(out, cs->ver);
    buf_appends(out, "'/>");
}

/* §6.2: disco#info to node#ver is answered like a plain disco#info. */
static int caps_iq(struct xmpp_session *s, int slot, struct xmpp_el *iq, struct xmpp_el *q,
                   const struct xmpp_jid *to, struct arena *a)
{
    struct caps_srv *cs = s->srv->mod[slot];
    const char *type = xmpp_el_attr(iq, "type");
    const char *node = xmpp_el_attr(q, "node");

    (void)a;
    if ((to != NULL && (to->local || to->resource)) || strcmp(type, "get") != 0 ||
        strcmp(q->name, "query") != 0 || strcmp(q->ns, XMPP_NS_DISCO_INFO) != 0 ||
        node == NULL || strcmp(node, cs->node) != 0)
        return XMPP_MOD_PASS;
    xmpp__disco_info_send(s, iq, s->srv->domain, false, node);
    return XMPP_MOD_HANDLED;
}

static const char *const caps_server_features[] = {XMPP_NS_CAPS, NULL};

const struct xmpp_mod xmpp_mod_caps = {
    .name = "caps",
    .server_features = caps_server_features,
    .init = caps_init,
    .fini = caps_fini,
    .features = caps_features,
    .iq = caps_iq,
};
