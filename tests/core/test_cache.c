/*
 * test_cache.c - the LRU block cache (digest 1.9), acceptance items 14-17
 * of digest section 10.2, through a source wrapper that counts reads.
 */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include <criterion/criterion.h>

#include "core/block.h"
#include "core/bstore.h"
#include "core/transform.h"

TestSuite(cache, .timeout = 60);

/* ---- a counting source ------------------------------------------------- */

struct counting {
	struct oc_bstore  base;
	struct oc_bstore *inner;
	int               gets;
	o_err             fail; /* returned instead of reading, if set */
	/* called after the inner read, outside the cache's lock */
	void (*after_get)(struct counting *, const struct oc_bid *);
	struct oc_cache *cache;
};

static o_err
cnt_get(struct oc_bstore *s, const struct oc_bid *id, struct oc_val *out,
    bool *found)
{
	struct counting *c = (struct counting *) s;
	o_err            e;

	__atomic_add_fetch(&c->gets, 1, __ATOMIC_RELAXED);
	if (c->fail != O_OK) {
		*out = oc_null();
		return o_err_set(c->fail, "counting source: unavailable");
	}
	e = oc_bstore_get(c->inner, id, out, found);
	if (e == O_OK && c->after_get != NULL)
		c->after_get(c, id);
	return e;
}

static const struct oc_bstore_ops cnt_ops = { .get = cnt_get };

static void
bid_fill(struct oc_bid *id, uint8_t seed)
{
	size_t i;

	for (i = 0; i < OC_BID_LEN; i++)
		id->b[i] = (uint8_t) (seed * 31 + i);
}

static struct oc_bid
bid(uint8_t seed)
{
	struct oc_bid id;

	bid_fill(&id, seed);
	return id;
}

static struct oc_val
blk(uint8_t seed, int64_t v)
{
	struct oc_bid id = bid(seed), col = bid(250);
	struct oc_val b = oc_block_new(&id, OC_BT_LEAF, &col);

	oc_map_set(&b, "entries", oc_array());
	oc_map_set(&b, "v", oc_int(v));
	return b;
}

struct fixture {
	struct oc_memstore *m;
	struct counting     src;
	struct oc_cache    *c;
};

static void
fx_init(struct fixture *f, uint8_t nblk, size_t max)
{
	uint8_t i;

	f->m = oc_memstore_alloc();
	for (i = 1; i <= nblk; i++)
		cr_assert(oc_bstore_insert(oc_memstore_store(f->m),
		              blk(i, i * 10)) == O_OK);
	memset(&f->src, 0, sizeof(f->src));
	f->src.base.ops = &cnt_ops;
	f->src.inner    = oc_memstore_store(f->m);
	f->c            = oc_cache_alloc(&f->src.base, max);
	f->src.cache    = f->c;
}

static void
fx_fini(struct fixture *f)
{
	oc_cache_free(f->c);
	oc_memstore_free(f->m);
}

/* get through the cache; returns v or -1 when absent */
static int64_t
cget(struct fixture *f, uint8_t seed)
{
	struct oc_bid id = bid(seed);
	struct oc_val b;
	bool          found;
	int64_t       v;

	cr_assert(
	    oc_bstore_get(oc_cache_store(f->c), &id, &b, &found) == O_OK);
	v = found ? oc_map_int(&b, "v", -2) : -1;
	oc_val_fini(&b);
	return v;
}

static bool
cached(struct fixture *f, uint8_t seed)
{
	struct oc_bid id = bid(seed);

	return oc_cache_rev(f->c, &id) >= 0;
}

/* ---- 10.2 item 14 ------------------------------------------------------ */

Test(cache, d14_miss_fetches_and_caches_then_hits)
{
	struct fixture        f;
	struct oc_cache_stats st;

	fx_init(&f, 3, 8);
	cr_expect(cget(&f, 1) == 10);
	cr_expect(f.src.gets == 1);
	cr_expect(oc_cache_len(f.c) == 1 && cached(&f, 1));
	cr_expect(cget(&f, 1) == 10);
	cr_expect(cget(&f, 1) == 10);
	cr_expect(f.src.gets == 1, "second get must not hit the source");
	oc_cache_get_stats(f.c, &st);
	cr_expect(st.hits == 2 && st.misses == 1 && st.evictions == 0);
	{
		struct oc_bid id = bid(1);

		cr_expect(oc_cache_rev(f.c, &id) == 0, "read rev unknown: 0");
	}
	fx_fini(&f);
}

Test(cache, d14_absent_is_not_cached)
{
	struct fixture f;

	fx_init(&f, 1, 8);
	cr_expect(cget(&f, 9) == -1);
	cr_expect(cget(&f, 9) == -1);
	cr_expect(f.src.gets == 2, "absent answers must not be cached");
	cr_expect(oc_cache_len(f.c) == 0 && !cached(&f, 9));
	/* once it exists at the source, it is found */
	cr_assert(
	    oc_bstore_insert(oc_memstore_store(f.m), blk(9, 90)) == O_OK);
	cr_expect(cget(&f, 9) == 90);
	fx_fini(&f);
}

Test(cache, d14_source_error_is_not_absence)
{
	struct fixture f;
	struct oc_bid  id = bid(1);
	struct oc_val  b;
	bool           found;

	fx_init(&f, 1, 8);
	f.src.fail = O_EUNAVAIL;
	cr_expect(
	    oc_bstore_get(oc_cache_store(f.c), &id, &b, &found) == O_EUNAVAIL);
	oc_val_fini(&b);
	cr_expect(oc_cache_len(f.c) == 0);
	f.src.fail = O_OK;
	cr_expect(cget(&f, 1) == 10);
	/* once cached, an unavailable source does not matter */
	f.src.fail = O_EUNAVAIL;
	cr_expect(cget(&f, 1) == 10);
	fx_fini(&f);
}

/* ---- 10.2 item 15 ------------------------------------------------------ */

Test(cache, d15_results_are_clones)
{
	struct fixture f;
	struct oc_bid  id = bid(1);
	struct oc_val  b;
	bool           found;

	fx_init(&f, 1, 8);
	/* the miss result */
	cr_assert(oc_bstore_get(oc_cache_store(f.c), &id, &b, &found) == O_OK);
	oc_map_set(&b, "v", oc_int(-5));
	oc_arr_push(oc_map_get(&b, "entries"), oc_int(1));
	oc_val_fini(&b);
	cr_expect(cget(&f, 1) == 10);
	/* the hit result */
	cr_assert(oc_bstore_get(oc_cache_store(f.c), &id, &b, &found) == O_OK);
	oc_arr_push(oc_map_get(&b, "entries"), oc_int(1));
	oc_val_fini(&b);
	cr_assert(oc_bstore_get(oc_cache_store(f.c), &id, &b, &found) == O_OK);
	cr_expect(oc_arr_len(oc_map_get(&b, "entries")) == 0);
	oc_val_fini(&b);
	cr_expect(f.src.gets == 1);
	fx_fini(&f);
}

/* ---- 10.2 item 16 ------------------------------------------------------ */

Test(cache, d16_clear_ids_and_all)
{
	struct fixture f;
	struct oc_bid  ids[2] = { bid(1), bid(3) };

	fx_init(&f, 4, 8);
	cget(&f, 1);
	cget(&f, 2);
	cget(&f, 3);
	cr_expect(oc_cache_len(f.c) == 3);
	oc_cache_clear(f.c, ids, 2);
	cr_expect(oc_cache_len(f.c) == 1);
	cr_expect(!cached(&f, 1) && cached(&f, 2) && !cached(&f, 3));
	oc_cache_clear(f.c, ids, 2); /* clearing uncached ids is fine */
	cr_expect(cget(&f, 1) == 10 && f.src.gets == 4, "refetched");
	oc_cache_clear_all(f.c);
	cr_expect(oc_cache_len(f.c) == 0);
	cget(&f, 2);
	cr_expect(f.src.gets == 5);
	oc_cache_clear_all(f.c);
	oc_cache_clear_all(f.c);
	fx_fini(&f);
}

Test(cache, d16_apply_deletes_inserts_updates)
{
	struct fixture f;
	struct oc_tfs  t;
	struct oc_bid  one = bid(1), two = bid(2), three = bid(3),
	              four = bid(4);
	struct oc_tf *tf;

	fx_init(&f, 4, 8);
	cget(&f, 1);
	cget(&f, 2);
	cr_expect(f.src.gets == 2);
	oc_tfs_init(&t);
	oc_tfs_delete(&t, &one); /* cached: dropped */
	cr_assert(oc_tfs_update(&t, &two, oc_op_set("v", oc_int(22))) ==
	    O_OK); /* cached */
	cr_assert(oc_tfs_update(&t, &three, oc_op_set("v", oc_int(33))) ==
	    O_OK);                     /* not cached */
	oc_tfs_insert(&t, blk(4, 44)); /* inserted */
	oc_cache_apply(f.c, &t, 7);
	cr_expect(!cached(&f, 1));
	cr_expect(oc_cache_rev(f.c, &two) == 7);
	cr_expect(!cached(&f, 3), "updates apply to cached blocks only");
	cr_expect(oc_cache_rev(f.c, &four) == 7);
	(void) three;
	/* inserts were cloned: changing the set does not reach the cache */
	tf = oc_tfs_get(&t, &four);
	oc_map_set(tf->insert, "v", oc_int(-4));
	cr_expect(cget(&f, 4) == 44);
	cr_expect(cget(&f, 2) == 22);
	cr_expect(f.src.gets == 2, "both served from the cache");
	/* the source still has the old 3 (the cache is not a store) */
	cr_expect(cget(&f, 3) == 30);
	oc_tfs_fini(&t);
	fx_fini(&f);
}

static struct oc_val
chunk(uint8_t seed, int64_t v)
{
	struct oc_bid id = bid(seed), col = bid(250);
	struct oc_val b = oc_block_new(&id, OC_BT_CHUNK, &col);

	oc_map_set(&b, "data", oc_bytes("abc", 3));
	oc_map_set(&b, "v", oc_int(v));
	return b;
}

/* A skipped type (the file layer's chunks) is served but never kept:
 * neither when read from the source nor when a commit inserts it. */
Test(cache, a_skipped_block_type_is_served_but_never_kept)
{
	struct fixture f;
	struct oc_tfs  t;

	fx_init(&f, 1, 8);
	oc_cache_skip_type(f.c, OC_BT_CHUNK);
	cr_assert(
	    oc_bstore_insert(oc_memstore_store(f.m), chunk(5, 50)) == O_OK);
	cr_expect(cget(&f, 5) == 50);
	cr_expect(cget(&f, 5) == 50);
	cr_expect(f.src.gets == 2, "each read of a chunk goes to the source");
	cr_expect(!cached(&f, 5));
	cr_expect(cget(&f, 1) == 10);
	cr_expect(cached(&f, 1), "other types are still kept");
	oc_tfs_init(&t);
	oc_tfs_insert(&t, chunk(6, 60));
	oc_tfs_insert(&t, blk(8, 80));
	oc_cache_apply(f.c, &t, 9);
	cr_expect(!cached(&f, 6), "a committed chunk is not kept");
	cr_expect(cached(&f, 8), "a committed block of another type is");
	cr_expect(oc_cache_len(f.c) == 2);
	oc_tfs_fini(&t);
	fx_fini(&f);
}

Test(cache, d16_apply_update_that_does_not_fit_drops)
{
	struct fixture f;
	struct oc_tfs  t;
	struct oc_bid  one = bid(1);

	fx_init(&f, 1, 8);
	cget(&f, 1);
	oc_tfs_init(&t);
	cr_assert(oc_tfs_update(&t, &one,
	              oc_op_splice("entries", 5, 0, oc_array())) == O_OK);
	oc_cache_apply(f.c, &t, 3);
	cr_expect(!cached(&f, 1), "unappliable update must not leave stale");
	oc_tfs_fini(&t);
	fx_fini(&f);
}

/*
 * A commit folded into the cache while a miss is reading the source must
 * not be undone by the miss caching the older block it read.
 */
static void
commit_during_get(struct counting *c, const struct oc_bid *id)
{
	struct oc_tfs t;

	c->after_get = NULL;
	/* the commit lands in the source and is folded into the cache */
	cr_assert(oc_bstore_update(c->inner, id, oc_op_set("v", oc_int(99))) ==
	    O_OK);
	oc_tfs_init(&t);
	cr_assert(oc_tfs_update(&t, id, oc_op_set("v", oc_int(99))) == O_OK);
	oc_cache_apply(c->cache, &t, 5);
	oc_tfs_fini(&t);
}

static void
delete_during_get(struct counting *c, const struct oc_bid *id)
{
	struct oc_tfs t;

	c->after_get = NULL;
	cr_assert(oc_bstore_del(c->inner, id) == O_OK);
	oc_tfs_init(&t);
	oc_tfs_delete(&t, id);
	oc_cache_apply(c->cache, &t, 5);
	oc_tfs_fini(&t);
}

Test(cache, d16_apply_racing_a_miss_is_not_undone)
{
	struct fixture f;

	fx_init(&f, 2, 8);
	f.src.after_get = commit_during_get;
	cr_expect(cget(&f, 1) == 10, "the miss returns what it read");
	cr_expect(cget(&f, 1) == 99, "but must not cache the stale block");
	f.src.after_get = delete_during_get;
	cr_expect(cget(&f, 2) == 20);
	cr_expect(cget(&f, 2) == -1, "deleted block must not be cached");
	fx_fini(&f);
}

/* ---- 10.2 item 17 ------------------------------------------------------ */

Test(cache, d17_lru_evicts_least_recent)
{
	struct fixture        f;
	struct oc_cache_stats st;

	fx_init(&f, 5, 3);
	cget(&f, 1);
	cget(&f, 2);
	cget(&f, 3);
	cget(&f, 4); /* evicts 1 */
	cr_expect(oc_cache_len(f.c) == 3);
	cr_expect(
	    !cached(&f, 1) && cached(&f, 2) && cached(&f, 3) && cached(&f, 4));
	oc_cache_get_stats(f.c, &st);
	cr_expect(st.evictions == 1);
	fx_fini(&f);
}

Test(cache, d17_access_refreshes)
{
	struct fixture f;

	fx_init(&f, 5, 3);
	cget(&f, 1);
	cget(&f, 2);
	cget(&f, 3);
	cget(&f, 1); /* 1 is now the most recent: 2 is the LRU */
	cget(&f, 4);
	cr_expect(
	    cached(&f, 1) && !cached(&f, 2) && cached(&f, 3) && cached(&f, 4));
	/* an apply to a cached block refreshes it too */
	{
		struct oc_tfs t;
		struct oc_bid three = bid(3);

		oc_tfs_init(&t);
		cr_assert(oc_tfs_update(
		              &t, &three, oc_op_set("v", oc_int(3))) == O_OK);
		oc_cache_apply(f.c, &t, 2);
		oc_tfs_fini(&t);
	}
	cget(&f, 5); /* LRU is now 1 */
	cr_expect(
	    !cached(&f, 1) && cached(&f, 3) && cached(&f, 4) && cached(&f, 5));
	fx_fini(&f);
}

Test(cache, d17_max_one)
{
	struct fixture f;
	int            i;

	fx_init(&f, 3, 1);
	for (i = 0; i < 3; i++) {
		cr_expect(cget(&f, 1) == 10);
		cr_expect(cget(&f, 2) == 20);
	}
	cr_expect(oc_cache_len(f.c) == 1 && cached(&f, 2));
	cr_expect(f.src.gets == 6);
	cr_expect(cget(&f, 2) == 20 && f.src.gets == 6);
	fx_fini(&f);
	/* 0 means 1 */
	fx_init(&f, 3, 0);
	cget(&f, 1);
	cget(&f, 2);
	cr_expect(oc_cache_len(f.c) == 1);
	fx_fini(&f);
}

Test(cache, d17_inserts_by_apply_respect_max)
{
	struct fixture f;
	struct oc_tfs  t;
	uint8_t        i;

	fx_init(&f, 0, 4);
	oc_tfs_init(&t);
	for (i = 1; i <= 10; i++)
		oc_tfs_insert(&t, blk(i, i));
	oc_cache_apply(f.c, &t, 1);
	cr_expect(oc_cache_len(f.c) == 4);
	oc_tfs_fini(&t);
	fx_fini(&f);
}

Test(cache, many_entries_and_collisions)
{
	struct fixture f;
	uint8_t        i;

	fx_init(&f, 200, 150);
	for (i = 1; i <= 200; i++)
		cr_expect(cget(&f, i) == i * 10);
	cr_expect(oc_cache_len(f.c) == 150);
	for (i = 51; i <= 200; i++)
		cr_expect(cached(&f, i));
	for (i = 1; i <= 50; i++)
		cr_expect(!cached(&f, i));
	/* the table grew from 16 buckets on the way; emptied, it starts
	 * small again and grows again */
	oc_cache_clear_all(f.c);
	cr_expect(oc_cache_len(f.c) == 0);
	for (i = 1; i <= 100; i++)
		cr_expect(cget(&f, i) == i * 10);
	for (i = 1; i <= 100; i++)
		cr_expect(cached(&f, i));
	cr_expect(!cached(&f, 101));
	fx_fini(&f);
}

/* ---- threads ----------------------------------------------------------- */

struct thr_arg {
	struct oc_cache *c;
	int              seed;
};

static void *
thr_main(void *p)
{
	struct thr_arg *a = p;
	int             i;

	for (i = 0; i < 2000; i++) {
		struct oc_bid id;
		struct oc_val b;
		bool          found;

		bid_fill(&id, (uint8_t) (1 + (i * 7 + a->seed) % 20));
		if (oc_bstore_get(oc_cache_store(a->c), &id, &b, &found) !=
		        O_OK ||
		    !found)
			abort();
		oc_val_fini(&b);
		if (i % 100 == 0)
			oc_cache_clear(a->c, &id, 1);
	}
	return NULL;
}

Test(cache, concurrent_readers)
{
	struct fixture f;
	pthread_t      th[4];
	struct thr_arg args[4];
	int            i;

	fx_init(&f, 20, 8);
	for (i = 0; i < 4; i++) {
		args[i].c    = f.c;
		args[i].seed = i;
		cr_assert(
		    pthread_create(&th[i], NULL, thr_main, &args[i]) == 0);
	}
	for (i = 0; i < 4; i++)
		pthread_join(th[i], NULL);
	cr_expect(oc_cache_len(f.c) <= 8);
	fx_fini(&f);
}
