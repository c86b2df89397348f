/* SPDX-License-Identifier: MIT */
/* libFuzzer driver for the XMPP stream parser of xmpp/xmpp_stream.h and the
 * serializer of xmpp/xmpp_xml.h (RFC 6120 §4 streams, §4.9.3 errors, §11 XML
 * restrictions; RFC 7395 framing). Input layout: byte 0 picks the behaviour
 * (bits 0-5: feed chunk size, 0 = all at once; bit 6: RFC 7395 framing mode,
 * where the input is split into messages at NUL bytes instead; bit 7: tiny
 * limits), byte 1 more of it (bit 0: reset and go on after a close, stop or
 * error; bit 1: on_stanza calls xmpp_stream_stop() on a <starttls/>; bit 2:
 * s2s content namespace; bit 3: xmpp_stream_hibernate() after every feed,
 * which must change nothing the checks see), the rest is the peer's bytes. Checked contracts
 * (__builtin_trap() on violation): xmpp_stream_feed returns only TD_OK,
 * TD_EPROTO or TD_ECLOSED, and keeps returning the same code until reset;
 * on_error and on_close fire at most once per document and nothing fires
 * after either (or after a stop); the first event of a document is on_open
 * or on_error; stanzas respect the depth, attribute and text limits and hold
 * valid UTF-8; every stanza serializes, parses back (in a fresh stream with
 * large limits) into an equal tree, and serializes to the same bytes again;
 * xmpp_el_copy gives an equal tree. */
#include "core/arena.h"
#include "core/buf.h"
#include "core/err.h"
#include "core/log.h"
#include "core/utf8.h"
#include "xmpp/xmpp_stream.h"
#include "xmpp/xmpp_xml.h"

#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#define CHECK(cond)                                                                                \
    do {                                                                                           \
        if (!(cond))                                                                               \
            __builtin_trap();                                                                      \
    } while (0)

#define BIG (16u * 1024 * 1024)

struct fz {
    struct xmpp_stream *s;
    struct xmpp_stream_limits lim;
    uint8_t opts;  /* byte 1 */
    bool opened;   /* on_open fired in this document */
    bool finished; /* on_close, on_error or stop in this document */
};

/* Called for the reparse: keeps the one stanza. */
struct back {
    struct xmpp_el *el;
    struct arena *a;
    int n, errors;
};

static void back_stanza(void *ud, struct xmpp_el *el, struct arena *a)
{
    struct back *b = ud;

    b->n++;
    if (b->el == NULL) {
        b->el = el;
        b->a = a;
    } else {
        arena_free(a);
    }
}

static void back_error(void *ud, enum xmpp_stream_error cond, const char *text)
{
    struct back *b = ud;

    (void)cond;
    (void)text;
    b->errors++;
}

/* Depth, attribute count and text of a parsed stanza within the limits. */
static void check_tree(const struct fz *f, const struct xmpp_el *el, unsigned depth)
{
    unsigned nattrs = 0;

    CHECK(depth <= f->lim.max_depth);
    CHECK(el->name != NULL && el->name[0] != '\0' && el->ns != NULL);
    CHECK(strlen(el->name) <= f->lim.max_name_bytes);
    for (const struct xmpp_attr *at = el->attrs; at != NULL; at = at->next) {
        nattrs++;
        CHECK(at->name[0] != '\0');
        CHECK(strlen(at->value) <= f->lim.max_attr_bytes);
        CHECK(utf8_valid(at->value, strlen(at->value)));
    }
    CHECK(nattrs <= f->lim.max_attrs);
    for (const struct xmpp_el *c = el->children; c != NULL; c = c->next) {
        if (xmpp_el_is_text(c)) {
            CHECK(c->text_len > 0 && c->text_len <= f->lim.max_text_bytes);
            CHECK(utf8_valid(c->text, c->text_len));
            CHECK(c->next == NULL || !xmpp_el_is_text(c->next)); /* runs are merged */
        } else {
            check_tree(f, c, depth + 1);
        }
    }
}

/* Serialize el, parse it back in a fresh stream, compare. */
static void check_round_trip(const struct fz *f, const struct xmpp_el *el)
{
    static const struct xmpp_stream_cbs cbs = {NULL, back_stanza, NULL, back_error};
    struct xmpp_stream_limits lim = {
        .max_stanza_bytes = BIG,
        .max_tag_bytes = BIG,
        .max_depth = f->lim.max_depth,
        .max_attrs = 2 * f->lim.max_attrs + 2,
        .max_name_bytes = BIG,
        .max_attr_bytes = BIG,
        .max_text_bytes = BIG,
        .content_ns = f->lim.content_ns,
    };
    const char *ns = f->lim.framing ? NULL : f->lim.content_ns;
    struct buf out, again;
    struct back b;
    struct xmpp_stream *s;
    struct arena *ca;
    struct xmpp_el *copy;

    memset(&b, 0, sizeof(b));
    buf_init(&out, 0);
    buf_init(&again, 0);
    CHECK(xmpp_el_serialize(el, ns, &out) == TD_OK);
    lim.framing = f->lim.framing;
    s = xmpp_stream_new(&lim, &cbs, &b);
    if (f->lim.framing) {
        static const char open[] = "<open xmlns='" XMPP_NS_FRAMING "'/>";

        CHECK(xmpp_stream_feed(s, open, strlen(open)) == TD_OK);
    } else {
        CHECK(buf_printf(&again, "<stream:stream xmlns='%s' xmlns:stream='" XMPP_NS_STREAMS "'>",
                         f->lim.content_ns) == TD_OK);
        CHECK(xmpp_stream_feed(s, again.data, again.len) == TD_OK);
        buf_reset(&again);
    }
    CHECK(xmpp_stream_feed(s, out.data, out.len) == TD_OK);
    CHECK(b.errors == 0 && b.n == 1);
    CHECK(xmpp_el_equal(el, b.el));
    CHECK(xmpp_el_serialize(b.el, ns, &again) == TD_OK);
    CHECK(again.len == out.len && memcmp(again.data, out.data, out.len) == 0);
    ca = arena_new(0);
    copy = xmpp_el_copy(ca, el);
    CHECK(xmpp_el_equal(copy, b.el));
    arena_free(ca);
    arena_free(b.a);
    xmpp_stream_free(s);
    buf_free(&out);
    buf_free(&again);
}

static void on_open(void *ud, const struct xmpp_el *hdr)
{
    struct fz *f = ud;

    CHECK(!f->finished && !f->opened);
    f->opened = true;
    if (f->lim.framing) {
        CHECK(strcmp(hdr->ns, XMPP_NS_FRAMING) == 0 && strcmp(hdr->name, "open") == 0);
    } else {
        CHECK(strcmp(hdr->ns, XMPP_NS_STREAMS) == 0 && strcmp(hdr->name, "stream") == 0);
        CHECK(hdr->children == NULL);
    }
}

static void on_stanza(void *ud, struct xmpp_el *el, struct arena *a)
{
    struct fz *f = ud;

    CHECK(!f->finished && f->opened);
    check_tree(f, el, 1);
    check_round_trip(f, el);
    if ((f->opts & 2) && strcmp(el->name, "starttls") == 0) {
        xmpp_stream_stop(f->s);
        f->finished = true;
    }
    arena_free(a);
}

static void on_close(void *ud)
{
    struct fz *f = ud;

    CHECK(!f->finished && f->opened);
    f->finished = true;
}

static void on_error(void *ud, enum xmpp_stream_error cond, const char *text)
{
    struct fz *f = ud;

    CHECK(!f->finished);
    CHECK(text != NULL);
    CHECK(strcmp(xmpp_stream_error_name(cond), "undefined-condition") != 0);
    f->finished = true;
}

/* Feed one piece; after a close/stop/error either reset (opts bit 0) or check
 * that the code sticks. */
static void feed(struct fz *f, const uint8_t *p, size_t n, int *last)
{
    int rc = xmpp_stream_feed(f->s, (const char *)p, n);

    CHECK(rc == TD_OK || rc == TD_EPROTO || rc == TD_ECLOSED);
    CHECK((rc == TD_OK) == !f->finished);
    if (*last != TD_OK)
        CHECK(rc == *last);
    *last = rc;
    if (rc == TD_OK && (f->opts & 8))
        (void)xmpp_stream_hibernate(f->s); /* must be invisible to every check */
    if (rc != TD_OK && (f->opts & 1)) {
        xmpp_stream_reset(f->s);
        f->opened = false;
        f->finished = false;
        *last = TD_OK;
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const struct xmpp_stream_cbs cb = {on_open, on_stanza, on_close, on_error};
    struct fz f;
    size_t chunk, i;
    uint8_t mode;
    int last = TD_OK;

    if (size < 2)
        return 0;
    memset(&f, 0, sizeof(f));
    log_set_level(LOG_ERR);
    mode = data[0];
    f.opts = data[1];
    data += 2;
    size -= 2;
    f.lim.framing = (mode & 0x40) != 0;
    if (mode & 0x80) {
        f.lim.max_stanza_bytes = 200;
        f.lim.max_tag_bytes = 64;
        f.lim.max_depth = 4;
        f.lim.max_attrs = 5;
        f.lim.max_name_bytes = 40;
        f.lim.max_attr_bytes = 24;
        f.lim.max_text_bytes = 50;
    }
    f.lim.content_ns = (f.opts & 4) ? XMPP_NS_SERVER : NULL;
    f.s = xmpp_stream_new(&f.lim, &cb, &f);
    /* The defaults the parser filled in, for the checks. */
    if (f.lim.max_stanza_bytes == 0) {
        f.lim.max_stanza_bytes = 256 * 1024;
        f.lim.max_depth = 32;
        f.lim.max_attrs = 32;
        f.lim.max_name_bytes = 1024;
        f.lim.max_attr_bytes = 4 * 1024;
        f.lim.max_text_bytes = f.lim.max_stanza_bytes;
    }
    if (f.lim.content_ns == NULL)
        f.lim.content_ns = XMPP_NS_CLIENT;

    if (f.lim.framing) {
        /* One message per NUL-separated piece. */
        size_t start = 0;

        for (i = 0; i <= size; i++) {
            if (i == size || data[i] == 0) {
                feed(&f, data + start, i - start, &last);
                start = i + 1;
            }
        }
    } else {
        chunk = mode & 0x3f;
        if (chunk == 0)
            chunk = size ? size : 1;
        for (i = 0; i < size; i += chunk)
            feed(&f, data + i, size - i < chunk ? size - i : chunk, &last);
    }
    xmpp_stream_free(f.s);
    return 0;
}
