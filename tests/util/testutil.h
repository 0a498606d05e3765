/*
 * testutil.h - shared helpers for the Criterion suites and test programs.
 */
#ifndef OT_TESTUTIL_H
#define OT_TESTUTIL_H

#include <stdbool.h>
#include <stddef.h>

#include "core/journal.h"

/* Make a fresh directory under $TMPDIR (or /tmp); returns a malloc'd path. */
char *ot_tmpdir(const char *tag);
/* rm -rf path (best effort) and free it. */
void ot_rmtree_free(char *path);
/* Path of a program built next to the tests ($OPTIMFS_BUILD_DIR/tests/x). */
char *ot_prog_path(const char *name);
/* The size of the largest RocksDB write-ahead log (*.log) in dir, -1 if
 * none (or dir cannot be read); its path into path (may be NULL). */
long long ot_largest_log(const char *dir, char *path, size_t cap);
/* Copy the file from to the new file to (mode 0600; to must not exist).
 * 0 on success, else -1 with errno. */
int ot_copy_file(const char *from, const char *to);

/*
 * A journal that passes everything to `in`, counting puts and drops.  With
 * drop_off its drops do nothing (as if the process died between a commit
 * and forgetting its records); its puts fail (O_EIO) once put_left more
 * have succeeded (-1, the default: never).  before_many (NULL: none) runs
 * at the start of each batch write of the lazy wrapper.
 */
struct ot_jwrap {
	struct oc_journal  base; /* first: hand &base to collections */
	struct oc_journal *in;
	bool               drop_off;
	int                put_left;
	int                puts, drops;
	void (*before_many)(struct ot_jwrap *w);
	void *arg; /* for before_many */
};
void ot_jwrap_init(struct ot_jwrap *w, struct oc_journal *in);
/* The same, holding lazy records (oc_journal_init); end it with
 * oc_journal_fini(&w->base). */
void ot_jwrap_init_lazy(struct ot_jwrap *w, struct oc_journal *in);

/* In a Criterion suite (after <criterion/criterion.h> and core/o_err.h):
 * assert that e is O_OK, naming what failed, the error and its detail. */
#define OT_OK(e, what)                                                     \
	do {                                                               \
		o_err ot_e_ = (e);                                         \
		cr_assert_eq(ot_e_, O_OK, "%s: %s (%s)", (what),           \
		    o_errname(ot_e_), o_err_detail());                     \
	} while (0)

#endif
