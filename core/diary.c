/*
 * diary.c - the Diary collection type.
 */
#include "core/diary.h"

#include <string.h>

#include "core/codec.h"
#include "core/o_util.h"

static o_err
diary_apply(struct oc_bstore *s, const struct oc_bid *col,
    const struct oc_val *a)
{
	const char *t = oc_map_text(a, "t");

	(void) s;
	(void) col;
	if (t == NULL || strcmp(t, "append") != 0)
		return o_err_set(O_EINVAL, "diary: unknown action type %s",
		    t ? t : "(none)");
	if (oc_map_bytes(a, "d") == NULL &&
	    (oc_map_get(a, "c") == NULL || !oc_is_chunk_ref(oc_map_get(a, "c"))))
		return o_err_set(O_EINVAL, "diary: append without data");
	return O_OK; /* the log entry itself is the diary */
}

static size_t
diary_weight(const struct oc_val *a)
{
	const struct oc_val *d = oc_map_bytes(a, "d");

	return d ? d->u.s.n + 16 : 64;
}

const struct oc_coll_type oc_diary_type = {
	.header_type = OC_BT_DIARY,
	.init        = NULL,
	.apply       = diary_apply,
	.filter      = NULL, /* appends never conflict at the data level */
	.weight      = diary_weight,
};

o_err
oc_diary_open(struct oc_transactor *tx, const struct oc_bid *id, bool create,
    const struct oc_sync_opts *opts, struct oc_collection **out)
{
	return oc_coll_open(tx, id, &oc_diary_type, create, opts, out);
}

static struct oc_val
append_action(struct oc_collection *c, const void *data, size_t n)
{
	struct oc_val a = oc_map();

	oc_map_set(&a, "t", oc_text("append"));
	if (n <= OC_INLINE_MAX)
		oc_map_set(&a, "d", oc_bytes(data, n));
	else
		oc_map_set(&a, "c", oc_coll_chunk(c, data, n));
	return a;
}

o_err
oc_diary_append(struct oc_collection *c, const void *data, size_t n)
{
	struct oc_val a = append_action(c, data, n);

	return oc_coll_act(c, &a, 1);
}

static o_err
append_many(
    struct oc_collection *c, const struct iovec *v, size_t n, bool lazy)
{
	struct oc_val *a;
	size_t         i;
	o_err          e;

	if (n == 0)
		return O_OK;
	a = o_malloc(n * sizeof(*a));
	for (i = 0; i < n; i++)
		a[i] = append_action(c, v[i].iov_base, v[i].iov_len);
	e = lazy ? oc_coll_act_lazy(c, a, n) : oc_coll_act(c, a, n);
	free(a);
	return e;
}

o_err
oc_diary_append_many(struct oc_collection *c, const struct iovec *v, size_t n)
{
	return append_many(c, v, n, false);
}

o_err
oc_diary_append_lazy(struct oc_collection *c, const struct iovec *v, size_t n)
{
	return append_many(c, v, n, true);
}

struct scan {
	struct oc_bid col;
	int64_t      after;
	bool         forward;
	oc_diary_cb  cb;
	void        *arg;
	struct o_buf buf;
};

static o_err
scan_entry(struct oc_bstore *s, struct scan *sc, const struct oc_val *ent,
    bool *stop)
{
	struct oc_val        dacts, *acts = &dacts;
	int64_t              rev = oc_log_entry_rev(ent);
	size_t               i, n;
	o_err                e;

	if ((e = oc_log_entry_acts(ent, &dacts)) != O_OK)
		return e;
	n = dacts.u.a.n;

	e = O_OK;
	for (i = 0; i < n && !*stop; i++) {
		const struct oc_val *a = &acts->u.a.v[sc->forward ? i : n - 1 - i];
		const struct oc_val *d = oc_map_bytes(a, "d");
		const struct oc_val *r = oc_map_get(a, "c");

		if (d != NULL) {
			*stop = sc->cb(sc->arg, rev, d->u.s.p, d->u.s.n) != 0;
			continue;
		}
		if (r == NULL)
			continue;
		o_buf_reset(&sc->buf);
		if ((e = oc_chunks_read(s, r, &sc->buf)) != O_OK)
			break;
		*stop = sc->cb(sc->arg, rev, sc->buf.data, sc->buf.len) != 0;
	}
	oc_val_fini(&dacts);
	return e;
}

static o_err
scan_fn(struct oc_bstore *s, void *arg)
{
	struct scan         *sc = arg;
	struct oc_log        log;
	struct oc_chain_iter it;
	const struct oc_val *ent;
	bool                 done, stop = false;
	o_err                e;

	if ((e = oc_log_open(&log, s, &sc->col)) != O_OK)
		return e;
	if ((e = oc_chain_iter_init(&it, &log.ch, NULL, sc->forward)) != O_OK)
		return e;
	while (!stop) {
		int64_t rev;

		if ((e = oc_chain_iter_next(&it, &ent, NULL, &done)) != O_OK ||
		    done)
			break;
		rev = oc_log_entry_rev(ent);
		if (rev <= sc->after) {
			if (!sc->forward)
				break;
			continue;
		}
		if ((e = scan_entry(s, sc, ent, &stop)) != O_OK)
			break;
	}
	oc_chain_iter_fini(&it);
	return e;
}

o_err
oc_diary_scan(struct oc_collection *c, int64_t after_rev, bool forward,
    oc_diary_cb cb, void *arg)
{
	struct scan sc;
	o_err       e;

	memset(&sc, 0, sizeof(sc));
	sc.col     = *oc_coll_id(c);
	sc.after   = after_rev;
	sc.forward = forward;
	sc.cb      = cb;
	sc.arg     = arg;
	e          = oc_coll_read(c, scan_fn, &sc);
	o_buf_fini(&sc.buf);
	return e;
}

/* ---- walking an entry's appends in place ---------------------------------
 */

/* Nesting the walker follows when skipping an item (as oc_decode). */
#define WALK_DEPTH 32

/* One CBOR head at *p (advanced past it): major type and argument.
 * Indefinite lengths and reserved additional information are refused. */
static bool
cb_head(const uint8_t **p, const uint8_t *end, uint8_t *mt, uint64_t *arg)
{
	uint8_t ib, ai;
	size_t  k, i;

	if (*p >= end)
		return false;
	ib  = *(*p)++;
	*mt = ib >> 5;
	ai  = ib & 31;
	if (ai < 24) {
		*arg = ai;
		return true;
	}
	if (ai > 27)
		return false;
	k = (size_t) 1 << (ai - 24);
	if ((size_t) (end - *p) < k)
		return false;
	for (*arg = 0, i = 0; i < k; i++)
		*arg = (*arg << 8) | (*p)[i];
	*p += k;
	return true;
}

/* Skip one item (what oc_decode accepts: no tags, floats or undefined). */
static bool
cb_skip(const uint8_t **p, const uint8_t *end, int depth)
{
	uint8_t  mt;
	uint64_t arg, n, i;

	if (depth > WALK_DEPTH || !cb_head(p, end, &mt, &arg))
		return false;
	switch (mt) {
	case 0:
	case 1:
		return true;
	case 2:
	case 3:
		if (arg > (uint64_t) (end - *p))
			return false;
		*p += arg;
		return true;
	case 4:
	case 5:
		/* every item takes at least one byte */
		if (arg > (uint64_t) (end - *p) ||
		    (mt == 5 && 2 * arg > (uint64_t) (end - *p)))
			return false;
		n = mt == 5 ? 2 * arg : arg;
		for (i = 0; i < n; i++)
			if (!cb_skip(p, end, depth + 1))
				return false;
		return true;
	case 7:
		return arg >= 20 && arg <= 22; /* false, true, null */
	default:
		return false; /* tags */
	}
}

static o_err
walk_bad(const struct oc_diary_walk *w, const char *why)
{
	return o_err_set(O_ECORRUPT, "log entry rev %lld: appends: %s",
	    (long long) w->rev, why);
}

o_err
oc_diary_walk_init(struct oc_diary_walk *w, const struct oc_val *ent)
{
	const struct oc_val *a = oc_log_entry_act(ent);
	const struct oc_val *b = a ? oc_map_bytes(a, "acts") : NULL;
	uint8_t              mt;
	uint64_t             n;

	memset(w, 0, sizeof(*w));
	w->rev = oc_log_entry_rev(ent);
	w->ref = oc_null();
	if (a == NULL)
		return O_OK; /* an entry without action: no appends */
	if (b == NULL)
		return walk_bad(w, "acts missing");
	w->p   = b->u.s.p;
	w->end = b->u.s.p + b->u.s.n;
	if (!cb_head(&w->p, w->end, &mt, &n) || mt != 4 ||
	    n > (uint64_t) (w->end - w->p))
		return walk_bad(w, "not an array");
	w->left = n;
	return O_OK;
}

/* The chunk reference [start, end), decoded into w->ref. */
static o_err
walk_ref(struct oc_diary_walk *w, const uint8_t *start, const uint8_t *end,
    uint64_t *len)
{
	int64_t n;

	oc_val_fini(&w->ref);
	if (oc_decode(start, (size_t) (end - start), &w->ref) != O_OK ||
	    !oc_is_chunk_ref(&w->ref) ||
	    (n = oc_map_int(&w->ref, "len", -1)) < 0)
		return walk_bad(w, "malformed chunk reference");
	*len = (uint64_t) n;
	return O_OK;
}

o_err
oc_diary_walk_next(struct oc_diary_walk *w, struct oc_diary_item *it,
    bool *done)
{
	while (w->left > 0) {
		const uint8_t *d = NULL, *c = NULL, *ce = NULL;
		uint64_t       npairs, dn = 0, i;
		uint8_t        mt;

		w->left--;
		if (!cb_head(&w->p, w->end, &mt, &npairs) || mt != 5 ||
		    npairs > (uint64_t) (w->end - w->p))
			return walk_bad(w, "an action is not a map");
		for (i = 0; i < npairs; i++) {
			const uint8_t *key, *val;
			uint64_t       kn;

			if (!cb_head(&w->p, w->end, &mt, &kn) || mt != 3 ||
			    kn > (uint64_t) (w->end - w->p))
				return walk_bad(w, "a key is not text");
			key = w->p;
			w->p += kn;
			val = w->p;
			if (kn == 1 && key[0] == 'd') {
				if (!cb_head(&w->p, w->end, &mt, &dn) ||
				    mt != 2 || dn > (uint64_t) (w->end - w->p))
					return walk_bad(w, "\"d\" is not bytes");
				d = w->p;
				w->p += dn;
				continue;
			}
			if (!cb_skip(&w->p, w->end, 2))
				return walk_bad(w, "malformed value");
			if (kn == 1 && key[0] == 'c') {
				c  = val;
				ce = w->p;
			}
		}
		if (d != NULL) {
			it->data = d;
			it->len  = dn;
			it->ref  = NULL;
			*done    = false;
			return O_OK;
		}
		if (c != NULL) {
			o_err e = walk_ref(w, c, ce, &it->len);

			if (e != O_OK)
				return e;
			it->data = NULL;
			it->ref  = &w->ref;
			*done    = false;
			return O_OK;
		}
	}
	if (w->p != w->end)
		return walk_bad(w, "trailing bytes");
	*done = true;
	return O_OK;
}

void
oc_diary_walk_fini(struct oc_diary_walk *w)
{
	oc_val_fini(&w->ref);
}

o_err
oc_diary_entry_size(const struct oc_val *ent, uint64_t *bytes, uint64_t *n)
{
	struct oc_diary_walk w;
	struct oc_diary_item it;
	bool                 done = false;
	o_err                e;

	*bytes = *n = 0;
	if ((e = oc_diary_walk_init(&w, ent)) != O_OK)
		goto out;
	while ((e = oc_diary_walk_next(&w, &it, &done)) == O_OK && !done) {
		*bytes += it.len;
		(*n)++;
	}
out:
	oc_diary_walk_fini(&w);
	return e;
}
