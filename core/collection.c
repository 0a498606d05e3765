/*
 * collection.c - act / update / sync over the transactor.
 *
 * Design notes.
 * - The log entry of a sync is built in a throw-away snapshot tracker, so a
 *   failed attempt leaves no trace; the retry rebuilds it on the rebased
 *   state.  A fresh action id is drawn for every attempt, so a late commit
 *   of an abandoned attempt can never be mistaken for the retry.
 * - The critical block is the log tail as read before the append.  At a
 *   log-block roll-over that is the old tail (whose "next" every writer of
 *   rev+1 must set), not the new block (reference hole 9.2#14).
 * - The held context only moves forward; an absent header while holding a
 *   revision is a contradiction (O_EVANISHED), never "empty collection".
 * - Staged chunk blocks live in a side tracker that replay never resets:
 *   chunks have fresh random ids, so they cannot conflict.
 * - c_mtx is released around transactor pend/commit and backoff sleeps so
 *   that act() and reads continue; c_sync keeps syncs and updates serial.
 * - Segments.  Besides the tracker (the effects of every queued action over
 *   the held state, which reads see), the queue is cut into segments of at
 *   most one log entry's weight, each holding the effects of its own
 *   actions over the state its predecessors leave (a write-only tracker):
 *   trk = seg[0] then seg[1] ...  A sync commits seg[0] (sealed while in
 *   flight, so later acts open a new segment); on success the committed
 *   state is the old one plus seg[0] plus the log append, so trk becomes
 *   seg[1] then ... over it, composed from the segments' transforms
 *   without re-running an action.  Actions never touch log fields, so the
 *   log append does not disturb the later segments.  Only a foreign commit
 *   over our blocks (update) re-runs the actions (replay), which also
 *   rebuilds the segments.  Committing a long queue is thus linear in its
 *   length, not quadratic.
 * - Queue numbers and seals.  Each queued action has a number (qseq: 1,
 *   2, ... in queue order, kept in its jref), so a sync up to a number
 *   (oc_coll_sync_to) waits for the actions queued up to it (and commits
 *   at least those), whatever else left the queue (dropped by the filter,
 *   found committed).  A
 *   seal names the number of an action that starts a new segment
 *   (oc_coll_seal); replays rebuild the segments by those numbers, so an
 *   action after a seal is never committed with one before it by a
 *   single collection's sync (see collection.h for the two limits).
 * - Pruned history.  A store keeps a bounded history per block, so a read
 *   pinned at a held rev older than a block's kept history answers
 *   O_ESTALE (never "absent").  The collection then updates to the latest
 *   context and tries again: sync treats it as a lost race (update, retry),
 *   act, count and the restartable reads run again at the new context
 *   (at most OC_STALE_TRIES times), other reads return O_ESTALE once the
 *   collection is up to date, so their caller's next read succeeds.
 * - Item count.  The view's item count is kept as a running total once a
 *   walk established it (types with apply_n report each action's change);
 *   a replay or the adoption of newer committed entries forgets it.  Our
 *   own commits leave the view, hence the count, unchanged.
 */
#include "core/collection.h"

#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/codec.h"
#include "core/journal.h"
#include "core/o_util.h"

/* Effects of consecutive queued actions; see the design notes. */
struct oc_seg {
	struct oc_tracker t;      /* write-only (no source) */
	size_t            n;      /* actions */
	size_t            w;      /* their weight (type->weight) */
	bool              sealed; /* in flight: takes no more actions */
};

struct oc_collection {
	pthread_mutex_t            c_sync; /* serialises sync/update */
	pthread_mutex_t            c_mtx;  /* guards everything below */
	struct oc_transactor      *tx;
	struct oc_bid              id;
	struct oc_aid              who; /* this writer, for replicas' claims */
	const struct oc_coll_type *type;
	uint64_t                   links_gen; /* lost links sifted for */
	/* c_mtx: linked actions ("ln") may be queued (cleared when the
	 * queue is walked empty of them); link_new: one was queued since
	 * the last walk, which must walk again whatever links_gen says */
	bool                       linked, link_new;
	struct oc_sync_opts        opts;
	struct oc_actx             ctx; /* held context; rev monotonic */
	struct oc_txsrc            src; /* committed reads pinned at ctx */
	struct oc_cache           *cache;
	struct oc_tracker          side; /* staged chunk blocks */
	struct oc_tracker          trk;  /* staged effects of pending */
	struct oc_val              pending; /* OC_ARRAY of actions */
	struct oc_jref            *jrefs;   /* journal ids of pending */
	size_t                     jcap;
	struct oc_val jblocks; /* journal: chunks staged since the last act */
	struct oc_seg             *segs;    /* cover pending, in order */
	size_t                     nsegs, segcap;
	uint64_t                   replay_gen; /* bumped by replay() */
	int64_t                    nitems;     /* view's item count ... */
	bool                       nitems_ok;  /* ... when this is set */
	uint64_t seq_acted; /* actions ever queued (the last one's qseq) */
	/* seals (oc_coll_seal): qseqs of queued or future actions that
	 * start a new segment, ascending; those below the queue's head are
	 * dropped */
	uint64_t                  *seals;
	size_t                     nseals, sealcap;
	bool                       torn;     /* replay before the next use: a
	                                        replay failed half way, or a
	                                        pend found a copy wrong */
	bool                       exists;   /* header committed */
	bool                       invented; /* header staged by us */
	struct oc_coll_stats       st;
};

/* Reads that met pruned history (O_ESTALE) try again this many times. */
#define OC_STALE_TRIES 3
#define QUEUE_KEEP 64 /* fewest queue slots kept reserved, unless empty */

/* ---- transactor source --------------------------------------------------- */

static o_err
txsrc_get_rev(struct oc_bstore *s, const struct oc_bid *id, struct oc_val *out,
    bool *found, int64_t *rev)
{
	struct oc_txsrc  *ts  = (struct oc_txsrc *) s;
	const struct oc_actx *ctx = ts->ctx && ts->ctx->rev > 0 ? ts->ctx : NULL;
	struct oc_get_res r;
	o_err             e;
	char              str[OC_BID_STRLEN];

	*out   = oc_null();
	*found = false;
	*rev   = 0;
	oc_get_res_init(&r);
	e = ts->tx->ops->get(ts->tx, id, 1, ctx, &r);
	if (e != O_OK)
		goto out;
	switch (r.state) {
	case OC_GET_BLOCK:
		*out   = oc_val_take(&r.block);
		*found = true;
		*rev   = r.mat_rev > 0 ? r.mat_rev : 0;
		break;
	case OC_GET_ABSENT:
		break;
	default:
		/* corruption stays corruption; a context older than the
		 * block's kept history is O_ESTALE (update and read again);
		 * anything else: could not tell */
		e = o_err_set(r.cause == O_ECORRUPT || r.cause == O_EIO ||
		            r.cause == O_ESTALE ?
		        r.cause :
		        O_EUNAVAIL,
		    "block %s: could not find out (%s)", oc_bid_str(id, str),
		    r.reason);
	}
out:
	oc_get_res_fini(&r);
	return e;
}

static o_err
txsrc_get(struct oc_bstore *s, const struct oc_bid *id, struct oc_val *out,
    bool *found)
{
	int64_t rev;

	return txsrc_get_rev(s, id, out, found, &rev);
}

static const struct oc_bstore_ops txsrc_ops = { .get = txsrc_get,
	.get_rev                                     = txsrc_get_rev };

void
oc_txsrc_init(struct oc_txsrc *s, struct oc_transactor *tx,
    const struct oc_actx *ctx)
{
	s->base.ops = &txsrc_ops;
	s->tx       = tx;
	s->ctx      = ctx;
}

/* ---- helpers ------------------------------------------------------------- */

static struct oc_bstore *
rstore(struct oc_collection *c)
{
	return &c->trk.base;
}

static void
ctx_adopt(struct oc_collection *c, struct oc_actx *n)
{
	if (n->rev > c->ctx.rev) {
		oc_actx_fini(&c->ctx);
		c->ctx = *n;
		oc_actx_init(n);
	}
}

/* Keep only the actions of the last two checkpoint intervals. */
static void
ctx_trim(struct oc_actx *ctx)
{
	size_t i, j = 0;

	for (i = 0; i < ctx->n; i++)
		if (ctx->committed[i].rev > ctx->rev - 2 * OC_LOG_CKPT_INTERVAL)
			ctx->committed[j++] = ctx->committed[i];
	ctx->n = j;
}

/*
 * Context of the committed log as of now: bootstrap from the tail's latest
 * action (the tail commits first, so it proves the action decided), then
 * read the log's own context through a source carrying it.
 */
static o_err
read_latest_context(struct oc_collection *c, struct oc_actx *out,
    bool *exists)
{
	struct oc_txsrc      latest, boot;
	struct oc_log        log;
	struct oc_chain_path tail;
	struct oc_get_res    r;
	struct oc_actx       bctx;
	struct oc_val        hdr;
	bool                 found;
	o_err                e;

	oc_actx_init(out);
	oc_actx_init(&bctx);
	*exists = false;
	oc_txsrc_init(&latest, c->tx, NULL);
	if ((e = oc_bstore_get(&latest.base, &c->id, &hdr, &found)) != O_OK)
		return e;
	if (!found)
		return O_OK;
	oc_val_fini(&hdr);
	*exists = true;
	if ((e = oc_log_open(&log, &latest.base, &c->id)) != O_OK ||
	    (e = oc_chain_tail(&log.ch, &tail, NULL)) != O_OK)
		return e;
	oc_get_res_init(&r);
	e = c->tx->ops->get(c->tx, &tail.blk, 1, NULL, &r);
	if (e == O_OK && r.state == OC_GET_BLOCK && r.latest_rev > 0)
		oc_actx_add(&bctx, &r.latest_aid, r.latest_rev);
	oc_get_res_fini(&r);
	if (e != O_OK)
		return e;
	oc_txsrc_init(&boot, c->tx, &bctx);
	if ((e = oc_log_open(&log, &boot.base, &c->id)) == O_OK)
		e = oc_log_context(&log, out);
	if (e == O_OK && out->rev < bctx.rev) {
		/* the tail proves a newer rev than the log walk saw */
		oc_actx_fini(out);
		*out = bctx;
		oc_actx_init(&bctx);
	}
	oc_actx_fini(&bctx);
	return e;
}

/* ---- segments ------------------------------------------------------------ */

static size_t
act_weight(struct oc_collection *c, const struct oc_val *act)
{
	return c->type->weight != NULL ? c->type->weight(act) : 0;
}

/* Whether the action numbered q must start a new segment (a seal). */
static bool
sealed_at(const struct oc_collection *c, uint64_t q)
{
	size_t i;

	for (i = 0; i < c->nseals; i++)
		if (c->seals[i] == q)
			return true;
	return false;
}

/* The segment that takes the next action, of weight w and numbered q (0:
 * no action, the invented header). */
static struct oc_seg *
seg_open(struct oc_collection *c, size_t w, uint64_t q)
{
	struct oc_seg *g = c->nsegs > 0 ? &c->segs[c->nsegs - 1] : NULL;

	if (g != NULL && !g->sealed &&
	    (g->n == 0 ||
	        (g->w + w <= OC_ENTRY_INLINE_MAX &&
	            (q == 0 || !sealed_at(c, q)))))
		return g;
	if (c->nsegs == c->segcap) {
		c->segcap = c->segcap ? 2 * c->segcap : 8;
		c->segs   = o_realloc(c->segs, c->segcap * sizeof(*c->segs));
	}
	g = &c->segs[c->nsegs++];
	memset(g, 0, sizeof(*g));
	oc_tracker_init(&g->t, NULL);
	oc_tracker_fresh_on(&g->t);
	return g;
}

static void
seg_pop(struct oc_collection *c)
{
	oc_tracker_fini(&c->segs[0].t);
	memmove(&c->segs[0], &c->segs[1], (c->nsegs - 1) * sizeof(*c->segs));
	c->nsegs--;
}

/*
 * Merge the segments holding the queued actions up to target into the
 * first one, so that one commit covers them all: a group transaction must
 * not leave part of its actions to a later, separate commit.  Its log
 * entry may then exceed one entry's usual weight.
 */
static void
seg_coalesce(struct oc_collection *c, uint64_t target)
{
	size_t k = 1, i, at = c->nsegs > 0 ? c->segs[0].n : 0;

	/* the next segment's first action is up to target: take it */
	while (k < c->nsegs && at < c->pending.u.a.n &&
	    c->jrefs[at].qseq <= target)
		at += c->segs[k++].n;
	if (k <= 1)
		return;
	for (i = 1; i < k; i++) {
		oc_tfs_merge(&c->segs[0].t.tfs, &c->segs[i].t.tfs);
		c->segs[0].n += c->segs[i].n;
		c->segs[0].w += c->segs[i].w;
		oc_tracker_fini(&c->segs[i].t);
	}
	memmove(&c->segs[1], &c->segs[k], (c->nsegs - k) * sizeof(*c->segs));
	c->nsegs -= k - 1;
}

static void
segs_clear(struct oc_collection *c)
{
	while (c->nsegs > 0)
		seg_pop(c);
}

/*
 * Apply actions to the tracker and their segments, all or nothing: each
 * runs in its own scope over the group's, so its effects can go to the
 * segment its weight puts it in.  *dn gets the item count change, and
 * *dn_ok is cleared when the type does not report it.  *torn is set when
 * the staging itself failed half way (trackers over trackers do not
 * refuse, so never in practice); the caller must replay.
 */
static o_err
stage_actions(struct oc_collection *c, const struct oc_val *acts, size_t n,
    uint64_t q, int64_t *dn, bool *dn_ok, bool *torn)
{
	struct oc_tracker at;
	struct oc_tfs    *parts = o_calloc(n + 1, sizeof(*parts));
	size_t            i, done = 0;
	o_err             e = O_OK;

	*dn    = 0;
	*dn_ok = c->type->apply_n != NULL;
	*torn  = false;
	oc_atomic_begin(&at, rstore(c));
	for (i = 0; i < n && e == O_OK; i++) {
		struct oc_tracker ai;

		oc_atomic_begin(&ai, &at.base);
		e = c->type->apply_n != NULL ?
		    c->type->apply_n(&ai.base, &c->id, &acts[i], dn) :
		    c->type->apply(&ai.base, &c->id, &acts[i]);
		if (e == O_OK)
			e = oc_tfs_replay(&ai.tfs, &at.base);
		oc_tracker_reset(&ai, e == O_OK ? &parts[done++] : NULL);
		oc_tracker_fini(&ai);
	}
	if (e != O_OK) {
		oc_atomic_abort(&at);
		goto out;
	}
	for (i = 0; i < n && e == O_OK; i++) {
		size_t         w = act_weight(c, &acts[i]);
		struct oc_seg *g = seg_open(c, w, q + i);

		e = oc_tfs_replay(&parts[i], &g->t.base);
		g->n++;
		g->w += w;
	}
	if (e == O_OK)
		e = oc_atomic_commit(&at);
	else
		oc_atomic_abort(&at);
	*torn = e != O_OK;
out:
	for (i = 0; i < done; i++)
		oc_tfs_fini(&parts[i]);
	free(parts);
	return e;
}

static o_err invent(struct oc_collection *c);
static o_err stale_retry(
    struct oc_collection *c, o_err e, int tries, bool again);
static void  jrefs_gone(
     struct oc_collection *c, const struct oc_jref *gone, size_t n);
static void jrefs_push(struct oc_collection *c, const struct oc_jref *r);
static void            seals_trim(struct oc_collection *c);
static struct oc_jref *queue_pop(struct oc_collection *c, size_t k);
static void            queue_trim(struct oc_collection *c);

/*
 * Reset the staged effects and re-apply every pending action on the held
 * state (rebuilding the segments; a seal still starts one); a header we
 * invented and that is still not committed is invented again.  Forgets
 * the item count.
 */
static o_err
replay(struct oc_collection *c)
{
	bool    reinvent = c->invented && !c->exists, dn_ok, torn;
	int64_t dn;
	size_t  i;
	o_err   e;

	oc_tracker_reset(&c->trk, NULL);
	segs_clear(c);
	c->torn      = true; /* until every action is staged again */
	c->invented  = false;
	c->nitems_ok = false;
	c->replay_gen++;
	c->st.replays++;
	if (reinvent && (e = invent(c)) != O_OK)
		return o_err_wrap(e, "replaying the invented header");
	for (i = 0; i < c->pending.u.a.n; i++)
		if ((e = stage_actions(c, &c->pending.u.a.v[i], 1,
		         c->jrefs[i].qseq, &dn, &dn_ok, &torn)) != O_OK)
			return o_err_wrap(e, "replaying local action %zu", i);
	c->torn = false;
	return O_OK;
}

/* The staged state covers the whole queue again (after a failed replay). */
static o_err
heal(struct oc_collection *c)
{
	return c->torn ? replay(c) : O_OK;
}

/* Stage a new header, the type's structure and the first log block. */
static o_err
invent_into(struct oc_collection *c, struct oc_bstore *s)
{
	struct oc_log log;
	o_err         e;

	e = oc_bstore_insert(s, oc_block_new(&c->id, c->type->header_type,
	                            &c->id));
	if (e == O_OK && c->type->init)
		e = c->type->init(s, &c->id);
	if (e == O_OK)
		e = oc_log_create(&log, s, &c->id);
	return e;
}

/* Invent into the tracker and a (new, empty) segment. */
static o_err
invent(struct oc_collection *c)
{
	struct oc_tracker at;
	o_err             e;

	oc_atomic_begin(&at, rstore(c));
	if ((e = invent_into(c, &at.base)) != O_OK) {
		oc_atomic_abort(&at);
		return e;
	}
	if ((e = oc_tfs_replay(&at.tfs, &seg_open(c, 0, 0)->t.base)) != O_OK) {
		oc_atomic_abort(&at);
		return e;
	}
	if ((e = oc_atomic_commit(&at)) == O_OK)
		c->invented = true;
	return e;
}

/* ---- open / free --------------------------------------------------------- */

o_err
oc_coll_open(struct oc_transactor *tx, const struct oc_bid *id,
    const struct oc_coll_type *type, bool create,
    const struct oc_sync_opts *opts, struct oc_collection **out)
{
	struct oc_collection *c = o_calloc(1, sizeof(*c));
	struct oc_actx        ctx;
	struct oc_val         hdr;
	bool                  exists, found;
	int                   tries;
	o_err                 e;
	char                  s[OC_BID_STRLEN];

	*out = NULL;
	pthread_mutex_init(&c->c_sync, NULL);
	pthread_mutex_init(&c->c_mtx, NULL);
	c->tx   = tx;
	c->id   = *id;
	c->type = type;
	oc_aid_random(&c->who);
	c->opts.max_attempts    = 10;
	c->opts.base_backoff_ms = 2;
	c->opts.max_backoff_ms  = 500;
	c->opts.pending_wait_ms = 15000;
	if (opts != NULL) {
		c->opts = *opts;
		if (c->opts.pending_wait_ms <= 0)
			c->opts.pending_wait_ms = 15000;
		if (c->opts.max_attempts <= 0)
			c->opts.max_attempts = 10;
		if (c->opts.base_backoff_ms <= 0)
			c->opts.base_backoff_ms = 2;
		if (c->opts.max_backoff_ms < c->opts.base_backoff_ms)
			c->opts.max_backoff_ms = c->opts.base_backoff_ms;
	}
	oc_actx_init(&c->ctx);
	oc_txsrc_init(&c->src, tx, &c->ctx);
	c->cache = oc_cache_alloc(&c->src.base, 1024);
	if (c->opts.uncached_chunks)
		oc_cache_skip_type(c->cache, OC_BT_CHUNK);
	oc_tracker_init(&c->side, oc_cache_store(c->cache));
	oc_tracker_init(&c->trk, &c->side.base);
	/* sound: a staged block's source only changes by our own commit
	 * (rebase_own unstages it) or a foreign one (replay resets) */
	oc_tracker_memo_on(&c->trk);
	oc_tracker_fresh_on(&c->trk);
	c->pending = oc_array();
	c->jblocks = oc_array();

	for (tries = 0;; tries++) {
		if ((e = read_latest_context(c, &ctx, &exists)) != O_OK) {
			oc_actx_fini(&ctx);
		} else if (!exists) {
			oc_actx_fini(&ctx);
			if (!create) {
				e = o_err_set(O_ENOTFOUND,
				    "collection %s does not exist",
				    oc_bid_str(id, s));
				goto out_free;
			}
			if ((e = invent(c)) != O_OK)
				goto out_free;
			*out = c;
			return O_OK;
		} else {
			ctx_adopt(c, &ctx);
			oc_actx_fini(&ctx);
			c->exists = true;
			e = oc_bstore_need(rstore(c), id, &hdr);
		}
		/* a rival's commits may prune the context just read */
		if (e == O_OK)
			break;
		if (e != O_ESTALE || tries == OC_STALE_TRIES)
			goto out_free;
	}
	found = oc_block_type(&hdr) != NULL &&
	    strcmp(oc_block_type(&hdr), type->header_type) == 0;
	oc_val_fini(&hdr);
	if (!found) {
		e = o_err_set(O_EINVAL, "collection %s is not of type %s",
		    oc_bid_str(id, s), type->header_type);
		goto out_free;
	}
	*out = c;
	return O_OK;
out_free:
	oc_coll_free(c);
	return e;
}

void
oc_coll_free(struct oc_collection *c)
{
	if (c == NULL)
		return;
	oc_tracker_fini(&c->trk);
	segs_clear(c);
	free(c->segs);
	oc_tracker_fini(&c->side);
	oc_cache_free(c->cache);
	oc_val_fini(&c->pending);
	oc_val_fini(&c->jblocks);
	free(c->jrefs);
	free(c->seals);
	oc_actx_fini(&c->ctx);
	pthread_mutex_destroy(&c->c_mtx);
	pthread_mutex_destroy(&c->c_sync);
	free(c);
}

/* ---- act ----------------------------------------------------------------- */

/*
 * Record actions[0..n) (and the chunks staged for them) in the journal as
 * one record; refs[i] gets action i's identity.  c_mtx held, so records of
 * one collection are numbered in queue order.
 */
/* Does v (an action, or a value inside one) name chunk id? */
static bool
names_chunk(const struct oc_val *v, const struct oc_bid *id, int depth)
{
	size_t i;

	if (depth > 8)
		return false;
	if (v->type == OC_MAP) {
		const struct oc_val *ids = oc_is_chunk_ref(v) ?
		    oc_map_arr(v, "chunks") : NULL;
		struct oc_bid        b;

		for (i = 0; ids != NULL && i < ids->u.a.n; i++)
			if (oc_bid_from(&ids->u.a.v[i], &b) && oc_bid_eq(&b, id))
				return true;
		for (i = 0; i < v->u.m.n; i++)
			if (names_chunk(&v->u.m.kv[i].val, id, depth + 1))
				return true;
	} else if (v->type == OC_ARRAY) {
		for (i = 0; i < v->u.a.n; i++)
			if (names_chunk(&v->u.a.v[i], id, depth + 1))
				return true;
	}
	return false;
}

/* Move the staged chunks that actions[0..n) name out of c->jblocks into
 * *out (an OC_ARRAY): a record keeps exactly its own chunks, never another
 * writer's staged between its chunking and its act. */
static void
jblocks_take(struct oc_collection *c, const struct oc_val *actions,
    size_t n, struct oc_val *out)
{
	struct oc_val keep = oc_array();
	size_t        i, k;

	*out = oc_array();
	for (i = 0; i < c->jblocks.u.a.n; i++) {
		struct oc_val *b = &c->jblocks.u.a.v[i];
		struct oc_bid  id;
		bool           mine = false;

		for (k = 0; k < n && !mine && oc_block_id(b, &id); k++)
			mine = names_chunk(&actions[k], &id, 0);
		oc_arr_push(mine ? out : &keep, oc_val_take(b));
	}
	oc_val_fini(&c->jblocks);
	c->jblocks = keep;
}

/* Give chunks taken by jblocks_take back (their record was not kept). */
static void
jblocks_return(struct oc_collection *c, struct oc_val *blocks)
{
	size_t i;

	for (i = 0; i < blocks->u.a.n; i++)
		oc_arr_push(&c->jblocks, oc_val_take(&blocks->u.a.v[i]));
	oc_val_fini(blocks);
	*blocks = oc_array();
}

/*
 * Record actions[0..n) (and the chunks they name) in the journal as one
 * record (lazy: it may be held in memory, core/journal.h); refs[i] gets
 * action i's identity and *blocks the chunks (kept until the act is
 * staged, to be given back if it is not).  c_mtx held, so records of one
 * collection are numbered and put in queue order.
 */
static o_err
journal_put(struct oc_collection *c, const struct oc_val *actions, size_t n,
    bool lazy, struct oc_jref *refs, struct oc_val *blocks)
{
	struct oc_journal    *j = c->opts.journal;
	struct oc_journal_rec r;
	size_t                i;
	o_err                 e;
	char                  s[OC_BID_STRLEN];

	memset(&r, 0, sizeof(r));
	r.col = c->id;
	snprintf(r.type, sizeof(r.type), "%s", c->type->header_type);
	r.session  = j->session;
	r.first    = atomic_fetch_add(&j->next_seq, n);
	r.base_rev = c->ctx.rev;
	r.acts     = oc_array();
	for (i = 0; i < n; i++)
		oc_arr_push(&r.acts, oc_val_dup(&actions[i]));
	jblocks_take(c, actions, n, &r.blocks);
	e        = oc_journal_put(j, &r, lazy);
	*blocks  = oc_val_take(&r.blocks);
	oc_journal_rec_fini(&r);
	if (e != O_OK) {
		jblocks_return(c, blocks);
		return o_err_wrap(e, "journal of collection %s",
		    oc_bid_str(&c->id, s));
	}
	for (i = 0; i < n; i++) {
		refs[i].session = j->session;
		refs[i].first   = r.first;
		refs[i].seq     = r.first + i;
		refs[i].n       = (uint32_t) n;
	}
	return O_OK;
}

/* Apply and queue actions[0..n) whose journal identities are refs (NULL:
 * journal them now, lazily or not, if the collection has a journal).
 * c_mtx held. */
static const struct oc_val *act_link(const struct oc_val *a);

static o_err
act_locked(struct oc_collection *c, struct oc_val *actions, size_t n,
    const struct oc_jref *refs, bool lazy)
{
	struct oc_jref *own = NULL;
	struct oc_val   blocks = oc_null();
	int64_t         dn;
	bool            dn_ok, torn;
	size_t          i;
	o_err           e;

	if ((e = heal(c)) != O_OK)
		return e;
	if (refs == NULL && c->opts.journal != NULL && n > 0) {
		own = o_calloc(n, sizeof(*own));
		if ((e = journal_put(c, actions, n, lazy, own, &blocks)) !=
		    O_OK) {
			free(own);
			return e;
		}
		refs = own;
	}
	if ((e = stage_actions(c, actions, n, c->seq_acted + 1, &dn, &dn_ok,
	         &torn)) != O_OK) {
		if (torn)
			replay(c); /* the queue without these actions */
		if (own != NULL) {
			jrefs_gone(c, own, n);
			jblocks_return(c, &blocks);
		}
		oc_val_fini(&blocks);
		free(own);
		return e;
	}
	oc_val_fini(&blocks);
	if (!dn_ok)
		c->nitems_ok = false;
	else
		c->nitems += dn;
	for (i = 0; i < n; i++) {
		struct oc_jref r = { 0 };

		if (refs != NULL)
			r = refs[i];
		r.qseq = c->seq_acted + i + 1;
		jrefs_push(c, &r);
		if (act_link(&actions[i]) != NULL)
			c->linked = c->link_new = true;
		oc_arr_push(&c->pending, oc_val_take(&actions[i]));
	}
	c->seq_acted += n;
	free(own);
	return O_OK;
}

static o_err
coll_act(struct oc_collection *c, struct oc_val *actions, size_t n, bool lazy)
{
	size_t i;
	int    tries;
	o_err  e;

	pthread_mutex_lock(&c->c_mtx);
	for (tries = 0;; tries++) {
		/* a failed act stages nothing: it can run again */
		e = act_locked(c, actions, n, NULL, lazy);
		if (e == O_OK || (e = stale_retry(c, e, tries, true)) != O_OK)
			break;
	}
	pthread_mutex_unlock(&c->c_mtx);
	for (i = 0; i < n; i++)
		oc_val_fini(&actions[i]);
	return e;
}

o_err
oc_coll_act(struct oc_collection *c, struct oc_val *actions, size_t n)
{
	return coll_act(c, actions, n, false);
}

o_err
oc_coll_act_lazy(struct oc_collection *c, struct oc_val *actions, size_t n)
{
	return coll_act(c, actions, n, true);
}

o_err
oc_coll_stage_block(struct oc_collection *c, struct oc_val blk)
{
	o_err e;

	pthread_mutex_lock(&c->c_mtx);
	if (c->opts.journal != NULL)
		oc_arr_push(&c->jblocks, oc_val_dup(&blk));
	e = oc_bstore_insert(&c->side.base, blk);
	pthread_mutex_unlock(&c->c_mtx);
	return e;
}

/* ---- update -------------------------------------------------------------- */

/*
 * A newer entry (its "act" map) whose journal tags say it committed the
 * head of our queue: an attempt of ours that landed although we never
 * heard so (answer and status lost).  Those actions leave the queue as
 * committed (the caller replays the rest); returns how many.  Without a
 * journal there are no tags, and such an attempt is committed again.
 */
static size_t
own_committed(struct oc_collection *c, const struct oc_val *act)
{
	const struct oc_val *jt = oc_map_get(act, "jt");
	struct oc_jref      *gone;
	size_t               k = 0, i;

	if (c->opts.journal == NULL || jt == NULL || jt->type != OC_ARRAY)
		return 0;
	for (; k < c->pending.u.a.n; k++) {
		const struct oc_jref *r       = &c->jrefs[k];
		bool                  covered = false;

		for (i = 0; i < jt->u.a.n && !covered && r->session != 0; i++) {
			const struct oc_val *t = &jt->u.a.v[i];

			covered = t->type == OC_ARRAY && t->u.a.n == 3 &&
			    t->u.a.v[0].type == OC_BYTES &&
			    t->u.a.v[0].u.s.n == sizeof(c->opts.journal->node) &&
			    memcmp(t->u.a.v[0].u.s.p, c->opts.journal->node,
			        sizeof(c->opts.journal->node)) == 0 &&
			    t->u.a.v[1].type == OC_INT &&
			    (uint64_t) t->u.a.v[1].u.i == r->session &&
			    t->u.a.v[2].type == OC_INT &&
			    (uint64_t) t->u.a.v[2].u.i >= r->seq;
		}
		if (!covered)
			break;
	}
	if (k == 0)
		return 0;
	gone = queue_pop(c, k);
	c->st.actions += k;
	jrefs_gone(c, gone, k);
	free(gone);
	return k;
}

/*
 * Linked actions (an action map's "ln": bytes, OC_AID_LEN): the parts of
 * one change staged in several collections and committed as one group
 * (a rename across directories).  When the conflict filter drops one,
 * its link is noted here, and every collection drops its actions with
 * that link before its next commit (links_drop), so a group never
 * commits half a change.  The last LOST_LINKS_MAX links are kept: a part
 * is dropped within the group's own retry, long before.
 */
#define LOST_LINKS_MAX 256

static struct {
	pthread_mutex_t mtx;
	uint8_t         v[LOST_LINKS_MAX][OC_AID_LEN];
	size_t          n, next; /* n kept; next slot written (a ring) */
	/* links noted so far: written under mtx, read without it by every
	 * commit attempt (links_drop) */
	_Atomic uint64_t gen;
} lost_links = { .mtx = PTHREAD_MUTEX_INITIALIZER };

static const struct oc_val *
act_link(const struct oc_val *a)
{
	const struct oc_val *l = oc_map_get(a, "ln");

	return l != NULL && l->type == OC_BYTES && l->u.s.n == OC_AID_LEN
	    ? l
	    : NULL;
}

static void
link_lost(const struct oc_val *a)
{
	const struct oc_val *l = act_link(a);

	if (l == NULL)
		return;
	pthread_mutex_lock(&lost_links.mtx);
	memcpy(lost_links.v[lost_links.next], l->u.s.p, OC_AID_LEN);
	lost_links.next = (lost_links.next + 1) % LOST_LINKS_MAX;
	if (lost_links.n < LOST_LINKS_MAX)
		lost_links.n++;
	atomic_fetch_add(&lost_links.gen, 1);
	pthread_mutex_unlock(&lost_links.mtx);
}

static bool
link_is_lost(const struct oc_val *a)
{
	const struct oc_val *l    = act_link(a);
	bool                 lost = false;
	size_t               i;

	if (l == NULL)
		return false;
	pthread_mutex_lock(&lost_links.mtx);
	for (i = 0; i < lost_links.n && !lost; i++)
		lost = memcmp(lost_links.v[i], l->u.s.p, OC_AID_LEN) == 0;
	pthread_mutex_unlock(&lost_links.mtx);
	return lost;
}

typedef enum oc_filter_verdict (*sift_fn)(struct oc_collection *c,
    const struct oc_val *a, void *arg, struct oc_val *rep);

/* pending_sift's verdict: the type's conflict filter against the rival
 * actions arg. */
static enum oc_filter_verdict
type_verdict(struct oc_collection *c, const struct oc_val *a, void *arg,
    struct oc_val *rep)
{
	return c->type->filter(a, arg, rep);
}

/*
 * Run verdict over every queued action (c_mtx held): kept, replaced or
 * dropped; a dropped action's journal record is forgotten once none of
 * its actions is queued, and, dropped by the type's filter, its link
 * noted lost.  Returns whether any
 * action was replaced or dropped (the staged effects need a replay).
 */
static bool
pending_sift(struct oc_collection *c, sift_fn verdict, void *arg)
{
	struct oc_val   kept    = oc_array();
	struct oc_jref *gone    = NULL;
	size_t          ngone   = 0, j;
	bool            changed = false;

	for (j = 0; j < c->pending.u.a.n; j++) {
		struct oc_val rep = oc_null();

		switch (verdict(c, &c->pending.u.a.v[j], arg, &rep)) {
		case OC_FILTER_KEEP:
			c->jrefs[kept.u.a.n] = c->jrefs[j];
			oc_arr_push(&kept, oc_val_take(&c->pending.u.a.v[j]));
			break;
		case OC_FILTER_REPLACE:
			c->jrefs[kept.u.a.n] = c->jrefs[j];
			oc_arr_push(&kept, rep);
			changed = true;
			break;
		case OC_FILTER_DROP:
			changed = true; /* resolved, not queued */
			if (verdict == type_verdict) /* not again for a link */
				link_lost(&c->pending.u.a.v[j]);
			if (c->opts.journal == NULL)
				break;
			gone = o_realloc(gone, (ngone + 1) * sizeof(*gone));
			gone[ngone++] = c->jrefs[j];
			break;
		}
	}
	oc_val_fini(&c->pending);
	c->pending = kept;
	seals_trim(c);
	queue_trim(c); /* the filter may have emptied it */
	if (gone != NULL) {
		jrefs_gone(c, gone, ngone);
		free(gone);
	}
	return changed;
}

/* pending_sift's verdict: drop the actions whose link was lost. */
static enum oc_filter_verdict
link_verdict(struct oc_collection *c, const struct oc_val *a, void *arg,
    struct oc_val *rep)
{
	(void) c;
	(void) arg;
	(void) rep;
	return link_is_lost(a) ? OC_FILTER_DROP : OC_FILTER_KEEP;
}

/* Drop the queued actions whose link was lost elsewhere (c_mtx held).
 * The queue is walked only when it may hold a linked action, and then
 * when links were lost since its last walk or a linked action was queued
 * since (a part queued after a walk may hold a link lost before it: a
 * partner's sync dropped it in between). */
static o_err
links_drop(struct oc_collection *c)
{
	uint64_t gen = atomic_load(&lost_links.gen);
	size_t   i;

	if (!c->linked || (gen == c->links_gen && !c->link_new)) {
		c->links_gen = gen;
		return O_OK;
	}
	c->links_gen = gen;
	c->link_new  = false;
	for (i = 0; i < c->pending.u.a.n; i++)
		if (act_link(&c->pending.u.a.v[i]) != NULL)
			break;
	if (i == c->pending.u.a.n) {
		c->linked = false; /* none queued any more */
		return O_OK;
	}
	if (!pending_sift(c, link_verdict, NULL))
		return O_OK;
	return replay(c);
}

void
oc_coll_link_drop(const struct oc_aid *link)
{
	struct oc_val a = oc_map();

	oc_map_set(&a, "ln", oc_bytes(link->b, OC_AID_LEN));
	link_lost(&a);
	oc_val_fini(&a);
}

bool
oc_coll_link_is_lost(const struct oc_aid *link)
{
	struct oc_val a = oc_map();
	bool          lost;

	oc_map_set(&a, "ln", oc_bytes(link->b, OC_AID_LEN));
	lost = link_is_lost(&a);
	oc_val_fini(&a);
	return lost;
}

/* fn(c) with c_sync and c_mtx held. */
static o_err
with_sync_locked(struct oc_collection *c, o_err (*fn)(struct oc_collection *))
{
	o_err e;

	pthread_mutex_lock(&c->c_sync);
	pthread_mutex_lock(&c->c_mtx);
	e = fn(c);
	pthread_mutex_unlock(&c->c_mtx);
	pthread_mutex_unlock(&c->c_sync);
	return e;
}

o_err
oc_coll_links_sift(struct oc_collection *c)
{
	return with_sync_locked(c, links_drop);
}

/* With c_sync and c_mtx held. */
static o_err
update_locked(struct oc_collection *c)
{
	struct oc_txsrc latest;
	struct oc_actx  nctx;
	struct oc_log   log;
	struct oc_val   ents = oc_null();
	bool            exists, conflicts = false;
	size_t          i, j;
	o_err           e;
	char            s[OC_BID_STRLEN];

	for (i = 0;; i++) {
		/* a writer racing past the context just read may prune what
		 * the walk reads next: read the newer context (nothing is
		 * changed before the walk is whole) */
		e = read_latest_context(c, &nctx, &exists);
		if (e == O_OK && !exists) {
			oc_actx_fini(&nctx);
			if (c->ctx.rev > 0)
				return o_err_set(O_EVANISHED,
				    "collection %s: header reads absent while "
				    "holding rev %lld",
				    oc_bid_str(&c->id, s),
				    (long long) c->ctx.rev);
			return O_OK;
		}
		if (e == O_OK && nctx.rev <= c->ctx.rev) {
			/* nothing newer (a lagging view never lowers our
			 * rev) */
			oc_actx_fini(&nctx);
			return O_OK;
		}
		if (e == O_OK) {
			oc_txsrc_init(&latest, c->tx, &nctx);
			if ((e = oc_log_open(&log, &latest.base, &c->id)) ==
			    O_OK)
				e = oc_log_after(&log, c->ctx.rev, &ents);
		}
		if (e == O_OK)
			break;
		oc_val_fini(&ents);
		oc_actx_fini(&nctx);
		if (e != O_ESTALE || i == OC_STALE_TRIES)
			return e;
	}
	for (i = 0; i < ents.u.a.n; i++) {
		const struct oc_val *act  = oc_log_entry_act(&ents.u.a.v[i]);
		const struct oc_val *bids = act ? oc_map_arr(act, "bids") : NULL;
		struct oc_val        dacts, *acts = &dacts;
		struct oc_bid       *ids;
		size_t               nids = bids ? bids->u.a.n : 0, k = 0;

		if ((e = oc_log_entry_acts(&ents.u.a.v[i], &dacts)) != O_OK)
			goto out;
		if (act != NULL && own_committed(c, act) > 0)
			conflicts = true; /* our own commit whose answer was lost */
		if (act != NULL && c->type->filter != NULL &&
		    pending_sift(c, type_verdict, acts))
			conflicts = true;
		oc_val_fini(&dacts);
		ids = o_malloc(sizeof(*ids) * (nids + 1));
		for (j = 0; j < nids; j++)
			if (oc_bid_from(&bids->u.a.v[j], &ids[k]))
				k++;
		oc_cache_clear(c->cache, ids, k);
		if (oc_tracker_conflicts(&c->trk, ids, k))
			conflicts = true;
		free(ids);
	}
	ctx_adopt(c, &nctx);
	c->exists    = true;
	c->nitems_ok = false; /* newer committed entries: count again */
	if (conflicts || c->invented)
		e = replay(c);
out:
	oc_val_fini(&ents);
	oc_actx_fini(&nctx);
	return e;
}

o_err
oc_coll_update(struct oc_collection *c)
{
	return with_sync_locked(c, update_locked);
}

/* ---- sync ---------------------------------------------------------------- */

/*
 * Seal the first segment and build the snapshot of its batch: the staged
 * chunk blocks and the segment's effects over the committed state.
 * Returns the number of actions in the batch; *seg says whether it is a
 * segment's (without one, only staged chunks are committed, and acts
 * during the I/O open a segment that this commit does not cover).
 */
static size_t
build_snapshot(struct oc_collection *c, struct oc_tracker *snap, bool *seg)
{
	const struct oc_tfs *t0;
	const struct oc_tf  *sf;
	size_t               i;

	oc_tracker_init_with(snap, oc_cache_store(c->cache), &c->side.tfs);
	*seg = c->nsegs > 0;
	if (!*seg)
		return 0;
	c->segs[0].sealed = true;
	t0 = &c->segs[0].t.tfs;
	oc_tfs_merge(&snap->tfs, t0);
	/* a staged chunk the batch deletes again never existed: leave it out
	 * (it leaves the side tracker once the batch commits) */
	for (i = 0; i < t0->n; i++)
		if (t0->e[i].tf.del &&
		    (sf = oc_tfs_get(&c->side.tfs, &t0->e[i].id)) != NULL &&
		    sf->insert != NULL)
			oc_tfs_remove(&snap->tfs, &t0->e[i].id);
	return c->segs[0].n;
}

/* Stage one block's transform tf into dst, as oc_tfs_replay would. */
static o_err
stage_tf(struct oc_bstore *dst, const struct oc_bid *id, const struct oc_tf *tf)
{
	struct oc_val blk;
	bool          present;
	size_t        j;
	o_err         e;

	if (tf->del)
		return oc_bstore_del(dst, id);
	if (tf->insert != NULL) {
		if ((e = oc_tf_apply(NULL, tf, &blk, &present)) != O_OK)
			return e;
		return oc_bstore_insert(dst, blk);
	}
	for (j = 0; j < tf->nops; j++)
		if ((e = oc_bstore_update(dst, id, oc_op_dup(&tf->ops[j]))) !=
		    O_OK)
			return e;
	return O_OK;
}

/*
 * After our commit of the first segment's batch: the committed state now
 * holds its effects, so each block it touched is staged again as the later
 * segments' effects on it (none: not staged any more); other blocks keep
 * their staged effects.  Costs the first segment's blocks times the number
 * of segments, not a replay of the queue.  seg false: the commit held no
 * segment (staged chunks only), nothing to drop.  A replay while the commit
 * was in flight (act's fallback) rebuilt the segments, which then no longer
 * line up: replay again.
 */
static o_err
rebase_own(struct oc_collection *c, uint64_t gen, bool seg)
{
	const struct oc_tfs *t0;
	size_t               i, k;
	o_err                e = O_OK;

	c->invented = false;
	if (gen != c->replay_gen)
		return replay(c);
	if (!seg)
		return O_OK;
	t0 = &c->segs[0].t.tfs;
	for (i = 0; i < t0->n && e == O_OK; i++) {
		const struct oc_bid *id = &t0->e[i].id;

		oc_tracker_unstage(&c->trk, id);
		for (k = 1; k < c->nsegs && e == O_OK; k++) {
			const struct oc_tf *tf =
			    oc_tfs_get(&c->segs[k].t.tfs, id);

			if (tf != NULL)
				e = stage_tf(&c->trk.base, id, tf);
		}
	}
	seg_pop(c);
	return e == O_OK ? O_OK : replay(c);
}

/* Full-jitter exponential backoff for the attempt-th retry. */
static int64_t
backoff_ms(struct oc_collection *c, int attempt)
{
	int64_t ms = c->opts.base_backoff_ms;
	int     i;

	for (i = 1; i < attempt && ms < c->opts.max_backoff_ms; i++)
		ms *= 2;
	if (ms > c->opts.max_backoff_ms)
		ms = c->opts.max_backoff_ms;
	/* full jitter in [ms/2, ms] */
	return ms / 2 + (int64_t) (o_rand64() % (uint64_t) (ms / 2 + 1));
}

/* ---- journal ------------------------------------------------------------ */

/* Tags for the log entry committing the first nb queued actions: per
 * session of our journal, the highest action number among them. */
static struct oc_val
jtags(struct oc_collection *c, size_t nb)
{
	struct oc_val t = oc_null();
	size_t        i, k;

	if (c->opts.journal == NULL)
		return t;
	for (i = 0; i < nb; i++) {
		const struct oc_jref *r = &c->jrefs[i];
		struct oc_val         tag;

		if (r->session == 0)
			continue;
		if (t.type == OC_NULL)
			t = oc_array();
		for (k = 0; k < t.u.a.n; k++) {
			struct oc_val *x = &t.u.a.v[k];

			if (x->u.a.v[1].u.i == (int64_t) r->session) {
				if (x->u.a.v[2].u.i < (int64_t) r->seq)
					x->u.a.v[2].u.i = (int64_t) r->seq;
				break;
			}
		}
		if (k < t.u.a.n)
			continue;
		tag = oc_array();
		oc_arr_push(&tag, oc_bytes(c->opts.journal->node,
		                      sizeof(c->opts.journal->node)));
		oc_arr_push(&tag, oc_int((int64_t) r->session));
		oc_arr_push(&tag, oc_int((int64_t) r->seq));
		oc_arr_push(&t, tag);
	}
	return t;
}

static bool
jref_same_rec(const struct oc_jref *a, const struct oc_jref *b)
{
	return a->session == b->session && a->first == b->first;
}

/*
 * The queued actions gone[0..n) left the queue (committed or dropped by
 * the filter); forget each journal record none of whose actions is still
 * queued (c->jrefs holds the queue now).  A failure is logged: the record
 * stays and recovery finds its actions committed by their tags.
 */
static void
jrefs_gone(struct oc_collection *c, const struct oc_jref *gone, size_t n)
{
	uint64_t (*keys)[2];
	size_t   i, k, nk = 0;
	o_err    e;
	char     s[OC_BID_STRLEN];

	if (c->opts.journal == NULL || n == 0)
		return;
	keys = o_malloc(n * sizeof(*keys));
	for (i = 0; i < n; i++) {
		const struct oc_jref *r = &gone[i];
		bool                  live = false;

		if (r->session == 0)
			continue;
		/* gone[] is in queue order and a record's actions are
		 * contiguous: a repeat can only be of the last key */
		live = nk > 0 && keys[nk - 1][0] == r->session &&
		    keys[nk - 1][1] == r->first;
		/* records are contiguous in the queue: a member still
		 * queued is at its head, unless the filter dropped this one
		 * from the middle */
		for (k = 0; k < c->pending.u.a.n && !live; k++) {
			if (jref_same_rec(&c->jrefs[k], r))
				live = true;
			else if (c->jrefs[k].session == r->session &&
			    c->jrefs[k].first > r->first)
				break;
		}
		if (live)
			continue;
		keys[nk][0] = r->session;
		keys[nk][1] = r->first;
		nk++;
	}
	if (nk > 0 &&
	    (e = oc_journal_drop(c->opts.journal, &c->id,
	         (const uint64_t(*)[2]) keys, nk)) != O_OK)
		o_log(O_LOG_WARN,
		    "collection %s: forgetting %zu committed journal records "
		    "failed (%s); recovery will skip them",
		    oc_bid_str(&c->id, s), nk, o_err_detail());
	free(keys);
}

static void
jrefs_push(struct oc_collection *c, const struct oc_jref *r)
{
	if (c->pending.u.a.n >= c->jcap) {
		c->jcap  = c->jcap ? 2 * c->jcap : 64;
		c->jrefs = o_realloc(c->jrefs, c->jcap * sizeof(*c->jrefs));
	}
	c->jrefs[c->pending.u.a.n] = *r;
}

/* Drop the seals below the queue's head (or, empty, below the next
 * action): their actions left the queue. */
static void
seals_trim(struct oc_collection *c)
{
	uint64_t lo =
	    c->pending.u.a.n > 0 ? c->jrefs[0].qseq : c->seq_acted + 1;
	size_t k = 0;

	while (k < c->nseals && c->seals[k] < lo)
		k++;
	if (k == 0)
		return;
	memmove(c->seals, c->seals + k, (c->nseals - k) * sizeof(*c->seals));
	c->nseals -= k;
}

/*
 * Give back what the queue reserved once it is mostly empty.  A burst of
 * appends grows it to many thousand actions, and a diary's collection
 * stays open as long as the mount: kept, every collection written once
 * would hold its peak.  An empty queue holds nothing.
 */
static void
queue_trim(struct oc_collection *c)
{
	size_t n    = c->pending.u.a.n;
	size_t keep = n > 0 ? O_MAX(2 * n, (size_t) QUEUE_KEEP) : 0;

	if (c->pending.u.a.cap > keep && n <= c->pending.u.a.cap / 4)
		oc_arr_shrink(&c->pending, keep);
	if (c->jcap > keep && n <= c->jcap / 4) {
		if (keep == 0) {
			free(c->jrefs);
			c->jrefs = NULL;
		} else
			c->jrefs =
			    o_realloc(c->jrefs, keep * sizeof(*c->jrefs));
		c->jcap = keep;
	}
}

/* Take the first k actions off the queue (they committed); returns their
 * journal ids (to free; NULL without a journal). */
static struct oc_jref *
queue_pop(struct oc_collection *c, size_t k)
{
	struct oc_jref *gone = NULL;
	size_t          i, rest = c->pending.u.a.n - k;

	if (k == 0)
		return NULL;
	if (c->opts.journal != NULL) {
		gone = o_malloc(k * sizeof(*gone));
		memcpy(gone, c->jrefs, k * sizeof(*gone));
	}
	for (i = 0; i < k; i++)
		oc_val_fini(&c->pending.u.a.v[i]);
	memmove(c->pending.u.a.v, c->pending.u.a.v + k,
	    rest * sizeof(struct oc_val));
	memmove(c->jrefs, c->jrefs + k, rest * sizeof(*c->jrefs));
	c->pending.u.a.n = rest;
	seals_trim(c);
	queue_trim(c);
	return gone;
}

/* ---- sync ---------------------------------------------------------------- */

/* One attempt to commit a collection's first batch. */
struct sync_try {
	struct oc_tracker    snap;
	struct oc_pend_req   preq;
	struct oc_commit_req creq;
	struct oc_bid        critical, *bids;
	int64_t             *base; /* preq.base */
	size_t               nb;
	uint64_t             gen;
	int64_t              rev;
	bool                 seg, built, pended, done;
	bool                 fused;  /* pend_commit: nothing left to cancel */
	bool                 doubt;  /* commit's outcome unknown: its pendings
	                                are left to expire (try_commit) */
	bool                 reread; /* replay before the next attempt
	                                (set c->torn: try_build heals) */
	bool split;             /* the batch ends inside a journal record */
	o_err                e; /* pend/commit result */
};

/* Whether c has anything to commit up to target. */
static bool
sync_needed(struct oc_collection *c, uint64_t target)
{
	return (c->pending.u.a.n > 0 && c->jrefs[0].qseq <= target) ||
	    (c->pending.u.a.n == 0 &&
	        (!oc_tfs_is_empty(&c->trk.tfs) ||
	            !oc_tfs_is_empty(&c->side.tfs)));
}

/* c_mtx held.  Build the attempt under action aid: the first batch and
 * its log entry at rev+1 in a throw-away snapshot.  cols: the other
 * collections of the transaction. */
static o_err
try_build(struct oc_collection *c, const struct oc_aid *aid,
    const struct oc_bid *cols, size_t ncols, struct sync_try *t)
{
	struct oc_log        log;
	struct oc_chain_path pos;
	struct oc_log_extra  x;
	struct oc_val        acts = oc_array();
	size_t               i;
	o_err                e;

	memset(t, 0, sizeof(*t));
	if ((e = heal(c)) != O_OK)
		return e;
	t->gen      = c->replay_gen;
	t->rev      = c->ctx.rev + 1;
	t->preq.aid = *aid;
	t->nb       = build_snapshot(c, &t->snap, &t->seg);
	for (i = 0; i < t->nb; i++)
		oc_arr_push(&acts, oc_val_dup(&c->pending.u.a.v[i]));
	if (t->nb > 0 && c->jrefs[t->nb - 1].session != 0)
		t->split = c->jrefs[t->nb - 1].seq + 1 <
		    c->jrefs[t->nb - 1].first + c->jrefs[t->nb - 1].n;
	x.cols  = cols;
	x.ncols = ncols;
	x.jt    = jtags(c, t->nb);
	if ((e = oc_log_open(&log, &t->snap.base, &c->id)) != O_OK) {
		oc_val_fini(&acts);
		oc_val_fini(&x.jt);
	} else {
		e = oc_log_append_tx(&log, aid, t->rev, acts, o_now_ms(),
		    &t->snap.tfs, &x, &t->critical, &pos);
	}
	if (e != O_OK) {
		oc_tracker_fini(&t->snap);
		return e;
	}
	t->bids = o_malloc(sizeof(*t->bids) * (t->snap.tfs.n + 1));
	t->base = o_calloc(t->snap.tfs.n + 1, sizeof(*t->base));
	for (i = 0; i < t->snap.tfs.n; i++) {
		t->bids[i] = t->snap.tfs.e[i].id;
		/* the revision the update was computed over: the cached
		 * block's (every committed change to it since was cleared
		 * from the cache or folded in); evicted: not known */
		if (t->snap.tfs.e[i].tf.insert == NULL)
			t->base[i] =
			    O_MAX(oc_cache_rev(c->cache, &t->bids[i]), 0);
	}
	t->preq.base      = t->base;
	t->preq.rev       = t->rev;
	t->preq.tfs       = &t->snap.tfs;
	t->preq.policy    = OC_POLICY_RETURN;
	t->creq.aid       = *aid;
	t->creq.rev       = t->rev;
	t->creq.ids       = t->bids;
	t->creq.n         = t->snap.tfs.n;
	t->creq.critical  = t->critical;
	t->creq.col       = c->id;
	t->built          = true;
	return O_OK;
}

static void
try_fini(struct sync_try *t)
{
	if (!t->built)
		return;
	oc_tracker_fini(&t->snap);
	free(t->bids);
	free(t->base);
	t->built = false;
}

/* After a pend (or pend_commit) answered t->e with res. */
static void
pend_answered(
    struct oc_collection *c, struct sync_try *t, const struct oc_txres *res)
{
	/* our copy of a block disagrees with the replicas' (compare and
	 * set): drop it, and replay the queue before the next attempt, so
	 * that the block is read again under our context and the updates
	 * are computed over what it holds.  Replicas behind that a repair
	 * did not bring up may lack a commit of ours that no read has
	 * promoted there yet (a read with our context does); a block
	 * stale over an older base was changed at a revision we hold,
	 * which updating our context does not clear.  Under the latch:
	 * readers borrow cached blocks under it (oc_bstore_peek) */
	if (t->e == O_EBEHIND) {
		size_t i;

		pthread_mutex_lock(&c->c_mtx);
		for (i = 0; i < t->snap.tfs.n; i++)
			if (t->base[i] > 0)
				oc_cache_clear(c->cache, &t->bids[i], 1);
		pthread_mutex_unlock(&c->c_mtx);
		t->reread = true;
	} else if (t->e == O_ESTALE && !oc_bid_is_zero(&res->stale_id) &&
	    res->stale_rev > 0 && res->stale_rev < t->rev) {
		pthread_mutex_lock(&c->c_mtx);
		oc_cache_clear(c->cache, &res->stale_id, 1);
		pthread_mutex_unlock(&c->c_mtx);
		t->reread = true;
	}
}

/* No latch held.  Write the journal's held records before the attempt
 * (t->e gets a failure). */
static o_err
try_keep(struct oc_collection *c, struct sync_try *t)
{
	char s[OC_BID_STRLEN];

	if (c->opts.journal == NULL ||
	    (t->e = oc_journal_flush(c->opts.journal)) == O_OK)
		return O_OK;
	return t->e = o_err_wrap(t->e,
	           "collection %s: keeping queued actions in the journal "
	           "before their commit",
	           oc_bid_str(&c->id, s));
}

/* No latch held.  Pend the attempt of a sync that began at since
 * (mono_ms); t->e gets the result.  The journal's held records are
 * written first: once pended, the actions are out of this process's hands
 * (another node may promote them, or they expire), and a death before the
 * commit is settled at the next start only if the journal has them. */
static o_err
try_pend(struct oc_collection *c, struct sync_try *t, int64_t since)
{
	struct oc_txres res;

	if (try_keep(c, t) != O_OK)
		return t->e;
	t->preq.who       = c->who;
	t->preq.waited_ms = o_mono_ms() - since; /* monotonic: >= 0 */
	oc_txres_init(&res);
	t->e      = c->tx->ops->pend(c->tx, &t->preq, &res);
	t->pended = t->e == O_OK;
	pend_answered(c, t, &res);
	oc_txres_fini(&res);
	return t->e;
}

/* No latch held.  Pend and commit the attempt at once, where the
 * transactor can (a replica in this process): no pending is stored or
 * read back, and a failed commit left nothing to ask about or cancel
 * (ost_repo_pend_commit). */
static o_err
try_pend_commit(struct oc_collection *c, struct sync_try *t, int64_t since)
{
	struct oc_txres res;

	/* a batch that commits part of a record: the rest must outlive a
	 * death before its own commit (the record is finished at the next
	 * start, core/journal.h) */
	if (t->split && try_keep(c, t) != O_OK)
		return t->e;
	t->preq.who       = c->who;
	t->preq.waited_ms = o_mono_ms() - since; /* monotonic: >= 0 */
	t->fused          = true;
	oc_txres_init(&res);
	t->e = c->tx->ops->pend_commit(c->tx, &t->preq, &t->creq, &res);
	pend_answered(c, t, &res);
	oc_txres_fini(&res);
	t->done = t->e == O_OK;
	return t->e;
}

/* Whether a failed commit's outcome is unknown (core/transactor.h): some
 * replicas may have committed, or may yet.  Not O_EEXPIRED: a transactor
 * answers it only when no replica committed or can (net_commit: every
 * critical replica it sent the commit to said its pending expired). */
static bool
commit_in_doubt(o_err e)
{
	return e == O_EUNAVAIL || e == O_ETIMEDOUT;
}

/* No latch held.  Commit a pended attempt; an unknown outcome is settled
 * by asking the critical block.  One the answer does not settle stays in
 * doubt: the action may be decided with its other blocks not yet
 * committed anywhere, so its pendings are not cancelled but left for a
 * read to promote or to expire (docs/PROTOCOL.md §5). */
static o_err
try_commit(struct oc_collection *c, struct sync_try *t)
{
	struct oc_txres res;
	o_err           e;

	oc_txres_init(&res);
	e = c->tx->ops->commit(c->tx, &t->creq, &res);
	oc_txres_fini(&res);
	if (e != O_OK && e != O_ESTALE) {
		uint8_t st = OC_ST_UNKNOWN;
		char    why[512];
		o_err   se;

		/* the commit's error is the one to report, with what the
		 * status question answered */
		snprintf(why, sizeof(why), "%s", o_err_detail());
		se = c->tx->ops->status(
		    c->tx, &t->creq.aid, t->rev, &t->critical, 1, &st);
		if (se == O_OK && st == OC_ST_COMMITTED)
			e = O_OK;
		else {
			t->doubt = commit_in_doubt(e) &&
			    !(se == O_OK && st == OC_ST_ABORTED);
			o_err_set(e, "commit: %s (%s; then status: %s)%s", why,
			    o_errname(e),
			    se == O_OK
			        ? (st == OC_ST_ABORTED ? "aborted"
			                               : "not committed")
			        : o_err_detail(),
			    t->doubt ? "; in doubt: its pendings are left to "
			               "expire"
			             : "");
		}
	}
	t->e    = e;
	t->done = e == O_OK;
	return e;
}

/* No latch held.  Withdraw the pendings of an attempt that did not
 * commit, not those of one that may have (t->doubt).  After a refused
 * pend too: the network transactor withdraws what replicas accepted and
 * sends a cancel to those that did not answer, but does not wait for the
 * latter; this second round does, so a cancel lost once does not hold
 * rivals off until the pending expires. */
static void
try_cancel(struct oc_collection *c, struct sync_try *t)
{
	if (t->built && !t->done && !t->fused && !t->doubt &&
	    (t->pended || t->e == O_ESTALE || t->e == O_EPENDING))
		c->tx->ops->cancel(c->tx, &t->preq.aid, t->bids, t->snap.tfs.n);
}

/* c_mtx held.  The attempt committed: drop its batch from the queue and
 * rebase what is still queued on the new state.  Finis t. */
static o_err
try_done(struct oc_collection *c, struct sync_try *t)
{
	struct oc_jref *gone = NULL;
	size_t          k, nb = t->nb;
	o_err           e;

	gone = queue_pop(c, nb);
	c->st.commits++;
	c->st.actions += nb;
	oc_cache_apply(c->cache, &t->snap.tfs, t->rev);
	oc_actx_add(&c->ctx, &t->preq.aid, t->rev);
	ctx_trim(&c->ctx);
	c->exists = true;
	for (k = 0; k < t->snap.tfs.n; k++)
		if (oc_tfs_get(&c->side.tfs, &t->snap.tfs.e[k].id))
			oc_tfs_remove(&c->side.tfs, &t->snap.tfs.e[k].id);
	if (t->seg && t->gen == c->replay_gen)
		for (k = 0; k < c->segs[0].t.tfs.n; k++)
			if (c->segs[0].t.tfs.e[k].tf.del)
				oc_tfs_remove(
				    &c->side.tfs, &c->segs[0].t.tfs.e[k].id);
	if (gone != NULL) {
		jrefs_gone(c, gone, nb);
		free(gone);
	}
	try_fini(t);
	/* the staged effects were relative to the old state */
	e = rebase_own(c, t->gen, t->seg);
	return e;
}

/* The retry loop's bookkeeping: conflicts counted, a rival pending waited
 * out by time, lost races by attempts. */
struct retry_state {
	int     attempt, pend_tries;
	int64_t pend_since;
};

/*
 * Whether a failed attempt is tried again within the sync (after an
 * update, under retry_next's budget): refused before anything committed
 * (stale, a rival's pending, a replica behind), or a commit whose
 * pendings expired first (O_EEXPIRED: no replica committed or can, see
 * commit_in_doubt; before, it failed the sync and waited for the next).
 */
static bool
retryable(o_err e)
{
	return e == O_ESTALE || e == O_EPENDING || e == O_EBEHIND ||
	    e == O_EEXPIRED;
}

/* After a refused attempt (retryable(e)): O_OK to retry
 * after *ms of backoff, else O_ERETRIES with a message. */
static o_err
retry_next(struct oc_collection *c, struct retry_state *rs, o_err e,
    int64_t rev, int64_t *ms)
{
	char s[OC_BID_STRLEN];
	int  k;

	c->st.conflicts++;
	if (e == O_EPENDING) {
		/* a rival in flight (or abandoned): it must commit or
		 * expire, so wait for it by time, not by attempts */
		int64_t now = o_mono_ms();

		if (rs->pend_since == 0)
			rs->pend_since = now;
		if (now - rs->pend_since > c->opts.pending_wait_ms)
			return o_err_set(O_ERETRIES,
			    "collection %s: rev %lld held by another action's "
			    "pending (or claimed by a writer trying longer) "
			    "for %lld ms",
			    oc_bid_str(&c->id, s), (long long) rev,
			    (long long) (now - rs->pend_since));
		if (rs->pend_tries < 8)
			rs->pend_tries++;
		k = rs->pend_tries;
	} else {
		rs->pend_since = 0;
		if (++rs->attempt >= c->opts.max_attempts)
			return o_err_set(O_ERETRIES,
			    "collection %s: rev %lld still contended after %d "
			    "attempts",
			    oc_bid_str(&c->id, s), (long long) rev,
			    rs->attempt);
		k = rs->attempt;
	}
	*ms = backoff_ms(c, k);
	return O_OK;
}

void
oc_coll_seal(struct oc_collection *c)
{
	uint64_t q;

	pthread_mutex_lock(&c->c_mtx);
	q = c->seq_acted + 1;
	seals_trim(c);
	if (c->nseals > 0 && c->seals[c->nseals - 1] == q)
		goto out;
	if (c->nseals == c->sealcap) {
		c->sealcap = c->sealcap ? 2 * c->sealcap : 4;
		c->seals = o_realloc(c->seals, c->sealcap * sizeof(*c->seals));
	}
	c->seals[c->nseals++] = q;
out:
	pthread_mutex_unlock(&c->c_mtx);
}

uint64_t
oc_coll_seq(struct oc_collection *c)
{
	uint64_t seq;

	pthread_mutex_lock(&c->c_mtx);
	seq = c->seq_acted;
	pthread_mutex_unlock(&c->c_mtx);
	return seq;
}

/* The sync target for seq (UINT64_MAX: all queued now); c_mtx held. */
static uint64_t
seq_target(const struct oc_collection *c, uint64_t seq)
{
	return O_MIN(seq, c->seq_acted);
}

o_err
oc_coll_sync(struct oc_collection *c)
{
	return oc_coll_sync_to(c, UINT64_MAX);
}

o_err
oc_coll_sync_to(struct oc_collection *c, uint64_t seq)
{
	struct retry_state rs = { 0 };
	uint64_t           target;
	int64_t            deadline = 0, ms, since;
	o_err              e = O_OK;
	char               s[OC_BID_STRLEN];

	pthread_mutex_lock(&c->c_sync);
	pthread_mutex_lock(&c->c_mtx);
	target = seq_target(c, seq);
	since  = o_mono_ms();
	if (c->opts.deadline_ms > 0)
		deadline = o_mono_ms() + c->opts.deadline_ms;
	while (sync_needed(c, target)) {
		struct sync_try t;
		struct oc_aid   aid;
		bool            conflict;

		/* a part of a linked change another sync dropped */
		if ((e = links_drop(c)) != O_OK)
			break;
		if (!sync_needed(c, target))
			break;

		if (deadline && o_mono_ms() > deadline) {
			e = o_err_set(O_ERETRIES,
			    "collection %s: sync deadline passed after %d "
			    "attempts",
			    oc_bid_str(&c->id, s), rs.attempt);
			break;
		}
		oc_aid_random(&aid);
		if ((e = try_build(c, &aid, NULL, 0, &t)) == O_OK) {
			pthread_mutex_unlock(&c->c_mtx);
			if (c->tx->ops->pend_commit != NULL)
				e = try_pend_commit(c, &t, since);
			else if ((e = try_pend(c, &t, since)) == O_OK)
				e = try_commit(c, &t);
			try_cancel(c, &t);
			pthread_mutex_lock(&c->c_mtx);
			if (e == O_OK) {
				memset(&rs, 0, sizeof(rs));
				if ((e = try_done(c, &t)) != O_OK)
					break;
				continue;
			}
		} else {
			/* O_ESTALE: the held rev is older than the history
			 * a block keeps, a race lost long ago: update */
			t.rev = c->ctx.rev + 1;
		}
		if (t.built && t.reread)
			c->torn = true; /* replayed by the next try_build */
		try_fini(&t);
		conflict = retryable(e);
		if (!conflict)
			break;
		if ((e = retry_next(c, &rs, e, t.rev, &ms)) != O_OK)
			break;
		pthread_mutex_unlock(&c->c_mtx);
		o_sleep_ms(ms);
		pthread_mutex_lock(&c->c_mtx);
		if ((e = update_locked(c)) != O_OK)
			break;
	}
	pthread_mutex_unlock(&c->c_mtx);
	pthread_mutex_unlock(&c->c_sync);
	return e;
}

static int
coll_cmp(const void *a, const void *b)
{
	const struct oc_collection *x = *(struct oc_collection *const *) a;
	const struct oc_collection *y = *(struct oc_collection *const *) b;

	return memcmp(x->id.b, y->id.b, sizeof(x->id.b));
}

static void
group_lock(struct oc_collection **g, size_t n, bool on)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (on)
			pthread_mutex_lock(&g[i]->c_mtx);
		else
			pthread_mutex_unlock(&g[n - 1 - i]->c_mtx);
}

o_err
oc_coll_sync_group(struct oc_collection *const *cs, size_t n, bool *decided)
{
	return oc_coll_sync_group_to(cs, NULL, n, decided);
}

o_err
oc_coll_sync_group_to(struct oc_collection *const *cs, const uint64_t *seqs,
    size_t n, bool *decided)
{
	struct oc_collection **g;
	struct sync_try       *t;
	struct oc_bid         *cols;
	uint64_t              *target;
	size_t                *ai;
	struct retry_state     rs = { 0 };
	int64_t                deadline = 0, since;
	size_t                 ng = 0, i, k, na;
	bool                   dec = false;
	o_err                  e  = O_OK;

	if (decided != NULL)
		*decided = false;
	if (n == 0)
		return O_OK;
	g = o_malloc(n * sizeof(*g));
	memcpy(g, cs, n * sizeof(*g));
	qsort(g, n, sizeof(*g), coll_cmp);
	for (i = 0; i < n; i++)
		if (ng == 0 || g[ng - 1] != g[i])
			g[ng++] = g[i];
	t      = o_calloc(ng, sizeof(*t));
	cols   = o_calloc(ng, sizeof(*cols));
	target = o_calloc(ng, sizeof(*target));
	ai     = o_calloc(ng, sizeof(*ai));
	/* lock order: c_sync of each in id order, then their c_mtx */
	for (i = 0; i < ng; i++)
		pthread_mutex_lock(&g[i]->c_sync);
	group_lock(g, ng, true);
	for (i = 0; i < ng; i++) {
		uint64_t seq = seqs != NULL ? 0 : UINT64_MAX;

		for (k = 0; seqs != NULL && k < n; k++)
			if (cs[k] == g[i] && seqs[k] > seq)
				seq = seqs[k];
		target[i] = seq_target(g[i], seq);
	}
	since = o_mono_ms();
	if (g[0]->opts.deadline_ms > 0)
		deadline = o_mono_ms() + g[0]->opts.deadline_ms;
	for (;;) {
		struct oc_aid aid;
		size_t        built = 0;
		int64_t       ms, rev = 0;

		if (deadline && o_mono_ms() > deadline) {
			e = o_err_set(O_ERETRIES,
			    "group commit of %zu collections: deadline passed "
			    "after %d attempts",
			    ng, rs.attempt);
			break;
		}
		na = 0;
		for (i = 0; i < ng && e == O_OK; i++)
			e = links_drop(g[i]); /* a rebase dropped a part */
		if (e != O_OK)
			break;
		for (i = 0; i < ng; i++)
			if (sync_needed(g[i], target[i]))
				ai[na++] = i;
		if (na == 0)
			break;
		oc_aid_random(&aid);
		for (k = 0; k < na && e == O_OK; k++) {
			size_t m = 0, j;

			for (j = 0; j < na; j++)
				if (j != k)
					cols[m++] = g[ai[j]]->id;
			if ((e = heal(g[ai[k]])) != O_OK)
				break;
			seg_coalesce(g[ai[k]], target[ai[k]]);
			e = try_build(g[ai[k]], &aid, cols, m, &t[k]);
			if (e == O_OK)
				built++;
		}
		if (e != O_OK) {
			for (k = 0; k < built; k++)
				try_fini(&t[k]);
			if (e != O_ESTALE)
				break;
			/* a held rev older than a block's kept history */
			rev = g[ai[0]]->ctx.rev + 1;
			goto retry;
		}
		group_lock(g, ng, false);
		/* pend everything; then the first critical block decides */
		for (k = 0; k < na && e == O_OK; k++)
			e = try_pend(g[ai[k]], &t[k], since);
		if (e == O_OK && (e = try_commit(g[ai[0]], &t[0])) == O_OK) {
			dec = true;
			for (k = 1; k < na; k++)
				try_commit(g[ai[k]], &t[k]);
		} else if (t[0].doubt) {
			/* the action may be decided: the others' pendings
			 * hold its other blocks, left to a read or expiry */
			for (k = 1; k < na; k++)
				t[k].doubt = true;
		}
		for (k = 0; k < na; k++)
			try_cancel(g[ai[k]], &t[k]);
		group_lock(g, ng, true);
		if (dec) {
			/* a failed rebase in try_done leaves the collection
			 * torn, healed by the roll forward below */
			for (k = 0; k < na; k++)
				if (t[k].done)
					(void) try_done(g[ai[k]], &t[k]);
				else
					try_fini(&t[k]);
			break;
		}
		for (k = 0; k < na; k++) {
			if (t[k].e != O_OK && rev == 0)
				rev = t[k].rev;
			if (t[k].reread) /* replayed by try_build */
				g[ai[k]]->torn = true;
			try_fini(&t[k]);
		}
		if (!retryable(e))
			break;
	retry:
		if ((e = retry_next(g[0], &rs, e, rev, &ms)) != O_OK)
			break;
		group_lock(g, ng, false);
		o_sleep_ms(ms);
		group_lock(g, ng, true);
		for (k = 0; k < na && e == O_OK; k++)
			e = update_locked(g[ai[k]]);
		if (e != O_OK)
			break;
	}
	group_lock(g, ng, false);
	for (i = ng; i-- > 0;)
		pthread_mutex_unlock(&g[i]->c_sync);
	if (dec) {
		/* decided: the rest is rolled forward, never back */
		e = O_OK;
		for (i = 0; i < ng; i++) {
			o_err re = oc_coll_sync_to(g[i], target[i]);

			if (re != O_OK && e == O_OK)
				e = re;
		}
	}
	if (decided != NULL)
		*decided = dec;
	free(g);
	free(t);
	free(cols);
	free(target);
	free(ai);
	return e;
}

/* ---- accessors ----------------------------------------------------------- */

int64_t
oc_coll_rev(struct oc_collection *c)
{
	int64_t r;

	pthread_mutex_lock(&c->c_mtx);
	r = c->ctx.rev;
	pthread_mutex_unlock(&c->c_mtx);
	return r;
}

size_t
oc_coll_npending(struct oc_collection *c)
{
	size_t n;

	pthread_mutex_lock(&c->c_mtx);
	n = c->pending.u.a.n;
	pthread_mutex_unlock(&c->c_mtx);
	return n;
}

size_t
oc_coll_cache_bytes(struct oc_collection *c)
{
	return oc_cache_bytes(c->cache);
}

bool
oc_coll_cache_drop(struct oc_collection *c)
{
	/* readers borrow cached blocks under the latch (oc_bstore_peek):
	 * drop between them, and skip a collection in use rather than
	 * wait for it (a sync holds the latch across reads) */
	if (pthread_mutex_trylock(&c->c_mtx) != 0)
		return false;
	oc_cache_clear_all(c->cache);
	pthread_mutex_unlock(&c->c_mtx);
	return true;
}

bool
oc_coll_exists(struct oc_collection *c)
{
	bool x;

	pthread_mutex_lock(&c->c_mtx);
	x = c->exists;
	pthread_mutex_unlock(&c->c_mtx);
	return x;
}

const struct oc_bid *
oc_coll_id(struct oc_collection *c)
{
	return &c->id;
}

void
oc_coll_get_stats(struct oc_collection *c, struct oc_coll_stats *st)
{
	pthread_mutex_lock(&c->c_mtx);
	*st             = c->st;
	st->queue_bytes = c->pending.u.a.cap * sizeof(struct oc_val) +
	    c->jcap * sizeof(struct oc_jref);
	pthread_mutex_unlock(&c->c_mtx);
}

/*
 * c_mtx held, c_sync not.  A read at the held context met a block whose
 * kept history starts above it (O_ESTALE): update to the latest context
 * (dropping and retaking c_mtx, to take c_sync first).
 */
static o_err
catch_up(struct oc_collection *c)
{
	o_err e;

	pthread_mutex_unlock(&c->c_mtx);
	pthread_mutex_lock(&c->c_sync);
	pthread_mutex_lock(&c->c_mtx);
	e = update_locked(c);
	pthread_mutex_unlock(&c->c_sync);
	return e;
}

/* After O_ESTALE from a read (c_mtx held): catch up; O_OK to run again. */
static o_err
stale_retry(struct oc_collection *c, o_err e, int tries, bool again)
{
	char  why[256];
	o_err ue;

	if (e != O_ESTALE || tries >= OC_STALE_TRIES)
		return e;
	snprintf(why, sizeof(why), "%s", o_err_detail());
	c->st.conflicts++;
	if ((ue = catch_up(c)) != O_OK)
		return ue;
	if (!again)
		return o_err_set(O_ESTALE,
		    "%s (collection brought up to date: read again)", why);
	return O_OK;
}

static o_err
coll_read(struct oc_collection *c,
    o_err (*fn)(struct oc_bstore *s, void *arg), void *arg, bool again)
{
	o_err e;
	int   tries;

	pthread_mutex_lock(&c->c_mtx);
	for (tries = 0;; tries++) {
		if ((e = heal(c)) == O_OK)
			e = fn(rstore(c), arg);
		if (e == O_OK ||
		    (e = stale_retry(c, e, tries, again)) != O_OK)
			break;
	}
	pthread_mutex_unlock(&c->c_mtx);
	return e;
}

o_err
oc_coll_read(struct oc_collection *c,
    o_err (*fn)(struct oc_bstore *s, void *arg), void *arg)
{
	return coll_read(c, fn, arg, false);
}

o_err
oc_coll_read_again(struct oc_collection *c,
    o_err (*fn)(struct oc_bstore *s, void *arg), void *arg)
{
	return coll_read(c, fn, arg, true);
}

o_err
oc_coll_read_queue(struct oc_collection *c,
    o_err (*fn)(struct oc_bstore *s, int64_t rev, const struct oc_val *queue,
        void *arg),
    void *arg)
{
	o_err e;

	pthread_mutex_lock(&c->c_mtx);
	if ((e = heal(c)) == O_OK)
		e = fn(rstore(c), c->ctx.rev, &c->pending, arg);
	if (e != O_OK)
		e = stale_retry(c, e, 0, false);
	pthread_mutex_unlock(&c->c_mtx);
	return e;
}

o_err
oc_coll_count(struct oc_collection *c,
    o_err (*fn)(struct oc_bstore *s, void *arg, uint64_t *n), void *arg,
    uint64_t *n)
{
	o_err e = O_OK;
	int   tries;

	pthread_mutex_lock(&c->c_mtx);
	for (tries = 0;; tries++) {
		if ((e = heal(c)) != O_OK) {
			/* error returned below */
		} else if (c->nitems_ok && c->nitems >= 0) {
			*n = (uint64_t) c->nitems;
		} else if ((e = fn(rstore(c), arg, n)) == O_OK) {
			c->nitems    = (int64_t) *n;
			c->nitems_ok = c->type->apply_n != NULL;
		}
		if (e == O_OK || (e = stale_retry(c, e, tries, true)) != O_OK)
			break;
	}
	pthread_mutex_unlock(&c->c_mtx);
	return e;
}

struct oc_val
oc_coll_pending(struct oc_collection *c)
{
	struct oc_val v;

	pthread_mutex_lock(&c->c_mtx);
	v = oc_val_dup(&c->pending);
	pthread_mutex_unlock(&c->c_mtx);
	return v;
}

/* ---- chunks -------------------------------------------------------------- */

struct oc_val
oc_coll_chunk(struct oc_collection *c, const void *data, size_t n)
{
	struct oc_val  ref = oc_map(), ids = oc_array();
	const uint8_t *p   = data;
	size_t         off;

	pthread_mutex_lock(&c->c_mtx);
	for (off = 0; off < n || off == 0; off += OC_CHUNK_SIZE) {
		size_t        k = O_MIN(OC_CHUNK_SIZE, n - off);
		struct oc_bid id;
		struct oc_val b;

		oc_bid_random(&id);
		b = oc_block_new(&id, OC_BT_CHUNK, &c->id);
		oc_map_set(&b, "data", oc_bytes(p + off, k));
		if (c->opts.journal != NULL)
			oc_arr_push(&c->jblocks, oc_val_dup(&b));
		oc_bstore_insert(&c->side.base, b);
		oc_arr_push(&ids, oc_bid_val(&id));
		if (n == 0)
			break;
	}
	pthread_mutex_unlock(&c->c_mtx);
	oc_map_set(&ref, "chunks", ids);
	oc_map_set(&ref, "len", oc_int((int64_t) n));
	return ref;
}

bool
oc_is_chunk_ref(const struct oc_val *v)
{
	return v->type == OC_MAP && oc_map_arr(v, "chunks") != NULL;
}

o_err
oc_chunks_read(struct oc_bstore *s, const struct oc_val *ref, struct o_buf *out)
{
	const struct oc_val *ids = oc_map_arr(ref, "chunks");
	size_t               i;
	o_err                e;

	if (ids == NULL)
		return o_err_set(O_ECORRUPT, "chunk reference without chunks");
	for (i = 0; i < ids->u.a.n; i++) {
		struct oc_bid        id;
		struct oc_val        b;
		const struct oc_val *d;

		if (!oc_bid_from(&ids->u.a.v[i], &id))
			return o_err_set(O_ECORRUPT, "malformed chunk id");
		if ((e = oc_bstore_need(s, &id, &b)) != O_OK)
			return e;
		d = oc_map_bytes(&b, "data");
		if (d == NULL) {
			oc_val_fini(&b);
			return o_err_set(O_ECORRUPT, "chunk block without data");
		}
		o_buf_append(out, d->u.s.p, d->u.s.n);
		oc_val_fini(&b);
	}
	return O_OK;
}

/* ---- journal recovery ---------------------------------------------------- */

void
oc_journal_rec_fini(struct oc_journal_rec *r)
{
	oc_val_fini(&r->acts);
	oc_val_fini(&r->blocks);
}

struct rec_list {
	struct oc_journal_rec *r;
	size_t                 n, cap;
};

static o_err
rec_collect(void *arg, struct oc_journal_rec *r)
{
	struct rec_list *l = arg;

	if (l->n == l->cap) {
		l->cap = l->cap ? 2 * l->cap : 16;
		l->r   = o_realloc(l->r, l->cap * sizeof(*l->r));
	}
	l->r[l->n++] = *r;
	memset(r, 0, sizeof(*r));
	return O_OK;
}

/* For each session sess[i] of journal j: the highest action number hi[i]
 * that c's log entries after rev `after` say is committed (0: none). */
static o_err
journal_committed(struct oc_collection *c, const struct oc_journal *j,
    int64_t after, const uint64_t *sess, uint64_t *hi, size_t ns)
{
	struct oc_log log;
	struct oc_val ents = oc_null();
	size_t        i, k, m;
	o_err         e;

	memset(hi, 0, ns * sizeof(*hi));
	if (!c->exists)
		return O_OK;
	if ((e = oc_log_open(&log, rstore(c), &c->id)) != O_OK ||
	    (e = oc_log_after(&log, after, &ents)) != O_OK)
		goto out;
	for (i = 0; i < ents.u.a.n; i++) {
		const struct oc_val *act = oc_log_entry_act(&ents.u.a.v[i]);
		const struct oc_val *jt  = act ? oc_map_get(act, "jt") : NULL;

		if (jt == NULL || jt->type != OC_ARRAY)
			continue;
		for (k = 0; k < jt->u.a.n; k++) {
			const struct oc_val *t = &jt->u.a.v[k];

			if (t->type != OC_ARRAY || t->u.a.n != 3 ||
			    t->u.a.v[0].type != OC_BYTES ||
			    t->u.a.v[0].u.s.n != sizeof(j->node) ||
			    memcmp(t->u.a.v[0].u.s.p, j->node,
			        sizeof(j->node)) != 0 ||
			    t->u.a.v[1].type != OC_INT ||
			    t->u.a.v[2].type != OC_INT)
				continue;
			for (m = 0; m < ns; m++)
				if (sess[m] == (uint64_t) t->u.a.v[1].u.i &&
				    hi[m] < (uint64_t) t->u.a.v[2].u.i)
					hi[m] = (uint64_t) t->u.a.v[2].u.i;
		}
	}
out:
	oc_val_fini(&ents);
	return e;
}

/* A collection being recovered. */
struct rcoll {
	struct oc_collection *c;
	uint64_t             *sess, *hi; /* committed hi per session */
	size_t                ns;
};

/* Open r[0..n) (one collection's records) and find what committed. */
static o_err
rcoll_open(struct oc_transactor *tx, struct oc_journal *j,
    const struct oc_coll_type *const *types, size_t ntypes,
    const struct oc_sync_opts *o, const struct oc_journal_rec *r, size_t n,
    struct rcoll *rc)
{
	const struct oc_coll_type *type = NULL;
	int64_t                    after = INT64_MAX;
	size_t                     i, k;
	o_err                      e;
	char                       s[OC_BID_STRLEN];

	memset(rc, 0, sizeof(*rc));
	for (i = 0; i < ntypes; i++)
		if (strcmp(types[i]->header_type, r[0].type) == 0)
			type = types[i];
	if (type == NULL)
		return o_err_set(O_EINVAL,
		    "journal: collection %s has records of unknown type '%s'",
		    oc_bid_str(&r[0].col, s), r[0].type);
	if ((e = oc_coll_open(tx, &r[0].col, type, true, o, &rc->c)) != O_OK)
		return e;
	rc->sess = o_calloc(n, sizeof(*rc->sess));
	rc->hi   = o_calloc(n, sizeof(*rc->hi));
	for (i = 0; i < n; i++) {
		for (k = 0; k < rc->ns && rc->sess[k] != r[i].session; k++)
			;
		if (k == rc->ns)
			rc->sess[rc->ns++] = r[i].session;
		if (r[i].base_rev < after)
			after = r[i].base_rev;
	}
	pthread_mutex_lock(&rc->c->c_mtx);
	for (i = 0;; i++) {
		/* a rival may prune what the walk reads: catch up, again */
		e = journal_committed(
		    rc->c, j, after, rc->sess, rc->hi, rc->ns);
		if (e == O_OK || (e = stale_retry(rc->c, e, (int) i, true)) !=
		        O_OK)
			break;
	}
	pthread_mutex_unlock(&rc->c->c_mtx);
	return e;
}

static void
rcoll_fini(struct rcoll *rc)
{
	oc_coll_free(rc->c);
	free(rc->sess);
	free(rc->hi);
}

/* Whether a log entry's act map carries a tag of journal j's node (an
 * entry this node committed, in this or an earlier session). */
static bool
entry_is_ours(const struct oc_val *act, const struct oc_journal *j)
{
	const struct oc_val *jt = act ? oc_map_get(act, "jt") : NULL;
	size_t               k;

	for (k = 0; jt != NULL && jt->type == OC_ARRAY && k < jt->u.a.n; k++) {
		const struct oc_val *t = &jt->u.a.v[k];

		if (t->type == OC_ARRAY && t->u.a.n == 3 &&
		    t->u.a.v[0].type == OC_BYTES &&
		    t->u.a.v[0].u.s.n == sizeof(j->node) &&
		    memcmp(t->u.a.v[0].u.s.p, j->node, sizeof(j->node)) == 0)
			return true;
	}
	return false;
}

/*
 * The conflict filter, as an update would have run it had the writer
 * lived: acts[0..n) were taken at base_rev; each other writer's entry
 * committed since may keep, replace or drop each of them (a creation that
 * lost its race must not come back as a plain put).  keep[i] false: drop.
 * c_mtx held.
 */
static o_err
recover_filter(struct oc_collection *c, int64_t base_rev, struct oc_val *acts,
    size_t n, bool *keep)
{
	struct oc_log log;
	struct oc_val ents = oc_null();
	size_t        i, m;
	o_err         e;

	for (m = 0; m < n; m++)
		keep[m] = true;
	if (c->type->filter == NULL || !c->exists)
		return O_OK;
	if ((e = oc_log_open(&log, rstore(c), &c->id)) != O_OK ||
	    (e = oc_log_after(&log, base_rev, &ents)) != O_OK)
		goto out;
	for (i = 0; i < ents.u.a.n; i++) {
		const struct oc_val *act = oc_log_entry_act(&ents.u.a.v[i]);
		struct oc_val        dacts;

		if (act == NULL || entry_is_ours(act, c->opts.journal))
			continue;
		if ((e = oc_log_entry_acts(&ents.u.a.v[i], &dacts)) != O_OK)
			goto out;
		for (m = 0; m < n; m++) {
			struct oc_val rep = oc_null();

			if (!keep[m])
				continue;
			switch (c->type->filter(&acts[m], &dacts, &rep)) {
			case OC_FILTER_KEEP:
				break;
			case OC_FILTER_REPLACE:
				oc_val_fini(&acts[m]);
				acts[m] = rep;
				break;
			case OC_FILTER_DROP:
				keep[m] = false;
				break;
			}
		}
		oc_val_fini(&dacts);
	}
out:
	oc_val_fini(&ents);
	return e;
}

/* How many of record r's actions rc's log shows committed. */
static size_t
recover_left(const struct rcoll *rc, const struct oc_journal_rec *r)
{
	size_t k;

	for (k = 0; rc->sess[k] != r->session; k++)
		;
	return rc->hi[k] >= r->first ? (size_t) (rc->hi[k] - r->first + 1) : 0;
}

/*
 * Before anything is committed: run record r's actions not committed yet
 * through the conflict filter, and note the link of each it drops, so
 * that its linked partners are dropped (recover_rec) wherever they come
 * in the replay, also before it (a rename's target half is taken before
 * its source half).  A filter that fails here (history pruned) is run
 * again by recover_rec.
 */
static void
recover_prefilter(struct rcoll *rc, const struct oc_journal_rec *r)
{
	size_t         na = r->acts.u.a.n, left = recover_left(rc, r), m;
	struct oc_val *acts;
	bool          *keep;
	int            tries;
	o_err          e;

	if (left >= na)
		return;
	keep = o_calloc(na - left, sizeof(*keep));
	acts = o_calloc(na - left, sizeof(*acts));
	pthread_mutex_lock(&rc->c->c_mtx);
	for (tries = 0;; tries++) {
		/* as recover_rec: a try that met pruned history runs again
		 * once caught up (else nothing would be noted, and a partner
		 * replayed first would commit) */
		for (m = left; m < na; m++)
			acts[m - left] = oc_val_dup(&r->acts.u.a.v[m]);
		e = recover_filter(rc->c, r->base_rev, acts, na - left, keep);
		for (m = left; m < na; m++)
			oc_val_fini(&acts[m - left]);
		if (e == O_OK ||
		    (e = stale_retry(rc->c, e, tries, true)) != O_OK)
			break;
	}
	pthread_mutex_unlock(&rc->c->c_mtx);
	for (m = left; m < na && e == O_OK; m++)
		if (!keep[m - left])
			link_lost(&r->acts.u.a.v[m]);
	free(keep);
	free(acts);
}

/* Queue again the actions of record r that its collection's log does not
 * show committed, but those the conflict filter drops and those whose
 * link was lost (recover_prefilter); *whole says the record is committed
 * (or dropped) entirely. */
static o_err
recover_rec(struct rcoll *rc, struct oc_journal_rec *r, bool *whole,
    struct oc_recover_report *rep)
{
	struct oc_collection *c  = rc->c;
	size_t                na = r->acts.u.a.n, left, m, nk = 0, x;
	struct oc_jref       *refs;
	struct oc_val        *acts;
	bool                 *keep;
	int                   tries;
	o_err                 e = O_OK;

	left   = recover_left(rc, r);
	*whole = left >= na;
	if (*whole) {
		rep->skipped += na;
		return O_OK;
	}
	rep->skipped += left;
	keep = o_calloc(na - left, sizeof(*keep));
	acts = o_calloc(na - left, sizeof(*acts));
	refs = o_calloc(na - left, sizeof(*refs));
	pthread_mutex_lock(&c->c_mtx);
	for (tries = 0;; tries++) {
		/* on copies: the filter replaces actions, and a try that met
		 * pruned history (O_ESTALE) runs again once caught up (a
		 * failed act stages nothing) */
		for (m = left; m < na; m++)
			acts[m - left] = oc_val_dup(&r->acts.u.a.v[m]);
		e = recover_filter(c, r->base_rev, acts, na - left, keep);
		for (m = left; m < na && e == O_OK; m++)
			if (link_is_lost(&r->acts.u.a.v[m]))
				keep[m - left] = false;
		for (nk = 0, m = left; m < na && e == O_OK; m++)
			if (keep[m - left])
				nk++;
		for (m = 0; m < r->blocks.u.a.n && e == O_OK && nk > 0; m++)
			e = oc_bstore_insert(
			    &c->side.base, oc_val_dup(&r->blocks.u.a.v[m]));
		if (e == O_OK && nk > 0) {
			for (x = 0, m = left; m < na; m++) {
				if (!keep[m - left]) {
					oc_val_fini(&acts[m - left]);
					continue;
				}
				refs[x].session = r->session;
				refs[x].first   = r->first;
				refs[x].seq     = r->first + m;
				refs[x].n       = (uint32_t) na;
				acts[x++]       = oc_val_take(&acts[m - left]);
			}
			e = act_locked(c, acts, nk, refs, false);
		}
		for (m = 0; m < na - left; m++)
			oc_val_fini(&acts[m]);
		if (e == O_OK || (e = stale_retry(c, e, tries, true)) != O_OK)
			break;
	}
	pthread_mutex_unlock(&c->c_mtx);
	/* a linked part lost to a rival: its partners, recovered in their
	 * own collections, are dropped before their commits (links_drop) */
	for (m = left; m < na && e == O_OK; m++)
		if (!keep[m - left] && !link_is_lost(&r->acts.u.a.v[m]))
			link_lost(&r->acts.u.a.v[m]);
	free(keep);
	free(acts);
	free(refs);
	if (e != O_OK)
		return e;
	if (nk == 0) {
		/* every remaining action lost to a rival: nothing to queue */
		rep->skipped += na - left;
		*whole = true;
		return O_OK;
	}
	rep->replayed += nk;
	rep->skipped += na - left - nk;
	return O_OK;
}

struct rorder {
	uint64_t session, first;
	size_t   rec, coll;
};

static int
rorder_cmp(const void *a, const void *b)
{
	const struct rorder *x = a, *y = b;

	if (x->session != y->session)
		return x->session < y->session ? -1 : 1;
	return x->first < y->first ? -1 : x->first > y->first;
}

o_err
oc_journal_recover(struct oc_transactor *tx, struct oc_journal *j,
    const struct oc_coll_type *const *types, size_t ntypes,
    const struct oc_sync_opts *opts, struct oc_recover_report *rep)
{
	struct rec_list     l = { 0 };
	struct rcoll       *rc = NULL;
	struct rorder      *ord = NULL;
	struct oc_sync_opts o;
	size_t              i, k, nrc = 0, cur = SIZE_MAX;
	o_err               e;
	char                s[OC_BID_STRLEN];

	memset(rep, 0, sizeof(*rep));
	memset(&o, 0, sizeof(o));
	if (opts != NULL)
		o = *opts;
	o.journal = j;
	if ((e = j->ops->scan(j, rec_collect, &l)) != O_OK)
		goto out;
	rep->records = l.n;
	rc           = o_calloc(l.n + 1, sizeof(*rc));
	ord          = o_calloc(l.n + 1, sizeof(*ord));
	/* records come grouped by collection: open each, learn what its
	 * log says committed */
	for (i = 0; i < l.n; i = k) {
		for (k = i; k < l.n && oc_bid_eq(&l.r[k].col, &l.r[i].col); k++) {
			ord[k].session = l.r[k].session;
			ord[k].first   = l.r[k].first;
			ord[k].rec     = k;
			ord[k].coll    = nrc;
		}
		if ((e = rcoll_open(tx, j, types, ntypes, &o, &l.r[i], k - i,
		         &rc[nrc])) != O_OK) {
			e = o_err_wrap(e, "journal recovery of collection %s",
			    oc_bid_str(&l.r[i].col, s));
			if (rc[nrc].c != NULL)
				rcoll_fini(&rc[nrc]);
			goto out;
		}
		nrc++;
	}
	rep->collections = nrc;
	/* replay in the order the actions were taken, committing a
	 * collection's run before the next collection's (file pieces before
	 * the entry naming them); stop at the first failure, since what
	 * follows may depend on it */
	qsort(ord, l.n, sizeof(*ord), rorder_cmp);
	for (i = 0; i < l.n; i++)
		recover_prefilter(&rc[ord[i].coll], &l.r[ord[i].rec]);
	for (i = 0; i <= l.n && e == O_OK; i++) {
		struct oc_journal_rec *r;
		bool                   whole;
		uint64_t               key[1][2];

		if (cur != SIZE_MAX && (i == l.n || ord[i].coll != cur) &&
		    oc_coll_npending(rc[cur].c) > 0 &&
		    (e = oc_coll_sync(rc[cur].c)) != O_OK) {
			e = o_err_wrap(e, "journal recovery: committing "
			                  "collection %s",
			    oc_bid_str(&rc[cur].c->id, s));
			break;
		}
		if (i == l.n)
			break;
		cur = ord[i].coll;
		r   = &l.r[ord[i].rec];
		if ((e = recover_rec(&rc[cur], r, &whole, rep)) != O_OK) {
			e = o_err_wrap(e, "journal recovery of collection %s",
			    oc_bid_str(&r->col, s));
			break;
		}
		key[0][0] = r->session;
		key[0][1] = r->first;
		if (whole && (e = j->ops->drop(j, &r->col,
		                  (const uint64_t(*)[2]) key, 1)) != O_OK)
			break;
	}
out:
	for (i = 0; i < nrc; i++)
		rcoll_fini(&rc[i]);
	free(rc);
	free(ord);
	for (i = 0; i < l.n; i++)
		oc_journal_rec_fini(&l.r[i]);
	free(l.r);
	return e;
}
