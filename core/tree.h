/*
 * tree.h - an ordered key/value collection (DESIGN.md section 2 "Tree").
 *
 * The collection header (type "TRE") doubles as the B+tree trunk; keys are
 * byte strings in bytewise order.  Action:
 *
 *   field  CBOR    meaning
 *   "t"    text    "replace"
 *   "kv"   array   [[key(bytes), value]...] applied in order; value is
 *                  bytes (at most OC_INLINE_MAX), a chunk reference
 *                  {"chunks": [...], "len": n} for larger values, or null
 *                  to delete the key
 *   "new"  array   optional: keys (bytes) this action creates; they were
 *                  absent when it was taken
 *   "o"    array   optional: [[key, id(bytes)]...] the object each put's
 *                  value names (the caller's notion: a directory entry's
 *                  object), so that rivals' conditions can follow it
 *   "if"   array   optional: [[key, id]...] conditions: the action is kept
 *                  only while each key still names its object in what
 *                  rivals committed since it was taken (a key may be
 *                  named here only, a read the action relies on; an
 *                  action of conditions only has an empty "kv")
 *   "fw"   bool    optional, with one "if" and one put at its key: when a
 *                  rival moved the object to another key of this tree,
 *                  the action follows it there instead of being dropped
 *   "ln"   bytes   optional: a link (collection.h): dropping this action
 *                  drops the actions of other collections with that link
 *   "rt"   bool    optional: a retirement (oc_tree_retire): its one pair
 *                  puts OC_TREE_RETIRED; it is dropped when a rival put
 *                  any key since it was taken (the tree, empty when it
 *                  was taken, is not any more), and any other action is
 *                  dropped when a rival retired the tree
 *
 * A replace applies all its pairs or none.  Concurrent writers rebase by
 * replaying their actions on the winner's state: the last committed write
 * of a key wins, except that an action naming keys in "new" is dropped
 * (never committed) when a rival committed a value under one of them
 * since: of two concurrent creations of one key exactly one commits (the
 * conflict filter, tree_filter); and that an action whose condition
 * ("if") a rival broke, by deleting the key or putting under it a value
 * whose "o" names another object, is dropped (or, "fw", follows the
 * object to the key a rival's put named it under).  A rival put without
 * "o" for the key (an older build) breaks no condition.  Thread-safe
 * (collection latch).
 */
#ifndef OC_TREE_H
#define OC_TREE_H

#include "core/collection.h"

extern const struct oc_coll_type oc_tree_type;

struct oc_tree_kv {
	const void *key;
	size_t      klen;
	const void *val; /* NULL with del */
	size_t      vlen;
	bool        del;
	bool        excl; /* a creation: listed in "new" (not with del) */
	const struct oc_bid *obj; /* a put: the object its value names ("o") */
	const struct oc_bid
	    *cond;   /* kept while key names this object ("if") */
	bool follow; /* with cond on a put: "fw" */
	bool check;  /* with cond: only the condition, key is not written
	              * (a read the action relies on, e.g. a directory on
	              * the way to a rename's target) */
};

o_err oc_tree_open(struct oc_transactor *tx, const struct oc_bid *id,
    bool create, const struct oc_sync_opts *opts, struct oc_collection **out);
/* Stage one replace action (all pairs or none). */
o_err oc_tree_replace(struct oc_collection *c, const struct oc_tree_kv *kv,
    size_t n);
/* oc_tree_replace with a link ("ln", collection.h; NULL: none). */
o_err oc_tree_replace_linked(struct oc_collection *c,
    const struct oc_tree_kv *kv, size_t n, const struct oc_aid *link);
/*
 * A namespace's "rmdir" of the tree, which the caller found empty: puts
 * OC_TREE_RETIRED (a key no file name can be), as action "rt" (above)
 * with link (NULL: none), so that of a retirement and a rival's put
 * committed at the same time exactly one is kept, and nothing is put into
 * a tree retired meanwhile by a rebase.  A put applied over a retirement
 * already held (no rebase) is not refused: callers check oc_tree_retired
 * after their commit.
 */
#define OC_TREE_RETIRED "/"
o_err oc_tree_retire(struct oc_collection *c, const struct oc_aid *link);
/* Whether the tree holds OC_TREE_RETIRED (local changes included). */
o_err oc_tree_retired(struct oc_collection *c, bool *retired);
o_err oc_tree_put(struct oc_collection *c, const void *key, size_t klen,
    const void *val, size_t vlen);
o_err oc_tree_del(struct oc_collection *c, const void *key, size_t klen);
/* Put key, which the caller found absent, as a creation ("new"): if a
 * rival commits key first, the action is dropped at the rebase and the
 * key keeps the rival's value.  After the next sync, oc_tree_get tells
 * which creation won. */
o_err oc_tree_create(struct oc_collection *c, const void *key, size_t klen,
    const void *val, size_t vlen);
/* Value of key, local staged changes included (appended to *val). */
o_err oc_tree_get(struct oc_collection *c, const void *key, size_t klen,
    struct o_buf *val, bool *found);
/*
 * As oc_tree_get, but only ever at the collection's held revision: when the
 * store no longer keeps that revision's blocks the collection is brought
 * up to date and the answer is O_ESTALE (*val unchanged), so a caller that
 * cached what it read at the held revision (a file's size and other
 * pieces) knows to forget it before reading again.  oc_tree_get instead
 * reads again at the new revision.
 */
o_err oc_tree_get_held(struct oc_collection *c, const void *key, size_t klen,
    struct o_buf *val, bool *found);
/* Number of entries, local changes included: a walk of every leaf the
 * first time, then a running total (oc_coll_count). */
o_err oc_tree_count(struct oc_collection *c, uint64_t *n);
o_err oc_tree_check(struct oc_collection *c);

typedef int (*oc_tree_cb)(void *arg, const uint8_t *key, size_t klen,
    const uint8_t *val, size_t vlen);
/* Ordered visit from start (NULL: first/last); nonzero from cb stops. */
o_err oc_tree_scan(struct oc_collection *c, const void *start, size_t slen,
    bool inclusive, bool forward, oc_tree_cb cb, void *arg);
/* As oc_tree_scan, at the held revision only (O_ESTALE as for
 * oc_tree_get_held; cb may have been called before). */
o_err oc_tree_scan_held(struct oc_collection *c, const void *start,
    size_t slen, bool inclusive, bool forward, oc_tree_cb cb, void *arg);

#endif /* OC_TREE_H */
