/*
 * btree.c - B+tree over a block store (formats and invariants: btree.h).
 *
 * Design notes.  A lookup borrows one node at a time (oc_bstore_peek) and
 * copies only the value it returns.  A mutation works on private copies:
 * it first walks root to leaf, keeping the copies on a path stack (there
 * are no sibling links), then changes them bottom-up with oc_bstore_apply(),
 * which keeps the copies and the store in step.  Each put/del runs in an
 * atomic scope (a tracker over bt->s) that is committed only when every step
 * succeeded, so an error half way stages nothing.  Ops are kept small: one
 * entry spliced in or out, a tail cut off a node that splits (the new right
 * node is inserted whole), one partition replaced on a borrow.
 *
 * Insert: a full leaf (fanout entries, or at least OC_BTREE_LEAF_SPLIT_MIN
 * whose weight would pass OC_BTREE_LEAF_BYTES: btree.h) takes the new entry
 * and splits into ceil(L/2) and floor(L/2) entries (L = its entries + 1);
 * the right node's first key goes up.  A replace that takes a leaf past the
 * weight takes the old entry out and splits the same way.
 * A branch takes the separator and new child first and then splits the same
 * way, moving its middle partition up.  A root split makes a new branch
 * root and SETs "root" on the trunk.
 *
 * Delete: a non-root node left thin (fewer than fanout/2 items and, for a
 * leaf, less than half of OC_BTREE_LEAF_BYTES) borrows one item from its
 * right sibling if that stays not thin, else from its left sibling, else
 * merges into a sibling (the left one when there is one: it ships fewer
 * items) and the parent loses a partition, recursing upwards.  Two leaves
 * that would weigh more than 3/4 of OC_BTREE_LEAF_BYTES together are not
 * merged (unless the thin one is empty): the next insert would split them
 * again.
 * A root branch left with one child is replaced by it.  Partitions are not
 * refreshed when a leaf loses its first key: they still bound the subtrees,
 * which is all that lookups need, and it saves ops on the ancestors.
 *
 * Every node read is checked for shape (type, field types, id, lengths)
 * before use, so a malformed block gives O_ECORRUPT, never a crash; walks
 * are bounded by OC_BTREE_MAXDEPTH, and whole-tree walks refuse a node
 * reachable twice, so cycles and shared subtrees cannot make them loop.
 */
#include "core/btree.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/o_util.h"
#include "core/transform.h"

#define F_ENTRIES "entries"
#define F_PARTS "parts"
#define F_NODES "nodes"

static const uint8_t empty_key[1];

/* A node copy on a mutation path. */
struct node {
	struct oc_val blk;
	struct oc_bid id;
	bool          leaf;
	size_t        ci; /* branch: index of the child taken */
};

struct path {
	struct node n[OC_BTREE_MAXDEPTH];
	int         depth;
};

/* State of one put/del: the scope's store, the trunk copy and the path. */
struct mut {
	struct oc_btree  *bt;
	struct oc_bstore *s;
	struct oc_val     trunk;
	struct oc_bid     root;
	struct path       p;
};

/* ---- errors ------------------------------------------------------------ */

static o_err corrupt(const struct oc_bid *id, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static o_err
corrupt(const struct oc_bid *id, const char *fmt, ...)
{
	char    msg[200];
	char    s[OC_BID_STRLEN];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	return o_err_set(
	    O_ECORRUPT, "btree node %s: %s", oc_bid_str(id, s), msg);
}

/* ---- keys and node fields ---------------------------------------------- */

static const uint8_t *
kptr(const void *k, size_t kl)
{
	return k == NULL || kl == 0 ? empty_key : k;
}

static int
kcmp(const struct oc_val *a, const uint8_t *k, size_t kl)
{
	return oc_bytes_cmp(kptr(a->u.s.p, a->u.s.n), a->u.s.n, k, kl);
}

static int
vcmp(const struct oc_val *a, const struct oc_val *b)
{
	return kcmp(a, kptr(b->u.s.p, b->u.s.n), b->u.s.n);
}

/* Fields of a node that node_load() has validated. */
static struct oc_val *
fld(const struct oc_val *blk, const char *f)
{
	return oc_map_get(blk, f);
}

static const struct oc_val *
ent_key(const struct oc_val *ents, size_t i)
{
	return &ents->u.a.v[i].u.a.v[0];
}

static size_t
node_len(const struct oc_val *blk, bool leaf)
{
	return fld(blk, leaf ? F_ENTRIES : F_NODES)->u.a.n;
}

/* CBOR head of a length or count n. */
static size_t
head_len(size_t n)
{
	if (n < 24)
		return 1;
	if (n < 256)
		return 2;
	if (n < 65536)
		return 3;
	return n <= UINT32_MAX ? 5 : 9;
}

/*
 * About the CBOR size of v: what it adds to a leaf's encoding.  Exact for
 * bytes, text, arrays and maps, an upper bound for ints; values come from
 * the decoder or from our callers, so their depth is bounded.
 */
static size_t
weight(const struct oc_val *v)
{
	size_t n = 0, i;

	switch (v->type) {
	case OC_BYTES:
	case OC_TEXT:
		return head_len(v->u.s.n) + v->u.s.n;
	case OC_ARRAY:
		for (i = 0; i < v->u.a.n; i++)
			n += weight(&v->u.a.v[i]);
		return head_len(v->u.a.n) + n;
	case OC_MAP:
		for (i = 0; i < v->u.m.n; i++)
			n += weight(&v->u.m.kv[i].key) +
			    weight(&v->u.m.kv[i].val);
		return head_len(v->u.m.n) + n;
	case OC_INT:
		return 9;
	default:
		return 1;
	}
}

/* Weight of a leaf's entries. */
static size_t
leaf_weight(const struct oc_val *blk)
{
	const struct oc_val *ents = fld(blk, F_ENTRIES);
	size_t               n    = 0, i;

	for (i = 0; i < ents->u.a.n; i++)
		n += weight(&ents->u.a.v[i]);
	return n;
}

/*
 * Below half full, so a delete borrows or merges: a branch with fewer than
 * fanout/2 children, a leaf with fewer than fanout/2 entries that also
 * weigh less than half of OC_BTREE_LEAF_BYTES (leaves split by weight
 * too, so a leaf of big entries is full with few of them).
 */
static bool
thin(const struct oc_btree *bt, const struct oc_val *blk, bool leaf)
{
	if (node_len(blk, leaf) >= (size_t) bt->fanout / 2)
		return false;
	return !leaf || leaf_weight(blk) < OC_BTREE_LEAF_BYTES / 2;
}

static struct oc_bid
child_id(const struct oc_val *blk, size_t i)
{
	struct oc_bid id;

	oc_bid_from(&fld(blk, F_NODES)->u.a.v[i], &id);
	return id;
}

/*
 * First index whose key is >= k (upper false) or > k (upper true), over the
 * entries of a leaf (entries true) or the partitions of a branch.
 */
static size_t
bound(const struct oc_val *arr, bool entries, const uint8_t *k, size_t kl,
    bool upper)
{
	size_t lo = 0, hi = arr->u.a.n;

	while (lo < hi) {
		size_t               mid = lo + (hi - lo) / 2;
		const struct oc_val *x =
		    entries ? ent_key(arr, mid) : &arr->u.a.v[mid];
		int c = kcmp(x, k, kl);

		if (c < 0 || (upper && c == 0))
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

static struct oc_val
arr1(struct oc_val v)
{
	struct oc_val a = oc_array();

	oc_arr_push(&a, v);
	return a;
}

/* Copies of arr[from, to) appended to *out. */
static void
push_dups(struct oc_val *out, const struct oc_val *arr, size_t from, size_t to)
{
	size_t i;

	for (i = from; i < to; i++)
		oc_arr_push(out, oc_val_dup(&arr->u.a.v[i]));
}

/* ---- reading ----------------------------------------------------------- */

static o_err
check_shape(const struct oc_bid *id, const struct oc_val *blk, bool *leaf)
{
	const struct oc_val *a, *b;
	struct oc_bid        got;
	const char          *t;
	size_t               i;

	if (blk->type != OC_MAP)
		return corrupt(id, "not a map");
	if (!oc_block_id(blk, &got) || !oc_bid_eq(&got, id))
		return corrupt(id, "\"id\" field missing or different");
	t = oc_block_type(blk);
	if (t != NULL && strcmp(t, OC_BT_LEAF) == 0) {
		*leaf = true;
		a     = fld(blk, F_ENTRIES);
		if (a == NULL || a->type != OC_ARRAY)
			return corrupt(
			    id, "\"entries\" missing or not an array");
		for (i = 0; i < a->u.a.n; i++) {
			b = &a->u.a.v[i];
			if (b->type != OC_ARRAY || b->u.a.n != 2 ||
			    b->u.a.v[0].type != OC_BYTES)
				return corrupt(id,
				    "entry %zu is not [key(bytes), value]", i);
		}
		return O_OK;
	}
	if (t != NULL && strcmp(t, OC_BT_BRANCH) == 0) {
		*leaf = false;
		a     = fld(blk, F_PARTS);
		b     = fld(blk, F_NODES);
		if (a == NULL || a->type != OC_ARRAY || b == NULL ||
		    b->type != OC_ARRAY)
			return corrupt(id,
			    "\"parts\"/\"nodes\" missing or not "
			    "arrays");
		if (b->u.a.n != a->u.a.n + 1)
			return corrupt(
			    id, "%zu nodes for %zu parts", b->u.a.n, a->u.a.n);
		for (i = 0; i < a->u.a.n; i++)
			if (a->u.a.v[i].type != OC_BYTES)
				return corrupt(id, "part %zu is not bytes", i);
		for (i = 0; i < b->u.a.n; i++)
			if (!oc_bid_from(&b->u.a.v[i], &got))
				return corrupt(
				    id, "node %zu is not a 32-byte id", i);
		return O_OK;
	}
	return corrupt(id,
	    "type %s%s%s is not " OC_BT_LEAF " or " OC_BT_BRANCH,
	    t ? "\"" : "", t ? t : "missing", t ? "\"" : "");
}

/* Read node *id into *out (a copy, caller frees) and check its shape. */
static o_err
node_load(struct oc_bstore *s, const struct oc_bid *id, struct oc_val *out,
    bool *leaf)
{
	bool  found = false;
	char  str[OC_BID_STRLEN];
	o_err e;

	*out = oc_null();
	if ((e = oc_bstore_get(s, id, out, &found)) != O_OK) {
		oc_val_fini(out);
		return o_err_wrap(e, "btree node %s", oc_bid_str(id, str));
	}
	if (!found)
		return corrupt(id, "referenced but missing");
	if ((e = check_shape(id, out, leaf)) != O_OK)
		oc_val_fini(out);
	return e;
}

/* Read the trunk (copy into *t) and its root id, for an opened tree. */
static o_err
trunk_load(struct oc_bstore *s, const struct oc_bid *trunk, struct oc_val *t,
    struct oc_bid *root)
{
	char  str[OC_BID_STRLEN];
	o_err e;

	*t = oc_null();
	if ((e = oc_bstore_need(s, trunk, t)) != O_OK) {
		oc_val_fini(t);
		return o_err_wrap(e, "btree trunk %s", oc_bid_str(trunk, str));
	}
	if (!oc_map_bid(t, OC_BTREE_F_ROOT, root)) {
		oc_val_fini(t);
		return o_err_set(O_ECORRUPT,
		    "btree trunk %s: \"root\" missing or not a 32-byte id",
		    oc_bid_str(trunk, str));
	}
	return O_OK;
}

/* Borrow node *id (oc_bstore_peek: valid until the next store call). */
static o_err
node_peek(struct oc_bstore *s, const struct oc_bid *id, struct oc_val *tmp,
    const struct oc_val **out, bool *leaf)
{
	bool  found = false;
	char  str[OC_BID_STRLEN];
	o_err e;

	if ((e = oc_bstore_peek(s, id, tmp, out, &found)) != O_OK)
		return o_err_wrap(e, "btree node %s", oc_bid_str(id, str));
	if (!found)
		return corrupt(id, "referenced but missing");
	return check_shape(id, *out, leaf);
}

/* The root id of an opened tree (the trunk is borrowed, not copied). */
static o_err
root_load(struct oc_btree *bt, struct oc_bid *root)
{
	struct oc_val        tmp = oc_null();
	const struct oc_val *t;
	char                 str[OC_BID_STRLEN];
	o_err                e;

	oc_bid_str(&bt->trunk, str);
	e = oc_bstore_peek_need(bt->s, &bt->trunk, &tmp, &t);
	if (e != O_OK)
		e = o_err_wrap(e, "btree trunk %s", str);
	else if (!oc_map_bid(t, OC_BTREE_F_ROOT, root))
		e = o_err_set(O_ECORRUPT,
		    "btree trunk %s: \"root\" missing or not a 32-byte id",
		    str);
	oc_val_fini(&tmp);
	return e;
}

static void
path_fini(struct path *p)
{
	int i;

	for (i = 0; i < p->depth; i++)
		oc_val_fini(&p->n[i].blk);
	p->depth = 0;
}

/* Walk from root towards key k, leaving the nodes on *p (caller frees). */
static o_err
descend(struct oc_bstore *s, const struct oc_bid *root, const uint8_t *k,
    size_t kl, struct path *p)
{
	struct oc_bid id = *root;
	o_err         e;

	p->depth = 0;
	for (;;) {
		struct node *n;

		if (p->depth == OC_BTREE_MAXDEPTH)
			return corrupt(root, "path deeper than %d levels",
			    OC_BTREE_MAXDEPTH);
		n = &p->n[p->depth];
		if ((e = node_load(s, &id, &n->blk, &n->leaf)) != O_OK)
			return e;
		n->id = id;
		p->depth++;
		if (n->leaf)
			return O_OK;
		n->ci = bound(fld(&n->blk, F_PARTS), false, k, kl, true);
		id    = child_id(&n->blk, n->ci);
	}
}

/* ---- open / create ----------------------------------------------------- */

o_err
oc_btree_create(struct oc_bstore *s, const struct oc_bid *trunk, int fanout)
{
	struct oc_tracker a;
	struct oc_val     t, leaf;
	struct oc_bid     col, root;
	char              str[OC_BID_STRLEN];
	o_err             e;

	if (fanout < OC_BTREE_FANOUT_MIN || fanout > OC_BTREE_FANOUT_MAX)
		return o_err_set(O_EINVAL, "btree fanout %d not in %d..%d",
		    fanout, OC_BTREE_FANOUT_MIN, OC_BTREE_FANOUT_MAX);
	oc_bid_str(trunk, str);
	oc_atomic_begin(&a, s);
	t = oc_null();
	if ((e = oc_bstore_need(&a.base, trunk, &t)) != O_OK) {
		e = o_err_wrap(e, "btree create on trunk %s", str);
		goto out_abort;
	}
	if (!oc_map_bid(&t, OC_F_COL, &col)) {
		e = o_err_set(
		    O_EBADMSG, "btree trunk %s: no valid \"col\"", str);
		goto out_abort;
	}
	if (oc_map_get(&t, OC_BTREE_F_ROOT) != NULL &&
	    oc_map_get(&t, OC_BTREE_F_ROOT)->type != OC_NULL) {
		e = o_err_set(
		    O_EEXIST, "btree trunk %s already has a root", str);
		goto out_abort;
	}
	oc_bid_random(&root);
	leaf = oc_block_new(&root, OC_BT_LEAF, &col);
	oc_map_set(&leaf, F_ENTRIES, oc_array());
	if ((e = oc_bstore_insert(&a.base, leaf)) != O_OK ||
	    (e = oc_bstore_apply(&a.base, &t,
	         oc_op_set(OC_BTREE_F_ROOT, oc_bid_val(&root)))) != O_OK ||
	    (e = oc_bstore_apply(&a.base, &t,
	         oc_op_set(OC_BTREE_F_FANOUT, oc_int(fanout)))) != O_OK ||
	    (e = oc_bstore_apply(&a.base, &t,
	         oc_op_set(OC_BTREE_F_CMP, oc_text(OC_BTREE_CMP_BYTES)))) !=
	        O_OK) {
		e = o_err_wrap(e, "btree create on trunk %s", str);
		goto out_abort;
	}
	oc_val_fini(&t);
	if ((e = oc_atomic_commit(&a)) != O_OK)
		return o_err_wrap(e, "btree create on trunk %s: commit", str);
	return O_OK;

out_abort:
	oc_val_fini(&t);
	oc_atomic_abort(&a);
	return e;
}

o_err
oc_btree_open(
    struct oc_btree *bt, struct oc_bstore *s, const struct oc_bid *trunk)
{
	struct oc_val        t = oc_null();
	const struct oc_val *v;
	const char          *cmp;
	struct oc_bid        root;
	char                 str[OC_BID_STRLEN];
	o_err                e;

	oc_bid_str(trunk, str);
	memset(bt, 0, sizeof(*bt));
	if ((e = oc_bstore_need(s, trunk, &t)) != O_OK) {
		oc_val_fini(&t);
		return o_err_wrap(e, "btree open on trunk %s", str);
	}
	e = O_EBADMSG;
	if (t.type != OC_MAP) {
		o_err_set(e, "btree trunk %s is not a map", str);
		goto out;
	}
	v = oc_map_get(&t, OC_BTREE_F_ROOT);
	if (v == NULL || v->type == OC_NULL) {
		e = o_err_set(
		    O_ENOTFOUND, "btree trunk %s carries no root", str);
		goto out;
	}
	if (!oc_bid_from(v, &root)) {
		o_err_set(
		    e, "btree trunk %s: \"root\" is not a 32-byte id", str);
		goto out;
	}
	v = oc_map_get(&t, OC_BTREE_F_FANOUT);
	if (v == NULL || v->type != OC_INT || v->u.i < OC_BTREE_FANOUT_MIN ||
	    v->u.i > OC_BTREE_FANOUT_MAX) {
		o_err_set(e,
		    "btree trunk %s: \"fanout\" missing, not an int or "
		    "not in %d..%d",
		    str, OC_BTREE_FANOUT_MIN, OC_BTREE_FANOUT_MAX);
		goto out;
	}
	bt->fanout = (int) v->u.i;
	cmp        = oc_map_text(&t, OC_BTREE_F_CMP);
	if (cmp == NULL || strcmp(cmp, OC_BTREE_CMP_BYTES) != 0) {
		o_err_set(e, "btree trunk %s: \"cmp\" missing or not \"%s\"",
		    str, OC_BTREE_CMP_BYTES);
		goto out;
	}
	if (!oc_map_bid(&t, OC_F_COL, &bt->col)) {
		o_err_set(e, "btree trunk %s: no valid \"col\"", str);
		goto out;
	}
	bt->s     = s;
	bt->trunk = *trunk;
	e         = O_OK;
out:
	oc_val_fini(&t);
	if (e != O_OK)
		memset(bt, 0, sizeof(*bt));
	return e;
}

/* ---- lookups ----------------------------------------------------------- */

/*
 * A lookup only reads: it borrows one node at a time (oc_bstore_peek) and
 * copies nothing but the child id to follow and the value found.
 */
o_err
oc_btree_get(struct oc_btree *bt, const void *key, size_t klen,
    struct oc_val *val, bool *found)
{
	const uint8_t *k = kptr(key, klen);
	struct oc_bid  root, id;
	int            depth;
	o_err          e;

	if (val != NULL)
		*val = oc_null();
	*found = false;
	if (key == NULL && klen > 0)
		return o_err_set(O_EINVAL, "btree get: NULL key");
	if ((e = root_load(bt, &root)) != O_OK)
		return e;
	id = root;
	for (depth = 0;; depth++) {
		struct oc_val        tmp = oc_null();
		const struct oc_val *n, *a;
		bool                 leaf;
		size_t               i;

		if (depth == OC_BTREE_MAXDEPTH)
			return corrupt(&root, "path deeper than %d levels",
			    OC_BTREE_MAXDEPTH);
		if ((e = node_peek(bt->s, &id, &tmp, &n, &leaf)) != O_OK) {
			oc_val_fini(&tmp);
			return e;
		}
		if (!leaf) {
			id = child_id(
			    n, bound(fld(n, F_PARTS), false, k, klen, true));
			oc_val_fini(&tmp);
			continue;
		}
		a = fld(n, F_ENTRIES);
		i = bound(a, true, k, klen, false);
		if (i < a->u.a.n && kcmp(ent_key(a, i), k, klen) == 0) {
			*found = true;
			if (val != NULL)
				*val = oc_val_dup(&a->u.a.v[i].u.a.v[1]);
		}
		oc_val_fini(&tmp);
		return O_OK;
	}
}

/* ---- mutation helpers -------------------------------------------------- */

static o_err
mut_begin(struct mut *m, struct oc_btree *bt, struct oc_bstore *s)
{
	m->bt      = bt;
	m->s       = s;
	m->p.depth = 0;
	return trunk_load(s, &bt->trunk, &m->trunk, &m->root);
}

static void
mut_end(struct mut *m)
{
	oc_val_fini(&m->trunk);
	path_fini(&m->p);
}

/* Splice field f of node n (ins moved, also on error). */
static o_err
splice(struct mut *m, struct node *n, const char *f, size_t idx, size_t del,
    struct oc_val ins)
{
	char  str[OC_BID_STRLEN];
	o_err e;

	e = oc_bstore_apply(m->s, &n->blk,
	    oc_op_splice(f, (uint32_t) idx, (uint32_t) del, ins));
	if (e != O_OK)
		return o_err_wrap(e, "btree node %s: splice \"%s\"",
		    oc_bid_str(&n->id, str), f);
	return O_OK;
}

/* One planned splice; a plan's indices are worked out before it runs. */
struct step {
	struct node  *n;
	const char   *f;
	size_t        idx, del;
	struct oc_val ins;
};

/* Run k steps in order; after a failure, the rest are only freed. */
static o_err
run_steps(struct mut *m, struct step *st, size_t k)
{
	o_err  e = O_OK;
	size_t i;

	for (i = 0; i < k; i++) {
		if (e == O_OK)
			e = splice(m, st[i].n, st[i].f, st[i].idx, st[i].del,
			    st[i].ins);
		else
			oc_val_fini(&st[i].ins);
	}
	return e;
}

static struct step
step(struct node *n, const char *f, size_t idx, size_t del, struct oc_val ins)
{
	struct step s = { n, f, idx, del, ins };

	return s;
}

static o_err
set_root(struct mut *m, const struct oc_bid *id)
{
	char  str[OC_BID_STRLEN];
	o_err e;

	e = oc_bstore_apply(
	    m->s, &m->trunk, oc_op_set(OC_BTREE_F_ROOT, oc_bid_val(id)));
	if (e != O_OK)
		return o_err_wrap(e, "btree trunk %s: set root",
		    oc_bid_str(&m->bt->trunk, str));
	m->root = *id;
	return O_OK;
}

/* ---- insert ------------------------------------------------------------ */

/* The root split: a new branch root over the old root and rid. */
static o_err
new_root(struct mut *m, struct oc_val sep, const struct oc_bid *rid)
{
	struct oc_val blk, nodes = oc_array();
	struct oc_bid id;
	o_err         e;

	oc_arr_push(&nodes, oc_bid_val(&m->root));
	oc_arr_push(&nodes, oc_bid_val(rid));
	oc_bid_random(&id);
	blk = oc_block_new(&id, OC_BT_BRANCH, &m->bt->col);
	oc_map_set(&blk, F_PARTS, arr1(sep));
	oc_map_set(&blk, F_NODES, nodes);
	if ((e = oc_bstore_insert(m->s, blk)) != O_OK)
		return e;
	return set_root(m, &id);
}

/*
 * Node m->p.n[level + 1] split off a right node *rid whose lowest key is
 * sep (moved): hang it into the parent at `level`, splitting upwards.
 */
static o_err
insert_up(
    struct mut *m, int level, struct oc_val sep, const struct oc_bid *rid_in)
{
	struct oc_bid rid = *rid_in;
	o_err         e;

	for (; level >= 0; level--) {
		struct node         *par = &m->p.n[level];
		const struct oc_val *parts, *nodes;
		struct oc_val        right, rp, rn;
		size_t               len, mid;

		if ((e = splice(m, par, F_PARTS, par->ci, 0, arr1(sep))) !=
		        O_OK ||
		    (e = splice(m, par, F_NODES, par->ci + 1, 0,
		         arr1(oc_bid_val(&rid)))) != O_OK)
			return e;
		len = node_len(&par->blk, false);
		if (len <= (size_t) m->bt->fanout)
			return O_OK;
		/* Children [0, mid) stay, [mid, len) move; parts[mid-1] up. */
		mid   = (len + 1) / 2;
		parts = fld(&par->blk, F_PARTS);
		nodes = fld(&par->blk, F_NODES);
		rp    = oc_array();
		rn    = oc_array();
		push_dups(&rp, parts, mid, len - 1);
		push_dups(&rn, nodes, mid, len);
		sep = oc_val_dup(&parts->u.a.v[mid - 1]);
		oc_bid_random(&rid);
		right = oc_block_new(&rid, OC_BT_BRANCH, &m->bt->col);
		oc_map_set(&right, F_PARTS, rp);
		oc_map_set(&right, F_NODES, rn);
		if ((e = splice(m, par, F_PARTS, mid - 1, len - mid,
		         oc_array())) != O_OK ||
		    (e = splice(m, par, F_NODES, mid, len - mid,
		         oc_array())) != O_OK ||
		    (e = oc_bstore_insert(m->s, oc_val_take(&right))) !=
		        O_OK) {
			oc_val_fini(&right);
			oc_val_fini(&sep);
			return e;
		}
	}
	return new_root(m, sep, &rid);
}

/* Put ent (moved) into leaf lf at index i and split it in two by count. */
static o_err
split_leaf(struct mut *m, struct node *lf, size_t i, struct oc_val ent)
{
	const struct oc_val *ents = fld(&lf->blk, F_ENTRIES);
	size_t               n    = ents->u.a.n;
	size_t               mid  = (n + 2) / 2; /* ceil((n + 1) / 2) stay */
	struct oc_val        right, rents = oc_array(), sep;
	struct oc_bid        rid;
	o_err                e;

	if (i < mid) {
		push_dups(&rents, ents, mid - 1, n);
	} else {
		push_dups(&rents, ents, mid, i);
		oc_arr_push(&rents, oc_val_take(&ent));
		push_dups(&rents, ents, i, n);
	}
	sep = oc_val_dup(ent_key(&rents, 0));
	oc_bid_random(&rid);
	right = oc_block_new(&rid, OC_BT_LEAF, &m->bt->col);
	oc_map_set(&right, F_ENTRIES, rents);
	if (i < mid) {
		if ((e = splice(m, lf, F_ENTRIES, mid - 1, n - (mid - 1),
		         oc_array())) != O_OK ||
		    (e = splice(m, lf, F_ENTRIES, i, 0,
		         arr1(oc_val_take(&ent)))) != O_OK)
			goto out;
	} else if ((e = splice(m, lf, F_ENTRIES, mid, n - mid, oc_array())) !=
	    O_OK) {
		goto out;
	}
	if ((e = oc_bstore_insert(m->s, oc_val_take(&right))) != O_OK)
		goto out;
	return insert_up(m, m->p.depth - 2, sep, &rid);
out:
	oc_val_fini(&ent);
	oc_val_fini(&right);
	oc_val_fini(&sep);
	return e;
}

/* Insert or replace; *old (may be NULL) gets a copy of a replaced value. */
static o_err
put_in(struct mut *m, const uint8_t *k, size_t kl, struct oc_val *val,
    bool *replaced, struct oc_val *old)
{
	const struct oc_val *ents;
	struct oc_val        ent;
	struct node         *lf;
	size_t               n, i;
	o_err                e;

	if ((e = descend(m->s, &m->root, k, kl, &m->p)) != O_OK)
		return e;
	lf   = &m->p.n[m->p.depth - 1];
	ents = fld(&lf->blk, F_ENTRIES);
	n    = ents->u.a.n;
	i    = bound(ents, true, k, kl, false);
	ent  = oc_array();
	oc_arr_push(&ent, oc_bytes(k, kl));
	oc_arr_push(&ent, oc_val_take(val));
	*replaced = i < n && kcmp(ent_key(ents, i), k, kl) == 0;
	if (*replaced && old != NULL)
		*old = oc_val_dup(&ents->u.a.v[i].u.a.v[1]);
	if (*replaced) {
		if (n <= OC_BTREE_LEAF_SPLIT_MIN ||
		    leaf_weight(&lf->blk) - weight(&ents->u.a.v[i]) +
		            weight(&ent) <=
		        OC_BTREE_LEAF_BYTES)
			return splice(m, lf, F_ENTRIES, i, 1, arr1(ent));
		/* grown past the weight: out with the old, split with the new
		 */
		if ((e = splice(m, lf, F_ENTRIES, i, 1, oc_array())) != O_OK) {
			oc_val_fini(&ent);
			return e;
		}
		return split_leaf(m, lf, i, ent);
	}
	if (n < (size_t) m->bt->fanout &&
	    (n < OC_BTREE_LEAF_SPLIT_MIN ||
	        leaf_weight(&lf->blk) + weight(&ent) <= OC_BTREE_LEAF_BYTES))
		return splice(m, lf, F_ENTRIES, i, 0, arr1(ent));
	return split_leaf(m, lf, i, ent);
}

o_err
oc_btree_put(struct oc_btree *bt, const void *key, size_t klen,
    struct oc_val val, bool *replaced)
{
	struct oc_tracker a;
	struct mut        m;
	bool              rep = false;
	o_err             e;

	if (key == NULL && klen > 0) {
		oc_val_fini(&val);
		return o_err_set(O_EINVAL, "btree put: NULL key");
	}
	if (klen > OC_BTREE_KEY_MAX) {
		oc_val_fini(&val);
		return o_err_set(O_ETOOBIG,
		    "btree put: key of %zu bytes, "
		    "limit %d",
		    klen, OC_BTREE_KEY_MAX);
	}
	bt->version++;
	oc_atomic_begin(&a, bt->s);
	if ((e = mut_begin(&m, bt, &a.base)) == O_OK)
		e = put_in(&m, kptr(key, klen), klen, &val, &rep, NULL);
	mut_end(&m);
	oc_val_fini(&val);
	if (e != O_OK) {
		oc_atomic_abort(&a);
		return e;
	}
	if ((e = oc_atomic_commit(&a)) != O_OK)
		return o_err_wrap(e, "btree put: commit");
	if (replaced != NULL)
		*replaced = rep;
	return O_OK;
}

/* ---- delete ------------------------------------------------------------ */

/* Load sibling sib->id of n; it must be of n's kind. */
static o_err
sib_load(struct mut *m, const struct node *n, struct node *sib)
{
	char  str[OC_BID_STRLEN];
	o_err e = node_load(m->s, &sib->id, &sib->blk, &sib->leaf);

	if (e == O_OK && sib->leaf != n->leaf) {
		oc_val_fini(&sib->blk);
		e = corrupt(&sib->id, "sibling of %s is not a %s",
		    oc_bid_str(&n->id, str), n->leaf ? "leaf" : "branch");
	}
	return e;
}

static const struct oc_val *
arr_at(const struct node *n, const char *f, size_t i)
{
	return &fld(&n->blk, f)->u.a.v[i];
}

static struct oc_val
dup_at(const struct node *n, const char *f, size_t i)
{
	return oc_val_dup(arr_at(n, f, i));
}

/* Move r's first item to the end of n (n is child ci of par). */
static o_err
borrow_right(struct mut *m, struct node *par, struct node *n, struct node *r)
{
	size_t      ci = par->ci;
	struct step st[5];

	if (n->leaf) {
		size_t nl = node_len(&n->blk, true);

		st[0] = step(r, F_ENTRIES, 0, 1, oc_array());
		st[1] =
		    step(n, F_ENTRIES, nl, 0, arr1(dup_at(r, F_ENTRIES, 0)));
		st[2] = step(par, F_PARTS, ci, 1,
		    arr1(oc_val_dup(ent_key(fld(&r->blk, F_ENTRIES), 1))));
		return run_steps(m, st, 3);
	}
	st[0] = step(n, F_PARTS, node_len(&n->blk, false) - 1, 0,
	    arr1(dup_at(par, F_PARTS, ci)));
	st[1] = step(n, F_NODES, node_len(&n->blk, false), 0,
	    arr1(dup_at(r, F_NODES, 0)));
	st[2] = step(par, F_PARTS, ci, 1, arr1(dup_at(r, F_PARTS, 0)));
	st[3] = step(r, F_PARTS, 0, 1, oc_array());
	st[4] = step(r, F_NODES, 0, 1, oc_array());
	return run_steps(m, st, 5);
}

/* Move l's last item to the front of n (n is child ci of par). */
static o_err
borrow_left(struct mut *m, struct node *par, struct node *n, struct node *l)
{
	size_t      ci = par->ci;
	size_t      ln = node_len(&l->blk, l->leaf);
	struct step st[5];

	if (n->leaf) {
		st[0] = step(l, F_ENTRIES, ln - 1, 1, oc_array());
		st[1] = step(
		    n, F_ENTRIES, 0, 0, arr1(dup_at(l, F_ENTRIES, ln - 1)));
		st[2] = step(par, F_PARTS, ci - 1, 1,
		    arr1(
		        oc_val_dup(ent_key(fld(&l->blk, F_ENTRIES), ln - 1))));
		return run_steps(m, st, 3);
	}
	st[0] = step(n, F_PARTS, 0, 0, arr1(dup_at(par, F_PARTS, ci - 1)));
	st[1] = step(n, F_NODES, 0, 0, arr1(dup_at(l, F_NODES, ln - 1)));
	st[2] =
	    step(par, F_PARTS, ci - 1, 1, arr1(dup_at(l, F_PARTS, ln - 2)));
	st[3] = step(l, F_PARTS, ln - 2, 1, oc_array());
	st[4] = step(l, F_NODES, ln - 1, 1, oc_array());
	return run_steps(m, st, 5);
}

/*
 * Merge n (child ci of par) into its sibling sib, left (to_left) or right
 * of it; par loses the partition between them and n's slot; n is deleted.
 */
static o_err
merge(struct mut *m, struct node *par, struct node *n, struct node *sib,
    bool to_left)
{
	size_t      ci = par->ci, pi = to_left ? ci - 1 : ci;
	size_t      nl = node_len(&n->blk, n->leaf);
	size_t      sl = node_len(&sib->blk, sib->leaf);
	struct step st[4];
	size_t      k = 0;
	char        str[OC_BID_STRLEN];
	o_err       e;

	if (nl + sl > (size_t) m->bt->fanout)
		return corrupt(&sib->id,
		    "%zu items, too many to merge with %s", sl,
		    oc_bid_str(&n->id, str));
	if (n->leaf) {
		struct oc_val ins = oc_array();

		push_dups(&ins, fld(&n->blk, F_ENTRIES), 0, nl);
		st[k++] = step(sib, F_ENTRIES, to_left ? sl : 0, 0, ins);
	} else {
		struct oc_val parts = oc_array(), nodes = oc_array();

		/* The parent's partition comes down between the two. */
		if (to_left)
			oc_arr_push(&parts, dup_at(par, F_PARTS, pi));
		push_dups(&parts, fld(&n->blk, F_PARTS), 0, nl - 1);
		if (!to_left)
			oc_arr_push(&parts, dup_at(par, F_PARTS, pi));
		push_dups(&nodes, fld(&n->blk, F_NODES), 0, nl);
		st[k++] = step(sib, F_PARTS, to_left ? sl - 1 : 0, 0, parts);
		st[k++] = step(sib, F_NODES, to_left ? sl : 0, 0, nodes);
	}
	st[k++] = step(par, F_PARTS, pi, 1, oc_array());
	st[k++] = step(par, F_NODES, ci, 1, oc_array());
	if ((e = run_steps(m, st, k)) != O_OK)
		return e;
	if ((e = oc_bstore_del(m->s, &n->id)) != O_OK)
		return o_err_wrap(
		    e, "btree node %s: delete", oc_bid_str(&n->id, str));
	return O_OK;
}

/* Sibling s can give up its first (or last) item and not be thin. */
static bool
can_lend(const struct oc_btree *bt, const struct node *s, bool first)
{
	size_t               len = node_len(&s->blk, s->leaf);
	const struct oc_val *ents;
	size_t               left;

	if (len > (size_t) bt->fanout / 2)
		return true;
	if (!s->leaf || len < 2)
		return false;
	ents = fld(&s->blk, F_ENTRIES);
	left =
	    leaf_weight(&s->blk) - weight(&ents->u.a.v[first ? 0 : len - 1]);
	return left >= OC_BTREE_LEAF_BYTES / 2;
}

/*
 * n (child par->ci of par) is thin: borrow one item, or merge.  When
 * neither sibling can lend, each has at most fanout/2 items, so a merge
 * fits; leaves too heavy to merge stay as they are (*merged false).
 */
static o_err
underflow(struct mut *m, struct node *par, struct node *n, bool *merged)
{
	size_t      ci = par->ci;
	struct node l, r;
	bool        have_l = false, have_r = false;
	o_err       e;

	l.blk   = oc_null();
	r.blk   = oc_null();
	*merged = false;
	if (ci + 1 < node_len(&par->blk, false)) {
		r.id = child_id(&par->blk, ci + 1);
		if ((e = sib_load(m, n, &r)) != O_OK)
			goto out;
		have_r = true;
		if (can_lend(m->bt, &r, true)) {
			e = borrow_right(m, par, n, &r);
			goto out;
		}
	}
	if (ci > 0) {
		l.id = child_id(&par->blk, ci - 1);
		if ((e = sib_load(m, n, &l)) != O_OK)
			goto out;
		have_l = true;
		if (can_lend(m->bt, &l, false)) {
			e = borrow_left(m, par, n, &l);
			goto out;
		}
	}
	if (!have_l && !have_r) {
		e = corrupt(&par->id, "non-root branch with one child");
		goto out;
	}
	if (n->leaf && node_len(&n->blk, true) > 0 &&
	    leaf_weight(&n->blk) + leaf_weight(have_l ? &l.blk : &r.blk) >
	        OC_BTREE_LEAF_BYTES / 4 * 3)
		goto out;
	*merged = true;
	if (have_l)
		e = merge(m, par, n, &l, true);
	else
		e = merge(m, par, n, &r, false);
out:
	oc_val_fini(&l.blk);
	oc_val_fini(&r.blk);
	return e;
}

/* After a leaf lost an entry: fix underflows upwards, collapse the root. */
static o_err
rebalance(struct mut *m)
{
	struct node *root;
	char         str[OC_BID_STRLEN];
	int          level;
	o_err        e;

	for (level = m->p.depth - 1; level > 0; level--) {
		struct node *n      = &m->p.n[level];
		bool         merged = false;

		if (!thin(m->bt, &n->blk, n->leaf))
			return O_OK;
		if ((e = underflow(m, &m->p.n[level - 1], n, &merged)) != O_OK)
			return e;
		if (!merged)
			return O_OK;
	}
	root = &m->p.n[0];
	if (!root->leaf && node_len(&root->blk, false) == 1) {
		struct oc_bid child = child_id(&root->blk, 0);

		if ((e = set_root(m, &child)) != O_OK)
			return e;
		if ((e = oc_bstore_del(m->s, &root->id)) != O_OK)
			return o_err_wrap(e, "btree node %s: delete",
			    oc_bid_str(&root->id, str));
	}
	return O_OK;
}

/* Remove; *old (may be NULL) gets a copy of the removed value. */
static o_err
del_in(struct mut *m, const uint8_t *k, size_t kl, bool *existed,
    struct oc_val *old)
{
	const struct oc_val *ents;
	struct node         *lf;
	size_t               i;
	o_err                e;

	if ((e = descend(m->s, &m->root, k, kl, &m->p)) != O_OK)
		return e;
	lf       = &m->p.n[m->p.depth - 1];
	ents     = fld(&lf->blk, F_ENTRIES);
	i        = bound(ents, true, k, kl, false);
	*existed = i < ents->u.a.n && kcmp(ent_key(ents, i), k, kl) == 0;
	if (!*existed)
		return O_OK;
	if (old != NULL)
		*old = oc_val_dup(&ents->u.a.v[i].u.a.v[1]);
	if ((e = splice(m, lf, F_ENTRIES, i, 1, oc_array())) != O_OK)
		return e;
	return rebalance(m);
}

o_err
oc_btree_del(struct oc_btree *bt, const void *key, size_t klen, bool *existed)
{
	struct oc_tracker a;
	struct mut        m;
	bool              ex = false;
	o_err             e;

	if (key == NULL && klen > 0)
		return o_err_set(O_EINVAL, "btree del: NULL key");
	bt->version++;
	oc_atomic_begin(&a, bt->s);
	if ((e = mut_begin(&m, bt, &a.base)) == O_OK)
		e = del_in(&m, kptr(key, klen), klen, &ex, NULL);
	mut_end(&m);
	if (e != O_OK) {
		oc_atomic_abort(&a);
		return e;
	}
	if ((e = oc_atomic_commit(&a)) != O_OK)
		return o_err_wrap(e, "btree del: commit");
	if (existed != NULL)
		*existed = ex;
	return O_OK;
}

o_err
oc_btree_swap(struct oc_btree *bt, const void *key, size_t klen,
    struct oc_val val, struct oc_val *old, bool *found)
{
	struct oc_tracker a;
	struct mut        m;
	bool              f   = false;
	bool              del = val.type == OC_NULL;
	o_err             e;

	*old   = oc_null();
	*found = false;
	if (key == NULL && klen > 0) {
		oc_val_fini(&val);
		return o_err_set(O_EINVAL, "btree swap: NULL key");
	}
	if (!del && klen > OC_BTREE_KEY_MAX) {
		oc_val_fini(&val);
		return o_err_set(O_ETOOBIG,
		    "btree put: key of %zu bytes, limit %d", klen,
		    OC_BTREE_KEY_MAX);
	}
	bt->version++;
	oc_atomic_begin(&a, bt->s);
	if ((e = mut_begin(&m, bt, &a.base)) == O_OK)
		e = del ? del_in(&m, kptr(key, klen), klen, &f, old)
		        : put_in(&m, kptr(key, klen), klen, &val, &f, old);
	mut_end(&m);
	oc_val_fini(&val);
	if (e == O_OK && (e = oc_atomic_commit(&a)) != O_OK)
		e = o_err_wrap(e, "btree swap: commit");
	else if (e != O_OK)
		oc_atomic_abort(&a);
	if (e != O_OK) {
		oc_val_fini(old);
		return e;
	}
	*found = f;
	return O_OK;
}

/* ---- whole-tree walks -------------------------------------------------- */

static o_err
count_node(struct oc_bstore *s, const struct oc_bid *id, int depth,
    struct oc_bidset *seen, uint64_t *n)
{
	struct oc_val blk;
	bool          leaf;
	size_t        i, len;
	o_err         e;

	if (depth > OC_BTREE_MAXDEPTH)
		return corrupt(id, "deeper than %d levels", OC_BTREE_MAXDEPTH);
	if (!oc_bidset_add(seen, id))
		return corrupt(id, "reachable twice");
	if ((e = node_load(s, id, &blk, &leaf)) != O_OK)
		return e;
	len = node_len(&blk, leaf);
	if (leaf)
		*n += len;
	for (i = 0; !leaf && i < len && e == O_OK; i++) {
		struct oc_bid c = child_id(&blk, i);

		e = count_node(s, &c, depth + 1, seen, n);
	}
	oc_val_fini(&blk);
	return e;
}

o_err
oc_btree_count(struct oc_btree *bt, uint64_t *n)
{
	struct oc_bidset seen = { 0 };
	struct oc_bid root;
	uint64_t      c = 0;
	o_err         e;

	*n = 0;
	if ((e = root_load(bt, &root)) != O_OK)
		return e;
	e = count_node(bt->s, &root, 1, &seen, &c);
	oc_bidset_fini(&seen);
	if (e == O_OK)
		*n = c;
	return e;
}

struct chk {
	struct oc_btree      *bt;
	struct oc_bidset      seen;
	int                   leaf_depth; /* 0: no leaf seen yet */
	struct oc_btree_stats st;
};

/* Keys of arr (entries or parts) ascending and within [lo, hi). */
static o_err
chk_keys(const struct oc_bid *id, const struct oc_val *arr, bool entries,
    const struct oc_val *lo, const struct oc_val *hi)
{
	const char *what = entries ? "key" : "part";
	size_t      i;

	for (i = 0; i < arr->u.a.n; i++) {
		const struct oc_val *k =
		    entries ? ent_key(arr, i) : &arr->u.a.v[i];

		if (i > 0 &&
		    vcmp(entries ? ent_key(arr, i - 1) : &arr->u.a.v[i - 1],
		        k) >= 0)
			return corrupt(
			    id, "%s %zu not above the one before", what, i);
		if (lo != NULL && vcmp(k, lo) < 0)
			return corrupt(id,
			    "%s %zu below the node's lower bound", what, i);
		if (hi != NULL && vcmp(k, hi) >= 0)
			return corrupt(id,
			    "%s %zu not below the node's upper bound", what,
			    i);
	}
	return O_OK;
}

static o_err
chk_node(struct chk *c, const struct oc_bid *id, int depth,
    const struct oc_val *lo, const struct oc_val *hi)
{
	size_t               fan = (size_t) c->bt->fanout, min = fan / 2;
	const struct oc_val *parts;
	struct oc_val        blk;
	struct oc_bid        col;
	bool                 leaf, root = depth == 1;
	size_t               i, len;
	o_err                e;

	if (depth > OC_BTREE_MAXDEPTH)
		return corrupt(id, "deeper than %d levels", OC_BTREE_MAXDEPTH);
	if (!oc_bidset_add(&c->seen, id))
		return corrupt(id, "reachable twice");
	if ((e = node_load(c->bt->s, id, &blk, &leaf)) != O_OK)
		return e;
	len = node_len(&blk, leaf);
	if (!oc_map_bid(&blk, OC_F_COL, &col) || !oc_bid_eq(&col, &c->bt->col))
		e = corrupt(id, "\"col\" is not the trunk's");
	else if (len > fan)
		e = corrupt(id, "%zu %s, fanout is %zu", len,
		    leaf ? "entries" : "children", fan);
	else if (!root && !leaf && len < min)
		e = corrupt(id, "%zu children, minimum is %zu", len, min);
	else if (!root && leaf && len == 0)
		e = corrupt(id, "empty leaf below a branch");
	else if (root && !leaf && len < 2)
		e = corrupt(id, "root branch with %zu child", len);
	if (e != O_OK)
		goto out;
	if (leaf) {
		if ((e = chk_keys(id, fld(&blk, F_ENTRIES), true, lo, hi)) !=
		    O_OK)
			goto out;
		if (c->leaf_depth == 0)
			c->leaf_depth = depth;
		if (depth != c->leaf_depth) {
			e = corrupt(id, "leaf at depth %d, others at %d",
			    depth, c->leaf_depth);
			goto out;
		}
		c->st.entries += len;
		c->st.leaves++;
		if (!root && (c->st.leaf_min == 0 || len < c->st.leaf_min))
			c->st.leaf_min = len;
		goto out;
	}
	parts = fld(&blk, F_PARTS);
	if ((e = chk_keys(id, parts, false, lo, hi)) != O_OK)
		goto out;
	c->st.branches++;
	for (i = 0; i < len && e == O_OK; i++) {
		struct oc_bid ch = child_id(&blk, i);

		e = chk_node(c, &ch, depth + 1,
		    i > 0 ? &parts->u.a.v[i - 1] : lo,
		    i + 1 < len ? &parts->u.a.v[i] : hi);
	}
out:
	oc_val_fini(&blk);
	return e;
}

o_err
oc_btree_check_stats(struct oc_btree *bt, struct oc_btree_stats *st)
{
	struct chk    c;
	struct oc_bid root;
	o_err         e;

	memset(&c, 0, sizeof(c));
	c.bt = bt;
	if (st != NULL)
		memset(st, 0, sizeof(*st));
	if ((e = root_load(bt, &root)) != O_OK)
		return e;
	e = chk_node(&c, &root, 1, NULL, NULL);
	oc_bidset_fini(&c.seen);
	c.st.depth = c.leaf_depth;
	if (e == O_OK && st != NULL)
		*st = c.st;
	return e;
}

o_err
oc_btree_check(struct oc_btree *bt)
{
	return oc_btree_check_stats(bt, NULL);
}

/* ---- iteration --------------------------------------------------------- */

/*
 * Load id and walk down to a leaf, pushing nodes on it->blk: towards key k
 * (bykey) or along the first/last children (it->forward), then place pos.
 */
static o_err
iter_descend(struct oc_btree_iter *it, struct oc_bid id, const uint8_t *k,
    size_t kl, bool bykey, bool inclusive)
{
	const struct oc_val *a;
	size_t               n;
	bool                 leaf;
	o_err                e;

	for (;;) {
		if (it->depth >= OC_BTREE_MAXDEPTH)
			return corrupt(&id, "path deeper than %d levels",
			    OC_BTREE_MAXDEPTH);
		e = node_load(it->bt->s, &id, &it->blk[it->depth], &leaf);
		if (e != O_OK)
			return e;
		a = &it->blk[it->depth];
		it->depth++;
		if (leaf)
			break;
		n = node_len(a, false);
		if (bykey)
			it->ci[it->depth - 1] =
			    bound(fld(a, F_PARTS), false, k, kl, true);
		else
			it->ci[it->depth - 1] = it->forward ? 0 : n - 1;
		id = child_id(a, it->ci[it->depth - 1]);
	}
	a = fld(a, F_ENTRIES);
	n = a->u.a.n;
	if (!bykey)
		it->pos = it->forward ? 0 : (int64_t) n - 1;
	else if (it->forward)
		it->pos = (int64_t) bound(a, true, k, kl, !inclusive);
	else
		it->pos = (int64_t) bound(a, true, k, kl, inclusive) - 1;
	return O_OK;
}

/* The leaf is used up: move to the next (or prior) leaf, or finish. */
static o_err
iter_step(struct oc_btree_iter *it)
{
	int l, k;

	for (l = it->depth - 2; l >= 0; l--) {
		size_t n = node_len(&it->blk[l], false);

		if (it->forward && it->ci[l] + 1 < n) {
			it->ci[l]++;
			break;
		}
		if (!it->forward && it->ci[l] > 0) {
			it->ci[l]--;
			break;
		}
	}
	if (l < 0) {
		it->done = true;
		return O_OK;
	}
	for (k = l + 1; k < it->depth; k++)
		oc_val_fini(&it->blk[k]);
	it->depth = l + 1;
	return iter_descend(
	    it, child_id(&it->blk[l], it->ci[l]), NULL, 0, false, false);
}

o_err
oc_btree_iter_init(struct oc_btree_iter *it, struct oc_btree *bt,
    const void *start, size_t slen, bool inclusive, bool forward)
{
	struct oc_bid root;
	o_err         e;

	memset(it, 0, sizeof(*it));
	it->bt      = bt;
	it->version = bt->version;
	it->forward = forward;
	if (start == NULL)
		slen = 0;
	if ((e = root_load(bt, &root)) != O_OK ||
	    (e = iter_descend(it, root, kptr(start, slen), slen, start != NULL,
	         inclusive)) != O_OK) {
		oc_btree_iter_fini(it);
		it->err = e;
	}
	return e;
}

o_err
oc_btree_iter_next(struct oc_btree_iter *it, bool *done, const uint8_t **key,
    size_t *klen, const struct oc_val **val)
{
	const struct oc_val *ents, *ent, *k;
	o_err                e;

	*done = false;
	if (it->err != O_OK)
		return it->err;
	if (it->bt->version != it->version)
		return it->err = o_err_set(O_EINVAL,
		           "btree iterator used after the tree changed");
	for (;;) {
		if (it->done) {
			*done = true;
			return O_OK;
		}
		ents = fld(&it->blk[it->depth - 1], F_ENTRIES);
		if (it->pos >= 0 && (uint64_t) it->pos < ents->u.a.n)
			break;
		if ((e = iter_step(it)) != O_OK)
			return it->err = e;
	}
	ent = &ents->u.a.v[it->pos];
	k   = &ent->u.a.v[0];
	/* Leaves are checked one at a time; this catches order across them. */
	if (it->have_last) {
		int c = oc_bytes_cmp(kptr(k->u.s.p, k->u.s.n), k->u.s.n,
		    kptr(it->last, it->lastlen), it->lastlen);

		if (it->forward ? c <= 0 : c >= 0) {
			struct oc_bid id;

			oc_block_id(&it->blk[it->depth - 1], &id);
			return it->err = corrupt(&id,
			           "entry %" PRId64 " out of order with the "
			           "entry before it",
			           it->pos);
		}
	}
	if (k->u.s.n > it->lastcap) {
		it->lastcap = k->u.s.n;
		it->last    = o_realloc(it->last, it->lastcap);
	}
	if (k->u.s.n > 0)
		memcpy(it->last, k->u.s.p, k->u.s.n);
	it->lastlen   = k->u.s.n;
	it->have_last = true;
	it->pos += it->forward ? 1 : -1;
	*key  = kptr(k->u.s.p, k->u.s.n);
	*klen = k->u.s.n;
	*val  = &ent->u.a.v[1];
	return O_OK;
}

void
oc_btree_iter_fini(struct oc_btree_iter *it)
{
	int i;

	for (i = 0; i < it->depth; i++)
		oc_val_fini(&it->blk[i]);
	it->depth = 0;
	free(it->last);
	it->last    = NULL;
	it->lastcap = it->lastlen = 0;
	it->have_last             = false;
}
