/*
 * test_transform.c - operations (digest 1.4), per-block transforms and
 * transform sets (1.5): apply, merge/concat, deep copy, wire form and the
 * refusal of wrongly typed wire values.  Test names carry the digest's
 * acceptance item (d08 = section 10.1 item 8).
 */
#include <stdlib.h>
#include <string.h>

#include <criterion/criterion.h>

#include "core/block.h"
#include "core/codec.h"
#include "core/transform.h"

TestSuite(transform, .timeout = 60);

static void
bid_fill(struct oc_bid *id, uint8_t seed)
{
	size_t i;

	for (i = 0; i < OC_BID_LEN; i++)
		id->b[i] = (uint8_t) (seed * 31 + i);
}

static struct oc_val
strs(const char *a, const char *b, const char *c)
{
	struct oc_val v = oc_array();

	if (a)
		oc_arr_push(&v, oc_text(a));
	if (b)
		oc_arr_push(&v, oc_text(b));
	if (c)
		oc_arr_push(&v, oc_text(c));
	return v;
}

/* A leaf-shaped block with items [a,b,c]. */
static struct oc_val
blk_abc(uint8_t seed)
{
	struct oc_bid id, col;
	struct oc_val b;

	bid_fill(&id, seed);
	bid_fill(&col, 200);
	b = oc_block_new(&id, OC_BT_LEAF, &col);
	oc_map_set(&b, "entries", oc_array());
	oc_map_set(&b, "items", strs("a", "b", "c"));
	return b;
}

static bool
items_are(
    const struct oc_val *b, const char *a0, const char *a1, const char *a2)
{
	struct oc_val want = strs(a0, a1, a2);
	bool          eq   = oc_val_eq(oc_map_get(b, "items"), &want);

	oc_val_fini(&want);
	return eq;
}

/* Deterministic encoding of a transform set, for equality checks. */
static void
tfs_bytes(const struct oc_tfs *t, struct o_buf *out)
{
	struct oc_val v = oc_tfs_to_val(t);

	out->len = 0;
	oc_encode(&v, out);
	oc_val_fini(&v);
}

static bool
tfs_eq(const struct oc_tfs *a, const struct oc_tfs *b)
{
	struct o_buf x = { 0 }, y = { 0 };
	bool         eq;

	tfs_bytes(a, &x);
	tfs_bytes(b, &y);
	eq = x.len == y.len && memcmp(x.data, y.data, x.len) == 0;
	o_buf_fini(&x);
	o_buf_fini(&y);
	return eq;
}

/* ---- 10.1 item 8: applyOperation --------------------------------------- */

Test(transform, d08_set_assigns_property)
{
	struct oc_val b  = blk_abc(1);
	struct oc_op  op = oc_op_set("name", oc_text("n1"));

	cr_assert(oc_op_apply(&b, &op) == O_OK);
	cr_expect(strcmp(oc_map_text(&b, "name"), "n1") == 0);
	oc_op_fini(&op);
	/* SET may also assign an array wholesale (explicit kind) */
	op = oc_op_set("items", strs("z", NULL, NULL));
	cr_assert(oc_op_apply(&b, &op) == O_OK);
	cr_expect(items_are(&b, "z", NULL, NULL));
	oc_op_fini(&op);
	/* SET null removes the field: null and absent are the same */
	op = oc_op_set("name", oc_null());
	cr_assert(oc_op_apply(&b, &op) == O_OK);
	cr_expect(oc_map_get(&b, "name") == NULL);
	cr_assert(oc_op_apply(&b, &op) == O_OK, "clearing twice is fine");
	oc_op_fini(&op);
	oc_val_fini(&b);
}

Test(transform, d08_splice_replaces_middle)
{
	struct oc_val b  = blk_abc(1);
	struct oc_op  op = oc_op_splice("items", 1, 1, strs("x", NULL, NULL));

	cr_assert(oc_op_apply(&b, &op) == O_OK);
	cr_expect(items_are(&b, "a", "x", "c"));
	oc_op_fini(&op);
	oc_val_fini(&b);
}

Test(transform, d08_splice_append_insert_remove)
{
	struct oc_val b = blk_abc(1), e;
	struct oc_op  op;

	op = oc_op_splice("items", 3, 0, strs("d", NULL, NULL));
	cr_assert(oc_op_apply(&b, &op) == O_OK);
	oc_op_fini(&op);
	cr_expect(oc_arr_len(oc_map_get(&b, "items")) == 4);
	op = oc_op_splice("items", 0, 0, strs("s", NULL, NULL));
	cr_assert(oc_op_apply(&b, &op) == O_OK);
	oc_op_fini(&op);
	op = oc_op_splice("items", 2, 3, oc_array()); /* s a | b c d */
	cr_assert(oc_op_apply(&b, &op) == O_OK);
	oc_op_fini(&op);
	cr_expect(items_are(&b, "s", "a", NULL));
	op = oc_op_splice("items", 0, 2, oc_array());
	cr_assert(oc_op_apply(&b, &op) == O_OK);
	oc_op_fini(&op);
	cr_expect(oc_arr_len(oc_map_get(&b, "items")) == 0);
	/* splice into a freshly constructed empty array */
	oc_map_set(&b, "fresh", oc_array());
	op = oc_op_splice("fresh", 0, 0, oc_array());
	cr_assert(oc_op_apply(&b, &op) == O_OK);
	oc_op_fini(&op);
	e = oc_array();
	cr_expect(oc_val_eq(oc_map_get(&b, "fresh"), &e));
	oc_val_fini(&e);
	op = oc_op_splice("fresh", 0, 0, strs("q", "r", NULL));
	cr_assert(oc_op_apply(&b, &op) == O_OK);
	oc_op_fini(&op);
	cr_expect(oc_arr_len(oc_map_get(&b, "fresh")) == 2);
	oc_val_fini(&b);
}

Test(transform, d08_with_operation_leaves_original)
{
	struct oc_val orig = blk_abc(1), copy = oc_val_dup(&orig);
	struct oc_val ins = oc_array(), nested = strs("deep", NULL, NULL);
	struct oc_op  op;

	/* the inserted value is copied: later changes to the op don't leak */
	oc_arr_push(&ins, nested);
	op = oc_op_splice("items", 0, 0, ins);
	cr_assert(oc_op_apply(&copy, &op) == O_OK);
	cr_expect(items_are(&orig, "a", "b", "c"));
	cr_expect(oc_arr_len(oc_map_get(&copy, "items")) == 4);
	oc_arr_push(oc_arr_at(&op.ins, 0), oc_text("more"));
	cr_expect(oc_arr_len(oc_arr_at(oc_map_get(&copy, "items"), 0)) == 1);
	oc_op_fini(&op);
	oc_val_fini(&orig);
	oc_val_fini(&copy);
}

Test(transform, d08_splice_errors_change_nothing)
{
	struct oc_val b = blk_abc(1), before = oc_val_dup(&b), notmap;
	struct oc_op  op;

	op = oc_op_splice("items", 4, 0, oc_array());
	cr_expect(oc_op_apply(&b, &op) == O_EBADMSG, "index past the end");
	oc_op_fini(&op);
	op = oc_op_splice("items", 2, 2, oc_array());
	cr_expect(oc_op_apply(&b, &op) == O_EBADMSG, "delete past the end");
	oc_op_fini(&op);
	op = oc_op_splice("items", UINT32_MAX, UINT32_MAX, oc_array());
	cr_expect(oc_op_apply(&b, &op) == O_EBADMSG, "huge index");
	oc_op_fini(&op);
	op = oc_op_splice("missing", 0, 0, oc_array());
	cr_expect(oc_op_apply(&b, &op) == O_EBADMSG, "absent field");
	oc_op_fini(&op);
	op = oc_op_splice(OC_F_TYPE, 0, 0, oc_array());
	cr_expect(oc_op_apply(&b, &op) == O_EBADMSG, "non-array field");
	oc_op_fini(&op);
	op = oc_op_splice("items", 0, 0, oc_int(1));
	cr_expect(oc_op_apply(&b, &op) == O_EBADMSG, "splice of a scalar");
	oc_op_fini(&op);
	op = oc_op_set(OC_F_ID, oc_bytes("x", 1));
	cr_expect(oc_op_apply(&b, &op) == O_EBADMSG, "id is immutable");
	oc_op_fini(&op);
	op = oc_op_set(OC_F_COL, oc_null());
	cr_expect(oc_op_apply(&b, &op) == O_EBADMSG, "col is immutable");
	oc_op_fini(&op);
	cr_expect(oc_val_eq(&b, &before));
	notmap = oc_array();
	op     = oc_op_set("x", oc_int(1));
	cr_expect(oc_op_apply(&notmap, &op) == O_EBADMSG);
	oc_op_fini(&op);
	oc_val_fini(&notmap);
	oc_val_fini(&b);
	oc_val_fini(&before);
}

/* ---- per-block transform apply: insert, then ops, then delete ---------- */

Test(transform, tf_apply_order)
{
	struct oc_val base = blk_abc(1), ins = blk_abc(1), out;
	struct oc_tf  tf;
	bool          present;

	oc_map_set(&ins, "items", strs("i", NULL, NULL));
	oc_tf_init(&tf);
	cr_expect(oc_tf_is_empty(&tf));
	/* empty transform: the base itself */
	cr_assert(oc_tf_apply(&base, &tf, &out, &present) == O_OK);
	cr_expect(present && oc_val_eq(&out, &base));
	oc_val_fini(&out);
	cr_assert(oc_tf_apply(NULL, &tf, &out, &present) == O_OK);
	cr_expect(!present && out.type == OC_NULL);
	/* insert replaces the base; ops apply on the insert */
	tf.insert  = malloc(sizeof(*tf.insert));
	*tf.insert = ins;
	oc_tf_add_op(&tf, oc_op_splice("items", 1, 0, strs("j", NULL, NULL)));
	cr_assert(oc_tf_apply(&base, &tf, &out, &present) == O_OK);
	cr_expect(present && items_are(&out, "i", "j", NULL));
	cr_expect(items_are(&base, "a", "b", "c"), "base untouched");
	oc_val_fini(&out);
	/* ...then delete */
	tf.del = true;
	cr_assert(oc_tf_apply(&base, &tf, &out, &present) == O_OK);
	cr_expect(!present && out.type == OC_NULL);
	oc_tf_fini(&tf);
	oc_val_fini(&base);
}

Test(transform, tf_apply_ops_on_absent_is_enobase)
{
	struct oc_tf  tf;
	struct oc_val out;
	bool          present;

	oc_tf_init(&tf);
	oc_tf_add_op(&tf, oc_op_set("x", oc_int(1)));
	cr_expect(oc_tf_apply(NULL, &tf, &out, &present) == O_ENOBASE);
	cr_expect(out.type == OC_NULL);
	oc_tf_fini(&tf);
}

Test(transform, tf_apply_failing_op_leaks_nothing)
{
	struct oc_val base = blk_abc(1), out;
	struct oc_tf  tf;
	bool          present;

	oc_tf_init(&tf);
	oc_tf_add_op(&tf, oc_op_set("x", oc_int(1)));
	oc_tf_add_op(&tf, oc_op_splice("items", 9, 0, oc_array()));
	cr_expect(oc_tf_apply(&base, &tf, &out, &present) == O_EBADMSG);
	cr_expect(out.type == OC_NULL);
	cr_expect(oc_map_get(&base, "x") == NULL);
	oc_tf_fini(&tf);
	oc_val_fini(&base);
}

/* A transform touching every kind of change: a SET over a field, a SET
 * of a new one, a SET removing one, splices that delete, insert and
 * replace. */
static void
tf_mixed(struct oc_tf *tf)
{
	oc_tf_init(tf);
	oc_tf_add_op(tf, oc_op_set("x", oc_int(1)));
	oc_tf_add_op(tf, oc_op_set("x", oc_int(2)));
	oc_tf_add_op(tf, oc_op_set("entries", oc_null()));
	oc_tf_add_op(tf, oc_op_splice("items", 1, 1, strs("p", "q", NULL)));
	oc_tf_add_op(tf, oc_op_splice("items", 0, 2, oc_array()));
	oc_tf_add_op(tf, oc_op_splice("items", 2, 0, strs("z", NULL, NULL)));
}

Test(transform, apply_in_place_matches_a_copy_and_reverts_exactly)
{
	struct oc_val  base = blk_abc(1), orig = blk_abc(1), out;
	struct oc_tf   tf;
	struct oc_undo u;
	bool           present;

	tf_mixed(&tf);
	cr_assert(oc_tf_apply(&orig, &tf, &out, &present) == O_OK);
	cr_assert(oc_tf_apply_in_place(&base, &tf, &u) == O_OK);
	cr_expect(oc_val_eq(&base, &out), "in place = applied to a copy");
	cr_expect(items_are(&base, "q", "c", "z"));
	cr_expect(oc_map_get(&base, "entries") == NULL);
	oc_undo_revert(&base, &u);
	cr_expect(oc_val_eq(&base, &orig), "reverted = as before");
	cr_expect(u.n == 0 && u.u == NULL);
	/* kept: the undo frees what it held, the block stays changed */
	cr_assert(oc_tf_apply_in_place(&base, &tf, &u) == O_OK);
	oc_undo_fini(&u);
	cr_expect(oc_val_eq(&base, &out));
	oc_val_fini(&out);
	oc_tf_fini(&tf);
	oc_val_fini(&base);
	oc_val_fini(&orig);
}

/* The footprint an in-place change adds is known from its ops, for every
 * kind of op (and a SET removing a field that is not there): in the undo,
 * and op by op (oc_op_apply_sized, which the cache uses). */
Test(transform, apply_in_place_footprint_delta_is_exact)
{
	struct oc_val  base = blk_abc(1), copy = blk_abc(1);
	struct oc_tf   tf;
	struct oc_undo u;
	int64_t        before = (int64_t) oc_val_footprint(&base), d = 0;
	size_t         i;

	tf_mixed(&tf);
	oc_tf_add_op(&tf, oc_op_set("absent", oc_null()));
	oc_tf_add_op(&tf, oc_op_set("big", oc_text("a longer text value")));
	cr_assert(oc_tf_apply_in_place(&base, &tf, &u) == O_OK);
	cr_expect_eq(before + u.dbytes, (int64_t) oc_val_footprint(&base),
	    "%lld + %lld, walked: %zu", (long long) before,
	    (long long) u.dbytes, oc_val_footprint(&base));
	for (i = 0; i < tf.nops; i++)
		cr_assert(oc_op_apply_sized(&copy, &tf.ops[i], &d) == O_OK);
	cr_expect_eq(d, u.dbytes, "op by op %lld, in place %lld",
	    (long long) d, (long long) u.dbytes);
	oc_undo_revert(&base, &u);
	cr_expect_eq(before, (int64_t) oc_val_footprint(&base));
	oc_tf_fini(&tf);
	oc_val_fini(&base);
	oc_val_fini(&copy);
}

Test(transform, apply_in_place_failing_op_changes_nothing)
{
	struct oc_val  base = blk_abc(1), orig = blk_abc(1);
	struct oc_tf   tf;
	struct oc_undo u;

	tf_mixed(&tf);
	oc_tf_add_op(&tf, oc_op_splice("items", 9, 0, oc_array()));
	cr_expect(oc_tf_apply_in_place(&base, &tf, &u) == O_EBADMSG);
	cr_expect(
	    oc_val_eq(&base, &orig), "ops before the failing one undone");
	cr_expect(u.n == 0 && u.u == NULL);
	oc_tf_fini(&tf);
	oc_tf_init(&tf);
	oc_tf_add_op(&tf, oc_op_set(OC_F_ID, oc_int(1)));
	cr_expect(oc_tf_apply_in_place(&base, &tf, &u) == O_EBADMSG);
	cr_expect(oc_val_eq(&base, &orig));
	oc_tf_fini(&tf);
	oc_val_fini(&base);
	oc_val_fini(&orig);
}

/* ---- 10.1 item 9: mergeTransforms -------------------------------------- */

Test(transform, d09_merge_concat_updates_b_wins_inserts_dedup_deletes)
{
	struct oc_tfs a, b, bcopy;
	struct oc_bid x, y, z;
	struct oc_val ya = blk_abc(2), yb = blk_abc(2);
	struct oc_tf *tf;

	bid_fill(&x, 1);
	bid_fill(&y, 2);
	bid_fill(&z, 3);
	oc_tfs_init(&a);
	oc_tfs_init(&b);
	cr_assert(oc_tfs_update(&a, &x, oc_op_set("k", oc_int(1))) == O_OK);
	cr_assert(oc_tfs_update(&a, &x, oc_op_set("k", oc_int(2))) == O_OK);
	cr_assert(oc_tfs_update(&b, &x, oc_op_set("k", oc_int(3))) == O_OK);
	oc_map_set(&ya, "who", oc_text("a"));
	oc_map_set(&yb, "who", oc_text("b"));
	oc_tfs_insert(&a, ya);
	oc_tfs_insert(&b, yb);
	oc_tfs_delete(&a, &z);
	oc_tfs_delete(&b, &z);
	oc_tfs_dup(&bcopy, &b);

	oc_tfs_merge(&a, &b);
	cr_expect(a.n == 3);
	tf = oc_tfs_get(&a, &x);
	cr_assert(tf != NULL && tf->nops == 3);
	cr_expect(tf->ops[0].ins.u.i == 1 && tf->ops[1].ins.u.i == 2 &&
	        tf->ops[2].ins.u.i == 3,
	    "a's ops, then b's");
	tf = oc_tfs_get(&a, &y);
	cr_assert(tf != NULL && tf->insert != NULL);
	cr_expect(strcmp(oc_map_text(tf->insert, "who"), "b") == 0);
	tf = oc_tfs_get(&a, &z);
	cr_expect(tf != NULL && tf->del && tf->nops == 0 && !tf->insert);
	cr_expect(tfs_eq(&b, &bcopy), "merge must not change b");
	oc_tfs_fini(&a);
	oc_tfs_fini(&b);
	oc_tfs_fini(&bcopy);
}

Test(transform, d09_merge_composes_insert_and_delete)
{
	struct oc_tf  a, b, r;
	struct oc_val base = blk_abc(1), out;
	bool          present;

	/* a: ops, b: delete -> delete */
	oc_tf_init(&a);
	oc_tf_init(&b);
	oc_tf_add_op(&a, oc_op_set("k", oc_int(1)));
	b.del = true;
	oc_tf_merge(&a, &b);
	cr_expect(a.del && a.nops == 0);
	oc_tf_fini(&a);
	oc_tf_fini(&b);
	/* a: insert, b: ops -> insert then ops */
	oc_tf_init(&a);
	oc_tf_init(&b);
	a.insert  = malloc(sizeof(*a.insert));
	*a.insert = blk_abc(1);
	oc_tf_add_op(&b, oc_op_splice("items", 0, 1, oc_array()));
	oc_tf_merge(&a, &b);
	cr_assert(oc_tf_apply(NULL, &a, &out, &present) == O_OK);
	cr_expect(present && items_are(&out, "b", "c", NULL));
	oc_val_fini(&out);
	/* a: insert+ops, b: insert -> b's insert only */
	oc_tf_dup(&r, &a);
	oc_tf_fini(&b);
	oc_tf_init(&b);
	b.insert  = malloc(sizeof(*b.insert));
	*b.insert = blk_abc(1);
	oc_map_set(b.insert, "items", oc_array());
	oc_tf_merge(&r, &b);
	cr_expect(r.nops == 0 && r.insert != NULL);
	cr_assert(oc_tf_apply(&base, &r, &out, &present) == O_OK);
	cr_expect(oc_arr_len(oc_map_get(&out, "items")) == 0);
	oc_val_fini(&out);
	oc_tf_fini(&r);
	oc_tf_fini(&a);
	oc_tf_fini(&b);
	oc_val_fini(&base);
}

/* ---- 10.1 item 10: concatTransform ------------------------------------- */

Test(transform, d10_concat_appends_creates_dedups_no_mutation)
{
	struct oc_tfs t, one, onecopy;
	struct oc_bid x, y, z;
	struct oc_tf *tf;

	bid_fill(&x, 1);
	bid_fill(&y, 2);
	bid_fill(&z, 3);
	oc_tfs_init(&t);
	cr_assert(oc_tfs_update(&t, &x, oc_op_set("k", oc_int(1))) == O_OK);
	oc_tfs_delete(&t, &z);

	/* appends to an existing entry */
	oc_tfs_init(&one);
	cr_assert(oc_tfs_update(&one, &x, oc_op_set("k", oc_int(2))) == O_OK);
	oc_tfs_dup(&onecopy, &one);
	oc_tfs_merge(&t, &one);
	tf = oc_tfs_get(&t, &x);
	cr_expect(tf->nops == 2 && tf->ops[1].ins.u.i == 2);
	cr_expect(tfs_eq(&one, &onecopy));
	oc_tfs_fini(&one);
	oc_tfs_fini(&onecopy);

	/* creates the entry when absent */
	oc_tfs_init(&one);
	cr_assert(oc_tfs_update(&one, &y, oc_op_set("k", oc_int(9))) == O_OK);
	oc_tfs_merge(&t, &one);
	tf = oc_tfs_get(&t, &y);
	cr_expect(tf != NULL && tf->nops == 1 && tf->ops[0].ins.u.i == 9);
	/* the merged op is a copy */
	one.e[0].tf.ops[0].ins.u.i = 10;
	cr_expect(tf->ops[0].ins.u.i == 9);
	oc_tfs_fini(&one);

	/* dedups deletes */
	oc_tfs_init(&one);
	oc_tfs_delete(&one, &z);
	oc_tfs_merge(&t, &one);
	cr_expect(t.n == 3 && oc_tfs_get(&t, &z)->del);
	oc_tfs_fini(&one);
	oc_tfs_fini(&t);
}

/* ---- 10.1 item 11: copyTransforms is deep ------------------------------ */

Test(transform, d11_copy_is_deep)
{
	struct oc_tfs t, c, tcopy_bytes;
	struct oc_bid x, ins_id;
	struct oc_tf *tf;

	bid_fill(&x, 1);
	oc_tfs_init(&t);
	oc_tfs_insert(&t, blk_abc(2));
	cr_assert(
	    oc_tfs_update(&t, &x,
	        oc_op_splice("items", 0, 0, strs("p", NULL, NULL))) == O_OK);
	oc_tfs_dup(&tcopy_bytes, &t);
	oc_tfs_dup(&c, &t);
	/* mutate the copy's inserted block and ops array */
	bid_fill(&ins_id, 2);
	tf = oc_tfs_get(&c, &ins_id);
	cr_assert(tf && tf->insert);
	oc_arr_push(oc_map_get(tf->insert, "items"), oc_text("leak"));
	tf = oc_tfs_get(&c, &x);
	oc_arr_push(&tf->ops[0].ins, oc_text("leak"));
	oc_tf_add_op(tf, oc_op_set("z", oc_int(1)));
	cr_expect(tfs_eq(&t, &tcopy_bytes), "original changed with the copy");
	cr_expect(!tfs_eq(&t, &c));
	/* and the other way round: the original's changes stay out */
	oc_tfs_fini(&c);
	oc_tfs_dup(&c, &t);
	cr_assert(
	    oc_tfs_update(&t, &ins_id, oc_op_set("q", oc_int(1))) == O_OK);
	cr_expect(tfs_eq(&c, &tcopy_bytes));
	oc_tfs_fini(&t);
	oc_tfs_fini(&c);
	oc_tfs_fini(&tcopy_bytes);
}

Test(transform, tfs_staging_shapes)
{
	struct oc_tfs t;
	struct oc_bid x, y;
	struct oc_tf *tf;

	bid_fill(&x, 1);
	bid_fill(&y, 2);
	oc_tfs_init(&t);
	cr_expect(oc_tfs_is_empty(&t));
	/* insert then update folds into the insert */
	oc_tfs_insert(&t, blk_abc(1));
	cr_assert(oc_tfs_update(&t, &x, oc_op_set("k", oc_int(1))) == O_OK);
	tf = oc_tfs_get(&t, &x);
	cr_expect(tf->nops == 0 && oc_map_int(tf->insert, "k", 0) == 1);
	/* a failing op on the insert leaves it as it was */
	cr_expect(oc_tfs_update(&t, &x,
	              oc_op_splice("nope", 0, 0, oc_array())) == O_EBADMSG);
	cr_expect(oc_map_int(tf->insert, "k", 0) == 1);
	/* delete drops insert and ops */
	oc_tfs_delete(&t, &x);
	tf = oc_tfs_get(&t, &x);
	cr_expect(tf->del && tf->insert == NULL && tf->nops == 0);
	/* update after delete is refused */
	cr_expect(
	    oc_tfs_update(&t, &x, oc_op_set("k", oc_int(2))) == O_ENOBASE);
	cr_expect(tf->nops == 0);
	/* remove */
	cr_assert(oc_tfs_update(&t, &y, oc_op_set("k", oc_int(2))) == O_OK);
	cr_expect(!oc_tfs_is_empty(&t));
	oc_tfs_remove(&t, &x);
	oc_tfs_remove(&t, &x);
	cr_expect(oc_tfs_get(&t, &x) == NULL && t.n == 1);
	oc_tfs_fini(&t);
}

Test(transform, tfs_sorted_by_id)
{
	struct oc_tfs t;
	struct oc_bid id;
	size_t        i;
	int           k;

	oc_tfs_init(&t);
	for (k = 0; k < 100; k++) {
		oc_bid_random(&id);
		cr_assert(
		    oc_tfs_update(&t, &id, oc_op_set("x", oc_int(k))) == O_OK);
	}
	cr_expect(t.n == 100);
	for (i = 1; i < t.n; i++)
		cr_expect(oc_bid_cmp(&t.e[i - 1].id, &t.e[i].id) < 0);
	oc_tfs_fini(&t);
}

/* ---- wire form: wrongly typed values ----------------------------------- */

static struct oc_val
op_val(int64_t kind, struct oc_val field, int64_t ix, int64_t del,
    struct oc_val ins)
{
	struct oc_val a = oc_array();

	oc_arr_push(&a, oc_int(kind));
	oc_arr_push(&a, field);
	oc_arr_push(&a, oc_int(ix));
	oc_arr_push(&a, oc_int(del));
	oc_arr_push(&a, ins);
	return a;
}

static struct oc_val
tf_val(struct oc_val insert, struct oc_val ops, struct oc_val del)
{
	struct oc_val a = oc_array();

	oc_arr_push(&a, insert);
	oc_arr_push(&a, ops);
	oc_arr_push(&a, del);
	return a;
}

static struct oc_val
one_op(struct oc_val op)
{
	struct oc_val a = oc_array();

	oc_arr_push(&a, op);
	return a;
}

/* v is consumed. */
static void
expect_tf_bad(struct oc_val v, const char *why)
{
	struct oc_tf tf;

	cr_expect(oc_tf_from_val(&v, &tf) == O_EBADMSG, "%s accepted", why);
	cr_expect(oc_tf_is_empty(&tf) && tf.ops == NULL);
	oc_tf_fini(&tf);
	oc_val_fini(&v);
}

Test(transform, from_val_rejects_wrong_types)
{
	struct oc_val v;
	struct oc_tf  tf;

	expect_tf_bad(oc_null(), "null");
	expect_tf_bad(oc_map(), "map");
	expect_tf_bad(oc_array(), "empty array");
	v = tf_val(oc_null(), oc_array(), oc_bool(false));
	oc_arr_push(&v, oc_null());
	expect_tf_bad(v, "4 elements");
	expect_tf_bad(
	    tf_val(oc_null(), oc_map(), oc_bool(false)), "ops not an array");
	expect_tf_bad(
	    tf_val(oc_null(), oc_array(), oc_int(1)), "deleted not a bool");
	expect_tf_bad(
	    tf_val(oc_int(1), oc_array(), oc_bool(false)), "insert an int");
	expect_tf_bad(tf_val(oc_map(), oc_array(), oc_bool(false)),
	    "insert not a valid block");
	expect_tf_bad(
	    tf_val(oc_null(), one_op(oc_int(0)), oc_bool(false)), "op an int");
	expect_tf_bad(
	    tf_val(oc_null(), one_op(op_val(2, oc_text("f"), 0, 0, oc_null())),
	        oc_bool(false)),
	    "op kind 2");
	expect_tf_bad(tf_val(oc_null(),
	                  one_op(op_val(-1, oc_text("f"), 0, 0, oc_null())),
	                  oc_bool(false)),
	    "op kind -1");
	expect_tf_bad(
	    tf_val(oc_null(), one_op(op_val(1, oc_int(5), 0, 0, oc_null())),
	        oc_bool(false)),
	    "field an int");
	expect_tf_bad(tf_val(oc_null(),
	                  one_op(op_val(1, oc_bytes("f", 1), 0, 0, oc_null())),
	                  oc_bool(false)),
	    "field bytes");
	expect_tf_bad(
	    tf_val(oc_null(), one_op(op_val(1, oc_text(""), 0, 0, oc_null())),
	        oc_bool(false)),
	    "empty field");
	expect_tf_bad(tf_val(oc_null(),
	                  one_op(op_val(0, oc_text("f"), -1, 0, oc_array())),
	                  oc_bool(false)),
	    "negative index");
	expect_tf_bad(tf_val(oc_null(),
	                  one_op(op_val(0, oc_text("f"), 0, -5, oc_array())),
	                  oc_bool(false)),
	    "negative delete count");
	expect_tf_bad(
	    tf_val(oc_null(),
	        one_op(op_val(0, oc_text("f"), 1LL << 32, 0, oc_array())),
	        oc_bool(false)),
	    "index beyond uint32");
	expect_tf_bad(tf_val(oc_null(),
	                  one_op(op_val(0, oc_text("f"), 0, 0, oc_text("x"))),
	                  oc_bool(false)),
	    "splice without an array");
	/* a bad op after good ones: nothing leaks */
	v = oc_array();
	oc_arr_push(&v, op_val(1, oc_text("f"), 0, 0, oc_int(1)));
	oc_arr_push(&v, op_val(1, oc_text("g"), 0, 0, oc_int(2)));
	oc_arr_push(&v, op_val(7, oc_text("h"), 0, 0, oc_int(3)));
	expect_tf_bad(tf_val(oc_null(), v, oc_bool(false)), "third op bad");
	/* and the largest legal values are accepted */
	v = tf_val(oc_null(),
	    one_op(
	        op_val(0, oc_text("f"), UINT32_MAX, UINT32_MAX, oc_array())),
	    oc_bool(true));
	cr_expect(oc_tf_from_val(&v, &tf) == O_OK);
	cr_expect(tf.ops[0].index == UINT32_MAX && tf.del);
	oc_tf_fini(&tf);
	oc_val_fini(&v);
}

/* v is consumed. */
static void
expect_tfs_bad(struct oc_val v, const char *why)
{
	struct oc_tfs t;

	cr_expect(oc_tfs_from_val(&v, &t) == O_EBADMSG, "%s accepted", why);
	cr_expect(t.n == 0 && t.e == NULL);
	oc_tfs_fini(&t);
	oc_val_fini(&v);
}

static struct oc_val
pair(const struct oc_bid *id, struct oc_val tf)
{
	struct oc_val p = oc_array();

	oc_arr_push(&p, oc_bid_val(id));
	oc_arr_push(&p, tf);
	return p;
}

static struct oc_val
empty_tf(void)
{
	return tf_val(oc_null(), oc_array(), oc_bool(true));
}

Test(transform, tfs_from_val_rejects_wrong_types)
{
	struct oc_bid a, b;
	struct oc_val v, p;

	bid_fill(&a, 1);
	bid_fill(&b, 2);
	cr_assert(oc_bid_cmp(&a, &b) < 0);
	expect_tfs_bad(oc_map(), "map");
	expect_tfs_bad(oc_int(0), "int");
	v = oc_array();
	oc_arr_push(&v, oc_null());
	expect_tfs_bad(v, "entry null");
	v = oc_array();
	p = pair(&a, empty_tf());
	oc_arr_push(&p, oc_null());
	oc_arr_push(&v, p);
	expect_tfs_bad(v, "entry of 3");
	v = oc_array();
	p = oc_array();
	oc_arr_push(&p, oc_bytes("short", 5));
	oc_arr_push(&p, empty_tf());
	oc_arr_push(&v, p);
	expect_tfs_bad(v, "short id");
	v = oc_array();
	oc_arr_push(&v, pair(&b, empty_tf()));
	oc_arr_push(&v, pair(&a, empty_tf()));
	expect_tfs_bad(v, "descending ids");
	v = oc_array();
	oc_arr_push(&v, pair(&a, empty_tf()));
	oc_arr_push(&v, pair(&a, empty_tf()));
	expect_tfs_bad(v, "duplicate ids");
	v = oc_array();
	oc_arr_push(&v, pair(&a, empty_tf()));
	oc_arr_push(&v, pair(&b, oc_int(1)));
	expect_tfs_bad(v, "second transform bad");
}

/*
 * The insert of an entry must be the block of that entry's id: otherwise a
 * peer would store a block under an id other than the one checked.
 */
Test(transform, tfs_from_val_insert_id_must_match)
{
	struct oc_bid a, b;
	struct oc_val v;
	struct oc_val blk = blk_abc(9);

	bid_fill(&a, 1);
	cr_assert(oc_block_id(&blk, &b) && !oc_bid_eq(&a, &b));
	v = oc_array();
	oc_arr_push(&v, pair(&a, tf_val(blk, oc_array(), oc_bool(false))));
	expect_tfs_bad(v, "insert under a foreign id");
}

Test(transform, tfs_to_val_from_val_roundtrip_empty)
{
	struct oc_tfs t, back;
	struct oc_val v;

	oc_tfs_init(&t);
	v = oc_tfs_to_val(&t);
	cr_expect(v.type == OC_ARRAY && oc_arr_len(&v) == 0);
	cr_assert(oc_tfs_from_val(&v, &back) == O_OK);
	cr_expect(oc_tfs_is_empty(&back));
	oc_val_fini(&v);
	oc_tfs_fini(&back);
	oc_tfs_fini(&t);
}
