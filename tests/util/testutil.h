/*
 * testutil.h - shared helpers for the Criterion suites and test programs.
 */
#ifndef OT_TESTUTIL_H
#define OT_TESTUTIL_H

#include <stddef.h>

/* Make a fresh directory under $TMPDIR (or /tmp); returns a malloc'd path. */
char *ot_tmpdir(const char *tag);
/* rm -rf path (best effort) and free it. */
void ot_rmtree_free(char *path);
/* Path of a program built next to the tests ($OPTIMFS_BUILD_DIR/tests/x). */
char *ot_prog_path(const char *name);

#endif
