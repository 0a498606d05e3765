/*
 * tls.c - nng TLS configurations from the cluster's certificate files,
 * URL rules, the pipe guard, and nng's error codes as o_err.
 *
 * Design notes.  Trust is enforced by mbedTLS inside nng: both sides use
 * NNG_TLS_AUTH_MODE_REQUIRED with the cluster CA as the only trust
 * anchor, so a handshake with a peer lacking a certificate of that CA
 * fails before nng creates a pipe.  nng 1.5.2 then closes the TCP
 * connection and bumps the listener's "auth errors" statistic; it has no
 * hook that sees the connection (the earliest pipe event, ADD_PRE, comes
 * after the handshake), so the peer's address of a refused handshake
 * cannot be logged through nng's API.  The pipe guard logs the address of
 * every pipe that does appear and closes any TLS pipe that is somehow not
 * verified.
 */
#include "transport/tls.h"

#include <arpa/inet.h>
#include <limits.h>
#include <openssl/crypto.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/o_util.h"
#include "transport/link.h"
#include "transport/pki.h"

o_err
otr_err_from_nng(int rv)
{
	switch (rv) {
	case 0:
		return O_OK;
	case NNG_ENOMEM:
		return O_ENOMEM;
	case NNG_EINVAL:
	case NNG_EADDRINVAL:
	case NNG_EBADTYPE:
		return O_EINVAL;
	case NNG_ETIMEDOUT:
		return O_ETIMEDOUT;
	case NNG_ECLOSED:
	case NNG_ECONNSHUT:
		return O_ECLOSED;
	case NNG_EBUSY:
	case NNG_EADDRINUSE:
	case NNG_EAGAIN:
		return O_EBUSY;
	case NNG_ENOENT:
		return O_ENOTFOUND;
	case NNG_EPERM:
	case NNG_EPEERAUTH:
	case NNG_ECRYPTO:
		return O_EPERM;
	case NNG_EMSGSIZE:
		return O_ETOOBIG;
	case NNG_EPROTO:
		return O_EBADMSG;
	case NNG_ECONNREFUSED:
	case NNG_ECONNRESET:
	case NNG_ECONNABORTED:
	case NNG_EUNREACHABLE:
		return O_EUNAVAIL;
	case NNG_ENOSPC:
		return O_ENOSPC;
	case NNG_EEXIST:
		return O_EEXIST;
	default:
		return O_EIO;
	}
}

static o_err nng_fail(int rv, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static o_err
nng_fail(int rv, const char *fmt, ...)
{
	char    what[300];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(what, sizeof(what), fmt, ap);
	va_end(ap);
	return o_err_set(
	    otr_err_from_nng(rv), "%s: %s", what, nng_strerror(rv));
}

o_err
otr_tls_config_alloc(const char *dir, const char *name, enum otr_tls_role role,
    const char *server_name, nng_tls_config **out)
{
	char   ca_path[PATH_MAX], cert_path[PATH_MAX], key_path[PATH_MAX];
	char  *cert = NULL, *key = NULL;
	size_t key_len = 0;
	nng_tls_config *cfg;
	int             rv;
	o_err           e;

	if ((e = otr_pki_check(dir, name)) != O_OK)
		return e;
	(void) otr_pki_path(
	    dir, name, OTR_PKI_CA_CERT, ca_path, sizeof(ca_path));
	(void) otr_pki_path(
	    dir, name, OTR_PKI_NODE_CERT, cert_path, sizeof(cert_path));
	(void) otr_pki_path(
	    dir, name, OTR_PKI_NODE_KEY, key_path, sizeof(key_path));
	if ((e = otr_pki_read_file(cert_path, &cert, NULL)) != O_OK ||
	    (e = otr_pki_read_file(key_path, &key, &key_len)) != O_OK)
		goto out_free;
	rv = nng_tls_config_alloc(&cfg,
	    role == OTR_TLS_SERVER ? NNG_TLS_MODE_SERVER
	                           : NNG_TLS_MODE_CLIENT);
	if (rv != 0) {
		e = nng_fail(rv, "TLS configuration for node %s", name);
		goto out_free;
	}
	if ((rv = nng_tls_config_auth_mode(cfg, NNG_TLS_AUTH_MODE_REQUIRED)) !=
	    0) {
		e = nng_fail(rv, "TLS authentication mode");
		goto out_free_cfg;
	}
	if ((rv = nng_tls_config_ca_file(cfg, ca_path)) != 0) {
		e = nng_fail(rv, "TLS: load the cluster CA %s", ca_path);
		goto out_free_cfg;
	}
	if ((rv = nng_tls_config_own_cert(cfg, cert, key, NULL)) != 0) {
		e = nng_fail(rv, "TLS: load %s and %s", cert_path, key_path);
		goto out_free_cfg;
	}
	if (role == OTR_TLS_CLIENT &&
	    (rv = nng_tls_config_server_name(
	         cfg, server_name != NULL ? server_name : "localhost")) != 0) {
		e = nng_fail(rv, "TLS server name");
		goto out_free_cfg;
	}
	*out = cfg;
	goto out_free;
out_free_cfg:
	nng_tls_config_free(cfg);
out_free:
	if (key != NULL)
		OPENSSL_cleanse(key, key_len);
	free(key);
	free(cert);
	return e;
}

/* O_OK if url may be used with cfg/insecure (see tls.h). */
o_err
otr_tls_check_url(const char *url, nng_tls_config *cfg, bool insecure)
{
	if (strncmp(url, "tls+tcp://", 10) == 0) {
		if (cfg == NULL)
			return o_err_set(O_EINVAL,
			    "%s: tls+tcp needs the node's TLS configuration",
			    url);
		return O_OK;
	}
	if (strncmp(url, "tcp://", 6) == 0) {
		if (!insecure)
			return o_err_set(O_EPERM,
			    "%s: plain tcp:// carries no authentication; "
			    "use tls+tcp:// or ask for --insecure",
			    url);
		return O_OK;
	}
	return o_err_set(O_EINVAL,
	    "%s: a peer URL is tls+tcp://HOST:PORT (or tcp:// with "
	    "--insecure)",
	    url);
}

o_err
otr_tls_listen(nng_socket s, const char *url, nng_tls_config *cfg,
    bool insecure, nng_listener *lp)
{
	nng_listener l;
	int          rv;
	o_err        e;

	if ((e = otr_tls_check_url(url, cfg, insecure)) != O_OK)
		return e;
	if ((rv = nng_listener_create(&l, s, url)) != 0)
		return nng_fail(rv, "listen on %s", url);
	if (strncmp(url, "tls", 3) == 0 &&
	    (rv = nng_listener_set_ptr(l, NNG_OPT_TLS_CONFIG, cfg)) != 0) {
		e = nng_fail(rv, "listen on %s: TLS configuration", url);
		goto out_close;
	}
	if ((rv = nng_listener_start(l, 0)) != 0) {
		e = nng_fail(rv, "listen on %s", url);
		goto out_close;
	}
	if (lp != NULL)
		*lp = l;
	return O_OK;
out_close:
	nng_listener_close(l);
	return e;
}

o_err
otr_tls_dial(nng_socket s, const char *url, nng_tls_config *cfg, bool insecure,
    int dial_flags, nng_dialer *dp)
{
	nng_dialer d;
	int        rv;
	o_err      e;

	if ((e = otr_tls_check_url(url, cfg, insecure)) != O_OK)
		return e;
	if ((rv = nng_dialer_create(&d, s, url)) != 0)
		return nng_fail(rv, "dial %s", url);
	if (strncmp(url, "tls", 3) == 0 &&
	    (rv = nng_dialer_set_ptr(d, NNG_OPT_TLS_CONFIG, cfg)) != 0) {
		e = nng_fail(rv, "dial %s: TLS configuration", url);
		goto out_close;
	}
	if ((rv = nng_dialer_start(d, dial_flags)) != 0) {
		e = nng_fail(rv, "dial %s", url);
		goto out_close;
	}
	if (dp != NULL)
		*dp = d;
	return O_OK;
out_close:
	nng_dialer_close(d);
	return e;
}

/* "1.2.3.4:5678" / "[::1]:5678" of a pipe's peer, or "unknown address". */
static void
peer_addr(nng_pipe p, char *out, size_t cap)
{
	nng_sockaddr sa;

	snprintf(out, cap, "unknown address");
	if (nng_pipe_get_addr(p, NNG_OPT_REMADDR, &sa) == 0)
		otr_sockaddr_str(&sa, out, cap);
}

static void
guard_cb(nng_pipe p, nng_pipe_ev ev, void *arg)
{
	char addr[INET6_ADDRSTRLEN + 16];
	bool verified = false;
	int  rv;

	(void) ev;
	(void) arg;
	peer_addr(p, addr, sizeof(addr));
	rv = nng_pipe_get_bool(p, NNG_OPT_TLS_VERIFIED, &verified);
	if (rv == NNG_ENOTSUP) { /* not TLS: tcp:// was asked for */
		o_log(O_LOG_DEBUG, "peer %s connected without TLS (insecure)",
		    addr);
		return;
	}
	if (rv != 0 || !verified) {
		o_log(O_LOG_WARN,
		    "refused peer %s: no certificate from the cluster CA%s%s",
		    addr, rv != 0 ? " (cannot tell: " : "",
		    rv != 0 ? nng_strerror(rv) : "");
		nng_pipe_close(p);
		return;
	}
	o_log(O_LOG_DEBUG, "peer %s connected (certificate verified)", addr);
}

o_err
otr_tls_guard(nng_socket s)
{
	int rv;

	if ((rv = nng_pipe_notify(s, NNG_PIPE_EV_ADD_PRE, guard_cb, NULL)) !=
	    0)
		return nng_fail(rv, "watch the socket's pipes");
	return O_OK;
}

/* The child of scope st named name, or NULL. */
static nng_stat *
stat_child(nng_stat *st, const char *name)
{
	nng_stat *c;

	for (c = nng_stat_child(st); c != NULL; c = nng_stat_next(c))
		if (strcmp(nng_stat_name(c), name) == 0)
			return c;
	return NULL;
}

/* Depth-first: the scope whose "id" child is id and that has want. */
static nng_stat *
stat_find(nng_stat *st, const char *scope, int id, const char *want)
{
	nng_stat *c, *idst, *hit;

	if (nng_stat_type(st) == NNG_STAT_SCOPE &&
	    strcmp(nng_stat_name(st), scope) == 0 &&
	    (idst = stat_child(st, "id")) != NULL &&
	    nng_stat_value(idst) == (uint64_t) id &&
	    (hit = stat_child(st, want)) != NULL)
		return hit;
	for (c = nng_stat_child(st); c != NULL; c = nng_stat_next(c))
		if ((hit = stat_find(c, scope, id, want)) != NULL)
			return hit;
	return NULL;
}

uint64_t
otr_tls_refusals(nng_listener l)
{
	nng_stat *all, *st;
	uint64_t  n = 0;

	if (nng_stats_get(&all) != 0)
		return 0;
	if ((st = stat_find(all, "listener", nng_listener_id(l), "auth")) !=
	    NULL)
		n = nng_stat_value(st);
	nng_stats_free(all);
	return n;
}
