/*
 * cli_diary.c - `optimfs diary create`, `optimfs log` and `optimfs
 * verify`.  They work on a mounted filesystem: the running daemon holds
 * the store, so log and verify send their request through the mount's
 * control channel (.optimfs/ctl, protocol in fs/cli.h) and render the
 * answer.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "fs/cli.h"
#include "fs/fuse_ll.h"

static bool
is_help(const char *arg)
{
	return strcmp(arg, "-h") == 0 || strcmp(arg, "--help") == 0;
}

static const char *
root_error(int err)
{
	if (err == ENODEV)
		return "not inside an optimfs mount";
	if (err == ENOTCONN)
		return "the mount's daemon is gone (run 'optimfs umount' "
		       "on it)";
	return strerror(err);
}

/*
 * diary create
 */

static const char diary_usage[] =
    "usage: optimfs diary create PATH\n"
    "\n"
    "Create an empty diary at PATH inside a mounted optimfs.  A diary is "
    "an\n"
    "append-only file: each line written is one entry of its hash-chained "
    "log;\n"
    "writes that are not appends and truncation fail with EPERM.  "
    "`echo x >> PATH`\n"
    "creates one too.\n"
    "\n"
    "options:\n"
    "  -h, --help     show this help\n";

int
ofs_cmd_diary(int argc, char **argv)
{
	char        dir[PATH_MAX], root[PATH_MAX], *slash;
	const char *path;
	int         fd, err;

	if (argc >= 2 && is_help(argv[1])) {
		fputs(diary_usage, stdout);
		return OFS_EXIT_OK;
	}
	if (argc < 2 || strcmp(argv[1], "create") != 0)
		return ofs_usage_error("diary", "diary", "%s",
		    argc < 2 ? "missing subcommand (create)"
		             : "unknown subcommand (only 'create')");
	if (argc == 3 && is_help(argv[2])) {
		fputs(diary_usage, stdout);
		return OFS_EXIT_OK;
	}
	if (argc != 3 || argv[2][0] == '\0')
		return ofs_usage_error("diary", "diary", "%s", argc < 3 ? "missing PATH" : "too many arguments");
	path = argv[2];
	snprintf(dir, sizeof(dir), "%s", path);
	slash = strrchr(dir, '/');
	if (slash == NULL)
		snprintf(dir, sizeof(dir), ".");
	else if (slash == dir)
		dir[1] = '\0';
	else
		*slash = '\0';
	if ((err = ofs_cli_mount_root(dir, root, sizeof(root))) != 0) {
		fprintf(stderr, "optimfs diary create: %s: %s\n", dir,
		    root_error(err));
		return OFS_EXIT_FAIL;
	}
	/* O_CREAT|O_APPEND makes a diary; close commits it. */
	fd = open(
	    path, O_CREAT | O_EXCL | O_WRONLY | O_APPEND | O_CLOEXEC, 0644);
	if (fd < 0 || close(fd) != 0) {
		fprintf(stderr, "optimfs diary create: %s: %s\n", path,
		    strerror(errno));
		return OFS_EXIT_FAIL;
	}
	return OFS_EXIT_OK;
}

/*
 * log and verify
 */

static const char log_usage[] =
    "usage: optimfs log PATH\n"
    "\n"
    "List the log entries of the diary (or directory) at PATH inside a "
    "mounted\n"
    "optimfs, oldest first: revision, commit time (UTC), action id, "
    "number of\n"
    "actions and appended bytes.  Pending changes are committed first.\n"
    "\n"
    "options:\n"
    "  -h, --help     show this help\n";

static const char verify_usage[] =
    "usage: optimfs verify PATH\n"
    "\n"
    "Walk the hash chain of the diary (or directory) at PATH inside a "
    "mounted\n"
    "optimfs: every log block readable, linked both ways, its hash "
    "recorded in\n"
    "its successor, revisions consecutive.  Shows progress on a "
    "terminal.\n"
    "Exit status 0: intact; 1: corrupt (the first bad block is named) or "
    "the\n"
    "check could not run.\n"
    "\n"
    "options:\n"
    "  -h, --help     show this help\n";

struct render {
	enum ofs_report_kind kind;
	const char          *cmd;
	const char          *path;
	bool                 tty;      /* progress on stderr */
	bool                 progress; /* a progress line is showing */
	bool                 header;
	bool                 final;
	int                  rc;
};

static void
clear_progress(struct render *r)
{
	if (r->progress) {
		fputs("\r\033[K", stderr);
		r->progress = false;
	}
}

static void
render_time(int64_t ms, char *out, size_t cap)
{
	time_t    t = (time_t) (ms / 1000);
	struct tm tm;

	if (gmtime_r(&t, &tm) == NULL) {
		snprintf(out, cap, "-");
		return;
	}
	strftime(out, cap, "%Y-%m-%dT%H:%M:%S", &tm);
	snprintf(
	    out + strlen(out), cap - strlen(out), ".%03dZ", (int) (ms % 1000));
}

/* Split line (no '\n') at tabs into at most n fields. */
static size_t
split(char *line, char **fields, size_t n)
{
	size_t k = 0;
	char  *p = line;

	while (k < n) {
		fields[k++] = p;
		if ((p = strchr(p, '\t')) == NULL)
			break;
		*p++ = '\0';
	}
	return k;
}

static void
render_line(struct render *r, char *line)
{
	char  *f[6], when[40];
	size_t n = split(line, f, 6);

	if (strcmp(f[0], "progress") == 0 && n == 3) {
		if (r->tty) {
			fprintf(stderr,
			    "\rverifying %s: %s blocks, %s entries", r->path,
			    f[1], f[2]);
			r->progress = true;
		}
	} else if (strcmp(f[0], "entry") == 0 && n == 6) {
		if (!r->header) {
			printf("%-8s %-24s  %-26s %5s %10s\n", "REV",
			    "TIME (UTC)", "ACTION", "ACTS", "BYTES");
			r->header = true;
		}
		render_time(strtoll(f[2], NULL, 10), when, sizeof(when));
		printf("%-8s %-24s  %-26s %5s %10s\n", f[1], when, f[3], f[4],
		    f[5]);
	} else if (strcmp(f[0], "ok") == 0 && n == 4) {
		clear_progress(r);
		r->final = true;
		if (r->kind == OFS_REPORT_VERIFY)
			printf("%s: OK: hash chain intact (%s log blocks, %s "
			       "entries, revision %s)\n",
			    r->path, f[1], f[2], f[3]);
		else if (!r->header)
			printf("%s: no log entries\n", r->path);
	} else if (strcmp(f[0], "bad") == 0 && n == 4) {
		clear_progress(r);
		r->final = true;
		r->rc    = OFS_EXIT_FAIL;
		printf("%s: CORRUPT: first bad block is #%s (%s): %s\n",
		    r->path, f[1], f[2], f[3]);
	} else if (strcmp(f[0], "error") == 0 && n == 3) {
		clear_progress(r);
		r->final = true;
		r->rc    = OFS_EXIT_FAIL;
		fprintf(stderr, "optimfs %s: %s: %s\n", r->cmd, r->path, f[2]);
	}
}

/* Whether path is inside the control directory ctl_dir. */
static bool
is_ctl_file(const char *ctl_dir, const char *path)
{
	char   real[PATH_MAX];
	size_t n = strlen(ctl_dir);

	return realpath(path, real) != NULL &&
	    strncmp(real, ctl_dir, n) == 0 && real[n] == '/';
}

/* Ask the daemon of path's mount for the report on st->st_ino. */
static int
report_request(const char *cmd, enum ofs_report_kind kind, const char *path,
    const struct stat *st)
{
	struct render r = { .kind = kind, .cmd = cmd, .path = path };
	char          root[PATH_MAX], ctl[PATH_MAX + 32], req[64];
	struct stat   cst;
	FILE         *fp;
	char         *line = NULL;
	size_t        cap  = 0;
	ssize_t       len;
	int           fd, err, n;

	r.tty = isatty(STDERR_FILENO) && kind == OFS_REPORT_VERIFY;
	if ((err = ofs_cli_mount_root(path, root, sizeof(root))) != 0) {
		fprintf(stderr, "optimfs %s: %s: %s\n", cmd, path,
		    root_error(err));
		return OFS_EXIT_FAIL;
	}
	snprintf(ctl, sizeof(ctl), "%s/%s", root, OFS_CTL_NAME);
	if (stat(ctl, &cst) == 0 && cst.st_dev == st->st_dev &&
	    (cst.st_ino == st->st_ino || is_ctl_file(ctl, path))) {
		fprintf(stderr,
		    "optimfs %s: %s: a control file of the mount, not a "
		    "diary or file\n",
		    cmd, path);
		return OFS_EXIT_FAIL;
	}
	snprintf(ctl, sizeof(ctl), "%s/%s/ctl", root, OFS_CTL_NAME);
	if ((fd = open(ctl, O_RDWR | O_CLOEXEC)) < 0) {
		fprintf(
		    stderr, "optimfs %s: %s: %s\n", cmd, ctl, strerror(errno));
		return OFS_EXIT_FAIL;
	}
	/* The mount found by name must be the one holding the object. */
	if (fstat(fd, &cst) != 0) {
		fprintf(
		    stderr, "optimfs %s: %s: %s\n", cmd, ctl, strerror(errno));
		close(fd);
		return OFS_EXIT_FAIL;
	}
	if (cst.st_dev != st->st_dev) {
		fprintf(stderr,
		    "optimfs %s: %s: moved to another filesystem while "
		    "being looked at\n",
		    cmd, path);
		close(fd);
		return OFS_EXIT_FAIL;
	}
	n = snprintf(req, sizeof(req), "%s %" PRIu64 "\n",
	    kind == OFS_REPORT_LOG ? "log" : "verify", (uint64_t) st->st_ino);
	if (write(fd, req, (size_t) n) != n) {
		fprintf(stderr, "optimfs %s: %s: sending the request: %s\n",
		    cmd, ctl, strerror(errno));
		close(fd);
		return OFS_EXIT_FAIL;
	}
	if ((fp = fdopen(fd, "r")) == NULL) {
		fprintf(stderr, "optimfs %s: %s\n", cmd, strerror(errno));
		close(fd);
		return OFS_EXIT_FAIL;
	}
	while (!r.final && (len = getline(&line, &cap, fp)) > 0) {
		if (line[len - 1] == '\n')
			line[len - 1] = '\0';
		render_line(&r, line);
	}
	if (ferror(fp) && !r.final) {
		clear_progress(&r);
		fprintf(stderr, "optimfs %s: %s: reading the answer: %s\n",
		    cmd, path, strerror(errno));
		r.rc = OFS_EXIT_FAIL;
	} else if (!r.final) {
		clear_progress(&r);
		fprintf(stderr,
		    "optimfs %s: %s: the daemon's answer ended "
		    "early (see its log)\n",
		    cmd, path);
		r.rc = OFS_EXIT_FAIL;
	}
	free(line);
	fclose(fp);
	if (fflush(stdout) != 0)
		r.rc = OFS_EXIT_FAIL;
	return r.rc;
}

/*
 * The request names the object by its inode number, so path stays open
 * (O_PATH) until the answer is in: the kernel then keeps the inode, and
 * the daemon cannot free it and give its number to another object in
 * between (fs/ns.h: idle inodes are freed once the kernel forgot them).
 */
static int
run_report(const char *cmd, enum ofs_report_kind kind, const char *path)
{
	struct stat st;
	int         pfd, rc;

	if ((pfd = open(path, O_PATH | O_CLOEXEC)) < 0 ||
	    fstat(pfd, &st) != 0) {
		fprintf(stderr, "optimfs %s: %s: %s\n", cmd, path,
		    root_error(errno));
		if (pfd >= 0)
			close(pfd);
		return OFS_EXIT_FAIL;
	}
	rc = report_request(cmd, kind, path, &st);
	close(pfd);
	return rc;
}

static int
report_cmd(int argc, char **argv, enum ofs_report_kind kind, const char *usage)
{
	const char *cmd = argv[0];

	if (argc == 2 && is_help(argv[1])) {
		fputs(usage, stdout);
		return OFS_EXIT_OK;
	}
	if (argc != 2 || argv[1][0] == '-')
		return ofs_one_arg_error(cmd, argc, argv, "PATH");
	return run_report(cmd, kind, argv[1]);
}

int
ofs_cmd_log(int argc, char **argv)
{
	return report_cmd(argc, argv, OFS_REPORT_LOG, log_usage);
}

int
ofs_cmd_verify(int argc, char **argv)
{
	return report_cmd(argc, argv, OFS_REPORT_VERIFY, verify_usage);
}
