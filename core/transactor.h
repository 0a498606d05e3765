/*
 * transactor.h - the transactor interface: how collections reach the peers
 * that hold their blocks (DESIGN.md section 3).
 *
 * Five operations.  get(ids, context) reads blocks; pend(action, rev,
 * transforms, policy) stores per-block pending transforms; commit(action,
 * rev, ids, critical) promotes them to revision rev; cancel(action, ids)
 * drops them; status(action, rev, ids) reports what each block knows.
 * An in-process replica may also offer pend_commit: both at once.
 *
 * Results.  A refusal that the caller is expected to handle (a stale
 * revision, a rival pending) returns O_ESTALE / O_EPENDING with the details
 * in struct oc_txres; a fault (I/O, unreachable, corrupt) returns its own
 * code.  After a refused pend the caller cancels too: an implementation
 * withdraws what it can, but a replica left unanswered may still take
 * the pend.  get answers per block one of three things: the block, its
 * authoritative absence, or that it could not find out (never reported as
 * absence).  A failed commit answering O_EUNAVAIL or O_ETIMEDOUT has an
 * unknown outcome (replicas may have committed, or may yet): the caller
 * asks status, and if that neither finds it committed nor aborted on a
 * majority, leaves its pendings to expire rather than cancel them (they
 * may be all that holds a decided action's other blocks; in a group sync
 * the other collections' too).  On any other commit error the caller
 * cancels them: this commit did not land and never will (a group
 * action already decided by its first collection rolls that
 * collection's work forward in a new action instead).  A replicating
 * implementation that cannot tell (a replica it did not hear from, or whose
 * write failed, may have committed) answers O_EUNAVAIL, never O_ESTALE or
 * O_EEXPIRED.  The local store's O_EIO or O_ENOSPC from a failed synced write
 * is cancelled too: its one atomic batch commits every block or none, so if
 * the write reaches the disk after all the action is whole there and the
 * cancel drops nothing it needs.
 *
 * The critical-block rule: commit names the critical block - the log tail
 * as it was read before the append, which every writer of rev must change.
 * It is committed first; the transaction is decided exactly when it
 * commits.  If it is stale nothing is committed.  Other blocks whose commit
 * does not land are promoted later by readers whose context lists the
 * action (read-driven promotion).
 *
 * All operations may block (disk, network).  Implementations are
 * thread-safe.  Requests borrow their inputs; results are owned by the
 * caller and released with the matching _fini.
 */
#ifndef OC_TRANSACTOR_H
#define OC_TRANSACTOR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/block.h"
#include "core/transform.h"

struct oc_actrev {
	struct oc_aid aid;
	int64_t       rev;
};

/* What a reader knows of a collection: committed actions and its rev. */
struct oc_actx {
	struct oc_actrev *committed;
	size_t            n;
	int64_t           rev; /* 0: no committed revision */
};

enum oc_get_state {
	OC_GET_BLOCK = 1, /* block holds the content */
	OC_GET_ABSENT,    /* authoritatively does not exist (or deleted) */
	OC_GET_UNKNOWN,   /* could not find out; reason says why */
};

struct oc_get_res {
	struct oc_bid  id;
	uint8_t        state; /* enum oc_get_state */
	struct oc_val  block;
	int64_t        latest_rev; /* 0: none */
	struct oc_aid  latest_aid;
	int64_t        mat_rev; /* revision the returned content is at */
	struct oc_aid *pendings;
	size_t         npend;
	o_err          cause; /* UNKNOWN: why (O_ECORRUPT, O_EIO, O_EUNAVAIL) */
	char           reason[96];
};

enum oc_policy {
	OC_POLICY_CONTINUE = 'c', /* succeed despite rival pendings */
	OC_POLICY_FAIL     = 'f', /* refuse, list the rival action ids */
	OC_POLICY_RETURN   = 'r', /* refuse, return rivals with transforms */
};

#define OC_PEND_TTL_MAX_MS 3600000 /* a pending's longest life: 1 h */

struct oc_pend_req {
	struct oc_aid        aid;
	int64_t              rev; /* the new revision this action creates */
	const struct oc_tfs *tfs;
	uint8_t              policy; /* enum oc_policy */
	/*
	 * How long the pendings live, at most OC_PEND_TTL_MAX_MS (0: the
	 * transactor's default).  Never a point in time: the network
	 * transactor counts it from the call, on its monotonic clock, and
	 * sends each replica what is left, which the replica's store
	 * counts from when it takes the pend, by its own clock, so nodes
	 * need not agree on the time (docs/PROTOCOL.md §5).
	 */
	int64_t ttl_ms;
	/*
	 * Fairness (docs/PROTOCOL.md §4a): the writer asking (random per
	 * collection instance; zero: anonymous) and how long it has been
	 * trying to commit this batch.  A replica that refuses a writer
	 * which has waited long enough claims the blocks for it for a
	 * moment: pends of writers that started later are refused
	 * (O_EPENDING) until the claimant's pend arrives or the claim
	 * lapses.  Only ever refuses; never decides anything.
	 */
	struct oc_aid        who;
	int64_t              waited_ms;
	/*
	 * Compare and set (docs/PROTOCOL.md §4): base[i] (NULL: none) is
	 * the revision tfs->e[i] was computed over, the block's latest
	 * revision as the writer read it; 0: not known (no check).  A
	 * replica whose latest revision of the block is older refuses
	 * (O_EBEHIND: it missed a commit and must be repaired, not
	 * pended on), one whose latest is newer but below rev refuses as
	 * stale.  Inserts are not checked (an existing block is stale).
	 */
	const int64_t       *base;
};

struct oc_commit_req {
	struct oc_aid        aid;
	int64_t              rev;
	const struct oc_bid *ids;
	size_t               n;
	struct oc_bid        critical;
	struct oc_bid        col; /* the collection committing (zero: unknown);
	                             only announced to other nodes (change feed) */
	/*
	 * The request may arrive more than once: one served by a replica's
	 * executor (transport/exec.c, for the network and for the node's
	 * own replica alike), which a coordinator sends again (net_commit's
	 * phase 2 resends to members that failed; nng resends a request
	 * whose pipe closed).  Then a commit with no pending under later
	 * revisions may be this very commit, done here before: a replica
	 * that no longer keeps the revision cannot tell and answers
	 * O_EUNAVAIL.  False (an in-process caller that sends each commit
	 * once): no pending and no record there means it was never
	 * committed, O_ESTALE.  Read by the store (ost_repo_commit) only.
	 */
	bool resendable;
};

/* A committed revision the requester is missing (one per block, rev). */
struct oc_missing {
	struct oc_bid id;
	struct oc_aid aid;
	int64_t       rev;
	struct oc_tf  tf;
};

/* Another action's pending on one of our blocks. */
struct oc_pendinfo {
	struct oc_bid id;
	struct oc_aid aid;
	bool          has_tf;
	struct oc_tf  tf;
};

struct oc_txres {
	struct oc_missing  *missing;
	size_t              nmissing;
	struct oc_pendinfo *pending;
	size_t              npending;
	struct oc_bid       stale_id; /* staleAt: highest rev seen */
	int64_t             stale_rev;
	char                reason[128];
};

enum oc_status {
	OC_ST_UNKNOWN = 0,
	OC_ST_PENDING,
	OC_ST_COMMITTED,
	OC_ST_ABORTED,
};

struct oc_transactor;

struct oc_transactor_ops {
	o_err (*get)(struct oc_transactor *t, const struct oc_bid *ids, size_t n,
	    const struct oc_actx *ctx, struct oc_get_res *out /* [n] */);
	o_err (*pend)(struct oc_transactor *t, const struct oc_pend_req *req,
	    struct oc_txres *res);
	o_err (*commit)(struct oc_transactor *t, const struct oc_commit_req *req,
	    struct oc_txres *res);
	o_err (*cancel)(struct oc_transactor *t, const struct oc_aid *aid,
	    const struct oc_bid *ids, size_t n);
	o_err (*status)(struct oc_transactor *t, const struct oc_aid *aid,
	    int64_t rev, const struct oc_bid *ids, size_t n,
	    uint8_t *out /* [n] enum oc_status */);
	/*
	 * Optional (NULL: pend, then commit).  Both at once, for a
	 * transactor whose replica lives in this process: pend's checks
	 * and refusals, and when they pass, commit's creq (preq's action,
	 * revision and blocks) with its results, all under the replica's
	 * locks.  Nothing is ever left pended, so nothing is to be
	 * cancelled, and no pending record is written or read back.
	 */
	o_err (*pend_commit)(struct oc_transactor *t,
	    const struct oc_pend_req *preq, const struct oc_commit_req *creq,
	    struct oc_txres *res);
	/*
	 * Optional (NULL: a commit is on disk when it is acknowledged).
	 * For a transactor whose commits may be acknowledged once written
	 * but before they reach the disk (a local store that syncs lazily:
	 * a killed process loses none of them, a power failure may lose
	 * the latest): return once every commit acknowledged before the
	 * call is on disk.  O_OK at once when none is waiting.  A wrapper
	 * around another transactor must pass it on, or fsync through the
	 * wrapper skips the disk.
	 */
	o_err (*sync)(struct oc_transactor *t);
};

struct oc_transactor {
	const struct oc_transactor_ops *ops;
};

/* t->ops->sync, or O_OK for a transactor without it. */
o_err oc_tx_sync(struct oc_transactor *t);

void oc_get_res_init(struct oc_get_res *r);
void oc_get_res_fini(struct oc_get_res *r);
void oc_txres_init(struct oc_txres *r);
void oc_txres_fini(struct oc_txres *r);
void oc_actx_init(struct oc_actx *c);
void oc_actx_fini(struct oc_actx *c);
void oc_actx_copy(struct oc_actx *dst, const struct oc_actx *src);
void oc_actx_add(struct oc_actx *c, const struct oc_aid *aid, int64_t rev);
/* Does ctx list aid (any rev)?  Returns its rev or 0. */
int64_t oc_actx_find(const struct oc_actx *c, const struct oc_aid *aid);

/* Append helpers for implementations (entries are moved in). */
void oc_txres_add_missing(struct oc_txres *r, const struct oc_bid *id,
    const struct oc_aid *aid, int64_t rev, struct oc_tf tf /* moved */);
void oc_txres_add_pending(struct oc_txres *r, const struct oc_bid *id,
    const struct oc_aid *aid, const struct oc_tf *tf /* copied; may be NULL */);
void oc_txres_stale_at(struct oc_txres *r, const struct oc_bid *id, int64_t rev);

/*
 * Order in which a commit must touch req->ids: the critical block first,
 * then the others in ascending id order (so per-block locks taken in this
 * order never deadlock).  Writes n ids into out (caller's array of n).
 * O_EINVAL if the critical block is not among ids.
 */
o_err oc_commit_order(const struct oc_commit_req *req, struct oc_bid *out);

#endif /* OC_TRANSACTOR_H */
