/*
 * test_collection.c - collections, diaries and trees over a real RocksDB
 * repository through the local transactor.  Test names carry the number of
 * the behaviour in optimystic-digest.md section 10 they port (dNN_).
 */
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>

#include <criterion/criterion.h>

#include "coll/collutil.h"
#include "core/codec.h"
#include "core/diary.h"
#include "core/log.h"
#include "core/tree.h"
#include "util/testutil.h"

TestSuite(coll, .timeout = 120);

static struct ot_env env;

static void
setup(void)
{
	ot_env_open(&env, "coll");
}

static void
teardown(void)
{
	ot_env_close(&env);
}

static struct oc_bid
new_id(void)
{
	struct oc_bid id;

	oc_bid_random(&id);
	return id;
}

static void
ok(o_err e, const char *what)
{
	cr_assert_eq(e, O_OK, "%s: %s (%s)", what, o_errname(e), o_err_detail());
}

/* Collect a diary's committed items as strings "rev:data". */
struct items {
	char   **v;
	size_t   n;
	int64_t *revs;
};

static int
collect_cb(void *arg, int64_t rev, const uint8_t *d, size_t n)
{
	struct items *it = arg;

	it->v    = realloc(it->v, sizeof(char *) * (it->n + 1));
	it->revs = realloc(it->revs, sizeof(int64_t) * (it->n + 1));
	it->v[it->n] = strndup((const char *) d, n);
	it->revs[it->n] = rev;
	it->n++;
	return 0;
}

static void
items_free(struct items *it)
{
	size_t i;

	for (i = 0; i < it->n; i++)
		free(it->v[i]);
	free(it->v);
	free(it->revs);
	memset(it, 0, sizeof(*it));
}

static void
append_str(struct oc_collection *c, const char *s)
{
	ok(oc_diary_append(c, s, strlen(s)), "append");
}

/* Diary c holds exactly the entries want[] (NULL-ended), in order. */
static void
expect_entries(struct oc_collection *c, const char *const *want)
{
	struct items it = { 0 };
	size_t       i, n = 0;

	while (want[n] != NULL)
		n++;
	ok(oc_diary_scan(c, 0, true, collect_cb, &it), "scan");
	cr_assert_eq(it.n, n, "got %zu entries, want %zu", it.n, n);
	for (i = 0; i < n; i++)
		cr_assert_str_eq(it.v[i], want[i], "entry %zu", i);
	items_free(&it);
}

Test(coll, d35_open_unknown_without_create_stages_nothing, .init = setup,
    .fini = teardown)
{
	struct oc_collection *c;
	struct oc_bid         id = new_id();

	cr_assert_eq(oc_diary_open(env.tx, &id, false, NULL, &c), O_ENOTFOUND);
	cr_assert_null(c);
	/* still nothing after an attempt */
	cr_assert_eq(oc_diary_open(env.tx, &id, false, NULL, &c), O_ENOTFOUND);
}

Test(coll, d35_create_then_sync_commits_rev1, .init = setup, .fini = teardown)
{
	struct oc_collection *c, *d;
	struct oc_bid         id = new_id();

	ok(oc_diary_open(env.tx, &id, true, NULL, &c), "create");
	cr_assert_eq(oc_coll_rev(c), 0);
	cr_assert(!oc_coll_exists(c));
	ok(oc_coll_sync(c), "sync");
	cr_assert_eq(oc_coll_rev(c), 1);
	cr_assert(oc_coll_exists(c));
	ok(oc_diary_open(env.tx, &id, false, NULL, &d), "open existing");
	cr_assert_eq(oc_coll_rev(d), 1);
	oc_coll_free(c);
	oc_coll_free(d);
}

Test(coll, d36_d45_diary_appends_in_order_both_directions, .init = setup,
    .fini = teardown)
{
	struct oc_collection *c;
	struct oc_bid         id = new_id();
	struct items          fw = { 0 }, bw = { 0 };
	char                  buf[32];
	int                   i;

	ok(oc_diary_open(env.tx, &id, true, NULL, &c), "create");
	for (i = 0; i < 150; i++) {
		snprintf(buf, sizeof(buf), "line %d", i);
		append_str(c, buf);
		if (i % 7 == 0)
			ok(oc_coll_sync(c), "sync");
	}
	ok(oc_coll_sync(c), "sync");
	cr_assert_eq(oc_coll_npending(c), 0);
	ok(oc_diary_scan(c, 0, true, collect_cb, &fw), "scan fw");
	ok(oc_diary_scan(c, 0, false, collect_cb, &bw), "scan bw");
	cr_assert_eq(fw.n, 150);
	cr_assert_eq(bw.n, 150);
	for (i = 0; i < 150; i++) {
		snprintf(buf, sizeof(buf), "line %d", i);
		cr_assert_str_eq(fw.v[i], buf);
		cr_assert_str_eq(bw.v[149 - i], buf);
		if (i > 0)
			cr_assert_geq(fw.revs[i], fw.revs[i - 1]);
	}
	items_free(&fw);
	items_free(&bw);
	oc_coll_free(c);
}

Test(coll, d45_empty_diary_yields_nothing, .init = setup, .fini = teardown)
{
	struct oc_collection *c;
	struct oc_bid         id = new_id();
	struct items          it = { 0 };

	ok(oc_diary_open(env.tx, &id, true, NULL, &c), "create");
	ok(oc_coll_sync(c), "sync");
	ok(oc_diary_scan(c, 0, true, collect_cb, &it), "scan");
	cr_assert_eq(it.n, 0);
	oc_coll_free(c);
}

Test(coll, d37_concurrent_creation_both_succeed, .init = setup,
    .fini = teardown)
{
	struct oc_collection *a, *b;
	struct oc_bid         id = new_id();
	struct items          ia = { 0 }, ib = { 0 };

	ok(oc_diary_open(env.tx, &id, true, NULL, &a), "create a");
	ok(oc_diary_open(env.tx, &id, true, NULL, &b), "create b");
	append_str(a, "from a");
	append_str(b, "from b");
	ok(oc_coll_sync(a), "sync a");
	ok(oc_coll_sync(b), "sync b (rebases onto a)");
	ok(oc_coll_update(a), "update a");
	ok(oc_diary_scan(a, 0, true, collect_cb, &ia), "scan a");
	ok(oc_diary_scan(b, 0, true, collect_cb, &ib), "scan b");
	cr_assert_eq(ia.n, 2);
	cr_assert_eq(ib.n, 2);
	cr_assert_str_eq(ia.v[0], "from a");
	cr_assert_str_eq(ia.v[1], "from b");
	cr_assert_str_eq(ib.v[0], "from a");
	cr_assert_eq(oc_coll_rev(a), oc_coll_rev(b));
	items_free(&ia);
	items_free(&ib);
	oc_coll_free(a);
	oc_coll_free(b);
}

/* A diary whose filter drops "drop*" and rewrites "swap" to "swapped". */
static enum oc_filter_verdict
test_filter(const struct oc_val *local, const struct oc_val *remote,
    struct oc_val *rep)
{
	const struct oc_val *d = oc_map_bytes(local, "d");

	(void) remote;
	if (d && d->u.s.n >= 4 && memcmp(d->u.s.p, "drop", 4) == 0)
		return OC_FILTER_DROP;
	if (d && d->u.s.n == 4 && memcmp(d->u.s.p, "swap", 4) == 0) {
		*rep = oc_map();
		oc_map_set(rep, "t", oc_text("append"));
		oc_map_set(rep, "d", oc_bytes("swapped", 7));
		return OC_FILTER_REPLACE;
	}
	return OC_FILTER_KEEP;
}

/* *a and *b open one new diary with test_filter; a then commits "winner",
 * which b has not seen. */
static void
filtered_rivals(struct oc_collection **a, struct oc_collection **b)
{
	static struct oc_coll_type t;
	struct oc_bid              id = new_id();

	t        = oc_diary_type;
	t.filter = test_filter;
	ok(oc_coll_open(env.tx, &id, &t, true, NULL, a), "create a");
	ok(oc_coll_sync(*a), "sync a");
	ok(oc_coll_open(env.tx, &id, &t, false, NULL, b), "open b");
	append_str(*a, "winner");
	ok(oc_coll_sync(*a), "a commits first");
}

Test(coll, d38_conflict_filter_keep_replace_drop, .init = setup,
    .fini = teardown)
{
	struct oc_collection *a, *b;

	filtered_rivals(&a, &b);
	append_str(b, "keep");
	append_str(b, "drop me");
	append_str(b, "swap");
	ok(oc_coll_sync(b), "b rebases through the filter");
	expect_entries(
	    b, (const char *[]) { "winner", "keep", "swapped", NULL });
	oc_coll_free(a);
	oc_coll_free(b);
}

/* A queue the conflict filter empties gives its memory back too (as one
 * emptied by commits, a_committed_burst_gives_the_queue_memory_back). */
Test(coll, a_queue_the_filter_empties_gives_its_memory_back, .init = setup,
    .fini = teardown)
{
	struct oc_collection *a, *b;
	struct oc_coll_stats  st;
	int                   i;

	filtered_rivals(&a, &b);
	for (i = 0; i < 500; i++)
		append_str(b, "drop me");
	oc_coll_get_stats(b, &st);
	cr_assert_gt(st.queue_bytes, 0);
	ok(oc_coll_update(b), "b updates: the filter drops all 500");
	cr_assert_eq(oc_coll_npending(b), 0);
	oc_coll_get_stats(b, &st);
	cr_assert_eq(st.queue_bytes, 0,
	    "the emptied queue still holds %" PRIu64 " bytes", st.queue_bytes);
	oc_coll_free(a);
	oc_coll_free(b);
}

Test(coll, d39_external_commit_visible_after_update, .init = setup,
    .fini = teardown)
{
	struct oc_collection *a, *b;
	struct oc_bid         id = new_id();
	struct o_buf          v  = { 0 };
	bool                  found;

	ok(oc_tree_open(env.tx, &id, true, NULL, &a), "create a");
	ok(oc_tree_put(a, "k", 1, "old", 3), "put");
	ok(oc_coll_sync(a), "sync");
	ok(oc_tree_open(env.tx, &id, false, NULL, &b), "open b");
	ok(oc_tree_put(b, "k", 1, "new", 3), "put b");
	ok(oc_coll_sync(b), "sync b");
	/* a still reads its snapshot, then sees b's commit after update */
	ok(oc_tree_get(a, "k", 1, &v, &found), "get");
	cr_assert(found && v.len == 3 && memcmp(v.data, "old", 3) == 0);
	ok(oc_coll_update(a), "update");
	o_buf_reset(&v);
	ok(oc_tree_get(a, "k", 1, &v, &found), "get");
	cr_assert(found && v.len == 3 && memcmp(v.data, "new", 3) == 0);
	o_buf_fini(&v);
	oc_coll_free(a);
	oc_coll_free(b);
}

/* Whether tree id has key k committed (read by a fresh collection). */
static bool
has_committed(const struct oc_bid *id, const char *k)
{
	return ot_tree_holds(env.tx, id, k);
}

/* Tree id created and committed by *a, opened by *b too. */
static void
two_writers(const struct oc_bid *id, struct oc_collection **a,
    struct oc_collection **b)
{
	ok(oc_tree_open(env.tx, id, true, NULL, a), "create a");
	ok(oc_coll_sync(*a), "sync");
	ok(oc_tree_open(env.tx, id, false, NULL, b), "open b");
}

/*
 * oc_coll_sync_to commits the actions queued up to a seq and no action
 * queued after a seal; the seal holds when another writer's commit makes
 * the queue replay (fs: a directory's record is not committed before the
 * file pieces it names).
 */
Test(coll, sync_to_stops_at_a_seal_across_a_replay, .init = setup,
    .fini = teardown)
{
	struct oc_collection *a, *b;
	struct oc_coll_stats  st;
	struct oc_bid         id = new_id();
	uint64_t              seq;

	ok(oc_tree_open(env.tx, &id, true, NULL, &a), "create a");
	ok(oc_tree_put(a, "k0", 2, "v", 1), "put k0");
	ok(oc_coll_sync(a), "sync");
	ok(oc_tree_put(a, "k1", 2, "v", 1), "put k1");
	ok(oc_tree_put(a, "k2", 2, "v", 1), "put k2");
	seq = oc_coll_seq(a);
	oc_coll_seal(a);
	ok(oc_tree_put(a, "k3", 2, "v", 1), "put k3 after the seal");
	/* another writer commits over the same leaf: a replays its queue */
	ok(oc_tree_open(env.tx, &id, false, NULL, &b), "open b");
	ok(oc_tree_put(b, "x", 1, "v", 1), "put x");
	ok(oc_coll_sync(b), "sync b");
	ok(oc_coll_update(a), "update a");
	oc_coll_get_stats(a, &st);
	cr_assert_gt(st.replays, 0, "the test needs a replay");
	ok(oc_tree_put(a, "k4", 2, "v", 1), "put k4");

	ok(oc_coll_sync_to(a, seq), "sync to the seal");
	cr_assert(has_committed(&id, "k1") && has_committed(&id, "k2"),
	    "what was queued before the seq is not committed");
	cr_assert(!has_committed(&id, "k3") && !has_committed(&id, "k4"),
	    "what was queued after the seal was committed");
	cr_assert(has_committed(&id, "x"));
	cr_assert_eq(oc_coll_npending(a), 2);

	ok(oc_coll_sync(a), "sync the rest");
	cr_assert(has_committed(&id, "k3") && has_committed(&id, "k4"));
	cr_assert_eq(oc_coll_npending(a), 0);
	oc_coll_free(a);
	oc_coll_free(b);
}

/*
 * What a sync up to a seq waits for is the actions queued up to it, not a
 * count: a creation queued after the seq and dropped because a rival
 * created the name first (resolved, never committed) does not stand in
 * for an action before the seq still queued.
 */
Test(coll, sync_to_waits_for_what_was_queued_up_to_its_seq, .init = setup,
    .fini = teardown)
{
	struct oc_collection *a, *b;
	struct oc_bid         id = new_id();
	uint64_t              seq;

	two_writers(&id, &a, &b);
	ok(oc_tree_put(a, "k1", 2, "v", 1), "put k1");
	seq = oc_coll_seq(a);
	ok(oc_tree_create(a, "x", 1, "A", 1), "a creates x");
	ok(oc_tree_create(b, "x", 1, "B", 1), "b creates x");
	ok(oc_coll_sync(b), "sync b");
	ok(oc_coll_sync_to(a, seq), "sync a to k1");
	cr_assert(has_committed(&id, "k1"),
	    "sync_to returned with k1 still queued (a dropped creation "
	    "counted for it)");
	oc_coll_free(a);
	oc_coll_free(b);
}

/* A seal is kept by the number of the action it precedes, not by counts
 * that dropped actions shift: [c1 c2] [d1] | seal | [r], c1 and c2
 * dropped (a rival created them), a sync up to d1 leaves r. */
Test(coll, a_seal_holds_when_dropped_actions_shift_the_queue, .init = setup,
    .fini = teardown)
{
	struct oc_collection *a, *b;
	struct oc_bid         id = new_id();
	uint64_t              seq;

	two_writers(&id, &a, &b);
	ok(oc_tree_create(a, "c1", 2, "A", 1), "a creates c1");
	ok(oc_tree_create(a, "c2", 2, "A", 1), "a creates c2");
	oc_coll_seal(a);
	ok(oc_tree_put(a, "d1", 2, "v", 1), "put d1");
	seq = oc_coll_seq(a);
	oc_coll_seal(a);
	ok(oc_tree_put(a, "r", 1, "v", 1), "put r after the seal");
	ok(oc_tree_create(b, "c1", 2, "B", 1), "b creates c1");
	ok(oc_tree_create(b, "c2", 2, "B", 1), "b creates c2");
	ok(oc_coll_sync(b), "sync b");
	ok(oc_coll_sync_to(a, seq), "sync a to d1");
	cr_assert(has_committed(&id, "d1"));
	cr_assert(!has_committed(&id, "r"),
	    "r, queued after a seal, was committed with d1");
	ok(oc_coll_sync(a), "sync the rest");
	cr_assert(has_committed(&id, "r"));
	cr_assert_eq(oc_coll_npending(a), 0);
	oc_coll_free(a);
	oc_coll_free(b);
}

Test(coll, d40_bounded_retry_exhausts_then_recovers, .init = setup,
    .fini = teardown)
{
	struct ot_faulty      f;
	struct oc_sync_opts   o = { .max_attempts = 3, .base_backoff_ms = 1,
		.max_backoff_ms = 4 };
	struct oc_collection *c;
	struct oc_bid         id = new_id();
	struct items          it = { 0 };

	ot_faulty_init(&f, env.tx);
	ok(oc_diary_open(&f.base, &id, true, &o, &c), "create");
	append_str(c, "x");
	f.stale_commits = 100;
	cr_assert_eq(oc_coll_sync(c), O_ERETRIES);
	cr_assert_eq(f.commits_seen, 3, "attempts = %d", f.commits_seen);
	cr_assert_eq(oc_coll_npending(c), 1, "the action stays queued");
	cr_assert(strstr(o_err_detail(), "3 attempts") != NULL);
	/* transient failures within the budget succeed */
	f.stale_commits = 2;
	ok(oc_coll_sync(c), "sync within budget");
	cr_assert_eq(oc_coll_npending(c), 0);
	ok(oc_diary_scan(c, 0, true, collect_cb, &it), "scan");
	cr_assert_eq(it.n, 1);
	items_free(&it);
	oc_coll_free(c);
}

Test(coll, d40_fault_is_returned_and_work_kept, .init = setup,
    .fini = teardown)
{
	struct ot_faulty      f;
	struct oc_collection *c;
	struct oc_bid         id = new_id();

	ot_faulty_init(&f, env.tx);
	ok(oc_diary_open(&f.base, &id, true, NULL, &c), "create");
	append_str(c, "y");
	f.io_commits = 1;
	cr_assert_eq(oc_coll_sync(c), O_EIO);
	/* the commit's error is reported, with what the status question
	 * that could not settle it answered */
	cr_assert(strstr(o_err_detail(), "commit: injected I/O error") != NULL &&
	        strstr(o_err_detail(), "then status: not committed") != NULL,
	    "%s", o_err_detail());
	cr_assert_eq(oc_coll_npending(c), 1);
	/* the status question failing too: both errors, each once */
	f.io_commits = 1;
	f.io_status  = 1;
	cr_assert_eq(oc_coll_sync(c), O_EIO);
	cr_assert(strstr(o_err_detail(),
	              "commit: injected I/O error (O_EIO; then status: "
	              "injected status failure)") != NULL,
	    "%s", o_err_detail());
	ok(oc_coll_sync(c), "retry after the fault");
	cr_assert_eq(oc_coll_npending(c), 0);
	cr_assert_eq(oc_coll_rev(c), 1);
	oc_coll_free(c);
}

Test(coll, d41_reopen_resumes_at_committed_rev, .init = setup,
    .fini = teardown)
{
	struct oc_collection *c;
	struct oc_bid         id = new_id();
	int                   i;

	ok(oc_diary_open(env.tx, &id, true, NULL, &c), "create");
	for (i = 0; i < 5; i++) {
		append_str(c, "e");
		ok(oc_coll_sync(c), "sync");
	}
	cr_assert_eq(oc_coll_rev(c), 5);
	oc_coll_free(c);
	ot_env_reopen(&env);
	ok(oc_diary_open(env.tx, &id, false, NULL, &c), "reopen");
	cr_assert_eq(oc_coll_rev(c), 5);
	append_str(c, "f");
	ok(oc_coll_sync(c), "sync");
	cr_assert_eq(oc_coll_rev(c), 6);
	oc_coll_free(c);
}

Test(coll, d42_header_vanishing_while_holding_rev_fails_fast,
    .init = setup, .fini = teardown)
{
	struct ot_faulty      f;
	struct oc_collection *c;
	struct oc_bid         id = new_id();

	ot_faulty_init(&f, env.tx);
	ok(oc_diary_open(&f.base, &id, true, NULL, &c), "create");
	append_str(c, "a");
	ok(oc_coll_sync(c), "sync");
	f.hdr           = id;
	f.header_absent = true;
	cr_assert_eq(oc_coll_update(c), O_EVANISHED);
	cr_assert_eq(oc_coll_rev(c), 1, "rev never goes backwards");
	f.header_absent = false;
	oc_coll_free(c);
}

Test(coll, d42_lagging_view_never_lowers_rev, .init = setup, .fini = teardown)
{
	struct oc_collection *a, *b;
	struct oc_bid         id = new_id();

	ok(oc_diary_open(env.tx, &id, true, NULL, &a), "create");
	ok(oc_coll_sync(a), "sync");
	ok(oc_diary_open(env.tx, &id, false, NULL, &b), "open b");
	append_str(a, "1");
	ok(oc_coll_sync(a), "sync");
	append_str(a, "2");
	ok(oc_coll_sync(a), "sync");
	cr_assert_eq(oc_coll_rev(a), 3);
	ok(oc_coll_update(a), "update with nothing newer");
	cr_assert_eq(oc_coll_rev(a), 3);
	ok(oc_coll_update(b), "b adopts the higher rev");
	cr_assert_eq(oc_coll_rev(b), 3);
	oc_coll_free(a);
	oc_coll_free(b);
}

Test(coll, d43_unavailable_is_never_absent, .init = setup, .fini = teardown)
{
	struct ot_faulty      f;
	struct oc_collection *c;
	struct oc_bid         id = new_id();

	ot_faulty_init(&f, env.tx);
	f.unknown = true;
	cr_assert_eq(oc_diary_open(&f.base, &id, true, NULL, &c), O_EUNAVAIL);
	cr_assert_null(c);
	cr_assert_eq(oc_diary_open(&f.base, &id, false, NULL, &c), O_EUNAVAIL);
}

Test(coll, d45_large_append_is_chunked_within_block_bound, .init = setup,
    .fini = teardown)
{
	struct oc_collection *c;
	struct oc_bid         id = new_id();
	size_t                n  = 3u << 20, i;
	uint8_t              *big = malloc(n);
	struct items          it  = { 0 };

	for (i = 0; i < n; i++)
		big[i] = (uint8_t) ('a' + i % 26);
	ok(oc_diary_open(env.tx, &id, true, NULL, &c), "create");
	ok(oc_diary_append(c, big, n), "append 3 MiB");
	append_str(c, "small");
	ok(oc_coll_sync(c), "sync");
	ok(oc_diary_scan(c, 0, true, collect_cb, &it), "scan");
	cr_assert_eq(it.n, 2);
	cr_assert_eq(strlen(it.v[0]), n);
	cr_assert_eq(memcmp(it.v[0], big, n), 0);
	cr_assert_str_eq(it.v[1], "small");
	items_free(&it);
	free(big);
	oc_coll_free(c);
}

/* Every block the repo holds for a collection stays under OC_BLOCK_MAX. */
Test(coll, d45_many_appends_keep_blocks_bounded, .init = setup,
    .fini = teardown)
{
	struct oc_collection *c;
	struct oc_bid         id = new_id();
	char                  line[7000];
	struct oc_txsrc       src;
	struct oc_log         log;
	struct oc_chain_iter  ci;
	const struct oc_val  *ent;
	bool                  done;
	int                   i;

	memset(line, 'x', sizeof(line) - 1);
	line[sizeof(line) - 1] = '\0';
	ok(oc_diary_open(env.tx, &id, true, NULL, &c), "create");
	for (i = 0; i < 400; i++)
		append_str(c, line);
	ok(oc_coll_sync(c), "sync");
	/* walk every log block and measure its encoding */
	oc_txsrc_init(&src, env.tx, NULL);
	ok(oc_log_open(&log, &src.base, &id), "open log");
	ok(oc_chain_iter_init(&ci, &log.ch, NULL, true), "iter");
	for (;;) {
		struct o_buf b = { 0 };

		ok(oc_chain_iter_next(&ci, &ent, NULL, &done), "next");
		if (done)
			break;
		oc_encode(&ci.blk, &b);
		cr_assert_leq(b.len, OC_BLOCK_MAX, "block of %zu bytes", b.len);
		o_buf_fini(&b);
	}
	oc_chain_iter_fini(&ci);
	oc_coll_free(c);
}

/*
 * A burst of appends queues thousands of actions; once they commit the
 * queue gives its memory back.  A mount keeps a diary's collection open
 * as long as it runs, so before, every diary written once kept what its
 * biggest burst reserved (measured: ~0.5 MB per diary written with 500 KB
 * of lines, the daemon at 425 MB after 600 such diaries).
 */
Test(coll, a_committed_burst_gives_the_queue_memory_back, .init = setup,
    .fini = teardown)
{
	enum { N = 20000 };
	struct oc_collection *c;
	struct oc_coll_stats  st;
	struct oc_bid         id = new_id();
	struct iovec         *v  = calloc(N, sizeof(*v));
	int                   i;

	for (i = 0; i < N; i++)
		v[i] = (struct iovec) { "a line of a log\n", 16 };
	ok(oc_diary_open(env.tx, &id, true, NULL, &c), "create");
	for (i = 0; i < 4; i++)
		ok(oc_diary_append_many(c, v, N / 4), "append");
	oc_coll_get_stats(c, &st);
	cr_assert_geq(st.queue_bytes, (uint64_t) N * sizeof(struct oc_val),
	    "the queue holds %d actions in %" PRIu64 " bytes", N,
	    st.queue_bytes);
	ok(oc_coll_sync(c), "sync");
	oc_coll_get_stats(c, &st);
	cr_assert_eq(st.actions, (uint64_t) N);
	cr_assert_eq(st.queue_bytes, 0,
	    "the empty queue still holds %" PRIu64 " bytes", st.queue_bytes);
	/* and it takes actions again */
	ok(oc_diary_append_many(c, v, 3), "append after");
	ok(oc_coll_sync(c), "sync after");
	oc_coll_get_stats(c, &st);
	cr_assert_eq(st.actions, (uint64_t) N + 3);
	oc_coll_free(c);
	free(v);
}

Test(coll, d45_two_instances_see_each_others_appends, .init = setup,
    .fini = teardown)
{
	struct oc_collection *a, *b;
	struct oc_bid         id = new_id();

	ok(oc_diary_open(env.tx, &id, true, NULL, &a), "create");
	append_str(a, "a1");
	ok(oc_coll_sync(a), "sync a");
	ok(oc_diary_open(env.tx, &id, false, NULL, &b), "open b");
	append_str(b, "b1");
	ok(oc_coll_sync(b), "sync b");
	append_str(a, "a2");
	ok(oc_coll_sync(a), "sync a again (rebases)");
	ok(oc_coll_update(b), "update b");
	expect_entries(b, (const char *[]) { "a1", "b1", "a2", NULL });
	oc_coll_free(a);
	oc_coll_free(b);
}

/*
 * Every update a writer pends names the revision it was computed over
 * (compare and set, docs/PROTOCOL.md §4), also after another writer moved
 * the log: the replica checks them all (based) and refuses none.
 */
Test(coll, updates_name_the_revision_they_build_on, .init = setup,
    .fini = teardown)
{
	struct oc_collection *a, *b;
	struct oc_bid         id = new_id();
	struct items          it = { 0 };
	struct ost_repo_stats s0, s1;
	char                  line[16];
	int                   i;

	ok(oc_diary_open(env.tx, &id, true, NULL, &a), "create");
	ok(oc_coll_sync(a), "sync a");
	ok(oc_diary_open(env.tx, &id, false, NULL, &b), "open b");
	ost_repo_stats(env.repo, &s0);
	for (i = 0; i < 40; i++) {
		snprintf(line, sizeof(line), "%c%d", i % 3 ? 'a' : 'b', i);
		append_str(i % 3 ? a : b, line);
		ok(oc_coll_sync(i % 3 ? a : b), "sync");
	}
	ost_repo_stats(env.repo, &s1);
	cr_expect_geq(s1.based - s0.based, 40,
	    "each commit updates the log tail over a known revision: %llu "
	    "checked",
	    (unsigned long long) (s1.based - s0.based));
	ok(oc_coll_update(a), "update a");
	ok(oc_diary_scan(a, 0, true, collect_cb, &it), "scan");
	cr_assert_eq(it.n, 40);
	for (i = 0; i < 40; i++) {
		snprintf(line, sizeof(line), "%c%d", i % 3 ? 'a' : 'b', i);
		cr_expect_str_eq(it.v[i], line);
	}
	items_free(&it);
	oc_coll_free(a);
	oc_coll_free(b);
}

/* A tree through f (over env.tx) holding k0 = v0, committed. */
static struct oc_collection *
faulty_tree_k0(struct ot_faulty *f, const struct oc_bid *id)
{
	struct oc_collection *c;

	ot_faulty_init(f, env.tx);
	ok(oc_tree_open(&f->base, id, true, NULL, &c), "create");
	ok(oc_tree_put(c, "k0", 2, "v0", 2), "put");
	ok(oc_coll_sync(c), "sync");
	return c;
}

/*
 * A commit of ours that reached only its critical block (the rest of it
 * left pending, as when phase 2 never came) leaves our cache ahead of
 * every replica: the next update names a base no replica holds and is
 * refused (O_EBEHIND).  The writer reads those blocks again under its
 * context, which promotes its own pending commit there, and goes on
 * (found by a review: it failed with O_EBEHIND every time).
 */
Test(coll, a_commit_that_reached_only_its_critical_block_is_read_forward,
    .init = setup, .fini = teardown)
{
	struct oc_collection *c;
	struct ot_faulty      f;
	struct oc_bid         id = new_id();
	struct o_buf          v  = { 0 };
	bool                  found;
	char                  k[16];
	int                   i;

	c           = faulty_tree_k0(&f, &id);
	f.crit_only = true;
	ok(oc_tree_put(c, "k1", 2, "v1", 2), "put");
	ok(oc_coll_sync(c), "sync: the leaf stays pending");
	f.crit_only = false;
	for (i = 2; i < 6; i++) {
		snprintf(k, sizeof(k), "k%d", i);
		ok(oc_tree_put(c, k, strlen(k), k, strlen(k)), "put");
		ok(oc_coll_sync(c), "sync over a leaf no replica has yet");
	}
	ok(oc_tree_get(c, "k1", 2, &v, &found), "get");
	cr_assert(found && v.len == 2 && memcmp(v.data, "v1", 2) == 0);
	o_buf_fini(&v);
	oc_coll_free(c);
}

/*
 * A commit whose outcome is unknown (its answers lost, and no majority to
 * ask) may have decided the action on its critical block alone: its other
 * blocks' pendings are all that holds the rest, so they must not be
 * cancelled.  The next sync finds its own commit in the log, and a read
 * under that context promotes the leaf.  (Before, try_cancel deleted the
 * leaf's pending: the log named a put that no block held.)
 */
Test(coll, an_in_doubt_commit_leaves_its_pendings_for_promotion, .init = setup,
    .fini = teardown)
{
	struct oc_collection *c, *rd;
	struct ot_faulty      f;
	struct oc_bid         id = new_id();
	struct o_buf          v  = { 0 };
	bool                  found;

	c                = faulty_tree_k0(&f, &id);
	f.crit_only      = true;
	f.lost_commits   = 1;
	f.unavail_status = 1;
	f.cancels_seen   = 0;
	ok(oc_tree_put(c, "k1", 2, "v1", 2), "put");
	cr_assert_eq(oc_coll_sync(c), O_EUNAVAIL, "%s", o_err_detail());
	cr_assert(
	    strstr(o_err_detail(), "in doubt") != NULL, "%s", o_err_detail());
	cr_assert_eq(f.cancels_seen, 0, "an in-doubt commit was cancelled");
	cr_assert_eq(oc_coll_npending(c), 1, "the put stays queued");
	/* another reader sees rev 2 and reads the leaf under it */
	ok(oc_tree_open(env.tx, &id, false, NULL, &rd), "reader");
	ok(oc_coll_update(rd), "reader updates");
	cr_assert_eq(oc_coll_rev(rd), 2);
	ok(oc_tree_get(rd, "k1", 2, &v, &found), "reader's get");
	cr_assert(found && v.len == 2 && memcmp(v.data, "v1", 2) == 0,
	    "the log names the put, the leaf lost it");
	o_buf_fini(&v);
	oc_coll_free(rd);
	/* the writer (no journal, so no tags to know its own commit by)
	 * puts k1 again: harmless */
	f.crit_only = false;
	ok(oc_coll_sync(c), "sync");
	cr_assert_eq(oc_coll_npending(c), 0);
	ok(oc_tree_get(c, "k1", 2, &v, &found), "get");
	cr_assert(found && v.len == 2 && memcmp(v.data, "v1", 2) == 0);
	o_buf_fini(&v);
	oc_coll_free(c);
}

/* Trees id[0] and id[1] through f, each holding k0 = v0, committed. */
static void
faulty_two_trees(
    struct ot_faulty *f, const struct oc_bid *id, struct oc_collection **c)
{
	int i;

	ot_faulty_init(f, env.tx);
	for (i = 0; i < 2; i++) {
		ok(oc_tree_open(&f->base, &id[i], true, NULL, &c[i]),
		    "create");
		ok(oc_tree_put(c[i], "k0", 2, "v0", 2), "put");
		ok(oc_coll_sync(c[i]), "sync");
	}
}

/*
 * A group sync whose first commit (the one that decides) is in doubt
 * leaves every collection's pendings, not only the first one's: the
 * others hold the blocks of an action that may be decided (found by a
 * review: the second collection's were cancelled).
 */
Test(coll, an_in_doubt_group_commit_leaves_every_collections_pendings,
    .init = setup, .fini = teardown)
{
	struct oc_collection *c[2];
	struct ot_faulty      f;
	struct oc_bid         id[2]   = { new_id(), new_id() };
	bool                  decided = true;
	o_err                 e;
	int                   i;

	faulty_two_trees(&f, id, c);
	ok(oc_tree_put(c[0], "k1", 2, "a1", 2), "put a");
	ok(oc_tree_put(c[1], "k1", 2, "b1", 2), "put b");
	f.lost_commits   = 1;
	f.unavail_status = 1;
	f.cancels_seen   = 0;
	f.commits_seen   = 0;
	e                = oc_coll_sync_group(c, 2, &decided);
	cr_assert_eq(e, O_EUNAVAIL, "%s: %s", o_errname(e), o_err_detail());
	cr_assert(!decided);
	cr_assert_eq(f.commits_seen, 1, "only the deciding commit was sent");
	cr_assert_eq(f.cancels_seen, 0,
	    "%d collections' pendings cancelled after an in-doubt commit",
	    f.cancels_seen);
	for (i = 0; i < 2; i++) {
		cr_assert_eq(
		    oc_coll_npending(c[i]), 1, "put %d stays queued", i);
		oc_coll_free(c[i]);
	}
}

/* Append line to diary c, whose next commit fails for certain (*fault,
 * a counter of f, makes it answer want): the sync fails, its pendings are
 * cancelled at once, not left to expire, and the next sync commits the
 * line at rev. */
static void
fails_for_certain(struct oc_collection *c, struct ot_faulty *f, int *fault,
    o_err want, const char *line, int64_t rev)
{
	o_err e;

	append_str(c, line);
	f->cancels_seen = 0;
	*fault          = 1;
	e               = oc_coll_sync(c);
	cr_assert_eq(e, want, "%s: %s", o_errname(e), o_err_detail());
	cr_assert_eq(f->cancels_seen, 1,
	    "a commit failed with %s was not cancelled: %d", o_errname(want),
	    f->cancels_seen);
	ok(oc_coll_sync(c), "sync after a certain failure");
	cr_assert_eq(oc_coll_rev(c), rev);
}

/*
 * An in-doubt commit that in fact reached no replica: its pendings are
 * left to expire, and the next sync waits them out and commits the work
 * once.  A commit that failed for certain (O_EIO) is still cancelled.
 */
Test(coll, an_in_doubt_commit_that_did_not_land_is_retried_after_expiry)
{
	struct ost_repo_opts  ro = { .pend_ttl_ms = 400 };
	struct ost_repo      *r;
	struct ot_faulty      f;
	struct oc_collection *c;
	struct oc_bid         id  = new_id();
	char                 *dir = ot_tmpdir("indoubt");
	uint64_t              t0;

	ok(ost_repo_open(dir, &ro, &r), "open");
	ot_faulty_init(&f, ost_local_transactor(r));
	ok(oc_diary_open(&f.base, &id, true, NULL, &c), "create");
	ok(oc_coll_sync(c), "sync");
	append_str(c, "once");
	f.unavail_commits = 1;
	t0                = o_mono_ns(); /* before the pend that expires */
	cr_assert_eq(oc_coll_sync(c), O_EUNAVAIL, "%s", o_err_detail());
	cr_assert_eq(f.cancels_seen, 0, "an in-doubt commit was cancelled");
	ok(oc_coll_sync(c), "sync waits for the expiry");
	cr_assert_geq(o_mono_ns() - t0, 300u * 1000000, "did not wait");
	cr_assert_eq(oc_coll_rev(c), 2);
	fails_for_certain(c, &f, &f.io_commits, O_EIO, "twice", 3);
	/* O_EEXPIRED is certain too (a transactor answers it only when no
	 * replica committed or can): cancelled, and tried again within the
	 * same sync, which commits the line once */
	append_str(c, "thrice");
	f.cancels_seen    = 0;
	f.commits_seen    = 0;
	f.expired_commits = 1;
	ok(oc_coll_sync(c), "a sync whose first commit expired");
	cr_assert_eq(f.expired_commits, 0, "no commit answered O_EEXPIRED");
	cr_assert_eq(f.cancels_seen, 1, "the expired attempt not cancelled");
	cr_assert_eq(f.commits_seen, 2, "commits: %d", f.commits_seen);
	cr_assert_eq(oc_coll_rev(c), 4);
	expect_entries(
	    c, (const char *[]) { "once", "twice", "thrice", NULL });
	oc_coll_free(c);
	ost_repo_close(r);
	ot_rmtree_free(dir);
}

/*
 * A pend refused as stale at a revision the writer already holds (a
 * replica's answer to an update over an older base than the block's)
 * means the writer's copy of that block is wrong, and updating the
 * context does not drop it: the writer replays its queue, reading the
 * block again, before it tries again (before the review of compare and
 * set it retried the same copy until O_ERETRIES).
 */
Test(coll, a_pend_stale_below_its_revision_replays_the_queue, .init = setup,
    .fini = teardown)
{
	struct oc_collection *c;
	struct ot_faulty      f;
	struct oc_coll_stats  s0, s1;
	struct oc_bid         id = new_id();
	struct o_buf          v  = { 0 };
	bool                  found;

	c = faulty_tree_k0(&f, &id);
	oc_coll_get_stats(c, &s0);
	f.stale_below = 1;
	ok(oc_tree_put(c, "k1", 2, "v1", 2), "put");
	ok(oc_coll_sync(c), "sync after one stale answer");
	oc_coll_get_stats(c, &s1);
	cr_expect_eq(f.stale_below, 0, "the answer was given");
	cr_expect_geq(s1.replays - s0.replays, 1,
	    "the queue was replayed over a fresh copy");
	ok(oc_tree_get(c, "k1", 2, &v, &found), "get");
	cr_assert(found && v.len == 2 && memcmp(v.data, "v1", 2) == 0);
	o_buf_fini(&v);
	oc_coll_free(c);
}

/* The same answer inside a group transaction (a rename across
 * directories pends both collections under one action): the refused
 * collection replays its queue before the group's next attempt, and both
 * commit together. */
Test(coll, a_group_pend_stale_below_its_revision_replays_the_queue,
    .init = setup, .fini = teardown)
{
	struct oc_collection *c[2];
	struct ot_faulty      f;
	struct oc_coll_stats  s0[2], s1[2];
	struct oc_bid         id[2]   = { new_id(), new_id() };
	struct o_buf          v       = { 0 };
	uint64_t              replays = 0;
	bool                  found, decided;
	int                   i;

	faulty_two_trees(&f, id, c);
	for (i = 0; i < 2; i++)
		oc_coll_get_stats(c[i], &s0[i]);
	f.stale_below = 1;
	ok(oc_tree_put(c[0], "k1", 2, "a1", 2), "put a");
	ok(oc_tree_put(c[1], "k1", 2, "b1", 2), "put b");
	ok(oc_coll_sync_group(c, 2, &decided),
	    "group sync after a stale "
	    "answer");
	cr_expect(decided);
	cr_expect_eq(f.stale_below, 0, "the answer was given");
	for (i = 0; i < 2; i++) {
		oc_coll_get_stats(c[i], &s1[i]);
		replays += s1[i].replays - s0[i].replays;
		cr_expect_eq(s1[i].commits - s0[i].commits, 1,
		    "collection %d: one commit", i);
		ok(oc_tree_get(c[i], "k1", 2, &v, &found), "get");
		cr_assert(found && v.len == 2 &&
		    memcmp(v.data, i == 0 ? "a1" : "b1", 2) == 0);
		o_buf_fini(&v);
	}
	cr_expect_geq(replays, 1, "the refused queue was replayed");
	for (i = 0; i < 2; i++)
		oc_coll_free(c[i]);
}

/* Under the latch (oc_coll_read), where readers borrow blocks from the
 * cache (a tree lookup's nodes): a drop is refused while it is held. */
static o_err
drop_while_reading(struct oc_bstore *s, void *arg)
{
	struct oc_collection *c = arg;

	(void) s;
	cr_expect(!oc_coll_cache_drop(c), "dropped under the latch");
	return O_OK;
}

Test(coll, a_cache_is_dropped_only_between_readers, .init = setup,
    .fini = teardown)
{
	struct oc_collection *c;
	struct oc_bid         id = new_id();
	struct o_buf          v  = { 0 };
	bool                  found;
	size_t                b;

	ok(oc_tree_open(env.tx, &id, true, NULL, &c), "create");
	ok(oc_tree_put(c, "k0", 2, "v0", 2), "put");
	ok(oc_coll_sync(c), "sync");
	ok(oc_tree_get(c, "k0", 2, &v, &found), "get");
	o_buf_fini(&v);
	b = oc_coll_cache_bytes(c);
	cr_assert_gt(b, 0, "nothing cached");
	ok(oc_coll_read(c, drop_while_reading, c), "read");
	cr_assert_eq(oc_coll_cache_bytes(c), b, "the cache changed");
	cr_assert(oc_coll_cache_drop(c), "not dropped when idle");
	cr_assert_eq(oc_coll_cache_bytes(c), 0);
	ok(oc_tree_get(c, "k0", 2, &v, &found), "get after the drop");
	cr_assert(found && v.len == 2 && memcmp(v.data, "v0", 2) == 0);
	o_buf_fini(&v);
	oc_coll_free(c);
}

/* ---- trees ---------------------------------------------------------- */

struct kvs {
	char   keys[4096][16];
	size_t n;
};

static int
kv_cb(void *arg, const uint8_t *k, size_t kl, const uint8_t *v, size_t vl)
{
	struct kvs *s = arg;

	(void) v;
	(void) vl;
	snprintf(s->keys[s->n++], 16, "%.*s", (int) kl, (const char *) k);
	return 0;
}

Test(coll, d46_tree_put_get_delete_scan_count, .init = setup,
    .fini = teardown)
{
	struct oc_collection *c;
	struct oc_bid         id = new_id();
	struct o_buf          v  = { 0 };
	struct kvs           *s  = calloc(1, sizeof(*s));
	uint64_t              cnt;
	bool                  found;
	char                  k[16];
	int                   i;

	ok(oc_tree_open(env.tx, &id, true, NULL, &c), "create");
	for (i = 0; i < 300; i++) {
		snprintf(k, sizeof(k), "key%04d", (i * 7) % 300);
		ok(oc_tree_put(c, k, strlen(k), k, strlen(k)), "put");
		if (i % 50 == 0)
			ok(oc_coll_sync(c), "sync");
	}
	ok(oc_tree_del(c, "key0003", 7), "del");
	ok(oc_coll_sync(c), "sync");
	ok(oc_tree_check(c), "check");
	ok(oc_tree_count(c, &cnt), "count");
	cr_assert_eq(cnt, 299);
	ok(oc_tree_get(c, "key0003", 7, &v, &found), "get deleted");
	cr_assert(!found);
	ok(oc_tree_get(c, "key0299", 7, &v, &found), "get");
	cr_assert(found && v.len == 7 && memcmp(v.data, "key0299", 7) == 0);
	ok(oc_tree_scan(c, NULL, 0, true, true, kv_cb, s), "scan");
	cr_assert_eq(s->n, 299);
	for (i = 1; i < (int) s->n; i++)
		cr_assert_lt(strcmp(s->keys[i - 1], s->keys[i]), 0);
	s->n = 0;
	ok(oc_tree_scan(c, "key0100", 7, false, false, kv_cb, s), "scan back");
	cr_assert_eq(s->n, 99, "keys below key0100 minus the deleted one");
	cr_assert_str_eq(s->keys[0], "key0099");
	o_buf_fini(&v);
	free(s);
	oc_coll_free(c);
}

Test(coll, d47_replace_all_or_nothing, .init = setup, .fini = teardown)
{
	struct oc_collection *c;
	struct oc_bid         id = new_id();
	struct oc_tree_kv     kv[2] = { { .key = "a", .klen = 1, .val = "1",
		                                  .vlen = 1 },
		    { .key = "", .klen = 0, .val = "2", .vlen = 1 } };
	uint64_t              cnt;

	ok(oc_tree_open(env.tx, &id, true, NULL, &c), "create");
	cr_assert_eq(oc_tree_replace(c, kv, 2), O_EINVAL);
	ok(oc_tree_count(c, &cnt), "count");
	cr_assert_eq(cnt, 0, "nothing staged");
	cr_assert_eq(oc_coll_npending(c), 0);
	oc_coll_free(c);
}

Test(coll, d47_tree_concurrent_writers_same_and_different_keys,
    .init = setup, .fini = teardown)
{
	struct oc_collection *a, *b;
	struct oc_bid         id = new_id();
	struct o_buf          v  = { 0 };
	bool                  found;
	uint64_t              cnt;

	ok(oc_tree_open(env.tx, &id, true, NULL, &a), "create a");
	ok(oc_tree_open(env.tx, &id, true, NULL, &b), "create b");
	ok(oc_tree_put(a, "shared", 6, "A", 1), "a");
	ok(oc_tree_put(a, "only-a", 6, "A", 1), "a");
	ok(oc_tree_put(b, "shared", 6, "B", 1), "b");
	ok(oc_tree_put(b, "only-b", 6, "B", 1), "b");
	ok(oc_coll_sync(a), "sync a");
	ok(oc_coll_sync(b), "sync b");
	ok(oc_coll_update(a), "update a");
	ok(oc_tree_count(a, &cnt), "count");
	cr_assert_eq(cnt, 3);
	ok(oc_tree_get(a, "shared", 6, &v, &found), "get");
	cr_assert(found && v.len == 1 && v.data[0] == 'B', "last commit wins");
	ok(oc_tree_check(a), "check");
	o_buf_fini(&v);
	oc_coll_free(a);
	oc_coll_free(b);
}

/* Two writers create one key at once: exactly one creation commits; the
 * loser's other keys and its later actions still commit. */
Test(coll, tree_concurrent_creations_of_one_key_one_wins, .init = setup,
    .fini = teardown)
{
	struct oc_collection *a, *b;
	struct oc_bid         id = new_id();
	struct o_buf          v  = { 0 };
	bool                  found;
	uint64_t              cnt;

	ok(oc_tree_open(env.tx, &id, true, NULL, &a), "create a");
	ok(oc_coll_sync(a), "commit the tree");
	ok(oc_tree_open(env.tx, &id, false, NULL, &b), "open b");
	ok(oc_tree_create(a, "dir", 3, "A", 1), "a creates");
	ok(oc_tree_create(b, "dir", 3, "B", 1), "b creates");
	ok(oc_tree_put(b, "other", 5, "B", 1), "b puts another key");
	ok(oc_coll_sync(a), "sync a");
	ok(oc_coll_sync(b), "sync b: its creation is dropped, not an error");
	cr_assert_eq(oc_coll_npending(b), 0, "nothing left queued");
	ok(oc_tree_get(b, "dir", 3, &v, &found), "get through b");
	cr_assert(found && v.len == 1 && v.data[0] == 'A',
	    "the first creation keeps its value");
	ok(oc_coll_update(a), "update a");
	o_buf_reset(&v);
	ok(oc_tree_get(a, "dir", 3, &v, &found), "get through a");
	cr_assert(found && v.len == 1 && v.data[0] == 'A');
	ok(oc_tree_count(a, &cnt), "count");
	cr_assert_eq(cnt, 2, "dir and other");
	/* a plain put of the same key still replaces (last write wins) */
	ok(oc_tree_put(b, "dir", 3, "C", 1), "b overwrites");
	ok(oc_coll_sync(b), "sync b");
	ok(oc_coll_update(a), "update a");
	o_buf_reset(&v);
	ok(oc_tree_get(a, "dir", 3, &v, &found), "get");
	cr_assert(found && v.len == 1 && v.data[0] == 'C');
	/* a creation racing a rival's delete of another key is kept */
	ok(oc_tree_create(a, "new2", 4, "A", 1), "a creates new2");
	ok(oc_tree_del(b, "other", 5), "b deletes other");
	ok(oc_coll_sync(b), "sync b");
	ok(oc_coll_sync(a), "sync a");
	ok(oc_coll_update(b), "update b");
	o_buf_reset(&v);
	ok(oc_tree_get(b, "new2", 4, &v, &found), "get new2");
	cr_assert(found && v.data[0] == 'A', "an unrelated rival keeps it");
	ok(oc_tree_check(a), "check");
	o_buf_fini(&v);
	oc_coll_free(a);
	oc_coll_free(b);
}

Test(coll, tree_large_value_chunked_and_replaced, .init = setup,
    .fini = teardown)
{
	struct oc_collection *c;
	struct oc_bid         id = new_id();
	size_t                n  = 600000, i;
	uint8_t              *big = malloc(n);
	struct o_buf          v   = { 0 };
	bool                  found;

	for (i = 0; i < n; i++)
		big[i] = (uint8_t) (i * 31);
	ok(oc_tree_open(env.tx, &id, true, NULL, &c), "create");
	ok(oc_tree_put(c, "big", 3, big, n), "put big");
	ok(oc_coll_sync(c), "sync");
	ok(oc_tree_get(c, "big", 3, &v, &found), "get");
	cr_assert(found && v.len == n && memcmp(v.data, big, n) == 0);
	ok(oc_tree_put(c, "big", 3, "small", 5), "replace");
	ok(oc_coll_sync(c), "sync");
	o_buf_reset(&v);
	ok(oc_tree_get(c, "big", 3, &v, &found), "get");
	cr_assert(found && v.len == 5);
	o_buf_fini(&v);
	free(big);
	oc_coll_free(c);
}

/* ---- two collections, two threads, one store ------------------------- */

#define NTHREAD_ACTIONS 300

struct worker {
	struct oc_collection *c;
	int                   who;
	o_err                 err;
};

static void *
work(void *arg)
{
	struct worker *w = arg;
	char           buf[32];
	int            i;

	for (i = 0; i < NTHREAD_ACTIONS && w->err == O_OK; i++) {
		snprintf(buf, sizeof(buf), "w%d-%d", w->who, i);
		w->err = oc_diary_append(w->c, buf, strlen(buf));
		if (w->err == O_OK && i % 3 == 2)
			w->err = oc_coll_sync(w->c);
	}
	if (w->err == O_OK)
		w->err = oc_coll_sync(w->c);
	return NULL;
}

Test(coll, two_collections_two_threads_logs_identical, .init = setup,
    .fini = teardown)
{
	struct oc_sync_opts o = { .max_attempts = 1000, .base_backoff_ms = 1,
		.max_backoff_ms = 8 };
	struct worker w[2];
	pthread_t     th[2];
	struct items  it[2] = { { 0 }, { 0 } };
	struct oc_bid id    = new_id();
	int           i, k, seen[2][NTHREAD_ACTIONS];
	size_t        j;

	ok(oc_diary_open(env.tx, &id, true, &o, &w[0].c), "create");
	ok(oc_coll_sync(w[0].c), "sync");
	ok(oc_diary_open(env.tx, &id, false, &o, &w[1].c), "open");
	for (i = 0; i < 2; i++) {
		w[i].who = i;
		w[i].err = O_OK;
		pthread_create(&th[i], NULL, work, &w[i]);
	}
	for (i = 0; i < 2; i++) {
		pthread_join(th[i], NULL);
		cr_assert_eq(w[i].err, O_OK, "worker %d: %s", i, o_errname(w[i].err));
	}
	memset(seen, 0, sizeof(seen));
	for (i = 0; i < 2; i++) {
		ok(oc_coll_update(w[i].c), "update");
		ok(oc_diary_scan(w[i].c, 0, true, collect_cb, &it[i]), "scan");
		cr_assert_eq(it[i].n, 2 * NTHREAD_ACTIONS);
	}
	for (j = 0; j < it[0].n; j++) {
		int who, n;

		cr_assert_str_eq(it[0].v[j], it[1].v[j], "logs differ at %zu", j);
		cr_assert_eq(sscanf(it[0].v[j], "w%d-%d", &who, &n), 2);
		seen[who][n]++;
	}
	for (i = 0; i < 2; i++)
		for (k = 0; k < NTHREAD_ACTIONS; k++)
			cr_assert_eq(seen[i][k], 1, "w%d-%d seen %d times", i, k,
			    seen[i][k]);
	/* each writer's items are in its own order */
	for (i = 0; i < 2; i++) {
		int next = 0;

		for (j = 0; j < it[0].n; j++) {
			int who, n;

			sscanf(it[0].v[j], "w%d-%d", &who, &n);
			if (who == i)
				cr_assert_eq(n, next++);
		}
		items_free(&it[i]);
	}
	for (i = 0; i < 2; i++)
		oc_coll_free(w[i].c);
	/* and the hash chain verifies */
	{
		struct oc_txsrc      src;
		struct oc_log_report rep;

		oc_txsrc_init(&src, env.tx, NULL);
		ok(oc_log_verify(&src.base, &id, &rep, NULL, NULL), "verify");
		cr_assert(rep.ok);
		cr_assert_gt(rep.blocks, 1);
	}
}

/* A writer that died between pend and commit leaves a pending on the log
 * tail; the next writer waits for it to expire instead of failing. */
Test(coll, d75_abandoned_pend_delays_but_does_not_wedge)
{
	struct ost_repo_opts  ro = { .pend_ttl_ms = 400 };
	struct ost_repo      *r;
	struct oc_transactor *tx;
	struct oc_collection *c;
	struct oc_bid         id = new_id();
	struct oc_txsrc       src;
	struct oc_log         log;
	struct oc_chain_path  tail;
	struct oc_tfs         t;
	struct oc_pend_req    req;
	struct oc_txres       res;
	char                 *dir = ot_tmpdir("abandoned");
	uint64_t              t0;

	ok(ost_repo_open(dir, &ro, &r), "open");
	tx = ost_local_transactor(r);
	ok(oc_diary_open(tx, &id, true, NULL, &c), "create");
	ok(oc_coll_sync(c), "sync");
	oc_txsrc_init(&src, tx, NULL);
	ok(oc_log_open(&log, &src.base, &id), "log");
	ok(oc_chain_tail(&log.ch, &tail, NULL), "tail");
	oc_tfs_init(&t);
	ok(oc_tfs_update(&t, &tail.blk, oc_op_set("x", oc_int(1))), "stage");
	memset(&req, 0, sizeof(req));
	oc_aid_random(&req.aid);
	req.rev    = oc_coll_rev(c) + 1;
	req.tfs    = &t;
	req.policy = OC_POLICY_RETURN;
	oc_txres_init(&res);
	t0 = o_mono_ns(); /* before the pend that expires */
	ok(tx->ops->pend(tx, &req, &res), "the dead writer's pend");
	oc_txres_fini(&res);
	oc_tfs_fini(&t);

	append_str(c, "after the crash");
	ok(oc_coll_sync(c), "sync waits for the expiry");
	cr_assert_geq(o_mono_ns() - t0, 300u * 1000000, "did not wait");
	cr_assert_eq(oc_coll_rev(c), 2);
	oc_coll_free(c);
	ost_repo_close(r);
	ot_rmtree_free(dir);
}

/*
 * Collections whose held rev is far older than the history the store
 * keeps per block (pruned at every materialisation): a reader, a writer
 * acting after the prune, a writer whose queued work was staged before
 * it (its sync meets the pruned log tail), a counter and a scanner all
 * catch up to the latest context and succeed, never reading "absent".
 */
Test(coll, gc_holders_of_a_pruned_context_catch_up, .init = setup,
    .fini = teardown)
{
	struct oc_collection *a, *rd, *wr, *st, *cn, *sc;
	struct oc_bid         id = new_id();
	struct o_buf          v  = { 0 };
	struct kvs           *s  = calloc(1, sizeof(*s));
	struct ost_repo_stats rs;
	uint64_t              cnt;
	bool                  found;
	char                  val[16];
	int                   i;

	ok(oc_tree_open(env.tx, &id, true, NULL, &a), "create");
	ok(oc_tree_put(a, "k", 1, "v0", 2), "put");
	ok(oc_coll_sync(a), "sync");
	ok(oc_tree_open(env.tx, &id, false, NULL, &rd), "open reader");
	ok(oc_tree_open(env.tx, &id, false, NULL, &wr), "open writer");
	ok(oc_tree_open(env.tx, &id, false, NULL, &st), "open stale writer");
	ok(oc_tree_open(env.tx, &id, false, NULL, &cn), "open counter");
	ok(oc_tree_open(env.tx, &id, false, NULL, &sc), "open scanner");
	ok(oc_tree_put(st, "k3", 2, "staged", 6), "stage before the prune");
	for (i = 1; i <= 100; i++) {
		snprintf(val, sizeof(val), "v%d", i);
		ok(oc_tree_put(a, "k", 1, val, strlen(val)), "put");
		ok(oc_coll_sync(a), "sync");
	}
	ost_repo_stats(env.repo, &rs);
	cr_assert_gt(rs.pruned, 0, "the store pruned the old history");

	ok(oc_tree_get(rd, "k", 1, &v, &found), "reader's get");
	cr_assert(found && v.len == 4 && memcmp(v.data, "v100", 4) == 0);
	cr_assert_gt(oc_coll_rev(rd), 1, "the reader moved to a newer rev");

	ok(oc_tree_put(wr, "k2", 2, "w", 1), "writer's put");
	ok(oc_coll_sync(wr), "writer's sync");
	ok(oc_coll_sync(st), "stale writer's sync");

	ok(oc_tree_count(cn, &cnt), "count");
	cr_assert_geq(cnt, 1);
	ok(oc_tree_scan(sc, NULL, 0, true, true, kv_cb, s), "scan");
	cr_assert_geq(s->n, 1);
	for (i = 1; i < (int) s->n; i++)
		cr_assert_lt(strcmp(s->keys[i - 1], s->keys[i]), 0,
		    "a resumed scan repeats no key");

	ok(oc_coll_update(a), "update");
	o_buf_reset(&v);
	ok(oc_tree_get(a, "k2", 2, &v, &found), "get k2");
	cr_assert(found && v.len == 1 && v.data[0] == 'w');
	o_buf_reset(&v);
	ok(oc_tree_get(a, "k3", 2, &v, &found), "get k3");
	cr_assert(found && v.len == 6 && memcmp(v.data, "staged", 6) == 0);
	o_buf_reset(&v);
	ok(oc_tree_get(a, "k", 1, &v, &found), "get k");
	cr_assert(found && v.len == 4 && memcmp(v.data, "v100", 4) == 0);
	ok(oc_tree_count(a, &cnt), "count");
	cr_assert_eq(cnt, 3);
	ok(oc_tree_check(a), "check");
	o_buf_fini(&v);
	free(s);
	oc_coll_free(a);
	oc_coll_free(rd);
	oc_coll_free(wr);
	oc_coll_free(st);
	oc_coll_free(cn);
	oc_coll_free(sc);
}

/* Value of key k committed in tree id ("" when absent). */
static void
committed_val(const struct oc_bid *id, const char *k, char *out, size_t cap)
{
	struct oc_collection *c;
	struct o_buf          v = { 0 };
	bool                  found;

	ok(oc_tree_open(env.tx, id, false, NULL, &c), "open reader");
	ok(oc_tree_get(c, k, strlen(k), &v, &found), "get");
	snprintf(out, cap, "%.*s", found ? (int) v.len : 0,
	    found ? (const char *) v.data : "");
	o_buf_fini(&v);
	oc_coll_free(c);
}

/* Stage on c: key k = v naming object obj (NULL: no "o"), conditional
 * on k naming cond (NULL: none), following it (fw) or not. */
static void
put_obj(struct oc_collection *c, const char *k, const char *v,
    const struct oc_bid *obj, const struct oc_bid *cond, bool fw)
{
	struct oc_tree_kv kv = { .key = k,
		.klen                 = strlen(k),
		.val                  = v,
		.vlen                 = strlen(v),
		.del                  = v[0] == '\0',
		.obj                  = obj,
		.cond                 = cond,
		.follow               = fw };

	ok(oc_tree_replace(c, &kv, 1), k);
}

/*
 * A conditional put ("if", core/tree.h) queued before a rival's commit:
 * dropped when the rival deleted its key or gave it to another object,
 * kept when the rival put the same object (or one without "o", an older
 * build), and with "fw" moved to the key the rival renamed the object to.
 */
Test(coll, a_conditional_put_follows_its_object_through_rivals, .init = setup,
    .fini = teardown)
{
	struct oc_collection *a, *b;
	struct oc_bid         id = new_id(), o[5], o2 = new_id();
	char                  v[64];
	static const char *keys[] = { "del", "other", "same", "old", "moved" };
	size_t             i;

	two_writers(&id, &a, &b);
	for (i = 0; i < 5; i++) { /* one object per key */
		o[i] = new_id();
		put_obj(a, keys[i], "a0", &o[i], NULL, false);
	}
	ok(oc_coll_sync(a), "a commits");
	ok(oc_coll_update(b), "b reads them");
	/* b queues a conditional write-back of each */
	for (i = 0; i < 5; i++)
		put_obj(b, keys[i], "b1", &o[i], &o[i], true);
	/* the rivals, committed first */
	put_obj(a, "del", "", NULL, NULL, false);
	put_obj(a, "other", "a1", &o2, NULL, false);
	put_obj(a, "same", "a1", &o[2], NULL, false);
	put_obj(a, "old", "a1", NULL, NULL, false);
	{
		struct oc_tree_kv mv[2] = {
			{ .key = "moved", .klen = 5, .del = true },
			{ .key    = "there",
			    .klen = 5,
			    .val  = "a1",
			    .vlen = 2,
			    .obj  = &o[4] },
		};

		ok(oc_tree_replace(a, mv, 2), "a renames moved to there");
	}
	ok(oc_coll_sync(a), "a commits its rivals");
	ok(oc_coll_sync(b), "b commits (a rebase)");
	cr_expect(!has_committed(&id, "del"), "a deleted key came back");
	committed_val(&id, "other", v, sizeof(v));
	cr_expect_str_eq(v, "a1", "a key given to another object");
	committed_val(&id, "same", v, sizeof(v));
	cr_expect_str_eq(
	    v, "b1", "the same object: the last write wins (%s)", v);
	committed_val(&id, "old", v, sizeof(v));
	cr_expect_str_eq(
	    v, "b1", "a rival without \"o\" breaks nothing (%s)", v);
	cr_expect(!has_committed(&id, "moved"), "a renamed key came back");
	committed_val(&id, "there", v, sizeof(v));
	cr_expect_str_eq(v, "b1", "the write-back did not follow");
	cr_assert_eq(oc_coll_npending(b), 0);
	oc_coll_free(a);
	oc_coll_free(b);
}

/*
 * A retirement ("rt", oc_tree_retire: an rmdir) and a rival's put into the
 * tree at the same time: whichever commits first wins.  Committed first,
 * the put drops the retirement at its rebase; committed first, the
 * retirement drops the put.
 */
Test(coll, a_retirement_and_a_rivals_put_one_wins, .init = setup,
    .fini = teardown)
{
	struct oc_collection *a, *b;
	struct oc_bid         id = new_id(), id2 = new_id();
	bool                  rt;

	/* the put first */
	two_writers(&id, &a, &b);
	ok(oc_tree_retire(b, NULL), "b retires the empty tree");
	put_obj(a, "f", "a0", NULL, NULL, false);
	ok(oc_coll_sync(a), "a commits its put");
	ok(oc_coll_sync(b), "b commits (a rebase)");
	cr_expect(!has_committed(&id, OC_TREE_RETIRED),
	    "a tree that a rival put an entry in was retired");
	ok(oc_tree_retired(b, &rt), "b: retired?");
	cr_expect(!rt, "b still sees its retirement");
	cr_expect(has_committed(&id, "f"), "the rival's put was lost");
	cr_assert_eq(oc_coll_npending(b), 0);
	oc_coll_free(a);
	oc_coll_free(b);

	/* the retirement first */
	two_writers(&id2, &a, &b);
	put_obj(a, "g", "a0", NULL, NULL, false);
	ok(oc_tree_retire(b, NULL), "b retires the empty tree");
	ok(oc_coll_sync(b), "b commits its retirement");
	ok(oc_coll_sync(a), "a commits (a rebase)");
	cr_expect(has_committed(&id2, OC_TREE_RETIRED), "the retirement");
	cr_expect(!has_committed(&id2, "g"), "a put went into a retired tree");
	ok(oc_tree_retired(a, &rt), "a: retired?");
	cr_expect(rt, "a does not see the retirement");
	cr_assert_eq(oc_coll_npending(a), 0);
	oc_coll_free(a);
	oc_coll_free(b);
}

/*
 * A condition-only action (oc_tree_kv.check: "if" with an empty "kv", a
 * read a linked change relies on, e.g. a directory on the way to a
 * rename's target) commits nothing of its own; a rival that deleted its
 * key before the group's commit drops it and, by the link, the partner
 * staged in another tree (a rename into a directory another mount moved
 * meanwhile); a rival that changed other keys breaks nothing.
 */
Test(coll, a_condition_only_action_drops_its_linked_partner, .init = setup,
    .fini = teardown)
{
	struct oc_collection *a, *b, *t, *g[2];
	struct oc_bid         id = new_id(), tid = new_id(), o = new_id();
	struct oc_aid         link;
	struct oc_tree_kv     chk = {
		    .key = "d", .klen = 1, .cond = &o, .check = true
	};
	struct oc_tree_kv put = {
		.key = "x", .klen = 1, .val = "1", .vlen = 1
	};
	int64_t rev;
	char    v[64];
	int     round;

	two_writers(&id, &a, &b);
	ok(oc_tree_open(env.tx, &tid, true, NULL, &t), "create t");
	put_obj(a, "d", "a0", &o, NULL, false);
	ok(oc_coll_sync(a), "a commits d");
	ok(oc_coll_update(b), "b reads d");
	for (round = 0; round < 2; round++) {
		bool  decided;
		o_err e;

		oc_aid_random(&link);
		ok(oc_tree_replace_linked(b, &chk, 1, &link), "b: d names o?");
		ok(oc_tree_replace_linked(t, &put, 1, &link), "t: put x");
		/* the rival: another key first, then d itself */
		put_obj(a, round == 0 ? "e" : "d", round == 0 ? "a1" : "",
		    NULL, NULL, false);
		ok(oc_coll_sync(a), "a commits its rival");
		rev  = oc_coll_rev(b);
		g[0] = b;
		g[1] = t;
		e    = oc_coll_sync_group(g, 2, &decided);
		cr_expect(e == O_OK, "round %d: group: %s (%s)", round,
		    o_errname(e), o_err_detail());
		cr_expect_eq(oc_coll_npending(b), 0);
		cr_expect_eq(oc_coll_npending(t), 0);
		if (round == 0) {
			cr_expect(oc_coll_rev(b) > rev, "the check committed");
			committed_val(&id, "d", v, sizeof(v));
			cr_expect_str_eq(v, "a0", "a check wrote its key");
			cr_expect(has_committed(&tid, "x"), "x was dropped");
			cr_expect(!oc_coll_link_is_lost(&link));
			ok(oc_tree_del(t, "x", 1), "t: delete x");
			ok(oc_coll_sync(t), "t commits");
		} else {
			cr_expect(!has_committed(&id, "d"), "d came back");
			cr_expect(!has_committed(&tid, "x"),
			    "a partner whose read a rival broke was "
			    "committed");
			cr_expect(oc_coll_link_is_lost(&link));
		}
	}
	oc_coll_free(a);
	oc_coll_free(b);
	oc_coll_free(t);
}

/*
 * A linked part queued after its link was lost, and after its own
 * collection had walked its queue for that loss, is still dropped: the
 * walk is skipped only while no linked action was queued since it.
 * Before, the partner (an rmdir's delete, after its retirement lost to a
 * rival's put) committed alone: the directory, with the rival's entry in
 * it, was left where no name reached (from the review).
 */
Test(coll, a_part_queued_after_its_link_was_lost_is_dropped, .init = setup,
    .fini = teardown)
{
	struct oc_collection *p, *rival, *q;
	struct oc_bid         pid = new_id(), qid = new_id();
	struct oc_aid         link;
	bool                  decided;

	two_writers(&pid, &p, &rival);
	ok(oc_tree_open(env.tx, &qid, true, NULL, &q), "create q");
	put_obj(q, "d", "entry", NULL, NULL, false);
	ok(oc_coll_sync(q), "q commits d");
	oc_aid_random(&link);
	ok(oc_tree_retire(p, &link), "p: retired");
	put_obj(rival, "f", "theirs", NULL, NULL, false);
	ok(oc_coll_sync(rival), "the rival puts f into p");
	ok(oc_coll_update(p), "p takes it in: the retirement is dropped");
	cr_assert(oc_coll_link_is_lost(&link));
	ok(oc_coll_links_sift(q), "q walks its queue (nothing linked yet)");
	{
		struct oc_tree_kv del = { .key = "d", .klen = 1, .del = true };

		ok(oc_tree_replace_linked(q, &del, 1, &link), "q: delete d");
	}
	ok(oc_coll_sync_group(
	       (struct oc_collection *[]) { q, p }, 2, &decided),
	    "group");
	cr_expect(has_committed(&qid, "d"),
	    "the delete committed without its retirement");
	cr_expect(!has_committed(&pid, OC_TREE_RETIRED));
	cr_expect(has_committed(&pid, "f"));
	oc_coll_free(p);
	oc_coll_free(rival);
	oc_coll_free(q);
}
