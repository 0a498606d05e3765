/*
 * chain.c - chain of data blocks.
 *
 * Design notes.  add() fills the current tail, then creates new blocks of
 * up to 32 entries, each linked to the block immediately before it; the
 * hook sees the predecessor in its final state before its "next" is set.
 * The header's "tail" is updated once, at the end.  Readers find the tail
 * by reading the header's "tail" and following "next" while present, so a
 * header whose tail update is late is tolerated.  pop/dequeue delete blocks
 * they empty, except the last one.
 */
#include "core/chain.h"

#include <string.h>

#include "core/o_util.h"

static struct oc_val *
entries_of(const struct oc_val *blk)
{
	struct oc_val *e = oc_map_get(blk, "entries");

	return e != NULL && e->type == OC_ARRAY ? e : NULL;
}

static o_err
read_data(struct oc_chain *c, const struct oc_bid *id, struct oc_val *out)
{
	o_err e = oc_bstore_need(c->s, id, out);
	char  s[OC_BID_STRLEN];

	if (e != O_OK)
		return e;
	if (entries_of(out) == NULL) {
		oc_val_fini(out);
		return o_err_set(O_ECORRUPT,
		    "chain data block %s has no entries array",
		    oc_bid_str(id, s));
	}
	return O_OK;
}

static struct oc_val
new_data_block(struct oc_chain *c)
{
	struct oc_bid id;
	struct oc_val b;

	oc_bid_random(&id);
	b = oc_block_new(&id, c->dtype, &c->col);
	oc_map_set(&b, "entries", oc_array());
	return b;
}

static o_err
chain_init(struct oc_chain *c, struct oc_bstore *s, const struct oc_bid *header,
    const char *dtype, oc_chain_hook hook, struct oc_val *hdr)
{
	o_err e;

	memset(c, 0, sizeof(*c));
	c->s         = s;
	c->header    = *header;
	c->dtype     = dtype;
	c->new_block = hook;
	if ((e = oc_bstore_need(s, header, hdr)) != O_OK)
		return e;
	if (!oc_map_bid(hdr, OC_F_COL, &c->col)) {
		oc_val_fini(hdr);
		return o_err_set(O_ECORRUPT, "chain header without col");
	}
	return O_OK;
}

o_err
oc_chain_create(struct oc_chain *c, struct oc_bstore *s,
    const struct oc_bid *header, const char *dtype, oc_chain_hook hook)
{
	struct oc_val hdr, blk;
	struct oc_bid id;
	o_err         e;

	if ((e = chain_init(c, s, header, dtype, hook, &hdr)) != O_OK)
		return e;
	blk = new_data_block(c);
	oc_block_id(&blk, &id);
	if ((e = oc_bstore_insert(s, blk)) != O_OK)
		goto out_hdr;
	if ((e = oc_bstore_apply(s, &hdr, oc_op_set("head", oc_bid_val(&id)))) !=
	    O_OK)
		goto out_hdr;
	e = oc_bstore_apply(s, &hdr, oc_op_set("tail", oc_bid_val(&id)));
out_hdr:
	oc_val_fini(&hdr);
	return e;
}

o_err
oc_chain_open(struct oc_chain *c, struct oc_bstore *s,
    const struct oc_bid *header, const char *dtype, oc_chain_hook hook)
{
	struct oc_val hdr;
	struct oc_bid h, t;
	o_err         e;
	char          str[OC_BID_STRLEN];

	if ((e = chain_init(c, s, header, dtype, hook, &hdr)) != O_OK)
		return e;
	if (!oc_map_bid(&hdr, "head", &h) || !oc_map_bid(&hdr, "tail", &t))
		e = o_err_set(O_ECORRUPT, "chain header %s lacks head/tail",
		    oc_bid_str(header, str));
	oc_val_fini(&hdr);
	return e;
}

o_err
oc_chain_tail_peek(struct oc_chain *c, struct oc_chain_path *p,
    struct oc_val *tmp, const struct oc_val **last)
{
	const struct oc_val *cur;
	const struct oc_val *ents;
	struct oc_bid        id, nx;
	o_err                e;
	int                  hops = 0;
	char                 s[OC_BID_STRLEN];

	if (last != NULL)
		*last = NULL;
	if ((e = oc_bstore_peek_need(c->s, &c->header, tmp, &cur)) != O_OK)
		return e;
	if (!oc_map_bid(cur, "tail", &id))
		return o_err_set(O_ECORRUPT, "chain header lacks tail");
	for (;;) {
		if ((e = oc_bstore_peek_need(c->s, &id, tmp, &cur)) != O_OK)
			return e;
		ents = oc_map_get(cur, "entries");
		if (ents == NULL || ents->type != OC_ARRAY)
			return o_err_set(O_ECORRUPT,
			    "chain data block %s has no entries array",
			    oc_bid_str(&id, s));
		if (!oc_map_bid(cur, "next", &nx))
			break;
		if (++hops > 1000000)
			return o_err_set(O_ECORRUPT, "chain next-links loop");
		id = nx;
	}
	p->blk = id;
	p->idx = (int64_t) ents->u.a.n - 1;
	if (last != NULL && ents->u.a.n > 0)
		*last = &ents->u.a.v[ents->u.a.n - 1];
	return O_OK;
}

o_err
oc_chain_tail(struct oc_chain *c, struct oc_chain_path *p, struct oc_val *blk)
{
	struct oc_val hdr, cur;
	struct oc_bid id, nx;
	o_err         e;
	int           hops = 0;

	if (blk == NULL) {
		/* only the position: borrow, copy nothing */
		struct oc_val tmp = oc_null();

		e = oc_chain_tail_peek(c, p, &tmp, NULL);
		oc_val_fini(&tmp);
		return e;
	}
	if ((e = oc_bstore_need(c->s, &c->header, &hdr)) != O_OK)
		return e;
	if (!oc_map_bid(&hdr, "tail", &id)) {
		oc_val_fini(&hdr);
		return o_err_set(O_ECORRUPT, "chain header lacks tail");
	}
	oc_val_fini(&hdr);
	if ((e = read_data(c, &id, &cur)) != O_OK)
		return e;
	while (oc_map_bid(&cur, "next", &nx)) {
		if (++hops > 1000000) {
			oc_val_fini(&cur);
			return o_err_set(O_ECORRUPT, "chain next-links loop");
		}
		oc_val_fini(&cur);
		id = nx;
		if ((e = read_data(c, &id, &cur)) != O_OK)
			return e;
	}
	p->blk = id;
	p->idx = (int64_t) entries_of(&cur)->u.a.n - 1;
	*blk   = cur;
	return O_OK;
}

o_err
oc_chain_head(struct oc_chain *c, struct oc_chain_path *p, struct oc_val *blk)
{
	struct oc_val hdr, cur;
	struct oc_bid id, pr;
	o_err         e;
	int           hops = 0;

	if ((e = oc_bstore_need(c->s, &c->header, &hdr)) != O_OK)
		return e;
	if (!oc_map_bid(&hdr, "head", &id)) {
		oc_val_fini(&hdr);
		return o_err_set(O_ECORRUPT, "chain header lacks head");
	}
	oc_val_fini(&hdr);
	if ((e = read_data(c, &id, &cur)) != O_OK)
		return e;
	while (oc_map_bid(&cur, "prior", &pr)) {
		if (++hops > 1000000) {
			oc_val_fini(&cur);
			return o_err_set(O_ECORRUPT, "chain prior-links loop");
		}
		oc_val_fini(&cur);
		id = pr;
		if ((e = read_data(c, &id, &cur)) != O_OK)
			return e;
	}
	p->blk = id;
	p->idx = entries_of(&cur)->u.a.n ? 0 : -1;
	if (blk)
		*blk = cur;
	else
		oc_val_fini(&cur);
	return O_OK;
}

static o_err
set_header_field(struct oc_chain *c, const char *f, const struct oc_bid *id)
{
	struct oc_val hdr;
	o_err         e;

	if ((e = oc_bstore_need(c->s, &c->header, &hdr)) != O_OK)
		return e;
	e = oc_bstore_apply(c->s, &hdr, oc_op_set(f, oc_bid_val(id)));
	oc_val_fini(&hdr);
	return e;
}

static struct oc_val
take_slice(struct oc_val *entries, size_t from, size_t n)
{
	struct oc_val a = oc_array();
	size_t        i;

	for (i = 0; i < n; i++)
		oc_arr_push(&a, oc_val_take(&entries[from + i]));
	return a;
}

o_err
oc_chain_add(struct oc_chain *c, struct oc_val *entries, size_t n,
    struct oc_chain_path *last)
{
	struct oc_chain_path p;
	struct oc_val        tail;
	struct oc_bid        tail_id, first_tail;
	size_t               used = 0, len, room;
	o_err                e;

	{
		/* the common case, the entries fit in the tail: record the
		 * splice without copying the block */
		struct oc_val tmp = oc_null();

		e = oc_chain_tail_peek(c, &p, &tmp, NULL);
		oc_val_fini(&tmp);
		if (e != O_OK)
			goto out_entries;
		len = (size_t) (p.idx + 1);
		if (n > 0 && len + n <= OC_CHAIN_PER_BLOCK) {
			e    = oc_bstore_update(c->s, &p.blk,
			       oc_op_splice("entries", (uint32_t) len, 0,
			           take_slice(entries, 0, n)));
			used = n;
			if (e == O_OK && last != NULL) {
				p.idx = (int64_t) (len + n) - 1;
				*last = p;
			}
			goto out_entries;
		}
	}
	if ((e = oc_chain_tail(c, &p, &tail)) != O_OK)
		goto out_entries;
	tail_id    = p.blk;
	first_tail = p.blk;
	len        = entries_of(&tail)->u.a.n;
	room       = len < OC_CHAIN_PER_BLOCK ? OC_CHAIN_PER_BLOCK - len : 0;
	if (room > 0 && n > 0) {
		size_t k = O_MIN(room, n);

		e = oc_bstore_apply(c->s, &tail,
		    oc_op_splice("entries", (uint32_t) len, 0,
		        take_slice(entries, 0, k)));
		if (e != O_OK)
			goto out_tail;
		used = k;
		p.idx = (int64_t) (len + k) - 1;
	}
	while (used < n) {
		struct oc_val nb = new_data_block(c);
		struct oc_bid nid;

		if (c->has_hint) {
			oc_map_set(&nb, OC_F_ID, oc_bid_val(&c->next_hint));
			c->has_hint = false;
		}
		size_t        k = O_MIN(n - used, (size_t) OC_CHAIN_PER_BLOCK);

		oc_block_id(&nb, &nid);
		oc_map_set(&nb, "entries", take_slice(entries, used, k));
		oc_map_set(&nb, "prior", oc_bid_val(&tail_id));
		if (c->new_block && (e = c->new_block(c, &nb, &tail)) != O_OK) {
			oc_val_fini(&nb);
			goto out_tail;
		}
		if ((e = oc_bstore_insert(c->s, oc_val_dup(&nb))) != O_OK ||
		    (e = oc_bstore_apply(c->s, &tail,
		         oc_op_set("next", oc_bid_val(&nid)))) != O_OK) {
			oc_val_fini(&nb);
			goto out_tail;
		}
		oc_val_fini(&tail);
		tail    = nb;
		tail_id = nid;
		used += k;
		p.blk = nid;
		p.idx = (int64_t) k - 1;
	}
	if (!oc_bid_eq(&first_tail, &tail_id) &&
	    (e = set_header_field(c, "tail", &tail_id)) != O_OK)
		goto out_tail;
	if (last)
		*last = p;
out_tail:
	oc_val_fini(&tail);
out_entries:
	for (; used < n; used++)
		oc_val_fini(&entries[used]);
	return e;
}

o_err
oc_chain_update_at(struct oc_chain *c, const struct oc_chain_path *p,
    struct oc_val entry)
{
	struct oc_val blk, a = oc_array();
	o_err         e;

	oc_arr_push(&a, entry);
	if ((e = read_data(c, &p->blk, &blk)) != O_OK) {
		oc_val_fini(&a);
		return e;
	}
	if (p->idx < 0 || (size_t) p->idx >= entries_of(&blk)->u.a.n) {
		oc_val_fini(&a);
		oc_val_fini(&blk);
		return o_err_set(O_EINVAL, "chain path index %lld out of range",
		    (long long) p->idx);
	}
	e = oc_bstore_apply(c->s, &blk,
	    oc_op_splice("entries", (uint32_t) p->idx, 1, a));
	oc_val_fini(&blk);
	return e;
}

/* Remove n entries from one end; from_tail selects pop vs dequeue. */
static o_err
chain_take(struct oc_chain *c, size_t n, bool from_tail, struct oc_val *out)
{
	struct oc_chain_path p;
	struct oc_val        blk, got = oc_array();
	struct oc_bid        start;
	const char          *link  = from_tail ? "prior" : "next";
	const char          *back  = from_tail ? "next" : "prior";
	const char          *hfield = from_tail ? "tail" : "head";
	o_err                e;

	*out = oc_array();
	e    = from_tail ? oc_chain_tail(c, &p, &blk) : oc_chain_head(c, &p, &blk);
	if (e != O_OK)
		return e;
	start = p.blk;
	while (n > 0) {
		struct oc_val *ents = entries_of(&blk);
		size_t         len  = ents->u.a.n, k = O_MIN(n, len), i;
		uint32_t       at   = from_tail ? (uint32_t) (len - k) : 0;
		struct oc_val  part = oc_array();
		struct oc_bid  other;

		for (i = 0; i < k; i++)
			oc_arr_push(&part, oc_val_dup(&ents->u.a.v[at + i]));
		if (k > 0 && (e = oc_bstore_apply(c->s, &blk,
		                  oc_op_splice("entries", at, (uint32_t) k,
		                      oc_array()))) != O_OK) {
			oc_val_fini(&part);
			goto out;
		}
		/* keep chain order (oldest first) in `got` */
		if (from_tail) {
			oc_arr_splice(&part, part.u.a.n, 0, got.u.a.v, got.u.a.n);
			free(got.u.a.v);
			got = part;
		} else {
			oc_arr_splice(&got, got.u.a.n, 0, part.u.a.v, part.u.a.n);
			free(part.u.a.v);
		}
		n -= k;
		if (n == 0 || !oc_map_bid(&blk, link, &other))
			break;
		/* the block is empty and has a neighbour: drop it */
		if ((e = oc_bstore_del(c->s, &p.blk)) != O_OK)
			goto out;
		oc_val_fini(&blk);
		if ((e = read_data(c, &other, &blk)) != O_OK)
			goto out;
		if ((e = oc_bstore_apply(c->s, &blk,
		         oc_op_set(back, oc_null()))) != O_OK)
			goto out;
		p.blk = other;
	}
	/* an emptied block that still has a neighbour is dropped too */
	if (entries_of(&blk)->u.a.n == 0) {
		struct oc_bid other;

		if (oc_map_bid(&blk, link, &other)) {
			if ((e = oc_bstore_del(c->s, &p.blk)) != O_OK)
				goto out;
			oc_val_fini(&blk);
			if ((e = read_data(c, &other, &blk)) != O_OK)
				goto out;
			if ((e = oc_bstore_apply(c->s, &blk,
			         oc_op_set(back, oc_null()))) != O_OK)
				goto out;
			p.blk = other;
		}
	}
	if (!oc_bid_eq(&start, &p.blk))
		e = set_header_field(c, hfield, &p.blk);
out:
	oc_val_fini(&blk);
	if (e != O_OK) {
		oc_val_fini(&got);
		return e;
	}
	oc_val_fini(out);
	*out = got;
	return O_OK;
}

o_err
oc_chain_pop(struct oc_chain *c, size_t n, struct oc_val *out)
{
	return chain_take(c, n, true, out);
}

o_err
oc_chain_dequeue(struct oc_chain *c, size_t n, struct oc_val *out)
{
	return chain_take(c, n, false, out);
}

/* Make data block *id the iterator's current one: a copy in it->blk, or
 * borrowed from the store (it->blk is the scratch of a miss). */
static o_err
iter_read(struct oc_chain_iter *it, const struct oc_bid *id)
{
	char  s[OC_BID_STRLEN];
	o_err e;

	it->cur = &it->blk;
	if (!it->borrow) {
		oc_val_fini(&it->blk);
		return read_data(it->c, id, &it->blk);
	}
	if ((e = oc_bstore_peek_need(it->c->s, id, &it->blk, &it->cur)) !=
	    O_OK) {
		it->cur = &it->blk;
		return e;
	}
	if (entries_of(it->cur) == NULL) {
		it->cur = &it->blk;
		return o_err_set(O_ECORRUPT,
		    "chain data block %s has no entries array",
		    oc_bid_str(id, s));
	}
	return O_OK;
}

static o_err
iter_init(struct oc_chain_iter *it, struct oc_chain *c,
    const struct oc_chain_path *start, bool forward, bool borrow)
{
	struct oc_chain_path p;
	o_err                e;

	memset(it, 0, sizeof(*it));
	it->c       = c;
	it->forward = forward;
	it->borrow  = borrow;
	it->blk     = oc_null();
	it->cur     = &it->blk;
	if (start != NULL) {
		p = *start;
		e = iter_read(it, &p.blk);
	} else if (forward) {
		e = oc_chain_head(c, &p, &it->blk);
	} else {
		e = oc_chain_tail(c, &p, &it->blk);
	}
	if (e != O_OK) {
		oc_chain_iter_fini(it);
		return e;
	}
	it->idx = p.idx;
	if (!forward && start == NULL)
		it->idx = (int64_t) entries_of(it->cur)->u.a.n - 1;
	if (forward && start == NULL)
		it->idx = 0;
	return O_OK;
}

o_err
oc_chain_iter_init(struct oc_chain_iter *it, struct oc_chain *c,
    const struct oc_chain_path *start, bool forward)
{
	return iter_init(it, c, start, forward, false);
}

o_err
oc_chain_iter_init_borrowed(struct oc_chain_iter *it, struct oc_chain *c,
    const struct oc_chain_path *start, bool forward)
{
	return iter_init(it, c, start, forward, true);
}

o_err
oc_chain_iter_next(struct oc_chain_iter *it, const struct oc_val **ent,
    struct oc_chain_path *pos, bool *done)
{
	for (;;) {
		const struct oc_val *ents = entries_of(it->cur);
		struct oc_bid        nx;
		o_err                e;

		if (ents == NULL) {
			*done = true;
			return O_OK;
		}
		if (it->idx >= 0 && (size_t) it->idx < ents->u.a.n) {
			*ent = &ents->u.a.v[it->idx];
			if (pos) {
				oc_block_id(it->cur, &pos->blk);
				pos->idx = it->idx;
			}
			it->idx += it->forward ? 1 : -1;
			*done = false;
			return O_OK;
		}
		if (!oc_map_bid(
		        it->cur, it->forward ? "next" : "prior", &nx)) {
			*done = true;
			return O_OK;
		}
		if ((e = iter_read(it, &nx)) != O_OK)
			return e;
		ents    = entries_of(it->cur);
		it->idx = it->forward ? 0 : (int64_t) ents->u.a.n - 1;
	}
}

void
oc_chain_iter_fini(struct oc_chain_iter *it)
{
	oc_val_fini(&it->blk);
	it->cur = &it->blk;
}
