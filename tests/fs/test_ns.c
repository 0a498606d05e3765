/*
 * test_ns.c - the namespace engine (fs/ns.h) over a real RocksDB
 * repository through the local transactor: directories, regular files,
 * diaries, renames, durability across reopen, two namespaces over one
 * store, the async committer and its error reporting, xattrs.
 */
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <criterion/criterion.h>

#include "core/block.h"
#include "core/codec.h"
#include "core/diary.h"
#include "core/journal.h"
#include "core/o_util.h"
#include "core/tree.h"
#include "fs/errmap.h"
#include "fs/fuse_ll.h"
#include "fs/ns.h"
#include "fs/ns_impl.h" /* the diary index, to check it stays sparse */
#include "store/journal.h"
#include "store/local.h"
#include "store/repo.h"
#include "util/testutil.h"

TestSuite(ns, .timeout = 120);

/* ---- environment ---------------------------------------------------------
 */

static atomic_int
    fail_writes; /* synced commit writes fail: 1 O_EIO, 2 O_EUNAVAIL */

static o_err
fail_hook(void *arg)
{
	(void) arg;
	switch (atomic_load(&fail_writes)) {
	case 0:
		return O_OK;
	case 2: /* as a cluster out of reach: the outcome unknown */
		return o_err_set(O_EUNAVAIL, "test: injected unavailability");
	default:
		return o_err_set(O_EIO, "test: injected write failure");
	}
}

struct env {
	char                 *dir;
	struct ost_repo      *repo;
	struct oc_transactor *tx;
	struct ofs_ns        *ns;
	struct oc_journal    *js[8]; /* one session per namespace opened */
	size_t                nj;
	struct oc_recover_report rec; /* of the last repo_open */
};

static struct env env;

static void
ok(o_err e, const char *what)
{
	cr_assert_eq(
	    e, O_OK, "%s: %s (%s)", what, o_errname(e), o_err_detail());
}

static void
repo_open(void)
{
	struct ost_repo_opts o;

	memset(&o, 0, sizeof(o));
	o.fail_write = fail_hook;
	ok(ost_repo_open(env.dir, &o, &env.repo), "open repo");
	env.tx = ost_local_transactor(env.repo);
}

/* A new journal session on env.repo (closed with the repository). */
static struct oc_journal *
journal_new(void)
{
	struct oc_journal *j;

	cr_assert_lt(env.nj, 8);
	ok(ost_journal_open(env.repo, &j), "open journal");
	env.js[env.nj++] = j;
	return j;
}

/* What fs/main.c does before mounting: replay what a dead namespace left
 * queued in the journal. */
static void
journal_recover(void)
{
	static const struct oc_coll_type *const types[] = { &oc_tree_type,
		&oc_diary_type };

	ok(oc_journal_recover(env.tx, journal_new(), types, 2, NULL, &env.rec),
	    "journal recovery");
}

static void
repo_close(void)
{
	size_t i;

	for (i = 0; i < env.nj; i++)
		ost_journal_close(env.js[i]);
	env.nj = 0;
	ost_repo_close(env.repo);
	env.repo = NULL;
}

static void
ns_open_opts(struct ofs_ns **ns, bool async, int64_t interval)
{
	struct ofs_ns_opts o = { .async = async,
		.commit_interval_ms         = interval,
		.journal                    = journal_new() };

	ok(ofs_ns_open(env.tx, &o, ns), "open namespace");
}

/* Close env.ns and open it again with options o (journal: a new one). */
static void
ns_reopen_with(struct ofs_ns_opts *o, const char *what)
{
	ok(ofs_ns_close(env.ns), "close");
	o->journal = journal_new();
	ok(ofs_ns_open(env.tx, o, &env.ns), what);
}

/* Close env.ns and open it again with options o over a counting
 * wrapper w of a new journal (lazy: holding lazy records). */
static void
ns_reopen_over(
    struct ofs_ns_opts *o, struct ot_jwrap *w, bool lazy, const char *what)
{
	ok(ofs_ns_close(env.ns), "close");
	if (lazy)
		ot_jwrap_init_lazy(w, journal_new());
	else
		ot_jwrap_init(w, journal_new());
	o->journal = &w->base;
	ok(ofs_ns_open(env.tx, o, &env.ns), what);
}

static void
setup(void)
{
	memset(&env, 0, sizeof(env));
	atomic_store(&fail_writes, 0);
	env.dir = ot_tmpdir("ns");
	repo_open();
	journal_recover();
	ns_open_opts(&env.ns, false, 0);
}

static void
teardown(void)
{
	if (env.ns != NULL)
		ofs_ns_close(env.ns);
	repo_close();
	ot_rmtree_free(env.dir);
	memset(&env, 0, sizeof(env));
}

/* Close namespace and repository, reopen both. */
static void
reopen(void)
{
	ok(ofs_ns_close(env.ns), "close namespace");
	env.ns = NULL;
	repo_close();
	repo_open();
	journal_recover();
	ns_open_opts(&env.ns, false, 0);
}

/* ---- helpers -------------------------------------------------------------
 */

static uint64_t
mkdir_(struct ofs_ns *ns, uint64_t dir, const char *name)
{
	struct ofs_attr a;

	ok(ofs_mkdir(ns, dir, name, 0755, &a), name);
	cr_assert_eq(a.kind, OFS_DIR);
	return a.ino;
}

static uint64_t
create_(struct ofs_ns *ns, uint64_t dir, const char *name, enum ofs_kind k)
{
	struct ofs_attr a;

	ok(ofs_create(ns, dir, name, k, 0644, &a), name);
	cr_assert_eq(a.kind, k);
	cr_assert_eq(a.size, 0);
	return a.ino;
}

static uint64_t
lookup_(struct ofs_ns *ns, uint64_t dir, const char *name)
{
	struct ofs_attr a;

	ok(ofs_lookup(ns, dir, name, &a), name);
	return a.ino;
}

static void
write_(struct ofs_ns *ns, uint64_t ino, uint64_t off, const char *s)
{
	ok(ofs_write(ns, ino, 0, off, s, strlen(s), false), "write");
}

static void
append_(struct ofs_ns *ns, uint64_t ino, const char *s)
{
	ok(ofs_write(ns, ino, 0, 0, s, strlen(s), true), "append");
}

/* Whole contents (NUL-terminated, malloc'd), read in small pieces. */
static char *
read_all(struct ofs_ns *ns, uint64_t ino, size_t *n)
{
	size_t cap = 256, len = 0, got;
	char  *b = malloc(cap);

	for (;;) {
		while (cap - len < 1000) {
			cap *= 2;
			b = realloc(b, cap);
		}
		ok(ofs_read(ns, ino, len, 999, b + len, &got), "read");
		if (got == 0)
			break;
		len += got;
	}
	b[len] = '\0';
	if (n != NULL)
		*n = len;
	return b;
}

static void
expect_contents(struct ofs_ns *ns, uint64_t ino, const char *want)
{
	struct ofs_attr a;
	char           *got = read_all(ns, ino, NULL);

	cr_assert_str_eq(got, want);
	free(got);
	ok(ofs_getattr(ns, ino, &a), "getattr");
	cr_assert_eq(a.size, strlen(want), "size %llu want %zu",
	    (unsigned long long) a.size, strlen(want));
}

/* A file dir/name holding text, committed. */
static uint64_t
file_(struct ofs_ns *ns, uint64_t dir, const char *name, const char *text)
{
	uint64_t f = create_(ns, dir, name, OFS_FILE);

	write_(ns, f, 0, text);
	ok(ofs_flush(ns, f, 0, true), "flush the new file");
	return f;
}

/* Read [off, off+len) and compare with want's bytes there. */
static void
expect_range(struct ofs_ns *ns, uint64_t ino, const char *want, size_t wlen,
    uint64_t off, size_t len)
{
	char   buf[256];
	size_t got, exp;

	cr_assert_leq(len, sizeof(buf));
	ok(ofs_read(ns, ino, off, len, buf, &got), "read range");
	exp = off >= wlen ? 0 : O_MIN(len, wlen - off);
	cr_assert_eq(got, exp, "read at %llu len %zu: got %zu want %zu",
	    (unsigned long long) off, len, got, exp);
	cr_assert(memcmp(buf, want + off, got) == 0,
	    "bytes differ at offset %llu len %zu", (unsigned long long) off,
	    len);
}

/* Every offset, a few lengths. */
static void
expect_every_offset(struct ofs_ns *ns, uint64_t ino, const char *want)
{
	static const size_t lens[] = { 1, 2, 3, 7, 64, 200 };
	size_t              wlen   = strlen(want), i;
	uint64_t            off;

	for (off = 0; off <= wlen + 1; off++)
		for (i = 0; i < O_NELEM(lens); i++)
			expect_range(ns, ino, want, wlen, off, lens[i]);
}

struct names {
	char   **v;
	size_t   n;
	uint64_t inos[4096];
	int      stop_after; /* 0: never */
};

static int
names_cb(void *arg, const char *name, const struct ofs_attr *a)
{
	struct names *ns = arg;

	ns->v = realloc(ns->v, sizeof(char *) * (ns->n + 1));
	if (ns->n < O_NELEM(ns->inos))
		ns->inos[ns->n] = a->ino;
	ns->v[ns->n++] = strdup(name);
	return ns->stop_after > 0 && (int) ns->n >= ns->stop_after;
}

static void
names_free(struct names *ns)
{
	size_t i;

	for (i = 0; i < ns->n; i++)
		free(ns->v[i]);
	free(ns->v);
	memset(ns, 0, sizeof(*ns));
}

/* ---- directories ---------------------------------------------------------
 */

Test(ns, root_exists_and_mkdir_lookup, .init = setup, .fini = teardown)
{
	struct ofs_attr a;
	uint64_t        d, sub;

	ok(ofs_getattr(env.ns, OFS_ROOT_INO, &a), "getattr root");
	cr_assert_eq(a.kind, OFS_DIR);
	cr_assert_eq(a.size, 0);
	d = mkdir_(env.ns, OFS_ROOT_INO, "a");
	cr_assert_neq(d, OFS_ROOT_INO);
	cr_assert_eq(lookup_(env.ns, OFS_ROOT_INO, "a"), d);
	sub = mkdir_(env.ns, d, "b");
	cr_assert_eq(lookup_(env.ns, d, "b"), sub);
	ok(ofs_getattr(env.ns, d, &a), "getattr a");
	cr_assert_eq(a.size, 1);
	cr_assert_eq(a.nlink, 2);
	cr_assert_eq(a.mode, 0755);
	cr_assert_eq(ofs_lookup(env.ns, sub, "zz", &a), O_ENOTFOUND);
	ok(ofs_getattr(env.ns, OFS_ROOT_INO, &a), "getattr root");
	cr_assert_eq(a.size, 1);
}

Test(ns, readdir_2000_entries_in_order, .init = setup, .fini = teardown)
{
	enum { N = 2000 };
	struct names ls;
	int          order[N], i;
	char         name[32];
	uint64_t     d = mkdir_(env.ns, OFS_ROOT_INO, "big");

	for (i = 0; i < N; i++)
		order[i] = i;
	srand(7);
	for (i = N - 1; i > 0; i--) {
		int j = rand() % (i + 1), t = order[i];

		order[i] = order[j];
		order[j] = t;
	}
	for (i = 0; i < N; i++) {
		snprintf(name, sizeof(name), "f%05d", order[i]);
		if (order[i] % 10 == 0)
			mkdir_(env.ns, d, name);
		else
			create_(env.ns, d, name, OFS_FILE);
	}
	memset(&ls, 0, sizeof(ls));
	ok(ofs_readdir(env.ns, d, NULL, names_cb, &ls), "readdir");
	cr_assert_eq(ls.n, N);
	for (i = 0; i < N; i++) {
		snprintf(name, sizeof(name), "f%05d", i);
		cr_assert_str_eq(ls.v[i], name);
	}
	/* inos agree with lookup */
	cr_assert_eq(ls.inos[17], lookup_(env.ns, d, "f00017"));
	names_free(&ls);

	/* resume after a name, and stop early */
	ls.stop_after = 5;
	ok(ofs_readdir(env.ns, d, "f01000", names_cb, &ls), "readdir after");
	cr_assert_eq(ls.n, 5);
	cr_assert_str_eq(ls.v[0], "f01001");
	cr_assert_str_eq(ls.v[4], "f01005");
	names_free(&ls);

	/* committed and listed again after reopen */
	ok(ofs_flush(env.ns, d, 0, true), "flush");
	reopen();
	d = lookup_(env.ns, OFS_ROOT_INO, "big");
	ok(ofs_readdir(env.ns, d, NULL, names_cb, &ls), "readdir reopened");
	cr_assert_eq(ls.n, N);
	cr_assert_str_eq(ls.v[N - 1], "f01999");
	names_free(&ls);
}

/* ---- regular files -------------------------------------------------------
 */

Test(
    ns, file_write_read_overwrite_sizes_times, .init = setup, .fini = teardown)
{
	struct ofs_attr a, b;
	uint64_t        f = create_(env.ns, OFS_ROOT_INO, "f", OFS_FILE);
	char            buf[64];
	size_t          got;

	ok(ofs_getattr(env.ns, f, &a), "getattr");
	write_(env.ns, f, 0, "hello world");
	expect_contents(env.ns, f, "hello world");
	write_(env.ns, f, 6, "WORLD!!");
	expect_contents(env.ns, f, "hello WORLD!!");
	usleep(2000);
	write_(env.ns, f, 15, "x"); /* leaves a hole of two zero bytes */
	ok(ofs_getattr(env.ns, f, &b), "getattr");
	cr_assert_eq(b.size, 16);
	cr_assert_gt(b.mtime_ns, a.mtime_ns);
	cr_assert_geq(b.ctime_ns, b.mtime_ns);
	ok(ofs_read(env.ns, f, 12, sizeof(buf), buf, &got), "read");
	cr_assert_eq(got, 4);
	cr_assert(memcmp(buf, "!\0\0x", 4) == 0);
	/* append flag writes at the end */
	ok(ofs_write(env.ns, f, 0, 0, "END", 3, true), "append");
	ok(ofs_read(env.ns, f, 16, sizeof(buf), buf, &got), "read");
	cr_assert_eq(got, 3);
	/* past the end */
	ok(ofs_read(env.ns, f, 1000, sizeof(buf), buf, &got), "read past");
	cr_assert_eq(got, 0);

	/* flushed, then seen by a fresh lookup after reopen */
	ok(ofs_flush(env.ns, f, 0, true), "flush");
	reopen();
	f = lookup_(env.ns, OFS_ROOT_INO, "f");
	ok(ofs_read(env.ns, f, 0, sizeof(buf), buf, &got), "read");
	cr_assert_eq(got, 19);
	cr_assert(memcmp(buf, "hello WORLD!!\0\0xEND", 19) == 0);
	ok(ofs_getattr(env.ns, f, &a), "getattr");
	cr_assert_geq(a.mtime_ns, b.mtime_ns);
}

Test(ns, truncate_up_and_down, .init = setup, .fini = teardown)
{
	uint64_t f = create_(env.ns, OFS_ROOT_INO, "t", OFS_FILE);
	char     want[32];

	write_(env.ns, f, 0, "0123456789");
	ok(ofs_truncate(env.ns, f, 4), "truncate down");
	expect_contents(env.ns, f, "0123");
	ok(ofs_truncate(env.ns, f, 8), "truncate up");
	{
		char   buf[16];
		size_t got;

		ok(ofs_read(env.ns, f, 0, sizeof(buf), buf, &got), "read");
		cr_assert_eq(got, 8);
		memcpy(want, "0123\0\0\0\0", 8);
		cr_assert(memcmp(buf, want, 8) == 0);
	}
	ok(ofs_flush(env.ns, f, 0, true), "flush");
	ok(ofs_truncate(env.ns, f, 0), "truncate to 0");
	write_(env.ns, f, 0, "new");
	ok(ofs_flush(env.ns, f, 0, true), "flush");
	reopen();
	f = lookup_(env.ns, OFS_ROOT_INO, "t");
	expect_contents(env.ns, f, "new");
	cr_assert_eq(ofs_truncate(env.ns, OFS_ROOT_INO, 0), O_EISDIR);
	cr_assert_eq(ofs_truncate(env.ns, f, OFS_FILE_MAX + 1), O_EFBIG);
	cr_assert_eq(
	    ofs_write(env.ns, f, 0, OFS_FILE_MAX, "x", 1, false), O_EFBIG);
	expect_contents(env.ns, f, "new");
}

Test(ns, truncate_without_flush_is_committed_by_the_committer, .init = setup,
    .fini = teardown)
{
	struct ofs_ns  *b;
	struct ofs_attr a;
	uint64_t        f = create_(env.ns, OFS_ROOT_INO, "t", OFS_FILE);
	int             i;

	write_(env.ns, f, 0, "abcdef");
	ok(ofs_flush(env.ns, f, 0, true), "flush");
	ok(ofs_truncate(env.ns, f, 2), "truncate");
	ns_open_opts(&b, false, 0);
	for (i = 0; i < 2000; i++) { /* 20 s: only for a broken build */
		uint64_t g;

		ok(ofs_ns_refresh(b, OFS_ROOT_INO), "refresh");
		g = lookup_(b, OFS_ROOT_INO, "t");
		ok(ofs_getattr(b, g, &a), "getattr");
		if (a.size == 2)
			break;
		usleep(10000);
	}
	cr_assert_eq(a.size, 2, "the idle buffer was never committed");
	ok(ofs_ns_close(b), "close b");
}

/* After a reopen of the namespace, root file name reads as w[0..n). */
static void
expect_file_after_reopen(const char *name, const uint8_t *w, size_t n)
{
	uint8_t *r = malloc(n);
	size_t   off, got;
	uint64_t f;

	reopen();
	f = lookup_(env.ns, OFS_ROOT_INO, name);
	for (off = 0; off < n; off += got) {
		ok(ofs_read(env.ns, f, off, 131072, r + off, &got), "read");
		cr_assert_gt(got, 0);
	}
	cr_assert(memcmp(w, r, n) == 0, "%s read back differs", name);
	free(r);
}

Test(ns, large_file_round_trip, .init = setup, .fini = teardown)
{
	size_t   n = (2u << 20) + 12345, i, off;
	uint8_t *w = malloc(n);
	uint64_t f = create_(env.ns, OFS_ROOT_INO, "big", OFS_FILE);

	for (i = 0; i < n; i++)
		w[i] = (uint8_t) (i * 2654435761u >> 13);
	for (off = 0; off < n; off += 65536)
		ok(ofs_write(env.ns, f, 0, off, w + off, O_MIN(65536, n - off),
		       false),
		    "write");
	ok(ofs_flush(env.ns, f, 0, true), "flush");
	expect_file_after_reopen("big", w, n);
	free(w);
}

/* Compare the whole file with the model m of n bytes. */
static void
expect_model(uint64_t f, const uint8_t *m, size_t n, const char *when)
{
	struct ofs_attr a;
	uint8_t        *r = malloc(n + 1);
	size_t          off, got;

	ok(ofs_getattr(env.ns, f, &a), "getattr");
	cr_assert_eq(a.size, n, "%s: size %llu, model %zu", when,
	    (unsigned long long) a.size, n);
	for (off = 0; off < n; off += got) {
		ok(ofs_read(env.ns, f, off, 200000, r + off, &got), "read");
		cr_assert_gt(got, 0, "%s: short file at %zu", when, off);
	}
	ok(ofs_read(env.ns, f, n, 10, r, &got), "read at the end");
	cr_assert_eq(got, 0);
	for (off = 0; off < n; off++)
		if (r[off] != m[off])
			cr_assert_fail("%s: byte %zu is %u, model %u", when,
			    off, r[off], m[off]);
	free(r);
}

/*
 * Random writes, truncations up and down, flushes and reopens against a
 * byte array: sizes cross the inline limit and piece boundaries both ways,
 * so inline <-> pieces, holes and trimmed pieces are all exercised.
 */
Test(ns, file_pieces_against_a_model, .init = setup, .fini = teardown)
{
	size_t   cap = 3 * OFS_PIECE + 1000, n = 0, i, step;
	uint8_t *m = calloc(cap, 1), *w = malloc(cap);
	uint64_t f    = create_(env.ns, OFS_ROOT_INO, "m", OFS_FILE);
	uint64_t seed = 42;

	for (step = 0; step < 300; step++) {
		uint64_t r = (seed = seed * 6364136223846793005ull + 1) >> 20;
		char     when[64];

		snprintf(when, sizeof(when), "step %zu", step);
		switch (r % 8) {
		case 0:
		case 1:
		case 2: { /* write somewhere, maybe past the end */
			size_t off = (size_t) ((r >> 3) % (cap - 1));
			size_t len = 1 + (size_t) ((r >> 25) % (cap - off));

			if (r & (1u << 30))
				len = O_MIN(len, 5000);
			for (i = 0; i < len; i++)
				w[i] = (uint8_t) (step * 31 + i);
			ok(ofs_write(env.ns, f, 0, off, w, len, false), when);
			memcpy(m + off, w, len);
			n = O_MAX(n, off + len);
			break;
		}
		case 3:
		case 4: { /* truncate to a size near a boundary or anywhere */
			static const size_t near[] = { 0, 1, OFS_INLINE_FILE,
				OFS_INLINE_FILE + 1, OFS_PIECE - 1, OFS_PIECE,
				OFS_PIECE + 1, 2 * OFS_PIECE + 7 };
			size_t sz = (r & 8) ? near[(r >> 4) % O_NELEM(near)]
			                    : (size_t) ((r >> 4) % cap);

			ok(ofs_truncate(env.ns, f, sz), when);
			if (sz > n)
				memset(m + n, 0, sz - n);
			else
				memset(m + sz, 0, n - sz);
			n = sz;
			break;
		}
		case 5:
			ok(ofs_flush(env.ns, f, 0, true), when);
			break;
		case 6:
			if (r & 16) {
				ok(ofs_flush(env.ns, f, 0, true), when);
				reopen();
				f = lookup_(env.ns, OFS_ROOT_INO, "m");
			}
			break;
		default:
			expect_model(f, m, n, when);
		}
	}
	expect_model(f, m, n, "end");
	ok(ofs_flush(env.ns, f, 0, true), "flush");
	reopen();
	f = lookup_(env.ns, OFS_ROOT_INO, "m");
	expect_model(f, m, n, "after reopen");
	free(m);
	free(w);
}

/* A file far larger than the memory budget: resident bytes stay bounded
 * while it is written and read, and a sparse tail reads as zeros. */
Test(ns, big_file_memory_stays_bounded, .init = setup, .fini = teardown)
{
	size_t   n = 96u << 20, chunk = 128u << 10, off, got, i;
	uint8_t *w = malloc(chunk), *r = malloc(chunk);
	uint64_t f    = create_(env.ns, OFS_ROOT_INO, "huge", OFS_FILE);
	uint64_t peak = 0;
	struct ofs_ns_stats st;
	struct ofs_attr     a;

	for (off = 0; off < n; off += chunk) {
		for (i = 0; i < chunk; i += 8)
			memcpy(w + i, &(uint64_t) { off + i }, 8);
		ok(ofs_write(env.ns, f, 0, off, w, chunk, false), "write");
		ofs_ns_stats(env.ns, &st);
		peak = O_MAX(peak, st.file_bytes);
	}
	ok(ofs_flush(env.ns, f, 0, true), "flush");
	cr_assert_leq(peak, OFS_PIECE_BUDGET + OFS_DIRTY_MAX,
	    "peak resident %llu", (unsigned long long) peak);
	ok(ofs_truncate(env.ns, f, (uint64_t) 1 << 32), "truncate to 4 GiB");
	ok(ofs_flush(env.ns, f, 0, true), "flush");
	reopen();
	f = lookup_(env.ns, OFS_ROOT_INO, "huge");
	ok(ofs_getattr(env.ns, f, &a), "getattr");
	cr_assert_eq(a.size, (uint64_t) 1 << 32);
	peak = 0;
	for (off = 0; off < n; off += got) {
		ok(ofs_read(env.ns, f, off, chunk, r, &got), "read");
		cr_assert_eq(got, chunk);
		for (i = 0; i < chunk; i += 8) {
			uint64_t v;

			memcpy(&v, r + i, 8);
			cr_assert_eq(v, off + i, "bytes at %zu", off + i);
		}
		ofs_ns_stats(env.ns, &st);
		peak = O_MAX(peak, st.file_bytes);
	}
	cr_assert_leq(peak, OFS_PIECE_BUDGET + OFS_DIRTY_MAX,
	    "peak resident while reading %llu", (unsigned long long) peak);
	ok(ofs_read(env.ns, f, (uint64_t) 3 << 30, chunk, r, &got), "hole");
	cr_assert_eq(got, chunk);
	for (i = 0; i < chunk; i++)
		cr_assert_eq(r[i], 0);
	free(w);
	free(r);
}

/* Diary k's lines for the cache test (the same in every diary but the
 * first byte), into w (n bytes); their length. */
static size_t
bounded_lines(char *w, size_t n, int k)
{
	size_t len = 0, i;

	for (i = 0; len + 64 < n; i++)
		len += (size_t) snprintf(w + len, n - len,
		    "%c line %07zu of a diary whose cache is bounded\n",
		    'a' + k, i);
	return len;
}

/* A trim (every 200 ms at most) brings env.ns's caches within max bytes:
 * waited for (up to 20 s), not assumed. */
static void
caches_trimmed(uint64_t max)
{
	struct ofs_ns_stats st;
	int                 waited;

	ofs_ns_stats(env.ns, &st);
	for (waited = 0; st.cache_bytes > max && waited < 20000;
	     waited += 20) {
		o_sleep_ms(20);
		ofs_ns_stats(env.ns, &st);
	}
	cr_assert_leq(st.cache_bytes, max,
	    "no trim within 20 s: caches hold %llu bytes",
	    (unsigned long long) st.cache_bytes);
}

/* Reading many diaries: their collections' caches are bounded together
 * (caches_max), and what was dropped reads back the same. */
Test(ns, many_diaries_caches_bounded_together, .init = setup, .fini = teardown)
{
	struct ofs_ns_opts  o = { .commit_interval_ms = 10,
		 .caches_max                         = 4u << 20 };
	struct ofs_ns_stats st;
	size_t              n = 3u << 20, step = 64u << 10, off, got, len;
	char               *w = malloc(n), *r = malloc(step);
	uint64_t            y[8], peak        = 0;
	int                 k, round;
	char                name[16];

	ns_reopen_with(&o, "open with a 4 MiB bound");
	for (k = 0; k < 8; k++) {
		snprintf(name, sizeof(name), "d%d", k);
		y[k] = create_(env.ns, OFS_ROOT_INO, name, OFS_DIARY);
		len  = bounded_lines(w, n, k);
		for (off = 0; off < len; off += step)
			ok(ofs_write(env.ns, y[k], 0, 0, w + off,
			       O_MIN(step, len - off), true),
			    "append");
		ok(ofs_flush(env.ns, y[k], 0, true), "flush");
	}
	/* the writes' blocks too: the peak below counts one diary's reads
	 * over caches within the bound */
	caches_trimmed(o.caches_max);
	for (round = 0; round < 2; round++) {
		for (k = 0; k < 8; k++) {
			len = bounded_lines(w, n, k);
			for (off = 0; off < len; off += got) {
				ok(ofs_read(env.ns, y[k], off, step, r, &got),
				    "read");
				cr_assert_eq(got, O_MIN(step, len - off));
				cr_assert(memcmp(r, w + off, got) == 0,
				    "d%d differs in [%zu, %zu), round %d", k,
				    off, off + got, round);
			}
			ofs_ns_stats(env.ns, &st); /* before a trim */
			peak = O_MAX(peak, st.cache_bytes);
			caches_trimmed(o.caches_max);
		}
	}
	ofs_ns_stats(env.ns, &st);
	cr_assert_gt(st.caches_dropped, 0, "no cache was ever dropped");
	/* the bound, plus what one diary read in since the last trim (its
	 * blocks decoded: under twice its bytes) */
	cr_assert_leq(peak, (4u << 20) + 2 * n + (1u << 20),
	    "caches held %llu bytes together", (unsigned long long) peak);
	free(w);
	free(r);
}

/* Write n bytes of a pattern (byte at x: x / 4099) to file f, and flush. */
static void
pattern_write(uint64_t f, size_t n)
{
	size_t   step = 256u << 10, off, i;
	uint8_t *w    = malloc(step);

	for (off = 0; off < n; off += step) {
		for (i = 0; i < step; i++)
			w[i] = (uint8_t) ((off + i) / 4099);
		ok(ofs_write(env.ns, f, 0, off, w, step, false), "write");
	}
	ok(ofs_flush(env.ns, f, 0, true), "flush");
	free(w);
}

/* Read the 256 KiB at off of pattern_write's file and check it. */
static void
pattern_check(uint64_t f, size_t off)
{
	size_t   step = 256u << 10, got, i;
	uint8_t *r    = malloc(step);

	ok(ofs_read(env.ns, f, off, step, r, &got), "read");
	cr_assert_eq(got, step);
	for (i = 0; i < step; i++)
		cr_assert_eq(
		    r[i], (uint8_t) ((off + i) / 4099), "byte %zu", off + i);
	free(r);
}

/* The file's bytes are resident as pieces while the collections' caches
 * stay small: its chunk blocks are not kept there too. */
static void
expect_pieces_not_chunks(const char *after)
{
	struct ofs_ns_stats st;

	ofs_ns_stats(env.ns, &st);
	cr_assert_lt(st.cache_bytes, 256u << 10,
	    "caches hold %llu bytes after %s a 3 MiB file",
	    (unsigned long long) st.cache_bytes, after);
	cr_assert_gt(st.file_bytes, 0, "no piece resident after %s", after);
}

/* A file's bytes are kept once: in its pieces (OFS_PIECE_BUDGET), not a
 * second time as chunk blocks in its collection's cache, whether written
 * or read back. */
Test(ns, file_chunks_are_not_cached_beside_the_pieces, .init = setup,
    .fini = teardown)
{
	size_t              n = 3u << 20, off;
	uint64_t            f = create_(env.ns, OFS_ROOT_INO, "f", OFS_FILE);

	pattern_write(f, n);
	expect_pieces_not_chunks("writing");
	reopen(); /* read from the store, not the pieces */
	f = lookup_(env.ns, OFS_ROOT_INO, "f");
	for (off = 0; off < n; off += 256u << 10)
		pattern_check(f, off);
	expect_pieces_not_chunks("reading back");
}

/* Reading a file larger than the piece budget keeps the most recently
 * read pieces: eviction drops a file's least recently used clean pieces
 * down to three quarters of the budget, not all of them (which made every
 * random re-read of a large file go to the store). */
Test(ns, a_large_read_keeps_its_recent_pieces, .init = setup, .fini = teardown)
{
	struct ofs_ns_stats st;
	size_t              n = OFS_PIECE_BUDGET * 3 / 2, off;
	uint64_t            f = create_(env.ns, OFS_ROOT_INO, "f", OFS_FILE);
	uint64_t            least = UINT64_MAX;

	pattern_write(f, n);
	reopen(); /* no piece resident */
	f = lookup_(env.ns, OFS_ROOT_INO, "f");
	for (off = 0; off < n; off += 256u << 10) {
		pattern_check(f, off);
		ofs_ns_stats(env.ns, &st);
		if (off >= OFS_PIECE_BUDGET) /* evictions ran */
			least = O_MIN(least, st.file_bytes);
	}
	cr_assert_geq(least, OFS_PIECE_BUDGET / 2,
	    "only %llu bytes of pieces stayed resident after an eviction",
	    (unsigned long long) least);
	/* the ones kept are the most recently read: reading the last
	 * quarter of the budget again loads nothing (the resident bytes do
	 * not move), reading the first piece again loads it */
	ofs_ns_stats(env.ns, &st);
	least = st.file_bytes;
	for (off = n - OFS_PIECE_BUDGET / 4; off < n; off += OFS_PIECE) {
		pattern_check(f, off);
		ofs_ns_stats(env.ns, &st);
		cr_assert_eq(st.file_bytes, least,
		    "the piece at %zu, among the last read, was evicted", off);
	}
	pattern_check(f, 0);
	ofs_ns_stats(env.ns, &st);
	cr_assert_neq(
	    st.file_bytes, least, "the first piece read is still resident");
}

/* A large file read among many other inodes (more than the eviction
 * visits per call) stays within the piece budget: the clock walks only the
 * inodes that hold pieces.  Over the whole inode table, once the large
 * file had been trimmed the hand moved on through inodes with nothing to
 * drop, each call gave up after OFS_EVICT_SCAN of them and the piece was
 * loaded anyway, past the budget (found by a review). */
Test(ns, a_large_read_among_many_inodes_stays_in_budget, .init = setup,
    .fini = teardown)
{
	enum { NSMALL = 2500 };
	struct ofs_ns_stats st;
	size_t              n = OFS_PIECE_BUDGET * 3 / 2, off;
	uint64_t            f = create_(env.ns, OFS_ROOT_INO, "f", OFS_FILE);
	uint64_t            most = 0;
	uint64_t            d    = create_(env.ns, OFS_ROOT_INO, "d", OFS_DIR);
	char                name[32];
	int                 i;

	pattern_write(f, n);
	for (i = 0; i < NSMALL; i++) {
		snprintf(name, sizeof(name), "s%05d", i);
		(void) create_(env.ns, d, name, OFS_FILE);
	}
	reopen(); /* no piece resident; the large file's inode first */
	f = lookup_(env.ns, OFS_ROOT_INO, "f");
	d = lookup_(env.ns, OFS_ROOT_INO, "d");
	for (i = 0; i < NSMALL; i++) {
		snprintf(name, sizeof(name), "s%05d", i);
		(void) lookup_(env.ns, d, name);
	}
	for (off = 0; off < n; off += OFS_PIECE) {
		pattern_check(f, off);
		ofs_ns_stats(env.ns, &st);
		most = O_MAX(most, st.file_bytes);
	}
	cr_assert_leq(most, OFS_PIECE_BUDGET,
	    "%llu bytes of pieces resident, over the %llu budget",
	    (unsigned long long) most, (unsigned long long) OFS_PIECE_BUDGET);
}

/* An unlinked file that is still open reads as before, inline or not. */
Test(ns, unlinked_open_file_still_reads, .init = setup, .fini = teardown)
{
	size_t   n = OFS_PIECE * 2 + 99, i, got;
	uint8_t *w = malloc(n), *r = malloc(n);
	uint64_t big   = create_(env.ns, OFS_ROOT_INO, "big", OFS_FILE);
	uint64_t small = create_(env.ns, OFS_ROOT_INO, "small", OFS_FILE);

	for (i = 0; i < n; i++)
		w[i] = (uint8_t) (i * 7);
	ok(ofs_write(env.ns, big, 0, 0, w, n, false), "write");
	write_(env.ns, small, 0, "tiny");
	ok(ofs_flush(env.ns, big, 0, true), "flush");
	ok(ofs_flush(env.ns, small, 0, true), "flush");
	reopen();
	big   = lookup_(env.ns, OFS_ROOT_INO, "big");
	small = lookup_(env.ns, OFS_ROOT_INO, "small");
	ok(ofs_unlink(env.ns, OFS_ROOT_INO, "big"), "unlink");
	ok(ofs_unlink(env.ns, OFS_ROOT_INO, "small"), "unlink");
	ok(ofs_read(env.ns, big, 0, n, r, &got), "read unlinked");
	cr_assert_eq(got, n);
	cr_assert(memcmp(w, r, n) == 0);
	expect_contents(env.ns, small, "tiny");
	free(w);
	free(r);
}

static struct ofs_ns_stats
stats_of(struct ofs_ns *ns)
{
	struct ofs_ns_stats st;

	ofs_ns_stats(ns, &st);
	return st;
}

/* A counter of ofs_ns_stats, by name. */
#define STAT(ns, f) (stats_of(ns).f)

/* Wait up to 20 s for counter f to be want (the committer's sweep; a
 * bound only for a broken build, never reached on a loaded machine). */
#define EXPECT_SOON(ns, f, want, what)                                   \
	do {                                                             \
		int i_;                                                  \
		for (i_ = 0; i_ < 2000 && STAT(ns, f) != (want); i_++)   \
			o_sleep_ms(10);                                  \
		cr_assert_eq(STAT(ns, f), (want), "%s: %llu, want %llu", \
		    (what), (unsigned long long) STAT(ns, f),            \
		    (unsigned long long) (want));                        \
	} while (0)

/*
 * Inode lifetime: a file the kernel forgets is freed at once when nothing
 * of it is unstored (its ino then answers O_ENOTFOUND, and is reused with
 * another generation); a lookup brings it back with its bytes, a
 * multi-piece file through its piece collection.  A dirty file is kept
 * until its work is staged, then swept; so is one a readdir reached
 * without counting; directories stay.
 */
Test(ns, forgotten_file_inodes_are_freed_and_come_back, .init = setup,
    .fini = teardown)
{
	/* 2 s each: the committer must not stage c between its write and
	 * its forget below, nor the sweep free the readdir's inodes before
	 * they are counted (a stall on a loaded machine) */
	struct ofs_ns_opts o = { .commit_interval_ms = 2000,
		.inode_idle_ms                       = 2000 };
	struct ofs_attr    at, again;
	struct names       nm = { 0 };
	size_t             n  = OFS_PIECE * 2 + 5, i, got;
	uint8_t           *w = malloc(n), *r = malloc(n);
	uint64_t           a, b, c, d, freed0, freed;

	ns_reopen_with(&o, "open with a 2 s idle bound");
	d = mkdir_(env.ns, OFS_ROOT_INO, "d");
	a = create_(env.ns, d, "a", OFS_FILE);
	b = create_(env.ns, d, "b", OFS_FILE);
	write_(env.ns, a, 0, "hello");
	for (i = 0; i < n; i++)
		w[i] = (uint8_t) (i * 13 + 1);
	ok(ofs_write(env.ns, b, 0, 0, w, n, false), "write b");
	ok(ofs_flush(env.ns, a, 0, true), "flush a");
	ok(ofs_flush(env.ns, b, 0, true), "flush b");
	cr_assert_eq(STAT(env.ns, inodes), 4, "root, d, a, b");
	freed0 = STAT(env.ns, inodes_freed);
	ok(ofs_getattr(env.ns, a, &at), "getattr a");

	/* forgotten and clean: freed at once */
	ofs_ns_forget(env.ns, a, 1);
	cr_assert_eq(STAT(env.ns, inodes), 3);
	freed = STAT(env.ns, inodes_freed);
	cr_assert_eq(freed - freed0, 1);
	cr_assert_eq(ofs_getattr(env.ns, a, &again), O_ENOTFOUND,
	    "the freed ino still answers");
	ok(ofs_lookup(env.ns, d, "a", &again), "lookup a again");
	cr_assert_neq(again.gen, at.gen, "a reused ino keeps its generation");
	expect_contents(env.ns, again.ino, "hello");
	ofs_ns_forget(env.ns, b, 1);
	cr_assert_eq(STAT(env.ns, inodes), 3);
	b = lookup_(env.ns, d, "b");
	ok(ofs_read(env.ns, b, 0, n, r, &got), "read b again");
	cr_assert_eq(got, n);
	cr_assert(memcmp(w, r, n) == 0, "b's bytes differ after its inode "
	                                "was freed");

	/* a hold by st_ino (optimfs log/verify's request) keeps the ino
	 * past the kernel's forget, until it is given back */
	cr_assert_eq(STAT(env.ns, inodes), 4, "root, d, a, b");
	cr_assert_eq(ofs_ns_hold_sino(env.ns, again.sino), again.ino);
	ofs_ns_forget(env.ns, again.ino, 1);
	cr_assert_eq(STAT(env.ns, inodes), 4, "held: not freed");
	expect_contents(env.ns, again.ino, "hello");
	ofs_ns_forget(env.ns, again.ino, 1);
	cr_assert_eq(ofs_ns_hold_sino(env.ns, again.sino), 0,
	    "freed once the hold is given back");
	ofs_ns_forget(env.ns, b, 1);
	cr_assert_eq(STAT(env.ns, inodes), 2, "root and d");

	/* dirty: kept while its bytes are only in the inode (the kernel
	 * never forgets an open file; this stands for a closed one whose
	 * bytes the committer has not staged yet) */
	c = create_(env.ns, d, "c", OFS_FILE);
	write_(env.ns, c, 0, "unflushed");
	ofs_ns_forget(env.ns, c, 1);
	cr_assert_eq(STAT(env.ns, inodes), 3, "a dirty file was freed");

	/* a readdir's inodes are not counted: swept once unused, and c
	 * once the committer staged it */
	ok(ofs_readdir(env.ns, d, NULL, names_cb, &nm), "readdir");
	cr_assert_eq(nm.n, 3);
	cr_assert_eq(STAT(env.ns, inodes), 5, "readdir made a and b");
	EXPECT_SOON(env.ns, inodes, 2, "inodes after the sweep (root and d)");
	c = lookup_(env.ns, d, "c");
	expect_contents(env.ns, c, "unflushed");
	ok(ofs_getattr(env.ns, d, &at), "the directory stays");
	names_free(&nm);
	free(w);
	free(r);
}

/*
 * Collections lifetime: the collections of directories, diaries and
 * multi-piece files nobody holds are closed once idle (memory follows
 * what is in use, not everything ever visited), and everything reads and
 * writes as before when they are opened again; one whose object the
 * kernel holds stays open.
 */
Test(ns, idle_collections_are_closed_and_opened_again, .init = setup,
    .fini = teardown)
{
	struct ofs_ns_opts o  = { .commit_interval_ms = 10,
		 .inode_idle_ms                       = 50 };
	struct names       nm = { 0 };
	size_t             n  = OFS_PIECE * 2 + 7, i, got;
	uint8_t           *w = malloc(n), *r = malloc(n);
	uint64_t           d, s[20], f, big, lg, q, held, closed0, closed;
	char               name[16];

	ns_reopen_with(&o, "open with a 50 ms idle bound");
	d = mkdir_(env.ns, OFS_ROOT_INO, "d");
	for (i = 0; i < O_NELEM(s); i++) {
		snprintf(name, sizeof(name), "s%02zu", i);
		s[i] = mkdir_(env.ns, d, name);
		f    = create_(env.ns, s[i], "f", OFS_FILE);
		snprintf(name, sizeof(name), "file %zu", i);
		write_(env.ns, f, 0, name);
		ok(ofs_flush(env.ns, f, 0, true), "flush f");
		ofs_ns_forget(env.ns, f, 1);
	}
	big = create_(env.ns, s[0], "big", OFS_FILE);
	for (i = 0; i < n; i++)
		w[i] = (uint8_t) (i * 7 + 3);
	ok(ofs_write(env.ns, big, 0, 0, w, n, false), "write big");
	ok(ofs_flush(env.ns, big, 0, true), "flush big");
	lg = create_(env.ns, d, "log", OFS_DIARY);
	append_(env.ns, lg, "a\nb\n");
	ok(ofs_flush(env.ns, lg, 0, true), "flush log");
	/* root, d, 20 subdirectories, big's pieces, the diary */
	cr_assert_eq(STAT(env.ns, collections), 24);
	closed0 = STAT(env.ns, colls_closed);

	/* a file the kernel holds, moved across directories (which of
	 * them it keeps follows) */
	held = lookup_(env.ns, s[1], "f");
	ok(ofs_rename(env.ns, s[1], "f", s[2], "g"), "rename s01/f s02/g");

	/* the kernel forgets the rest: every collection but the root's
	 * closes, and every inode but the held file's and its directories'
	 * is freed */
	ofs_ns_forget(env.ns, big, 1);
	ofs_ns_forget(env.ns, lg, 1);
	for (i = 0; i < O_NELEM(s); i++)
		ofs_ns_forget(env.ns, s[i], 1);
	ofs_ns_forget(env.ns, d, 1);
	EXPECT_SOON(env.ns, collections, 1, "open collections, nothing held");
	closed = STAT(env.ns, colls_closed);
	cr_assert_eq(closed - closed0, 23);
	EXPECT_SOON(env.ns, inodes, 4, "inodes: root, d, s02, s02/g held");
	expect_contents(env.ns, held, "file 1");
	ofs_ns_forget(env.ns, held, 1);
	EXPECT_SOON(env.ns, inodes, 1, "inodes: the root, nothing held");

	/* opened again: the same names, bytes and lines */
	d = lookup_(env.ns, OFS_ROOT_INO, "d");
	ok(ofs_readdir(env.ns, d, NULL, names_cb, &nm), "readdir d");
	cr_assert_eq(nm.n, O_NELEM(s) + 1);
	cr_assert_str_eq(nm.v[0], "log");
	cr_assert_str_eq(nm.v[1], "s00");
	cr_assert_str_eq(nm.v[20], "s19");
	s[7] = lookup_(env.ns, d, "s07");
	f    = lookup_(env.ns, s[7], "f");
	expect_contents(env.ns, f, "file 7");
	ofs_ns_forget(env.ns, f, 1);
	s[2] = lookup_(env.ns, d, "s02");
	f    = lookup_(env.ns, s[2], "g");
	expect_contents(env.ns, f, "file 1");
	ofs_ns_forget(env.ns, f, 1);
	ofs_ns_forget(env.ns, s[2], 1);
	f    = lookup_(env.ns, s[7], "f");
	s[0] = lookup_(env.ns, d, "s00");
	big  = lookup_(env.ns, s[0], "big");
	ok(ofs_read(env.ns, big, 0, n, r, &got), "read big");
	cr_assert_eq(got, n);
	cr_assert(memcmp(w, r, n) == 0, "big's bytes differ after reopening");
	lg = lookup_(env.ns, d, "log");
	expect_contents(env.ns, lg, "a\nb\n");
	append_(env.ns, lg, "c\n");
	ok(ofs_flush(env.ns, lg, 0, true), "flush log again");
	expect_contents(env.ns, lg, "a\nb\nc\n");

	/* held by the kernel (d, log): stays open */
	append_(env.ns, lg, "queued\n"); /* the committer commits it */
	ofs_ns_forget(env.ns, f, 1);
	ofs_ns_forget(env.ns, big, 1);
	ofs_ns_forget(env.ns, s[0], 1);
	ofs_ns_forget(env.ns, s[7], 1);
	EXPECT_SOON(
	    env.ns, collections, 3, "open collections, d and log held");
	o_sleep_ms(1500); /* a sweep or more later */
	cr_assert_eq(STAT(env.ns, collections), 3, "a held collection closed");
	expect_contents(env.ns, lg, "a\nb\nc\nqueued\n");

	/* work that cannot commit keeps its collection open, not held or
	 * not: closing it would drop the work */
	q = create_(env.ns, OFS_ROOT_INO, "q", OFS_DIARY);
	atomic_store(&fail_writes, 1);
	append_(env.ns, q, "kept\n");
	cr_assert_neq(ofs_flush(env.ns, q, 0, true), O_OK, "flush q fails");
	ofs_ns_forget(env.ns, q, 1);
	o_sleep_ms(1500);
	cr_assert_eq(
	    STAT(env.ns, collections), 4, "q closed with work queued");
	atomic_store(&fail_writes, 0);
	EXPECT_SOON(env.ns, collections, 3, "open collections, q committed");
	expect_contents(env.ns, lookup_(env.ns, OFS_ROOT_INO, "q"), "kept\n");
	names_free(&nm);
	free(w);
	free(r);
}

/* sync_hook: the first commit of a collection of kind gate.kind waits
 * for release. */
static struct {
	pthread_mutex_t mtx;
	pthread_cond_t  cv;
	uint8_t         kind;
	bool            armed, reached, released;
	bool            passed; /* the held commit went on */
	pthread_t       tester; /* the thread that armed the gate */
	int             by_tester; /* commits it ran itself since */
} gate = { .mtx = PTHREAD_MUTEX_INITIALIZER, .cv = PTHREAD_COND_INITIALIZER };

static void
gate_arm(uint8_t kind)
{
	pthread_mutex_lock(&gate.mtx);
	gate.kind    = kind;
	gate.armed   = true;
	gate.reached = gate.released = gate.passed = false;
	gate.tester                                = pthread_self();
	gate.by_tester                             = 0;
	pthread_mutex_unlock(&gate.mtx);
}

/* What the gate saw since it was armed: whether the held commit went on,
 * and how many commits the arming thread ran itself. */
static void
gate_seen(bool *passed, int *by_tester)
{
	pthread_mutex_lock(&gate.mtx);
	*passed    = gate.passed;
	*by_tester = gate.by_tester;
	pthread_mutex_unlock(&gate.mtx);
}

/* Wait (up to 20 s) until a commit reached the gate; 20 s: never. */
static bool
gate_wait_reached(void)
{
	struct timespec ts;
	bool            r;

	pthread_mutex_lock(&gate.mtx);
	clock_gettime(CLOCK_REALTIME, &ts);
	ts.tv_sec += 20;
	while (!gate.reached &&
	    pthread_cond_timedwait(&gate.cv, &gate.mtx, &ts) == 0)
		;
	r = gate.reached;
	pthread_mutex_unlock(&gate.mtx);
	return r;
}

static void
gate_release(void)
{
	pthread_mutex_lock(&gate.mtx);
	gate.released = true;
	pthread_cond_broadcast(&gate.cv);
	pthread_mutex_unlock(&gate.mtx);
}

static void
gate_hook(void *arg, uint8_t kind)
{
	struct timespec ts;

	(void) arg;
	pthread_mutex_lock(&gate.mtx);
	if (pthread_equal(pthread_self(), gate.tester))
		gate.by_tester++;
	if (gate.armed && kind == gate.kind) {
		gate.armed   = false;
		gate.reached = true;
		pthread_cond_broadcast(&gate.cv);
		clock_gettime(CLOCK_REALTIME, &ts);
		ts.tv_sec += 20; /* a broken test must not hang the suite */
		while (!gate.released &&
		    pthread_cond_timedwait(&gate.cv, &gate.mtx, &ts) == 0)
			;
		gate.passed = true;
	}
	pthread_mutex_unlock(&gate.mtx);
}

struct flusher {
	uint64_t   ino;
	o_err      e;
	atomic_int done;
};

static void *
flusher_run(void *arg)
{
	struct flusher *f = arg;

	f->e = ofs_flush(env.ns, f->ino, 0, true);
	atomic_store(&f->done, 1);
	return NULL;
}

/*
 * A directory's record is never committed before the file pieces it
 * names: while one flush commits the pieces of a big file whose record is
 * staged in the directory, a flush of another file there (whose commit
 * would carry the big file's record too) waits for them.  Else another
 * mount, or a crash in between, sees a record naming pieces that are not
 * there.
 */
Test(ns, directory_record_waits_for_the_pieces_it_names, .init = setup,
    .fini = teardown)
{
	struct ofs_ns_opts o = { .async = true,
		.commit_interval_ms     = 600000,
		.sync_hook              = gate_hook };
	struct flusher     a = { 0 }, b = { 0 };
	size_t             n = OFS_PIECE * 3, i, got;
	uint8_t           *w = malloc(n), *r = malloc(n);
	uint64_t           d, big, small, other;
	pthread_t          ta, tb;

	ns_reopen_with(&o, "open with the gate");
	d     = mkdir_(env.ns, OFS_ROOT_INO, "d");
	big   = create_(env.ns, d, "big", OFS_FILE);
	small = create_(env.ns, d, "small", OFS_FILE);
	other = create_(env.ns, d, "other", OFS_FILE);
	for (i = 0; i < n; i++)
		w[i] = (uint8_t) (i * 13 + 1);
	ok(ofs_write(env.ns, big, 0, 0, w, n, false), "write big");
	/* big's record staged in d, its pieces not committed */
	ok(ofs_flush(env.ns, big, 0, false), "async flush of big");
	write_(env.ns, small, 0, "small");
	write_(env.ns, other, 0, "other");
	gate_arm(OFS_FILE);
	a.ino = small; /* commits d: big's pieces first, held at the gate */
	b.ino = other; /* commits d too */
	cr_assert_eq(pthread_create(&ta, NULL, flusher_run, &a), 0);
	cr_assert(gate_wait_reached(), "big's pieces were never committed");
	cr_assert_eq(pthread_create(&tb, NULL, flusher_run, &b), 0);
	o_sleep_ms(300);
	cr_expect_eq(atomic_load(&b.done), 0,
	    "the directory committed while the pieces it names were not");
	gate_release();
	pthread_join(ta, NULL);
	pthread_join(tb, NULL);
	ok(a.e, "flush small");
	ok(b.e, "flush other");
	reopen();
	d     = lookup_(env.ns, OFS_ROOT_INO, "d");
	small = lookup_(env.ns, d, "small");
	expect_contents(env.ns, small, "small");
	expect_contents(env.ns, lookup_(env.ns, d, "other"), "other");
	big = lookup_(env.ns, d, "big");
	ok(ofs_read(env.ns, big, 0, n, r, &got), "read big");
	cr_assert_eq(got, n);
	cr_assert(memcmp(w, r, n) == 0, "big's bytes differ");
	free(w);
	free(r);
}

/* The committed record of name in tree collection id, read beside the
 * namespace. */
static void
committed(
    const struct oc_bid *id, const char *name, struct o_buf *v, bool *found)
{
	struct oc_sync_opts   so;
	struct oc_collection *c;

	memset(&so, 0, sizeof(so));
	ok(oc_coll_open(env.tx, id, &oc_tree_type, false, &so, &c),
	    "open a collection beside the namespace");
	o_buf_reset(v);
	ok(oc_tree_get(c, name, strlen(name), v, found), name);
	oc_coll_free(c);
}

/*
 * The other order: a directory's commit that began (found no pieces to
 * commit first) before a big file's record was staged in it leaves that
 * record out; it is committed later, after its pieces.
 */
Test(ns, directory_commit_leaves_out_a_record_staged_after_it_began,
    .init = setup, .fini = teardown)
{
	struct ofs_ns_opts o = { .async = true,
		.commit_interval_ms     = 600000,
		.sync_hook              = gate_hook };
	struct flusher     a = { 0 };
	size_t             n = OFS_PIECE * 3, i, got;
	uint8_t           *w = malloc(n), *r = malloc(n);
	uint64_t           d, big, small;
	struct oc_bid      did;
	struct o_buf       v = { 0 }, v0 = { 0 };
	bool               found;
	pthread_t          ta;

	ns_reopen_with(&o, "open with the gate");
	d     = mkdir_(env.ns, OFS_ROOT_INO, "d");
	big   = create_(env.ns, d, "big", OFS_FILE);
	small = create_(env.ns, d, "small", OFS_FILE);
	ok(ofs_flush(env.ns, big, 0, true), "flush empty big");
	ok(ofs_ns_coll_id(env.ns, d, &did), "d's collection id");
	committed(&did, "big", &v0, &found);
	cr_assert(found, "big's first record was not committed");
	for (i = 0; i < n; i++)
		w[i] = (uint8_t) (i * 11 + 5);
	ok(ofs_write(env.ns, big, 0, 0, w, n, false), "write big");
	write_(env.ns, small, 0, "small");
	gate_arm(OFS_DIR);
	a.ino = small; /* commits d: no pieces to wait for; held at the gate */
	cr_assert_eq(pthread_create(&ta, NULL, flusher_run, &a), 0);
	cr_assert(gate_wait_reached(), "d was never committed");
	/* big's record staged in d now, its pieces not committed */
	ok(ofs_flush(env.ns, big, 0, false), "async flush of big");
	gate_release();
	pthread_join(ta, NULL);
	ok(a.e, "flush small");

	/* what d's commit put in the store: small, and big's first record */
	committed(&did, "small", &v, &found);
	cr_assert(found, "small's record was not committed");
	committed(&did, "big", &v, &found);
	cr_assert(found, "big's record is gone");
	cr_assert(v.len == v0.len && memcmp(v.data, v0.data, v.len) == 0,
	    "big's new record was committed before its pieces");
	o_buf_fini(&v);
	o_buf_fini(&v0);

	ok(ofs_flush(env.ns, big, 0, true), "flush big");
	reopen();
	d   = lookup_(env.ns, OFS_ROOT_INO, "d");
	big = lookup_(env.ns, d, "big");
	ok(ofs_read(env.ns, big, 0, n, r, &got), "read big");
	cr_assert_eq(got, n);
	cr_assert(memcmp(w, r, n) == 0, "big's bytes differ");
	expect_contents(env.ns, lookup_(env.ns, d, "small"), "small");
	free(w);
	free(r);
}

/* Records naming pieces, staged while no commit of their directory is
 * under way, go into one commit of it, not one each (a seal only where a
 * commit took its seq: cp -r of big files is not a commit per file). */
Test(ns, big_file_records_share_a_directory_commit, .init = setup,
    .fini = teardown)
{
	struct ofs_ns_opts o = { .async = true, .commit_interval_ms = 600000 };
	size_t             n = OFS_PIECE * 2, i;
	uint8_t           *w = malloc(n);
	uint64_t           d, f[3], c0;
	char               name[8];

	ns_reopen_with(&o, "open async");
	d = mkdir_(env.ns, OFS_ROOT_INO, "d");
	ok(ofs_flush(env.ns, d, 0, true), "flush d");
	memset(w, 'b', n);
	for (i = 0; i < 3; i++) {
		snprintf(name, sizeof(name), "big%zu", i);
		f[i] = create_(env.ns, d, name, OFS_FILE);
		ok(ofs_write(env.ns, f[i], 0, 0, w, n, false), "write");
		ok(ofs_flush(env.ns, f[i], 0, false), "stage");
	}
	c0 = STAT(env.ns, commits);
	ok(ofs_flush(env.ns, f[2], 0, true), "flush the last, and d");
	/* the three piece collections, then d once */
	cr_assert_eq(STAT(env.ns, commits) - c0, 4,
	    "commits: %llu, want 3 piece collections and d once",
	    (unsigned long long) (STAT(env.ns, commits) - c0));
	free(w);
}

/* A dirty multi-piece file renamed across directories keeps its bytes. */
Test(ns, rename_dirty_big_file_across, .init = setup, .fini = teardown)
{
	size_t   n = OFS_PIECE * 3, i;
	uint8_t *w = malloc(n);
	uint64_t d = mkdir_(env.ns, OFS_ROOT_INO, "d");
	uint64_t f = create_(env.ns, OFS_ROOT_INO, "f", OFS_FILE);

	for (i = 0; i < n; i++)
		w[i] = (uint8_t) (i * 13);
	ok(ofs_write(env.ns, f, 0, 0, w, n, false), "write");
	ok(ofs_rename(env.ns, OFS_ROOT_INO, "f", d, "g"), "rename");
	ok(ofs_flush(env.ns, f, 0, true), "flush");
	ok(ofs_flush(env.ns, d, 0, true), "flush dir");
	ok(ofs_flush(env.ns, OFS_ROOT_INO, 0, true), "flush root");
	reopen();
	d = lookup_(env.ns, OFS_ROOT_INO, "d");
	f = lookup_(env.ns, d, "g");
	expect_model(f, w, n, "renamed");
	free(w);
}

/* Close the namespace, open it again with a long commit interval (the
 * committer stays out of the way). */
static void
reopen_quiet(void)
{
	ok(ofs_ns_close(env.ns), "close");
	env.ns = NULL;
	ns_open_opts(&env.ns, false, 10000000);
}

/* A second namespace over the store reads n bytes of dir/name == w. */
static void
expect_seen_by_other(
    const char *dir, const char *name, const uint8_t *w, size_t n)
{
	struct ofs_ns *nb;
	uint8_t       *r   = calloc(1, n);
	size_t         got = 0;
	uint64_t       d   = OFS_ROOT_INO, f;

	ns_open_opts(&nb, false, 10000000);
	if (dir != NULL)
		d = lookup_(nb, OFS_ROOT_INO, dir);
	f = lookup_(nb, d, name);
	ok(ofs_read(nb, f, 0, n, r, &got), "read in the other namespace");
	cr_assert_eq(got, n);
	cr_assert(memcmp(w, r, n) == 0,
	    "the other namespace reads "
	    "different bytes");
	ok(ofs_ns_close(nb), "close the other");
	free(r);
}

/* A committed entry never names pieces that are not committed: a rename
 * across directories commits the target directory, whose record names
 * the (staged) pieces. */
Test(ns, rename_across_commits_pieces_before_the_entry, .init = setup,
    .fini = teardown)
{
	size_t   n = 300u << 10, i;
	uint8_t *w = malloc(n);
	uint64_t d1, d2, a;

	reopen_quiet();
	d1 = mkdir_(env.ns, OFS_ROOT_INO, "d1");
	d2 = mkdir_(env.ns, OFS_ROOT_INO, "d2");
	a  = create_(env.ns, d1, "a", OFS_FILE);
	ok(ofs_flush(env.ns, a, 0, true), "flush a");
	ok(ofs_flush(env.ns, OFS_ROOT_INO, 0, true), "flush root");
	for (i = 0; i < n; i++)
		w[i] = (uint8_t) (i * 7 + 1);
	ok(ofs_write(env.ns, a, 0, 0, w, n, false), "write");
	ok(ofs_rename(env.ns, d1, "a", d2, "a"), "rename");
	expect_seen_by_other("d2", "a", w, n);
	free(w);
}

/* The same through a staged record: chmod stages the dirty file's entry,
 * then an fsync of another file commits the directory. */
Test(ns, staged_record_commits_pieces_before_the_entry, .init = setup,
    .fini = teardown)
{
	size_t   n = 300u << 10, i;
	uint8_t *w = malloc(n);
	uint64_t a, b;

	reopen_quiet();
	a = create_(env.ns, OFS_ROOT_INO, "a", OFS_FILE);
	b = create_(env.ns, OFS_ROOT_INO, "b", OFS_FILE);
	ok(ofs_flush(env.ns, OFS_ROOT_INO, 0, true), "flush root");
	for (i = 0; i < n; i++)
		w[i] = (uint8_t) (i * 7 + 1);
	ok(ofs_write(env.ns, a, 0, 0, w, n, false), "write");
	ok(ofs_setattr(env.ns, a, true, 0600, false, 0, NULL, NULL), "chmod");
	write_(env.ns, b, 0, "x");
	ok(ofs_flush(env.ns, b, 0, true), "fsync b");
	expect_seen_by_other(NULL, "a", w, n);
	free(w);
}

/* A failed cross-directory rename keeps a small file's unstaged bytes
 * dirty: evicting clean pieces afterwards must not lose them. */
Test(ns, failed_rename_keeps_unstaged_bytes, .init = setup, .fini = teardown)
{
	size_t   chunk = 1u << 20, off;
	uint8_t *w     = malloc(chunk);
	uint64_t d1, d2, a, b;
	o_err    e;

	reopen_quiet();
	d1 = mkdir_(env.ns, OFS_ROOT_INO, "d1");
	d2 = mkdir_(env.ns, OFS_ROOT_INO, "d2");
	a  = create_(env.ns, d1, "a", OFS_FILE);
	write_(env.ns, a, 0, "old-old-old");
	ok(ofs_flush(env.ns, a, 0, true), "flush a");
	write_(env.ns, a, 0, "NEW");
	atomic_store(&fail_writes, 1);
	e = ofs_rename(env.ns, d1, "a", d2, "a");
	atomic_store(&fail_writes, 0);
	cr_assert_neq(e, O_OK, "the rename should fail");
	expect_contents(env.ns, a, "NEW-old-old");
	b = create_(env.ns, OFS_ROOT_INO, "big", OFS_FILE);
	memset(w, 'b', chunk);
	for (off = 0; off < (48u << 20); off += chunk) /* evicts */
		ok(ofs_write(env.ns, b, 0, off, w, chunk, false), "write big");
	expect_contents(env.ns, a, "NEW-old-old");
	ok(ofs_flush(env.ns, a, 0, true), "flush a");
	reopen();
	d1 = lookup_(env.ns, OFS_ROOT_INO, "d1");
	expect_contents(env.ns, lookup_(env.ns, d1, "a"), "NEW-old-old");
	free(w);
}

/* A rename across directories is one transaction: when its commit fails
 * neither directory changes (the source keeps the entry, the target never
 * shows it), also after a restart; when it succeeds a second namespace
 * sees only the new name. */
Test(ns, cross_directory_rename_is_one_transaction, .init = setup,
    .fini = teardown)
{
	struct ofs_ns  *nb;
	struct ofs_attr at;
	uint64_t        d1, d2, a;
	o_err           e;

	reopen_quiet();
	d1 = mkdir_(env.ns, OFS_ROOT_INO, "d1");
	d2 = mkdir_(env.ns, OFS_ROOT_INO, "d2");
	a  = create_(env.ns, d1, "a", OFS_FILE);
	write_(env.ns, a, 0, "payload");
	ok(ofs_flush(env.ns, a, 0, true), "flush a");
	atomic_store(&fail_writes, 1);
	e = ofs_rename(env.ns, d1, "a", d2, "b");
	atomic_store(&fail_writes, 0);
	cr_assert_neq(e, O_OK, "the rename should fail");
	cr_expect_eq(ofs_lookup(env.ns, d2, "b", &at), O_ENOTFOUND);
	ok(ofs_lookup(env.ns, d1, "a", &at), "source still there");
	ok(ofs_flush(env.ns, d1, 0, true), "flush d1");
	ok(ofs_flush(env.ns, d2, 0, true), "flush d2");
	reopen();
	d1 = lookup_(env.ns, OFS_ROOT_INO, "d1");
	d2 = lookup_(env.ns, OFS_ROOT_INO, "d2");
	cr_expect_eq(ofs_lookup(env.ns, d2, "b", &at), O_ENOTFOUND);
	expect_contents(env.ns, lookup_(env.ns, d1, "a"), "payload");
	ok(ofs_rename(env.ns, d1, "a", d2, "b"), "rename");
	ns_open_opts(&nb, false, 0);
	cr_expect_eq(ofs_lookup(nb, lookup_(nb, OFS_ROOT_INO, "d1"), "a", &at),
	    O_ENOTFOUND);
	expect_contents(
	    nb, lookup_(nb, lookup_(nb, OFS_ROOT_INO, "d2"), "b"), "payload");
	ok(ofs_ns_close(nb), "close b");
}

/* env.ns writes n bytes 'X' (w, n bytes) to a new file name and commits;
 * nb refreshes its root and reads them (into r).  *a, *ba: its inodes. */
static void
big_x_seen(struct ofs_ns *nb, const char *name, uint8_t *w, uint8_t *r,
    size_t n, uint64_t *a, uint64_t *ba)
{
	size_t got = 0;

	*a = create_(env.ns, OFS_ROOT_INO, name, OFS_FILE);
	memset(w, 'X', n);
	ok(ofs_write(env.ns, *a, 0, 0, w, n, false), "write X");
	ok(ofs_flush(env.ns, *a, 0, true), "flush");
	ok(ofs_ns_refresh(nb, OFS_ROOT_INO), "refresh b");
	*ba = lookup_(nb, OFS_ROOT_INO, name);
	ok(ofs_read(nb, *ba, 0, n, r, &got), "read b");
	cr_assert_eq(got, n);
	cr_assert_eq(r[0], 'X');
	cr_assert_eq(r[n - 1], 'X');
}

/* Another namespace rewrites a piece-stored file: after a refresh this
 * one reads the new pieces, not its open collection's old ones. */
Test(ns, refresh_reads_another_mounts_new_pieces, .init = setup,
    .fini = teardown)
{
	struct ofs_ns  *nb;
	struct ofs_attr at;
	size_t          n = 300u << 10, got = 0;
	uint8_t        *w = malloc(n), *r = calloc(1, n);
	uint64_t        a, ba;

	ns_open_opts(&nb, false, 0);
	big_x_seen(nb, "a", w, r, n, &a, &ba);
	memset(w, 'Y', n);
	ok(ofs_write(env.ns, a, 0, 0, w, n, false), "write Y");
	ok(ofs_flush(env.ns, a, 0, true), "flush");
	ok(ofs_ns_refresh(nb, OFS_ROOT_INO), "refresh b");
	ok(ofs_getattr(nb, ba, &at), "getattr");
	ok(ofs_read(nb, ba, 0, n, r, &got), "read b");
	cr_assert_eq(got, n);
	cr_assert(r[0] == 'Y' && r[n - 1] == 'Y', "b reads '%c'...'%c'", r[0],
	    r[n - 1]);
	ok(ofs_ns_close(nb), "close b");
	free(w);
	free(r);
}

/* Reading a sparse file keeps no pieces for its holes. */
Test(ns, holes_are_not_kept_in_memory, .init = setup, .fini = teardown)
{
	struct ofs_ns_stats st;
	size_t              chunk = 128u << 10, got, i;
	uint8_t            *r     = malloc(chunk);
	uint64_t f = create_(env.ns, OFS_ROOT_INO, "sparse", OFS_FILE);
	uint64_t off;

	write_(env.ns, f, 0, "x");
	ok(ofs_truncate(env.ns, f, 1ull << 30), "truncate to 1 GiB");
	ok(ofs_flush(env.ns, f, 0, true), "flush");
	for (off = OFS_PIECE; off < (256ull << 20); off += chunk) {
		ok(ofs_read(env.ns, f, off, chunk, r, &got), "read");
		cr_assert_eq(got, chunk);
		for (i = 0; i < chunk; i++)
			cr_assert_eq(r[i], 0);
	}
	ofs_ns_stats(env.ns, &st);
	cr_assert_leq(st.file_bytes, 4096, "resident %llu after holes",
	    (unsigned long long) st.file_bytes);
	cr_assert_leq(st.file_pieces, 1, "%llu pieces kept for holes",
	    (unsigned long long) st.file_pieces);
	free(r);
}

/* In async mode a file written more often than the commit interval is
 * still committed in the background (not only once it is idle). */
Test(ns, busy_file_is_committed_in_the_background, .init = setup,
    .fini = teardown)
{
	struct ofs_ns  *nb;
	struct ofs_attr a = { 0 };
	uint64_t        f, fb;
	int             i;

	ok(ofs_ns_close(env.ns), "close");
	ns_open_opts(&env.ns, true, 20);
	f = create_(env.ns, OFS_ROOT_INO, "log", OFS_FILE);
	ok(ofs_flush(env.ns, OFS_ROOT_INO, 0, true), "flush root");
	ns_open_opts(&nb, false, 0);
	fb = lookup_(nb, OFS_ROOT_INO, "log");
	/* a write every 10 ms (never idle for the 20 ms interval) until
	 * another namespace sees some of it: at most 20 s, for a broken
	 * build only */
	for (i = 0; i < 2000 && a.size == 0; i++) {
		ok(ofs_write(env.ns, f, 0, (uint64_t) i * 10, "0123456789", 10,
		       false),
		    "write");
		usleep(10000);
		if (i % 10 == 9) {
			ok(ofs_ns_refresh(nb, fb), "refresh");
			ok(ofs_getattr(nb, fb, &a), "getattr");
		}
	}
	cr_assert_gt(a.size, 0,
	    "nothing committed after 20 s of writes "
	    "with a 20 ms interval");
	ok(ofs_ns_close(nb), "close b");
}

/* Touching a directory (a create in it) keeps another namespace's change
 * to its record (chmod) instead of rewriting it from memory. */
Test(ns, directory_times_keep_another_mounts_chmod, .init = setup,
    .fini = teardown)
{
	struct ofs_ns  *nb;
	struct ofs_attr a;
	uint64_t        d, bd;

	d = mkdir_(env.ns, OFS_ROOT_INO, "D");
	ok(ofs_flush(env.ns, OFS_ROOT_INO, 0, true), "flush root");
	ns_open_opts(&nb, false, 0);
	bd = lookup_(nb, OFS_ROOT_INO, "D");
	ok(ofs_setattr(nb, bd, true, 0700, false, 0, NULL, NULL),
	    "chmod in b");
	ok(ofs_flush(nb, OFS_ROOT_INO, 0, true), "flush b root");
	ok(ofs_ns_refresh(env.ns, OFS_ROOT_INO), "refresh a");
	create_(env.ns, d, "f", OFS_FILE);
	ok(ofs_flush(env.ns, d, 0, true), "fsync D in a");
	ok(ofs_ns_refresh(nb, OFS_ROOT_INO), "refresh b");
	ok(ofs_getattr(nb, bd, &a), "getattr b");
	cr_assert_eq(a.mode, 0700, "mode of D is now %o", a.mode);
	ok(ofs_ns_close(nb), "close b");
}

Test(ns, unlink_and_rmdir, .init = setup, .fini = teardown)
{
	struct ofs_attr a;
	uint64_t        d = mkdir_(env.ns, OFS_ROOT_INO, "d");
	uint64_t        f = create_(env.ns, d, "f", OFS_FILE);

	write_(env.ns, f, 0, "data");
	ok(ofs_flush(env.ns, f, 0, true), "flush");
	cr_assert_eq(ofs_rmdir(env.ns, OFS_ROOT_INO, "d"), O_ENOTEMPTY);
	cr_assert_eq(ofs_unlink(env.ns, OFS_ROOT_INO, "d"), O_EISDIR);
	cr_assert_eq(ofs_rmdir(env.ns, d, "f"), O_ENOTDIR);
	cr_assert_eq(ofs_unlink(env.ns, d, "nope"), O_ENOTFOUND);
	ok(ofs_unlink(env.ns, d, "f"), "unlink");
	cr_assert_eq(ofs_lookup(env.ns, d, "f", &a), O_ENOTFOUND);
	/* the open inode still reads its last contents */
	expect_contents(env.ns, f, "data");
	ok(ofs_getattr(env.ns, f, &a), "getattr unlinked");
	cr_assert_eq(a.nlink, 0);
	ok(ofs_rmdir(env.ns, OFS_ROOT_INO, "d"), "rmdir");
	cr_assert_eq(ofs_lookup(env.ns, OFS_ROOT_INO, "d", &a), O_ENOTFOUND);
	cr_assert_eq(
	    ofs_create(env.ns, d, "x", OFS_FILE, 0644, &a), O_ENOTFOUND);
	ok(ofs_flush(env.ns, OFS_ROOT_INO, 0, true), "flush root");
	reopen();
	cr_assert_eq(ofs_lookup(env.ns, OFS_ROOT_INO, "d", &a), O_ENOTFOUND);
}

/* ---- rename --------------------------------------------------------------
 */

/* RENAME_NOREPLACE: a taken name, in the same directory or another,
 * fails O_EEXIST and changes nothing (the kernel checks what it has
 * looked up; this is the check it cannot make, atomic with the rename);
 * a free name is taken as by a rename. */
Test(
    ns, rename_noreplace_refuses_a_taken_name, .init = setup, .fini = teardown)
{
	struct ofs_attr a;
	uint64_t        d = mkdir_(env.ns, OFS_ROOT_INO, "d");
	uint64_t        f = create_(env.ns, OFS_ROOT_INO, "f", OFS_FILE);
	uint64_t        g = create_(env.ns, OFS_ROOT_INO, "g", OFS_FILE);
	uint64_t        h = create_(env.ns, d, "h", OFS_FILE);

	write_(env.ns, f, 0, "F");
	write_(env.ns, g, 0, "G");
	write_(env.ns, h, 0, "H");
	cr_assert_eq(ofs_rename_flags(
	                 env.ns, OFS_ROOT_INO, "f", OFS_ROOT_INO, "g", true),
	    O_EEXIST);
	cr_assert_eq(ofs_rename_flags(env.ns, OFS_ROOT_INO, "f", d, "h", true),
	    O_EEXIST);
	expect_contents(env.ns, lookup_(env.ns, OFS_ROOT_INO, "f"), "F");
	expect_contents(env.ns, lookup_(env.ns, OFS_ROOT_INO, "g"), "G");
	expect_contents(env.ns, lookup_(env.ns, d, "h"), "H");
	ok(ofs_rename_flags(env.ns, OFS_ROOT_INO, "f", d, "f2", true),
	    "rename onto a free name");
	cr_assert_eq(ofs_lookup(env.ns, OFS_ROOT_INO, "f", &a), O_ENOTFOUND);
	expect_contents(env.ns, lookup_(env.ns, d, "f2"), "F");
	reopen();
	expect_contents(env.ns, lookup_(env.ns, OFS_ROOT_INO, "g"), "G");
	d = lookup_(env.ns, OFS_ROOT_INO, "d");
	expect_contents(env.ns, lookup_(env.ns, d, "h"), "H");
	expect_contents(env.ns, lookup_(env.ns, d, "f2"), "F");
}

Test(ns, rename_within_across_and_over, .init = setup, .fini = teardown)
{
	struct ofs_attr a;
	uint64_t        d1 = mkdir_(env.ns, OFS_ROOT_INO, "d1");
	uint64_t        d2 = mkdir_(env.ns, OFS_ROOT_INO, "d2");
	uint64_t        f  = create_(env.ns, d1, "f", OFS_FILE);
	uint64_t        g  = create_(env.ns, d1, "g", OFS_FILE);
	uint64_t        sub;

	write_(env.ns, f, 0, "F contents");
	write_(env.ns, g, 0, "G");
	ok(ofs_flush(env.ns, g, 0, true), "flush g");

	/* within a directory (f still dirty: its bytes move with it) */
	ok(ofs_rename(env.ns, d1, "f", d1, "f2"), "rename within");
	cr_assert_eq(ofs_lookup(env.ns, d1, "f", &a), O_ENOTFOUND);
	cr_assert_eq(lookup_(env.ns, d1, "f2"), f);
	expect_contents(env.ns, f, "F contents");

	/* across directories */
	ok(ofs_rename(env.ns, d1, "f2", d2, "moved"), "rename across");
	cr_assert_eq(ofs_lookup(env.ns, d1, "f2", &a), O_ENOTFOUND);
	cr_assert_eq(lookup_(env.ns, d2, "moved"), f);

	/* over an existing file: replaced */
	ok(ofs_rename(env.ns, d1, "g", d2, "moved"), "rename over");
	cr_assert_eq(lookup_(env.ns, d2, "moved"), g);
	expect_contents(env.ns, g, "G");
	ok(ofs_getattr(env.ns, f, &a), "getattr replaced");
	cr_assert_eq(a.nlink, 0);

	/* directories: over non-empty, kinds, into itself */
	sub = mkdir_(env.ns, d1, "sub");
	create_(env.ns, d2, "x", OFS_FILE);
	mkdir_(env.ns, OFS_ROOT_INO, "empty");
	cr_assert_eq(
	    ofs_rename(env.ns, d1, "sub", OFS_ROOT_INO, "d2"), O_ENOTEMPTY);
	cr_assert_eq(ofs_rename(env.ns, d1, "sub", d2, "x"), O_ENOTDIR);
	cr_assert_eq(
	    ofs_rename(env.ns, d2, "x", OFS_ROOT_INO, "empty"), O_EISDIR);
	cr_assert_eq(
	    ofs_rename(env.ns, OFS_ROOT_INO, "d1", sub, "loop"), O_EINVAL);
	cr_assert_eq(ofs_rename(env.ns, d1, "nope", d2, "y"), O_ENOTFOUND);
	ok(ofs_rename(env.ns, d1, "sub", OFS_ROOT_INO, "empty"),
	    "dir over empty dir");
	cr_assert_eq(lookup_(env.ns, OFS_ROOT_INO, "empty"), sub);
	ok(ofs_rename(env.ns, d2, "x", d2, "x"), "rename onto itself");

	ok(ofs_flush(env.ns, d1, 0, true), "flush d1");
	ok(ofs_flush(env.ns, d2, 0, true), "flush d2");
	ok(ofs_flush(env.ns, OFS_ROOT_INO, 0, true), "flush root");
	reopen();
	d1 = lookup_(env.ns, OFS_ROOT_INO, "d1");
	d2 = lookup_(env.ns, OFS_ROOT_INO, "d2");
	g  = lookup_(env.ns, d2, "moved");
	expect_contents(env.ns, g, "G");
	lookup_(env.ns, d2, "x");
	lookup_(env.ns, OFS_ROOT_INO, "empty");
	ok(ofs_getattr(env.ns, d1, &a), "getattr d1");
	cr_assert_eq(a.size, 0);
}

Test(
    ns, failed_cross_rename_leaves_the_source, .init = setup, .fini = teardown)
{
	struct ofs_attr a;
	uint64_t        d1 = mkdir_(env.ns, OFS_ROOT_INO, "d1");
	uint64_t        d2 = mkdir_(env.ns, OFS_ROOT_INO, "d2");
	uint64_t        f  = create_(env.ns, d1, "f", OFS_FILE);

	write_(env.ns, f, 0, "keep me");
	ok(ofs_flush(env.ns, f, 0, true), "flush");
	ok(ofs_flush(env.ns, OFS_ROOT_INO, 0, true), "flush root");
	atomic_store(&fail_writes, 1);
	cr_assert_eq(ofs_rename(env.ns, d1, "f", d2, "f"), O_EIO);
	cr_assert_eq(lookup_(env.ns, d1, "f"), f);
	cr_assert_eq(ofs_lookup(env.ns, d2, "f", &a), O_ENOTFOUND);
	atomic_store(&fail_writes, 0);
	ok(ofs_flush(env.ns, d2, 0, true), "flush d2 (undo commits)");
	reopen();
	d1 = lookup_(env.ns, OFS_ROOT_INO, "d1");
	d2 = lookup_(env.ns, OFS_ROOT_INO, "d2");
	expect_contents(env.ns, lookup_(env.ns, d1, "f"), "keep me");
	cr_assert_eq(ofs_lookup(env.ns, d2, "f", &a), O_ENOTFOUND);
}

/* ---- errors --------------------------------------------------------------
 */

Test(ns, name_and_kind_errors, .init = setup, .fini = teardown)
{
	struct ofs_attr a;
	char            n255[256], n256[257], buf[8];
	size_t          got;
	uint64_t        f = create_(env.ns, OFS_ROOT_INO, "file", OFS_FILE);

	memset(n255, 'a', 255);
	n255[255] = '\0';
	memset(n256, 'b', 256);
	n256[256] = '\0';
	cr_assert_eq(
	    ofs_mkdir(env.ns, OFS_ROOT_INO, n256, 0755, &a), O_ENAMETOOLONG);
	cr_assert_eq(
	    ofs_create(env.ns, OFS_ROOT_INO, n256, OFS_FILE, 0644, &a),
	    O_ENAMETOOLONG);
	cr_assert_eq(
	    ofs_create(env.ns, OFS_ROOT_INO, n256, OFS_DIARY, 0644, &a),
	    O_ENAMETOOLONG);
	cr_assert_eq(
	    ofs_lookup(env.ns, OFS_ROOT_INO, n256, &a), O_ENAMETOOLONG);
	cr_assert_eq(
	    ofs_rename(env.ns, OFS_ROOT_INO, "file", OFS_ROOT_INO, n256),
	    O_ENAMETOOLONG);
	create_(env.ns, OFS_ROOT_INO, n255, OFS_FILE);
	lookup_(env.ns, OFS_ROOT_INO, n255);

	cr_assert_eq(
	    ofs_create(env.ns, OFS_ROOT_INO, "file", OFS_FILE, 0644, &a),
	    O_EEXIST);
	cr_assert_eq(
	    ofs_mkdir(env.ns, OFS_ROOT_INO, "file", 0755, &a), O_EEXIST);
	cr_assert_eq(
	    ofs_create(env.ns, OFS_ROOT_INO, "a/b", OFS_FILE, 0644, &a),
	    O_EINVAL);
	cr_assert_eq(ofs_create(env.ns, OFS_ROOT_INO, "", OFS_FILE, 0644, &a),
	    O_EINVAL);
	cr_assert_eq(
	    ofs_create(env.ns, f, "x", OFS_FILE, 0644, &a), O_ENOTDIR);
	cr_assert_eq(ofs_lookup(env.ns, f, "x", &a), O_ENOTDIR);
	cr_assert_eq(ofs_mkdir(env.ns, f, "x", 0755, &a), O_ENOTDIR);
	cr_assert_eq(
	    ofs_read(env.ns, OFS_ROOT_INO, 0, 8, buf, &got), O_EISDIR);
	cr_assert_eq(
	    ofs_write(env.ns, OFS_ROOT_INO, 0, 0, "x", 1, false), O_EISDIR);
	cr_assert_eq(ofs_getattr(env.ns, 999999, &a), O_ENOTFOUND);
	/* details name the path */
	cr_assert_eq(
	    ofs_lookup(env.ns, OFS_ROOT_INO, "missing", &a), O_ENOTFOUND);
	cr_assert(
	    strstr(o_err_detail(), "/missing") != NULL, "%s", o_err_detail());
	cr_assert_eq(ofs_errno(O_ENAMETOOLONG), ENAMETOOLONG);
}

Test(ns, setattr_mode_and_mtime, .init = setup, .fini = teardown)
{
	struct ofs_attr a;
	uint64_t        f = create_(env.ns, OFS_ROOT_INO, "f", OFS_FILE);
	uint64_t        d = mkdir_(env.ns, OFS_ROOT_INO, "d");

	write_(env.ns, f, 0, "xyz");
	ok(ofs_setattr(env.ns, f, true, 0600, true, 123456789, NULL, &a),
	    "setattr");
	cr_assert_eq(a.mode, 0600);
	cr_assert_eq(a.mtime_ns, 123456789);
	cr_assert_eq(a.size, 3);
	ok(ofs_setattr(env.ns, d, true, 0700, false, 0, NULL, &a),
	    "setattr dir");
	cr_assert_eq(a.mode, 0700);
	ok(ofs_setattr(env.ns, OFS_ROOT_INO, true, 0711, false, 0, NULL, &a),
	    "setattr root");
	cr_assert_eq(a.mode, 0711);
	ok(ofs_flush(env.ns, OFS_ROOT_INO, 0, true), "flush");
	reopen();
	f = lookup_(env.ns, OFS_ROOT_INO, "f");
	ok(ofs_getattr(env.ns, f, &a), "getattr");
	cr_assert_eq(a.mode, 0600);
	cr_assert_eq(a.mtime_ns, 123456789);
	expect_contents(env.ns, f, "xyz");
	ok(ofs_lookup(env.ns, OFS_ROOT_INO, "d", &a), "lookup d");
	cr_assert_eq(a.mode, 0700);
}

/* Owners: recorded at creation and by setattr, kept across a reopen and
 * a rename, seen by another namespace; none recorded unless given. */
Test(ns, owners_are_recorded_and_kept, .init = setup, .fini = teardown)
{
	const struct ofs_owner alice = { true, 1001, 2001 };
	const struct ofs_owner bob   = { true, 1002, 4294967294u };
	const struct ofs_owner none  = { 0 };
	struct ofs_ns         *nb;
	struct ofs_attr        a;
	uint64_t               d, f;

	ok(ofs_create_as(env.ns, OFS_ROOT_INO, "d", OFS_DIR, 0755, &alice, &a),
	    "mkdir d as alice");
	d = a.ino;
	cr_assert(a.owner.own && a.owner.uid == 1001 && a.owner.gid == 2001);
	ok(ofs_create_as(env.ns, d, "f", OFS_FILE, 0644, &alice, &a),
	    "create f as alice");
	f = a.ino;
	ok(ofs_create_as(env.ns, d, "log", OFS_DIARY, 0644, &bob, &a),
	    "create a diary as bob");
	cr_assert(
	    a.owner.own && a.owner.uid == 1002 && a.owner.gid == 4294967294u);
	create_(env.ns, d, "plain", OFS_FILE);
	ok(ofs_lookup(env.ns, d, "plain", &a), "lookup plain");
	cr_assert(!a.owner.own, "no owner given, none recorded");
	ofs_ns_forget(env.ns, a.ino, 1);
	ok(ofs_setattr(env.ns, f, false, 0, false, 0, &bob, &a), "chown f");
	cr_assert(a.owner.own && a.owner.uid == 1002);
	ok(ofs_setattr(env.ns, OFS_ROOT_INO, false, 0, false, 0, &bob, &a),
	    "chown the root (kept in memory)");
	cr_assert(a.owner.own && a.owner.uid == 1002);
	ok(ofs_rename(env.ns, d, "f", OFS_ROOT_INO, "g"), "rename f");
	ok(ofs_flush(env.ns, OFS_ROOT_INO, 0, true), "flush");
	ok(ofs_flush(env.ns, d, 0, true), "flush d");

	/* another namespace sees them, and a change back to none */
	ns_open_opts(&nb, false, 0);
	ok(ofs_lookup(nb, OFS_ROOT_INO, "g", &a), "lookup g in b");
	cr_assert(
	    a.owner.own && a.owner.uid == 1002 && a.owner.gid == 4294967294u,
	    "g's owner in b: %d %u:%u", a.owner.own, a.owner.uid, a.owner.gid);
	ok(ofs_setattr(nb, a.ino, false, 0, false, 0, &none, NULL),
	    "chown g to none in b");
	ofs_ns_forget(nb, a.ino, 1);
	ok(ofs_flush(nb, OFS_ROOT_INO, 0, true), "flush b");
	ok(ofs_ns_close(nb), "close b");

	reopen();
	ok(ofs_lookup(env.ns, OFS_ROOT_INO, "d", &a), "lookup d");
	cr_assert(a.owner.own && a.owner.uid == 1001 && a.owner.gid == 2001);
	d = a.ino;
	ok(ofs_lookup(env.ns, d, "log", &a), "lookup log");
	cr_assert(a.owner.own && a.owner.uid == 1002);
	ok(ofs_lookup(env.ns, OFS_ROOT_INO, "g", &a), "lookup g");
	cr_assert(!a.owner.own, "g's owner after b's chown: %u:%u",
	    a.owner.uid, a.owner.gid);
	ok(ofs_getattr(env.ns, OFS_ROOT_INO, &a), "getattr root");
	cr_assert(!a.owner.own, "the root's owner is not stored");
}

/* A directory with the set-group-id bit gives new entries its group, and
 * new directories the bit; one without the bit, or without a recorded
 * owner, gives nothing. */
Test(ns, a_set_group_id_directory_gives_its_group, .init = setup,
    .fini = teardown)
{
	const struct ofs_owner     alice   = { true, 1001, 2001 };
	const struct ofs_owner     bob     = { true, 1002, 2002 };
	static const enum ofs_kind kinds[] = { OFS_FILE, OFS_DIARY, OFS_DIR };
	struct ofs_attr            a;
	uint64_t                   sg, plain, bare;
	size_t                     i;

	ok(ofs_create_as(
	       env.ns, OFS_ROOT_INO, "sg", OFS_DIR, 02775, &alice, &a),
	    "mkdir sg");
	sg = a.ino;
	ok(ofs_create_as(
	       env.ns, OFS_ROOT_INO, "plain", OFS_DIR, 0775, &alice, &a),
	    "mkdir plain");
	plain = a.ino;
	bare  = mkdir_(env.ns, OFS_ROOT_INO, "bare");
	ok(ofs_setattr(env.ns, bare, true, 02775, false, 0, NULL, NULL),
	    "chmod g+s bare");
	for (i = 0; i < O_NELEM(kinds); i++) {
		char name[8];

		snprintf(name, sizeof(name), "k%zu", i);
		ok(ofs_create_as(env.ns, sg, name, kinds[i], 0755, &bob, &a),
		    name);
		cr_assert(
		    a.owner.own && a.owner.uid == 1002 && a.owner.gid == 2001,
		    "%s in sg: %u:%u", name, a.owner.uid, a.owner.gid);
		cr_assert_eq(!!(a.mode & 02000), kinds[i] == OFS_DIR,
		    "%s in sg: mode %o", name, a.mode);
		ok(ofs_create_as(
		       env.ns, plain, name, kinds[i], 0755, &bob, &a),
		    name);
		cr_assert(a.owner.gid == 2002 && !(a.mode & 02000),
		    "%s in plain: gid %u mode %o", name, a.owner.gid, a.mode);
		ok(ofs_create_as(env.ns, bare, name, kinds[i], 0755, &bob, &a),
		    name);
		cr_assert(a.owner.gid == 2002, "%s in bare: gid %u", name,
		    a.owner.gid);
	}
	/* the root's bit and owner, kept in memory, count too */
	ok(ofs_setattr(
	       env.ns, OFS_ROOT_INO, true, 02777, false, 0, &alice, NULL),
	    "chmod and chown the root");
	ok(ofs_create_as(env.ns, OFS_ROOT_INO, "r", OFS_FILE, 0644, &bob, &a),
	    "create in the root");
	cr_assert_eq(a.owner.gid, 2001);
}

/* A record whose owner is not a pair of ids (from a bad disk, a buggy
 * build) is refused naming the entry, not shown with an owner made up. */
Test(ns, a_record_with_a_broken_owner_is_refused, .init = setup,
    .fini = teardown)
{
	const struct ofs_owner alice = { true, 1001, 2001 };
	static const char     *bad[] = { "u=-7", "g missing", "u=2^32",
		    "u and g -1", "u text", "only g=-5" };
	struct oc_sync_opts    so;
	struct oc_collection  *c;
	struct ofs_attr        a;
	struct oc_bid          did;
	struct o_buf           v = { 0 }, enc = { 0 };
	struct oc_val          rec;
	uint64_t               d;
	bool                   found;
	size_t                 i;

	d = mkdir_(env.ns, OFS_ROOT_INO, "d");
	ok(ofs_ns_coll_id(env.ns, d, &did), "d's collection id");
	for (i = 0; i < O_NELEM(bad); i++) {
		char name[8];

		snprintf(name, sizeof(name), "f%zu", i);
		ok(ofs_create_as(env.ns, d, name, OFS_FILE, 0644, &alice, &a),
		    name);
		ofs_ns_forget(env.ns, a.ino, 1);
	}
	ok(ofs_flush(env.ns, d, 0, true), "flush d");
	ok(ofs_ns_close(env.ns), "close");
	env.ns = NULL;
	memset(&so, 0, sizeof(so));
	ok(oc_coll_open(env.tx, &did, &oc_tree_type, false, &so, &c),
	    "open d");
	for (i = 0; i < O_NELEM(bad); i++) {
		char name[8];

		snprintf(name, sizeof(name), "f%zu", i);
		o_buf_reset(&v);
		ok(oc_tree_get(c, name, strlen(name), &v, &found), name);
		cr_assert(found);
		ok(oc_decode(v.data, v.len, &rec), "decode");
		cr_assert_eq(oc_map_int(&rec, "u", -1), 1001);
		switch (i) {
		case 0:
			oc_map_set(&rec, "u", oc_int(-7));
			break;
		case 1:
			oc_map_del(&rec, "g");
			break;
		case 2:
			oc_map_set(&rec, "u", oc_int(INT64_C(1) << 32));
			break;
		case 3: /* what a missing id reads as */
			oc_map_set(&rec, "u", oc_int(-1));
			oc_map_set(&rec, "g", oc_int(-1));
			break;
		case 4:
			oc_map_set(&rec, "u", oc_text("x"));
			break;
		default:
			oc_map_del(&rec, "u");
			oc_map_set(&rec, "g", oc_int(-5));
		}
		o_buf_reset(&enc);
		oc_encode(&rec, &enc);
		oc_val_fini(&rec);
		ok(oc_tree_put(c, name, strlen(name), enc.data, enc.len),
		    name);
	}
	ok(oc_coll_sync(c), "commit the broken records");
	oc_coll_free(c);
	o_buf_fini(&v);
	o_buf_fini(&enc);

	ns_open_opts(&env.ns, false, 0);
	ok(ofs_lookup(env.ns, OFS_ROOT_INO, "d", &a), "lookup d");
	for (i = 0; i < O_NELEM(bad); i++) {
		char name[8];

		snprintf(name, sizeof(name), "f%zu", i);
		cr_assert_eq(ofs_lookup(env.ns, a.ino, name, &a), O_ECORRUPT,
		    "%s: %s", bad[i], o_err_detail());
		cr_assert(strstr(o_err_detail(), "owner") != NULL &&
		        strstr(o_err_detail(), name) != NULL,
		    "%s: %s", bad[i], o_err_detail());
		ok(ofs_lookup(env.ns, OFS_ROOT_INO, "d", &a), "lookup d");
	}
}

/* ---- diaries -------------------------------------------------------------
 */

Test(ns, diary_lines_fragments_every_offset, .init = setup, .fini = teardown)
{
	uint64_t y          = create_(env.ns, OFS_ROOT_INO, "log", OFS_DIARY);
	char     want[4096] = "";
	size_t   i;

	append_(env.ns, y, "first line\n");
	strcat(want, "first line\n");
	append_(env.ns, y, "second ");
	strcat(want, "second ");
	append_(env.ns, y, "half\nthird\nfrag");
	strcat(want, "half\nthird\n");
	/* uncommitted: queued appends; the fragment is not an entry yet */
	expect_contents(env.ns, y, want);
	expect_every_offset(env.ns, y, want);
	/* a plain write must land at the end as this writer sees it */
	cr_assert_eq(
	    ofs_write(env.ns, y, 0, strlen(want), "x", 1, false), O_EPERM);
	ok(ofs_flush(env.ns, y, 0, true), "flush");
	strcat(want, "frag");
	expect_contents(env.ns, y, want);
	expect_every_offset(env.ns, y, want);
	/* committed prefix + queued suffix */
	for (i = 0; i < 40; i++) {
		char line[64];

		snprintf(line, sizeof(line), "line %zu %.*s\n", i,
		    (int) (i % 7), "xxxxxxx");
		append_(env.ns, y, line);
		strcat(want, line);
		if (i % 9 == 0)
			ok(ofs_flush(env.ns, y, 0, true), "flush");
	}
	expect_every_offset(env.ns, y, want);
	ok(ofs_flush(env.ns, y, 0, true), "flush");
	expect_every_offset(env.ns, y, want);
	reopen();
	y = lookup_(env.ns, OFS_ROOT_INO, "log");
	expect_contents(env.ns, y, want);
	expect_every_offset(env.ns, y, want);
}

Test(
    ns, diary_refuses_non_append_and_truncate, .init = setup, .fini = teardown)
{
	uint64_t y = create_(env.ns, OFS_ROOT_INO, "log", OFS_DIARY);

	append_(env.ns, y, "one\ntwo\n");
	ok(ofs_flush(env.ns, y, 0, true), "flush");
	append_(env.ns, y, "three\n");
	cr_assert_eq(ofs_write(env.ns, y, 0, 0, "XX", 2, false), O_EPERM);
	cr_assert(
	    strstr(o_err_detail(), "/log") != NULL, "%s", o_err_detail());
	cr_assert_eq(ofs_write(env.ns, y, 0, 3, "XX\n", 3, false), O_EPERM);
	cr_assert_eq(ofs_write(env.ns, y, 0, 100, "XX\n", 3, false), O_EPERM);
	cr_assert_eq(ofs_truncate(env.ns, y, 0), O_EPERM);
	cr_assert_eq(ofs_truncate(env.ns, y, 100), O_EPERM);
	expect_contents(env.ns, y, "one\ntwo\nthree\n");
	/* a write exactly at the end is an append */
	ok(ofs_write(env.ns, y, 0, 14, "four\n", 5, false), "write at end");
	ok(ofs_flush(env.ns, y, 0, true), "flush");
	expect_contents(env.ns, y, "one\ntwo\nthree\nfour\n");
}

Test(ns, diary_many_blocks_random_reads, .init = setup, .fini = teardown)
{
	enum { N = 1500 };
	uint64_t y   = create_(env.ns, OFS_ROOT_INO, "log", OFS_DIARY);
	size_t   cap = 1 << 17, len = 0, i;
	char    *want = malloc(cap);

	for (i = 0; i < N; i++) {
		char line[96];
		int  n = snprintf(line, sizeof(line), "%05zu %.*s\n", i,
		     (int) (i % 50),
		     "abcdefghijklmnopqrstuvwxyzabcdefghijklmnop"
		      "qrstuvwxyz");

		append_(env.ns, y, line);
		memcpy(want + len, line, (size_t) n);
		len += (size_t) n;
		if (i % 5 == 4)
			ok(ofs_flush(env.ns, y, 0, true), "flush");
	}
	want[len] = '\0';
	srand(3);
	for (i = 0; i < 3000; i++)
		expect_range(env.ns, y, want, len,
		    (uint64_t) rand() % (len + 5),
		    (size_t) (1 + rand() % 255));
	/* a second namespace reads it cold, sequentially */
	{
		struct ofs_ns *b;
		char          *got;
		size_t         n;

		ns_open_opts(&b, false, 0);
		got = read_all(b, lookup_(b, OFS_ROOT_INO, "log"), &n);
		cr_assert_eq(n, len);
		cr_assert(memcmp(got, want, len) == 0);
		free(got);
		ok(ofs_ns_close(b), "close b");
	}
	free(want);
}

/* Read [off, off+len) (any length) and compare with want's bytes there. */
static void
expect_big_range(struct ofs_ns *ns, uint64_t ino, const char *want,
    size_t wlen, uint64_t off, size_t len)
{
	char  *buf = malloc(len ? len : 1);
	size_t got, exp;

	ok(ofs_read(ns, ino, off, len, buf, &got), "read range");
	exp = off >= wlen ? 0 : O_MIN(len, wlen - off);
	cr_assert_eq(got, exp, "read at %llu len %zu: got %zu want %zu",
	    (unsigned long long) off, len, got, exp);
	cr_assert(memcmp(buf, want + off, got) == 0,
	    "bytes differ in the read at %llu len %zu",
	    (unsigned long long) off, len);
	free(buf);
}

/*
 * Reads stream block by block from the nearest mark or the cursor the
 * last read left: sequential reads of several sizes, reads going
 * backwards, random ones, across log blocks, chunked appends (lines over
 * 8 KiB) and the committed/queued boundary all return the model's bytes,
 * and the index holds at most one mark per log block.
 */
Test(ns, diary_reads_stream_against_a_model, .init = setup,
    .fini = teardown)
{
	static const size_t steps[] = { 1, 61, 4096, 65536 + 3, 1u << 20 };
	uint64_t            y;
	size_t              cap = 8u << 20, len = 0, i, k;
	char               *want = malloc(cap), *w = malloc(64u << 10);
	struct ofs_inode   *in;
	int64_t             rev;
	uint64_t            off;

	reopen_quiet(); /* no committer: the tail below stays queued */
	y = create_(env.ns, OFS_ROOT_INO, "log", OFS_DIARY);
	srand(5);
	for (i = 0; i < 3000; i++) {
		size_t n = 0, lines = 1 + (size_t) rand() % 40, j;

		for (j = 0; j < lines; j++) {
			size_t l = i % 97 == 13 && j == 0 ?
			    9000 + (size_t) rand() % 20000 :
			    (size_t) rand() % 120;

			if (n + l + 1 > (64u << 10))
				break;
			memset(w + n, 'a' + (int) ((i + j) % 26), l);
			n += l;
			w[n++] = '\n';
		}
		ok(ofs_write(env.ns, y, 0, 0, w, n, true), "append");
		cr_assert_lt(len + n, cap);
		memcpy(want + len, w, n);
		len += n;
		if (i % 7 == 0 && i < 2900) /* the tail stays queued */
			ok(ofs_flush(env.ns, y, 0, true), "flush");
	}
	for (k = 0; k < O_NELEM(steps); k++)
		for (off = 0; off < len + steps[k]; off += steps[k])
			if (steps[k] > 1 || off % 997 == 0 || off > len - 3000)
				expect_big_range(
				    env.ns, y, want, len, off, steps[k]);
	for (off = len; off > 70000; off -= 70000) /* backwards */
		expect_big_range(env.ns, y, want, len, off - 70000, 70001);
	for (i = 0; i < 300; i++)
		expect_big_range(env.ns, y, want, len,
		    (uint64_t) rand() % (len + 10), 1 + (size_t) rand() % 200000);

	in  = env.ns->inodes[y];
	rev = oc_coll_rev(in->coll->c);
	cr_assert_gt(rev, 64);
	cr_assert_leq(in->idx.n, (size_t) rev / 32 + 2,
	    "%zu marks for %lld entries", in->idx.n, (long long) rev);
	/* after a commit of the rest and reopened (cold) */
	ok(ofs_flush(env.ns, y, 0, true), "flush");
	reopen();
	y = lookup_(env.ns, OFS_ROOT_INO, "log");
	for (off = 0; off < len; off += 300000)
		expect_big_range(env.ns, y, want, len, off, 300000);
	free(w);
	free(want);
}

/* A commit counts its entries into the read index at once (their blocks
 * are cached then), so a later lookup does not walk the log for the size. */
Test(ns, diary_commit_keeps_the_read_index_current, .init = setup,
    .fini = teardown)
{
	uint64_t          y = create_(env.ns, OFS_ROOT_INO, "log", OFS_DIARY);
	struct ofs_inode *in;
	int               i;

	for (i = 0; i < 200; i++) {
		append_(env.ns, y, "a line of the diary\n");
		if (i % 10 == 9)
			ok(ofs_flush(env.ns, y, 0, true), "flush");
	}
	in = env.ns->inodes[y];
	cr_assert_eq(in->idx.end_rev, oc_coll_rev(in->coll->c));
	cr_assert_eq(in->idx.end_off, 200 * strlen("a line of the diary\n"));
	cr_assert_eq(in->idx.nent, 200);
}

/* ---- diary read index kept across mounts (the journal's hint) ---- */

/* A diary of n entries (flushed every 3 appends), with long lines among
 * short ones so that its log spans several blocks; want holds its bytes
 * (cap bytes at most). */
static uint64_t
hint_diary(const char *name, int n, char *want, size_t cap)
{
	uint64_t y   = create_(env.ns, OFS_ROOT_INO, name, OFS_DIARY);
	size_t   len = 0;
	int      i;

	for (i = 0; i < 3 * n; i++) {
		char line[700];
		int  pad = i % 17 == 0 ? 600 : i % 40;
		int  l   = snprintf(line, sizeof(line), "%s %05d ", name, i);

		memset(line + l, 'a' + i % 26, (size_t) pad);
		l += pad;
		line[l++] = '\n';
		line[l]   = '\0';
		append_(env.ns, y, line);
		cr_assert_lt(len + (size_t) l, cap);
		memcpy(want + len, line, (size_t) l);
		len += (size_t) l;
		if (i % 3 == 2)
			ok(ofs_flush(env.ns, y, 0, true), "flush");
	}
	want[len] = '\0';
	return y;
}

/* The journal of the namespace now open (hints are in its store). */
static struct oc_journal *
jnow(void)
{
	return env.js[env.nj - 1];
}

static void
hint_copy(const struct oc_bid *col, struct o_buf *out)
{
	bool found;

	ok(jnow()->ops->hint_get(jnow(), col, out, &found), "hint_get");
	cr_assert(found, "no read index was stored");
}

static void
hint_set(const struct oc_bid *col, const void *p, size_t n)
{
	ok(jnow()->ops->hint_put(jnow(), col, p, n), "hint_put");
}

/* A hint's map with one field replaced. */
static void
hint_with(
    const struct o_buf *h, const char *key, struct oc_val v, struct o_buf *out)
{
	struct oc_val m;

	ok(oc_decode(h->data, h->len, &m), "decode hint");
	oc_map_set(&m, key, v);
	o_buf_reset(out);
	oc_encode(&m, out);
	oc_val_fini(&m);
}

/* Look name up in a fresh namespace: its size is want's, every range of
 * it reads as want, and the index walked `walked` log entries (-1: at
 * least one). */
static void
expect_counted(const char *name, const char *want, long walked)
{
	struct ofs_attr   a;
	struct ofs_inode *in;
	size_t            wlen = strlen(want), i;

	ok(ofs_lookup(env.ns, OFS_ROOT_INO, name, &a), name);
	cr_assert_eq(a.size, wlen, "%s: size %llu, want %zu", name,
	    (unsigned long long) a.size, wlen);
	in = env.ns->inodes[a.ino];
	if (walked >= 0)
		cr_assert_eq(in->idx.walked, (uint64_t) walked,
		    "%s: %llu log entries walked, want %ld", name,
		    (unsigned long long) in->idx.walked, walked);
	else
		cr_assert_gt(
		    in->idx.walked, 0, "%s: the stored index was used", name);
	for (i = 0; i < 400; i++)
		expect_range(env.ns, a.ino, want, wlen,
		    (uint64_t) rand() % (wlen + 5),
		    (size_t) (1 + rand() % 255));
}

/* A cold mount learns a diary's size and reads it at any offset from
 * the read index the last mount stored, without walking the log; the
 * stored index of an older state is extended from where it ends; a
 * removed diary's index is forgotten. */
Test(ns, a_diary_read_index_is_kept_across_mounts, .init = setup,
    .fini = teardown)
{
	size_t            cap  = 1u << 20;
	char             *want = malloc(cap), *gone = malloc(cap);
	uint64_t          y;
	struct oc_bid     col, gcol;
	struct o_buf      old = { 0 }, b = { 0 };
	struct ofs_inode *in;
	bool              found;
	size_t            len;
	int               i;

	srand(11);
	y   = hint_diary("log", 150, want, cap);
	in  = env.ns->inodes[y];
	col = in->id;
	cr_assert_gt(oc_coll_rev(in->coll->c), 100);
	cr_assert_gt(in->idx.n, 2, "the log spans several marks");
	gcol = env.ns->inodes[hint_diary("gone", 5, gone, cap)]->id;
	reopen();
	expect_counted("log", want, 0);
	hint_copy(&col, &old);
	hint_copy(&gcol, &b);

	/* more appends: the next mount reads the newer index whole */
	y   = lookup_(env.ns, OFS_ROOT_INO, "log");
	len = strlen(want);
	for (i = 0; i < 20; i++) {
		char line[64];
		int  l = snprintf(line, sizeof(line), "later %d\n", i);

		append_(env.ns, y, line);
		memcpy(want + len, line, (size_t) l);
		len += (size_t) l;
		want[len] = '\0';
		ok(ofs_flush(env.ns, y, 0, true), "flush");
	}
	ok(ofs_unlink(env.ns, OFS_ROOT_INO, "gone"), "unlink");
	reopen();
	expect_counted("log", want, 0);
	ok(jnow()->ops->hint_get(jnow(), &gcol, &b, &found), "hint_get");
	cr_assert(!found, "a removed diary's index is kept");

	/* the index of 20 commits ago: its end is still in the log, so the
	 * 20 entries after it are all that is counted */
	reopen();
	hint_set(&col, old.data, old.len);
	expect_counted("log", want, 20);
	o_buf_fini(&old);
	o_buf_fini(&b);
	free(gone);
	free(want);
}

/* A namespace that walks a long log stores the index at once, not only
 * when the inode goes: a killed daemon does not walk it again. */
Test(ns, a_long_walk_stores_the_read_index_at_once, .init = setup,
    .fini = teardown)
{
	static struct ot_jwrap fj;
	struct ofs_ns_opts     o = { 0 };
	uint64_t               y;
	struct ofs_ns         *b;
	struct ofs_inode      *in;
	struct ofs_attr        a;
	struct o_buf           h = { 0 };
	struct oc_val          v;
	struct oc_bid          col;
	int64_t                rev;
	int                    i;

	/* the writer keeps no index (its journal has no hints), so what is
	 * stored is b's */
	ns_reopen_over(&o, &fj, false, "open namespace without hints");
	y = create_(env.ns, OFS_ROOT_INO, "log", OFS_DIARY);
	for (i = 0; i < 4200; i++) {
		append_(env.ns, y, "one line, one commit\n");
		ok(ofs_flush(env.ns, y, 0, true), "flush");
	}
	in  = env.ns->inodes[y];
	col = in->id;
	rev = oc_coll_rev(in->coll->c);
	cr_assert_geq(rev, 4200);
	ns_open_opts(&b, false, 0);
	ok(ofs_lookup(b, OFS_ROOT_INO, "log", &a), "lookup in b");
	cr_assert_eq(a.size, 4200 * strlen("one line, one commit\n"));
	cr_assert_geq(b->inodes[a.ino]->idx.walked, 4200);
	/* both namespaces still open: stored by b's walk */
	hint_copy(&col, &h);
	ok(oc_decode(h.data, h.len, &v), "decode");
	cr_assert_eq(oc_map_int(&v, "rev", 0), rev);
	oc_val_fini(&v);
	o_buf_fini(&h);
	ok(ofs_ns_close(b), "close b");
}

/* The catch-ups after many commits add up: once 4 096 entries were
 * counted since the index was last kept, it is kept again, the mount
 * still running (a mount killed after weeks does not leave the next one
 * a walk of everything). */
Test(ns, catch_ups_after_many_commits_store_the_read_index, .init = setup,
    .fini = teardown)
{
	uint64_t      y = create_(env.ns, OFS_ROOT_INO, "log", OFS_DIARY);
	struct o_buf  h = { 0 };
	struct oc_val v;
	int           i;

	for (i = 0; i < 4200; i++) {
		append_(env.ns, y, "one line, one commit\n");
		ok(ofs_flush(env.ns, y, 0, true), "flush");
	}
	hint_copy(&env.ns->inodes[y]->id, &h);
	ok(oc_decode(h.data, h.len, &v), "decode");
	cr_assert_geq(oc_map_int(&v, "rev", 0), 4096, "stored at rev %lld",
	    (long long) oc_map_int(&v, "rev", 0));
	oc_val_fini(&v);
	o_buf_fini(&h);
}

/* In a fresh namespace, diary name (id col, bytes want) with the stored
 * index h, changed at key, filed as its own: not used. */
static void
refused_with(const struct oc_bid *col, const char *name, const char *want,
    const struct o_buf *h, const char *key, struct oc_val v)
{
	struct o_buf x = { 0 };

	reopen();
	hint_with(h, key, v, &x);
	hint_set(col, x.data, x.len);
	expect_counted(name, want, -1);
	o_buf_fini(&x);
}

/* A stored index that does not match the diary's log is not used: the
 * log is counted again and the diary reads right. */
Test(ns, a_stored_read_index_that_does_not_match_is_not_used, .init = setup,
    .fini = teardown)
{
	size_t        cap = 1u << 20;
	char         *a = malloc(cap), *b = malloc(cap);
	struct oc_bid ca, cb;
	struct o_buf         ha = { 0 };
	struct oc_val        hv;
	const struct oc_val *m;
	uint8_t              junk[40], swapped[2 * 48];
	int64_t              rev;

	srand(12);
	/* b longer than a: a's index is not newer than b's log */
	ca  = env.ns->inodes[hint_diary("a", 40, a, cap)]->id;
	cb  = env.ns->inodes[hint_diary("b", 60, b, cap)]->id;
	rev = oc_coll_rev(
	    env.ns->inodes[lookup_(env.ns, OFS_ROOT_INO, "a")]->coll->c);
	reopen();
	hint_copy(&ca, &ha);

	/* a's index filed as b's: refused for its "col", and with b's id
	 * there, for its last entry (not in b's log) */
	hint_set(&cb, ha.data, ha.len);
	expect_counted("b", b, -1);
	refused_with(&cb, "b", b, &ha, "col", oc_bytes(cb.b, OC_BID_LEN));
	/* its last entry with another action id, another revision, an
	 * index past its block's; no marks; an unknown version */
	refused_with(
	    &ca, "a", a, &ha, "aid", oc_bytes("0123456789abcdef", OC_AID_LEN));
	refused_with(&ca, "a", a, &ha, "rev", oc_int(rev - 1));
	refused_with(&ca, "a", a, &ha, "ei", oc_int(31));
	refused_with(&ca, "a", a, &ha, "m", oc_bytes(junk, 0));
	refused_with(&ca, "a", a, &ha, "v", oc_int(99));
	/* marks past the end it counted, marks out of order; an end
	 * past the log's (its last entry where it says: only measuring
	 * from the last mark finds it) */
	refused_with(&ca, "a", a, &ha, "off", oc_int(1));
	refused_with(
	    &ca, "a", a, &ha, "off", oc_int((int64_t) strlen(a) + 13));
	ok(oc_decode(ha.data, ha.len, &hv), "decode");
	m = oc_map_bytes(&hv, "m");
	cr_assert(m != NULL && m->u.s.n >= 2 * 48, "two marks at least");
	memcpy(swapped, m->u.s.p + 48, 48);
	memcpy(swapped + 48, m->u.s.p, 48);
	refused_with(
	    &ca, "a", a, &ha, "m", oc_bytes(swapped, sizeof(swapped)));
	oc_val_fini(&hv);
	/* junk bytes */
	reopen();
	memset(junk, 0xa5, sizeof(junk));
	hint_set(&ca, junk, sizeof(junk));
	expect_counted("a", a, -1);
	/* and the good one again: used */
	reopen();
	hint_set(&ca, ha.data, ha.len);
	expect_counted("a", a, 0);
	o_buf_fini(&ha);
	free(a);
	free(b);
}

/* An index that counted more than the log holds (a bug, or history a
 * cluster's majority did not keep) is dropped when a read meets the log's
 * end, with its stored copy: the log is counted again and read, not
 * failed for good. */
Test(ns, a_read_index_that_disagrees_with_the_log_is_counted_again,
    .init = setup, .fini = teardown)
{
	size_t            cap  = 1u << 20, wlen, n;
	char             *want = malloc(cap), *got;
	uint64_t          y;
	struct ofs_inode *in;
	struct ofs_attr   a;
	struct o_buf      h = { 0 };
	struct oc_val     v;
	struct oc_bid     col;
	bool              found;

	srand(13);
	col  = env.ns->inodes[hint_diary("log", 30, want, cap)]->id;
	wlen = strlen(want);
	/* an index loaded from its stored copy, then wrong in memory */
	reopen();
	y  = lookup_(env.ns, OFS_ROOT_INO, "log");
	in = env.ns->inodes[y];
	hint_copy(&col, &h);
	in->idx.end_off += 13;
	got = read_all(env.ns, y, &n);
	cr_assert_eq(n, wlen, "read %zu bytes, want %zu", n, wlen);
	cr_assert(memcmp(got, want, wlen) == 0, "the recount reads the log");
	free(got);
	ok(ofs_getattr(env.ns, y, &a), "getattr");
	cr_assert_eq(a.size, wlen, "size %llu after the recount, want %zu",
	    (unsigned long long) a.size, wlen);
	/* the stored copy went with it (the recount is stored later) */
	ok(jnow()->ops->hint_get(jnow(), &col, &h, &found), "hint_get");
	cr_assert(!found, "the dropped index is still stored");
	/* what the recount stores is kept: the next mount reads it whole */
	reopen();
	hint_copy(&col, &h);
	ok(oc_decode(h.data, h.len, &v), "decode hint");
	cr_assert_eq(oc_map_int(&v, "off", 0), (int64_t) wlen);
	oc_val_fini(&v);
	expect_counted("log", want, 0);

	/* the stored copy, wrong the same way, read before the mount
	 * measured it from its last mark */
	y  = lookup_(env.ns, OFS_ROOT_INO, "log");
	in = env.ns->inodes[y];
	in->idx.end_off += 13;
	in->idx.saved_rev = 0;
	reopen();
	expect_counted("log", want, -1);
	o_buf_fini(&h);
	free(want);
}

struct halfwriter {
	struct ofs_ns *ns;
	uint64_t       ino;
	int            n;
	atomic_bool    done;
};

static void *
three_line_writer(void *arg)
{
	struct halfwriter *h = arg;
	int                i;

	for (i = 0; i < h->n; i++) {
		char b[128];
		int  n = snprintf(b, sizeof(b), "%d a\n%d bb\n%d ccc\n", i, i, i);

		if (ofs_write(h->ns, h->ino, 0, 0, b, (size_t) n, true) != O_OK)
			break;
		if (i % 100 == 99)
			(void) ofs_flush(h->ns, h->ino, 0, true);
	}
	atomic_store(&h->done, true);
	return NULL;
}

/* A write of several lines is queued append by append; a reader (and
 * getattr) sees all of its lines or none, never a part. */
Test(ns, diary_reader_never_sees_part_of_a_write, .init = setup,
    .fini = teardown)
{
	struct halfwriter h = { env.ns, 0, 3000, false };
	pthread_t         th;
	int               rounds = 0;

	h.ino = create_(env.ns, OFS_ROOT_INO, "log", OFS_DIARY);
	pthread_create(&th, NULL, three_line_writer, &h);
	while (!atomic_load(&h.done) || rounds < 5) {
		struct ofs_attr a;
		size_t          n, lines = 0, i;
		char           *all = read_all(env.ns, h.ino, &n);

		for (i = 0; i < n; i++)
			lines += all[i] == '\n';
		cr_assert_eq(lines % 3, 0, "%zu lines: part of a write seen",
		    lines);
		cr_assert(n == 0 || all[n - 1] == '\n');
		free(all);
		ok(ofs_getattr(env.ns, h.ino, &a), "getattr");
		rounds++;
	}
	pthread_join(th, NULL);
}

struct appender {
	struct ofs_ns *ns;
	uint64_t       ino;
	int            id, n;
};

static void *
append_thread(void *arg)
{
	struct appender *ap = arg;
	int              i;

	for (i = 0; i < ap->n; i++) {
		char line[128];
		int  n = snprintf(line, sizeof(line), "T%d %05d %.*s end\n",
		     ap->id, i, 1 + (i * 7 + ap->id) % 60,
		     "----------------------------------------------------"
		      "--------");

		if (ofs_write(ap->ns, ap->ino, 0, 0, line, (size_t) n, true) !=
		    O_OK)
			return (void *) 1;
		if (i % 50 == 49 &&
		    ofs_flush(ap->ns, ap->ino, 0, true) != O_OK)
			return (void *) 2;
	}
	return NULL;
}

static void
check_lines(const char *all, int nthreads, int per)
{
	int         next[8] = { 0 };
	const char *p       = all;

	while (*p) {
		const char *nl = strchr(p, '\n');
		int         t, seq, used = 0, dashes;
		char        line[160];

		cr_assert_not_null(nl, "unterminated tail: %s", p);
		cr_assert_lt(nl - p, (long) sizeof(line));
		memcpy(line, p, (size_t) (nl - p));
		line[nl - p] = '\0';
		cr_assert_eq(sscanf(line, "T%d %d %n", &t, &seq, &used), 2,
		    "torn line: %s", line);
		cr_assert(t >= 0 && t < nthreads, "line: %s", line);
		cr_assert_eq(seq, next[t], "thread %d: seq %d want %d", t, seq,
		    next[t]);
		dashes = (int) strspn(line + used, "-");
		cr_assert_eq(dashes, 1 + (seq * 7 + t) % 60, "torn: %s", line);
		cr_assert_str_eq(line + used + dashes, " end");
		next[t]++;
		p = nl + 1;
	}
	for (int t = 0; t < nthreads; t++)
		cr_assert_eq(next[t], per, "thread %d: %d lines", t, next[t]);
}

Test(ns, diary_two_threads_never_interleave_inside_a_line, .init = setup,
    .fini = teardown)
{
	enum { PER = 400 };
	struct appender a[2];
	pthread_t       th[2];
	uint64_t        y = create_(env.ns, OFS_ROOT_INO, "log", OFS_DIARY);
	char           *all;
	void           *rv;
	int             i;

	for (i = 0; i < 2; i++) {
		a[i] = (struct appender) { env.ns, y, i, PER };
		pthread_create(&th[i], NULL, append_thread, &a[i]);
	}
	for (i = 0; i < 2; i++) {
		pthread_join(th[i], &rv);
		cr_assert_null(
		    rv, "appender %d failed: %s", i, o_err_detail());
	}
	all = read_all(env.ns, y, NULL);
	check_lines(all, 2, PER);
	free(all);
	ok(ofs_flush(env.ns, y, 0, true), "flush");
	reopen();
	y   = lookup_(env.ns, OFS_ROOT_INO, "log");
	all = read_all(env.ns, y, NULL);
	check_lines(all, 2, PER);
	free(all);
}

/* ---- durability, sharing, async ------------------------------------------
 */

/* Writers that split their lines across writes, interleaved write by
 * write: every line comes out whole, and only a flush ends a fragment. */
Test(
    ns, diary_writers_fragments_are_their_own, .init = setup, .fini = teardown)
{
	uint64_t y = create_(env.ns, OFS_ROOT_INO, "log", OFS_DIARY);

	ok(ofs_write(env.ns, y, 1, 0, "alpha-", 6, true), "a1");
	ok(ofs_write(env.ns, y, 2, 0, "beta-", 5, true), "b1");
	ok(ofs_write(env.ns, y, 1, 0, "one\nalpha-", 10, true), "a2");
	ok(ofs_write(env.ns, y, 2, 0, "two\nbeta-three", 14, true), "b2");
	expect_contents(env.ns, y, "alpha-one\nbeta-two\n");
	/* writer 2 may continue at the end as it sees it */
	ok(ofs_write(env.ns, y, 2, strlen("alpha-one\nbeta-two\nbeta-three"),
	       "!", 1, false),
	    "b3 at its own end");
	ok(ofs_flush(env.ns, y, 2, true), "flush b");
	expect_contents(env.ns, y, "alpha-one\nbeta-two\nbeta-three!");
	ok(ofs_write(env.ns, y, 1, 0, "two\n", 4, true), "a3");
	expect_contents(
	    env.ns, y, "alpha-one\nbeta-two\nbeta-three!alpha-two\n");
	reopen();
	y = lookup_(env.ns, OFS_ROOT_INO, "log");
	expect_contents(
	    env.ns, y, "alpha-one\nbeta-two\nbeta-three!alpha-two\n");
}

/* A diary holding an unfinished line says its attributes may not be kept
 * (the line joins it at its writer's close, which the kernel does not see
 * as a write: fs/fuse_ll.c attr_ttl); whole lines, or none, do not. */
Test(ns, a_pending_fragment_marks_attributes_growing, .init = setup,
    .fini = teardown)
{
	uint64_t        y = create_(env.ns, OFS_ROOT_INO, "log", OFS_DIARY);
	struct ofs_attr a;

	ok(ofs_getattr(env.ns, y, &a), "getattr empty");
	cr_expect(!a.growing, "an empty diary is not growing");
	ok(ofs_write(env.ns, y, 3, 0, "whole\n", 6, true), "line");
	ok(ofs_getattr(env.ns, y, &a), "getattr after a line");
	cr_expect(!a.growing, "whole lines only: not growing");
	cr_expect_eq(a.size, 6);
	ok(ofs_write(env.ns, y, 3, 0, "part", 4, true), "fragment");
	ok(ofs_getattr(env.ns, y, &a), "getattr with a fragment");
	cr_expect(a.growing, "a pending fragment must mark it growing");
	cr_expect_eq(ofs_fuse_attr_ttl(false, &a), 0.0,
	    "a growing diary's attributes must not be cached");
	a.growing = false;
	cr_expect_gt(ofs_fuse_attr_ttl(false, &a), 0.0,
	    "one that is not growing is (one-node mount)");
	cr_expect_eq(ofs_fuse_attr_ttl(true, &a), 0.0, "but not when shared");
	ok(ofs_flush(env.ns, y, 3, true), "flush");
	ok(ofs_getattr(env.ns, y, &a), "getattr after the flush");
	cr_expect(!a.growing, "flushed: not growing");
	cr_expect_eq(a.size, 10);
}

/* A writer's fragment left at release becomes an entry, and its writer
 * id may then name another writer. */
Test(ns, release_queues_a_left_fragment, .init = setup, .fini = teardown)
{
	uint64_t y = create_(env.ns, OFS_ROOT_INO, "log", OFS_DIARY);

	ok(ofs_write(env.ns, y, 7, 0, "left", 4, true), "w7");
	ofs_release(env.ns, y, 7);
	ok(ofs_write(env.ns, y, 7, 0, "\nnext\n", 6, true), "w7 again");
	ok(ofs_flush(env.ns, y, 0, true), "flush");
	expect_contents(env.ns, y, "left\nnext\n");
}

/*
 * The lines of one write are queued all together or not at all: a write
 * whose journal record fails keeps none of its lines and leaves the
 * writer's fragment as it was (one record per line kept the lines before
 * the failure, and failed the write).
 */
Test(ns, a_diary_write_is_queued_whole_or_not_at_all, .init = setup,
    .fini = teardown)
{
	static struct ot_jwrap fj;
	struct ofs_ns_opts     o = { 0 };
	uint64_t               y;

	ns_reopen_over(&o, &fj, false, "open namespace");

	y = create_(env.ns, OFS_ROOT_INO, "log", OFS_DIARY);
	ok(ofs_write(env.ns, y, 7, 0, "abc", 3, true), "fragment");
	fj.put_left = 1; /* one more record, then failures */
	ok(ofs_write(env.ns, y, 7, 0, "def\nghi\n", 8, true),
	    "two lines, one record");
	expect_contents(env.ns, y, "abcdef\nghi\n");
	ok(ofs_write(env.ns, y, 7, 0, "jkl", 3, true), "fragment (no record)");
	cr_assert_neq(ofs_write(env.ns, y, 7, 0, "mno\npqr\nst", 11, true),
	    O_OK, "the write whose record failed succeeded");
	expect_contents(env.ns, y, "abcdef\nghi\n");
	fj.put_left = -1;
	ok(ofs_write(env.ns, y, 7, 0, "\n", 1, true), "end the fragment");
	expect_contents(env.ns, y, "abcdef\nghi\njkl\n");
	reopen(); /* the committed lines, and nothing else, were kept */
	expect_contents(env.ns, lookup_(env.ns, OFS_ROOT_INO, "log"),
	    "abcdef\nghi\njkl\n");
}

/*
 * A diary's appends are held in memory (lazy journal records) until
 * something acknowledges them: an async close writes every held record
 * before it returns, and says so, naming the path, when it cannot; a
 * close that waits for the commit writes none.
 */
Test(ns, diary_appends_reach_the_journal_only_when_acknowledged, .init = setup,
    .fini = teardown)
{
	static struct ot_jwrap fj, fj2;
	struct ofs_ns_opts o = { .async = true, .commit_interval_ms = 600000 };
	uint64_t           y;
	int                puts0;
	o_err              e;

	ns_reopen_over(&o, &fj, true, "open namespace (async)");
	y     = create_(env.ns, OFS_ROOT_INO, "log", OFS_DIARY);
	puts0 = fj.puts;
	ok(ofs_write(env.ns, y, 7, 0, "a\nb\n", 4, true), "write");
	ok(ofs_write(env.ns, y, 7, 0, "c\n", 2, true), "write");
	cr_expect_eq(fj.puts, puts0, "a write wrote its journal record");
	cr_expect_eq(oc_journal_held(&fj.base), 2);
	ok(ofs_flush(env.ns, y, 7, false), "async close");
	cr_expect_eq(oc_journal_held(&fj.base), 0,
	    "an async close returned with records held");
	cr_expect_eq(
	    fj.puts, puts0 + 2, "%d records written", fj.puts - puts0);
	ok(ofs_write(env.ns, y, 7, 0, "d\n", 2, true), "write");
	fj.put_left = 0;
	e           = ofs_flush(env.ns, y, 7, false);
	cr_expect_eq(
	    e, O_EIO, "async close with a failing journal: %s", o_errname(e));
	cr_expect(strstr(o_err_detail(),
	              "close /log: queued, but the journal "
	              "could not keep it") != NULL,
	    "%s", o_err_detail());
	fj.put_left = -1;
	ok(ofs_ns_close(env.ns), "close namespace (commits d)");
	env.ns = NULL;
	oc_journal_fini(&fj.base);

	ot_jwrap_init_lazy(&fj2, journal_new());
	o = (struct ofs_ns_opts) { .journal = &fj2.base };
	ok(ofs_ns_open(env.tx, &o, &env.ns), "open namespace (sync)");
	y     = lookup_(env.ns, OFS_ROOT_INO, "log");
	puts0 = fj2.puts;
	ok(ofs_write(env.ns, y, 7, 0, "e\n", 2, true), "write");
	ok(ofs_flush(env.ns, y, 7, false), "close");
	cr_expect_eq(fj2.puts, puts0,
	    "a close that waited for the commit wrote %d records",
	    fj2.puts - puts0);
	cr_expect_eq(oc_journal_held(&fj2.base), 0, "committed, still held");
	expect_contents(env.ns, y, "a\nb\nc\nd\ne\n");
	ok(ofs_ns_close(env.ns), "close namespace");
	env.ns = NULL;
	oc_journal_fini(&fj2.base);
}

/* A diary writer that outruns the committer commits the queue itself:
 * the queued appends stay bounded. */
Test(ns, diary_queue_is_bounded, .init = setup, .fini = teardown)
{
	struct ofs_ns_stats st;
	char                line[1024];
	uint64_t            y, peak = 0;
	int                 i;

	reopen_quiet();
	y = create_(env.ns, OFS_ROOT_INO, "log", OFS_DIARY);
	memset(line, 'q', sizeof(line) - 1);
	line[sizeof(line) - 1] = '\n';
	for (i = 0; i < 40000; i++) { /* 40 MiB, no flush */
		ok(ofs_write(env.ns, y, 0, 0, line, sizeof(line), true),
		    "append");
		if (i % 1000 == 0) {
			ofs_ns_stats(env.ns, &st);
			peak = O_MAX(peak, st.pending);
		}
	}
	/* 8 MiB / (1 KiB + overhead) ~ 6,500 appends */
	cr_assert_leq(
	    peak, 7000, "%llu appends queued", (unsigned long long) peak);
	ofs_ns_stats(env.ns, &st);
	cr_assert_gt(st.commits, 1, "the writer never committed");
}

/* Short lines written 1 MiB at a time (the benchmark's diary): the queue
 * is bounded in appends too, each costing more than its bytes. */
Test(ns, diary_queue_of_short_lines_is_bounded, .init = setup,
    .fini = teardown)
{
	struct ofs_ns_stats st;
	char               *buf = malloc(1u << 20);
	uint64_t            y, peak = 0;
	size_t              i;
	int                 k;

	reopen_quiet();
	y = create_(env.ns, OFS_ROOT_INO, "log", OFS_DIARY);
	for (i = 0; i < (1u << 20); i++)
		buf[i] = i % 61 == 60 ? '\n' : 'q';
	for (k = 0; k < 24; k++) { /* 24 MiB, ~412,000 lines, no flush */
		ok(ofs_write(env.ns, y, 0, 0, buf, 1u << 20, true), "append");
		ofs_ns_stats(env.ns, &st);
		peak = O_MAX(peak, st.pending);
	}
	/* 8 MiB / (61 B + overhead) ~ 26,500, plus one write's 17,190
	 * lines */
	cr_assert_leq(
	    peak, 46000, "%llu appends queued", (unsigned long long) peak);
	free(buf);
}

Test(ns, everything_survives_reopen, .init = setup, .fini = teardown)
{
	uint64_t d = mkdir_(env.ns, OFS_ROOT_INO, "users");
	uint64_t f = create_(env.ns, d, "ana", OFS_FILE);
	uint64_t y = create_(env.ns, OFS_ROOT_INO, "deploys", OFS_DIARY);
	uint64_t e = mkdir_(env.ns, d, "empty");

	(void) e;
	write_(env.ns, f, 0, "{\"name\":\"ana\"}\n");
	append_(env.ns, y, "deploy 42 ok\ndeploy 43 ");
	/* no flush: close commits everything, fragment included */
	reopen();
	d = lookup_(env.ns, OFS_ROOT_INO, "users");
	expect_contents(
	    env.ns, lookup_(env.ns, d, "ana"), "{\"name\":\"ana\"}\n");
	lookup_(env.ns, d, "empty");
	expect_contents(env.ns, lookup_(env.ns, OFS_ROOT_INO, "deploys"),
	    "deploy 42 ok\ndeploy 43 ");
}

Test(ns, two_namespaces_see_each_other_after_refresh, .init = setup,
    .fini = teardown)
{
	struct ofs_ns  *b;
	struct ofs_attr a;
	uint64_t        fa, ya, yb, fb;

	/* no committer: a2 must stay queued in a until its refresh */
	reopen_quiet();
	ns_open_opts(&b, false, 0);
	/* b looks at the (empty) root first, so its view is pinned */
	cr_assert_eq(ofs_lookup(b, OFS_ROOT_INO, "f", &a), O_ENOTFOUND);
	fa = create_(env.ns, OFS_ROOT_INO, "f", OFS_FILE);
	ya = create_(env.ns, OFS_ROOT_INO, "log", OFS_DIARY);
	write_(env.ns, fa, 0, "from a");
	append_(env.ns, ya, "a1\n");
	ok(ofs_flush(env.ns, fa, 0, true), "flush f");
	ok(ofs_flush(env.ns, ya, 0, true), "flush log");
	cr_assert_eq(ofs_lookup(b, OFS_ROOT_INO, "f", &a), O_ENOTFOUND);
	ok(ofs_ns_refresh(b, OFS_ROOT_INO), "refresh root");
	fb = lookup_(b, OFS_ROOT_INO, "f");
	expect_contents(b, fb, "from a");
	yb = lookup_(b, OFS_ROOT_INO, "log");
	expect_contents(b, yb, "a1\n");

	/* b appends and overwrites; a refreshes */
	append_(b, yb, "b1\n");
	write_(b, fb, 0, "FROM B");
	ok(ofs_flush(b, yb, 0, true), "flush b log");
	ok(ofs_flush(b, fb, 0, true), "flush b f");
	append_(env.ns, ya, "a2\n"); /* queued in a, lands after b1 */
	expect_contents(env.ns, ya, "a1\na2\n");
	ok(ofs_ns_refresh(env.ns, ya), "refresh log");
	expect_contents(env.ns, ya, "a1\nb1\na2\n");
	ok(ofs_flush(env.ns, ya, 0, true), "flush a log");
	expect_contents(env.ns, ya, "a1\nb1\na2\n");
	ok(ofs_ns_refresh(env.ns, fa), "refresh via file");
	expect_contents(env.ns, fa, "FROM B");
	ok(ofs_ns_refresh(b, yb), "refresh b log");
	expect_contents(b, yb, "a1\nb1\na2\n");

	/* a removal in b: a's inode becomes unlinked after refresh */
	ok(ofs_unlink(b, OFS_ROOT_INO, "f"), "unlink in b");
	ok(ofs_flush(b, OFS_ROOT_INO, 0, true), "flush b root");
	ok(ofs_ns_refresh(env.ns, OFS_ROOT_INO), "refresh a root");
	cr_assert_eq(ofs_lookup(env.ns, OFS_ROOT_INO, "f", &a), O_ENOTFOUND);
	ok(ofs_getattr(env.ns, fa, &a), "getattr");
	cr_assert_eq(a.nlink, 0);
	ok(ofs_ns_close(b), "close b");
}

/* Async flushes return before their commits (the first commit of the
 * root, which carries f's bytes, is held at the gate meanwhile), and the
 * committer commits everything within its interval. */
Test(ns, async_commits_within_the_interval, .init = setup, .fini = teardown)
{
	struct ofs_ns_opts  o = { .async = true,
		 .commit_interval_ms     = 50,
		 .sync_hook              = gate_hook,
		 .journal                = journal_new() };
	struct ofs_ns      *a, *b;
	struct ofs_ns_stats st;
	uint64_t            f, y, fb = 0;
	int                 i, n0, n1;
	bool                passed;

	gate_arm(OFS_DIR);
	ok(ofs_ns_open(env.tx, &o, &a), "open with the gate");
	ns_open_opts(&b, false, 0);
	f = create_(a, OFS_ROOT_INO, "f", OFS_FILE);
	y = create_(a, OFS_ROOT_INO, "log", OFS_DIARY);
	write_(a, f, 0, "async data");
	append_(a, y, "async line\nfrag");
	gate_seen(&passed, &n0);
	ok(ofs_flush(a, f, 0, false), "flush f");
	ok(ofs_flush(a, y, 0, false), "flush y");
	/* a flush that waited for its commit returns only once the gate
	 * gave up (20 s); one that committed by itself passed the hook on
	 * this thread (the committer may have taken the gate first) */
	gate_seen(&passed, &n1);
	cr_assert(!passed, "an async flush waited for its commit");
	cr_assert_eq(n1, n0, "an async flush committed itself");
	cr_assert(gate_wait_reached(), "the root was never committed");
	gate_release();
	for (i = 0; i < 4000; i++) { /* 20 s: only for a broken build */
		struct ofs_attr at;

		ok(ofs_ns_refresh(b, OFS_ROOT_INO), "refresh");
		if (ofs_lookup(b, OFS_ROOT_INO, "f", &at) == O_OK &&
		    at.size == 10) {
			fb = at.ino;
			break;
		}
		usleep(5000);
	}
	cr_assert_neq(fb, 0, "not committed within 20 s");
	expect_contents(b, fb, "async data");
	for (i = 0; i < 4000; i++) {
		uint64_t        yb = lookup_(b, OFS_ROOT_INO, "log");
		struct ofs_attr at;

		ok(ofs_ns_refresh(b, yb), "refresh log");
		ok(ofs_getattr(b, yb, &at), "getattr");
		if (at.size == 15)
			break;
		usleep(5000);
	}
	expect_contents(
	    b, lookup_(b, OFS_ROOT_INO, "log"), "async line\nfrag");
	/* b may see a commit a moment before a's committer has taken the
	 * actions off its queue: the queue must empty within the bound */
	for (i = 0; i < 4000; i++) {
		ofs_ns_stats(a, &st);
		if (st.pending == 0)
			break;
		usleep(5000);
	}
	cr_assert_geq(st.commits, 2);
	cr_assert_eq(st.bytes_written, 25);
	cr_assert_eq(st.pending, 0, "still pending after 20 s");
	cr_assert_eq(st.errors, 0);
	ok(ofs_ns_close(a), "close a");
	ok(ofs_ns_close(b), "close b");
}

Test(ns, background_failure_is_kept_for_the_next_flush, .init = setup,
    .fini = teardown)
{
	struct ofs_ns      *a;
	struct ofs_ns_stats st;
	uint64_t            f;
	o_err               e;
	int                 i;

	ns_open_opts(&a, true, 20);
	f = create_(a, OFS_ROOT_INO, "f", OFS_FILE);
	/* before the write: else the committer (20 ms) may commit it */
	atomic_store(&fail_writes, 1);
	write_(a, f, 0, "precious");
	ok(ofs_flush(a, f, 0, false), "queue");
	/* the committer fails (waited for up to 20 s, then a few times
	 * more) */
	for (i = 0; i < 2000 && STAT(a, errors) == 0; i++)
		o_sleep_ms(10);
	o_sleep_ms(100);
	ofs_ns_stats(a, &st);
	cr_assert_gt(st.errors, 0);
	cr_assert_gt(st.pending, 0);
	e = ofs_flush(a, f, 0, false);
	cr_assert_eq(e, O_EIO, "got %s", o_errname(e));
	cr_assert_eq(ofs_errno(e), EIO);
	cr_assert(strstr(o_err_detail(), "/f") != NULL, "%s", o_err_detail());
	cr_assert_eq(ofs_flush(a, f, 0, true), O_EIO);
	atomic_store(&fail_writes, 0);
	ok(ofs_flush(a, f, 0, true), "flush after recovery");
	ofs_ns_stats(a, &st);
	cr_assert_eq(st.pending, 0);
	ok(ofs_ns_close(a), "close a");
	reopen();
	expect_contents(
	    env.ns, lookup_(env.ns, OFS_ROOT_INO, "f"), "precious");
}

/* ---- xattrs --------------------------------------------------------------
 */

static char *
getx(struct ofs_ns *ns, uint64_t ino, const char *name)
{
	size_t n, n2;
	char  *b;

	ok(ofs_getxattr(ns, ino, name, NULL, 0, &n), name);
	b = malloc(n + 1);
	ok(ofs_getxattr(ns, ino, name, b, n, &n2), name);
	cr_assert_eq(n, n2);
	b[n] = '\0';
	return b;
}

static bool
list_has(const char *list, size_t n, const char *name)
{
	size_t off;

	for (off = 0; off < n; off += strlen(list + off) + 1)
		if (strcmp(list + off, name) == 0)
			return true;
	return false;
}

Test(ns, xattrs_user_and_computed, .init = setup, .fini = teardown)
{
	uint64_t f = create_(env.ns, OFS_ROOT_INO, "f", OFS_FILE);
	uint64_t y = create_(env.ns, OFS_ROOT_INO, "log", OFS_DIARY);
	uint64_t d = mkdir_(env.ns, OFS_ROOT_INO, "d");
	char    *v, list[1024], small[2];
	size_t   n;

	write_(env.ns, f, 0, "abc");
	ok(ofs_setxattr(env.ns, f, "user.color", "blue", 4), "set f");
	ok(ofs_setxattr(env.ns, y, "user.owner", "ops", 3), "set y");
	ok(ofs_setxattr(env.ns, d, "user.empty", "", 0), "set d");
	v = getx(env.ns, f, "user.color");
	cr_assert_str_eq(v, "blue");
	free(v);
	cr_assert_eq(
	    ofs_getxattr(env.ns, f, "user.color", small, sizeof(small), &n),
	    O_ETOOBIG);
	cr_assert_eq(n, 4);
	cr_assert_eq(
	    ofs_getxattr(env.ns, f, "user.nope", NULL, 0, &n), O_ENOTFOUND);
	cr_assert_eq(ofs_errno_xattr(O_ENOTFOUND), ENODATA);
	cr_assert_eq(
	    ofs_setxattr(env.ns, f, "user.optimfs.rev", "1", 1), O_EPERM);
	cr_assert_eq(ofs_setxattr(env.ns, f, "trusted.x", "1", 1), O_EPERM);
	cr_assert_eq(
	    ofs_setxattr(env.ns, OFS_ROOT_INO, "user.x", "1", 1), O_EPERM);
	cr_assert_eq(ofs_removexattr(env.ns, y, "user.optimfs.rev"), O_EPERM);

	append_(env.ns, y, "a\nb\nc\n");
	ok(ofs_flush(env.ns, y, 0, true), "flush");
	v = getx(env.ns, y, "user.optimfs.entries");
	cr_assert_str_eq(v, "3");
	free(v);
	v = getx(env.ns, y, "user.optimfs.rev");
	cr_assert_str_eq(v, "2"); /* creation, then one commit of 3 lines */
	free(v);
	v = getx(env.ns, y, "user.optimfs.tailhash");
	cr_assert_eq(strlen(v), 64);
	free(v);
	v = getx(env.ns, y, "user.optimfs.collection");
	cr_assert_eq(strlen(v), OC_BID_STRLEN - 1);
	free(v);
	v = getx(env.ns, d, "user.optimfs.entries");
	cr_assert_str_eq(v, "0");
	free(v);
	cr_assert_eq(
	    ofs_getxattr(env.ns, f, "user.optimfs.entries", NULL, 0, &n),
	    O_ENOTFOUND);
	v = getx(env.ns, f, "user.optimfs.collection");
	{
		char *r =
		    getx(env.ns, OFS_ROOT_INO, "user.optimfs.collection");

		cr_assert_str_eq(v, r); /* a file reports its directory */
		free(r);
	}
	free(v);

	ok(ofs_listxattr(env.ns, y, NULL, 0, &n), "list size");
	cr_assert_leq(n, sizeof(list));
	ok(ofs_listxattr(env.ns, y, list, sizeof(list), &n), "list");
	cr_assert(list_has(list, n, "user.owner"));
	cr_assert(list_has(list, n, "user.optimfs.rev"));
	cr_assert(list_has(list, n, "user.optimfs.entries"));
	cr_assert(list_has(list, n, "user.optimfs.tailhash"));
	cr_assert(list_has(list, n, "user.optimfs.collection"));
	ok(ofs_listxattr(env.ns, f, list, sizeof(list), &n), "list f");
	cr_assert(list_has(list, n, "user.color"));
	cr_assert(!list_has(list, n, "user.optimfs.entries"));

	ok(ofs_removexattr(env.ns, d, "user.empty"), "remove");
	cr_assert_eq(ofs_removexattr(env.ns, d, "user.empty"), O_ENOTFOUND);

	reopen();
	f = lookup_(env.ns, OFS_ROOT_INO, "f");
	y = lookup_(env.ns, OFS_ROOT_INO, "log");
	d = lookup_(env.ns, OFS_ROOT_INO, "d");
	v = getx(env.ns, f, "user.color");
	cr_assert_str_eq(v, "blue");
	free(v);
	expect_contents(env.ns, f, "abc");
	v = getx(env.ns, y, "user.owner");
	cr_assert_str_eq(v, "ops");
	free(v);
	cr_assert_eq(
	    ofs_getxattr(env.ns, d, "user.empty", NULL, 0, &n), O_ENOTFOUND);
	v = getx(env.ns, y, "user.optimfs.entries");
	cr_assert_str_eq(v, "3");
	free(v);
}

Test(ns, stats_count, .init = setup, .fini = teardown)
{
	struct ofs_ns_stats st;
	uint64_t            f;

	/* a long interval: nothing is committed behind the test's back */
	ok(ofs_ns_close(env.ns), "close");
	ns_open_opts(&env.ns, false, 60000);
	f = create_(env.ns, OFS_ROOT_INO, "f", OFS_FILE);
	write_(env.ns, f, 0, "12345");
	ofs_ns_stats(env.ns, &st);
	cr_assert_eq(st.bytes_written, 5);
	cr_assert_geq(st.pending, 1);
	cr_assert_eq(st.inodes, 2);
	cr_assert_eq(st.collections, 1);
	ok(ofs_flush(env.ns, f, 0, true), "flush");
	ofs_ns_stats(env.ns, &st);
	cr_assert_eq(st.pending, 0);
	cr_assert_geq(st.commits, 1);
	{
		char path[64];

		ofs_ns_path(env.ns, f, path, sizeof(path));
		cr_assert_str_eq(path, "/f");
		ofs_ns_path(env.ns, OFS_ROOT_INO, path, sizeof(path));
		cr_assert_str_eq(path, "/");
	}
}

/* ---- cross-mount visibility (shared mode, ofs_ns_changed) ----------------
 */

/* A second namespace over env's store; shared with a fresh bound in ms. */
static void
ns_open_peer(struct ofs_ns **ns, bool shared, int64_t fresh_ms)
{
	struct ofs_ns_opts o = { .journal = journal_new(),
		.shared                   = shared,
		.fresh_ms                 = fresh_ms };

	ok(ofs_ns_open(env.tx, &o, ns), "open peer namespace");
}

/* What ofs_ns_changed reported: (ino, NULL) or (directory ino, name). */
struct chg_log {
	size_t   n;
	uint64_t ino[256];
	char    *name[256];
};

static void
chg_rec(void *arg, uint64_t ino, const char *name)
{
	struct chg_log *l = arg;

	cr_assert_lt(l->n, 256);
	l->ino[l->n]    = ino;
	l->name[l->n++] = name != NULL ? strdup(name) : NULL;
}

static void
chg_clear(struct chg_log *l)
{
	size_t i;

	for (i = 0; i < l->n; i++)
		free(l->name[i]);
	l->n = 0;
}

static bool
chg_has(const struct chg_log *l, uint64_t ino, const char *name)
{
	size_t i;

	for (i = 0; i < l->n; i++)
		if (l->ino[i] == ino &&
		    (name == NULL ? l->name[i] == NULL
		                  : l->name[i] != NULL &&
		                        strcmp(l->name[i], name) == 0))
			return true;
	return false;
}

/* Collection id and held rev of a directory or diary inode. */
static struct oc_bid
coll_of(struct ofs_ns *ns, uint64_t ino, int64_t *rev)
{
	struct oc_bid id;
	char          v[32];
	size_t        len;

	ok(ofs_ns_coll_id(ns, ino, &id), "collection");
	if (rev != NULL) {
		ok(ofs_getxattr(
		       ns, ino, "user.optimfs.rev", v, sizeof(v) - 1, &len),
		    "rev");
		v[len] = 0;
		*rev   = strtoll(v, NULL, 10);
	}
	return id;
}

static uint64_t
size_of(struct ofs_ns *ns, uint64_t ino)
{
	struct ofs_attr a;

	ok(ofs_getattr(ns, ino, &a), "getattr");
	return a.size;
}

static uint64_t
open_size(struct ofs_ns *ns, uint64_t ino)
{
	struct ofs_attr a;

	ok(ofs_open(ns, ino, &a), "open");
	return a.size;
}

/* A file, a diary and a directory written by env.ns (committed), looked
 * up and read by nb. */
struct xm {
	uint64_t d, f, l;    /* env.ns: directory d, d/f, d/log */
	uint64_t bd, bf, bl; /* the same in nb */
};

static void
xm_setup(struct xm *x, struct ofs_ns *nb)
{
	x->d = mkdir_(env.ns, OFS_ROOT_INO, "d");
	x->f = create_(env.ns, x->d, "f", OFS_FILE);
	x->l = create_(env.ns, x->d, "log", OFS_DIARY);
	write_(env.ns, x->f, 0, "v1");
	append_(env.ns, x->l, "l1\n");
	ok(ofs_flush(env.ns, x->f, 0, true), "flush f");
	ok(ofs_flush(env.ns, x->l, 0, true), "flush log");
	ok(ofs_flush(env.ns, x->d, 0, true), "flush d");
	ok(ofs_ns_refresh(nb, OFS_ROOT_INO), "refresh b's root");
	x->bd = lookup_(nb, OFS_ROOT_INO, "d");
	x->bf = lookup_(nb, x->bd, "f");
	x->bl = lookup_(nb, x->bd, "log");
	expect_contents(nb, x->bf, "v1");
	expect_contents(nb, x->bl, "l1\n");
}

/* env.ns changes all three and commits. */
static void
xm_change(struct xm *x)
{
	write_(env.ns, x->f, 0, "version2");
	append_(env.ns, x->l, "l2\n");
	(void) create_(env.ns, x->d, "new", OFS_FILE);
	ok(ofs_flush(env.ns, x->f, 0, true), "flush f");
	ok(ofs_flush(env.ns, x->l, 0, true), "flush log");
	ok(ofs_flush(env.ns, x->d, 0, true), "flush d");
}

static int
count_cb(void *arg, const char *name, const struct ofs_attr *a)
{
	(void) name;
	(void) a;
	(*(int *) arg)++;
	return 0;
}

/* Close-to-open: with a bound too long to matter, lookups and getattrs
 * keep what they read, and open brings it up to date. */
Test(ns, shared_open_sees_other_mounts_commits, .init = setup,
    .fini = teardown)
{
	struct ofs_ns  *nb;
	struct ofs_attr at;
	struct xm       x;
	uint64_t        bs;
	int             n = 0;

	ns_open_peer(&nb, true, 600000);
	xm_setup(&x, nb);
	xm_change(&x);
	/* not yet: getattr reads state younger than the bound */
	cr_expect_eq(size_of(nb, x.bf), 2);
	cr_expect_eq(size_of(nb, x.bl), 3);
	/* open of the diary: its own collection, and the directory holding
	 * its entry (which another mount may have removed), so the file's
	 * record there is read anew too */
	cr_expect_eq(open_size(nb, x.bl), 6);
	expect_contents(nb, x.bl, "l1\nl2\n");
	cr_expect_eq(size_of(nb, x.bf), 8);
	/* a lookup that misses asks the latest state: it finds the new
	 * entry, and brings the directory's records up to date */
	ok(ofs_lookup(nb, x.bd, "new", &at), "lookup new (a miss refreshes)");
	cr_expect_eq(ofs_lookup(nb, x.bd, "none", &at), O_ENOTFOUND);
	/* opendir: the same */
	cr_expect_eq(open_size(nb, x.bd), 3);
	ok(ofs_readdir(nb, x.bd, NULL, count_cb, &n), "readdir");
	cr_expect_eq(n, 3);
	cr_expect_eq(size_of(nb, x.bf), 8);
	expect_contents(nb, x.bf, "version2");
	/* open of the file: the directory holding its record */
	write_(env.ns, x.f, 0, "version3!!");
	ok(ofs_flush(env.ns, x.f, 0, true), "flush f");
	cr_expect_eq(size_of(nb, x.bf), 8);
	cr_expect_eq(open_size(nb, x.bf), 10);
	expect_contents(nb, x.bf, "version3!!");
	/* another mount's rename, mkdir and unlink */
	ok(ofs_rename(env.ns, x.d, "new", x.d, "renamed"), "rename");
	(void) mkdir_(env.ns, x.d, "sub");
	ok(ofs_unlink(env.ns, x.d, "f"), "unlink f");
	ok(ofs_flush(env.ns, x.d, 0, true), "flush d");
	cr_expect_eq(open_size(nb, x.bd), 3);
	cr_expect_eq(ofs_lookup(nb, x.bd, "new", &at), O_ENOTFOUND);
	ok(ofs_lookup(nb, x.bd, "renamed", &at), "lookup renamed");
	cr_expect_eq(at.kind, OFS_FILE);
	bs = lookup_(nb, x.bd, "sub");
	cr_expect_eq(open_size(nb, bs), 0);
	/* the file another mount removed no longer opens */
	cr_expect_eq(ofs_open(nb, x.bf, &at), O_ENOTFOUND);
	ok(ofs_ns_close(nb), "close b");
}

/* Shared, with a short bound: lookup and getattr of old state refresh
 * (stat of a new name, tail -f's fstat of a growing diary). */
Test(ns, shared_lookup_and_getattr_refresh_old_state, .init = setup,
    .fini = teardown)
{
	struct ofs_ns  *nb;
	struct ofs_attr at;
	struct xm       x;
	char            buf[16];
	size_t          got;

	ns_open_peer(&nb, true, 1);
	xm_setup(&x, nb);
	xm_change(&x);
	usleep(5000);
	ok(ofs_lookup(nb, x.bd, "new", &at), "lookup new");
	cr_expect_eq(size_of(nb, x.bf), 8);
	cr_expect_eq(size_of(nb, x.bl), 6);
	ok(ofs_read(nb, x.bl, 3, sizeof(buf), buf, &got), "read the tail");
	cr_assert_eq(got, 3);
	cr_expect(memcmp(buf, "l2\n", 3) == 0);
	append_(env.ns, x.l, "l3\n");
	ok(ofs_flush(env.ns, x.l, 0, true), "flush log");
	usleep(5000);
	ok(ofs_lookup(nb, x.bd, "log", &at), "lookup log");
	cr_expect_eq(at.size, 9);
	ok(ofs_ns_close(nb), "close b");
}

/*
 * Shared mode: a directory whose collection was closed counts its entries
 * again when reopened, and its children still held are read again
 * (another mount may have changed them meanwhile, and a freshly opened
 * collection reports no change since it opened).  The peer keeps a child
 * so that the directory's inode outlives its collection: a freed inode
 * would be built afresh and prove nothing.
 */
Test(ns, shared_closed_directory_counts_its_entries_again, .init = setup,
    .fini = teardown)
{
	struct ofs_ns_opts o = { .journal = journal_new(),
		.shared                   = true,
		.fresh_ms                 = 1,
		.commit_interval_ms       = 10,
		.inode_idle_ms            = 50 };
	struct ofs_ns     *nb;
	uint64_t           d, f, bd, bf, bd2;

	d = mkdir_(env.ns, OFS_ROOT_INO, "d");
	create_(env.ns, d, "f", OFS_FILE);
	ok(ofs_flush(env.ns, d, 0, true), "flush d");
	ok(ofs_ns_open(env.tx, &o, &nb), "open a shared peer");
	bd = lookup_(nb, OFS_ROOT_INO, "d");
	cr_assert_eq(size_of(nb, bd), 1);
	/* the peer's kernel keeps f: d's inode stays (its child names it)
	 * while its collection is closed */
	bf = lookup_(nb, bd, "f");
	cr_assert_eq(size_of(nb, bf), 0);
	ofs_ns_forget(nb, bd, 1);
	EXPECT_SOON(nb, collections, 1, "peer: open collections, d closed");
	create_(env.ns, d, "g", OFS_FILE);
	f = lookup_(env.ns, d, "f");
	write_(env.ns, f, 0, "news");
	ok(ofs_flush(env.ns, f, 0, true), "flush f");
	ok(ofs_flush(env.ns, d, 0, true), "flush d again");
	bd2 = lookup_(nb, OFS_ROOT_INO, "d");
	cr_assert_eq(bd2, bd, "d's inode was kept");
	cr_assert_eq(size_of(nb, bd), 2, "the reopened directory's count");
	cr_assert_eq(size_of(nb, bf), 4,
	    "f, a child of the closed directory, is read again");
	ok(ofs_ns_close(nb), "close the peer");
}

/* Two shared mounts create one name at once, each from a view that does
 * not show the other's creation yet: exactly one wins, the other gets
 * O_EEXIST, and both then see the winner's object. */
Test(ns, shared_concurrent_creations_one_wins, .init = setup,
    .fini = teardown)
{
	static const enum ofs_kind kinds[] = { OFS_DIR, OFS_FILE, OFS_DIARY };
	static const char *const   names[] = { "dir", "file", "log" };
	struct ofs_ns             *na, *nb;
	struct ofs_attr            aa, ab, la, lb;
	size_t                     i;
	int                        n = 0;

	ns_open_peer(&na, true, 600000);
	ns_open_peer(&nb, true, 600000);
	ok(ofs_ns_refresh(na, OFS_ROOT_INO), "a reads the root");
	ok(ofs_ns_refresh(nb, OFS_ROOT_INO), "b reads the root");
	for (i = 0; i < 3; i++) {
		ok(ofs_create(na, OFS_ROOT_INO, names[i], kinds[i], 0644, &aa),
		    "a creates");
		cr_assert_eq(ofs_create(nb, OFS_ROOT_INO, names[i], kinds[i],
		                 0644, &ab),
		    O_EEXIST, "b's creation of %s loses: %s", names[i],
		    o_err_detail());
		cr_expect(strstr(o_err_detail(), "another mount") != NULL,
		    "the error says why: %s", o_err_detail());
		ok(ofs_lookup(na, OFS_ROOT_INO, names[i], &la), "lookup a");
		ok(ofs_lookup(nb, OFS_ROOT_INO, names[i], &lb), "lookup b");
		cr_expect_eq(la.ino, aa.ino, "a keeps its own object");
		cr_expect_eq(lb.kind, kinds[i], "b sees a's %s", names[i]);
	}
	/* a creation of a name nobody else took still succeeds at once */
	ok(ofs_mkdir(nb, OFS_ROOT_INO, "only-b", 0755, &ab), "mkdir only-b");
	ok(ofs_ns_refresh(na, OFS_ROOT_INO), "a refreshes");
	ok(ofs_lookup(na, OFS_ROOT_INO, "only-b", &la), "a sees only-b");
	ok(ofs_readdir(nb, OFS_ROOT_INO, NULL, count_cb, &n), "readdir b");
	cr_expect_eq(n, 4, "one entry per name, no duplicates (%d)", n);
	ok(ofs_ns_close(na), "close a");
	ok(ofs_ns_close(nb), "close b");
}

/* rmdir and rename over a directory check emptiness on the directory's
 * latest state: an entry another mount committed in it counts (the
 * check once used what this mount had read before). */
Test(ns, shared_rmdir_sees_other_mounts_entries, .init = setup,
    .fini = teardown)
{
	struct ofs_ns  *na, *nb;
	struct ofs_attr a;
	uint64_t        ad, bd;
	int             n = 0;

	ns_open_peer(&na, true, 600000);
	ns_open_peer(&nb, true, 600000);
	ok(ofs_mkdir(na, OFS_ROOT_INO, "d", 0755, &a), "a: mkdir d");
	ad = a.ino;
	ok(ofs_mkdir(na, OFS_ROOT_INO, "e", 0755, &a), "a: mkdir e");
	ok(ofs_ns_refresh(nb, OFS_ROOT_INO), "b reads the root");
	ok(ofs_lookup(nb, OFS_ROOT_INO, "d", &a), "b: lookup d");
	bd = a.ino;
	ok(ofs_readdir(nb, bd, NULL, count_cb, &n), "b lists d (empty)");
	cr_assert_eq(n, 0);
	ok(ofs_create(na, ad, "f", OFS_FILE, 0644, &a), "a: create d/f");
	cr_assert_eq(ofs_rmdir(nb, OFS_ROOT_INO, "d"), O_ENOTEMPTY,
	    "b removed a directory holding a's file");
	cr_assert_eq(ofs_rename(nb, OFS_ROOT_INO, "e", OFS_ROOT_INO, "d"),
	    O_ENOTEMPTY, "b renamed over a directory holding a's file");
	ok(ofs_lookup(na, ad, "f", &a), "d/f is still there");
	ok(ofs_ns_close(na), "close a");
	ok(ofs_ns_close(nb), "close b");
}

/* A mount that unlinks a name and creates it again before the unlink is
 * committed, while another mount rewrites the old file's entry: the new
 * creation must not be dropped as if a rival had created the name (the
 * name is absent afterwards, so O_EEXIST is wrong and open(O_CREAT) would
 * find nothing).  A shared namespace commits an unlink before it returns:
 * it stays queued only when that commit failed, as here. */
Test(ns, shared_unlink_then_create_survives_a_rivals_update, .init = setup,
    .fini = teardown)
{
	struct ofs_ns  *na, *nb;
	struct ofs_attr a;
	o_err           e;

	ns_open_peer(&na, true, 600000);
	ns_open_peer(&nb, true, 600000);
	ok(ofs_create(na, OFS_ROOT_INO, "x", OFS_FILE, 0644, &a), "a: create x");
	ok(ofs_ns_refresh(nb, OFS_ROOT_INO), "b reads the root");
	ok(ofs_lookup(nb, OFS_ROOT_INO, "x", &a), "b: lookup x");
	atomic_store(&fail_writes, 1);
	cr_assert_neq(ofs_unlink(na, OFS_ROOT_INO, "x"), O_OK,
	    "a: unlink x, its commit failing");
	atomic_store(&fail_writes, 0);
	ok(ofs_write(nb, a.ino, 0, 0, "b", 1, false), "b writes x");
	ok(ofs_flush(nb, a.ino, 0, true), "b commits x's entry");
	e = ofs_create(na, OFS_ROOT_INO, "x", OFS_FILE, 0644, &a);
	cr_expect_eq(e, O_OK, "a: create x again: %s (%s)", o_errname(e),
	    o_err_detail());
	e = ofs_lookup(na, OFS_ROOT_INO, "x", &a);
	cr_expect_eq(e, O_OK, "x exists after a's create: %s", o_errname(e));
	ok(ofs_ns_close(na), "close a");
	ok(ofs_ns_close(nb), "close b");
}

/* Another mount rewrites a file at the same size and sets its mtime back
 * (cp -p, rsync -t, touch -d): only the ctime tells it changed, and the
 * bytes this mount holds must still be dropped. */
Test(ns, shared_same_size_same_mtime_rewrite_is_read, .init = setup,
    .fini = teardown)
{
	struct ofs_ns  *nb;
	struct ofs_attr at;
	struct xm       x;

	ns_open_peer(&nb, true, 600000);
	xm_setup(&x, nb);
	ok(ofs_setattr(env.ns, x.f, false, 0, true, 1000, NULL, NULL),
	    "mtime");
	ok(ofs_flush(env.ns, x.f, 0, true), "flush f");
	cr_expect_eq(open_size(nb, x.bf), 2);
	expect_contents(nb, x.bf, "v1");
	write_(env.ns, x.f, 0, "v2");
	ok(ofs_setattr(env.ns, x.f, false, 0, true, 1000, NULL, NULL),
	    "mtime");
	ok(ofs_flush(env.ns, x.f, 0, true), "flush f");
	ok(ofs_open(nb, x.bf, &at), "open f");
	cr_expect_eq(at.size, 2);
	cr_expect_eq(at.mtime_ns, 1000);
	expect_contents(nb, x.bf, "v2");
	ok(ofs_ns_close(nb), "close b");
}

/* Without shared nothing is refreshed on open, lookup or getattr: the
 * option is what makes the difference (the commits were there). */
Test(ns, unshared_open_does_not_refresh, .init = setup, .fini = teardown)
{
	struct ofs_ns  *nb;
	struct ofs_attr at;
	struct xm       x;

	ns_open_peer(&nb, false, 1);
	xm_setup(&x, nb);
	xm_change(&x);
	usleep(5000);
	cr_expect_eq(open_size(nb, x.bd), 2);
	cr_expect_eq(ofs_lookup(nb, x.bd, "new", &at), O_ENOTFOUND);
	cr_expect_eq(open_size(nb, x.bf), 2);
	expect_contents(nb, x.bf, "v1");
	cr_expect_eq(open_size(nb, x.bl), 3);
	expect_contents(nb, x.bl, "l1\n");
	ok(ofs_ns_refresh(nb, x.bd), "refresh d");
	ok(ofs_ns_refresh(nb, x.bl), "refresh log");
	ok(ofs_lookup(nb, x.bd, "new", &at), "lookup new after refresh");
	expect_contents(nb, x.bf, "version2");
	expect_contents(nb, x.bl, "l1\nl2\n");
	ok(ofs_ns_close(nb), "close b");
}

/* A getattr (or lookup) that took another mount's entries in first
 * cannot tell the kernel (it runs in a request handler): the feed's
 * announcement must still report them (it once found them "seen" and
 * reported nothing, so an open reader kept stale pages). */
Test(ns, changed_reports_what_a_getattr_took_in_first, .init = setup,
    .fini = teardown)
{
	struct ofs_ns *nb;
	struct chg_log lg = { 0 };
	struct oc_bid  dcol;
	struct xm      x;
	int64_t        r1;

	ns_open_peer(&nb, true, 1);
	xm_setup(&x, nb);
	xm_change(&x);
	dcol = coll_of(env.ns, x.d, &r1);
	usleep(5000);
	cr_expect_eq(size_of(nb, x.bf), 8, "getattr took the change in");
	ok(ofs_ns_changed(nb, &dcol, r1, chg_rec, &lg), "changed d");
	cr_expect(chg_has(&lg, x.bd, NULL));
	cr_expect(chg_has(&lg, x.bf, NULL), "f's inode reported");
	chg_clear(&lg);
	ok(ofs_ns_changed(nb, &dcol, r1, chg_rec, &lg), "changed again");
	cr_expect_eq(lg.n, 0, "told once");
	ok(ofs_ns_close(nb), "close b");
}

/* An open of a file another mount removed answers "not found" (ESTALE
 * at the FUSE layer) even when a getattr noticed the removal first (it
 * once opened the stale file, whose old bytes cat then printed). */
Test(ns, shared_open_of_a_file_removed_elsewhere_fails_after_getattr,
    .init = setup, .fini = teardown)
{
	struct ofs_ns  *nb;
	struct ofs_attr at;
	struct xm       x;

	ns_open_peer(&nb, true, 1);
	xm_setup(&x, nb);
	ok(ofs_unlink(env.ns, x.d, "f"), "unlink f");
	ok(ofs_flush(env.ns, x.d, 0, true), "flush d");
	usleep(5000);
	(void) ofs_getattr(nb, x.bf, &at); /* notices the removal */
	cr_expect_eq(ofs_open(nb, x.bf, &at), O_ENOTFOUND, "open: %s",
	    o_err_detail());
	ok(ofs_ns_close(nb), "close b");
}

/* A change announcement: the right inodes and names, the new data after,
 * and nothing for what the namespace does not hold or has seen. */
Test(ns, changed_reports_what_another_mount_committed, .init = setup,
    .fini = teardown)
{
	struct ofs_ns  *nb;
	struct ofs_attr at;
	struct chg_log  lg = { 0 };
	struct oc_bid   dcol, lcol, other;
	struct xm       x;
	int64_t         r0, r1, r2;

	ns_open_peer(&nb, true, 600000);
	xm_setup(&x, nb);
	xm_change(&x);
	dcol = coll_of(env.ns, x.d, &r1);
	lcol = coll_of(env.ns, x.l, &r2);
	(void) coll_of(nb, x.bd, &r0);
	cr_assert_lt(r0, r1);
	/* the diary: its inode, then reads and size are new */
	ok(ofs_ns_changed(nb, &lcol, r2, chg_rec, &lg), "changed log");
	cr_expect_eq(lg.n, 1);
	cr_expect(chg_has(&lg, x.bl, NULL));
	cr_expect_eq(size_of(nb, x.bl), 6);
	expect_contents(nb, x.bl, "l1\nl2\n");
	chg_clear(&lg);
	/* the directory: its inode, the names touched, their inodes */
	ok(ofs_ns_changed(nb, &dcol, r1, chg_rec, &lg), "changed d");
	cr_expect(chg_has(&lg, x.bd, NULL));
	cr_expect(chg_has(&lg, x.bd, "new"));
	cr_expect(chg_has(&lg, x.bd, "f"), "f's entry holds its size");
	cr_expect(chg_has(&lg, x.bf, NULL));
	cr_expect(!chg_has(&lg, x.bd, "log"), "log's entry is unchanged");
	cr_expect(!chg_has(&lg, x.bl, NULL));
	ok(ofs_lookup(nb, x.bd, "new", &at), "lookup new");
	expect_contents(nb, x.bf, "version2");
	chg_clear(&lg);
	/* the same rev again, an older one: nothing */
	ok(ofs_ns_changed(nb, &dcol, r1, chg_rec, &lg), "changed again");
	ok(ofs_ns_changed(nb, &dcol, r1 - 1, chg_rec, &lg), "changed older");
	cr_expect_eq(lg.n, 0);
	/* a collection nb does not hold: nothing, O_OK */
	oc_bid_random(&other);
	ok(ofs_ns_changed(nb, &other, 5, chg_rec, &lg), "changed other");
	cr_expect_eq(lg.n, 0);
	/* an older rev is a no-op also when newer commits exist */
	ok(ofs_unlink(env.ns, x.d, "new"), "unlink new");
	ok(ofs_flush(env.ns, x.d, 0, true), "flush d");
	(void) coll_of(env.ns, x.d, &r2);
	ok(ofs_ns_changed(nb, &dcol, r1, chg_rec, &lg), "changed stale rev");
	cr_expect_eq(lg.n, 0);
	ok(ofs_lookup(nb, x.bd, "new", &at), "not refreshed by a stale rev");
	ok(ofs_ns_changed(nb, &dcol, r2, chg_rec, &lg), "changed unlink");
	cr_expect(chg_has(&lg, x.bd, "new"));
	cr_expect_eq(ofs_lookup(nb, x.bd, "new", &at), O_ENOTFOUND);
	chg_clear(&lg);
	/* nb's own commits are not news to nb */
	(void) create_(nb, x.bd, "mine", OFS_FILE);
	ok(ofs_flush(nb, x.bd, 0, true), "flush b's d");
	(void) coll_of(nb, x.bd, &r2);
	ok(ofs_ns_changed(nb, &dcol, r2, chg_rec, &lg), "changed own");
	cr_expect_eq(lg.n, 0, "own commit reported (%zu calls)", lg.n);
	ok(ofs_ns_close(nb), "close b");
}

/* Renames and mkdir across directories; many names: only the directory. */
Test(ns, changed_names_across_directories, .init = setup, .fini = teardown)
{
	struct ofs_ns  *nb;
	struct ofs_attr at;
	struct chg_log  lg = { 0 };
	struct oc_bid   dcol, ecol;
	struct xm       x;
	uint64_t        e, be;
	int64_t         rd, re;
	char            name[16];
	int             i;

	ns_open_peer(&nb, true, 600000);
	xm_setup(&x, nb);
	e = mkdir_(env.ns, OFS_ROOT_INO, "e");
	ok(ofs_flush(env.ns, OFS_ROOT_INO, 0, true), "flush root");
	ok(ofs_ns_refresh(nb, OFS_ROOT_INO), "refresh root");
	be = lookup_(nb, OFS_ROOT_INO, "e");
	cr_expect_eq(open_size(nb, be), 0);
	ok(ofs_rename(env.ns, x.d, "f", e, "g"), "rename d/f e/g");
	(void) mkdir_(env.ns, e, "sub");
	ok(ofs_flush(env.ns, e, 0, true), "flush e");
	ok(ofs_flush(env.ns, x.d, 0, true), "flush d");
	dcol = coll_of(env.ns, x.d, &rd);
	ecol = coll_of(env.ns, e, &re);
	ok(ofs_ns_changed(nb, &ecol, re, chg_rec, &lg), "changed e");
	cr_expect(chg_has(&lg, be, NULL));
	cr_expect(chg_has(&lg, be, "g"));
	cr_expect(chg_has(&lg, be, "sub"));
	cr_expect(!chg_has(&lg, x.bd, NULL));
	chg_clear(&lg);
	ok(ofs_ns_changed(nb, &dcol, rd, chg_rec, &lg), "changed d");
	cr_expect(chg_has(&lg, x.bd, NULL));
	cr_expect(chg_has(&lg, x.bd, "f"));
	cr_expect(chg_has(&lg, x.bf, NULL));
	chg_clear(&lg);
	cr_expect_eq(ofs_lookup(nb, x.bd, "f", &at), O_ENOTFOUND);
	ok(ofs_lookup(nb, be, "g", &at), "lookup e/g");
	cr_expect_eq(at.ino, x.bf, "the same object keeps its inode");
	expect_contents(nb, at.ino, "v1");
	ok(ofs_lookup(nb, be, "sub", &at), "lookup e/sub");
	cr_expect_eq(at.kind, OFS_DIR);
	/* more names than are worth listing: the directory alone */
	for (i = 0; i < 100; i++) {
		snprintf(name, sizeof(name), "n%03d", i);
		(void) create_(env.ns, e, name, OFS_FILE);
	}
	ok(ofs_flush(env.ns, e, 0, true), "flush e");
	(void) coll_of(env.ns, e, &re);
	ok(ofs_ns_changed(nb, &ecol, re, chg_rec, &lg), "changed e (100)");
	cr_expect_eq(lg.n, 1);
	cr_expect(chg_has(&lg, be, NULL));
	chg_clear(&lg);
	ok(ofs_lookup(nb, be, "n099", &at), "lookup e/n099");
	ok(ofs_ns_close(nb), "close b");
}

/* A file's piece collection: its inode is reported and its clean pieces
 * are read again (same size, so only the pieces tell). */
Test(ns, changed_piece_collection_drops_clean_pieces, .init = setup,
    .fini = teardown)
{
	struct ofs_ns  *nb;
	struct chg_log  lg = { 0 };
	struct oc_bid   pcol;
	size_t          n = 300u << 10, got;
	uint8_t        *w = malloc(n), *r = malloc(n);
	uint64_t        a, ba;
	int64_t         rev;

	ns_open_peer(&nb, true, 600000);
	big_x_seen(nb, "big", w, r, n, &a, &ba);
	memset(w, 'Y', n);
	ok(ofs_write(env.ns, a, 0, 0, w, n, false), "write Y");
	ok(ofs_flush(env.ns, a, 0, true), "flush");
	cr_assert_not_null(env.ns->inodes[a]->pcoll);
	pcol = env.ns->inodes[a]->id;
	rev  = oc_coll_rev(env.ns->inodes[a]->pcoll->c);
	ok(ofs_read(nb, ba, 0, n, r, &got), "read b before");
	cr_expect_eq(r[n - 1], 'X', "nothing refreshed yet");
	ok(ofs_ns_changed(nb, &pcol, rev, chg_rec, &lg), "changed pieces");
	cr_expect_eq(lg.n, 1);
	cr_expect(chg_has(&lg, ba, NULL));
	chg_clear(&lg);
	ok(ofs_read(nb, ba, 0, n, r, &got), "read b after");
	cr_expect_eq(got, n);
	cr_expect_eq(r[0], 'Y');
	cr_expect_eq(r[n - 1], 'Y');
	free(w);
	free(r);
	ok(ofs_ns_close(nb), "close b");
}

/*
 * Rewriting a file over and over (what cp onto the same name does:
 * truncate, write, close) keeps the store's history bounded: the rev and
 * mat records hold a few times the file, not one copy per rewrite.
 */
Test(ns, rewrites_keep_the_store_bounded, .init = setup, .fini = teardown)
{
	size_t                n = 3u << 20, i, off;
	uint8_t              *w = malloc(n);
	uint64_t              f = create_(env.ns, OFS_ROOT_INO, "f", OFS_FILE);
	struct ost_repo_count c;
	struct ost_repo_stats st;
	uint64_t              bytes;
	int                   round;

	for (round = 0; round < 30; round++) {
		for (i = 0; i < n; i++)
			w[i] = (uint8_t) ((i + round) * 2654435761u >> 13);
		ok(ofs_truncate(env.ns, f, 0), "truncate");
		for (off = 0; off < n; off += 131072)
			ok(ofs_write(env.ns, f, 0, off, w + off,
			       O_MIN(131072, n - off), false),
			    "write");
		ok(ofs_flush(env.ns, f, 0, true), "flush");
	}
	ok(ost_repo_count(env.repo, NULL, &c), "count");
	ost_repo_stats(env.repo, &st);
	bytes = c.rev_bytes + c.mat_bytes;
	cr_log_info("30 rewrites of %zu bytes: %llu rev + %llu mat records, "
	            "%llu bytes; %llu pruned",
	    n, (unsigned long long) c.rev, (unsigned long long) c.mat,
	    (unsigned long long) bytes, (unsigned long long) st.pruned);
	cr_assert_lt(bytes, 4 * (uint64_t) n,
	    "history of 30 rewrites holds %llu bytes for a %zu-byte file",
	    (unsigned long long) bytes, n);
	cr_assert_eq(c.pend, 0, "pendings left behind");
	expect_file_after_reopen("f", w, n);
	free(w);
}

/*
 * A second, shared namespace that never refreshes on its own (fresh_ms 10
 * minutes) and, with caches_max 1, has its committer drop its block caches
 * every 200 ms, so its reads go to the store (as after a drop under load).
 */
static void
ns_open_lagging(struct ofs_ns **ns)
{
	struct ofs_ns_opts o = { .journal = journal_new(), .shared = true,
		.fresh_ms = 600000, .caches_max = 1 };

	ok(ofs_ns_open(env.tx, &o, ns), "open lagging namespace");
}

/*
 * Wait until nb (opened with caches_max 1) holds no block cache: its
 * committer drops them every 200 ms, so nb's next read goes to the store.
 * Polls instead of sleeping a fixed time, which a loaded machine can
 * outlast.
 */
static void
wait_caches_gone(struct ofs_ns *nb)
{
	struct ofs_ns_stats st;
	int                 i;

	for (i = 0; i < 2000; i++) {
		ofs_ns_stats(nb, &st);
		if (st.cache_bytes == 0)
			return;
		o_sleep_ms(10);
	}
	cr_assert_fail("nb still holds %llu bytes of block caches after 20 s",
	    (unsigned long long) st.cache_bytes);
}

/* A mount that lags far behind another (which committed more often than
 * the store keeps history for, since this one last caught up) reads its
 * held view of a diary and of a file: the store no longer has those revisions
 * (O_ESTALE below the collection), the collection catches up and the
 * read goes on from the latest state; it never fails (it was EIO). */
Test(ns, shared_lagging_diary_reader_catches_up, .init = setup,
    .fini = teardown)
{
	struct ofs_ns        *nb;
	struct ost_repo_stats st;
	struct xm             x;
	char                  buf[64];
	size_t                got;
	int                   i;

	ns_open_lagging(&nb);
	xm_setup(&x, nb);
	for (i = 0; i < 80; i++) {
		append_(env.ns, x.l, "more\n");
		ok(ofs_flush(env.ns, x.l, 0, true), "flush log");
		write_(env.ns, x.f, 0, i % 2 ? "v3" : "v2");
		ok(ofs_flush(env.ns, x.f, 0, true), "flush f");
	}
	ost_repo_stats(env.repo, &st);
	cr_assert_gt(st.pruned, 0, "nothing was pruned: the test shows nothing");
	wait_caches_gone(nb);
	/* nb's view is 80 revisions old: no open, no refresh */
	ok(ofs_read(nb, x.bl, 0, 3, buf, &got), "read at the old view");
	cr_assert_eq(got, 3);
	cr_assert(memcmp(buf, "l1\n", 3) == 0);
	/* the same for a file's directory */
	ok(ofs_read(nb, x.bf, 0, 2, buf, &got), "read f at the old view");
	cr_assert_eq(got, 2);
	cr_assert_eq(open_size(nb, x.bf), 2);
	expect_contents(nb, x.bf, "v3");
	cr_assert_eq(open_size(nb, x.bl), 3 + 5 * 80);
	ok(ofs_read(nb, x.bl, 3 + 5 * 79, 5, buf, &got), "read the last line");
	cr_assert_eq(got, 5);
	cr_assert(memcmp(buf, "more\n", 5) == 0);
	ok(ofs_ns_close(nb), "close b");
}

/* Write n bytes of c over file ino of ns and commit. */
static void
rewrite_(struct ofs_ns *ns, uint64_t ino, uint8_t *w, size_t n, int c)
{
	memset(w, c, n);
	ok(ofs_truncate(ns, ino, n), "truncate");
	ok(ofs_write(ns, ino, 0, 0, w, n, false), "rewrite");
	ok(ofs_flush(ns, ino, 0, true), "flush");
}

/* Each byte of r[0..n) is c. */
static void
expect_all(const uint8_t *r, size_t n, int c, const char *what)
{
	size_t i;

	for (i = 0; i < n && r[i] == c; i++)
		;
	cr_expect_eq(i, n, "%s: byte %zu is '%c', not '%c'", what, i,
	    i < n ? r[i] : '?', c);
}

/*
 * Scenario on file name: mount nb reads (and caches) the start of the
 * file, then the main mount rewrites it 41 times, the last time to `last`
 * bytes of 'z'; nb reads it whole.
 */
static void
lagging_read(struct ofs_ns *nb, const char *name, size_t last)
{
	struct ost_repo_stats st;
	size_t                n = 2 * OFS_PIECE, got = 0;
	uint8_t              *w = malloc(n), *r = calloc(1, n);
	uint64_t              a, ba;
	int                   i;

	a = create_(env.ns, OFS_ROOT_INO, name, OFS_FILE);
	rewrite_(env.ns, a, w, n, 'X');
	ok(ofs_ns_refresh(nb, OFS_ROOT_INO), "refresh b");
	ba = lookup_(nb, OFS_ROOT_INO, name);
	ok(ofs_read(nb, ba, 0, 4096, r, &got), "read b piece 0");
	cr_assert_eq(r[0], 'X');
	for (i = 0; i < 40; i++)
		rewrite_(env.ns, a, w, n, 'a' + i % 26);
	rewrite_(env.ns, a, w, last, 'z');
	ost_repo_stats(env.repo, &st);
	cr_assert_gt(st.pruned, 0, "nothing was pruned: the test shows nothing");
	wait_caches_gone(nb);
	ok(ofs_read(nb, ba, 0, n, r, &got), "read b whole");
	cr_expect_eq(got, last, "%s: read %zu bytes of %zu", name, got, last);
	expect_all(r, got, 'z', name);
	free(w);
	free(r);
}

/*
 * A lagging mount that cached a piece of a file, then reads it after
 * another mount rewrote it past the history the store keeps: the read
 * catches up and returns one version throughout, the newest, with its
 * size (found by review: piece 0 came from the cached old version, piece
 * 1 from the newest; a shrunk file read as zeros past its new end).
 */
Test(ns, shared_lagging_file_reader_reads_one_version, .init = setup,
    .fini = teardown)
{
	struct ofs_ns *nb;

	ns_open_lagging(&nb);
	lagging_read(nb, "same", 2 * OFS_PIECE);
	lagging_read(nb, "shrunk", OFS_PIECE + OFS_PIECE / 2);
	lagging_read(nb, "small", 100); /* inline: in the entry */
	ok(ofs_ns_close(nb), "close b");
}

/*
 * Mount nb caches piece 0 of a file of `size` bytes of 'X'; the main
 * mount then rewrites it 41 times at 2 pieces (the last of 'o'), past the
 * history the store keeps.  Returns nb's inode.
 */
static uint64_t
lagging_setup(struct ofs_ns *nb, const char *name, size_t size)
{
	struct ost_repo_stats st;
	size_t                n = 2 * OFS_PIECE, got, i;
	uint8_t              *w = malloc(n), r[16];
	uint64_t              a, ba;

	a = create_(env.ns, OFS_ROOT_INO, name, OFS_FILE);
	rewrite_(env.ns, a, w, size, 'X');
	ok(ofs_ns_refresh(nb, OFS_ROOT_INO), "refresh b");
	ba = lookup_(nb, OFS_ROOT_INO, name);
	ok(ofs_read(nb, ba, 0, sizeof(r), r, &got), "read b piece 0");
	cr_assert_eq(r[0], 'X');
	for (i = 0; i < 41; i++)
		rewrite_(env.ns, a, w, n, 'a' + i % 26);
	ost_repo_stats(env.repo, &st);
	cr_assert_gt(st.pruned, 0, "nothing was pruned: the test shows nothing");
	wait_caches_gone(nb);
	free(w);
	return ba;
}

/*
 * Writes through a lagging mount whose first try meets pruned history go
 * to the newest version, whole: a write across a piece boundary keeps no
 * piece of the old version, an append goes to the newest end, a truncate
 * cuts the newest version (found by review: piece 0 stayed 'X'; the
 * append landed at the old end, inside the file).
 */
Test(ns, shared_lagging_writer_writes_on_the_newest_version, .init = setup,
    .fini = teardown)
{
	struct ofs_ns  *nb;
	struct ofs_attr at;
	size_t          n = 2 * OFS_PIECE, got;
	uint8_t        *r = calloc(1, n + 8);
	uint64_t        ba;

	ns_open_lagging(&nb);
	ba = lagging_setup(nb, "w", n);
	ok(ofs_write(nb, ba, 0, OFS_PIECE - 1, "AB", 2, false), "write b");
	ok(ofs_flush(nb, ba, 0, true), "flush b");
	ok(ofs_read(nb, ba, 0, n, r, &got), "read b");
	cr_expect_eq(got, n);
	expect_all(r, OFS_PIECE - 1, 'o', "w before the write");
	cr_expect(r[OFS_PIECE - 1] == 'A' && r[OFS_PIECE] == 'B');
	expect_all(r + OFS_PIECE + 1, n - OFS_PIECE - 1, 'o', "w after");

	ba = lagging_setup(nb, "a", OFS_PIECE + 100);
	ok(ofs_write(nb, ba, 0, 0, "AB", 2, true), "append b");
	ok(ofs_getattr(nb, ba, &at), "getattr");
	cr_expect_eq(at.size, n + 2);
	ok(ofs_read(nb, ba, 0, n + 8, r, &got), "read b");
	cr_expect_eq(got, n + 2);
	expect_all(r, n, 'o', "a before the append");
	cr_expect(memcmp(r + n, "AB", 2) == 0, "the append at the end");

	ba = lagging_setup(nb, "t", n);
	ok(ofs_truncate(nb, ba, OFS_PIECE + 10), "truncate b");
	ok(ofs_read(nb, ba, 0, n, r, &got), "read b");
	cr_expect_eq(got, OFS_PIECE + 10);
	expect_all(r, got, 'o', "t");
	free(r);
	ok(ofs_ns_close(nb), "close b");
}

/*
 * Appends move a diary's mtime and ctime (POSIX: a write does), queued and
 * committed, and after a reopen; a chmod and an xattr change keep the
 * mtime the appends gave, and a utimens sets it until the next append.
 */
static int64_t
mtime_of(struct ofs_ns *ns, uint64_t ino, int64_t *ctime)
{
	struct ofs_attr a;

	ok(ofs_getattr(ns, ino, &a), "getattr");
	if (ctime != NULL)
		*ctime = a.ctime_ns;
	return a.mtime_ns;
}

#define MS 1000000ll

static int64_t
now_wall_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t) ts.tv_sec * 1000000000 + ts.tv_nsec;
}

Test(ns, appends_move_a_diarys_mtime, .init = setup, .fini = teardown)
{
	uint64_t y;
	int64_t  made, w, q, c, ct;

	reopen_quiet(); /* the append below stays queued until the flush */
	y    = create_(env.ns, OFS_ROOT_INO, "log", OFS_DIARY);
	made = mtime_of(env.ns, y, NULL);

	usleep(20000);
	w = now_wall_ns();
	append_(env.ns, y, "one\n");
	q = mtime_of(env.ns, y, &ct);
	cr_expect_geq(q, w, "a queued append moves the mtime");
	cr_expect_eq(ct, q, "and the ctime with it");
	ok(ofs_flush(env.ns, y, 0, true), "flush");
	c = mtime_of(env.ns, y, NULL);
	cr_expect_geq(c, w - MS, "committed: its commit's time (ms)");
	reopen();
	y = lookup_(env.ns, OFS_ROOT_INO, "log");
	cr_expect_eq(mtime_of(env.ns, y, NULL), c / MS * MS,
	    "after a reopen: the commit's time, not the creation's (%" PRId64
	    ")",
	    made);
}

Test(ns, a_diarys_mtime_kept_by_chmod_and_xattrs_set_by_utimens, .init = setup,
    .fini = teardown)
{
	struct ofs_ns_opts o   = { .commit_interval_ms = 60000 };
	const int64_t      old = 1000000000ll * 1000000000ll;
	uint64_t           y;
	int64_t            m, m2, ct, ct2;

	/* appends stay queued until a flush */
	ns_reopen_with(&o, "reopen with a long commit interval");
	y = create_(env.ns, OFS_ROOT_INO, "log", OFS_DIARY);
	usleep(20000);
	append_(env.ns, y, "one\n");
	ok(ofs_flush(env.ns, y, 0, true), "flush");
	m = mtime_of(env.ns, y, &ct);
	usleep(20000);
	ok(ofs_setxattr(env.ns, y, "user.k", "v", 1), "setxattr");
	m2 = mtime_of(env.ns, y, &ct2);
	cr_expect_eq(m2, m, "an xattr change keeps the append's mtime");
	cr_expect_gt(ct2, ct + 10 * MS, "and moves the ctime");
	ns_reopen_with(&o, "reopen");
	y = lookup_(env.ns, OFS_ROOT_INO, "log");
	cr_expect_eq(mtime_of(env.ns, y, NULL), m, "kept in the record");

	/* an append still queued at an xattr change: committed first */
	usleep(20000);
	append_(env.ns, y, "one and a half\n");
	m = mtime_of(env.ns, y, NULL);
	ok(ofs_setxattr(env.ns, y, "user.k", "w", 1), "setxattr queued");
	m2 = mtime_of(env.ns, y, &ct);
	cr_expect_leq(m2, ct, "the queued append came before the change");
	usleep(20000); /* a later commit time, were it taken now */
	ok(ofs_flush(env.ns, y, 0, true), "flush one and a half");
	cr_expect_eq(mtime_of(env.ns, y, NULL), m2,
	    "an xattr change keeps the queued append's mtime (%" PRId64 ")",
	    m);

	/* appends still queued when the record changes: committed first,
	 * so their commit's time does not overrule the change */
	usleep(20000);
	append_(env.ns, y, "two\n");
	m = mtime_of(env.ns, y, NULL);
	ok(ofs_setattr(env.ns, y, true, 0600, false, 0, NULL, NULL), "chmod");
	m2 = mtime_of(env.ns, y, &ct);
	cr_expect_geq(m2, m - MS, "a chmod keeps the queued append's mtime");
	cr_expect_leq(m2, ct, "which came before the chmod");
	usleep(20000); /* a later commit time, were it taken now */
	ok(ofs_flush(env.ns, y, 0, true), "flush two");
	cr_expect_eq(mtime_of(env.ns, y, NULL), m2, "and after its commit");
	append_(env.ns, y, "three\n");
	ok(ofs_setattr(env.ns, y, false, 0, true, old, NULL, NULL), "utimens");
	cr_expect_eq(mtime_of(env.ns, y, NULL), old, "utimens sets the mtime");
	usleep(20000); /* a later commit time, were it taken now */
	ok(ofs_flush(env.ns, y, 0, true), "flush three");
	cr_expect_eq(mtime_of(env.ns, y, NULL), old,
	    "an append queued before the utimens does not overrule it");
	usleep(20000);
	append_(env.ns, y, "four\n");
	ok(ofs_flush(env.ns, y, 0, true), "flush four");
	cr_expect_gt(
	    mtime_of(env.ns, y, NULL), ct, "the next append moves it again");
}

/* Shared mode: a removal is committed before it returns, and another
 * namespace that still holds the removed diary or directory (no refresh
 * since: a long fresh bound, and no one tells it) finds it gone at its
 * next open or creation in it, instead of writing where no entry names. */
Test(ns, shared_open_and_create_see_another_mounts_removal, .init = setup,
    .fini = teardown)
{
	struct ofs_ns_opts o = { .shared = true, .fresh_ms = 60000 };
	struct ofs_ns  *nb;
	struct ofs_attr a;
	uint64_t        d, y;

	ns_reopen_with(&o, "reopen shared");
	d = mkdir_(env.ns, OFS_ROOT_INO, "d");
	y = create_(env.ns, OFS_ROOT_INO, "log", OFS_DIARY);
	append_(env.ns, y, "first\n");
	ok(ofs_flush(env.ns, OFS_ROOT_INO, 0, true), "flush");
	ok(ofs_open(env.ns, y, &a), "open log before");
	ns_open_peer(&nb, true, 60000);
	ok(ofs_unlink(nb, OFS_ROOT_INO, "log"), "rm log on b");
	ok(ofs_rmdir(nb, OFS_ROOT_INO, "d"), "rmdir d on b");
	/* b neither flushed nor closed: the removals are committed already;
	 * the open first (it reads the root on its own), then the create */
	cr_assert_eq(ofs_open(env.ns, y, &a), O_ENOTFOUND,
	    "open of the removed diary: %s", o_err_detail());
	cr_assert_eq(ofs_create(env.ns, d, "f", OFS_FILE, 0644, &a),
	    O_ENOTFOUND, "create in the removed directory: %s",
	    o_err_detail());
	cr_assert_eq(ofs_lookup(env.ns, OFS_ROOT_INO, "d", &a), O_ENOTFOUND);
	ok(ofs_ns_close(nb), "close b");
}

/* Shared mode: a chmod on a mount that has not read the diary since
 * another mount appended keeps that append's mtime. */
Test(ns, shared_chmod_keeps_another_mounts_append_mtime, .init = setup,
    .fini = teardown)
{
	struct ofs_ns_opts o = { .shared = true, .fresh_ms = 60000 };
	struct ofs_ns *nb;
	uint64_t       y, by;
	int64_t        w, made, m;

	ns_reopen_with(&o, "reopen shared");
	y = create_(env.ns, OFS_ROOT_INO, "log", OFS_DIARY);
	ok(ofs_flush(env.ns, y, 0, true), "flush created");
	ns_open_peer(&nb, true, 60000);
	by   = lookup_(nb, OFS_ROOT_INO, "log");
	made = mtime_of(nb, by, NULL);
	usleep(20000);
	w = now_wall_ns();
	append_(env.ns, y, "from a\n");
	ok(ofs_flush(env.ns, y, 0, true), "flush the append");
	ok(ofs_setattr(nb, by, true, 0600, false, 0, NULL, NULL),
	    "chmod on b");
	m = mtime_of(nb, by, NULL);
	cr_expect_geq(m, w - MS,
	    "b's chmod keeps a's append's mtime (%" PRId64 ", created %" PRId64
	    ")",
	    m, made);
	ok(ofs_ns_close(nb), "close b");
}

/* ---- bringing commits to disk (oc_tx_sync) -------------------------------
 */

/* A transactor that passes every call on to the store's, counting sync
 * and failing it on demand: what the namespace asks of a lazily synced
 * store, and what it does when the disk refuses. */
static struct {
	struct oc_transactor  base;
	struct oc_transactor *in;
	atomic_int            syncs;
	atomic_int            commits;     /* commits passed on */
	atomic_int            synced_upto; /* commits before the last sync */
	atomic_bool           fail;        /* syncs fail */
	atomic_bool           fail_commit; /* pend_commit fails */
} stx;

static o_err
stx_get(struct oc_transactor *t, const struct oc_bid *ids, size_t n,
    const struct oc_actx *ctx, struct oc_get_res *out)
{
	(void) t;
	return stx.in->ops->get(stx.in, ids, n, ctx, out);
}

static o_err
stx_pend(struct oc_transactor *t, const struct oc_pend_req *req,
    struct oc_txres *res)
{
	(void) t;
	return stx.in->ops->pend(stx.in, req, res);
}

static o_err
stx_commit(struct oc_transactor *t, const struct oc_commit_req *req,
    struct oc_txres *res)
{
	(void) t;
	atomic_fetch_add(&stx.commits, 1);
	return stx.in->ops->commit(stx.in, req, res);
}

static o_err
stx_cancel(struct oc_transactor *t, const struct oc_aid *aid,
    const struct oc_bid *ids, size_t n)
{
	(void) t;
	return stx.in->ops->cancel(stx.in, aid, ids, n);
}

static o_err
stx_status(struct oc_transactor *t, const struct oc_aid *aid, int64_t rev,
    const struct oc_bid *ids, size_t n, uint8_t *out)
{
	(void) t;
	return stx.in->ops->status(stx.in, aid, rev, ids, n, out);
}

static o_err
stx_pend_commit(struct oc_transactor *t, const struct oc_pend_req *preq,
    const struct oc_commit_req *creq, struct oc_txres *res)
{
	(void) t;
	if (atomic_load(&stx.fail_commit))
		return o_err_set(O_EIO, "test: injected commit failure");
	atomic_fetch_add(&stx.commits, 1);
	return stx.in->ops->pend_commit(stx.in, preq, creq, res);
}

static o_err
stx_sync(struct oc_transactor *t)
{
	(void) t;
	atomic_fetch_add(&stx.syncs, 1);
	atomic_store(&stx.synced_upto, atomic_load(&stx.commits));
	if (atomic_load(&stx.fail))
		return o_err_set(O_EIO, "test: injected sync failure");
	return oc_tx_sync(stx.in);
}

static const struct oc_transactor_ops stx_ops = { stx_get, stx_pend,
	stx_commit, stx_cancel, stx_status, stx_pend_commit, stx_sync };

/* env.ns closed and opened again over stx (commit interval in ms) */
static void
ns_over_stx(int64_t interval_ms)
{
	struct ofs_ns_opts o = { .commit_interval_ms = interval_ms };

	memset(&stx, 0, sizeof(stx));
	stx.base.ops = &stx_ops;
	stx.in       = env.tx;
	env.tx       = &stx.base;
	ns_reopen_with(&o, "open over the counting transactor");
}

/*
 * close (flush without wait) commits and asks nothing of the disk; fsync
 * (flush with wait) commits and syncs, and a failed sync fails it, naming
 * the path and the cause, with the change committed all the same; the
 * unmount syncs too and reports a failure.
 */
Test(ns, fsync_brings_commits_to_disk_and_close_does_not, .init = setup,
    .fini = teardown)
{
	uint64_t y;
	o_err    e;

	ns_over_stx(3600000); /* no committer round meanwhile */
	y = create_(env.ns, OFS_ROOT_INO, "log", OFS_DIARY);
	append_(env.ns, y, "a\n");
	ok(ofs_flush(env.ns, y, 0, false), "close");
	cr_expect_eq(atomic_load(&stx.syncs), 0, "a close synced the disk");
	ok(ofs_flush(env.ns, y, 0, true), "fsync");
	cr_expect_eq(atomic_load(&stx.syncs), 1, "syncs after an fsync: %d",
	    atomic_load(&stx.syncs));

	atomic_store(&stx.fail, true);
	append_(env.ns, y, "b\n");
	e = ofs_flush(env.ns, y, 0, true);
	cr_assert_eq(e, O_EIO, "fsync with a failing sync: %s", o_errname(e));
	cr_expect(
	    strstr(o_err_detail(),
	        "fsync /log: committed, but the store's log could not "
	        "be synced to disk: test: injected sync failure") != NULL,
	    "%s", o_err_detail());
	expect_contents(env.ns, y, "a\nb\n");
	ok(ofs_flush(env.ns, y, 0, false), "a close with the disk failing");

	e      = ofs_ns_close(env.ns);
	env.ns = NULL;
	cr_expect_eq(
	    e, O_EIO, "unmount with a failing sync: %s", o_errname(e));
	cr_expect(strstr(o_err_detail(),
	              "unmount: the store's log could not be synced to disk: "
	              "test: injected sync failure") != NULL,
	    "%s", o_err_detail());
	cr_expect_geq(atomic_load(&stx.syncs), 3);

	env.tx = stx.in;
	ns_open_opts(&env.ns, false, 0);
	y = lookup_(env.ns, OFS_ROOT_INO, "log");
	expect_contents(env.ns, y, "a\nb\n");
}

/*
 * An unmount whose last commits fail and whose sync fails too reports the
 * first failure with its own detail (not the sync's, which comes later),
 * and keeps the uncommitted work for the next mount.
 */
Test(ns, unmount_reports_its_first_failure, .init = setup, .fini = teardown)
{
	uint64_t y;
	o_err    e;

	ns_over_stx(3600000); /* no committer round meanwhile */
	y = create_(env.ns, OFS_ROOT_INO, "log", OFS_DIARY);
	append_(env.ns, y, "a\n");
	ok(ofs_flush(env.ns, y, 0, false), "close");
	append_(env.ns, y, "b\n"); /* queued, never closed */
	atomic_store(&stx.fail_commit, true);
	atomic_store(&stx.fail, true);
	e      = ofs_ns_close(env.ns);
	env.ns = NULL;
	cr_expect_eq(e, O_EIO, "unmount: %s", o_errname(e));
	cr_expect(strstr(o_err_detail(), "injected commit failure") != NULL,
	    "not the commit's detail: %s", o_err_detail());
	cr_expect(strstr(o_err_detail(), "synced to disk") == NULL,
	    "a later failure's detail: %s", o_err_detail());

	env.tx = stx.in;
	journal_recover(); /* as the next mount does */
	ns_open_opts(&env.ns, false, 0);
	y = lookup_(env.ns, OFS_ROOT_INO, "log");
	expect_contents(env.ns, y, "a\nb\n");
}

/* The committer syncs every commit interval: a change only closed
 * reaches the disk without an fsync (a sync comes after its commit). */
Test(ns, the_committer_syncs_every_interval, .init = setup, .fini = teardown)
{
	uint64_t y;
	int      i, c;

	ns_over_stx(20);
	y = create_(env.ns, OFS_ROOT_INO, "log", OFS_DIARY);
	append_(env.ns, y, "a\n");
	ok(ofs_flush(env.ns, y, 0, false), "close");
	c = atomic_load(&stx.commits);
	cr_assert_gt(c, 0, "the close committed nothing");
	for (i = 0; i < 500 && atomic_load(&stx.synced_upto) < c; i++)
		o_sleep_ms(10);
	cr_expect_geq(atomic_load(&stx.synced_upto), c,
	    "no sync after the close's commit within 5 s");
	ok(ofs_ns_close(env.ns), "close");
	env.ns = NULL;
	env.tx = stx.in;
}

/* A name in nb's root: O_OK or O_ENOTFOUND (after a refresh). */
static o_err
peer_lookup(
    struct ofs_ns *nb, uint64_t dir, const char *name, struct ofs_attr *a)
{
	ok(ofs_ns_refresh(nb, dir), "refresh");
	return ofs_lookup(nb, dir, name, a);
}

/* A write-back of a file's record on one mount, queued before it read
 * another mount's rm or rename of the file, neither brings the removed
 * name back nor the renamed one: it is dropped, or follows the object to
 * its new name within the directory (core/tree.h "if", "fw").  Before,
 * its blind put made the name reappear (cluster exploratory report). */
Test(ns, shared_write_back_neither_revives_nor_loses_a_renamed_name,
    .init = setup, .fini = teardown)
{
	struct ofs_ns  *na, *nb;
	struct ofs_attr a;
	uint64_t        g, m, m2;

	ns_open_peer(&na, true, 600000);
	ns_open_peer(&nb, true, 600000);
	g  = create_(na, OFS_ROOT_INO, "gone", OFS_FILE);
	m  = create_(na, OFS_ROOT_INO, "moved", OFS_FILE);
	m2 = create_(na, OFS_ROOT_INO, "moved2", OFS_FILE);
	write_(na, g, 0, "v1");
	write_(na, m, 0, "v1");
	write_(na, m2, 0, "v1");
	ok(ofs_flush(na, g, 0, true), "flush gone");
	ok(ofs_flush(na, m, 0, true), "flush moved");
	ok(ofs_flush(na, m2, 0, true), "flush moved2");
	ok(ofs_ns_refresh(nb, OFS_ROOT_INO), "b reads the root");
	ok(ofs_unlink(nb, OFS_ROOT_INO, "gone"), "b: rm gone");
	ok(ofs_rename(nb, OFS_ROOT_INO, "moved", OFS_ROOT_INO, "there"),
	    "b: mv moved there");
	ok(ofs_rename(nb, OFS_ROOT_INO, "moved2", OFS_ROOT_INO, "there2"),
	    "b: mv moved2 there2");
	/* a has not read the root since: moved's commit meets b's changes
	 * at the rebase (the filter follows it); the others are staged
	 * after that rebase took them in, and are caught up before they
	 * stage (ent_stage: gone is dropped, moved2 found under there2) */
	write_(na, g, 0, "v2");
	write_(na, m, 0, "v2");
	write_(na, m2, 0, "v2");
	ok(ofs_flush(na, m, 0, true), "a: flush moved");
	ok(ofs_flush(na, g, 0, true), "a: flush gone");
	ok(ofs_flush(na, m2, 0, true), "a: flush moved2");
	cr_expect_eq(peer_lookup(nb, OFS_ROOT_INO, "moved2", &a), O_ENOTFOUND,
	    "moved2 came back");
	ok(peer_lookup(nb, OFS_ROOT_INO, "there2", &a), "there2");
	expect_contents(nb, a.ino, "v2");
	cr_expect_eq(peer_lookup(nb, OFS_ROOT_INO, "gone", &a), O_ENOTFOUND,
	    "the removed name came back");
	cr_expect_eq(peer_lookup(nb, OFS_ROOT_INO, "moved", &a), O_ENOTFOUND,
	    "the renamed name came back");
	ok(peer_lookup(nb, OFS_ROOT_INO, "there", &a), "there");
	expect_contents(nb, a.ino, "v2");
	ok(ofs_ns_close(na), "close a");
	ok(ofs_ns_close(nb), "close b");
}

/* Two mounts rename one file at the same time, within its directory and
 * across directories: one rename wins, the other fails with ENOENT
 * (O_ENOTFOUND) and leaves nothing behind, so the file has one name.
 * Before, both succeeded: one object under two names (cluster
 * exploratory report, 22 of 30 runs). */
Test(ns, shared_two_mounts_renaming_one_file_one_wins, .init = setup,
    .fini = teardown)
{
	struct ofs_ns  *na, *nb;
	struct ofs_attr a;
	uint64_t        s, t, u, bs, bt, bu;
	o_err           e;

	ns_open_peer(&na, true, 600000);
	ns_open_peer(&nb, true, 600000);
	s = mkdir_(na, OFS_ROOT_INO, "s");
	t = mkdir_(na, OFS_ROOT_INO, "t");
	u = mkdir_(na, OFS_ROOT_INO, "u");
	(void) file_(na, s, "f1", "one");
	(void) file_(na, OFS_ROOT_INO, "f2", "two");
	ok(peer_lookup(nb, OFS_ROOT_INO, "s", &a), "b: s");
	bs = a.ino;
	ok(peer_lookup(nb, OFS_ROOT_INO, "t", &a), "b: t");
	bt = a.ino;
	ok(peer_lookup(nb, OFS_ROOT_INO, "u", &a), "b: u");
	bu = a.ino;
	ok(peer_lookup(nb, bs, "f1", &a), "b: s/f1");
	/* within a directory */
	ok(ofs_rename(nb, OFS_ROOT_INO, "f2", OFS_ROOT_INO, "g2"),
	    "b: mv f2 g2");
	e = ofs_rename(na, OFS_ROOT_INO, "f2", OFS_ROOT_INO, "h2");
	cr_expect_eq(e, O_ENOTFOUND, "a: mv f2 h2 after b's: %s (%s)",
	    o_errname(e), o_err_detail());
	cr_expect(strstr(o_err_detail(), "another mount") != NULL,
	    "the error says why: %s", o_err_detail());
	/* across directories */
	ok(ofs_rename(nb, bs, "f1", bt, "g1"), "b: mv s/f1 t/g1");
	e = ofs_rename(na, s, "f1", u, "h1");
	cr_expect_eq(e, O_ENOTFOUND, "a: mv s/f1 u/h1 after b's: %s (%s)",
	    o_errname(e), o_err_detail());
	/* one name each, on both mounts */
	cr_expect_eq(peer_lookup(na, OFS_ROOT_INO, "h2", &a), O_ENOTFOUND);
	cr_expect_eq(peer_lookup(nb, OFS_ROOT_INO, "h2", &a), O_ENOTFOUND);
	cr_expect_eq(peer_lookup(na, OFS_ROOT_INO, "f2", &a), O_ENOTFOUND);
	ok(peer_lookup(na, OFS_ROOT_INO, "g2", &a), "a: g2");
	expect_contents(na, a.ino, "two");
	cr_expect_eq(peer_lookup(na, u, "h1", &a), O_ENOTFOUND,
	    "a's target half was committed");
	cr_expect_eq(peer_lookup(nb, bu, "h1", &a), O_ENOTFOUND);
	cr_expect_eq(peer_lookup(na, s, "f1", &a), O_ENOTFOUND);
	ok(peer_lookup(na, t, "g1", &a), "a: t/g1");
	expect_contents(na, a.ino, "one");
	ok(peer_lookup(nb, bt, "g1", &a), "b: t/g1");
	/* the rename that lost can be made again, from the new name */
	ok(ofs_rename(na, t, "g1", u, "h1"), "a: mv t/g1 u/h1");
	cr_expect_eq(peer_lookup(nb, bt, "g1", &a), O_ENOTFOUND);
	ok(peer_lookup(nb, bu, "h1", &a), "b: u/h1");
	ok(ofs_ns_close(na), "close a");
	ok(ofs_ns_close(nb), "close b");
}

/* sync_hook: at the first commit of a directory after it is armed, run
 * the other mount's operation (in the committing thread, before the
 * commit: the two are concurrent for the namespace). */
static struct {
	bool armed;
	o_err (*op)(struct ofs_ns *ns, uint64_t dir, const char *name);
	struct ofs_ns *ns;
	uint64_t       dir;
	const char    *name;
	o_err          e;
	pthread_t      tester; /* only its commits (not the committer's) */
	uint64_t       dir2;   /* rival_rename: the target */
	const char    *name2;
} rival;

static o_err
rival_rename(struct ofs_ns *ns, uint64_t dir, const char *name)
{
	return ofs_rename(ns, dir, name, rival.dir2, rival.name2);
}

static o_err
rival_create(struct ofs_ns *ns, uint64_t dir, const char *name)
{
	struct ofs_attr a;

	return ofs_create(ns, dir, name, OFS_FILE, 0644, &a);
}

static void
rival_hook(void *arg, uint8_t kind)
{
	(void) arg;
	if (kind != OFS_DIR || !rival.armed ||
	    !pthread_equal(pthread_self(), rival.tester))
		return;
	rival.armed = false;
	rival.e     = rival.op(rival.ns, rival.dir, rival.name);
}

/* Reopen env.ns shared with the rival hook; *nb: a second mount. */
static void
rival_mounts(struct ofs_ns **nb)
{
	static struct ofs_ns_opts o;

	o = (struct ofs_ns_opts) {
		.shared = true, .fresh_ms = 600000, .sync_hook = rival_hook
	};
	ns_reopen_with(&o, "reopen shared, with the hook");
	ns_open_peer(nb, true, 600000);
}

/*
 * Shared mode: an rmdir on one mount and a creation in that directory on
 * another at the same time (each after the other's checks, before its
 * commit): exactly one takes effect.  The rmdir committed first: the
 * creation is refused (ENOENT), nothing acknowledged is left where no
 * name reaches.  The creation committed first: the rmdir is refused
 * (ENOTEMPTY) and the file stays.  Before, both succeeded.
 */
Test(ns, shared_rmdir_and_a_creation_in_it_one_wins, .init = setup,
    .fini = teardown)
{
	struct ofs_ns  *nb;
	struct ofs_attr a;
	uint64_t        d, f, bd, bd2;
	o_err           e;

	rival_mounts(&nb);
	d = mkdir_(env.ns, OFS_ROOT_INO, "d");
	(void) mkdir_(env.ns, OFS_ROOT_INO, "d2");
	ok(peer_lookup(nb, OFS_ROOT_INO, "d", &a), "b: d");
	bd = a.ino;
	ok(peer_lookup(nb, OFS_ROOT_INO, "d2", &a), "b: d2");
	bd2 = a.ino;

	/* a creates d/f; b's rmdir d commits just before a's commit */
	rival = (typeof(rival)) { true, ofs_rmdir, nb, OFS_ROOT_INO, "d", O_OK,
		pthread_self(), 0, NULL };
	e = ofs_create(env.ns, d, "f", OFS_FILE, 0644, &a);
	cr_assert(!rival.armed, "the hook did not run");
	ok(rival.e, "b: rmdir d");
	cr_expect_eq(e, O_ENOTFOUND,
	    "a: create d/f after b's rmdir d: %s (%s)", o_errname(e),
	    o_err_detail());
	cr_expect(strstr(o_err_detail(), "removed the directory") != NULL,
	    "the error says why: %s", o_err_detail());
	cr_expect_eq(peer_lookup(env.ns, OFS_ROOT_INO, "d", &a), O_ENOTFOUND,
	    "a: d is still there");
	cr_expect_eq(peer_lookup(nb, OFS_ROOT_INO, "d", &a), O_ENOTFOUND);

	/* a's rmdir d2; b's create d2/g commits just before a's commit */
	rival = (typeof(rival)) { true, rival_create, nb, bd2, "g", O_OK,
		pthread_self(), 0, NULL };
	e     = ofs_rmdir(env.ns, OFS_ROOT_INO, "d2");
	cr_assert(!rival.armed, "the hook did not run");
	ok(rival.e, "b: create d2/g");
	cr_expect_eq(e, O_ENOTEMPTY, "a: rmdir d2 after b's create: %s (%s)",
	    o_errname(e), o_err_detail());
	cr_expect(strstr(o_err_detail(), "another mount") != NULL,
	    "the error says why: %s", o_err_detail());
	ok(peer_lookup(env.ns, OFS_ROOT_INO, "d2", &a), "a: d2");
	ok(peer_lookup(env.ns, a.ino, "g", &a), "a: d2/g");
	ok(peer_lookup(nb, OFS_ROOT_INO, "d2", &a), "b: d2");
	ok(peer_lookup(nb, bd2, "g", &a), "b: d2/g");
	/* and once empty, it goes */
	ok(ofs_unlink(nb, bd2, "g"), "b: rm d2/g");
	ok(ofs_ns_refresh(env.ns, OFS_ROOT_INO), "a: refresh");
	ok(ofs_ns_refresh(env.ns, lookup_(env.ns, OFS_ROOT_INO, "d2")),
	    "a: refresh d2");
	ok(ofs_rmdir(env.ns, OFS_ROOT_INO, "d2"), "a: rmdir d2");
	cr_expect_eq(peer_lookup(nb, OFS_ROOT_INO, "d2", &a), O_ENOTFOUND);

	/* b's rmdir d3, taken in by a (its collection refreshed, not the
	 * root); a's mv f3 d3/f3 is refused and f3 stays */
	d = mkdir_(env.ns, OFS_ROOT_INO, "d3");
	f = create_(env.ns, OFS_ROOT_INO, "f3", OFS_FILE);
	write_(env.ns, f, 0, "three");
	ok(ofs_flush(env.ns, f, 0, true), "flush f3");
	ok(peer_lookup(nb, OFS_ROOT_INO, "d3", &a), "b: d3");
	ok(ofs_rmdir(nb, OFS_ROOT_INO, "d3"), "b: rmdir d3");
	(void) ofs_ns_refresh(env.ns, d);
	e = ofs_rename(env.ns, OFS_ROOT_INO, "f3", d, "f3");
	cr_expect_eq(e, O_ENOTFOUND, "a: mv f3 d3/ after b's rmdir: %s (%s)",
	    o_errname(e), o_err_detail());
	ok(peer_lookup(env.ns, OFS_ROOT_INO, "f3", &a), "a: f3 was lost");
	expect_contents(env.ns, a.ino, "three");
	ok(peer_lookup(nb, OFS_ROOT_INO, "f3", &a), "b: f3 was lost");

	/* an rmdir whose commit fails is given up whole: the directory is
	 * neither removed nor retired, now or at a later commit */
	d = mkdir_(env.ns, OFS_ROOT_INO, "d4");
	atomic_store(&fail_writes, 1);
	e = ofs_rmdir(env.ns, OFS_ROOT_INO, "d4");
	atomic_store(&fail_writes, 0);
	cr_expect_neq(e, O_OK, "rmdir d4 with failing commits succeeded");
	ok(ofs_flush(env.ns, OFS_ROOT_INO, 0, true), "a: flush the root");
	ok(ofs_flush(env.ns, d, 0, true), "a: flush d4");
	ok(peer_lookup(nb, OFS_ROOT_INO, "d4", &a), "b: d4 was removed");
	bd = a.ino;
	ok(rival_create(nb, bd, "h"), "b: create d4/h (d4 retired?)");
	ok(peer_lookup(env.ns, d, "h", &a), "a: d4/h");
	ok(ofs_ns_close(nb), "close b");
}

/*
 * Shared mode: a chmod or setxattr on a mount whose directory took in
 * another mount's entries at a rebase (its held rev past what it had
 * seen) keeps the change: the catch-up reads the record before the
 * change, not after it (which put the old mode back and stored it).
 * From the review: the reply said 644 after a chmod 600.
 */
Test(ns, shared_chmod_after_a_rebase_took_in_rivals_keeps_the_change,
    .init = setup, .fini = teardown)
{
	struct ofs_ns  *na, *nb;
	struct ofs_attr a;
	uint64_t        f, g;
	char            v[16];
	size_t          n = 0;

	ns_open_peer(&na, true, 600000);
	ns_open_peer(&nb, true, 600000);
	f = create_(na, OFS_ROOT_INO, "f", OFS_FILE);
	g = create_(na, OFS_ROOT_INO, "g", OFS_FILE);
	(void) create_(nb, OFS_ROOT_INO, "h", OFS_FILE);
	write_(na, g, 0, "g");
	ok(ofs_flush(na, g, 0, true), "a: flush g (a rebase takes in h)");
	ok(ofs_setattr(na, f, true, 0600, false, 0, NULL, &a), "a: chmod f");
	cr_expect_eq(a.mode & 07777, 0600, "chmod's reply: %o", a.mode);
	ok(ofs_setxattr(na, f, "user.k", "v1", 2), "a: setxattr f");
	ok(ofs_getattr(na, f, &a), "a: getattr f");
	cr_expect_eq(a.mode & 07777, 0600, "a: mode %o", a.mode);
	ok(ofs_flush(na, OFS_ROOT_INO, 0, true), "a: flush the root");
	ok(peer_lookup(nb, OFS_ROOT_INO, "f", &a), "b: f");
	cr_expect_eq(a.mode & 07777, 0600, "b: mode %o", a.mode);
	ok(ofs_getxattr(nb, a.ino, "user.k", v, sizeof(v), &n), "b: getxattr");
	cr_expect(n == 2 && memcmp(v, "v1", 2) == 0, "b: user.k is lost");
	ok(ofs_ns_close(na), "close a");
	ok(ofs_ns_close(nb), "close b");
}

/*
 * Shared mode: a rename across directories whose commit failed (nothing
 * decided) is given up by its link, so a later commit neither deletes a
 * name another mount created meanwhile at the target nor moves the file.
 * Before, the undo was staged as plain actions after the halves, and
 * the retry deleted the other mount's acknowledged file (from the
 * review).
 */
Test(ns, shared_failed_rename_leaves_other_mounts_names_alone, .init = setup,
    .fini = teardown)
{
	struct ofs_ns  *na, *nb;
	struct ofs_attr a;
	uint64_t        s, t, bt;
	o_err           e;

	ns_open_peer(&na, true, 600000);
	ns_open_peer(&nb, true, 600000);
	s = mkdir_(na, OFS_ROOT_INO, "s");
	t = mkdir_(na, OFS_ROOT_INO, "t");
	(void) file_(na, s, "f", "mine");
	ok(peer_lookup(nb, OFS_ROOT_INO, "t", &a), "b: t");
	bt = a.ino;
	atomic_store(&fail_writes, 1);
	e = ofs_rename(na, s, "f", t, "g");
	atomic_store(&fail_writes, 0);
	cr_assert_neq(e, O_OK, "mv s/f t/g with failing commits succeeded");
	ok(ofs_create(nb, bt, "g", OFS_FILE, 0644, &a), "b: create t/g");
	write_(nb, a.ino, 0, "theirs");
	ok(ofs_flush(nb, a.ino, 0, true), "b: flush t/g");
	ok(ofs_flush(na, s, 0, true), "a: flush s");
	ok(ofs_flush(na, t, 0, true), "a: flush t");
	ok(ofs_flush(na, OFS_ROOT_INO, 0, true), "a: flush the root");
	ok(peer_lookup(nb, bt, "g", &a), "b: t/g was deleted");
	expect_contents(nb, a.ino, "theirs");
	ok(peer_lookup(na, s, "f", &a), "a: s/f");
	expect_contents(na, a.ino, "mine");
	/* within one directory: failed, the rename is given up too (before,
	 * it failed and stayed queued, and the next commit made it) */
	atomic_store(&fail_writes, 1);
	e = ofs_rename(na, s, "f", s, "h");
	atomic_store(&fail_writes, 0);
	cr_assert_neq(e, O_OK, "mv s/f s/h with failing commits succeeded");
	ok(ofs_flush(na, s, 0, true), "a: flush s");
	ok(peer_lookup(na, s, "f", &a), "a: s/f after the failed mv");
	expect_contents(na, a.ino, "mine");
	cr_expect_eq(peer_lookup(na, s, "h", &a), O_ENOTFOUND,
	    "a: the failed mv s/f s/h was committed");
	ok(peer_lookup(nb, OFS_ROOT_INO, "s", &a), "b: s");
	cr_expect_eq(peer_lookup(nb, a.ino, "h", &a), O_ENOTFOUND,
	    "b: the failed mv s/f s/h was committed");
	ok(ofs_ns_close(na), "close a");
	ok(ofs_ns_close(nb), "close b");
}

/*
 * Shared mode: crossed directory renames on two mounts at the same time
 * (each after the other's checks, before its commit) make no cycle.  `mv
 * a b/` on one and `mv b a/` on the other each pass their own check (b
 * is not under a, a is not under b), and before both committed: a and b
 * left the root, each inside the other, unreachable with all they held.
 * Now a rename of a directory across directories relies on the way from
 * the common ancestor to its target (and to its source) as it checked it:
 * a rival that moved a directory on it first makes the rename lose
 * (ENOENT).  Also deeper (`mv x/a y/b/` against `mv y x/a/`: the root
 * and y hold only conditions), and a rival changing other names does not
 * make the rename lose.
 */
Test(ns, shared_crossed_directory_renames_make_no_cycle, .init = setup,
    .fini = teardown)
{
	struct ofs_ns  *nb;
	struct ofs_attr a;
	uint64_t        da, db, x, y, xa, yb, ba, bx, bxa, by;
	o_err           e;

	rival_mounts(&nb);
	da = mkdir_(env.ns, OFS_ROOT_INO, "a");
	db = mkdir_(env.ns, OFS_ROOT_INO, "b");
	(void) create_(env.ns, da, "fa", OFS_FILE);
	ok(peer_lookup(nb, OFS_ROOT_INO, "a", &a), "b: a");
	ba = a.ino;
	ok(peer_lookup(nb, OFS_ROOT_INO, "b", &a), "b: b");

	/* a: mv a b/; b's mv b a/ commits just before it */
	rival = (typeof(rival)) { true, rival_rename, nb, OFS_ROOT_INO, "b",
		O_OK, pthread_self(), ba, "b" };
	e     = ofs_rename(env.ns, OFS_ROOT_INO, "a", db, "a");
	cr_assert(!rival.armed, "the hook did not run");
	ok(rival.e, "b: mv b a/");
	cr_expect_eq(e, O_ENOTFOUND, "a: mv a b/ after b's mv b a/: %s (%s)",
	    o_errname(e), o_err_detail());
	cr_expect(strstr(o_err_detail(), "another mount") != NULL,
	    "the error says why: %s", o_err_detail());
	ok(peer_lookup(env.ns, OFS_ROOT_INO, "a", &a), "a: a left the root");
	da = a.ino;
	ok(peer_lookup(env.ns, da, "b", &a), "a: a/b");
	cr_expect_eq(peer_lookup(env.ns, a.ino, "a", &a), O_ENOTFOUND,
	    "a: a/b/a: a cycle");
	ok(peer_lookup(env.ns, da, "fa", &a), "a: a/fa");
	cr_expect_eq(peer_lookup(env.ns, OFS_ROOT_INO, "b", &a), O_ENOTFOUND);
	ok(peer_lookup(nb, OFS_ROOT_INO, "a", &a), "b: a left the root");
	ok(peer_lookup(nb, a.ino, "b", &a), "b: a/b");

	/* deeper: a: mv x/a y/b/; b's mv y x/a/ commits just before it */
	x  = mkdir_(env.ns, OFS_ROOT_INO, "x");
	y  = mkdir_(env.ns, OFS_ROOT_INO, "y");
	xa = mkdir_(env.ns, x, "a");
	yb = mkdir_(env.ns, y, "b");
	ok(peer_lookup(nb, OFS_ROOT_INO, "x", &a), "b: x");
	bx = a.ino;
	ok(peer_lookup(nb, bx, "a", &a), "b: x/a");
	bxa = a.ino;
	ok(peer_lookup(nb, OFS_ROOT_INO, "y", &a), "b: y");
	by    = a.ino;
	rival = (typeof(rival)) { true, rival_rename, nb, OFS_ROOT_INO, "y",
		O_OK, pthread_self(), bxa, "y" };
	e     = ofs_rename(env.ns, x, "a", yb, "a");
	cr_assert(!rival.armed, "the hook did not run");
	ok(rival.e, "b: mv y x/a/");
	cr_expect_eq(e, O_ENOTFOUND,
	    "a: mv x/a y/b/ after b's mv y x/a/: %s "
	    "(%s)",
	    o_errname(e), o_err_detail());
	ok(peer_lookup(nb, bx, "a", &a), "b: x/a left x");
	ok(peer_lookup(nb, a.ino, "y", &a), "b: x/a/y");
	ok(peer_lookup(nb, a.ino, "b", &a), "b: x/a/y/b");
	cr_expect_eq(peer_lookup(nb, a.ino, "a", &a), O_ENOTFOUND,
	    "b: x/a/y/b/a: a cycle");
	ok(peer_lookup(env.ns, x, "a", &a), "a: x/a left x");
	cr_expect_eq(a.ino, xa);

	/* a rename by a way another mount changed (y moved): refused,
	 * until the way is looked up again */
	(void) mkdir_(env.ns, x, "c");
	e = ofs_rename(env.ns, x, "c", yb, "c");
	cr_expect_eq(e, O_ENOTFOUND, "a: mv x/c y/b/ by the old way: %s (%s)",
	    o_errname(e), o_err_detail());
	cr_expect(strstr(o_err_detail(), "on the way") != NULL,
	    "the error says why: %s", o_err_detail());
	ok(peer_lookup(env.ns, xa, "y", &a), "a: x/a/y");
	cr_expect_eq(a.ino, y);
	cr_expect_eq(lookup_(env.ns, y, "b"), yb);
	/* a rival changing other names of a directory that holds one of
	 * the rename's conditions (x/a: y's name): the rename goes through */
	ok(ofs_ns_refresh(nb, by), "b: refresh y");
	rival = (typeof(rival)) { true, rival_create, nb, bxa, "n", O_OK,
		pthread_self(), 0, NULL };
	ok(ofs_rename(env.ns, x, "c", yb, "c"), "a: mv x/c x/a/y/b/");
	cr_assert(!rival.armed, "the hook did not run");
	ok(rival.e, "b: create n");
	ok(peer_lookup(nb, OFS_ROOT_INO, "x", &a), "b: x");
	cr_expect_eq(peer_lookup(nb, a.ino, "c", &a), O_ENOTFOUND);
	ok(peer_lookup(nb, by, "b", &a), "b: x/a/y/b");
	ok(peer_lookup(nb, a.ino, "c", &a), "b: x/a/y/b/c");
	ok(ofs_ns_close(nb), "close b");
}

/*
 * Shared mode: a rename over an empty directory retires it in the same
 * transaction, as an rmdir does.  Another mount's creation in it at the
 * same time: committed first, the rename is refused (ENOTEMPTY) and both
 * stay; committed after, the creation is refused (ENOENT).  Before, both
 * succeeded and the new file went with the replaced directory, where no
 * name reaches.  Within one directory and across directories.
 */
Test(ns, shared_rename_over_an_empty_directory_and_a_creation_in_it,
    .init = setup, .fini = teardown)
{
	struct ofs_ns  *nb;
	struct ofs_attr a;
	uint64_t        t, be, be2, bt;
	o_err           e;
	int             cross;

	rival_mounts(&nb);
	t = mkdir_(env.ns, OFS_ROOT_INO, "t");
	ok(peer_lookup(nb, OFS_ROOT_INO, "t", &a), "b: t");
	bt = a.ino;
	for (cross = 0; cross < 2; cross++) {
		uint64_t td = cross ? t : OFS_ROOT_INO;
		uint64_t bd = cross ? bt : OFS_ROOT_INO;

		(void) mkdir_(env.ns, OFS_ROOT_INO, "s");
		(void) mkdir_(env.ns, td, "e");
		(void) mkdir_(env.ns, td, "e2");
		ok(ofs_ns_refresh(nb, bd), "b: refresh");
		ok(peer_lookup(nb, bd, "e", &a), "b: e");
		be = a.ino;
		ok(peer_lookup(nb, bd, "e2", &a), "b: e2");
		be2 = a.ino;

		/* a: mv s e; b's creation of e/f commits just before */
		rival = (typeof(rival)) { true, rival_create, nb, be, "f",
			O_OK, pthread_self(), 0, NULL };
		e     = ofs_rename(env.ns, OFS_ROOT_INO, "s", td, "e");
		cr_assert(!rival.armed, "the hook did not run");
		ok(rival.e, "b: create e/f");
		cr_expect_eq(e, O_ENOTEMPTY,
		    "%d: a: mv s e after b's create e/f: %s (%s)", cross,
		    o_errname(e), o_err_detail());
		cr_expect(strstr(o_err_detail(), "another mount") != NULL,
		    "the error says why: %s", o_err_detail());
		ok(peer_lookup(env.ns, OFS_ROOT_INO, "s", &a), "a: s");
		ok(peer_lookup(env.ns, td, "e", &a), "a: e");
		ok(peer_lookup(env.ns, a.ino, "f", &a), "a: e/f was lost");
		ok(peer_lookup(nb, bd, "e", &a), "b: e");
		ok(peer_lookup(nb, be, "f", &a), "b: e/f");

		/* a: mv s e2, committed; then b's creation of e2/g (b had
		 * not seen the rename) */
		ok(ofs_rename(env.ns, OFS_ROOT_INO, "s", td, "e2"),
		    "a: mv s e2");
		e = rival_create(nb, be2, "g");
		cr_expect_eq(e, O_ENOTFOUND,
		    "%d: b: create e2/g after a's mv s e2: %s (%s)", cross,
		    o_errname(e), o_err_detail());
		ok(peer_lookup(nb, bd, "e2", &a), "b: e2");
		cr_expect_neq(a.ino, be2, "b: e2 is still the old one");
		cr_expect_eq(peer_lookup(nb, a.ino, "g", &a), O_ENOTFOUND);
		/* clean up for the next round */
		ok(ofs_unlink(env.ns, lookup_(env.ns, td, "e"), "f"),
		    "rm e/f");
		ok(ofs_rmdir(env.ns, td, "e"), "rmdir e");
		ok(ofs_rmdir(env.ns, td, "e2"), "rmdir e2");
	}
	ok(ofs_ns_close(nb), "close b");
}

/*
 * Shared and async: a rename of a dirty file commits the file's
 * write-back first, as on a sync mount, and answers for that commit
 * only.  Before, it went through the close's path, which on an async
 * mount only queues and reports (and forgets) an earlier failure of the
 * directory's commit: a failed fsync of another file made the rename
 * fail with "an earlier background commit failed", nothing renamed,
 * after the directory committed fine again.  From the review.
 */
Test(ns, shared_async_rename_of_a_dirty_file_answers_for_itself, .init = setup,
    .fini = teardown)
{
	struct ofs_ns_opts o = { .journal = journal_new(),
		.shared                   = true,
		.async                    = true,
		.fresh_ms                 = 600000,
		.commit_interval_ms       = 600000 };
	struct ofs_ns     *nb;
	struct ofs_attr    a;
	uint64_t           d, f, x;
	o_err              e;

	ns_reopen_with(&o, "reopen shared and async");
	ns_open_peer(&nb, true, 600000);
	d = mkdir_(env.ns, OFS_ROOT_INO, "d");
	f = create_(env.ns, d, "f", OFS_FILE);
	x = create_(env.ns, d, "x", OFS_FILE);
	ok(ofs_flush(env.ns, d, 0, true), "flush d");
	write_(env.ns, x, 0, "x");
	atomic_store(&fail_writes, 1);
	e = ofs_flush(env.ns, x, 0, true);
	atomic_store(&fail_writes, 0);
	cr_assert_neq(e, O_OK, "fsync of d/x with failing commits succeeded");
	write_(env.ns, f, 0, "mine");
	e = ofs_rename(env.ns, d, "f", d, "g");
	cr_expect_eq(e, O_OK,
	    "mv d/f d/g after another file's failed fsync: "
	    "%s (%s)",
	    o_errname(e), o_err_detail());
	ok(peer_lookup(nb, OFS_ROOT_INO, "d", &a), "b: d");
	ok(peer_lookup(nb, a.ino, "g", &a), "b: d/g");
	expect_contents(nb, a.ino, "mine");
	ok(ofs_ns_close(nb), "close b");
}

/* a: the file dir/name replaced by `echo TEXT > tmp; mv tmp name` */
static void
replace_(struct ofs_ns *ns, uint64_t dir, const char *name, const char *text)
{
	(void) file_(ns, dir, "tmp", text);
	ok(ofs_rename(ns, dir, "tmp", dir, name), "mv tmp over the name");
}

/*
 * Shared mode: a file another mount keeps replacing (`mv tmp cfg` in a
 * loop) opens on the second try.  The first open of the name the kernel
 * cached finds it replaced: O_ENOTFOUND (ESTALE: the kernel looks the
 * name up again, revalidating, and opens once more).  That lookup reads
 * the directory anew and the open right after it does not read it again,
 * so a replacement in between does not fail the retry too (before, about
 * a third of `cat cfg` failed with ESTALE under such a loop).  The open
 * reads what that lookup found; a later open checks again.
 */
Test(ns, shared_open_after_a_revalidating_lookup_is_not_stale_again,
    .init = setup, .fini = teardown)
{
	struct ofs_ns  *na, *nb;
	struct ofs_attr a;
	uint64_t        d, bd, old;

	ns_open_peer(&na, true, 600000);
	ns_open_peer(&nb, true, 600000);
	d = mkdir_(na, OFS_ROOT_INO, "d");
	replace_(na, d, "cfg", "v1");
	ok(peer_lookup(nb, OFS_ROOT_INO, "d", &a), "b: d");
	bd = a.ino;
	ok(peer_lookup(nb, bd, "cfg", &a), "b: cfg");
	old = a.ino;
	replace_(na, d, "cfg", "v2");
	/* b's kernel opens the name it cached: replaced */
	cr_expect_eq(ofs_open(nb, old, &a), O_ENOTFOUND, "b: open old cfg");
	/* the kernel's revalidating lookup (a plain lookup of that name,
	 * which reads the directory anew: fresh_ms is 10 minutes here),
	 * then a replacement, then the open: it opens what the lookup
	 * found */
	ok(ofs_lookup(nb, bd, "cfg", &a), "b: cfg again (no refresh asked)");
	cr_expect_neq(a.ino, old);
	old = a.ino;
	replace_(na, d, "cfg", "v3");
	ok(ofs_open(nb, old, &a), "b: open cfg right after the lookup");
	expect_contents(nb, old, "v2");
	/* once: a later open of that inode checks the name again */
	cr_expect_eq(ofs_open(nb, old, &a), O_ENOTFOUND, "b: open v2 again");
	ok(peer_lookup(nb, bd, "cfg", &a), "b: cfg, v3");
	ok(ofs_open(nb, a.ino, &a), "b: open v3");
	expect_contents(nb, a.ino, "v3");
	ok(ofs_ns_close(na), "close a");
	ok(ofs_ns_close(nb), "close b");
}

/* shared_groups_on_one_mount_take_turns: a second rename on mount a, on
 * its own thread, and b's rename of y/b, both from inside a's first
 * rename's commit */
static struct {
	struct ofs_ns *na;
	uint64_t       xc, z;
	o_err          e;
	bool           joined;
	pthread_t      t;
} second;

static void *
second_rename(void *arg)
{
	(void) arg;
	second.e = ofs_rename(second.na, second.xc, "d", second.z, "d");
	return NULL;
}

static o_err
rival_second_and_rename(struct ofs_ns *nb, uint64_t dir, const char *name)
{
	struct timespec ts;

	/* the second rename runs while the first is between its staging and
	 * its commit: given 1 s, it ends unless it waits for the first */
	cr_assert_eq(pthread_create(&second.t, NULL, second_rename, NULL), 0);
	clock_gettime(CLOCK_REALTIME, &ts);
	ts.tv_sec += 1;
	second.joined = pthread_timedjoin_np(second.t, NULL, &ts) == 0;
	return ofs_rename(nb, dir, name, dir, "b2");
}

/*
 * Shared mode: two renames on one mount whose groups share a directory
 * take turns.  A group's commit takes its collections' whole queues:
 * before, `mv x/c/d z/` (x holds a condition of it) committed the delete
 * of x/a that `mv x/a y/b/` had staged; another mount's `mv y/b y/b2`
 * then broke the first rename's condition on y/b, its put was dropped by
 * the link, and directory a was left where no name reaches.  Now the
 * second waits for the first (group_mtx).
 * Also: the first rename, lost, answers ENOENT (its link says so; before,
 * it answered success when the target directory was renamed meanwhile).
 * From the review.
 */
Test(
    ns, shared_groups_on_one_mount_take_turns, .init = setup, .fini = teardown)
{
	struct ofs_ns  *nb;
	struct ofs_attr a;
	uint64_t        x, y, xc, yb, z, bx, by;
	o_err           e;

	rival_mounts(&nb);
	x  = mkdir_(env.ns, OFS_ROOT_INO, "x");
	y  = mkdir_(env.ns, OFS_ROOT_INO, "y");
	z  = mkdir_(env.ns, OFS_ROOT_INO, "z");
	xc = mkdir_(env.ns, x, "c");
	(void) mkdir_(env.ns, xc, "d");
	(void) mkdir_(env.ns, x, "a");
	(void) create_(env.ns, lookup_(env.ns, x, "a"), "f", OFS_FILE);
	yb = mkdir_(env.ns, y, "b");
	ok(peer_lookup(nb, OFS_ROOT_INO, "x", &a), "b: x");
	bx = a.ino;
	ok(peer_lookup(nb, OFS_ROOT_INO, "y", &a), "b: y");
	by = a.ino;
	ok(peer_lookup(nb, by, "b", &a), "b: y/b");
	second = (typeof(second)) { env.ns, xc, z, O_OK, false, 0 };
	rival  = (typeof(rival)) { true, rival_second_and_rename, nb, by, "b",
		 O_OK, pthread_self(), 0, NULL };
	e      = ofs_rename(env.ns, x, "a", yb, "a");
	cr_assert(!rival.armed, "the hook did not run");
	ok(rival.e, "b: mv y/b y/b2");
	cr_expect(!second.joined,
	    "the second rename ran while the first was between its staging "
	    "and its commit");
	if (!second.joined)
		cr_assert_eq(pthread_join(second.t, NULL), 0);
	ok(second.e, "a: mv x/c/d z/");
	cr_expect_eq(e, O_ENOTFOUND,
	    "a: mv x/a y/b/ after b's mv y/b y/b2: "
	    "%s (%s)",
	    o_errname(e), o_err_detail());
	ok(peer_lookup(nb, bx, "a", &a), "b: x/a is gone");
	ok(peer_lookup(nb, a.ino, "f", &a), "b: x/a/f");
	ok(peer_lookup(env.ns, x, "a", &a), "a: x/a is gone");
	ok(peer_lookup(nb, OFS_ROOT_INO, "z", &a), "b: z");
	ok(peer_lookup(nb, a.ino, "d", &a), "b: z/d");
	ok(ofs_ns_close(nb), "close b");
}

/*
 * Shared mode: a diary's reads and size show committed appends only, on
 * the writing mount too.  Its queued appends' place among other mounts'
 * appends is known only at their commit: shown at the end before it, the
 * bytes a reader (tail -f) took at an offset changed under it when
 * another mount's append committed first (s37 finding 5).  Once
 * committed, what was read at each offset stays.
 */
Test(ns, shared_diary_shows_what_commit_order_keeps, .init = setup,
    .fini = teardown)
{
	struct ofs_ns  *na, *nb;
	struct ofs_attr a;
	uint64_t        la, lb;
	char           *before, *after;
	size_t          nbefore;

	ns_open_peer(&na, true, 600000);
	ns_open_peer(&nb, true, 600000);
	la = create_(na, OFS_ROOT_INO, "log", OFS_DIARY);
	ok(ofs_flush(na, la, 0, true), "a: commit log");
	ok(peer_lookup(nb, OFS_ROOT_INO, "log", &a), "b: log");
	lb = a.ino;
	/* a's append queued; b's committed first */
	ok(ofs_write(na, la, 1, 0, "a1\n", 3, true), "a: append a1");
	ok(ofs_write(nb, lb, 1, 0, "b1\n", 3, true), "b: append b1");
	ok(ofs_flush(nb, lb, 1, true), "b: commit b1");
	ok(ofs_ns_refresh(na, la), "a: refresh log (b1 seen)");
	before = read_all(na, la, &nbefore);
	cr_expect_str_eq(
	    before, "b1\n", "a's queued a1 shown before its commit");
	ok(ofs_getattr(na, la, &a), "a: getattr");
	cr_expect_eq(a.size, nbefore, "a: size %llu, read %zu",
	    (unsigned long long) a.size, nbefore);
	/* a write at the size shown (lseek to the end) is an append too */
	ok(ofs_write(na, la, 2, a.size, "a2\n", 3, false),
	    "a: write a2 at the size shown");
	ok(ofs_flush(na, la, 1, true), "a: commit a1");
	ok(ofs_flush(na, la, 2, true), "a: commit a2");
	/* the writer reads its own lines once their commit returned */
	after = read_all(na, la, NULL);
	cr_expect_str_eq(after, "b1\na1\na2\n", "commit order");
	cr_expect(strncmp(before, after, nbefore) == 0,
	    "a read \"%s\" before its commit, \"%s\" after", before, after);
	free(before);
	free(after);
	ok(ofs_ns_close(na), "close a");
	ok(ofs_ns_close(nb), "close b");
}

/*
 * Shared mode: a rename or rmdir whose group commit failed with its
 * outcome unknown (O_EUNAVAIL, as a cluster out of reach) is given up
 * whole, as any undecided group.  Before, its parts stayed queued "to be
 * retried", and later commits made them one collection at a time: a flush
 * of the source alone committed the delete (the file under no name), one
 * of the removed directory alone its retirement.  From the review.
 */
Test(ns, shared_group_in_doubt_is_given_up_whole, .init = setup,
    .fini = teardown)
{
	struct ofs_ns  *na, *nb;
	struct ofs_attr a;
	uint64_t        s, t, d, bs, bt;
	o_err           e, er;

	ns_open_peer(&na, true, 600000);
	ns_open_peer(&nb, true, 600000);
	s = mkdir_(na, OFS_ROOT_INO, "s");
	t = mkdir_(na, OFS_ROOT_INO, "t");
	d = mkdir_(na, OFS_ROOT_INO, "d");
	(void) file_(na, s, "f", "mine");
	atomic_store(&fail_writes, 2);
	e  = ofs_rename(na, s, "f", t, "g");
	er = ofs_rmdir(na, OFS_ROOT_INO, "d");
	atomic_store(&fail_writes, 0);
	cr_assert_eq(e, O_EUNAVAIL, "mv s/f t/g: %s", o_errname(e));
	cr_assert_eq(er, O_EUNAVAIL, "rmdir d: %s", o_errname(er));
	cr_expect(strstr(o_err_detail(), "outcome is unknown") != NULL,
	    "the error says so: %s", o_err_detail());
	/* each collection committed on its own */
	ok(ofs_flush(na, s, 0, true), "a: flush s");
	ok(ofs_flush(na, d, 0, true), "a: flush d");
	ok(ofs_flush(na, t, 0, true), "a: flush t");
	ok(ofs_flush(na, OFS_ROOT_INO, 0, true), "a: flush the root");
	ok(peer_lookup(nb, OFS_ROOT_INO, "s", &a), "b: s");
	bs = a.ino;
	ok(peer_lookup(nb, OFS_ROOT_INO, "t", &a), "b: t");
	bt = a.ino;
	ok(peer_lookup(nb, bs, "f", &a), "b: s/f was moved in part");
	expect_contents(nb, a.ino, "mine");
	cr_expect_eq(peer_lookup(nb, bt, "g", &a), O_ENOTFOUND);
	ok(peer_lookup(nb, OFS_ROOT_INO, "d", &a), "b: d was removed");
	ok(rival_create(nb, a.ino, "h"), "b: create d/h (d retired?)");
	ok(ofs_ns_close(na), "close a");
	ok(ofs_ns_close(nb), "close b");
}
