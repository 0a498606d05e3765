/*
 * block.c - ids, headers and per-type validation of blocks.
 */
#include "core/block.h"

#include <stdlib.h>
#include <string.h>

#include "core/o_util.h"

void
oc_bid_random(struct oc_bid *id)
{
	if (o_random(id->b, sizeof(id->b)) != O_OK)
		abort();
}

void
oc_aid_random(struct oc_aid *id)
{
	if (o_random(id->b, sizeof(id->b)) != O_OK)
		abort();
}

int
oc_bid_cmp(const struct oc_bid *a, const struct oc_bid *b)
{
	return memcmp(a->b, b->b, OC_BID_LEN);
}

bool
oc_bid_eq(const struct oc_bid *a, const struct oc_bid *b)
{
	return memcmp(a->b, b->b, OC_BID_LEN) == 0;
}

bool
oc_aid_eq(const struct oc_aid *a, const struct oc_aid *b)
{
	return memcmp(a->b, b->b, OC_AID_LEN) == 0;
}

bool
oc_aid_is_zero(const struct oc_aid *a)
{
	static const struct oc_aid zero;

	return oc_aid_eq(a, &zero);
}

bool
oc_bid_is_zero(const struct oc_bid *a)
{
	static const struct oc_bid zero;

	return oc_bid_eq(a, &zero);
}

static const char b32[] = "abcdefghijklmnopqrstuvwxyz234567";

static char *
b32_enc(const uint8_t *p, size_t n, char *out)
{
	size_t   i, o = 0;
	unsigned acc = 0, bits = 0;

	for (i = 0; i < n; i++) {
		acc = (acc << 8) | p[i];
		bits += 8;
		while (bits >= 5) {
			out[o++] = b32[(acc >> (bits - 5)) & 31];
			bits -= 5;
		}
	}
	if (bits > 0)
		out[o++] = b32[(acc << (5 - bits)) & 31];
	out[o] = '\0';
	return out;
}

char *
oc_bid_str(const struct oc_bid *id, char out[OC_BID_STRLEN])
{
	return b32_enc(id->b, OC_BID_LEN, out);
}

char *
oc_aid_str(const struct oc_aid *id, char out[OC_AID_STRLEN])
{
	return b32_enc(id->b, OC_AID_LEN, out);
}

bool
oc_bid_parse(const char *s, struct oc_bid *out)
{
	size_t   i, o = 0;
	unsigned acc = 0, bits = 0;

	if (strlen(s) != OC_BID_STRLEN - 1)
		return false;
	for (i = 0; s[i]; i++) {
		const char *c = memchr(b32, s[i], 32);

		if (c == NULL)
			return false;
		acc = (acc << 5) | (unsigned) (c - b32);
		bits += 5;
		if (bits >= 8) {
			if (o < OC_BID_LEN)
				out->b[o++] = (uint8_t) (acc >> (bits - 8));
			bits -= 8;
		}
	}
	/* the 4 bits past the last byte must be zero: one string per id */
	return o == OC_BID_LEN && (acc & ((1u << bits) - 1)) == 0;
}

struct oc_val
oc_bid_val(const struct oc_bid *id)
{
	return oc_bytes(id->b, OC_BID_LEN);
}

struct oc_val
oc_aid_val(const struct oc_aid *id)
{
	return oc_bytes(id->b, OC_AID_LEN);
}

bool
oc_bid_from(const struct oc_val *v, struct oc_bid *out)
{
	if (v == NULL || v->type != OC_BYTES || v->u.s.n != OC_BID_LEN)
		return false;
	memcpy(out->b, v->u.s.p, OC_BID_LEN);
	return true;
}

bool
oc_aid_from(const struct oc_val *v, struct oc_aid *out)
{
	if (v == NULL || v->type != OC_BYTES || v->u.s.n != OC_AID_LEN)
		return false;
	memcpy(out->b, v->u.s.p, OC_AID_LEN);
	return true;
}

bool
oc_map_bid(const struct oc_val *m, const char *key, struct oc_bid *out)
{
	return oc_bid_from(oc_map_get(m, key), out);
}

struct oc_val
oc_block_new(const struct oc_bid *id, const char *type,
    const struct oc_bid *col)
{
	struct oc_val b = oc_map();

	oc_map_set(&b, OC_F_ID, oc_bid_val(id));
	oc_map_set(&b, OC_F_TYPE, oc_text(type));
	oc_map_set(&b, OC_F_COL, oc_bid_val(col));
	return b;
}

bool
oc_block_id(const struct oc_val *blk, struct oc_bid *out)
{
	return oc_map_bid(blk, OC_F_ID, out);
}

const char *
oc_block_type(const struct oc_val *blk)
{
	return oc_map_text(blk, OC_F_TYPE);
}

/* field checks */

static o_err
bad(const struct oc_val *blk, const char *field, const char *why)
{
	struct oc_bid id;
	char          s[OC_BID_STRLEN] = "?";

	if (oc_block_id(blk, &id))
		oc_bid_str(&id, s);
	return o_err_set(O_EBADMSG, "block %s field \"%s\": %s", s, field, why);
}

static bool
opt_bid(const struct oc_val *blk, const char *f)
{
	const struct oc_val *v = oc_map_get(blk, f);
	struct oc_bid        id;

	return v == NULL || v->type == OC_NULL || oc_bid_from(v, &id);
}

static o_err
need_bid(const struct oc_val *blk, const char *f)
{
	struct oc_bid id;

	if (!oc_map_bid(blk, f, &id))
		return bad(blk, f, "missing or not a 32-byte id");
	return O_OK;
}

static o_err
check_log(const struct oc_val *blk)
{
	const struct oc_val *e = oc_map_arr(blk, "entries");
	const struct oc_val *h = oc_map_get(blk, "phash");
	size_t               i;

	if (e == NULL)
		return bad(blk, "entries", "missing or not an array");
	if (e->u.a.n > 32)
		return bad(blk, "entries", "more than 32 entries");
	for (i = 0; i < e->u.a.n; i++) {
		const struct oc_val *x = &e->u.a.v[i];

		if (x->type != OC_MAP || oc_map_get(x, "rev") == NULL ||
		    oc_map_get(x, "rev")->type != OC_INT)
			return bad(blk, "entries", "entry without an int rev");
	}
	if (!opt_bid(blk, "prior") || !opt_bid(blk, "next"))
		return bad(blk, "prior/next", "not a 32-byte id");
	if (h != NULL && h->type != OC_NULL &&
	    (h->type != OC_BYTES || h->u.s.n != 32))
		return bad(blk, "phash", "not a 32-byte hash");
	return O_OK;
}

static o_err
check_header(const struct oc_val *blk, bool tree)
{
	if (!opt_bid(blk, "head") || !opt_bid(blk, "tail"))
		return bad(blk, "head/tail", "not a 32-byte id");
	if (tree && !opt_bid(blk, "root"))
		return bad(blk, "root", "not a 32-byte id");
	return O_OK;
}

o_err
oc_block_validate(const struct oc_val *blk)
{
	const char *t;
	o_err       e;

	if (blk == NULL || blk->type != OC_MAP)
		return o_err_set(O_EBADMSG, "block is not a map");
	if ((e = need_bid(blk, OC_F_ID)) != O_OK ||
	    (e = need_bid(blk, OC_F_COL)) != O_OK)
		return e;
	t = oc_block_type(blk);
	if (t == NULL)
		return bad(blk, OC_F_TYPE, "missing or not text");
	if (strcmp(t, OC_BT_LOG) == 0)
		return check_log(blk);
	if (strcmp(t, OC_BT_DIARY) == 0)
		return check_header(blk, false);
	if (strcmp(t, OC_BT_TREE) == 0)
		return check_header(blk, true);
	if (strcmp(t, OC_BT_LEAF) == 0) {
		if (oc_map_arr(blk, "entries") == NULL)
			return bad(blk, "entries", "missing or not an array");
		return O_OK;
	}
	if (strcmp(t, OC_BT_BRANCH) == 0) {
		const struct oc_val *p = oc_map_arr(blk, "parts");
		const struct oc_val *n = oc_map_arr(blk, "nodes");

		if (p == NULL || n == NULL || n->u.a.n != p->u.a.n + 1)
			return bad(blk, "parts/nodes",
			    "missing, or len(nodes) != len(parts)+1");
		return O_OK;
	}
	if (strcmp(t, OC_BT_CHUNK) == 0) {
		if (oc_map_bytes(blk, "data") == NULL)
			return bad(blk, "data", "missing or not bytes");
		return O_OK;
	}
	return bad(blk, OC_F_TYPE, "unknown block type");
}

/* ---- sets of block ids ---------------------------------------------- */

static size_t
bid_hash(const struct oc_bid *id)
{
	uint64_t h;

	memcpy(&h, id->b, sizeof(h));
	return (size_t) (h * 0x9e3779b97f4a7c15ull >> 17);
}

void
oc_bidset_fini(struct oc_bidset *s)
{
	free(s->v);
	free(s->used);
	memset(s, 0, sizeof(*s));
}

void
oc_bidset_clear(struct oc_bidset *s)
{
	if (s->cap > 0)
		memset(s->used, 0, s->cap * sizeof(*s->used));
	s->n = 0;
}

bool
oc_bidset_has(const struct oc_bidset *s, const struct oc_bid *id)
{
	size_t i;

	if (s->cap == 0)
		return false;
	for (i = bid_hash(id) & (s->cap - 1); s->used[i];
	     i = (i + 1) & (s->cap - 1))
		if (oc_bid_eq(&s->v[i], id))
			return true;
	return false;
}

static void
bidset_grow(struct oc_bidset *s, size_t cap)
{
	struct oc_bidset g = { 0 };
	size_t           i;

	g.cap  = cap;
	g.v    = o_calloc(g.cap, sizeof(*g.v));
	g.used = o_calloc(g.cap, sizeof(*g.used));
	for (i = 0; i < s->cap; i++)
		if (s->used[i])
			(void) oc_bidset_slot(&g, &s->v[i]);
	oc_bidset_fini(s);
	*s = g;
}

void
oc_bidset_reserve(struct oc_bidset *s, size_t n)
{
	size_t cap = s->cap ? s->cap : 64;

	while (2 * (n + 1) > cap)
		cap *= 2;
	if (cap > s->cap)
		bidset_grow(s, cap);
}

size_t
oc_bidset_slot(struct oc_bidset *s, const struct oc_bid *id)
{
	size_t i;

	if (2 * (s->n + 1) > s->cap)
		bidset_grow(s, s->cap ? 2 * s->cap : 64);
	for (i = bid_hash(id) & (s->cap - 1); s->used[i];
	     i = (i + 1) & (s->cap - 1))
		if (oc_bid_eq(&s->v[i], id))
			return i;
	s->used[i] = true;
	s->v[i]    = *id;
	s->n++;
	return i;
}

bool
oc_bidset_add(struct oc_bidset *s, const struct oc_bid *id)
{
	size_t n = s->n;

	(void) oc_bidset_slot(s, id);
	return s->n > n;
}
