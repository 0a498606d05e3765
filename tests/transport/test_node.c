/*
 * test_node.c - cluster nodes in one process: each has its own RocksDB
 * store in a temp dir and talks to the others over real nng sockets on
 * 127.0.0.1 (tcp:// and mutual TLS).  Collections opened on one node's
 * network transactor are read through another's.
 */
#include <criterion/criterion.h>
#include <arpa/inet.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "core/diary.h"
#include "core/o_util.h"
#include "store/local.h"
#include "store/repo.h"
#include "transport/node.h"
#include "transport/pki.h"
#include "util/testutil.h"

TestSuite(node, .timeout = 240);

#define NMAX 4

struct tnode {
	char            *dir;
	struct ost_repo *repo;
	struct otr_node *node;
	char             url[64];
};

static struct tnode nodes[NMAX];
static int          base_port;
static char        *certs;

static o_err
install_cb(void *arg, const struct oc_bid *id, int64_t rev,
    const struct oc_aid *aid, const struct oc_val *blk, bool *done)
{
	return ost_repo_install(arg, id, rev, aid, blk, done);
}

static o_err
node_up(int i, const char *certs_dir, const char *name)
{
	struct tnode        *t  = &nodes[i];
	struct otr_node_conf nc = { 0 };
	const char          *join[1];
	char                 nm[16];

	if (t->dir == NULL)
		t->dir = ot_tmpdir("node");
	if (t->repo == NULL)
		cr_assert_eq(ost_repo_open(t->dir, NULL, &t->repo), O_OK, "%s",
		    o_err_detail());
	snprintf(t->url, sizeof(t->url), "%s://127.0.0.1:%d",
	    certs_dir ? "tls+tcp" : "tcp", base_port + 10 * i);
	snprintf(nm, sizeof(nm), "n%d", i);
	join[0]            = nodes[0].url;
	nc.name            = name ? name : nm;
	nc.listen_url      = t->url;
	nc.join            = join;
	nc.njoin           = i > 0 ? 1 : 0;
	nc.certs_dir       = certs_dir;
	nc.insecure        = certs_dir == NULL;
	nc.timeout_ms      = 1500;
	nc.replica.tx      = ost_local_transactor(t->repo);
	nc.replica.install = install_cb;
	nc.replica.arg     = t->repo;
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

static void
setup(void)
{
	base_port = 12000 + (getpid() % 200) * 50; /* below the ephemeral range (32768+), apart from e2e_test_cluster */
	memset(nodes, 0, sizeof(nodes));
}

static void
teardown(void)
{
	int i;

	for (i = 0; i < NMAX; i++)
		if (nodes[i].repo != NULL || nodes[i].dir != NULL)
			node_down(i, false);
	if (certs != NULL) {
		ot_rmtree_free(certs);
		certs = NULL;
	}
	/* nng reaps closed sockets in the background; let it finish before
	 * the process exits (LeakSanitizer).  Not nng_fini(): Criterion
	 * itself talks to its runner over nng. */
	o_sleep_ms(500);
}

static struct oc_transactor *
tx_of(int i)
{
	return otr_node_transactor(nodes[i].node);
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
	size_t                nm, up;
	int                   i;

	for (i = 0; i < 3; i++)
		cr_assert_eq(node_up(i, NULL, NULL), O_OK, "n%d: %s", i,
		    o_err_detail());
	for (i = 0; i < 3; i++) { /* membership spread by gossip */
		int tries = 0;

		do {
			otr_node_counts(nodes[i].node, &nm, &up);
			if (nm == 3 && up == 3)
				break;
			o_sleep_ms(100);
		} while (++tries < 50);
		cr_assert_eq(nm, 3, "n%d knows %zu members", i, nm);
		cr_assert_eq(up, 3, "n%d reaches %zu members", i, up);
	}
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

	/* every replica holds the same committed blocks */
	for (i = 0; i < 3; i++) {
		struct oc_get_res r;

		oc_get_res_init(&r);
		cr_assert_eq(ost_local_transactor(nodes[i].repo)
		                 ->ops->get(ost_local_transactor(nodes[i].repo),
		                     &id, 1, NULL, &r),
		    O_OK);
		cr_assert_eq(r.state, OC_GET_BLOCK, "n%d lacks the header", i);
		oc_get_res_fini(&r);
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
	int                   i;

	for (i = 0; i < 3; i++)
		cr_assert_eq(node_up(i, NULL, NULL), O_OK, "%s", o_err_detail());
	o_sleep_ms(300);
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
	t0 = o_now_ms();
	e  = oc_coll_sync(c);
	cr_assert_neq(e, O_OK, "a commit without a majority succeeded");
	cr_assert_lt(o_now_ms() - t0, 60000, "took %" PRId64 " ms",
	    o_now_ms() - t0);
	cr_assert_eq(oc_coll_npending(c), 1, "the append must stay queued");

	/* a majority back: the queued append commits */
	cr_assert_eq(node_up(1, NULL, NULL), O_OK, "%s", o_err_detail());
	o_sleep_ms(300);
	cr_assert_eq(oc_coll_sync(c), O_OK, "%s", o_err_detail());
	oc_coll_free(c);

	/* the node that missed everything catches up when read through */
	cr_assert_eq(node_up(2, NULL, NULL), O_OK, "%s", o_err_detail());
	o_sleep_ms(300);
	read_diary(2, &id, &l);
	expect(&l, "x0|x1|y0|y1|z0|", 5);
	node_down(0, false);
	node_down(1, true); /* only n2 and n1's store: a majority again */
	cr_assert_eq(node_up(1, NULL, NULL), O_EUNAVAIL,
	    "joining a dead member must fail");
}

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
	oc_bid_random(&id);
	cr_assert_eq(oc_diary_open(tx_of(0), &id, true, NULL, &c), O_OK);
	append_n(c, "ok", 0, 2);
	cr_assert_eq(oc_coll_sync(c), O_OK, "%s", o_err_detail());
	oc_coll_free(c);
}

Test(node, tls_cluster_and_a_foreign_ca, .init = setup, .fini = teardown)
{
	struct oc_collection *c;
	struct oc_bid         id;
	struct lines          l;
	char                 *other = ot_tmpdir("otherca");
	int                   i;

	certs = ot_tmpdir("certs");
	cr_assert_eq(otr_pki_init(certs), O_OK, "%s", o_err_detail());
	for (i = 0; i < 3; i++) {
		char nm[8];

		snprintf(nm, sizeof(nm), "n%d", i);
		cr_assert_eq(otr_pki_node_add(certs, nm), O_OK);
	}
	cr_assert_eq(otr_pki_init(other), O_OK);
	cr_assert_eq(otr_pki_node_add(other, "n3"), O_OK);
	for (i = 0; i < 3; i++)
		cr_assert_eq(node_up(i, certs, NULL), O_OK, "%s", o_err_detail());
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
