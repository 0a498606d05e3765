/*
 * local.c - struct oc_transactor over an in-process repository.
 */
#include "store/local.h"

#include "store/repo_priv.h"

static o_err
local_get(struct oc_transactor *t, const struct oc_bid *ids, size_t n,
    const struct oc_actx *ctx, struct oc_get_res *out)
{
	return ost_repo_get(ost_repo_of_txslot(t), ids, n, ctx, out);
}

static o_err
local_pend(struct oc_transactor *t, const struct oc_pend_req *req,
    struct oc_txres *res)
{
	return ost_repo_pend(ost_repo_of_txslot(t), req, res);
}

static o_err
local_commit(struct oc_transactor *t, const struct oc_commit_req *req,
    struct oc_txres *res)
{
	return ost_repo_commit(ost_repo_of_txslot(t), req, res);
}

static o_err
local_pend_commit(struct oc_transactor *t, const struct oc_pend_req *preq,
    const struct oc_commit_req *creq, struct oc_txres *res)
{
	return ost_repo_pend_commit(ost_repo_of_txslot(t), preq, creq, res);
}

static o_err
local_cancel(struct oc_transactor *t, const struct oc_aid *aid,
    const struct oc_bid *ids, size_t n)
{
	return ost_repo_cancel(ost_repo_of_txslot(t), aid, ids, n);
}

static o_err
local_status(struct oc_transactor *t, const struct oc_aid *aid, int64_t rev,
    const struct oc_bid *ids, size_t n, uint8_t *out)
{
	return ost_repo_status(ost_repo_of_txslot(t), aid, rev, ids, n, out);
}

static o_err
local_sync(struct oc_transactor *t)
{
	return ost_repo_sync(ost_repo_of_txslot(t));
}

const struct oc_transactor_ops ost_local_ops = {
	.get         = local_get,
	.pend        = local_pend,
	.commit      = local_commit,
	.cancel      = local_cancel,
	.status      = local_status,
	.pend_commit = local_pend_commit,
	.sync        = local_sync,
};

struct oc_transactor *
ost_local_transactor(struct ost_repo *r)
{
	return ost_repo_txslot(r);
}
