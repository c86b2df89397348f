/* SPDX-License-Identifier: MIT */
/* Unit tests for social/mb.c (mb.h), the microblog service, on a real
 * SQLite store in a mkdtemp directory: posting and its errors, mentions,
 * tags and links in the content, home timelines per visibility for
 * followers and others, a table showing followers-only and direct posts
 * never reach unauthorized viewers through any list, notifications and
 * their suppression, home ring paging and its fallback to the store, ring
 * rebuild after a restart, the events and their audiences, and the time of
 * one fan-out to 100,000 followers with rings (printed, not asserted). */
#include "core/buf.h"
#include "core/err.h"
#include "core/metrics.h"
#include "social/mb.h"
#include "store/store.h"
#include "store/store_mb.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <unistd.h>

#include <cmocka.h>

#define BASE "https://mb.example"

enum { ALICE, BOB, CAROL, DAVE, EVE, NACCT };
static const char *const names[NACCT] = {"alice", "bob", "carol", "dave", "eve"};

struct rec {
    int type;
    int64_t post_id, account_id, notif_id;
    int64_t home[16];
    size_t nhome, nhome_total;
    bool pub;
    char tags[4][32];
    size_t ntags;
    int64_t direct[8];
    size_t ndirect;
};

struct fx {
    char dir[64];
    char path[128];
    struct store *st;
    struct mb mb;
    int64_t a[NACCT];
    struct rec ev[64];
    size_t nev;
    size_t ncache_ev; /* MB_EV_ACCOUNT and MB_EV_POST_CHANGED seen */
};

static void on_event(void *ud, const struct mb_event *e)
{
    struct fx *f = ud;
    struct rec *r;

    if (e->type == MB_EV_ACCOUNT || e->type == MB_EV_POST_CHANGED) {
        f->ncache_ev++; /* for caches: counted, not recorded */
        return;
    }
    if (f->nev >= TD_ARRAY_LEN(f->ev))
        return;
    r = &f->ev[f->nev++];
    memset(r, 0, sizeof(*r));
    r->type = e->type;
    r->post_id = e->post_id;
    r->account_id = e->account_id;
    r->notif_id = e->notif_id;
    for (size_t i = 0; i < e->nhome && i < 16; i++)
        r->home[r->nhome++] = e->home[i];
    r->nhome_total = e->nhome;
    r->pub = e->public_stream;
    for (size_t i = 0; i < e->ntags && i < 4; i++)
        snprintf(r->tags[r->ntags++], sizeof(r->tags[0]), "%s", e->tags[i]);
    for (size_t i = 0; i < e->ndirect && i < 8; i++)
        r->direct[r->ndirect++] = e->direct[i];
}

static void mb_start(struct fx *f, size_t home_size)
{
    struct mb_opts o = {.base_url = BASE "/", .home_size = home_size};

    assert_int_equal(mb_init(&f->mb, f->st, &o), TD_OK);
    mb_subscribe(&f->mb, on_event, f);
}

static int setup_n(void **state, size_t home_size)
{
    struct fx *f = calloc(1, sizeof(*f));
    struct store_opts o = {.apply_migrations = true};
    char *err = NULL;

    snprintf(f->dir, sizeof(f->dir), "/tmp/test_mb.XXXXXX");
    if (mkdtemp(f->dir) == NULL)
        return -1;
    snprintf(f->path, sizeof(f->path), "%s/tandem.db", f->dir);
    o.path = f->path;
    if (store_open(&o, &f->st, &err) != TD_OK)
        return -1;
    for (int i = 0; i < NACCT; i++) {
        struct account a = {.username = (char *)names[i], .display_name = (char *)names[i]};
        if (store_account_create(f->st, &a) != TD_OK)
            return -1;
        f->a[i] = a.id;
    }
    mb_start(f, home_size);
    *state = f;
    return 0;
}

static int setup(void **state)
{
    return setup_n(state, 0);
}

static int setup_small(void **state)
{
    return setup_n(state, 8);
}

static int teardown(void **state)
{
    struct fx *f = *state;
    char p[160];
    static const char *const suffix[] = {"", "-wal", "-shm", "-journal"};

    mb_free(&f->mb);
    store_close(f->st);
    for (size_t i = 0; i < TD_ARRAY_LEN(suffix); i++) {
        snprintf(p, sizeof(p), "%s%s", f->path, suffix[i]);
        unlink(p);
    }
    rmdir(f->dir);
    free(f);
    return 0;
}

static int64_t post_x(struct fx *f, int who, const char *text, int vis, int64_t reply)
{
    struct mb_post_req r = {.text = text, .text_len = strlen(text), .visibility = vis,
                            .in_reply_to_id = reply};
    struct mb_error e;
    int64_t id = 0;
    int rc = mb_post_create(&f->mb, f->a[who], &r, &id, &e);

    if (rc != TD_OK)
        fail_msg("post: %d %s", rc, e.msg);
    assert_true(id > 0);
    return id;
}

static int64_t post(struct fx *f, int who, const char *text, int vis)
{
    return post_x(f, who, text, vis, 0);
}

static void follow(struct fx *f, int who, int whom)
{
    assert_int_equal(mb_follow(&f->mb, f->a[who], f->a[whom], true, NULL, NULL), TD_OK);
}

static bool in_list(const struct store_mb_list *l, int64_t id)
{
    for (size_t i = 0; i < l->n; i++)
        if (l->v[i].id == id)
            return true;
    return false;
}

static bool in_home(struct fx *f, int who, int64_t id)
{
    struct store_mb_list l;
    struct store_mb_page pg = {.limit = 40};

    assert_int_equal(mb_home(&f->mb, who < 0 ? 0 : f->a[who], &pg, &l), TD_OK);
    return in_list(&l, id);
}

static bool has_id(const int64_t *v, size_t n, int64_t id)
{
    for (size_t i = 0; i < n; i++)
        if (v[i] == id)
            return true;
    return false;
}

/* ---- posting ---- */

static void test_post_errors(void **state)
{
    struct fx *f = *state;
    struct mb_error e;
    char longtext[600];
    int64_t id = 0;

    memset(longtext, 'a', 501);
    longtext[501] = 0;
    struct mb_post_req r = {.text = longtext, .text_len = 501};
    assert_int_equal(mb_post_create(&f->mb, f->a[ALICE], &r, &id, &e), TD_ETOOBIG);
    assert_non_null(strstr(e.msg, "limit of 500"));
    r.text_len = 500;
    assert_int_equal(mb_post_create(&f->mb, f->a[ALICE], &r, &id, &e), TD_OK);

    r = (struct mb_post_req){.text = "bad \xff byte", .text_len = 10};
    assert_int_equal(mb_post_create(&f->mb, f->a[ALICE], &r, &id, &e), TD_EINVAL);
    assert_non_null(strstr(e.msg, "invalid"));

    r = (struct mb_post_req){.text = "", .text_len = 0};
    assert_int_equal(mb_post_create(&f->mb, f->a[ALICE], &r, &id, &e), TD_EINVAL);

    r = (struct mb_post_req){.text = "x", .text_len = 1, .visibility = 7};
    assert_int_equal(mb_post_create(&f->mb, f->a[ALICE], &r, &id, &e), TD_EINVAL);

    r = (struct mb_post_req){.text = "re", .text_len = 2, .in_reply_to_id = 123456789};
    assert_int_equal(mb_post_create(&f->mb, f->a[ALICE], &r, &id, &e), TD_ENOTFOUND);
    assert_non_null(strstr(e.msg, "replied to"));

    /* a reply to a followers-only post the author may not see */
    int64_t priv = post(f, BOB, "secret", STORE_MB_PRIVATE);
    r.in_reply_to_id = priv;
    assert_int_equal(mb_post_create(&f->mb, f->a[ALICE], &r, &id, &e), TD_ENOTFOUND);
    follow(f, ALICE, BOB);
    assert_int_equal(mb_post_create(&f->mb, f->a[ALICE], &r, &id, &e), TD_OK);

    /* someone else's media, too many media, attached media */
    struct store_mb_media m = {.account_id = f->a[BOB], .content_type = (char *)"image/png",
                               .data = (void *)"png", .len = 3};
    assert_int_equal(store_mb_media_create(f->st, &m), TD_OK);
    r = (struct mb_post_req){.text = "pic", .text_len = 3, .media = &m.id, .nmedia = 1};
    assert_int_equal(mb_post_create(&f->mb, f->a[ALICE], &r, &id, &e), TD_EDENIED);
    assert_non_null(strstr(e.msg, "not yours"));
    assert_int_equal(mb_post_create(&f->mb, f->a[BOB], &r, &id, &e), TD_OK);
    assert_int_equal(mb_post_create(&f->mb, f->a[BOB], &r, &id, &e), TD_EDENIED);
    int64_t five[5] = {1, 2, 3, 4, 5};
    r = (struct mb_post_req){.text = "pics", .text_len = 4, .media = five, .nmedia = 5};
    assert_int_equal(mb_post_create(&f->mb, f->a[BOB], &r, &id, &e), TD_EINVAL);

    /* language and spoiler */
    r = (struct mb_post_req){.text = "x", .text_len = 1, .language = "e n"};
    assert_int_equal(mb_post_create(&f->mb, f->a[BOB], &r, &id, &e), TD_EINVAL);
    r = (struct mb_post_req){.text = "x", .text_len = 1, .spoiler_text = "cw\x01"};
    assert_int_equal(mb_post_create(&f->mb, f->a[BOB], &r, &id, &e), TD_EINVAL);

    /* idempotency: same key, same post; another author's same key is another post */
    int64_t id1 = 0, id2 = 0, id3 = 0;
    r = (struct mb_post_req){.text = "once", .text_len = 4, .idempotency_key = "k1"};
    assert_int_equal(mb_post_create(&f->mb, f->a[BOB], &r, &id1, &e), TD_OK);
    assert_int_equal(mb_post_create(&f->mb, f->a[BOB], &r, &id2, &e), TD_OK);
    assert_int_equal(id1, id2);
    assert_int_equal(mb_post_create(&f->mb, f->a[CAROL], &r, &id3, &e), TD_OK);
    assert_true(id3 != id1);
}

static void test_content(void **state)
{
    struct fx *f = *state;
    struct store_mb_post p;
    const char *text = "hi @Bob and @nobody and @carol@mb.example #Tandem #tandem "
                       "see https://example.org/a?b=1";
    int64_t id = post(f, ALICE, text, STORE_MB_PUBLIC);

    assert_int_equal(mb_get(&f->mb, 0, id, &p), TD_OK);
    assert_string_equal(p.source, text);
    assert_non_null(strstr(p.content, "href=\"" BASE "/@bob\""));
    assert_non_null(strstr(p.content, "href=\"" BASE "/@carol\""));
    assert_null(strstr(p.content, "/@nobody"));
    assert_non_null(strstr(p.content, "@nobody"));
    assert_non_null(strstr(p.content, "href=\"" BASE "/tags/tandem\""));
    assert_non_null(strstr(p.content, "href=\"https://example.org/a?b=1\""));
    assert_int_equal(p.nmentions, 2);
    assert_true(has_id(p.mentions, p.nmentions, f->a[BOB]));
    assert_true(has_id(p.mentions, p.nmentions, f->a[CAROL]));
    assert_int_equal(p.ntags, 1);
    assert_string_equal(p.tags[0], "tandem");
    store_mb_post_clear(&p);

    /* edit: author only, history kept, new mentions */
    struct mb_post_req r = {.text = "now @dave", .text_len = 9};
    struct mb_error e;
    assert_int_equal(mb_post_edit(&f->mb, f->a[BOB], id, &r, &e), TD_EDENIED);
    assert_int_equal(mb_post_edit(&f->mb, f->a[ALICE], id, &r, &e), TD_OK);
    assert_int_equal(mb_get(&f->mb, 0, id, &p), TD_OK);
    assert_int_equal(p.nmentions, 1);
    assert_int_equal(p.mentions[0], f->a[DAVE]);
    assert_true(p.edited_at > 0);
    store_mb_post_clear(&p);
    /* delete: author only */
    assert_int_equal(mb_post_delete(&f->mb, f->a[BOB], id, &e), TD_EDENIED);
    assert_int_equal(mb_post_delete(&f->mb, f->a[ALICE], id, &e), TD_OK);
    assert_int_equal(mb_get(&f->mb, 0, id, &p), TD_ENOTFOUND);
}

/* ---- home per visibility ---- */

static void test_home_visibility(void **state)
{
    struct fx *f = *state;

    follow(f, BOB, ALICE); /* bob follows alice, carol does not */
    /* rings exist before the posts: fan-out fills them */
    assert_false(in_home(f, BOB, 1));
    assert_false(in_home(f, CAROL, 1));
    int64_t pub = post(f, ALICE, "public", STORE_MB_PUBLIC);
    int64_t unl = post(f, ALICE, "unlisted", STORE_MB_UNLISTED);
    int64_t prv = post(f, ALICE, "private", STORE_MB_PRIVATE);
    int64_t dm_bob = post(f, ALICE, "@bob psst", STORE_MB_DIRECT);
    int64_t dm_carol = post(f, ALICE, "@carol psst", STORE_MB_DIRECT);
    int64_t ids[5] = {pub, unl, prv, dm_bob, dm_carol};
    /* expected per viewer: alice (author), bob (follower), carol (not) */
    static const bool want[3][5] = {
        {true, true, true, true, true},
        {true, true, true, true, false},
        {false, false, false, false, false},
    };
    for (int round = 0; round < 2; round++) {
        for (int v = 0; v < 3; v++)
            for (int i = 0; i < 5; i++)
                if (in_home(f, v, ids[i]) != want[v][i])
                    fail_msg("round %d viewer %s post %d", round, names[v], i);
        /* the same from a fresh service (rings rebuilt from the store) */
        mb_free(&f->mb);
        mb_start(f, 0);
    }
    /* unfollow: private posts leave the home at once */
    assert_int_equal(mb_unfollow(&f->mb, f->a[BOB], f->a[ALICE], NULL), TD_OK);
    assert_false(in_home(f, BOB, prv));
    assert_false(in_home(f, BOB, pub));
}

/* ---- the no-leak table ---- */

struct leak_case {
    const char *what;
    int viewer; /* -1 anonymous */
    bool sees_private, sees_direct;
};

static void test_no_leak(void **state)
{
    struct fx *f = *state;
    struct store_mb_list l;
    struct store_mb_page pg = {.limit = 40};
    struct mb_notif_list *nl = malloc(sizeof(*nl));

    follow(f, CAROL, ALICE); /* carol may see followers-only posts; dave is mentioned */
    int64_t root = post(f, BOB, "root #secret", STORE_MB_PUBLIC);
    int64_t prv = post_x(f, ALICE, "followers only #secret @eve", STORE_MB_PRIVATE, root);
    int64_t dm = post_x(f, ALICE, "direct #secret @dave", STORE_MB_DIRECT, root);
    int64_t pub = post_x(f, ALICE, "public #secret", STORE_MB_PUBLIC, root);
    assert_int_equal(mb_favourite(&f->mb, f->a[CAROL], prv, NULL), TD_OK);
    assert_int_equal(mb_favourite(&f->mb, f->a[DAVE], dm, NULL), TD_OK);
    /* eve was mentioned in a private post she may not see: no notification */
    static const struct leak_case cases[] = {
        {"alice", ALICE, true, true},  {"carol (follower)", CAROL, true, false},
        {"dave (mentioned)", DAVE, false, true}, {"eve", EVE, false, false},
        {"bob", BOB, false, false},    {"anonymous", -1, false, false},
    };
    for (size_t c = 0; c < TD_ARRAY_LEN(cases); c++) {
        const struct leak_case *k = &cases[c];
        int64_t v = k->viewer < 0 ? 0 : f->a[k->viewer];
        bool got_p, got_d;
        int64_t *anc, *desc;
        size_t nanc, ndesc;
        struct store_mb_post p;

#define CHECK(list, wp, wd)                                                                   \
    do {                                                                                      \
        got_p = in_list(&(list), prv);                                                        \
        got_d = in_list(&(list), dm);                                                         \
        if ((got_p && !(wp)) || (got_d && !(wd)))                                             \
            fail_msg("%s: %s leaks (private %d direct %d)", k->what, #list, got_p, got_d);    \
    } while (0)
        if (v != 0) {
            assert_int_equal(mb_home(&f->mb, v, &pg, &l), TD_OK);
            CHECK(l, k->sees_private, k->sees_direct);
        }
        assert_int_equal(mb_public(&f->mb, v, false, &pg, &l), TD_OK);
        CHECK(l, false, false);
        assert_true(in_list(&l, pub));
        assert_int_equal(mb_tag(&f->mb, v, "secret", &pg, &l), TD_OK);
        CHECK(l, false, false);
        assert_true(in_list(&l, pub));
        assert_int_equal(mb_account(&f->mb, v, f->a[ALICE], 0, &pg, &l), TD_OK);
        CHECK(l, k->sees_private, k->sees_direct);
        assert_true(in_list(&l, pub));
        assert_true(in_list(&l, prv) == k->sees_private);
        assert_true(in_list(&l, dm) == k->sees_direct);
        assert_int_equal(mb_context(&f->mb, v, root, &anc, &nanc, &desc, &ndesc), TD_OK);
        if (has_id(desc, ndesc, prv) != k->sees_private ||
            has_id(desc, ndesc, dm) != k->sees_direct || !has_id(desc, ndesc, pub))
            fail_msg("%s: context", k->what);
        free(anc);
        free(desc);
        assert_int_equal(mb_context(&f->mb, v, prv, &anc, &nanc, &desc, &ndesc),
                         k->sees_private ? TD_OK : TD_ENOTFOUND);
        free(anc);
        free(desc);
        assert_int_equal(mb_favourited_by(&f->mb, v, prv, &pg, &l),
                         k->sees_private ? TD_OK : TD_ENOTFOUND);
        assert_int_equal(mb_favourited_by(&f->mb, v, dm, &pg, &l),
                         k->sees_direct ? TD_OK : TD_ENOTFOUND);
        assert_int_equal(mb_reblogged_by(&f->mb, v, dm, &pg, &l),
                         k->sees_direct ? TD_OK : TD_ENOTFOUND);
        assert_int_equal(mb_get(&f->mb, v, prv, &p), k->sees_private ? TD_OK : TD_ENOTFOUND);
        store_mb_post_clear(&p);
        assert_int_equal(mb_get(&f->mb, v, dm, &p), k->sees_direct ? TD_OK : TD_ENOTFOUND);
        store_mb_post_clear(&p);
        /* favourite / reblog of what one may not see: not found */
        if (v != 0 && !k->sees_private) {
            assert_int_equal(mb_favourite(&f->mb, v, prv, NULL), TD_ENOTFOUND);
            assert_int_equal(mb_reblog(&f->mb, v, prv, STORE_MB_PUBLIC, NULL, NULL), TD_ENOTFOUND);
        }
        if (v != 0) {
            assert_int_equal(mb_favourites(&f->mb, v, &pg, &l), TD_OK);
            CHECK(l, k->sees_private, k->sees_direct);
            assert_int_equal(mb_notifications(&f->mb, v, 0, 0, &pg, nl), TD_OK);
            for (size_t i = 0; i < nl->n; i++) {
                if ((nl->v[i].post_id == prv && !k->sees_private) ||
                    (nl->v[i].post_id == dm && !k->sees_direct))
                    fail_msg("%s: notification leaks", k->what);
            }
        }
#undef CHECK
    }
    /* carol unfollows: her favourites list no longer shows the private post */
    assert_int_equal(mb_unfollow(&f->mb, f->a[CAROL], f->a[ALICE], NULL), TD_OK);
    assert_int_equal(mb_favourites(&f->mb, f->a[CAROL], &pg, &l), TD_OK);
    assert_false(in_list(&l, prv));
    /* nobody may reblog the private or direct posts, the author neither */
    assert_int_equal(mb_reblog(&f->mb, f->a[ALICE], prv, STORE_MB_PUBLIC, NULL, NULL), TD_EDENIED);
    assert_int_equal(mb_reblog(&f->mb, f->a[DAVE], dm, STORE_MB_PUBLIC, NULL, NULL), TD_EDENIED);
    free(nl);
}

/* ---- notifications ---- */

static size_t count_notifs(struct fx *f, int who, int type, int from)
{
    struct mb_notif_list *nl = malloc(sizeof(*nl));
    struct store_mb_page pg = {.limit = 80};
    size_t n = 0;

    assert_int_equal(mb_notifications(&f->mb, f->a[who], 0, 0, &pg, nl), TD_OK);
    for (size_t i = 0; i < nl->n; i++)
        if (nl->v[i].type == type && nl->v[i].from_account_id == f->a[from])
            n++;
    free(nl);
    return n;
}

static void test_notifications(void **state)
{
    struct fx *f = *state;
    int state_out = -1;

    /* follow and follow_request */
    follow(f, BOB, ALICE);
    assert_int_equal(count_notifs(f, ALICE, STORE_MB_N_FOLLOW, BOB), 1);
    assert_int_equal(store_mb_account_set_flags(f->st, f->a[CAROL], true, true), TD_OK);
    assert_int_equal(mb_follow(&f->mb, f->a[DAVE], f->a[CAROL], true, &state_out, NULL), TD_OK);
    assert_int_equal(state_out, STORE_MB_FOLLOW_REQUESTED);
    assert_int_equal(count_notifs(f, CAROL, STORE_MB_N_FOLLOW_REQUEST, DAVE), 1);
    assert_int_equal(mb_follow_authorize(&f->mb, f->a[CAROL], f->a[DAVE], NULL), TD_OK);
    assert_int_equal(count_notifs(f, CAROL, STORE_MB_N_FOLLOW, DAVE), 1);
    assert_int_equal(mb_follow(&f->mb, f->a[EVE], f->a[CAROL], true, NULL, NULL), TD_OK);
    assert_int_equal(mb_follow_reject(&f->mb, f->a[CAROL], f->a[EVE], NULL), TD_OK);
    assert_int_equal(mb_follow_reject(&f->mb, f->a[CAROL], f->a[EVE], NULL), TD_ENOTFOUND);

    /* mention, favourite, reblog */
    int64_t p = post(f, ALICE, "hello @bob @alice", STORE_MB_PUBLIC);
    assert_int_equal(count_notifs(f, BOB, STORE_MB_N_MENTION, ALICE), 1);
    assert_int_equal(count_notifs(f, ALICE, STORE_MB_N_MENTION, ALICE), 0); /* self */
    assert_int_equal(mb_favourite(&f->mb, f->a[BOB], p, NULL), TD_OK);
    assert_int_equal(mb_favourite(&f->mb, f->a[BOB], p, NULL), TD_OK); /* repeat: one */
    assert_int_equal(count_notifs(f, ALICE, STORE_MB_N_FAVOURITE, BOB), 1);
    assert_int_equal(mb_reblog(&f->mb, f->a[BOB], p, STORE_MB_PUBLIC, NULL, NULL), TD_OK);
    assert_int_equal(count_notifs(f, ALICE, STORE_MB_N_REBLOG, BOB), 1);
    assert_int_equal(mb_favourite(&f->mb, f->a[ALICE], p, NULL), TD_OK); /* self */
    assert_int_equal(mb_reblog(&f->mb, f->a[ALICE], p, STORE_MB_PUBLIC, NULL, NULL), TD_OK);
    assert_int_equal(count_notifs(f, ALICE, STORE_MB_N_FAVOURITE, ALICE), 0);
    assert_int_equal(count_notifs(f, ALICE, STORE_MB_N_REBLOG, ALICE), 0);

    /* mute with notifications: none; mute without: still notified */
    assert_int_equal(mb_mute(&f->mb, f->a[ALICE], f->a[DAVE], true, 0, NULL), TD_OK);
    assert_int_equal(mb_favourite(&f->mb, f->a[DAVE], p, NULL), TD_OK);
    assert_int_equal(count_notifs(f, ALICE, STORE_MB_N_FAVOURITE, DAVE), 0);
    assert_int_equal(mb_mute(&f->mb, f->a[ALICE], f->a[CAROL], false, 0, NULL), TD_OK);
    assert_int_equal(mb_favourite(&f->mb, f->a[CAROL], p, NULL), TD_OK);
    assert_int_equal(count_notifs(f, ALICE, STORE_MB_N_FAVOURITE, CAROL), 1);
    assert_int_equal(mb_mute(&f->mb, f->a[ALICE], f->a[ALICE], true, 0, NULL), TD_EINVAL);

    /* block: a blocked account can't act, and a blocked mention notifies nobody */
    assert_int_equal(mb_block(&f->mb, f->a[BOB], f->a[EVE], NULL), TD_OK);
    post(f, EVE, "hey @bob", STORE_MB_PUBLIC);
    assert_int_equal(count_notifs(f, BOB, STORE_MB_N_MENTION, EVE), 0);
    int64_t bp = post(f, BOB, "mine", STORE_MB_PUBLIC);
    assert_int_equal(mb_favourite(&f->mb, f->a[EVE], bp, NULL), TD_ENOTFOUND);
    assert_int_equal(mb_follow(&f->mb, f->a[EVE], f->a[BOB], true, NULL, NULL), TD_EDENIED);
    assert_int_equal(count_notifs(f, BOB, STORE_MB_N_FOLLOW, EVE), 0);
    assert_int_equal(mb_unblock(&f->mb, f->a[BOB], f->a[EVE], NULL), TD_OK);
    assert_int_equal(mb_unmute(&f->mb, f->a[ALICE], f->a[DAVE], NULL), TD_OK);

    /* dismiss, mark read, clear */
    struct mb_notif_list *nl = malloc(sizeof(*nl));
    struct store_mb_page pg = {0};
    int64_t unread = 0;
    assert_int_equal(mb_notifications(&f->mb, f->a[ALICE], 0, 0, &pg, nl), TD_OK);
    size_t before = nl->n;
    assert_true(before >= 3);
    assert_int_equal(mb_notif_dismiss(&f->mb, f->a[ALICE], nl->v[0].id), TD_OK);
    assert_int_equal(mb_notif_dismiss(&f->mb, f->a[BOB], nl->v[1].id), TD_ENOTFOUND);
    assert_int_equal(mb_notif_mark_read(&f->mb, f->a[ALICE], nl->v[1].id), TD_OK);
    assert_int_equal(store_mb_notif_unread(f->st, f->a[ALICE], &unread), TD_OK);
    assert_int_equal(unread, 0);
    /* only one type */
    assert_int_equal(mb_notifications(&f->mb, f->a[ALICE], 1u << STORE_MB_N_REBLOG, 0, &pg,
                                      nl), TD_OK);
    assert_int_equal(nl->n, 1);
    assert_int_equal(mb_notif_clear(&f->mb, f->a[ALICE]), TD_OK);
    assert_int_equal(mb_notifications(&f->mb, f->a[ALICE], 0, 0, &pg, nl), TD_OK);
    assert_int_equal(nl->n, 0);
    free(nl);
}

/* ---- reblogs in home ---- */

static void test_reblogs_home(void **state)
{
    struct fx *f = *state;
    int64_t rb = 0;

    follow(f, BOB, CAROL);
    assert_int_equal(mb_follow(&f->mb, f->a[DAVE], f->a[CAROL], false, NULL, NULL), TD_OK);
    assert_false(in_home(f, BOB, 1));
    assert_false(in_home(f, DAVE, 1));
    int64_t p = post(f, ALICE, "reblog me", STORE_MB_PUBLIC);
    int64_t own_priv = post(f, CAROL, "mine", STORE_MB_PRIVATE);
    assert_int_equal(mb_reblog(&f->mb, f->a[CAROL], own_priv, STORE_MB_PUBLIC, NULL, NULL), TD_EDENIED);
    f->nev = 0;
    assert_int_equal(mb_reblog(&f->mb, f->a[CAROL], p, STORE_MB_PUBLIC, &rb, NULL), TD_OK);
    assert_true(rb > 0);
    assert_int_equal(f->ev[0].type, MB_EV_UPDATE);
    assert_int_equal(f->ev[0].post_id, rb);
    assert_true(has_id(f->ev[0].home, f->ev[0].nhome, f->a[BOB]));
    assert_false(has_id(f->ev[0].home, f->ev[0].nhome, f->a[DAVE])); /* show_reblogs off */
    assert_false(f->ev[0].pub); /* reblogs stay out of the public stream */
    assert_true(in_home(f, BOB, rb));
    assert_false(in_home(f, DAVE, rb));
    /* bob mutes alice: her post reblogged by carol is hidden from his home */
    assert_int_equal(mb_mute(&f->mb, f->a[BOB], f->a[ALICE], false, 0, NULL), TD_OK);
    assert_false(in_home(f, BOB, rb));
    assert_int_equal(mb_unmute(&f->mb, f->a[BOB], f->a[ALICE], NULL), TD_OK);
    f->nev = 0;
    assert_int_equal(mb_unreblog(&f->mb, f->a[CAROL], p, NULL), TD_OK);
    assert_int_equal(f->ev[0].type, MB_EV_DELETE);
    assert_int_equal(f->ev[0].post_id, rb);
    assert_false(in_home(f, BOB, rb));
}

/* ---- paging on the ring and its fallback ---- */

static void collect(struct fx *f, int who, struct store_mb_page pg, int64_t *out, size_t *n)
{
    struct store_mb_list l;

    *n = 0;
    for (int guard = 0; guard < 100; guard++) {
        assert_int_equal(mb_home(&f->mb, f->a[who], &pg, &l), TD_OK);
        for (size_t i = 1; i < l.n; i++)
            assert_true(l.v[i - 1].id > l.v[i].id); /* newest first */
        if (l.n == 0)
            return;
        if (pg.min_id != 0) {
            for (size_t i = l.n; i > 0; i--)
                out[(*n)++] = l.v[i - 1].id; /* oldest first */
            pg.min_id = l.v[0].cursor;
        } else {
            for (size_t i = 0; i < l.n; i++)
                out[(*n)++] = l.v[i].id;
            pg.max_id = l.v[l.n - 1].cursor;
        }
    }
    fail_msg("paging does not end");
}

static void test_home_paging(void **state)
{
    struct fx *f = *state; /* rings of 8 */
    int64_t ids[20], got[64];
    size_t n;

    follow(f, BOB, ALICE);
    assert_false(in_home(f, BOB, 1)); /* the ring exists */
    for (int i = 0; i < 20; i++) {
        char t[16];
        snprintf(t, sizeof(t), "post %d", i);
        ids[i] = post(f, ALICE, t, i % 5 == 4 ? STORE_MB_PRIVATE : STORE_MB_PUBLIC);
    }
    /* max_id walk, page of 3: ring (8) then the store, no gap, no repeat */
    collect(f, BOB, (struct store_mb_page){.limit = 3}, got, &n);
    assert_int_equal(n, 20);
    for (int i = 0; i < 20; i++)
        assert_int_equal(got[i], ids[19 - i]);
    /* one page spanning the ring's end */
    struct store_mb_list l;
    struct store_mb_page pg = {.limit = 10};
    assert_int_equal(mb_home(&f->mb, f->a[BOB], &pg, &l), TD_OK);
    assert_int_equal(l.n, 10);
    assert_int_equal(l.v[9].id, ids[10]);
    /* max_id at the ring's oldest; since_id; both */
    pg = (struct store_mb_page){.max_id = ids[12], .limit = 40};
    assert_int_equal(mb_home(&f->mb, f->a[BOB], &pg, &l), TD_OK);
    assert_int_equal(l.n, 12);
    assert_int_equal(l.v[0].id, ids[11]);
    pg = (struct store_mb_page){.since_id = ids[15], .limit = 40};
    assert_int_equal(mb_home(&f->mb, f->a[BOB], &pg, &l), TD_OK);
    assert_int_equal(l.n, 4);
    assert_int_equal(l.v[3].id, ids[16]);
    pg = (struct store_mb_page){.max_id = ids[15], .since_id = ids[5], .limit = 40};
    assert_int_equal(mb_home(&f->mb, f->a[BOB], &pg, &l), TD_OK);
    assert_int_equal(l.n, 9);
    /* min_id below the ring: the oldest rows above it, newest first */
    pg = (struct store_mb_page){.min_id = ids[2], .limit = 3};
    assert_int_equal(mb_home(&f->mb, f->a[BOB], &pg, &l), TD_OK);
    assert_int_equal(l.n, 3);
    assert_int_equal(l.v[0].id, ids[5]);
    assert_int_equal(l.v[2].id, ids[3]);
    /* min_id inside the ring */
    pg = (struct store_mb_page){.min_id = ids[17], .limit = 5};
    assert_int_equal(mb_home(&f->mb, f->a[BOB], &pg, &l), TD_OK);
    assert_int_equal(l.n, 2);
    assert_int_equal(l.v[0].id, ids[19]);
    /* min_id walk from the beginning covers everything oldest first */
    collect(f, BOB, (struct store_mb_page){.min_id = 1, .limit = 4}, got, &n);
    assert_int_equal(n, 20);
    for (int i = 0; i < 20; i++)
        assert_int_equal(got[i], ids[i]);
    /* a deleted post vanishes from the ring at read time */
    assert_int_equal(mb_post_delete(&f->mb, f->a[ALICE], ids[19], NULL), TD_OK);
    assert_false(in_home(f, BOB, ids[19]));
    assert_true(in_home(f, BOB, ids[18]));
    /* limit beyond the cap is the cap; 0 is the default */
    pg = (struct store_mb_page){.limit = 1000};
    assert_int_equal(mb_home(&f->mb, f->a[BOB], &pg, &l), TD_OK);
    assert_int_equal(l.n, 19);
    pg = (struct store_mb_page){0};
    assert_int_equal(mb_home(&f->mb, f->a[BOB], &pg, &l), TD_OK);
    assert_int_equal(l.n, STORE_MB_LIMIT_DEFAULT < 19 ? STORE_MB_LIMIT_DEFAULT : 19);
    /* restart: the rebuilt ring gives the same pages */
    size_t before = n;
    mb_free(&f->mb);
    mb_start(f, 8);
    assert_int_equal(mb_rings(&f->mb), 0);
    collect(f, BOB, (struct store_mb_page){.limit = 3}, got, &n);
    assert_int_equal(n, before - 1);
    assert_int_equal(got[0], ids[18]);
    assert_int_equal(got[n - 1], ids[0]);
    assert_int_equal(mb_rings(&f->mb), 1);
}

/* ---- events ---- */

static void test_events(void **state)
{
    struct fx *f = *state;

    follow(f, BOB, ALICE);
    f->nev = 0;
    int64_t pub = post(f, ALICE, "hello #News", STORE_MB_PUBLIC);
    assert_int_equal(f->nev, 1);
    assert_int_equal(f->ev[0].type, MB_EV_UPDATE);
    assert_int_equal(f->ev[0].post_id, pub);
    assert_int_equal(f->ev[0].nhome, 2);
    assert_true(has_id(f->ev[0].home, 2, f->a[ALICE]) && has_id(f->ev[0].home, 2, f->a[BOB]));
    assert_true(f->ev[0].pub);
    assert_int_equal(f->ev[0].ntags, 1);
    assert_string_equal(f->ev[0].tags[0], "news");
    assert_int_equal(f->ev[0].ndirect, 0);

    f->nev = 0;
    post(f, ALICE, "quiet #news", STORE_MB_UNLISTED);
    assert_false(f->ev[0].pub);
    assert_int_equal(f->ev[0].ntags, 0);
    assert_int_equal(f->ev[0].nhome, 2);

    f->nev = 0;
    post(f, ALICE, "friends #news", STORE_MB_PRIVATE);
    assert_false(f->ev[0].pub);
    assert_int_equal(f->ev[0].ntags, 0);
    assert_int_equal(f->ev[0].nhome, 2);

    /* direct to bob (a follower) and carol (not): home alice + bob, direct all three,
     * then mention notifications for both */
    f->nev = 0;
    int64_t dm = post(f, ALICE, "@bob @carol shh", STORE_MB_DIRECT);
    assert_int_equal(f->nev, 3);
    assert_int_equal(f->ev[0].type, MB_EV_UPDATE);
    assert_int_equal(f->ev[0].nhome, 2);
    assert_false(f->ev[0].pub);
    assert_int_equal(f->ev[0].ndirect, 3);
    assert_true(has_id(f->ev[0].direct, 3, f->a[CAROL]));
    assert_int_equal(f->ev[1].type, MB_EV_NOTIFICATION);
    assert_int_equal(f->ev[1].post_id, dm);
    assert_true(f->ev[1].notif_id > 0);
    assert_int_equal(f->ev[2].type, MB_EV_NOTIFICATION);
    assert_true(f->ev[1].account_id != f->ev[2].account_id);

    /* edit: status.update to the same audience */
    f->nev = 0;
    struct mb_post_req r = {.text = "hello again #news", .text_len = 17};
    assert_int_equal(mb_post_edit(&f->mb, f->a[ALICE], pub, &r, NULL), TD_OK);
    assert_int_equal(f->nev, 1);
    assert_int_equal(f->ev[0].type, MB_EV_STATUS_UPDATE);
    assert_int_equal(f->ev[0].post_id, pub);
    assert_true(f->ev[0].pub);

    /* favourite: a notification event for alice */
    f->nev = 0;
    assert_int_equal(mb_favourite(&f->mb, f->a[BOB], pub, NULL), TD_OK);
    assert_int_equal(f->nev, 1);
    assert_int_equal(f->ev[0].type, MB_EV_NOTIFICATION);
    assert_int_equal(f->ev[0].account_id, f->a[ALICE]);

    /* delete with a reblog: two deletes */
    int64_t rb = 0;
    assert_int_equal(mb_reblog(&f->mb, f->a[BOB], pub, STORE_MB_PUBLIC, &rb, NULL), TD_OK);
    f->nev = 0;
    assert_int_equal(mb_post_delete(&f->mb, f->a[ALICE], pub, NULL), TD_OK);
    assert_int_equal(f->nev, 2);
    assert_int_equal(f->ev[0].type, MB_EV_DELETE);
    assert_int_equal(f->ev[0].post_id, pub);
    assert_int_equal(f->ev[1].type, MB_EV_DELETE);
    assert_int_equal(f->ev[1].post_id, rb);
}

/* Each new post and reblog is one observation of tandem_mb_fanout_seconds
 * (what bench/microblog.sh reads); an edit fans out but is not a new post. */
static void test_fanout_metric(void **state)
{
    struct fx *f = *state;
    struct mb_post_req r = {.text = "edited", .text_len = 6};
    struct buf b;

    metrics_reset();
    follow(f, BOB, ALICE);
    int64_t id = post(f, ALICE, "counted", STORE_MB_PUBLIC);
    assert_int_equal(mb_reblog(&f->mb, f->a[BOB], id, STORE_MB_PUBLIC, NULL, NULL), TD_OK);
    assert_int_equal(mb_post_edit(&f->mb, f->a[ALICE], id, &r, NULL), TD_OK);
    buf_init(&b, 0);
    metrics_render(&b);
    assert_non_null(strstr(b.data, "# TYPE tandem_mb_fanout_seconds histogram\n"));
    assert_non_null(strstr(b.data, "tandem_mb_fanout_seconds_count 2\n"));
    buf_free(&b);
    metrics_reset();
}

/* ---- fan-out to 100,000 followers with rings ---- */

#define FANOUT_N 100000

/* A ring rebuilt after a start holds MB_HOME_BUILD ids; paging past them
 * reads the store without a gap or a repeat, and new posts still arrive. */
static void test_home_rebuilt_ring_pages(void **state)
{
    struct fx *f = *state;
    enum { N = MB_HOME_BUILD + 60 };
    int64_t *ids = calloc(N, sizeof(int64_t)), *got = calloc(N + 1, sizeof(int64_t));
    size_t n;

    follow(f, BOB, ALICE);
    for (int i = 0; i < N; i++)
        ids[i] = post(f, ALICE, "many", STORE_MB_PUBLIC);
    /* the ring is built now, from the store */
    collect(f, BOB, (struct store_mb_page){.limit = 40}, got, &n);
    assert_int_equal(n, N);
    for (int i = 0; i < N; i++)
        assert_int_equal(got[i], ids[N - 1 - i]);
    int64_t fresh = post(f, ALICE, "fresh", STORE_MB_PUBLIC);
    assert_true(in_home(f, BOB, fresh));
    /* the full ring turned over in place: still no gap or repeat below it */
    free(got);
    got = calloc(N + 2, sizeof(int64_t));
    collect(f, BOB, (struct store_mb_page){.limit = 40}, got, &n);
    assert_int_equal(n, N + 1);
    assert_int_equal(got[0], fresh);
    for (int i = 0; i < N; i++)
        assert_int_equal(got[i + 1], ids[N - 1 - i]);
    free(ids);
    free(got);
}

/* ---- the post cache ---- */

static const struct store_mb_post *cached(struct fx *f, int64_t id, struct mb_cpost **ref)
{
    assert_int_equal(mb_posts(&f->mb, &id, 1, ref), TD_OK);
    return *ref ? &(*ref)->p : NULL;
}

/* Reads come from the cache; every change through the service drops the
 * post, so counters, edits and deletes show at once; the lists' visibility
 * rules hold for cached posts (a follow ending hides followers-only posts). */
static void test_post_cache(void **state)
{
    struct fx *f = *state;
    struct mb_cpost *ref = NULL, *again = NULL;
    struct mb_post_req ed = {.text = "edited", .text_len = 6};

    follow(f, BOB, ALICE);
    int64_t pub = post(f, ALICE, "cached", STORE_MB_PUBLIC);
    int64_t priv = post(f, ALICE, "friends only", STORE_MB_PRIVATE);
    assert_true(in_home(f, BOB, pub) && in_home(f, BOB, priv)); /* fills the cache */
    assert_true(mb_cache_size(&f->mb) >= 2);
    assert_int_equal(cached(f, pub, &ref)->favourites_count, 0);
    assert_ptr_equal(cached(f, pub, &again), ref); /* shared, not read again */
    mb_cpost_release(again);
    size_t before = f->ncache_ev;
    assert_int_equal(mb_favourite(&f->mb, f->a[BOB], pub, NULL), TD_OK);
    assert_true(f->ncache_ev > before);
    /* the old reference stays readable; a new read sees the count */
    assert_int_equal(ref->p.favourites_count, 0);
    mb_cpost_release(ref);
    assert_int_equal(cached(f, pub, &ref)->favourites_count, 1);
    mb_cpost_release(ref);
    assert_int_equal(mb_post_edit(&f->mb, f->a[ALICE], pub, &ed, NULL), TD_OK);
    assert_non_null(strstr(cached(f, pub, &ref)->content, "edited"));
    mb_cpost_release(ref);
    /* a reply counts on its parent at once */
    post_x(f, BOB, "a reply", STORE_MB_PUBLIC, pub);
    assert_int_equal(cached(f, pub, &ref)->replies_count, 1);
    mb_cpost_release(ref);
    /* visibility is the viewer's, not the cache's */
    assert_false(in_home(f, CAROL, priv));
    assert_int_equal(mb_unfollow(&f->mb, f->a[BOB], f->a[ALICE], NULL), TD_OK);
    assert_false(in_home(f, BOB, priv));
    assert_true(in_home(f, ALICE, priv));
    struct mb_error err;
    assert_int_equal(mb_post_delete(&f->mb, f->a[ALICE], pub, &err), TD_OK);
    assert_null(cached(f, pub, &ref));
}

static double now_s(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int64_t *g_followers;

static void test_fanout_100k(void **state)
{
    struct fx *f = *state;
    struct store_mb_list l;
    struct store_mb_page pg = {.limit = 5};
    double t0, t1, t2, t3;

    g_followers = malloc(FANOUT_N * sizeof(int64_t));
    t0 = now_s();
    assert_int_equal(store_mb_bulk_begin(f->st), TD_OK);
    for (int i = 0; i < FANOUT_N; i++) {
        char name[32];
        snprintf(name, sizeof(name), "fan%d", i);
        struct account a = {.username = name, .display_name = name};
        assert_int_equal(store_account_create(f->st, &a), TD_OK);
        g_followers[i] = a.id;
        assert_int_equal(store_mb_follow(f->st, a.id, f->a[ALICE], true, NULL), TD_OK);
    }
    assert_int_equal(store_mb_bulk_commit(f->st), TD_OK);
    t1 = now_s();
    /* every follower reads its home once: 100k rings */
    for (int i = 0; i < FANOUT_N; i++)
        assert_int_equal(mb_home(&f->mb, g_followers[i], &pg, &l), TD_OK);
    t2 = now_s();
    assert_int_equal(mb_rings(&f->mb), FANOUT_N);
    f->nev = 0;
    double tp = now_s();
    int64_t id = post(f, ALICE, "to everyone", STORE_MB_PUBLIC);
    t3 = now_s();
    print_message("fan-out: bulk load %d followers %.2f s, %d ring builds %.2f s, "
                  "one post to %d followers with rings %.1f ms\n",
                  FANOUT_N, t1 - t0, FANOUT_N, t2 - t1, FANOUT_N, (t3 - tp) * 1e3);
    assert_int_equal(f->nev, 1); /* the recorder keeps 16 home ids, and the total */
    assert_int_equal(f->ev[0].nhome_total, FANOUT_N + 1);
    /* the last and the first follower have it */
    assert_int_equal(mb_home(&f->mb, g_followers[FANOUT_N - 1], &pg, &l), TD_OK);
    assert_int_equal(l.n, 1);
    assert_int_equal(l.v[0].id, id);
    assert_int_equal(mb_home(&f->mb, g_followers[0], &pg, &l), TD_OK);
    assert_int_equal(l.v[0].id, id);
    free(g_followers);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_post_errors, setup, teardown),
        cmocka_unit_test_setup_teardown(test_content, setup, teardown),
        cmocka_unit_test_setup_teardown(test_home_visibility, setup, teardown),
        cmocka_unit_test_setup_teardown(test_no_leak, setup, teardown),
        cmocka_unit_test_setup_teardown(test_notifications, setup, teardown),
        cmocka_unit_test_setup_teardown(test_reblogs_home, setup, teardown),
        cmocka_unit_test_setup_teardown(test_home_paging, setup_small, teardown),
        cmocka_unit_test_setup_teardown(test_events, setup, teardown),
        cmocka_unit_test_setup_teardown(test_post_cache, setup, teardown),
        cmocka_unit_test_setup_teardown(test_home_rebuilt_ring_pages, setup, teardown),
        cmocka_unit_test_setup_teardown(test_fanout_metric, setup, teardown),
        cmocka_unit_test_setup_teardown(test_fanout_100k, setup, teardown),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
