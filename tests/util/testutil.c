/*
 * testutil.c - temp directories and helper-program lookup for tests.
 */
#include "util/testutil.h"

#include <ftw.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

char *
ot_tmpdir(const char *tag)
{
	const char *base = getenv("TMPDIR");
	char        tmpl[PATH_MAX];
	char       *d;

	if (base == NULL || base[0] == '\0')
		base = "/tmp";
	snprintf(tmpl, sizeof(tmpl), "%s/optimfs-%s-XXXXXX", base, tag);
	d = mkdtemp(tmpl);
	if (d == NULL) {
		perror("mkdtemp");
		abort();
	}
	return strdup(d);
}

static int
rm_one(const char *p, const struct stat *sb, int flag, struct FTW *ftw)
{
	(void) sb;
	(void) flag;
	(void) ftw;
	return remove(p);
}

void
ot_rmtree_free(char *path)
{
	if (path == NULL)
		return;
	nftw(path, rm_one, 16, FTW_DEPTH | FTW_PHYS);
	free(path);
}

char *
ot_prog_path(const char *name)
{
	const char *b = getenv("OPTIMFS_BUILD_DIR");
	char        p[PATH_MAX];

	if (b == NULL)
		b = ".";
	snprintf(p, sizeof(p), "%s/tests/%s", b, name);
	return strdup(p);
}
