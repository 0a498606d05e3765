/*
 * crash_child.c - a writer for the store's crash test (tests/store/
 * test_crash.c), meant to be killed with SIGKILL at a random moment.
 *
 *   crash_child DIR [THREADS [lazy]]
 *
 * lazy: the repository syncs its log lazily (ost_repo_opts.lazy_sync), so
 * a commit is acknowledged before it reaches the disk; a kill must lose
 * none of them all the same.
 *
 * Opens the repository in DIR and prints "ready\n".  Then each of THREADS
 * (default 3) threads t runs transactions seq = 1, 2, ... on its own three
 * blocks (t,0) (t,1) (t,2), continuing after whatever a previous run left:
 * transaction seq pends and commits, at rev seq, a block whose "v" is seq on
 * all three (inserted at seq 1, set afterwards; block (t,2) also appends seq
 * to its "entries", keeping the last 8, so it grows and shrinks).  After a
 * commit returns O_OK the thread writes "acked T SEQ\n" to stdout with one
 * write(2), so the parent sees exactly what was acknowledged.  Pendings left
 * by a killed predecessor are cancelled (this child is the only writer).
 *
 * Exit status: killed, normally; 2 if the repository does not open; 3 if the
 * state found is inconsistent or a transaction is refused.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/block.h"
#include "core/o_util.h"
#include "core/transactor.h"
#include "store/repo.h"

static struct ost_repo *repo;

static struct oc_bid
cbid(int t, int k)
{
	struct oc_bid b;

	memset(&b, 0xc7, sizeof(b));
	b.b[0] = (uint8_t) t;
	b.b[1] = (uint8_t) k;
	return b;
}

static void
die(int t, const char *what, o_err e)
{
	fprintf(stderr, "crash_child[%d]: %s: %s: %s\n", t, what, o_errname(e),
	    o_err_detail());
	exit(3);
}

static void
add_tf(struct oc_tfs *tfs, int t, int k, int64_t seq)
{
	struct oc_bid id = cbid(t, k), col = cbid(t, 99);

	if (seq == 1) {
		struct oc_val b = oc_block_new(&id, OC_BT_LEAF, &col);
		struct oc_val a = oc_array();

		if (k == 2)
			oc_arr_push(&a, oc_int(seq));
		oc_map_set(&b, "entries", a);
		oc_map_set(&b, "v", oc_int(seq));
		oc_tfs_insert(tfs, b);
		return;
	}
	if (oc_tfs_update(tfs, &id, oc_op_set("v", oc_int(seq))) != O_OK)
		die(t, "stage", O_EINTERNAL);
	if (k == 2) {
		struct oc_val a   = oc_array();
		uint32_t      len = (uint32_t) (seq - 1 < 8 ? seq - 1 : 8);

		oc_arr_push(&a, oc_int(seq));
		oc_tfs_update(tfs, &id, oc_op_splice("entries", len, 0, a));
		if (len == 8)
			oc_tfs_update(tfs, &id,
			    oc_op_splice("entries", 0, 1, oc_array()));
	}
}

static void *
writer(void *arg)
{
	int               t      = (int) (intptr_t) arg;
	struct oc_bid     ids[3] = { cbid(t, 0), cbid(t, 1), cbid(t, 2) };
	struct oc_get_res g[3];
	int64_t           seq;
	int               k;
	o_err             e;

	if ((e = ost_repo_get(repo, ids, 3, NULL, g)) != O_OK)
		die(t, "get", e);
	for (k = 0; k < 3; k++)
		if (g[k].state == OC_GET_UNKNOWN || g[k].state != g[0].state ||
		    g[k].latest_rev != g[0].latest_rev)
			die(t, "inconsistent start state", O_ECORRUPT);
	seq = g[0].latest_rev + 1;
	for (k = 0; k < 3; k++)
		oc_get_res_fini(&g[k]);

	for (;; seq++) {
		struct oc_tfs        tfs;
		struct oc_txres      res;
		struct oc_pend_req   pr;
		struct oc_commit_req cr;
		char                 line[64];
		int                  n;

		oc_tfs_init(&tfs);
		for (k = 0; k < 3; k++)
			add_tf(&tfs, t, k, seq);
		memset(&pr, 0, sizeof(pr));
		oc_aid_random(&pr.aid);
		pr.rev    = seq;
		pr.tfs    = &tfs;
		pr.policy = OC_POLICY_FAIL;
		oc_txres_init(&res);
		e = ost_repo_pend(repo, &pr, &res);
		if (e == O_EPENDING) {
			/* leftovers of a killed predecessor */
			size_t i;

			/* one call per action: atomic over its blocks */
			for (i = 0; i < res.npending; i++)
				ost_repo_cancel(
				    repo, &res.pending[i].aid, ids, 3);
			oc_txres_fini(&res);
			oc_txres_init(&res);
			e = ost_repo_pend(repo, &pr, &res);
		}
		if (e != O_OK)
			die(t, "pend", e);
		memset(&cr, 0, sizeof(cr));
		cr.aid      = pr.aid;
		cr.rev      = seq;
		cr.ids      = ids;
		cr.n        = 3;
		cr.critical = ids[0];
		if ((e = ost_repo_commit(repo, &cr, &res)) != O_OK)
			die(t, "commit", e);
		if (res.reason[0] != '\0')
			die(t, res.reason, O_EINTERNAL);
		n = snprintf(
		    line, sizeof(line), "acked %d %lld\n", t, (long long) seq);
		if (write(1, line, (size_t) n) != n)
			die(t, "write ack", O_EIO);
		oc_txres_fini(&res);
		oc_tfs_fini(&tfs);
	}
	return NULL;
}

int
main(int argc, char **argv)
{
	int                  nthreads = argc > 2 ? atoi(argv[2]) : 3;
	struct ost_repo_opts ro       = { 0 };
	pthread_t            th[16];
	int                  i;
	o_err                e;

	if (argc < 2 || argc > 4 || nthreads < 1 || nthreads > 16 ||
	    (argc == 4 && strcmp(argv[3], "lazy") != 0)) {
		fprintf(stderr, "usage: crash_child DIR [THREADS [lazy]]\n");
		return 2;
	}
	ro.lazy_sync = argc == 4;
	if ((e = ost_repo_open(argv[1], &ro, &repo)) != O_OK) {
		fprintf(stderr, "crash_child: open %s: %s\n", argv[1],
		    o_err_detail());
		return 2;
	}
	if (write(1, "ready\n", 6) != 6)
		return 2;
	for (i = 0; i < nthreads; i++)
		pthread_create(&th[i], NULL, writer, (void *) (intptr_t) i);
	for (i = 0; i < nthreads; i++)
		pthread_join(th[i], NULL);
	ost_repo_close(repo);
	return 0;
}
