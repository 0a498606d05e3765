/*
 * testutil.c - temp directories, helper-program lookup and a wrapping
 * journal for tests.
 */
#include "util/testutil.h"

#include <dirent.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
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

static o_err
jw_put(struct oc_journal *j, const struct oc_journal_rec *r)
{
	struct ot_jwrap *w = (struct ot_jwrap *) j;

	if (w->put_left == 0)
		return o_err_set(O_EIO, "test: injected journal failure");
	if (w->put_left > 0)
		w->put_left--;
	w->puts++;
	return w->in->ops->put(w->in, r);
}

/* One write of n records: fails whole, or counts n puts. */
static o_err
jw_put_many(
    struct oc_journal *j, const struct oc_journal_rec *const *r, size_t n)
{
	struct ot_jwrap *w = (struct ot_jwrap *) j;

	if (w->before_many != NULL)
		w->before_many(w);
	if (w->put_left == 0)
		return o_err_set(O_EIO, "test: injected journal failure");
	if (w->put_left > 0)
		w->put_left--;
	w->puts += (int) n;
	return w->in->ops->put_many(w->in, r, n);
}

static o_err
jw_drop(struct oc_journal *j, const struct oc_bid *col,
    const uint64_t (*keys)[2], size_t n)
{
	struct ot_jwrap *w = (struct ot_jwrap *) j;

	if (w->drop_off)
		return O_OK;
	w->drops++;
	return w->in->ops->drop(w->in, col, keys, n);
}

static o_err
jw_scan(struct oc_journal *j, o_err (*fn)(void *, struct oc_journal_rec *),
    void *arg)
{
	struct ot_jwrap *w = (struct ot_jwrap *) j;

	return w->in->ops->scan(w->in, fn, arg);
}

/* no hints: a wrapped journal's users count everything again */
static const struct oc_journal_ops jw_ops = {
	.put  = jw_put,
	.drop = jw_drop,
	.scan = jw_scan,
};

/* The lazy wrapper writes batches as one (its inner journal must offer
 * put_many). */
static const struct oc_journal_ops jw_lazy_ops = {
	.put      = jw_put,
	.drop     = jw_drop,
	.scan     = jw_scan,
	.put_many = jw_put_many,
};

void
ot_jwrap_init(struct ot_jwrap *w, struct oc_journal *in)
{
	memset(w, 0, sizeof(*w));
	w->in       = in;
	w->put_left = -1;
	w->base.ops = &jw_ops;
	memcpy(w->base.node, in->node, sizeof(w->base.node));
	w->base.session = in->session;
	atomic_init(&w->base.next_seq, 1);
}

void
ot_jwrap_init_lazy(struct ot_jwrap *w, struct oc_journal *in)
{
	ot_jwrap_init(w, in);
	oc_journal_init(&w->base, &jw_lazy_ops);
}

long long
ot_largest_log(const char *dir, char *path, size_t cap)
{
	DIR           *d = opendir(dir);
	struct dirent *de;
	long long      max = -1;

	if (d == NULL)
		return -1;
	while ((de = readdir(d)) != NULL) {
		char        p[PATH_MAX];
		struct stat st;
		size_t      n = strlen(de->d_name);

		if (n < 4 || strcmp(de->d_name + n - 4, ".log") != 0)
			continue;
		snprintf(p, sizeof(p), "%s/%s", dir, de->d_name);
		if (stat(p, &st) == 0 && (long long) st.st_size > max) {
			max = (long long) st.st_size;
			if (path != NULL)
				snprintf(path, cap, "%s", p);
		}
	}
	closedir(d);
	return max;
}

int
ot_copy_file(const char *from, const char *to)
{
	char    buf[8192];
	ssize_t n = 0;
	int     in, out, rc = 0;

	if ((in = open(from, O_RDONLY)) < 0)
		return -1;
	if ((out = open(to, O_WRONLY | O_CREAT | O_EXCL, 0600)) < 0) {
		close(in);
		return -1;
	}
	while (rc == 0 && (n = read(in, buf, sizeof(buf))) > 0)
		if (write(out, buf, (size_t) n) != n)
			rc = -1;
	if (n < 0 || close(out) != 0)
		rc = -1;
	close(in);
	return rc;
}
