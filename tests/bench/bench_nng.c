/*
 * bench_nng.c - req/rep round trips over nng's tcp:// and tls+tcp://
 * (mutual TLS with this project's certificates, transport/tls.h).
 *
 *   bench_nng DIR [ROUNDS [ONLY]]
 *
 * DIR is a scratch directory (a cluster is created in DIR/cluster if it
 * has none).  A server process (forked before nng starts) listens on
 * both transports with one rep0 socket and 32 async contexts that echo
 * each message, so the payload travels both ways.  The client runs, per
 * transport and size (64 B, 4 KiB, 64 KiB):
 *
 *   serial     one request outstanding, ROUNDS (default 5000) timed round
 *              trips after 200 warm-up ones: p50 / p99 in microseconds
 *   batchK     K requests of SIZE sent at once on K contexts of one
 *              socket, the round ends when all K replies are in; per
 *              round p50 / p99 and requests per second
 *   split      (64 KiB only) the 64 KiB sent as 4 requests of 16 KiB on 4
 *              contexts at once: how long moving 64 KiB takes
 *
 * and, per transport, at 256 B only, the skeleton of a replicated commit
 * (a floor for the cluster's append + fdatasync, benchmark (f)):
 *
 *   quorum-all  two rounds to two servers at once, as the network
 *               transactor's pend and commit do: in the second each
 *               server, and the client meanwhile (its own replica),
 *               writes 64 B to a file and fdatasyncs it before answering;
 *               a round ends when both servers answered
 *   quorum-maj  the same rounds, each ending once the client and one
 *               server are done (a majority of three)
 *
 * Nothing else happens in them: no encoding, no store, no FUSE.
 *
 * ONLY (optional) runs only the lines whose label contains it, e.g.
 * "tls 65536 serial".  Prints one line per measurement:
 *   <transport> <size> <mode> p50_us <x> p99_us <y> req_per_s <z>
 */
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <nng/nng.h>
#include <nng/protocol/reqrep0/rep.h>
#include <nng/protocol/reqrep0/req.h>

#include "core/o_util.h"
#include "transport/pki.h"
#include "transport/tls.h"

#define NCTX_SERVER 32
#define WARMUP 200
#define MAXK 32

static char cluster[4096];
static int  sync_fd = -1; /* a server's file for the commit round */

static void
die(const char *what, const char *why)
{
	fprintf(stderr, "bench_nng: %s: %s\n", what, why);
	exit(1);
}

/* The commit round's durable write: 64 B at offset 0, fdatasync'd. */
static void
durable_write(int fd)
{
	static const char rec[64] = "commit";

	if (pwrite(fd, rec, sizeof(rec), 0) != (ssize_t) sizeof(rec) ||
	    fdatasync(fd) != 0)
		die("durable write", "pwrite or fdatasync failed");
}

static void
check(int rv, const char *what)
{
	if (rv != 0)
		die(what, nng_strerror(rv));
}

static void
check_o(o_err e, const char *what)
{
	if (e != O_OK)
		die(what, o_err_detail());
}

/*
 * Server: echo on every context.
 */
struct sctx {
	nng_socket s;
	nng_ctx    ctx;
	nng_aio   *aio;
	bool       sending;
};

static void
sctx_cb(void *arg)
{
	struct sctx *w = arg;

	if (nng_aio_result(w->aio) != 0) {
		if (w->sending)
			nng_msg_free(nng_aio_get_msg(w->aio));
		if (nng_aio_result(w->aio) == NNG_ECLOSED)
			return;
		w->sending = false;
		nng_ctx_recv(w->ctx, w->aio);
		return;
	}
	if (!w->sending) {
		nng_msg *m = nng_aio_get_msg(w->aio);

		/* a quorum skeleton's commit: durable before the answer */
		if (nng_msg_len(m) > 0 && *(uint8_t *) nng_msg_body(m) == 'C')
			durable_write(sync_fd);
		w->sending = true;
		nng_aio_set_msg(w->aio, m);
		nng_ctx_send(w->ctx, w->aio);
	} else {
		w->sending = false;
		nng_ctx_recv(w->ctx, w->aio);
	}
}

static void
server(const char *dir, int port_fd, int quit_fd)
{
	static struct sctx w[NCTX_SERVER];
	nng_socket         s;
	nng_listener       lt, ls;
	nng_tls_config    *cfg;
	int                ports[2], i;
	char               c;

	{
		char path[4200];

		snprintf(path, sizeof(path), "%s/server-%d.dat", dir,
		    (int) getpid());
		if ((sync_fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0600)) <
		    0)
			die(path, "cannot create");
	}
	check(nng_rep0_open(&s), "rep0");
	check_o(
	    otr_tls_config_alloc(cluster, "srv", OTR_TLS_SERVER, NULL, &cfg),
	    "server TLS config");
	check_o(otr_tls_listen(s, "tcp://127.0.0.1:0", NULL, true, &lt),
	    "listen tcp");
	check_o(otr_tls_listen(s, "tls+tcp://127.0.0.1:0", cfg, false, &ls),
	    "listen tls");
	check(nng_listener_get_int(lt, NNG_OPT_TCP_BOUND_PORT, &ports[0]),
	    "port");
	check(nng_listener_get_int(ls, NNG_OPT_TCP_BOUND_PORT, &ports[1]),
	    "port");
	for (i = 0; i < NCTX_SERVER; i++) {
		w[i].s = s;
		check(nng_ctx_open(&w[i].ctx, s), "ctx");
		check(nng_aio_alloc(&w[i].aio, sctx_cb, &w[i]), "aio");
		nng_ctx_recv(w[i].ctx, w[i].aio);
	}
	if (write(port_fd, ports, sizeof(ports)) != sizeof(ports))
		die("server", "cannot report ports");
	while (read(quit_fd, &c, 1) > 0)
		;
	nng_close(s);
	_exit(0);
}

/*
 * Client measurements.
 */
static int
cmp_double(const void *a, const void *b)
{
	double x = *(const double *) a, y = *(const double *) b;

	return x < y ? -1 : x > y;
}

static double
pct(double *v, size_t n, double p)
{
	size_t i = (size_t) (p * (double) (n - 1) + 0.5);

	return v[i];
}

static void
report(const char *tp, size_t size, const char *mode, double *us, size_t n,
    double total_s, size_t reqs)
{
	qsort(us, n, sizeof(*us), cmp_double);
	printf("%-4s %6zu %-8s p50_us %8.1f p99_us %8.1f req_per_s %9.0f\n",
	    tp, size, mode, pct(us, n, 0.5), pct(us, n, 0.99),
	    (double) reqs / total_s);
	fflush(stdout);
}

static double
now_us(void)
{
	return (double) o_mono_ns() / 1e3;
}

/* One request on a synchronous req socket; checks the echo's length. */
static void
serial_rt(nng_socket c, const void *buf, size_t size)
{
	void  *rep;
	size_t n;

	check(nng_send(c, (void *) buf, size, 0), "send");
	check(nng_recv(c, &rep, &n, NNG_FLAG_ALLOC), "recv");
	if (n != size)
		die("recv", "echo of the wrong size");
	nng_free(rep, n);
}

/* k requests of size at once on k contexts; waits for all replies. */
static void
batch_rt(nng_ctx *ctx, nng_aio **aio, int k, const void *buf, size_t size)
{
	nng_msg *m;
	int      i;

	for (i = 0; i < k; i++) {
		check(nng_msg_alloc(&m, 0), "msg");
		check(nng_msg_append(m, buf, size), "msg");
		nng_aio_set_msg(aio[i], m);
		nng_ctx_send(ctx[i], aio[i]);
	}
	for (i = 0; i < k; i++) {
		nng_aio_wait(aio[i]);
		check(nng_aio_result(aio[i]), "ctx send");
		nng_ctx_recv(ctx[i], aio[i]);
	}
	for (i = 0; i < k; i++) {
		nng_aio_wait(aio[i]);
		check(nng_aio_result(aio[i]), "ctx recv");
		m = nng_aio_get_msg(aio[i]);
		if (nng_msg_len(m) != size)
			die("ctx recv", "echo of the wrong size");
		nng_msg_free(m);
	}
}

/*
 * The quorum skeleton: one req0 socket per server (as one per member), an
 * aio each whose callback receives after the send and stamps the answer.
 */
struct quorum {
	pthread_mutex_t mtx;
	pthread_cond_t  cv;
	int             left;
};

struct qpeer {
	nng_socket     s;
	nng_aio       *aio;
	bool           sent;
	double         done_us;
	struct quorum *q;
};

static void
qpeer_cb(void *arg)
{
	struct qpeer *p  = arg;
	int           rv = nng_aio_result(p->aio);

	if (rv != 0)
		die("quorum round", nng_strerror(rv));
	if (!p->sent) {
		p->sent = true;
		nng_recv_aio(p->s, p->aio);
		return;
	}
	nng_msg_free(nng_aio_get_msg(p->aio));
	pthread_mutex_lock(&p->q->mtx);
	p->done_us = now_us();
	p->q->left--;
	pthread_cond_signal(&p->q->cv);
	pthread_mutex_unlock(&p->q->mtx);
}

/* One round to both servers (a commit: durable here and there); adds
 * its time to *all (both answered) and *maj (one answered). */
static void
quorum_round(struct qpeer *p, struct quorum *q, bool commit, int local_fd,
    uint8_t *buf, size_t size, double *all, double *maj)
{
	double   t0 = now_us(), local, first, last;
	nng_msg *m;
	int      i;

	buf[0] = commit ? 'C' : 'P';
	pthread_mutex_lock(&q->mtx);
	q->left = 2;
	pthread_mutex_unlock(&q->mtx);
	for (i = 0; i < 2; i++) {
		check(nng_msg_alloc(&m, 0), "msg");
		check(nng_msg_append(m, buf, size), "msg");
		p[i].sent = false;
		nng_aio_set_msg(p[i].aio, m);
		nng_send_aio(p[i].s, p[i].aio);
	}
	if (commit)
		durable_write(local_fd);
	local = now_us();
	pthread_mutex_lock(&q->mtx);
	while (q->left > 0)
		pthread_cond_wait(&q->cv, &q->mtx);
	pthread_mutex_unlock(&q->mtx);
	first = O_MIN(p[0].done_us, p[1].done_us);
	last  = O_MAX(p[0].done_us, p[1].done_us);
	*all += O_MAX(local, last) - t0;
	*maj += O_MAX(local, first) - t0;
}

static void
run_quorum(const char *tp, char url[2][64], nng_tls_config *cfg,
    const char *dir, int rounds)
{
	struct qpeer  p[2];
	struct quorum q;
	uint8_t       buf[256];
	double       *all = o_calloc((size_t) rounds, sizeof(double));
	double       *maj = o_calloc((size_t) rounds, sizeof(double));
	double        t0  = now_us(), wall, a, b;
	char          path[4200];
	int           fd, i, r;

	snprintf(path, sizeof(path), "%s/client.dat", dir);
	if ((fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0600)) < 0)
		die(path, "cannot create");
	memset(buf, 0xa5, sizeof(buf));
	pthread_mutex_init(&q.mtx, NULL);
	pthread_cond_init(&q.cv, NULL);
	for (i = 0; i < 2; i++) {
		p[i].q = &q;
		check(nng_req0_open(&p[i].s), "req0");
		check_o(
		    otr_tls_dial(p[i].s, url[i], cfg, cfg == NULL, 0, NULL),
		    url[i]);
		check(nng_aio_alloc(&p[i].aio, qpeer_cb, &p[i]), "aio");
	}
	for (r = -WARMUP / 2; r < rounds; r++) {
		a = b = 0;
		if (r == 0)
			t0 = now_us();
		quorum_round(p, &q, false, fd, buf, sizeof(buf), &a, &b);
		quorum_round(p, &q, true, fd, buf, sizeof(buf), &a, &b);
		if (r >= 0) {
			all[r] = a;
			maj[r] = b;
		}
	}
	wall = (now_us() - t0) / 1e6;
	report(tp, sizeof(buf), "quorum-all", all, (size_t) rounds, wall,
	    (size_t) rounds);
	report(tp, sizeof(buf), "quorum-maj", maj, (size_t) rounds, wall,
	    (size_t) rounds);
	for (i = 0; i < 2; i++) {
		nng_aio_free(p[i].aio);
		nng_close(p[i].s);
	}
	pthread_mutex_destroy(&q.mtx);
	pthread_cond_destroy(&q.cv);
	close(fd);
	free(all);
	free(maj);
}

static bool
wanted(const char *only, const char *tp, size_t size, const char *mode)
{
	char label[64];

	snprintf(label, sizeof(label), "%s %zu %s", tp, size, mode);
	return only == NULL || strstr(label, only) != NULL;
}

static void
run(const char *tp, const char *url, nng_tls_config *cfg, size_t size,
    int rounds, const char *only)
{
	static const int ks[] = { 8, 32 };
	nng_socket       c;
	nng_ctx          ctx[MAXK];
	nng_aio         *aio[MAXK];
	uint8_t         *buf = o_malloc(size);
	double          *us  = o_calloc((size_t) rounds, sizeof(double));
	double           t0, t;
	char             mode[16];
	int              i, j;

	memset(buf, 0xa5, size);
	check(nng_req0_open(&c), "req0");
	check_o(otr_tls_dial(c, url, cfg, cfg == NULL, 0, NULL), url);
	if (wanted(only, tp, size, "serial")) {
		for (i = 0; i < WARMUP; i++)
			serial_rt(c, buf, size);
		t0 = now_us();
		for (i = 0; i < rounds; i++) {
			t = now_us();
			serial_rt(c, buf, size);
			us[i] = now_us() - t;
		}
		report(tp, size, "serial", us, (size_t) rounds,
		    (now_us() - t0) / 1e6, (size_t) rounds);
	}
	for (i = 0; i < MAXK; i++) {
		check(nng_ctx_open(&ctx[i], c), "ctx");
		check(nng_aio_alloc(&aio[i], NULL, NULL), "aio");
	}
	for (j = 0; j < (int) O_NELEM(ks); j++) {
		int k = ks[j], r = rounds / k > 200 ? rounds / k : 200;

		snprintf(mode, sizeof(mode), "batch%d", k);
		if (!wanted(only, tp, size, mode))
			continue;
		for (i = 0; i < WARMUP / 10; i++)
			batch_rt(ctx, aio, k, buf, size);
		t0 = now_us();
		for (i = 0; i < r; i++) {
			t = now_us();
			batch_rt(ctx, aio, k, buf, size);
			us[i] = now_us() - t;
		}
		report(tp, size, mode, us, (size_t) r, (now_us() - t0) / 1e6,
		    (size_t) (r * k));
	}
	if (size == 65536 && wanted(only, tp, size, "split")) {
		for (i = 0; i < WARMUP; i++)
			batch_rt(ctx, aio, 4, buf, size / 4);
		t0 = now_us();
		for (i = 0; i < rounds; i++) {
			t = now_us();
			batch_rt(ctx, aio, 4, buf, size / 4);
			us[i] = now_us() - t;
		}
		report(tp, size, "split4", us, (size_t) rounds,
		    (now_us() - t0) / 1e6, (size_t) rounds);
	}
	for (i = 0; i < MAXK; i++) {
		nng_aio_free(aio[i]);
		nng_ctx_close(ctx[i]);
	}
	nng_close(c);
	free(us);
	free(buf);
}

/* A server process (forked before nng starts in this one): its two
 * ports (tcp, tls); it ends when *quit_fd is closed (the k earlier
 * servers' quit_fds, inherited, are closed in it). */
static pid_t
server_start(
    const char *dir, int ports[2], int *quit_fd, const int *earlier, size_t k)
{
	int   pp[2], qp[2];
	pid_t pid;

	if (pipe(pp) != 0 || pipe(qp) != 0)
		die("pipe", "failed");
	if ((pid = fork()) == 0) {
		close(pp[0]);
		close(qp[1]);
		while (k > 0)
			close(earlier[--k]);
		server(dir, pp[1], qp[0]);
	}
	close(pp[1]);
	close(qp[0]);
	if (read(pp[0], ports, 2 * sizeof(int)) != 2 * sizeof(int))
		die("server", "did not start");
	close(pp[0]);
	*quit_fd = qp[1];
	return pid;
}

int
main(int argc, char **argv)
{
	static const size_t sizes[] = { 64, 4096, 65536 };
	char                ca[4200], url[2][64], qurl[2][2][64];
	int                 qfd[3], ports[3][2], rounds, rv, st;
	const char         *only;
	nng_tls_config     *ccfg;
	pid_t               pid[3];
	size_t              i;

	if (argc < 2 || argc > 4) {
		fprintf(stderr, "usage: bench_nng DIR [ROUNDS [ONLY]]\n");
		return 2;
	}
	rounds = argc > 2 ? atoi(argv[2]) : 5000;
	only   = argc > 3 ? argv[3] : NULL;
	if (rounds < 10)
		rounds = 10;
	snprintf(cluster, sizeof(cluster), "%s/cluster", argv[1]);
	snprintf(ca, sizeof(ca), "%s/ca.pem", cluster);
	if (access(ca, F_OK) != 0) {
		check_o(otr_pki_init(cluster), "init");
		check_o(otr_pki_node_add(cluster, "srv"), "node srv");
		check_o(otr_pki_node_add(cluster, "cli"), "node cli");
	}
	for (i = 0; i < 3; i++)
		pid[i] = server_start(argv[1], ports[i], &qfd[i], qfd, i);
	snprintf(url[0], sizeof(url[0]), "tcp://127.0.0.1:%d", ports[0][0]);
	snprintf(
	    url[1], sizeof(url[1]), "tls+tcp://127.0.0.1:%d", ports[0][1]);
	for (i = 0; i < 2; i++) { /* the quorum's two: servers 1 and 2 */
		snprintf(qurl[0][i], sizeof(qurl[0][i]), "tcp://127.0.0.1:%d",
		    ports[i + 1][0]);
		snprintf(qurl[1][i], sizeof(qurl[1][i]),
		    "tls+tcp://127.0.0.1:%d", ports[i + 1][1]);
	}
	check_o(
	    otr_tls_config_alloc(cluster, "cli", OTR_TLS_CLIENT, NULL, &ccfg),
	    "client TLS config");
	{
		nng_tls_config *probe;

		check(
		    nng_tls_config_alloc(&probe, NNG_TLS_MODE_CLIENT), "cfg");
		rv = nng_tls_config_version(probe, NNG_TLS_1_3, NNG_TLS_1_3);
		printf("# nng %s, TLS engine %s; TLS 1.3 only: %s\n",
		    nng_version(), nng_tls_engine_description(),
		    rv == 0 ? "accepted" : nng_strerror(rv));
		nng_tls_config_free(probe);
	}
	for (i = 0; i < O_NELEM(sizes); i++) {
		run("tcp", url[0], NULL, sizes[i], rounds, only);
		run("tls", url[1], ccfg, sizes[i], rounds, only);
	}
	if (wanted(only, "tcp", 256, "quorum"))
		run_quorum("tcp", qurl[0], NULL, argv[1], rounds);
	if (wanted(only, "tls", 256, "quorum"))
		run_quorum("tls", qurl[1], ccfg, argv[1], rounds);
	nng_tls_config_free(ccfg);
	for (i = 0; i < 3; i++) {
		close(qfd[i]);
		waitpid(pid[i], &st, 0);
	}
	return 0;
}
