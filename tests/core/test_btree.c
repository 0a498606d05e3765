/*
 * test_btree.c - the B+tree (core/btree.h).
 *
 * Test names carry the item of the digest's acceptance list (section 10.6)
 * they cover: d46 tree get/put/delete/iteration, d47 atomic roll-back and
 * reopen, d48 bulk inserts/deletes and counts, d49 borrow/merge and failed
 * mutations.  The model-based tests compare the tree with a sorted array
 * after every step; their seed is printed in every failure message and can
 * be overridden with OPTIMFS_BTREE_SEED.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <criterion/criterion.h>

#include "core/block.h"
#include "core/bstore.h"
#include "core/btree.h"
#include "core/o_util.h"
#include "core/transform.h"

TestSuite(btree, .timeout = 120);

#define OK(expr)                                                            \
	do {                                                                \
		o_err e_ = (expr);                                          \
		cr_assert_eq(e_, O_OK, "%s: %s (%s)", #expr, o_errname(e_), \
		    o_err_detail());                                        \
	} while (0)

/* ---- fixture ----------------------------------------------------------- */

/*
 * A memstore holding a trunk block; the tree lives either directly in the
 * memstore or in a tracker over it (the way collections use it).
 */
struct env {
	struct oc_memstore *mem;
	struct oc_tracker   trk;
	bool                tracked;
	struct oc_bstore   *s;
	struct oc_bid       trunk;
	struct oc_btree     bt;
};

static void
env_init(struct env *e, bool tracked, int fanout)
{
	struct oc_val blk;

	memset(e, 0, sizeof(*e));
	e->mem = oc_memstore_alloc();
	oc_bid_random(&e->trunk);
	blk = oc_block_new(&e->trunk, OC_BT_TREE, &e->trunk);
	OK(oc_bstore_insert(oc_memstore_store(e->mem), blk));
	e->tracked = tracked;
	if (tracked) {
		oc_tracker_init(&e->trk, oc_memstore_store(e->mem));
		e->s = &e->trk.base;
	} else {
		e->s = oc_memstore_store(e->mem);
	}
	OK(oc_btree_create(e->s, &e->trunk, fanout));
	OK(oc_btree_open(&e->bt, e->s, &e->trunk));
	cr_assert_eq(e->bt.fanout, fanout);
}

static void
env_fini(struct env *e)
{
	if (e->tracked)
		oc_tracker_fini(&e->trk);
	oc_memstore_free(e->mem);
}

/* Move the tracker's staged transforms into the memstore. */
static void
env_flush(struct env *e)
{
	struct oc_tfs t;

	if (!e->tracked)
		return;
	oc_tracker_reset(&e->trk, &t);
	OK(oc_tfs_replay(&t, oc_memstore_store(e->mem)));
	oc_tfs_fini(&t);
}

/* ---- small helpers ----------------------------------------------------- */

static void
kname(char *buf, int i)
{
	snprintf(buf, 16, "k%05d", i);
}

static void
put_i(struct oc_btree *bt, int i, int64_t v)
{
	char k[16];

	kname(k, i);
	OK(oc_btree_put(bt, k, strlen(k), oc_int(v), NULL));
}

static bool
del_i(struct oc_btree *bt, int i)
{
	char k[16];
	bool ex = false;

	kname(k, i);
	OK(oc_btree_del(bt, k, strlen(k), &ex));
	return ex;
}

/* Value of key i, or -1 when absent. */
static int64_t
get_i(struct oc_btree *bt, int i)
{
	struct oc_val v;
	char          k[16];
	bool          found;
	int64_t       r;

	kname(k, i);
	OK(oc_btree_get(bt, k, strlen(k), &v, &found));
	if (!found) {
		cr_assert_eq(v.type, OC_NULL);
		return -1;
	}
	cr_assert_eq(v.type, OC_INT);
	r = v.u.i;
	oc_val_fini(&v);
	return r;
}

static uint64_t
count(struct oc_btree *bt)
{
	uint64_t n;

	OK(oc_btree_count(bt, &n));
	return n;
}

static struct oc_btree_stats
stats(struct oc_btree *bt)
{
	struct oc_btree_stats st;

	OK(oc_btree_check_stats(bt, &st));
	return st;
}

/* A key/value list collected from an iteration. */
struct kv {
	uint8_t k[OC_BTREE_KEY_MAX];
	size_t  n;
	int64_t v;
};

struct kvs {
	struct kv *a;
	size_t     n, cap;
};

static void
kvs_push(struct kvs *l, const uint8_t *k, size_t n, int64_t v)
{
	if (l->n == l->cap) {
		l->cap = l->cap ? 2 * l->cap : 64;
		l->a   = realloc(l->a, l->cap * sizeof(*l->a));
		cr_assert_not_null(l->a);
	}
	cr_assert_leq(n, OC_BTREE_KEY_MAX);
	memcpy(l->a[l->n].k, k, n);
	l->a[l->n].n = n;
	l->a[l->n].v = v;
	l->n++;
}

static void
kvs_fini(struct kvs *l)
{
	free(l->a);
	memset(l, 0, sizeof(*l));
}

/*
 * Values of the model runs: an int, or with padding (model_pad > 0) an
 * array [int, bytes of pad_len(int)], so that leaves split by weight.
 * ival() gives the int back, -998 when the padding is wrong.
 */
static size_t model_pad;

static size_t
pad_len(int64_t i)
{
	return model_pad ? (size_t) (i * 7919) % (model_pad + 1) : 0;
}

static struct oc_val
mval(int64_t i)
{
	struct oc_val a;
	uint8_t      *pad;

	if (model_pad == 0)
		return oc_int(i);
	a   = oc_array();
	pad = calloc(1, pad_len(i) + 1);
	oc_arr_push(&a, oc_int(i));
	oc_arr_push(&a, oc_bytes(pad, pad_len(i)));
	free(pad);
	return a;
}

static int64_t
ival(const struct oc_val *v)
{
	if (v->type == OC_INT)
		return v->u.i;
	if (v->type != OC_ARRAY || v->u.a.n != 2 ||
	    v->u.a.v[0].type != OC_INT || v->u.a.v[1].type != OC_BYTES ||
	    v->u.a.v[1].u.s.n != pad_len(v->u.a.v[0].u.i))
		return -998;
	return v->u.a.v[0].u.i;
}

/* Iterate (at most max items; 0 = all) into *out; model values only. */
static o_err
collect(struct oc_btree *bt, const void *start, size_t slen, bool incl,
    bool fwd, size_t max, struct kvs *out)
{
	struct oc_btree_iter it;
	const uint8_t       *k;
	const struct oc_val *v;
	size_t               kl;
	bool                 done;
	o_err                e;

	memset(out, 0, sizeof(*out));
	if ((e = oc_btree_iter_init(&it, bt, start, slen, incl, fwd)) != O_OK)
		return e;
	while ((e = oc_btree_iter_next(&it, &done, &k, &kl, &v)) == O_OK &&
	    !done) {
		kvs_push(out, k, kl, ival(v));
		if (max && out->n == max)
			break;
	}
	oc_btree_iter_fini(&it);
	return e;
}

static bool
kvs_eq(const struct kvs *a, const struct kvs *b)
{
	size_t i;

	if (a->n != b->n)
		return false;
	for (i = 0; i < a->n; i++)
		if (a->a[i].n != b->a[i].n || a->a[i].v != b->a[i].v ||
		    memcmp(a->a[i].k, b->a[i].k, a->a[i].n) != 0)
			return false;
	return true;
}

static struct oc_bid
root_of(struct oc_bstore *s, const struct oc_bid *trunk)
{
	struct oc_val t;
	struct oc_bid r;

	OK(oc_bstore_need(s, trunk, &t));
	cr_assert(oc_map_bid(&t, OC_BTREE_F_ROOT, &r));
	oc_val_fini(&t);
	return r;
}

/*
 * The tree's shape read straight from the store, keys shown without their
 * "k000" prefix: leaves in parentheses, branches in brackets with their
 * partitions between bars, e.g. "[(01 02 03) |04| (04 05)]".
 */
static void
put_key(char *buf, size_t cap, const struct oc_val *k)
{
	size_t skip = k->u.s.n == 6 ? 4 : 0;

	snprintf(buf + strlen(buf), cap - strlen(buf), "%.*s",
	    (int) (k->u.s.n - skip), (const char *) k->u.s.p + skip);
}

static void
shape_node(struct oc_bstore *s, const struct oc_bid *id, char *buf, size_t cap)
{
	const struct oc_val *a, *p;
	struct oc_val        b;
	size_t               i;

	OK(oc_bstore_need(s, id, &b));
	if (strcmp(oc_block_type(&b), OC_BT_LEAF) == 0) {
		a = oc_map_arr(&b, "entries");
		snprintf(buf + strlen(buf), cap - strlen(buf), "(");
		for (i = 0; i < a->u.a.n; i++) {
			if (i > 0)
				snprintf(
				    buf + strlen(buf), cap - strlen(buf), " ");
			put_key(buf, cap, &a->u.a.v[i].u.a.v[0]);
		}
		snprintf(buf + strlen(buf), cap - strlen(buf), ")");
	} else {
		a = oc_map_arr(&b, "nodes");
		p = oc_map_arr(&b, "parts");
		snprintf(buf + strlen(buf), cap - strlen(buf), "[");
		for (i = 0; i < a->u.a.n; i++) {
			struct oc_bid c;

			cr_assert(oc_bid_from(&a->u.a.v[i], &c));
			if (i > 0) {
				snprintf(buf + strlen(buf), cap - strlen(buf),
				    " |");
				put_key(buf, cap, &p->u.a.v[i - 1]);
				snprintf(buf + strlen(buf), cap - strlen(buf),
				    "| ");
			}
			shape_node(s, &c, buf, cap);
		}
		snprintf(buf + strlen(buf), cap - strlen(buf), "]");
	}
	oc_val_fini(&b);
}

static char shape_buf[16384];

static const char *
shape(struct env *e)
{
	struct oc_bid r = root_of(e->s, &e->trunk);

	shape_buf[0] = '\0';
	shape_node(e->s, &r, shape_buf, sizeof(shape_buf));
	return shape_buf;
}

/* xorshift64*: fixed seeds, reproducible everywhere. */
static uint64_t
rnd(uint64_t *s)
{
	*s ^= *s >> 12;
	*s ^= *s << 25;
	*s ^= *s >> 27;
	return *s * 0x2545f4914f6cdd1dull;
}

static uint64_t
seed_for(uint64_t dflt)
{
	const char *s = getenv("OPTIMFS_BTREE_SEED");

	return s != NULL ? strtoull(s, NULL, 0) : dflt;
}

/* ---- d46: get / put / delete / iterate --------------------------------- */

Test(btree, d46_put_update_delete_get_count)
{
	struct env e;
	bool       rep, ex, found;
	char       k[16];
	int        i;

	env_init(&e, true, 4);
	cr_assert_eq(count(&e.bt), 0);
	for (i = 0; i < 60; i++) {
		kname(k, i);
		OK(oc_btree_put(&e.bt, k, strlen(k), oc_int(i), &rep));
		cr_assert(!rep);
		OK(oc_btree_check(&e.bt));
	}
	cr_assert_eq(count(&e.bt), 60);
	for (i = 0; i < 60; i += 3) {
		kname(k, i);
		OK(oc_btree_put(&e.bt, k, strlen(k), oc_int(1000 + i), &rep));
		cr_assert(rep, "key %d was present", i);
	}
	cr_assert_eq(count(&e.bt), 60);
	for (i = 0; i < 60; i++)
		cr_assert_eq(get_i(&e.bt, i), i % 3 ? i : 1000 + i);
	for (i = 0; i < 60; i += 2) {
		kname(k, i);
		OK(oc_btree_del(&e.bt, k, strlen(k), &ex));
		cr_assert(ex);
		OK(oc_btree_check(&e.bt));
	}
	OK(oc_btree_del(&e.bt, "k00000", 6, &ex));
	cr_assert(!ex, "deleting twice");
	OK(oc_btree_del(&e.bt, "zzz", 3, &ex));
	cr_assert(!ex);
	OK(oc_btree_get(&e.bt, "k0000", 5, NULL, &found));
	cr_assert(!found, "a prefix of a key is another key");
	cr_assert_eq(count(&e.bt), 30);
	for (i = 0; i < 60; i++)
		cr_assert_eq(get_i(&e.bt, i),
		    i % 2 == 0  ? -1
		        : i % 3 ? i
		                : 1000 + i);
	env_fini(&e);
}

Test(btree, d46_ascending_descending_iteration_crosses_leaves)
{
	struct env            e;
	struct kvs            f, b;
	struct oc_btree_stats st;
	size_t                i;

	env_init(&e, true, 4);
	for (i = 0; i < 200; i++)
		put_i(
		    &e.bt, (int) ((i * 37) % 200), (int64_t) ((i * 37) % 200));
	st = stats(&e.bt);
	cr_assert_geq(st.depth, 3, "iteration must cross branches too");
	cr_assert_eq(st.entries, 200);
	OK(collect(&e.bt, NULL, 0, true, true, 0, &f));
	OK(collect(&e.bt, NULL, 0, true, false, 0, &b));
	cr_assert_eq(f.n, 200);
	cr_assert_eq(b.n, 200);
	for (i = 0; i < 200; i++) {
		char k[16];

		kname(k, (int) i);
		cr_assert_eq(f.a[i].v, (int64_t) i);
		cr_assert(f.a[i].n == 6 && memcmp(f.a[i].k, k, 6) == 0);
		cr_assert_eq(b.a[199 - i].v, (int64_t) i);
	}
	kvs_fini(&f);
	kvs_fini(&b);
	env_fini(&e);
}

Test(btree, d46_range_iteration_ordered)
{
	struct env e;
	struct kvs r;
	size_t     i;

	env_init(&e, false, 5);
	for (i = 0; i < 300; i++)
		put_i(&e.bt, (int) i * 2, (int64_t) i * 2);
	/* [k00101, k00201) ascending: the caller stops at the end key. */
	OK(collect(&e.bt, "k00101", 6, true, true, 50, &r));
	cr_assert_eq(r.n, 50);
	for (i = 0; i < r.n; i++)
		cr_assert_eq(r.a[i].v, (int64_t) (102 + 2 * i));
	kvs_fini(&r);
	/* (k00400 .. down to k00300] descending. */
	OK(collect(&e.bt, "k00400", 6, false, false, 50, &r));
	cr_assert_eq(r.n, 50);
	for (i = 0; i < r.n; i++)
		cr_assert_eq(r.a[i].v, (int64_t) (398 - 2 * i));
	kvs_fini(&r);
	env_fini(&e);
}

/*
 * Over a tree of the even keys 0..398, iterate from start s (-2: the empty
 * key, below all; 402: "z", above all) and compare with the expected run.
 */
static void
check_from(struct oc_btree *bt, int s, bool fwd, bool incl)
{
	struct kvs r;
	char       k[16];
	int        sx = s == -2 ? -1000 : s == 402 ? 1000 : s;
	int        x, n = 0;

	if (s == -2)
		strcpy(k, "");
	else if (s == 402)
		strcpy(k, "z");
	else
		kname(k, s);
	OK(collect(bt, k, strlen(k), incl, fwd, 0, &r));
	for (x = fwd ? 0 : 398; fwd ? x <= 398 : x >= 0; x += fwd ? 2 : -2) {
		bool skip = fwd ? (incl ? x < sx : x <= sx)
		                : (incl ? x > sx : x >= sx);

		if (skip)
			continue;
		cr_assert_lt((size_t) n, r.n,
		    "start '%s' incl %d fwd %d: "
		    "too few",
		    k, incl, fwd);
		cr_assert_eq(r.a[n].v, x, "start '%s' incl %d fwd %d item %d",
		    k, incl, fwd, n);
		n++;
	}
	cr_assert_eq(
	    r.n, (size_t) n, "start '%s' incl %d fwd %d", k, incl, fwd);
	kvs_fini(&r);
}

/* Start keys present, absent, before and beyond both ends, both ways. */
Test(btree, iter_start_key_inclusive_exclusive_both_directions)
{
	static const int fanouts[] = { 4, 64 };
	struct env       e;
	size_t           f;
	int              s;

	for (f = 0; f < O_NELEM(fanouts); f++) {
		env_init(&e, f == 0, fanouts[f]);
		for (s = 0; s < 200; s++)
			put_i(&e.bt, 2 * s, 2 * s);
		for (s = -2; s <= 402; s++) {
			check_from(&e.bt, s, true, true);
			check_from(&e.bt, s, true, false);
			check_from(&e.bt, s, false, true);
			check_from(&e.bt, s, false, false);
		}
		env_fini(&e);
	}
}

Test(btree, empty_tree_and_edge_keys)
{
	struct env           e;
	struct oc_btree_iter it;
	struct oc_val        v, m;
	const uint8_t       *k;
	const struct oc_val *vp;
	size_t               kl;
	bool                 done, found, ex;
	uint8_t              big[OC_BTREE_KEY_MAX + 1];
	struct kvs           l;

	env_init(&e, true, 4);
	OK(oc_btree_iter_init(&it, &e.bt, NULL, 0, true, true));
	OK(oc_btree_iter_next(&it, &done, &k, &kl, &vp));
	cr_assert(done);
	OK(oc_btree_iter_next(&it, &done, &k, &kl, &vp));
	cr_assert(done, "done is sticky");
	oc_btree_iter_fini(&it);
	oc_btree_iter_fini(&it); /* idempotent */
	OK(oc_btree_del(&e.bt, "a", 1, &ex));
	cr_assert(!ex);
	OK(oc_btree_get(&e.bt, "a", 1, &v, &found));
	cr_assert(!found);
	OK(oc_btree_check(&e.bt));

	/* Empty key, NUL bytes, 0xff, and the longest key; any value. */
	OK(oc_btree_put(&e.bt, NULL, 0, oc_int(1), NULL));
	OK(oc_btree_put(&e.bt, "\0", 1, oc_int(2), NULL));
	OK(oc_btree_put(&e.bt, "\0\0", 2, oc_int(3), NULL));
	OK(oc_btree_put(&e.bt, "\xff", 1, oc_int(5), NULL));
	memset(big, 0xff, sizeof(big));
	OK(oc_btree_put(&e.bt, big, OC_BTREE_KEY_MAX, oc_int(6), NULL));
	cr_assert_eq(
	    oc_btree_put(&e.bt, big, sizeof(big), oc_int(7), NULL), O_ETOOBIG);
	m = oc_map();
	oc_map_set(&m, "x", oc_text("hello"));
	oc_map_set(&m, "y", oc_bytes("\0\1", 2));
	OK(oc_btree_put(&e.bt, "a", 1, oc_val_dup(&m), NULL));
	OK(oc_btree_put(&e.bt, "n", 1, oc_null(), NULL));
	OK(oc_btree_check(&e.bt));
	OK(oc_btree_get(&e.bt, "a", 1, &v, &found));
	cr_assert(found && oc_val_eq(&v, &m));
	oc_val_fini(&v);
	oc_val_fini(&m);
	OK(oc_btree_get(&e.bt, "n", 1, &v, &found));
	cr_assert(found && v.type == OC_NULL);
	OK(oc_btree_get(&e.bt, "", 0, &v, &found));
	cr_assert(found && v.type == OC_INT && v.u.i == 1);
	OK(collect(&e.bt, NULL, 0, true, true, 0, &l));
	cr_assert_eq(l.n, 7);
	cr_assert_eq(l.a[0].n, 0);
	cr_assert_eq(l.a[1].n, 1);
	cr_assert_eq(l.a[2].n, 2);
	cr_assert_eq(l.a[6].n, OC_BTREE_KEY_MAX);
	kvs_fini(&l);
	OK(oc_btree_del(&e.bt, "", 0, &ex));
	cr_assert(ex);
	cr_assert_eq(count(&e.bt), 6);
	env_fini(&e);
}

Test(btree, iterator_invalidated_by_mutation)
{
	struct env           e;
	struct oc_btree_iter it;
	const uint8_t       *k;
	const struct oc_val *v;
	size_t               kl;
	bool                 done;
	int                  i;

	env_init(&e, true, 4);
	for (i = 0; i < 20; i++)
		put_i(&e.bt, i, i);
	OK(oc_btree_iter_init(&it, &e.bt, NULL, 0, true, true));
	OK(oc_btree_iter_next(&it, &done, &k, &kl, &v));
	cr_assert(!done);
	put_i(&e.bt, 100, 100);
	cr_assert_eq(oc_btree_iter_next(&it, &done, &k, &kl, &v), O_EINVAL);
	cr_assert_eq(oc_btree_iter_next(&it, &done, &k, &kl, &v), O_EINVAL,
	    "the error is sticky");
	oc_btree_iter_fini(&it);
	env_fini(&e);
}

/* ---- d47: atomic roll-back and reopen ---------------------------------- */

Test(btree, d47_failing_mutation_in_atomic_scope_leaves_tree_identical)
{
	struct env        e;
	struct oc_tracker a;
	struct oc_btree   inner, re;
	struct kvs        before, after;
	char              shape0[sizeof(shape_buf)];
	uint8_t           big[OC_BTREE_KEY_MAX + 1];
	int               i;

	env_init(&e, true, 4);
	for (i = 0; i < 100; i++)
		put_i(&e.bt, i * 3, i);
	OK(collect(&e.bt, NULL, 0, true, true, 0, &before));
	strcpy(shape0, shape(&e));

	/* A "replace" of several pairs whose last pair fails. */
	oc_atomic_begin(&a, e.s);
	OK(oc_btree_open(&inner, &a.base, &e.trunk));
	for (i = 0; i < 100; i++)
		put_i(&inner, i * 3 + 1, -i); /* splits */
	for (i = 0; i < 100; i += 2)
		cr_assert(del_i(&inner, i * 3)); /* merges */
	OK(oc_btree_check(&inner));
	cr_assert_eq(count(&inner), 150);
	memset(big, 'x', sizeof(big));
	cr_assert_eq(oc_btree_put(&inner, big, sizeof(big), oc_int(0), NULL),
	    O_ETOOBIG);
	oc_atomic_abort(&a);

	OK(oc_btree_check(&e.bt));
	OK(collect(&e.bt, NULL, 0, true, true, 0, &after));
	cr_assert(kvs_eq(&before, &after));
	cr_assert_str_eq(shape(&e), shape0);
	kvs_fini(&after);

	/* Reopened from the same store, and from the committed memstore. */
	OK(oc_btree_open(&re, e.s, &e.trunk));
	OK(collect(&re, NULL, 0, true, true, 0, &after));
	cr_assert(kvs_eq(&before, &after));
	kvs_fini(&after);
	env_flush(&e);
	OK(oc_btree_open(&re, oc_memstore_store(e.mem), &e.trunk));
	OK(oc_btree_check(&re));
	OK(collect(&re, NULL, 0, true, false, 0, &after));
	cr_assert_eq(after.n, before.n);
	for (i = 0; i < (int) after.n; i++)
		cr_assert_eq(after.a[i].v, before.a[before.n - 1 - i].v);
	kvs_fini(&after);

	/* The same scope committed lands as a whole. */
	oc_atomic_begin(&a, e.s);
	OK(oc_btree_open(&inner, &a.base, &e.trunk));
	for (i = 0; i < 100; i++)
		put_i(&inner, i * 3 + 1, -i);
	OK(oc_atomic_commit(&a));
	OK(oc_btree_check(&e.bt));
	cr_assert_eq(count(&e.bt), 200);
	kvs_fini(&before);
	env_fini(&e);
}

/*
 * A store whose reads start failing after a budget, to break a mutation
 * half way.  Writes pass through.
 */
struct failstore {
	struct oc_bstore  base;
	struct oc_bstore *in;
	long              budget; /* reads left; < 0: unlimited */
};

static o_err
fs_get(struct oc_bstore *s, const struct oc_bid *id, struct oc_val *out,
    bool *found)
{
	struct failstore *f = (struct failstore *) s;

	*out = oc_null();
	if (f->budget == 0)
		return o_err_set(O_EIO, "injected read failure");
	if (f->budget > 0)
		f->budget--;
	return oc_bstore_get(f->in, id, out, found);
}

static o_err
fs_insert(struct oc_bstore *s, struct oc_val blk)
{
	return oc_bstore_insert(((struct failstore *) s)->in, blk);
}

static o_err
fs_update(struct oc_bstore *s, const struct oc_bid *id, struct oc_op op)
{
	return oc_bstore_update(((struct failstore *) s)->in, id, op);
}

static o_err
fs_del(struct oc_bstore *s, const struct oc_bid *id)
{
	return oc_bstore_del(((struct failstore *) s)->in, id);
}

static const struct oc_bstore_ops fs_ops = {
	.get = fs_get, .insert = fs_insert, .update = fs_update, .del = fs_del
};

Test(btree, d49_failing_mutation_rolls_the_tree_back)
{
	struct env       e;
	struct failstore fs = { { &fs_ops }, NULL, -1 };
	struct oc_btree  fbt;
	struct kvs       before, after;
	char             shape0[sizeof(shape_buf)];
	int              round;

	env_init(&e, true, 4);
	fs.in = e.s;
	/* 27 sequential keys: the next insert splits up to a new root. */
	for (round = 0; round < 2; round++) {
		long budget;
		int  i;

		if (round == 0)
			for (i = 0; i < 40; i++)
				put_i(&e.bt, i, i);
		OK(oc_btree_open(&fbt, &fs.base, &e.trunk));
		OK(collect(&e.bt, NULL, 0, true, true, 0, &before));
		strcpy(shape0, shape(&e));
		for (budget = 0;; budget++) {
			char  k[16];
			bool  ex = false;
			o_err err;

			fs.budget = budget;
			if (round == 0) {
				kname(k, 100);
				err =
				    oc_btree_put(&fbt, k, 6, oc_int(1), NULL);
			} else {
				kname(k, 0); /* cascades merges to the root */
				err = oc_btree_del(&fbt, k, 6, &ex);
			}
			fs.budget = -1;
			if (err == O_OK)
				break;
			cr_assert_eq(err, O_EIO, "budget %ld: %s", budget,
			    o_err_detail());
			OK(oc_btree_check(&e.bt));
			OK(collect(&e.bt, NULL, 0, true, true, 0, &after));
			cr_assert(
			    kvs_eq(&before, &after), "budget %ld", budget);
			cr_assert_str_eq(
			    shape(&e), shape0, "budget %ld", budget);
			kvs_fini(&after);
			cr_assert_lt(budget, 100);
		}
		cr_assert_gt(budget, 2, "the failure hit mid-mutation");
		OK(oc_btree_check(&e.bt));
		cr_assert_str_neq(shape(&e), shape0);
		kvs_fini(&before);
		if (round == 0) {
			/* Make the delete of k00000 cascade. */
			for (i = 39; i >= 1 && count(&e.bt) > 9; i--)
				del_i(&e.bt, i);
		}
	}
	env_fini(&e);
}

/* ---- d48: bulk inserts and deletes ------------------------------------- */

static int
kv_cmp(const void *a, const void *b)
{
	const struct kv *x = a, *y = b;

	return oc_bytes_cmp(x->k, x->n, y->k, y->n);
}

static void
random_then_every_other(bool tracked, int fanout, uint64_t seed)
{
	struct env e;
	struct kvs keys = { 0 }, got;
	uint64_t   s    = seed;
	size_t     i;

	env_init(&e, tracked, fanout);
	while (keys.n < 500) {
		uint8_t k[8];
		bool    rep;

		for (i = 0; i < sizeof(k); i++)
			k[i] = (uint8_t) rnd(&s);
		OK(oc_btree_put(
		    &e.bt, k, sizeof(k), oc_int((int64_t) keys.n), &rep));
		cr_assert(!rep, "seed %llu", (unsigned long long) seed);
		kvs_push(&keys, k, sizeof(k), (int64_t) keys.n);
	}
	OK(oc_btree_check(&e.bt));
	cr_assert_eq(count(&e.bt), 500);
	qsort(keys.a, keys.n, sizeof(*keys.a), kv_cmp);
	OK(collect(&e.bt, NULL, 0, true, true, 0, &got));
	cr_assert(kvs_eq(&keys, &got), "seed %llu", (unsigned long long) seed);
	kvs_fini(&got);
	for (i = 0; i < keys.n; i += 2) {
		bool ex;

		OK(oc_btree_del(&e.bt, keys.a[i].k, keys.a[i].n, &ex));
		cr_assert(ex);
		if (i % 50 == 0)
			OK(oc_btree_check(&e.bt));
	}
	OK(oc_btree_check(&e.bt));
	cr_assert_eq(count(&e.bt), 250);
	for (i = 0; i < keys.n; i++) {
		struct oc_val v;
		bool          found;

		OK(oc_btree_get(&e.bt, keys.a[i].k, keys.a[i].n, &v, &found));
		cr_assert_eq(found, i % 2 == 1, "seed %llu key %zu",
		    (unsigned long long) seed, i);
		if (found)
			cr_assert_eq(v.u.i, keys.a[i].v);
		oc_val_fini(&v);
	}
	kvs_fini(&keys);
	env_fini(&e);
}

Test(btree, d48_500_random_inserts_delete_every_other)
{
	random_then_every_other(true, 4, seed_for(48));
	random_then_every_other(false, 5, seed_for(4848));
	random_then_every_other(true, OC_BTREE_FANOUT, seed_for(484848));
}

static void
sequential(bool tracked, int fanout, int n)
{
	struct env            e;
	struct oc_btree_stats st;
	struct oc_btree       m;
	int                   i;

	env_init(&e, tracked, fanout);
	for (i = 0; i < n; i++) {
		put_i(&e.bt, i, i);
		if (i % 100 == 0)
			OK(oc_btree_check(&e.bt));
	}
	st = stats(&e.bt);
	cr_assert_eq(st.entries, (uint64_t) n);
	cr_assert_eq(count(&e.bt), (uint64_t) n);
	for (i = 0; i < n; i++)
		cr_assert_eq(get_i(&e.bt, i), i, "key %d missing", i);
	/* Every block in the store is the trunk or a reachable node. */
	env_flush(&e);
	cr_assert_eq(oc_memstore_len(e.mem), 1 + st.leaves + st.branches);
	OK(oc_btree_open(&m, oc_memstore_store(e.mem), &e.trunk));
	cr_assert_eq(count(&m), (uint64_t) n);

	for (i = 0; i < n; i++) {
		cr_assert(del_i(&e.bt, i));
		if (i % 100 == 0) {
			OK(oc_btree_check(&e.bt));
			cr_assert_eq(count(&e.bt), (uint64_t) (n - i - 1));
		}
	}
	st = stats(&e.bt);
	cr_assert_eq(st.entries, 0);
	cr_assert_eq(st.depth, 1, "the root collapsed back to a leaf");
	env_flush(&e);
	cr_assert_eq(oc_memstore_len(e.mem), 2, "trunk and root leaf only");
	env_fini(&e);
}

Test(btree, d48_2200_sequential_inserts_no_missing_block)
{
	sequential(false, OC_BTREE_FANOUT, 2200);
	sequential(true, 4, 2200);
	sequential(false, 5, 2200);
}

/* ---- d49: borrow and merge at fanout 4 --------------------------------- */

Test(btree, d49_leaf_borrow_left_then_merge_collapses_root)
{
	struct env e;
	int        i;

	env_init(&e, false, 4);
	for (i = 1; i <= 5; i++)
		put_i(&e.bt, i, i);
	cr_assert_str_eq(shape(&e), "[(01 02 03) |04| (04 05)]");
	cr_assert(del_i(&e.bt, 4)); /* (05) borrows 03 from the left */
	cr_assert_str_eq(shape(&e), "[(01 02) |03| (03 05)]");
	cr_assert_eq(get_i(&e.bt, 3), 3);
	cr_assert_eq(get_i(&e.bt, 4), -1);
	OK(oc_btree_check(&e.bt));
	cr_assert(del_i(&e.bt, 5)); /* (03) merges left; the root collapses */
	cr_assert_str_eq(shape(&e), "(01 02 03)");
	cr_assert_eq(oc_memstore_len(e.mem), 2, "old root and leaf deleted");
	for (i = 1; i <= 5; i++)
		cr_assert_eq(get_i(&e.bt, i), i <= 3 ? i : -1);
	OK(oc_btree_check(&e.bt));
	env_fini(&e);
}

Test(btree, d49_leaf_borrow_right_and_merges_both_ways)
{
	struct env e;
	int        i;

	env_init(&e, true, 4);
	for (i = 1; i <= 8; i++)
		put_i(&e.bt, i, i);
	cr_assert_str_eq(
	    shape(&e), "[(01 02 03) |04| (04 05 06) |07| (07 08)]");
	cr_assert(del_i(&e.bt, 1));
	cr_assert(del_i(&e.bt, 2)); /* (03) borrows 04 from the right */
	cr_assert_str_eq(shape(&e), "[(03 04) |05| (05 06) |07| (07 08)]");
	for (i = 1; i <= 8; i++)
		cr_assert_eq(get_i(&e.bt, i), i >= 3 ? i : -1);
	OK(oc_btree_check(&e.bt));

	cr_assert(del_i(&e.bt, 5)); /* (06): no one can lend; merge left */
	cr_assert_str_eq(shape(&e), "[(03 04 06) |07| (07 08)]");
	put_i(&e.bt, 5, 5);
	cr_assert(del_i(&e.bt, 7)); /* (08) borrows 06 from the left */
	cr_assert_str_eq(shape(&e), "[(03 04 05) |06| (06 08)]");
	for (i = 1; i <= 8; i++)
		cr_assert_eq(get_i(&e.bt, i), i >= 3 && i != 7 ? i : -1);
	OK(oc_btree_check(&e.bt));
	env_fini(&e);

	env_init(&e, true, 4);
	for (i = 1; i <= 8; i++)
		put_i(&e.bt, i, i);
	cr_assert(del_i(&e.bt, 1));
	cr_assert(del_i(&e.bt, 2));
	cr_assert(del_i(&e.bt, 3)); /* first leaf (04) merges right */
	cr_assert_str_eq(shape(&e), "[(04 05 06) |07| (07 08)]");
	for (i = 1; i <= 8; i++)
		cr_assert_eq(get_i(&e.bt, i), i >= 4 ? i : -1);
	OK(oc_btree_check(&e.bt));
	env_fini(&e);
}

static const char *const full20 =
    "[[(01 02 03) |04| (04 05 06) |07| (07 08 09)] |10| "
    "[(10 11 12) |13| (13 14 15) |16| (16 17 18) |19| (19 20)]]";

static void
env_20(struct env *e)
{
	int i;

	env_init(e, true, 4);
	for (i = 1; i <= 20; i++)
		put_i(&e->bt, i, i);
	cr_assert_str_eq(shape(e), full20);
}

static void
del_all(struct env *e, const int *keys, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++) {
		cr_assert(del_i(&e->bt, keys[i]), "key %d", keys[i]);
		OK(oc_btree_check(&e->bt));
	}
}

static void
expect_keys(struct env *e, const int *gone, size_t n)
{
	int i;

	for (i = 1; i <= 20; i++) {
		bool   del = false;
		size_t j;

		for (j = 0; j < n; j++)
			del = del || gone[j] == i;
		cr_assert_eq(get_i(&e->bt, i), del ? -1 : i, "key %d", i);
	}
}

Test(btree, d49_branch_borrow_right)
{
	static const int gone[] = { 1, 2, 3, 4, 5, 6 };
	struct env       e;

	env_20(&e);
	del_all(&e, gone, O_NELEM(gone));
	/* the left branch fell to one child and took (10 11 12) */
	cr_assert_str_eq(shape(&e),
	    "[[(07 08 09) |10| (10 11 12)] |13| "
	    "[(13 14 15) |16| (16 17 18) |19| (19 20)]]");
	expect_keys(&e, gone, O_NELEM(gone));
	env_fini(&e);
}

Test(btree, d49_branch_borrow_left_then_merge_right_collapses_root)
{
	static const int gone[] = { 20, 19, 18, 17, 16, 15, 14, 13 };
	static const int more[] = { 20, 19, 18, 17, 16, 15, 14, 13, 1, 2, 3 };
	struct env       e;

	env_20(&e);
	del_all(&e, gone, O_NELEM(gone));
	/* the right branch fell to one child and took (07 08 09) */
	cr_assert_str_eq(shape(&e),
	    "[[(01 02 03) |04| (04 05 06)] |07| "
	    "[(07 08 09) |10| (10 11 12)]]");
	expect_keys(&e, gone, O_NELEM(gone));
	del_all(&e, more + O_NELEM(gone), O_NELEM(more) - O_NELEM(gone));
	/* the left branch merged into the right one; depth 3 -> 2 */
	cr_assert_str_eq(
	    shape(&e), "[(04 05 06) |07| (07 08 09) |10| (10 11 12)]");
	expect_keys(&e, more, O_NELEM(more));
	cr_assert_eq(stats(&e.bt).depth, 2);
	env_fini(&e);
}

Test(btree, d49_branch_merge_left_collapses_root)
{
	static const int gone[] = { 20, 19, 18, 17, 16, 15, 14, 13, 9, 8, 12 };
	struct env       e;

	env_20(&e);
	del_all(&e, gone, O_NELEM(gone));
	cr_assert_str_eq(
	    shape(&e), "[(01 02 03) |04| (04 05 06) |07| (07 10 11)]");
	expect_keys(&e, gone, O_NELEM(gone));
	env_flush(&e);
	cr_assert_eq(oc_memstore_len(e.mem), 1 + 1 + 3, "no orphan nodes");
	env_fini(&e);
}

/* ---- model-based randomized test --------------------------------------- */

/* The model: a sorted array of key -> int. */
static size_t
model_find(const struct kvs *m, const uint8_t *k, size_t n, bool *found)
{
	size_t lo = 0, hi = m->n;

	while (lo < hi) {
		size_t mid = (lo + hi) / 2;
		int    c   = oc_bytes_cmp(m->a[mid].k, m->a[mid].n, k, n);

		if (c < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	*found = lo < m->n && m->a[lo].n == n && memcmp(m->a[lo].k, k, n) == 0;
	return lo;
}

static void
model_put(struct kvs *m, const uint8_t *k, size_t n, int64_t v)
{
	bool   found;
	size_t i = model_find(m, k, n, &found);

	if (found) {
		m->a[i].v = v;
		return;
	}
	kvs_push(m, k, n, v); /* grow, then move into place */
	memmove(&m->a[i + 1], &m->a[i], (m->n - 1 - i) * sizeof(*m->a));
	memcpy(m->a[i].k, k, n);
	m->a[i].n = n;
	m->a[i].v = v;
}

static void
model_del(struct kvs *m, size_t i)
{
	memmove(&m->a[i], &m->a[i + 1], (m->n - 1 - i) * sizeof(*m->a));
	m->n--;
}

/* Expected iteration from start (NULL: an end), at most max items. */
static void
model_range(const struct kvs *m, const uint8_t *k, size_t n, bool incl,
    bool fwd, size_t max, struct kvs *out)
{
	bool    found;
	int64_t i;

	memset(out, 0, sizeof(*out));
	if (k == NULL) {
		i = fwd ? 0 : (int64_t) m->n - 1;
	} else {
		i = (int64_t) model_find(m, k, n, &found);
		if (fwd && found && !incl)
			i++;
		if (!fwd && !(found && incl))
			i--;
	}
	for (; i >= 0 && i < (int64_t) m->n && out->n < max; i += fwd ? 1 : -1)
		kvs_push(out, m->a[i].k, m->a[i].n, m->a[i].v);
}

static void
random_key(uint64_t *s, uint8_t *k, size_t *n)
{
	static const uint8_t alpha[] = { 0x00, 'a', 'b', 0xff };
	size_t               i;

	*n = 1 + rnd(s) % 12;
	for (i = 0; i < *n; i++)
		k[i] = alpha[rnd(s) % sizeof(alpha)];
}

static void
model_run(int fanout, bool tracked, uint64_t seed, int steps, size_t pad)
{
	enum { POOL = 300 };
	static uint8_t pool[POOL][12];
	static size_t  plen[POOL];
	struct env     e;
	struct kvs     m = { 0 }, got, want;
	uint64_t       s = seed;
	int            step, i, maxdepth = 0;
	bool           collapsed = false;

	model_pad = pad;
	env_init(&e, tracked, fanout);
	for (i = 0; i < POOL; i++)
		random_key(&s, pool[i], &plen[i]);
	for (step = 0; step < steps; step++) {
		bool           grow = (step / 500) % 2 == 0;
		unsigned       r    = (unsigned) (rnd(&s) % 100);
		size_t         p = rnd(&s) % POOL, n = plen[p], mi;
		const uint8_t *k = pool[p];
		bool           mfound, found;
		struct oc_val  v;

		if (!grow && m.n > 0 && rnd(&s) % 2) {
			/* shrinking: often delete a key known to be there */
			mi = rnd(&s) % m.n;
			k  = m.a[mi].k;
			n  = m.a[mi].n;
		}
		mi = model_find(&m, k, n, &mfound);
		if (r < (grow ? 60u : 15u)) {
			OK(oc_btree_put(&e.bt, k, n, mval(step), &found));
			cr_assert_eq(found, mfound, "seed %llu step %d put",
			    (unsigned long long) seed, step);
			model_put(&m, k, n, step);
		} else if (r < 80) {
			OK(oc_btree_del(&e.bt, k, n, &found));
			cr_assert_eq(found, mfound, "seed %llu step %d del",
			    (unsigned long long) seed, step);
			if (mfound)
				model_del(&m, mi);
		} else if (r < 92) {
			OK(oc_btree_get(&e.bt, k, n, &v, &found));
			cr_assert_eq(found, mfound, "seed %llu step %d get",
			    (unsigned long long) seed, step);
			cr_assert(!found || ival(&v) == m.a[mi].v,
			    "seed %llu step %d get value",
			    (unsigned long long) seed, step);
			oc_val_fini(&v);
		} else {
			uint8_t rk[12];
			size_t  rn, max = 1 + rnd(&s) % 20;
			bool    incl = rnd(&s) % 2, fwd = rnd(&s) % 2;

			random_key(&s, rk, &rn);
			if (r < 94) /* from an end */
				k = NULL;
			else if (r < 97) /* from a key likely absent */
				k = rk, n = rn;
			OK(collect(&e.bt, k, n, incl, fwd, max, &got));
			model_range(&m, k, n, incl, fwd, max, &want);
			cr_assert(kvs_eq(&got, &want),
			    "seed %llu step %d range (%zu vs %zu items)",
			    (unsigned long long) seed, step, got.n, want.n);
			kvs_fini(&got);
			kvs_fini(&want);
		}
		{
			struct oc_btree_stats st;
			o_err err = oc_btree_check_stats(&e.bt, &st);

			cr_assert_eq(err, O_OK, "seed %llu step %d: %s",
			    (unsigned long long) seed, step, o_err_detail());
			cr_assert_eq(st.entries, m.n,
			    "seed %llu step %d count",
			    (unsigned long long) seed, step);
			if (st.depth > maxdepth)
				maxdepth = st.depth;
			/* Small entries never weigh enough to change the
			 * count rules: leaves stay at least half full. */
			cr_assert(model_pad > 0 || st.depth == 1 ||
			        st.leaf_min >= (uint64_t) fanout / 2,
			    "seed %llu step %d: a leaf of %llu entries",
			    (unsigned long long) seed, step,
			    (unsigned long long) st.leaf_min);
			if (st.depth == 1 && maxdepth > 1)
				collapsed = true;
		}
		if (step % 100 == 99 || step == steps - 1) {
			OK(collect(&e.bt, NULL, 0, true, true, 0, &got));
			cr_assert(kvs_eq(&got, &m),
			    "seed %llu step %d forward",
			    (unsigned long long) seed, step);
			kvs_fini(&got);
			OK(collect(&e.bt, NULL, 0, true, false, 0, &got));
			cr_assert_eq(got.n, m.n);
			for (i = 0; i < (int) m.n; i++)
				cr_assert(got.a[i].v == m.a[m.n - 1 - i].v &&
				        got.a[i].n == m.a[m.n - 1 - i].n,
				    "seed %llu step %d backward",
				    (unsigned long long) seed, step);
			kvs_fini(&got);
			cr_assert_eq(count(&e.bt), m.n);
		}
		if (step % 1000 == 999) {
			struct oc_btree_stats st = stats(&e.bt);

			/* Commit what is staged: no orphan or missing block.
			 */
			env_flush(&e);
			if (tracked)
				cr_assert_eq(oc_memstore_len(e.mem),
				    1 + st.leaves + st.branches,
				    "seed %llu step %d blocks",
				    (unsigned long long) seed, step);
		}
	}
	/* The run must have grown deep and shrunk back to a root leaf. */
	cr_assert_geq(maxdepth, fanout <= 8 ? 3 : 2, "seed %llu",
	    (unsigned long long) seed);
	cr_assert(collapsed, "seed %llu: the root never collapsed",
	    (unsigned long long) seed);
	kvs_fini(&m);
	env_fini(&e);
	model_pad = 0;
}

Test(btree, d48_model_fanout4_tracked)
{
	model_run(4, true, seed_for(0xb7ee04), 5000, 0);
}

Test(btree, d48_model_fanout5_direct)
{
	model_run(5, false, seed_for(0xb7ee05), 5000, 0);
}

Test(btree, d48_model_fanout8_tracked)
{
	model_run(8, true, seed_for(0xb7ee08), 5000, 0);
}

Test(btree, d48_model_fanout64_tracked)
{
	model_run(64, true, seed_for(0xb7ee64), 5000, 0);
}

Test(btree, d48_model_fanouts_6_7_9_direct)
{
	model_run(6, false, seed_for(0xb7ee06), 2000, 0);
	model_run(7, false, seed_for(0xb7ee07), 2000, 0);
	model_run(9, false, seed_for(0xb7ee09), 2000, 0);
}

/*
 * Entries of up to 3 000 bytes: leaves split by weight, and deletes borrow
 * and merge by weight too, checked against the model after every step
 * (tree shape and contents; the tests below check that the weight rules
 * are used).
 */
Test(btree, model_with_heavy_entries)
{
	model_run(64, true, seed_for(0xb7eeb1), 5000, 3000);
	model_run(8, false, seed_for(0xb7eeb2), 3000, 6000);
}

/* ---- leaves split by weight -------------------------------------------- */

static void
put_padded(struct env *e, int from, int to, size_t vlen)
{
	uint8_t *pad = calloc(1, vlen + 1);
	char     k[16];
	int      i;

	for (i = from; i < to; i++) {
		snprintf(k, sizeof(k), "k%05d", i);
		OK(oc_btree_put(
		    &e->bt, k, strlen(k), oc_bytes(pad, vlen), NULL));
	}
	free(pad);
}

/*
 * No split-merge ping-pong: a leaf split by weight, then thin after one
 * delete, is not merged back with a sibling it would overfill, so putting
 * and deleting one key again and again does not make and drop a leaf.
 */
Test(btree, a_split_by_weight_is_not_undone_by_the_next_delete)
{
	struct env e;
	uint64_t   leaves;
	char       k[16];
	int        round;

	env_init(&e, true, OC_BTREE_FANOUT);
	put_padded(&e, 0, 5, 1900); /* 5 x 1.9 KB: split 3 | 2 */
	leaves = stats(&e.bt).leaves;
	cr_assert_eq(leaves, 2);
	snprintf(k, sizeof(k), "k%05d", 4);
	for (round = 0; round < 3; round++) {
		OK(oc_btree_del(&e.bt, k, strlen(k), NULL));
		cr_assert_eq(stats(&e.bt).leaves, leaves,
		    "round %d: the delete merged", round);
		put_padded(&e, 4, 5, 1900);
		cr_assert_eq(stats(&e.bt).leaves, leaves,
		    "round %d: the put split", round);
		OK(oc_btree_check(&e.bt));
	}
	env_fini(&e);
}

/*
 * 40 small entries fit one leaf; grown to 900 bytes each by replaces,
 * they no longer fit one leaf of OC_BTREE_LEAF_BYTES although the fanout
 * (64) would take them, nor do 40 more inserted.  Deleting most of them
 * merges the leaves back into one.
 */
Test(btree, leaves_split_by_weight_and_merge_back)
{
	struct env            e;
	struct oc_btree_stats st;
	char                  k[16];
	int                   i;

	env_init(&e, true, OC_BTREE_FANOUT);
	put_padded(&e, 0, 40, 10);
	st = stats(&e.bt);
	cr_assert_eq(st.leaves, 1, "40 small entries: %llu leaves",
	    (unsigned long long) st.leaves);
	put_padded(&e, 0, 40, 900); /* replaces split too */
	st = stats(&e.bt);
	cr_assert_geq(st.leaves, 40 * 900 / OC_BTREE_LEAF_BYTES,
	    "40 entries grown to 900 B: %llu leaves",
	    (unsigned long long) st.leaves);
	OK(oc_btree_check(&e.bt));
	put_padded(&e, 40, 80, 900);
	st = stats(&e.bt);
	cr_assert_geq(st.leaves, 80 * 900 / OC_BTREE_LEAF_BYTES,
	    "80 entries of 900 B: %llu leaves",
	    (unsigned long long) st.leaves);
	cr_assert_eq(st.entries, 80);
	for (i = 0; i < 76; i++) {
		snprintf(k, sizeof(k), "k%05d", i * 7 % 80);
		OK(oc_btree_del(&e.bt, k, strlen(k), NULL));
	}
	st = stats(&e.bt);
	cr_assert_eq(st.entries, 4);
	cr_assert_eq(st.leaves, 1, "4 entries left in %llu leaves",
	    (unsigned long long) st.leaves);
	env_fini(&e);
}

/* ---- trunk fields ------------------------------------------------------ */

/* A copy of the valid trunk *good under a new id, changed by the caller. */
static struct oc_val
trunk_copy(struct oc_bstore *s, const struct oc_bid *good, struct oc_bid *id)
{
	struct oc_val t;

	OK(oc_bstore_need(s, good, &t));
	oc_bid_random(id);
	oc_map_set(&t, OC_F_ID, oc_bid_val(id));
	return t;
}

static void
expect_open(struct oc_bstore *s, struct oc_val t, const struct oc_bid *id,
    o_err want, const char *what)
{
	struct oc_btree bt;
	char            str[OC_BID_STRLEN];
	o_err           e;

	OK(oc_bstore_insert(s, t));
	e = oc_btree_open(&bt, s, id);
	cr_assert_eq(
	    e, want, "%s: got %s (%s)", what, o_errname(e), o_err_detail());
	cr_assert(strstr(o_err_detail(), oc_bid_str(id, str)) != NULL,
	    "%s: detail names the trunk: %s", what, o_err_detail());
}

Test(btree, fanout_persisted_and_bad_trunks_refused)
{
	struct env      e;
	struct oc_btree bt;
	struct oc_val   t;
	struct oc_bid   id;

	env_init(&e, false, 5);
	OK(oc_btree_open(&bt, e.s, &e.trunk));
	cr_assert_eq(bt.fanout, 5);
	OK(oc_bstore_need(e.s, &e.trunk, &t));
	cr_assert_eq(oc_map_int(&t, OC_BTREE_F_FANOUT, 0), 5);
	cr_assert_str_eq(oc_map_text(&t, OC_BTREE_F_CMP), "bytes");
	oc_val_fini(&t);
	/* A fanout of 5 is used, not assumed: leaves split at 6. */
	for (int i = 0; i < 6; i++)
		put_i(&e.bt, i, i);
	cr_assert_str_eq(shape(&e), "[(00 01 02) |03| (03 04 05)]");

	oc_bid_random(&id);
	cr_assert_eq(oc_btree_open(&bt, e.s, &id), O_ENOTFOUND);
	t = trunk_copy(e.s, &e.trunk, &id);
	oc_map_del(&t, OC_BTREE_F_ROOT);
	expect_open(e.s, t, &id, O_ENOTFOUND, "no root");
	t = trunk_copy(e.s, &e.trunk, &id);
	oc_map_set(&t, OC_BTREE_F_ROOT, oc_int(7));
	expect_open(e.s, t, &id, O_EBADMSG, "root an int");
	t = trunk_copy(e.s, &e.trunk, &id);
	oc_map_set(&t, OC_BTREE_F_ROOT, oc_bytes("abcde", 5));
	expect_open(e.s, t, &id, O_EBADMSG, "root 5 bytes");
	t = trunk_copy(e.s, &e.trunk, &id);
	oc_map_del(&t, OC_BTREE_F_FANOUT);
	expect_open(e.s, t, &id, O_EBADMSG, "no fanout");
	t = trunk_copy(e.s, &e.trunk, &id);
	oc_map_set(&t, OC_BTREE_F_FANOUT, oc_text("64"));
	expect_open(e.s, t, &id, O_EBADMSG, "fanout text");
	t = trunk_copy(e.s, &e.trunk, &id);
	oc_map_set(&t, OC_BTREE_F_FANOUT, oc_int(2));
	expect_open(e.s, t, &id, O_EBADMSG, "fanout 2");
	t = trunk_copy(e.s, &e.trunk, &id);
	oc_map_set(&t, OC_BTREE_F_FANOUT, oc_int(1 << 20));
	expect_open(e.s, t, &id, O_EBADMSG, "fanout huge");
	t = trunk_copy(e.s, &e.trunk, &id);
	oc_map_del(&t, OC_BTREE_F_CMP);
	expect_open(e.s, t, &id, O_EBADMSG, "no cmp");
	t = trunk_copy(e.s, &e.trunk, &id);
	oc_map_set(&t, OC_BTREE_F_CMP, oc_text("utf8"));
	expect_open(e.s, t, &id, O_EBADMSG, "cmp utf8");
	t = trunk_copy(e.s, &e.trunk, &id);
	oc_map_set(&t, OC_BTREE_F_CMP, oc_int(0));
	expect_open(e.s, t, &id, O_EBADMSG, "cmp int");
	t = trunk_copy(e.s, &e.trunk, &id);
	oc_map_del(&t, OC_F_COL);
	expect_open(e.s, t, &id, O_EBADMSG, "no col");

	/* create */
	cr_assert_eq(oc_btree_create(e.s, &e.trunk, 3), O_EINVAL);
	cr_assert_eq(oc_btree_create(e.s, &e.trunk, 1025), O_EINVAL);
	cr_assert_eq(oc_btree_create(e.s, &e.trunk, 4), O_EEXIST);
	oc_bid_random(&id);
	cr_assert_eq(oc_btree_create(e.s, &id, 4), O_ENOTFOUND);
	t = oc_map();
	oc_map_set(&t, OC_F_ID, oc_bid_val(&id));
	OK(oc_bstore_insert(e.s, t));
	cr_assert_eq(oc_btree_create(e.s, &id, 4), O_EBADMSG);
	cr_assert_eq(count(&e.bt), 6, "failed creates changed nothing");
	env_fini(&e);
}

/* ---- corrupt nodes ----------------------------------------------------- */

enum corruption {
	C_ENTRIES_INT,
	C_KEY_TEXT,
	C_ENTRY_SHORT,
	C_TYPE_BAD,
	C_TYPE_MISSING,
	C_NODES_SHORT,
	C_NODE_NOT_ID,
	C_PART_INT,
	C_LEAF_MISSING,
	C_CYCLE,
	C_ROOT_INT,
	C_UNSORTED, /* from here on the shape is fine: only check sees it */
	C_OVERFULL,
	C_COL_OTHER,
	C_UNEVEN,
	C_ONE_CHILD, /* a non-root branch of one child: a delete below */
	C_COUNT
};

/* The id of the first child of branch *id. */
static struct oc_bid
first_child(struct oc_bstore *s, const struct oc_bid *id)
{
	struct oc_val b;
	struct oc_bid c;

	OK(oc_bstore_need(s, id, &b));
	cr_assert(oc_bid_from(&oc_map_arr(&b, "nodes")->u.a.v[0], &c));
	oc_val_fini(&b);
	return c;
}

static void
corrupt_one(enum corruption c)
{
	struct env    e;
	struct oc_bid root, mid, leaf, other, tgt;
	struct oc_val b, *a, x;
	struct kvs    l;
	uint64_t      n;
	char          str[OC_BID_STRLEN];
	size_t        blocks;
	bool          found;
	o_err         err;
	int           i;

	env_init(&e, false, 4);
	for (i = 1; i <= 20; i++)
		put_i(&e.bt, i, i);
	root = root_of(e.s, &e.trunk); /* [[(01 02 03) ...] [...]] */
	mid  = first_child(e.s, &root);
	leaf = first_child(e.s, &mid);
	tgt  = c >= C_NODES_SHORT && c <= C_PART_INT ? mid : leaf;
	if (c == C_CYCLE || c == C_ONE_CHILD)
		tgt = mid;
	if (c == C_ROOT_INT)
		tgt = e.trunk;
	if (c == C_UNEVEN)
		tgt = root;
	OK(oc_bstore_need(e.s, &tgt, &b));
	a = oc_map_get(
	    &b, c >= C_NODES_SHORT && c <= C_PART_INT ? "nodes" : "entries");
	switch (c) {
	case C_ENTRIES_INT:
		oc_map_set(&b, "entries", oc_int(5));
		break;
	case C_KEY_TEXT:
		oc_val_fini(&a->u.a.v[0].u.a.v[0]);
		a->u.a.v[0].u.a.v[0] = oc_text("k00001");
		break;
	case C_ENTRY_SHORT:
		x = oc_array();
		oc_arr_push(&x, oc_bytes("k00001", 6));
		oc_arr_splice(a, 0, 1, &x, 1);
		oc_val_fini(&x);
		break;
	case C_TYPE_BAD:
		oc_map_set(&b, OC_F_TYPE, oc_text("XX"));
		break;
	case C_TYPE_MISSING:
		oc_map_del(&b, OC_F_TYPE);
		break;
	case C_NODES_SHORT:
		oc_arr_splice(a, a->u.a.n - 1, 1, NULL, 0);
		break;
	case C_NODE_NOT_ID:
		oc_val_fini(&a->u.a.v[0]);
		a->u.a.v[0] = oc_bytes("short", 5);
		break;
	case C_PART_INT:
		a = oc_map_get(&b, "parts");
		oc_val_fini(&a->u.a.v[0]);
		a->u.a.v[0] = oc_int(1);
		break;
	case C_LEAF_MISSING:
		break;
	case C_CYCLE:
		a = oc_map_get(&b, "nodes");
		oc_val_fini(&a->u.a.v[0]);
		a->u.a.v[0] = oc_bid_val(&root);
		break;
	case C_ROOT_INT:
		oc_map_set(&b, OC_BTREE_F_ROOT, oc_int(1));
		break;
	case C_UNSORTED:
		x           = a->u.a.v[0];
		a->u.a.v[0] = a->u.a.v[1];
		a->u.a.v[1] = x;
		break;
	case C_OVERFULL:
		for (i = 0; i < 3; i++) {
			char k[16];

			snprintf(k, sizeof(k), "k00003%c", 'a' + i);
			x = oc_array();
			oc_arr_push(&x, oc_bytes(k, strlen(k)));
			oc_arr_push(&x, oc_int(0));
			oc_arr_push(a, x);
		}
		break;
	case C_COL_OTHER:
		oc_bid_random(&other);
		oc_map_set(&b, OC_F_COL, oc_bid_val(&other));
		break;
	case C_ONE_CHILD: /* it had no sibling to lend or merge with */
		a = oc_map_get(&b, "nodes");
		oc_arr_splice(a, 1, a->u.a.n - 1, NULL, 0);
		oc_map_set(&b, "parts", oc_array());
		break;
	case C_UNEVEN: /* root's first child: a leaf, one level too high */
		a = oc_map_get(&b, "nodes");
		oc_val_fini(&a->u.a.v[0]);
		a->u.a.v[0] = oc_bid_val(&leaf);
		break;
	default:
		break;
	}
	if (c == C_LEAF_MISSING) {
		oc_val_fini(&b);
		OK(oc_bstore_del(e.s, &leaf));
	} else {
		OK(oc_bstore_del(e.s, &tgt));
		OK(oc_bstore_insert(e.s, b));
	}
	blocks = oc_memstore_len(e.mem);
	oc_bid_str(&tgt, str);

	err = oc_btree_check(&e.bt);
	cr_assert_eq(err, O_ECORRUPT, "case %d check: %s (%s)", c,
	    o_errname(err), o_err_detail());
	if (c != C_CYCLE && c != C_UNEVEN)
		cr_assert(strstr(o_err_detail(), str) != NULL,
		    "case %d: detail names %s: %s", c, str, o_err_detail());
	err = collect(&e.bt, NULL, 0, true, true, 0, &l);
	kvs_fini(&l);
	if (c < C_UNSORTED || c == C_UNSORTED)
		cr_assert_eq(
		    err, O_ECORRUPT, "case %d iterate: %s", c, o_errname(err));
	err = collect(&e.bt, NULL, 0, true, false, 0, &l);
	kvs_fini(&l);
	if (c < C_UNSORTED)
		cr_assert_eq(err, O_ECORRUPT, "case %d iterate back", c);
	if (c < C_UNSORTED) {
		cr_assert_eq(
		    oc_btree_count(&e.bt, &n), O_ECORRUPT, "case %d count", c);
		cr_assert_eq(oc_btree_get(&e.bt, "k00001", 6, NULL, &found),
		    O_ECORRUPT, "case %d get", c);
		cr_assert_eq(oc_btree_put(&e.bt, "k00000", 6, oc_int(0), NULL),
		    O_ECORRUPT, "case %d put", c);
		cr_assert_eq(oc_btree_del(&e.bt, "k00002", 6, &found),
		    O_ECORRUPT, "case %d del", c);
		cr_assert_eq(oc_memstore_len(e.mem), blocks,
		    "case %d: failed mutations stage nothing", c);
	} else {
		/* Mutations may go on; they must not crash.  Deletes first
		 * (a put may split the one child of C_ONE_CHILD) */
		bool named = false;

		for (i = 0; i < 4; i++) {
			char k[16];

			kname(k, i);
			if (oc_btree_del(&e.bt, k, 6, &found) == O_ECORRUPT)
				named = named ||
				    strstr(o_err_detail(), str) != NULL;
		}
		if (c == C_ONE_CHILD)
			cr_assert(named,
			    "a delete under the one-child branch says "
			    "O_ECORRUPT naming it");
		for (i = 0; i < 25; i++) {
			char k[16];

			kname(k, i);
			(void) oc_btree_put(&e.bt, k, 6, oc_int(i), NULL);
			(void) oc_btree_get(&e.bt, k, 6, NULL, &found);
		}
		for (i = 0; i < 25; i++) {
			char k[16];

			kname(k, i);
			(void) oc_btree_del(&e.bt, k, 6, &found);
		}
	}
	env_fini(&e);
}

Test(btree, corrupt_nodes_give_ecorrupt_not_crash)
{
	int c;

	for (c = 0; c < C_COUNT; c++)
		corrupt_one((enum corruption) c);
}

/* A store that answers for one id with another block. */
struct aliasstore {
	struct oc_bstore  base;
	struct oc_bstore *in;
	struct oc_bid     from, to;
};

static o_err
as_get(struct oc_bstore *s, const struct oc_bid *id, struct oc_val *out,
    bool *found)
{
	struct aliasstore *a = (struct aliasstore *) s;

	return oc_bstore_get(
	    a->in, oc_bid_eq(id, &a->from) ? &a->to : id, out, found);
}

static const struct oc_bstore_ops as_ops = { .get = as_get };

Test(btree, node_answering_with_another_id_is_corrupt)
{
	struct env        e;
	struct aliasstore as = { { &as_ops }, NULL, { { 0 } }, { { 0 } } };
	struct oc_btree   bt;
	struct oc_bid     root, mid;
	char              str[OC_BID_STRLEN];
	bool              found;

	env_init(&e, false, 4);
	for (int i = 1; i <= 20; i++)
		put_i(&e.bt, i, i);
	root    = root_of(e.s, &e.trunk);
	mid     = first_child(e.s, &root);
	as.in   = e.s;
	as.from = first_child(e.s, &mid);
	as.to   = mid;
	OK(oc_btree_open(&bt, &as.base, &e.trunk));
	cr_assert_eq(oc_btree_get(&bt, "k00001", 6, NULL, &found), O_ECORRUPT);
	cr_assert(strstr(o_err_detail(), oc_bid_str(&as.from, str)) != NULL,
	    "%s", o_err_detail());
	cr_assert_eq(oc_btree_check(&bt), O_ECORRUPT);
	OK(oc_btree_get(&bt, "k00020", 6, NULL, &found));
	cr_assert(found, "other paths still work");
	env_fini(&e);
}

/* ---- op economy -------------------------------------------------------- */

static void
expect_one_splice(struct env *e, const char *what, uint32_t del, size_t nins)
{
	struct oc_tfs      *t = &e->trk.tfs;
	const struct oc_op *op;

	cr_assert_eq(t->n, 1, "%s: one block touched (%zu)", what, t->n);
	cr_assert_null(t->e[0].tf.insert, "%s", what);
	cr_assert_eq(t->e[0].tf.nops, 1, "%s: one op", what);
	op = &t->e[0].tf.ops[0];
	cr_assert_eq(op->kind, OC_OP_SPLICE, "%s", what);
	cr_assert_str_eq(op->field, "entries", "%s", what);
	cr_assert_eq(op->del, del, "%s", what);
	cr_assert_eq(oc_arr_len(&op->ins), nins, "%s", what);
	env_flush(e);
}

Test(btree, ops_are_minimal_splices)
{
	struct env     e;
	struct oc_tfs *t;
	size_t         i, j, inserts = 0, ins_items = 0;
	bool           ex;
	int            k;

	env_init(&e, true, 8);
	for (k = 0; k < 8; k += 2)
		put_i(&e.bt, k, k);
	env_flush(&e);
	put_i(&e.bt, 3, 3);
	expect_one_splice(&e, "insert", 0, 1);
	put_i(&e.bt, 3, 33);
	expect_one_splice(&e, "replace", 1, 1);
	cr_assert(del_i(&e.bt, 3));
	expect_one_splice(&e, "delete", 1, 0);
	cr_assert(!del_i(&e.bt, 3));
	cr_assert(oc_tfs_is_empty(&e.trk.tfs), "absent delete stages nothing");
	OK(oc_btree_get(&e.bt, "k00002", 6, NULL, &ex));
	cr_assert(oc_tfs_is_empty(&e.trk.tfs), "reads stage nothing");

	/* A root split: two new blocks, small splices, one SET of root. */
	for (k = 10; k < 14; k++)
		put_i(&e.bt, k, k);
	env_flush(&e);
	put_i(&e.bt, 20, 20);
	t = &e.trk.tfs;
	for (i = 0; i < t->n; i++) {
		const struct oc_tf *tf = &t->e[i].tf;

		if (tf->insert != NULL) {
			inserts++;
			continue;
		}
		for (j = 0; j < tf->nops; j++) {
			const struct oc_op *op = &tf->ops[j];

			if (oc_bid_eq(&t->e[i].id, &e.trunk)) {
				cr_assert_eq(op->kind, OC_OP_SET);
				cr_assert_str_eq(op->field, "root");
				continue;
			}
			cr_assert_eq(op->kind, OC_OP_SPLICE,
			    "node fields are only spliced");
			ins_items += oc_arr_len(&op->ins);
		}
	}
	cr_assert_eq(inserts, 2, "new right leaf and new root");
	cr_assert_eq(t->n, 4, "old leaf, trunk and the two new blocks");
	cr_assert_leq(
	    ins_items, 1, "the old leaf ships at most the new entry");
	env_fini(&e);
}
