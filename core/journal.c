/*
 * journal.c - the part of core/journal.h common to every journal: the lazy
 * records held in memory until they are flushed, written before another
 * record, or dropped because their actions committed.
 *
 * The buffer keeps records in the order they were put, which for one
 * collection is act order (oc_coll puts under its latch).  A write of
 * held records happens under the buffer's lock, so a drop that does not
 * find a record held knows it is in the store (or was never put): the
 * store sees every put before its drop.
 */
#include "core/journal.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

struct oc_jlazy {
	pthread_mutex_t        mtx;
	struct oc_journal_rec *v; /* held, in put order */
	size_t                 n, cap;
};

void
oc_journal_init(struct oc_journal *j, const struct oc_journal_ops *ops)
{
	j->ops = ops;
	atomic_init(&j->next_seq, 1);
	j->lazy = o_calloc(1, sizeof(*j->lazy));
	pthread_mutex_init(&j->lazy->mtx, NULL);
}

/* Write the held records, then r (NULL: none), in one write (put_many;
 * else one by one); the held records written are freed.  lazy->mtx
 * held. */
static o_err
write_held(struct oc_journal *j, const struct oc_journal_rec *r)
{
	struct oc_jlazy              *l = j->lazy;
	const struct oc_journal_rec **all;
	size_t                        n = l->n + (r != NULL), i, k;
	o_err                         e = O_OK;

	if (n == 0)
		return O_OK;
	all = o_malloc(n * sizeof(*all));
	for (i = 0; i < l->n; i++)
		all[i] = &l->v[i];
	if (r != NULL)
		all[l->n] = r;
	if (j->ops->put_many != NULL) {
		e = j->ops->put_many(j, all, n);
		i = e == O_OK ? n : 0;
	} else {
		for (i = 0; i < n && (e = j->ops->put(j, all[i])) == O_OK; i++)
			;
	}
	free(all);
	/* the held records written (all, or those put before a failure)
	 * are held no longer: a drop that finds one held knows it is not
	 * stored */
	i = O_MIN(i, l->n);
	for (k = 0; k < i; k++)
		oc_journal_rec_fini(&l->v[k]);
	if (i > 0 && i < l->n)
		memmove(l->v, l->v + i, (l->n - i) * sizeof(*l->v));
	l->n -= i;
	if (e != O_OK)
		return e;
	if (l->cap > 64) { /* a burst's buffer is not kept */
		free(l->v);
		l->v   = NULL;
		l->cap = 0;
	}
	return O_OK;
}

o_err
oc_journal_put(struct oc_journal *j, struct oc_journal_rec *r, bool lazy)
{
	struct oc_jlazy *l = j->lazy;
	o_err            e;

	if (l == NULL)
		return j->ops->put(j, r);
	pthread_mutex_lock(&l->mtx);
	if (lazy && (r->blocks.type != OC_ARRAY || r->blocks.u.a.n == 0)) {
		struct oc_journal_rec *h;

		if (l->n == l->cap) {
			l->cap = l->cap ? 2 * l->cap : 16;
			l->v   = o_realloc(l->v, l->cap * sizeof(*l->v));
		}
		h         = &l->v[l->n++];
		*h        = *r;
		h->acts   = oc_val_take(&r->acts);
		h->blocks = oc_array();
		pthread_mutex_unlock(&l->mtx);
		return O_OK;
	}
	if (l->n == 0) {
		/* nothing held can precede r: its collection's earlier
		 * records were put before r, under that collection's latch */
		pthread_mutex_unlock(&l->mtx);
		return j->ops->put(j, r);
	}
	e = write_held(j, r);
	pthread_mutex_unlock(&l->mtx);
	return e;
}

struct dkey {
	uint64_t s, f;
	size_t   i;
};

static int
dkey_cmp(const void *a, const void *b)
{
	const struct dkey *x = a, *y = b;

	if (x->s != y->s)
		return x->s < y->s ? -1 : 1;
	return x->f < y->f ? -1 : x->f > y->f;
}

o_err
oc_journal_drop(struct oc_journal *j, const struct oc_bid *col,
    const uint64_t (*keys)[2], size_t                      n)
{
	struct oc_jlazy *l = j->lazy;
	struct dkey     *dk;
	bool            *held;
	uint64_t(*rest)[2];
	size_t i, k, nr = 0;
	o_err  e = O_OK;

	if (n == 0)
		return O_OK;
	if (l == NULL)
		return j->ops->drop(j, col, keys, n);
	pthread_mutex_lock(&l->mtx);
	if (l->n == 0) {
		pthread_mutex_unlock(&l->mtx);
		return j->ops->drop(j, col, keys, n);
	}
	dk   = o_malloc(n * sizeof(*dk));
	held = o_calloc(n, sizeof(*held));
	for (i = 0; i < n; i++)
		dk[i] = (struct dkey) { keys[i][0], keys[i][1], i };
	qsort(dk, n, sizeof(*dk), dkey_cmp);
	for (i = k = 0; i < l->n; i++) {
		struct oc_journal_rec *r = &l->v[i];
		struct dkey            q = { r->session, r->first, 0 }, *hit;

		hit = oc_bid_eq(&r->col, col)
		    ? bsearch(&q, dk, n, sizeof(*dk), dkey_cmp)
		    : NULL;
		if (hit != NULL) {
			held[hit->i] = true;
			oc_journal_rec_fini(r);
		} else {
			l->v[k++] = *r;
		}
	}
	l->n = k;
	pthread_mutex_unlock(&l->mtx);
	rest = o_malloc(n * sizeof(*rest));
	for (i = 0; i < n; i++)
		if (!held[i]) {
			rest[nr][0] = keys[i][0];
			rest[nr][1] = keys[i][1];
			nr++;
		}
	if (nr > 0)
		e = j->ops->drop(j, col, (const uint64_t(*)[2]) rest, nr);
	free(rest);
	free(held);
	free(dk);
	return e;
}

o_err
oc_journal_flush(struct oc_journal *j)
{
	o_err e;

	if (j->lazy == NULL)
		return O_OK;
	pthread_mutex_lock(&j->lazy->mtx);
	e = write_held(j, NULL);
	pthread_mutex_unlock(&j->lazy->mtx);
	return e;
}

size_t
oc_journal_held(struct oc_journal *j)
{
	size_t n;

	if (j->lazy == NULL)
		return 0;
	pthread_mutex_lock(&j->lazy->mtx);
	n = j->lazy->n;
	pthread_mutex_unlock(&j->lazy->mtx);
	return n;
}

void
oc_journal_fini(struct oc_journal *j)
{
	struct oc_jlazy *l = j->lazy;
	size_t           i;

	if (l == NULL)
		return;
	if (oc_journal_flush(j) != O_OK)
		o_log(O_LOG_WARN,
		    "journal: %zu records of queued actions never "
		    "acknowledged "
		    "could not be kept for the next start: %s",
		    l->n, o_err_detail());
	for (i = 0; i < l->n; i++)
		oc_journal_rec_fini(&l->v[i]);
	free(l->v);
	pthread_mutex_destroy(&l->mtx);
	free(l);
	j->lazy = NULL;
}
