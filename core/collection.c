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
 * - Item count.  The view's item count is kept as a running total once a
 *   walk established it (types with apply_n report each action's change);
 *   a replay or the adoption of newer committed entries forgets it.  Our
 *   own commits leave the view, hence the count, unchanged.
 */
#include "core/collection.h"

#include <string.h>

#include "core/codec.h"
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
	const struct oc_coll_type *type;
	struct oc_sync_opts        opts;
	struct oc_actx             ctx; /* held context; rev monotonic */
	struct oc_txsrc            src; /* committed reads pinned at ctx */
	struct oc_cache           *cache;
	struct oc_tracker          side; /* staged chunk blocks */
	struct oc_tracker          trk;  /* staged effects of pending */
	struct oc_val              pending; /* OC_ARRAY of actions */
	struct oc_seg             *segs;    /* cover pending, in order */
	size_t                     nsegs, segcap;
	uint64_t                   replay_gen; /* bumped by replay() */
	int64_t                    nitems;     /* view's item count ... */
	bool                       nitems_ok;  /* ... when this is set */
	uint64_t                   seq_acted, seq_done;
	bool                       torn;     /* a replay failed half way */
	bool                       exists;   /* header committed */
	bool                       invented; /* header staged by us */
	struct oc_coll_stats       st;
};

/* ---- transactor source --------------------------------------------------- */

static o_err
txsrc_get(struct oc_bstore *s, const struct oc_bid *id, struct oc_val *out,
    bool *found)
{
	struct oc_txsrc  *ts  = (struct oc_txsrc *) s;
	const struct oc_actx *ctx = ts->ctx && ts->ctx->rev > 0 ? ts->ctx : NULL;
	struct oc_get_res r;
	o_err             e;
	char              str[OC_BID_STRLEN];

	*out   = oc_null();
	*found = false;
	oc_get_res_init(&r);
	e = ts->tx->ops->get(ts->tx, id, 1, ctx, &r);
	if (e != O_OK)
		goto out;
	switch (r.state) {
	case OC_GET_BLOCK:
		*out   = oc_val_take(&r.block);
		*found = true;
		break;
	case OC_GET_ABSENT:
		break;
	default:
		/* corruption stays corruption; anything else: could not tell */
		e = o_err_set(r.cause == O_ECORRUPT || r.cause == O_EIO ?
		        r.cause :
		        O_EUNAVAIL,
		    "block %s: could not find out (%s)", oc_bid_str(id, str),
		    r.reason);
	}
out:
	oc_get_res_fini(&r);
	return e;
}

static const struct oc_bstore_ops txsrc_ops = { .get = txsrc_get };

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

/* The segment that takes the next action of weight w. */
static struct oc_seg *
seg_open(struct oc_collection *c, size_t w)
{
	struct oc_seg *g = c->nsegs > 0 ? &c->segs[c->nsegs - 1] : NULL;

	if (g != NULL && !g->sealed &&
	    (g->n == 0 || g->w + w <= OC_ENTRY_INLINE_MAX))
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
    int64_t *dn, bool *dn_ok, bool *torn)
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
		struct oc_seg *g = seg_open(c, w);

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

/*
 * Reset the staged effects and re-apply every pending action on the held
 * state (rebuilding the segments); a header we invented and that is still
 * not committed is invented again.  Forgets the item count.
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
		if ((e = stage_actions(c, &c->pending.u.a.v[i], 1, &dn, &dn_ok,
		         &torn)) != O_OK)
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
	if ((e = oc_tfs_replay(&at.tfs, &seg_open(c, 0)->t.base)) != O_OK) {
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
	o_err                 e;
	char                  s[OC_BID_STRLEN];

	*out = NULL;
	pthread_mutex_init(&c->c_sync, NULL);
	pthread_mutex_init(&c->c_mtx, NULL);
	c->tx   = tx;
	c->id   = *id;
	c->type = type;
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
	oc_tracker_init(&c->side, oc_cache_store(c->cache));
	oc_tracker_init(&c->trk, &c->side.base);
	/* sound: a staged block's source only changes by our own commit
	 * (rebase_own unstages it) or a foreign one (replay resets) */
	oc_tracker_memo_on(&c->trk);
	oc_tracker_fresh_on(&c->trk);
	c->pending = oc_array();

	if ((e = read_latest_context(c, &ctx, &exists)) != O_OK)
		goto out_free;
	if (!exists) {
		if (!create) {
			e = o_err_set(O_ENOTFOUND, "collection %s does not exist",
			    oc_bid_str(id, s));
			goto out_free;
		}
		if ((e = invent(c)) != O_OK)
			goto out_free;
		*out = c;
		return O_OK;
	}
	ctx_adopt(c, &ctx);
	oc_actx_fini(&ctx);
	c->exists = true;
	if ((e = oc_bstore_need(rstore(c), id, &hdr)) != O_OK)
		goto out_free;
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
	oc_actx_fini(&c->ctx);
	pthread_mutex_destroy(&c->c_mtx);
	pthread_mutex_destroy(&c->c_sync);
	free(c);
}

/* ---- act ----------------------------------------------------------------- */

o_err
oc_coll_act(struct oc_collection *c, struct oc_val *actions, size_t n)
{
	int64_t dn;
	bool    dn_ok, torn;
	size_t  i;
	o_err   e;

	pthread_mutex_lock(&c->c_mtx);
	if ((e = heal(c)) != O_OK)
		goto out;
	if ((e = stage_actions(c, actions, n, &dn, &dn_ok, &torn)) != O_OK) {
		if (torn)
			replay(c); /* the queue without these actions */
		goto out;
	}
	if (!dn_ok)
		c->nitems_ok = false;
	else
		c->nitems += dn;
	for (i = 0; i < n; i++)
		oc_arr_push(&c->pending, oc_val_take(&actions[i]));
	c->seq_acted += n;
out:
	pthread_mutex_unlock(&c->c_mtx);
	for (i = 0; i < n; i++)
		oc_val_fini(&actions[i]);
	return e;
}

o_err
oc_coll_stage_block(struct oc_collection *c, struct oc_val blk)
{
	o_err e;

	pthread_mutex_lock(&c->c_mtx);
	e = oc_bstore_insert(&c->side.base, blk);
	pthread_mutex_unlock(&c->c_mtx);
	return e;
}

/* ---- update -------------------------------------------------------------- */

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

	if ((e = read_latest_context(c, &nctx, &exists)) != O_OK)
		return e;
	if (!exists) {
		oc_actx_fini(&nctx);
		if (c->ctx.rev > 0)
			return o_err_set(O_EVANISHED,
			    "collection %s: header reads absent while holding "
			    "rev %lld",
			    oc_bid_str(&c->id, s), (long long) c->ctx.rev);
		return O_OK;
	}
	if (nctx.rev <= c->ctx.rev) {
		/* nothing newer (a lagging view never lowers our rev) */
		oc_actx_fini(&nctx);
		return O_OK;
	}
	oc_txsrc_init(&latest, c->tx, &nctx);
	if ((e = oc_log_open(&log, &latest.base, &c->id)) != O_OK ||
	    (e = oc_log_after(&log, c->ctx.rev, &ents)) != O_OK)
		goto out;
	for (i = 0; i < ents.u.a.n; i++) {
		const struct oc_val *act  = oc_log_entry_act(&ents.u.a.v[i]);
		const struct oc_val *bids = act ? oc_map_arr(act, "bids") : NULL;
		struct oc_val        dacts, *acts = &dacts;
		struct oc_bid       *ids;
		size_t               nids = bids ? bids->u.a.n : 0, k = 0;

		if ((e = oc_log_entry_acts(&ents.u.a.v[i], &dacts)) != O_OK)
			goto out;
		if (act != NULL && c->type->filter != NULL) {
			struct oc_val kept = oc_array();

			for (j = 0; j < c->pending.u.a.n; j++) {
				struct oc_val rep = oc_null();

				switch (c->type->filter(&c->pending.u.a.v[j], acts,
				    &rep)) {
				case OC_FILTER_KEEP:
					oc_arr_push(&kept,
					    oc_val_take(&c->pending.u.a.v[j]));
					break;
				case OC_FILTER_REPLACE:
					oc_arr_push(&kept, rep);
					conflicts = true;
					break;
				case OC_FILTER_DROP:
					conflicts = true;
					c->seq_done++; /* resolved, not queued */
					break;
				}
			}
			oc_val_fini(&c->pending);
			c->pending = kept;
		}
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
	o_err e;

	pthread_mutex_lock(&c->c_sync);
	pthread_mutex_lock(&c->c_mtx);
	e = update_locked(c);
	pthread_mutex_unlock(&c->c_mtx);
	pthread_mutex_unlock(&c->c_sync);
	return e;
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

static void
backoff(struct oc_collection *c, int attempt)
{
	int64_t ms = c->opts.base_backoff_ms;
	int     i;

	for (i = 1; i < attempt && ms < c->opts.max_backoff_ms; i++)
		ms *= 2;
	if (ms > c->opts.max_backoff_ms)
		ms = c->opts.max_backoff_ms;
	/* full jitter in [ms/2, ms] */
	ms = ms / 2 + (int64_t) (o_rand64() % (uint64_t) (ms / 2 + 1));
	pthread_mutex_unlock(&c->c_mtx);
	o_sleep_ms(ms);
	pthread_mutex_lock(&c->c_mtx);
}

o_err
oc_coll_sync(struct oc_collection *c)
{
	uint64_t target;
	int      attempt = 0, pend_tries = 0;
	int64_t  pend_since = 0;
	int64_t  deadline = 0;
	o_err    e = O_OK;
	char     s[OC_BID_STRLEN];

	pthread_mutex_lock(&c->c_sync);
	pthread_mutex_lock(&c->c_mtx);
	target = c->seq_acted;
	if (c->opts.deadline_ms > 0)
		deadline = o_now_ms() + c->opts.deadline_ms;
	while (c->seq_done < target ||
	    (c->pending.u.a.n == 0 &&
	        (!oc_tfs_is_empty(&c->trk.tfs) ||
	            !oc_tfs_is_empty(&c->side.tfs)))) {
		struct oc_tracker    snap;
		struct oc_log        log;
		struct oc_chain_path pos;
		struct oc_pend_req   preq;
		struct oc_commit_req creq;
		struct oc_txres      res;
		struct oc_bid        critical, *bids;
		struct oc_val        acts = oc_array();
		size_t               nb, i;
		uint64_t             gen = c->replay_gen;
		int64_t              rev = c->ctx.rev + 1;
		bool                 conflict = false, pended = false, seg;
		o_err                ce;

		if (deadline && o_now_ms() > deadline) {
			e = o_err_set(O_ERETRIES,
			    "collection %s: sync deadline passed after %d "
			    "attempts",
			    oc_bid_str(&c->id, s), attempt);
			break;
		}
		if ((e = heal(c)) != O_OK)
			break;
		gen = c->replay_gen;
		memset(&preq, 0, sizeof(preq));
		memset(&creq, 0, sizeof(creq));
		oc_aid_random(&preq.aid);
		nb = build_snapshot(c, &snap, &seg);
		for (i = 0; i < nb; i++)
			oc_arr_push(&acts, oc_val_dup(&c->pending.u.a.v[i]));
		if ((e = oc_log_open(&log, &snap.base, &c->id)) != O_OK ||
		    (e = oc_log_append_tx(&log, &preq.aid, rev, acts,
		         o_now_ms(), &snap.tfs, &critical, &pos)) != O_OK) {
			oc_tracker_fini(&snap);
			break;
		}
		bids = o_malloc(sizeof(*bids) * (snap.tfs.n + 1));
		for (i = 0; i < snap.tfs.n; i++)
			bids[i] = snap.tfs.e[i].id;
		preq.rev    = rev;
		preq.tfs    = &snap.tfs;
		preq.policy = OC_POLICY_RETURN;
		creq.aid    = preq.aid;
		creq.rev    = rev;
		creq.ids    = bids;
		creq.n      = snap.tfs.n;
		creq.critical = critical;

		pthread_mutex_unlock(&c->c_mtx);
		oc_txres_init(&res);
		e = c->tx->ops->pend(c->tx, &preq, &res);
		if (e == O_OK) {
			pended = true;
			oc_txres_fini(&res);
			oc_txres_init(&res);
			e = c->tx->ops->commit(c->tx, &creq, &res);
			if (e != O_OK && e != O_ESTALE) {
				/* outcome unknown: ask the critical block */
				uint8_t st = OC_ST_UNKNOWN;

				ce = c->tx->ops->status(c->tx, &creq.aid, rev,
				    &critical, 1, &st);
				if (ce == O_OK && st == OC_ST_COMMITTED)
					e = O_OK;
			}
		}
		conflict = e == O_ESTALE || e == O_EPENDING;
		if (e != O_OK && (pended || conflict))
			c->tx->ops->cancel(c->tx, &preq.aid, bids, snap.tfs.n);
		oc_txres_fini(&res);
		pthread_mutex_lock(&c->c_mtx);
		free(bids);

		if (e == O_OK) {
			size_t k;

			for (k = 0; k < nb; k++)
				oc_val_fini(&c->pending.u.a.v[k]);
			if (nb > 0) {
				memmove(c->pending.u.a.v, c->pending.u.a.v + nb,
				    (c->pending.u.a.n - nb) *
				        sizeof(struct oc_val));
				c->pending.u.a.n -= nb;
			}
			c->seq_done += nb;
			c->st.commits++;
			c->st.actions += nb;
			oc_cache_apply(c->cache, &snap.tfs, rev);
			oc_actx_add(&c->ctx, &preq.aid, rev);
			ctx_trim(&c->ctx);
			c->exists = true;
			for (k = 0; k < snap.tfs.n; k++)
				if (oc_tfs_get(&c->side.tfs, &snap.tfs.e[k].id))
					oc_tfs_remove(&c->side.tfs,
					    &snap.tfs.e[k].id);
			if (seg && gen == c->replay_gen)
				for (k = 0; k < c->segs[0].t.tfs.n; k++)
					if (c->segs[0].t.tfs.e[k].tf.del)
						oc_tfs_remove(&c->side.tfs,
						    &c->segs[0].t.tfs.e[k].id);
			oc_tracker_fini(&snap);
			attempt    = 0;
			pend_tries = 0;
			pend_since = 0;
			/* the staged effects were relative to the old state */
			if ((e = rebase_own(c, gen, seg)) != O_OK)
				break;
			continue;
		}
		oc_tracker_fini(&snap);
		if (!conflict)
			break;
		c->st.conflicts++;
		if (e == O_EPENDING) {
			/* a rival in flight (or abandoned): it must commit or
			 * expire, so wait for it by time, not by attempts */
			int64_t now = o_now_ms();

			if (pend_since == 0)
				pend_since = now;
			if (now - pend_since > c->opts.pending_wait_ms) {
				e = o_err_set(O_ERETRIES,
				    "collection %s: rev %lld held by another "
				    "action's pending for %lld ms",
				    oc_bid_str(&c->id, s), (long long) rev,
				    (long long) (now - pend_since));
				break;
			}
			if (pend_tries < 8)
				pend_tries++;
			backoff(c, pend_tries);
		} else {
			pend_since = 0;
			if (++attempt >= c->opts.max_attempts) {
				e = o_err_set(O_ERETRIES,
				    "collection %s: rev %lld still contended "
				    "after %d attempts",
				    oc_bid_str(&c->id, s), (long long) rev,
				    attempt);
				break;
			}
			backoff(c, attempt);
		}
		if ((e = update_locked(c)) != O_OK)
			break;
	}
	pthread_mutex_unlock(&c->c_mtx);
	pthread_mutex_unlock(&c->c_sync);
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
	*st = c->st;
	pthread_mutex_unlock(&c->c_mtx);
}

o_err
oc_coll_read(struct oc_collection *c,
    o_err (*fn)(struct oc_bstore *s, void *arg), void *arg)
{
	o_err e;

	pthread_mutex_lock(&c->c_mtx);
	if ((e = heal(c)) == O_OK)
		e = fn(rstore(c), arg);
	pthread_mutex_unlock(&c->c_mtx);
	return e;
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
	pthread_mutex_unlock(&c->c_mtx);
	return e;
}

o_err
oc_coll_count(struct oc_collection *c,
    o_err (*fn)(struct oc_bstore *s, void *arg, uint64_t *n), void *arg,
    uint64_t *n)
{
	o_err e = O_OK;

	pthread_mutex_lock(&c->c_mtx);
	if ((e = heal(c)) != O_OK) {
		/* error returned below */
	} else if (c->nitems_ok && c->nitems >= 0) {
		*n = (uint64_t) c->nitems;
	} else if ((e = fn(rstore(c), arg, n)) == O_OK) {
		c->nitems    = (int64_t) *n;
		c->nitems_ok = c->type->apply_n != NULL;
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
