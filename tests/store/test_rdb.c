/*
 * test_rdb.c - the RocksDB wrapper: error classification (the exact strings
 * of reference/machine-probe.md section 1.1), open/lock behaviour, and raw
 * storage conformance (digest 10.8 item 73, adapted to our key layout),
 * and what open refuses (the format marker; other databases and files;
 * raw RocksDB calls stand in for another program or another format), and
 * the write-ahead log preallocated by extending it (store/rdb_wal.cc).
 */
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <criterion/criterion.h>
#include <rocksdb/c.h>

#include "core/o_err.h"
#include "core/o_util.h"
#include "store/rdb.h"
#include "store/repo.h"
#include "util/testutil.h"

TestSuite(rdb, .timeout = 30);

Test(rdb, classify_probe_strings)
{
	static const struct {
		const char *msg;
		o_err       want;
	} cases[] = {
		{ "Invalid argument: /tmp/x/CURRENT: does not exist "
		  "(create_if_missing is false)",
		    O_EINVAL },
		{ "IO error: lock hold by current process, acquire time "
		  "1763700000 acquiring thread 140213: /tmp/x/LOCK: No locks "
		  "available",
		    O_EBUSY },
		{ "IO error: While lock file: /tmp/x/LOCK: Resource "
		  "temporarily unavailable",
		    O_EBUSY },
		{ "Invalid argument: Column family already exists", O_EINVAL },
		{ "Invalid argument: Column families not opened: blocks",
		    O_EINVAL },
		{ "Operation timed out: Timeout waiting to lock key",
		    O_EBUSY },
		{ "Resource busy: ", O_EBUSY },
		{ "Corruption: block checksum mismatch: stored = 1, computed "
		  "= 2",
		    O_ECORRUPT },
		{ "IO error: No space left on device: While appending to "
		  "file: /tmp/x/000004.log: No space left on device",
		    O_ENOSPC },
		{ "IO error: While open a file for appending: /tmp/x/LOG: "
		  "Permission denied",
		    O_EIO },
		{ "Operation failed. Try again.: ", O_EBUSY },
		{ "NotFound: ", O_ENOTFOUND },
		{ "Shutdown in progress: ", O_EIO },
	};
	size_t i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		cr_expect_eq(ost_rdb_classify(cases[i].msg), cases[i].want,
		    "%s -> %s, want %s", cases[i].msg,
		    o_errname(ost_rdb_classify(cases[i].msg)),
		    o_errname(cases[i].want));
	cr_expect_eq(ost_rdb_classify(NULL), O_EIO);
}

Test(rdb, open_twice_is_busy_with_readable_detail)
{
	char            *dir = ot_tmpdir("rdb");
	struct ost_rdb  *a = NULL, *b = NULL;
	struct ost_repo *r = NULL;
	o_err            e;

	cr_assert_eq(ost_rdb_open(dir, &a), O_OK, "%s", o_err_detail());
	e = ost_rdb_open(dir, &b);
	cr_expect_eq(e, O_EBUSY, "got %s: %s", o_errname(e), o_err_detail());
	cr_expect(
	    strstr(o_err_detail(), dir) != NULL, "detail: %s", o_err_detail());
	cr_expect(strstr(o_err_detail(), "LOCK") != NULL, "detail: %s",
	    o_err_detail());
	e = ost_repo_open(dir, NULL, &r);
	cr_expect_eq(e, O_EBUSY, "repo open: %s", o_errname(e));
	ost_rdb_close(a);
	cr_assert_eq(ost_repo_open(dir, NULL, &r), O_OK, "%s", o_err_detail());
	ost_repo_close(r);
	ot_rmtree_free(dir);
}

Test(rdb, open_on_a_file_fails_with_detail)
{
	char           *dir = ot_tmpdir("rdb");
	char            path[4096];
	FILE           *f;
	struct ost_rdb *a = NULL;
	o_err           e;

	snprintf(path, sizeof(path), "%s/plainfile", dir);
	f = fopen(path, "w");
	cr_assert_not_null(f);
	fputs("x", f);
	fclose(f);
	e = ost_rdb_open(path, &a);
	cr_expect_neq(e, O_OK);
	cr_expect(
	    strstr(o_err_detail(), "plainfile") != NULL, "%s", o_err_detail());
	ot_rmtree_free(dir);
}

static void put1(struct ost_rdb *db, enum ost_cf cf, const char *k,
    const char *v);
static size_t nfamilies(const char *dir);

/* Raw RocksDB: open dir with the families names (creating them), put
 * key=val into family fam (an index into names; val NULL: delete key),
 * close. */
static void
raw_put(const char *dir, const char **names, int n, int fam, const char *key,
    const char *val)
{
	rocksdb_options_t               *o = rocksdb_options_create();
	rocksdb_writeoptions_t          *wo = rocksdb_writeoptions_create();
	const rocksdb_options_t         *co[8];
	rocksdb_column_family_handle_t  *h[8];
	rocksdb_t                       *db;
	char                            *err = NULL;
	int                              i;

	rocksdb_options_set_create_if_missing(o, 1);
	rocksdb_options_set_create_missing_column_families(o, 1);
	for (i = 0; i < n; i++)
		co[i] = o;
	db = rocksdb_open_column_families(o, dir, n, names, co, h, &err);
	cr_assert_null(err, "raw open: %s", err);
	if (val != NULL)
		rocksdb_put_cf(
		    db, wo, h[fam], key, strlen(key), val, strlen(val), &err);
	else
		rocksdb_delete_cf(db, wo, h[fam], key, strlen(key), &err);
	cr_assert_null(err, "raw write: %s", err);
	for (i = 0; i < n; i++)
		rocksdb_column_family_handle_destroy(h[i]);
	rocksdb_close(db);
	rocksdb_writeoptions_destroy(wo);
	rocksdb_options_destroy(o);
}

static const char *all_cfs[] = { "default", "meta", "rev", "pend", "mat",
	"journal" };

/* The marker a fresh store gets, as another build would read it. */
/* The format marker of the store in dir, read beside ost_rdb ("" when
 * there is none). */
static void
raw_marker(const char *dir, char *out, size_t cap)
{
	rocksdb_options_t              *o  = rocksdb_options_create();
	rocksdb_readoptions_t *ro = rocksdb_readoptions_create();
	const rocksdb_options_t *co[6];
	rocksdb_column_family_handle_t *h[6];
	rocksdb_t *db;
	char                           *err = NULL, *v;
	size_t     vlen;
	int        i;

	for (i = 0; i < 6; i++)
		co[i] = o;
	db = rocksdb_open_column_families(o, dir, 6, all_cfs, co, h, &err);
	cr_assert_null(err, "%s", err);
	v = rocksdb_get_cf(db, ro, h[0], "optimfs.format", 14, &vlen, &err);
	cr_assert_null(err, "%s", err);
	snprintf(out, cap, "%.*s", v != NULL ? (int) vlen : 0, v ? v : "");
	rocksdb_free(v);
	for (i = 0; i < 6; i++)
		rocksdb_column_family_handle_destroy(h[i]);
	rocksdb_close(db);
	rocksdb_readoptions_destroy(ro);
	rocksdb_options_destroy(o);
}

Test(rdb, a_new_store_is_marked_with_its_format)
{
	char           *dir = ot_tmpdir("rdb");
	struct ost_rdb *a   = NULL;
	char            want[16], got[32];

	cr_assert_eq(ost_rdb_open(dir, &a), O_OK, "%s", o_err_detail());
	ost_rdb_close(a);
	raw_marker(dir, got, sizeof(got));
	snprintf(want, sizeof(want), "%d", OST_FORMAT);
	cr_expect_str_eq(got, want);
	/* and it opens again */
	cr_assert_eq(ost_rdb_open(dir, &a), O_OK, "%s", o_err_detail());
	ost_rdb_close(a);
	ot_rmtree_free(dir);
}

/* A store of the format before (2: every rev record holds its transform)
 * opens with its records as they are and is marked 3 from then on, so a
 * build of format 2 refuses it once this one may have written records
 * it would take for corruption. */
Test(rdb, a_store_of_format_2_is_read_and_marked_3)
{
	char           *dir = ot_tmpdir("rdb");
	struct ost_rdb *a   = NULL;
	struct o_buf    b   = { 0 };
	bool            found;
	char            got[32];

	_Static_assert(OST_FORMAT == 3 && OST_FORMAT_OLDEST == 2,
	    "this test is about the upgrade from 2 to 3");
	cr_assert_eq(ost_rdb_open(dir, &a), O_OK, "%s", o_err_detail());
	put1(a, OST_CF_META, "k", "v");
	ost_rdb_close(a);
	raw_put(dir, all_cfs, 6, 0, "optimfs.format", "2");
	cr_assert_eq(ost_rdb_open(dir, &a), O_OK, "%s", o_err_detail());
	cr_assert_eq(ost_rdb_get(a, OST_CF_META, "k", 1, &b, &found), O_OK);
	cr_expect(found && b.len == 1 && b.data[0] == 'v',
	    "a format 2 record reads");
	ost_rdb_close(a);
	raw_marker(dir, got, sizeof(got));
	cr_expect_str_eq(got, "3", "the store was not marked 3");
	o_buf_fini(&b);
	ot_rmtree_free(dir);
}

/* A store of another format (a newer build's, or an older one's) is
 * refused with both numbers; a garbled marker is corruption. */
Test(rdb, a_store_of_another_format_is_refused)
{
	static const struct {
		const char *val;
		o_err       e;
		const char *says;
	} c[] = {
		{ "4", O_EINVAL, "format 4, written by a newer optimfs" },
		{ "1", O_EINVAL,
		    "format 1, written by an older optimfs; this "
		    "build reads formats 2 to 3 only" },
		{ "99", O_EINVAL, "this build reads formats 2 to 3 only" },
		{ "x1", O_ECORRUPT,
		    "format marker (key \"optimfs.format\") is "
		    "unreadable: \"x1\"" },
		{ "", O_ECORRUPT, "unreadable" },
	};
	size_t i;

	for (i = 0; i < O_NELEM(c); i++) {
		char           *dir = ot_tmpdir("rdb");
		struct ost_rdb *a   = NULL;
		o_err           e;

		cr_assert_eq(ost_rdb_open(dir, &a), O_OK, "%s", o_err_detail());
		ost_rdb_close(a);
		raw_put(dir, all_cfs, 6, 0, "optimfs.format", c[i].val);
		e = ost_rdb_open(dir, &a);
		cr_expect_eq(e, c[i].e, "case %zu: %s: %s", i, o_errname(e),
		    o_err_detail());
		cr_expect(strstr(o_err_detail(), c[i].says) != NULL &&
		        strstr(o_err_detail(), dir) != NULL,
		    "case %zu: %s", i, o_err_detail());
		cr_expect_null(a);
		ot_rmtree_free(dir);
	}
}

/* A store written before the marker existed (our families and records,
 * no marker) is in format 1: refused, saying so, and left unmarked.  One
 * with no records (a creation that stopped before its marker) is adopted
 * and marked from then on. */
Test(rdb, a_store_from_before_the_marker_is_format_1)
{
	char           *dir = ot_tmpdir("rdb");
	struct ost_rdb *a   = NULL;
	char            want[16], got[32];
	o_err           e;

	cr_assert_eq(ost_rdb_open(dir, &a), O_OK, "%s", o_err_detail());
	put1(a, OST_CF_META, "k", "v");
	ost_rdb_close(a);
	raw_put(dir, all_cfs, 6, 0, "optimfs.format", NULL);
	e = ost_rdb_open(dir, &a);
	cr_expect_eq(e, O_EINVAL, "%s: %s", o_errname(e), o_err_detail());
	cr_expect(strstr(o_err_detail(),
	              "format 1 (it has no format "
	              "marker)") != NULL &&
	        strstr(o_err_detail(), dir) != NULL,
	    "%s", o_err_detail());
	cr_expect_null(a);
	cr_expect_eq(ost_rdb_open(dir, &a), O_EINVAL, "marked by a refusal");
	ot_rmtree_free(dir);

	dir = ot_tmpdir("rdb");
	cr_assert_eq(ost_rdb_open(dir, &a), O_OK, "%s", o_err_detail());
	ost_rdb_close(a);
	raw_put(dir, all_cfs, 6, 0, "optimfs.format", NULL);
	cr_assert_eq(ost_rdb_open(dir, &a), O_OK, "%s", o_err_detail());
	ost_rdb_close(a);
	raw_marker(dir, got, sizeof(got));
	snprintf(want, sizeof(want), "%d", OST_FORMAT);
	cr_expect_str_eq(got, want, "the adopted store was not marked");
	ot_rmtree_free(dir);

	/* from before the marker with only "meta" made: refused before
	 * any family is added */
	dir = ot_tmpdir("rdb");
	raw_put(dir, all_cfs, 2, 1, "k", "v");
	e = ost_rdb_open(dir, &a);
	cr_expect_eq(e, O_EINVAL, "%s: %s", o_errname(e), o_err_detail());
	cr_expect(
	    strstr(o_err_detail(), "format 1") != NULL, "%s", o_err_detail());
	cr_expect_eq(nfamilies(dir), 2);
	ot_rmtree_free(dir);

	/* half created: "meta" made, the others not yet, nothing written */
	dir = ot_tmpdir("rdb");
	raw_put(dir, all_cfs, 2, 0, "x", NULL);
	cr_assert_eq(ost_rdb_open(dir, &a), O_OK, "%s", o_err_detail());
	ost_rdb_close(a);
	cr_expect_eq(nfamilies(dir), 6);
	ot_rmtree_free(dir);
}

/* Another program's database, or a directory of other files: refused,
 * and nothing of ours is created in them. */
Test(rdb, a_foreign_database_or_directory_is_refused)
{
	static const char *theirs[] = { "default", "users", "orders" };
	char           *dir = ot_tmpdir("rdb"), path[4096];
	struct ost_rdb *a   = NULL;
	char          **fams, *err = NULL;
	size_t          nf;
	rocksdb_options_t *o = rocksdb_options_create();
	FILE           *f;
	o_err           e;

	raw_put(dir, theirs, 3, 1, "alice", "1");
	e = ost_rdb_open(dir, &a);
	cr_expect_eq(e, O_EINVAL, "%s: %s", o_errname(e), o_err_detail());
	cr_expect(strstr(o_err_detail(), "not an optimfs store") != NULL &&
	        strstr(o_err_detail(), "users, orders") != NULL,
	    "%s", o_err_detail());
	fams = rocksdb_list_column_families(o, dir, &nf, &err);
	cr_assert_null(err, "%s", err);
	cr_expect_eq(nf, 3, "families were added to their database");
	rocksdb_list_column_families_destroy(fams, nf);
	rocksdb_options_destroy(o);
	ot_rmtree_free(dir);

	dir = ot_tmpdir("rdb");
	snprintf(path, sizeof(path), "%s/notes.txt", dir);
	cr_assert_not_null(f = fopen(path, "w"));
	fputs("mine\n", f);
	fclose(f);
	e = ost_rdb_open(dir, &a);
	cr_expect_eq(e, O_EINVAL, "%s: %s", o_errname(e), o_err_detail());
	cr_expect(strstr(o_err_detail(), "notes.txt") != NULL &&
	        strstr(o_err_detail(), "no CURRENT") != NULL,
	    "%s", o_err_detail());
	snprintf(path, sizeof(path), "%s/CURRENT", dir);
	cr_expect(access(path, F_OK) != 0, "a database was created");
	ot_rmtree_free(dir);
}

static size_t
nfamilies(const char *dir)
{
	rocksdb_options_t *o = rocksdb_options_create();
	char             **fams, *err = NULL;
	size_t             nf;

	fams = rocksdb_list_column_families(o, dir, &nf, &err);
	cr_assert_null(err, "%s", err);
	rocksdb_list_column_families_destroy(fams, nf);
	rocksdb_options_destroy(o);
	return nf;
}

/* A creation that stopped after RocksDB made its database and before our
 * families (only an empty "default") opens, and so does one that stopped
 * before its CURRENT file; a "default" with data of
 * someone else's is refused; a store of a newer format that lacks one of
 * our families is refused without the family being added (the check
 * runs on a read-only open, before the writable one creates families). */
Test(rdb, checks_run_before_anything_is_written)
{
	static const char *def[]   = { "default" };
	static const char *newer[] = { "default", "meta", "rev", "pend",
		"journal", "mat2" };
	char           *dir = ot_tmpdir("rdb");
	struct ost_rdb *a   = NULL;
	o_err           e;

	raw_put(dir, def, 1, 0, "x", NULL); /* an empty default family */
	cr_assert_eq(ost_rdb_open(dir, &a), O_OK, "%s", o_err_detail());
	ost_rdb_close(a);
	cr_expect_eq(nfamilies(dir), 6);
	ot_rmtree_free(dir);

	/* stopped before CURRENT: RocksDB's own files only */
	dir = ot_tmpdir("rdb");
	{
		static const char *const own[] = { "LOCK", "LOG",
			"IDENTITY", "MANIFEST-000001" };
		char   path[4096];
		FILE  *f;
		size_t i;

		for (i = 0; i < O_NELEM(own); i++) {
			snprintf(path, sizeof(path), "%s/%s", dir, own[i]);
			cr_assert_not_null(f = fopen(path, "w"));
			fclose(f);
		}
	}
	cr_assert_eq(ost_rdb_open(dir, &a), O_OK, "%s", o_err_detail());
	ost_rdb_close(a);
	ot_rmtree_free(dir);

	dir = ot_tmpdir("rdb");
	raw_put(dir, def, 1, 0, "theirs", "1");
	e = ost_rdb_open(dir, &a);
	cr_expect_eq(e, O_EINVAL, "%s: %s", o_errname(e), o_err_detail());
	cr_expect(strstr(o_err_detail(), "\"default\" holds data") != NULL,
	    "%s", o_err_detail());
	cr_expect_eq(nfamilies(dir), 1, "families were added to theirs");
	ot_rmtree_free(dir);

	dir = ot_tmpdir("rdb");
	raw_put(dir, newer, 6, 0, "optimfs.format", "4");
	e = ost_rdb_open(dir, &a);
	cr_expect_eq(e, O_EINVAL, "%s: %s", o_errname(e), o_err_detail());
	cr_expect_eq(nfamilies(dir), 6, "a family was added to a newer store");
	ot_rmtree_free(dir);
}

static void
put1(struct ost_rdb *db, enum ost_cf cf, const char *k, const char *v)
{
	struct ost_wb wb, *p = &wb;

	ost_wb_init(&wb);
	ost_wb_put(&wb, cf, k, strlen(k), v, strlen(v));
	cr_assert_eq(
	    ost_rdb_write(db, &p, 1, false), O_OK, "%s", o_err_detail());
	ost_wb_fini(&wb);
}

static bool
get1(struct ost_rdb *db, enum ost_cf cf, const char *k, struct o_buf *b)
{
	bool found;

	cr_assert_eq(ost_rdb_get(db, cf, k, strlen(k), b, &found), O_OK);
	return found;
}

Test(rdb, d73_miss_roundtrip_and_cf_isolation)
{
	char           *dir = ot_tmpdir("rdb");
	struct ost_rdb *db;
	struct o_buf    b = { 0 };

	cr_assert_eq(ost_rdb_open(dir, &db), O_OK);
	cr_expect(!get1(db, OST_CF_META, "k", &b));
	put1(db, OST_CF_META, "k", "v1");
	cr_assert(get1(db, OST_CF_META, "k", &b));
	cr_expect_eq(b.len, 2);
	cr_expect(memcmp(b.data, "v1", 2) == 0);
	/* same key, other family: independent */
	cr_expect(!get1(db, OST_CF_REV, "k", &b));
	put1(db, OST_CF_MAT, "k", "");
	cr_expect(get1(db, OST_CF_MAT, "k", &b));
	cr_expect_eq(b.len, 0);
	o_buf_fini(&b);
	ost_rdb_close(db);
	ot_rmtree_free(dir);
}

struct seen {
	int    calls;
	size_t n;
	char   v[16];
};

static o_err
seen_fn(void *arg, const uint8_t *v, size_t n)
{
	struct seen *s = arg;

	s->calls++;
	s->n = n;
	memcpy(s->v, v, n < sizeof(s->v) ? n : sizeof(s->v));
	return n == 3 ? O_EINVAL : O_OK; /* fn's result is returned */
}

/*
 * Store format 2's record: the value, then CRC-32C(key || value) in 4
 * little-endian bytes.  A record built by hand that way reads back; the
 * same bytes under another key are corrupt (the key is covered).  Any
 * other layout, polynomial or byte order would leave existing stores
 * unreadable, so this pins it.
 */
Test(rdb, a_record_ends_with_the_crc32c_of_key_and_value)
{
	char           *dir = ot_tmpdir("rdb");
	struct ost_rdb *db;
	struct ost_wb   wb, *p = &wb;
	struct o_buf    b = { 0 };
	uint8_t         rec[2 + OST_SUM_LEN];
	uint32_t        c = o_crc32c(o_crc32c(0, "k", 1), "v1", 2);
	bool            found;

	cr_assert_eq(OST_SUM_LEN, 4);
	memcpy(rec, "v1", 2);
	rec[2] = (uint8_t) c;
	rec[3] = (uint8_t) (c >> 8);
	rec[4] = (uint8_t) (c >> 16);
	rec[5] = (uint8_t) (c >> 24);
	cr_assert_eq(ost_rdb_open(dir, &db), O_OK, "%s", o_err_detail());
	ost_wb_init(&wb);
	ost_wb_put_raw(&wb, OST_CF_MAT, "k", 1, rec, sizeof(rec));
	ost_wb_put_raw(&wb, OST_CF_MAT, "j", 1, rec, sizeof(rec));
	cr_assert_eq(ost_rdb_write(db, &p, 1, false), O_OK);
	ost_wb_fini(&wb);
	cr_expect_eq(ost_rdb_get(db, OST_CF_MAT, "k", 1, &b, &found), O_OK,
	    "%s", o_err_detail());
	cr_expect(found && b.len == 2 && memcmp(b.data, "v1", 2) == 0);
	o_buf_reset(&b);
	cr_expect_eq(ost_rdb_get(db, OST_CF_MAT, "j", 1, &b, &found),
	    O_ECORRUPT, "a record moved to another key must not read");
	o_buf_fini(&b);
	ost_rdb_close(db);
	ot_rmtree_free(dir);
}

/* The in-place read: fn runs once on the value without its checksum, not
 * on a missing key or a bad checksum (O_ECORRUPT naming the family). */
Test(rdb, get_fn_reads_in_place)
{
	char           *dir = ot_tmpdir("rdb");
	struct ost_rdb *db;
	struct ost_wb   wb, *p = &wb;
	struct seen     s = { 0 };
	bool            found;

	cr_assert_eq(ost_rdb_open(dir, &db), O_OK);
	cr_expect_eq(ost_rdb_get_fn(db, OST_CF_MAT, "k", 1, seen_fn, &s,
	                 &found),
	    O_OK);
	cr_expect(!found);
	cr_expect_eq(s.calls, 0);
	put1(db, OST_CF_MAT, "k", "v1");
	cr_expect_eq(ost_rdb_get_fn(db, OST_CF_MAT, "k", 1, seen_fn, &s,
	                 &found),
	    O_OK);
	cr_expect(found);
	cr_expect_eq(s.calls, 1);
	cr_expect_eq(s.n, 2);
	cr_expect(memcmp(s.v, "v1", 2) == 0);
	put1(db, OST_CF_MAT, "j", "abc");
	cr_expect_eq(ost_rdb_get_fn(db, OST_CF_MAT, "j", 1, seen_fn, &s,
	                 &found),
	    O_EINVAL);
	/* a record stored without its checksum: corrupt, fn not called */
	ost_wb_init(&wb);
	ost_wb_put_raw(&wb, OST_CF_MAT, "z", 1, "0123456789abcdef", 16);
	cr_assert_eq(ost_rdb_write(db, &p, 1, false), O_OK);
	ost_wb_fini(&wb);
	s.calls = 0;
	cr_expect_eq(ost_rdb_get_fn(db, OST_CF_MAT, "z", 1, seen_fn, &s,
	                 &found),
	    O_ECORRUPT);
	cr_expect(!found);
	cr_expect_eq(s.calls, 0);
	cr_expect(strstr(o_err_detail(), "checksum mismatch in column family") !=
	        NULL,
	    "%s", o_err_detail());
	ost_rdb_close(db);
	ot_rmtree_free(dir);
}

Test(rdb, d73_iterator_is_scoped_by_bounds)
{
	char           *dir = ot_tmpdir("rdb");
	struct ost_rdb *db;
	struct ost_it  *it;
	const char     *keys[] = { "aa1", "ab1", "ab2", "ab3", "ac1" };
	size_t          i, n = 0, kn;
	const uint8_t  *k;

	cr_assert_eq(ost_rdb_open(dir, &db), O_OK);
	for (i = 0; i < 5; i++)
		put1(db, OST_CF_REV, keys[i], keys[i]);
	cr_assert_eq(ost_it_open(db, OST_CF_REV, "ab", 2, "ac", 2, &it), O_OK);
	for (ost_it_first(it); ost_it_valid(it); ost_it_next(it))
		n++;
	cr_expect_eq(n, 3);
	/* descending, and seek_for_prev stays inside the bounds */
	ost_it_last(it);
	cr_assert(ost_it_valid(it));
	k = ost_it_key(it, &kn);
	cr_expect(kn == 3 && memcmp(k, "ab3", 3) == 0);
	ost_it_seek_for_prev(it, "ab25", 4);
	cr_assert(ost_it_valid(it));
	k = ost_it_key(it, &kn);
	cr_expect(kn == 3 && memcmp(k, "ab2", 3) == 0);
	ost_it_seek_for_prev(it, "ab0", 3);
	cr_expect(!ost_it_valid(it), "must not leave the lower bound");
	cr_expect_eq(ost_it_status(it), O_OK);
	ost_it_close(it);
	ost_rdb_close(db);
	ot_rmtree_free(dir);
}

/* Size of the largest write-ahead log (*.log) in dir (-1: none). */
static long long
largest_log(const char *dir)
{
	return ot_largest_log(dir, NULL, 0);
}

Test(rdb, synced_writes_land_inside_the_logs_preallocated_size)
{
	char           *dir = ot_tmpdir("rdb");
	struct ost_rdb *db;
	struct o_buf    v = { 0 };
	char            k[16];
	int             i;

	cr_assert_eq(ost_rdb_open(dir, &db), O_OK);
	for (i = 0; i < 200; i++) {
		struct ost_wb wb, *p = &wb;

		snprintf(k, sizeof(k), "k%03d", i);
		ost_wb_init(&wb);
		ost_wb_put(&wb, OST_CF_REV, k, strlen(k), "value", 5);
		cr_assert_eq(ost_rdb_write(db, &p, 1, true), O_OK, "%s",
		    o_err_detail());
		ost_wb_fini(&wb);
	}
	/* ~10 KiB written: the log's size is the preallocated block
	 * (write_buffer_size + 10 %), so no fdatasync had to write the
	 * inode for a new size */
	cr_expect_gt(largest_log(dir), 1 << 20,
	    "the log is %lld bytes after 200 small synced writes: it grows "
	    "with each (preallocated with FALLOC_FL_KEEP_SIZE)",
	    (long long) largest_log(dir));
	ost_rdb_close(db);
	/* closed, the log is cut back to what was written */
	cr_expect(largest_log(dir) >= 0 && largest_log(dir) < 1 << 20,
	    "log left at %lld bytes (-1: none)", (long long) largest_log(dir));
	cr_assert_eq(ost_rdb_open(dir, &db), O_OK);
	for (i = 0; i < 200; i++) {
		snprintf(k, sizeof(k), "k%03d", i);
		cr_expect(get1(db, OST_CF_REV, k, &v), "%s lost", k);
	}
	o_buf_fini(&v);
	ost_rdb_close(db);
	ot_rmtree_free(dir);
}

Test(rdb, d73_batch_spans_families_and_persists)
{
	char           *dir = ot_tmpdir("rdb");
	struct ost_rdb *db;
	struct ost_wb   a, b, *wbs[2] = { &a, &b };
	struct o_buf    v = { 0 };

	cr_assert_eq(ost_rdb_open(dir, &db), O_OK);
	put1(db, OST_CF_PEND, "p", "pending");
	ost_wb_init(&a);
	ost_wb_init(&b);
	ost_wb_put(&a, OST_CF_REV, "r", 1, "rev", 3);
	ost_wb_put(&a, OST_CF_META, "m", 1, "meta", 4);
	ost_wb_del(&b, OST_CF_PEND, "p", 1);
	ost_wb_put(&b, OST_CF_MAT, "x", 1, "mat", 3);
	cr_assert_eq(ost_rdb_write(db, wbs, 2, true), O_OK);
	ost_wb_fini(&a);
	ost_wb_fini(&b);
	ost_rdb_close(db);

	cr_assert_eq(ost_rdb_open(dir, &db), O_OK);
	cr_expect(get1(db, OST_CF_REV, "r", &v));
	cr_expect(get1(db, OST_CF_META, "m", &v));
	cr_expect(get1(db, OST_CF_MAT, "x", &v));
	cr_expect(!get1(db, OST_CF_PEND, "p", &v));
	o_buf_fini(&v);
	ost_rdb_close(db);
	ot_rmtree_free(dir);
}
