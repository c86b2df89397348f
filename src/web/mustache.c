/* SPDX-License-Identifier: MIT */
/* Mustache compiler and renderer. Compiling runs four passes over the source:
 * tokenize (text split into one piece per source line, tags, set-delimiter
 * changes), match sections, apply the spec's standalone-line rules, and
 * re-indent inheritance blocks; it then emits a flat instruction list in which
 * every section/parent/block node knows the index just past its children.
 * Indentation of standalone partials, parents and blocks is applied when
 * rendering: an N_INDENT node marks each non-empty template line and prints
 * the indentation in force, so interpolated data is never re-indented (spec
 * partials.yml "Standalone Indentation"). Inheritance (spec ~inheritance.yml)
 * follows the spec's reference behaviour: a block opened standalone has its
 * content's common indentation removed where it is defined and puts back its
 * own (that of its default content, else that of its tag) where it expands;
 * `{{<p}}{{/p}}`, `{{$b}}{{/b}}`, `{{<p}}{{$b}}` and `{{/b}}{{/p}}` pairs on a
 * line of their own count as standalone, and a `{{$b}}{{/b}}` pair keeps its
 * newline. Block overrides are looked up outermost first, so the top-level
 * template wins in multi-level inheritance. Deviations, for an HTML site:
 * the empty string is falsey like null, false and the empty list; objects and
 * lists interpolate as nothing; lambdas are not supported. */
#include "web/mustache.h"

#include "core/err.h"
#include "core/log.h"

#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define NONE ((size_t)-1)
/* printf width/pointer pair for a token's name in an error message, cut at 64 bytes */
#define NAME_ARGS(c, t) (int)((t)->e - (t)->s > 64 ? 64 : (t)->e - (t)->s), (c)->src + (t)->s
/* Compiled partials kept per root template; more are compiled per render. */
#define MUSTACHE_MAX_CACHE 64

enum tok_type {
    T_TEXT,
    T_VAR,     /* {{x}} */
    T_RAW,     /* {{{x}}} or {{&x}} */
    T_SEC,     /* {{#x}} */
    T_INV,     /* {{^x}} */
    T_END,     /* {{/x}} */
    T_PARTIAL, /* {{>x}} */
    T_PARENT,  /* {{<x}} */
    T_BLOCK,   /* {{$x}} */
    T_COMMENT, /* {{!x}} */
    T_DELIM,   /* {{=a b=}} */
};

struct tok {
    enum tok_type type;
    size_t s, e;        /* text: its bytes; tag: the trimmed name */
    size_t ts;          /* start of the token in the source */
    size_t bs, be;      /* standalone tag: whitespace before it on its line */
    size_t line;        /* 1-based source line of ts */
    size_t mate;        /* open tag <-> its END */
    size_t parent;      /* enclosing open tag or NONE */
    size_t margin;      /* open tags: indentation stripped from lines inside */
    size_t is, ie;      /* standalone partial/parent/block: indentation to add */
    size_t node;        /* open tags: index of the emitted node */
    bool line_head;     /* first token of a source line */
    bool no_indent;     /* line_head: the line was standalone, add no indentation */
    bool removed;       /* text dropped by the standalone rules */
    bool standalone;
};

enum node_type { N_TEXT, N_INDENT, N_VAR, N_RAW, N_SEC, N_INV, N_PARTIAL, N_PARENT, N_BLOCK };

struct node {
    enum node_type type;
    bool standalone; /* partial/parent/block: indent its lines by [is, ie) */
    size_t s, n;     /* text bytes or name, in t->src */
    size_t is, ie;   /* indentation, in t->src */
    size_t end;      /* index just past this node's children (leaf: index + 1) */
    char *name;      /* partial/parent: NUL-terminated name for the callback */
};

struct pcache {
    char *name;          /* owned */
    char *src;           /* owned copy of the source t was compiled from */
    size_t len;
    struct mustache *t;  /* owned */
};

struct mustache {
    char *src; /* owned copy of the source; nodes point into it */
    size_t len;
    struct node *nodes;
    size_t n;
    /* private: partial cache, used on the root template only */
    struct pcache cache[MUSTACHE_MAX_CACHE];
    size_t ncache;
    struct mustache *next_dead; /* render-local list of templates to free */
};

/* Compiler state. */
struct cc {
    const char *src;
    size_t len;
    struct tok *toks;
    size_t n;
    size_t cap;
    struct buf err;
    bool failed;
};

/* Record the first error as "line N: ..." and return TD_EINVAL. */
__attribute__((format(printf, 3, 4))) static int fail(struct cc *c, size_t line,
                                                      const char *fmt, ...)
{
    va_list ap;

    if (!c->failed) {
        c->failed = true;
        buf_printf(&c->err, "line %zu: ", line);
        va_start(ap, fmt);
        buf_vprintf(&c->err, fmt, ap);
        va_end(ap);
    }
    return TD_EINVAL;
}

static bool is_ws(char ch)
{
    return ch == ' ' || ch == '\t';
}

static bool is_space(char ch)
{
    return ch == ' ' || ch == '\t' || ch == '\r' || ch == '\n';
}

/* First occurrence of pat[0..plen) in s[from..len), or len if none. */
static size_t find(const char *s, size_t len, size_t from, const char *pat, size_t plen)
{
    if (plen == 0 || len < plen)
        return len;
    for (size_t i = from; i + plen <= len; i++) {
        if (s[i] == pat[0] && memcmp(s + i, pat, plen) == 0)
            return i;
    }
    return len;
}

/* Position of ch in the first "ch + close" found at or after from, or len. */
static size_t find_closer(const char *s, size_t len, size_t from, char ch, const char *cl,
                          size_t clen)
{
    size_t k = find(s, len, from, cl, clen);

    while (k < len) {
        if (k > from && s[k - 1] == ch)
            return k - 1;
        k = find(s, len, k + 1, cl, clen);
    }
    return len;
}

static struct tok *push_tok(struct cc *c, enum tok_type type, size_t ts, size_t line)
{
    struct tok *t;

    if (c->n == c->cap) {
        c->cap = c->cap ? c->cap * 2 : 64;
        c->toks = td_realloc(c->toks, c->cap * sizeof(*c->toks));
    }
    t = &c->toks[c->n++];
    memset(t, 0, sizeof(*t));
    t->type = type;
    t->ts = ts;
    t->line = line;
    t->mate = NONE;
    t->parent = NONE;
    t->node = NONE;
    return t;
}

static size_t count_nl(const char *s, size_t from, size_t to)
{
    size_t n = 0;

    for (size_t i = from; i < to; i++)
        n += s[i] == '\n';
    return n;
}

/* Parse the delimiters of a {{=a b=}} tag whose content is src[s..e). */
static int parse_delims(struct cc *c, size_t s, size_t e, size_t line, size_t *os, size_t *olen,
                        size_t *cs, size_t *clen)
{
    const char *src = c->src;
    size_t i, j;

    while (s < e && is_space(src[s]))
        s++;
    while (e > s && is_space(src[e - 1]))
        e--;
    i = s;
    while (i < e && !is_space(src[i]))
        i++;
    j = i;
    while (j < e && is_space(src[j]))
        j++;
    if (i == s || j == e)
        return fail(c, line, "invalid set-delimiter tag");
    for (size_t k = s; k < e; k++) {
        if (src[k] == '=' || (k >= j && is_space(src[k])))
            return fail(c, line, "invalid set-delimiter tag");
    }
    *os = s;
    *olen = i - s;
    *cs = j;
    *clen = e - j;
    return TD_OK;
}

/* Pass 1: split the source into text pieces (at most one line each) and tags. */
static int tokenize(struct cc *c)
{
    const char *src = c->src;
    const char *o = "{{", *cl = "}}";
    size_t olen = 2, clen = 2;
    size_t pos = 0, line = 1;
    bool head = true;
    int rc;

    for (;;) {
        size_t p = find(src, c->len, pos, o, olen);

        while (pos < p) {
            size_t q = pos;
            struct tok *t;

            while (q < p && src[q] != '\n')
                q++;
            if (q < p)
                q++;
            t = push_tok(c, T_TEXT, pos, line);
            t->s = pos;
            t->e = q;
            t->line_head = head;
            head = src[q - 1] == '\n';
            line += head;
            pos = q;
        }
        if (p >= c->len)
            break;

        size_t q = p + olen, ns, ne, te, k;
        enum tok_type type = T_VAR;
        struct tok *t;

        if (q < c->len && src[q] == '{') {
            type = T_RAW;
            k = find_closer(src, c->len, q + 1, '}', cl, clen);
            ns = q + 1;
            ne = k;
            te = k + 1 + clen;
        } else if (q < c->len && src[q] == '=') {
            type = T_DELIM;
            k = find_closer(src, c->len, q + 1, '=', cl, clen);
            ns = q + 1;
            ne = k;
            te = k + 1 + clen;
        } else {
            k = find(src, c->len, q, cl, clen);
            ns = q;
            ne = k;
            te = k + clen;
            if (k < c->len && k > q) {
                switch (src[q]) {
                case '#': type = T_SEC; break;
                case '^': type = T_INV; break;
                case '/': type = T_END; break;
                case '>': type = T_PARTIAL; break;
                case '<': type = T_PARENT; break;
                case '$': type = T_BLOCK; break;
                case '!': type = T_COMMENT; break;
                case '&': type = T_RAW; break;
                default: break;
                }
                if (type != T_VAR)
                    ns++;
            }
        }
        if (k >= c->len)
            return fail(c, line, "unclosed tag");

        t = push_tok(c, type, p, line);
        t->line_head = head;
        head = false;
        if (type == T_DELIM) {
            size_t os = 0, cs = 0;

            rc = parse_delims(c, ns, ne, line, &os, &olen, &cs, &clen);
            if (rc != TD_OK)
                return rc;
            o = src + os;
            cl = src + cs;
        } else if (type != T_COMMENT) {
            while (ns < ne && is_space(src[ns]))
                ns++;
            while (ne > ns && is_space(src[ne - 1]))
                ne--;
            if (ns == ne)
                return fail(c, line, "empty tag name");
        }
        t->s = ns;
        t->e = ne;
        line += count_nl(src, p, te);
        pos = te;
    }
    return TD_OK;
}

static bool is_open(enum tok_type type)
{
    return type == T_SEC || type == T_INV || type == T_PARENT || type == T_BLOCK;
}

static bool same_name(const struct cc *c, const struct tok *a, const struct tok *b)
{
    return a->e - a->s == b->e - b->s && memcmp(c->src + a->s, c->src + b->s, a->e - a->s) == 0;
}

/* Pass 2: pair every open tag with its END and bound the nesting. */
static int match_sections(struct cc *c)
{
    size_t stack[MUSTACHE_MAX_DEPTH];
    size_t sp = 0;

    for (size_t i = 0; i < c->n; i++) {
        struct tok *t = &c->toks[i];

        t->parent = sp ? stack[sp - 1] : NONE;
        if (is_open(t->type)) {
            if (sp == MUSTACHE_MAX_DEPTH)
                return fail(c, t->line, "sections nested deeper than %d", MUSTACHE_MAX_DEPTH);
            stack[sp++] = i;
        } else if (t->type == T_END) {
            struct tok *open;

            if (sp == 0)
                return fail(c, t->line, "unexpected closing tag '%.*s'", NAME_ARGS(c, t));
            open = &c->toks[stack[sp - 1]];
            if (!same_name(c, open, t))
                return fail(c, t->line, "closing tag '%.*s' does not match '%.*s'",
                            NAME_ARGS(c, t), NAME_ARGS(c, open));
            open->mate = i;
            t->mate = stack[sp - 1];
            sp--;
            t->parent = sp ? stack[sp - 1] : NONE;
        }
    }
    if (sp > 0) {
        struct tok *open = &c->toks[stack[sp - 1]];

        return fail(c, open->line, "unclosed section '%.*s'", NAME_ARGS(c, open));
    }
    return TD_OK;
}

/* Whether text src[s..e) is blank, allowing a final "\n" or "\r\n". */
static bool is_blank(const char *src, size_t s, size_t e)
{
    if (e > s && src[e - 1] == '\n') {
        e--;
        if (e > s && src[e - 1] == '\r')
            e--;
    }
    for (size_t i = s; i < e; i++) {
        if (!is_ws(src[i]))
            return false;
    }
    return true;
}

/* Apply the standalone rules to the line made of tokens [a, b). */
static void standalone_line(struct cc *c, size_t a, size_t b)
{
    struct tok *toks = c->toks;
    size_t tags[2];
    size_t ntags = 0;
    struct tok *t1, *t2;
    bool keep_nl = false;

    for (size_t i = a; i < b; i++) {
        if (toks[i].type == T_TEXT) {
            if (!is_blank(c->src, toks[i].s, toks[i].e))
                return;
            continue;
        }
        if (ntags == 2 || toks[i].type == T_VAR || toks[i].type == T_RAW)
            return;
        tags[ntags++] = i;
    }
    if (ntags == 0)
        return;
    t1 = &toks[tags[0]];
    if (ntags == 2) {
        t2 = &toks[tags[1]];
        if (tags[1] != tags[0] + 1)
            return;
        if (t1->type == T_PARENT && t1->mate == tags[1]) {
            /* {{<p}}{{/p}} */
        } else if (t1->type == T_BLOCK && t1->mate == tags[1]) {
            keep_nl = true; /* {{$b}}{{/b}}: the spec keeps the newline */
        } else if (t1->type == T_PARENT && t2->type == T_BLOCK) {
            t2->standalone = true; /* {{<p}}{{$b}}: the block starts on the next line */
        } else if (t1->type == T_END && t2->type == T_END && toks[t1->mate].type == T_BLOCK &&
                   toks[t2->mate].type == T_PARENT && toks[t1->mate].parent == t2->mate) {
            /* {{/b}}{{/p}} */
        } else {
            return;
        }
    }
    t1->standalone = true;
    if (toks[a].type == T_TEXT && a < tags[0]) {
        t1->bs = toks[a].s;
        t1->be = toks[a].e;
    } else {
        t1->bs = t1->be = t1->ts;
    }
    toks[a].no_indent = true;
    for (size_t i = a; i < b; i++) {
        struct tok *t = &toks[i];

        if (t->type != T_TEXT)
            continue;
        if (keep_nl && i > tags[0] && c->src[t->e - 1] == '\n') {
            t->s = t->e - 1;
            if (t->s > t->ts && c->src[t->s - 1] == '\r')
                t->s--;
        } else {
            t->removed = true;
        }
    }
}

/* Longest common leading whitespace of the non-blank lines of src[rs..re),
 * which starts at a line start. *at is where the first non-blank line starts. */
static size_t margin(const char *src, size_t rs, size_t re, size_t *at)
{
    size_t m = NONE;

    *at = rs;
    for (size_t ls = rs; ls < re;) {
        size_t le = ls, k = 0;

        while (le < re && src[le] != '\n')
            le++;
        while (ls + k < le && is_ws(src[ls + k]))
            k++;
        if (!is_blank(src, ls, le)) {
            if (m == NONE) {
                m = k;
                *at = ls;
            } else {
                size_t j = 0;

                while (j < m && j < k && src[ls + j] == src[*at + j])
                    j++;
                m = j;
            }
        }
        ls = le + 1;
    }
    return m == NONE ? 0 : m;
}

/* Index of the first token of the line holding token i. */
static size_t line_head_of(const struct cc *c, size_t i)
{
    while (i > 0 && !c->toks[i].line_head)
        i--;
    return i;
}

/* Pass 4: strip block indentation where blocks are defined and work out the
 * indentation each standalone partial, parent and block adds. */
static void reindent(struct cc *c)
{
    struct tok *toks = c->toks;

    for (size_t i = 0; i < c->n; i++) {
        struct tok *t = &toks[i];
        size_t outer = t->parent == NONE ? 0 : toks[t->parent].margin;

        if (t->type == T_TEXT) {
            size_t k = 0;

            if (!t->line_head || t->removed)
                continue;
            while (k < outer && t->s + k < t->e && is_ws(c->src[t->s + k]))
                k++;
            t->s += k;
            continue;
        }
        if (is_open(t->type))
            t->margin = outer;
        if (!t->standalone)
            continue;
        /* the indentation before the tag, less what the enclosing block strips */
        t->is = t->bs + (t->be - t->bs < outer ? t->be - t->bs : outer);
        t->ie = t->be;
        if (t->type != T_BLOCK)
            continue;

        size_t j = i + 1, rs, re, h, at, m;

        while (j < c->n && !toks[j].line_head)
            j++;
        rs = j < c->n ? toks[j].ts : c->len;
        h = line_head_of(c, t->mate);
        re = toks[h].no_indent ? toks[h].ts : toks[t->mate].ts;
        if (j > t->mate || rs >= re)
            continue;
        m = margin(c->src, rs, re, &at);
        if (m > outer) {
            t->margin = m;
            t->is = at + outer;
            t->ie = at + m;
        }
    }
}

static struct node *push_node(struct mustache *m, size_t *cap, enum node_type type)
{
    struct node *nd;

    if (m->n == *cap) {
        *cap = *cap ? *cap * 2 : 32;
        m->nodes = td_realloc(m->nodes, *cap * sizeof(*m->nodes));
    }
    nd = &m->nodes[m->n];
    memset(nd, 0, sizeof(*nd));
    nd->type = type;
    nd->end = m->n + 1;
    m->n++;
    return nd;
}

/* Whether the line starting at token a renders as more than a bare newline. */
static bool line_has_content(const struct cc *c, size_t a)
{
    for (size_t i = a; i < c->n && (i == a || !c->toks[i].line_head); i++) {
        const struct tok *t = &c->toks[i];

        if (t->type == T_COMMENT || t->type == T_DELIM)
            continue;
        if (t->type != T_TEXT)
            return true;
        if (t->removed || t->s == t->e)
            continue;
        return !(c->src[t->s] == '\n' || (c->src[t->s] == '\r' && t->e - t->s == 2));
    }
    return false;
}

/* Pass 5: emit the instruction list. */
static void emit(struct cc *c, struct mustache *m)
{
    size_t cap = 0;

    for (size_t i = 0; i < c->n; i++) {
        struct tok *t = &c->toks[i];
        struct node *nd;

        if (t->line_head && !t->no_indent && line_has_content(c, i))
            push_node(m, &cap, N_INDENT);
        switch (t->type) {
        case T_TEXT:
            if (t->removed || t->s == t->e)
                continue;
            nd = push_node(m, &cap, N_TEXT);
            break;
        case T_VAR: nd = push_node(m, &cap, N_VAR); break;
        case T_RAW: nd = push_node(m, &cap, N_RAW); break;
        case T_SEC: nd = push_node(m, &cap, N_SEC); break;
        case T_INV: nd = push_node(m, &cap, N_INV); break;
        case T_PARTIAL: nd = push_node(m, &cap, N_PARTIAL); break;
        case T_PARENT: nd = push_node(m, &cap, N_PARENT); break;
        case T_BLOCK: nd = push_node(m, &cap, N_BLOCK); break;
        case T_END:
            m->nodes[c->toks[t->mate].node].end = m->n;
            continue;
        default:
            continue;
        }
        t->node = m->n - 1;
        nd->s = t->s;
        nd->n = t->e - t->s;
        nd->standalone = t->standalone;
        nd->is = t->is;
        nd->ie = t->ie;
        if (t->type == T_PARTIAL || t->type == T_PARENT)
            nd->name = td_strndup(c->src + t->s, t->e - t->s);
    }
}

int mustache_compile(const char *src, size_t len, struct mustache **out, char **err)
{
    struct cc c = {0};
    struct mustache *m = NULL;
    int rc;

    *out = NULL;
    if (err != NULL)
        *err = NULL;
    buf_init(&c.err, 1024);
    if (len > MUSTACHE_MAX_SRC) {
        fail(&c, 1, "template larger than %u bytes", MUSTACHE_MAX_SRC);
        rc = TD_ETOOBIG;
        goto out;
    }
    m = td_calloc(1, sizeof(*m));
    m->src = td_malloc(len + 1);
    if (len > 0)
        memcpy(m->src, src, len);
    m->src[len] = '\0';
    m->len = len;
    c.src = m->src;
    c.len = len;

    rc = tokenize(&c);
    if (rc != TD_OK)
        goto out;
    rc = match_sections(&c);
    if (rc != TD_OK)
        goto out;
    for (size_t a = 0, b; a < c.n; a = b) {
        b = a + 1;
        while (b < c.n && !c.toks[b].line_head)
            b++;
        standalone_line(&c, a, b);
    }
    reindent(&c);
    emit(&c, m);
    *out = m;
    m = NULL;
out:
    if (rc != TD_OK && err != NULL)
        *err = buf_steal(&c.err, NULL);
    buf_free(&c.err);
    free(c.toks);
    mustache_free(m);
    return rc;
}

void mustache_free(struct mustache *t)
{
    if (t == NULL)
        return;
    for (size_t i = 0; i < t->n; i++)
        free(t->nodes[i].name);
    for (size_t i = 0; i < t->ncache; i++) {
        free(t->cache[i].name);
        free(t->cache[i].src);
        mustache_free(t->cache[i].t);
    }
    free(t->nodes);
    free(t->src);
    free(t);
}

/* ---- rendering ---- */

/* Indentation in force: the pieces from the outermost (up) to this one. */
struct indent {
    const char *s;
    size_t n;
    const struct indent *up;
};

/* Blocks given to the parent template being rendered: the direct N_BLOCK
 * children of node `at` of t, then those of the enclosing parents (outer). */
struct scope {
    const struct mustache *t;
    size_t at;
    const struct scope *outer;
};

struct render {
    struct mustache *root;       /* owns the partial cache */
    mustache_partial_fn *partial;
    void *ud;
    struct buf *out;
    json_t *stack[MUSTACHE_MAX_DEPTH + 2]; /* context stack, bottom first */
    size_t sp;
    unsigned depth;              /* sections + partials + parents + blocks entered */
    unsigned long steps;
    struct mustache *dead;       /* compiled this render, freed at its end */
};

static int render_range(struct render *r, const struct mustache *t, size_t from, size_t to,
                        const struct indent *ind, const struct scope *sc);

static int emit_indent(struct buf *out, const struct indent *ind)
{
    int rc;

    if (ind == NULL)
        return TD_OK;
    rc = emit_indent(out, ind->up);
    if (rc == TD_OK)
        rc = buf_append(out, ind->s, ind->n);
    return rc;
}

/* Resolve a (possibly dotted) name against the context stack; NULL if missing. */
static json_t *lookup(const struct render *r, const char *name, size_t n)
{
    size_t k = 0;
    json_t *v = NULL;

    if (n == 1 && name[0] == '.')
        return r->sp ? r->stack[r->sp - 1] : NULL;
    while (k < n && name[k] != '.')
        k++;
    for (size_t i = r->sp; i-- > 0;) {
        if (json_is_object(r->stack[i])) {
            v = json_object_getn(r->stack[i], name, k);
            if (v != NULL)
                break;
        }
    }
    /* spec: after the first part, dotted names never walk the stack again */
    while (v != NULL && k < n) {
        size_t s = ++k;

        while (k < n && name[k] != '.')
            k++;
        v = json_is_object(v) ? json_object_getn(v, name + s, k - s) : NULL;
    }
    return v;
}

static bool is_truthy(const json_t *v)
{
    if (v == NULL || json_is_null(v) || json_is_false(v))
        return false;
    if (json_is_array(v))
        return json_array_size(v) > 0;
    if (json_is_string(v))
        return json_string_length(v) > 0;
    return true;
}

static int emit_value(struct buf *out, const json_t *v, bool escape)
{
    char tmp[40];

    switch (json_typeof(v)) {
    case JSON_STRING:
        if (escape)
            return buf_append_html(out, json_string_value(v), json_string_length(v));
        return buf_append(out, json_string_value(v), json_string_length(v));
    case JSON_INTEGER:
        return buf_printf(out, "%" JSON_INTEGER_FORMAT, json_integer_value(v));
    case JSON_REAL:
        /* shortest of %.15g / %.17g that reads back exactly: 1.21 -> "1.21" */
        snprintf(tmp, sizeof(tmp), "%.15g", json_real_value(v));
        if (strtod(tmp, NULL) != json_real_value(v))
            snprintf(tmp, sizeof(tmp), "%.17g", json_real_value(v));
        return buf_appends(out, tmp);
    case JSON_TRUE: return buf_appends(out, "true");
    case JSON_FALSE: return buf_appends(out, "false");
    default: return TD_OK;
    }
}

/* The compiled partial `name` (*p NULL if the callback has none). */
static int get_partial(struct render *r, const char *name, const struct mustache **p)
{
    struct mustache *root = r->root;
    struct pcache *e = NULL;
    struct mustache *t = NULL;
    const char *src;
    char *err = NULL;
    size_t len = 0;
    int rc;

    *p = NULL;
    if (r->partial == NULL)
        return TD_OK;
    src = r->partial(r->ud, name, &len);
    if (src == NULL)
        return TD_OK;
    for (size_t i = 0; i < root->ncache; i++) {
        if (strcmp(root->cache[i].name, name) == 0) {
            e = &root->cache[i];
            break;
        }
    }
    if (e != NULL && e->len == len && memcmp(e->src, src, len) == 0) {
        *p = e->t;
        return TD_OK;
    }
    rc = mustache_compile(src, len, &t, &err);
    if (rc != TD_OK) {
        log_warn("mustache.partial", "name=%s err=%s", log_q(name), log_q(err ? err : "?"));
        free(err);
        return TD_EINVAL;
    }
    if (e == NULL && root->ncache < MUSTACHE_MAX_CACHE) {
        e = &root->cache[root->ncache++];
        e->name = td_strdup(name);
        e->src = NULL;
        e->t = NULL;
    }
    if (e == NULL) {
        t->next_dead = r->dead; /* cache full: keep it for this render only */
        r->dead = t;
    } else {
        if (e->t != NULL) {
            /* the source changed; the old one may still be running above us */
            e->t->next_dead = r->dead;
            r->dead = e->t;
        }
        free(e->src);
        e->src = td_malloc(len + 1);
        if (len > 0)
            memcpy(e->src, src, len);
        e->len = len;
        e->t = t;
    }
    *p = t;
    return TD_OK;
}

/* The block overriding `name`, outermost parent first (spec: top-level wins). */
static bool find_block(const struct scope *sc, const char *name, size_t n,
                       const struct mustache **ot, size_t *oi)
{
    const struct node *nodes;

    if (sc == NULL)
        return false;
    if (find_block(sc->outer, name, n, ot, oi))
        return true;
    nodes = sc->t->nodes;
    for (size_t j = sc->at + 1; j < nodes[sc->at].end; j = nodes[j].end) {
        if (nodes[j].type == N_BLOCK && nodes[j].n == n &&
            memcmp(sc->t->src + nodes[j].s, name, n) == 0) {
            *ot = sc->t;
            *oi = j;
            return true;
        }
    }
    return false;
}

static int render_section(struct render *r, const struct mustache *t, size_t i,
                          const struct indent *ind, const struct scope *sc)
{
    const struct node *nd = &t->nodes[i];
    json_t *v = lookup(r, t->src + nd->s, nd->n);
    int rc = TD_OK;

    if (nd->type == N_INV) {
        if (is_truthy(v))
            return TD_OK;
        return render_range(r, t, i + 1, nd->end, ind, sc);
    }
    if (!is_truthy(v))
        return TD_OK;
    if (json_is_array(v)) {
        for (size_t k = 0; k < json_array_size(v) && rc == TD_OK; k++) {
            if (++r->steps > MUSTACHE_MAX_STEPS)
                return TD_ETOOBIG;
            r->stack[r->sp++] = json_array_get(v, k);
            rc = render_range(r, t, i + 1, nd->end, ind, sc);
            r->sp--;
        }
        return rc;
    }
    r->stack[r->sp++] = v;
    rc = render_range(r, t, i + 1, nd->end, ind, sc);
    r->sp--;
    return rc;
}

/* Partials and parents render with their own indentation only when standalone
 * (spec: a non-standalone partial's lines are not indented). */
static int render_include(struct render *r, const struct mustache *t, size_t i,
                          const struct indent *ind, const struct scope *sc)
{
    const struct node *nd = &t->nodes[i];
    const struct mustache *p;
    struct indent mine = {t->src + nd->is, nd->ie - nd->is, ind};
    struct scope inner = {t, i, sc};
    int rc;

    rc = get_partial(r, nd->name, &p);
    if (rc != TD_OK || p == NULL)
        return rc;
    return render_range(r, p, 0, p->n, nd->standalone ? &mine : NULL,
                        nd->type == N_PARENT ? &inner : sc);
}

static int render_block(struct render *r, const struct mustache *t, size_t i,
                        const struct indent *ind, const struct scope *sc)
{
    const struct node *nd = &t->nodes[i];
    const struct mustache *ot = t;
    size_t oi = i;
    struct indent mine = {t->src + nd->is, nd->ie - nd->is, ind};

    find_block(sc, t->src + nd->s, nd->n, &ot, &oi);
    return render_range(r, ot, oi + 1, ot->nodes[oi].end, nd->standalone ? &mine : ind, sc);
}

/* Render nodes [from, to) of t. */
static int render_range(struct render *r, const struct mustache *t, size_t from, size_t to,
                        const struct indent *ind, const struct scope *sc)
{
    int rc = TD_OK;

    for (size_t i = from; i < to && rc == TD_OK; i = t->nodes[i].end) {
        const struct node *nd = &t->nodes[i];
        json_t *v;

        if (++r->steps > MUSTACHE_MAX_STEPS)
            return TD_ETOOBIG;
        switch (nd->type) {
        case N_TEXT:
            rc = buf_append(r->out, t->src + nd->s, nd->n);
            break;
        case N_INDENT:
            rc = emit_indent(r->out, ind);
            break;
        case N_VAR:
        case N_RAW:
            v = lookup(r, t->src + nd->s, nd->n);
            if (v != NULL)
                rc = emit_value(r->out, v, nd->type == N_VAR);
            break;
        default:
            if (r->depth >= MUSTACHE_MAX_DEPTH)
                return TD_EINVAL;
            r->depth++;
            if (nd->type == N_SEC || nd->type == N_INV)
                rc = render_section(r, t, i, ind, sc);
            else if (nd->type == N_BLOCK)
                rc = render_block(r, t, i, ind, sc);
            else
                rc = render_include(r, t, i, ind, sc);
            r->depth--;
            break;
        }
    }
    return rc;
}

int mustache_render(const struct mustache *t, json_t *ctx, mustache_partial_fn *partial, void *ud,
                    struct buf *out)
{
    struct render r = {0};
    int rc;

    /* the partial cache is the one mutable part of a compiled template */
    r.root = (struct mustache *)t;
    r.partial = partial;
    r.ud = ud;
    r.out = out;
    if (ctx != NULL)
        r.stack[r.sp++] = ctx;
    rc = render_range(&r, t, 0, t->n, NULL, NULL);
    while (r.dead != NULL) {
        struct mustache *next = r.dead->next_dead;

        mustache_free(r.dead);
        r.dead = next;
    }
    return rc;
}
