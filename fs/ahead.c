/*
 * ahead.c - read-ahead of log blocks (see ahead.h).
 *
 * Design notes.  One thread per mount and one request slot: a reader's
 * newer position replaces an older one (a sequential reader asks after
 * every read).  The thread walks the chain by the blocks' next links
 * from the requested block; it remembers the (block, next) pairs of its
 * previous walk so that a request a block or two further on does not
 * read again what it has just read, and stops a walk early when a new
 * request arrives.  Gets carry no context: nothing is promoted, and the
 * latest committed block is what lands in the store's cache, the same a
 * reader at the latest revision asks for.
 *
 * Lock: a_mtx guards the request slot, stop and the remembered pairs'
 * hand-over; it is never held across a get.
 */
#include "fs/ahead.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <string.h>

#include "core/o_util.h"

struct ahead_pair {
	struct oc_bid id, next;
};

struct ofs_ahead {
	struct oc_transactor *tx;
	pthread_t             thr;
	pthread_mutex_t       a_mtx;
	pthread_cond_t        a_cv;
	bool                  stop; /* guarded by a_mtx */
	bool                  want; /* guarded by a_mtx */
	struct oc_bid         from; /* guarded by a_mtx */
	/* the last walk's links; thread only */
	struct ahead_pair seen[OFS_AHEAD_BLOCKS + 1];
	size_t            nseen;
	atomic_uint_fast64_t loaded;
};

static bool
pending(struct ofs_ahead *a)
{
	bool w;

	pthread_mutex_lock(&a->a_mtx);
	w = a->want || a->stop;
	pthread_mutex_unlock(&a->a_mtx);
	return w;
}

/* The next link of id: remembered, or read (and so cached by the store).
 * false: no next block, or it could not be read. */
static bool
next_of(struct ofs_ahead *a, const struct oc_bid *id, struct oc_bid *next)
{
	struct oc_get_res r;
	bool              ok;
	size_t            i;

	for (i = 0; i < a->nseen; i++)
		if (oc_bid_eq(&a->seen[i].id, id)) {
			*next = a->seen[i].next;
			return true;
		}
	oc_get_res_init(&r);
	ok = a->tx->ops->get(a->tx, id, 1, NULL, &r) == O_OK &&
	    r.state == OC_GET_BLOCK && oc_map_bid(&r.block, "next", next);
	oc_get_res_fini(&r);
	atomic_fetch_add_explicit(&a->loaded, 1, memory_order_relaxed);
	return ok;
}

static void
walk(struct ofs_ahead *a, struct oc_bid id)
{
	struct ahead_pair now[OFS_AHEAD_BLOCKS + 1];
	size_t            n = 0;

	/* the reader's own block (cached: it just read it), then the ones
	 * after it */
	while (n <= OFS_AHEAD_BLOCKS && !pending(a)) {
		struct oc_bid nx;

		if (!next_of(a, &id, &nx))
			break;
		now[n].id   = id;
		now[n].next = nx;
		n++;
		id = nx;
	}
	memcpy(a->seen, now, n * sizeof(now[0]));
	a->nseen = n;
}

static void *
ahead_main(void *arg)
{
	struct ofs_ahead *a = arg;

	(void) pthread_setname_np(pthread_self(), "ofs-ahead");
	pthread_mutex_lock(&a->a_mtx);
	for (;;) {
		struct oc_bid from;

		while (!a->stop && !a->want)
			pthread_cond_wait(&a->a_cv, &a->a_mtx);
		if (a->stop)
			break;
		from    = a->from;
		a->want = false;
		pthread_mutex_unlock(&a->a_mtx);
		walk(a, from);
		pthread_mutex_lock(&a->a_mtx);
	}
	pthread_mutex_unlock(&a->a_mtx);
	return NULL;
}

o_err
ofs_ahead_start(struct oc_transactor *tx, struct ofs_ahead **out)
{
	struct ofs_ahead *a = o_calloc(1, sizeof(*a));
	int               rc;

	*out  = NULL;
	a->tx = tx;
	pthread_mutex_init(&a->a_mtx, NULL);
	pthread_cond_init(&a->a_cv, NULL);
	if ((rc = pthread_create(&a->thr, NULL, ahead_main, a)) != 0) {
		pthread_cond_destroy(&a->a_cv);
		pthread_mutex_destroy(&a->a_mtx);
		free(a);
		return o_err_set(O_ENOMEM, "start the read-ahead thread: %s",
		    strerror(rc));
	}
	*out = a;
	return O_OK;
}

void
ofs_ahead_want(struct ofs_ahead *a, const struct oc_bid *blk)
{
	if (a == NULL)
		return;
	pthread_mutex_lock(&a->a_mtx);
	a->from = *blk;
	a->want = true;
	pthread_cond_signal(&a->a_cv);
	pthread_mutex_unlock(&a->a_mtx);
}

void
ofs_ahead_stop(struct ofs_ahead *a)
{
	if (a == NULL)
		return;
	pthread_mutex_lock(&a->a_mtx);
	a->stop = true;
	pthread_cond_signal(&a->a_cv);
	pthread_mutex_unlock(&a->a_mtx);
	pthread_join(a->thr, NULL);
	pthread_cond_destroy(&a->a_cv);
	pthread_mutex_destroy(&a->a_mtx);
	free(a);
}

uint64_t
ofs_ahead_loaded(struct ofs_ahead *a)
{
	return a == NULL ? 0 :
	                   atomic_load_explicit(&a->loaded, memory_order_relaxed);
}
