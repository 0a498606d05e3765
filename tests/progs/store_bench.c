/*
 * store_bench.c - latency and throughput of the block repository, and a
 * concurrency stress usable under ThreadSanitizer (Criterion itself does
 * not start under TSan).
 *
 *   store_bench DIR sync  [N]        baseline: N raw synced 1 KiB puts
 *   store_bench DIR lat   [N]        one thread: N txns of 1 block
 *   store_bench DIR lat3  [N]        one thread: N txns of 3 blocks
 *   store_bench DIR big   [N]        one thread: N commits of 100 blocks
 *   store_bench DIR conc  T [N]      T threads x N txns, own blocks
 *   store_bench DIR mixed T [N]      T writers on 4 shared blocks (retrying
 *                                    on conflicts) + T readers doing gets
 *
 * A txn is pend + commit; times are per call, in microseconds.  DIR must
 * not exist or be empty.  Exit status 1 on any unexpected error.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/block.h"
#include "core/o_util.h"
#include "core/transactor.h"
#include "store/rdb.h"
#include "store/repo.h"

static struct ost_repo *repo;
static int              stop_readers; /* atomic */

static struct oc_bid
bbid(int t, int k)
{
	struct oc_bid b;

	memset(&b, 0x3c, sizeof(b));
	b.b[0] = (uint8_t) (t >> 8);
	b.b[1] = (uint8_t) t;
	b.b[2] = (uint8_t) (k >> 8);
	b.b[3] = (uint8_t) k;
	return b;
}

static void
fail(const char *what, o_err e)
{
	fprintf(stderr, "store_bench: %s: %s: %s\n", what, o_errname(e),
	    o_err_detail());
	exit(1);
}

static int
u64cmp(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *) a, y = *(const uint64_t *) b;

	return x < y ? -1 : x > y;
}

static void
report(const char *name, uint64_t *ns, size_t n)
{
	qsort(ns, n, sizeof(*ns), u64cmp);
	printf("%-12s n=%zu p50=%.0fus p90=%.0fus p99=%.0fus max=%.0fus\n",
	    name, n, ns[n / 2] / 1e3, ns[n * 9 / 10] / 1e3,
	    ns[n * 99 / 100] / 1e3, ns[n - 1] / 1e3);
}

/* Stage block (t,k) at seq: insert at seq 1, else set "v". */
static void
stage(struct oc_tfs *tfs, int t, int k, int64_t seq)
{
	struct oc_bid id = bbid(t, k), col = bbid(0, 0);

	if (seq == 1) {
		struct oc_val b = oc_block_new(&id, OC_BT_LEAF, &col);

		oc_map_set(&b, "entries", oc_array());
		oc_map_set(&b, "v", oc_int(seq));
		oc_tfs_insert(tfs, b);
	} else if (oc_tfs_update(tfs, &id, oc_op_set("v", oc_int(seq))) !=
	    O_OK) {
		fail("stage", O_EINTERNAL);
	}
}

/* One txn over blocks (t, 0..nb); returns the commit's error. */
static o_err
txn(int t, int nb, int64_t seq, uint64_t *pend_ns, uint64_t *commit_ns)
{
	struct oc_tfs        tfs;
	struct oc_txres      res;
	struct oc_pend_req   pr;
	struct oc_commit_req cr;
	struct oc_bid       *ids = o_malloc(nb * sizeof(*ids));
	uint64_t             t0, t1, t2;
	int                  k;
	o_err                e;

	oc_tfs_init(&tfs);
	for (k = 0; k < nb; k++) {
		stage(&tfs, t, k, seq);
		ids[k] = bbid(t, k);
	}
	memset(&pr, 0, sizeof(pr));
	oc_aid_random(&pr.aid);
	pr.rev    = seq;
	pr.tfs    = &tfs;
	pr.policy = OC_POLICY_RETURN;
	oc_txres_init(&res);
	t0 = o_mono_ns();
	e  = ost_repo_pend(repo, &pr, &res);
	t1 = o_mono_ns();
	if (e == O_OK) {
		memset(&cr, 0, sizeof(cr));
		cr.aid      = pr.aid;
		cr.rev      = seq;
		cr.ids      = ids;
		cr.n        = (size_t) nb;
		cr.critical = ids[0];
		e           = ost_repo_commit(repo, &cr, &res);
	}
	t2 = o_mono_ns();
	if (pend_ns)
		*pend_ns = t1 - t0;
	if (commit_ns)
		*commit_ns = t2 - t1;
	oc_txres_fini(&res);
	oc_tfs_fini(&tfs);
	free(ids);
	return e;
}

static void
single(int nb, int n, const char *name)
{
	uint64_t *p = o_calloc((size_t) n, sizeof(*p));
	uint64_t *c = o_calloc((size_t) n, sizeof(*c));
	char      l[32];
	int       i;
	o_err     e;

	for (i = 0; i < n; i++)
		if ((e = txn(1, nb, i + 1, &p[i], &c[i])) != O_OK)
			fail("txn", e);
	snprintf(l, sizeof(l), "%s.pend", name);
	report(l, p, (size_t) n);
	snprintf(l, sizeof(l), "%s.commit", name);
	report(l, c, (size_t) n);
	free(p);
	free(c);
}

struct th {
	int id, n;
	int ok, conflicts;
};

static void *
conc_worker(void *arg)
{
	struct th *w = arg;
	int        i;
	o_err      e;

	for (i = 0; i < w->n; i++)
		if ((e = txn(w->id, 1, i + 1, NULL, NULL)) != O_OK)
			fail("conc txn", e);
		else
			w->ok++;
	return NULL;
}

/* Writers fight over 4 blocks: read latest, pend rev+1, commit. */
static void *
mixed_writer(void *arg)
{
	struct th *w = arg;

	while (w->ok < w->n) {
		int               k  = (int) (o_rand64() % 4);
		struct oc_bid     id = bbid(0, k);
		struct oc_get_res g;
		o_err             e;

		if ((e = ost_repo_get(repo, &id, 1, NULL, &g)) != O_OK)
			fail("get", e);
		if (g.state == OC_GET_UNKNOWN)
			fail(g.reason, O_EINTERNAL);
		e = txn(0, k + 1, g.latest_rev + 1, NULL, NULL);
		if (e == O_OK)
			w->ok++;
		else if (e == O_ESTALE || e == O_EPENDING)
			w->conflicts++;
		else if (e != O_ENOBASE)
			fail("mixed txn", e);
		oc_get_res_fini(&g);
	}
	return NULL;
}

static void *
reader(void *arg)
{
	struct oc_bid ids[4] = { bbid(0, 0), bbid(0, 1), bbid(0, 2),
		bbid(0, 3) };
	size_t       *n      = arg;

	while (!__atomic_load_n(&stop_readers, __ATOMIC_ACQUIRE)) {
		struct oc_get_res g[4];
		int               k;

		if (ost_repo_get(repo, ids, 4, NULL, g) != O_OK)
			fail("reader get", O_EINTERNAL);
		for (k = 0; k < 4; k++) {
			if (g[k].state == OC_GET_UNKNOWN)
				fail(g[k].reason, O_EINTERNAL);
			oc_get_res_fini(&g[k]);
		}
		(*n)++;
	}
	return NULL;
}

int
main(int argc, char **argv)
{
	const char           *mode;
	struct ost_repo_stats st;
	o_err                 e;
	int                   n, T = 1, i;
	uint64_t              t0;

	if (argc < 3) {
		fprintf(stderr,
		    "usage: store_bench DIR sync|lat|lat3|big|conc|mixed "
		    "[T] [N]\n");
		return 2;
	}
	mode = argv[2];
	if (strcmp(mode, "conc") == 0 || strcmp(mode, "mixed") == 0) {
		T = argc > 3 ? atoi(argv[3]) : 4;
		n = argc > 4 ? atoi(argv[4]) : 500;
	} else {
		n = argc > 3 ? atoi(argv[3]) : 2000;
	}
	if (T < 1 || T > 64 || n < 1)
		return 2;
	if (strcmp(mode, "sync") == 0) {
		struct ost_rdb *db;
		struct ost_wb   wb, *p = &wb;
		uint64_t       *ns = o_calloc((size_t) n, sizeof(*ns));
		char            v[1024];

		memset(v, 'x', sizeof(v));
		if ((e = ost_rdb_open(argv[1], &db)) != O_OK)
			fail("open", e);
		ost_wb_init(&wb);
		for (i = 0; i < n; i++) {
			uint64_t a;

			ost_wb_reset(&wb);
			ost_wb_put(
			    &wb, OST_CF_REV, &i, sizeof(i), v, sizeof(v));
			a = o_mono_ns();
			if ((e = ost_rdb_write(db, &p, 1, true)) != O_OK)
				fail("write", e);
			ns[i] = o_mono_ns() - a;
		}
		report("raw.sync", ns, (size_t) n);
		ost_wb_fini(&wb);
		ost_rdb_close(db);
		free(ns);
		return 0;
	}
	if ((e = ost_repo_open(argv[1], NULL, &repo)) != O_OK)
		fail("open", e);
	t0 = o_mono_ns();
	if (strcmp(mode, "lat") == 0) {
		single(1, n, "1blk");
	} else if (strcmp(mode, "lat3") == 0) {
		single(3, n, "3blk");
	} else if (strcmp(mode, "big") == 0) {
		single(100, n, "100blk");
	} else if (strcmp(mode, "conc") == 0 || strcmp(mode, "mixed") == 0) {
		bool      mixed = strcmp(mode, "mixed") == 0;
		pthread_t th[64], rth[64];
		struct th w[64];
		size_t    reads[64] = { 0 }, nreads = 0;
		int       ok = 0, conflicts = 0;
		double    s;

		if (mixed) /* create the 4 shared blocks */
			for (i = 0; i < 4; i++)
				if ((e = txn(0, i + 1, i + 1, NULL, NULL)) !=
				    O_OK)
					fail("setup", e);
		for (i = 0; i < T; i++) {
			w[i] = (struct th) { .id = i + 1, .n = n };
			pthread_create(&th[i], NULL,
			    mixed ? mixed_writer : conc_worker, &w[i]);
			if (mixed)
				pthread_create(
				    &rth[i], NULL, reader, &reads[i]);
		}
		for (i = 0; i < T; i++) {
			pthread_join(th[i], NULL);
			ok += w[i].ok;
			conflicts += w[i].conflicts;
		}
		__atomic_store_n(&stop_readers, 1, __ATOMIC_RELEASE);
		if (mixed)
			for (i = 0; i < T; i++) {
				pthread_join(rth[i], NULL);
				nreads += reads[i];
			}
		s = (o_mono_ns() - t0) / 1e9;
		printf("%s T=%d: %d txns in %.2fs = %.0f txn/s, %d conflicts, "
		       "%zu reads\n",
		    mode, T, ok, s, ok / s, conflicts, nreads);
	} else {
		fprintf(stderr, "unknown mode %s\n", mode);
		return 2;
	}
	ost_repo_stats(repo, &st);
	printf("stats: commits=%llu groups=%llu (%.2f commits/write) "
	       "hits=%llu loads=%llu replayed=%llu mats=%llu\n",
	    (unsigned long long) st.commits, (unsigned long long) st.groups,
	    st.groups ? (double) st.commits / st.groups : 0.0,
	    (unsigned long long) st.cache_hits,
	    (unsigned long long) st.cache_loads,
	    (unsigned long long) st.replayed,
	    (unsigned long long) st.mat_writes);
	ost_repo_close(repo);
	return 0;
}
