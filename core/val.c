/*
 * val.c - dynamic values: construction, copy, equality, arrays and maps.
 *
 * Design notes: maps are sorted arrays of (text key, value) in deterministic
 * CBOR key order, so lookup is a binary search and encoding is a straight
 * walk.  Blocks have a handful of fields, so insertion by memmove is cheap.
 */
#include "core/val.h"

#include <assert.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "core/o_util.h"

struct oc_val
oc_null(void)
{
	struct oc_val v;

	memset(&v, 0, sizeof(v));
	v.type = OC_NULL;
	return v;
}

struct oc_val
oc_bool(bool b)
{
	struct oc_val v = oc_null();

	v.type  = OC_BOOL;
	v.u.b   = b;
	return v;
}

struct oc_val
oc_int(int64_t i)
{
	struct oc_val v = oc_null();

	v.type = OC_INT;
	v.u.i  = i;
	return v;
}

/*
 * Byte and text contents live in reference-counted buffers: copying a
 * value shares them (copies of log blocks and chunks are frequent and
 * large), so contents are immutable once built.
 */
struct sbuf {
	uint32_t ref; /* atomic */
	uint32_t pad;
	uint8_t  data[];
};

static struct sbuf *
sbuf_of(uint8_t *p)
{
	return (struct sbuf *) (p - offsetof(struct sbuf, data));
}

static uint8_t *
sbuf_new(const void *p, size_t n)
{
	struct sbuf *b = o_malloc(sizeof(*b) + n + 1);

	b->ref = 1;
	if (n)
		memcpy(b->data, p, n);
	b->data[n] = '\0';
	return b->data;
}

static void
sbuf_rele(uint8_t *p)
{
	struct sbuf *b = sbuf_of(p);

	if (__atomic_sub_fetch(&b->ref, 1, __ATOMIC_ACQ_REL) == 0)
		free(b);
}

struct oc_val
oc_bytes(const void *p, size_t n)
{
	struct oc_val v = oc_null();

	v.type  = OC_BYTES;
	v.u.s.p = sbuf_new(p, n);
	v.u.s.n = n;
	return v;
}

struct oc_val
oc_textn(const char *s, size_t n)
{
	struct oc_val v = oc_null();

	v.type  = OC_TEXT;
	v.u.s.p = sbuf_new(s, n);
	v.u.s.n = n;
	return v;
}

struct oc_val
oc_text(const char *s)
{
	return oc_textn(s, strlen(s));
}

struct oc_val
oc_array(void)
{
	struct oc_val v = oc_null();

	v.type = OC_ARRAY;
	return v;
}

struct oc_val
oc_map(void)
{
	struct oc_val v = oc_null();

	v.type = OC_MAP;
	return v;
}

void
oc_val_fini(struct oc_val *v)
{
	size_t i;

	switch (v->type) {
	case OC_BYTES:
	case OC_TEXT:
		sbuf_rele(v->u.s.p);
		break;
	case OC_ARRAY:
		for (i = 0; i < v->u.a.n; i++)
			oc_val_fini(&v->u.a.v[i]);
		free(v->u.a.v);
		break;
	case OC_MAP:
		for (i = 0; i < v->u.m.n; i++) {
			oc_val_fini(&v->u.m.kv[i].key);
			oc_val_fini(&v->u.m.kv[i].val);
		}
		free(v->u.m.kv);
		break;
	default:
		break;
	}
	*v = oc_null();
}

struct oc_val
oc_val_take(struct oc_val *v)
{
	struct oc_val r = *v;

	*v = oc_null();
	return r;
}

struct oc_val
oc_val_dup(const struct oc_val *v)
{
	struct oc_val r;
	size_t        i;

	switch (v->type) {
	case OC_BYTES:
	case OC_TEXT:
		__atomic_fetch_add(&sbuf_of(v->u.s.p)->ref, 1, __ATOMIC_RELAXED);
		return *v;
	case OC_ARRAY:
		r          = oc_array();
		r.u.a.cap  = v->u.a.n;
		r.u.a.n    = v->u.a.n;
		r.u.a.v    = o_malloc(sizeof(struct oc_val) * (v->u.a.n + 1));
		for (i = 0; i < v->u.a.n; i++)
			r.u.a.v[i] = oc_val_dup(&v->u.a.v[i]);
		return r;
	case OC_MAP:
		r          = oc_map();
		r.u.m.cap  = v->u.m.n;
		r.u.m.n    = v->u.m.n;
		r.u.m.kv   = o_malloc(sizeof(struct oc_kv) * (v->u.m.n + 1));
		for (i = 0; i < v->u.m.n; i++) {
			r.u.m.kv[i].key = oc_val_dup(&v->u.m.kv[i].key);
			r.u.m.kv[i].val = oc_val_dup(&v->u.m.kv[i].val);
		}
		return r;
	default:
		return *v;
	}
}

bool
oc_val_eq(const struct oc_val *a, const struct oc_val *b)
{
	size_t i;

	if (a->type != b->type)
		return false;
	switch (a->type) {
	case OC_NULL:
		return true;
	case OC_BOOL:
		return a->u.b == b->u.b;
	case OC_INT:
		return a->u.i == b->u.i;
	case OC_BYTES:
	case OC_TEXT:
		return a->u.s.n == b->u.s.n &&
		    (a->u.s.n == 0 || memcmp(a->u.s.p, b->u.s.p, a->u.s.n) == 0);
	case OC_ARRAY:
		if (a->u.a.n != b->u.a.n)
			return false;
		for (i = 0; i < a->u.a.n; i++)
			if (!oc_val_eq(&a->u.a.v[i], &b->u.a.v[i]))
				return false;
		return true;
	case OC_MAP:
		if (a->u.m.n != b->u.m.n)
			return false;
		for (i = 0; i < a->u.m.n; i++) {
			if (!oc_val_eq(&a->u.m.kv[i].key, &b->u.m.kv[i].key) ||
			    !oc_val_eq(&a->u.m.kv[i].val, &b->u.m.kv[i].val))
				return false;
		}
		return true;
	}
	return false;
}

static void
oc_arr_grow(struct oc_val *a, size_t need)
{
	size_t ncap;

	if (need <= a->u.a.cap)
		return;
	ncap = a->u.a.cap ? a->u.a.cap * 2 : 4;
	while (ncap < need)
		ncap *= 2;
	a->u.a.v   = o_realloc(a->u.a.v, ncap * sizeof(struct oc_val));
	a->u.a.cap = ncap;
}

void
oc_arr_shrink(struct oc_val *a, size_t cap)
{
	assert(a->type == OC_ARRAY);
	if (cap >= a->u.a.cap || cap < a->u.a.n)
		return;
	if (cap == 0) {
		free(a->u.a.v);
		a->u.a.v = NULL;
	} else
		a->u.a.v = o_realloc(a->u.a.v, cap * sizeof(struct oc_val));
	a->u.a.cap = cap;
}

void
oc_arr_push(struct oc_val *a, struct oc_val v)
{
	assert(a->type == OC_ARRAY);
	oc_arr_grow(a, a->u.a.n + 1);
	a->u.a.v[a->u.a.n++] = v;
}

struct oc_val *
oc_arr_at(const struct oc_val *a, size_t i)
{
	assert(a->type == OC_ARRAY && i < a->u.a.n);
	return &a->u.a.v[i];
}

size_t
oc_arr_len(const struct oc_val *a)
{
	return a->type == OC_ARRAY ? a->u.a.n : 0;
}

bool
oc_arr_splice(struct oc_val *a, size_t idx, size_t del, struct oc_val *ins,
    size_t n)
{
	size_t i, tail;

	assert(a->type == OC_ARRAY);
	if (idx > a->u.a.n || del > a->u.a.n - idx)
		return false;
	for (i = 0; i < del; i++)
		oc_val_fini(&a->u.a.v[idx + i]);
	tail = a->u.a.n - idx - del;
	oc_arr_grow(a, a->u.a.n - del + n);
	/* a fresh empty array has no storage: no pointer arithmetic on NULL */
	if (tail > 0 && n != del)
		memmove(&a->u.a.v[idx + n], &a->u.a.v[idx + del],
		    tail * sizeof(struct oc_val));
	for (i = 0; i < n; i++) {
		a->u.a.v[idx + i] = ins[i];
		ins[i]            = oc_null();
	}
	a->u.a.n = a->u.a.n - del + n;
	return true;
}

int
oc_key_cmp(const char *a, size_t an, const char *b, size_t bn)
{
	if (an != bn)
		return an < bn ? -1 : 1;
	return memcmp(a, b, an);
}

int
oc_bytes_cmp(const void *a, size_t an, const void *b, size_t bn)
{
	int c = memcmp(a, b, O_MIN(an, bn));

	if (c != 0)
		return c;
	return an < bn ? -1 : an > bn ? 1 : 0;
}

/* Binary search; returns index of key or insertion point with *found. */
static size_t
oc_map_find(const struct oc_val *m, const char *key, size_t kn, bool *found)
{
	size_t lo = 0, hi = m->u.m.n;

	while (lo < hi) {
		size_t              mid = (lo + hi) / 2;
		const struct oc_val *k  = &m->u.m.kv[mid].key;
		int c = oc_key_cmp((const char *) k->u.s.p, k->u.s.n, key, kn);

		if (c == 0) {
			*found = true;
			return mid;
		}
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	*found = false;
	return lo;
}

void
oc_map_set(struct oc_val *m, const char *key, struct oc_val v)
{
	size_t kn = strlen(key);
	bool   found;
	size_t i;

	assert(m->type == OC_MAP);
	i = oc_map_find(m, key, kn, &found);
	if (found) {
		oc_val_fini(&m->u.m.kv[i].val);
		m->u.m.kv[i].val = v;
		return;
	}
	if (m->u.m.n == m->u.m.cap) {
		m->u.m.cap = m->u.m.cap ? m->u.m.cap * 2 : 2;
		m->u.m.kv  = o_realloc(m->u.m.kv, m->u.m.cap * sizeof(struct oc_kv));
	}
	memmove(&m->u.m.kv[i + 1], &m->u.m.kv[i],
	    (m->u.m.n - i) * sizeof(struct oc_kv));
	m->u.m.kv[i].key = oc_textn(key, kn);
	m->u.m.kv[i].val = v;
	m->u.m.n++;
}

struct oc_val *
oc_map_get(const struct oc_val *m, const char *key)
{
	bool   found;
	size_t i;

	if (m->type != OC_MAP)
		return NULL;
	i = oc_map_find(m, key, strlen(key), &found);
	return found ? &m->u.m.kv[i].val : NULL;
}

bool
oc_map_del(struct oc_val *m, const char *key)
{
	bool   found;
	size_t i;

	if (m->type != OC_MAP)
		return false;
	i = oc_map_find(m, key, strlen(key), &found);
	if (!found)
		return false;
	oc_val_fini(&m->u.m.kv[i].key);
	oc_val_fini(&m->u.m.kv[i].val);
	memmove(&m->u.m.kv[i], &m->u.m.kv[i + 1],
	    (m->u.m.n - i - 1) * sizeof(struct oc_kv));
	m->u.m.n--;
	return true;
}

int64_t
oc_map_int(const struct oc_val *m, const char *key, int64_t d)
{
	const struct oc_val *v = oc_map_get(m, key);

	return v && v->type == OC_INT ? v->u.i : d;
}

bool
oc_map_bool(const struct oc_val *m, const char *key, bool d)
{
	const struct oc_val *v = oc_map_get(m, key);

	return v && v->type == OC_BOOL ? v->u.b : d;
}

const struct oc_val *
oc_map_bytes(const struct oc_val *m, const char *key)
{
	const struct oc_val *v = oc_map_get(m, key);

	return v && v->type == OC_BYTES ? v : NULL;
}

const char *
oc_map_text(const struct oc_val *m, const char *key)
{
	const struct oc_val *v = oc_map_get(m, key);

	return v && v->type == OC_TEXT ? (const char *) v->u.s.p : NULL;
}

const struct oc_val *
oc_map_arr(const struct oc_val *m, const char *key)
{
	const struct oc_val *v = oc_map_get(m, key);

	return v && v->type == OC_ARRAY ? v : NULL;
}

size_t
oc_val_str_footprint(size_t n)
{
	return sizeof(struct oc_val) + n + 16;
}

size_t
oc_val_footprint(const struct oc_val *v)
{
	size_t n = sizeof(*v), i;

	switch (v->type) {
	case OC_BYTES:
	case OC_TEXT:
		return oc_val_str_footprint(v->u.s.n);
	case OC_ARRAY:
		for (i = 0; i < v->u.a.n; i++)
			n += oc_val_footprint(&v->u.a.v[i]);
		return n;
	case OC_MAP:
		for (i = 0; i < v->u.m.n; i++)
			n += oc_val_footprint(&v->u.m.kv[i].key) +
			    oc_val_footprint(&v->u.m.kv[i].val);
		return n;
	default:
		return n;
	}
}
