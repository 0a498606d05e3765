/*
 * tls.h - nng TLS configurations built from the cluster's certificates
 * (transport/pki.h), and the rules for which URLs a peer may use.
 *
 * Both ends authenticate (mutual TLS): each loads its node's certificate
 * and key and the cluster CA, and sets NNG_TLS_AUTH_MODE_REQUIRED, so
 * mbedTLS (inside nng) aborts the handshake with a peer that presents no
 * certificate or one the CA did not sign.  Such a connection never
 * becomes an nng pipe: no message crosses it and the socket's pipe
 * callbacks do not run (nng 1.5.2 reports nothing else about it, see
 * otr_tls_refusals).  Only TLS 1.2 is offered: the Debian build of nng
 * 1.5.2 uses mbedTLS 2.28, which has no TLS 1.3 server side.
 *
 * The client checks that the server's certificate names server_name.
 * Every node certificate carries DNS:localhost, and mbedTLS 2.28 does not
 * match IP addresses against iPAddress names, so dialers of a loopback
 * cluster pass "localhost"; dialers of a named peer pass its node name.
 */
#ifndef OTR_TLS_H
#define OTR_TLS_H

#include <stdbool.h>
#include <stdint.h>

#include <nng/nng.h>
#include <nng/supplemental/tls/tls.h>

#include "core/o_err.h"

enum otr_tls_role { OTR_TLS_SERVER, OTR_TLS_CLIENT };

/*
 * A TLS configuration for node name of the cluster in dir, for role.
 * server_name (clients only; NULL means "localhost") is the name the
 * server's certificate must carry.  The files are checked first
 * (otr_pki_check), so a wrong key or a certificate of another CA is
 * reported here with its path rather than as a failed handshake later.
 * The caller owns *out (nng_tls_config_free).  Reads files; no network.
 */
o_err otr_tls_config_alloc(const char *dir, const char *name,
    enum otr_tls_role role, const char *server_name, nng_tls_config **out);

/*
 * The rules for a peer URL: "tls+tcp://HOST:PORT" with cfg, or
 * "tcp://HOST:PORT" only when insecure is true; anything else is O_EPERM
 * (plain tcp without insecure) or O_EINVAL, with a detail naming url.
 */
o_err otr_tls_check_url(const char *url, nng_tls_config *cfg, bool insecure);

/*
 * Listen / dial on s at url.  url is "tls+tcp://HOST:PORT" with cfg, or
 * "tcp://HOST:PORT" (cfg NULL) only when insecure is true; anything else
 * is O_EPERM (plain tcp without insecure) or O_EINVAL.  *l / *d (may be
 * NULL) receive the endpoint.  dial_flags go to nng_dialer_start
 * (NNG_FLAG_NONBLOCK to connect in the background).  A synchronous dial
 * returns once the TLS handshake is done or failed.
 */
o_err otr_tls_listen(nng_socket s, const char *url, nng_tls_config *cfg,
    bool insecure, nng_listener *l);
o_err otr_tls_dial(nng_socket s, const char *url, nng_tls_config *cfg,
    bool insecure, int dial_flags, nng_dialer *d);

/*
 * Watch the pipes of s: each new pipe is logged with its peer's address
 * (debug) and one over TLS whose peer is not verified is closed before
 * the socket uses it and logged (warning) with that address.  With
 * NNG_TLS_AUTH_MODE_REQUIRED such a pipe cannot appear; this is the
 * second lock on the door and the only place nng gives us an address.
 */
o_err otr_tls_guard(nng_socket s);

/*
 * Handshakes that listener l refused since it started (nng's per-listener
 * "auth errors" statistic); 0 if nng keeps no statistics.  nng 1.5.2
 * drops a failed handshake without telling the application, so this
 * counter is all there is: no address, no callback.
 */
uint64_t otr_tls_refusals(nng_listener l);

/* Translate an nng error code into o_err (the one place that does). */
o_err otr_err_from_nng(int rv);

#endif /* OTR_TLS_H */
