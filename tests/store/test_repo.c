/*
 * test_repo.c - the block repository against the behaviours of
 * reference/optimystic-digest.md section 10.8 (test names carry the item
 * number: d59_... is item 59), plus our own rules from DESIGN.md sections
 * 3-4 (expiry, group commit, corruption, status).
 *
 * Not ported (no such API in optimfs' store): item 69 (change events: the
 * change feed is published by transport/), item 72 (saveReplica /
 * saveDeletion: replica repair lives in transport/), item 74 (mergeRanges:
 * we keep every revision and find materialisations with seek_for_prev, so
 * there are no ranges), and the restore callback of item 70.  Item 71's
 * pruning is adapted: history is pruned at materialisations (repo.h,
 * "History"); the gc_ tests check the bound and that nothing below it
 * reads as absent.
 */
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <criterion/criterion.h>

#include "core/block.h"
#include "core/codec.h"
#include "core/o_util.h"
#include "core/transactor.h"
#include "store/local.h"
#include "store/rdb.h"
#include "store/repo.h"
#include "util/testutil.h"

/* ---- fixture --------------------------------------------------------- */

static int64_t              fake_now = 1000000;
static char                *dir;
static struct ost_repo     *R;
static struct ost_repo_opts opts;
/* Commits sent by the helpers are marked resendable (as a peer's are:
 * transport/exec.c), or not (in process: the default, reset by
 * setup). */
static bool resent;

static int64_t
fake_clock(void *arg)
{
	(void) arg;
	return __atomic_load_n(&fake_now, __ATOMIC_SEQ_CST);
}

static void
repo_reopen(void)
{
	if (R != NULL)
		ost_repo_close(R);
	R = NULL;
	cr_assert_eq(
	    ost_repo_open(dir, &opts, &R), O_OK, "open: %s", o_err_detail());
}

static void
setup(void)
{
	dir = ot_tmpdir("repo");
	memset(&opts, 0, sizeof(opts));
	opts.clock = fake_clock;
	R          = NULL;
	resent     = false;
	repo_reopen();
}

static void
teardown(void)
{
	ost_repo_close(R);
	R = NULL;
	ot_rmtree_free(dir);
}

TestSuite(repo, .init = setup, .fini = teardown, .timeout = 60);

/* ---- helpers ----------------------------------------------------------- */

static struct oc_bid
bid(int n)
{
	struct oc_bid b;

	memset(&b, 0x5a, sizeof(b));
	b.b[0] = (uint8_t) (n >> 8);
	b.b[1] = (uint8_t) n;
	return b;
}

static struct oc_aid
aid(int n)
{
	struct oc_aid a;

	memset(&a, 0xa5, sizeof(a));
	a.b[0] = (uint8_t) (n >> 8);
	a.b[1] = (uint8_t) n;
	return a;
}

static struct oc_val
leaf(int n, int64_t v)
{
	struct oc_bid id = bid(n), col = bid(9999);
	struct oc_val b = oc_block_new(&id, OC_BT_LEAF, &col);

	oc_map_set(&b, "entries", oc_array());
	oc_map_set(&b, "v", oc_int(v));
	return b;
}

static void
t_ins(struct oc_tfs *t, int n, int64_t v)
{
	oc_tfs_insert(t, leaf(n, v));
}

static void
t_set(struct oc_tfs *t, int n, int64_t v)
{
	struct oc_bid id = bid(n);

	cr_assert_eq(oc_tfs_update(t, &id, oc_op_set("v", oc_int(v))), O_OK);
}

static void
t_push(struct oc_tfs *t, int n, uint32_t at, int64_t item)
{
	struct oc_bid id = bid(n);
	struct oc_val a  = oc_array();

	oc_arr_push(&a, oc_int(item));
	cr_assert_eq(
	    oc_tfs_update(t, &id, oc_op_splice("entries", at, 0, a)), O_OK);
}

static void
t_del(struct oc_tfs *t, int n)
{
	struct oc_bid id = bid(n);

	oc_tfs_delete(t, &id);
}

/* a pend of t by action a at rev, nothing else set */
static struct oc_pend_req
pend_req(int a, int64_t rev, const struct oc_tfs *t, uint8_t policy)
{
	struct oc_pend_req req;

	memset(&req, 0, sizeof(req));
	req.aid    = aid(a);
	req.rev    = rev;
	req.tfs    = t;
	req.policy = policy;
	return req;
}

/* base: the revisions t's blocks were computed over (NULL: none) */
static o_err
pend_xb(struct ost_repo *r, int a, int64_t rev, const struct oc_tfs *t,
    uint8_t policy, int64_t ttl, const int64_t *base, struct oc_txres *res)
{
	struct oc_pend_req req = pend_req(a, rev, t, policy);

	req.ttl_ms    = ttl;
	req.base      = base;
	return ost_repo_pend(r, &req, res);
}

static o_err
pend_x(struct ost_repo *r, int a, int64_t rev, const struct oc_tfs *t,
    uint8_t policy, int64_t ttl, struct oc_txres *res)
{
	return pend_xb(r, a, rev, t, policy, ttl, NULL, res);
}

static o_err
pend(int a, int64_t rev, const struct oc_tfs *t, uint8_t policy,
    struct oc_txres *res)
{
	return pend_x(R, a, rev, t, policy, 0, res);
}

/* commit a at rev on blocks ids[0..n), the first critical; resendable
 * as `resent` says */
static o_err
commit_ids(struct ost_repo *r, int a, int64_t rev, const struct oc_bid *ids,
    size_t n, struct oc_txres *res)
{
	struct oc_commit_req req;

	memset(&req, 0, sizeof(req));
	req.aid        = aid(a);
	req.rev        = rev;
	req.ids        = ids;
	req.n          = n;
	req.critical   = ids[0];
	req.resendable = resent;
	return ost_repo_commit(r, &req, res);
}

/* commit a at rev on blocks crit, more... (-1 ends the list) */
static o_err
commit_r(struct ost_repo *r, struct oc_txres *res, int a, int64_t rev,
    int crit, ...)
{
	struct oc_bid ids[64];
	size_t        n = 0;
	va_list       ap;
	int           x;

	ids[n++] = bid(crit);
	va_start(ap, crit);
	while ((x = va_arg(ap, int)) >= 0)
		ids[n++] = bid(x);
	va_end(ap);
	return commit_ids(r, a, rev, ids, n, res);
}

#define cmt(res, a, rev, ...) commit_r(R, res, a, rev, __VA_ARGS__, -1)

/* The commit of a at rev on block b, sent again (resendable) or not,
 * answers want. */
static void
expect_commit1(
    struct oc_txres *res, int a, int64_t rev, int b, bool again, o_err want)
{
	o_err e;

	resent = again;
	e      = cmt(res, a, rev, b);
	cr_expect_eq(e, want, "commit of %d at %lld%s: %s (want %s): %s", a,
	    (long long) rev, again ? " sent again" : "", o_errname(e),
	    o_errname(want), o_err_detail());
}

/* Commit every block of t, the first one critical. */
static o_err
commit_tfs(struct ost_repo *r, int a, int64_t rev, const struct oc_tfs *t,
    struct oc_txres *res)
{
	struct oc_bid *ids = o_malloc(t->n * sizeof(*ids));
	size_t         i;
	o_err          e;

	for (i = 0; i < t->n; i++)
		ids[i] = t->e[i].id;
	e = commit_ids(r, a, rev, ids, t->n, res);
	free(ids);
	return e;
}

/* pend + commit that must succeed; frees t. */
static void
txn_r(struct ost_repo *r, int a, int64_t rev, struct oc_tfs *t)
{
	struct oc_txres res;
	o_err           e;

	oc_txres_init(&res);
	e = pend_x(r, a, rev, t, OC_POLICY_RETURN, 0, &res);
	cr_assert_eq(e, O_OK, "pend a%d rev %lld: %s: %s", a, (long long) rev,
	    o_errname(e), o_err_detail());
	e = commit_tfs(r, a, rev, t, &res);
	cr_assert_eq(e, O_OK, "commit a%d rev %lld: %s: %s", a,
	    (long long) rev, o_errname(e), o_err_detail());
	oc_txres_fini(&res);
	oc_tfs_fini(t);
}

#define txn(a, rev, t) txn_r(R, a, rev, t)

/* Insert block n with value v at rev in one transaction of action a. */
static void
ins1(int a, int64_t rev, int n, int64_t v)
{
	struct oc_tfs t;

	oc_tfs_init(&t);
	t_ins(&t, n, v);
	txn(a, rev, &t);
}

static void
set1(int a, int64_t rev, int n, int64_t v)
{
	struct oc_tfs t;

	oc_tfs_init(&t);
	t_set(&t, n, v);
	txn(a, rev, &t);
}

static struct oc_get_res
get_r(struct ost_repo *r, int n, const struct oc_actx *ctx)
{
	struct oc_bid     id = bid(n);
	struct oc_get_res g;

	cr_assert_eq(ost_repo_get(r, &id, 1, ctx, &g), O_OK);
	return g;
}

#define get1(n, ctx) get_r(R, n, ctx)

static int64_t
val_of(const struct oc_get_res *g)
{
	return oc_map_int(&g->block, "v", -1);
}

/* Expect block n to read as value v at latest rev lr. */
static void
expect_block(int n, int64_t v, int64_t lr)
{
	struct oc_get_res g = get1(n, NULL);

	cr_expect_eq(g.state, OC_GET_BLOCK, "block %d state %d (%s)", n,
	    g.state, g.reason);
	cr_expect_eq(val_of(&g), v, "block %d v=%lld want %lld", n,
	    (long long) val_of(&g), (long long) v);
	cr_expect_eq(g.latest_rev, lr, "block %d latest %lld want %lld", n,
	    (long long) g.latest_rev, (long long) lr);
	cr_expect_eq(g.mat_rev, lr);
	oc_get_res_fini(&g);
}

static uint8_t
status1(int a, int64_t rev, int n)
{
	struct oc_bid id = bid(n);
	struct oc_aid x  = aid(a);
	uint8_t       st = 0xff;

	(void) ost_repo_status(R, &x, rev, &id, 1, &st);
	return st;
}

/* Write raw bytes into a family (the repository must be closed). */
static void
raw_put(enum ost_cf cf, const void *k, size_t kn, const void *v, size_t vn,
    bool del)
{
	struct ost_rdb *db;
	struct ost_wb   wb, *p = &wb;

	cr_assert_eq(ost_rdb_open(dir, &db), O_OK, "%s", o_err_detail());
	ost_wb_init(&wb);
	if (del)
		ost_wb_del(&wb, cf, k, kn);
	else
		ost_wb_put(&wb, cf, k, kn, v, vn);
	cr_assert_eq(ost_rdb_write(db, &p, 1, true), O_OK);
	ost_wb_fini(&wb);
	ost_rdb_close(db);
}

static void
key_rev(uint8_t k[40], int n, int64_t rev)
{
	struct oc_bid id = bid(n);
	int           i;

	memcpy(k, id.b, 32);
	for (i = 0; i < 8; i++)
		k[32 + i] = (uint8_t) ((uint64_t) rev >> (56 - 8 * i));
}

/* Count the records of one block in a family (repository closed). */
static size_t
raw_count(enum ost_cf cf, int n)
{
	struct ost_rdb *db;
	struct ost_it  *it;
	struct oc_bid   id = bid(n);
	size_t          c  = 0, kn;

	cr_assert_eq(ost_rdb_open(dir, &db), O_OK);
	cr_assert_eq(ost_it_open(db, cf, id.b, 32, NULL, 0, &it), O_OK);
	for (ost_it_first(it); ost_it_valid(it); ost_it_next(it)) {
		const uint8_t *k = ost_it_key(it, &kn);

		if (memcmp(k, id.b, 32) != 0)
			break;
		c++;
	}
	ost_it_close(it);
	ost_rdb_close(db);
	return c;
}

/* ---- 59: pend ---------------------------------------------------------- */

Test(repo, d59_pend_new_block)
{
	struct oc_tfs     t;
	struct oc_txres   res;
	struct oc_get_res g;

	oc_tfs_init(&t);
	t_ins(&t, 1, 7);
	oc_txres_init(&res);
	cr_assert_eq(pend(1, 1, &t, OC_POLICY_RETURN, &res), O_OK, "%s",
	    o_err_detail());
	cr_expect_eq(res.nmissing, 0);
	cr_expect_eq(res.npending, 0);
	g = get1(1, NULL);
	cr_expect_eq(g.state, OC_GET_ABSENT, "pending-only reads absent");
	cr_expect_eq(g.npend, 1);
	oc_get_res_fini(&g);
	cr_expect_eq(status1(1, 1, 1), OC_ST_PENDING);
	oc_txres_fini(&res);
	oc_tfs_fini(&t);
}

/*
 * Compare and set: an update names the revision it was computed over
 * (docs/PROTOCOL.md §4).  A replica that holds the block at an older
 * revision refuses (O_EBEHIND) and stores nothing; one that holds a newer
 * revision below the pend's refuses as stale, from the base on; at the
 * base it accepts.  Without the check a replica that missed rev 3 took
 * the update and applied it over rev 2.
 */
Test(repo, an_update_names_its_base_and_a_replica_behind_refuses)
{
	struct oc_txres       res;
	struct oc_tfs         t;
	struct ost_repo_stats st;
	struct oc_get_res     g;
	int64_t               base = 3;
	o_err                 e;

	ins1(1, 1, 1, 10);
	set1(2, 2, 1, 20); /* block 1: rev 2; a writer thinks rev 3 */
	oc_tfs_init(&t);
	t_set(&t, 1, 40);
	oc_txres_init(&res);
	e = pend_xb(R, 4, 4, &t, OC_POLICY_RETURN, 0, &base, &res);
	cr_assert_eq(e, O_EBEHIND, "%s: %s", o_errname(e), o_err_detail());
	cr_expect(strstr(o_err_detail(), "holds rev 2") != NULL &&
	        strstr(o_err_detail(), "builds on rev 3") != NULL,
	    "names both revisions: %s", o_err_detail());
	g = get1(1, NULL);
	cr_expect_eq(g.npend, 0, "a refused pend stores nothing");
	oc_get_res_fini(&g);
	ost_repo_stats(R, &st);
	cr_expect_eq(st.based, 1);

	set1(3, 3, 1, 30); /* now at rev 3: the base */
	cr_assert_eq(pend_xb(R, 4, 4, &t, OC_POLICY_RETURN, 0, &base, &res),
	    O_OK, "%s", o_err_detail());
	cr_assert_eq(commit_tfs(R, 4, 4, &t, &res), O_OK, "%s", o_err_detail());
	expect_block(1, 40, 4);

	/* an update at rev 6 computed over rev 3, the block at rev 4 */
	oc_txres_fini(&res);
	oc_txres_init(&res);
	e = pend_xb(R, 6, 6, &t, OC_POLICY_RETURN, 0, &base, &res);
	cr_assert_eq(e, O_ESTALE, "%s: %s", o_errname(e), o_err_detail());
	cr_expect_eq(res.stale_rev, 4);
	cr_expect_eq(res.nmissing, 1, "rev 4 is what the writer missed");
	cr_expect(res.nmissing == 1 && res.missing[0].rev == 4);
	/* no base: no check (as before) */
	cr_expect_eq(pend(6, 6, &t, OC_POLICY_RETURN, &res), O_OK, "%s",
	    o_err_detail());
	oc_txres_fini(&res);
	oc_tfs_fini(&t);
}

/*
 * Compare and set, the other cases: an update with a base on a block this
 * replica has never seen is behind (it missed the insert); in one pend, a
 * block stale and another behind are answered stale (the writer rebases
 * anyway, PROTOCOL.md §4), and nothing is stored.
 */
Test(repo, a_base_on_an_unknown_block_is_behind_and_stale_wins)
{
	struct oc_txres   res;
	struct oc_tfs     t;
	struct oc_get_res g;
	struct oc_bid     b1;
	int64_t           base[2] = { 5, 1 };
	int               one;
	o_err             e;

	oc_tfs_init(&t);
	t_set(&t, 1, 40);
	oc_txres_init(&res);
	e = pend_xb(R, 1, 6, &t, OC_POLICY_RETURN, 0, base, &res);
	cr_assert_eq(e, O_EBEHIND, "%s: %s", o_errname(e), o_err_detail());
	cr_expect(strstr(o_err_detail(), "holds rev 0") != NULL, "%s",
	    o_err_detail());
	oc_tfs_fini(&t);

	/* block 1 at rev 2 (a writer read rev 1: stale over its base),
	 * block 2 at rev 1 (a writer read rev 5: behind) */
	ins1(1, 1, 1, 10);
	set1(2, 2, 1, 20);
	ins1(3, 1, 2, 30);
	oc_tfs_init(&t);
	t_set(&t, 1, 41);
	t_set(&t, 2, 42);
	/* base[] lines up with t's blocks, which are sorted by id */
	b1            = bid(1);
	one           = oc_bid_eq(&t.e[0].id, &b1) ? 0 : 1;
	base[one]     = 1; /* block 1 */
	base[1 - one] = 5; /* block 2 */
	oc_txres_fini(&res);
	oc_txres_init(&res);
	e = pend_xb(R, 4, 6, &t, OC_POLICY_RETURN, 0, base, &res);
	cr_assert_eq(e, O_ESTALE, "%s: %s", o_errname(e), o_err_detail());
	cr_expect_eq(res.stale_rev, 2);
	g = get1(1, NULL);
	cr_expect_eq(g.npend, 0, "a refused pend stores nothing");
	oc_get_res_fini(&g);
	g = get1(2, NULL);
	cr_expect_eq(g.npend, 0, "a refused pend stores nothing");
	oc_get_res_fini(&g);
	oc_txres_fini(&res);
	oc_tfs_fini(&t);
}

/* a1 pends block 1; a2 then pends it under the given policy */
static o_err
rival_pend(uint8_t policy, struct oc_txres *res)
{
	struct oc_tfs t1, t2;
	o_err         e;

	ins1(1, 1, 1, 0);
	oc_tfs_init(&t1);
	t_set(&t1, 1, 10);
	cr_assert_eq(pend(10, 2, &t1, OC_POLICY_RETURN, res), O_OK);
	oc_tfs_init(&t2);
	t_set(&t2, 1, 20);
	t_ins(&t2, 2, 20);
	e = pend(20, 2, &t2, policy, res);
	oc_tfs_fini(&t1);
	oc_tfs_fini(&t2);
	return e;
}

Test(repo, d59_pend_rival_policy_r_returns_transforms)
{
	struct oc_txres   res;
	struct oc_get_res g;
	struct oc_aid     a10 = aid(10);
	struct oc_bid     b1  = bid(1);
	o_err             e;

	oc_txres_init(&res);
	e = rival_pend(OC_POLICY_RETURN, &res);
	cr_assert_eq(e, O_EPENDING, "%s", o_errname(e));
	cr_assert_eq(res.npending, 1);
	cr_expect(oc_aid_eq(&res.pending[0].aid, &a10));
	cr_expect(oc_bid_eq(&res.pending[0].id, &b1));
	cr_expect(res.pending[0].has_tf);
	cr_expect_eq(res.pending[0].tf.nops, 1);
	cr_expect_str_eq(res.pending[0].tf.ops[0].field, "v");
	cr_expect_eq(res.nmissing, 0);
	/* nothing of a20 was stored, not even on block 2 */
	g = get1(2, NULL);
	cr_expect_eq(g.npend, 0);
	oc_get_res_fini(&g);
	cr_expect_eq(status1(20, 2, 2), OC_ST_ABORTED);
	oc_txres_fini(&res);
}

Test(repo, d59_pend_rival_policy_f_ids_only)
{
	struct oc_txres res;
	o_err           e;

	oc_txres_init(&res);
	e = rival_pend(OC_POLICY_FAIL, &res);
	cr_assert_eq(e, O_EPENDING);
	cr_assert_eq(res.npending, 1);
	cr_expect(!res.pending[0].has_tf);
	cr_expect(strstr(o_err_detail(), "live pending") != NULL, "%s",
	    o_err_detail());
	oc_txres_fini(&res);
}

Test(repo, d59_pend_rival_policy_c_continues_and_reports)
{
	struct oc_txres   res;
	struct oc_get_res g;
	o_err             e;

	oc_txres_init(&res);
	e = rival_pend(OC_POLICY_CONTINUE, &res);
	cr_assert_eq(e, O_OK, "%s", o_err_detail());
	cr_expect_eq(res.npending, 1, "rivals still reported");
	g = get1(1, NULL);
	cr_expect_eq(g.npend, 2);
	oc_get_res_fini(&g);
	cr_expect_eq(status1(20, 2, 2), OC_ST_PENDING);
	oc_txres_fini(&res);
}

Test(repo, d59_repend_same_action_replaces)
{
	struct oc_tfs   t;
	struct oc_txres res;

	ins1(1, 1, 1, 0);
	oc_txres_init(&res);
	oc_tfs_init(&t);
	t_set(&t, 1, 5);
	cr_assert_eq(pend(2, 2, &t, OC_POLICY_RETURN, &res), O_OK);
	oc_tfs_fini(&t);
	oc_tfs_init(&t);
	t_set(&t, 1, 6);
	cr_assert_eq(pend(2, 2, &t, OC_POLICY_RETURN, &res), O_OK,
	    "own pending is not a rival");
	cr_assert_eq(cmt(&res, 2, 2, 1), O_OK);
	expect_block(1, 6, 2);
	oc_tfs_fini(&t);
	oc_txres_fini(&res);
}

/* Pend a's setting block n to v at rev (policy RETURN). */
static o_err
pend_set1(int a, int64_t rev, int n, int64_t v, struct oc_txres *res)
{
	struct oc_tfs t;
	o_err         e;

	oc_tfs_init(&t);
	t_set(&t, n, v);
	e = pend(a, rev, &t, OC_POLICY_RETURN, res);
	oc_tfs_fini(&t);
	return e;
}

/*
 * A commit applies the transform kept from its pend without reading the
 * record back; a large one (not kept) and one pended before a reopen
 * read it, and all land the pended content, also as read from disk
 * afterwards.
 */
Test(repo, a_commit_uses_the_transform_kept_from_its_pend)
{
	struct ost_repo_stats a, b;
	struct oc_txres       res;
	struct oc_tfs         t;
	struct oc_get_res     got;
	struct oc_bid         id = bid(1);
	static uint8_t        big[8192];

	ins1(1, 1, 1, 0);
	oc_txres_init(&res);
	cr_assert_eq(pend_set1(2, 2, 1, 5, &res), O_OK);
	ost_repo_stats(R, &a);
	cr_assert_eq(cmt(&res, 2, 2, 1), O_OK, "%s", o_err_detail());
	ost_repo_stats(R, &b);
	cr_expect_eq(b.pend_reads, a.pend_reads, "read back %llu",
	    (unsigned long long) (b.pend_reads - a.pend_reads));
	expect_block(1, 5, 2);
	/* a large one is not kept: read back */
	oc_tfs_init(&t);
	cr_assert_eq(oc_tfs_update(&t, &id,
	                 oc_op_set("big", oc_bytes(big, sizeof(big)))),
	    O_OK);
	cr_assert_eq(pend(4, 3, &t, OC_POLICY_RETURN, &res), O_OK);
	oc_tfs_fini(&t);
	ost_repo_stats(R, &a);
	cr_assert_eq(cmt(&res, 4, 3, 1), O_OK, "%s", o_err_detail());
	ost_repo_stats(R, &b);
	cr_expect_eq(b.pend_reads, a.pend_reads + 1);
	expect_block(1, 5, 3);
	got = get1(1, NULL);
	cr_expect_eq(oc_map_bytes(&got.block, "big")->u.s.n, sizeof(big));
	oc_get_res_fini(&got);
	cr_assert_eq(pend_set1(3, 4, 1, 7, &res), O_OK);
	repo_reopen();
	ost_repo_stats(R, &a);
	cr_assert_eq(cmt(&res, 3, 4, 1), O_OK, "%s", o_err_detail());
	ost_repo_stats(R, &b);
	cr_expect_eq(b.pend_reads, a.pend_reads + 1);
	expect_block(1, 7, 4);
	repo_reopen();
	expect_block(1, 7, 4);
	oc_txres_fini(&res);
}

Test(repo, d59_expired_rival_swept_and_ignored)
{
	struct oc_tfs     t;
	struct oc_txres   res;
	struct oc_get_res g;

	ins1(1, 1, 1, 0);
	oc_txres_init(&res);
	oc_tfs_init(&t);
	t_set(&t, 1, 5);
	cr_assert_eq(pend_x(R, 2, 2, &t, OC_POLICY_RETURN, 100, &res), O_OK);
	cr_assert_eq(pend(3, 2, &t, OC_POLICY_RETURN, &res), O_EPENDING);
	oc_txres_fini(&res);
	oc_txres_init(&res);
	fake_now += 101; /* a2's pending is now expired */
	g = get1(1, NULL);
	cr_expect_eq(g.npend, 0, "expired pendings are not listed");
	oc_get_res_fini(&g);
	cr_expect_eq(status1(2, 2, 1), OC_ST_ABORTED);
	cr_assert_eq(pend(3, 2, &t, OC_POLICY_RETURN, &res), O_OK, "%s",
	    o_err_detail());
	cr_expect_eq(res.npending, 0);
	cr_assert_eq(cmt(&res, 3, 2, 1), O_OK);
	/* and the expired record is gone (with a3's commit at its rev) */
	cr_expect_eq(cmt(&res, 2, 2, 1), O_ESTALE);
	ost_repo_close(R);
	R = NULL;
	cr_expect_eq(raw_count(OST_CF_PEND, 1), 0);
	repo_reopen();
	oc_tfs_fini(&t);
	oc_txres_fini(&res);
}

/* ---- pend and commit at once (the in-process transactor) ---------------
 */

/* ost_repo_pend_commit of t by action a at rev, t's first block critical;
 * base: as for pend_xb. */
static o_err
pend_commit(int a, int64_t rev, const struct oc_tfs *t, const int64_t *base,
    struct oc_txres *res)
{
	struct oc_pend_req   p;
	struct oc_commit_req c;
	struct oc_bid        ids[8];
	size_t               i;

	cr_assert(t->n <= 8);
	for (i = 0; i < t->n; i++)
		ids[t->n - 1 - i] = t->e[i].id; /* any order: critical named */
	p      = pend_req(a, rev, t, OC_POLICY_RETURN);
	p.base = base;
	memset(&c, 0, sizeof(c));
	c.aid      = p.aid;
	c.rev      = rev;
	c.ids      = ids;
	c.n        = t->n;
	c.critical = t->e[0].id;
	return ost_repo_pend_commit(R, &p, &c, res);
}

Test(repo, pend_commit_commits_without_a_pending_record)
{
	struct oc_tfs         t;
	struct oc_txres       res;
	struct ost_repo_count n;
	int64_t               base[2] = { 1, 1 };
	o_err                 e;

	oc_tfs_init(&t);
	t_ins(&t, 1, 10);
	t_ins(&t, 2, 20);
	oc_txres_init(&res);
	e = pend_commit(1, 1, &t, NULL, &res);
	cr_assert_eq(e, O_OK, "%s: %s", o_errname(e), o_err_detail());
	oc_tfs_fini(&t);
	expect_block(1, 10, 1);
	expect_block(2, 20, 1);
	cr_expect_eq(status1(1, 1, 1), OC_ST_COMMITTED);
	oc_tfs_init(&t);
	t_set(&t, 1, 11);
	t_set(&t, 2, 21);
	e = pend_commit(2, 2, &t, base, &res);
	cr_assert_eq(e, O_OK, "%s: %s", o_errname(e), o_err_detail());
	oc_tfs_fini(&t);
	cr_assert_eq(ost_repo_count(R, NULL, &n), O_OK);
	cr_expect_eq(n.pend, 0, "no pending record was written");
	cr_expect_eq(n.rev, 4, "two revisions of two blocks");
	repo_reopen(); /* durable, and readable as any commit */
	expect_block(1, 11, 2);
	expect_block(2, 21, 2);
	cr_expect_eq(status1(2, 2, 2), OC_ST_COMMITTED);
	set1(3, 3, 1, 12); /* pend then commit goes on from there */
	expect_block(1, 12, 3);
	oc_txres_fini(&res);
}

/* Each of pend's refusals, with nothing stored for the refused action. */
Test(repo, pend_commit_refuses_as_pend_does_and_stores_nothing)
{
	struct oc_tfs         t;
	struct oc_txres       res;
	struct ost_repo_count n;
	struct oc_get_res     g;
	int64_t               base = 5;
	o_err                 e;

	ins1(1, 1, 1, 10);
	set1(2, 2, 1, 20);
	oc_tfs_init(&t);
	t_set(&t, 1, 99);
	oc_txres_init(&res);
	e = pend_commit(3, 2, &t, NULL, &res); /* rev 2 is taken */
	cr_expect_eq(e, O_ESTALE, "%s: %s", o_errname(e), o_err_detail());
	cr_expect_eq(res.stale_rev, 2);
	e = pend_commit(3, 3, &t, &base, &res); /* builds on rev 5 */
	cr_expect_eq(e, O_EBEHIND, "%s: %s", o_errname(e), o_err_detail());
	cr_assert_eq(pend_x(R, 4, 3, &t, OC_POLICY_RETURN, 100, &res), O_OK);
	e = pend_commit(3, 3, &t, NULL, &res); /* a4 holds a live pending */
	cr_expect_eq(e, O_EPENDING, "%s: %s", o_errname(e), o_err_detail());
	g = get1(1, NULL);
	cr_expect_eq(g.npend, 1, "a4's pending stays, and only it");
	cr_expect_eq(g.latest_rev, 2);
	oc_get_res_fini(&g);
	expect_block(1, 20, 2);
	fake_now += 101; /* a4's expires: it goes, a3 commits */
	oc_txres_fini(&res);
	oc_txres_init(&res);
	e = pend_commit(3, 3, &t, NULL, &res);
	cr_assert_eq(e, O_OK, "%s: %s", o_errname(e), o_err_detail());
	expect_block(1, 99, 3);
	cr_assert_eq(ost_repo_count(R, NULL, &n), O_OK);
	cr_expect_eq(n.pend, 0, "the expired pending was deleted");
	oc_txres_fini(&res);
	oc_tfs_fini(&t);
}

/* An action pended before and then pended and committed at once: its
 * earlier pending goes, it does not hold the block off others. */
Test(repo, pend_commit_drops_an_earlier_pending_of_its_action)
{
	struct oc_tfs         t;
	struct oc_txres       res;
	struct ost_repo_count n;

	ins1(1, 1, 1, 10);
	oc_tfs_init(&t);
	t_set(&t, 1, 30);
	oc_txres_init(&res);
	cr_assert_eq(pend(5, 2, &t, OC_POLICY_RETURN, &res), O_OK);
	cr_assert_eq(
	    pend_commit(5, 2, &t, NULL, &res), O_OK, "%s", o_err_detail());
	cr_assert_eq(ost_repo_count(R, NULL, &n), O_OK);
	cr_expect_eq(n.pend, 0);
	set1(6, 3, 1, 40);
	expect_block(1, 40, 3);
	oc_txres_fini(&res);
	oc_tfs_fini(&t);
}

/* The commit must name the pend's action, revision and blocks. */
Test(repo, pend_commit_of_mismatched_requests_is_invalid)
{
	struct oc_tfs         t;
	struct oc_txres       res;
	struct oc_pend_req    p;
	struct oc_commit_req  c;
	struct oc_bid         ids[2] = { bid(1), bid(3) };
	struct ost_repo_count n;

	oc_tfs_init(&t);
	t_ins(&t, 1, 1);
	t_ins(&t, 2, 2);
	p = pend_req(1, 1, &t, OC_POLICY_RETURN);
	memset(&c, 0, sizeof(c));
	c.aid      = aid(1);
	c.rev      = 1;
	c.ids      = ids;
	c.n        = 2;
	c.critical = ids[0];
	oc_txres_init(&res);
	cr_expect_eq(ost_repo_pend_commit(R, &p, &c, &res), O_EINVAL,
	    "block 3 is not pended");
	ids[1] = bid(1);
	cr_expect_eq(
	    ost_repo_pend_commit(R, &p, &c, &res), O_EINVAL, "block 1 twice");
	ids[1] = bid(2);
	c.rev  = 2;
	cr_expect_eq(ost_repo_pend_commit(R, &p, &c, &res), O_EINVAL,
	    "another revision");
	c.rev = 1;
	c.aid = aid(2);
	cr_expect_eq(
	    ost_repo_pend_commit(R, &p, &c, &res), O_EINVAL, "another action");
	c.aid = aid(1);
	c.n   = 1;
	cr_expect_eq(
	    ost_repo_pend_commit(R, &p, &c, &res), O_EINVAL, "fewer blocks");
	c.n      = 2;
	p.policy = OC_POLICY_CONTINUE;
	cr_expect_eq(
	    ost_repo_pend_commit(R, &p, &c, &res), O_EINVAL, "policy c");
	p.policy = OC_POLICY_RETURN;
	cr_assert_eq(ost_repo_count(R, NULL, &n), O_OK);
	cr_expect_eq(n.pend + n.rev + n.meta, 0, "nothing stored");
	c.aid = aid(1);
	cr_expect_eq(
	    ost_repo_pend_commit(R, &p, &c, &res), O_OK, "%s", o_err_detail());
	oc_txres_fini(&res);
	oc_tfs_fini(&t);
}

/* A group write fails once when fail_next is set (opts.fail_write). */
static int fail_next;

static o_err
fail_hook(void *arg)
{
	(void) arg;
	if (__atomic_exchange_n(&fail_next, 0, __ATOMIC_SEQ_CST))
		return o_err_set(
		    O_ENOSPC, "injected: No space left on device");
	return O_OK;
}

/*
 * The commit's own refusals after the checks passed: an update of a block
 * that does not exist is refused (O_ENOBASE) - as the critical block
 * nothing is committed, as another block the rest is; a failed synced
 * write commits nothing.  No pending record is left in any case.
 */
Test(repo, pend_commit_refused_by_the_commit_leaves_nothing)
{
	struct oc_tfs         t;
	struct oc_txres       res;
	struct ost_repo_count n;
	o_err                 e;

	opts.fail_write = fail_hook;
	repo_reopen();
	ins1(1, 1, 1, 10);
	oc_txres_init(&res);
	oc_tfs_init(&t);
	t_set(&t, 7, 70); /* block 7 does not exist */
	t_set(&t, 1, 11);
	cr_assert_eq(t.e[1].id.b[1], 7, "block 7 sorts last");
	e = pend_commit(2, 2, &t, NULL, &res); /* block 1 critical */
	cr_expect_eq(e, O_OK, "%s: %s", o_errname(e), o_err_detail());
	cr_expect(strstr(res.reason, "1 of 2") != NULL, "%s", res.reason);
	expect_block(1, 11, 2);
	oc_tfs_fini(&t);

	oc_tfs_init(&t);
	t_set(&t, 7, 71);
	e = pend_commit(3, 3, &t, NULL, &res); /* block 7 critical */
	cr_expect_eq(e, O_ENOBASE, "%s: %s", o_errname(e), o_err_detail());
	oc_tfs_fini(&t);

	oc_tfs_init(&t);
	t_set(&t, 1, 12);
	fail_next = 1;
	e         = pend_commit(4, 3, &t, NULL, &res);
	cr_expect_eq(e, O_ENOSPC, "%s: %s", o_errname(e), o_err_detail());
	expect_block(1, 11, 2);
	cr_expect_eq(status1(4, 3, 1), OC_ST_ABORTED);
	cr_assert_eq(ost_repo_count(R, NULL, &n), O_OK);
	cr_expect_eq(n.pend, 0, "no pending record left by any refusal");
	cr_expect_eq(pend_commit(4, 3, &t, NULL, &res), O_OK,
	    "the retry goes through: %s", o_err_detail());
	repo_reopen();
	expect_block(1, 12, 3);
	oc_tfs_fini(&t);
	oc_txres_fini(&res);
}

/* ---- 60: stale pends -----------------------------------------------------
 */

Test(repo, d60_pend_stale_missing_and_stale_at)
{
	struct oc_tfs   t;
	struct oc_txres res;
	struct oc_bid   b1 = bid(1);
	struct oc_aid   a3 = aid(3);

	ins1(1, 1, 1, 0);
	set1(2, 2, 1, 2);
	set1(3, 4, 1, 4);
	oc_txres_init(&res);
	oc_tfs_init(&t);
	t_set(&t, 1, 99);
	cr_assert_eq(pend(9, 2, &t, OC_POLICY_RETURN, &res), O_ESTALE);
	/* committed revisions in [2, 4]: 2 and 4 (sparse) */
	cr_assert_eq(res.nmissing, 2);
	cr_expect_eq(res.missing[0].rev, 2);
	cr_expect_eq(res.missing[1].rev, 4);
	cr_expect(oc_aid_eq(&res.missing[1].aid, &a3));
	cr_expect_eq(res.missing[1].tf.nops, 1);
	cr_expect_eq(res.stale_rev, 4);
	cr_expect(oc_bid_eq(&res.stale_id, &b1));
	cr_expect_neq(res.reason[0], '\0');
	cr_expect_eq(status1(9, 2, 1), OC_ST_ABORTED, "nothing stored");
	oc_tfs_fini(&t);
	oc_txres_fini(&res);
}

/* pend action a at rev on block 1 as writer w (0: anonymous) that has
 * been trying for waited ms */
static o_err
pend_wb(int a, int64_t rev, int w, int64_t waited, int b1, int b2)
{
	struct oc_pend_req req;
	struct oc_txres    res;
	struct oc_tfs      t;
	o_err              e;

	oc_tfs_init(&t);
	if (b1 > 0)
		t_set(&t, b1, a);
	if (b2 > 0)
		t_set(&t, b2, a);
	req = pend_req(a, rev, &t, OC_POLICY_RETURN);
	if (w != 0)
		req.who = aid(1000 + w);
	req.waited_ms = waited;
	oc_txres_init(&res);
	e = ost_repo_pend(R, &req, &res);
	oc_txres_fini(&res);
	oc_tfs_fini(&t);
	return e;
}

static o_err
pend_w(int a, int64_t rev, int w, int64_t waited)
{
	return pend_wb(a, rev, w, waited, 1, 0);
}

static void
cancel_w(int a)
{
	struct oc_aid x  = aid(a);
	struct oc_bid b1 = bid(1);

	cr_assert_eq(ost_repo_cancel(R, &x, &b1, 1), O_OK);
}

/* A writer refused after trying a while claims the block: writers that
 * started later are refused until its pend arrives or the claim lapses;
 * an older writer takes the claim over; anonymous and fresh writers
 * claim nothing. */
Test(repo, claims_hold_off_younger_writers_for_a_while)
{
	ins1(1, 1, 1, 0);
	set1(2, 2, 1, 2);
	/* writer 1, fresh, pends at a stale rev: refused, no claim */
	cr_assert_eq(pend_w(10, 2, 1, 5), O_ESTALE);
	cr_assert_eq(pend_w(11, 3, 2, 0), O_OK, "%s", o_err_detail());
	cancel_w(11);
	/* after 100 ms of trying it is refused again: now it claims */
	cr_assert_eq(pend_w(12, 2, 1, 100), O_ESTALE);
	cr_assert_eq(pend_w(13, 3, 2, 0), O_EPENDING, "a younger writer got in");
	cr_assert(strstr(o_err_detail(), "claimed") != NULL, "%s",
	    o_err_detail());
	cr_assert_eq(pend_w(14, 3, 0, 0), O_EPENDING, "an anonymous writer got in");
	/* an older writer (trying for 500 ms) is not held off; accepted,
	 * it leaves writer 1's claim in place */
	cr_assert_eq(pend_w(15, 3, 3, 500), O_OK, "%s", o_err_detail());
	cancel_w(15);
	/* accepted without being refused: writer 1's claim stands */
	cr_assert_eq(pend_w(16, 3, 2, 0), O_EPENDING);
	cr_assert_eq(pend_w(17, 3, 1, 110), O_OK, "the claimant: %s",
	    o_err_detail());
	/* its pend clears its claim; its own pending holds the rest off */
	cancel_w(17);
	cr_assert_eq(pend_w(18, 3, 2, 0), O_OK, "%s", o_err_detail());
	cancel_w(18);

	/* a claim lapses after its time */
	cr_assert_eq(pend_w(19, 2, 1, 100), O_ESTALE);
	cr_assert_eq(pend_w(20, 3, 2, 0), O_EPENDING);
	__atomic_add_fetch(&fake_now, 1000, __ATOMIC_SEQ_CST);
	cr_assert_eq(pend_w(21, 3, 2, 0), O_OK, "%s", o_err_detail());
	cancel_w(21);

	/* only the blocks that refused are claimed: block 2 (rev 1) was
	 * not stale at rev 2, block 1 (rev 2) was */
	ins1(3, 1, 2, 0);
	cr_assert_eq(pend_wb(22, 2, 1, 100, 1, 2), O_ESTALE);
	cr_assert_eq(pend_wb(23, 2, 2, 0, 2, 0), O_OK,
	    "block 2 did not refuse, yet is claimed: %s", o_err_detail());
	cr_assert_eq(pend_wb(24, 4, 2, 0, 1, 0), O_EPENDING, "block 1 refused");
}

Test(repo, d60_pend_insert_collision_is_stale)
{
	struct oc_tfs   t;
	struct oc_txres res;

	ins1(1, 1, 1, 0);
	oc_txres_init(&res);
	oc_tfs_init(&t);
	t_ins(&t, 1, 5);
	cr_assert_eq(pend(2, 5, &t, OC_POLICY_RETURN, &res), O_ESTALE);
	cr_expect_eq(res.nmissing, 1);
	cr_expect_eq(res.stale_rev, 1);
	oc_tfs_fini(&t);
	oc_txres_fini(&res);
}

Test(repo, d60_pend_stale_several_blocks_highest_stale_at)
{
	struct oc_tfs   t;
	struct oc_txres res;
	struct oc_bid   b2 = bid(2);

	ins1(1, 1, 1, 0);
	ins1(2, 2, 2, 0);
	set1(3, 3, 2, 3);
	set1(4, 4, 1, 4);
	set1(5, 6, 2, 6);
	oc_txres_init(&res);
	oc_tfs_init(&t);
	t_set(&t, 1, 0);
	t_set(&t, 2, 0);
	t_ins(&t, 3, 0);
	cr_assert_eq(pend(9, 3, &t, OC_POLICY_FAIL, &res), O_ESTALE);
	/* block 1: rev 4; block 2: revs 3, 6 */
	cr_expect_eq(res.nmissing, 3);
	cr_expect_eq(res.stale_rev, 6);
	cr_expect(oc_bid_eq(&res.stale_id, &b2));
	oc_tfs_fini(&t);
	oc_txres_fini(&res);
}

/* ---- 61: cancel ----------------------------------------------------------
 */

Test(repo, d61_cancel_removes_pending)
{
	struct oc_tfs     t;
	struct oc_txres   res;
	struct oc_bid     ids[2] = { bid(1), bid(2) };
	struct oc_aid     a      = aid(1);
	struct oc_get_res g;

	oc_txres_init(&res);
	oc_tfs_init(&t);
	t_ins(&t, 1, 1);
	t_ins(&t, 2, 2);
	cr_assert_eq(pend(1, 1, &t, OC_POLICY_RETURN, &res), O_OK);
	cr_assert_eq(ost_repo_cancel(R, &a, ids, 2), O_OK);
	g = get1(1, NULL);
	cr_expect_eq(g.npend, 0);
	oc_get_res_fini(&g);
	cr_expect_eq(status1(1, 1, 2), OC_ST_ABORTED);
	cr_expect_eq(cmt(&res, 1, 1, 1, 2), O_ENOPENDING);
	/* a rival may now pend */
	cr_expect_eq(pend(2, 1, &t, OC_POLICY_FAIL, &res), O_OK);
	oc_tfs_fini(&t);
	oc_txres_fini(&res);
}

Test(repo, d61_cancel_unknown_is_noop)
{
	struct oc_bid ids[1] = { bid(7) };
	struct oc_aid a      = aid(7);

	cr_expect_eq(ost_repo_cancel(R, &a, ids, 1), O_OK);
	cr_expect_eq(ost_repo_cancel(R, &a, ids, 0), O_OK);
	ins1(1, 1, 7, 1);
	cr_expect_eq(ost_repo_cancel(R, &a, ids, 1), O_OK);
	expect_block(7, 1, 1);
}

/* A cancel that finds nothing pending (its pend, sent in another message,
 * is still on its way) makes that pend refused when it arrives, instead of
 * holding the block off other writers until it expires; a cancel that
 * dropped a pending does not stop the action pending again (a coordinator
 * pends again after a repair), and other actions and blocks are free. */
Test(repo, a_pend_overtaken_by_its_cancel_is_refused)
{
	struct oc_tfs   t;
	struct oc_txres res;
	struct oc_bid   b1 = bid(1), b2 = bid(2);
	struct oc_aid   a2 = aid(2), a3 = aid(3);

	ins1(1, 1, 1, 0);
	ins1(9, 1, 2, 0);
	oc_txres_init(&res);
	oc_tfs_init(&t);
	t_set(&t, 1, 5);
	cr_assert_eq(ost_repo_cancel(R, &a2, &b1, 1), O_OK);
	cr_assert_eq(pend(2, 2, &t, OC_POLICY_RETURN, &res), O_EEXPIRED,
	    "the late pend was taken: %s", o_err_detail());
	cr_expect(
	    strstr(o_err_detail(), "cancelled before it arrived") != NULL,
	    "%s", o_err_detail());
	cr_expect_eq(status1(2, 2, 1), OC_ST_ABORTED, "a pending was kept");
	cr_assert_eq(pend(4, 2, &t, OC_POLICY_FAIL, &res), O_OK,
	    "the late pend holds the block off: %s", o_err_detail());
	cr_assert_eq(cmt(&res, 4, 2, 1), O_OK);
	oc_tfs_fini(&t);

	/* a cancel that dropped a pending: the action may pend again */
	oc_tfs_init(&t);
	t_set(&t, 2, 6);
	cr_assert_eq(pend(3, 2, &t, OC_POLICY_FAIL, &res), O_OK);
	cr_assert_eq(ost_repo_cancel(R, &a3, &b2, 1), O_OK);
	cr_assert_eq(
	    pend(3, 2, &t, OC_POLICY_FAIL, &res), O_OK, "%s", o_err_detail());
	cr_assert_eq(cmt(&res, 3, 2, 2), O_OK);
	expect_block(2, 6, 2);
	oc_tfs_fini(&t);
	oc_txres_fini(&res);
}

/* The notes of cancels that overtook their pends are bounded (16 per lock
 * stripe, the oldest forgotten first), and a repeated cancel takes one:
 * the cleanup cancels a coordinator sends again must not push out the
 * note a late pend is about to need. */
Test(repo, cancel_notes_are_bounded_and_not_repeated)
{
	struct oc_tfs   t;
	struct oc_txres res;
	struct oc_bid   b1 = bid(1);
	struct oc_aid   a;
	int             i;

	ins1(1, 1, 1, 0);
	oc_txres_init(&res);
	oc_tfs_init(&t);
	t_set(&t, 1, 5);
	/* one block, so one stripe: actions 100..115, 101 cancelled twice */
	for (i = 100; i <= 115; i++) {
		a = aid(i);
		cr_assert_eq(ost_repo_cancel(R, &a, &b1, 1), O_OK);
		if (i == 101)
			cr_assert_eq(ost_repo_cancel(R, &a, &b1, 1), O_OK);
	}
	cr_assert_eq(pend(100, 2, &t, OC_POLICY_FAIL, &res), O_EEXPIRED,
	    "the repeated cancel pushed out the first note: %s",
	    o_err_detail());
	a = aid(116);
	cr_assert_eq(ost_repo_cancel(R, &a, &b1, 1), O_OK);
	cr_assert_eq(pend(101, 2, &t, OC_POLICY_FAIL, &res), O_EEXPIRED, "%s",
	    o_err_detail());
	/* the 17th note forgot the oldest: its pend is taken again */
	cr_assert_eq(pend(100, 2, &t, OC_POLICY_FAIL, &res), O_OK, "%s",
	    o_err_detail());
	a = aid(100);
	cr_assert_eq(ost_repo_cancel(R, &a, &b1, 1), O_OK);
	oc_tfs_fini(&t);
	oc_txres_fini(&res);
}

/* ---- 62: get -------------------------------------------------------------
 */

Test(repo, d62_get_unknown_block_is_absent)
{
	struct oc_get_res g = get1(42, NULL);

	cr_expect_eq(g.state, OC_GET_ABSENT);
	cr_expect_eq(g.latest_rev, 0);
	cr_expect_eq(g.npend, 0);
	cr_expect_eq(g.reason[0], '\0');
	oc_get_res_fini(&g);
}

/* ost_repo_latest answers what a get without context does, less the
 * block (a pend's answer lists it for every block it pends) */
Test(repo, latest_answers_as_get_does_without_the_block)
{
	struct oc_bid     ids[3] = { bid(1), bid(2), bid(42) };
	int64_t           revs[3];
	struct oc_aid     aids[3], zero;
	struct oc_tfs     t;
	struct oc_txres   res;
	struct oc_get_res g;
	uint8_t           k[40];
	struct oc_aid     a1 = aid(1), a3 = aid(3), a9 = aid(9);
	uint8_t           pk[48];
	int               i;

	memset(&zero, 0, sizeof(zero));
	ins1(1, 1, 1, 5);
	ins1(2, 1, 2, 5);
	set1(3, 2, 2, 6);
	oc_tfs_init(&t); /* a pending at rev 3 does not move the latest */
	t_set(&t, 2, 7);
	oc_txres_init(&res);
	cr_assert_eq(pend(4, 3, &t, OC_POLICY_RETURN, &res), O_OK);
	oc_txres_fini(&res);
	oc_tfs_fini(&t);
	ost_repo_latest(R, ids, 3, revs, aids);
	cr_expect_eq(revs[0], 1);
	cr_expect(oc_aid_eq(&aids[0], &a1));
	cr_expect_eq(revs[1], 2);
	cr_expect(oc_aid_eq(&aids[1], &a3));
	cr_expect_eq(revs[2], 0, "an unknown block: none");
	cr_expect(oc_aid_eq(&aids[2], &zero));
	for (i = 0; i < 3; i++) {
		g = get1(i < 2 ? i + 1 : 42, NULL);
		cr_expect_eq(g.latest_rev, revs[i]);
		cr_expect(oc_aid_eq(&g.latest_aid, &aids[i]));
		oc_get_res_fini(&g);
	}
	/* a block that cannot be read: -1, as get answers "unknown" */
	ost_repo_close(R);
	R = NULL;
	key_rev(k, 1, 1);
	raw_put(OST_CF_MAT, k, 40, "\xa1\x61x\x01", 4, false); /* {x:1} */
	repo_reopen();
	ost_repo_latest(R, ids, 2, revs, aids);
	cr_expect_eq(revs[0], -1, "a corrupt block is not at its revision");
	cr_expect(oc_aid_eq(&aids[0], &a1), "its action is known");
	cr_expect_eq(revs[1], 2);
	g = get1(1, NULL);
	cr_expect_eq(g.state, OC_GET_UNKNOWN);
	cr_expect(oc_aid_eq(&g.latest_aid, &aids[0]));
	oc_get_res_fini(&g);
	/* nor one whose pendings cannot be read */
	ost_repo_close(R);
	R = NULL;
	memcpy(pk, ids[1].b, 32);
	memcpy(pk + 32, a9.b, 16);
	raw_put(OST_CF_PEND, pk, 48, "\x01", 1, false);
	repo_reopen();
	ost_repo_latest(R, ids, 2, revs, aids);
	cr_expect_eq(revs[1], -1, "unknown pendings: not known good");
	g = get1(2, NULL);
	cr_expect_eq(g.state, OC_GET_UNKNOWN);
	oc_get_res_fini(&g);
}

Test(repo, d62_get_deleted_is_absent)
{
	struct oc_tfs     t;
	struct oc_get_res g;
	struct oc_actx    ctx;

	ins1(1, 1, 1, 5);
	oc_tfs_init(&t);
	t_del(&t, 1);
	txn(2, 2, &t);
	g = get1(1, NULL);
	cr_expect_eq(g.state, OC_GET_ABSENT);
	cr_expect_eq(g.latest_rev, 2);
	oc_get_res_fini(&g);
	/* it existed at rev 1, whose records the deletion pruned: not
	 * absent, but "read a newer revision" */
	oc_actx_init(&ctx);
	ctx.rev = 1;
	g       = get1(1, &ctx);
	cr_expect_eq(g.state, OC_GET_UNKNOWN);
	cr_expect_eq(g.cause, O_ESTALE, "%s", g.reason);
	oc_get_res_fini(&g);
	/* an update of a deleted block has no base */
	oc_tfs_init(&t);
	t_set(&t, 1, 3);
	{
		struct oc_txres res;

		oc_txres_init(&res);
		cr_assert_eq(pend(3, 3, &t, OC_POLICY_RETURN, &res), O_OK);
		cr_expect_eq(cmt(&res, 3, 3, 1), O_ENOBASE);
		oc_txres_fini(&res);
	}
	oc_tfs_fini(&t);
	cr_expect_eq(get1(1, NULL).latest_rev, 2);
}

Test(repo, d62_get_duplicate_ids_answered_each_with_pendings)
{
	struct oc_bid     ids[3] = { bid(1), bid(2), bid(1) };
	struct oc_get_res g[3];
	struct oc_tfs     t;
	struct oc_txres   res;
	struct oc_aid     a5 = aid(5);
	int               i;

	ins1(1, 1, 1, 11);
	oc_txres_init(&res);
	oc_tfs_init(&t);
	t_set(&t, 1, 12);
	cr_assert_eq(pend(5, 2, &t, OC_POLICY_RETURN, &res), O_OK);
	cr_assert_eq(ost_repo_get(R, ids, 3, NULL, g), O_OK);
	cr_expect_eq(g[0].state, OC_GET_BLOCK);
	cr_expect_eq(g[1].state, OC_GET_ABSENT);
	cr_expect_eq(g[2].state, OC_GET_BLOCK);
	cr_expect_eq(val_of(&g[2]), 11);
	cr_expect(oc_bid_eq(&g[2].id, &ids[2]));
	cr_assert_eq(g[0].npend, 1);
	cr_expect(oc_aid_eq(&g[0].pendings[0], &a5));
	for (i = 0; i < 3; i++)
		oc_get_res_fini(&g[i]);
	oc_tfs_fini(&t);
	oc_txres_fini(&res);
}

/* ---- 63 / 71: pinned reads and materialisation ------------------------- */

Test(repo, d63_pinned_get_reports_mat_rev)
{
	struct oc_actx    ctx;
	struct oc_get_res g;

	ins1(1, 1, 1, 1);
	ins1(2, 2, 2, 2);
	set1(3, 5, 1, 5);
	set1(4, 9, 1, 9);
	oc_actx_init(&ctx);
	ctx.rev = 7;
	g       = get1(1, &ctx);
	cr_expect_eq(g.state, OC_GET_BLOCK);
	cr_expect_eq(val_of(&g), 5);
	cr_expect_eq(g.mat_rev, 5, "served content is rev 5");
	cr_expect_eq(g.latest_rev, 9, "latest is still the newest held");
	oc_get_res_fini(&g);
	/* a block unchanged since the pin reports its own rev */
	g = get1(2, &ctx);
	cr_expect_eq(val_of(&g), 2);
	cr_expect_eq(g.mat_rev, 2);
	oc_get_res_fini(&g);
	/* before the block existed: absent */
	ctx.rev = 1;
	g       = get1(2, &ctx);
	cr_expect_eq(g.state, OC_GET_ABSENT);
	oc_get_res_fini(&g);
}

Test(repo, d71_forty_revisions_every_kept_rev_readable)
{
	struct oc_actx        ctx;
	struct ost_repo_stats st;
	int                   rev;

	ins1(1, 1, 1, 1);
	for (rev = 2; rev <= 40; rev++)
		set1(rev, rev, 1, rev * 10);
	ost_repo_stats(R, &st);
	/* materialised at 1, 17, 33: most commits wrote only a transform */
	cr_expect_eq(st.mat_writes, 3, "mat writes %llu",
	    (unsigned long long) st.mat_writes);
	/* the mat at 33 pruned everything below the one at 17 */
	cr_expect_eq(st.pruned, 16 + 1, "pruned %llu",
	    (unsigned long long) st.pruned);
	/* read every kept revision, cold, after a reopen */
	repo_reopen();
	oc_actx_init(&ctx);
	for (rev = 17; rev <= 40; rev++) {
		struct oc_get_res g;

		ctx.rev = rev;
		g       = get1(1, &ctx);
		cr_expect_eq(g.state, OC_GET_BLOCK);
		cr_expect_eq(val_of(&g), rev * 10, "rev %d", rev);
		cr_expect_eq(g.mat_rev, rev);
		oc_get_res_fini(&g);
	}
	ost_repo_stats(R, &st);
	cr_expect(st.replayed > 0);
	expect_block(1, 400, 40);
	ost_repo_close(R);
	R = NULL;
	cr_expect_eq(raw_count(OST_CF_MAT, 1), 2);
	cr_expect_eq(raw_count(OST_CF_REV, 1), 24);
	repo_reopen();
}

Test(repo, d71_mat_interval_option)
{
	struct ost_repo_stats st;
	int                   rev;

	opts.mat_interval = 4;
	repo_reopen();
	ins1(1, 1, 1, 1);
	for (rev = 2; rev <= 12; rev++)
		set1(rev, rev, 1, rev);
	ost_repo_stats(R, &st);
	cr_expect_eq(st.mat_writes, 3); /* 1, 5, 9 */
	repo_reopen();
	expect_block(1, 12, 12);
}

/* ---- 64: read-driven promotion -------------------------------------------
 */

/* a7 pends blocks 1 (critical), 2, 3 at rev 2 and commits only block 1. */
static void
partial_commit(void)
{
	struct oc_tfs   t;
	struct oc_txres res;

	ins1(1, 1, 1, 0);
	ins1(1, 1, 2, 0); /* already committed: idempotent, fine */
	oc_tfs_init(&t);
	t_set(&t, 1, 70);
	t_set(&t, 2, 70);
	t_ins(&t, 3, 70);
	oc_txres_init(&res);
	cr_assert_eq(pend(7, 2, &t, OC_POLICY_RETURN, &res), O_OK, "%s",
	    o_err_detail());
	cr_assert_eq(cmt(&res, 7, 2, 1), O_OK, "%s", o_err_detail());
	oc_txres_fini(&res);
	oc_tfs_fini(&t);
}

Test(repo, d64_context_promotion)
{
	struct oc_actx    ctx, copy;
	struct oc_get_res g;
	struct oc_aid     a7 = aid(7), a1 = aid(1);

	/* blocks 1 and 2 share rev 1 via two inserts by a1: use distinct */
	partial_commit();
	g = get1(2, NULL);
	cr_expect_eq(val_of(&g), 0, "not yet promoted");
	cr_expect_eq(g.latest_rev, 1);
	oc_get_res_fini(&g);

	oc_actx_init(&ctx);
	oc_actx_add(&ctx, &a1, 1);
	oc_actx_add(&ctx, &a7, 2);
	oc_actx_copy(&copy, &ctx);
	g = get1(2, &ctx);
	cr_expect_eq(g.state, OC_GET_BLOCK, "%s", g.reason);
	cr_expect_eq(val_of(&g), 70);
	cr_expect_eq(g.latest_rev, 2);
	cr_expect_eq(g.mat_rev, 2);
	cr_expect_eq(g.npend, 0);
	oc_get_res_fini(&g);
	/* caller's context untouched */
	cr_expect_eq(ctx.n, copy.n);
	cr_expect_eq(ctx.rev, copy.rev);
	cr_expect(memcmp(ctx.committed, copy.committed,
	              ctx.n * sizeof(*ctx.committed)) == 0);
	/* now served to plain gets too, and durable */
	repo_reopen();
	expect_block(2, 70, 2);
	cr_expect_eq(status1(7, 2, 2), OC_ST_COMMITTED);
	oc_actx_fini(&ctx);
	oc_actx_fini(&copy);
}

/*
 * A decided action whose phase 2 was cut short rests on this replica as
 * an expired pending (PROTOCOL.md §5).  A writer that has not seen the
 * decision pends over it (its pend is accepted: the pending has
 * expired), is refused elsewhere and cancels; the pending must still be
 * there for a read whose context lists the action to promote.  Before,
 * the rival's pend deleted it, and the decided revision was lost here.
 */
Test(repo, an_expired_pending_outlives_a_rivals_pend_for_promotion)
{
	struct oc_tfs         t, u;
	struct oc_txres       res;
	struct oc_actx        ctx;
	struct oc_get_res     g;
	struct oc_bid         b1 = bid(1);
	struct oc_aid         a2 = aid(2), a3 = aid(3);
	struct ost_repo_count n;

	ins1(1, 1, 1, 10);
	oc_tfs_init(&t);
	t_set(&t, 1, 20);
	oc_txres_init(&res);
	cr_assert_eq(pend_x(R, 2, 2, &t, OC_POLICY_RETURN, 100, &res), O_OK);
	fake_now += 101; /* a2 expired here, decided elsewhere */
	oc_tfs_init(&u);
	t_set(&u, 1, 30);
	cr_assert_eq(pend(3, 2, &u, OC_POLICY_RETURN, &res), O_OK,
	    "an expired pending holds nothing off: %s", o_err_detail());
	cr_assert_eq(ost_repo_cancel(R, &a3, &b1, 1), O_OK);
	cr_assert_eq(ost_repo_count(R, &b1, &n), O_OK);
	cr_expect_eq(n.pend, 1, "a2's expired pending is kept");
	oc_actx_init(&ctx);
	oc_actx_add(&ctx, &a2, 2);
	g = get1(1, &ctx);
	cr_expect_eq(g.state, OC_GET_BLOCK, "%s", g.reason);
	cr_expect_eq(val_of(&g), 20, "the decided revision is promoted");
	cr_expect_eq(g.latest_rev, 2);
	oc_get_res_fini(&g);
	oc_actx_fini(&ctx);
	oc_txres_fini(&res);
	oc_tfs_fini(&t);
	oc_tfs_fini(&u);
}

/* Expired pendings go with a commit at their revision or above, and not
 * with one below it (a pending above may be the next decided revision). */
Test(repo, a_commit_deletes_expired_pendings_up_to_its_revision)
{
	struct oc_tfs         t;
	struct oc_txres       res;
	struct oc_bid         b1 = bid(1);
	struct ost_repo_count n;

	ins1(1, 1, 1, 10);
	oc_tfs_init(&t);
	t_set(&t, 1, 40);
	oc_txres_init(&res);
	cr_assert_eq(pend_x(R, 4, 3, &t, OC_POLICY_RETURN, 100, &res), O_OK);
	fake_now += 101;
	set1(5, 2, 1, 50); /* rev 2: below a4's rev 3, which stays */
	cr_assert_eq(ost_repo_count(R, &b1, &n), O_OK);
	cr_expect_eq(n.pend, 1, "a4's pending at rev 3 is kept");
	set1(6, 3, 1, 60); /* rev 3: a4 cannot be decided any more */
	cr_assert_eq(ost_repo_count(R, &b1, &n), O_OK);
	cr_expect_eq(n.pend, 0, "a4's pending went with the commit");
	cr_expect_eq(status1(4, 3, 1), OC_ST_ABORTED);
	expect_block(1, 60, 3);

	/* the same when the commit finds the block's pending list not in
	 * memory (reopened between the pend and the commit) */
	cr_assert_eq(pend_x(R, 7, 4, &t, OC_POLICY_RETURN, 100, &res), O_OK);
	fake_now += 101;
	cr_assert_eq(pend(8, 4, &t, OC_POLICY_RETURN, &res), O_OK);
	repo_reopen();
	cr_assert_eq(cmt(&res, 8, 4, 1), O_OK, "%s", o_err_detail());
	cr_assert_eq(ost_repo_count(R, &b1, &n), O_OK);
	cr_expect_eq(n.pend, 0, "a7's pending went with a8's commit");
	oc_txres_fini(&res);
	oc_tfs_fini(&t);
}

Test(repo, d64_promotion_of_several_blocks_of_one_action)
{
	struct oc_actx    ctx;
	struct oc_bid     ids[2] = { bid(2), bid(3) };
	struct oc_get_res g[2];
	struct oc_aid     a7 = aid(7);

	partial_commit();
	oc_actx_init(&ctx);
	oc_actx_add(&ctx, &a7, 2);
	cr_assert_eq(ost_repo_get(R, ids, 2, &ctx, g), O_OK);
	cr_expect_eq(g[0].state, OC_GET_BLOCK);
	cr_expect_eq(val_of(&g[0]), 70);
	cr_expect_eq(g[1].state, OC_GET_BLOCK, "inserted block promoted");
	cr_expect_eq(val_of(&g[1]), 70);
	oc_get_res_fini(&g[0]);
	oc_get_res_fini(&g[1]);
	oc_actx_fini(&ctx);
}

Test(repo, d64_promotion_keeps_latest_monotonic)
{
	struct oc_actx    ctx;
	struct oc_tfs     t;
	struct oc_txres   res;
	struct oc_get_res g;
	struct oc_aid     a7 = aid(7);

	ins1(1, 1, 1, 0);
	oc_txres_init(&res);
	oc_tfs_init(&t);
	t_set(&t, 1, 70);
	cr_assert_eq(pend(7, 2, &t, OC_POLICY_RETURN, &res), O_OK);
	oc_tfs_fini(&t);
	/* a8 overtakes at rev 3 (policy c) before a7's pending is promoted */
	oc_tfs_init(&t);
	t_set(&t, 1, 80);
	cr_assert_eq(pend(8, 3, &t, OC_POLICY_CONTINUE, &res), O_OK);
	cr_assert_eq(cmt(&res, 8, 3, 1), O_OK);
	oc_actx_init(&ctx);
	oc_actx_add(&ctx, &a7, 2);
	ctx.rev = 3;
	g       = get1(1, &ctx);
	cr_expect_eq(g.latest_rev, 3, "no promotion below latest");
	cr_expect_eq(val_of(&g), 80);
	oc_get_res_fini(&g);
	oc_actx_fini(&ctx);
	oc_tfs_fini(&t);
	oc_txres_fini(&res);
}

Test(repo, d64_promotion_without_base_reads_unknown)
{
	struct oc_actx    ctx;
	struct oc_tfs     t;
	struct oc_txres   res;
	struct oc_get_res g;
	struct oc_aid     a7 = aid(7);

	/* a7's pending on block 5 updates a block this repo never had */
	oc_txres_init(&res);
	oc_tfs_init(&t);
	t_set(&t, 5, 1);
	cr_assert_eq(pend(7, 2, &t, OC_POLICY_RETURN, &res), O_OK);
	oc_actx_init(&ctx);
	oc_actx_add(&ctx, &a7, 2);
	g = get1(5, &ctx);
	cr_expect_eq(g.state, OC_GET_UNKNOWN, "never reported as absent");
	cr_expect_eq(g.cause, O_EUNAVAIL, "%s", o_errname(g.cause));
	cr_expect(
	    strstr(g.reason, "unmaterializable") != NULL, "%s", g.reason);
	oc_get_res_fini(&g);
	g = get1(5, NULL);
	cr_expect_eq(g.latest_rev, 0, "nothing recorded");
	cr_expect_eq(g.npend, 0, "pending dropped");
	oc_get_res_fini(&g);
	oc_actx_fini(&ctx);
	oc_tfs_fini(&t);
	oc_txres_fini(&res);
}

/* ---- 65: concurrency ---------------------------------------------------- */

struct worker {
	int      id, n;
	int      done, retries;
	uint64_t seed;
	bool     fused; /* ost_repo_pend_commit, not pend then commit */
};

/* Append n items to block 1's entries, each as its own transaction. */
static void *
appender(void *arg)
{
	struct worker *w  = arg;
	struct oc_bid  b1 = bid(1);
	int            i, attempt = 0;

	for (i = 0; i < w->n;) {
		struct oc_get_res    g;
		struct oc_tfs        t;
		struct oc_txres      res;
		struct oc_pend_req   req;
		struct oc_commit_req c;
		size_t               len;
		o_err                e;

		cr_assert_eq(ost_repo_get(R, &b1, 1, NULL, &g), O_OK);
		cr_assert_eq(g.state, OC_GET_BLOCK, "%s", g.reason);
		len = oc_arr_len(oc_map_arr(&g.block, "entries"));
		oc_tfs_init(&t);
		t_push(&t, 1, (uint32_t) len, w->id * 1000 + i);
		req = pend_req(w->id * 1000 + attempt++, g.latest_rev + 1, &t,
		    OC_POLICY_RETURN);
		oc_txres_init(&res);
		memset(&c, 0, sizeof(c));
		c.aid      = req.aid;
		c.rev      = req.rev;
		c.ids      = &b1;
		c.n        = 1;
		c.critical = b1;
		e          = w->fused ? ost_repo_pend_commit(R, &req, &c, &res)
		                      : ost_repo_pend(R, &req, &res);
		if (e == O_OK) {
			if (!w->fused)
				e = ost_repo_commit(R, &c, &res);
			cr_assert_eq(e, O_OK, "exclusive pend must commit: %s",
			    o_err_detail());
			i++;
			w->done++;
		} else {
			cr_assert(e == O_ESTALE || e == O_EPENDING, "%s",
			    o_errname(e));
			w->retries++;
			usleep((useconds_t) (o_rand64() % 200));
		}
		oc_txres_fini(&res);
		oc_tfs_fini(&t);
		oc_get_res_fini(&g);
	}
	return NULL;
}

Test(repo, d65_concurrent_commits_one_block_no_lost_update)
{
	pthread_t            th[4];
	struct worker        w[4];
	struct oc_get_res    g;
	const struct oc_val *ents;
	int                  i, total = 0;
	size_t               j, k;

	ins1(1, 1, 1, 0);
	for (i = 0; i < 4; i++) {
		memset(&w[i], 0, sizeof(w[i]));
		w[i].id    = i + 1;
		w[i].n     = 25;
		w[i].fused = i % 2 == 1; /* both kinds race on the block */
		pthread_create(&th[i], NULL, appender, &w[i]);
	}
	for (i = 0; i < 4; i++) {
		pthread_join(th[i], NULL);
		total += w[i].done;
	}
	cr_assert_eq(total, 100);
	repo_reopen();
	g = get1(1, NULL);
	cr_assert_eq(g.latest_rev, 101);
	ents = oc_map_arr(&g.block, "entries");
	cr_assert_not_null(ents);
	cr_expect_eq(oc_arr_len(ents), 100, "every append landed once");
	for (j = 0; j < ents->u.a.n; j++)
		for (k = j + 1; k < ents->u.a.n; k++)
			cr_expect(ents->u.a.v[j].u.i != ents->u.a.v[k].u.i);
	oc_get_res_fini(&g);
}

struct xworker {
	int base, n;
};

/* Transactions over overlapping block sets in varying orders. */
static void *
xfer(void *arg)
{
	struct xworker *w = arg;
	int             i;

	for (i = 0; i < w->n; i++) {
		struct oc_tfs   t;
		struct oc_txres res;
		int             a   = w->base + i;
		int64_t         rev = 1000 + a; /* distinct rev per txn */
		o_err           e;

		/* ids: 1..6 rotating, so sets overlap in different orders */
		oc_tfs_init(&t);
		t_set(&t, 1 + (i % 6), a);
		t_set(&t, 1 + ((i + 2) % 6), a);
		t_set(&t, 1 + ((i + 4) % 6), a);
		oc_txres_init(&res);
		e = pend_x(R, a, rev, &t, OC_POLICY_CONTINUE, 0, &res);
		if (e == O_OK)
			e = commit_tfs(R, a, rev, &t, &res);
		cr_assert(e == O_OK || e == O_ESTALE, "%s: %s", o_errname(e),
		    o_err_detail());
		oc_txres_fini(&res);
		oc_tfs_fini(&t);
	}
	return NULL;
}

Test(repo, d65_overlapping_block_sets_do_not_deadlock)
{
	pthread_t      th[4];
	struct xworker w[4];
	int            i;

	for (i = 1; i <= 6; i++)
		ins1(i, i, i, 0);
	for (i = 0; i < 4; i++) {
		w[i].base = 100 + 1000 * i;
		w[i].n    = 40;
		pthread_create(&th[i], NULL, xfer, &w[i]);
	}
	for (i = 0; i < 4; i++)
		pthread_join(th[i], NULL);
	/* every block's latest is readable and consistent after reopen */
	repo_reopen();
	for (i = 1; i <= 6; i++) {
		struct oc_get_res g = get1(i, NULL);

		cr_expect_eq(g.state, OC_GET_BLOCK);
		cr_expect_eq(val_of(&g) + 1000, g.latest_rev);
		oc_get_res_fini(&g);
	}
}

/* ---- 66: commit refusals and idempotency ---------------------------------
 */

Test(repo, d66_commit_stale_returns_missing)
{
	struct oc_tfs   t;
	struct oc_txres res;

	ins1(1, 1, 1, 0);
	oc_txres_init(&res);
	oc_tfs_init(&t);
	t_set(&t, 1, 2);
	cr_assert_eq(pend(2, 2, &t, OC_POLICY_RETURN, &res), O_OK);
	/* a3 commits rev 2 and 3 ahead of a2 (policy c), incl. a delete */
	cr_assert_eq(pend(3, 2, &t, OC_POLICY_CONTINUE, &res), O_OK);
	oc_txres_fini(&res);
	oc_txres_init(&res);
	cr_assert_eq(cmt(&res, 3, 2, 1), O_OK);
	cr_expect_eq(status1(2, 2, 1), OC_ST_PENDING,
	    "a live rival's pending is not deleted by a commit");
	oc_tfs_fini(&t);
	oc_tfs_init(&t);
	t_del(&t, 1);
	cr_assert_eq(pend(4, 3, &t, OC_POLICY_CONTINUE, &res), O_OK);
	cr_assert_eq(cmt(&res, 4, 3, 1), O_OK);
	oc_txres_fini(&res);
	oc_txres_init(&res);
	cr_assert_eq(cmt(&res, 2, 2, 1), O_ESTALE);
	/* the deletion at 3 pruned rev 2: only what is kept is listed */
	cr_assert_eq(res.nmissing, 1, "one per kept missed revision");
	cr_expect_eq(res.missing[0].rev, 3);
	cr_expect(res.missing[0].tf.del, "delete transforms included");
	cr_expect_eq(res.stale_rev, 3);
	cr_expect(strstr(o_err_detail(), "already holds rev 3") != NULL, "%s",
	    o_err_detail());
	oc_tfs_fini(&t);
	oc_txres_fini(&res);
}

/* The bytes of block n's record at rev in family cf (repository closed). */
static struct o_buf
raw_get(enum ost_cf cf, int n, int64_t rev)
{
	struct ost_rdb *db;
	struct o_buf    b = { 0 };
	uint8_t         k[40];
	bool            found = false;

	key_rev(k, n, rev);
	cr_assert_eq(ost_rdb_open(dir, &db), O_OK, "%s", o_err_detail());
	cr_assert_eq(ost_rdb_get(db, cf, k, sizeof(k), &b, &found), O_OK);
	cr_assert(found, "no %s record at rev %lld", ost_rdb_cf_name(cf),
	    (long long) rev);
	ost_rdb_close(db);
	return b;
}

/* a2 and a3 pend an insert of block 1 at rev 1 (a3 over a2's pending),
 * a3 commits; a2's commit is then stale and lists a3's insert */
static o_err
stale_over_an_insert(struct oc_txres *res)
{
	struct oc_tfs t;

	oc_tfs_init(&t);
	t_ins(&t, 1, 77);
	cr_assert_eq(pend(2, 1, &t, OC_POLICY_RETURN, res), O_OK);
	oc_tfs_fini(&t);
	oc_tfs_init(&t);
	t_ins(&t, 1, 33);
	cr_assert_eq(pend(3, 1, &t, OC_POLICY_CONTINUE, res), O_OK);
	oc_tfs_fini(&t);
	oc_txres_fini(res);
	oc_txres_init(res);
	cr_assert_eq(cmt(res, 3, 1, 1), O_OK, "%s", o_err_detail());
	repo_reopen(); /* the block and pendings read from disk */
	oc_txres_fini(res);
	oc_txres_init(res);
	return cmt(res, 2, 1, 1);
}

Test(repo, an_insert_is_stored_once_as_its_materialisation)
{
	struct oc_txres   res;
	struct oc_val     rv = oc_null(), want = leaf(1, 33);
	struct o_buf      rb, mb;
	struct oc_get_res g;
	uint8_t           k[40];

	oc_txres_init(&res);
	cr_assert_eq(stale_over_an_insert(&res), O_ESTALE);
	/* what a2 missed: a3's insert, read from the mat record */
	cr_assert_eq(res.nmissing, 1);
	{
		struct oc_aid a3 = aid(3);

		cr_expect(oc_aid_eq(&res.missing[0].aid, &a3));
		cr_expect_eq(res.missing[0].rev, 1);
	}
	cr_assert_not_null(res.missing[0].tf.insert, "an insert");
	cr_expect_eq(res.missing[0].tf.nops, 0);
	cr_expect(!res.missing[0].tf.del);
	cr_expect(oc_val_eq(res.missing[0].tf.insert, &want),
	    "the insert is the block a3 inserted");
	cancel_w(2);
	set1(4, 2, 1, 5); /* rev 2 replays over the insert's block */
	{
		/* an insert with an op on it is no copy of its insert */
		struct oc_tfs t;

		struct oc_bid b2 = bid(2);

		oc_tfs_init(&t);
		t_ins(&t, 2, 1);
		oc_tf_add_op(oc_tfs_get(&t, &b2), oc_op_set("v", oc_int(8)));
		txn(5, 1, &t);
	}
	ost_repo_close(R);
	R = NULL;
	rb = raw_get(OST_CF_REV, 2, 1);
	cr_assert_eq(oc_decode(rb.data, rb.len, &rv), O_OK);
	cr_expect_not_null(oc_map_get(&rv, "tf"), "insert + op kept its tf");
	cr_expect(!oc_map_bool(&rv, "mat", false));
	oc_val_fini(&rv);
	o_buf_fini(&rb);
	/* the block once: the rev record names its mat record */
	rb = raw_get(OST_CF_REV, 1, 1);
	mb = raw_get(OST_CF_MAT, 1, 1);
	cr_assert_eq(
	    oc_decode(rb.data, rb.len, &rv), O_OK, "%s", o_err_detail());
	cr_expect_null(oc_map_get(&rv, "tf"), "the block stored twice");
	cr_expect(oc_map_bool(&rv, "mat", false));
	cr_expect_lt(rb.len, mb.len);
	oc_val_fini(&rv);
	o_buf_fini(&rb);
	o_buf_fini(&mb);
	repo_reopen();
	g = get1(1, NULL);
	cr_expect_eq(g.state, OC_GET_BLOCK, "%s", g.reason);
	cr_expect_eq(oc_map_int(&g.block, "v", -1), 5);
	oc_get_res_fini(&g);
	/* its mat record gone: what a stale commit lists is corrupt, named */
	ost_repo_close(R);
	R = NULL;
	key_rev(k, 1, 1);
	raw_put(OST_CF_MAT, k, 40, NULL, 0, true);
	repo_reopen();
	oc_txres_fini(&res);
	oc_txres_init(&res);
	cr_expect_eq(cmt(&res, 2, 1, 1), O_ECORRUPT);
	cr_expect_not_null(strstr(o_err_detail(),
	                       "mat record, which is "
	                       "missing"),
	    "%s", o_err_detail());
	/* or a tombstone (CBOR null) where the block was: corrupt too */
	ost_repo_close(R);
	R = NULL;
	raw_put(OST_CF_MAT, k, 40, "\xf6", 1, false);
	repo_reopen();
	oc_txres_fini(&res);
	oc_txres_init(&res);
	cr_expect_eq(cmt(&res, 2, 1, 1), O_ECORRUPT);
	cr_expect_not_null(strstr(o_err_detail(), "which is a tombstone"),
	    "%s", o_err_detail());
	oc_txres_fini(&res);
	oc_val_fini(&want);
}

Test(repo, d66_recommit_same_rev_action_is_noop)
{
	struct oc_txres       res;
	struct ost_repo_stats a, b;

	ins1(1, 1, 1, 0);
	set1(2, 2, 1, 2);
	ost_repo_stats(R, &a);
	oc_txres_init(&res);
	cr_expect_eq(cmt(&res, 2, 2, 1), O_OK);
	cr_expect_eq(res.stale_rev, 0, "no staleAt");
	cr_expect_eq(res.nmissing, 0);
	repo_reopen();
	cr_expect_eq(cmt(&res, 2, 2, 1), O_OK, "also after reopen");
	ost_repo_stats(R, &b);
	cr_expect_eq(b.groups, 0, "no write at all");
	expect_block(1, 2, 2);
	oc_txres_fini(&res);
}

/*
 * A commit that arrives again after later revisions landed over it (nng
 * resends a request whose pipe closed): its own action at its revision
 * is answered committed, not stale, since a stale answer tells the
 * coordinator this replica never committed it (found by a review).  When
 * the revision's record was pruned the replica cannot tell, and says so
 * with an answer that proves nothing (O_EUNAVAIL).
 */
Test(repo, a_commit_sent_again_under_later_revisions_is_committed)
{
	struct oc_txres res;
	int             rev;

	opts.mat_interval = 2;
	repo_reopen();
	ins1(1, 1, 1, 0);
	set1(2, 2, 1, 2);
	set1(3, 3, 1, 3);
	oc_txres_init(&res);
	/* sent once, in process: its own record still answers it */
	expect_commit1(&res, 2, 2, 1, false, O_OK);
	expect_commit1(&res, 2, 2, 1, true, O_OK);
	cr_expect_eq(cmt(&res, 9, 2, 1), O_ESTALE, "another action at rev 2");
	for (rev = 4; rev <= 12; rev++)
		set1(rev, rev, 1, rev);
	expect_commit1(&res, 2, 2, 1, true, O_EUNAVAIL);
	cr_expect(strstr(o_err_detail(), "cannot tell") != NULL, "%s",
	    o_err_detail());
	expect_block(1, 12, 12);
	oc_txres_fini(&res);
}

/*
 * On one node a group commit (a rename across directories) pends, then
 * commits.  When its writer stalls past the pending's expiry, a rival
 * commits the revision (dropping the expired pending) and later ones
 * prune it, the in-process commit arrives with no pending under later
 * revisions.  It is sent once, so it was never committed: stale, and the
 * writer rebases; answering "cannot tell" (as to a commit nng may have
 * sent again) failed the close with EIO (found by a review).
 */
Test(repo, an_in_process_commit_whose_expired_pending_was_dropped_is_stale)
{
	struct oc_tfs   t;
	struct oc_txres res;
	int             rev;

	opts.mat_interval = 2;
	repo_reopen();
	ins1(1, 1, 1, 0);
	oc_tfs_init(&t);
	t_set(&t, 1, 2);
	oc_txres_init(&res);
	cr_assert_eq(pend_x(R, 2, 2, &t, OC_POLICY_RETURN, 100, &res), O_OK);
	oc_tfs_fini(&t);
	fake_now += 101;  /* the writer stalls: its pending expires */
	set1(3, 2, 1, 3); /* the rival, over the expired pending */
	for (rev = 3; rev <= 12; rev++)
		set1(rev + 1, rev, 1, rev);
	/* from the network, it could have been committed here and pruned */
	expect_commit1(&res, 2, 2, 1, true, O_EUNAVAIL);
	oc_txres_fini(&res);
	oc_txres_init(&res);
	expect_commit1(&res, 2, 2, 1, false, O_ESTALE);
	cr_expect_eq(res.stale_rev, 12);
	expect_block(1, 12, 12);
	oc_txres_fini(&res);
}

Test(repo, d66_commit_of_expired_pending_refused)
{
	struct oc_tfs     t;
	struct oc_txres   res;
	struct oc_get_res g;

	opts.pend_ttl_ms = 50;
	repo_reopen();
	ins1(1, 1, 1, 0);
	oc_txres_init(&res);
	oc_tfs_init(&t);
	t_set(&t, 1, 2);
	cr_assert_eq(pend(2, 2, &t, OC_POLICY_RETURN, &res), O_OK);
	fake_now += 50;
	cr_expect_eq(cmt(&res, 2, 2, 1), O_EEXPIRED);
	cr_expect(
	    strstr(o_err_detail(), "expired") != NULL, "%s", o_err_detail());
	g = get1(1, NULL);
	cr_expect_eq(g.latest_rev, 1);
	cr_expect_eq(g.npend, 0, "an expired pending is not listed");
	oc_get_res_fini(&g);
	cr_expect_eq(cmt(&res, 2, 2, 1), O_EEXPIRED,
	    "it is kept: its action may be decided (a late phase 2)");
	{
		struct oc_actx ctx;
		struct oc_aid  a2 = aid(2);

		oc_actx_init(&ctx);
		oc_actx_add(&ctx, &a2, 2);
		g = get1(1, &ctx);
		cr_expect_eq(
		    g.latest_rev, 2, "promoted by a read: %s", g.reason);
		cr_expect_eq(val_of(&g), 2);
		oc_get_res_fini(&g);
		oc_actx_fini(&ctx);
	}
	oc_tfs_fini(&t);
	oc_txres_fini(&res);
}

/* A pend says how long its pending lives, never when it ends
 * (PROTOCOL.md §5): the store counts that from its own clock when it
 * takes the pend, and refuses a life over an hour. */
Test(repo, a_time_to_live_counts_from_the_store_s_own_clock)
{
	struct oc_pend_req req;
	struct oc_tfs      t, tr;
	struct oc_txres    res, rr;

	ins1(1, 1, 1, 0);
	oc_txres_init(&res);
	oc_txres_init(&rr);
	oc_tfs_init(&t);
	oc_tfs_init(&tr);
	t_set(&t, 1, 2);
	t_set(&tr, 1, 3);
	req        = pend_req(2, 2, &t, OC_POLICY_RETURN);
	req.ttl_ms = OC_PEND_TTL_MAX_MS + 1;
	cr_expect_eq(ost_repo_pend(R, &req, &res), O_EINVAL, "over an hour");
	cr_expect(strstr(o_err_detail(), "time to live") != NULL, "%s",
	    o_err_detail());
	req.ttl_ms = 100;
	cr_assert_eq(ost_repo_pend(R, &req, &res), O_OK, "%s", o_err_detail());
	fake_now += 99;
	cr_expect_eq(pend(3, 2, &tr, OC_POLICY_FAIL, &rr), O_EPENDING,
	    "live for 100 ms from when the store took it");
	fake_now += 2;
	cr_expect_eq(cmt(&res, 2, 2, 1), O_EEXPIRED, "%s", o_err_detail());
	oc_txres_fini(&rr);
	oc_txres_init(&rr);
	cr_expect_eq(pend(3, 2, &tr, OC_POLICY_FAIL, &rr), O_OK,
	    "expired: a rival may pend");
	oc_tfs_fini(&tr);
	oc_tfs_fini(&t);
	oc_txres_fini(&rr);
	oc_txres_fini(&res);
}

Test(repo, d66_commit_without_pending_or_at_other_rev)
{
	struct oc_tfs   t;
	struct oc_txres res;

	ins1(1, 1, 1, 0);
	oc_txres_init(&res);
	cr_expect_eq(cmt(&res, 2, 2, 1), O_ENOPENDING);
	oc_tfs_init(&t);
	t_set(&t, 1, 2);
	cr_assert_eq(pend(2, 2, &t, OC_POLICY_RETURN, &res), O_OK);
	cr_expect_eq(cmt(&res, 2, 3, 1), O_ENOPENDING);
	cr_expect(
	    strstr(o_err_detail(), "for rev 2") != NULL, "%s", o_err_detail());
	cr_expect_eq(cmt(&res, 2, 2, 1), O_OK);
	oc_tfs_fini(&t);
	oc_txres_fini(&res);
}

/* ---- 67: no base ----------------------------------------------------------
 */

Test(repo, d67_commit_without_base_refused_not_recorded)
{
	struct oc_tfs     t;
	struct oc_txres   res;
	struct oc_get_res g;

	oc_txres_init(&res);
	oc_tfs_init(&t);
	t_set(&t, 1, 5); /* update of a block this repo never had */
	cr_assert_eq(pend(1, 3, &t, OC_POLICY_RETURN, &res), O_OK);
	cr_expect_eq(cmt(&res, 1, 3, 1), O_ENOBASE);
	cr_expect(strstr(o_err_detail(), "pending dropped") != NULL, "%s",
	    o_err_detail());
	g = get1(1, NULL);
	cr_expect_eq(g.state, OC_GET_ABSENT);
	cr_expect_eq(g.latest_rev, 0, "latest stays unset");
	cr_expect_eq(g.npend, 0, "pending dropped");
	oc_get_res_fini(&g);
	cr_expect_eq(status1(1, 3, 1), OC_ST_ABORTED);
	oc_tfs_fini(&t);
	/* later writes are not blocked: the block arrives, at any rev */
	ins1(2, 4, 1, 4);
	expect_block(1, 4, 4);
	/* a delete with no base is refused too */
	oc_tfs_init(&t);
	t_del(&t, 9);
	cr_assert_eq(pend(3, 5, &t, OC_POLICY_RETURN, &res), O_OK);
	cr_expect_eq(cmt(&res, 3, 5, 9), O_ENOBASE);
	cr_expect_eq(get1(9, NULL).latest_rev, 0);
	oc_tfs_fini(&t);
	oc_txres_fini(&res);
}

Test(repo, d67_insert_then_rev_gaps_fine)
{
	ins1(1, 3, 1, 3);
	set1(2, 10, 1, 10);
	set1(3, 11, 1, 11);
	set1(4, 250, 1, 250);
	expect_block(1, 250, 250);
	repo_reopen();
	expect_block(1, 250, 250);
}

Test(repo, d67_op_that_does_not_fit_is_refused)
{
	struct oc_tfs   t;
	struct oc_txres res;

	ins1(1, 1, 1, 0);
	oc_txres_init(&res);
	oc_tfs_init(&t);
	t_push(&t, 1, 5, 1); /* splice beyond the end of entries */
	cr_assert_eq(pend(2, 2, &t, OC_POLICY_RETURN, &res), O_OK);
	cr_expect_eq(cmt(&res, 2, 2, 1), O_EBADMSG);
	expect_block(1, 0, 1);
	oc_tfs_fini(&t);
	oc_txres_fini(&res);
}

/* An update is applied to the cached block in place: one that leaves the
 * block invalid is refused and the block is put back, its earlier
 * operations too, before anyone reads it. */
Test(repo, d67_update_leaving_an_invalid_block_changes_nothing)
{
	struct oc_tfs   t;
	struct oc_txres res;
	struct oc_bid   id = bid(1);

	ins1(1, 1, 1, 0);
	expect_block(1, 0, 1); /* cached */
	oc_txres_init(&res);
	oc_tfs_init(&t);
	t_set(&t, 1, 7);
	t_push(&t, 1, 0, 5);
	cr_assert_eq(
	    oc_tfs_update(&t, &id, oc_op_set(OC_F_TYPE, oc_int(3))), O_OK);
	cr_assert_eq(pend(2, 2, &t, OC_POLICY_RETURN, &res), O_OK);
	cr_expect_eq(cmt(&res, 2, 2, 1), O_EBADMSG);
	expect_block(1, 0, 1);
	oc_tfs_fini(&t);
	oc_txres_fini(&res);
	set1(3, 2, 1, 9);
	expect_block(1, 9, 2);
	repo_reopen();
	expect_block(1, 9, 2);
}

/* A group write waits while gate_held is set (opts.fail_write); gate_in
 * says one is waiting. */
static pthread_mutex_t gate_mtx = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t  gate_cv  = PTHREAD_COND_INITIALIZER;
static bool            gate_held, gate_in;

static o_err
gate_hook(void *arg)
{
	(void) arg;
	pthread_mutex_lock(&gate_mtx);
	gate_in = true;
	pthread_cond_broadcast(&gate_cv);
	while (gate_held)
		pthread_cond_wait(&gate_cv, &gate_mtx);
	gate_in = false;
	pthread_mutex_unlock(&gate_mtx);
	return O_OK;
}

static void
gate_open(void)
{
	pthread_mutex_lock(&gate_mtx);
	gate_held = false;
	pthread_cond_broadcast(&gate_cv);
	pthread_mutex_unlock(&gate_mtx);
}

/* commits action 3 at rev 2 on block 2 (held in the gate) */
static void *
commit_b2(void *arg)
{
	struct oc_txres res;

	oc_txres_init(&res);
	*(o_err *) arg = cmt(&res, 3, 2, 2);
	oc_txres_fini(&res);
	return NULL;
}

/* opens the gate after 300 ms, once the main thread's commit waits */
static void *
gate_later(void *arg)
{
	(void) arg;
	usleep(300 * 1000);
	gate_open();
	return NULL;
}

/*
 * A commit whose critical block was updated in place, and whose next block
 * then waits for an earlier commit's write to finish, puts the first block
 * back before it waits and applies its update once when it tries again:
 * one entry pushed, not two.
 */
Test(repo, d67_a_commit_that_waits_after_an_update_in_place_applies_it_once)
{
	struct oc_tfs     t;
	struct oc_txres   res;
	struct oc_get_res g;
	pthread_t         th, rel;
	o_err             e3 = O_EINTERNAL, e;

	opts.fail_write = gate_hook;
	repo_reopen();
	ins1(1, 1, 1, 0);
	ins1(1, 1, 2, 0);
	oc_txres_init(&res);
	/* action 2: a push on block 1 (critical), a set on block 2 */
	oc_tfs_init(&t);
	t_push(&t, 1, 0, 5);
	t_set(&t, 2, 30);
	cr_assert_eq(pend(2, 2, &t, OC_POLICY_RETURN, &res), O_OK);
	oc_tfs_fini(&t);
	/* action 3: rev 2 of block 2 too, committed first, its write held */
	oc_tfs_init(&t);
	t_set(&t, 2, 20);
	cr_assert_eq(pend(3, 2, &t, OC_POLICY_CONTINUE, &res), O_OK);
	oc_tfs_fini(&t);
	gate_held = true;
	pthread_create(&th, NULL, commit_b2, &e3);
	pthread_mutex_lock(&gate_mtx);
	while (!gate_in)
		pthread_cond_wait(&gate_cv, &gate_mtx);
	pthread_mutex_unlock(&gate_mtx);
	pthread_create(&rel, NULL, gate_later, NULL);
	e = cmt(&res, 2, 2, 1, 2);
	pthread_join(rel, NULL);
	pthread_join(th, NULL);
	cr_expect_eq(e3, O_OK, "%s", o_errname(e3));
	cr_expect_eq(e, O_OK, "%s: %s", o_errname(e), o_err_detail());
	cr_expect(strstr(res.reason, "1 of 2") != NULL,
	    "block 2 was taken: %s", res.reason);
	g = get1(1, NULL);
	cr_expect_eq(g.latest_rev, 2);
	cr_expect_eq(oc_arr_len(oc_map_arr(&g.block, "entries")), 1,
	    "the push applied once");
	oc_get_res_fini(&g);
	expect_block(2, 20, 2);
	oc_txres_fini(&res);
	repo_reopen();
	g = get1(1, NULL);
	cr_expect_eq(oc_arr_len(oc_map_arr(&g.block, "entries")), 1);
	oc_get_res_fini(&g);
}

/* ---- 68: critical block and mixed outcomes -------------------------------
 */

Test(repo, d68_critical_stale_commits_nothing)
{
	struct oc_tfs   t;
	struct oc_txres res;

	ins1(1, 1, 1, 0);
	ins1(1, 1, 2, 0);
	oc_txres_init(&res);
	oc_tfs_init(&t);
	t_set(&t, 1, 5);
	t_set(&t, 2, 5);
	cr_assert_eq(pend(5, 2, &t, OC_POLICY_RETURN, &res), O_OK);
	/* a6 wins rev 2 on the critical block 1 */
	cr_assert_eq(pend(6, 2, &t, OC_POLICY_CONTINUE, &res), O_OK);
	oc_txres_fini(&res);
	oc_txres_init(&res);
	cr_assert_eq(cmt(&res, 6, 2, 1), O_OK);
	cr_assert_eq(cmt(&res, 5, 2, 1, 2), O_ESTALE);
	cr_expect_eq(res.stale_rev, 2);
	/* block 2 untouched although a5's pending on it was fine */
	expect_block(2, 0, 1);
	cr_expect_eq(status1(5, 2, 2), OC_ST_PENDING);
	oc_tfs_fini(&t);
	oc_txres_fini(&res);
}

Test(repo, d68_noncritical_refusal_reported_critical_committed)
{
	struct oc_tfs   t;
	struct oc_txres res;

	ins1(1, 1, 1, 0);
	oc_txres_init(&res);
	oc_tfs_init(&t);
	t_set(&t, 1, 5);
	t_set(&t, 2, 5); /* block 2 does not exist here: no base */
	t_ins(&t, 3, 5);
	cr_assert_eq(pend(5, 2, &t, OC_POLICY_RETURN, &res), O_OK);
	cr_assert_eq(
	    cmt(&res, 5, 2, 1, 2, 3), O_OK, "decided: %s", o_err_detail());
	cr_expect(strstr(res.reason, "1 of 3") != NULL, "%s", res.reason);
	expect_block(1, 5, 2);
	expect_block(3, 5, 2);
	cr_expect_eq(get1(2, NULL).latest_rev, 0);
	cr_expect_eq(status1(5, 2, 2), OC_ST_ABORTED, "pending dropped");
	oc_tfs_fini(&t);
	oc_txres_fini(&res);
}

Test(repo, d75_retry_commit_rolls_forward_idempotently)
{
	struct oc_tfs   t;
	struct oc_txres res;

	oc_txres_init(&res);
	oc_tfs_init(&t);
	t_ins(&t, 1, 1);
	t_ins(&t, 2, 1);
	t_ins(&t, 3, 1);
	cr_assert_eq(pend(1, 1, &t, OC_POLICY_RETURN, &res), O_OK);
	/* "crash" after the critical and one other block committed */
	cr_assert_eq(cmt(&res, 1, 1, 1, 2), O_OK);
	repo_reopen();
	cr_assert_eq(cmt(&res, 1, 1, 1, 2, 3), O_OK, "%s", o_err_detail());
	cr_expect_eq(res.reason[0], '\0', "%s", res.reason);
	expect_block(1, 1, 1);
	expect_block(2, 1, 1);
	expect_block(3, 1, 1);
	oc_tfs_fini(&t);
	oc_txres_fini(&res);
}

Test(repo, d75_abandoned_pend_does_not_wedge)
{
	struct oc_tfs   t;
	struct oc_txres res;

	oc_txres_init(&res);
	oc_tfs_init(&t);
	t_ins(&t, 1, 1);
	t_ins(&t, 2, 1);
	t_ins(&t, 3, 1);
	cr_assert_eq(pend(1, 1, &t, OC_POLICY_RETURN, &res), O_OK);
	repo_reopen(); /* the coordinator is gone */
	cr_assert_eq(pend(2, 1, &t, OC_POLICY_RETURN, &res), O_EPENDING);
	oc_txres_fini(&res);
	oc_txres_init(&res);
	fake_now += 30000; /* default pending lifetime */
	cr_assert_eq(pend(2, 1, &t, OC_POLICY_RETURN, &res), O_OK, "%s",
	    o_err_detail());
	cr_assert_eq(commit_tfs(R, 2, 1, &t, &res), O_OK);
	expect_block(3, 1, 1);
	oc_tfs_fini(&t);
	oc_txres_fini(&res);
}

/* ---- status, sweep, persistence ------------------------------------------
 */

Test(repo, status_pending_committed_superseded_aborted)
{
	struct oc_tfs   t;
	struct oc_txres res;

	ins1(1, 1, 1, 0);
	set1(2, 2, 1, 2);
	cr_expect_eq(status1(1, 1, 1), OC_ST_COMMITTED,
	    "superseded commits still count");
	cr_expect_eq(status1(2, 2, 1), OC_ST_COMMITTED);
	cr_expect_eq(status1(2, 3, 1), OC_ST_ABORTED, "wrong rev");
	cr_expect_eq(status1(9, 2, 1), OC_ST_ABORTED);
	cr_expect_eq(status1(9, 2, 77), OC_ST_ABORTED, "unknown block");
	oc_txres_init(&res);
	oc_tfs_init(&t);
	t_set(&t, 1, 3);
	cr_assert_eq(pend(3, 3, &t, OC_POLICY_RETURN, &res), O_OK);
	cr_expect_eq(status1(3, 3, 1), OC_ST_PENDING);
	oc_tfs_fini(&t);
	oc_txres_fini(&res);
}

Test(repo, sweep_deletes_only_expired)
{
	struct oc_tfs   t;
	struct oc_txres res;
	size_t          swept = 99;

	oc_txres_init(&res);
	oc_tfs_init(&t);
	t_ins(&t, 1, 1);
	t_ins(&t, 2, 1);
	cr_assert_eq(pend_x(R, 1, 1, &t, OC_POLICY_CONTINUE, 10, &res), O_OK);
	oc_tfs_fini(&t);
	oc_tfs_init(&t);
	t_ins(&t, 3, 1);
	cr_assert_eq(
	    pend_x(R, 2, 1, &t, OC_POLICY_CONTINUE, 1000, &res), O_OK);
	cr_assert_eq(ost_repo_sweep(R, fake_now + 10, &swept), O_OK);
	cr_expect_eq(swept, 2);
	cr_expect_eq(status1(1, 1, 1), OC_ST_ABORTED);
	cr_expect_eq(status1(2, 1, 3), OC_ST_PENDING);
	cr_assert_eq(ost_repo_sweep(R, fake_now + 10, &swept), O_OK);
	cr_expect_eq(swept, 0);
	oc_tfs_fini(&t);
	oc_txres_fini(&res);
}

Test(repo, persist_close_reopen)
{
	struct oc_tfs   t;
	struct oc_txres res;
	int             i;

	for (i = 1; i <= 20; i++)
		ins1(i, i, i, i * 3);
	for (i = 1; i <= 20; i++)
		set1(100 + i, 100 + i, i, i * 5);
	oc_txres_init(&res);
	oc_tfs_init(&t);
	t_set(&t, 1, 0);
	cr_assert_eq(pend(500, 500, &t, OC_POLICY_RETURN, &res), O_OK);
	repo_reopen();
	for (i = 1; i <= 20; i++)
		expect_block(i, i * 5, 100 + i);
	cr_expect_eq(status1(500, 500, 1), OC_ST_PENDING,
	    "pendings survive a clean close");
	cr_expect_eq(cmt(&res, 500, 500, 1), O_OK);
	oc_tfs_fini(&t);
	oc_txres_fini(&res);
}

Test(repo, tiny_cache_stays_coherent)
{
	int i, round;

	opts.cache_entries = 1;
	opts.mat_interval  = 3;
	repo_reopen();
	for (i = 1; i <= 600; i++)
		ins1(i, 1, i, 0);
	for (round = 2; round <= 6; round++)
		for (i = 1; i <= 600; i += 7)
			set1(round * 1000 + i, round, i, round * 10 + i);
	for (i = 1; i <= 600; i += 7)
		expect_block(i, 60 + i, 6);
	expect_block(2, 0, 1);
}

/* ---- corruption: never crash, never "absent" -----------------------------
 */

Test(repo, corrupt_meta_reads_unknown_and_refuses_writes)
{
	struct oc_bid     b1 = bid(1);
	struct oc_get_res g;
	struct oc_tfs     t;
	struct oc_txres   res;
	char              s[OC_BID_STRLEN];
	o_err             e;

	ins1(1, 1, 1, 0);
	ost_repo_close(R);
	R = NULL;
	raw_put(OST_CF_META, b1.b, 32, "\xff\x00garbage", 9, false);
	repo_reopen();
	g = get1(1, NULL);
	cr_expect_eq(g.state, OC_GET_UNKNOWN);
	cr_expect(strstr(g.reason, "O_ECORRUPT") != NULL, "%s", g.reason);
	cr_expect_eq(g.cause, O_ECORRUPT);
	cr_expect(strstr(g.reason, "meta") != NULL, "%s", g.reason);
	oc_get_res_fini(&g);
	oc_txres_init(&res);
	oc_tfs_init(&t);
	t_set(&t, 1, 2);
	e = pend(2, 2, &t, OC_POLICY_RETURN, &res);
	cr_expect_eq(e, O_ECORRUPT, "%s", o_errname(e));
	cr_expect(strstr(o_err_detail(), oc_bid_str(&b1, s)) != NULL, "%s",
	    o_err_detail());
	cr_expect_eq(cmt(&res, 2, 2, 1), O_ECORRUPT);
	cr_expect_eq(status1(1, 1, 1), OC_ST_UNKNOWN);
	oc_tfs_fini(&t);
	oc_txres_fini(&res);
}

/* Block 1's meta at rev 1 written raw: mat, and low and swp (< 0: left
 * out). */
static void
meta_put_raw(int64_t mat, int64_t low, int64_t swp)
{
	struct oc_bid id = bid(1);
	struct oc_val m  = oc_map();
	struct oc_aid a  = aid(1);
	struct o_buf  b  = { 0 };

	oc_map_set(&m, "aid", oc_aid_val(&a));
	if (low >= 0)
		oc_map_set(&m, "low", oc_int(low));
	if (swp >= 0)
		oc_map_set(&m, "swp", oc_int(swp));
	oc_map_set(&m, "mat", oc_int(mat));
	oc_map_set(&m, "ns", oc_int(0));
	oc_map_set(&m, "rev", oc_int(1));
	oc_encode(&m, &b);
	raw_put(OST_CF_META, id.b, 32, b.data, b.len, false);
	oc_val_fini(&m);
	o_buf_fini(&b);
}

Test(repo, corrupt_meta_shape_is_detected)
{
	struct oc_get_res g;

	ins1(1, 1, 1, 0);
	ost_repo_close(R);
	R = NULL;
	meta_put_raw(9, -1, -1); /* valid CBOR, wrong shape: mat above rev */
	repo_reopen();
	g = get1(1, NULL);
	cr_expect_eq(g.state, OC_GET_UNKNOWN);
	cr_expect(strstr(g.reason, "out of range") != NULL, "%s", g.reason);
	oc_get_res_fini(&g);
}

Test(repo, corrupt_revision_record_breaks_only_replays_over_it)
{
	uint8_t           k[40];
	struct oc_actx    ctx;
	struct oc_get_res g;
	int               rev;

	ins1(1, 1, 1, 1);
	for (rev = 2; rev <= 5; rev++)
		set1(rev, rev, 1, rev);
	ost_repo_close(R);
	R = NULL;
	key_rev(k, 1, 3);
	raw_put(OST_CF_REV, k, 40, "\x82\x01", 2, false); /* truncated */
	repo_reopen();
	g = get1(1, NULL);
	cr_expect_eq(g.state, OC_GET_UNKNOWN);
	cr_expect(
	    strstr(g.reason, "rev record at rev 3") != NULL, "%s", g.reason);
	oc_get_res_fini(&g);
	oc_actx_init(&ctx);
	ctx.rev = 2;
	g       = get1(1, &ctx);
	cr_expect_eq(g.state, OC_GET_BLOCK, "rev 2 replays below the damage");
	cr_expect_eq(val_of(&g), 2);
	oc_get_res_fini(&g);
}

Test(repo, missing_materialisation_is_unknown_not_absent)
{
	uint8_t           k[40];
	struct oc_get_res g;

	ins1(1, 1, 1, 1);
	set1(2, 2, 1, 2);
	ost_repo_close(R);
	R = NULL;
	key_rev(k, 1, 1);
	raw_put(OST_CF_MAT, k, 40, NULL, 0, true);
	repo_reopen();
	g = get1(1, NULL);
	cr_expect_eq(g.state, OC_GET_UNKNOWN);
	cr_expect(
	    strstr(g.reason, "unmaterializable") != NULL, "%s", g.reason);
	cr_expect_eq(g.cause, O_ECORRUPT);
	oc_get_res_fini(&g);
}

Test(repo, corrupt_materialisation_reads_unknown)
{
	uint8_t           k[40];
	struct oc_get_res g;

	ins1(1, 1, 1, 1);
	ost_repo_close(R);
	R = NULL;
	key_rev(k, 1, 1);
	raw_put(OST_CF_MAT, k, 40, "\xa1\x61x\x01", 4, false); /* {x:1} */
	repo_reopen();
	g = get1(1, NULL);
	cr_expect_eq(g.state, OC_GET_UNKNOWN);
	cr_expect(strstr(g.reason, "invalid block") != NULL, "%s", g.reason);
	oc_get_res_fini(&g);
}

Test(repo, corrupt_pending_record)
{
	uint8_t           k[48];
	struct oc_bid     b1 = bid(1);
	struct oc_aid     a9 = aid(9);
	struct oc_get_res g;
	struct oc_txres   res;
	struct oc_tfs     t;
	uint8_t           st;

	ins1(1, 1, 1, 1);
	ost_repo_close(R);
	R = NULL;
	memcpy(k, b1.b, 32);
	memcpy(k + 32, a9.b, 16);
	raw_put(OST_CF_PEND, k, 48, "\x01", 1, false);
	repo_reopen();
	/* the pendings of the block are unknown, so the answer is too */
	g = get1(1, NULL);
	cr_expect_eq(g.state, OC_GET_UNKNOWN);
	cr_expect(strstr(g.reason, "pend record") != NULL, "%s", g.reason);
	oc_get_res_fini(&g);
	oc_txres_init(&res);
	oc_tfs_init(&t);
	t_set(&t, 1, 2);
	cr_expect_eq(pend(2, 2, &t, OC_POLICY_RETURN, &res), O_ECORRUPT);
	cr_expect(strstr(o_err_detail(), "pend record") != NULL, "%s",
	    o_err_detail());
	cr_expect_eq(ost_repo_status(R, &a9, 1, &b1, 1, &st), O_ECORRUPT);
	cr_expect_eq(st, OC_ST_UNKNOWN);
	cr_expect_eq(ost_repo_sweep(R, fake_now + 1000000, NULL), O_OK,
	    "sweep skips corrupt records");
	/* cancel removes it and the block is usable again */
	cr_expect_eq(ost_repo_cancel(R, &a9, &b1, 1), O_OK);
	cr_expect_eq(pend(2, 2, &t, OC_POLICY_RETURN, &res), O_OK);
	cr_expect_eq(cmt(&res, 2, 2, 1), O_OK);
	expect_block(1, 2, 2);
	oc_tfs_fini(&t);
	oc_txres_fini(&res);
}

/* ---- group commit --------------------------------------------------------
 */

struct gworker {
	int base, n;
};

static void *
grouper(void *arg)
{
	struct gworker *w = arg;
	int             i;

	for (i = 0; i < w->n; i++)
		ins1(w->base + i, 1, w->base + i, i);
	return NULL;
}

/* Get block n (must exist); counts as a cache hit or a load. */
static void
get_ok(int n)
{
	struct oc_bid     id = bid(n);
	struct oc_get_res g;

	cr_assert_eq(ost_repo_get(R, &id, 1, NULL, &g), O_OK);
	cr_assert_eq(g.state, OC_GET_BLOCK, "block %d: %s", n, g.reason);
	oc_get_res_fini(&g);
}

/*
 * The latest-block cache keeps hot blocks and not chunk contents: chunks
 * (256 KiB, written once) committed in between do not push a hot block's
 * contents out, and a chunk read again is loaded from disk.
 */
Test(repo, cache_keeps_hot_blocks_not_chunks)
{
	struct ost_repo_stats a, b;
	struct oc_bid         col  = bid(9999);
	uint8_t              *data = calloc(1, 256u << 10);
	int                   i;

	ins1(1, 1, 1, 0);
	for (i = 0; i < 200; i++) { /* 50 MiB of chunks, then the hot one */
		struct oc_bid id = bid(1000 + i);
		struct oc_val c  = oc_block_new(&id, OC_BT_CHUNK, &col);
		struct oc_tfs t;

		oc_map_set(&c, "data", oc_bytes(data, 256u << 10));
		oc_tfs_init(&t);
		oc_tfs_insert(&t, c);
		txn(100 + i, 1, &t);
		get_ok(1);
	}
	ost_repo_stats(R, &a);
	for (i = 0; i < 50; i++)
		get_ok(1);
	ost_repo_stats(R, &b);
	cr_assert_eq(b.cache_loads, a.cache_loads,
	    "the hot block was reloaded %llu times",
	    (unsigned long long) (b.cache_loads - a.cache_loads));
	/* the first read may find what the commit left; later reads load */
	get_ok(1000);
	get_ok(1000);
	get_ok(1000);
	ost_repo_stats(R, &a);
	cr_assert_geq(a.cache_loads, b.cache_loads + 2,
	    "chunk contents were kept in the cache (%llu loads)",
	    (unsigned long long) (a.cache_loads - b.cache_loads));
	free(data);
}

/* n log-like blocks first.. of size bytes of padding, one committed
 * transaction each; the padding's first byte is the block's index. */
static void
log_blocks(int first, int n, size_t size)
{
	struct oc_bid col  = bid(9999);
	uint8_t      *data = calloc(1, size);
	int           i;

	for (i = 0; i < n; i++) {
		struct oc_bid id = bid(first + i);
		struct oc_val b  = oc_block_new(&id, OC_BT_LOG, &col);
		struct oc_tfs t;

		data[0] = (uint8_t) i;
		oc_map_set(&b, "entries", oc_array());
		oc_map_set(&b, "pad", oc_bytes(data, size));
		oc_tfs_init(&t);
		oc_tfs_insert(&t, b);
		txn(100 + i, 1, &t);
	}
	free(data);
}

/*
 * Each stripe keeps its newest block whatever its size; 600 large blocks
 * written once (the old tails of a growing log) must not stay cached in
 * all 256 stripes: the sweep keeps the total near the budget
 * (OST_CACHE_BYTES).
 */
Test(repo, large_blocks_written_once_do_not_fill_every_stripe)
{
	struct ost_repo_stats st;
	int                   i;

	log_blocks(2000, 600, 400u << 10); /* 240 MiB of log-like blocks */
	ost_repo_stats(R, &st);
	cr_assert_leq(st.cache_bytes, OST_CACHE_BYTES + (2ull << 20),
	    "%llu bytes of block contents cached",
	    (unsigned long long) st.cache_bytes);
	/* dropped contents reload from disk */
	for (i = 0; i < 600; i += 97) {
		struct oc_get_res g = get_r(R, 2000 + i, NULL);

		cr_assert_eq(g.state, OC_GET_BLOCK);
		cr_assert_eq(oc_map_bytes(&g.block, "pad")->u.s.p[0],
		    (uint8_t) i);
		oc_get_res_fini(&g);
	}
}

/*
 * While the cache is far from full, blocks whose ids hash to one stripe
 * do not push each other out: 100 blocks of 40 KiB (4 MiB, a quarter of
 * OST_CACHE_BYTES) land two or more in some stripe (a 64 KiB share), and
 * all of them are read back from the cache.  A diary's read-ahead lost
 * blocks that way.
 */
Test(repo, blocks_sharing_a_stripe_stay_while_the_cache_has_room)
{
	struct ost_repo_stats st;
	uint64_t              loads;
	int                   i;

	log_blocks(3000, 100, 40u << 10);
	ost_repo_stats(R, &st);
	loads = st.cache_loads;
	for (i = 0; i < 100; i++) {
		struct oc_get_res g = get_r(R, 3000 + i, NULL);

		cr_assert_eq(g.state, OC_GET_BLOCK);
		cr_assert_eq(
		    oc_map_bytes(&g.block, "pad")->u.s.p[0], (uint8_t) i);
		oc_get_res_fini(&g);
	}
	ost_repo_stats(R, &st);
	cr_assert_eq(st.cache_loads, loads,
	    "%llu of 100 blocks were loaded again with %llu bytes cached",
	    (unsigned long long) (st.cache_loads - loads),
	    (unsigned long long) st.cache_bytes);
}

Test(repo, group_commit_shares_synced_writes)
{
	pthread_t             th[8];
	struct gworker        w[8];
	struct ost_repo_stats st;
	int                   i;

	for (i = 0; i < 8; i++) {
		w[i].base = 1 + 100 * i;
		w[i].n    = 40;
		pthread_create(&th[i], NULL, grouper, &w[i]);
	}
	for (i = 0; i < 8; i++)
		pthread_join(th[i], NULL);
	ost_repo_stats(R, &st);
	cr_expect_eq(st.commits, 320);
	cr_expect_lt(st.groups, st.commits, "groups %llu commits %llu",
	    (unsigned long long) st.groups, (unsigned long long) st.commits);
	repo_reopen();
	for (i = 0; i < 8; i++)
		expect_block(1 + 100 * i + 39, 39, 1);
}

/* The commit of action i inserting block i (value 9 + i) at revision 1,
 * into *req (its block id in *id); pended first when pended is true. */
static void
insert_req(int i, bool pended, struct oc_commit_req *req, struct oc_bid *id)
{
	struct oc_txres res;
	struct oc_tfs   t;

	if (pended) {
		oc_tfs_init(&t);
		t_ins(&t, i, 9 + i);
		oc_txres_init(&res);
		cr_assert_eq(pend(i, 1, &t, OC_POLICY_RETURN, &res), O_OK,
		    "%s", o_err_detail());
		oc_txres_fini(&res);
		oc_tfs_fini(&t);
	}
	*id = bid(i);
	memset(req, 0, sizeof(*req));
	req->aid      = aid(i);
	req->rev      = 1;
	req->ids      = id;
	req->n        = 1;
	req->critical = *id;
}

/*
 * A commit in two halves (ost_repo_commit_start / _end, a peer serving a
 * batch): three commits started on one thread share one synced write when
 * ended; a read between the halves sees the staged block (it waits for, or
 * leads, the write); a refusal at the start is given by the end with its
 * own detail, though another refusal came between.
 */
Test(repo, commits_in_two_halves_share_one_write)
{
	struct ost_commit    *c[4];
	struct oc_commit_req  req[4];
	struct oc_bid         ids[4];
	struct oc_txres       res;
	struct ost_repo_stats st0, st;
	struct oc_get_res     g;
	o_err                 e;
	int                   i;

	for (i = 0; i < 4; i++) /* the fourth has no pending: refused */
		insert_req(1 + i, i < 3, &req[i], &ids[i]);
	ost_repo_stats(R, &st0);
	for (i = 0; i < 4; i++) {
		c[i] = ost_repo_commit_start(R, &req[i]);
		cr_assert_not_null(c[i]);
	}
	g = get_r(R, 2, NULL); /* staged, not yet written: the read waits */
	cr_expect_eq(
	    g.latest_rev, 1, "block 2 at %lld", (long long) g.latest_rev);
	oc_get_res_fini(&g);
	req[3].rev = 0; /* another refusal, with another detail */
	oc_txres_init(&res);
	e = ost_repo_commit_end(R, ost_repo_commit_start(R, &req[3]), &res);
	cr_expect_eq(e, O_EINVAL, "%s", o_errname(e));
	oc_txres_fini(&res);
	for (i = 0; i < 4; i++) {
		oc_txres_init(&res);
		e = ost_repo_commit_end(R, c[i], &res);
		if (i < 3)
			cr_expect_eq(e, O_OK, "commit %d: %s: %s", i,
			    o_errname(e), o_err_detail());
		else
			cr_expect(e != O_OK &&
			        strstr(o_err_detail(), "rev 0") == NULL &&
			        o_err_detail()[0] != '\0',
			    "the refused commit: %s: %s", o_errname(e),
			    o_err_detail());
		oc_txres_fini(&res);
	}
	ost_repo_stats(R, &st);
	cr_expect_eq(st.commits - st0.commits, 3, "commits %llu",
	    (unsigned long long) (st.commits - st0.commits));
	cr_expect_eq(st.groups - st0.groups, 1, "groups %llu",
	    (unsigned long long) (st.groups - st0.groups));
	repo_reopen();
	for (i = 0; i < 3; i++)
		expect_block(1 + i, 10 + i, 1);
}

/* Staged commits whose group write fails all end with its error, none of
 * them is visible (the cache reloads what is on disk), and each goes
 * through when tried again. */
Test(repo, commits_in_two_halves_fail_together_when_their_write_fails)
{
	struct ost_commit   *c[2];
	struct oc_commit_req req[2];
	struct oc_bid        ids[2];
	struct oc_txres      res;
	struct oc_get_res    g;
	o_err                e;
	int                  i, round;

	opts.fail_write = fail_hook;
	repo_reopen();
	for (i = 0; i < 2; i++)
		insert_req(1 + i, true, &req[i], &ids[i]);
	for (round = 0; round < 2; round++) {
		fail_next = round == 0;
		for (i = 0; i < 2; i++)
			c[i] = ost_repo_commit_start(R, &req[i]);
		for (i = 0; i < 2; i++) {
			oc_txres_init(&res);
			e = ost_repo_commit_end(R, c[i], &res);
			cr_expect_eq(e, round == 0 ? O_ENOSPC : O_OK,
			    "round %d, commit %d: %s: %s", round, i,
			    o_errname(e), o_err_detail());
			oc_txres_fini(&res);
		}
		if (round == 0)
			for (i = 0; i < 2; i++) {
				g = get_r(R, 1 + i, NULL);
				cr_expect_eq(g.latest_rev, 0,
				    "block %d visible at %lld after the "
				    "failed "
				    "write",
				    1 + i, (long long) g.latest_rev);
				oc_get_res_fini(&g);
			}
	}
	repo_reopen();
	for (i = 0; i < 2; i++)
		expect_block(1 + i, 10 + i, 1);
}

/*
 * lazy_sync: a commit is acknowledged once written, and no write waits for
 * the disk until a sync, which syncs once for all of them (here through
 * the transactor, as the namespace calls it), and not again while nothing
 * new was written.  The commits are there after a close and reopen.
 */
Test(repo, lazy_sync_waits_for_the_disk_only_at_sync)
{
	struct ost_repo_stats st;

	opts.lazy_sync = true;
	repo_reopen();
	ins1(1, 1, 1, 10);
	ins1(2, 1, 2, 20);
	ost_repo_stats(R, &st);
	cr_expect_eq(
	    st.groups, 2, "groups %llu", (unsigned long long) st.groups);
	cr_expect_eq(st.syncs, 0, "a commit waited for the disk");
	cr_assert_eq(
	    oc_tx_sync(ost_local_transactor(R)), O_OK, "%s", o_err_detail());
	ost_repo_stats(R, &st);
	cr_expect_eq(st.syncs, 1, "syncs %llu", (unsigned long long) st.syncs);
	cr_assert_eq(ost_repo_sync(R), O_OK);
	ost_repo_stats(R, &st);
	cr_expect_eq(st.syncs, 1, "synced again with nothing new written");
	ins1(3, 1, 3, 30);
	cr_assert_eq(ost_repo_sync(R), O_OK);
	ost_repo_stats(R, &st);
	cr_expect_eq(st.syncs, 2, "syncs %llu", (unsigned long long) st.syncs);
	repo_reopen();
	expect_block(1, 10, 1);
	expect_block(2, 20, 1);
	expect_block(3, 30, 1);
}

/* Without lazy_sync every group write is synced, and a sync has nothing
 * to do. */
Test(repo, synced_commits_leave_nothing_to_sync)
{
	struct ost_repo_stats st;

	ins1(1, 1, 1, 10);
	ins1(2, 1, 2, 20);
	cr_assert_eq(oc_tx_sync(ost_local_transactor(R)), O_OK);
	ost_repo_stats(R, &st);
	cr_expect_eq(
	    st.groups, 2, "groups %llu", (unsigned long long) st.groups);
	cr_expect_eq(st.syncs, 2, "syncs %llu", (unsigned long long) st.syncs);
}

Test(repo, group_write_failure_fails_and_rolls_back)
{
	struct oc_tfs     t;
	struct oc_txres   res;
	struct oc_get_res g;
	o_err             e;

	opts.fail_write = fail_hook;
	repo_reopen();
	ins1(1, 1, 1, 1);
	oc_txres_init(&res);
	oc_tfs_init(&t);
	t_set(&t, 1, 2);
	cr_assert_eq(pend(2, 2, &t, OC_POLICY_RETURN, &res), O_OK);
	fail_next = 1;
	e         = cmt(&res, 2, 2, 1);
	cr_expect_eq(e, O_ENOSPC, "%s", o_errname(e));
	cr_expect(
	    strstr(o_err_detail(), "No space") != NULL, "%s", o_err_detail());
	g = get1(1, NULL);
	cr_expect_eq(g.latest_rev, 1, "in-memory state rolled back");
	cr_expect_eq(val_of(&g), 1);
	oc_get_res_fini(&g);
	cr_expect_eq(status1(2, 2, 1), OC_ST_PENDING, "pending kept");
	/* the retry goes through */
	cr_expect_eq(cmt(&res, 2, 2, 1), O_OK, "%s", o_err_detail());
	expect_block(1, 2, 2);
	repo_reopen();
	expect_block(1, 2, 2);
	oc_tfs_fini(&t);
	oc_txres_fini(&res);
}

static int fail_every; /* fail every Nth group write, 3 times */
static int writes_seen, fails_done;

static o_err
fail_nth_hook(void *arg)
{
	int n = __atomic_add_fetch(&writes_seen, 1, __ATOMIC_SEQ_CST);

	(void) arg;
	if (n % fail_every == 0 &&
	    __atomic_add_fetch(&fails_done, 1, __ATOMIC_SEQ_CST) <= 3)
		return o_err_set(O_EIO, "injected: IO error on write %d", n);
	return O_OK;
}

struct fworker {
	int blk, n, failed;
};

/* Commit seq 2..n on my block; retry a commit that failed to write. */
static void *
failing_writer(void *arg)
{
	struct fworker *w = arg;
	int             seq;

	for (seq = 2; seq <= w->n; seq++) {
		struct oc_tfs   t;
		struct oc_txres res;
		o_err           e;

		oc_tfs_init(&t);
		t_set(&t, w->blk, seq);
		oc_txres_init(&res);
		cr_assert_eq(
		    pend(w->blk * 1000 + seq, seq, &t, OC_POLICY_RETURN, &res),
		    O_OK, "%s", o_err_detail());
		while ((e = commit_tfs(
		            R, w->blk * 1000 + seq, seq, &t, &res)) != O_OK) {
			cr_assert_eq(
			    e, O_EIO, "%s: %s", o_errname(e), o_err_detail());
			w->failed++;
		}
		oc_txres_fini(&res);
		oc_tfs_fini(&t);
	}
	return NULL;
}

Test(repo, group_failures_under_concurrency_lose_nothing_acked)
{
	pthread_t      th[6];
	struct fworker w[6];
	int            i, failed = 0;

	for (i = 0; i < 6; i++)
		ins1(i + 1, 1, i + 1, 1);
	fail_every      = 7;
	opts.fail_write = fail_nth_hook;
	repo_reopen();
	for (i = 0; i < 6; i++) {
		w[i] = (struct fworker) { .blk = i + 1, .n = 40 };
		pthread_create(&th[i], NULL, failing_writer, &w[i]);
	}
	for (i = 0; i < 6; i++) {
		pthread_join(th[i], NULL);
		failed += w[i].failed;
	}
	cr_expect_geq(failed, 3, "every commit of a failed group fails");
	/* memory and disk agree: same answers before and after reopen */
	for (i = 1; i <= 6; i++)
		expect_block(i, 40, 40);
	repo_reopen();
	for (i = 1; i <= 6; i++) {
		int rev;

		expect_block(i, 40, 40);
		/* revisions below the kept history (at least one window)
		 * cannot tell; never a wrong answer */
		for (rev = 1; rev <= 40; rev++) {
			uint8_t st   = status1(i * 1000 + rev, rev, i);
			uint8_t want = rev == 1 ? OC_ST_ABORTED : OC_ST_COMMITTED;

			cr_expect(st == want ||
			        (rev < 40 - 16 && st == OC_ST_UNKNOWN),
			    "block %d rev %d: status %u", i, rev, st);
		}
	}
}

/* ---- the local transactor --------------------------------------------- */

Test(repo, local_transactor_drives_the_repo)
{
	struct oc_transactor *tx = ost_local_transactor(R);
	struct oc_tfs         t;
	struct oc_txres       res;
	struct oc_pend_req    pr;
	struct oc_commit_req  cr;
	struct oc_bid         b1 = bid(1);
	struct oc_get_res     g;
	uint8_t               st;

	oc_tfs_init(&t);
	t_ins(&t, 1, 9);
	memset(&pr, 0, sizeof(pr));
	pr.aid    = aid(1);
	pr.rev    = 1;
	pr.tfs    = &t;
	pr.policy = OC_POLICY_RETURN;
	oc_txres_init(&res);
	cr_assert_eq(tx->ops->pend(tx, &pr, &res), O_OK);
	cr_assert_eq(tx->ops->status(tx, &pr.aid, 1, &b1, 1, &st), O_OK);
	cr_expect_eq(st, OC_ST_PENDING);
	memset(&cr, 0, sizeof(cr));
	cr.aid      = pr.aid;
	cr.rev      = 1;
	cr.ids      = &b1;
	cr.n        = 1;
	cr.critical = b1;
	cr_assert_eq(tx->ops->commit(tx, &cr, &res), O_OK);
	cr_assert_eq(tx->ops->get(tx, &b1, 1, NULL, &g), O_OK);
	cr_expect_eq(val_of(&g), 9);
	oc_get_res_fini(&g);
	cr_expect_eq(tx->ops->cancel(tx, &pr.aid, &b1, 1), O_OK);
	cr_expect_eq(ost_local_transactor(R), tx);
	oc_tfs_fini(&t);
	oc_txres_fini(&res);
}

Test(repo, invalid_requests)
{
	struct oc_tfs        t;
	struct oc_txres      res;
	struct oc_commit_req c;
	struct oc_bid        b1 = bid(1), b2 = bid(2);

	oc_txres_init(&res);
	oc_tfs_init(&t);
	cr_expect_eq(pend(1, 1, &t, OC_POLICY_RETURN, &res), O_EINVAL);
	t_ins(&t, 1, 1);
	cr_expect_eq(pend(1, 0, &t, OC_POLICY_RETURN, &res), O_EINVAL);
	cr_expect_eq(pend(1, 1, &t, 'x', &res), O_EINVAL);
	/* an insert whose block id is not the entry's */
	t.e[0].id = b2;
	cr_expect_eq(pend(1, 1, &t, OC_POLICY_RETURN, &res), O_EINVAL);
	t.e[0].id = b1;
	memset(&c, 0, sizeof(c));
	c.aid      = aid(1);
	c.rev      = 1;
	c.ids      = &b1;
	c.n        = 1;
	c.critical = b2;
	cr_expect_eq(
	    ost_repo_commit(R, &c, &res), O_EINVAL, "critical not among ids");
	oc_tfs_fini(&t);
	oc_txres_fini(&res);
}

/* ---- install: repair from peers ---------------------------------------- */

Test(repo, install_adopts_newer_revisions_only)
{
	struct oc_bid id = bid(1), other = bid(2);
	struct oc_aid a7 = aid(7), a8 = aid(8);
	struct oc_val b;
	bool          done;

	/* an absent block: adopted, then read and updated like any other */
	b = leaf(1, 70);
	cr_assert_eq(ost_repo_install(R, &id, 5, &a7, &b, false, &done), O_OK, "%s",
	    o_err_detail());
	cr_assert(done);
	oc_val_fini(&b);
	expect_block(1, 70, 5);
	cr_assert_eq(status1(7, 5, 1), OC_ST_COMMITTED);
	set1(9, 6, 1, 71);
	expect_block(1, 71, 6);

	/* an older or equal revision changes nothing */
	b = leaf(1, 1);
	cr_assert_eq(ost_repo_install(R, &id, 6, &a8, &b, false, &done), O_OK);
	cr_assert(!done);
	cr_assert_eq(ost_repo_install(R, &id, 3, &a8, &b, false, &done), O_OK);
	cr_assert(!done);
	expect_block(1, 71, 6);

	/* a newer one replaces the content, and survives a reopen */
	oc_val_fini(&b);
	b = leaf(1, 90);
	cr_assert_eq(ost_repo_install(R, &id, 9, &a8, &b, false, &done), O_OK);
	cr_assert(done);
	oc_val_fini(&b);
	repo_reopen();
	expect_block(1, 90, 9);

	/* a deletion: absent afterwards; nothing to delete: no-op */
	cr_assert_eq(ost_repo_install(R, &id, 10, &a8, NULL, false, &done), O_OK);
	cr_assert(done);
	{
		struct oc_get_res g = get1(1, NULL);

		cr_assert_eq(g.state, OC_GET_ABSENT);
		oc_get_res_fini(&g);
	}
	cr_assert_eq(ost_repo_install(R, &other, 4, &a8, NULL, false, &done), O_OK);
	cr_assert(!done);

	/* a block whose id is not the one named is refused */
	b = leaf(3, 1);
	cr_assert_eq(ost_repo_install(R, &other, 4, &a8, &b, false, &done), O_EINVAL);
	cr_assert_eq(ost_repo_install(R, &other, 0, &a8, NULL, false, &done),
	    O_EINVAL);
	oc_val_fini(&b);
}

/* The same revision by another action is replaced only with over, and
 * the replacement is what the block, its status and a reopen show. */
Test(repo, install_over_replaces_the_same_revision_of_another_action)
{
	struct oc_bid id = bid(1);
	struct oc_aid a8 = aid(8);
	struct oc_val b;
	bool          done;

	ins1(7, 1, 1, 70); /* action 7 committed rev 1 here (a minority) */
	b = leaf(1, 80);
	cr_assert_eq(ost_repo_install(R, &id, 1, &a8, &b, false, &done), O_OK);
	cr_assert(!done, "without over the same revision is kept");
	expect_block(1, 70, 1);
	cr_assert_eq(ost_repo_install(R, &id, 1, &a8, &b, true, &done), O_OK,
	    "%s", o_err_detail());
	cr_assert(done, "over replaces it");
	expect_block(1, 80, 1);
	cr_assert_eq(status1(8, 1, 1), OC_ST_COMMITTED);
	cr_assert_eq(status1(7, 1, 1), OC_ST_ABORTED);
	/* the same action again, or an older revision: nothing happens */
	cr_assert_eq(ost_repo_install(R, &id, 1, &a8, &b, true, &done), O_OK);
	cr_assert(!done);
	oc_val_fini(&b);
	repo_reopen();
	expect_block(1, 80, 1);
	/* and the block goes on from there */
	set1(9, 2, 1, 81);
	expect_block(1, 81, 2);
}

/* ---- gc: bounded history ------------------------------------------------ */

static struct ost_repo_count
count1(int n)
{
	struct oc_bid         id = bid(n);
	struct ost_repo_count c;

	cr_assert_eq(ost_repo_count(R, &id, &c), O_OK, "%s", o_err_detail());
	return c;
}

/* Block 1 inserted at rev 1 and set to rev*10 at revs 2..last. */
static void
hundred(int last)
{
	int rev;

	ins1(1, 1, 1, 1);
	for (rev = 2; rev <= last; rev++)
		set1(rev, rev, 1, rev * 10);
}

Test(repo, gc_hundred_commits_keep_two_windows)
{
	struct ost_repo_count c;
	struct oc_actx        ctx;
	int                   rev, lowest = 0;

	hundred(100);
	c = count1(1);
	cr_expect_leq(c.rev, 2 * 16, "rev records %llu",
	    (unsigned long long) c.rev);
	cr_expect_leq(c.mat, 2, "mat records %llu", (unsigned long long) c.mat);
	cr_expect_eq(c.meta, 1);
	cr_expect_eq(c.pend, 0, "pendings left after commit");
	expect_block(1, 1000, 100);
	/* cold, after a reopen: latest, and every kept revision (at least a
	 * whole window) reads right; none reads absent */
	repo_reopen();
	expect_block(1, 1000, 100);
	oc_actx_init(&ctx);
	for (rev = 1; rev <= 100; rev++) {
		struct oc_get_res g;

		ctx.rev = rev;
		g       = get1(1, &ctx);
		cr_expect_neq(g.state, OC_GET_ABSENT, "rev %d", rev);
		if (g.state == OC_GET_BLOCK) {
			if (lowest == 0)
				lowest = rev;
			cr_expect_eq(val_of(&g), rev == 1 ? 1 : rev * 10);
		} else {
			cr_expect_eq(g.cause, O_ESTALE, "rev %d: %s", rev,
			    g.reason);
			cr_expect_eq(lowest, 0, "unreadable above readable");
		}
		oc_get_res_fini(&g);
	}
	cr_expect_gt(lowest, 1, "nothing was pruned");
	cr_expect_leq(lowest, 100 - 16, "less than a window kept");
	c = count1(1);
	cr_expect_leq(c.rev, 2 * 16);
}

Test(repo, gc_pinned_read_below_the_horizon_is_not_absent)
{
	struct oc_actx    ctx;
	struct oc_get_res g;
	struct oc_tfs     t;
	struct oc_txres   res;
	size_t            i;

	hundred(100);
	ins1(200, 200, 2, 7); /* block 2 created late: absent at rev 5 */
	oc_actx_init(&ctx);
	ctx.rev = 5;
	g       = get1(1, &ctx);
	cr_expect_eq(g.state, OC_GET_UNKNOWN, "state %d", g.state);
	cr_expect_eq(g.cause, O_ESTALE, "%s", g.reason);
	cr_expect_eq(g.latest_rev, 100, "latest still reported");
	oc_get_res_fini(&g);
	g = get1(2, &ctx); /* never pruned: a true absence */
	cr_expect_eq(g.state, OC_GET_ABSENT);
	oc_get_res_fini(&g);
	/* status of a pruned revision: cannot tell, not "aborted" */
	cr_expect_eq(status1(5, 5, 1), OC_ST_UNKNOWN);
	cr_expect_eq(status1(100, 100, 1), OC_ST_COMMITTED);
	/* a stale pend from far behind is still refused as stale, listing
	 * only the revisions kept */
	oc_tfs_init(&t);
	t_set(&t, 1, 5);
	oc_txres_init(&res);
	cr_expect_eq(pend(300, 6, &t, OC_POLICY_RETURN, &res), O_ESTALE);
	cr_expect_eq(res.stale_rev, 100);
	cr_expect_gt(res.nmissing, 0);
	cr_expect_leq(res.nmissing, 2 * 16);
	for (i = 0; i < res.nmissing; i++)
		cr_expect_gt(res.missing[i].rev, 6);
	cr_expect_eq(res.missing[res.nmissing - 1].rev, 100);
	oc_txres_fini(&res);
	/* a commit from as far behind, with no pending of its own here, may
	 * be one this replica committed at rev 6 and pruned since (sent
	 * again): it cannot tell, and says so instead of "stale", which would
	 * tell the coordinator it never committed it */
	oc_txres_init(&res);
	resent = true;
	cr_expect_eq(commit_tfs(R, 300, 6, &t, &res), O_EUNAVAIL);
	cr_expect(strstr(o_err_detail(), "cannot tell") != NULL, "%s",
	    o_err_detail());
	oc_txres_fini(&res);
	/* in process (sent once) it is stale, listing only what is kept */
	oc_txres_init(&res);
	resent = false;
	cr_expect_eq(commit_tfs(R, 300, 6, &t, &res), O_ESTALE);
	cr_expect_eq(res.stale_rev, 100);
	cr_expect_gt(res.nmissing, 0);
	cr_expect_leq(res.nmissing, 2 * 16);
	for (i = 0; i < res.nmissing; i++)
		cr_expect_gt(res.missing[i].rev, 6);
	oc_txres_fini(&res);
	oc_tfs_fini(&t);
	/* the writer that updated commits on top */
	set1(301, 101, 1, 1010);
	expect_block(1, 1010, 101);
}

Test(repo, gc_deleted_block_keeps_meta_and_tombstone)
{
	struct ost_repo_count c;
	struct oc_actx        ctx;
	struct oc_get_res     g;
	struct oc_tfs         t;

	hundred(20);
	oc_tfs_init(&t);
	t_del(&t, 1);
	txn(21, 21, &t);
	c = count1(1);
	cr_expect_eq(c.meta, 1);
	cr_expect_eq(c.mat, 1, "only the tombstone: %llu",
	    (unsigned long long) c.mat);
	cr_expect_eq(c.rev, 1, "only the deletion: %llu",
	    (unsigned long long) c.rev);
	cr_expect_eq(c.pend, 0);
	repo_reopen();
	g = get1(1, NULL);
	cr_expect_eq(g.state, OC_GET_ABSENT);
	cr_expect_eq(g.latest_rev, 21);
	oc_get_res_fini(&g);
	oc_actx_init(&ctx);
	ctx.rev = 20; /* it existed then: never "absent" */
	g       = get1(1, &ctx);
	cr_expect_eq(g.state, OC_GET_UNKNOWN);
	cr_expect_eq(g.cause, O_ESTALE, "cause %s: %s", o_errname(g.cause), g.reason);
	oc_get_res_fini(&g);
	cr_expect_eq(status1(21, 21, 1), OC_ST_COMMITTED);
}

Test(repo, gc_store_without_low_opens_and_prunes)
{
	struct ost_repo_count c;
	struct ost_rdb       *db;
	struct o_buf          b = { 0 };
	struct oc_val         v;
	struct oc_bid         id = bid(1);
	bool                  found;
	int                   rev;

	/* a materialisation only at the first revision: nothing is pruned
	 * and the meta has no "low", as the code before pruning wrote */
	opts.mat_interval = 1000;
	repo_reopen();
	hundred(60);
	ost_repo_close(R);
	R = NULL;
	cr_assert_eq(ost_rdb_open(dir, &db), O_OK);
	cr_assert_eq(ost_rdb_get(db, OST_CF_META, id.b, 32, &b, &found), O_OK);
	cr_assert(found);
	cr_assert_eq(oc_decode(b.data, b.len, &v), O_OK);
	cr_expect_null(oc_map_get(&v, "low"), "an old-format meta");
	oc_val_fini(&v);
	o_buf_fini(&b);
	ost_rdb_close(db);
	cr_expect_eq(raw_count(OST_CF_REV, 1), 60);
	/* reopened with the default interval: every old revision still
	 * reads, then the next materialisations prune the old history */
	opts.mat_interval = 0;
	repo_reopen();
	expect_block(1, 600, 60);
	{
		struct oc_actx    ctx;
		struct oc_get_res g;

		oc_actx_init(&ctx);
		ctx.rev = 1;
		g       = get1(1, &ctx);
		cr_expect_eq(g.state, OC_GET_BLOCK);
		cr_expect_eq(val_of(&g), 1);
		oc_get_res_fini(&g);
	}
	for (rev = 61; rev <= 120; rev++)
		set1(rev, rev, 1, rev * 10);
	c = count1(1);
	cr_expect_leq(c.rev, 2 * 16, "rev records %llu",
	    (unsigned long long) c.rev);
	cr_expect_leq(c.mat, 2);
	repo_reopen();
	expect_block(1, 1200, 120);
}

/*
 * Block 1 written to rev 100 before pruning existed, materialised every
 * old_interval revisions; then with pruning, prune_max 8 and a copy every
 * 4: no commit deletes more than `bound` records, it takes at least
 * min_steps commits, every revision from the lowest kept reads, and in
 * the end the two windows hold.
 */
static void
pruned_in_steps(int old_interval, uint64_t bound, int min_steps)
{
	struct ost_repo_count c;
	struct oc_actx        ctx;
	struct oc_get_res     g;
	int                   rev, steps;
	uint64_t              before;

	opts.mat_interval = old_interval;
	opts.no_prune     = true;
	repo_reopen();
	hundred(100);
	c = count1(1);
	cr_assert_eq(c.rev, 100);
	cr_assert_eq(c.mat, (uint64_t) (100 + old_interval - 1) / old_interval);
	opts.mat_interval = 4;
	opts.no_prune     = false;
	opts.prune_max    = 8;
	repo_reopen();
	for (steps = 0, rev = 101; rev <= 200; rev++) {
		before = count1(1).rev;
		set1(rev, rev, 1, rev * 10);
		c = count1(1);
		cr_assert_leq(before + 1 - c.rev, bound,
		    "rev %d pruned %llu records at once", rev,
		    (unsigned long long) (before + 1 - c.rev));
		if (c.rev < before + 1)
			steps++;
		/* every revision from the lowest kept still reads */
		oc_actx_init(&ctx);
		ctx.rev = rev - (int) c.rev + 1;
		g       = get1(1, &ctx);
		cr_assert_eq(g.state, OC_GET_BLOCK, "rev %lld, after commit %d",
		    (long long) ctx.rev, rev);
		cr_assert_eq(val_of(&g), ctx.rev == 1 ? 1 : ctx.rev * 10);
		oc_get_res_fini(&g);
	}
	cr_expect_geq(steps, min_steps, "pruned in %d steps", steps);
	/* 8 deleted and 4 added per window: the backlog goes, then the
	 * bound of two windows holds */
	for (; rev <= 400 && count1(1).rev > 2 * 4; rev++)
		set1(rev, rev, 1, rev * 10);
	c = count1(1);
	cr_expect_leq(c.rev, 2 * 4, "rev records %llu at rev %d",
	    (unsigned long long) c.rev, rev - 1);
	expect_block(1, (rev - 1) * 10, rev - 1);
}

/*
 * The first prune of a long history (written before pruning existed)
 * goes in steps: each materialisation deletes about prune_max records,
 * cut at a mat so that every revision from the new low on still reads;
 * later ones prune the rest.
 */
Test(repo, gc_long_history_is_pruned_in_steps)
{
	pruned_in_steps(4, 8 + 1, 10);
}

/* Copies further apart than prune_max: each step cuts at the next copy
 * (one gap of 20), found by review: none was within 8 records of where
 * the last prune stopped, so the whole history went in one commit. */
Test(repo, gc_sparse_copies_are_pruned_a_gap_at_a_time)
{
	pruned_in_steps(20, 20 + 1, 4);
}

/* A meta whose "low" lies above "mat", or whose "swp" (where the next
 * prune starts) lies above "low", is corrupt, not believed. */
Test(repo, gc_meta_low_out_of_range_is_corrupt)
{
	static const int64_t bad[][2] = { { 5, -1 }, { -1, 1 }, { 1, 2 } };
	struct oc_get_res    g;
	size_t               i;

	ins1(1, 1, 1, 1);
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		ost_repo_close(R);
		R = NULL;
		meta_put_raw(1, bad[i][0], bad[i][1]);
		repo_reopen();
		g = get1(1, NULL);
		cr_expect_eq(g.state, OC_GET_UNKNOWN, "low %lld swp %lld",
		    (long long) bad[i][0], (long long) bad[i][1]);
		cr_expect_eq(g.cause, O_ECORRUPT, "%s", g.reason);
		oc_get_res_fini(&g);
	}
	/* in range: read */
	ost_repo_close(R);
	R = NULL;
	meta_put_raw(1, 1, 0);
	repo_reopen();
	g = get1(1, NULL);
	cr_expect_eq(g.state, OC_GET_BLOCK, "%s", g.reason);
	oc_get_res_fini(&g);
}

/* repo.h: every committed revision in [low, rev] has its rev record.  An
 * install (a repair) may jump over revisions this replica never saw, so
 * it raises low: a read pinned inside the jump is O_ESTALE, never older
 * content or "absent" (found by review: it answered v=100 and absent). */
Test(repo, gc_install_over_a_gap_raises_low)
{
	struct oc_bid     id = bid(1), id2 = bid(2);
	struct oc_aid     a9 = aid(900);
	struct oc_val     b;
	struct oc_actx    ctx;
	struct oc_get_res g;
	bool              done;
	int               rev;

	ins1(1, 1, 1, 1);
	for (rev = 2; rev <= 10; rev++)
		set1(rev, rev, 1, rev * 10);
	b = leaf(1, 400);
	cr_assert_eq(ost_repo_install(R, &id, 40, &a9, &b, false, &done), O_OK);
	cr_assert(done);
	oc_val_fini(&b);
	b = leaf(2, 77);
	cr_assert_eq(ost_repo_install(R, &id2, 40, &a9, &b, false, &done), O_OK);
	oc_val_fini(&b);
	oc_actx_init(&ctx);
	ctx.rev = 20;
	g = get1(1, &ctx);
	cr_expect_eq(g.state, OC_GET_UNKNOWN, "block 1 at 20: state %d mat_rev %lld",
	    g.state, (long long) g.mat_rev);
	cr_expect_eq(g.cause, O_ESTALE, "cause %s: %s", o_errname(g.cause), g.reason);
	oc_get_res_fini(&g);
	g = get1(2, &ctx);
	cr_expect_eq(g.state, OC_GET_UNKNOWN, "block 2 at 20: state %d", g.state);
	cr_expect_eq(g.cause, O_ESTALE, "cause %s: %s", o_errname(g.cause), g.reason);
	oc_get_res_fini(&g);
	ctx.rev = 40; /* at the installed revision: the block */
	g = get1(1, &ctx);
	cr_expect_eq(g.state, OC_GET_BLOCK);
	oc_get_res_fini(&g);
}

/*
 * An install over a long history written before pruning: the prune it
 * makes is cut short, low is raised to the install's revision over
 * records not yet deleted; later prunes start where the last one stopped
 * (meta "swp"), not at low, and delete them (found by review: 99 rev and
 * 25 mat records stayed for good).
 */
Test(repo, gc_install_over_a_long_history_is_swept_later)
{
	struct oc_bid         id = bid(1);
	struct oc_aid         a9 = aid(900);
	struct oc_val         b;
	struct ost_repo_count c;
	struct oc_actx        ctx;
	struct oc_get_res     g;
	bool                  done;
	int                   rev;

	opts.mat_interval = 4;
	opts.no_prune     = true;
	repo_reopen();
	hundred(100);
	opts.no_prune  = false;
	opts.prune_max = 8;
	repo_reopen();
	b = leaf(1, 400);
	cr_assert_eq(ost_repo_install(R, &id, 150, &a9, &b, false, &done), O_OK);
	oc_val_fini(&b);
	oc_actx_init(&ctx);
	ctx.rev = 120; /* inside the jump: not readable, not absent */
	g       = get1(1, &ctx);
	cr_expect_eq(g.state, OC_GET_UNKNOWN);
	cr_expect_eq(g.cause, O_ESTALE);
	oc_get_res_fini(&g);
	repo_reopen(); /* "swp" is read back from the meta */
	for (rev = 151; rev <= 400; rev++)
		set1(rev, rev, 1, rev * 10);
	c = count1(1);
	cr_expect_leq(c.rev, 2 * 4, "rev records %llu after 250 more commits",
	    (unsigned long long) c.rev);
	cr_expect_leq(c.mat, 3, "mat records %llu", (unsigned long long) c.mat);
	expect_block(1, 4000, 400);
}

/* A new store holds no block; one committed block and it does, also
 * after a reopen (a node's start asks: PROTOCOL §3, served_check). */
Test(repo, holds_blocks_once_one_is_committed)
{
	bool held = true;

	cr_assert_eq(ost_repo_holds_blocks(R, &held), O_OK);
	cr_expect(!held, "a new store holds a block");
	ins1(1, 1, 1, 10);
	cr_assert_eq(ost_repo_holds_blocks(R, &held), O_OK);
	cr_expect(held, "a store with a committed block holds none");
	repo_reopen();
	held = false;
	cr_assert_eq(ost_repo_holds_blocks(R, &held), O_OK);
	cr_expect(held, "reopened, it holds none");
}
