/*
 * repo.c - the block repository: pend / commit / get / cancel / status on
 * RocksDB, with striped per-block locks, a latest-block cache and group
 * commit.  The on-disk layout is the table at the top of repo.h.
 *
 * Design notes.
 *
 * Locks.  Lock order: stripe mutexes in ascending stripe index, then
 * gc_mtx.  gc_mtx is never held while a stripe mutex is taken, and no lock
 * is held across a wait for a group flush except gc_mtx itself (released by
 * pthread_cond_wait).  A block maps to one of NSTRIPES stripes by a hash of
 * its id; an operation on several blocks takes all their stripes in
 * ascending order, which makes each check-then-write atomic w.r.t. other
 * operations on the same blocks and cannot deadlock.
 *
 * Cache.  Each stripe holds an LRU list of entries (struct ost_ent), one per
 * block, guarded by the stripe mutex: the block's latest (rev, aid), the
 * materialisation bookkeeping from meta, and the decoded latest block.  The
 * entry is authoritative while valid; it is valid when its epoch equals the
 * repository's epoch, which moves only when a group-commit write fails, so
 * a failure invalidates every entry at once and they reload from disk.
 * Entries are trimmed when a stripe is unlocked (stripe_trim: no chunk
 * contents, block contents within OST_STRIPE_BYTES, entries within the
 * per-stripe capacity), never while an operation holds pointers into
 * them, and never while they carry an unflushed commit.  An entry also mirrors
 * the block's pending records (aid, expiry, rev): the pend family accumulates
 * a tombstone for every pending ever removed, so scanning it on every pend or
 * get would slow a hot block (a log tail) down without bound; the index is
 * loaded once per entry and kept in step with every write under the stripe
 * lock.
 *
 * Group commit.  A commit validates and builds its write batch under its
 * stripe locks, then (still under them) joins the open group in gc_mtx,
 * records the group's sequence number in its entries and applies its new
 * latest state to them, and drops the stripe locks.  It then waits: the
 * first waiter to find no flush in progress becomes the leader, takes the
 * whole open group, writes all its batches as one synced RocksDB write, and
 * wakes everyone (with opts.lazy_sync the write is not synced: commits are
 * acknowledged once RocksDB has them, and ost_repo_sync, called at fsync
 * and by the mount every commit interval, brings them to disk; a power
 * failure may lose those written since the last sync: docs/ARCHITECTURE.md).
 * So a later commit of the same block validates against the staged, not yet
 * durable state (and lands in the same or a later group, whose write is
 * ordered after it).  Reads never see unflushed state: get, pend, status, and
 * the stale / already-done paths of commit, which must read the block's
 * history from disk, wait until the entry's group is flushed and then retry.
 * Nothing is acknowledged before its group's write returned.  If the write
 * fails, every member of that group and of the group queued behind it fails
 * with the error, the epoch moves (invalidating all cached state, which
 * reloads from what is on disk), and a commit that validated under the old
 * epoch but had not yet joined a group is refused when it tries to.
 *
 * Pend, cancel and sweep write unsynced under the stripe locks (see repo.h
 * for why that is safe).  Read-driven promotion is a one-block commit that
 * ignores the pending's expiry: the reader's context proves the action is
 * decided (its critical block committed), so no rival can own that
 * revision any more.
 */
#include "store/repo.h"

#include <assert.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/codec.h"
#include "core/o_util.h"
#include "store/rdb.h"
#include "store/repo_priv.h"

#define NSTRIPES 256
/* Block bytes per stripe (OST_CACHE_BYTES over all: store/repo.h). */
#define OST_STRIPE_BYTES (OST_CACHE_BYTES / NSTRIPES)
#define KEY_REV_LEN (OC_BID_LEN + 8)
#define KEY_PEND_LEN (OC_BID_LEN + OC_AID_LEN)
#define EPOCH_NONE UINT64_MAX /* an entry that must be reloaded */

enum {
	/* read-driven promotion: ignore expiry */
	COMMIT_PROMOTE = 1,
	/* replace the same revision by another action */
	COMMIT_OVER = 2,
	/* a repair: the revisions below are unknown here */
	COMMIT_INSTALL = 4,
	/* may be a request sent again (oc_commit_req.resendable) */
	COMMIT_RESENT = 8,
};

/*
 * A pending whose record is at most this long keeps its transform in the
 * pending index until its commit or removal; a larger one (a chunk, a
 * big insert) is read back by its commit, so that pendings left in doubt
 * hold little memory outside the cache's budget.
 */
#define PEND_KEEP_MAX 4096

/* A pending record of a block, as mirrored in its cache entry. */
struct pent {
	struct oc_aid aid;
	int64_t       exp;
	int64_t       rev;
	/* the record's transform as its reader decodes it, kept from the
	 * pend so that the commit need not read it back (owned; NULL: read
	 * it from the pend family) */
	struct oc_tf *tf;
};

/* Every field is guarded by the mutex of the block's stripe. */
struct ost_ent {
	struct ost_ent *prev, *next; /* stripe LRU, most recent first */
	struct oc_bid   id;
	uint64_t        epoch; /* valid iff == repo epoch */
	uint64_t        seq;   /* group of its newest staged commit; 0 none */
	bool            has_latest;
	int64_t         rev;
	struct oc_aid   aid;
	int64_t         mat_rev;
	int64_t         nsince; /* revisions after mat_rev */
	int64_t         low;    /* lowest readable revision (meta "low") */
	int64_t         swept;  /* records below are deleted (meta "swp") */
	bool            blk_ok; /* blk/present hold the block at rev */
	bool            present;
	struct oc_val   blk;
	size_t          bytes; /* oc_val_footprint(&blk); SIZE_MAX: unknown */
	bool            pend_ok; /* pv mirrors the block's pend records */
	struct pent    *pv;
	size_t          pn, pcap;
	/* a claim (memory only, ost_repo_pend): writer cl_who, trying
	 * since cl_since, holds off writers that started later until
	 * cl_until (all ms of repo_mono) */
	struct oc_aid   cl_who;
	int64_t         cl_since, cl_until;
};

/*
 * A cancel that found no pending of its action on a block: a pend of that
 * action there arriving after it was overtaken by its cancel (they travel
 * in different messages, run concurrently: PROTOCOL.md §1), and is
 * refused instead of holding the block off other writers until it
 * expires.  A pend of an action whose pending a cancel did drop (a
 * coordinator pending again after a repair) is not affected.  Each stripe
 * keeps its last STRIPE_TOMBS; an older one is forgotten, and its late
 * pend, if any, then holds the block until it expires, as before.  (A
 * writer refused as stale or pending also cancels on every replica where
 * nothing is left, each such cancel a note: 16 per stripe keep a note for
 * the milliseconds a late pend takes even while writers contend.)
 */
#define STRIPE_TOMBS 16

struct tomb {
	struct oc_bid id;
	struct oc_aid aid;
	bool          used;
};

struct stripe {
	pthread_mutex_t mtx;
	struct ost_ent *head, *tail; /* guarded by mtx */
	size_t          n;           /* guarded by mtx */
	size_t          bytes; /* block bytes at the last trim; mtx */
	struct tomb     tombs[STRIPE_TOMBS]; /* guarded by mtx */
	unsigned        tomb_next;           /* guarded by mtx */
};

struct gc_member {
	struct gc_member *next;
	struct ost_wb    *wb;
	bool              done; /* guarded by gc_mtx */
	o_err             err;  /* guarded by gc_mtx */
};

struct ost_repo {
	struct ost_rdb      *db;
	struct ost_repo_opts opts;
	size_t               stripe_cap;
	struct stripe        stripes[NSTRIPES];

	pthread_mutex_t    gc_mtx;
	pthread_cond_t     gc_cv;
	struct gc_member  *gc_open;      /* guarded by gc_mtx */
	struct gc_member **gc_tail;      /* guarded by gc_mtx */
	uint64_t           gc_open_seq;  /* guarded by gc_mtx */
	bool               gc_flushing;  /* guarded by gc_mtx */
	o_err              gc_fail_err;  /* guarded by gc_mtx */
	char               gc_fail[256]; /* guarded by gc_mtx */
	_Atomic uint64_t   gc_done_seq;  /* written under gc_mtx */
	_Atomic uint64_t   epoch;        /* written under gc_mtx */

	struct oc_transactor tx;

	_Atomic uint64_t cached; /* sum of the stripes' bytes */
	_Atomic uint32_t hand;   /* next stripe repo_sweep visits */

	/* lazy_sync: group-commit writes done, and how many of them the
	 * last ost_repo_sync found done before it synced */
	_Atomic uint64_t lazy_written, lazy_synced;

	_Atomic uint64_t st_commits, st_groups, st_syncs, st_hits, st_loads;
	_Atomic uint64_t st_replayed, st_mat, st_swept, st_pruned, st_based,
	    st_pend_reads;
};

/* A pending record as listed from the pend family. */
struct pitem {
	struct oc_aid aid;
	int64_t       exp;
	int64_t       rev;
	bool          has_tf;
	struct oc_tf  tf;
};

struct plist {
	struct pitem *v;
	size_t        n;
};

/* The stripes an operation holds. */
struct lockset {
	uint16_t *s;
	size_t    n;
	uint16_t  small[16];
};

/* ---- small helpers ----------------------------------------------------- */

static void
stat_add(_Atomic uint64_t *c, uint64_t n)
{
	atomic_fetch_add_explicit(c, n, memory_order_relaxed);
}

static int64_t
repo_now(struct ost_repo *r)
{
	if (r->opts.clock != NULL)
		return r->opts.clock(r->opts.clock_arg);
	return o_now_ms();
}

/* The clock of what lives in memory only (claims): monotonic, so a wall
 * clock set back cannot make a claim hold its blocks for as long; a
 * test's clock stands in for both. */
static int64_t
repo_mono(struct ost_repo *r)
{
	if (r->opts.clock != NULL)
		return r->opts.clock(r->opts.clock_arg);
	return o_mono_ms();
}

static const char *
bstr(const struct oc_bid *id, char out[OC_BID_STRLEN])
{
	return oc_bid_str(id, out);
}

static void
key_rev(uint8_t k[KEY_REV_LEN], const struct oc_bid *id, int64_t rev)
{
	memcpy(k, id->b, OC_BID_LEN);
	o_be64_put(k + OC_BID_LEN, (uint64_t) rev);
}

/* The rev of a key made by key_rev. */
static int64_t
key_rev_at(const uint8_t *k)
{
	return (int64_t) o_be64_get(k + OC_BID_LEN);
}

static void
key_pend(
    uint8_t k[KEY_PEND_LEN], const struct oc_bid *id, const struct oc_aid *aid)
{
	memcpy(k, id->b, OC_BID_LEN);
	memcpy(k + OC_BID_LEN, aid->b, OC_AID_LEN);
}

/*
 * O_ECORRUPT with detail "block <id>: <cf> record[ at rev N]: <msg>".  The
 * message is formatted first, so it may quote o_err_detail().
 */
static o_err __attribute__((format(printf, 4, 5))) corrupt(
    enum ost_cf cf, const struct oc_bid *id, int64_t rev, const char *fmt, ...)
{
	char    msg[320], s[OC_BID_STRLEN], at[32] = "";
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (rev > 0)
		snprintf(at, sizeof(at), " at rev %" PRId64, rev);
	return o_err_set(O_ECORRUPT, "block %s: %s record%s: %s", bstr(id, s),
	    ost_rdb_cf_name(cf), at, msg);
}

/* Copy of the current detail (o_err_set may not quote it in place). */
static void
detail_copy(char *out, size_t n)
{
	snprintf(out, n, "%s", o_err_detail());
}

/* ---- record codecs ------------------------------------------------------ */

static o_err
rec_decode(enum ost_cf cf, const struct oc_bid *id, int64_t rev,
    const uint8_t *p, size_t n, struct oc_val *out)
{
	if (n == 0) /* what ost_it_val() returns for a bad checksum */
		return corrupt(cf, id, rev,
		    "checksum mismatch (the stored bytes changed)");
	if (oc_decode(p, n, out) != O_OK)
		return corrupt(cf, id, rev, "undecodable: %s", o_err_detail());
	if (out->type != OC_MAP &&
	    !(cf == OST_CF_MAT && out->type == OC_NULL)) {
		oc_val_fini(out);
		return corrupt(cf, id, rev, "not a map");
	}
	return O_OK;
}

static const struct oc_val *
need_int(const struct oc_val *m, const char *k)
{
	const struct oc_val *v = oc_map_get(m, k);

	return v != NULL && v->type == OC_INT ? v : NULL;
}

struct meta {
	int64_t       rev;
	struct oc_aid aid;
	int64_t       mat_rev;
	int64_t       nsince;
	int64_t       low; /* lowest readable revision; 0: nothing pruned */
	int64_t       swept; /* rev/mat records below are deleted (<= low:
	                        an install raises low over records that a
	                        later prune deletes) */
};

static void
meta_encode(const struct meta *m, struct o_buf *b)
{
	struct oc_val v = oc_map();

	oc_map_set(&v, "aid", oc_aid_val(&m->aid));
	if (m->low > 0) /* absent until the first prune: old metas match */
		oc_map_set(&v, "low", oc_int(m->low));
	if (m->swept != m->low) /* absent: equal to low */
		oc_map_set(&v, "swp", oc_int(m->swept));
	oc_map_set(&v, "mat", oc_int(m->mat_rev));
	oc_map_set(&v, "ns", oc_int(m->nsince));
	oc_map_set(&v, "rev", oc_int(m->rev));
	o_buf_reset(b);
	oc_encode(&v, b);
	oc_val_fini(&v);
}

static o_err
meta_decode(const struct oc_bid *id, const struct o_buf *b, struct meta *m)
{
	struct oc_val        v;
	const struct oc_val *rev, *mat, *ns, *low, *swp;
	o_err                e;

	if ((e = rec_decode(OST_CF_META, id, 0, b->data, b->len, &v)) != O_OK)
		return e;
	rev = need_int(&v, "rev");
	mat = need_int(&v, "mat");
	ns  = need_int(&v, "ns");
	low = oc_map_get(&v, "low"); /* optional: written since pruning */
	swp = oc_map_get(&v, "swp"); /* optional: absent, equal to low */
	if (rev == NULL || mat == NULL || ns == NULL ||
	    !oc_aid_from(oc_map_get(&v, "aid"), &m->aid) || rev->u.i < 1 ||
	    mat->u.i < 1 || mat->u.i > rev->u.i || ns->u.i < 0 ||
	    (low != NULL &&
	        (low->type != OC_INT || low->u.i < 0 ||
	            low->u.i > mat->u.i)) ||
	    (swp != NULL &&
	        (swp->type != OC_INT || swp->u.i < 0 ||
	            swp->u.i > (low != NULL ? low->u.i : 0)))) {
		e = corrupt(OST_CF_META, id, 0,
		    "fields aid/rev/mat/ns/low/swp missing or out of range");
		goto out_fini;
	}
	m->rev     = rev->u.i;
	m->mat_rev = mat->u.i;
	m->nsince  = ns->u.i;
	m->low     = low != NULL ? low->u.i : 0;
	m->swept   = swp != NULL ? swp->u.i : m->low;
out_fini:
	oc_val_fini(&v);
	return e;
}

/* Encode and check a transform the way a reader will decode it; *back
 * (unless NULL) is what the reader gets (owned by the caller). */
static o_err
tf_checked_val(const struct oc_tf *tf, struct oc_val *out, struct oc_tf **back)
{
	struct oc_tf b;
	o_err        e;

	*out = oc_tf_to_val(tf);
	if ((e = oc_tf_from_val(out, &b)) != O_OK) {
		oc_val_fini(out);
		return e;
	}
	if (back == NULL) {
		oc_tf_fini(&b);
	} else {
		*back  = o_malloc(sizeof(**back));
		**back = b;
	}
	return O_OK;
}

static void
tf_free(struct oc_tf *tf)
{
	if (tf != NULL) {
		oc_tf_fini(tf);
		free(tf);
	}
}

static o_err
pend_decode(const struct oc_bid *id, const uint8_t *p, size_t n, bool want_tf,
    struct pitem *it)
{
	struct oc_val        v;
	const struct oc_val *exp, *rev, *tf;
	o_err                e;

	it->has_tf = false;
	oc_tf_init(&it->tf);
	if ((e = rec_decode(OST_CF_PEND, id, 0, p, n, &v)) != O_OK)
		return e;
	exp = need_int(&v, "exp");
	rev = need_int(&v, "rev");
	tf  = oc_map_get(&v, "tf");
	if (exp == NULL || rev == NULL || tf == NULL || rev->u.i < 1) {
		e = corrupt(OST_CF_PEND, id, 0,
		    "fields exp/rev/tf missing or out of range");
		goto out_fini;
	}
	it->exp = exp->u.i;
	it->rev = rev->u.i;
	if (want_tf) {
		if (oc_tf_from_val(tf, &it->tf) != O_OK) {
			e = corrupt(OST_CF_PEND, id, 0, "bad transform: %s",
			    o_err_detail());
			goto out_fini;
		}
		it->has_tf = true;
	}
out_fini:
	oc_val_fini(&v);
	return e;
}

static o_err mat_read(struct ost_repo *r, const struct oc_bid *id,
    int64_t *mrev, struct oc_val *blk, bool *present);

/*
 * A rev record: its action, and (tf != NULL) its transform.  A record
 * with "mat" instead of "tf" is an insert whose block is the mat record
 * at the same revision (commit_one stores the block once): its transform
 * is read from there.
 */
static o_err
rev_decode(struct ost_repo *r, const struct oc_bid *id, int64_t rev,
    const uint8_t *p, size_t n, struct oc_aid *aid, struct oc_tf *tf)
{
	struct oc_val        v, blk;
	const struct oc_val *t;
	bool                 at_mat, present = false;
	int64_t              mrev = rev;
	o_err                e;

	if (tf != NULL)
		oc_tf_init(tf);
	if ((e = rec_decode(OST_CF_REV, id, rev, p, n, &v)) != O_OK)
		return e;
	t      = oc_map_get(&v, "tf");
	at_mat = oc_map_bool(&v, "mat", false);
	if (!oc_aid_from(oc_map_get(&v, "aid"), aid) ||
	    (t == NULL) == !at_mat) {
		e = corrupt(OST_CF_REV, id, rev,
		    "field aid missing, or not exactly one of tf and mat");
		goto out_fini;
	}
	if (tf == NULL)
		goto out_fini;
	if (t != NULL) {
		if (oc_tf_from_val(t, tf) != O_OK)
			e = corrupt(OST_CF_REV, id, rev, "bad transform: %s",
			    o_err_detail());
		goto out_fini;
	}
	blk = oc_null();
	if ((e = mat_read(r, id, &mrev, &blk, &present)) != O_OK)
		goto out_fini;
	if (mrev == 0 || !present) {
		oc_val_fini(&blk);
		e = corrupt(OST_CF_REV, id, rev,
		    "an insert stored as its mat record, which is %s",
		    mrev == 0 ? "missing" : "a tombstone");
		goto out_fini;
	}
	tf->insert  = o_malloc(sizeof(*tf->insert));
	*tf->insert = blk;
out_fini:
	oc_val_fini(&v);
	return e;
}

static o_err
mat_decode(const struct oc_bid *id, int64_t rev, const uint8_t *p, size_t n,
    struct oc_val *blk, bool *present)
{
	struct oc_bid got;
	o_err         e;

	if ((e = rec_decode(OST_CF_MAT, id, rev, p, n, blk)) != O_OK)
		return e;
	if (blk->type == OC_NULL) {
		*present = false;
		return O_OK;
	}
	if (oc_block_validate(blk) != O_OK) {
		e = corrupt(
		    OST_CF_MAT, id, rev, "invalid block: %s", o_err_detail());
		oc_val_fini(blk);
		return e;
	}
	if (!oc_block_id(blk, &got) || !oc_bid_eq(&got, id)) {
		oc_val_fini(blk);
		return corrupt(
		    OST_CF_MAT, id, rev, "holds a block with another id");
	}
	*present = true;
	return O_OK;
}

/* ---- reads from disk -----------------------------------------------------
 */

/* The action of id's revision record at rev (*found false: none). */
static o_err
rev_aid(struct ost_repo *r, const struct oc_bid *id, int64_t rev,
    struct oc_aid *aid, bool *found)
{
	uint8_t      k[KEY_REV_LEN];
	struct o_buf b = { 0 };
	o_err        e;

	key_rev(k, id, rev);
	e = ost_rdb_get(r->db, OST_CF_REV, k, sizeof(k), &b, found);
	if (e == O_OK && *found)
		e = rev_decode(r, id, rev, b.data, b.len, aid, NULL);
	o_buf_fini(&b);
	return e;
}

static o_err
meta_read(
    struct ost_repo *r, const struct oc_bid *id, struct meta *m, bool *found)
{
	struct o_buf b = { 0 };
	o_err        e;

	e = ost_rdb_get(r->db, OST_CF_META, id->b, OC_BID_LEN, &b, found);
	if (e == O_ECORRUPT) /* a bad checksum: name the block */
		e = corrupt(OST_CF_META, id, 0, "%s", o_err_detail());
	if (e == O_OK && *found)
		e = meta_decode(id, &b, m);
	o_buf_fini(&b);
	return e;
}

static o_err
pend_read(struct ost_repo *r, const struct oc_bid *id,
    const struct oc_aid *aid, bool want_tf, struct pitem *it, bool *found)
{
	uint8_t      k[KEY_PEND_LEN];
	struct o_buf b = { 0 };
	o_err        e;

	key_pend(k, id, aid);
	oc_tf_init(&it->tf);
	it->has_tf = false;
	e          = ost_rdb_get(r->db, OST_CF_PEND, k, sizeof(k), &b, found);
	if (e == O_ECORRUPT) /* a bad checksum: name the block */
		e = corrupt(OST_CF_PEND, id, 0, "%s", o_err_detail());
	if (e == O_OK && *found) {
		it->aid = *aid;
		e       = pend_decode(id, b.data, b.len, want_tf, it);
	}
	o_buf_fini(&b);
	return e;
}

static void
plist_fini(struct plist *l)
{
	size_t i;

	for (i = 0; i < l->n; i++)
		oc_tf_fini(&l->v[i].tf);
	free(l->v);
	l->v = NULL;
	l->n = 0;
}

/* Every pending record on block id (ascending action id). */
static o_err
pend_list(struct ost_repo *r, const struct oc_bid *id, bool want_tf,
    struct plist *out)
{
	struct ost_it *it;
	size_t         cap = 0;
	o_err          e;

	out->v = NULL;
	out->n = 0;
	uint8_t hi[OC_BID_LEN];
	size_t  hilen = OC_BID_LEN;
	int     j;

	/*
	 * Keys are bid + aid.  Bound the scan above by the next id prefix:
	 * without the bound RocksDB walks every tombstone of deleted pendings
	 * between this block and the next live key (perf showed it at 7% of a
	 * commit and growing with history).
	 */
	memcpy(hi, id->b, OC_BID_LEN);
	for (j = OC_BID_LEN - 1; j >= 0 && ++hi[j] == 0; j--)
		;
	if (j < 0)
		hilen = 0; /* all 0xff: no upper bound */
	if ((e = ost_it_open(r->db, OST_CF_PEND, id->b, OC_BID_LEN,
	         hilen ? hi : NULL, hilen, &it)) != O_OK)
		return e;
	for (ost_it_first(it); ost_it_valid(it); ost_it_next(it)) {
		size_t         kn, vn;
		const uint8_t *k = ost_it_key(it, &kn);
		const uint8_t *v;
		struct pitem  *p;

		if (kn < OC_BID_LEN || memcmp(k, id->b, OC_BID_LEN) != 0)
			break;
		if (kn != KEY_PEND_LEN) {
			e = corrupt(
			    OST_CF_PEND, id, 0, "key of %zu bytes", kn);
			break;
		}
		if (out->n == cap) {
			cap    = cap ? 2 * cap : 4;
			out->v = o_realloc(out->v, cap * sizeof(*out->v));
		}
		p = &out->v[out->n];
		memcpy(p->aid.b, k + OC_BID_LEN, OC_AID_LEN);
		v = ost_it_val(it, &vn);
		if ((e = pend_decode(id, v, vn, want_tf, p)) != O_OK)
			break;
		out->n++;
	}
	if (e == O_OK)
		e = ost_it_status(it);
	ost_it_close(it);
	if (e != O_OK)
		plist_fini(out);
	return e;
}

/*
 * Committed revisions of id in [from, to] into res->missing; those below
 * low (the block's lowest kept revision) are pruned and left out.
 */
static o_err
collect_missing(struct ost_repo *r, const struct oc_bid *id, int64_t from,
    int64_t to, int64_t low, struct oc_txres *res)
{
	struct ost_it *it;
	uint8_t        lo[KEY_REV_LEN], hi[KEY_REV_LEN];
	o_err          e;

	key_rev(lo, id, from > low ? from : low);
	key_rev(hi, id, to + 1);
	if ((e = ost_it_open(r->db, OST_CF_REV, lo, sizeof(lo), hi, sizeof(hi),
	         &it)) != O_OK)
		return e;
	for (ost_it_first(it); ost_it_valid(it); ost_it_next(it)) {
		size_t         kn, vn;
		const uint8_t *k = ost_it_key(it, &kn);
		const uint8_t *v = ost_it_val(it, &vn);
		int64_t        rev;
		struct oc_aid  aid;
		struct oc_tf   tf;

		if (kn != KEY_REV_LEN) {
			e = corrupt(OST_CF_REV, id, 0, "key of %zu bytes", kn);
			break;
		}
		rev = (int64_t) o_be64_get(k + OC_BID_LEN);
		if ((e = rev_decode(r, id, rev, v, vn, &aid, &tf)) != O_OK)
			break;
		oc_txres_add_missing(res, id, &aid, rev, tf);
	}
	if (e == O_OK)
		e = ost_it_status(it);
	ost_it_close(it);
	return e;
}

/*
 * Highest committed revision of id at or below target (0: none), scanning
 * no lower than low (below it the records are pruned: only deletions).
 */
static o_err
rev_at_or_below(struct ost_repo *r, const struct oc_bid *id, int64_t target,
    int64_t low, int64_t *out)
{
	struct ost_it *it;
	uint8_t        lo[KEY_REV_LEN], k[KEY_REV_LEN];
	o_err          e;

	*out = 0;
	key_rev(lo, id, low);
	key_rev(k, id, target);
	if ((e = ost_it_open(
	         r->db, OST_CF_REV, lo, sizeof(lo), NULL, 0, &it)) != O_OK)
		return e;
	ost_it_seek_for_prev(it, k, sizeof(k));
	if (ost_it_valid(it)) {
		size_t         kn;
		const uint8_t *key = ost_it_key(it, &kn);

		if (kn == KEY_REV_LEN && memcmp(key, id->b, OC_BID_LEN) == 0)
			*out = (int64_t) o_be64_get(key + OC_BID_LEN);
	}
	e = ost_it_status(it);
	ost_it_close(it);
	return e;
}

struct mat_get {
	const struct oc_bid *id;
	int64_t              rev;
	struct oc_val       *blk;
	bool                *present;
};

static o_err
mat_get_fn(void *arg, const uint8_t *v, size_t n)
{
	struct mat_get *g = arg;

	return mat_decode(g->id, g->rev, v, n, g->blk, g->present);
}

/*
 * The mat record of id at exactly mrev, decoded in place (a point read:
 * a reverse seek would make RocksDB read, and decompress, the data block
 * after the record too).  *mrev becomes 0 when there is none.
 */
static o_err
mat_read(struct ost_repo *r, const struct oc_bid *id, int64_t *mrev,
    struct oc_val *blk, bool *present)
{
	uint8_t        k[KEY_REV_LEN];
	struct mat_get g = { id, *mrev, blk, present };
	bool           found;
	o_err          e;

	key_rev(k, id, *mrev);
	e = ost_rdb_get_fn(r->db, OST_CF_MAT, k, sizeof(k), mat_get_fn, &g,
	    &found);
	/* our record checksum or RocksDB's own corruption status: name the
	 * block, keep the cause */
	if (e == O_ECORRUPT && !found)
		e = corrupt(OST_CF_MAT, id, *mrev, "%s", o_err_detail());
	if (e == O_OK && !found)
		*mrev = 0;
	return e;
}

/* The nearest mat record of id at or below rev (*mrev 0: none). */
static o_err
mat_seek(struct ost_repo *r, const struct oc_bid *id, int64_t rev,
    int64_t *mrev, struct oc_val *blk, bool *present)
{
	struct ost_it *it;
	uint8_t        lo[KEY_REV_LEN], k[KEY_REV_LEN];
	o_err          e;

	*mrev = 0;
	key_rev(lo, id, 0);
	key_rev(k, id, rev);
	if ((e = ost_it_open(
	         r->db, OST_CF_MAT, lo, sizeof(lo), NULL, 0, &it)) != O_OK)
		return e;
	ost_it_seek_for_prev(it, k, sizeof(k));
	if (ost_it_valid(it)) {
		size_t         kn, vn;
		const uint8_t *key = ost_it_key(it, &kn);

		if (kn == KEY_REV_LEN && memcmp(key, id->b, OC_BID_LEN) == 0) {
			const uint8_t *v = ost_it_val(it, &vn);

			*mrev = (int64_t) o_be64_get(key + OC_BID_LEN);
			e     = mat_decode(id, *mrev, v, vn, blk, present);
		}
	}
	if (e == O_OK)
		e = ost_it_status(it);
	ost_it_close(it);
	return e;
}

/*
 * The block at committed revision rev: the nearest materialisation at or
 * below rev, then the transforms of the revisions after it replayed up to
 * rev.  mat_hint: the revision of that materialisation when the caller
 * knows it (the block's meta), else 0.  O_ECORRUPT when there is no
 * materialisation, when replay fails, or when rev itself has no revision
 * record.
 */
static o_err
block_load(struct ost_repo *r, const struct oc_bid *id, int64_t rev,
    int64_t mat_hint, struct oc_val *out, bool *present)
{
	struct ost_it *it = NULL;
	uint8_t        lo[KEY_REV_LEN], hi[KEY_REV_LEN];
	struct oc_val  cur  = oc_null();
	bool           have = false;
	int64_t        mrev = 0, last;
	uint64_t       nrep = 0;
	o_err          e    = O_OK;

	*out = oc_null();
	if (mat_hint > 0 && mat_hint <= rev) {
		mrev = mat_hint;
		e    = mat_read(r, id, &mrev, &cur, &have);
	}
	if (e == O_OK && mrev == 0) /* no hint, or the hint was wrong */
		e = mat_seek(r, id, rev, &mrev, &cur, &have);
	if (e != O_OK)
		goto out_fini;
	if (mrev == 0) {
		e = corrupt(OST_CF_MAT, id, rev,
		    "unmaterializable: no materialisation at or below");
		goto out_fini;
	}
	last = mrev;
	if (mrev < rev) {
		key_rev(lo, id, mrev + 1);
		key_rev(hi, id, rev + 1);
		if ((e = ost_it_open(r->db, OST_CF_REV, lo, sizeof(lo), hi,
		         sizeof(hi), &it)) != O_OK)
			goto out_fini;
		for (ost_it_first(it); ost_it_valid(it); ost_it_next(it)) {
			size_t         kn, vn;
			const uint8_t *key = ost_it_key(it, &kn);
			const uint8_t *v   = ost_it_val(it, &vn);
			struct oc_aid  aid;
			struct oc_tf   tf;
			struct oc_val  next;
			bool           np;

			last = (int64_t) o_be64_get(key + OC_BID_LEN);
			if ((e = rev_decode(r, id, last, v, vn, &aid, &tf)) !=
			    O_OK)
				goto out_fini;
			e = oc_tf_apply(have ? &cur : NULL, &tf, &next, &np);
			oc_tf_fini(&tf);
			if (e != O_OK) {
				e = corrupt(OST_CF_REV, id, last,
				    "replay over rev %" PRId64 " failed: %s",
				    mrev, o_err_detail());
				goto out_fini;
			}
			oc_val_fini(&cur);
			cur  = next;
			have = np;
			nrep++;
		}
		if ((e = ost_it_status(it)) != O_OK)
			goto out_fini;
	}
	if (last != rev) {
		e = corrupt(OST_CF_REV, id, rev,
		    "missing (latest revision "
		    "without a record)");
		goto out_fini;
	}
	stat_add(&r->st_loads, 1);
	stat_add(&r->st_replayed, nrep);
	*out     = cur;
	*present = have;
	cur      = oc_null();
out_fini:
	ost_it_close(it);
	oc_val_fini(&cur);
	return e;
}

/* ---- stripes and cache entries --------------------------------------------
 */

static uint16_t
stripe_of(const struct oc_bid *id)
{
	uint32_t h = 2166136261u;
	size_t   i;

	for (i = 0; i < OC_BID_LEN; i++)
		h = (h ^ id->b[i]) * 16777619u;
	return (uint16_t) ((h ^ (h >> 16)) % NSTRIPES);
}

static int
u16_cmp(const void *a, const void *b)
{
	return (int) *(const uint16_t *) a - (int) *(const uint16_t *) b;
}

static void
lockset_take(
    struct ost_repo *r, struct lockset *ls, const struct oc_bid *ids, size_t n)
{
	size_t i, j;

	ls->s = n <= O_NELEM(ls->small) ? ls->small
	                                : o_malloc(n * sizeof(uint16_t));
	for (i = 0; i < n; i++)
		ls->s[i] = stripe_of(&ids[i]);
	qsort(ls->s, n, sizeof(uint16_t), u16_cmp);
	for (i = j = 0; i < n; i++)
		if (j == 0 || ls->s[j - 1] != ls->s[i])
			ls->s[j++] = ls->s[i];
	ls->n = j;
	for (i = 0; i < ls->n; i++)
		pthread_mutex_lock(&r->stripes[ls->s[i]].mtx);
}

/* Hand the stripes held in *src over to *dst (src may point into itself). */
static void
lockset_move(struct lockset *dst, struct lockset *src)
{
	dst->n = src->n;
	if (src->s == src->small) {
		memcpy(dst->small, src->small, src->n * sizeof(uint16_t));
		dst->s = dst->small;
	} else {
		dst->s = src->s;
	}
	src->s = NULL;
	src->n = 0;
}

static void
ent_unlink(struct stripe *st, struct ost_ent *e)
{
	if (e->prev)
		e->prev->next = e->next;
	else
		st->head = e->next;
	if (e->next)
		e->next->prev = e->prev;
	else
		st->tail = e->prev;
	e->prev = e->next = NULL;
}

static void
ent_push_front(struct stripe *st, struct ost_ent *e)
{
	e->prev = NULL;
	e->next = st->head;
	if (st->head)
		st->head->prev = e;
	st->head = e;
	if (st->tail == NULL)
		st->tail = e;
}

static bool
ent_unflushed(struct ost_repo *r, const struct ost_ent *e)
{
	return e->seq > atomic_load(&r->gc_done_seq) &&
	    e->epoch == atomic_load(&r->epoch);
}

/* Empty e's pending index (not what the pend family holds). */
static void
ent_pend_clear(struct ost_ent *e)
{
	size_t i;

	for (i = 0; i < e->pn; i++)
		tf_free(e->pv[i].tf);
	e->pn = 0;
}

static void
ent_free(struct ost_ent *e)
{
	oc_val_fini(&e->blk);
	ent_pend_clear(e);
	free(e->pv);
	free(e);
}

/* Forget e's block contents (reloaded from disk when next needed). */
static void
ent_drop_block(struct ost_ent *e)
{
	oc_val_fini(&e->blk);
	e->blk    = oc_null();
	e->blk_ok = false;
	e->bytes  = SIZE_MAX;
}

static size_t
ent_bytes(struct ost_ent *e)
{
	if (e->bytes == SIZE_MAX)
		e->bytes = oc_val_footprint(&e->blk);
	return e->bytes;
}

/* Record a stripe's block bytes after a trim in the total. */
static void
stripe_account(struct ost_repo *r, struct stripe *st, size_t bytes)
{
	atomic_fetch_add_explicit(&r->cached, (uint64_t) bytes - st->bytes,
	    memory_order_relaxed);
	st->bytes = bytes;
}

/*
 * A stripe's byte budget: its share of OST_CACHE_BYTES, or what the other
 * stripes leave of it if that is more, up to a sixteenth of the cache.
 * With shares alone (64 KiB), two blocks of a few dozen KiB whose ids
 * hash to one stripe pushed each other out while the cache was nearly
 * empty: a diary's read-ahead lost about one block in eight that way.
 * When the cache is full every stripe is held to its share, and
 * repo_sweep brings the total back.  Threads trimming different stripes
 * at once may each take the same room: the cap bounds that overshoot.
 */
#define OST_STRIPE_BORROW (OST_CACHE_BYTES / 16)

static size_t
stripe_budget(struct ost_repo *r, struct stripe *st)
{
	uint64_t all = atomic_load_explicit(&r->cached, memory_order_relaxed);
	uint64_t others = all > st->bytes ? all - st->bytes : 0;

	if (others + OST_STRIPE_BYTES >= OST_CACHE_BYTES)
		return OST_STRIPE_BYTES;
	return (size_t) O_MIN(OST_CACHE_BYTES - others, OST_STRIPE_BORROW);
}

/*
 * Trim a stripe: chunk contents are not kept; beyond the stripe's budget
 * (stripe_budget) the block contents of the least recently used entries
 * are dropped (their meta stays); beyond the entry capacity whole entries
 * go.  Entries whose group commit is not yet on disk, and the newest,
 * stay (repo_sweep bounds the newest ones over all stripes).
 */
static void
stripe_trim(struct ost_repo *r, struct stripe *st)
{
	struct ost_ent *e, *prev;
	size_t          bytes = 0, budget = stripe_budget(r, st);

	for (e = st->head; e != NULL; e = e->next) {
		/* chunks are written once and read through the collections
		 * (a file's through its pieces): keeping them here would push
		 * out hot blocks */
		const char *type =
		    e->blk_ok && e->present ? oc_block_type(&e->blk) : NULL;

		if (type != NULL && strcmp(type, OC_BT_CHUNK) == 0 &&
		    !ent_unflushed(r, e))
			ent_drop_block(e);
		bytes += ent_bytes(e);
	}
	/* over the byte budget: drop block contents (the entry and its
	 * meta stay), least recently used first, the newest kept */
	for (e = st->tail; e != NULL && e != st->head && bytes > budget;
	     e = e->prev)
		if (e->blk_ok && !ent_unflushed(r, e)) {
			bytes -= ent_bytes(e);
			ent_drop_block(e);
		}
	stripe_account(r, st, bytes);
	e = st->tail;
	while (st->n > r->stripe_cap && e != NULL && e != st->head) {
		prev = e->prev;
		if (!ent_unflushed(r, e)) {
			ent_unlink(st, e);
			ent_free(e);
			st->n--;
		}
		e = prev;
	}
}

/*
 * The newest entry of each stripe is kept whatever its size, so 256
 * stripes could each hold a large block nobody uses any more (the old
 * tails of a growing log: up to ~0.5 MiB each).  Past OST_CACHE_BYTES in
 * all, visit other stripes in turn (only those free at once: trylock) and
 * drop the block contents of all their flushed entries, the newest too.
 * Called with no stripe locked.
 */
static void
repo_sweep(struct ost_repo *r)
{
	int tries;

	for (tries = 0; tries < 8 &&
	     atomic_load_explicit(&r->cached, memory_order_relaxed) >
	         OST_CACHE_BYTES;
	     tries++) {
		uint32_t        i  = atomic_fetch_add(&r->hand, 1) % NSTRIPES;
		struct stripe  *st = &r->stripes[i];
		struct ost_ent *e;
		size_t          bytes = 0;

		if (pthread_mutex_trylock(&st->mtx) != 0)
			continue;
		for (e = st->head; e != NULL; e = e->next) {
			if (e->blk_ok && !ent_unflushed(r, e))
				ent_drop_block(e);
			bytes += ent_bytes(e);
		}
		stripe_account(r, st, bytes);
		pthread_mutex_unlock(&st->mtx);
	}
}

static void
lockset_drop(struct ost_repo *r, struct lockset *ls)
{
	size_t i;

	for (i = ls->n; i-- > 0;) {
		struct stripe *st = &r->stripes[ls->s[i]];

		stripe_trim(r, st);
		pthread_mutex_unlock(&st->mtx);
	}
	if (ls->s != ls->small)
		free(ls->s);
	ls->s = NULL;
	ls->n = 0;
	repo_sweep(r);
}

/*
 * The entry of block id, loading its meta record if it is not cached or no
 * longer valid.  The caller holds the block's stripe.  Entries stay at the
 * same address until the stripe is unlocked.
 */
static o_err
ent_get(struct ost_repo *r, const struct oc_bid *id, struct ost_ent **out)
{
	struct stripe  *st    = &r->stripes[stripe_of(id)];
	uint64_t        epoch = atomic_load(&r->epoch);
	struct ost_ent *e;
	struct meta     m;
	bool            found;
	o_err           err;

	for (e = st->head; e != NULL; e = e->next)
		if (oc_bid_eq(&e->id, id))
			break;
	if (e != NULL) {
		ent_unlink(st, e);
		ent_push_front(st, e);
		if (e->epoch == epoch) {
			*out = e;
			return O_OK;
		}
		oc_val_fini(&e->blk);
	} else {
		e = o_calloc(1, sizeof(*e));
		ent_push_front(st, e);
		st->n++;
	}
	e->id         = *id;
	e->epoch      = EPOCH_NONE;
	e->seq        = 0;
	e->has_latest = false;
	e->rev        = 0;
	e->mat_rev    = 0;
	e->nsince     = 0;
	e->low        = 0;
	e->swept      = 0;
	e->blk_ok     = false;
	e->present    = false;
	e->blk        = oc_null();
	e->bytes      = SIZE_MAX;
	e->pend_ok    = false;
	ent_pend_clear(e);
	memset(&e->aid, 0, sizeof(e->aid));
	if ((err = meta_read(r, id, &m, &found)) != O_OK)
		return err;
	if (found) {
		e->has_latest = true;
		e->rev        = m.rev;
		e->aid        = m.aid;
		e->mat_rev    = m.mat_rev;
		e->nsince     = m.nsince;
		e->low        = m.low;
		e->swept      = m.swept;
	}
	e->epoch = epoch;
	*out     = e;
	return O_OK;
}

/* Make sure e->blk / e->present hold the block at e->rev. */
static o_err
ent_block(struct ost_repo *r, struct ost_ent *e)
{
	o_err err;

	if (e->blk_ok) {
		stat_add(&r->st_hits, 1);
		return O_OK;
	}
	if (!e->has_latest) {
		e->present = false;
		e->blk_ok  = true;
		return O_OK;
	}
	err      = block_load(
	    r, &e->id, e->rev, e->mat_rev, &e->blk, &e->present);
	e->bytes = SIZE_MAX;
	if (err == O_OK)
		e->blk_ok = true;
	return err;
}

/*
 * The pending index of an entry: loaded from the pend family once (a scan
 * that must skip the tombstones of every pending the block ever had) and
 * then kept in step with every write, so pend, get and promotion never
 * scan on the hot path.  Writers update it right after staging a write
 * and, if the write then fails, drop it (pend_ok = false) or let the epoch
 * invalidate the entry.
 */
static o_err
ent_pends(struct ost_repo *r, struct ost_ent *e)
{
	struct plist l;
	size_t       i;
	o_err        err;

	if (e->pend_ok)
		return O_OK;
	if ((err = pend_list(r, &e->id, false, &l)) != O_OK)
		return err;
	ent_pend_clear(e);
	if (l.n > e->pcap) {
		e->pcap = l.n;
		e->pv   = o_realloc(e->pv, e->pcap * sizeof(*e->pv));
	}
	for (i = 0; i < l.n; i++) {
		e->pv[i].aid = l.v[i].aid;
		e->pv[i].exp = l.v[i].exp;
		e->pv[i].rev = l.v[i].rev;
		e->pv[i].tf  = NULL;
	}
	e->pn      = l.n;
	e->pend_ok = true;
	plist_fini(&l);
	return O_OK;
}

static void
ent_pend_del(struct ost_ent *e, const struct oc_aid *aid)
{
	size_t i;

	for (i = 0; i < e->pn; i++) {
		if (oc_aid_eq(&e->pv[i].aid, aid)) {
			tf_free(e->pv[i].tf);
			e->pv[i] = e->pv[--e->pn];
			return;
		}
	}
}

/*
 * The transform of aid's pending on e kept from its pend, taken (the
 * caller owns it; the record stays), or NULL: not kept, or the index may
 * not mirror the pend family (pend_ok false), so read the record.
 */
static struct oc_tf *
ent_pend_take_tf(
    struct ost_ent *e, const struct oc_aid *aid, int64_t *exp, int64_t *rev)
{
	struct oc_tf *tf;
	size_t        i;

	if (!e->pend_ok)
		return NULL;
	for (i = 0; i < e->pn; i++) {
		if (oc_aid_eq(&e->pv[i].aid, aid)) {
			tf          = e->pv[i].tf;
			e->pv[i].tf = NULL;
			*exp        = e->pv[i].exp;
			*rev        = e->pv[i].rev;
			return tf;
		}
	}
	return NULL;
}

static bool
ent_pend_has(const struct ost_ent *e, const struct oc_aid *aid)
{
	size_t i;

	for (i = 0; i < e->pn; i++)
		if (oc_aid_eq(&e->pv[i].aid, aid))
			return true;
	return false;
}

/* Whether a cancel of aid on id overtook this pend; id's stripe held. */
static bool
tomb_has(struct ost_repo *r, const struct oc_bid *id, const struct oc_aid *aid)
{
	const struct stripe *st = &r->stripes[stripe_of(id)];
	size_t               i;

	for (i = 0; i < STRIPE_TOMBS; i++)
		if (st->tombs[i].used && oc_bid_eq(&st->tombs[i].id, id) &&
		    oc_aid_eq(&st->tombs[i].aid, aid))
			return true;
	return false;
}

/* Note (id, aid) cancelled before its pend arrived, once (a repeated
 * cancel must not push another note out); id's stripe held. */
static void
tomb_add(struct ost_repo *r, const struct oc_bid *id, const struct oc_aid *aid)
{
	struct stripe *st = &r->stripes[stripe_of(id)];
	struct tomb   *t;

	if (tomb_has(r, id, aid))
		return;
	t       = &st->tombs[st->tomb_next++ % STRIPE_TOMBS];
	t->id   = *id;
	t->aid  = *aid;
	t->used = true;
}

/* tf: the record's transform as read back, or NULL (moved). */
static void
ent_pend_put(struct ost_ent *e, const struct oc_aid *aid, int64_t exp,
    int64_t rev, struct oc_tf *tf)
{
	ent_pend_del(e, aid);
	if (e->pn == e->pcap) {
		e->pcap = e->pcap ? 2 * e->pcap : 2;
		e->pv   = o_realloc(e->pv, e->pcap * sizeof(*e->pv));
	}
	e->pv[e->pn].aid = *aid;
	e->pv[e->pn].exp = exp;
	e->pv[e->pn].rev = rev;
	e->pv[e->pn].tf  = tf;
	e->pn++;
}

/* The valid cached entry of id, or NULL (nothing is loaded). */
static struct ost_ent *
ent_peek(struct ost_repo *r, const struct oc_bid *id)
{
	struct stripe  *st = &r->stripes[stripe_of(id)];
	struct ost_ent *e;

	for (e = st->head; e != NULL; e = e->next)
		if (oc_bid_eq(&e->id, id))
			return e->epoch == atomic_load(&r->epoch) ? e : NULL;
	return NULL;
}

/* ---- group commit ------------------------------------------------------- */

/* Called with gc_mtx held, no flush running and a non-empty open group. */
static void
gc_lead(struct ost_repo *r)
{
	struct gc_member *g   = r->gc_open, *m, *next;
	uint64_t          seq = r->gc_open_seq;
	struct ost_wb   **wbs;
	size_t            n = 0, i = 0;
	bool              sync = !r->opts.lazy_sync;
	o_err             e    = O_OK;

	r->gc_open = NULL;
	r->gc_tail = &r->gc_open;
	r->gc_open_seq++;
	r->gc_flushing = true;
	pthread_mutex_unlock(&r->gc_mtx);

	for (m = g; m != NULL; m = m->next)
		n++;
	wbs = o_malloc(n * sizeof(*wbs));
	for (m = g; m != NULL; m = m->next)
		wbs[i++] = m->wb;
	if (r->opts.fail_write != NULL)
		e = r->opts.fail_write(r->opts.fail_write_arg);
	if (e == O_OK)
		e = ost_rdb_write(r->db, wbs, n, sync);
	free(wbs);
	stat_add(&r->st_groups, 1);
	if (e == O_OK)
		atomic_fetch_add(sync ? &r->st_syncs : &r->lazy_written, 1);

	pthread_mutex_lock(&r->gc_mtx);
	for (m = g; m != NULL; m = next) {
		next    = m->next;
		m->err  = e;
		m->done = true;
	}
	if (e != O_OK) {
		detail_copy(r->gc_fail, sizeof(r->gc_fail));
		r->gc_fail_err = e;
		atomic_fetch_add(&r->epoch, 1);
		/* the queued group may have validated against ours */
		for (m = r->gc_open; m != NULL; m = next) {
			next    = m->next;
			m->err  = e;
			m->done = true;
		}
		r->gc_open = NULL;
		r->gc_tail = &r->gc_open;
		atomic_store(&r->gc_done_seq, r->gc_open_seq);
		r->gc_open_seq++;
		o_log(O_LOG_ERROR, "group commit failed: %s", r->gc_fail);
	} else {
		atomic_store(&r->gc_done_seq, seq);
	}
	r->gc_flushing = false;
	pthread_cond_broadcast(&r->gc_cv);
}

/*
 * Join the open group unless the epoch moved since the caller validated.
 * Called with the caller's stripe locks held.
 */
static o_err
gc_enqueue(
    struct ost_repo *r, struct gc_member *m, uint64_t epoch, uint64_t *seq)
{
	o_err e = O_OK;

	pthread_mutex_lock(&r->gc_mtx);
	if (atomic_load(&r->epoch) != epoch) {
		e = o_err_set(r->gc_fail_err != O_OK ? r->gc_fail_err : O_EIO,
		    "refused: an earlier group commit failed: %s", r->gc_fail);
		goto out_unlock;
	}
	m->next     = NULL;
	m->done     = false;
	m->err      = O_OK;
	*r->gc_tail = m;
	r->gc_tail  = &m->next;
	*seq        = r->gc_open_seq;
out_unlock:
	pthread_mutex_unlock(&r->gc_mtx);
	return e;
}

/* Wait until m's group is written (leading it if nobody is). */
static o_err
gc_wait(struct ost_repo *r, struct gc_member *m)
{
	o_err e;

	pthread_mutex_lock(&r->gc_mtx);
	while (!m->done) {
		if (!r->gc_flushing && r->gc_open != NULL)
			gc_lead(r);
		else
			pthread_cond_wait(&r->gc_cv, &r->gc_mtx);
	}
	e = m->err;
	if (e != O_OK)
		o_err_set(e, "group commit write failed: %s", r->gc_fail);
	pthread_mutex_unlock(&r->gc_mtx);
	return e;
}

/* Wait until group seq is finished (written or failed). */
static void
gc_wait_seq(struct ost_repo *r, uint64_t seq)
{
	pthread_mutex_lock(&r->gc_mtx);
	while (atomic_load(&r->gc_done_seq) < seq) {
		if (!r->gc_flushing && r->gc_open != NULL)
			gc_lead(r);
		else
			pthread_cond_wait(&r->gc_cv, &r->gc_mtx);
	}
	pthread_mutex_unlock(&r->gc_mtx);
}

/* ---- open / close ------------------------------------------------------- */

o_err
ost_repo_open(
    const char *dir, const struct ost_repo_opts *opts, struct ost_repo **out)
{
	struct ost_repo *r;
	size_t           i;
	o_err            e;

	if (dir == NULL || out == NULL)
		return o_err_set(O_EINVAL, "open repo: no directory");
	r = o_calloc(1, sizeof(*r));
	if (opts != NULL)
		r->opts = *opts;
	if (r->opts.pend_ttl_ms <= 0)
		r->opts.pend_ttl_ms = OST_PEND_TTL_MS;
	if (r->opts.mat_interval == 0)
		r->opts.mat_interval = 16;
	if (r->opts.prune_max == 0)
		r->opts.prune_max = 4096;
	if (r->opts.cache_entries == 0)
		r->opts.cache_entries = 4096;
	r->stripe_cap = (r->opts.cache_entries + NSTRIPES - 1) / NSTRIPES;
	if ((e = ost_rdb_open(dir, &r->db)) != O_OK) {
		free(r);
		return e;
	}
	for (i = 0; i < NSTRIPES; i++)
		pthread_mutex_init(&r->stripes[i].mtx, NULL);
	pthread_mutex_init(&r->gc_mtx, NULL);
	pthread_cond_init(&r->gc_cv, NULL);
	r->gc_tail     = &r->gc_open;
	r->gc_open_seq = 1;
	atomic_store(&r->gc_done_seq, 0);
	atomic_store(&r->epoch, 1);
	r->tx.ops = &ost_local_ops;
	*out      = r;
	return O_OK;
}

void
ost_repo_close(struct ost_repo *r)
{
	size_t i;

	if (r == NULL)
		return;
	ost_rdb_close(r->db);
	for (i = 0; i < NSTRIPES; i++) {
		struct ost_ent *e = r->stripes[i].head, *next;

		for (; e != NULL; e = next) {
			next = e->next;
			ent_free(e);
		}
		pthread_mutex_destroy(&r->stripes[i].mtx);
	}
	pthread_cond_destroy(&r->gc_cv);
	pthread_mutex_destroy(&r->gc_mtx);
	free(r);
}

o_err
ost_repo_sync(struct ost_repo *r)
{
	/* writes acknowledged before this call are done by now */
	uint64_t w = atomic_load(&r->lazy_written);
	uint64_t s = atomic_load(&r->lazy_synced);
	o_err    e;

	if (s >= w)
		return O_OK;
	if ((e = ost_rdb_sync_wal(r->db)) != O_OK)
		return e;
	stat_add(&r->st_syncs, 1);
	while (s < w && !atomic_compare_exchange_weak(&r->lazy_synced, &s, w))
		;
	return O_OK;
}

struct oc_transactor *
ost_repo_txslot(struct ost_repo *r)
{
	return &r->tx;
}

struct ost_rdb *
ost_repo_rdb(struct ost_repo *r)
{
	return r->db;
}

struct ost_repo *
ost_repo_of_txslot(struct oc_transactor *t)
{
	return (
	    struct ost_repo *) ((char *) t - offsetof(struct ost_repo, tx));
}

void
ost_repo_stats(struct ost_repo *r, struct ost_repo_stats *out)
{
	out->commits     = atomic_load(&r->st_commits);
	out->groups      = atomic_load(&r->st_groups);
	out->syncs       = atomic_load(&r->st_syncs);
	out->cache_hits  = atomic_load(&r->st_hits);
	out->cache_loads = atomic_load(&r->st_loads);
	out->replayed    = atomic_load(&r->st_replayed);
	out->mat_writes  = atomic_load(&r->st_mat);
	out->swept       = atomic_load(&r->st_swept);
	out->based       = atomic_load(&r->st_based);
	out->pend_reads  = atomic_load(&r->st_pend_reads);
	out->pruned      = atomic_load(&r->st_pruned);
	out->cache_bytes = atomic_load(&r->cached);
}

/* Move the entries of src to the end of dst (src is left empty). */
static void
txres_move(struct oc_txres *dst, struct oc_txres *src)
{
	size_t i;

	for (i = 0; i < src->nmissing; i++)
		oc_txres_add_missing(dst, &src->missing[i].id,
		    &src->missing[i].aid, src->missing[i].rev,
		    src->missing[i].tf);
	free(src->missing);
	src->missing  = NULL;
	src->nmissing = 0;
	for (i = 0; i < src->npending; i++) {
		struct oc_pendinfo *p = &src->pending[i];

		oc_txres_add_pending(
		    dst, &p->id, &p->aid, p->has_tf ? &p->tf : NULL);
	}
	if (src->stale_rev > 0)
		oc_txres_stale_at(dst, &src->stale_id, src->stale_rev);
	if (src->reason[0] != '\0')
		snprintf(dst->reason, sizeof(dst->reason), "%s", src->reason);
	oc_txres_fini(src);
}

/* ---- commit --------------------------------------------------------------
 */

/* Per block of a commit request. */
struct cblk {
	struct ost_ent *ent; /* its entry (valid while the stripes are held) */
	bool            stage; /* committed by this request */
	struct oc_val   blk;   /* new latest block (when present) */
	bool            present;
	/* changed in place: ent->blk is the new block (blk unused), and
	 * undo puts it back if the commit is not published (cblk_revert) */
	bool            inplace;
	struct oc_undo  undo;
	int64_t         mat_rev, nsince, low, swept;
	o_err           err;
};

static void
drop_pending(
    struct ost_wb *wb, const struct oc_bid *id, const struct oc_aid *aid)
{
	uint8_t k[KEY_PEND_LEN];

	key_pend(k, id, aid);
	ost_wb_del(wb, OST_CF_PEND, k, sizeof(k));
}

/* Append the keys of cf's records of id in [from, to) to keys; at most
 * max of them (0: all), *more set when more follow.  The iterator reads
 * the value of each key it visits, a blob read for large ones (store/rdb.c,
 * rdb_set_blobs): prune_max bounds the revisions', and a block keeps few
 * mat records. */
static o_err
prune_scan(struct ost_repo *r, enum ost_cf cf, const struct oc_bid *id,
    int64_t from, int64_t to, size_t max, struct o_buf *keys, bool *more)
{
	uint8_t        lo[KEY_REV_LEN], hi[KEY_REV_LEN];
	struct ost_it *it;
	size_t         got = 0;
	o_err          e;

	*more = false;
	key_rev(lo, id, from);
	key_rev(hi, id, to);
	if ((e = ost_it_open(r->db, cf, lo, sizeof(lo), hi, sizeof(hi), &it)) !=
	    O_OK)
		return e;
	for (ost_it_first(it); ost_it_valid(it); ost_it_next(it)) {
		size_t         kn;
		const uint8_t *k = ost_it_key(it, &kn);

		if (kn != KEY_REV_LEN)
			continue;
		if (max > 0 && got == max) {
			*more = true;
			break;
		}
		o_buf_append(keys, k, kn);
		got++;
	}
	e = ost_it_status(it);
	ost_it_close(it);
	return e;
}

/*
 * Stage point deletes of the rev and mat records of id in [from, *to)
 * into wb (nothing when a scan fails); *n counts them.  The range is live:
 * from is where the block's last prune stopped (meta "swp"), below which
 * everything was deleted before, so the scans meet no tombstones of
 * earlier prunes.  A long range (the first prune of a block written
 * before pruning existed) is cut at a materialisation, so that reads from
 * it on still find their mat and revs: the highest one that keeps the
 * deletes within about prune_max records (ost_repo_opts), else the next
 * one above from (one gap between copies, more than prune_max); *to is
 * lowered to it, and later materialisations prune the rest.  *to itself
 * (the new low) is a materialisation.
 */
static o_err
prune_stage(struct ost_repo *r, const struct oc_bid *id, int64_t from,
    int64_t *to, struct ost_wb *wb, uint64_t *n)
{
	struct o_buf revs = { 0 }, mats = { 0 };
	size_t       i;
	bool         more = false, mmore;
	o_err        e;

	e = prune_scan(
	    r, OST_CF_REV, id, from, *to, r->opts.prune_max, &revs, &more);
	if (e == O_OK && !more)
		e = prune_scan(r, OST_CF_MAT, id, from, *to, 0, &mats, &mmore);
	if (e == O_OK && more) {
		/* the copies up to last + 1 only: a long history's copies
		 * are read a step at a time, not all at every step */
		int64_t last = key_rev_at(revs.data + revs.len - KEY_REV_LEN);
		int64_t cut  = 0;

		e = prune_scan(
		    r, OST_CF_MAT, id, from, last + 2, 0, &mats, &mmore);
		for (i = 0; e == O_OK && i < mats.len; i += KEY_REV_LEN) {
			int64_t m = key_rev_at(mats.data + i);

			if (m > from)
				cut = m;
		}
		if (e == O_OK && cut == 0) {
			/* none: the next copy above (one gap), or *to */
			struct o_buf nx = { 0 };

			e = prune_scan(
			    r, OST_CF_MAT, id, last + 2, *to, 1, &nx, &mmore);
			cut = nx.len > 0 ? key_rev_at(nx.data) : *to;
			o_buf_fini(&nx);
		}
		if (e == O_OK)
			*to = cut;
		while (mats.len > 0 &&
		    key_rev_at(mats.data + mats.len - KEY_REV_LEN) >= cut)
			mats.len -= KEY_REV_LEN;
		if (e == O_OK && cut <= last + 1) {
			while (revs.len > 0 &&
			    key_rev_at(revs.data + revs.len - KEY_REV_LEN) >= cut)
				revs.len -= KEY_REV_LEN;
		} else if (e == O_OK) {
			o_buf_reset(&revs);
			e = prune_scan(
			    r, OST_CF_REV, id, from, cut, 0, &revs, &more);
		}
	}
	for (i = 0; e == O_OK && i < revs.len; i += KEY_REV_LEN, (*n)++)
		ost_wb_del(wb, OST_CF_REV, revs.data + i, KEY_REV_LEN);
	for (i = 0; e == O_OK && i < mats.len; i += KEY_REV_LEN, (*n)++)
		ost_wb_del(wb, OST_CF_MAT, mats.data + i, KEY_REV_LEN);
	o_buf_fini(&revs);
	o_buf_fini(&mats);
	return e;
}

/*
 * A commit of aid at rev on ent's block (its stripe held) deletes the
 * other actions' expired pendings at rev or below.  They go here and not
 * when a rival pends over them (PROTOCOL.md §5): a pending that expired
 * may belong to a decided action whose phase 2 was cut short, and then
 * it is what a read promotes.  None of them can be decided now: an
 * action at a revision below one being committed here that was decided
 * would have been promoted here first (its pend after the decision
 * names a newer base, which a replica without it refuses as behind, and
 * the coordinator commits only where the majority's latest is held), and
 * one at the same revision cannot be decided along with aid.  Pendings
 * above rev stay: they may be the next decided revision.
 */
static void
drop_expired(struct ost_repo *r, struct ost_ent *ent, const struct oc_aid *aid,
    int64_t rev, int64_t now, struct ost_wb *wb)
{
	size_t j;

	/* the list is loaded from disk only when no earlier group commit
	 * of this block is still being written: it could hold deletes of
	 * pendings that the disk still shows (then left for a later
	 * commit); aid's own delete, staged after this, is applied to the
	 * list by the caller */
	if (!ent->pend_ok &&
	    (ent_unflushed(r, ent) || ent_pends(r, ent) != O_OK)) {
		o_err_clear();
		return;
	}
	for (j = 0; j < ent->pn;) {
		struct oc_aid pa = ent->pv[j].aid;

		if (oc_aid_eq(&pa, aid) || ent->pv[j].exp > now ||
		    ent->pv[j].rev > rev) {
			j++;
			continue;
		}
		drop_pending(wb, &ent->id, &pa);
		ent_pend_del(ent, &pa); /* moves the last to j */
		stat_add(&r->st_swept, 1);
	}
}

/*
 * Validate one block of a commit and stage its records into wb.  Returns
 * O_OK with cb->stage false when the block is already committed.  Sets
 * *wait instead when the entry has an unflushed commit that this path must
 * not look past.
 */
static o_err
commit_one(struct ost_repo *r, const struct oc_bid *id,
    const struct oc_aid *aid, int64_t rev, unsigned flags, int64_t now,
    bool critical, const struct oc_tfs *given, struct cblk *cb,
    struct ost_wb *wb, struct o_buf *scratch, struct oc_txres *res,
    uint64_t *wait)
{
	struct ost_ent *ent;
	struct pitem    pi;
	struct oc_tf   *kept;
	bool            found, np, mat;
	struct oc_val   nb = oc_null(), v, tfv;
	uint8_t         k[KEY_REV_LEN];
	struct meta     m;
	char            s[OC_BID_STRLEN], as[OC_AID_STRLEN];
	o_err           e;

	if ((e = ent_get(r, id, &ent)) != O_OK)
		return e;
	cb->ent = ent;
	if (ent->has_latest && ent->rev >= rev &&
	    !((flags & COMMIT_OVER) && ent->rev == rev &&
	        !oc_aid_eq(&ent->aid, aid))) {
		if (ent_unflushed(r, ent)) {
			*wait = ent->seq;
			return O_OK;
		}
		if (ent->rev == rev && oc_aid_eq(&ent->aid, aid))
			return O_OK; /* already committed */
		if (ent->rev > rev && given == NULL) {
			/* a commit that may be one sent again (a coordinator
			 * resends phase 2; nng resends a request when its
			 * pipe closes) after later revisions landed: a stale
			 * answer must never hide that it committed.  Its
			 * pending still here says it did not; its record at
			 * rev says whether it did.  When that record is
			 * pruned only a resendable commit cannot tell: one
			 * sent once (in process) with no pending here was
			 * never committed, its expired pending having been
			 * dropped by a later commit, and it is stale. */
			struct oc_aid got;
			struct pitem  old;
			bool          pending, had = false;

			if ((e = pend_read(
			         r, id, aid, false, &old, &pending)) != O_OK)
				return e;
			if (!pending && rev < ent->low &&
			    (flags & COMMIT_RESENT))
				return o_err_set(O_EUNAVAIL,
				    "commit of action %s at rev %" PRId64
				    " on block %s: block holds rev %" PRId64
				    " and no longer keeps rev %" PRId64
				    ": cannot tell whether it was this action",
				    oc_aid_str(aid, as), rev, bstr(id, s),
				    ent->rev, rev);
			if (!pending && rev >= ent->low &&
			    (e = rev_aid(r, id, rev, &got, &had)) != O_OK)
				return e;
			if (!pending && had && oc_aid_eq(&got, aid))
				return O_OK; /* already committed */
		}
		if ((e = collect_missing(
		         r, id, rev, ent->rev, ent->low, res)) != O_OK)
			return e;
		oc_txres_stale_at(res, id, ent->rev);
		if (!critical && given == NULL) {
			drop_pending(wb, id, aid);
			ent_pend_del(ent, aid);
		}
		return o_err_set(O_ESTALE,
		    "commit of action %s at rev %" PRId64
		    " on block %s: block already holds rev %" PRId64,
		    oc_aid_str(aid, as), rev, bstr(id, s), ent->rev);
	}
	if (given != NULL) {
		/* pended and committed at once (ost_repo_pend_commit): the
		 * transform is the caller's, nothing is stored to drop */
		const struct oc_tf *tf = oc_tfs_get(given, id);

		if (tf == NULL)
			return o_err_set(O_EINVAL,
			    "commit of action %s: block %s is not in its "
			    "transforms",
			    oc_aid_str(aid, as), bstr(id, s));
		pi.aid = *aid;
		pi.exp = INT64_MAX;
		pi.rev = rev;
		pi.tf  = *tf;
		found  = true;
	} else if ((kept = ent_pend_take_tf(ent, aid, &pi.exp, &pi.rev)) !=
	    NULL) {
		/* kept from the pend: what reading the record would give */
		pi.aid    = *aid;
		pi.has_tf = true;
		pi.tf     = *kept;
		found     = true;
		free(kept);
	} else if (stat_add(&r->st_pend_reads, 1),
	    (e = pend_read(r, id, aid, true, &pi, &found)) != O_OK)
		return e;
	if (!found)
		return o_err_set(O_ENOPENDING,
		    "commit of action %s on block %s: no pending record",
		    oc_aid_str(aid, as), bstr(id, s));
	if (pi.rev != rev) {
		e = o_err_set(O_ENOPENDING,
		    "commit of action %s at rev %" PRId64
		    " on block %s: its pending is for rev %" PRId64,
		    oc_aid_str(aid, as), rev, bstr(id, s), pi.rev);
		goto out_fini_pi;
	}
	if (!(flags & COMMIT_PROMOTE) && pi.exp <= now) {
		/* kept: the action may be decided (a late phase 2), and
		 * then a read whose context lists it promotes it here;
		 * drop_expired deletes it */
		e = o_err_set(O_EEXPIRED,
		    "commit of action %s on block %s: pending expired %" PRId64
		    " ms ago",
		    oc_aid_str(aid, as), bstr(id, s), now - pi.exp);
		goto out_fini_pi;
	}
	if ((e = ent_block(r, ent)) != O_OK)
		goto out_fini_pi;
	if (!ent->present && pi.tf.insert == NULL) {
		e = o_err_set(O_ENOBASE, "%s with no base block",
		    pi.tf.nops > 0  ? "update"
		        : pi.tf.del ? "delete"
		                    : "no-op");
	} else if (ent->present && pi.tf.insert == NULL && !pi.tf.del &&
	    pi.tf.nops > 0) {
		/* an update (an append to a log block, most often): changed
		 * in place, not copied whole first; the stripe is held until
		 * this is published or put back (cblk_revert) */
		e = oc_tf_apply_in_place(&ent->blk, &pi.tf, &cb->undo);
		cb->inplace = np = e == O_OK;
	} else {
		e = oc_tf_apply(
		    ent->present ? &ent->blk : NULL, &pi.tf, &nb, &np);
	}
	if (e == O_OK && np &&
	    oc_block_validate(cb->inplace ? &ent->blk : &nb) != O_OK) {
		e = O_EBADMSG;
		if (cb->inplace) {
			oc_undo_revert(&ent->blk, &cb->undo);
			cb->inplace = false;
		}
	}
	if (e != O_OK) {
		char why[256];

		detail_copy(why, sizeof(why));
		if (given == NULL) {
			drop_pending(wb, id, aid);
			ent_pend_del(ent, aid);
		}
		e = o_err_set(e,
		    "commit of action %s at rev %" PRId64
		    " on block %s refused%s: %s",
		    oc_aid_str(aid, as), rev, bstr(id, s),
		    given == NULL ? ", pending dropped" : "", why);
		goto out_fini_nb;
	}

	/* stage: revision record, meta, pending removal, materialisation */
	m.rev    = rev;
	m.aid    = *aid;
	m.nsince = ent->has_latest ? ent->nsince + 1 : 0;
	mat      = !ent->has_latest || !np ||
	    (flags & (COMMIT_OVER | COMMIT_INSTALL)) ||
	    m.nsince >= (int64_t) r->opts.mat_interval;
	if (mat) {
		m.mat_rev = rev;
		m.nsince  = 0;
	} else {
		m.mat_rev = ent->mat_rev;
	}
	/*
	 * Pruning (repo.h, "History"): a new mat record makes the previous
	 * materialisation window the oldest kept, so what lies below the
	 * previous mat goes; a deletion keeps only its own tombstone.
	 * Deferred to a later mat write while the entry has an unflushed
	 * commit (the scan must see every record it deletes) and on a
	 * replacement (COMMIT_OVER, repair only).
	 */
	m.low   = ent->has_latest ? ent->low : 0;
	m.swept = ent->has_latest ? ent->swept : 0;
	if (mat && ent->has_latest && !(flags & COMMIT_OVER) &&
	    !ent_unflushed(r, ent) && !r->opts.no_prune) {
		/* an install (a repair) may jump over revisions this
		 * replica never saw: it keeps nothing below itself (it is
		 * materialised, above), so a read pinned inside the jump is
		 * O_ESTALE, never older content or "absent" */
		int64_t  to = (flags & COMMIT_INSTALL) ? rev
		             : np                       ? ent->mat_rev
		                                        : rev;
		uint64_t n  = 0;

		if (to > m.swept) {
			/* from where the last prune stopped: an install may
			 * have raised low over records not yet deleted */
			if (prune_stage(r, id, m.swept, &to, wb, &n) == O_OK) {
				m.swept = to;
				if (m.low < to)
					m.low = to;
				stat_add(&r->st_pruned, n);
			} else {
				o_log(O_LOG_WARN,
				    "block %s: pruning below rev %" PRId64
				    " skipped: %s",
				    bstr(id, s), to, o_err_detail());
			}
		}
	}
	/* a block new here, pruning deferred or cut short: still nothing
	 * readable below an install (records left below low are never
	 * read; swept says where the next prune starts) */
	if ((flags & COMMIT_INSTALL) && !(flags & COMMIT_OVER) && m.low < rev)
		m.low = rev;
	key_rev(k, id, rev);
	v = oc_map();
	oc_map_set(&v, "aid", oc_aid_val(aid));
	if (mat && np && pi.tf.insert != NULL && pi.tf.nops == 0) {
		/* an insert (a file's piece, most often): its block is
		 * the mat record below, stored once (rev_decode) */
		oc_map_set(&v, "mat", oc_bool(true));
	} else {
		tfv = oc_tf_to_val(&pi.tf);
		oc_map_set(&v, "tf", tfv);
	}
	o_buf_reset(scratch);
	oc_encode(&v, scratch);
	oc_val_fini(&v);
	ost_wb_put(wb, OST_CF_REV, k, sizeof(k), scratch->data, scratch->len);
	meta_encode(&m, scratch);
	ost_wb_put(
	    wb, OST_CF_META, id->b, OC_BID_LEN, scratch->data, scratch->len);
	/* first: it may load the list, where ours is still */
	drop_expired(r, ent, aid, rev, now, wb);
	if (given == NULL) {
		drop_pending(wb, id, aid);
		ent_pend_del(ent, aid);
	}
	if (mat) {
		struct oc_val null = oc_null();

		o_buf_reset(scratch);
		oc_encode(cb->inplace ? &ent->blk : np ? &nb : &null, scratch);
		ost_wb_put(
		    wb, OST_CF_MAT, k, sizeof(k), scratch->data, scratch->len);
		stat_add(&r->st_mat, 1);
	}
	cb->stage   = true;
	cb->blk     = nb;
	cb->present = np;
	cb->mat_rev = m.mat_rev;
	cb->nsince  = m.nsince;
	cb->low     = m.low;
	cb->swept   = m.swept;
	nb          = oc_null();
out_fini_nb:
	oc_val_fini(&nb);
out_fini_pi:
	if (given == NULL)
		oc_tf_fini(&pi.tf);
	return e;
}

/* Put back the blocks changed in place by cb[0..n), which are not
 * published (the stripes still held). */
static void
cblk_revert(struct cblk *cb, size_t n)
{
	size_t i;

	for (i = n; i-- > 0;)
		if (cb[i].inplace) {
			oc_undo_revert(&cb[i].ent->blk, &cb[i].undo);
			cb[i].inplace = false;
		}
}

static void
cblk_reset(struct cblk *cb, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++) {
		oc_undo_fini(&cb[i].undo);
		oc_val_fini(&cb[i].blk);
		memset(&cb[i], 0, sizeof(cb[i]));
		cb[i].blk = oc_null();
	}
}

/*
 * A commit between its two halves (repo_commit_stage, repo_commit_end):
 * what the end needs once the stripes are dropped.  Its write batch is in
 * the open group commit while queued, so it lives until the group is
 * written.
 */
struct ost_commit {
	struct cblk     *cb;
	size_t           n;
	struct ost_wb    wb;
	struct o_buf     scratch;
	struct oc_txres  lr;
	struct gc_member gm;
	bool             queued; /* gm is in a group: wait for its write */
	bool             report; /* staged (or nothing to stage): success */
	size_t           nfailed;
	char             first[192];
	o_err            e;           /* refused at staging (report false) */
	char             detail[512]; /* ... and why (o_err's whole detail) */
};

/*
 * Commit aid at rev on ids[0..n): distinct, critical first, the first half:
 * validate and build the write under the stripe locks, join the open
 * group commit and publish the staged state; repo_commit_end waits for
 * the group's write.  See ost_repo_commit() for the rules.  held (NULL:
 * none): the stripes of ids, taken by repo_pend for ost_repo_pend_commit,
 * whose transforms given are committed instead of stored pendings;
 * dropped here.  Always returns a commit for repo_commit_end.
 */
static struct ost_commit *
repo_commit_stage(struct ost_repo *r, const struct oc_aid *aid, int64_t rev,
    const struct oc_bid *ids, size_t n, unsigned flags, struct lockset *held,
    const struct oc_tfs *given)
{
	struct ost_commit *c = o_calloc(1, sizeof(*c));
	struct cblk       *cb;
	struct lockset     ls;
	struct ost_wb     *wbp  = &c->wb;
	uint64_t           wait = 0, seq = 0, epoch;
	size_t             i, nstaged;
	int64_t            now = repo_now(r);
	o_err              e   = O_OK;

	/* distinct ids: an update in place would otherwise be applied to
	 * one cached block twice (both callers remove or refuse
	 * duplicates) */
#ifndef NDEBUG
	for (i = 0; i < n; i++)
		for (size_t q = i + 1; q < n; q++)
			assert(!oc_bid_eq(&ids[i], &ids[q]));
#endif
	c->cb = cb = o_calloc(n, sizeof(*cb));
	c->n       = n;
	ost_wb_init(&c->wb);
	oc_txres_init(&c->lr);
	if (held != NULL) {
		lockset_move(&ls, held);
		goto locked;
	}
retry:
	lockset_take(r, &ls, ids, n);
locked:
	epoch   = atomic_load(&r->epoch);
	nstaged = c->nfailed = 0;
	for (i = 0; i < n; i++) {
		cb[i].err = commit_one(r, &ids[i], aid, rev, flags, now,
		    i == 0, given, &cb[i], &c->wb, &c->scratch, &c->lr, &wait);
		if (wait != 0)
			break;
		if (cb[i].stage)
			nstaged++;
		if (cb[i].err != O_OK) {
			if (c->nfailed++ == 0)
				detail_copy(c->first, sizeof(c->first));
			if (i == 0)
				break; /* critical refused: commit nothing */
		}
	}
	if (wait != 0) {
		/* nothing was written: forget what the index was told */
		for (i = 0; i < n; i++)
			if (cb[i].ent != NULL)
				cb[i].ent->pend_ok = false;
		cblk_revert(cb, n);
		cblk_reset(cb, n);
		ost_wb_reset(&c->wb);
		oc_txres_fini(&c->lr);
		oc_txres_init(&c->lr);
		lockset_drop(r, &ls);
		if (given != NULL) {
			/* repo_pend waited for these entries to be flushed
			 * and kept them locked since: cannot happen */
			char as[OC_AID_STRLEN];

			e = o_err_set(O_EBUSY,
			    "commit of action %s: a block changed under its "
			    "lock",
			    oc_aid_str(aid, as));
			goto refused;
		}
		gc_wait_seq(r, wait);
		wait = 0;
		goto retry;
	}
	if (cb[0].err != O_OK || nstaged == 0) {
		/* only pending removals to write, unsynced, under the locks */
		if (c->wb.n > 0 &&
		    ost_rdb_write(r->db, &wbp, 1, false) != O_OK) {
			o_log(O_LOG_WARN, "commit: dropping pendings: %s",
			    o_err_detail());
			for (i = 0; i < n; i++)
				if (cb[i].ent != NULL)
					cb[i].ent->pend_ok = false;
		}
		lockset_drop(r, &ls);
		if (cb[0].err != O_OK) {
			e = o_err_set(cb[0].err, "%s", c->first);
			snprintf(c->lr.reason, sizeof(c->lr.reason), "%s",
			    c->first);
			goto refused;
		}
		c->report = true;
		return c;
	}
	c->gm.wb = &c->wb;
	if ((e = gc_enqueue(r, &c->gm, epoch, &seq)) != O_OK) {
		cblk_revert(cb, n);
		lockset_drop(r, &ls);
		goto refused;
	}
	/*
	 * Publish the staged state.  If the epoch moved meanwhile, these
	 * entries carry the old one and are reloaded; our group fails.
	 */
	for (i = 0; i < n; i++) {
		struct ost_ent *ent = cb[i].ent;

		if (!cb[i].stage)
			continue;
		if (!cb[i].inplace) {
			oc_val_fini(&ent->blk);
			ent->blk = oc_val_take(&cb[i].blk);
		}
		ent->has_latest = true;
		ent->rev        = rev;
		ent->aid        = *aid;
		ent->mat_rev    = cb[i].mat_rev;
		ent->nsince     = cb[i].nsince;
		ent->low        = cb[i].low;
		ent->swept      = cb[i].swept;
		/* changed in place: the footprint known moves by the
		 * change's (ent_bytes walked a whole log block at every
		 * append) */
		ent->bytes      = cb[i].inplace && ent->bytes != SIZE_MAX
		         ? (size_t) ((int64_t) ent->bytes + cb[i].undo.dbytes)
		         : SIZE_MAX;
		ent->present    = cb[i].present;
		ent->blk_ok     = true;
		ent->seq        = seq;
	}
	lockset_drop(r, &ls);
	stat_add(&r->st_commits, 1);
	c->queued = c->report = true;
	return c;
refused:
	c->e = e;
	detail_copy(c->detail, sizeof(c->detail));
	return c;
}

/*
 * The second half of a commit: wait for its group's write, give its
 * outcome (the refusal found at staging, with its detail again: other
 * work may have come between the halves on this thread) and free c.
 */
static o_err
repo_commit_end(struct ost_repo *r, struct ost_commit *c, struct oc_txres *res)
{
	o_err e = c->e;

	if (!c->report) {
		o_err_set(e, "%s", c->detail);
		goto out;
	}
	if (c->queued && (e = gc_wait(r, &c->gm)) != O_OK)
		goto out;
	if (c->nfailed > 0) {
		snprintf(c->lr.reason, sizeof(c->lr.reason),
		    "%zu of %zu block(s) not committed; first: %s", c->nfailed,
		    c->n, c->first);
		o_log(O_LOG_WARN, "%s", c->lr.reason);
	}
	e = O_OK;
out:
	txres_move(res, &c->lr);
	cblk_reset(c->cb, c->n);
	free(c->cb);
	o_buf_fini(&c->scratch);
	ost_wb_fini(&c->wb);
	free(c);
	return e;
}

/* Both halves at once (ost_repo_commit's rules). */
static o_err
repo_commit(struct ost_repo *r, const struct oc_aid *aid, int64_t rev,
    const struct oc_bid *ids, size_t n, unsigned flags, struct lockset *held,
    const struct oc_tfs *given, struct oc_txres *res)
{
	return repo_commit_end(r,
	    repo_commit_stage(r, aid, rev, ids, n, flags, held, given), res);
}

/* A commit refused before staging: e, with the detail set. */
static struct ost_commit *
commit_refused_early(o_err e)
{
	struct ost_commit *c = o_calloc(1, sizeof(*c));

	ost_wb_init(&c->wb);
	oc_txres_init(&c->lr);
	c->e = e;
	detail_copy(c->detail, sizeof(c->detail));
	return c;
}

struct ost_commit *
ost_repo_commit_start(struct ost_repo *r, const struct oc_commit_req *req)
{
	struct ost_commit *c;
	struct oc_bid     *ids;
	size_t             i, j;
	o_err              e;

	if (req == NULL || req->ids == NULL || req->n == 0)
		return commit_refused_early(
		    o_err_set(O_EINVAL, "commit: no blocks"));
	if (req->rev < 1)
		return commit_refused_early(o_err_set(
		    O_EINVAL, "commit: rev %" PRId64 " < 1", req->rev));
	ids = o_malloc(req->n * sizeof(*ids));
	if ((e = oc_commit_order(req, ids)) != O_OK) {
		free(ids);
		return commit_refused_early(e);
	}
	/* drop duplicates (the rest is sorted, so they are adjacent) */
	for (i = j = 1; i < req->n; i++) {
		if (oc_bid_eq(&ids[i], &ids[0]) ||
		    (j > 1 && oc_bid_eq(&ids[i], &ids[j - 1])))
			continue;
		ids[j++] = ids[i];
	}
	c = repo_commit_stage(r, &req->aid, req->rev, ids, j,
	    req->resendable ? COMMIT_RESENT : 0, NULL, NULL);
	free(ids);
	return c;
}

o_err
ost_repo_commit_end(
    struct ost_repo *r, struct ost_commit *c, struct oc_txres *res)
{
	return repo_commit_end(r, c, res);
}

o_err
ost_repo_commit(
    struct ost_repo *r, const struct oc_commit_req *req, struct oc_txres *res)
{
	if (res == NULL)
		return o_err_set(O_EINVAL, "commit: no result");
	return repo_commit_end(r, ost_repo_commit_start(r, req), res);
}

/* ---- pend ----------------------------------------------------------------
 */

/*
 * Claims: fairness between writers of one block (PROTOCOL.md §4a).  A
 * writer that keeps losing to one that commits without pause (and so
 * always holds the newer state) would otherwise wait out its deadline: a
 * writer refused after trying for CLAIM_AFTER_MS claims the blocks that
 * refused it (stale there, or a live rival pending), and for
 * CLAIM_TTL_MS (renewed by each refusal) pends of writers that started
 * later are refused as if the claimant held a pending.  An older writer
 * that is refused takes a claim over, so two claimants cannot hold each
 * other off for long.  Claims live in the cache entry only: losing one
 * costs fairness, never safety, as a claim only ever refuses.
 */
/* the lapse outlasts the longest backoff between retries (500 ms) */
enum { CLAIM_AFTER_MS = 20, CLAIM_TTL_MS = 750 };

/* When the writer of req started, on this replica's clock. */
static int64_t
claim_since(const struct oc_pend_req *req, int64_t now)
{
	return oc_aid_is_zero(&req->who) ? now : now - req->waited_ms;
}

/* The block of ent is claimed by a writer older than req's. */
static bool
claim_holds_off(const struct ost_ent *ent, const struct oc_pend_req *req,
    int64_t now)
{
	return ent->cl_until > now && !oc_aid_eq(&ent->cl_who, &req->who) &&
	    ent->cl_since < claim_since(req, now);
}

/* After req was refused (accepted: false) or accepted on ent. */
static void
claim_note(struct ost_ent *ent, const struct oc_pend_req *req, int64_t now,
    bool accepted)
{
	int64_t since = claim_since(req, now);
	bool    ours  = oc_aid_eq(&ent->cl_who, &req->who);

	if (accepted) {
		if (ours)
			ent->cl_until = 0;
		return;
	}
	if (oc_aid_is_zero(&req->who) || req->waited_ms < CLAIM_AFTER_MS)
		return;
	if (ent->cl_until <= now || ours || since < ent->cl_since) {
		ent->cl_who   = req->who;
		ent->cl_since = since;
		ent->cl_until = now + CLAIM_TTL_MS;
	}
}

/*
 * ost_repo_pend(), or with hold (ost_repo_pend_commit) only its checks:
 * nothing is stored for req's action, and on O_OK the stripes of its
 * blocks stay locked in *hold for the commit.
 */
static o_err
repo_pend(struct ost_repo *r, const struct oc_pend_req *req,
    struct oc_txres *res, struct lockset *hold)
{
	const struct oc_tfs *tfs;
	struct oc_bid       *ids  = NULL;
	struct o_buf        *vals = NULL;
	struct oc_tf       **backs = NULL; /* vals' transforms read back */
	struct ost_ent     **ents = NULL;
	bool                *hit  = NULL; /* block i refused this pend */
	struct lockset       ls;
	struct ost_wb        wb, *wbp = &wb;
	struct oc_txres      lr;
	int64_t              now, mono, exp;
	uint64_t             wait, nbased;
	size_t               i, j, n = 0, nrival, behind;
	char                 s[OC_BID_STRLEN], as[OC_AID_STRLEN];
	char                 why[256] = "";
	o_err                e        = O_OK;

	if (req == NULL || res == NULL || req->tfs == NULL || req->tfs->n == 0)
		return o_err_set(O_EINVAL, "pend: no blocks");
	if (req->rev < 1)
		return o_err_set(
		    O_EINVAL, "pend: rev %" PRId64 " < 1", req->rev);
	if (req->policy != OC_POLICY_CONTINUE &&
	    req->policy != OC_POLICY_FAIL && req->policy != OC_POLICY_RETURN)
		return o_err_set(
		    O_EINVAL, "pend: unknown policy %u", req->policy);
	if (req->ttl_ms < 0 || req->ttl_ms > OC_PEND_TTL_MAX_MS)
		return o_err_set(O_EINVAL,
		    "pend: a time to live of %" PRId64 " ms (at most 1 h)",
		    req->ttl_ms);
	tfs  = req->tfs;
	n    = tfs->n;
	ents = o_calloc(n, sizeof(*ents));
	hit  = o_calloc(n, sizeof(*hit));
	now  = repo_now(r);
	mono  = repo_mono(r);
	exp   = now + (req->ttl_ms > 0 ? req->ttl_ms : r->opts.pend_ttl_ms);
	ids  = o_malloc(n * sizeof(*ids));
	vals  = o_calloc(n, sizeof(*vals));
	backs = o_calloc(n, sizeof(*backs));
	ost_wb_init(&wb);
	oc_txres_init(&lr);

	/* encode and check every record before taking any lock */
	for (i = 0; i < n; i++) {
		const struct oc_tf *tf = &tfs->e[i].tf;
		struct oc_val       v, tfv;
		struct oc_bid       got;

		ids[i] = tfs->e[i].id;
		if (i > 0 && oc_bid_cmp(&ids[i - 1], &ids[i]) >= 0) {
			e = o_err_set(O_EINVAL,
			    "pend: transform set not sorted at block %s",
			    bstr(&ids[i], s));
			goto out_free;
		}
		if (tf->insert != NULL &&
		    (!oc_block_id(tf->insert, &got) ||
		        !oc_bid_eq(&got, &ids[i]))) {
			e = o_err_set(O_EINVAL,
			    "pend: block %s inserts a block with another id",
			    bstr(&ids[i], s));
			goto out_free;
		}
		if ((e = tf_checked_val(
		         tf, &tfv, hold == NULL ? &backs[i] : NULL)) != O_OK) {
			e = o_err_wrap(e, "pend: block %s: invalid transform",
			    bstr(&ids[i], s));
			goto out_free;
		}
		if (hold != NULL) {
			/* checked as a reader will decode it (the commit
			 * stores it so); no pending record is stored */
			oc_val_fini(&tfv);
			continue;
		}
		v = oc_map();
		oc_map_set(&v, "exp", oc_int(exp));
		oc_map_set(&v, "rev", oc_int(req->rev));
		oc_map_set(&v, "tf", tfv);
		oc_encode(&v, &vals[i]);
		oc_val_fini(&v);
		if (vals[i].len > PEND_KEEP_MAX) {
			tf_free(backs[i]);
			backs[i] = NULL;
		}
	}

retry:
	wait   = 0;
	nbased = 0;
	behind = SIZE_MAX; /* the first block held older than its base */
	lockset_take(r, &ls, ids, n);
	for (i = 0; i < n && e == O_OK; i++) {
		struct ost_ent *ent;
		bool            based;

		if ((e = ent_get(r, &ids[i], &ent)) != O_OK)
			break;
		ents[i] = ent;
		if (tomb_has(r, &ids[i], &req->aid)) {
			e = o_err_set(O_EEXPIRED,
			    "pend of action %s on block %s: cancelled before "
			    "it arrived (its coordinator had left this "
			    "replica)",
			    oc_aid_str(&req->aid, as), bstr(&ids[i], s));
			break;
		}
		if (ent_unflushed(r, ent) && ent->seq > wait)
			wait = ent->seq;
		if (wait != 0)
			continue;
		based = tfs->e[i].tf.insert == NULL && req->base != NULL &&
		    req->base[i] > 0;
		nbased += based;
		if (based && (ent->has_latest ? ent->rev : 0) < req->base[i]) {
			/* compare and set: this replica missed a commit the
			 * writer's update builds on; applied here it would
			 * land on another base (reported below, unless a
			 * block is stale: the writer must rebase anyway) */
			if (behind == SIZE_MAX)
				behind = i;
			continue;
		}
		if (!ent->has_latest)
			continue;
		if (ent->rev >= req->rev || tfs->e[i].tf.insert != NULL ||
		    (based && ent->rev > req->base[i])) {
			/* taken, an insert over a block, or an update over
			 * an older revision than the latest (the writer
			 * read the block before a commit it missed) */
			int64_t from = ent->rev >= req->rev ? req->rev :
			    tfs->e[i].tf.insert != NULL  ? ent->rev :
			                                   req->base[i] + 1;

			e = collect_missing(
			    r, &ids[i], from, ent->rev, ent->low, &lr);
			oc_txres_stale_at(&lr, &ids[i], ent->rev);
			hit[i] = true;
			if (e == O_OK && why[0] == '\0')
				snprintf(why, sizeof(why),
				    "block %s already holds rev %" PRId64
				    " (pend at rev %" PRId64 "%s)",
				    bstr(&ids[i], s), ent->rev, req->rev,
				    ent->rev >= req->rev           ? "" :
				    tfs->e[i].tf.insert != NULL ? ", inserting" :
				                                  ", over an older "
				                                  "base");
		}
	}
	if (wait != 0 && e == O_OK) {
		oc_txres_fini(&lr);
		oc_txres_init(&lr);
		memset(hit, 0, n * sizeof(*hit));
		why[0] = '\0';
		lockset_drop(r, &ls);
		gc_wait_seq(r, wait);
		goto retry;
	}
	if (e != O_OK)
		goto out_unlock;
	stat_add(&r->st_based, nbased);
	if (behind != SIZE_MAX && lr.nmissing == 0 && lr.stale_rev == 0) {
		struct ost_ent *ent = ents[behind];

		e = o_err_set(O_EBEHIND,
		    "block %s: this replica holds rev %" PRId64
		    ", the writer's update at rev %" PRId64
		    " builds on rev %" PRId64
		    " (behind: to be repaired, not pended on)",
		    bstr(&ids[behind], s),
		    ent->has_latest ? ent->rev : (int64_t) 0, req->rev,
		    req->base[behind]);
		goto out_unlock;
	}

	/* rival pendings: live ones refuse (or are listed), expired ones
	 * neither refuse nor go */
	nrival = 0;
	for (i = 0; i < n && e == O_OK; i++) {
		struct ost_ent *ent = ents[i];

		if ((e = ent_pends(r, ent)) != O_OK)
			break;
		for (j = 0; j < ent->pn;) {
			struct oc_aid pa = ent->pv[j].aid;
			struct pitem  pi;
			bool          found = false;

			if (oc_aid_eq(&pa, &req->aid) && hold != NULL) {
				/* ours, pended before: committed now */
				drop_pending(&wb, &ids[i], &pa);
				ent_pend_del(ent, &pa);
				continue;
			}
			if (oc_aid_eq(&pa, &req->aid)) {
				j++; /* ours: replaced below */
				continue;
			}
			j++;
			if (ent->pv[j - 1].exp <= now)
				continue; /* expired: kept (drop_expired) */
			hit[i] = true;
			if (req->policy == OC_POLICY_RETURN &&
			    (e = pend_read(
			         r, &ids[i], &pa, true, &pi, &found)) != O_OK)
				break;
			oc_txres_add_pending(
			    &lr, &ids[i], &pa, found ? &pi.tf : NULL);
			if (found)
				oc_tf_fini(&pi.tf);
			if (nrival++ == 0 && why[0] == '\0')
				snprintf(why, sizeof(why),
				    "block %s holds a live pending of action "
				    "%s",
				    bstr(&ids[i], s), oc_aid_str(&pa, as));
		}
	}
	if (e != O_OK)
		goto out_unlock;
	if (lr.nmissing > 0 || lr.stale_rev > 0)
		e = O_ESTALE;
	else if (nrival > 0 && req->policy != OC_POLICY_CONTINUE)
		e = O_EPENDING;
	for (i = 0; i < n && e == O_OK; i++)
		if (claim_holds_off(ents[i], req, mono)) {
			e = O_EPENDING;
			snprintf(why, sizeof(why),
			    "block %s is claimed for %" PRId64 " ms more by a "
			    "writer trying for %" PRId64 " ms",
			    bstr(&ids[i], s), ents[i]->cl_until - mono,
			    mono - ents[i]->cl_since);
		}
	/* claim only the blocks that refused (stale, or a live rival) */
	for (i = 0; i < n; i++)
		if (e == O_OK || hit[i])
			claim_note(ents[i], req, mono, e == O_OK);
	if (e == O_OK && hold == NULL) {
		for (i = 0; i < n; i++) {
			uint8_t k[KEY_PEND_LEN];

			key_pend(k, &ids[i], &req->aid);
			ost_wb_put(&wb, OST_CF_PEND, k, sizeof(k),
			    vals[i].data, vals[i].len);
		}
	}
	if (wb.n > 0) {
		o_err we = ost_rdb_write(r->db, &wbp, 1, false);

		if (we != O_OK) {
			for (i = 0; i < n; i++)
				ents[i]->pend_ok = false;
			if (e == O_OK)
				e = we; /* detail from the write */
		}
	}
	if (e == O_OK && hold == NULL)
		for (i = 0; i < n; i++) {
			ent_pend_put(
			    ents[i], &req->aid, exp, req->rev, backs[i]);
			backs[i] = NULL;
		}
	if (e == O_ESTALE || e == O_EPENDING) {
		snprintf(lr.reason, sizeof(lr.reason), "%s", why);
		e = o_err_set(e, "pend of action %s at rev %" PRId64 ": %s",
		    oc_aid_str(&req->aid, as), req->rev, why);
	}
out_unlock:
	if (e == O_OK && hold != NULL)
		lockset_move(hold, &ls);
	else
		lockset_drop(r, &ls);
	txres_move(res, &lr);
out_free:
	for (i = 0; i < n; i++) {
		o_buf_fini(&vals[i]);
		tf_free(backs[i]);
	}
	free(vals);
	free(backs);
	free(ids);
	free(ents);
	free(hit);
	ost_wb_fini(&wb);
	oc_txres_fini(&lr);
	return e;
}

o_err
ost_repo_pend(
    struct ost_repo *r, const struct oc_pend_req *req, struct oc_txres *res)
{
	return repo_pend(r, req, res, NULL);
}

o_err
ost_repo_pend_commit(struct ost_repo *r, const struct oc_pend_req *preq,
    const struct oc_commit_req *creq, struct oc_txres *res)
{
	struct lockset ls;
	struct oc_bid *ids;
	size_t         i;
	char           as[OC_AID_STRLEN];
	o_err          e;

	if (preq == NULL || creq == NULL || res == NULL || preq->tfs == NULL ||
	    creq->ids == NULL)
		return o_err_set(O_EINVAL, "pend and commit: no blocks");
	if (preq->policy == OC_POLICY_CONTINUE)
		return o_err_set(O_EINVAL,
		    "pend and commit of action %s: policy 'c' would commit "
		    "over live rival pendings",
		    oc_aid_str(&preq->aid, as));
	if (!oc_aid_eq(&preq->aid, &creq->aid) || preq->rev != creq->rev ||
	    preq->tfs->n != creq->n)
		return o_err_set(O_EINVAL,
		    "pend and commit of action %s: the commit names another "
		    "action, revision or number of blocks",
		    oc_aid_str(&preq->aid, as));
	ids = o_malloc(creq->n * sizeof(*ids));
	if ((e = oc_commit_order(creq, ids)) != O_OK)
		goto out_free;
	for (i = 0; i < creq->n; i++)
		if ((i > 1 && oc_bid_cmp(&ids[i - 1], &ids[i]) >= 0) ||
		    (i > 0 && oc_bid_eq(&ids[i], &ids[0])) ||
		    oc_tfs_get(preq->tfs, &ids[i]) == NULL) {
			e = o_err_set(O_EINVAL,
			    "pend and commit of action %s: the commit's "
			    "blocks are not those of its transforms",
			    oc_aid_str(&preq->aid, as));
			goto out_free;
		}
	if ((e = repo_pend(r, preq, res, &ls)) == O_OK)
		e = repo_commit(r, &creq->aid, creq->rev, ids, creq->n, 0, &ls,
		    preq->tfs, res);
out_free:
	free(ids);
	return e;
}

/* ---- get ------------------------------------------------------------------
 */

/* Copy the detail into reason, without a leading "block <id>: ". */
static void
reason_set(char *reason, size_t n, o_err e)
{
	const char *d = o_err_detail();

	if (strncmp(d, "block ", 6) == 0 && strlen(d) > 6 + OC_BID_STRLEN &&
	    d[6 + OC_BID_STRLEN - 1] == ':')
		d += 6 + OC_BID_STRLEN + 1;
	snprintf(reason, n, "%s: %s", o_errname(e), d);
}

/* Lock the stripe of id and get its flushed entry. */
static o_err
lock_flushed(struct ost_repo *r, const struct oc_bid *id, struct lockset *ls,
    struct ost_ent **ent)
{
	o_err e;

	for (;;) {
		lockset_take(r, ls, id, 1);
		if ((e = ent_get(r, id, ent)) != O_OK)
			return e; /* still locked */
		if (!ent_unflushed(r, *ent))
			return O_OK;
		{
			uint64_t seq = (*ent)->seq;

			lockset_drop(r, ls);
			gc_wait_seq(r, seq);
		}
	}
}

/*
 * Read-driven promotion: commit, in revision order, every action of ctx
 * newer than the block's latest whose pending this repo holds.  why gets a
 * reason when a promotion was refused for good (the block cannot reach the
 * revision the context knows).
 */
static void
promote(struct ost_repo *r, const struct oc_bid *id, const struct oc_actx *ctx,
    char *why, size_t whyn, o_err *cause)
{
	bool *tried = o_calloc(ctx->n, sizeof(bool));

	for (;;) {
		struct lockset  ls;
		struct ost_ent *ent;
		struct oc_txres tr;
		size_t          j, k, best = SIZE_MAX;
		int64_t         base;
		o_err           e;

		e = lock_flushed(r, id, &ls, &ent);
		if (e == O_OK)
			e = ent_pends(r, ent);
		if (e != O_OK) {
			lockset_drop(r, &ls);
			reason_set(why, whyn, e);
			*cause = e;
			break;
		}
		base = ent->has_latest ? ent->rev : 0;
		for (j = 0; ent->pn > 0 && j < ctx->n; j++) {
			const struct oc_actrev *c = &ctx->committed[j];

			if (tried[j] || c->rev <= base)
				continue;
			for (k = 0; k < ent->pn; k++)
				if (oc_aid_eq(&ent->pv[k].aid, &c->aid))
					break;
			if (k == ent->pn)
				continue;
			if (best == SIZE_MAX ||
			    c->rev < ctx->committed[best].rev)
				best = j;
		}
		lockset_drop(r, &ls);
		if (best == SIZE_MAX)
			break;
		tried[best] = true;
		oc_txres_init(&tr);
		e = repo_commit(r, &ctx->committed[best].aid,
		    ctx->committed[best].rev, id, 1, COMMIT_PROMOTE, NULL,
		    NULL, &tr);
		oc_txres_fini(&tr);
		if (e == O_OK || e == O_ESTALE || e == O_ENOPENDING)
			continue;
		reason_set(why, whyn, e);
		*cause = e;
		if (e == O_ENOBASE || e == O_EBADMSG) {
			char tmp[96];

			/* must heal from peers: could not find out here */
			*cause = O_EUNAVAIL;

			snprintf(
			    tmp, sizeof(tmp), "unmaterializable: %s", why);
			snprintf(why, whyn, "%s", tmp);
		}
		break;
	}
	free(tried);
}

static void
get_one(struct ost_repo *r, const struct oc_bid *id, const struct oc_actx *ctx,
    struct oc_get_res *res)
{
	struct lockset  ls;
	struct ost_ent *ent;
	int64_t         now                      = repo_now(r), target;
	char            why[sizeof(res->reason)] = "";
	size_t          j;
	o_err           e, cause = O_OK;

	if (ctx != NULL && ctx->n > 0)
		promote(r, id, ctx, why, sizeof(why), &cause);
	if ((e = lock_flushed(r, id, &ls, &ent)) != O_OK)
		goto out_unknown;
	if ((e = ent_pends(r, ent)) != O_OK)
		goto out_unknown;
	for (j = 0; j < ent->pn; j++) {
		if (ent->pv[j].exp <= now)
			continue;
		res->pendings = o_realloc(
		    res->pendings, (res->npend + 1) * sizeof(*res->pendings));
		res->pendings[res->npend++] = ent->pv[j].aid;
	}
	res->state = OC_GET_ABSENT;
	if (ent->has_latest) {
		res->latest_rev = ent->rev;
		res->latest_aid = ent->aid;
		target          = ent->rev;
		if (ctx != NULL && ctx->rev > 0 && ctx->rev < ent->rev)
			target = ctx->rev;
		if (target == ent->rev) {
			if ((e = ent_block(r, ent)) != O_OK)
				goto out_unknown;
			res->mat_rev = ent->rev;
			if (ent->present) {
				res->state = OC_GET_BLOCK;
				res->block = oc_val_dup(&ent->blk);
			}
		} else {
			int64_t at;
			bool    present;
			char    s[OC_BID_STRLEN];

			if (target < ent->low) {
				/* pruned: the block may well have existed */
				e = o_err_set(O_ESTALE,
				    "block %s: rev %" PRId64
				    " is older than the history kept (from "
				    "rev %" PRId64 "): read the latest",
				    bstr(id, s), target, ent->low);
				goto out_unknown;
			}
			if ((e = rev_at_or_below(
			         r, id, target, ent->low, &at)) != O_OK)
				goto out_unknown;
			if (at > 0) {
				e = block_load(
				    r, id, at, 0, &res->block, &present);
				if (e != O_OK)
					goto out_unknown;
				res->mat_rev = at;
				if (present)
					res->state = OC_GET_BLOCK;
			}
		}
	}
	if (why[0] != '\0') {
		/* the context knows a revision this block cannot reach */
		res->state = OC_GET_UNKNOWN;
		res->cause = cause;
		oc_val_fini(&res->block);
		snprintf(res->reason, sizeof(res->reason), "%s", why);
	}
	lockset_drop(r, &ls);
	return;
out_unknown:
	res->state = OC_GET_UNKNOWN;
	res->cause = e;
	oc_val_fini(&res->block);
	reason_set(res->reason, sizeof(res->reason), e);
	lockset_drop(r, &ls);
}

o_err
ost_repo_get(struct ost_repo *r, const struct oc_bid *ids, size_t n,
    const struct oc_actx *ctx, struct oc_get_res *out)
{
	size_t i;

	if (n > 0 && (ids == NULL || out == NULL))
		return o_err_set(O_EINVAL, "get: no ids or results");
	for (i = 0; i < n; i++) {
		oc_get_res_init(&out[i]);
		out[i].id = ids[i];
		get_one(r, &ids[i], ctx, &out[i]);
	}
	return O_OK;
}

void
ost_repo_latest(struct ost_repo *r, const struct oc_bid *ids, size_t n,
    int64_t *revs, struct oc_aid *aids)
{
	size_t i;

	for (i = 0; i < n; i++) {
		struct lockset  ls;
		struct ost_ent *ent;

		revs[i] = -1;
		memset(&aids[i], 0, sizeof(aids[i]));
		/* what get_one answers without a context, less the copy */
		if (lock_flushed(r, &ids[i], &ls, &ent) == O_OK &&
		    ent_pends(r, ent) == O_OK) {
			if (!ent->has_latest) {
				revs[i] = 0;
			} else {
				aids[i] = ent->aid;
				if (ent_block(r, ent) == O_OK)
					revs[i] = ent->rev;
			}
		}
		if (revs[i] < 0)
			o_err_clear(); /* the answer says it: -1 */
		lockset_drop(r, &ls);
	}
}

/* ---- cancel / status / sweep -------------------------------------------- */

o_err
ost_repo_cancel(struct ost_repo *r, const struct oc_aid *aid,
    const struct oc_bid *ids, size_t n)
{
	struct lockset ls;
	struct ost_wb  wb, *wbp = &wb;
	size_t         i;
	o_err          e;

	if (aid == NULL || (n > 0 && ids == NULL))
		return o_err_set(O_EINVAL, "cancel: no action or ids");
	if (n == 0)
		return O_OK;
	ost_wb_init(&wb);
	for (i = 0; i < n; i++)
		drop_pending(&wb, &ids[i], aid);
	lockset_take(r, &ls, ids, n);
	for (i = 0; i < n; i++) {
		struct ost_ent *ent;

		/* nothing to cancel here: the pend is still on its way
		 * (or never came; a block that cannot be read is left) */
		if (ent_get(r, &ids[i], &ent) == O_OK &&
		    ent_pends(r, ent) == O_OK && !ent_pend_has(ent, aid))
			tomb_add(r, &ids[i], aid);
	}
	e = ost_rdb_write(r->db, &wbp, 1, false);
	for (i = 0; i < n; i++) {
		struct ost_ent *ent = ent_peek(r, &ids[i]);

		if (ent == NULL)
			continue;
		if (e == O_OK)
			ent_pend_del(ent, aid);
		else
			ent->pend_ok = false;
	}
	lockset_drop(r, &ls);
	ost_wb_fini(&wb);
	return e;
}

o_err
ost_repo_status(struct ost_repo *r, const struct oc_aid *aid, int64_t rev,
    const struct oc_bid *ids, size_t n, uint8_t *out)
{
	int64_t now = repo_now(r);
	size_t  i;
	o_err   first       = O_OK;
	char    firstd[256] = "";

	if (aid == NULL || (n > 0 && (ids == NULL || out == NULL)))
		return o_err_set(O_EINVAL, "status: no action, ids or output");
	for (i = 0; i < n; i++) {
		struct lockset  ls;
		struct ost_ent *ent;
		struct pitem    pi;
		struct oc_aid   got;
		bool            found;
		o_err           e;

		out[i] = OC_ST_UNKNOWN;
		if ((e = lock_flushed(r, &ids[i], &ls, &ent)) != O_OK)
			goto next;
		if ((e = pend_read(r, &ids[i], aid, false, &pi, &found)) !=
		    O_OK)
			goto next;
		if (found && pi.exp > now) {
			out[i] = OC_ST_PENDING;
			goto next;
		}
		out[i] = OC_ST_ABORTED;
		if (rev < 1)
			goto next;
		if (ent->has_latest && rev < ent->low) {
			out[i] = OC_ST_UNKNOWN; /* pruned: cannot tell */
			goto next;
		}
		e = rev_aid(r, &ids[i], rev, &got, &found);
		if (e == O_OK && found && oc_aid_eq(&got, aid))
			out[i] = OC_ST_COMMITTED;
	next:
		if (e != O_OK) {
			out[i] = OC_ST_UNKNOWN;
			if (first == O_OK) {
				first = e;
				detail_copy(firstd, sizeof(firstd));
			}
		}
		lockset_drop(r, &ls);
	}
	if (first != O_OK)
		return o_err_set(first, "status: %s", firstd);
	return O_OK;
}

o_err
ost_repo_sweep(struct ost_repo *r, int64_t now_ms, size_t *swept)
{
	struct ost_it *it;
	struct {
		struct oc_bid id;
		struct oc_aid aid;
	} *dead      = NULL;
	size_t ndead = 0, cap = 0, i, done = 0;
	o_err  e;

	if (swept != NULL)
		*swept = 0;
	if ((e = ost_it_open(r->db, OST_CF_PEND, NULL, 0, NULL, 0, &it)) !=
	    O_OK)
		return e;
	for (ost_it_first(it); ost_it_valid(it); ost_it_next(it)) {
		size_t         kn, vn;
		const uint8_t *k = ost_it_key(it, &kn);
		const uint8_t *v = ost_it_val(it, &vn);
		struct oc_bid  id;
		struct pitem   pi;

		if (kn != KEY_PEND_LEN)
			continue;
		memcpy(id.b, k, OC_BID_LEN);
		if (pend_decode(&id, v, vn, false, &pi) != O_OK) {
			o_log(O_LOG_WARN, "sweep: %s", o_err_detail());
			continue;
		}
		if (pi.exp > now_ms)
			continue;
		if (ndead == cap) {
			cap  = cap ? 2 * cap : 16;
			dead = o_realloc(dead, cap * sizeof(*dead));
		}
		dead[ndead].id = id;
		memcpy(dead[ndead].aid.b, k + OC_BID_LEN, OC_AID_LEN);
		ndead++;
	}
	e = ost_it_status(it);
	ost_it_close(it);
	/* delete each under its stripe, re-checked: it may have been re-pended
	 */
	for (i = 0; i < ndead && e == O_OK; i++) {
		struct lockset ls;
		struct pitem   pi;
		struct ost_wb  wb, *wbp = &wb;
		bool           found;

		ost_wb_init(&wb);
		lockset_take(r, &ls, &dead[i].id, 1);
		if (pend_read(r, &dead[i].id, &dead[i].aid, false, &pi,
		        &found) == O_OK &&
		    found && pi.exp <= now_ms) {
			struct ost_ent *ent = ent_peek(r, &dead[i].id);

			drop_pending(&wb, &dead[i].id, &dead[i].aid);
			e = ost_rdb_write(r->db, &wbp, 1, false);
			if (e == O_OK)
				done++;
			if (ent != NULL && e == O_OK)
				ent_pend_del(ent, &dead[i].aid);
			else if (ent != NULL)
				ent->pend_ok = false;
		}
		lockset_drop(r, &ls);
		ost_wb_fini(&wb);
	}
	free(dead);
	stat_add(&r->st_swept, done);
	if (swept != NULL)
		*swept = done;
	return e;
}

/* ---- install (repair from peers) ------------------------------------------
 */

o_err
ost_repo_install(struct ost_repo *r, const struct oc_bid *id, int64_t rev,
    const struct oc_aid *aid, const struct oc_val *blk, bool over,
    bool *installed)
{
	struct lockset  ls;
	struct ost_ent *ent;
	struct ost_wb   wb, *wbp = &wb;
	struct oc_txres tr;
	struct oc_tf    tf;
	struct oc_val   v, tfv;
	struct o_buf    val = { 0 };
	struct oc_bid   got;
	uint8_t         k[KEY_PEND_LEN];
	int64_t         exp;
	char            s[OC_BID_STRLEN];
	o_err           e;

	if (installed != NULL)
		*installed = false;
	if (rev < 1)
		return o_err_set(
		    O_EINVAL, "install: rev %" PRId64 " < 1", rev);
	if (blk != NULL && (!oc_block_id(blk, &got) || !oc_bid_eq(&got, id) ||
	                       oc_block_validate(blk) != O_OK))
		return o_err_set(O_EINVAL,
		    "install: block %s: not a valid block with that id",
		    bstr(id, s));
	oc_tf_init(&tf);
	if (blk != NULL) {
		tf.insert  = o_malloc(sizeof(*tf.insert));
		*tf.insert = oc_val_dup(blk);
	} else
		tf.del = true;
	if ((e = tf_checked_val(&tf, &tfv, NULL)) != O_OK) {
		oc_tf_fini(&tf);
		return e;
	}
	oc_tf_fini(&tf);
	exp = repo_now(r) + 60000;
	v   = oc_map();
	oc_map_set(&v, "exp", oc_int(exp));
	oc_map_set(&v, "rev", oc_int(rev));
	oc_map_set(&v, "tf", tfv);
	oc_encode(&v, &val);
	oc_val_fini(&v);

	if ((e = lock_flushed(r, id, &ls, &ent)) == O_OK)
		e = ent_block(r, ent);
	over = over && ent->has_latest && ent->rev == rev &&
	    !oc_aid_eq(&ent->aid, aid);
	if (e != O_OK || (ent->has_latest && ent->rev >= rev && !over) ||
	    (blk == NULL && !ent->present)) {
		lockset_drop(r, &ls);
		o_buf_fini(&val);
		return e; /* already there (or nothing to delete) */
	}
	ost_wb_init(&wb);
	key_pend(k, id, aid);
	ost_wb_put(&wb, OST_CF_PEND, k, sizeof(k), val.data, val.len);
	e = ost_rdb_write(r->db, &wbp, 1, false);
	if (e == O_OK)
		ent_pend_put(ent, aid, exp, rev, NULL);
	else
		ent->pend_ok = false;
	lockset_drop(r, &ls);
	ost_wb_fini(&wb);
	o_buf_fini(&val);
	if (e != O_OK)
		return e;
	oc_txres_init(&tr);
	e = repo_commit(r, aid, rev, id, 1,
	    COMMIT_PROMOTE | COMMIT_INSTALL | (over ? COMMIT_OVER : 0), NULL,
	    NULL, &tr);
	oc_txres_fini(&tr);
	if (over && e == O_OK)
		o_log(O_LOG_INFO,
		    "block %s: rev %" PRId64 " replaced by the majority's action",
		    bstr(id, s), rev);
	if (e == O_ESTALE)
		return O_OK; /* a newer revision arrived meanwhile */
	if (e == O_OK && installed != NULL)
		*installed = true;
	return e;
}

/* ---- counting (tests, reports) ------------------------------------------- */

o_err
ost_repo_count(
    struct ost_repo *r, const struct oc_bid *id, struct ost_repo_count *out)
{
	static const enum ost_cf cfs[4] = { OST_CF_META, OST_CF_REV,
		OST_CF_PEND, OST_CF_MAT };
	uint8_t hi[OC_BID_LEN];
	size_t  hilen = 0, f;
	int     j;
	o_err   e = O_OK;

	memset(out, 0, sizeof(*out));
	if (id != NULL) {
		/* the next id prefix bounds the scan above (none: all 0xff) */
		memcpy(hi, id->b, OC_BID_LEN);
		for (j = OC_BID_LEN - 1; j >= 0 && ++hi[j] == 0; j--)
			;
		hilen = j < 0 ? 0 : OC_BID_LEN;
	}
	for (f = 0; f < 4 && e == O_OK; f++) {
		struct ost_it *it;
		uint64_t      *n[4]     = { &out->meta, &out->rev, &out->pend,
			        &out->mat };
		uint64_t      *bytes[4] = { NULL, &out->rev_bytes, NULL,
			            &out->mat_bytes };

		if ((e = ost_it_open(r->db, cfs[f], id ? id->b : NULL,
		         id ? OC_BID_LEN : 0, hilen ? hi : NULL, hilen,
		         &it)) != O_OK)
			break;
		for (ost_it_first(it); ost_it_valid(it); ost_it_next(it)) {
			size_t vn;

			(void) ost_it_val_raw(it, &vn);
			(*n[f])++;
			if (bytes[f] != NULL)
				*bytes[f] += vn;
		}
		e = ost_it_status(it);
		ost_it_close(it);
	}
	return e;
}

o_err
ost_repo_holds_blocks(struct ost_repo *r, bool *out)
{
	struct ost_it *it;
	o_err          e;

	*out = false;
	if ((e = ost_it_open(r->db, OST_CF_META, NULL, 0, NULL, 0, &it)) !=
	    O_OK)
		return e;
	ost_it_first(it);
	*out = ost_it_valid(it);
	e    = ost_it_status(it);
	ost_it_close(it);
	return e;
}
