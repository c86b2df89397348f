/* SPDX-License-Identifier: MIT */
/* Stanza trees for XMPP: building, lookup, deep copy, comparison and the XML
 * serializer (XML 1.0 §2.4 character data and §3.1 attribute escaping, XML
 * Namespaces 1.0 declarations, RFC 6120 §11 restrictions: the output never
 * holds comments, PIs, DTDs or entity references other than the predefined
 * ones and character references). Every node and string lives in the arena
 * the caller passes; nothing here frees memory. Text is written with & < >
 * escaped and \r as &#13; (so a parser's line-end normalization does not
 * change it), attribute values additionally with " ' and \t \n as character
 * references (XML 1.0 §3.3.3 attribute-value normalization), so a round trip
 * through xmpp_stream gives back the same tree. The parser lives in
 * xmpp_stream.c. */
#include "xmpp/xmpp_xml.h"

#include "core/arena.h"
#include "core/buf.h"
#include "core/err.h"

#include <stdio.h>
#include <string.h>

/* NULL and "" both mean "no namespace". */
static const char *ns_or_empty(const char *ns)
{
    return ns ? ns : "";
}

static bool ns_eq(const char *a, const char *b)
{
    return strcmp(ns_or_empty(a), ns_or_empty(b)) == 0;
}

/* Does element el match name and ns (NULL = any)? */
static bool el_matches(const struct xmpp_el *el, const char *name, const char *ns)
{
    if (xmpp_el_is_text(el))
        return false;
    if (name != NULL && strcmp(el->name, name) != 0)
        return false;
    if (ns != NULL && strcmp(el->ns, ns) != 0)
        return false;
    return true;
}

struct xmpp_el *xmpp_el_new(struct arena *a, const char *name, const char *ns)
{
    struct xmpp_el *el = arena_calloc(a, sizeof(*el));

    TD_ASSERT(name != NULL);
    el->name = arena_strdup(a, name);
    el->ns = arena_strdup(a, ns_or_empty(ns));
    return el;
}

void xmpp_el_attr_set_ns(struct arena *a, struct xmpp_el *el, const char *ns, const char *name,
                         const char *value)
{
    struct xmpp_attr *at, *last = NULL;

    TD_ASSERT(!xmpp_el_is_text(el) && name != NULL && value != NULL);
    if (ns != NULL && ns[0] == '\0')
        ns = NULL;
    for (at = el->attrs; at != NULL; at = at->next) {
        if (strcmp(at->name, name) == 0 && ns_eq(at->ns, ns)) {
            at->value = arena_strdup(a, value);
            return;
        }
        last = at;
    }
    at = arena_calloc(a, sizeof(*at));
    at->name = arena_strdup(a, name);
    at->ns = ns ? arena_strdup(a, ns) : NULL;
    at->value = arena_strdup(a, value);
    if (last != NULL)
        last->next = at;
    else
        el->attrs = at;
}

void xmpp_el_attr_set(struct arena *a, struct xmpp_el *el, const char *name, const char *value)
{
    xmpp_el_attr_set_ns(a, el, NULL, name, value);
}

void xmpp_el_child_add(struct xmpp_el *parent, struct xmpp_el *child)
{
    TD_ASSERT(!xmpp_el_is_text(parent) && child->next == NULL);
    if (parent->last_child != NULL)
        parent->last_child->next = child;
    else
        parent->children = child;
    parent->last_child = child;
}

struct xmpp_el *xmpp_el_child_new(struct arena *a, struct xmpp_el *parent, const char *name,
                                  const char *ns)
{
    struct xmpp_el *el = xmpp_el_new(a, name, ns ? ns : parent->ns);

    xmpp_el_child_add(parent, el);
    return el;
}

void xmpp_el_text_add(struct arena *a, struct xmpp_el *el, const char *text, size_t len)
{
    struct xmpp_el *t;

    if (len == 0)
        return;
    t = arena_calloc(a, sizeof(*t));
    t->text = arena_strndup(a, text, len);
    t->text_len = len;
    xmpp_el_child_add(el, t);
}

const char *xmpp_el_attr_ns(const struct xmpp_el *el, const char *ns, const char *name)
{
    if (ns != NULL && ns[0] == '\0')
        ns = NULL;
    for (const struct xmpp_attr *at = el->attrs; at != NULL; at = at->next) {
        if (strcmp(at->name, name) == 0 && ns_eq(at->ns, ns))
            return at->value;
    }
    return NULL;
}

const char *xmpp_el_attr(const struct xmpp_el *el, const char *name)
{
    return xmpp_el_attr_ns(el, NULL, name);
}

struct xmpp_el *xmpp_el_child(const struct xmpp_el *el, const char *name, const char *ns)
{
    for (struct xmpp_el *c = el->children; c != NULL; c = c->next) {
        if (el_matches(c, name, ns))
            return c;
    }
    return NULL;
}

struct xmpp_el *xmpp_el_next(const struct xmpp_el *prev, const char *name, const char *ns)
{
    for (struct xmpp_el *c = prev->next; c != NULL; c = c->next) {
        if (el_matches(c, name, ns))
            return c;
    }
    return NULL;
}

const char *xmpp_el_text(struct arena *a, const struct xmpp_el *el, size_t *len)
{
    const struct xmpp_el *only = NULL;
    size_t total = 0, n = 0;
    char *out, *p;

    for (const struct xmpp_el *c = el->children; c != NULL; c = c->next) {
        if (xmpp_el_is_text(c)) {
            only = c;
            total += c->text_len;
            n++;
        }
    }
    if (len != NULL)
        *len = total;
    if (n == 0)
        return "";
    if (n == 1)
        return only->text;
    out = arena_alloc(a, total + 1);
    p = out;
    for (const struct xmpp_el *c = el->children; c != NULL; c = c->next) {
        if (xmpp_el_is_text(c)) {
            memcpy(p, c->text, c->text_len);
            p += c->text_len;
        }
    }
    *p = '\0';
    return out;
}

const char *xmpp_el_child_text(struct arena *a, const struct xmpp_el *el, const char *name,
                               const char *ns)
{
    const struct xmpp_el *c = xmpp_el_child(el, name, ns);

    return c ? xmpp_el_text(a, c, NULL) : NULL;
}

/* Copies one node and, recursively, its children (depth is bounded by the
 * parser's max_depth for parsed trees). */
struct xmpp_el *xmpp_el_copy(struct arena *a, const struct xmpp_el *el)
{
    struct xmpp_el *n = arena_calloc(a, sizeof(*n));
    struct xmpp_attr **tail = &n->attrs;

    if (xmpp_el_is_text(el)) {
        n->text = arena_strndup(a, el->text, el->text_len);
        n->text_len = el->text_len;
        return n;
    }
    n->name = arena_strdup(a, el->name);
    n->ns = arena_strdup(a, el->ns);
    for (const struct xmpp_attr *at = el->attrs; at != NULL; at = at->next) {
        struct xmpp_attr *c = arena_calloc(a, sizeof(*c));

        c->name = arena_strdup(a, at->name);
        c->ns = at->ns ? arena_strdup(a, at->ns) : NULL;
        c->value = arena_strdup(a, at->value);
        *tail = c;
        tail = &c->next;
    }
    for (const struct xmpp_el *c = el->children; c != NULL; c = c->next)
        xmpp_el_child_add(n, xmpp_el_copy(a, c));
    return n;
}

static size_t attr_count(const struct xmpp_el *el)
{
    size_t n = 0;

    for (const struct xmpp_attr *at = el->attrs; at != NULL; at = at->next)
        n++;
    return n;
}

bool xmpp_el_equal(const struct xmpp_el *a, const struct xmpp_el *b)
{
    const struct xmpp_el *ca, *cb;

    if (xmpp_el_is_text(a) || xmpp_el_is_text(b)) {
        return xmpp_el_is_text(a) && xmpp_el_is_text(b) && a->text_len == b->text_len &&
               memcmp(a->text, b->text, a->text_len) == 0;
    }
    if (strcmp(a->name, b->name) != 0 || strcmp(a->ns, b->ns) != 0)
        return false;
    /* Attribute names are unique per element, so equal counts plus every
     * attribute of a found in b means the same set. */
    if (attr_count(a) != attr_count(b))
        return false;
    for (const struct xmpp_attr *at = a->attrs; at != NULL; at = at->next) {
        const char *v = xmpp_el_attr_ns(b, at->ns, at->name);

        if (v == NULL || strcmp(v, at->value) != 0)
            return false;
    }
    for (ca = a->children, cb = b->children; ca != NULL && cb != NULL;
         ca = ca->next, cb = cb->next) {
        if (!xmpp_el_equal(ca, cb))
            return false;
    }
    return ca == NULL && cb == NULL;
}

/* ---- serializer ---- */

/* Append s[0..n) escaped for text (in_attr false) or a quoted attribute value.
 * C0 controls other than \t \n \r cannot appear in XML 1.0 at all, not even
 * as character references (§2.2), so they are dropped. */
static int put_escaped(struct buf *out, const char *s, size_t n, bool in_attr)
{
    size_t start = 0;
    int rc = TD_OK;

    for (size_t i = 0; i < n && rc == TD_OK; i++) {
        unsigned char c = (unsigned char)s[i];
        const char *rep;

        switch (c) {
        case '&': rep = "&amp;"; break;
        case '<': rep = "&lt;"; break;
        case '>': rep = "&gt;"; break;
        case '\r': rep = "&#13;"; break;
        case '"': rep = in_attr ? "&quot;" : NULL; break;
        case '\'': rep = in_attr ? "&apos;" : NULL; break;
        case '\t': rep = in_attr ? "&#9;" : NULL; break;
        case '\n': rep = in_attr ? "&#10;" : NULL; break;
        default: rep = c < 0x20 ? "" : NULL; break;
        }
        if (rep == NULL)
            continue;
        rc = buf_append(out, s + start, i - start);
        if (rc == TD_OK)
            rc = buf_appends(out, rep);
        start = i + 1;
    }
    if (rc == TD_OK)
        rc = buf_append(out, s + start, n - start);
    return rc;
}

/* " name='" with an optional prefix ("xml", or "ns" and a number); the
 * serializer runs once per routed stanza, so no printf on this path. */
static int put_attr_name(struct buf *out, const char *prefix, int prefix_n, const char *name)
{
    char num[16];
    int rc = buf_putc(out, ' ');

    if (rc == TD_OK && prefix != NULL) {
        rc = buf_appends(out, prefix);
        if (rc == TD_OK && prefix_n >= 0) {
            snprintf(num, sizeof(num), "%d", prefix_n);
            rc = buf_appends(out, num);
        }
        if (rc == TD_OK)
            rc = buf_putc(out, ':');
    }
    if (rc == TD_OK)
        rc = buf_appends(out, name);
    if (rc == TD_OK)
        rc = buf_append(out, "='", 2);
    return rc;
}

static int put_attr(struct buf *out, const char *prefix, int prefix_n, const char *name,
                    const char *value)
{
    int rc = put_attr_name(out, prefix, prefix_n, name);

    if (rc == TD_OK)
        rc = put_escaped(out, value, strlen(value), true);
    if (rc == TD_OK)
        rc = buf_putc(out, '\'');
    return rc;
}

/* The prefix number of namespaced attribute at: the index of the first
 * attribute of el with the same namespace, so each namespace is declared once. */
static int attr_prefix_index(const struct xmpp_el *el, const struct xmpp_attr *at)
{
    int i = 0;

    for (const struct xmpp_attr *o = el->attrs; o != at; o = o->next, i++) {
        if (o->ns != NULL && strcmp(o->ns, at->ns) == 0)
            return i;
    }
    return i;
}

static bool is_xmlns_name(const char *name)
{
    return strcmp(name, "xmlns") == 0 || strncmp(name, "xmlns:", 6) == 0;
}

/* Writes el. default_ns is the default namespace in scope, stream_bound tells
 * whether the "stream" prefix is bound to XMPP_NS_STREAMS there. */
static int serialize(const struct xmpp_el *el, const char *default_ns, bool stream_bound,
                     struct buf *out)
{
    const char *child_ns = default_ns;
    bool is_stream;
    int rc, i = 0;

    if (xmpp_el_is_text(el))
        return put_escaped(out, el->text, el->text_len, false);
    is_stream = strcmp(el->ns, XMPP_NS_STREAMS) == 0;
    if (is_stream) {
        /* RFC 6120 §4.8.5: stream-level elements use the "stream" prefix. */
        rc = buf_appends(out, "<stream:");
        if (rc == TD_OK)
            rc = buf_appends(out, el->name);
        if (rc == TD_OK && !stream_bound)
            rc = buf_appends(out, " xmlns:stream='" XMPP_NS_STREAMS "'");
        stream_bound = true;
    } else {
        rc = buf_putc(out, '<');
        if (rc == TD_OK)
            rc = buf_appends(out, el->name);
        if (rc == TD_OK && strcmp(el->ns, default_ns) != 0) {
            rc = put_attr(out, NULL, -1, "xmlns", el->ns);
        }
        child_ns = el->ns;
    }
    for (const struct xmpp_attr *at = el->attrs; at != NULL && rc == TD_OK; at = at->next, i++) {
        if (at->ns == NULL) {
            if (!is_xmlns_name(at->name))
                rc = put_attr(out, NULL, -1, at->name, at->value);
        } else if (strcmp(at->ns, XMPP_NS_XML) == 0) {
            rc = put_attr(out, "xml", -1, at->name, at->value);
        } else {
            int pi = attr_prefix_index(el, at);

            if (pi == i) {
                char decl[32];
                snprintf(decl, sizeof(decl), " xmlns:ns%d='", pi);
                rc = buf_appends(out, decl);
            }
            if (rc == TD_OK && pi == i)
                rc = put_escaped(out, at->ns, strlen(at->ns), true);
            if (rc == TD_OK && pi == i)
                rc = buf_putc(out, '\'');
            if (rc == TD_OK)
                rc = put_attr(out, "ns", pi, at->name, at->value);
        }
    }
    if (rc != TD_OK)
        return rc;
    if (el->children == NULL)
        return buf_appends(out, "/>");
    rc = buf_putc(out, '>');
    for (const struct xmpp_el *c = el->children; c != NULL && rc == TD_OK; c = c->next)
        rc = serialize(c, child_ns, stream_bound, out);
    if (rc == TD_OK)
        rc = buf_appends(out, is_stream ? "</stream:" : "</");
    if (rc == TD_OK)
        rc = buf_appends(out, el->name);
    if (rc == TD_OK)
        rc = buf_putc(out, '>');
    return rc;
}

/* Contract in the header. The recursion depth is the tree's depth, which the
 * parser caps (xmpp_stream_limits.max_depth); built trees are the caller's. */
int xmpp_el_serialize(const struct xmpp_el *el, const char *parent_ns, struct buf *out)
{
    return serialize(el, ns_or_empty(parent_ns), parent_ns != NULL, out);
}
