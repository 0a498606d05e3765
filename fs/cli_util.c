/*
 * cli_util.c - helpers shared by the optimfs subcommands (fs/cli.h).
 */
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "core/o_util.h"
#include "fs/cli.h"
#include "fs/fuse_ll.h"

int
ofs_usage_errorv(
    const char *cmd, const char *help_cmd, const char *fmt, va_list ap)
{
	fprintf(stderr, "optimfs %s: ", cmd);
	vfprintf(stderr, fmt, ap);
	fprintf(stderr, "\nRun 'optimfs %s --help' for usage.\n", help_cmd);
	return OFS_EXIT_USAGE;
}

int
ofs_usage_error(const char *cmd, const char *help_cmd, const char *fmt, ...)
{
	va_list ap;
	int     rc;

	va_start(ap, fmt);
	rc = ofs_usage_errorv(cmd, help_cmd, fmt, ap);
	va_end(ap);
	return rc;
}

int
ofs_one_arg_error(const char *cmd, int argc, char **argv, const char *what)
{
	int i;

	if (argc < 2)
		return ofs_usage_error(cmd, cmd, "missing %s", what);
	for (i = 1; i < argc; i++)
		if (argv[i][0] == '-')
			return ofs_usage_error(
			    cmd, cmd, "unknown option '%s'", argv[i]);
	return ofs_usage_error(
	    cmd, cmd, "one %s, not %d arguments", what, argc - 1);
}

int
ofs_getopt_error(const char *cmd, int c, char *const *argv)
{
	const char *arg = argv[optind - 1];

	if (c == ':')
		return ofs_usage_error(
		    cmd, cmd, "option '%s' needs a value", arg);
	if (optopt != 0 && strncmp(arg, "--", 2) != 0)
		return ofs_usage_error(
		    cmd, cmd, "unknown option '-%c'", optopt);
	return ofs_usage_error(cmd, cmd, "unknown option '%s'", arg);
}

void
ofs_buf_printf(struct o_buf *b, const char *fmt, ...)
{
	va_list ap;
	int     n;

	va_start(ap, fmt);
	n = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	if (n <= 0)
		return;
	(void) o_buf_reserve(b, (size_t) n + 1);
	va_start(ap, fmt);
	vsnprintf((char *) b->data + b->len, (size_t) n + 1, fmt, ap);
	va_end(ap);
	b->len += (size_t) n;
}

int
ofs_cli_mount_root(const char *path, char *root, size_t cap)
{
	char        cur[PATH_MAX], parent[PATH_MAX], ctl[PATH_MAX + 32];
	struct stat st, pst;
	char       *slash;

	if (realpath(path, cur) == NULL || stat(cur, &st) != 0)
		return errno;
	/* Climb while the parent is on the same device. */
	while (strcmp(cur, "/") != 0) {
		snprintf(parent, sizeof(parent), "%s", cur);
		slash = strrchr(parent, '/');
		if (slash == parent)
			parent[1] = '\0';
		else
			*slash = '\0';
		if (stat(parent, &pst) != 0 || pst.st_dev != st.st_dev)
			break;
		snprintf(cur, sizeof(cur), "%s", parent);
	}
	snprintf(ctl, sizeof(ctl), "%s/%s/status",
	    strcmp(cur, "/") == 0 ? "" : cur, OFS_CTL_NAME);
	if (stat(ctl, &pst) != 0)
		return errno == ENOTCONN ? ENOTCONN : ENODEV;
	if (strlen(cur) >= cap)
		return ENAMETOOLONG;
	snprintf(root, cap, "%s", cur);
	return 0;
}
