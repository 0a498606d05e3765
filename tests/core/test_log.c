/*
 * test_log.c - the hash-chained log (digest section 3): append at rev+1,
 * automatic checkpoints at rev % 32 == 0, the committed context, entries
 * after a rev, priorHash ("phash") over each predecessor without its links,
 * blockIds from a tracker's transform set, and oc_log_verify finding the
 * first bad block.  Test names carry the digest's acceptance item (d28 =
 * section 10.4 item 28).
 *
 * Adapted to our design: checkpoints are not separate entries but ride on
 * the action entry whose rev is a multiple of 32 and restate the 31 actions
 * before it; an empty log has context rev 0; there is no persisted read
 * set, so item 34 has no counterpart.
 *
 * Behaviours run on an in-memory store and through a tracker over it; the
 * tracked run is replayed into the memstore and verified there.  Corruption
 * is injected with ops applied directly to the memstore, bypassing the log.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <criterion/criterion.h>

#include "core/block.h"
#include "core/bstore.h"
#include "core/codec.h"
#include "core/log.h"
#include "core/o_util.h"
#include "core/transactor.h"

TestSuite(log, .timeout = 60);

struct env {
	struct oc_memstore *m;
	struct oc_tracker   t;
	bool                tracked;
	struct oc_bstore   *s; /* store under test: memstore or tracker */
	struct oc_bid       hdr;
	struct oc_log       l;
};

/* ---- helpers ------------------------------------------------------------ */

/* The action id written at rev r (recognisable in contexts). */
static struct oc_aid
aid_for(int64_t r)
{
	struct oc_aid a;

	memset(&a, 0xa5, sizeof(a));
	memcpy(a.b, &r, sizeof(r));
	return a;
}

static struct oc_val
acts_for(int64_t r)
{
	struct oc_val a = oc_array();
	char          s[32];

	snprintf(s, sizeof(s), "op%lld", (long long) r);
	oc_arr_push(&a, oc_text(s));
	return a;
}

static o_err
append_at(
    struct env *v, int64_t r, struct oc_bid *crit, struct oc_chain_path *pos)
{
	struct oc_aid        aid = aid_for(r);
	struct oc_bid        c;
	struct oc_chain_path p;

	return oc_log_append(&v->l, &aid, r, acts_for(r), 1000 + r,
	    crit ? crit : &c, pos ? pos : &p);
}

/* Append revs from..to (inclusive). */
static void
append_range(struct env *v, int64_t from, int64_t to)
{
	int64_t r;

	for (r = from; r <= to; r++)
		cr_assert_eq(append_at(v, r, NULL, NULL), O_OK,
		    "append rev %lld: %s", (long long) r, o_err_detail());
}

static struct oc_val
read_blk(struct oc_bstore *s, const struct oc_bid *id)
{
	struct oc_val b;

	cr_assert_eq(oc_bstore_need(s, id, &b), O_OK, "%s", o_err_detail());
	return b;
}

/* Data block ids head -> tail; returns how many. */
static size_t
log_blocks(struct oc_bstore *s, const struct oc_bid *hdr, struct oc_bid *ids,
    size_t max)
{
	struct oc_val h = read_blk(s, hdr);
	struct oc_bid id;
	size_t        n = 0;

	cr_assert(oc_map_bid(&h, "head", &id));
	oc_val_fini(&h);
	for (;;) {
		struct oc_val b = read_blk(s, &id);
		bool          more;

		cr_assert_lt(n, max, "more than %zu log blocks", max);
		ids[n++] = id;
		more     = oc_map_bid(&b, "next", &id);
		oc_val_fini(&b);
		if (!more)
			return n;
	}
}

static void
expect_ctx_range(
    const struct oc_actx *ctx, int64_t first, int64_t last, int64_t rev)
{
	size_t i, n = (size_t) (last - first + 1);

	cr_assert_eq(ctx->rev, rev, "context rev %lld, want %lld",
	    (long long) ctx->rev, (long long) rev);
	cr_assert_eq(
	    ctx->n, n, "context holds %zu actions, want %zu", ctx->n, n);
	for (i = 0; i < n; i++) {
		struct oc_aid a = aid_for(first + (int64_t) i);

		cr_assert_eq(
		    ctx->committed[i].rev, first + (int64_t) i, "item %zu", i);
		cr_assert(
		    oc_aid_eq(&ctx->committed[i].aid, &a), "item %zu", i);
	}
}

/* Expect *a to be the entries of revs first..last, oldest first. */
static void
expect_entries(const struct oc_val *a, int64_t first, int64_t last)
{
	size_t i, n = last >= first ? (size_t) (last - first + 1) : 0;

	cr_assert_eq(a->type, OC_ARRAY);
	cr_assert_eq(a->u.a.n, n, "%zu entries, want %zu", a->u.a.n, n);
	for (i = 0; i < n; i++) {
		struct oc_aid want = aid_for(first + (int64_t) i), got;

		cr_assert_eq(
		    oc_log_entry_rev(&a->u.a.v[i]), first + (int64_t) i);
		cr_assert(oc_log_entry_aid(&a->u.a.v[i], &got));
		cr_assert(oc_aid_eq(&got, &want));
	}
}

static void
env_init(struct env *v, bool tracked)
{
	struct oc_val h;

	memset(v, 0, sizeof(*v));
	v->m = oc_memstore_alloc();
	oc_bid_random(&v->hdr);
	h = oc_block_new(&v->hdr, OC_BT_DIARY, &v->hdr);
	cr_assert_eq(oc_bstore_insert(oc_memstore_store(v->m), h), O_OK);
	v->tracked = tracked;
	if (tracked) {
		oc_tracker_init(&v->t, oc_memstore_store(v->m));
		v->s = &v->t.base;
	} else {
		v->s = oc_memstore_store(v->m);
	}
	cr_assert_eq(
	    oc_log_create(&v->l, v->s, &v->hdr), O_OK, "%s", o_err_detail());
}

/* Tracked mode: replay the staged changes into the memstore. */
static void
env_flush(struct env *v)
{
	if (!v->tracked)
		return;
	cr_assert_eq(oc_tfs_replay(&v->t.tfs, oc_memstore_store(v->m)), O_OK,
	    "%s", o_err_detail());
	oc_tracker_reset(&v->t, NULL);
}

static void
env_fini(struct env *v)
{
	struct oc_log_report r1, r2;

	cr_assert_eq(oc_log_verify(v->s, &v->hdr, &r1, NULL, NULL), O_OK, "%s",
	    o_err_detail());
	env_flush(v);
	cr_assert_eq(
	    oc_log_verify(oc_memstore_store(v->m), &v->hdr, &r2, NULL, NULL),
	    O_OK, "after replay: %s", o_err_detail());
	cr_assert_eq(r1.blocks, r2.blocks);
	cr_assert_eq(r1.entries, r2.entries);
	cr_assert_eq(r1.last_rev, r2.last_rev);
	cr_assert_eq(oc_memstore_len(v->m), r2.blocks + 1, "stray blocks");
	if (v->tracked)
		oc_tracker_fini(&v->t);
	oc_memstore_free(v->m);
}

/* Run body on a memstore, then through a tracker over one. */
static void
both(void (*body)(struct env *))
{
	struct env v;
	int        mode;

	for (mode = 0; mode < 2; mode++) {
		env_init(&v, mode == 1);
		body(&v);
		env_fini(&v);
	}
}

/* ---- 27: create/open, append ------------------------------------------- */

static void
t_d27_round_trip(struct env *v)
{
	struct oc_log        l2;
	struct oc_chain_path pos, tail;
	struct oc_bid        crit, missing, bare, col;
	struct oc_val        got, want, acts;
	const struct oc_val *act, *e;
	struct oc_aid        aid = aid_for(1), a2;
	int64_t              last;

	cr_assert_eq(oc_log_open(&l2, v->s, &v->hdr), O_OK);
	cr_assert_eq(oc_chain_tail(&v->l.ch, &tail, NULL), O_OK);
	cr_assert_eq(append_at(v, 1, &crit, &pos), O_OK);
	cr_expect(oc_bid_eq(&crit, &tail.blk), "critical = tail before");
	cr_expect(oc_bid_eq(&pos.blk, &tail.blk));
	cr_expect_eq(pos.idx, 0);
	cr_assert_eq(oc_log_last_rev(&l2, &last), O_OK);
	cr_expect_eq(last, 1);

	cr_assert_eq(oc_log_after(&l2, 0, &got), O_OK);
	cr_assert_eq(got.u.a.n, 1);
	e = &got.u.a.v[0];
	cr_expect_eq(oc_log_entry_rev(e), 1);
	cr_expect_eq(oc_map_int(e, "ts", 0), 1001);
	cr_expect_null(oc_map_get(e, "ckpt"));
	act = oc_log_entry_act(e);
	cr_assert_not_null(act);
	cr_assert(oc_log_entry_aid(e, &a2));
	cr_expect(oc_aid_eq(&a2, &aid));
	want = acts_for(1);
	cr_assert_eq(oc_log_entry_acts(e, &acts), O_OK, "%s", o_err_detail());
	cr_expect(oc_val_eq(&acts, &want));
	oc_val_fini(&acts);
	oc_val_fini(&want);
	cr_expect_eq(oc_map_arr(act, "bids")->u.a.n, 0);
	cr_expect_eq(oc_map_arr(act, "cols")->u.a.n, 0);
	oc_val_fini(&got);

	/* the data block belongs to the collection and is an LGD block */
	got = read_blk(v->s, &pos.blk);
	cr_expect_str_eq(oc_block_type(&got), OC_BT_LOG);
	cr_assert(oc_map_bid(&got, OC_F_COL, &col));
	cr_expect(oc_bid_eq(&col, &v->hdr));
	cr_expect_eq(oc_block_validate(&got), O_OK, "%s", o_err_detail());
	oc_val_fini(&got);

	oc_bid_random(&missing);
	cr_expect_eq(oc_log_open(&l2, v->s, &missing), O_ENOTFOUND);
	cr_expect_eq(oc_log_create(&l2, v->s, &missing), O_ENOTFOUND);
	oc_bid_random(&bare);
	cr_assert_eq(
	    oc_bstore_insert(v->s, oc_block_new(&bare, OC_BT_DIARY, &bare)),
	    O_OK);
	cr_expect_eq(oc_log_open(&l2, v->s, &bare), O_ECORRUPT);
	cr_assert_eq(oc_bstore_del(v->s, &bare), O_OK);
}

Test(log, d27_create_open_round_trip_and_append_path)
{
	both(t_d27_round_trip);
}

static void
t_d27_rev(struct env *v)
{
	int64_t last;

	cr_expect_eq(append_at(v, 0, NULL, NULL), O_EINVAL);
	cr_expect_eq(append_at(v, 2, NULL, NULL), O_EINVAL);
	cr_assert_eq(append_at(v, 1, NULL, NULL), O_OK);
	cr_expect_eq(append_at(v, 1, NULL, NULL), O_EINVAL, "rev reused");
	cr_expect_eq(append_at(v, 3, NULL, NULL), O_EINVAL, "rev skipped");
	cr_expect_eq(append_at(v, -1, NULL, NULL), O_EINVAL);
	cr_assert_eq(append_at(v, 2, NULL, NULL), O_OK);
	cr_assert_eq(oc_log_last_rev(&v->l, &last), O_OK);
	cr_expect_eq(last, 2);
	/* and across a block boundary */
	append_range(v, 3, 32);
	cr_expect_eq(append_at(v, 32, NULL, NULL), O_EINVAL);
	cr_expect_eq(append_at(v, 34, NULL, NULL), O_EINVAL);
	append_range(v, 33, 33);
	cr_assert_eq(oc_log_last_rev(&v->l, &last), O_OK);
	cr_expect_eq(last, 33);
}

Test(log, d27_rev_must_be_last_plus_one)
{
	both(t_d27_rev);
}

static void
t_d27_critical(struct env *v)
{
	struct oc_bid        ids[3], crit;
	struct oc_chain_path pos;

	append_range(v, 1, 31);
	cr_assert_eq(append_at(v, 32, &crit, &pos), O_OK);
	cr_assert_eq(log_blocks(v->s, &v->hdr, ids, 3), 1);
	cr_expect(oc_bid_eq(&crit, &ids[0]));
	cr_expect(oc_bid_eq(&pos.blk, &ids[0]));
	cr_expect_eq(pos.idx, 31);
	cr_assert_eq(append_at(v, 33, &crit, &pos), O_OK);
	cr_assert_eq(log_blocks(v->s, &v->hdr, ids, 3), 2);
	cr_expect(oc_bid_eq(&crit, &ids[0]), "critical: tail before append");
	cr_expect(oc_bid_eq(&pos.blk, &ids[1]), "entry lands in the new tail");
	cr_expect_eq(pos.idx, 0);
}

Test(log, d27_critical_is_the_tail_before_the_append)
{
	both(t_d27_critical);
}

/* The actions are stored pre-encoded; oc_log_entry_acts decodes them. */
Test(log, d27_entry_acts_round_trip_and_malformed)
{
	struct oc_val ent = oc_map(), act = oc_map(), acts, big = oc_array();
	struct oc_val in;
	struct o_buf  enc = { 0 };
	int           i;

	/* no action: an empty array, not an error */
	oc_map_set(&ent, "rev", oc_int(7));
	cr_assert_eq(oc_log_entry_acts(&ent, &acts), O_OK);
	cr_expect_eq(acts.type, OC_ARRAY);
	cr_expect_eq(acts.u.a.n, 0);
	oc_val_fini(&acts);
	/* acts missing or not bytes */
	oc_map_set(&ent, "act", act);
	cr_expect_eq(oc_log_entry_acts(&ent, &acts), O_ECORRUPT);
	oc_val_fini(&acts);
	oc_map_set(oc_map_get(&ent, "act"), "acts", oc_array());
	cr_expect_eq(oc_log_entry_acts(&ent, &acts), O_ECORRUPT);
	oc_val_fini(&acts);
	/* garbage bytes, and well-formed CBOR that is not an array */
	oc_map_set(oc_map_get(&ent, "act"), "acts", oc_bytes("\xff\x01", 2));
	cr_expect_eq(oc_log_entry_acts(&ent, &acts), O_ECORRUPT);
	oc_val_fini(&acts);
	in = oc_int(5);
	oc_encode(&in, &enc);
	oc_map_set(
	    oc_map_get(&ent, "act"), "acts", oc_bytes(enc.data, enc.len));
	o_buf_fini(&enc);
	cr_expect_eq(oc_log_entry_acts(&ent, &acts), O_ECORRUPT);
	oc_val_fini(&acts);
	/* a nested action list survives the round trip */
	for (i = 0; i < 3; i++) {
		struct oc_val a = oc_map();

		oc_map_set(&a, "type", oc_text("append"));
		oc_map_set(&a, "data", oc_bytes("xyz", (size_t) i));
		oc_arr_push(&big, a);
	}
	oc_encode(&big, &enc);
	oc_map_set(
	    oc_map_get(&ent, "act"), "acts", oc_bytes(enc.data, enc.len));
	o_buf_fini(&enc);
	cr_assert_eq(oc_log_entry_acts(&ent, &acts), O_OK);
	cr_expect(oc_val_eq(&acts, &big));
	oc_val_fini(&acts);
	oc_val_fini(&big);
	oc_val_fini(&ent);
}

/* ---- 28: committed context ---------------------------------------------- */

static void
t_d28_three(struct env *v)
{
	struct oc_actx ctx;

	append_range(v, 1, 3);
	cr_assert_eq(oc_log_context(&v->l, &ctx), O_OK);
	expect_ctx_range(&ctx, 1, 3, 3);
	oc_actx_fini(&ctx);
}

Test(log, d28_context_after_three_actions)
{
	both(t_d28_three);
}

static void
t_d28_40(struct env *v)
{
	struct oc_actx       ctx;
	struct oc_val        all;
	const struct oc_val *ck;
	size_t               i;

	append_range(v, 1, 31);
	cr_assert_eq(oc_log_context(&v->l, &ctx), O_OK);
	expect_ctx_range(&ctx, 1, 31, 31); /* no checkpoint yet */
	oc_actx_fini(&ctx);
	append_range(v, 32, 40);

	/* only rev 32 carries a checkpoint: [[aid, rev]...] of revs 1..31 */
	cr_assert_eq(oc_log_after(&v->l, 0, &all), O_OK);
	expect_entries(&all, 1, 40);
	for (i = 0; i < 40; i++)
		cr_expect_eq(oc_map_get(&all.u.a.v[i], "ckpt") != NULL,
		    i == 31, "rev %zu", i + 1);
	ck = oc_map_arr(&all.u.a.v[31], "ckpt");
	cr_assert_not_null(ck);
	cr_assert_eq(ck->u.a.n, OC_LOG_CKPT_INTERVAL - 1);
	for (i = 0; i < ck->u.a.n; i++) {
		const struct oc_val *p = &ck->u.a.v[i];
		struct oc_aid        a, want = aid_for((int64_t) i + 1);

		cr_assert(p->type == OC_ARRAY && p->u.a.n == 2);
		cr_assert(oc_aid_from(&p->u.a.v[0], &a));
		cr_expect(oc_aid_eq(&a, &want));
		cr_expect_eq(p->u.a.v[1].u.i, (int64_t) i + 1);
	}
	oc_val_fini(&all);

	/* checkpoint window (1..31) + the actions from 32 on, rev 40 */
	cr_assert_eq(oc_log_context(&v->l, &ctx), O_OK);
	expect_ctx_range(&ctx, 1, 40, 40);
	oc_actx_fini(&ctx);
}

Test(log, d28_context_after_40_actions_uses_checkpoint)
{
	both(t_d28_40);
}

static void
t_d28_bounded(struct env *v)
{
	struct oc_actx ctx;
	struct oc_aid  a1 = aid_for(1), a32 = aid_for(32);

	append_range(v, 1, 32);
	cr_assert_eq(oc_log_context(&v->l, &ctx), O_OK);
	expect_ctx_range(&ctx, 1, 32, 32); /* at the checkpoint itself */
	oc_actx_fini(&ctx);
	append_range(v, 33, 64);
	cr_assert_eq(oc_log_context(&v->l, &ctx), O_OK);
	expect_ctx_range(&ctx, 33, 64, 64);
	cr_expect_eq(oc_actx_find(&ctx, &a1), 0, "implicitly checkpointed");
	cr_expect_eq(oc_actx_find(&ctx, &a32), 0);
	oc_actx_fini(&ctx);
	append_range(v, 65, 100);
	cr_assert_eq(oc_log_context(&v->l, &ctx), O_OK);
	expect_ctx_range(&ctx, 65, 100, 100); /* ckpt@96 restates 65..95 */
	cr_expect_leq(ctx.n, 2 * OC_LOG_CKPT_INTERVAL);
	oc_actx_fini(&ctx);
}

Test(log, d28_context_stays_bounded)
{
	both(t_d28_bounded);
}

/* ---- 29/30: entries after a rev ----------------------------------------- */

static void
t_d29_after(struct env *v)
{
	struct oc_val a;

	append_range(v, 1, 5);
	cr_assert_eq(oc_log_after(&v->l, 0, &a), O_OK);
	expect_entries(&a, 1, 5);
	oc_val_fini(&a);
	cr_assert_eq(oc_log_after(&v->l, 2, &a), O_OK);
	expect_entries(&a, 3, 5);
	oc_val_fini(&a);
	cr_assert_eq(oc_log_after(&v->l, 5, &a), O_OK);
	expect_entries(&a, 1, 0);
	oc_val_fini(&a);
	cr_assert_eq(oc_log_after(&v->l, 99, &a), O_OK);
	expect_entries(&a, 1, 0);
	oc_val_fini(&a);
	append_range(v, 6, 70);
	cr_assert_eq(oc_log_after(&v->l, 20, &a), O_OK);
	expect_entries(&a, 21, 70); /* across three blocks */
	oc_val_fini(&a);
}

Test(log, d29_after_rev_oldest_first)
{
	both(t_d29_after);
}

static void
t_d30_after_ckpt(struct env *v)
{
	struct oc_val a;

	append_range(v, 1, 40);
	cr_assert_eq(oc_log_after(&v->l, 32, &a), O_OK);
	expect_entries(&a, 33, 40); /* at the checkpoint's rev: after it */
	oc_val_fini(&a);
	cr_assert_eq(oc_log_after(&v->l, 31, &a), O_OK);
	expect_entries(&a, 32, 40);
	cr_expect_not_null(oc_map_get(&a.u.a.v[0], "ckpt"));
	oc_val_fini(&a);
}

Test(log, d30_after_at_checkpoint_rev)
{
	both(t_d30_after_ckpt);
}

/* ---- 31: priorHash ------------------------------------------------------ */

static void
t_d31_phash(struct env *v)
{
	struct oc_bid ids[4];
	size_t        i, n;

	append_range(v, 1, 96);
	n = log_blocks(v->s, &v->hdr, ids, 4);
	cr_assert_eq(n, 3);
	for (i = 0; i < n; i++) {
		struct oc_val        b  = read_blk(v->s, &ids[i]);
		const struct oc_val *ph = oc_map_get(&b, "phash");

		cr_expect_eq(oc_map_arr(&b, "entries")->u.a.n, 32);
		if (i == 0) {
			cr_expect_null(ph, "head block has no phash");
		} else {
			struct oc_val p   = read_blk(v->s, &ids[i - 1]);
			struct o_buf  enc = { 0 };
			uint8_t       h[32], h2[32];

			cr_assert_not_null(ph);
			cr_assert_eq(ph->type, OC_BYTES);
			cr_assert_eq(ph->u.s.n, 32);
			/* re-derive: predecessor minus links, encoded, hashed
			 */
			cr_assert(oc_map_get(&p, "next") != NULL);
			oc_map_del(&p, "next");
			oc_map_del(&p, "prior");
			oc_encode(&p, &enc);
			o_sha256(enc.data, enc.len, h);
			cr_expect(memcmp(ph->u.s.p, h, 32) == 0,
			    "block %zu: phash does not re-derive", i);
			oc_log_block_hash(&p, h2);
			cr_expect(memcmp(h, h2, 32) == 0);
			o_buf_fini(&enc);
			oc_val_fini(&p);
		}
		oc_val_fini(&b);
	}
}

Test(log, d31_prior_hash_reproduced_across_96_entries)
{
	both(t_d31_phash);
}

Test(log, d31_block_hash_ignores_links_only)
{
	struct oc_bid id, col, x;
	struct oc_val b, c;
	uint8_t       h1[32], h2[32];

	oc_bid_random(&id);
	oc_bid_random(&col);
	oc_bid_random(&x);
	b = oc_block_new(&id, OC_BT_LOG, &col);
	oc_map_set(&b, "entries", oc_array());
	oc_log_block_hash(&b, h1);
	c = oc_val_dup(&b);
	oc_map_set(&c, "prior", oc_bid_val(&x));
	oc_map_set(&c, "next", oc_bid_val(&id));
	oc_log_block_hash(&c, h2);
	cr_expect(memcmp(h1, h2, 32) == 0, "links are not hashed");
	oc_map_set(&c, "phash", oc_bytes(h1, 32));
	oc_log_block_hash(&c, h2);
	cr_expect(memcmp(h1, h2, 32) != 0, "the prior hash is hashed");
	oc_val_fini(&c);
	oc_val_fini(&b);
}

/* ---- 32: blockIds ------------------------------------------------------- */

static void
expect_bids(struct oc_log *l, const struct oc_chain_path *pos,
    const struct oc_tfs *tfs, size_t n)
{
	struct oc_chain_iter it;
	const struct oc_val *e, *bids;
	bool                 done;
	size_t               i;

	cr_assert_eq(oc_chain_iter_init(&it, &l->ch, pos, true), O_OK);
	cr_assert_eq(oc_chain_iter_next(&it, &e, NULL, &done), O_OK);
	cr_assert(!done);
	bids = oc_map_arr(oc_log_entry_act(e), "bids");
	cr_assert_not_null(bids);
	cr_assert_eq(bids->u.a.n, n, "rev %lld lists %zu blocks, want %zu",
	    (long long) oc_log_entry_rev(e), bids->u.a.n, n);
	cr_assert_eq(tfs->n, n);
	for (i = 0; i < n; i++) {
		struct oc_bid b;

		cr_assert(oc_bid_from(&bids->u.a.v[i], &b));
		cr_expect(oc_bid_eq(&b, &tfs->e[i].id));
	}
	oc_chain_iter_fini(&it);
}

/*
 * One transaction per action, as a collection does it: a tracker over the
 * committed store, append, record the tracker's blocks, replay.  Our chain
 * only touches the header when the tail moves, so actions 1..32 list the
 * tail alone and the 33rd lists header, old tail and new tail.
 */
/*
 * oc_log_append_tx fills in the block ids before the append, so it must
 * predict exactly the blocks the append changes (the tail; at a roll-over
 * also the new block and the header) plus the transaction's other blocks:
 * the entry's ids equal the final transform set, at every revision.
 */
Test(log, d32_append_tx_predicts_the_transform_set)
{
	struct oc_memstore  *m   = oc_memstore_alloc();
	struct oc_bstore    *mem = oc_memstore_store(m);
	struct oc_bid        hdr;
	struct oc_log        l;
	struct oc_log_report rep;
	int64_t              r;

	oc_bid_random(&hdr);
	cr_assert_eq(
	    oc_bstore_insert(mem, oc_block_new(&hdr, OC_BT_DIARY, &hdr)),
	    O_OK);
	cr_assert_eq(oc_log_create(&l, mem, &hdr), O_OK);
	for (r = 1; r <= 70; r++) {
		struct oc_tracker    t;
		struct oc_log        tl;
		struct oc_chain_path pos;
		struct oc_bid        crit, data;
		struct oc_aid        aid = aid_for(r);

		oc_tracker_init(&t, mem);
		/* a data block the transaction also wrote */
		oc_bid_random(&data);
		cr_assert_eq(oc_bstore_insert(&t.base,
		                 oc_block_new(&data, OC_BT_CHUNK, &hdr)),
		    O_OK);
		cr_assert_eq(oc_log_open(&tl, &t.base, &hdr), O_OK);
		cr_assert_eq(oc_log_append_tx(&tl, &aid, r, acts_for(r), r,
		                 &t.tfs, NULL, &crit, &pos),
		    O_OK);
		expect_bids(&tl, &pos, &t.tfs,
		    (r - 1) % OC_CHAIN_PER_BLOCK == 0 && r > 1 ? 4 : 2);
		cr_expect(oc_tfs_get(&t.tfs, &crit) != NULL,
		    "rev %lld: the critical block is not written", (long long) r);
		cr_assert_eq(oc_tfs_replay(&t.tfs, mem), O_OK);
		oc_tracker_fini(&t);
	}
	cr_assert_eq(oc_log_verify(mem, &hdr, &rep, NULL, NULL), O_OK, "%s",
	    o_err_detail());
	cr_expect_eq(rep.last_rev, 70);
	oc_memstore_free(m);
}

Test(log, d32_bids_list_the_blocks_each_action_touched)
{
	struct oc_memstore  *m   = oc_memstore_alloc();
	struct oc_bstore    *mem = oc_memstore_store(m);
	struct oc_bid        hdr, ids[2];
	struct oc_log        l;
	struct oc_log_report rep;
	int64_t              r;

	oc_bid_random(&hdr);
	cr_assert_eq(
	    oc_bstore_insert(mem, oc_block_new(&hdr, OC_BT_DIARY, &hdr)),
	    O_OK);
	cr_assert_eq(oc_log_create(&l, mem, &hdr), O_OK);
	for (r = 1; r <= 33; r++) {
		struct oc_tracker    t;
		struct oc_log        tl;
		struct oc_chain_path pos;
		struct oc_bid        crit;
		struct oc_aid        aid = aid_for(r);

		oc_tracker_init(&t, mem);
		cr_assert_eq(oc_log_open(&tl, &t.base, &hdr), O_OK);
		cr_assert_eq(
		    oc_log_append(&tl, &aid, r, acts_for(r), r, &crit, &pos),
		    O_OK);
		cr_assert_eq(oc_log_set_bids(&tl, &pos, &t.tfs), O_OK);
		expect_bids(&tl, &pos, &t.tfs, r <= 32 ? 1 : 3);
		if (r <= 32)
			cr_expect(oc_bid_eq(&t.tfs.e[0].id, &pos.blk));
		else
			cr_expect(oc_tfs_get(&t.tfs, &hdr) != NULL);
		cr_assert_eq(oc_tfs_replay(&t.tfs, mem), O_OK);
		oc_tracker_fini(&t);
	}
	cr_assert_eq(log_blocks(mem, &hdr, ids, 2), 2);
	cr_assert_eq(oc_log_verify(mem, &hdr, &rep, NULL, NULL), O_OK, "%s",
	    o_err_detail());
	cr_expect_eq(rep.last_rev, 33);
	oc_memstore_free(m);
}

static void
t_d32_bad_pos(struct env *v)
{
	struct oc_chain_path pos;
	struct oc_tfs        none;

	oc_tfs_init(&none);
	cr_assert_eq(append_at(v, 1, NULL, &pos), O_OK);
	pos.idx = 1;
	cr_expect_eq(oc_log_set_bids(&v->l, &pos, &none), O_EINVAL);
	pos.idx = -1;
	cr_expect_eq(oc_log_set_bids(&v->l, &pos, &none), O_EINVAL);
	pos.idx = 0;
	cr_expect_eq(oc_log_set_bids(&v->l, &pos, &none), O_OK);
	oc_bid_random(&pos.blk);
	cr_expect_eq(oc_log_set_bids(&v->l, &pos, &none), O_ENOTFOUND);
	oc_tfs_fini(&none);
}

Test(log, d32_set_bids_at_a_bad_position)
{
	both(t_d32_bad_pos);
}

/* ---- 33: empty log ------------------------------------------------------ */

static void
t_d33_empty(struct env *v)
{
	struct oc_actx ctx;
	struct oc_val  a;
	int64_t        last = -1;

	cr_assert_eq(oc_log_last_rev(&v->l, &last), O_OK);
	cr_expect_eq(last, 0);
	cr_assert_eq(oc_log_context(&v->l, &ctx), O_OK);
	cr_expect_eq(ctx.rev, 0);
	cr_expect_eq(ctx.n, 0);
	oc_actx_fini(&ctx);
	cr_assert_eq(oc_log_after(&v->l, 0, &a), O_OK);
	expect_entries(&a, 1, 0);
	oc_val_fini(&a);
}

Test(log, d33_empty_log_has_no_context_or_entries)
{
	both(t_d33_empty);
}

/* ---- verification ------------------------------------------------------- */

struct progress {
	uint64_t calls;
	uint64_t blocks[16];
	uint64_t entries[16];
};

static void
on_progress(void *arg, uint64_t blocks, uint64_t entries)
{
	struct progress *p = arg;

	if (p->calls < 16) {
		p->blocks[p->calls]  = blocks;
		p->entries[p->calls] = entries;
	}
	p->calls++;
}

static void
t_verify_healthy(struct env *v)
{
	struct oc_log_report rep;
	struct progress      pr = { 0 };
	uint64_t             i;

	append_range(v, 1, 100);
	cr_assert_eq(oc_log_verify(v->s, &v->hdr, &rep, on_progress, &pr),
	    O_OK, "%s", o_err_detail());
	cr_expect(rep.ok);
	cr_expect_eq(rep.blocks, 4);
	cr_expect_eq(rep.entries, 100);
	cr_expect_eq(rep.last_rev, 100);
	cr_assert_eq(pr.calls, 4, "progress once per block");
	for (i = 0; i < 4; i++) {
		cr_expect_eq(pr.blocks[i], i + 1);
		cr_expect_eq(pr.entries[i], O_MIN(32 * (i + 1), 100));
	}
}

Test(log, verify_healthy_100_entry_log)
{
	both(t_verify_healthy);
}

static void
t_verify_empty(struct env *v)
{
	struct oc_log_report rep;
	struct progress      pr = { 0 };

	cr_assert_eq(
	    oc_log_verify(v->s, &v->hdr, &rep, on_progress, &pr), O_OK);
	cr_expect(rep.ok);
	cr_expect_eq(rep.blocks, 1);
	cr_expect_eq(rep.entries, 0);
	cr_expect_eq(rep.last_rev, 0);
	cr_expect_eq(pr.calls, 1);
}

Test(log, verify_empty_log)
{
	both(t_verify_empty);
}

Test(log, verify_missing_header)
{
	struct oc_memstore  *m = oc_memstore_alloc();
	struct oc_bid        hdr;
	struct oc_log_report rep;

	oc_bid_random(&hdr);
	cr_expect_eq(
	    oc_log_verify(oc_memstore_store(m), &hdr, &rep, NULL, NULL),
	    O_ENOTFOUND);
	oc_memstore_free(m);
}

/*
 * A healthy 100-entry log (blocks of 32, 32, 32, 4), built on a memstore or
 * through a tracker and replayed; *mem is the committed store to tamper.
 */
static void
corrupt_setup(struct env *v, bool tracked, struct oc_bid ids[4])
{
	env_init(v, tracked);
	append_range(v, 1, 100);
	env_flush(v);
	cr_assert_eq(log_blocks(oc_memstore_store(v->m), &v->hdr, ids, 4), 4);
}

static void
corrupt_done(struct env *v)
{
	if (v->tracked)
		oc_tracker_fini(&v->t);
	oc_memstore_free(v->m);
}

/* Replace entry idx of block id (directly in the memstore) by a copy with
 * field set to val. */
static void
tamper_entry(struct env *v, const struct oc_bid *id, uint32_t idx,
    const char *field, struct oc_val val)
{
	struct oc_bstore *mem = oc_memstore_store(v->m);
	struct oc_val     b   = read_blk(mem, id);
	struct oc_val e = oc_val_dup(&oc_map_arr(&b, "entries")->u.a.v[idx]);
	struct oc_val a = oc_array();

	oc_map_set(&e, field, val);
	oc_arr_push(&a, e);
	cr_assert_eq(
	    oc_bstore_update(mem, id, oc_op_splice("entries", idx, 1, a)),
	    O_OK);
	oc_val_fini(&b);
}

static void
expect_bad(struct env *v, const struct oc_bid *bad, uint64_t idx)
{
	struct oc_log_report rep;
	char                 s1[OC_BID_STRLEN], s2[OC_BID_STRLEN];
	o_err                e;

	e = oc_log_verify(oc_memstore_store(v->m), &v->hdr, &rep, NULL, NULL);
	cr_assert_eq(e, O_ECORRUPT, "verify returned %s", o_errname(e));
	cr_expect(!rep.ok);
	cr_expect(oc_bid_eq(&rep.bad, bad), "names %s, want %s",
	    oc_bid_str(&rep.bad, s1), oc_bid_str(bad, s2));
	cr_expect_eq(rep.bad_index, idx, "bad_index %llu, want %llu",
	    (unsigned long long) rep.bad_index, (unsigned long long) idx);
	cr_expect_neq(rep.why[0], '\0', "a reason is given");
	cr_expect(strstr(o_err_detail(), oc_bid_str(bad, s1)) != NULL,
	    "error detail names the block: %s", o_err_detail());
}

Test(log, verify_changed_entry_names_its_block)
{
	struct env    v;
	struct oc_bid ids[4];
	uint32_t      k;
	int           mode;

	for (mode = 0; mode < 2; mode++) {
		/* head and both middle blocks: the successor's phash catches
		 * it, and the changed block is the one named */
		for (k = 0; k < 3; k++) {
			corrupt_setup(&v, mode == 1, ids);
			tamper_entry(&v, &ids[k], 5, "ts", oc_int(424242));
			expect_bad(&v, &ids[k], k);
			corrupt_done(&v);
		}
		corrupt_setup(&v, mode == 1, ids);
		tamper_entry(&v, &ids[1], 17, "act", oc_map());
		expect_bad(&v, &ids[1], 1);
		corrupt_done(&v);
	}
}

Test(log, verify_changed_block_field_names_its_block)
{
	struct env    v;
	struct oc_bid ids[4];

	/* a field outside the entries is covered by the hash as well */
	corrupt_setup(&v, false, ids);
	cr_assert_eq(oc_bstore_update(oc_memstore_store(v.m), &ids[2],
	                 oc_op_set("extra", oc_int(1))),
	    O_OK);
	expect_bad(&v, &ids[2], 2);
	corrupt_done(&v);
	/* a forged phash is caught when checking that block's predecessor */
	corrupt_setup(&v, false, ids);
	cr_assert_eq(oc_bstore_update(oc_memstore_store(v.m), &ids[2],
	                 oc_op_set("phash", oc_bytes(ids[0].b, 32))),
	    O_OK);
	expect_bad(&v, &ids[1], 1);
	corrupt_done(&v);
}

Test(log, verify_non_consecutive_rev_names_its_block)
{
	struct env    v;
	struct oc_bid ids[4];
	int           mode;

	for (mode = 0; mode < 2; mode++) {
		/* a rev gap inside the tail (no successor hash covers it) */
		corrupt_setup(&v, mode == 1, ids);
		tamper_entry(&v, &ids[3], 2, "rev", oc_int(200));
		expect_bad(&v, &ids[3], 3);
		corrupt_done(&v);
		/* a repeated rev at the start of a middle block */
		corrupt_setup(&v, mode == 1, ids);
		tamper_entry(&v, &ids[2], 0, "rev", oc_int(64));
		expect_bad(&v, &ids[2], 2);
		corrupt_done(&v);
		/* an entry removed from a middle block */
		corrupt_setup(&v, mode == 1, ids);
		cr_assert_eq(oc_bstore_update(oc_memstore_store(v.m), &ids[1],
		                 oc_op_splice("entries", 10, 1, oc_array())),
		    O_OK);
		expect_bad(&v, &ids[1], 1);
		corrupt_done(&v);
	}
}

Test(log, verify_broken_prior_link_names_its_block)
{
	struct env    v;
	struct oc_bid ids[4], other;

	corrupt_setup(&v, false, ids);
	oc_bid_random(&other);
	cr_assert_eq(oc_bstore_update(oc_memstore_store(v.m), &ids[2],
	                 oc_op_set("prior", oc_bid_val(&other))),
	    O_OK);
	expect_bad(&v, &ids[2], 2);
	corrupt_done(&v);
	/* prior removed */
	corrupt_setup(&v, false, ids);
	cr_assert_eq(oc_bstore_update(oc_memstore_store(v.m), &ids[3],
	                 oc_op_set("prior", oc_null())),
	    O_OK);
	expect_bad(&v, &ids[3], 3);
	corrupt_done(&v);
	/* a head block with a prior link */
	corrupt_setup(&v, false, ids);
	cr_assert_eq(oc_bstore_update(oc_memstore_store(v.m), &ids[0],
	                 oc_op_set("prior", oc_bid_val(&ids[3]))),
	    O_OK);
	expect_bad(&v, &ids[0], 0);
	corrupt_done(&v);
}

Test(log, verify_missing_block_names_it)
{
	struct env    v;
	struct oc_bid ids[4];
	int           mode;
	uint64_t      k;

	for (mode = 0; mode < 2; mode++) {
		for (k = 0; k < 4; k++) {
			corrupt_setup(&v, mode == 1, ids);
			cr_assert_eq(
			    oc_bstore_del(oc_memstore_store(v.m), &ids[k]),
			    O_OK);
			expect_bad(&v, &ids[k], k);
			corrupt_done(&v);
		}
	}
}

Test(log, verify_wrong_block_type_names_it)
{
	struct env    v;
	struct oc_bid ids[4];

	corrupt_setup(&v, false, ids);
	cr_assert_eq(oc_bstore_update(oc_memstore_store(v.m), &ids[1],
	                 oc_op_set(OC_F_TYPE, oc_text(OC_BT_LEAF))),
	    O_OK);
	expect_bad(&v, &ids[1], 1);
	cr_expect(strstr(o_err_detail(), OC_BT_LEAF) != NULL ||
	        strstr(o_err_detail(), "type") != NULL,
	    "detail says the type is wrong: %s", o_err_detail());
	corrupt_done(&v);
	/* malformed: entries is not an array */
	corrupt_setup(&v, false, ids);
	cr_assert_eq(oc_bstore_update(oc_memstore_store(v.m), &ids[2],
	                 oc_op_set("entries", oc_int(3))),
	    O_OK);
	expect_bad(&v, &ids[2], 2);
	corrupt_done(&v);
}

Test(log, verify_head_block_with_phash_is_bad)
{
	struct env    v;
	struct oc_bid ids[4];

	corrupt_setup(&v, false, ids);
	cr_assert_eq(oc_bstore_update(oc_memstore_store(v.m), &ids[0],
	                 oc_op_set("phash", oc_bytes(ids[1].b, 32))),
	    O_OK);
	expect_bad(&v, &ids[0], 0);
	corrupt_done(&v);
}

Test(log, verify_progress_stops_at_the_bad_block)
{
	struct env           v;
	struct oc_bid        ids[4];
	struct oc_log_report rep;
	struct progress      pr = { 0 };

	corrupt_setup(&v, false, ids);
	cr_assert_eq(oc_bstore_del(oc_memstore_store(v.m), &ids[2]), O_OK);
	cr_assert_eq(oc_log_verify(oc_memstore_store(v.m), &v.hdr, &rep,
	                 on_progress, &pr),
	    O_ECORRUPT);
	cr_expect_eq(pr.calls, 2, "one call per good block before the bad");
	cr_expect_eq(rep.entries, 64);
	cr_expect_eq(rep.last_rev, 64);
	corrupt_done(&v);
}
