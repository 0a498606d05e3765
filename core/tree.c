/*
 * tree.c - the Tree collection type over the B+tree.
 */
#include "core/tree.h"

#include <string.h>

#include "core/btree.h"
#include "core/o_util.h"

static o_err
tree_init(struct oc_bstore *s, const struct oc_bid *col)
{
	return oc_btree_create(s, col, OC_BTREE_FANOUT);
}

/* Delete the chunk blocks of a chunk-reference value. */
static o_err
drop_chunks(struct oc_bstore *s, const struct oc_val *v)
{
	const struct oc_val *ids;
	size_t               i;
	o_err                e;

	if (v->type != OC_MAP || (ids = oc_map_arr(v, "chunks")) == NULL)
		return O_OK;
	for (i = 0; i < ids->u.a.n; i++) {
		struct oc_bid id;

		if (oc_bid_from(&ids->u.a.v[i], &id) &&
		    (e = oc_bstore_del(s, &id)) != O_OK)
			return e;
	}
	return O_OK;
}

static o_err
tree_apply_n(struct oc_bstore *s, const struct oc_bid *col,
    const struct oc_val *a, int64_t *dn)
{
	const char          *t  = oc_map_text(a, "t");
	const struct oc_val *kv = oc_map_arr(a, "kv");
	struct oc_btree      bt;
	size_t               i;
	o_err                e;

	if (t == NULL || strcmp(t, "replace") != 0 || kv == NULL)
		return o_err_set(O_EINVAL, "tree: malformed action");
	if ((e = oc_btree_open(&bt, s, col)) != O_OK)
		return e;
	for (i = 0; i < kv->u.a.n; i++) {
		const struct oc_val *p = &kv->u.a.v[i];
		const struct oc_val *k, *v;
		struct oc_val        old;
		bool                 found;

		if (p->type != OC_ARRAY || p->u.a.n != 2 ||
		    p->u.a.v[0].type != OC_BYTES)
			return o_err_set(O_EINVAL, "tree: malformed pair %zu", i);
		k = &p->u.a.v[0];
		v = &p->u.a.v[1];
		/* one walk: put or remove, and get the old value back */
		if ((e = oc_btree_swap(&bt, k->u.s.p, k->u.s.n, oc_val_dup(v),
		         &old, &found)) != O_OK)
			return e;
		e = drop_chunks(s, &old);
		oc_val_fini(&old);
		if (e != O_OK)
			return e;
		if (v->type == OC_NULL && found)
			(*dn)--;
		else if (v->type != OC_NULL && !found)
			(*dn)++;
	}
	return O_OK;
}

static o_err
tree_apply(struct oc_bstore *s, const struct oc_bid *col,
    const struct oc_val *a)
{
	int64_t dn = 0;

	return tree_apply_n(s, col, a, &dn);
}

static size_t
tree_weight(const struct oc_val *a)
{
	const struct oc_val *kv = oc_map_arr(a, "kv");
	size_t               i, w = 16;

	for (i = 0; kv && i < kv->u.a.n; i++) {
		const struct oc_val *p = &kv->u.a.v[i];

		if (p->type != OC_ARRAY || p->u.a.n != 2)
			continue;
		w += p->u.a.v[0].u.s.n + 16;
		if (p->u.a.v[1].type == OC_BYTES)
			w += p->u.a.v[1].u.s.n;
	}
	return w;
}

/* Whether the action list acts puts a value under key k. */
static bool
acts_put_key(const struct oc_val *acts, const struct oc_val *k)
{
	size_t i, j;

	if (acts == NULL || acts->type != OC_ARRAY)
		return false;
	for (i = 0; i < acts->u.a.n; i++) {
		const struct oc_val *kv = oc_map_arr(&acts->u.a.v[i], "kv");

		for (j = 0; kv != NULL && j < kv->u.a.n; j++) {
			const struct oc_val *p = &kv->u.a.v[j];

			if (p->type == OC_ARRAY && p->u.a.n == 2 &&
			    p->u.a.v[1].type != OC_NULL &&
			    p->u.a.v[0].type == OC_BYTES &&
			    p->u.a.v[0].u.s.n == k->u.s.n &&
			    memcmp(p->u.a.v[0].u.s.p, k->u.s.p, k->u.s.n) == 0)
				return true;
		}
	}
	return false;
}

static bool
bytes_eq(const struct oc_val *a, const struct oc_val *b)
{
	return a->type == OC_BYTES && b->type == OC_BYTES &&
	    a->u.s.n == b->u.s.n && memcmp(a->u.s.p, b->u.s.p, a->u.s.n) == 0;
}

/* The object ("o") action a's put under key k names, or NULL: unknown. */
static const struct oc_val *
put_obj(const struct oc_val *a, const struct oc_val *k)
{
	const struct oc_val *o = oc_map_arr(a, "o");
	size_t               i;

	for (i = 0; o != NULL && i < o->u.a.n; i++) {
		const struct oc_val *p = &o->u.a.v[i];

		if (p->type == OC_ARRAY && p->u.a.n == 2 &&
		    bytes_eq(&p->u.a.v[0], k))
			return &p->u.a.v[1];
	}
	return NULL;
}

/*
 * Where the object id, named by key k when the local action was taken,
 * is after the rival actions acts (in commit order): still at k (true,
 * *moved NULL), at another key *moved of this tree (true), or nowhere
 * this tree shows (false: deleted, or k given to another object).
 */
static bool
obj_where(const struct oc_val *acts, const struct oc_val *k,
    const struct oc_val *id, const struct oc_val **moved)
{
	const struct oc_val *at    = k;
	bool                 there = true;
	size_t               i, j;

	*moved = NULL;
	for (i = 0; acts != NULL && acts->type == OC_ARRAY && i < acts->u.a.n;
	     i++) {
		const struct oc_val *a  = &acts->u.a.v[i];
		const struct oc_val *kv = oc_map_arr(a, "kv");

		for (j = 0; kv != NULL && j < kv->u.a.n; j++) {
			const struct oc_val *p = &kv->u.a.v[j], *o;

			if (p->type != OC_ARRAY || p->u.a.n != 2)
				continue;
			o = p->u.a.v[1].type == OC_NULL
			    ? NULL
			    : put_obj(a, &p->u.a.v[0]);
			if (there && bytes_eq(&p->u.a.v[0], at)) {
				/* a put without "o" is taken to keep it */
				there = p->u.a.v[1].type != OC_NULL &&
				    (o == NULL || bytes_eq(o, id));
			} else if (o != NULL && bytes_eq(o, id)) {
				at    = &p->u.a.v[0]; /* moved (or back) */
				there = true;
			}
		}
	}
	if (there && at != k && !bytes_eq(at, k))
		*moved = at;
	return there;
}

/* A copy of action a with key k replaced by k2 in its pairs, "o" and
 * "if" (a write-back following its object). */
static struct oc_val
rekey(const struct oc_val *a, const struct oc_val *k, const struct oc_val *k2)
{
	static const char *const fields[] = { "kv", "o", "if" };
	struct oc_val            r        = oc_val_dup(a);
	size_t                   f, i;

	for (f = 0; f < 3; f++) {
		struct oc_val *arr =
		    (struct oc_val *) oc_map_get(&r, fields[f]);

		for (i = 0;
		     arr != NULL && arr->type == OC_ARRAY && i < arr->u.a.n;
		     i++) {
			struct oc_val *p = &arr->u.a.v[i];

			if (p->type == OC_ARRAY && p->u.a.n == 2 &&
			    bytes_eq(&p->u.a.v[0], k)) {
				oc_val_fini(&p->u.a.v[0]);
				p->u.a.v[0] = oc_val_dup(k2);
			}
		}
	}
	return r;
}

/* Whether action a retires its tree ("rt"). */
static bool
retires(const struct oc_val *a)
{
	const struct oc_val *rt = oc_map_get(a, "rt");

	return rt != NULL && rt->type == OC_BOOL && rt->u.b;
}

/* Whether the action list acts retires the tree (want_rt), or puts a
 * value under any key (!want_rt). */
static bool
acts_any(const struct oc_val *acts, bool want_rt)
{
	size_t i, j;

	for (i = 0; acts != NULL && acts->type == OC_ARRAY && i < acts->u.a.n;
	     i++) {
		const struct oc_val *a  = &acts->u.a.v[i];
		const struct oc_val *kv = oc_map_arr(a, "kv");

		if (want_rt) {
			if (retires(a))
				return true;
			continue;
		}
		for (j = 0; kv != NULL && j < kv->u.a.n; j++)
			if (kv->u.a.v[j].type == OC_ARRAY &&
			    kv->u.a.v[j].u.a.n == 2 &&
			    kv->u.a.v[j].u.a.v[1].type != OC_NULL)
				return true;
	}
	return false;
}

/*
 * Conflict filter: a local creation ("new") loses to a rival that
 * committed a value under one of its keys; an action whose condition
 * ("if") a rival broke is dropped, or follows its object ("fw"); a
 * retirement ("rt") is dropped when a rival put anything, and anything
 * else when a rival retired the tree; any other action is replayed.
 */
static enum oc_filter_verdict
tree_filter(const struct oc_val *local, const struct oc_val *remote,
    struct oc_val *replacement)
{
	const struct oc_val *nk = oc_map_arr(local, "new");
	const struct oc_val *cd = oc_map_arr(local, "if");
	const struct oc_val *fw = oc_map_get(local, "fw");
	size_t               i;

	if (acts_any(remote, !retires(local)))
		return OC_FILTER_DROP;
	for (i = 0; nk != NULL && i < nk->u.a.n; i++)
		if (nk->u.a.v[i].type == OC_BYTES &&
		    acts_put_key(remote, &nk->u.a.v[i]))
			return OC_FILTER_DROP;
	for (i = 0; cd != NULL && i < cd->u.a.n; i++) {
		const struct oc_val *p = &cd->u.a.v[i], *moved;

		if (p->type != OC_ARRAY || p->u.a.n != 2 ||
		    p->u.a.v[0].type != OC_BYTES)
			continue;
		if (!obj_where(remote, &p->u.a.v[0], &p->u.a.v[1], &moved))
			return OC_FILTER_DROP;
		if (moved == NULL)
			continue;
		if (fw == NULL || fw->type != OC_BOOL || !fw->u.b ||
		    cd->u.a.n != 1)
			return OC_FILTER_DROP;
		*replacement = rekey(local, &p->u.a.v[0], moved);
		return OC_FILTER_REPLACE;
	}
	return OC_FILTER_KEEP;
}

const struct oc_coll_type oc_tree_type = {
	.header_type = OC_BT_TREE,
	.init        = tree_init,
	.apply       = tree_apply,
	.apply_n     = tree_apply_n,
	.filter      = tree_filter, /* creations; else the last write wins */
	.weight      = tree_weight,
};

o_err
oc_tree_open(struct oc_transactor *tx, const struct oc_bid *id, bool create,
    const struct oc_sync_opts *opts, struct oc_collection **out)
{
	return oc_coll_open(tx, id, &oc_tree_type, create, opts, out);
}

/* Push [key, id] of kv onto arr (an array value). */
static void
push_key_id(
    struct oc_val *arr, const struct oc_tree_kv *kv, const struct oc_bid *id)
{
	struct oc_val p = oc_array();

	oc_arr_push(&p, oc_bytes(kv->key, kv->klen));
	oc_arr_push(&p, oc_bytes(id->b, OC_BID_LEN));
	oc_arr_push(arr, p);
}

/* Set field name of a to arr when it holds anything (else free arr). */
static void
set_nonempty(struct oc_val *a, const char *name, struct oc_val arr)
{
	if (arr.u.a.n > 0)
		oc_map_set(a, name, arr);
	else
		oc_val_fini(&arr);
}

o_err
oc_tree_replace(struct oc_collection *c, const struct oc_tree_kv *kv, size_t n)
{
	return oc_tree_replace_linked(c, kv, n, NULL);
}

o_err
oc_tree_replace_linked(struct oc_collection *c, const struct oc_tree_kv *kv,
    size_t n, const struct oc_aid *link)
{
	struct oc_val a = oc_map(), pairs = oc_array(), made = oc_array();
	struct oc_val objs = oc_array(), conds = oc_array();
	bool          follow = false;
	size_t        i;

	for (i = 0; i < n; i++) {
		struct oc_val p = oc_array();

		if (kv[i].klen == 0 || kv[i].klen > OC_BTREE_KEY_MAX) {
			oc_val_fini(&p);
			oc_val_fini(&pairs);
			oc_val_fini(&made);
			oc_val_fini(&objs);
			oc_val_fini(&conds);
			oc_val_fini(&a);
			return o_err_set(O_EINVAL,
			    "tree key of %zu bytes (must be 1..%d)", kv[i].klen,
			    OC_BTREE_KEY_MAX);
		}
		if (kv[i].check) { /* a condition only */
			oc_val_fini(&p);
			if (kv[i].cond != NULL)
				push_key_id(&conds, &kv[i], kv[i].cond);
			continue;
		}
		oc_arr_push(&p, oc_bytes(kv[i].key, kv[i].klen));
		if (kv[i].del)
			oc_arr_push(&p, oc_null());
		else if (kv[i].vlen <= OC_INLINE_MAX)
			oc_arr_push(&p, oc_bytes(kv[i].val, kv[i].vlen));
		else
			oc_arr_push(&p, oc_coll_chunk(c, kv[i].val, kv[i].vlen));
		oc_arr_push(&pairs, p);
		if (kv[i].excl && !kv[i].del)
			oc_arr_push(&made, oc_bytes(kv[i].key, kv[i].klen));
		if (kv[i].obj != NULL && !kv[i].del)
			push_key_id(&objs, &kv[i], kv[i].obj);
		if (kv[i].cond != NULL)
			push_key_id(&conds, &kv[i], kv[i].cond);
		/* "fw" follows the condition's own key: one pair with both */
		follow = follow ||
		    (kv[i].follow && !kv[i].del && kv[i].cond != NULL);
	}
	oc_map_set(&a, "t", oc_text("replace"));
	oc_map_set(&a, "kv", pairs);
	set_nonempty(&a, "new", made);
	set_nonempty(&a, "o", objs);
	if (follow && conds.u.a.n == 1)
		oc_map_set(&a, "fw", oc_bool(true));
	set_nonempty(&a, "if", conds);
	if (link != NULL)
		oc_map_set(&a, "ln", oc_bytes(link->b, OC_AID_LEN));
	return oc_coll_act(c, &a, 1);
}

o_err
oc_tree_retire(struct oc_collection *c, const struct oc_aid *link)
{
	struct oc_val a = oc_map(), pairs = oc_array(), p = oc_array();

	oc_arr_push(&p, oc_bytes(OC_TREE_RETIRED, strlen(OC_TREE_RETIRED)));
	oc_arr_push(&p, oc_bytes("retired", 7));
	oc_arr_push(&pairs, p);
	oc_map_set(&a, "t", oc_text("replace"));
	oc_map_set(&a, "kv", pairs);
	oc_map_set(&a, "rt", oc_bool(true));
	if (link != NULL)
		oc_map_set(&a, "ln", oc_bytes(link->b, OC_AID_LEN));
	return oc_coll_act(c, &a, 1);
}

o_err
oc_tree_retired(struct oc_collection *c, bool *retired)
{
	struct o_buf v = { 0 };
	o_err        e = oc_tree_get(
	           c, OC_TREE_RETIRED, strlen(OC_TREE_RETIRED), &v, retired);

	o_buf_fini(&v);
	return e;
}

o_err
oc_tree_put(struct oc_collection *c, const void *key, size_t klen,
    const void *val, size_t vlen)
{
	struct oc_tree_kv kv = { .key = key, .klen = klen, .val = val, .vlen = vlen };

	return oc_tree_replace(c, &kv, 1);
}

o_err
oc_tree_create(struct oc_collection *c, const void *key, size_t klen,
    const void *val, size_t vlen)
{
	struct oc_tree_kv kv = {
		.key = key, .klen = klen, .val = val, .vlen = vlen, .excl = true
	};

	return oc_tree_replace(c, &kv, 1);
}

o_err
oc_tree_del(struct oc_collection *c, const void *key, size_t klen)
{
	struct oc_tree_kv kv = { .key = key, .klen = klen, .del = true };

	return oc_tree_replace(c, &kv, 1);
}

struct getarg {
	const struct oc_bid *col;
	const void          *key;
	size_t               klen;
	struct o_buf        *val;
	bool                *found;
	size_t               vlen0; /* val->len before: a rerun starts there */
};

static o_err
value_out(struct oc_bstore *s, const struct oc_val *v, struct o_buf *out)
{
	if (v->type == OC_BYTES)
		return o_buf_append(out, v->u.s.p, v->u.s.n);
	if (oc_is_chunk_ref(v))
		return oc_chunks_read(s, v, out);
	return o_err_set(O_ECORRUPT, "tree value is neither bytes nor chunks");
}

static o_err
get_fn(struct oc_bstore *s, void *arg)
{
	struct getarg  *g = arg;
	struct oc_btree bt;
	struct oc_val   v;
	o_err           e;

	g->val->len = g->vlen0; /* may run again (oc_coll_read_again) */
	if ((e = oc_btree_open(&bt, s, g->col)) != O_OK)
		return e;
	if ((e = oc_btree_get(&bt, g->key, g->klen, &v, g->found)) != O_OK)
		return e;
	if (*g->found)
		e = value_out(s, &v, g->val);
	oc_val_fini(&v);
	return e;
}

o_err
oc_tree_get(struct oc_collection *c, const void *key, size_t klen,
    struct o_buf *val, bool *found)
{
	struct getarg g = { oc_coll_id(c), key, klen, val, found, val->len };

	return oc_coll_read_again(c, get_fn, &g);
}

o_err
oc_tree_get_held(struct oc_collection *c, const void *key, size_t klen,
    struct o_buf *val, bool *found)
{
	struct getarg g = { oc_coll_id(c), key, klen, val, found, val->len };
	o_err         e;

	if ((e = oc_coll_read(c, get_fn, &g)) != O_OK)
		val->len = g.vlen0;
	return e;
}

static o_err
count_fn(struct oc_bstore *s, void *arg, uint64_t *n)
{
	struct getarg  *g = arg;
	struct oc_btree bt;
	o_err           e;

	if ((e = oc_btree_open(&bt, s, g->col)) != O_OK)
		return e;
	return oc_btree_count(&bt, n);
}

o_err
oc_tree_count(struct oc_collection *c, uint64_t *n)
{
	struct getarg g = { oc_coll_id(c), NULL, 0, NULL, NULL, 0 };

	return oc_coll_count(c, count_fn, &g, n);
}

static o_err
check_fn(struct oc_bstore *s, void *arg)
{
	struct getarg  *g = arg;
	struct oc_btree bt;
	o_err           e;

	if ((e = oc_btree_open(&bt, s, g->col)) != O_OK)
		return e;
	return oc_btree_check(&bt);
}

o_err
oc_tree_check(struct oc_collection *c)
{
	struct getarg g = { oc_coll_id(c), NULL, 0, NULL, NULL, 0 };

	return oc_coll_read_again(c, check_fn, &g);
}

struct scanarg {
	const struct oc_bid *col;
	const void          *start;
	size_t               slen;
	bool                 inclusive, forward;
	oc_tree_cb           cb;
	void                *arg;
	struct o_buf         last; /* key last handed to cb ... */
	bool                 resume; /* ... where a rerun starts (exclusive) */
};

static o_err
scan_fn(struct oc_bstore *s, void *arg)
{
	struct scanarg       *sa = arg;
	struct oc_btree       bt;
	struct oc_btree_iter  it;
	struct o_buf          buf = { 0 };
	o_err                 e;

	if ((e = oc_btree_open(&bt, s, sa->col)) != O_OK)
		return e;
	/* a rerun (oc_coll_read_again) resumes after the last key given */
	if ((e = sa->resume ? oc_btree_iter_init(&it, &bt, sa->last.data,
	                          sa->last.len, false, sa->forward)
	                    : oc_btree_iter_init(&it, &bt, sa->start,
	                          sa->slen, sa->inclusive, sa->forward)) !=
	    O_OK)
		return e;
	for (;;) {
		const uint8_t       *k;
		size_t               kl;
		const struct oc_val *v;
		bool                 done;

		if ((e = oc_btree_iter_next(&it, &done, &k, &kl, &v)) != O_OK ||
		    done)
			break;
		o_buf_reset(&buf);
		if ((e = value_out(s, v, &buf)) != O_OK)
			break;
		o_buf_reset(&sa->last);
		o_buf_append(&sa->last, k, kl);
		sa->resume = true;
		if (sa->cb(sa->arg, k, kl, buf.data, buf.len) != 0)
			break;
	}
	oc_btree_iter_fini(&it);
	o_buf_fini(&buf);
	return e;
}

/* A scan read through `read`: oc_coll_read_again or oc_coll_read. */
static o_err
tree_scan(struct oc_collection *c, const void *start, size_t slen,
    bool inclusive, bool forward, oc_tree_cb cb, void *arg,
    o_err (*read)(struct oc_collection *,
        o_err (*)(struct oc_bstore *, void *), void *))
{
	struct scanarg sa = { oc_coll_id(c), start, slen, inclusive, forward,
		cb, arg, { 0 }, false };
	o_err          e;

	e = read(c, scan_fn, &sa);
	o_buf_fini(&sa.last);
	return e;
}

o_err
oc_tree_scan(struct oc_collection *c, const void *start, size_t slen,
    bool inclusive, bool forward, oc_tree_cb cb, void *arg)
{
	return tree_scan(
	    c, start, slen, inclusive, forward, cb, arg, oc_coll_read_again);
}

o_err
oc_tree_scan_held(struct oc_collection *c, const void *start, size_t slen,
    bool inclusive, bool forward, oc_tree_cb cb, void *arg)
{
	return tree_scan(
	    c, start, slen, inclusive, forward, cb, arg, oc_coll_read);
}
