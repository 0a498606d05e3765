/*
 * wire.c - the peer protocol's messages (wire.h; docs/PROTOCOL.md).
 */
#include "transport/wire.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/block.h"
#include "core/codec.h"
#include "core/o_util.h"

/* Limits for what a peer may send us (stricter than the codec's). */
static const struct oc_limits wire_limits = {
	.max_depth = 32,
	.max_items = 1u << 22,
	.max_input = OTR_MSG_MAX,
};

void
otr_wire_request(struct oc_val *op, struct o_buf *out)
{
	struct oc_val m = oc_map();

	oc_map_set(&m, "v", oc_int(OTR_WIRE_VERSION));
	oc_map_set(&m, "op", oc_val_take(op));
	oc_encode(&m, out);
	oc_val_fini(&m);
}

bool
otr_wire_batchable(const char *t)
{
	return t != NULL &&
	    (strcmp(t, OTR_T_PEND) == 0 || strcmp(t, OTR_T_COMMIT) == 0 ||
	        strcmp(t, OTR_T_CANCEL) == 0 || strcmp(t, OTR_T_STATUS) == 0);
}

static o_err
parse_envelope(const uint8_t *p, size_t n, const char *what, struct oc_val *m)
{
	int64_t v = 0;
	o_err   e;

	*m = oc_null();
	if (n > OTR_MSG_MAX)
		return o_err_set(O_ETOOBIG, "%s of %zu bytes (at most %u)",
		    what, n, OTR_MSG_MAX);
	if ((e = oc_decode_lim(p, n, m, &wire_limits)) != O_OK)
		return o_err_wrap(O_EBADMSG, "%s", what);
	if (m->type != OC_MAP) {
		oc_val_fini(m);
		return o_err_set(O_EBADMSG, "%s is not a map", what);
	}
	if ((e = otr_get_int(m, "v", &v)) != O_OK || v != OTR_WIRE_VERSION) {
		char got[32];

		oc_val_fini(m);
		if (e == O_OK)
			snprintf(got, sizeof(got), "%" PRId64, v);
		return o_err_set(O_EBADMSG,
		    "%s: protocol version %s (this node speaks %d)", what,
		    e == O_OK ? got : "missing", OTR_WIRE_VERSION);
	}
	return O_OK;
}

o_err
otr_wire_parse_request(const uint8_t *p, size_t n, struct oc_val *op)
{
	struct oc_val  m;
	struct oc_val *o;
	o_err          e;

	*op = oc_null();
	if ((e = parse_envelope(p, n, "request", &m)) != O_OK)
		return e;
	o = oc_map_get(&m, "op");
	if (o == NULL || o->type != OC_MAP || oc_map_text(o, "t") == NULL) {
		oc_val_fini(&m);
		return o_err_set(
		    O_EBADMSG, "request: no operation map with a name");
	}
	*op = oc_val_take(o);
	oc_val_fini(&m);
	return O_OK;
}

struct oc_val
otr_wire_answer(o_err e, const char *detail)
{
	struct oc_val m = oc_map();

	oc_map_set(&m, "v", oc_int(OTR_WIRE_VERSION));
	oc_map_set(&m, "e", oc_int(e));
	oc_map_set(&m, "d", oc_text(detail != NULL ? detail : ""));
	return m;
}

o_err
otr_wire_parse_answer(const uint8_t *p, size_t n, struct oc_val *ans,
    o_err *err, char *detail, size_t cap)
{
	int64_t c = 0;
	o_err   e;

	if ((e = parse_envelope(p, n, "answer", ans)) != O_OK)
		return e;
	if ((e = otr_get_int(ans, "e", &c)) != O_OK || c < 0 ||
	    c >= O_ERR_COUNT) {
		oc_val_fini(ans);
		return o_err_set(O_EBADMSG, "answer: no valid error code");
	}
	*err = (o_err) c;
	if (detail != NULL && cap > 0)
		snprintf(detail, cap, "%s",
		    oc_map_text(ans, "d") ? oc_map_text(ans, "d") : "");
	return O_OK;
}

/* ---- fields ---------------------------------------------------------- */

o_err
otr_get_int(const struct oc_val *m, const char *k, int64_t *out)
{
	const struct oc_val *v = oc_map_get(m, k);

	if (v == NULL || v->type != OC_INT)
		return o_err_set(O_EBADMSG, "field %s: not an integer", k);
	*out = v->u.i;
	return O_OK;
}

o_err
otr_get_text(const struct oc_val *m, const char *k, char *out, size_t cap)
{
	const char *s = oc_map_text(m, k);

	if (s == NULL || strlen(s) >= cap)
		return o_err_set(O_EBADMSG,
		    "field %s: not a text of at most %zu bytes", k, cap - 1);
	memcpy(out, s, strlen(s) + 1);
	return O_OK;
}

o_err
otr_get_bid(const struct oc_val *m, const char *k, struct oc_bid *out)
{
	const struct oc_val *v = oc_map_get(m, k);

	if (v == NULL || !oc_bid_from(v, out))
		return o_err_set(O_EBADMSG, "field %s: not a block id", k);
	return O_OK;
}

o_err
otr_get_aid(const struct oc_val *m, const char *k, struct oc_aid *out)
{
	const struct oc_val *v = oc_map_get(m, k);

	if (v == NULL || !oc_aid_from(v, out))
		return o_err_set(O_EBADMSG, "field %s: not an action id", k);
	return O_OK;
}

void
otr_put_ids(
    struct oc_val *m, const char *k, const struct oc_bid *ids, size_t n)
{
	struct oc_val a = oc_array();
	size_t        i;

	for (i = 0; i < n; i++)
		oc_arr_push(&a, oc_bid_val(&ids[i]));
	oc_map_set(m, k, a);
}

o_err
otr_get_ids(
    const struct oc_val *m, const char *k, struct oc_bid **ids, size_t *n)
{
	const struct oc_val *a = oc_map_arr(m, k);
	size_t               i;

	*ids = NULL;
	*n   = 0;
	if (a == NULL)
		return o_err_set(O_EBADMSG, "field %s: not an array", k);
	if (oc_arr_len(a) > OTR_IDS_MAX)
		return o_err_set(O_EBADMSG, "field %s: %zu block ids (at most %d)",
		    k, oc_arr_len(a), OTR_IDS_MAX);
	*ids = o_malloc((oc_arr_len(a) + 1) * sizeof(**ids));
	for (i = 0; i < oc_arr_len(a); i++)
		if (!oc_bid_from(oc_arr_at(a, i), &(*ids)[i])) {
			free(*ids);
			*ids = NULL;
			return o_err_set(O_EBADMSG,
			    "field %s[%zu]: not a block id", k, i);
		}
	*n = oc_arr_len(a);
	return O_OK;
}

void
otr_put_actx(struct oc_val *m, const char *k, const struct oc_actx *c)
{
	struct oc_val v = oc_map(), a = oc_array();
	size_t        i;

	for (i = 0; i < c->n; i++) {
		struct oc_val p = oc_array();

		oc_arr_push(&p, oc_aid_val(&c->committed[i].aid));
		oc_arr_push(&p, oc_int(c->committed[i].rev));
		oc_arr_push(&a, p);
	}
	oc_map_set(&v, "c", a);
	oc_map_set(&v, "rev", oc_int(c->rev));
	oc_map_set(m, k, v);
}

o_err
otr_get_actx(
    const struct oc_val *m, const char *k, struct oc_actx *c, bool *present)
{
	const struct oc_val *v = oc_map_get(m, k), *a;
	size_t               i;
	int64_t              rev = 0;

	oc_actx_init(c);
	*present = false;
	if (v == NULL || v->type == OC_NULL)
		return O_OK;
	if (v->type != OC_MAP || otr_get_int(v, "rev", &rev) != O_OK ||
	    rev < 0 || (a = oc_map_arr(v, "c")) == NULL)
		return o_err_set(O_EBADMSG, "field %s: not a context", k);
	for (i = 0; i < oc_arr_len(a); i++) {
		const struct oc_val *p = oc_arr_at(a, i);
		struct oc_aid        aid;

		if (p->type != OC_ARRAY || oc_arr_len(p) != 2 ||
		    !oc_aid_from(oc_arr_at(p, 0), &aid) ||
		    oc_arr_at(p, 1)->type != OC_INT ||
		    oc_arr_at(p, 1)->u.i < 1) {
			oc_actx_fini(c);
			return o_err_set(O_EBADMSG,
			    "field %s.c[%zu]: not [action, rev]", k, i);
		}
		oc_actx_add(c, &aid, oc_arr_at(p, 1)->u.i);
	}
	c->rev   = rev;
	*present = true;
	return O_OK;
}

void
otr_put_txres(struct oc_val *m, const char *k, const struct oc_txres *r)
{
	struct oc_val v = oc_map(), p = oc_array();
	size_t        i;

	for (i = 0; i < r->npending; i++) {
		struct oc_val e = oc_array();

		oc_arr_push(&e, oc_bid_val(&r->pending[i].id));
		oc_arr_push(&e, oc_aid_val(&r->pending[i].aid));
		oc_arr_push(&p, e);
	}
	oc_map_set(&v, "p", p);
	if (r->stale_rev > 0) {
		oc_map_set(&v, "sid", oc_bid_val(&r->stale_id));
		oc_map_set(&v, "srev", oc_int(r->stale_rev));
	}
	oc_map_set(&v, "why", oc_text(r->reason));
	oc_map_set(m, k, v);
}

o_err
otr_get_txres(const struct oc_val *m, const char *k, struct oc_txres *r)
{
	const struct oc_val *v = oc_map_get(m, k), *p;
	size_t               i;
	int64_t              srev = 0;

	if (v == NULL || v->type != OC_MAP || (p = oc_map_arr(v, "p")) == NULL)
		return o_err_set(O_EBADMSG, "field %s: not a result", k);
	for (i = 0; i < oc_arr_len(p); i++) {
		const struct oc_val *e = oc_arr_at(p, i);
		struct oc_bid        id;
		struct oc_aid        aid;

		if (e->type != OC_ARRAY || oc_arr_len(e) != 2 ||
		    !oc_bid_from(oc_arr_at(e, 0), &id) ||
		    !oc_aid_from(oc_arr_at(e, 1), &aid))
			return o_err_set(O_EBADMSG,
			    "field %s.p[%zu]: not [block, action]", k, i);
		oc_txres_add_pending(r, &id, &aid, NULL);
	}
	if (oc_map_get(v, "srev") != NULL) {
		struct oc_bid sid;

		if (otr_get_int(v, "srev", &srev) != O_OK || srev < 1 ||
		    otr_get_bid(v, "sid", &sid) != O_OK)
			return o_err_set(
			    O_EBADMSG, "field %s: bad stale revision", k);
		if (srev > r->stale_rev)
			oc_txres_stale_at(r, &sid, srev);
	}
	if (r->reason[0] == '\0' && oc_map_text(v, "why") != NULL)
		snprintf(r->reason, sizeof(r->reason), "%s",
		    oc_map_text(v, "why"));
	return O_OK;
}

void
otr_put_getres(
    struct oc_val *m, const char *k, const struct oc_get_res *r, size_t n)
{
	struct oc_val a = oc_array();
	size_t        i, j;

	for (i = 0; i < n; i++) {
		struct oc_val e = oc_map(), p = oc_array();

		oc_map_set(&e, "id", oc_bid_val(&r[i].id));
		oc_map_set(&e, "s", oc_int(r[i].state));
		if (r[i].state == OC_GET_BLOCK)
			oc_map_set(&e, "b", oc_val_dup(&r[i].block));
		oc_map_set(&e, "lr", oc_int(r[i].latest_rev));
		if (r[i].latest_rev > 0)
			oc_map_set(&e, "la", oc_aid_val(&r[i].latest_aid));
		oc_map_set(&e, "mr", oc_int(r[i].mat_rev));
		for (j = 0; j < r[i].npend; j++)
			oc_arr_push(&p, oc_aid_val(&r[i].pendings[j]));
		oc_map_set(&e, "p", p);
		oc_map_set(&e, "c", oc_int(r[i].cause));
		oc_map_set(&e, "why", oc_text(r[i].reason));
		oc_arr_push(&a, e);
	}
	oc_map_set(m, k, a);
}

static o_err
getres_one(const struct oc_val *e, struct oc_get_res *r)
{
	const struct oc_val *p, *b;
	int64_t              s = 0, lr = 0, mr = 0, c = 0;
	size_t               j;

	if (e->type != OC_MAP || otr_get_bid(e, "id", &r->id) != O_OK ||
	    otr_get_int(e, "s", &s) != O_OK || s < OC_GET_BLOCK ||
	    s > OC_GET_UNKNOWN || otr_get_int(e, "lr", &lr) != O_OK ||
	    lr < 0 || otr_get_int(e, "mr", &mr) != O_OK || mr < 0 ||
	    otr_get_int(e, "c", &c) != O_OK || c < 0 || c >= O_ERR_COUNT ||
	    (p = oc_map_arr(e, "p")) == NULL)
		return O_EBADMSG;
	if (lr > 0 && otr_get_aid(e, "la", &r->latest_aid) != O_OK)
		return O_EBADMSG;
	r->state      = (uint8_t) s;
	r->latest_rev = lr;
	r->mat_rev    = mr;
	r->cause      = (o_err) c;
	if (s == OC_GET_BLOCK) {
		struct oc_bid got;

		b = oc_map_get(e, "b");
		if (b == NULL || b->type != OC_MAP || !oc_block_id(b, &got) ||
		    !oc_bid_eq(&got, &r->id))
			return O_EBADMSG;
		r->block = oc_val_dup(b);
	}
	if (oc_arr_len(p) > 0) {
		r->pendings = o_malloc(oc_arr_len(p) * sizeof(*r->pendings));
		for (j = 0; j < oc_arr_len(p); j++)
			if (!oc_aid_from(oc_arr_at(p, j), &r->pendings[j]))
				return O_EBADMSG;
		r->npend = oc_arr_len(p);
	}
	snprintf(r->reason, sizeof(r->reason), "%s",
	    oc_map_text(e, "why") ? oc_map_text(e, "why") : "");
	return O_OK;
}

o_err
otr_get_getres(
    const struct oc_val *m, const char *k, struct oc_get_res *out, size_t n)
{
	const struct oc_val *a = oc_map_arr(m, k);
	size_t               i;

	for (i = 0; i < n; i++)
		oc_get_res_init(&out[i]);
	if (a == NULL || oc_arr_len(a) != n)
		return o_err_set(O_EBADMSG,
		    "field %s: not an array of %zu block results", k, n);
	for (i = 0; i < n; i++)
		if (getres_one(oc_arr_at(a, i), &out[i]) != O_OK) {
			size_t bad = i;

			for (i = 0; i < n; i++) {
				oc_get_res_fini(&out[i]);
				oc_get_res_init(&out[i]);
			}
			return o_err_set(O_EBADMSG,
			    "field %s[%zu]: not a block result", k, bad);
		}
	return O_OK;
}
