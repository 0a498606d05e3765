/*
 * exec.c - a peer executing protocol operations on its own replica.
 */
#include "transport/exec.h"

#include <inttypes.h>

#include <stdlib.h>
#include <string.h>

#include "core/block.h"
#include "core/transform.h"
#include "transport/wire.h"

static struct oc_val
bad(o_err e)
{
	return otr_wire_answer(e, o_err_detail());
}

static struct oc_val
exec_get(const struct otr_replica *rp, const struct oc_val *op)
{
	struct oc_bid     *ids;
	struct oc_get_res *res;
	struct oc_actx     ctx;
	struct oc_val      a;
	size_t             n, i;
	bool               has;
	o_err              e;

	if ((e = otr_get_ids(op, "ids", &ids, &n)) != O_OK)
		return bad(e);
	if ((e = otr_get_actx(op, "ctx", &ctx, &has)) != O_OK) {
		free(ids);
		return bad(e);
	}
	res = o_calloc(n + 1, sizeof(*res));
	for (i = 0; i < n; i++)
		oc_get_res_init(&res[i]);
	e = n == 0 ? O_OK : rp->tx->ops->get(rp->tx, ids, n, has ? &ctx : NULL, res);
	a = otr_wire_answer(e, e == O_OK ? "" : o_err_detail());
	if (e == O_OK)
		otr_put_getres(&a, "r", res, n);
	for (i = 0; i < n; i++)
		oc_get_res_fini(&res[i]);
	free(res);
	free(ids);
	oc_actx_fini(&ctx);
	return a;
}

/* The replica's latest revision of each block, after a pend ("lt"). */
static void
put_latest(const struct otr_replica *rp, struct oc_val *a,
    const struct oc_tfs *tfs)
{
	struct oc_bid *ids  = o_malloc((tfs->n + 1) * sizeof(*ids));
	int64_t       *revs = o_malloc((tfs->n + 1) * sizeof(*revs));
	struct oc_aid *aids = o_malloc((tfs->n + 1) * sizeof(*aids));
	struct oc_val  lt   = oc_array();
	size_t         i;

	for (i = 0; i < tfs->n; i++)
		ids[i] = tfs->e[i].id;
	rp->latest(rp->arg, ids, tfs->n, revs, aids);
	for (i = 0; i < tfs->n; i++) {
		struct oc_val p = oc_array();

		oc_arr_push(&p, oc_bid_val(&ids[i]));
		oc_arr_push(&p, oc_int(revs[i]));
		oc_arr_push(&p, oc_aid_val(&aids[i]));
		oc_arr_push(&lt, p);
	}
	oc_map_set(a, "lt", lt);
	free(aids);
	free(revs);
	free(ids);
}

/* A pend's "base": one revision (>= 0) per block of its "tfs". */
static o_err
base_from(const struct oc_val *v, size_t n, int64_t **out)
{
	size_t i;

	*out = NULL;
	if (v->type != OC_ARRAY || oc_arr_len(v) != n)
		return o_err_set(O_EBADMSG,
		    "field base: not an array of %zu revisions", n);
	*out = o_calloc(n + 1, sizeof(**out));
	for (i = 0; i < n; i++) {
		const struct oc_val *x = oc_arr_at(v, i);

		if (x->type != OC_INT || x->u.i < 0) {
			free(*out);
			*out = NULL;
			return o_err_set(O_EBADMSG,
			    "field base: item %zu is not a revision", i);
		}
		(*out)[i] = x->u.i;
	}
	return O_OK;
}

static struct oc_val
exec_pend(const struct otr_replica *rp, const struct oc_val *op)
{
	struct oc_pend_req req = { 0 };
	struct oc_tfs      tfs;
	struct oc_txres    res;
	struct oc_val      a;
	const struct oc_val *tv;
	int64_t            pol = 0, *base = NULL;
	o_err              e;

	oc_tfs_init(&tfs);
	if ((e = otr_get_aid(op, "aid", &req.aid)) != O_OK ||
	    (e = otr_get_int(op, "rev", &req.rev)) != O_OK ||
	    (e = otr_get_int(op, "pol", &pol)) != O_OK ||
	    (e = otr_get_int(op, "ttl", &req.ttl_ms)) != O_OK)
		return bad(e);
	/* relative: expires ttl ms after this replica stores it, by its
	 * own clock (nodes need not agree on the time) */
	if (req.ttl_ms < 1 || req.ttl_ms > OC_PEND_TTL_MAX_MS)
		return bad(o_err_set(O_EBADMSG,
		    "field ttl: %" PRId64 " ms is not in [1 ms, 1 h]",
		    req.ttl_ms));
	if ((tv = oc_map_get(op, "tfs")) == NULL ||
	    oc_tfs_from_val(tv, &tfs) != O_OK) {
		oc_tfs_fini(&tfs);
		return bad(o_err_set(O_EBADMSG, "field tfs: not a transform set"));
	}
	/* optional: the writer and how long it has waited (claims) */
	if ((oc_map_get(op, "who") != NULL &&
	        (e = otr_get_aid(op, "who", &req.who)) != O_OK) ||
	    (oc_map_get(op, "wait") != NULL &&
	        (e = otr_get_int(op, "wait", &req.waited_ms)) != O_OK)) {
		oc_tfs_fini(&tfs);
		return bad(e);
	}
	if (req.waited_ms < 0 || req.waited_ms > 3600000) {
		oc_tfs_fini(&tfs);
		return bad(o_err_set(O_EBADMSG,
		    "field wait: %" PRId64 " ms is not in [0, 1 h]",
		    req.waited_ms));
	}
	/* optional: the revision each block's update builds on */
	if ((tv = oc_map_get(op, "base")) != NULL &&
	    (e = base_from(tv, tfs.n, &base)) != O_OK) {
		oc_tfs_fini(&tfs);
		return bad(e);
	}
	req.base   = base;
	req.tfs    = &tfs;
	req.policy = (uint8_t) pol;
	oc_txres_init(&res);
	e = rp->tx->ops->pend(rp->tx, &req, &res);
	a = otr_wire_answer(e, e == O_OK ? "" : o_err_detail());
	otr_put_txres(&a, "x", &res);
	if (e == O_OK || e == O_ESTALE || e == O_EPENDING)
		put_latest(rp, &a, &tfs);
	oc_txres_fini(&res);
	oc_tfs_fini(&tfs);
	free(base);
	return a;
}

/* A commit's request (its ids malloc'd into req->ids), or its answer to
 * a malformed one (*bad_ans set, false). */
static bool
commit_req(
    const struct oc_val *op, struct oc_commit_req *req, struct oc_val *bad_ans)
{
	struct oc_bid *ids;
	o_err          e;

	memset(req, 0, sizeof(*req));
	if ((e = otr_get_aid(op, "aid", &req->aid)) != O_OK ||
	    (e = otr_get_int(op, "rev", &req->rev)) != O_OK ||
	    (e = otr_get_bid(op, "crit", &req->critical)) != O_OK ||
	    (e = otr_get_ids(op, "ids", &ids, &req->n)) != O_OK) {
		*bad_ans = bad(e);
		return false;
	}
	req->ids        = ids;
	req->resendable = true;
	return true;
}

/* A commit's answer, from its outcome (and the detail set with it). */
static struct oc_val
commit_answer(o_err e, struct oc_txres *res)
{
	struct oc_val a = otr_wire_answer(e, e == O_OK ? "" : o_err_detail());

	otr_put_txres(&a, "x", res);
	oc_txres_fini(res);
	return a;
}

static struct oc_val
exec_commit(const struct otr_replica *rp, const struct oc_val *op)
{
	struct oc_commit_req req;
	struct oc_txres      res;
	struct oc_val        a;
	o_err                e;

	if (!commit_req(op, &req, &a))
		return a;
	oc_txres_init(&res);
	e = rp->tx->ops->commit(rp->tx, &req, &res);
	free((void *) req.ids);
	return commit_answer(e, &res);
}

struct otr_held {
	void *ticket; /* the replica's (commit_start) */
};

struct oc_val
otr_exec_begin(const struct otr_replica *rp, const struct oc_val *op,
    struct otr_held **held)
{
	const char          *t = oc_map_text(op, "t");
	struct oc_commit_req req;
	struct oc_val        a;
	void                *ticket;

	*held = NULL;
	if (t == NULL || strcmp(t, OTR_T_COMMIT) != 0 ||
	    rp->commit_start == NULL || rp->commit_end == NULL)
		return otr_exec(rp, op);
	if (!commit_req(op, &req, &a))
		return a;
	ticket = rp->commit_start(rp->arg, &req);
	free((void *) req.ids);
	if (ticket == NULL) /* declined: whole */
		return exec_commit(rp, op);
	*held           = o_malloc(sizeof(**held));
	(*held)->ticket = ticket;
	return oc_null();
}

struct oc_val
otr_exec_end(const struct otr_replica *rp, struct otr_held *held)
{
	struct oc_txres res;
	o_err           e;

	oc_txres_init(&res);
	e = rp->commit_end(rp->arg, held->ticket, &res);
	free(held);
	return commit_answer(e, &res);
}

static struct oc_val
exec_cancel_status(
    const struct otr_replica *rp, const struct oc_val *op, bool status)
{
	struct oc_aid  aid;
	struct oc_bid *ids;
	size_t         n, i;
	int64_t        rev = 0;
	uint8_t       *st;
	struct oc_val  a, sv;
	o_err          e;

	if ((e = otr_get_aid(op, "aid", &aid)) != O_OK ||
	    (status && (e = otr_get_int(op, "rev", &rev)) != O_OK) ||
	    (e = otr_get_ids(op, "ids", &ids, &n)) != O_OK)
		return bad(e);
	if (!status) {
		e = rp->tx->ops->cancel(rp->tx, &aid, ids, n);
		free(ids);
		return otr_wire_answer(e, e == O_OK ? "" : o_err_detail());
	}
	st = o_calloc(n + 1, 1);
	e  = rp->tx->ops->status(rp->tx, &aid, rev, ids, n, st);
	a  = otr_wire_answer(e, e == O_OK ? "" : o_err_detail());
	sv = oc_array();
	for (i = 0; i < n; i++)
		oc_arr_push(&sv, oc_int(st[i]));
	oc_map_set(&a, "st", sv);
	free(st);
	free(ids);
	return a;
}

static struct oc_val
exec_install(const struct otr_replica *rp, const struct oc_val *op)
{
	struct oc_bid        id;
	struct oc_aid        aid;
	int64_t              rev = 0;
	const struct oc_val *b, *ov;
	struct oc_val        a;
	bool                 done = false, over = false;
	o_err                e;

	if ((e = otr_get_bid(op, "id", &id)) != O_OK ||
	    (e = otr_get_int(op, "rev", &rev)) != O_OK ||
	    (e = otr_get_aid(op, "aid", &aid)) != O_OK)
		return bad(e);
	b = oc_map_get(op, "b");
	if (b == NULL || (b->type != OC_MAP && b->type != OC_NULL))
		return bad(o_err_set(O_EBADMSG, "field b: not a block or null"));
	if ((ov = oc_map_get(op, "over")) != NULL) {
		if (ov->type != OC_BOOL)
			return bad(o_err_set(O_EBADMSG, "field over: not a bool"));
		over = ov->u.b;
	}
	if (rp->install == NULL)
		return otr_wire_answer(O_EPERM, "this peer cannot install");
	e = rp->install(rp->arg, &id, rev, &aid, b->type == OC_MAP ? b : NULL,
	    over, &done);
	a = otr_wire_answer(e, e == O_OK ? "" : o_err_detail());
	oc_map_set(&a, "done", oc_bool(done));
	return a;
}

struct oc_val
otr_exec(const struct otr_replica *rp, const struct oc_val *op)
{
	const char *t = oc_map_text(op, "t");

	if (t == NULL)
		return otr_wire_answer(O_EBADMSG, "operation without a name");
	if (strcmp(t, OTR_T_GET) == 0)
		return exec_get(rp, op);
	if (strcmp(t, OTR_T_PEND) == 0)
		return exec_pend(rp, op);
	if (strcmp(t, OTR_T_COMMIT) == 0)
		return exec_commit(rp, op);
	if (strcmp(t, OTR_T_CANCEL) == 0)
		return exec_cancel_status(rp, op, false);
	if (strcmp(t, OTR_T_STATUS) == 0)
		return exec_cancel_status(rp, op, true);
	if (strcmp(t, OTR_T_INSTALL) == 0)
		return exec_install(rp, op);
	o_err_set(O_EBADMSG, "unknown operation \"%.32s\"", t);
	return bad(O_EBADMSG);
}
