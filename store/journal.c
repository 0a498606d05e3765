/*
 * journal.c - core/journal.h kept in the local RocksDB (family "journal").
 *
 *   key                                   value (CBOR map)
 *   "node"                                8 random bytes, made once
 *   "session"                             int, bumped at every open
 *   col(32) session(8 BE) first(8 BE)     {"t": type, "b": base rev,
 *                                          "a": [action...],
 *                                          "k": [chunk block...]}
 *   "h" col(32)                           a hint (core/journal.h): the
 *                                          collection user's bytes
 *
 * Lazy records wait in memory until they are flushed or dropped
 * (core/journal.c); a write of several is one RocksDB write batch.
 * Records are written without fsync: RocksDB's WAL write reaches the
 * kernel before put returns, so a killed process loses nothing; power loss
 * may (commits do not once synced: each one, or, in a lazily synced
 * store, at fsync and every commit interval).  Every value carries the store's
 * checksum; a damaged record is logged (at every recovery, naming it) and
 * skipped, so that one damaged record does not keep every other one, and
 * the mount, from being replayed.
 */
#include "store/journal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/codec.h"
#include "store/rdb.h"
#include "store/repo_priv.h"

#define JKEY_LEN 48
#define HKEY_LEN 33 /* "h" col: never a record's length */

struct ost_journal {
	struct oc_journal j; /* first: the public part */
	struct ost_rdb   *db;
};

static void
jkey(uint8_t k[JKEY_LEN], const struct oc_bid *col, uint64_t session,
    uint64_t first)
{
	memcpy(k, col->b, 32);
	o_be64_put(k + 32, session);
	o_be64_put(k + 40, first);
}

/* Add r to wb. */
static void
rec_put(struct ost_wb *wb, const struct oc_journal_rec *r)
{
	struct oc_val v   = oc_map();
	struct o_buf  enc = { 0 };
	uint8_t       k[JKEY_LEN];

	oc_map_set(&v, "t", oc_text(r->type));
	oc_map_set(&v, "b", oc_int(r->base_rev));
	oc_map_set(&v, "a", oc_val_dup(&r->acts));
	oc_map_set(&v, "k",
	    r->blocks.type == OC_ARRAY ? oc_val_dup(&r->blocks) : oc_array());
	oc_encode(&v, &enc);
	oc_val_fini(&v);
	jkey(k, &r->col, r->session, r->first);
	ost_wb_put(wb, OST_CF_JOURNAL, k, sizeof(k), enc.data, enc.len);
	o_buf_fini(&enc);
}

static o_err
j_put_many(
    struct oc_journal *oj, const struct oc_journal_rec *const *r, size_t n)
{
	struct ost_journal *j  = (struct ost_journal *) oj;
	struct ost_wb       wb = { 0 }, *wbs[1] = { &wb };
	size_t              i;
	o_err               e;

	for (i = 0; i < n; i++)
		rec_put(&wb, r[i]);
	e = ost_rdb_write(j->db, wbs, 1, false);
	ost_wb_fini(&wb);
	return e;
}

static o_err
j_put(struct oc_journal *oj, const struct oc_journal_rec *r)
{
	return j_put_many(oj, &r, 1);
}

static o_err
j_drop(struct oc_journal *oj, const struct oc_bid *col,
    const uint64_t (*keys)[2], size_t n)
{
	struct ost_journal *j  = (struct ost_journal *) oj;
	struct ost_wb       wb = { 0 }, *wbs[1] = { &wb };
	uint8_t             k[JKEY_LEN];
	size_t              i;
	o_err               e;

	for (i = 0; i < n; i++) {
		jkey(k, col, keys[i][0], keys[i][1]);
		ost_wb_del(&wb, OST_CF_JOURNAL, k, sizeof(k));
	}
	e = ost_rdb_write(j->db, wbs, 1, false);
	ost_wb_fini(&wb);
	return e;
}

/* Decode one stored record; O_ECORRUPT names the key when malformed. */
static o_err
rec_decode(const uint8_t *k, const uint8_t *p, size_t n,
    struct oc_journal_rec *r)
{
	struct oc_val        v;
	struct oc_limits     lim;
	const struct oc_val *t, *b, *a, *blk;
	char                 s[OC_BID_STRLEN];
	o_err                e;

	memset(r, 0, sizeof(*r));
	memcpy(r->col.b, k, 32);
	r->session = o_be64_get(k + 32);
	r->first   = o_be64_get(k + 40);
	if (n == 0)
		return o_err_set(O_ECORRUPT,
		    "journal record %s/%llu/%llu: checksum mismatch",
		    oc_bid_str(&r->col, s), (unsigned long long) r->session,
		    (unsigned long long) r->first);
	/* a record holds what one act queued, e.g. every line of a 1 MiB
	 * write (5 items each, so over oc_decode's 4 Mi items for 1-byte
	 * lines): its own size bounds it, as every item takes a byte */
	lim           = oc_limits_default;
	lim.max_items = O_MAX(lim.max_items, n);
	lim.max_input = O_MAX(lim.max_input, n);
	if ((e = oc_decode_lim(p, n, &v, &lim)) != O_OK)
		return o_err_wrap(e, "journal record %s/%llu/%llu",
		    oc_bid_str(&r->col, s), (unsigned long long) r->session,
		    (unsigned long long) r->first);
	t   = oc_map_get(&v, "t");
	b   = oc_map_get(&v, "b");
	a   = oc_map_get(&v, "a");
	blk = oc_map_get(&v, "k");
	if (v.type != OC_MAP || t == NULL || t->type != OC_TEXT ||
	    t->u.s.n == 0 || t->u.s.n >= sizeof(r->type) || b == NULL ||
	    b->type != OC_INT || a == NULL || a->type != OC_ARRAY ||
	    a->u.a.n == 0 || blk == NULL || blk->type != OC_ARRAY) {
		oc_val_fini(&v);
		return o_err_set(O_ECORRUPT,
		    "journal record %s/%llu/%llu: malformed",
		    oc_bid_str(&r->col, s), (unsigned long long) r->session,
		    (unsigned long long) r->first);
	}
	memcpy(r->type, t->u.s.p, t->u.s.n);
	r->type[t->u.s.n] = '\0';
	r->base_rev       = b->u.i;
	r->acts           = oc_val_dup(a);
	r->blocks         = oc_val_dup(blk);
	oc_val_fini(&v);
	return O_OK;
}

static o_err
j_scan(struct oc_journal *oj, o_err (*fn)(void *arg, struct oc_journal_rec *r),
    void *arg)
{
	struct ost_journal   *j = (struct ost_journal *) oj;
	struct ost_it        *it;
	struct oc_journal_rec r;
	o_err                 e;

	if ((e = ost_it_open(j->db, OST_CF_JOURNAL, NULL, 0, NULL, 0, &it)) !=
	    O_OK)
		return e;
	for (ost_it_first(it); ost_it_valid(it) && e == O_OK;
	     ost_it_next(it)) {
		const uint8_t *k, *p;
		size_t         kl, n;

		k = ost_it_key(it, &kl);
		if (kl != JKEY_LEN)
			continue; /* "node", "session", hints */
		p = ost_it_val(it, &n);
		if (rec_decode(k, p, n, &r) != O_OK) {
			/* storage damage: say so at every mount, keep the
			 * record for inspection, replay the others */
			o_log(O_LOG_ERROR,
			    "%s; its actions cannot be replayed and are "
			    "skipped",
			    o_err_detail());
			oc_journal_rec_fini(&r);
			continue;
		}
		e = fn(arg, &r);
		oc_journal_rec_fini(&r);
	}
	if (e == O_OK)
		e = ost_it_status(it);
	ost_it_close(it);
	return e;
}

static void
hkey(uint8_t k[HKEY_LEN], const struct oc_bid *col)
{
	k[0] = 'h';
	memcpy(k + 1, col->b, 32);
}

static o_err
j_hint_put(
    struct oc_journal *oj, const struct oc_bid *col, const void *p, size_t n)
{
	struct ost_journal *j  = (struct ost_journal *) oj;
	struct ost_wb       wb = { 0 }, *wbs[1] = { &wb };
	uint8_t             k[HKEY_LEN];
	o_err               e;

	hkey(k, col);
	if (n == 0)
		ost_wb_del(&wb, OST_CF_JOURNAL, k, sizeof(k));
	else
		ost_wb_put(&wb, OST_CF_JOURNAL, k, sizeof(k), p, n);
	e = ost_rdb_write(j->db, wbs, 1, false);
	ost_wb_fini(&wb);
	return e;
}

static o_err
j_hint_get(struct oc_journal *oj, const struct oc_bid *col, struct o_buf *out,
    bool *found)
{
	struct ost_journal *j = (struct ost_journal *) oj;
	uint8_t             k[HKEY_LEN];

	hkey(k, col);
	return ost_rdb_get(j->db, OST_CF_JOURNAL, k, sizeof(k), out, found);
}

static const struct oc_journal_ops j_ops = {
	.put      = j_put,
	.drop     = j_drop,
	.scan     = j_scan,
	.hint_put = j_hint_put,
	.hint_get = j_hint_get,
	.put_many = j_put_many,
};

/* The stored integer under key, or 0 when absent. */
static o_err
meta_get(struct ost_rdb *db, const char *key, struct o_buf *out, bool *found)
{
	return ost_rdb_get(db, OST_CF_JOURNAL, key, strlen(key), out, found);
}

o_err
ost_journal_open(struct ost_repo *r, struct oc_journal **out)
{
	struct ost_journal *j = o_calloc(1, sizeof(*j));
	struct ost_wb       wb = { 0 }, *wbs[1] = { &wb };
	struct o_buf        b = { 0 };
	uint8_t             sb[8];
	bool                found;
	o_err               e;

	*out  = NULL;
	j->db = ost_repo_rdb(r);
	if ((e = meta_get(j->db, "node", &b, &found)) != O_OK)
		goto fail;
	if (found && b.len == sizeof(j->j.node)) {
		memcpy(j->j.node, b.data, b.len);
	} else if (found) {
		e = o_err_set(O_ECORRUPT, "journal: node id has %zu bytes",
		    b.len);
		goto fail;
	} else {
		if ((e = o_random(j->j.node, sizeof(j->j.node))) != O_OK)
			goto fail;
		ost_wb_put(&wb, OST_CF_JOURNAL, "node", 4, j->j.node,
		    sizeof(j->j.node));
	}
	o_buf_reset(&b);
	if ((e = meta_get(j->db, "session", &b, &found)) != O_OK)
		goto fail;
	if (found && b.len != 8) {
		e = o_err_set(O_ECORRUPT, "journal: session has %zu bytes",
		    b.len);
		goto fail;
	}
	j->j.session = (found ? o_be64_get(b.data) : 0) + 1;
	o_be64_put(sb, j->j.session);
	ost_wb_put(&wb, OST_CF_JOURNAL, "session", 7, sb, sizeof(sb));
	/* synced: a session number is never handed out twice */
	if ((e = ost_rdb_write(j->db, wbs, 1, true)) != O_OK)
		goto fail;
	oc_journal_init(&j->j, &j_ops);
	ost_wb_fini(&wb);
	o_buf_fini(&b);
	*out = &j->j;
	return O_OK;
fail:
	ost_wb_fini(&wb);
	o_buf_fini(&b);
	free(j);
	return o_err_wrap(e, "opening the journal");
}

void
ost_journal_close(struct oc_journal *j)
{
	if (j == NULL) /* a serve, or a mount that failed before it */
		return;
	oc_journal_fini(j);
	free(j);
}
