/*
 * test_tree_queue.c - a Tree collection's queue under faults and churn:
 * blocks created and deleted before any commit are never sent (no
 * "delete with no base" refusals), a sync of staged chunks alone keeps an
 * action queued meanwhile, and a replay that fails half way is redone
 * before anything reads or commits (found in review).
 */
#include <stdio.h>
#include <string.h>

#include <criterion/criterion.h>

#include "coll/collutil.h"
#include "core/tree.h"
#include "util/testutil.h"

static struct ot_env env;
static void
setup(void)
{
	ot_env_open(&env, "review");
}
static void
teardown(void)
{
	ot_env_close(&env);
}
static void
ok(o_err e, const char *w)
{
	cr_assert_eq(e, O_OK, "%s: %s (%s)", w, o_errname(e), o_err_detail());
}

/* A transactor that records partial commits and can fail leaf reads or act
 * during pend. */
struct rx {
	struct oc_transactor  base, *in;
	int                   refused, commits, fail_leaves;
	struct oc_collection *act_on_pend;
};
#define RX(t) ((struct rx *) (t))
static o_err
rx_get(struct oc_transactor *t, const struct oc_bid *ids, size_t n,
    const struct oc_actx *ctx, struct oc_get_res *out)
{
	o_err e = RX(t)->in->ops->get(RX(t)->in, ids, n, ctx, out);
	for (size_t i = 0; e == O_OK && i < n; i++)
		if (RX(t)->fail_leaves && out[i].state == OC_GET_BLOCK &&
		    oc_block_type(&out[i].block) &&
		    strcmp(oc_block_type(&out[i].block), OC_BT_LEAF) == 0) {
			oc_get_res_fini(&out[i]);
			oc_get_res_init(&out[i]);
			out[i].id    = ids[i];
			out[i].state = OC_GET_UNKNOWN;
			out[i].cause = O_EUNAVAIL;
		}
	return e;
}
static o_err
rx_pend(
    struct oc_transactor *t, const struct oc_pend_req *r, struct oc_txres *res)
{
	struct oc_collection *c = RX(t)->act_on_pend;
	if (c != NULL) {
		RX(t)->act_on_pend = NULL;
		ok(oc_tree_put(c, "late", 4, "v", 1), "act during pend");
	}
	return RX(t)->in->ops->pend(RX(t)->in, r, res);
}
static o_err
rx_commit(struct oc_transactor *t, const struct oc_commit_req *r,
    struct oc_txres *res)
{
	o_err e = RX(t)->in->ops->commit(RX(t)->in, r, res);
	RX(t)->commits++;
	if (e == O_OK && strstr(res->reason, "not committed") != NULL)
		RX(t)->refused++;
	return e;
}
static o_err
rx_cancel(struct oc_transactor *t, const struct oc_aid *a,
    const struct oc_bid *ids, size_t n)
{
	return RX(t)->in->ops->cancel(RX(t)->in, a, ids, n);
}
static o_err
rx_status(struct oc_transactor *t, const struct oc_aid *a, int64_t rev,
    const struct oc_bid *ids, size_t n, uint8_t *o)
{
	return RX(t)->in->ops->status(RX(t)->in, a, rev, ids, n, o);
}
static const struct oc_transactor_ops rx_ops = { rx_get, rx_pend, rx_commit,
	rx_cancel, rx_status, NULL, NULL };
static void
rx_init(struct rx *x)
{
	memset(x, 0, sizeof(*x));
	x->base.ops = &rx_ops;
	x->in       = env.tx;
}

static void
committed_count(const struct oc_bid *id, uint64_t want)
{
	struct oc_collection *d;
	uint64_t              n;
	ok(oc_tree_open(env.tx, id, false, NULL, &d), "reopen");
	ok(oc_tree_check(d), "check");
	ok(oc_tree_count(d, &n), "count");
	cr_expect_eq(n, want, "committed count %llu, want %llu",
	    (unsigned long long) n, (unsigned long long) want);
	oc_coll_free(d);
}

/* Blocks created and deleted before their first commit must not reach the
 * store as deletes with no base ("N of M block(s) not committed"). */
Test(tree_queue, created_then_deleted_before_commit_is_not_sent, .init = setup,
    .fini = teardown)
{
	static char           big[9000];
	struct rx             x;
	struct oc_collection *c;
	struct oc_bid         id;
	struct oc_tree_kv     kv[160];
	char                  k[16], ks[160][8];
	int                   i;

	rx_init(&x);
	oc_bid_random(&id);
	memset(big, 'x', sizeof(big));
	ok(oc_tree_open(&x.base, &id, true, NULL, &c), "open");
	ok(oc_coll_sync(c), "create");
	/* a chunked value replaced before it was committed */
	ok(oc_tree_put(c, "a", 1, big, sizeof(big)), "big");
	ok(oc_tree_put(c, "a", 1, "small", 5), "replace");
	ok(oc_coll_sync(c), "sync chunk");
	/* a leaf split off and merged back within one batch, across actions */
	for (i = 0; i < 80; i++) {
		snprintf(k, sizeof(k), "k%03d", i);
		ok(oc_tree_put(c, k, 4, "v", 1), "put");
	}
	for (i = 0; i < 80; i++) {
		snprintf(k, sizeof(k), "k%03d", i);
		ok(oc_tree_del(c, k, 4), "del");
	}
	ok(oc_coll_sync(c), "sync split+merge");
	/* ... and within one action */
	for (i = 0; i < 160; i++) {
		snprintf(ks[i], sizeof(ks[i]), "k%03d", i % 80);
		kv[i] = (struct oc_tree_kv) {
			.key = ks[i], .klen = 4, .val = "v", .vlen = 1, .del = i >= 80
		};
	}
	ok(oc_tree_replace(c, kv, 160), "one action");
	ok(oc_coll_sync(c), "sync one action");
	cr_expect_eq(
	    x.refused, 0, "%d commit(s) had refused blocks", x.refused);
	cr_expect_eq(oc_coll_npending(c), 0);
	oc_coll_free(c);
	committed_count(&id, 1);
}

/* f1e21b3: a sync that commits only staged chunks while an act lands during
 * its I/O. */
Test(tree_queue, chunk_only_sync_keeps_an_action_queued_during_io,
    .init = setup, .fini = teardown, .timeout = 20)
{
	struct rx             x;
	struct oc_collection *c;
	struct oc_bid         id;
	struct oc_val         ref;
	rx_init(&x);
	oc_bid_random(&id);
	ok(oc_tree_open(&x.base, &id, true, NULL, &c), "open");
	ok(oc_coll_sync(c), "create");
	ref = oc_coll_chunk(c, "data", 4);
	oc_val_fini(&ref);
	x.act_on_pend = c;
	ok(oc_coll_sync(c), "chunk-only sync");
	ok(oc_coll_sync(c), "sync the late act");
	cr_expect_eq(oc_coll_npending(c), 0);
	oc_coll_free(c);
	committed_count(&id, 1);
}

/* A replay that fails half way (a read could not tell) must not lose the
 * queue: the next sync commits the action, in a bounded number of commits. */
Test(tree_queue, failed_replay_then_sync_commits_the_queue, .init = setup,
    .fini = teardown, .timeout = 30)
{
	struct rx             x;
	struct oc_collection *a, *b;
	struct oc_bid         id;
	struct oc_sync_opts   o;
	struct o_buf          v     = { 0 };
	bool                  found = false;
	uint64_t              n;
	rx_init(&x);
	oc_bid_random(&id);
	ok(oc_tree_open(env.tx, &id, true, NULL, &a), "A");
	ok(oc_tree_put(a, "k1", 2, "1", 1), "k1");
	ok(oc_coll_sync(a), "syncA");
	memset(&o, 0, sizeof(o));
	o.deadline_ms = 3000;
	ok(oc_tree_open(&x.base, &id, false, &o, &b), "B");
	ok(oc_tree_put(b, "k2", 2, "2", 1), "k2");
	ok(oc_tree_put(a, "k3", 2, "3", 1), "k3");
	ok(oc_coll_sync(a), "syncA2");
	x.fail_leaves = 1;
	cr_expect_neq(oc_coll_update(b), O_OK, "replay should fail");
	x.fail_leaves = 0;
	ok(oc_tree_get(b, "k2", 2, &v, &found), "get");
	cr_expect(found, "the queued k2 vanished from B's view");
	ok(oc_tree_count(b, &n), "count");
	cr_expect_eq(n, 3);
	x.commits = 0;
	ok(oc_coll_sync(b), "sync B");
	cr_expect_leq(x.commits, 2, "%d commits for one action", x.commits);
	oc_coll_free(b);
	oc_coll_free(a);
	committed_count(&id, 3);
	o_buf_fini(&v);
}
