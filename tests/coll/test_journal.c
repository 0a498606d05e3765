/*
 * test_journal.c - queued actions kept in the journal (core/journal.h,
 * store/journal.c) outlive the collection that queued them, and recovery
 * commits each exactly once: nothing committed twice when the records
 * outlived their commit, a record half committed is finished, a second
 * recovery after a first that died changes nothing, chunked appends keep
 * their chunks, a damaged record is named.  Multi-collection transactions
 * (oc_coll_sync_group, DESIGN.md section 3 rule 4): one action id, each
 * entry names the others, a rival commit in between is rebased over.
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <criterion/criterion.h>

#include "coll/collutil.h"
#include "core/diary.h"
#include "core/log.h"
#include "core/tree.h"
#include "store/journal.h"
#include "store/rdb.h"
#include "store/repo_priv.h"
#include "util/testutil.h"

static struct ot_env env;

static void
ok(o_err e, const char *w)
{
	cr_assert_eq(e, O_OK, "%s: %s (%s)", w, o_errname(e), o_err_detail());
}

static struct oc_journal *js[64];
static void               die(
                  struct ot_jwrap *w, struct oc_collection *c1, struct oc_collection *c2);
static size_t             nj;

static struct oc_journal *
jopen(void)
{
	cr_assert_lt(nj, 64);
	ok(ost_journal_open(env.repo, &js[nj]), "open journal");
	return js[nj++];
}

static void
nodrop_init(struct ot_jwrap *d)
{
	ot_jwrap_init(d, jopen());
}

static void
setup(void)
{
	ot_env_open(&env, "journal");
}

static void
teardown(void)
{
	size_t i;

	for (i = 0; i < nj; i++)
		ost_journal_close(js[i]);
	nj = 0;
	ot_env_close(&env);
}

TestSuite(journal, .init = setup, .fini = teardown, .timeout = 120);

static const struct oc_coll_type *const types[] = { &oc_tree_type,
	&oc_diary_type };

static struct oc_recover_report
recover(void)
{
	struct oc_recover_report rep;

	ok(oc_journal_recover(env.tx, jopen(), types, 2, NULL, &rep),
	    "recover");
	return rep;
}

/* What a recovery found: records, and actions replayed / already
 * committed (skipped). */
static void
expect_report(const struct oc_recover_report *rep, size_t records,
    size_t replayed, size_t skipped, const char *what)
{
	cr_expect_eq(rep->records, records, "%s: %zu records", what,
	    rep->records);
	cr_expect_eq(rep->replayed, replayed, "%s: %zu replayed", what,
	    rep->replayed);
	cr_expect_eq(rep->skipped, skipped, "%s: %zu skipped", what,
	    rep->skipped);
}

static struct oc_collection *
diary(const struct oc_bid *id, struct oc_journal *j)
{
	struct oc_sync_opts  o = { 0 };
	struct oc_collection *c;

	o.journal = j;
	ok(oc_diary_open(env.tx, id, true, &o, &c), "open diary");
	return c;
}

struct lines {
	char   s[64][16];
	size_t n;
	size_t big; /* appends longer than 16 bytes, their length */
};

static int
collect(void *arg, int64_t rev, const uint8_t *d, size_t n)
{
	struct lines *l = arg;

	(void) rev;
	cr_assert_lt(l->n, 64);
	if (n >= sizeof(l->s[0])) {
		l->big = n; /* keep its start */
		n      = sizeof(l->s[0]) - 1;
	}
	memcpy(l->s[l->n], d, n);
	l->s[l->n++][n] = '\0';
	return 0;
}

static int
count_cb(void *arg, int64_t rev, const uint8_t *d, size_t n)
{
	(void) rev;
	(void) d;
	(void) n;
	(*(uint64_t *) arg)++;
	return 0;
}

/* The committed appends of diary id, read by a fresh handle. */
static void
read_diary(const struct oc_bid *id, struct lines *l)
{
	struct oc_collection *c;

	memset(l, 0, sizeof(*l));
	ok(oc_diary_open(env.tx, id, false, NULL, &c), "reopen diary");
	ok(oc_diary_scan(c, 0, true, collect, l), "scan");
	oc_coll_free(c);
}

static void
append(struct oc_collection *c, const char *s)
{
	ok(oc_diary_append(c, s, strlen(s)), s);
}

static void
expect_lines(const struct lines *l, const char *const *want, size_t n)
{
	size_t i;

	cr_assert_eq(l->n, n, "%zu appends committed, expected %zu", l->n, n);
	for (i = 0; i < n; i++)
		cr_expect_str_eq(l->s[i], want[i], "append %zu", i);
}

/* Recover, expect what the recovery found (expect_report), and diary id
 * to hold exactly want[0..n). */
static void
recovered_as(const struct oc_bid *id, size_t records, size_t replayed,
    size_t skipped, const char *const *want, size_t n, const char *what)
{
	struct oc_recover_report rep = recover();
	struct lines             l;

	expect_report(&rep, records, replayed, skipped, what);
	read_diary(id, &l);
	expect_lines(&l, want, n);
}

Test(journal, queued_appends_survive_and_commit_once)
{
	struct oc_bid            id;
	struct oc_collection    *c;
	struct oc_recover_report rep;
	struct lines             l;
	const char *const        want[] = { "a", "b", "c", "d" };

	oc_bid_random(&id);
	c = diary(&id, jopen());
	append(c, "a");
	append(c, "b");
	ok(oc_coll_sync(c), "sync");
	append(c, "c");
	append(c, "d");
	oc_coll_free(c); /* dies with c, d queued */
	read_diary(&id, &l);
	cr_assert_eq(l.n, 2);
	rep = recover();
	cr_expect_eq(rep.collections, 1);
	expect_report(&rep, 2, 2, 0, "a and b were forgotten at their commit");
	read_diary(&id, &l);
	expect_lines(&l, want, 4);
	rep = recover();
	cr_expect_eq(rep.records, 0, "recovery forgets what it committed");
}

Test(journal, records_that_outlived_their_commit_are_skipped)
{
	struct oc_bid            id;
	struct oc_collection    *c;
	struct ot_jwrap          d;
	const char *const        want[] = { "1", "2", "3", "4", "5" };

	nodrop_init(&d);
	d.drop_off = true;
	oc_bid_random(&id);
	c = diary(&id, &d.base);
	append(c, "1");
	append(c, "2");
	ok(oc_coll_sync(c), "sync");
	append(c, "3");
	ok(oc_coll_sync(c), "sync");
	append(c, "4");
	append(c, "5");
	oc_coll_free(c);
	recovered_as(&id, 5, 2, 3, want, 5, "1, 2, 3 are committed already");
}

/* One act of 40 appends of 1 KiB is more than one log entry's weight;
 * the commit of the first entry lands, the next fails, the process dies.
 * lazy: a lazy record (held), committed by pend_commit as on one node. */
static void
half_committed(bool lazy)
{
	struct oc_bid            id;
	struct oc_collection    *c;
	struct ot_faulty         f;
	struct ot_jwrap          w;
	struct oc_sync_opts      o = { 0 };
	struct oc_recover_report rep;
	struct oc_val            acts[40];
	struct lines             l;
	char                     buf[16];
	size_t                   i;
	o_err                    e;

	if (lazy) {
		ot_faulty_init_fused(&f, env.tx);
		ot_jwrap_init_lazy(&w, jopen());
		o.journal = &w.base;
	} else {
		ot_faulty_init(&f, env.tx);
		o.journal = jopen();
	}
	oc_bid_random(&id);
	ok(oc_diary_open(env.tx, &id, true, NULL, &c), "create");
	ok(oc_coll_sync(c), "commit the header");
	oc_coll_free(c);
	ok(oc_diary_open(&f.base, &id, false, &o, &c), "open faulty");
	f.io_after = f.commits_seen + 1;
	for (i = 0; i < 40; i++) {
		struct o_buf b = { 0 };

		snprintf(buf, sizeof(buf), "%02zu", i);
		o_buf_append(&b, buf, 2);
		while (b.len < 1024)
			o_buf_append(&b, ".", 1);
		acts[i] = oc_map();
		oc_map_set(&acts[i], "t", oc_text("append"));
		oc_map_set(&acts[i], "d", oc_bytes(b.data, b.len));
		o_buf_fini(&b);
	}
	ok(lazy ? oc_coll_act_lazy(c, acts, 40) : oc_coll_act(c, acts, 40),
	    "act 40");
	e = oc_coll_sync(c);
	cr_assert_eq(e, O_EIO, "%s", o_errname(e));
	cr_assert_gt(oc_coll_npending(c), 0);
	cr_assert_lt(oc_coll_npending(c), 40);
	if (lazy)
		die(&w, c, NULL);
	else
		oc_coll_free(c);
	read_diary(&id, &l);
	cr_assert_gt(l.n, 0);
	cr_assert_lt(l.n, 40);
	rep = recover();
	expect_report(&rep, 1, 40 - l.n, l.n, "the committed part is skipped");
	read_diary(&id, &l);
	cr_assert_eq(l.n, 40);
	for (i = 0; i < 40; i++) {
		snprintf(buf, sizeof(buf), "%02zu", i);
		cr_expect_eq(strncmp(l.s[i], buf, 2), 0, "append %zu is %s",
		    i, l.s[i]);
	}
	cr_expect_eq(l.big, 1024);
}

Test(journal, a_record_half_committed_is_finished)
{
	half_committed(false);
}

/* The rest of a lazy record a commit split is written before that
 * commit: it is finished at the next start too. */
Test(journal, a_lazy_record_half_committed_is_finished)
{
	half_committed(true);
}

Test(journal, recovery_that_died_is_recovered_again)
{
	struct oc_bid            id;
	struct oc_collection    *c;
	struct ot_jwrap            d, d2;
	struct oc_recover_report   rep;
	const char *const        want[] = { "x", "y", "z" };

	nodrop_init(&d);
	oc_bid_random(&id);
	c = diary(&id, &d.base);
	append(c, "x");
	append(c, "y");
	append(c, "z");
	oc_coll_free(c);
	/* a recovery that commits but dies before forgetting */
	nodrop_init(&d2);
	d2.drop_off = true;
	ok(oc_journal_recover(env.tx, &d2.base, types, 2, NULL, &rep),
	    "first recovery");
	cr_expect_eq(rep.replayed, 3);
	recovered_as(
	    &id, 3, 0, 3, want, 3, "the records outlived the first recovery");
}

Test(journal, chunked_appends_keep_their_chunks)
{
	struct oc_bid            id;
	struct oc_collection    *c;
	struct oc_recover_report rep;
	struct lines             l;
	static char              big[300 << 10];

	memset(big, 'q', sizeof(big));
	oc_bid_random(&id);
	c = diary(&id, jopen());
	append(c, "small");
	ok(oc_diary_append(c, big, sizeof(big)), "append 300 KiB");
	oc_coll_free(c);
	rep = recover();
	cr_expect_eq(rep.replayed, 2);
	read_diary(&id, &l);
	cr_assert_eq(l.n, 2);
	cr_expect_str_eq(l.s[0], "small");
	cr_expect_eq(l.big, sizeof(big));
}

/* The lines of one write() are one call: one journal record for all of
 * them (fs/ns.c's diary_write), replayed in order, a chunked one among
 * them. */
Test(journal, appends_of_one_call_are_one_record)
{
	struct oc_bid            id;
	struct oc_collection    *c;
	struct ot_jwrap            d;
	struct oc_recover_report rep;
	struct lines             l;
	static char              big[300 << 10];
	struct iovec             v[4] = { { "x1", 2 }, { "x2", 2 },
                     { big, sizeof(big) }, { "x4", 2 } };
	const char *const        want[] = { "a", "x1", "x2", "qqqqqqqqqqqqqqq",
                "x4" };

	memset(big, 'q', sizeof(big));
	nodrop_init(&d);
	oc_bid_random(&id);
	c = diary(&id, &d.base);
	append(c, "a");
	ok(oc_diary_append_many(c, v, 4), "append 4 in one call");
	cr_expect_eq(d.puts, 2, "%d journal records for 2 calls", d.puts);
	ok(oc_diary_append_many(c, v, 0), "append none");
	cr_expect_eq(d.puts, 2, "no record for no appends");
	oc_coll_free(c);
	rep = recover();
	expect_report(&rep, 2, 5, 0, "both records replayed");
	read_diary(&id, &l);
	expect_lines(&l, want, 5);
	cr_expect_eq(l.big, sizeof(big));
}

/* A 1 MiB write of empty lines is one record of 1 Mi appends, over
 * oc_decode's default 4 Mi items: recovery still replays it. */
Test(journal, a_record_of_a_million_appends_replays)
{
	enum { N = 1 << 20 };
	struct oc_bid            id;
	struct oc_collection    *c;
	struct oc_recover_report rep;
	struct iovec            *v = malloc(N * sizeof(*v));
	uint64_t                 n = 0;
	size_t                   i;

	for (i = 0; i < N; i++) {
		v[i].iov_base = "\n";
		v[i].iov_len  = 1;
	}
	oc_bid_random(&id);
	c = diary(&id, jopen());
	ok(oc_diary_append_many(c, v, N), "append 1 Mi lines in one call");
	free(v);
	oc_coll_free(c);
	rep = recover();
	expect_report(&rep, 1, N, 0, "the record replayed");
	ok(oc_diary_open(env.tx, &id, false, NULL, &c), "reopen diary");
	ok(oc_diary_scan(c, 0, true, count_cb, &n), "scan");
	cr_expect_eq(n, N, "%llu appends committed", (unsigned long long) n);
	oc_coll_free(c);
}

Test(journal, tree_puts_and_deletes_replay_in_order)
{
	struct oc_bid            id;
	struct oc_collection    *c;
	struct oc_sync_opts      o = { 0 };
	struct oc_recover_report rep;
	struct o_buf             v = { 0 };
	bool                     found;

	o.journal = jopen();
	oc_bid_random(&id);
	ok(oc_tree_open(env.tx, &id, true, &o, &c), "open tree");
	ok(oc_tree_put(c, "k", 1, "v1", 2), "put");
	ok(oc_tree_put(c, "gone", 4, "x", 1), "put");
	ok(oc_tree_put(c, "k", 1, "v2", 2), "overwrite");
	ok(oc_tree_del(c, "gone", 4), "del");
	oc_coll_free(c);
	rep = recover();
	cr_expect_eq(rep.replayed, 4);
	ok(oc_tree_open(env.tx, &id, false, NULL, &c), "reopen tree");
	ok(oc_tree_get(c, "k", 1, &v, &found), "get k");
	cr_assert(found);
	cr_expect_eq(v.len, 2);
	cr_expect_eq(memcmp(v.data, "v2", 2), 0);
	o_buf_reset(&v);
	ok(oc_tree_get(c, "gone", 4, &v, &found), "get gone");
	cr_expect_not(found);
	o_buf_fini(&v);
	oc_coll_free(c);
}

Test(journal, a_damaged_record_is_skipped_the_others_replay)
{
	struct oc_bid            id, good;
	struct oc_collection    *c;
	struct ost_rdb          *db = ost_repo_rdb(env.repo);
	struct ost_it           *it;
	struct ost_wb            wb = { 0 }, *wbs[1] = { &wb };
	const uint8_t           *k;
	size_t                   kl;
	const char *const        want[] = { "fine" };

	oc_bid_random(&id);
	oc_bid_random(&good);
	c = diary(&id, jopen());
	append(c, "doomed");
	oc_coll_free(c);
	c = diary(&good, jopen());
	append(c, "fine");
	oc_coll_free(c);
	ok(ost_it_open(db, OST_CF_JOURNAL, id.b, 32, NULL, 0, &it), "it");
	ost_it_first(it);
	cr_assert(ost_it_valid(it));
	k = ost_it_key(it, &kl);
	cr_assert_eq(kl, 48);
	ost_wb_put_raw(&wb, OST_CF_JOURNAL, k, kl, "\xff\x00garbage", 9);
	ost_it_close(it);
	ok(ost_rdb_write(db, wbs, 1, false), "damage");
	ost_wb_fini(&wb);
	recovered_as(
	    &good, 1, 1, 0, want, 1, "the damaged record is not replayed");
}

/* ---- multi-collection transactions --------------------------------------
 */

static struct oc_collection *
tree(const struct oc_bid *id)
{
	struct oc_collection *c;

	ok(oc_tree_open(env.tx, id, true, NULL, &c), "open tree");
	return c;
}

/* Two new trees, created together by a group commit. */
static void
two_trees(struct oc_bid *ia, struct oc_bid *ib, struct oc_collection **a,
    struct oc_collection **b)
{
	bool dec;

	oc_bid_random(ia);
	oc_bid_random(ib);
	*a = tree(ia);
	*b = tree(ib);
	ok(oc_coll_sync_group((struct oc_collection *[]) { *a, *b }, 2, &dec),
	    "create both");
	cr_assert(dec);
}

/* The last log entry of collection id. */
static struct oc_val
last_entry(const struct oc_bid *id)
{
	struct oc_txsrc src;
	struct oc_log   log;
	struct oc_val   ents, last;

	oc_txsrc_init(&src, env.tx, NULL);
	ok(oc_log_open(&log, &src.base, id), "log");
	ok(oc_log_after(&log, 0, &ents), "entries");
	cr_assert_gt(ents.u.a.n, 0);
	last = oc_val_take(&ents.u.a.v[ents.u.a.n - 1]);
	oc_val_fini(&ents);
	return last;
}

Test(journal, group_commit_is_one_action_naming_the_others)
{
	struct oc_bid         ia, ib;
	struct oc_collection *a, *b, *g[3];
	struct oc_val         ea, eb;
	struct o_buf          v = { 0 };
	struct oc_aid         aa, ab;
	const struct oc_val  *cols;
	struct oc_bid         other;
	bool                  dec, found;

	oc_bid_random(&ia);
	oc_bid_random(&ib);
	a = tree(&ia);
	b = tree(&ib);
	ok(oc_tree_put(b, "f", 1, "data", 4), "put f");
	ok(oc_coll_sync_group((struct oc_collection *[]) { a, b }, 2, &dec),
	    "group: create both");
	cr_expect(dec);
	/* the move: b/f -> a/g */
	ok(oc_tree_put(a, "g", 1, "data", 4), "put g");
	ok(oc_tree_del(b, "f", 1), "del f");
	g[0] = b;
	g[1] = a;
	g[2] = b; /* duplicates are fine */
	ok(oc_coll_sync_group(g, 3, &dec), "group: the move");
	cr_expect(dec);
	cr_expect_eq(oc_coll_npending(a), 0);
	cr_expect_eq(oc_coll_npending(b), 0);
	ea = last_entry(&ia);
	eb = last_entry(&ib);
	cr_assert(oc_log_entry_aid(&ea, &aa) && oc_log_entry_aid(&eb, &ab));
	cr_expect_eq(memcmp(&aa, &ab, sizeof(aa)), 0, "one action id");
	cols = oc_map_arr(oc_log_entry_act(&ea), "cols");
	cr_assert(cols != NULL && cols->u.a.n == 1);
	cr_assert(oc_bid_from(&cols->u.a.v[0], &other));
	cr_expect(oc_bid_eq(&other, &ib), "a's entry names b");
	cols = oc_map_arr(oc_log_entry_act(&eb), "cols");
	cr_assert(cols != NULL && cols->u.a.n == 1);
	cr_assert(oc_bid_from(&cols->u.a.v[0], &other));
	cr_expect(oc_bid_eq(&other, &ia), "b's entry names a");
	oc_val_fini(&ea);
	oc_val_fini(&eb);
	oc_coll_free(a);
	oc_coll_free(b);
	/* fresh handles see the move */
	a = tree(&ia);
	b = tree(&ib);
	ok(oc_tree_get(a, "g", 1, &v, &found), "get g");
	cr_expect(found);
	ok(oc_tree_get(b, "f", 1, &v, &found), "get f");
	cr_expect_not(found);
	o_buf_fini(&v);
	oc_coll_free(a);
	oc_coll_free(b);
}

Test(journal, group_commit_rebases_over_a_rival)
{
	struct oc_bid         ia, ib;
	struct oc_collection *a, *b, *rival;
	struct o_buf          v = { 0 };
	bool                  dec, found;
	uint64_t              n;

	two_trees(&ia, &ib, &a, &b);
	/* another writer commits to b after our handle read it */
	ok(oc_tree_open(env.tx, &ib, false, NULL, &rival), "rival");
	ok(oc_tree_put(rival, "r", 1, "1", 1), "rival put");
	ok(oc_coll_sync(rival), "rival sync");
	oc_coll_free(rival);
	ok(oc_tree_put(a, "x", 1, "1", 1), "put x");
	ok(oc_tree_put(b, "y", 1, "1", 1), "put y");
	ok(oc_coll_sync_group((struct oc_collection *[]) { a, b }, 2, &dec),
	    "group over the rival");
	cr_expect(dec);
	oc_coll_free(b);
	b = tree(&ib);
	ok(oc_tree_count(b, &n), "count");
	cr_expect_eq(n, 2, "the rival's r and our y");
	ok(oc_tree_get(b, "r", 1, &v, &found), "get r");
	cr_expect(found);
	o_buf_fini(&v);
	oc_coll_free(a);
	oc_coll_free(b);
}

/* ---- found in review ----------------------------------------------------
 */

/* The entry of collection id whose acts contain a tree pair keyed key. */
static bool
entry_with_key(const struct oc_bid *id, const char *key, struct oc_aid *aid)
{
	struct oc_txsrc src;
	struct oc_log   log;
	struct oc_val   ents;
	size_t          i, k, m;
	bool            hit = false;

	oc_txsrc_init(&src, env.tx, NULL);
	ok(oc_log_open(&log, &src.base, id), "log");
	ok(oc_log_after(&log, 0, &ents), "entries");
	for (i = 0; i < ents.u.a.n && !hit; i++) {
		struct oc_val acts;

		ok(oc_log_entry_acts(&ents.u.a.v[i], &acts), "acts");
		for (k = 0; k < acts.u.a.n && !hit; k++) {
			const struct oc_val *kv = oc_map_arr(&acts.u.a.v[k], "kv");

			for (m = 0; kv && m < kv->u.a.n && !hit; m++) {
				const struct oc_val *p = &kv->u.a.v[m].u.a.v[0];

				if (p->u.s.n == strlen(key) &&
				    memcmp(p->u.s.p, key, p->u.s.n) == 0) {
					hit = true;
					oc_log_entry_aid(&ents.u.a.v[i], aid);
				}
			}
		}
		oc_val_fini(&acts);
	}
	oc_val_fini(&ents);
	return hit;
}

/* A group commit covers everything queued, not only each collection's
 * first segment: a move staged behind a queue heavier than one entry is
 * still one transaction. */
Test(journal, group_move_behind_a_long_queue_is_one_transaction)
{
	struct oc_bid         ia, ib;
	struct oc_collection *a, *b;
	static char           big[8000];
	struct oc_aid         aput, adel;
	bool                  dec;
	char                  k[8];
	int                   i;

	memset(big, 'z', sizeof(big));
	oc_bid_random(&ia);
	oc_bid_random(&ib);
	a = tree(&ia);
	b = tree(&ib);
	ok(oc_tree_put(b, "f", 1, "data", 4), "put f");
	ok(oc_coll_sync_group((struct oc_collection *[]) { a, b }, 2, &dec),
	    "create");
	/* b has earlier queued work: three 8 KB inline values */
	for (i = 0; i < 3; i++) {
		snprintf(k, sizeof(k), "w%d", i);
		ok(oc_tree_put(b, k, strlen(k), big, sizeof(big)), "put w");
	}
	ok(oc_tree_put(a, "g", 1, "data", 4), "put g");
	ok(oc_tree_del(b, "f", 1), "del f");
	ok(oc_coll_sync_group((struct oc_collection *[]) { a, b }, 2, &dec),
	    "the move");
	cr_assert(entry_with_key(&ia, "g", &aput));
	cr_assert(entry_with_key(&ib, "f", &adel)); /* first: the put of f */
	/* find the delete: the last entry of b naming f */
	{
		struct oc_val ent = last_entry(&ib);
		cr_assert(oc_log_entry_aid(&ent, &adel));
		oc_val_fini(&ent);
	}
	cr_expect_eq(memcmp(&aput, &adel, sizeof(aput)), 0,
	    "the put of a/g and the delete of b/f are one transaction");
	oc_coll_free(a);
	oc_coll_free(b);
}

/* A journal whose puts can be made to fail. */
struct failput {
	struct oc_journal  base;
	struct oc_journal *in;
	int                ok_first; /* puts that succeed before ... */
	int                fail;     /* ... this many fail */
};

static o_err
fp_put(struct oc_journal *j, const struct oc_journal_rec *r)
{
	struct failput *d = (struct failput *) j;

	if (d->ok_first > 0)
		d->ok_first--;
	else if (d->fail > 0) {
		d->fail--;
		return o_err_set(O_ENOSPC, "injected");
	}
	return d->in->ops->put(d->in, r);
}

static o_err
fp_drop(struct oc_journal *j, const struct oc_bid *col,
    const uint64_t (*keys)[2], size_t n)
{
	return ((struct failput *) j)->in->ops->drop(
	    ((struct failput *) j)->in, col, keys, n);
}

static o_err
fp_scan(struct oc_journal *j, o_err (*fn)(void *, struct oc_journal_rec *),
    void *arg)
{
	return ((struct failput *) j)->in->ops->scan(
	    ((struct failput *) j)->in, fn, arg);
}

static const struct oc_journal_ops fp_ops = {
	.put  = fp_put,
	.drop = fp_drop,
	.scan = fp_scan,
};

/* Two writers append to one diary; writer 1 staged its chunk, writer
 * 2's act fails at the journal put (ENOSPC) and must not take writer 1's chunk
 * with it: after a crash the replayed entry names its chunk. */
Test(journal, failed_put_keeps_another_writers_chunk)
{
	struct oc_bid            id;
	struct oc_collection    *c;
	struct failput           fp;
	struct oc_recover_report rep;
	struct oc_val            a;
	static char              big[20000];
	o_err                    e;
	struct lines             l;

	memset(&fp, 0, sizeof(fp));
	fp.in       = jopen();
	fp.base.ops = &fp_ops;
	memcpy(fp.base.node, fp.in->node, sizeof(fp.base.node));
	fp.base.session = fp.in->session;
	atomic_init(&fp.base.next_seq, 1);
	memset(big, 'w', sizeof(big));
	oc_bid_random(&id);
	c = diary(&id, &fp.base);
	ok(oc_coll_sync(c), "header");
	/* writer 1: oc_diary_append's first half (the chunk) */
	a = oc_map();
	oc_map_set(&a, "t", oc_text("append"));
	oc_map_set(&a, "c", oc_coll_chunk(c, big, sizeof(big)));
	/* writer 2 acts in between; its journal put fails */
	fp.fail = 1;
	e       = oc_diary_append(c, "x", 1);
	cr_assert_neq(e, O_OK);
	/* writer 1's act succeeds: acknowledged */
	ok(oc_coll_act(c, &a, 1), "writer 1 act");
	oc_coll_free(c); /* kill -9 */
	e = oc_journal_recover(env.tx, jopen(), types, 2, NULL, &rep);
	cr_log_info("recover: %s %s", o_errname(e), o_err_detail());
	memset(&l, 0, sizeof(l));
	ok(oc_diary_open(env.tx, &id, false, NULL, &c), "reopen");
	e = oc_diary_scan(c, 0, true, collect, &l);
	oc_coll_free(c);
	cr_expect_eq(e, O_OK, "the replayed append is readable: %s (%s)",
	    o_errname(e), o_err_detail());
}

/* Recovery commits in the order the actions were taken: a directory
 * record naming pieces staged earlier never commits before them, also
 * when the piece collection got a later record too. */
Test(journal, recovery_commits_pieces_before_the_entry)
{
	struct oc_bid            ip, id;
	struct oc_collection    *p, *d;
	struct oc_sync_opts      o = { 0 };
	struct ot_faulty         f;
	struct oc_recover_report rep;
	struct o_buf             v = { 0 };
	bool                     fd, fpc;

	oc_bid_random(&ip);
	oc_bid_random(&id);
	p = tree(&ip);
	d = tree(&id);
	ok(oc_coll_sync(p), "p");
	ok(oc_coll_sync(d), "d");
	oc_coll_free(p);
	oc_coll_free(d);
	o.journal = jopen();
	ok(oc_tree_open(env.tx, &ip, false, &o, &p), "p");
	ok(oc_tree_open(env.tx, &id, false, &o, &d), "d");
	ok(oc_tree_put(p, "piece0", 6, "P0", 2), "piece 0");   /* seq 1 */
	ok(oc_tree_put(d, "file", 4, "names piece0", 12), "entry"); /* 2 */
	ok(oc_tree_put(p, "piece1", 6, "P1", 2), "piece 1");   /* seq 3 */
	oc_coll_free(p);
	oc_coll_free(d); /* kill -9 */
	/* recovery's first commit lands, the second fails (or: dies) */
	ot_faulty_init(&f, env.tx);
	f.io_after = 1;
	(void) oc_journal_recover(&f.base, jopen(), types, 2, NULL, &rep);
	p = tree(&ip);
	d = tree(&id);
	ok(oc_tree_get(d, "file", 4, &v, &fd), "get file");
	o_buf_reset(&v);
	ok(oc_tree_get(p, "piece0", 6, &v, &fpc), "get piece0");
	o_buf_fini(&v);
	cr_expect(!fd || fpc,
	    "a committed entry names pieces that are not committed");
	oc_coll_free(p);
	oc_coll_free(d);
}

/* A transactor whose commit lands but whose answer is lost (and the
 * status query cannot tell). */
struct lostack {
	struct oc_transactor  base;
	struct oc_transactor *in;
	int                   lose;
};

static o_err
la_get(struct oc_transactor *t, const struct oc_bid *ids, size_t n,
    const struct oc_actx *ctx, struct oc_get_res *out)
{
	struct lostack *l = (struct lostack *) t;
	return l->in->ops->get(l->in, ids, n, ctx, out);
}
static o_err
la_pend(struct oc_transactor *t, const struct oc_pend_req *r,
    struct oc_txres *res)
{
	struct lostack *l = (struct lostack *) t;
	return l->in->ops->pend(l->in, r, res);
}
static o_err
la_commit(struct oc_transactor *t, const struct oc_commit_req *r,
    struct oc_txres *res)
{
	struct lostack *l = (struct lostack *) t;
	o_err           e = l->in->ops->commit(l->in, r, res);

	if (e == O_OK && l->lose > 0) {
		l->lose--;
		return o_err_set(O_EUNAVAIL, "injected: answer lost");
	}
	return e;
}
static o_err
la_cancel(struct oc_transactor *t, const struct oc_aid *aid,
    const struct oc_bid *ids, size_t n)
{
	struct lostack *l = (struct lostack *) t;
	return l->in->ops->cancel(l->in, aid, ids, n);
}
static o_err
la_status(struct oc_transactor *t, const struct oc_aid *aid, int64_t rev,
    const struct oc_bid *ids, size_t n, uint8_t *out)
{
	(void) t; (void) aid; (void) rev; (void) ids; (void) n; (void) out;
	return o_err_set(O_EUNAVAIL, "injected: status unreachable");
}
static const struct oc_transactor_ops la_ops = { la_get, la_pend, la_commit,
	la_cancel, la_status, NULL, NULL };

/* A commit whose answer is lost is recognised by the entry's journal
 * tag at the next sync and not committed again. */
Test(journal, lost_commit_answer_is_not_committed_twice)
{
	struct oc_bid         id;
	struct oc_collection *c;
	struct oc_sync_opts   o = { 0 };
	struct lostack        la;
	struct lines          l;
	const char *const     want[] = { "once" };

	la.base.ops = &la_ops;
	la.in       = env.tx;
	la.lose     = 0;
	oc_bid_random(&id);
	c = diary(&id, NULL);
	ok(oc_coll_sync(c), "header");
	oc_coll_free(c);
	o.journal = jopen();
	ok(oc_diary_open(&la.base, &id, false, &o, &c), "open");
	append(c, "once");
	la.lose = 1;
	cr_expect_neq(oc_coll_sync(c), O_OK);
	ok(oc_coll_sync(c), "retry");
	oc_coll_free(c);
	read_diary(&id, &l);
	expect_lines(&l, want, 1);
}

/* A group commit that keeps losing gives up at its deadline (the options
 * of the collection with the lowest id), with everything still queued. */
Test(journal, group_commit_gives_up_at_its_deadline)
{
	struct oc_bid         ia, ib;
	struct oc_collection *a, *b;
	struct ot_faulty      f;
	struct oc_sync_opts   o = { 0 };
	bool                  dec;
	o_err                 e;

	two_trees(&ia, &ib, &a, &b);
	oc_coll_free(a);
	oc_coll_free(b);
	ot_faulty_init(&f, env.tx);
	f.stale_commits = 1000000;
	o.deadline_ms   = 30;
	o.max_attempts  = 1000000;
	ok(oc_tree_open(&f.base, &ia, false, &o, &a), "a");
	ok(oc_tree_open(&f.base, &ib, false, &o, &b), "b");
	ok(oc_tree_put(a, "x", 1, "1", 1), "put x");
	ok(oc_tree_put(b, "y", 1, "1", 1), "put y");
	e = oc_coll_sync_group((struct oc_collection *[]) { a, b }, 2, &dec);
	cr_expect_eq(e, O_ERETRIES, "%s", o_errname(e));
	cr_expect(strstr(o_err_detail(), "deadline") != NULL, "%s",
	    o_err_detail());
	cr_expect_not(dec);
	cr_expect_eq(oc_coll_npending(a), 1);
	cr_expect_eq(oc_coll_npending(b), 1);
	oc_coll_free(a);
	oc_coll_free(b);
}

/*
 * A creation ("new", oc_tree_create) journaled by a mount that died before
 * its commit, while another mount created the same key: recovery must
 * drop it as the conflict filter would have (the rival won), not commit
 * it as a plain put over the rival's value.
 */
Test(journal, recovered_creation_loses_to_a_rival_creation)
{
	struct oc_bid            id;
	struct oc_collection    *a, *b;
	struct oc_sync_opts      o = { 0 };
	struct oc_recover_report rep;
	struct o_buf             v = { 0 };
	bool                     found;

	oc_bid_random(&id);
	ok(oc_tree_open(env.tx, &id, true, NULL, &b), "create the tree");
	ok(oc_coll_sync(b), "commit the tree");
	o.journal = jopen();
	ok(oc_tree_open(env.tx, &id, false, &o, &a), "open a (journaled)");
	ok(oc_tree_create(a, "name", 4, "A", 1), "a creates name");
	oc_coll_free(a); /* a's mount dies before its commit */
	ok(oc_tree_create(b, "name", 4, "B", 1), "b creates name");
	ok(oc_coll_sync(b), "b's creation commits");
	oc_coll_free(b);
	rep = recover();
	cr_expect_eq(rep.records, 1);
	ok(oc_tree_open(env.tx, &id, false, NULL, &b), "reopen");
	ok(oc_tree_get(b, "name", 4, &v, &found), "get name");
	cr_assert(found && v.len == 1);
	cr_expect_eq(v.data[0], 'B',
	    "the committed creation was overwritten by the recovered loser "
	    "(got %c)", v.data[0]);
	o_buf_fini(&v);
	oc_coll_free(b);
	rep = recover();
	cr_expect_eq(rep.records, 0, "the dropped creation is forgotten");
}

/*
 * A recovery that meets pruned history (a rival's commits pruned the
 * context it holds, at any of its reads: the update when the collection
 * opens, the walk for what committed, the conflict filter, the replay)
 * catches up and goes on: every queued put lands once, the rival's stays.
 * Each round injects O_ESTALE at a later read, until no read is left.
 */
Test(journal, recovery_that_meets_pruned_history_catches_up)
{
	int round;

	for (round = 0;; round++) {
		struct oc_bid            id;
		struct oc_collection    *c, *rival;
		struct oc_sync_opts      o = { 0 };
		struct ot_faulty         f;
		struct oc_recover_report rep;
		struct o_buf             v = { 0 };
		const char *const        keys[] = { "a", "b", "c", "r" };
		bool                     found;
		size_t                   i;

		cr_assert_lt(round, 40, "more reads than expected");
		o.journal = jopen();
		oc_bid_random(&id);
		ok(oc_tree_open(env.tx, &id, true, &o, &c), "open tree");
		ok(oc_tree_put(c, "a", 1, "1", 1), "put a");
		ok(oc_coll_sync(c), "sync");
		ok(oc_tree_put(c, "b", 1, "2", 1), "put b");
		ok(oc_tree_put(c, "c", 1, "3", 1), "put c");
		oc_coll_free(c); /* dies with b, c queued */
		ok(oc_tree_open(env.tx, &id, false, NULL, &rival), "rival");
		ok(oc_tree_put(rival, "r", 1, "4", 1), "rival's put");
		ok(oc_coll_sync(rival), "rival's sync");
		oc_coll_free(rival);

		ot_faulty_init(&f, env.tx);
		f.stale_skip = round;
		f.stale_gets = 1;
		ok(oc_journal_recover(&f.base, jopen(), types, 2, NULL, &rep),
		    "recover through pruned history");
		cr_expect_eq(rep.replayed, 2, "round %d: %zu replayed", round,
		    rep.replayed);
		ok(oc_tree_open(env.tx, &id, false, NULL, &c), "reopen tree");
		for (i = 0; i < 4; i++) {
			o_buf_reset(&v);
			ok(oc_tree_get(c, keys[i], 1, &v, &found), keys[i]);
			cr_expect(found, "round %d: %s lost", round, keys[i]);
		}
		oc_coll_free(c);
		o_buf_fini(&v);
		if (f.stale_seen == 0)
			break; /* the recovery read less than round times */
	}
	cr_assert_gt(round, 0, "no read was at a held context: nothing shown");
	cr_log_info("O_ESTALE injected at each of %d reads", round);
}

/* ---- lazy records (oc_coll_act_lazy) ------------------------------------ */

static void
append_lazy(struct oc_collection *c, const char *s)
{
	struct iovec v = { (void *) s, strlen(s) };

	ok(oc_diary_append_lazy(c, &v, 1), s);
}

/* The process dies: the held records go with it (their puts fail). */
static void
die(struct ot_jwrap *w, struct oc_collection *c1, struct oc_collection *c2)
{
	w->put_left = 0;
	oc_coll_free(c1);
	if (c2 != NULL)
		oc_coll_free(c2);
	oc_journal_fini(&w->base);
}

/* Lazy appends stay in memory until a flush writes them; a killed process
 * loses what is still held, and only that. */
Test(journal, lazy_appends_wait_in_memory_until_a_flush)
{
	struct ot_jwrap          w;
	struct oc_bid            id;
	struct oc_collection    *c;
	const char *const        want[] = { "a", "b" };

	oc_bid_random(&id);
	ot_jwrap_init_lazy(&w, jopen());
	c = diary(&id, &w.base);
	append_lazy(c, "a");
	append_lazy(c, "b");
	cr_expect_eq(oc_journal_held(&w.base), 2);
	cr_expect_eq(w.puts, 0, "a lazy record was written at once");
	ok(oc_journal_flush(&w.base), "flush");
	cr_expect_eq(w.puts, 2, "%d records written by the flush", w.puts);
	cr_expect_eq(oc_journal_held(&w.base), 0);
	append_lazy(c, "c");
	die(&w, c, NULL);
	recovered_as(&id, 2, 2, 0, want, 2, "a and b flushed, c only held");
}

/* Lazy records whose actions commit are never written; one flushed
 * before its commit is dropped from the store at the commit. */
Test(journal, lazy_records_that_commit_are_never_written)
{
	struct ot_jwrap          w;
	struct oc_bid            id;
	struct oc_collection    *c;
	const char *const        want[] = { "a", "b", "c", "d" };

	oc_bid_random(&id);
	ot_jwrap_init_lazy(&w, jopen());
	c = diary(&id, &w.base);
	append_lazy(c, "a");
	append_lazy(c, "b");
	ok(oc_coll_sync(c), "sync");
	cr_expect_eq(w.puts, 0, "%d committed records were written", w.puts);
	cr_expect_eq(w.drops, 0, "records never written were dropped");
	cr_expect_eq(oc_journal_held(&w.base), 0, "committed, still held");
	append_lazy(c, "c");
	ok(oc_journal_flush(&w.base), "flush");
	append_lazy(c, "d");
	ok(oc_coll_sync(c), "sync");
	cr_expect_eq(w.puts, 1, "%d records written", w.puts);
	cr_expect_eq(
	    w.drops, 1, "%d drops, expected the flushed record's", w.drops);
	die(&w, c, NULL);
	recovered_as(&id, 0, 0, 0, want, 4, "everything committed");
}

/*
 * A record that is not lazy (another collection's) is written after every
 * held one, so the stored records stay a prefix of what was acted; when
 * that write fails, the held records stay held and its own is not kept.
 */
Test(journal, a_record_written_at_once_writes_the_held_ones_first)
{
	struct ot_jwrap          w;
	struct oc_bid            id1, id2;
	struct oc_collection    *c1, *c2;
	struct oc_recover_report rep;
	struct lines             l;
	const char *const        want1[] = { "a", "c" };
	const char *const        want2[] = { "b" };

	oc_bid_random(&id1);
	oc_bid_random(&id2);
	ot_jwrap_init_lazy(&w, jopen());
	c1 = diary(&id1, &w.base);
	c2 = diary(&id2, &w.base);
	append_lazy(c1, "a");
	w.put_left = 0;
	cr_assert_neq(oc_diary_append(c2, "x", 1), O_OK,
	    "an append whose record failed succeeded");
	cr_expect_eq(oc_journal_held(&w.base), 1, "a failed write lost 'a'");
	w.put_left = -1;
	append(c2, "b");
	cr_expect_eq(w.puts, 2, "%d records written with b", w.puts);
	cr_expect_eq(oc_journal_held(&w.base), 0);
	append_lazy(c1, "c");
	ok(oc_journal_flush(&w.base), "flush");
	die(&w, c1, c2);
	rep = recover();
	cr_expect_eq(rep.collections, 2);
	expect_report(&rep, 3, 3, 0, "a and b written together, c flushed");
	read_diary(&id1, &l);
	expect_lines(&l, want1, 2);
	read_diary(&id2, &l);
	expect_lines(&l, want2, 1);
}

/* Before a pend that is not fused with its commit (another process sees
 * it), the held records are written: a commit left in doubt by a death is
 * settled at the next start (here: found committed by its tag). */
Test(journal, lazy_records_are_written_before_a_pend)
{
	struct ot_jwrap          w;
	struct oc_bid            id;
	struct oc_collection    *c;
	struct oc_sync_opts      o = { 0 };
	struct lostack           la;
	const char *const        want[] = { "once" };

	la.base.ops = &la_ops;
	la.in       = env.tx;
	la.lose     = 0;
	oc_bid_random(&id);
	c = diary(&id, NULL);
	ok(oc_coll_sync(c), "header");
	oc_coll_free(c);
	ot_jwrap_init_lazy(&w, jopen());
	o.journal = &w.base;
	ok(oc_diary_open(&la.base, &id, false, &o, &c), "open");
	append_lazy(c, "once");
	cr_expect_eq(w.puts, 0);
	la.lose = 1;
	cr_expect_neq(oc_coll_sync(c), O_OK, "the lost answer went unnoticed");
	cr_expect_eq(w.puts, 1, "%d records written before the pend", w.puts);
	die(&w, c, NULL);
	recovered_as(&id, 1, 0, 1, want, 1, "committed, found by its tag");
}

/*
 * A journal without put_many writes held records one by one: when a put
 * fails part way, those already stored are held no longer, so that their
 * commit drops them from the store (else they would outlive it).
 */
Test(journal, held_records_stored_before_a_failed_put_are_dropped_at_commit)
{
	struct failput           fp;
	struct oc_bid            id;
	struct oc_collection    *c;
	const char *const        want[] = { "a", "b" };

	memset(&fp, 0, sizeof(fp));
	fp.in = jopen();
	oc_journal_init(&fp.base, &fp_ops);
	memcpy(fp.base.node, fp.in->node, sizeof(fp.base.node));
	fp.base.session = fp.in->session;
	oc_bid_random(&id);
	c = diary(&id, &fp.base);
	append_lazy(c, "a");
	append_lazy(c, "b");
	fp.ok_first = 1;
	fp.fail     = 1;
	cr_assert_neq(oc_journal_flush(&fp.base), O_OK, "the failed put");
	cr_expect_eq(oc_journal_held(&fp.base), 1, "a stored, b held");
	ok(oc_coll_sync(c), "sync");
	oc_coll_free(c);
	oc_journal_fini(&fp.base);
	recovered_as(
	    &id, 0, 0, 0, want, 2, "a's stored record dropped at commit");
}

/* A batch write that takes its time: says it started, then waits 100 ms. */
static void
slow_many(struct ot_jwrap *w)
{
	atomic_store((atomic_bool *) w->arg, true);
	usleep(100 * 1000);
}

static void *
flush_once(void *arg)
{
	return (void *) (intptr_t) oc_journal_flush(arg);
}

/*
 * A commit racing a flush that is writing its record (an async close or
 * an fsync flushes while the same diary's appends commit): the flush
 * writes under the buffer's lock, so the commit's drop waits for the
 * write and then deletes the stored record.  Were the held records
 * taken out and written outside the lock, the drop would find the record
 * neither held nor stored yet, and the write would then leave it in the
 * store for good (read at every start).
 */
Test(journal, a_commit_racing_a_flush_leaves_no_record_behind)
{
	struct ot_jwrap       w;
	struct oc_bid         id;
	struct oc_collection *c;
	atomic_bool           in_put;
	pthread_t             t;
	int                   i;
	void                 *fe;
	const char *const     want[] = { "a" };

	oc_bid_random(&id);
	ot_jwrap_init_lazy(&w, jopen());
	atomic_init(&in_put, false);
	w.before_many = slow_many;
	w.arg         = &in_put;
	c             = diary(&id, &w.base);
	append_lazy(c, "a");
	cr_assert_eq(pthread_create(&t, NULL, flush_once, &w.base), 0);
	for (i = 0; !atomic_load(&in_put); i++) {
		cr_assert_lt(i, 5000, "the flush never reached its write");
		usleep(1000);
	}
	ok(oc_coll_sync(c), "sync during the flush's write");
	pthread_join(t, &fe);
	cr_expect_eq((o_err) (intptr_t) fe, O_OK, "the flush failed");
	cr_expect_eq(w.puts, 1, "%d records written", w.puts);
	cr_expect_eq(w.drops, 1, "%d drops of stored records", w.drops);
	die(&w, c, NULL);
	recovered_as(
	    &id, 0, 0, 0, want, 1, "the record dropped at its commit");
}

/*
 * An rmdir's two linked parts (the directory's retirement, then its
 * entry's delete in the parent: fs/ns.c rmdir_shared) journaled by a
 * mount that died before their commit, while another mount created an
 * entry in the directory: recovery drops the retirement (the rival's put
 * wins, tree.h "rt") and with it, by its link, the delete, so the entry
 * still names the directory that now holds the rival's file.
 */
Test(journal, recovered_rmdir_lost_to_a_rival_creation_keeps_its_entry)
{
	struct oc_bid         ip, ipp;
	struct oc_collection *p, *pp;
	struct oc_sync_opts   o = { 0 };
	struct oc_aid         link;
	struct oc_tree_kv     del = { .key = "d", .klen = 1, .del = true };

	struct oc_recover_report rep;

	two_trees(&ip, &ipp, &p, &pp);
	ok(oc_tree_put(pp, "d", 1, "dir", 3), "pp: d");
	ok(oc_coll_sync(pp), "commit d");
	oc_coll_free(pp);
	o.journal = jopen();
	ok(oc_tree_open(env.tx, &ipp, false, &o, &pp), "open pp (journaled)");
	oc_coll_free(p);
	ok(oc_tree_open(env.tx, &ip, false, &o, &p), "open p (journaled)");
	oc_aid_random(&link);
	ok(oc_tree_retire(p, &link), "retire p");
	ok(oc_tree_replace_linked(pp, &del, 1, &link), "delete d");
	oc_coll_free(p); /* the mount dies before the commit */
	oc_coll_free(pp);
	ok(oc_tree_open(env.tx, &ip, false, NULL, &p), "rival opens p");
	ok(oc_tree_put(p, "f", 1, "bytes", 5), "rival creates f");
	ok(oc_coll_sync(p), "rival commits");
	oc_coll_free(p);
	rep = recover();
	cr_expect_eq(rep.records, 2, "%zu records", rep.records);
	cr_expect(
	    ot_tree_holds(env.tx, &ip, "f"), "the rival's file was lost");
	cr_expect(
	    !ot_tree_holds(env.tx, &ip, OC_TREE_RETIRED), "p was retired");
	cr_expect(ot_tree_holds(env.tx, &ipp, "d"),
	    "the entry naming p (and f in it) was deleted");
	rep = recover();
	cr_expect_eq(rep.records, 0, "the dropped parts are forgotten");

	/* the same without the rival: recovery commits both parts */
	two_trees(&ip, &ipp, &p, &pp);
	ok(oc_tree_put(pp, "d", 1, "dir", 3), "pp: d");
	ok(oc_coll_sync(pp), "commit d");
	oc_coll_free(pp);
	oc_coll_free(p);
	o.journal = jopen();
	ok(oc_tree_open(env.tx, &ipp, false, &o, &pp), "open pp (journaled)");
	ok(oc_tree_open(env.tx, &ip, false, &o, &p), "open p (journaled)");
	oc_aid_random(&link);
	ok(oc_tree_retire(p, &link), "retire p");
	ok(oc_tree_replace_linked(pp, &del, 1, &link), "delete d");
	oc_coll_free(p);
	oc_coll_free(pp);
	rep = recover();
	expect_report(&rep, 2, 2, 0, "an rmdir without a rival");
	cr_expect(ot_tree_holds(env.tx, &ip, OC_TREE_RETIRED), "p retired");
	cr_expect(!ot_tree_holds(env.tx, &ipp, "d"), "d deleted");
}

/*
 * A cross-directory rename's linked halves (the target's put, taken
 * first, then the source's conditional delete: fs/ns.c) journaled by a
 * mount that died before their commit, while another mount removed the
 * source name: recovery drops the delete (its condition broke) and, by
 * the link, the put taken before it, so the object does not come back
 * under the target name.  Before the filter ran over every record first,
 * the put was committed before the delete was filtered.
 */
Test(journal, recovered_rename_lost_to_a_rival_removal_drops_its_target)
{
	struct oc_bid            it, is, obj;
	struct oc_collection    *t, *s;
	struct oc_sync_opts      o = { 0 };
	struct oc_aid            link;
	struct oc_recover_report rep;
	struct oc_tree_kv        put = {
		       .key = "to", .klen = 2, .val = "rec", .vlen = 3, .obj = &obj
	};
	struct oc_tree_kv del = {
		.key = "from", .klen = 4, .del = true, .cond = &obj
	};
	struct oc_tree_kv at = {
		.key = "from", .klen = 4, .val = "rec", .vlen = 3, .obj = &obj
	};

	oc_bid_random(&obj);
	two_trees(&it, &is, &t, &s);
	ok(oc_tree_replace(s, &at, 1), "s: from");
	ok(oc_coll_sync(s), "commit from");
	oc_coll_free(s);
	oc_coll_free(t);
	o.journal = jopen();
	ok(oc_tree_open(env.tx, &it, false, &o, &t), "open t (journaled)");
	ok(oc_tree_open(env.tx, &is, false, &o, &s), "open s (journaled)");
	oc_aid_random(&link);
	ok(oc_tree_replace_linked(t, &put, 1, &link), "put to");
	ok(oc_tree_replace_linked(s, &del, 1, &link), "delete from");
	oc_coll_free(t); /* the mount dies before the commit */
	oc_coll_free(s);
	ok(oc_tree_open(env.tx, &is, false, NULL, &s), "rival opens s");
	ok(oc_tree_del(s, "from", 4), "rival removes from");
	ok(oc_coll_sync(s), "rival commits");
	oc_coll_free(s);
	rep = recover();
	expect_report(&rep, 2, 0, 2, "a rename that lost (both dropped)");
	cr_expect(!ot_tree_holds(env.tx, &it, "to"),
	    "the removed object came back under the target name");
	cr_expect(!ot_tree_holds(env.tx, &is, "from"), "the rival's removal");
	rep = recover();
	cr_expect_eq(rep.records, 0, "the dropped halves are forgotten");
}
