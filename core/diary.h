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

#include "core/collection.h"

extern const struct oc_coll_type oc_diary_type;

o_err oc_diary_open(struct oc_transactor *tx, const struct oc_bid *id,
    bool create, const struct oc_sync_opts *opts, struct oc_collection **out);
/* Stage one append (not yet committed; oc_coll_sync commits). */
o_err oc_diary_append(struct oc_collection *c, const void *data, size_t n);

/* Called per appended item in commit order; nonzero return stops. */
typedef int (*oc_diary_cb)(void *arg, int64_t rev, const uint8_t *data,
    size_t n);
/*
 * Visit the committed appends of entries with rev > after_rev, oldest
 * first (forward) or newest first.  Holds the collection latch throughout.
 */
o_err oc_diary_scan(struct oc_collection *c, int64_t after_rev, bool forward,
    oc_diary_cb cb, void *arg);

#endif /* OC_DIARY_H */
