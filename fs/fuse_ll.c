/*
 * fuse_ll.c - FUSE low-level request handlers over the namespace (ns.h).
 *
 * Design notes.
 *   - Inode numbers are the namespace's (1 is the root) plus the control
 *     directory's reserved numbers (OFS_CTL_INO_BASE + n).  The namespace
 *     counts the entries it hands out (lookup, create, mkdir, mknod; each
 *     readdirplus entry through ofs_ns_ref) and forget gives them back
 *     (ofs_ns_forget), so a file the kernel dropped is freed; an entry
 *     whose reply fails is given back at once.
 *   - Every handler replies before it returns (no asynchronous replies,
 *     so name and fi need no copies), except that a read of the control
 *     channel waits on its worker thread.
 *   - Regular files go through the page cache (close-to-open: the cache
 *     is dropped at open).  Diaries use direct I/O, so every read of a
 *     growing diary (tail -f) reaches the namespace.  No writeback cache:
 *     the namespace sees every write() as it happens, which is what makes
 *     a diary's lines entries and lets it refuse a write that is not an
 *     append.
 *   - close (flush) commits what this open file wrote, waiting unless the
 *     mount is async; fsync always waits, and also until every commit is
 *     on disk (a single node's store syncs its log lazily: at fsync, and
 *     every commit interval).  Metadata operations (mkdir,
 *     rename, unlink, chmod) are committed by the namespace's committer
 *     within the commit interval, and at unmount.
 *   - Cross-mount visibility.  A namespace opened shared (a cluster
 *     node) refreshes at open and opendir (close-to-open) and, for state
 *     older than a short bound, at lookup and getattr (ns.h).  Entry and
 *     attribute timeouts are at most a second (in a shared mount
 *     attributes of diaries and regular files are not cached: attr_ttl).
 *     The change feed calls ofs_fuse_changed on its own thread, which
 *     drops the kernel's entries and inodes at once; the kernel's notify
 *     calls may wait for locks a request in progress holds, so they are
 *     never made from a request handler.
 *   - Directory offsets are cookies per open directory: cookie 1 is ".",
 *     2 is "..", 3 + i is the i-th name this handle returned since the
 *     last rewind.  A read at cookie c resumes after that name in key
 *     order, so entries added or removed meanwhile never make readdir
 *     skip or repeat the others.
 *
 *   - Read buffers are reused: a read of 128 KiB or more (the mmap
 *     threshold, fs/main.c) would otherwise get fresh pages from the
 *     kernel each time and fault every one of them in.  At most
 *     RBUF_KEEP buffers of at most RBUF_MAX bytes each are kept.
 *
 * Locks.  f_mtx guards the worker and notification counts, the
 * namespace's attaching and closing and why it is not open yet; r_mtx guards
 * one control request; d_mtx one open directory; b_mtx the kept read buffers.
 * None is held while calling the namespace, and they never nest (order, should
 * that change: f_mtx, then r_mtx).
 */
#define FUSE_USE_VERSION 314

#include "fs/fuse_ll.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/xattr.h>
#include <time.h>
#include <unistd.h>

#include <fuse_lowlevel.h>

#include "core/o_util.h"
#include "fs/cli.h"
#include "fs/errmap.h"

#define CTL_DIR_INO (OFS_CTL_INO_BASE + 1)
#define CTL_STATUS_INO (OFS_CTL_INO_BASE + 2)
#define CTL_STATS_INO (OFS_CTL_INO_BASE + 3)
#define CTL_CTL_INO (OFS_CTL_INO_BASE + 4)
#define CTL_INO_END (OFS_CTL_INO_BASE + 5)

#define ENTRY_TIMEOUT 1.0 /* seconds the kernel may cache names */
#define ATTR_TIMEOUT 1.0  /* ... and attributes (attr_ttl) */
#define CTL_BUF_MAX (1u << 20)
#define CTL_PROGRESS_NS (200 * 1000000ull)
#define RBUF_KEEP 4          /* read buffers kept for reuse ... */
#define RBUF_MAX (1u << 20) /* ... each at most this big (max_read) */

/* Request counters, by operation (the stats file's labels). */
enum ll_op {
	OP_lookup,
	OP_getattr,
	OP_setattr,
	OP_mkdir,
	OP_mknod,
	OP_create,
	OP_open,
	OP_read,
	OP_write,
	OP_flush,
	OP_fsync,
	OP_release,
	OP_opendir,
	OP_readdir,
	OP_unlink,
	OP_rmdir,
	OP_rename,
	OP_statfs,
	OP_getxattr,
	OP_setxattr,
	OP_listxattr,
	OP_removexattr,
	OP_link,
	OP_COUNT
};

static const char *const ll_op_names[OP_COUNT] = {
	[OP_lookup]      = "lookup",
	[OP_getattr]     = "getattr",
	[OP_setattr]     = "setattr",
	[OP_mkdir]       = "mkdir",
	[OP_mknod]       = "mknod",
	[OP_create]      = "create",
	[OP_open]        = "open",
	[OP_read]        = "read",
	[OP_write]       = "write",
	[OP_flush]       = "flush",
	[OP_fsync]       = "fsync",
	[OP_release]     = "release",
	[OP_opendir]     = "opendir",
	[OP_readdir]     = "readdir",
	[OP_unlink]      = "unlink",
	[OP_rmdir]       = "rmdir",
	[OP_rename]      = "rename",
	[OP_statfs]      = "statfs",
	[OP_getxattr]    = "getxattr",
	[OP_setxattr]    = "setxattr",
	[OP_listxattr]   = "listxattr",
	[OP_removexattr] = "removexattr",
	[OP_link]        = "link",
};

/* A link in a list of open handles (the first member of ll_fh and ll_dh);
 * the lists are guarded by ofs_fuse.f_mtx. */
struct ll_link {
	struct ll_link *prev, *next;
};

struct ofs_fuse {
	struct fuse_session  *se;
	struct fuse_args      args;
	struct oc_transactor *tx;
	char                 *mountpoint;
	char                 *data_dir;
	bool                  async;
	bool                  durable;
	bool                  shared; /* conf->shared */
	bool                  owners; /* conf->owners */
	int64_t               interval_ms;
	uid_t                 uid;
	gid_t                 gid;
	int64_t               started_ms;   /* wall clock: the files' times */
	int64_t               started_mono; /* o_mono_ms: the uptime */
	bool                  mounted;
	void (*extra_stats)(void *arg, struct o_buf *out);
	void (*extra_status)(void *arg, struct o_buf *out);
	void *extra_arg;

	/*
	 * The namespace.  Handlers use it without a lock: it is closed only
	 * by the destroy request or ofs_fuse_close, after the session loop
	 * has ended and every control worker is gone.  NULL while a cluster
	 * member waits for a majority to open its root (ofs_fuse_attach
	 * sets it once; no_ns).
	 */
	struct ofs_ns *_Atomic ns;
	char waiting[512]; /* why ns is NULL (ofs_fuse_waiting); f_mtx */

	pthread_mutex_t f_mtx;
	pthread_cond_t  f_cv;
	int             workers;   /* guarded by f_mtx */
	bool            ns_closed; /* guarded by f_mtx */
	int             notifying;  /* ofs_fuse_changed calls; f_mtx */
	bool            notify_off; /* ofs_fuse_close began; f_mtx */
	struct ll_link *fhs;       /* open files; guarded by f_mtx */
	struct ll_link *dhs;       /* open directories; guarded by f_mtx */
	o_err           close_err; /* guarded by f_mtx */
	atomic_bool     stopping;

	pthread_mutex_t b_mtx;
	void           *rbuf[RBUF_KEEP]; /* guarded by b_mtx */
	size_t          rbuf_cap[RBUF_KEEP]; /* guarded by b_mtx */
	int             nrbuf;               /* guarded by b_mtx */

	atomic_uint_fast64_t nreq[OP_COUNT];
	atomic_uint_fast64_t nerr[OP_COUNT];
	atomic_uint_fast64_t faults; /* errors other than refusals */
	atomic_uint_fast64_t bytes_read;
	atomic_uint_fast64_t bytes_written;
};

/* A control request (.optimfs/ctl): one per open file. */
struct ctl_req {
	struct ofs_fuse     *f;
	pthread_mutex_t      r_mtx;
	pthread_cond_t       r_cv;
	struct o_buf         out;       /* guarded by r_mtx */
	size_t               rpos;      /* guarded by r_mtx */
	bool                 started;   /* guarded by r_mtx */
	bool                 done;      /* guarded by r_mtx */
	bool                 cancelled; /* guarded by r_mtx */
	int                  refs;      /* guarded by r_mtx */
	uint64_t             ino;
	enum ofs_report_kind kind;
	uint64_t             last_progress_ns; /* worker thread only */
};

/* An open file. */
struct ll_fh {
	struct ll_link  link; /* first: all open files */
	uint64_t        ino;
	uint8_t         kind; /* enum ofs_kind; 0 for control files */
	atomic_bool     written;
	struct o_buf    text;        /* status/stats: the snapshot read */
	struct ctl_req *req;         /* ctl: the request */
	/* references: the open file, and each read in progress (the kernel
	 * sends release while a read of a killed reader still runs) */
	atomic_int refs;
};

/* An open directory. */
struct ll_dh {
	struct ll_link  link; /* first: all open directories */
	uint64_t        ino;
	pthread_mutex_t d_mtx;
	char          **names; /* guarded by d_mtx: cookie 3 + i */
	size_t          n, cap;
};

/* List or unlist a handle (takes f_mtx).  Handles the kernel never
 * released (still open at unmount) are freed by ofs_fuse_close. */
static void
link_add(struct ofs_fuse *f, struct ll_link **head, struct ll_link *l)
{
	pthread_mutex_lock(&f->f_mtx);
	l->prev = NULL;
	l->next = *head;
	if (*head != NULL)
		(*head)->prev = l;
	*head = l;
	pthread_mutex_unlock(&f->f_mtx);
}

static void
link_del(struct ofs_fuse *f, struct ll_link **head, struct ll_link *l)
{
	pthread_mutex_lock(&f->f_mtx);
	if (l->prev != NULL)
		l->prev->next = l->next;
	else
		*head = l->next;
	if (l->next != NULL)
		l->next->prev = l->prev;
	pthread_mutex_unlock(&f->f_mtx);
}

static struct ofs_fuse *
fs_of(fuse_req_t req)
{
	return fuse_req_userdata(req);
}

static struct ll_fh *
fh_of(const struct fuse_file_info *fi)
{
	return (struct ll_fh *) (uintptr_t) fi->fh;
}

/* A new open file, listed so that the ones the kernel never released
 * (still open at unmount) are freed by ofs_fuse_close. */
static struct ll_fh *
fh_new(struct ofs_fuse *f)
{
	struct ll_fh *fh = o_calloc(1, sizeof(*fh));

	atomic_init(&fh->refs, 1);
	link_add(f, &f->fhs, &fh->link);
	return fh;
}

static void ctl_req_rele(struct ctl_req *r);

static void
fh_free(struct ofs_fuse *f, struct ll_fh *fh)
{
	link_del(f, &f->fhs, &fh->link);
	if (fh->req != NULL) {
		pthread_mutex_lock(&fh->req->r_mtx);
		fh->req->cancelled = true;
		pthread_cond_broadcast(&fh->req->r_cv);
		pthread_mutex_unlock(&fh->req->r_mtx);
		ctl_req_rele(fh->req);
	}
	o_buf_fini(&fh->text);
	free(fh);
}

static bool
is_ctl(fuse_ino_t ino)
{
	return ino > OFS_CTL_INO_BASE && ino < CTL_INO_END;
}

static bool
is_ctl_name(fuse_ino_t parent, const char *name)
{
	return parent == FUSE_ROOT_ID && strcmp(name, OFS_CTL_NAME) == 0;
}

/* Count a request; clears the thread's error detail for its failure. */
static void
count(struct ofs_fuse *f, enum ll_op op)
{
	atomic_fetch_add_explicit(&f->nreq[op], 1, memory_order_relaxed);
	o_err_clear();
}

/* Refusals a user causes (logged at info); anything else is a fault. */
static bool
is_refusal(o_err e)
{
	switch (e) {
	case O_ENOTFOUND:
	case O_EEXIST:
	case O_ENOTDIR:
	case O_EISDIR:
	case O_ENOTEMPTY:
	case O_ENAMETOOLONG:
	case O_EINVAL:
	case O_EPERM:
	case O_EFBIG: /* a write or size past the file limit */
	case O_EACCES:
		return true;
	default:
		return false;
	}
}

/*
 * Reply with the errno of e, counting it and logging what failed on what:
 * the operation, the inode and the name, and the namespace's detail.
 */
static void
reply_fail(
    fuse_req_t req, enum ll_op op, o_err e, uint64_t ino, const char *name)
{
	struct ofs_fuse *f     = fs_of(req);
	bool             quiet = (op == OP_lookup && e == O_ENOTFOUND);
	enum o_loglevel  lvl   = O_LOG_ERROR;

	atomic_fetch_add_explicit(&f->nerr[op], 1, memory_order_relaxed);
	if (is_refusal(e))
		lvl = quiet ? O_LOG_DEBUG : O_LOG_INFO;
	else
		atomic_fetch_add_explicit(&f->faults, 1, memory_order_relaxed);
	o_log(lvl, "%s: inode %" PRIu64 "%s%s%s: %s: %s", ll_op_names[op], ino,
	    name ? ", name \"" : "", name ? name : "", name ? "\"" : "",
	    o_strerror(e), o_err_detail());
	fuse_reply_err(req, ofs_errno(e));
}

/* Reply with a plain errno (control files, unsupported requests). */
static void
reply_errno(fuse_req_t req, enum ll_op op, int err)
{
	struct ofs_fuse *f = fs_of(req);

	atomic_fetch_add_explicit(&f->nerr[op], 1, memory_order_relaxed);
	fuse_reply_err(req, err);
}

/*
 * No namespace yet: a cluster member whose root no majority has answered
 * since it started (ofs_fuse_waiting; ofs_fuse_attach ends it).  What the
 * kernel can ask then is about the root and the control directory only
 * (no other inode was handed out): the root's own requests answer EIO, as
 * a running mount's do without a majority, and its attributes are this
 * mount's (ll_getattr), so that a path walk reaches .optimfs/status, which
 * says why.  Answers req and returns true then.
 */
static bool
no_ns(struct ofs_fuse *f, fuse_req_t req, enum ll_op op)
{
	if (atomic_load(&f->ns) != NULL)
		return false;
	reply_errno(req, op, EIO);
	return true;
}

static int64_t
ts_ns(const struct timespec *t)
{
	return (int64_t) t->tv_sec * 1000000000 + t->tv_nsec;
}

static struct timespec
ns_ts(int64_t ns)
{
	struct timespec t;

	t.tv_sec  = ns / 1000000000;
	t.tv_nsec = ns % 1000000000;
	if (t.tv_nsec < 0) {
		t.tv_sec--;
		t.tv_nsec += 1000000000;
	}
	return t;
}

static void
attr_to_stat(
    const struct ofs_fuse *f, const struct ofs_attr *a, struct stat *st)
{
	memset(st, 0, sizeof(*st));
	st->st_ino = a->sino != 0 ? a->sino : a->ino;
	st->st_mode =
	    (a->kind == OFS_DIR ? S_IFDIR : S_IFREG) | (a->mode & 07777);
	st->st_nlink = a->nlink; /* 0 once unlinked (fstat of an open file) */
	st->st_uid     = f->owners && a->owner.own ? a->owner.uid : f->uid;
	st->st_gid     = f->owners && a->owner.own ? a->owner.gid : f->gid;
	st->st_size  = (off_t) a->size;
	st->st_blksize = 128 * 1024;
	st->st_blocks  = (blkcnt_t) ((a->size + 511) / 512);
	st->st_mtim    = ns_ts(a->mtime_ns);
	st->st_atim    = st->st_mtim;
	st->st_ctim    = ns_ts(a->ctime_ns);
}

/*
 * How long the kernel may keep an object's attributes.  In a one-node
 * mount every change to a diary or file passes through this kernel, which
 * marks the size and times stale itself after each write (FUSE marks them
 * in the inode's invalid mask), so another process's stat or tail -f's
 * fstat still asks again and sees the growth at once, while an open's
 * permission check does not ask (one request less per open+write+close of
 * a diary; e2e test_diary.sh).  Not while a diary holds a writer's
 * unfinished line: it joins the diary at that writer's close, a growth no
 * write shows the kernel.  A diary's mtime may also move without a write
 * (a queued append's write time becomes its commit's, a few ms later):
 * a stat within the second may show the earlier one.  When other mounts
 * write the namespace,
 * neither is cached: tail -f's fstat must see their growth, and the kernel
 * reads a cached file only up to the size it holds, so a size taken from
 * a lookup just before another mount's close would cut an open after that
 * close short (close-to-open).
 */
double
ofs_fuse_attr_ttl(bool shared, const struct ofs_attr *a)
{
	if (a->growing ||
	    (shared && (a->kind == OFS_DIARY || a->kind == OFS_FILE)))
		return 0.0;
	return ATTR_TIMEOUT;
}

static double
attr_ttl(const struct ofs_fuse *f, const struct ofs_attr *a)
{
	return ofs_fuse_attr_ttl(f->shared, a);
}

static void
entry_of(const struct ofs_fuse *f, const struct ofs_attr *a,
    struct fuse_entry_param *e)
{
	memset(e, 0, sizeof(*e));
	e->ino           = a->ino;
	e->generation    = a->gen;
	e->entry_timeout = ENTRY_TIMEOUT;
	e->attr_timeout  = attr_ttl(f, a);
	attr_to_stat(f, a, &e->attr);
}

/* Answer with the entry of a (counted by the namespace): given back if
 * the kernel does not get it (the request was interrupted). */
static void
reply_entry(struct ofs_fuse *f, fuse_req_t req, const struct ofs_attr *a)
{
	struct fuse_entry_param e;

	entry_of(f, a, &e);
	if (fuse_reply_entry(req, &e) != 0)
		ofs_ns_forget(f->ns, a->ino, 1);
}

/*
 * Control directory.
 */

struct ctl_file {
	const char *name;
	uint64_t    ino;
	mode_t      mode;
};

static const struct ctl_file ctl_files[] = {
	{ "status", CTL_STATUS_INO, S_IFREG | 0444 },
	{ "stats", CTL_STATS_INO, S_IFREG | 0444 },
	{ "ctl", CTL_CTL_INO, S_IFREG | 0600 },
};

/* The namespace's counters, as status lines and as Prometheus text. */
static void
ns_status_text(struct ofs_fuse *f, struct o_buf *b)
{
	struct ofs_ns_stats st;

	ofs_ns_stats(f->ns, &st);
	ofs_buf_printf(b,
	    "pending actions: %" PRIu64 "\n"
	    "commits:         %" PRIu64 "\n"
	    "conflicts:       %" PRIu64 "\n"
	    "commit errors:   %" PRIu64 "\n"
	    "inodes:          %" PRIu64 "\n",
	    st.pending, st.commits, st.conflicts, st.errors, st.inodes);
}

/* One Prometheus metric: HELP, TYPE and the sample. */
static void
metric(struct o_buf *b, const char *name, const char *type, const char *help,
    uint64_t v)
{
	ofs_buf_printf(b,
	    "# HELP optimfs_%s %s\n# TYPE optimfs_%s %s\noptimfs_%s %" PRIu64
	    "\n",
	    name, help, name, type, name, v);
}

static void
ns_stats_text(struct ofs_fuse *f, struct o_buf *b)
{
	struct ofs_ns_stats st;

	ofs_ns_stats(f->ns, &st);
	metric(b, "commits_total", "counter",
	    "Committed transactions, all collections.", st.commits);
	metric(b, "commit_conflicts_total", "counter",
	    "Commit attempts refused and retried.", st.conflicts);
	metric(b, "commit_errors_total", "counter",
	    "Failed commits (flush or background).", st.errors);
	metric(b, "ns_written_bytes_total", "counter",
	    "Bytes accepted by the namespace.", st.bytes_written);
	metric(b, "pending_actions", "gauge",
	    "Queued actions and dirty file buffers not yet committed.",
	    st.pending);
	metric(b, "inodes", "gauge", "Inodes in the table.", st.inodes);
	metric(b, "inodes_freed_total", "counter",
	    "Inodes freed: forgotten by the kernel, or unused.",
	    st.inodes_freed);
	metric(b, "open_collections", "gauge", "Collections open.",
	    st.collections);
	metric(b, "collections_closed_total", "counter",
	    "Collections closed while idle (opened again when used).",
	    st.colls_closed);
	metric(b, "file_bytes_resident", "gauge",
	    "Bytes of regular files held in memory.", st.file_bytes);
	metric(b, "block_cache_bytes", "gauge",
	    "Memory of the collections' caches of committed blocks.",
	    st.cache_bytes);
	metric(b, "queue_bytes", "gauge",
	    "Memory the collections' queues of actions hold reserved.",
	    st.queue_bytes);
	metric(b, "block_caches_dropped_total", "counter",
	    "Collection caches dropped to bound their memory together.",
	    st.caches_dropped);
}

static void
status_text(struct ofs_fuse *f, struct o_buf *b)
{
	uint64_t errors = atomic_load(&f->faults);
	bool     open;

	ofs_buf_printf(b,
	    "optimfs %s\n"
	    "pid:             %ld\n"
	    "mountpoint:      %s\n"
	    "data dir:        %s\n"
	    "mode:            %s\n"
	    "commit:          %s\n"
	    "commit interval: %" PRId64 " ms\n"
	    "uptime:          %" PRId64 " s\n",
	    OFS_VERSION, (long) getpid(), f->mountpoint, f->data_dir,
	    f->extra_status ? "cluster member (see below)"
	                    : "single node, embedded store",
	    f->async         ? "async (close returns at once; fsync waits for "
	                       "the commit, on disk)"
	        : f->durable ? "durable (close and fsync wait for the commit, "
	                       "on disk)"
	                     : "sync (close waits for the commit; fsync also "
	                       "for the disk)",
	    f->interval_ms, (o_mono_ms() - f->started_mono) / 1000);
	pthread_mutex_lock(&f->f_mtx); /* decided with ofs_fuse_attach */
	if (!(open = atomic_load(&f->ns) != NULL))
		ofs_buf_printf(b, "namespace:       not open: %s\n",
		    f->waiting[0] ? f->waiting : "starting");
	pthread_mutex_unlock(&f->f_mtx);
	if (open)
		ns_status_text(f, b);
	ofs_buf_printf(b, "errors:          %" PRIu64 "\n", errors);
	if (f->extra_status)
		f->extra_status(f->extra_arg, b);
}

static void
stats_text(struct ofs_fuse *f, struct o_buf *b)
{
	int i;

	ofs_buf_printf(b,
	    "# HELP optimfs_requests_total FUSE requests handled, by "
	    "operation.\n"
	    "# TYPE optimfs_requests_total counter\n");
	for (i = 0; i < OP_COUNT; i++)
		ofs_buf_printf(b,
		    "optimfs_requests_total{op=\"%s\"} %" PRIu64 "\n",
		    ll_op_names[i], (uint64_t) atomic_load(&f->nreq[i]));
	ofs_buf_printf(b,
	    "# HELP optimfs_request_errors_total FUSE requests answered "
	    "with an error, by operation.\n"
	    "# TYPE optimfs_request_errors_total counter\n");
	for (i = 0; i < OP_COUNT; i++)
		ofs_buf_printf(b,
		    "optimfs_request_errors_total{op=\"%s\"} %" PRIu64 "\n",
		    ll_op_names[i], (uint64_t) atomic_load(&f->nerr[i]));
	ofs_buf_printf(b,
	    "# HELP optimfs_faults_total Requests that failed for a reason "
	    "other than a refusal (I/O, corruption, full disk).\n"
	    "# TYPE optimfs_faults_total counter\n"
	    "optimfs_faults_total %" PRIu64 "\n"
	    "# HELP optimfs_read_bytes_total Bytes returned by read.\n"
	    "# TYPE optimfs_read_bytes_total counter\n"
	    "optimfs_read_bytes_total %" PRIu64 "\n"
	    "# HELP optimfs_written_bytes_total Bytes accepted by write.\n"
	    "# TYPE optimfs_written_bytes_total counter\n"
	    "optimfs_written_bytes_total %" PRIu64 "\n"
	    "# HELP optimfs_uptime_seconds Seconds since the mount.\n"
	    "# TYPE optimfs_uptime_seconds gauge\n"
	    "optimfs_uptime_seconds %" PRId64 "\n",
	    (uint64_t) atomic_load(&f->faults),
	    (uint64_t) atomic_load(&f->bytes_read),
	    (uint64_t) atomic_load(&f->bytes_written),
	    (o_mono_ms() - f->started_mono) / 1000);
	if (atomic_load(&f->ns) != NULL)
		ns_stats_text(f, b);
	if (f->extra_stats)
		f->extra_stats(f->extra_arg, b);
}

static void
ctl_stat(struct ofs_fuse *f, fuse_ino_t ino, struct stat *st)
{
	struct o_buf b = { 0 };
	size_t       i;

	memset(st, 0, sizeof(*st));
	st->st_ino   = ino;
	st->st_nlink = 1;
	st->st_uid   = f->uid;
	st->st_gid   = f->gid;
	st->st_mtim = st->st_atim = st->st_ctim =
	    ns_ts(f->started_ms * 1000000);
	st->st_blksize = 4096;
	if (ino == FUSE_ROOT_ID) { /* no namespace yet (no_ns) */
		st->st_mode  = S_IFDIR | 0755;
		st->st_nlink = 2;
		return;
	}
	if (ino == CTL_DIR_INO) {
		st->st_mode  = S_IFDIR | 0555;
		st->st_nlink = 2;
		st->st_size  = O_NELEM(ctl_files);
		return;
	}
	for (i = 0; i < O_NELEM(ctl_files); i++)
		if (ctl_files[i].ino == ino)
			st->st_mode = ctl_files[i].mode;
	/* The size of a snapshot taken now; reads use their own. */
	if (ino == CTL_STATUS_INO)
		status_text(f, &b);
	else if (ino == CTL_STATS_INO)
		stats_text(f, &b);
	st->st_size = (off_t) b.len;
	o_buf_fini(&b);
}

static void
ctl_entry(struct ofs_fuse *f, fuse_ino_t ino, struct fuse_entry_param *e)
{
	memset(e, 0, sizeof(*e));
	e->ino           = ino;
	e->generation    = 1;
	e->entry_timeout = ENTRY_TIMEOUT;
	e->attr_timeout  = 0.0;
	ctl_stat(f, ino, &e->attr);
}

/* Lookup inside the control directory: 0 or ENOENT. */
static int
ctl_lookup(struct ofs_fuse *f, const char *name, struct fuse_entry_param *e)
{
	size_t i;

	for (i = 0; i < O_NELEM(ctl_files); i++)
		if (strcmp(ctl_files[i].name, name) == 0) {
			ctl_entry(f, ctl_files[i].ino, e);
			return 0;
		}
	return ENOENT;
}

static void
ctl_req_rele(struct ctl_req *r)
{
	bool last;

	pthread_mutex_lock(&r->r_mtx);
	last = --r->refs == 0;
	pthread_mutex_unlock(&r->r_mtx);
	if (!last)
		return;
	o_buf_fini(&r->out);
	pthread_cond_destroy(&r->r_cv);
	pthread_mutex_destroy(&r->r_mtx);
	free(r);
}

/* Worker side: queue an answer line, waiting while the reader lags. */
static int
ctl_emit(void *arg, const char *line, size_t len)
{
	struct ctl_req *r = arg;
	int             stop;

	if (strncmp(line, "progress\t", 9) == 0) {
		uint64_t now = o_mono_ns();

		if (now - r->last_progress_ns < CTL_PROGRESS_NS)
			return 0;
		r->last_progress_ns = now;
	}
	pthread_mutex_lock(&r->r_mtx);
	while (!r->cancelled && r->out.len - r->rpos > CTL_BUF_MAX &&
	    !atomic_load(&r->f->stopping)) {
		struct timespec until;

		until = o_abstime(CLOCK_MONOTONIC, 200);
		pthread_cond_timedwait(&r->r_cv, &r->r_mtx, &until);
	}
	stop = r->cancelled || atomic_load(&r->f->stopping);
	if (!stop) {
		(void) o_buf_append(&r->out, line, len);
		pthread_cond_broadcast(&r->r_cv);
	}
	pthread_mutex_unlock(&r->r_mtx);
	return stop;
}

static void *
ctl_worker(void *arg)
{
	struct ctl_req  *r = arg;
	struct ofs_fuse *f = r->f;

	(void) pthread_setname_np(pthread_self(), "ofs-control");
	(void) ofs_report_run(f->ns, f->tx, r->ino, r->kind, ctl_emit, r);
	ofs_ns_forget(f->ns, r->ino, 1); /* ctl_start's hold */
	pthread_mutex_lock(&r->r_mtx);
	r->done = true;
	pthread_cond_broadcast(&r->r_cv);
	pthread_mutex_unlock(&r->r_mtx);
	ctl_req_rele(r);
	pthread_mutex_lock(&f->f_mtx);
	f->workers--;
	pthread_cond_broadcast(&f->f_cv);
	pthread_mutex_unlock(&f->f_mtx);
	return NULL;
}

/* Start the request written to the control channel: 0 or an errno. */
static int
ctl_start(struct ofs_fuse *f, struct ctl_req *r, const char *buf, size_t n)
{
	char               line[128], *end;
	unsigned long long sino;
	uint64_t           ino;
	pthread_t          th;
	pthread_attr_t     pa;
	int                err = 0;

	if (n == 0 || n >= sizeof(line))
		return EINVAL;
	memcpy(line, buf, n);
	line[n] = '\0';
	if (line[n - 1] == '\n')
		line[n - 1] = '\0';
	if (strncmp(line, "log ", 4) == 0)
		r->kind = OFS_REPORT_LOG;
	else if (strncmp(line, "verify ", 7) == 0)
		r->kind = OFS_REPORT_VERIFY;
	else
		return EINVAL;
	errno = 0;
	sino  = strtoull(strchr(line, ' ') + 1, &end, 10);
	if (errno != 0 || *end != '\0' || sino == 0)
		return EINVAL;

	pthread_mutex_lock(&r->r_mtx);
	if (r->started)
		err = EBUSY;
	r->started = true;
	pthread_mutex_unlock(&r->r_mtx);
	if (err != 0)
		return err;
	/* a worker from here on: the namespace stays open (close_ns) */
	pthread_mutex_lock(&f->f_mtx);
	if (f->ns_closed)
		err = ESHUTDOWN;
	else
		f->workers++;
	pthread_mutex_unlock(&f->f_mtx);
	if (err != 0)
		goto out_done;
	/* the client sends what stat(2) told it: the object's st_ino; its
	 * inode is held until the report is done (ctl_worker), so that its
	 * ino is not given to another object meanwhile */
	if (atomic_load(&f->ns) == NULL) { /* no_ns */
		err = EIO;
		goto out_worker;
	}
	if ((ino = ofs_ns_hold_sino(f->ns, sino)) == 0) {
		err = ENOENT;
		goto out_worker;
	}
	pthread_mutex_lock(&r->r_mtx);
	r->ino = ino;
	r->refs++;
	pthread_mutex_unlock(&r->r_mtx);

	pthread_attr_init(&pa);
	pthread_attr_setdetachstate(&pa, PTHREAD_CREATE_DETACHED);
	err = pthread_create(&th, &pa, ctl_worker, r);
	pthread_attr_destroy(&pa);
	if (err == 0)
		return 0;
	ofs_ns_forget(f->ns, ino, 1);
	pthread_mutex_lock(&r->r_mtx);
	r->refs--;
	pthread_mutex_unlock(&r->r_mtx);
out_worker:
	pthread_mutex_lock(&f->f_mtx);
	f->workers--;
	pthread_cond_broadcast(&f->f_cv);
	pthread_mutex_unlock(&f->f_mtx);
out_done:
	pthread_mutex_lock(&r->r_mtx);
	r->done = true;
	pthread_mutex_unlock(&r->r_mtx);
	return err;
}

static void
ctl_read(fuse_req_t req, struct ctl_req *r, size_t size)
{
	char  *buf = NULL;
	size_t n   = 0;
	int    err = 0;

	pthread_mutex_lock(&r->r_mtx);
	for (;;) {
		struct timespec until;

		if (r->out.len > r->rpos) {
			n   = O_MIN(size, r->out.len - r->rpos);
			buf = o_memdup(r->out.data + r->rpos, n);
			r->rpos += n;
			if (r->rpos == r->out.len) {
				o_buf_reset(&r->out);
				r->rpos = 0;
			}
			pthread_cond_broadcast(&r->r_cv);
			break;
		}
		if (r->done || !r->started)
			break;
		if (fuse_req_interrupted(req)) {
			err = EINTR;
			break;
		}
		until = o_abstime(CLOCK_MONOTONIC, 200);
		pthread_cond_timedwait(&r->r_cv, &r->r_mtx, &until);
	}
	pthread_mutex_unlock(&r->r_mtx);
	if (err != 0)
		reply_errno(req, OP_read, err);
	else
		fuse_reply_buf(req, buf, n);
	free(buf);
}

static void
ctl_open(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct ofs_fuse *f = fs_of(req);
	struct ll_fh    *fh;

	if (ino == CTL_DIR_INO) {
		reply_errno(req, OP_open, EISDIR);
		return;
	}
	if (ino != CTL_CTL_INO && (fi->flags & O_ACCMODE) != O_RDONLY) {
		reply_errno(req, OP_open, EACCES);
		return;
	}
	fh      = fh_new(f);
	fh->ino = ino;
	if (ino == CTL_STATUS_INO)
		status_text(f, &fh->text);
	else if (ino == CTL_STATS_INO)
		stats_text(f, &fh->text);
	else {
		fh->req       = o_calloc(1, sizeof(*fh->req));
		fh->req->f    = f;
		fh->req->refs = 1;
		pthread_mutex_init(&fh->req->r_mtx, NULL);
		o_cond_init_mono(&fh->req->r_cv);
		fi->nonseekable = 1;
	}
	fi->direct_io = 1;
	fi->fh        = (uintptr_t) fh;
	if (fuse_reply_open(req, fi) != 0)
		fh_free(f, fh);
}

/*
 * Handlers.
 */

static void
ll_init(void *userdata, struct fuse_conn_info *conn)
{
	struct ofs_fuse *f = userdata;

	/* The namespace must see every write: no writeback cache. */
	conn->want &= ~FUSE_CAP_WRITEBACK_CACHE;
	/* open(O_TRUNC) reaches us, so a diary refuses it atomically. */
	if (conn->capable & FUSE_CAP_ATOMIC_O_TRUNC)
		conn->want |= FUSE_CAP_ATOMIC_O_TRUNC;
	conn->want &= ~(FUSE_CAP_SPLICE_READ | FUSE_CAP_SPLICE_WRITE |
	    FUSE_CAP_SPLICE_MOVE);
	/* The kernel clears set-user-id and set-group-id bits (a chown, a
	 * write by another user) and sends us the mode: libfuse's default
	 * leaves that to the filesystem. */
	conn->want &= ~FUSE_CAP_HANDLE_KILLPRIV;
	conn->max_write = 1u << 20;
	conn->time_gran = 1;
	o_log(O_LOG_DEBUG,
	    "fuse init on %s: proto %u.%u, want 0x%x, max_write %u, "
	    "max_readahead %u",
	    f->mountpoint, conn->proto_major, conn->proto_minor, conn->want,
	    conn->max_write, conn->max_readahead);
}

/* Close the namespace once, after the control workers are gone. */
static void
close_ns(struct ofs_fuse *f)
{
	struct ofs_ns *ns = NULL;
	o_err          e;

	atomic_store(&f->stopping, true);
	pthread_mutex_lock(&f->f_mtx);
	while (f->workers > 0 || f->notifying > 0)
		pthread_cond_wait(&f->f_cv, &f->f_mtx);
	if (!f->ns_closed) {
		f->ns_closed = true;
		ns           = f->ns;
	}
	pthread_mutex_unlock(&f->f_mtx);
	if (ns == NULL)
		return;
	e = ofs_ns_close(ns);
	if (e != O_OK)
		o_log(O_LOG_ERROR,
		    "unmount %s: committing pending changes failed: %s: %s",
		    f->mountpoint, o_strerror(e), o_err_detail());
	else
		o_log(O_LOG_INFO, "unmount %s: everything committed",
		    f->mountpoint);
	pthread_mutex_lock(&f->f_mtx);
	f->close_err = e;
	pthread_mutex_unlock(&f->f_mtx);
}

static void
ll_destroy(void *userdata)
{
	close_ns(userdata);
}

static void
ll_lookup(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	struct ofs_fuse        *f = fs_of(req);
	struct fuse_entry_param e;
	struct ofs_attr         a;
	o_err                   err;
	int                     rc;

	count(f, OP_lookup);
	if (is_ctl_name(parent, name)) {
		ctl_entry(f, CTL_DIR_INO, &e);
		fuse_reply_entry(req, &e);
		return;
	}
	if (is_ctl(parent)) {
		if ((rc = ctl_lookup(f, name, &e)) != 0)
			reply_errno(req, OP_lookup, rc);
		else
			fuse_reply_entry(req, &e);
		return;
	}
	if (no_ns(f, req, OP_lookup))
		return;
	if ((err = ofs_lookup(f->ns, parent, name, &a)) != O_OK) {
		reply_fail(req, OP_lookup, err, parent, name);
		return;
	}
	reply_entry(f, req, &a);
}

static void
ll_forget(fuse_req_t req, fuse_ino_t ino, uint64_t nlookup)
{
	struct ofs_fuse *f = fs_of(req);

	if (!is_ctl(ino) && atomic_load(&f->ns) != NULL) /* no_ns: the root */
		ofs_ns_forget(f->ns, ino, nlookup);
	fuse_reply_none(req);
}

static void
ll_forget_multi(fuse_req_t req, size_t count, struct fuse_forget_data *fd)
{
	struct ofs_fuse *f = fs_of(req);
	size_t           i;

	for (i = 0; i < count; i++)
		if (!is_ctl(fd[i].ino) && atomic_load(&f->ns) != NULL)
			ofs_ns_forget(f->ns, fd[i].ino, fd[i].nlookup);
	fuse_reply_none(req);
}

static void
ll_getattr(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct ofs_fuse *f = fs_of(req);
	struct ofs_attr  a;
	struct stat      st;
	o_err            err;

	count(f, OP_getattr);
	if (is_ctl(ino)) {
		ctl_stat(f, ino, &st);
		fuse_reply_attr(req, &st, 0.0);
		return;
	}
	if (atomic_load(&f->ns) == NULL && ino == FUSE_ROOT_ID) {
		ctl_stat(f, ino, &st); /* this mount's own (no_ns) */
		fuse_reply_attr(req, &st, 0.0);
		return;
	}
	if (no_ns(f, req, OP_getattr))
		return;
	if ((err = ofs_getattr(f->ns, ino, &a)) != O_OK) {
		reply_fail(req, OP_getattr, err, ino, NULL);
		return;
	}
	attr_to_stat(f, &a, &st);
	fuse_reply_attr(req, &st, attr_ttl(f, &a));
}

static void
ll_setattr(fuse_req_t req, fuse_ino_t ino, struct stat *attr, int to_set,
    struct fuse_file_info *fi)
{
	struct ofs_fuse *f = fs_of(req);
	struct ofs_attr  a;
	struct stat      st;
	struct timespec  now;
	struct ofs_owner who = { 0 };
	bool             set_mode, set_mtime, set_owner = false;
	int64_t          mtime = 0;
	o_err            err   = O_OK;

	count(f, OP_setattr);
	if (is_ctl(ino)) {
		reply_errno(req, OP_setattr, EPERM);
		return;
	}
	if (no_ns(f, req, OP_setattr))
		return;
	if (to_set & (FUSE_SET_ATTR_UID | FUSE_SET_ATTR_GID)) {
		/* the kernel checked who may (default_permissions) */
		if ((err = ofs_getattr(f->ns, ino, &a)) != O_OK)
			goto out_fail;
		attr_to_stat(f, &a, &st);
		who.own = true;
		who.uid =
		    (to_set & FUSE_SET_ATTR_UID) ? attr->st_uid : st.st_uid;
		who.gid =
		    (to_set & FUSE_SET_ATTR_GID) ? attr->st_gid : st.st_gid;
		if (!f->owners &&
		    (who.uid != st.st_uid || who.gid != st.st_gid)) {
			/* owners not kept: none but the one it shows */
			reply_errno(req, OP_setattr, EPERM);
			return;
		}
		/* recorded (kept owners), and ctime set, even if the same */
		set_owner = true;
	}
	if (to_set & FUSE_SET_ATTR_SIZE) {
		err = ofs_truncate(f->ns, ino, (uint64_t) attr->st_size);
		if (err != O_OK)
			goto out_fail;
		if (fi != NULL && fi->fh != 0)
			atomic_store(&fh_of(fi)->written, true);
	}
	set_mode = (to_set & FUSE_SET_ATTR_MODE) != 0;
	set_mtime =
	    (to_set & (FUSE_SET_ATTR_MTIME | FUSE_SET_ATTR_MTIME_NOW)) != 0;
	if (to_set & FUSE_SET_ATTR_MTIME_NOW) {
		clock_gettime(CLOCK_REALTIME, &now);
		mtime = ts_ns(&now);
	} else if (to_set & FUSE_SET_ATTR_MTIME)
		mtime = ts_ns(&attr->st_mtim);
	/* atime is not kept (it reads as mtime); ctime follows changes. */
	if (set_mode || set_mtime || set_owner)
		err = ofs_setattr(f->ns, ino, set_mode, attr->st_mode & 07777,
		    set_mtime, mtime, set_owner && f->owners ? &who : NULL,
		    &a);
	else
		err = ofs_getattr(f->ns, ino, &a);
	if (err != O_OK)
		goto out_fail;
	attr_to_stat(f, &a, &st);
	fuse_reply_attr(req, &st, attr_ttl(f, &a));
	return;
out_fail:
	reply_fail(req, OP_setattr, err, ino, NULL);
}

/*
 * The owner of an object a request creates: the caller's uid and gid when
 * owners are kept, else the mount's user's (recorded all the same, so a
 * later mount with owners shows them).  A set-group-id parent's group is
 * the namespace's to give (ofs_create_as).
 */
static void
creator(struct ofs_fuse *f, fuse_req_t req, struct ofs_owner *who)
{
	const struct fuse_ctx *ctx = fuse_req_ctx(req);

	who->own = true;
	who->uid = f->owners ? ctx->uid : f->uid;
	who->gid = f->owners ? ctx->gid : f->gid;
}

/*
 * May the caller of req open an existing object a with these open flags?
 * The kernel checks an open of an existing name itself, but not one our
 * create answered after losing a race for the name (create_lost): it
 * takes the object as created.  Root may; others by the object's mode
 * bits for its owner, its group (the caller's groups included) or the
 * rest.  Without kept owners the mount lets in only its own user.
 */
static bool
may_open(
    struct ofs_fuse *f, fuse_req_t req, const struct ofs_attr *a, int flags)
{
	const struct fuse_ctx *ctx = fuse_req_ctx(req);
	struct stat            st;
	gid_t                  groups[64];
	unsigned               want = 0, bits;
	int                    n, i;
	bool                   member;

	if (!f->owners || ctx->uid == 0)
		return true;
	attr_to_stat(f, a, &st);
	if ((flags & O_ACCMODE) != O_WRONLY)
		want |= 4;
	if ((flags & O_ACCMODE) != O_RDONLY || (flags & O_TRUNC))
		want |= 2;
	member = st.st_gid == ctx->gid;
	n      = fuse_req_getgroups(req, (int) O_NELEM(groups), groups);
	for (i = 0; !member && i < n && i < (int) O_NELEM(groups); i++)
		member = groups[i] == st.st_gid;
	bits = st.st_uid == ctx->uid ? (st.st_mode >> 6) & 7
	    : member                 ? (st.st_mode >> 3) & 7
	                             : st.st_mode & 7;
	return (bits & want) == want;
}

static void
ll_mkdir(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode)
{
	struct ofs_fuse        *f = fs_of(req);
	struct ofs_attr         a;
	struct ofs_owner        who;
	o_err                   err;

	count(f, OP_mkdir);
	if (is_ctl_name(parent, name) || is_ctl(parent)) {
		reply_errno(req, OP_mkdir, is_ctl(parent) ? EPERM : EEXIST);
		return;
	}
	if (no_ns(f, req, OP_mkdir))
		return;
	creator(f, req, &who);
	err = ofs_create_as(
	    f->ns, parent, name, OFS_DIR, mode & 07777, &who, &a);
	if (err != O_OK) {
		reply_fail(req, OP_mkdir, err, parent, name);
		return;
	}
	reply_entry(f, req, &a);
}

static void
ll_mknod(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode,
    dev_t rdev)
{
	struct ofs_fuse        *f = fs_of(req);
	struct ofs_attr         a;
	struct ofs_owner        who;
	o_err                   err;

	count(f, OP_mknod);
	if (is_ctl_name(parent, name) || is_ctl(parent)) {
		reply_errno(req, OP_mknod, is_ctl(parent) ? EPERM : EEXIST);
		return;
	}
	/* Only regular files: no devices, fifos or sockets. */
	if (!S_ISREG(mode)) {
		reply_errno(req, OP_mknod, EPERM);
		return;
	}
	if (no_ns(f, req, OP_mknod))
		return;
	creator(f, req, &who);
	err = ofs_create_as(
	    f->ns, parent, name, OFS_FILE, mode & 07777, &who, &a);
	if (err != O_OK) {
		reply_fail(req, OP_mknod, err, parent, name);
		return;
	}
	reply_entry(f, req, &a);
}

/*
 * create lost a race: another mount created name first (shared namespace).
 * Without O_EXCL the open goes to what it created, as open(2) of an
 * existing name would: truncated with O_TRUNC, EISDIR on a directory.
 */
static o_err
create_lost(struct ofs_fuse *f, fuse_req_t req, fuse_ino_t parent,
    const char *name, const struct fuse_file_info *fi, struct ofs_attr *a)
{
	o_err err;

	if ((err = ofs_lookup(f->ns, parent, name, a)) != O_OK)
		return err;
	if (a->kind == OFS_DIR)
		err = o_err_set(O_EISDIR, "create %s: a directory", name);
	else if (!may_open(f, req, a, fi->flags))
		err = o_err_set(O_EACCES,
		    "create %s: created meanwhile by another mount, and "
		    "its mode does not let this user open it so",
		    name);
	else if ((fi->flags & O_TRUNC) &&
	    (fi->flags & O_ACCMODE) != O_RDONLY &&
	    (err = ofs_truncate(f->ns, a->ino, 0)) == O_OK)
		err = ofs_getattr(f->ns, a->ino, a);
	if (err != O_OK) /* the lookup's entry is not handed out */
		ofs_ns_forget(f->ns, a->ino, 1);
	return err;
}

static void
ll_create(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode,
    struct fuse_file_info *fi)
{
	struct ofs_fuse        *f = fs_of(req);
	struct fuse_entry_param e;
	struct ofs_attr         a;
	struct ofs_owner        who;
	struct ll_fh           *fh;
	enum ofs_kind           kind;
	bool                    lost = false;
	o_err                   err;

	count(f, OP_create);
	if (is_ctl_name(parent, name) || is_ctl(parent)) {
		reply_errno(req, OP_create, is_ctl(parent) ? EPERM : EEXIST);
		return;
	}
	/* O_CREAT|O_APPEND (the shell's >>) creates a diary. */
	kind = (fi->flags & O_APPEND) ? OFS_DIARY : OFS_FILE;
	if (no_ns(f, req, OP_create))
		return;
	creator(f, req, &who);
	err = ofs_create_as(f->ns, parent, name, kind, mode & 07777, &who, &a);
	if (err == O_EEXIST && !(fi->flags & O_EXCL)) {
		lost = true;
		err  = create_lost(f, req, parent, name, fi, &a);
	}
	if (err != O_OK) {
		reply_fail(req, OP_create, err, parent, name);
		return;
	}
	fh       = fh_new(f);
	fh->ino  = a.ino;
	fh->kind = a.kind;
	/* the creation itself, or (lost) what an open would have written */
	atomic_store(&fh->written,
	    !lost || ((fi->flags & O_TRUNC) != 0 &&
	                 (fi->flags & O_ACCMODE) != O_RDONLY));
	fi->fh         = (uintptr_t) fh;
	fi->direct_io  = a.kind == OFS_DIARY;
	fi->keep_cache = 0;
	entry_of(f, &a, &e);
	if (fuse_reply_create(req, &e, fi) != 0) {
		fh_free(f, fh);
		ofs_ns_forget(f->ns, a.ino, 1);
	}
}

static void
ll_open(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct ofs_fuse *f = fs_of(req);
	struct ofs_attr  a;
	struct ll_fh    *fh;
	o_err            err;

	count(f, OP_open);
	if (is_ctl(ino)) {
		ctl_open(req, ino, fi);
		return;
	}
	if (no_ns(f, req, OP_open))
		return;
	if ((err = ofs_open(f->ns, ino, &a)) != O_OK)
		goto out_fail;
	if (a.kind == OFS_DIR) {
		reply_errno(req, OP_open, EISDIR);
		return;
	}
	if ((fi->flags & O_TRUNC) && (fi->flags & O_ACCMODE) != O_RDONLY) {
		/* A diary refuses (O_EPERM) and stays as it is. */
		if ((err = ofs_truncate(f->ns, ino, 0)) != O_OK)
			goto out_fail;
	}
	fh       = fh_new(f);
	fh->ino  = ino;
	fh->kind = a.kind;
	atomic_store(&fh->written,
	    (fi->flags & O_TRUNC) != 0 && (fi->flags & O_ACCMODE) != O_RDONLY);
	fi->fh         = (uintptr_t) fh;
	fi->direct_io  = a.kind == OFS_DIARY;
	fi->keep_cache = 0;
	if (fuse_reply_open(req, fi) != 0)
		fh_free(f, fh);
	return;
out_fail:
	if (err == O_ENOTFOUND) {
		/* another mount removed or replaced the file behind the
		 * kernel's cached name: ESTALE makes the kernel look the
		 * path up again and retry once (as for NFS), so that
		 * `cat f` or `echo x > f` opens the new file, or fails
		 * (creates) as the name's lookup says: an O_CREAT open
		 * creates it anew */
		o_log(O_LOG_DEBUG,
		    "open: inode %" PRIu64 ": %s: ESTALE (the "
		    "kernel looks again)",
		    ino, o_err_detail());
		reply_errno(req, OP_open, ESTALE);
		return;
	}
	reply_fail(req, OP_open, err, ino, NULL);
}

static void ll_read_fh(fuse_req_t req, fuse_ino_t ino, size_t size,
    off_t off, struct fuse_file_info *fi);

/* Drop a reference to fh; the last frees it. */
static void
fh_rele(struct ofs_fuse *f, struct ll_fh *fh)
{
	if (atomic_fetch_sub(&fh->refs, 1) == 1)
		fh_free(f, fh);
}

/* A buffer of at least size bytes (*cap: its size), a kept one if any. */
static char *
rbuf_take(struct ofs_fuse *f, size_t size, size_t *cap)
{
	char *p = NULL;

	*cap = 0;
	pthread_mutex_lock(&f->b_mtx);
	if (f->nrbuf > 0) {
		f->nrbuf--;
		p    = f->rbuf[f->nrbuf];
		*cap = f->rbuf_cap[f->nrbuf];
	}
	pthread_mutex_unlock(&f->b_mtx);
	if (*cap < size || p == NULL) {
		free(p);
		*cap = O_MAX(size, (size_t) 1);
		p    = o_malloc(*cap);
	}
	return p;
}

/* Keep buf for the next read, or free it (too big, or enough kept). */
static void
rbuf_give(struct ofs_fuse *f, char *buf, size_t cap)
{
	pthread_mutex_lock(&f->b_mtx);
	if (cap <= RBUF_MAX && f->nrbuf < RBUF_KEEP) {
		f->rbuf[f->nrbuf]     = buf;
		f->rbuf_cap[f->nrbuf] = cap;
		f->nrbuf++;
		buf = NULL;
	}
	pthread_mutex_unlock(&f->b_mtx);
	free(buf);
}

static void
ll_read(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
    struct fuse_file_info *fi)
{
	struct ofs_fuse *f  = fs_of(req); /* req is gone once answered */
	struct ll_fh    *fh = fh_of(fi);

	atomic_fetch_add(&fh->refs, 1);
	ll_read_fh(req, ino, size, off, fi);
	fh_rele(f, fh);
}

static void
ll_read_fh(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
    struct fuse_file_info *fi)
{
	struct ofs_fuse *f  = fs_of(req);
	struct ll_fh    *fh = fh_of(fi);
	char            *buf;
	size_t           got = 0, cap;
	o_err            err;

	count(f, OP_read);
	if (fh->req != NULL) {
		ctl_read(req, fh->req, size);
		return;
	}
	if (is_ctl(ino)) {
		if ((size_t) off >= fh->text.len)
			fuse_reply_buf(req, NULL, 0);
		else
			fuse_reply_buf(req, (char *) fh->text.data + off,
			    O_MIN(size, fh->text.len - (size_t) off));
		return;
	}
	buf = rbuf_take(f, size, &cap);
	err = ofs_read(f->ns, ino, (uint64_t) off, size, buf, &got);
	if (err != O_OK)
		reply_fail(req, OP_read, err, ino, NULL);
	else {
		atomic_fetch_add_explicit(
		    &f->bytes_read, got, memory_order_relaxed);
		fuse_reply_buf(req, buf, got);
	}
	rbuf_give(f, buf, cap);
}

static void
ll_write(fuse_req_t req, fuse_ino_t ino, const char *buf, size_t size,
    off_t off, struct fuse_file_info *fi)
{
	struct ofs_fuse *f  = fs_of(req);
	struct ll_fh    *fh = fh_of(fi);
	o_err            err;
	int              rc;

	count(f, OP_write);
	if (fh->req != NULL) {
		if ((rc = ctl_start(f, fh->req, buf, size)) != 0)
			reply_errno(req, OP_write, rc);
		else
			fuse_reply_write(req, size);
		return;
	}
	if (is_ctl(ino)) {
		reply_errno(req, OP_write, EBADF);
		return;
	}
	err = ofs_write(f->ns, ino, (uint64_t) fi->fh, (uint64_t) off, buf,
	    size, (fi->flags & O_APPEND) != 0);
	if (err != O_OK) {
		reply_fail(req, OP_write, err, ino, NULL);
		return;
	}
	atomic_store(&fh->written, true);
	atomic_fetch_add_explicit(
	    &f->bytes_written, size, memory_order_relaxed);
	fuse_reply_write(req, size);
}

/* close(): commit what this open file wrote (queue it when async). */
static void
ll_flush(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct ofs_fuse *f  = fs_of(req);
	struct ll_fh    *fh = fh_of(fi);
	o_err            err;

	count(f, OP_flush);
	if (is_ctl(ino) || !atomic_exchange(&fh->written, false)) {
		fuse_reply_err(req, 0);
		return;
	}
	if ((err = ofs_flush(f->ns, ino, (uint64_t) fi->fh, false)) != O_OK) {
		atomic_store(&fh->written, true);
		reply_fail(req, OP_flush, err, ino, NULL);
		return;
	}
	fuse_reply_err(req, 0);
}

static void
ll_fsync(
    fuse_req_t req, fuse_ino_t ino, int datasync, struct fuse_file_info *fi)
{
	struct ofs_fuse *f = fs_of(req);
	o_err            err;

	count(f, OP_fsync);
	if (is_ctl(ino)) {
		fuse_reply_err(req, 0);
		return;
	}
	if ((err = ofs_flush(f->ns, ino, (uint64_t) fi->fh, true)) != O_OK) {
		reply_fail(req, OP_fsync, err, ino, NULL);
		return;
	}
	fuse_reply_err(req, 0);
}

static void
ll_release(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct ofs_fuse *f  = fs_of(req);
	struct ll_fh    *fh = fh_of(fi);

	count(f, OP_release);
	if (fh->kind == OFS_DIARY)
		ofs_release(f->ns, ino, (uint64_t) fi->fh);
	fuse_reply_err(req, 0);
	fh_rele(f, fh);
}

static void dh_truncate(struct ll_dh *dh, size_t n);

/* Unlist and free an open directory (releasedir, or still open at
 * unmount). */
static void
dh_free(struct ofs_fuse *f, struct ll_dh *dh)
{
	link_del(f, &f->dhs, &dh->link);
	dh_truncate(dh, 0);
	free(dh->names);
	pthread_mutex_destroy(&dh->d_mtx);
	free(dh);
}

static void
ll_opendir(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct ofs_fuse *f = fs_of(req);
	struct ofs_attr  a;
	struct ll_dh    *dh;
	o_err            err;

	count(f, OP_opendir);
	if (is_ctl(ino) && ino != CTL_DIR_INO) {
		reply_errno(req, OP_opendir, ENOTDIR);
		return;
	}
	if (!is_ctl(ino)) {
		if (no_ns(f, req, OP_opendir))
			return;
		if ((err = ofs_open(f->ns, ino, &a)) != O_OK) {
			reply_fail(req, OP_opendir, err, ino, NULL);
			return;
		}
		if (a.kind != OFS_DIR) {
			reply_errno(req, OP_opendir, ENOTDIR);
			return;
		}
	}
	dh      = o_calloc(1, sizeof(*dh));
	dh->ino = ino;
	pthread_mutex_init(&dh->d_mtx, NULL);
	link_add(f, &f->dhs, &dh->link);
	fi->fh = (uintptr_t) dh;
	if (fuse_reply_open(req, fi) != 0)
		dh_free(f, dh);
}

static void
dh_truncate(struct ll_dh *dh, size_t n)
{
	while (dh->n > n)
		free(dh->names[--dh->n]);
}

/* Give name the next cookie (3 + its index). */
static void
dh_push(struct ll_dh *dh, const char *name)
{
	if (dh->n == dh->cap) {
		dh->cap   = dh->cap ? 2 * dh->cap : 64;
		dh->names = o_realloc(dh->names, dh->cap * sizeof(char *));
	}
	dh->names[dh->n++] = o_strdup(name);
}

/* Filling one readdir reply. */
struct dirfill {
	fuse_req_t       req;
	struct ofs_fuse *f;
	struct ll_dh    *dh;
	bool             plus;
	char            *buf;
	size_t           size, used;
	bool             full;
	uint64_t        *refs; /* plus: inos counted (ofs_ns_ref) */
	size_t           nref, refcap;
};

/* Add one entry with cookie off; false when it does not fit. */
static bool
dirfill_add(struct dirfill *d, const char *name, const struct stat *st,
    const struct fuse_entry_param *e, off_t off)
{
	size_t need;

	if (d->plus)
		need = fuse_add_direntry_plus(
		    d->req, d->buf + d->used, d->size - d->used, name, e, off);
	else
		need = fuse_add_direntry(d->req, d->buf + d->used,
		    d->size - d->used, name, st, off);
	if (need > d->size - d->used) {
		d->full = true;
		return false;
	}
	d->used += need;
	return true;
}

static int
dirfill_ns(void *arg, const char *name, const struct ofs_attr *a)
{
	struct dirfill         *d  = arg;
	struct ll_dh           *dh = d->dh;
	struct fuse_entry_param e;

	entry_of(d->f, a, &e);
	if (!dirfill_add(d, name, &e.attr, &e, (off_t) (3 + dh->n)))
		return 1;
	if (d->plus) { /* the kernel counts a lookup for it */
		if (d->nref == d->refcap) {
			d->refcap = d->refcap ? 2 * d->refcap : 64;
			d->refs   = o_realloc(d->refs, d->refcap * sizeof(*d->refs));
		}
		ofs_ns_ref(d->f->ns, a->ino);
		d->refs[d->nref++] = a->ino;
	}
	dh_push(dh, name);
	return 0;
}

static void
dirfill_dot(struct dirfill *d, const char *name, fuse_ino_t ino, off_t off)
{
	struct fuse_entry_param e;

	/* ino 0 in the entry: the kernel makes no dentry from "." / "..". */
	memset(&e, 0, sizeof(e));
	e.attr.st_ino  = ino;
	e.attr.st_mode = S_IFDIR;
	(void) dirfill_add(d, name, &e.attr, &e, off);
}

static void
readdir_common(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
    struct fuse_file_info *fi, bool plus)
{
	struct ofs_fuse *f  = fs_of(req);
	struct ll_dh    *dh = (struct ll_dh *) (uintptr_t) fi->fh;
	struct dirfill   d  = { .req = req, .f = f, .dh = dh, .plus = plus };
	const char      *after = NULL;
	size_t           i;
	o_err            err = O_OK;

	count(f, OP_readdir);
	d.buf  = o_malloc(size);
	d.size = size;
	pthread_mutex_lock(&dh->d_mtx);
	if (off < 0 || (off >= 3 && (size_t) (off - 3) >= dh->n))
		goto out_reply; /* a cookie from before a rewind: the end */
	if (off == 0)
		dh_truncate(dh, 0);
	if (off < 1)
		dirfill_dot(&d, ".", ino, 1);
	if (off < 2 && !d.full)
		dirfill_dot(
		    &d, "..", ino == CTL_DIR_INO ? FUSE_ROOT_ID : ino, 2);
	if (d.full)
		goto out_reply;
	if (off >= 3) {
		/*
		 * Resume after the name of cookie off.  Every cookie handed
		 * out since the last rewind stays valid (POSIX seekdir): names
		 * read after a seek back get new cookies at the end of the
		 * list.
		 */
		after = dh->names[off - 3];
	}
	if (ino == CTL_DIR_INO) {
		i = 0;
		if (after != NULL)
			while (i < O_NELEM(ctl_files) &&
			    strcmp(ctl_files[i++].name, after) != 0)
				;
		for (; i < O_NELEM(ctl_files); i++) {
			struct fuse_entry_param e;

			ctl_entry(f, ctl_files[i].ino, &e);
			if (!dirfill_add(&d, ctl_files[i].name, &e.attr, &e,
			        (off_t) (3 + dh->n)))
				break;
			dh_push(dh, ctl_files[i].name);
		}
		goto out_reply;
	}
	err = ofs_readdir(f->ns, ino, after, dirfill_ns, &d);
out_reply:
	pthread_mutex_unlock(&dh->d_mtx);
	if (err != O_OK && d.used == 0)
		reply_fail(req, OP_readdir, err, ino, after);
	else if (fuse_reply_buf(req, d.buf, d.used) != 0)
		for (i = 0; i < d.nref; i++) /* the kernel never got them */
			ofs_ns_forget(f->ns, d.refs[i], 1);
	free(d.refs);
	free(d.buf);
}

static void
ll_readdir(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
    struct fuse_file_info *fi)
{
	readdir_common(req, ino, size, off, fi, false);
}

static void
ll_readdirplus(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
    struct fuse_file_info *fi)
{
	readdir_common(req, ino, size, off, fi, true);
}

static void
ll_releasedir(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	dh_free(fs_of(req), (struct ll_dh *) (uintptr_t) fi->fh);
	fuse_reply_err(req, 0);
}

static void
ll_fsyncdir(
    fuse_req_t req, fuse_ino_t ino, int datasync, struct fuse_file_info *fi)
{
	struct ofs_fuse *f = fs_of(req);
	o_err            err;

	count(f, OP_fsync);
	if (!is_ctl(ino) && (err = ofs_flush(f->ns, ino, 0, true)) != O_OK) {
		reply_fail(req, OP_fsync, err, ino, NULL);
		return;
	}
	fuse_reply_err(req, 0);
}

/* unlink and rmdir: the same checks around a different namespace call. */
static void
remove_common(fuse_req_t req, fuse_ino_t parent, const char *name,
    enum ll_op op, o_err (*fn)(struct ofs_ns *, uint64_t, const char *))
{
	struct ofs_fuse *f = fs_of(req);
	o_err            err;

	count(f, op);
	if (is_ctl_name(parent, name) || is_ctl(parent)) {
		reply_errno(req, op, EPERM);
		return;
	}
	if (no_ns(f, req, op))
		return;
	if ((err = fn(f->ns, parent, name)) != O_OK) {
		reply_fail(req, op, err, parent, name);
		return;
	}
	fuse_reply_err(req, 0);
}

static void
ll_unlink(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	remove_common(req, parent, name, OP_unlink, ofs_unlink);
}

static void
ll_rmdir(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	remove_common(req, parent, name, OP_rmdir, ofs_rmdir);
}

static void
ll_rename(fuse_req_t req, fuse_ino_t parent, const char *name,
    fuse_ino_t newparent, const char *newname, unsigned int flags)
{
	struct ofs_fuse *f = fs_of(req);
	o_err            err;

	count(f, OP_rename);
	/* RENAME_EXCHANGE is not supported (EINVAL, as by filesystems
	 * without it) */
	if ((flags & ~(unsigned) RENAME_NOREPLACE) != 0) {
		reply_errno(req, OP_rename, EINVAL);
		return;
	}
	if (is_ctl_name(parent, name) || is_ctl(parent) ||
	    is_ctl_name(newparent, newname) || is_ctl(newparent)) {
		reply_errno(req, OP_rename, EPERM);
		return;
	}
	if (no_ns(f, req, OP_rename))
		return;
	err = ofs_rename_flags(f->ns, parent, name, newparent, newname,
	    (flags & RENAME_NOREPLACE) != 0);
	if (err != O_OK) {
		reply_fail(req, OP_rename, err, parent, name);
		return;
	}
	fuse_reply_err(req, 0);
}

static void
ll_link(
    fuse_req_t req, fuse_ino_t ino, fuse_ino_t newparent, const char *newname)
{
	count(fs_of(req), OP_link);
	/* No hard links: a file's identity is its directory entry. */
	reply_errno(req, OP_link, EPERM);
}

static void
ll_symlink(
    fuse_req_t req, const char *link, fuse_ino_t parent, const char *name)
{
	count(fs_of(req), OP_link);
	reply_errno(req, OP_link, EPERM);
}

static void
ll_statfs(fuse_req_t req, fuse_ino_t ino)
{
	struct ofs_fuse *f = fs_of(req);
	struct statvfs   sv;

	count(f, OP_statfs);
	if (statvfs(f->data_dir, &sv) != 0) {
		int err = errno;

		o_log(O_LOG_ERROR, "statfs: data dir %s: %s", f->data_dir,
		    strerror(err));
		reply_errno(req, OP_statfs, err);
		return;
	}
	sv.f_namemax = OFS_NAME_MAX;
	sv.f_fsid    = 0;
	fuse_reply_statfs(req, &sv);
}

static bool
is_user_xattr(const char *name)
{
	return strncmp(name, "user.", 5) == 0;
}

static void
ll_getxattr(fuse_req_t req, fuse_ino_t ino, const char *name, size_t size)
{
	struct ofs_fuse *f   = fs_of(req);
	char            *buf = NULL;
	size_t           len = 0;
	o_err            err;

	count(f, OP_getxattr);
	/* Only user.* exists; security.capability is asked on writes. */
	if (is_ctl(ino) || !is_user_xattr(name)) {
		fuse_reply_err(req, ENODATA);
		return;
	}
	if (no_ns(f, req, OP_getxattr))
		return;
	if (size > 0)
		buf = o_malloc(size);
	err = ofs_getxattr(f->ns, ino, name, buf, size, &len);
	if (err == O_ENOTFOUND || err == O_ETOOBIG)
		reply_errno(req, OP_getxattr, ofs_errno_xattr(err));
	else if (err != O_OK)
		reply_fail(req, OP_getxattr, err, ino, name);
	else if (size == 0)
		fuse_reply_xattr(req, len);
	else
		fuse_reply_buf(req, buf, len);
	free(buf);
}

static void
ll_setxattr(fuse_req_t req, fuse_ino_t ino, const char *name,
    const char *value, size_t size, int flags)
{
	struct ofs_fuse *f = fs_of(req);
	size_t           len;
	o_err            err;

	count(f, OP_setxattr);
	if (is_ctl(ino)) {
		reply_errno(req, OP_setxattr, EPERM);
		return;
	}
	if (!is_user_xattr(name)) {
		reply_errno(req, OP_setxattr, ENOTSUP);
		return;
	}
	if (no_ns(f, req, OP_setxattr))
		return;
	if (flags & (XATTR_CREATE | XATTR_REPLACE)) {
		err = ofs_getxattr(f->ns, ino, name, NULL, 0, &len);
		if ((flags & XATTR_CREATE) && err != O_ENOTFOUND) {
			reply_errno(req, OP_setxattr, EEXIST);
			return;
		}
		if ((flags & XATTR_REPLACE) && err == O_ENOTFOUND) {
			reply_errno(req, OP_setxattr, ENODATA);
			return;
		}
	}
	if ((err = ofs_setxattr(f->ns, ino, name, value, size)) != O_OK) {
		reply_fail(req, OP_setxattr, err, ino, name);
		return;
	}
	fuse_reply_err(req, 0);
}

static void
ll_listxattr(fuse_req_t req, fuse_ino_t ino, size_t size)
{
	struct ofs_fuse *f   = fs_of(req);
	char            *buf = NULL;
	size_t           len = 0;
	o_err            err = O_OK;

	count(f, OP_listxattr);
	if (!is_ctl(ino) && no_ns(f, req, OP_listxattr))
		return;
	if (size > 0)
		buf = o_malloc(size);
	if (!is_ctl(ino))
		err = ofs_listxattr(f->ns, ino, buf, size, &len);
	if (err == O_ETOOBIG)
		reply_errno(req, OP_listxattr, ofs_errno_xattr(err));
	else if (err != O_OK)
		reply_fail(req, OP_listxattr, err, ino, NULL);
	else if (size == 0)
		fuse_reply_xattr(req, len);
	else
		fuse_reply_buf(req, buf, len);
	free(buf);
}

static void
ll_removexattr(fuse_req_t req, fuse_ino_t ino, const char *name)
{
	struct ofs_fuse *f = fs_of(req);
	o_err            err;

	count(f, OP_removexattr);
	if (is_ctl(ino)) {
		reply_errno(req, OP_removexattr, EPERM);
		return;
	}
	if (!is_user_xattr(name)) {
		reply_errno(req, OP_removexattr, ENODATA);
		return;
	}
	if (no_ns(f, req, OP_removexattr))
		return;
	err = ofs_removexattr(f->ns, ino, name);
	if (err == O_ENOTFOUND)
		reply_errno(req, OP_removexattr, ENODATA);
	else if (err != O_OK)
		reply_fail(req, OP_removexattr, err, ino, name);
	else
		fuse_reply_err(req, 0);
}

static const struct fuse_lowlevel_ops ll_ops = {
	.init        = ll_init,
	.destroy     = ll_destroy,
	.lookup      = ll_lookup,
	.forget      = ll_forget,
	.forget_multi = ll_forget_multi,
	.getattr     = ll_getattr,
	.setattr     = ll_setattr,
	.mknod       = ll_mknod,
	.mkdir       = ll_mkdir,
	.unlink      = ll_unlink,
	.rmdir       = ll_rmdir,
	.symlink     = ll_symlink,
	.rename      = ll_rename,
	.link        = ll_link,
	.open        = ll_open,
	.read        = ll_read,
	.write       = ll_write,
	.flush       = ll_flush,
	.release     = ll_release,
	.fsync       = ll_fsync,
	.opendir     = ll_opendir,
	.readdir     = ll_readdir,
	.readdirplus = ll_readdirplus,
	.releasedir  = ll_releasedir,
	.fsyncdir    = ll_fsyncdir,
	.statfs      = ll_statfs,
	.setxattr    = ll_setxattr,
	.getxattr    = ll_getxattr,
	.listxattr   = ll_listxattr,
	.removexattr = ll_removexattr,
	.create      = ll_create,
};

/*
 * Session.
 */

#define FD_SCAN_MAX 1024

/* Which descriptors below FD_SCAN_MAX are open, as a bitmap. */
static void
open_fds(uint8_t map[FD_SCAN_MAX / 8])
{
	int fd;

	memset(map, 0, FD_SCAN_MAX / 8);
	for (fd = 0; fd < FD_SCAN_MAX; fd++)
		if (fcntl(fd, F_GETFD) != -1)
			map[fd / 8] |= (uint8_t) (1u << (fd % 8));
}

/*
 * With -o auto_unmount, libfuse 3.14 keeps its end of the socket that
 * fusermount3's watchdog waits on, without FD_CLOEXEC and numbered below
 * /dev/fuse.  A dying process closes descriptors in order, so the
 * watchdog could wake, probe the mount while the connection is still
 * live, get ECONNABORTED instead of ENOTCONN and leave a dead mount
 * behind (should_auto_unmount in fusermount3).  Move that socket above
 * the FUSE descriptor, close-on-exec, so the connection is gone first.
 */
static void
renumber_unmount_socket(
    struct fuse_session *se, const uint8_t before[FD_SCAN_MAX / 8])
{
	int         ffd = fuse_session_fd(se), fd, nfd, type, domain;
	socklen_t   len;
	struct stat st;

	for (fd = 0; fd < FD_SCAN_MAX && fd < ffd; fd++) {
		if (before[fd / 8] & (1u << (fd % 8)))
			continue;
		if (fstat(fd, &st) != 0 || !S_ISSOCK(st.st_mode))
			continue;
		len = sizeof(type);
		if (getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &len) != 0 ||
		    type != SOCK_STREAM)
			continue;
		len = sizeof(domain);
		if (getsockopt(fd, SOL_SOCKET, SO_DOMAIN, &domain, &len) !=
		        0 ||
		    domain != AF_UNIX)
			continue;
		if ((nfd = fcntl(fd, F_DUPFD_CLOEXEC, ffd + 1)) < 0) {
			o_log(O_LOG_WARN, "auto_unmount socket: %s",
			    strerror(errno));
			continue;
		}
		close(fd);
		o_log(O_LOG_DEBUG,
		    "auto_unmount socket moved from fd %d to %d", fd, nfd);
	}
}

static void
fuse_free(struct ofs_fuse *f)
{
	while (f->nrbuf > 0)
		free(f->rbuf[--f->nrbuf]);
	pthread_mutex_destroy(&f->b_mtx);
	fuse_opt_free_args(&f->args);
	pthread_cond_destroy(&f->f_cv);
	pthread_mutex_destroy(&f->f_mtx);
	free(f->mountpoint);
	free(f->data_dir);
	free(f);
}

o_err
ofs_fuse_mount(const struct ofs_fuse_conf *conf, struct ofs_fuse **out)
{
	struct ofs_fuse *f;
	uint8_t          before[FD_SCAN_MAX / 8];
	o_err            err = O_OK;
	int              i;

	f              = o_calloc(1, sizeof(*f));
	f->mountpoint  = o_strdup(conf->mountpoint);
	f->data_dir    = o_strdup(conf->data_dir);
	f->async       = conf->async;
	f->durable      = conf->durable;
	f->shared      = conf->shared;
	f->owners       = conf->owners;
	f->interval_ms = conf->commit_interval_ms;
	f->uid         = getuid();
	f->gid         = getgid();
	f->started_ms  = o_now_ms();
	f->started_mono = o_mono_ms();
	f->extra_stats = conf->extra_stats;
	f->extra_status = conf->extra_status;
	f->extra_arg   = conf->extra_arg;
	pthread_mutex_init(&f->f_mtx, NULL);
	pthread_mutex_init(&f->b_mtx, NULL);
	pthread_cond_init(&f->f_cv, NULL);
	f->args = (struct fuse_args) FUSE_ARGS_INIT(0, NULL);
	for (i = 0; i < conf->fuse_argc; i++)
		if (fuse_opt_add_arg(&f->args, conf->fuse_argv[i]) != 0) {
			err = o_err_set(O_ENOMEM, "mount %s: fuse arguments",
			    conf->mountpoint);
			goto out_free;
		}
	f->se = fuse_session_new(&f->args, &ll_ops, sizeof(ll_ops), f);
	if (f->se == NULL) {
		err = o_err_set(O_EINVAL,
		    "mount %s: libfuse refused the mount options (see the "
		    "message above)",
		    conf->mountpoint);
		goto out_free;
	}
	if (fuse_set_signal_handlers(f->se) != 0) {
		err = o_err_set(O_EIO,
		    "mount %s: cannot install signal "
		    "handlers",
		    conf->mountpoint);
		goto out_destroy;
	}
	open_fds(before);
	if (fuse_session_mount(f->se, conf->mountpoint) != 0) {
		err = o_err_set(O_EIO,
		    "mount %s: the kernel refused the mount (see the message "
		    "above)",
		    conf->mountpoint);
		goto out_handlers;
	}
	renumber_unmount_socket(f->se, before);
	f->mounted = true;
	*out       = f;
	return O_OK;
out_handlers:
	fuse_remove_signal_handlers(f->se);
out_destroy:
	fuse_session_destroy(f->se);
out_free:
	fuse_free(f);
	return err;
}

bool
ofs_fuse_attach(
    struct ofs_fuse *f, struct ofs_ns *ns, struct oc_transactor *tx)
{
	bool ok;

	pthread_mutex_lock(&f->f_mtx);
	if ((ok = !f->ns_closed)) {
		f->tx = tx;
		atomic_store(&f->ns, ns);
		f->waiting[0] = '\0';
	}
	pthread_mutex_unlock(&f->f_mtx);
	return ok;
}

void
ofs_fuse_waiting(struct ofs_fuse *f, const char *why)
{
	pthread_mutex_lock(&f->f_mtx);
	snprintf(f->waiting, sizeof(f->waiting), "%s", why);
	pthread_mutex_unlock(&f->f_mtx);
}

o_err
ofs_fuse_run(struct ofs_fuse *f)
{
	struct fuse_loop_config *cfg;
	int                      rc;

	cfg = fuse_loop_cfg_create();
	fuse_loop_cfg_set_max_threads(cfg, 64);
	fuse_loop_cfg_set_idle_threads(cfg, 16);
	rc = fuse_session_loop_mt(f->se, cfg);
	fuse_loop_cfg_destroy(cfg);
	if (rc == -ECONNABORTED) {
		/* the kernel ended the connection: an abort (fusectl), or
		 * on 6.18 now and then a plain umount (a CI run, fusectl
		 * not even mounted).  Nothing more can come; the exit
		 * status says whether pending work was committed
		 * (close_ns), as for an unmount. */
		o_log(O_LOG_WARN,
		    "serving %s: the kernel ended the connection (%s)",
		    f->mountpoint, strerror(-rc));
		return O_OK;
	}
	if (rc < 0)
		return o_err_set(
		    O_EIO, "serving %s: %s", f->mountpoint, strerror(-rc));
	if (rc > 0)
		o_log(O_LOG_INFO, "%s: signal %d, unmounting", f->mountpoint,
		    rc);
	return O_OK;
}

/*
 * Cross-mount changes (ofs_fuse_changed).
 */

/* One invalidation, on the feed's thread (never a request handler's). */
static void
changed_cb(void *arg, uint64_t ino, const char *name)
{
	struct ofs_fuse *f = arg;
	int              rc;

	if (name == NULL) /* attributes and all cached contents */
		rc = fuse_lowlevel_notify_inval_inode(f->se, ino, 0, 0);
	else
		rc = fuse_lowlevel_notify_inval_entry(
		    f->se, ino, name, strlen(name));
	/* -ENOENT: the kernel does not cache it, nothing to drop */
	if (rc != 0 && rc != -ENOENT)
		o_log(O_LOG_DEBUG, "%s: invalidating inode %" PRIu64 "%s%s: %s",
		    f->mountpoint, ino, name != NULL ? " entry " : "",
		    name != NULL ? name : "", strerror(-rc));
}

o_err
ofs_fuse_changed(struct ofs_fuse *f, const struct oc_bid *col, int64_t rev)
{
	o_err e;

	pthread_mutex_lock(&f->f_mtx);
	if (f->notify_off || f->ns_closed || f->ns == NULL) {
		pthread_mutex_unlock(&f->f_mtx);
		return O_OK;
	}
	f->notifying++;
	pthread_mutex_unlock(&f->f_mtx);
	e = ofs_ns_changed(f->ns, col, rev, changed_cb, f);
	pthread_mutex_lock(&f->f_mtx);
	f->notifying--;
	pthread_cond_broadcast(&f->f_cv);
	pthread_mutex_unlock(&f->f_mtx);
	return e;
}

o_err
ofs_fuse_close(struct ofs_fuse *f)
{
	o_err err;

	/* no kernel notification may outlive the session */
	pthread_mutex_lock(&f->f_mtx);
	f->notify_off = true;
	while (f->notifying > 0)
		pthread_cond_wait(&f->f_cv, &f->f_mtx);
	pthread_mutex_unlock(&f->f_mtx);
	if (f->mounted) {
		fuse_session_unmount(f->se);
		f->mounted = false;
	}
	fuse_remove_signal_handlers(f->se);
	/* Runs the destroy handler if init was received. */
	fuse_session_destroy(f->se);
	while (f->fhs != NULL) /* open at unmount: never released */
		fh_free(f, (struct ll_fh *) f->fhs);
	while (f->dhs != NULL)
		dh_free(f, (struct ll_dh *) f->dhs);
	close_ns(f);
	err = f->close_err;
	fuse_free(f);
	return err;
}
