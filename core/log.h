/*
 * log.h - a collection's log: a hash-chained chain of entries.
 *
 * Log data blocks (type "LGD") are chain data blocks plus:
 *
 *   field    CBOR     meaning
 *   "phash"  bytes32  SHA-256 of the deterministic encoding of the previous
 *                     block without its "prior"/"next" links (absent on the
 *                     first block).  Links are excluded because "next" is
 *                     set after hashing and pop/dequeue rewrite links.
 *
 * An entry:
 *
 *   field   CBOR   meaning
 *   "ts"    int    wall clock ms when written (metadata only)
 *   "rev"   int    the collection revision: 1, 2, 3, ... one per entry
 *   "act"   map    {"aid": bytes16 action id, "acts": bytes holding the
 *                   deterministic CBOR of the action array (kept encoded
 *                   so that copying a log block stays cheap),
 *                   "bids": [bytes32...] every block the transaction
 *                   touched, log blocks included, "cols": [bytes32...]
 *                   other collections of the same transaction,
 *                   "jt": optional [[bytes8 node, int session, int hi]...]
 *                   journal tags (core/journal.h)}
 *   "ckpt"  array  optional checkpoint: [[aid, rev]...] the actions of the
 *                   OC_LOG_CKPT_INTERVAL-1 revisions before this entry
 *
 * A checkpoint is carried by every entry whose rev is a multiple of
 * OC_LOG_CKPT_INTERVAL, so the committed context (checkpoint list plus the
 * actions after it) never needs more than two log blocks and never holds
 * more than 2 * OC_LOG_CKPT_INTERVAL actions.
 *
 * Not thread-safe by itself; callers serialise (the collection latch).
 */
#ifndef OC_LOG_H
#define OC_LOG_H

#include "core/chain.h"
#include "core/transactor.h"

#define OC_LOG_CKPT_INTERVAL 32

struct oc_log {
	struct oc_chain ch;
};

/* Add a log (first empty LGD block, head/tail) to an existing header. */
o_err oc_log_create(struct oc_log *l, struct oc_bstore *s,
    const struct oc_bid *header);
o_err oc_log_open(struct oc_log *l, struct oc_bstore *s,
    const struct oc_bid *header);

/*
 * Append the entry for action aid at rev (acts moved; an OC_ARRAY).  rev
 * must be the last entry's rev + 1 (O_EINVAL otherwise).  *critical is the
 * tail block as read before the append (every writer of rev must change
 * it); *pos is where the entry landed.  Adds the checkpoint when due.
 */
o_err oc_log_append(struct oc_log *l, const struct oc_aid *aid, int64_t rev,
    struct oc_val acts, int64_t ts, struct oc_bid *critical,
    struct oc_chain_path *pos);
/* Optional fields of an entry (oc_log_append_tx). */
struct oc_log_extra {
	const struct oc_bid *cols; /* other collections of the transaction */
	size_t               ncols;
	struct oc_val        jt; /* journal tags, moved in; OC_NULL: none */
};

/*
 * As oc_log_append, but the entry's "bids" are filled in at once: the ids
 * of *touched (the transaction's other blocks) plus every block the append
 * itself changes (the tail; at a roll-over also the new block and the
 * header).  One op per append instead of two.  x (may be NULL) adds
 * "cols" and "jt"; x->jt is moved out (left OC_NULL) whatever the result.
 */
o_err oc_log_append_tx(struct oc_log *l, const struct oc_aid *aid,
    int64_t rev, struct oc_val acts, int64_t ts, const struct oc_tfs *touched,
    struct oc_log_extra *x, struct oc_bid *critical,
    struct oc_chain_path *pos);
/* Record every block of tfs in the entry at pos ("act"."bids"). */
o_err oc_log_set_bids(struct oc_log *l, const struct oc_chain_path *pos,
    const struct oc_tfs *tfs);
/* Rev of the last entry (0 when empty). */
o_err oc_log_last_rev(struct oc_log *l, int64_t *rev);
/* Committed context: latest checkpoint's actions + actions after it. */
o_err oc_log_context(struct oc_log *l, struct oc_actx *ctx);
/* Entries with rev > after, oldest first, into *out (an OC_ARRAY). */
o_err oc_log_after(struct oc_log *l, int64_t after, struct oc_val *out);

/* SHA-256 of blk's encoding without "prior"/"next". */
void oc_log_block_hash(const struct oc_val *blk, uint8_t out[32]);

struct oc_log_report {
	uint64_t      blocks;
	uint64_t      entries;
	int64_t       last_rev;
	bool          ok;
	struct oc_bid bad;       /* first bad block when !ok */
	uint64_t      bad_index; /* its position, 0 = head block */
	char          why[256];
};

typedef void (*oc_log_progress)(void *arg, uint64_t blocks,
    uint64_t entries);

/*
 * Walk the whole log from head to tail checking every block: readable
 * and well formed, linked both ways, priorHash matching its predecessor,
 * revisions consecutive.  Returns O_OK with rep->ok, or O_ECORRUPT with
 * rep naming the first bad block; other errors (I/O, unavailable) are
 * returned as they are.  progress (may be NULL) is called per block.
 */
o_err oc_log_verify(struct oc_bstore *s, const struct oc_bid *header,
    struct oc_log_report *rep, oc_log_progress progress, void *arg);

/* Entry accessors (NULL / 0 when absent). */
int64_t              oc_log_entry_rev(const struct oc_val *ent);
const struct oc_val *oc_log_entry_act(const struct oc_val *ent);
bool oc_log_entry_aid(const struct oc_val *ent, struct oc_aid *aid);
/* Decode the entry's actions into *acts (an OC_ARRAY; empty when the entry
 * carries no action).  O_ECORRUPT when the payload is malformed. */
o_err oc_log_entry_acts(const struct oc_val *ent, struct oc_val *acts);

#endif /* OC_LOG_H */
