/*
 * log.c - hash-chained log of a collection.
 *
 * Design notes.  The chain hook stamps every new data block with the
 * SHA-256 of its predecessor (deterministic CBOR, links removed).  A block
 * only gains a successor once it is full, so the hashed state is final.
 * Checkpoints ride on the entry whose rev is a multiple of the interval and
 * restate the previous interval's actions, which bounds both the walk that
 * computes the committed context and the context's size.
 */
#include "core/log.h"

#include <stdio.h>
#include <string.h>

#include "core/codec.h"
#include "core/o_util.h"

void
oc_log_block_hash(const struct oc_val *blk, uint8_t out[32])
{
	struct oc_val c = oc_val_dup(blk);
	struct o_buf  b = { 0 };

	oc_map_del(&c, "prior");
	oc_map_del(&c, "next");
	oc_encode(&c, &b);
	o_sha256(b.data, b.len, out);
	o_buf_fini(&b);
	oc_val_fini(&c);
}

static o_err
log_hook(struct oc_chain *c, struct oc_val *nb, const struct oc_val *pred)
{
	uint8_t h[32];

	(void) c;
	oc_log_block_hash(pred, h);
	oc_map_set(nb, "phash", oc_bytes(h, 32));
	return O_OK;
}

o_err
oc_log_create(struct oc_log *l, struct oc_bstore *s, const struct oc_bid *header)
{
	return oc_chain_create(&l->ch, s, header, OC_BT_LOG, log_hook);
}

o_err
oc_log_open(struct oc_log *l, struct oc_bstore *s, const struct oc_bid *header)
{
	return oc_chain_open(&l->ch, s, header, OC_BT_LOG, log_hook);
}

int64_t
oc_log_entry_rev(const struct oc_val *ent)
{
	return oc_map_int(ent, "rev", 0);
}

const struct oc_val *
oc_log_entry_act(const struct oc_val *ent)
{
	const struct oc_val *a = oc_map_get(ent, "act");

	return a != NULL && a->type == OC_MAP ? a : NULL;
}

o_err
oc_log_entry_acts(const struct oc_val *ent, struct oc_val *acts)
{
	const struct oc_val *a = oc_log_entry_act(ent);
	const struct oc_val *b = a ? oc_map_bytes(a, "acts") : NULL;
	o_err                e;

	*acts = oc_array();
	if (a == NULL)
		return O_OK;
	if (b == NULL)
		return o_err_set(O_ECORRUPT, "log entry rev %lld: acts missing",
		    (long long) oc_log_entry_rev(ent));
	if ((e = oc_decode(b->u.s.p, b->u.s.n, acts)) != O_OK)
		return o_err_wrap(O_ECORRUPT, "log entry rev %lld: acts",
		    (long long) oc_log_entry_rev(ent));
	if (acts->type != OC_ARRAY) {
		oc_val_fini(acts);
		*acts = oc_array();
		return o_err_set(O_ECORRUPT,
		    "log entry rev %lld: acts is not an array",
		    (long long) oc_log_entry_rev(ent));
	}
	return O_OK;
}

bool
oc_log_entry_aid(const struct oc_val *ent, struct oc_aid *aid)
{
	const struct oc_val *a = oc_log_entry_act(ent);

	return a != NULL && oc_aid_from(oc_map_get(a, "aid"), aid);
}

o_err
oc_log_last_rev(struct oc_log *l, int64_t *rev)
{
	struct oc_chain_iter it;
	const struct oc_val *ent;
	bool                 done;
	o_err                e;

	*rev = 0;
	{
		/* the tail's last entry, borrowed; an empty tail block (a
		 * new log) walks back */
		struct oc_chain_path p;
		struct oc_val        tmp = oc_null();
		const struct oc_val *last;

		e = oc_chain_tail_peek(&l->ch, &p, &tmp, &last);
		if (e == O_OK && last != NULL)
			*rev = oc_log_entry_rev(last);
		oc_val_fini(&tmp);
		if (e != O_OK || last != NULL)
			return e;
	}
	if ((e = oc_chain_iter_init(&it, &l->ch, NULL, false)) != O_OK)
		return e;
	e = oc_chain_iter_next(&it, &ent, NULL, &done);
	if (e == O_OK && !done)
		*rev = oc_log_entry_rev(ent);
	oc_chain_iter_fini(&it);
	return e;
}

/* Actions of the entries with rev in (lo, hi), oldest first. */
static o_err
recent_actions(struct oc_log *l, int64_t lo, struct oc_val *out)
{
	struct oc_chain_iter it;
	const struct oc_val *ent;
	bool                 done;
	o_err                e;
	struct oc_val        rev_order = oc_array();
	size_t               i;

	*out = oc_array();
	if ((e = oc_chain_iter_init(&it, &l->ch, NULL, false)) != O_OK)
		return e;
	for (;;) {
		struct oc_aid aid;
		struct oc_val p;

		if ((e = oc_chain_iter_next(&it, &ent, NULL, &done)) != O_OK ||
		    done)
			break;
		if (oc_log_entry_rev(ent) <= lo)
			break;
		if (!oc_log_entry_aid(ent, &aid))
			continue;
		p = oc_array();
		oc_arr_push(&p, oc_aid_val(&aid));
		oc_arr_push(&p, oc_int(oc_log_entry_rev(ent)));
		oc_arr_push(&rev_order, p);
	}
	oc_chain_iter_fini(&it);
	for (i = rev_order.u.a.n; i > 0; i--)
		oc_arr_push(out, oc_val_take(&rev_order.u.a.v[i - 1]));
	oc_val_fini(&rev_order);
	if (e != O_OK)
		oc_val_fini(out);
	return e;
}

static int
bid_qcmp(const void *a, const void *b)
{
	return oc_bid_cmp(a, b);
}

/* The sorted, distinct ids of touched plus extra[0..nx). */
static struct oc_val
bids_val(const struct oc_tfs *touched, const struct oc_bid *extra, size_t nx)
{
	size_t         n = (touched ? touched->n : 0) + nx, i, k = 0;
	struct oc_bid *ids = o_malloc(sizeof(*ids) * (n + 1));
	struct oc_val  a   = oc_array();

	for (i = 0; touched && i < touched->n; i++)
		ids[k++] = touched->e[i].id;
	for (i = 0; i < nx; i++)
		ids[k++] = extra[i];
	qsort(ids, k, sizeof(*ids), bid_qcmp);
	for (i = 0; i < k; i++)
		if (i == 0 || !oc_bid_eq(&ids[i], &ids[i - 1]))
			oc_arr_push(&a, oc_bid_val(&ids[i]));
	free(ids);
	return a;
}

o_err
oc_log_append(struct oc_log *l, const struct oc_aid *aid, int64_t rev,
    struct oc_val acts, int64_t ts, struct oc_bid *critical,
    struct oc_chain_path *pos)
{
	return oc_log_append_tx(
	    l, aid, rev, acts, ts, NULL, NULL, critical, pos);
}

o_err
oc_log_append_tx(struct oc_log *l, const struct oc_aid *aid, int64_t rev,
    struct oc_val acts, int64_t ts, const struct oc_tfs *touched,
    struct oc_log_extra *x, struct oc_bid *critical,
    struct oc_chain_path *pos)
{
	struct oc_chain_path tail;
	struct oc_val        ent, act, cols = oc_array(), jt = oc_null();
	int64_t              last;
	size_t               i;
	o_err                e;

	if (x != NULL) {
		for (i = 0; i < x->ncols; i++)
			oc_arr_push(&cols, oc_bid_val(&x->cols[i]));
		jt = oc_val_take(&x->jt);
	}

	if ((e = oc_log_last_rev(l, &last)) != O_OK)
		goto out_acts;
	if (rev != last + 1) {
		e = o_err_set(O_EINVAL, "log append at rev %lld after rev %lld",
		    (long long) rev, (long long) last);
		goto out_acts;
	}
	if ((e = oc_chain_tail(&l->ch, &tail, NULL)) != O_OK)
		goto out_acts;
	*critical = tail.blk;
	if (touched != NULL) {
		struct oc_bid extra[3];
		size_t        nx = 0;

		extra[nx++] = tail.blk;
		if (tail.idx + 1 >= OC_CHAIN_PER_BLOCK) {
			/* roll-over: a new block, and the header's tail */
			oc_bid_random(&l->ch.next_hint);
			l->ch.has_hint = true;
			extra[nx++]    = l->ch.next_hint;
			extra[nx++]    = l->ch.header;
		}
		act = bids_val(touched, extra, nx);
	} else {
		act = oc_array();
	}
	{
		struct oc_val bids = act;

		act = oc_map();
		oc_map_set(&act, "bids", bids);
	}
	ent = oc_map();
	oc_map_set(&ent, "ts", oc_int(ts));
	oc_map_set(&ent, "rev", oc_int(rev));
	oc_map_set(&act, "aid", oc_aid_val(aid));
	{
		struct o_buf enc = { 0 };

		oc_encode(&acts, &enc);
		oc_map_set(&act, "acts", oc_bytes(enc.data, enc.len));
		o_buf_fini(&enc);
		oc_val_fini(&acts);
	}
	oc_map_set(&act, "cols", cols);
	cols = oc_null();
	if (jt.type != OC_NULL)
		oc_map_set(&act, "jt", oc_val_take(&jt));
	oc_map_set(&ent, "act", act);
	if (rev % OC_LOG_CKPT_INTERVAL == 0) {
		struct oc_val ck;

		if ((e = recent_actions(l, rev - OC_LOG_CKPT_INTERVAL, &ck)) !=
		    O_OK) {
			oc_val_fini(&ent);
			return e;
		}
		oc_map_set(&ent, "ckpt", ck);
	}
	return oc_chain_add(&l->ch, &ent, 1, pos);
out_acts:
	oc_val_fini(&acts);
	oc_val_fini(&cols);
	oc_val_fini(&jt);
	return e;
}

o_err
oc_log_set_bids(struct oc_log *l, const struct oc_chain_path *pos,
    const struct oc_tfs *tfs)
{
	struct oc_chain_iter it;
	const struct oc_val *ent;
	struct oc_val        copy, bids = oc_array();
	struct oc_val       *act;
	bool                 done;
	size_t               i;
	o_err                e;

	if ((e = oc_chain_iter_init(&it, &l->ch, pos, true)) != O_OK)
		return e;
	e = oc_chain_iter_next(&it, &ent, NULL, &done);
	if (e == O_OK && done)
		e = o_err_set(O_EINVAL, "no log entry at the given position");
	if (e != O_OK) {
		oc_chain_iter_fini(&it);
		return e;
	}
	copy = oc_val_dup(ent);
	oc_chain_iter_fini(&it);
	for (i = 0; i < tfs->n; i++)
		oc_arr_push(&bids, oc_bid_val(&tfs->e[i].id));
	act = oc_map_get(&copy, "act");
	if (act == NULL || act->type != OC_MAP) {
		oc_val_fini(&copy);
		oc_val_fini(&bids);
		return o_err_set(O_EINVAL, "log entry has no action");
	}
	oc_map_set(act, "bids", bids);
	return oc_chain_update_at(&l->ch, pos, copy);
}

static o_err
ctx_add_pair(struct oc_actx *ctx, const struct oc_val *p)
{
	struct oc_aid aid;

	if (p->type != OC_ARRAY || p->u.a.n != 2 ||
	    !oc_aid_from(&p->u.a.v[0], &aid) || p->u.a.v[1].type != OC_INT)
		return o_err_set(O_ECORRUPT, "malformed checkpoint item");
	oc_actx_add(ctx, &aid, p->u.a.v[1].u.i);
	return O_OK;
}

o_err
oc_log_context(struct oc_log *l, struct oc_actx *ctx)
{
	struct oc_chain_iter it;
	const struct oc_val *ent;
	struct oc_val        back = oc_array(); /* entries newest first */
	bool                 done;
	int64_t              last = 0;
	size_t               i, j;
	o_err                e;

	oc_actx_init(ctx);
	if ((e = oc_chain_iter_init(&it, &l->ch, NULL, false)) != O_OK)
		return e;
	for (;;) {
		if ((e = oc_chain_iter_next(&it, &ent, NULL, &done)) != O_OK ||
		    done)
			break;
		if (last == 0)
			last = oc_log_entry_rev(ent);
		oc_arr_push(&back, oc_val_dup(ent));
		if (oc_map_get(ent, "ckpt") != NULL)
			break;
	}
	oc_chain_iter_fini(&it);
	for (i = back.u.a.n; e == O_OK && i > 0; i--) {
		const struct oc_val *x  = &back.u.a.v[i - 1];
		const struct oc_val *ck = oc_map_arr(x, "ckpt");
		struct oc_aid        aid;

		for (j = 0; ck != NULL && j < ck->u.a.n && e == O_OK; j++)
			e = ctx_add_pair(ctx, &ck->u.a.v[j]);
		if (e == O_OK && oc_log_entry_aid(x, &aid))
			oc_actx_add(ctx, &aid, oc_log_entry_rev(x));
	}
	oc_val_fini(&back);
	ctx->rev = last;
	if (e != O_OK)
		oc_actx_fini(ctx);
	return e;
}

o_err
oc_log_after(struct oc_log *l, int64_t after, struct oc_val *out)
{
	struct oc_chain_iter it;
	const struct oc_val *ent;
	struct oc_val        back = oc_array();
	bool                 done;
	size_t               i;
	o_err                e;

	*out = oc_array();
	if ((e = oc_chain_iter_init(&it, &l->ch, NULL, false)) != O_OK)
		return e;
	for (;;) {
		if ((e = oc_chain_iter_next(&it, &ent, NULL, &done)) != O_OK ||
		    done)
			break;
		if (oc_log_entry_rev(ent) <= after)
			break;
		oc_arr_push(&back, oc_val_dup(ent));
	}
	oc_chain_iter_fini(&it);
	for (i = back.u.a.n; i > 0; i--)
		oc_arr_push(out, oc_val_take(&back.u.a.v[i - 1]));
	oc_val_fini(&back);
	if (e != O_OK)
		oc_val_fini(out);
	return e;
}

static o_err
vbad(struct oc_log_report *rep, const struct oc_bid *id, uint64_t idx,
    const char *fmt, ...) __attribute__((format(printf, 4, 5)));

static o_err
vbad(struct oc_log_report *rep, const struct oc_bid *id, uint64_t idx,
    const char *fmt, ...)
{
	va_list ap;
	char    s[OC_BID_STRLEN];

	rep->ok        = false;
	rep->bad       = *id;
	rep->bad_index = idx;
	va_start(ap, fmt);
	vsnprintf(rep->why, sizeof(rep->why), fmt, ap);
	va_end(ap);
	return o_err_set(O_ECORRUPT, "log block %s (#%llu): %s",
	    oc_bid_str(id, s), (unsigned long long) idx, rep->why);
}

o_err
oc_log_verify(struct oc_bstore *s, const struct oc_bid *header,
    struct oc_log_report *rep, oc_log_progress progress, void *arg)
{
	struct oc_val hdr, cur = oc_null(), prev = oc_null();
	struct oc_bid id, prev_id, link;
	uint8_t       h[32];
	int64_t       rev = 0;
	bool          found;
	o_err         e;

	memset(rep, 0, sizeof(*rep));
	rep->ok = true;
	if ((e = oc_bstore_get(s, header, &hdr, &found)) != O_OK) {
		if (e == O_ECORRUPT || e == O_EBADMSG)
			return vbad(rep, header, 0, "header unreadable: %s",
			    o_err_detail());
		return e;
	}
	if (!found)
		return o_err_set(O_ENOTFOUND, "log header missing");
	if (!oc_map_bid(&hdr, "head", &id)) {
		oc_val_fini(&hdr);
		return vbad(rep, header, 0, "header lacks a head link");
	}
	oc_val_fini(&hdr);
	for (;;) {
		const struct oc_val *ents, *ph;
		size_t               i;

		e = oc_bstore_get(s, &id, &cur, &found);
		if (e == O_ECORRUPT || e == O_EBADMSG) {
			e = vbad(rep, &id, rep->blocks, "unreadable: %s",
			    o_err_detail());
			break;
		}
		if (e != O_OK)
			break;
		if (!found) {
			e = vbad(rep, &id, rep->blocks, "block is missing");
			break;
		}
		if (oc_block_validate(&cur) != O_OK) {
			e = vbad(rep, &id, rep->blocks,
			    "not a well-formed log block: %s", o_err_detail());
			break;
		}
		if (strcmp(oc_block_type(&cur), OC_BT_LOG) != 0) {
			e = vbad(rep, &id, rep->blocks,
			    "block type is \"%s\", not a log block (%s)",
			    oc_block_type(&cur), OC_BT_LOG);
			break;
		}
		ph = oc_map_bytes(&cur, "phash");
		if (rep->blocks == 0) {
			if (ph != NULL || oc_map_bid(&cur, "prior", &link)) {
				e = vbad(rep, &id, 0,
				    "head block has a prior link or hash");
				break;
			}
		} else {
			if (!oc_map_bid(&cur, "prior", &link) ||
			    !oc_bid_eq(&link, &prev_id)) {
				e = vbad(rep, &id, rep->blocks,
				    "prior link does not name its predecessor");
				break;
			}
			oc_log_block_hash(&prev, h);
			if (ph == NULL || memcmp(ph->u.s.p, h, 32) != 0) {
				char s2[OC_BID_STRLEN];

				e = vbad(rep, &prev_id, rep->blocks - 1,
				    "content does not match the hash recorded "
				    "in its successor %s",
				    oc_bid_str(&id, s2));
				break;
			}
		}
		ents = oc_map_arr(&cur, "entries");
		for (i = 0; i < ents->u.a.n; i++) {
			int64_t r = oc_log_entry_rev(&ents->u.a.v[i]);

			if (r != rev + 1)
				break;
			rev = r;
		}
		if (i < ents->u.a.n) {
			e = vbad(rep, &id, rep->blocks,
			    "entry %zu has rev %lld, expected %lld", i,
			    (long long) oc_log_entry_rev(&ents->u.a.v[i]),
			    (long long) rev + 1);
			break;
		}
		rep->entries += ents->u.a.n;
		rep->blocks++;
		if (progress)
			progress(arg, rep->blocks, rep->entries);
		oc_val_fini(&prev);
		prev    = cur;
		cur     = oc_null();
		prev_id = id;
		if (!oc_map_bid(&prev, "next", &id))
			break;
	}
	rep->last_rev = rev;
	oc_val_fini(&cur);
	oc_val_fini(&prev);
	return e;
}
