/* SPDX-License-Identifier: MIT */
/* The microblog benchmark's data set (bench/microblog.sh): writes accounts, a
 * follow graph, posts and ready-made credentials straight into a Tandem
 * database through the store interface, before the server starts.
 *
 *   mbgen DB OUTDIR [--active N] [--posts N] [--readers N] [--tokens N] [--seed N]
 *
 * Accounts: --active "active" accounts (u0 .. u{N-1}) that post and follow
 * each other, and --readers lightweight "reader" accounts (r0 ..) that never
 * post and follow the celebrity u0 plus a few active accounts. The issue asks
 * for one account with 100,000 followers among 10,000 accounts, which cannot
 * be: the readers are how the celebrity gets its followers.
 *
 * Posts (--posts in all) are spread over the active accounts by a Zipf-like
 * law (weight (rank + 8)^-1.15 over a shuffled rank: at 10,000 accounts and
 * 1,000,000 posts the top poster has ~28,000 posts and the median ~30); the
 * celebrity gets rank 99 (~1,400 posts). They are written in time order over
 * the last 30 days: 50-300 characters, 20% with hashtags, 10% with a mention,
 * 10% replies to a recent post; 85% public, 10% unlisted, 4% followers-only,
 * 1% direct. Content is pre-rendered HTML like the service's (<p>, links).
 *
 * Follows: each active account follows 50-200 others (fewer when there are
 * fewer accounts), each target drawn half by preferential attachment (in
 * proportion to the followers it already has), a quarter by posting rank and
 * a quarter uniformly; every reader follows the celebrity and 0-4 others.
 *
 * Credentials, in OUTDIR: tokens.txt (OAuth access tokens, scope "read write
 * follow", 30 days, for --tokens active accounts other than the celebrity),
 * sessions.txt (web session cookies for the same accounts, same order),
 * readers.txt (one access token per reader), celeb.txt (the celebrity's
 * token) and info.txt (counts, the celebrity's id). All inserts run in
 * store_mb_bulk_begin() / store_mb_bulk_commit() batches. */
#include "auth/auth_account.h"
#include "core/err.h"
#include "core/ids.h"
#include "oauth/oauth.h"
#include "store/store.h"
#include "store/store_mb.h"
#include "store/store_oauth.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define BATCH 20000          /* inserts per transaction */
#define CLIENT_ID "bench-microblog"
#define SCOPE "read write follow"
#define TOKEN_DAYS 30
#define CELEB_RANK 99
#define NTAGS 200
#define RECENT 1024          /* recent post ids kept for replies */

struct opts {
    const char *db, *out;
    long active, posts, readers, tokens;
    unsigned long long seed;
};

struct gen {
    struct store *st;
    struct opts o;
    unsigned long long rng;
    int64_t *ids;            /* account ids: active first, then readers */
    char (*names)[24];
    double *cum;             /* cumulative posting weight by active index */
    int64_t *ends;           /* follow targets so far (active indexes), for attachment */
    size_t nends, ends_cap;
    size_t batch;            /* inserts in the open transaction */
    double t0;
    long nfollows;
};

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static unsigned long long rnd(struct gen *g) /* xorshift64* */
{
    g->rng ^= g->rng >> 12;
    g->rng ^= g->rng << 25;
    g->rng ^= g->rng >> 27;
    return g->rng * 2685821657736338717ull;
}

static long rnd_below(struct gen *g, long n)
{
    return (long)(rnd(g) % (unsigned long long)n);
}

static double rnd_unit(struct gen *g)
{
    return (double)(rnd(g) >> 11) / 9007199254740992.0;
}

static void die(const char *what, int rc)
{
    fprintf(stderr, "mbgen: %s failed (%d)\n", what, rc);
    exit(1);
}

static void progress(struct gen *g, const char *what, long done, long total)
{
    fprintf(stderr, "mbgen: %s %ld/%ld (%.1f s)\n", what, done, total, now_s() - g->t0);
}

/* Count one insert; commit and reopen the bulk transaction every BATCH. */
static void tick(struct gen *g)
{
    int rc;

    if (++g->batch < BATCH)
        return;
    if ((rc = store_mb_bulk_commit(g->st)) != TD_OK)
        die("commit", rc);
    if ((rc = store_mb_bulk_begin(g->st)) != TD_OK)
        die("begin", rc);
    g->batch = 0;
}

/* Weighted draw over active indexes (binary search in the cumulative weights). */
static long pick_by_rank(struct gen *g)
{
    double x = rnd_unit(g) * g->cum[g->o.active - 1];
    long lo = 0, hi = g->o.active - 1;

    while (lo < hi) {
        long mid = (lo + hi) / 2;
        if (g->cum[mid] < x)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

static void weights(struct gen *g)
{
    long n = g->o.active;
    long *rank = td_malloc((size_t)n * sizeof(*rank));

    for (long i = 0; i < n; i++)
        rank[i] = i;
    for (long i = n - 1; i > 0; i--) { /* shuffle: rank is not account order */
        long j = rnd_below(g, i + 1), t = rank[i];
        rank[i] = rank[j];
        rank[j] = t;
    }
    for (long i = 0; i < n; i++) /* the celebrity (index 0) gets CELEB_RANK */
        if (rank[i] == (n > CELEB_RANK ? CELEB_RANK : n - 1)) {
            rank[i] = rank[0];
            rank[0] = n > CELEB_RANK ? CELEB_RANK : n - 1;
            break;
        }
    g->cum = td_malloc((size_t)n * sizeof(*g->cum));
    for (long i = 0; i < n; i++)
        g->cum[i] = (i ? g->cum[i - 1] : 0) + pow((double)rank[i] + 8, -1.15);
    free(rank);
}

static void accounts(struct gen *g)
{
    long total = g->o.active + g->o.readers;
    int rc;

    g->ids = td_malloc((size_t)total * sizeof(*g->ids));
    g->names = td_malloc((size_t)total * sizeof(*g->names));
    for (long i = 0; i < total; i++) {
        struct account a = {0};
        if (i < g->o.active)
            snprintf(g->names[i], sizeof(g->names[i]), "u%ld", i);
        else
            snprintf(g->names[i], sizeof(g->names[i]), "r%ld", i - g->o.active);
        a.username = g->names[i];
        a.display_name = i == 0 ? "The Celebrity" : g->names[i];
        if ((rc = store_account_create(g->st, &a)) != TD_OK)
            die("store_account_create", rc);
        g->ids[i] = a.id;
        tick(g);
        if ((i + 1) % 50000 == 0 || i + 1 == total)
            progress(g, "accounts", i + 1, total);
    }
}

static void follow(struct gen *g, long from, long to)
{
    int state = 0, rc;

    rc = store_mb_follow(g->st, g->ids[from], g->ids[to], true, &state);
    if (rc != TD_OK)
        die("store_mb_follow", rc);
    if (state == STORE_MB_FOLLOW_NEW) {
        g->nfollows++;
        if (g->nends == g->ends_cap) {
            g->ends_cap = g->ends_cap ? g->ends_cap * 2 : 65536;
            g->ends = td_realloc(g->ends, g->ends_cap * sizeof(*g->ends));
        }
        g->ends[g->nends++] = to;
    }
    tick(g);
}

/* A follow target among the active accounts, not self. */
static long target(struct gen *g, long self)
{
    for (;;) {
        double u = rnd_unit(g);
        long t;
        if (u < 0.5 && g->nends > 0)
            t = (long)g->ends[rnd_below(g, (long)g->nends)];
        else if (u < 0.75)
            t = pick_by_rank(g);
        else
            t = rnd_below(g, g->o.active);
        if (t != self)
            return t;
    }
}

static void follows(struct gen *g)
{
    long n = g->o.active, total = n + g->o.readers;
    long lo = n > 51 ? 50 : n - 1, hi = n > 201 ? 200 : n - 1;

    for (long i = 0; i < n; i++) {
        long k = lo + rnd_below(g, hi - lo + 1);
        for (long j = 0; j < k; j++)
            follow(g, i, target(g, i)); /* repeats just update: a few less than k */
        if ((i + 1) % 1000 == 0 || i + 1 == n)
            progress(g, "active follows", i + 1, n);
    }
    for (long i = n; i < total; i++) {
        long k = rnd_below(g, 5);
        follow(g, i, 0);
        for (long j = 0; j < k && n > 1; j++)
            follow(g, i, target(g, 0));
        if ((i - n + 1) % 20000 == 0 || i + 1 == total)
            progress(g, "reader follows", i - n + 1, total - n);
    }
}

static const char *const words[] = {
    "the", "a", "of", "and", "to", "in", "is", "it", "that", "was", "for", "on", "with",
    "today", "coffee", "morning", "build", "release", "server", "music", "garden", "rain",
    "train", "late", "again", "finally", "weekend", "reading", "book", "friends", "city",
    "new", "old", "small", "big", "really", "think", "know", "love", "hate", "work", "home",
    "night", "walk", "dog", "cat", "photo", "light", "code", "bug", "fixed", "broke", "tea",
    "lunch", "sunny", "cold", "warm", "happy", "tired", "quiet", "loud", "river", "bike",
};

/* Append s (HTML-safe by construction: the words hold no markup) to both. */
static void put2(char *src, size_t *sl, char *html, size_t *hl, const char *s, const char *h)
{
    size_t a = strlen(s), b = strlen(h);
    memcpy(src + *sl, s, a);
    *sl += a;
    memcpy(html + *hl, h, b);
    *hl += b;
}

struct post_buf {
    char src[512], html[2048];
    const char *tags[2];
    char tagbuf[2][16];
    size_t ntags;
    int64_t mention;
};

static void compose(struct gen *g, struct post_buf *b, long author)
{
    size_t sl = 0, hl = 0, want = 50 + (size_t)rnd_below(g, 251);
    char tmp[256];

    b->ntags = 0;
    b->mention = 0;
    put2(b->src, &sl, b->html, &hl, "", "<p>");
    if (rnd_below(g, 10) == 0) {
        long m = rnd_below(g, g->o.active);
        if (m != author) {
            b->mention = g->ids[m];
            snprintf(tmp, sizeof(tmp),
                     "<span class=\"h-card\"><a href=\"/@%s\" class=\"u-url mention\">"
                     "@<span>%s</span></a></span> ", g->names[m], g->names[m]);
            char s[32];
            snprintf(s, sizeof(s), "@%s ", g->names[m]);
            put2(b->src, &sl, b->html, &hl, s, tmp);
        }
    }
    while (sl < want) {
        const char *w = words[rnd_below(g, (long)TD_ARRAY_LEN(words))];
        put2(b->src, &sl, b->html, &hl, w, w);
        if (sl < want)
            put2(b->src, &sl, b->html, &hl, " ", " ");
    }
    if (rnd_below(g, 5) == 0) {
        size_t n = 1 + (size_t)rnd_below(g, 2);
        for (size_t i = 0; i < n; i++) {
            /* tag popularity: squares of a uniform draw favour low numbers */
            double u = rnd_unit(g);
            snprintf(b->tagbuf[i], sizeof(b->tagbuf[i]), "tag%d", (int)(u * u * NTAGS));
            if (i == 1 && strcmp(b->tagbuf[0], b->tagbuf[1]) == 0)
                break;
            b->tags[b->ntags++] = b->tagbuf[i];
            char s[32];
            snprintf(s, sizeof(s), " #%s", b->tagbuf[i]);
            snprintf(tmp, sizeof(tmp),
                     " <a href=\"/tags/%s\" class=\"mention hashtag\" rel=\"tag\">"
                     "#<span>%s</span></a>", b->tagbuf[i], b->tagbuf[i]);
            put2(b->src, &sl, b->html, &hl, s, tmp);
        }
    }
    put2(b->src, &sl, b->html, &hl, "", "</p>");
    b->src[sl] = 0;
    b->html[hl] = 0;
}

static void posts(struct gen *g)
{
    int64_t recent[RECENT] = {0};
    long nrecent = 0;
    int64_t t_end = store_now_ms(), span = 30LL * 86400 * 1000;
    int64_t t_start = t_end - span;
    struct post_buf b;
    int rc;

    for (long i = 0; i < g->o.posts; i++) {
        long author = pick_by_rank(g);
        long v = rnd_below(g, 100);
        struct store_mb_post p = {0};
        struct store_mb_extras x = {0};

        compose(g, &b, author);
        p.account_id = g->ids[author];
        p.visibility = v < 85 ? STORE_MB_PUBLIC : v < 95 ? STORE_MB_UNLISTED
                     : v < 99 ? STORE_MB_PRIVATE : STORE_MB_DIRECT;
        if (p.visibility == STORE_MB_DIRECT && b.mention == 0)
            p.visibility = STORE_MB_PRIVATE;
        p.spoiler_text = "";
        p.source = b.src;
        p.content = b.html;
        p.language = "en";
        p.created_at = t_start + span * i / (g->o.posts ? g->o.posts : 1);
        if (nrecent > 0 && rnd_below(g, 10) == 0)
            p.in_reply_to_id = recent[rnd_below(g, nrecent < RECENT ? nrecent : RECENT)];
        x.mentions = b.mention ? &b.mention : NULL;
        x.nmentions = b.mention ? 1 : 0;
        x.tags = b.tags;
        x.ntags = b.ntags;
        rc = store_mb_post_create(g->st, &p, &x, NULL);
        if (rc != TD_OK)
            die("store_mb_post_create", rc);
        if (p.visibility <= STORE_MB_UNLISTED)
            recent[nrecent++ % RECENT] = p.id;
        tick(g);
        if ((i + 1) % 100000 == 0 || i + 1 == g->o.posts)
            progress(g, "posts", i + 1, g->o.posts);
    }
}

static FILE *out_file(struct gen *g, const char *name)
{
    char path[4096];
    FILE *f;

    snprintf(path, sizeof(path), "%s/%s", g->o.out, name);
    f = fopen(path, "w");
    if (f == NULL) {
        fprintf(stderr, "mbgen: %s: %s\n", path, strerror(errno));
        exit(1);
    }
    return f;
}

static void access_token(struct gen *g, long who, FILE *f)
{
    char tok[OAUTH_TOKEN_LEN + 1];
    struct oauth_token t = {0};
    int64_t now = store_now_ms();
    int rc;

    oauth_token_new(tok, &t.id, t.token_hash);
    t.kind = OAUTH_TOKEN_ACCESS;
    t.client_id = CLIENT_ID;
    t.account_id = g->ids[who];
    t.scope = SCOPE;
    t.grant_id = ids_next();
    t.created_at = now;
    t.expires_at = now + TOKEN_DAYS * 86400000LL;
    if ((rc = store_oauth_token_create(g->st, &t)) != TD_OK)
        die("store_oauth_token_create", rc);
    fprintf(f, "%s\n", tok);
    tick(g);
}

static void credentials(struct gen *g)
{
    struct oauth_client c = {0};
    FILE *tokens = out_file(g, "tokens.txt"), *sessions = out_file(g, "sessions.txt");
    FILE *readers = out_file(g, "readers.txt"), *celeb = out_file(g, "celeb.txt");
    long ntok = g->o.tokens < g->o.active - 1 ? g->o.tokens : g->o.active - 1;
    int rc;

    c.client_id = CLIENT_ID;
    c.name = "Microblog benchmark";
    c.redirect_uris = "[\"urn:ietf:wg:oauth:2.0:oob\"]";
    c.grant_types = "authorization_code refresh_token";
    c.scope = SCOPE;
    c.auth_method = "none";
    if ((rc = store_oauth_client_create(g->st, &c)) != TD_OK)
        die("store_oauth_client_create", rc);
    access_token(g, 0, celeb);
    for (long k = 0; k < ntok; k++) {
        /* spread over the accounts: 1 + k * step covers popular and quiet ones */
        long who = 1 + (long)((double)k * (double)(g->o.active - 1) / (double)ntok);
        char s[AUTH_SESSION_TOKEN_LEN + 1];
        access_token(g, who, tokens);
        if ((rc = auth_session_start(g->st, g->ids[who], TOKEN_DAYS, "mbgen", "127.0.0.1", s)) !=
            TD_OK)
            die("auth_session_start", rc);
        fprintf(sessions, "%s\n", s);
        tick(g);
    }
    for (long i = 0; i < g->o.readers; i++)
        access_token(g, g->o.active + i, readers);
    progress(g, "tokens", ntok * 2 + g->o.readers + 1, ntok * 2 + g->o.readers + 1);
    if (fclose(tokens) || fclose(sessions) || fclose(readers) || fclose(celeb))
        die("writing the token files", TD_EIO);
}

static long num(const char *flag, const char *v, long min)
{
    char *end;
    long n;

    errno = 0;
    n = strtol(v ? v : "", &end, 10);
    if (v == NULL || *end || errno || n < min) {
        fprintf(stderr, "mbgen: %s needs a whole number >= %ld\n", flag, min);
        exit(2);
    }
    return n;
}

static void parse(int argc, char **argv, struct opts *o)
{
    *o = (struct opts){.active = 10000, .posts = 1000000, .readers = 100000,
                       .tokens = 10000, .seed = 42};
    if (argc < 3) {
        fprintf(stderr, "usage: mbgen DB OUTDIR [--active N] [--posts N] [--readers N] "
                        "[--tokens N] [--seed N]\n");
        exit(2);
    }
    o->db = argv[1];
    o->out = argv[2];
    for (int i = 3; i < argc; i += 2) {
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (strcmp(argv[i], "--active") == 0)
            o->active = num(argv[i], v, 2);
        else if (strcmp(argv[i], "--posts") == 0)
            o->posts = num(argv[i], v, 0);
        else if (strcmp(argv[i], "--readers") == 0)
            o->readers = num(argv[i], v, 0);
        else if (strcmp(argv[i], "--tokens") == 0)
            o->tokens = num(argv[i], v, 1);
        else if (strcmp(argv[i], "--seed") == 0)
            o->seed = (unsigned long long)num(argv[i], v, 1);
        else {
            fprintf(stderr, "mbgen: unknown option %s\n", argv[i]);
            exit(2);
        }
    }
}

int main(int argc, char **argv)
{
    struct gen g = {0};
    struct store_opts so = {0};
    struct store_mb_stats cs;
    char *err = NULL;
    FILE *info;
    int rc;

    parse(argc, argv, &g.o);
    g.rng = g.o.seed * 0x9E3779B97F4A7C15ull | 1;
    g.t0 = now_s();
    so.path = g.o.db;
    so.apply_migrations = true;
    if ((rc = store_open(&so, &g.st, &err)) != TD_OK) {
        fprintf(stderr, "mbgen: %s: %s\n", g.o.db, err ? err : "cannot open");
        return 1;
    }
    weights(&g);
    if ((rc = store_mb_bulk_begin(g.st)) != TD_OK)
        die("begin", rc);
    accounts(&g);
    follows(&g);
    posts(&g);
    credentials(&g);
    if ((rc = store_mb_bulk_commit(g.st)) != TD_OK)
        die("commit", rc);
    if ((rc = store_mb_account_stats(g.st, g.ids[0], &cs)) != TD_OK)
        die("store_mb_account_stats", rc);
    info = out_file(&g, "info.txt");
    fprintf(info, "celeb_id=%lld\nceleb_name=%s\nceleb_followers=%lld\nceleb_posts=%lld\n"
                  "active=%ld\nreaders=%ld\nposts=%ld\nfollows=%ld\n",
            (long long)g.ids[0], g.names[0], (long long)cs.followers_count,
            (long long)cs.statuses_count, g.o.active, g.o.readers, g.o.posts, g.nfollows);
    fclose(info);
    fprintf(stderr, "mbgen: done in %.1f s: %ld accounts, %ld follows, %ld posts; %s has "
                    "%lld followers and %lld posts\n",
            now_s() - g.t0, g.o.active + g.o.readers, g.nfollows, g.o.posts, g.names[0],
            (long long)cs.followers_count, (long long)cs.statuses_count);
    store_close(g.st);
    free(g.ids);
    free(g.names);
    free(g.cum);
    free(g.ends);
    free(err);
    return 0;
}
