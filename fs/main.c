/*
 * main.c - the optimfs command: finds the subcommand and runs it
 * (fs/cli.h), and `optimfs mount`, which is here because it opens the
 * store (only the executable links every layer).  Exit status: 0 ok, 1
 * runtime error, 2 usage error.
 *
 * Design notes (mount).  The daemon forks before it opens anything:
 * RocksDB and the committer start threads, which a fork after them
 * (fuse_daemonize's way) would lose.  The child mounts first, while it
 * has one thread (libfuse forks fusermount3 for -o auto_unmount, and a
 * child forked beside running threads can hang on a lock they held),
 * then opens the store and the namespace and starts serving, while still
 * writing to the caller's terminal (the kernel holds requests to the
 * mount until then; a failure unmounts again), then tells the waiting
 * parent through a pipe; so `optimfs mount` exits
 * 0 only once the filesystem is mounted, and 1 with the child's message
 * otherwise.  The daemon then logs to DATA/optimfs.log and keeps its pid
 * in DATA/optimfs.pid; the mount's .optimfs/status shows the pid too,
 * which is how `optimfs umount` finds the daemon whose exit it awaits.
 *
 * Data directory layout: DATA/store (the RocksDB repository),
 * DATA/optimfs.log, DATA/optimfs.pid, DATA/optimfs.lock (lock_data_dir),
 * and for a cluster node DATA/members (its kept member list, node.h).
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <limits.h>
#include <malloc.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "core/diary.h"
#include "core/o_util.h"
#include "core/tree.h"
#include "fs/cli.h"
#include "fs/fuse_ll.h"
#include "fs/ns.h"
#include "store/journal.h"
#include "store/local.h"
#include "store/repo.h"
#include "transport/node.h"

#define DEFAULT_INTERVAL_MS 100

struct mount_args {
	char        *mountpoint; /* absolute */
	char        *data_dir;   /* absolute, exists */
	bool         foreground;
	bool         debug;
	bool         async;
	bool         durable; /* -o commit=durable: each commit synced */
	bool         owners;  /* -o allow_other: owners kept (fuse_ll.h) */
	int64_t      interval_ms;
	int64_t      idle_ms;   /* 0: OFS_INODE_IDLE_MS */
	struct o_buf fuse_opts; /* comma-separated, NUL-terminated */
	/* cluster (issue 3): listen set means this node is a peer */
	bool         serve; /* `optimfs serve`: no mountpoint, no FUSE */
	const char  *listen, *name;
	char        *certs; /* absolute: the daemon changes to / */
	const char  *join[16];
	size_t       njoin;
	bool         insecure;
	int          replicas;
	int64_t      timeout_ms;
};

static const char mount_usage[] =
    "usage: optimfs mount MOUNTPOINT [--data DIR] [-o OPT[,OPT...]] [-f] "
    "[-d]\n"
    "\n"
    "Mount an optimfs filesystem on MOUNTPOINT (an existing directory).\n"
    "\n"
    "options:\n"
    "  --data DIR     data directory (default $XDG_DATA_HOME/optimfs, "
    "else\n"
    "                 ~/.local/share/optimfs); created if missing\n"
    "  -o OPT,...     mount options:\n"
    "                   commit=sync        close returns once the change "
    "is\n"
    "                                      committed, fsync once it is "
    "also on\n"
    "                                      disk; what was only closed "
    "reaches\n"
    "                                      the disk within the commit "
    "interval\n"
    "                                      (default)\n"
    "                   commit=durable     close too waits until the "
    "change is\n"
    "                                      on disk (a cluster's replicas "
    "always\n"
    "                                      sync each commit)\n"
    "                   commit=async       close returns at once; fsync "
    "waits\n"
    "                   commit_interval=MS longest a change waits for "
    "its\n"
    "                                      commit (default 100)\n"
    "                   idle=MS            files, directories and diaries "
    "(and\n"
    "                                      their collections) unused this "
    "long\n"
    "                                      are dropped from memory (default "
    "10000)\n"
    "                   auto_unmount       unmount if the daemon dies\n"
    "                   allow_other        let other users in; each file "
    "then\n"
    "                                      keeps its owner (creator, "
    "chown)\n"
    "                 anything else goes to libfuse (fsname=, ro, ...)\n"
    "                   replicas=N         copies of each block in a "
    "cluster\n"
    "                                      (default 3)\n"
    "                   timeout=MS         a peer operation's deadline "
    "(5000)\n"
    "  --listen URL   join a cluster: serve peers at URL "
    "(tls+tcp://HOST:PORT;\n"
    "                 the change feed uses PORT+1)\n"
    "  --join URL     a member to learn the cluster from (repeatable)\n"
    "  --certs DIR    cluster directory (optimfs init); needed with "
    "--listen\n"
    "  --name NAME    this node's name, as in DIR/nodes/NAME\n"
    "  --insecure     plain tcp:// between peers, no certificates "
    "(tests only)\n"
    "  -f             stay in the foreground, log to stderr\n"
    "  -d             debug: foreground, log every FUSE request\n"
    "  -h, --help     show this help\n"
    "\n"
    "The daemon logs to DIR/optimfs.log.  Unmount with `optimfs umount "
    "MOUNTPOINT`\n"
    "or `fusermount3 -u MOUNTPOINT`; both commit pending changes first.\n";

static const char *cmd_name = "mount"; /* or "serve" */

static int mount_usage_error(const char *fmt, ...)
    __attribute__((format(printf, 1, 2)));

static int
mount_usage_error(const char *fmt, ...)
{
	va_list ap;
	int     rc;

	va_start(ap, fmt);
	rc = ofs_usage_errorv(cmd_name, cmd_name, fmt, ap);
	va_end(ap);
	return rc;
}

/* mkdir -p with mode 0700 for the directories it creates. */
static int
mkdir_p(const char *path)
{
	char        buf[PATH_MAX];
	size_t      i, n = strlen(path);
	struct stat st;

	if (n == 0 || n >= sizeof(buf))
		return ENAMETOOLONG;
	memcpy(buf, path, n + 1);
	for (i = 1; i <= n; i++) {
		if (buf[i] != '/' && buf[i] != '\0')
			continue;
		buf[i] = '\0';
		if (mkdir(buf, 0700) != 0 && errno != EEXIST)
			return errno;
		buf[i] = path[i];
	}
	/* EEXIST is also a file's */
	if (stat(path, &st) != 0)
		return errno;
	return S_ISDIR(st.st_mode) ? 0 : ENOTDIR;
}

static char *
default_data_dir(void)
{
	const char  *xdg  = getenv("XDG_DATA_HOME");
	const char  *home = getenv("HOME");
	struct o_buf b    = { 0 };

	if (xdg != NULL && xdg[0] == '/')
		ofs_buf_printf(&b, "%s/optimfs", xdg);
	else if (home != NULL && home[0] != '\0')
		ofs_buf_printf(&b, "%s/.local/share/optimfs", home);
	else
		return NULL;
	return (char *) b.data;
}

/* -o NAME=N (name: "NAME="): *v = N if opt is that option; false if not.
 * *rc: a usage error unless N is an integer from lo to hi. */
static bool
num_opt(const char *opt, const char *name, long long lo, long long hi,
    const char *unit, long long *v, int *rc)
{
	size_t n = strlen(name);
	char  *end;

	if (strncmp(opt, name, n) != 0)
		return false;
	errno = 0;
	*v    = strtoll(opt + n, &end, 10);
	if (errno != 0 || *end != '\0' || end == opt + n || *v < lo || *v > hi)
		*rc = mount_usage_error("-o %s: %.*s is %lld to %lld%s", opt,
		    (int) n - 1, name, lo, hi, unit);
	return true;
}

/* Split -o options: ours into ma, the rest into ma->fuse_opts. */
static int
parse_o(struct mount_args *ma, const char *arg)
{
	char     *copy = o_strdup(arg), *save = NULL, *opt;
	int       rc = OFS_EXIT_OK;
	long long v;

	for (opt = strtok_r(copy, ",", &save);
	     opt != NULL && rc == OFS_EXIT_OK;
	     opt = strtok_r(NULL, ",", &save)) {
		if (strcmp(opt, "commit=sync") == 0)
			ma->async = ma->durable = false;
		else if (strcmp(opt, "commit=durable") == 0) {
			ma->async   = false;
			ma->durable = true;
		} else if (strcmp(opt, "commit=async") == 0) {
			ma->async   = true;
			ma->durable = false;
		} else if (strncmp(opt, "commit=", 7) == 0) {
			rc = mount_usage_error(
			    "-o %s: commit must be sync, durable or async",
			    opt);
			break;
		} else if (num_opt(opt, "commit_interval=", 1, 3600000, " ms",
		               &v, &rc))
			ma->interval_ms = v;
		else if (num_opt(opt, "idle=", 1, 86400000, " ms", &v, &rc))
			ma->idle_ms = v;
		else if (num_opt(opt, "replicas=", 1, 8, "", &v, &rc))
			ma->replicas = (int) v;
		else if (num_opt(opt, "timeout=", 100, 600000, " ms", &v, &rc))
			ma->timeout_ms = v;
		else {
			if (strcmp(opt, "allow_other") == 0)
				ma->owners = true;
			if (ma->fuse_opts.len > 0)
				(void) o_buf_append(&ma->fuse_opts, ",", 1);
			(void) o_buf_append(&ma->fuse_opts, opt, strlen(opt));
		}
	}
	free(copy);
	return rc;
}

static int
parse_mount_args(struct mount_args *ma, int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "data", required_argument, NULL, 'D' },
		{ "help", no_argument, NULL, 'h' },
		{ "foreground", no_argument, NULL, 'f' },
		{ "debug", no_argument, NULL, 'd' },
		{ "listen", required_argument, NULL, 'L' },
		{ "join", required_argument, NULL, 'J' },
		{ "certs", required_argument, NULL, 'C' },
		{ "name", required_argument, NULL, 'N' },
		{ "insecure", no_argument, NULL, 'I' },
		{ NULL, 0, NULL, 0 },
	};
	char        path[PATH_MAX];
	const char *data = NULL;
	char       *dflt = NULL;
	int         c, rc;

	ma->interval_ms = DEFAULT_INTERVAL_MS;
	ofs_buf_printf(&ma->fuse_opts,
	    "fsname=optimfs,subtype=optimfs,default_permissions");
	optind = 1;
	while ((c = getopt_long(argc, argv, ":ho:fd", longopts, NULL)) != -1) {
		switch (c) {
		case 'h':
			fputs(mount_usage, stdout);
			return -1;
		case 'D':
			data = optarg;
			break;
		case 'o':
			if ((rc = parse_o(ma, optarg)) != OFS_EXIT_OK)
				return rc;
			break;
		case 'f':
			ma->foreground = true;
			break;
		case 'd':
			ma->foreground = ma->debug = true;
			break;
		case 'L':
			ma->listen = optarg;
			break;
		case 'J':
			if (ma->njoin == 16)
				return mount_usage_error(
				    "at most 16 --join URLs");
			ma->join[ma->njoin++] = optarg;
			break;
		case 'C':
			free(ma->certs);
			if ((ma->certs = realpath(optarg, NULL)) == NULL) {
				fprintf(stderr, "optimfs %s: --certs %s: %s\n",
				    cmd_name, optarg, strerror(errno));
				return OFS_EXIT_FAIL;
			}
			break;
		case 'N':
			ma->name = optarg;
			break;
		case 'I':
			ma->insecure = true;
			break;
		default:
			return ofs_getopt_error(cmd_name, c, argv);
		}
	}
	(void) o_buf_append(&ma->fuse_opts, "", 1);
	if (ma->listen == NULL &&
	    (ma->njoin > 0 || ma->certs || ma->name || ma->insecure))
		return mount_usage_error(
		    "--join, --certs, --name and --insecure need --listen");
	if (ma->listen != NULL) {
		if (ma->insecure ? strncmp(ma->listen, "tcp://", 6) != 0
		                 : strncmp(ma->listen, "tls+tcp://", 10) != 0)
			return mount_usage_error("--listen %s: use %s", ma->listen,
			    ma->insecure ? "tcp://HOST:PORT with --insecure"
			                 : "tls+tcp://HOST:PORT (or --insecure "
			                   "with tcp://)");
		if (!ma->insecure && (ma->certs == NULL || ma->name == NULL))
			return mount_usage_error(
			    "--listen needs --certs DIR and --name NAME "
			    "(or --insecure)");
		if (ma->name == NULL)
			ma->name = ma->listen;
		if (strlen(ma->name) > 63)
			return mount_usage_error(
			    "node name %.20s...: at most 63 characters (with "
			    "--insecure and no --name, the listen URL is the "
			    "name)",
			    ma->name);
	}
	if (ma->serve) {
		if (ma->listen == NULL)
			return mount_usage_error("serve needs --listen URL");
		if (optind != argc)
			return mount_usage_error("too many arguments");
		ma->mountpoint = o_strdup("");
	} else if (optind != argc - 1)
		return mount_usage_error("%s",
		    optind >= argc ? "missing MOUNTPOINT"
		                   : "too many arguments");
	if (!ma->serve && realpath(argv[optind], path) == NULL) {
		if (errno == ENOTCONN)
			fprintf(stderr,
			    "optimfs mount: %s: a previous daemon died and "
			    "left the mount behind; run 'optimfs umount "
			    "%s' first\n",
			    argv[optind], argv[optind]);
		else
			fprintf(stderr, "optimfs mount: %s: %s\n",
			    argv[optind], strerror(errno));
		return OFS_EXIT_FAIL;
	}
	if (!ma->serve)
		ma->mountpoint = o_strdup(path);
	if (data == NULL && (data = dflt = default_data_dir()) == NULL) {
		fprintf(stderr,
		    "optimfs %s: neither XDG_DATA_HOME nor "
		    "HOME is set: pass --data DIR\n",
		    cmd_name);
		return OFS_EXIT_USAGE;
	}
	rc = mkdir_p(data);
	if (rc == 0 && realpath(data, path) == NULL)
		rc = errno;
	if (rc != 0) {
		fprintf(stderr, "optimfs %s: data directory %s: %s\n",
		    cmd_name, data, strerror(rc));
		free(dflt);
		return OFS_EXIT_FAIL;
	}
	free(dflt);
	ma->data_dir = o_strdup(path);
	return OFS_EXIT_OK;
}

/* Whether the directory open at fd holds no entry (closes fd). */
static bool
dir_empty(int fd)
{
	DIR           *d = fdopendir(fd);
	struct dirent *e;
	bool           empty = true;

	if (d == NULL) {
		close(fd);
		return true;
	}
	while (empty && (e = readdir(d)) != NULL)
		empty = strcmp(e->d_name, ".") == 0 ||
		    strcmp(e->d_name, "..") == 0;
	closedir(d);
	return empty;
}

/* Refuse a mountpoint that is not a directory, is ours or is dead; warn
 * of one that is not empty. */
static int
check_mountpoint(const struct mount_args *ma)
{
	char        ctl[PATH_MAX + 32];
	struct stat st;
	int         fd;

	/* open, not stat: a dead FUSE mount may still have cached attrs. */
	if ((fd = open(ma->mountpoint, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) <
	    0) {
		if (errno == ENOTCONN)
			fprintf(stderr,
			    "optimfs mount: %s: a previous daemon died and "
			    "left the mount behind; run 'optimfs umount %s' "
			    "first\n",
			    ma->mountpoint, ma->mountpoint);
		else
			fprintf(stderr, "optimfs mount: %s: %s\n",
			    ma->mountpoint,
			    errno == ENOTDIR ? "not a directory"
			                     : strerror(errno));
		return OFS_EXIT_FAIL;
	}
	snprintf(
	    ctl, sizeof(ctl), "%s/%s/status", ma->mountpoint, OFS_CTL_NAME);
	if (stat(ctl, &st) == 0) {
		close(fd);
		fprintf(stderr,
		    "optimfs mount: %s: already an optimfs mount\n",
		    ma->mountpoint);
		return OFS_EXIT_FAIL;
	}
	/* as mount(8) does: allowed, but what is there is hidden */
	if (!dir_empty(fd))
		fprintf(stderr,
		    "optimfs mount: warning: %s is not empty; its files are "
		    "hidden while optimfs is mounted there\n",
		    ma->mountpoint);
	return OFS_EXIT_OK;
}

static void
store_stats(void *arg, struct o_buf *b)
{
	struct ost_repo_stats s;

	ost_repo_stats(arg, &s);
	ofs_buf_printf(b,
	    "# HELP optimfs_store_commits_total Commit requests the store "
	    "staged.\n"
	    "# TYPE optimfs_store_commits_total counter\n"
	    "optimfs_store_commits_total %" PRIu64 "\n"
	    "# HELP optimfs_store_group_writes_total Group-commit writes "
	    "(each holds one or more commits).\n"
	    "# TYPE optimfs_store_group_writes_total counter\n"
	    "optimfs_store_group_writes_total %" PRIu64 "\n"
	    "# HELP optimfs_store_synced_writes_total Writes that waited for "
	    "the disk (synced group commits, log syncs).\n"
	    "# TYPE optimfs_store_synced_writes_total counter\n"
	    "optimfs_store_synced_writes_total %" PRIu64 "\n"
	    "# HELP optimfs_store_cache_hits_total Block reads served from "
	    "memory.\n"
	    "# TYPE optimfs_store_cache_hits_total counter\n"
	    "optimfs_store_cache_hits_total %" PRIu64 "\n"
	    "# HELP optimfs_store_cache_loads_total Blocks rebuilt from "
	    "disk.\n"
	    "# TYPE optimfs_store_cache_loads_total counter\n"
	    "optimfs_store_cache_loads_total %" PRIu64 "\n"
	    "# HELP optimfs_store_replayed_total Revision transforms replayed "
	    "on loads.\n"
	    "# TYPE optimfs_store_replayed_total counter\n"
	    "optimfs_store_replayed_total %" PRIu64 "\n"
	    "# HELP optimfs_store_mat_writes_total Materialised block copies "
	    "written.\n"
	    "# TYPE optimfs_store_mat_writes_total counter\n"
	    "optimfs_store_mat_writes_total %" PRIu64 "\n"
	    "# HELP optimfs_store_swept_total Expired pendings deleted.\n"
	    "# TYPE optimfs_store_swept_total counter\n"
	    "optimfs_store_swept_total %" PRIu64 "\n",
	    s.commits, s.groups, s.syncs, s.cache_hits, s.cache_loads,
	    s.replayed, s.mat_writes, s.swept);
}

static void
data_path(char *out, size_t cap, const char *data_dir, const char *name)
{
	snprintf(out, cap, "%s/%s", data_dir, name);
}

/* Read the pid in DATA/optimfs.pid, or 0. */
static long
read_pidfile(const char *data_dir)
{
	char  path[PATH_MAX];
	FILE *fp;
	long  pid = 0;

	data_path(path, sizeof(path), data_dir, "optimfs.pid");
	if ((fp = fopen(path, "r")) == NULL)
		return 0;
	if (fscanf(fp, "%ld", &pid) != 1)
		pid = 0;
	fclose(fp);
	return pid;
}

static void
write_pidfile(const struct mount_args *ma)
{
	char  path[PATH_MAX];
	FILE *fp;

	data_path(path, sizeof(path), ma->data_dir, "optimfs.pid");
	if ((fp = fopen(path, "w")) == NULL) {
		o_log(
		    O_LOG_WARN, "cannot write %s: %s", path, strerror(errno));
		return;
	}
	fprintf(fp, "%ld\n%s\n", (long) getpid(), ma->mountpoint);
	fclose(fp);
}

/* The refusal of a data directory another daemon holds; its pid file is
 * written once it serves and removed before it closes its store, so a
 * daemon still starting, or finishing its exit, has none. */
static void
say_in_use(const char *data_dir)
{
	long pid = read_pidfile(data_dir);

	if (pid > 0)
		fprintf(stderr,
		    "optimfs mount: data directory %s is in use by another "
		    "optimfs daemon (pid %ld)\n",
		    data_dir, pid);
	else
		fprintf(stderr,
		    "optimfs mount: data directory %s is in use by another "
		    "optimfs daemon (starting, or closing its store after "
		    "an unmount: try again in a moment)\n",
		    data_dir);
}

/*
 * Hold DATA/optimfs.lock (flock, exclusive) for the daemon's life, taken
 * before the mount: a second daemon on the same data directory must fail
 * before it mounts, since a failure after its mount unmounts the
 * mountpoint's topmost mount, which may be the first daemon's (RocksDB's
 * own lock is taken later, by the store's open).  The descriptor is
 * close-on-exec and never closed: the lock ends with the process.
 */
static int
lock_data_dir(const char *data_dir)
{
	char path[PATH_MAX];
	int  fd;

	data_path(path, sizeof(path), data_dir, "optimfs.lock");
	if ((fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600)) < 0) {
		fprintf(stderr, "optimfs mount: %s: %s\n", path, strerror(errno));
		return -1;
	}
	if (flock(fd, LOCK_EX | LOCK_NB) != 0) {
		if (errno == EWOULDBLOCK)
			say_in_use(data_dir);
		else
			fprintf(stderr, "optimfs mount: lock %s: %s\n", path,
			    strerror(errno));
		close(fd);
		return -1;
	}
	return fd;
}

/*
 * DATA/optimfs.exit: "PID STATUS\nWHY\n", written as a mount's daemon
 * ends.  `optimfs umount` is not the daemon's parent: it reads the result
 * here once the daemon is gone (fs/cli_mount.c).
 */
static void
write_exit_note(const char *data_dir, int rc, const char *why)
{
	char    path[PATH_MAX], note[1200], how[64] = "";
	int     fd, n, err                          = 0;
	ssize_t w = -1;

	/* rewritten in place (no truncation before the write, no new file),
	 * over the note written at the start: it must also be written when
	 * the disk is full (the test that fills it) */
	data_path(path, sizeof(path), data_dir, OFS_EXIT_NOTE);
	n = snprintf(
	    note, sizeof(note), "%ld %d\n%s\n", (long) getpid(), rc, why);
	n = O_MIN(n, (int) sizeof(note) - 1);
	if ((fd = open(path, O_WRONLY | O_CREAT | O_CLOEXEC, 0644)) < 0)
		err = errno;
	else {
		if ((w = pwrite(fd, note, (size_t) n, 0)) < 0)
			err = errno;
		else if (w != n)
			snprintf(how, sizeof(how),
			    "a short write (%zd of %d "
			    "bytes)",
			    w, n);
		else if (ftruncate(fd, n) != 0) {
			err = errno;
			w   = -1;
		}
		if (close(fd) != 0 && err == 0 && w == n) {
			err = errno;
			w   = -1;
		}
	}
	if (w != n)
		o_log(O_LOG_WARN, "cannot write %s: %s", path,
		    how[0] != '\0' ? how : strerror(err));
}

/* Remove the pid file if it is still this process's. */
static void
remove_pidfile(const struct mount_args *ma)
{
	char path[PATH_MAX];

	data_path(path, sizeof(path), ma->data_dir, "optimfs.pid");
	if (read_pidfile(ma->data_dir) == (long) getpid())
		unlink(path);
}

/* Daemon: stdio to /dev/null and the log file, cwd to /. */
static void
detach_stdio(const struct mount_args *ma)
{
	char path[PATH_MAX];
	int  nul, log;

	data_path(path, sizeof(path), ma->data_dir, "optimfs.log");
	nul = open("/dev/null", O_RDWR);
	log = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
	if (nul >= 0) {
		dup2(nul, STDIN_FILENO);
		dup2(nul, STDOUT_FILENO);
		dup2(log >= 0 ? log : nul, STDERR_FILENO);
		if (nul > STDERR_FILENO)
			close(nul);
	}
	if (log > STDERR_FILENO)
		close(log);
	setvbuf(stderr, NULL, _IOLBF, 0);
	if (chdir("/") != 0)
		o_log(O_LOG_WARN, "chdir /: %s", strerror(errno));
}

/* Serving: write the pid file and, daemonized (notify_fd >= 0), detach
 * from the terminal and tell the waiting parent that we are up. */
static void
daemon_ready(const struct mount_args *ma, int notify_fd)
{
	write_pidfile(ma);
	if (notify_fd < 0)
		return;
	detach_stdio(ma);
	if (write(notify_fd, "O", 1) != 1)
		o_log(O_LOG_WARN, "cannot tell the parent: %s",
		    strerror(errno));
	close(notify_fd);
}

/*
 * Commit what an earlier daemon queued in the store's journal j and could
 * not commit before it died or unmounted (core/journal.h), before the
 * namespace opens: serving on top of work not yet replayed could let the
 * replay later overwrite newer changes.  On failure the work stays
 * journaled; the caller says so.
 */
static o_err
journal_replay(struct oc_transactor *tx, struct oc_journal *j)
{
	static const struct oc_coll_type *const types[] = { &oc_tree_type,
		&oc_diary_type };
	struct oc_recover_report rep;
	o_err                    e;

	if ((e = oc_journal_recover(tx, j, types, 2, NULL, &rep)) != O_OK)
		return e;
	if (rep.records > 0)
		o_log(O_LOG_INFO,
		    "journal: %zu records of %zu collections left by an "
		    "earlier daemon: %zu actions committed now, %zu were "
		    "committed already",
		    rep.records, rep.collections, rep.replayed, rep.skipped);
	return O_OK;
}

/* A failure to open the namespace that may pass as more of the cluster
 * answers (a cluster mount waits for it: opener): no majority, pendings
 * that nodes killed left and that expire, or the replay's sync losing to
 * other mounts' writes until its retries ran out (O_ERETRIES; O_ESTALE and
 * O_EEXPIRED as they pass through).  Not a full disk, a corrupt store or
 * a refusal: those need the user, and stop the mount or the opener. */
static bool
worth_waiting(o_err e)
{
	return e == O_EUNAVAIL || e == O_ETIMEDOUT || e == O_EPENDING ||
	    e == O_EBEHIND || e == O_ERETRIES || e == O_ESTALE ||
	    e == O_EEXPIRED;
}

/* The daemon's cluster side (NULL node: a single node). */
struct cluster {
	struct ost_repo *repo;
	struct otr_node *node;
	pthread_mutex_t  fmtx; /* fuse: the feed uses it under fmtx */
	struct ofs_fuse *fuse;
	char             members[PATH_MAX]; /* DATA/members (node.h) */
};

static void
cluster_set_fuse(struct cluster *cl, struct ofs_fuse *f)
{
	pthread_mutex_lock(&cl->fmtx);
	cl->fuse = f;
	pthread_mutex_unlock(&cl->fmtx);
}

static o_err
install_cb(void *arg, const struct oc_bid *id, int64_t rev,
    const struct oc_aid *aid, const struct oc_val *blk, bool over,
    bool *installed)
{
	return ost_repo_install(arg, id, rev, aid, blk, over, installed);
}

static void
latest_cb(void *arg, const struct oc_bid *ids, size_t n, int64_t *revs,
    struct oc_aid *aids)
{
	ost_repo_latest(arg, ids, n, revs, aids);
}

static void *
commit_start_cb(void *arg, const struct oc_commit_req *req)
{
	return ost_repo_commit_start(arg, req);
}

static o_err
commit_end_cb(void *arg, void *ticket, struct oc_txres *res)
{
	return ost_repo_commit_end(arg, ticket, res);
}

static void
cluster_status(void *arg, struct o_buf *b)
{
	struct cluster *cl = arg;

	otr_node_status(cl->node, b);
}

static void
daemon_stats(void *arg, struct o_buf *b)
{
	struct cluster *cl = arg;
	size_t          nm, up;

	store_stats(cl->repo, b);
	if (cl->node == NULL)
		return;
	otr_node_counts(cl->node, &nm, &up);
	ofs_buf_printf(b,
	    "# HELP optimfs_cluster_members Members this node knows.\n"
	    "# TYPE optimfs_cluster_members gauge\n"
	    "optimfs_cluster_members %zu\n"
	    "# HELP optimfs_cluster_members_up Members connected (self "
	    "included).\n"
	    "# TYPE optimfs_cluster_members_up gauge\n"
	    "optimfs_cluster_members_up %zu\n",
	    nm, up);
}

/* A peer announced a commit: refresh what this mount shows of it. */
static void
on_change(void *arg, const struct oc_bid *col, int64_t rev)
{
	struct cluster *cl = arg;

	/* under the lock: the unmount clears fuse before it frees it */
	pthread_mutex_lock(&cl->fmtx);
	if (cl->fuse != NULL && ofs_fuse_changed(cl->fuse, col, rev) != O_OK)
		o_log(O_LOG_WARN, "change feed: %s", o_err_detail());
	pthread_mutex_unlock(&cl->fmtx);
}

static void node_stop_step(void *arg, const char *step, bool sockets_only);

static o_err
cluster_start(const struct mount_args *ma, struct cluster *cl,
    struct oc_transactor **tx)
{
	struct otr_node_conf nc = { 0 };
	bool                 held;
	o_err                e;

	nc.name            = ma->name;
	nc.listen_url      = ma->listen;
	nc.join            = ma->join;
	nc.njoin           = ma->njoin;
	nc.certs_dir       = ma->certs;
	nc.insecure        = ma->insecure;
	nc.replicas        = ma->replicas;
	nc.timeout_ms      = ma->timeout_ms;
	data_path(cl->members, sizeof(cl->members), ma->data_dir, "members");
	nc.members_path         = cl->members;
	if ((e = ost_repo_holds_blocks(cl->repo, &held)) != O_OK) {
		fprintf(stderr, "optimfs %s: reading the store in %s: %s\n",
		    cmd_name, ma->data_dir, o_err_detail());
		return e;
	}
	nc.empty_store          = !held;
	nc.replica.tx      = *tx;
	nc.replica.install = install_cb;
	nc.replica.latest  = latest_cb;
	nc.replica.commit_start = commit_start_cb;
	nc.replica.commit_end   = commit_end_cb;
	nc.replica.arg     = cl->repo;
	nc.on_change       = on_change;
	nc.change_arg      = cl;
	nc.on_stop_step    = node_stop_step;
	nc.stop_arg        = (void *) (ma->serve ? ma->name : ma->mountpoint);
	if ((e = otr_node_start(&nc, &cl->node)) != O_OK) {
		fprintf(stderr, "optimfs %s: node %s at %s: %s\n", cmd_name,
		    ma->name, ma->listen, o_err_detail());
		return e;
	}
	*tx = otr_node_transactor(cl->node);
	return O_OK;
}

/*
 * Shutdown watchdog.  Once the mount is gone (or serve got its signal)
 * the daemon commits what is pending and closes; a step that never ends
 * (a kernel notification that cannot complete, nng 1.5.2 closing a socket
 * while a peer's TLS handshake is stuck) would leave it running forever
 * with its data directory locked.  After OFS_SHUTDOWN_MAX_S it logs the
 * step it is stuck in and exits: committed data is in the store, queued
 * work in the journal, replayed at the next mount, as after a crash.
 *
 * The last steps only close nng sockets, after every thread that used the
 * store was joined and the exit status is known (shutdown_result).  nng
 * 1.5.2 can hang there for good once peers broke off TLS connections (its
 * socket close waits for pipes that never finish; fixed upstream after
 * 1.5.2): each such step gets OFS_TEARDOWN_MAX_S (within the overall
 * bound), and then the daemon exits with the status it had, saying so,
 * since nothing is left undone.
 */
#define OFS_SHUTDOWN_MAX_S 120
#define OFS_TEARDOWN_MAX_S 10

static struct {
	pthread_mutex_t mtx;
	pthread_cond_t  cv;
	pthread_t       thr;
	bool            running, done;
	const char     *step;     /* what shutdown is doing; mtx */
	const char     *what;     /* the mountpoint or node name */
	const char     *data_dir; /* a mount's, for its exit note; or NULL */
	bool            teardown; /* step only closes sockets; mtx */
	int64_t         teardown_at; /* when it began (o_mono_ms); mtx */
	int             rc; /* exit status once teardown begins; mtx */
} shut = { .mtx = PTHREAD_MUTEX_INITIALIZER, .rc = OFS_EXIT_FAIL };
static pthread_once_t shut_once = PTHREAD_ONCE_INIT;

/* shut.cv times its waits on the monotonic clock (setting the wall clock
 * neither hurries nor holds the watchdog) */
static void
shut_init(void)
{
	o_cond_init_mono(&shut.cv);
}

static int
env_seconds(const char *name, int dflt)
{
	const char *env = getenv(name);

	return env != NULL && atoi(env) > 0 ? atoi(env) : dflt;
}

static void *
shutdown_watch(void *arg)
{
	int     max  = env_seconds("OPTIMFS_TEST_SHUTDOWN_MAX_S",
	         OFS_SHUTDOWN_MAX_S);
	int     tmax = env_seconds("OPTIMFS_TEST_TEARDOWN_MAX_S",
	        OFS_TEARDOWN_MAX_S);
	int64_t end  = o_mono_ms() + (int64_t) max * 1000;

	(void) arg;
	(void) pthread_setname_np(pthread_self(), "ofs-shutdown");
	pthread_mutex_lock(&shut.mtx);
	while (!shut.done) {
		int64_t until = end, now;

		if (shut.teardown)
			until = O_MIN(until, shut.teardown_at + tmax * 1000);
		now = o_mono_ms();
		if (o_cond_wait_until(&shut.cv, &shut.mtx, until))
			continue;
		if (shut.teardown) {
			o_log(O_LOG_WARN,
			    "pid %ld: %s: nng did not finish %s in %d s (nng "
			    "1.5.2 can hang there after peers broke off "
			    "connections); every change was already %s, "
			    "exiting",
			    (long) getpid(), shut.what, shut.step,
			    (int) ((now - shut.teardown_at + 500) / 1000),
			    shut.rc == OFS_EXIT_OK ? "committed and stored"
			                           : "stored or journaled");
			_exit(shut.rc);
		}
		o_log(O_LOG_ERROR,
		    "pid %ld: shutdown of %s stuck for %d s while %s; "
		    "exiting (what is not committed stays in the "
		    "journal and is replayed at the next mount)",
		    (long) getpid(), shut.what, max, shut.step);
		if (shut.data_dir != NULL) {
			char why[512];

			snprintf(why, sizeof(why),
			    "its daemon was stuck for %d s while %s and "
			    "exited; what it had not committed stays in the "
			    "journal in %s and is committed at the next mount",
			    max, shut.step, shut.data_dir);
			write_exit_note(shut.data_dir, OFS_EXIT_FAIL, why);
		}
		_exit(OFS_EXIT_FAIL);
	}
	pthread_mutex_unlock(&shut.mtx);
	return NULL;
}

/* Enter shutdown step `step` (the first call starts the watchdog);
 * sockets_only: see the watchdog's notes. */
static void
shutdown_step_of(const char *what, const char *step, bool sockets_only)
{
	(void) pthread_once(&shut_once, shut_init);
	pthread_mutex_lock(&shut.mtx);
	shut.step = step;
	shut.what = what;
	if (sockets_only) /* each such step gets its own bound */
		shut.teardown_at = o_mono_ms();
	shut.teardown = sockets_only;
	if (!shut.running &&
	    pthread_create(&shut.thr, NULL, shutdown_watch, NULL) == 0)
		shut.running = true;
	pthread_cond_broadcast(&shut.cv);
	pthread_mutex_unlock(&shut.mtx);
}

static void
shutdown_step(const char *what, const char *step)
{
	shutdown_step_of(what, step, false);
}

/* The exit status, known before the sockets are closed. */
static void
shutdown_result(int rc)
{
	pthread_mutex_lock(&shut.mtx);
	shut.rc = rc;
	pthread_mutex_unlock(&shut.mtx);
}

/* The cluster node's stop, step by step (the watchdog names the step). */
static void
node_stop_step(void *arg, const char *step, bool sockets_only)
{
	shutdown_step_of(arg, step, sockets_only);
}

static void
shutdown_done(void)
{
	bool join;

	(void) pthread_once(&shut_once, shut_init);
	pthread_mutex_lock(&shut.mtx);
	shut.done = true;
	join      = shut.running;
	pthread_cond_broadcast(&shut.cv);
	pthread_mutex_unlock(&shut.mtx);
	if (join)
		pthread_join(shut.thr, NULL);
}

/* `optimfs serve`: a storage peer without a mount, until SIGINT/TERM. */
static int
serve_until_signal(struct mount_args *ma, int notify_fd, struct cluster *cl)
{
	sigset_t set;
	int      sig = 0;

	(void) cl;
	sigemptyset(&set);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGHUP);
	pthread_sigmask(SIG_BLOCK, &set, NULL);
	daemon_ready(ma, notify_fd);
	o_log(O_LOG_INFO, "pid %ld serving %s at %s (data %s)",
	    (long) getpid(), ma->name, ma->listen, ma->data_dir);
	while (sigwait(&set, &sig) != 0)
		;
	o_log(O_LOG_INFO, "pid %ld: signal %d, stopping", (long) getpid(),
	    sig);
	remove_pidfile(ma);
	return OFS_EXIT_OK;
}

/*
 * A cluster member restarted while most of the cluster is down finds no
 * majority to replay its journal or open its root directory (the
 * namespace).  It must not exit: the others, started after it, need it for
 * their majority (before, a fully stopped cluster came back only when
 * every node started at once).  So it serves the mount without a
 * namespace (ofs_fuse_waiting: EIO, and .optimfs/status says why) and a
 * thread makes the same attempt as the start every second until one
 * succeeds, a failure that waiting cannot mend, or the mount ends.
 */
struct opener {
	struct oc_transactor *tx;
	struct oc_journal    *journal; /* not replayed yet, or NULL */
	struct ofs_ns_opts    nopts;
	struct ofs_fuse      *fuse;
	struct otr_node      *node;
	const char           *mnt, *store_dir;
	pthread_t             thr;
	bool                  started, attached;
	atomic_bool           stop;
	char                  why[512]; /* the last failure's */
};

/*
 * Replay what an earlier daemon left in the journal, open the namespace
 * and give it to the mount: once at the start, then by the opener.
 */
static o_err
open_attempt(struct opener *op)
{
	struct ofs_ns *ns;
	o_err          e;

	if (op->journal != NULL) {
		if ((e = journal_replay(op->tx, op->journal)) != O_OK)
			return o_err_wrap(e,
			    "replaying the work an earlier daemon left "
			    "uncommitted in %s (it stays journaled)",
			    op->store_dir);
		op->journal = NULL;
	}
	if ((e = ofs_ns_open(op->tx, &op->nopts, &ns)) != O_OK)
		return o_err_wrap(
		    e, "opening the namespace in %s", op->store_dir);
	otr_node_served(op->node); /* a founder's namespace exists */
	if (!ofs_fuse_attach(op->fuse, ns, op->tx)) { /* fuse owns ns */
		(void) ofs_ns_close(ns);
		return o_err_set(O_ECLOSED,
		    "%s: unmounted before its namespace opened", op->mnt);
	}
	op->attached = true;
	return O_OK;
}

static void *
opener_main(void *arg)
{
	struct opener *op = arg;
	char           st[sizeof(op->why) + 64];
	o_err          e;
	int            i;

	(void) pthread_setname_np(pthread_self(), "ofs-opener");
	while (!atomic_load(&op->stop)) {
		for (i = 0; i < 10 && !atomic_load(&op->stop); i++)
			o_sleep_ms(100);
		if (atomic_load(&op->stop))
			break;
		if ((e = open_attempt(op)) == O_OK) {
			o_log(O_LOG_INFO,
			    "%s: a majority of the cluster answers: the "
			    "namespace is open",
			    op->mnt);
			break;
		}
		if (e == O_ECLOSED)
			break;
		if (!worth_waiting(e)) {
			o_log(O_LOG_ERROR,
			    "%s: %s: %s; not tried again: unmount, and mount "
			    "once it is mended",
			    op->mnt, o_strerror(e), o_err_detail());
			snprintf(
			    op->why, sizeof(op->why), "%s", o_err_detail());
			snprintf(
			    st, sizeof(st), "%s (not tried again)", op->why);
			ofs_fuse_waiting(op->fuse, st);
			break;
		}
		ofs_fuse_waiting(op->fuse, o_err_detail());
		if (strcmp(op->why, o_err_detail()) != 0) {
			o_log(O_LOG_WARN,
			    "%s: %s: %s (trying again every second)", op->mnt,
			    o_strerror(e), o_err_detail());
			snprintf(
			    op->why, sizeof(op->why), "%s", o_err_detail());
		}
	}
	return NULL;
}

/* Try again in a thread (the mount serves without a namespace: the
 * start's attempt failed, op->why says why). */
static void
opener_start(struct opener *op)
{
	if (pthread_create(&op->thr, NULL, opener_main, op) != 0)
		o_log(O_LOG_ERROR,
		    "%s: cannot start the thread that opens the namespace: "
		    "remount once the cluster has a majority",
		    op->mnt);
	else
		op->started = true;
}

/* After the session: the opener gives up (an attempt in progress ends by
 * its deadlines). */
static void
opener_stop(struct opener *op)
{
	if (!op->started)
		return;
	atomic_store(&op->stop, true);
	pthread_join(op->thr, NULL);
	op->started = false;
}

/*
 * Open the store and the namespace, mount and serve until unmounted.
 * notify_fd (or -1): told 'O' once mounted.  Returns the exit status.
 */
static int
mount_serve(struct mount_args *ma, int notify_fd)
{
	char                  store_dir[PATH_MAX];
	char                 *fargv[5];
	int                   fargc = 0;
	struct ost_repo      *repo;
	struct oc_transactor *tx;
	struct ofs_fuse      *fuse = NULL;
	struct ofs_ns_opts    nopts = { 0 };
	struct ost_repo_opts  ropts   = { 0 };
	struct ofs_fuse_conf  conf  = { 0 };
	struct oc_journal    *journal = NULL;
	static struct cluster cl = { .fmtx = PTHREAD_MUTEX_INITIALIZER };
	struct opener         op      = { 0 };
	o_err                 e, ce;
	int                   rc = OFS_EXIT_FAIL;

	data_path(store_dir, sizeof(store_dir), ma->data_dir, "store");
	if (lock_data_dir(ma->data_dir) < 0)
		goto out;
	/* a note of an earlier run (maybe of a process with this pid) must
	 * not stand for this one if it is killed */
	if (!ma->serve)
		write_exit_note(ma->data_dir, OFS_EXIT_RUNNING,
		    "its daemon ended without saying whether it committed "
		    "everything (killed?)");
	/* mount first: libfuse may fork fusermount3, and no thread may run
	 * yet (fuse_ll.h) */
	if (!ma->serve) {
		fargv[fargc++] = "optimfs";
		fargv[fargc++] = "-o";
		fargv[fargc++] = (char *) ma->fuse_opts.data;
		if (ma->debug)
			fargv[fargc++] = "-d";
		fargv[fargc]            = NULL;
		conf.mountpoint         = ma->mountpoint;
		conf.data_dir           = ma->data_dir;
		conf.async              = ma->async;
		conf.durable =
		    !ma->async && (ma->durable || ma->listen != NULL);
		conf.shared             = ma->listen != NULL;
		conf.owners             = ma->owners;
		conf.commit_interval_ms = ma->interval_ms;
		conf.fuse_argc          = fargc;
		conf.fuse_argv          = fargv;
		conf.extra_stats        = daemon_stats;
		conf.extra_status = ma->listen != NULL ? cluster_status : NULL;
		conf.extra_arg    = &cl;
		if ((e = ofs_fuse_mount(&conf, &fuse)) != O_OK) {
			fprintf(stderr, "optimfs mount: %s\n", o_err_detail());
			goto out;
		}
	}
	/* a node alone syncs its log at fsync and every commit interval; a
	 * replica's answers promise the disk, so it syncs each commit */
	ropts.lazy_sync = ma->listen == NULL && !ma->durable;
	if ((e = ost_repo_open(store_dir, &ropts, &repo)) != O_OK) {
		if (e == O_EBUSY)
			say_in_use(ma->data_dir);
		else
			fprintf(stderr,
			    "optimfs mount: opening the store in "
			    "%s: %s: %s\n",
			    store_dir, o_strerror(e), o_err_detail());
		goto out_unmount;
	}
	tx      = ost_local_transactor(repo);
	cl.repo = repo;
	if (ma->listen != NULL && cluster_start(ma, &cl, &tx) != O_OK)
		goto out_close_repo;
	if (ma->serve) {
		rc = serve_until_signal(ma, notify_fd, &cl);
		goto out_close_repo;
	}
	if ((e = ost_journal_open(repo, &journal)) != O_OK) {
		fprintf(stderr, "optimfs mount: %s: %s: %s\n", store_dir,
		    o_strerror(e), o_err_detail());
		goto out_close_repo;
	}
	nopts.async              = ma->async;
	nopts.commit_interval_ms = ma->interval_ms;
	nopts.inode_idle_ms      = ma->idle_ms;
	nopts.journal            = journal;
	nopts.shared             = cl.node != NULL;
	op.tx                    = tx;
	op.journal               = journal;
	op.nopts                 = nopts;
	op.fuse                  = fuse;
	op.node                  = cl.node;
	op.mnt                   = ma->mountpoint;
	op.store_dir             = store_dir;
	if ((e = open_attempt(&op)) == O_OK) {
		/* served */
	} else if (cl.node != NULL && worth_waiting(e)) {
		/* a member restarted while most of the cluster is down */
		fprintf(stderr,
		    "optimfs mount: %s: the namespace cannot be opened yet "
		    "(%s); until it can (a majority of the cluster answers, "
		    "other writers let the replay through) the mount answers "
		    "EIO and .optimfs/status says why: start the other "
		    "members\n",
		    ma->mountpoint, o_err_detail());
		ofs_fuse_waiting(fuse, o_err_detail());
		snprintf(op.why, sizeof(op.why), "%s", o_err_detail());
	} else {
		fprintf(stderr, "optimfs mount: %s: %s\n", o_strerror(e),
		    o_err_detail());
		goto out_close_repo;
	}
	cluster_set_fuse(&cl, fuse);
	daemon_ready(ma, notify_fd);
	o_log(O_LOG_INFO,
	    "pid %ld mounted %s (data %s, commit %s, "
	    "interval %" PRId64 " ms)",
	    (long) getpid(), ma->mountpoint, ma->data_dir,
	    ma->async             ? "async"
	        : ropts.lazy_sync ? "sync"
	                          : "durable",
	    ma->interval_ms);
	if (!op.attached) { /* logged now: the daemon's log is its file */
		o_log(O_LOG_WARN,
		    "%s: no majority of the cluster answers yet (%s): the "
		    "mount answers EIO until one does; trying again every "
		    "second",
		    ma->mountpoint, op.why);
		opener_start(&op);
	}
	e = ofs_fuse_run(fuse);
	if (e != O_OK)
		o_log(O_LOG_ERROR, "%s", o_err_detail());
	pthread_mutex_lock(&shut.mtx);
	shut.data_dir = ma->data_dir;
	pthread_mutex_unlock(&shut.mtx);
	if (op.started) { /* under the watchdog: an open ends by deadlines */
		shutdown_step(ma->mountpoint,
		    "stopping the thread that opens the namespace");
		opener_stop(&op);
	}
	shutdown_step(ma->mountpoint,
	    "ending the FUSE session and committing pending changes");
	cluster_set_fuse(&cl, NULL);
	ce = ofs_fuse_close(fuse); /* commits what is pending */
	fuse = NULL;
	rc   = (e == O_OK && ce == O_OK && op.journal == NULL) ? OFS_EXIT_OK
	                                                       : OFS_EXIT_FAIL;
	if (getenv("OPTIMFS_TEST_HANG_AT_EXIT") != NULL && /* tests only */
	    strcmp(getenv("OPTIMFS_TEST_HANG_AT_EXIT"), "note") == 0) {
		/* killed here, the note still says running */
		shutdown_step_of(ma->mountpoint,
		    "hanging before the exit note (OPTIMFS_TEST_HANG_AT_EXIT)",
		    false);
		for (;;)
			pause();
	}
	{
		char why[PATH_MAX + 256];

		if (rc == OFS_EXIT_OK && !op.attached)
			snprintf(why, sizeof(why),
			    "nothing to commit (the namespace never opened: "
			    "%s)",
			    op.why);
		else if (rc == OFS_EXIT_OK)
			snprintf(why, sizeof(why), "everything committed");
		else if (op.journal != NULL)
			snprintf(why, sizeof(why),
			    "the namespace never opened (%s): the work an "
			    "earlier daemon left uncommitted stays in the "
			    "journal in %s and is committed at the next mount",
			    op.why, ma->data_dir);
		else if (ce != O_OK)
			snprintf(why, sizeof(why),
			    "committing the pending changes failed (%s); they "
			    "stay in the journal in %s and are committed at "
			    "the next mount (details in %s/optimfs.log)",
			    o_strerror(ce), ma->data_dir, ma->data_dir);
		else
			snprintf(why, sizeof(why),
			    "the FUSE session ended with an error (details in "
			    "%s/optimfs.log)",
			    ma->data_dir);
		write_exit_note(ma->data_dir, rc, why);
	}
	remove_pidfile(ma);
	o_log(O_LOG_INFO, "pid %ld: %s unmounted%s", (long) getpid(),
	    ma->mountpoint, rc == OFS_EXIT_OK ? "" : " with errors");
out_close_repo:
	if (fuse != NULL) { /* not served: no namespace, nothing pending */
		(void) ofs_fuse_close(fuse);
		fuse = NULL;
	}
	shutdown_result(rc);
	if (cl.node != NULL) {
		shutdown_step(ma->serve ? ma->name : ma->mountpoint,
		    "stopping the cluster node");
		otr_node_stop(cl.node); /* after the last commit went out */
		cl.node = NULL;
		/* No nng_fini: it tears down nng's TLS state before its reaper
		 * has freed the closed connections, which then panics on a
		 * destroyed mutex (a CI run under ASan, at an unmount after
		 * two of three nodes had been down).  What nng still reaps at
		 * exit is its own (tests/lsan.supp). */
	}
	if (getenv("OPTIMFS_TEST_HANG_AT_EXIT") != NULL) { /* tests only */
		/* "sockets": as nng 1.5.2 hanging in a socket close */
		bool sockets =
		    strcmp(getenv("OPTIMFS_TEST_HANG_AT_EXIT"), "sockets") == 0;

		shutdown_step_of(ma->mountpoint,
		    sockets ? "closing sockets (OPTIMFS_TEST_HANG_AT_EXIT)"
		            : "hanging (OPTIMFS_TEST_HANG_AT_EXIT)",
		    sockets);
		for (;;)
			pause();
	}
	/* not a socket step: the store's close syncs and may take long */
	shutdown_step(ma->serve ? ma->name : ma->mountpoint,
	    "closing the store (RocksDB)");
	ost_journal_close(journal);
	ost_repo_close(repo);
	shutdown_done();
	return rc;
out_unmount:
	if (fuse != NULL)
		(void) ofs_fuse_close(fuse);
out:
	return rc;
}

/* Fork; the parent waits for the child's 'O' and exits with 0 or 1. */
static int
daemonize(int *notify_fd)
{
	int   p[2], status;
	pid_t pid;
	char  c;

	if (pipe2(p, O_CLOEXEC) != 0) {
		fprintf(stderr, "optimfs mount: pipe: %s\n", strerror(errno));
		return OFS_EXIT_FAIL;
	}
	fflush(NULL);
	if ((pid = fork()) < 0) {
		fprintf(stderr, "optimfs mount: fork: %s\n", strerror(errno));
		close(p[0]);
		close(p[1]);
		return OFS_EXIT_FAIL;
	}
	if (pid == 0) {
		close(p[0]);
		setsid();
		*notify_fd = p[1];
		return -1; /* go on as the daemon */
	}
	close(p[1]);
	while (read(p[0], &c, 1) < 0 && errno == EINTR)
		;
	close(p[0]);
	if (c == 'O')
		return OFS_EXIT_OK;
	while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
		;
	return OFS_EXIT_FAIL;
}

static const char serve_usage[] =
    "usage: optimfs serve --listen URL [--join URL...] [--data DIR]\n"
    "                     (--certs DIR --name NAME | --insecure) "
    "[-o OPT,...] [-f]\n"
    "\n"
    "Run a storage peer of a cluster without a mount: it keeps replicas "
    "of\nblocks in its own store (DIR/store) and answers other members.\n"
    "Options are those of `optimfs mount` (see `optimfs mount --help`);\n"
    "-o replicas=N and timeout=MS apply.  Stops on SIGINT or SIGTERM.\n";

/* `optimfs mount` and `optimfs serve` (serve: no mountpoint, no FUSE). */
static int
run_daemon(int argc, char **argv, bool serve)
{
	struct mount_args ma = { 0 };
	int               rc, notify_fd = -1, i;

	cmd_name = serve ? "serve" : "mount";
	ma.serve = serve;
	for (i = 1; serve && i < argc; i++)
		if (strcmp(argv[i], "-h") == 0 ||
		    strcmp(argv[i], "--help") == 0) {
			fputs(serve_usage, stdout);
			return OFS_EXIT_OK;
		}
	if ((rc = parse_mount_args(&ma, argc, argv)) != OFS_EXIT_OK) {
		rc = rc < 0 ? OFS_EXIT_OK : rc;
		goto out_free;
	}
	if (!serve && (rc = check_mountpoint(&ma)) != OFS_EXIT_OK)
		goto out_free;
	if (ma.debug)
		o_log_set_level(O_LOG_DEBUG);
	if (!ma.foreground && (rc = daemonize(&notify_fd)) >= 0)
		goto out_free;
	rc = mount_serve(&ma, notify_fd);
out_free:
	o_buf_fini(&ma.fuse_opts);
	free(ma.mountpoint);
	free(ma.data_dir);
	free(ma.certs);
	return rc;
}

int
ofs_cmd_mount(int argc, char **argv)
{
	return run_daemon(argc, argv, false);
}

static int
ofs_cmd_serve(int argc, char **argv)
{
	return run_daemon(argc, argv, true);
}

struct ofs_cmd {
	const char *name;
	int (*run)(int argc, char **argv);
	const char *synopsis;
	const char *summary;
};

static const struct ofs_cmd ofs_cmds[] = {
	{ "mount", ofs_cmd_mount,
	    "mount MOUNTPOINT [--data DIR] [--listen URL --join URL...]",
	    "mount a filesystem" },
	{ "serve", ofs_cmd_serve,
	    "serve --listen URL [--join URL...] [--data DIR]",
	    "run a cluster's storage peer without a mount" },
	{ "umount", ofs_cmd_umount, "umount MOUNTPOINT",
	    "unmount, waiting until pending commits are done" },
	{ "status", ofs_cmd_status, "status MOUNTPOINT",
	    "show a mount's status" },
	{ "diary", ofs_cmd_diary, "diary create PATH",
	    "create an empty diary (append-only file)" },
	{ "log", ofs_cmd_log, "log PATH", "list a diary's log entries" },
	{ "verify", ofs_cmd_verify, "verify PATH",
	    "check a diary's hash chain" },
	{ "init", ofs_cmd_init, "init DIR [--name NAME]",
	    "create a cluster CA and the first node's certificate" },
	{ "node", ofs_cmd_node, "node add DIR NAME",
	    "issue a node's key and certificate" },
};

static void
usage(FILE *out)
{
	size_t i;

	fprintf(out, "usage: optimfs COMMAND [ARGS...]\n\ncommands:\n");
	for (i = 0; i < sizeof(ofs_cmds) / sizeof(ofs_cmds[0]); i++)
		fprintf(out, "  %-56s %s\n", ofs_cmds[i].synopsis,
		    ofs_cmds[i].summary);
	fprintf(out,
	    "\n"
	    "`optimfs COMMAND --help` describes a command.  Exit status: 0 "
	    "success,\n1 failure, 2 wrong usage.\n");
}

int
main(int argc, char **argv)
{
	const char *name;
	size_t      i;

	/*
	 * File pieces and chunk blocks are 256 KiB buffers that come and go.
	 * glibc's dynamic mmap threshold would move them onto the heap after
	 * the first frees, where fragmentation kept ~1 GB resident while a
	 * 1 GiB file was written; a fixed threshold returns them at free.
	 * The price: each is an mmap, 64 page faults and a munmap.  512 KiB
	 * (and 1 MiB) kept them on the heap, for ~+40 % large-file write and
	 * ~3x cold large-file read speed, but the full scripts/bench.sh then
	 * peaked at 206 MB (208 at 1 MiB) against the 200 MB bound, 178 MB
	 * here (docs/BENCHMARKS.md, tenth and twelfth runs).
	 * Two arenas: glibc's default (8 per CPU) kept tens of MB free in
	 * the arenas of threads that had stopped allocating.
	 */
	mallopt(M_MMAP_THRESHOLD, 128 << 10);
	mallopt(M_TRIM_THRESHOLD, 1 << 20);
	mallopt(M_ARENA_MAX, 2);

	if (argc < 2) {
		usage(stderr);
		return OFS_EXIT_USAGE;
	}
	name = argv[1];
	if (strcmp(name, "-h") == 0 || strcmp(name, "--help") == 0) {
		usage(stdout);
		return OFS_EXIT_OK;
	}
	if (strcmp(name, "--version") == 0 || strcmp(name, "-V") == 0) {
		printf("optimfs %s\n", OFS_VERSION);
		return OFS_EXIT_OK;
	}
	if (strcmp(name, "help") == 0) {
		if (argc < 3) {
			usage(stdout);
			return OFS_EXIT_OK;
		}
		for (i = 0; i < sizeof(ofs_cmds) / sizeof(ofs_cmds[0]); i++)
			if (strcmp(argv[2], ofs_cmds[i].name) == 0) {
				char *hargv[] = { argv[2], "--help", NULL };

				return ofs_cmds[i].run(2, hargv);
			}
		name = argv[2];
	} else
		for (i = 0; i < sizeof(ofs_cmds) / sizeof(ofs_cmds[0]); i++)
			if (strcmp(name, ofs_cmds[i].name) == 0)
				return ofs_cmds[i].run(argc - 1, argv + 1);
	fprintf(stderr,
	    "optimfs: unknown command '%s'\n"
	    "Run 'optimfs --help' for the list of commands.\n",
	    name);
	return OFS_EXIT_USAGE;
}
