/*
 * transform.c - operations, per-block transforms and transform sets.
 *
 * Design notes.  A per-block transform composes as "insert, then ops, then
 * delete".  Staging (oc_tfs_insert/update/delete) keeps each entry in one of
 * three shapes - {insert}, {ops} or {delete} - by folding ops into a staged
 * insert.  Merging (b after a) is composition: an insert or delete in b
 * replaces whatever a did; otherwise b's ops are appended after a's.  Ops
 * over an absent base are an error (O_ENOBASE), never a silent no-op: that
 * hole in the reference design let replicas advance to revisions they could
 * not materialise.
 */
#include "core/transform.h"

#include <assert.h>
#include <stdlib.h>
#include <string.h>

#include "core/o_util.h"

struct oc_op
oc_op_splice(const char *field, uint32_t index, uint32_t del,
    struct oc_val ins)
{
	struct oc_op op;

	op.kind  = OC_OP_SPLICE;
	op.field = o_strdup(field);
	op.index = index;
	op.del   = del;
	op.ins   = ins;
	return op;
}

struct oc_op
oc_op_set(const char *field, struct oc_val v)
{
	struct oc_op op;

	op.kind  = OC_OP_SET;
	op.field = o_strdup(field);
	op.index = 0;
	op.del   = 0;
	op.ins   = v;
	return op;
}

struct oc_op
oc_op_dup(const struct oc_op *src)
{
	struct oc_op op = *src;

	op.field = o_strdup(src->field);
	op.ins   = oc_val_dup(&src->ins);
	return op;
}

void
oc_op_fini(struct oc_op *op)
{
	free(op->field);
	op->field = NULL;
	oc_val_fini(&op->ins);
}

/* The checks of oc_op_apply, before anything changes; *fp: the field
 * (NULL: absent, which only a SET allows). */
static o_err
op_check(const struct oc_val *blk, const struct oc_op *op, struct oc_val **fp)
{
	struct oc_val *f;

	if (blk->type != OC_MAP)
		return o_err_set(O_EBADMSG, "op on a block that is not a map");
	if (strcmp(op->field, OC_F_ID) == 0 || strcmp(op->field, OC_F_COL) == 0)
		return o_err_set(O_EBADMSG, "op may not change header field %s",
		    op->field);
	*fp = f = oc_map_get(blk, op->field);
	if (op->kind == OC_OP_SET)
		return O_OK;
	if (op->kind != OC_OP_SPLICE || op->ins.type != OC_ARRAY)
		return o_err_set(
		    O_EBADMSG, "malformed op on field %s", op->field);
	if (f == NULL || f->type != OC_ARRAY)
		return o_err_set(O_EBADMSG, "splice of non-array field %s",
		    op->field);
	if (op->index > f->u.a.n || op->del > f->u.a.n - op->index)
		return o_err_set(O_EBADMSG,
		    "splice [%u, +%u) out of range of field %s (len %zu)",
		    op->index, op->del, op->field, f->u.a.n);
	return O_OK;
}

/* What a checked op will add to the block's footprint (f: its field, from
 * op_check, still as it is before the op). */
static int64_t
op_dbytes(const struct oc_op *op, const struct oc_val *f)
{
	int64_t d = 0, key;
	size_t  k;

	if (op->kind != OC_OP_SET) { /* the items inserted and removed */
		for (k = 0; k < op->ins.u.a.n; k++)
			d += (int64_t) oc_val_footprint(&op->ins.u.a.v[k]);
		for (k = 0; k < op->del; k++)
			d -= (int64_t) oc_val_footprint(
			    &f->u.a.v[op->index + k]);
		return d;
	}
	/* a SET adding or removing the field adds or removes its key */
	key = (f != NULL) != (op->ins.type != OC_NULL)
	    ? (int64_t) oc_val_str_footprint(strlen(op->field))
	    : 0;
	if (f != NULL)
		d -= (int64_t) oc_val_footprint(f) + key;
	if (op->ins.type != OC_NULL)
		d += (int64_t) oc_val_footprint(&op->ins) + key;
	return d;
}

/* Apply a checked op (f: its field, from op_check). */
static void
op_do(struct oc_val *blk, const struct oc_op *op, struct oc_val *f)
{
	struct oc_val copy;

	if (op->kind == OC_OP_SET) {
		if (op->ins.type == OC_NULL)
			oc_map_del(blk, op->field);
		else
			oc_map_set(blk, op->field, oc_val_dup(&op->ins));
		return;
	}
	copy = oc_val_dup(&op->ins);
	oc_arr_splice(f, op->index, op->del, copy.u.a.v, copy.u.a.n);
	free(copy.u.a.v);
}

/* An op checked and applied; *dbytes (unless NULL) gets what it added to
 * the block's footprint. */
static o_err
op_apply(struct oc_val *blk, const struct oc_op *op, int64_t *dbytes)
{
	struct oc_val *f;
	o_err          e;

	if ((e = op_check(blk, op, &f)) != O_OK)
		return e;
	if (dbytes != NULL)
		*dbytes += op_dbytes(op, f);
	op_do(blk, op, f);
	return O_OK;
}

o_err
oc_op_apply(struct oc_val *blk, const struct oc_op *op)
{
	return op_apply(blk, op, NULL);
}

o_err
oc_op_apply_sized(struct oc_val *blk, const struct oc_op *op, int64_t *dbytes)
{
	return op_apply(blk, op, dbytes);
}

/* What one op changed: a SET's old value (had: the field was there), a
 * SPLICE's removed items (an array) and how many it inserted at index. */
struct oc_undo_op {
	char         *field;
	uint8_t       kind;
	bool          had;
	uint32_t      index, nins;
	struct oc_val old;
};

o_err
oc_tf_apply_in_place(
    struct oc_val *blk, const struct oc_tf *tf, struct oc_undo *undo)
{
	size_t i, k;
	o_err  e;

	assert(tf->insert == NULL && !tf->del);
	undo->u      = o_calloc(tf->nops > 0 ? tf->nops : 1, sizeof(*undo->u));
	undo->n      = 0;
	undo->dbytes = 0;
	for (i = 0; i < tf->nops; i++) {
		const struct oc_op *op = &tf->ops[i];
		struct oc_undo_op  *u  = &undo->u[i];
		struct oc_val      *f;

		if ((e = op_check(blk, op, &f)) != O_OK) {
			oc_undo_revert(blk, undo);
			return e;
		}
		undo->dbytes += op_dbytes(op, f);
		u->field = o_strdup(op->field);
		u->kind  = op->kind;
		u->old   = oc_null();
		if (op->kind == OC_OP_SET) {
			/* moved out, so that the op frees nothing */
			u->had = f != NULL;
			if (f != NULL) {
				u->old = *f;
				*f     = oc_null();
			}
		} else {
			u->index = op->index;
			u->nins  = (uint32_t) op->ins.u.a.n;
			u->old   = oc_array();
			for (k = 0; k < op->del; k++) {
				oc_arr_push(&u->old, f->u.a.v[op->index + k]);
				f->u.a.v[op->index + k] = oc_null();
			}
		}
		op_do(blk, op, f);
		undo->n++;
	}
	return O_OK;
}

void
oc_undo_revert(struct oc_val *blk, struct oc_undo *undo)
{
	size_t i;

	for (i = undo->n; i-- > 0;) {
		struct oc_undo_op *u = &undo->u[i];

		if (u->kind == OC_OP_SET) {
			if (u->had)
				oc_map_set(blk, u->field, u->old);
			else
				oc_map_del(blk, u->field);
			u->old = oc_null();
		} else {
			struct oc_val *f = oc_map_get(blk, u->field);

			assert(f != NULL && f->type == OC_ARRAY);
			(void) oc_arr_splice(
			    f, u->index, u->nins, u->old.u.a.v, u->old.u.a.n);
		}
	}
	oc_undo_fini(undo);
}

void
oc_undo_fini(struct oc_undo *undo)
{
	size_t i;

	for (i = 0; i < undo->n; i++) {
		free(undo->u[i].field);
		oc_val_fini(&undo->u[i].old);
	}
	free(undo->u);
	undo->u      = NULL;
	undo->n      = 0;
	undo->dbytes = 0;
}

/* ---- per-block transforms ---------------------------------------------- */

void
oc_tf_init(struct oc_tf *tf)
{
	memset(tf, 0, sizeof(*tf));
}

static void
tf_clear_ops(struct oc_tf *tf)
{
	size_t i;

	for (i = 0; i < tf->nops; i++)
		oc_op_fini(&tf->ops[i]);
	tf->nops = 0;
}

void
oc_tf_fini(struct oc_tf *tf)
{
	tf_clear_ops(tf);
	free(tf->ops);
	if (tf->insert) {
		oc_val_fini(tf->insert);
		free(tf->insert);
	}
	memset(tf, 0, sizeof(*tf));
}

void
oc_tf_dup(struct oc_tf *dst, const struct oc_tf *src)
{
	size_t i;

	oc_tf_init(dst);
	if (src->insert) {
		dst->insert  = o_malloc(sizeof(struct oc_val));
		*dst->insert = oc_val_dup(src->insert);
	}
	dst->del = src->del;
	if (src->nops) {
		dst->ops = o_malloc(sizeof(struct oc_op) * src->nops);
		dst->cap = dst->nops = src->nops;
		for (i = 0; i < src->nops; i++)
			dst->ops[i] = oc_op_dup(&src->ops[i]);
	}
}

void
oc_tf_add_op(struct oc_tf *tf, struct oc_op op)
{
	if (tf->nops == tf->cap) {
		tf->cap = tf->cap ? tf->cap * 2 : 4;
		tf->ops = o_realloc(tf->ops, tf->cap * sizeof(struct oc_op));
	}
	tf->ops[tf->nops++] = op;
}

bool
oc_tf_is_empty(const struct oc_tf *tf)
{
	return tf->insert == NULL && tf->nops == 0 && !tf->del;
}

void
oc_tf_merge(struct oc_tf *a, const struct oc_tf *b)
{
	size_t i;

	if (b->insert != NULL || b->del) {
		oc_tf_fini(a);
		oc_tf_dup(a, b);
		return;
	}
	for (i = 0; i < b->nops; i++)
		oc_tf_add_op(a, oc_op_dup(&b->ops[i]));
}

o_err
oc_tf_apply(const struct oc_val *base, const struct oc_tf *tf,
    struct oc_val *out, bool *present)
{
	struct oc_val cur;
	bool          have;
	size_t        i;
	o_err         e;

	*out = oc_null();
	if (tf->insert) {
		cur  = oc_val_dup(tf->insert);
		have = true;
	} else if (base != NULL) {
		cur  = oc_val_dup(base);
		have = true;
	} else {
		cur  = oc_null();
		have = false;
	}
	if (tf->nops > 0 && !have)
		return o_err_set(O_ENOBASE,
		    "%zu op(s) on field %s with no base block", tf->nops,
		    tf->ops[0].field);
	for (i = 0; i < tf->nops; i++) {
		if ((e = oc_op_apply(&cur, &tf->ops[i])) != O_OK) {
			oc_val_fini(&cur);
			return e;
		}
	}
	if (tf->del) {
		oc_val_fini(&cur);
		have = false;
	}
	*out     = cur;
	*present = have;
	return O_OK;
}

static struct oc_val
op_to_val(const struct oc_op *op)
{
	struct oc_val a = oc_array();

	oc_arr_push(&a, oc_int(op->kind));
	oc_arr_push(&a, oc_text(op->field));
	oc_arr_push(&a, oc_int(op->index));
	oc_arr_push(&a, oc_int(op->del));
	oc_arr_push(&a, oc_val_dup(&op->ins));
	return a;
}

struct oc_val
oc_tf_to_val(const struct oc_tf *tf)
{
	struct oc_val a = oc_array(), ops = oc_array();
	size_t        i;

	oc_arr_push(&a, tf->insert ? oc_val_dup(tf->insert) : oc_null());
	for (i = 0; i < tf->nops; i++)
		oc_arr_push(&ops, op_to_val(&tf->ops[i]));
	oc_arr_push(&a, ops);
	oc_arr_push(&a, oc_bool(tf->del));
	return a;
}

static o_err
op_from_val(const struct oc_val *v, struct oc_op *op)
{
	const struct oc_val *k, *f, *ix, *dl;

	if (v->type != OC_ARRAY || v->u.a.n != 5)
		return o_err_set(O_EBADMSG, "op is not a 5-element array");
	k  = &v->u.a.v[0];
	f  = &v->u.a.v[1];
	ix = &v->u.a.v[2];
	dl = &v->u.a.v[3];
	if (k->type != OC_INT || (k->u.i != OC_OP_SPLICE && k->u.i != OC_OP_SET))
		return o_err_set(O_EBADMSG, "op kind is not SPLICE or SET");
	if (f->type != OC_TEXT || f->u.s.n == 0)
		return o_err_set(O_EBADMSG, "op field is not text");
	if (ix->type != OC_INT || ix->u.i < 0 || ix->u.i > UINT32_MAX ||
	    dl->type != OC_INT || dl->u.i < 0 || dl->u.i > UINT32_MAX)
		return o_err_set(O_EBADMSG, "op index/delete count invalid");
	if (k->u.i == OC_OP_SPLICE && v->u.a.v[4].type != OC_ARRAY)
		return o_err_set(O_EBADMSG, "splice op without an array");
	op->kind  = (uint8_t) k->u.i;
	op->field = o_strdup((const char *) f->u.s.p);
	op->index = (uint32_t) ix->u.i;
	op->del   = (uint32_t) dl->u.i;
	op->ins   = oc_val_dup(&v->u.a.v[4]);
	return O_OK;
}

o_err
oc_tf_from_val(const struct oc_val *v, struct oc_tf *out)
{
	const struct oc_val *ops;
	size_t               i;
	o_err                e;

	oc_tf_init(out);
	if (v->type != OC_ARRAY || v->u.a.n != 3 ||
	    v->u.a.v[1].type != OC_ARRAY || v->u.a.v[2].type != OC_BOOL)
		return o_err_set(O_EBADMSG,
		    "transform is not [insert, ops, deleted]");
	if (v->u.a.v[0].type != OC_NULL) {
		if ((e = oc_block_validate(&v->u.a.v[0])) != O_OK)
			return o_err_wrap(e, "transform insert");
		out->insert  = o_malloc(sizeof(struct oc_val));
		*out->insert = oc_val_dup(&v->u.a.v[0]);
	}
	ops = &v->u.a.v[1];
	for (i = 0; i < ops->u.a.n; i++) {
		struct oc_op op;

		if ((e = op_from_val(&ops->u.a.v[i], &op)) != O_OK) {
			oc_tf_fini(out);
			return e;
		}
		oc_tf_add_op(out, op);
	}
	out->del = v->u.a.v[2].u.b;
	return O_OK;
}

/* ---- transform sets ---------------------------------------------------- */

void
oc_tfs_init(struct oc_tfs *t)
{
	memset(t, 0, sizeof(*t));
}

void
oc_tfs_fini(struct oc_tfs *t)
{
	size_t i;

	for (i = 0; i < t->n; i++)
		oc_tf_fini(&t->e[i].tf);
	free(t->e);
	memset(t, 0, sizeof(*t));
}

void
oc_tfs_dup(struct oc_tfs *dst, const struct oc_tfs *src)
{
	size_t i;

	oc_tfs_init(dst);
	if (src->n == 0)
		return;
	dst->e   = o_malloc(sizeof(struct oc_tfs_ent) * src->n);
	dst->cap = dst->n = src->n;
	for (i = 0; i < src->n; i++) {
		dst->e[i].id = src->e[i].id;
		oc_tf_dup(&dst->e[i].tf, &src->e[i].tf);
	}
}

bool
oc_tfs_is_empty(const struct oc_tfs *t)
{
	size_t i;

	for (i = 0; i < t->n; i++)
		if (!oc_tf_is_empty(&t->e[i].tf))
			return false;
	return true;
}

static size_t
tfs_find(const struct oc_tfs *t, const struct oc_bid *id, bool *found)
{
	size_t lo = 0, hi = t->n;

	while (lo < hi) {
		size_t mid = (lo + hi) / 2;
		int    c   = oc_bid_cmp(&t->e[mid].id, id);

		if (c == 0) {
			*found = true;
			return mid;
		}
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	*found = false;
	return lo;
}

struct oc_tf *
oc_tfs_get(const struct oc_tfs *t, const struct oc_bid *id)
{
	bool   found;
	size_t i = tfs_find(t, id, &found);

	return found ? &t->e[i].tf : NULL;
}

struct oc_tf *
oc_tfs_ensure(struct oc_tfs *t, const struct oc_bid *id)
{
	bool   found;
	size_t i = tfs_find(t, id, &found);

	if (found)
		return &t->e[i].tf;
	if (t->n == t->cap) {
		t->cap = t->cap ? t->cap * 2 : 8;
		t->e   = o_realloc(t->e, t->cap * sizeof(struct oc_tfs_ent));
	}
	memmove(&t->e[i + 1], &t->e[i], (t->n - i) * sizeof(struct oc_tfs_ent));
	t->e[i].id = *id;
	oc_tf_init(&t->e[i].tf);
	t->n++;
	return &t->e[i].tf;
}

void
oc_tfs_remove(struct oc_tfs *t, const struct oc_bid *id)
{
	bool   found;
	size_t i = tfs_find(t, id, &found);

	if (!found)
		return;
	oc_tf_fini(&t->e[i].tf);
	memmove(&t->e[i], &t->e[i + 1], (t->n - i - 1) * sizeof(struct oc_tfs_ent));
	t->n--;
}

void
oc_tfs_insert(struct oc_tfs *t, struct oc_val blk)
{
	struct oc_bid id;
	struct oc_tf *tf;

	if (!oc_block_id(&blk, &id))
		abort(); /* a block without an id is a caller bug */
	tf = oc_tfs_ensure(t, &id);
	oc_tf_fini(tf);
	tf->insert  = o_malloc(sizeof(struct oc_val));
	*tf->insert = blk;
}

o_err
oc_tfs_update(struct oc_tfs *t, const struct oc_bid *id, struct oc_op op)
{
	struct oc_tf *tf = oc_tfs_ensure(t, id);
	o_err         e;

	if (tf->insert != NULL) {
		e = oc_op_apply(tf->insert, &op);
		oc_op_fini(&op);
		return e;
	}
	if (tf->del) {
		char s[OC_BID_STRLEN];

		oc_op_fini(&op);
		return o_err_set(O_ENOBASE, "update of deleted block %s",
		    oc_bid_str(id, s));
	}
	oc_tf_add_op(tf, op);
	return O_OK;
}

void
oc_tfs_delete(struct oc_tfs *t, const struct oc_bid *id)
{
	struct oc_tf *tf = oc_tfs_ensure(t, id);

	oc_tf_fini(tf);
	tf->del = true;
}

void
oc_tfs_merge(struct oc_tfs *dst, const struct oc_tfs *src)
{
	size_t i;

	for (i = 0; i < src->n; i++)
		oc_tf_merge(oc_tfs_ensure(dst, &src->e[i].id), &src->e[i].tf);
}

struct oc_val
oc_tfs_to_val(const struct oc_tfs *t)
{
	struct oc_val a = oc_array();
	size_t        i;

	for (i = 0; i < t->n; i++) {
		struct oc_val p = oc_array();

		oc_arr_push(&p, oc_bid_val(&t->e[i].id));
		oc_arr_push(&p, oc_tf_to_val(&t->e[i].tf));
		oc_arr_push(&a, p);
	}
	return a;
}

o_err
oc_tfs_from_val(const struct oc_val *v, struct oc_tfs *out)
{
	size_t i;
	o_err  e;

	oc_tfs_init(out);
	if (v->type != OC_ARRAY)
		return o_err_set(O_EBADMSG, "transform set is not an array");
	for (i = 0; i < v->u.a.n; i++) {
		const struct oc_val *p = &v->u.a.v[i];
		struct oc_bid        id, bid;
		struct oc_tf        *tf;

		if (p->type != OC_ARRAY || p->u.a.n != 2 ||
		    !oc_bid_from(&p->u.a.v[0], &id)) {
			oc_tfs_fini(out);
			return o_err_set(O_EBADMSG,
			    "transform set entry %zu is not [id, transform]", i);
		}
		if (i > 0 && oc_bid_cmp(&out->e[out->n - 1].id, &id) >= 0) {
			oc_tfs_fini(out);
			return o_err_set(O_EBADMSG,
			    "transform set ids not ascending at entry %zu", i);
		}
		tf = oc_tfs_ensure(out, &id);
		if ((e = oc_tf_from_val(&p->u.a.v[1], tf)) != O_OK) {
			oc_tfs_fini(out);
			return e;
		}
		/* an insert is stored under its own id: it must be this one */
		if (tf->insert != NULL && (!oc_block_id(tf->insert, &bid) ||
		                              !oc_bid_eq(&bid, &id))) {
			oc_tfs_fini(out);
			return o_err_set(O_EBADMSG,
			    "transform set entry %zu inserts a block with "
			    "another id",
			    i);
		}
	}
	return O_OK;
}
