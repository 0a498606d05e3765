/*
 * exec.h - a peer executing protocol operations on its own replica.
 *
 * The replica is this node's store seen through the transactor interface
 * (store/local.h) plus the repair operation (ost_repo_install) and a
 * block's latest revision (ost_repo_latest), passed in as functions so
 * that transport/ does not link the store.
 */
#ifndef OTR_EXEC_H
#define OTR_EXEC_H

#include <stdbool.h>

#include "core/transactor.h"
#include "core/val.h"

struct otr_replica {
	struct oc_transactor *tx;
	o_err (*install)(void *arg, const struct oc_bid *id, int64_t rev,
	    const struct oc_aid *aid, const struct oc_val *blk /* NULL: gone */,
	    bool over, bool *installed); /* see ost_repo_install */
	/* the latest revision and action of blocks, without their content
	 * (-1: unreadable; see ost_repo_latest), for a pend's answer;
	 * required (otr_node_start) */
	void (*latest)(void *arg, const struct oc_bid *ids, size_t n,
	    int64_t *revs, struct oc_aid *aids);
	/* optional: a commit in two halves (ost_repo_commit_start, _end),
	 * so that one thread serving a batch has its commits share one
	 * synced write; commit_start may decline (NULL: the commit runs
	 * whole through tx, as without them) */
	void *(*commit_start)(void *arg, const struct oc_commit_req *req);
	o_err (*commit_end)(void *arg, void *ticket, struct oc_txres *res);
	void *arg;
};

/*
 * Execute one data operation (get, pend, commit, cancel, status, install;
 * wire.h) and return its answer map.  A malformed operation is answered
 * with O_EBADMSG and a detail naming the field; nothing is executed.
 */
struct oc_val otr_exec(const struct otr_replica *rp, const struct oc_val *op);

/*
 * otr_exec in two halves, for the requests of a batch.  A commit the
 * replica stages (commit_start) is held: *held is set and the answer comes
 * from otr_exec_end(rp, *held), after which the hold is gone; any other
 * operation runs whole, and its answer is returned (*held NULL).  Every
 * hold must be ended.
 */
struct otr_held;
struct oc_val otr_exec_begin(const struct otr_replica *rp,
    const struct oc_val *op, struct otr_held **held);
struct oc_val otr_exec_end(
    const struct otr_replica *rp, struct otr_held *held);

#endif /* OTR_EXEC_H */
