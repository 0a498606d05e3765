/*
 * test_node.c - cluster nodes in one process: each has its own RocksDB
 * store in a temp dir and talks to the others over real nng sockets on
 * 127.0.0.1 (tcp:// and mutual TLS).  Collections opened on one node's
 * network transactor are read through another's.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <criterion/criterion.h>
#include <nng/nng.h>
#include <nng/protocol/reqrep0/rep.h>
#include <nng/protocol/reqrep0/req.h>

#include "core/block.h"
#include "core/codec.h"
#include "core/diary.h"
#include "core/o_util.h"
#include "core/tree.h"
#include "store/journal.h"
#include "store/local.h"
#include "store/repo.h"
#include "transport/node.h"
#include "transport/pki.h"
#include "transport/tls.h"
#include "transport/wire.h"
#include "util/testutil.h"
#include "wallclock_util.h"

TestSuite(node, .timeout = 240);

#define NMAX 4

/* A node's replica as its server executes it: the store's transactor,
 * with commits held for stall_ms first (a replica that is slow to commit
 * but answers everything else). */
struct slow_tx {
	struct oc_transactor  base;
	struct oc_transactor *inner;
	_Atomic int           stall_ms;
	_Atomic int           get_stall_ms; /* reads served, held this long */
	_Atomic int           commit_fail;   /* commits refused ... */
	_Atomic int           commit_fail_e; /* ... with this (0: O_EUNAVAIL) */
	_Atomic int           commits;       /* commits that reached it */
	_Atomic int           once; /* of them, not marked resendable */
	_Atomic int           staged; /* of them, in two halves */
	_Atomic int           held;   /* commits held by stall_ms so far */
};
/* run (once, then cleared) after node cancel_hook_node served a cancel */
static void (*_Atomic cancel_hook)(void);
static atomic_int cancel_hook_node = -1;

struct tnode {
	char            *dir;
	struct ost_repo *repo;
	struct otr_node *node;
	char             url[64];
	char             members[256];
	struct slow_tx   tx;
};

static struct tnode nodes[NMAX];
static int          base_port;
static int          timeout_ms = 3000; /* of calls (node_up) */
static int          replicas;          /* R of node_up (0: default) */
static nng_socket   fake; /* a silent member's, closed after the nodes */
static bool         fake_open;
static char        *certs;
static bool         join_self; /* n0 joins its own URL */
static bool         keep_members; /* each node keeps DIR/members */
static bool         join_none;    /* node_up joins no one */

static o_err
install_cb(void *arg, const struct oc_bid *id, int64_t rev,
    const struct oc_aid *aid, const struct oc_val *blk, bool over,
    bool *done)
{
	return ost_repo_install(arg, id, rev, aid, blk, over, done);
}

static void
latest_cb(void *arg, const struct oc_bid *ids, size_t n, int64_t *revs,
    struct oc_aid *aids)
{
	ost_repo_latest(arg, ids, n, revs, aids);
}

/* What each node's change feed delivered (feed_cb). */
static struct {
	pthread_mutex_t mtx;
	long            calls;
	struct oc_bid   col[4];
	int64_t         rev[4];
} fed[NMAX] = { [0 ... NMAX - 1] = { .mtx = PTHREAD_MUTEX_INITIALIZER } };

/* While set, node i's feed callback does not return (a subscriber that
 * stopped reading: its messages wait in nng's queue). */
static _Atomic bool feed_held[NMAX];

static void
feed_cb(void *arg, const struct oc_bid *col, int64_t rev)
{
	int i = (int) (intptr_t) arg, j;

	while (atomic_load(&feed_held[i]))
		o_sleep_ms(5);
	pthread_mutex_lock(&fed[i].mtx);
	fed[i].calls++;
	for (j = 0; j < 4; j++)
		if (oc_bid_eq(&fed[i].col[j], col))
			fed[i].rev[j] = O_MAX(fed[i].rev[j], rev);
	pthread_mutex_unlock(&fed[i].mtx);
}

static o_err
slow_get(struct oc_transactor *t, const struct oc_bid *ids, size_t n,
    const struct oc_actx *ctx, struct oc_get_res *out)
{
	struct slow_tx *st = (struct slow_tx *) t;

	if (atomic_load(&st->get_stall_ms) > 0)
		o_sleep_ms(atomic_load(&st->get_stall_ms));
	return st->inner->ops->get(st->inner, ids, n, ctx, out);
}

static o_err
slow_pend(struct oc_transactor *t, const struct oc_pend_req *req,
    struct oc_txres *res)
{
	struct oc_transactor *in = ((struct slow_tx *) t)->inner;

	/* the answer's latest revisions come from the repo (latest_cb),
	 * not through this transactor's stalled get */
	return in->ops->pend(in, req, res);
}

static o_err
slow_commit(struct oc_transactor *t, const struct oc_commit_req *req,
    struct oc_txres *res)
{
	struct slow_tx *st = (struct slow_tx *) t;
	int             f  = atomic_load(&st->commit_fail);

	atomic_fetch_add(&st->commits, 1);
	if (!req->resendable)
		atomic_fetch_add(&st->once, 1);
	while (f > 0 &&
	    !atomic_compare_exchange_weak(&st->commit_fail, &f, f - 1))
		;
	if (f > 0) {
		o_err e = atomic_load(&st->commit_fail_e)
		    ? (o_err) atomic_load(&st->commit_fail_e)
		    : O_EUNAVAIL;

		/* worded as the store words it (net_commit once searched
		 * the text for "expired") */
		return o_err_set(e, "injected: %s",
		    e == O_EEXPIRED ? "pending expired" : "cannot commit now");
	}
	if (atomic_load(&st->stall_ms) > 0) {
		atomic_fetch_add(&st->held, 1);
		o_sleep_ms(atomic_load(&st->stall_ms));
	}
	return st->inner->ops->commit(st->inner, req, res);
}

static o_err
slow_cancel(struct oc_transactor *t, const struct oc_aid *aid,
    const struct oc_bid *ids, size_t n)
{
	struct slow_tx *st = (struct slow_tx *) t;
	o_err           e  = st->inner->ops->cancel(st->inner, aid, ids, n);
	int             hn = atomic_load(&cancel_hook_node);

	if (hn >= 0 && st == &nodes[hn].tx) {
		void (*h)(void) = atomic_exchange(&cancel_hook, NULL);

		if (h != NULL) /* on a server thread: no cr_assert */
			h();
	}
	return e;
}

static o_err
slow_status(struct oc_transactor *t, const struct oc_aid *aid, int64_t rev,
    const struct oc_bid *ids, size_t n, uint8_t *out)
{
	struct oc_transactor *in = ((struct slow_tx *) t)->inner;

	return in->ops->status(in, aid, rev, ids, n, out);
}

/*
 * The replica's commit in two halves (a batch's commits staged, then
 * ended): declined while a failure or a stall is injected, so that the
 * commit runs whole through slow_commit, which injects it.
 */
static struct tnode *
tnode_of(const struct ost_repo *repo)
{
	int i;

	for (i = 0; i < NMAX; i++)
		if (nodes[i].repo == repo)
			return &nodes[i];
	/* on a server thread: no cr_assert */
	fprintf(stderr, "test_node: no test node has this repo\n");
	abort();
}

static void *
slow_commit_start(void *arg, const struct oc_commit_req *req)
{
	struct tnode *t = tnode_of(arg);

	if (atomic_load(&t->tx.commit_fail) > 0 ||
	    atomic_load(&t->tx.stall_ms) > 0)
		return NULL;
	atomic_fetch_add(&t->tx.commits, 1);
	if (!req->resendable)
		atomic_fetch_add(&t->tx.once, 1);
	atomic_fetch_add(&t->tx.staged, 1);
	return ost_repo_commit_start(t->repo, req);
}

static o_err
slow_commit_end(void *arg, void *ticket, struct oc_txres *res)
{
	return ost_repo_commit_end(arg, ticket, res);
}

static const struct oc_transactor_ops slow_ops = { slow_get, slow_pend,
	slow_commit, slow_cancel, slow_status, NULL, NULL };

static o_err
node_up(int i, const char *certs_dir, const char *name)
{
	struct tnode        *t  = &nodes[i];
	struct otr_node_conf nc = { 0 };
	const char          *join[1];
	char                 nm[16];

	if (t->dir == NULL)
		t->dir = ot_tmpdir("node");
	if (t->repo == NULL) {
		char sd[300];

		/* as a mount's: the store beside the member list */
		snprintf(sd, sizeof(sd), "%s%s", t->dir,
		    keep_members ? "/store" : "");
		cr_assert_eq(ost_repo_open(sd, NULL, &t->repo), O_OK, "%s",
		    o_err_detail());
	}
	snprintf(t->url, sizeof(t->url), "%s://127.0.0.1:%d",
	    certs_dir ? "tls+tcp" : "tcp", base_port + 10 * i);
	snprintf(nm, sizeof(nm), "n%d", i);
	join[0]            = nodes[0].url;
	nc.name            = name ? name : nm;
	nc.listen_url      = t->url;
	nc.join            = join;
	nc.njoin           = join_none ? 0 : i > 0 || join_self ? 1 : 0;
	if (keep_members) {
		snprintf(t->members, sizeof(t->members), "%s/members", t->dir);
		nc.members_path = t->members;
	}
	nc.certs_dir       = certs_dir;
	nc.insecure        = certs_dir == NULL;
	/* calls time out after 3 s: a CI machine running other suites can
	 * stall a synced write for over a second */
	nc.timeout_ms      = timeout_ms;
	nc.replicas        = replicas;
	t->tx.base.ops     = &slow_ops;
	t->tx.inner        = ost_local_transactor(t->repo);
	atomic_store(&t->tx.stall_ms, 0);
	atomic_store(&t->tx.get_stall_ms, 0);
	atomic_store(&t->tx.commit_fail, 0);
	atomic_store(&t->tx.commit_fail_e, 0);
	atomic_store(&t->tx.once, 0);
	atomic_store(&t->tx.staged, 0);
	nc.replica.tx      = &t->tx.base;
	nc.replica.install = install_cb;
	nc.replica.latest  = latest_cb;
	nc.replica.commit_start = slow_commit_start;
	nc.replica.commit_end   = slow_commit_end;
	nc.replica.arg     = t->repo;
	nc.on_change       = feed_cb;
	nc.change_arg      = (void *) (intptr_t) i;
	return otr_node_start(&nc, &t->node);
}

static void
node_down(int i, bool keep_dir)
{
	struct tnode *t = &nodes[i];

	otr_node_stop(t->node);
	t->node = NULL;
	ost_repo_close(t->repo);
	t->repo = NULL;
	if (!keep_dir) {
		ot_rmtree_free(t->dir);
		t->dir = NULL;
	}
}

/* Whether nothing holds ports [base, base + 50) on 127.0.0.1 (a bind
 * without SO_REUSEADDR also fails over a lingering connection). */
static bool
ports_free(int base)
{
	int p;

	for (p = base; p < base + 50; p++) {
		struct sockaddr_in sa;
		int                fd = socket(AF_INET, SOCK_STREAM, 0);
		bool               ok;

		memset(&sa, 0, sizeof(sa));
		sa.sin_family      = AF_INET;
		sa.sin_port        = htons((uint16_t) p);
		sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
		ok = fd >= 0 && bind(fd, (struct sockaddr *) &sa, sizeof(sa)) == 0;
		if (fd >= 0)
			close(fd);
		if (!ok)
			return false;
	}
	return true;
}

/* The lock on this test's port range, held until teardown. */
static int port_lock = -1;

/* Lock range base's file, so that no other test takes the range between
 * finding it free and binding it; -1 if another holds it. */
static int
ports_lock(int base)
{
	char path[64];
	int  fd;

	snprintf(path, sizeof(path), "/tmp/optimfs-test-ports.%d.lock", base);
	/* another user's file (fs.protected_regular refuses O_CREAT on
	 * it in /tmp) is still locked read-only */
	if ((fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0666)) < 0 &&
	    (fd = open(path, O_RDONLY | O_CLOEXEC)) < 0)
		return -1;
	if (flock(fd, LOCK_EX | LOCK_NB) != 0) {
		close(fd);
		return -1;
	}
	return fd;
}

static void
setup(void)
{
	int k, slot = getpid() % 200;

	/* 50 ports per test, below the ephemeral range (32768+), apart from
	 * e2e_test_cluster's; two tests whose pids agree modulo 200 met on
	 * one range (a CI run: "listen on tcp://127.0.0.1:20350: Address in
	 * use" as the earlier test's process went), so the next free range;
	 * and two tests running at once could both find one range free
	 * before either bound it (an ASan run: "listen on
	 * tcp://127.0.0.1:15400: Address in use" just after another test's
	 * n0 took it), so a range is locked before it is checked */
	for (k = 0; k < 200; k++, slot = (slot + 1) % 200) {
		if ((port_lock = ports_lock(12000 + slot * 50)) < 0)
			continue;
		if (ports_free(12000 + slot * 50))
			break;
		close(port_lock);
		port_lock = -1;
	}
	cr_assert_geq(
	    port_lock, 0, "no free range of 50 ports in 12000-22000");
	base_port = 12000 + slot * 50;
	memset(nodes, 0, sizeof(nodes));
}

static void
teardown(void)
{
	int i;

	for (i = 0; i < NMAX; i++)
		atomic_store(&feed_held[i], false);
	for (i = 0; i < NMAX; i++)
		if (nodes[i].repo != NULL || nodes[i].dir != NULL)
			node_down(i, false);
	if (fake_open) {
		nng_close(fake);
		fake_open = false;
	}
	if (certs != NULL) {
		ot_rmtree_free(certs);
		certs = NULL;
	}
	/* nng reaps closed sockets in the background; let it finish before
	 * the process exits (LeakSanitizer).  Not nng_fini(): Criterion
	 * itself talks to its runner over nng. */
	o_sleep_ms(500);
	if (port_lock >= 0) {
		close(port_lock);
		port_lock = -1;
	}
}

static struct oc_transactor *
tx_of(int i)
{
	return otr_node_transactor(nodes[i].node);
}

/* Wait (bounded) until node i is connected to want members, itself
 * included. */
static void
wait_up(int i, size_t want)
{
	size_t nm, up;
	int    tries = 0;

	do {
		otr_node_counts(nodes[i].node, &nm, &up);
		if (up >= want)
			return;
		o_sleep_ms(50);
	} while (++tries < 300);
	cr_assert_fail("n%d reaches %zu of %zu members, want %zu", i, up, nm,
	    want);
}

/* Wait until each of nodes 0..n-1 reaches all n: a test that reads or
 * writes through any of them needs their placement and connections
 * complete (waiting for node 0 alone let a repair through node 1 miss
 * node 2). */
static void
wait_all(int n)
{
	int i;

	for (i = 0; i < n; i++)
		wait_up(i, (size_t) n);
}

/* Start nodes 0 .. n-1 (insecure, each joining node 0) and wait until
 * each is connected to all. */
static void
nodes_up(int n)
{
	int i;

	for (i = 0; i < n; i++)
		cr_assert_eq(node_up(i, NULL, NULL), O_OK, "%s", o_err_detail());
	wait_all(n);
}

/* The header and tail log block of diary id are the same, at the same
 * revision, in the stores of nodes a and b (read locally, not through
 * the cluster). */
static void
same_replicas(int a, int b, const struct oc_bid *id)
{
	struct oc_bid     ids[2];
	struct oc_get_res ra[2], rb[2];
	int               k;

	ids[0] = *id;
	for (k = 0; k < 2; k++) {
		struct oc_transactor *ta = ost_local_transactor(nodes[a].repo);
		struct oc_transactor *tb = ost_local_transactor(nodes[b].repo);

		oc_get_res_init(&ra[k]);
		oc_get_res_init(&rb[k]);
		cr_assert_eq(ta->ops->get(ta, &ids[k], 1, NULL, &ra[k]), O_OK);
		cr_assert_eq(tb->ops->get(tb, &ids[k], 1, NULL, &rb[k]), O_OK);
		cr_assert_eq(ra[k].state, OC_GET_BLOCK, "n%d lacks block %d", a, k);
		cr_assert_eq(rb[k].state, OC_GET_BLOCK, "n%d lacks block %d", b, k);
		cr_assert_eq(ra[k].latest_rev, rb[k].latest_rev,
		    "block %d: rev %" PRId64 " on n%d, %" PRId64 " on n%d", k,
		    ra[k].latest_rev, a, rb[k].latest_rev, b);
		cr_assert(oc_val_eq(&ra[k].block, &rb[k].block),
		    "block %d differs between n%d and n%d", k, a, b);
		if (k == 0)
			cr_assert(oc_map_bid(&ra[0].block, "tail", &ids[1]));
	}
	for (k = 0; k < 2; k++) {
		oc_get_res_fini(&ra[k]);
		oc_get_res_fini(&rb[k]);
	}
}

struct lines {
	char   buf[8192];
	size_t len;
	int    n;
};

static int
collect(void *arg, int64_t rev, const uint8_t *p, size_t n)
{
	struct lines *l = arg;

	(void) rev;
	cr_assert_lt(l->len + n + 1, sizeof(l->buf));
	memcpy(l->buf + l->len, p, n);
	l->len += n;
	l->buf[l->len++] = '|';
	l->n++;
	return 0;
}

/* Open diary id through node i and return its appends joined by '|'. */
static void
read_diary(int i, const struct oc_bid *id, struct lines *l)
{
	struct oc_collection *c;

	memset(l, 0, sizeof(*l));
	cr_assert_eq(oc_diary_open(tx_of(i), id, false, NULL, &c), O_OK,
	    "open on n%d: %s", i, o_err_detail());
	cr_assert_eq(oc_diary_scan(c, 0, true, collect, l), O_OK, "%s",
	    o_err_detail());
	oc_coll_free(c);
}

static void
append_n(struct oc_collection *c, const char *tag, int from, int to)
{
	char line[32];
	int  i;

	for (i = from; i < to; i++) {
		snprintf(line, sizeof(line), "%s%d", tag, i);
		cr_assert_eq(oc_diary_append(c, line, strlen(line)), O_OK);
	}
}

static void
expect(const struct lines *l, const char *want, int n)
{
	cr_assert_eq(l->n, n, "want %d appends, got %d: %.*s", n, l->n,
	    (int) l->len, l->buf);
	cr_assert_eq(memcmp(l->buf, want, strlen(want)), 0, "got %.*s",
	    (int) l->len, l->buf);
}

Test(node, three_nodes_share_a_diary, .init = setup, .fini = teardown)
{
	struct oc_collection *c0, *c2;
	struct oc_bid         id;
	struct lines          l;
	int                   i;

	for (i = 0; i < 3; i++)
		cr_assert_eq(node_up(i, NULL, NULL), O_OK, "n%d: %s", i,
		    o_err_detail());
	for (i = 0; i < 3; i++) /* membership spread by gossip */
		wait_up(i, 3);
	oc_bid_random(&id);
	cr_assert_eq(oc_diary_open(tx_of(0), &id, true, NULL, &c0), O_OK);
	append_n(c0, "a", 0, 3);
	cr_assert_eq(oc_coll_sync(c0), O_OK, "%s", o_err_detail());
	read_diary(2, &id, &l);
	expect(&l, "a0|a1|a2|", 3);

	/* a writer on n2 and one on n0, each rebasing over the other */
	cr_assert_eq(oc_diary_open(tx_of(2), &id, false, NULL, &c2), O_OK);
	append_n(c2, "b", 0, 2);
	append_n(c0, "c", 0, 2);
	cr_assert_eq(oc_coll_sync(c2), O_OK, "%s", o_err_detail());
	cr_assert_eq(oc_coll_sync(c0), O_OK, "%s", o_err_detail());
	read_diary(1, &id, &l);
	expect(&l, "a0|a1|a2|b0|b1|c0|c1|", 7);
	oc_coll_free(c2);
	oc_coll_free(c0);

	/* every replica holds the same header and tail, at the same rev */
	same_replicas(0, 1, &id);
	same_replicas(0, 2, &id);
	/* a commit served from the network may be one nng sent again: the
	 * replica must not answer "stale" for a pruned one it may hold */
	for (i = 0; i < 3; i++) {
		cr_expect_gt(atomic_load(&nodes[i].tx.commits), 0, "n%d", i);
		cr_expect_eq(atomic_load(&nodes[i].tx.once), 0, "n%d", i);
	}
}

Test(node, a_majority_commits_a_minority_fails_and_recovers,
    .init = setup, .fini = teardown)
{
	struct oc_collection *c;
	struct oc_bid         id;
	struct lines          l;
	int64_t               t0;
	o_err                 e;

	nodes_up(3);
	oc_bid_random(&id);
	cr_assert_eq(oc_diary_open(tx_of(0), &id, true, NULL, &c), O_OK);
	append_n(c, "x", 0, 2);
	cr_assert_eq(oc_coll_sync(c), O_OK, "%s", o_err_detail());

	/* one of three gone: writes go on */
	node_down(2, true);
	append_n(c, "y", 0, 2);
	cr_assert_eq(oc_coll_sync(c), O_OK, "%s", o_err_detail());

	/* two of three gone: the commit fails, in bounded time */
	node_down(1, true);
	append_n(c, "z", 0, 1);
	t0 = o_mono_ms();
	e  = oc_coll_sync(c);
	cr_assert_neq(e, O_OK, "a commit without a majority succeeded");
	cr_assert_lt(
	    o_mono_ms() - t0, 60000, "took %" PRId64 " ms", o_mono_ms() - t0);
	cr_assert_eq(oc_coll_npending(c), 1, "the append must stay queued");

	/* a majority back: the queued append commits */
	cr_assert_eq(node_up(1, NULL, NULL), O_OK, "%s", o_err_detail());
	wait_up(0, 2);
	cr_assert_eq(oc_coll_sync(c), O_OK, "%s", o_err_detail());

	/* n2 missed x.. z; with n1 down, n0 and n2 are the majority.  n2
	 * must not apply the next append to its old tail: it is caught up
	 * and pended again, and both hold the same blocks afterwards */
	node_down(1, true);
	cr_assert_eq(node_up(2, NULL, NULL), O_OK, "%s", o_err_detail());
	wait_up(0, 2);
	append_n(c, "w", 0, 1);
	cr_assert_eq(oc_coll_sync(c), O_OK, "%s", o_err_detail());
	oc_coll_free(c);
	same_replicas(0, 2, &id);
	read_diary(2, &id, &l);
	expect(&l, "x0|x1|y0|y1|z0|w0|", 6);

	/* n1 missed w0: reading through it repairs its own copy */
	cr_assert_eq(node_up(1, NULL, NULL), O_OK, "%s", o_err_detail());
	wait_up(1, 3);
	read_diary(1, &id, &l);
	expect(&l, "x0|x1|y0|y1|z0|w0|", 6);
	same_replicas(0, 1, &id);

	node_down(0, false);
	node_down(2, true);
	cr_assert_eq(node_up(2, NULL, NULL), O_EUNAVAIL,
	    "joining a dead member must fail");
}

/* Sets the wall clock back an hour once n1 holds a commit: its
 * coordinator's deadline is then already counting. */
static void *
wall_step_once_held(void *arg)
{
	int i;

	(void) arg;
	for (i = 0; i < 2000 && atomic_load(&nodes[1].tx.held) == 0; i++)
		o_sleep_ms(5);
	wallclock_step(-3600 * 1000);
	return NULL;
}

/*
 * The wall clock set back an hour while a commit waits for two replicas
 * of three that hold it (slow disks): the commit still ends at its
 * deadline, in doubt, as without the step (before, the links' timers
 * waited on the wall clock: it waited until the replicas answered, and
 * for a replica that never answers, the hour).  Once they have
 * answered, the next sync finds the append committed, by its journal
 * tags, and does not commit it again.
 */
Test(node, a_commit_ends_in_time_when_the_wall_clock_is_set, .init = setup,
    .fini = teardown)
{
	enum { STALL_MS = 8000 };
	struct oc_sync_opts   o = { 0 };
	struct oc_journal    *j;
	struct oc_collection *c;
	struct oc_bid         id;
	struct lines          l;
	pthread_t             th;
	int64_t               t0;
	o_err                 e;

	nodes_up(3);
	oc_bid_random(&id);
	cr_assert_eq(
	    ost_journal_open(nodes[0].repo, &j), O_OK, "%s", o_err_detail());
	o.journal = j;
	cr_assert_eq(oc_diary_open(tx_of(0), &id, true, &o, &c), O_OK);
	append_n(c, "x", 0, 1);
	cr_assert_eq(oc_coll_sync(c), O_OK, "%s", o_err_detail());

	atomic_store(&nodes[1].tx.stall_ms, STALL_MS);
	atomic_store(&nodes[2].tx.stall_ms, STALL_MS);
	append_n(c, "y", 0, 1);
	cr_assert_eq(pthread_create(&th, NULL, wall_step_once_held, NULL), 0);
	t0 = o_mono_ms();
	e  = oc_coll_sync(c);
	pthread_join(th, NULL);
	cr_assert_neq(e, O_OK,
	    "the commit waited %" PRId64 " ms for the held replicas, past its "
	    "%d ms deadline",
	    o_mono_ms() - t0, timeout_ms);
	cr_assert_lt(
	    o_mono_ms() - t0, 60000, "took %" PRId64 " ms", o_mono_ms() - t0);
	cr_assert_eq(oc_coll_npending(c), 1, "the append must stay queued");
	cr_assert_gt(atomic_load(&nodes[1].tx.held), 0, "n1 held no commit");
	/* set right again (nng 1.5.2 times its own waits on the wall
	 * clock, and this process's kernel never saw the step) */
	wallclock_step(3600 * 1000);
	atomic_store(&nodes[1].tx.stall_ms, 0);
	atomic_store(&nodes[2].tx.stall_ms, 0);

	o_sleep_ms(STALL_MS); /* the held commits land */
	cr_assert_eq(oc_coll_sync(c), O_OK, "%s", o_err_detail());
	oc_coll_free(c);
	ost_journal_close(j);
	read_diary(1, &id, &l);
	expect(&l, "x0|y0|", 2);
}

/* A writer that appends without pause through n1. */
struct hog {
	struct oc_collection *c;
	atomic_bool           stop;
	atomic_int            done;
	_Atomic o_err         err;
};

static void *
hog_run(void *arg)
{
	struct hog *h = arg;
	char        line[32];

	while (!atomic_load(&h->stop)) {
		o_err e;

		snprintf(line, sizeof(line), "h%d", atomic_load(&h->done));
		if ((e = oc_diary_append(h->c, line, strlen(line))) != O_OK ||
		    (e = oc_coll_sync(h->c)) != O_OK) {
			atomic_store(&h->err, e);
			return NULL;
		}
		atomic_fetch_add(&h->done, 1);
	}
	return NULL;
}

/*
 * Two writers on one diary through two nodes, the third node down: each
 * pend then holds one replica of two and is refused by the other, so
 * both lose until one retries alone.  A writer that keeps losing must
 * not be starved by one that never pauses (in a CI run an append waited
 * out the 60 s deadline of a shared mount and failed; here, without
 * claims, appends took up to 20 s).  Each append must commit within its
 * 5 s deadline, a bound on liveness with a wide margin (with claims each
 * took under 100 ms).
 */
Test(node, a_writer_is_not_starved_by_a_busy_rival, .init = setup,
    .fini = teardown)
{
	struct oc_sync_opts   o = { .max_attempts = 100000,
		.deadline_ms = 5000 };
	struct oc_collection *c;
	struct hog            h = { 0 };
	struct oc_bid         id;
	pthread_t             th;
	int                   i;

	nodes_up(3);
	oc_bid_random(&id);
	cr_assert_eq(oc_diary_open(tx_of(0), &id, true, &o, &c), O_OK);
	append_n(c, "x", 0, 1);
	cr_assert_eq(oc_coll_sync(c), O_OK, "%s", o_err_detail());
	node_down(2, true);
	cr_assert_eq(oc_diary_open(tx_of(1), &id, false, &o, &h.c), O_OK);
	pthread_create(&th, NULL, hog_run, &h);
	while (atomic_load(&h.done) < 5 && atomic_load(&h.err) == O_OK)
		o_sleep_ms(10);
	for (i = 0; i < 30; i++) {
		char    line[32];
		int64_t t0 = o_mono_ms();
		o_err   e;

		snprintf(line, sizeof(line), "w%d", i);
		cr_assert_eq(oc_diary_append(c, line, strlen(line)), O_OK);
		e = oc_coll_sync(c);
		cr_assert_eq(e, O_OK,
		    "append %d, after %" PRId64 " ms, the rival at %d: %s", i,
		    o_mono_ms() - t0, atomic_load(&h.done), o_err_detail());
	}
	atomic_store(&h.stop, true);
	pthread_join(th, NULL);
	cr_assert_eq(atomic_load(&h.err), O_OK, "the rival: %s",
	    o_err_detail());
	cr_assert_gt(atomic_load(&h.done), 5, "the rival stopped writing");
	oc_coll_free(h.c);
	oc_coll_free(c);
}

static void ask_op(nng_socket s, struct oc_val op, o_err want,
    const char *part);

Test(node, garbage_neither_crashes_nor_blocks_a_peer, .init = setup,
    .fini = teardown)
{
	struct oc_collection *c;
	struct oc_bid         id;
	struct sockaddr_in    sa = { 0 };
	uint8_t               junk[4096];
	int                   i, r, fd;

	for (i = 0; i < 3; i++)
		cr_assert_eq(node_up(i, NULL, NULL), O_OK, "%s", o_err_detail());
	for (r = 0; r < 20; r++) {
		size_t n = (size_t) (r * 211) % sizeof(junk);

		for (i = 0; i < (int) n; i++)
			junk[i] = (uint8_t) (rand() & 0xff);
		if (r % 3 == 0 && n >= 8) { /* a valid SP header, bad body */
			memcpy(junk, "\0SP\0\0\x30\0\0", 8);
		}
		fd = socket(AF_INET, SOCK_STREAM, 0);
		sa.sin_family      = AF_INET;
		sa.sin_port        = htons((uint16_t) (base_port + 10));
		sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
		cr_assert_eq(connect(fd, (struct sockaddr *) &sa, sizeof(sa)), 0);
		(void) !write(fd, junk, n);
		close(fd);
	}
	{ /* n1, which got the junk, still answers itself */
		nng_socket    s;
		struct oc_val op = oc_map();

		cr_assert_eq(nng_req0_open(&s), 0);
		nng_socket_set_ms(s, NNG_OPT_RECVTIMEO, 10000);
		cr_assert_eq(nng_dial(s, nodes[1].url, NULL, 0), 0);
		oc_map_set(&op, "t", oc_text(OTR_T_GET));
		oc_map_set(&op, "ids", oc_array());
		ask_op(s, op, O_OK, "");
		nng_close(s);
	}
	oc_bid_random(&id);
	cr_assert_eq(oc_diary_open(tx_of(0), &id, true, NULL, &c), O_OK);
	append_n(c, "ok", 0, 2);
	cr_assert_eq(oc_coll_sync(c), O_OK, "%s", o_err_detail());
	oc_coll_free(c);
}

/*
 * A cluster CA in certs issuing n0 .. n<issued - 1>, nodes n0 .. n<up - 1>
 * started over TLS and connected; another CA (returned, free with
 * ot_rmtree_free) issuing foreign.
 */
static char *
tls_cluster(int issued, int up, const char *foreign)
{
	char *other = ot_tmpdir("otherca");
	int   i;

	certs = ot_tmpdir("certs");
	cr_assert_eq(otr_pki_init(certs), O_OK, "%s", o_err_detail());
	for (i = 0; i < issued; i++) {
		char nm[8];

		snprintf(nm, sizeof(nm), "n%d", i);
		cr_assert_eq(otr_pki_node_add(certs, nm), O_OK);
	}
	cr_assert_eq(otr_pki_init(other), O_OK);
	cr_assert_eq(otr_pki_node_add(other, foreign), O_OK);
	for (i = 0; i < up; i++)
		cr_assert_eq(node_up(i, certs, NULL), O_OK, "%s", o_err_detail());
	wait_all(up);
	return other;
}

Test(node, tls_cluster_and_a_foreign_ca, .init = setup, .fini = teardown)
{
	struct oc_collection *c;
	struct oc_bid         id;
	struct lines          l;
	char                 *other = tls_cluster(3, 3, "n3");

	oc_bid_random(&id);
	cr_assert_eq(oc_diary_open(tx_of(1), &id, true, NULL, &c), O_OK);
	append_n(c, "t", 0, 2);
	cr_assert_eq(oc_coll_sync(c), O_OK, "%s", o_err_detail());
	oc_coll_free(c);
	read_diary(2, &id, &l);
	expect(&l, "t0|t1|", 2);

	/* a node with a certificate of another CA cannot join */
	cr_assert_eq(node_up(3, other, "n3"), O_EUNAVAIL, "%s", o_err_detail());
	ot_rmtree_free(other);
}

static o_err ask(
    nng_socket s, const void *p, size_t n, char *detail, size_t cap);
static void ask_op(
    nng_socket s, struct oc_val op, o_err want, const char *part);

/* A card's fields pushed onto member entry p (or set in hello op). */
static void
card_fields(struct oc_val *v, const struct otr_pki_card *c)
{
	if (v->type == OC_ARRAY) {
		oc_arr_push(v, oc_bytes(c->cert, c->cert_len));
		oc_arr_push(v, oc_bytes(c->sig, c->sig_len));
	} else {
		oc_map_set(v, "cert", oc_bytes(c->cert, c->cert_len));
		oc_map_set(v, "sig", oc_bytes(c->sig, c->sig_len));
	}
}

/* A hello from name at url with card c (NULL: none). */
static struct oc_val
hello_from(const char *name, const char *url, const struct otr_pki_card *c)
{
	struct oc_val op = oc_map();

	oc_map_set(&op, "t", oc_text(OTR_T_HELLO));
	oc_map_set(&op, "name", oc_text(name));
	oc_map_set(&op, "url", oc_text(url));
	if (c != NULL)
		card_fields(&op, c);
	oc_map_set(&op, "known", oc_array());
	return op;
}

static struct oc_val
entry(const char *name, const char *url, const struct otr_pki_card *c)
{
	struct oc_val p = oc_array();

	oc_arr_push(&p, oc_text(name));
	oc_arr_push(&p, oc_text(url));
	if (c != NULL)
		card_fields(&p, c);
	return p;
}

static size_t
members_of(int i)
{
	size_t nm, up;

	otr_node_counts(nodes[i].node, &nm, &up);
	return nm;
}

/* Answer the next hello from node name that the rep socket fake
 * receives (within 10 s) with member list ms. */
static void
answer_hello(nng_socket fake_s, const char *name, struct oc_val ms)
{
	struct oc_val op, a = otr_wire_answer(O_OK, "");
	struct o_buf  b = { 0 };
	char          t[16], who[64];
	void         *p;
	size_t        len;

	nng_socket_set_ms(fake_s, NNG_OPT_RECVTIMEO, 10000);
	for (;;) {
		cr_assert_eq(nng_recv(fake_s, &p, &len, NNG_FLAG_ALLOC), 0,
		    "no hello from %s reached the fake member", name);
		cr_assert_eq(otr_wire_parse_request(p, len, &op), O_OK);
		nng_free(p, len);
		if (otr_get_text(&op, "t", t, sizeof(t)) == O_OK &&
		    strcmp(t, OTR_T_HELLO) == 0 &&
		    otr_get_text(&op, "name", who, sizeof(who)) == O_OK &&
		    strcmp(who, name) == 0)
			break;
		/* not a hello of name's: refuse it, wait for the next */
		oc_val_fini(&op);
		op = otr_wire_answer(O_EUNAVAIL, "a fake member");
		oc_encode(&op, &b);
		oc_val_fini(&op);
		cr_assert_eq(nng_send(fake_s, b.data, b.len, 0), 0);
		o_buf_fini(&b);
	}
	oc_val_fini(&op);
	oc_map_set(&a, "members", ms);
	oc_encode(&a, &b);
	cr_assert_eq(nng_send(fake_s, b.data, b.len, 0), 0);
	o_buf_fini(&b);
	oc_val_fini(&a);
}

/*
 * In a TLS cluster a member joins the list only with its card: its
 * certificate from the cluster CA naming it, and its signature of the URL
 * it serves at.  A peer holding a cluster certificate (here n1's) cannot
 * add a name the CA never issued, claim another node's name, or move a
 * node to another URL, neither as a hello's sender (answered O_EPERM)
 * nor inside the member list it answers a hello with (dropped).  A
 * node's valid card is kept and spread on: n1 learns n3 from n0.
 */
Test(node, a_tls_member_joins_only_with_its_own_card, .init = setup,
    .fini = teardown)
{
	struct otr_pki_card n2, n3, ghost, n3_other_url;
	nng_tls_config     *cfg, *scfg;
	nng_socket          s, f2;
	char                u2[64], u3[64], u4[64];
	char               *other = tls_cluster(4, 2, "ghost");
	struct oc_val       ms;
	int                 tries;

	snprintf(u2, sizeof(u2), "tls+tcp://127.0.0.1:%d", base_port + 20);
	snprintf(u3, sizeof(u3), "tls+tcp://127.0.0.1:%d", base_port + 30);
	snprintf(u4, sizeof(u4), "tls+tcp://127.0.0.1:%d", base_port + 40);
	cr_assert_eq(otr_pki_card_make(certs, "n2", u2, &n2), O_OK);
	cr_assert_eq(otr_pki_card_make(certs, "n3", u3, &n3), O_OK);
	cr_assert_eq(otr_pki_card_make(certs, "n3", u4, &n3_other_url), O_OK);
	cr_assert_eq(otr_pki_card_make(other, "ghost", u3, &ghost), O_OK);

	/* n1's certificate opens the door; the hellos are ours */
	cr_assert_eq(
	    otr_tls_config_alloc(certs, "n1", OTR_TLS_CLIENT, NULL, &cfg),
	    O_OK, "%s", o_err_detail());
	cr_assert_eq(nng_req0_open(&s), 0);
	nng_socket_set_ms(s, NNG_OPT_RECVTIMEO, 10000);
	cr_assert_eq(otr_tls_dial(s, nodes[0].url, cfg, false, 0, NULL), O_OK,
	    "%s", o_err_detail());

	/* as the sender: no card, another node's card, another CA's, a
	 * card for another URL */
	ask_op(s, hello_from("ghost", u3, NULL), O_EPERM, "no signed card");
	ask_op(
	    s, hello_from("n3", u3, &n2), O_EPERM, "the certificate is n2's");
	ask_op(s, hello_from("ghost", u3, &ghost), O_EPERM,
	    "the certificate of member ghost");
	ask_op(s, hello_from("n3", u3, &n3_other_url), O_EPERM,
	    "the signature is not n3's for that URL");
	cr_assert_eq(members_of(0), 2, "n0 took a refused sender");

	/* n2 (a fake: a rep socket with n2's certificate at u2) joins with
	 * its own card; n0 then says hello to it, and the fake answers with
	 * a list of bad entries and, last, n3's own card: once n0 took n3,
	 * it went through the whole list */
	cr_assert_eq(
	    otr_tls_config_alloc(certs, "n2", OTR_TLS_SERVER, NULL, &scfg),
	    O_OK, "%s", o_err_detail());
	cr_assert_eq(nng_rep0_open(&f2), 0);
	cr_assert_eq(otr_tls_listen(f2, u2, scfg, false, NULL), O_OK, "%s",
	    o_err_detail());
	ask_op(s, hello_from("n2", u2, &n2), O_OK, "");
	cr_assert_eq(members_of(0), 3, "n0 refused n2's own card");
	for (tries = 0; tries < 10 && members_of(0) < 4; tries++) {
		ms = oc_array();
		oc_arr_push(&ms, entry("ghost", u3, NULL));
		oc_arr_push(&ms, entry("ghost", u3, &ghost));
		oc_arr_push(&ms, entry("n3", u4, &n2));
		oc_arr_push(&ms, entry("n3", u4, &n3));
		oc_arr_push(&ms, entry("n3", u3, &n3));
		answer_hello(f2, "n0", ms);
		o_sleep_ms(50);
	}
	cr_assert_eq(members_of(0), 4, "n0 did not take n3's own card");
	for (tries = 0; tries < 100 && members_of(1) < 4; tries++)
		o_sleep_ms(100);
	cr_assert_eq(members_of(1), 4, "n1 did not learn n2 and n3 from n0");
	o_sleep_ms(300); /* nothing else comes in */
	cr_assert_eq(members_of(0), 4, "n0 took a member without its card");
	cr_assert_eq(members_of(1), 4, "n1 took a member without its card");

	nng_close(s);
	nng_close(f2);
	nng_tls_config_free(cfg);
	nng_tls_config_free(scfg);
	otr_pki_card_fini(&n2);
	otr_pki_card_fini(&n3);
	otr_pki_card_fini(&n3_other_url);
	otr_pki_card_fini(&ghost);
	ot_rmtree_free(other);
}

/* A certificate directory fdir (under other) of the cluster's CA holding
 * node from's certificate and key filed as node as's. */
static void
fake_card(
    const char *other, const char *as, const char *from, char fdir[PATH_MAX])
{
	char                    a[PATH_MAX], b[PATH_MAX];
	int                     i;
	const enum otr_pki_file fs[2] = { OTR_PKI_NODE_CERT,
		OTR_PKI_NODE_KEY };

	snprintf(fdir, PATH_MAX, "%s/fake", other);
	cr_assert_eq(mkdir(fdir, 0700), 0);
	cr_assert_eq(
	    otr_pki_path(certs, NULL, OTR_PKI_CA_CERT, a, sizeof(a)), O_OK);
	cr_assert_eq(
	    otr_pki_path(fdir, NULL, OTR_PKI_CA_CERT, b, sizeof(b)), O_OK);
	cr_assert_eq(ot_copy_file(a, b), 0);
	snprintf(b, sizeof(b), "%s/nodes", fdir);
	cr_assert_eq(mkdir(b, 0700), 0);
	snprintf(b, sizeof(b), "%s/nodes/%s", fdir, as);
	cr_assert_eq(mkdir(b, 0700), 0);
	for (i = 0; i < 2; i++) {
		cr_assert_eq(
		    otr_pki_path(certs, from, fs[i], a, sizeof(a)), O_OK);
		cr_assert_eq(
		    otr_pki_path(fdir, as, fs[i], b, sizeof(b)), O_OK);
		cr_assert_eq(ot_copy_file(a, b), 0);
	}
}

/*
 * A node whose card names another node (n1's certificate and key filed
 * as n2's: its TLS handshake passes, its hello cannot) is refused by the
 * node it joins, and its start fails at once with that reason instead of
 * retrying until the join deadline.
 */
Test(node, a_join_refused_for_good_fails_with_the_reason, .init = setup,
    .fini = teardown)
{
	char *other = tls_cluster(2, 1, "x");
	char  fdir[PATH_MAX];

	fake_card(other, "n2", "n1", fdir);
	cr_assert_eq(node_up(2, fdir, "n2"), O_EUNAVAIL);
	cr_assert_not_null(
	    strstr(o_err_detail(), "refused our hello"), "%s", o_err_detail());
	cr_assert_not_null(strstr(o_err_detail(), "the certificate is n1's"),
	    "%s", o_err_detail());
	cr_assert_eq(members_of(0), 1, "n0 took n2");
	ot_rmtree_free(other);
}

/*
 * The same refusal stops a restart that kept other members: only a join
 * URL that cannot be reached is passed over for the kept list (a cold
 * start of a stopped cluster).  n0 starts afresh (its data lost), so it
 * does not know n1 and checks the card n1 says hello with, n0's own:
 * without that rule n1 started on its kept list all the same.
 */
Test(node, a_join_refused_for_good_stops_a_restart_with_kept_members,
    .init = setup, .fini = teardown)
{
	char *other;
	char  fdir[PATH_MAX];
	o_err e;

	keep_members = true;
	other        = tls_cluster(2, 2, "x");
	node_down(1, true); /* its member list names n0 and itself */
	node_down(0, false);
	cr_assert_eq(node_up(0, certs, NULL), O_OK, "%s", o_err_detail());
	fake_card(other, "n1", "n0", fdir);
	e = node_up(1, fdir, "n1");
	cr_assert_eq(e, O_EUNAVAIL, "%s: %s", o_errname(e), o_err_detail());
	cr_assert_not_null(
	    strstr(o_err_detail(), "could not join the cluster"), "%s",
	    o_err_detail());
	cr_assert_not_null(
	    strstr(o_err_detail(), "refused our hello"), "%s", o_err_detail());
	keep_members = false;
	ot_rmtree_free(other);
}

/*
 * A restart that kept other members, whose --join peer is down (a cold
 * start of a stopped cluster, the peer not started yet), tries it for a
 * second and starts from its kept list, knowing every member, instead of
 * failing after the join deadline (10 s; before, it failed, and a stopped
 * cluster came back only when every node started at once).  Written, it
 * also showed every node's kept list naming the last node started in this
 * process its own (`self`): the node kept the caller's name pointer, here
 * node_up's stack buffer, and n1 was then refused its own list.
 */
Test(node, a_restart_whose_join_peer_is_down_starts_from_its_kept_members,
    .init = setup, .fini = teardown)
{
	int64_t t0;
	o_err   e;

	keep_members = true;
	nodes_up(3);
	node_down(1, true);
	node_down(0, true); /* n1's join peer */
	t0 = o_mono_ms();
	e  = node_up(1, NULL, NULL);
	cr_assert_eq(e, O_OK, "%s: %s", o_errname(e), o_err_detail());
	cr_expect_lt(o_mono_ms() - t0, 8000,
	    "the start took %" PRId64
	    " ms: the join was tried to its deadline",
	    o_mono_ms() - t0);
	cr_expect_eq(
	    members_of(1), 3, "n1 started knowing %zu members", members_of(1));
	keep_members = false;
}

/* Start node 0 and dial it with a request socket *s. */
static void
node0_asker(nng_socket *s)
{
	cr_assert_eq(node_up(0, NULL, NULL), O_OK, "%s", o_err_detail());
	cr_assert_eq(nng_req0_open(s), 0);
	nng_socket_set_ms(*s, NNG_OPT_RECVTIMEO, 10000);
	cr_assert_eq(nng_dial(*s, nodes[0].url, NULL, 0), 0);
}

/*
 * A full member list (64) refuses a new name with O_EBUSY before doing
 * anything with it; a known name is still answered.
 */
Test(node, a_full_member_list_refuses_a_new_name, .init = setup,
    .fini = teardown)
{
	nng_socket s;
	char       nm[16], url[64];
	int        i;

	node0_asker(&s);
	/* all at one port nobody listens on */
	snprintf(url, sizeof(url), "tcp://127.0.0.1:%d", base_port + 45);
	for (i = 1; i < 64; i++) {
		snprintf(nm, sizeof(nm), "m%d", i);
		ask_op(s, hello_from(nm, url, NULL), O_OK, "");
	}
	cr_assert_eq(members_of(0), 64);
	ask_op(s, hello_from("m64", url, NULL), O_EBUSY, "the list is full");
	ask_op(s, hello_from("m1", url, NULL), O_OK, "");
	cr_assert_eq(members_of(0), 64);
	nng_close(s);
	/* members are never removed: a join refused so fails at once with
	 * the refusal ("refused our hello"), not at its deadline */
	cr_assert_neq(node_up(1, NULL, NULL), O_OK, "joined a full list");
	cr_assert_not_null(
	    strstr(o_err_detail(), "refused our hello: member n1"), "%s",
	    o_err_detail());
	cr_assert_not_null(
	    strstr(o_err_detail(), "the list is full"), "%s", o_err_detail());
}

/* Lines of file path holding part. */
static int
lines_with(const char *path, const char *part)
{
	char  line[1024];
	int   k = 0;
	FILE *f = fopen(path, "re");

	cr_assert_not_null(f, "%s: %s", path, strerror(errno));
	while (fgets(line, sizeof(line), f) != NULL)
		k += strstr(line, part) != NULL;
	fclose(f);
	return k;
}

/* A member list that cannot be written (here a directory where its
 * temporary file goes) is logged once and not tried again at every hello
 * and gossip round: the next try is 10 s later. */
Test(node, a_member_list_that_cannot_be_written_is_retried_rarely,
    .init = setup, .fini = teardown)
{
	char *log = ot_tmpdir("log"), path[300], tmp[300];
	int   fd, saved;

	keep_members = true;
	nodes[0].dir = ot_tmpdir("node");
	snprintf(tmp, sizeof(tmp), "%s/members.tmp", nodes[0].dir);
	cr_assert_eq(mkdir(tmp, 0700), 0, "%s", strerror(errno));
	snprintf(path, sizeof(path), "%s/stderr", log);
	fflush(stderr);
	saved = dup(STDERR_FILENO);
	fd    = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	cr_assert_geq(fd, 0);
	dup2(fd, STDERR_FILENO);
	nodes_up(3);
	o_sleep_ms(3000); /* three gossip rounds: each merges n1's and n2's */
	fflush(stderr);
	dup2(saved, STDERR_FILENO);
	close(saved);
	close(fd);
	cr_assert_eq(lines_with(path, "the member list is not kept"), 1,
	    "%d lines", lines_with(path, "the member list is not kept"));
	ot_rmtree_free(log);
	keep_members = false;
}

/* A name is one node's: a hello under a member's name from another URL
 * (a second node started with a member's certificate) is refused, naming
 * both URLs, and the list keeps the first; the same name at its URL is
 * answered. */
Test(node, a_hello_under_a_members_name_from_another_url_is_refused,
    .init = setup, .fini = teardown)
{
	nng_socket s;
	char       a[64], b[64], want[200];

	node0_asker(&s);
	snprintf(a, sizeof(a), "tcp://127.0.0.1:%d", base_port + 45);
	snprintf(b, sizeof(b), "tcp://127.0.0.1:%d", base_port + 46);
	ask_op(s, hello_from("m1", a, NULL), O_OK, "");
	snprintf(want, sizeof(want), "member m1 is at %s, not %s", a, b);
	ask_op(s, hello_from("m1", b, NULL), O_EPERM, want);
	snprintf(
	    want, sizeof(want), "member n0 is at %s, not %s", nodes[0].url, b);
	ask_op(s, hello_from("n0", b, NULL), O_EPERM, want);
	ask_op(s, hello_from("m1", a, NULL), O_OK, "");
	cr_assert_eq(members_of(0), 2);
	nng_close(s);
}

/* Start node i with the member file at its data directory holding n
 * bytes of p (name: its name, NULL for ni): refused, with a detail
 * holding part. */
static void
members_file_refused(
    int i, const char *name, const void *p, size_t n, const char *part)
{
	char path[300];

	if (nodes[i].dir == NULL)
		nodes[i].dir = ot_tmpdir("node");
	snprintf(path, sizeof(path), "%s/members", nodes[i].dir);
	cr_assert_eq(o_file_replace(path, p, n), O_OK, "%s", o_err_detail());
	cr_assert_neq(node_up(i, NULL, name), O_OK, "started over %s", part);
	cr_assert_not_null(strstr(o_err_detail(), part), "%s", o_err_detail());
	cr_assert_not_null(strstr(o_err_detail(), path), "%s", o_err_detail());
	nodes[i].node = NULL;
}

/* A node keeps its member list in its data directory: started again
 * without joining anyone, it knows every member before it serves.  The
 * list names the node it is: another node given it (a data directory
 * copied) refuses to start, and so does a file that is not a list, or
 * is larger than any list. */
Test(node, a_restarted_node_knows_its_members_from_its_file, .init = setup,
    .fini = teardown)
{
	uint8_t *big;
	char     path[300];
	FILE    *f;
	size_t   n;

	keep_members = true;
	nodes_up(3);
	node_down(2, true);
	join_none = true;
	cr_assert_eq(node_up(2, NULL, NULL), O_OK, "%s", o_err_detail());
	cr_assert_eq(
	    members_of(2), 3, "n2 started knowing %zu members", members_of(2));
	wait_up(2, 3);

	/* n2's list, in the directory of a node named n5 */
	snprintf(path, sizeof(path), "%s/members", nodes[2].dir);
	cr_assert_not_null(f = fopen(path, "re"), "%s", path);
	big = malloc((2u << 20) + 1);
	n   = fread(big, 1, 1u << 20, f);
	fclose(f);
	members_file_refused(
	    3, "n5", big, n, "is node n2's member list, and this node is n5");
	/* n2's own list, n2 started at another URL: every member knows it
	 * at its first and would refuse it there */
	members_file_refused(3, "n2", big, n, "node n2 was at");
	members_file_refused(
	    3, NULL, "junk", 4, "is not this node's member list");
	memset(big, 0xa0, (2u << 20) + 1);
	members_file_refused(3, NULL, big, (2u << 20) + 1,
	    "is larger than a member list can be");
	free(big);
	keep_members = false;
	join_none    = false;
}

/* A hello naming more known members than any list holds is refused
 * (each known name is compared with every member's). */
Test(node, a_hello_knowing_too_many_members_is_refused, .init = setup,
    .fini = teardown)
{
	nng_socket    s;
	struct oc_val op, known = oc_array();
	char          nm[16], url[64];
	int           i;

	node0_asker(&s);
	snprintf(url, sizeof(url), "tcp://127.0.0.1:%d", base_port + 45);
	for (i = 0; i < 65; i++) {
		snprintf(nm, sizeof(nm), "m%d", i);
		oc_arr_push(&known, oc_text(nm));
	}
	op = hello_from("crowd", url, NULL);
	oc_map_set(&op, "known", known);
	ask_op(s, op, O_EBADMSG, "65 known members");
	cr_assert_eq(members_of(0), 1, "the refused sender became a member");
	nng_close(s);
}

/*
 * A node given its own URL to join (every node handed the same seeds, it
 * among them) says hello to itself, sees its own name in the answer and
 * starts alone; the next node joins it.  (For a while the empty answer
 * made the join fail.)
 */
Test(node, a_node_given_its_own_url_to_join_starts_alone, .init = setup,
    .fini = teardown)
{
	join_self = true;
	cr_assert_eq(node_up(0, NULL, NULL), O_OK, "%s", o_err_detail());
	cr_assert_eq(members_of(0), 1);
	cr_assert_eq(node_up(1, NULL, NULL), O_OK, "%s", o_err_detail());
	wait_all(2);
}

/* Send bytes to node 0 as an SP request; return the answer's code and
 * detail, and the answer itself in *ans (the caller frees it). */
static o_err
ask_ans(nng_socket s, const void *p, size_t n, char *detail, size_t cap,
    struct oc_val *ans)
{
	void  *buf;
	size_t len;
	o_err  code = O_EINTERNAL;

	cr_assert_eq(nng_send(s, (void *) p, n, 0), 0);
	cr_assert_eq(nng_recv(s, &buf, &len, NNG_FLAG_ALLOC), 0,
	    "no answer: the peer stopped serving");
	cr_assert_eq(otr_wire_parse_answer(buf, len, ans, &code, detail, cap),
	    O_OK, "unreadable answer: %s", o_err_detail());
	nng_free(buf, len);
	return code;
}

static o_err
ask(nng_socket s, const void *p, size_t n, char *detail, size_t cap)
{
	struct oc_val ans;
	o_err         code = ask_ans(s, p, n, detail, cap, &ans);

	oc_val_fini(&ans);
	return code;
}

/* A pend request (action a, rev 1) inserting chunk id of collection col. */
static struct oc_val
chunk_pend_op(
    const struct oc_aid *a, const struct oc_bid *id, const struct oc_bid *col)
{
	struct oc_tfs t;
	struct oc_val blk, op = oc_map();

	oc_tfs_init(&t);
	blk = oc_block_new(id, OC_BT_CHUNK, col);
	oc_map_set(&blk, "data", oc_bytes("x", 1));
	oc_tfs_insert(&t, blk);
	oc_map_set(&op, "t", oc_text(OTR_T_PEND));
	oc_map_set(&op, "aid", oc_aid_val(a));
	oc_map_set(&op, "rev", oc_int(1));
	oc_map_set(&op, "tfs", oc_tfs_to_val(&t));
	oc_map_set(&op, "pol", oc_int(OC_POLICY_RETURN));
	oc_map_set(&op, "ttl", oc_int(5000));
	oc_tfs_fini(&t);
	return op;
}

static void
ask_op(nng_socket s, struct oc_val op, o_err want, const char *part)
{
	struct o_buf b = { 0 };
	char         d[256];
	o_err        got;

	otr_wire_request(&op, &b);
	got = ask(s, b.data, b.len, d, sizeof(d));
	o_buf_fini(&b);
	cr_assert_eq(got, want, "answer %s (%s), want %s", o_errname(got), d,
	    o_errname(want));
	cr_assert_not_null(strstr(d, part), "detail [%s] lacks [%s]", d, part);
}

Test(node, malformed_requests_are_answered_and_named, .init = setup,
    .fini = teardown)
{
	nng_socket    s;
	struct oc_val op;
	uint8_t       junk[512];
	char          d[256];
	size_t        i;

	node0_asker(&s);

	for (i = 0; i < sizeof(junk); i++)
		junk[i] = (uint8_t) (i * 37 + 11);
	cr_assert_eq(ask(s, junk, sizeof(junk), d, sizeof(d)), O_EBADMSG);
	cr_assert_eq(ask(s, junk, 0, d, sizeof(d)), O_EBADMSG);

	{ /* a node of the version before compare and set (2): its pends
	   * carry no bases, so it must not join (PROTOCOL.md §2) */
		struct oc_val m = oc_map(), o = oc_map();
		struct o_buf  b = { 0 };

		oc_map_set(&o, "t", oc_text(OTR_T_HELLO));
		oc_map_set(&m, "v", oc_int(2));
		oc_map_set(&m, "op", o);
		oc_encode(&m, &b);
		oc_val_fini(&m);
		cr_assert_eq(ask(s, b.data, b.len, d, sizeof(d)), O_EBADMSG);
		cr_assert_not_null(
		    strstr(d, "protocol version 2 (this node speaks 5)"), "%s",
		    d);
		o_buf_fini(&b);
	}

	op = oc_map(); /* an operation nobody knows */
	oc_map_set(&op, "t", oc_text("format-disk"));
	ask_op(s, op, O_EBADMSG, "unknown operation");

	op = oc_map(); /* a pend without its action */
	oc_map_set(&op, "t", oc_text(OTR_T_PEND));
	oc_map_set(&op, "rev", oc_int(1));
	ask_op(s, op, O_EBADMSG, "field aid");

	/* a pend whose writer fields (claims, PROTOCOL §4a) are bad: a
	 * negative or huge wait, a writer that is no action id; then one
	 * whose bases (compare and set, §4) are too many, negative, or not
	 * revisions */
	{
		static const int64_t waits[2] = { -1, INT64_MAX };
		int                  w;

		for (w = 0; w < 6; w++) {
			struct oc_aid a;
			struct oc_bid id;
			struct oc_val blk;

			oc_aid_random(&a);
			oc_bid_random(&id);
			op = chunk_pend_op(&a, &id, &id);
			if (w < 3) {
				oc_map_set(&op, "who",
				    w < 2 ? oc_aid_val(&a) : oc_text("me"));
				oc_map_set(&op, "wait",
				    oc_int(w < 2 ? waits[w] : 10));
				ask_op(s, op, O_EBADMSG,
				    w < 2 ? "field wait" : "field who");
				continue;
			}
			blk = oc_array(); /* one block: one base */
			if (w == 3) {
				oc_arr_push(&blk, oc_int(1));
				oc_arr_push(&blk, oc_int(1));
			} else
				oc_arr_push(
				    &blk, w == 4 ? oc_int(-1) : oc_text("1"));
			oc_map_set(&op, "base", blk);
			ask_op(s, op, O_EBADMSG,
			    w == 3 ? "not an array of 1 revisions"
			           : "item 0 is not a revision");
		}
	}

	/* a pend whose time to live is none, zero, negative or over an
	 * hour, or that names its expiry as a wall-clock time (what this
	 * protocol once sent: replicas whose clocks differ by more than a
	 * pend's life then took it as expired at once, or held it for as
	 * long as the difference) */
	{
		static const int64_t ttls[4] = { 0, -5, 3600001, INT64_MAX };
		int                  w;

		for (w = 0; w < 5; w++) {
			struct oc_aid a;
			struct oc_bid id;

			oc_aid_random(&a);
			oc_bid_random(&id);
			op = chunk_pend_op(&a, &id, &id);
			if (w < 4)
				oc_map_set(&op, "ttl", oc_int(ttls[w]));
			else {
				oc_map_del(&op, "ttl");
				oc_map_set(
				    &op, "exp", oc_int(o_now_ms() + 5000));
			}
			ask_op(s, op, O_EBADMSG, "field ttl");
		}
	}

	op = oc_map(); /* a get whose ids are not block ids */
	oc_map_set(&op, "t", oc_text(OTR_T_GET));
	{
		struct oc_val a = oc_array();

		oc_arr_push(&a, oc_bytes("short", 5));
		oc_map_set(&op, "ids", a);
	}
	ask_op(s, op, O_EBADMSG, "field ids[0]");

	op = oc_map(); /* an install of a block under another id */
	{
		struct oc_bid id, other;
		struct oc_aid a;
		struct oc_val blk;

		oc_bid_random(&id);
		oc_bid_random(&other);
		oc_aid_random(&a);
		blk = oc_block_new(&other, OC_BT_CHUNK, &other);
		oc_map_set(&blk, "data", oc_bytes("x", 1));
		oc_map_set(&op, "t", oc_text(OTR_T_INSTALL));
		oc_map_set(&op, "id", oc_bid_val(&id));
		oc_map_set(&op, "rev", oc_int(3));
		oc_map_set(&op, "aid", oc_aid_val(&a));
		oc_map_set(&op, "b", blk);
	}
	ask_op(s, op, O_EINVAL, "not a valid block with that id");

	/* batches (PROTOCOL §2): bad shapes are refused as a whole, bad
	 * requests inside one are answered one by one */
	op = oc_map();
	oc_map_set(&op, "t", oc_text(OTR_T_BATCH));
	oc_map_set(&op, "ops", oc_array());
	ask_op(s, op, O_EBADMSG, "field ops: not an array of 1 to");
	op = oc_map();
	oc_map_set(&op, "t", oc_text(OTR_T_BATCH));
	{
		struct oc_val a = oc_array();

		oc_arr_push(&a, oc_int(3));
		oc_map_set(&op, "ops", a);
	}
	ask_op(s, op, O_EBADMSG, "field ops[0]: not the bytes of a request");
	{
		struct oc_val a = oc_array(), in, ans, want[4];
		struct o_buf  b = { 0 };
		void         *buf;
		size_t        len;
		o_err         code;
		static const o_err codes[4] = { O_EBADMSG, O_EBADMSG,
			O_EBADMSG, O_OK };
		static const char *parts[4] = { "request", "a batch inside a "
			                                   "batch",
			"only pend, commit, cancel and status", "" };
		struct oc_aid aid;
		struct oc_bid bid;

		oc_arr_push(&a, oc_bytes(junk, 40)); /* not a request */
		want[1] = oc_map();                  /* a batch in a batch */
		oc_map_set(&want[1], "t", oc_text(OTR_T_BATCH));
		oc_map_set(&want[1], "ops", oc_array());
		want[2] = oc_map(); /* a get: travels alone */
		oc_map_set(&want[2], "t", oc_text(OTR_T_GET));
		oc_map_set(&want[2], "ids", oc_array());
		want[3] = oc_map(); /* a status nobody pended: answered */
		oc_aid_random(&aid);
		oc_bid_random(&bid);
		oc_map_set(&want[3], "t", oc_text(OTR_T_STATUS));
		oc_map_set(&want[3], "aid", oc_aid_val(&aid));
		oc_map_set(&want[3], "rev", oc_int(1));
		otr_put_ids(&want[3], "ids", &bid, 1);
		for (i = 1; i < 4; i++) {
			otr_wire_request(&want[i], &b);
			oc_arr_push(&a, oc_bytes(b.data, b.len));
			o_buf_reset(&b);
		}
		op = oc_map();
		oc_map_set(&op, "t", oc_text(OTR_T_BATCH));
		oc_map_set(&op, "ops", a);
		otr_wire_request(&op, &b);
		cr_assert_eq(nng_send(s, b.data, b.len, 0), 0);
		o_buf_fini(&b);
		cr_assert_eq(nng_recv(s, &buf, &len, NNG_FLAG_ALLOC), 0);
		cr_assert_eq(otr_wire_parse_answer(buf, len, &ans, &code, d,
		                 sizeof(d)),
		    O_OK);
		cr_assert_eq(code, O_OK, "%s", d);
		cr_assert_eq(oc_arr_len(oc_map_arr(&ans, "r")), 4);
		for (i = 0; i < 4; i++) {
			const struct oc_val *r =
			    oc_arr_at(oc_map_arr(&ans, "r"), i);

			cr_assert_eq(r->type, OC_BYTES);
			cr_assert_eq(otr_wire_parse_answer(r->u.s.p, r->u.s.n,
			                 &in, &code, d, sizeof(d)),
			    O_OK);
			cr_assert_eq(code, codes[i], "r[%zu]: %s (%s)", i,
			    o_errname(code), d);
			cr_assert_not_null(strstr(d, parts[i]),
			    "r[%zu]: detail [%s] lacks [%s]", i, d, parts[i]);
			if (i == 3)
				cr_assert_not_null(oc_map_arr(&in, "st"));
			oc_val_fini(&in);
		}
		oc_val_fini(&ans);
		nng_free(buf, len);
	}

	op = oc_map(); /* and a good request still works */
	oc_map_set(&op, "t", oc_text(OTR_T_GET));
	oc_map_set(&op, "ids", oc_array());
	ask_op(s, op, O_OK, "");
	nng_close(s);
}

/* The change feed: a collection committed many times in a row costs a
 * few messages, and every other node learns its latest revision; one
 * committed once is not lost among them. */
Test(node, the_feed_coalesces_a_busy_collection, .init = setup,
    .fini = teardown)
{
	struct oc_bid busy, quiet;
	int64_t       r;
	long          calls = 0;
	int           i, tries;

	for (i = 0; i < 3; i++)
		cr_assert_eq(node_up(i, NULL, NULL), O_OK, "n%d: %s", i,
		    o_err_detail());
	for (i = 0; i < 3; i++)
		wait_up(i, 3);
	o_sleep_ms(500); /* the feed's subscriptions are made */
	oc_bid_random(&busy);
	oc_bid_random(&quiet);
	for (i = 1; i < 3; i++) {
		pthread_mutex_lock(&fed[i].mtx);
		fed[i].calls  = 0;
		fed[i].col[0] = busy;
		fed[i].col[1] = quiet;
		fed[i].rev[0] = fed[i].rev[1] = 0;
		pthread_mutex_unlock(&fed[i].mtx);
	}
	otr_node_publish(nodes[0].node, &quiet, 7);
	for (r = 1; r <= 200; r++) { /* 1 ms apart: nng's queue keeps up */
		otr_node_publish(nodes[0].node, &busy, r);
		o_sleep_ms(1);
	}
	for (i = 1; i < 3; i++) {
		for (tries = 0; tries < 100; tries++) {
			bool seen;

			pthread_mutex_lock(&fed[i].mtx);
			seen  = fed[i].rev[0] == 200 && fed[i].rev[1] == 7;
			calls = fed[i].calls;
			pthread_mutex_unlock(&fed[i].mtx);
			if (seen)
				break;
			o_sleep_ms(10);
		}
		cr_assert_lt(tries, 100,
		    "n%d did not learn rev 200 of the busy collection and "
		    "rev 7 of the quiet one within a second (%" PRId64
		    ", %" PRId64 ")",
		    i, fed[i].rev[0], fed[i].rev[1]);
		cr_assert_lt(calls, 100,
		    "n%d was told %ld times of 201 commits: not coalesced", i,
		    calls);
	}
}

/* Watch collection col in node i's feed (slot 0), from revision 0. */
static void
fed_watch(int i, const struct oc_bid *col)
{
	pthread_mutex_lock(&fed[i].mtx);
	fed[i].col[0] = *col;
	fed[i].rev[0] = 0;
	pthread_mutex_unlock(&fed[i].mtx);
}

/* Whether node i was told of revision rev (or later) within 2 s. */
static bool
fed_reaches(int i, int64_t rev)
{
	for (int tries = 0; tries < 200; tries++) {
		bool seen;

		pthread_mutex_lock(&fed[i].mtx);
		seen = fed[i].rev[0] >= rev;
		pthread_mutex_unlock(&fed[i].mtx);
		if (seen)
			return true;
		o_sleep_ms(10);
	}
	return false;
}

/* A commit that every other member made is told to their mounts by
 * those members: the writer's node sends no feed message.  With a member
 * down, the feed carries it (to the member that is up, which also
 * learns it from its own commit). */
Test(node, replicas_tell_their_mounts_the_feed_tells_the_rest, .init = setup,
    .fini = teardown)
{
	struct oc_collection *c;
	struct oc_bid         id;
	int64_t               rev;
	int                   i;

	timeout_ms = 20000; /* no replica left behind on a loaded machine */
	nodes_up(3);
	o_sleep_ms(500); /* the feed's subscriptions are made */
	oc_bid_random(&id);
	for (i = 1; i < 3; i++)
		fed_watch(i, &id);
	cr_assert_eq(oc_diary_open(tx_of(0), &id, true, NULL, &c), O_OK);
	append_n(c, "x", 0, 2);
	cr_assert_eq(oc_coll_sync(c), O_OK, "%s", o_err_detail());
	rev = oc_coll_rev(c);
	cr_assert_gt(rev, 0);
	for (i = 1; i < 3; i++)
		cr_assert(fed_reaches(i, rev),
		    "n%d was not told of rev %" PRId64 " within 2 s (%" PRId64
		    ")",
		    i, rev, fed[i].rev[0]);
	cr_assert_eq(otr_node_feed_messages(nodes[0].node), 0,
	    "every member committed: no feed message is needed");

	node_down(2, true);
	append_n(c, "y", 0, 1);
	cr_assert_eq(oc_coll_sync(c), O_OK, "%s", o_err_detail());
	rev = oc_coll_rev(c);
	cr_assert(fed_reaches(1, rev), "n1 was not told of rev %" PRId64, rev);
	for (i = 0; i < 200 && otr_node_feed_messages(nodes[0].node) == 0; i++)
		o_sleep_ms(10); /* sent by the publisher thread */
	cr_assert_gt(otr_node_feed_messages(nodes[0].node), 0,
	    "a member did not commit: the feed must carry the change");
	oc_coll_free(c);
}

/*
 * The replica's half of a commit told without the feed: a commit served
 * for another node that names its collection ("col") is told to this
 * node's mount and answered "told"; one without it (a coordinator that
 * does not send it) tells nothing and says nothing, so that its
 * coordinator publishes on the feed.
 */
Test(node, a_served_commit_naming_its_collection_is_told, .init = setup,
    .fini = teardown)
{
	struct oc_bid col;
	nng_socket    s;
	int           k;

	node0_asker(&s);
	oc_bid_random(&col);
	fed_watch(0, &col);
	for (k = 0; k < 2; k++) {
		struct oc_val        op, ids, ans;
		const struct oc_val *told;
		struct oc_aid        a;
		struct oc_bid        id;
		struct o_buf         b = { 0 };
		char                 d[256];

		oc_aid_random(&a);
		oc_bid_random(&id);
		ask_op(s, chunk_pend_op(&a, &id, &col), O_OK, "");

		op  = oc_map();
		ids = oc_array();
		oc_arr_push(&ids, oc_bid_val(&id));
		oc_map_set(&op, "t", oc_text(OTR_T_COMMIT));
		oc_map_set(&op, "aid", oc_aid_val(&a));
		oc_map_set(&op, "rev", oc_int(1));
		oc_map_set(&op, "ids", ids);
		oc_map_set(&op, "crit", oc_bid_val(&id));
		if (k == 1)
			oc_map_set(&op, "col", oc_bid_val(&col));
		otr_wire_request(&op, &b);
		cr_assert_eq(ask_ans(s, b.data, b.len, d, sizeof(d), &ans),
		    O_OK, "commit %d: %s", k, d);
		o_buf_fini(&b);
		told = oc_map_get(&ans, "told");
		if (k == 0) {
			cr_assert_null(told, "answered told without col");
			o_sleep_ms(200); /* past the notifier's delay */
			cr_assert_eq(fed[0].rev[0], 0,
			    "the mount was told of a commit without col");
		} else {
			cr_assert(oc_map_bool(&ans, "told", false),
			    "a commit with col not answered told");
			cr_assert(fed_reaches(0, 1),
			    "the mount was not told of a commit with col");
		}
		oc_val_fini(&ans);
	}
	nng_close(s);
}

/* A burst of commits of more distinct collections than the feed queues
 * (1 024): the committing thread sends the full queue itself, and every
 * collection still reaches the other nodes.  n1's mount takes nothing
 * during the burst: its notifier holds, and what its feed thread reads
 * waits in the notifier's queue (before the notifier, the feed thread
 * held and ~300 messages waited in nng's subscriber queue, whose default
 * of 128 dropped the rest).  nng's publisher queue (16 by default)
 * matters only when a pipe is slow, which is not forced here. */
Test(node, a_burst_of_collections_overflowing_the_feed_reaches_everyone,
    .init = setup, .fini = teardown)
{
	enum { N = 20000 };
	struct oc_bid *cols     = o_calloc(N, sizeof(*cols));
	const int      probe[4] = { 0, 1023, 1024, N - 1 };
	int            i, j, tries;

	nodes_up(3);
	for (tries = 0; tries < 100; tries++) { /* the feed reaches both */
		struct oc_bid probe0;
		bool          both;

		oc_bid_random(&probe0);
		otr_node_publish(nodes[0].node, &probe0, 1);
		o_sleep_ms(50);
		pthread_mutex_lock(&fed[1].mtx);
		pthread_mutex_lock(&fed[2].mtx);
		both = fed[1].calls > 0 && fed[2].calls > 0;
		pthread_mutex_unlock(&fed[2].mtx);
		pthread_mutex_unlock(&fed[1].mtx);
		if (both)
			break;
	}
	cr_assert_lt(tries, 100, "the feed never reached both nodes");
	o_sleep_ms(100); /* the probes still on their way */
	for (i = 0; i < N; i++)
		oc_bid_random(&cols[i]);
	for (i = 1; i < 3; i++) {
		pthread_mutex_lock(&fed[i].mtx);
		fed[i].calls = 0;
		for (j = 0; j < 4; j++) {
			fed[i].col[j] = cols[probe[j]];
			fed[i].rev[j] = 0;
		}
		pthread_mutex_unlock(&fed[i].mtx);
	}
	atomic_store(&feed_held[1], true);
	for (i = 0; i < N; i++)
		otr_node_publish(nodes[0].node, &cols[i], 5);
	o_sleep_ms(500); /* all sent; n1's wait in its queue */
	atomic_store(&feed_held[1], false);
	for (i = 1; i < 3; i++) {
		int64_t got[4];
		long    calls;

		/* up to 10 s: ~300 messages decoded under a sanitizer on a
		 * loaded machine (only the outcome is asserted) */
		for (tries = 0; tries < 1000; tries++) {
			bool all = true;

			pthread_mutex_lock(&fed[i].mtx);
			calls = fed[i].calls;
			for (j = 0; j < 4; j++) {
				got[j] = fed[i].rev[j];
				all    = all && got[j] == 5;
			}
			pthread_mutex_unlock(&fed[i].mtx);
			if (all && calls >= N)
				break;
			o_sleep_ms(10);
		}
		for (j = 0; j < 4; j++)
			cr_assert_eq(got[j], 5,
			    "n%d never learned of collection %d of %d", i,
			    probe[j], N);
		cr_assert_geq(calls, N, "n%d learned of %ld collections of %d",
		    i, calls, N);
	}
	free(cols);
}

/* Writers of many diaries at once: their pends and commits to a member
 * leave in batches (fewer messages than requests), and all commit. */
struct bw {
	int           node, w, count;
	_Atomic int  *fails;
	struct oc_bid id; /* the writer's diary */
};

static void *
batch_writer(void *arg)
{
	struct bw            *b = arg;
	struct oc_collection *c;
	char                  tag[16];
	int                   j;

	oc_bid_random(&b->id);
	snprintf(tag, sizeof(tag), "w%d.", b->w);
	if (oc_diary_open(tx_of(b->node), &b->id, true, NULL, &c) != O_OK) {
		atomic_fetch_add(b->fails, 1);
		return NULL;
	}
	for (j = 0; j < b->count; j++) {
		append_n(c, tag, j, j + 1);
		if (oc_coll_sync(c) != O_OK)
			atomic_fetch_add(b->fails, 1);
	}
	oc_coll_free(c);
	return NULL;
}

/* Writer b's diary, read through node i, holds its lines in order. */
/* nw batch writers at once, writer i through node i % nnodes, each
 * committing count appends to its own diary; returns the failed commits. */
static int
writers_run(struct bw *b, int nw, int nnodes, int count)
{
	pthread_t  *th    = calloc((size_t) nw, sizeof(*th));
	_Atomic int fails = 0;
	int         i;

	for (i = 0; i < nw; i++) {
		b[i] = (struct bw) { .node = i % nnodes,
			.w                 = i,
			.count             = count,
			.fails             = &fails };
		cr_assert_eq(
		    pthread_create(&th[i], NULL, batch_writer, &b[i]), 0);
	}
	for (i = 0; i < nw; i++)
		pthread_join(th[i], NULL);
	free(th);
	return atomic_load(&fails);
}

static void
expect_writer(const struct bw *b, int i)
{
	struct lines l;
	char         want[4096];
	size_t       len = 0;
	int          j;

	for (j = 0; j < b->count; j++)
		len += (size_t) snprintf(
		    want + len, sizeof(want) - len, "w%d.%d|", b->w, j);
	read_diary(i, &b->id, &l);
	expect(&l, want, b->count);
}

/* The calls (failed, left unanswered) and messages counted for member
 * name in node i's status. */
static void
peer_counts(int i, const char *name, long *calls, long *failed, long *left,
    long *msgs)
{
	struct o_buf st = { 0 };
	char         pat[32];
	const char  *p;

	otr_node_status(nodes[i].node, &st);
	o_buf_append(&st, "", 1);
	snprintf(pat, sizeof(pat), "  peer %s ", name);
	p = strstr((const char *) st.data, pat);
	cr_assert_not_null(p, "no %s in %s", name, (const char *) st.data);
	cr_assert_not_null(strstr(p, "calls "));
	*calls  = atol(strstr(p, "calls ") + 6);
	*failed = atol(strstr(p, "failed ") + 7);
	*left   = atol(strstr(p, "left ") + 5);
	*msgs   = atol(strstr(p, "messages ") + 9);
	o_buf_fini(&st);
}

/* The calls node i left to member name because it was silent. */
static long
peer_skipped(int i, const char *name)
{
	struct o_buf st = { 0 };
	char         pat[32];
	const char  *p;
	long         v;

	otr_node_status(nodes[i].node, &st);
	o_buf_append(&st, "", 1);
	snprintf(pat, sizeof(pat), "  peer %s ", name);
	p = strstr((const char *) st.data, pat);
	cr_assert_not_null(p, "no %s in %s", name, (const char *) st.data);
	cr_assert_not_null(p = strstr(p, "skipped "));
	v = atol(p + 8);
	o_buf_fini(&st);
	return v;
}

Test(node, concurrent_transactions_travel_in_batches, .init = setup,
    .fini = teardown)
{
	enum { W = 24 };
	struct bw b[W];
	long      calls, failed, left, msgs;
	int       i, fails;

	for (i = 0; i < 3; i++)
		cr_assert_eq(node_up(i, NULL, NULL), O_OK, "n%d: %s", i,
		    o_err_detail());
	for (i = 0; i < 3; i++)
		wait_up(i, 3);
	fails = writers_run(b, W, 3, 25);
	cr_assert_eq(fails, 0, "%d commits failed", fails);
	peer_counts(0, "n1", &calls, &failed, &left, &msgs);
	cr_assert_gt(calls, W / 3 * 25 * 2, "n0 made %ld calls to n1", calls);
	cr_assert_lt(msgs, calls, "n0 sent %ld messages for %ld calls to n1: "
	                          "nothing was batched",
	    msgs, calls);
	/* a batch's commits are staged, then ended together */
	cr_assert_gt(atomic_load(&nodes[0].tx.staged) +
	        atomic_load(&nodes[1].tx.staged) +
	        atomic_load(&nodes[2].tx.staged),
	    0, "no batched commit was staged");
	/* every answer went to its own request: each diary, read through
	 * another node, holds its writer's lines, all, in order */
	for (i = 0; i < W; i++)
		expect_writer(&b[i], (b[i].node + 1) % 3);
}

/*
 * A member that is connected but never answers (an nng rep socket that
 * joined with a hello and reads nothing): 10 writers at once, more than
 * its 4 shared contexts, so requests queue behind them, time out in
 * flight or expire in the queue.  Every commit goes on with the other two
 * replicas, and every read, pend and commit goes on once they answered:
 * the calls to the silent member are left (counted), not waited out, so
 * all ten diaries read back, and a pend refused as stale by the two
 * fails at once too; the nodes stop with messages still in flight (under
 * ASan: the gone, left and aborted paths free what they should, once).
 */
static struct oc_get_res rv_local(int node, const struct oc_bid *id);
static struct oc_val rv_leaf(const struct oc_bid *id, int64_t v);
static o_err         net_set_w(int node, const struct oc_bid *x, int64_t rev);
static o_err net_tfs(int node, struct oc_tfs *t, const struct oc_bid *x,
    int64_t rev);

/*
 * n0 and n1 up (calls time out after tmo ms), and a member that is
 * connected but never answers: an nng rep socket (fake, closed in
 * teardown after the nodes) that joins with a hello and reads nothing.
 */
static void
silent_member_up(int tmo)
{
	nng_socket    s;
	struct oc_val op = oc_map(), ans;
	struct o_buf  buf = { 0 };
	char          url[64], d[256];
	void         *p;
	size_t        len, nm, up = 0;
	o_err         code;
	int           i, tries;

	timeout_ms = tmo;
	for (i = 0; i < 2; i++)
		cr_assert_eq(node_up(i, NULL, NULL), O_OK, "n%d: %s", i,
		    o_err_detail());
	snprintf(url, sizeof(url), "tcp://127.0.0.1:%d", base_port + 40);
	cr_assert_eq(nng_rep0_open(&fake), 0);
	fake_open = true;
	cr_assert_eq(nng_listen(fake, url, NULL, 0), 0);
	cr_assert_eq(nng_req0_open(&s), 0);
	nng_socket_set_ms(s, NNG_OPT_RECVTIMEO, 10000);
	cr_assert_eq(nng_dial(s, nodes[0].url, NULL, 0), 0);
	oc_map_set(&op, "t", oc_text(OTR_T_HELLO));
	oc_map_set(&op, "name", oc_text("silent"));
	oc_map_set(&op, "url", oc_text(url));
	oc_map_set(&op, "known", oc_array());
	otr_wire_request(&op, &buf);
	cr_assert_eq(nng_send(s, buf.data, buf.len, 0), 0);
	o_buf_fini(&buf);
	cr_assert_eq(nng_recv(s, &p, &len, NNG_FLAG_ALLOC), 0);
	cr_assert_eq(otr_wire_parse_answer(p, len, &ans, &code, d, sizeof(d)),
	    O_OK);
	cr_assert_eq(code, O_OK, "hello: %s", d);
	oc_val_fini(&ans);
	nng_free(p, len);
	nng_close(s);
	for (tries = 0; tries < 150; tries++) { /* n0 and n1 reach it */
		size_t nm1, up1;

		otr_node_counts(nodes[0].node, &nm, &up);
		otr_node_counts(nodes[1].node, &nm1, &up1);
		if (up == 3 && up1 == 3)
			break;
		o_sleep_ms(100);
	}
	cr_assert_eq(up, 3, "n0 reaches %zu of %zu members", up, nm);
}

/* Insert a new block *x (field v) through node i: pend and commit at rev
 * 2. */
static void
insert_new(int i, struct oc_bid *x, int64_t v)
{
	struct oc_tfs t;

	oc_bid_random(x);
	oc_tfs_init(&t);
	oc_tfs_insert(&t, rv_leaf(x, v));
	cr_assert_eq(net_tfs(i, &t, x, 2), O_OK, "%s", o_err_detail());
	oc_tfs_fini(&t);
}

Test(node, a_silent_member_is_left_behind_not_waited_for,
    .init = setup, .fini = teardown)
{
	enum { W = 10 };
	struct bw b[W];
	long      calls, failed, left, msgs;
	int       i, fails;

	silent_member_up(1500); /* a call waited out costs 1.5 s */
	fails = writers_run(b, W, 1, 3);
	cr_assert_eq(fails, 0,
	    "%d commits failed with one replica of three silent", fails);
	/* a pend refused as stale by n0 and n1 is decided then too (it
	 * waited out the silent member's deadline before) */
	{
		struct oc_bid x;
		long          left0;

		insert_new(0, &x, 1);
		peer_counts(0, "silent", &calls, &failed, &left0, &msgs);
		cr_assert_eq(net_set_w(0, &x, 2), O_ESTALE);
		peer_counts(0, "silent", &calls, &failed, &left, &msgs);
		cr_assert_gt(left, left0,
		    "the stale pend waited for the silent member");
	}
	/* every read, pend and commit goes on once n0 and n1 answered:
	 * its request to the silent member is left, not waited out (each
	 * of them cost 1.5 s before, and reading ten diaries back minutes) */
	for (i = 0; i < W; i++)
		expect_writer(&b[i], 1);
	peer_counts(0, "silent", &calls, &failed, &left, &msgs);
	cr_assert_geq(calls, 2 * 3 * W,
	    "n0 made %ld calls to the silent member", calls);
	cr_assert_geq(left, 2 * 3 * W,
	    "of %ld calls to the silent member, %ld left (%ld failed)", calls,
	    left, failed);
}

/*
 * Once the silent member has answered nothing since two messages went to
 * it, the second the write grace ago (a twentieth of the 2 s deadline
 * here), a pend no longer gives it that grace after a quorum answered: its
 * call is skipped at once (counted), and status shows it silent.  Only the
 * first two pends, which wait the grace out, are left the old way (the
 * commits do not go to a member whose pend was left, and the cancels sent
 * there are never waited for).  Before, every pend waited the grace for
 * it, as long as it hung.
 */
Test(node, a_member_silent_past_the_grace_is_skipped_at_once, .init = setup,
    .fini = teardown)
{
	enum { N = 20 };
	struct o_buf  st = { 0 };
	struct oc_bid x;
	long          calls, failed, left, msgs, skipped;
	const char   *p;
	int           i;

	silent_member_up(2000);
	for (i = 0; i < N; i++)
		insert_new(0, &x, i);
	otr_node_status(nodes[0].node, &st);
	o_buf_append(&st, "", 1);
	p = strstr((const char *) st.data, "  peer silent ");
	cr_assert_not_null(p, "%s", (const char *) st.data);
	cr_expect_not_null(strstr(p, " silent  calls "),
	    "status does not show it silent: %s", p);
	cr_assert_not_null(strstr(p, "skipped "));
	skipped = atol(strstr(p, "skipped ") + 8);
	o_buf_fini(&st);
	peer_counts(0, "silent", &calls, &failed, &left, &msgs);
	cr_expect_geq(skipped, N - 2,
	    "of %d pends, %ld skipped the silent member at once (%ld left)", N,
	    skipped, left);
	/* the member that answers is never skipped */
	peer_counts(0, "n1", &calls, &failed, &left, &msgs);
	cr_expect_eq(left, 0, "calls to n1 left: %ld", left);
}

/*
 * A member's silence waits for the bytes of the two messages it counts
 * from: 1 ms per 8 KiB of them, so a member reading a large message on its
 * one connection, with a second behind it, is not taken for hung; what
 * goes after the second changes nothing.  Right after the silent member
 * joined (at most a gossip hello went to it), a 1 MiB transaction puts
 * its pend among the first two messages out: its silence comes at least
 * the grace (100 ms here) plus 128 ms after the second; a second 1 MiB
 * transaction leaves that moment where it was.
 */
static void
insert_big(int i, size_t n)
{
	struct oc_bid x;
	struct oc_tfs t;
	struct oc_val b;
	char         *pad = calloc(1, n);

	oc_bid_random(&x);
	oc_tfs_init(&t);
	b = rv_leaf(&x, 3);
	oc_map_set(&b, "pad", oc_bytes(pad, n));
	oc_tfs_insert(&t, b);
	cr_assert_eq(net_tfs(i, &t, &x, 2), O_OK, "%s", o_err_detail());
	oc_tfs_fini(&t);
	free(pad);
}

Test(node, a_large_message_out_delays_a_members_silence, .init = setup,
    .fini = teardown)
{
	enum { BIG = 1 << 20 };
	int64_t next, at, next2, at2;

	silent_member_up(2000);
	cr_assert(otr_node_silence(nodes[0].node, "silent", &next, &at));
	cr_assert_eq(next, 0,
	    "two messages out to it before the first "
	    "transaction");
	insert_big(0, BIG);
	cr_assert(otr_node_silence(nodes[0].node, "silent", &next, &at));
	cr_assert_neq(next, 0, "fewer than two messages out to it");
	cr_assert_geq(at - next, 100 + (BIG >> 13),
	    "its silence comes %" PRId64 " ms after its second message",
	    at - next);
	insert_big(0, BIG);
	cr_assert(otr_node_silence(nodes[0].node, "silent", &next2, &at2));
	cr_expect_eq(next2, next, "its second message changed");
	cr_expect_eq(at2, at,
	    "a later message moved its silence by %" PRId64 " ms", at2 - at);
	/* a member that answers has none on its way once answered */
	cr_assert(otr_node_silence(nodes[0].node, "n1", &next, &at));
	cr_expect_eq(at, INT64_MAX);
	cr_expect(!otr_node_silence(nodes[0].node, "nobody", &next, &at));
}

/*
 * A pend that no majority can take (n0 holds a rival's pending, the silent
 * member never answers) is refused.  n1 accepted it: net_pend's cancel must
 * still reach n1, with time of its own (with a spent deadline it was
 * dropped unsent, "no time left", and the dead pending refused every
 * writer on n1 until it expired; found by a review).  The pend does not
 * wait out the silent member's deadline once the rival's refusal leaves
 * the majority to it alone, and a cancel of every replica (the
 * collection's, after a failed attempt) does not wait for it either: its
 * calls are left, none times out.  Before, each cost the whole deadline,
 * and two writers sharing a diary with one replica of three hung waited
 * 10-15 s per append, each holding the pending that refused the other
 * (s37 finding 6).
 */
Test(node, a_refused_pend_is_cancelled_where_accepted_after_a_silent_wait,
    .init = setup, .fini = teardown)
{
	struct oc_pend_req pr = { 0 };
	struct oc_txres    res;
	struct oc_tfs      t;
	struct oc_bid      x;
	struct oc_aid      rival;
	uint8_t            st;
	long               calls, failed0, failed, left0, left, msgs0, msgs;
	long               skipped0;
	o_err              e;

	silent_member_up(1500);
	insert_new(0, &x, 1);
	oc_tfs_init(&t);
	cr_assert_eq(oc_tfs_update(&t, &x, oc_op_set("w", oc_int(3))), O_OK);
	oc_aid_random(&rival);
	pr.aid    = rival;
	pr.rev    = 3;
	pr.tfs    = &t;
	pr.policy = OC_POLICY_FAIL;
	oc_txres_init(&res);
	cr_assert_eq(ost_repo_pend(nodes[0].repo, &pr, &res), O_OK, "%s",
	    o_err_detail());
	oc_txres_fini(&res);
	oc_aid_random(&pr.aid);
	peer_counts(0, "silent", &calls, &failed0, &left0, &msgs0);
	oc_txres_init(&res);
	e = tx_of(0)->ops->pend(tx_of(0), &pr, &res);
	oc_txres_fini(&res);
	cr_assert_eq(e, O_EPENDING, "%s: %s", o_errname(e), o_err_detail());
	cr_assert_eq(
	    ost_repo_status(nodes[1].repo, &pr.aid, 3, &x, 1, &st), O_OK);
	cr_expect_neq(
	    st, OC_ST_PENDING, "n1 still holds the refused pend's pending");
	/* the silent member, which may take the pend late, gets a cancel
	 * too (not waited for) */
	peer_counts(0, "silent", &calls, &failed, &left, &msgs);
	cr_expect_geq(msgs - msgs0, 2, "%ld messages to the silent member",
	    msgs - msgs0);
	cr_expect_eq(failed, failed0,
	    "the pend waited out the silent member's deadline");
	cr_expect_gt(left, left0, "the pend's call to it was not left");
	/* the collection's cancel, which waits for every replica but a
	 * silent one */
	left0    = left;
	skipped0 = peer_skipped(0, "silent");
	cr_assert_eq(tx_of(0)->ops->cancel(tx_of(0), &pr.aid, &x, 1), O_OK);
	peer_counts(0, "silent", &calls, &failed, &left, &msgs);
	cr_expect_eq(failed, failed0,
	    "the cancel waited out the silent member's deadline");
	cr_expect_gt(left, left0, "the cancel's call to it was not left");
	cr_expect_gt(peer_skipped(0, "silent"), skipped0,
	    "the cancel's call left to the silent member is not counted "
	    "skipped");
	oc_tfs_fini(&t);
}

/*
 * A member silent for a whole deadline more is hung: a call that waits for
 * every answer (a status) or needs it for a quorum leaves it at once, and
 * fails or goes on with what the others said.  Before, each such call
 * waited its whole deadline, and with two replicas of three stopped one
 * append, made of several calls, took 10-15 s to fail, each later one
 * too (s37 finding 8).  Here: n1 down, so a read has n0 alone and needs
 * the silent member; after the first calls waited their deadline out,
 * the next read and status leave it at once (counted skipped).
 */
Test(node, a_member_hung_for_a_deadline_is_not_waited_for, .init = setup,
    .fini = teardown)
{
	struct oc_get_res r;
	struct oc_bid     x;
	struct oc_aid     a;
	struct o_buf      out = { 0 };
	uint8_t           st[1];
	int64_t           next, at;
	long              calls, failed0, failed, left0, left, msgs;
	int               i;
	o_err             e;

	silent_member_up(1000);
	insert_new(0, &x, 1);
	for (i = 0; i < 2; i++) /* two messages out to it, unanswered */
		insert_new(0, &x, 1);
	cr_assert(otr_node_silence(nodes[0].node, "silent", &next, &at));
	cr_assert_neq(
	    at, INT64_MAX, "the member is not on its way to silence");
	while (o_mono_ms() < at + timeout_ms + 50) /* hung from then on */
		o_sleep_ms(50);
	node_down(1, false);
	peer_counts(0, "silent", &calls, &failed0, &left0, &msgs);
	oc_get_res_init(&r);
	cr_assert_eq(tx_of(0)->ops->get(tx_of(0), &x, 1, NULL, &r), O_OK);
	cr_expect_eq(r.state, OC_GET_UNKNOWN, "one replica of three read");
	cr_expect_not_null(
	    strstr(r.reason, "none usable from"), "%s", r.reason);
	cr_expect(strstr(r.reason, "silent") != NULL &&
	        strstr(r.reason, "n1") != NULL,
	    "the reason does not name both replicas: %s", r.reason);
	oc_get_res_fini(&r);
	oc_aid_random(&a);
	e = tx_of(0)->ops->status(tx_of(0), &a, 2, &x, 1, st);
	cr_expect_eq(e, O_EUNAVAIL, "one answer of three: %s", o_errname(e));
	cr_expect_eq(st[0], OC_ST_UNKNOWN, "status %d", st[0]);
	otr_node_status(nodes[0].node, &out);
	o_buf_append(&out, "", 1);
	cr_expect_not_null(strstr((const char *) out.data, " hung  calls "),
	    "status does not show the member hung: %s",
	    (const char *) out.data);
	o_buf_fini(&out);
	peer_counts(0, "silent", &calls, &failed, &left, &msgs);
	cr_expect_eq(failed, failed0,
	    "%ld calls waited out the hung member's deadline",
	    failed - failed0);
	cr_expect_geq(left - left0, 2, "%ld calls to the hung member left",
	    left - left0);
}

/*
 * A hung member that resumes is heard again from its first answer, even
 * one that comes after its request was given up: the silent member, hung,
 * answers the oldest request it holds (a pend that timed out long ago),
 * and n0 counts it neither silent nor hung any more.  Before, such late
 * answers were dropped unseen, and the member stayed hung until a request
 * sent after it resumed was answered (the gossip hello's, up to a second
 * later): meanwhile, with another replica down, every call that needed it
 * failed at once (s41 review, item 6).
 */
Test(node, a_late_answer_ends_a_hung_members_silence, .init = setup,
    .fini = teardown)
{
	struct o_buf  out = { 0 }, b = { 0 };
	struct oc_bid x;
	int64_t       next, at;
	void         *p;
	size_t        len;
	bool          answered = false;
	int           i;

	silent_member_up(1000);
	for (i = 0; i < 3; i++) /* messages out to it, unanswered */
		insert_new(0, &x, i);
	cr_assert(otr_node_silence(nodes[0].node, "silent", &next, &at));
	cr_assert_neq(
	    at, INT64_MAX, "the member is not on its way to silence");
	while (o_mono_ms() < at + timeout_ms + 50) /* hung from then on */
		o_sleep_ms(50);
	otr_node_status(nodes[0].node, &out);
	o_buf_append(&out, "", 1);
	cr_assert_not_null(strstr((const char *) out.data, " hung  calls "),
	    "%s", (const char *) out.data);
	o_buf_fini(&out);
	/* it resumes: the first request it reads that is not a hello (each
	 * of n0's was given up a deadline ago) is answered */
	nng_socket_set_ms(fake, NNG_OPT_RECVTIMEO, 2000);
	while (!answered && nng_recv(fake, &p, &len, NNG_FLAG_ALLOC) == 0) {
		struct oc_val op, ans;
		const char   *t;

		cr_assert_eq(otr_wire_parse_request(p, len, &op), O_OK);
		nng_free(p, len);
		t = oc_map_text(&op, "t");
		cr_assert_not_null(t);
		if (strcmp(t, OTR_T_HELLO) != 0) {
			ans = otr_wire_answer(O_OK, "");
			oc_encode(&ans, &b);
			oc_val_fini(&ans);
			cr_assert_eq(nng_send(fake, b.data, b.len, 0), 0);
			answered = true;
		}
		oc_val_fini(&op);
	}
	cr_assert(answered, "the silent member got no request to answer");
	o_buf_fini(&b);
	for (i = 0; i < 50; i++) {
		cr_assert(
		    otr_node_silence(nodes[0].node, "silent", &next, &at));
		if (at == INT64_MAX)
			break;
		o_sleep_ms(10);
	}
	cr_expect_eq(at, INT64_MAX,
	    "the member answered, late, and is still silent (from %" PRId64
	    " ms ago)",
	    o_mono_ms() - next);
	otr_node_status(nodes[0].node, &out);
	o_buf_append(&out, "", 1);
	cr_expect_null(strstr((const char *) out.data, " hung  calls "),
	    "status still shows it hung: %s", (const char *) out.data);
	o_buf_fini(&out);
}

/*
 * Requests left in a member's queue when the node stops: with the silent
 * member and calls timing out after 10 s, 4 transactions in a row leave
 * their pends and cancels to it, the first 4 in flight (holding its 4
 * contexts: nng times them out only after 10 s), the rest queued behind
 * them; the nodes stop at once.  The stop frees the queued ones unsent
 * and aborts the others (under ASan: each freed exactly once).
 */
Test(node, stopping_frees_requests_left_in_a_queue, .init = setup,
    .fini = teardown)
{
	struct oc_bid x;
	long          calls, failed, left, msgs;
	int           i;

	silent_member_up(10000);
	for (i = 0; i < 4; i++)
		insert_new(0, &x, 1);
	peer_counts(0, "silent", &calls, &failed, &left, &msgs);
	cr_assert_geq(left, 8, "%ld calls left", left);
	cr_assert_geq(calls - msgs, 4,
	    "%ld calls, %ld messages: too few requests queued", calls, msgs);
}

/*
 * A replica that answers pends at once but takes a second to commit: each
 * commit through n0 is decided by n0 and n1 and goes on after a bounded
 * grace, leaving n2's commit (counted left, not failed), and n2 still
 * commits every one (the request still went).  Waiting for every replica,
 * each commit took n2's second and nothing was left.
 */
Test(node, a_commit_goes_on_once_a_majority_committed, .init = setup,
    .fini = teardown)
{
	enum { N = 4 };
	struct oc_bid x[N];
	long          calls, failed0, failed, left0, left, msgs;
	int           i, tries;

	nodes_up(3);
	atomic_store(&nodes[2].tx.stall_ms, 1000);
	peer_counts(0, "n2", &calls, &failed0, &left0, &msgs);
	for (i = 0; i < N; i++)
		insert_new(0, &x[i], i);
	peer_counts(0, "n2", &calls, &failed, &left, &msgs);
	cr_assert_geq(left - left0, N,
	    "%ld of %d commits to the slow replica left", left - left0, N);
	cr_assert_eq(failed, failed0, "calls to n2 failed: %ld", failed);
	for (i = 0; i < N; i++) { /* and they still land there */
		struct oc_get_res r;

		for (tries = 0; tries < 100; tries++) {
			r = rv_local(2, &x[i]);
			if (r.latest_rev == 2)
				break;
			oc_get_res_fini(&r);
			o_sleep_ms(100);
		}
		cr_assert_eq(r.latest_rev, 2, "n2 never committed block %d", i);
		cr_assert_eq(oc_map_get(&r.block, "v")->u.i, i);
		oc_get_res_fini(&r);
	}
}

/* ---- found by a review --------------------------------------------- */

static struct oc_val
rv_leaf(const struct oc_bid *id, int64_t v)
{
	struct oc_bid col;
	struct oc_val b;

	memset(&col, 0x77, sizeof(col));
	b = oc_block_new(id, OC_BT_LEAF, &col);
	oc_map_set(&b, "entries", oc_array());
	oc_map_set(&b, "v", oc_int(v));
	return b;
}

/* pend + commit one transform set on one node's own store (no network). */
static void
rv_txn(int node, const struct oc_aid *a, int64_t rev, struct oc_tfs *t)
{
	struct oc_pend_req   pr = { 0 };
	struct oc_commit_req cq = { 0 };
	struct oc_txres      res;

	pr.aid    = *a;
	pr.rev    = rev;
	pr.tfs    = t;
	pr.policy = OC_POLICY_FAIL;
	oc_txres_init(&res);
	cr_assert_eq(ost_repo_pend(nodes[node].repo, &pr, &res), O_OK, "%s",
	    o_err_detail());
	cq.aid      = *a;
	cq.rev      = rev;
	cq.ids      = &t->e[0].id;
	cq.n        = 1;
	cq.critical = t->e[0].id;
	cr_assert_eq(ost_repo_commit(nodes[node].repo, &cq, &res), O_OK, "%s",
	    o_err_detail());
	oc_txres_fini(&res);
}

static struct oc_get_res
rv_local(int node, const struct oc_bid *id)
{
	struct oc_transactor *t = ost_local_transactor(nodes[node].repo);
	struct oc_get_res     r;

	oc_get_res_init(&r);
	cr_assert_eq(t->ops->get(t, id, 1, NULL, &r), O_OK);
	return r;
}

struct big_check {
	const char *want;
	size_t      n;
	int         items, same;
};

static int
big_cb(void *arg, int64_t rev, const uint8_t *p, size_t n)
{
	struct big_check *bc = arg;

	(void) rev;
	bc->items++;
	bc->same = n == bc->n && memcmp(p, bc->want, n) == 0;
	return 0;
}

/*
 * A batch runs a request on a block that an earlier request of the batch
 * touches after it (serve_batch): a coordinator that went on once a
 * majority committed sends its next pend right behind the commit to the
 * slower replica, often in one message, and a pend then a cancel of one
 * action can share one too.  Here 8 transactions on block x, each a pend
 * then a commit, in one batch with unrelated inserts between them: every
 * one commits, and x ends at revision 8.  Run all at once, a commit could
 * run before its pend and a pend before its predecessor's commit.
 */
Test(node, a_batch_runs_requests_on_one_block_in_order, .init = setup,
    .fini = teardown)
{
	enum { N = 8 };
	nng_socket        s;
	struct oc_val     ops = oc_array(), op, ans, in;
	struct oc_bid     x;
	struct oc_aid     a[N];
	struct o_buf      b = { 0 };
	struct oc_get_res r;
	void             *buf;
	size_t            len, i;
	o_err             code;
	char              d[256];

	cr_assert_eq(node_up(0, NULL, NULL), O_OK, "%s", o_err_detail());
	oc_bid_random(&x);
	for (i = 0; i < N; i++) {
		struct oc_tfs t, ty;
		struct oc_bid y;
		struct oc_aid ay;
		int           pass;

		oc_aid_random(&a[i]);
		oc_tfs_init(&t);
		if (i == 0)
			oc_tfs_insert(&t, rv_leaf(&x, 0));
		else
			cr_assert_eq(oc_tfs_update(&t, &x,
			                 oc_op_set("w", oc_int((int64_t) i))),
			    O_OK);
		oc_bid_random(&y); /* another block, another action */
		oc_aid_random(&ay);
		oc_tfs_init(&ty);
		oc_tfs_insert(&ty, rv_leaf(&y, 1));
		for (pass = 0; pass < 4; pass++) {
			const struct oc_aid *aid = pass % 2 ? &ay : &a[i];
			const struct oc_bid *id  = pass % 2 ? &y : &x;

			op = oc_map();
			oc_map_set(&op, "t",
			    oc_text(pass < 2 ? OTR_T_PEND : OTR_T_COMMIT));
			oc_map_set(&op, "aid", oc_aid_val(aid));
			oc_map_set(&op, "rev", oc_int((int64_t) i + 1));
			if (pass < 2) {
				oc_map_set(&op, "tfs",
				    oc_tfs_to_val(pass % 2 ? &ty : &t));
				oc_map_set(&op, "pol", oc_int(OC_POLICY_FAIL));
				oc_map_set(&op, "ttl", oc_int(30000));
			} else {
				otr_put_ids(&op, "ids", id, 1);
				oc_map_set(&op, "crit", oc_bid_val(id));
			}
			otr_wire_request(&op, &b);
			oc_arr_push(&ops, oc_bytes(b.data, b.len));
			o_buf_reset(&b);
		}
		oc_tfs_fini(&t);
		oc_tfs_fini(&ty);
	}
	op = oc_map();
	oc_map_set(&op, "t", oc_text(OTR_T_BATCH));
	oc_map_set(&op, "ops", ops);
	otr_wire_request(&op, &b);
	cr_assert_eq(nng_req0_open(&s), 0);
	nng_socket_set_ms(s, NNG_OPT_RECVTIMEO, 10000);
	cr_assert_eq(nng_dial(s, nodes[0].url, NULL, 0), 0);
	cr_assert_eq(nng_send(s, b.data, b.len, 0), 0);
	o_buf_fini(&b);
	cr_assert_eq(nng_recv(s, &buf, &len, NNG_FLAG_ALLOC), 0);
	cr_assert_eq(
	    otr_wire_parse_answer(buf, len, &ans, &code, d, sizeof(d)), O_OK);
	cr_assert_eq(code, O_OK, "%s", d);
	cr_assert_eq(oc_arr_len(oc_map_arr(&ans, "r")), 4 * N);
	for (i = 0; i < 4 * N; i++) {
		const struct oc_val *v = oc_arr_at(oc_map_arr(&ans, "r"), i);

		cr_assert_eq(otr_wire_parse_answer(v->u.s.p, v->u.s.n, &in,
		                 &code, d, sizeof(d)),
		    O_OK);
		cr_assert_eq(code, O_OK, "request %zu (%s of transaction %zu): "
		                         "%s (%s)",
		    i, i % 4 < 2 ? "pend" : "commit", i / 4, o_errname(code),
		    d);
		oc_val_fini(&in);
	}
	oc_val_fini(&ans);
	nng_free(buf, len);
	nng_close(s);
	r = rv_local(0, &x);
	cr_assert_eq(r.latest_rev, N);
	cr_assert(oc_aid_eq(&r.latest_aid, &a[N - 1]));
	cr_assert_eq(oc_map_get(&r.block, "w")->u.i, N - 1);
	oc_get_res_fini(&r);
}

/* Three nodes up; block *x inserted at rev 2 by *a1 on each one's store. */
static void
three_nodes_and_x(struct oc_bid *x, struct oc_aid *a1)
{
	struct oc_tfs t;
	int           i;

	nodes_up(3);
	oc_bid_random(x);
	oc_aid_random(a1);
	for (i = 0; i < 3; i++) {
		oc_tfs_init(&t);
		oc_tfs_insert(&t, rv_leaf(x, 1));
		rv_txn(i, a1, 2, &t);
		oc_tfs_fini(&t);
	}
}

Test(node, a_pinned_read_never_repairs, .init = setup,
    .fini = teardown)
{
	struct oc_bid     x;
	struct oc_aid     a1, a2;
	struct oc_actx    ctx;
	struct oc_get_res r;
	int               i;

	three_nodes_and_x(&x, &a1);
	oc_aid_random(&a2);
	for (i = 0; i < 2; i++) { /* rev 3 on n0, n1 only (n2 missed it) */
		struct oc_tfs t;

		oc_tfs_init(&t);
		cr_assert_eq(oc_tfs_update(&t, &x, oc_op_set("v", oc_int(7))),
		    O_OK);
		rv_txn(i, &a2, 3, &t);
		oc_tfs_fini(&t);
	}
	oc_actx_init(&ctx);
	ctx.rev = 1; /* a reader whose context predates x */
	oc_get_res_init(&r);
	cr_assert_eq(tx_of(0)->ops->get(tx_of(0), &x, 1, &ctx, &r), O_OK);
	cr_assert_eq(r.state, OC_GET_ABSENT); /* right for that context */
	oc_get_res_fini(&r);
	oc_actx_fini(&ctx);

	r = rv_local(2, &x);
	cr_assert_eq(r.state, OC_GET_BLOCK,
	    "n2 lost block x: 'repaired' to a delete at rev %" PRId64
	    " by a pinned read", r.latest_rev);
	oc_get_res_fini(&r);
}

/* Rev 3 of x (see three_nodes_and_x): *a2's on n0 and n1, *a9's (other
 * content) on n2: an undecided commit overtaken by a rival after its
 * pendings expired. */
static void
diverge_at_3(struct oc_bid *x, struct oc_aid *a2, struct oc_aid *a9)
{
	struct oc_aid a1;
	struct oc_tfs t;
	int           i;

	three_nodes_and_x(x, &a1);
	oc_aid_random(a2);
	oc_aid_random(a9);
	for (i = 0; i < 3; i++) {
		struct oc_val e = oc_array();

		oc_tfs_init(&t);
		oc_arr_push(&e, oc_int(9));
		cr_assert_eq(oc_tfs_update(&t, x,
		                 i < 2 ? oc_op_set("v", oc_int(7))
		                       : oc_op_splice("entries", 0, 0, e)),
		    O_OK);
		if (i < 2)
			oc_val_fini(&e);
		rv_txn(i, i < 2 ? a2 : a9, 3, &t);
		oc_tfs_fini(&t);
	}
}

/* Pend and commit transform set t at rev through node, x its critical
 * block. */
static o_err
net_tfs(int node, struct oc_tfs *t, const struct oc_bid *x, int64_t rev)
{
	struct oc_pend_req   pr = { 0 };
	struct oc_commit_req cq = { 0 };
	struct oc_txres      res;
	struct oc_bid        ids[8];
	size_t               i;
	o_err                e;

	cr_assert_leq(t->n, 8);
	for (i = 0; i < t->n; i++)
		ids[i] = t->e[i].id;
	oc_txres_init(&res);
	oc_aid_random(&pr.aid);
	pr.rev      = rev;
	pr.tfs      = t;
	pr.policy   = OC_POLICY_FAIL;
	cq.aid      = pr.aid;
	cq.rev      = rev;
	cq.ids      = ids;
	cq.n        = t->n;
	cq.critical = *x;
	if ((e = tx_of(node)->ops->pend(tx_of(node), &pr, &res)) == O_OK)
		e = tx_of(node)->ops->commit(tx_of(node), &cq, &res);
	oc_txres_fini(&res);
	return e;
}

static o_err
net_set_w(int node, const struct oc_bid *x, int64_t rev)
{
	struct oc_tfs t;
	o_err         e;

	oc_tfs_init(&t);
	cr_assert_eq(oc_tfs_update(&t, x, oc_op_set("w", oc_int(rev))), O_OK);
	e = net_tfs(node, &t, x, rev);
	oc_tfs_fini(&t);
	return e;
}

/* Rev 3 of x (see three_nodes_and_x), {v = 7} by *a2, on n0 and n1
 * only: n2 missed that commit and holds x at rev 2. */
static void
n2_misses_rev_3(struct oc_bid *x, struct oc_aid *a2)
{
	struct oc_aid a1;
	struct oc_tfs t;
	int           i;

	oc_bid_random(x);
	oc_aid_random(&a1);
	oc_aid_random(a2);
	for (i = 0; i < 3; i++) {
		oc_tfs_init(&t);
		oc_tfs_insert(&t, rv_leaf(x, 1));
		rv_txn(i, &a1, 2, &t);
		oc_tfs_fini(&t);
	}
	for (i = 0; i < 2; i++) {
		oc_tfs_init(&t);
		cr_assert_eq(oc_tfs_update(&t, x, oc_op_set("v", oc_int(7))),
		    O_OK);
		rv_txn(i, a2, 3, &t);
		oc_tfs_fini(&t);
	}
}

/*
 * The known gap of quorum waits, closed by compare and set (PROTOCOL.md
 * §1, §4): a pend that reaches a replica which missed a commit (a pend
 * left to it, whose cancel may come late) used to be stored there over
 * the older base, and a read whose context lists the action then
 * promoted it: the replica held the decided revision and action with
 * other content, which no quorum comparison can tell apart.  Now the
 * pend names its base, that replica refuses it, and the read repairs it.
 * Through a coordinator, the refusal makes it repair and pend there
 * again, so all three replicas commit.
 */
Test(node, a_replica_that_missed_a_commit_refuses_a_pend_over_it,
    .init = setup, .fini = teardown)
{
	struct oc_bid        x;
	struct oc_aid        a2, a4;
	struct oc_tfs        t;
	struct oc_pend_req   pr = { 0 };
	struct oc_commit_req cq = { 0 };
	struct oc_txres      res;
	struct oc_actx       ctx;
	struct oc_get_res    r, r0;
	int64_t              base = 3;
	long                 calls, failed, left0, left, msgs;
	o_err                e;
	int                  i;

	nodes_up(3);
	n2_misses_rev_3(&x, &a2);
	oc_aid_random(&a4);
	oc_tfs_init(&t);
	cr_assert_eq(oc_tfs_update(&t, &x, oc_op_set("w", oc_int(4))), O_OK);
	pr.aid    = a4;
	pr.rev    = 4;
	pr.tfs    = &t;
	pr.policy = OC_POLICY_FAIL;
	pr.base   = &base;
	oc_txres_init(&res);
	/* the pend a coordinator left to n2, arriving after the commit */
	e = ost_repo_pend(nodes[2].repo, &pr, &res);
	cr_expect_eq(e, O_EBEHIND, "n2 took an update over rev 2 that was "
	                           "computed over rev 3: %s",
	    o_errname(e));
	cq.aid      = a4;
	cq.rev      = 4;
	cq.ids      = &x;
	cq.n        = 1;
	cq.critical = x;
	for (i = 0; i < 2; i++) {
		cr_assert_eq(ost_repo_pend(nodes[i].repo, &pr, &res), O_OK);
		cr_assert_eq(ost_repo_commit(nodes[i].repo, &cq, &res), O_OK);
	}
	/* a reader that knows a4 committed, through n2 */
	oc_actx_init(&ctx);
	oc_actx_add(&ctx, &a4, 4);
	oc_get_res_init(&r);
	cr_assert_eq(tx_of(2)->ops->get(tx_of(2), &x, 1, &ctx, &r), O_OK);
	cr_expect_eq(r.latest_rev, 4);
	cr_expect_eq(oc_map_int(&r.block, "v", -1), 7, "the read got rev 3's v");
	oc_get_res_fini(&r);
	oc_actx_fini(&ctx);
	r0 = rv_local(0, &x);
	r  = rv_local(2, &x);
	cr_assert(r.latest_rev < 4 || oc_val_eq(&r.block, &r0.block),
	    "n2 holds rev 4 with v = %" PRId64 " where the others hold v = 7",
	    oc_map_int(&r.block, "v", -1));
	oc_get_res_fini(&r);
	oc_get_res_fini(&r0);
	oc_tfs_fini(&t);

	/* through a coordinator: n2 refuses, is repaired, pends again; n2
	 * reads slower than a read's grace (3 ms), as under ASan on a busy
	 * machine, where a CI run saw the repair read stop before n2's
	 * answer: n2 was not repaired and the commit left it behind */
	atomic_store(&nodes[2].tx.get_stall_ms, 50);
	n2_misses_rev_3(&x, &a2);
	oc_tfs_init(&t);
	cr_assert_eq(oc_tfs_update(&t, &x, oc_op_set("w", oc_int(4))), O_OK);
	oc_aid_random(&pr.aid);
	pr.tfs  = &t;
	cq.aid      = pr.aid;
	cq.critical = x;
	e       = tx_of(0)->ops->pend(tx_of(0), &pr, &res);
	cr_assert_eq(e, O_OK, "%s", o_err_detail());
	cr_assert_eq(tx_of(0)->ops->commit(tx_of(0), &cq, &res), O_OK, "%s",
	    o_err_detail());
	r0 = rv_local(0, &x);
	for (i = 0;; i++) { /* a commit left to n2 after the majority's */
		r = rv_local(2, &x);
		if (r.latest_rev == 4 || i == 250)
			break;
		oc_get_res_fini(&r);
		o_sleep_ms(20);
	}
	cr_expect_eq(r.latest_rev, 4, "n2 was repaired and committed too");
	cr_expect(oc_val_eq(&r.block, &r0.block));
	oc_get_res_fini(&r);
	oc_get_res_fini(&r0);
	oc_tfs_fini(&t);

	/* n2 behind again, and its reads hang past the pend's deadline: the
	 * repair read leaves it after the write grace (the majority of n0
	 * and n1 decides the pend), instead of waiting out the deadline */
	atomic_store(&nodes[2].tx.get_stall_ms, timeout_ms + 500);
	n2_misses_rev_3(&x, &a2);
	oc_tfs_init(&t);
	cr_assert_eq(oc_tfs_update(&t, &x, oc_op_set("w", oc_int(4))), O_OK);
	oc_aid_random(&pr.aid);
	pr.tfs = &t;
	peer_counts(0, "n2", &calls, &failed, &left0, &msgs);
	e = tx_of(0)->ops->pend(tx_of(0), &pr, &res);
	cr_assert_eq(e, O_OK, "%s", o_err_detail());
	peer_counts(0, "n2", &calls, &failed, &left, &msgs);
	cr_expect_gt(left, left0,
	    "the repair read waited for the hung replica to the deadline");
	atomic_store(&nodes[2].tx.get_stall_ms, 0);
	oc_txres_fini(&res);
	oc_tfs_fini(&t);
}

/*
 * With a replica holding another action at the revision, the next update
 * must not count that replica: its base differs (found by a review; pend
 * once compared revisions only).
 */
Test(node, a_replica_with_another_action_at_the_revision_is_not_counted,
    .init = setup, .fini = teardown)
{
	struct oc_bid     x;
	struct oc_aid     a2, a9;
	struct oc_get_res r, r0;

	diverge_at_3(&x, &a2, &a9);
	cr_assert_eq(net_set_w(0, &x, 4), O_OK, "%s", o_err_detail());
	r0 = rv_local(0, &x);
	r  = rv_local(2, &x);
	cr_assert_eq(r0.latest_rev, 4);
	cr_assert(r.latest_rev < 4 || oc_val_eq(&r.block, &r0.block),
	    "n2 committed rev 4 on the other action's content");
	oc_get_res_fini(&r);
	oc_get_res_fini(&r0);
}

/*
 * A replica holding an undecided action at the revision converges to the
 * majority's decision on a read; afterwards it counts again, so the block
 * stays writable with another replica down (before, a read never replaced
 * the same revision and the block needed all three replicas up).
 */
Test(node, a_diverged_replica_converges_to_the_majority, .init = setup,
    .fini = teardown)
{
	struct oc_bid     x;
	struct oc_aid     a2, a9;
	struct oc_get_res r, r0;
	int               tries;

	diverge_at_3(&x, &a2, &a9);
	/* a read repairs the replicas that answered it before it went on
	 * (n2 can be late on a loaded machine, and is then repaired by a
	 * later read) */
	for (tries = 0; tries < 50; tries++) {
		bool done;

		oc_get_res_init(&r);
		cr_assert_eq(
		    tx_of(1)->ops->get(tx_of(1), &x, 1, NULL, &r), O_OK);
		cr_assert(
		    oc_aid_eq(&r.latest_aid, &a2), "the majority's action");
		oc_get_res_fini(&r);
		r    = rv_local(2, &x);
		done = oc_aid_eq(&r.latest_aid, &a2);
		oc_get_res_fini(&r);
		if (done)
			break;
		o_sleep_ms(100);
	}
	r0 = rv_local(0, &x);
	r  = rv_local(2, &x);
	cr_assert_eq(r.latest_rev, 3);
	cr_assert(oc_aid_eq(&r.latest_aid, &a2),
	    "n2 still holds the undecided action");
	cr_assert(oc_val_eq(&r.block, &r0.block), "n2's content is n0's");
	oc_get_res_fini(&r);
	oc_get_res_fini(&r0);

	node_down(1, true);
	cr_assert_eq(net_set_w(0, &x, 4), O_OK,
	    "n0 + n2 are a majority: %s", o_err_detail());
	r = rv_local(2, &x);
	cr_assert_eq(r.latest_rev, 4);
	oc_get_res_fini(&r);
}

/*
 * A group transaction (a rename across directories) pends each collection
 * under one action id and then commits each.  The coordinator remembers
 * what each pend decided (the expiry it asked for, the members a commit
 * must skip) for its commit; keyed by the action alone, the commit of the
 * first collection used what the pend of the last one decided (found by a
 * review).  Here y is pended with pendings that expire too soon to commit
 * safely, then x with the default: y's commit must be refused, x's go.
 */
Test(node, each_collection_of_a_group_commits_by_its_own_pend, .init = setup,
    .fini = teardown)
{
	struct oc_bid        x, y;
	struct oc_aid        a1, g;
	struct oc_tfs        tx, ty;
	struct oc_pend_req   pr = { 0 };
	struct oc_commit_req cq = { 0 };
	struct oc_txres      res;
	struct oc_get_res    r;
	o_err                e;

	three_nodes_and_x(&x, &a1);
	oc_bid_random(&y);
	oc_aid_random(&g);
	oc_tfs_init(&ty);
	oc_tfs_insert(&ty, rv_leaf(&y, 1));
	oc_tfs_init(&tx);
	cr_assert_eq(oc_tfs_update(&tx, &x, oc_op_set("w", oc_int(3))), O_OK);
	oc_txres_init(&res);
	pr.aid       = g;
	pr.policy    = OC_POLICY_FAIL;
	pr.rev       = 1;
	pr.tfs       = &ty;
	pr.ttl_ms    = OC_PEND_TTL_MAX_MS + 1; /* over an hour: refused */
	cr_expect_eq(tx_of(0)->ops->pend(tx_of(0), &pr, &res), O_EINVAL);
	cr_expect(strstr(o_err_detail(), "time to live") != NULL, "%s",
	    o_err_detail());
	pr.ttl_ms = 1000;
	cr_assert_eq(tx_of(0)->ops->pend(tx_of(0), &pr, &res), O_OK, "%s",
	    o_err_detail());
	pr.rev       = 3;
	pr.tfs       = &tx;
	pr.ttl_ms    = 0;
	cr_assert_eq(tx_of(0)->ops->pend(tx_of(0), &pr, &res), O_OK, "%s",
	    o_err_detail());
	cq.aid      = g;
	cq.rev      = 1;
	cq.ids      = &y;
	cq.n        = 1;
	cq.critical = y;
	e           = tx_of(0)->ops->commit(tx_of(0), &cq, &res);
	cr_assert_eq(e, O_EEXPIRED,
	    "y committed on x's expiry, its own was 1 s away: %s",
	    o_errname(e));
	cq.rev      = 3;
	cq.ids      = &x;
	cq.critical = x;
	cr_assert_eq(tx_of(0)->ops->commit(tx_of(0), &cq, &res), O_OK, "%s",
	    o_err_detail());
	r = rv_local(0, &x);
	cr_assert_eq(r.latest_rev, 3);
	oc_get_res_fini(&r);
	r = rv_local(0, &y);
	cr_assert_eq(r.latest_rev, 0, "y committed");
	oc_get_res_fini(&r);
	oc_txres_fini(&res);
	oc_tfs_fini(&tx);
	oc_tfs_fini(&ty);
}

/* How many of nodes 0..n-1 hold block id in their own store, and at
 * which revisions (lowest and highest among them). */
static int
holders(int n, const struct oc_bid *id, int64_t *lo, int64_t *hi)
{
	int i, h = 0;

	*lo = INT64_MAX;
	*hi = 0;
	for (i = 0; i < n; i++) {
		struct oc_get_res r = rv_local(i, id);

		if (r.state == OC_GET_BLOCK) {
			h++;
			*lo = O_MIN(*lo, r.latest_rev);
			*hi = O_MAX(*hi, r.latest_rev);
		}
		oc_get_res_fini(&r);
	}
	return h;
}

/*
 * More members than replicas (4 nodes, R = 3: what a cluster of 4 or 5
 * gets by default): each block lives on the 3 members its placement
 * picks, so one commit's blocks live on different sets, and the members
 * that hold a changed block but not the critical one commit in phase 2
 * of net_commit.  Every earlier test ran 3 nodes with R = 3, where phase
 * 2 never sends anything.  A diary is written through n0 in 120 commits
 * (its log rolls over to new tail blocks, changing the header); then its
 * header and tail are each on exactly 3 nodes, all at the same revision,
 * no member is left holding a pending, the diary reads whole through
 * every node, and with any one node stopped through the others.
 */
Test(node, four_members_three_replicas_place_and_commit_every_block,
    .init = setup, .fini = teardown)
{
	enum { N = 120 };
	struct oc_collection *c;
	struct oc_bid         id, tail;
	struct lines          l;
	char                  want[8192];
	size_t                wl = 0;
	int64_t               lo, hi;
	int                   i, h, tries;

	/* a replica that answers a pend later than the grace (a twentieth
	 * of the timeout) is left out of that commit, and nothing repairs
	 * the last commit's blocks there: a 3 s grace (a CI machine can
	 * stall a write for over a second) */
	timeout_ms = 60000;
	replicas   = 3;
	nodes_up(4);
	oc_bid_random(&id);
	cr_assert_eq(oc_diary_open(tx_of(0), &id, true, NULL, &c), O_OK);
	for (i = 0; i < N; i++) {
		append_n(c, "x", i, i + 1);
		cr_assert_eq(
		    oc_coll_sync(c), O_OK, "commit %d: %s", i, o_err_detail());
		wl +=
		    (size_t) snprintf(want + wl, sizeof(want) - wl, "x%d|", i);
	}
	oc_coll_free(c);
	/* the commits left to a slow member after the decision arrive soon
	 * (checked before any read: a read through a member that holds a
	 * pending of a decided action commits it there too) */
	for (tries = 0;; tries++) {
		struct oc_get_res r   = rv_local(0, &id);
		bool              hdr = r.state == OC_GET_BLOCK;

		if (!hdr) {
			oc_get_res_fini(&r);
			r = rv_local(1, &id);
		}
		cr_assert_eq(
		    r.state, OC_GET_BLOCK, "neither n0 nor n1 holds it");
		cr_assert(oc_map_bid(&r.block, "tail", &tail));
		oc_get_res_fini(&r);
		h = holders(4, &id, &lo, &hi);
		cr_assert_leq(h, 3, "the header is on %d of 4 nodes", h);
		if ((h == 3 && lo == hi) || tries == 500)
			break;
		o_sleep_ms(20);
	}
	cr_assert_eq(h, 3, "the header is on %d of 4 nodes", h);
	cr_assert_eq(lo, hi,
	    "header replicas at revisions %" PRId64 " to %" PRId64, lo, hi);
	for (tries = 0;; tries++) {
		h = holders(4, &tail, &lo, &hi);
		if ((h == 3 && lo == hi) || tries == 500)
			break;
		o_sleep_ms(20);
	}
	cr_assert_eq(hi, N, "the tail's last commit is rev %" PRId64, hi);
	cr_assert_eq(h, 3, "the tail is on %d of 4 nodes", h);
	cr_assert_eq(lo, hi,
	    "tail replicas at revisions %" PRId64 " to %" PRId64, lo, hi);
	/* every pending became a commit on every member that took it */
	for (tries = 0;; tries++) {
		uint64_t pend = 0;

		for (i = 0; i < 4; i++) {
			struct ost_repo_count rc;

			cr_assert_eq(
			    ost_repo_count(nodes[i].repo, NULL, &rc), O_OK);
			pend += rc.pend;
		}
		if (pend == 0)
			break;
		cr_assert_lt(
		    tries, 500, "%" PRIu64 " pendings left behind", pend);
		o_sleep_ms(20);
	}
	for (i = 0; i < 4; i++) {
		read_diary(i, &id, &l);
		expect(&l, want, N);
	}
	for (i = 3; i >= 1; i--) {
		node_down(i, true);
		read_diary(i == 1 ? 2 : 0, &id, &l);
		expect(&l, want, N);
		cr_assert_eq(
		    node_up(i, NULL, NULL), O_OK, "%s", o_err_detail());
		wait_all(4);
	}
}

/*
 * 3 nodes, R = 2 (a majority is both replicas): a tree written through n0
 * whose log tail (the critical block) lives on two nodes and whose root
 * lives on the third, *cn, which gets the root's commits in phase 2 only.
 * Tries new trees until one is laid out so.
 */
static struct oc_collection *
tree_apart(struct oc_bid *root, int *cn)
{
	struct oc_collection *c = NULL;
	struct oc_bid         id, tail;
	struct oc_get_res     r;
	int                   tries, i;

	replicas = 2;
	nodes_up(3);
	*cn = -1;
	for (tries = 0; tries < 40 && *cn < 0; tries++) {
		oc_bid_random(&id);
		cr_assert_eq(
		    oc_tree_open(tx_of(0), &id, true, NULL, &c), O_OK);
		cr_assert_eq(oc_tree_put(c, "k0", 2, "v0", 2), O_OK);
		cr_assert_eq(oc_coll_sync(c), O_OK, "%s", o_err_detail());
		for (i = 0; i < 3; i++) {
			r = rv_local(i, &id);
			if (r.state == OC_GET_BLOCK)
				break;
			oc_get_res_fini(&r);
		}
		cr_assert_lt(i, 3, "no node holds the header");
		cr_assert(oc_map_bid(&r.block, "root", root));
		cr_assert(oc_map_bid(&r.block, "tail", &tail));
		oc_get_res_fini(&r);
		cr_assert(!oc_bid_eq(root, &tail) && !oc_bid_eq(root, &id),
		    "a tree's root is a block of its own");
		for (i = 0; i < 3; i++) {
			struct oc_get_res t = rv_local(i, &tail);
			struct oc_get_res o = rv_local(i, root);

			if (t.state != OC_GET_BLOCK && o.state == OC_GET_BLOCK)
				*cn = i; /* holds the root, not the critical */
			oc_get_res_fini(&t);
			oc_get_res_fini(&o);
		}
		if (*cn < 0) {
			oc_coll_free(c);
			c = NULL;
		}
	}
	cr_assert_geq(*cn, 0, "no tree had its root apart from its log tail");
	return c;
}

/* The root's replicas are at one revision (polled: until 5 s). */
static void
root_settles(const struct oc_bid *root, const char *what)
{
	int64_t lo, hi;
	int     tries;

	for (tries = 0;; tries++) {
		cr_assert_eq(holders(3, root, &lo, &hi), 2);
		if (lo == hi)
			return;
		cr_assert_lt(tries, 250,
		    "%s: the root's replicas are at revisions %" PRId64
		    " and %" PRId64,
		    what, lo, hi);
		o_sleep_ms(20);
	}
}

/*
 * Phase 2 is sent again until each block is on a majority of its replicas.
 * The node holding the root but not the critical block refuses its next
 * two commits (O_EUNAVAIL, injected); the put's commit is decided in phase
 * 1 regardless, and must not return before that node committed the root
 * on the third try: before, phase 2 was not sent again, and the root
 * rested on one replica while the other held a pending that expires.
 */
Test(node, phase_two_is_sent_again_until_a_majority_committed, .init = setup,
    .fini = teardown)
{
	struct oc_bid         root;
	struct ost_repo_count rc;
	int64_t               lo, hi;
	int                   tries, cn;
	struct oc_collection *c = tree_apart(&root, &cn);

	atomic_store(&nodes[cn].tx.commit_fail, 2);
	cr_assert_eq(oc_tree_put(c, "k1", 2, "v1", 2), O_OK);
	cr_assert_eq(oc_coll_sync(c), O_OK, "%s", o_err_detail());
	/* no read went through n<cn> since: only phase 2 brought it there */
	cr_assert_eq(atomic_load(&nodes[cn].tx.commit_fail), 0,
	    "n%d was not asked again", cn);
	cr_assert_eq(holders(3, &root, &lo, &hi), 2);
	cr_assert_eq(lo, hi,
	    "the root's replicas are at revisions %" PRId64 " and %" PRId64,
	    lo, hi);
	/* (polled: a commit of another block to n<cn> may be left in flight
	 * by the quorum's grace on a loaded machine) */
	for (tries = 0;; tries++) {
		cr_assert_eq(ost_repo_count(nodes[cn].repo, NULL, &rc), O_OK);
		if (rc.pend == 0)
			break;
		cr_assert_lt(tries, 250,
		    "n%d still holds %" PRIu64 " pendings", cn, rc.pend);
		o_sleep_ms(20);
	}
	oc_coll_free(c);
}

/*
 * Where phase 2 cannot bring a block to a majority it stops: at once when
 * the replica answers that the commit cannot happen there (O_EEXPIRED,
 * injected: not asked again), at the commit's deadline when it keeps
 * failing for now (O_EUNAVAIL: asked again, up to the deadline).  The
 * writer's commit is decided and returns O_OK either way, and a read
 * through that replica later brings the root there (its pending, or a
 * repair).
 */
Test(node, phase_two_stops_where_no_majority_can_come, .init = setup,
    .fini = teardown)
{
	struct oc_bid         root;
	struct oc_collection *c2;
	struct o_buf          v = { 0 };
	bool                  found;
	int                   cn, left;
	struct oc_collection *c = tree_apart(&root, &cn);

	atomic_store(&nodes[cn].tx.commit_fail_e, O_EEXPIRED);
	atomic_store(&nodes[cn].tx.commit_fail, 5);
	cr_assert_eq(oc_tree_put(c, "k1", 2, "v1", 2), O_OK);
	cr_assert_eq(oc_coll_sync(c), O_OK, "%s", o_err_detail());
	cr_assert_eq(atomic_load(&nodes[cn].tx.commit_fail), 4,
	    "n%d asked %d times after an answer that cannot change", cn,
	    5 - atomic_load(&nodes[cn].tx.commit_fail));

	atomic_store(&nodes[cn].tx.commit_fail_e, O_EUNAVAIL);
	atomic_store(&nodes[cn].tx.commit_fail, 1000);
	cr_assert_eq(oc_tree_put(c, "k2", 2, "v2", 2), O_OK);
	cr_assert_eq(oc_coll_sync(c), O_OK, "%s", o_err_detail());
	left = atomic_load(&nodes[cn].tx.commit_fail);
	cr_assert_lt(left, 999, "n%d asked once only", cn);
	atomic_store(&nodes[cn].tx.commit_fail, 0);

	/* read through it: it serves the latest, and holds it after */
	cr_assert_eq(oc_tree_open(tx_of(cn), oc_coll_id(c), false, NULL, &c2),
	    O_OK);
	cr_assert_eq(oc_tree_get(c2, "k2", 2, &v, &found), O_OK, "%s",
	    o_err_detail());
	cr_assert(found, "k2 not found through n%d", cn);
	cr_assert_eq(v.len, 2);
	cr_assert_eq(memcmp(v.data, "v2", 2), 0);
	o_buf_fini(&v);
	root_settles(&root, "after a read through the replica left behind");
	oc_coll_free(c2);
	oc_coll_free(c);
}

/*
 * A replica that alone holds the highest revision of a block (an undecided
 * commit that reached only it) and reads slower than the read grace: a
 * quorum read stops before its answer, so it never sees that revision,
 * and every pend at the revision the read gave is refused as stale there
 * (found by a review: ten attempts in a row failed).  A pend refused as
 * stale by fewer than a majority of a block's replicas now reads the
 * block from all of them, which rolls the revision forward; the next
 * attempt builds on it.
 */
Test(node, a_slow_replica_alone_ahead_does_not_wedge_writers, .init = setup,
    .fini = teardown)
{
	struct oc_bid x;
	struct oc_aid a1, a9;
	struct oc_tfs t;
	int64_t       seen = 0;
	o_err         e    = O_OK;
	int           i;

	three_nodes_and_x(&x, &a1);
	oc_aid_random(&a9);
	oc_tfs_init(&t);
	cr_assert_eq(oc_tfs_update(&t, &x, oc_op_set("w", oc_int(9))), O_OK);
	rv_txn(2, &a9, 3, &t); /* rev 3 on n2 only */
	oc_tfs_fini(&t);
	atomic_store(&nodes[2].tx.get_stall_ms, 50); /* grace: 3 ms */
	for (i = 0; i < 5; i++) {
		struct oc_get_res r;

		oc_get_res_init(&r);
		cr_assert_eq(
		    tx_of(0)->ops->get(tx_of(0), &x, 1, NULL, &r), O_OK);
		seen = r.latest_rev;
		oc_get_res_fini(&r);
		if ((e = net_set_w(0, &x, seen + 1)) != O_ESTALE)
			break;
	}
	cr_assert_eq(e, O_OK, "attempt %d, over rev %" PRId64 ": %s", i, seen,
	    o_errname(e));
	cr_assert_eq(seen, 3, "the write did not build on n2's rev 3");
	cr_assert_leq(i, 1, "%d attempts refused as stale", i);
}

static struct oc_bid rival_x;

/* what rival_pends_x_on_n2 met (it runs on a server thread) */
static _Atomic o_err rival_e;
static char          rival_err[300];

/* A rival's live pending of block rival_x on n2. */
static void
rival_pends_x_on_n2(void)
{
	struct oc_pend_req pr = { 0 };
	struct oc_txres    res;
	struct oc_tfs      t;
	o_err              e;

	oc_tfs_init(&t);
	e = oc_tfs_update(&t, &rival_x, oc_op_set("r", oc_int(1)));
	oc_aid_random(&pr.aid);
	pr.rev    = 4;
	pr.tfs    = &t;
	pr.policy = OC_POLICY_FAIL;
	oc_txres_init(&res);
	if (e == O_OK)
		e = ost_repo_pend(nodes[2].repo, &pr, &res);
	if (e != O_OK)
		snprintf(rival_err, sizeof(rival_err), "%s: %s", o_errname(e),
		    o_err_detail());
	atomic_store(&rival_e, e);
	oc_txres_fini(&res);
	oc_tfs_fini(&t);
}

/*
 * A member pended again after a repair keeps what it accepted the first
 * time: n2 missed x's rev 3, so a pend of {x, y} (no bases) finds it
 * behind on x and good on y; x is cancelled there, repaired, and n2 is
 * pended again for both, but a rival's pending of x arrives right after
 * the cancel and n2 refuses.  The commit goes on with n0 and n1 and skips n2,
 * whose pending of y from the first round must be cancelled (found by a
 * review: it was not, and held off other writers of y there until it
 * expired).
 */
Test(node, a_member_refusing_a_second_round_drops_its_first_pendings,
    .init = setup, .fini = teardown)
{
	struct oc_bid         y;
	struct oc_aid         a2, ay;
	struct oc_tfs         t;
	struct ost_repo_count rc;
	int                   i, tries;

	nodes_up(3);
	n2_misses_rev_3(&rival_x, &a2);
	oc_bid_random(&y);
	oc_aid_random(&ay);
	for (i = 0; i < 3; i++) {
		oc_tfs_init(&t);
		oc_tfs_insert(&t, rv_leaf(&y, 1));
		rv_txn(i, &ay, 3, &t);
		oc_tfs_fini(&t);
	}
	oc_tfs_init(&t);
	cr_assert_eq(
	    oc_tfs_update(&t, &rival_x, oc_op_set("w", oc_int(4))), O_OK);
	cr_assert_eq(oc_tfs_update(&t, &y, oc_op_set("w", oc_int(4))), O_OK);
	/* after the cancel of x on n2, which the coordinator waits for
	 * before it repairs and pends again */
	cancel_hook_node = 2;
	cancel_hook      = rival_pends_x_on_n2;
	cr_assert_eq(net_tfs(0, &t, &rival_x, 4), O_OK, "%s", o_err_detail());
	cr_assert_null(
	    atomic_load(&cancel_hook), "n2 was not found behind on x");
	cr_assert_eq(atomic_load(&rival_e), O_OK, "the rival's pend on n2: %s",
	    rival_err);
	for (tries = 0;; tries++) {
		cr_assert_eq(ost_repo_count(nodes[2].repo, &y, &rc), O_OK);
		if (rc.pend == 0)
			break;
		cr_assert_lt(tries, 100,
		    "n2 still holds the first round's "
		    "pending of y");
		o_sleep_ms(20);
	}
	oc_tfs_fini(&t);
}

/* One append of 20 MiB: one pend request per member carries all of its
 * chunk blocks (found by a review: with a 16 MiB message limit this could
 * never commit).  It commits, and reads back whole through another node. */
Test(node, a_20_mib_transaction_commits, .init = setup,
    .fini = teardown)
{
	struct oc_collection *c;
	struct oc_bid         id;
	size_t                n = 20u << 20;
	char                 *big = malloc(n);
	o_err                 e;

	memset(big, 'q', n);
	nodes_up(3);
	oc_bid_random(&id);
	cr_assert_eq(oc_diary_open(tx_of(0), &id, true, NULL, &c), O_OK);
	cr_assert_eq(oc_diary_append(c, big, n), O_OK, "%s", o_err_detail());
	e = oc_coll_sync(c);
	cr_assert_eq(e, O_OK, "sync of a 20 MiB append: %s: %s", o_errname(e),
	    o_err_detail());
	oc_coll_free(c);
	{
		struct oc_collection *c2;
		struct big_check      bc = { big, n, 0, 0 };

		cr_assert_eq(oc_diary_open(tx_of(2), &id, false, NULL, &c2),
		    O_OK);
		cr_assert_eq(oc_diary_scan(c2, 0, true, big_cb, &bc), O_OK);
		cr_assert_eq(bc.items, 1);
		cr_assert_eq(bc.same, 1, "the 20 MiB append reads back changed");
		oc_coll_free(c2);
	}
	free(big);
}


/* A commit on a minority of replicas is not reported committed (it would
 * be acknowledged on that strength, found by a review), one on a
 * majority is; a commit this node never pended is refused. */
Test(node, status_needs_a_majority_and_commit_needs_a_pend, .init = setup,
    .fini = teardown)
{
	struct oc_bid        x;
	struct oc_aid        a1, a2;
	struct oc_tfs        t;
	struct oc_commit_req cq = { 0 };
	struct oc_txres      res;
	uint8_t              st;

	nodes_up(3);
	oc_bid_random(&x);
	oc_aid_random(&a1);
	oc_aid_random(&a2);
	oc_tfs_init(&t);
	oc_tfs_insert(&t, rv_leaf(&x, 1));
	rv_txn(2, &a1, 2, &t);
	st = 0xff;
	(void) tx_of(0)->ops->status(tx_of(0), &a1, 2, &x, 1, &st);
	cr_assert_neq(st, OC_ST_COMMITTED, "committed on 1 of 3 replicas");
	rv_txn(1, &a1, 2, &t);
	st = 0xff;
	cr_assert_eq(tx_of(0)->ops->status(tx_of(0), &a1, 2, &x, 1, &st), O_OK);
	cr_assert_eq(st, OC_ST_COMMITTED, "committed on 2 of 3 replicas");
	oc_tfs_fini(&t);

	cq.aid      = a2;
	cq.rev      = 3;
	cq.ids      = &x;
	cq.n        = 1;
	cq.critical = x;
	oc_txres_init(&res);
	cr_assert_eq(tx_of(0)->ops->commit(tx_of(0), &cq, &res), O_EEXPIRED);
	cr_assert_not_null(strstr(o_err_detail(), "did not pend it"), "%s",
	    o_err_detail());
	oc_txres_fini(&res);
}

/* Pend an action at rev on block x through n0, then commit it with the
 * replicas' answers as injected (O_OK: none), all over again while the
 * commit did not reach every replica (net_pend skips one it did not find
 * good: it answered late, or still held an earlier case's pending); if it
 * failed, cancel it unless *keep (which then gets the action).  The
 * commit's code. */
static o_err
refused_commit(const struct oc_bid *x, int64_t rev, const o_err *inject,
    struct oc_aid *keep)
{
	struct oc_pend_req   pr = { 0 };
	struct oc_commit_req cq = { 0 };
	struct oc_txres      res;
	struct oc_tfs        t;
	int                  i, tries;
	o_err                e;

	oc_tfs_init(&t);
	cr_assert_eq(oc_tfs_update(&t, x, oc_op_set("w", oc_int(rev))), O_OK);
	pr.rev    = rev;
	pr.tfs    = &t;
	pr.policy = OC_POLICY_FAIL;
	oc_txres_init(&res);
	for (tries = 0;; tries++) {
		int seen[3];

		cr_assert_lt(tries, 10, "no commit reached every replica");
		oc_aid_random(&pr.aid);
		cr_assert_eq(tx_of(0)->ops->pend(tx_of(0), &pr, &res), O_OK,
		    "%s", o_err_detail());
		for (i = 0; i < 3; i++) {
			seen[i] = atomic_load(&nodes[i].tx.commits);
			if (inject[i] != O_OK) {
				atomic_store(
				    &nodes[i].tx.commit_fail_e, inject[i]);
				atomic_store(&nodes[i].tx.commit_fail, 1);
			}
		}
		cq.aid      = pr.aid;
		cq.rev      = rev;
		cq.ids      = x;
		cq.n        = 1;
		cq.critical = *x;
		e           = tx_of(0)->ops->commit(tx_of(0), &cq, &res);
		for (i = 0; i < 3; i++)
			atomic_store(&nodes[i].tx.commit_fail, 0);
		for (i = 0; i < 3; i++) /* a stalled one counts on entry */
			if (atomic_load(&nodes[i].tx.commits) == seen[i])
				break;
		if (i == 3)
			break;
		cr_assert_neq(e, O_OK, "committed without n%d", i);
		(void) tx_of(0)->ops->cancel(tx_of(0), &pr.aid, x, 1);
		o_sleep_ms(500); /* the skipped one's pending is let go */
	}
	if (keep != NULL)
		*keep = pr.aid;
	else if (e != O_OK)
		(void) tx_of(0)->ops->cancel(tx_of(0), &pr.aid, x, 1);
	oc_txres_fini(&res);
	oc_tfs_fini(&t);
	return e;
}

/*
 * A refused commit is answered O_ESTALE or O_EEXPIRED (the writer cancels
 * its pendings and goes on) only when no replica committed and none may:
 * otherwise O_EUNAVAIL, in doubt (the writer leaves its pendings to a
 * read or their expiry).  Before, net_commit answered O_EEXPIRED when the
 * first replica that failed said so, and O_ESTALE when one said stale,
 * whatever the others did; found by a review.
 */
Test(node, a_refused_commit_is_certain_only_when_no_replica_may_commit,
    .init = setup, .fini = teardown)
{
	const o_err       X = O_EEXPIRED, S = O_ESTALE, U = O_EUNAVAIL;
	struct oc_bid     x, y;
	struct oc_aid     a;
	struct oc_get_res r;
	int               i, tries;
	o_err             e;

	timeout_ms = 3000;
	nodes_up(3);
	insert_new(0, &x, 1);
	/* every replica said its pending expired: certain */
	e = refused_commit(&x, 3, (o_err[]) { X, X, X }, NULL);
	cr_assert_eq(e, O_EEXPIRED, "%s: %s", o_errname(e), o_err_detail());
	/* one cannot commit now (its answer does not prove it wrote
	 * nothing): in doubt, whichever replica it is and whatever order
	 * the answers come in */
	for (i = 0; i < 3; i++) {
		o_err in[3] = { X, X, X };

		in[i] = U;
		e     = refused_commit(&x, 3, in, NULL);
		cr_assert_eq(e, O_EUNAVAIL, "n%d unavailable: %s: %s", i,
		    o_errname(e), o_err_detail());
	}
	/* n0 holds another action at the revision, n2 cannot commit now,
	 * and n1 is slow: its commit lands after the coordinator stopped
	 * waiting, so the action could yet be decided by n1 and n2 (not
	 * cancelled until it landed: the cancel would overtake it) */
	atomic_store(&nodes[1].tx.stall_ms, 4500);
	e = refused_commit(&x, 3, (o_err[]) { S, O_OK, U }, &a);
	cr_assert_eq(e, O_EUNAVAIL, "%s: %s", o_errname(e), o_err_detail());
	for (tries = 0; tries < 100; tries++) {
		r = rv_local(1, &x);
		if (r.latest_rev == 3)
			break;
		oc_get_res_fini(&r);
		o_sleep_ms(100);
	}
	cr_assert_eq(r.latest_rev, 3, "the slow replica never committed");
	oc_get_res_fini(&r);
	(void) tx_of(0)->ops->cancel(tx_of(0), &a, &x, 1);
	atomic_store(&nodes[1].tx.stall_ms, 0);
	/* two stale, one whose answer does not prove it wrote nothing: in
	 * doubt (a failed write may yet be in its log) */
	insert_new(0, &y, 1);
	e = refused_commit(&y, 3, (o_err[]) { S, U, S }, NULL);
	cr_assert_eq(e, O_EUNAVAIL, "%s: %s", o_errname(e), o_err_detail());
	/* every replica refused before writing, two as stale: certain */
	e = refused_commit(&y, 3, (o_err[]) { S, X, S }, NULL);
	cr_assert_eq(e, O_ESTALE, "%s: %s", o_errname(e), o_err_detail());
}

/* A large pend or install gets time for its size; a small request and any
 * commit (bounded by the pendings' expiry) do not. */
Test(node, large_requests_get_time_for_their_size)
{
	cr_assert_eq(otr_call_deadline(false, 100, 5000), 5000);
	cr_assert_eq(otr_call_deadline(false, 64u << 10, 5000), 5000);
	cr_assert_eq(otr_call_deadline(false, 20u << 20, 5000), 5000 + 2560);
	cr_assert_eq(otr_call_deadline(true, 20u << 20, 5000), 5000,
	    "a commit's deadline must not move past its expiry bound");
}

/*
 * A commit never sent to a replica (it went down after the pend: "not
 * connected") proves, like a refusal, that this replica did not commit it.
 * With the two others stale the failure is certain (O_ESTALE: the writer
 * cancels and goes on); counted as "may have committed" it was in doubt
 * (O_EUNAVAIL), and the writer waited its pendings out.
 */
Test(node, a_commit_never_sent_to_a_replica_counts_as_refused, .init = setup,
    .fini = teardown)
{
	struct oc_pend_req   pr = { 0 };
	struct oc_commit_req cq = { 0 };
	struct oc_txres      res;
	struct oc_get_res    r;
	struct oc_tfs        t;
	struct oc_bid        x;
	size_t               nm, up;
	long                 calls0, failed0, calls, failed, left, msgs;
	int                  i, tries;
	o_err                e;

	timeout_ms = 3000;
	nodes_up(3);
	insert_new(0, &x, 1);
	oc_tfs_init(&t);
	cr_assert_eq(oc_tfs_update(&t, &x, oc_op_set("w", oc_int(3))), O_OK);
	pr.rev       = 3;
	pr.tfs       = &t;
	pr.policy    = OC_POLICY_FAIL;
	pr.ttl_ms    = 60000; /* n2's going down takes time */
	oc_txres_init(&res);
	for (tries = 0;; tries++) { /* the pend reaches n2 too */
		int w;

		cr_assert_lt(tries, 10, "no pend reached n2");
		oc_aid_random(&pr.aid);
		cr_assert_eq(tx_of(0)->ops->pend(tx_of(0), &pr, &res), O_OK,
		    "%s", o_err_detail());
		/* a pend answered by a majority leaves n2's to arrive
		 * later: wait for it a while on a loaded machine */
		for (w = 0, i = 0; w < 40 && i != 1; w++) {
			if (w > 0)
				o_sleep_ms(50);
			r = rv_local(2, &x);
			i = (int) r.npend;
			oc_get_res_fini(&r);
		}
		if (i == 1)
			break;
		(void) tx_of(0)->ops->cancel(tx_of(0), &pr.aid, &x, 1);
		o_sleep_ms(500);
	}
	node_down(2, true);
	for (tries = 0; tries < 200; tries++) {
		otr_node_counts(nodes[0].node, &nm, &up);
		if (up == 2)
			break;
		o_sleep_ms(50);
	}
	cr_assert_eq(up, 2, "n0 still reaches %zu members", up);
	for (i = 0; i < 2; i++) {
		atomic_store(&nodes[i].tx.commit_fail_e, O_ESTALE);
		atomic_store(&nodes[i].tx.commit_fail, 1);
	}
	cq.aid      = pr.aid;
	cq.rev      = 3;
	cq.ids      = &x;
	cq.n        = 1;
	cq.critical = x;
	peer_counts(0, "n2", &calls0, &failed0, &left, &msgs);
	e = tx_of(0)->ops->commit(tx_of(0), &cq, &res);
	for (i = 0; i < 2; i++)
		atomic_store(&nodes[i].tx.commit_fail, 0);
	cr_assert_eq(e, O_ESTALE, "%s: %s", o_errname(e), o_err_detail());
	/* n2 was one of the replicas asked (a pend left unanswered would
	 * have kept the commit from it, and the test from the point) */
	peer_counts(0, "n2", &calls, &failed, &left, &msgs);
	cr_assert_eq(calls, calls0 + 1, "n2 was not asked to commit");
	cr_assert_eq(failed, failed0 + 1, "the commit to n2 did not fail");
	(void) tx_of(0)->ops->cancel(tx_of(0), &pr.aid, &x, 1);
	oc_txres_fini(&res);
	oc_tfs_fini(&t);
}

/*
 * Placement is the same on every host: a member's score is the first 8
 * bytes of SHA-256(name || block id) read little-endian (PROTOCOL §3), not
 * in the host's byte order, so a big-endian node would agree with x86 ones.
 */
Test(node, a_placement_score_is_little_endian_on_every_host)
{
	struct oc_bid id;
	uint8_t       h[32];
	uint64_t      want = 0;
	int           i;

	memset(&id, 0, sizeof(id));
	id.b[0] = 0x5a;
	o_sha256_2("n1", 2, id.b, OC_BID_LEN, h);
	for (i = 0; i < 8; i++)
		want |= (uint64_t) h[i] << (8 * i);
	cr_assert_eq(otr_place_score("n1", &id), want);
	/* the value itself, as every host computes it (Python: int.from_bytes(
	 * sha256(b"n1" + bytes([0x5a]) + bytes(31)).digest()[:8], "little")),
	 * which a host-order read on a big-endian host would not give */
	cr_assert_eq(otr_place_score("n1", &id), 0x92239fc95d0be9a9ull);
	/* and the byte order matters: the big-endian reading differs */
	cr_assert_neq(otr_place_score("n1", &id), o_be64_get(h));
}
