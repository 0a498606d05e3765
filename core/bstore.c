/*
 * bstore.c - store helpers, the tracker, atomic scopes, the LRU cache and
 * the in-memory store.
 *
 * Lock order: the cache has one mutex (c_mtx) and never calls its source
 * while holding it.
 *
 * Cache design notes: a miss reads the source without the lock, so a
 * commit folded in (oc_cache_apply) or a clear may land while the read is
 * in flight.  Each of those bumps gen; a miss caches what it read only if
 * gen did not move, so an older block never overwrites a newer fact.
 */
#include "core/bstore.h"

#include <stdlib.h>
#include <string.h>

#include "core/block.h"
#include "core/o_util.h"

o_err
oc_bstore_need(
    struct oc_bstore *s, const struct oc_bid *id, struct oc_val *out)
{
	bool  found;
	o_err e = oc_bstore_get(s, id, out, &found);
	char  str[OC_BID_STRLEN];

	if (e != O_OK)
		return e;
	if (!found)
		return o_err_set(
		    O_ENOTFOUND, "missing block %s", oc_bid_str(id, str));
	return O_OK;
}

o_err
oc_bstore_apply(struct oc_bstore *s, struct oc_val *blk, struct oc_op op)
{
	struct oc_bid id;
	o_err         e;

	if (!oc_block_id(blk, &id)) {
		oc_op_fini(&op);
		return o_err_set(O_EINVAL, "apply to a block without id");
	}
	if ((e = oc_op_apply(blk, &op)) != O_OK) {
		oc_op_fini(&op);
		return e;
	}
	return oc_bstore_update(s, &id, op);
}

/* ---- tracker ----------------------------------------------------------- */

static o_err
trk_get(struct oc_bstore *s, const struct oc_bid *id, struct oc_val *out,
    bool *found)
{
	struct oc_tracker *t    = (struct oc_tracker *) s;
	struct oc_tf      *tf   = oc_tfs_get(&t->tfs, id), *m;
	struct oc_val      base = oc_null();
	bool               have = false;
	size_t             i;
	o_err              e;

	*out = oc_null();
	if (tf == NULL)
		return oc_bstore_get(t->src, id, out, found);
	/*
	 * Delete is the last step of a transform: absent, whatever came
	 * before it (as oc_tfs_replay and oc_cache_apply see it too).
	 */
	if (tf->del) {
		*found = false;
		return O_OK;
	}
	if (tf->insert != NULL)
		return oc_tf_apply(NULL, tf, out, found);
	if (t->memo != NULL && (m = oc_tfs_get(t->memo, id)) != NULL) {
		*out   = oc_val_dup(m->insert);
		*found = true;
		return O_OK;
	}
	if ((e = oc_bstore_get(t->src, id, &base, &have)) != O_OK) {
		oc_val_fini(&base);
		return e;
	}
	if (!have)
		return oc_tf_apply(NULL, tf, out, found); /* O_ENOBASE */
	/* base is our private copy: apply the ops to it, copy nothing */
	for (i = 0; i < tf->nops; i++) {
		if ((e = oc_op_apply(&base, &tf->ops[i])) != O_OK) {
			oc_val_fini(&base);
			return e;
		}
	}
	if (t->memo != NULL)
		oc_tfs_insert(t->memo, oc_val_dup(&base));
	*out   = base;
	*found = true;
	return O_OK;
}

static o_err
trk_insert(struct oc_bstore *s, struct oc_val blk)
{
	struct oc_tracker *t = (struct oc_tracker *) s;
	struct oc_bid      id;

	if (!oc_block_id(&blk, &id)) {
		oc_val_fini(&blk);
		return o_err_set(O_EINVAL, "insert of a block without id");
	}
	if (t->memo != NULL)
		oc_tfs_remove(t->memo, &id);
	oc_tfs_insert(&t->tfs, blk);
	return O_OK;
}

static o_err
trk_update(struct oc_bstore *s, const struct oc_bid *id, struct oc_op op)
{
	struct oc_tracker *t = (struct oc_tracker *) s;
	struct oc_tf      *tf, *m;
	o_err              e = oc_tfs_update(&t->tfs, id, op);

	if (t->memo == NULL || (m = oc_tfs_get(t->memo, id)) == NULL)
		return e;
	/* keep the memo in step with the op just appended */
	tf = oc_tfs_get(&t->tfs, id);
	if (e != O_OK || tf == NULL || tf->insert != NULL || tf->nops == 0 ||
	    oc_op_apply(m->insert, &tf->ops[tf->nops - 1]) != O_OK)
		oc_tfs_remove(t->memo, id);
	return e;
}

static o_err
trk_del(struct oc_bstore *s, const struct oc_bid *id)
{
	struct oc_tracker *t  = (struct oc_tracker *) s;
	struct oc_tf      *tf = oc_tfs_get(&t->tfs, id);

	if (t->memo != NULL)
		oc_tfs_remove(t->memo, id);
	if (t->fresh && tf != NULL && tf->insert != NULL)
		oc_tfs_remove(&t->tfs, id); /* created here: never existed */
	else
		oc_tfs_delete(&t->tfs, id);
	return O_OK;
}

static o_err
trk_peek(struct oc_bstore *s, const struct oc_bid *id, struct oc_val *tmp,
    const struct oc_val **out, bool *found)
{
	struct oc_tracker *t  = (struct oc_tracker *) s;
	struct oc_tf      *tf = oc_tfs_get(&t->tfs, id), *m;
	o_err              e;

	*out = NULL;
	if (tf == NULL)
		return oc_bstore_peek(t->src, id, tmp, out, found);
	*found = false;
	if (tf->del)
		return O_OK;
	if (tf->insert != NULL && tf->nops == 0) {
		*out   = tf->insert;
		*found = true;
		return O_OK;
	}
	if (tf->insert == NULL && t->memo != NULL &&
	    (m = oc_tfs_get(t->memo, id)) != NULL) {
		*out   = m->insert;
		*found = true;
		return O_OK;
	}
	if ((e = trk_get(s, id, tmp, found)) == O_OK && *found)
		*out = tmp;
	return e;
}

static const struct oc_bstore_ops trk_ops = {
	.get    = trk_get,
	.insert = trk_insert,
	.update = trk_update,
	.del    = trk_del,
	.peek   = trk_peek,
};

void
oc_tracker_init(struct oc_tracker *t, struct oc_bstore *src)
{
	t->base.ops = &trk_ops;
	t->src      = src;
	t->memo     = NULL;
	t->fresh    = false;
	oc_tfs_init(&t->tfs);
}

void
oc_tracker_fresh_on(struct oc_tracker *t)
{
	t->fresh = true;
}

void
oc_tracker_memo_on(struct oc_tracker *t)
{
	if (t->memo == NULL) {
		t->memo = o_malloc(sizeof(*t->memo));
		oc_tfs_init(t->memo);
	}
}

static void
memo_clear(struct oc_tracker *t)
{
	if (t->memo != NULL) {
		oc_tfs_fini(t->memo);
		oc_tfs_init(t->memo);
	}
}

void
oc_tracker_unstage(struct oc_tracker *t, const struct oc_bid *id)
{
	if (t->memo != NULL)
		oc_tfs_remove(t->memo, id);
	oc_tfs_remove(&t->tfs, id);
}

void
oc_tracker_init_with(
    struct oc_tracker *t, struct oc_bstore *src, const struct oc_tfs *tfs)
{
	oc_tracker_init(t, src);
	oc_tfs_dup(&t->tfs, tfs);
}

void
oc_tracker_fini(struct oc_tracker *t)
{
	oc_tfs_fini(&t->tfs);
	if (t->memo != NULL) {
		oc_tfs_fini(t->memo);
		free(t->memo);
		t->memo = NULL;
	}
}

void
oc_tracker_reset(struct oc_tracker *t, struct oc_tfs *old)
{
	if (old != NULL)
		*old = t->tfs;
	else
		oc_tfs_fini(&t->tfs);
	oc_tfs_init(&t->tfs);
	memo_clear(t);
}

bool
oc_tracker_conflicts(
    const struct oc_tracker *t, const struct oc_bid *ids, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (oc_tfs_get(&t->tfs, &ids[i]) != NULL)
			return true;
	return false;
}

o_err
oc_tfs_replay(const struct oc_tfs *tfs, struct oc_bstore *dst)
{
	size_t i, j;
	o_err  e;

	for (i = 0; i < tfs->n; i++) {
		const struct oc_tf *tf = &tfs->e[i].tf;

		if (tf->del && (e = oc_bstore_del(dst, &tfs->e[i].id)) != O_OK)
			return e;
	}
	for (i = 0; i < tfs->n; i++) {
		const struct oc_tf *tf = &tfs->e[i].tf;
		struct oc_val       blk;
		bool                present;

		if (tf->insert == NULL || tf->del)
			continue;
		if ((e = oc_tf_apply(NULL, tf, &blk, &present)) != O_OK)
			return e;
		if ((e = oc_bstore_insert(dst, blk)) != O_OK)
			return e;
	}
	for (i = 0; i < tfs->n; i++) {
		const struct oc_tf *tf = &tfs->e[i].tf;

		if (tf->insert != NULL || tf->del)
			continue;
		for (j = 0; j < tf->nops; j++) {
			e = oc_bstore_update(
			    dst, &tfs->e[i].id, oc_op_dup(&tf->ops[j]));
			if (e != O_OK)
				return e;
		}
	}
	return O_OK;
}

void
oc_atomic_begin(struct oc_tracker *a, struct oc_bstore *parent)
{
	oc_tracker_init(a, parent);
	a->fresh =
	    parent->ops == &trk_ops && ((struct oc_tracker *) parent)->fresh;
}

o_err
oc_atomic_commit(struct oc_tracker *a)
{
	o_err e = oc_tfs_replay(&a->tfs, a->src);

	oc_tracker_fini(a);
	return e;
}

void
oc_atomic_abort(struct oc_tracker *a)
{
	oc_tracker_fini(a);
}

/* ---- LRU cache --------------------------------------------------------- */

struct cent {
	struct oc_bid id;
	struct oc_val blk;
	int64_t       rev;
	size_t        bytes;       /* oc_val_footprint(&blk) */
	struct cent  *prev, *next; /* LRU list, head = most recent */
	struct cent  *hnext;       /* hash chain */
};

struct oc_cache {
	struct oc_bstore      base;
	struct oc_bstore     *src;
	pthread_mutex_t       c_mtx;
	struct cent         **tab;         /* guarded by c_mtx */
	size_t                nbuck;       /* power of two; grows with len */
	size_t                maxbuck;     /* what max entries need */
	struct cent          *head, *tail; /* guarded by c_mtx */
	size_t                len, max;    /* guarded by c_mtx */
	size_t                bytes;       /* guarded by c_mtx */
	uint64_t              gen; /* guarded by c_mtx; bumped by changes */
	struct oc_cache_stats st;  /* guarded by c_mtx */
	const char           *skip; /* block type never kept; set before use */
};

/* Whether blocks like blk are kept (not of the skipped type). */
static bool
c_keeps(const struct oc_cache *c, const struct oc_val *blk)
{
	const char *t;

	return c->skip == NULL || (t = oc_block_type(blk)) == NULL ||
	    strcmp(t, c->skip) != 0;
}

static size_t
bid_hash(const struct oc_bid *id)
{
	uint64_t h;

	memcpy(&h, id->b, sizeof(h)); /* ids are random bytes */
	return (size_t) h;
}

static struct cent **
c_slot(struct oc_cache *c, const struct oc_bid *id)
{
	struct cent **p = &c->tab[bid_hash(id) & (c->nbuck - 1)];

	while (*p != NULL && !oc_bid_eq(&(*p)->id, id))
		p = &(*p)->hnext;
	return p;
}

static void
c_unlink(struct oc_cache *c, struct cent *e)
{
	if (e->prev)
		e->prev->next = e->next;
	else
		c->head = e->next;
	if (e->next)
		e->next->prev = e->prev;
	else
		c->tail = e->prev;
	e->prev = e->next = NULL;
}

static void
c_push_front(struct oc_cache *c, struct cent *e)
{
	e->prev = NULL;
	e->next = c->head;
	if (c->head)
		c->head->prev = e;
	c->head = e;
	if (c->tail == NULL)
		c->tail = e;
}

static void
c_drop(struct oc_cache *c, const struct oc_bid *id)
{
	struct cent **p = c_slot(c, id);
	struct cent  *e = *p;

	if (e == NULL)
		return;
	*p = e->hnext;
	c_unlink(c, e);
	c->bytes -= e->bytes;
	oc_val_fini(&e->blk);
	free(e);
	c->len--;
}

/*
 * Double the bucket table once entries outnumber buckets (up to what max
 * entries need): a collection's cache starts at 16 buckets, not at the
 * 16 KiB its maximum needs, since a mount keeps one per collection it
 * opened and most hold a few blocks.
 */
static void
c_grow(struct oc_cache *c)
{
	struct cent **nt;
	size_t        nb = c->nbuck * 2, i;

	if (c->len <= c->nbuck || c->nbuck >= c->maxbuck)
		return;
	nt = o_calloc(nb, sizeof(*nt));
	for (i = 0; i < c->nbuck; i++)
		while (c->tab[i] != NULL) {
			struct cent *e = c->tab[i];
			size_t       h = bid_hash(&e->id) & (nb - 1);

			c->tab[i] = e->hnext;
			e->hnext  = nt[h];
			nt[h]     = e;
		}
	free(c->tab);
	c->tab   = nt;
	c->nbuck = nb;
}

/* Put (moving blk) under c_mtx; evicts LRU entries beyond max. */
static void
c_put(struct oc_cache *c, const struct oc_bid *id, struct oc_val blk,
    int64_t rev)
{
	struct cent **p = c_slot(c, id);
	struct cent  *e = *p;

	if (e != NULL) {
		c->bytes -= e->bytes;
		oc_val_fini(&e->blk);
		e->blk = blk;
		e->rev = rev;
		c_unlink(c, e);
		c_push_front(c, e);
	} else {
		e        = o_calloc(1, sizeof(*e));
		e->id    = *id;
		e->blk   = blk;
		e->rev   = rev;
		e->hnext = NULL;
		*p       = e;
		c_push_front(c, e);
		c->len++;
		c_grow(c);
	}
	e->bytes = oc_val_footprint(&e->blk);
	c->bytes += e->bytes;
	/* beyond the entry or byte budget; the newest entry always stays */
	while ((c->len > c->max || c->bytes > OC_CACHE_MAX_BYTES) &&
	    c->tail != NULL && c->tail != c->head) {
		struct oc_bid victim = c->tail->id;

		c_drop(c, &victim);
		c->st.evictions++;
	}
}

/* The entry of id, made the most recent and counted as a hit (c_mtx
 * held); NULL on a miss. */
static struct cent *
c_hit(struct oc_cache *c, const struct oc_bid *id)
{
	struct cent *e = *c_slot(c, id);

	if (e != NULL) {
		c_unlink(c, e);
		c_push_front(c, e);
		c->st.hits++;
	}
	return e;
}

static o_err
cache_get(struct oc_bstore *s, const struct oc_bid *id, struct oc_val *out,
    bool *found)
{
	struct oc_cache *c = (struct oc_cache *) s;
	struct cent     *e;
	uint64_t         gen;
	int64_t          rev;
	o_err            err;

	pthread_mutex_lock(&c->c_mtx);
	if ((e = c_hit(c, id)) != NULL) {
		*out   = oc_val_dup(&e->blk);
		*found = true;
		pthread_mutex_unlock(&c->c_mtx);
		return O_OK;
	}
	c->st.misses++;
	gen = c->gen;
	pthread_mutex_unlock(&c->c_mtx);

	if ((err = oc_bstore_get_rev(c->src, id, out, found, &rev)) != O_OK)
		return err;
	if (*found && c_keeps(c, out)) { /* c->skip is set before use */
		pthread_mutex_lock(&c->c_mtx);
		if (c->gen == gen && *c_slot(c, id) == NULL)
			c_put(c, id, oc_val_dup(out), rev);
		pthread_mutex_unlock(&c->c_mtx);
	}
	return O_OK;
}

/* A hit points at the entry (valid until the next call on the cache). */
static o_err
cache_peek(struct oc_bstore *s, const struct oc_bid *id, struct oc_val *tmp,
    const struct oc_val **out, bool *found)
{
	struct oc_cache *c = (struct oc_cache *) s;
	struct cent     *e;
	o_err            err;

	*out = NULL;
	pthread_mutex_lock(&c->c_mtx);
	if ((e = c_hit(c, id)) != NULL) {
		*out   = &e->blk;
		*found = true;
		pthread_mutex_unlock(&c->c_mtx);
		return O_OK;
	}
	pthread_mutex_unlock(&c->c_mtx);
	/* a miss: read and cache as get does, answer from the copy */
	if ((err = cache_get(s, id, tmp, found)) == O_OK && *found)
		*out = tmp;
	return err;
}

static const struct oc_bstore_ops cache_ops = { .get = cache_get,
	.peek                                        = cache_peek };

struct oc_cache *
oc_cache_alloc(struct oc_bstore *src, size_t max_entries)
{
	struct oc_cache *c = o_calloc(1, sizeof(*c));

	c->base.ops = &cache_ops;
	c->src      = src;
	c->max      = max_entries ? max_entries : 1;
	c->nbuck    = 16;
	c->maxbuck  = 16;
	while (c->maxbuck < 2 * c->max && c->maxbuck < (1u << 20))
		c->maxbuck *= 2;
	c->tab = o_calloc(c->nbuck, sizeof(struct cent *));
	pthread_mutex_init(&c->c_mtx, NULL);
	return c;
}

void
oc_cache_skip_type(struct oc_cache *c, const char *type)
{
	c->skip = type;
}

void
oc_cache_free(struct oc_cache *c)
{
	if (c == NULL)
		return;
	oc_cache_clear_all(c);
	pthread_mutex_destroy(&c->c_mtx);
	free(c->tab);
	free(c);
}

struct oc_bstore *
oc_cache_store(struct oc_cache *c)
{
	return &c->base;
}

void
oc_cache_clear(struct oc_cache *c, const struct oc_bid *ids, size_t n)
{
	size_t i;

	pthread_mutex_lock(&c->c_mtx);
	c->gen++;
	for (i = 0; i < n; i++)
		c_drop(c, &ids[i]);
	pthread_mutex_unlock(&c->c_mtx);
}

void
oc_cache_clear_all(struct oc_cache *c)
{
	pthread_mutex_lock(&c->c_mtx);
	c->gen++;
	while (c->head != NULL) {
		struct oc_bid id = c->head->id;

		c_drop(c, &id);
	}
	if (c->nbuck > 16) { /* empty: back to the smallest table */
		free(c->tab);
		c->nbuck = 16;
		c->tab   = o_calloc(c->nbuck, sizeof(struct cent *));
	}
	pthread_mutex_unlock(&c->c_mtx);
}

void
oc_cache_apply(struct oc_cache *c, const struct oc_tfs *tfs, int64_t rev)
{
	size_t i;

	pthread_mutex_lock(&c->c_mtx);
	c->gen++;
	for (i = 0; i < tfs->n; i++) {
		const struct oc_bid *id = &tfs->e[i].id;
		const struct oc_tf  *tf = &tfs->e[i].tf;
		struct cent         *e  = *c_slot(c, id);
		struct oc_val        nb;
		bool                 present;

		if (tf->del) {
			c_drop(c, id);
			continue;
		}
		if (tf->insert == NULL && e == NULL)
			continue; /* updates only to cached blocks */
		if (tf->insert == NULL) {
			/* ops on the cached copy, in place; its footprint
			 * moved by theirs (not walked: a log block is large)
			 */
			int64_t d = 0;
			size_t  j;

			for (j = 0; j < tf->nops; j++)
				if (oc_op_apply_sized(
				        &e->blk, &tf->ops[j], &d) != O_OK)
					break;
			if (j < tf->nops) {
				c_drop(c, id);
				continue;
			}
			c->bytes -= e->bytes;
			e->bytes = (size_t) ((int64_t) e->bytes + d);
			c->bytes += e->bytes;
			e->rev = rev;
			c_unlink(c, e);
			c_push_front(c, e);
			continue;
		}
		if (!c_keeps(c, tf->insert) ||
		    oc_tf_apply(NULL, tf, &nb, &present) != O_OK || !present) {
			c_drop(c, id);
			continue;
		}
		c_put(c, id, nb, rev);
	}
	pthread_mutex_unlock(&c->c_mtx);
}

size_t
oc_cache_len(struct oc_cache *c)
{
	size_t n;

	pthread_mutex_lock(&c->c_mtx);
	n = c->len;
	pthread_mutex_unlock(&c->c_mtx);
	return n;
}

size_t
oc_cache_bytes(struct oc_cache *c)
{
	size_t n;

	pthread_mutex_lock(&c->c_mtx);
	n = c->bytes;
	pthread_mutex_unlock(&c->c_mtx);
	return n;
}

int64_t
oc_cache_rev(struct oc_cache *c, const struct oc_bid *id)
{
	struct cent *e;
	int64_t      r;

	pthread_mutex_lock(&c->c_mtx);
	e = *c_slot(c, id);
	r = e ? e->rev : -1;
	pthread_mutex_unlock(&c->c_mtx);
	return r;
}

void
oc_cache_get_stats(struct oc_cache *c, struct oc_cache_stats *st)
{
	pthread_mutex_lock(&c->c_mtx);
	*st = c->st;
	pthread_mutex_unlock(&c->c_mtx);
}

/* ---- in-memory store --------------------------------------------------- */

struct oc_memstore {
	struct oc_bstore base;
	struct oc_tfs    blocks; /* each entry: tf.insert = the block */
};

static o_err
mem_get(struct oc_bstore *s, const struct oc_bid *id, struct oc_val *out,
    bool *found)
{
	struct oc_memstore *m  = (struct oc_memstore *) s;
	struct oc_tf       *tf = oc_tfs_get(&m->blocks, id);

	*found = tf != NULL && tf->insert != NULL;
	*out   = *found ? oc_val_dup(tf->insert) : oc_null();
	return O_OK;
}

static o_err
mem_insert(struct oc_bstore *s, struct oc_val blk)
{
	struct oc_memstore *m = (struct oc_memstore *) s;
	struct oc_bid       id;

	if (!oc_block_id(&blk, &id)) {
		oc_val_fini(&blk);
		return o_err_set(O_EINVAL, "insert of a block without id");
	}
	oc_tfs_insert(&m->blocks, blk);
	return O_OK;
}

static o_err
mem_update(struct oc_bstore *s, const struct oc_bid *id, struct oc_op op)
{
	struct oc_memstore *m  = (struct oc_memstore *) s;
	struct oc_tf       *tf = oc_tfs_get(&m->blocks, id);
	o_err               e;
	char                str[OC_BID_STRLEN];

	if (tf == NULL || tf->insert == NULL) {
		oc_op_fini(&op);
		return o_err_set(O_ENOBASE, "update of missing block %s",
		    oc_bid_str(id, str));
	}
	e = oc_op_apply(tf->insert, &op);
	oc_op_fini(&op);
	return e;
}

static o_err
mem_del(struct oc_bstore *s, const struct oc_bid *id)
{
	oc_tfs_remove(&((struct oc_memstore *) s)->blocks, id);
	return O_OK;
}

static o_err
mem_peek(struct oc_bstore *s, const struct oc_bid *id, struct oc_val *tmp,
    const struct oc_val **out, bool *found)
{
	struct oc_memstore *m  = (struct oc_memstore *) s;
	struct oc_tf       *tf = oc_tfs_get(&m->blocks, id);

	(void) tmp;
	*found = tf != NULL && tf->insert != NULL;
	*out   = *found ? tf->insert : NULL;
	return O_OK;
}

static const struct oc_bstore_ops mem_ops = {
	.get    = mem_get,
	.insert = mem_insert,
	.update = mem_update,
	.del    = mem_del,
	.peek   = mem_peek,
};

struct oc_memstore *
oc_memstore_alloc(void)
{
	struct oc_memstore *m = o_calloc(1, sizeof(*m));

	m->base.ops = &mem_ops;
	oc_tfs_init(&m->blocks);
	return m;
}

void
oc_memstore_free(struct oc_memstore *m)
{
	if (m == NULL)
		return;
	oc_tfs_fini(&m->blocks);
	free(m);
}

struct oc_bstore *
oc_memstore_store(struct oc_memstore *m)
{
	return &m->base;
}

size_t
oc_memstore_len(struct oc_memstore *m)
{
	return m->blocks.n;
}

/* ---- borrowed reads ---------------------------------------------------- */

o_err
oc_bstore_peek(struct oc_bstore *s, const struct oc_bid *id,
    struct oc_val *tmp, const struct oc_val **out, bool *found)
{
	o_err e;

	*out = NULL;
	if (s->ops->peek != NULL)
		return s->ops->peek(s, id, tmp, out, found);
	e = oc_bstore_get(s, id, tmp, found);
	if (e == O_OK && *found)
		*out = tmp;
	return e;
}

o_err
oc_bstore_peek_need(struct oc_bstore *s, const struct oc_bid *id,
    struct oc_val *tmp, const struct oc_val **out)
{
	bool  found = false;
	char  str[OC_BID_STRLEN];
	o_err e;

	oc_val_fini(tmp);
	*tmp = oc_null();
	if ((e = oc_bstore_peek(s, id, tmp, out, &found)) != O_OK)
		return e;
	if (!found)
		return o_err_set(
		    O_ENOTFOUND, "missing block %s", oc_bid_str(id, str));
	return O_OK;
}
