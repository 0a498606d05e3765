/*
 * o_util.c - buffer, clock, random, hex and logging helpers.
 */
#include "core/o_util.h"

#include <errno.h>
#include <fcntl.h>
#include <openssl/rand.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

void
o_buf_fini(struct o_buf *b)
{
	free(b->data);
	b->data = NULL;
	b->len = b->cap = 0;
}

o_err
o_buf_reserve(struct o_buf *b, size_t extra)
{
	size_t   need = b->len + extra;
	size_t   ncap;
	uint8_t *nd;

	if (need < b->len)
		return o_err_set(O_ETOOBIG, "buffer size overflow");
	if (need <= b->cap)
		return O_OK;
	ncap = b->cap ? b->cap : 64;
	while (ncap < need)
		ncap *= 2;
	nd = realloc(b->data, ncap);
	if (nd == NULL)
		return o_err_set(O_ENOMEM, "buffer of %zu bytes", ncap);
	b->data = nd;
	b->cap  = ncap;
	return O_OK;
}

o_err
o_buf_append(struct o_buf *b, const void *p, size_t n)
{
	o_err e;

	if (n == 0)
		return O_OK;
	if ((e = o_buf_reserve(b, n)) != O_OK)
		return e;
	memcpy(b->data + b->len, p, n);
	b->len += n;
	return O_OK;
}

void
o_buf_reset(struct o_buf *b)
{
	b->len = 0;
}

/* OPTIMFS_TEST_CLOCK_SKEW_MS: a test's node whose wall clock is that
 * far off (docs/PROTOCOL.md §6); read once.  skew_init logs: o_log must
 * never read o_now_ms, or the first call would wait on itself. */
static int64_t        skew_ms;
static pthread_once_t skew_once = PTHREAD_ONCE_INIT;

static void
skew_init(void)
{
	const char *s = getenv("OPTIMFS_TEST_CLOCK_SKEW_MS");
	char       *end;
	long long   v;

	if (s == NULL || *s == '\0')
		return;
	v = strtoll(s, &end, 10);
	if (*end != '\0' || v < -86400000LL || v > 86400000LL) {
		o_log(O_LOG_WARN,
		    "OPTIMFS_TEST_CLOCK_SKEW_MS=%s: not a number of ms "
		    "within a day; ignored",
		    s);
		return;
	}
	skew_ms = v;
	o_log(O_LOG_WARN,
	    "OPTIMFS_TEST_CLOCK_SKEW_MS: this node's wall clock reads %lld ms "
	    "off (a test hook)",
	    v);
}

int64_t
o_now_ms(void)
{
	struct timespec ts;

	pthread_once(&skew_once, skew_init);
	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t) ts.tv_sec * 1000 + ts.tv_nsec / 1000000 + skew_ms;
}

int
o_fd_write_all(int fd, const void *p, size_t n)
{
	size_t off = 0;

	while (off < n) {
		ssize_t w = write(fd, (const uint8_t *) p + off, n - off);

		if (w == 0)
			return EIO;
		if (w < 0 && errno != EINTR)
			return errno;
		if (w > 0)
			off += (size_t) w;
	}
	return 0;
}

o_err
o_dir_sync_of(const char *path)
{
	char dir[4096], *slash;
	int  dfd, err;

	snprintf(dir, sizeof(dir), "%s", path);
	slash = strrchr(dir, '/');
	if (slash == dir)
		slash[1] = '\0';
	else if (slash != NULL)
		*slash = '\0';
	else
		snprintf(dir, sizeof(dir), ".");
	if ((dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0 ||
	    fsync(dfd) != 0) {
		err = errno;
		if (dfd >= 0)
			close(dfd);
		return o_err_set(o_err_from_errno(err),
		    "sync directory %s: %s", dir, strerror(err));
	}
	close(dfd);
	return O_OK;
}

o_err
o_file_replace(const char *path, const void *p, size_t n)
{
	char        tmp[4096];
	const char *step = "write";
	int         fd, err;

	if (snprintf(tmp, sizeof(tmp), "%s.tmp", path) >= (int) sizeof(tmp))
		return o_err_set(O_EINVAL, "%s: path too long", path);
	if ((fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644)) <
	    0)
		return o_err_set(o_err_from_errno(errno), "create %s: %s", tmp,
		    strerror(errno));
	err = o_fd_write_all(fd, p, n);
	if (err == 0 && fsync(fd) != 0)
		err = errno, step = "sync";
	if (close(fd) != 0 && err == 0)
		err = errno, step = "close";
	if (err == 0 && rename(tmp, path) != 0)
		err = errno, step = "rename";
	if (err != 0) {
		(void) unlink(tmp);
		return o_err_set(o_err_from_errno(err), "%s %s: %s", step, tmp,
		    strerror(err));
	}
	return o_dir_sync_of(path);
}

o_err
o_file_read(const char *path, size_t max, struct o_buf *out)
{
	uint8_t chunk[4096];
	size_t  got, start = out->len;
	FILE   *fp;
	o_err   e = O_OK;

	if ((fp = fopen(path, "re")) == NULL)
		return o_err_set(
		    o_err_from_errno(errno), "%s: %s", path, strerror(errno));
	while (e == O_OK && (got = fread(chunk, 1, sizeof(chunk), fp)) > 0)
		if (out->len - start + got > max)
			e = o_err_set(
			    O_ETOOBIG, "%s: larger than %zu bytes", path, max);
		else
			e = o_buf_append(out, chunk, got);
	if (e == O_OK && ferror(fp))
		e = o_err_set(O_EIO, "read %s: %s", path, strerror(errno));
	fclose(fp);
	if (e == O_OK && (e = o_buf_append(out, "", 1)) == O_OK)
		out->len--;
	return e;
}

int64_t
o_mono_ms(void)
{
	return (int64_t) (o_mono_ns() / 1000000);
}

uint64_t
o_mono_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t) ts.tv_sec * 1000000000ull + (uint64_t) ts.tv_nsec;
}

struct timespec
o_abstime(clockid_t clk, int64_t ms)
{
	struct timespec ts;

	clock_gettime(clk, &ts);
	if (ms < 0)
		ms = 0;
	ts.tv_sec += ms / 1000;
	ts.tv_nsec += (ms % 1000) * 1000000;
	if (ts.tv_nsec >= 1000000000) {
		ts.tv_sec++;
		ts.tv_nsec -= 1000000000;
	}
	return ts;
}

void
o_cond_init_mono(pthread_cond_t *cv)
{
	pthread_condattr_t ca;

	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(cv, &ca);
	pthread_condattr_destroy(&ca);
}

bool
o_cond_wait_until(pthread_cond_t *cv, pthread_mutex_t *mtx, int64_t until)
{
	int64_t         left = until - o_mono_ms();
	struct timespec ts;

	if (left <= 0)
		return false;
	ts = o_abstime(CLOCK_MONOTONIC, left);
	pthread_cond_timedwait(cv, mtx, &ts);
	return true;
}

void
o_sleep_ms(int64_t ms)
{
	struct timespec ts;

	if (ms <= 0)
		return;
	ts.tv_sec  = ms / 1000;
	ts.tv_nsec = (ms % 1000) * 1000000;
	while (nanosleep(&ts, &ts) != 0)
		;
}

/*
 * Random bytes are handed out from a per-thread buffer refilled from
 * RAND_bytes 256 bytes at a time: RAND_bytes' fixed cost per call (its
 * DRBG's lock and setup) was ~5 % of the daemon's user CPU for a small
 * file's create and commit (a block id and an action id).  Ids only: the bytes
 * still to come sit in the buffer, so key material must come from RAND_bytes
 * itself (transport/pki.c does).  A fork bumps rand_gen in the child, so a
 * thread that forked refills before it hands out anything: a child never
 * repeats its parent's ids.
 */
enum { RAND_BUF = 256 };
static atomic_uint    rand_gen  = 1;
static pthread_once_t rand_once = PTHREAD_ONCE_INIT;

static void
rand_forked(void)
{
	atomic_fetch_add(&rand_gen, 1);
}

static void
rand_setup(void)
{
	(void) pthread_atfork(NULL, NULL, rand_forked);
}

o_err
o_random(void *p, size_t n)
{
	static _Thread_local uint8_t  buf[RAND_BUF];
	static _Thread_local size_t   left;
	static _Thread_local unsigned gen;
	unsigned                      g;

	(void) pthread_once(&rand_once, rand_setup);
	if (n > RAND_BUF / 4) {
		if (RAND_bytes(p, (int) n) != 1)
			return o_err_set(O_EINTERNAL, "RAND_bytes failed");
		return O_OK;
	}
	if ((g = atomic_load(&rand_gen)) != gen) {
		gen  = g;
		left = 0;
	}
	if (left < n) {
		if (RAND_bytes(buf, RAND_BUF) != 1) {
			left = 0;
			return o_err_set(O_EINTERNAL, "RAND_bytes failed");
		}
		left = RAND_BUF;
	}
	memcpy(p, buf + RAND_BUF - left, n);
	left -= n;
	return O_OK;
}

uint64_t
o_rand64(void)
{
	static _Thread_local uint64_t s;
	static _Thread_local unsigned gen;
	uint64_t                      x;

	if (gen !=
	    atomic_load(&rand_gen)) { /* forked: a sequence of its own */
		gen = atomic_load(&rand_gen);
		s   = 0;
	}
	if (s == 0) {
		if (o_random(&s, sizeof(s)) != O_OK || s == 0)
			s = o_mono_ns() | 1;
	}
	x = s;
	x ^= x << 13;
	x ^= x >> 7;
	x ^= x << 17;
	s = x;
	return x;
}

char *
o_hex(const void *p, size_t n, char *out)
{
	static const char digits[] = "0123456789abcdef";
	const uint8_t    *b        = p;
	size_t            i;

	for (i = 0; i < n; i++) {
		out[2 * i]     = digits[b[i] >> 4];
		out[2 * i + 1] = digits[b[i] & 15];
	}
	out[2 * n] = '\0';
	return out;
}

static enum o_loglevel o_loglvl = O_LOG_INFO;

void
o_log_set_level(enum o_loglevel lvl)
{
	o_loglvl = lvl;
}

void
o_log(enum o_loglevel lvl, const char *fmt, ...)
{
	static const char *names[] = { "debug", "info", "warn", "error" };
	char               line[1024];
	va_list            ap;

	if (lvl < o_loglvl)
		return;
	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	fprintf(stderr, "optimfs[%s]: %s\n", names[lvl], line);
}

static void
o_oom(size_t n)
{
	fprintf(stderr, "optimfs: out of memory allocating %zu bytes\n", n);
	abort();
}

void *
o_malloc(size_t n)
{
	void *p = malloc(n ? n : 1);

	if (p == NULL)
		o_oom(n);
	return p;
}

void *
o_calloc(size_t n, size_t sz)
{
	void *p = calloc(n ? n : 1, sz ? sz : 1);

	if (p == NULL)
		o_oom(n * sz);
	return p;
}

void *
o_realloc(void *p, size_t n)
{
	void *q = realloc(p, n ? n : 1);

	if (q == NULL)
		o_oom(n);
	return q;
}

char *
o_strdup(const char *s)
{
	return o_memdup(s, strlen(s) + 1);
}

void *
o_memdup(const void *p, size_t n)
{
	void *q = o_malloc(n);

	if (n)
		memcpy(q, p, n);
	return q;
}

#include <openssl/evp.h>
#include <pthread.h>

static EVP_MD        *o_sha_md;
static pthread_key_t  o_sha_key; /* per-thread EVP_MD_CTX, freed at exit */
static pthread_once_t o_sha_once = PTHREAD_ONCE_INIT;

static void
o_sha_ctx_free(void *ctx)
{
	EVP_MD_CTX_free(ctx);
}

static void
o_sha_init(void)
{
	o_sha_md = EVP_MD_fetch(NULL, "SHA256", NULL);
	pthread_key_create(&o_sha_key, o_sha_ctx_free);
}

void
o_sha256(const void *p, size_t n, uint8_t out[32])
{
	o_sha256_2(p, n, NULL, 0, out);
}

void
o_sha256_2(const void *p, size_t n, const void *b, size_t bn, uint8_t out[32])
{
	EVP_MD_CTX  *ctx;
	unsigned int len = 32;

	pthread_once(&o_sha_once, o_sha_init);
	ctx = pthread_getspecific(o_sha_key);
	if (ctx == NULL) {
		ctx = EVP_MD_CTX_new();
		pthread_setspecific(o_sha_key, ctx);
	}
	if (o_sha_md == NULL || ctx == NULL ||
	    EVP_DigestInit_ex(ctx, o_sha_md, NULL) != 1 ||
	    EVP_DigestUpdate(ctx, p, n) != 1 ||
	    (bn > 0 && EVP_DigestUpdate(ctx, b, bn) != 1) ||
	    EVP_DigestFinal_ex(ctx, out, &len) != 1) {
		fprintf(stderr, "optimfs: SHA-256 unavailable\n");
		abort();
	}
}

/* ---- CRC-32C ------------------------------------------------------------
 */

static uint32_t       crc_table[256];
static pthread_once_t crc_once = PTHREAD_ONCE_INIT;
#if defined(__x86_64__)
static bool crc_hw;
/*
 * The hardware path runs three lanes of CRC_LANE bytes at once (the crc32
 * instruction's latency is three times its throughput) and joins them:
 * for the raw register (no inversions) crc(A B) = shift(crc(A), |B|) ^
 * crc(0, B), shift being linear, so shifting a register by CRC_LANE zero
 * bytes is four lookups in crc_shift (crc_shift[k][b]: byte b at byte k of
 * the register, shifted).
 */
#define CRC_LANE 2048
static uint32_t crc_shift[4][256];
static void     crc_shift_init(void);
#endif

static void
crc_init(void)
{
	uint32_t i, j, c;

	for (i = 0; i < 256; i++) {
		c = i;
		for (j = 0; j < 8; j++)
			c = c & 1 ? (c >> 1) ^ 0x82F63B78u : c >> 1;
		crc_table[i] = c;
	}
#if defined(__x86_64__)
	crc_hw = __builtin_cpu_supports("sse4.2");
	if (crc_hw)
		crc_shift_init();
#endif
}

uint32_t
o_crc32c_sw(uint32_t crc, const void *p, size_t n)
{
	const uint8_t *b = p;

	pthread_once(&crc_once, crc_init);
	crc = ~crc;
	while (n-- > 0)
		crc = crc_table[(crc ^ *b++) & 0xff] ^ (crc >> 8);
	return ~crc;
}

#if defined(__x86_64__)
/* The raw register v moved past CRC_LANE zero bytes. */
__attribute__((target("sse4.2"))) static uint32_t
crc_hw_zeros(uint32_t v)
{
	uint64_t c = v;
	size_t   i;

	for (i = 0; i < CRC_LANE / 8; i++)
		c = __builtin_ia32_crc32di(c, 0);
	return (uint32_t) c;
}

static void
crc_shift_init(void)
{
	uint32_t k, b;

	for (k = 0; k < 4; k++)
		for (b = 0; b < 256; b++)
			crc_shift[k][b] = crc_hw_zeros(b << (8 * k));
}

static uint32_t
crc_shift_lane(uint32_t v)
{
	return crc_shift[0][v & 0xff] ^ crc_shift[1][(v >> 8) & 0xff] ^
	    crc_shift[2][(v >> 16) & 0xff] ^ crc_shift[3][v >> 24];
}

__attribute__((target("sse4.2"))) static uint32_t
crc_hw_run(uint32_t crc, const uint8_t *b, size_t n)
{
	uint64_t c = ~crc, w;

	for (; n > 0 && ((uintptr_t) b & 7) != 0; n--)
		c = __builtin_ia32_crc32qi((uint32_t) c, *b++);
	for (; n >= 3 * CRC_LANE; n -= 3 * CRC_LANE, b += 3 * CRC_LANE) {
		uint64_t c1 = 0, c2 = 0, w1, w2;
		size_t   i;

		for (i = 0; i < CRC_LANE; i += 8) {
			memcpy(&w, b + i, 8);
			memcpy(&w1, b + CRC_LANE + i, 8);
			memcpy(&w2, b + 2 * CRC_LANE + i, 8);
			c  = __builtin_ia32_crc32di(c, w);
			c1 = __builtin_ia32_crc32di(c1, w1);
			c2 = __builtin_ia32_crc32di(c2, w2);
		}
		c = crc_shift_lane((uint32_t) c) ^ (uint32_t) c1;
		c = crc_shift_lane((uint32_t) c) ^ (uint32_t) c2;
	}
	for (; n >= 8; n -= 8, b += 8) {
		memcpy(&w, b, 8);
		c = __builtin_ia32_crc32di(c, w);
	}
	for (; n > 0; n--)
		c = __builtin_ia32_crc32qi((uint32_t) c, *b++);
	return ~(uint32_t) c;
}
#endif

uint32_t
o_crc32c(uint32_t crc, const void *p, size_t n)
{
	pthread_once(&crc_once, crc_init);
#if defined(__x86_64__)
	if (crc_hw)
		return crc_hw_run(crc, p, n);
#endif
	return o_crc32c_sw(crc, p, n);
}
