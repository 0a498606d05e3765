/*
 * collection.h - a collection: header block + log + data blocks, driven
 * through the transactor (DESIGN.md section 2 "Collections").
 *
 *   act(actions)  applies actions to the local tracked snapshot at once
 *                 (reads see them) and queues them;
 *   sync()        turns the queued actions into one log entry at rev+1 and
 *                 one transform set, pends it, commits it with the log tail
 *                 as read before the append as the critical block; on a
 *                 conflict it calls update() and retries with jittered
 *                 exponential backoff, at most opts.max_attempts times;
 *   update()      pulls newer log entries, lets the type's conflict filter
 *                 keep / replace / drop each local action, and replays the
 *                 survivors on the new state when the entries touched
 *                 blocks the local actions touched (or the filter changed
 *                 something).
 * A sync's own commit does not replay the actions still queued: their
 * effects are kept per batch and recomposed over the new state, so
 * committing a queue of n actions costs O(n), not O(n^2).
 * The held revision (oc_coll_rev) never goes backwards.
 *
 * Read stack: tracker (local staged changes) -> side tracker (staged chunk
 * blocks, never replayed) -> LRU cache (committed blocks) -> transactor
 * source pinned at the held context.
 *
 * Locking: c_sync serialises sync/update; c_mtx guards the in-memory state
 * and is dropped while the transactor does I/O, so act() and reads proceed
 * during a commit.  Lock order: c_sync, then c_mtx.  All functions are
 * thread-safe and may block on the transactor.
 */
#ifndef OC_COLLECTION_H
#define OC_COLLECTION_H

#include <pthread.h>

#include "core/bstore.h"
#include "core/log.h"
#include "core/o_util.h"
#include "core/transactor.h"

/* Largest inline payload of one action; larger data goes to chunks. */
#define OC_INLINE_MAX (8u << 10)
/* Inline payload budget of one log entry (32 entries per log block). */
#define OC_ENTRY_INLINE_MAX (16u << 10)
/* Size of one data chunk block. */
#define OC_CHUNK_SIZE (256u << 10)

enum oc_filter_verdict {
	OC_FILTER_KEEP,
	OC_FILTER_REPLACE, /* *replacement holds the new action */
	OC_FILTER_DROP,
};

struct oc_coll_type {
	const char *header_type; /* OC_BT_DIARY, OC_BT_TREE */
	/* Set up type-specific structure on a freshly invented header. */
	o_err (*init)(struct oc_bstore *s, const struct oc_bid *col);
	/* Apply one action (an OC_MAP) to the store. */
	o_err (*apply)(struct oc_bstore *s, const struct oc_bid *col,
	    const struct oc_val *action);
	/*
	 * Optional: apply as above and add to *dn the change in the number
	 * of items the action made (a tree: +1 per new key, -1 per removed
	 * key).  When set it is used instead of apply, and oc_coll_count
	 * keeps a running total instead of walking after every act.
	 */
	o_err (*apply_n)(struct oc_bstore *s, const struct oc_bid *col,
	    const struct oc_val *action, int64_t *dn);
	/* Conflict filter (NULL: keep every local action). */
	enum oc_filter_verdict (*filter)(const struct oc_val *local,
	    const struct oc_val *remote_actions, struct oc_val *replacement);
	/* Inline payload size of an action, for entry batching. */
	size_t (*weight)(const struct oc_val *action);
};

struct oc_sync_opts {
	int     max_attempts;  /* default 10 */
	int64_t base_backoff_ms; /* default 2 */
	int64_t max_backoff_ms;  /* default 500 */
	int64_t deadline_ms;     /* 0: none; else relative budget per sync */
	/*
	 * How long to keep retrying while another action's pending holds a
	 * block (it must commit or expire), default 15000.  These retries do
	 * not count against max_attempts, which bounds lost races only.
	 */
	int64_t pending_wait_ms;
	/* Keep queued actions in this journal until committed (NULL: none;
	 * borrowed, must outlive the collection).  See core/journal.h. */
	struct oc_journal *journal;
	/* Chunk blocks (large values' data) are not kept in the block cache:
	 * for a caller that keeps what it reads and writes itself (the file
	 * layer's pieces), a cached copy is only memory and a copy more. */
	bool uncached_chunks;
};

struct oc_coll_stats {
	uint64_t commits;   /* successful sync transactions */
	uint64_t conflicts; /* pends/commits refused as stale or pending */
	uint64_t replays;   /* rebases that replayed local actions */
	uint64_t actions;   /* actions committed */
	uint64_t queue_bytes; /* memory the queue of actions holds reserved */
};

struct oc_collection;

/*
 * Open collection id.  create=false and the header absent: O_ENOTFOUND and
 * nothing staged.  create=true and absent: the header and first log block
 * are invented in the tracker and brought into existence by the next sync.
 * A header of another type: O_EINVAL.  O_EUNAVAIL when the transactor could
 * not tell.  opts may be NULL.
 */
o_err oc_coll_open(struct oc_transactor *tx, const struct oc_bid *id,
    const struct oc_coll_type *type, bool create,
    const struct oc_sync_opts *opts, struct oc_collection **out);
void  oc_coll_free(struct oc_collection *c);

/* Apply actions now and queue them (moved; all-or-nothing). */
o_err oc_coll_act(struct oc_collection *c, struct oc_val *actions, size_t n);
/* The same, but the journal may hold its record in memory until
 * oc_journal_flush (core/journal.h): for actions nobody is told are safe
 * before a later flush or commit. */
o_err oc_coll_act_lazy(
    struct oc_collection *c, struct oc_val *actions, size_t n);
/* Stage a chunk block (moved) that a following action references. */
o_err oc_coll_stage_block(struct oc_collection *c, struct oc_val blk);
o_err oc_coll_update(struct oc_collection *c);
/*
 * Commit everything queued.  O_OK once every action queued before the call
 * is committed.  O_ERETRIES after the retry budget (actions stay queued);
 * other faults are returned at once, and the actions stay queued too.
 */
o_err oc_coll_sync(struct oc_collection *c);
/*
 * Ordering commits against other work.  oc_coll_seal: actions queued from
 * now on are not committed together with those queued before (queue an
 * action that needs other work committed first, a directory's record
 * naming a file's pieces, right after a seal).  oc_coll_seq: the number
 * of actions queued so far, a target for oc_coll_sync_to, which commits
 * those (and the actions queued later in the same segment, i.e. not past
 * a seal, since a segment commits whole) and stops; a seal holds across
 * the replays of an update.  UINT64_MAX: everything
 * queued at the call, as oc_coll_sync.  Two limits: a group sync
 * (oc_coll_sync_group_to) commits every segment up to its target in one
 * transaction, seals included, so the work a seal orders first must be
 * committed before (fs does: coll_sync_group); and a seal is kept on the
 * number of the action queued right after it, so if the conflict filter
 * drops that action the seal is lost (fs seals before a file's record,
 * a put the filter never drops, and before a group's parts, any of which
 * dropped drops them all by their link).
 */
void     oc_coll_seal(struct oc_collection *c);
/*
 * Linked actions (an action's "ln", e.g. core/tree.h): the parts of one
 * change queued in several collections.  oc_coll_link_drop: give the
 * change up as the conflict filter does when it drops a part: every
 * collection drops its queued actions with that link before its next
 * commit, or at once with oc_coll_links_sift (the local view replayed
 * without them).  oc_coll_link_is_lost: whether a part was dropped so
 * (among the last 256 links lost).
 */
void     oc_coll_link_drop(const struct oc_aid *link);
bool     oc_coll_link_is_lost(const struct oc_aid *link);
o_err    oc_coll_links_sift(struct oc_collection *c);
uint64_t oc_coll_seq(struct oc_collection *c);
o_err    oc_coll_sync_to(struct oc_collection *c, uint64_t seq);
/*
 * Commit everything queued in cs[0..n) as one transaction (DESIGN.md
 * section 3 rule 4): one action id, a log entry in each collection naming
 * the others ("cols"), every block pended first, then each collection's
 * critical block committed in id order.  Each collection's whole queue
 * goes into its entry (which may then exceed one entry's usual weight).
 * The transaction is decided when
 * the first critical block commits; a collection whose commit does not
 * land after that keeps its actions queued and is committed on its own
 * (rolled forward, never back) before this returns.  O_OK once every
 * action queued in every cs[i] before the call is committed.  On an error
 * before the decision nothing is committed and everything stays queued.
 * *decided (may be NULL) says whether the transaction committed in at
 * least one collection (then the others follow).  Duplicates in cs are
 * allowed; the collections must share one transactor.  Retries and the
 * deadline follow the options of the collection with the lowest id.
 */
o_err oc_coll_sync_group(struct oc_collection *const *cs, size_t n,
    bool *decided);
/* oc_coll_sync_group with cs[i] committed up to seqs[i] (as in
 * oc_coll_sync_to; seqs NULL: everything queued). */
o_err oc_coll_sync_group_to(struct oc_collection *const *cs,
    const uint64_t *seqs, size_t n, bool *decided);

int64_t oc_coll_rev(struct oc_collection *c);
size_t  oc_coll_npending(struct oc_collection *c);
bool    oc_coll_exists(struct oc_collection *c); /* committed header */
const struct oc_bid *oc_coll_id(struct oc_collection *c);
void oc_coll_get_stats(struct oc_collection *c, struct oc_coll_stats *st);
/*
 * Memory of the collection's cache of committed blocks, and dropping it
 * (as if every block were evicted: later reads load them again; staged
 * and queued work is not in the cache and stays).  For an owner of many
 * collections that bounds their caches together.  Dropping takes the
 * collection latch, under which readers borrow cached blocks; a
 * collection whose latch is held is left as it is (false).
 */
size_t oc_coll_cache_bytes(struct oc_collection *c);
bool   oc_coll_cache_drop(struct oc_collection *c);

/*
 * Read access: run fn with the collection's read store (local changes
 * applied) under the collection latch.  fn must not call back into c.
 * O_ESTALE: a block read at the held rev is older than the history the
 * store keeps; the collection has been updated to the latest context, so
 * reading again succeeds (oc_coll_read_again does it for fn).
 */
o_err oc_coll_read(struct oc_collection *c,
    o_err (*fn)(struct oc_bstore *s, void *arg), void *arg);
/*
 * As oc_coll_read, but after O_ESTALE fn runs again on the updated
 * collection (a few times at most): for fn that can start over (it resets
 * its outputs, or resumes where it stopped).
 */
o_err oc_coll_read_again(struct oc_collection *c,
    o_err (*fn)(struct oc_bstore *s, void *arg), void *arg);
/*
 * As oc_coll_read, and fn also sees the held revision and the queued (not
 * yet committed) actions, an OC_ARRAY it must not change, as of the same
 * instant: a commit moves actions out of the queue and raises the rev
 * under the latch fn runs under, so fn sees each action exactly once,
 * either in the log up to rev or in the queue.  Nothing is copied.
 */
o_err oc_coll_read_queue(struct oc_collection *c,
    o_err (*fn)(struct oc_bstore *s, int64_t rev, const struct oc_val *queue,
        void *arg),
    void *arg);
/*
 * Number of items in the read view (local changes included).  The first
 * call, and the first after a replay or after newer committed entries were
 * adopted, runs fn under the latch (fn must not call back into c); later
 * ones answer from a running total that every act adjusts (types with
 * apply_n only; others always run fn).  Errors are fn's.
 */
o_err oc_coll_count(struct oc_collection *c,
    o_err (*fn)(struct oc_bstore *s, void *arg, uint64_t *n), void *arg,
    uint64_t *n);
/* Copy of the queued (not yet committed) actions, oldest first. */
struct oc_val oc_coll_pending(struct oc_collection *c);

/* A read store over a transactor at context ctx (NULL: latest). */
struct oc_txsrc {
	struct oc_bstore      base;
	struct oc_transactor *tx;
	const struct oc_actx *ctx;
};
void oc_txsrc_init(struct oc_txsrc *s, struct oc_transactor *tx,
    const struct oc_actx *ctx);

/* Chunking helpers (diary and tree): split data into chunk blocks staged
 * in c, returning the reference {"chunks": [bid...], "len": n}. */
struct oc_val oc_coll_chunk(struct oc_collection *c, const void *data,
    size_t n);
/* Resolve a value that may be a chunk reference into bytes (appended). */
o_err oc_chunks_read(struct oc_bstore *s, const struct oc_val *ref,
    struct o_buf *out);
bool oc_is_chunk_ref(const struct oc_val *v);

#endif /* OC_COLLECTION_H */
