/*
 * test_ahead.c - diary read-ahead (fs/ahead.h) over a real repository:
 * told where a reader stopped, the thread leaves that block and the
 * OFS_AHEAD_BLOCKS after it decoded in the store's cache (a later get
 * is a hit, not a load) and no further; it stops at the log's tail, and
 * stops cleanly with requests outstanding.
 */
#include <string.h>
#include <unistd.h>

#include <criterion/criterion.h>

#include "core/block.h"
#include "core/collection.h"
#include "core/diary.h"
#include "core/o_util.h"
#include "fs/ahead.h"
#include "store/local.h"
#include "store/repo.h"
#include "util/testutil.h"

TestSuite(ahead, .timeout = 60);

#define NBLK (OFS_AHEAD_BLOCKS + 4) /* log blocks written */

static char                 *dir;
static struct ost_repo      *repo;
static struct oc_transactor *tx;
static struct oc_bid         blks[NBLK + 2]; /* the log's blocks in order */
static size_t                nblk;

static void
repo_open(void)
{
	OT_OK(ost_repo_open(dir, NULL, &repo), "open repo");
	tx = ost_local_transactor(repo);
}

static void
repo_close(void)
{
	ost_repo_close(repo);
}

/* The block's bid field k (false: none). */
static bool
field_of(const struct oc_bid *id, const char *k, struct oc_bid *out)
{
	struct oc_get_res r;
	bool              found;

	oc_get_res_init(&r);
	OT_OK(tx->ops->get(tx, id, 1, NULL, &r), "get");
	cr_assert_eq(r.state, OC_GET_BLOCK);
	found = oc_map_bid(&r.block, k, out);
	oc_get_res_fini(&r);
	return found;
}

/* A diary of 32 one-entry commits per log block, NBLK blocks; then the
 * repository reopened, so nothing is cached. */
static void
setup(void)
{
	struct oc_collection *c;
	struct oc_bid         id;
	char                  line[1024];
	int                   i;

	dir = ot_tmpdir("ahead");
	repo_open();
	o_random(id.b, sizeof(id.b));
	OT_OK(oc_diary_open(tx, &id, true, NULL, &c), "create");
	memset(line, 'a', sizeof(line));
	for (i = 0; i < 32 * NBLK; i++) {
		OT_OK(oc_diary_append(c, line, sizeof(line)), "append");
		OT_OK(oc_coll_sync(c), "sync");
	}
	oc_coll_free(c);
	cr_assert(field_of(&id, "head", &blks[0]));
	for (nblk = 1; nblk < NBLK + 2 &&
	     field_of(&blks[nblk - 1], "next", &blks[nblk]);
	     nblk++)
		;
	cr_assert_geq(nblk, NBLK, "only %zu log blocks", nblk);
	repo_close();
	repo_open();
}

static void
teardown(void)
{
	repo_close();
	ot_rmtree_free(dir);
}

/* Wait until the thread has read n blocks (and a little more, to see
 * that it reads no further). */
static void
wait_loaded(struct ofs_ahead *a, uint64_t n)
{
	int i;

	for (i = 0; i < 2000 && ofs_ahead_loaded(a) < n; i++)
		usleep(10000); /* 20 s: only for a broken build */
	usleep(50000);
	cr_assert_eq(ofs_ahead_loaded(a), n);
}

static uint64_t
loads(void)
{
	struct ost_repo_stats st;

	ost_repo_stats(repo, &st);
	return st.cache_loads;
}

Test(ahead, reads_the_next_blocks_into_the_store_cache, .init = setup,
    .fini = teardown)
{
	struct ofs_ahead *a;
	uint64_t          before;
	size_t            i;

	OT_OK(ofs_ahead_start(tx, &a), "start");
	ofs_ahead_want(a, &blks[1]);
	wait_loaded(a, OFS_AHEAD_BLOCKS + 1);
	/* blocks 1 .. 1 + OFS_AHEAD_BLOCKS are cached; the one after not */
	before = loads();
	for (i = 1; i <= 1 + OFS_AHEAD_BLOCKS; i++) {
		struct oc_bid nx;

		(void) field_of(&blks[i], "next", &nx);
	}
	cr_expect_eq(loads(), before, "%llu loads for blocks read ahead",
	    (unsigned long long) (loads() - before));
	(void) field_of(&blks[2 + OFS_AHEAD_BLOCKS], "next", &blks[nblk]);
	cr_expect_eq(loads(), before + 1, "the block after was read ahead");
	/* a reader two blocks on: only what is new is read */
	ofs_ahead_want(a, &blks[3]);
	wait_loaded(a, OFS_AHEAD_BLOCKS + 3);
	ofs_ahead_stop(a);
}

Test(ahead, stops_at_the_tail, .init = setup, .fini = teardown)
{
	struct ofs_ahead *a;

	OT_OK(ofs_ahead_start(tx, &a), "start");
	ofs_ahead_want(a, &blks[nblk - 2]);
	wait_loaded(a, 2); /* the block and the tail, which has no next */
	ofs_ahead_stop(a);
}

Test(ahead, stops_with_requests_outstanding, .init = setup, .fini = teardown)
{
	struct ofs_ahead *a;
	size_t            i;

	ofs_ahead_want(NULL, &blks[0]); /* no read-ahead: no-op */
	ofs_ahead_stop(NULL);
	OT_OK(ofs_ahead_start(tx, &a), "start");
	for (i = 0; i < nblk; i++)
		ofs_ahead_want(a, &blks[i]);
	ofs_ahead_stop(a);
}
