/*
 * test_chain.c - the chain of data blocks (digest section 2): create/open,
 * add with roll-over at 32 entries, pop/dequeue in chain order, update_at,
 * iteration from a path in both directions across block boundaries, the
 * new-block hook, and a model-based random test of add/pop/dequeue.  Test
 * names carry the digest's acceptance item (d19 = section 10.3 item 19).
 *
 * Every behaviour runs twice: on an in-memory store, and through a tracker
 * over it (how collections use chains).  The tracked run is replayed into
 * the memstore at the end and must read back the same chain there.  After
 * each run the chain's structure is checked: head without prior, prior
 * links naming the predecessor, tail = header's tail, at most 32 entries a
 * block, no empty block unless it is the only one, interior blocks full,
 * and (on the memstore) no block left behind.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <criterion/criterion.h>

#include "core/block.h"
#include "core/bstore.h"
#include "core/chain.h"
#include "core/o_util.h"

TestSuite(chain, .timeout = 60);

#define DTYPE OC_BT_LOG

struct env {
	struct oc_memstore *m;
	struct oc_tracker   t;
	bool                tracked;
	struct oc_bstore   *s; /* store under test: memstore or tracker */
	struct oc_bid       hdr;
	struct oc_chain     c;
	oc_chain_hook       hook;
};

/* ---- helpers ------------------------------------------------------------ */

static struct oc_val
ent(int i)
{
	char s[32];

	snprintf(s, sizeof(s), "entry%d", i);
	return oc_text(s);
}

static bool
is_ent(const struct oc_val *v, int i)
{
	char s[32];

	snprintf(s, sizeof(s), "entry%d", i);
	return v->type == OC_TEXT && strcmp((const char *) v->u.s.p, s) == 0;
}

/* Expect a to be entry{first}, entry{first+step}, ... (n items). */
static void
expect_seq(const struct oc_val *a, int first, size_t n, int step)
{
	size_t i;

	cr_assert_eq(a->type, OC_ARRAY);
	cr_assert_eq(
	    a->u.a.n, n, "expected %zu entries, got %zu", n, a->u.a.n);
	for (i = 0; i < n; i++)
		cr_assert(is_ent(&a->u.a.v[i], first + (int) i * step),
		    "item %zu is not entry%d", i, first + (int) i * step);
}

/* Add entry{from} .. entry{from+n-1} in one call. */
static void
add_range(struct env *v, int from, size_t n, struct oc_chain_path *last)
{
	struct oc_val *a = calloc(n ? n : 1, sizeof(*a));
	size_t         i;

	for (i = 0; i < n; i++)
		a[i] = ent(from + (int) i);
	cr_assert_eq(
	    oc_chain_add(&v->c, a, n, last), O_OK, "add: %s", o_err_detail());
	free(a);
}

/* All entries, forward (from start or the head) or backward. */
static struct oc_val
collect(struct oc_chain *c, const struct oc_chain_path *start, bool fwd)
{
	struct oc_chain_iter it;
	const struct oc_val *e;
	struct oc_val        a = oc_array();
	bool                 done;

	cr_assert_eq(oc_chain_iter_init(&it, c, start, fwd), O_OK, "%s",
	    o_err_detail());
	for (;;) {
		cr_assert_eq(oc_chain_iter_next(&it, &e, NULL, &done), O_OK);
		if (done)
			break;
		oc_arr_push(&a, oc_val_dup(e));
	}
	oc_chain_iter_fini(&it);
	return a;
}

/* Path of the entry at ordinal k (0 = oldest). */
static struct oc_chain_path
path_of(struct oc_chain *c, size_t k)
{
	struct oc_chain_iter it;
	struct oc_chain_path p;
	const struct oc_val *e;
	bool                 done;
	size_t               i;

	cr_assert_eq(oc_chain_iter_init(&it, c, NULL, true), O_OK);
	for (i = 0; i <= k; i++) {
		cr_assert_eq(oc_chain_iter_next(&it, &e, &p, &done), O_OK);
		cr_assert(!done, "chain shorter than %zu", k + 1);
	}
	oc_chain_iter_fini(&it);
	return p;
}

static struct oc_val
read_blk(struct oc_bstore *s, const struct oc_bid *id)
{
	struct oc_val b;

	cr_assert_eq(oc_bstore_need(s, id, &b), O_OK, "%s", o_err_detail());
	return b;
}

static size_t
blk_len(struct oc_bstore *s, const struct oc_bid *id)
{
	struct oc_val b = read_blk(s, id);
	size_t        n = oc_map_arr(&b, "entries")->u.a.n;

	oc_val_fini(&b);
	return n;
}

/*
 * Walk the chain head -> tail checking its shape; returns the number of
 * data blocks and fills ids[] (up to max) with their ids.
 */
static size_t
check_shape(struct oc_bstore *s, const struct oc_bid *hdr, struct oc_bid *ids,
    size_t max)
{
	struct oc_val h = read_blk(s, hdr);
	struct oc_bid head, tail, id, prev, link;
	size_t        nb = 0;

	cr_assert(oc_map_bid(&h, "head", &head));
	cr_assert(oc_map_bid(&h, "tail", &tail));
	oc_val_fini(&h);
	id = head;
	for (;;) {
		struct oc_val        b = read_blk(s, &id);
		const struct oc_val *e = oc_map_arr(&b, "entries");
		bool                 has_next;
		struct oc_bid        nx;

		cr_assert(nb < 100000, "chain loops");
		cr_assert_str_eq(oc_block_type(&b), DTYPE);
		cr_assert(e != NULL);
		cr_assert_leq(e->u.a.n, OC_CHAIN_PER_BLOCK);
		if (nb == 0) {
			cr_assert(!oc_map_bid(&b, "prior", &link),
			    "head block has a prior");
		} else {
			cr_assert(oc_map_bid(&b, "prior", &link));
			cr_assert(oc_bid_eq(&link, &prev),
			    "block %zu: prior is not its predecessor", nb);
		}
		has_next = oc_map_bid(&b, "next", &nx);
		if (nb > 0 || has_next)
			cr_assert_gt(e->u.a.n, 0,
			    "empty block %zu in a chain "
			    "of several",
			    nb);
		if (nb > 0 && has_next)
			cr_assert_eq(e->u.a.n, OC_CHAIN_PER_BLOCK,
			    "interior block %zu not full", nb);
		oc_val_fini(&b);
		if (ids != NULL && nb < max)
			ids[nb] = id;
		nb++;
		if (!has_next)
			break;
		prev = id;
		id   = nx;
	}
	cr_assert(oc_bid_eq(&id, &tail), "header tail is not the last block");
	return nb;
}

/* The borrowed tail walk agrees with the copying one, and its last entry
 * is the chain's last (none when the chain is empty). */
static void
check_tail_peek(struct oc_chain *c, const struct oc_val *all)
{
	struct oc_chain_path p, q;
	struct oc_val        tmp = oc_null(), blk;
	const struct oc_val *last;

	cr_assert_eq(oc_chain_tail_peek(c, &p, &tmp, &last), O_OK, "%s",
	    o_err_detail());
	if (all->u.a.n == 0)
		cr_assert_null(last, "a last entry in an empty chain");
	else
		cr_assert(last != NULL &&
		        oc_val_eq(last, &all->u.a.v[all->u.a.n - 1]),
		    "the borrowed tail's last entry is not the chain's last");
	oc_val_fini(&tmp);
	cr_assert_eq(oc_chain_tail(c, &q, &blk), O_OK);
	oc_val_fini(&blk);
	cr_assert(oc_bid_eq(&p.blk, &q.blk) && p.idx == q.idx,
	    "borrowed tail %lld, copied %lld", (long long) p.idx,
	    (long long) q.idx);
}

/* Forward and backward traversal agree; returns the forward entries. */
static struct oc_val
check_traversal(struct oc_chain *c)
{
	struct oc_val f = collect(c, NULL, true);
	struct oc_val b = collect(c, NULL, false);
	size_t        i, n = f.u.a.n;

	cr_assert_eq(b.u.a.n, n, "forward %zu, backward %zu", n, b.u.a.n);
	for (i = 0; i < n; i++)
		cr_assert(oc_val_eq(&f.u.a.v[i], &b.u.a.v[n - 1 - i]),
		    "forward/backward differ at %zu", i);
	oc_val_fini(&b);
	check_tail_peek(c, &f);
	return f;
}

static void
env_init(struct env *v, bool tracked, oc_chain_hook hook)
{
	struct oc_val h;

	memset(v, 0, sizeof(*v));
	v->m = oc_memstore_alloc();
	oc_bid_random(&v->hdr);
	h = oc_block_new(&v->hdr, OC_BT_DIARY, &v->hdr);
	cr_assert_eq(oc_bstore_insert(oc_memstore_store(v->m), h), O_OK);
	v->tracked = tracked;
	v->hook    = hook;
	if (tracked) {
		oc_tracker_init(&v->t, oc_memstore_store(v->m));
		v->s = &v->t.base;
	} else {
		v->s = oc_memstore_store(v->m);
	}
	cr_assert_eq(oc_chain_create(&v->c, v->s, &v->hdr, DTYPE, hook), O_OK,
	    "%s", o_err_detail());
}

/* Tracked mode: replay the staged changes into the memstore, start over. */
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
	struct oc_bstore *mem = oc_memstore_store(v->m);
	struct oc_val     seen, after;
	struct oc_chain   mc;
	size_t            nb;

	check_shape(v->s, &v->hdr, NULL, 0);
	seen = check_traversal(&v->c);
	env_flush(v);
	cr_assert_eq(oc_chain_open(&mc, mem, &v->hdr, DTYPE, v->hook), O_OK);
	nb    = check_shape(mem, &v->hdr, NULL, 0);
	after = check_traversal(&mc);
	cr_assert(oc_val_eq(&seen, &after), "memstore differs after replay");
	cr_assert_eq(oc_memstore_len(v->m), nb + 1,
	    "%zu blocks stored for %zu data blocks + header",
	    oc_memstore_len(v->m), nb);
	oc_val_fini(&seen);
	oc_val_fini(&after);
	if (v->tracked)
		oc_tracker_fini(&v->t);
	oc_memstore_free(v->m);
}

/* Run body on a memstore, then through a tracker over one. */
static void
both(void (*body)(struct env *), oc_chain_hook hook)
{
	struct env v;
	int        mode;

	for (mode = 0; mode < 2; mode++) {
		env_init(&v, mode == 1, hook);
		body(&v);
		env_fini(&v);
	}
}

/* ---- 18: new chain ------------------------------------------------------ */

static void
t_d18_new(struct env *v)
{
	struct oc_chain_path h, t;
	struct oc_val        a;

	cr_assert_eq(oc_chain_head(&v->c, &h, NULL), O_OK);
	cr_assert_eq(oc_chain_tail(&v->c, &t, NULL), O_OK);
	cr_expect(oc_bid_eq(&h.blk, &t.blk), "head and tail differ");
	cr_expect_eq(h.idx, -1);
	cr_expect_eq(t.idx, -1);
	cr_expect_eq(blk_len(v->s, &h.blk), 0);
	a = collect(&v->c, NULL, true);
	expect_seq(&a, 0, 0, 1);
	oc_val_fini(&a);
	a = collect(&v->c, NULL, false);
	expect_seq(&a, 0, 0, 1);
	oc_val_fini(&a);
	/* iterating from the (off-the-end) head/tail paths yields nothing */
	a = collect(&v->c, &h, true);
	expect_seq(&a, 0, 0, 1);
	oc_val_fini(&a);
	a = collect(&v->c, &t, false);
	expect_seq(&a, 0, 0, 1);
	oc_val_fini(&a);
	cr_assert_eq(oc_chain_pop(&v->c, 1, &a), O_OK);
	expect_seq(&a, 0, 0, 1);
	oc_val_fini(&a);
	cr_assert_eq(oc_chain_dequeue(&v->c, 1, &a), O_OK);
	expect_seq(&a, 0, 0, 1);
	oc_val_fini(&a);
	cr_expect_eq(check_shape(v->s, &v->hdr, NULL, 0), 1);
}

Test(chain, d18_new_chain_is_one_empty_block)
{
	both(t_d18_new, NULL);
}

static void
t_d18_open(struct env *v)
{
	struct oc_chain c2;
	struct oc_bid   missing, bare;
	struct oc_val   b;

	cr_assert_eq(oc_chain_open(&c2, v->s, &v->hdr, DTYPE, NULL), O_OK);
	cr_expect(oc_bid_eq(&c2.col, &v->hdr), "col is the header's col");
	add_range(v, 0, 3, NULL);
	b = collect(&c2, NULL, true);
	expect_seq(&b, 0, 3, 1);
	oc_val_fini(&b);

	oc_bid_random(&missing);
	cr_expect_eq(
	    oc_chain_open(&c2, v->s, &missing, DTYPE, NULL), O_ENOTFOUND);
	oc_bid_random(&bare);
	cr_assert_eq(
	    oc_bstore_insert(v->s, oc_block_new(&bare, OC_BT_DIARY, &bare)),
	    O_OK);
	cr_expect_eq(oc_chain_open(&c2, v->s, &bare, DTYPE, NULL), O_ECORRUPT);
	cr_assert_eq(oc_bstore_del(v->s, &bare), O_OK);
}

Test(chain, d18_open_round_trip_and_errors)
{
	both(t_d18_open, NULL);
}

/* The borrowed tail walk names a block it cannot find: the tail, or the
 * header itself. */
static void
t_tail_peek_missing(struct env *v)
{
	struct oc_chain_path p;
	struct oc_val        tmp = oc_null(), blk, hdr;
	const struct oc_val *last;
	struct oc_bid        tail;
	char                 s[OC_BID_STRLEN];

	add_range(v, 0, 200, NULL);
	cr_assert_eq(oc_chain_tail(&v->c, &p, &blk), O_OK);
	tail = p.blk;
	cr_assert(!oc_bid_eq(&tail, &v->hdr), "the chain did not roll over");
	cr_assert_eq(oc_bstore_need(v->s, &v->hdr, &hdr), O_OK);
	cr_assert_eq(oc_bstore_del(v->s, &tail), O_OK);
	cr_assert_eq(oc_chain_tail_peek(&v->c, &p, &tmp, &last), O_ENOTFOUND);
	cr_assert_not_null(strstr(o_err_detail(), oc_bid_str(&tail, s)), "%s",
	    o_err_detail());
	cr_assert_eq(oc_bstore_del(v->s, &v->hdr), O_OK);
	cr_assert_eq(oc_chain_tail_peek(&v->c, &p, &tmp, &last), O_ENOTFOUND);
	cr_assert_not_null(strstr(o_err_detail(), oc_bid_str(&v->hdr, s)),
	    "%s", o_err_detail());
	oc_val_fini(&tmp);
	/* put them back for the shape checks that follow */
	cr_assert_eq(oc_bstore_insert(v->s, hdr), O_OK);
	cr_assert_eq(oc_bstore_insert(v->s, blk), O_OK);
}

Test(chain, tail_peek_names_a_missing_block)
{
	both(t_tail_peek_missing, NULL);
}

/* ---- 19: add and roll-over ---------------------------------------------- */

static void
t_d19_within(struct env *v)
{
	struct oc_chain_path last, h;
	struct oc_val        a;

	add_range(v, 0, 3, &last);
	cr_assert_eq(oc_chain_head(&v->c, &h, NULL), O_OK);
	cr_expect(oc_bid_eq(&last.blk, &h.blk));
	cr_expect_eq(last.idx, 2);
	add_range(v, 3, 2, &last);
	cr_expect_eq(last.idx, 4);
	/* adding nothing is a no-op that reports the tail */
	cr_assert_eq(oc_chain_add(&v->c, NULL, 0, &last), O_OK);
	cr_expect_eq(last.idx, 4);
	a = collect(&v->c, NULL, true);
	expect_seq(&a, 0, 5, 1);
	oc_val_fini(&a);
	cr_expect_eq(check_shape(v->s, &v->hdr, NULL, 0), 1);
}

Test(chain, d19_add_within_one_block)
{
	both(t_d19_within, NULL);
}

static void
t_d19_33(struct env *v)
{
	struct oc_chain_path last, t;
	struct oc_bid        ids[4], link;
	struct oc_val        b, a;

	add_range(v, 0, 33, &last);
	cr_assert_eq(check_shape(v->s, &v->hdr, ids, 4), 2);
	cr_assert_eq(oc_chain_tail(&v->c, &t, &b), O_OK);
	cr_expect(oc_bid_eq(&t.blk, &ids[1]));
	cr_expect(oc_bid_eq(&last.blk, &ids[1]));
	cr_expect_eq(last.idx, 0);
	cr_expect_eq(t.idx, 0);
	cr_expect_eq(oc_map_arr(&b, "entries")->u.a.n, 1);
	cr_assert(oc_map_bid(&b, "prior", &link));
	cr_expect(oc_bid_eq(&link, &ids[0]));
	cr_expect(!oc_map_bid(&b, "next", &link));
	oc_val_fini(&b);
	cr_expect_eq(blk_len(v->s, &ids[0]), 32);
	a = collect(&v->c, NULL, true);
	expect_seq(&a, 0, 33, 1);
	oc_val_fini(&a);
}

Test(chain, d19_33_entries_roll_over)
{
	both(t_d19_33, NULL);
}

static void
t_d19_fill(struct env *v)
{
	struct oc_chain_path last;
	struct oc_bid        ids[5];
	struct oc_val        a;

	/* exactly one full block, then top up a partial tail across calls */
	add_range(v, 0, 32, &last);
	cr_expect_eq(last.idx, 31);
	cr_expect_eq(check_shape(v->s, &v->hdr, NULL, 0), 1);
	add_range(v, 32, 20, &last);
	add_range(v, 52, 20, &last);
	cr_assert_eq(check_shape(v->s, &v->hdr, ids, 5), 3);
	cr_expect_eq(blk_len(v->s, &ids[1]), 32);
	cr_expect_eq(blk_len(v->s, &ids[2]), 8);
	cr_expect(oc_bid_eq(&last.blk, &ids[2]));
	cr_expect_eq(last.idx, 7);
	/* top the tail up, then two full blocks: no empty block after */
	add_range(v, 72, 24 + 64, &last);
	cr_assert_eq(check_shape(v->s, &v->hdr, ids, 5), 5);
	cr_expect_eq(blk_len(v->s, &ids[2]), 32);
	cr_expect_eq(blk_len(v->s, &ids[4]), 32);
	cr_expect(oc_bid_eq(&last.blk, &ids[4]));
	cr_expect_eq(last.idx, 31);
	a = collect(&v->c, NULL, true);
	expect_seq(&a, 0, 160, 1);
	oc_val_fini(&a);
}

Test(chain, d19_add_tops_up_tail_then_rolls_over)
{
	both(t_d19_fill, NULL);
}

static void
t_d19_update_at(struct env *v)
{
	struct oc_chain_path p, bad;
	struct oc_val        a;

	add_range(v, 0, 40, NULL);
	p = path_of(&v->c, 35);
	cr_assert_eq(oc_chain_update_at(&v->c, &p, ent(1035)), O_OK);
	p = path_of(&v->c, 0);
	cr_assert_eq(oc_chain_update_at(&v->c, &p, ent(1000)), O_OK);
	a = collect(&v->c, NULL, true);
	cr_assert_eq(a.u.a.n, 40);
	cr_expect(is_ent(&a.u.a.v[35], 1035));
	cr_expect(is_ent(&a.u.a.v[0], 1000));
	cr_expect(is_ent(&a.u.a.v[34], 34));
	cr_expect(is_ent(&a.u.a.v[36], 36));
	oc_val_fini(&a);

	bad     = path_of(&v->c, 39);
	bad.idx = 8; /* tail has 8 entries: one past the end */
	cr_expect_eq(oc_chain_update_at(&v->c, &bad, ent(0)), O_EINVAL);
	bad.idx = -1;
	cr_expect_eq(oc_chain_update_at(&v->c, &bad, ent(0)), O_EINVAL);
	oc_bid_random(&bad.blk);
	bad.idx = 0;
	cr_expect_eq(oc_chain_update_at(&v->c, &bad, ent(0)), O_ENOTFOUND);
}

Test(chain, d19_update_at_replaces_one_entry)
{
	both(t_d19_update_at, NULL);
}

/* ---- 20/21/22: pop and dequeue ------------------------------------------ */

static void
t_d20_pop(struct env *v)
{
	struct oc_val a;

	add_range(v, 1, 3, NULL);
	cr_assert_eq(oc_chain_pop(&v->c, 2, &a), O_OK);
	expect_seq(&a, 2, 2, 1); /* [t2, t3]: chain order, oldest first */
	oc_val_fini(&a);
	a = collect(&v->c, NULL, true);
	expect_seq(&a, 1, 1, 1);
	oc_val_fini(&a);
	cr_assert_eq(oc_chain_pop(&v->c, 0, &a), O_OK);
	expect_seq(&a, 0, 0, 1);
	oc_val_fini(&a);
	cr_assert_eq(oc_chain_pop(&v->c, 5, &a), O_OK);
	expect_seq(&a, 1, 1, 1);
	oc_val_fini(&a);

	add_range(v, 1, 3, NULL);
	cr_assert_eq(oc_chain_pop(&v->c, 5, &a), O_OK);
	expect_seq(&a, 1, 3, 1);
	oc_val_fini(&a);
	a = collect(&v->c, NULL, false);
	expect_seq(&a, 0, 0, 1);
	oc_val_fini(&a);
	cr_expect_eq(check_shape(v->s, &v->hdr, NULL, 0), 1);
}

Test(chain, d20_pop_returns_chain_order)
{
	both(t_d20_pop, NULL);
}

static void
t_d21_dequeue(struct env *v)
{
	struct oc_val a;

	add_range(v, 1, 3, NULL);
	cr_assert_eq(oc_chain_dequeue(&v->c, 2, &a), O_OK);
	expect_seq(&a, 1, 2, 1);
	oc_val_fini(&a);
	a = collect(&v->c, NULL, true);
	expect_seq(&a, 3, 1, 1);
	oc_val_fini(&a);
	cr_assert_eq(oc_chain_dequeue(&v->c, 9, &a), O_OK);
	expect_seq(&a, 3, 1, 1);
	oc_val_fini(&a);
	cr_assert_eq(oc_chain_dequeue(&v->c, 1, &a), O_OK);
	expect_seq(&a, 0, 0, 1);
	oc_val_fini(&a);
	a = collect(&v->c, NULL, true);
	expect_seq(&a, 0, 0, 1);
	oc_val_fini(&a);
	cr_expect_eq(check_shape(v->s, &v->hdr, NULL, 0), 1);
}

Test(chain, d21_dequeue_fifo_and_over_dequeue)
{
	both(t_d21_dequeue, NULL);
}

static void
t_d22_pop50(struct env *v)
{
	struct oc_chain_path t;
	struct oc_bid        ids[4];
	struct oc_val        a;

	add_range(v, 0, 100, NULL);
	cr_assert_eq(check_shape(v->s, &v->hdr, NULL, 0), 4);
	cr_assert_eq(oc_chain_pop(&v->c, 50, &a), O_OK);
	expect_seq(&a, 50, 50, 1); /* first entry50, last entry99 */
	oc_val_fini(&a);
	a = collect(&v->c, NULL, true);
	expect_seq(&a, 0, 50, 1);
	oc_val_fini(&a);
	a = collect(&v->c, NULL, false);
	expect_seq(&a, 49, 50, -1);
	oc_val_fini(&a);
	cr_assert_eq(check_shape(v->s, &v->hdr, ids, 4), 2);
	cr_assert_eq(oc_chain_tail(&v->c, &t, NULL), O_OK);
	cr_expect(oc_bid_eq(&t.blk, &ids[1]));
	cr_expect_eq(t.idx, 17);
}

Test(chain, d22_100_entries_pop_50)
{
	both(t_d22_pop50, NULL);
}

static void
t_d22_deq50(struct env *v)
{
	struct oc_chain_path h;
	struct oc_bid        ids[4];
	struct oc_val        a;

	add_range(v, 0, 100, NULL);
	cr_assert_eq(oc_chain_dequeue(&v->c, 50, &a), O_OK);
	expect_seq(&a, 0, 50, 1);
	oc_val_fini(&a);
	a = collect(&v->c, NULL, true);
	expect_seq(&a, 50, 50, 1);
	oc_val_fini(&a);
	a = collect(&v->c, NULL, false);
	expect_seq(&a, 99, 50, -1);
	oc_val_fini(&a);
	cr_assert_eq(check_shape(v->s, &v->hdr, ids, 4), 3);
	cr_assert_eq(oc_chain_head(&v->c, &h, NULL), O_OK);
	cr_expect(oc_bid_eq(&h.blk, &ids[0]));
	cr_expect_eq(blk_len(v->s, &ids[0]), 14);
	/* dequeue exactly the head block's remaining entries */
	cr_assert_eq(oc_chain_dequeue(&v->c, 14, &a), O_OK);
	expect_seq(&a, 50, 14, 1);
	oc_val_fini(&a);
	cr_assert_eq(check_shape(v->s, &v->hdr, ids, 4), 2);
	a = collect(&v->c, NULL, true);
	expect_seq(&a, 64, 36, 1);
	oc_val_fini(&a);
}

Test(chain, d22_100_entries_dequeue_50_then_exact_block)
{
	both(t_d22_deq50, NULL);
}

static void
t_d20_pop_exact_block(struct env *v)
{
	struct oc_val a;

	add_range(v, 0, 65, NULL);
	cr_assert_eq(oc_chain_pop(&v->c, 1, &a), O_OK); /* tail emptied */
	expect_seq(&a, 64, 1, 1);
	oc_val_fini(&a);
	cr_expect_eq(check_shape(v->s, &v->hdr, NULL, 0), 2);
	cr_assert_eq(oc_chain_pop(&v->c, 32, &a), O_OK);
	expect_seq(&a, 32, 32, 1);
	oc_val_fini(&a);
	cr_expect_eq(check_shape(v->s, &v->hdr, NULL, 0), 1);
	add_range(v, 100, 40, NULL);
	a = collect(&v->c, NULL, true);
	cr_assert_eq(a.u.a.n, 72);
	cr_expect(is_ent(&a.u.a.v[31], 31));
	cr_expect(is_ent(&a.u.a.v[32], 100));
	oc_val_fini(&a);
}

Test(chain, d20_pop_emptying_a_block_drops_it)
{
	both(t_d20_pop_exact_block, NULL);
}

/* ---- 23: iteration from a path, next/prev across blocks ----------------- */

static void
t_d23_mid(struct env *v)
{
	struct oc_chain_path p, h, t;
	struct oc_val        a;

	add_range(v, 0, 100, NULL);
	p = path_of(&v->c, 40);
	cr_expect_eq(p.idx, 8); /* second block, ninth entry */
	a = collect(&v->c, &p, true);
	expect_seq(&a, 40, 60, 1);
	oc_val_fini(&a);
	a = collect(&v->c, &p, false);
	expect_seq(&a, 40, 41, -1);
	oc_val_fini(&a);
	/* start at the head / tail paths (inclusive) */
	cr_assert_eq(oc_chain_head(&v->c, &h, NULL), O_OK);
	cr_assert_eq(oc_chain_tail(&v->c, &t, NULL), O_OK);
	cr_expect_eq(h.idx, 0);
	cr_expect_eq(t.idx, 3);
	a = collect(&v->c, &h, true);
	expect_seq(&a, 0, 100, 1);
	oc_val_fini(&a);
	a = collect(&v->c, &t, false);
	expect_seq(&a, 99, 100, -1);
	oc_val_fini(&a);
	a = collect(&v->c, &h, false);
	expect_seq(&a, 0, 1, 1);
	oc_val_fini(&a);
	a = collect(&v->c, &t, true);
	expect_seq(&a, 99, 1, 1);
	oc_val_fini(&a);
}

Test(chain, d23_iterate_from_mid_path_both_ways)
{
	both(t_d23_mid, NULL);
}

/* One step of an iterator: the entry and where it is. */
static void
step(struct oc_chain_iter *it, int want, const struct oc_bid *blk, int64_t idx)
{
	const struct oc_val *e;
	struct oc_chain_path pos;
	bool                 done;

	cr_assert_eq(oc_chain_iter_next(it, &e, &pos, &done), O_OK);
	cr_assert(!done, "iterator ended before entry%d", want);
	cr_expect(is_ent(e, want), "expected entry%d", want);
	cr_expect(
	    oc_bid_eq(&pos.blk, blk), "entry%d in the wrong block", want);
	cr_expect_eq(pos.idx, idx);
}

static void
ended(struct oc_chain_iter *it)
{
	const struct oc_val *e;
	bool                 done;
	int                  i;

	for (i = 0; i < 2; i++) { /* and stays ended */
		cr_assert_eq(oc_chain_iter_next(it, &e, NULL, &done), O_OK);
		cr_expect(done);
	}
}

static void
t_d23_boundary(struct env *v)
{
	struct oc_chain_iter it;
	struct oc_chain_path p;
	struct oc_bid        ids[3];

	add_range(v, 0, 70, NULL);
	cr_assert_eq(check_shape(v->s, &v->hdr, ids, 3), 3);
	/* next: entry31 (end of block 0) -> entry32 (start of block 1) */
	p = path_of(&v->c, 31);
	cr_assert_eq(oc_chain_iter_init(&it, &v->c, &p, true), O_OK);
	step(&it, 31, &ids[0], 31);
	step(&it, 32, &ids[1], 0);
	step(&it, 33, &ids[1], 1);
	oc_chain_iter_fini(&it);
	/* prev: entry64 (start of block 2) -> entry63 (end of block 1) */
	p = path_of(&v->c, 64);
	cr_assert(oc_bid_eq(&p.blk, &ids[2]));
	cr_assert_eq(oc_chain_iter_init(&it, &v->c, &p, false), O_OK);
	step(&it, 64, &ids[2], 0);
	step(&it, 63, &ids[1], 31);
	step(&it, 62, &ids[1], 30);
	oc_chain_iter_fini(&it);
	/* off the ends */
	p = path_of(&v->c, 69);
	cr_assert_eq(oc_chain_iter_init(&it, &v->c, &p, true), O_OK);
	step(&it, 69, &ids[2], 5);
	ended(&it);
	oc_chain_iter_fini(&it);
	p = path_of(&v->c, 0);
	cr_assert_eq(oc_chain_iter_init(&it, &v->c, &p, false), O_OK);
	step(&it, 0, &ids[0], 0);
	ended(&it);
	oc_chain_iter_fini(&it);
	/* a missing start block is an error, not an empty walk */
	oc_bid_random(&p.blk);
	cr_expect_eq(oc_chain_iter_init(&it, &v->c, &p, true), O_ENOTFOUND);
	oc_chain_iter_fini(&it);
}

Test(chain, d23_next_prev_cross_block_boundaries)
{
	both(t_d23_boundary, NULL);
}

/*
 * A borrowed iteration yields what a copying one does, across blocks and
 * both ways, pointing into the blocks the store keeps (no copies); a
 * missing next block is an error naming it, and the scratch of the
 * iterator is freed (the suite runs under ASan's leak check).
 */
/*
 * A store that lends nothing (no peek: every borrowed read is a miss,
 * answered from a copy in the iterator's scratch), counting its reads.
 */
struct getonly {
	struct oc_bstore  base;
	struct oc_bstore *src;
	int               gets;
};

static o_err
getonly_get(struct oc_bstore *s, const struct oc_bid *id, struct oc_val *out,
    bool *found)
{
	struct getonly *g = (struct getonly *) s;

	g->gets++;
	return oc_bstore_get(g->src, id, out, found);
}

static const struct oc_bstore_ops getonly_ops = { .get = getonly_get };

/*
 * Borrowed walks over c from entry 40 (in the middle block, so both
 * directions cross into another one) to each end: every entry in order,
 * pointing into v's store's own block when lent, never when not; g
 * (unless NULL) is c's store, which must be read once per block.
 */
static void
borrowed_walks(
    struct env *v, struct oc_chain *c, bool lent, const struct getonly *g)
{
	struct oc_chain_iter it;
	struct oc_chain_path p;
	const struct oc_val *e, *blk, *at;
	struct oc_val        tmp = oc_null();
	bool                 done, fwd;
	int                  k, before;

	for (fwd = false;; fwd = true) {
		p      = path_of(&v->c, 40);
		before = g != NULL ? g->gets : 0;
		cr_assert_eq(oc_chain_iter_init_borrowed(&it, c, &p, fwd),
		    O_OK, "%s", o_err_detail());
		for (k = 40;; k += fwd ? 1 : -1) {
			cr_assert_eq(oc_chain_iter_next(&it, &e, &p, &done),
			    O_OK, "%s", o_err_detail());
			if (done)
				break;
			cr_assert(is_ent(e, k), "expected entry%d", k);
			/* the store's own block: nothing between the two
			 * calls on it, so a loan still holds */
			cr_assert_eq(
			    oc_bstore_peek_need(v->s, &p.blk, &tmp, &blk),
			    O_OK);
			at = &oc_map_arr(blk, "entries")->u.a.v[p.idx];
			if (lent)
				cr_assert_eq(e, at, "entry%d is a copy", k);
			else
				cr_assert_neq(e, at,
				    "entry%d points into a block nobody lent",
				    k);
		}
		cr_assert_eq(k, fwd ? 70 : -1, "stopped at entry%d", k);
		/* 40 -> 69 crosses into the last block, 40 -> 0 into the
		 * first: two reads, not one per entry */
		if (g != NULL)
			cr_expect_eq(g->gets - before, 2,
			    "%d reads for a walk of two blocks",
			    g->gets - before);
		oc_chain_iter_fini(&it);
		if (fwd)
			break;
	}
	oc_val_fini(&tmp);
}

static void
t_borrowed(struct env *v)
{
	struct oc_chain_iter it;
	struct oc_chain_path p;
	struct oc_bid        ids[3];
	const struct oc_val *e;
	struct oc_val        tmp, orig;
	bool                 done;
	char                 s[OC_BID_STRLEN];

	add_range(v, 0, 70, NULL);
	cr_assert_eq(check_shape(v->s, &v->hdr, ids, 3), 3);
	borrowed_walks(v, &v->c, true, NULL);
	/* the middle block gone: the walk from the first stops there */
	orig = read_blk(v->s, &ids[1]);
	cr_assert_eq(oc_bstore_del(v->s, &ids[1]), O_OK);
	p = path_of(&v->c, 30);
	cr_assert_eq(oc_chain_iter_init_borrowed(&it, &v->c, &p, true), O_OK);
	step(&it, 30, &ids[0], 30);
	step(&it, 31, &ids[0], 31);
	cr_assert_eq(oc_chain_iter_next(&it, &e, NULL, &done), O_ENOTFOUND);
	cr_assert_not_null(strstr(o_err_detail(), oc_bid_str(&ids[1], s)),
	    "%s", o_err_detail());
	oc_chain_iter_fini(&it);
	/* starting at it, as well */
	p.blk = ids[1];
	p.idx = 0;
	cr_assert_eq(
	    oc_chain_iter_init_borrowed(&it, &v->c, &p, true), O_ENOTFOUND);
	oc_chain_iter_fini(&it);
	/* and a block without entries is corrupt */
	tmp = oc_block_new(&ids[1], DTYPE, &v->hdr);
	cr_assert_eq(oc_bstore_insert(v->s, tmp), O_OK);
	cr_assert_eq(
	    oc_chain_iter_init_borrowed(&it, &v->c, &p, true), O_ECORRUPT);
	cr_assert_not_null(
	    strstr(o_err_detail(), "no entries"), "%s", o_err_detail());
	oc_chain_iter_fini(&it);
	/* back as it was, for the checks at the end */
	cr_assert_eq(oc_bstore_del(v->s, &ids[1]), O_OK);
	cr_assert_eq(oc_bstore_insert(v->s, orig), O_OK);
}

Test(chain, borrowed_iteration_lends_the_stores_blocks)
{
	both(t_borrowed, NULL);
}

static void
t_borrowed_miss(struct env *v)
{
	struct getonly  g = { .base.ops = &getonly_ops, .src = v->s };
	struct oc_chain c;
	struct oc_bid   ids[3];

	add_range(v, 0, 70, NULL);
	cr_assert_eq(check_shape(v->s, &v->hdr, ids, 3), 3);
	cr_assert_eq(oc_chain_open(&c, &g.base, &v->hdr, DTYPE, NULL), O_OK,
	    "%s", o_err_detail());
	borrowed_walks(v, &c, false, &g);
}

Test(chain, borrowed_iteration_copies_what_its_store_does_not_lend)
{
	both(t_borrowed_miss, NULL);
}

/* ---- 24: create on an existing header ----------------------------------- */

static void
t_d24_existing(struct env *v)
{
	struct oc_val   h, d;
	struct oc_bid   head, tail, col, missing;
	struct oc_chain c2;

	h = read_blk(v->s, &v->hdr);
	cr_assert(oc_map_bid(&h, "head", &head));
	cr_assert(oc_map_bid(&h, "tail", &tail));
	cr_expect(oc_bid_eq(&head, &tail));
	cr_expect_str_eq(oc_block_type(&h), OC_BT_DIARY, "header keeps type");
	oc_val_fini(&h);
	d = read_blk(v->s, &head);
	cr_expect_str_eq(oc_block_type(&d), DTYPE);
	cr_assert(oc_map_bid(&d, OC_F_COL, &col));
	cr_expect(oc_bid_eq(&col, &v->hdr), "data block in the collection");
	cr_expect_eq(oc_map_arr(&d, "entries")->u.a.n, 0);
	oc_val_fini(&d);

	oc_bid_random(&missing);
	cr_expect_eq(
	    oc_chain_create(&c2, v->s, &missing, DTYPE, NULL), O_ENOTFOUND);
}

Test(chain, d24_create_on_existing_header_and_missing_header)
{
	both(t_d24_existing, NULL);
}

static void
t_d24_missing_inserts_nothing(struct env *v)
{
	struct oc_chain c2;
	struct oc_bid   missing;
	size_t          before = oc_memstore_len(v->m);
	size_t          staged = v->tracked ? v->t.tfs.n : 0;

	oc_bid_random(&missing);
	cr_expect_eq(
	    oc_chain_create(&c2, v->s, &missing, DTYPE, NULL), O_ENOTFOUND);
	cr_expect_eq(oc_memstore_len(v->m), before);
	if (v->tracked)
		cr_expect_eq(v->t.tfs.n, staged, "nothing new is staged");
}

Test(chain, d24_create_on_missing_header_changes_nothing)
{
	both(t_d24_missing_inserts_nothing, NULL);
}

static void
t_d24_late_tail(struct env *v)
{
	struct oc_chain_path t, last;
	struct oc_bid        ids[3];
	struct oc_val        h, a;

	/* header's tail update "has not landed": it names the head block */
	add_range(v, 0, 40, NULL);
	cr_assert_eq(check_shape(v->s, &v->hdr, ids, 3), 2);
	h = read_blk(v->s, &v->hdr);
	cr_assert_eq(
	    oc_bstore_apply(v->s, &h, oc_op_set("tail", oc_bid_val(&ids[0]))),
	    O_OK);
	oc_val_fini(&h);
	cr_assert_eq(oc_chain_tail(&v->c, &t, NULL), O_OK);
	cr_expect(oc_bid_eq(&t.blk, &ids[1]), "tail found by following next");
	cr_expect_eq(t.idx, 7);
	add_range(v, 40, 30, &last); /* spills into a new block */
	cr_assert_eq(check_shape(v->s, &v->hdr, ids, 3), 3);
	cr_expect(oc_bid_eq(&last.blk, &ids[2]));
	a = collect(&v->c, NULL, false);
	expect_seq(&a, 69, 70, -1);
	oc_val_fini(&a);
}

Test(chain, d24_late_header_tail_is_tolerated)
{
	both(t_d24_late_tail, NULL);
}

/* ---- 25: interleaved operations ----------------------------------------- */

static void
t_d25_interleaved(struct env *v)
{
	struct oc_val a;
	int           next = 0, first = 0, i;

	/* add/dequeue: a queue sliding through many blocks */
	for (i = 0; i < 30; i++) {
		add_range(v, next, 7, NULL);
		next += 7;
		cr_assert_eq(oc_chain_dequeue(&v->c, 5, &a), O_OK);
		expect_seq(&a, first, 5, 1);
		first += 5;
		oc_val_fini(&a);
		a = check_traversal(&v->c);
		expect_seq(&a, first, (size_t) (next - first), 1);
		oc_val_fini(&a);
		check_shape(v->s, &v->hdr, NULL, 0);
	}
	/* add/pop: a stack growing and shrinking across boundaries */
	for (i = 0; i < 20; i++) {
		add_range(v, next, 40, NULL);
		next += 40;
		cr_assert_eq(oc_chain_pop(&v->c, 33, &a), O_OK);
		expect_seq(&a, next - 33, 33, 1);
		next -= 33;
		oc_val_fini(&a);
		a = check_traversal(&v->c);
		expect_seq(&a, first, (size_t) (next - first), 1);
		oc_val_fini(&a);
		check_shape(v->s, &v->hdr, NULL, 0);
	}
	/* drain and refill, from both ends */
	cr_assert_eq(oc_chain_dequeue(&v->c, 100000, &a), O_OK);
	expect_seq(&a, first, (size_t) (next - first), 1);
	oc_val_fini(&a);
	cr_expect_eq(check_shape(v->s, &v->hdr, NULL, 0), 1);
	add_range(v, 0, 70, NULL);
	cr_assert_eq(oc_chain_pop(&v->c, 70, &a), O_OK);
	expect_seq(&a, 0, 70, 1);
	oc_val_fini(&a);
	cr_expect_eq(check_shape(v->s, &v->hdr, NULL, 0), 1);
	add_range(v, 0, 5, NULL);
	a = check_traversal(&v->c);
	expect_seq(&a, 0, 5, 1);
	oc_val_fini(&a);
}

Test(chain, d25_interleaved_add_pop_dequeue_and_refill)
{
	both(t_d25_interleaved, NULL);
}

/* Model-based: random add/pop/dequeue against an array, fixed seed. */
static uint64_t rng_state;

static uint32_t
rng(uint32_t bound)
{
	rng_state ^= rng_state << 13;
	rng_state ^= rng_state >> 7;
	rng_state ^= rng_state << 17;
	return (uint32_t) (rng_state % bound);
}

static void
t_d25_model(struct env *v)
{
	int   *model = NULL;
	size_t len = 0, cap = 0, op;
	int    next = 0;

	rng_state = 0x9e3779b97f4a7c15ull;
	for (op = 0; op < 3000; op++) {
		uint32_t      kind = rng(10);
		size_t        k    = rng(45), i;
		struct oc_val got;

		if (len < 40)
			kind = rng(6); /* grow while small */
		else if (len > 400)
			kind = 4 + rng(6); /* shrink while large */
		if (kind < 4) {
			if (len + k > cap) {
				cap   = (len + k) * 2;
				model = realloc(model, cap * sizeof(*model));
			}
			add_range(v, next, k, NULL);
			for (i = 0; i < k; i++)
				model[len++] = next++;
		} else if (kind < 7) {
			size_t m = O_MIN(k, len);

			cr_assert_eq(oc_chain_pop(&v->c, k, &got), O_OK,
			    "op %zu: pop: %s", op, o_err_detail());
			cr_assert_eq(got.u.a.n, m, "op %zu: pop count", op);
			for (i = 0; i < m; i++)
				cr_assert(
				    is_ent(&got.u.a.v[i], model[len - m + i]),
				    "op %zu: pop item %zu", op, i);
			len -= m;
			oc_val_fini(&got);
		} else {
			size_t m = O_MIN(k, len);

			cr_assert_eq(oc_chain_dequeue(&v->c, k, &got), O_OK,
			    "op %zu: dequeue: %s", op, o_err_detail());
			cr_assert_eq(
			    got.u.a.n, m, "op %zu: dequeue count", op);
			for (i = 0; i < m; i++)
				cr_assert(is_ent(&got.u.a.v[i], model[i]),
				    "op %zu: dequeue item %zu", op, i);
			memmove(model, model + m, (len - m) * sizeof(*model));
			len -= m;
			oc_val_fini(&got);
		}
		if (op % 10 == 0 || len == 0) {
			struct oc_val f = check_traversal(&v->c);

			cr_assert_eq(f.u.a.n, len, "op %zu: length", op);
			for (i = 0; i < len; i++)
				cr_assert(is_ent(&f.u.a.v[i], model[i]),
				    "op %zu: item %zu", op, i);
			oc_val_fini(&f);
			check_shape(v->s, &v->hdr, NULL, 0);
		}
		if (op % 50 == 49)
			env_flush(v); /* a collection syncs now and then */
	}
	free(model);
}

Test(chain, d25_model_based_random_ops)
{
	both(t_d25_model, NULL);
}

/* ---- 26: the new-block hook --------------------------------------------- */

struct hook_call {
	struct oc_bid nb, nb_prior, pred;
	size_t        pred_n;
	bool          pred_has_next;
};

static struct hook_call calls[16];
static size_t           ncalls;
static o_err            hook_result;

static o_err
rec_hook(struct oc_chain *c, struct oc_val *nb, const struct oc_val *pred)
{
	struct hook_call *k = &calls[ncalls % 16];
	struct oc_bid     x;

	(void) c;
	cr_assert(oc_block_id(nb, &k->nb));
	cr_assert(oc_map_bid(nb, "prior", &k->nb_prior));
	cr_assert(oc_block_id(pred, &k->pred));
	k->pred_n        = oc_map_arr(pred, "entries")->u.a.n;
	k->pred_has_next = oc_map_bid(pred, "next", &x);
	ncalls++;
	if (hook_result != O_OK)
		return o_err_set(hook_result, "hook refuses");
	oc_map_set(nb, "mark", oc_int((int64_t) ncalls));
	return O_OK;
}

static void
t_d26_hook(struct env *v)
{
	struct oc_bid ids[5];
	struct oc_val b;
	size_t        i;

	ncalls      = 0;
	hook_result = O_OK;
	add_range(v, 0, 5, NULL);
	cr_expect_eq(ncalls, 0, "no new block, no hook call");
	add_range(v, 5, 100, NULL); /* 105 = 32+32+32+9: three new blocks */
	cr_assert_eq(ncalls, 3);
	cr_assert_eq(check_shape(v->s, &v->hdr, ids, 5), 4);
	for (i = 0; i < 3; i++) {
		cr_expect(oc_bid_eq(&calls[i].pred, &ids[i]),
		    "call %zu: predecessor is the block just before", i);
		cr_expect(oc_bid_eq(&calls[i].nb, &ids[i + 1]));
		cr_expect(oc_bid_eq(&calls[i].nb_prior, &ids[i]));
		cr_expect_eq(
		    calls[i].pred_n, 32, "predecessor in final state");
		cr_expect(
		    !calls[i].pred_has_next, "hook runs before next set");
		b = read_blk(v->s, &ids[i + 1]);
		cr_expect_eq(oc_map_int(&b, "mark", 0), (int64_t) i + 1,
		    "hook's change to the new block is stored");
		oc_val_fini(&b);
	}
}

Test(chain, d26_hook_sees_immediate_predecessor)
{
	both(t_d26_hook, rec_hook);
}

static void
t_d26_hook_error(struct env *v)
{
	struct oc_val a;

	ncalls      = 0;
	hook_result = O_OK;
	add_range(v, 0, 10, NULL);
	hook_result = O_EIO;
	{
		struct oc_val *x = calloc(40, sizeof(*x));
		size_t         i;

		for (i = 0; i < 40; i++)
			x[i] = ent(10 + (int) i);
		cr_expect_eq(oc_chain_add(&v->c, x, 40, NULL), O_EIO);
		free(x); /* the entries were consumed even on failure */
	}
	hook_result = O_OK;
	/* the partial fill is the caller's to roll back (atomic scope); the
	 * chain is still well formed */
	a = check_traversal(&v->c);
	expect_seq(&a, 0, 32, 1);
	oc_val_fini(&a);
}

Test(chain, d26_hook_error_fails_add_and_frees_entries)
{
	both(t_d26_hook_error, rec_hook);
}
