/*
 * ns.h - the optimfs namespace: inodes, directories, regular files and
 * diaries on top of collections (DESIGN.md section 6).  No FUSE here:
 * fs/fuse_ll.c translates FUSE requests into these calls, and tests drive
 * them directly.
 *
 * Model.
 *   - A directory is a Tree collection.  The root directory's collection
 *     id is SHA-256("optimfs:root").  Keys are entry names (bytes, 1..255,
 *     no '/' or NUL); values are a directory entry record:
 *
 *       field  CBOR     meaning
 *       "k"    text     kind: "d" directory, "f" regular file, "y" diary
 *       "id"   bytes32  object id: the collection of a directory or diary;
 *                       a random id for a regular file (its inode identity)
 *       "mode" int      permission bits (07777)
 *       "mt"   int      mtime, ns since the epoch
 *       "ct"   int      ctime, ns since the epoch
 *       "sz"   int      size of a regular file
 *       "d"    bytes    a regular file's contents (the tree chunks values
 *                       larger than OC_INLINE_MAX)
 *       "x"    map      user xattrs: name -> bytes
 *
 *   - A regular file's contents live in its entry.  A diary is a Diary
 *     collection; each appended line is one entry, and its contents are
 *     the concatenation of its entries in commit order.
 *   - Inode numbers are local to a mount: 1 is the root; others are
 *     assigned at lookup and map to (parent directory, name, object id).
 *
 * Durability.  Changes apply to the mount's local snapshot at once (a
 * reader sees its own writes) and are committed by ofs_ns_flush / fsync
 * (wait until committed) or by the background committer every
 * commit_interval_ms.  With async=true, flush only queues.
 *
 * Errors are o_err; fs/errmap.c maps them to errno.  EPERM-class refusals
 * on diaries are O_EPERM.  All functions are thread-safe.
 */
#ifndef OFS_NS_H
#define OFS_NS_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "core/transactor.h"

#define OFS_ROOT_INO 1
#define OFS_NAME_MAX 255

enum ofs_kind { OFS_DIR = 'd', OFS_FILE = 'f', OFS_DIARY = 'y' };

struct ofs_attr {
	uint64_t ino;
	uint8_t  kind; /* enum ofs_kind */
	uint32_t mode; /* permission bits only */
	uint64_t size; /* file/diary bytes; directories: number of entries */
	int64_t  mtime_ns, ctime_ns;
	uint32_t nlink;
};

struct ofs_ns_opts {
	bool    async;              /* flush/close return at once */
	int64_t commit_interval_ms; /* background commit bound; 0: 100 */
};

struct ofs_ns;

/* Open the namespace over tx (creating the root on first use). */
o_err ofs_ns_open(struct oc_transactor *tx, const struct ofs_ns_opts *opts,
    struct ofs_ns **out);
/* Commit everything pending, stop the committer, free. */
o_err ofs_ns_close(struct ofs_ns *ns);

/* Lookup of name in directory ino: O_ENOTFOUND, O_ENOTDIR. */
o_err ofs_lookup(struct ofs_ns *ns, uint64_t dir, const char *name,
    struct ofs_attr *out);
o_err ofs_getattr(struct ofs_ns *ns, uint64_t ino, struct ofs_attr *out);
/* Change mode (if set_mode) and/or mtime (if set_mtime). */
o_err ofs_setattr(struct ofs_ns *ns, uint64_t ino, bool set_mode,
    uint32_t mode, bool set_mtime, int64_t mtime_ns, struct ofs_attr *out);
/* Truncate a regular file (up or down); diaries: O_EPERM. */
o_err ofs_truncate(struct ofs_ns *ns, uint64_t ino, uint64_t size);

/* Create: O_EEXIST, O_ENAMETOOLONG, O_EINVAL (name with '/' or empty),
 * O_ENOTDIR (dir is not a directory). */
o_err ofs_mkdir(struct ofs_ns *ns, uint64_t dir, const char *name,
    uint32_t mode, struct ofs_attr *out);
o_err ofs_create(struct ofs_ns *ns, uint64_t dir, const char *name,
    enum ofs_kind kind, uint32_t mode, struct ofs_attr *out);
/* unlink: O_EISDIR for a directory.  rmdir: O_ENOTDIR, O_ENOTEMPTY. */
o_err ofs_unlink(struct ofs_ns *ns, uint64_t dir, const char *name);
o_err ofs_rmdir(struct ofs_ns *ns, uint64_t dir, const char *name);
/* Rename, replacing an existing target of the same kind (a directory
 * only if empty: O_ENOTEMPTY); atomic within one directory. */
o_err ofs_rename(struct ofs_ns *ns, uint64_t dir, const char *name,
    uint64_t newdir, const char *newname);

/* Directory listing in key order starting after `after` (NULL: first).
 * cb returns nonzero to stop. */
typedef int (*ofs_dirent_cb)(void *arg, const char *name,
    const struct ofs_attr *attr);
o_err ofs_readdir(struct ofs_ns *ns, uint64_t dir, const char *after,
    ofs_dirent_cb cb, void *arg);

/* Regular files and diaries. */
o_err ofs_read(struct ofs_ns *ns, uint64_t ino, uint64_t off, size_t len,
    void *buf, size_t *got);
/* Regular file: write at off.  Diary: only append (off must equal the
 * current size or append=true), else O_EPERM. */
o_err ofs_write(struct ofs_ns *ns, uint64_t ino, uint64_t off,
    const void *buf, size_t len, bool append);
/* Wait until everything written to ino is committed (sync mode), or
 * queue it (async).  fsync always waits. */
o_err ofs_flush(struct ofs_ns *ns, uint64_t ino, bool wait);

/* xattrs: user.* stored; user.optimfs.* computed, read-only. */
o_err ofs_getxattr(struct ofs_ns *ns, uint64_t ino, const char *name,
    void *buf, size_t cap, size_t *len);
o_err ofs_setxattr(struct ofs_ns *ns, uint64_t ino, const char *name,
    const void *val, size_t len);
o_err ofs_listxattr(struct ofs_ns *ns, uint64_t ino, void *buf, size_t cap,
    size_t *len);

#endif /* OFS_NS_H */
