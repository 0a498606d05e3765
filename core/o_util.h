/*
 * o_util.h - small shared helpers: growable byte buffer, clocks, random
 * bytes, hex/base32 rendering, logging.
 */
#ifndef O_UTIL_H
#define O_UTIL_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <time.h>

#include "core/o_err.h"

/* A growable byte buffer.  Zero-initialise, then append; free with _fini. */
struct o_buf {
	uint8_t *data;
	size_t   len;
	size_t   cap;
};

void  o_buf_fini(struct o_buf *b);
o_err o_buf_reserve(struct o_buf *b, size_t extra);
o_err o_buf_append(struct o_buf *b, const void *p, size_t n);
void  o_buf_reset(struct o_buf *b); /* len = 0, keeps memory */

/* Replace the file at path with n bytes at p, durably: written to
 * path.tmp, synced, renamed over path, and the directory synced.  A
 * failure names the step and the path; the old file is intact unless
 * only the directory's sync failed (the new one is in place, maybe not
 * on disk). */
o_err o_file_replace(const char *path, const void *p, size_t n);
/* Write n bytes at p to fd, retrying short writes and EINTR: 0, or the
 * errno (EIO for a write that wrote nothing). */
int o_fd_write_all(int fd, const void *p, size_t n);
/* fsync the directory holding path (its last component's parent). */
o_err o_dir_sync_of(const char *path);
/* Read the whole file at path into out (appended), NUL-terminated past
 * its length (out->len excludes the NUL); O_ETOOBIG naming the file when
 * it is larger than max bytes, else errors naming it. */
o_err o_file_read(const char *path, size_t max, struct o_buf *out);

/*
 * Two clocks.  o_now_ms: the wall clock, in ms since the epoch, for times
 * that are stored or leave the process (a log entry's time; a pending's
 * expiry as its replica stores it); it can step when the clock is set.
 * o_mono_ms / o_mono_ns: the monotonic clock, for every deadline, timeout and
 * interval measured within the process: a wall clock set back an hour must not
 * make a request wait an hour, nor one set forward fail every request at once.
 */
int64_t  o_now_ms(void);

int64_t  o_mono_ms(void);
uint64_t o_mono_ns(void);
void     o_sleep_ms(int64_t ms);
/* The time ms from now on clock clk, for pthread_cond_timedwait (the
 * condition variable must use clk: CLOCK_REALTIME unless set otherwise). */
struct timespec o_abstime(clockid_t clk, int64_t ms);
/* Initialise cv to time its waits on CLOCK_MONOTONIC, for
 * o_cond_wait_until. */
void o_cond_init_mono(pthread_cond_t *cv);
/* One wait on cv (initialised by o_cond_init_mono; mtx held) that ends
 * by until (o_mono_ms's clock) at the latest; false, without waiting,
 * once until has passed. */
bool o_cond_wait_until(
    pthread_cond_t *cv, pthread_mutex_t *mtx, int64_t until);

/* Fill p with n cryptographically random bytes for ids (OpenSSL
 * RAND_bytes; small requests are served from a per-thread buffer that a
 * fork empties, so not for secrets: use RAND_bytes for keys). */
o_err o_random(void *p, size_t n);
/* A fast non-crypto random number for jitter (thread-local xorshift). */
uint64_t o_rand64(void);

/* Lower-case hex of p into out (2n+1 bytes incl. NUL); returns out. */
char *o_hex(const void *p, size_t n, char *out);

/* Logging to stderr with a level; the daemon may redirect later. */
enum o_loglevel { O_LOG_DEBUG, O_LOG_INFO, O_LOG_WARN, O_LOG_ERROR };
void o_log(enum o_loglevel lvl, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
void o_log_set_level(enum o_loglevel lvl);

#define O_MIN(a, b) ((a) < (b) ? (a) : (b))
#define O_MAX(a, b) ((a) > (b) ? (a) : (b))
#define O_NELEM(a) (sizeof(a) / sizeof((a)[0]))



/*
 * Allocation.  Like Redis's zmalloc, running out of memory is fatal: the
 * process logs and aborts instead of threading ENOMEM through every path.
 * Durable state lives in the store, so an abort loses nothing acknowledged.
 */
void *o_malloc(size_t n);
void *o_calloc(size_t n, size_t sz);
void *o_realloc(void *p, size_t n);
char *o_strdup(const char *s);
void *o_memdup(const void *p, size_t n);

/* Big-endian integers of n bytes (at most 8) in byte strings: keys that
 * sort by value, frame headers. */
static inline void
o_be_put(uint8_t *p, uint64_t v, int n)
{
	int i;

	for (i = n - 1; i >= 0; i--, v >>= 8)
		p[i] = (uint8_t) v;
}

static inline uint64_t
o_be_get(const uint8_t *p, int n)
{
	uint64_t v = 0;
	int      i;

	for (i = 0; i < n; i++)
		v = v << 8 | p[i];
	return v;
}

static inline void
o_be64_put(uint8_t *p, uint64_t v)
{
	o_be_put(p, v, 8);
}

static inline uint64_t
o_be64_get(const uint8_t *p)
{
	return o_be_get(p, 8);
}

static inline void
o_be32_put(uint8_t *p, uint32_t v)
{
	o_be_put(p, v, 4);
}

static inline uint32_t
o_be32_get(const uint8_t *p)
{
	return (uint32_t) o_be_get(p, 4);
}

/* SHA-256 (OpenSSL EVP, fetched once); out is 32 bytes. */
void o_sha256(const void *p, size_t n, uint8_t out[32]);
/* SHA-256 of the concatenation of two buffers. */
void o_sha256_2(const void *a, size_t an, const void *b, size_t bn,
    uint8_t out[32]);

/*
 * CRC-32C (Castagnoli, as iSCSI, ext4 and RocksDB use) of p[0..n),
 * continuing crc (0 to start): o_crc32c(o_crc32c(0, a, an), b, bn) is the
 * CRC of a and b concatenated.  SSE4.2's crc32 instruction where the CPU
 * has it (several GB/s), else a table.  For corruption, not for an
 * adversary.  o_crc32c_sw: the table alone (tests compare the two).
 */
uint32_t o_crc32c(uint32_t crc, const void *p, size_t n);
uint32_t o_crc32c_sw(uint32_t crc, const void *p, size_t n);
#endif /* O_UTIL_H */
