/* SPDX-License-Identifier: MIT */
/* The microblog's post text, transport-free: what a user typed goes in, and
 * out come the checked and normalized text, its length as the Mastodon API
 * counts it, its entities (mentions, hashtags, links) and an HTML rendering
 * in the markup Mastodon gives statuses, so Mastodon clients show our posts
 * as they show their own. No I/O: whether a mentioned account exists and
 * where profiles and tag pages live are asked of the caller by callback.
 *
 * The rules follow Mastodon (Account::MENTION_RE, Tag::HASHTAG_RE,
 * StatusLengthValidator, TextFormatter and its twitter-text URL grammar);
 * text is UTF-8 per RFC 3629, HTML escaping per the HTML Living Standard
 * §13.1.2.6 ("attribute value (double-quoted)"). Where this module differs
 * from Mastodon it says so in mb_text.c and docs/architecture.md.
 *
 * Length rule (what MB_TEXT_DEFAULT_LIMIT is measured in): the normalized
 * text counted in Unicode code points, where every recognized link counts
 * as MB_TEXT_URL_CHARS (23) whatever its real length, and a mention of a
 * remote account counts only its "@user" part, not "@domain". Mastodon
 * counts grapheme clusters; code points are stricter for emoji sequences
 * (a family emoji is several code points) and identical for CJK. */
#ifndef TD_MB_TEXT_H
#define TD_MB_TEXT_H

#include "core/buf.h"

#include <stddef.h>

#define MB_TEXT_MAX_BYTES (64 * 1024) /* hard cap on the source, before any work */
#define MB_TEXT_DEFAULT_LIMIT 500     /* Mastodon's default max_characters */
#define MB_TEXT_URL_CHARS 23          /* characters_reserved_per_url */
#define MB_TEXT_MAX_MENTIONS 64       /* beyond these counts, left as plain text */
#define MB_TEXT_MAX_TAGS 64
#define MB_TEXT_MAX_LINKS 64
#define MB_TEXT_MAX_ENTITIES (MB_TEXT_MAX_MENTIONS + MB_TEXT_MAX_TAGS + MB_TEXT_MAX_LINKS)
#define MB_TEXT_CB_URL_MAX 2048 /* most bytes a callback may put in a profile/tag URL */

/* Upper bound on the bytes mb_text_render_html() appends for a normalized
 * text of n bytes: each source byte becomes at most 6 (an escape or "<br />",
 * "</p><p>" is 7 for two), a link shows its URL twice (href + text), and
 * each entity adds fixed markup plus at most one callback URL, escaped. */
#define MB_TEXT_HTML_ENTITY_MAX (192 + 6 * MB_TEXT_CB_URL_MAX)
#define MB_TEXT_HTML_MAX(n) (12 * (n) + 7 + MB_TEXT_MAX_ENTITIES * MB_TEXT_HTML_ENTITY_MAX)

enum mb_entity_kind {
    MB_ENT_MENTION = 1, /* @user or @user@domain */
    MB_ENT_TAG = 2,     /* #tag */
    MB_ENT_LINK = 3,    /* http:// or https:// URL */
};

struct mb_entity {
    enum mb_entity_kind kind;
    size_t off;       /* byte offset into mb_text.text of the '@', '#' or URL */
    size_t len;       /* bytes it spans there, sigil included */
    char *value;      /* owned, NUL-terminated normalized value (see below) */
    size_t value_len; /* bytes in value */
    size_t user_len;  /* mentions: bytes of the user part of value; else 0 */
};
/* Normalized values: a mention "user" or "user@domain", ASCII lower-cased
 * (domain = value + user_len + 1 when user_len < value_len); a tag its name
 * without '#', ASCII and full-width Latin letters and digits folded to
 * lower-case ASCII, everything else kept as typed; a link the URL as typed. */

struct mb_text {
    char *text;              /* owned normalized text, NUL-terminated */
    size_t len;              /* bytes in text */
    size_t chars;            /* length per the rule above; set on TD_ETOOBIG too */
    struct mb_entity *ents;  /* owned, in text order, never overlapping */
    size_t n_ents;
    size_t n_mentions, n_tags, n_links;
    const char *error;       /* static reason when parsing failed, else NULL */
    size_t error_off;        /* byte offset in the source the reason points at */
};

/** Check, normalize and parse src[0..len) into t (which need not be
 * initialized; free with mb_text_free() whatever the result). Normalizing
 * turns CRLF and lone CR into LF and strips leading and trailing white space
 * (Mastodon strips status text too). Returns TD_OK; TD_EINVAL for invalid
 * UTF-8 (overlongs, surrogates, truncation), NUL bytes or control
 * characters other than \t and \n (C0, DEL, C1); TD_ETOOBIG when len is over
 * MB_TEXT_MAX_BYTES or the counted length is over limit (t->chars says by
 * how much). On an error t->error names the reason and t->error_off where. */
int mb_text_parse(const char *src, size_t len, size_t limit, struct mb_text *t);

/** Release what t owns; t becomes empty. NULL-safe. */
void mb_text_free(struct mb_text *t);

/* Asks the caller for the URL of a mention's profile or a tag's page. Append
 * it to url (a buffer capped at MB_TEXT_CB_URL_MAX) and return TD_OK; return
 * TD_ENOTFOUND to leave the entity as plain text (an unknown account); any
 * other error stops the rendering and is returned from it. For tags, the
 * name to put in the URL is e->value (percent-encoding it is the caller's). */
typedef int mb_text_url_cb(void *ctx, const struct mb_text *t, const struct mb_entity *e,
                           struct buf *url);

struct mb_text_render {
    mb_text_url_cb *mention_url; /* NULL: every mention stays plain text */
    mb_text_url_cb *tag_url;     /* NULL: every hashtag stays plain text */
    void *ctx;
};

/** Append t's HTML as Mastodon renders a status: <p> per paragraph (split at
 * blank lines), <br /> for single newlines, all text escaped; mentions as
 * h-card links showing "@user", hashtags as rel="tag" links, links shortened
 * to 30 visible code points with the scheme (and "www.") hidden. Appends at
 * most MB_TEXT_HTML_MAX(t->len) bytes; an empty text gives "". Returns TD_OK,
 * a callback's error, or the buffer's TD_ETOOBIG (out then holds a prefix). */
int mb_text_render_html(const struct mb_text *t, const struct mb_text_render *r,
                        struct buf *out);

/** Append t's plain text (for feeds, notifications and XMPP): the normalized
 * source with every entity written out in full (no shortening), not
 * escaped; escaping for the destination is the caller's. */
int mb_text_render_plain(const struct mb_text *t, struct buf *out);

#endif
