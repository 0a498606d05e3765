/*
 * diary.c - the Diary collection type.
 */
#include "core/diary.h"

#include <string.h>

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

o_err
oc_diary_append(struct oc_collection *c, const void *data, size_t n)
{
	struct oc_val a = oc_map();

	oc_map_set(&a, "t", oc_text("append"));
	if (n <= OC_INLINE_MAX)
		oc_map_set(&a, "d", oc_bytes(data, n));
	else
		oc_map_set(&a, "c", oc_coll_chunk(c, data, n));
	return oc_coll_act(c, &a, 1);
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
