/*
 * rdb.h - the store layer's only door to RocksDB (private to store/ and its
 * tests; nothing outside store/ includes this or <rocksdb/c.h>).
 *
 * A struct ost_rdb is one RocksDB database opened with the column families
 * of enum ost_cf (created when missing; any other families found on disk
 * are opened too, since RocksDB refuses to open a DB without all of them).
 * Writes go through struct ost_wb, a write batch built in our own memory so
 * that the group-commit leader can merge the batches of many committers
 * into one rocksdb_write().  Iterators are bounded to a key range, so a scan
 * never leaves the block it is about.
 *
 * Errors.  RocksDB reports failures as strings; ost_rdb_classify() maps
 * them to o_err once, by prefix, and every function here records the
 * RocksDB text in the o_err detail together with what we were doing.
 *
 * Thread safety: an ost_rdb may be used from any number of threads.  An
 * ost_wb or ost_it belongs to one thread at a time.  Everything may block on
 * disk I/O.
 */
#ifndef OST_RDB_H
#define OST_RDB_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/o_err.h"
#include "core/o_util.h"

enum ost_cf {
	OST_CF_META = 0, /* "meta" */
	OST_CF_REV,      /* "rev" */
	OST_CF_PEND,     /* "pend" */
	OST_CF_MAT,      /* "mat" */
	OST_CF_JOURNAL,  /* "journal" (store/journal.c) */
	OST_CF_COUNT
};

/* Bytes of CRC-32C(key || value) appended to every stored value
 * (little-endian; format 1 had 8 bytes of SHA-256). */
#define OST_SUM_LEN 4

/* Longest key we use (block id + action id, or block id + revision). */
#define OST_KEY_MAX 64

struct ost_rdb;
struct ost_it;

/*
 * A write batch in our own memory.  Zero-initialise or ost_wb_init(); put
 * and del copy their arguments; ost_wb_fini() frees.
 */
struct ost_wb {
	struct o_buf buf; /* records: cf, op, klen, vlen, key, value */
	size_t       n;   /* number of records */
};

/* The column family's name ("meta", ...). */
const char *ost_rdb_cf_name(enum ost_cf cf);

/*
 * Map a RocksDB error string to o_err (does not set the detail):
 *   "Corruption:"                              O_ECORRUPT
 *   "IO error:" mentioning no space / ENOSPC   O_ENOSPC
 *   "IO error:" about the LOCK file            O_EBUSY
 *   "Resource busy:", "Operation timed out:",
 *   "Busy:", "Result incomplete: ... try again" O_EBUSY
 *   other "IO error:"                           O_EIO
 *   "Invalid argument:"                         O_EINVAL
 *   "NotFound:" / "Not found:"                  O_ENOTFOUND
 *   anything else (or NULL)                     O_EIO
 */
o_err ost_rdb_classify(const char *msg);

/* The store format this build writes and reads (rdb.c: the marker).
 * 2: values end with a CRC-32C (format 1: SHA-256, ~20 % of a diary
 * read's CPU); a format 1 store is refused with a message naming both.
 * 3: an insert's rev record may name its mat record instead of holding
 * the block (store/repo.h); a format 2 store is read as it is and marked
 * 3 at its first writable open, so an older build refuses it from then
 * on instead of taking those records for corruption. */
#define OST_FORMAT 3
/* The oldest format this build opens (and upgrades to OST_FORMAT). */
#define OST_FORMAT_OLDEST 2

/*
 * Open (creating if missing) the database in dir with every column family
 * of enum ost_cf.  On success *out owns the handle.  O_EBUSY when another
 * handle (this or another process) holds the directory; O_ECORRUPT,
 * O_EIO, O_ENOSPC, O_EINVAL as classified; the detail names dir.
 * Refused with O_EINVAL: a store of another format (OST_FORMAT), a RocksDB
 * database without our families, a directory of other files; O_ECORRUPT:
 * an unreadable format marker.
 */
o_err ost_rdb_open(const char *dir, struct ost_rdb **out);

/*
 * Make every write so far durable (WAL fsync), then close and free.  Blocks.
 * The caller guarantees no other thread uses db any more.  NULL is a no-op.
 * When the sync fails (say the disk is full) that is logged and the
 * database is closed anyway: synced writes are on disk already.
 */
void ost_rdb_close(struct ost_rdb *db);

/*
 * Point read of key in cf.  On success *found says whether the key exists
 * and, if so, out holds a copy of the value (out is reset first).
 */
o_err ost_rdb_get(struct ost_rdb *db, enum ost_cf cf, const void *key,
    size_t klen, struct o_buf *out, bool *found);

/*
 * Point read of key in cf without a copy: when the key exists and its
 * checksum holds, fn(arg, value, length) runs once on the bytes where
 * RocksDB keeps them (valid only during the call) and its result is
 * returned; *found says whether the key exists.  A checksum mismatch is
 * O_ECORRUPT (fn does not run).
 */
typedef o_err (*ost_val_fn)(void *arg, const uint8_t *v, size_t n);
o_err ost_rdb_get_fn(struct ost_rdb *db, enum ost_cf cf, const void *key,
    size_t klen, ost_val_fn fn, void *arg, bool *found);

/*
 * Apply the records of wbs[0..n) as one atomic RocksDB write, in order.
 * sync: fsync the WAL before returning (the write survives power loss).
 * An empty set is a no-op.  Blocks.
 *
 * O_ENOSPC when the disk is full.  From then on every write fails with
 * O_ENOSPC (reads work) until RocksDB, polling every 5 s, sees its
 * write_buffer_size free and resumes by itself; the first failure
 * and the first success after it are logged.  A failed write applied
 * nothing (an unsynced one may still reach the WAL and so appear after a
 * restart, as any write whose outcome was not acknowledged may).
 */
o_err ost_rdb_write(
    struct ost_rdb *db, struct ost_wb *const *wbs, size_t n, bool sync);

/* Sync the WAL (makes earlier unsynced writes durable).  Blocks.  Fails
 * like ost_rdb_write (O_ENOSPC while the disk is full). */
o_err ost_rdb_sync_wal(struct ost_rdb *db);

/*
 * Build a batch: init/fini, reset (empty, keeps memory), put and del (cf,
 * key and value are copied; records apply in the order added).  Out of
 * memory aborts, like o_malloc.  Nothing here touches the database.
 */
void ost_wb_init(struct ost_wb *wb);
void ost_wb_fini(struct ost_wb *wb);
void ost_wb_reset(struct ost_wb *wb);
void ost_wb_put(struct ost_wb *wb, enum ost_cf cf, const void *key,
    size_t klen, const void *val, size_t vlen);
void ost_wb_del(
    struct ost_wb *wb, enum ost_cf cf, const void *key, size_t klen);

/*
 * A forward/backward iterator over keys k of cf with lo <= k < hi (hi may
 * be NULL for no upper bound).  Bounds are copied (at most OST_KEY_MAX
 * bytes each).  The iterator starts unpositioned; seek first.  Key and
 * value pointers are valid until the next move or close.  After the scan,
 * ost_it_status() reports an I/O or corruption error hit while moving.
 */
o_err ost_it_open(struct ost_rdb *db, enum ost_cf cf, const void *lo,
    size_t lolen, const void *hi, size_t hilen, struct ost_it **out);
void  ost_it_close(struct ost_it *it);
void  ost_it_first(struct ost_it *it);
void  ost_it_last(struct ost_it *it);
void  ost_it_seek(struct ost_it *it, const void *key, size_t klen);
void  ost_it_seek_for_prev(struct ost_it *it, const void *key, size_t klen);
bool  ost_it_valid(const struct ost_it *it);
void  ost_it_next(struct ost_it *it);
void  ost_it_prev(struct ost_it *it);
const uint8_t *ost_it_key(const struct ost_it *it, size_t *len);
/* The current value with its checksum verified and stripped; on a mismatch
 * an empty value (no stored value is empty, so callers report an empty one
 * as a checksum mismatch). */
const uint8_t *ost_it_val(const struct ost_it *it, size_t *len);
/* Tests that simulate corruption: the stored bytes, checksum included, and
 * a put of exactly the given bytes (no checksum added). */
const uint8_t *ost_it_val_raw(const struct ost_it *it, size_t *len);
void           ost_wb_put_raw(struct ost_wb *wb, enum ost_cf cf,
              const void *key, size_t klen, const void *val, size_t vlen);
o_err          ost_it_status(const struct ost_it *it);

#endif /* OST_RDB_H */
