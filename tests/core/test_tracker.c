/*
 * test_tracker.c - the tracker (digest 1.7), atomic scopes (1.8), replay of
 * transform sets into a store, the in-memory store and the store helpers.
 * Test names carry the acceptance item of digest section 10.1 (d01..d13).
 */
#include <stdlib.h>
#include <string.h>

#include <criterion/criterion.h>

#include "core/block.h"
#include "core/bstore.h"
#include "core/codec.h"
#include "core/transform.h"

TestSuite(tracker, .timeout = 60);

static struct oc_bid COL;

static void
bid_fill(struct oc_bid *id, uint8_t seed)
{
	size_t i;

	for (i = 0; i < OC_BID_LEN; i++)
		id->b[i] = (uint8_t) (seed * 31 + i);
}

static struct oc_bid
bid(uint8_t seed)
{
	struct oc_bid id;

	bid_fill(&id, seed);
	return id;
}

/* A chain-like data block: entries[] and a "v" int. */
static struct oc_val
blk(uint8_t seed, int64_t v)
{
	struct oc_bid id = bid(seed);
	struct oc_val b;

	bid_fill(&COL, 250);
	b = oc_block_new(&id, OC_BT_LEAF, &COL);
	oc_map_set(&b, "entries", oc_array());
	oc_map_set(&b, "v", oc_int(v));
	return b;
}

static struct oc_op
push_op(const struct oc_val *b, int64_t x)
{
	struct oc_val ins = oc_array();

	oc_arr_push(&ins, oc_int(x));
	return oc_op_splice("entries",
	    (uint32_t) oc_arr_len(oc_map_get(b, "entries")), 0, ins);
}

static bool
tfs_eq(const struct oc_tfs *a, const struct oc_tfs *b)
{
	struct oc_val va = oc_tfs_to_val(a), vb = oc_tfs_to_val(b);
	bool          eq = oc_val_eq(&va, &vb);

	oc_val_fini(&va);
	oc_val_fini(&vb);
	return eq;
}

/* get that must find the block; returns its "v" */
static int64_t
get_v(struct oc_bstore *s, uint8_t seed)
{
	struct oc_bid id = bid(seed);
	struct oc_val b;
	bool          found;
	int64_t       v;

	cr_assert(
	    oc_bstore_get(s, &id, &b, &found) == O_OK, "%s", o_err_detail());
	cr_assert(found, "block %u absent", seed);
	v = oc_map_int(&b, "v", -999);
	oc_val_fini(&b);
	return v;
}

static bool
absent(struct oc_bstore *s, uint8_t seed)
{
	struct oc_bid id = bid(seed);
	struct oc_val b;
	bool          found = true;

	cr_assert(oc_bstore_get(s, &id, &b, &found) == O_OK);
	oc_val_fini(&b);
	return !found;
}

/* A memstore holding blocks 1..n with v = seed * 10. */
static struct oc_memstore *
seeded(uint8_t n)
{
	struct oc_memstore *m = oc_memstore_alloc();
	uint8_t             i;

	for (i = 1; i <= n; i++)
		cr_assert(oc_bstore_insert(
		              oc_memstore_store(m), blk(i, i * 10)) == O_OK);
	return m;
}

/* Compare every block of two stores over ids 1..n. */
static void
expect_same_stores(struct oc_bstore *a, struct oc_bstore *b, uint8_t n)
{
	uint8_t i;

	for (i = 1; i <= n; i++) {
		struct oc_bid id = bid(i);
		struct oc_val x, y;
		bool          fx, fy;

		cr_assert(oc_bstore_get(a, &id, &x, &fx) == O_OK);
		cr_assert(oc_bstore_get(b, &id, &y, &fy) == O_OK);
		cr_expect(fx == fy, "block %u presence differs", i);
		if (fx && fy)
			cr_expect(oc_val_eq(&x, &y), "block %u differs", i);
		oc_val_fini(&x);
		oc_val_fini(&y);
	}
}

/* ---- 10.1 items 1-7: the tracker --------------------------------------- */

Test(tracker, d01_insert_then_get_returns_copy)
{
	struct oc_memstore *m = oc_memstore_alloc();
	struct oc_tracker   t;
	struct oc_val       b = blk(1, 5), want = oc_val_dup(&b), got;
	struct oc_bid       id = bid(1);
	bool                found;

	oc_tracker_init(&t, oc_memstore_store(m));
	cr_assert(oc_bstore_insert(&t.base, b) == O_OK);
	cr_assert(oc_bstore_get(&t.base, &id, &got, &found) == O_OK);
	cr_expect(found && oc_val_eq(&got, &want));
	cr_assert(oc_tfs_get(&t.tfs, &id) != NULL);
	cr_expect(oc_val_eq(oc_tfs_get(&t.tfs, &id)->insert, &want));
	/* the result is a private copy */
	oc_map_set(&got, "v", oc_int(6));
	cr_expect(get_v(&t.base, 1) == 5);
	cr_expect(oc_memstore_len(m) == 0, "source untouched");
	oc_val_fini(&got);
	oc_val_fini(&want);
	oc_tracker_fini(&t);
	oc_memstore_free(m);
}

Test(tracker, d02_update_of_source_block)
{
	struct oc_memstore *m = seeded(2);
	struct oc_tracker   t;
	struct oc_bid       id = bid(1);
	struct oc_val       got;
	bool                found;
	struct oc_tf       *tf;

	oc_tracker_init(&t, oc_memstore_store(m));
	cr_assert(oc_bstore_update(&t.base, &id, oc_op_set("v", oc_int(77))) ==
	    O_OK);
	cr_expect(get_v(&t.base, 1) == 77);
	tf = oc_tfs_get(&t.tfs, &id);
	cr_assert(tf != NULL);
	cr_expect(tf->nops == 1 && tf->insert == NULL && !tf->del);
	cr_expect(strcmp(tf->ops[0].field, "v") == 0);
	cr_expect(get_v(oc_memstore_store(m), 1) == 10, "source unchanged");
	/* untouched blocks read through */
	cr_expect(get_v(&t.base, 2) == 20);
	/* apply helper: caller's copy and the store both change */
	cr_assert(oc_bstore_get(&t.base, &id, &got, &found) == O_OK);
	cr_assert(oc_bstore_apply(&t.base, &got, push_op(&got, 3)) == O_OK);
	cr_expect(oc_arr_len(oc_map_get(&got, "entries")) == 1);
	oc_val_fini(&got);
	cr_assert(oc_bstore_get(&t.base, &id, &got, &found) == O_OK);
	cr_expect(oc_arr_len(oc_map_get(&got, "entries")) == 1);
	cr_expect(tf == oc_tfs_get(&t.tfs, &id) && tf->nops == 2);
	oc_val_fini(&got);
	oc_tracker_fini(&t);
	oc_memstore_free(m);
}

Test(tracker, d03_delete)
{
	struct oc_memstore *m = seeded(1);
	struct oc_tracker   t;
	struct oc_bid       id = bid(1);

	oc_tracker_init(&t, oc_memstore_store(m));
	cr_assert(oc_bstore_del(&t.base, &id) == O_OK);
	cr_expect(absent(&t.base, 1));
	cr_expect(oc_tfs_get(&t.tfs, &id)->del);
	cr_expect(!absent(oc_memstore_store(m), 1), "source unchanged");
	/* updates of a staged delete are refused, not dropped */
	cr_expect(oc_bstore_update(&t.base, &id, oc_op_set("v", oc_int(1))) ==
	    O_ENOBASE);
	oc_tracker_fini(&t);
	oc_memstore_free(m);
}

Test(tracker, d04_reset_returns_old_transforms)
{
	struct oc_memstore *m = seeded(2);
	struct oc_tracker   t;
	struct oc_tfs       old;
	struct oc_bid       one = bid(1), two = bid(2);

	oc_tracker_init(&t, oc_memstore_store(m));
	cr_assert(oc_bstore_insert(&t.base, blk(3, 1)) == O_OK);
	cr_assert(oc_bstore_update(&t.base, &one, oc_op_set("v", oc_int(2))) ==
	    O_OK);
	cr_assert(oc_bstore_del(&t.base, &two) == O_OK);
	oc_tracker_reset(&t, &old);
	cr_expect(old.n == 3);
	cr_expect(t.tfs.n == 0 && oc_tfs_is_empty(&t.tfs));
	cr_expect(get_v(&t.base, 1) == 10 && get_v(&t.base, 2) == 20);
	cr_expect(absent(&t.base, 3));
	/* reset with NULL discards; the tracker is usable again */
	cr_assert(oc_bstore_update(&t.base, &one, oc_op_set("v", oc_int(4))) ==
	    O_OK);
	oc_tracker_reset(&t, NULL);
	cr_expect(t.tfs.n == 0 && get_v(&t.base, 1) == 10);
	/* init_with copies */
	oc_tracker_fini(&t);
	oc_tracker_init_with(&t, oc_memstore_store(m), &old);
	cr_expect(tfs_eq(&t.tfs, &old));
	cr_expect(get_v(&t.base, 1) == 2 && absent(&t.base, 2) &&
	    get_v(&t.base, 3) == 1);
	cr_assert(oc_bstore_update(&t.base, &one, oc_op_set("v", oc_int(5))) ==
	    O_OK);
	cr_expect(oc_tfs_get(&old, &one)->nops == 1, "old not shared");
	oc_tfs_fini(&old);
	oc_tracker_fini(&t);
	oc_memstore_free(m);
}

Test(tracker, d05_reinsert_of_deleted_clears_delete)
{
	struct oc_memstore *m = seeded(2);
	struct oc_tracker   t;
	struct oc_bid       one = bid(1), two = bid(2);

	oc_tracker_init(&t, oc_memstore_store(m));
	cr_assert(oc_bstore_del(&t.base, &one) == O_OK);
	cr_assert(oc_bstore_del(&t.base, &one) == O_OK); /* no phantom */
	cr_assert(oc_bstore_del(&t.base, &two) == O_OK);
	cr_assert(oc_bstore_insert(&t.base, blk(1, 99)) == O_OK);
	cr_expect(!oc_tfs_get(&t.tfs, &one)->del, "re-insert clears delete");
	cr_expect(get_v(&t.base, 1) == 99);
	cr_expect(oc_tfs_get(&t.tfs, &two)->del, "other delete intact");
	cr_expect(absent(&t.base, 2));
	/* inserting an id never deleted leaves the deletes alone */
	cr_assert(oc_bstore_insert(&t.base, blk(3, 30)) == O_OK);
	cr_expect(oc_tfs_get(&t.tfs, &two)->del);
	oc_tracker_fini(&t);
	oc_memstore_free(m);
}

Test(tracker, d06_update_after_insert_folds)
{
	struct oc_memstore *m = oc_memstore_alloc();
	struct oc_tracker   t;
	struct oc_bid       id = bid(1);
	struct oc_tf       *tf;

	oc_tracker_init(&t, oc_memstore_store(m));
	cr_assert(oc_bstore_insert(&t.base, blk(1, 1)) == O_OK);
	cr_assert(
	    oc_bstore_update(&t.base, &id, oc_op_set("v", oc_int(2))) == O_OK);
	tf = oc_tfs_get(&t.tfs, &id);
	cr_expect(tf->nops == 0, "no updates entry");
	cr_expect(oc_map_int(tf->insert, "v", 0) == 2);
	cr_expect(get_v(&t.base, 1) == 2);
	oc_tracker_fini(&t);
	oc_memstore_free(m);
}

Test(tracker, d07_insert_and_delete_shadow_source)
{
	struct oc_memstore *m = seeded(2);
	struct oc_tracker   t;
	struct oc_bid       two = bid(2);

	oc_tracker_init(&t, oc_memstore_store(m));
	cr_assert(oc_bstore_insert(&t.base, blk(1, -1)) == O_OK);
	cr_expect(get_v(&t.base, 1) == -1);
	cr_assert(oc_bstore_del(&t.base, &two) == O_OK);
	cr_expect(absent(&t.base, 2));
	cr_expect(get_v(oc_memstore_store(m), 1) == 10);
	cr_expect(get_v(oc_memstore_store(m), 2) == 20);
	oc_tracker_fini(&t);
	oc_memstore_free(m);
}

Test(tracker, update_of_absent_block)
{
	struct oc_memstore *m = oc_memstore_alloc();
	struct oc_tracker   t;
	struct oc_bid       id = bid(1);
	struct oc_val       b;
	bool                found;

	oc_tracker_init(&t, oc_memstore_store(m));
	/* staged blindly, but reading it is an error, not "absent" */
	cr_assert(
	    oc_bstore_update(&t.base, &id, oc_op_set("v", oc_int(2))) == O_OK);
	cr_expect(oc_bstore_get(&t.base, &id, &b, &found) == O_ENOBASE);
	oc_val_fini(&b);
	cr_expect(oc_bstore_need(&t.base, &id, &b) == O_ENOBASE);
	oc_val_fini(&b);
	oc_tracker_fini(&t);
	oc_memstore_free(m);
}

/*
 * Regression (fuzz_transform): a set from the wire or from merging {delete}
 * with later ops may hold ops and a delete without an insert.  Delete is
 * the last step, so the tracker reads it as absent, exactly as replay and
 * the cache fold treat it - not as O_ENOBASE.
 */
Test(tracker, ops_then_delete_reads_absent_like_replay)
{
	struct oc_memstore *m = seeded(2), *twin = seeded(2);
	struct oc_tracker   t;
	struct oc_tfs       tfs, later;
	struct oc_bid       one = bid(1), nine = bid(9);
	struct oc_tf       *tf;

	oc_tfs_init(&tfs);
	tf = oc_tfs_ensure(&tfs, &one); /* a source block */
	oc_tf_add_op(tf, oc_op_set("v", oc_int(5)));
	tf->del = true;
	tf      = oc_tfs_ensure(&tfs, &nine); /* no base at all */
	oc_tf_add_op(tf, oc_op_set(OC_F_TYPE, oc_text("TB")));
	tf->del = true;
	oc_tracker_init_with(&t, oc_memstore_store(m), &tfs);
	cr_expect(absent(&t.base, 1));
	cr_expect(absent(&t.base, 9));
	cr_assert(oc_tfs_replay(&tfs, oc_memstore_store(twin)) == O_OK);
	expect_same_stores(&t.base, oc_memstore_store(twin), 9);
	oc_tracker_fini(&t);
	/* the same shape from merging a delete with later ops */
	oc_tfs_fini(&tfs);
	oc_tfs_init(&tfs);
	oc_tfs_delete(&tfs, &one);
	oc_tfs_init(&later);
	cr_assert(
	    oc_tfs_update(&later, &one, oc_op_set("v", oc_int(6))) == O_OK);
	oc_tfs_merge(&tfs, &later);
	oc_tracker_init_with(&t, oc_memstore_store(m), &tfs);
	cr_expect(absent(&t.base, 1));
	oc_tracker_fini(&t);
	oc_tfs_fini(&later);
	oc_tfs_fini(&tfs);
	oc_memstore_free(m);
	oc_memstore_free(twin);
}

Test(tracker, conflicts)
{
	struct oc_memstore *m = seeded(3);
	struct oc_tracker   t;
	struct oc_bid       ids[3] = { bid(1), bid(2), bid(3) };

	oc_tracker_init(&t, oc_memstore_store(m));
	cr_expect(!oc_tracker_conflicts(&t, ids, 3));
	cr_assert(oc_bstore_del(&t.base, &ids[1]) == O_OK);
	cr_expect(oc_tracker_conflicts(&t, ids, 3));
	cr_expect(!oc_tracker_conflicts(&t, ids, 1));
	cr_expect(oc_tracker_conflicts(&t, &ids[1], 1));
	oc_tracker_fini(&t);
	oc_memstore_free(m);
}

Test(tracker, need_names_missing_block)
{
	struct oc_memstore *m  = seeded(1);
	struct oc_bid       id = bid(7);
	struct oc_val       b;
	char                s[OC_BID_STRLEN];

	cr_expect(
	    oc_bstore_need(oc_memstore_store(m), &id, &b) == O_ENOTFOUND);
	cr_expect(b.type == OC_NULL);
	cr_expect(strstr(o_err_detail(), oc_bid_str(&id, s)) != NULL, "%s",
	    o_err_detail());
	id = bid(1);
	cr_expect(oc_bstore_need(oc_memstore_store(m), &id, &b) == O_OK);
	oc_val_fini(&b);
	oc_memstore_free(m);
}

Test(tracker, apply_refuses_block_without_id)
{
	struct oc_memstore *m = seeded(1);
	struct oc_val       b = oc_map();

	cr_expect(oc_bstore_apply(oc_memstore_store(m), &b,
	              oc_op_set("x", oc_int(1))) == O_EINVAL);
	cr_expect(
	    oc_bstore_insert(oc_memstore_store(m), oc_map()) == O_EINVAL);
	oc_val_fini(&b);
	oc_memstore_free(m);
}

Test(tracker, memstore_basics)
{
	struct oc_memstore *m   = seeded(2);
	struct oc_bstore   *s   = oc_memstore_store(m);
	struct oc_bid       one = bid(1), nine = bid(9);

	cr_expect(oc_memstore_len(m) == 2);
	cr_expect(oc_bstore_update(s, &nine, oc_op_set("v", oc_int(1))) ==
	    O_ENOBASE);
	cr_expect(oc_bstore_update(s, &one,
	              oc_op_splice("v", 0, 0, oc_array())) == O_EBADMSG);
	cr_assert(
	    oc_bstore_update(s, &one, oc_op_set("v", oc_int(1))) == O_OK);
	cr_expect(get_v(s, 1) == 1);
	cr_assert(oc_bstore_del(s, &one) == O_OK);
	cr_assert(oc_bstore_del(s, &one) == O_OK);
	cr_expect(absent(s, 1) && oc_memstore_len(m) == 1);
	oc_memstore_free(m);
}

/* ---- replay and 10.1 item 12: atomic ----------------------------------- */

/* Stage a mixed set of changes through store s (blocks 1..6 exist). */
static void
stage_mix(struct oc_bstore *s)
{
	struct oc_bid id;
	struct oc_val b;
	bool          found;

	id = bid(1);
	cr_assert(
	    oc_bstore_update(s, &id, oc_op_set("v", oc_int(111))) == O_OK);
	cr_assert(oc_bstore_get(s, &id, &b, &found) == O_OK && found);
	cr_assert(oc_bstore_apply(s, &b, push_op(&b, 1)) == O_OK);
	cr_assert(oc_bstore_apply(s, &b, push_op(&b, 2)) == O_OK);
	oc_val_fini(&b);
	id = bid(2);
	cr_assert(oc_bstore_del(s, &id) == O_OK);
	cr_assert(oc_bstore_insert(s, blk(3, 333)) == O_OK);
	cr_assert(oc_bstore_insert(s, blk(7, 777)) == O_OK);
	id = bid(7);
	cr_assert(oc_bstore_update(s, &id, oc_op_set("w", oc_int(1))) == O_OK);
	id = bid(4);
	cr_assert(oc_bstore_del(s, &id) == O_OK);
	cr_assert(oc_bstore_insert(s, blk(4, 444)) == O_OK);
	cr_assert(oc_bstore_insert(s, blk(8, 888)) == O_OK);
	id = bid(8);
	cr_assert(oc_bstore_del(s, &id) == O_OK);
}

Test(tracker, d12_atomic_commit_equals_replay_on_twin)
{
	struct oc_memstore *m = seeded(6), *twin = seeded(6),
	                   *direct = seeded(6);
	struct oc_tracker a;
	struct oc_tfs     staged;

	oc_atomic_begin(&a, oc_memstore_store(m));
	stage_mix(&a.base);
	oc_tfs_dup(&staged, &a.tfs);
	/* reads inside the scope see the changes; the parent does not */
	cr_expect(get_v(&a.base, 1) == 111 && absent(&a.base, 2));
	cr_expect(get_v(oc_memstore_store(m), 1) == 10);
	cr_assert(oc_atomic_commit(&a) == O_OK);
	cr_expect(a.tfs.n == 0 && a.tfs.e == NULL, "commit clears");
	cr_assert(oc_tfs_replay(&staged, oc_memstore_store(twin)) == O_OK);
	expect_same_stores(oc_memstore_store(m), oc_memstore_store(twin), 9);
	/* and both equal applying the same actions directly */
	stage_mix(oc_memstore_store(direct));
	expect_same_stores(oc_memstore_store(m), oc_memstore_store(direct), 9);
	cr_expect(get_v(oc_memstore_store(m), 7) == 777);
	cr_expect(absent(oc_memstore_store(m), 8));
	oc_tfs_fini(&staged);
	oc_memstore_free(m);
	oc_memstore_free(twin);
	oc_memstore_free(direct);
}

Test(tracker, d12_atomic_abort_leaves_store_pristine)
{
	struct oc_memstore *m = seeded(6), *ref = seeded(6);
	struct oc_tracker   a;

	oc_atomic_begin(&a, oc_memstore_store(m));
	stage_mix(&a.base);
	oc_atomic_abort(&a);
	expect_same_stores(oc_memstore_store(m), oc_memstore_store(ref), 9);
	cr_expect(oc_memstore_len(m) == 6);
	oc_memstore_free(m);
	oc_memstore_free(ref);
}

/* An atomic scope over a tracker: commit lands in the tracker only. */
Test(tracker, d12_nested_atomic_over_tracker)
{
	struct oc_memstore *m = seeded(6), *ref = seeded(6);
	struct oc_tracker   t, a;
	struct oc_tfs       staged;

	oc_tracker_init(&t, oc_memstore_store(m));
	oc_atomic_begin(&a, &t.base);
	stage_mix(&a.base);
	oc_tfs_dup(&staged, &a.tfs);
	cr_assert(oc_atomic_commit(&a) == O_OK);
	cr_expect(get_v(&t.base, 1) == 111 && absent(&t.base, 2));
	expect_same_stores(oc_memstore_store(m), oc_memstore_store(ref), 9);
	/* a second scope aborted changes nothing in the tracker */
	oc_atomic_begin(&a, &t.base);
	{
		struct oc_bid id = bid(5);

		cr_assert(oc_bstore_del(&a.base, &id) == O_OK);
	}
	oc_atomic_abort(&a);
	cr_expect(!absent(&t.base, 5));
	/* tracker's replay into the store gives the same as the direct one */
	cr_assert(oc_tfs_replay(&t.tfs, oc_memstore_store(ref)) == O_OK);
	oc_tracker_reset(&t, NULL);
	cr_assert(oc_tfs_replay(&staged, oc_memstore_store(m)) == O_OK);
	expect_same_stores(oc_memstore_store(m), oc_memstore_store(ref), 9);
	oc_tfs_fini(&staged);
	oc_tracker_fini(&t);
	oc_memstore_free(m);
	oc_memstore_free(ref);
}

Test(tracker, replay_reports_failure)
{
	struct oc_memstore *m = seeded(1);
	struct oc_tfs       t;
	struct oc_bid       id = bid(5);

	oc_tfs_init(&t);
	cr_assert(oc_tfs_update(&t, &id, oc_op_set("v", oc_int(1))) == O_OK);
	cr_expect(oc_tfs_replay(&t, oc_memstore_store(m)) == O_ENOBASE);
	oc_tfs_fini(&t);
	oc_memstore_free(m);
}

/* ---- 10.1 item 13: identical action sequences -> equal transforms ------- */

/* One pseudo-random action against store s; deterministic in *seed. */
static void
random_action(struct oc_bstore *s, uint64_t *seed, uint8_t nblk)
{
	uint64_t      x = *seed;
	uint8_t       which;
	struct oc_bid id;
	struct oc_val b;
	bool          found;

	x ^= x << 13;
	x ^= x >> 7;
	x ^= x << 17;
	*seed = x;
	which = (uint8_t) (1 + (x >> 8) % nblk);
	id    = bid(which);
	switch (x % 5) {
	case 0:
		cr_assert(oc_bstore_insert(
		              s, blk(which, (int64_t) (x >> 40))) == O_OK);
		break;
	case 1:
		cr_assert(oc_bstore_del(s, &id) == O_OK);
		break;
	case 2:
	case 3:
		/* the way data structures mutate: read, apply */
		cr_assert(oc_bstore_get(s, &id, &b, &found) == O_OK);
		if (found)
			cr_assert(
			    oc_bstore_apply(s, &b,
			        push_op(&b, (int64_t) (x >> 32))) == O_OK);
		oc_val_fini(&b);
		break;
	default:
		cr_assert(oc_bstore_get(s, &id, &b, &found) == O_OK);
		if (found)
			cr_assert(
			    oc_bstore_apply(s, &b,
			        oc_op_set("v", oc_int((int64_t) x & 0xff))) ==
			    O_OK);
		oc_val_fini(&b);
		break;
	}
}

Test(tracker, d13_identical_sequences_equal_transforms)
{
	int round;

	for (round = 0; round < 50; round++) {
		struct oc_memstore *m1 = seeded(6), *m2 = seeded(6),
		                   *direct = seeded(6);
		struct oc_tracker t1, t2;
		uint64_t s1 = 0x1234567ull + (uint64_t) round * 7919, s2 = s1,
		         s3 = s1;
		int i;

		oc_tracker_init(&t1, oc_memstore_store(m1));
		oc_tracker_init(&t2, oc_memstore_store(m2));
		for (i = 0; i < 60; i++) {
			random_action(&t1.base, &s1, 8);
			random_action(&t2.base, &s2, 8);
			random_action(oc_memstore_store(direct), &s3, 8);
		}
		cr_assert(tfs_eq(&t1.tfs, &t2.tfs), "round %d differs", round);
		/* the tracker's view equals the directly mutated store */
		expect_same_stores(&t1.base, oc_memstore_store(direct), 8);
		/* and committing it reproduces that store */
		cr_assert(
		    oc_tfs_replay(&t1.tfs, oc_memstore_store(m1)) == O_OK);
		expect_same_stores(
		    oc_memstore_store(m1), oc_memstore_store(direct), 8);
		oc_tracker_fini(&t1);
		oc_tracker_fini(&t2);
		oc_memstore_free(m1);
		oc_memstore_free(m2);
		oc_memstore_free(direct);
	}
}

/* Merging two consecutive trackers' sets equals one tracker over both. */
Test(tracker, d13_merge_of_consecutive_sets_equals_one_tracker)
{
	int round;

	for (round = 0; round < 30; round++) {
		struct oc_memstore *m = seeded(6), *ref = seeded(6);
		struct oc_tracker   whole, t1, t2, merged;
		struct oc_tfs       first, second;
		uint64_t            sw = 99 + (uint64_t) round * 31, s = sw;
		int                 i;

		oc_tracker_init(&whole, oc_memstore_store(ref));
		oc_tracker_init(&t1, oc_memstore_store(m));
		for (i = 0; i < 30; i++) {
			random_action(&whole.base, &sw, 8);
			random_action(&t1.base, &s, 8);
		}
		/* t2 stages the next actions on top of t1's changes */
		oc_tracker_init(&t2, &t1.base);
		for (i = 0; i < 30; i++) {
			random_action(&whole.base, &sw, 8);
			random_action(&t2.base, &s, 8);
		}
		expect_same_stores(&whole.base, &t2.base, 8);
		oc_tracker_reset(&t1, &first);
		oc_tracker_reset(&t2, &second);
		oc_tfs_merge(&first, &second);
		oc_tracker_init_with(&merged, oc_memstore_store(m), &first);
		expect_same_stores(&whole.base, &merged.base, 8);
		/* replaying the merged set reproduces the whole view */
		cr_assert(oc_tfs_replay(&first, oc_memstore_store(m)) == O_OK,
		    "%s", o_err_detail());
		expect_same_stores(&whole.base, oc_memstore_store(m), 8);
		oc_tfs_fini(&first);
		oc_tfs_fini(&second);
		oc_tracker_fini(&merged);
		oc_tracker_fini(&t1);
		oc_tracker_fini(&t2);
		oc_tracker_fini(&whole);
		oc_memstore_free(m);
		oc_memstore_free(ref);
	}
}
