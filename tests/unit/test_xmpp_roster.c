/* SPDX-License-Identifier: MIT */
/* Unit tests for xmpp/xmpp_roster and store/store_sqlite_roster: the
 * subscription state machine against the tables of RFC 6121 Appendix A.2
 * (outbound) and A.3 (inbound) for all nine states, pre-approval (§3.4),
 * roster set parsing (§2.3.3 errors, limits), the <item/> written for
 * results and pushes, and the store: roster rows, the roster size limit,
 * offline messages with their cap and ordered delete. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/arena.h"
#include "core/buf.h"
#include "core/err.h"
#include "store/store.h"
#include "store/store_roster.h"
#include "xmpp/xmpp_roster.h"
#include "xmpp/xmpp_xml.h"
#include "store_fixture.h"

/* ---- the state machine ---- */

/* The nine states of RFC 6121 Appendix A.1, named as there. */
static const char *const state_names[] = {"N", "N+PO", "N+PI", "N+PO+PI", "T",
                                          "T+PI", "F", "F+PO", "B"};

static struct xmpp_sub_state state_of(const char *name)
{
    struct xmpp_sub_state s = {0};
    char c = name[0];

    s.sub = c == 'T' ? STORE_SUB_TO : c == 'F' ? STORE_SUB_FROM : c == 'B' ? STORE_SUB_BOTH : 0;
    s.ask = strstr(name, "PO") != NULL;
    s.pending_in = strstr(name, "PI") != NULL;
    return s;
}

static void name_of(const struct xmpp_sub_state *s, char *out, size_t len)
{
    static const char *const subs[] = {"N", "T", "F", "B"};
    snprintf(out, len, "%s%s%s", subs[s->sub & 3], s->ask ? "+PO" : "", s->pending_in ? "+PI" : "");
}

/* One row of a table: for each of the nine states, the next state and what
 * happens to the stanza: 'f' forwarded/delivered, 'a' auto-replied, '-' none. */
struct row {
    enum xmpp_sub_type t;
    const char *next[9];
    const char *act; /* nine characters */
};

static void check_table(const struct row *rows, size_t n, bool inbound)
{
    for (size_t r = 0; r < n; r++) {
        for (size_t i = 0; i < 9; i++) {
            struct xmpp_sub_state cur = state_of(state_names[i]);
            struct xmpp_sub_outcome o;
            char got[16];
            if (inbound)
                xmpp_sub_inbound(&cur, rows[r].t, &o);
            else
                xmpp_sub_outbound(&cur, rows[r].t, &o);
            name_of(&o.next, got, sizeof(got));
            if (strcmp(got, rows[r].next[i]) != 0)
                fail_msg("%s %s in %s: got %s want %s", inbound ? "inbound" : "outbound",
                         xmpp_sub_type_name(rows[r].t), state_names[i], got, rows[r].next[i]);
            char act = o.auto_reply ? 'a' : o.forward ? 'f' : '-';
            if (act != rows[r].act[i])
                fail_msg("%s %s in %s: action %c want %c", inbound ? "inbound" : "outbound",
                         xmpp_sub_type_name(rows[r].t), state_names[i], act, rows[r].act[i]);
            bool moved = strcmp(rows[r].next[i], state_names[i]) != 0;
            if (moved)
                assert_true(o.changed);
            if (!moved && !o.next.approved && !cur.approved)
                assert_false(o.changed);
        }
    }
}

static void test_outbound_table(void **state)
{
    /* RFC 6121 A.2: what the user's server does with the user's stanza. */
    static const struct row rows[] = {
        {XMPP_SUB_SUBSCRIBE,
         {"N+PO", "N+PO", "N+PO+PI", "N+PO+PI", "T", "T+PI", "F+PO", "F+PO", "B"}, "fffffffff"},
        {XMPP_SUB_SUBSCRIBED,
         {"N", "N+PO", "F", "F+PO", "T", "B", "F", "F+PO", "B"}, "--ff-f---"},
        {XMPP_SUB_UNSUBSCRIBE,
         {"N", "N", "N+PI", "N+PI", "N", "N+PI", "F", "F", "F"}, "fffffffff"},
        {XMPP_SUB_UNSUBSCRIBED,
         {"N", "N+PO", "N", "N+PO", "T", "T", "N", "N+PO", "T"}, "fffffffff"},
    };
    (void)state;
    check_table(rows, TD_ARRAY_LEN(rows), false);
}

static void test_inbound_table(void **state)
{
    /* RFC 6121 A.3: what the user's server does with the contact's stanza. */
    static const struct row rows[] = {
        {XMPP_SUB_SUBSCRIBE,
         {"N+PI", "N+PO+PI", "N+PI", "N+PO+PI", "T+PI", "T+PI", "F", "F+PO", "B"}, "ffffffaaa"},
        {XMPP_SUB_SUBSCRIBED,
         {"N", "T", "N+PI", "T+PI", "T", "T+PI", "F", "B", "B"}, "-f-f---f-"},
        {XMPP_SUB_UNSUBSCRIBE,
         {"N", "N+PO", "N", "N+PO", "T", "T", "N", "N+PO", "T"}, "--ff-ffff"},
        {XMPP_SUB_UNSUBSCRIBED,
         {"N", "N", "N+PI", "N+PI", "N", "N+PI", "F", "F", "F"}, "-f-fff-ff"},
    };
    (void)state;
    check_table(rows, TD_ARRAY_LEN(rows), true);
}

static void test_preapproval(void **state)
{
    struct xmpp_sub_state s = state_of("N");
    struct xmpp_sub_outcome o;
    (void)state;
    /* §3.4: subscribed without a pending request pre-approves, silently. */
    xmpp_sub_outbound(&s, XMPP_SUB_SUBSCRIBED, &o);
    assert_true(o.next.approved);
    assert_true(o.push);
    assert_false(o.forward);
    /* the contact's later request is then answered for the user */
    s = o.next;
    xmpp_sub_inbound(&s, XMPP_SUB_SUBSCRIBE, &o);
    assert_true(o.auto_reply);
    assert_false(o.forward);
    assert_int_equal(o.next.sub, STORE_SUB_FROM);
    assert_false(o.next.approved);
    assert_false(o.next.pending_in);
    /* unsubscribed withdraws a pre-approval */
    s = state_of("T");
    s.approved = true;
    xmpp_sub_outbound(&s, XMPP_SUB_UNSUBSCRIBED, &o);
    assert_false(o.next.approved);
    assert_true(o.push);
    /* a pending request is answered, and the approval is not kept */
    s = state_of("N+PI");
    xmpp_sub_outbound(&s, XMPP_SUB_SUBSCRIBED, &o);
    assert_int_equal(o.next.sub, STORE_SUB_FROM);
    assert_false(o.next.approved);
    /* pushes only for what an item shows: pending-in alone is not pushed */
    s = state_of("N");
    xmpp_sub_inbound(&s, XMPP_SUB_SUBSCRIBE, &o);
    assert_true(o.changed);
    assert_false(o.push);
}

static void test_type_names(void **state)
{
    enum xmpp_sub_type t;
    (void)state;
    assert_int_equal(xmpp_sub_type_parse("subscribe", &t), TD_OK);
    assert_int_equal(t, XMPP_SUB_SUBSCRIBE);
    assert_int_equal(xmpp_sub_type_parse("unsubscribed", &t), TD_OK);
    assert_int_equal(t, XMPP_SUB_UNSUBSCRIBED);
    assert_int_equal(xmpp_sub_type_parse("probe", &t), TD_EINVAL);
    assert_int_equal(xmpp_sub_type_parse("Subscribe", &t), TD_EINVAL);
    assert_int_equal(xmpp_sub_type_parse(NULL, &t), TD_EINVAL);
    assert_string_equal(xmpp_sub_name(STORE_SUB_BOTH), "both");
    assert_string_equal(xmpp_sub_name(STORE_SUB_NONE), "none");
    assert_string_equal(xmpp_sub_type_name(XMPP_SUB_UNSUBSCRIBE), "unsubscribe");
    assert_true(xmpp_sub_contact_gets_presence(STORE_SUB_FROM));
    assert_false(xmpp_sub_contact_gets_presence(STORE_SUB_TO));
    assert_true(xmpp_sub_user_gets_presence(STORE_SUB_BOTH));
    assert_false(xmpp_sub_user_gets_presence(STORE_SUB_NONE));
}

/* ---- roster set parsing ---- */

static struct xmpp_el *query_new(struct arena *a)
{
    return xmpp_el_new(a, "query", XMPP_NS_ROSTER);
}

static struct xmpp_el *item_new(struct arena *a, struct xmpp_el *q, const char *jid)
{
    struct xmpp_el *it = xmpp_el_child_new(a, q, "item", NULL);
    if (jid)
        xmpp_el_attr_set(a, it, "jid", jid);
    return it;
}

static void group_add(struct arena *a, struct xmpp_el *it, const char *name)
{
    struct xmpp_el *g = xmpp_el_child_new(a, it, "group", NULL);
    xmpp_el_text_add(a, g, name, strlen(name));
}

static const char *parse_cond(struct arena *a, struct xmpp_el *q, struct xmpp_roster_set *out)
{
    const char *cond = NULL;
    int rc = xmpp_roster_set_parse(a, q, out, &cond);
    if (rc == TD_OK) {
        assert_null(cond);
        return "ok";
    }
    assert_int_equal(rc, TD_EINVAL);
    assert_non_null(cond);
    return cond;
}

static void test_set_parse(void **state)
{
    struct arena *a = arena_new(0);
    struct xmpp_roster_set set;
    struct xmpp_el *q, *it;
    char big[STORE_ROSTER_NAME_MAX + 2];
    (void)state;

    q = query_new(a);
    it = item_new(a, q, "Bob@Example.COM");
    xmpp_el_attr_set(a, it, "name", "Bob");
    xmpp_el_attr_set(a, it, "subscription", "both"); /* ignored */
    group_add(a, it, "Friends");
    group_add(a, it, "Work");
    assert_string_equal(parse_cond(a, q, &set), "ok");
    assert_string_equal(set.jid, "bob@example.com");
    assert_string_equal(set.name, "Bob");
    assert_int_equal(set.ngroups, 2);
    assert_string_equal(set.groups[1], "Work");
    assert_false(set.remove);

    q = query_new(a); /* no item */
    assert_string_equal(parse_cond(a, q, &set), "bad-request");
    q = query_new(a); /* two items */
    item_new(a, q, "a@x");
    item_new(a, q, "b@x");
    assert_string_equal(parse_cond(a, q, &set), "bad-request");
    q = query_new(a); /* no jid */
    item_new(a, q, NULL);
    assert_string_equal(parse_cond(a, q, &set), "bad-request");
    q = query_new(a);
    item_new(a, q, "a@@x");
    assert_string_equal(parse_cond(a, q, &set), "jid-malformed");
    q = query_new(a);
    item_new(a, q, "a@x/res");
    assert_string_equal(parse_cond(a, q, &set), "bad-request");
    q = query_new(a); /* duplicate group */
    it = item_new(a, q, "a@x");
    group_add(a, it, "G");
    group_add(a, it, "G");
    assert_string_equal(parse_cond(a, q, &set), "bad-request");
    q = query_new(a); /* empty group */
    it = item_new(a, q, "a@x");
    xmpp_el_child_new(a, it, "group", NULL);
    assert_string_equal(parse_cond(a, q, &set), "not-acceptable");
    q = query_new(a); /* name too long */
    memset(big, 'n', sizeof(big) - 1);
    big[sizeof(big) - 1] = '\0';
    it = item_new(a, q, "a@x");
    xmpp_el_attr_set(a, it, "name", big);
    assert_string_equal(parse_cond(a, q, &set), "not-acceptable");
    q = query_new(a); /* too many groups */
    it = item_new(a, q, "a@x");
    for (int i = 0; i <= STORE_ROSTER_GROUPS_MAX; i++)
        group_add(a, it, arena_printf(a, "g%d", i));
    assert_string_equal(parse_cond(a, q, &set), "not-acceptable");
    q = query_new(a); /* wrong child */
    xmpp_el_child_new(a, q, "thing", NULL);
    assert_string_equal(parse_cond(a, q, &set), "bad-request");
    q = query_new(a); /* remove ignores the rest */
    it = item_new(a, q, "a@x");
    xmpp_el_attr_set(a, it, "subscription", "remove");
    xmpp_el_attr_set(a, it, "name", big);
    assert_string_equal(parse_cond(a, q, &set), "ok");
    assert_true(set.remove);
    q = query_new(a); /* a domain JID is a valid contact */
    item_new(a, q, "example.org");
    assert_string_equal(parse_cond(a, q, &set), "ok");
    assert_null(set.name);
    arena_free(a);
}

static void test_item_el(void **state)
{
    struct arena *a = arena_new(0);
    char *groups[] = {"A&B", "C"};
    struct store_roster_item it = {.jid = "bob@x", .name = "Bob <the> 'one'", .groups = groups,
                                   .ngroups = 2, .sub = STORE_SUB_TO, .ask = true};
    struct buf b;
    (void)state;

    buf_init(&b, 0);
    assert_int_equal(xmpp_el_serialize(xmpp_roster_item_el(a, &it, false), XMPP_NS_ROSTER, &b),
                     TD_OK);
    assert_non_null(strstr(b.data, "jid=\"bob@x\"") ? b.data : strstr(b.data, "jid='bob@x'"));
    assert_non_null(strstr(b.data, "subscription"));
    assert_non_null(strstr(b.data, "to"));
    assert_non_null(strstr(b.data, "ask"));
    assert_non_null(strstr(b.data, "A&amp;B"));
    assert_non_null(strstr(b.data, "&lt;the&gt;"));
    assert_null(strstr(b.data, "approved"));
    buf_reset(&b);
    assert_int_equal(xmpp_el_serialize(xmpp_roster_item_el(a, &it, true), XMPP_NS_ROSTER, &b),
                     TD_OK);
    assert_non_null(strstr(b.data, "remove"));
    assert_null(strstr(b.data, "group"));
    assert_null(strstr(b.data, "name"));
    buf_free(&b);
    arena_free(a);
}

/* ---- the store ---- */

static int setup(void **state)
{
    struct store_fx *f = calloc(1, sizeof(*f));

    if (f == NULL || store_fx_open(f, "test_xmpp_roster") != 0)
        return -1;
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    store_fx_close(*state);
    free(*state);
    return 0;
}

static int count_cb(void *ud, const struct store_roster_item *it)
{
    (void)it;
    (*(int *)ud)++;
    return 0;
}

static void test_store_roster(void **state)
{
    struct store_fx *f = *state;
    char *groups[] = {"Friends", "\"quoted\" \\ group"};
    struct store_roster_item it = {.jid = "bob@localhost", .name = "Bob", .groups = groups,
                                   .ngroups = 2, .sub = STORE_SUB_TO, .ask = false,
                                   .in_roster = true};
    struct store_roster_item got;
    int n = 0;

    assert_int_equal(store_roster_get(f->st, f->alice, "bob@localhost", &got), TD_ENOTFOUND);
    assert_int_equal(store_roster_put(f->st, f->alice, &it), TD_OK);
    assert_int_equal(store_roster_get(f->st, f->alice, "bob@localhost", &got), TD_OK);
    assert_string_equal(got.jid, "bob@localhost");
    assert_string_equal(got.name, "Bob");
    assert_int_equal(got.ngroups, 2);
    assert_string_equal(got.groups[1], "\"quoted\" \\ group");
    assert_int_equal(got.sub, STORE_SUB_TO);
    assert_true(got.in_roster);
    assert_false(got.pending_in);
    store_roster_item_clear(&got);
    /* update: pending in with its stanza, no name */
    it.name = NULL;
    it.ngroups = 0;
    it.pending_in = true;
    it.pending_stanza = "<presence type='subscribe'/>";
    assert_int_equal(store_roster_put(f->st, f->alice, &it), TD_OK);
    assert_int_equal(store_roster_get(f->st, f->alice, "bob@localhost", &got), TD_OK);
    assert_null(got.name);
    assert_int_equal(got.ngroups, 0);
    assert_true(got.pending_in);
    assert_string_equal(got.pending_stanza, "<presence type='subscribe'/>");
    store_roster_item_clear(&got);
    /* another account's roster is separate */
    assert_int_equal(store_roster_get(f->st, f->bob, "bob@localhost", &got), TD_ENOTFOUND);
    assert_int_equal(store_roster_list(f->st, f->alice, count_cb, &n), TD_OK);
    assert_int_equal(n, 1);
    /* bad input */
    it.jid = "";
    assert_int_equal(store_roster_put(f->st, f->alice, &it), TD_EINVAL);
    it.jid = "x@y";
    it.ngroups = STORE_ROSTER_GROUPS_MAX + 1;
    assert_int_equal(store_roster_put(f->st, f->alice, &it), TD_EINVAL);
    it.ngroups = 0;
    it.sub = 7;
    assert_int_equal(store_roster_put(f->st, f->alice, &it), TD_EINVAL);
    it.sub = 0;
    assert_int_equal(store_roster_put(f->st, 999999, &it), TD_ENOTFOUND);
    /* delete */
    assert_int_equal(store_roster_delete(f->st, f->alice, "bob@localhost"), TD_OK);
    assert_int_equal(store_roster_delete(f->st, f->alice, "bob@localhost"), TD_OK);
    assert_int_equal(store_roster_get(f->st, f->alice, "bob@localhost", &got), TD_ENOTFOUND);
}

static void test_store_roster_limit(void **state)
{
    struct store_fx *f = *state;
    struct store_roster_item it = {.in_roster = true};
    char jid[32];

    assert_int_equal(store_begin(f->st), TD_OK);
    for (int i = 0; i < STORE_ROSTER_MAX; i++) {
        snprintf(jid, sizeof(jid), "c%d@x", i);
        it.jid = jid;
        assert_int_equal(store_roster_put(f->st, f->alice, &it), TD_OK);
    }
    assert_int_equal(store_commit(f->st), TD_OK);
    it.jid = "one-more@x";
    assert_int_equal(store_roster_put(f->st, f->alice, &it), TD_ELIMIT);
    /* a pending-only row still fits, and updating an existing item is fine */
    it.in_roster = false;
    it.pending_in = true;
    assert_int_equal(store_roster_put(f->st, f->alice, &it), TD_OK);
    it.in_roster = true;
    assert_int_equal(store_roster_put(f->st, f->alice, &it), TD_ELIMIT);
    it.jid = "c5@x";
    it.sub = STORE_SUB_BOTH;
    assert_int_equal(store_roster_put(f->st, f->alice, &it), TD_OK);
}

struct off {
    int n;
    int64_t last;
    char first[64];
};

static int off_cb(void *ud, int64_t id, const char *stanza, int64_t stamp)
{
    struct off *o = ud;
    if (o->n == 0)
        snprintf(o->first, sizeof(o->first), "%s", stanza);
    assert_true(id > o->last);
    assert_true(stamp > 0);
    o->last = id;
    o->n++;
    return 0;
}

static void test_store_offline(void **state)
{
    struct store_fx *f = *state;
    struct off o = {0};
    int64_t n;
    char msg[64];

    assert_int_equal(store_offline_add(f->st, f->bob, "", 1), TD_EINVAL);
    assert_int_equal(store_offline_add(f->st, 999999, "<message/>", 1), TD_ENOTFOUND);
    assert_int_equal(store_begin(f->st), TD_OK);
    for (int i = 0; i < STORE_OFFLINE_MAX; i++) {
        snprintf(msg, sizeof(msg), "<message id='%d'/>", i);
        assert_int_equal(store_offline_add(f->st, f->bob, msg, 1000 + i), TD_OK);
    }
    assert_int_equal(store_commit(f->st), TD_OK);
    /* full: refused, nothing dropped */
    assert_int_equal(store_offline_add(f->st, f->bob, "<message id='x'/>", 5), TD_ELIMIT);
    assert_int_equal(store_offline_count(f->st, f->bob, &n), TD_OK);
    assert_int_equal(n, STORE_OFFLINE_MAX);
    assert_int_equal(store_offline_count(f->st, f->alice, &n), TD_OK);
    assert_int_equal(n, 0);
    assert_int_equal(store_offline_list(f->st, f->bob, off_cb, &o), TD_OK);
    assert_int_equal(o.n, STORE_OFFLINE_MAX);
    assert_string_equal(o.first, "<message id='0'/>");
    /* delete up to what was delivered; a later one would survive */
    assert_int_equal(store_offline_delete(f->st, f->bob, o.last - 1), TD_OK);
    assert_int_equal(store_offline_count(f->st, f->bob, &n), TD_OK);
    assert_int_equal(n, 1);
    assert_int_equal(store_offline_delete(f->st, f->bob, o.last), TD_OK);
    assert_int_equal(store_offline_count(f->st, f->bob, &n), TD_OK);
    assert_int_equal(n, 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_outbound_table),
        cmocka_unit_test(test_inbound_table),
        cmocka_unit_test(test_preapproval),
        cmocka_unit_test(test_type_names),
        cmocka_unit_test(test_set_parse),
        cmocka_unit_test(test_item_el),
        cmocka_unit_test_setup_teardown(test_store_roster, setup, teardown),
        cmocka_unit_test_setup_teardown(test_store_roster_limit, setup, teardown),
        cmocka_unit_test_setup_teardown(test_store_offline, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
