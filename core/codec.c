/*
 * codec.c - deterministic CBOR encode/decode of struct oc_val via libcbor.
 *
 * Design notes.  The decoder calls cbor_stream_decode() once per item and
 * first inspects the item's initial byte itself: major type and additional
 * information decide whether the item is allowed at all (no tags, floats,
 * indefinite lengths) and, with the argument bytes, whether its integer or
 * length is in shortest form.  libcbor guarantees the argument bytes are
 * present once it reports FINISHED, and refuses string lengths that run
 * past the buffer.  Values are built bottom-up with an explicit stack of
 * open containers, so recursion depth is bounded by max_depth, not by the
 * input.
 *
 * Memory is committed only for what the input can back: every item takes
 * at least one byte, so the item slots still expected by all open
 * containers (`pending`) never exceed the bytes left, and together with the
 * items already built they never exceed max_items.  A container is counted
 * as one item when it is closed and placed in its parent.
 */
#include "core/codec.h"

#include <cbor.h>
#include <stdlib.h>
#include <string.h>

const struct oc_limits oc_limits_default = {
	.max_depth = 32,
	.max_items = 4u << 20,
	.max_input = 64u << 20,
};

/* ---- encoding ---------------------------------------------------------- */

/* Like o_malloc, running out of memory while encoding is fatal. */
static void
enc_reserve(struct o_buf *out, size_t n)
{
	if (o_buf_reserve(out, n) != O_OK)
		abort();
}

static void
enc_raw(struct o_buf *out, const void *p, size_t n)
{
	if (o_buf_append(out, p, n) != O_OK)
		abort();
}

static void
enc_head(struct o_buf *out, size_t (*fn)(size_t, unsigned char *, size_t),
    size_t arg)
{
	enc_reserve(out, 9);
	out->len += fn(arg, out->data + out->len, 9);
}

static size_t
enc_uint(size_t v, unsigned char *b, size_t n)
{
	return cbor_encode_uint((uint64_t) v, b, n);
}

static size_t
enc_negint(size_t v, unsigned char *b, size_t n)
{
	return cbor_encode_negint((uint64_t) v, b, n);
}

void
oc_encode(const struct oc_val *v, struct o_buf *out)
{
	size_t i;

	switch (v->type) {
	case OC_NULL:
		enc_reserve(out, 1);
		out->len += cbor_encode_null(out->data + out->len, 1);
		break;
	case OC_BOOL:
		enc_reserve(out, 1);
		out->len += cbor_encode_bool(v->u.b, out->data + out->len, 1);
		break;
	case OC_INT:
		if (v->u.i >= 0)
			enc_head(out, enc_uint, (size_t) v->u.i);
		else /* -1 - n encodes n */
			enc_head(out, enc_negint, (size_t) (-(v->u.i + 1)));
		break;
	case OC_BYTES:
		enc_head(out, cbor_encode_bytestring_start, v->u.s.n);
		enc_raw(out, v->u.s.p, v->u.s.n);
		break;
	case OC_TEXT:
		enc_head(out, cbor_encode_string_start, v->u.s.n);
		enc_raw(out, v->u.s.p, v->u.s.n);
		break;
	case OC_ARRAY:
		enc_head(out, cbor_encode_array_start, v->u.a.n);
		for (i = 0; i < v->u.a.n; i++)
			oc_encode(&v->u.a.v[i], out);
		break;
	case OC_MAP:
		enc_head(out, cbor_encode_map_start, v->u.m.n);
		for (i = 0; i < v->u.m.n; i++) {
			oc_encode(&v->u.m.kv[i].key, out);
			oc_encode(&v->u.m.kv[i].val, out);
		}
		break;
	}
}

/* ---- decoding ---------------------------------------------------------- */

struct dec_frame {
	struct oc_val *c;    /* open container */
	size_t         left; /* items still expected (maps: keys + values) */
	struct oc_val  key;  /* maps: key read, value not yet */
};

struct dec {
	const struct oc_limits *lim;
	struct dec_frame       *stack;
	size_t                  depth;
	size_t                  items;
	size_t                  pending; /* slots still expected, all frames */
	size_t                  pos;     /* offset of the current item */
	size_t                  avail; /* bytes after the current head */
	struct oc_val           root;
	bool                    have_root;
	o_err                   err;
};

static void
dec_fail(struct dec *d, o_err e, const char *what)
{
	if (d->err == O_OK)
		d->err = o_err_set(e, "CBOR at byte %zu: %s", d->pos, what);
}

/* Attach a finished value to the innermost open container (or the root). */
static void
dec_place(struct dec *d, struct oc_val v)
{
	struct dec_frame *f;

	if (d->err != O_OK) {
		oc_val_fini(&v);
		return;
	}
	if (++d->items > d->lim->max_items) {
		oc_val_fini(&v);
		dec_fail(d, O_ETOOBIG, "too many items");
		return;
	}
	if (d->depth == 0) {
		if (d->have_root) {
			oc_val_fini(&v);
			dec_fail(d, O_EBADMSG, "trailing item after the root");
			return;
		}
		d->root      = v;
		d->have_root = true;
		return;
	}
	f = &d->stack[d->depth - 1];
	if (f->c->type == OC_ARRAY) {
		/* capacity was reserved from the declared length */
		f->c->u.a.v[f->c->u.a.n++] = v;
	} else if (f->key.type == OC_NULL) {
		struct oc_kv *prev;

		if (v.type != OC_TEXT) {
			oc_val_fini(&v);
			dec_fail(d, O_EBADMSG, "map key is not text");
			return;
		}
		if (f->c->u.m.n > 0) {
			prev = &f->c->u.m.kv[f->c->u.m.n - 1];
			if (oc_key_cmp((const char *) prev->key.u.s.p,
			        prev->key.u.s.n, (const char *) v.u.s.p,
			        v.u.s.n) >= 0) {
				oc_val_fini(&v);
				dec_fail(d, O_EBADMSG,
				    "map keys not in deterministic order or "
				    "duplicated");
				return;
			}
		}
		f->key = v;
	} else {
		struct oc_kv *kv = &f->c->u.m.kv[f->c->u.m.n++];

		kv->key = f->key;
		kv->val = v;
		f->key  = oc_null();
	}
	f->left--;
	d->pending--;
}

/* Close every container whose items are all present. */
static void
dec_close_full(struct dec *d)
{
	while (d->err == O_OK && d->depth > 0 &&
	    d->stack[d->depth - 1].left == 0) {
		struct oc_val c = *d->stack[d->depth - 1].c;

		free(d->stack[d->depth - 1].c);
		d->depth--;
		dec_place(d, c); /* counts the container as one item */
	}
}

static void
dec_open(struct dec *d, enum oc_vtype type, size_t n)
{
	struct oc_val    *c;
	struct dec_frame *f;
	size_t            slots, others;

	if (d->err != O_OK)
		return;
	if (d->depth >= d->lim->max_depth) {
		dec_fail(d, O_ETOOBIG, "nesting too deep");
		return;
	}
	/*
	 * Every item takes at least one byte: this container's items and the
	 * slots its open ancestors still expect after it must all fit in the
	 * bytes after its head.  Each open frame has one slot taken by its
	 * open child (the innermost one's by this container), hence - depth.
	 * Checked before 2n can wrap and before anything is allocated.
	 */
	others = d->pending - d->depth;
	if (n > d->avail || (type == OC_MAP && n > d->avail / 2) ||
	    others > d->avail) {
		dec_fail(d, O_EBADMSG, "collection longer than the input");
		return;
	}
	slots = type == OC_MAP ? 2 * n : n;
	if (slots > d->avail - others) {
		dec_fail(d, O_EBADMSG, "collection longer than the input");
		return;
	}
	/* + 1: the root container is not in pending */
	if (d->items + d->pending + slots + 1 > d->lim->max_items) {
		dec_fail(d, O_ETOOBIG, "too many items");
		return;
	}
	c  = o_malloc(sizeof(*c));
	*c = type == OC_MAP ? oc_map() : oc_array();
	if (type == OC_MAP) {
		c->u.m.kv  = o_malloc(sizeof(struct oc_kv) * (n + 1));
		c->u.m.cap = n;
	} else {
		c->u.a.v   = o_malloc(sizeof(struct oc_val) * (n + 1));
		c->u.a.cap = n;
	}
	f       = &d->stack[d->depth++];
	f->c    = c;
	f->left = slots;
	f->key  = oc_null();
	d->pending += slots;
}

/* libcbor callbacks */

static void
cb_uint(struct dec *d, uint64_t v)
{
	if (v > (uint64_t) INT64_MAX) {
		dec_fail(d, O_EBADMSG, "integer out of int64 range");
		return;
	}
	dec_place(d, oc_int((int64_t) v));
}

static void
cb_u8(void *c, uint8_t v)
{
	cb_uint(c, v);
}
static void
cb_u16(void *c, uint16_t v)
{
	cb_uint(c, v);
}
static void
cb_u32(void *c, uint32_t v)
{
	cb_uint(c, v);
}
static void
cb_u64(void *c, uint64_t v)
{
	cb_uint(c, v);
}

static void
cb_neg(struct dec *d, uint64_t v)
{
	if (v > (uint64_t) INT64_MAX) {
		dec_fail(d, O_EBADMSG, "integer out of int64 range");
		return;
	}
	dec_place(d, oc_int(-1 - (int64_t) v));
}

static void
cb_n8(void *c, uint8_t v)
{
	cb_neg(c, v);
}
static void
cb_n16(void *c, uint16_t v)
{
	cb_neg(c, v);
}
static void
cb_n32(void *c, uint32_t v)
{
	cb_neg(c, v);
}
static void
cb_n64(void *c, uint64_t v)
{
	cb_neg(c, v);
}

static void
cb_bytes(void *c, cbor_data p, size_t n)
{
	dec_place(c, oc_bytes(p, n));
}

static void
cb_text(void *c, cbor_data p, size_t n)
{
	struct dec *d = c;

	if (memchr(p, 0, n) != NULL) {
		dec_fail(d, O_EBADMSG, "text contains NUL");
		return;
	}
	dec_place(d, oc_textn((const char *) p, n));
}

static void
cb_array(void *c, size_t n)
{
	dec_open(c, OC_ARRAY, n);
}

static void
cb_map(void *c, size_t n)
{
	dec_open(c, OC_MAP, n);
}

static void
cb_null(void *c)
{
	dec_place(c, oc_null());
}

static void
cb_bool(void *c, bool b)
{
	dec_place(c, oc_bool(b));
}

static const struct cbor_callbacks dec_callbacks = {
	.uint8             = cb_u8,
	.uint16            = cb_u16,
	.uint32            = cb_u32,
	.uint64            = cb_u64,
	.negint8           = cb_n8,
	.negint16          = cb_n16,
	.negint32          = cb_n32,
	.negint64          = cb_n64,
	.byte_string       = cb_bytes,
	.string            = cb_text,
	.array_start       = cb_array,
	.map_start         = cb_map,
	.null              = cb_null,
	.boolean           = cb_bool,
	/* everything else is rejected before libcbor sees it */
	.byte_string_start = cbor_null_byte_string_start_callback,
	.string_start      = cbor_null_string_start_callback,
	.indef_array_start = cbor_null_indef_array_start_callback,
	.indef_map_start   = cbor_null_indef_map_start_callback,
	.tag               = cbor_null_tag_callback,
	.float2            = cbor_null_float2_callback,
	.float4            = cbor_null_float4_callback,
	.float8            = cbor_null_float8_callback,
	.undefined         = cbor_null_undefined_callback,
	.indef_break       = cbor_null_indef_break_callback,
};

/*
 * Check the initial byte at p[0] (n bytes available): allowed item kinds
 * and shortest-form arguments.  Returns false with d->err set.
 */
static bool
dec_check_head(struct dec *d, const uint8_t *p, size_t n)
{
	unsigned major = p[0] >> 5, ai = p[0] & 31;
	uint64_t arg   = 0;
	size_t   alen, i;

	if (major == 6) {
		dec_fail(d, O_EBADMSG, "tags are not allowed");
		return false;
	}
	if (major == 7) {
		if (p[0] == 0xf4 || p[0] == 0xf5 || p[0] == 0xf6)
			return true;
		dec_fail(d, O_EBADMSG,
		    "floats, undefined and simple values are not allowed");
		return false;
	}
	d->avail = n - 1;
	if (ai < 24)
		return true;
	if (ai > 27) {
		dec_fail(d, O_EBADMSG,
		    "indefinite length or reserved additional information");
		return false;
	}
	alen = (size_t) 1 << (ai - 24);
	d->avail = n - 1 - O_MIN(alen, n - 1);
	if (n < 1 + alen) {
		dec_fail(d, O_EBADMSG, "truncated item head");
		return false;
	}
	for (i = 0; i < alen; i++)
		arg = (arg << 8) | p[1 + i];
	if ((ai == 24 && arg < 24) || (ai == 25 && arg <= 0xff) ||
	    (ai == 26 && arg <= 0xffff) || (ai == 27 && arg <= 0xffffffffu)) {
		dec_fail(d, O_EBADMSG, "integer or length not in shortest form");
		return false;
	}
	return true;
}

o_err
oc_decode_lim(const uint8_t *p, size_t n, struct oc_val *out,
    const struct oc_limits *lim)
{
	struct dec d;
	size_t     i;

	*out = oc_null();
	if (n > lim->max_input)
		return o_err_set(O_ETOOBIG, "CBOR input of %zu bytes exceeds %zu",
		    n, lim->max_input);
	memset(&d, 0, sizeof(d));
	d.lim   = lim;
	d.root  = oc_null();
	d.stack = o_calloc(lim->max_depth + 1, sizeof(struct dec_frame));
	while (d.err == O_OK && d.pos < n) {
		struct cbor_decoder_result r;

		if (d.have_root && d.depth == 0) {
			dec_fail(&d, O_EBADMSG, "trailing bytes after the root");
			break;
		}
		if (!dec_check_head(&d, p + d.pos, n - d.pos))
			break;
		r = cbor_stream_decode(p + d.pos, n - d.pos, &dec_callbacks, &d);
		if (r.status == CBOR_DECODER_NEDATA) {
			dec_fail(&d, O_EBADMSG, "truncated input");
			break;
		}
		if (r.status != CBOR_DECODER_FINISHED || r.read == 0) {
			dec_fail(&d, O_EBADMSG, "malformed item");
			break;
		}
		if (d.err != O_OK)
			break;
		d.pos += r.read;
		dec_close_full(&d);
	}
	if (d.err == O_OK && (d.depth > 0 || !d.have_root)) {
		d.pos = n;
		dec_fail(&d, O_EBADMSG, "truncated input");
	}
	/* unwind: free open containers (and any half-built root) */
	for (i = d.depth; i > 0; i--) {
		oc_val_fini(&d.stack[i - 1].key);
		oc_val_fini(d.stack[i - 1].c);
		free(d.stack[i - 1].c);
	}
	free(d.stack);
	if (d.err != O_OK) {
		oc_val_fini(&d.root);
		return d.err;
	}
	*out = d.root;
	return O_OK;
}

o_err
oc_decode(const uint8_t *p, size_t n, struct oc_val *out)
{
	return oc_decode_lim(p, n, out, &oc_limits_default);
}
