/*
 * exerciser.c - a syscall exerciser for a mounted optimfs (DESIGN.md
 * section 6), in the spirit of libfuse's test/test_syscalls.c.
 *
 *   exerciser MNT            run every check under MNT/ex and MNT/keep
 *   exerciser --verify MNT   after a remount: check what the run left in
 *                            MNT/keep (the durable results)
 *
 * Each check runs in a fresh directory of its own (MNT/ex/NAME, or
 * MNT/keep/NAME for checks whose results are verified after a remount),
 * with that directory as the working directory, and prints one line:
 * "PASS name", "FAIL name: what (errno text)" or "SKIP name".  A check
 * stops at its first failed expectation.  EXERCISER_SKIP="a,b" skips the
 * named checks (and their --verify part); EXERCISER_ONLY="a,b" runs only
 * those (for debugging).  Exit status 1 if any check
 * failed, 2 on bad usage.
 *
 * Design notes.
 *   - Regular files go through the kernel's page cache, which optimfs
 *     drops at open: contents are verified through a fresh open, so the
 *     bytes come from the filesystem, not from the cache of the writer.
 *   - In optimfs a file created with O_CREAT|O_APPEND is a diary
 *     (fs/fuse_ll.c ll_create): append-only, EPERM for anything else.
 *     A regular file opened later with O_APPEND stays a regular file.
 *   - On Linux pwrite(2) on an O_APPEND descriptor appends whatever the
 *     offset: the diary's EPERM checks use descriptors without O_APPEND.
 *   - Thread checks collect failures in their arguments; only the main
 *     thread prints.
 */
#define _GNU_SOURCE

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/xattr.h>
#include <time.h>
#include <unistd.h>

/* The result of the running check: set by the first failed expectation. */
static bool cur_failed;
static char cur_msg[1024];

static void failf(int line, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void
failf(int line, const char *fmt, ...)
{
	va_list ap;
	int     n;

	if (cur_failed)
		return;
	cur_failed = true;
	n          = snprintf(cur_msg, sizeof(cur_msg), "line %d: ", line);
	va_start(ap, fmt);
	vsnprintf(cur_msg + n, sizeof(cur_msg) - (size_t) n, fmt, ap);
	va_end(ap);
}

#define FAIL(...)                             \
	do {                                  \
		failf(__LINE__, __VA_ARGS__); \
		return;                       \
	} while (0)

/* cond must hold. */
#define EXPECT(cond, ...)                  \
	do {                               \
		if (!(cond))               \
			FAIL(__VA_ARGS__); \
	} while (0)

/* call (returning -1 + errno on failure) must succeed; r_ keeps the
 * result for EXPECT_OKV. */
#define EXPECT_OK(call)                                                \
	do {                                                           \
		errno   = 0;                                           \
		long r_ = (long) (call);                               \
		if (r_ == -1)                                          \
			FAIL("%s failed: %s", #call, strerror(errno)); \
	} while (0)

/* v = call, which must succeed. */
#define EXPECT_OKV(v, call)                                            \
	do {                                                           \
		errno = 0;                                             \
		(v)   = (call);                                        \
		if ((long) (v) == -1)                                  \
			FAIL("%s failed: %s", #call, strerror(errno)); \
	} while (0)

/* call must fail with errno e. */
#define EXPECT_ERR(call, e)                                                \
	do {                                                               \
		errno    = 0;                                              \
		long r_  = (long) (call);                                  \
		int  en_ = errno;                                          \
		if (r_ != -1)                                              \
			FAIL("%s returned %ld, expected -1 %s", #call, r_, \
			    strerrorname_np(e));                           \
		if (en_ != (e))                                            \
			FAIL("%s failed with %s (%s), expected %s", #call, \
			    strerrorname_np(en_), strerror(en_),           \
			    strerrorname_np(e));                           \
	} while (0)

/* The contents of path equal want[0, len). */
#define EXPECT_CONTENT(path, want, len)                           \
	do {                                                      \
		char d_[512];                                     \
		if (!content_is(path, want, len, d_, sizeof(d_))) \
			FAIL("%s: %s", path, d_);                 \
	} while (0)

/*
 * Helpers.  All return -1 with errno set on failure.
 */

static int
write_all(int fd, const void *buf, size_t len)
{
	const char *p = buf;
	ssize_t     n;

	while (len > 0) {
		if ((n = write(fd, p, len)) < 0) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		p += n;
		len -= (size_t) n;
	}
	return 0;
}

static int
pwrite_all(int fd, const void *buf, size_t len, off_t off)
{
	const char *p = buf;
	ssize_t     n;

	while (len > 0) {
		if ((n = pwrite(fd, p, len, off)) < 0) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		p += n;
		off += n;
		len -= (size_t) n;
	}
	return 0;
}

/* Create or replace path (O_TRUNC, no O_APPEND: a regular file). */
static int
put_file(const char *path, const void *buf, size_t len)
{
	int fd, rc, e;

	if ((fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644)) < 0)
		return -1;
	rc = write_all(fd, buf, len);
	e  = errno;
	if (close(fd) != 0 && rc == 0)
		return -1;
	errno = e;
	return rc;
}

/* Read all of fd from offset 0 into a malloc'd buffer. */
static char *
read_fd(int fd, size_t *len)
{
	size_t  cap = 1 << 16, n = 0;
	char   *buf = malloc(cap);
	ssize_t got;

	for (;;) {
		if (n == cap)
			buf = realloc(buf, cap *= 2);
		got = pread(fd, buf + n, cap - n, (off_t) n);
		if (got < 0) {
			if (errno == EINTR)
				continue;
			free(buf);
			return NULL;
		}
		if (got == 0)
			break;
		n += (size_t) got;
	}
	*len = n;
	return buf;
}

static char *
read_path(const char *path, size_t *len)
{
	int   fd, e;
	char *buf;

	if ((fd = open(path, O_RDONLY)) < 0)
		return NULL;
	buf = read_fd(fd, len);
	e   = errno;
	close(fd);
	errno = e;
	return buf;
}

/* Compare bytes; describe the first difference into d. */
static bool
bytes_are(const char *got, size_t glen, const char *want, size_t wlen, char *d,
    size_t dcap)
{
	size_t i;

	for (i = 0; i < glen && i < wlen; i++)
		if (got[i] != want[i])
			break;
	if (i == glen && i == wlen)
		return true;
	if (i < glen && i < wlen)
		snprintf(d, dcap,
		    "%zu bytes (expected %zu), first difference at offset "
		    "%zu: 0x%02x, expected 0x%02x",
		    glen, wlen, i, (unsigned char) got[i],
		    (unsigned char) want[i]);
	else
		snprintf(d, dcap, "%zu bytes, expected %zu (equal up to %zu)",
		    glen, wlen, i);
	return false;
}

/* Whether path (read through a fresh open) holds want[0, wlen). */
static bool
content_is(
    const char *path, const void *want, size_t wlen, char *d, size_t dcap)
{
	size_t len;
	char  *got = read_path(path, &len);
	bool   ok;

	if (got == NULL) {
		snprintf(d, dcap, "read failed: %s", strerror(errno));
		return false;
	}
	ok = bytes_are(got, len, want, wlen, d, dcap);
	free(got);
	return ok;
}

static bool
all_zero(const char *p, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (p[i] != 0)
			return false;
	return true;
}

static int64_t
ts_ns(const struct timespec *ts)
{
	return (int64_t) ts->tv_sec * 1000000000 + ts->tv_nsec;
}

static int64_t
now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return ts_ns(&ts);
}

/* Whether path is a diary: only diaries (and directories) have the
 * user.optimfs.entries attribute. */
static bool
is_diary(const char *path)
{
	char buf[64];

	return getxattr(path, "user.optimfs.entries", buf, sizeof(buf)) >= 0;
}

/* A byte of the concurrent-writer patterns. */
static unsigned char
pat(int who, size_t off)
{
	return (unsigned char) (who * 37 + off * 7 + (off >> 12) * 13 + 1);
}

/*
 * Open flags.
 */

static void
t_open_excl(void)
{
	int fd;

	EXPECT_OKV(fd, open("f", O_WRONLY | O_CREAT | O_EXCL, 0644));
	EXPECT_OK(close(fd));
	EXPECT_ERR(open("f", O_WRONLY | O_CREAT | O_EXCL, 0644), EEXIST);
	EXPECT_ERR(open("f", O_RDONLY | O_CREAT | O_EXCL, 0644), EEXIST);
	EXPECT_OK(mkdir("d", 0755));
	EXPECT_ERR(open("d", O_RDONLY | O_CREAT | O_EXCL, 0644), EEXIST);
	/* O_CREAT without O_EXCL on an existing file opens it. */
	EXPECT_OKV(fd, open("f", O_WRONLY | O_CREAT, 0644));
	EXPECT_OK(close(fd));
}

static void
t_open_trunc(void)
{
	struct stat st;
	int         fd;

	EXPECT_OK(put_file("f", "hello world", 11));
	EXPECT_OKV(fd, open("f", O_WRONLY | O_TRUNC));
	EXPECT_OK(fstat(fd, &st));
	EXPECT(st.st_size == 0, "fstat after O_TRUNC: size %lld, expected 0",
	    (long long) st.st_size);
	EXPECT_OK(write_all(fd, "ab", 2));
	EXPECT_OK(close(fd));
	EXPECT_CONTENT("f", "ab", 2);
	/* O_CREAT|O_TRUNC on an existing file (the shell's >). */
	EXPECT_OKV(fd, open("f", O_RDWR | O_CREAT | O_TRUNC, 0644));
	EXPECT_OK(close(fd));
	EXPECT_CONTENT("f", "", 0);
}

static void
t_open_badf(void)
{
	char buf[4];
	int  fd;

	EXPECT_OK(put_file("f", "abc", 3));
	EXPECT_OKV(fd, open("f", O_RDONLY));
	EXPECT_ERR(write(fd, "x", 1), EBADF);
	EXPECT_ERR(pwrite(fd, "x", 1, 0), EBADF);
	EXPECT_ERR(ftruncate(fd, 0), EINVAL); /* Linux: EINVAL or EBADF */
	EXPECT_OK(close(fd));
	EXPECT_OKV(fd, open("f", O_WRONLY));
	EXPECT_ERR(read(fd, buf, sizeof(buf)), EBADF);
	EXPECT_OK(close(fd));
	EXPECT_CONTENT("f", "abc", 3);
}

static void
t_open_enotdir(void)
{
	EXPECT_OK(put_file("f", "x", 1));
	EXPECT_ERR(open("f", O_RDONLY | O_DIRECTORY), ENOTDIR);
	EXPECT_ERR(open("f/x", O_RDONLY), ENOTDIR);
	EXPECT_ERR(open("f/x", O_WRONLY | O_CREAT, 0644), ENOTDIR);
	EXPECT_ERR(mkdir("f/d", 0755), ENOTDIR);
	EXPECT(opendir("f") == NULL && errno == ENOTDIR,
	    "opendir of a file: expected ENOTDIR, got %s", strerror(errno));
}

static void
t_open_eisdir(void)
{
	int fd;

	EXPECT_OK(mkdir("d", 0755));
	EXPECT_ERR(open("d", O_WRONLY), EISDIR);
	EXPECT_ERR(open("d", O_RDWR), EISDIR);
	EXPECT_OKV(fd, open("d", O_RDONLY | O_DIRECTORY));
	EXPECT_OK(close(fd));
}

static void
t_open_enoent(void)
{
	struct stat st;

	EXPECT_ERR(open("missing", O_RDONLY), ENOENT);
	EXPECT_ERR(open("missing", O_WRONLY), ENOENT);
	EXPECT_ERR(open("nodir/f", O_WRONLY | O_CREAT, 0644), ENOENT);
	EXPECT_ERR(stat("missing", &st), ENOENT);
	EXPECT_ERR(unlink("missing"), ENOENT);
	EXPECT_ERR(rmdir("missing"), ENOENT);
	EXPECT_ERR(rename("missing", "other"), ENOENT);
}

static void
t_name_too_long(void)
{
	char        name[300];
	struct stat st;
	int         fd;

	memset(name, 'n', 256);
	name[256] = '\0';
	EXPECT_ERR(open(name, O_WRONLY | O_CREAT, 0644), ENAMETOOLONG);
	EXPECT_ERR(mkdir(name, 0755), ENAMETOOLONG);
	EXPECT_ERR(stat(name, &st), ENAMETOOLONG);
	EXPECT_OK(put_file("short", "x", 1));
	EXPECT_ERR(rename("short", name), ENAMETOOLONG);
	name[255] = '\0'; /* NAME_MAX itself is fine */
	EXPECT_OKV(fd, open(name, O_WRONLY | O_CREAT | O_EXCL, 0644));
	EXPECT_OK(close(fd));
	EXPECT_OK(stat(name, &st));
	EXPECT_OK(unlink(name));
}

/*
 * pwrite / pread.
 */

static void
t_pwrite_holes(void)
{
	char        buf[12000];
	struct stat st;
	int         fd;

	/* keep/pwrite_holes/f: "abc" at 10000 after a hole, "XY" at 5000. */
	EXPECT_OKV(fd, open("f", O_RDWR | O_CREAT | O_EXCL, 0644));
	EXPECT(pwrite(fd, "abc", 3, 10000) == 3, "pwrite at 10000: %s",
	    strerror(errno));
	EXPECT_OK(fstat(fd, &st));
	EXPECT(st.st_size == 10003, "size after pwrite at 10000: %lld",
	    (long long) st.st_size);
	memset(buf, 0x55, sizeof(buf));
	EXPECT(pread(fd, buf, 10000, 0) == 10000, "pread of the hole: %s",
	    strerror(errno));
	EXPECT(all_zero(buf, 10000), "the hole does not read as zeros");
	EXPECT(pread(fd, buf, sizeof(buf), 9999) == 4, "pread across EOF");
	EXPECT(memcmp(buf, "\0abc", 4) == 0, "pread at 9999: wrong bytes");
	EXPECT(pread(fd, buf, 10, 10003) == 0, "pread at EOF is not 0");
	EXPECT(pread(fd, buf, 10, 50000) == 0, "pread past EOF is not 0");
	EXPECT(pwrite(fd, "XY", 2, 5000) == 2, "pwrite in the hole: %s",
	    strerror(errno));
	/* pwrite does not move the file offset. */
	EXPECT(lseek(fd, 0, SEEK_CUR) == 0, "pwrite moved the offset");
	EXPECT_OK(close(fd));
	memset(buf, 0, sizeof(buf));
	memcpy(buf + 5000, "XY", 2);
	memcpy(buf + 10000, "abc", 3);
	EXPECT_CONTENT("f", buf, 10003);
}

static void
v_pwrite_holes(void)
{
	char buf[10003];

	memset(buf, 0, sizeof(buf));
	memcpy(buf + 5000, "XY", 2);
	memcpy(buf + 10000, "abc", 3);
	EXPECT_CONTENT("f", buf, sizeof(buf));
}

static void
t_pwrite_extend(void)
{
	static char want[300000];
	struct stat st;
	size_t      i;
	int         fd;

	EXPECT_OK(put_file("f", "0123456789", 10));
	EXPECT_OKV(fd, open("f", O_RDWR));
	/* Exactly at EOF, then far beyond it (a multi-chunk file). */
	EXPECT(pwrite(fd, "ab", 2, 10) == 2, "pwrite at EOF");
	EXPECT(pwrite(fd, "Z", 1, sizeof(want) - 1) == 1, "pwrite far out");
	EXPECT_OK(fstat(fd, &st));
	EXPECT(st.st_size == (off_t) sizeof(want),
	    "size after pwrite beyond EOF: %lld", (long long) st.st_size);
	/* Overwrite across a page and a chunk boundary. */
	for (i = 0; i < 20000; i++)
		want[4000 + i] = (char) ('a' + i % 26);
	EXPECT_OK(pwrite_all(fd, want + 4000, 20000, 4000));
	/* past the 1 TiB limit: EFBIG, nothing changed */
	EXPECT_ERR(pwrite(fd, "x", 1, (off_t) 1 << 40), EFBIG);
	EXPECT_ERR(ftruncate(fd, (off_t) 2 << 40), EFBIG);
	EXPECT_OK(close(fd));
	memcpy(want, "0123456789ab", 12);
	want[sizeof(want) - 1] = 'Z';
	EXPECT_CONTENT("f", want, sizeof(want));
}

/*
 * O_APPEND on regular files.
 */

static void
t_append_regular(void)
{
	char        buf[64];
	struct stat st;
	int         fd;

	/* Created without O_APPEND: a regular file. */
	EXPECT_OK(put_file("f", "hello", 5));
	EXPECT_OKV(fd, open("f", O_WRONLY | O_APPEND));
	EXPECT(lseek(fd, 0, SEEK_SET) == 0, "lseek");
	EXPECT_OK(write_all(fd, " world", 6));
	EXPECT(lseek(fd, 0, SEEK_CUR) == 11, "offset after append: %lld",
	    (long long) lseek(fd, 0, SEEK_CUR));
	EXPECT(lseek(fd, 2, SEEK_SET) == 2, "lseek");
	EXPECT_OK(write_all(fd, "!", 1));
	EXPECT_OK(close(fd));
	EXPECT_CONTENT("f", "hello world!", 12);
	/* O_RDWR|O_APPEND: reads follow the offset, writes go to the end. */
	EXPECT_OKV(fd, open("f", O_RDWR | O_APPEND));
	EXPECT(pread(fd, buf, 5, 0) == 5 && memcmp(buf, "hello", 5) == 0,
	    "pread on an O_APPEND file");
	EXPECT(lseek(fd, 0, SEEK_SET) == 0, "lseek");
	EXPECT_OK(write_all(fd, "?", 1));
	EXPECT_OK(fstat(fd, &st));
	EXPECT(st.st_size == 13, "size after append: %lld",
	    (long long) st.st_size);
	EXPECT_OK(close(fd));
	EXPECT_CONTENT("f", "hello world!?", 13);
	/* Still a regular file: truncation and overwrite work. */
	EXPECT(!is_diary("f"), "opening with O_APPEND made f a diary");
	EXPECT_OKV(fd, open("f", O_WRONLY));
	EXPECT(pwrite(fd, "H", 1, 0) == 1, "pwrite at 0: %s", strerror(errno));
	EXPECT_OK(close(fd));
	EXPECT_CONTENT("f", "Hello world!?", 13);
}

static void
v_append_regular(void)
{
	int fd;

	EXPECT_CONTENT("f", "Hello world!?", 13);
	EXPECT(!is_diary("f"), "f became a diary after remount");
	EXPECT_OKV(fd, open("f", O_WRONLY));
	EXPECT(pwrite(fd, "h", 1, 0) == 1, "pwrite at 0 after remount: %s",
	    strerror(errno));
	EXPECT_OK(close(fd));
	EXPECT_CONTENT("f", "hello world!?", 13);
}

/* O_CREAT|O_APPEND on an existing regular file opens it: no diary. */
static void
t_append_existing(void)
{
	int fd;

	EXPECT_OK(put_file("f", "abc", 3));
	EXPECT_OKV(fd, open("f", O_WRONLY | O_CREAT | O_APPEND, 0644));
	EXPECT_OK(write_all(fd, "d\n", 2));
	EXPECT_OK(close(fd));
	EXPECT_CONTENT("f", "abcd\n", 5);
	EXPECT(!is_diary("f"),
	    "O_CREAT|O_APPEND on an existing file made "
	    "it a diary");
	EXPECT_OK(truncate("f", 1));
	EXPECT_CONTENT("f", "a", 1);
}

/*
 * ftruncate.
 */

static void
t_ftruncate_up(void)
{
	char        want[70000];
	struct stat st;
	int         fd;

	EXPECT_OK(put_file("f", "abc", 3));
	EXPECT_OKV(fd, open("f", O_RDWR));
	EXPECT_OK(ftruncate(fd, sizeof(want)));
	EXPECT_OK(fstat(fd, &st));
	EXPECT(st.st_size == (off_t) sizeof(want),
	    "size after ftruncate "
	    "up: %lld",
	    (long long) st.st_size);
	EXPECT_OK(close(fd));
	memset(want, 0, sizeof(want));
	memcpy(want, "abc", 3);
	EXPECT_CONTENT("f", want, sizeof(want));
}

static void
t_ftruncate_down(void)
{
	struct stat st;
	char        buf[16];
	int         fd;

	EXPECT_OK(put_file("f", "abcdefghij", 10));
	EXPECT_OKV(fd, open("f", O_RDWR));
	EXPECT_OK(ftruncate(fd, 4));
	EXPECT_OK(fstat(fd, &st));
	EXPECT(st.st_size == 4, "size after ftruncate down: %lld",
	    (long long) st.st_size);
	EXPECT(pread(fd, buf, sizeof(buf), 0) == 4, "pread after truncate");
	EXPECT_OK(ftruncate(fd, 0));
	EXPECT(pread(fd, buf, sizeof(buf), 0) == 0, "pread after truncate 0");
	EXPECT_OK(close(fd));
	EXPECT_CONTENT("f", "", 0);
	EXPECT_OK(put_file("g", "abcdefghij", 10));
	EXPECT_OK(truncate("g", 3));
	EXPECT_CONTENT("g", "abc", 3);
}

/* Truncating down then up must not resurrect the old bytes. */
static void
t_ftruncate_down_up(void)
{
	int fd;

	EXPECT_OK(put_file("f", "abcdef", 6));
	EXPECT_OKV(fd, open("f", O_RDWR));
	EXPECT_OK(ftruncate(fd, 2));
	EXPECT_OK(ftruncate(fd, 6));
	EXPECT_OK(close(fd));
	EXPECT_CONTENT("f", "ab\0\0\0\0", 6);
	/* Same through a write past the new end. */
	EXPECT_OK(put_file("g", "abcdef", 6));
	EXPECT_OKV(fd, open("g", O_RDWR));
	EXPECT_OK(ftruncate(fd, 1));
	EXPECT(pwrite(fd, "Z", 1, 5) == 1, "pwrite after truncate");
	EXPECT_OK(close(fd));
	EXPECT_CONTENT("g", "a\0\0\0\0Z", 6);
}

static void
v_ftruncate_down_up(void)
{
	EXPECT_CONTENT("f", "ab\0\0\0\0", 6);
	EXPECT_CONTENT("g", "a\0\0\0\0Z", 6);
}

/*
 * fstat.
 */

static void
t_fstat_size_mode(void)
{
	struct stat st, st2;
	int         fd;

	EXPECT_OKV(fd, open("f", O_RDWR | O_CREAT | O_EXCL, 0640));
	EXPECT_OK(fstat(fd, &st));
	EXPECT(
	    S_ISREG(st.st_mode), "mode 0%o is not a regular file", st.st_mode);
	EXPECT((st.st_mode & 07777) == (0640 & ~022u) ||
	        (st.st_mode & 07777) == 0640,
	    "mode after create 0640: 0%o", st.st_mode & 07777);
	EXPECT(st.st_size == 0, "new file size %lld", (long long) st.st_size);
	EXPECT(st.st_nlink == 1, "nlink %lu", (unsigned long) st.st_nlink);
	EXPECT_OK(write_all(fd, "12345", 5));
	EXPECT_OK(fstat(fd, &st));
	EXPECT(
	    st.st_size == 5, "size after write: %lld", (long long) st.st_size);
	EXPECT_OK(fchmod(fd, 0600));
	EXPECT_OK(fstat(fd, &st));
	EXPECT((st.st_mode & 07777) == 0600, "mode after fchmod: 0%o",
	    st.st_mode & 07777);
	EXPECT_OK(close(fd));
	EXPECT_OK(stat("f", &st2));
	EXPECT(st2.st_size == 5 && (st2.st_mode & 07777) == 0600,
	    "stat after close: size %lld mode 0%o", (long long) st2.st_size,
	    st2.st_mode & 07777);
	EXPECT(st2.st_ino == st.st_ino, "ino changed: %llu -> %llu",
	    (unsigned long long) st.st_ino, (unsigned long long) st2.st_ino);
	EXPECT_OK(mkdir("d", 0750));
	EXPECT_OK(stat("d", &st));
	EXPECT(S_ISDIR(st.st_mode), "d is not a directory");
	EXPECT_OK(chmod("d", 0700));
	EXPECT_OK(stat("d", &st));
	EXPECT((st.st_mode & 07777) == 0700, "dir mode after chmod: 0%o",
	    st.st_mode & 07777);
}

static void
t_fstat_mtime(void)
{
	struct timespec old[2] = { { 981173106, 0 }, { 981173106, 0 } };
	struct stat     st;
	int64_t         before;
	int             fd;

	EXPECT_OK(put_file("f", "abc", 3));
	EXPECT_OKV(fd, open("f", O_RDWR));
	EXPECT_OK(futimens(fd, old));
	EXPECT_OK(fstat(fd, &st));
	EXPECT(st.st_mtim.tv_sec == 981173106, "mtime after futimens: %lld",
	    (long long) st.st_mtim.tv_sec);
	before = now_ns() - 2000000000ll; /* allow clock granularity */
	EXPECT_OK(write_all(fd, "d", 1));
	EXPECT_OK(fstat(fd, &st));
	EXPECT(ts_ns(&st.st_mtim) >= before,
	    "mtime did not advance on write: %lld.%09ld",
	    (long long) st.st_mtim.tv_sec, st.st_mtim.tv_nsec);
	EXPECT_OK(futimens(fd, old));
	EXPECT_OK(ftruncate(fd, 1));
	EXPECT_OK(fstat(fd, &st));
	EXPECT(ts_ns(&st.st_mtim) >= before,
	    "mtime did not advance on ftruncate: %lld.%09ld",
	    (long long) st.st_mtim.tv_sec, st.st_mtim.tv_nsec);
	EXPECT_OK(close(fd));
	/* Exact nanoseconds round trip (time_gran is 1). */
	old[1].tv_sec  = 1234567890;
	old[1].tv_nsec = 123456789;
	EXPECT_OK(utimensat(AT_FDCWD, "f", old, 0));
	EXPECT_OK(stat("f", &st));
	EXPECT(
	    st.st_mtim.tv_sec == 1234567890 && st.st_mtim.tv_nsec == 123456789,
	    "mtime after utimensat: %lld.%09ld", (long long) st.st_mtim.tv_sec,
	    st.st_mtim.tv_nsec);
}

/* A directory's mtime and ctime follow its entries (POSIX: create,
 * unlink, rename, mkdir, rmdir mark the parent for update). */
static void
t_dir_mtime(void)
{
	static const char *what[] = { "create", "mkdir", "rename within",
		"rename out", "unlink", "rmdir" };
	struct timespec    old[2] = { { 981173106, 0 }, { 981173106, 0 } };
	struct stat        st;
	int64_t            before = now_ns() - 2000000000ll;
	size_t             i;
	int                rc = 0;

	EXPECT_OK(mkdir("d", 0755));
	EXPECT_OK(mkdir("other", 0755));
	for (i = 0; i < sizeof(what) / sizeof(what[0]); i++) {
		EXPECT_OK(utimensat(AT_FDCWD, "d", old, 0));
		switch (i) {
		case 0:
			rc = put_file("d/f", "x", 1);
			break;
		case 1:
			rc = mkdir("d/sub", 0755);
			break;
		case 2:
			rc = rename("d/f", "d/g");
			break;
		case 3:
			rc = rename("d/g", "other/g");
			break;
		case 4:
			rc = put_file("other/h", "h", 1) ||
			    rename("other/h", "d/h") ||
			    utimensat(AT_FDCWD, "d", old, 0) || unlink("d/h");
			break;
		case 5:
			rc = rmdir("d/sub");
			break;
		}
		EXPECT(rc == 0, "%s in d: %s", what[i], strerror(errno));
		EXPECT_OK(stat("d", &st));
		EXPECT(ts_ns(&st.st_mtim) >= before,
		    "directory mtime did not advance on %s: %lld.%09ld",
		    what[i], (long long) st.st_mtim.tv_sec,
		    st.st_mtim.tv_nsec);
	}
}

/*
 * rename.
 */

static void
t_rename_over_file(void)
{
	struct stat st;
	char        buf[32];
	int         fd;

	EXPECT_OK(put_file("src", "new contents", 12));
	EXPECT_OK(put_file("dst", "old", 3));
	/* Opened but not read: the read below reaches the filesystem. */
	EXPECT_OKV(fd, open("dst", O_RDONLY));
	EXPECT_OK(rename("src", "dst"));
	EXPECT_ERR(stat("src", &st), ENOENT);
	EXPECT_CONTENT("dst", "new contents", 12);
	memset(buf, 0, sizeof(buf));
	EXPECT(
	    pread(fd, buf, sizeof(buf), 0) == 3 && memcmp(buf, "old", 3) == 0,
	    "the replaced file's open fd reads [%.*s] (%s), expected [old]",
	    (int) strnlen(buf, sizeof(buf)), buf, strerror(errno));
	EXPECT_OK(fstat(fd, &st));
	EXPECT(st.st_size == 3, "the replaced file's size: %lld",
	    (long long) st.st_size);
	EXPECT_OK(close(fd));
	/* Writes through a descriptor of the replaced file stay there. */
	EXPECT_OK(put_file("src2", "newer", 5));
	EXPECT_OK(put_file("victim", "old", 3));
	EXPECT_OKV(fd, open("victim", O_RDWR));
	EXPECT_OK(rename("src2", "victim"));
	EXPECT(pwrite(fd, "OLDER", 5, 0) == 5,
	    "pwrite to the replaced file: %s", strerror(errno));
	EXPECT_OK(fsync(fd));
	EXPECT_OK(close(fd));
	EXPECT_CONTENT("victim", "newer", 5);
	EXPECT_OK(rename("dst", "final"));
	EXPECT_ERR(stat("dst", &st), ENOENT);
	/* rename to itself is a no-op. */
	EXPECT_OK(rename("final", "final"));
	EXPECT_CONTENT("final", "new contents", 12);
	/* RENAME_NOREPLACE (mv's first try): onto a free name it moves,
	 * onto an existing one it fails EEXIST and changes nothing;
	 * RENAME_EXCHANGE is not supported */
	EXPECT_OK(put_file("nr_a", "a", 1));
	EXPECT_OK(put_file("nr_b", "b", 1));
	EXPECT_OK(
	    renameat2(AT_FDCWD, "nr_a", AT_FDCWD, "nr_c", RENAME_NOREPLACE));
	EXPECT_ERR(stat("nr_a", &st), ENOENT);
	EXPECT_CONTENT("nr_c", "a", 1);
	EXPECT_ERR(
	    renameat2(AT_FDCWD, "nr_c", AT_FDCWD, "nr_b", RENAME_NOREPLACE),
	    EEXIST);
	EXPECT_CONTENT("nr_c", "a", 1);
	EXPECT_CONTENT("nr_b", "b", 1);
	EXPECT_ERR(
	    renameat2(AT_FDCWD, "nr_c", AT_FDCWD, "nr_b", RENAME_EXCHANGE),
	    EINVAL);
}

static void
v_rename_over_file(void)
{
	struct stat st;

	EXPECT_CONTENT("final", "new contents", 12);
	EXPECT_CONTENT("victim", "newer", 5);
	EXPECT_ERR(stat("src", &st), ENOENT);
	EXPECT_ERR(stat("dst", &st), ENOENT);
}

/* An open file keeps working under its new name. */
static void
t_rename_open_file(void)
{
	struct stat st;
	int         fd;

	EXPECT_OK(mkdir("sub", 0755));
	EXPECT_OKV(fd, open("f", O_RDWR | O_CREAT | O_EXCL, 0644));
	EXPECT_OK(write_all(fd, "before ", 7));
	EXPECT_OK(rename("f", "g"));
	EXPECT_OK(write_all(fd, "middle ", 7));
	EXPECT_OK(fsync(fd));
	EXPECT_OK(rename("g", "sub/h"));
	EXPECT_OK(write_all(fd, "after", 5));
	EXPECT_OK(close(fd));
	EXPECT_ERR(stat("f", &st), ENOENT);
	EXPECT_ERR(stat("g", &st), ENOENT);
	EXPECT_CONTENT("sub/h", "before middle after", 19);
}

static void
v_rename_open_file(void)
{
	struct stat st;

	EXPECT_ERR(stat("f", &st), ENOENT);
	EXPECT_ERR(stat("g", &st), ENOENT);
	EXPECT_CONTENT("sub/h", "before middle after", 19);
}

static void
t_rename_across(void)
{
	struct stat st;
	char        big[20000];

	EXPECT_OK(mkdir("a", 0755));
	EXPECT_OK(mkdir("b", 0755));
	EXPECT_OK(put_file("a/f", "moved", 5));
	memset(big, 'q', sizeof(big));
	EXPECT_OK(put_file("a/big", big, sizeof(big)));
	EXPECT_OK(put_file("b/big", "small", 5));
	EXPECT_OK(rename("a/f", "b/g"));
	EXPECT_ERR(stat("a/f", &st), ENOENT);
	EXPECT_CONTENT("b/g", "moved", 5);
	EXPECT_OK(rename("a/big", "b/big")); /* over an existing one */
	EXPECT_ERR(stat("a/big", &st), ENOENT);
	EXPECT_CONTENT("b/big", big, sizeof(big));
	/* A directory with contents across. */
	EXPECT_OK(mkdir("a/sub", 0755));
	EXPECT_OK(put_file("a/sub/inner", "deep", 4));
	EXPECT_OK(rename("a/sub", "b/sub2"));
	EXPECT_ERR(stat("a/sub", &st), ENOENT);
	EXPECT_CONTENT("b/sub2/inner", "deep", 4);
	EXPECT_OK(put_file("b/sub2/later", "later", 5));
	EXPECT_CONTENT("b/sub2/later", "later", 5);
	EXPECT_OK(rmdir("a"));
}

static void
v_rename_across(void)
{
	struct stat st;
	char        big[20000];

	memset(big, 'q', sizeof(big));
	EXPECT_ERR(stat("a", &st), ENOENT);
	EXPECT_CONTENT("b/g", "moved", 5);
	EXPECT_CONTENT("b/big", big, sizeof(big));
	EXPECT_CONTENT("b/sub2/inner", "deep", 4);
	EXPECT_CONTENT("b/sub2/later", "later", 5);
}

static void
t_rename_dir_over_empty(void)
{
	struct stat st;

	EXPECT_OK(mkdir("src", 0755));
	EXPECT_OK(put_file("src/f", "in src", 6));
	EXPECT_OK(mkdir("dst", 0755));
	EXPECT_OK(rename("src", "dst"));
	EXPECT_ERR(stat("src", &st), ENOENT);
	EXPECT_OK(stat("dst", &st));
	EXPECT(S_ISDIR(st.st_mode), "dst is no longer a directory");
	EXPECT_CONTENT("dst/f", "in src", 6);
	/* Across directories too. */
	EXPECT_OK(mkdir("p", 0755));
	EXPECT_OK(mkdir("p/empty", 0755));
	EXPECT_OK(rename("dst", "p/empty"));
	EXPECT_ERR(stat("dst", &st), ENOENT);
	EXPECT_CONTENT("p/empty/f", "in src", 6);
}

static void
v_rename_dir_over_empty(void)
{
	struct stat st;

	EXPECT_ERR(stat("src", &st), ENOENT);
	EXPECT_ERR(stat("dst", &st), ENOENT);
	EXPECT_CONTENT("p/empty/f", "in src", 6);
}

static void
t_rename_dir_nonempty(void)
{
	EXPECT_OK(mkdir("src", 0755));
	EXPECT_OK(put_file("src/a", "a", 1));
	EXPECT_OK(mkdir("dst", 0755));
	EXPECT_OK(put_file("dst/b", "b", 1));
	EXPECT_ERR(rename("src", "dst"), ENOTEMPTY);
	EXPECT_CONTENT("src/a", "a", 1);
	EXPECT_CONTENT("dst/b", "b", 1);
	/* Kinds must match. */
	EXPECT_OK(put_file("file", "f", 1));
	EXPECT_ERR(rename("file", "dst"), EISDIR);
	EXPECT_ERR(rename("src", "file"), ENOTDIR);
	EXPECT_CONTENT("file", "f", 1);
	EXPECT_CONTENT("src/a", "a", 1);
}

static void
t_rename_into_self(void)
{
	struct stat st;

	EXPECT_OK(mkdir("d", 0755));
	EXPECT_OK(mkdir("d/sub", 0755));
	EXPECT_ERR(rename("d", "d/sub/x"), EINVAL);
	EXPECT_ERR(rename("d", "d/x"), EINVAL);
	EXPECT_OK(stat("d/sub", &st));
	EXPECT_ERR(stat("d/sub/x", &st), ENOENT);
}

/*
 * unlink, mkdir, rmdir.
 */

static void
t_unlink_open(void)
{
	struct stat st;
	char        buf[32];
	int         fd, fd2;

	EXPECT_OK(put_file("f", "still here", 10));
	EXPECT_OKV(fd, open("f", O_RDWR));
	EXPECT_OK(unlink("f"));
	EXPECT_ERR(stat("f", &st), ENOENT);
	memset(buf, 0, sizeof(buf));
	EXPECT(pread(fd, buf, sizeof(buf), 0) == 10 &&
	        memcmp(buf, "still here", 10) == 0,
	    "read from an unlinked open file: [%s] (%s)", buf,
	    strerror(errno));
	EXPECT_OK(fstat(fd, &st));
	EXPECT(st.st_size == 10, "fstat of an unlinked file: size %lld",
	    (long long) st.st_size);
	EXPECT(pwrite(fd, "STILL", 5, 0) == 5,
	    "pwrite to an unlinked file: %s", strerror(errno));
	EXPECT(pread(fd, buf, sizeof(buf), 0) == 10 &&
	        memcmp(buf, "STILL here", 10) == 0,
	    "read back from an unlinked file: [%s]", buf);
	/* The name is free again, for a new file. */
	EXPECT_OKV(fd2, open("f", O_RDWR | O_CREAT | O_EXCL, 0644));
	EXPECT_OK(write_all(fd2, "new", 3));
	EXPECT_OK(close(fd2));
	EXPECT(pread(fd, buf, sizeof(buf), 0) == 10 &&
	        memcmp(buf, "STILL here", 10) == 0,
	    "unlinked file after the name was reused: [%s]", buf);
	EXPECT_OK(fsync(fd));
	EXPECT_OK(close(fd));
	EXPECT_CONTENT("f", "new", 3);
}

/* st_nlink: 1 for a file, 0 once unlinked (an open file lives on). */
static void
t_unlink_nlink(void)
{
	struct stat st;
	int         fd;

	EXPECT_OK(put_file("f", "x", 1));
	EXPECT_OK(stat("f", &st));
	EXPECT(st.st_nlink == 1, "nlink of a file: %lu",
	    (unsigned long) st.st_nlink);
	EXPECT_OKV(fd, open("f", O_RDONLY));
	EXPECT_OK(unlink("f"));
	EXPECT_OK(fstat(fd, &st));
	EXPECT(st.st_nlink == 0,
	    "fstat of an unlinked open file: nlink %lu, "
	    "expected 0",
	    (unsigned long) st.st_nlink);
	EXPECT_OK(close(fd));
	/* Also for a file replaced by a rename. */
	EXPECT_OK(put_file("a", "a", 1));
	EXPECT_OK(put_file("b", "b", 1));
	EXPECT_OKV(fd, open("b", O_RDONLY));
	EXPECT_OK(rename("a", "b"));
	EXPECT_OK(fstat(fd, &st));
	EXPECT(st.st_nlink == 0,
	    "fstat of an open file replaced by rename: "
	    "nlink %lu, expected 0",
	    (unsigned long) st.st_nlink);
	EXPECT_OK(close(fd));
}

static void
v_unlink_open(void)
{
	EXPECT_CONTENT("f", "new", 3);
}

static void
t_mkdir_rmdir(void)
{
	struct stat st;

	EXPECT_OK(mkdir("d", 0755));
	EXPECT_ERR(mkdir("d", 0755), EEXIST);
	EXPECT_OK(put_file("f", "x", 1));
	EXPECT_ERR(mkdir("f", 0755), EEXIST);
	EXPECT_OK(put_file("d/f", "x", 1));
	EXPECT_ERR(rmdir("d"), ENOTEMPTY);
	EXPECT_ERR(rmdir("f"), ENOTDIR);
	EXPECT_ERR(unlink("d"), EISDIR);
	EXPECT_ERR(rmdir("."), EINVAL);
	EXPECT_OK(mkdir("d/sub", 0755));
	EXPECT_OK(unlink("d/f"));
	EXPECT_ERR(rmdir("d"), ENOTEMPTY);
	EXPECT_OK(rmdir("d/sub"));
	EXPECT_OK(rmdir("d"));
	EXPECT_ERR(stat("d", &st), ENOENT);
	EXPECT_ERR(rmdir("d"), ENOENT);
	/* Recreate under the same name: empty. */
	EXPECT_OK(mkdir("d", 0755));
	EXPECT_ERR(stat("d/f", &st), ENOENT);
	EXPECT_OK(rmdir("d"));
}

/*
 * readdir.
 */

struct namelist {
	char **v;
	long  *off; /* telldir after each */
	size_t n, cap;
};

static void
nl_add(struct namelist *l, const char *name, long off)
{
	if (l->n == l->cap) {
		l->cap = l->cap ? 2 * l->cap : 256;
		l->v   = realloc(l->v, l->cap * sizeof(*l->v));
		l->off = realloc(l->off, l->cap * sizeof(*l->off));
	}
	l->v[l->n]     = strdup(name);
	l->off[l->n++] = off;
}

static void
nl_cut(struct namelist *l, size_t n)
{
	while (l->n > n)
		free(l->v[--l->n]);
}

static void
nl_free(struct namelist *l)
{
	nl_cut(l, 0);
	free(l->v);
	free(l->off);
	memset(l, 0, sizeof(*l));
}

/* Index of name in l, or -1. */
static long
nl_find(const struct namelist *l, const char *name)
{
	size_t i;

	for (i = 0; i < l->n; i++)
		if (strcmp(l->v[i], name) == 0)
			return (long) i;
	return -1;
}

static int
cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *) a, *(char *const *) b);
}

/* A name seen twice in l, or NULL. */
static const char *
nl_dup(const struct namelist *l)
{
	static char dup[NAME_MAX + 1];
	char      **s;
	size_t      i;
	const char *r = NULL;

	if (l->n < 2)
		return NULL;
	s = malloc(l->n * sizeof(*s));
	memcpy(s, l->v, l->n * sizeof(*s));
	qsort(s, l->n, sizeof(*s), cmp_str);
	for (i = 1; i < l->n; i++)
		if (strcmp(s[i - 1], s[i]) == 0) {
			snprintf(dup, sizeof(dup), "%s", s[i]);
			r = dup;
			break;
		}
	free(s);
	return r;
}

/* Read all of dir (no "." / ".."), telldir after each entry. */
static int
list_dir(DIR *d, struct namelist *l)
{
	struct dirent *de;

	for (;;) {
		errno = 0;
		if ((de = readdir(d)) == NULL)
			return errno ? -1 : 0;
		if (strcmp(de->d_name, ".") == 0 ||
		    strcmp(de->d_name, "..") == 0)
			continue;
		nl_add(l, de->d_name, telldir(d));
	}
}

static void
t_readdir_basic(void)
{
	struct namelist l = { 0 };
	struct dirent  *de;
	bool            dot = false, dotdot = false;
	char            name[64];
	DIR            *d;
	int             i;

	for (i = 0; i < 50; i++) {
		snprintf(name, sizeof(name), "file-%02d", i);
		EXPECT_OK(mknod(name, S_IFREG | 0644, 0));
	}
	EXPECT_OK(mkdir("sub", 0755));
	EXPECT((d = opendir(".")) != NULL, "opendir: %s", strerror(errno));
	while ((errno = 0, de = readdir(d)) != NULL) {
		if (strcmp(de->d_name, ".") == 0) {
			EXPECT(!dot, "\".\" twice");
			dot = true;
		} else if (strcmp(de->d_name, "..") == 0) {
			EXPECT(!dotdot, "\"..\" twice");
			dotdot = true;
		} else {
			if (strcmp(de->d_name, "sub") == 0)
				EXPECT(de->d_type == DT_DIR ||
				        de->d_type == DT_UNKNOWN,
				    "sub: d_type %d", de->d_type);
			else
				EXPECT(de->d_type == DT_REG ||
				        de->d_type == DT_UNKNOWN,
				    "%s: d_type %d", de->d_name, de->d_type);
			nl_add(&l, de->d_name, 0);
		}
	}
	EXPECT(errno == 0, "readdir: %s", strerror(errno));
	closedir(d);
	EXPECT(dot && dotdot, "no \".\" or \"..\"");
	EXPECT(l.n == 51, "%zu entries, expected 51", l.n);
	EXPECT(nl_dup(&l) == NULL, "%s listed twice", nl_dup(&l));
	for (i = 0; i < 50; i++) {
		snprintf(name, sizeof(name), "file-%02d", i);
		EXPECT(nl_find(&l, name) >= 0, "%s not listed", name);
	}
	nl_free(&l);
	/* An empty directory lists only "." and "..". */
	EXPECT(
	    (d = opendir("sub")) != NULL, "opendir sub: %s", strerror(errno));
	EXPECT_OK(list_dir(d, &l));
	closedir(d);
	EXPECT(l.n == 0, "empty directory lists %zu entries", l.n);
}

/* Creates and removes entries with names sorting among the stable ones
 * until told to stop.  Names are never reused. */
struct churn {
	volatile int stop;
	int          ops, err;
	char         what[128];
};

#define STABLE_N 500

static void *
churn_main(void *arg)
{
	struct churn *c = arg;
	char          name[64], old[64];
	int           i = 0;

	while (!c->stop) {
		snprintf(name, sizeof(name), "e%03d-churn%06d",
		    (i * 97) % STABLE_N, i);
		if (mknod(name, S_IFREG | 0644, 0) != 0 && !c->err) {
			c->err = errno;
			snprintf(c->what, sizeof(c->what), "mknod %s", name);
		}
		if (i >= 16) {
			snprintf(old, sizeof(old), "e%03d-churn%06d",
			    ((i - 16) * 97) % STABLE_N, i - 16);
			if (unlink(old) != 0 && !c->err) {
				c->err = errno;
				snprintf(c->what, sizeof(c->what), "unlink %s",
				    old);
			}
		}
		i++;
		c->ops++;
	}
	return NULL;
}

/*
 * A directory stream, either glibc's (opendir/readdir/telldir/seekdir,
 * whose buffer is st_blksize = 128 KiB here: one getdents usually reads a
 * whole test directory) or raw getdents64(2)/lseek(2) with a small buffer,
 * so that a scan takes many getdents calls and resumes at many offsets.
 */
struct dstream {
	bool   raw;
	DIR   *d;
	int    fd;
	char   buf[4096];
	size_t len, p;
	long   pos; /* raw: offset after the last entry returned */
};

static int
ds_open(struct dstream *s, bool raw)
{
	memset(s, 0, sizeof(*s));
	s->raw = raw;
	s->fd  = -1;
	if (!raw)
		return (s->d = opendir(".")) != NULL ? 0 : -1;
	return (s->fd = open(".", O_RDONLY | O_DIRECTORY)) >= 0 ? 0 : -1;
}

static void
ds_close(struct dstream *s)
{
	if (s->d != NULL)
		closedir(s->d);
	if (s->fd >= 0)
		close(s->fd);
	s->d  = NULL;
	s->fd = -1;
}

/* The next name other than "." and ".."; NULL at the end (errno 0) or on
 * an error (errno set). */
static const char *
ds_next(struct dstream *s)
{
	struct dirent64 *e;
	struct dirent   *de;
	ssize_t          n;

	for (;;) {
		errno = 0;
		if (!s->raw) {
			if ((de = readdir(s->d)) == NULL)
				return NULL;
			if (strcmp(de->d_name, ".") != 0 &&
			    strcmp(de->d_name, "..") != 0)
				return de->d_name;
			continue;
		}
		if (s->p >= s->len) {
			if ((n = getdents64(s->fd, s->buf, sizeof(s->buf))) <=
			    0)
				return NULL;
			s->len = (size_t) n;
			s->p   = 0;
		}
		e = (struct dirent64 *) (s->buf + s->p);
		s->p += e->d_reclen;
		s->pos = (long) e->d_off;
		if (strcmp(e->d_name, ".") != 0 &&
		    strcmp(e->d_name, "..") != 0)
			return e->d_name;
	}
}

static long
ds_tell(struct dstream *s)
{
	return s->raw ? s->pos : telldir(s->d);
}

static void
ds_seek(struct dstream *s, long pos)
{
	if (!s->raw) {
		seekdir(s->d, pos);
		return;
	}
	if (lseek(s->fd, pos, SEEK_SET) != pos)
		failf(__LINE__, "lseek of a directory to %ld: %s", pos,
		    strerror(errno));
	s->len = s->p = 0;
	s->pos        = pos;
}

/* One scan with telldir/seekdir while entries change: every stable entry
 * exactly once, no name twice, and a seek back re-reads the same stable
 * entries in the same order. */
static void
scan_churning(int round, bool raw)
{
	struct namelist l = { 0 }, before = { 0 };
	struct dstream  ds;
	const char     *nm;
	char            name[64];
	size_t          back_at   = 40, i, j;
	bool            went_back = false;

	EXPECT(ds_open(&ds, raw) == 0, "opendir: %s", strerror(errno));
	for (;;) {
		if ((nm = ds_next(&ds)) == NULL) {
			EXPECT(errno == 0, "round %d: readdir: %s", round,
			    strerror(errno));
			break;
		}
		nl_add(&l, nm, ds_tell(&ds));
		/* Re-position at the current place now and then: the next
		 * getdents starts from this offset. */
		if (l.n % 13 == 0)
			ds_seek(&ds, ds_tell(&ds));
		/* Once, well past back_at: seek back there and forget what
		 * was read after it. */
		if (!went_back && l.n == back_at + 70) {
			went_back = true;
			for (i = back_at; i < l.n; i++)
				if (strstr(l.v[i], "stable"))
					nl_add(&before, l.v[i], 0);
			ds_seek(&ds, l.off[back_at - 1]);
			nl_cut(&l, back_at);
		}
	}
	ds_close(&ds);
	EXPECT(went_back, "round %d: only %zu entries listed", round, l.n);
	EXPECT(nl_dup(&l) == NULL, "round %d: %s listed twice", round,
	    nl_dup(&l));
	for (i = 0; i < STABLE_N; i++) {
		snprintf(
		    name, sizeof(name), "e%03zu-stable-with-some-padding", i);
		EXPECT(nl_find(&l, name) >= 0,
		    "round %d: %s (present throughout) not listed", round,
		    name);
	}
	/* After the seek back, the same stable entries in the same order. */
	for (i = back_at, j = 0; i < l.n && j < before.n; i++)
		if (strstr(l.v[i], "stable")) {
			EXPECT(strcmp(l.v[i], before.v[j]) == 0,
			    "round %d: after seeking back: %s, expected %s",
			    round, l.v[i], before.v[j]);
			j++;
		}
	EXPECT(j == before.n,
	    "round %d: after seeking back: %zu of %zu "
	    "stable entries again",
	    round, j, before.n);
	nl_free(&l);
	nl_free(&before);
}

static void
readdir_churn(bool raw)
{
	struct churn c = { 0 };
	struct stat  st;
	pthread_t    th;
	char         name[64];
	int          i, round;

	for (i = 0; i < STABLE_N; i++) {
		snprintf(
		    name, sizeof(name), "e%03d-stable-with-some-padding", i);
		EXPECT_OK(mknod(name, S_IFREG | 0644, 0));
	}
	EXPECT(
	    pthread_create(&th, NULL, churn_main, &c) == 0, "pthread_create");
	for (round = 0; round < 6 && !cur_failed; round++)
		scan_churning(round, raw);
	c.stop = 1;
	pthread_join(th, NULL);
	if (cur_failed)
		return;
	EXPECT(c.err == 0, "churn thread: %s: %s", c.what, strerror(c.err));
	EXPECT(c.ops > 0, "churn thread made no changes");
	EXPECT_OK(stat(".", &st));
}

static void
t_readdir_churn(void)
{
	readdir_churn(false);
}

static void
t_getdents_churn(void)
{
	readdir_churn(true);
}

static void
t_readdir_rewind(void)
{
	struct namelist a = { 0 }, b = { 0 }, c = { 0 };
	struct dirent  *de;
	char            name[64];
	size_t          i;
	DIR            *d, *d2;

	for (i = 0; i < 150; i++) {
		snprintf(
		    name, sizeof(name), "entry-with-a-longish-name-%03zu", i);
		EXPECT_OK(mknod(name, S_IFREG | 0644, 0));
	}
	EXPECT((d = opendir(".")) != NULL, "opendir: %s", strerror(errno));
	EXPECT_OK(list_dir(d, &a));
	rewinddir(d);
	EXPECT_OK(list_dir(d, &b));
	EXPECT(a.n == 150 && b.n == 150, "%zu then %zu entries, expected 150",
	    a.n, b.n);
	for (i = 0; i < a.n; i++)
		EXPECT(strcmp(a.v[i], b.v[i]) == 0 && a.off[i] == b.off[i],
		    "entry %zu: [%s] at %ld, after rewinddir [%s] at %ld", i,
		    a.v[i], a.off[i], b.v[i], b.off[i]);
	/* A second handle sees the same positions. */
	EXPECT((d2 = opendir(".")) != NULL, "opendir: %s", strerror(errno));
	EXPECT_OK(list_dir(d2, &c));
	closedir(d2);
	for (i = 0; i < a.n && i < c.n; i++)
		EXPECT(strcmp(a.v[i], c.v[i]) == 0 && a.off[i] == c.off[i],
		    "entry %zu: [%s] at %ld, another handle [%s] at %ld", i,
		    a.v[i], a.off[i], c.v[i], c.off[i]);
	/* seekdir within this pass. */
	seekdir(d, b.off[9]);
	errno = 0;
	de    = readdir(d);
	EXPECT(de != NULL && strcmp(de->d_name, b.v[10]) == 0,
	    "seekdir to entry 9's position: got [%s], expected [%s]",
	    de ? de->d_name : strerror(errno), b.v[10]);
	closedir(d);
	nl_free(&a);
	nl_free(&b);
	nl_free(&c);
}

/* seekdir to any position telldir returned on this stream since the
 * last rewind, in any order (POSIX seekdir; for getdents, any d_off
 * returned on this open directory). */
static void
readdir_seek_any(bool raw)
{
	static const size_t order[] = { 10, 1200, 3, 900, 450, 1499, 0, 700,
		1100 };
	struct namelist     l       = { 0 };
	struct dstream      ds;
	const char         *nm;
	char                name[64];
	size_t              i, k;

	/* More than a glibc buffer for readdir; many for getdents. */
	for (i = 0; i < 1500; i++) {
		snprintf(name, sizeof(name),
		    "n%04zu-a-name-long-enough-to-fill-buffers-quickly", i);
		EXPECT_OK(mknod(name, S_IFREG | 0644, 0));
	}
	EXPECT(ds_open(&ds, raw) == 0, "opendir: %s", strerror(errno));
	while ((nm = ds_next(&ds)) != NULL)
		nl_add(&l, nm, ds_tell(&ds));
	EXPECT(errno == 0, "readdir: %s", strerror(errno));
	EXPECT(l.n == 1500, "%zu entries, expected 1500", l.n);
	for (k = 0; k < sizeof(order) / sizeof(order[0]); k++) {
		i = order[k];
		ds_seek(&ds, l.off[i]);
		nm = ds_next(&ds);
		if (i + 1 == l.n) {
			EXPECT(nm == NULL, "seek to the end: got [%s]", nm);
			continue;
		}
		EXPECT(nm != NULL && strcmp(nm, l.v[i + 1]) == 0,
		    "seek #%zu (to %ld, after entry %zu): got [%s], expected "
		    "[%s]",
		    k + 1, l.off[i], i, nm ? nm : "end of directory",
		    l.v[i + 1]);
	}
	ds_close(&ds);
	nl_free(&l);
}

static void
t_readdir_seek_any(void)
{
	readdir_seek_any(false);
}

static void
t_getdents_seek_any(void)
{
	readdir_seek_any(true);
}

/*
 * Concurrent writers.
 */

#define CW_THREADS 4
#define CW_FILE (64 << 10)
#define CW_STRIPE 4096
#define CW_SHARED (CW_THREADS * CW_FILE)

struct cw_arg {
	int  id;
	int  err;
	char what[128];
};

static void *
cw_main(void *arg)
{
	struct cw_arg *a = arg;
	char           name[32], buf[CW_STRIPE];
	size_t         off, i;
	int            fd, sfd;

	snprintf(name, sizeof(name), "own-%d", a->id);
	if ((fd = open(name, O_WRONLY | O_CREAT | O_EXCL, 0644)) < 0) {
		a->err = errno;
		snprintf(a->what, sizeof(a->what), "create %s", name);
		return NULL;
	}
	if ((sfd = open("shared", O_WRONLY)) < 0) {
		a->err = errno;
		snprintf(a->what, sizeof(a->what), "open shared");
		close(fd);
		return NULL;
	}
	/* Alternate: a chunk of the own file, then a stripe of the shared
	 * file (stripes k with k % CW_THREADS == id, back to front). */
	for (off = 0; off < CW_FILE && !a->err; off += CW_STRIPE) {
		size_t k =
		    (CW_FILE / CW_STRIPE - 1 - off / CW_STRIPE) * CW_THREADS +
		    (size_t) a->id;

		for (i = 0; i < CW_STRIPE; i++)
			buf[i] = (char) pat(a->id, off + i);
		if (write_all(fd, buf, CW_STRIPE) != 0) {
			a->err = errno;
			snprintf(a->what, sizeof(a->what), "write %s at %zu",
			    name, off);
		}
		for (i = 0; i < CW_STRIPE; i++)
			buf[i] = (char) pat(CW_THREADS, k * CW_STRIPE + i);
		if (pwrite_all(sfd, buf, CW_STRIPE, (off_t) (k * CW_STRIPE)) !=
		        0 &&
		    !a->err) {
			a->err = errno;
			snprintf(a->what, sizeof(a->what),
			    "pwrite shared at %zu", k * CW_STRIPE);
		}
	}
	if (close(sfd) != 0 && !a->err) {
		a->err = errno;
		snprintf(a->what, sizeof(a->what), "close shared");
	}
	if (close(fd) != 0 && !a->err) {
		a->err = errno;
		snprintf(a->what, sizeof(a->what), "close %s", name);
	}
	return NULL;
}

static void
check_cw_files(void)
{
	static char want[CW_SHARED];
	char        name[32];
	size_t      i;
	int         t;

	for (t = 0; t < CW_THREADS; t++) {
		snprintf(name, sizeof(name), "own-%d", t);
		for (i = 0; i < CW_FILE; i++)
			want[i] = (char) pat(t, i);
		EXPECT_CONTENT(name, want, CW_FILE);
	}
	for (i = 0; i < CW_SHARED; i++)
		want[i] = (char) pat(CW_THREADS, i);
	EXPECT_CONTENT("shared", want, CW_SHARED);
}

static void
t_concurrent_writers(void)
{
	struct cw_arg a[CW_THREADS];
	pthread_t     th[CW_THREADS];
	int           fd, t;

	EXPECT_OKV(fd, open("shared", O_WRONLY | O_CREAT | O_EXCL, 0644));
	EXPECT_OK(close(fd));
	memset(a, 0, sizeof(a));
	for (t = 0; t < CW_THREADS; t++) {
		a[t].id = t;
		EXPECT(pthread_create(&th[t], NULL, cw_main, &a[t]) == 0,
		    "pthread_create");
	}
	for (t = 0; t < CW_THREADS; t++)
		pthread_join(th[t], NULL);
	for (t = 0; t < CW_THREADS; t++)
		EXPECT(a[t].err == 0, "thread %d: %s: %s", t, a[t].what,
		    strerror(a[t].err));
	check_cw_files();
}

/*
 * Diaries.
 */

static void
t_diary_create(void)
{
	struct stat st;
	int         fd;

	EXPECT_OKV(fd, open("log", O_WRONLY | O_CREAT | O_APPEND, 0644));
	EXPECT_OK(write_all(fd, "one\ntwo\n", 8));
	EXPECT_OK(fstat(fd, &st));
	EXPECT(S_ISREG(st.st_mode) && st.st_size == 8,
	    "diary fstat: mode 0%o size %lld", st.st_mode,
	    (long long) st.st_size);
	EXPECT_OK(close(fd));
	EXPECT(is_diary("log"),
	    "O_CREAT|O_APPEND did not create a diary "
	    "(no user.optimfs.entries)");
	EXPECT_CONTENT("log", "one\ntwo\n", 8);
	/* Appending through a new O_APPEND open. */
	EXPECT_OKV(fd, open("log", O_WRONLY | O_APPEND));
	EXPECT_OK(write_all(fd, "three\n", 6));
	EXPECT_OK(close(fd));
	EXPECT_CONTENT("log", "one\ntwo\nthree\n", 14);
	/* Without O_APPEND, writing exactly at the end is an append. */
	EXPECT_OKV(fd, open("log", O_WRONLY));
	EXPECT(pwrite(fd, "four\n", 5, 14) == 5, "pwrite at the end: %s",
	    strerror(errno));
	EXPECT_OK(close(fd));
	EXPECT_CONTENT("log", "one\ntwo\nthree\nfour\n", 19);
}

static void
v_diary_create(void)
{
	EXPECT(is_diary("log"), "log is no longer a diary");
	EXPECT_CONTENT("log", "one\ntwo\nthree\nfour\n", 19);
}

static void
t_diary_refusals(void)
{
	static const char body[] = "first\nsecond\n";
	const size_t      blen   = sizeof(body) - 1;
	struct stat       st;
	int               fd;

	EXPECT_OKV(fd, open("log", O_WRONLY | O_CREAT | O_APPEND, 0644));
	EXPECT_OK(write_all(fd, body, blen));
	/* ftruncate through the appending descriptor. */
	EXPECT_ERR(ftruncate(fd, 0), EPERM);
	EXPECT_ERR(ftruncate(fd, 3), EPERM);
	EXPECT_ERR(ftruncate(fd, 100), EPERM);
	EXPECT_OK(close(fd));
	EXPECT_CONTENT("log", body, blen);
	/* A descriptor without O_APPEND: writes inside are refused. */
	EXPECT_OKV(fd, open("log", O_RDWR));
	EXPECT_ERR(pwrite(fd, "X", 1, 0), EPERM);
	EXPECT_ERR(pwrite(fd, "X\n", 2, 3), EPERM);
	EXPECT_ERR(pwrite(fd, "X\n", 2, (off_t) blen + 10), EPERM);
	EXPECT_ERR(write(fd, "X\n", 2), EPERM); /* file offset 0 */
	EXPECT_ERR(ftruncate(fd, 0), EPERM);
	EXPECT_OK(close(fd));
	EXPECT_ERR(truncate("log", 0), EPERM);
	EXPECT_ERR(open("log", O_WRONLY | O_TRUNC), EPERM);
	EXPECT_ERR(open("log", O_WRONLY | O_APPEND | O_TRUNC), EPERM);
	EXPECT_ERR(open("log", O_WRONLY | O_CREAT | O_TRUNC, 0644), EPERM);
	EXPECT_OK(stat("log", &st));
	EXPECT(st.st_size == (off_t) blen, "diary size after refusals: %lld",
	    (long long) st.st_size);
	EXPECT_CONTENT("log", body, blen);
	EXPECT(is_diary("log"), "log is no longer a diary");
}

/* pwrite(2) on an O_APPEND descriptor: Linux appends whatever the offset
 * (man 2 pwrite, BUGS); a diary may also refuse.  Never an overwrite. */
static void
t_diary_pwrite_append_fd(void)
{
	size_t len;
	char  *got;
	int    fd;

	EXPECT_OKV(fd, open("log", O_WRONLY | O_CREAT | O_APPEND, 0644));
	EXPECT_OK(write_all(fd, "abc\n", 4));
	errno = 0;
	if (pwrite(fd, "Z\n", 2, 0) != 2)
		EXPECT(errno == EPERM,
		    "pwrite at 0 on an O_APPEND diary fd: %s, expected an "
		    "append or EPERM",
		    strerror(errno));
	EXPECT_OK(close(fd));
	EXPECT((got = read_path("log", &len)) != NULL, "read: %s",
	    strerror(errno));
	EXPECT((len == 4 && memcmp(got, "abc\n", 4) == 0) ||
	        (len == 6 && memcmp(got, "abc\nZ\n", 6) == 0),
	    "diary after pwrite at 0 on an O_APPEND fd: [%.*s]", (int) len,
	    got);
	free(got);
}

#define DL_THREADS 4
#define DL_LINES 150

struct dl_arg {
	int  id, err;
	char what[128];
};

static void *
dl_main(void *arg)
{
	struct dl_arg *a = arg;
	char           line[512];
	int            fd, i, n, pad;

	if ((fd = open("log", O_WRONLY | O_APPEND)) < 0) {
		a->err = errno;
		snprintf(a->what, sizeof(a->what), "open log");
		return NULL;
	}
	for (i = 0; i < DL_LINES && !a->err; i++) {
		pad = (i * 53 + a->id * 11) % 300;
		n   = snprintf(line, sizeof(line), "w%d l%04d ", a->id, i);
		memset(line + n, 'a' + a->id, (size_t) pad);
		line[n + pad] = '\n';
		if (write_all(fd, line, (size_t) (n + pad + 1)) != 0) {
			a->err = errno;
			snprintf(
			    a->what, sizeof(a->what), "append line %d", i);
		}
	}
	if (close(fd) != 0 && !a->err) {
		a->err = errno;
		snprintf(a->what, sizeof(a->what), "close");
	}
	return NULL;
}

#define O_LINE(p, nl) ((nl) - (p) > 80 ? 80 : (nl) - (p))

/* The diary holds exactly the writers' lines, whole, each writer's in
 * its order. */
static void
check_diary_lines(void)
{
	int    next[DL_THREADS] = { 0 };
	size_t len, nlines = 0;
	char  *got, *p, *end, *nl;
	int    id, seq, n, pad, i;

	EXPECT((got = read_path("log", &len)) != NULL, "read log: %s",
	    strerror(errno));
	for (p = got, end = got + len; p < end; p = nl + 1) {
		nl = memchr(p, '\n', (size_t) (end - p));
		EXPECT(nl != NULL, "line %zu: no final newline", nlines + 1);
		nlines++;
		EXPECT(sscanf(p, "w%d l%d", &id, &seq) == 2 && id >= 0 &&
		        id < DL_THREADS && seq >= 0 && seq < DL_LINES,
		    "line %zu torn: [%.*s]", nlines, (int) O_LINE(p, nl), p);
		n = snprintf(NULL, 0, "w%d l%04d ", id, seq);
		EXPECT(nl - p >= n && p[n - 1] == ' ', "line %zu torn: [%.*s]",
		    nlines, (int) O_LINE(p, nl), p);
		EXPECT(seq == next[id],
		    "line %zu: writer %d line %d, "
		    "expected its line %d",
		    nlines, id, seq, next[id]);
		pad = (seq * 53 + id * 11) % 300;
		EXPECT(nl - p == n + pad,
		    "line %zu (w%d l%d): %ld bytes, "
		    "expected %d: interleaved",
		    nlines, id, seq, (long) (nl - p), n + pad);
		for (i = 0; i < pad; i++)
			EXPECT(p[n + i] == 'a' + id,
			    "line %zu (w%d l%d): foreign byte at %d", nlines,
			    id, seq, n + i);
		next[id]++;
	}
	free(got);
	for (id = 0; id < DL_THREADS; id++)
		EXPECT(next[id] == DL_LINES,
		    "writer %d: %d lines, expected %d", id, next[id],
		    DL_LINES);
}

static void
t_diary_concurrent(void)
{
	struct dl_arg a[DL_THREADS];
	pthread_t     th[DL_THREADS];
	int           fd, t;

	EXPECT_OKV(
	    fd, open("log", O_WRONLY | O_CREAT | O_APPEND | O_EXCL, 0644));
	EXPECT_OK(close(fd));
	EXPECT(is_diary("log"), "log is not a diary");
	memset(a, 0, sizeof(a));
	for (t = 0; t < DL_THREADS; t++) {
		a[t].id = t;
		EXPECT(pthread_create(&th[t], NULL, dl_main, &a[t]) == 0,
		    "pthread_create");
	}
	for (t = 0; t < DL_THREADS; t++)
		pthread_join(th[t], NULL);
	for (t = 0; t < DL_THREADS; t++)
		EXPECT(a[t].err == 0, "writer %d: %s: %s", t, a[t].what,
		    strerror(a[t].err));
	check_diary_lines();
}

/*
 * fsync, xattrs, statfs.
 */

static void
t_fsync(void)
{
	int fd;

	EXPECT_OKV(fd, open("f", O_RDWR | O_CREAT | O_EXCL, 0644));
	EXPECT_OK(write_all(fd, "synced\n", 7));
	EXPECT_OK(fsync(fd));
	EXPECT_OK(pwrite_all(fd, "S", 1, 0));
	EXPECT_OK(fdatasync(fd));
	EXPECT_OK(fsync(fd)); /* nothing new */
	EXPECT_OK(close(fd));
	EXPECT_OKV(fd, open("log", O_WRONLY | O_CREAT | O_APPEND, 0644));
	EXPECT_OK(write_all(fd, "entry\nfragment", 14));
	EXPECT_OK(fsync(fd));
	EXPECT_OK(fdatasync(fd));
	EXPECT_OK(close(fd));
	EXPECT_OKV(fd, open(".", O_RDONLY | O_DIRECTORY));
	EXPECT_OK(fsync(fd));
	EXPECT_OK(close(fd));
	EXPECT_CONTENT("f", "Synced\n", 7);
	EXPECT_CONTENT("log", "entry\nfragment", 14);
}

static void
v_fsync(void)
{
	EXPECT_CONTENT("f", "Synced\n", 7);
	EXPECT_CONTENT("log", "entry\nfragment", 14);
}

static bool
list_has(const char *list, ssize_t len, const char *name)
{
	ssize_t i = 0;

	while (i < len) {
		if (strcmp(list + i, name) == 0)
			return true;
		i += (ssize_t) strlen(list + i) + 1;
	}
	return false;
}

static void
t_xattr(void)
{
	char    buf[256], big[5000];
	ssize_t n;

	EXPECT_OK(put_file("f", "x", 1));
	EXPECT_OK(setxattr("f", "user.color", "blue", 4, 0));
	EXPECT((n = getxattr("f", "user.color", buf, sizeof(buf))) == 4 &&
	        memcmp(buf, "blue", 4) == 0,
	    "getxattr user.color: %zd [%.*s] (%s)", n, n > 0 ? (int) n : 0,
	    buf, strerror(errno));
	EXPECT(getxattr("f", "user.color", NULL, 0) == 4, "getxattr size");
	EXPECT_ERR(getxattr("f", "user.color", buf, 2), ERANGE);
	EXPECT_ERR(getxattr("f", "user.missing", buf, sizeof(buf)), ENODATA);
	EXPECT_ERR(
	    setxattr("f", "user.color", "red", 3, XATTR_CREATE), EEXIST);
	EXPECT_ERR(
	    setxattr("f", "user.other", "v", 1, XATTR_REPLACE), ENODATA);
	EXPECT_OK(setxattr("f", "user.color", "green", 5, XATTR_REPLACE));
	EXPECT_OK(setxattr("f", "user.empty", "", 0, 0));
	EXPECT(getxattr("f", "user.empty", buf, sizeof(buf)) == 0,
	    "empty xattr: %s", strerror(errno));
	memset(big, 'v', sizeof(big));
	EXPECT_OK(setxattr("f", "user.big", big, sizeof(big), 0));
	EXPECT(getxattr("f", "user.big", NULL, 0) == (ssize_t) sizeof(big),
	    "big xattr size");
	EXPECT((n = listxattr("f", buf, sizeof(buf))) > 0, "listxattr: %s",
	    strerror(errno));
	EXPECT(list_has(buf, n, "user.color") &&
	        list_has(buf, n, "user.big") && list_has(buf, n, "user.empty"),
	    "listxattr misses a name");
	EXPECT_OK(removexattr("f", "user.big"));
	EXPECT_ERR(getxattr("f", "user.big", buf, sizeof(buf)), ENODATA);
	EXPECT_ERR(removexattr("f", "user.big"), ENODATA);
	/* On a directory, and read-only computed ones. */
	EXPECT_OK(mkdir("d", 0755));
	EXPECT_OK(setxattr("d", "user.tag", "dir", 3, 0));
	EXPECT(getxattr("d", "user.tag", buf, sizeof(buf)) == 3,
	    "getxattr on a directory: %s", strerror(errno));
	EXPECT(getxattr("d", "user.optimfs.rev", buf, sizeof(buf)) > 0,
	    "user.optimfs.rev on a directory: %s", strerror(errno));
	EXPECT_ERR(setxattr("d", "user.optimfs.rev", "1", 1, 0), EPERM);
}

static void
v_xattr(void)
{
	char    buf[256];
	ssize_t n;

	EXPECT((n = getxattr("f", "user.color", buf, sizeof(buf))) == 5 &&
	        memcmp(buf, "green", 5) == 0,
	    "user.color after remount: %zd [%.*s] (%s)", n,
	    n > 0 ? (int) n : 0, buf, strerror(errno));
	EXPECT_ERR(getxattr("f", "user.big", buf, sizeof(buf)), ENODATA);
	EXPECT(getxattr("d", "user.tag", buf, sizeof(buf)) == 3,
	    "user.tag on d after remount: %s", strerror(errno));
}

static void
t_statfs(void)
{
	struct statvfs sv;
	int            fd;

	EXPECT_OK(statvfs(".", &sv));
	EXPECT(sv.f_namemax == 255, "f_namemax %lu", sv.f_namemax);
	EXPECT(sv.f_bsize > 0 && sv.f_blocks > 0, "f_bsize %lu f_blocks %lu",
	    sv.f_bsize, (unsigned long) sv.f_blocks);
	EXPECT_OK(put_file("f", "x", 1));
	EXPECT_OKV(fd, open("f", O_RDONLY));
	EXPECT_OK(fstatvfs(fd, &sv));
	EXPECT_OK(close(fd));
}

/*
 * The runner.
 */

struct check {
	const char *name;
	void (*run)(void);
	void (*verify)(void); /* after a remount; NULL: nothing kept */
};

static const struct check checks[] = {
	{ "open_excl", t_open_excl, NULL },
	{ "open_trunc", t_open_trunc, NULL },
	{ "open_badf", t_open_badf, NULL },
	{ "open_enotdir", t_open_enotdir, NULL },
	{ "open_eisdir", t_open_eisdir, NULL },
	{ "open_enoent", t_open_enoent, NULL },
	{ "name_too_long", t_name_too_long, NULL },
	{ "pwrite_holes", t_pwrite_holes, v_pwrite_holes },
	{ "pwrite_extend", t_pwrite_extend, NULL },
	{ "append_regular", t_append_regular, v_append_regular },
	{ "append_existing", t_append_existing, NULL },
	{ "ftruncate_up", t_ftruncate_up, NULL },
	{ "ftruncate_down", t_ftruncate_down, NULL },
	{ "ftruncate_down_up", t_ftruncate_down_up, v_ftruncate_down_up },
	{ "fstat_size_mode", t_fstat_size_mode, NULL },
	{ "fstat_mtime", t_fstat_mtime, NULL },
	{ "dir_mtime", t_dir_mtime, NULL },
	{ "rename_over_file", t_rename_over_file, v_rename_over_file },
	{ "rename_open_file", t_rename_open_file, v_rename_open_file },
	{ "rename_across", t_rename_across, v_rename_across },
	{ "rename_dir_over_empty", t_rename_dir_over_empty,
	    v_rename_dir_over_empty },
	{ "rename_dir_nonempty", t_rename_dir_nonempty, NULL },
	{ "rename_into_self", t_rename_into_self, NULL },
	{ "unlink_open", t_unlink_open, v_unlink_open },
	{ "unlink_nlink", t_unlink_nlink, NULL },
	{ "mkdir_rmdir", t_mkdir_rmdir, NULL },
	{ "readdir_basic", t_readdir_basic, NULL },
	{ "readdir_churn", t_readdir_churn, NULL },
	{ "readdir_rewind", t_readdir_rewind, NULL },
	{ "readdir_seek_any", t_readdir_seek_any, NULL },
	{ "getdents_churn", t_getdents_churn, NULL },
	{ "getdents_seek_any", t_getdents_seek_any, NULL },
	{ "concurrent_writers", t_concurrent_writers, check_cw_files },
	{ "diary_create", t_diary_create, v_diary_create },
	{ "diary_refusals", t_diary_refusals, NULL },
	{ "diary_pwrite_append_fd", t_diary_pwrite_append_fd, NULL },
	{ "diary_concurrent", t_diary_concurrent, check_diary_lines },
	{ "fsync", t_fsync, v_fsync },
	{ "xattr", t_xattr, v_xattr },
	{ "statfs", t_statfs, NULL },
};

/* Whether the list in environment variable var names name. */
static bool
listed(const char *var, const char *name)
{
	const char *s = getenv(var), *p;
	size_t      n = strlen(name);

	for (p = s; p != NULL && *p != '\0';) {
		if (strncmp(p, name, n) == 0 &&
		    (p[n] == ',' || p[n] == '\0' || p[n] == ' '))
			return true;
		p = strpbrk(p, ", ");
		if (p != NULL)
			p++;
	}
	return false;
}

int
main(int argc, char **argv)
{
	const char *mnt;
	char        dir[PATH_MAX];
	bool        verify = false;
	size_t      i;
	int         failed = 0, passed = 0, skips = 0;

	if (argc == 3 && strcmp(argv[1], "--verify") == 0) {
		verify = true;
		mnt    = argv[2];
	} else if (argc == 2)
		mnt = argv[1];
	else {
		fprintf(stderr, "usage: %s [--verify] MOUNTDIR\n", argv[0]);
		return 2;
	}
	setvbuf(stdout, NULL, _IOLBF, 0);
	umask(022);
	snprintf(dir, sizeof(dir), "%s/ex", mnt);
	if (!verify && mkdir(dir, 0755) != 0 && errno != EEXIST) {
		fprintf(stderr, "mkdir %s: %s\n", dir, strerror(errno));
		return 2;
	}
	snprintf(dir, sizeof(dir), "%s/keep", mnt);
	if (!verify && mkdir(dir, 0755) != 0 && errno != EEXIST) {
		fprintf(stderr, "mkdir %s: %s\n", dir, strerror(errno));
		return 2;
	}
	for (i = 0; i < sizeof(checks) / sizeof(checks[0]); i++) {
		const struct check *c = &checks[i];

		if (verify && c->verify == NULL)
			continue;
		if (getenv("EXERCISER_ONLY") != NULL &&
		    !listed("EXERCISER_ONLY", c->name))
			continue;
		if (listed("EXERCISER_SKIP", c->name)) {
			printf("SKIP %s\n", c->name);
			skips++;
			continue;
		}
		snprintf(dir, sizeof(dir), "%s/%s/%s", mnt,
		    c->verify ? "keep" : "ex", c->name);
		cur_failed = false;
		cur_msg[0] = '\0';
		if (!verify && mkdir(dir, 0755) != 0)
			failf(__LINE__, "mkdir %s: %s", dir, strerror(errno));
		else if (chdir(dir) != 0)
			failf(__LINE__, "chdir %s: %s", dir, strerror(errno));
		else if (verify)
			c->verify();
		else
			c->run();
		if (cur_failed) {
			printf("FAIL %s%s: %s\n", c->name,
			    verify ? " (after remount)" : "", cur_msg);
			failed++;
		} else {
			printf("PASS %s%s\n", c->name,
			    verify ? " (after remount)" : "");
			passed++;
		}
		if (chdir("/") != 0)
			return 2;
	}
	printf("%s: %d passed, %d failed, %d skipped\n",
	    verify ? "verify" : "exerciser", passed, failed, skips);
	return failed ? 1 : 0;
}
