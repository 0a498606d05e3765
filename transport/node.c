/*
 * node.c - a cluster node: membership, the peer server, the change feed
 * and the network transactor (node.h; docs/PROTOCOL.md).
 */
#include "transport/node.h"

#include <arpa/inet.h>
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <nng/nng.h>
#include <nng/protocol/pubsub0/pub.h>
#include <nng/protocol/pubsub0/sub.h>

#include "core/block.h"
#include "core/codec.h"
#include "core/transform.h"
#include "transport/link.h"
#include "transport/pki.h"
#include "transport/tls.h"
#include "transport/wire.h"

enum {
	MAX_MEMBERS  = 64,
	NWORKERS     = 4,
	PEND_TTL_MS  = 10000,  /* pendings the network transactor asks for */
	COMMIT_GUARD = 2000,   /* no commit sent this close to the expiry */
	NEXP         = 512,    /* remembered pend expiries */
	NSLOTS       = 4,      /* messages in flight to one member */
	SLOT_PATIENCE_MS = 20, /* before a second one goes (bq_fill) */
	BATCH_BYTES      = 1 << 20, /* requests packed into one message */
	CALL_GRACE   = 2000, /* ms past a deadline a caller waits for a link */
	GRACE_MIN_MS = 3,  /* for the rest of a read, once a quorum answered */
	GRACE_TIMES  = 2,  /* ... or this many times what the quorum took */
	FEED_GAP_MS  = 10, /* between feed messages (commits coalesce) */
	REPAIR_LOG_MS = 10000, /* between failed repairs logged, per member */
	FEED_MAX      = 1024,  /* collections queued for the feed */
	FEED_PER_MSG  = 64,    /* (col, rev) pairs per feed message */
	FEED_QUEUE    = 1024,  /* feed messages queued per subscriber */
	NOTIFY_MAX    = 64 * 1024, /* changes queued for the mount */
	NOTIFY_DELAY_MS = 5,       /* from a change noted to the mount told */
};

struct bcall;
struct bslot;
struct member;
static void slots_make(struct member *m);
static void slots_drain(struct member *m);

struct member {
	char               name[64], url[256], feed[256];
	bool               self;
	struct otr_pki_card card; /* its signed claim (none when insecure) */
	struct otr_link     *link; /* requests to it (none for this node) */
	nng_tls_config      *tls;
	atomic_uint_fast64_t fails, calls, sent;
	atomic_uint_fast64_t left; /* calls not waited for (a quorum was in) */
	/* of those, left at once: it was silent */
	atomic_uint_fast64_t skipped;
	/* when the first and the second message sent to it since its last
	 * answer went (0: not yet), and the bytes of those two; silent once
	 * the second went silent_ms ago, plus time for the bytes
	 * (member_silent_at) */
	atomic_int_fast64_t silent_since, silent_next, silent_bytes;
	int64_t             silent_ms;
	int64_t             hung_ms; /* silent this long more: hung */
	/* failed repairs on it: when one was last logged, and how many
	 * were not logged since (repair_note) */
	atomic_int_fast64_t  repair_logged_ms;
	atomic_uint_fast64_t repair_quiet;
	/* requests waiting for a slot, and the messages in flight (see
	 * "requests to members" below) */
	pthread_mutex_t    bmtx;
	struct bcall      *qh, *qt;
	struct bslot      *slots[NSLOTS]; /* shared, for batches */
	struct bslot      *tslots;        /* transient, one solo request */
	int64_t            patience_ms; /* before a second message (bq_fill) */
};

struct otr_node {
	struct oc_transactor base; /* first: the transactor's address */
	struct otr_node_conf conf;
	char                 name[64], url[256], feed[256];
	char                *certs;
	char                *members_path; /* conf.members_path's copy */
	struct otr_pki_card  card; /* this node's (member cards) */
	struct otr_pki_ca   *ca;   /* to check others' cards */
	int64_t              timeout_ms;
	int                  replicas;

	pthread_mutex_t mtx; /* members (the array only grows) */
	struct member  *m[MAX_MEMBERS];
	size_t          nm;
	pthread_mutex_t kmtx; /* members_keep */
	size_t          kept; /* kmtx: members in conf.members_path */
	int64_t         keep_retry; /* kmtx: no write before (mono ms) */

	struct otr_link_server *srv; /* the peer server */
	nng_socket              pub, sub;
	nng_tls_config *srv_tls, *join_tls;
	pthread_t               gossip, feedt;
	atomic_bool     stop;
	bool            started_threads;

	pthread_mutex_t fmtx; /* commits to publish (otr_node_publish) */
	pthread_cond_t  fcv;
	struct feed_ent {
		struct oc_bid col;
		int64_t       rev;
	} fq[FEED_MAX];
	size_t    nfq;
	bool      fstop, pub_started;
	pthread_t pubt;
	atomic_long feed_msgs; /* feed messages sent */

	/* changes to tell this node's own mount (conf.on_change), one
	 * thread calling it: another node's commit published on the feed,
	 * or a commit this replica made for another node's writer */
	pthread_mutex_t  lmtx;
	pthread_cond_t   lcv;
	struct feed_ent *lq;
	size_t           nlq, lcap;
	int64_t          lfirst; /* when the first of them was noted */
	bool             lstop, notifier_started;
	pthread_t        notifiert;

	pthread_mutex_t emtx; /* pend expiries by action and block */
	struct {
		struct oc_aid aid;
		struct oc_bid first; /* the pend's first block */
		int64_t       exp;   /* o_mono_ms's clock */
		uint64_t      skip; /* members the commit must not go to */
	} exps[NEXP];
	size_t nexp;

	/* test-only (OPTIMFS_TEST_DIE_AFTER_PEND, PROTOCOL.md): the
	 * die_after-th net_commit exits before sending anything */
	long        die_after;
	atomic_long ncommits;
	char served[PATH_MAX]; /* CERTS/nodes/NAME/served (served_check) */
	/* to be written by otr_node_served, or by gossip once another
	 * member is known (a storage peer has no namespace to wait for) */
	atomic_bool served_due;
};

/* tls+tcp://host:port -> the feed URL, port + 1. */
static o_err
feed_url(const char *url, char *out, size_t cap)
{
	const char *c = strrchr(url, ':');
	char       *end;
	long        port;

	if (c == NULL || (port = strtol(c + 1, &end, 10)) <= 0 ||
	    port >= 65535 || *end != '\0')
		return o_err_set(O_EINVAL, "URL %s: no port", url);
	snprintf(out, cap, "%.*s:%ld", (int) (c - url), url, port + 1);
	return O_OK;
}

static o_err
nfail(int rv, const char *what, const char *arg)
{
	return o_err_set(otr_err_from_nng(rv), "%s %s: %s", what, arg,
	    nng_strerror(rv));
}

/* ---- members ---------------------------------------------------------- */

/* Whether m has an open connection (this node always has). */
static bool
member_up(struct member *m)
{
	return m->self || otr_link_up(m->link, NULL, 0);
}

/*
 * When m, though connected, is silent (INT64_MAX: not on its way to it):
 * once it answered nothing since two messages went to it, the second
 * silent_ms (the write grace) before, plus the time the bytes of those two
 * may take (as otr_call_deadline gives a large request: one connection
 * carries them in turn, so the second's answer waits for both to be read;
 * what went after the second delays nothing counted here).  Hung,
 * stopped, or cut off without its connection closing.  Two, not one: a
 * replica slow with one request (a commit held a second) still answers
 * the next at once, and is waited for.  Callers do not wait for a silent
 * member once a quorum is in (calls_wait).  Any answer ends it.
 */
static int64_t
member_silent_at(struct member *m)
{
	int64_t next = atomic_load(&m->silent_next);

	/* silent_ms 0: a member of one call (join_one's), never silent */
	if (m->silent_ms == 0 || next == 0)
		return INT64_MAX;
	return next + m->silent_ms + (atomic_load(&m->silent_bytes) >> 13);
}

/* Whether m is silent at now. */
static bool
member_silent(struct member *m, int64_t now)
{
	return now >= member_silent_at(m);
}

/*
 * When m, silent, counts as hung (INT64_MAX: not on its way to it): once
 * its silence lasted a whole deadline (hung_ms, the node's timeout), no
 * call waits for it any more, quorum or not, until it answers again (its
 * requests still go, and its first answer ends the silence).  Before, with
 * two replicas of three stopped (SIGSTOP, their connections open), every
 * read and pend waited its whole deadline for them, and one append, made
 * of several such calls, failed after 10-15 s, each later one too (s37
 * finding 8).  The first calls after they stop still wait out their
 * deadline: the failure comes "after the timeout", as for a member down.
 */
static int64_t
member_hung_at(const struct member *m, int64_t silent_at)
{
	return silent_at == INT64_MAX ? INT64_MAX : silent_at + m->hung_ms;
}

/* m answered (bmtx held): its silence, if any, is over. */
static void
member_heard(struct member *m)
{
	atomic_store(&m->silent_since, 0);
	atomic_store(&m->silent_next, 0);
	atomic_store(&m->silent_bytes, 0);
}

/*
 * m answered a request its caller had given up (otr_link_on_late, on the
 * link's thread): a member that was hung and resumes answers what it
 * held first, all of it late, and is heard again from its first answer,
 * not only once a request sent after it resumed is answered.
 */
static void
member_heard_late(void *arg)
{
	struct member *m = arg;

	pthread_mutex_lock(&m->bmtx);
	member_heard(m);
	pthread_mutex_unlock(&m->bmtx);
}

/* A message of len bytes to m goes now (bmtx held): the first or the
 * second since its last answer is noted, with its bytes
 * (member_silent_at). */
static void
member_sent(struct member *m, int64_t now, size_t len)
{
	if (atomic_load(&m->silent_since) == 0)
		atomic_store(&m->silent_since, now);
	else if (atomic_load(&m->silent_next) == 0)
		atomic_store(&m->silent_next, now);
	else
		return;
	atomic_fetch_add(&m->silent_bytes, (int64_t) len);
}

/* m's link to url, checking the server's certificate names name (NULL:
 * "localhost", a node not known yet). */
static o_err
dial_link(
    struct otr_node *n, const char *url, const char *name, struct member *m)
{
	o_err e;

	m->tls = NULL;
	if (!n->conf.insecure &&
	    (e = otr_tls_config_alloc(
	         n->certs, n->name, OTR_TLS_CLIENT, name, &m->tls)) != O_OK)
		return e;
	if ((e = otr_link_open(url, m->tls, n->conf.insecure, OTR_MSG_MAX,
	         m->name, &m->link)) != O_OK) {
		if (m->tls != NULL)
			nng_tls_config_free(m->tls);
		m->tls = NULL;
		return e;
	}
	return O_OK;
}

/* A name is one node's: member name, known at had, offered at url. */
static o_err
name_elsewhere(const char *name, const char *had, const char *url)
{
	return o_err_set(O_EPERM,
	    "member %s is at %s, not %s: a name is one node's (restart it "
	    "with its first --listen, or remove DATA/members on every node "
	    "to move it)",
	    name, had, url);
}

/* Add a member (mtx held) with a copy of its card (NULL: none, insecure
 * clusters only; checked by the caller).  Known names are kept as they
 * are (O_OK), at their URL (another: O_EPERM, name_elsewhere).  A member that
 * cannot be added (the list full, a name or URL too long, no socket for it) is
 * an error with a detail naming it; the caller reports it. */
static o_err
member_add(struct otr_node *n, const char *name, const char *url,
    const struct otr_pki_card *card)
{
	struct member *m;
	size_t         i;
	o_err          e;

	for (i = 0; i < n->nm; i++)
		if (strcmp(n->m[i]->name, name) == 0)
			return strcmp(n->m[i]->url, url) == 0
			    ? O_OK
			    : name_elsewhere(name, n->m[i]->url, url);
	if (n->nm == MAX_MEMBERS)
		return o_err_set(O_EBUSY,
		    "member %s at %s: the list is full (%d members)", name,
		    url, MAX_MEMBERS);
	if (strlen(name) >= sizeof(m->name) || strlen(url) >= sizeof(m->url))
		return o_err_set(O_EINVAL,
		    "member %s at %s: name or URL too long", name, url);
	m = o_calloc(1, sizeof(*m));
	/* at most half the write grace (a twentieth of the deadline), so a
	 * request held back still goes before its caller leaves it */
	m->patience_ms = O_MIN(SLOT_PATIENCE_MS, O_MAX(n->timeout_ms / 40, 1));
	m->silent_ms   = O_MAX(n->timeout_ms / 20, 1); /* WRITE_GRACE */
	m->hung_ms     = O_MAX(n->timeout_ms, 1);
	snprintf(m->name, sizeof(m->name), "%s", name);
	snprintf(m->url, sizeof(m->url), "%s", url);
	if ((e = feed_url(url, m->feed, sizeof(m->feed))) != O_OK) {
		free(m);
		return o_err_set(e, "member %s: %s", name, o_err_detail());
	}
	m->self = strcmp(name, n->name) == 0;
	if (card != NULL)
		otr_pki_card_dup(card, &m->card);
	if (!m->self) {
		if ((e = dial_link(n, url, name, m)) != O_OK) {
			otr_pki_card_fini(&m->card);
			free(m);
			return o_err_set(
			    e, "member %s: %s", name, o_err_detail());
		}
		slots_make(m);
		if (nng_socket_id(n->sub) > 0 &&
		    otr_tls_dial(n->sub, m->feed, m->tls, n->conf.insecure,
		        NNG_FLAG_NONBLOCK, NULL) != O_OK)
			o_log(O_LOG_WARN, "member %s: feed %s: %s", name,
			    m->feed, o_err_detail());
		if (n->kept == SIZE_MAX) /* members_load: maybe down now */
			o_log(O_LOG_INFO, "member %s at %s (kept)", name, url);
		else
			o_log(O_LOG_INFO, "member %s joined at %s", name, url);
	}
	n->m[n->nm++] = m;
	return O_OK;
}

/* Snapshot of the members (pointers stay valid until stop). */
static size_t
members(struct otr_node *n, struct member **out)
{
	size_t k;

	pthread_mutex_lock(&n->mtx);
	k = n->nm;
	memcpy(out, n->m, k * sizeof(*out));
	pthread_mutex_unlock(&n->mtx);
	return k;
}

/* Whether name is in known (an array of texts; NULL: empty). */
static bool
name_listed(const struct oc_val *known, const char *name)
{
	size_t i;

	for (i = 0; known != NULL && i < oc_arr_len(known); i++) {
		const struct oc_val *v = oc_arr_at(known, i);

		if (v->type == OC_TEXT &&
		    strcmp((const char *) v->u.s.p, name) == 0)
			return true;
	}
	return false;
}

/* The members not named in known (an array of names, or NULL), each as
 * [name, url] or, with a card, [name, url, cert, sig]. */
static struct oc_val
members_val(struct otr_node *n, const struct oc_val *known)
{
	struct member *ms[MAX_MEMBERS];
	struct oc_val  a = oc_array();
	size_t         k = members(n, ms), i;

	if (known != NULL && known->type != OC_ARRAY)
		known = NULL;
	for (i = 0; i < k; i++) {
		struct oc_val p;

		if (name_listed(known, ms[i]->name))
			continue;
		p = oc_array();
		oc_arr_push(&p, oc_text(ms[i]->name));
		oc_arr_push(&p, oc_text(ms[i]->url));
		if (ms[i]->card.cert != NULL) {
			oc_arr_push(&p,
			    oc_bytes(ms[i]->card.cert, ms[i]->card.cert_len));
			oc_arr_push(&p,
			    oc_bytes(ms[i]->card.sig, ms[i]->card.sig_len));
		}
		oc_arr_push(&a, p);
	}
	return a;
}

/* The names of the members. */
static struct oc_val
members_names(struct otr_node *n)
{
	struct member *ms[MAX_MEMBERS];
	struct oc_val  a = oc_array();
	size_t         k = members(n, ms), i;

	for (i = 0; i < k; i++)
		oc_arr_push(&a, oc_text(ms[i]->name));
	return a;
}

/* Whether the list has room for another member; *known: name is one,
 * at the URL copied to had (cap bytes). */
static bool
member_room(
    struct otr_node *n, const char *name, bool *known, char *had, size_t cap)
{
	size_t i;
	bool   room;

	*known = false;
	pthread_mutex_lock(&n->mtx);
	for (i = 0; i < n->nm && !*known; i++)
		if (strcmp(n->m[i]->name, name) == 0) {
			*known = true;
			snprintf(had, cap, "%s", n->m[i]->url);
		}
	room = n->nm < MAX_MEMBERS;
	pthread_mutex_unlock(&n->mtx);
	return room;
}

/* After a failed write of the member list, the next is tried no sooner. */
#define KEEP_RETRY_MS 10000

/*
 * Write the member list to conf.members_path if it grew since the last
 * write: {v: 1, self: this node's name, m: [entries as members_val]}.  A
 * failed write is logged and tried again at the first call KEEP_RETRY_MS
 * later (the gossip thread's rounds call it); the list is meanwhile only
 * in memory.  Called from a server worker's hello_answer too: it writes
 * (and syncs) only when the list grew, so a steady cluster writes nothing.
 */
static void
members_keep(struct otr_node *n)
{
	struct oc_val v;
	struct o_buf  b = { 0 };
	size_t        k;

	if (n->conf.members_path == NULL)
		return;
	pthread_mutex_lock(&n->kmtx);
	pthread_mutex_lock(&n->mtx);
	k = n->nm;
	pthread_mutex_unlock(&n->mtx);
	if (k > n->kept && o_mono_ms() >= n->keep_retry) {
		v = oc_map();
		oc_map_set(&v, "v", oc_int(1));
		oc_map_set(&v, "self", oc_text(n->conf.name));
		oc_map_set(&v, "m", members_val(n, NULL));
		oc_encode(&v, &b);
		oc_val_fini(&v);
		if (o_file_replace(n->conf.members_path, b.data, b.len) ==
		    O_OK) {
			n->kept = k;
		} else {
			/* not at every hello and gossip round (twice a
			 * second a member), nor logged so */
			n->keep_retry = o_mono_ms() + KEEP_RETRY_MS;
			o_log(O_LOG_WARN,
			    "the member list is not kept (a restart will "
			    "know only the members it joins; tried again in "
			    "%d s): %s",
			    KEEP_RETRY_MS / 1000, o_err_detail());
		}
		o_buf_fini(&b);
	}
	pthread_mutex_unlock(&n->kmtx);
}

/*
 * Add the member named name at url, unless known, if its card holds
 * (cert and sig: its fields, either NULL).  In a TLS cluster a member
 * without a card, or with one that does not check against the cluster's
 * CA (otr_pki_card_check), is refused: the error is returned with its
 * detail (the caller logs it).  The name is looked up first, so a known
 * member at its URL costs no check, and a full list refuses before
 * checking (O_EBUSY); the card is checked outside the member lock.  A
 * known name at another URL is refused (O_EPERM): a second node started
 * under a member's name (its certificate copied) would otherwise vote
 * as that member from another store, and two quorums need not meet.
 */
static o_err
member_offer(struct otr_node *n, const char *name, const char *url,
    const struct oc_val *cert, const struct oc_val *sig)
{
	struct otr_pki_card c = { 0 };
	char                had[256];
	bool                known;
	o_err               e;
	bool room = member_room(n, name, &known, had, sizeof(had));

	if (known && strcmp(had, url) == 0)
		return O_OK;
	if (known) /* checked again by member_add, under the lock */
		return name_elsewhere(name, had, url);
	/* a full list refuses in member_add, without a check first */
	if (room && !n->conf.insecure) {
		if (cert != NULL && cert->type == OC_BYTES && sig != NULL &&
		    sig->type == OC_BYTES) {
			c.cert     = cert->u.s.p;
			c.cert_len = cert->u.s.n;
			c.sig      = sig->u.s.p;
			c.sig_len  = sig->u.s.n;
		}
		if ((e = otr_pki_card_check(n->ca, name, url, &c)) != O_OK)
			return e;
	}
	pthread_mutex_lock(&n->mtx);
	e = member_add(n, name, url, n->conf.insecure ? NULL : &c);
	pthread_mutex_unlock(&n->mtx);
	return e;
}

/*
 * Merge a member list ([name, url] or, with TLS, [name, url, cert, sig]
 * entries) that the member at from answered.  A list longer than any
 * cluster may be is ignored whole; refused entries are logged in one line
 * (their number and the first one's reason).  Returns how many entries
 * were refused.
 */
static size_t
members_merge(struct otr_node *n, const struct oc_val *a, const char *from)
{
	char   first[512] = "";
	size_t i, bad = 0, len;

	if (a == NULL || a->type != OC_ARRAY)
		return 0;
	if ((len = oc_arr_len(a)) > MAX_MEMBERS) {
		o_log(O_LOG_WARN,
		    "the member list from %s (%zu entries, more than %d) "
		    "ignored",
		    from, len, MAX_MEMBERS);
		return len;
	}
	for (i = 0; i < len; i++) {
		const struct oc_val *p = oc_arr_at(a, i);
		size_t k = p->type == OC_ARRAY ? oc_arr_len(p) : 0;
		o_err                e = O_EBADMSG;

		if ((k == 2 || k == 4) && oc_arr_at(p, 0)->type == OC_TEXT &&
		    oc_arr_at(p, 1)->type == OC_TEXT)
			e = member_offer(n,
			    (const char *) oc_arr_at(p, 0)->u.s.p,
			    (const char *) oc_arr_at(p, 1)->u.s.p,
			    k == 4 ? oc_arr_at(p, 2) : NULL,
			    k == 4 ? oc_arr_at(p, 3) : NULL);
		else
			(void) o_err_set(
			    e, "an entry is not [name, url, ...]");
		if (e != O_OK && bad++ == 0)
			snprintf(first, sizeof(first), "%s", o_err_detail());
	}
	if (bad > 0)
		o_log(O_LOG_WARN,
		    "%zu of %zu members from %s refused; the first: %s", bad,
		    len, from, first);
	members_keep(n); /* once for the list (not while loading it) */
	return bad;
}

/* The URL of the entry for name in a member list (members_val's
 * entries), or NULL. */
static const char *
kept_url(const struct oc_val *m, const char *name)
{
	size_t i;

	for (i = 0; i < oc_arr_len(m); i++) {
		const struct oc_val *p = oc_arr_at(m, i);

		if (p->type == OC_ARRAY && oc_arr_len(p) >= 2 &&
		    oc_arr_at(p, 0)->type == OC_TEXT &&
		    oc_arr_at(p, 1)->type == OC_TEXT &&
		    strcmp((const char *) oc_arr_at(p, 0)->u.s.p, name) == 0)
			return (const char *) oc_arr_at(p, 1)->u.s.p;
	}
	return NULL;
}

/* A member list of MAX_MEMBERS entries with cards takes well under this. */
#define MEMBERS_FILE_MAX (1 << 20)

/*
 * Learn the members kept in conf.members_path by an earlier run (none
 * when there is no such file).  A file that is not such a list fails the
 * start, naming it: starting without its members could place blocks on
 * too few nodes and commit on them alone.  Entries refused (their cards
 * no longer check) are logged by members_merge.
 */
static o_err
members_load(struct otr_node *n)
{
	const char          *path = n->conf.members_path;
	const struct oc_val *m, *self;
	const char          *was;
	struct oc_val        v = oc_null();
	struct o_buf         b   = { 0 };
	int64_t              ver = 0;
	o_err                e = O_OK;

	if (path == NULL)
		return O_OK;
	if ((e = o_file_read(path, MEMBERS_FILE_MAX, &b)) != O_OK) {
		o_buf_fini(&b);
		if (e == O_ENOTFOUND) /* none kept yet */
			return O_OK;
		if (e == O_ETOOBIG)
			(void) o_err_set(e,
			    "%s is larger than a member list can be (over %d "
			    "bytes); remove it to start with only the members "
			    "--join finds",
			    path, MEMBERS_FILE_MAX);
		return e;
	}
	if (oc_decode(b.data, b.len, &v) != O_OK || v.type != OC_MAP ||
	    otr_get_int(&v, "v", &ver) != O_OK || ver != 1 ||
	    (m = oc_map_get(&v, "m")) == NULL || m->type != OC_ARRAY ||
	    oc_arr_len(m) > MAX_MEMBERS ||
	    ((self = oc_map_get(&v, "self")) != NULL && self->type != OC_TEXT))
		e = o_err_set(O_ECORRUPT,
		    "%s is not this node's member list (version 1, at most %d "
		    "members); remove it to start with only the members "
		    "--join finds",
		    path, MAX_MEMBERS);
	else if (self != NULL &&
	    strcmp((const char *) self->u.s.p, n->conf.name) != 0)
		/* a data directory copied, or started under another name:
		 * its list names the old self as a peer */
		e = o_err_set(O_EINVAL,
		    "%s is node %s's member list, and this node is %s: a data "
		    "directory belongs to one node (start %s on it, or remove "
		    "the file to start %s with only the members --join finds)",
		    path, (const char *) self->u.s.p, n->conf.name,
		    (const char *) self->u.s.p, n->conf.name);
	else if ((was = kept_url(m, n->name)) != NULL &&
	    strcmp(was, n->url) != 0)
		/* every member knows this node at was and refuses its name
		 * elsewhere (name_elsewhere): not a start to go on with */
		e = o_err_set(O_EINVAL,
		    "%s: node %s was at %s and now listens at %s; its members "
		    "know it at %s and refuse it elsewhere (start it with "
		    "--listen %s, or remove DATA/members on every node to "
		    "move it)",
		    path, n->name, was, n->url, was, was);
	else {
		size_t bad;

		n->kept = SIZE_MAX; /* not written again while read */
		bad     = members_merge(n, m, path);
		pthread_mutex_lock(&n->kmtx);
		pthread_mutex_lock(&n->mtx);
		n->kept = n->nm; /* what the file holds, less the refused */
		pthread_mutex_unlock(&n->mtx);
		pthread_mutex_unlock(&n->kmtx);
		if (bad > 0 && n->nm == 1)
			o_log(O_LOG_ERROR,
			    "every member kept in %s but this node was "
			    "refused: it starts knowing only the members "
			    "--join finds",
			    path);
	}
	oc_val_fini(&v);
	o_buf_fini(&b);
	return e;
}

/*
 * A node alone (no member kept, none joined) over an empty store founds a
 * new cluster: right at its first start, and wrong later, when its data
 * directory was lost or emptied (the cluster's data is on the others).
 * CERTS/nodes/NAME/served tells the two apart: written once the node
 * serves in a cluster that holds data (at its start when it joined or
 * its store holds blocks; a node founding a cluster when its user made
 * the namespace, otr_node_served), it refuses the second case and says
 * how to rejoin.  Without certificates (insecure) nothing is checked.
 * Called after the joins; *write: the file is missing, to be written
 * (served_mark) at the start's end.
 */
static o_err
served_check(
    struct otr_node *n, bool joined, char *path, size_t cap, bool *write)
{
	struct o_buf b = { 0 };
	size_t       k;
	o_err        e;

	*write = false;
	if (n->certs == NULL)
		return O_OK;
	if ((size_t) snprintf(
	        path, cap, "%s/nodes/%s/served", n->certs, n->name) >= cap)
		return o_err_set(O_ENAMETOOLONG,
		    "cluster directory %s: path too long", n->certs);
	snprintf(n->served, sizeof(n->served), "%s", path);
	e = o_file_read(path, 4096, &b);
	o_buf_fini(&b);
	pthread_mutex_lock(&n->mtx);
	k = n->nm;
	pthread_mutex_unlock(&n->mtx);
	if (e == O_ENOTFOUND) {
		/* founding (alone, no data): once the namespace exists */
		*write        = joined || k > 1 || !n->conf.empty_store;
		n->served_due = !*write;
		return O_OK;
	}
	if (e != O_OK)
		return o_err_wrap(e, "reading %s", path);
	if (joined || k > 1 || !n->conf.empty_store)
		return O_OK;
	return o_err_set(O_EINVAL,
	    "node %s has served in a cluster before (%s), but its data "
	    "directory holds no data and no member list, and it joins no "
	    "one: started alone it would found a second, empty namespace "
	    "and acknowledge writes the cluster never sees.  Start it with "
	    "--join URL of a running member to rejoin (it catches up from "
	    "the others), or remove %s to found a new cluster",
	    n->name, path, path);
}

/* Write the served file of served_check (a failure is only logged). */
static void
served_mark(struct otr_node *n, const char *path)
{
	char   text[512];
	time_t now = time(NULL);
	int    len;

	len = snprintf(text, sizeof(text),
	    "node %s first served at %s, since %lld (Unix time)\n", n->name,
	    n->url, (long long) now);
	if (o_file_replace(path, text, (size_t) len) != O_OK)
		o_log(O_LOG_WARN,
		    "cannot write %s (a later start of %s over an emptied "
		    "data "
		    "directory will not be refused): %s",
		    path, n->name, o_err_detail());
}

void
otr_node_served(struct otr_node *n)
{
	if (n != NULL && atomic_exchange(&n->served_due, false))
		served_mark(n, n->served);
}

uint64_t
otr_place_score(const char *name, const struct oc_bid *id)
{
	uint8_t  h[32];
	uint64_t v = 0;
	int      i;

	o_sha256_2(name, strlen(name), id->b, OC_BID_LEN, h);
	/* little-endian on every host: what memcpy gave on x86, where
	 * placements were first computed */
	for (i = 7; i >= 0; i--)
		v = v << 8 | h[i];
	return v;
}

/* Rendezvous placement: the r members with the highest
 * SHA-256(name || id), best first.  Returns r. */
static size_t
place(struct member *const *ms, size_t k, int replicas,
    const struct oc_bid *id, size_t *out)
{
	uint64_t score[MAX_MEMBERS];
	size_t   r = O_MIN((size_t) replicas, k), i, j;

	for (i = 0; i < k; i++)
		score[i] = otr_place_score(ms[i]->name, id);
	for (j = 0; j < r; j++) {
		size_t best = SIZE_MAX;

		for (i = 0; i < k; i++) {
			size_t q;
			bool   taken = false;

			for (q = 0; q < j; q++)
				taken = taken || out[q] == i;
			if (!taken && (best == SIZE_MAX || score[i] > score[best]))
				best = i;
		}
		out[j] = best;
	}
	return r;
}

/* ---- calls ------------------------------------------------------------ */

struct call {
	struct member *m;
	struct oc_val  op; /* the request (NULL type: none) */
	bool           had_op; /* an op was given (op is moved when sent) */
	int64_t        deadline; /* otr_call_deadline */
	struct bcall  *bc;       /* on its way to the member */
	bool           left;     /* not waited for: a quorum answered first */
	bool           unsent;   /* failed before it left: never delivered */
	o_err          e;   /* transport / envelope outcome */
	o_err          ae;  /* the answer's code */
	struct oc_val  ans; /* the answer map */
	char           detail[200];
};

static void
call_fail(struct call *c, o_err e, const char *why)
{
	c->e = e;
	snprintf(c->detail, sizeof(c->detail), "member %s (%s): %s",
	    c->m->name, c->m->url, why);
	atomic_fetch_add(&c->m->fails, 1);
}

static void
call_answer(struct call *c, const uint8_t *p, size_t len)
{
	o_err e = otr_wire_parse_answer(
	    p, len, &c->ans, &c->ae, c->detail, sizeof(c->detail));

	if (e != O_OK)
		call_fail(c, O_EBADMSG, o_err_detail());
	else
		c->e = O_OK;
}

int64_t
otr_call_deadline(bool commit, size_t len, int64_t deadline)
{
	if (len <= (64u << 10) || commit)
		return deadline;
	return deadline + (int64_t) (len >> 13);
}

/*
 * Requests to members.  A caller's request joins its member's queue
 * (bq_submit); up to NSLOTS messages are in flight to a member on its
 * link (transport/link.h), each from a slot kept for the next one, a second
 * one only once the others have been out the member's patience (bq_fill).  A
 * free slot takes the queue's head, and with it the requests behind it that
 * may share a message (pend, commit, cancel, status: OTR_T_BATCH, up to
 * BATCH_BYTES and OTR_BATCH_OPS).  So while the member is busy, the
 * requests of concurrent transactions pile up and leave as one message,
 * which the member's worker executes (serve_batch; its commits usually
 * share one synced write), and a message answered sends the next from the
 * link's callback: a network group commit.  An idle member gets each request
 * at once, alone, exactly as encoded.
 *
 * Gets, installs, hellos and requests over BATCH_BYTES travel alone, each
 * from a slot of its own made for it (a transient slot), so they never
 * wait for a shared slot (they share the member's connection).
 *
 * Deadlines: a request whose deadline passes while it is queued fails
 * there, unsent.  A caller waits for its own requests (calls_wait,
 * bq_take) until their deadline, or once sent until their deadline plus
 * CALL_GRACE, whatever the link does: a request still queued then is
 * taken out; one in flight is marked gone and freed by its slot.  A caller
 * whose quorum answered first leaves the rest (bq_leave): they are marked
 * gone, still sent, and freed when done.  The link ends every message by
 * its deadline (its timer).  All of it is under the member's bmtx, which
 * is never held while calling the link (bq_go runs after the unlock), and
 * the link never calls back holding a lock of its own.
 */
struct bgroup;

struct bcall {
	struct o_buf   req;  /* the encoded request */
	bool           solo; /* travels alone (get, install, hello, big) */
	bool           sent, done, gone;
	int64_t        deadline;
	struct bgroup *g; /* told when done (until gone) */
	o_err          e; /* transport outcome; O_OK: ans holds the answer */
	char           why[160];
	struct o_buf   ans;
	struct bcall  *next;
};

struct bslot {
	struct member *m;
	bool           busy;
	bool           transient; /* made for one solo request */
	int64_t        deadline, sent_at;
	struct bslot  *next; /* the member's transient slots */
	struct bcall  *calls[OTR_BATCH_OPS];
	size_t         n;
};

/*
 * The requests of one calls_run: each done one counts here, so the caller
 * can wait for any of them (requests to several members, each under its
 * member's bmtx).  Lock order: a member's bmtx, then mtx.  A request's
 * g is used only while it is not gone, and gone is set under bmtx, so
 * once the caller has left every request (or had its answer) no callback
 * touches the group any more.
 */
struct bgroup {
	pthread_mutex_t mtx;
	pthread_cond_t  cv;
	uint64_t        ndone;
};

static void
bcall_free(struct bcall *c)
{
	o_buf_fini(&c->req);
	o_buf_fini(&c->ans);
	free(c);
}

/* Complete c (bmtx held): its waiter is told, or c freed if it left. */
static void
bcall_finish(struct bcall *c, o_err e, const char *why, const uint8_t *ans,
    size_t len)
{
	if (c->gone) {
		bcall_free(c);
		return;
	}
	c->e = e;
	snprintf(c->why, sizeof(c->why), "%s", why);
	if (e == O_OK)
		o_buf_append(&c->ans, ans, len);
	c->done = true;
	pthread_mutex_lock(&c->g->mtx);
	c->g->ndone++;
	pthread_cond_broadcast(&c->g->cv);
	pthread_mutex_unlock(&c->g->mtx);
}

static struct bslot *
slot_new(struct member *m, bool transient)
{
	struct bslot *s = o_calloc(1, sizeof(*s));

	s->m         = m;
	s->transient = transient;
	return s;
}

static bool
batchable(const struct bcall *c, size_t bytes, size_t n)
{
	return n < OTR_BATCH_OPS && bytes + c->req.len <= BATCH_BYTES;
}

/* When a free shared slot of m may next send (bmtx held): once every
 * message in flight on the others has been out m->patience_ms. */
static int64_t
slot_next_go(const struct member *m)
{
	int64_t t = 0;
	size_t  i;

	for (i = 0; i < NSLOTS; i++)
		if (m->slots[i]->busy)
			t = O_MAX(t, m->slots[i]->sent_at + m->patience_ms);
	return t;
}

/* Whether one of m's shared slots is free (bmtx held). */
static bool
slot_idle(const struct member *m)
{
	size_t i;

	for (i = 0; i < NSLOTS; i++)
		if (!m->slots[i]->busy)
			return true;
	return false;
}

/*
 * Fill m's free shared slots from its queue (bmtx held); slots to send go
 * to go[] (*ngo).  Requests whose deadline passed in the queue fail here.
 * A message goes on a second slot only once the ones in flight have been
 * out m->patience_ms (SLOT_PATIENCE_MS; freed: a slot whose answer just
 * came, which sends the next at once; force: a request its caller leaves,
 * sent now rather than after the busy slot's answer): until an answer frees a
 * slot, or the patience is over (bq_take), the requests of concurrent
 * transactions gather in the queue and leave as one message.  A replica slow
 * to answer one message still gets the next ones a few ms later, on another
 * slot.
 */
static void
bq_fill(struct member *m, struct bslot *freed, bool force, struct bslot **go,
    size_t *ngo)
{
	int64_t now = o_mono_ms();
	size_t  i;

	*ngo = 0;
	for (i = 0; i < NSLOTS && m->qh != NULL; i++) {
		struct bslot *s     = m->slots[i];
		size_t        bytes = 0;

		if (s->busy || (!force && s != freed && now < slot_next_go(m)))
			continue;
		s->n        = 0;
		s->deadline = 0;
		while (m->qh != NULL && (s->n == 0 || batchable(m->qh, bytes,
		                                          s->n))) {
			struct bcall *c = m->qh;

			m->qh = c->next;
			if (c->deadline <= now) {
				if (!c->gone) /* a caller's failure */
					atomic_fetch_add(&m->fails, 1);
				bcall_finish(c, O_ETIMEDOUT,
				    "no time left (queued)", NULL, 0);
				continue;
			}
			c->sent = true;
			bytes += c->req.len;
			s->deadline      = O_MAX(s->deadline, c->deadline);
			s->calls[s->n++] = c;
		}
		if (m->qh == NULL)
			m->qt = NULL;
		if (s->n == 0)
			continue;
		s->busy      = true;
		s->sent_at   = now;
		member_sent(m, now, bytes);
		go[(*ngo)++] = s;
	}
}

static void slot_answered(
    void *arg, o_err e, const char *why, const uint8_t *ans, size_t len);

/* Send slot s's requests, as one message (bmtx not held). */
static void
slot_send(struct bslot *s)
{
	struct o_buf b = { 0 };
	/* to a silent member, the link's writer thread writes: it may not
	 * be reading, and this thread has other members to ask */
	void (*call)(struct otr_link *, const uint8_t *, size_t, int64_t,
	    otr_link_done_fn, void *) = member_silent(s->m, o_mono_ms())
	    ? otr_link_call_later
	    : otr_link_call;

	atomic_fetch_add(&s->m->sent, 1);
	if (s->n == 1) {
		call(s->m->link, s->calls[0]->req.data, s->calls[0]->req.len,
		    s->deadline, slot_answered, s);
		return;
	}
	{
		struct oc_val op = oc_map(), ops = oc_array();
		size_t        i;

		for (i = 0; i < s->n; i++)
			oc_arr_push(&ops, oc_bytes(s->calls[i]->req.data,
			                      s->calls[i]->req.len));
		oc_map_set(&op, "t", oc_text(OTR_T_BATCH));
		oc_map_set(&op, "ops", ops);
		otr_wire_request(&op, &b);
	}
	call(s->m->link, b.data, b.len, s->deadline, slot_answered, s);
	o_buf_fini(&b);
}

static void
bq_go(struct bslot **go, size_t ngo)
{
	size_t i;

	for (i = 0; i < ngo; i++)
		slot_send(go[i]);
}

/*
 * The message of slot s completed (the link's callback): e the outcome,
 * ans the answer (e O_OK).  Hands each request its answer, then frees a
 * transient slot, or sends the next message from the queue on a shared
 * one.
 */
static void
slot_answered(
    void *arg, o_err le, const char *lwhy, const uint8_t *ans, size_t alen)
{
	struct bslot        *s = arg;
	struct member       *m = s->m;
	struct bslot        *go[NSLOTS], **pp;
	struct oc_val        a   = oc_null();
	const struct oc_val *r   = NULL;
	o_err                e   = O_OK;
	char                 why[160] = "";
	size_t               i, ngo = 0;

	if (le != O_OK) {
		e = le;
		snprintf(why, sizeof(why), "%s", lwhy);
	} else if (s->n > 1) {
		o_err ae;

		if (otr_wire_parse_answer(
		        ans, alen, &a, &ae, why, sizeof(why)) != O_OK) {
			e = O_EBADMSG;
			snprintf(why, sizeof(why), "batch answer: %s",
			    o_err_detail());
		} else if (ae != O_OK) {
			e = ae; /* the batch as a whole was refused */
		} else if ((r = oc_map_arr(&a, "r")) == NULL ||
		    oc_arr_len(r) != s->n) {
			e = O_EBADMSG;
			snprintf(why, sizeof(why),
			    "batch answer: field r: not %zu answers", s->n);
		} else {
			for (i = 0; i < s->n; i++)
				if (oc_arr_at(r, i)->type != OC_BYTES) {
					e = O_EBADMSG;
					snprintf(why, sizeof(why),
					    "batch answer: field r[%zu]: not "
					    "bytes",
					    i);
				}
		}
	}
	pthread_mutex_lock(&m->bmtx);
	/* an answer (or a connection lost: the member is down, and starts
	 * afresh once connected again) ends a silence; a message that timed
	 * out, unanswered, does not */
	if (le != O_ETIMEDOUT)
		member_heard(m);
	for (i = 0; i < s->n; i++) {
		const uint8_t *p = NULL;
		size_t         len = 0;

		if (e != O_OK) {
			if (!s->calls[i]->gone) /* a caller's failure */
				atomic_fetch_add(&m->fails, 1);
		} else if (s->n == 1) {
			p   = ans;
			len = alen;
		} else {
			p   = oc_arr_at(r, i)->u.s.p;
			len = oc_arr_at(r, i)->u.s.n;
		}
		bcall_finish(s->calls[i], e, why, p, len);
		s->calls[i] = NULL;
	}
	s->n    = 0;
	s->busy = false;
	if (s->transient) {
		for (pp = &m->tslots; *pp != s; pp = &(*pp)->next)
			;
		*pp = s->next;
	} else {
		bq_fill(m, s, false, go, &ngo);
	}
	pthread_mutex_unlock(&m->bmtx);
	oc_val_fini(&a);
	if (s->transient)
		free(s);
	bq_go(go, ngo);
}

static void
bq_submit(struct member *m, struct bcall *c)
{
	struct bslot *go[NSLOTS], *s;
	size_t        ngo = 0;

	pthread_mutex_lock(&m->bmtx);
	if (c->solo) {
		s           = slot_new(m, true);
		c->sent     = true;
		s->calls[0] = c;
		s->n        = 1;
		s->busy     = true;
		s->deadline = c->deadline;
		member_sent(m, o_mono_ms(), c->req.len);
		s->next     = m->tslots;
		m->tslots   = s;
		go[ngo++]   = s;
	} else {
		c->next = NULL;
		if (m->qh == NULL)
			m->qh = c;
		else
			m->qt->next = c;
		m->qt = c;
		bq_fill(m, NULL, false, go, &ngo);
	}
	pthread_mutex_unlock(&m->bmtx);
	bq_go(go, ngo);
}

/*
 * Settle call c if its request is done, or if its caller's wait is over
 * (its deadline, or once sent its deadline plus CALL_GRACE, whatever the
 * link does: a request still queued is taken out; one in flight is marked
 * gone and freed by its slot).  false: still to wait for, until *limit.
 */
static bool
bq_take(struct call *c, int64_t now, int64_t *limit)
{
	struct member *m  = c->m;
	struct bcall  *bc = c->bc;
	struct bslot  *go[NSLOTS];
	size_t         ngo = 0;

	pthread_mutex_lock(&m->bmtx);
	if (!bc->sent && !bc->done) /* queued: may a free slot go now? */
		bq_fill(m, NULL, false, go, &ngo);
	*limit = bc->deadline + (bc->sent ? CALL_GRACE : 0);
	if (!bc->sent && !bc->done && slot_idle(m)) /* when it may */
		*limit = O_MIN(*limit, O_MAX(now, slot_next_go(m)) + 1);
	if (!bc->done && now < *limit) {
		pthread_mutex_unlock(&m->bmtx);
		bq_go(go, ngo);
		return false;
	}
	c->bc = NULL;
	if (!bc->done) {
		struct bcall **pp;
		bool           sent = bc->sent;

		if (sent) { /* its slot frees it */
			bc->gone = true;
		} else {
			for (pp = &m->qh; *pp != bc; pp = &(*pp)->next)
				;
			*pp   = bc->next;
			m->qt = NULL;
			for (pp = &m->qh; *pp != NULL; pp = &(*pp)->next)
				m->qt = *pp;
			bcall_free(bc);
		}
		pthread_mutex_unlock(&m->bmtx);
		bq_go(go, ngo);
		atomic_fetch_add(&m->fails, 1);
		c->e      = O_ETIMEDOUT;
		c->unsent = !sent;
		snprintf(c->detail, sizeof(c->detail), "member %s (%s): %s",
		    m->name, m->url,
		    sent ? "no answer, and the link did not end the request"
		         : "no time left (queued behind other requests)");
		return true;
	}
	pthread_mutex_unlock(&m->bmtx);
	bq_go(go, ngo);
	if (bc->e != O_OK) {
		call_fail(c, bc->e, bc->why);
		c->unsent = !bc->sent; /* expired in the queue */
	} else
		call_answer(c, bc->ans.data, bc->ans.len);
	bcall_free(bc);
	return true;
}

/*
 * Stop waiting for call c: a quorum answered first, or its member is
 * silent (counted skipped).  Its request stays queued or in flight (a
 * commit still lands there); its answer will be dropped by its slot.  An
 * answer already in is taken.
 */
static void
bq_leave(struct call *c, bool silent)
{
	struct member *m  = c->m;
	struct bcall  *bc = c->bc;
	struct bslot  *go[NSLOTS];
	size_t         ngo = 0;
	int64_t        limit;

	pthread_mutex_lock(&m->bmtx);
	if (bc->done) {
		pthread_mutex_unlock(&m->bmtx);
		(void) bq_take(c, o_mono_ms(), &limit);
		return;
	}
	bc->gone = true;
	if (!bc->sent) /* held back by the patience: no caller sends it now */
		bq_fill(m, NULL, true, go, &ngo);
	pthread_mutex_unlock(&m->bmtx);
	bq_go(go, ngo);
	c->bc   = NULL;
	c->left = true;
	c->e    = O_EUNAVAIL;
	snprintf(c->detail, sizeof(c->detail),
	    "member %s (%s): not waited for (%s)", m->name, m->url,
	    silent ? "silent, nothing answered for a while"
	           : "a quorum answered first");
	atomic_fetch_add(&m->left, 1);
	if (silent)
		atomic_fetch_add(&m->skipped, 1);
}

/*
 * When calls_run may stop waiting before every request is answered or
 * timed out.  enough(arg, cs, k, quiet): the answers in hand (answered(),
 * the others still O_EUNAVAIL) decide; quiet: every call still out is a
 * silent member's (member_silent), whose calls are then left as such.  From
 * then on the rest get GRACE_TIMES as long as the quorum took, at least
 * grace_ms (0: no more time at all), then are left (bq_leave, call.left).
 *
 * Reads give the rest a few ms (patient repair reads the write grace): a
 * replica a little slower is still counted and repaired, a hung one costs
 * a read a few ms.  Pends and
 * commits give them a twentieth of the deadline: leaving a replica that
 * is only busy costs more than waiting for it (its commit arrives after
 * the writer's next pend, which finds its own earlier pending there; the
 * replica misses that commit, and the pend after it must repair it:
 * measured on 3 nodes sharing 2 vCPUs, 64 writers made 30 % fewer appends
 * with a few ms of grace), while a hung replica costs a fraction of the
 * deadline instead of all of it.
 */
#define WRITE_GRACE(n) O_MAX((n)->timeout_ms / 20, 1)

struct quorum {
	bool (*enough)(void *arg, const struct call *cs, size_t k, bool quiet);
	void   *arg;
	int64_t grace_ms;
};

/* Wait for the requests of cs (group g) as q allows; t0: when sent. */
static void
calls_wait(struct call *cs, size_t k, struct bgroup *g,
    const struct quorum *q, int64_t t0)
{
	int64_t stop_at = INT64_MAX;

	for (;;) {
		int64_t  now = o_mono_ms(), wake = stop_at, limit, sat, hat;
		uint64_t seen;
		size_t   i, open = 0, heard = 0, live = 0;
		bool     hushed = false;

		pthread_mutex_lock(&g->mtx);
		seen = g->ndone;
		pthread_mutex_unlock(&g->mtx);
		for (i = 0; i < k; i++) {
			if (cs[i].bc == NULL || bq_take(&cs[i], now, &limit))
				continue;
			open++;
			sat = member_silent_at(cs[i].m);
			hat = member_hung_at(cs[i].m, sat);
			if (now >= hat)
				continue; /* not waited for (member_hung_at) */
			live++;
			if (now < sat) {
				heard++;
				if (q != NULL) /* until it falls silent */
					limit = O_MIN(limit, sat);
			}
			limit = O_MIN(limit, hat); /* until it is hung */
			wake  = O_MIN(wake, limit);
		}
		if (open == 0)
			break;
		if (live == 0) { /* every call still out is a hung member's */
			stop_at = now;
			hushed  = true;
		}
		if (q != NULL && stop_at == INT64_MAX &&
		    q->enough(q->arg, cs, k, heard == 0)) {
			stop_at = q->grace_ms > 0
			    ? now + O_MAX(GRACE_TIMES * (now - t0), q->grace_ms)
			    : now;
			wake    = O_MIN(wake, stop_at);
		}
		/* what is still out is only silent members' (member_silent):
		 * once a quorum is in, they are not waited for.  A caller that
		 * waits for every answer (q NULL) still does, until they are
		 * hung: a status, a repair */
		if (heard == 0 && q != NULL && stop_at != INT64_MAX &&
		    now <= stop_at) {
			stop_at = now;
			hushed  = true;
		}
		if (now >= stop_at) {
			for (i = 0; i < k; i++)
				if (cs[i].bc != NULL)
					bq_leave(&cs[i], hushed);
			break;
		}
		pthread_mutex_lock(&g->mtx);
		while (g->ndone == seen &&
		    o_cond_wait_until(&g->cv, &g->mtx, wake))
			;
		pthread_mutex_unlock(&g->mtx);
	}
}

/*
 * Run every call with an op, in parallel; this node's own in line.  q
 * (NULL: wait for all) lets the caller go on once a quorum answered.
 */
static void
calls_run_q(struct otr_node *n, struct call *cs, size_t k, int64_t deadline,
    const struct quorum *q)
{
	struct bgroup g;
	int64_t       t0 = o_mono_ms();
	size_t        i;

	pthread_mutex_init(&g.mtx, NULL);
	o_cond_init_mono(&g.cv);
	g.ndone = 0;
	for (i = 0; i < k; i++) {
		struct call  *c = &cs[i];
		struct bcall *bc;
		struct o_buf  b = { 0 };
		const char   *t;
		bool          commit, solo;

		c->ans    = oc_null();
		c->e      = O_EUNAVAIL;
		c->bc     = NULL;
		c->left   = false;
		c->unsent = false;
		c->had_op = c->op.type != OC_NULL;
		if (c->op.type == OC_NULL || c->m->self)
			continue;
		atomic_fetch_add(&c->m->calls, 1);
		if (!member_up(c->m)) {
			call_fail(c, O_EUNAVAIL, "not connected");
			c->unsent = true;
			continue;
		}
		t      = oc_map_text(&c->op, "t");
		commit = t != NULL && strcmp(t, OTR_T_COMMIT) == 0;
		solo   = !otr_wire_batchable(t);
		otr_wire_request(&c->op, &b); /* takes c->op */
		c->deadline = otr_call_deadline(commit, b.len, deadline);
		if (c->deadline - o_mono_ms() <= 0) {
			o_buf_fini(&b);
			call_fail(c, O_ETIMEDOUT, "no time left");
			c->unsent = true;
			continue;
		}
		if (b.len > OTR_MSG_MAX) {
			char why[128];

			snprintf(why, sizeof(why),
			    "a request of %zu MiB exceeds the %u MiB message "
			    "limit",
			    b.len >> 20, OTR_MSG_MAX >> 20);
			o_buf_fini(&b);
			c->e      = O_ETOOBIG;
			c->unsent = true;
			snprintf(c->detail, sizeof(c->detail), "member %s: %s",
			    c->m->name, why);
			continue;
		}
		bc           = o_calloc(1, sizeof(*bc));
		bc->req      = b; /* moved */
		bc->solo     = solo || b.len > BATCH_BYTES;
		bc->deadline = c->deadline;
		bc->g        = &g;
		c->bc        = bc;
		bq_submit(c->m, bc);
	}
	for (i = 0; i < k; i++) { /* our own replica meanwhile */
		struct call *c = &cs[i];

		if (c->op.type != OC_NULL && c->m->self) {
			struct o_buf b = { 0 };

			/* through the encoding, as a peer would see it */
			c->ans = otr_exec(&n->conf.replica, &c->op);
			oc_encode(&c->ans, &b);
			oc_val_fini(&c->ans);
			call_answer(c, b.data, b.len);
			o_buf_fini(&b);
		}
	}
	calls_wait(cs, k, &g, q, t0);
	pthread_mutex_destroy(&g.mtx);
	pthread_cond_destroy(&g.cv);
}

static void
calls_run(struct otr_node *n, struct call *cs, size_t k, int64_t deadline)
{
	calls_run_q(n, cs, k, deadline, NULL);
}

/* m's shared slots (a member that is not this node), or false. */
static void
slots_make(struct member *m)
{
	size_t i;

	pthread_mutex_init(&m->bmtx, NULL);
	for (i = 0; i < NSLOTS; i++)
		m->slots[i] = slot_new(m, false);
	otr_link_on_late(m->link, member_heard_late, m);
}

/*
 * Before m goes (stop; every caller has returned): requests still queued
 * fail, then closing the link ends what is in flight (each slot's
 * callback runs), and the slots are freed.
 */
static void
slots_drain(struct member *m)
{
	size_t i;

	/* requests left queued by callers that had their quorum: never
	 * sent now (a slot's completion would send the next) */
	pthread_mutex_lock(&m->bmtx);
	while (m->qh != NULL) {
		struct bcall *c = m->qh;

		m->qh = c->next;
		bcall_finish(c, O_ECLOSED, "stopping", NULL, 0);
	}
	m->qt = NULL;
	pthread_mutex_unlock(&m->bmtx);
	otr_link_close(m->link);
	m->link = NULL;
	for (i = 0; i < NSLOTS; i++)
		free(m->slots[i]);
	pthread_mutex_destroy(&m->bmtx);
}

static void
calls_fini(struct call *cs, size_t k)
{
	size_t i;

	for (i = 0; i < k; i++) {
		oc_val_fini(&cs[i].op);
		oc_val_fini(&cs[i].ans);
	}
	free(cs);
}

static struct call *
calls_new(struct member *const *ms, size_t k)
{
	struct call *cs = o_calloc(k + 1, sizeof(*cs));
	size_t       i;

	for (i = 0; i < k; i++) {
		cs[i].m   = ms[i];
		cs[i].op  = oc_null();
		cs[i].ans = oc_null();
	}
	return cs;
}

/* The call answered with code ok (the answer map is usable). */
static bool
answered(const struct call *c)
{
	return c->e == O_OK && c->ans.type == OC_MAP;
}

static int64_t
deadline_of(struct otr_node *n)
{
	return o_mono_ms() + n->timeout_ms;
}

/* ---- the network transactor: get -------------------------------------- */

struct placed {
	size_t r;
	size_t who[8]; /* member indexes, R <= 8 */
};

/* out's reason for too few answers (nans of r, need): the count, and
 * which replicas gave no usable one (down, hung, slow, or could not
 * read the block). */
static void
get_unknown_why(struct oc_get_res *out, struct member *const *ms,
    const size_t *who, size_t r, const bool *has, const struct oc_get_res *row,
    size_t nans, size_t need)
{
	size_t q, len, none = 0;

	len = (size_t) snprintf(out->reason, sizeof(out->reason),
	    "%zu of %zu replicas answered (need %zu%s", nans, r, need,
	    out->cause == O_ESTALE ? ", history pruned" : "");
	for (q = 0; q < r && len < sizeof(out->reason); q++) {
		size_t j = who[q];

		if (has[j] && row[j].state != OC_GET_UNKNOWN)
			continue;
		len += (size_t) snprintf(out->reason + len,
		    sizeof(out->reason) - len, "%s%s",
		    none++ == 0 ? "; none usable from " : ", ", ms[j]->name);
	}
	if (len < sizeof(out->reason))
		snprintf(out->reason + len, sizeof(out->reason) - len, ")");
}

static void
place_all(struct otr_node *n, struct member *const *ms, size_t k,
    const struct oc_bid *ids, size_t nids, struct placed *pl)
{
	size_t i;

	for (i = 0; i < nids; i++)
		pl[i].r = place(ms, k, O_MIN(n->replicas, 8), &ids[i], pl[i].who);
}

/* For member j: the indexes of ids it replicates (count returned). */
static size_t
member_ids(const struct placed *pl, size_t nids, size_t j, size_t *idx)
{
	size_t i, q, c = 0;

	for (i = 0; i < nids; i++)
		for (q = 0; q < pl[i].r; q++)
			if (pl[i].who[q] == j) {
				idx[c++] = i;
				break;
			}
	return c;
}

/* Whether a line about m's failed repairs is due (REPAIR_LOG_MS since
 * the last one), taking the turn if so. */
static bool
repair_log_due(struct member *m, int64_t now)
{
	int_fast64_t last = atomic_load(&m->repair_logged_ms);

	return now - last >= REPAIR_LOG_MS &&
	    atomic_compare_exchange_strong(&m->repair_logged_ms, &last, now);
}

/* Log the failed repairs on m not logged yet, once one is due (the
 * gossip thread; repair_note). */
static void
repair_quiet_note(struct member *m, int64_t now)
{
	uint_fast64_t q;

	if (atomic_load(&m->repair_quiet) > 0 && repair_log_due(m, now) &&
	    (q = atomic_exchange(&m->repair_quiet, 0)) > 0)
		o_log(O_LOG_WARN,
		    "%" PRIuFAST64 " more repair(s) on %s failed since the "
		    "last reported",
		    q, m->name);
}

/*
 * Log a repair's outcome on m.  A failed one is logged at most once in
 * REPAIR_LOG_MS per member; those in between are counted and logged
 * with the next one or by the gossip thread (repair_quiet_note): a
 * replica that cannot write (its disk full) fails the repair of every
 * read that finds it behind, which would flood the log.
 */
static void
repair_note(
    struct member *m, const struct oc_get_res *best, const struct call *c)
{
	char          s[OC_BID_STRLEN], more[64] = "";
	uint_fast64_t q;

	if (answered(c) && c->ae == O_OK) {
		o_log(O_LOG_DEBUG,
		    "repair of block %s at rev %" PRId64 " on %s: done",
		    oc_bid_str(&best->id, s), best->latest_rev, m->name);
		return;
	}
	if (!repair_log_due(m, o_mono_ms())) {
		atomic_fetch_add(&m->repair_quiet, 1);
		return;
	}
	if ((q = atomic_exchange(&m->repair_quiet, 0)) > 0)
		snprintf(more, sizeof(more),
		    " (and %" PRIuFAST64 " more since the last reported)", q);
	o_log(O_LOG_WARN, "repair of block %s at rev %" PRId64 " on %s: %s%s",
	    oc_bid_str(&best->id, s), best->latest_rev, m->name, c->detail,
	    more);
}

/*
 * Send the chosen block to replicas that answered with an older one, and
 * when decided (a majority of the block's replicas answered best's
 * revision and action) to those holding that revision by another action:
 * that action never reached a majority, so it was never decided and the
 * majority's replaces it ("over", PROTOCOL.md §5).
 */
static void
repair(struct otr_node *n, struct member *const *ms, size_t k,
    const struct oc_get_res *best, const struct oc_get_res *seen /* [k] */,
    const bool *has /* [k] */, bool decided, int64_t deadline)
{
	struct call *cs = calls_new(ms, k);
	size_t       j, nrep = 0;

	for (j = 0; j < k; j++) {
		bool over;

		if (!has[j])
			continue;
		over = decided && seen[j].state != OC_GET_UNKNOWN &&
		    seen[j].latest_rev == best->latest_rev &&
		    !oc_aid_eq(&seen[j].latest_aid, &best->latest_aid);
		if (seen[j].state != OC_GET_UNKNOWN &&
		    seen[j].latest_rev >= best->latest_rev && !over)
			continue;
		cs[j].op = oc_map();
		oc_map_set(&cs[j].op, "t", oc_text(OTR_T_INSTALL));
		oc_map_set(&cs[j].op, "id", oc_bid_val(&best->id));
		oc_map_set(&cs[j].op, "rev", oc_int(best->latest_rev));
		oc_map_set(&cs[j].op, "aid", oc_aid_val(&best->latest_aid));
		oc_map_set(&cs[j].op, "b",
		    best->state == OC_GET_BLOCK ? oc_val_dup(&best->block)
		                                : oc_null());
		if (over)
			oc_map_set(&cs[j].op, "over", oc_bool(true));
		nrep++;
	}
	if (nrep > 0) {
		calls_run(n, cs, k, deadline);
		for (j = 0; j < k; j++)
			if (cs[j].had_op)
				repair_note(ms[j], best, &cs[j]);
	}
	calls_fini(cs, k);
}

/* Blocks placed (pl, nids) asked of members: for quorum predicates. */
struct qblocks {
	const struct oc_bid *ids;
	const struct placed *pl;
	size_t               nids;
	size_t              *idx; /* scratch: nids + 1 */
	size_t              *cnt; /* scratch: nids + 1 */
};

/* Member c answered that it knows block id, the q-th it was asked. */
static bool
get_knows(const struct call *c, size_t q, const struct oc_bid *id)
{
	const struct oc_val *r = oc_map_arr(&c->ans, "r"), *e;
	struct oc_bid        got;
	int64_t              st;

	if (r == NULL || q >= oc_arr_len(r))
		return false;
	e = oc_arr_at(r, q);
	return e->type == OC_MAP && otr_get_int(e, "s", &st) == O_OK &&
	    st != OC_GET_UNKNOWN && otr_get_bid(e, "id", &got) == O_OK &&
	    oc_bid_eq(&got, id);
}

/* A get may stop waiting: each block has a majority of its replicas
 * answering what they hold (any majority holds every decided commit). */
static bool
get_enough(void *arg, const struct call *cs, size_t k, bool quiet)
{
	struct qblocks *qb = arg;
	size_t          i, j, q, c;

	(void) quiet; /* a quorum of answers, silent members or not */
	memset(qb->cnt, 0, qb->nids * sizeof(*qb->cnt));
	for (j = 0; j < k; j++) {
		if (!answered(&cs[j]) || cs[j].ae != O_OK)
			continue;
		c = member_ids(qb->pl, qb->nids, j, qb->idx);
		for (q = 0; q < c; q++)
			qb->cnt[qb->idx[q]] +=
			    get_knows(&cs[j], q, &qb->ids[qb->idx[q]]);
	}
	for (i = 0; i < qb->nids; i++)
		if (qb->cnt[i] < qb->pl[i].r / 2 + 1)
			return false;
	return true;
}

/* A read by deadline.  patient: the replicas still out after a quorum
 * answered get the write grace, not a few ms (a repair read: only a
 * replica that answered is repaired, and the one to repair may be
 * slow); a hung one still costs a bounded time, not the deadline. */
static o_err
get_from(struct oc_transactor *t, const struct oc_bid *ids, size_t nids,
    const struct oc_actx *ctx, struct oc_get_res *out, bool patient,
    int64_t deadline)
{
	struct otr_node   *n = (struct otr_node *) t;
	struct member     *ms[MAX_MEMBERS];
	size_t             k = members(n, ms), i, j, q;
	struct placed     *pl  = o_calloc(nids + 1, sizeof(*pl));
	size_t            *idx = o_calloc(nids + 1, sizeof(*idx));
	struct oc_get_res *all = o_calloc((nids + 1) * (k + 1), sizeof(*all));
	bool              *got = o_calloc((nids + 1) * (k + 1), sizeof(*got));
	struct call       *cs  = calls_new(ms, k);

	place_all(n, ms, k, ids, nids, pl);
	for (j = 0; j < k; j++) {
		size_t c = member_ids(pl, nids, j, idx);
		struct oc_bid *sub;

		if (c == 0)
			continue;
		sub = o_malloc(c * sizeof(*sub));
		for (q = 0; q < c; q++)
			sub[q] = ids[idx[q]];
		cs[j].op = oc_map();
		oc_map_set(&cs[j].op, "t", oc_text(OTR_T_GET));
		otr_put_ids(&cs[j].op, "ids", sub, c);
		if (ctx != NULL)
			otr_put_actx(&cs[j].op, "ctx", ctx);
		free(sub);
	}
	{
		struct qblocks qb = { ids, pl, nids, idx,
			o_calloc(nids + 1, sizeof(size_t)) };
		/* the rest get a few ms more (a patient read: the write
		 * grace): a replica a little slower is still repaired, a
		 * hung one costs that grace */
		struct quorum gq = { get_enough, &qb,
			patient ? WRITE_GRACE(n) : GRACE_MIN_MS };

		calls_run_q(n, cs, k, deadline, &gq);
		free(qb.cnt);
	}
	for (j = 0; j < k; j++) {
		size_t             c = member_ids(pl, nids, j, idx);
		struct oc_get_res *res;

		if (c == 0 || !answered(&cs[j]) || cs[j].ae != O_OK)
			continue;
		res = o_calloc(c, sizeof(*res));
		if (otr_get_getres(&cs[j].ans, "r", res, c) != O_OK) {
			o_log(O_LOG_WARN, "get from %s: %s", ms[j]->name,
			    o_err_detail());
			free(res);
			continue;
		}
		for (q = 0; q < c; q++) {
			if (!oc_bid_eq(&res[q].id, &ids[idx[q]])) {
				char s[OC_BID_STRLEN];

				o_log(O_LOG_WARN,
				    "get from %s: answer %zu is about block "
				    "%s, another than asked (ignored)",
				    ms[j]->name, q, oc_bid_str(&res[q].id, s));
				oc_get_res_fini(&res[q]);
				continue;
			}
			all[idx[q] * k + j] = res[q];
			got[idx[q] * k + j] = true;
		}
		free(res);
	}
	for (i = 0; i < nids; i++) {
		struct oc_get_res *row = &all[i * k], *best = NULL;
		bool              *has = &got[i * k];
		size_t             nans = 0, need = pl[i].r / 2 + 1, bestn = 0;

		oc_get_res_init(&out[i]);
		out[i].id = ids[i];
		for (j = 0; j < k; j++) {
			size_t cnt = 0, x;

			if (!has[j] || row[j].state == OC_GET_UNKNOWN)
				continue;
			nans++;
			for (x = 0; x < k; x++)
				cnt += has[x] && row[x].state != OC_GET_UNKNOWN &&
				    row[x].latest_rev == row[j].latest_rev &&
				    oc_aid_eq(&row[x].latest_aid,
				        &row[j].latest_aid);
			if (best == NULL || row[j].latest_rev > best->latest_rev ||
			    (row[j].latest_rev == best->latest_rev &&
			        (cnt > bestn ||
			            (cnt == bestn &&
			                row[j].mat_rev > best->mat_rev)))) {
				best  = &row[j];
				bestn = cnt;
			}
		}
		if (best == NULL || nans < need) {
			out[i].state = OC_GET_UNKNOWN;
			out[i].cause = O_EUNAVAIL;
			/* a replica whose kept history starts above the
			 * pinned rev: the reader must move to a newer one */
			for (j = 0; j < k; j++)
				if (has[j] && row[j].state == OC_GET_UNKNOWN &&
				    row[j].cause == O_ESTALE)
					out[i].cause = O_ESTALE;
			get_unknown_why(&out[i], ms, pl[i].who, pl[i].r, has,
			    row, nans, need);
			continue;
		}
		/* repair only with the latest state: a read pinned below
		 * the latest revision (ctx->rev) sees older content or an
		 * absence that is no deletion */
		if (best->latest_rev > 0 &&
		    (ctx == NULL || ctx->rev == 0 ||
		        ctx->rev >= best->latest_rev) &&
		    (best->state == OC_GET_ABSENT ||
		        best->mat_rev == best->latest_rev)) {
			struct member *rm[8];
			struct oc_get_res rs[8];
			bool           rh[8];

			for (q = 0; q < pl[i].r; q++) {
				rm[q] = ms[pl[i].who[q]];
				rs[q] = row[pl[i].who[q]];
				rh[q] = has[pl[i].who[q]];
			}
			repair(n, rm, pl[i].r, best, rs, rh, bestn >= need,
			    deadline);
		}
		out[i]         = *best;
		*best          = (struct oc_get_res) { 0 };
		best->block    = oc_null();
		has[best - row] = false;
	}
	for (i = 0; i < nids * k; i++)
		if (got[i])
			oc_get_res_fini(&all[i]);
	calls_fini(cs, k);
	free(all);
	free(got);
	free(idx);
	free(pl);
	return O_OK;
}

static o_err
net_get(struct oc_transactor *t, const struct oc_bid *ids, size_t nids,
    const struct oc_actx *ctx, struct oc_get_res *out)
{
	return get_from(
	    t, ids, nids, ctx, out, false, deadline_of((struct otr_node *) t));
}

/* ---- pend, commit, cancel, status ------------------------------------- */

/* What a pend decided about action aid, for its commit: the expiry it
 * asked for and the members that hold a block of it at an older state
 * (bit j: member j).  A group transaction pends several collections
 * under one action, each with its own blocks, so a record is keyed by
 * the action and the pend's first block; a later pend of the same blocks
 * replaces it. */
static void
exp_remember(struct otr_node *n, const struct oc_aid *aid,
    const struct oc_bid *first, int64_t exp, uint64_t skip)
{
	size_t i;

	pthread_mutex_lock(&n->emtx);
	for (i = 0; i < O_MIN(n->nexp, (size_t) NEXP); i++)
		if (oc_aid_eq(&n->exps[i].aid, aid) &&
		    oc_bid_eq(&n->exps[i].first, first))
			break;
	if (i == O_MIN(n->nexp, (size_t) NEXP))
		i = n->nexp++ % NEXP;
	n->exps[i].aid   = *aid;
	n->exps[i].first = *first;
	n->exps[i].exp   = exp;
	n->exps[i].skip  = skip;
	pthread_mutex_unlock(&n->emtx);
}

/* The record of the pend of aid that one of the commit's blocks (ids,
 * or its critical block) began; 0 when there is none. */
static int64_t
exp_lookup(struct otr_node *n, const struct oc_commit_req *req, uint64_t *skip)
{
	int64_t exp = 0;
	size_t  i, j;

	*skip = 0;
	pthread_mutex_lock(&n->emtx);
	for (i = 0; i < O_MIN(n->nexp, (size_t) NEXP) && exp == 0; i++) {
		if (!oc_aid_eq(&n->exps[i].aid, &req->aid))
			continue;
		for (j = 0; j <= req->n; j++) {
			const struct oc_bid *b =
			    j < req->n ? &req->ids[j] : &req->critical;

			if (oc_bid_eq(&n->exps[i].first, b)) {
				exp   = n->exps[i].exp;
				*skip = n->exps[i].skip;
				break;
			}
		}
	}
	pthread_mutex_unlock(&n->emtx);
	return exp;
}

/* The pend of req's blocks idx[0..c) for one member.  Its expiry goes
 * as a time to live, measured now against mexp (the monotonic expiry
 * the commit keeps to): the replica counts it from when it takes the
 * pend, by its own clock, so it expires there no sooner than here,
 * however far apart the nodes' wall clocks are. */
static struct oc_val
pend_op(
    const struct oc_pend_req *req, const size_t *idx, size_t c, int64_t mexp)
{
	struct oc_val op = oc_map(), base = oc_array();
	struct oc_tfs sub;
	size_t        q;
	bool          based = false;
	int64_t       left  = mexp - o_mono_ms(); /* read once: O_MAX */

	/* idx ascends (member_ids) and req->tfs is sorted: the q-th block
	 * is sub's q-th entry, so base lines up with "tfs" */
	oc_tfs_init(&sub);
	for (q = 0; q < c; q++) {
		const struct oc_tfs_ent *e  = &req->tfs->e[idx[q]];
		struct oc_tf            *tf = oc_tfs_ensure(&sub, &e->id);
		int64_t b = req->base != NULL ? O_MAX(req->base[idx[q]], 0) : 0;

		oc_tf_fini(tf);
		oc_tf_dup(tf, &e->tf);
		if (req->base != NULL)
			oc_arr_push(&base, oc_int(b));
		based = based || b > 0;
	}
	oc_map_set(&op, "t", oc_text(OTR_T_PEND));
	oc_map_set(&op, "aid", oc_aid_val(&req->aid));
	oc_map_set(&op, "rev", oc_int(req->rev));
	oc_map_set(&op, "tfs", oc_tfs_to_val(&sub));
	if (based)
		oc_map_set(&op, "base", base);
	else
		oc_val_fini(&base);
	oc_map_set(&op, "pol", oc_int(req->policy));
	oc_map_set(&op, "ttl", oc_int(O_MAX(left, 1)));
	if (!oc_aid_is_zero(&req->who)) {
		oc_map_set(&op, "who", oc_aid_val(&req->who));
		oc_map_set(&op, "wait", oc_int(req->waited_ms));
	}
	oc_tfs_fini(&sub);
	return op;
}

static struct oc_val
ids_op(const char *t, const struct oc_aid *aid, int64_t rev,
    const struct oc_bid *ids, const size_t *idx, size_t c)
{
	struct oc_val op = oc_map(), a = oc_array();
	size_t        q;

	oc_map_set(&op, "t", oc_text(t));
	oc_map_set(&op, "aid", oc_aid_val(aid));
	if (rev > 0)
		oc_map_set(&op, "rev", oc_int(rev));
	for (q = 0; q < c; q++)
		oc_arr_push(&a, oc_bid_val(&ids[idx != NULL ? idx[q] : q]));
	oc_map_set(&op, "ids", a);
	return op;
}

/* The latest revision (and its action) member j reported for the q-th
 * of its blocks ("lt"); -1 when it could not tell. */
static int64_t
lt_of(const struct call *c, size_t q, struct oc_aid *aid)
{
	const struct oc_val *lt = oc_map_arr(&c->ans, "lt"), *p;

	memset(aid, 0, sizeof(*aid));
	if (lt == NULL || q >= oc_arr_len(lt))
		return -1;
	p = oc_arr_at(lt, q);
	if (p->type != OC_ARRAY || oc_arr_len(p) != 3 ||
	    oc_arr_at(p, 1)->type != OC_INT ||
	    !oc_aid_from(oc_arr_at(p, 2), aid))
		return -1;
	return oc_arr_at(p, 1)->u.i;
}

/*
 * Of the members that accepted block i (acc), which hold the newest
 * state: the highest revision, and at it the action most of them hold.
 * A member is good for the block when it is one of them; the others
 * would apply the update to another base.
 */
static void
good_for_block(const bool *acc, const int64_t *lt, const struct oc_aid *la,
    size_t k, bool *good)
{
	int64_t mx = -1;
	size_t  j, x, best = SIZE_MAX, bestn = 0;

	for (j = 0; j < k; j++)
		if (acc[j])
			mx = O_MAX(mx, lt[j]);
	for (j = 0; j < k; j++) {
		size_t cnt = 0;

		if (!acc[j] || lt[j] != mx)
			continue;
		for (x = 0; x < k; x++)
			cnt += acc[x] && lt[x] == mx && oc_aid_eq(&la[x], &la[j]);
		if (cnt > bestn) {
			best  = j;
			bestn = cnt;
		}
	}
	for (j = 0; j < k; j++)
		good[j] = best != SIZE_MAX && acc[j] && lt[j] == mx &&
		    oc_aid_eq(&la[j], &la[best]);
}

/* goodm[i * k + j]: member j holds block i at the newest state (any
 * member that accepted an insert does). */
static void
pend_good(const struct oc_pend_req *req, size_t nids, size_t k,
    const bool *acc, const int64_t *lt, const struct oc_aid *la, bool *goodm)
{
	size_t i, j;

	for (i = 0; i < nids; i++) {
		if (req->tfs->e[i].tf.insert != NULL)
			for (j = 0; j < k; j++)
				goodm[i * k + j] = acc[i * k + j];
		else
			good_for_block(&acc[i * k], &lt[i * k], &la[i * k], k,
			    &goodm[i * k]);
	}
}

static bool
enough_now(void *arg, const struct call *cs, size_t k, bool quiet)
{
	(void) arg, (void) cs, (void) k, (void) quiet;
	return true;
}

/* Enough once what is still out is only silent members'. */
static bool
only_silent_out(void *arg, const struct call *cs, size_t k, bool quiet)
{
	(void) arg, (void) cs, (void) k;
	return quiet;
}

/* How cancel_blocks waits for its answers. */
enum cancel_wait {
	CANCEL_SENT,  /* not at all: the requests go */
	CANCEL_HEARD, /* for every member but a silent one */
	CANCEL_ALL,   /* for every member, a silent one too until it is hung */
};

/* Cancel aid, on each member j, the blocks i with acc[i * k + j] set and
 * goodm (NULL: none) clear; wait for the answers as w says (the requests
 * go either way; one sharing a batch with the pend it cancels runs after
 * it, one in another message may overtake it, and the replica then
 * refuses the pend when it comes: PROTOCOL.md §1).  CANCEL_HEARD, after a
 * failed attempt: a hung replica (SIGSTOP) answers nothing before the
 * deadline, and the writer waited for it on every failed attempt (s37
 * finding 6); its cancel still goes, and runs when it wakes.  CANCEL_ALL
 * before the same action is pended there again: a cancel left would run
 * after that pend and drop it. */
static void
cancel_blocks(struct otr_node *n, struct member *const *ms, size_t k,
    const struct oc_bid *ids, size_t nids, const struct oc_aid *aid,
    const bool *acc, const bool *goodm, int64_t deadline, enum cancel_wait w)
{
	struct quorum now   = { enough_now, NULL, 0 };
	struct quorum heard = { only_silent_out, NULL, 0 };
	struct call  *cs  = calls_new(ms, k);
	size_t      *idx = o_calloc(nids + 1, sizeof(*idx));
	size_t       i, j, c, any = 0;

	for (j = 0; j < k; j++) {
		for (i = c = 0; i < nids; i++)
			if (acc[i * k + j] && (goodm == NULL || !goodm[i * k + j]))
				idx[c++] = i;
		if (c > 0) {
			cs[j].op = ids_op(OTR_T_CANCEL, aid, 0, ids, idx, c);
			any++;
		}
	}
	if (any > 0)
		calls_run_q(n, cs, k, deadline,
		    w == CANCEL_ALL         ? NULL
		        : w == CANCEL_HEARD ? &heard
		                            : &now);
	calls_fini(cs, k);
	free(idx);
}

/* What member j's pend answer says of its blocks (into acc, lt, la). */
static void
pend_marks(const struct call *cs, size_t j, const struct placed *pl,
    size_t nids, size_t k, size_t *idx, bool *acc, int64_t *lt,
    struct oc_aid *la)
{
	bool   ok = answered(&cs[j]) && cs[j].ae == O_OK;
	size_t q, c = member_ids(pl, nids, j, idx);

	for (q = 0; q < c; q++) {
		size_t x = idx[q] * k + j;

		lt[x]  = ok ? lt_of(&cs[j], q, &la[x]) : -2;
		acc[x] = ok;
	}
}

/* Each block has a majority of its replicas good (pend_good). */
static bool
pend_majority(const struct placed *pl, size_t nids, size_t k,
    const bool *goodm)
{
	size_t i, j, good;

	for (i = 0; i < nids; i++) {
		for (j = good = 0; j < k; j++)
			good += goodm[i * k + j];
		if (good < pl[i].r / 2 + 1)
			return false;
	}
	return true;
}

/*
 * A rival's pending refused the pend, and what is still out is only
 * silent members' (member_silent): no majority without them, and waiting
 * for them holds this pend's own pendings on the other replicas, which
 * refuse the rival in turn.  With one replica of three hung (SIGSTOP: its
 * connection open, nothing answered), two writers sharing a diary each
 * waited out the whole pend deadline, holding the pending that refused
 * the other, and an append took 10-15 s (s37 finding 6).  So the pend
 * stops there and fails O_EPENDING, which the writer retries after a
 * backoff (its claims on the refusing replicas hold younger writers off).
 */
static bool
rival_and_silence(const struct call *cs, size_t k, bool quiet)
{
	size_t j;

	if (!quiet)
		return false;
	for (j = 0; j < k; j++)
		if (answered(&cs[j]) && cs[j].ae == O_EPENDING)
			return true;
	return false;
}

/* A pend's quorum predicate: the answers of this round over the
 * previous round's marks. */
struct pendq {
	const struct oc_pend_req *req;
	const struct placed      *pl;
	size_t                    nids, k, *idx;
	const bool               *acc;
	const int64_t            *lt;
	const struct oc_aid      *la;
	bool                     *acc2, *good2;
	int64_t                  *lt2;
	struct oc_aid            *la2;
};

static bool
pend_enough(void *arg, const struct call *cs, size_t k, bool quiet)
{
	struct pendq *pq = arg;
	size_t        j, nk = pq->nids * k;

	memcpy(pq->acc2, pq->acc, nk * sizeof(*pq->acc2));
	memcpy(pq->lt2, pq->lt, nk * sizeof(*pq->lt2));
	memcpy(pq->la2, pq->la, nk * sizeof(*pq->la2));
	for (j = 0; j < k; j++)
		if (cs[j].had_op)
			pend_marks(cs, j, pq->pl, pq->nids, k, pq->idx, pq->acc2,
			    pq->lt2, pq->la2);
	pend_good(pq->req, pq->nids, k, pq->acc2, pq->lt2, pq->la2, pq->good2);
	if (pend_majority(pq->pl, pq->nids, k, pq->good2))
		return true;
	/* one stale or too-big answer decides the pend failed (a rebase)
	 * whatever the others say */
	for (j = 0; j < k; j++)
		if ((answered(&cs[j]) && cs[j].ae == O_ESTALE) ||
		    cs[j].e == O_ETOOBIG)
			return true;
	return rival_and_silence(cs, k, quiet);
}

/* A read for what it does to the replicas (repairs those behind, rolls a
 * revision forward), patient (get_from), by deadline; what it reads is
 * dropped. */
static void
read_to_repair(struct oc_transactor *t, const struct oc_bid *ids, size_t nids,
    int64_t deadline)
{
	struct oc_get_res *gr = o_calloc(nids + 1, sizeof(*gr));
	size_t             i;

	(void) get_from(t, ids, nids, NULL, gr, true, deadline);
	for (i = 0; i < nids; i++)
		oc_get_res_fini(&gr[i]);
	free(gr);
}

/*
 * A pend refused as stale: a replica holds a revision of a block that the
 * writer's read did not give it.  When fewer than a majority of the
 * block's replicas said so, that revision may live on a minority only
 * (an undecided commit that reached them alone), and a quorum read can
 * stop before their answers every time (a replica slower than the read
 * grace): the writer would read the older revision and be refused again,
 * until it gives up.  Read those blocks patiently (the replicas still out
 * after a quorum get the write grace, not a read's few ms), which rolls
 * the revision forward (or gives the majority's decision) for the next
 * attempt.
 */
static void
read_past_a_stale_minority(struct oc_transactor *t, const struct call *cs,
    size_t k, const struct placed *pl, const struct oc_bid *ids, size_t nids)
{
	size_t        *cnt = o_calloc(nids + 1, sizeof(*cnt)), i, j, m = 0;
	struct oc_bid *rd = o_calloc(nids + 1, sizeof(*rd));

	for (j = 0; j < k; j++) {
		struct oc_txres tr;

		if (!answered(&cs[j]) || cs[j].ae != O_ESTALE)
			continue;
		oc_txres_init(&tr);
		if (otr_get_txres(&cs[j].ans, "x", &tr) == O_OK)
			for (i = 0; i < nids; i++)
				cnt[i] += oc_bid_eq(&ids[i], &tr.stale_id);
		oc_txres_fini(&tr);
	}
	for (i = 0; i < nids; i++)
		if (cnt[i] > 0 && cnt[i] < pl[i].r / 2 + 1)
			rd[m++] = ids[i];
	if (m > 0) /* for the next attempt: a deadline of its own */
		read_to_repair(t, rd, m, deadline_of((struct otr_node *) t));
	free(rd);
	free(cnt);
}

static o_err
net_pend(struct oc_transactor *t, const struct oc_pend_req *req,
    struct oc_txres *res)
{
	struct otr_node *n = (struct otr_node *) t;
	struct member   *ms[MAX_MEMBERS];
	size_t           k = members(n, ms), nids, i, j, q, c, round;
	struct oc_bid   *ids;
	struct placed   *pl;
	size_t          *idx;
	int64_t         *lt, life, mexp, deadline = deadline_of(n);
	struct oc_aid   *la;
	bool            *ok, *acc, *goodm, *behind, *leftm, *hold, *ever;
	bool             stale = false, rival = false, toobig = false;
	bool             refused_behind = false;
	struct call     *cs;
	struct pendq     pq;
	struct quorum    quo = { pend_enough, &pq, WRITE_GRACE(n) };
	char             why[200] = "";
	o_err            e = O_OK;

	if (req->tfs == NULL || req->tfs->n == 0)
		return o_err_set(O_EINVAL, "pend: no blocks");
	nids = req->tfs->n;
	if (req->ttl_ms < 0 || req->ttl_ms > OC_PEND_TTL_MAX_MS)
		return o_err_set(O_EINVAL,
		    "pend: a time to live of %" PRId64 " ms (at most 1 h)",
		    req->ttl_ms);
	life = req->ttl_ms > 0 ? req->ttl_ms : PEND_TTL_MS;
	/* kept on the monotonic clock (a wall clock set while the action
	 * is out moves neither the commit's guard nor its deadlines) and
	 * sent as a time to live (pend_op) */
	mexp = o_mono_ms() + life;
	exp_remember(n, &req->aid, &req->tfs->e[0].id, mexp, 0);
	ids = o_malloc((nids + 1) * sizeof(*ids));
	for (i = 0; i < nids; i++)
		ids[i] = req->tfs->e[i].id;
	pl     = o_calloc(nids + 1, sizeof(*pl));
	idx    = o_calloc(nids + 1, sizeof(*idx));
	lt     = o_calloc((nids + 1) * (k + 1), sizeof(*lt));
	la     = o_calloc((nids + 1) * (k + 1), sizeof(*la));
	acc    = o_calloc((nids + 1) * (k + 1), sizeof(*acc));
	goodm  = o_calloc((nids + 1) * (k + 1), sizeof(*goodm));
	ok     = o_calloc(k + 1, sizeof(*ok));
	behind = o_calloc(k + 1, sizeof(*behind));
	leftm  = o_calloc(k + 1, sizeof(*leftm));
	hold   = o_calloc((nids + 1) * (k + 1), sizeof(*hold));
	/* accepted in any round: a member pended again that refuses the
	 * second round still holds what it took in the first */
	ever   = o_calloc((nids + 1) * (k + 1), sizeof(*ever));
	pq     = (struct pendq) { req, pl, nids, k, idx, acc, lt, la,
		    o_calloc((nids + 1) * (k + 1), sizeof(bool)),
		    o_calloc((nids + 1) * (k + 1), sizeof(bool)),
		    o_calloc((nids + 1) * (k + 1), sizeof(int64_t)),
		    o_calloc((nids + 1) * (k + 1), sizeof(struct oc_aid)) };
	place_all(n, ms, k, ids, nids, pl);
	cs = calls_new(ms, k);
	for (j = 0; j < k; j++)
		if ((c = member_ids(pl, nids, j, idx)) > 0)
			cs[j].op = pend_op(req, idx, c, mexp);
	for (round = 0; round < 2; round++) {
		bool any_behind = false;

		memset(behind, 0, (k + 1) * sizeof(*behind));
		refused_behind = false; /* as of the last round */
		/* once a majority of each block's replicas is good, the
		 * others get a bounded grace; a replica left then may still
		 * accept, so it is cancelled and never sent the commit */
		calls_run_q(n, cs, k, deadline, &quo);
		for (j = 0; j < k; j++) {
			if (!cs[j].had_op)
				continue;
			/* left after a quorum, or never answered (timed out,
			 * cut off): it may still take the pend */
			leftm[j] = leftm[j] || cs[j].left || !answered(&cs[j]);
			ok[j]    = answered(&cs[j]) && cs[j].ae == O_OK;
			if (answered(&cs[j]) && cs[j].ae == O_ESTALE)
				stale = true;
			if (answered(&cs[j]) && cs[j].ae == O_EPENDING)
				rival = true;
			if (cs[j].e == O_ETOOBIG)
				toobig = true;
			/* refused: it missed a commit the update builds on */
			if (answered(&cs[j]) && cs[j].ae == O_EBEHIND)
				behind[j] = any_behind = refused_behind = true;
			if (answered(&cs[j]) &&
			    (cs[j].ae == O_ESTALE || cs[j].ae == O_EPENDING))
				(void) otr_get_txres(&cs[j].ans, "x", res);
			if (!ok[j] && !cs[j].left && why[0] == '\0')
				snprintf(why, sizeof(why), "%s", cs[j].detail);
			pend_marks(cs, j, pl, nids, k, idx, acc, lt, la);
		}
		for (i = 0; i < nids * k; i++)
			ever[i] = ever[i] || acc[i];
		pend_good(req, nids, k, acc, lt, la, goodm);
		if (stale || toobig || round == 1)
			break;
		/* a member that refused a block it holds at an older state
		 * than the writer's base, or (no base known) accepted it
		 * there and would apply the update to the wrong base:
		 * cancel where accepted, bring the blocks up to date (a
		 * quorum read repairs older replicas), pend there again */
		for (i = 0; i < nids * k; i++)
			if (acc[i] && !goodm[i])
				behind[i % k] = any_behind = true;
		if (!any_behind)
			break;
		cancel_blocks(n, ms, k, ids, nids, &req->aid, acc, goodm,
		    deadline, CANCEL_ALL);
		/* patient: a quorum read can stop before the behind
		 * ones' answers, and only a replica that answered is
		 * repaired */
		read_to_repair(t, ids, nids, deadline);
		for (j = 0; j < k; j++) {
			oc_val_fini(&cs[j].op);
			oc_val_fini(&cs[j].ans);
			cs[j].had_op = false;
			if (behind[j] && (c = member_ids(pl, nids, j, idx)) > 0)
				cs[j].op = pend_op(req, idx, c, mexp);
		}
	}
	for (i = 0; i < nids && e == O_OK; i++) {
		size_t good = 0, need = pl[i].r / 2 + 1;

		for (j = 0; j < k; j++)
			good += goodm[i * k + j];
		if (stale)
			e = O_ESTALE;
		else if (toobig)
			e = O_ETOOBIG;
		else if (good < need)
			/* behind replicas a repair did not bring up: the
			 * writer's base may be one no read reached yet (its
			 * own commit, not yet promoted there): it reads the
			 * blocks again, with its context, and retries */
			e = rival            ? O_EPENDING
			    : refused_behind ? O_EBEHIND
			                     : O_EUNAVAIL;
		if (e != O_OK) {
			char s[OC_BID_STRLEN];

			e = o_err_set(e,
			    "pend of block %s at rev %" PRId64
			    ": %zu of %zu replicas accepted (need %zu): %s",
			    oc_bid_str(&ids[i], s), req->rev, good, pl[i].r,
			    need, why[0] ? why : "refused");
		}
	}
	/* what may hold the pending: the blocks a member accepted, or all
	 * of its blocks when it was left unanswered.  The cancels below get
	 * time of their own: waiting for a member that never answers may
	 * have spent the pend's deadline, and calls_run_q sends nothing past
	 * it (a_refused_pend_is_cancelled_where_accepted_after_a_silent_wait)
	 */
	deadline = deadline_of(n);
	for (j = 0; j < k; j++) {
		c = member_ids(pl, nids, j, idx);
		for (q = 0; q < c; q++)
			hold[idx[q] * k + j] =
			    ever[idx[q] * k + j] || leftm[j];
	}
	if (e != O_OK) {
		char keep[512];

		if (res->reason[0] == '\0')
			snprintf(res->reason, sizeof(res->reason), "%s",
			    o_err_detail());
		snprintf(keep, sizeof(keep), "%s", o_err_detail());
		/* waited for where accepted (the next attempt, another
		 * action, should not find this one's pending there), not
		 * where left unanswered (a hung member would cost the
		 * deadline; what it may hold expires) */
		cancel_blocks(n, ms, k, ids, nids, &req->aid, acc, NULL,
		    deadline, CANCEL_HEARD);
		for (i = 0; i < nids * k; i++)
			hold[i] = hold[i] && !acc[i];
		cancel_blocks(n, ms, k, ids, nids, &req->aid, hold, NULL,
		    deadline, CANCEL_SENT);
		/* after the cancels: what this attempt holds is let go
		 * before the read waits for slow replicas */
		if (stale)
			read_past_a_stale_minority(t, cs, k, pl, ids, nids);
		o_err_set(e, "%s", keep);
	} else {
		/* the commit goes only to members good for all their
		 * blocks: one behind would apply the update to another
		 * base, one left unanswered may be behind; all they may
		 * hold of it is dropped there (not waited for: the commit
		 * does not go there even if the cancel is lost) */
		uint64_t skip = 0;

		for (j = 0; j < k; j++) {
			c = member_ids(pl, nids, j, idx);
			for (q = 0; q < c; q++)
				if (!goodm[idx[q] * k + j])
					skip |= (uint64_t) 1 << j;
		}
		for (i = 0; i < nids * k; i++)
			hold[i] = hold[i] && (skip & ((uint64_t) 1 << (i % k)));
		exp_remember(n, &req->aid, &req->tfs->e[0].id, mexp, skip);
		cancel_blocks(n, ms, k, ids, nids, &req->aid, hold, NULL,
		    deadline, CANCEL_SENT);
	}
	calls_fini(cs, k);
	free(pq.acc2);
	free(pq.good2);
	free(pq.lt2);
	free(pq.la2);
	free(hold);
	free(ever);
	free(leftm);
	free(behind);
	free(ok);
	free(goodm);
	free(acc);
	free(la);
	free(lt);
	free(idx);
	free(pl);
	free(ids);
	return e;
}

/* A commit's quorum: with done (NULL: none) the members that committed
 * before (cs NULL: only those), each block committed on a majority of its
 * replicas. */
struct commitq {
	const struct placed *pl;
	size_t               nids;
	const bool          *done;
};

static bool
commit_enough(void *arg, const struct call *cs, size_t k, bool quiet)
{
	struct commitq *cq = arg;
	size_t          i, q, okn;

	(void) quiet; /* a quorum of answers, silent members or not */
	for (i = 0; i < cq->nids; i++) {
		for (q = okn = 0; q < cq->pl[i].r; q++) {
			size_t j = cq->pl[i].who[q];

			okn += (cq->done != NULL && cq->done[j]) ||
			    (cs != NULL && answered(&cs[j]) &&
			        cs[j].ae == O_OK);
		}
		if (okn < cq->pl[i].r / 2 + 1)
			return false;
	}
	return true;
}

/* A phase-2 answer worth sending again: the member did not answer, or
 * could not commit for now (its store or a hook); not one that says the
 * commit cannot happen there (no pending, expired, stale). */
static bool
phase2_retryable(const struct call *c)
{
	if (!answered(c)) /* not through: a link's fault, not the message's */
		return c->e != O_EBADMSG && c->e != O_ETOOBIG;
	return c->ae == O_EUNAVAIL || c->ae == O_ETIMEDOUT || c->ae == O_EIO ||
	    c->ae == O_ENOSPC || c->ae == O_EBUSY;
}

/* Keep in try (members worth asking again) only those that hold a block
 * short of a majority (got: members that committed) which the members
 * still in try could bring to one; their count. */
static size_t
phase2_targets(
    const struct placed *pl, size_t nids, const bool *got, bool *try, size_t k)
{
	bool  *keep = o_calloc(k + 1, sizeof(bool));
	size_t i, q, j, okn, could, c = 0;

	for (i = 0; i < nids; i++) {
		size_t need = pl[i].r / 2 + 1;

		for (q = okn = could = 0; q < pl[i].r; q++) {
			j = pl[i].who[q];
			okn += got[j];
			could += !got[j] && try[j];
		}
		if (okn >= need || okn + could < need)
			continue; /* done, or out of reach */
		for (q = 0; q < pl[i].r; q++) {
			j       = pl[i].who[q];
			keep[j] = keep[j] || (!got[j] && try[j]);
		}
	}
	for (j = 0; j < k; j++) {
		try[j] = keep[j];
		c += keep[j];
	}
	free(keep);
	return c;
}

/*
 * Phase 2 of a decided commit: the members that hold changed blocks but
 * not the critical block commit them.  Sent again (after 20, 40, ... 200
 * ms) to the members that failed for now, until each block is committed
 * on a majority of its replicas (with those of phase 1) or the deadline,
 * and only to members of a block still short of one that those still
 * worth asking could bring to it: otherwise a block could rest on one
 * replica while the others hold only a pending that expires (PROTOCOL.md
 * §5).  The critical block's replicas that phase 1 did not hear from are
 * not asked again here (their commit may still land).  A commit sent
 * twice is a no-op the second time.  The writer's commit is decided either
 * way: what is still short at the deadline is logged, and readers promote the
 * pendings they find.
 */
static void
phase2(struct otr_node *n, const struct oc_commit_req *req,
    struct member *const *ms, size_t k, const struct placed *pl,
    const bool *crit_member, const bool *crit_done, uint64_t skip,
    int64_t deadline)
{
	bool          *got = o_calloc(k + 1, sizeof(bool));
	bool          *try = o_calloc(k + 1, sizeof(bool));
	size_t        *idx = o_calloc(req->n + 2, sizeof(*idx));
	struct commitq cq  = { pl, req->n, got };
	char           as[OC_AID_STRLEN];
	int64_t        pause = 20;
	size_t         j, m, c;
	int            round;

	for (j = 0; j < k; j++) {
		got[j] = crit_done[j];
		try[j] = !crit_member[j] && !(skip & ((uint64_t) 1 << j)) &&
		    member_ids(pl, req->n, j, idx) > 0;
	}
	for (round = 0;; round++) {
		struct call  *cs = calls_new(ms, k);
		struct quorum q  = { commit_enough, &cq, WRITE_GRACE(n) };

		for (j = c = 0; j < k; j++) {
			if (!try[j])
				continue;
			m        = member_ids(pl, req->n, j, idx);
			cs[j].op = ids_op(OTR_T_COMMIT, &req->aid, req->rev,
			    req->ids, idx, m);
			oc_map_set(
			    &cs[j].op, "crit", oc_bid_val(&req->ids[idx[0]]));
			c++;
		}
		if (c > 0)
			calls_run_q(n, cs, k, deadline, &q);
		for (j = 0; j < k; j++) {
			if (!try[j])
				continue;
			if (answered(&cs[j]) && cs[j].ae == O_OK) {
				got[j] = true;
				try[j] = false;
				continue;
			}
			try[j] = phase2_retryable(&cs[j]);
			if (answered(&cs[j]))
				o_log(round == 0 ? O_LOG_INFO : O_LOG_DEBUG,
				    "commit of action %s on %s after the "
				    "decision: %s%s",
				    oc_aid_str(&req->aid, as), ms[j]->name,
				    cs[j].detail,
				    try[j] ? " (sent again)" : "");
		}
		calls_fini(cs, k);
		if (commit_enough(&cq, NULL, 0, false))
			break;
		/* send again only to members holding a block still short of
		 * a majority that they can still bring to one */
		c = phase2_targets(pl, req->n, got, try, k);
		if (c == 0 || o_mono_ms() + pause >= deadline) {
			o_log(O_LOG_WARN,
			    "commit of action %s at rev %" PRId64
			    ": a block's commit is not confirmed on a "
			    "majority "
			    "of its replicas after %d rounds of phase 2 (the "
			    "others hold its pending: readers promote it)",
			    oc_aid_str(&req->aid, as), req->rev, round + 1);
			break;
		}
		o_sleep_ms(pause);
		pause = O_MIN(pause * 2, 200);
	}
	free(idx);
	free(try);
	free(got);
}

/* A replica's answer to a commit that proves it did not commit: refused
 * before the commit was written (not O_EIO or O_ENOSPC: a synced write that
 * failed may still be in its log after a restart; not O_EUNAVAIL or
 * O_ETIMEDOUT). */
static bool
commit_refused(o_err ae)
{
	return ae == O_ESTALE || ae == O_EEXPIRED || ae == O_ENOPENDING ||
	    ae == O_ENOBASE || ae == O_EBADMSG;
}

static o_err
net_commit(struct oc_transactor *t, const struct oc_commit_req *req,
    struct oc_txres *res)
{
	struct otr_node *n = (struct otr_node *) t;
	struct member   *ms[MAX_MEMBERS];
	size_t           k = members(n, ms), i, j, c, okn = 0, need;
	struct placed    cpl, *pl;
	size_t          *idx;
	uint64_t         skip;
	int64_t          exp   = exp_lookup(n, req, &skip), deadline;
	size_t           nasked = 0, nrefused = 0, nstale = 0, nexpired = 0;
	bool            *crit_member, *crit_done, *told;
	struct call     *cs;
	char             why[200] = "", s[OC_BID_STRLEN], as[OC_AID_STRLEN];
	o_err            e = O_OK;

	if (req->n == 0)
		return o_err_set(O_EINVAL, "commit: no blocks");
	if (exp == 0)
		return o_err_set(O_EEXPIRED,
		    "commit of action %s: this node did not pend it (or "
		    "forgot its expiry): pend again",
		    oc_aid_str(&req->aid, as));
	if (o_mono_ms() > exp - COMMIT_GUARD)
		return o_err_set(O_EEXPIRED,
		    "commit of action %s: its pendings expire in %" PRId64
		    " ms, too close to commit safely",
		    oc_aid_str(&req->aid, as), exp - o_mono_ms());
	if (n->die_after > 0 && atomic_fetch_add(&n->ncommits, 1) + 1 ==
	                            n->die_after) {
		o_log(O_LOG_WARN, "OPTIMFS_TEST_DIE_AFTER_PEND: exiting before "
		                  "the commit of action %s",
		    oc_aid_str(&req->aid, as));
		_exit(9);
	}
	deadline = O_MIN(deadline_of(n), exp - COMMIT_GUARD / 2);
	pl  = o_calloc(req->n + 1, sizeof(*pl));
	idx = o_calloc(req->n + 2, sizeof(*idx));
	crit_member = o_calloc(k + 1, sizeof(bool));
	crit_done   = o_calloc(k + 1, sizeof(bool));
	told        = o_calloc(k + 1, sizeof(bool));
	place_all(n, ms, k, req->ids, req->n, pl);
	cpl.r = place(ms, k, O_MIN(n->replicas, 8), &req->critical, cpl.who);
	need  = cpl.r / 2 + 1;
	for (i = 0; i < cpl.r; i++)
		crit_member[cpl.who[i]] = true;

	/* phase 1: the critical block's replicas commit it, and with it
	 * (atomically on each) their other blocks */
	cs = calls_new(ms, k);
	for (j = 0; j < k; j++) {
		struct oc_bid *sub;
		size_t         q;

		if (!crit_member[j] || (skip & ((uint64_t) 1 << j)))
			continue;
		c   = member_ids(pl, req->n, j, idx);
		sub = o_malloc((c + 1) * sizeof(*sub));
		sub[0] = req->critical;
		for (q = 0; q < c; q++)
			sub[q + 1] = req->ids[idx[q]];
		cs[j].op = ids_op(OTR_T_COMMIT, &req->aid, req->rev, sub, NULL,
		    c + 1);
		oc_map_set(&cs[j].op, "crit", oc_bid_val(&req->critical));
		if (!oc_bid_is_zero(&req->col))
			oc_map_set(&cs[j].op, "col", oc_bid_val(&req->col));
		free(sub);
	}
	{
		/* decided once a majority of the critical block's replicas
		 * committed; the others get a bounded grace (their commits
		 * still go if left) */
		struct commitq cq = { &cpl, 1, NULL };
		struct quorum  q  = { commit_enough, &cq, WRITE_GRACE(n) };

		calls_run_q(n, cs, k, deadline, &q);
	}
	for (j = 0; j < k; j++) {
		if (!crit_member[j] || !cs[j].had_op)
			continue;
		nasked++;
		crit_done[j] = answered(&cs[j]) && cs[j].ae == O_OK;
		told[j] =
		    crit_done[j] && oc_map_bool(&cs[j].ans, "told", false);
		if (crit_done[j])
			okn++;
		else {
			if ((answered(&cs[j]) && commit_refused(cs[j].ae)) ||
			    cs[j].unsent)
				nrefused++;
			if (answered(&cs[j])) {
				nexpired += cs[j].ae == O_EEXPIRED;
				if (cs[j].ae == O_ESTALE) {
					nstale++;
					(void) otr_get_txres(
					    &cs[j].ans, "x", res);
				}
			}
			if (why[0] == '\0')
				snprintf(why, sizeof(why), "%s", cs[j].detail);
		}
	}
	calls_fini(cs, k);
	if (okn < need) {
		/*
		 * Certain that the action is not decided, now or later, only
		 * when no critical replica committed and every one asked
		 * refused it before writing (commit_refused) or was never
		 * sent the commit: no log block names the action anywhere,
		 * so no read promotes its pendings.
		 * Then O_ESTALE or O_EEXPIRED (the writer cancels and goes
		 * on); otherwise O_EUNAVAIL: in doubt, its pendings are left
		 * to a read or their expiry (core/transactor.h).  One
		 * unanswered replica may have committed, or may yet, and a
		 * stale answer says nothing of the others: a replica is
		 * stale at any revision at or above ours, which may have
		 * been built on our own action committed elsewhere.  Certain
		 * failures of other kinds are answered O_EUNAVAIL too (the
		 * writer waits its pendings out: slower, not wrong).
		 */
		bool certain = okn == 0 && nrefused == nasked;

		if (certain && nstale > 0)
			e = O_ESTALE;
		else if (certain && nasked > 0 && nexpired == nasked)
			e = O_EEXPIRED;
		else
			e = O_EUNAVAIL;
		e = o_err_set(e,
		    "commit of action %s at rev %" PRId64
		    ": critical block %s committed on %zu of %zu replicas "
		    "(need %zu)%s: %s",
		    oc_aid_str(&req->aid, as), req->rev,
		    oc_bid_str(&req->critical, s), okn, cpl.r, need,
		    certain ? "" : ", outcome in doubt until read", why);
		if (res->reason[0] == '\0')
			snprintf(res->reason, sizeof(res->reason), "%s",
			    o_err_detail());
		goto out;
	}
	/* decided.  phase 2: members that do not hold the critical block */
	phase2(n, req, ms, k, pl, crit_member, crit_done, skip, deadline);
	/* every other member that committed the critical block told its
	 * own mount (serve_op, "told"); the feed is for the rest */
	for (j = 0; j < k && (ms[j]->self || told[j]); j++)
		;
	if (!oc_bid_is_zero(&req->col) && j < k)
		otr_node_publish(n, &req->col, req->rev);
out:
	free(told);
	free(crit_done);
	free(crit_member);
	free(idx);
	free(pl);
	return e;
}

static o_err
net_cancel(struct oc_transactor *t, const struct oc_aid *aid,
    const struct oc_bid *ids, size_t nids)
{
	struct otr_node *n = (struct otr_node *) t;
	struct member   *ms[MAX_MEMBERS];
	size_t           k = members(n, ms), i, q;
	struct placed   *pl    = o_calloc(nids + 1, sizeof(*pl));
	bool            *where = o_calloc((nids + 1) * (k + 1), sizeof(bool));

	place_all(n, ms, k, ids, nids, pl);
	for (i = 0; i < nids; i++)
		for (q = 0; q < pl[i].r; q++)
			where[i * k + pl[i].who[q]] = true;
	cancel_blocks(n, ms, k, ids, nids, aid, where, NULL, deadline_of(n),
	    CANCEL_HEARD);
	free(where);
	free(pl);
	return O_OK;
}

static o_err
net_status(struct oc_transactor *t, const struct oc_aid *aid, int64_t rev,
    const struct oc_bid *ids, size_t nids, uint8_t *out)
{
	struct otr_node *n = (struct otr_node *) t;
	struct member   *ms[MAX_MEMBERS];
	size_t           k = members(n, ms), i, j, q, c;
	struct placed   *pl  = o_calloc(nids + 1, sizeof(*pl));
	size_t          *idx = o_calloc(nids + 1, sizeof(*idx));
	size_t          *cnt = o_calloc((nids + 1) * 4, sizeof(*cnt));
	struct call     *cs  = calls_new(ms, k);
	o_err            e   = O_OK;

	place_all(n, ms, k, ids, nids, pl);
	for (j = 0; j < k; j++)
		if ((c = member_ids(pl, nids, j, idx)) > 0)
			cs[j].op = ids_op(OTR_T_STATUS, aid, rev, ids, idx, c);
	calls_run(n, cs, k, deadline_of(n));
	for (j = 0; j < k; j++) {
		const struct oc_val *st;

		c = member_ids(pl, nids, j, idx);
		if (c == 0 || !answered(&cs[j]) ||
		    (st = oc_map_arr(&cs[j].ans, "st")) == NULL ||
		    oc_arr_len(st) != c)
			continue;
		for (q = 0; q < c; q++) {
			const struct oc_val *v = oc_arr_at(st, q);

			if (v->type == OC_INT && v->u.i >= 0 && v->u.i < 4)
				cnt[idx[q] * 4 + (size_t) v->u.i]++;
		}
	}
	for (i = 0; i < nids; i++) {
		size_t *ct = &cnt[i * 4];

		/* committed: on a majority (a commit on fewer is in doubt
		 * and must not be acknowledged on its strength) */
		if (ct[OC_ST_COMMITTED] >= pl[i].r / 2 + 1)
			out[i] = OC_ST_COMMITTED;
		else if (ct[OC_ST_PENDING] > 0)
			out[i] = OC_ST_PENDING;
		else if (ct[OC_ST_ABORTED] >= pl[i].r / 2 + 1)
			out[i] = OC_ST_ABORTED;
		else {
			out[i] = OC_ST_UNKNOWN;
			e      = o_err_set(O_EUNAVAIL,
			         "status: too few replicas answered");
		}
	}
	calls_fini(cs, k);
	free(cnt);
	free(idx);
	free(pl);
	return e;
}

static const struct oc_transactor_ops net_ops = {
	.get    = net_get,
	.pend   = net_pend,
	.commit = net_commit,
	.cancel = net_cancel,
	.status = net_status,
};

struct oc_transactor *
otr_node_transactor(struct otr_node *n)
{
	return &n->base;
}

/* ---- the server, gossip and the feed ---------------------------------- */

static struct oc_val
hello_answer(struct otr_node *n, const struct oc_val *op)
{
	char                 name[64], url[256];
	const struct oc_val *known = oc_map_arr(op, "known");
	struct oc_val        a;
	o_err                e;

	if (otr_get_text(op, "name", name, sizeof(name)) != O_OK ||
	    otr_get_text(op, "url", url, sizeof(url)) != O_OK)
		return otr_wire_answer(O_EBADMSG, o_err_detail());
	/* each known name is compared with every member's */
	if (known != NULL && oc_arr_len(known) > MAX_MEMBERS) {
		(void) o_err_set(O_EBADMSG,
		    "the hello names %zu known members, more than %d",
		    oc_arr_len(known), MAX_MEMBERS);
		return otr_wire_answer(O_EBADMSG, o_err_detail());
	}
	/* a sender not yet a member joins with its own card; a known name
	 * is not checked again, and nothing else the hello says is taken
	 * on its word: the answer only tells the sender what it lacks */
	if ((e = member_offer(n, name, url, oc_map_get(op, "cert"),
	         oc_map_get(op, "sig"))) != O_OK) {
		o_log(O_LOG_WARN, "a hello claiming to be %s refused: %s",
		    name, o_err_detail());
		return otr_wire_answer(e, o_err_detail());
	}
	members_keep(n);
	a = otr_wire_answer(O_OK, "");
	oc_map_set(&a, "name", oc_text(n->name));
	oc_map_set(&a, "members", members_val(n, known));
	return a;
}

static struct oc_val
hello_op(struct otr_node *n)
{
	struct oc_val op = oc_map();

	oc_map_set(&op, "t", oc_text(OTR_T_HELLO));
	oc_map_set(&op, "name", oc_text(n->name));
	oc_map_set(&op, "url", oc_text(n->url));
	if (n->card.cert != NULL) {
		oc_map_set(
		    &op, "cert", oc_bytes(n->card.cert, n->card.cert_len));
		oc_map_set(&op, "sig", oc_bytes(n->card.sig, n->card.sig_len));
	}
	oc_map_set(&op, "known", members_names(n));
	return op;
}

/*
 * Batches, server side.  The worker that got a batch runs its requests
 * itself, level by level (batch_levels): each commit of a level is staged
 * (otr_exec_begin: validated, its write in the replica's open group
 * commit) and the others run whole, then the level's commits are ended
 * (otr_exec_end): the first waits for the group's synced write, which the
 * others usually share (store/repo.c).  A batch takes the sum of its
 * requests' times, not the longest: they are small (a large write travels
 * alone), and the other workers serve other batches meanwhile.  Handing
 * each request to a thread of its own cost two context switches a
 * request, and the pends' unsynced writes queued in RocksDB's write
 * thread.
 */
/* The blocks request op touches (a pend's transform set, the ids of the
 * others) into *out (malloc'd); their count. */
static size_t
op_block_ids(const struct oc_val *op, struct oc_bid **out)
{
	const struct oc_val *a;
	size_t               i, n = 0;
	bool                 pend;

	*out = NULL;
	if (op->type != OC_MAP)
		return 0;
	pend = (a = oc_map_arr(op, "tfs")) != NULL;
	if (!pend && (a = oc_map_arr(op, "ids")) == NULL)
		return 0;
	*out = o_malloc((oc_arr_len(a) + 1) * sizeof(**out));
	for (i = 0; i < oc_arr_len(a); i++) {
		const struct oc_val *e = oc_arr_at(a, i);

		if (pend)
			e = e->type == OC_ARRAY && oc_arr_len(e) == 2
			    ? oc_arr_at(e, 0)
			    : NULL;
		if (e != NULL && oc_bid_from(e, &(*out)[n]))
			n++;
	}
	return n;
}

struct xjob {
	struct oc_val    op;   /* the decoded request (null: out is set) */
	struct o_buf     out;  /* its answer */
	struct otr_held *held; /* a staged commit, to end */
};

static struct oc_val serve_op(struct otr_node *n, const struct oc_val *op,
    bool in_batch);
static void          notify_local(
             struct otr_node *n, const struct oc_bid *col, int64_t rev);

static void commit_told(
    struct otr_node *n, const struct oc_val *op, struct oc_val *a);

/* One request of a batch: its answer's bytes, or a commit staged. */
static void
xjob_begin(struct otr_node *n, struct xjob *j)
{
	const char   *t;
	struct oc_val ans;

	if (j->op.type == OC_NULL)
		return;
	t = oc_map_text(&j->op, "t");
	if (t != NULL && strcmp(t, OTR_T_COMMIT) == 0) {
		ans = otr_exec_begin(&n->conf.replica, &j->op, &j->held);
		if (j->held != NULL)
			return;
		commit_told(n, &j->op, &ans);
	} else {
		ans = serve_op(n, &j->op, true);
	}
	oc_encode(&ans, &j->out);
	oc_val_fini(&ans);
}

/* A staged commit's answer's bytes, once its group is written. */
static void
xjob_end(struct otr_node *n, struct xjob *j)
{
	struct oc_val ans = otr_exec_end(&n->conf.replica, j->held);

	j->held = NULL;
	commit_told(n, &j->op, &ans);
	oc_encode(&ans, &j->out);
	oc_val_fini(&ans);
}

/*
 * The level of each of the k requests of a batch (lvl[], the highest
 * returned): one more than the highest level of the earlier requests on
 * any of its blocks.  Requests of one level touch distinct blocks.
 */
static size_t
batch_levels(const struct xjob *js, size_t k, size_t *lvl)
{
	struct oc_bidset seen = { 0 };
	struct oc_bid  **ids  = o_calloc(k, sizeof(*ids));
	size_t          *nid  = o_calloc(k, sizeof(*nid));
	size_t          *next, i, q, total = 0, top = 0;

	for (i = 0; i < k; i++)
		total += nid[i] = op_block_ids(&js[i].op, &ids[i]);
	oc_bidset_reserve(&seen, total);
	next = o_calloc(seen.cap, sizeof(*next)); /* per slot: level + 1 */
	for (i = 0; i < k; i++) {
		lvl[i] = 0;
		for (q = 0; q < nid[i]; q++)
			lvl[i] = O_MAX(lvl[i], next[oc_bidset_slot(&seen,
			                           &ids[i][q])]);
		for (q = 0; q < nid[i]; q++)
			next[oc_bidset_slot(&seen, &ids[i][q])] = lvl[i] + 1;
		top = O_MAX(top, lvl[i]);
		free(ids[i]);
	}
	free(next);
	free(nid);
	free(ids);
	oc_bidset_fini(&seen);
	return top;
}

/* The requests of a batch: a byte string each, 1 to OTR_BATCH_OPS. */
static o_err
batch_ops(const struct oc_val *op, const struct oc_val **ops, size_t *k)
{
	size_t i;

	*ops = oc_map_arr(op, "ops");
	*k   = *ops != NULL ? oc_arr_len(*ops) : 0;
	if (*k == 0 || *k > OTR_BATCH_OPS)
		return o_err_set(O_EBADMSG,
		    "field ops: not an array of 1 to %d requests",
		    OTR_BATCH_OPS);
	for (i = 0; i < *k; i++)
		if (oc_arr_at(*ops, i)->type != OC_BYTES)
			return o_err_set(O_EBADMSG,
			    "field ops[%zu]: not the bytes of a request", i);
	return O_OK;
}

static struct oc_val
serve_batch(struct otr_node *n, const struct oc_val *op)
{
	const struct oc_val *ops;
	struct xjob         *js;
	struct oc_val        a, r;
	size_t               k, i, l, top, *lvl, total = 0;
	o_err                e;

	if ((e = batch_ops(op, &ops, &k)) != O_OK)
		return otr_wire_answer(e, o_err_detail());
	js = o_calloc(k, sizeof(*js));
	for (i = 0; i < k; i++) {
		const struct oc_val *q = oc_arr_at(ops, i);

		if ((e = otr_wire_parse_request(
		         q->u.s.p, q->u.s.n, &js[i].op)) != O_OK) {
			struct oc_val ans = otr_wire_answer(e, o_err_detail());

			js[i].op = oc_null();
			oc_encode(&ans, &js[i].out);
			oc_val_fini(&ans);
		}
	}
	/* by levels: a request on a block an earlier one touches runs after
	 * it (a coordinator's commit, then its next pend; a pend, then its
	 * cancel) */
	lvl = o_calloc(k, sizeof(*lvl));
	top = batch_levels(js, k, lvl);
	for (l = 0; l <= top; l++) {
		for (i = 0; i < k; i++)
			if (lvl[i] == l)
				xjob_begin(n, &js[i]);
		for (i = 0; i < k; i++)
			if (lvl[i] == l && js[i].held != NULL)
				xjob_end(n, &js[i]);
	}
	free(lvl);
	r = oc_array();
	for (i = 0; i < k; i++) {
		total += js[i].out.len;
		oc_arr_push(&r, oc_bytes(js[i].out.data, js[i].out.len));
		o_buf_fini(&js[i].out);
		oc_val_fini(&js[i].op);
	}
	free(js);
	/* each answer's framing, and the envelope (never for our own
	 * client's batches: theirs are small) */
	if (total + 16 * k + 4096 > OTR_MSG_MAX) {
		oc_val_fini(&r);
		return otr_wire_answer(O_ETOOBIG,
		    "the answers of this batch exceed the message limit");
	}
	a = otr_wire_answer(O_OK, "");
	oc_map_set(&a, "r", r);
	return a;
}

/* Execute one decoded request (a batch's own requests: in_batch). */
static struct oc_val
serve_op(struct otr_node *n, const struct oc_val *op, bool in_batch)
{
	const char *t = oc_map_text(op, "t");

	if (strcmp(t, OTR_T_BATCH) == 0)
		return in_batch ? otr_wire_answer(
		                      O_EBADMSG, "a batch inside a batch")
		                : serve_batch(n, op);
	if (in_batch && !otr_wire_batchable(t))
		return otr_wire_answer(O_EBADMSG,
		    "only pend, commit, cancel and status go in a batch");
	if (strcmp(t, OTR_T_HELLO) == 0)
		return hello_answer(n, op);
	if (strcmp(t, OTR_T_COMMIT) == 0) {
		struct oc_val a = otr_exec(&n->conf.replica, op);

		commit_told(n, op, &a);
		return a;
	}
	return otr_exec(&n->conf.replica, op);
}

/*
 * A commit naming its collection ("col") is told to this node's mount once
 * done here, and its answer a says so ("told"): its coordinator publishes
 * no feed message when every other member said it.
 */
static void
commit_told(struct otr_node *n, const struct oc_val *op, struct oc_val *a)
{
	struct oc_bid col;
	int64_t       rev;

	if (oc_map_int(a, "e", -1) == O_OK && oc_map_get(op, "col") != NULL &&
	    otr_get_bid(op, "col", &col) == O_OK &&
	    otr_get_int(op, "rev", &rev) == O_OK) {
		notify_local(n, &col, rev);
		oc_map_set(a, "told", oc_bool(true));
	}
}

/* A request from peer (the link server's worker): its answer in ans. */
static void
serve_request(void *arg, const uint8_t *req, size_t len, const char *peer,
    struct o_buf *ans)
{
	struct otr_node *n = arg;
	struct oc_val    op, a;
	o_err            e = otr_wire_parse_request(req, len, &op);

	if (e != O_OK) {
		o_log(O_LOG_WARN, "bad request from %s: %s", peer,
		    o_err_detail());
		a = otr_wire_answer(e, o_err_detail());
	} else {
		a = serve_op(n, &op, false);
	}
	oc_val_fini(&op);
	oc_encode(&a, ans);
	oc_val_fini(&a);
}

/* One hello round with every member connected: the membership spreads.
 * One not connected is left out: its hello could only fail unsent (its
 * link dials it again by itself), and would count in its calls and failures
 * as a request that never was. */
static void
gossip_once(struct otr_node *n)
{
	struct member *ms[MAX_MEMBERS];
	size_t         k = members(n, ms), j;
	struct call   *cs = calls_new(ms, k);

	for (j = 0; j < k; j++)
		if (!ms[j]->self && member_up(ms[j]))
			cs[j].op = hello_op(n);
	calls_run(n, cs, k, o_mono_ms() + 1000);
	for (j = 0; j < k; j++) {
		if (answered(&cs[j]) && cs[j].ae == O_OK)
			members_merge(
			    n, oc_map_arr(&cs[j].ans, "members"), ms[j]->name);
		repair_quiet_note(ms[j], o_mono_ms());
	}
	calls_fini(cs, k);
	if (k > 1) /* a cluster now: its replicas may be here */
		otr_node_served(n);
}

static void *
gossip(void *arg)
{
	struct otr_node *n = arg;
	int              i;

	(void) pthread_setname_np(pthread_self(), "otr-gossip");
	while (!atomic_load(&n->stop)) {
		gossip_once(n);
		for (i = 0; i < 10 && !atomic_load(&n->stop); i++)
			o_sleep_ms(100);
	}
	return NULL;
}

/* The entry of col among q[0..k), or k. */
static size_t
feed_find(const struct feed_ent *q, size_t k, const struct oc_bid *col)
{
	size_t i;

	for (i = 0; i < k && !oc_bid_eq(&q[i].col, col); i++)
		;
	return i;
}

/*
 * Note a change for this node's own mount (none: nothing to tell).  Each
 * collection is queued once, with the highest revision noted; the
 * notifier thread tells them in the order first noted.  Never blocks on
 * the mount: a server worker or the feed thread calls this, and telling
 * the mount may wait for the kernel, whose locks a FUSE request may hold
 * while it waits for a peer's answer.
 */
static void
notify_local(struct otr_node *n, const struct oc_bid *col, int64_t rev)
{
	size_t i;

	if (n->conf.on_change == NULL)
		return;
	pthread_mutex_lock(&n->lmtx);
	/* coalesced while the queue is short (a mount that stopped taking
	 * changes during a burst would make the search quadratic); past
	 * NOTIFY_MAX dropped, a hint as the feed is (nng drops too) */
	i = n->nlq <= FEED_MAX ? feed_find(n->lq, n->nlq, col) : n->nlq;
	if (i < n->nlq) {
		n->lq[i].rev = O_MAX(n->lq[i].rev, rev);
	} else if (!n->lstop && n->nlq < NOTIFY_MAX) {
		if (n->nlq == n->lcap) {
			n->lcap = n->lcap ? 2 * n->lcap : 64;
			n->lq   = o_realloc(n->lq, n->lcap * sizeof(*n->lq));
		}
		n->lq[n->nlq].col   = *col;
		n->lq[n->nlq++].rev = rev;
		if (n->nlq == 1) {
			n->lfirst = o_mono_ms();
			pthread_cond_signal(&n->lcv);
		}
	}
	pthread_mutex_unlock(&n->lmtx);
}

/* The notifier: tells the mount what notify_local queued,
 * NOTIFY_DELAY_MS after the first of them was noted (a replica notes its
 * commit before the other replicas may have theirs: a mount reading at
 * once would find them behind and repair them).  What is still queued at
 * stop is dropped (a hint: the mount is closing). */
static void *
notifier(void *arg)
{
	struct otr_node *n   = arg;
	struct feed_ent *es  = NULL;
	size_t           cap = 0;

	(void) pthread_setname_np(pthread_self(), "otr-notify");
	pthread_mutex_lock(&n->lmtx);
	for (;;) {
		size_t k, i;

		if (n->lstop)
			break;
		if (n->nlq == 0) {
			pthread_cond_wait(&n->lcv, &n->lmtx);
			continue;
		}
		if (o_mono_ms() < n->lfirst + NOTIFY_DELAY_MS) {
			(void) o_cond_wait_until(
			    &n->lcv, &n->lmtx, n->lfirst + NOTIFY_DELAY_MS);
			continue;
		}
		k = n->nlq;
		if (k > cap) {
			cap = n->lcap;
			es  = o_realloc(es, cap * sizeof(*es));
		}
		memcpy(es, n->lq, k * sizeof(*es));
		n->nlq = 0;
		pthread_mutex_unlock(&n->lmtx);
		for (i = 0; i < k; i++)
			n->conf.on_change(
			    n->conf.change_arg, &es[i].col, es[i].rev);
		pthread_mutex_lock(&n->lmtx);
	}
	pthread_mutex_unlock(&n->lmtx);
	free(es);
	return NULL;
}

/* One [col, rev] pair of a feed message, checked. */
static bool
feed_pair(const struct oc_val *p, struct oc_bid *col, int64_t *rev)
{
	const struct oc_val *a, *b;

	if (p->type != OC_ARRAY || oc_arr_len(p) != 2)
		return false;
	a = oc_arr_at(p, 0);
	b = oc_arr_at(p, 1);
	if (a->type != OC_BYTES || a->u.s.n != sizeof(col->b) ||
	    b->type != OC_INT)
		return false;
	memcpy(col->b, a->u.s.p, sizeof(col->b));
	*rev = b->u.i;
	return true;
}

static void *
feed(void *arg)
{
	struct otr_node *n = arg;

	(void) pthread_setname_np(pthread_self(), "otr-feed");
	while (!atomic_load(&n->stop)) {
		nng_msg      *msg;
		struct oc_val m;
		struct oc_bid col;
		int64_t       rev = 0;
		char          from[64];
		int           rv;

		if ((rv = nng_recvmsg(n->sub, &msg, 0)) != 0) {
			if (rv == NNG_ECLOSED)
				break;
			continue;
		}
		if (oc_decode_lim(nng_msg_body(msg), nng_msg_len(msg), &m,
		        &oc_limits_default) == O_OK) {
			const struct oc_val *c = oc_map_arr(&m, "c");
			size_t               i;

			if (c != NULL &&
			    oc_map_int(&m, "v", 0) == OTR_WIRE_VERSION &&
			    otr_get_text(&m, "from", from, sizeof(from)) ==
			        O_OK &&
			    strcmp(from, n->name) != 0)
				for (i = 0; i < oc_arr_len(c); i++) {
					const struct oc_val *p = oc_arr_at(c, i);

					if (feed_pair(p, &col, &rev))
						notify_local(n, &col, rev);
				}
			oc_val_fini(&m);
		}
		nng_msg_free(msg);
	}
	return NULL;
}

/* Send the feed messages for es[0..k) (no lock held). */
static void
feed_send(struct otr_node *n, const struct feed_ent *es, size_t k)
{
	size_t i, j;

	for (i = 0; i < k; i += FEED_PER_MSG) {
		struct oc_val m = oc_map(), c = oc_array();
		struct o_buf  b = { 0 };

		for (j = i; j < k && j < i + FEED_PER_MSG; j++) {
			struct oc_val p = oc_array();

			oc_arr_push(&p, oc_bid_val(&es[j].col));
			oc_arr_push(&p, oc_int(es[j].rev));
			oc_arr_push(&c, p);
		}
		oc_map_set(&m, "v", oc_int(OTR_WIRE_VERSION));
		oc_map_set(&m, "c", c);
		oc_map_set(&m, "from", oc_text(n->name));
		oc_encode(&m, &b);
		oc_val_fini(&m);
		if (nng_send(n->pub, b.data, b.len, NNG_FLAG_NONBLOCK) == 0)
			atomic_fetch_add(&n->feed_msgs, 1);
		o_buf_fini(&b);
	}
}

/*
 * The feed's sender.  A commit only notes its collection and revision
 * (otr_node_publish); this thread sends what is noted, at once after a
 * quiet spell, else FEED_GAP_MS after its last message, so a busy
 * collection costs at most one message per gap (its latest revision)
 * and the commit path never waits for nng.  What is noted at stop is
 * sent before the thread ends.
 */
static void *
publisher(void *arg)
{
	struct otr_node *n    = arg;
	struct feed_ent *es   = o_malloc(FEED_MAX * sizeof(*es));
	int64_t          last = 0;

	(void) pthread_setname_np(pthread_self(), "otr-publisher");
	pthread_mutex_lock(&n->fmtx);
	for (;;) {
		int64_t gap = last + FEED_GAP_MS - o_mono_ms();
		size_t  k;

		if (n->nfq == 0) {
			if (n->fstop)
				break;
			pthread_cond_wait(&n->fcv, &n->fmtx);
			continue;
		}
		if (gap > 0 && !n->fstop) {
			(void) o_cond_wait_until(
			    &n->fcv, &n->fmtx, o_mono_ms() + gap);
			continue;
		}
		k = n->nfq;
		memcpy(es, n->fq, k * sizeof(*es));
		n->nfq = 0;
		pthread_mutex_unlock(&n->fmtx);
		feed_send(n, es, k);
		last = o_mono_ms();
		pthread_mutex_lock(&n->fmtx);
	}
	pthread_mutex_unlock(&n->fmtx);
	free(es);
	return NULL;
}

void
otr_node_publish(struct otr_node *n, const struct oc_bid *col, int64_t rev)
{
	struct feed_ent *full = NULL;
	size_t           i, k = 0;

	pthread_mutex_lock(&n->fmtx);
	if ((i = feed_find(n->fq, n->nfq, col)) < n->nfq) {
		n->fq[i].rev = O_MAX(n->fq[i].rev, rev);
	} else {
		if (n->nfq == FEED_MAX) { /* the sender is behind: send here */
			k    = n->nfq;
			full = o_malloc(k * sizeof(*full));
			memcpy(full, n->fq, k * sizeof(*full));
			n->nfq = 0;
		}
		n->fq[n->nfq].col   = *col;
		n->fq[n->nfq++].rev = rev;
		if (n->nfq == 1)
			pthread_cond_signal(&n->fcv);
	}
	pthread_mutex_unlock(&n->fmtx);
	if (full != NULL) {
		feed_send(n, full, k);
		free(full);
	}
}

/* ---- start and stop --------------------------------------------------- */

/* Hello to url until it answers or the deadline passes.  *self: the node
 * that answered is this one (O_OK, nothing joined). */
static o_err
join_one(struct otr_node *n, const char *url, int64_t deadline, bool *self)
{
	struct member *tmp = o_calloc(1, sizeof(*tmp));
	struct member *ms[1] = { tmp };
	struct call   *cs;
	char           last[256] = "", why[256] = "";
	int64_t        now;
	o_err          e;

	snprintf(tmp->name, sizeof(tmp->name), "(joining)");
	snprintf(tmp->url, sizeof(tmp->url), "%s", url);
	if ((e = dial_link(n, url, NULL, tmp)) != O_OK) {
		free(tmp);
		return e;
	}
	slots_make(tmp);
	e = O_ETIMEDOUT;
	while (e == O_ETIMEDOUT && o_mono_ms() < deadline) {
		if (!otr_link_up(tmp->link, why, sizeof(why))) {
			o_sleep_ms(20);
			continue;
		}
		why[0]   = '\0';
		cs       = calls_new(ms, 1);
		cs[0].op = hello_op(n);
		now      = o_mono_ms();
		calls_run(n, cs, 1, O_MIN(deadline, now + 1000));
		if (answered(&cs[0]) && cs[0].ae == O_OK) {
			char who[64] = "", had[256];
			bool known;

			(void) otr_get_text(
			    &cs[0].ans, "name", who, sizeof(who));
			*self = strcmp(who, n->name) == 0;
			(void) members_merge(
			    n, oc_map_arr(&cs[0].ans, "members"), url);
			(void) member_room(n, who, &known, had, sizeof(had));
			/* joined once the member that answered is one (a
			 * kept list knows others already), or url is this
			 * very node: nothing to join there */
			e = known || *self
			    ? O_OK
			    : o_err_set(O_EPERM,
			          "%s answered, but none of the members "
			          "it named could be taken (see the "
			          "log)",
			          url);
		} else if (answered(&cs[0]) &&
		    (cs[0].ae == O_EPERM || cs[0].ae == O_EINVAL ||
		        cs[0].ae == O_EBADMSG || cs[0].ae == O_EBUSY)) {
			/* refused for good: our card, our name, or a full
			 * list (members are never removed; a peer of another
			 * protocol version is not told apart from a garbled
			 * answer: retried until the deadline) */
			e = o_err_set(cs[0].ae, "%s refused our hello: %s",
			    url, cs[0].detail);
		} else {
			snprintf(last, sizeof(last), "%s", cs[0].detail);
		}
		calls_fini(cs, 1);
		if (e != O_ETIMEDOUT)
			break;
		o_sleep_ms(100);
	}
	slots_drain(tmp);
	if (tmp->tls != NULL)
		nng_tls_config_free(tmp->tls);
	free(tmp);
	if (e == O_ETIMEDOUT && last[0] != '\0')
		e = o_err_set(O_EUNAVAIL, "%s", last);
	else if (e == O_ETIMEDOUT)
		e = o_err_set(O_EUNAVAIL, "no connection to %s%s%s", url,
		    why[0] != '\0' ? ": " : "", why);
	return e;
}

o_err
otr_node_start(const struct otr_node_conf *conf, struct otr_node **out)
{
	struct otr_node *n;
	int64_t          deadline;
	size_t           i;
	int              rv;
	o_err            e;
	char             served[PATH_MAX];
	bool             mark = false;

	*out = NULL;
	if (conf->name == NULL || conf->listen_url == NULL ||
	    conf->replica.tx == NULL || conf->replica.latest == NULL ||
	    (!conf->insecure && conf->certs_dir == NULL))
		return o_err_set(O_EINVAL,
		    "a node needs a name, a listen URL, a replica and "
		    "(unless insecure) a cluster directory");
	n = o_calloc(1, sizeof(*n));
	n->base.ops = &net_ops;
	n->conf     = *conf;
	snprintf(n->name, sizeof(n->name), "%s", conf->name);
	snprintf(n->url, sizeof(n->url), "%s", conf->listen_url);
	n->certs      = conf->certs_dir ? o_strdup(conf->certs_dir) : NULL;
	/* the strings used after the start are the node's own copies (a
	 * caller's stack buffer named every node's kept list after the last
	 * node started in a process); the others are the start's only */
	n->conf.name         = n->name;
	n->conf.listen_url   = n->url;
	n->conf.certs_dir    = n->certs;
	n->conf.members_path = n->members_path =
	    conf->members_path ? o_strdup(conf->members_path) : NULL;
	n->conf.join  = NULL;
	n->conf.njoin = 0;
	n->timeout_ms = conf->timeout_ms > 0 ? conf->timeout_ms : 5000;
	n->replicas   = conf->replicas > 0 ? O_MIN(conf->replicas, 8) : 3;
	if (getenv("OPTIMFS_TEST_DIE_AFTER_PEND") != NULL)
		n->die_after = atol(getenv("OPTIMFS_TEST_DIE_AFTER_PEND"));
	pthread_mutex_init(&n->mtx, NULL);
	pthread_mutex_init(&n->emtx, NULL);
	pthread_mutex_init(&n->kmtx, NULL);
	pthread_mutex_init(&n->fmtx, NULL);
	o_cond_init_mono(&n->fcv);
	pthread_mutex_init(&n->lmtx, NULL);
	o_cond_init_mono(&n->lcv);
	if ((e = feed_url(n->url, n->feed, sizeof(n->feed))) != O_OK)
		goto fail;
	if (!conf->insecure &&
	    (e = otr_tls_config_alloc(n->certs, n->name, OTR_TLS_SERVER, NULL,
	         &n->srv_tls)) != O_OK)
		goto fail;
	if ((rv = nng_pub0_open(&n->pub)) != 0 ||
	    (rv = nng_sub0_open(&n->sub)) != 0) {
		e = nfail(rv, "sockets for", n->url);
		goto fail;
	}
	nng_socket_set_size(n->sub, NNG_OPT_RECVMAXSZ, 4096);
	/* a burst of commits of many collections is a burst of feed
	 * messages (FEED_PER_MSG pairs each), and pub0 drops what does not
	 * fit its per-subscriber queue (16 messages by default: a loaded
	 * CI machine lost some of 40); sub0's queue (128) too.  Not fatal:
	 * the feed is a cache hint */
	if ((rv = nng_socket_set_int(n->pub, NNG_OPT_SENDBUF, FEED_QUEUE)) !=
	    0)
		o_log(O_LOG_WARN,
		    "%s: the change feed's publisher keeps nng's default "
		    "queue (%s): a burst of commits may lose feed messages",
		    n->url, nng_strerror(rv));
	if ((rv = nng_socket_set_int(n->sub, NNG_OPT_RECVBUF, FEED_QUEUE)) !=
	    0)
		o_log(O_LOG_WARN,
		    "%s: the change feed's subscriber keeps nng's default "
		    "queue (%s): a burst of commits may lose feed messages",
		    n->url, nng_strerror(rv));
	nng_socket_set_ms(n->sub, NNG_OPT_RECVTIMEO, 200);
	nng_socket_set(n->sub, NNG_OPT_SUB_SUBSCRIBE, "", 0);
	nng_socket_set_ms(n->sub, NNG_OPT_RECONNMINT, 50);
	nng_socket_set_ms(n->sub, NNG_OPT_RECONNMAXT, 1000);
	if ((e = otr_tls_check_url(n->url, n->srv_tls, conf->insecure)) !=
	        O_OK ||
	    (e = otr_tls_listen(
	         n->pub, n->feed, n->srv_tls, conf->insecure, NULL)) != O_OK)
		goto fail;
	if (!conf->insecure &&
	    ((e = otr_pki_card_make(n->certs, n->name, n->url, &n->card)) !=
	            O_OK ||
	        (e = otr_pki_ca_load(n->certs, &n->ca)) != O_OK))
		goto fail;
	pthread_mutex_lock(&n->mtx);
	e = member_add(n, n->name, n->url, conf->insecure ? NULL : &n->card);
	pthread_mutex_unlock(&n->mtx);
	if (e != O_OK || (e = members_load(n)) != O_OK)
		goto fail;
	if (pthread_create(&n->pubt, NULL, publisher, n) != 0) {
		e = o_err_set(O_EINTERNAL, "cannot start the feed thread");
		goto fail;
	}
	n->pub_started = true;
	if (pthread_create(&n->notifiert, NULL, notifier, n) != 0) {
		e = o_err_set(O_EINTERNAL, "cannot start the notifier thread");
		goto fail;
	}
	n->notifier_started = true;
	/* the peer server starts once this node can answer a hello */
	if ((e = otr_link_listen(n->url, n->srv_tls, conf->insecure,
	         OTR_MSG_MAX, NWORKERS, serve_request, n, &n->srv)) != O_OK)
		goto fail_threads;
	deadline = o_mono_ms() + O_MAX(n->timeout_ms, 10000);
	{
		char   why[512] = "";
		size_t nself    = 0;
		bool   joined = false, refused = false;

		for (i = 0; i < conf->njoin && !joined; i++) {
			bool self = false;

			/* a restart knows its members (kept): a join URL
			 * that is down is tried for a second, not 10 */
			e = join_one(n, conf->join[i],
			    n->kept > 1 ? O_MIN(deadline, o_mono_ms() + 1000)
			                : deadline,
			    &self);
			if (e == O_OK && self) {
				/* every node may be given the same seeds,
				 * this one among them */
				o_log(O_LOG_INFO, "join %s: that is this node",
				    conf->join[i]);
				nself++;
			} else if (e == O_OK) {
				joined = true;
			} else {
				/* refused for good (join_one: our card, our
				 * name, a full list), not just unreachable */
				refused = refused ||
				    (e != O_EUNAVAIL && e != O_ETIMEDOUT);
				snprintf(
				    why, sizeof(why), "%s", o_err_detail());
				o_log(O_LOG_WARN, "join %s: %s", conf->join[i],
				    why);
			}
		}
		if (conf->njoin > 0 && !joined && nself < conf->njoin &&
		    n->kept > 1 && !refused) {
			/* a restart: the members it kept are its cluster,
			 * and the one given to join may be down with the
			 * rest (a cold start of a stopped cluster); a
			 * refusal still stops the start */
			o_log(O_LOG_WARN,
			    "could not join the cluster (%s): starting with "
			    "the %zu other members kept in %s",
			    why, n->kept - 1, conf->members_path);
			joined = true;
		} else if (conf->njoin > 0 && !joined && nself < conf->njoin) {
			e = o_err_set(
			    O_EUNAVAIL, "could not join the cluster: %s", why);
			goto fail_threads;
		}
		if (conf->njoin > 0 && !joined)
			o_log(O_LOG_INFO,
			    "every join URL is this node: "
			    "starting alone");
		if ((e = served_check(
		         n, joined, served, sizeof(served), &mark)) != O_OK)
			goto fail_threads;
	}
	gossip_once(n); /* the members learn each other */
	{
		struct member *ms[MAX_MEMBERS];
		size_t         k, j, up;

		/* wait (bounded) for connections to every member, or a
		 * failed attempt once a second went by: a member down (a
		 * cold start of a stopped cluster) refuses at once, and no
		 * node waited 10 s for members that are not there, while
		 * nodes started together get the second to listen */
		int64_t settle = o_mono_ms() + 1000;

		do {
			bool late = o_mono_ms() >= settle;

			k  = members(n, ms);
			up = 0;
			for (j = 0; j < k; j++) {
				char why[128] = "";

				up += member_up(ms[j]) ||
				    (late &&
				        (otr_link_up(
				             ms[j]->link, why, sizeof(why)),
				            why[0] != '\0'));
			}
			if (up == k)
				break;
			o_sleep_ms(20);
		} while (o_mono_ms() < deadline);
	}
	/* again, now that the links are up: a node that started from its
	 * kept list (no join) learns who joined while it was down before
	 * it serves */
	gossip_once(n);
	if (pthread_create(&n->gossip, NULL, gossip, n) != 0) {
		e = o_err_set(O_EINTERNAL, "cannot start the gossip thread");
		goto fail_threads;
	}
	if (pthread_create(&n->feedt, NULL, feed, n) != 0) {
		atomic_store(&n->stop, true);
		pthread_join(n->gossip, NULL);
		e = o_err_set(O_EINTERNAL, "cannot start the feed thread");
		goto fail_threads;
	}
	n->started_threads = true;
	if (mark)
		served_mark(n, served);
	*out = n;
	o_log(O_LOG_INFO, "node %s serving at %s (feed %s), %zu members",
	    n->name, n->url, n->feed, n->nm);
	return O_OK;
fail_threads:
	atomic_store(&n->stop, true);
fail:
	{
		char keep[512];

		snprintf(keep, sizeof(keep), "%s", o_err_detail());
		n->started_threads   = false;
		n->conf.on_stop_step = NULL; /* a failed start, no shutdown */
		otr_node_stop(n);
		return o_err_set(e, "%s", keep);
	}
}

static void
stop_step(struct otr_node *n, const char *step, bool sockets_only)
{
	if (n->conf.on_stop_step != NULL)
		n->conf.on_stop_step(n->conf.stop_arg, step, sockets_only);
}

void
otr_node_stop(struct otr_node *n)
{
	size_t i;

	if (n == NULL)
		return;
	atomic_store(&n->stop, true);
	stop_step(n, "stopping the peer server (its connections and workers)",
	    false);
	otr_link_server_stop(n->srv);
	n->srv = NULL;
	if (n->started_threads) { /* each notices stop within 200 ms */
		stop_step(n, "joining the gossip thread", false);
		pthread_join(n->gossip, NULL);
		/* not closed under its reader: closing an nng 1.5.2 socket
		 * under a thread using it can panic (a destroyed mutex);
		 * its receive is timed on nng's clock, the wall clock, so
		 * with the clock just set back this waits (the daemon's
		 * shutdown watchdog bounds it) */
		stop_step(n, "joining the change feed thread", false);
		pthread_join(n->feedt, NULL);
	}
	pthread_mutex_lock(&n->lmtx); /* nothing notes changes any more */
	n->lstop = true;
	pthread_cond_broadcast(&n->lcv);
	pthread_mutex_unlock(&n->lmtx);
	if (n->notifier_started) {
		stop_step(n,
		    "joining the notifier thread (telling the mount "
		    "of changes)",
		    false);
		pthread_join(n->notifiert, NULL);
	}
	pthread_mutex_lock(&n->fmtx); /* what is noted is sent first */
	n->fstop = true;
	pthread_cond_broadcast(&n->fcv);
	pthread_mutex_unlock(&n->fmtx);
	if (n->pub_started)
		pthread_join(n->pubt, NULL);
	stop_step(n, "closing the change feed sockets (nng_close)", true);
	nng_close(n->sub);
	nng_close(n->pub);
	stop_step(n, "closing the links to members", true);
	for (i = 0; i < n->nm; i++) {
		struct member *m = n->m[i];

		if (!m->self) {
			slots_drain(m);
			if (m->tls != NULL)
				nng_tls_config_free(m->tls);
		}
		otr_pki_card_fini(&m->card);
		free(m);
	}
	if (n->srv_tls != NULL)
		nng_tls_config_free(n->srv_tls);
	pthread_mutex_destroy(&n->mtx);
	pthread_mutex_destroy(&n->emtx);
	pthread_mutex_destroy(&n->kmtx);
	pthread_mutex_destroy(&n->fmtx);
	pthread_cond_destroy(&n->fcv);
	pthread_mutex_destroy(&n->lmtx);
	pthread_cond_destroy(&n->lcv);
	free(n->lq);
	otr_pki_card_fini(&n->card);
	otr_pki_ca_free(n->ca);
	free(n->certs);
	free(n->members_path);
	free(n);
}

long
otr_node_feed_messages(struct otr_node *n)
{
	return atomic_load(&n->feed_msgs);
}

void
otr_node_counts(struct otr_node *n, size_t *nmem, size_t *up)
{
	struct member *ms[MAX_MEMBERS];
	size_t         k = members(n, ms), j;

	*nmem = k;
	*up   = 0;
	for (j = 0; j < k; j++)
		*up += member_up(ms[j]);
}

bool
otr_node_silence(
    struct otr_node *n, const char *name, int64_t *next, int64_t *at)
{
	struct member *ms[MAX_MEMBERS];
	size_t         k = members(n, ms), j;

	for (j = 0; j < k; j++)
		if (strcmp(ms[j]->name, name) == 0) {
			*at   = member_silent_at(ms[j]);
			*next = atomic_load(&ms[j]->silent_next);
			return true;
		}
	return false;
}

void
otr_node_status(struct otr_node *n, struct o_buf *out)
{
	struct member *ms[MAX_MEMBERS];
	size_t         k = members(n, ms), j;
	int64_t        now = o_mono_ms();
	char           line[512];

	snprintf(line, sizeof(line),
	    "cluster: node %s at %s, %zu members, replicas %d\n", n->name,
	    n->url, k, n->replicas);
	o_buf_append(out, line, strlen(line));
	for (j = 0; j < k; j++) {
		bool    up  = member_up(ms[j]);
		int64_t sat = member_silent_at(ms[j]);

		snprintf(line, sizeof(line),
		    "  peer %-16s %-32s %s  calls %" PRIuFAST64
		    " failed %" PRIuFAST64 " left %" PRIuFAST64
		    " messages %" PRIuFAST64 " skipped %" PRIuFAST64 "\n",
		    ms[j]->name, ms[j]->url,
		    ms[j]->self                             ? "self"
		        : !up                               ? "down"
		        : now >= member_hung_at(ms[j], sat) ? "hung"
		        : now >= sat                        ? "silent"
		                                            : "up",
		    atomic_load(&ms[j]->calls), atomic_load(&ms[j]->fails),
		    atomic_load(&ms[j]->left), atomic_load(&ms[j]->sent),
		    atomic_load(&ms[j]->skipped));
		o_buf_append(out, line, strlen(line));
	}
}
