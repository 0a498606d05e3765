/*
 * collutil.c - see collutil.h.
 */
#include "coll/collutil.h"

#include <string.h>

#include <criterion/criterion.h>

#include "core/tree.h"
#include "util/testutil.h"

bool
ot_tree_holds(struct oc_transactor *tx, const struct oc_bid *id, const char *k)
{
	struct oc_collection *c;
	struct o_buf          v = { 0 };
	bool                  found;

	o_err e = oc_tree_open(tx, id, false, NULL, &c);

	cr_assert_eq(e, O_OK, "open reader: %s", o_err_detail());
	e = oc_tree_get(c, k, strlen(k), &v, &found);
	cr_assert_eq(e, O_OK, "get %s: %s", k, o_err_detail());
	o_buf_fini(&v);
	oc_coll_free(c);
	return found;
}

void
ot_env_open(struct ot_env *env, const char *tag)
{
	o_err e;

	memset(env, 0, sizeof(*env));
	env->dir = ot_tmpdir(tag);
	e        = ost_repo_open(env->dir, NULL, &env->repo);
	cr_assert_eq(e, O_OK, "open repo: %s", o_err_detail());
	env->tx = ost_local_transactor(env->repo);
}

void
ot_env_reopen(struct ot_env *env)
{
	o_err e;

	ost_repo_close(env->repo);
	e = ost_repo_open(env->dir, NULL, &env->repo);
	cr_assert_eq(e, O_OK, "reopen repo: %s", o_err_detail());
	env->tx = ost_local_transactor(env->repo);
}

void
ot_env_close(struct ot_env *env)
{
	ost_repo_close(env->repo);
	ot_rmtree_free(env->dir);
	memset(env, 0, sizeof(*env));
}

static struct ot_faulty *
F(struct oc_transactor *t)
{
	return (struct ot_faulty *) t;
}

static o_err
f_get(struct oc_transactor *t, const struct oc_bid *ids, size_t n,
    const struct oc_actx *ctx, struct oc_get_res *out)
{
	struct ot_faulty *f = F(t);
	o_err             e = f->inner->ops->get(f->inner, ids, n, ctx, out);
	size_t            i;
	bool              stale = false;

	if (e == O_OK && ctx != NULL && f->stale_gets > 0) {
		if (f->stale_skip > 0) {
			f->stale_skip--;
		} else {
			f->stale_gets--;
			f->stale_seen++;
			stale = true;
		}
	}
	for (i = 0; stale && i < n; i++) {
		oc_get_res_fini(&out[i]);
		oc_get_res_init(&out[i]);
		out[i].id    = ids[i];
		out[i].state = OC_GET_UNKNOWN;
		out[i].cause = O_ESTALE;
		strcpy(out[i].reason, "injected: older than the kept history");
	}

	for (i = 0; e == O_OK && i < n; i++) {
		if (f->unknown ||
		    (f->header_absent && oc_bid_eq(&ids[i], &f->hdr))) {
			oc_get_res_fini(&out[i]);
			oc_get_res_init(&out[i]);
			out[i].id    = ids[i];
			out[i].state = f->unknown ? OC_GET_UNKNOWN : OC_GET_ABSENT;
			strcpy(out[i].reason, "injected");
		}
	}
	return e;
}

static o_err
f_pend(struct oc_transactor *t, const struct oc_pend_req *req,
    struct oc_txres *res)
{
	struct ot_faulty *f = F(t);
	size_t            i;

	for (i = 0; f->stale_below > 0 && req->base != NULL && i < req->tfs->n;
	     i++)
		if (req->base[i] > 0) {
			f->stale_below--;
			oc_txres_stale_at(
			    res, &req->tfs->e[i].id, req->rev - 1);
			return o_err_set(O_ESTALE,
			    "injected: block already "
			    "holds rev %lld over an older "
			    "base",
			    (long long) req->rev - 1);
		}
	return f->inner->ops->pend(f->inner, req, res);
}

static o_err
f_commit(struct oc_transactor *t, const struct oc_commit_req *req,
    struct oc_txres *res)
{
	struct ot_faulty *f = F(t);
	o_err             e;

	f->commits_seen++;
	if (f->stale_commits > 0) {
		f->stale_commits--;
		return o_err_set(O_ESTALE, "injected stale commit");
	}
	if (f->io_commits > 0) {
		f->io_commits--;
		return o_err_set(O_EIO, "injected I/O error");
	}
	if (f->expired_commits > 0) {
		f->expired_commits--;
		return o_err_set(O_EEXPIRED, "injected: pendings expired");
	}
	if (f->io_after > 0 && f->commits_seen > f->io_after)
		return o_err_set(O_EIO, "injected I/O error after %d commits",
		    f->io_after);
	if (f->unavail_commits > 0) {
		f->unavail_commits--;
		return o_err_set(O_EUNAVAIL, "injected: no replica reached");
	}
	if (f->crit_only) {
		struct oc_commit_req one = *req;

		one.ids = &req->critical;
		one.n   = 1;
		e       = f->inner->ops->commit(f->inner, &one, res);
	} else
		e = f->inner->ops->commit(f->inner, req, res);
	if (f->lost_commits > 0) {
		f->lost_commits--;
		return o_err_set(O_EUNAVAIL,
		    "injected: the answers were lost (%s)", o_errname(e));
	}
	return e;
}

static o_err
f_cancel(struct oc_transactor *t, const struct oc_aid *aid,
    const struct oc_bid *ids, size_t n)
{
	F(t)->cancels_seen++;
	return F(t)->inner->ops->cancel(F(t)->inner, aid, ids, n);
}

static o_err
f_status(struct oc_transactor *t, const struct oc_aid *aid, int64_t rev,
    const struct oc_bid *ids, size_t n, uint8_t *out)
{
	struct ot_faulty *f = F(t);

	if (f->io_status > 0) {
		f->io_status--;
		return o_err_set(O_EIO, "injected status failure");
	}
	if (f->unavail_status > 0) {
		f->unavail_status--;
		return o_err_set(O_EUNAVAIL, "injected: too few replicas");
	}
	return f->inner->ops->status(f->inner, aid, rev, ids, n, out);
}

static const struct oc_transactor_ops faulty_ops = {
	.get    = f_get,
	.pend   = f_pend,
	.commit = f_commit,
	.cancel = f_cancel,
	.status = f_status,
};

void
ot_faulty_init(struct ot_faulty *f, struct oc_transactor *inner)
{
	memset(f, 0, sizeof(*f));
	f->base.ops = &faulty_ops;
	f->inner    = inner;
}

/* Fused: only io_after applies, then the inner pend_commit. */
static o_err
f_pend_commit(struct oc_transactor *t, const struct oc_pend_req *preq,
    const struct oc_commit_req *creq, struct oc_txres *res)
{
	struct ot_faulty *f = F(t);

	f->commits_seen++;
	if (f->io_after > 0 && f->commits_seen > f->io_after)
		return o_err_set(
		    O_EIO, "injected I/O error after %d commits", f->io_after);
	return f->inner->ops->pend_commit(f->inner, preq, creq, res);
}

static const struct oc_transactor_ops faulty_fused_ops = {
	.get         = f_get,
	.pend        = f_pend,
	.commit      = f_commit,
	.cancel      = f_cancel,
	.status      = f_status,
	.pend_commit = f_pend_commit,
};

void
ot_faulty_init_fused(struct ot_faulty *f, struct oc_transactor *inner)
{
	ot_faulty_init(f, inner);
	f->base.ops = &faulty_fused_ops;
}
