/*
 * codec.h - deterministic CBOR (RFC 8949 section 4.2) for struct oc_val.
 *
 * One encoding for disk, wire and hashing: shortest-form integers and
 * lengths, definite lengths only, map keys (text) in length-then-bytewise
 * order, no tags, no floats.  Encoding goes through libcbor's encoder
 * primitives; decoding through libcbor's streaming decoder, which we drive
 * item by item so that every limit is checked before memory is committed.
 *
 * The decoder is a trust boundary.  It rejects, with O_EBADMSG or
 * O_ETOOBIG and a detail naming the byte offset:
 *   truncated input, trailing bytes, reserved or indefinite-length items,
 *   tags, floats and undefined, non-shortest integers or lengths,
 *   integers outside int64, non-text or unordered or duplicate map keys,
 *   text containing NUL, nesting deeper than max_depth, more than
 *   max_items items, input larger than max_input, and collections that
 *   claim more items than bytes remain.
 * Thread-safe; does not block.
 */
#ifndef OC_CODEC_H
#define OC_CODEC_H

#include <stddef.h>
#include <stdint.h>

#include "core/o_err.h"
#include "core/o_util.h"
#include "core/val.h"

struct oc_limits {
	size_t max_depth; /* nesting of arrays/maps, root container = 1 */
	size_t max_items; /* total items, keys included */
	size_t max_input; /* bytes */
};

/* Defaults: depth 32, 4 Mi items, 64 MiB of input. */
extern const struct oc_limits oc_limits_default;

/* Append the deterministic encoding of v to out. */
void oc_encode(const struct oc_val *v, struct o_buf *out);

/*
 * Decode exactly n bytes into *out (which is overwritten; on error it is
 * left OC_NULL and nothing leaks).
 */
o_err oc_decode(const uint8_t *p, size_t n, struct oc_val *out);
o_err oc_decode_lim(const uint8_t *p, size_t n, struct oc_val *out,
    const struct oc_limits *lim);

#endif /* OC_CODEC_H */
