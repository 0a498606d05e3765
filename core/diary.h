/*
 * diary.h - an append-only collection (DESIGN.md section 2 "Diary").
 *
 * The log is the diary: there are no data blocks besides chunks.  Action:
 *
 *   field  CBOR    meaning
 *   "t"    text    "append"
 *   "d"    bytes   the appended bytes (at most OC_INLINE_MAX), or
 *   "c"    map     a chunk reference {"chunks": [bytes32...], "len": int}
 *                  for larger appends, so no block exceeds OC_BLOCK_MAX
 *
 * Concurrent appenders only race on the log tail; the loser rebases and
 * its entries land after the winner's.  Thread-safe (collection latch).
 */
#ifndef OC_DIARY_H
#define OC_DIARY_H

#include <sys/uio.h>

#include "core/collection.h"

extern const struct oc_coll_type oc_diary_type;

o_err oc_diary_open(struct oc_transactor *tx, const struct oc_bid *id,
    bool create, const struct oc_sync_opts *opts, struct oc_collection **out);
/* Stage one append (not yet committed; oc_coll_sync commits). */
o_err oc_diary_append(struct oc_collection *c, const void *data, size_t n);
/* Stage n appends in this order in one call (one journal record): all of
 * them, or none on error. */
o_err oc_diary_append_many(
    struct oc_collection *c, const struct iovec *v, size_t n);
/* The same with a lazy journal record (oc_coll_act_lazy). */
o_err oc_diary_append_lazy(
    struct oc_collection *c, const struct iovec *v, size_t n);

/* Called per appended item in commit order; nonzero return stops. */
typedef int (*oc_diary_cb)(void *arg, int64_t rev, const uint8_t *data,
    size_t n);
/*
 * Visit the committed appends of entries with rev > after_rev, oldest
 * first (forward) or newest first.  Holds the collection latch throughout.
 */
o_err oc_diary_scan(struct oc_collection *c, int64_t after_rev, bool forward,
    oc_diary_cb cb, void *arg);

/*
 * Walking the appends of one committed log entry without decoding it into
 * values: the entry's "acts" bytes are parsed in place and each append's
 * inline bytes are handed out as a pointer into them, so reading or
 * measuring a diary allocates nothing per append (a chunk reference, for
 * appends over OC_INLINE_MAX, is decoded on its own).  The walker checks
 * bounds and structure (O_ECORRUPT naming the entry's rev on anything
 * malformed) but, unlike oc_decode, not canonical form: it only reads
 * bytes that a checksummed block delivered.  An action without "d" or "c"
 * yields nothing, as in oc_diary_scan.
 */
struct oc_diary_item {
	const uint8_t *data; /* inline bytes, or NULL: a chunk reference */
	uint64_t       len;  /* bytes of the append */
	const struct oc_val *ref; /* the chunk reference when data == NULL;
	                             owned by the walker until the next call */
};

struct oc_diary_walk {
	const uint8_t *p, *end; /* unread part of "acts" */
	uint64_t       left;    /* actions not yet visited */
	int64_t        rev;     /* for messages */
	struct oc_val  ref;     /* last chunk reference */
};

/* Start at ent's first append (ent must outlive the walk). */
o_err oc_diary_walk_init(struct oc_diary_walk *w, const struct oc_val *ent);
/* Next append, or *done. */
o_err oc_diary_walk_next(struct oc_diary_walk *w, struct oc_diary_item *it,
    bool *done);
void  oc_diary_walk_fini(struct oc_diary_walk *w);
/* Bytes and number of the appends of ent. */
o_err oc_diary_entry_size(const struct oc_val *ent, uint64_t *bytes,
    uint64_t *n);

#endif /* OC_DIARY_H */
