/* SPDX-License-Identifier: MIT */
/* The XMPP stream parser: expat (namespace-aware, triplet names) driven by
 * xmpp_stream_feed(), building each top-level element of the stream into a
 * struct xmpp_el tree in a fresh arena and handing it over complete. It
 * implements RFC 6120 §4.2-§4.3 (stream header and restart: a reset starts a
 * new XML document), §4.8 (stream and content namespaces, "stream" prefix),
 * §4.9.3 (the error conditions a parser can detect) and §11 (XML
 * restrictions: no DTD, comments, PIs or entity declarations; UTF-8 only, an
 * encoding declaration naming anything else is refused), and RFC 7395 §3.3
 * (WebSocket framing: each message is one document, <open/> and <close/> in
 * urn:ietf:params:xml:ns:xmpp-framing). No DTD is ever accepted, so entity
 * expansion (billion laughs) cannot happen. Limits are checked in the expat
 * handlers and after every chunk of at most CHUNK bytes given to expat, so
 * neither a huge stanza nor a huge unfinished tag is buffered past its
 * limit. Deviations: prefixed content elements (<c:message
 * xmlns:c='jabber:client'>) are accepted and normalized; text at stream level
 * other than whitespace is bad-format; the stream element may use any prefix. */
#include "xmpp/xmpp_stream.h"

#include "core/arena.h"
#include "core/buf.h"
#include "core/err.h"

#include <expat.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define NS_SEP '\x01' /* cannot occur in XML 1.0 text, so it cannot be forged */
#define CHUNK 4096    /* most bytes given to expat between limit checks */

#define DEF_MAX_STANZA (256 * 1024)
#define DEF_MAX_TAG (16 * 1024)
#define DEF_MAX_DEPTH 32
#define DEF_MAX_ATTRS 32
#define DEF_MAX_NAME 1024
#define DEF_MAX_ATTR (4 * 1024)
/* A parsed tree costs more than its text (a 4-byte <a/> becomes a ~70-byte
 * node), so memory per stanza is capped at this many times max_stanza_bytes. */
#define MEM_FACTOR 32
/* Hibernating streams give their expat parser (about 10 KiB once used) to a
 * pool; a stream that wakes takes one back. Loop thread only, like every
 * stream. */
#define POOL_MAX 64
#define HDR_DECLS_MAX 8 /* namespace declarations of the header kept to resume */

enum state {
    ST_HEADER,  /* waiting for the stream header (or <open/>) */
    ST_OPEN,    /* header seen, stanzas flow */
    ST_CLOSED,  /* on_close fired */
    ST_STOPPED, /* xmpp_stream_stop() */
    ST_ERROR,   /* on_error fired */
};

struct xmpp_stream {
    struct xmpp_stream_limits lim; /* defaults filled in */
    struct xmpp_stream_cbs cb;
    void *ud;
    XML_Parser p;
    enum state state;
    bool in_feed;           /* inside xmpp_stream_feed (reset/free forbidden) */
    bool in_parse;          /* inside XML_Parse (XML_StopParser allowed) */
    unsigned base;          /* document depth of the stream level: 1, or 0 if framing */
    unsigned depth;         /* elements open in the document */
    unsigned decls;         /* namespace declarations seen for the next start tag */
    char *header_ns;        /* default namespace declared on the stream header; owned */
    struct arena *arena;    /* the stanza being built, or NULL */
    struct xmpp_el *root;   /* its top element */
    struct xmpp_el **stack; /* open elements of the stanza, max_depth entries; owned */
    struct buf text;        /* character data not yet put in a text node */
    size_t text_total;      /* character data bytes in this stanza */
    size_t mem;             /* bytes allocated for this stanza (approximate) */
    uint64_t fed;           /* bytes given to expat in this document */
    uint64_t stanza_start;  /* document offset of the stanza's '<' */
    uint64_t mark;          /* document offset just after the last event */
    bool resuming;          /* parsing the synthetic header of a woken stream */
    struct buf hdr_decls;   /* the header's namespace declarations, as XML attributes */
    unsigned hdr_ndecls;
    struct buf stream_name; /* the header's qualified name, e.g. "stream:stream" */
};

static XML_Parser pool[POOL_MAX];
static size_t pool_n;

const char *xmpp_stream_error_name(enum xmpp_stream_error cond)
{
    switch (cond) {
    case XMPP_STREAM_ERR_BAD_FORMAT: return "bad-format";
    case XMPP_STREAM_ERR_BAD_NAMESPACE_PREFIX: return "bad-namespace-prefix";
    case XMPP_STREAM_ERR_INTERNAL_SERVER_ERROR: return "internal-server-error";
    case XMPP_STREAM_ERR_INVALID_NAMESPACE: return "invalid-namespace";
    case XMPP_STREAM_ERR_INVALID_XML: return "invalid-xml";
    case XMPP_STREAM_ERR_NOT_WELL_FORMED: return "not-well-formed";
    case XMPP_STREAM_ERR_POLICY_VIOLATION: return "policy-violation";
    case XMPP_STREAM_ERR_RESTRICTED_XML: return "restricted-xml";
    case XMPP_STREAM_ERR_UNSUPPORTED_ENCODING: return "unsupported-encoding";
    }
    return "undefined-condition";
}

static bool active(const struct xmpp_stream *s)
{
    return s->state == ST_HEADER || s->state == ST_OPEN;
}

static void halt_parser(struct xmpp_stream *s)
{
    if (s->in_parse)
        (void)XML_StopParser(s->p, XML_FALSE);
}

/* Report cond once and stop delivering anything until reset. */
static void fail(struct xmpp_stream *s, enum xmpp_stream_error cond, const char *text)
{
    if (!active(s))
        return;
    s->state = ST_ERROR;
    halt_parser(s);
    if (s->cb.on_error != NULL)
        s->cb.on_error(s->ud, cond, text);
}

static void drop_stanza(struct xmpp_stream *s)
{
    arena_free(s->arena);
    s->arena = NULL;
    s->root = NULL;
    s->mem = 0;
    s->text_total = 0;
    buf_reset(&s->text);
}

/* Record that expat reported an event ending at the current position. */
static void note_event(struct xmpp_stream *s)
{
    XML_Index idx = XML_GetCurrentByteIndex(s->p);
    int cnt = XML_GetCurrentByteCount(s->p);

    if (idx >= 0)
        s->mark = (uint64_t)idx + (cnt > 0 ? (uint64_t)cnt : 0);
}

/* Account n more bytes of stanza memory; false (after fail) past the cap. */
static bool charge(struct xmpp_stream *s, size_t n)
{
    s->mem += n;
    if (s->mem / MEM_FACTOR > s->lim.max_stanza_bytes) {
        fail(s, XMPP_STREAM_ERR_POLICY_VIOLATION, "stanza too complex");
        return false;
    }
    return true;
}

/* A name from expat: "uri<SEP>local<SEP>prefix", "uri<SEP>local" or "local". */
struct qname {
    const char *uri, *local, *prefix; /* pointers into the expat string */
    size_t uri_len, local_len, prefix_len;
};

static void split_name(const char *name, struct qname *q)
{
    const char *s1 = strchr(name, NS_SEP);
    const char *s2;

    memset(q, 0, sizeof(*q));
    if (s1 == NULL) {
        q->uri = "";
        q->local = name;
        q->local_len = strlen(name);
        return;
    }
    q->uri = name;
    q->uri_len = (size_t)(s1 - name);
    q->local = s1 + 1;
    s2 = strchr(q->local, NS_SEP);
    if (s2 == NULL) {
        q->local_len = strlen(q->local);
        return;
    }
    q->local_len = (size_t)(s2 - q->local);
    q->prefix = s2 + 1;
    q->prefix_len = strlen(q->prefix);
}

static bool qname_is(const struct qname *q, const char *uri, const char *local)
{
    return q->uri_len == strlen(uri) && memcmp(q->uri, uri, q->uri_len) == 0 &&
           q->local_len == strlen(local) && memcmp(q->local, local, q->local_len) == 0;
}

/* A namespace string for a new element: the parent's pointer when equal (the
 * common case), else a copy. */
static const char *intern_ns(struct xmpp_stream *s, struct arena *a, const struct xmpp_el *parent,
                             const struct qname *q)
{
    if (parent != NULL && strlen(parent->ns) == q->uri_len &&
        memcmp(parent->ns, q->uri, q->uri_len) == 0)
        return parent->ns;
    if (q->uri_len == 0)
        return "";
    s->mem += q->uri_len + 1;
    return arena_strndup(a, q->uri, q->uri_len);
}

/* Builds the element for an expat start tag, checking the per-element
 * limits. Returns NULL after fail(). */
static struct xmpp_el *make_el(struct xmpp_stream *s, struct arena *a, const struct xmpp_el *parent,
                               const char *name, const char **atts)
{
    struct xmpp_el *el;
    struct xmpp_attr **tail;
    struct qname q;
    size_t n = 0;

    split_name(name, &q);
    if (q.local_len > s->lim.max_name_bytes || q.uri_len > s->lim.max_name_bytes) {
        fail(s, XMPP_STREAM_ERR_POLICY_VIOLATION, "element name too long");
        return NULL;
    }
    while (atts[n] != NULL)
        n += 2;
    if (n / 2 > s->lim.max_attrs) {
        fail(s, XMPP_STREAM_ERR_POLICY_VIOLATION, "too many attributes");
        return NULL;
    }
    if (!charge(s, sizeof(*el) + q.local_len + 1))
        return NULL;
    el = arena_calloc(a, sizeof(*el));
    el->name = arena_strndup(a, q.local, q.local_len);
    el->ns = intern_ns(s, a, parent, &q);
    tail = &el->attrs;
    for (size_t i = 0; i < n; i += 2) {
        struct xmpp_attr *at;
        struct qname aq;
        size_t vlen = strlen(atts[i + 1]);

        split_name(atts[i], &aq);
        if (aq.local_len > s->lim.max_name_bytes || aq.uri_len > s->lim.max_name_bytes) {
            fail(s, XMPP_STREAM_ERR_POLICY_VIOLATION, "attribute name too long");
            return NULL;
        }
        if (vlen > s->lim.max_attr_bytes) {
            fail(s, XMPP_STREAM_ERR_POLICY_VIOLATION, "attribute value too long");
            return NULL;
        }
        if (!charge(s, sizeof(*at) + aq.local_len + aq.uri_len + vlen + 3))
            return NULL;
        at = arena_calloc(a, sizeof(*at));
        at->name = arena_strndup(a, aq.local, aq.local_len);
        if (aq.uri_len == 0)
            at->ns = NULL;
        else if (aq.uri_len == strlen(XMPP_NS_XML) && memcmp(aq.uri, XMPP_NS_XML, aq.uri_len) == 0)
            at->ns = XMPP_NS_XML; /* static: lives longer than any arena */
        else
            at->ns = arena_strndup(a, aq.uri, aq.uri_len);
        at->value = arena_strndup(a, atts[i + 1], vlen);
        *tail = at;
        tail = &at->next;
    }
    return el;
}

/* Move pending character data into a text node of the innermost open element. */
static bool flush_text(struct xmpp_stream *s)
{
    unsigned rel = s->depth - s->base; /* open elements of the stanza */
    struct xmpp_el *t;

    if (s->text.len == 0)
        return true;
    TD_ASSERT(s->arena != NULL && rel >= 1 && rel <= s->lim.max_depth);
    if (!charge(s, sizeof(*t) + s->text.len + 1))
        return false;
    t = arena_calloc(s->arena, sizeof(*t));
    t->text = arena_strndup(s->arena, s->text.data, s->text.len);
    t->text_len = s->text.len;
    xmpp_el_child_add(s->stack[rel - 1], t);
    buf_reset(&s->text);
    return true;
}

/* The <stream:stream> start tag (RFC 6120 §4.8): check its namespaces and
 * prefix, then on_open with a temporary element. */
static void open_header(struct xmpp_stream *s, const char *name, const char **atts)
{
    struct arena *a;
    struct xmpp_el *hdr;
    struct qname q;

    split_name(name, &q);
    if (q.uri_len != strlen(XMPP_NS_STREAMS) || memcmp(q.uri, XMPP_NS_STREAMS, q.uri_len) != 0) {
        fail(s, XMPP_STREAM_ERR_INVALID_NAMESPACE, "stream namespace is not " XMPP_NS_STREAMS);
        return;
    }
    if (q.prefix == NULL) {
        /* §4.8.5: the stream element is qualified by a prefix, not by default. */
        fail(s, XMPP_STREAM_ERR_BAD_NAMESPACE_PREFIX, "stream element has no prefix");
        return;
    }
    if (!qname_is(&q, XMPP_NS_STREAMS, "stream")) {
        fail(s, XMPP_STREAM_ERR_BAD_FORMAT, "root element is not <stream:stream>");
        return;
    }
    if (s->header_ns == NULL || strcmp(s->header_ns, s->lim.content_ns) != 0) {
        /* §4.8.2: the content namespace must be the one this stream serves. */
        fail(s, XMPP_STREAM_ERR_INVALID_NAMESPACE, "wrong or missing content namespace");
        return;
    }
    if (s->resuming) { /* a woken stream's own synthetic header: no event */
        s->resuming = false;
        s->state = ST_OPEN;
        return;
    }
    buf_reset(&s->stream_name);
    if (q.prefix)
        buf_printf(&s->stream_name, "%.*s:stream", (int)q.prefix_len, q.prefix);
    a = arena_new(0);
    s->mem = 0;
    hdr = make_el(s, a, NULL, name, atts);
    s->mem = 0;
    if (hdr != NULL) {
        s->state = ST_OPEN;
        if (s->cb.on_open != NULL)
            s->cb.on_open(s->ud, hdr);
    }
    arena_free(a);
}

/* Keep a namespace declaration of the stream header, to declare it again
 * when a hibernated stream wakes (the stanzas that follow may use it). */
static void keep_header_decl(struct xmpp_stream *s, const char *prefix, const char *uri)
{
    const char *q;

    if (s->lim.framing || s->depth != 0 || s->resuming || uri == NULL)
        return;
    if (s->hdr_ndecls >= HDR_DECLS_MAX) {
        s->hdr_ndecls = HDR_DECLS_MAX + 1; /* too many to keep: never hibernate */
        return;
    }
    for (q = uri; *q; q++)
        if (*q == '\'' || *q == '<' || *q == '&')
            return; /* not re-declared (a hibernation would then stay off) */
    s->hdr_ndecls++;
    if (prefix)
        buf_printf(&s->hdr_decls, " xmlns:%s='%s'", prefix, uri);
    else
        buf_printf(&s->hdr_decls, " xmlns='%s'", uri);
}

static void XMLCALL on_ns_decl(void *ud, const XML_Char *prefix, const XML_Char *uri)
{
    struct xmpp_stream *s = ud;

    if (!active(s))
        return;
    keep_header_decl(s, prefix, uri);
    s->decls++;
    if (s->decls > s->lim.max_attrs) {
        fail(s, XMPP_STREAM_ERR_POLICY_VIOLATION, "too many namespace declarations");
        return;
    }
    if (uri != NULL && strlen(uri) > s->lim.max_name_bytes) {
        fail(s, XMPP_STREAM_ERR_POLICY_VIOLATION, "namespace name too long");
        return;
    }
    if (prefix == NULL && s->depth == 0 && !s->lim.framing) {
        free(s->header_ns);
        s->header_ns = td_strdup(uri ? uri : "");
    }
}

static void XMLCALL on_start(void *ud, const XML_Char *name, const XML_Char **atts)
{
    struct xmpp_stream *s = ud;
    struct xmpp_el *el, *parent = NULL;
    unsigned rel;
    uint64_t start;

    s->decls = 0;
    if (!active(s))
        return;
    start = (uint64_t)XML_GetCurrentByteIndex(s->p);
    note_event(s);
    if (s->depth < s->base) {
        s->depth++;
        open_header(s, name, atts);
        return;
    }
    if (!flush_text(s))
        return;
    rel = s->depth - s->base + 1; /* depth of the new element in its stanza */
    if (rel > s->lim.max_depth) {
        fail(s, XMPP_STREAM_ERR_POLICY_VIOLATION, "elements nested too deep");
        return;
    }
    if (rel == 1) {
        TD_ASSERT(s->arena == NULL);
        s->arena = arena_new(0);
        s->stanza_start = start;
        s->mem = 0;
        s->text_total = 0;
    } else {
        parent = s->stack[rel - 2];
    }
    if (s->mark - s->stanza_start > s->lim.max_stanza_bytes) {
        fail(s, XMPP_STREAM_ERR_POLICY_VIOLATION, "stanza too large");
        return;
    }
    el = make_el(s, s->arena, parent, name, atts);
    if (el == NULL)
        return;
    if (parent != NULL)
        xmpp_el_child_add(parent, el);
    else
        s->root = el;
    s->stack[rel - 1] = el;
    s->depth++;
}

/* A complete top-level element: the RFC 7395 <open/> or <close/>, or a stanza. */
static void deliver(struct xmpp_stream *s)
{
    struct xmpp_el *el = s->root;
    struct arena *a = s->arena;

    s->root = NULL;
    s->arena = NULL;
    if (s->lim.framing && s->state == ST_HEADER) {
        /* RFC 7395 §3.3.1: the first element is <open/> in the framing namespace. */
        if (strcmp(el->ns, XMPP_NS_FRAMING) != 0)
            fail(s, XMPP_STREAM_ERR_INVALID_NAMESPACE,
                 "first element is not in the framing "
                 "namespace");
        else if (strcmp(el->name, "open") != 0)
            fail(s, XMPP_STREAM_ERR_BAD_FORMAT, "first element is not <open/>");
        if (s->state == ST_HEADER) {
            s->state = ST_OPEN;
            if (s->cb.on_open != NULL)
                s->cb.on_open(s->ud, el);
        }
        arena_free(a);
        return;
    }
    if (s->lim.framing && strcmp(el->ns, XMPP_NS_FRAMING) == 0 && strcmp(el->name, "close") == 0) {
        /* RFC 7395 §3.6 */
        arena_free(a);
        s->state = ST_CLOSED;
        halt_parser(s);
        if (s->cb.on_close != NULL)
            s->cb.on_close(s->ud);
        return;
    }
    if (s->cb.on_stanza != NULL)
        s->cb.on_stanza(s->ud, el, a);
    else
        arena_free(a);
}

static void XMLCALL on_end(void *ud, const XML_Char *name)
{
    struct xmpp_stream *s = ud;

    (void)name; /* expat has matched it with the start tag */
    s->decls = 0;
    if (!active(s))
        return;
    note_event(s);
    if (s->depth > s->base && !flush_text(s))
        return;
    TD_ASSERT(s->depth > 0);
    s->depth--;
    if (s->depth < s->base) {
        /* </stream:stream>, RFC 6120 §4.4 */
        s->state = ST_CLOSED;
        halt_parser(s);
        if (s->cb.on_close != NULL)
            s->cb.on_close(s->ud);
        return;
    }
    if (s->depth == s->base) {
        if (s->mark - s->stanza_start > s->lim.max_stanza_bytes) {
            fail(s, XMPP_STREAM_ERR_POLICY_VIOLATION, "stanza too large");
            return;
        }
        deliver(s);
    }
}

static bool all_space(const char *p, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if (p[i] != ' ' && p[i] != '\t' && p[i] != '\r' && p[i] != '\n')
            return false;
    }
    return true;
}

static void XMLCALL on_text(void *ud, const XML_Char *data, int len)
{
    struct xmpp_stream *s = ud;
    size_t n = len > 0 ? (size_t)len : 0;

    if (!active(s))
        return;
    note_event(s);
    if (s->depth <= s->base) {
        /* RFC 6120 §4.6.1 allows whitespace between stanzas (keepalives). */
        if (!all_space(data, n))
            fail(s, XMPP_STREAM_ERR_BAD_FORMAT, "text at stream level");
        return;
    }
    if (n > s->lim.max_text_bytes - s->text_total) {
        fail(s, XMPP_STREAM_ERR_POLICY_VIOLATION, "too much text in stanza");
        return;
    }
    s->text_total += n;
    if (buf_append(&s->text, data, n) != TD_OK)
        fail(s, XMPP_STREAM_ERR_POLICY_VIOLATION, "too much text in stanza");
}

/* RFC 6120 §11.1: none of these may appear in an XML stream. */
static void XMLCALL on_comment(void *ud, const XML_Char *data)
{
    (void)data;
    fail(ud, XMPP_STREAM_ERR_RESTRICTED_XML, "comment");
}

static void XMLCALL on_pi(void *ud, const XML_Char *target, const XML_Char *data)
{
    (void)target;
    (void)data;
    fail(ud, XMPP_STREAM_ERR_RESTRICTED_XML, "processing instruction");
}

static void XMLCALL on_doctype(void *ud, const XML_Char *name, const XML_Char *sysid,
                               const XML_Char *pubid, int has_internal_subset)
{
    (void)name;
    (void)sysid;
    (void)pubid;
    (void)has_internal_subset;
    fail(ud, XMPP_STREAM_ERR_RESTRICTED_XML, "document type declaration");
}

static void XMLCALL on_entity_decl(void *ud, const XML_Char *name, int is_param,
                                   const XML_Char *value, int value_len, const XML_Char *base,
                                   const XML_Char *sysid, const XML_Char *pubid,
                                   const XML_Char *notation)
{
    (void)name, (void)is_param, (void)value, (void)value_len, (void)base;
    (void)sysid, (void)pubid, (void)notation;
    fail(ud, XMPP_STREAM_ERR_RESTRICTED_XML, "entity declaration");
}

static void XMLCALL on_element_decl(void *ud, const XML_Char *name, XML_Content *model)
{
    struct xmpp_stream *s = ud;

    (void)name;
    XML_FreeContentModel(s->p, model);
    fail(s, XMPP_STREAM_ERR_RESTRICTED_XML, "element declaration");
}

static void XMLCALL on_attlist_decl(void *ud, const XML_Char *el, const XML_Char *att,
                                    const XML_Char *type, const XML_Char *dflt, int required)
{
    (void)el, (void)att, (void)type, (void)dflt, (void)required;
    fail(ud, XMPP_STREAM_ERR_RESTRICTED_XML, "attribute list declaration");
}

static void XMLCALL on_notation_decl(void *ud, const XML_Char *name, const XML_Char *base,
                                     const XML_Char *sysid, const XML_Char *pubid)
{
    (void)name, (void)base, (void)sysid, (void)pubid;
    fail(ud, XMPP_STREAM_ERR_RESTRICTED_XML, "notation declaration");
}

/* RFC 6120 §11.6: UTF-8 only. expat is told to decode UTF-8 whatever the
 * declaration says; a declaration naming another encoding is refused. */
static void XMLCALL on_xml_decl(void *ud, const XML_Char *version, const XML_Char *encoding,
                                int standalone)
{
    (void)version;
    (void)standalone;
    if (encoding != NULL && strcasecmp(encoding, "UTF-8") != 0)
        fail(ud, XMPP_STREAM_ERR_UNSUPPORTED_ENCODING, "encoding is not UTF-8");
}

/* Map an expat error to a stream error condition. */
static enum xmpp_stream_error map_error(enum XML_Error e)
{
    switch (e) {
    case XML_ERROR_NO_MEMORY: return XMPP_STREAM_ERR_INTERNAL_SERVER_ERROR;
    case XML_ERROR_UNKNOWN_ENCODING:
    case XML_ERROR_INCORRECT_ENCODING: return XMPP_STREAM_ERR_UNSUPPORTED_ENCODING;
    case XML_ERROR_UNDEFINED_ENTITY:
    case XML_ERROR_RECURSIVE_ENTITY_REF:
    case XML_ERROR_PARAM_ENTITY_REF:
    case XML_ERROR_BINARY_ENTITY_REF:
    case XML_ERROR_ATTRIBUTE_EXTERNAL_ENTITY_REF:
    case XML_ERROR_EXTERNAL_ENTITY_HANDLING:
    case XML_ERROR_ENTITY_DECLARED_IN_PE:
    case XML_ERROR_NOT_STANDALONE:
        return XMPP_STREAM_ERR_RESTRICTED_XML;       /* §11.1: no entity references */
    default: return XMPP_STREAM_ERR_NOT_WELL_FORMED; /* §4.9.3.13, also XML-names errors */
    }
}

/* Start a new XML document: fresh expat state and counters. */
static void begin_document(struct xmpp_stream *s)
{
    XML_Parser p;

    if (s->p == NULL) /* hibernated: take a parser from the pool, or a new one */
        s->p = pool_n > 0 ? pool[--pool_n] : XML_ParserCreateNS("UTF-8", NS_SEP);
    if (s->p == NULL)
        TD_ASSERT(!"XML_ParserCreateNS: out of memory"); /* like td_malloc: abort on OOM */
    p = s->p;
    drop_stanza(s);
    XML_ParserReset(p, "UTF-8");
    XML_SetReturnNSTriplet(p, 1);
    XML_SetUserData(p, s);
    XML_SetParamEntityParsing(p, XML_PARAM_ENTITY_PARSING_NEVER);
    XML_SetElementHandler(p, on_start, on_end);
    XML_SetCharacterDataHandler(p, on_text);
    XML_SetStartNamespaceDeclHandler(p, on_ns_decl);
    XML_SetCommentHandler(p, on_comment);
    XML_SetProcessingInstructionHandler(p, on_pi);
    XML_SetStartDoctypeDeclHandler(p, on_doctype);
    XML_SetEntityDeclHandler(p, on_entity_decl);
    XML_SetElementDeclHandler(p, on_element_decl);
    XML_SetAttlistDeclHandler(p, on_attlist_decl);
    XML_SetNotationDeclHandler(p, on_notation_decl);
    XML_SetXmlDeclHandler(p, on_xml_decl);
    free(s->header_ns);
    s->header_ns = NULL;
    s->depth = 0;
    s->decls = 0;
    s->fed = 0;
    s->stanza_start = 0;
    s->mark = 0;
}

struct xmpp_stream *xmpp_stream_new(const struct xmpp_stream_limits *lim,
                                    const struct xmpp_stream_cbs *cb, void *ud)
{
    struct xmpp_stream *s = td_calloc(1, sizeof(*s));

    if (lim != NULL)
        s->lim = *lim;
    if (s->lim.max_stanza_bytes == 0)
        s->lim.max_stanza_bytes = DEF_MAX_STANZA;
    if (s->lim.max_tag_bytes == 0)
        s->lim.max_tag_bytes = DEF_MAX_TAG;
    if (s->lim.max_depth == 0)
        s->lim.max_depth = DEF_MAX_DEPTH;
    if (s->lim.max_attrs == 0)
        s->lim.max_attrs = DEF_MAX_ATTRS;
    if (s->lim.max_name_bytes == 0)
        s->lim.max_name_bytes = DEF_MAX_NAME;
    if (s->lim.max_attr_bytes == 0)
        s->lim.max_attr_bytes = DEF_MAX_ATTR;
    if (s->lim.max_text_bytes == 0)
        s->lim.max_text_bytes = s->lim.max_stanza_bytes;
    if (s->lim.content_ns == NULL)
        s->lim.content_ns = XMPP_NS_CLIENT;
    if (cb != NULL)
        s->cb = *cb;
    s->ud = ud;
    s->base = s->lim.framing ? 0 : 1;
    s->stack = td_calloc(s->lim.max_depth, sizeof(*s->stack));
    buf_init(&s->text, s->lim.max_text_bytes);
    buf_init(&s->hdr_decls, 4096);
    buf_init(&s->stream_name, 256);
    begin_document(s);
    s->state = ST_HEADER;
    return s;
}

/* Check what expat may be holding after a chunk: the open stanza, or the
 * unfinished token since the last event. */
static void check_pending(struct xmpp_stream *s)
{
    if (!active(s))
        return;
    if (s->depth > s->base && s->fed - s->stanza_start > s->lim.max_stanza_bytes)
        fail(s, XMPP_STREAM_ERR_POLICY_VIOLATION, "stanza too large");
    else if (s->fed - s->mark > s->lim.max_tag_bytes)
        fail(s, XMPP_STREAM_ERR_POLICY_VIOLATION, "markup token too large");
}

/* Give data to expat in chunks, checking the limits between them. */
static void parse(struct xmpp_stream *s, const char *data, size_t len, bool final)
{
    while (active(s)) {
        size_t n = len < CHUNK ? len : CHUNK;
        bool last = final && n == len;
        enum XML_Status st;

#if XML_MAJOR_VERSION > 2 || (XML_MAJOR_VERSION == 2 && XML_MINOR_VERSION >= 6)
        /* expat >= 2.6 may defer reparsing an unfinished token until twice as
         * many bytes are buffered, which would hold back a complete stanza in
         * an interactive stream. Defer only for big tokens (quadratic rescans),
         * which max_tag_bytes bounds anyway. */
        XML_SetReparseDeferralEnabled(s->p, s->fed - s->mark > CHUNK ? XML_TRUE : XML_FALSE);
#endif
        s->in_parse = true;
        st = XML_Parse(s->p, data, (int)n, last ? XML_TRUE : XML_FALSE);
        s->in_parse = false;
        s->fed += n;
        if (st == XML_STATUS_ERROR && active(s)) {
            enum XML_Error e = XML_GetErrorCode(s->p);

            fail(s, map_error(e), XML_ErrorString(e));
        }
        check_pending(s);
        data += n;
        len -= n;
        if (len == 0)
            break;
    }
}

/* Wake a hibernated stream: a parser from the pool, fed a header that
 * declares what the original one did, without an on_open event. */
static void wake(struct xmpp_stream *s)
{
    struct buf h;

    begin_document(s);
    if (s->lim.framing)
        return;
    buf_init(&h, 0);
    buf_printf(&h, "<%s%s>", s->stream_name.data, s->hdr_decls.data);
    s->resuming = true;
    s->state = ST_HEADER;
    parse(s, h.data, h.len, false);
    buf_free(&h);
    TD_ASSERT(s->state == ST_OPEN); /* our own header cannot fail */
}

bool xmpp_stream_hibernate(struct xmpp_stream *s)
{
    TD_ASSERT(!s->in_feed);
    if (s->p == NULL)
        return true;
    if (s->state != ST_OPEN || s->arena != NULL || s->depth != s->base || s->fed != s->mark ||
        (!s->lim.framing && (s->hdr_ndecls > HDR_DECLS_MAX || s->stream_name.len == 0)))
        return false;
    if (pool_n < POOL_MAX) {
        XML_ParserReset(s->p, "UTF-8"); /* drops what it held of this stream */
        pool[pool_n++] = s->p;
    } else {
        XML_ParserFree(s->p);
    }
    s->p = NULL;
    buf_free(&s->text);
    buf_init(&s->text, s->lim.max_text_bytes);
    return true;
}

int xmpp_stream_feed(struct xmpp_stream *s, const char *data, size_t len)
{
    TD_ASSERT(!s->in_feed);
    if (active(s) && len > 0) {
        s->in_feed = true;
        if (s->p == NULL && !s->lim.framing)
            wake(s);
        if (!s->lim.framing) {
            parse(s, data, len, false);
        } else if (!all_space(data, len)) {
            /* RFC 7395 §3.3.3: every message is a complete document. */
            begin_document(s);
            parse(s, data, len, true);
            if (active(s) && s->arena != NULL)
                fail(s, XMPP_STREAM_ERR_NOT_WELL_FORMED, "incomplete element");
        }
        s->in_feed = false;
    }
    switch (s->state) {
    case ST_ERROR: return TD_EPROTO;
    case ST_CLOSED:
    case ST_STOPPED: return TD_ECLOSED;
    default: return TD_OK;
    }
}

void xmpp_stream_stop(struct xmpp_stream *s)
{
    if (!active(s))
        return;
    s->state = ST_STOPPED;
    halt_parser(s);
}

void xmpp_stream_reset(struct xmpp_stream *s)
{
    TD_ASSERT(!s->in_feed);
    buf_reset(&s->hdr_decls); /* the next header declares its own */
    s->hdr_ndecls = 0;
    buf_reset(&s->stream_name);
    begin_document(s);
    s->state = ST_HEADER;
}

void xmpp_stream_free(struct xmpp_stream *s)
{
    if (s == NULL)
        return;
    TD_ASSERT(!s->in_feed);
    drop_stanza(s);
    buf_free(&s->text);
    buf_free(&s->hdr_decls);
    buf_free(&s->stream_name);
    free(s->header_ns);
    free(s->stack);
    if (s->p != NULL)
        XML_ParserFree(s->p);
    free(s);
}
