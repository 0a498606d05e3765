/*
 * repo.h - a peer's block repository on RocksDB (DESIGN.md sections 3, 4).
 *
 * The repository implements the peer side of the transactor interface
 * (core/transactor.h): per block it keeps latest = (rev, action), the
 * committed transform of every revision, materialised copies at a bounded
 * interval, and pending transforms keyed by action, each with an expiry.
 * store/local.h wraps a repository as a struct oc_transactor.
 *
 * On-disk layout.  Four column families; block ids are 32 bytes, action ids
 * 16, revisions 8-byte big-endian unsigned, so keys sort by block and then
 * by revision and every revision scan is a bounded range scan.  Values are
 * deterministic CBOR (core/codec.h), decoded and shape-checked on every read
 * (a failure is O_ECORRUPT naming the family and block).
 *
 *   family  key                    value
 *   ------  ---------------------  ------------------------------------------
 *   meta    bid(32)                map {"aid": bytes16  latest action,
 *                                       "low": int     lowest readable rev,
 *                                                      optional: absent = 0,
 *                                                      nothing pruned,
 *                                       "swp": int     rev/mat records below
 *                                                      are deleted, <= low;
 *                                                      optional: absent =
 *                                                      "low",
 *                                       "mat": int     last materialised rev,
 *                                       "ns":  int     revisions after "mat",
 *                                       "rev": int     latest revision >= 1}
 *   rev     bid(32) rev(8,BE)      map {"aid": bytes16  action of this rev,
 *                                       "tf":  transform committed at rev,
 *                                       or "mat": true  an insert, whose
 *                                                block is the mat record
 *                                                at rev (stored once)}
 *   pend    bid(32) aid(16)        map {"exp": int     expiry, ms since epoch,
 *                                       "rev": int     rev the action creates,
 *                                       "tf":  transform pending}
 *   mat     bid(32) rev(8,BE)      the block at rev (a CBOR map), or CBOR
 *                                  null: a tombstone (deleted at rev)
 *
 * Invariants: meta exists iff the block has a committed revision; every rev
 * record at or below meta.rev belongs to a commit; a mat record exists at
 * the block's first revision, at every deletion, and whenever mat_interval
 * revisions have passed since the previous one, so the block at any held
 * revision >= low is the nearest mat record at or below it plus the replay
 * of at most mat_interval-1 transforms.  low <= mat; low is a mat record's
 * revision (or 0), and every committed revision in [low, rev] has its rev
 * record.  A rev record with "mat" has its mat record at the same revision
 * (written in one batch, pruned together): losing that copy loses the
 * revision, which no replay can rebuild.
 *
 * History (pruning).  The commit that writes a new mat record for a block
 * deletes, in the same write batch, every rev and mat record below the
 * previous mat record's revision p and sets low = p: the block keeps one
 * whole window [p, new mat) plus the revisions after the new one, i.e. at
 * most 2*mat_interval rev records and 2 mat records.  A deletion (its
 * tombstone mat at d) deletes everything below d and sets low = d: a
 * deleted block keeps its meta, its rev record at d and the tombstone.
 * Point deletes of the records found by a scan of [swp, new low) (swp:
 * where the last prune ended), not a range delete: so the scan meets
 * no tombstones, and RocksDB 7.8 re-fragments a memtable's range
 * tombstones on every read, which one range tombstone per materialisation
 * would make slower as the memtable fills.  Pruning waits for a later mat
 * write while the block has a commit not yet flushed, and is not done by a
 * replacement (ost_repo_install over).  One prune deletes about
 * prune_max rev records, cut at a mat so that each revision from the new
 * low reads (where no mat lies that close, up to the next mat: one gap
 * between copies): a longer history (written before pruning) goes in
 * steps.  An install of a new revision keeps nothing readable below
 * itself (low = its revision); a replacement of the same revision
 * changes neither low nor the records.
 * Readers of revisions below low never answer "absent" (see
 * ost_repo_get, _pend, _status).
 *
 * Durability.  A commit is written with its whole request in one RocksDB
 * write batch synced to the WAL before it is acknowledged; concurrent
 * commits share one synced write (group commit).  With opts.lazy_sync the
 * batch is acknowledged once RocksDB has it (a killed process loses
 * nothing: the log is in the kernel's hands) and ost_repo_sync brings it
 * to disk; a power failure may lose what was written since the last sync.
 * Pend, cancel and sweep writes are not synced: a lost pend only makes its
 * commit refuse with O_ENOPENDING, and since RocksDB's WAL is one ordered
 * log, the synced write of any later commit (or sync) makes every earlier
 * pend durable too.
 *
 * Threads.  Every function may be called from any thread, concurrently,
 * except ost_repo_close().  Everything may block on disk I/O; commit also
 * waits for the group-commit flush.
 */
#ifndef OST_REPO_H
#define OST_REPO_H

#include <stddef.h>
#include <stdint.h>

#include "core/transactor.h"

struct ost_repo;

/*
 * Default pending lifetime.  A pending outlives its transaction only when
 * the writer died between pend and commit; until it expires it blocks the
 * block's next writer, so it is kept short (a local pend is followed by
 * its commit within milliseconds).
 */
#define OST_PEND_TTL_MS 5000
/* Block bytes the latest-block cache keeps over all stripes.  On one
 * node the collections' caches hold most of the same blocks again; it
 * serves commits (the latest version of blocks being changed, without a
 * replay) and a diary's read-ahead (fs/ahead.c).  32 MiB added ~16-25 MB
 * to the peak RSS of scripts/bench.sh (single runs, +-10 MB); a single
 * reader of a file and of a diary read as fast at 16 (docs/BENCHMARKS.md,
 * eighth run). */
#define OST_CACHE_BYTES (16u << 20)

struct ost_repo_opts {
	int64_t pend_ttl_ms;    /* pending lifetime when the request gives no
	                           expiry; 0: OST_PEND_TTL_MS */
	uint32_t mat_interval;  /* materialise every N revisions; 0: 16 */
	size_t   cache_entries; /* latest-block entries kept; 0: 4096 (their
	                           block contents are also bounded in bytes,
	                           OST_STRIPE_BYTES in repo.c) */
	size_t   prune_max;     /* rev records one prune deletes, about (cut
	                           at a mat, or one gap between mats when
	                           none is that close; a longer history goes
	                           in steps, one per materialisation);
	                           0: 4096 */
	bool     no_prune;      /* tests: write as before pruning existed */
	/* Wall clock in ms (tests); NULL: o_now_ms(). */
	int64_t (*clock)(void *arg);
	void *clock_arg;
	/*
	 * Commits are acknowledged once written, before they reach the disk:
	 * a killed process loses none of them (the log is in the kernel's
	 * hands), a power failure may lose those written since the last
	 * ost_repo_sync.  false: every group-commit write is synced before
	 * its commits are acknowledged.  A replica that answers other nodes
	 * keeps false: its answers promise the disk.
	 */
	bool lazy_sync;
	/*
	 * Test hook: called by the group-commit leader just before each
	 * group-commit write; a non-O_OK return fails that write as if
	 * RocksDB had (nothing is written).  NULL in production.
	 */
	o_err (*fail_write)(void *arg);
	void *fail_write_arg;
};

/* Counters (monotonic since open; approximate under concurrency). */
struct ost_repo_stats {
	uint64_t commits;     /* commit requests that staged a write */
	uint64_t groups;      /* group-commit writes issued */
	uint64_t syncs;       /* writes that waited for the disk: synced
	                         group-commit writes, and ost_repo_sync's */
	uint64_t cache_hits;  /* latest-block lookups served from memory */
	uint64_t cache_loads; /* blocks rebuilt from disk (mat + replay) */
	uint64_t replayed;    /* revision transforms replayed on loads */
	uint64_t mat_writes;  /* materialised copies written */
	uint64_t swept;       /* expired pendings deleted */
	uint64_t cache_bytes; /* now: block contents cached (footprint) */
	uint64_t pruned;      /* rev and mat records deleted by pruning */
	uint64_t based;       /* pended updates checked against a base rev */
	uint64_t pend_reads;  /* pending records read back by a commit (the
	                         others' transforms were kept from the pend) */
};

/* Live records counted by ost_repo_count() (value bytes as stored). */
struct ost_repo_count {
	uint64_t meta, rev, pend, mat;
	uint64_t rev_bytes, mat_bytes;
};

/*
 * Open (creating if needed) the repository in directory dir.  opts may be
 * NULL for defaults; it is copied.  Nothing is loaded eagerly.  On success
 * *out owns the repository.  Errors: O_EBUSY when dir is already open (in
 * this or another process), O_ECORRUPT / O_EIO / O_ENOSPC from RocksDB,
 * with a detail naming dir.
 */
o_err ost_repo_open(
    const char *dir, const struct ost_repo_opts *opts, struct ost_repo **out);

/*
 * Return once every commit acknowledged before the call is on disk: with
 * opts.lazy_sync, one synced write of the log if a group-commit write was
 * acknowledged since the last sync (concurrent callers share RocksDB's);
 * otherwise, and when nothing waits, O_OK at once.  O_EIO / O_ENOSPC with
 * the store's message when the log cannot be synced (the commits stay
 * acknowledged, and visible, but may not survive a power failure).
 */
o_err ost_repo_sync(struct ost_repo *r);

/*
 * Sync the WAL, close and free.  No other call may be running or start.
 * NULL is a no-op.
 */
void ost_repo_close(struct ost_repo *r);

/*
 * Read blocks ids[0..n) into out[0..n) (overwritten; release each with
 * oc_get_res_fini).  Per block: OC_GET_BLOCK with the block, latest
 * rev/action, mat_rev (the revision the content is at) and the live
 * pendings; OC_GET_ABSENT for an unknown, pending-only or deleted block;
 * OC_GET_UNKNOWN with a reason and a cause when the block could not be read
 * (O_ECORRUPT: corrupt or unmaterialisable data; O_EIO; O_EUNAVAIL: the
 * context names a revision this repo cannot reach and must heal from
 * peers; O_ESTALE: the pinned revision is below the block's kept history,
 * low, so the reader must move to a newer context) - never reported as
 * absent.  Duplicate
 * ids are answered each.  With ctx: ctx->rev > 0 pins reads to the highest
 * committed rev <= ctx->rev; ctx->committed actions newer than a block's
 * latest whose pending this repo holds are first promoted (committed at
 * their rev, as a synced commit).  ctx is not modified.  Returns O_OK
 * unless the arguments are invalid (O_EINVAL).
 */
o_err ost_repo_get(struct ost_repo *r, const struct oc_bid *ids, size_t n,
    const struct oc_actx *ctx, struct oc_get_res *out);

/*
 * The latest revision and action of each of ids[0..n), as ost_repo_get
 * without a context answers them (0 and a zero aid: none; -1: the block
 * or its pendings could not be read, with the action when it is known),
 * without copying the blocks (a block not cached is still loaded, to
 * answer -1 where a get would): a pend's answer lists them
 * (transport/exec.c).
 */
void ost_repo_latest(struct ost_repo *r, const struct oc_bid *ids, size_t n,
    int64_t *revs, struct oc_aid *aids);

/*
 * Store req->tfs as pending transforms of req->aid at req->rev, one per
 * block, expiring req->ttl_ms (or pend_ttl_ms) after now.  Refusals,
 * detailed in *res (initialised by the caller, appended to):
 *   O_ESTALE    a block's latest.rev >= rev, or the block already exists
 *               and req inserts it: res->missing lists the committed
 *               revisions in [rev, latest.rev] (the latest one for an
 *               insert collision) that are not pruned (none below the
 *               block's low), res->stale_* the highest; also an update
 *               whose req->base is below the block's latest.rev
 *               (missing from base + 1)
 *   O_EBEHIND   an update whose req->base is above the block's latest
 *               revision (or the block has none): this replica missed
 *               a commit and must be repaired first (nothing is stored)
 *   O_EPENDING  another action holds a live pending on a block (policy
 *               'f': ids in res->pending, 'r': with transforms).  Policy
 *               'c' stores anyway and still lists them.
 *   O_EEXPIRED  a cancel of this action on a block came first
 *               (ost_repo_cancel); nothing is stored
 * Expired rival pendings neither refuse nor go: a commit on the block at
 * their revision or above deletes them, and until then a read whose
 * context lists their action promotes them (PROTOCOL.md §5: it may be
 * decided, its phase 2 cut short).  Re-pending the same
 * action replaces its records.  O_EINVAL for a malformed request (no
 * blocks, rev < 1, unknown policy, an insert whose block id differs).
 * Either every block is pended or none.
 */
o_err ost_repo_pend(
    struct ost_repo *r, const struct oc_pend_req *req, struct oc_txres *res);

/*
 * Commit req->aid at req->rev on req->ids, the critical block first
 * (oc_commit_order).  Per block: latest == (rev, aid) is already done;
 * latest.rev >= rev is stale (O_ESTALE, res->missing as for pend), except
 * with no pending of aid here under later revisions: the revision's record
 * of aid says it is done (O_OK), and when that record is pruned a
 * req->resendable commit cannot tell (O_EUNAVAIL; one sent once is
 * stale); no
 * pending of aid (or one pended at another rev) is O_ENOPENDING; an
 * expired pending is O_EEXPIRED and kept (as above; the coordinator
 * cancels it if it was not decided); an update or delete with no base
 * block, or an
 * operation that does not fit the base, is refused (O_ENOBASE / O_EBADMSG)
 * and its pending deleted, recording nothing.  If the critical block is
 * refused nothing is committed and that error is returned.  Otherwise
 * every block that passed is committed in one synced write batch shared
 * with concurrent commits, and O_OK is returned once it is durable (with
 * opts.lazy_sync: once written, durable at the next ost_repo_sync): the
 * action is decided.  Other blocks' refusals are then reported in
 * res->reason / res->missing (and logged); their pendings are dropped
 * (an expired one is kept).  A block's commit also deletes the other
 * actions' expired pendings there at its revision or below.
 * A failed synced write (O_EIO, O_ENOSPC, ...) fails every commit of its
 * group, and nothing of them is visible afterwards.
 */
o_err ost_repo_commit(
    struct ost_repo *r, const struct oc_commit_req *req, struct oc_txres *res);

/*
 * ost_repo_commit in two halves, so that one thread can have several
 * commits share one group-commit write (a peer serving a batch of them):
 * _start checks and stages req (its write joins the open group, and its
 * state is what later operations on its blocks see) and returns a ticket,
 * also when it refuses; _end waits for the group's write, gives the outcome
 * and the detail exactly as ost_repo_commit would, and frees the ticket.
 * Every ticket must be ended, by any thread, before ost_repo_close.  An
 * operation between the halves that reads a staged block waits for (or
 * leads) the group's write, so any order of the halves is safe.
 */
struct ost_commit;
struct ost_commit *ost_repo_commit_start(
    struct ost_repo *r, const struct oc_commit_req *req);
o_err ost_repo_commit_end(
    struct ost_repo *r, struct ost_commit *c, struct oc_txres *res);

/*
 * ost_repo_pend(preq), then at once ost_repo_commit(creq), with the
 * blocks' locks held from the pend's checks to the commit's write, so no
 * other action can come between: the pend's refusals (O_ESTALE,
 * O_EBEHIND, O_EPENDING, O_EEXPIRED) as there, and then the commit's
 * result.  No pending record of preq->aid is written, whatever the
 * outcome (one already there is deleted when the checks pass).  Policy
 * 'c' is refused (O_EINVAL): it would commit over live rival pendings.  creq
 * must name preq's action, revision and blocks (else O_EINVAL).  For the
 * in-process transactor.
 */
o_err ost_repo_pend_commit(struct ost_repo *r, const struct oc_pend_req *preq,
    const struct oc_commit_req *creq, struct oc_txres *res);

/*
 * Repair from peers: make the block hold blk (NULL: deleted) at revision
 * rev by action aid, when its latest revision is older than rev (else
 * nothing happens).  Used when a replica missed commits that a majority
 * of its peers hold; the revision is recorded as an insert (or delete)
 * transform, so revisions in between are not kept here (answers of
 * missing revisions from this replica start at rev).  *installed (may be
 * NULL) says whether anything was written; the write is synced like a
 * commit.  O_EINVAL for a block with another id or an invalid one.
 * over: also when the latest revision is rev itself but by another
 * action, which is then replaced: for a caller that saw a majority of
 * the block's replicas hold (rev, aid), so that the action held here
 * never reached a majority and cannot have been decided (PROTOCOL.md §5).
 */
o_err ost_repo_install(struct ost_repo *r, const struct oc_bid *id,
    int64_t rev, const struct oc_aid *aid, const struct oc_val *blk,
    bool over, bool *installed);

/* Delete aid's pending records on ids.  Where there is none the cancel
 * overtook its pend (or the pend never comes): a pend of aid arriving
 * there later is refused with O_EEXPIRED (the last few such are noted). */
o_err ost_repo_cancel(struct ost_repo *r, const struct oc_aid *aid,
    const struct oc_bid *ids, size_t n);

/*
 * Per block: OC_ST_PENDING (aid holds a live pending), OC_ST_COMMITTED (the
 * revision record at rev is aid's, even if superseded since), OC_ST_UNKNOWN
 * when rev is below the block's kept history (pruned: no error), otherwise
 * OC_ST_ABORTED.  A block that cannot be read gets OC_ST_UNKNOWN and its
 * error is returned after all blocks are answered.
 */
o_err ost_repo_status(struct ost_repo *r, const struct oc_aid *aid,
    int64_t rev, const struct oc_bid *ids, size_t n, uint8_t *out);

/*
 * Delete every pending record whose expiry is <= now_ms; *swept (may be
 * NULL) gets their number.  Corrupt pending records are logged and left.
 * For tests and offline tools only: a running replica keeps expired
 * pendings until a commit at their revision or above (ost_repo_commit,
 * ost_repo_pend), and this
 * would delete one that a read could still promote (PROTOCOL.md §5).
 */
o_err ost_repo_sweep(struct ost_repo *r, int64_t now_ms, size_t *swept);

/* Copy the counters into *out.  Does not block. */
void ost_repo_stats(struct ost_repo *r, struct ost_repo_stats *out);

/*
 * Count the live records of block id (NULL: of every block) in each
 * family, by iterating them (tests and reports; a full scan with id NULL).
 * Unflushed commits are not seen.  Errors from RocksDB (O_EIO, ...).
 */
o_err ost_repo_count(
    struct ost_repo *r, const struct oc_bid *id, struct ost_repo_count *out);

/* Whether the store holds any block (a metadata record): false for a
 * new or emptied data directory.  Errors from RocksDB (O_EIO, ...). */
o_err ost_repo_holds_blocks(struct ost_repo *r, bool *out);

#endif /* OST_REPO_H */
