/*
 * rdb.c - RocksDB C API wrapper: open with column families, point reads,
 * batched writes, bounded iterators, and the one error classifier.
 *
 * Design notes.  RocksDB's C API returns errors as malloc'ed strings; each
 * is classified by ost_rdb_classify(), copied into the o_err detail with
 * what we were doing, and freed with rocksdb_free().  Write and read option
 * objects are created once per database and shared (RocksDB treats them as
 * read-only during a call).  An iterator owns its read options because the
 * bounds it points at live in the iterator (RocksDB does not copy them).
 *
 * Disk full.  A write that fails with ENOSPC puts RocksDB into its
 * background-error state: every later write fails with the same status
 * (reads still work), and its SstFileManager checks the free space every
 * 5 s and resumes writes by itself once a write buffer's worth
 * (write_buffer_size) is free, switching to a new WAL.  The C API
 * of 7.8 has no DB::Resume(), so that automatic path is the one we use;
 * we log when writing stops and when it works again.  Two things would
 * abort the process in that state, because the packaged librocksdb keeps
 * its assertions and a file writer asserts when written again after a
 * failed write: RocksDB's own info LOG (so it is kept silent, see
 * RDB_LOG_HEADER_ONLY), and rocksdb_flush_wal() on the failed WAL (so the
 * WAL is synced with an empty synced write batch instead, which RocksDB
 * refuses cleanly while it is in the error state).  New WALs are
 * preallocated (1.1 x write_buffer_size) when the space is there.
 */
#include "store/rdb.h"

#include <dirent.h>
#include <errno.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <rocksdb/c.h>

#include "store/rdb_wal.h"

/* Memtable budget: per family, and over all families together.  Memory
 * past the total is flushed, but memtables being flushed still count, so
 * a large write holds up to ~1.5 times the total.  16 MiB in all took ~10
 * MB off the peak RSS of scripts/bench.sh, with reads right after a 1 GiB
 * write as fast; 4 MiB per family made them ~15 % slower (smaller, more
 * numerous L0 files) (docs/BENCHMARKS.md, eighth run). */
#define RDB_MEMTABLE_BYTES (8u << 20)
#define RDB_MEMTABLES_BYTES (16u << 20)
/*
 * RocksDB's InfoLogLevel HEADER_LEVEL: nothing is written to its LOG file
 * after open.  The packaged librocksdb is built with assertions on, and
 * its LOG writer asserts (aborting the daemon) when it writes again after
 * a failed write, which is exactly what happens when the disk fills:
 * RocksDB logs the error it just returned to us.  Every RocksDB error
 * reaches us as a status anyway, and we log those.
 */
#define RDB_LOG_HEADER_ONLY 5
/*
 * Values of at least this many bytes (log blocks, chunks, file pieces,
 * their pendings and updates) are kept in RocksDB's blob files, not
 * in its tables; see rdb_set_blobs.
 */
#define RDB_MIN_BLOB_BYTES 4096

static const char *const ost_cf_names[OST_CF_COUNT] = {
	[OST_CF_META] = "meta",
	[OST_CF_REV]  = "rev",
	[OST_CF_PEND] = "pend",
	[OST_CF_MAT]  = "mat",
	[OST_CF_JOURNAL] = "journal",
};

struct ost_rdb {
	rocksdb_t                      *db;
	rocksdb_options_t              *opts;
	rocksdb_env_t                  *env; /* store/rdb_wal.cc; or NULL */
	rocksdb_writeoptions_t         *wo_sync;
	rocksdb_writeoptions_t         *wo_nosync;
	rocksdb_readoptions_t          *ro;
	rocksdb_column_family_handle_t *cf[OST_CF_COUNT];
	/* handles of "default" and any unknown families found on disk */
	rocksdb_column_family_handle_t **extra;
	size_t                           nextra;
	char                            *dir;
	size_t                           resume_free; /* write_buffer_size */
	/* a write failed with O_ENOSPC and none succeeded since (logging) */
	atomic_bool nospc;
};

struct ost_it {
	rocksdb_iterator_t    *it;
	rocksdb_readoptions_t *ro;
	uint8_t                lo[OST_KEY_MAX];
	uint8_t                hi[OST_KEY_MAX];
};

/* Record header inside struct ost_wb. */
struct wb_rec {
	uint8_t  cf;
	uint8_t  del;
	uint32_t klen;
	uint32_t vlen;
};

const char *
ost_rdb_cf_name(enum ost_cf cf)
{
	if ((unsigned) cf >= OST_CF_COUNT)
		return "?";
	return ost_cf_names[cf];
}

static bool
has_prefix(const char *s, const char *p)
{
	return strncmp(s, p, strlen(p)) == 0;
}

o_err
ost_rdb_classify(const char *msg)
{
	if (msg == NULL)
		return O_EIO;
	if (has_prefix(msg, "Corruption:"))
		return O_ECORRUPT;
	if (has_prefix(msg, "IO error:")) {
		if (strstr(msg, "No space left") != NULL ||
		    strstr(msg, "ENOSPC") != NULL ||
		    strstr(msg, "no space") != NULL)
			return O_ENOSPC;
		if (strstr(msg, "lock hold") != NULL ||
		    strstr(msg, "While lock file") != NULL ||
		    strstr(msg, "/LOCK:") != NULL ||
		    has_prefix(msg, "IO error: lock"))
			return O_EBUSY;
		return O_EIO;
	}
	if (has_prefix(msg, "Resource busy") ||
	    has_prefix(msg, "Operation timed out") ||
	    has_prefix(msg, "Busy:") ||
	    has_prefix(msg, "Operation failed. Try again"))
		return O_EBUSY;
	if (has_prefix(msg, "Invalid argument:"))
		return O_EINVAL;
	if (has_prefix(msg, "NotFound:") || has_prefix(msg, "Not found:"))
		return O_ENOTFOUND;
	return O_EIO;
}

/*
 * Classify and free a RocksDB error string; the detail becomes
 * "<what>: <rocksdb text>".
 */
static o_err __attribute__((format(printf, 2, 3)))
rdb_fail(char *err, const char *fmt, ...)
{
	char    what[256];
	va_list ap;
	o_err   e = ost_rdb_classify(err);

	va_start(ap, fmt);
	vsnprintf(what, sizeof(what), fmt, ap);
	va_end(ap);
	o_err_set(e, "%s: %s", what, err ? err : "(no message)");
	rocksdb_free(err);
	return e;
}

static void
rdb_free_handles(struct ost_rdb *r)
{
	size_t i;

	for (i = 0; i < OST_CF_COUNT; i++) {
		if (r->cf[i] != NULL)
			rocksdb_column_family_handle_destroy(r->cf[i]);
		r->cf[i] = NULL;
	}
	for (i = 0; i < r->nextra; i++)
		rocksdb_column_family_handle_destroy(r->extra[i]);
	free(r->extra);
	r->extra  = NULL;
	r->nextra = 0;
}

static void
rdb_free(struct ost_rdb *r)
{
	rdb_free_handles(r);
	if (r->db != NULL)
		rocksdb_close(r->db);
	if (r->ro != NULL)
		rocksdb_readoptions_destroy(r->ro);
	if (r->wo_sync != NULL)
		rocksdb_writeoptions_destroy(r->wo_sync);
	if (r->wo_nosync != NULL)
		rocksdb_writeoptions_destroy(r->wo_nosync);
	if (r->opts != NULL)
		rocksdb_options_destroy(r->opts);
	if (r->env != NULL) /* after the database that used it */
		rocksdb_env_destroy(r->env);
	free(r->dir);
	free(r);
}

/*
 * Bloom filters (10 bits per key, whole keys).  Without them a point read
 * looks in every level-0 table whose key range covers the key, and keys
 * are random block ids, so after a burst of writes (many level-0 tables)
 * it read and decompressed a data block of each (up to ~0.5 MiB for a
 * materialised log block) to learn the key was not there.  The filters
 * cost ~1.25 bytes per key, kept with each open table.
 */
static void
rdb_set_filters(rocksdb_options_t *opts)
{
	rocksdb_block_based_table_options_t *bbo =
	    rocksdb_block_based_options_create();

	rocksdb_block_based_options_set_filter_policy(
	    bbo, rocksdb_filterpolicy_create_bloom_full(10));
	rocksdb_options_set_block_based_table_factory(opts, bbo);
	rocksdb_block_based_options_destroy(bbo); /* the factory has a copy */
}

/*
 * Large values in blob files (RocksDB's integrated BlobDB), LZ4 as the
 * tables.  Keys are random block ids, so every level-0 table overlaps all
 * of level 1 and each compaction into level 1 rewrote all of it; with
 * compressible data level 1 stays small on disk and that rewrite (LZ4
 * decompression and compression of everything stored) went on for the
 * whole write, and for seconds after it.  Writing a 1 GiB diary of log
 * lines, ~38 s of compaction CPU against ~50 s of writing; it took a third
 * of the two cores from the first read after the write.  In blob files a
 * value is written by the flush; compaction moves its key and a
 * reference, and rewrites a blob again only when it relocates the live
 * blobs of the oldest quarter of the blob files (garbage collection,
 * RocksDB's default cutoff), which frees the blobs of revisions that
 * pruning deleted (bounded history, store/repo.c).  Garbage waits for
 * compactions (no forced collection).  Iterators read each blob they
 * stop on (RocksDB 7.8's C API cannot skip values): the pruning and
 * revision scans of store/repo.c read the values of the keys they visit,
 * as they read the tables' data blocks before.
 * Measured (docs/BENCHMARKS.md, fifteenth run): 1 GiB diary written,
 * then read at once, 500 -> 970 MB/s; a 1 GiB file written at 18 -> 51
 * MB/s; six overwrites of a 256 MiB file leave 600 MB on disk instead of
 * 940 MB - 1.5 GB.  Stores written before stay readable, and their large
 * values move to blob files when their tables are next compacted; a
 * build without this setting still reads blob files.
 */
static void
rdb_set_blobs(rocksdb_options_t *opts)
{
	rocksdb_options_set_enable_blob_files(opts, 1);
	rocksdb_options_set_min_blob_size(opts, RDB_MIN_BLOB_BYTES);
	rocksdb_options_set_blob_compression_type(
	    opts, rocksdb_lz4_compression);
	rocksdb_options_set_enable_blob_gc(opts, 1);
}

/*
 * The store format.  The "default" family holds one key, RDB_FORMAT_KEY,
 * whose value is the format number in decimal: written when a store is
 * created (or opened with our families but no record and no marker: a
 * creation that stopped early), checked at every open, so a store written by
 * another format fails with a message instead of being misread.  Raise
 * OST_FORMAT with any change to how records are laid out.
 */
#define RDB_FORMAT_KEY "optimfs.format"

/* A name RocksDB itself leaves in a database directory. */
static bool
rdb_own_name(const char *n)
{
	static const char *const pre[] = { "LOCK", "LOG", "IDENTITY",
		"MANIFEST-", "OPTIONS-", "CURRENT" };
	static const char *const suf[] = { ".log", ".sst", ".blob", ".dbtmp" };
	size_t                   i, len = strlen(n), sl;

	for (i = 0; i < O_NELEM(pre); i++)
		if (strncmp(n, pre[i], strlen(pre[i])) == 0)
			return true;
	for (i = 0; i < O_NELEM(suf); i++) {
		sl = strlen(suf[i]);
		if (len > sl && strcmp(n + len - sl, suf[i]) == 0)
			return true;
	}
	return false;
}

/*
 * Refuse a directory that holds files but no database (no CURRENT):
 * RocksDB would create a new one among them.  A directory with RocksDB's
 * own files only is a creation that was interrupted, and is let through.
 */
static o_err
rdb_check_dir(const char *dir)
{
	DIR           *d = opendir(dir);
	struct dirent *de;
	char           other[256] = "";
	bool           current = false;

	if (d == NULL)
		return O_OK; /* missing: created; anything else: open says */
	while ((de = readdir(d)) != NULL) {
		if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
			continue;
		if (strcmp(de->d_name, "CURRENT") == 0)
			current = true;
		else if (other[0] == '\0' && !rdb_own_name(de->d_name))
			snprintf(other, sizeof(other), "%s", de->d_name);
	}
	closedir(d);
	if (current || other[0] == '\0')
		return O_OK;
	return o_err_set(O_EINVAL,
	    "store %s: the directory holds other files (%s) and no RocksDB "
	    "database (no CURRENT file): not an optimfs store, and none is "
	    "created among them",
	    dir, other);
}

/* A marker's value: O_OK when it names a format this build opens
 * (*fmt_out, unless NULL, is that format). */
static o_err
format_value_check(const char *dir, const char *v, size_t vlen, long *fmt_out)
{
	char  num[32], *end;
	long  fmt;

	snprintf(num, sizeof(num), "%.*s", (int) O_MIN(vlen, 31), v);
	errno = 0;
	fmt   = strtol(num, &end, 10);
	if (vlen == 0 || vlen > 31 || *end != '\0' || errno != 0 || fmt <= 0)
		return o_err_set(O_ECORRUPT,
		    "store %s: the format marker (key \"%s\") is unreadable: "
		    "\"%s\" (%zu bytes)",
		    dir, RDB_FORMAT_KEY, num, vlen);
	if (fmt < OST_FORMAT_OLDEST || fmt > OST_FORMAT)
		return o_err_set(O_EINVAL,
		    "store %s is in format %ld, written by %s optimfs; this "
		    "build reads formats %d to %d only",
		    dir, fmt, fmt > OST_FORMAT ? "a newer" : "an older",
		    OST_FORMAT_OLDEST, OST_FORMAT);
	if (fmt_out != NULL)
		*fmt_out = fmt;
	return O_OK;
}

/*
 * A store of ours without a marker: a creation that stopped before it was
 * marked (our families empty: O_OK), or one written before
 * the marker existed (a record in one of our families: format 1, refused).
 * h[0..n): handles of the families named in names (others are skipped).
 */
static o_err
format_unmarked(rocksdb_t *db, rocksdb_readoptions_t *ro, const char *dir,
    rocksdb_column_family_handle_t **h, const char *const *names, size_t n)
{
	size_t i, j;
	bool   data = false;
	char  *err  = NULL;

	for (i = 0; i < n && !data; i++) {
		rocksdb_iterator_t *it;

		for (j = 0; j < OST_CF_COUNT; j++)
			if (strcmp(names[i], ost_cf_names[j]) == 0)
				break;
		if (j == OST_CF_COUNT)
			continue;
		it = rocksdb_create_iterator_cf(db, ro, h[i]);
		rocksdb_iter_seek_to_first(it);
		data = rocksdb_iter_valid(it);
		rocksdb_iter_get_error(it, &err);
		rocksdb_iter_destroy(it);
		if (err != NULL)
			return rdb_fail(err,
			    "store %s: look for records in family %s "
			    "(no format marker)",
			    dir, names[i]);
	}
	if (!data)
		return O_OK;
	return o_err_set(O_EINVAL,
	    "store %s is in format 1 (it has no format marker), written by "
	    "an older optimfs; this build reads formats %d to %d only",
	    dir, OST_FORMAT_OLDEST, OST_FORMAT);
}

/*
 * A database that exists (families found) but lacks some of our families
 * is looked at read-only before the writable open, which would create
 * them in it: its marker must name our format; without one it must be
 * ours (a "meta" family: format_unmarked) or a creation that stopped
 * before our families were made (only an empty "default"); anything else
 * is another program's database.  One that has all our
 * families (every store of ours) is checked after the writable open
 * (rdb_mark_format), so a mount replays its WAL once, not twice.
 */
static o_err
rdb_check_existing(struct ost_rdb *r, const char *dir, char **found,
    size_t nfound)
{
	const rocksdb_options_t        **co;
	rocksdb_column_family_handle_t **h;
	rocksdb_t                       *db;
	rocksdb_iterator_t              *it;
	char                            *err = NULL, *v, list[256] = "";
	size_t                           i, vlen, len = 0, def = nfound;
	bool                             meta = false, empty;
	size_t                           ours = 0, j;
	o_err                            e = O_OK;

	for (i = 0; i < nfound; i++)
		for (j = 0; j < OST_CF_COUNT; j++)
			ours += strcmp(found[i], ost_cf_names[j]) == 0;
	if (nfound == 0 || ours == OST_CF_COUNT)
		return O_OK;
	co = o_calloc(nfound, sizeof(*co));
	h  = o_calloc(nfound, sizeof(*h));
	for (i = 0; i < nfound; i++) {
		co[i] = r->opts;
		if (strcmp(found[i], "default") == 0)
			def = i;
		if (strcmp(found[i], ost_cf_names[OST_CF_META]) == 0)
			meta = true;
		if (len < sizeof(list))
			len += (size_t) snprintf(list + len, sizeof(list) - len,
			    "%s%s", i ? ", " : "", found[i]);
	}
	db = rocksdb_open_for_read_only_column_families(r->opts, dir,
	    (int) nfound, (const char *const *) found, co, h, 0, &err);
	if (err != NULL) {
		e = rdb_fail(err, "open RocksDB in %s", dir);
		goto out_free;
	}
	if (def == nfound) { /* RocksDB always has it: not expected */
		e = o_err_set(O_ECORRUPT,
		    "store %s: no \"default\" column family (it has: %s)", dir,
		    list);
		goto out_close;
	}
	v = rocksdb_get_cf(db, r->ro, h[def], RDB_FORMAT_KEY,
	    strlen(RDB_FORMAT_KEY), &vlen, &err);
	if (err != NULL) {
		e = rdb_fail(err, "read the format marker of store %s", dir);
		goto out_close;
	}
	if (v != NULL) {
		e = format_value_check(dir, v, vlen, NULL);
		rocksdb_free(v);
		goto out_close;
	}
	if (meta) { /* ours: from before the marker, or half created */
		e = format_unmarked(
		    db, r->ro, dir, h, (const char *const *) found, nfound);
		goto out_close;
	}
	it = rocksdb_create_iterator_cf(db, r->ro, h[def]);
	rocksdb_iter_seek_to_first(it);
	empty = !rocksdb_iter_valid(it);
	rocksdb_iter_destroy(it);
	if (nfound == 1 && empty)
		goto out_close; /* a creation that stopped early */
	e = o_err_set(O_EINVAL,
	    "store %s: a RocksDB database without optimfs's column families "
	    "(it has: %s%s): not an optimfs store",
	    dir, list, empty ? "" : "; \"default\" holds data");
out_close:
	for (i = 0; i < nfound; i++)
		rocksdb_column_family_handle_destroy(h[i]);
	rocksdb_close(db);
out_free:
	free(h);
	free(co);
	return e;
}

/* After the writable open: mark a store that has no marker yet. */
static o_err
rdb_mark_format(struct ost_rdb *r)
{
	char  *err = NULL, *v, num[32];
	size_t vlen;
	long   fmt = 0;
	o_err  e;

	v = rocksdb_get_cf(r->db, r->ro, r->extra[0], RDB_FORMAT_KEY,
	    strlen(RDB_FORMAT_KEY), &vlen, &err);
	if (err != NULL)
		return rdb_fail(err, "read the format marker of store %s",
		    r->dir);
	if (v != NULL) {
		e = format_value_check(r->dir, v, vlen, &fmt);
		rocksdb_free(v);
		if (e != O_OK || fmt == OST_FORMAT)
			return e;
		/* an older format this build reads: from now on it may
		 * write records that one does not (the marker first) */
		o_log(O_LOG_INFO, "store %s: format %ld upgraded to %d",
		    r->dir, fmt, OST_FORMAT);
	} else if ((e = format_unmarked(r->db, r->ro, r->dir, r->cf,
	                ost_cf_names, OST_CF_COUNT)) != O_OK) {
		/* no marker: a creation that stopped before writing it,
		 * or a store from before the marker */
		return e;
	}
	snprintf(num, sizeof(num), "%d", OST_FORMAT);
	rocksdb_put_cf(r->db, r->wo_sync, r->extra[0], RDB_FORMAT_KEY,
	    strlen(RDB_FORMAT_KEY), num, strlen(num), &err);
	if (err != NULL)
		return rdb_fail(
		    err, "write the format marker of store %s", r->dir);
	return O_OK;
}

o_err
ost_rdb_open(const char *dir, struct ost_rdb **out)
{
	struct ost_rdb                  *r;
	char                           **found  = NULL;
	size_t                           nfound = 0, i, j, ncf;
	const char                     **names;
	const rocksdb_options_t        **cfopts;
	rocksdb_column_family_handle_t **handles;
	char                            *err = NULL;
	o_err                            e   = O_OK;

	*out    = NULL;
	r       = o_calloc(1, sizeof(*r));
	r->dir  = o_strdup(dir);
	r->opts = rocksdb_options_create();
	rocksdb_options_set_create_if_missing(r->opts, 1);
	rocksdb_options_set_create_missing_column_families(r->opts, 1);
	rocksdb_options_set_info_log_level(r->opts, RDB_LOG_HEADER_ONLY);
	rocksdb_options_set_keep_log_file_num(r->opts, 4);
	/* logs preallocated by extending them: a commit's fdatasync then
	 * need not write a new file size (store/rdb_wal.cc) */
	if ((r->env = ost_rdb_wal_env()) != NULL)
		rocksdb_options_set_env(r->opts, r->env);
	else
		o_log(O_LOG_WARN,
		    "store %s: RocksDB's log environment could "
		    "not be made; logs grow at each commit (slower "
		    "synced writes, nothing else changes)",
		    dir);
	/* RocksDB's default, stated: replay up to the first bad record.  The
	 * preallocated logs depend on it (a killed process leaves zeros past
	 * the last record, and perhaps a torn record before them, which the
	 * stricter modes refuse); a synced commit is never past that point. */
	rocksdb_options_set_wal_recovery_mode(
	    r->opts, 2 /* kPointInTimeRecovery */);
	/* Bounded memory: the defaults (64 MiB memtables, two per family,
	 * four families) let a 1 GiB file write hold ~0.5 GB in memtables. */
	rocksdb_options_set_write_buffer_size(r->opts, RDB_MEMTABLE_BYTES);
	rocksdb_options_set_max_write_buffer_number(r->opts, 2);
	rocksdb_options_set_db_write_buffer_size(r->opts, RDB_MEMTABLES_BYTES);
	r->resume_free = rocksdb_options_get_write_buffer_size(r->opts);
	/* LZ4, not the default Snappy: reading a log block or a chunk back
	 * decompresses up to ~0.5 MiB, and Snappy's decompression was a
	 * third of a diary read's CPU (docs/BENCHMARKS.md, 2026-11-21).
	 * Files written with Snappy stay readable (the type is per block). */
	rocksdb_options_set_compression(r->opts, rocksdb_lz4_compression);
	rdb_set_filters(r->opts);
	rdb_set_blobs(r->opts);
	/* Writers wait without spinning, and the group's leader inserts
	 * the whole group into the memtable: with RocksDB's defaults each
	 * writer spun on a 2-vCPU machine, then inserted its own batch and
	 * woke again to finish (docs/BENCHMARKS.md, eighteenth run). */
	rocksdb_options_set_enable_write_thread_adaptive_yield(r->opts, 0);
	rocksdb_options_set_allow_concurrent_memtable_write(r->opts, 0);

	r->wo_sync = rocksdb_writeoptions_create();
	rocksdb_writeoptions_set_sync(r->wo_sync, 1);
	r->wo_nosync = rocksdb_writeoptions_create();
	rocksdb_writeoptions_set_sync(r->wo_nosync, 0);
	r->ro = rocksdb_readoptions_create();

	/* Families already on disk (fails harmlessly for a new database). */
	found = rocksdb_list_column_families(r->opts, dir, &nfound, &err);
	if (err != NULL) {
		/* it still returns an (empty) malloc'ed array */
		if (found != NULL)
			rocksdb_list_column_families_destroy(found, nfound);
		rocksdb_free(err);
		err    = NULL;
		found  = NULL;
		nfound = 0;
	}
	if ((e = rdb_check_dir(dir)) != O_OK ||
	    (e = rdb_check_existing(r, dir, found, nfound)) != O_OK) {
		if (found != NULL)
			rocksdb_list_column_families_destroy(found, nfound);
		rdb_free(r);
		return e;
	}
	ncf      = 1 + OST_CF_COUNT + nfound;
	names    = o_calloc(ncf, sizeof(*names));
	cfopts   = o_calloc(ncf, sizeof(*cfopts));
	handles  = o_calloc(ncf, sizeof(*handles));
	names[0] = "default";
	for (i = 0; i < OST_CF_COUNT; i++)
		names[1 + i] = ost_cf_names[i];
	ncf = 1 + OST_CF_COUNT;
	for (i = 0; i < nfound; i++) {
		for (j = 0; j < ncf; j++)
			if (strcmp(names[j], found[i]) == 0)
				break;
		if (j == ncf)
			names[ncf++] = found[i];
	}
	for (i = 0; i < ncf; i++)
		cfopts[i] = r->opts;

	r->db = rocksdb_open_column_families(
	    r->opts, dir, (int) ncf, names, cfopts, handles, &err);
	if (err != NULL) {
		r->db = NULL;
		e     = rdb_fail(err, "open RocksDB in %s", dir);
		goto out_free_lists;
	}
	for (i = 0; i < OST_CF_COUNT; i++)
		r->cf[i] = handles[1 + i];
	r->nextra   = ncf - OST_CF_COUNT;
	r->extra    = o_calloc(r->nextra, sizeof(*r->extra));
	r->extra[0] = handles[0];
	for (i = 1 + OST_CF_COUNT, j = 1; i < ncf; i++, j++)
		r->extra[j] = handles[i];
	if ((e = rdb_mark_format(r)) != O_OK)
		goto out_free_lists;
	*out = r;
	r    = NULL;

out_free_lists:
	free(handles);
	free(cfopts);
	free(names);
	if (found != NULL)
		rocksdb_list_column_families_destroy(found, nfound);
	if (r != NULL)
		rdb_free(r);
	return e;
}

/*
 * Sync the WAL with an empty synced write (not rocksdb_flush_wal(): see
 * the design notes).  Returns RocksDB's text in *errp (caller frees).
 */
static void
rdb_sync_wal(struct ost_rdb *db, char **errp)
{
	rocksdb_writebatch_t *b = rocksdb_writebatch_create();

	rocksdb_write(db->db, db->wo_sync, b, errp);
	rocksdb_writebatch_destroy(b);
}

void
ost_rdb_close(struct ost_rdb *db)
{
	char *err = NULL;

	if (db == NULL)
		return;
	rdb_sync_wal(db, &err);
	if (err != NULL) {
		o_log(O_LOG_WARN, "close RocksDB in %s: WAL sync failed: %s",
		    db->dir, err);
		rocksdb_free(err);
	}
	rdb_free(db);
}

static bool sum_ok(const void *key, size_t klen, const void *v,
    size_t *vlen);

/*
 * Log the start (error) and the end (info) of a run of writes failing for
 * lack of space; the detail of e is kept.
 */
static void
rdb_note_write(struct ost_rdb *db, o_err e)
{
	if (e == O_ENOSPC) {
		if (!atomic_exchange(&db->nospc, true))
			o_log(O_LOG_ERROR,
			    "store %s: disk full, writes fail with ENOSPC "
			    "(nothing acknowledged is lost); RocksDB resumes "
			    "writing by itself once %zu MiB are free on that "
			    "disk (it checks every 5 s): %s",
			    db->dir, db->resume_free >> 20, o_err_detail());
	} else if (e == O_OK && atomic_load(&db->nospc) &&
	    atomic_exchange(&db->nospc, false)) {
		o_log(O_LOG_INFO,
		    "store %s: writes work again after disk full", db->dir);
	}
}

o_err
ost_rdb_get_fn(struct ost_rdb *db, enum ost_cf cf, const void *key,
    size_t klen, ost_val_fn fn, void *arg, bool *found)
{
	rocksdb_pinnableslice_t *ps;
	const char              *v;
	size_t                   vlen = 0;
	char                    *err  = NULL;
	o_err                    e    = O_OK;

	*found = false;
	ps     = rocksdb_get_pinned_cf(
	        db->db, db->ro, db->cf[cf], (const char *) key, klen, &err);
	if (err != NULL)
		return rdb_fail(
		    err, "read from column family %s", ost_cf_names[cf]);
	if (ps == NULL)
		return O_OK;
	v = rocksdb_pinnableslice_value(ps, &vlen);
	if (v != NULL) {
		if (!sum_ok(key, klen, v, &vlen)) {
			char hex[2 * 40 + 1];

			e = o_err_set(O_ECORRUPT,
			    "checksum mismatch in column family %s at key %s",
			    ost_cf_names[cf],
			    o_hex(key, klen > 40 ? 40 : klen, hex));
		} else {
			*found = true;
			e      = fn(arg, (const uint8_t *) v, vlen);
		}
	}
	rocksdb_pinnableslice_destroy(ps);
	return e;
}

static o_err
get_copy(void *arg, const uint8_t *v, size_t n)
{
	return o_buf_append(arg, v, n);
}

o_err
ost_rdb_get(struct ost_rdb *db, enum ost_cf cf, const void *key, size_t klen,
    struct o_buf *out, bool *found)
{
	o_buf_reset(out);
	return ost_rdb_get_fn(db, cf, key, klen, get_copy, out, found);
}

o_err
ost_rdb_write(
    struct ost_rdb *db, struct ost_wb *const *wbs, size_t n, bool sync)
{
	rocksdb_writebatch_t *b;
	size_t                i, off, total = 0;
	char                 *err = NULL;
	o_err                 e   = O_OK;

	for (i = 0; i < n; i++)
		total += wbs[i]->n;
	if (total == 0)
		return O_OK;
	b = rocksdb_writebatch_create();
	for (i = 0; i < n; i++) {
		const uint8_t *p = wbs[i]->buf.data;

		for (off = 0; off < wbs[i]->buf.len;) {
			struct wb_rec h;
			const char   *k, *v;

			memcpy(&h, p + off, sizeof(h));
			k = (const char *) p + off + sizeof(h);
			v = k + h.klen;
			if (h.del)
				rocksdb_writebatch_delete_cf(
				    b, db->cf[h.cf], k, h.klen);
			else
				rocksdb_writebatch_put_cf(
				    b, db->cf[h.cf], k, h.klen, v, h.vlen);
			off += sizeof(h) + h.klen + h.vlen;
		}
	}
	rocksdb_write(db->db, sync ? db->wo_sync : db->wo_nosync, b, &err);
	if (err != NULL)
		e = rdb_fail(err, "%s write of %zu record(s) to %s",
		    sync ? "synced" : "unsynced", total, db->dir);
	rocksdb_writebatch_destroy(b);
	rdb_note_write(db, e);
	return e;
}

o_err
ost_rdb_sync_wal(struct ost_rdb *db)
{
	char *err = NULL;
	o_err e   = O_OK;

	rdb_sync_wal(db, &err);
	if (err != NULL)
		e = rdb_fail(err, "sync WAL of %s", db->dir);
	rdb_note_write(db, e);
	return e;
}

void
ost_wb_init(struct ost_wb *wb)
{
	memset(wb, 0, sizeof(*wb));
}

void
ost_wb_fini(struct ost_wb *wb)
{
	o_buf_fini(&wb->buf);
	wb->n = 0;
}

void
ost_wb_reset(struct ost_wb *wb)
{
	o_buf_reset(&wb->buf);
	wb->n = 0;
}

static void
wb_add(struct ost_wb *wb, enum ost_cf cf, bool del, const void *key,
    size_t klen, const void *val, size_t vlen)
{
	struct wb_rec h;

	h.cf   = (uint8_t) cf;
	h.del  = del;
	h.klen = (uint32_t) klen;
	h.vlen = (uint32_t) vlen;
	if (o_buf_reserve(&wb->buf, sizeof(h) + klen + vlen) != O_OK)
		abort(); /* like o_malloc: out of memory is fatal */
	o_buf_append(&wb->buf, &h, sizeof(h));
	o_buf_append(&wb->buf, key, klen);
	if (!del && vlen >= OST_SUM_LEN) {
		/* put: the last OST_SUM_LEN bytes are filled in by the caller */
		o_buf_append(&wb->buf, val, vlen - OST_SUM_LEN);
		o_buf_reserve(&wb->buf, OST_SUM_LEN);
		wb->buf.len += OST_SUM_LEN;
	} else {
		o_buf_append(&wb->buf, val, vlen);
	}
	wb->n++;
}

/* The OST_SUM_LEN bytes of (key, value)'s checksum. */
static void
sum_of(const void *key, size_t klen, const void *v, size_t vlen,
    uint8_t sum[OST_SUM_LEN])
{
	uint32_t c = o_crc32c(o_crc32c(0, key, klen), v, vlen);

	sum[0] = (uint8_t) c;
	sum[1] = (uint8_t) (c >> 8);
	sum[2] = (uint8_t) (c >> 16);
	sum[3] = (uint8_t) (c >> 24);
}

/*
 * Every stored value ends with OST_SUM_LEN bytes of CRC-32C(key || value):
 * a flipped bit anywhere in a record (or a record moved to another key) is
 * reported as O_ECORRUPT naming the family, instead of being decoded as
 * different but well-formed data.  RocksDB's own block checksums do not
 * cover what a writer (or a bad disk under a put) stored.  CRC-32C, not a
 * cryptographic hash: it finds every burst of up to 32 flipped bits and
 * misses one random corruption in 4 billion.  It is no defence against
 * forged records: peers are authenticated by TLS with the cluster's CA,
 * and a diary's entries by its hash chain.  SHA-256 (format 1) cost ~20 %
 * of a diary read's CPU.
 */
void
ost_wb_put(struct ost_wb *wb, enum ost_cf cf, const void *key, size_t klen,
    const void *val, size_t vlen)
{
	uint8_t sum[OST_SUM_LEN];

	sum_of(key, klen, val, vlen, sum);
	wb_add(wb, cf, false, key, klen, val, vlen + OST_SUM_LEN);
	/* wb_add copied vlen bytes of val and reserved the tail: fill it */
	memcpy(wb->buf.data + wb->buf.len - OST_SUM_LEN, sum, OST_SUM_LEN);
}

void
ost_wb_put_raw(struct ost_wb *wb, enum ost_cf cf, const void *key,
    size_t klen, const void *val, size_t vlen)
{
	struct wb_rec h = { .cf = (uint8_t) cf, .del = false,
		.klen = (uint32_t) klen, .vlen = (uint32_t) vlen };

	o_buf_append(&wb->buf, &h, sizeof(h));
	o_buf_append(&wb->buf, key, klen);
	o_buf_append(&wb->buf, val, vlen);
	wb->n++;
}

const uint8_t *
ost_it_val_raw(const struct ost_it *it, size_t *len)
{
	return (const uint8_t *) rocksdb_iter_value(it->it, len);
}

/* Check and strip the checksum of (key, v, *vlen); false on mismatch. */
static bool
sum_ok(const void *key, size_t klen, const void *v, size_t *vlen)
{
	uint8_t sum[OST_SUM_LEN];

	if (*vlen < OST_SUM_LEN)
		return false;
	*vlen -= OST_SUM_LEN;
	sum_of(key, klen, v, *vlen, sum);
	return memcmp(sum, (const uint8_t *) v + *vlen, OST_SUM_LEN) == 0;
}

void
ost_wb_del(struct ost_wb *wb, enum ost_cf cf, const void *key, size_t klen)
{
	wb_add(wb, cf, true, key, klen, NULL, 0);
}

o_err
ost_it_open(struct ost_rdb *db, enum ost_cf cf, const void *lo, size_t lolen,
    const void *hi, size_t hilen, struct ost_it **out)
{
	struct ost_it *it;

	if (lolen > OST_KEY_MAX || hilen > OST_KEY_MAX)
		return o_err_set(
		    O_EINVAL, "iterator bound longer than %d", OST_KEY_MAX);
	it     = o_calloc(1, sizeof(*it));
	it->ro = rocksdb_readoptions_create();
	if (lo != NULL) {
		memcpy(it->lo, lo, lolen);
		rocksdb_readoptions_set_iterate_lower_bound(
		    it->ro, (const char *) it->lo, lolen);
	}
	if (hi != NULL) {
		memcpy(it->hi, hi, hilen);
		rocksdb_readoptions_set_iterate_upper_bound(
		    it->ro, (const char *) it->hi, hilen);
	}
	it->it = rocksdb_create_iterator_cf(db->db, it->ro, db->cf[cf]);
	*out   = it;
	return O_OK;
}

void
ost_it_close(struct ost_it *it)
{
	if (it == NULL)
		return;
	rocksdb_iter_destroy(it->it);
	rocksdb_readoptions_destroy(it->ro);
	free(it);
}

void
ost_it_first(struct ost_it *it)
{
	rocksdb_iter_seek_to_first(it->it);
}

void
ost_it_last(struct ost_it *it)
{
	rocksdb_iter_seek_to_last(it->it);
}

void
ost_it_seek(struct ost_it *it, const void *key, size_t klen)
{
	rocksdb_iter_seek(it->it, (const char *) key, klen);
}

void
ost_it_seek_for_prev(struct ost_it *it, const void *key, size_t klen)
{
	rocksdb_iter_seek_for_prev(it->it, (const char *) key, klen);
}

bool
ost_it_valid(const struct ost_it *it)
{
	return rocksdb_iter_valid(it->it) != 0;
}

void
ost_it_next(struct ost_it *it)
{
	rocksdb_iter_next(it->it);
}

void
ost_it_prev(struct ost_it *it)
{
	rocksdb_iter_prev(it->it);
}

const uint8_t *
ost_it_key(const struct ost_it *it, size_t *len)
{
	return (const uint8_t *) rocksdb_iter_key(it->it, len);
}

const uint8_t *
ost_it_val(const struct ost_it *it, size_t *len)
{
	const uint8_t *v = (const uint8_t *) rocksdb_iter_value(it->it, len);
	size_t         klen;
	const char    *k = rocksdb_iter_key(it->it, &klen);

	if (!sum_ok(k, klen, v, len)) {
		*len = 0; /* decoding nothing fails: reported as corrupt */
		return (const uint8_t *) "";
	}
	return v;
}

o_err
ost_it_status(const struct ost_it *it)
{
	char *err = NULL;

	rocksdb_iter_get_error(it->it, &err);
	if (err != NULL)
		return rdb_fail(err, "iterate");
	return O_OK;
}
