/*
 * fuzz_transform.c - libFuzzer target for applying decoded transform sets:
 * a peer receives a set over the wire and replays it into its stores and
 * caches without knowing block types.
 *
 * The input is CBOR of a transform set.  It is applied to a store holding
 * a few blocks whose ids are easy to reach (all bytes 0x00, 0x01, ...), via
 * replay into a memstore, a tracker over it, the cache fold, and merging.
 * Failures must be clean errors; the tracker's view must equal what replay
 * produced when replay succeeds.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/block.h"
#include "core/bstore.h"
#include "core/codec.h"
#include "core/transform.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define NSEED 4

static void
check(bool ok, const char *what)
{
	if (!ok) {
		fprintf(
		    stderr, "fuzz_transform: invariant broken: %s\n", what);
		abort();
	}
}

static struct oc_bid
seed_id(int i)
{
	struct oc_bid id;

	memset(id.b, i, sizeof(id.b));
	return id;
}

static struct oc_memstore *
seeded(void)
{
	struct oc_memstore *m   = oc_memstore_alloc();
	struct oc_bid       col = seed_id(0x7f);
	int                 i;

	for (i = 0; i < NSEED; i++) {
		struct oc_bid id = seed_id(i);
		struct oc_val b  = oc_block_new(&id, OC_BT_LEAF, &col), a;

		a = oc_array();
		oc_arr_push(&a, oc_int(i));
		oc_arr_push(&a, oc_text("x"));
		oc_map_set(&b, "entries", a);
		oc_map_set(&b, "v", oc_int(i));
		if (oc_bstore_insert(oc_memstore_store(m), b) != O_OK)
			abort();
	}
	return m;
}

static bool
ok_code(o_err e)
{
	return e == O_OK || e == O_EBADMSG || e == O_ENOBASE || e == O_EINVAL;
}

/* Read every id of the set (and the seeds) from s into a hash-ish sum. */
static size_t
read_all(struct oc_bstore *s, const struct oc_tfs *t)
{
	size_t i, sum = 0;

	for (i = 0; i < t->n + NSEED; i++) {
		struct oc_bid id =
		    i < t->n ? t->e[i].id : seed_id((int) (i - t->n));
		struct oc_val b;
		bool          found = false;
		o_err         e     = oc_bstore_get(s, &id, &b, &found);

		check(ok_code(e), "unexpected get error");
		if (e == O_OK && found) {
			const struct oc_val *en = oc_map_get(&b, "entries");

			sum += b.type + (en != NULL ? oc_arr_len(en) : 0);
		}
		oc_val_fini(&b);
	}
	return sum;
}

static void
expect_same(struct oc_bstore *a, struct oc_bstore *b, const struct oc_tfs *t)
{
	size_t i;

	for (i = 0; i < t->n + NSEED; i++) {
		struct oc_bid id =
		    i < t->n ? t->e[i].id : seed_id((int) (i - t->n));
		struct oc_val x, y;
		bool          fx = false, fy = false;
		o_err         ex = oc_bstore_get(a, &id, &x, &fx);
		o_err         ey = oc_bstore_get(b, &id, &y, &fy);

		check(ex == O_OK && ey == O_OK, "get after replay failed");
		check(fx == fy, "presence differs between tracker and replay");
		if (fx)
			check(oc_val_eq(&x, &y),
			    "tracker view != replayed store");
		oc_val_fini(&x);
		oc_val_fini(&y);
	}
}

static volatile size_t sink;

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct oc_val       v;
	struct oc_tfs       t, twice;
	struct oc_memstore *m;
	struct oc_tracker   trk;
	struct oc_cache    *c;
	size_t              i;
	o_err               e;

	if (oc_decode(data, size, &v) != O_OK)
		return 0;
	if (oc_tfs_from_val(&v, &t) != O_OK) {
		oc_val_fini(&v);
		return 0;
	}
	oc_val_fini(&v);

	/* every per-block transform against a seed base and against none */
	for (i = 0; i < t.n; i++) {
		struct oc_memstore *one = seeded();
		struct oc_bid       sid = seed_id((int) (i % NSEED));
		struct oc_val       base, out;
		bool                found, present;

		if (oc_bstore_get(
		        oc_memstore_store(one), &sid, &base, &found) != O_OK)
			abort();
		e = oc_tf_apply(&base, &t.e[i].tf, &out, &present);
		check(ok_code(e), "tf_apply on a base: unexpected code");
		if (e == O_OK && present)
			check(
			    out.type == OC_MAP, "applied block is not a map");
		oc_val_fini(&out);
		e = oc_tf_apply(NULL, &t.e[i].tf, &out, &present);
		check(ok_code(e), "tf_apply on nothing: unexpected code");
		oc_val_fini(&out);
		oc_val_fini(&base);
		oc_memstore_free(one);
	}

	/* a tracker staged with the set, against a replay of it */
	m = seeded();
	oc_tracker_init_with(&trk, oc_memstore_store(m), &t);
	sink += read_all(&trk.base, &t);
	e = oc_tfs_replay(&t, oc_memstore_store(m));
	check(ok_code(e), "replay: unexpected code");
	if (e == O_OK) {
		struct oc_memstore *fresh = seeded();
		struct oc_tracker   again;

		oc_tracker_init_with(&again, oc_memstore_store(fresh), &t);
		expect_same(&again.base, oc_memstore_store(m), &t);
		oc_tracker_fini(&again);
		oc_memstore_free(fresh);
	}
	oc_tracker_fini(&trk);

	/* the cache fold, over a cache holding the seeds */
	c = oc_cache_alloc(oc_memstore_store(m), 3);
	sink += read_all(oc_cache_store(c), &t);
	oc_cache_apply(c, &t, 1);
	sink += read_all(oc_cache_store(c), &t) + oc_cache_len(c);
	oc_cache_free(c);
	oc_memstore_free(m);

	/* merging a set with itself: encodes, and converts back */
	oc_tfs_dup(&twice, &t);
	oc_tfs_merge(&twice, &t);
	v = oc_tfs_to_val(&twice);
	{
		struct oc_tfs back;

		check(oc_tfs_from_val(&v, &back) == O_OK,
		    "merged set does not convert back");
		oc_tfs_fini(&back);
	}
	oc_val_fini(&v);
	oc_tfs_fini(&twice);
	oc_tfs_fini(&t);
	return 0;
}
