/*
 * fuse_ll.h - the optimfs namespace served through libfuse3's low-level
 * API (DESIGN.md section 6).  fs/fuse_ll.c translates FUSE requests into
 * fs/ns.h calls and o_err results into errno (fs/errmap.h).
 *
 * Besides the namespace, the mount shows a control directory `.optimfs/`
 * in its root.  It is reachable by name but not listed by readdir (like
 * ZFS's `.zfs` with snapdir=hidden), so cp -r, tar and diff -r of a mount
 * never pick up its ever-changing counters.  Its files, on reserved inode
 * numbers at and above OFS_CTL_INO_BASE (the namespace never assigns
 * those):
 *
 *   file     mode  content
 *   status   0444  human text: pid, mountpoint, data dir, commit mode and
 *                  interval, pending actions, commits, errors
 *   stats    0444  counters in Prometheus text format (0.0.4)
 *   ctl      0600  request channel of the CLI: write one request line,
 *                  then read the answer to EOF (fs/cli.h has the
 *                  protocol); each open file is one request
 *
 * Threads.  ofs_fuse_run serves requests on libfuse's worker threads; the
 * handlers call the namespace (thread-safe) directly and reply before
 * returning, except ctl reads, which wait for their worker thread.
 */
#ifndef OFS_FUSE_LL_H
#define OFS_FUSE_LL_H

#include <stdbool.h>
#include <stdint.h>

#include "core/o_util.h"
#include "core/transactor.h"
#include "fs/ns.h"

/* Control directory inode numbers: the namespace stays below the base. */
#define OFS_CTL_INO_BASE (UINT64_C(1) << 62)
#define OFS_CTL_NAME ".optimfs"

struct ofs_fuse_conf {
	const char *mountpoint; /* absolute */
	const char *data_dir;   /* absolute; statfs and status report it */
	bool        async;      /* -o commit=async: close does not wait */
	bool        durable;    /* close waits for the disk too (status) */
	bool        shared;     /* other mounts write ns (see attr_ttl) */
	/* keep each object's owner (its creator's uid and gid, chown) and
	 * show it; false: every object shows as the mount's user, and chown
	 * to another is refused (the mount lets only that user in) */
	bool        owners;
	int64_t     commit_interval_ms;
	/*
	 * Arguments for libfuse's option parser: argv[0] and any "-o opts"
	 * pairs (auto_unmount, allow_other, ...), "-d" for debug.  Copied.
	 */
	int          fuse_argc;
	char *const *fuse_argv;
	/*
	 * Appends more Prometheus text to .optimfs/stats (the store's
	 * counters: the executable links the store, fs/ does not).  May be
	 * NULL.  Called on a FUSE worker thread; must not block for long.
	 */
	void (*extra_stats)(void *arg, struct o_buf *out);
	/* Appends lines to .optimfs/status (the cluster's members); NULL:
	 * a single node.  Same thread rules as extra_stats. */
	void (*extra_status)(void *arg, struct o_buf *out);
	void *extra_arg;
};

struct ofs_fuse;

/* How long the kernel may keep the attributes a (in seconds; 0: not at
 * all) in a mount that is shared (other mounts write its namespace) or
 * not.  See fuse_ll.c. */
double ofs_fuse_attr_ttl(bool shared, const struct ofs_attr *a);

/*
 * Create a FUSE session and mount it on conf->mountpoint, and install
 * SIGINT/SIGTERM/SIGHUP handlers that end the session.  Call it before
 * the process starts any thread: with -o auto_unmount (or without root)
 * libfuse forks and runs fusermount3, and a child forked while other
 * threads hold locks (malloc's, a sanitizer's) can hang before its exec.
 * Nothing is served until ofs_fuse_attach and ofs_fuse_run: the kernel
 * holds requests to the mount meanwhile.  Errors: O_EINVAL (an option
 * libfuse refused), O_EIO (the mount failed), with a detail naming the
 * mountpoint.
 */
o_err ofs_fuse_mount(const struct ofs_fuse_conf *conf, struct ofs_fuse **out);

/*
 * Give the mount the namespace it serves.  f owns ns from here on (it is
 * closed, committing pending work, by the destroy request or by
 * ofs_fuse_close) and borrows tx (the transactor ns runs on; diary
 * reports read through it) until ofs_fuse_close.  Once, before
 * ofs_fuse_run, or while it runs without one (a cluster member that
 * waited for a majority to open its root: ofs_fuse_waiting).  false when
 * the mount already ended (its namespace close ran): f takes nothing,
 * and the caller closes ns.
 */
bool ofs_fuse_attach(
    struct ofs_fuse *f, struct ofs_ns *ns, struct oc_transactor *tx);

/*
 * Serving without a namespace yet (ofs_fuse_run before ofs_fuse_attach):
 * requests about the root answer EIO, as a running mount's do without a
 * majority, its attributes are the mount's own, and .optimfs/status shows
 * "namespace: not open: " why (updated by each call).
 */
void ofs_fuse_waiting(struct ofs_fuse *f, const char *why);

/*
 * Serve requests (after ofs_fuse_attach, or ofs_fuse_waiting) until the
 * filesystem is unmounted (fusermount3 -u, umount) or a handled signal
 * arrives, also one that came since ofs_fuse_mount.  Blocks.  O_OK on a clean
 * end, O_EIO when the session failed.
 */
o_err ofs_fuse_run(struct ofs_fuse *f);

/*
 * Another mount committed revision rev of collection col (the cluster's
 * change feed): bring the namespace up to date (ofs_ns_changed) and tell
 * the kernel to forget what it caches of the inodes and names that
 * changed (fuse_lowlevel_notify_inval_inode / _inval_entry), so cat, ls,
 * stat and tail -f see the change without waiting for cache timeouts.
 * Collections the namespace does not hold and revisions it has seen are
 * ignored.  Blocks on the transactor and on the kernel.
 *
 * Call it from a thread of its own (the feed's), NEVER from a FUSE
 * request handler or anything a handler waits for: the kernel takes the
 * directory's lock to drop an entry and waits for page locks to drop
 * cached contents, and the request holding them would wait for us (the
 * libfuse documentation of the notify calls says the same).  Safe to
 * call while the filesystem is served and concurrently with itself;
 * after unmount or ofs_fuse_close has begun it does nothing (O_OK), and
 * ofs_fuse_close waits for calls in progress.  Errors: the namespace's
 * (the kernel's answers are not errors: an inode it does not cache is
 * normal).
 */
o_err ofs_fuse_changed(
    struct ofs_fuse *f, const struct oc_bid *col, int64_t rev);

/*
 * Unmount if still mounted, wait for control workers, close the namespace
 * (if attached) unless the destroy request has (committing everything
 * pending), remove
 * the signal handlers and free.  Returns the namespace close result: O_OK
 * when everything acknowledged is committed.  Blocks.
 */
o_err ofs_fuse_close(struct ofs_fuse *f);

#endif /* OFS_FUSE_LL_H */
