/*
 * test_block.c - block ids, headers, per-type validation of wrongly typed
 * blocks, and the transactor helpers (commit order, contexts, results).
 */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <criterion/criterion.h>

#include "core/block.h"
#include "core/codec.h"
#include "core/o_util.h"
#include "core/transactor.h"

TestSuite(block, .timeout = 60);
TestSuite(transactor, .timeout = 60);

static void
bid_fill(struct oc_bid *id, uint8_t seed)
{
	size_t i;

	for (i = 0; i < OC_BID_LEN; i++)
		id->b[i] = (uint8_t) (seed * 31 + i);
}

/* ---- ids ---------------------------------------------------------------- */

Test(block, bid_random_distinct_and_nonzero)
{
	struct oc_bid a, b;
	struct oc_aid x, y;

	oc_bid_random(&a);
	oc_bid_random(&b);
	cr_expect(!oc_bid_eq(&a, &b));
	cr_expect(!oc_bid_is_zero(&a));
	cr_expect(oc_bid_cmp(&a, &a) == 0);
	cr_expect((oc_bid_cmp(&a, &b) < 0) == (oc_bid_cmp(&b, &a) > 0));
	oc_aid_random(&x);
	oc_aid_random(&y);
	cr_expect(!oc_aid_eq(&x, &y));
	memset(&a, 0, sizeof(a));
	cr_expect(oc_bid_is_zero(&a));
}

/*
 * Ids come from a per-thread buffer of random bytes (core/o_util.c): a
 * process forked with bytes left in it must not hand out its parent's ids
 * (two nodes started from one process would share block ids), nor may
 * threads drawing at once share bytes.
 */
enum { FORK_IDS = 4, THREAD_IDS = 2000 };

static void *
bid_thread(void *arg)
{
	struct oc_bid *ids = arg;
	int            i;

	for (i = 0; i < THREAD_IDS; i++)
		oc_bid_random(&ids[i]);
	return NULL;
}

static int
bid_qcmp(const void *a, const void *b)
{
	return oc_bid_cmp(a, b);
}

Test(block, ids_differ_across_fork_and_threads)
{
	struct oc_bid a, mine[FORK_IDS], theirs[FORK_IDS], *ids;
	pthread_t     th[2];
	int           fd[2], st, i, j;
	pid_t         pid;

	oc_bid_random(&a); /* the buffer now holds unused bytes */
	cr_assert_eq(pipe(fd), 0);
	pid = fork();
	cr_assert_neq(pid, -1);
	if (pid == 0) {
		close(fd[0]);
		for (i = 0; i < FORK_IDS; i++)
			oc_bid_random(&mine[i]);
		_exit(
		    write(fd[1], mine, sizeof(mine)) == (ssize_t) sizeof(mine)
		        ? 0
		        : 1);
	}
	close(fd[1]); /* a child that dies makes the read end, not hang */
	for (i = 0; i < FORK_IDS; i++)
		oc_bid_random(&mine[i]);
	cr_assert_eq(
	    read(fd[0], theirs, sizeof(theirs)), (ssize_t) sizeof(theirs));
	close(fd[0]);
	cr_assert_eq(waitpid(pid, &st, 0), pid);
	cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0);
	for (i = 0; i < FORK_IDS; i++)
		for (j = 0; j < FORK_IDS; j++)
			cr_expect(!oc_bid_eq(&mine[i], &theirs[j]),
			    "the child's id %d is the parent's id %d", j, i);

	/* two threads drawing at once, then every id compared */
	ids = calloc(2 * THREAD_IDS, sizeof(*ids));
	cr_assert_not_null(ids);
	for (i = 0; i < 2; i++)
		cr_assert_eq(pthread_create(&th[i], NULL, bid_thread,
		                 ids + i * THREAD_IDS),
		    0);
	for (i = 0; i < 2; i++)
		cr_assert_eq(pthread_join(th[i], NULL), 0);
	qsort(ids, 2 * THREAD_IDS, sizeof(*ids), bid_qcmp);
	for (i = 1; i < 2 * THREAD_IDS; i++)
		cr_expect(!oc_bid_eq(&ids[i - 1], &ids[i]),
		    "two threads drew the same id");
	free(ids);
}

/* CRC-32C: the standard check value, the instruction against the table
 * over every length and alignment up to 300 bytes, at lengths around the
 * hardware path's lanes and one large buffer, chaining equals one pass,
 * and a flipped bit changes it. */
Test(block, crc32c_known_hw_sw_and_chained)
{
	static uint8_t buf[1 << 16];
	size_t         i, off, n;

	cr_assert_eq(o_crc32c(0, "123456789", 9), 0xE3069283u);
	cr_assert_eq(o_crc32c_sw(0, "123456789", 9), 0xE3069283u);
	cr_assert_eq(o_crc32c(0, "", 0), 0);
	for (i = 0; i < sizeof(buf); i++)
		buf[i] = (uint8_t) (i * 2654435761u >> 13);
	for (off = 0; off < 8; off++)
		for (n = 0; n <= 300; n++)
			cr_assert_eq(o_crc32c(7, buf + off, n),
			    o_crc32c_sw(7, buf + off, n), "off %zu n %zu", off,
			    n);
	cr_assert_eq(
	    o_crc32c(0, buf, sizeof(buf)), o_crc32c_sw(0, buf, sizeof(buf)));
	/* around the hardware path's three lanes of 2 KiB */
	for (off = 0; off < 8; off++)
		for (i = 0; i < 12; i++) {
			static const size_t lens[] = { 6143, 6144, 6145, 6151,
				6152, 8191, 12287, 12288, 12295, 18437, 40000,
				65000 };

			n = lens[i];
			cr_assert_eq(o_crc32c(7, buf + off, n),
			    o_crc32c_sw(7, buf + off, n), "off %zu n %zu", off,
			    n);
		}
	cr_assert_eq(
	    o_crc32c(o_crc32c(0, buf, 1001), buf + 1001, sizeof(buf) - 1001),
	    o_crc32c(0, buf, sizeof(buf)));
	n = o_crc32c(0, buf, sizeof(buf));
	buf[40000] ^= 0x10;
	cr_assert_neq(o_crc32c(0, buf, sizeof(buf)), n);
}

Test(block, bid_str_parse_roundtrip)
{
	struct oc_bid a, b;
	char          s[OC_BID_STRLEN];
	int           i;

	for (i = 0; i < 200; i++) {
		oc_bid_random(&a);
		oc_bid_str(&a, s);
		cr_assert(strlen(s) == OC_BID_STRLEN - 1);
		cr_assert(oc_bid_parse(s, &b), "parse %s", s);
		cr_assert(oc_bid_eq(&a, &b));
	}
	memset(&a, 0xff, sizeof(a));
	oc_bid_str(&a, s);
	cr_expect(oc_bid_parse(s, &b) && oc_bid_eq(&a, &b));
}

Test(block, bid_parse_rejects)
{
	struct oc_bid a, b;
	char          s[OC_BID_STRLEN + 1];

	memset(&a, 0, sizeof(a));
	oc_bid_str(&a, s);
	cr_expect(oc_bid_parse(s, &b));
	cr_expect(!oc_bid_parse("", &b));
	cr_expect(!oc_bid_parse("abc", &b));
	s[3] = 'A'; /* upper case is not our alphabet */
	cr_expect(!oc_bid_parse(s, &b));
	s[3] = '1';
	cr_expect(!oc_bid_parse(s, &b));
	s[3] = 'a';
	strcat(s, "a"); /* too long */
	cr_expect(!oc_bid_parse(s, &b));
	/*
	 * 52 chars carry 260 bits: the last 4 must be zero, or two strings
	 * would name the same id.
	 */
	oc_bid_str(&a, s);
	s[OC_BID_STRLEN - 2] = 'b';
	cr_expect(!oc_bid_parse(s, &b), "non-canonical trailing bits");
}

Test(block, aid_str)
{
	struct oc_aid a;
	char          s[OC_AID_STRLEN];

	memset(&a, 0, sizeof(a));
	oc_aid_str(&a, s);
	cr_expect(strlen(s) == OC_AID_STRLEN - 1);
	cr_expect(strspn(s, "a") == strlen(s));
}

Test(block, id_vals)
{
	struct oc_bid id, back;
	struct oc_aid aid, aback;
	struct oc_val v, m;

	bid_fill(&id, 5);
	v = oc_bid_val(&id);
	cr_expect(oc_bid_from(&v, &back) && oc_bid_eq(&id, &back));
	cr_expect(!oc_aid_from(&v, &aback), "32 bytes is not an aid");
	oc_val_fini(&v);
	memset(&aid, 7, sizeof(aid));
	v = oc_aid_val(&aid);
	cr_expect(oc_aid_from(&v, &aback) && oc_aid_eq(&aid, &aback));
	cr_expect(!oc_bid_from(&v, &back), "16 bytes is not a bid");
	oc_val_fini(&v);
	v = oc_text("0123456789abcdef0123456789abcdef");
	cr_expect(!oc_bid_from(&v, &back), "text is not a bid");
	oc_val_fini(&v);
	cr_expect(!oc_bid_from(NULL, &back));
	m = oc_map();
	oc_map_set(&m, "x", oc_bid_val(&id));
	oc_map_set(&m, "n", oc_null());
	cr_expect(oc_map_bid(&m, "x", &back) && oc_bid_eq(&id, &back));
	cr_expect(!oc_map_bid(&m, "n", &back));
	cr_expect(!oc_map_bid(&m, "absent", &back));
	oc_val_fini(&m);
}

Test(block, block_new_header)
{
	struct oc_bid id, col, got;
	struct oc_val b;

	bid_fill(&id, 1);
	bid_fill(&col, 2);
	b = oc_block_new(&id, OC_BT_CHUNK, &col);
	cr_expect(oc_block_id(&b, &got) && oc_bid_eq(&got, &id));
	cr_expect(strcmp(oc_block_type(&b), OC_BT_CHUNK) == 0);
	cr_expect(oc_map_bid(&b, OC_F_COL, &got) && oc_bid_eq(&got, &col));
	/* a chunk without data is not valid yet */
	cr_expect(oc_block_validate(&b) == O_EBADMSG);
	cr_expect(
	    strstr(o_err_detail(), "data") != NULL, "%s", o_err_detail());
	oc_map_set(&b, "data", oc_bytes("", 0));
	cr_expect(oc_block_validate(&b) == O_OK);
	oc_val_fini(&b);
}

/* ---- validation of wrongly typed blocks -------------------------------- */

static struct oc_val
good(const char *type)
{
	struct oc_bid id, col, x;
	struct oc_val b, a;

	bid_fill(&id, 1);
	bid_fill(&col, 2);
	bid_fill(&x, 3);
	b = oc_block_new(&id, type, &col);
	if (strcmp(type, OC_BT_DIARY) == 0 || strcmp(type, OC_BT_TREE) == 0) {
		oc_map_set(&b, "head", oc_bid_val(&x));
		oc_map_set(&b, "tail", oc_bid_val(&x));
		if (strcmp(type, OC_BT_TREE) == 0)
			oc_map_set(&b, "root", oc_bid_val(&x));
	} else if (strcmp(type, OC_BT_LOG) == 0) {
		struct oc_val e = oc_map();

		oc_map_set(&e, "rev", oc_int(1));
		a = oc_array();
		oc_arr_push(&a, e);
		oc_map_set(&b, "entries", a);
		oc_map_set(&b, "prior", oc_bid_val(&x));
		oc_map_set(&b, "next", oc_null());
		oc_map_set(&b, "phash", oc_bytes(x.b, 32));
	} else if (strcmp(type, OC_BT_LEAF) == 0) {
		oc_map_set(&b, "entries", oc_array());
	} else if (strcmp(type, OC_BT_BRANCH) == 0) {
		a = oc_array();
		oc_arr_push(&a, oc_bid_val(&x));
		oc_map_set(&b, "nodes", a);
		oc_map_set(&b, "parts", oc_array());
	} else if (strcmp(type, OC_BT_CHUNK) == 0) {
		oc_map_set(&b, "data", oc_bytes("abc", 3));
	}
	return b;
}

/* Set field f of a good block of type t to v (NULL: delete); must fail. */
static void
expect_invalid(const char *t, const char *f, struct oc_val *v, const char *why)
{
	struct oc_val b = good(t);
	o_err         e;

	if (v == NULL)
		oc_map_del(&b, f);
	else
		oc_map_set(&b, f, *v);
	e = oc_block_validate(&b);
	cr_expect(e == O_EBADMSG, "%s %s: %s accepted", t, f, why);
	oc_val_fini(&b);
}

Test(block, validate_good_blocks)
{
	static const char *types[] = { OC_BT_DIARY, OC_BT_TREE, OC_BT_LOG,
		OC_BT_LEAF, OC_BT_BRANCH, OC_BT_CHUNK };
	size_t             i;

	for (i = 0; i < O_NELEM(types); i++) {
		struct oc_val b = good(types[i]);

		cr_expect(oc_block_validate(&b) == O_OK, "%s: %s", types[i],
		    o_err_detail());
		oc_val_fini(&b);
	}
}

Test(block, validate_optional_links_absent_or_null)
{
	struct oc_val b = good(OC_BT_TREE);

	oc_map_del(&b, "head");
	oc_map_set(&b, "tail", oc_null());
	oc_map_del(&b, "root");
	cr_expect(oc_block_validate(&b) == O_OK, "%s", o_err_detail());
	oc_val_fini(&b);
	b = good(OC_BT_LOG);
	oc_map_del(&b, "prior");
	oc_map_del(&b, "phash");
	cr_expect(oc_block_validate(&b) == O_OK, "%s", o_err_detail());
	oc_val_fini(&b);
}

Test(block, validate_wrong_types)
{
	static const char *types[] = { OC_BT_DIARY, OC_BT_TREE, OC_BT_LOG,
		OC_BT_LEAF, OC_BT_BRANCH, OC_BT_CHUNK };
	struct oc_val      v, bad, e;
	size_t             i;

	/* header fields, for every type */
	for (i = 0; i < O_NELEM(types); i++) {
		expect_invalid(types[i], OC_F_ID, NULL, "missing id");
		v = oc_text("id");
		expect_invalid(types[i], OC_F_ID, &v, "text id");
		v = oc_bytes("short", 5);
		expect_invalid(types[i], OC_F_ID, &v, "5-byte id");
		v = oc_null();
		expect_invalid(types[i], OC_F_COL, &v, "null col");
		v = oc_int(3);
		expect_invalid(types[i], OC_F_COL, &v, "int col");
		expect_invalid(types[i], OC_F_TYPE, NULL, "missing type");
		v = oc_int(1);
		expect_invalid(types[i], OC_F_TYPE, &v, "int type");
		v = oc_bytes(types[i], strlen(types[i]));
		expect_invalid(types[i], OC_F_TYPE, &v, "bytes type");
	}
	v = oc_text("XYZ");
	expect_invalid(OC_BT_CHUNK, OC_F_TYPE, &v, "unknown type");

	/* headers */
	v = oc_text("not-an-id");
	expect_invalid(OC_BT_DIARY, "head", &v, "text head");
	v = oc_bytes("x", 1);
	expect_invalid(OC_BT_DIARY, "tail", &v, "1-byte tail");
	v = oc_array();
	expect_invalid(OC_BT_TREE, "root", &v, "array root");

	/* log */
	expect_invalid(OC_BT_LOG, "entries", NULL, "missing entries");
	v = oc_map();
	expect_invalid(OC_BT_LOG, "entries", &v, "map entries");
	v = oc_array();
	oc_arr_push(&v, oc_int(1));
	expect_invalid(OC_BT_LOG, "entries", &v, "entry not a map");
	v = oc_array();
	oc_arr_push(&v, oc_map());
	expect_invalid(OC_BT_LOG, "entries", &v, "entry without rev");
	v = oc_array();
	e = oc_map();
	oc_map_set(&e, "rev", oc_text("1"));
	oc_arr_push(&v, e);
	expect_invalid(OC_BT_LOG, "entries", &v, "text rev");
	v = oc_array();
	for (i = 0; i < 33; i++) {
		e = oc_map();
		oc_map_set(&e, "rev", oc_int((int64_t) i + 1));
		oc_arr_push(&v, e);
	}
	expect_invalid(OC_BT_LOG, "entries", &v, "33 entries");
	v = oc_bytes("x", 1);
	expect_invalid(OC_BT_LOG, "prior", &v, "short prior");
	v = oc_int(0);
	expect_invalid(OC_BT_LOG, "next", &v, "int next");
	v = oc_bytes("x", 1);
	expect_invalid(OC_BT_LOG, "phash", &v, "short hash");
	v = oc_text("h");
	expect_invalid(OC_BT_LOG, "phash", &v, "text hash");

	/* leaf */
	expect_invalid(OC_BT_LEAF, "entries", NULL, "missing entries");
	v = oc_bytes("", 0);
	expect_invalid(OC_BT_LEAF, "entries", &v, "bytes entries");

	/* branch */
	expect_invalid(OC_BT_BRANCH, "parts", NULL, "missing parts");
	expect_invalid(OC_BT_BRANCH, "nodes", NULL, "missing nodes");
	v = oc_array();
	expect_invalid(OC_BT_BRANCH, "nodes", &v, "0 nodes for 0 parts");
	v = oc_array();
	oc_arr_push(&v, oc_bytes("k", 1));
	expect_invalid(OC_BT_BRANCH, "parts", &v, "1 part for 1 node");
	v = oc_map();
	expect_invalid(OC_BT_BRANCH, "parts", &v, "map parts");

	/* chunk */
	expect_invalid(OC_BT_CHUNK, "data", NULL, "missing data");
	v = oc_text("abc");
	expect_invalid(OC_BT_CHUNK, "data", &v, "text data");

	/* not a map at all */
	bad = oc_array();
	cr_expect(oc_block_validate(&bad) == O_EBADMSG);
	oc_val_fini(&bad);
	bad = oc_null();
	cr_expect(oc_block_validate(&bad) == O_EBADMSG);
	cr_expect(oc_block_validate(NULL) == O_EBADMSG);
}

Test(block, validate_detail_names_block_and_field)
{
	struct oc_val b = good(OC_BT_LOG);
	struct oc_bid id;
	char          s[OC_BID_STRLEN];

	oc_map_set(&b, "phash", oc_int(1));
	cr_expect(oc_block_validate(&b) == O_EBADMSG);
	bid_fill(&id, 1);
	oc_bid_str(&id, s);
	cr_expect(strstr(o_err_detail(), s) != NULL, "%s", o_err_detail());
	cr_expect(
	    strstr(o_err_detail(), "phash") != NULL, "%s", o_err_detail());
	oc_val_fini(&b);
}

/* A decoded wrongly typed block: the decoder accepts it, validate refuses. */
Test(block, validate_after_decode)
{
	struct oc_val b   = good(OC_BT_BRANCH), d;
	struct o_buf  buf = { 0 };

	oc_map_set(&b, "nodes", oc_text("x"));
	oc_encode(&b, &buf);
	cr_assert(oc_decode(buf.data, buf.len, &d) == O_OK);
	cr_expect(oc_block_validate(&d) == O_EBADMSG);
	oc_val_fini(&d);
	oc_val_fini(&b);
	o_buf_fini(&buf);
}

/* ---- transactor helpers ------------------------------------------------ */

Test(transactor, commit_order_critical_first_then_ascending)
{
	struct oc_bid        ids[5], out[5];
	struct oc_commit_req req;
	size_t               i;

	memset(&req, 0, sizeof(req));
	bid_fill(&ids[0], 9);
	bid_fill(&ids[1], 3);
	bid_fill(&ids[2], 7);
	bid_fill(&ids[3], 1);
	bid_fill(&ids[4], 5);
	req.ids      = ids;
	req.n        = 5;
	req.critical = ids[2];
	cr_assert(oc_commit_order(&req, out) == O_OK);
	cr_expect(oc_bid_eq(&out[0], &ids[2]));
	for (i = 2; i < 5; i++)
		cr_expect(oc_bid_cmp(&out[i - 1], &out[i]) < 0);
	/* every id appears */
	for (i = 0; i < 5; i++) {
		size_t j;
		bool   seen = false;

		for (j = 0; j < 5; j++)
			seen = seen || oc_bid_eq(&ids[i], &out[j]);
		cr_expect(seen);
	}
	/* critical last in the input, and critical the smallest */
	req.critical = ids[3];
	cr_assert(oc_commit_order(&req, out) == O_OK);
	cr_expect(oc_bid_eq(&out[0], &ids[3]));
	req.critical = ids[4];
	cr_assert(oc_commit_order(&req, out) == O_OK);
	cr_expect(oc_bid_eq(&out[0], &ids[4]));
	/* one id */
	req.n        = 1;
	req.critical = ids[0];
	cr_assert(oc_commit_order(&req, out) == O_OK);
	cr_expect(oc_bid_eq(&out[0], &ids[0]));
}

Test(transactor, commit_order_critical_absent)
{
	struct oc_bid        ids[3], out[3], other;
	struct oc_commit_req req;

	memset(&req, 0, sizeof(req));
	bid_fill(&ids[0], 1);
	bid_fill(&ids[1], 2);
	bid_fill(&ids[2], 3);
	bid_fill(&other, 4);
	req.ids      = ids;
	req.n        = 3;
	req.critical = other;
	cr_expect(oc_commit_order(&req, out) == O_EINVAL);
	req.n = 0;
	cr_expect(oc_commit_order(&req, out) == O_EINVAL);
	req.n        = 1;
	req.critical = ids[1];
	cr_expect(oc_commit_order(&req, out) == O_EINVAL);
}

Test(transactor, actx_add_find_copy)
{
	struct oc_actx a, b;
	struct oc_aid  x, y, z;

	memset(&x, 1, sizeof(x));
	memset(&y, 2, sizeof(y));
	memset(&z, 3, sizeof(z));
	oc_actx_init(&a);
	/* copying an empty context must not read through its NULL array */
	oc_actx_copy(&b, &a);
	cr_expect(b.n == 0 && b.rev == 0);
	oc_actx_fini(&b);
	oc_actx_add(&a, &x, 3);
	oc_actx_add(&a, &y, 5);
	oc_actx_add(&a, &z, 4);
	cr_expect(a.rev == 5);
	cr_expect(oc_actx_find(&a, &y) == 5);
	cr_expect(oc_actx_find(&a, &z) == 4);
	oc_actx_copy(&b, &a);
	cr_expect(b.n == 3 && b.rev == 5 && oc_actx_find(&b, &x) == 3);
	oc_actx_fini(&a);
	cr_expect(oc_actx_find(&b, &z) == 4);
	memset(&z, 9, sizeof(z));
	cr_expect(oc_actx_find(&b, &z) == 0);
	oc_actx_fini(&b);
}

Test(transactor, txres_helpers)
{
	struct oc_txres   r;
	struct oc_tf      tf;
	struct oc_bid     id;
	struct oc_aid     aid;
	struct oc_get_res g;

	bid_fill(&id, 1);
	memset(&aid, 4, sizeof(aid));
	oc_txres_init(&r);
	oc_tf_init(&tf);
	oc_tf_add_op(&tf, oc_op_set("x", oc_int(1)));
	oc_txres_add_pending(&r, &id, &aid, &tf);
	oc_txres_add_pending(&r, &id, &aid, NULL);
	oc_txres_add_missing(&r, &id, &aid, 7, tf); /* moved */
	cr_expect(r.npending == 2 && r.pending[0].has_tf &&
	    !r.pending[1].has_tf && r.pending[0].tf.nops == 1);
	cr_expect(r.nmissing == 1 && r.missing[0].rev == 7);
	oc_txres_stale_at(&r, &id, 4);
	oc_txres_stale_at(&r, &id, 2);
	cr_expect(r.stale_rev == 4);
	oc_txres_fini(&r);
	oc_get_res_init(&g);
	g.block = oc_text("x");
	oc_get_res_fini(&g);
	cr_expect(g.block.type == OC_NULL);
}
