/*
 * transform.h - block operations and transforms.
 *
 * An operation changes one top-level field of a block:
 *   SPLICE  field[index .. index+del) is replaced by the items of `ins`
 *           (an OC_ARRAY); the field must already be an array.
 *   SET     field = ins; an OC_NULL `ins` removes the field (null and
 *           absent are the same thing).
 * A per-block transform is: an optional whole-block insert, then an ordered
 * list of operations, then an optional delete.  A transform set maps block
 * ids to per-block transforms, kept sorted by id (deterministic encoding).
 *
 * Wire/disk form (deterministic CBOR):
 *   op        [kind(0=SPLICE,1=SET), field(text), index, del, ins]
 *   transform [insert-block | null, [op...], deleted(bool)]
 *   set       [[bid(bytes32), transform]...]  (ascending bid)
 *
 * Ownership as in val.h: by-value arguments are moved.  Nothing locks.
 */
#ifndef OC_TRANSFORM_H
#define OC_TRANSFORM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/block.h"
#include "core/o_err.h"
#include "core/val.h"

enum oc_opkind { OC_OP_SPLICE = 0, OC_OP_SET = 1 };

struct oc_op {
	uint8_t       kind; /* enum oc_opkind */
	char         *field;
	uint32_t      index;
	uint32_t      del;
	struct oc_val ins; /* SPLICE: OC_ARRAY of new items; SET: new value */
};

struct oc_tf {
	struct oc_val *insert; /* NULL: no insert */
	struct oc_op  *ops;
	size_t         nops, cap;
	bool           del;
};

struct oc_tfs_ent {
	struct oc_bid id;
	struct oc_tf  tf;
};

struct oc_tfs {
	struct oc_tfs_ent *e; /* sorted by id */
	size_t             n, cap;
};

/* Operations. */
struct oc_op oc_op_splice(const char *field, uint32_t index, uint32_t del,
    struct oc_val ins /* OC_ARRAY, moved */);
struct oc_op oc_op_set(const char *field, struct oc_val v /* moved */);
struct oc_op oc_op_dup(const struct oc_op *op);
void         oc_op_fini(struct oc_op *op);
/* Apply in place. O_EBADMSG when the op does not fit the block. */
o_err oc_op_apply(struct oc_val *blk, const struct oc_op *op);
/* The same, adding to *dbytes what it added to oc_val_footprint(blk)
 * (negative: took away), known from the op and the field it changes: a
 * cache keeps a large block's footprint without walking it. */
o_err oc_op_apply_sized(
    struct oc_val *blk, const struct oc_op *op, int64_t *dbytes);

/* Per-block transforms. */
void  oc_tf_init(struct oc_tf *tf);
void  oc_tf_fini(struct oc_tf *tf);
void  oc_tf_dup(struct oc_tf *dst, const struct oc_tf *src);
void  oc_tf_add_op(struct oc_tf *tf, struct oc_op op /* moved */);
bool  oc_tf_is_empty(const struct oc_tf *tf);
/* b after a, into a. */
void  oc_tf_merge(struct oc_tf *a, const struct oc_tf *b);
/*
 * Apply tf to base (NULL = absent).  On success *out holds the result and
 * *present says whether the block exists afterwards.  Operations over an
 * absent base are refused with O_ENOBASE (never silently dropped).
 */
o_err oc_tf_apply(const struct oc_val *base, const struct oc_tf *tf,
    struct oc_val *out, bool *present);

/*
 * Apply tf to blk in place, remembering in *undo what changed, so that a
 * caller can change a cached block without copying it first: it then
 * either keeps the change (oc_undo_fini) or puts the block back exactly
 * as it was (oc_undo_revert, which also frees *undo).  Only for a
 * transform without insert or delete, on a present block.  On an error
 * blk is as it was and *undo is empty.  undo->dbytes: what the change
 * added to oc_val_footprint(blk) (as oc_op_apply_sized).
 */
struct oc_undo_op;
struct oc_undo {
	struct oc_undo_op *u;
	size_t             n;
	int64_t            dbytes;
};
o_err oc_tf_apply_in_place(
    struct oc_val *blk, const struct oc_tf *tf, struct oc_undo *undo);
void          oc_undo_revert(struct oc_val *blk, struct oc_undo *undo);
void          oc_undo_fini(struct oc_undo *undo);
struct oc_val oc_tf_to_val(const struct oc_tf *tf);
o_err         oc_tf_from_val(const struct oc_val *v, struct oc_tf *out);

/* Transform sets. */
void          oc_tfs_init(struct oc_tfs *t);
void          oc_tfs_fini(struct oc_tfs *t);
void          oc_tfs_dup(struct oc_tfs *dst, const struct oc_tfs *src);
bool          oc_tfs_is_empty(const struct oc_tfs *t);
struct oc_tf *oc_tfs_get(const struct oc_tfs *t, const struct oc_bid *id);
/* Get or create the (empty) entry for id. */
struct oc_tf *oc_tfs_ensure(struct oc_tfs *t, const struct oc_bid *id);
void          oc_tfs_remove(struct oc_tfs *t, const struct oc_bid *id);
/* Tracker-style staging: see tracker semantics in bstore.h. */
void oc_tfs_insert(struct oc_tfs *t, struct oc_val blk /* moved */);
o_err oc_tfs_update(struct oc_tfs *t, const struct oc_bid *id,
    struct oc_op op /* moved */);
void oc_tfs_delete(struct oc_tfs *t, const struct oc_bid *id);
/* dst = dst then src: updates concatenate, inserts/deletes of src win. */
void oc_tfs_merge(struct oc_tfs *dst, const struct oc_tfs *src);
struct oc_val oc_tfs_to_val(const struct oc_tfs *t);
o_err         oc_tfs_from_val(const struct oc_val *v, struct oc_tfs *out);

#endif /* OC_TRANSFORM_H */
