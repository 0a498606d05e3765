/*
 * rdb_wal.h - a RocksDB environment whose write-ahead logs are
 * preallocated by extending them (store/rdb_wal.cc), so that a synced
 * write's fdatasync need not write the inode each time.
 */
#ifndef OST_RDB_WAL_H
#define OST_RDB_WAL_H

#include <rocksdb/c.h>

#ifdef __cplusplus
extern "C" {
#endif

/* A new environment for rocksdb_options_set_env, or NULL when it could
 * not be made (the default environment then serves).  Free it with
 * rocksdb_env_destroy after the database that uses it is closed. */
rocksdb_env_t *ost_rdb_wal_env(void);

#ifdef __cplusplus
}
#endif

#endif /* OST_RDB_WAL_H */
