/*
 * transactor.c - result/context helpers shared by transactor implementations.
 */
#include "core/transactor.h"

#include <stdlib.h>
#include <string.h>

#include "core/o_util.h"

o_err
oc_tx_sync(struct oc_transactor *t)
{
	return t->ops->sync != NULL ? t->ops->sync(t) : O_OK;
}

void
oc_get_res_init(struct oc_get_res *r)
{
	memset(r, 0, sizeof(*r));
	r->block = oc_null();
}

void
oc_get_res_fini(struct oc_get_res *r)
{
	oc_val_fini(&r->block);
	free(r->pendings);
	memset(r, 0, sizeof(*r));
}

void
oc_txres_init(struct oc_txres *r)
{
	memset(r, 0, sizeof(*r));
}

void
oc_txres_fini(struct oc_txres *r)
{
	size_t i;

	for (i = 0; i < r->nmissing; i++)
		oc_tf_fini(&r->missing[i].tf);
	for (i = 0; i < r->npending; i++)
		oc_tf_fini(&r->pending[i].tf);
	free(r->missing);
	free(r->pending);
	memset(r, 0, sizeof(*r));
}

void
oc_actx_init(struct oc_actx *c)
{
	memset(c, 0, sizeof(*c));
}

void
oc_actx_fini(struct oc_actx *c)
{
	free(c->committed);
	memset(c, 0, sizeof(*c));
}

void
oc_actx_copy(struct oc_actx *dst, const struct oc_actx *src)
{
	dst->n         = src->n;
	dst->rev       = src->rev;
	dst->committed = src->n == 0 ? NULL :
	    o_memdup(src->committed, sizeof(struct oc_actrev) * src->n);
}

void
oc_actx_add(struct oc_actx *c, const struct oc_aid *aid, int64_t rev)
{
	c->committed = o_realloc(c->committed,
	    sizeof(struct oc_actrev) * (c->n + 1));
	c->committed[c->n].aid = *aid;
	c->committed[c->n].rev = rev;
	c->n++;
	if (rev > c->rev)
		c->rev = rev;
}

int64_t
oc_actx_find(const struct oc_actx *c, const struct oc_aid *aid)
{
	size_t i;

	for (i = 0; i < c->n; i++)
		if (oc_aid_eq(&c->committed[i].aid, aid))
			return c->committed[i].rev;
	return 0;
}

void
oc_txres_add_missing(struct oc_txres *r, const struct oc_bid *id,
    const struct oc_aid *aid, int64_t rev, struct oc_tf tf)
{
	struct oc_missing *m;

	r->missing = o_realloc(r->missing,
	    sizeof(struct oc_missing) * (r->nmissing + 1));
	m      = &r->missing[r->nmissing++];
	m->id  = *id;
	m->aid = *aid;
	m->rev = rev;
	m->tf  = tf;
}

void
oc_txres_add_pending(struct oc_txres *r, const struct oc_bid *id,
    const struct oc_aid *aid, const struct oc_tf *tf)
{
	struct oc_pendinfo *p;

	r->pending = o_realloc(r->pending,
	    sizeof(struct oc_pendinfo) * (r->npending + 1));
	p         = &r->pending[r->npending++];
	p->id     = *id;
	p->aid    = *aid;
	p->has_tf = tf != NULL;
	if (tf != NULL)
		oc_tf_dup(&p->tf, tf);
	else
		oc_tf_init(&p->tf);
}

void
oc_txres_stale_at(struct oc_txres *r, const struct oc_bid *id, int64_t rev)
{
	if (rev > r->stale_rev) {
		r->stale_rev = rev;
		r->stale_id  = *id;
	}
}

static int
bid_qcmp(const void *a, const void *b)
{
	return oc_bid_cmp(a, b);
}

o_err
oc_commit_order(const struct oc_commit_req *req, struct oc_bid *out)
{
	size_t i, j = 1;
	bool   seen = false;

	if (req->n == 0)
		return o_err_set(O_EINVAL, "commit of no blocks");
	for (i = 0; i < req->n; i++) {
		if (!seen && oc_bid_eq(&req->ids[i], &req->critical)) {
			seen = true;
			continue;
		}
		if (j >= req->n) /* critical absent: n slots overflow */
			break;
		out[j++] = req->ids[i];
	}
	if (!seen) {
		char s[OC_BID_STRLEN];

		return o_err_set(O_EINVAL,
		    "critical block %s is not among the commit's blocks",
		    oc_bid_str(&req->critical, s));
	}
	out[0] = req->critical;
	qsort(out + 1, j - 1, sizeof(struct oc_bid), bid_qcmp);
	return O_OK;
}
