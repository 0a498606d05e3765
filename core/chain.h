/*
 * chain.h - a doubly linked chain of data blocks, 32 entries per block.
 *
 * The chain's header fields live in an existing block (for collections, the
 * collection header):
 *
 *   header field  CBOR     meaning
 *   "head"        bytes32  first data block
 *   "tail"        bytes32  last data block (readers also follow "next")
 *
 *   data field    CBOR     meaning
 *   "entries"     array    up to OC_CHAIN_PER_BLOCK entries, oldest first
 *   "prior"       bytes32  previous block toward the head (absent on head)
 *   "next"        bytes32  next block toward the tail (absent on tail)
 *
 * A chain always owns at least one data block; the last one is emptied,
 * never deleted.  All changes go through the store (oc_bstore_apply), so a
 * tracker records them as a transform set.  Not thread-safe by itself.
 */
#ifndef OC_CHAIN_H
#define OC_CHAIN_H

#include "core/bstore.h"

#define OC_CHAIN_PER_BLOCK 32

struct oc_chain;

/*
 * Called when add() creates a data block `nb` after `pred` (pred in its
 * final state, before its "next" is set).  The log computes priorHash here.
 */
typedef o_err (*oc_chain_hook)(struct oc_chain *c, struct oc_val *nb,
    const struct oc_val *pred);

struct oc_chain {
	struct oc_bstore *s;
	struct oc_bid     header;
	struct oc_bid     col;
	const char       *dtype; /* data block type code */
	oc_chain_hook     new_block;
	/* If set, the id add() gives the first block it creates (cleared). */
	bool              has_hint;
	struct oc_bid     next_hint;
};

/* A position: block and entry index (-1 in an empty block). */
struct oc_chain_path {
	struct oc_bid blk;
	int64_t       idx;
};

/* Add head/tail and a first empty data block to the existing header. */
o_err oc_chain_create(struct oc_chain *c, struct oc_bstore *s,
    const struct oc_bid *header, const char *dtype, oc_chain_hook hook);
/* Open; O_ENOTFOUND if the header is absent, O_ECORRUPT if it lacks
 * head/tail. */
o_err oc_chain_open(struct oc_chain *c, struct oc_bstore *s,
    const struct oc_bid *header, const char *dtype, oc_chain_hook hook);

/* Tail / head positions and a copy of that block (blk may be NULL). */
o_err oc_chain_tail(struct oc_chain *c, struct oc_chain_path *p,
    struct oc_val *blk);
o_err oc_chain_head(struct oc_chain *c, struct oc_chain_path *p,
    struct oc_val *blk);
/*
 * The tail's position, borrowing each block on the way (oc_bstore_peek)
 * instead of copying it; *last (may be NULL) points at the tail block's
 * last entry, NULL when that block is empty.  It is valid until the next
 * call on the chain's store, as oc_bstore_peek's blocks are, and until
 * *tmp, the caller's scratch (OC_NULL on entry), is fini'd by the caller.
 * Store under the caller's latch, as for oc_bstore_peek.
 */
o_err oc_chain_tail_peek(struct oc_chain *c, struct oc_chain_path *p,
    struct oc_val *tmp, const struct oc_val **last);

/* Append n entries (moved).  *last (may be NULL) = path of the last one. */
o_err oc_chain_add(struct oc_chain *c, struct oc_val *entries, size_t n,
    struct oc_chain_path *last);
/* Replace the entry at p. */
o_err oc_chain_update_at(struct oc_chain *c, const struct oc_chain_path *p,
    struct oc_val entry);
/* Remove up to n entries from the tail / head; *out = OC_ARRAY of the
 * removed entries in chain order (oldest first). */
o_err oc_chain_pop(struct oc_chain *c, size_t n, struct oc_val *out);
o_err oc_chain_dequeue(struct oc_chain *c, size_t n, struct oc_val *out);

/*
 * Iteration from start (inclusive; NULL = head when forward, tail when
 * backward).  next() yields a pointer into the iterator's copy of the
 * current block, valid until the next call.
 *
 * oc_chain_iter_init_borrowed() iterates over the blocks the store lends
 * (oc_bstore_peek) instead of copies, which saves copying a whole block
 * to look at its last few entries.  The entry next() yields is then valid
 * only until the next call on the store, from any thread: the caller
 * holds what serialises the store's users (a collection's latch) and
 * calls nothing else on the store while it iterates.
 */
struct oc_chain_iter {
	struct oc_chain     *c;
	struct oc_val        blk; /* the copy, or a borrowed miss's scratch */
	const struct oc_val *cur; /* the current block: &blk or borrowed */
	int64_t              idx;
	bool                 forward;
	bool                 borrow;
};

o_err oc_chain_iter_init(struct oc_chain_iter *it, struct oc_chain *c,
    const struct oc_chain_path *start, bool forward);
o_err oc_chain_iter_init_borrowed(struct oc_chain_iter *it, struct oc_chain *c,
    const struct oc_chain_path *start, bool forward);
o_err oc_chain_iter_next(struct oc_chain_iter *it, const struct oc_val **ent,
    struct oc_chain_path *pos, bool *done);
void  oc_chain_iter_fini(struct oc_chain_iter *it);

#endif /* OC_CHAIN_H */
