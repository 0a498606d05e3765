/*
 * cli_report.c - the answers behind `optimfs log` and `optimfs verify`
 * (protocol in fs/cli.h).  Runs in the daemon, on a control worker
 * thread, and reads the committed log through the namespace's
 * transactor, never through the collection's latch, so a long walk does
 * not hold up writers.
 */
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "core/collection.h"
#include "core/log.h"
#include "fs/cli.h"
#include "fs/errmap.h"

struct report {
	ofs_report_emit emit;
	void           *arg;
	bool            stopped;
};

static void say(struct report *r, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* Emit one line; tabs and newlines inside fields become spaces. */
static void
say(struct report *r, const char *fmt, ...)
{
	char    line[1024];
	va_list ap;
	int     n;

	if (r->stopped)
		return;
	va_start(ap, fmt);
	n = vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	if (n <= 0)
		return;
	if ((size_t) n >= sizeof(line))
		n = (int) sizeof(line) - 1;
	line[n - 1] = '\n';
	if (r->emit(r->arg, line, (size_t) n) != 0)
		r->stopped = true;
}

/* A message safe inside one tab-separated field. */
static const char *
field(char *buf, size_t cap, const char *s)
{
	size_t i;

	snprintf(buf, cap, "%s", s);
	for (i = 0; buf[i] != '\0'; i++)
		if (buf[i] == '\t' || buf[i] == '\n' || buf[i] == '\r')
			buf[i] = ' ';
	return buf;
}

static void
say_error(struct report *r, o_err e, const char *what)
{
	char msg[512], f[600];

	snprintf(msg, sizeof(msg), "%s: %s%s%s", what, o_strerror(e),
	    o_err_detail()[0] ? ": " : "", o_err_detail());
	say(r, "error\t%d\t%s\n", ofs_errno(e), field(f, sizeof(f), msg));
}

static void
on_progress(void *arg, uint64_t blocks, uint64_t entries)
{
	say(arg, "progress\t%" PRIu64 "\t%" PRIu64 "\n", blocks, entries);
}

static o_err
report_verify(struct report *r, struct oc_bstore *s, const struct oc_bid *id)
{
	struct oc_log_report rep;
	char                 bid[OC_BID_STRLEN], why[300];
	o_err                e;

	e = oc_log_verify(s, id, &rep, on_progress, r);
	if (e == O_OK && rep.ok)
		say(r, "ok\t%" PRIu64 "\t%" PRIu64 "\t%" PRId64 "\n",
		    rep.blocks, rep.entries, rep.last_rev);
	else if (e == O_ECORRUPT && !rep.ok)
		say(r, "bad\t%" PRIu64 "\t%s\t%s\n", rep.bad_index,
		    oc_bid_str(&rep.bad, bid),
		    field(why, sizeof(why), rep.why));
	else {
		say_error(r, e, "verify");
		return e;
	}
	return O_OK;
}

/* Number of actions and appended bytes of one log entry. */
static void
entry_summary(const struct oc_val *ent, size_t *nacts, uint64_t *bytes)
{
	struct oc_val        acts = oc_null();
	const struct oc_val *d, *c;
	size_t               i;

	*nacts = 0;
	*bytes = 0;
	if (oc_log_entry_acts(ent, &acts) != O_OK)
		return;
	*nacts = oc_arr_len(&acts);
	for (i = 0; i < *nacts; i++) {
		const struct oc_val *a = oc_arr_at(&acts, i);

		if ((d = oc_map_bytes(a, "d")) != NULL)
			*bytes += d->u.s.n;
		else if ((c = oc_map_get(a, "c")) != NULL && c->type == OC_MAP)
			*bytes += (uint64_t) oc_map_int(c, "len", 0);
	}
	oc_val_fini(&acts);
}

static o_err
report_log(struct report *r, struct oc_bstore *s, const struct oc_bid *id)
{
	struct oc_log        l;
	struct oc_chain_iter it;
	struct oc_chain_path pos;
	struct oc_bid        blk;
	const struct oc_val *ent;
	struct oc_aid        aid;
	char                 aids[OC_AID_STRLEN];
	uint64_t             blocks = 0, entries = 0, bytes;
	int64_t              last = 0;
	size_t               nacts;
	bool                 done;
	o_err                e;

	memset(&blk, 0, sizeof(blk));
	if ((e = oc_log_open(&l, s, id)) != O_OK) {
		say_error(r, e, "open log");
		return e;
	}
	if ((e = oc_chain_iter_init(&it, &l.ch, NULL, true)) != O_OK) {
		say_error(r, e, "read log");
		return e;
	}
	while (!r->stopped) {
		if ((e = oc_chain_iter_next(&it, &ent, &pos, &done)) != O_OK)
			break;
		if (done)
			break;
		if (blocks == 0 || !oc_bid_eq(&pos.blk, &blk)) {
			blocks++;
			blk = pos.blk;
		}
		entries++;
		last = oc_log_entry_rev(ent);
		memset(&aid, 0, sizeof(aid));
		(void) oc_log_entry_aid(ent, &aid);
		entry_summary(ent, &nacts, &bytes);
		say(r,
		    "entry\t%" PRId64 "\t%" PRId64 "\t%s\t%zu\t%" PRIu64 "\n",
		    last, oc_map_int(ent, "ts", 0), oc_aid_str(&aid, aids),
		    nacts, bytes);
	}
	oc_chain_iter_fini(&it);
	if (e != O_OK) {
		say_error(r, e, "read log");
		return e;
	}
	say(r, "ok\t%" PRIu64 "\t%" PRIu64 "\t%" PRId64 "\n", blocks, entries,
	    last);
	return O_OK;
}

o_err
ofs_report_run(struct ofs_ns *ns, struct oc_transactor *tx, uint64_t ino,
    enum ofs_report_kind kind, ofs_report_emit emit, void *arg)
{
	struct report         r = { .emit = emit, .arg = arg };
	struct oc_txsrc       src;
	struct oc_bid         id;
	o_err                 e;

	if ((e = ofs_ns_coll_id(ns, ino, &id)) != O_OK) {
		say_error(&r, e,
		    e == O_EINVAL ? "a regular file has no log of its own "
		                    "(its history is its directory's)"
		                  : "find the collection");
		return e;
	}
	/* Cover every acknowledged write: commit what is queued. */
	if ((e = ofs_flush(ns, ino, 0, true)) != O_OK) {
		say_error(&r, e, "commit pending changes");
		return e;
	}
	oc_txsrc_init(&src, tx, NULL);
	if (kind == OFS_REPORT_VERIFY)
		return report_verify(&r, &src.base, &id);
	return report_log(&r, &src.base, &id);
}
