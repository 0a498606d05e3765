/*
 * test_nospc.c - the RocksDB wrapper on a full disk, on a real tmpfs
 * (mounting it needs root; skipped otherwise): writes fail with O_ENOSPC
 * and keep failing, nothing acknowledged is lost, syncing and closing in
 * that state return errors instead of aborting (the packaged librocksdb
 * asserts when a failed file is written again), writing works again once
 * space is freed, opening on a full disk fails with O_ENOSPC, and the
 * stop and the restart of writing are each logged once.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <sched.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include <criterion/criterion.h>

#include "core/o_err.h"
#include "core/o_util.h"
#include "store/rdb.h"
#include "util/testutil.h"

TestSuite(nospc, .timeout = 180);

#define MIB (1024 * 1024)
#define VAL_LEN (16 * 1024)

/* The small filesystem of this test process. */
static struct {
	char *dir;
	bool  mounted;
	char  db[PATH_MAX];
	char  filler[PATH_MAX];
} sm;

static void
small_fini(void)
{
	if (sm.mounted && umount2(sm.dir, 0) != 0)
		umount2(sm.dir, MNT_DETACH);
	sm.mounted = false;
	if (sm.dir != NULL)
		rmdir(sm.dir);
	free(sm.dir);
	sm.dir = NULL;
}

static size_t
small_avail(void)
{
	struct statvfs v;

	cr_assert_eq(statvfs(sm.dir, &v), 0, "statvfs: %s", strerror(errno));
	return (size_t) v.f_bavail * v.f_frsize;
}

/* Fill path until only leave bytes are free (0: until the disk is full). */
static void
fill_file(const char *path, size_t leave)
{
	size_t avail = small_avail();
	int    fd    = open(path, O_WRONLY | O_CREAT | O_EXCL, 0600);
	char   buf[4096];

	cr_assert(fd >= 0, "create %s: %s", path, strerror(errno));
	if (leave > 0) {
		cr_assert_gt(avail, leave);
		cr_assert_eq(posix_fallocate(fd, 0, (off_t) (avail - leave)),
		    0, "fallocate %s", path);
	} else {
		memset(buf, 0, sizeof(buf));
		while (write(fd, buf, sizeof(buf)) > 0)
			;
		cr_assert_eq(
		    errno, ENOSPC, "filling %s: %s", path, strerror(errno));
	}
	close(fd);
}

/*
 * Mount a tmpfs of mib MiB with a filler leaving leave_mib MiB free.  The
 * test process (Criterion runs each test in its own) first moves to a
 * private mount namespace, so the tmpfs goes with it even if it crashes.
 */
static void
small_mount(int mib, int leave_mib)
{
	char opts[32];

	sm.dir = ot_tmpdir("nospc");
	if (geteuid() != 0)
		cr_skip_test("needs root to mount a tmpfs");
	if (unshare(CLONE_NEWNS) != 0 ||
	    mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) != 0)
		cr_skip_test(
		    "no private mount namespace: %s", strerror(errno));
	snprintf(opts, sizeof(opts), "size=%dm", mib);
	if (mount("optimfs-test", sm.dir, "tmpfs", 0, opts) != 0)
		cr_skip_test("cannot mount a tmpfs: %s", strerror(errno));
	sm.mounted = true;
	snprintf(sm.db, sizeof(sm.db), "%s/db", sm.dir);
	snprintf(sm.filler, sizeof(sm.filler), "%s/filler", sm.dir);
	fill_file(sm.filler, (size_t) leave_mib * MIB);
}

/* The 16 KiB value of key i: pseudo-random, so compression saves nothing
 * and SST files take as much space as the WAL. */
static void
val_of(int i, uint8_t v[VAL_LEN])
{
	uint64_t x = 0x9e3779b97f4a7c15ull * (uint64_t) (i + 1);
	size_t   j;

	for (j = 0; j < VAL_LEN; j++) {
		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		v[j] = (uint8_t) x;
	}
}

/* Write key i. */
static o_err
put_i(struct ost_rdb *db, int i, bool sync)
{
	struct ost_wb  wb, *p = &wb;
	char           k[16];
	static uint8_t v[VAL_LEN];
	o_err          e;

	snprintf(k, sizeof(k), "k%08d", i);
	val_of(i, v);
	ost_wb_init(&wb);
	ost_wb_put(&wb, OST_CF_REV, k, strlen(k), v, sizeof(v));
	e = ost_rdb_write(db, &p, 1, sync);
	ost_wb_fini(&wb);
	return e;
}

/* Synced writes from *n on until one fails; *n = keys acknowledged. */
static o_err
fill_db(struct ost_rdb *db, int *n)
{
	o_err e;

	while ((e = put_i(db, *n, true)) == O_OK) {
		(*n)++;
		cr_assert_lt(*n, 100000, "the small disk never filled");
	}
	return e;
}

/* Keys 0..n-1 read back intact. */
static void
check_keys(struct ost_rdb *db, int n)
{
	struct o_buf   b = { 0 };
	char           k[16];
	static uint8_t v[VAL_LEN];
	bool           found;
	int            i;

	for (i = 0; i < n; i++) {
		snprintf(k, sizeof(k), "k%08d", i);
		cr_assert_eq(
		    ost_rdb_get(db, OST_CF_REV, k, strlen(k), &b, &found),
		    O_OK, "get %s: %s", k, o_err_detail());
		cr_assert(found, "acknowledged key %s is missing", k);
		cr_assert_eq(b.len, VAL_LEN);
		val_of(i, v);
		cr_assert(memcmp(b.data, v, VAL_LEN) == 0,
		    "key %s holds other bytes", k);
	}
	o_buf_fini(&b);
}

static int
count_lines(FILE *f, const char *needle)
{
	char line[2048];
	int  n = 0;

	rewind(f);
	while (fgets(line, sizeof(line), f) != NULL)
		if (strstr(line, needle) != NULL)
			n++;
	return n;
}

/*
 * On a 128 MiB tmpfs with leave_mib MiB free: fill, check the full state,
 * free the filler, wait for writes to resume, reopen and check.
 */
static void
full_then_resume(int leave_mib)
{
	struct ost_rdb *db;
	FILE           *errlog;
	int             n = 0, t, saved;
	o_err           e;

	small_mount(128, leave_mib);
	/* our log lines go to stderr: collect them */
	fflush(stderr);
	saved  = dup(STDERR_FILENO);
	errlog = tmpfile(); /* not on the small disk */
	cr_assert(errlog != NULL && dup2(fileno(errlog), STDERR_FILENO) >= 0);

	cr_assert_eq(ost_rdb_open(sm.db, &db), O_OK, "%s", o_err_detail());
	e = fill_db(db, &n);
	cr_assert_eq(e, O_ENOSPC, "first failure: %s: %s", o_errname(e),
	    o_err_detail());
	cr_assert(strstr(o_err_detail(), "No space left") != NULL, "%s",
	    o_err_detail());
	cr_assert_gt(n, 10, "only %d writes fitted", n);

	/* stuck until space returns; reads work; no abort */
	cr_assert_eq(put_i(db, n, true), O_ENOSPC, "%s", o_err_detail());
	cr_assert_eq(put_i(db, n, false), O_ENOSPC, "%s", o_err_detail());
	cr_assert_eq(ost_rdb_sync_wal(db), O_ENOSPC, "%s", o_err_detail());
	check_keys(db, n);

	cr_assert_eq(unlink(sm.filler), 0);
	for (t = 0; (e = put_i(db, n, true)) != O_OK; t++) {
		cr_assert_eq(e, O_ENOSPC, "after freeing space: %s: %s",
		    o_errname(e), o_err_detail());
		cr_assert_lt(t, 60, "writes still fail 60 s after freeing");
		sleep(1);
	}
	n++;
	for (t = 0; t < 10; t++, n++)
		cr_assert_eq(
		    put_i(db, n, t % 2 == 0), O_OK, "%s", o_err_detail());
	cr_assert_eq(ost_rdb_sync_wal(db), O_OK, "%s", o_err_detail());
	ost_rdb_close(db);

	cr_assert_eq(ost_rdb_open(sm.db, &db), O_OK, "%s", o_err_detail());
	check_keys(db, n);
	ost_rdb_close(db);

	fflush(stderr);
	dup2(saved, STDERR_FILENO);
	close(saved);
	cr_expect_eq(count_lines(errlog, "disk full, writes fail"), 1);
	cr_expect_eq(count_lines(errlog, "writes work again"), 1);
	fclose(errlog);
}

/* 8 MiB free: less than RocksDB preallocates for a WAL, so (with rdb.c's
 * 8 MiB memtables) an append to the WAL is what fails. */
Test(nospc, wal_append_fails_then_writes_resume, .fini = small_fini)
{
	full_then_resume(8);
}

/* 24 MiB free: the WAL's preallocation fits, and (with rdb.c's 8 MiB
 * memtables) the disk fills while a memtable is flushed (its 16 KiB values
 * to a blob file, store/rdb.c), a background error rather than a failed
 * write. */
Test(nospc, memtable_flush_fails_then_writes_resume, .fini = small_fini)
{
	full_then_resume(24);
}

Test(nospc, close_and_open_on_a_full_disk, .fini = small_fini)
{
	struct ost_rdb *db;
	char            last[PATH_MAX];
	int             n = 0;
	o_err           e;

	small_mount(32, 4);
	cr_assert_eq(ost_rdb_open(sm.db, &db), O_OK, "%s", o_err_detail());
	e = fill_db(db, &n);
	cr_assert_eq(e, O_ENOSPC, "%s: %s", o_errname(e), o_err_detail());
	ost_rdb_close(db); /* its WAL sync fails: logged, not fatal */

	snprintf(last, sizeof(last), "%s/last", sm.dir);
	fill_file(last, 0);
	e = ost_rdb_open(sm.db, &db);
	cr_assert_eq(e, O_ENOSPC, "open on a full disk: %s: %s", o_errname(e),
	    o_err_detail());
	cr_expect(strstr(o_err_detail(), sm.db) != NULL, "%s", o_err_detail());

	cr_assert_eq(unlink(last), 0);
	cr_assert_eq(unlink(sm.filler), 0);
	cr_assert_eq(ost_rdb_open(sm.db, &db), O_OK, "%s", o_err_detail());
	check_keys(db, n);
	cr_assert_eq(put_i(db, n, true), O_OK, "%s", o_err_detail());
	ost_rdb_close(db);
}
