/*
 * test_diary.c - walking a diary log entry's appends in place
 * (oc_diary_walk): the same appends, in the same order, as decoding the
 * entry's actions; chunk references decoded on their own; entries without
 * an action; and malformed "acts" bytes (every truncation, random damage)
 * refused with O_ECORRUPT, never read out of bounds (run under ASan).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <criterion/criterion.h>

#include "core/codec.h"
#include "core/diary.h"
#include "core/log.h"
#include "core/o_util.h"

TestSuite(diary, .timeout = 60);

/* A log entry at rev 7 whose "acts" are the encoding of acts (moved). */
static struct oc_val
entry_of(struct oc_val acts)
{
	struct oc_val ent = oc_map(), act = oc_map();
	struct o_buf  b   = { 0 };

	oc_encode(&acts, &b);
	oc_val_fini(&acts);
	oc_map_set(&act, "acts", oc_bytes(b.data, b.len));
	oc_map_set(&ent, "act", act);
	oc_map_set(&ent, "rev", oc_int(7));
	o_buf_fini(&b);
	return ent;
}

/* Same, from raw "acts" bytes. */
static struct oc_val
entry_raw(const uint8_t *p, size_t n)
{
	struct oc_val ent = oc_map(), act = oc_map();

	oc_map_set(&act, "acts", oc_bytes(p, n));
	oc_map_set(&ent, "act", act);
	oc_map_set(&ent, "rev", oc_int(7));
	return ent;
}

static struct oc_val
append_d(const char *s)
{
	struct oc_val a = oc_map();

	oc_map_set(&a, "t", oc_text("append"));
	oc_map_set(&a, "d", oc_bytes(s, strlen(s)));
	return a;
}

static struct oc_val
append_c(int64_t len)
{
	struct oc_val a = oc_map(), ref = oc_map(), ids = oc_array();
	uint8_t       id[32];

	memset(id, 0xab, sizeof(id));
	oc_arr_push(&ids, oc_bytes(id, sizeof(id)));
	oc_map_set(&ref, "chunks", ids);
	oc_map_set(&ref, "len", oc_int(len));
	oc_map_set(&a, "t", oc_text("append"));
	oc_map_set(&a, "c", ref);
	return a;
}

/* Walk ent to the end; returns the error, *n appends, *bytes in total. */
static o_err
walk_all(const struct oc_val *ent, size_t *n, uint64_t *bytes)
{
	struct oc_diary_walk w;
	struct oc_diary_item it;
	bool                 done = false;
	o_err                e;

	*n     = 0;
	*bytes = 0;
	if ((e = oc_diary_walk_init(&w, ent)) == O_OK)
		while ((e = oc_diary_walk_next(&w, &it, &done)) == O_OK &&
		    !done) {
			(*n)++;
			*bytes += it.len;
		}
	oc_diary_walk_fini(&w);
	return e;
}

Test(diary, walk_yields_inline_bytes_and_chunk_refs_in_order)
{
	struct oc_val        acts = oc_array(), odd = oc_map(), ent;
	struct oc_diary_walk w;
	struct oc_diary_item it;
	bool                 done;
	uint64_t             bytes, n;

	oc_arr_push(&acts, append_d("one\n"));
	oc_arr_push(&acts, append_c(300000));
	oc_map_set(&odd, "t", oc_text("append")); /* neither d nor c */
	oc_map_set(&odd, "zz", oc_int(1));
	oc_arr_push(&acts, odd);
	oc_arr_push(&acts, append_d(""));
	oc_arr_push(&acts, append_d("three\n"));
	ent = entry_of(acts);

	cr_assert_eq(oc_diary_walk_init(&w, &ent), O_OK);
	cr_assert_eq(oc_diary_walk_next(&w, &it, &done), O_OK);
	cr_assert(!done);
	cr_assert_eq(it.len, 4);
	cr_assert(memcmp(it.data, "one\n", 4) == 0);
	cr_assert_eq(oc_diary_walk_next(&w, &it, &done), O_OK);
	cr_assert(!done);
	cr_assert_null(it.data);
	cr_assert_eq(it.len, 300000);
	cr_assert(oc_is_chunk_ref(it.ref));
	cr_assert_eq(oc_arr_len(oc_map_arr(it.ref, "chunks")), 1);
	cr_assert_eq(oc_diary_walk_next(&w, &it, &done), O_OK);
	cr_assert(!done);
	cr_assert_eq(it.len, 0);
	cr_assert_eq(oc_diary_walk_next(&w, &it, &done), O_OK);
	cr_assert_eq(it.len, 6);
	cr_assert(memcmp(it.data, "three\n", 6) == 0);
	cr_assert_eq(oc_diary_walk_next(&w, &it, &done), O_OK);
	cr_assert(done);
	oc_diary_walk_fini(&w);

	cr_assert_eq(oc_diary_entry_size(&ent, &bytes, &n), O_OK);
	cr_assert_eq(bytes, 4 + 300000 + 0 + 6);
	cr_assert_eq(n, 4);
	oc_val_fini(&ent);
}

Test(diary, walk_matches_decoding_the_actions)
{
	struct oc_val acts = oc_array(), dec, ent;
	size_t        i, n, k = 0;
	uint64_t      bytes;
	char          line[300];

	for (i = 0; i < 500; i++) {
		snprintf(line, sizeof(line), "%zu %.*s\n", i, (int) (i % 200),
		    "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"
		    "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"
		    "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"
		    "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx");
		oc_arr_push(&acts, append_d(line));
	}
	ent = entry_of(acts);
	cr_assert_eq(oc_log_entry_acts(&ent, &dec), O_OK);
	{
		struct oc_diary_walk w;
		struct oc_diary_item it;
		bool                 done = false;

		cr_assert_eq(oc_diary_walk_init(&w, &ent), O_OK);
		while (oc_diary_walk_next(&w, &it, &done) == O_OK && !done) {
			const struct oc_val *d =
			    oc_map_bytes(oc_arr_at(&dec, k), "d");

			cr_assert_eq(it.len, d->u.s.n);
			cr_assert(memcmp(it.data, d->u.s.p, d->u.s.n) == 0);
			k++;
		}
		cr_assert(done);
		oc_diary_walk_fini(&w);
	}
	cr_assert_eq(k, oc_arr_len(&dec));
	cr_assert_eq(walk_all(&ent, &n, &bytes), O_OK);
	cr_assert_eq(n, 500);
	oc_val_fini(&dec);
	oc_val_fini(&ent);
}

Test(diary, entry_without_action_has_no_appends)
{
	struct oc_val ent = oc_map();
	size_t        n;
	uint64_t      bytes;

	oc_map_set(&ent, "rev", oc_int(3));
	cr_assert_eq(walk_all(&ent, &n, &bytes), O_OK);
	cr_assert_eq(n, 0);
	oc_val_fini(&ent);
}

Test(diary, malformed_acts_are_refused_never_overread)
{
	struct oc_val acts = oc_array(), ent;
	struct o_buf  b    = { 0 };
	size_t        cut, n, i;
	uint64_t      bytes;
	uint8_t      *p;

	oc_arr_push(&acts, append_d("alpha\n"));
	oc_arr_push(&acts, append_c(9000));
	oc_arr_push(&acts, append_d("beta\n"));
	oc_encode(&acts, &b);
	oc_val_fini(&acts);

	/* every strict prefix: the array claims more than is there */
	for (cut = 0; cut < b.len; cut++) {
		p = malloc(cut + 1);
		memcpy(p, b.data, cut);
		ent = entry_raw(p, cut);
		cr_assert_eq(walk_all(&ent, &n, &bytes), O_ECORRUPT,
		    "prefix of %zu bytes accepted", cut);
		oc_val_fini(&ent);
		free(p);
	}
	/* trailing bytes */
	p = malloc(b.len + 1);
	memcpy(p, b.data, b.len);
	p[b.len] = 0x00;
	ent      = entry_raw(p, b.len + 1);
	cr_assert_eq(walk_all(&ent, &n, &bytes), O_ECORRUPT);
	oc_val_fini(&ent);
	free(p);
	/* random damage: refused or read, never out of bounds */
	srand(11);
	for (i = 0; i < 20000; i++) {
		p = malloc(b.len);
		memcpy(p, b.data, b.len);
		p[(size_t) rand() % b.len] ^= (uint8_t) (1 + rand() % 255);
		if (i % 3 == 0)
			p[(size_t) rand() % b.len] = (uint8_t) rand();
		ent = entry_raw(p, b.len);
		o_err e = walk_all(&ent, &n, &bytes);
		cr_assert(e == O_OK || e == O_ECORRUPT, "%s", o_errname(e));
		oc_val_fini(&ent);
		free(p);
	}
	/* "acts" that is not bytes at all */
	{
		struct oc_val act = oc_map();

		ent = oc_map();
		oc_map_set(&act, "acts", oc_int(1));
		oc_map_set(&ent, "act", act);
		cr_assert_eq(walk_all(&ent, &n, &bytes), O_ECORRUPT);
		oc_val_fini(&ent);
	}
	o_buf_fini(&b);
}
