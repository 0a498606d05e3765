/*
 * cli_mount.c - `optimfs umount` and `optimfs status`.
 *
 * umount finds the daemon's pid in the mount's .optimfs/status before it
 * unmounts, then waits for that process to exit: the daemon commits
 * everything pending after the unmount, so when umount returns the
 * changes are durable.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <signal.h>
#include <spawn.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include "core/o_util.h"
#include "fs/cli.h"
#include "fs/fuse_ll.h"

extern char **environ;

#define UMOUNT_WAIT_S 300

/*
 * umount
 */

static const char umount_usage[] =
    "usage: optimfs umount MOUNTPOINT\n"
    "\n"
    "Unmount an optimfs filesystem and wait until its daemon has "
    "committed\n"
    "everything pending and exited.  Fails if a process still uses the "
    "mount.\n"
    "\n"
    "options:\n"
    "  -h, --help     show this help\n";

/* The value of the first line "KEY VALUE" (key: "pid:") of the text file
 * at path into out[cap], blanks before it skipped; false if none. */
static bool
file_field(const char *path, const char *key, char *out, size_t cap)
{
	char  *line = NULL; /* any length: a data dir may be a long path */
	size_t n = strlen(key), lcap = 0;
	bool   found = false;
	FILE  *fp;

	if ((fp = fopen(path, "re")) == NULL)
		return false;
	while (!found && getline(&line, &lcap, fp) > 0)
		if (strncmp(line, key, n) == 0) {
			snprintf(out, cap, "%s",
			    line + n + strspn(line + n, " \t"));
			found = true;
		}
	free(line);
	fclose(fp);
	return found;
}

/* The value of line key in MNT/.optimfs/status into out[cap], without
 * its newline; "" if none. */
static void
status_field(const char *mnt, const char *key, char *out, size_t cap)
{
	char path[PATH_MAX + 32];

	snprintf(path, sizeof(path), "%s/%s/status", mnt, OFS_CTL_NAME);
	if (!file_field(path, key, out, cap))
		out[0] = '\0';
	out[strcspn(out, "\n")] = '\0';
}

static int
run_fusermount(const char *mnt, bool lazy)
{
	char *const argv[] = { "fusermount3", lazy ? "-uz" : "-u",
		(char *) mnt, NULL };
	pid_t       pid;
	int         status, err;

	err = posix_spawnp(&pid, "fusermount3", NULL, NULL, argv, environ);
	if (err != 0) {
		fprintf(stderr, "optimfs umount: cannot run fusermount3: %s\n",
		    strerror(err));
		return OFS_EXIT_FAIL;
	}
	while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
		;
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
		return OFS_EXIT_FAIL; /* fusermount3 said why */
	return OFS_EXIT_OK;
}

/* Whether process pid has exited: gone, or a zombie its reaper has not
 * collected yet (a container's init may take seconds) whose threads, which
 * may hold the store's files and locks, have all exited. */
static bool
pid_gone(long pid)
{
	char path[64], state[64], threads[64];

	if (kill((pid_t) pid, 0) != 0 && errno == ESRCH)
		return true;
	/* unreadable (hidepid): wait for ESRCH */
	snprintf(path, sizeof(path), "/proc/%ld/status", pid);
	return file_field(path, "State:", state, sizeof(state)) &&
	    (state[0] == 'Z' || state[0] == 'X') &&
	    file_field(path, "Threads:", threads, sizeof(threads)) &&
	    strtol(threads, NULL, 10) <= 1;
}

/*
 * The result of daemon pid, which is gone, from its exit note in data
 * dir: OFS_EXIT_OK, or OFS_EXIT_FAIL said on stderr (the daemon's why, or
 * that it left none: killed, or its data directory unknown).
 */
static int
daemon_result(const char *arg, long pid, const char *data)
{
	char  path[PATH_MAX + 32], why[1024] = "", said[PATH_MAX + 200];
	long  npid = 0;
	int   nrc  = OFS_EXIT_FAIL;
	FILE *fp;

	if (data[0] == '\0')
		return OFS_EXIT_OK; /* not said where: nothing to read */
	snprintf(path, sizeof(path), "%s/%s", data, OFS_EXIT_NOTE);
	if ((fp = fopen(path, "re")) == NULL) {
		snprintf(said, sizeof(said),
		    "its exit note %s cannot be read: %s", path,
		    strerror(errno));
	} else {
		if (fscanf(fp, "%ld %d\n", &npid, &nrc) != 2 ||
		    fgets(why, sizeof(why), fp) == NULL) {
			snprintf(said, sizeof(said),
			    "its exit note %s is not one", path);
			npid = 0;
		}
		fclose(fp);
	}
	why[strcspn(why, "\n")] = '\0';
	if (npid != 0 && npid != pid)
		snprintf(said, sizeof(said),
		    "its exit note %s is of another daemon (pid %ld)", path,
		    npid);
	else if (npid == pid && nrc == OFS_EXIT_RUNNING)
		snprintf(said, sizeof(said),
		    "its exit note still says running (killed?)");
	if (npid != pid || nrc == OFS_EXIT_RUNNING) {
		fprintf(stderr,
		    "optimfs umount: %s: its daemon (pid %ld) ended without "
		    "saying whether it committed everything: %s; what it had "
		    "acknowledged is in the journal in %s and is committed at "
		    "the next mount\n",
		    arg, pid, said, data);
		return OFS_EXIT_FAIL;
	}
	if (nrc == OFS_EXIT_OK)
		return OFS_EXIT_OK;
	fprintf(stderr, "optimfs umount: %s is unmounted, but %s\n", arg, why);
	return OFS_EXIT_FAIL;
}

int
ofs_cmd_umount(int argc, char **argv)
{
	char        mnt[PATH_MAX], root[PATH_MAX], data[PATH_MAX] = "";
	long        pid = 0;
	int         rc, i, fd;
	bool        dead = false;
	const char *arg;

	if (argc == 2 &&
	    (strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "--help") == 0)) {
		fputs(umount_usage, stdout);
		return OFS_EXIT_OK;
	}
	if (argc != 2 || argv[1][0] == '-')
		return ofs_one_arg_error("umount", argc, argv, "MOUNTPOINT");
	arg = argv[1];
	/* A dead daemon's mount answers ENOTCONN (open, not stat: the
	 * kernel may still have its attributes cached). */
	if ((fd = open(arg, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) >= 0)
		close(fd);
	else if (errno == ENOTCONN)
		dead = true;
	if (realpath(arg, mnt) == NULL) {
		if (errno != ENOTCONN) {
			fprintf(stderr, "optimfs umount: %s: %s\n", arg,
			    strerror(errno));
			return OFS_EXIT_FAIL;
		}
		snprintf(mnt, sizeof(mnt), "%s", arg);
	}
	/* a path inside a live mount, for root and fusermount3 alike */
	if (!dead && ofs_cli_mount_root(mnt, root, sizeof(root)) == 0 &&
	    strcmp(root, mnt) != 0) {
		fprintf(stderr,
		    "optimfs umount: %s: not a mountpoint: it is inside the "
		    "optimfs mount at %s\n",
		    arg, root);
		return OFS_EXIT_FAIL;
	}
	if (!dead) {
		char v[64];

		status_field(mnt, "pid:", v, sizeof(v));
		pid = strtol(v, NULL, 10);
		status_field(mnt, "data dir:", data, sizeof(data));
	}
	if (geteuid() == 0) {
		/* Nothing to commit behind a dead mount: detach it. */
		if (umount2(mnt, dead ? MNT_DETACH : 0) != 0) {
			int err = errno;

			if (err == EINVAL)
				fprintf(stderr,
				    "optimfs umount: %s: not "
				    "mounted\n",
				    arg);
			else if (err == EBUSY)
				fprintf(stderr,
				    "optimfs umount: %s: busy: a process "
				    "still uses it (see 'fuser -m %s')\n",
				    arg, arg);
			else
				fprintf(stderr, "optimfs umount: %s: %s\n",
				    arg, strerror(err));
			return OFS_EXIT_FAIL;
		}
	} else if ((rc = run_fusermount(mnt, dead)) != OFS_EXIT_OK)
		return rc;
	if (dead)
		fprintf(stderr,
		    "optimfs umount: %s: its daemon had died; detached the "
		    "mount (what it had acknowledged is replayed at the "
		    "next mount)\n",
		    arg);
	if (pid <= 0)
		return OFS_EXIT_OK;
	/* Wait for the daemon: it commits pending work before it exits. */
	for (i = 0; i < UMOUNT_WAIT_S * 20; i++) {
		if (pid_gone(pid))
			return daemon_result(arg, pid, data);
		if (i == 40 && isatty(STDERR_FILENO))
			fprintf(stderr,
			    "optimfs umount: waiting for the "
			    "daemon (pid %ld) to commit...\n",
			    pid);
		o_sleep_ms(50);
	}
	fprintf(stderr,
	    "optimfs umount: %s is unmounted but its daemon "
	    "(pid %ld) is still running after %d s\n",
	    arg, pid, UMOUNT_WAIT_S);
	return OFS_EXIT_FAIL;
}

/*
 * status
 */

static const char status_usage[] =
    "usage: optimfs status MOUNTPOINT\n"
    "\n"
    "Print the status of the optimfs mount on MOUNTPOINT (its "
    ".optimfs/status).\n"
    "\n"
    "options:\n"
    "  -h, --help     show this help\n";

int
ofs_cmd_status(int argc, char **argv)
{
	char   path[PATH_MAX + 32], root[PATH_MAX], buf[4096];
	FILE  *fp;
	size_t n;
	int    err;

	if (argc == 2 &&
	    (strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "--help") == 0)) {
		fputs(status_usage, stdout);
		return OFS_EXIT_OK;
	}
	if (argc != 2 || argv[1][0] == '-')
		return ofs_one_arg_error("status", argc, argv, "MOUNTPOINT");
	if ((err = ofs_cli_mount_root(argv[1], root, sizeof(root))) != 0) {
		fprintf(stderr, "optimfs status: %s: %s\n", argv[1],
		    err == ENODEV         ? "not an optimfs mount"
		        : err == ENOTCONN ? "the daemon is gone (run "
		                            "'optimfs umount' on it)"
		                          : strerror(err));
		return OFS_EXIT_FAIL;
	}
	snprintf(path, sizeof(path), "%s/%s/status", root, OFS_CTL_NAME);
	if ((fp = fopen(path, "r")) == NULL) {
		fprintf(
		    stderr, "optimfs status: %s: %s\n", path, strerror(errno));
		return OFS_EXIT_FAIL;
	}
	while ((n = fread(buf, 1, sizeof(buf), fp)) > 0)
		fwrite(buf, 1, n, stdout);
	fclose(fp);
	return OFS_EXIT_OK;
}
