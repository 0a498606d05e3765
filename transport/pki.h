/*
 * pki.h - the cluster's certificate authority and node certificates
 * (OpenSSL 3.0, EVP API).  `optimfs init` and `optimfs node add` are thin
 * wrappers over these; transport/tls.h loads what they write.
 *
 * Layout of a cluster directory DIR (files written atomically: a
 * temporary file in the same directory, fsync, then link(2) to the final
 * name, so an existing file is never replaced and a crash leaves either
 * nothing or the whole file):
 *
 *   DIR/                       0700
 *   DIR/ca.pem                 CA certificate (PEM), 0644
 *   DIR/ca.key                 CA private key (PKCS#8 PEM), 0600
 *   DIR/nodes/                 0700
 *   DIR/nodes/NAME/            0700
 *   DIR/nodes/NAME/cert.pem    node certificate (PEM), 0644
 *   DIR/nodes/NAME/key.pem     node private key (PKCS#8 PEM), 0600
 *
 * Keys are ECDSA P-256 (nng's mbedTLS 2.28 rejects Ed25519).  The CA
 * certificate is self-signed X.509v3: basicConstraints CA:TRUE,pathlen:0
 * (critical), keyUsage keyCertSign,cRLSign (critical), 10 years, random
 * 128-bit serial, subject "CN=optimfs cluster CA <8 random hex>".  A node
 * certificate: subject CN=NAME, subjectAltName DNS:NAME, DNS:localhost,
 * IP:127.0.0.1, extendedKeyUsage serverAuth,clientAuth, keyUsage
 * digitalSignature (critical), basicConstraints CA:FALSE (critical),
 * signed with SHA-256, valid until the CA expires.
 *
 * Errors carry a detail (o_err_detail) naming the file and, for OpenSSL
 * failures, OpenSSL's error queue text.  Nothing here blocks beyond file
 * I/O and key generation.
 */
#ifndef OTR_PKI_H
#define OTR_PKI_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/o_err.h"

#define OTR_PKI_NAME_MAX 63

/*
 * A node name: 1..63 characters of [A-Za-z0-9._-], starting with a
 * letter or digit (so neither "." / ".." nor an option-like "-x").
 */
bool otr_pki_name_valid(const char *name);

/*
 * Paths of the files above into out[cap] ("DIR/ca.pem" ...).  name is
 * only used for the node files.  Returns O_ENAMETOOLONG if cap is short.
 */
enum otr_pki_file {
	OTR_PKI_CA_CERT,
	OTR_PKI_CA_KEY,
	OTR_PKI_NODE_CERT,
	OTR_PKI_NODE_KEY,
};
o_err otr_pki_path(const char *dir, const char *name, enum otr_pki_file f,
    char *out, size_t cap);

/*
 * Create the cluster CA in dir (created with mode 0700 if missing; its
 * parent must exist).  O_EEXIST (detail names the path) if dir already
 * holds ca.pem or ca.key: a CA is never replaced.
 */
o_err otr_pki_init(const char *dir);

/*
 * Issue node name's key and certificate, signed by dir's CA.  O_EINVAL
 * for a bad name, O_ENOTFOUND if dir has no CA, O_EEXIST if the node's
 * cert.pem or key.pem exists (never replaced).  On failure nothing new is
 * left behind except, possibly, the empty directory nodes/NAME.
 */
o_err otr_pki_node_add(const char *dir, const char *name);

/*
 * Check node name's files: the certificate verifies against dir's CA
 * (X509_verify_cert, purpose SSL client and server) and the key matches
 * it.  O_EPERM if the certificate is not trusted by the CA, O_EBADMSG if
 * a file does not parse, O_ENOTFOUND if one is missing.
 */
o_err otr_pki_check(const char *dir, const char *name);

/*
 * Verify the PEM certificate at cert_path against the CA certificate at
 * ca_path (as otr_pki_check does, without the key).
 */
o_err otr_pki_verify_file(const char *ca_path, const char *cert_path);

/*
 * Member cards.  A node's signed claim "node NAME serves at URL": its
 * certificate (DER) and an ECDSA signature with its key, over SHA-256 of
 * "optimfs member 1" NUL NAME NUL URL.  A member list spread by gossip
 * (transport/node.c) carries one card per member, so that a holder of any
 * cluster certificate cannot add a name the CA never issued, nor move
 * another node's name to its own URL: it would need that node's key.
 * A card does not expire and may be replayed; it only ever says what its
 * node said.
 */
struct otr_pki_card {
	uint8_t *cert; /* DER, o_malloc'd */
	size_t   cert_len;
	uint8_t *sig; /* DER ECDSA signature, o_malloc'd */
	size_t   sig_len;
};

/* Node name's card for url, from its files in dir (certificate and key;
 * the key is freed before returning).  Errors as otr_pki_check. */
o_err otr_pki_card_make(const char *dir, const char *name, const char *url,
    struct otr_pki_card *out);

/* The cluster CA of dir, loaded once to check cards with. */
struct otr_pki_ca;
o_err otr_pki_ca_load(const char *dir, struct otr_pki_ca **out);
void  otr_pki_ca_free(struct otr_pki_ca *ca);

/*
 * Check a card for (name, url) against the CA: it has a certificate and
 * a signature (O_EPERM if not), the certificate parses
 * (O_EBADMSG if not, or if bytes follow it), verifies against the CA for
 * TLS server and client use (O_EPERM), names name as its subject's CN
 * exactly (O_EPERM: the certificate of another node), and its key signed
 * (name, url) (O_EPERM).  O_EINVAL for a bad name or an over-long URL.
 * The detail names the member and the URL.
 */
o_err otr_pki_card_check(const struct otr_pki_ca *ca, const char *name,
    const char *url, const struct otr_pki_card *c);

/* Copy of c into *out (o_malloc'd). */
void otr_pki_card_dup(const struct otr_pki_card *c, struct otr_pki_card *out);

/* Free c's bytes and zero it (a zeroed card is fine). */
void otr_pki_card_fini(struct otr_pki_card *c);

/*
 * Read the small (<= 64 KiB) file at path into *out, NUL-terminated and
 * allocated with o_malloc (free with free; wipe keys first); its length
 * without the NUL into *len (may be NULL).
 */
o_err otr_pki_read_file(const char *path, char **out, size_t *len);

#endif /* OTR_PKI_H */
