/*
 * test_codec.c - deterministic CBOR: round trips, known byte vectors, and
 * the strict decoder as a trust boundary (every kind of malformed input
 * returns O_EBADMSG or O_ETOOBIG, never a crash or a huge allocation).
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <criterion/criterion.h>

#include "core/block.h"
#include "core/codec.h"
#include "core/o_util.h"
#include "core/transform.h"
#include "util/testutil.h"

TestSuite(codec, .timeout = 60);

/* ---- helpers ----------------------------------------------------------- */

static size_t
unhex(const char *h, uint8_t *out, size_t cap)
{
	size_t n = 0;

	while (*h) {
		unsigned v;

		if (*h == ' ') {
			h++;
			continue;
		}
		cr_assert(sscanf(h, "%2x", &v) == 1, "bad hex %s", h);
		cr_assert(n < cap);
		out[n++] = (uint8_t) v;
		h += 2;
	}
	return n;
}

static o_err
dec_hex(const char *h, struct oc_val *out)
{
	uint8_t b[256];
	size_t  n = unhex(h, b, sizeof(b));

	return oc_decode(b, n, out);
}

/* Encode v and compare with the hex vector. */
static void
expect_enc(const struct oc_val *v, const char *hex)
{
	uint8_t      want[256];
	size_t       n   = unhex(hex, want, sizeof(want));
	struct o_buf buf = { 0 };

	oc_encode(v, &buf);
	cr_expect(buf.len == n && memcmp(buf.data, want, n) == 0,
	    "encoding of %s differs (len %zu vs %zu)", hex, buf.len, n);
	o_buf_fini(&buf);
}

/* Encode, decode, compare; frees v. */
static void
roundtrip(struct oc_val v)
{
	struct o_buf  buf = { 0 };
	struct oc_val back;
	o_err         e;

	oc_encode(&v, &buf);
	e = oc_decode(buf.data, buf.len, &back);
	cr_assert(e == O_OK, "decode failed: %s", o_err_detail());
	cr_expect(oc_val_eq(&v, &back));
	oc_val_fini(&back);
	oc_val_fini(&v);
	o_buf_fini(&buf);
}

static void
bid_fill(struct oc_bid *id, uint8_t seed)
{
	size_t i;

	for (i = 0; i < OC_BID_LEN; i++)
		id->b[i] = (uint8_t) (seed * 31 + i);
}

/* A log data block with nested entries: the "nested block" of the tests. */
static struct oc_val
make_log_block(void)
{
	struct oc_bid id, col, prior;
	struct oc_val b, entries, ent, act;
	uint8_t       hash[32];

	bid_fill(&id, 1);
	bid_fill(&col, 2);
	bid_fill(&prior, 3);
	memset(hash, 0xab, sizeof(hash));
	b       = oc_block_new(&id, OC_BT_LOG, &col);
	entries = oc_array();
	ent     = oc_map();
	oc_map_set(&ent, "rev", oc_int(7));
	oc_map_set(&ent, "ts", oc_int(1700000000000LL));
	act = oc_map();
	oc_map_set(&act, "aid", oc_bytes("0123456789abcdef", 16));
	oc_map_set(&act, "acts", oc_array());
	oc_arr_push(oc_map_get(&act, "acts"), oc_text("append"));
	oc_arr_push(oc_map_get(&act, "acts"), oc_int(-300));
	oc_map_set(&ent, "action", act);
	oc_arr_push(&entries, ent);
	oc_map_set(&b, "entries", entries);
	oc_map_set(&b, "prior", oc_bid_val(&prior));
	oc_map_set(&b, "phash", oc_bytes(hash, sizeof(hash)));
	return b;
}

static void
expect_bad(const char *hex, const char *why)
{
	struct oc_val v;
	o_err         e = dec_hex(hex, &v);

	cr_expect(e == O_EBADMSG || e == O_ETOOBIG,
	    "%s (%s): got %s instead of an error", why, hex, o_errname(e));
	cr_expect(v.type == OC_NULL, "%s: out not left null", why);
	oc_val_fini(&v);
}

static void
expect_code(const uint8_t *p, size_t n, o_err want, const char *why)
{
	struct oc_val v;
	o_err         e = oc_decode(p, n, &v);

	cr_expect(e == want, "%s: got %s want %s (%s)", why, o_errname(e),
	    o_errname(want), o_err_detail());
	cr_expect(v.type == OC_NULL);
	oc_val_fini(&v);
}

/* ---- round trips ------------------------------------------------------- */

Test(codec, roundtrip_scalars)
{
	roundtrip(oc_null());
	roundtrip(oc_bool(true));
	roundtrip(oc_bool(false));
	roundtrip(oc_int(0));
	roundtrip(oc_int(23));
	roundtrip(oc_int(24));
	roundtrip(oc_int(-24));
	roundtrip(oc_int(-25));
	roundtrip(oc_int(INT64_MAX));
	roundtrip(oc_int(INT64_MIN));
	roundtrip(oc_int(0xffffffffLL));
	roundtrip(oc_int(-0x100000000LL));
	roundtrip(oc_bytes("", 0));
	roundtrip(oc_bytes("\0\1\2\xff", 4));
	roundtrip(oc_text(""));
	roundtrip(oc_text("h\xc3\xa9llo"));
}

Test(codec, roundtrip_containers)
{
	struct oc_val a = oc_array(), m = oc_map(), inner = oc_array();
	char          big[300];

	memset(big, 'x', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	oc_arr_push(&inner, oc_int(1));
	oc_arr_push(&inner, oc_map());
	oc_arr_push(&a, inner);
	oc_arr_push(&a, oc_array());
	oc_arr_push(&a, oc_text(big));
	oc_map_set(&m, "zz", oc_int(-1));
	oc_map_set(&m, "a", a);
	oc_map_set(&m, "", oc_null());
	oc_map_set(&m, "b", oc_bytes(big, sizeof(big)));
	roundtrip(m);
	roundtrip(oc_array());
	roundtrip(oc_map());
}

Test(codec, roundtrip_long_array)
{
	struct oc_val a = oc_array();
	int           i;

	for (i = 0; i < 70000; i++)
		oc_arr_push(&a, oc_int(i - 35000));
	roundtrip(a);
}

static void
roundtrip_block(struct oc_val b)
{
	struct o_buf  buf = { 0 };
	struct oc_val back;

	cr_expect(oc_block_validate(&b) == O_OK, "built block invalid: %s",
	    o_err_detail());
	oc_encode(&b, &buf);
	cr_assert(oc_decode(buf.data, buf.len, &back) == O_OK);
	cr_expect(oc_val_eq(&b, &back));
	cr_expect(oc_block_validate(&back) == O_OK, "%s", o_err_detail());
	oc_val_fini(&back);
	oc_val_fini(&b);
	o_buf_fini(&buf);
}

Test(codec, roundtrip_every_block_type)
{
	struct oc_bid id, col, x, y;
	struct oc_val b, arr, ent;

	bid_fill(&id, 10);
	bid_fill(&col, 11);
	bid_fill(&x, 12);
	bid_fill(&y, 13);

	b = oc_block_new(&col, OC_BT_DIARY, &col);
	oc_map_set(&b, "head", oc_bid_val(&x));
	oc_map_set(&b, "tail", oc_bid_val(&y));
	roundtrip_block(b);

	b = oc_block_new(&col, OC_BT_TREE, &col);
	oc_map_set(&b, "head", oc_bid_val(&x));
	oc_map_set(&b, "tail", oc_bid_val(&y));
	oc_map_set(&b, "root", oc_bid_val(&id));
	roundtrip_block(b);

	roundtrip_block(make_log_block());

	b   = oc_block_new(&id, OC_BT_LEAF, &col);
	arr = oc_array();
	ent = oc_array();
	oc_arr_push(&ent, oc_bytes("key", 3));
	oc_arr_push(&ent, oc_bytes("value", 5));
	oc_arr_push(&arr, ent);
	oc_map_set(&b, "entries", arr);
	roundtrip_block(b);

	b   = oc_block_new(&id, OC_BT_BRANCH, &col);
	arr = oc_array();
	oc_arr_push(&arr, oc_bytes("m", 1));
	oc_map_set(&b, "parts", arr);
	arr = oc_array();
	oc_arr_push(&arr, oc_bid_val(&x));
	oc_arr_push(&arr, oc_bid_val(&y));
	oc_map_set(&b, "nodes", arr);
	roundtrip_block(b);

	b = oc_block_new(&id, OC_BT_CHUNK, &col);
	oc_map_set(&b, "data", oc_bytes("chunk-bytes", 11));
	roundtrip_block(b);
}

/* A transform set with every shape: insert, ops, delete, insert+ops. */
static void
make_tfs(struct oc_tfs *t)
{
	struct oc_bid a, b, c, col;
	struct oc_val blk, ins;

	oc_tfs_init(t);
	bid_fill(&a, 40);
	bid_fill(&b, 41);
	bid_fill(&c, 42);
	bid_fill(&col, 43);
	blk = oc_block_new(&a, OC_BT_LEAF, &col);
	oc_map_set(&blk, "entries", oc_array());
	oc_tfs_insert(t, blk);
	ins = oc_array();
	oc_arr_push(&ins, oc_text("e1"));
	cr_assert(
	    oc_tfs_update(t, &b, oc_op_splice("entries", 3, 1, ins)) == O_OK);
	cr_assert(
	    oc_tfs_update(t, &b, oc_op_set("next", oc_bid_val(&a))) == O_OK);
	cr_assert(oc_tfs_update(t, &b, oc_op_set("prior", oc_null())) == O_OK);
	oc_tfs_delete(t, &c);
}

Test(codec, roundtrip_transform_set)
{
	struct oc_tfs t, back;
	struct oc_val v, dv, v2;
	struct o_buf  buf = { 0 };

	make_tfs(&t);
	v = oc_tfs_to_val(&t);
	oc_encode(&v, &buf);
	cr_assert(
	    oc_decode(buf.data, buf.len, &dv) == O_OK, "%s", o_err_detail());
	cr_assert(oc_tfs_from_val(&dv, &back) == O_OK, "%s", o_err_detail());
	cr_expect(back.n == t.n);
	v2 = oc_tfs_to_val(&back);
	cr_expect(oc_val_eq(&v, &v2));
	{
		struct oc_bid a;

		bid_fill(&a, 40);
		cr_expect(oc_tfs_get(&back, &a) != NULL &&
		    oc_tfs_get(&back, &a)->insert != NULL);
		bid_fill(&a, 42);
		cr_expect(oc_tfs_get(&back, &a) != NULL &&
		    oc_tfs_get(&back, &a)->del);
	}
	oc_val_fini(&v);
	oc_val_fini(&v2);
	oc_val_fini(&dv);
	oc_tfs_fini(&t);
	oc_tfs_fini(&back);
	o_buf_fini(&buf);
}

Test(codec, roundtrip_single_transform)
{
	struct oc_tfs t;
	struct oc_tf  back;
	struct oc_val v, dv, v2;
	struct o_buf  buf = { 0 };
	size_t        i;

	make_tfs(&t);
	for (i = 0; i < t.n; i++) {
		v = oc_tf_to_val(&t.e[i].tf);
		oc_encode(&v, &buf);
		cr_assert(oc_decode(buf.data, buf.len, &dv) == O_OK);
		cr_assert(
		    oc_tf_from_val(&dv, &back) == O_OK, "%s", o_err_detail());
		v2 = oc_tf_to_val(&back);
		cr_expect(oc_val_eq(&v, &v2), "transform %zu differs", i);
		oc_val_fini(&v);
		oc_val_fini(&v2);
		oc_val_fini(&dv);
		oc_tf_fini(&back);
		o_buf_reset(&buf);
	}
	oc_tfs_fini(&t);
	o_buf_fini(&buf);
}

/* ---- deterministic encoding: known vectors ----------------------------- */

Test(codec, det_known_vectors)
{
	static const struct {
		int64_t     i;
		const char *hex;
	} ints[] = {
		{ 0, "00" },
		{ 23, "17" },
		{ 24, "1818" },
		{ 255, "18ff" },
		{ 256, "190100" },
		{ 65535, "19ffff" },
		{ 65536, "1a00010000" },
		{ 0xffffffffLL, "1affffffff" },
		{ 0x100000000LL, "1b0000000100000000" },
		{ INT64_MAX, "1b7fffffffffffffff" },
		{ -1, "20" },
		{ -24, "37" },
		{ -25, "3818" },
		{ -256, "38ff" },
		{ -257, "390100" },
		{ INT64_MIN, "3b7fffffffffffffff" },
	};
	struct oc_val v;
	size_t        i;

	for (i = 0; i < O_NELEM(ints); i++) {
		v = oc_int(ints[i].i);
		expect_enc(&v, ints[i].hex);
	}
	v = oc_null();
	expect_enc(&v, "f6");
	v = oc_bool(true);
	expect_enc(&v, "f5");
	v = oc_bool(false);
	expect_enc(&v, "f4");
	v = oc_text("");
	expect_enc(&v, "60");
	oc_val_fini(&v);
	v = oc_text("a");
	expect_enc(&v, "6161");
	oc_val_fini(&v);
	v = oc_bytes("\1\2", 2);
	expect_enc(&v, "420102");
	oc_val_fini(&v);
	v = oc_array();
	expect_enc(&v, "80");
	oc_arr_push(&v, oc_int(1));
	oc_arr_push(&v, oc_array());
	oc_arr_push(oc_arr_at(&v, 1), oc_int(2));
	expect_enc(&v, "82 01 81 02");
	oc_val_fini(&v);
}

Test(codec, det_map_keys_length_first)
{
	struct oc_val m1 = oc_map(), m2 = oc_map(), back;

	/* inserted in either order, "b" (shorter) comes before "aa" */
	oc_map_set(&m1, "aa", oc_int(2));
	oc_map_set(&m1, "b", oc_int(1));
	oc_map_set(&m2, "b", oc_int(1));
	oc_map_set(&m2, "aa", oc_int(2));
	expect_enc(&m1, "a2 6162 01 626161 02");
	expect_enc(&m2, "a2 6162 01 626161 02");
	/* same length: bytewise */
	oc_map_set(&m1, "a", oc_int(0));
	expect_enc(&m1, "a3 6161 00 6162 01 626161 02");
	cr_assert(dec_hex("a3 6161 00 6162 01 626161 02", &back) == O_OK);
	cr_expect(oc_val_eq(&m1, &back));
	oc_val_fini(&back);
	oc_val_fini(&m1);
	oc_val_fini(&m2);
}

Test(codec, det_string_lengths_shortest)
{
	char          s[300];
	struct oc_val v;
	struct o_buf  buf = { 0 };

	memset(s, 'q', sizeof(s));
	v = oc_textn(s, 23);
	oc_encode(&v, &buf);
	cr_expect(buf.len == 24 && buf.data[0] == 0x77);
	oc_val_fini(&v);
	o_buf_reset(&buf);
	v = oc_textn(s, 24);
	oc_encode(&v, &buf);
	cr_expect(buf.len == 26 && buf.data[0] == 0x78 && buf.data[1] == 24);
	oc_val_fini(&v);
	o_buf_reset(&buf);
	v = oc_bytes(s, 256);
	oc_encode(&v, &buf);
	cr_expect(buf.len == 259 && buf.data[0] == 0x59 && buf.data[1] == 1 &&
	    buf.data[2] == 0);
	oc_val_fini(&v);
	o_buf_fini(&buf);
}

/* ---- malformed input --------------------------------------------------- */

Test(codec, bad_truncated_at_every_offset)
{
	struct oc_val b   = make_log_block(), v;
	struct o_buf  buf = { 0 };
	size_t        k;

	oc_encode(&b, &buf);
	cr_assert(buf.len > 100);
	for (k = 0; k < buf.len; k++) {
		uint8_t *copy = malloc(k ? k : 1); /* exact size for ASan */
		o_err    e;

		memcpy(copy, buf.data, k);
		e = oc_decode(copy, k, &v);
		cr_expect(
		    e == O_EBADMSG, "truncated to %zu: %s", k, o_errname(e));
		cr_expect(v.type == OC_NULL);
		free(copy);
	}
	cr_expect(oc_decode(buf.data, buf.len, &v) == O_OK);
	oc_val_fini(&v);
	oc_val_fini(&b);
	o_buf_fini(&buf);
}

Test(codec, bad_oversized_input)
{
	struct oc_limits lim = oc_limits_default;
	struct oc_val    v;
	uint8_t          b[40];
	size_t           n = unhex("5820 000000000000000000000000000000000000"
	                                     "0000000000000000000000000000",
	              b, sizeof(b));

	cr_assert(n == 34);
	lim.max_input = 33;
	cr_expect(oc_decode_lim(b, n, &v, &lim) == O_ETOOBIG);
	cr_expect(v.type == OC_NULL);
	cr_expect(strstr(o_err_detail(), "34") != NULL, "%s", o_err_detail());
	lim.max_input = 34;
	cr_expect(oc_decode_lim(b, n, &v, &lim) == O_OK);
	oc_val_fini(&v);
}

Test(codec, bad_too_many_items)
{
	struct oc_limits lim = oc_limits_default;
	struct oc_val    v;
	uint8_t          b[] = { 0x84, 1, 2, 3, 4 };

	lim.max_items = 4;
	cr_expect(oc_decode_lim(b, sizeof(b), &v, &lim) == O_ETOOBIG,
	    "array of 4 is 5 items");
	lim.max_items = 5;
	cr_expect(oc_decode_lim(b, sizeof(b), &v, &lim) == O_OK);
	oc_val_fini(&v);
}

/* Empty containers count as items too (each costs a value slot). */
Test(codec, bad_too_many_empty_containers)
{
	struct oc_limits lim = oc_limits_default;
	struct oc_val    v;
	uint8_t          b[1 + 3 + 1000];

	b[0] = 0x99;
	b[1] = 1000 >> 8;
	b[2] = 1000 & 0xff;
	memset(b + 3, 0x80, 1000);
	lim.max_items = 500;
	cr_expect(oc_decode_lim(b, 3 + 1000, &v, &lim) == O_ETOOBIG, "%s",
	    o_err_detail());
	cr_expect(v.type == OC_NULL);
	lim.max_items = 1001;
	cr_expect(oc_decode_lim(b, 3 + 1000, &v, &lim) == O_OK);
	cr_expect(oc_arr_len(&v) == 1000);
	oc_val_fini(&v);
}

Test(codec, bad_too_deep_10000)
{
	size_t   n = 10000, i;
	uint8_t *b = malloc(n + 1);

	for (i = 0; i < n; i++)
		b[i] = 0x81;
	b[n] = 0x00;
	expect_code(b, n + 1, O_ETOOBIG, "10000 nested arrays");
	cr_expect(
	    strstr(o_err_detail(), "byte 32") != NULL, "%s", o_err_detail());
	/* 10000 nested arrays that never finish: still an error */
	expect_code(b, n, O_ETOOBIG, "10000 open arrays");
	/* nested maps too */
	for (i = 0; i + 2 < n; i += 3) {
		b[i]     = 0xa1;
		b[i + 1] = 0x61;
		b[i + 2] = 0x6b;
	}
	expect_code(b, i, O_ETOOBIG, "deep maps");
	free(b);
}

Test(codec, depth_limit_exact)
{
	struct oc_limits lim = oc_limits_default;
	uint8_t          b[64];
	struct oc_val    v;

	memset(b, 0x81, sizeof(b));
	b[32] = 0x00; /* 32 arrays, then an int */
	cr_expect(oc_decode(b, 33, &v) == O_OK, "depth 32 is allowed");
	oc_val_fini(&v);
	b[32] = 0x81;
	b[33] = 0x00;
	expect_code(b, 34, O_ETOOBIG, "depth 33");
	b[31] = 0x80; /* 32 arrays, innermost empty */
	cr_expect(oc_decode(b, 32, &v) == O_OK);
	oc_val_fini(&v);
	b[31] = 0x81;
	b[32] = 0x80; /* 33 arrays, innermost empty */
	expect_code(b, 33, O_ETOOBIG, "depth 33, empty");
	cr_expect(oc_decode(b, 32, &v) == O_EBADMSG, "32 open arrays");
	oc_val_fini(&v);
	lim.max_depth = 1;
	b[0]          = 0x80;
	cr_expect(oc_decode_lim(b, 1, &v, &lim) == O_OK);
	oc_val_fini(&v);
	b[0] = 0x81;
	b[1] = 0x80;
	cr_expect(oc_decode_lim(b, 2, &v, &lim) == O_ETOOBIG);
}

Test(codec, bad_indefinite_lengths)
{
	expect_bad("5f 41 00 ff", "indefinite byte string");
	expect_bad("7f 61 61 ff", "indefinite text");
	expect_bad("9f 01 ff", "indefinite array");
	expect_bad("9f ff", "empty indefinite array");
	expect_bad("bf 61 61 01 ff", "indefinite map");
	expect_bad("82 9f ff 01", "nested indefinite array");
	expect_bad("ff", "lone break");
	expect_bad("81 ff", "break inside definite array");
	expect_bad("1c", "reserved ai 28");
	expect_bad("1d", "reserved ai 29");
	expect_bad("3e", "reserved ai 30 negint");
	expect_bad("1f", "ai 31 on uint");
	expect_bad("3f", "ai 31 on negint");
}

Test(codec, bad_tags_floats_simple)
{
	expect_bad("c0 60", "tag 0");
	expect_bad("c1 01", "tag 1");
	expect_bad("d8 20 60", "tag 32");
	expect_bad("82 01 c2 41 01", "nested bignum tag");
	expect_bad("f9 3c 00", "half float");
	expect_bad("fa 3f 80 00 00", "single float");
	expect_bad("fb 3f f0 00 00 00 00 00 00", "double float");
	expect_bad("f7", "undefined");
	expect_bad("e0", "simple 0");
	expect_bad("f3", "simple 19");
	expect_bad("f8 20", "simple 32");
	expect_bad("f8 14", "simple 20 in two bytes");
	expect_bad("a1 61 61 f7", "undefined as a map value");
}

Test(codec, bad_non_shortest)
{
	expect_bad("18 05", "uint 5 in 1 byte");
	expect_bad("18 17", "uint 23 in 1 byte");
	expect_bad("19 00 ff", "uint 255 in 2 bytes");
	expect_bad("1a 00 00 ff ff", "uint 65535 in 4 bytes");
	expect_bad("1b 00 00 00 00 ff ff ff ff", "uint32 max in 8 bytes");
	expect_bad("1b 00 00 00 00 00 00 00 00", "zero in 8 bytes");
	expect_bad("38 05", "negint in 1 byte");
	expect_bad("39 00 10", "negint in 2 bytes");
	expect_bad("58 01 aa", "byte string length 1 in 1 byte");
	expect_bad("78 00", "text length 0 in 1 byte");
	expect_bad("98 00", "array length 0 in 1 byte");
	expect_bad("b8 00", "map length 0 in 1 byte");
	expect_bad("99 00 01 00", "array length 1 in 2 bytes");
	expect_bad("81 18 00", "nested non-shortest");
}

Test(codec, ints_at_the_int64_edges)
{
	struct oc_val v;

	expect_bad("1b 80 00 00 00 00 00 00 00", "2^63");
	expect_bad("1b ff ff ff ff ff ff ff ff", "2^64-1");
	expect_bad("3b 80 00 00 00 00 00 00 00", "-2^63-1");
	expect_bad("3b ff ff ff ff ff ff ff ff", "-2^64");
	cr_assert(dec_hex("1b 7f ff ff ff ff ff ff ff", &v) == O_OK);
	cr_expect(v.type == OC_INT && v.u.i == INT64_MAX);
	cr_assert(dec_hex("3b 7f ff ff ff ff ff ff ff", &v) == O_OK);
	cr_expect(v.type == OC_INT && v.u.i == INT64_MIN);
}

Test(codec, bad_map_keys)
{
	expect_bad("a2 61 61 01 61 61 02", "duplicate key");
	expect_bad("a2 62 61 61 01 61 62 02", "longer key first");
	expect_bad("a2 61 62 01 61 61 02", "same length, bytewise descending");
	expect_bad("a1 01 02", "int key");
	expect_bad("a1 41 61 02", "byte string key");
	expect_bad("a1 f6 02", "null key");
	expect_bad("a1 80 02", "array key");
	expect_bad("a1 a0 02", "map key");
	expect_bad("a2 61 61 01 01 02", "second key an int");
	expect_bad("a1 61 61", "key without value");
}

Test(codec, bad_text_with_nul)
{
	struct oc_val v;

	expect_bad("62 61 00", "NUL inside text");
	expect_bad("61 00", "NUL only");
	expect_bad("a1 62 00 61 01", "NUL in a map key");
	/* NUL inside a byte string is fine */
	cr_expect(dec_hex("42 61 00", &v) == O_OK);
	oc_val_fini(&v);
}

Test(codec, bad_trailing_bytes)
{
	expect_bad("00 00", "two roots");
	expect_bad("f6 00", "null then int");
	expect_bad("80 80", "two arrays");
	expect_bad("81 01 02", "array then extra");
	expect_bad("a0 ff", "map then break");
}

Test(codec, bad_huge_collection_claims)
{
	/* must fail fast, without trying to allocate the claimed size */
	expect_bad("9a ff ff ff ff 01", "array of 2^32-1");
	expect_bad("9b 00 00 00 01 00 00 00 00 01 02", "array of 2^32");
	expect_bad("9b ff ff ff ff ff ff ff ff", "array of 2^64-1");
	expect_bad("9b 80 00 00 00 00 00 00 00 00", "array of 2^63");
	expect_bad("ba ff ff ff ff 61 61 01", "map of 2^32-1");
	expect_bad("bb 00 00 00 01 00 00 00 00", "map of 2^32");
	expect_bad("bb ff ff ff ff ff ff ff ff", "map of 2^64-1");
	expect_bad("bb 80 00 00 00 00 00 00 00", "map of 2^63 (2n wraps)");
	expect_bad("bb 80 00 00 00 00 00 00 01 61 61 01", "map 2^63+1");
	expect_bad("99 ff ff 00 00", "array of 65535 with 2 bytes");
	expect_bad("83 01 02", "array of 3 with 2 items");
	expect_bad("a2 61 61 01", "map of 2 with 1 pair");
}

/*
 * Nested claims: each container claims about as many items as bytes remain,
 * 32 levels deep.  Every claim alone fits the input; together they do not.
 * The decoder must refuse before reserving 32 x the input in value slots.
 */
Test(codec, bad_nested_claims_exceed_input)
{
	size_t   n = 1 << 20, i, pos = 0;
	uint8_t *b = malloc(n);

	memset(b, 0, n);
	for (i = 0; i < 32; i++) {
		uint32_t claim = (uint32_t) (n - pos - 64);

		b[pos++] = 0x9a;
		b[pos++] = (uint8_t) (claim >> 24);
		b[pos++] = (uint8_t) (claim >> 16);
		b[pos++] = (uint8_t) (claim >> 8);
		b[pos++] = (uint8_t) claim;
	}
	expect_code(b, n, O_EBADMSG, "nested claims");
	free(b);
}

Test(codec, bad_string_longer_than_input)
{
	expect_bad("5a 00 01 00 00 01 02", "bytes claim 65536, 2 present");
	expect_bad("5b ff ff ff ff ff ff ff ff 00", "bytes claim 2^64-1");
	expect_bad("5b 80 00 00 00 00 00 00 00 00", "bytes claim 2^63");
	expect_bad("7b 7f ff ff ff ff ff ff ff 61", "text claim 2^63-1");
	expect_bad("43 01 02", "bytes claim 3, 2 present");
	expect_bad("81 62 61", "text in array cut short");
	expect_bad("19 01", "truncated 2-byte head");
	expect_bad("1b 01 02 03", "truncated 8-byte head");
	expect_bad("9a 00 01", "truncated array head");
	expect_bad("", "empty input");
}

Test(codec, bad_detail_names_offset)
{
	struct oc_val v;

	cr_expect(dec_hex("82 01 f7", &v) == O_EBADMSG);
	cr_expect(strstr(o_err_detail(), "byte 2") != NULL, "detail: %s",
	    o_err_detail());
	cr_expect(dec_hex("83 01 02 18 05", &v) == O_EBADMSG);
	cr_expect(strstr(o_err_detail(), "byte 3") != NULL, "detail: %s",
	    o_err_detail());
	cr_expect(dec_hex("a2 61 62 01 61 61 02", &v) == O_EBADMSG);
	cr_expect(strstr(o_err_detail(), "byte 4") != NULL, "detail: %s",
	    o_err_detail());
	cr_expect(dec_hex("00 00", &v) == O_EBADMSG);
	cr_expect(strstr(o_err_detail(), "byte 1") != NULL, "detail: %s",
	    o_err_detail());
}

/* A buffer decoded into a value re-encodes to the same bytes. */
static void
check_canonical(const uint8_t *p, size_t n)
{
	struct oc_val v;
	o_err         e = oc_decode(p, n, &v);

	cr_assert(e == O_OK || e == O_EBADMSG || e == O_ETOOBIG,
	    "unexpected code %s", o_errname(e));
	if (e == O_OK) {
		struct o_buf buf = { 0 };

		oc_encode(&v, &buf);
		cr_expect(buf.len == n && memcmp(buf.data, p, n) == 0,
		    "accepted input is not canonical");
		o_buf_fini(&buf);
	} else {
		cr_expect(v.type == OC_NULL);
	}
	oc_val_fini(&v);
}

static uint64_t
xorshift(uint64_t *s)
{
	uint64_t x = *s;

	x ^= x << 13;
	x ^= x >> 7;
	x ^= x << 17;
	return *s = x;
}

Test(codec, random_garbage)
{
	uint64_t seed = 0x9e3779b97f4a7c15ull;
	uint8_t  buf[96];
	int      i;
	size_t   j, ok = 0;

	for (i = 0; i < 5000; i++) {
		size_t   n = xorshift(&seed) % sizeof(buf);
		uint8_t *p;

		for (j = 0; j < n; j++)
			buf[j] = (uint8_t) xorshift(&seed);
		/* bias some buffers towards small heads so items nest */
		if (i % 3 == 0)
			for (j = 0; j < n; j++)
				if (buf[j] >= 0xe0)
					buf[j] &= 0x9f;
		p = malloc(n ? n : 1);
		memcpy(p, buf, n);
		check_canonical(p, n);
		{
			struct oc_val v;

			if (oc_decode(p, n, &v) == O_OK)
				ok++;
			oc_val_fini(&v);
		}
		free(p);
	}
	cr_log_info("random garbage: %zu of 5000 accepted", ok);
}

/* Mutations of a valid block: flip bytes, every result is OK-canonical. */
Test(codec, mutated_block)
{
	struct oc_val b    = make_log_block();
	struct o_buf  buf  = { 0 };
	uint64_t      seed = 42;
	size_t        k;
	int           i;

	oc_encode(&b, &buf);
	for (i = 0; i < 3000; i++) {
		uint8_t *p = malloc(buf.len);

		memcpy(p, buf.data, buf.len);
		for (k = 0; k < 1 + (size_t) i % 3; k++)
			p[xorshift(&seed) % buf.len] =
			    (uint8_t) xorshift(&seed);
		check_canonical(p, buf.len);
		free(p);
	}
	oc_val_fini(&b);
	o_buf_fini(&buf);
}

/* o_util's big-endian helpers: most significant byte first, each width
 * round-trips and touches only its own bytes (keys sort by value, frame
 * headers are read by other hosts). */
Test(codec, big_endian_integers_put_the_high_byte_first)
{
	uint8_t b[10];

	memset(b, 0xee, sizeof(b));
	o_be64_put(b + 1, 0x0102030405060708ull);
	cr_assert(
	    memcmp(b, "\xee\x01\x02\x03\x04\x05\x06\x07\x08\xee", 10) == 0);
	cr_assert_eq(o_be64_get(b + 1), 0x0102030405060708ull);
	memset(b, 0xee, sizeof(b));
	o_be32_put(b + 1, 0x8a0b0c0du);
	cr_assert(memcmp(b, "\xee\x8a\x0b\x0c\x0d\xee", 6) == 0);
	cr_assert_eq(o_be32_get(b + 1), 0x8a0b0c0du);
	cr_assert_eq(
	    o_be64_get((const uint8_t *) "\xff\xff\xff\xff\xff\xff\xff\xfe"),
	    UINT64_MAX - 1);
}

/* path's bytes (at most cap - 1, then NUL) into buf: their count, or -1
 * (o_file_read's error). */
static long
slurp(const char *path, char *buf, size_t cap)
{
	struct o_buf b = { 0 };
	long         n = -1;

	if (o_file_read(path, cap - 1, &b) == O_OK) {
		memcpy(buf, b.data, b.len + 1);
		n = (long) b.len;
	}
	o_buf_fini(&b);
	return n;
}

/* o_util's o_file_replace (a node's kept member list): the new bytes
 * replace the old and no temporary file is left; a failure names its
 * step and path and leaves the old file as it was. */
Test(codec, a_file_is_replaced_whole_or_not_at_all)
{
	char *dir = ot_tmpdir("replace");
	char  path[512], tmp[520], bad[512], got[64];

	snprintf(path, sizeof(path), "%s/members", dir);
	snprintf(tmp, sizeof(tmp), "%s.tmp", path);
	cr_assert_eq(
	    o_file_replace(path, "one", 3), O_OK, "%s", o_err_detail());
	cr_assert_eq(
	    o_file_replace(path, "second", 6), O_OK, "%s", o_err_detail());
	cr_expect_eq(slurp(path, got, sizeof(got)), 6);
	cr_expect_str_eq(got, "second");
	cr_expect(access(tmp, F_OK) != 0, "the temporary file is left");

	/* its temporary file cannot be created (a directory is there) */
	cr_assert_eq(mkdir(tmp, 0755), 0);
	cr_expect_neq(o_file_replace(path, "third", 5), O_OK);
	cr_expect(strstr(o_err_detail(), "create ") != NULL &&
	        strstr(o_err_detail(), "members.tmp") != NULL,
	    "%s", o_err_detail());
	cr_expect_eq(slurp(path, got, sizeof(got)), 6);
	cr_expect_str_eq(got, "second", "the old file was changed");
	rmdir(tmp);

	/* its directory does not exist */
	snprintf(bad, sizeof(bad), "%s/gone/members", dir);
	cr_expect_eq(o_file_replace(bad, "x", 1), O_ENOTFOUND);
	cr_expect(strstr(o_err_detail(), "gone/members.tmp") != NULL, "%s",
	    o_err_detail());
	ot_rmtree_free(dir);
}

/* o_util's o_file_read: the whole file, NUL after it (an empty one
 * too); past its bound O_ETOOBIG naming the file; a missing one
 * O_ENOTFOUND. */
Test(codec, a_file_is_read_whole_within_its_bound)
{
	char        *dir = ot_tmpdir("read");
	char         path[512];
	struct o_buf b = { 0 };

	snprintf(path, sizeof(path), "%s/f", dir);
	cr_assert_eq(o_file_replace(path, "", 0), O_OK);
	cr_assert_eq(o_file_read(path, 10, &b), O_OK, "%s", o_err_detail());
	cr_expect(b.len == 0 && b.data != NULL && b.data[0] == '\0');
	cr_assert_eq(o_file_replace(path, "0123456789", 10), O_OK);
	o_buf_reset(&b);
	cr_assert_eq(o_file_read(path, 10, &b), O_OK, "%s", o_err_detail());
	cr_expect(b.len == 10 && memcmp(b.data, "0123456789", 11) == 0);
	o_buf_reset(&b);
	cr_expect_eq(o_file_read(path, 9, &b), O_ETOOBIG);
	cr_expect(strstr(o_err_detail(), path) != NULL &&
	        strstr(o_err_detail(), "larger than 9 bytes") != NULL,
	    "%s", o_err_detail());
	o_buf_reset(&b);
	snprintf(path, sizeof(path), "%s/none", dir);
	cr_expect_eq(o_file_read(path, 10, &b), O_ENOTFOUND);
	o_buf_fini(&b);
	ot_rmtree_free(dir);
}
