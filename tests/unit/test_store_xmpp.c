/* SPDX-License-Identifier: MIT */
/* Unit tests for store/store_sqlite_xmpp (store_xmpp.h): the blocklist with
 * its limit and idempotent add, the vCard row, PEP nodes (limit, config
 * change trimming items), items (replace makes newest, max_items trimming,
 * the per-account byte limit, retract, lookups). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/err.h"
#include "store/store.h"
#include "store/store_xmpp.h"
#include "store_fixture.h"

static int setup(void **state)
{
    struct store_fx *f = calloc(1, sizeof(*f));

    if (f == NULL || store_fx_open(f, "test_store_xmpp") != 0)
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

struct strs {
    int n;
    char v[8][64];
};

static int block_cb(void *ud, const char *jid)
{
    struct strs *s = ud;
    if (s->n < 8)
        snprintf(s->v[s->n], sizeof(s->v[0]), "%s", jid);
    s->n++;
    return 0;
}

static void test_blocklist(void **state)
{
    struct store_fx *f = *state;
    struct strs s = {0};
    char jid[64];

    assert_int_equal(store_block_add(f->st, f->alice, ""), TD_EINVAL);
    assert_int_equal(store_block_add(f->st, 987654321, "x@y"), TD_ENOTFOUND);
    assert_int_equal(store_block_add(f->st, f->alice, "bob@localhost"), TD_OK);
    assert_int_equal(store_block_add(f->st, f->alice, "bob@localhost"), TD_OK); /* idempotent */
    assert_int_equal(store_block_add(f->st, f->alice, "example.org"), TD_OK);
    assert_int_equal(store_block_list(f->st, f->alice, block_cb, &s), TD_OK);
    assert_int_equal(s.n, 2);
    assert_string_equal(s.v[0], "bob@localhost");
    assert_string_equal(s.v[1], "example.org");
    memset(&s, 0, sizeof(s));
    assert_int_equal(store_block_list(f->st, f->bob, block_cb, &s), TD_OK);
    assert_int_equal(s.n, 0);
    assert_int_equal(store_block_remove(f->st, f->alice, "bob@localhost"), TD_OK);
    assert_int_equal(store_block_remove(f->st, f->alice, "bob@localhost"), TD_OK);
    memset(&s, 0, sizeof(s));
    assert_int_equal(store_block_list(f->st, f->alice, block_cb, &s), TD_OK);
    assert_int_equal(s.n, 1);
    /* the limit */
    assert_int_equal(store_begin(f->st), TD_OK);
    for (int i = 1; i < STORE_BLOCK_MAX; i++) {
        snprintf(jid, sizeof(jid), "u%d@example.com", i);
        assert_int_equal(store_block_add(f->st, f->alice, jid), TD_OK);
    }
    assert_int_equal(store_commit(f->st), TD_OK);
    assert_int_equal(store_block_add(f->st, f->alice, "one-more@example.com"), TD_ELIMIT);
    assert_int_equal(store_block_add(f->st, f->alice, "u1@example.com"), TD_OK); /* present */
    assert_int_equal(store_block_clear(f->st, f->alice), TD_OK);
    memset(&s, 0, sizeof(s));
    assert_int_equal(store_block_list(f->st, f->alice, block_cb, &s), TD_OK);
    assert_int_equal(s.n, 0);
}

static void test_vcard(void **state)
{
    struct store_fx *f = *state;
    char *v, *h;
    char *big = malloc(STORE_VCARD_MAX + 2);

    assert_int_equal(store_vcard_get(f->st, f->alice, &v, &h), TD_ENOTFOUND);
    assert_null(v);
    assert_int_equal(store_vcard_set(f->st, f->alice, "", NULL), TD_EINVAL);
    memset(big, 'x', STORE_VCARD_MAX + 1);
    big[STORE_VCARD_MAX + 1] = '\0';
    assert_int_equal(store_vcard_set(f->st, f->alice, big, NULL), TD_EINVAL);
    big[STORE_VCARD_MAX] = '\0';
    assert_int_equal(store_vcard_set(f->st, f->alice, big, NULL), TD_OK);
    free(big);
    assert_int_equal(store_vcard_set(f->st, f->alice, "<vCard xmlns='vcard-temp'/>", NULL), TD_OK);
    assert_int_equal(store_vcard_get(f->st, f->alice, &v, &h), TD_OK);
    assert_string_equal(v, "<vCard xmlns='vcard-temp'/>");
    assert_string_equal(h, "");
    free(v);
    free(h);
    assert_int_equal(store_vcard_set(f->st, f->alice, "<vCard xmlns='vcard-temp'><FN>A</FN></vCard>",
                                     "0123456789abcdef0123456789abcdef01234567"), TD_OK);
    assert_int_equal(store_vcard_get(f->st, f->alice, NULL, &h), TD_OK);
    assert_string_equal(h, "0123456789abcdef0123456789abcdef01234567");
    free(h);
    assert_int_equal(store_vcard_get(f->st, f->bob, &v, NULL), TD_ENOTFOUND);
    assert_int_equal(store_vcard_set(f->st, 987654321, "<v/>", NULL), TD_ENOTFOUND);
}

struct items {
    int n;
    char id[8][32];
    char payload[8][64];
};

static int item_cb(void *ud, const char *id, const char *payload, int64_t at)
{
    struct items *it = ud;
    assert_true(at > 0);
    if (it->n < 8) {
        snprintf(it->id[it->n], sizeof(it->id[0]), "%s", id);
        snprintf(it->payload[it->n], sizeof(it->payload[0]), "%s", payload);
    }
    it->n++;
    return 0;
}

static int node_cb(void *ud, const struct store_pep_node *n)
{
    struct strs *s = ud;
    if (s->n < 8)
        snprintf(s->v[s->n], sizeof(s->v[0]), "%s/%d/%d", n->node, n->access, n->max_items);
    s->n++;
    return 0;
}

static void test_pep(void **state)
{
    struct store_fx *f = *state;
    struct store_pep_node n = {.node = "urn:xmpp:avatar:data", .access = STORE_PEP_OPEN,
                               .max_items = 3};
    struct store_pep_node got;
    struct items it = {0};
    struct strs s = {0};
    char name[32];

    assert_int_equal(store_pep_item_publish(f->st, f->alice, "nope", "1", "<x/>", 5),
                     TD_ENOTFOUND);
    assert_int_equal(store_pep_node_get(f->st, f->alice, n.node, &got), TD_ENOTFOUND);
    assert_int_equal(store_pep_node_put(f->st, f->alice, &n), TD_OK);
    assert_int_equal(store_pep_node_get(f->st, f->alice, n.node, &got), TD_OK);
    assert_int_equal(got.access, STORE_PEP_OPEN);
    assert_int_equal(got.max_items, 3);
    n.max_items = STORE_PEP_MAX_ITEMS + 1;
    assert_int_equal(store_pep_node_put(f->st, f->alice, &n), TD_EINVAL);
    n.max_items = 3;
    n.access = 7;
    assert_int_equal(store_pep_node_put(f->st, f->alice, &n), TD_EINVAL);
    n.access = STORE_PEP_OPEN;
    /* four items into three places: the first goes */
    assert_int_equal(store_pep_item_publish(f->st, f->alice, n.node, "a", "<p>a</p>", 1), TD_OK);
    assert_int_equal(store_pep_item_publish(f->st, f->alice, n.node, "b", "<p>b</p>", 2), TD_OK);
    assert_int_equal(store_pep_item_publish(f->st, f->alice, n.node, "c", "<p>c</p>", 3), TD_OK);
    assert_int_equal(store_pep_item_publish(f->st, f->alice, n.node, "d", "<p>d</p>", 4), TD_OK);
    assert_int_equal(store_pep_items_latest(f->st, f->alice, n.node, 10, item_cb, &it), TD_OK);
    assert_int_equal(it.n, 3);
    assert_string_equal(it.id[0], "d");
    assert_string_equal(it.id[2], "b");
    /* republishing b makes it the newest with the new payload */
    assert_int_equal(store_pep_item_publish(f->st, f->alice, n.node, "b", "<p>B</p>", 5), TD_OK);
    memset(&it, 0, sizeof(it));
    assert_int_equal(store_pep_items_latest(f->st, f->alice, n.node, 1, item_cb, &it), TD_OK);
    assert_int_equal(it.n, 1);
    assert_string_equal(it.id[0], "b");
    assert_string_equal(it.payload[0], "<p>B</p>");
    memset(&it, 0, sizeof(it));
    assert_int_equal(store_pep_item_get(f->st, f->alice, n.node, "c", item_cb, &it), TD_OK);
    assert_string_equal(it.payload[0], "<p>c</p>");
    assert_int_equal(store_pep_item_get(f->st, f->alice, n.node, "a", item_cb, &it),
                     TD_ENOTFOUND);
    assert_int_equal(store_pep_item_get(f->st, f->bob, n.node, "c", item_cb, &it), TD_ENOTFOUND);
    /* a smaller max_items trims */
    n.max_items = 1;
    assert_int_equal(store_pep_node_put(f->st, f->alice, &n), TD_OK);
    memset(&it, 0, sizeof(it));
    assert_int_equal(store_pep_items_latest(f->st, f->alice, n.node, 10, item_cb, &it), TD_OK);
    assert_int_equal(it.n, 1);
    assert_string_equal(it.id[0], "b");
    /* retract */
    assert_int_equal(store_pep_item_retract(f->st, f->alice, n.node, "zz"), TD_ENOTFOUND);
    assert_int_equal(store_pep_item_retract(f->st, f->alice, n.node, "b"), TD_OK);
    memset(&it, 0, sizeof(it));
    assert_int_equal(store_pep_items_latest(f->st, f->alice, n.node, 10, item_cb, &it), TD_OK);
    assert_int_equal(it.n, 0);
    /* bad ids and payloads */
    assert_int_equal(store_pep_item_publish(f->st, f->alice, n.node, "", "<x/>", 1), TD_EINVAL);
    assert_int_equal(store_pep_item_publish(f->st, f->alice, n.node, "x", "", 1), TD_EINVAL);
    /* the node limit */
    for (int i = 1; i < STORE_PEP_NODES_MAX; i++) {
        struct store_pep_node m = {.node = name, .access = 0, .max_items = 1};
        snprintf(name, sizeof(name), "urn:n:%d", i);
        assert_int_equal(store_pep_node_put(f->st, f->alice, &m), TD_OK);
    }
    struct store_pep_node extra = {.node = "urn:n:extra", .access = 0, .max_items = 1};
    assert_int_equal(store_pep_node_put(f->st, f->alice, &extra), TD_ELIMIT);
    assert_int_equal(store_pep_node_put(f->st, f->alice, &n), TD_OK); /* existing: fine */
    assert_int_equal(store_pep_node_list(f->st, f->alice, node_cb, &s), TD_OK);
    assert_int_equal(s.n, STORE_PEP_NODES_MAX);
    assert_int_equal(store_pep_node_delete(f->st, f->alice, "urn:n:1"), TD_OK);
    assert_int_equal(store_pep_node_delete(f->st, f->alice, "urn:n:1"), TD_ENOTFOUND);
    assert_int_equal(store_pep_node_put(f->st, f->alice, &extra), TD_OK);
}

static void test_pep_bytes(void **state)
{
    struct store_fx *f = *state;
    struct store_pep_node n = {.node = "big", .access = 0, .max_items = STORE_PEP_MAX_ITEMS};
    char *p = malloc(STORE_PEP_PAYLOAD_MAX + 1);
    char id[16];
    int i;

    memset(p, 'x', STORE_PEP_PAYLOAD_MAX);
    p[STORE_PEP_PAYLOAD_MAX] = '\0';
    assert_int_equal(store_pep_node_put(f->st, f->bob, &n), TD_OK);
    for (i = 0; i < STORE_PEP_BYTES_MAX / STORE_PEP_PAYLOAD_MAX; i++) {
        snprintf(id, sizeof(id), "%d", i);
        assert_int_equal(store_pep_item_publish(f->st, f->bob, "big", id, p, 1), TD_OK);
    }
    assert_int_equal(store_pep_item_publish(f->st, f->bob, "big", "last", p, 1), TD_ELIMIT);
    /* replacing an item does not count it twice */
    assert_int_equal(store_pep_item_publish(f->st, f->bob, "big", "0", p, 2), TD_OK);
    /* deleting the node frees the bytes */
    assert_int_equal(store_pep_node_delete(f->st, f->bob, "big"), TD_OK);
    assert_int_equal(store_pep_node_put(f->st, f->bob, &n), TD_OK);
    assert_int_equal(store_pep_item_publish(f->st, f->bob, "big", "last", p, 1), TD_OK);
    free(p);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_blocklist, setup, teardown),
        cmocka_unit_test_setup_teardown(test_vcard, setup, teardown),
        cmocka_unit_test_setup_teardown(test_pep, setup, teardown),
        cmocka_unit_test_setup_teardown(test_pep_bytes, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
