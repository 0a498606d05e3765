/*
 * pki.c - cluster CA and node certificates with OpenSSL 3.0's EVP API
 * (transport/pki.h has the layout and the certificate profile).
 *
 * Design notes.  Files are never replaced: each is written to a
 * temporary name in its directory, synced, and link(2)ed to its final
 * name, which fails with EEXIST instead of overwriting (rename would
 * replace a CA someone else just made).  A key is written before its
 * certificate and removed again if the certificate cannot be written, so
 * a certificate on disk always has its key next to it.  Certificates
 * start an hour in the past so that peers whose clocks lag the issuing
 * machine accept a fresh one.
 */
#include "transport/pki.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/o_util.h"

#define PKI_CA_DAYS 3650
#define PKI_BACKDATE_S (60 * 60)
#define PKI_FILE_MAX (64 * 1024) /* a PEM file larger than this is junk */

/*
 * Record e with the detail "<what>: <OpenSSL's queued errors>" and empty
 * the queue (the first two errors are kept; they say the most).
 */
static o_err ossl_fail(o_err e, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static o_err
ossl_fail(o_err e, const char *fmt, ...)
{
	char          what[300], errs[256] = "";
	size_t        n = 0;
	unsigned long code;
	int           kept = 0;
	va_list       ap;

	va_start(ap, fmt);
	vsnprintf(what, sizeof(what), fmt, ap);
	va_end(ap);
	while ((code = ERR_get_error()) != 0) {
		if (kept++ >= 2 || n + 3 >= sizeof(errs))
			continue;
		if (n > 0) {
			memcpy(errs + n, "; ", 3);
			n += 2;
		}
		ERR_error_string_n(code, errs + n, sizeof(errs) - n);
		n = strlen(errs);
	}
	return o_err_set(
	    e, "%s: %s", what, n > 0 ? errs : "OpenSSL reported no reason");
}

bool
otr_pki_name_valid(const char *name)
{
	size_t i, n = strlen(name);

	if (n < 1 || n > OTR_PKI_NAME_MAX)
		return false;
	for (i = 0; i < n; i++) {
		char c     = name[i];
		bool alnum = (c >= 'a' && c <= 'z') ||
		    (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');

		if (!alnum && (i == 0 || (c != '.' && c != '_' && c != '-')))
			return false;
	}
	return true;
}

o_err
otr_pki_path(const char *dir, const char *name, enum otr_pki_file f, char *out,
    size_t cap)
{
	int n = -1;

	switch (f) {
	case OTR_PKI_CA_CERT:
		n = snprintf(out, cap, "%s/ca.pem", dir);
		break;
	case OTR_PKI_CA_KEY:
		n = snprintf(out, cap, "%s/ca.key", dir);
		break;
	case OTR_PKI_NODE_CERT:
		n = snprintf(out, cap, "%s/nodes/%s/cert.pem", dir, name);
		break;
	case OTR_PKI_NODE_KEY:
		n = snprintf(out, cap, "%s/nodes/%s/key.pem", dir, name);
		break;
	}
	if (n < 0 || (size_t) n >= cap)
		return o_err_set(O_ENAMETOOLONG,
		    "cluster directory %s: path too long", dir);
	return O_OK;
}

/* mkdir path 0700; an existing directory is fine. */
static o_err
make_dir(const char *path)
{
	struct stat st;

	if (mkdir(path, 0700) == 0)
		return O_OK;
	if (errno == EEXIST && stat(path, &st) == 0 && S_ISDIR(st.st_mode))
		return O_OK;
	if (errno == EEXIST)
		errno = ENOTDIR;
	return o_err_set(o_err_from_errno(errno), "create directory %s: %s",
	    path, strerror(errno));
}

/* O_EEXIST naming path if it exists (any kind of file), else O_OK. */
static o_err
refuse_existing(const char *path, const char *what)
{
	struct stat st;

	if (lstat(path, &st) == 0)
		return o_err_set(O_EEXIST,
		    "%s already exists: refusing to overwrite %s", path, what);
	if (errno != ENOENT)
		return o_err_set(
		    o_err_from_errno(errno), "%s: %s", path, strerror(errno));
	return O_OK;
}

/*
 * Write data to a new file at path with mode: temporary file, fsync,
 * link to path (never replacing what is there), fsync the directory.
 */
static o_err
write_new_file(const char *path, const void *data, size_t len, mode_t mode)
{
	char  tmp[PATH_MAX];
	int   fd, err = 0;
	o_err e = O_OK;

	if (snprintf(tmp, sizeof(tmp), "%s.tmp.XXXXXX", path) >=
	    (int) sizeof(tmp))
		return o_err_set(O_ENAMETOOLONG, "%s: path too long", path);
	if ((fd = mkostemp(tmp, O_CLOEXEC)) < 0)
		return o_err_set(o_err_from_errno(errno),
		    "create a temporary file for %s: %s", path,
		    strerror(errno));
	if (fchmod(fd, mode) != 0)
		err = errno;
	if (err == 0)
		err = o_fd_write_all(fd, data, len);
	if (err == 0 && fsync(fd) != 0)
		err = errno;
	if (close(fd) != 0 && err == 0)
		err = errno;
	if (err != 0) {
		e = o_err_set(
		    o_err_from_errno(err), "write %s: %s", tmp, strerror(err));
		goto out_unlink;
	}
	if (link(tmp, path) != 0) {
		err = errno;
		e   = err == EEXIST
		      ? o_err_set(O_EEXIST,
		            "%s already exists: refusing to overwrite it", path)
		      : o_err_set(o_err_from_errno(err), "create %s: %s", path,
		            strerror(err));
		goto out_unlink;
	}
	(void) o_dir_sync_of(path); /* the file is complete either way */
out_unlink:
	unlink(tmp);
	return e;
}

o_err
otr_pki_read_file(const char *path, char **out, size_t *lenp)
{
	struct o_buf b = { 0 };
	o_err        e;

	/* a PEM file larger than PKI_FILE_MAX is junk */
	if ((e = o_file_read(path, PKI_FILE_MAX, &b)) != O_OK) {
		o_buf_fini(&b);
		return e;
	}
	*out = (char *) b.data;
	if (lenp != NULL)
		*lenp = b.len;
	return O_OK;
}

/*
 * Parse the PEM file at path as a certificate (cert != NULL) or a private
 * key (key != NULL); the file's bytes are wiped after parsing.
 */
static o_err
load_pem(const char *path, X509 **cert, EVP_PKEY **key)
{
	char  *pem;
	size_t len;
	BIO   *bio;
	bool   ok = false;
	o_err  e;

	if ((e = otr_pki_read_file(path, &pem, &len)) != O_OK)
		return e;
	if ((bio = BIO_new_mem_buf(pem, (int) len)) != NULL)
		ok = cert != NULL
		    ? (*cert = PEM_read_bio_X509(bio, NULL, NULL, NULL)) !=
		        NULL
		    : (*key = PEM_read_bio_PrivateKey(
		           bio, NULL, NULL, NULL)) != NULL;
	BIO_free(bio);
	OPENSSL_cleanse(pem, len);
	free(pem);
	if (!ok)
		return ossl_fail(O_EBADMSG, "%s: not a PEM %s", path,
		    cert != NULL ? "certificate" : "private key");
	return O_OK;
}

static o_err
load_cert(const char *path, X509 **out)
{
	return load_pem(path, out, NULL);
}

static o_err
load_key(const char *path, EVP_PKEY **out)
{
	return load_pem(path, NULL, out);
}

/* PEM of a certificate or (unencrypted PKCS#8) key, written to path. */
static o_err
write_pem(const char *path, X509 *cert, EVP_PKEY *key, mode_t mode)
{
	BIO  *bio = BIO_new(BIO_s_mem());
	char *p;
	long  n;
	int   ok;
	o_err e;

	if (bio == NULL)
		return ossl_fail(O_ENOMEM, "PEM for %s", path);
	ok = cert != NULL
	    ? PEM_write_bio_X509(bio, cert)
	    : PEM_write_bio_PrivateKey(bio, key, NULL, NULL, 0, NULL, NULL);
	if (!ok || (n = BIO_get_mem_data(bio, &p)) <= 0) {
		e = ossl_fail(O_EINTERNAL, "encode PEM for %s", path);
		goto out_free;
	}
	e = write_new_file(path, p, (size_t) n, mode);
	if (key != NULL)
		OPENSSL_cleanse(p, (size_t) n);
out_free:
	BIO_free(bio);
	return e;
}

static o_err
gen_key(EVP_PKEY **out)
{
	if ((*out = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256")) == NULL)
		return ossl_fail(O_EINTERNAL, "generate an ECDSA P-256 key");
	return O_OK;
}

/* Random positive 128-bit serial with its top bit set (full length). */
static int
set_serial(X509 *x)
{
	unsigned char b[16];
	BIGNUM       *bn;
	int           ok;

	if (RAND_bytes(b, sizeof(b)) != 1)
		return 0;
	b[0] = (unsigned char) ((b[0] & 0x7f) | 0x40);
	if ((bn = BN_bin2bn(b, sizeof(b), NULL)) == NULL)
		return 0;
	ok = BN_to_ASN1_INTEGER(bn, X509_get_serialNumber(x)) != NULL;
	BN_free(bn);
	return ok;
}

static int
add_ext(X509 *x, X509 *issuer, int nid, const char *value)
{
	X509V3_CTX      ctx;
	X509_EXTENSION *ex;
	int             ok;

	X509V3_set_ctx(&ctx, issuer, x, NULL, NULL, 0);
	if ((ex = X509V3_EXT_nconf_nid(NULL, &ctx, nid, value)) == NULL)
		return 0;
	ok = X509_add_ext(x, ex, -1);
	X509_EXTENSION_free(ex);
	return ok;
}

/*
 * A certificate for key with subject CN=cn, issued by issuer (NULL:
 * self-signed) and signed with sign_key.  exts: pairs of (nid, value),
 * terminated by NID_undef.
 */
struct ext {
	int         nid;
	const char *value;
};

static o_err
make_cert(const char *cn, EVP_PKEY *key, X509 *issuer, EVP_PKEY *sign_key,
    const struct ext *exts, X509 **out)
{
	X509      *x = X509_new();
	X509_NAME *subj;
	int        ok;

	ok = x != NULL && X509_set_version(x, X509_VERSION_3) &&
	    set_serial(x) && X509_set_pubkey(x, key) &&
	    (subj = X509_get_subject_name(x)) != NULL &&
	    X509_NAME_add_entry_by_txt(subj, "O", MBSTRING_ASC,
	        (const unsigned char *) "optimfs", -1, -1, 0) &&
	    X509_NAME_add_entry_by_txt(subj, "CN", MBSTRING_ASC,
	        (const unsigned char *) cn, -1, -1, 0) &&
	    X509_set_issuer_name(
	        x, X509_get_subject_name(issuer != NULL ? issuer : x)) &&
	    X509_gmtime_adj(X509_getm_notBefore(x), -PKI_BACKDATE_S) != NULL;
	if (ok && issuer == NULL)
		ok = X509_time_adj_ex(
		         X509_getm_notAfter(x), PKI_CA_DAYS, 0, NULL) != NULL;
	else if (ok)
		ok = X509_set1_notAfter(x, X509_get0_notAfter(issuer));
	for (; ok && exts->nid != NID_undef; exts++)
		ok = add_ext(
		    x, issuer != NULL ? issuer : x, exts->nid, exts->value);
	if (ok)
		ok = X509_sign(x, sign_key, EVP_sha256()) > 0;
	if (!ok) {
		X509_free(x);
		return ossl_fail(
		    O_EINTERNAL, "build the certificate for \"%s\"", cn);
	}
	*out = x;
	return O_OK;
}

/* The certificate and key paths of the CA (name NULL) or of a node. */
static o_err
pair_paths(
    const char *dir, const char *name, char cert[PATH_MAX], char key[PATH_MAX])
{
	o_err e;

	e = otr_pki_path(dir, name,
	    name == NULL ? OTR_PKI_CA_CERT : OTR_PKI_NODE_CERT, cert,
	    PATH_MAX);
	if (e == O_OK)
		e = otr_pki_path(dir, name,
		    name == NULL ? OTR_PKI_CA_KEY : OTR_PKI_NODE_KEY, key,
		    PATH_MAX);
	return e;
}

/*
 * Generate a key and a certificate for cn (self-signed when issuer is
 * NULL) and write them to key_path (0600) and cert_path (0644), neither
 * of which may exist; the key is removed again if the certificate
 * cannot be written.
 */
static o_err
issue(const char *cert_path, const char *key_path, const char *cn,
    X509 *issuer, EVP_PKEY *issuer_key, const struct ext *exts)
{
	EVP_PKEY *key;
	X509     *cert = NULL;
	o_err     e;

	if ((e = refuse_existing(cert_path, "a certificate")) != O_OK ||
	    (e = refuse_existing(key_path, "a private key")) != O_OK)
		return e;
	if ((e = gen_key(&key)) != O_OK)
		return e;
	e = make_cert(
	    cn, key, issuer, issuer != NULL ? issuer_key : key, exts, &cert);
	if (e != O_OK)
		goto out_free_key;
	if ((e = write_pem(key_path, NULL, key, 0600)) == O_OK &&
	    (e = write_pem(cert_path, cert, NULL, 0644)) != O_OK)
		unlink(key_path);
	X509_free(cert);
out_free_key:
	EVP_PKEY_free(key);
	return e;
}

o_err
otr_pki_init(const char *dir)
{
	static const struct ext exts[] = {
		{ NID_basic_constraints, "critical,CA:TRUE,pathlen:0" },
		{ NID_key_usage, "critical,keyCertSign,cRLSign" },
		{ NID_subject_key_identifier, "hash" },
		{ NID_undef, NULL },
	};
	char          cert_path[PATH_MAX], key_path[PATH_MAX], nodes[PATH_MAX];
	char          cn[64], hex[9];
	unsigned char id[4];
	o_err         e;

	if ((e = pair_paths(dir, NULL, cert_path, key_path)) != O_OK ||
	    (e = make_dir(dir)) != O_OK ||
	    (e = o_random(id, sizeof(id))) != O_OK)
		return e;
	snprintf(cn, sizeof(cn), "optimfs cluster CA %s",
	    o_hex(id, sizeof(id), hex));
	if ((e = issue(cert_path, key_path, cn, NULL, NULL, exts)) != O_OK)
		return e;
	snprintf(nodes, sizeof(nodes), "%s/nodes", dir);
	return make_dir(nodes);
}

/* Load dir's CA certificate and key; O_ENOTFOUND says to run init. */
static o_err
load_ca(const char *dir, X509 **cert, EVP_PKEY **key)
{
	char  cert_path[PATH_MAX], key_path[PATH_MAX];
	o_err e;

	if ((e = pair_paths(dir, NULL, cert_path, key_path)) != O_OK)
		return e;
	if ((e = load_cert(cert_path, cert)) != O_OK) {
		if (e == O_ENOTFOUND)
			o_err_wrap(e,
			    "no cluster CA in %s (run 'optimfs init "
			    "%s' first)",
			    dir, dir);
		return e;
	}
	if ((e = load_key(key_path, key)) != O_OK)
		goto out_free_cert;
	if (X509_check_private_key(*cert, *key) != 1) {
		e = ossl_fail(O_EBADMSG, "%s does not belong to %s", key_path,
		    cert_path);
		EVP_PKEY_free(*key);
		goto out_free_cert;
	}
	return O_OK;
out_free_cert:
	X509_free(*cert);
	return e;
}

o_err
otr_pki_node_add(const char *dir, const char *name)
{
	char       cert_path[PATH_MAX], key_path[PATH_MAX], sub[PATH_MAX];
	char       san[3 * OTR_PKI_NAME_MAX];
	struct ext exts[] = {
		{ NID_basic_constraints, "critical,CA:FALSE" },
		{ NID_key_usage, "critical,digitalSignature" },
		{ NID_ext_key_usage, "serverAuth,clientAuth" },
		{ NID_subject_alt_name, san },
		{ NID_subject_key_identifier, "hash" },
		{ NID_authority_key_identifier, "keyid:always" },
		{ NID_undef, NULL },
	};
	EVP_PKEY *ca_key;
	X509     *ca;
	o_err     e;

	if (!otr_pki_name_valid(name))
		return o_err_set(O_EINVAL,
		    "bad node name \"%s\": use 1 to %d characters of "
		    "A-Z a-z 0-9 . _ -, starting with a letter or digit",
		    name, OTR_PKI_NAME_MAX);
	if ((e = pair_paths(dir, name, cert_path, key_path)) != O_OK ||
	    (e = load_ca(dir, &ca, &ca_key)) != O_OK)
		return e;
	snprintf(sub, sizeof(sub), "%s/nodes", dir);
	if ((e = make_dir(sub)) != O_OK)
		goto out_free_ca;
	snprintf(sub, sizeof(sub), "%s/nodes/%s", dir, name);
	if ((e = make_dir(sub)) != O_OK)
		goto out_free_ca;
	snprintf(san, sizeof(san), "DNS:%s,DNS:localhost,IP:127.0.0.1", name);
	e = issue(cert_path, key_path, name, ca, ca_key, exts);
out_free_ca:
	X509_free(ca);
	EVP_PKEY_free(ca_key);
	return e;
}

/* "the CA in PATH", for messages about a local CA file. */
static const char *
ca_name(const char *path, char *buf, size_t cap)
{
	snprintf(buf, cap, "the CA in %s", path);
	return buf;
}

/* X509_verify_cert of cert against ca (ca_name names it in messages) for
 * TLS server and client use. */
static o_err
verify_cert(X509 *ca, X509 *cert, const char *ca_name, const char *path)
{
	static const int purposes[] = { X509_PURPOSE_SSL_SERVER,
		X509_PURPOSE_SSL_CLIENT };
	X509_STORE      *store      = X509_STORE_new();
	X509_STORE_CTX  *ctx        = X509_STORE_CTX_new();
	size_t           i;
	o_err            e = O_OK;

	if (store == NULL || ctx == NULL ||
	    X509_STORE_add_cert(store, ca) != 1) {
		e = ossl_fail(O_ENOMEM, "verify %s", path);
		goto out_free;
	}
	for (i = 0; i < O_NELEM(purposes) && e == O_OK; i++) {
		if (X509_STORE_CTX_init(ctx, store, cert, NULL) != 1 ||
		    X509_STORE_CTX_set_purpose(ctx, purposes[i]) != 1) {
			e = ossl_fail(O_EINTERNAL, "verify %s", path);
			break;
		}
		if (X509_verify_cert(ctx) != 1)
			e = o_err_set(O_EPERM,
			    "%s is not a valid %s certificate of %s: %s", path,
			    i == 0 ? "server" : "client", ca_name,
			    X509_verify_cert_error_string(
			        X509_STORE_CTX_get_error(ctx)));
		X509_STORE_CTX_cleanup(ctx);
	}
	ERR_clear_error();
out_free:
	X509_STORE_CTX_free(ctx);
	X509_STORE_free(store);
	return e;
}

o_err
otr_pki_verify_file(const char *ca_path, const char *cert_path)
{
	X509 *ca, *cert;
	char  lab[PATH_MAX + 16];
	o_err e;

	if ((e = load_cert(ca_path, &ca)) != O_OK)
		return e;
	if ((e = load_cert(cert_path, &cert)) == O_OK) {
		e = verify_cert(
		    ca, cert, ca_name(ca_path, lab, sizeof(lab)), cert_path);
		X509_free(cert);
	}
	X509_free(ca);
	return e;
}

o_err
otr_pki_check(const char *dir, const char *name)
{
	char      ca_path[PATH_MAX], cert_path[PATH_MAX], key_path[PATH_MAX];
	char      lab[PATH_MAX + 16];
	X509     *ca, *cert;
	EVP_PKEY *key;
	o_err     e;

	if (!otr_pki_name_valid(name))
		return o_err_set(O_EINVAL, "bad node name \"%s\"", name);
	if ((e = otr_pki_path(dir, name, OTR_PKI_CA_CERT, ca_path,
	         sizeof(ca_path))) != O_OK ||
	    (e = pair_paths(dir, name, cert_path, key_path)) != O_OK)
		return e;
	if ((e = load_cert(ca_path, &ca)) != O_OK)
		return e;
	if ((e = load_cert(cert_path, &cert)) != O_OK)
		goto out_free_ca;
	if ((e = verify_cert(ca, cert, ca_name(ca_path, lab, sizeof(lab)),
	         cert_path)) != O_OK)
		goto out_free_cert;
	if ((e = load_key(key_path, &key)) != O_OK)
		goto out_free_cert;
	if (X509_check_private_key(cert, key) != 1)
		e = ossl_fail(O_EBADMSG, "%s does not belong to %s", key_path,
		    cert_path);
	EVP_PKEY_free(key);
out_free_cert:
	X509_free(cert);
out_free_ca:
	X509_free(ca);
	return e;
}

/* ---- member cards ------------------------------------------------------ */

#define CARD_TAG "optimfs member 1"
#define CARD_URL_MAX 255

/* The signed bytes: CARD_TAG NUL name NUL url, into msg (>= 512 bytes);
 * their length, or 0 if name or url is too long. */
static size_t
card_msg(const char *name, const char *url, char msg[512])
{
	size_t t = sizeof(CARD_TAG), nl = strlen(name) + 1, ul = strlen(url);

	if (nl > OTR_PKI_NAME_MAX + 1 || ul > CARD_URL_MAX)
		return 0;
	memcpy(msg, CARD_TAG, t);
	memcpy(msg + t, name, nl);
	memcpy(msg + t + nl, url, ul);
	return t + nl + ul;
}

void
otr_pki_card_fini(struct otr_pki_card *c)
{
	free(c->cert);
	free(c->sig);
	memset(c, 0, sizeof(*c));
}

void
otr_pki_card_dup(const struct otr_pki_card *c, struct otr_pki_card *out)
{
	memset(out, 0, sizeof(*out));
	if (c->cert != NULL) {
		out->cert     = o_memdup(c->cert, c->cert_len);
		out->cert_len = c->cert_len;
	}
	if (c->sig != NULL) {
		out->sig     = o_memdup(c->sig, c->sig_len);
		out->sig_len = c->sig_len;
	}
}

o_err
otr_pki_card_make(const char *dir, const char *name, const char *url,
    struct otr_pki_card *out)
{
	char        cert_path[PATH_MAX], key_path[PATH_MAX], msg[512];
	X509       *cert = NULL;
	EVP_PKEY   *key  = NULL;
	EVP_MD_CTX *ctx  = NULL;
	size_t      mlen = card_msg(name, url, msg), slen = 0;
	uint8_t    *p;
	int         dlen;
	o_err       e;

	memset(out, 0, sizeof(*out));
	if (!otr_pki_name_valid(name) || mlen == 0)
		return o_err_set(O_EINVAL,
		    "member card: bad node name \"%s\" "
		    "or URL longer than %d bytes",
		    name, CARD_URL_MAX);
	if ((e = pair_paths(dir, name, cert_path, key_path)) != O_OK ||
	    (e = load_cert(cert_path, &cert)) != O_OK)
		return e;
	if ((e = load_key(key_path, &key)) != O_OK)
		goto out_free;
	if ((dlen = i2d_X509(cert, NULL)) <= 0) {
		e = ossl_fail(O_EINTERNAL, "DER of %s", cert_path);
		goto out_free;
	}
	out->cert     = o_malloc((size_t) dlen);
	out->cert_len = (size_t) dlen;
	p             = out->cert;
	if (i2d_X509(cert, &p) != dlen || (ctx = EVP_MD_CTX_new()) == NULL ||
	    EVP_DigestSignInit(ctx, NULL, EVP_sha256(), NULL, key) != 1 ||
	    EVP_DigestSign(ctx, NULL, &slen, (const uint8_t *) msg, mlen) !=
	        1) {
		e = ossl_fail(O_EINTERNAL, "sign the member card of %s", name);
		goto out_free;
	}
	out->sig = o_malloc(slen);
	if (EVP_DigestSign(
	        ctx, out->sig, &slen, (const uint8_t *) msg, mlen) != 1) {
		e = ossl_fail(O_EINTERNAL, "sign the member card of %s", name);
		goto out_free;
	}
	out->sig_len = slen;
out_free:
	EVP_MD_CTX_free(ctx);
	EVP_PKEY_free(key);
	X509_free(cert);
	if (e != O_OK)
		otr_pki_card_fini(out);
	return e;
}

struct otr_pki_ca {
	X509 *x;
	char  path[PATH_MAX];
};

o_err
otr_pki_ca_load(const char *dir, struct otr_pki_ca **out)
{
	struct otr_pki_ca *ca = o_calloc(1, sizeof(*ca));
	o_err              e;

	*out = NULL;
	if ((e = otr_pki_path(dir, NULL, OTR_PKI_CA_CERT, ca->path,
	         sizeof(ca->path))) != O_OK ||
	    (e = load_cert(ca->path, &ca->x)) != O_OK) {
		free(ca);
		return e;
	}
	*out = ca;
	return O_OK;
}

void
otr_pki_ca_free(struct otr_pki_ca *ca)
{
	if (ca == NULL)
		return;
	X509_free(ca->x);
	free(ca);
}

o_err
otr_pki_card_check(const struct otr_pki_ca *ca, const char *name,
    const char *url, const struct otr_pki_card *c)
{
	char           msg[512], what[400], cn[OTR_PKI_NAME_MAX + 2];
	const uint8_t *p    = c->cert;
	size_t         mlen = card_msg(name, url, msg);
	X509          *cert = NULL;
	EVP_MD_CTX    *ctx  = NULL;
	int            cnl, rv;
	o_err          e;

	if (!otr_pki_name_valid(name) || mlen == 0)
		return o_err_set(O_EINVAL,
		    "member card: bad node name \"%s\" "
		    "or URL longer than %d bytes",
		    name, CARD_URL_MAX);
	if (c->cert == NULL || c->sig == NULL || c->cert_len > PKI_FILE_MAX)
		return o_err_set(O_EPERM,
		    "member %s at %s: no signed card (certificate and "
		    "signature)",
		    name, url);
	cert = d2i_X509(NULL, &p, (long) c->cert_len);
	if (cert == NULL || p != c->cert + c->cert_len) {
		e = ossl_fail(O_EBADMSG,
		    "member %s at %s: its certificate does not parse", name,
		    url);
		goto out_free;
	}
	snprintf(what, sizeof(what), "the certificate of member %s at %s",
	    name, url);
	/* the detail goes back to the sender: no local path in it */
	if ((e = verify_cert(ca->x, cert, "the cluster CA", what)) != O_OK)
		goto out_free;
	cnl = X509_NAME_get_text_by_NID(
	    X509_get_subject_name(cert), NID_commonName, cn, sizeof(cn));
	if (cnl < 0 || (size_t) cnl != strlen(name) ||
	    memcmp(cn, name, (size_t) cnl) != 0) {
		ERR_clear_error();
		e = o_err_set(O_EPERM,
		    "member %s at %s: the certificate is %s's, not its own",
		    name, url, cnl < 0 ? "nobody" : cn);
		goto out_free;
	}
	if ((ctx = EVP_MD_CTX_new()) == NULL ||
	    EVP_DigestVerifyInit(
	        ctx, NULL, EVP_sha256(), NULL, X509_get0_pubkey(cert)) != 1) {
		e = ossl_fail(
		    O_EINTERNAL, "check the card of member %s", name);
		goto out_free;
	}
	rv = EVP_DigestVerify(
	    ctx, c->sig, c->sig_len, (const uint8_t *) msg, mlen);
	ERR_clear_error();
	if (rv != 1)
		e = o_err_set(O_EPERM,
		    "member %s at %s: the signature is not %s's for that URL",
		    name, url, name);
out_free:
	EVP_MD_CTX_free(ctx);
	X509_free(cert);
	return e;
}
