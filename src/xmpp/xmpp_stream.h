/* SPDX-License-Identifier: MIT */
/* Incremental, sans-I/O XMPP stream parser (RFC 6120 §4 streams, §4.9 stream
 * errors, §11 XML usage; RFC 7395 §3.3 WebSocket framing), after jabberd2's
 * sx/: the stream owns no socket, it is fed bytes and calls back with events:
 * the stream header, each complete top-level element (stanza) as a tree of
 * struct xmpp_el in its own arena, the stream close, or one stream error. It
 * enforces the XMPP restrictions on XML (no DTD, comments, PIs or entity
 * declarations, UTF-8 only) and the limits of struct xmpp_stream_limits while
 * parsing, so an oversized stanza is refused before it is buffered. What the
 * stanzas mean (stream features, SASL, routing, unsupported-stanza-type) is
 * the session's business. */
#ifndef TD_XMPP_STREAM_H
#define TD_XMPP_STREAM_H

#include <stdbool.h>
#include <stddef.h>

#include "xmpp/xmpp_xml.h"

struct arena;
struct xmpp_stream;

/* Stream error conditions the parser detects (RFC 6120 §4.9.3). */
enum xmpp_stream_error {
    XMPP_STREAM_ERR_BAD_FORMAT = 1,        /* §4.9.3.1: e.g. text at stream level */
    XMPP_STREAM_ERR_BAD_NAMESPACE_PREFIX,  /* §4.9.3.2: unprefixed stream element */
    XMPP_STREAM_ERR_INTERNAL_SERVER_ERROR, /* §4.9.3.8: the XML parser failed */
    XMPP_STREAM_ERR_INVALID_NAMESPACE,     /* §4.9.3.10: wrong stream or content namespace */
    XMPP_STREAM_ERR_INVALID_XML,           /* §4.9.3.11: not produced by the parser */
    XMPP_STREAM_ERR_NOT_WELL_FORMED,       /* §4.9.3.13: XML or XML-names violation */
    XMPP_STREAM_ERR_POLICY_VIOLATION,      /* §4.9.3.14: a limit was exceeded */
    XMPP_STREAM_ERR_RESTRICTED_XML,        /* §4.9.3.18 + §11.1: DTD, comment, PI, entity */
    XMPP_STREAM_ERR_UNSUPPORTED_ENCODING,  /* §4.9.3.22 + §11.6: not UTF-8 */
};

/* Limits; a zero field takes the default in brackets. */
struct xmpp_stream_limits {
    size_t max_stanza_bytes; /* bytes of one top-level element, '<' to '>' [256 KiB];
                                also caps the stream header */
    size_t max_tag_bytes;    /* bytes of one incomplete token, e.g. a start tag [16 KiB] */
    unsigned max_depth;      /* element nesting within a stanza, the stanza being 1 [32] */
    unsigned max_attrs;      /* attributes per element [32] */
    size_t max_name_bytes;   /* an element or attribute name, a namespace URI [1 KiB] */
    size_t max_attr_bytes;   /* one attribute value, after unescaping [4 KiB] */
    size_t max_text_bytes;   /* character data in one stanza, after unescaping
                                [max_stanza_bytes] */
    const char *content_ns;  /* required default namespace of the stream (RFC 6120
                                §4.8.2) [XMPP_NS_CLIENT]; XMPP_NS_SERVER for s2s */
    bool framing;            /* RFC 7395 WebSocket framing: each feed is one
                                complete message holding one element: <open/>,
                                a stanza or <close/> [false] */
};

struct xmpp_stream_cbs {
    /* The stream header: <stream:stream> (attributes to, from, id, version,
     * xml:lang), or the RFC 7395 <open/> in framing mode. Its namespaces were
     * checked. header is valid only during the call: copy what you keep. */
    void (*on_open)(void *ud, const struct xmpp_el *header);
    /* One complete top-level element, in any namespace (the session checks
     * that it is a stanza it supports). el lives in arena a, and a now belongs
     * to the callee, who must arena_free(a) when done with el (even to ignore
     * it). Stanzas of one feed are delivered in order. */
    void (*on_stanza)(void *ud, struct xmpp_el *el, struct arena *a);
    /* </stream:stream>, or <close/> in framing mode. Nothing follows until reset. */
    void (*on_close)(void *ud);
    /* A stream error (at most once until reset); text is a short English
     * description for logs, not for the peer. The session sends
     * <stream:error> with xmpp_stream_error_name(cond) and closes. */
    void (*on_error)(void *ud, enum xmpp_stream_error cond, const char *text);
};

/** A parser with the given limits (NULL = all defaults) and callbacks (copied;
 *  NULL members are skipped, a dropped stanza's arena is freed). ud goes to them. */
struct xmpp_stream *xmpp_stream_new(const struct xmpp_stream_limits *lim,
                                    const struct xmpp_stream_cbs *cb, void *ud);
/** Parse len bytes (framing mode: exactly one whole WebSocket message). Callbacks
 *  fire from inside. They may call xmpp_stream_stop() but never reset or free.
 *  Returns TD_OK (all consumed), TD_EPROTO (on_error fired now or earlier; input
 *  ignored), or TD_ECLOSED (the stream had ended by on_close or
 *  xmpp_stream_stop(), now or earlier; the rest of the input was discarded). */
int xmpp_stream_feed(struct xmpp_stream *s, const char *data, size_t len);
/** From a callback or between feeds: deliver nothing more; the rest of the
 *  current feed and later feeds are discarded (TD_ECLOSED) until reset. A
 *  session calls it after <starttls/> or a SASL success so that pipelined bytes
 *  are not taken as part of the new stream. */
void xmpp_stream_stop(struct xmpp_stream *s);
/** Start over: the next bytes begin a fresh XML document and stream header
 *  (RFC 6120 §4.3.3 restart after STARTTLS or SASL; framing mode: a new
 *  <open/>). Clears any error or close. Only between feeds, never in a callback. */
void xmpp_stream_reset(struct xmpp_stream *s);
/** Between feeds: if the stream stands between stanzas (header seen, no
 *  stanza or token pending), give its expat parser back to a small pool and
 *  keep only what is needed to go on: the next feed wakes it transparently
 *  (a parser from the pool, the header's namespace declarations declared
 *  again, no second on_open). Returns true if the stream is hibernating.
 *  An idle session then costs a few hundred bytes here instead of ~10 KiB. */
bool xmpp_stream_hibernate(struct xmpp_stream *s);
/** Free the parser. NULL-safe. Never in a callback. */
void xmpp_stream_free(struct xmpp_stream *s);
/** The RFC 6120 §4.9.3 element name of cond, e.g. "not-well-formed". */
const char *xmpp_stream_error_name(enum xmpp_stream_error cond);

#endif
