/*
 * btree.h - the B+tree of Tree collections: ordered byte-string keys to
 * arbitrary values, stored as blocks in a struct oc_bstore.
 *
 * Entries live in leaves only; branches hold partitions and child ids.  The
 * tree never writes blocks behind the store's back: new nodes go through
 * oc_bstore_insert(), changes through oc_bstore_apply() with small SPLICE
 * ops, removed nodes through oc_bstore_del(), so a Tracker under the tree
 * records exactly one transform set per mutation.  Each put/del runs in its
 * own atomic scope over the store, so a failed mutation stages nothing.
 *
 * Block formats (CBOR field tables; header fields id/type/col: block.h):
 *
 *   Trunk (any existing block, for Tree collections the "TRE" header)
 *   field     CBOR     meaning
 *   "root"    bytes32  id of the root node (a leaf or a branch)
 *   "fanout"  int      max entries per leaf and max children per branch,
 *                      4..1024 (default 64); persisted, never assumed
 *   "cmp"     text     key order; only "bytes" (oc_bytes_cmp: bytewise,
 *                      then shorter first) is defined
 *
 *   Leaf, type "TL" (OC_BT_LEAF)
 *   "entries" array    [key(bytes), value(any)] pairs, strictly ascending
 *                      by key; 1..fanout pairs (the root leaf may be empty)
 *
 * Leaves split by weight as well as by count: an insert splits a leaf that
 * holds at least OC_BTREE_LEAF_SPLIT_MIN entries when they would weigh
 * more than OC_BTREE_LEAF_BYTES (weight: about their CBOR size).  Each
 * commit rewrites (and syncs) every leaf it changes, so a leaf's size is
 * the cost of a one-entry write; entries hold small files' bytes (up to 8
 * KiB each before they go to chunks), and 64 of them would make a leaf of
 * up to 512 KiB.  A replace that takes a leaf of more than
 * OC_BTREE_LEAF_SPLIT_MIN entries past the weight splits it the same way.
 *
 *   Branch, type "TB" (OC_BT_BRANCH)
 *   "parts"   array    keys (bytes), strictly ascending
 *   "nodes"   array    child ids (bytes32), len(nodes) = len(parts) + 1
 *
 * Invariants (oc_btree_check): every key under nodes[i] lies in
 * [parts[i-1], parts[i]) (open ends at the edges, narrowed by the
 * ancestors' bounds); a partition is the lowest key of its right subtree
 * when it is made, and may fall below it after deletes (bounds, not equality,
 * are the invariant).  Non-root branches hold fanout/2 .. fanout children
 * and a root branch at least 2; non-root leaves hold 1 .. fanout entries
 * (a delete keeps them at fanout/2 or half of OC_BTREE_LEAF_BYTES where
 * it can, but splits and merges by weight can leave fewer); all leaves are
 * at the same depth.  Every node's "col" is the trunk's "col".
 *
 * Threading: a struct oc_btree is used by one thread at a time, like the
 * store under it.  Nothing here blocks except through the store.
 */
#ifndef OC_BTREE_H
#define OC_BTREE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/block.h"
#include "core/bstore.h"
#include "core/o_err.h"
#include "core/val.h"

#define OC_BTREE_FANOUT 64
#define OC_BTREE_FANOUT_MIN 4
#define OC_BTREE_FANOUT_MAX 1024
/* A leaf splits past LEAF_BYTES once it holds LEAF_SPLIT_MIN entries
 * and an insert adds one, or more than LEAF_SPLIT_MIN and a replace grows
 * one (either way each half gets at least 2). */
#define OC_BTREE_LEAF_BYTES (8u << 10)
#define OC_BTREE_LEAF_SPLIT_MIN 4
/* Longest key accepted by oc_btree_put (bounds the size of a branch). */
#define OC_BTREE_KEY_MAX 1024
/* Deepest tree we walk; deeper means a cycle or corruption (O_ECORRUPT). */
#define OC_BTREE_MAXDEPTH 32

/* Trunk field names and the one comparator. */
#define OC_BTREE_F_ROOT "root"
#define OC_BTREE_F_FANOUT "fanout"
#define OC_BTREE_F_CMP "cmp"
#define OC_BTREE_CMP_BYTES "bytes"

/*
 * A handle on one tree.  Filled by oc_btree_open(); holds no memory, so
 * there is nothing to close.  The root id is re-read from the trunk by every
 * operation, so handles on the same store see each other's changes.
 */
struct oc_btree {
	struct oc_bstore *s;     /* not owned; outlives the handle */
	struct oc_bid     trunk; /* block holding root/fanout/cmp */
	struct oc_bid     col;   /* the trunk's "col", given to new nodes */
	int               fanout;
	uint64_t version; /* bumped by each put/del; iterators check it */
};

/*
 * Initialise a tree on the existing block *trunk: insert an empty root leaf
 * and SET "root", "fanout" and "cmp" on the trunk, in one atomic scope.
 * fanout is 4..1024 (else O_EINVAL).  O_ENOTFOUND when the trunk does not
 * exist, O_EBADMSG when it has no valid "col", O_EEXIST when it already
 * carries a "root"; store errors are passed through.
 */
o_err oc_btree_create(
    struct oc_bstore *s, const struct oc_bid *trunk, int fanout);

/*
 * Open the tree rooted in *trunk: read the trunk and validate its fields.
 * O_ENOTFOUND (with detail) when the trunk is absent or carries no "root";
 * O_EBADMSG when root, fanout, cmp or col are missing, wrongly typed or out
 * of range.  s is borrowed for the life of *bt.
 */
o_err oc_btree_open(
    struct oc_btree *bt, struct oc_bstore *s, const struct oc_bid *trunk);

/*
 * Point lookup.  *found says whether key is present; if so and val is not
 * NULL, *val receives a copy of the value (caller frees), else *val is left
 * OC_NULL.  Store errors are returned; a malformed node gives O_ECORRUPT.
 */
o_err oc_btree_get(struct oc_btree *bt, const void *key, size_t klen,
    struct oc_val *val, bool *found);

/*
 * Insert or replace key -> val.  val is moved in all cases (freed on
 * error).  *replaced (may be NULL) says whether the key existed.  Splits
 * full nodes (a leaf also by weight, above) on the way up; a root split
 * makes a new branch root.  Keys longer than OC_BTREE_KEY_MAX give
 * O_ETOOBIG.  On error nothing is staged in the store.
 */
o_err oc_btree_put(struct oc_btree *bt, const void *key, size_t klen,
    struct oc_val val, bool *replaced);

/*
 * Remove key.  *existed (may be NULL) says whether it was present.  A
 * node left thin (below fanout/2 items, and a leaf also below half of
 * OC_BTREE_LEAF_BYTES) borrows from its right sibling, else its left, else
 * merges into a sibling unless two leaves would weigh more than 3/4 of
 * OC_BTREE_LEAF_BYTES; a root branch left with one child is replaced by
 * that child.  On error nothing is staged in the store.
 */
o_err oc_btree_del(
    struct oc_btree *bt, const void *key, size_t klen, bool *existed);

/*
 * Put key -> val, or remove key when val is OC_NULL, in one walk, and hand
 * back what was there: *old gets a copy of the replaced or removed value
 * (OC_NULL when the key was absent, and on error), *found whether the key
 * existed.  val is moved in all cases.  Errors as put and del; on error
 * nothing is staged.
 */
o_err oc_btree_swap(struct oc_btree *bt, const void *key, size_t klen,
    struct oc_val val, struct oc_val *old, bool *found);

/* Number of entries (walks every leaf). */
o_err oc_btree_count(struct oc_btree *bt, uint64_t *n);

/* Shape of a tree, as measured by oc_btree_check_stats(). */
struct oc_btree_stats {
	uint64_t entries;
	uint64_t leaves;
	uint64_t branches;
	uint64_t leaf_min; /* fewest entries in a non-root leaf (0: none) */
	int      depth;    /* 1 = the root is a leaf */
};

/*
 * Walk the whole tree and check every invariant listed at the top of this
 * file, plus node shapes, ids and collection fields, and that no node is
 * reachable twice.  O_ECORRUPT with a detail naming the block on the first
 * violation (a referenced node that does not exist is corruption too);
 * store errors are passed through.  st (may be NULL) receives the shape.
 */
o_err oc_btree_check_stats(struct oc_btree *bt, struct oc_btree_stats *st);
o_err oc_btree_check(struct oc_btree *bt);

/*
 * Ordered iteration.  The iterator holds copies of the nodes on its path
 * (no sibling links exist), so it lives on the caller's stack; fields are
 * private.  Any put/del through the same handle invalidates it: the next
 * oc_btree_iter_next() returns O_EINVAL.  Changes made through another
 * handle are not detected; re-create the iterator after them.
 */
struct oc_btree_iter {
	struct oc_btree *bt;
	uint64_t         version;
	int              depth; /* levels held in blk[] */
	bool             forward;
	bool             done;
	o_err            err; /* sticky */
	int64_t          pos; /* next entry of the leaf to yield */
	bool             have_last;
	uint8_t         *last; /* copy of the last key yielded (owned) */
	size_t           lastlen, lastcap;
	size_t           ci[OC_BTREE_MAXDEPTH];  /* child taken per branch */
	struct oc_val    blk[OC_BTREE_MAXDEPTH]; /* node copies, root first */
};

/*
 * Position *it on bt.  start NULL: from the first (forward) or last
 * (backward) entry.  Otherwise from the first entry >= start (forward,
 * inclusive), > start (forward, exclusive), <= start (backward, inclusive)
 * or < start (backward, exclusive); start need not be present.  On error
 * *it holds nothing (oc_btree_iter_fini() is still harmless).
 */
o_err oc_btree_iter_init(struct oc_btree_iter *it, struct oc_btree *bt,
    const void *start, size_t slen, bool inclusive, bool forward);

/*
 * Yield the next entry.  *done true at the end (key/val untouched).
 * *key and *val point into the iterator and stay valid until the next call or
 * fini.  Errors (store, O_ECORRUPT, O_EINVAL when stale) are sticky.
 */
o_err oc_btree_iter_next(struct oc_btree_iter *it, bool *done,
    const uint8_t **key, size_t *klen, const struct oc_val **val);

/* Release the node copies; afterwards only _init may use *it.  Idempotent. */
void oc_btree_iter_fini(struct oc_btree_iter *it);

#endif /* OC_BTREE_H */
