/*
 * test_crash.c - kill -9 a writer at random moments and check that every
 * acknowledged commit survived and no partial commit is visible (digest
 * 10.8 item 75, for real: tests/progs/crash_child.c is the writer).
 *
 * Each round starts crash_child on the same directory, waits for "ready",
 * lets it commit for a random 5-80 ms, SIGKILLs it, collects the "acked T
 * SEQ" lines it wrote, reopens the repository here and checks, for each
 * writer thread T: its three blocks agree (same latest rev, same "v" = that
 * rev, so no partial commit), the latest is the last acked seq or the one
 * after it (a commit may be durable but unacknowledged), and every seq
 * acked in this round reads back pinned at its revision.  The child's
 * write-ahead log is preallocated by extending it (store/rdb_wal.cc), so
 * a kill leaves zeros past its last record; the rounds check that the
 * store reopens over them with nothing lost, and that they were there.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <criterion/criterion.h>

#include "core/block.h"
#include "core/transactor.h"
#include "store/repo.h"
#include "util/testutil.h"

#define NTHREADS 3
#define ROUNDS 30

TestSuite(crash, .timeout = 180);

static struct oc_bid
cbid(int t, int k)
{
	struct oc_bid b;

	memset(&b, 0xc7, sizeof(b));
	b.b[0] = (uint8_t) t;
	b.b[1] = (uint8_t) k;
	return b;
}

struct acks {
	int64_t *seq[NTHREADS];
	size_t   n[NTHREADS], cap[NTHREADS];
};

static void
acks_add(struct acks *a, int t, int64_t seq)
{
	if (a->n[t] == a->cap[t]) {
		a->cap[t] = a->cap[t] ? 2 * a->cap[t] : 256;
		a->seq[t] = realloc(a->seq[t], a->cap[t] * sizeof(int64_t));
		cr_assert_not_null(a->seq[t]);
	}
	a->seq[t][a->n[t]++] = seq;
}

/* Parse complete lines of buf[0..*len), keep the remainder. */
static void
parse_lines(char *buf, size_t *len, struct acks *a, bool *ready)
{
	char  *p = buf, *nl;
	size_t rest;

	while ((nl = memchr(p, '\n', *len - (size_t) (p - buf))) != NULL) {
		int       t;
		long long s;

		*nl = '\0';
		if (strcmp(p, "ready") == 0)
			*ready = true;
		else if (sscanf(p, "acked %d %lld", &t, &s) == 2 && t >= 0 &&
		    t < NTHREADS)
			acks_add(a, t, s);
		else
			cr_assert_fail("bad line from child: '%s'", p);
		p = nl + 1;
	}
	rest = *len - (size_t) (p - buf);
	memmove(buf, p, rest);
	*len = rest;
}

/* Read from fd into buf until ready (or EOF when until_eof). */
static void
pump(int fd, char *buf, size_t *len, size_t cap, struct acks *a, bool *ready,
    bool until_eof)
{
	for (;;) {
		struct pollfd pf = { .fd = fd, .events = POLLIN };
		ssize_t       r;

		if (!until_eof && *ready)
			return;
		cr_assert(poll(&pf, 1, 20000) == 1, "child silent for 20 s");
		r = read(fd, buf + *len, cap - *len);
		if (r < 0 && errno == EINTR)
			continue;
		cr_assert(r >= 0, "read: %s", strerror(errno));
		if (r == 0)
			return;
		*len += (size_t) r;
		parse_lines(buf, len, a, ready);
	}
}

/* Whether the largest write-ahead log (*.log) in dir (ost_repo_open's
 * RocksDB directory) ends in 4 KiB of zeros: preallocated space its
 * writer never reached. */
static bool
log_ends_in_zeros(const char *dir)
{
	char      best[4096 + 256] = "";
	long long max              = ot_largest_log(dir, best, sizeof(best));
	uint8_t   tail[4096];
	bool      zeros = false;
	int       fd;
	size_t    i;

	cr_assert(access(dir, R_OK) == 0, "no store in %s", dir);
	if (max < (long long) sizeof(tail) || (fd = open(best, O_RDONLY)) < 0)
		return false;
	if (pread(
	        fd, tail, sizeof(tail), (off_t) max - (off_t) sizeof(tail)) ==
	    (ssize_t) sizeof(tail)) {
		zeros = true;
		for (i = 0; i < sizeof(tail) && zeros; i++)
			zeros = tail[i] == 0;
	}
	close(fd);
	return zeros;
}

/* Check the repository after a round; prev[t]: latest seen before. */
static void
verify(const char *dir, struct acks *a, int64_t prev[NTHREADS], int round)
{
	struct ost_repo *r;
	int              t, k;
	size_t           i;

	cr_assert_eq(ost_repo_open(dir, NULL, &r), O_OK, "round %d: %s", round,
	    o_err_detail());
	for (t = 0; t < NTHREADS; t++) {
		struct oc_bid ids[3] = { cbid(t, 0), cbid(t, 1), cbid(t, 2) };
		struct oc_get_res g[3];
		int64_t           last = prev[t], latest;

		for (i = 0; i < a->n[t]; i++) {
			cr_assert_eq(a->seq[t][i], last + 1,
			    "round %d thread %d: acks out of order", round, t);
			last = a->seq[t][i];
		}
		cr_assert_eq(ost_repo_get(r, ids, 3, NULL, g), O_OK);
		latest = g[0].latest_rev;
		for (k = 0; k < 3; k++) {
			if (latest == 0) {
				cr_assert_eq(g[k].state, OC_GET_ABSENT);
				continue;
			}
			cr_assert_eq(g[k].state, OC_GET_BLOCK,
			    "round %d t%d block %d: state %d %s", round, t, k,
			    g[k].state, g[k].reason);
			cr_assert_eq(g[k].latest_rev, latest,
			    "round %d t%d: partial commit: block %d at %lld, "
			    "block 0 at %lld",
			    round, t, k, (long long) g[k].latest_rev,
			    (long long) latest);
			cr_assert_eq(oc_map_int(&g[k].block, "v", -1), latest,
			    "round %d t%d block %d content", round, t, k);
			/* at most the one in flight, on all three (atomic) */
			cr_assert(g[k].npend <= 1 && g[k].npend == g[0].npend,
			    "round %d t%d block %d: %zu pendings", round, t, k,
			    g[k].npend);
		}
		cr_assert(latest == last || latest == last + 1,
		    "round %d t%d: latest %lld, last acked %lld", round, t,
		    (long long) latest, (long long) last);
		for (k = 0; k < 3; k++)
			oc_get_res_fini(&g[k]);
		/* every acked seq of this round reads back at its rev, or,
		 * older than the last window the store keeps (16 revisions),
		 * says its history is pruned (never absent) */
		for (i = 0; i < a->n[t]; i++) {
			struct oc_actx ctx;

			oc_actx_init(&ctx);
			ctx.rev = a->seq[t][i];
			cr_assert_eq(ost_repo_get(r, ids, 3, &ctx, g), O_OK);
			for (k = 0; k < 3; k++) {
				if (g[k].state == OC_GET_UNKNOWN &&
				    g[k].cause == O_ESTALE &&
				    ctx.rev < latest - 16) {
					oc_get_res_fini(&g[k]);
					continue;
				}
				cr_assert_eq(g[k].state, OC_GET_BLOCK,
				    "round %d t%d acked %lld: state %d %s",
				    round, t, (long long) ctx.rev, g[k].state,
				    g[k].reason);
				cr_assert_eq(g[k].mat_rev, ctx.rev);
				cr_assert_eq(oc_map_int(&g[k].block, "v", -1),
				    ctx.rev, "round %d t%d acked %lld lost",
				    round, t, (long long) ctx.rev);
				oc_get_res_fini(&g[k]);
			}
		}
		prev[t] = latest;
		a->n[t] = 0;
	}
	ost_repo_close(r);
}

/* ROUNDS kills of crash_child in one directory; lazy: its store syncs its
 * log lazily (acknowledged commits are in the kernel's hands only). */
static void
crash_rounds(bool lazy)
{
	char       *dir  = ot_tmpdir("crash");
	char       *prog = ot_prog_path("crash_child");
	struct acks a;
	int64_t     prev[NTHREADS] = { 0 };
	unsigned    seed  = (unsigned) time(NULL) ^ (unsigned) getpid();
	size_t      total = 0;
	int         round, t, zero_tails = 0;
	static char buf[1 << 16];

	memset(&a, 0, sizeof(a));
	cr_log_info("seed %u", seed);
	for (round = 0; round < ROUNDS; round++) {
		int             fds[2], status;
		pid_t           pid;
		size_t          len   = 0;
		bool            ready = false;
		long            delay = 5 + (long) (rand_r(&seed) % 76);
		struct timespec ts    = { 0, delay * 1000000L };

		cr_assert_eq(pipe(fds), 0);
		pid = fork();
		cr_assert(pid >= 0);
		if (pid == 0) {
			char threads[8];

			snprintf(threads, sizeof(threads), "%d", NTHREADS);
			dup2(fds[1], 1);
			close(fds[0]);
			close(fds[1]);
			execl(prog, prog, dir, threads, lazy ? "lazy" : NULL,
			    (char *) NULL);
			_exit(127);
		}
		close(fds[1]);
		pump(fds[0], buf, &len, sizeof(buf), &a, &ready, false);
		cr_assert(ready, "round %d: child never became ready", round);
		nanosleep(&ts, NULL);
		kill(pid, SIGKILL);
		cr_assert_eq(waitpid(pid, &status, 0), pid);
		pump(fds[0], buf, &len, sizeof(buf), &a, &ready, true);
		close(fds[0]);
		cr_assert(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL,
		    "round %d: child exited on its own (status %d, seed %u)",
		    round, status, seed);
		for (t = 0; t < NTHREADS; t++)
			total += a.n[t];
		zero_tails += log_ends_in_zeros(dir);
		verify(dir, &a, prev, round);
	}
	cr_log_info("%zu acked commits over %d rounds; final seqs %lld %lld "
	            "%lld",
	    total, ROUNDS, (long long) prev[0], (long long) prev[1],
	    (long long) prev[2]);
	cr_expect_gt(total, 100, "the child should get some work done");
	cr_expect_gt(zero_tails, 0,
	    "no round left a log with a preallocated tail: recovery over one "
	    "was not exercised");
	for (t = 0; t < NTHREADS; t++)
		free(a.seq[t]);
	free(prog);
	ot_rmtree_free(dir);
}

Test(crash, d75_sigkill_loses_no_acked_commit)
{
	crash_rounds(false);
}

/* A commit acknowledged before its log reached the disk (a single node's
 * default: close waits for the commit, fsync for the disk) is in the
 * kernel's page cache, which a killed process does not take with it. */
Test(crash, sigkill_loses_no_lazily_synced_commit)
{
	crash_rounds(true);
}
