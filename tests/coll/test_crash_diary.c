/*
 * test_crash_diary.c - a child appends to a diary and is killed with
 * SIGKILL at random moments, many rounds on one repository.  After each
 * round the repository is reopened here: every acknowledged line is present
 * exactly once and in order, nothing beyond what a sync could have carried
 * is present, no partial commit is visible (the lines form one gapless
 * sequence), and the diary's hash chain verifies.
 */
#include <criterion/criterion.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "core/diary.h"
#include "core/log.h"
#include "store/local.h"
#include "store/repo.h"
#include "util/testutil.h"

TestSuite(crash, .timeout = 300);

struct seen {
	long long *v;
	size_t     n;
};

static int
seen_cb(void *arg, int64_t rev, const uint8_t *d, size_t n)
{
	struct seen *s = arg;
	char         buf[32];
	long long    k;

	(void) rev;
	cr_assert_lt(n, sizeof(buf));
	memcpy(buf, d, n);
	buf[n] = '\0';
	cr_assert_eq(sscanf(buf, "n=%lld", &k), 1, "torn line '%s'", buf);
	s->v    = realloc(s->v, sizeof(long long) * (s->n + 1));
	s->v[s->n++] = k;
	return 0;
}

/* Run the child until killed; returns the last acknowledged line. */
static long long
run_child(const char *prog, const char *dir, const char *idhex,
    long long start, int kill_after_ms)
{
	int       fds[2];
	pid_t     pid;
	char      sbuf[32];
	long long last = start - 1;
	FILE     *in;
	char      line[128];
	int       status;
	uint64_t  t0 = 0;

	snprintf(sbuf, sizeof(sbuf), "%lld", start);
	cr_assert_eq(pipe(fds), 0);
	pid = fork();
	cr_assert_neq(pid, -1);
	if (pid == 0) {
		dup2(fds[1], 1);
		close(fds[0]);
		execl(prog, prog, dir, idhex, sbuf, (char *) NULL);
		_exit(127);
	}
	close(fds[1]);
	in = fdopen(fds[0], "r");
	while (fgets(line, sizeof(line), in) != NULL) {
		long long k;

		if (strncmp(line, "ready", 5) == 0) {
			t0 = o_mono_ns();
			continue;
		}
		if (sscanf(line, "acked %lld", &k) == 1)
			last = k;
		if (t0 && o_mono_ns() - t0 > (uint64_t) kill_after_ms * 1000000)
			kill(pid, SIGKILL);
	}
	fclose(in);
	waitpid(pid, &status, 0);
	cr_assert(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL,
	    "child did not die by SIGKILL (status %d)", status);
	return last;
}

Test(crash, diary_sigkill_rounds_lose_no_acked_line)
{
	char         *dir  = ot_tmpdir("crashdiary");
	char         *prog = ot_prog_path("crash_diary");
	struct oc_bid id;
	char          idhex[65];
	long long     acked = 0, next = 1;
	int           round;

	oc_bid_random(&id);
	o_hex(id.b, 32, idhex);
	for (round = 0; round < 25; round++) {
		struct ost_repo      *r;
		struct oc_collection *c;
		struct seen           s = { 0 };
		struct oc_txsrc       src;
		struct oc_log_report  rep;
		size_t                i;
		long long             a;

		a = run_child(prog, dir, idhex, next,
		    5 + (int) (o_rand64() % 120));
		if (a > acked)
			acked = a;
		cr_assert_eq(ost_repo_open(dir, NULL, &r), O_OK, "%s",
		    o_err_detail());
		if (oc_diary_open(ost_local_transactor(r), &id, false, NULL, &c) ==
		    O_ENOTFOUND) {
			cr_assert_eq(acked, 0, "acked lines but no diary");
			ost_repo_close(r);
			continue;
		}
		cr_assert_eq(oc_diary_scan(c, 0, true, seen_cb, &s), O_OK);
		/* one gapless sequence 1..m with m >= acked */
		for (i = 0; i < s.n; i++)
			cr_assert_eq(s.v[i], (long long) i + 1,
			    "round %d: line %zu is n=%lld", round, i, s.v[i]);
		cr_assert_geq((long long) s.n, acked,
		    "round %d: %zu lines but %lld acknowledged", round, s.n,
		    acked);
		next  = (long long) s.n + 1;
		acked = (long long) s.n;
		oc_txsrc_init(&src, ost_local_transactor(r), NULL);
		cr_assert_eq(oc_log_verify(&src.base, &id, &rep, NULL, NULL), O_OK,
		    "round %d: %s", round, rep.why);
		cr_assert(rep.ok);
		free(s.v);
		oc_coll_free(c);
		ost_repo_close(r);
	}
	cr_assert_gt(acked, 25, "the child acknowledged only %lld lines", acked);
	free(prog);
	ot_rmtree_free(dir);
}
