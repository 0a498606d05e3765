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
 *                       for a regular file a random id, which also names
 *                       its piece collection
 *       "mode" int      permission bits (07777)
 *       "u"    int      owner's uid, with "g" the group's gid (both or
 *       "g"    int      neither; absent: no owner kept, see ofs_owner)
 *       "mt"   int      mtime, ns since the epoch
 *       "ct"   int      ctime, ns since the epoch
 *       "sz"   int      size of a regular file
 *       "d"    bytes    the contents of a regular file stored inline
 *                       (at most OFS_INLINE_FILE bytes; absent: pieces)
 *       "x"    map      user xattrs: name -> bytes
 *
 *   - A regular file's contents live in its entry or in its piece
 *     collection (see Regular files).  A diary is a Diary
 *     collection; each appended line is one entry, and its contents are
 *     the concatenation of its entries in commit order.
 *   - Inode numbers are local to a mount: 1 is the root; others are
 *     assigned at lookup and map to (parent directory, name, object id).
 *
 * Durability.  Changes apply to the mount's local snapshot at once (a
 * reader sees its own writes) and are committed by ofs_flush (wait until
 * committed) or by the background committer, which syncs every collection
 * with staged work at least every commit_interval_ms, and everything at
 * ofs_ns_close.  Namespace calls (mkdir, create, unlink, rmdir, rename,
 * setattr, setxattr) stage their change and return; like POSIX, a caller
 * that needs it durable at once flushes (fsync) the directory.  Exceptions,
 * for ordering: mkdir and diary creation commit the new collection before
 * staging the parent's entry (a crash in between leaves an unreferenced
 * collection: harmless garbage), a rename across directories commits
 * both directories as one transaction before it returns, and a setattr
 * or setxattr of a diary first commits its queued appends (and in shared
 * mode reads the diary up to date), so it may block on the transactor
 * and fail with that commit, also under async commits.  With a journal
 * (ofs_ns_opts.journal) every staged change is kept in the local store
 * until committed, and replayed by the next mount if the process dies;
 * a diary's appends are kept once a close or fsync acknowledges them
 * (before that they may be held in memory, core/journal.h).
 *
 * Regular files.  A file's bytes are pieces of OFS_PIECE bytes.  A file of
 * at most OFS_INLINE_FILE bytes is stored in its entry ("d"); a larger one
 * in its piece collection, a Tree with the file's object id (key: piece
 * index, 8 bytes big-endian; value: the piece, cut short where the file
 * or its written bytes end; absent: a hole of zeros).  Written pieces stay in
 * memory until they are staged: at flush, at rename, by the committer once the
 * file has been idle for commit_interval_ms, or, past OFS_DIRTY_MAX
 * (ns_impl.h) dirty bytes, by the writer itself, which then commits them
 * before its next write goes on.  Clean pieces are cached within a fixed
 * budget, so memory does not grow with file size.  The pieces commit before
 * the entry that gives the new size.
 *
 * Diaries.  Each complete '\n'-terminated line of a write becomes one
 * append (entry) of the diary collection, in write order.  The bytes after
 * a writer's last newline wait in that writer's own fragment (writers are
 * told apart by the wid argument: the glue passes its open file), and
 * become an entry when the writer completes the line, flushes, or the
 * fragment reaches OFS_DIARY_FRAG_MAX; so concurrent writers never
 * interleave inside a line.  A diary reads as its committed entries
 * (commit order) then this mount's queued appends; fragments are not
 * entries yet and are not visible.  Shared, it reads as its committed
 * entries only (size too): a queued append's place among other mounts'
 * is known at its commit, and what a reader took at an offset must not
 * change under it.  A writer reads what it wrote once it is committed:
 * when its close or fsync returned (commit=async: fsync, or the
 * committer's next round); a non-append write at the size shown is an
 * append too.
 *
 * Errors are o_err; fs/errmap.c maps them to errno.  EPERM-class refusals
 * on diaries are O_EPERM.  Details (o_err_detail) name the path and the
 * cause.  All functions are thread-safe.  Lock order inside: per-diary
 * append lock, namespace mutex, collection latches; no lock of ours is
 * held while a commit (oc_coll_sync) runs.
 *
 * Memory: an inode lives while the kernel holds it or it holds unstored
 * work (a file is then freed at once; one the kernel never counted, and
 * a directory or diary, after opts.inode_idle_ms unused: ofs_ns_forget);
 * a directory or diary also while its collection is open, and a
 * directory while an inode of one of its entries lives.  File pieces:
 * clean ones are dropped beyond a 16 MiB budget, each file's least
 * recently used first; dirty ones are bounded
 * per file, not over all files.  The block caches of the open collections: up
 * to OC_CACHE_MAX_BYTES each and opts.caches_max together, the least recently
 * used dropped first.  An open collection (a few KB besides its cache) is
 * closed once it is clean, unused for opts.inode_idle_ms and its object not
 * held by the kernel, and opened again when next reached; so memory follows
 * what is in use, not everything ever visited.
 */
#ifndef OFS_NS_H
#define OFS_NS_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "core/transactor.h"

#define OFS_ROOT_INO 1
#define OFS_NAME_MAX 255
/* Largest regular file. */
#define OFS_FILE_MAX (1ull << 40)
/* A regular file's bytes are stored in pieces of this size... */
#define OFS_PIECE (256u << 10)
/* ...unless the file is at most this large: then in its entry ("d"). */
#define OFS_INLINE_FILE (64u << 10)
/* A diary fragment (bytes after the last '\n') is appended at this size. */
#define OFS_DIARY_FRAG_MAX (1u << 20)
/* Largest xattr value, as Linux's XATTR_SIZE_MAX. */
#define OFS_XATTR_MAX (64u << 10)

enum ofs_kind { OFS_DIR = 'd', OFS_FILE = 'f', OFS_DIARY = 'y' };

/*
 * The st_ino of the object with id (its first 8 bytes, random for every
 * object, below 2^62): the same on every mount and across restarts, and
 * never the root's (1) or a control file's (OFS_CTL_INO_BASE, 2^62, and
 * up).
 */
static inline uint64_t
ofs_stable_ino(const struct oc_bid *id)
{
	uint64_t v = 0;
	int      i;

	for (i = 0; i < 8; i++)
		v = v << 8 | id->b[i];
	v &= (UINT64_C(1) << 62) - 1;
	return v < 2 ? v + 2 : v;
}

/*
 * Who owns an object, as its record says: own is false for objects
 * created without an owner (before owners were kept, or by a mount that
 * keeps none: the glue keeps them only under -o allow_other), which the
 * glue shows as the mount's user.
 */
struct ofs_owner {
	bool     own;
	uint32_t uid, gid;
};

struct ofs_attr {
	uint64_t ino;  /* the kernel's node id: a slot, reused */
	uint64_t sino; /* st_ino: from the object's id, the same for as
	                  long as the object exists, on every mount */
	uint64_t gen;  /* which use of ino (inos are reused): never 0 */
	uint8_t  kind; /* enum ofs_kind */
	uint32_t mode; /* permission bits only */
	uint64_t size; /* file/diary bytes; directories: number of entries */
	int64_t  mtime_ns, ctime_ns;
	uint32_t nlink; /* 2 for directories, 1 for others, 0 once unlinked */
	struct ofs_owner owner;
	/* a diary holding a writer's unfinished line (or an append under
	 * way): its size grows at that writer's close, which the kernel does
	 * not see as a write, so these attributes must not be cached */
	bool growing;
};

struct oc_journal;

struct ofs_ns_opts {
	bool    async;              /* flush/close return at once */
	int64_t commit_interval_ms; /* background commit bound; 0: 100 */
	/* Where queued, uncommitted actions are kept (NULL: memory only);
	 * borrowed, outlives the namespace.  Run oc_journal_recover on it
	 * before ofs_ns_open. */
	struct oc_journal *journal;
	/*
	 * Other mounts write the same namespace (a cluster node).  Then
	 * ofs_open first brings the object's collection up to date
	 * (close-to-open: an open after another mount's close sees its
	 * change), and ofs_lookup / ofs_getattr do so when what they read
	 * was last brought up to date more than fresh_ms ago.  false (one
	 * node): nothing is refreshed and these calls cost what they did.
	 */
	bool    shared;
	int64_t fresh_ms; /* shared: see above; 0: OFS_FRESH_MS */
	/* memory of all collections' block caches together; 0: 32 MiB */
	uint64_t caches_max;
	/* an inode the kernel does not hold is freed, and a clean
	 * collection whose object it does not hold is closed, after this
	 * long unused (see ofs_ns_forget); 0: OFS_INODE_IDLE_MS */
	int64_t  inode_idle_ms;
	/* tests: called with no lock held before each single collection's
	 * commit, with its kind (OFS_FILE: a file's pieces); NULL: none */
	void (*sync_hook)(void *arg, uint8_t kind);
	void *sync_hook_arg;
};

/* Default of ofs_ns_opts.inode_idle_ms. */
#define OFS_INODE_IDLE_MS 10000

/* In shared mode, how long one commit keeps retrying after lost races
 * to other mounts before it fails (its work stays queued). */
#define OFS_SHARED_SYNC_MS 60000

/* Default bound on the age of what a shared lookup or getattr reads. */
#define OFS_FRESH_MS 100
/* After an open found its entry replaced, how long a lookup in that
 * directory counts as the kernel's revalidation (ofs_lookup). */
#define OFS_REVAL_MS 1000

/* Counters for .optimfs/stats (monotonic since open unless noted). */
struct ofs_ns_stats {
	uint64_t commits;       /* committed transactions (all collections) */
	uint64_t conflicts;     /* commit attempts refused and retried */
	uint64_t bytes_written; /* bytes accepted by ofs_write */
	uint64_t errors;        /* failed commits (flush or background) */
	uint64_t pending;       /* now: queued actions + dirty file buffers */
	uint64_t inodes;        /* now: inodes in the table */
	uint64_t inodes_freed;  /* inodes freed (forgotten or unused) */
	uint64_t collections;   /* now: open collections */
	uint64_t colls_closed;  /* collections closed while idle */
	uint64_t file_bytes;    /* now: file pieces held in memory */
	uint64_t file_pieces;   /* now: file pieces resident */
	uint64_t cache_bytes;   /* now: collections' block caches */
	uint64_t queue_bytes;   /* now: reserved by collections' queues */
	uint64_t caches_dropped; /* caches dropped to stay in caches_max */
};

struct ofs_ns;
struct oc_collection;

/*
 * Open the namespace over tx (borrowed; must outlive the namespace),
 * creating and committing the root directory on first use, and start the
 * background committer.  opts may be NULL (sync mode, 100 ms).  Blocks on
 * the transactor.  Errors from opening or committing the root.
 */
o_err ofs_ns_open(struct oc_transactor *tx, const struct ofs_ns_opts *opts,
    struct ofs_ns **out);
/*
 * Commit everything pending (dirty file buffers, diary fragments, staged
 * namespace changes), bring every commit to disk (oc_tx_sync), stop the
 * committer, free.  Returns the first commit or sync error (the namespace
 * is freed regardless; that work is lost).  No other
 * call may be running or start.
 */
o_err ofs_ns_close(struct ofs_ns *ns);

/*
 * Lookup of name in directory ino: O_ENOTFOUND, O_ENOTDIR,
 * O_ENAMETOOLONG, O_EINVAL (empty name, '/', "." or "..").  May block on
 * the store.
 *
 * Inode lifetime.  ofs_lookup, ofs_create and ofs_mkdir hand out an entry
 * the kernel counts: each success adds one to the inode's lookup count,
 * and so does ofs_ns_ref (readdirplus entries).  ofs_ns_forget gives n of
 * them back (the kernel's forget; also a caller whose entry never reached
 * the kernel).  An object keeps its ino while its count is above zero.  A
 * regular file whose count is zero, with nothing unstored, is then freed
 * (at once, or when its work is committed); one never counted (a plain
 * readdir's) after opts.inode_idle_ms unused.  Its ino may be reused for
 * another object, and a later lookup gives the file a new ino (its st_ino,
 * ofs_attr.sino, stays).  A directory or diary is freed likewise, by the
 * sweep only, once its collection was closed, and a directory only once
 * no inode of one of its entries is left.
 */
void ofs_ns_ref(struct ofs_ns *ns, uint64_t ino);
void ofs_ns_forget(struct ofs_ns *ns, uint64_t ino, uint64_t n);
/* The ino of the inode in the table whose st_ino is sino (0: none),
 * counted as a lookup so that it keeps that ino until the caller's
 * ofs_ns_forget(ino, 1). */
uint64_t ofs_ns_hold_sino(struct ofs_ns *ns, uint64_t sino);

o_err ofs_lookup(
    struct ofs_ns *ns, uint64_t dir, const char *name, struct ofs_attr *out);
/* Attributes of ino (O_ENOTFOUND for an unknown ino).  After
 * ofs_ns_refresh of its directory the entry is read again. */
o_err ofs_getattr(struct ofs_ns *ns, uint64_t ino, struct ofs_attr *out);
/*
 * Open ino (a file, diary or directory: the glue's open and opendir) and
 * return its attributes.  Shared mode: first brings up to date what the
 * open reads (close-to-open): a directory's or diary's own collection,
 * and for every object the directory holding its entry (a file's record
 * gives the size and inline bytes; a changed record makes the file's
 * pieces be read again); an object another mount removed is then
 * O_ENOTFOUND (the glue answers ESTALE, so the kernel looks the name up
 * again).  Otherwise as ofs_getattr.  May block on the transactor.
 */
o_err ofs_open(struct ofs_ns *ns, uint64_t ino, struct ofs_attr *out);
/* Change mode (if set_mode), mtime (if set_mtime) and/or the owner (if
 * who is not NULL; who->own false records none); ctime is set.  The
 * root's attributes are kept in memory only.  out may be NULL.  A
 * diary's queued appends are committed first (see Durability).  Who may
 * change what is the caller's check (the kernel's, in a mount). */
o_err ofs_setattr(struct ofs_ns *ns, uint64_t ino, bool set_mode,
    uint32_t mode, bool set_mtime, int64_t mtime_ns,
    const struct ofs_owner *who, struct ofs_attr *out);
/* Truncate a regular file (up with zeros, or down); diaries: O_EPERM
 * (unchanged); directories: O_EISDIR; above OFS_FILE_MAX: O_EFBIG. */
o_err ofs_truncate(struct ofs_ns *ns, uint64_t ino, uint64_t size);

/* Create: O_EEXIST, O_ENAMETOOLONG, O_EINVAL (name with '/' or empty),
 * O_ENOTDIR (dir is not a directory).  mkdir commits the new directory's
 * collection before it returns (see Durability); ofs_create of an OFS_DIARY
 * likewise commits the diary collection; an OFS_DIR kind is mkdir.  In a
 * shared namespace the new entry itself is committed before they return,
 * and of two mounts creating one name at once exactly one succeeds: the
 * other gets O_EEXIST. */
o_err ofs_mkdir(struct ofs_ns *ns, uint64_t dir, const char *name,
    uint32_t mode, struct ofs_attr *out);
o_err ofs_create(struct ofs_ns *ns, uint64_t dir, const char *name,
    enum ofs_kind kind, uint32_t mode, struct ofs_attr *out);
/* ofs_create (any kind) recording who as the owner (NULL: none); in a
 * directory with the set-group-id bit, with the directory's group (a new
 * directory also takes the bit). */
o_err ofs_create_as(struct ofs_ns *ns, uint64_t dir, const char *name,
    enum ofs_kind kind, uint32_t mode, const struct ofs_owner *who,
    struct ofs_attr *out);
/* unlink: O_EISDIR for a directory.  rmdir: O_ENOTDIR, O_ENOTEMPTY.
 * Shared namespace: the removal is committed before they return (a
 * failed commit of an unlink leaves it queued, and is returned; an rmdir,
 * one transaction with the directory's retirement, is given up whole),
 * and a creation in a
 * directory first reads the directory's own entry again, so that one
 * another mount removed is O_ENOTFOUND, not written into.
 * The removed object's collection (directory, diary, a file's pieces)
 * stays behind as unreferenced garbage (nothing reclaims it yet); an inode
 * still in use reads as before (nlink 0) and takes writes, which no entry
 * names: a file's dirty pieces past OFS_DIRTY_MAX still go to its
 * unreferenced piece collection, the rest stays in memory until the
 * kernel forgets the file (its inode is then freed with them).
 */
o_err ofs_unlink(struct ofs_ns *ns, uint64_t dir, const char *name);
o_err ofs_rmdir(struct ofs_ns *ns, uint64_t dir, const char *name);
/*
 * Rename, replacing an existing target (a directory only by a directory,
 * and only if empty: O_ENOTEMPTY; a directory over a non-directory:
 * O_ENOTDIR; the reverse: O_EISDIR; a directory into itself or its own
 * subtree: O_EINVAL).  Within one directory it is one action (atomic).
 * Across directories it is one transaction over both (a group commit: the
 * put into the target and the delete from the source commit together or
 * not at all; a failure before the transaction is decided undoes both
 * staged actions and returns the error; after it, the rest is retried).
 */
o_err ofs_rename(struct ofs_ns *ns, uint64_t dir, const char *name,
    uint64_t newdir, const char *newname);
/* noreplace (RENAME_NOREPLACE): an existing target fails the rename with
 * O_EEXIST instead, checked with the rename under the namespace's lock
 * (atomic among this mount's operations; another mount's creation of the
 * target in the same moment may still be replaced, as by a rename). */
o_err ofs_rename_flags(struct ofs_ns *ns, uint64_t dir, const char *name,
    uint64_t newdir, const char *newname, bool noreplace);

/* Directory listing in key order starting after `after` (NULL: first).
 * cb returns nonzero to stop.  cb runs with no lock of ours held and may
 * call back into the namespace; attr->ino is the entry's inode (assigned
 * like a lookup, not counted: cb may count it with ofs_ns_ref, the inode
 * stays until cb returned).  attr->size of a subdirectory is its entry
 * count only if already known (else 0: counting would open every
 * subdirectory); a diary's size is computed (its first computation walks
 * the diary's log once). */
typedef int (*ofs_dirent_cb)(
    void *arg, const char *name, const struct ofs_attr *attr);
o_err ofs_readdir(struct ofs_ns *ns, uint64_t dir, const char *after,
    ofs_dirent_cb cb, void *arg);

/* Regular files and diaries: read up to len bytes at off into buf, *got =
 * bytes read (0 at or past the end).  Directories: O_EISDIR. */
o_err ofs_read(struct ofs_ns *ns, uint64_t ino, uint64_t off, size_t len,
    void *buf, size_t *got);
/* Regular file: write at off (at the end when append).  Diary: only append
 * (append=true, or off equal to the size plus writer wid's fragment), else
 * O_EPERM and nothing changes.  Concurrent writers (distinct wids) to a
 * diary never interleave inside a line. */
o_err ofs_write(struct ofs_ns *ns, uint64_t ino, uint64_t wid, uint64_t off,
    const void *buf, size_t len, bool append);
/*
 * Store what was written to ino (file pieces and entry; writer wid's diary
 * fragment as an entry) and commit it with the collections that hold it
 * (a file's piece collection, then the directory holding its entry; the
 * own collection of a directory or diary, then its directory).  Any
 * directory commit first commits the piece collections its staged
 * records name, so a committed entry never names uncommitted pieces.  With
 * wait, or in sync mode, returns once committed, or the commit's error (the
 * work stays queued and is retried); with wait, also once every commit
 * acknowledged so far is on disk (oc_tx_sync: a lazily synced store's
 * log).  In async mode without wait it only queues, and returns (once) an
 * error that a background commit of those collections met since the last
 * report.  The glue passes wait=true for fsync, wait=false for flush
 * (close), which then honours the mount's mode.
 */
o_err ofs_flush(struct ofs_ns *ns, uint64_t ino, uint64_t wid, bool wait);
/* Writer wid closed ino for good (the last close of its open file): a
 * diary fragment it left (its flush failed) is queued as an entry, so wid
 * can name another writer later.  Never blocks on the store. */
void ofs_release(struct ofs_ns *ns, uint64_t ino, uint64_t wid);

/*
 * xattrs: user.* stored in the object's entry ("x"); the root has no entry
 * (set: O_EPERM).  user.optimfs.{rev,entries,tailhash,collection} are
 * computed from the collection (the object's own for directories and
 * diaries; for files, the directory holding the entry, and no "entries")
 * and read-only (set/remove: O_EPERM); other namespaces: O_EPERM.
 * get/list: with cap == 0 only *len is set; cap too small: O_ETOOBIG with
 * *len = the size needed.  Absent attribute: O_ENOTFOUND (errmap's
 * ofs_errno_xattr gives ENODATA / ERANGE).  list: NUL-terminated names.
 */
o_err ofs_getxattr(struct ofs_ns *ns, uint64_t ino, const char *name,
    void *buf, size_t cap, size_t *len);
o_err ofs_setxattr(struct ofs_ns *ns, uint64_t ino, const char *name,
    const void *val, size_t len);
o_err ofs_listxattr(
    struct ofs_ns *ns, uint64_t ino, void *buf, size_t cap, size_t *len);
o_err ofs_removexattr(struct ofs_ns *ns, uint64_t ino, const char *name);

/*
 * Pull other mounts' commits into the collection behind ino (a directory
 * or diary; for a file, the directory holding it) so that later lookups,
 * getattrs and reads see them.  Local staged work is replayed on top.
 * Blocks on the transactor.  Shared mode does this by itself (ofs_open,
 * and lookups and getattrs of old state); ofs_ns_changed on news.
 */
o_err ofs_ns_refresh(struct ofs_ns *ns, uint64_t ino);

/*
 * Something to invalidate in a kernel's caches after ofs_ns_changed: the
 * attributes and cached contents of ino (name NULL), or the entry name of
 * directory ino (it appeared, disappeared or names other attributes).
 * Called with no lock of the namespace held; name is valid for the call.
 */
typedef void (*ofs_changed_cb)(void *arg, uint64_t ino, const char *name);

/*
 * Another mount announced that collection col committed revision rev (a
 * cluster's change feed).  If this namespace holds col (a directory's
 * tree, a diary, a file's piece collection) and has not yet seen rev, it
 * brings col up to date (local staged work is replayed on top) and
 * reports through cb what changed: a diary's or file's inode; a
 * directory's inode, then each name its newer entries touched and the
 * inode this mount knows under that name (only the directory's inode
 * when more than a few revisions or names are new).  Collections it does
 * not hold and revisions it has seen (its own commits included) are
 * ignored: O_OK and no call.  Commits this namespace adopted otherwise
 * (a lookup's refresh, a rebase at commit) are reported by the next
 * announcement too.  Blocks on the transactor: call it from a thread of
 * its own, never a FUSE request handler.  Errors: the update's.
 */
o_err ofs_ns_changed(struct ofs_ns *ns, const struct oc_bid *col, int64_t rev,
    ofs_changed_cb cb, void *arg);

/* Counters (see struct ofs_ns_stats).  Does not block on I/O. */
void ofs_ns_stats(struct ofs_ns *ns, struct ofs_ns_stats *out);

/*
 * The id of the collection behind a directory or diary inode (for
 * `optimfs log` and `verify`).  O_EINVAL for a regular file.
 */
o_err ofs_ns_coll_id(struct ofs_ns *ns, uint64_t ino, struct oc_bid *out);

/* "/a/b" of ino into buf (truncated to cap); "?" for an unknown ino. */
void ofs_ns_path(struct ofs_ns *ns, uint64_t ino, char *buf, size_t cap);

#endif /* OFS_NS_H */
