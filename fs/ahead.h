/*
 * ahead.h - read-ahead of a log's blocks for a sequential diary reader.
 *
 * A diary read loads its log blocks one by one from the store (RocksDB
 * read, decompression, checksum, CBOR decode: about half of its CPU),
 * on the reader's thread, between two FUSE requests.  The read-ahead
 * thread does that work for the next blocks meanwhile: told where a
 * reader stopped, it reads that block and the OFS_AHEAD_BLOCKS that
 * follow it through the transactor with no context (the latest
 * committed state, nothing promoted, nothing written), which leaves them
 * decoded in the store's latest-block cache (bounded there, store/repo.c)
 * for the reader's own get to find.  It changes nothing a reader sees:
 * the reader still reads through its collection at its held revision;
 * a block read ahead in vain costs only the work.  Only for a transactor
 * with such a cache (a local store, not a cluster).
 *
 * Threads: ofs_ahead_want may be called from any thread; it never blocks
 * on I/O (a newer request replaces an older one not yet begun).
 */
#ifndef OFS_AHEAD_H
#define OFS_AHEAD_H

#include "core/block.h"
#include "core/transactor.h"

/* Log blocks read ahead of the block a reader stopped in (~0.5 MiB each
 * when full). */
#define OFS_AHEAD_BLOCKS 4

struct ofs_ahead;

/* Start the thread (*out NULL and an error if it cannot start).  tx is
 * borrowed and must outlive ofs_ahead_stop. */
o_err ofs_ahead_start(struct oc_transactor *tx, struct ofs_ahead **out);

/* Read ahead from block blk (a log data block).  NULL a: no-op. */
void ofs_ahead_want(struct ofs_ahead *a, const struct oc_bid *blk);

/* Stop and join the thread (waits for the block being read), free.
 * NULL: no-op. */
void ofs_ahead_stop(struct ofs_ahead *a);

/* Blocks the thread has read (statistics, tests). */
uint64_t ofs_ahead_loaded(struct ofs_ahead *a);

#endif
