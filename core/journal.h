/*
 * journal.h - where a collection keeps its queued, not yet committed
 * actions so that they outlive the process (DESIGN.md section 6: "a killed
 * daemon loses nothing it acknowledged").
 *
 * A collection opened with a journal (oc_sync_opts.journal) records every
 * act() as one record before the act returns, and forgets a record once
 * every action in it is committed (or resolved by the conflict filter).
 * Records are identified by (session, first): session grows by one each
 * time the journal is opened, first is the sequence number of the record's
 * first action, and the record's actions have the numbers first, first+1,
 * ...  Each log entry a journaled collection commits carries the tag
 * "jt": [[node, session, hi]...]: every action of this journal (node) and
 * session numbered at most hi, in this collection, is committed by then.
 *
 * Recovery (oc_journal_recover) runs before anything else opens the
 * collections: for each collection with records it finds, from the tags of
 * the log entries committed since the oldest record was written, which
 * actions already committed, queues the others again with their original
 * numbers, and commits them.  An action is therefore committed at most once
 * however often the process dies, and a crash during recovery is recovered
 * the same way.
 *
 * One handle per collection per journal session: the tag rule assumes
 * that a collection's records of a session are queued, in number order,
 * by one handle (fs gives each namespace its own session and one handle
 * per collection).  Recovery holds every record in memory at once.
 *
 * Implementations (store/journal.c keeps it in the local RocksDB) must make
 * put durable against the death of the process (not necessarily against
 * power loss) before returning.  All operations are thread-safe.
 *
 * Lazy records (oc_coll_act_lazy, e.g. a diary's appends by write()) are
 * what nobody has been told is safe yet: a journal set up with
 * oc_journal_init keeps them in memory, in act order, until
 * oc_journal_flush (fs: an async close; oc_coll: before a pend that is
 * not fused with its commit, which other processes see, and before a
 * commit of part of a record, whose rest must be finished by the next
 * start), until any record that is not lazy is written (all of them go
 * first, in one batch, so the stored records stay a prefix of what was
 * acted, in act order), or until their actions commit, when they are
 * never written at all.  A killed process loses the lazy records not yet
 * flushed, and with them only actions that were never acknowledged.
 */
#ifndef OC_JOURNAL_H
#define OC_JOURNAL_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/block.h"
#include "core/o_err.h"
#include "core/o_util.h"
#include "core/transactor.h"
#include "core/val.h"

/* The identity of one journaled action. */
struct oc_jref {
	uint64_t session; /* 0: not journaled */
	uint64_t first;   /* its record: (session, first) */
	uint64_t seq;     /* first <= seq < first + n */
	uint32_t n;       /* actions in the record */
	uint64_t qseq; /* the collection's number of the queued action (1, 2,
	                  ... in queue order; set when it is queued) */
};

struct oc_journal_rec {
	struct oc_bid col;
	char          type[8]; /* the collection's header type, NUL-ended */
	uint64_t      session, first;
	int64_t       base_rev; /* the collection's rev when recorded */
	struct oc_val acts;     /* OC_ARRAY of actions */
	struct oc_val blocks;   /* OC_ARRAY: chunk blocks the actions name */
};

struct oc_journal;

struct oc_journal_ops {
	/* Store r (borrowed). */
	o_err (*put)(struct oc_journal *j, const struct oc_journal_rec *r);
	/* Forget col's records keys[i] = {session, first}. */
	o_err (*drop)(struct oc_journal *j, const struct oc_bid *col,
	    const uint64_t (*keys)[2], size_t n);
	/* Call fn on every record (moved to fn, which finis it), ordered by
	 * collection, session, first.  Stops at fn's first error. */
	o_err (*scan)(struct oc_journal *j,
	    o_err (*fn)(void *arg, struct oc_journal_rec *r), void *arg);
	/*
	 * Hints, optional (both NULL when not kept): one small record per
	 * collection that the collection's user keeps across restarts so
	 * as not to recount what the log already says (fs: a diary's read
	 * index).  Written without sync, so it may be lost or older than
	 * the collection; the user checks it against the collection before
	 * trusting it.  hint_put with n == 0 forgets col's hint; hint_get
	 * resets out and sets *found.  A damaged hint is O_ECORRUPT.
	 */
	o_err (*hint_put)(struct oc_journal *j, const struct oc_bid *col,
	    const void *p, size_t n);
	o_err (*hint_get)(struct oc_journal *j, const struct oc_bid *col,
	    struct o_buf *out, bool *found);
	/* Optional: store r[0..n) in one atomic write (else put, one by
	 * one). */
	o_err (*put_many)(struct oc_journal    *j,
	    const struct oc_journal_rec *const *r, size_t n);
};

struct oc_jlazy;

struct oc_journal {
	const struct oc_journal_ops *ops;
	uint8_t                      node[8]; /* this journal, persistent */
	uint64_t                     session; /* this opening */
	_Atomic uint64_t             next_seq;
	struct oc_jlazy *lazy; /* lazy records held (NULL: none are held,
	                          every record is written at once) */
};

void oc_journal_rec_fini(struct oc_journal_rec *r);

/* Set up j's common part (ops, next_seq, the lazy records' buffer); the
 * implementation fills node and session.  oc_journal_fini flushes what is
 * still held (a failure is logged: those actions were never acknowledged)
 * and frees the buffer; call it before the implementation goes away. */
void oc_journal_init(struct oc_journal *j, const struct oc_journal_ops *ops);
void oc_journal_fini(struct oc_journal *j);

/*
 * Store r: held in memory when lazy and it names no chunk blocks and j
 * holds lazy records (r's actions are moved out), else written at once
 * after every record held, in one write.  On failure nothing of r is
 * kept and the held records stay held.
 */
o_err oc_journal_put(
    struct oc_journal *j, struct oc_journal_rec *r, bool lazy);
/* Forget col's records keys[0..n): the held ones are freed, the others
 * dropped from the store. */
o_err oc_journal_drop(struct oc_journal *j, const struct oc_bid *col,
    const uint64_t (*keys)[2], size_t                            n);
/* Write every held record (one write); they stay held on failure. */
o_err oc_journal_flush(struct oc_journal *j);
/* Lazy records held now (for tests and stats). */
size_t oc_journal_held(struct oc_journal *j);

struct oc_coll_type;
struct oc_sync_opts;

struct oc_recover_report {
	size_t collections; /* collections with records */
	size_t records;     /* records found */
	size_t replayed;    /* actions queued again and committed */
	size_t skipped;     /* actions found committed already */
};

/*
 * Replay every record of j: see the header comment.  types lists the
 * collection types records may name (by header type).  opts (may be NULL)
 * is used to open the collections; its journal is set to j.  Returns the
 * first error (a collection that cannot be opened or committed: its
 * records stay for the next attempt; others are still processed).
 */
o_err oc_journal_recover(struct oc_transactor *tx, struct oc_journal *j,
    const struct oc_coll_type *const *types, size_t ntypes,
    const struct oc_sync_opts *opts, struct oc_recover_report *rep);

#endif /* OC_JOURNAL_H */
