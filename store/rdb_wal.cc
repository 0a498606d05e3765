/*
 * rdb_wal.cc - the store's one C++ file: a RocksDB environment whose
 * write-ahead logs are preallocated by extending them.
 *
 * Every synced commit (each one in a cluster or with -o commit=durable;
 * the log syncs of fsync otherwise) is a synced RocksDB write, that is an
 * append to the log and an fdatasync.  RocksDB preallocates each log with
 * fallocate(FALLOC_FL_KEEP_SIZE), so each append still grows the file's
 * size, and each fdatasync must then also write the new size: on this
 * VM's ext4 a write + fdatasync that grows a file took 165-178 us (p50),
 * one into space fallocated inside its size 98-106 us (the extent still
 * changes from unwritten to written, but that cost less here; measured,
 * docs/BENCHMARKS.md, eleventh run).  Here the preallocation extends the
 * file (fallocate without KEEP_SIZE), so the size changes once per
 * preallocated block (write_buffer_size + 10 %), not at every commit.
 *
 * This is RocksDB's own option (FileOptions::fallocate_with_keep_size),
 * which its C API does not reach; hence a file system wrapper.  What it
 * changes stays within RocksDB's design: a log is cut to its written size
 * when it is closed, and the zeros a crash leaves past the last record
 * are the "preallocated region" RocksDB's log reader skips without
 * reporting corruption (record type 0) in the point-in-time recovery mode
 * store/rdb.c sets.  One cost: after a kill, the log's preallocated
 * space (~9 MiB) stays allocated until recovery has replayed and deleted
 * it (RocksDB's truncation of the last log at open cuts nothing now).
 * RocksDB notes that this setting breaks its transaction-log iterator
 * (GetUpdatesSince), which the store does not use.
 */
#include "store/rdb_wal.h"

#include <memory>

#include <rocksdb/env.h>
#include <rocksdb/file_system.h>
#include <rocksdb/version.h>

/* struct rocksdb_env_t below copies RocksDB 7's db/c.cc */
#if ROCKSDB_MAJOR != 7
#error "store/rdb_wal.cc is written for RocksDB 7 (Debian 12 ships 7.8.3)"
#endif

namespace {

class WalExtendFs : public rocksdb::FileSystemWrapper {
    public:
	explicit WalExtendFs(const std::shared_ptr<rocksdb::FileSystem> &t)
	    : FileSystemWrapper(t)
	{
	}

	static const char *kClassName()
	{
		return "OptimfsWalExtendFs";
	}
	const char *Name() const override
	{
		return kClassName();
	}

	rocksdb::FileOptions OptimizeForLogWrite(
	    const rocksdb::FileOptions &fo,
	    const rocksdb::DBOptions   &dbo) const override
	{
		rocksdb::FileOptions o =
		    target()->OptimizeForLogWrite(fo, dbo);

		o.fallocate_with_keep_size = false;
		return o;
	}
};

} // namespace

extern "C" {

/* RocksDB's C API (db/c.cc) defines this struct without exporting it;
 * it is repeated here token for token, as other bindings do, so that
 * rocksdb_options_set_env takes it and rocksdb_env_destroy frees it (and,
 * is_default being false, the environment). */
struct rocksdb_env_t {
	rocksdb::Env *rep;
	bool          is_default;
};

rocksdb_env_t *
ost_rdb_wal_env(void)
{
	try {
		auto fs = std::make_shared<WalExtendFs>(
		    rocksdb::FileSystem::Default());
		std::unique_ptr<rocksdb::Env> env =
		    rocksdb::NewCompositeEnv(fs);

		return new rocksdb_env_t { env.release(), false };
	} catch (...) {
		return nullptr;
	}
}

} // extern "C"
