/*
 * bench_core.c - commit throughput of the engine against raw synced
 * RocksDB writes of the same payload, measured in the same run.
 *
 *   bench_core DIR MODE SECONDS
 *     MODE raw60     synced RocksDB write of one 60-byte value per commit
 *          raw6000   synced RocksDB write of 100 x 60 bytes per commit
 *          single    diary append of one 60-byte line + sync
 *          batch100  100 appends of 60 bytes + one sync
 *          threads8  8 threads, each single-append commits on its own diary
 * Prints "MODE commits N seconds S rate R".
 */
#include <pthread.h>
#include <stdio.h>
#include <string.h>

#include "core/diary.h"
#include "store/local.h"
#include "store/rdb.h"
#include "store/repo.h"

static double secs;
static char   line[61];

static double
now_s(void)
{
	return (double) o_mono_ns() / 1e9;
}

static void
die(o_err e, const char *what)
{
	fprintf(stderr, "bench_core: %s: %s (%s)\n", what, o_errname(e),
	    o_err_detail());
	exit(1);
}

static void
raw(const char *dir, size_t bytes, const char *label)
{
	struct ost_rdb *db;
	struct ost_wb   wb;
	struct ost_wb  *wbp = &wb;
	uint8_t        *val = malloc(bytes);
	uint64_t        n   = 0;
	double          t0, t;
	o_err           e;

	memset(val, 'x', bytes);
	if ((e = ost_rdb_open(dir, &db)) != O_OK)
		die(e, "open");
	ost_wb_init(&wb);
	t0 = now_s();
	do {
		char key[40];
		int  kl = snprintf(key, sizeof(key), "k%020llu",
		     (unsigned long long) n);

		ost_wb_reset(&wb);
		ost_wb_put(&wb, OST_CF_REV, key, (size_t) kl, val, bytes);
		if ((e = ost_rdb_write(db, &wbp, 1, true)) != O_OK)
			die(e, "write");
		n++;
		t = now_s();
	} while (t - t0 < secs);
	printf("%s commits %llu seconds %.3f rate %.1f\n", label,
	    (unsigned long long) n, t - t0, n / (t - t0));
	ost_wb_fini(&wb);
	ost_rdb_close(db);
	free(val);
}

struct th {
	struct oc_transactor *tx;
	int                   per_commit;
	uint64_t              commits;
	double                until;
};

static void *
run_diary(void *arg)
{
	struct th            *t = arg;
	struct oc_collection *c;
	struct oc_bid         id;
	o_err                 e;
	int                   i;

	oc_bid_random(&id);
	if ((e = oc_diary_open(t->tx, &id, true, NULL, &c)) != O_OK ||
	    (e = oc_coll_sync(c)) != O_OK)
		die(e, "create diary");
	while (now_s() < t->until) {
		for (i = 0; i < t->per_commit; i++)
			if ((e = oc_diary_append(c, line, 60)) != O_OK)
				die(e, "append");
		if ((e = oc_coll_sync(c)) != O_OK)
			die(e, "sync");
		t->commits++;
	}
	oc_coll_free(c);
	return NULL;
}

static void
engine(const char *dir, int threads, int per_commit, const char *label)
{
	struct ost_repo *r;
	struct th        t[8];
	pthread_t        pt[8];
	uint64_t         n = 0;
	double           t0;
	int              i;
	o_err            e;

	if ((e = ost_repo_open(dir, NULL, &r)) != O_OK)
		die(e, "open repo");
	t0 = now_s();
	for (i = 0; i < threads; i++) {
		t[i].tx         = ost_local_transactor(r);
		t[i].per_commit = per_commit;
		t[i].commits    = 0;
		t[i].until      = t0 + secs;
		pthread_create(&pt[i], NULL, run_diary, &t[i]);
	}
	for (i = 0; i < threads; i++) {
		pthread_join(pt[i], NULL);
		n += t[i].commits;
	}
	printf("%s commits %llu seconds %.3f rate %.1f\n", label,
	    (unsigned long long) n, now_s() - t0, n / (now_s() - t0));
	{
		struct ost_repo_stats st;

		ost_repo_stats(r, &st);
		fprintf(stderr,
		    "%s: %llu commits in %llu synced writes (%.2f per write), "
		    "%llu materialisations\n",
		    label, (unsigned long long) st.commits,
		    (unsigned long long) st.groups,
		    st.groups ? (double) st.commits / st.groups : 0.0,
		    (unsigned long long) st.mat_writes);
	}
	ost_repo_close(r);
}

int
main(int argc, char **argv)
{
	if (argc != 4) {
		fprintf(stderr, "usage: bench_core DIR MODE SECONDS\n");
		return 2;
	}
	secs = atof(argv[3]);
	memset(line, 'l', 59);
	line[59] = '\n';
	if (strcmp(argv[2], "raw60") == 0)
		raw(argv[1], 60, argv[2]);
	else if (strcmp(argv[2], "raw6000") == 0)
		raw(argv[1], 6000, argv[2]);
	else if (strcmp(argv[2], "single") == 0)
		engine(argv[1], 1, 1, argv[2]);
	else if (strcmp(argv[2], "batch100") == 0)
		engine(argv[1], 1, 100, argv[2]);
	else if (strcmp(argv[2], "threads8") == 0)
		engine(argv[1], 8, 1, argv[2]);
	else {
		fprintf(stderr, "bench_core: unknown mode %s\n", argv[2]);
		return 2;
	}
	return 0;
}
