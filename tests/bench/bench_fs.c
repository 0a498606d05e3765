/*
 * bench_fs.c - filesystem workloads of issue [2], run the same way on any
 * directory (tmpfs, a FUSE passthrough, optimfs) so that scripts/bench.sh
 * can print ratios measured in one invocation.
 *
 *   bench_fs DIR append N        (a) one fd, N writes of a 60-byte line
 *                                    (O_APPEND), then fsync
 *   bench_fs DIR openclose N     (b) N x open(O_APPEND)+write+close
 *   bench_fs DIR datasync N      (c) N x append one line + fdatasync
 *   bench_fs DIR smallfiles N [SIZE]  (d) create N files of SIZE bytes
 *                                    (default 256, at most 65536), stat
 *                                    all, read all
 *   bench_fs DIR create N [SIZE]     only the first phase of smallfiles
 *   bench_fs DIR seqread FILE    (e) read FILE with 1 MiB reads
 *   bench_fs DIRS writers W [S]  (g) W threads for S seconds (default 5),
 *                                    each appending one line + fdatasync
 *                                    at a time to its own diary through
 *                                    its own O_APPEND fd; DIRS is one
 *                                    directory or several joined by ':'
 *                                    (writer i uses the (i mod n)-th)
 *
 * Output: one line per phase, "key=value" pairs: ops, seconds, rate
 * (ops/s or MB/s), and p50_us/p99_us where latencies are per operation.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

static double
now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static void
die(const char *what, const char *path)
{
	fprintf(stderr, "bench_fs: %s %s: %s\n", what, path, strerror(errno));
	exit(1);
}

static int
dcmp(const void *a, const void *b)
{
	double x = *(const double *) a, y = *(const double *) b;

	return x < y ? -1 : x > y;
}

static void
report(const char *phase, long n, double secs, double *lat)
{
	printf("phase=%s ops=%ld seconds=%.3f rate=%.1f", phase, n, secs,
	    n / secs);
	if (lat != NULL) {
		qsort(lat, (size_t) n, sizeof(double), dcmp);
		printf(" p50_us=%.1f p99_us=%.1f", lat[n / 2] * 1e6,
		    lat[(long) (n * 0.99)] * 1e6);
	}
	printf("\n");
}

/* One line, newline included: every write of it is a whole diary entry
 * (a write without its newline would only grow the writer's fragment). */
static const char line[] =
    "2026-11-21T06:00:00Z host-17 deploy 42 ok, 60 bytes a line.\n";
#define LINE_LEN (sizeof(line) - 1)
_Static_assert(LINE_LEN == 60, "the benchmarks' lines are 60 bytes");

/*
 * (g): concurrent durable appenders.  Every writer opens its diary before
 * the start barrier, so creating the files is not timed.
 */
struct writer {
	char               path[4096];
	int                fd;
	double             until, *lat;
	long               n, cap;
	pthread_barrier_t *start;
};

static void *
writer_run(void *arg)
{
	struct writer *w = arg;

	pthread_barrier_wait(w->start);
	for (double s = now(); s < w->until; s = now()) {
		if (write(w->fd, line, LINE_LEN) != LINE_LEN ||
		    fdatasync(w->fd) != 0)
			die("write/fdatasync", w->path);
		if (w->n == w->cap) {
			w->cap = w->cap ? 2 * w->cap : 1024;
			w->lat =
			    realloc(w->lat, sizeof(double) * (size_t) w->cap);
			if (w->lat == NULL)
				die("realloc", w->path);
		}
		w->lat[w->n++] = now() - s;
	}
	return NULL;
}

static int
writers(char *dirs, int nw, double secs)
{
	struct writer    *w  = calloc((size_t) nw, sizeof(*w));
	pthread_t        *th = calloc((size_t) nw, sizeof(*th));
	pthread_barrier_t start;
	char             *dir[64], *save = NULL;
	int               nd    = 0, i;
	long              total = 0, k = 0;
	double           *lat, t0;

	for (char *d = strtok_r(dirs, ":", &save); d != NULL && nd < 64;) {
		dir[nd++] = d;
		d         = strtok_r(NULL, ":", &save);
	}
	if (nw < 1 || nd == 0 || w == NULL || th == NULL) {
		fprintf(stderr, "bench_fs: writers: bad arguments\n");
		return 2;
	}
	pthread_barrier_init(&start, NULL, (unsigned) nw + 1);
	for (i = 0; i < nw; i++) {
		snprintf(w[i].path, sizeof(w[i].path), "%s/g%03d.log",
		    dir[i % nd], i);
		w[i].fd = open(w[i].path, O_WRONLY | O_CREAT | O_APPEND, 0644);
		if (w[i].fd < 0)
			die("open", w[i].path);
		w[i].start = &start;
	}
	for (i = 0; i < nw; i++)
		if (pthread_create(&th[i], NULL, writer_run, &w[i]) != 0)
			die("pthread_create", w[i].path);
	t0 = now(); /* the writers read until after the barrier */
	for (i = 0; i < nw; i++)
		w[i].until = t0 + secs;
	pthread_barrier_wait(&start);
	for (i = 0; i < nw; i++) {
		pthread_join(th[i], NULL);
		total += w[i].n;
	}
	t0  = now() - t0;
	lat = malloc(sizeof(double) * (size_t) (total + 1));
	for (i = 0; i < nw; i++) {
		memcpy(lat + k, w[i].lat, sizeof(double) * (size_t) w[i].n);
		k += w[i].n;
		close(w[i].fd);
		free(w[i].lat);
	}
	if (total == 0) {
		fprintf(stderr, "bench_fs: writers: no append finished\n");
		return 1;
	}
	report("writers", total, t0, lat);
	pthread_barrier_destroy(&start);
	free(lat);
	free(th);
	free(w);
	return 0;
}

int
main(int argc, char **argv)
{
	char   path[4096];
	long   n, i, fsize = 256;
	double t0, *lat;
	int    fd;

	if (argc == 5 && strcmp(argv[2], "writers") == 0)
		return writers(argv[1], atoi(argv[3]), atof(argv[4]));
	if (argc == 5 &&
	    (strcmp(argv[2], "smallfiles") == 0 ||
	        strcmp(argv[2], "create") == 0)) {
		fsize = atol(argv[4]);
		argc--;
	}
	if (argc != 4 || fsize < 1 || fsize > 65536) {
		fprintf(stderr,
		    "usage: bench_fs DIR MODE ARG\n"
		    "       bench_fs DIR smallfiles|create N [SIZE]\n"
		    "       bench_fs DIRS writers W [SECONDS]\n");
		return 2;
	}
	n = atol(argv[3]);
	if (strcmp(argv[2], "writers") == 0)
		return writers(argv[1], (int) n, 5);
	if (strcmp(argv[2], "append") == 0) {
		snprintf(path, sizeof(path), "%s/a.log", argv[1]);
		t0 = now();
		fd = open(path, O_WRONLY | O_CREAT | O_APPEND, 0644);
		if (fd < 0)
			die("open", path);
		for (i = 0; i < n; i++)
			if (write(fd, line, LINE_LEN) != LINE_LEN)
				die("write", path);
		if (fsync(fd) != 0 || close(fd) != 0)
			die("fsync/close", path);
		report("append", n, now() - t0, NULL);
	} else if (strcmp(argv[2], "openclose") == 0) {
		snprintf(path, sizeof(path), "%s/b.log", argv[1]);
		lat = malloc(sizeof(double) * (size_t) n);
		t0  = now();
		for (i = 0; i < n; i++) {
			double s = now();

			fd = open(path, O_WRONLY | O_CREAT | O_APPEND, 0644);
			if (fd < 0 || write(fd, line, LINE_LEN) != LINE_LEN ||
			    close(fd) != 0)
				die("open/write/close", path);
			lat[i] = now() - s;
		}
		report("openclose", n, now() - t0, lat);
		free(lat);
	} else if (strcmp(argv[2], "datasync") == 0) {
		snprintf(path, sizeof(path), "%s/c.log", argv[1]);
		lat = malloc(sizeof(double) * (size_t) n);
		fd  = open(path, O_WRONLY | O_CREAT | O_APPEND, 0644);
		if (fd < 0)
			die("open", path);
		t0 = now();
		for (i = 0; i < n; i++) {
			double s = now();

			if (write(fd, line, LINE_LEN) != LINE_LEN ||
			    fdatasync(fd) != 0)
				die("write/fdatasync", path);
			lat[i] = now() - s;
		}
		report("datasync", n, now() - t0, lat);
		close(fd);
		free(lat);
	} else if (strcmp(argv[2], "smallfiles") == 0 ||
	    strcmp(argv[2], "create") == 0) {
		static char buf[65536];
		struct stat st;
		DIR        *d;
		long        seen = 0;

		memset(buf, 'f', sizeof(buf));
		snprintf(path, sizeof(path), "%s/d", argv[1]);
		if (mkdir(path, 0755) != 0 && errno != EEXIST)
			die("mkdir", path);
		t0 = now();
		for (i = 0; i < n; i++) {
			snprintf(
			    path, sizeof(path), "%s/d/f%06ld", argv[1], i);
			fd = open(path, O_WRONLY | O_CREAT | O_EXCL, 0644);
			if (fd < 0 ||
			    write(fd, buf, (size_t) fsize) != fsize ||
			    close(fd) != 0)
				die("create", path);
		}
		report("create", n, now() - t0, NULL);
		if (strcmp(argv[2], "create") == 0)
			return 0;
		snprintf(path, sizeof(path), "%s/d", argv[1]);
		t0 = now();
		if ((d = opendir(path)) == NULL)
			die("opendir", path);
		for (struct dirent *e; (e = readdir(d)) != NULL;) {
			char p2[4096];

			if (e->d_name[0] == '.')
				continue;
			snprintf(p2, sizeof(p2), "%s/%s", path, e->d_name);
			if (lstat(p2, &st) != 0)
				die("stat", p2);
			seen++;
		}
		closedir(d);
		report("list", seen, now() - t0, NULL);
		if (seen != n) {
			fprintf(
			    stderr, "bench_fs: listed %ld of %ld\n", seen, n);
			return 1;
		}
		t0 = now();
		for (i = 0; i < n; i++) {
			snprintf(
			    path, sizeof(path), "%s/d/f%06ld", argv[1], i);
			fd = open(path, O_RDONLY);
			if (fd < 0 || read(fd, buf, sizeof(buf)) != fsize ||
			    close(fd) != 0)
				die("read", path);
		}
		report("read", n, now() - t0, NULL);
	} else if (strcmp(argv[2], "seqread") == 0) {
		size_t   cap = 1 << 20;
		char    *buf = malloc(cap);
		ssize_t  r;
		uint64_t total = 0;

		fd = open(argv[3], O_RDONLY);
		if (fd < 0)
			die("open", argv[3]);
		t0 = now();
		while ((r = read(fd, buf, cap)) > 0)
			total += (uint64_t) r;
		if (r < 0)
			die("read", argv[3]);
		{
			double s = now() - t0;

			printf(
			    "phase=seqread ops=%llu seconds=%.3f rate=%.1f\n",
			    (unsigned long long) total, s, total / s / 1e6);
		}
		close(fd);
		free(buf);
	} else {
		fprintf(stderr, "bench_fs: unknown mode %s\n", argv[2]);
		return 2;
	}
	return 0;
}
