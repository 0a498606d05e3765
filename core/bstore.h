/*
 * bstore.h - block sources and stores, the tracker, atomic scopes, and the
 * LRU block cache.
 *
 * struct oc_bstore is a small vtable.  get() returns a private copy of the
 * block (the caller owns *out and may mutate it); *found false means the
 * block authoritatively does not exist, while an error (O_EUNAVAIL) means
 * the source could not find out - never conflate the two.  Read-only sources
 * leave insert/update/del NULL.
 *
 * Data structures (chain, log, B+tree) mutate blocks only through a store:
 * they read a block, apply an op to their copy with oc_bstore_apply(), which
 * also records the op in the store.
 */
#ifndef OC_BSTORE_H
#define OC_BSTORE_H

#include <pthread.h>
#include <stdbool.h>

#include "core/block.h"
#include "core/transform.h"

struct oc_bstore;

struct oc_bstore_ops {
	o_err (*get)(struct oc_bstore *s, const struct oc_bid *id,
	    struct oc_val *out, bool *found);
	o_err (*insert)(struct oc_bstore *s, struct oc_val blk /* moved */);
	o_err (*update)(struct oc_bstore *s, const struct oc_bid *id,
	    struct oc_op op /* moved */);
	o_err (*del)(struct oc_bstore *s, const struct oc_bid *id);
	/* Optional (NULL: get into tmp): see oc_bstore_peek. */
	o_err (*peek)(struct oc_bstore *s, const struct oc_bid *id,
	    struct oc_val *tmp, const struct oc_val **out, bool *found);
	/* Optional (NULL: get, revision 0): see oc_bstore_get_rev. */
	o_err (*get_rev)(struct oc_bstore *s, const struct oc_bid *id,
	    struct oc_val *out, bool *found, int64_t *rev);
};

struct oc_bstore {
	const struct oc_bstore_ops *ops;
};

static inline o_err
oc_bstore_get(struct oc_bstore *s, const struct oc_bid *id, struct oc_val *out,
    bool *found)
{
	return s->ops->get(s, id, out, found);
}

/* get, and the committed revision the block is at (0: not known). */
static inline o_err
oc_bstore_get_rev(struct oc_bstore *s, const struct oc_bid *id,
    struct oc_val *out, bool *found, int64_t *rev)
{
	*rev = 0;
	if (s->ops->get_rev != NULL)
		return s->ops->get_rev(s, id, out, found, rev);
	return s->ops->get(s, id, out, found);
}

static inline o_err
oc_bstore_insert(struct oc_bstore *s, struct oc_val blk)
{
	return s->ops->insert(s, blk);
}

static inline o_err
oc_bstore_update(struct oc_bstore *s, const struct oc_bid *id, struct oc_op op)
{
	return s->ops->update(s, id, op);
}

static inline o_err
oc_bstore_del(struct oc_bstore *s, const struct oc_bid *id)
{
	return s->ops->del(s, id);
}

/*
 * Like get, but *out points at a block the store keeps instead of a copy:
 * read-only, and valid only until the next call on s or on any store under
 * it (from any thread: users of a shared cache must serialise; a
 * collection's latch does).  The stores of this file (tracker, cache,
 * memory store) lend their blocks; others are read with get into *tmp,
 * the caller's scratch (OC_NULL on entry; the caller finis it), and *out
 * points there, as it may for a block a tracker has to materialise.
 * Absent: *out NULL, *found false.  For read paths that look at one node
 * at a time (B+tree lookups).
 */
o_err oc_bstore_peek(struct oc_bstore *s, const struct oc_bid *id,
    struct oc_val *tmp, const struct oc_val **out, bool *found);
/* get() that turns "absent" into O_ENOTFOUND naming the block. */
o_err oc_bstore_need(
    struct oc_bstore *s, const struct oc_bid *id, struct oc_val *out);
/* oc_bstore_peek() that turns "absent" into O_ENOTFOUND naming the block;
 * *tmp may hold an earlier peek's block (it is finied first). */
o_err oc_bstore_peek_need(struct oc_bstore *s, const struct oc_bid *id,
    struct oc_val *tmp, const struct oc_val **out);
/* Apply op to the caller's copy *blk and record it in s (op moved). */
o_err oc_bstore_apply(
    struct oc_bstore *s, struct oc_val *blk, struct oc_op op);

/*
 * Tracker: a store that records changes as a transform set over a source,
 * leaving the source untouched; reads see the staged changes applied.
 *   insert(b)     stage b as a whole-block insert (clears a staged delete)
 *   update(id,op) fold into the staged insert if any, else append the op
 *   del(id)       drop staged insert/ops, stage a delete
 */
struct oc_tracker {
	struct oc_bstore  base;
	struct oc_bstore *src;
	struct oc_tfs     tfs;
	struct oc_tfs    *memo;  /* NULL: off; see oc_tracker_memo_on */
	bool              fresh; /* see oc_tracker_fresh_on */
};

void oc_tracker_init(struct oc_tracker *t, struct oc_bstore *src);
/* init with a copy of tfs */
void oc_tracker_init_with(
    struct oc_tracker *t, struct oc_bstore *src, const struct oc_tfs *tfs);
void oc_tracker_fini(struct oc_tracker *t);
/* Move the staged transforms to *old (may be NULL: discarded); empty t. */
void oc_tracker_reset(struct oc_tracker *t, struct oc_tfs *old);
/*
 * Keep the blocks read through t whose staged transform is a list of ops,
 * materialised, and apply later ops to them too, so a block with k staged
 * ops costs one copy per read instead of a copy of the source's block plus
 * k ops.  Only sound while the source's version of such a block does not
 * change behind t: the owner must unstage (or reset) a block whose source
 * changed.  Off by default; reset and fini drop the memo.
 */
void oc_tracker_memo_on(struct oc_tracker *t);
/*
 * Declare that every block inserted into t, or into an atomic scope over
 * it, is a new block (random id, never reused): deleting a block whose
 * insert t holds then cancels both, instead of staging a delete of a block
 * that never existed (which a store refuses: no base).  Off by default.
 */
void oc_tracker_fresh_on(struct oc_tracker *t);
/* Drop whatever is staged for id (and its memo). */
void oc_tracker_unstage(struct oc_tracker *t, const struct oc_bid *id);
/* Does any staged block appear in ids? */
bool oc_tracker_conflicts(
    const struct oc_tracker *t, const struct oc_bid *ids, size_t n);

/*
 * Replay a transform set into a store: deletes, then inserts, then updates.
 * Used by atomic scopes and to fold committed transforms into caches.
 */
o_err oc_tfs_replay(const struct oc_tfs *tfs, struct oc_bstore *dst);

/*
 * Atomic scope: a tracker over a parent store.  commit() replays the
 * staged changes into the parent all at once; abort() discards them.
 * Both end the scope (fini).
 */
void  oc_atomic_begin(struct oc_tracker *a, struct oc_bstore *parent);
o_err oc_atomic_commit(struct oc_tracker *a);
void  oc_atomic_abort(struct oc_tracker *a);

/*
 * Cache: LRU of committed blocks in front of a read-only source, bounded
 * by max_entries and by OC_CACHE_MAX_BYTES of (approximate) block memory
 * when entries are added; the newest entry always stays, and a commit
 * folded in (oc_cache_apply) may exceed the bytes until the next add.  Hits return copies (byte strings are
 * shared, not copied); absent answers are not cached.  Each entry remembers
 * the revision its content is at: the source's (oc_bstore_get_rev; 0 if it
 * does not tell), or the one oc_cache_apply folded in.  Internally locked; safe to
 * share between threads.
 */
struct oc_cache;

#define OC_CACHE_MAX_BYTES (16u << 20)

struct oc_cache  *oc_cache_alloc(struct oc_bstore *src, size_t max_entries);
void              oc_cache_free(struct oc_cache *c);
/* Never keep blocks of this type (OC_BT_*, a static string): reads of
 * them go to the source, committed inserts of them are not kept.  Call
 * before the cache is used. */
void              oc_cache_skip_type(struct oc_cache *c, const char *type);
struct oc_bstore *oc_cache_store(struct oc_cache *c);
void oc_cache_clear(struct oc_cache *c, const struct oc_bid *ids, size_t n);
void oc_cache_clear_all(struct oc_cache *c);
/* Fold a committed transform set (at rev) into the cached blocks: deletes
 * drop, inserts are cached, updates apply to blocks already cached only. */
void oc_cache_apply(struct oc_cache *c, const struct oc_tfs *tfs, int64_t rev);
size_t oc_cache_len(struct oc_cache *c);
/* Approximate memory of the cached blocks. */
size_t oc_cache_bytes(struct oc_cache *c);
/* Revision a cached block was stored at; -1 if not cached. */
int64_t oc_cache_rev(struct oc_cache *c, const struct oc_bid *id);
/* Counters for tests and stats. */
struct oc_cache_stats {
	uint64_t hits, misses, evictions;
};
void oc_cache_get_stats(struct oc_cache *c, struct oc_cache_stats *st);

/* A plain in-memory block store (map of blocks): test double and scratch. */
struct oc_memstore;
struct oc_memstore *oc_memstore_alloc(void);
void                oc_memstore_free(struct oc_memstore *m);
struct oc_bstore   *oc_memstore_store(struct oc_memstore *m);
size_t              oc_memstore_len(struct oc_memstore *m);

#endif /* OC_BSTORE_H */
