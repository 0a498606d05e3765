/*
 * test_pki.c - the cluster CA and node certificates (transport/pki.h) on
 * real files, and mutual TLS between real nng sockets on 127.0.0.1
 * (transport/tls.h): nodes of one CA talk; a client with a certificate
 * of another CA, or with none, gets no message through while the server
 * goes on serving good clients.
 *
 * Refusals are checked by outcome (the dial fails, nothing arrives
 * within a bounded wait), never by how long they take.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <netinet/in.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <unistd.h>

#include <criterion/criterion.h>
#include <nng/nng.h>
#include <nng/protocol/reqrep0/rep.h>
#include <nng/protocol/reqrep0/req.h>
#include <nng/supplemental/tls/tls.h>

#include "core/o_util.h"
#include "transport/pki.h"
#include "transport/tls.h"
#include "util/testutil.h"

TestSuite(pki, .timeout = 60);

/* Bound on waits for something that must not happen (a refused send). */
#define REFUSED_WAIT_MS 1000
/* Bound on waits for something that must happen (generous, CI is slow). */
#define GOOD_WAIT_MS 20000

static char *tmp;
static char  dir_a[PATH_MAX], dir_b[PATH_MAX];

static void
ok(o_err e, const char *what)
{
	cr_assert_eq(
	    e, O_OK, "%s: %s: %s", what, o_errname(e), o_err_detail());
}

static void
setup(void)
{
	tmp = ot_tmpdir("pki");
	snprintf(dir_a, sizeof(dir_a), "%s/A", tmp);
	snprintf(dir_b, sizeof(dir_b), "%s/B", tmp);
}

/* Strings slurp() returned, freed at teardown. */
static char  *slurped[32];
static size_t nslurped;

static void
teardown(void)
{
	while (nslurped > 0)
		free(slurped[--nslurped]);
	ot_rmtree_free(tmp);
}

/* Cluster A with nodes n1, n2; cluster B with node x. */
static void
two_clusters(void)
{
	ok(otr_pki_init(dir_a), "init A");
	ok(otr_pki_node_add(dir_a, "n1"), "add n1");
	ok(otr_pki_node_add(dir_a, "n2"), "add n2");
	ok(otr_pki_init(dir_b), "init B");
	ok(otr_pki_node_add(dir_b, "x"), "add x");
}

static char *
path_of(const char *dir, const char *name, enum otr_pki_file f)
{
	static char buf[4][PATH_MAX];
	static int  i;
	char       *p = buf[i++ % 4];

	ok(otr_pki_path(dir, name, f, p, PATH_MAX), "path");
	return p;
}

static X509 *
read_cert(const char *path)
{
	FILE *fp = fopen(path, "r");
	X509 *x;

	cr_assert_not_null(fp, "open %s", path);
	x = PEM_read_X509(fp, NULL, NULL, NULL);
	fclose(fp);
	cr_assert_not_null(x, "parse %s", path);
	return x;
}

/* X509_verify_cert of cert_path against ca_path, done here by hand. */
static int
verify_by_hand(const char *ca_path, const char *cert_path)
{
	X509           *ca = read_cert(ca_path), *cert = read_cert(cert_path);
	X509_STORE     *st  = X509_STORE_new();
	X509_STORE_CTX *ctx = X509_STORE_CTX_new();
	int             rc;

	cr_assert_eq(X509_STORE_add_cert(st, ca), 1);
	cr_assert_eq(X509_STORE_CTX_init(ctx, st, cert, NULL), 1);
	X509_STORE_CTX_set_purpose(ctx, X509_PURPOSE_SSL_SERVER);
	rc = X509_verify_cert(ctx);
	X509_STORE_CTX_free(ctx);
	X509_STORE_free(st);
	X509_free(cert);
	X509_free(ca);
	return rc;
}

static mode_t
mode_of(const char *path)
{
	struct stat st;

	cr_assert_eq(stat(path, &st), 0, "stat %s", path);
	return st.st_mode & 07777;
}

Test(pki, init_and_node_add_make_certificates_the_ca_verifies, .init = setup,
    .fini = teardown)
{
	X509 *ca, *node;

	two_clusters();
	cr_assert_eq(mode_of(dir_a), 0700);
	cr_assert_eq(mode_of(path_of(dir_a, NULL, OTR_PKI_CA_KEY)), 0600);
	cr_assert_eq(mode_of(path_of(dir_a, "n1", OTR_PKI_NODE_KEY)), 0600);
	cr_assert_eq(mode_of(path_of(dir_a, "n1", OTR_PKI_NODE_CERT)), 0644);

	/* each node verifies against its own CA, not the other one */
	cr_assert_eq(verify_by_hand(path_of(dir_a, NULL, OTR_PKI_CA_CERT),
	                 path_of(dir_a, "n1", OTR_PKI_NODE_CERT)),
	    1);
	cr_assert_eq(verify_by_hand(path_of(dir_a, NULL, OTR_PKI_CA_CERT),
	                 path_of(dir_a, "n2", OTR_PKI_NODE_CERT)),
	    1);
	cr_assert_neq(verify_by_hand(path_of(dir_a, NULL, OTR_PKI_CA_CERT),
	                  path_of(dir_b, "x", OTR_PKI_NODE_CERT)),
	    1);
	ok(otr_pki_check(dir_a, "n1"), "check n1");
	ok(otr_pki_check(dir_b, "x"), "check x");
	cr_assert_eq(otr_pki_verify_file(path_of(dir_a, NULL, OTR_PKI_CA_CERT),
	                 path_of(dir_b, "x", OTR_PKI_NODE_CERT)),
	    O_EPERM);
	cr_assert_not_null(
	    strstr(o_err_detail(), "x/cert.pem"), "%s", o_err_detail());

	/* the profile: CA is a CA; the node names itself and loopback */
	ca   = read_cert(path_of(dir_a, NULL, OTR_PKI_CA_CERT));
	node = read_cert(path_of(dir_a, "n1", OTR_PKI_NODE_CERT));
	cr_assert_eq(X509_check_ca(ca), 1);
	cr_assert_eq(X509_check_ca(node), 0);
	cr_assert_eq(X509_check_host(node, "n1", 0, 0, NULL), 1);
	cr_assert_eq(X509_check_host(node, "localhost", 0, 0, NULL), 1);
	cr_assert_neq(X509_check_host(node, "n2", 0, 0, NULL), 1);
	cr_assert_eq(X509_check_ip_asc(node, "127.0.0.1", 0), 1);
	cr_assert_eq(X509_check_purpose(node, X509_PURPOSE_SSL_CLIENT, 0), 1);
	cr_assert_eq(X509_check_purpose(node, X509_PURPOSE_SSL_SERVER, 0), 1);
	cr_assert_eq(EVP_PKEY_get_bits(X509_get0_pubkey(node)), 256);
	cr_assert_eq(ASN1_INTEGER_cmp(X509_get0_serialNumber(ca),
	                 X509_get0_serialNumber(node)) != 0,
	    true);
	X509_free(node);
	X509_free(ca);
}

/* Bytes of a file, for "unchanged" checks. */
static char *
slurp(const char *path)
{
	char *s;

	ok(otr_pki_read_file(path, &s, NULL), "read");
	return s;
}

/* slurp(), freed at teardown. */
static char *
slurp_kept(const char *path)
{
	char *s = slurp(path);

	cr_assert_lt(nslurped, 32);
	slurped[nslurped++] = s;
	return s;
}

Test(pki, existing_ca_and_node_are_never_overwritten, .init = setup,
    .fini = teardown)
{
	char *ca_before, *key_before, *node_before;

	ok(otr_pki_init(dir_a), "init");
	ok(otr_pki_node_add(dir_a, "n1"), "add n1");
	ca_before   = slurp_kept(path_of(dir_a, NULL, OTR_PKI_CA_CERT));
	key_before  = slurp_kept(path_of(dir_a, NULL, OTR_PKI_CA_KEY));
	node_before = slurp_kept(path_of(dir_a, "n1", OTR_PKI_NODE_CERT));

	cr_assert_eq(otr_pki_init(dir_a), O_EEXIST);
	cr_assert_not_null(
	    strstr(o_err_detail(), "/A/ca.pem"), "detail: %s", o_err_detail());
	cr_assert_eq(otr_pki_node_add(dir_a, "n1"), O_EEXIST);
	cr_assert_not_null(strstr(o_err_detail(), "nodes/n1/cert.pem"),
	    "detail: %s", o_err_detail());

	/* a lone key (say, an interrupted copy) also blocks the CA */
	ok(otr_pki_init(dir_b), "init B");
	cr_assert_eq(unlink(path_of(dir_b, NULL, OTR_PKI_CA_CERT)), 0);
	cr_assert_eq(otr_pki_init(dir_b), O_EEXIST);
	cr_assert_not_null(
	    strstr(o_err_detail(), "ca.key"), "%s", o_err_detail());

	cr_assert_str_eq(
	    slurp_kept(path_of(dir_a, NULL, OTR_PKI_CA_CERT)), ca_before);
	cr_assert_str_eq(
	    slurp_kept(path_of(dir_a, NULL, OTR_PKI_CA_KEY)), key_before);
	cr_assert_str_eq(
	    slurp_kept(path_of(dir_a, "n1", OTR_PKI_NODE_CERT)), node_before);
	ok(otr_pki_check(dir_a, "n1"), "n1 still good");
}

Test(pki, node_names, .init = setup, .fini = teardown)
{
	static const char *bad[]  = { "", ".", "..", "../x", "a/b", "-x",
		 ".hidden", "_x", "a b", "n\xc3\xa9", "a:b", "x\n" };
	static const char *good[] = { "a", "n1", "Node-1.example_x", "9" };
	char               name[80];
	struct stat        st;
	size_t             i;

	for (i = 0; i < O_NELEM(bad); i++)
		cr_assert(
		    !otr_pki_name_valid(bad[i]), "'%s' accepted", bad[i]);
	for (i = 0; i < O_NELEM(good); i++)
		cr_assert(
		    otr_pki_name_valid(good[i]), "'%s' refused", good[i]);
	memset(name, 'a', sizeof(name));
	name[OTR_PKI_NAME_MAX] = '\0';
	cr_assert(otr_pki_name_valid(name));
	name[OTR_PKI_NAME_MAX]     = 'a';
	name[OTR_PKI_NAME_MAX + 1] = '\0';
	cr_assert(!otr_pki_name_valid(name));

	ok(otr_pki_init(dir_a), "init");
	cr_assert_eq(otr_pki_node_add(dir_a, "../evil"), O_EINVAL);
	cr_assert_not_null(strstr(o_err_detail(), "../evil"));
	cr_assert_eq(otr_pki_node_add(dir_a, ".."), O_EINVAL);
	cr_assert_eq(otr_pki_node_add(dir_a, name), O_EINVAL);
	snprintf(name, sizeof(name), "%s/evil", tmp);
	cr_assert_neq(stat(name, &st), 0, "a bad name escaped DIR/nodes");
	ok(otr_pki_node_add(dir_a, "Node-1.example_x"), "good name");

	cr_assert_eq(otr_pki_node_add(dir_b, "n1"), O_ENOTFOUND);
	cr_assert_not_null(
	    strstr(o_err_detail(), "optimfs init"), "%s", o_err_detail());
}

Test(pki, a_key_that_does_not_match_is_caught, .init = setup, .fini = teardown)
{
	nng_tls_config *cfg = NULL;
	char           *k2;
	int             fd;

	two_clusters();
	k2 = slurp_kept(path_of(dir_a, "n2", OTR_PKI_NODE_KEY));
	fd = open(path_of(dir_a, "n1", OTR_PKI_NODE_KEY), O_WRONLY | O_TRUNC);
	cr_assert_geq(fd, 0);
	cr_assert_eq(write(fd, k2, strlen(k2)), (ssize_t) strlen(k2));
	close(fd);
	cr_assert_eq(otr_pki_check(dir_a, "n1"), O_EBADMSG);
	cr_assert_not_null(
	    strstr(o_err_detail(), "n1/key.pem"), "%s", o_err_detail());
	cr_assert_eq(
	    otr_tls_config_alloc(dir_a, "n1", OTR_TLS_SERVER, NULL, &cfg),
	    O_EBADMSG);
	cr_assert_null(cfg);
}

/*
 * nng plumbing
 */

struct server {
	nng_socket      sock;
	nng_listener    l;
	nng_tls_config *cfg;
	char            url[64];
};

static void
server_open(struct server *sv, nng_tls_config *cfg)
{
	int port;

	sv->cfg = cfg;
	cr_assert_eq(nng_rep0_open(&sv->sock), 0);
	ok(otr_tls_guard(sv->sock), "guard");
	cr_assert_eq(
	    nng_socket_set_ms(sv->sock, NNG_OPT_SENDTIMEO, GOOD_WAIT_MS), 0);
	ok(otr_tls_listen(
	       sv->sock, "tls+tcp://127.0.0.1:0", cfg, false, &sv->l),
	    "listen");
	cr_assert_eq(
	    nng_listener_get_int(sv->l, NNG_OPT_TCP_BOUND_PORT, &port), 0);
	snprintf(sv->url, sizeof(sv->url), "tls+tcp://127.0.0.1:%d", port);
}

static void
server_close(struct server *sv)
{
	nng_close(sv->sock);
	nng_tls_config_free(sv->cfg);
}

/* Serve one request (echo with a '!' appended) or time out. */
static int
serve_one(struct server *sv, nng_duration wait_ms)
{
	nng_msg *m;
	int      rv;

	nng_socket_set_ms(sv->sock, NNG_OPT_RECVTIMEO, wait_ms);
	if ((rv = nng_recvmsg(sv->sock, &m, 0)) != 0)
		return rv;
	cr_assert_eq(nng_msg_append(m, "!", 1), 0);
	cr_assert_eq(nng_sendmsg(sv->sock, m, 0), 0);
	return 0;
}

static nng_socket
client_open(void)
{
	nng_socket s;

	cr_assert_eq(nng_req0_open(&s), 0);
	nng_socket_set_ms(s, NNG_OPT_SENDTIMEO, GOOD_WAIT_MS);
	nng_socket_set_ms(s, NNG_OPT_RECVTIMEO, GOOD_WAIT_MS);
	return s;
}

/* A node client of cluster A does a round trip with the server. */
static void
good_round_trip(struct server *sv, const char *node, const char *text)
{
	nng_tls_config *cfg;
	nng_socket      c = client_open();
	char            buf[64];
	size_t          n = sizeof(buf);

	ok(otr_tls_config_alloc(dir_a, node, OTR_TLS_CLIENT, NULL, &cfg),
	    "client config");
	ok(otr_tls_dial(c, sv->url, cfg, false, 0, NULL), "dial");
	cr_assert_eq(nng_send(c, (void *) text, strlen(text) + 1, 0), 0);
	if (serve_one(sv, GOOD_WAIT_MS) != 0) {
		nng_stat *st;

		/* show nng's view of the listener: which counter moved */
		if (nng_stats_get(&st) == 0) {
			nng_stats_dump(st);
			nng_stats_free(st);
		}
		cr_assert_fail("server got nothing from a good client");
	}
	cr_assert_eq(nng_recv(c, buf, &n, 0), 0);
	cr_assert_eq(n, strlen(text) + 2);
	cr_assert_eq(memcmp(buf, text, strlen(text)), 0);
	cr_assert_eq(memcmp(buf + strlen(text), "\0!", 2), 0);
	nng_close(c);
	nng_tls_config_free(cfg);
}

/*
 * A client with cfg (not a cluster-A node) dials sv: the synchronous
 * dial fails (the handshake is over, one way or the other, when it
 * returns), and a request on that socket reaches nobody.
 *
 * Not done here: closing a client whose background dialer may be in the
 * middle of a handshake.  Under heavy CPU load that made the nng 1.5.2
 * listener stop handing over new connections (docs/ARCHITECTURE.md
 * §7a), which a test cannot make deterministic.
 */
static void
expect_refused(struct server *sv, nng_tls_config *cfg)
{
	nng_socket c = client_open();
	o_err      e;

	e = otr_tls_dial(c, sv->url, cfg, false, 0, NULL);
	cr_assert_neq(e, O_OK,
	    "a client without a cluster certificate "
	    "completed its dial");
	nng_socket_set_ms(c, NNG_OPT_SENDTIMEO, REFUSED_WAIT_MS);
	/* req hands a message to a pipe only; without one, send times out */
	cr_assert_eq(nng_send(c, "evil", 5, 0), NNG_ETIMEDOUT);
	cr_assert_eq(serve_one(sv, REFUSED_WAIT_MS), NNG_ETIMEDOUT,
	    "a message from an unauthenticated client arrived");
	nng_close(c);
}

/* A client config trusting cluster A's CA with no own certificate, or
 * (cert_dir != NULL) with node name's certificate of another cluster. */
static nng_tls_config *
foreign_client(const char *cert_dir, const char *name)
{
	nng_tls_config *cfg;
	char           *cert, *key;

	cr_assert_eq(nng_tls_config_alloc(&cfg, NNG_TLS_MODE_CLIENT), 0);
	cr_assert_eq(
	    nng_tls_config_auth_mode(cfg, NNG_TLS_AUTH_MODE_REQUIRED), 0);
	cr_assert_eq(
	    nng_tls_config_ca_file(cfg, path_of(dir_a, NULL, OTR_PKI_CA_CERT)),
	    0);
	cr_assert_eq(nng_tls_config_server_name(cfg, "localhost"), 0);
	if (cert_dir != NULL) {
		cert = slurp(path_of(cert_dir, name, OTR_PKI_NODE_CERT));
		key  = slurp(path_of(cert_dir, name, OTR_PKI_NODE_KEY));
		cr_assert_eq(nng_tls_config_own_cert(cfg, cert, key, NULL), 0);
		free(cert);
		free(key);
	}
	return cfg;
}

/* Handshakes sv refused, waiting (bounded) for nng to count the first. */
static uint64_t
refusals(struct server *sv)
{
	uint64_t n = 0;
	int      i;

	for (i = 0;
	     i < GOOD_WAIT_MS / 10 && (n = otr_tls_refusals(sv->l)) == 0; i++)
		o_sleep_ms(10);
	return n;
}

Test(pki, nodes_of_one_ca_do_a_round_trip_over_tls, .init = setup,
    .fini = teardown)
{
	struct server   sv;
	nng_tls_config *cfg;

	two_clusters();
	ok(otr_tls_config_alloc(dir_a, "n1", OTR_TLS_SERVER, NULL, &cfg),
	    "server config");
	server_open(&sv, cfg);
	good_round_trip(&sv, "n2", "hello over mutual TLS");
	good_round_trip(&sv, "n1", "and from a second connection");
	cr_assert_eq(otr_tls_refusals(sv.l), 0);
	server_close(&sv);
}

Test(pki, a_client_of_another_ca_is_refused, .init = setup, .fini = teardown)
{
	struct server   sv;
	nng_tls_config *cfg, *foreign;

	two_clusters();
	ok(otr_tls_config_alloc(dir_a, "n1", OTR_TLS_SERVER, NULL, &cfg),
	    "server config");
	server_open(&sv, cfg);
	/* it trusts A's (public) CA certificate, but its own is B's */
	foreign = foreign_client(dir_b, "x");
	expect_refused(&sv, foreign);
	cr_assert_geq(refusals(&sv), 1);
	good_round_trip(&sv, "n2", "still serving");
	nng_tls_config_free(foreign);
	server_close(&sv);
}

Test(pki, a_client_without_a_certificate_is_refused, .init = setup,
    .fini = teardown)
{
	struct server   sv;
	nng_tls_config *cfg, *anon;

	two_clusters();
	ok(otr_tls_config_alloc(dir_a, "n1", OTR_TLS_SERVER, NULL, &cfg),
	    "server config");
	server_open(&sv, cfg);
	anon = foreign_client(NULL, NULL);
	expect_refused(&sv, anon);
	cr_assert_geq(refusals(&sv), 1);
	good_round_trip(&sv, "n2", "still serving");
	nng_tls_config_free(anon);
	server_close(&sv);
}

Test(pki, a_client_refuses_a_server_of_another_ca, .init = setup,
    .fini = teardown)
{
	struct server   sv;
	nng_tls_config *cfg, *ccfg;
	nng_socket      c = client_open();

	two_clusters();
	ok(otr_tls_config_alloc(dir_b, "x", OTR_TLS_SERVER, NULL, &cfg),
	    "server config");
	server_open(&sv, cfg);
	ok(otr_tls_config_alloc(dir_a, "n2", OTR_TLS_CLIENT, NULL, &ccfg),
	    "client config");
	cr_assert_neq(otr_tls_dial(c, sv.url, ccfg, false, 0, NULL), O_OK);
	cr_assert_eq(serve_one(&sv, REFUSED_WAIT_MS), NNG_ETIMEDOUT);
	nng_close(c);
	nng_tls_config_free(ccfg);
	server_close(&sv);
}

/*
 * A client without a certificate that completes the TLS handshake (the
 * server must let it: see below) and sends a request, made with OpenSSL
 * and a plain socket rather than with nng: nng 1.5.2 could hang for good
 * in nng_close of a req socket whose pipe the server had closed (its
 * reaper waited on a task never started, as in nanomsg/nng#1543; 2 runs
 * in 60 under CPU load did).  Returns the connection's socket.
 */
static int
unverified_request(const char *url, SSL_CTX **ctxp, SSL **sslp)
{
	/* clang-format off */
	static const uint8_t req[] = {
		0x00, 'S', 'P', 0x00, 0x00, 0x30, 0x00, 0x00, /* SP, req0 */
		0, 0, 0, 0, 0, 0, 0, 9,         /* length of what follows */
		0x80, 0, 0, 1,                  /* request id */
		'e', 'v', 'i', 'l', 0,
	};
	/* clang-format on */
	struct sockaddr_in sa    = { .sin_family = AF_INET };
	const char        *colon = strrchr(url, ':');
	SSL_CTX           *ctx;
	SSL               *ssl;
	int                fd;

	cr_assert_not_null(colon, "no port in %s", url);
	sa.sin_port        = htons((uint16_t) atoi(colon + 1));
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	fd                 = socket(AF_INET, SOCK_STREAM, 0);
	cr_assert_geq(fd, 0);
	cr_assert_eq(connect(fd, (struct sockaddr *) &sa, sizeof(sa)), 0,
	    "connect %s: %s", url, strerror(errno));
	ctx = SSL_CTX_new(TLS_client_method());
	cr_assert_not_null(ctx);
	SSL_CTX_set_verify(ctx, SSL_VERIFY_NONE, NULL);
	ssl = SSL_new(ctx);
	cr_assert_not_null(ssl);
	SSL_set_fd(ssl, fd);
	cr_assert_eq(SSL_connect(ssl), 1,
	    "the server refused the handshake of a client without a "
	    "certificate (it is set to let it through to the guard)");
	cr_assert_eq(
	    SSL_write(ssl, req, (int) sizeof(req)), (int) sizeof(req));
	*ctxp = ctx;
	*sslp = ssl;
	return fd;
}

/* True once the server ends the connection (bounded wait). */
static bool
closed_by_server(SSL *ssl, int fd)
{
	struct timeval tv = { .tv_sec = GOOD_WAIT_MS / 1000 };
	uint8_t        buf[256];
	int            n;

	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	errno = 0;
	while ((n = SSL_read(ssl, buf, sizeof(buf))) > 0)
		; /* the server's SP header */
	switch (SSL_get_error(ssl, n)) {
	case SSL_ERROR_WANT_READ: /* timed out */
		return false;
	case SSL_ERROR_SYSCALL: /* a reset, or timed out */
		return errno != EAGAIN && errno != EWOULDBLOCK;
	default: /* close_notify; an EOF without one (SSL_ERROR_SSL) */
		return true;
	}
}

/*
 * The guard, exercised with a server that lets mbedTLS finish the
 * handshake with an unverified client (AUTH_MODE_OPTIONAL, which our
 * configs never use): the pipe is closed before a message is taken and
 * the log names the peer's address.
 */
Test(pki, the_guard_closes_unverified_pipes_and_logs_the_address,
    .init = setup, .fini = teardown)
{
	struct server   sv;
	nng_tls_config *cfg;
	SSL_CTX        *ctx;
	SSL            *ssl;
	char            logpath[PATH_MAX], *log;
	int             fd, i;

	two_clusters();
	snprintf(logpath, sizeof(logpath), "%s/log", tmp);
	fd = open(logpath, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	cr_assert_geq(fd, 0);
	cr_assert_geq(dup2(fd, STDERR_FILENO), 0);
	close(fd);
	ok(otr_tls_config_alloc(dir_a, "n1", OTR_TLS_SERVER, NULL, &cfg),
	    "server config");
	cr_assert_eq(
	    nng_tls_config_auth_mode(cfg, NNG_TLS_AUTH_MODE_OPTIONAL), 0);
	server_open(&sv, cfg);
	good_round_trip(&sv, "n2", "verified pipes pass");
	fd = unverified_request(sv.url, &ctx, &ssl);
	cr_assert_eq(serve_one(&sv, REFUSED_WAIT_MS), NNG_ETIMEDOUT,
	    "a message from an unverified pipe arrived");
	cr_assert(closed_by_server(ssl, fd),
	    "the server kept the unverified connection open");
	for (i = 0; i < GOOD_WAIT_MS / 10; i++) {
		log = slurp(logpath);
		if (strstr(log, "refused peer 127.0.0.1:") != NULL)
			break;
		free(log);
		log = NULL;
		o_sleep_ms(10);
	}
	cr_assert_not_null(log, "no log line names the refused peer");
	cr_assert_not_null(strstr(log, "no certificate from the cluster CA"));
	free(log);
	good_round_trip(&sv, "n2", "and go on passing");
	SSL_free(ssl);
	SSL_CTX_free(ctx);
	close(fd);
	server_close(&sv);
}

Test(pki, plain_tcp_only_when_asked_for, .init = setup, .fini = teardown)
{
	nng_socket   s;
	nng_listener l;

	cr_assert_eq(nng_rep0_open(&s), 0);
	cr_assert_eq(
	    otr_tls_listen(s, "tcp://127.0.0.1:0", NULL, false, &l), O_EPERM);
	cr_assert_not_null(strstr(o_err_detail(), "insecure"));
	cr_assert_eq(otr_tls_dial(s, "tcp://127.0.0.1:1", NULL, false,
	                 NNG_FLAG_NONBLOCK, NULL),
	    O_EPERM);
	cr_assert_eq(
	    otr_tls_listen(s, "tls+tcp://127.0.0.1:0", NULL, false, &l),
	    O_EINVAL);
	cr_assert_eq(
	    otr_tls_listen(s, "ipc:///tmp/x", NULL, true, &l), O_EINVAL);
	ok(otr_tls_listen(s, "tcp://127.0.0.1:0", NULL, true, &l),
	    "tcp with insecure");
	nng_close(s);
}

/* Check (name, url, c) against cluster A; its code, the detail in d. */
static o_err
card_check(const char *name, const char *url, const struct otr_pki_card *c,
    const char *part)
{
	struct otr_pki_ca *ca;
	o_err              e;

	ok(otr_pki_ca_load(dir_a, &ca), "load the CA");
	e = otr_pki_card_check(ca, name, url, c);
	otr_pki_ca_free(ca);

	if (part != NULL)
		cr_assert_not_null(strstr(o_err_detail(), part),
		    "detail [%s] lacks [%s]", o_err_detail(), part);
	return e;
}

static void
copy_file(const char *from, const char *to)
{
	cr_assert_eq(ot_copy_file(from, to), 0, "copy %s to %s", from, to);
}

/* A card for "n2 at url" that n1's key signed, with n1's certificate:
 * cluster A's CA and n1's files copied into a directory as n2's. */
static void
n1_as_n2(const char *url, struct otr_pki_card *out)
{
	char d[PATH_MAX], p[PATH_MAX];

	snprintf(d, sizeof(d), "%s/fake", tmp);
	cr_assert_eq(mkdir(d, 0700), 0);
	copy_file(path_of(dir_a, NULL, OTR_PKI_CA_CERT),
	    path_of(d, NULL, OTR_PKI_CA_CERT));
	snprintf(p, sizeof(p), "%s/nodes", d);
	cr_assert_eq(mkdir(p, 0700), 0);
	snprintf(p, sizeof(p), "%s/nodes/n2", d);
	cr_assert_eq(mkdir(p, 0700), 0);
	copy_file(path_of(dir_a, "n1", OTR_PKI_NODE_CERT),
	    path_of(d, "n2", OTR_PKI_NODE_CERT));
	copy_file(path_of(dir_a, "n1", OTR_PKI_NODE_KEY),
	    path_of(d, "n2", OTR_PKI_NODE_KEY));
	ok(otr_pki_card_make(d, "n2", url, out), "card of n1 as n2");
}

/*
 * Member cards: a node's signed "NAME serves at URL".  Only a card made
 * with NAME's own key, for that URL, under a certificate of this cluster
 * naming NAME, checks; every other is refused with a detail naming the
 * member and why.
 */
Test(pki, a_member_card_holds_only_for_its_own_name_and_url, .init = setup,
    .fini = teardown)
{
	const char         *url = "tls+tcp://127.0.0.1:7001";
	struct otr_pki_card c1, c2, x, t;
	uint8_t             junk[64];

	two_clusters();
	ok(otr_pki_card_make(dir_a, "n1", url, &c1), "card n1");
	ok(otr_pki_card_make(dir_a, "n2", url, &c2), "card n2");
	ok(otr_pki_card_make(dir_b, "x", url, &x), "card x (cluster B)");
	ok(card_check("n1", url, &c1, NULL), "n1's own card");

	/* another URL: n1 never claimed it */
	cr_assert_eq(card_check("n1", "tls+tcp://127.0.0.1:9999", &c1,
	                 "the signature is not n1's for that URL"),
	    O_EPERM);
	/* n1's card offered as n2's: the certificate names n1 */
	cr_assert_eq(
	    card_check("n2", url, &c1, "the certificate is n1's"), O_EPERM);
	/* n2's certificate with n1's signature */
	t = (struct otr_pki_card) { c2.cert, c2.cert_len, c1.sig, c1.sig_len };
	cr_assert_eq(
	    card_check("n2", url, &t, "the signature is not n2's"), O_EPERM);
	/* a certificate of another cluster's CA */
	cr_assert_eq(
	    card_check("x", url, &x, "the certificate of member x"), O_EPERM);
	/* the detail goes back to the sender: no local path in it */
	cr_assert_null(strstr(o_err_detail(), dir_a), "%s", o_err_detail());
	/* no card at all, or half of one */
	t = (struct otr_pki_card) { 0 };
	cr_assert_eq(card_check("n1", url, &t, "no signed card"), O_EPERM);
	t = (struct otr_pki_card) { c1.cert, c1.cert_len, NULL, 0 };
	cr_assert_eq(card_check("n1", url, &t, "no signed card"), O_EPERM);
	/* bytes that are no certificate, and a certificate with a tail */
	memset(junk, 0x30, sizeof(junk));
	t = (struct otr_pki_card) { junk, sizeof(junk), c1.sig, c1.sig_len };
	cr_assert_eq(card_check("n1", url, &t, "does not parse"), O_EBADMSG);
	t.cert = o_malloc(c1.cert_len + 1);
	memcpy(t.cert, c1.cert, c1.cert_len);
	t.cert[c1.cert_len] = 0;
	t.cert_len          = c1.cert_len + 1;
	cr_assert_eq(card_check("n1", url, &t, "does not parse"), O_EBADMSG);
	free(t.cert);
	/* n1's own key signing "n2 at url" under n1's certificate (its
	 * files copied as n2's): the signature holds, the name does not */
	n1_as_n2(url, &t);
	cr_assert_eq(
	    card_check("n2", url, &t, "the certificate is n1's"), O_EPERM);
	otr_pki_card_fini(&t);
	/* a flipped bit in the signature */
	otr_pki_card_dup(&c1, &t);
	t.sig[t.sig_len / 2] ^= 1;
	cr_assert_eq(card_check("n1", url, &t, "signature"), O_EPERM);
	otr_pki_card_fini(&t);
	/* names pki refuses anyway */
	cr_assert_eq(card_check("-n1", url, &c1, "bad node name"), O_EINVAL);
	otr_pki_card_fini(&c1);
	otr_pki_card_fini(&c2);
	otr_pki_card_fini(&x);
	cr_assert_null(c1.cert);
}
