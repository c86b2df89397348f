/* SPDX-License-Identifier: MIT */
/* The in-memory form of an XMPP stanza (RFC 6120 §8, XML rules of §11): a
 * small tree of elements and text nodes, every byte of it allocated in one
 * struct arena, so a stanza is freed with arena_free() and nothing else.
 * Names are namespace-resolved (XML Namespaces 1.0): an element carries its
 * local name and namespace URI, never a prefix; prefixed attributes (xml:lang)
 * carry their namespace URI. The serializer writes the tree back as XML 1.0
 * in UTF-8, escaping text and attribute values (§11.1 rules: no comments, PIs
 * or DTD are ever produced) and declaring a namespace only where it differs
 * from the enclosing one. Parsing is xmpp_stream.h's job; this file only
 * builds, reads, copies and writes trees. Not thread-safe per tree; no I/O. */
#ifndef TD_XMPP_XML_H
#define TD_XMPP_XML_H

#include <stdbool.h>
#include <stddef.h>

struct arena;
struct buf;

#define XMPP_NS_STREAMS "http://etherx.jabber.org/streams"
#define XMPP_NS_CLIENT "jabber:client"
#define XMPP_NS_SERVER "jabber:server"
#define XMPP_NS_FRAMING "urn:ietf:params:xml:ns:xmpp-framing" /* RFC 7395 §3.3 */
#define XMPP_NS_XML "http://www.w3.org/XML/1998/namespace"    /* the xml: prefix */

struct xmpp_attr {
    struct xmpp_attr *next; /* next attribute in document order */
    const char *name;       /* local name, e.g. "lang" for xml:lang */
    const char *ns;         /* namespace of a prefixed attribute (XMPP_NS_XML), NULL if none */
    const char *value;      /* UTF-8, NUL-terminated (XML allows no NUL in values) */
};

/* An element, or a text node when name is NULL. Every pointer points into
 * the arena the tree was built in. */
struct xmpp_el {
    const char *name;         /* local name; NULL for a text node */
    const char *ns;           /* namespace URI; "" for none; NULL for a text node */
    struct xmpp_attr *attrs;  /* first attribute or NULL */
    struct xmpp_el *children; /* first child (element or text node) or NULL */
    struct xmpp_el *next;     /* next sibling or NULL */
    const char *text;         /* text nodes: the characters, UTF-8, NUL-terminated */
    size_t text_len;          /* text nodes: bytes in text (without the NUL) */
    /* private */
    struct xmpp_el *last_child; /* for O(1) append */
};

/** True if n is a text node rather than an element. */
static inline bool xmpp_el_is_text(const struct xmpp_el *n)
{
    return n->name == NULL;
}

/** A new childless element; name and ns (NULL = no namespace) are copied into a. */
struct xmpp_el *xmpp_el_new(struct arena *a, const char *name, const char *ns);
/** Set attribute name (in namespace ns, NULL for a plain attribute) to a copy of value,
 *  replacing an earlier value of the same name and namespace. */
void xmpp_el_attr_set_ns(struct arena *a, struct xmpp_el *el, const char *ns, const char *name,
                         const char *value);
/** xmpp_el_attr_set_ns() for a plain (unprefixed) attribute. */
void xmpp_el_attr_set(struct arena *a, struct xmpp_el *el, const char *name, const char *value);
/** Append child (an element or text node from the same arena, not yet in a tree) to parent. */
void xmpp_el_child_add(struct xmpp_el *parent, struct xmpp_el *child);
/** New element appended to parent; ns NULL inherits parent's namespace. Returns it. */
struct xmpp_el *xmpp_el_child_new(struct arena *a, struct xmpp_el *parent, const char *name,
                                  const char *ns);
/** Append a text node holding a copy of text[0..len) to el (len 0 adds nothing). */
void xmpp_el_text_add(struct arena *a, struct xmpp_el *el, const char *text, size_t len);

/** Value of the plain attribute name, or NULL if absent. */
const char *xmpp_el_attr(const struct xmpp_el *el, const char *name);
/** Value of attribute name in namespace ns (NULL = plain), or NULL if absent. */
const char *xmpp_el_attr_ns(const struct xmpp_el *el, const char *ns, const char *name);
/** First child element named name in namespace ns (either NULL = any), or NULL. */
struct xmpp_el *xmpp_el_child(const struct xmpp_el *el, const char *name, const char *ns);
/** The next sibling element after prev matching name and ns (NULL = any), or NULL. */
struct xmpp_el *xmpp_el_next(const struct xmpp_el *prev, const char *name, const char *ns);
/** The character data directly inside el (its text children joined; "" if none).
 *  Points into the tree when there is one text node, else into a copy made in a.
 *  *len (if not NULL) gets the length in bytes. */
const char *xmpp_el_text(struct arena *a, const struct xmpp_el *el, size_t *len);
/** Text of the first child element named name in ns, or NULL if there is no such child. */
const char *xmpp_el_child_text(struct arena *a, const struct xmpp_el *el, const char *name,
                               const char *ns);

/** A deep copy of el (and its children, not its siblings) allocated in a. */
struct xmpp_el *xmpp_el_copy(struct arena *a, const struct xmpp_el *el);
/** True if a and b have the same names, namespaces, attributes (in any order)
 *  and children (in order; text nodes compared one by one). */
bool xmpp_el_equal(const struct xmpp_el *a, const struct xmpp_el *b);

/** Append el as XML to out. parent_ns is the default namespace in force where el
 *  is written (XMPP_NS_CLIENT inside a c2s stream: <message> then gets no xmlns;
 *  NULL for a standalone document such as an RFC 7395 WebSocket message).
 *  Elements in XMPP_NS_STREAMS are written with the "stream:" prefix, declared
 *  on the element when parent_ns is NULL (inside a stream the header binds it).
 *  Attributes named xmlns or xmlns:* are skipped (declarations are generated),
 *  control characters XML 1.0 cannot carry are dropped. Strings must be UTF-8.
 *  Returns TD_OK, or TD_ETOOBIG when out's ceiling was reached (out then holds
 *  a partial element: reset it). */
int xmpp_el_serialize(const struct xmpp_el *el, const char *parent_ns, struct buf *out);

#endif
