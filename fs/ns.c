/*
 * ns.c - the namespace engine (see ns.h; structures in ns_impl.h).
 *
 * Lock order: a diary's i_mtx, then ns_mtx, then collection latches
 * (c_sync, c_mtx).  No lock of ours is held across oc_coll_sync; callbacks
 * run by core under a collection latch never take ns_mtx or i_mtx.
 *
 * Design notes.
 * - Truth lives in the directory trees: each entry is the record of ns.h.
 *   The inode table caches one record per object id.  Mode, xattrs and
 *   names are staged into the tree at once; a dirty file's bytes, size and
 *   times, and a directory's times, live in the inode until staged (flush,
 *   setattr, rename, or the committer once idle or dirty for
 *   OFS_BUSY_ROUNDS intervals); staging re-reads a stale record first.
 * - Staging is an action on a collection, applied locally at once;
 *   committing is oc_coll_sync_to (coll_sync).  A collection given staged
 *   work is marked dirty; flush syncs the inode's collections; the
 *   committer syncs every dirty collection each interval.  A failed sync
 *   leaves the actions queued in the collection (core keeps them), the
 *   collection dirty, and its error kept for the next flush that involves
 *   it.
 * - Ordering: a new directory or diary collection is committed before its
 *   entry is staged in the parent, so a committed entry never names a
 *   missing collection; a directory whose staged records name staged file
 *   pieces commits those piece collections first (ofs_coll.deps), and a
 *   second commit of it waits while a first commits them (deps_busy); a
 *   commit covers the actions queued when it took the deps, and a record
 *   naming pieces staged while one is under way is sealed off from it
 *   (seal_for_pieces, oc_coll_seal); a cross-directory rename commits
 *   what both directories have queued, stages the target's put and the
 *   source's delete, and commits both directories as one transaction
 *   (oc_coll_sync_group_to); if nothing committed, both are undone
 *   (shared: given up by their link, link_give_up).
 * - Queued actions are kept in the journal (ofs_ns_opts.journal) until
 *   committed, so a killed daemon's acknowledged work is replayed at the
 *   next mount (core/journal.h).  A diary's appends (by write, and a
 *   writer's last fragment) are lazy records, held in memory: nothing
 *   acknowledges them before a close or fsync, which waits for their
 *   commit, or under async commits writes every held record (ns_keep);
 *   on one node most commit before they are ever written (a cluster's
 *   pend writes them first, core/journal.h).
 * - Diaries: a read takes a consistent snapshot (held rev, queued
 *   appends, not shown when shared: dread.committed_only; writers'
 *   fragments are not visible) without copying: it runs
 *   under the collection latch (oc_coll_read_queue), where a commit moves
 *   actions out of the queue and bumps the rev at once.  A write queues all
 *   its lines in one call under the latch (oc_diary_append_lazy), so a
 *   reader never sees part of a write.  Inside the latch it extends
 *   the inode's offset index up to the rev and copies from the nearest
 *   mark or the cursor the last read left, block by block, straight from
 *   the entries' encoded appends (oc_diary_walk).  Entries after the rev
 *   are ignored.  The index has one mark per log block at most (thinned
 *   past OFS_DMARK_MAX), so its memory does not follow the number of
 *   lines; a commit extends it while the new log blocks are still cached.
 */
#include "fs/ns.h"

#include <errno.h>
#include <inttypes.h>
#include <malloc.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "core/block.h"
#include "core/chain.h"
#include "core/codec.h"
#include "core/diary.h"
#include "core/journal.h"
#include "core/log.h"
#include "core/o_util.h"
#include "core/tree.h"
#include "fs/ns_impl.h"

/* Bytes appended to a diary and not yet committed before the writer
 * commits them itself. */
#define OFS_QUEUE_MAX (8ull << 20)
/* Memory of a queued append besides its bytes (action value, copies). */
#define OFS_ACT_OVERHEAD 256
/* A file dirty for this many commit intervals is staged even if it is
 * still being written. */
#define OFS_BUSY_ROUNDS 10
/* Memory of all collections' caches of committed blocks together, by
 * default (each is also bounded by OC_CACHE_MAX_BYTES): beyond it the
 * least recently used caches are dropped, every OFS_TRIM_EVERY_NS at
 * most. */
#define OFS_CACHES_MAX (32ull << 20)
#define OFS_TRIM_EVERY_NS 200000000ull
/* Free heap pages are given back to the system this often (malloc_trim). */
#define OFS_MALLOC_TRIM_EVERY_NS 1000000000ull
/* Inodes the eviction hand visits per call at most. */
#define OFS_EVICT_SCAN 1024
/* Largest record decoded (records before piece collections held whole
 * files of up to 64 MiB). */
#define OFS_REC_MAX ((64ull << 20) + (1u << 20))
/* Marks kept per diary index before thinning. */
#define OFS_DMARK_MAX 16384
/* A file or diary operation that met pruned history (O_ESTALE) runs again
 * after catching up, this many times at most. */
#define OFS_STALE_TRIES 3
/* Entries fetched per readdir batch. */
#define OFS_RD_BATCH 256
/* Unheld inodes and idle collections are looked for this often
 * (inodes_sweep, colls_close_idle). */
#define OFS_SWEEP_EVERY_NS 1000000000ull

#define OFS_OX_PREFIX "user.optimfs."

static const char ofs_root_seed[] = "optimfs:root";

/* ---- small helpers -------------------------------------------------------
 */

static int64_t
now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t) ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static void
lock_ns(struct ofs_ns *ns)
{
	pthread_mutex_lock(&ns->ns_mtx);
}

static void
unlock_ns(struct ofs_ns *ns)
{
	pthread_mutex_unlock(&ns->ns_mtx);
}

static const char *
kind_word(uint8_t kind)
{
	switch (kind) {
	case OFS_DIR:
		return "directory";
	case OFS_DIARY:
		return "diary";
	default:
		return "file";
	}
}

/* ---- id map --------------------------------------------------------------
 */

static size_t
idmap_slot(const struct ofs_idmap *m, const struct oc_bid *id)
{
	uint64_t h;

	memcpy(&h, id->b, sizeof(h));
	return (size_t) (h & (m->nb - 1));
}

static void *
idmap_get(const struct ofs_idmap *m, const struct oc_bid *id)
{
	struct ofs_idmap_ent *e;

	if (m->nb == 0)
		return NULL;
	for (e = m->b[idmap_slot(m, id)]; e != NULL; e = e->next)
		if (oc_bid_eq(&e->id, id))
			return e->p;
	return NULL;
}

static void
idmap_grow(struct ofs_idmap *m)
{
	struct ofs_idmap old = *m;
	size_t           i;

	m->nb = old.nb ? old.nb * 2 : 64;
	m->b  = o_calloc(m->nb, sizeof(*m->b));
	for (i = 0; i < old.nb; i++) {
		struct ofs_idmap_ent *e = old.b[i], *nx;

		for (; e != NULL; e = nx) {
			size_t s = idmap_slot(m, &e->id);

			nx      = e->next;
			e->next = m->b[s];
			m->b[s] = e;
		}
	}
	free(old.b);
}

static void
idmap_put(struct ofs_idmap *m, const struct oc_bid *id, void *p)
{
	struct ofs_idmap_ent *e;
	size_t                s;

	if (m->nb > 0)
		for (e = m->b[idmap_slot(m, id)]; e != NULL; e = e->next)
			if (oc_bid_eq(&e->id, id)) {
				e->p = p;
				return;
			}
	if (m->n >= m->nb)
		idmap_grow(m);
	s       = idmap_slot(m, id);
	e       = o_malloc(sizeof(*e));
	e->id   = *id;
	e->p    = p;
	e->next = m->b[s];
	m->b[s] = e;
	m->n++;
}

static void
idmap_del(struct ofs_idmap *m, const struct oc_bid *id)
{
	struct ofs_idmap_ent **pe, *e;

	if (m->nb == 0)
		return;
	for (pe = &m->b[idmap_slot(m, id)]; (e = *pe) != NULL;
	     pe = &e->next)
		if (oc_bid_eq(&e->id, id)) {
			*pe = e->next;
			free(e);
			m->n--;
			return;
		}
}

static void
idmap_fini(struct ofs_idmap *m)
{
	size_t i;

	for (i = 0; i < m->nb; i++) {
		struct ofs_idmap_ent *e = m->b[i], *nx;

		for (; e != NULL; e = nx) {
			nx = e->next;
			free(e);
		}
	}
	free(m->b);
	memset(m, 0, sizeof(*m));
}

/* ---- inode table and paths (ns_mtx held) ---------------------------------
 */

static struct ofs_inode *
ino_get(struct ofs_ns *ns, uint64_t ino)
{
	if (ino == 0 || ino >= ns->ninodes)
		return NULL;
	return ns->inodes[ino];
}

static void
path_of(struct ofs_ns *ns, uint64_t ino, char *buf, size_t cap)
{
	const char       *parts[64];
	struct ofs_inode *in = ino_get(ns, ino);
	size_t            n = 0, len = 0, i;

	if (in == NULL) {
		snprintf(buf, cap, "?(inode %" PRIu64 ")", ino);
		return;
	}
	while (in != NULL && in->ino != OFS_ROOT_INO && n < O_NELEM(parts)) {
		parts[n++] = in->name ? in->name : "?";
		in         = ino_get(ns, in->parent);
	}
	buf[0] = '\0';
	if (in != NULL && in->ino != OFS_ROOT_INO)
		len = (size_t) snprintf(buf, cap, "...");
	if (n == 0)
		snprintf(buf, cap, "/");
	for (i = n; i-- > 0 && len < cap;)
		len +=
		    (size_t) snprintf(buf + len, cap - len, "/%s", parts[i]);
}

static void
path_child(
    struct ofs_ns *ns, uint64_t dir, const char *name, char *buf, size_t cap)
{
	size_t len;

	path_of(ns, dir, buf, cap);
	len = strlen(buf);
	if (len == 1 && buf[0] == '/')
		len = 0;
	if (len < cap)
		snprintf(buf + len, cap - len, "/%s", name);
}

static o_err
check_name(const char *op, const char *name)
{
	size_t n = strlen(name);

	if (n == 0 || strchr(name, '/') != NULL || strcmp(name, ".") == 0 ||
	    strcmp(name, "..") == 0)
		return o_err_set(
		    O_EINVAL, "%s: invalid name \"%.64s\"", op, name);
	if (n > OFS_NAME_MAX)
		return o_err_set(O_ENAMETOOLONG,
		    "%s: name of %zu bytes exceeds %d: \"%.32s...\"", op, n,
		    OFS_NAME_MAX, name);
	return O_OK;
}

static o_err
need_ino(
    struct ofs_ns *ns, uint64_t ino, const char *op, struct ofs_inode **out)
{
	*out = ino_get(ns, ino);
	if (*out == NULL)
		return o_err_set(
		    O_ENOTFOUND, "%s: inode %" PRIu64 " unknown", op, ino);
	(*out)->used_ns = o_mono_ns();
	return O_OK;
}

static o_err
need_dir(
    struct ofs_ns *ns, uint64_t ino, const char *op, struct ofs_inode **out)
{
	char  path[512];
	o_err e;

	if ((e = need_ino(ns, ino, op, out)) != O_OK)
		return e;
	if ((*out)->kind != OFS_DIR) {
		path_of(ns, ino, path, sizeof(path));
		return o_err_set(O_ENOTDIR, "%s: %s is a %s, not a directory",
		    op, path, kind_word((*out)->kind));
	}
	if ((*out)->unlinked) {
		path_of(ns, ino, path, sizeof(path));
		return o_err_set(
		    O_ENOTFOUND, "%s: directory %s was removed", op, path);
	}
	return O_OK;
}

/* ---- directory entry records ---------------------------------------------
 */

/* Decoded record; x is owned (OC_NULL or OC_MAP). */
struct ofs_meta {
	uint8_t       kind;
	struct oc_bid id;
	uint32_t      mode;
	struct ofs_owner owner; /* "u" and "g", both or neither */
	int64_t       mt, ct;
	uint64_t      sz;
	bool          inl; /* files: contents inline ("d") */
	struct oc_val x;
};

static void
meta_fini(struct ofs_meta *m)
{
	oc_val_fini(&m->x);
}

/* Encode a record; x is borrowed.  Files: "sz" from m->sz, and "d" (the
 * whole contents, m->sz bytes) when d is not NULL (an inline file). */
static void
rec_encode(const struct ofs_meta *m, const struct o_buf *d, struct o_buf *out)
{
	struct oc_val v    = oc_map();
	char          k[2] = { (char) m->kind, '\0' };

	oc_map_set(&v, "k", oc_text(k));
	oc_map_set(&v, "id", oc_bid_val(&m->id));
	oc_map_set(&v, "mode", oc_int(m->mode & 07777));
	if (m->owner.own) {
		oc_map_set(&v, "u", oc_int(m->owner.uid));
		oc_map_set(&v, "g", oc_int(m->owner.gid));
	}
	oc_map_set(&v, "mt", oc_int(m->mt));
	oc_map_set(&v, "ct", oc_int(m->ct));
	if (m->kind == OFS_FILE) {
		oc_map_set(&v, "sz", oc_int((int64_t) m->sz));
		if (d != NULL)
			oc_map_set(&v, "d",
			    oc_bytes(d->len > 0 ? (const void *) d->data : "",
			        d->len));
	}
	if (m->x.type == OC_MAP && m->x.u.m.n > 0)
		oc_map_set(&v, "x", oc_val_dup(&m->x));
	o_buf_reset(out);
	oc_encode(&v, out);
	oc_val_fini(&v);
}

/* A record's owner: "u" and "g" both, each an id below (uid_t) -1 (which
 * chown(2) reserves), or neither. */
static o_err
owner_decode(const struct oc_val *v, struct ofs_owner *o, const char *where)
{
	const struct oc_val *u = oc_map_get(v, "u"), *g = oc_map_get(v, "g");

	memset(o, 0, sizeof(*o));
	if (u == NULL && g == NULL)
		return O_OK;
	if (u == NULL || g == NULL || u->type != OC_INT || g->type != OC_INT ||
	    u->u.i < 0 || g->u.i < 0 || u->u.i >= UINT32_MAX ||
	    g->u.i >= UINT32_MAX)
		return o_err_set(O_ECORRUPT,
		    "entry %s: owner is not a pair of ids (\"u\" and \"g\", "
		    "0 to %u)",
		    where, UINT32_MAX - 1);
	o->own = true;
	o->uid = (uint32_t) u->u.i;
	o->gid = (uint32_t) g->u.i;
	return O_OK;
}

/* Decode a record found at `where`; *d (may be NULL) gets "d" or null. */
static o_err
rec_decode(const uint8_t *p, size_t n, struct ofs_meta *m, struct oc_val *d,
    const char *where)
{
	static const struct oc_limits lim = { 16, 1u << 22, OFS_REC_MAX };
	const struct oc_val          *dv, *x;
	struct oc_val                 v;
	const char                   *k;
	size_t                        i;
	o_err                         e;

	memset(m, 0, sizeof(*m));
	m->x = oc_null();
	if (d != NULL)
		*d = oc_null();
	if ((e = oc_decode_lim(p, n, &v, &lim)) != O_OK)
		return o_err_set(O_ECORRUPT,
		    "entry %s: undecodable record: %s", where, o_err_detail());
	k = oc_map_text(&v, "k");
	if (k == NULL || strlen(k) != 1 ||
	    (k[0] != OFS_DIR && k[0] != OFS_FILE && k[0] != OFS_DIARY) ||
	    !oc_map_bid(&v, "id", &m->id)) {
		oc_val_fini(&v);
		return o_err_set(O_ECORRUPT,
		    "entry %s: record lacks a valid kind or id", where);
	}
	m->kind = (uint8_t) k[0];
	m->mode = (uint32_t) oc_map_int(&v, "mode", 0644) & 07777;
	if ((e = owner_decode(&v, &m->owner, where)) != O_OK) {
		oc_val_fini(&v);
		return e;
	}
	m->mt   = oc_map_int(&v, "mt", 0);
	m->ct   = oc_map_int(&v, "ct", 0);
	dv      = oc_map_bytes(&v, "d");
	m->inl  = dv != NULL || m->kind != OFS_FILE;
	m->sz   = (uint64_t) oc_map_int(
	      &v, "sz", dv != NULL ? (int64_t) dv->u.s.n : 0);
	if (m->kind == OFS_FILE &&
	    ((dv != NULL && m->sz != dv->u.s.n) || m->sz > OFS_FILE_MAX)) {
		oc_val_fini(&v);
		return o_err_set(O_ECORRUPT,
		    "entry %s: size %" PRIu64 " does not match the record",
		    where, m->sz);
	}
	x = oc_map_get(&v, "x");
	if (x != NULL && x->type == OC_MAP) {
		m->x = oc_map();
		for (i = 0; i < x->u.m.n; i++)
			if (x->u.m.kv[i].val.type == OC_BYTES)
				oc_map_set(&m->x,
				    (const char *) x->u.m.kv[i].key.u.s.p,
				    oc_val_dup(&x->u.m.kv[i].val));
	}
	if (d != NULL && dv != NULL)
		*d = oc_val_dup(dv);
	oc_val_fini(&v);
	return O_OK;
}

/* The record of an inode as it stands (x borrowed). */
static struct ofs_meta
inode_meta(const struct ofs_inode *in)
{
	struct ofs_meta m;

	m.kind = in->kind;
	m.id   = in->id;
	m.mode  = in->mode;
	m.owner = in->owner;
	m.mt   = in->mt;
	m.ct   = in->ct;
	m.sz   = in->sz;
	m.inl  = in->inl;
	m.x    = in->x;
	return m;
}

/* ---- resident file pieces (ns_mtx held) ---------------------------------
 */

static void
piece_free(struct ofs_ns *ns, struct ofs_inode *in, size_t i)
{
	struct ofs_piece *p = &in->pc[i];

	ns->loaded_bytes -= p->b.cap;
	if (p->dirty)
		in->dirty_bytes -= OFS_PIECE;
	o_buf_fini(&p->b);
	in->pc[i] = in->pc[--in->npc];
	if (in->npc == 0) { /* off the clock: the last one takes its place */
		struct ofs_inode *last = ns->pinodes[--ns->npinodes];

		ns->pinodes[in->pin_idx] = last;
		last->pin_idx            = in->pin_idx;
	}
}

static void
pieces_drop_all(struct ofs_ns *ns, struct ofs_inode *in)
{
	while (in->npc > 0)
		piece_free(ns, in, in->npc - 1);
}

static struct ofs_piece *
piece_find(struct ofs_inode *in, uint64_t idx)
{
	size_t i;

	for (i = 0; i < in->npc; i++)
		if (in->pc[i].idx == idx)
			return &in->pc[i];
	return NULL;
}

static struct ofs_piece *
piece_add(struct ofs_ns *ns, struct ofs_inode *in, uint64_t idx)
{
	struct ofs_piece *p;

	if (in->npc == 0) { /* on the eviction clock */
		if (ns->npinodes == ns->pincap) {
			ns->pincap  = ns->pincap ? ns->pincap * 2 : 16;
			ns->pinodes = o_realloc(
			    ns->pinodes, ns->pincap * sizeof(*ns->pinodes));
		}
		in->pin_idx                 = ns->npinodes;
		ns->pinodes[ns->npinodes++] = in;
	}
	if (in->npc == in->pccap) {
		in->pccap = in->pccap ? in->pccap * 2 : 4;
		in->pc    = o_realloc(in->pc, in->pccap * sizeof(*in->pc));
	}
	p = &in->pc[in->npc++];
	memset(p, 0, sizeof(*p));
	p->idx  = idx;
	p->used = o_mono_ns();
	return p;
}

/* Account for a change of p's capacity from old. */
static void
piece_grew(struct ofs_ns *ns, const struct ofs_piece *p, size_t old)
{
	ns->loaded_bytes += p->b.cap;
	ns->loaded_bytes -= old;
}

static void
piece_dirty(struct ofs_inode *in, struct ofs_piece *p)
{
	if (!p->dirty)
		in->dirty_bytes += OFS_PIECE;
	p->dirty = true;
}

/*
 * Make room for `need` more resident bytes: beyond OFS_PIECE_BUDGET, drop
 * clean pieces inode by inode (a clock hand over the inodes that hold
 * pieces), each inode's least recently used first, down to three
 * quarters of it, or until OFS_EVICT_SCAN inodes were visited.  Dirty and
 * pinned pieces stay; so does piece 0 of an unlinked inline file (nothing
 * else holds its bytes).  Dropping all of an inode's clean pieces at once
 * made a file larger than the budget keep almost none: each random
 * re-read went to the store.  The hand walks only inodes with pieces: over
 * the whole inode table, a large file read among many small ones sent it
 * past the scan limit without finding the file again.
 */
static void
pieces_evict(struct ofs_ns *ns, size_t need)
{
	size_t k, j, lim;

	if (ns->loaded_bytes + need <= OFS_PIECE_BUDGET)
		return;
	/* at most OFS_EVICT_SCAN inodes per call (the hand moves on), so a
	 * budget held by dirty pieces does not cost a long walk per read */
	lim = O_MIN(ns->npinodes, OFS_EVICT_SCAN); /* each once at most */
	for (k = 0; k < lim && ns->npinodes > 0 &&
	     ns->loaded_bytes + need > OFS_PIECE_BUDGET / 4 * 3;
	     k++) {
		struct ofs_inode *in;

		if (++ns->evict_cur >= ns->npinodes)
			ns->evict_cur = 0;
		in = ns->pinodes[ns->evict_cur];
		if (in->kind != OFS_FILE || (in->inl && in->unlinked))
			continue;
		while (in->npc > 0 &&
		    ns->loaded_bytes + need > OFS_PIECE_BUDGET / 4 * 3) {
			size_t old = SIZE_MAX;

			for (j = 0; j < in->npc; j++)
				if (!in->pc[j].dirty && !in->pc[j].pin &&
				    (old == SIZE_MAX ||
				        in->pc[j].used < in->pc[old].used))
					old = j;
			if (old == SIZE_MAX)
				break;
			piece_free(ns, in, old);
		}
		if (in->npc == 0) /* the slot now holds another inode */
			ns->evict_cur--;
	}
}

static void
mark_dirty(struct ofs_ns *ns, struct ofs_inode *in)
{
	in->last_write_ns = o_mono_ns();
	if (!in->dirty)
		in->dirty_since_ns = in->last_write_ns;
	in->dirty = true;
	if (in->on_dirty)
		return;
	if (ns->ndirty == ns->dcap) {
		ns->dcap = ns->dcap ? ns->dcap * 2 : 16;
		ns->dirty =
		    o_realloc(ns->dirty, ns->dcap * sizeof(*ns->dirty));
	}
	in->dirty_idx           = ns->ndirty;
	ns->dirty[ns->ndirty++] = in;
	in->on_dirty            = true;
}

/* Take in off the dirty list (its order does not matter). */
static void
dirty_unlist(struct ofs_ns *ns, struct ofs_inode *in)
{
	struct ofs_inode *last = ns->dirty[--ns->ndirty];

	ns->dirty[in->dirty_idx] = last;
	last->dirty_idx          = in->dirty_idx;
	in->on_dirty             = false;
}

/*
 * An entry of directory d changed: its mtime and ctime move (POSIX).  The
 * record follows when the committer finds it idle, as a file's size does,
 * so a burst of creates stages it once; the root's times live in memory.
 */
static void
dir_touched(struct ofs_ns *ns, struct ofs_inode *d)
{
	int64_t t = now_ns();

	d->nent = -1;
	if (d->ino == OFS_ROOT_INO) {
		ns->root_mt = ns->root_ct = t;
		return;
	}
	d->mt = d->ct = t;
	mark_dirty(ns, d);
}

/* ---- diary read indexes kept across mounts --------------------------------
 *
 * A cold mount would otherwise walk a diary's whole log to learn its size
 * (~2 s per GiB of short lines).  The index is stored as the diary's
 * journal hint, a CBOR map:
 *
 *   "v"     int      DHINT_VERSION
 *   "col"   bytes32  the diary's id (a hint filed under another id is
 *                    refused)
 *   "rev", "off", "nent", "ms"   end_rev, end_off, nent, end_ms
 *   "eb", "ei", "aid"            the last counted entry: its log block,
 *                    index in it and action id
 *   "st", "si"       stride, since
 *   "m"     bytes    the marks, DHINT_MARK bytes each: offset (8, BE),
 *                    log block (32), index (8, BE)
 *
 * Committed log entries never move, so an index of a prefix stays true as
 * the diary grows: a loaded index is extended from its end like any other.
 * It is kept when its inode is freed (unmount, removal of the diary) and
 * once DHINT_SAVE_WALK entries were counted since it was last kept (one
 * long walk, or the catch-ups after many commits), without sync: lost,
 * it only costs a walk.  Before use its shape is checked and its last entry is
 * found walking back from this log's tail (dhint_check: same position,
 * revision and action) and the entries from its last mark to it are
 * measured (dhint_check); anything else is logged and the log is
 * counted again.  A count that a read finds past the log's end is
 * dropped with its stored copy and made again (dindex_drop).
 */
#define DHINT_VERSION 1
#define DHINT_MARK (8 + OC_BID_LEN + 8)
#define DHINT_SAVE_WALK 4096

/* Forget what x counted (not where it is kept). */
static void
dindex_reset(struct ofs_dindex *x)
{
	struct ofs_dindex f;

	memset(&f, 0, sizeof(f));
	f.stride     = 1;
	f.hints      = x->hints;
	f.hint_tried = true; /* what is stored may be what was just dropped */
	f.walked     = x->walked;
	f.saved_walked = x->saved_walked;
	f.saved_rev    = x->saved_rev; /* not overwritten by a shorter count */
	/* read unlatched (diary_wrote): kept, never zero in between */
	f.end_ms = __atomic_load_n(&x->end_ms, __ATOMIC_RELAXED);
	free(x->m);
	*x = f;
}

/* Store x as col's hint when it counted more than the stored one. */
static void
dindex_save(const struct oc_bid *col, struct ofs_dindex *x)
{
	struct oc_val v;
	struct o_buf  enc = { 0 };
	uint8_t      *m;
	size_t        i;
	char          id[OC_BID_STRLEN];

	if (x->hints == NULL || !x->has_end || x->end_rev <= x->saved_rev)
		return;
	m = o_malloc(x->n * DHINT_MARK + 1);
	for (i = 0; i < x->n; i++) {
		uint8_t *p = m + i * DHINT_MARK;

		o_be64_put(p, x->m[i].off);
		memcpy(p + 8, x->m[i].pos.blk.b, OC_BID_LEN);
		o_be64_put(p + 8 + OC_BID_LEN, (uint64_t) x->m[i].pos.idx);
	}
	v = oc_map();
	oc_map_set(&v, "v", oc_int(DHINT_VERSION));
	oc_map_set(&v, "col", oc_bytes(col->b, OC_BID_LEN));
	oc_map_set(&v, "rev", oc_int(x->end_rev));
	oc_map_set(&v, "off", oc_int((int64_t) x->end_off));
	oc_map_set(&v, "nent", oc_int((int64_t) x->nent));
	oc_map_set(&v, "ms", oc_int(x->end_ms));
	oc_map_set(&v, "eb", oc_bytes(x->end.blk.b, OC_BID_LEN));
	oc_map_set(&v, "ei", oc_int(x->end.idx));
	oc_map_set(&v, "aid", oc_bytes(x->end_aid.b, OC_AID_LEN));
	oc_map_set(&v, "st", oc_int(x->stride));
	oc_map_set(&v, "si", oc_int(x->since));
	oc_map_set(&v, "m", oc_bytes(m, x->n * DHINT_MARK));
	free(m);
	oc_encode(&v, &enc);
	oc_val_fini(&v);
	x->saved_walked = x->walked; /* a failure is not retried at once */
	if (x->hints->ops->hint_put(x->hints, col, enc.data, enc.len) == O_OK)
		x->saved_rev = x->end_rev;
	else
		o_log(O_LOG_INFO,
		    "diary %s: its read index was not stored (%s); the next "
		    "mount counts its log again",
		    oc_bid_str(col, id), o_err_detail());
	o_buf_fini(&enc);
}

/* When the inode goes: store its index, or forget the stored one when
 * the diary was removed. */
static void
dindex_keep(const struct oc_bid *col, struct ofs_dindex *x, bool removed)
{
	if (x->hints == NULL)
		return;
	if (!removed)
		dindex_save(col, x);
	else
		(void) x->hints->ops->hint_put(x->hints, col, NULL, 0);
}

/*
 * x disagrees with col's log at the held rev: forget it, and the stored
 * copy it may come from, so that the log is counted again (a diary whose
 * count went wrong, by a bug or by history a cluster's majority did not
 * keep, reads its log rather than fail for good).
 */
static void
dindex_drop(const struct oc_bid *col, struct ofs_dindex *x, int64_t rev,
    bool wrong, const char *why)
{
	char id[OC_BID_STRLEN];

	o_log(wrong ? O_LOG_WARN : O_LOG_INFO,
	    "diary %s: its read index (%" PRIu64 " bytes to rev %" PRId64
	    ") is dropped at rev %" PRId64 ", its log counted again: %s",
	    oc_bid_str(col, id), x->end_off, x->end_rev, rev, why);
	/* a count only ahead of the held rev may be stored rightly */
	if (wrong && x->hints != NULL)
		(void) x->hints->ops->hint_put(x->hints, col, NULL, 0);
	dindex_reset(x);
	if (wrong)
		x->saved_rev = 0; /* the recount is kept */
}

/* Fill h from a decoded hint of col; NULL, or why it is unusable. */
static const char *
dhint_parse(
    const struct oc_val *v, const struct oc_bid *col, struct ofs_dindex *h)
{
	const struct oc_val *c, *eb, *aid, *m;
	int64_t              off, nent, st, si, ei;
	size_t               i, n;

	if (v->type != OC_MAP || oc_map_int(v, "v", 0) != DHINT_VERSION)
		return "an unknown version";
	c = oc_map_bytes(v, "col");
	if (c == NULL || c->u.s.n != OC_BID_LEN ||
	    memcmp(c->u.s.p, col->b, OC_BID_LEN) != 0)
		return "it is another diary's";
	eb  = oc_map_bytes(v, "eb");
	aid = oc_map_bytes(v, "aid");
	m   = oc_map_bytes(v, "m");
	if (eb == NULL || eb->u.s.n != OC_BID_LEN || aid == NULL ||
	    aid->u.s.n != OC_AID_LEN || m == NULL || m->u.s.n % DHINT_MARK)
		return "a field is missing or malformed";
	n          = m->u.s.n / DHINT_MARK;
	h->end_rev = oc_map_int(v, "rev", 0);
	off        = oc_map_int(v, "off", -1);
	nent       = oc_map_int(v, "nent", -1);
	st         = oc_map_int(v, "st", 0);
	si         = oc_map_int(v, "si", -1);
	ei         = oc_map_int(v, "ei", -1);
	if (h->end_rev < 1 || off < 0 || nent < 0 || ei < 0 || n == 0 ||
	    n > OFS_DMARK_MAX || st < 1 || st > (1 << 30) || (st & (st - 1)) ||
	    si < 0 || si > st)
		return "a value is out of range";
	h->end_off = (uint64_t) off;
	h->nent    = (uint64_t) nent;
	h->end_ms  = oc_map_int(v, "ms", 0);
	h->stride  = (uint32_t) st;
	h->since   = (uint32_t) si;
	h->has_end = true;
	memcpy(h->end.blk.b, eb->u.s.p, OC_BID_LEN);
	h->end.idx = ei;
	memcpy(h->end_aid.b, aid->u.s.p, OC_AID_LEN);
	h->m = o_malloc(n * sizeof(*h->m));
	h->n = h->cap = n;
	for (i = 0; i < n; i++) {
		const uint8_t *p = m->u.s.p + i * DHINT_MARK;

		h->m[i].off = o_be64_get(p);
		memcpy(h->m[i].pos.blk.b, p + 8, OC_BID_LEN);
		h->m[i].pos.idx = (int64_t) o_be64_get(p + 8 + OC_BID_LEN);
		if (h->m[i].pos.idx < 0 || h->m[i].off > h->end_off ||
		    (i == 0 ? h->m[i].off != 0
		            : h->m[i].off < h->m[i - 1].off))
			return "its marks are out of order";
	}
	return NULL;
}

/*
 * NULL when h holds for col's log, or why not.  Walks back from the log's
 * tail to h's last entry, so what it names is this log's (blocks are not
 * filed by collection), and checks it is there with h's revision and
 * action; then on to h's last mark, measuring the entries in between,
 * which must end at h's end offset (a count that does not would report
 * a size the log does not hold, and read past its end).  It walks the
 * entries committed since h was stored (the index then counts them
 * anyway) and at most a stride of blocks (the marks' spacing) more; the
 * whole log (a recount's cost) when h's entries are not there.  *stale
 * when the walk met pruned history.
 */
static const char *
dhint_check(struct oc_bstore *s, const struct oc_bid *col,
    const struct ofs_dindex *h, bool *stale)
{
	const struct ofs_dmark *mark = &h->m[h->n - 1];
	struct oc_log           log;
	struct oc_chain_iter    it;
	struct oc_chain_path    pos;
	const struct oc_val    *ent;
	struct oc_aid           aid;
	const char             *why = NULL;
	uint64_t                sum = 0, size, napp;
	bool                    done, at_end = false;
	int64_t                 rev;
	o_err                   e;

	if ((e = oc_log_open(&log, s, col)) != O_OK ||
	    (e = oc_chain_iter_init(&it, &log.ch, NULL, false)) != O_OK) {
		*stale = e == O_ESTALE;
		return "the log cannot be read";
	}
	for (;;) {
		if ((e = oc_chain_iter_next(&it, &ent, &pos, &done)) != O_OK) {
			*stale = e == O_ESTALE;
			why    = "the log cannot be read";
			break;
		}
		if (done) {
			why = at_end ? "its last mark is not in the log"
			             : "its last entry is not in the log";
			break;
		}
		if (!at_end) {
			if ((rev = oc_log_entry_rev(ent)) < h->end_rev) {
				why = "its last entry is not in the log";
				break;
			}
			if (rev > h->end_rev)
				continue;
			memset(&aid, 0, sizeof(aid));
			(void) oc_log_entry_aid(ent, &aid);
			if (!oc_bid_eq(&pos.blk, &h->end.blk) ||
			    pos.idx != h->end.idx) {
				why = "its last entry is elsewhere in the log";
				break;
			}
			if (memcmp(aid.b, h->end_aid.b, OC_AID_LEN) != 0) {
				why = "its last entry is another action";
				break;
			}
			at_end = true;
		}
		if (oc_diary_entry_size(ent, &size, &napp) != O_OK) {
			why = "an entry after its last mark does not measure";
			break;
		}
		sum += size;
		if (oc_bid_eq(&pos.blk, &mark->pos.blk) &&
		    pos.idx == mark->pos.idx) {
			if (mark->off + sum != h->end_off)
				why = "its size disagrees with its log";
			break;
		}
	}
	oc_chain_iter_fini(&it);
	return why;
}

/*
 * Take col's stored index into x (empty) when it holds; runs once, under
 * the collection's latch, with the held rev upto.  O_ESTALE (the check
 * met pruned history): the caller brings the collection up to date and
 * comes back, once; anything else that keeps the index from being used
 * is logged and the log is counted.
 */
static o_err
dindex_load(struct oc_bstore *s, const struct oc_bid *col,
    struct ofs_dindex *x, int64_t upto)
{
	struct ofs_dindex h;
	struct oc_val     v = oc_null();
	struct o_buf      b = { 0 };
	const char       *why;
	char              id[OC_BID_STRLEN], err[256];
	bool              found, stale = false;
	int64_t           ms;
	o_err             e = O_OK;

	x->hint_tried = true;
	if (x->hints == NULL || x->has_end)
		return O_OK;
	memset(&h, 0, sizeof(h));
	if (x->hints->ops->hint_get(x->hints, col, &b, &found) != O_OK) {
		snprintf(err, sizeof(err), "%s", o_err_detail());
		why = err;
	} else if (!found) {
		goto out;
	} else if (oc_decode(b.data, b.len, &v) != O_OK) {
		snprintf(err, sizeof(err), "it does not decode: %s",
		    o_err_detail());
		why = err;
	} else if ((why = dhint_parse(&v, col, &h)) == NULL) {
		if (h.end_rev > upto) { /* newer than the held rev: not now, */
			x->saved_rev = h.end_rev; /* nor overwritten */
			goto out;
		}
		why = dhint_check(s, col, &h, &stale);
	}
	if (stale && x->hint_stale++ == 0) {
		x->hint_tried = false; /* the caller catches up, calls again */

		e = o_err_set(O_ESTALE,
		    "diary %s: its stored read index names history no longer "
		    "kept at rev %" PRId64,
		    oc_bid_str(col, id), upto);
		goto out;
	}
	if (why != NULL) {
		o_log(O_LOG_WARN,
		    "diary %s: its stored read index is not used (%s); "
		    "counting its log again",
		    oc_bid_str(col, id), why);
		goto out;
	}
	h.hints      = x->hints;
	h.hint_tried = true;
	h.hint_stale = x->hint_stale;
	h.saved_rev    = h.end_rev;
	h.walked       = x->walked;
	h.saved_walked = x->walked;
	free(x->m);
	/* end_ms is read unlatched (diary_wrote): the copy leaves it, and
	 * it is stored atomically */
	ms       = h.end_ms;
	h.end_ms = __atomic_load_n(&x->end_ms, __ATOMIC_RELAXED);
	*x       = h;
	__atomic_store_n(&x->end_ms, ms, __ATOMIC_RELAXED);
	h.m = NULL;
out:
	free(h.m);
	oc_val_fini(&v);
	o_buf_fini(&b);
	return e;
}

/* ---- inodes (ns_mtx held) ------------------------------------------------
 */

/* An inode's parent changes from ino `from` to `to` (0: none). */
static void
kid_move(struct ofs_ns *ns, uint64_t from, uint64_t to)
{
	struct ofs_inode *p;

	if (from != 0 && (p = ino_get(ns, from)) != NULL) {
		if (p->nkids == 0) {
			/* a miscount (a bug): it may have let the sweep free
			 * a parent that a child still names; keep this one
			 * for good rather than wrap the count */
			o_log(O_LOG_ERROR,
			    "inode %" PRIu64 ": a child left a directory that "
			    "counted none; kept in memory until unmount",
			    from);
			p->nkids = 1;
		} else {
			p->nkids--;
		}
	}
	if (to != 0 && (p = ino_get(ns, to)) != NULL)
		p->nkids++;
}

static struct ofs_inode *
inode_new(struct ofs_ns *ns, const struct ofs_meta *m, uint64_t parent,
    const char *name)
{
	struct ofs_inode *in = o_calloc(1, sizeof(*in));

	if (ns->nifree > 0) { /* forgotten by the kernel: free to reuse */
		in->ino = ns->ifree[--ns->nifree];
	} else {
		if (ns->ninodes == ns->icap) {
			ns->icap = ns->icap ? ns->icap * 2 : 256;
			ns->inodes = o_realloc(
			    ns->inodes, ns->icap * sizeof(*ns->inodes));
		}
		in->ino = ns->ninodes++;
	}
	in->used_ns    = o_mono_ns();
	in->gen        = ++ns->gen;
	ns->nlive++;
	in->id         = m->id;
	in->kind       = m->kind;
	in->parent     = parent;
	in->name       = name != NULL ? o_strdup(name) : NULL;
	in->mode       = m->mode;
	in->owner      = m->owner;
	in->mt         = m->mt;
	in->ct         = m->ct;
	in->sz         = m->sz;
	in->inl        = m->inl;
	in->x          = oc_val_dup(&m->x);
	in->nent       = -1;
	in->idx.stride = 1;
	if (in->kind == OFS_DIARY && ns->opts.journal != NULL &&
	    ns->opts.journal->ops->hint_put != NULL &&
	    ns->opts.journal->ops->hint_get != NULL)
		in->idx.hints = ns->opts.journal;
	pthread_mutex_init(&in->i_mtx, NULL);
	ns->inodes[in->ino] = in;
	idmap_put(&ns->by_id, &in->id, in);
	if (in->ino != OFS_ROOT_INO)
		kid_move(ns, 0, parent);
	return in;
}

static void
inode_free(struct ofs_inode *in)
{
	size_t i;

	free(in->name);
	for (i = 0; i < in->npc; i++)
		o_buf_fini(&in->pc[i].b);
	free(in->pc);
	for (i = 0; i < in->nfrag; i++)
		o_buf_fini(&in->frags[i].b);
	free(in->frags);
	oc_val_fini(&in->x);
	if (in->kind == OFS_DIARY)
		dindex_keep(&in->id, &in->idx, in->unlinked || in->gone);
	free(in->idx.m);
	pthread_mutex_destroy(&in->i_mtx);
	free(in);
}

/*
 * ---- inode lifetime (ns_mtx held) ----
 *
 * An inode lives while the kernel holds it (nlookup: every entry handed to
 * the kernel counts one, ofs_ns_forget gives them back), while our own
 * code uses it with ns_mtx dropped (busy), and while it holds anything
 * not stored: staged-but-unsynced state, dirty or pinned pieces, a piece
 * collection with work to commit.  A file the kernel forgets is freed at
 * once if it can be, else by the sweep once it can; one that reached the
 * table without the kernel counting it (a plain readdir) is swept after
 * idle_ns unused.  Directories and diaries are freed only by the sweep
 * (the committer's thread), once their collection was closed
 * (colls_close_idle), and a directory only when no inode in the table
 * is its child (nkids): children name their parent by ino.  Code that
 * uses a directory's or diary's inode with ns_mtx dropped holds its
 * collection open (a pin, the kernel's hold, or being the committer) or
 * the inode itself (busy: readdir's batch, a rename's source), so none
 * of it runs on a freed one.  A freed inode's ino is reused: the
 * kernel has forgotten it.
 */
static bool
inode_evictable(struct ofs_inode *in)
{
	size_t i;

	if (in->kind != OFS_FILE || in->ino == OFS_ROOT_INO ||
	    in->nlookup > 0 || in->busy > 0 || in->dirty ||
	    in->stage_failing)
		return false;
	if (in->pcoll != NULL &&
	    (in->pcoll->dirty || in->pcoll->ndeps > 0 ||
	        in->pcoll->err != O_OK))
		return false;
	/* an unlinked file's pieces are read by no one any more */
	for (i = 0; i < in->npc && !in->unlinked; i++)
		if (in->pc[i].dirty || in->pc[i].pin)
			return false;
	return true;
}

static void
inode_evict(struct ofs_ns *ns, struct ofs_inode *in)
{
	if (in->on_dirty) /* staged since: nothing left to look at */
		dirty_unlist(ns, in);
	pieces_drop_all(ns, in);
	if (in->pcoll != NULL)
		in->pcoll->ino = 0; /* for messages: no inode now */
	idmap_del(&ns->by_id, &in->id);
	kid_move(ns, in->parent, 0);
	ns->inodes[in->ino] = NULL;
	if (ns->nifree == ns->ifcap) {
		ns->ifcap = ns->ifcap ? ns->ifcap * 2 : 64;
		ns->ifree = o_realloc(ns->ifree, ns->ifcap * sizeof(*ns->ifree));
	}
	ns->ifree[ns->nifree++] = in->ino;
	ns->nlive--;
	ns->evicted++;
	inode_free(in);
}

/* Give back n of the kernel's counts; free in if it can go now. */
static void
inode_unref(struct ofs_ns *ns, struct ofs_inode *in, uint64_t n)
{
	in->nlookup -= O_MIN(n, in->nlookup);
	if (inode_evictable(in))
		inode_evict(ns, in);
}

/* A diary that holds a writer's trailing fragment, or whose append lock
 * is taken (an append under way; i_mtx comes before ns_mtx, so it is only
 * tried). */
static bool
diary_frags(struct ofs_inode *in)
{
	bool frags;

	if (pthread_mutex_trylock(&in->i_mtx) != 0)
		return true;
	frags = in->nfrag > 0;
	pthread_mutex_unlock(&in->i_mtx);
	return frags;
}

/*
 * When a diary was last written: its last committed entry's commit time
 * (whichever mount wrote it) or this mount's latest write, the later.
 */
static int64_t
diary_wrote(struct ofs_inode *in)
{
	int64_t c = __atomic_load_n(&in->idx.end_ms, __ATOMIC_RELAXED);
	int64_t w = __atomic_load_n(&in->wrote_ns, __ATOMIC_RELAXED);

	return O_MAX(c * 1000000, w);
}

/*
 * A diary's record keeps the mtime of its last change other than an
 * append (create, utimens): appends move mtime and ctime without a record
 * write each (attr_finish).  A write newer than the record's ctime is the
 * later change.  Before the record's ctime moves (chmod, xattrs), the
 * mtime the appends gave is folded into the record, so it stays.
 */
static void
diary_keep_mtime(struct ofs_inode *in)
{
	int64_t w;

	if (in->kind == OFS_DIARY && (w = diary_wrote(in)) > in->ct)
		in->mt = w;
}

/* A directory or diary the sweep may free (see above). */
static bool
inode_sweepable(struct ofs_ns *ns, struct ofs_inode *in)
{
	if (in->kind == OFS_FILE)
		return inode_evictable(in);
	if (in->ino == OFS_ROOT_INO || in->nlookup > 0 || in->busy > 0 ||
	    in->nkids > 0 || in->coll != NULL || in->dirty || in->on_dirty ||
	    in->stage_failing || idmap_get(&ns->colls, &in->id) != NULL)
		return false;
	return in->kind != OFS_DIARY || !diary_frags(in);
}

/* Free every inode that can go and was unused for idle_ns; children
 * first (mostly numbered after their parents), so a tree goes at once. */
static void
inodes_sweep(struct ofs_ns *ns, uint64_t idle_ns)
{
	uint64_t now = o_mono_ns();
	size_t   i;

	for (i = ns->ninodes; i-- > OFS_ROOT_INO + 1;) {
		struct ofs_inode *in = ns->inodes[i];

		if (in != NULL && now - in->used_ns >= idle_ns &&
		    inode_sweepable(ns, in))
			inode_evict(ns, in);
	}
}

/* Adopt a record read from the tree at (parent, name). */
static void
inode_adopt(struct ofs_ns *ns, struct ofs_inode *in, const struct ofs_meta *m,
    uint64_t parent, const char *name)
{
	if (in->ino != OFS_ROOT_INO &&
	    (in->parent != parent || in->name == NULL ||
	        strcmp(in->name, name) != 0)) {
		free(in->name);
		in->name = o_strdup(name);
		kid_move(ns, in->parent, parent);
		in->parent = parent;
	}
	in->unlinked = false;
	in->gone     = false;
	in->stale    = false;
	in->mode     = m->mode;
	in->owner    = m->owner;
	oc_val_fini(&in->x);
	in->x = oc_val_dup(&m->x);
	if (in->dirty || in->dirty_bytes > 0)
		return; /* our bytes, size and times are newer */
	/* changed by another mount: every change of a file's bytes sets its
	 * ctime, which no caller can set (size and mtime can stay equal:
	 * a same-size rewrite followed by utimensat, as cp -p does) */
	if (in->kind == OFS_FILE &&
	    (in->sz != m->sz || in->mt != m->mt || in->ct != m->ct ||
	        in->inl != m->inl)) {
		pieces_drop_all(ns, in);
		in->inl    = m->inl;
		in->pstale = in->pcoll != NULL;
	}
	in->mt = m->mt;
	in->ct = m->ct;
	in->sz = m->sz;
}

/* The inode of the object a record names, made on first sight. */
static o_err
inode_for(struct ofs_ns *ns, uint64_t parent, const char *name,
    const struct ofs_meta *m, struct ofs_inode **out)
{
	struct ofs_inode *in = idmap_get(&ns->by_id, &m->id);
	char              path[512];

	if (in == NULL) {
		*out = inode_new(ns, m, parent, name);
		return O_OK;
	}
	if (in->kind != m->kind) {
		path_child(ns, parent, name, path, sizeof(path));
		return o_err_set(O_ECORRUPT,
		    "entry %s: a %s record names object of inode %" PRIu64
		    " (a %s)",
		    path, kind_word(m->kind), in->ino, kind_word(in->kind));
	}
	inode_adopt(ns, in, m, parent, name);
	in->used_ns = o_mono_ns();
	*out        = in;
	return O_OK;
}

/* ---- collections ---------------------------------------------------------
 */

static struct ofs_coll *
coll_add(struct ofs_ns *ns, const struct oc_bid *id, uint8_t kind,
    uint64_t ino, struct oc_collection *c)
{
	struct ofs_coll *oc = o_calloc(1, sizeof(*oc));

	oc->id        = *id;
	oc->kind      = kind;
	oc->c         = c;
	oc->ino       = ino;
	oc->fresh_ns  = o_mono_ns(); /* opening read the latest context */
	oc->used_ns   = oc->fresh_ns;
	oc->seen_rev  = oc_coll_rev(c);
	oc->told_rev  = oc->seen_rev;
	oc->next      = ns->coll_list;
	ns->coll_list = oc;
	ns->ncolls++;
	idmap_put(&ns->colls, id, oc);
	return oc;
}

/* Open (or find) collection id of kind; ns_mtx held (opening reads).
 * create: a file's piece collection may not exist yet (made at commit). */
static o_err
coll_get(struct ofs_ns *ns, const struct oc_bid *id, uint8_t kind,
    uint64_t ino, bool create, struct ofs_coll **out)
{
	struct oc_collection *c;
	char                  path[512], s[OC_BID_STRLEN];
	o_err                 e;

	*out = idmap_get(&ns->colls, id);
	if (*out != NULL) {
		/* used now: not closed for idle_ns (colls_close_idle); a
		 * use with ns_mtx dropped needs a pin or the kernel's
		 * hold besides */
		(*out)->used_ns = o_mono_ns();
		return O_OK;
	}
	if (kind == OFS_DIR)
		e = oc_tree_open(ns->tx, id, false, &ns->sopts, &c);
	else if (kind == OFS_FILE) {
		/* a file's pieces keep what is read and written (within
		 * OFS_PIECE_BUDGET): its chunks cached as well would only
		 * double the memory of a large write or read */
		struct oc_sync_opts po = ns->sopts;

		po.uncached_chunks = true;
		e                  = oc_tree_open(ns->tx, id, create, &po, &c);
	} else
		e = oc_diary_open(ns->tx, id, false, &ns->sopts, &c);
	if (e != O_OK) {
		path_of(ns, ino, path, sizeof(path));
		if (e == O_ENOTFOUND)
			return o_err_set(O_ECORRUPT,
			    "open %s %s: its collection %s is missing",
			    kind_word(kind), path, oc_bid_str(id, s));
		return o_err_wrap(e, "open %s %s (collection %s)",
		    kind_word(kind), path, oc_bid_str(id, s));
	}
	*out = coll_add(ns, id, kind, ino, c);
	return O_OK;
}

/* The own collection of a directory or diary inode; ns_mtx held. */
static o_err
inode_coll(struct ofs_ns *ns, struct ofs_inode *in, struct ofs_coll **out)
{
	o_err e;

	if (in->kind == OFS_FILE)
		return o_err_set(
		    O_EINVAL, "inode %" PRIu64 " is a file", in->ino);
	if (in->coll == NULL) {
		bool had = idmap_get(&ns->colls, &in->id) != NULL;

		if ((e = coll_get(ns, &in->id, in->kind, in->ino, false,
		         &in->coll)) != O_OK)
			return e;
		/* opened earlier for an emptiness check, under the parent */
		in->coll->ino = in->ino;
		/* a diary opened again after colls_close_idle at an older
		 * rev than its read index counted (a cluster's replicas
		 * lagging): count again (no one else has the collection) */
		if (!had && in->kind == OFS_DIARY &&
		    in->idx.end_rev > oc_coll_rev(in->coll->c))
			dindex_reset(&in->idx);
	}
	in->coll->used_ns = o_mono_ns();
	*out = in->coll;
	return O_OK;
}

/* The collection holding in's entry; ns_mtx held. */
static o_err
parent_coll(struct ofs_ns *ns, struct ofs_inode *in, struct ofs_coll **out)
{
	struct ofs_inode *p = ino_get(ns, in->parent);

	if (p == NULL || p->kind != OFS_DIR)
		return o_err_set(O_EINTERNAL,
		    "inode %" PRIu64 ": parent %" PRIu64 " is not a directory",
		    in->ino, in->parent);
	return inode_coll(ns, p, out);
}

/*
 * Commit oc's queued actions up to the seq coll_sync_deps takes (those
 * staged before the call; no lock held), after the pieces they name.  On
 * failure the actions stay queued and the collection stays dirty; a
 * failed commit of oc itself keeps its error for the next flush and logs
 * it with the path (a dependency's failure is kept and logged by the
 * dependency's own commit).
 */
static o_err coll_sync(struct ofs_ns *ns, struct ofs_coll *oc);

/* The entries of directory tree c, its retirement key not counted (a
 * directory retired while a name still reaches it, which only a partial
 * commit or a recovery can leave, can then be removed again). */
static o_err
dir_count(struct oc_collection *c, uint64_t *n)
{
	bool  retired = false;
	o_err e       = oc_tree_count(c, n);

	if (e == O_OK && *n > 0 &&
	    (e = oc_tree_retired(c, &retired)) == O_OK && retired)
		(*n)--;
	return e;
}

/* Whether a directory's key is its retirement (an rmdir's, tree.h), which
 * no entry can be named (a name holds no '/'). */
static bool
retired_key(const uint8_t *k, size_t kl)
{
	return kl == strlen(OC_TREE_RETIRED) &&
	    memcmp(k, OC_TREE_RETIRED, kl) == 0;
}

/* oc's staged records rely on dep's staged work: commit dep first. */
static void
coll_dep_add(struct ofs_coll *oc, struct ofs_coll *dep)
{
	size_t i;

	for (i = 0; i < oc->ndeps; i++)
		if (oc->deps[i] == dep)
			return;
	if (oc->ndeps == oc->depcap) {
		oc->depcap = oc->depcap ? oc->depcap * 2 : 4;
		oc->deps = o_realloc(oc->deps, oc->depcap * sizeof(*oc->deps));
	}
	oc->deps[oc->ndeps++] = dep;
	dep->deprefs++;
}

/*
 * Before a commit of oc: commit what its staged records rely on (file
 * pieces).  *seq: what oc's commit covers (oc_coll_sync_to), the actions
 * staged up to here; *queued: the diary bytes among them.  While the
 * commit runs (oc->syncs, given back once it returned), a record naming
 * pieces is staged after a seal (seal_for_pieces), so it is not committed
 * before them.  On failure the deps not committed stay listed, and oc is
 * not committed either (nor counted in syncs).
 */
static o_err
coll_sync_deps(struct ofs_ns *ns, struct ofs_coll *oc, bool pair,
    uint64_t *seq, uint64_t *queued)
{
	struct ofs_coll **deps;
	size_t            n, i;
	o_err             e = O_OK;

	lock_ns(ns);
	/* another thread is committing deps oc's records (maybe the ones
	 * ours are about to commit) rely on: wait until they are in */
	while (oc->deps_busy || (!pair && oc->pairing > 0))
		pthread_cond_wait(&ns->deps_cv, &ns->ns_mtx);
	deps          = oc->deps;
	n             = oc->ndeps;
	oc->deps      = NULL;
	oc->ndeps     = 0;
	oc->depcap    = 0;
	oc->deps_busy = n > 0;
	oc->dirty     = false; /* work staged from here on sets it again */
	oc->syncs++;
	*seq    = oc_coll_seq(oc->c);
	*queued = oc->queued_bytes;
	unlock_ns(ns);
	if (n == 0)
		return O_OK;
	/* each dep stays counted in deprefs (kept open) until here */
	for (i = 0; i < n && e == O_OK; i++)
		e = coll_sync(ns, deps[i]);
	lock_ns(ns);
	if (e != O_OK) {
		size_t j;

		for (j = i - 1; j < n; j++)
			coll_dep_add(oc, deps[j]);
		oc->dirty = true;
		oc->syncs--;
	}
	for (i = 0; i < n; i++)
		deps[i]->deprefs--;
	oc->deps_busy = false;
	pthread_cond_broadcast(&ns->deps_cv);
	unlock_ns(ns);
	free(deps);
	return e;
}

static void diary_index_catch_up(struct ofs_inode *in, struct oc_collection *c);

/* ns_mtx held: book the result e of committing oc (queued: its diary
 * bytes queued when the commit started); returns e, with the path. */
static o_err
coll_synced(struct ofs_ns *ns, struct ofs_coll *oc, o_err e, uint64_t queued)
{
	char path[512], detail[512];

	if (e == O_OK) {
		oc->queued_bytes -= O_MIN(queued, oc->queued_bytes);
		if (oc->failing) {
			path_of(ns, oc->ino, path, sizeof(path));
			o_log(O_LOG_INFO, "commit of %s %s works again",
			    kind_word(oc->kind), path);
		}
		oc->err     = O_OK;
		oc->failing = false;
		return O_OK;
	}
	snprintf(detail, sizeof(detail), "%s", o_err_detail());
	oc->dirty = true;
	oc->err   = e;
	ns->errors++;
	path_of(ns, oc->ino, path, sizeof(path));
	/* once per run of failures: the committer retries often */
	if (!oc->failing)
		o_log(O_LOG_WARN,
		    "commit of %s %s failed (%s), kept queued and retried: %s",
		    kind_word(oc->kind), path, o_errname(e), detail);
	oc->failing = true;
	return o_err_set(e, "commit of %s %s: %s", kind_word(oc->kind), path,
	    detail);
}

/* Where a collection stood before a sync (own_commits). */
struct own_mark {
	int64_t  rev;
	uint64_t commits;
};

static void
own_mark(struct oc_collection *c, struct own_mark *m)
{
	struct oc_coll_stats st;

	m->rev = oc_coll_rev(c); /* rev first, then commits: see below */
	oc_coll_get_stats(c, &st);
	m->commits = st.commits;
}

/*
 * ns_mtx held, after a sync from mark m: move oc->seen_rev past our own
 * commits if no other mount's entry was adopted with them (each commit of
 * ours is one rev).  The two reads on either side are not atomic; their
 * order (rev before commits at the mark, commits before rev here) makes
 * a commit slipping in between count in the revs and not in the commits,
 * so a doubt leaves seen_rev behind, which only costs a needless stale
 * mark or report later.
 */
static void
own_commits(struct ofs_coll *oc, const struct own_mark *m)
{
	struct oc_coll_stats st;
	int64_t              rev;

	oc_coll_get_stats(oc->c, &st);
	rev = oc_coll_rev(oc->c);
	if (oc->seen_rev == m->rev && rev >= m->rev &&
	    (uint64_t) (rev - m->rev) == st.commits - m->commits) {
		if (oc->told_rev == m->rev)
			oc->told_rev = rev;
		oc->seen_rev = rev;
	}
}

/* ns_mtx held: keep oc open while it is used with ns_mtx dropped, where
 * nothing else does (see colls_close_idle: the kernel's hold on the
 * owner, a dependency, or being the committer). */
static void
coll_pin(struct ofs_coll *oc)
{
	oc->pins++;
}

static void
coll_unpin(struct ofs_ns *ns, struct ofs_coll *oc)
{
	lock_ns(ns);
	oc->pins--;
	unlock_ns(ns);
}

/* The caller keeps oc open meanwhile (coll_pin, or what colls_close_idle
 * counts on: the kernel's hold on its owner, deprefs, the committer). */
static o_err
coll_sync(struct ofs_ns *ns, struct ofs_coll *oc)
{
	struct ofs_inode *in = NULL;
	struct own_mark   om;
	uint64_t          queued, seq;
	o_err             e;

	if ((e = coll_sync_deps(ns, oc, false, &seq, &queued)) != O_OK)
		return e;
	if (ns->opts.sync_hook != NULL)
		ns->opts.sync_hook(ns->opts.sync_hook_arg, oc->kind);
	own_mark(oc->c, &om);
	e = oc_coll_sync_to(oc->c, seq);
	lock_ns(ns);
	oc->syncs--;
	own_commits(oc, &om);
	e = coll_synced(ns, oc, e, queued);
	if (e == O_OK && oc->kind == OFS_DIARY &&
	    (in = ino_get(ns, oc->ino)) != NULL && in->coll != oc)
		in = NULL;
	unlock_ns(ns);
	if (in != NULL)
		diary_index_catch_up(in, oc->c);
	return e;
}

/*
 * Commit g[0..n) (directories, distinct) as one transaction, their
 * dependencies first (oc_coll_sync_group).  *decided: the transaction
 * committed (in all, or in some with the others rolled forward or left
 * queued).
 */
static o_err
coll_sync_group(
    struct ofs_ns *ns, struct ofs_coll *const *g, size_t n, bool *decided)
{
	struct oc_collection **cs    = o_malloc(n * sizeof(*cs));
	struct own_mark       *marks = o_malloc(n * sizeof(*marks));
	uint64_t              *qs    = o_malloc(n * sizeof(*qs)), *seqs;
	char                   detail[512];
	size_t                 i, k;
	o_err                  e = O_OK, eg;

	seqs     = o_malloc(n * sizeof(*seqs));
	*decided = false;
	for (i = 0; i < n && e == O_OK; i++)
		e = coll_sync_deps(ns, g[i], true, &seqs[i], &qs[i]);
	if (e != O_OK) { /* g[0..i-1) counted in syncs: not committed */
		lock_ns(ns);
		for (k = 0; k + 1 < i; k++) {
			g[k]->syncs--;
			g[k]->dirty = true; /* the committer's again */
		}
		unlock_ns(ns);
		goto out;
	}
	if (ns->opts.sync_hook != NULL)
		ns->opts.sync_hook(ns->opts.sync_hook_arg, g[0]->kind);
	for (i = 0; i < n; i++) {
		cs[i] = g[i]->c;
		own_mark(g[i]->c, &marks[i]);
	}
	e = oc_coll_sync_group_to(cs, seqs, n, decided);
	snprintf(detail, sizeof(detail), "%s", o_err_detail());
	lock_ns(ns);
	eg = O_OK;
	for (i = 0; i < n; i++) {
		o_err ei;

		g[i]->syncs--;
		own_commits(g[i], &marks[i]);
		if (e != O_OK)
			o_err_set(e, "%s", detail);
		ei = coll_synced(ns, g[i],
		    e != O_OK && oc_coll_npending(g[i]->c) ? e : O_OK, qs[i]);
		if (eg == O_OK)
			eg = ei;
	}
	unlock_ns(ns);
	if (e != O_OK && eg != O_OK)
		e = eg;
out:
	free(cs);
	free(marks);
	free(qs);
	free(seqs);
	return e;
}

/* ---- other mounts' commits -----------------------------------------------
 *
 * A collection's seen_rev is the rev up to which other mounts' commits
 * have been taken into account: the records they may have changed marked
 * stale, a file's clean pieces dropped, and (ofs_ns_changed) reported.
 * A refresh that finds the held rev past it does that and moves it; a
 * sync moves it past our own commits (own_commits).  A rebase inside a
 * sync adopts other mounts' entries without either, so the next refresh
 * (or announcement) finds the held rev past seen_rev and catches up.
 */

/* ns_mtx held: forget what oc's commits after seen_rev may have changed. */
static void
coll_forget(struct ofs_ns *ns, struct ofs_coll *oc)
{
	struct ofs_inode *in = idmap_get(&ns->by_id, &oc->id), *ch;
	size_t            i;

	if (in == NULL)
		return;
	switch (oc->kind) {
	case OFS_DIR:
		in->nent = -1;
		for (i = 2; i < ns->ninodes; i++)
			if ((ch = ns->inodes[i]) != NULL &&
			    ch->parent == in->ino && ch != in)
				ch->stale = true;
		break;
	case OFS_FILE: /* its piece collection: read pieces again */
		if (in->inl && in->unlinked)
			break; /* piece 0 is all that holds its bytes */
		for (i = in->npc; i-- > 0;)
			if (!in->pc[i].dirty)
				piece_free(ns, in, i);
		break;
	default:
		break; /* a diary's read index follows the held rev */
	}
}

/* ns_mtx held: oc holds rev; forget what other mounts' commits since
 * seen_rev may have changed. */
static void
coll_seen(struct ofs_ns *ns, struct ofs_coll *oc, int64_t rev)
{
	if (rev > oc->seen_rev) {
		coll_forget(ns, oc);
		oc->seen_rev = rev;
	}
}

/*
 * Bring oc up to date (oc_coll_update; local staged work is replayed on
 * top) unless an update began less than max_age_ns ago (0: always).  No
 * lock held.  The caller pinned oc in the locked section that found it
 * (coll_pin); the pin is given back here.  *from / *to (may be NULL):
 * the revs between which other mounts' newly seen entries lie (equal:
 * none).
 */
static o_err
coll_refresh(struct ofs_ns *ns, struct ofs_coll *oc, uint64_t max_age_ns,
    int64_t *from, int64_t *to)
{
	uint64_t start = o_mono_ns();
	int64_t  rev, f;
	char     path[512];
	o_err    e;

	lock_ns(ns);
	f = oc->seen_rev;
	if (max_age_ns > 0 && oc->fresh_ns + max_age_ns > start) {
		oc->pins--;
		unlock_ns(ns);
		if (from != NULL)
			*from = f;
		if (to != NULL)
			*to = f;
		return O_OK;
	}
	unlock_ns(ns);
	if ((e = oc_coll_update(oc->c)) != O_OK) {
		const char *what;

		lock_ns(ns);
		what = kind_word(oc->kind); /* oc may go once unpinned */
		path_of(ns, oc->ino, path, sizeof(path));
		oc->pins--;
		unlock_ns(ns);
		return o_err_wrap(e, "refresh %s %s", what, path);
	}
	rev = oc_coll_rev(oc->c);
	lock_ns(ns);
	oc->pins--;
	if (start > oc->fresh_ns)
		oc->fresh_ns = start;
	f = oc->seen_rev;
	coll_seen(ns, oc, rev);
	if (from != NULL)
		*from = f;
	if (to != NULL)
		*to = oc->seen_rev;
	unlock_ns(ns);
	return O_OK;
}

/* Shared mode: the bound on the age of what lookup and getattr read. */
static uint64_t
fresh_bound_ns(const struct ofs_ns *ns)
{
	return (uint64_t) ns->opts.fresh_ms * 1000000ull;
}

/*
 * Shared mode, no lock held: bring up to date, unless that began less than
 * max_age_ns ago (0: always), the collection ino's attributes are read
 * from (a file's directory, a directory's or diary's own), or with entry,
 * for a directory or diary, the directory holding its entry, so that the
 * next inode_fresh sees another mount's removal (close-to-open on the
 * name, not only on the contents); with entry nothing for a file (its
 * attributes are its entry) or the root.
 */
static o_err
refresh_for(struct ofs_ns *ns, uint64_t ino, const char *op, bool entry,
    uint64_t max_age_ns)
{
	struct ofs_inode *in;
	struct ofs_coll  *oc = NULL;
	o_err             e;

	lock_ns(ns);
	if ((e = need_ino(ns, ino, op, &in)) == O_OK) {
		if (in->kind != OFS_FILE && !entry)
			e = inode_coll(ns, in, &oc);
		else if ((in->kind == OFS_FILE) != entry && !in->unlinked &&
		    in->ino != OFS_ROOT_INO)
			e = parent_coll(ns, in, &oc); /* else none holds it */
	}
	if (e == O_OK && oc != NULL)
		coll_pin(oc);
	unlock_ns(ns);
	if (e != O_OK || oc == NULL)
		return e;
	return coll_refresh(ns, oc, max_age_ns, NULL, NULL);
}

static o_err
shared_refresh(
    struct ofs_ns *ns, uint64_t ino, const char *op, uint64_t max_age_ns)
{
	return refresh_for(ns, ino, op, false, max_age_ns);
}

static o_err
parent_refresh(struct ofs_ns *ns, uint64_t ino, const char *op)
{
	return refresh_for(ns, ino, op, true, 0);
}

/* ---- entries in directories (ns_mtx held) --------------------------------
 */

/* Read and decode entry name of directory d.  raw (may be NULL) keeps the
 * encoded record; data (may be NULL) gets a file's bytes. */
static o_err
ent_read(struct ofs_ns *ns, struct ofs_inode *d, const char *name,
    struct ofs_meta *m, struct oc_val *data, struct o_buf *raw, bool *found)
{
	struct ofs_coll *dc;
	struct o_buf     own = { 0 }, *b = raw != NULL ? raw : &own;
	char             path[512];
	o_err            e;

	memset(m, 0, sizeof(*m));
	m->x = oc_null();
	if (data != NULL)
		*data = oc_null();
	*found = false;
	if ((e = inode_coll(ns, d, &dc)) != O_OK)
		return e;
	o_buf_reset(b);
	if ((e = oc_tree_get(dc->c, name, strlen(name), b, found)) != O_OK) {
		path_child(ns, d->ino, name, path, sizeof(path));
		e = o_err_wrap(e, "read entry %s", path);
	} else if (*found) {
		path_child(ns, d->ino, name, path, sizeof(path));
		e = rec_decode(b->data, b->len, m, data, path);
	}
	o_buf_fini(&own);
	return e;
}

/* Re-read in's own entry: *found false when it is gone or renamed over. */
static o_err
inode_read_rec(struct ofs_ns *ns, struct ofs_inode *in, struct ofs_meta *m,
    struct oc_val *data, bool *found)
{
	struct ofs_inode *p = ino_get(ns, in->parent);
	o_err             e;

	if (p == NULL || p->kind != OFS_DIR)
		return o_err_set(O_EINTERNAL,
		    "inode %" PRIu64 ": parent %" PRIu64 " is not a directory",
		    in->ino, in->parent);
	e = ent_read(ns, p, in->name, m, data, NULL, found);
	if (e == O_OK && *found && !oc_bid_eq(&m->id, &in->id)) {
		*found = false;
		meta_fini(m);
		if (data != NULL)
			oc_val_fini(data);
	}
	return e;
}

/* After a refresh: re-read the entry of a stale inode. */
static o_err
inode_fresh(struct ofs_ns *ns, struct ofs_inode *in)
{
	struct ofs_meta m;
	bool            found;
	o_err           e;

	if (!in->stale || in->unlinked || in->ino == OFS_ROOT_INO)
		return O_OK;
	if ((e = inode_read_rec(ns, in, &m, NULL, &found)) != O_OK)
		return e;
	if (found)
		inode_adopt(ns, in, &m, in->parent, in->name);
	else
		in->unlinked = in->gone = true; /* by another mount */
	in->stale = false;
	meta_fini(&m);
	return O_OK;
}

/* ---- regular file contents (ns_mtx held) ---------------------------------
 *
 * A file is a sequence of OFS_PIECE-byte pieces.  Where the bytes of a
 * piece that is not resident come from depends on in->inl: the record's
 * "d" (inline files, at most OFS_INLINE_FILE bytes when written by us), or
 * the file's piece collection (a Tree with the file's object id: key =
 * the piece index as 8 bytes big-endian, value = the piece's bytes, cut
 * short where only zeros follow; an absent key is a hole).  Invariants:
 * resident pieces hold zeros beyond the file size, and so do stored
 * pieces once the dirty resident copies are staged; a dirty piece is never
 * evicted.  A file turns into pieces when it is staged above
 * OFS_INLINE_FILE (piece 0 is then rewritten, since the piece collection
 * may hold an older one), and back inline when staged at or below it.
 */

static void
piece_key(uint64_t idx, uint8_t k[8])
{
	int i;

	for (i = 7; i >= 0; i--, idx >>= 8)
		k[i] = (uint8_t) idx;
}

/* The file's piece collection (create: it may not exist yet). */
static o_err
pcoll_get(struct ofs_ns *ns, struct ofs_inode *in, bool create,
    struct ofs_coll **out)
{
	bool  had;
	o_err e;

	if (in->pcoll == NULL) {
		/* open already: an evicted inode of this file had it, and the
		 * other mounts' rewrites it noticed were forgotten with it */
		had = idmap_get(&ns->colls, &in->id) != NULL;
		if ((e = coll_get(ns, &in->id, OFS_FILE, in->ino, create,
		         &in->pcoll)) != O_OK)
			return e;
		in->pcoll->ino = in->ino;
		if (had && ns->opts.shared)
			in->pstale = true;
	}
	in->pcoll->used_ns = o_mono_ns();
	*out = in->pcoll;
	return O_OK;
}

/*
 * A piece read found the file's held version older than the history the
 * store keeps (O_ESTALE; its piece collection is now up to date): forget
 * what was cached of that version, the clean pieces and (in->stale) the
 * size and times, so that the operation, run again after file_catch_up,
 * reads one version throughout.
 */
static void
file_stale(struct ofs_ns *ns, struct ofs_inode *in)
{
	size_t i;

	for (i = in->npc; i-- > 0;)
		if (!in->pc[i].dirty)
			piece_free(ns, in, i);
	in->stale = true;
}

/*
 * After file_stale (ns_mtx held, dropped meanwhile): bring the file's
 * directory up to date, so that inode_fresh reads the record of the
 * version its pieces now come from (a writer commits the pieces before
 * the record naming them).
 */
static o_err
file_catch_up(struct ofs_ns *ns, struct ofs_inode *in)
{
	struct ofs_coll *dc;
	o_err            e;

	if (in->unlinked)
		return O_OK;
	if ((e = parent_coll(ns, in, &dc)) != O_OK)
		return e;
	coll_pin(dc);
	unlock_ns(ns);
	e = coll_refresh(ns, dc, 0, NULL, NULL);
	lock_ns(ns);
	return e;
}

/* Read piece idx from its source into b (empty b: zeros). */
static o_err
piece_read(
    struct ofs_ns *ns, struct ofs_inode *in, uint64_t idx, struct o_buf *b)
{
	struct ofs_coll *pc;
	struct ofs_meta  m;
	struct oc_val    d;
	uint8_t          key[8];
	char             path[512];
	bool             found;
	o_err            e;

	if (in->inl) {
		if (in->unlinked)
			return O_OK; /* piece 0 is pinned; nothing else */
		if ((e = inode_read_rec(ns, in, &m, &d, &found)) != O_OK)
			return e;
		if (found && !in->dirty && in->dirty_bytes == 0 &&
		    (m.sz != in->sz || m.mt != in->mt || m.ct != in->ct ||
		        m.inl != in->inl)) {
			/* the directory moved on under us (it caught up
			 * over pruned history): not the version in->sz is
			 * of */
			meta_fini(&m);
			oc_val_fini(&d);
			file_stale(ns, in);
			path_of(ns, in->ino, path, sizeof(path));
			return o_err_set(O_ESTALE,
			    "read %s: the entry changed since it was read",
			    path);
		}
		meta_fini(&m);
		if (!found) {
			in->unlinked = in->gone = true;
			path_of(ns, in->ino, path, sizeof(path));
			return o_err_set(O_ENOTFOUND,
			    "read %s: the entry is gone (removed by another "
			    "mount?)",
			    path);
		}
		if (d.type == OC_BYTES && d.u.s.n > idx * OFS_PIECE)
			o_buf_append(b, d.u.s.p + idx * OFS_PIECE,
			    (size_t) O_MIN((uint64_t) OFS_PIECE,
			        d.u.s.n - idx * OFS_PIECE));
		oc_val_fini(&d);
		return O_OK;
	}
	if ((e = pcoll_get(ns, in, false, &pc)) != O_OK)
		return e;
	if (in->pstale) { /* another mount rewrote the file: its pieces */
		if ((e = oc_coll_update(pc->c)) != O_OK) {
			path_of(ns, in->ino, path, sizeof(path));
			return o_err_wrap(e, "refresh %s", path);
		}
		in->pstale = false;
	}
	piece_key(idx, key);
	/* at the held rev only: the other pieces and the size this inode
	 * keeps are of that rev's version of the file */
	if ((e = oc_tree_get_held(pc->c, key, sizeof(key), b, &found)) !=
	    O_OK) {
		if (e == O_ESTALE)
			file_stale(ns, in);
		path_of(ns, in->ino, path, sizeof(path));
		return o_err_wrap(
		    e, "read %s at %" PRIu64, path, idx * OFS_PIECE);
	}
	if (b->len > OFS_PIECE) {
		path_of(ns, in->ino, path, sizeof(path));
		return o_err_set(O_ECORRUPT,
		    "read %s: piece %" PRIu64 " holds %zu bytes (at most %u)",
		    path, idx, b->len, OFS_PIECE);
	}
	return O_OK;
}

/*
 * The resident piece idx, read from its source if needed.  The pointer is
 * valid until the next call that adds or drops pieces.  keep_empty false:
 * a piece that reads as all zeros (a hole) is not kept, and *out is NULL.
 */
static o_err
piece_load(struct ofs_ns *ns, struct ofs_inode *in, uint64_t idx,
    bool keep_empty, struct ofs_piece **out)
{
	struct ofs_piece *p;
	struct o_buf      b     = { 0 };
	uint64_t          start = idx * OFS_PIECE;
	o_err             e;

	if ((*out = piece_find(in, idx)) != NULL) {
		(*out)->used = o_mono_ns();
		return O_OK;
	}
	pieces_evict(ns, OFS_PIECE);
	if (start < in->sz && (e = piece_read(ns, in, idx, &b)) != O_OK) {
		o_buf_fini(&b);
		return e;
	}
	if (b.len > in->sz - O_MIN(start, in->sz))
		b.len = (size_t) (in->sz - O_MIN(start, in->sz));
	if (b.len == 0 && !keep_empty) {
		o_buf_fini(&b);
		return O_OK;
	}
	p    = piece_add(ns, in, idx);
	p->b = b;
	piece_grew(ns, p, 0);
	*out = p;
	return O_OK;
}

/* Stage the dirty pieces into the piece collection (turning an inline
 * file into pieces). */
static o_err
pieces_stage(struct ofs_ns *ns, struct ofs_inode *in)
{
	struct ofs_coll  *pc;
	struct ofs_piece *p;
	uint8_t           key[8];
	char              path[512];
	size_t            i;
	o_err             e;

	if (in->inl) {
		if ((e = piece_load(ns, in, 0, true, &p)) != O_OK)
			return e;
		piece_dirty(in, p);
	}
	if (in->dirty_bytes == 0)
		return O_OK;
	if ((e = pcoll_get(ns, in, true, &pc)) != O_OK)
		return e;
	for (i = 0; i < in->npc; i++) {
		p = &in->pc[i];
		if (!p->dirty)
			continue;
		piece_key(p->idx, key);
		if ((e = oc_tree_put(pc->c, key, sizeof(key), p->b.data,
		         p->b.len)) != O_OK) {
			path_of(ns, in->ino, path, sizeof(path));
			return o_err_wrap(e, "store %s at %" PRIu64, path,
			    p->idx * OFS_PIECE);
		}
		p->dirty = false;
		in->dirty_bytes -= OFS_PIECE;
		pc->dirty = true;
	}
	in->inl = false;
	return O_OK;
}

/* Stage deletes of the stored pieces from idx on (truncation). */
struct pdel {
	uint8_t (*keys)[8];
	size_t n, cap;
};

static int
pdel_collect(
    void *arg, const uint8_t *k, size_t kl, const uint8_t *v, size_t vl)
{
	struct pdel *d = arg;

	(void) v;
	(void) vl;
	if (kl != 8)
		return 0;
	if (d->n == d->cap) {
		d->cap  = d->cap ? d->cap * 2 : 64;
		d->keys = o_realloc(d->keys, d->cap * sizeof(*d->keys));
	}
	memcpy(d->keys[d->n++], k, 8);
	return 0;
}

static o_err
pieces_trim(struct ofs_ns *ns, struct ofs_inode *in, uint64_t idx)
{
	struct ofs_coll   *pc;
	struct oc_tree_kv *kv;
	struct pdel        d = { 0 };
	uint8_t            key[8];
	size_t             i;
	o_err              e;

	if ((e = pcoll_get(ns, in, false, &pc)) != O_OK)
		return e;
	piece_key(idx, key);
	/* at the held rev: the pieces kept are of that version */
	e = oc_tree_scan_held(
	    pc->c, key, sizeof(key), true, true, pdel_collect, &d);
	if (e == O_ESTALE)
		file_stale(ns, in);
	if (e == O_OK && d.n > 0) {
		kv = o_calloc(d.n, sizeof(*kv));
		for (i = 0; i < d.n; i++) {
			kv[i].key  = d.keys[i];
			kv[i].klen = 8;
			kv[i].del  = true;
		}
		if ((e = oc_tree_replace(pc->c, kv, d.n)) == O_OK)
			pc->dirty = true;
		free(kv);
	}
	free(d.keys);
	return e;
}

static void
pieces_unpin(struct ofs_inode *in)
{
	size_t i;

	for (i = 0; i < in->npc; i++)
		in->pc[i].pin = false;
}

/* Set the size of a file to size (zeros when it grows). */
static o_err
file_resize(struct ofs_ns *ns, struct ofs_inode *in, uint64_t size)
{
	struct ofs_piece *p;
	uint64_t          keep = (size + OFS_PIECE - 1) / OFS_PIECE;
	size_t            i;
	o_err             e;

	if (size < in->sz) {
		/* the piece cut in two and the stored pieces first: a
		 * failure (O_ESTALE among them) changes nothing */
		p = NULL;
		if (size % OFS_PIECE != 0) {
			if ((e = piece_load(
			         ns, in, size / OFS_PIECE, false, &p)) != O_OK)
				return e;
			if (p != NULL)
				p->pin = true;
		}
		if (!in->inl && (e = pieces_trim(ns, in, keep)) != O_OK) {
			pieces_unpin(in);
			return e;
		}
		pieces_unpin(in);
		for (i = in->npc; i-- > 0;)
			if (in->pc[i].idx >= keep)
				piece_free(ns, in, i);
		p = size % OFS_PIECE != 0 ? piece_find(in, size / OFS_PIECE)
		                          : NULL;
		if (p != NULL && p->b.len > size % OFS_PIECE) {
			p->b.len = size % OFS_PIECE;
			piece_dirty(in, p);
		}
	}
	in->sz = size;
	return O_OK;
}

/*
 * Write len > 0 bytes at off (resident pieces; staged later).  The partial
 * first and last pieces are read before anything changes, and pinned
 * against eviction until the write is done: a read that meets pruned
 * history (O_ESTALE) leaves the file as it was, so the write can run again
 * on the newest version.
 */
static o_err
file_write(struct ofs_ns *ns, struct ofs_inode *in, uint64_t off,
    const uint8_t *buf, size_t len)
{
	struct ofs_piece *p;
	uint64_t          ends[2] = { off / OFS_PIECE,
                 (off + len - 1) / OFS_PIECE };
	int               k;
	o_err             e;

	for (k = 0; k < 2; k++) {
		uint64_t ps = ends[k] * OFS_PIECE;

		if ((k == 1 && ends[1] == ends[0]) ||
		    (off <= ps && off + len >= ps + OFS_PIECE))
			continue; /* the same piece, or overwritten whole */
		if ((e = piece_load(ns, in, ends[k], true, &p)) != O_OK) {
			pieces_unpin(in);
			return e;
		}
		p->pin = true;
	}
	while (len > 0) {
		uint64_t idx = off / OFS_PIECE;
		size_t   po  = (size_t) (off % OFS_PIECE);
		size_t   n   = O_MIN(len, OFS_PIECE - po);
		size_t   old;

		if (po == 0 && n == OFS_PIECE && piece_find(in, idx) == NULL) {
			pieces_evict(ns, OFS_PIECE);
			p = piece_add(ns, in, idx); /* overwritten whole */
		} else if ((e = piece_load(ns, in, idx, true, &p)) != O_OK) {
			pieces_unpin(in); /* else the ends stay resident */
			return e;
		}
		old = p->b.cap;
		if (p->b.len < po + n) {
			o_buf_reserve(&p->b, po + n - p->b.len);
			memset(p->b.data + p->b.len, 0, po + n - p->b.len);
			p->b.len = po + n;
		}
		memcpy(p->b.data + po, buf, n);
		piece_grew(ns, p, old);
		piece_dirty(in, p);
		if (off + n > in->sz)
			in->sz = off + n;
		off += n;
		buf += n;
		len -= n;
	}
	pieces_unpin(in);
	return O_OK;
}

/* Read up to len bytes at off. */
static o_err
file_read(struct ofs_ns *ns, struct ofs_inode *in, uint64_t off, uint8_t *buf,
    size_t len, size_t *got)
{
	struct ofs_piece *p;
	o_err             e;

	*got = 0;
	if (off >= in->sz)
		return O_OK;
	len = (size_t) O_MIN((uint64_t) len, in->sz - off);
	while (len > 0) {
		size_t po = (size_t) (off % OFS_PIECE);
		size_t n  = O_MIN(len, OFS_PIECE - po);
		size_t have;

		if ((e = piece_load(ns, in, off / OFS_PIECE, false, &p)) !=
		    O_OK)
			return e;
		have =
		    p != NULL && p->b.len > po ? O_MIN(n, p->b.len - po) : 0;
		if (have > 0)
			memcpy(buf, p->b.data + po, have);
		memset(buf + have, 0, n - have);
		off += n;
		buf += n;
		len -= n;
		*got += n;
	}
	return O_OK;
}

/*
 * The record of a file as it stands: inline when small (*inl; nothing is
 * marked clean until file_stored), else the dirty pieces are staged in the
 * piece collection first.
 */
static o_err
file_record(
    struct ofs_ns *ns, struct ofs_inode *in, struct o_buf *raw, bool *inl)
{
	struct ofs_piece *p;
	struct ofs_meta   m;
	struct o_buf      d = { 0 };
	o_err             e;

	*inl = in->sz <= OFS_INLINE_FILE;
	if (*inl) {
		if (in->sz > 0) {
			if ((e = piece_load(ns, in, 0, true, &p)) != O_OK)
				return e;
			o_buf_reserve(&d, (size_t) in->sz);
			if (p->b.len > 0)
				memcpy(d.data, p->b.data, p->b.len);
			memset(
			    d.data + p->b.len, 0, (size_t) in->sz - p->b.len);
			d.len = (size_t) in->sz;
		}
		m = inode_meta(in);
		rec_encode(&m, &d, raw);
		o_buf_fini(&d);
		return O_OK;
	}
	if ((e = pieces_stage(ns, in)) != O_OK)
		return e;
	m = inode_meta(in);
	rec_encode(&m, NULL, raw);
	return O_OK;
}

/*
 * A record from file_record is staged in directory dc: an inline one now
 * holds the bytes (pieces clean); a piece record needs the pieces
 * committed before dc.
 */
static void
file_stored(struct ofs_inode *in, struct ofs_coll *dc, bool inl)
{
	size_t i;

	if (inl) {
		for (i = 0; i < in->npc; i++)
			in->pc[i].dirty = false;
		in->dirty_bytes = 0;
		in->inl         = true;
	} else if (in->pcoll != NULL) {
		coll_dep_add(dc, in->pcoll);
	}
}

/* ns_mtx held, before a record naming a file's pieces is staged in dc:
 * a commit of dc under way (coll_sync_deps) must not take it with its
 * own, before the pieces. */
static void
seal_for_pieces(struct ofs_coll *dc)
{
	if (dc->syncs > 0)
		oc_coll_seal(dc->c);
}

/*
 * Stage the put of entry name = raw, the record of object id, in
 * directory tree c.  excl: a creation (core/tree.h "new").  In a shared
 * namespace the put names its object ("o"), so that other mounts' queued
 * changes conditional on that name see where the object went; and with
 * cond it is a write-back of the record: kept only while the name still
 * names id in what other mounts commit meanwhile, and moved along when
 * one of them renamed it within the directory ("if", "fw").  Without
 * cond, a write-back raced by another mount's rm or rename would put the
 * name back.
 */
static o_err
ent_put(struct ofs_ns *ns, struct oc_collection *c, const char *name,
    const struct o_buf *raw, const struct oc_bid *id, bool excl, bool cond)
{
	bool              sh = ns->opts.shared;
	struct oc_tree_kv kv = { .key = name,
		.klen                 = strlen(name),
		.val                  = raw->data,
		.vlen                 = raw->len,
		.excl                 = excl,
		.obj                  = sh ? id : NULL,
		.cond                 = sh && cond ? id : NULL,
		.follow               = sh && cond };

	return oc_tree_replace(c, &kv, 1);
}

struct refind {
	const struct oc_bid *id;
	char                *name; /* found: its entry's name */
	struct ofs_meta      m;
	const char          *dir; /* path, for messages */
	o_err                err;
};

static int
refind_cb(void *arg, const uint8_t *k, size_t kl, const uint8_t *v, size_t vl)
{
	struct refind  *r = arg;
	struct ofs_meta m;
	char            where[600];

	if (retired_key(k, kl))
		return 0;
	snprintf(where, sizeof(where), "%s/%.*s", r->dir, (int) kl, k);
	memset(&m, 0, sizeof(m));
	if ((r->err = rec_decode(v, vl, &m, NULL, where)) != O_OK)
		return 1;
	if (!oc_bid_eq(&m.id, r->id)) {
		meta_fini(&m);
		return 0;
	}
	r->m    = m;
	r->name = o_malloc(kl + 1);
	memcpy(r->name, k, kl);
	r->name[kl] = '\0';
	return 1;
}

/*
 * Shared namespace, ns_mtx held: in, found gone from its name by
 * inode_fresh, is looked for under another name of its directory (a scan
 * of the directory; only for a write-back, which would otherwise lose its
 * bytes); found, it takes that name again.  The scan costs the
 * directory's size, once per such write-back.
 */
static o_err
ent_refind(struct ofs_ns *ns, struct ofs_inode *in)
{
	struct ofs_inode *d = ino_get(ns, in->parent);
	struct ofs_coll  *dc;
	struct refind     r = { .id = &in->id };
	char              path[512];
	o_err             e;

	if (d == NULL || d->unlinked || (e = inode_coll(ns, d, &dc)) != O_OK)
		return O_OK; /* no directory to look in: it is gone */
	path_of(ns, d->ino, path, sizeof(path));
	r.dir = strcmp(path, "/") == 0 ? "" : path;
	e     = oc_tree_scan(dc->c, NULL, 0, true, true, refind_cb, &r);
	if (e == O_OK)
		e = r.err;
	if (e == O_OK && r.name != NULL)
		inode_adopt(ns, in, &r.m, d->ino, r.name);
	if (r.name != NULL)
		meta_fini(&r.m);
	free(r.name);
	return e;
}

/*
 * ns_mtx held, before in's record is changed and staged (ent_stage):
 * shared, the entries of other mounts a rebase inside a sync took in
 * are caught up first (a staged put's condition covers only what they
 * commit after it), so that a name another mount removed or renamed is
 * not put back; and another mount's change to the record (mode, owner,
 * xattrs) is read in, so that the caller's change applies on top of it
 * (called after the change, the read would undo it).
 */
static o_err
ent_catch_up(struct ofs_ns *ns, struct ofs_inode *in)
{
	struct ofs_coll *dc;

	if (in->ino == OFS_ROOT_INO || in->unlinked)
		return O_OK;
	if (ns->opts.shared && parent_coll(ns, in, &dc) == O_OK)
		coll_seen(ns, dc, oc_coll_rev(dc->c));
	return inode_fresh(ns, in);
}

static o_err
ent_stage(struct ofs_ns *ns, struct ofs_inode *in)
{
	struct ofs_coll *dc;
	struct ofs_meta  m;
	struct o_buf     raw = { 0 };
	char             path[512];
	bool             inl = false;
	o_err            e;

	if (in->ino == OFS_ROOT_INO || in->unlinked) {
		in->dirty = false;
		return O_OK;
	}
	if ((e = ent_catch_up(ns, in)) != O_OK)
		return e;
	/* shared: its name gone, the object may have been renamed within
	 * the directory by another mount: the bytes go under its new name */
	if (in->unlinked && ns->opts.shared && in->gone &&
	    (e = ent_refind(ns, in)) != O_OK)
		return e;
	if (in->unlinked) { /* removed by another mount meanwhile */
		in->dirty = false;
		return O_OK;
	}
	if ((e = parent_coll(ns, in, &dc)) != O_OK)
		return e;
	if (in->kind == OFS_FILE) {
		e = file_record(ns, in, &raw, &inl);
	} else {
		m = inode_meta(in);
		rec_encode(&m, NULL, &raw);
	}
	if (e == O_OK && in->kind == OFS_FILE && !inl)
		seal_for_pieces(dc);
	if (e == O_OK)
		e = ent_put(ns, dc->c, in->name, &raw, &in->id, false, true);
	if (e != O_OK) {
		path_of(ns, in->ino, path, sizeof(path));
		e = o_err_wrap(e, "store entry %s", path);
	} else {
		if (in->kind == OFS_FILE)
			file_stored(in, dc, inl);
		in->dirty = false;
		dc->dirty = true;
	}
	o_buf_fini(&raw);
	return e;
}

/* ---- attributes ----------------------------------------------------------
 */

/* Everything but a diary's size (attr_finish); ns_mtx held. */
static o_err
fill_attr(
    struct ofs_ns *ns, struct ofs_inode *in, bool count, struct ofs_attr *a)
{
	struct ofs_coll *oc;
	uint64_t         n;
	o_err            e;

	memset(a, 0, sizeof(*a));
	a->ino      = in->ino;
	a->sino     = in->ino == OFS_ROOT_INO ? OFS_ROOT_INO : ofs_stable_ino(&in->id);
	a->gen      = in->gen;
	a->kind     = in->kind;
	a->mode     = in->mode;
	a->owner    = in->owner;
	a->mtime_ns = in->mt;
	a->ctime_ns = in->ct;
	a->nlink    = in->unlinked ? 0 : 1;
	if (in->ino == OFS_ROOT_INO) {
		a->mode     = ns->root_mode;
		a->owner    = ns->root_owner;
		a->mtime_ns = ns->root_mt;
		a->ctime_ns = ns->root_ct;
	}
	switch (in->kind) {
	case OFS_DIR:
		a->nlink = in->unlinked ? 0 : 2;
		if (in->nent < 0 && count) {
			if ((e = inode_coll(ns, in, &oc)) != O_OK ||
			    (e = dir_count(oc->c, &n)) != O_OK)
				return e;
			in->nent = (int64_t) n;
		}
		a->size = in->nent > 0 ? (uint64_t) in->nent : 0;
		break;
	case OFS_FILE:
		a->size = in->sz;
		break;
	default:
		/* size filled by attr_finish; open the diary now */
		return inode_coll(ns, in, &oc);
	}
	return O_OK;
}

/* ---- diaries -------------------------------------------------------------
 */

static uint64_t
act_size(const struct oc_val *a)
{
	const struct oc_val *d = oc_map_bytes(a, "d"), *c;

	if (d != NULL)
		return d->u.s.n;
	c = oc_map_get(a, "c");
	return c != NULL ? (uint64_t) oc_map_int(c, "len", 0) : 0;
}

/* Copy the part of an append of n bytes starting at offset cur that lies
 * inside [off, off+len) to buf + (that offset - off).  data NULL: the
 * bytes are behind chunk reference ref. */
static o_err
span_copy(struct oc_bstore *s, const uint8_t *data, const struct oc_val *ref,
    uint64_t n, uint64_t cur, uint64_t off, size_t len, uint8_t *buf,
    struct o_buf *tmp)
{
	uint64_t lo = O_MAX(cur, off);
	uint64_t hi = O_MIN(cur + n, off + len);
	o_err    e;

	if (lo >= hi)
		return O_OK;
	if (data == NULL) {
		o_buf_reset(tmp);
		if ((e = oc_chunks_read(s, ref, tmp)) != O_OK)
			return e;
		if (tmp->len < n)
			return o_err_set(O_ECORRUPT,
			    "diary append: chunks hold %zu of %" PRIu64
			    " bytes",
			    tmp->len, n);
		data = tmp->data;
	}
	memcpy(buf + (lo - off), data + (lo - cur), (size_t) (hi - lo));
	return O_OK;
}

/* span_copy of queued append a. */
static o_err
act_copy(struct oc_bstore *s, const struct oc_val *a, uint64_t cur,
    uint64_t off, size_t len, uint8_t *buf, struct o_buf *tmp)
{
	const struct oc_val *d = oc_map_bytes(a, "d");

	return span_copy(s, d ? d->u.s.p : NULL, d ? NULL : oc_map_get(a, "c"),
	    act_size(a), cur, off, len, buf, tmp);
}

static void
dindex_mark(struct ofs_dindex *x, uint64_t off, const struct oc_chain_path *p)
{
	size_t i, j;

	if (x->n >= OFS_DMARK_MAX) {
		for (i = j = 0; i < x->n; i += 2)
			x->m[j++] = x->m[i];
		x->n = j;
		x->stride *= 2;
	}
	if (x->n == x->cap) {
		x->cap = x->cap ? x->cap * 2 : 4;
		x->m   = o_realloc(x->m, x->cap * sizeof(*x->m));
	}
	x->m[x->n].off = off;
	x->m[x->n].pos = *p;
	x->n++;
}

/* Count the log's entries up to rev upto into the index (their appends are
 * measured in place, see oc_diary_walk). */
static o_err
dindex_extend(struct oc_bstore *s, const struct oc_bid *col,
    struct ofs_dindex *x, int64_t upto)
{
	struct oc_log        log;
	struct oc_chain_iter it;
	struct oc_chain_path pos;
	const struct oc_val *ent;
	bool                 done;
	o_err                e;

	if (!x->hint_tried && (e = dindex_load(s, col, x, upto)) != O_OK)
		return e;
	if (x->end_rev >= upto)
		return O_OK;
	if ((e = oc_log_open(&log, s, col)) != O_OK)
		return e;
	/* borrowed: the tail block, of which only the entries past the end
	 * are counted, is not copied whole after every commit (nothing else
	 * calls the store until the iterator is done; the caller holds the
	 * collection's latch) */
	if ((e = oc_chain_iter_init_borrowed(
	         &it, &log.ch, x->has_end ? &x->end : NULL, true)) != O_OK)
		return e;
	for (;;) {
		uint64_t size, napp;
		int64_t  rev;
		bool     newblk;

		if ((e = oc_chain_iter_next(&it, &ent, &pos, &done)) != O_OK ||
		    done)
			break;
		rev = oc_log_entry_rev(ent);
		if (rev <= x->end_rev)
			continue;
		if (rev > upto)
			break;
		if ((e = oc_diary_entry_size(ent, &size, &napp)) != O_OK)
			break;
		newblk = !x->has_end || !oc_bid_eq(&pos.blk, &x->end.blk);
		if (newblk)
			x->since++;
		if (x->n == 0 || (newblk && x->since >= x->stride)) {
			dindex_mark(x, x->end_off, &pos);
			x->since = 0;
		}
		x->end     = pos;
		x->has_end = true;
		x->end_rev = rev;
		x->end_off += size;
		x->nent += napp;
		x->walked++;
		memset(&x->end_aid, 0, sizeof(x->end_aid));
		(void) oc_log_entry_aid(ent, &x->end_aid);
		__atomic_store_n(
		    &x->end_ms, oc_map_int(ent, "ts", 0), __ATOMIC_RELAXED);
	}
	oc_chain_iter_fini(&it);
	/* much counted since last kept: worth keeping now, not only at
	 * unmount (a mount that runs for weeks, then is killed) */
	if (e == O_OK && x->walked - x->saved_walked >= DHINT_SAVE_WALK)
		dindex_save(col, x);
	return e;
}

/*
 * Copy committed bytes [off, off+len) (all below x->end_off).  Starts from
 * the nearest known entry at or before off (the last mark, or the cursor
 * the previous read left) and walks the log block by block, copying the
 * part of each append inside the range straight from the block's bytes.
 * Leaves the cursor at the entry holding off + len, so a sequential reader
 * never walks an entry twice.
 */
static o_err
dindex_read(struct oc_bstore *s, const struct oc_bid *col,
    struct ofs_dindex *x, int64_t upto, uint64_t off, size_t len, uint8_t *buf,
    struct o_buf *tmp, bool *behind)
{
	struct oc_log               log;
	struct oc_chain_iter        it;
	struct oc_chain_path        pos;
	const struct oc_chain_path *start;
	const struct oc_val        *ent;
	size_t                      lo = 0, hi = x->n;
	uint64_t                    cur;
	bool                        done;
	o_err                       e;

	if (x->n == 0)
		return o_err_set(O_EINTERNAL, "diary index has no marks");
	while (hi - lo > 1) {
		size_t mid = lo + (hi - lo) / 2;

		if (x->m[mid].off <= off)
			lo = mid;
		else
			hi = mid;
	}
	start = &x->m[lo].pos;
	cur   = x->m[lo].off;
	if (x->has_cur && x->cur_off <= off && x->cur_off >= cur) {
		start = &x->cur;
		cur   = x->cur_off;
	}
	if ((e = oc_log_open(&log, s, col)) != O_OK)
		return e;
	if ((e = oc_chain_iter_init(&it, &log.ch, start, true)) != O_OK)
		return e;
	while (cur < off + len) {
		struct oc_diary_walk w;
		struct oc_diary_item a;
		uint64_t             at = cur; /* where this entry starts */
		bool                 wdone = false;

		if ((e = oc_chain_iter_next(&it, &ent, &pos, &done)) != O_OK ||
		    done)
			break;
		if (oc_log_entry_rev(ent) > upto)
			break;
		if ((e = oc_diary_walk_init(&w, ent)) == O_OK)
			while (cur < off + len &&
			    (e = oc_diary_walk_next(&w, &a, &wdone)) == O_OK &&
			    !wdone) {
				if (cur + a.len > off &&
				    (e = span_copy(s, a.data, a.ref, a.len, cur,
				         off, len, buf, tmp)) != O_OK)
					break;
				cur += a.len;
			}
		oc_diary_walk_fini(&w);
		if (e != O_OK)
			break;
		if (cur >= off + len) {
			x->cur     = pos;
			x->cur_off = at;
			x->has_cur = true;
		}
	}
	oc_chain_iter_fini(&it);
	/* the caller counted these bytes committed: a log that ends before
	 * them disagrees with the index (never report unwritten bytes) */
	*behind = e == O_OK && cur < off + len;
	if (*behind)
		e = o_err_set(O_ECORRUPT,
		    "diary log ends at byte %" PRIu64 " of rev %" PRId64
		    ", before byte %" PRIu64 " its index counted",
		    cur, upto, off + len);
	return e;
}

struct dread {
	struct ofs_inode *in;
	uint64_t          off;
	size_t            len;
	uint8_t          *buf;
	struct ofs_ahead *ahead;  /* read ahead of where the read ends */
	uint64_t          total;  /* committed + queued */
	uint64_t          committed; /* the committed entries' bytes */
	uint64_t          nent;   /* committed appends */
	size_t            got;
	/* shared: the queued appends are not shown (nor counted in total):
	 * their place in commit order, among other mounts' appends, is not
	 * known before their commit, and what a reader (tail -f) took at an
	 * offset must not change under it */
	bool committed_only;
};

/*
 * Runs under the collection latch, so the held rev and the queue belong to
 * one instant, and a write's lines (queued in one call) are all there or
 * none.
 */
static o_err
dread_fn(struct oc_bstore *s, int64_t rev, const struct oc_val *pend,
    void *arg)
{
	struct dread      *r   = arg;
	struct ofs_dindex *x   = &r->in->idx;
	struct o_buf       tmp = { 0 };
	uint64_t           committed, cur, end;
	size_t             i;
	bool               behind = false, recounted = false;
	o_err              e;

again:
	/* the index only grows with the held rev */
	if (x->end_rev > rev)
		dindex_drop(&r->in->id, x, rev, false, "is past the rev held");
	if ((e = dindex_extend(s, &r->in->id, x, rev)) != O_OK)
		return e;
	committed    = x->end_off;
	r->committed = committed;
	r->nent      = x->nent;
	r->total  = committed;
	for (i = 0; i < pend->u.a.n && !r->committed_only; i++)
		r->total += act_size(&pend->u.a.v[i]);
	if (r->len == 0 || r->off >= r->total)
		return O_OK;
	end = O_MIN(r->off + r->len, r->total);
	if (r->off < committed) {
		e = dindex_read(s, &r->in->id, x, rev, r->off,
		    (size_t) (O_MIN(end, committed) - r->off), r->buf, &tmp,
		    &behind);
		if (behind && !recounted) {
			/* once: a count that disagrees again is reported */
			dindex_drop(&r->in->id, x, rev, true, o_err_detail());
			recounted = true;
			o_buf_fini(&tmp);
			goto again;
		}
		if (e != O_OK)
			goto out;
		if (x->has_cur)
			ofs_ahead_want(r->ahead, &x->cur.blk);
	}
	cur = committed;
	for (i = 0; i < pend->u.a.n && cur < end; i++) {
		e = act_copy(s, &pend->u.a.v[i], cur, r->off,
		    (size_t) (end - r->off), r->buf, &tmp);
		if (e != O_OK)
			goto out;
		cur += act_size(&pend->u.a.v[i]);
	}
	r->got = (size_t) (end - r->off);
out:
	o_buf_fini(&tmp);
	return e;
}

static o_err
dextend_fn(struct oc_bstore *s, int64_t rev, const struct oc_val *pend,
    void *arg)
{
	struct ofs_inode *in = arg;

	(void) pend;
	return dindex_extend(s, &in->id, &in->idx, rev);
}

/*
 * After a commit: count the entries just committed into the index while
 * their log blocks are in the collection's cache, so that a later lookup
 * or read does not load the whole log again to learn the size.  A failure
 * is left for the next read to meet and report.
 */
static void
diary_index_catch_up(struct ofs_inode *in, struct oc_collection *c)
{
	(void) oc_coll_read_queue(c, dextend_fn, in);
}

/*
 * Read (or with r->len == 0 only measure) a diary as of one instant:
 * committed entries up to the held rev and the queued appends, never half
 * a write.  O_ESTALE: a block was read at a held rev older than the
 * history the store keeps (another mount committed many times since this
 * mount last caught up); the collection has been brought up to date, so
 * read again (dread_fn starts over; the index only grows and stays valid).
 */
static o_err
diary_view(struct oc_collection *c, struct dread *r)
{
	o_err e;
	int   tries = 0;

	do {
		r->got = 0;
		e      = oc_coll_read_queue(c, dread_fn, r);
	} while (e == O_ESTALE && tries++ < OFS_STALE_TRIES);
	return e;
}

static o_err
diary_size(
    struct ofs_inode *in, struct oc_collection *c, bool shared, uint64_t *size)
{
	struct dread r;
	o_err        e;

	memset(&r, 0, sizeof(r));
	r.in             = in;
	r.committed_only = shared;
	e                = diary_view(c, &r);
	*size = r.total;
	return e;
}

static size_t
frag_index(const struct ofs_inode *in, uint64_t wid)
{
	size_t i;

	for (i = 0; i < in->nfrag; i++)
		if (in->frags[i].wid == wid)
			break;
	return i;
}

/* The fragment of writer wid (created when make). */
static struct o_buf *
frag_of(struct ofs_inode *in, uint64_t wid, bool make)
{
	size_t i = frag_index(in, wid);

	if (i < in->nfrag)
		return &in->frags[i].b;
	if (!make)
		return NULL;
	if (in->nfrag == in->fcap) {
		in->fcap = in->fcap ? in->fcap * 2 : 4;
		in->frags =
		    o_realloc(in->frags, in->fcap * sizeof(*in->frags));
	}
	memset(&in->frags[in->nfrag], 0, sizeof(in->frags[0]));
	in->frags[in->nfrag].wid = wid;
	return &in->frags[in->nfrag++].b;
}

/* Append writer wid's fragment as an entry (i_mtx held). */
static o_err
diary_emit_frag(struct ofs_inode *in, struct oc_collection *c, uint64_t wid)
{
	size_t        i = frag_index(in, wid);
	struct o_buf *f;
	o_err         e;

	if (i == in->nfrag)
		return O_OK;
	f = &in->frags[i].b;
	if (f->len > 0 &&
	    (e = oc_diary_append_lazy(c,
	         &(struct iovec) { .iov_base = f->data, .iov_len = f->len },
	         1)) != O_OK)
		return e;
	o_buf_fini(f);
	in->frags[i] = in->frags[--in->nfrag];
	return O_OK;
}

/* Append every writer's fragment (i_mtx held). */
static o_err
diary_emit_frags(struct ofs_inode *in, struct oc_collection *c)
{
	o_err e;

	while (in->nfrag > 0)
		if ((e = diary_emit_frag(in, c, in->frags[0].wid)) != O_OK)
			return e;
	return O_OK;
}

/* Append (p, n) to the lines of one write. */
static void
lines_push(struct iovec **v, size_t *nv, size_t *cap, const void *p, size_t n)
{
	if (*nv == *cap) {
		*cap = *cap ? 2 * *cap : 64;
		*v   = o_realloc(*v, *cap * sizeof(**v));
	}
	(*v)[*nv].iov_base = (void *) p;
	(*v)[*nv].iov_len  = n;
	(*nv)++;
}

/*
 * Append for writer wid: each complete line is an entry; the bytes after
 * the last newline wait in wid's own fragment, so writers never interleave
 * inside a line.  A write that is not an append must be at the end as this
 * writer sees it (entries + its fragment): with the queued appends, or,
 * shown (a shared mount's committed entries only, dread.committed_only),
 * without them (lseek to the end shows that size).  The lines of one write are
 * queued in one call (one journal record): all of them or, on error, none,
 * and the fragment is then as it was.  *nact counts the appends queued.
 */
static o_err
diary_write(struct ofs_inode *in, struct oc_collection *c, uint64_t wid,
    uint64_t off, const uint8_t *p, size_t len, bool append, bool shared,
    const char *path, size_t *nact)
{
	struct o_buf  *frag;
	struct iovec  *v = NULL;
	size_t         nv = 0, cap = 0, had;
	const uint8_t *tail = NULL, *nl;
	size_t         ntail = 0;
	bool           frag_used = false; /* the fragment is one of v */
	o_err          e         = O_OK;

	*nact = 0;
	pthread_mutex_lock(&in->i_mtx);
	frag = frag_of(in, wid, true);
	had  = frag->len;
	if (!append) {
		struct dread r;

		memset(&r, 0, sizeof(r));
		r.in = in;
		if ((e = diary_view(c, &r)) != O_OK)
			goto out;
		if (off != r.total + frag->len &&
		    !(shared && off == r.committed + frag->len)) {
			e = o_err_set(O_EPERM,
			    "write to diary %s at offset %" PRIu64
			    ": diaries are append-only (size %" PRIu64 ")",
			    path, off, r.total + frag->len);
			goto out;
		}
	}
	while (len > 0 && (nl = memchr(p, '\n', len)) != NULL) {
		size_t seg = (size_t) (nl - p) + 1;

		if (nv == 0 && had > 0) { /* completes the fragment */
			o_buf_append(frag, p, seg);
			lines_push(&v, &nv, &cap, frag->data, frag->len);
			frag_used = true;
		} else {
			lines_push(&v, &nv, &cap, p, seg);
		}
		p += seg;
		len -= seg;
	}
	/* the rest has no newline: it waits in the fragment until that
	 * reaches OFS_DIARY_FRAG_MAX */
	if (len > 0 && nv == 0) {
		o_buf_append(frag, p, len);
		if (frag->len >= OFS_DIARY_FRAG_MAX) {
			lines_push(&v, &nv, &cap, frag->data, frag->len);
			frag_used = true;
		}
	} else if (len > 0 && len >= OFS_DIARY_FRAG_MAX) {
		lines_push(&v, &nv, &cap, p, len);
	} else if (len > 0) {
		tail  = p;
		ntail = len;
	}
	if (nv > 0)
		e = oc_diary_append_lazy(c, v, nv);
	if (e != O_OK) {
		frag->len = had; /* nothing of this write is kept */
		if (e != O_EPERM)
			e = o_err_wrap(e, "append to diary %s", path);
		goto out;
	}
	*nact = nv;
	if (frag_used)
		o_buf_reset(frag);
	if (ntail > 0)
		o_buf_append(frag, tail, ntail);
out:
	free(v);
	if (frag->len == 0)
		(void) diary_emit_frag(in, c, wid); /* drops the empty slot */
	if (e == O_OK && (nv > 0 || ntail > 0 || frag->len > had))
		__atomic_store_n(&in->wrote_ns, now_ns(), __ATOMIC_RELAXED);
	pthread_mutex_unlock(&in->i_mtx);
	return e;
}

/* ---- committer -----------------------------------------------------------
 */

/* Append every diary's fragment (close). */
static o_err
flush_fragments(struct ofs_ns *ns)
{
	struct ofs_inode **v;
	size_t             n = 0, i;
	o_err              e, first = O_OK;

	lock_ns(ns);
	v = o_malloc((ns->ninodes + 1) * sizeof(*v));
	for (i = 1; i < ns->ninodes; i++)
		if (ns->inodes[i] != NULL &&
		    ns->inodes[i]->kind == OFS_DIARY &&
		    ns->inodes[i]->coll != NULL)
			v[n++] = ns->inodes[i];
	unlock_ns(ns);
	for (i = 0; i < n; i++) {
		pthread_mutex_lock(&v[i]->i_mtx);
		e = diary_emit_frags(v[i], v[i]->coll->c);
		pthread_mutex_unlock(&v[i]->i_mtx);
		if (e != O_OK && first == O_OK)
			first = e;
		lock_ns(ns);
		v[i]->coll->dirty = true;
		unlock_ns(ns);
	}
	free(v);
	return first;
}

/*
 * One round: stage file buffers idle for an interval (all of them when
 * final), then sync every dirty collection.  Returns the first error.
 */
static o_err
commit_round(struct ofs_ns *ns, bool final)
{
	struct ofs_coll **v;
	struct ofs_coll  *oc;
	uint64_t          now;
	uint64_t idle = (uint64_t) ns->opts.commit_interval_ms * 1000000;
	size_t   n    = 0, i, j;
	o_err    e, first = O_OK;
	char     path[512];

	if (final)
		first = flush_fragments(ns);
	lock_ns(ns);
	now = o_mono_ns(); /* under ns_mtx: no write is stamped later */
	for (i = j = 0; i < ns->ndirty; i++) {
		struct ofs_inode *in = ns->dirty[i];

		/* idle for an interval, or dirty for OFS_BUSY_ROUNDS of
		 * them (a file written without pause is staged too) */
		if (in->dirty && !in->unlinked &&
		    (final || now - in->last_write_ns >= idle ||
		        now - in->dirty_since_ns >= OFS_BUSY_ROUNDS * idle)) {
			if ((e = ent_stage(ns, in)) == O_OK) {
				in->stage_failing = false;
			} else {
				/* logged once per run of failures */
				if (!in->stage_failing) {
					path_of(
					    ns, in->ino, path, sizeof(path));
					o_log(O_LOG_WARN,
					    "staging %s failed, retried: %s",
					    path, o_err_detail());
				}
				in->stage_failing = true;
				ns->errors++;
				if (first == O_OK)
					first = e;
			}
		}
		if (in->dirty && !in->unlinked) {
			in->dirty_idx  = j;
			ns->dirty[j++] = in;
		} else {
			in->on_dirty = false;
		}
	}
	ns->ndirty = j;
	v          = o_malloc((ns->ncolls + 1) * sizeof(*v));
	/* file pieces first, so that a committed entry finds its pieces */
	for (j = 0; j < 2; j++)
		for (oc = ns->coll_list; oc != NULL; oc = oc->next)
			if ((oc->kind == OFS_FILE) == (j == 0) &&
			    (final || oc->pairing == 0) && /* not waited */
			    (oc->dirty ||
			        (final && oc_coll_npending(oc->c) > 0)))
				v[n++] = oc;
	unlock_ns(ns);
	for (i = 0; i < n; i++)
		if ((e = coll_sync(ns, v[i])) != O_OK && first == O_OK)
			first = e;
	free(v);
	return first;
}

/*
 * Closing idle collections (ns_mtx held; the committer, which alone also
 * runs commit_round and colls_trim, so their unlocked uses are not
 * concurrent with this).  A collection is closed once nothing needs it
 * open: no staged work (dirty, queued actions or bytes, deps, a failed
 * sync), no pin and no other collection's deps listing it, unused for
 * idle_ns, and its object's inode (if in the table) neither held by the
 * kernel nor pinned (busy) by our code.  The kernel's hold is what covers
 * a request handler's unlocked use of its directory's or diary's
 * collection: it sends no request about an inode it has forgotten, and a
 * cached child keeps its parent held.  A file's piece collection closes
 * only once the file's inode was freed, the root's never.  The next use
 * opens the collection again at the latest revision; what it knew of
 * other mounts' changes goes with it (a directory's entry count, and in
 * shared mode its children are marked stale, to be read again).
 */
static bool
coll_idle(
    struct ofs_ns *ns, struct ofs_coll *oc, uint64_t now, uint64_t idle_ns)
{
	struct ofs_inode *in;

	if (oc->pins > 0 || oc->deprefs > 0 || oc->dirty || oc->ndeps > 0 ||
	    oc->deps_busy || oc->pairing > 0 || oc->syncs > 0 ||
	    oc->err != O_OK || oc->failing || oc->queued_bytes > 0 ||
	    now - oc->used_ns < idle_ns)
		return false;
	if ((in = idmap_get(&ns->by_id, &oc->id)) != NULL) {
		if (in->kind == OFS_FILE || in->ino == OFS_ROOT_INO ||
		    in->nlookup > 0 || in->busy > 0)
			return false;
		if (in->kind == OFS_DIARY && diary_frags(in))
			return false;
	}
	return oc_coll_npending(oc->c) == 0;
}

static int
u64_cmp(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *) a, y = *(const uint64_t *) b;

	return x < y ? -1 : x > y;
}

/* Close every collection coll_idle allows; returns how many. */
static size_t
colls_close_idle(struct ofs_ns *ns, uint64_t idle_ns)
{
	struct ofs_coll **pp = &ns->coll_list, *oc;
	struct ofs_inode *in;
	uint64_t          now = o_mono_ns(), *dirs = NULL;
	size_t            ndir = 0, dcap = 0, i, closed = 0;

	while ((oc = *pp) != NULL) {
		if (!coll_idle(ns, oc, now, idle_ns)) {
			pp = &oc->next;
			continue;
		}
		*pp = oc->next;
		if ((in = idmap_get(&ns->by_id, &oc->id)) != NULL &&
		    in->coll == oc) {
			in->coll = NULL;
			/* shared: other mounts' changes are not followed
			 * while it is closed (one node: nothing changes it) */
			if (in->kind == OFS_DIR && ns->opts.shared) {
				in->nent = -1;
				if (ndir == dcap) {
					dcap = dcap ? 2 * dcap : 16;
					dirs = o_realloc(
					    dirs, dcap * sizeof(*dirs));
				}
				dirs[ndir++] = in->ino;
			}
		}
		idmap_del(&ns->colls, &oc->id);
		ns->ncolls--;
		ns->colls_closed++;
		closed++;
		oc_coll_free(oc->c);
		free(oc->deps);
		free(oc);
	}
	if (ndir == 0)
		return closed;
	/* their children: what other mounts change is no longer followed */
	qsort(dirs, ndir, sizeof(*dirs), u64_cmp);
	for (i = OFS_ROOT_INO + 1; i < ns->ninodes; i++)
		if ((in = ns->inodes[i]) != NULL &&
		    bsearch(&in->parent, dirs, ndir, sizeof(*dirs), u64_cmp) !=
		        NULL)
			in->stale = true;
	free(dirs);
	return closed;
}

struct trim_ent {
	struct ofs_coll *oc;
	size_t           bytes;
	uint64_t         used_ns;
};

static int
trim_cmp(const void *a, const void *b)
{
	const struct trim_ent *x = a, *y = b;

	return x->used_ns < y->used_ns ? -1 : x->used_ns > y->used_ns;
}

/*
 * Bound the caches of all open collections together (OFS_CACHES_MAX):
 * each collection's own bound would let memory grow with the number of
 * large files and diaries read.  Drops whole caches, least recently used
 * first; dropping is as safe as evicting every block (they are loaded
 * again when read).  Only the committer, which runs this, closes
 * collections (colls_close_idle), so the list taken under ns_mtx stays
 * valid after it.  Returns the caches dropped.
 */
static size_t
colls_trim(struct ofs_ns *ns, uint64_t budget)
{
	struct trim_ent *v;
	struct ofs_coll *oc;
	size_t           n = 0, i, dropped = 0;
	uint64_t         total = 0;

	lock_ns(ns);
	v = o_malloc((ns->ncolls + 1) * sizeof(*v));
	for (oc = ns->coll_list; oc != NULL; oc = oc->next) {
		size_t b = oc_coll_cache_bytes(oc->c);

		if (b == 0)
			continue;
		v[n].oc      = oc;
		v[n].bytes   = b;
		v[n].used_ns = oc->used_ns;
		total += b;
		n++;
	}
	unlock_ns(ns);
	if (total > budget) {
		qsort(v, n, sizeof(*v), trim_cmp);
		for (i = 0; i < n && total > budget; i++) {
			if (!oc_coll_cache_drop(v[i].oc->c))
				continue; /* in use: the next round */
			total -= v[i].bytes;
			dropped++;
		}
		lock_ns(ns);
		ns->caches_dropped += dropped;
		unlock_ns(ns);
	}
	free(v);
	return dropped;
}

/*
 * Each round: bring the commits acknowledged so far to disk (a lazily
 * synced store's log; nothing to do when none was written since the last
 * sync), so a change acknowledged only by close reaches the disk within
 * about one commit interval.  A failure is logged once per run.
 */
static void
committer_sync(struct ofs_ns *ns)
{
	if (oc_tx_sync(ns->tx) == O_OK) {
		if (ns->sync_failing)
			o_log(O_LOG_INFO,
			    "the store's log is synced to disk again");
		ns->sync_failing = false;
		return;
	}
	if (!ns->sync_failing)
		o_log(O_LOG_WARN,
		    "the store's log could not be synced to disk (tried "
		    "again every commit interval; fsync reports it): %s",
		    o_err_detail());
	ns->sync_failing = true;
}

static void *
committer_main(void *arg)
{
	struct ofs_ns *ns = arg;
	uint64_t interval = (uint64_t) ns->opts.commit_interval_ms * 1000000;
	uint64_t       round_ns = o_mono_ns();

	(void) pthread_setname_np(pthread_self(), "ofs-committer");
	lock_ns(ns);
	while (!ns->stop) {
		/* until the next round is due, and wake for the housekeeping
		 * below too when the interval is long */
		uint64_t        since   = o_mono_ns() - round_ns;
		int64_t         wait_ms = OFS_TRIM_EVERY_NS / 1000000;
		struct timespec ts;
		int             rc;

		if (since >= interval)
			wait_ms = 0;
		else if (interval - since < (uint64_t) wait_ms * 1000000)
			wait_ms =
			    (int64_t) ((interval - since + 999999) / 1000000);
		ts = o_abstime(CLOCK_MONOTONIC, wait_ms);
		rc = pthread_cond_timedwait(&ns->ns_cv, &ns->ns_mtx, &ts);

		if (ns->stop)
			break;
		unlock_ns(ns);
		if (rc == 0 || o_mono_ns() - round_ns >= interval) {
			commit_round(ns, false);
			committer_sync(ns);
			round_ns = o_mono_ns();
		}
		if (o_mono_ns() - ns->trim_ns >= OFS_TRIM_EVERY_NS) {
			colls_trim(ns, ns->opts.caches_max);
			ns->trim_ns = o_mono_ns();
		}
		if (o_mono_ns() - ns->sweep_ns >= OFS_SWEEP_EVERY_NS) {
			lock_ns(ns);
			inodes_sweep(ns, ns->idle_ns); /* files' pieces */
			if (colls_close_idle(ns, ns->idle_ns) > 0)
				inodes_sweep(ns, ns->idle_ns); /* owners */
			unlock_ns(ns);
			ns->sweep_ns = o_mono_ns();
		}
		if (o_mono_ns() - ns->mtrim_ns >= OFS_MALLOC_TRIM_EVERY_NS) {
			/* the caches and commits free large amounts; without
			 * this, glibc keeps the pages of free chunks (it
			 * holds each arena's lock meanwhile, hence seldom) */
			malloc_trim(0);
			ns->mtrim_ns = o_mono_ns();
		}
		lock_ns(ns);
	}
	unlock_ns(ns);
	return NULL;
}

/* ---- open / close --------------------------------------------------------
 */

static void
ns_free(struct ofs_ns *ns)
{
	struct ofs_coll *oc, *nx;
	size_t           i;

	for (i = 1; i < ns->ninodes; i++)
		if (ns->inodes[i] != NULL)
			inode_free(ns->inodes[i]);
	free(ns->inodes);
	free(ns->ifree);
	for (oc = ns->coll_list; oc != NULL; oc = nx) {
		nx = oc->next;
		oc_coll_free(oc->c);
		free(oc->deps);
		free(oc);
	}
	idmap_fini(&ns->by_id);
	idmap_fini(&ns->colls);
	free(ns->dirty);
	free(ns->pinodes);
	pthread_cond_destroy(&ns->ns_cv);
	pthread_cond_destroy(&ns->deps_cv);
	pthread_mutex_destroy(&ns->group_mtx);
	pthread_mutex_destroy(&ns->ns_mtx);
	free(ns);
}

o_err
ofs_ns_open(struct oc_transactor *tx, const struct ofs_ns_opts *opts,
    struct ofs_ns **out)
{
	struct ofs_ns        *ns = o_calloc(1, sizeof(*ns));
	struct oc_collection *c;
	struct ofs_meta       m;
	struct ofs_inode     *root;
	o_err                 e;

	*out   = NULL;
	ns->tx = tx;
	if (opts != NULL)
		ns->opts = *opts;
	if (ns->opts.commit_interval_ms <= 0)
		ns->opts.commit_interval_ms = 100;
	if (ns->opts.caches_max == 0)
		ns->opts.caches_max = OFS_CACHES_MAX;
	if (ns->opts.inode_idle_ms <= 0)
		ns->opts.inode_idle_ms = OFS_INODE_IDLE_MS;
	ns->idle_ns = (uint64_t) ns->opts.inode_idle_ms * 1000000;
	if (ns->opts.fresh_ms <= 0)
		ns->opts.fresh_ms = OFS_FRESH_MS;
	ns->sopts.journal = ns->opts.journal;
	if (ns->opts.shared) {
		/* other mounts write the same collections: losing a race
		 * to them is normal, and a write must not fail for it.
		 * Bound the retries by time instead of by count. */
		ns->sopts.max_attempts = 100000;
		ns->sopts.deadline_ms  = OFS_SHARED_SYNC_MS;
	}
	pthread_mutex_init(&ns->ns_mtx, NULL);
	o_cond_init_mono(&ns->ns_cv);
	pthread_cond_init(&ns->deps_cv, NULL);
	pthread_mutex_init(&ns->group_mtx, NULL);
	ns->open_ns   = now_ns();
	ns->root_mode = 0755;
	ns->root_mt   = ns->open_ns;
	ns->root_ct   = ns->open_ns;
	ns->ninodes   = 1;
	ns->icap      = 256;
	ns->inodes    = o_calloc(ns->icap, sizeof(*ns->inodes));

	memset(&m, 0, sizeof(m));
	m.kind = OFS_DIR;
	m.mode = 0755;
	m.x    = oc_null();
	o_sha256(ofs_root_seed, strlen(ofs_root_seed), m.id.b);
	if ((e = oc_tree_open(tx, &m.id, true, &ns->sopts, &c)) != O_OK) {
		e = o_err_wrap(e, "open root directory");
		goto out_free;
	}
	if (!oc_coll_exists(c) && (e = oc_coll_sync(c)) != O_OK) {
		oc_coll_free(c);
		e = o_err_wrap(e, "create root directory");
		goto out_free;
	}
	lock_ns(ns);
	root       = inode_new(ns, &m, OFS_ROOT_INO, NULL);
	root->coll = coll_add(ns, &m.id, OFS_DIR, root->ino, c);
	unlock_ns(ns);
	if (pthread_create(&ns->committer, NULL, committer_main, ns) != 0) {
		e = o_err_set(O_ENOMEM, "start the committer thread: %s",
		    strerror(errno));
		goto out_free;
	}
	ns->started = true;
	/* read-ahead warms the local store's cache; a cluster's reads do
	 * not go through it */
	if (!ns->opts.shared && ofs_ahead_start(tx, &ns->ahead) != O_OK)
		o_log(O_LOG_WARN, "diaries are read without read-ahead: %s",
		    o_err_detail());
	*out = ns;
	return O_OK;
out_free:
	ns_free(ns);
	return e;
}

/* Keep se as *e with its detail in why[1024] when it is the first error. */
static void
first_err(o_err *e, char *why, o_err se)
{
	if (se == O_OK || *e != O_OK)
		return;
	*e = se;
	snprintf(why, 1024, "%s", o_err_detail());
}

/* Unmount: write the journal's held records (the diaries' lazy appends);
 * a failure is logged. */
static o_err
close_keep(struct ofs_ns *ns)
{
	o_err e;

	if (ns->opts.journal == NULL ||
	    (e = oc_journal_flush(ns->opts.journal)) == O_OK)
		return O_OK;
	o_log(O_LOG_ERROR,
	    "unmount: queued work could not be kept in the journal: %s",
	    o_err_detail());
	return e;
}

o_err
ofs_ns_close(struct ofs_ns *ns)
{
	o_err e         = O_OK, se;
	char  why[1024] = ""; /* the detail of e, the first error */

	if (ns == NULL)
		return O_OK;
	if (ns->started) {
		lock_ns(ns);
		ns->stop = true;
		pthread_cond_signal(&ns->ns_cv);
		unlock_ns(ns);
		pthread_join(ns->committer, NULL);
	}
	ofs_ahead_stop(ns->ahead);
	/* the diaries' held appends, first: a final commit that never
	 * returns (a cluster out of reach) must not take them (a failure
	 * here is tried again below) */
	(void) close_keep(ns);
	first_err(&e, why, commit_round(ns, true));
	/* what could not commit waits for the next mount */
	first_err(&e, why, close_keep(ns));
	/* the last commits (and those only close acknowledged) on disk
	 * before the mount reports a clean end */
	if ((se = oc_tx_sync(ns->tx)) != O_OK) {
		(void) o_err_wrap(se,
		    "unmount: the store's log could not be synced to disk");
		o_log(O_LOG_ERROR, "%s", o_err_detail());
		first_err(&e, why, se);
	}
	ns_free(ns); /* may set a detail of its own (saving read indexes) */
	return e == O_OK ? O_OK : o_err_set(e, "%s", why);
}

/* ---- lookups and attributes ----------------------------------------------
 */

/* A diary's size, outside ns_mtx (in->coll is set by fill_attr, and
 * kept open by the caller's hold on in: the kernel's count or busy). */
static o_err
attr_finish(struct ofs_ns *ns, struct ofs_inode *in, struct ofs_attr *a)
{
	int64_t w;
	o_err   e;

	if (in->kind != OFS_DIARY)
		return O_OK;
	if (in->coll == NULL)
		return o_err_set(O_EINTERNAL,
		    "diary inode %" PRIu64 ": its collection was closed while "
		    "in use",
		    in->ino);
	/* before the size: a fragment emitted in between is then counted
	 * in the size or flagged, never neither */
	a->growing = diary_frags(in);
	if ((e = diary_size(in, in->coll->c, ns->opts.shared, &a->size)) !=
	    O_OK)
		return e;
	if ((w = diary_wrote(in)) > a->ctime_ns)
		a->mtime_ns = a->ctime_ns = w;
	return O_OK;
}

o_err
ofs_lookup(
    struct ofs_ns *ns, uint64_t dir, const char *name, struct ofs_attr *out)
{
	struct ofs_inode *d, *in = NULL;
	struct ofs_coll  *dco = NULL;
	struct ofs_meta   m;
	struct oc_val     data = oc_null();
	bool              found, fresh = false, reval = false;
	uint64_t          t0 = o_mono_ns(), bound = fresh_bound_ns(ns);
	char              path[512];
	o_err             e;

	if ((e = check_name("lookup", name)) != O_OK)
		return e;
	if (ns->opts.shared) {
		/* right after an open here found its entry replaced: the
		 * kernel's revalidation, read from the latest state (and the
		 * open that follows takes that read as its own) */
		lock_ns(ns);
		if ((d = ino_get(ns, dir)) != NULL && d->estale_ns != 0 &&
		    t0 - d->estale_ns < OFS_REVAL_MS * 1000000ull)
			fresh = reval = true;
		unlock_ns(ns);
		if ((e = shared_refresh(
		         ns, dir, "lookup", fresh ? 0 : bound)) != O_OK)
			return e;
	}
again:
	memset(&m, 0, sizeof(m));
	lock_ns(ns);
	if ((e = need_dir(ns, dir, "lookup", &d)) != O_OK ||
	    (e = ent_read(ns, d, name, &m, &data, NULL, &found)) != O_OK)
		goto out;
	if (!found && ns->opts.shared && !fresh) {
		/* a miss is answered from the latest state only: another
		 * mount's creation may be newer than the bound allows */
		unlock_ns(ns);
		meta_fini(&m);
		oc_val_fini(&data);
		if ((e = shared_refresh(ns, dir, "lookup", 0)) != O_OK)
			return e;
		fresh = true;
		goto again;
	}
	if (!found) {
		path_child(ns, dir, name, path, sizeof(path));
		e = o_err_set(O_ENOTFOUND, "lookup %s: no such entry", path);
		goto out;
	}
	if ((e = inode_for(ns, dir, name, &m, &in)) != O_OK)
		goto out;
	in->reval_ns = reval ? t0 : 0;
	/* the bytes were read anyway: keep small ones for the next read */
	if (in->kind == OFS_FILE && in->inl && in->npc == 0 &&
	    data.type == OC_BYTES && data.u.s.n > 0 &&
	    data.u.s.n <= OFS_INLINE_FILE && data.u.s.n == in->sz) {
		struct ofs_piece *p;

		pieces_evict(ns, data.u.s.n);
		p = piece_add(ns, in, 0);
		o_buf_append(&p->b, data.u.s.p, data.u.s.n);
		piece_grew(ns, p, 0);
	}
	/* the kernel's count, taken now: it keeps in alive below */
	if ((e = fill_attr(ns, in, true, out)) == O_OK) {
		in->nlookup++;
		/* a diary's size is its own collection's (fill_attr opened
		 * it) */
		if (ns->opts.shared && in->kind == OFS_DIARY)
			coll_pin(dco = in->coll);
	}
out:
	unlock_ns(ns);
	meta_fini(&m);
	oc_val_fini(&data);
	if (e != O_OK)
		return e;
	if (dco != NULL)
		e = coll_refresh(ns, dco, fresh_bound_ns(ns), NULL, NULL);
	if (e == O_OK)
		e = attr_finish(ns, in, out);
	if (e != O_OK) { /* no entry for the kernel after all */
		lock_ns(ns);
		inode_unref(ns, in, 1);
		unlock_ns(ns);
	}
	return e;
}

void
ofs_ns_ref(struct ofs_ns *ns, uint64_t ino)
{
	struct ofs_inode *in;

	lock_ns(ns);
	if ((in = ino_get(ns, ino)) != NULL)
		in->nlookup++;
	unlock_ns(ns);
}

uint64_t
ofs_ns_hold_sino(struct ofs_ns *ns, uint64_t sino)
{
	uint64_t ino = 0;
	size_t   i;

	lock_ns(ns);
	if (sino == OFS_ROOT_INO)
		ino = OFS_ROOT_INO;
	for (i = 0; i < ns->ninodes && ino == 0; i++)
		if (ns->inodes[i] != NULL && i != OFS_ROOT_INO &&
		    ofs_stable_ino(&ns->inodes[i]->id) == sino)
			ino = i;
	if (ino != 0)
		ns->inodes[ino]->nlookup++;
	unlock_ns(ns);
	return ino;
}

void
ofs_ns_forget(struct ofs_ns *ns, uint64_t ino, uint64_t n)
{
	struct ofs_inode *in;

	lock_ns(ns);
	if ((in = ino_get(ns, ino)) != NULL)
		inode_unref(ns, in, n);
	unlock_ns(ns);
}

/* getattr without a refresh; *unlinked (may be NULL): the entry is gone;
 * count: a directory whose number of entries is not known counts them
 * (else its size shows the last count, or 0). */
static o_err
getattr_(struct ofs_ns *ns, uint64_t ino, const char *op, struct ofs_attr *out,
    bool *unlinked, bool count)
{
	struct ofs_inode *in;
	o_err             e;

	lock_ns(ns);
	if ((e = need_ino(ns, ino, op, &in)) == O_OK &&
	    (e = inode_fresh(ns, in)) == O_OK)
		e = fill_attr(ns, in, count, out);
	if (e == O_OK && unlinked != NULL)
		*unlinked = in->unlinked;
	unlock_ns(ns);
	if (e == O_OK)
		e = attr_finish(ns, in, out);
	return e;
}

/*
 * Notes whether the root's attributes were just served without a refresh
 * (stale) or after one, logging the change: once when no majority answers
 * and once when one does again, not at every path walk.
 */
static void
root_stale_note(struct ofs_ns *ns, bool stale, o_err why)
{
	bool was = atomic_load(&ns->root_stale);

	if (stale)
		atomic_store(&ns->root_fail_ns, o_mono_ns());
	if (was == stale || atomic_exchange(&ns->root_stale, stale) == stale)
		return;
	if (stale)
		o_log(O_LOG_WARN,
		    "getattr /: no majority answers (%s: %s); serving this "
		    "mount's own root attributes unrefreshed, everything "
		    "else under the mount fails until one does",
		    o_strerror(why), o_err_detail());
	else
		o_log(O_LOG_INFO, "getattr /: the root is read again");
}

/* How long the root's attributes are served without asking again after
 * a refresh found no majority: a hung peer makes each try wait out the
 * timeout, and every path walk needs them (the kernel keeps them 1 s).
 * Then one thread at a time tries again (root_retrying); the others are
 * served the last attributes meanwhile. */
#define ROOT_RETRY_NS 1000000000ull

o_err
ofs_getattr(struct ofs_ns *ns, uint64_t ino, struct ofs_attr *out)
{
	bool  retrying = false;
	o_err e;

	if (!ns->opts.shared)
		return getattr_(ns, ino, "getattr", out, NULL, true);
	if (ino == OFS_ROOT_INO && atomic_load(&ns->root_stale)) {
		if (o_mono_ns() - atomic_load(&ns->root_fail_ns) <
		        ROOT_RETRY_NS ||
		    atomic_exchange(&ns->root_retrying, true))
			return getattr_(ns, ino, "getattr", out, NULL, false);
		retrying = true;
	}
	e = shared_refresh(ns, ino, "getattr", fresh_bound_ns(ns));
	/* Every path through the mount needs the root's attributes,
	 * .optimfs/status too, which says why the cluster does not answer:
	 * without a majority the root answers with what this mount holds
	 * (its mode and times are its own; its size, the number of
	 * entries, is the last count, not counted again). */
	if (ino == OFS_ROOT_INO) {
		bool stale = e == O_EUNAVAIL || e == O_ETIMEDOUT;

		if (stale || e == O_OK)
			root_stale_note(ns, stale, e);
		if (retrying) /* after the note: root_fail_ns is set */
			atomic_store(&ns->root_retrying, false);
		if (stale)
			return getattr_(ns, ino, "getattr", out, NULL, false);
	}
	if (e != O_OK)
		return e;
	return getattr_(ns, ino, "getattr", out, NULL, true);
}

o_err
ofs_open(struct ofs_ns *ns, uint64_t ino, struct ofs_attr *out)
{
	struct ofs_inode *in, *p;
	char              path[512];
	bool              gone = false, reval = false, file = false;
	uint64_t          now = o_mono_ns();
	o_err             e;

	if (!ns->opts.shared)
		return getattr_(ns, ino, "open", out, NULL, true);
	/* found by the kernel's revalidating lookup just now (after this
	 * open's first try found the name replaced): its entry is as fresh
	 * as this open, not read again (another mount replacing the file in
	 * a loop would fail the retry too) */
	lock_ns(ns);
	if ((e = need_ino(ns, ino, "open", &in)) == O_OK) {
		reval = in->reval_ns != 0 &&
		    now - in->reval_ns < fresh_bound_ns(ns);
		in->reval_ns = 0;
		file         = in->kind == OFS_FILE;
	}
	unlock_ns(ns);
	if (e != O_OK ||
	    /* a file's attributes are its entry */
	    (!(reval && file) &&
	        (e = shared_refresh(ns, ino, "open", 0)) != O_OK) ||
	    (!reval && (e = parent_refresh(ns, ino, "open")) != O_OK) ||
	    (e = getattr_(ns, ino, "open", out, NULL, true)) != O_OK)
		goto out;
	lock_ns(ns);
	if ((e = need_ino(ns, ino, "open", &in)) == O_OK)
		gone = in->unlinked && in->gone;
	unlock_ns(ns);
	/* another mount removed it (now or before: a getattr may have
	 * noticed first), and the kernel opens it by a name it still
	 * caches: answer as a lookup would.  Removed by this mount, the
	 * inode is only reached through open files (reopen) */
	if (e == O_OK && gone) {
		ofs_ns_path(ns, ino, path, sizeof(path));
		e = o_err_set(
		    O_ENOTFOUND, "open %s: removed by another mount", path);
	}
out:
	if (e == O_ENOTFOUND) { /* the kernel looks the name up again */
		lock_ns(ns);
		if ((in = ino_get(ns, ino)) != NULL &&
		    (p = ino_get(ns, in->parent)) != NULL)
			p->estale_ns = now;
		unlock_ns(ns);
	}
	return e;
}

/*
 * Before a diary's record changes (chmod, utimens, xattrs): its queued
 * appends committed, so that none queued before the change takes a commit
 * time after it, and (shared mode) its collection and read index brought
 * up to date, so that the mtime other mounts' appends gave is the one
 * diary_keep_mtime keeps.  The change thus waits for that commit, and
 * fails with it, also under commit=async.  No lock held; anything but a
 * diary: nothing.
 */
static o_err
diary_settle(struct ofs_ns *ns, uint64_t ino, const char *op)
{
	struct ofs_inode *in;
	struct ofs_coll  *oc = NULL;
	o_err             e;

	lock_ns(ns);
	if ((e = need_ino(ns, ino, op, &in)) == O_OK &&
	    in->kind == OFS_DIARY && (e = inode_coll(ns, in, &oc)) == O_OK)
		coll_pin(oc);
	unlock_ns(ns);
	if (oc == NULL)
		return e;
	e = coll_sync(ns, oc); /* catches the index up */
	if (e == O_OK && ns->opts.shared &&
	    (e = shared_refresh(ns, ino, op, 0)) == O_OK)
		diary_index_catch_up(in, oc->c);
	coll_unpin(ns, oc);
	return e;
}

o_err
ofs_setattr(struct ofs_ns *ns, uint64_t ino, bool set_mode, uint32_t mode,
    bool set_mtime, int64_t mtime_ns, const struct ofs_owner *who,
    struct ofs_attr *out)
{
	struct ofs_inode *in;
	struct ofs_attr   tmp;
	int64_t           t;
	o_err             e;

	if (out == NULL)
		out = &tmp;
	if ((e = diary_settle(ns, ino, "setattr")) != O_OK)
		return e;
	t = now_ns();
	lock_ns(ns);
	if ((e = need_ino(ns, ino, "setattr", &in)) != O_OK ||
	    (e = ent_catch_up(ns, in)) != O_OK)
		goto out;
	if (in->ino == OFS_ROOT_INO) {
		if (set_mode)
			ns->root_mode = mode & 07777;
		if (who != NULL)
			ns->root_owner = *who;
		if (set_mtime)
			ns->root_mt = mtime_ns;
		ns->root_ct = t;
	} else {
		if (set_mode)
			in->mode = mode & 07777;
		if (who != NULL)
			in->owner = *who;
		if (set_mtime)
			in->mt = mtime_ns;
		else
			diary_keep_mtime(in);
		in->ct = t;
		if ((e = ent_stage(ns, in)) != O_OK)
			goto out;
	}
	e = fill_attr(ns, in, true, out);
out:
	unlock_ns(ns);
	if (e == O_OK)
		e = attr_finish(ns, in, out);
	return e;
}

o_err
ofs_truncate(struct ofs_ns *ns, uint64_t ino, uint64_t size)
{
	struct ofs_inode *in;
	char              path[512];
	int               tries;
	o_err             e;

	lock_ns(ns);
	if ((e = need_ino(ns, ino, "truncate", &in)) != O_OK)
		goto out;
	path_of(ns, ino, path, sizeof(path));
	if (in->kind == OFS_DIARY) {
		e = o_err_set(O_EPERM,
		    "truncate %s to %" PRIu64 ": diaries are append-only",
		    path, size);
		goto out;
	}
	if (in->kind == OFS_DIR) {
		e = o_err_set(O_EISDIR, "truncate %s: a directory", path);
		goto out;
	}
	if (size > OFS_FILE_MAX) {
		e = o_err_set(O_EFBIG,
		    "truncate %s to %" PRIu64 ": above the %llu-byte limit",
		    path, size, (unsigned long long) OFS_FILE_MAX);
		goto out;
	}
	for (tries = 0;; tries++) {
		if ((e = inode_fresh(ns, in)) == O_OK)
			e = file_resize(ns, in, size);
		if (e != O_ESTALE || tries == OFS_STALE_TRIES ||
		    (e = file_catch_up(ns, in)) != O_OK)
			break;
	}
	if (e != O_OK)
		goto out;
	in->mt = in->ct = now_ns();
	mark_dirty(ns, in);
out:
	unlock_ns(ns);
	return e;
}

/* ---- creating and removing -----------------------------------------------
 */

static o_err
exists_check(
    struct ofs_ns *ns, struct ofs_inode *d, const char *name, const char *op)
{
	struct ofs_meta m;
	bool            found;
	char            path[512];
	o_err           e;

	if ((e = ent_read(ns, d, name, &m, NULL, NULL, &found)) != O_OK)
		return e;
	meta_fini(&m);
	if (found) {
		path_child(ns, d->ino, name, path, sizeof(path));
		return o_err_set(O_EEXIST, "%s %s: already exists", op, path);
	}
	return O_OK;
}

/* Stage a new entry for m under d (ns_mtx held); returns its inode.  In a
 * shared namespace the entry is a creation (oc_tree_create), which
 * entry_settle commits and checks. */
static o_err
entry_add(struct ofs_ns *ns, struct ofs_inode *d, const char *name,
    const struct ofs_meta *m, struct ofs_inode **out)
{
	struct ofs_coll *dc;
	struct o_buf     raw = { 0 };
	char             path[512];
	o_err            e;

	struct o_buf none = { 0 };

	if ((e = inode_coll(ns, d, &dc)) != O_OK)
		return e;
	rec_encode(m, m->kind == OFS_FILE ? &none : NULL, &raw);
	e = ent_put(ns, dc->c, name, &raw, &m->id, ns->opts.shared, false);
	o_buf_fini(&raw);
	if (e != O_OK) {
		path_child(ns, d->ino, name, path, sizeof(path));
		return o_err_wrap(e, "create %s", path);
	}
	dc->dirty = true;
	dir_touched(ns, d);
	*out = inode_new(ns, m, d->ino, name);
	(*out)->nlookup = 1; /* the entry the creation answers with */
	return O_OK;
}

/*
 * Shared namespace, no lock held: commit the entry entry_add staged for
 * object id in directory dir now, and check that it won.  Another mount
 * may have created the same name meanwhile; then exactly one creation
 * committed (tree_filter dropped the other), and the loser gets O_EEXIST
 * with its inode (ino) unlinked.  A single mount serialises creations
 * under ns_mtx and returns at once.
 */
static o_err
entry_settle(struct ofs_ns *ns, uint64_t dir, const char *name,
    const struct oc_bid *id, uint64_t ino, const char *op)
{
	struct ofs_inode *d, *in;
	struct ofs_coll  *dc;
	struct ofs_meta   m;
	bool              found = false, retired = false;
	char              path[512];
	o_err             e;

	if (!ns->opts.shared)
		return O_OK;
	lock_ns(ns);
	if ((e = need_dir(ns, dir, op, &d)) == O_OK)
		e = inode_coll(ns, d, &dc);
	unlock_ns(ns);
	if (e != O_OK || (e = coll_sync(ns, dc)) != O_OK)
		return e;
	lock_ns(ns);
	memset(&m, 0, sizeof(m));
	/* another mount's rmdir of dir committed first: the entry was
	 * dropped at the rebase, or (put over a retirement this mount had
	 * already taken in) sits where no name reaches */
	if ((e = need_dir(ns, dir, op, &d)) == O_OK &&
	    (e = inode_coll(ns, d, &dc)) == O_OK &&
	    (e = oc_tree_retired(dc->c, &retired)) == O_OK && retired) {
		if ((in = ino_get(ns, ino)) != NULL) {
			in->unlinked = true;
			in->dirty    = false;
		}
		if ((d = ino_get(ns, dir)) != NULL)
			d->stale = true;
		path_child(ns, dir, name, path, sizeof(path));
		e = o_err_set(O_ENOTFOUND,
		    "%s %s: another mount removed the directory at the same "
		    "time",
		    op, path);
	} else if (e == O_OK &&
	    (e = ent_read(ns, d, name, &m, NULL, NULL, &found)) == O_OK &&
	    !(found && oc_bid_eq(&m.id, id))) {
		if ((in = ino_get(ns, ino)) != NULL) {
			in->unlinked = true;
			in->dirty    = false;
		}
		path_child(ns, dir, name, path, sizeof(path));
		e = o_err_set(O_EEXIST,
		    "%s %s: created at the same time by another mount", op,
		    path);
	}
	unlock_ns(ns);
	meta_fini(&m);
	return e;
}

/*
 * Shared namespace, no lock held, before a creation in dir: commit what
 * dir has queued.  A creation ("new") is dropped when a rival committed a
 * value under its name since the directory's held rev; its premise, that
 * the name is absent, must then hold in the committed state, not only
 * thanks to a queued unlink or rename of ours (which the filter keeps,
 * so the name would end up absent and the creation lost).
 */
static o_err
dir_presync(struct ofs_ns *ns, uint64_t dir, const char *op)
{
	struct ofs_inode *d;
	struct ofs_coll  *dc = NULL;
	o_err             e;

	if (!ns->opts.shared)
		return O_OK;
	/* dir itself removed by another mount: its entry read again first
	 * (need_dir refuses an unlinked one), or the new entry would go into
	 * a collection nothing names any more */
	if ((e = parent_refresh(ns, dir, op)) != O_OK)
		return e;
	lock_ns(ns);
	if ((e = need_ino(ns, dir, op, &d)) == O_OK)
		e = inode_fresh(ns, d);
	if (e == O_OK && (e = need_dir(ns, dir, op, &d)) == O_OK &&
	    (e = inode_coll(ns, d, &dc)) == O_OK &&
	    oc_coll_npending(dc->c) == 0)
		dc = NULL;
	unlock_ns(ns);
	return e != O_OK || dc == NULL ? e : coll_sync(ns, dc);
}

/*
 * A new entry of directory d (ns_mtx held): where d has the set-group-id
 * bit, it takes d's group, and a directory the bit too, as on Linux's own
 * filesystems (a d without a recorded owner passes none on).  The kernel
 * has already dropped a new file's bit where its creator may not have it.
 */
static void
inherit_group(struct ofs_ns *ns, struct ofs_inode *d, struct ofs_meta *m)
{
	const struct ofs_owner *o =
	    d->ino == OFS_ROOT_INO ? &ns->root_owner : &d->owner;
	uint32_t mode = d->ino == OFS_ROOT_INO ? ns->root_mode : d->mode;

	if (!(mode & S_ISGID))
		return;
	if (o->own && m->owner.own)
		m->owner.gid = o->gid;
	if (m->kind == OFS_DIR)
		m->mode |= S_ISGID;
}

/* mkdir, or create of a diary: commit the collection, then the entry. */
static o_err
create_coll(struct ofs_ns *ns, uint64_t dir, const char *name, uint8_t kind,
    uint32_t mode, const struct ofs_owner *who, struct ofs_attr *out)
{
	const char           *op = kind == OFS_DIR ? "mkdir" : "create diary";
	struct ofs_inode     *d, *in = NULL;
	struct oc_collection *c = NULL;
	struct ofs_meta       m;
	char                  path[512];
	o_err                 e;

	if ((e = check_name(op, name)) != O_OK ||
	    (e = dir_presync(ns, dir, op)) != O_OK)
		return e;
	lock_ns(ns);
	if ((e = need_dir(ns, dir, op, &d)) == O_OK)
		e = exists_check(ns, d, name, op);
	path_child(ns, dir, name, path, sizeof(path));
	unlock_ns(ns);
	if (e != O_OK)
		return e;

	memset(&m, 0, sizeof(m));
	m.kind = kind;
	m.mode = mode & 07777;
	if (who != NULL)
		m.owner = *who;
	m.mt = m.ct = now_ns();
	m.x         = oc_null();
	oc_bid_random(&m.id);
	if (kind == OFS_DIR)
		e = oc_tree_open(ns->tx, &m.id, true, &ns->sopts, &c);
	else
		e = oc_diary_open(ns->tx, &m.id, true, &ns->sopts, &c);
	if (e == O_OK)
		e = oc_coll_sync(c);
	if (e != O_OK) {
		oc_coll_free(c);
		return o_err_wrap(
		    e, "%s %s: commit of the new collection", op, path);
	}

	lock_ns(ns);
	/* re-check: the name may have been taken meanwhile (the committed
	 * collection is then unreferenced garbage) */
	if ((e = need_dir(ns, dir, op, &d)) != O_OK ||
	    (e = exists_check(ns, d, name, op)) != O_OK ||
	    (inherit_group(ns, d, &m), e = entry_add(ns, d, name, &m, &in)) !=
	        O_OK) {
		unlock_ns(ns);
		oc_coll_free(c);
		return e;
	}
	in->coll = coll_add(ns, &m.id, kind, in->ino, c);
	unlock_ns(ns);
	if ((e = entry_settle(ns, dir, name, &m.id, in->ino, op)) == O_OK) {
		lock_ns(ns);
		e = fill_attr(ns, in, true, out);
		unlock_ns(ns);
	}
	if (e == O_OK)
		e = attr_finish(ns, in, out);
	if (e != O_OK) { /* the kernel gets no entry: entry_add's count */
		lock_ns(ns);
		inode_unref(ns, in, 1);
		unlock_ns(ns);
	}
	return e;
}

o_err
ofs_mkdir(struct ofs_ns *ns, uint64_t dir, const char *name, uint32_t mode,
    struct ofs_attr *out)
{
	return create_coll(ns, dir, name, OFS_DIR, mode, NULL, out);
}

o_err
ofs_create(struct ofs_ns *ns, uint64_t dir, const char *name,
    enum ofs_kind kind, uint32_t mode, struct ofs_attr *out)
{
	return ofs_create_as(ns, dir, name, kind, mode, NULL, out);
}

o_err
ofs_create_as(struct ofs_ns *ns, uint64_t dir, const char *name,
    enum ofs_kind kind, uint32_t mode, const struct ofs_owner *who,
    struct ofs_attr *out)
{
	struct ofs_inode *d, *in;
	struct ofs_meta   m;
	o_err             e;

	if (kind == OFS_DIR || kind == OFS_DIARY)
		return create_coll(
		    ns, dir, name, (uint8_t) kind, mode, who, out);
	if (kind != OFS_FILE)
		return o_err_set(
		    O_EINVAL, "create: unknown kind %d", (int) kind);
	if ((e = check_name("create", name)) != O_OK ||
	    (e = dir_presync(ns, dir, "create")) != O_OK)
		return e;
	memset(&m, 0, sizeof(m));
	m.kind = OFS_FILE;
	m.inl  = true;
	m.mode = mode & 07777;
	if (who != NULL)
		m.owner = *who;
	m.mt = m.ct = now_ns();
	m.x         = oc_null();
	oc_bid_random(&m.id);
	lock_ns(ns);
	if ((e = need_dir(ns, dir, "create", &d)) == O_OK &&
	    (e = exists_check(ns, d, name, "create")) == O_OK) {
		inherit_group(ns, d, &m);
		e = entry_add(ns, d, name, &m, &in);
	}
	unlock_ns(ns);
	if (e != O_OK)
		return e;
	if ((e = entry_settle(ns, dir, name, &m.id, in->ino, "create")) ==
	    O_OK) {
		lock_ns(ns);
		e = fill_attr(ns, in, true, out);
		unlock_ns(ns);
	}
	if (e != O_OK) { /* the kernel gets no entry: entry_add's count */
		lock_ns(ns);
		inode_unref(ns, in, 1);
		unlock_ns(ns);
	}
	return e;
}

/* After an entry naming m was removed or replaced: the inode lives on,
 * unlinked, with a file's last bytes (data, from the record). */
static void
inode_unlinked(
    struct ofs_ns *ns, const struct ofs_meta *m, const struct oc_val *data)
{
	struct ofs_inode *in = idmap_get(&ns->by_id, &m->id);

	/* a removed diary's stored read index is of no more use (whether
	 * or not this mount holds its inode) */
	if (m->kind == OFS_DIARY && ns->opts.journal != NULL &&
	    ns->opts.journal->ops->hint_put != NULL)
		(void) ns->opts.journal->ops->hint_put(
		    ns->opts.journal, &m->id, NULL, 0);
	if (in == NULL)
		return;
	/* an inline file's bytes live only in the record: keep them (pinned);
	 * a piece collection stays behind, unreferenced, and still reads */
	if (in->kind == OFS_FILE && in->inl && piece_find(in, 0) == NULL &&
	    data != NULL && data->type == OC_BYTES && data->u.s.n > 0) {
		struct ofs_piece *p = piece_add(ns, in, 0);

		o_buf_append(&p->b, data->u.s.p,
		    (size_t) O_MIN((uint64_t) data->u.s.n, OFS_PIECE));
		piece_grew(ns, p, 0);
	}
	in->unlinked = true;
	in->dirty    = false;
}

/*
 * Shared namespace, before checking that directory dir/name is empty (no
 * lock held): bring its collection up to date, so that entries another
 * mount committed in it are counted.  (A creation committed between this
 * and the removal's own commit is not seen: the check and the removal are
 * not one transaction.)  Anything that is not a directory is left to the
 * caller's checks.
 */
static o_err
child_dir_refresh(struct ofs_ns *ns, uint64_t dir, const char *name)
{
	struct ofs_inode *d;
	struct ofs_coll  *cc = NULL;
	struct ofs_meta   m;
	bool              found = false;
	o_err             e;

	if (!ns->opts.shared)
		return O_OK;
	memset(&m, 0, sizeof(m));
	lock_ns(ns);
	if ((e = need_dir(ns, dir, "refresh", &d)) == O_OK &&
	    (e = ent_read(ns, d, name, &m, NULL, NULL, &found)) == O_OK &&
	    found && m.kind == OFS_DIR) {
		struct ofs_inode *in = idmap_get(&ns->by_id, &m.id);

		if ((e = coll_get(ns, &m.id, OFS_DIR,
		         in != NULL ? in->ino : dir, false, &cc)) == O_OK)
			coll_pin(cc);
	}
	unlock_ns(ns);
	meta_fini(&m);
	/* a failure here is the caller's to report, with its own words */
	return e != O_OK || cc == NULL ? O_OK
	                               : coll_refresh(ns, cc, 0, NULL, NULL);
}

static void pairing_begin(struct ofs_coll *const *g, size_t n);
static void pairing_end(
    struct ofs_ns *ns, struct ofs_coll *const *g, size_t n);

/*
 * What a group (rename, rmdir) that failed undecided says of its outcome.
 * It is given up either way (link_give_up): its parts, left queued, would
 * be committed one collection at a time by later commits, not as one
 * transaction, and a rival could drop some and not others.  After
 * O_EUNAVAIL or O_ETIMEDOUT the cluster may still decide the transaction
 * (a read promotes it, core/collection.c commit_in_doubt): then all of it
 * takes effect, as one.
 */
static const char *
group_outcome(o_err e)
{
	return e == O_EUNAVAIL || e == O_ETIMEDOUT
	    ? "given up here; its outcome is unknown: if the cluster decided "
	      "it, it took effect whole"
	    : "given up, nothing of it committed";
}

/*
 * ns_mtx held (dropped meanwhile): give up a linked change staged in
 * g[0..n) that committed nowhere: all parts leave their queues (by the
 * link, so that none is committed later, and nothing is staged to undo
 * them that could overwrite another mount's change).  The caller keeps
 * g[0..n) open.
 */
static void
link_give_up(struct ofs_ns *ns, const struct oc_aid *link,
    struct ofs_coll *const *g, size_t n, const char *what)
{
	o_err  e = O_OK;
	size_t i;

	oc_coll_link_drop(link);
	unlock_ns(ns);
	for (i = 0; i < n && e == O_OK; i++)
		e = oc_coll_links_sift(g[i]->c);
	if (e != O_OK)
		o_log(O_LOG_WARN,
		    "%s: dropping its staged parts: %s (they are dropped at "
		    "the next commit)",
		    what, o_errname(e));
	lock_ns(ns);
}
/*
 * Shared namespace, ns_mtx held (dropped meanwhile): rmdir of d/name, the
 * empty directory m whose collection is cc, in one transaction over both
 * directories: the entry's delete in dc (kept only while the name names
 * m) and cc's retirement (tree.h "rt": dropped if another mount put an
 * entry in cc meanwhile), linked.  So of an rmdir and another mount's
 * creation in the directory at the same time exactly one takes effect:
 * a creation that lost is told so (entry_settle: ENOENT), an rmdir that
 * lost gets ENOTEMPTY.  Committed before it returns; a commit that failed
 * undecided is given up whole (group_outcome).
 */
static o_err
rmdir_shared(struct ofs_ns *ns, struct ofs_inode *d, struct ofs_coll *dc,
    struct ofs_coll *cc, const char *name, const struct ofs_meta *m,
    const struct oc_val *data, const char *path)
{
	struct oc_tree_kv kv = {
		.key = name, .klen = strlen(name), .del = true, .cond = &m->id
	};
	struct ofs_coll  *g[2] = { dc, cc };
	struct ofs_inode *in;
	struct ofs_meta   now;
	struct oc_aid     link;
	uint64_t          dino = d->ino;
	bool              decided, found = false, lost, give_up = false;
	o_err             e, ue;

	memset(&now, 0, sizeof(now));
	oc_aid_random(&link);
	coll_pin(cc);
	pairing_begin(g, 2);
	/* the retirement first: a journal recovery (after a crash before
	 * the commit) replays the two in this order, each collection on its
	 * own, and drops the delete when a rival's put dropped the
	 * retirement (their link) */
	if ((e = oc_tree_retire(cc->c, &link)) == O_OK)
		e = oc_tree_replace_linked(dc->c, &kv, 1, &link);
	if (e != O_OK) {
		pairing_end(ns, g, 2);
		give_up = true; /* the retirement, if staged */
		e       = o_err_wrap(e, "rmdir %s", path);
		goto out;
	}
	dc->dirty = true;
	cc->dirty = true;
	dir_touched(ns, d);
	inode_unlinked(ns, m, data);
	unlock_ns(ns);
	e = coll_sync_group(ns, g, 2, &decided);
	lock_ns(ns);
	pairing_end(ns, g, 2);
	/* a rebase dropped our halves: another mount created an entry in
	 * the directory (the name still names it), or renamed or removed
	 * it first */
	ue = (d = ino_get(ns, dino)) != NULL
	    ? ent_read(ns, d, name, &now, NULL, NULL, &found)
	    : O_ENOTFOUND;
	/* by the link, or (one the ring of lost links forgot) by the name
	 * still naming it after a commit that went through */
	lost = oc_coll_link_is_lost(&link) ||
	    (e == O_OK && ue == O_OK && found && oc_bid_eq(&now.id, &m->id));
	in   = idmap_get(&ns->by_id, &m->id);
	/* failed before the decision (or a dependency failed: not tried):
	 * given up (group_outcome) */
	give_up = !lost && e != O_OK && !decided;
	if (lost || give_up) {
		if (in != NULL) {
			in->unlinked = false;
			in->nent     = -1;
			in->stale    = true;
		}
	}
	if (lost && ue == O_OK && found && oc_bid_eq(&now.id, &m->id)) {
		e = o_err_set(O_ENOTEMPTY,
		    "rmdir %s: another mount created an entry in it at the "
		    "same time",
		    path);
	} else if (lost) {
		e = o_err_set(O_ENOTFOUND,
		    "rmdir %s: another mount renamed or removed it at the "
		    "same time",
		    path);
	} else if (give_up) {
		/* both halves given up by their link, so that nothing of
		 * them is committed later */
		e = o_err_wrap(
		    e, "rmdir %s: commit (%s)", path, group_outcome(e));
	} else {
		if (e != O_OK) /* decided: the rest stays queued, retried */
			o_log(O_LOG_WARN,
			    "rmdir %s committed in part; the rest is queued "
			    "and retried: %s",
			    path, o_err_detail());
		e = O_OK;
	}
out:
	meta_fini(&now);
	if (give_up) {
		char what[600];

		snprintf(what, sizeof(what), "rmdir %s", path);
		link_give_up(ns, &link, g, 2, what);
	}
	cc->pins--;
	return e;
}

static o_err
remove_entry(struct ofs_ns *ns, uint64_t dir, const char *name, bool isdir)
{
	const char       *op = isdir ? "rmdir" : "unlink";
	struct ofs_inode *d;
	struct ofs_coll  *dc, *cc;
	struct ofs_meta   m;
	struct oc_val     data = oc_null();
	uint64_t          n;
	bool              found, sync = false;
	char              path[512];
	o_err             e;

	if ((e = check_name(op, name)) != O_OK ||
	    (isdir && (e = child_dir_refresh(ns, dir, name)) != O_OK))
		return e;
	memset(&m, 0, sizeof(m));
	lock_ns(ns);
	if ((e = need_dir(ns, dir, op, &d)) != O_OK ||
	    (e = inode_coll(ns, d, &dc)) != O_OK ||
	    (e = ent_read(ns, d, name, &m, &data, NULL, &found)) != O_OK)
		goto out;
	path_child(ns, dir, name, path, sizeof(path));
	if (!found) {
		e = o_err_set(O_ENOTFOUND, "%s %s: no such entry", op, path);
		goto out;
	}
	if (!isdir && m.kind == OFS_DIR) {
		e = o_err_set(O_EISDIR, "unlink %s: a directory", path);
		goto out;
	}
	if (isdir && m.kind != OFS_DIR) {
		e = o_err_set(O_ENOTDIR, "rmdir %s: not a directory (a %s)",
		    path, kind_word(m.kind));
		goto out;
	}
	if (isdir) {
		if ((e = coll_get(ns, &m.id, OFS_DIR, dir, false, &cc)) !=
		        O_OK ||
		    (e = dir_count(cc->c, &n)) != O_OK)
			goto out;
		if (n > 0) {
			e = o_err_set(O_ENOTEMPTY,
			    "rmdir %s: directory not empty (%" PRIu64
			    " entries)",
			    path, n);
			goto out;
		}
		if (ns->opts.shared) {
			e = rmdir_shared(ns, d, dc, cc, name, &m, &data, path);
			goto out;
		}
	}
	if ((e = oc_tree_del(dc->c, name, strlen(name))) != O_OK) {
		e = o_err_wrap(e, "%s %s", op, path);
		goto out;
	}
	dc->dirty = true;
	dir_touched(ns, d);
	inode_unlinked(ns, &m, &data);
	sync = ns->opts.shared;
out:
	unlock_ns(ns);
	meta_fini(&m);
	oc_val_fini(&data);
	/* Shared namespace: committed before it returns, as a creation is,
	 * so that another mount opening or creating in it afterwards finds
	 * it gone (its open reads the entry again: ofs_open) instead of
	 * writing to what no entry names any more.  Failed, the removal
	 * stays queued and journaled, like any write. */
	if (e == O_OK && sync && (e = coll_sync(ns, dc)) != O_OK)
		e = o_err_wrap(e, "%s %s: commit", op, path);
	return e;
}

o_err
ofs_unlink(struct ofs_ns *ns, uint64_t dir, const char *name)
{
	return remove_entry(ns, dir, name, false);
}

o_err
ofs_rmdir(struct ofs_ns *ns, uint64_t dir, const char *name)
{
	o_err e;

	if (!ns->opts.shared)
		return remove_entry(ns, dir, name, true);
	pthread_mutex_lock(&ns->group_mtx); /* rmdir_shared's group */
	e = remove_entry(ns, dir, name, true);
	pthread_mutex_unlock(&ns->group_mtx);
	return e;
}

/* Rename checks (ns_mtx held): kinds, emptiness, subtree. */
static o_err
rename_check(struct ofs_ns *ns, struct ofs_inode *td, const char *tpath,
    const struct ofs_meta *sm, bool tfound, const struct ofs_meta *tm)
{
	struct ofs_inode *p;
	struct ofs_coll  *cc;
	uint64_t          n;
	int               hops = 0;
	o_err             e;

	if (tfound && sm->kind == OFS_DIR) {
		if (tm->kind != OFS_DIR)
			return o_err_set(O_ENOTDIR,
			    "rename onto %s: a directory cannot replace a %s",
			    tpath, kind_word(tm->kind));
		if ((e = coll_get(
		         ns, &tm->id, OFS_DIR, td->ino, false, &cc)) != O_OK ||
		    (e = dir_count(cc->c, &n)) != O_OK)
			return e;
		if (n > 0)
			return o_err_set(O_ENOTEMPTY,
			    "rename onto %s: directory not empty (%" PRIu64
			    " entries)",
			    tpath, n);
	} else if (tfound && tm->kind == OFS_DIR) {
		return o_err_set(O_EISDIR,
		    "rename onto %s: a %s cannot replace a directory", tpath,
		    kind_word(sm->kind));
	}
	if (sm->kind != OFS_DIR)
		return O_OK;
	for (p = td; p != NULL && hops < 4096; hops++) {
		if (oc_bid_eq(&p->id, &sm->id))
			return o_err_set(O_EINVAL,
			    "rename to %s: a directory cannot move into "
			    "itself",
			    tpath);
		if (p->ino == OFS_ROOT_INO)
			break;
		p = ino_get(ns, p->parent);
	}
	return O_OK;
}

/* Undo a cross-directory rename's staged changes (ns_mtx held): the
 * target entry back as it was (traw, or absent), and when sc is set the
 * source entry back (sraw).  A failure is logged: both names may then
 * show the object until the next change. */
static void
rename_undo(struct ofs_coll *tc, const char *newname,
    bool tfound, const struct o_buf *traw, struct ofs_coll *sc,
    const char *name, const struct o_buf *sraw, const char *spath,
    const char *tpath)
{
	o_err ue = tfound
	    ? oc_tree_put(tc->c, newname, strlen(newname), traw->data,
	          traw->len)
	    : oc_tree_del(tc->c, newname, strlen(newname));

	if (ue == O_OK && sc != NULL)
		ue = oc_tree_put(sc->c, name, strlen(name), sraw->data,
		    sraw->len);
	if (ue != O_OK)
		o_log(O_LOG_ERROR,
		    "rename %s to %s: undo failed (%s): both names may show "
		    "the object",
		    spath, tpath, o_errname(ue));
}

static void
inode_move(
    struct ofs_ns *ns, struct ofs_inode *in, uint64_t parent, const char *name)
{
	free(in->name);
	in->name = o_strdup(name);
	kid_move(ns, in->parent, parent);
	in->parent = parent;
}

/* A transaction over g[0..n) (a rename across directories, an rmdir) is
 * committed or given up (ns_mtx held): lone commits of each go on. */
static void
pairing_end(struct ofs_ns *ns, struct ofs_coll *const *g, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		g[i]->pairing--;
	pthread_cond_broadcast(&ns->deps_cv);
}

/* ns_mtx held: g[0..n) are to commit as one transaction: a commit of any
 * already under way takes none of the parts staged from now on (the
 * seals); later ones wait until pairing_end. */
static void
pairing_begin(struct ofs_coll *const *g, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++) {
		seal_for_pieces(g[i]);
		g[i]->pairing++;
	}
}

static o_err flush_ino(struct ofs_ns *ns, uint64_t ino, uint64_t wid,
    bool wait, bool commit, const char *op);

/*
 * A rename committed as one transaction over several directories
 * (DESIGN.md section 3 rule 4), ns_mtx held: the part staged in each, each
 * collection pinned until rn_release.
 */
struct rn_part {
	struct oc_tree_kv kv[4]; /* a delete, a put, two conditions */
	size_t            nkv;
	bool              retire; /* the replaced empty directory ("rt") */
};

struct rn_group {
	struct rn_part   *p;
	struct ofs_coll **cs; /* p[i]'s collection */
	size_t            n;
};

/* The index of oc's part in g (added, and oc pinned, the first time). */
static size_t
rn_at(struct rn_group *g, struct ofs_coll *oc)
{
	size_t i;

	for (i = 0; i < g->n; i++)
		if (g->cs[i] == oc)
			return i;
	g->p  = o_realloc(g->p, (g->n + 1) * sizeof(*g->p));
	g->cs = o_realloc(g->cs, (g->n + 1) * sizeof(*g->cs));
	memset(&g->p[g->n], 0, sizeof(g->p[g->n]));
	g->cs[g->n] = oc;
	coll_pin(oc);
	return g->n++;
}

/* Add kv to oc's part in g (at most two conditions, and a delete and a
 * put, fall to one part; a retired one takes none: rename_check). */
static o_err
rn_kv(struct rn_group *g, struct ofs_coll *oc, struct oc_tree_kv kv)
{
	size_t          i = rn_at(g, oc);
	struct rn_part *p = &g->p[i];

	if (p->nkv == sizeof(p->kv) / sizeof(p->kv[0]) || p->retire)
		return o_err_set(O_EINTERNAL,
		    "rename: a part of %zu changes%s", p->nkv + 1,
		    p->retire ? " in a retired directory" : "");
	p->kv[p->nkv++] = kv;
	return O_OK;
}

static void
rn_release(struct rn_group *g)
{
	size_t i;

	for (i = 0; i < g->n; i++)
		g->cs[i]->pins--;
	free(g->p);
	free(g->cs);
}

#define OFS_WAY_MAX 4096 /* directories between one and the root, at most */

/* in's depth below the root (ns_mtx held); -1 when its way up is not
 * known (a parent missing from the table, or a loop). */
static long
way_depth(struct ofs_ns *ns, struct ofs_inode *in)
{
	long d = 0;

	while (in != NULL && in->ino != OFS_ROOT_INO && d < OFS_WAY_MAX) {
		in = ino_get(ns, in->parent);
		d++;
	}
	return in != NULL && in->ino == OFS_ROOT_INO ? d : -1;
}

/*
 * The directories on the ways from the nearest common ancestor of sd and
 * td down to td and down to sd (the ancestor not among them), into *out
 * (malloc'd; *n of them); ns_mtx held.
 */
static o_err
way_dirs(struct ofs_ns *ns, struct ofs_inode *sd, struct ofs_inode *td,
    const char *tpath, struct ofs_inode ***out, size_t *n)
{
	long               ds = way_depth(ns, sd), dt = way_depth(ns, td);
	struct ofs_inode **w;
	size_t             k = 0;

	*out = NULL;
	*n   = 0;
	if (ds < 0 || dt < 0)
		return o_err_set(O_EINTERNAL,
		    "rename to %s: the way up to the root from inode %" PRIu64
		    " is not known",
		    tpath, ds < 0 ? sd->ino : td->ino);
	w = o_malloc((size_t) (ds + dt + 1) * sizeof(*w));
	for (; dt > ds; dt--, td = ino_get(ns, td->parent))
		w[k++] = td;
	for (; ds > dt; ds--, sd = ino_get(ns, sd->parent))
		w[k++] = sd;
	for (; sd != td;
	     sd = ino_get(ns, sd->parent), td = ino_get(ns, td->parent)) {
		w[k++] = td;
		w[k++] = sd;
	}
	*out = w;
	*n   = k;
	return O_OK;
}

/*
 * Shared namespace, a directory's rename from sd into td (ns_mtx held):
 * the reads its check that it does not move into itself (rename_check)
 * relies on, as conditions in g (tree.h "if", check only): each directory
 * on the way from the nearest common ancestor of sd and td down to td,
 * and down to sd, still has its name in its parent.  So of `mv a b/` and
 * another mount's `mv b a/` at the same time the one committed second is
 * dropped (by the link, whole) instead of making a cycle no name reaches.
 * Each name is read in its parent first: one that another mount's commit
 * already took away fails the rename (ENOENT).  No read rests on an own
 * change a rival may yet drop (rename_presync).
 */
static o_err
rename_way(struct ofs_ns *ns, struct ofs_inode *sd, struct ofs_inode *td,
    struct rn_group *g, const char *tpath)
{
	struct ofs_inode **way;
	size_t             nway, i;
	o_err              e;

	if ((e = way_dirs(ns, sd, td, tpath, &way, &nway)) != O_OK)
		return e;
	for (i = 0; i < nway && e == O_OK; i++) {
		struct ofs_inode *d = way[i];
		struct ofs_inode *p = ino_get(ns, d->parent);
		struct ofs_coll  *pc;
		struct ofs_meta   m;
		bool              found = false;
		char              path[512];

		memset(&m, 0, sizeof(m));
		if ((e = inode_coll(ns, p, &pc)) != O_OK ||
		    (e = ent_read(ns, p, d->name, &m, NULL, NULL, &found)) !=
		        O_OK) {
			meta_fini(&m);
			break;
		}
		if (!found || !oc_bid_eq(&m.id, &d->id)) {
			d->stale = true;
			path_of(ns, d->ino, path, sizeof(path));
			e = o_err_set(O_ENOTFOUND,
			    "rename to %s: another mount renamed or removed "
			    "%s, "
			    "on the way to it, meanwhile",
			    tpath, path);
		} else
			e = rn_kv(g, pc,
			    (struct oc_tree_kv) { .key = d->name,
			        .klen                  = strlen(d->name),
			        .cond                  = &d->id,
			        .check                 = true });
		meta_fini(&m);
	}
	free(way);
	return e;
}

/*
 * Before a rename across directories: commit what both directories have
 * queued, so that the rename's own transaction (which commits everything
 * queued in both) stays small.  A failure fails the rename before it
 * changes anything.  (The parents on a directory's way, rename_way, hold
 * no name of this mount's still to be committed: creations, removals,
 * renames and rmdirs of a shared mount commit, or are given up, before
 * they return, and renames and rmdirs take turns.)
 */
static o_err
rename_presync(struct ofs_ns *ns, uint64_t dir, uint64_t newdir)
{
	struct ofs_inode *sd, *td;
	struct ofs_coll  *sc, *tc;
	o_err             e;

	lock_ns(ns);
	if ((e = need_dir(ns, dir, "rename", &sd)) != O_OK ||
	    (e = need_dir(ns, newdir, "rename", &td)) != O_OK ||
	    (e = inode_coll(ns, sd, &sc)) != O_OK ||
	    (e = inode_coll(ns, td, &tc)) != O_OK) {
		unlock_ns(ns);
		return e;
	}
	unlock_ns(ns);
	if (oc_coll_npending(sc->c) > 0 && (e = coll_sync(ns, sc)) != O_OK)
		return e;
	if (oc_coll_npending(tc->c) > 0 && (e = coll_sync(ns, tc)) != O_OK)
		return e;
	return O_OK;
}

/*
 * Shared namespace, after a rename's commit (ns_mtx held): whether
 * newname in newdir misses the object id, because another mount renamed
 * or removed the source first and the rename's staged change was dropped
 * at the rebase (core/tree.h "if"; all parts, by their link).  The link
 * tells first (oc_coll_link_is_lost); this read is for one the ring of
 * lost links forgot.  A failed read counts as not lost (the commit went
 * through).
 */
static bool
rename_lost(struct ofs_ns *ns, uint64_t newdir, const char *newname,
    const struct oc_bid *id)
{
	struct ofs_inode *td;
	struct ofs_meta   m;
	bool              found = false, lost = false;

	memset(&m, 0, sizeof(m));
	if (need_dir(ns, newdir, "rename", &td) == O_OK &&
	    ent_read(ns, td, newname, &m, NULL, NULL, &found) == O_OK)
		lost = !(found && oc_bid_eq(&m.id, id));
	meta_fini(&m);
	return lost;
}

o_err
ofs_rename(struct ofs_ns *ns, uint64_t dir, const char *name, uint64_t newdir,
    const char *newname)
{
	return ofs_rename_flags(ns, dir, name, newdir, newname, false);
}

static o_err rename_(struct ofs_ns *ns, uint64_t dir, const char *name,
    uint64_t newdir, const char *newname, bool noreplace);

o_err
ofs_rename_flags(struct ofs_ns *ns, uint64_t dir, const char *name,
    uint64_t newdir, const char *newname, bool noreplace)
{
	o_err e;

	if (!ns->opts.shared)
		return rename_(ns, dir, name, newdir, newname, noreplace);
	pthread_mutex_lock(&ns->group_mtx);
	e = rename_(ns, dir, name, newdir, newname, noreplace);
	pthread_mutex_unlock(&ns->group_mtx);
	return e;
}

static o_err
rename_(struct ofs_ns *ns, uint64_t dir, const char *name, uint64_t newdir,
    const char *newname, bool noreplace)
{
	struct ofs_inode *sd, *td, *src, *tgt;
	struct ofs_coll  *sc, *tc;
	struct ofs_meta   sm, tm;
	struct oc_val     tdata = oc_null();
	struct o_buf      sraw = { 0 }, traw = { 0 };
	bool              sfound, tfound, built = false, inl = false;
	bool              sh, lost = false, flushed = false;
	bool              tretired = false, filled = false;
	char              spath[512], tpath[512];
	o_err             e;

	if ((e = check_name("rename", name)) != O_OK ||
	    (e = check_name("rename", newname)) != O_OK)
		return e;
	if (dir != newdir && (e = rename_presync(ns, dir, newdir)) != O_OK)
		return o_err_wrap(e, "rename %s", name);
	if ((e = child_dir_refresh(ns, newdir, newname)) != O_OK)
		return o_err_wrap(e, "rename onto %s", newname);
	sh = ns->opts.shared;
again:
	memset(&sm, 0, sizeof(sm));
	memset(&tm, 0, sizeof(tm));
	lock_ns(ns);
	if ((e = need_dir(ns, dir, "rename", &sd)) != O_OK ||
	    (e = need_dir(ns, newdir, "rename", &td)) != O_OK ||
	    (e = inode_coll(ns, sd, &sc)) != O_OK ||
	    (e = inode_coll(ns, td, &tc)) != O_OK ||
	    (e = ent_read(ns, sd, name, &sm, NULL, &sraw, &sfound)) != O_OK)
		goto out;
	path_child(ns, dir, name, spath, sizeof(spath));
	path_child(ns, newdir, newname, tpath, sizeof(tpath));
	if (!sfound) {
		e = o_err_set(O_ENOTFOUND, "rename %s: no such entry", spath);
		goto out;
	}
	if (dir == newdir && strcmp(name, newname) == 0)
		goto out;
	if ((e = ent_read(ns, td, newname, &tm, &tdata, &traw, &tfound)) !=
	    O_OK)
		goto out;
	if (tfound && noreplace) {
		e = o_err_set(O_EEXIST, "rename %s: %s exists", spath, tpath);
		goto out;
	}
	if (tfound && oc_bid_eq(&tm.id, &sm.id))
		goto out; /* the same object already */
	if (sh && dir != newdir &&
	    (e = oc_tree_retired(tc->c, &tretired)) == O_OK && tretired) {
		/* taken in since the lookup: another mount's rmdir (a put
		 * into it would reach no name; a rebase would drop it) */
		e         = o_err_set(O_ENOTFOUND,
		            "rename %s to %s: another mount removed the target "
		                    "directory",
		            spath, tpath);
		td->stale = true;
	}
	if (e != O_OK)
		goto out;
	if ((e = rename_check(ns, td, tpath, &sm, tfound, &tm)) != O_OK)
		goto out;
	src = idmap_get(&ns->by_id, &sm.id);
	tgt = tfound ? idmap_get(&ns->by_id, &tm.id) : NULL;
	if (sh && !flushed && src != NULL && src->kind == OFS_FILE &&
	    src->dirty && !src->unlinked) {
		/* shared: the file's own write-back first, so that a rename
		 * another mount wins at the same time drops none of its
		 * bytes with ours (tree.h "if"; the write-back follows) */
		uint64_t sino = src->ino;

		unlock_ns(ns);
		meta_fini(&sm);
		meta_fini(&tm);
		oc_val_fini(&tdata);
		tdata = oc_null();
		o_buf_fini(&sraw);
		o_buf_fini(&traw);
		flushed = true;
		/* committed also on an async mount (where a close only
		 * queues, and reports an earlier background failure that is
		 * not the rename's) */
		if ((e = flush_ino(ns, sino, 0, false, true, "rename")) !=
		    O_OK)
			return o_err_wrap(e, "rename %s", name);
		goto again;
	}
	if (src != NULL && src->kind == OFS_FILE && src->dirty &&
	    !src->unlinked) {
		if ((e = file_record(ns, src, &sraw, &inl)) != O_OK)
			goto out;
		built = true;
	}
	/* shared, also within one directory: committed before it returns
	 * (so that a rename another mount made of the same name at the same
	 * time is noticed), as one group with what it relies on */
	if (dir == newdir && !sh) {
		struct oc_tree_kv kv[2] = {
			{ .key = name, .klen = strlen(name), .del = true },
			{ .key    = newname,
			    .klen = strlen(newname),
			    .val  = sraw.data,
			    .vlen = sraw.len },
		};

		if (built && !inl)
			seal_for_pieces(sc);
		if ((e = oc_tree_replace(sc->c, kv, 2)) != O_OK) {
			e = o_err_wrap(e, "rename %s to %s", spath, tpath);
			goto out;
		}
		if (built)
			file_stored(src, sc, inl);
		sc->dirty = true;
	} else {
		/* one transaction over the directories (DESIGN.md section 3
		 * rule 4): staged in each, committed together.  Shared, the
		 * source's delete is kept only while the name names the
		 * object; a directory's rename relies on the way to its
		 * target as it checked it (rename_way); a replaced empty
		 * directory is retired (as an rmdir: dropped if another
		 * mount created an entry in it meanwhile); all parts are
		 * linked, so that they are dropped together
		 * (core/collection.c, links) */
		struct rn_group  g = { 0 };
		struct oc_aid    link;
		struct ofs_coll *ec = NULL;
		size_t           k, staged;
		bool             decided;
		char             what[1100];

		snprintf(what, sizeof(what), "rename %s to %s", spath, tpath);
		oc_aid_random(&link);
		if (sh && sm.kind == OFS_DIR && dir != newdir &&
		    (e = rename_way(ns, sd, td, &g, tpath)) != O_OK) {
			e = o_err_wrap(e, "%s", what);
			goto gout;
		}
		if (sh && tfound && tm.kind == OFS_DIR) {
			if ((e = coll_get(ns, &tm.id, OFS_DIR, td->ino, false,
			         &ec)) != O_OK)
				goto gout;
			k             = rn_at(&g, ec);
			g.p[k].retire = true;
		}
		if ((e = rn_kv(&g, tc,
		         (struct oc_tree_kv) { .key = newname,
		             .klen                  = strlen(newname),
		             .val                   = sraw.data,
		             .vlen                  = sraw.len,
		             .obj = sh ? &sm.id : NULL })) != O_OK ||
		    (e = rn_kv(&g, sc,
		         (struct oc_tree_kv) { .key = name,
		             .klen                  = strlen(name),
		             .del                   = true,
		             .cond = sh ? &sm.id : NULL })) != O_OK)
			goto gout;
		/* a commit of any already under way takes none of the parts
		 * (the seals); later ones wait for the group (pairing) */
		pairing_begin(g.cs, g.n);
		for (staged = 0; staged < g.n && e == O_OK; staged++)
			e = g.p[staged].retire
			    ? oc_tree_retire(g.cs[staged]->c, &link)
			    : oc_tree_replace_linked(g.cs[staged]->c,
			          g.p[staged].kv, g.p[staged].nkv,
			          sh ? &link : NULL);
		if (e != O_OK) {
			e = o_err_wrap(e, "%s", what);
			staged--; /* the one that failed is not */
			if (sh && staged > 0) {
				char why[1024];

				snprintf(
				    why, sizeof(why), "%s", o_err_detail());
				link_give_up(ns, &link, g.cs, staged, what);
				o_err_set(e, "%s", why);
			} else if (!sh && staged > 0) /* [target, source] */
				rename_undo(tc, newname, tfound, &traw, NULL,
				    NULL, NULL, spath, tpath);
			pairing_end(ns, g.cs, g.n);
			goto gout;
		}
		for (k = 0; k < g.n; k++)
			g.cs[k]->dirty = true;
		if (built && !inl)
			file_stored(src, tc, inl); /* pieces commit first */
		if (src != NULL)
			inode_move(ns, src, newdir, newname);
		if (built)
			src->dirty = false;
		if (src != NULL)
			src->busy++; /* used again below */
		unlock_ns(ns);
		e = coll_sync_group(ns, g.cs, g.n, &decided);
		lock_ns(ns);
		pairing_end(ns, g.cs, g.n);
		if (src != NULL)
			src->busy--;
		if (e != O_OK && !decided && sh &&
		    (oc_coll_link_is_lost(&link) ||
		        rename_lost(ns, newdir, newname, &sm.id))) {
			/* all parts dropped at a rebase (another mount
			 * renamed or removed the source, or made one of the
			 * reads fail), then the group failed on other work:
			 * nothing of ours to undo */
			lost = true;
			e    = O_OK;
		} else if (e != O_OK && !decided) {
			/* not decided (or a dependency failed: not tried):
			 * shared, all parts given up by their link, also in
			 * doubt (group_outcome; an undo staged after them
			 * would delete or bring back names another mount
			 * changed meanwhile); else undo both staged changes */
			char why[1024];

			snprintf(why, sizeof(why), "%s", o_err_detail());
			if (sh) {
				if (src != NULL)
					src->busy++;
				link_give_up(ns, &link, g.cs, g.n, what);
				if (src != NULL)
					src->busy--;
			} else
				rename_undo(tc, newname, tfound, &traw, sc,
				    name, &sraw, spath, tpath);
			if (src != NULL)
				inode_move(ns, src, dir, name);
			if (built)
				mark_dirty(ns, src);
			e = o_err_set(e, "%s: commit (%s): %s", what,
			    sh ? group_outcome(e) : "undone", why);
			goto gout;
		}
		if (e != O_OK) /* decided: the rest stays queued, retried */
			o_log(O_LOG_WARN,
			    "%s committed in part; the rest is queued and "
			    "retried: %s",
			    what, o_err_detail());
		if (!lost) {
			e = O_OK;
			if (built && inl)
				file_stored(src, tc, inl);
			lost = sh &&
			    (oc_coll_link_is_lost(&link) ||
			        rename_lost(ns, newdir, newname, &sm.id));
		}
		if (lost && ec != NULL) {
			/* the retirement lost: another mount's entry */
			uint64_t n = 0;

			filled = dir_count(ec->c, &n) == O_OK && n > 0;
		}
	gout:
		rn_release(&g);
		if (e != O_OK)
			goto out;
	}
	if (lost) {
		/* another mount renamed or removed the source first: our
		 * change was dropped at the rebase (tree.h "if"); the
		 * object's record is read again at its next use */
		if (src != NULL) {
			inode_move(ns, src, dir, name);
			src->stale = true;
			if (built) /* its bytes went with the dropped change */
				mark_dirty(ns, src);
		}
		/* nothing changed here: no mtime, only what we counted */
		if ((sd = ino_get(ns, dir)) != NULL)
			sd->nent = -1;
		if ((td = ino_get(ns, newdir)) != NULL)
			td->nent = -1;
		/* taken again: the lock was dropped for the commit */
		if (tfound && (tgt = idmap_get(&ns->by_id, &tm.id)) != NULL &&
		    tgt != src) {
			tgt->nent  = -1;
			tgt->stale = true;
		}
		if (filled)
			e = o_err_set(O_ENOTEMPTY,
			    "rename %s onto %s: another mount created an "
			    "entry "
			    "in %s at the same time",
			    spath, tpath, tpath);
		else if (sm.kind == OFS_DIR && dir != newdir)
			e = o_err_set(O_ENOTFOUND,
			    "rename %s to %s: another mount renamed or "
			    "removed "
			    "%s, or a directory on the way to %s, at the same "
			    "time",
			    spath, tpath, spath, tpath);
		else
			e = o_err_set(O_ENOTFOUND,
			    "rename %s to %s: another mount renamed or "
			    "removed "
			    "%s at the same time",
			    spath, tpath, spath);
		goto out;
	}
	if (src != NULL) {
		inode_move(ns, src, newdir, newname);
		if (built)
			src->dirty = false;
	}
	if (tgt != NULL && tgt != src)
		inode_unlinked(ns, &tm, &tdata);
	dir_touched(ns, sd);
	dir_touched(ns, td);
out:
	unlock_ns(ns);
	meta_fini(&sm);
	meta_fini(&tm);
	oc_val_fini(&tdata);
	o_buf_fini(&sraw);
	o_buf_fini(&traw);
	return e;
}

/* ---- readdir -------------------------------------------------------------
 */

struct rd_ent {
	char           *name;
	struct ofs_meta m;
};

struct rd_batch {
	struct rd_ent *v;
	size_t         n;
	o_err          err;
	const char    *dir; /* path, for messages */
};

static int
rd_collect(void *arg, const uint8_t *k, size_t kl, const uint8_t *v, size_t vl)
{
	struct rd_batch *b = arg;
	struct rd_ent   *r = &b->v[b->n];
	char             where[600];

	if (retired_key(k, kl))
		return 0;
	r->name = o_malloc(kl + 1);
	memcpy(r->name, k, kl);
	r->name[kl] = '\0';
	snprintf(where, sizeof(where), "%s/%s", b->dir, r->name);
	if ((b->err = rec_decode(v, vl, &r->m, NULL, where)) != O_OK) {
		free(r->name);
		return 1;
	}
	b->n++;
	return b->n == OFS_RD_BATCH;
}

o_err
ofs_readdir(struct ofs_ns *ns, uint64_t dir, const char *after,
    ofs_dirent_cb cb, void *arg)
{
	struct ofs_inode *d, **ins;
	struct ofs_coll  *dc;
	struct ofs_attr  *attrs;
	struct rd_batch   b;
	char             *cursor = after != NULL ? o_strdup(after) : NULL;
	char              path[512];
	bool              stop = false;
	size_t            i, npin;
	o_err             e;

	lock_ns(ns);
	if ((e = need_dir(ns, dir, "readdir", &d)) == O_OK)
		e = inode_coll(ns, d, &dc);
	path_of(ns, dir, path, sizeof(path));
	unlock_ns(ns);
	if (e != O_OK) {
		free(cursor);
		return e;
	}
	b.v   = o_malloc(OFS_RD_BATCH * sizeof(*b.v));
	ins   = o_malloc(OFS_RD_BATCH * sizeof(*ins));
	attrs = o_malloc(OFS_RD_BATCH * sizeof(*attrs));
	b.dir = strcmp(path, "/") == 0 ? "" : path;
	while (!stop && e == O_OK) {
		b.n   = 0;
		b.err = O_OK;
		/*
		 * The batch is read and applied to the inodes under ns_mtx,
		 * as a lookup reads its record: a record read before a
		 * rename, write or truncate of ours staged a newer one would
		 * otherwise be adopted after it, giving the inode the old
		 * name and size (a `cp f f.tmp && mv f.tmp f` next to `ls
		 * -l` read f as empty).  The inodes are then pinned (busy)
		 * until the callbacks ran: they may count them for the
		 * kernel (ofs_ns_ref).
		 */
		lock_ns(ns);
		e = oc_tree_scan(dc->c, cursor, cursor ? strlen(cursor) : 0,
		    false, true, rd_collect, &b);
		if (e == O_OK)
			e = b.err;
		if (e != O_OK || b.n == 0)
			stop = true;
		for (npin = 0; e == O_OK && npin < b.n; npin++) {
			if ((e = inode_for(ns, dir, b.v[npin].name,
			         &b.v[npin].m, &ins[npin])) != O_OK)
				break;
			ins[npin]->busy++;
			e = fill_attr(ns, ins[npin], false, &attrs[npin]);
		}
		unlock_ns(ns);
		for (i = 0; e == O_OK && i < b.n; i++)
			e = attr_finish(ns, ins[i], &attrs[i]);
		for (i = 0; e == O_OK && !stop && i < b.n; i++)
			stop = cb(arg, b.v[i].name, &attrs[i]) != 0;
		lock_ns(ns);
		for (i = 0; i < npin; i++)
			ins[i]->busy--;
		unlock_ns(ns);
		if (b.n < OFS_RD_BATCH)
			stop = true;
		free(cursor);
		cursor = b.n > 0 ? o_strdup(b.v[b.n - 1].name) : NULL;
		for (i = 0; i < b.n; i++) {
			free(b.v[i].name);
			meta_fini(&b.v[i].m);
		}
	}
	free(cursor);
	free(b.v);
	free(ins);
	free(attrs);
	return e;
}

/* ---- data ----------------------------------------------------------------
 */

o_err
ofs_read(struct ofs_ns *ns, uint64_t ino, uint64_t off, size_t len, void *buf,
    size_t *got)
{
	struct ofs_inode *in;
	struct ofs_coll  *oc;
	struct dread      r;
	char              path[512];
	int               tries;
	o_err             e;

	*got = 0;
	lock_ns(ns);
	if ((e = need_ino(ns, ino, "read", &in)) != O_OK)
		goto out_unlock;
	if (in->kind == OFS_DIR) {
		path_of(ns, ino, path, sizeof(path));
		e = o_err_set(O_EISDIR, "read %s: a directory", path);
		goto out_unlock;
	}
	if (in->kind == OFS_FILE) {
		for (tries = 0;; tries++) {
			if ((e = inode_fresh(ns, in)) == O_OK)
				e = file_read(ns, in, off, buf, len, got);
			if (e != O_ESTALE || tries == OFS_STALE_TRIES ||
			    (e = file_catch_up(ns, in)) != O_OK)
				break;
		}
		goto out_unlock;
	}
	if ((e = fill_attr(ns, in, false, &(struct ofs_attr) { 0 })) != O_OK)
		goto out_unlock;
	oc = in->coll; /* fill_attr opened it; the kernel holds in */
	unlock_ns(ns);
	memset(&r, 0, sizeof(r));
	r.in             = in;
	r.off            = off;
	r.len            = len;
	r.buf            = buf;
	r.ahead          = ns->ahead;
	r.committed_only = ns->opts.shared;
	if ((e = diary_view(oc->c, &r)) == O_OK)
		*got = r.got;
	return e;
out_unlock:
	unlock_ns(ns);
	return e;
}

o_err
ofs_write(struct ofs_ns *ns, uint64_t ino, uint64_t wid, uint64_t off,
    const void *buf, size_t len, bool append)
{
	struct ofs_inode *in;
	struct ofs_coll  *oc;
	char              path[512];
	size_t            nact = 0;
	int               tries;
	o_err             e;

	lock_ns(ns);
	if ((e = need_ino(ns, ino, "write", &in)) != O_OK)
		goto out_unlock;
	if (in->kind == OFS_DIR) {
		path_of(ns, ino, path, sizeof(path));
		e = o_err_set(O_EISDIR, "write %s: a directory", path);
		goto out_unlock;
	}
	if (in->kind == OFS_FILE) {
		/* bounded memory: past OFS_DIRTY_MAX (or after a failed
		 * commit) the writer commits the pieces before going on, so
		 * an error is reported before this write is applied */
		if (in->dirty_bytes >= OFS_DIRTY_MAX ||
		    (in->pcoll != NULL && in->pcoll->err != O_OK)) {
			if ((e = pieces_stage(ns, in)) != O_OK)
				goto out_unlock;
			oc = in->pcoll;
			unlock_ns(ns);
			e = oc != NULL ? coll_sync(ns, oc) : O_OK;
			lock_ns(ns);
			if (e != O_OK)
				goto out_unlock;
		}
		for (tries = 0;; tries++) {
			/* a try that met pruned history (O_ESTALE) changed
			 * nothing; an append goes to the end of the newest
			 * version */
			if ((e = inode_fresh(ns, in)) != O_OK)
				break;
			if (append)
				off = in->sz;
			if (off + len > OFS_FILE_MAX || off + len < off) {
				path_of(ns, ino, path, sizeof(path));
				e = o_err_set(O_EFBIG,
				    "write %s: %zu bytes at %" PRIu64
				    " exceed the %llu-byte file limit",
				    path, len, off,
				    (unsigned long long) OFS_FILE_MAX);
				break;
			}
			if (len == 0)
				break;
			e = file_write(ns, in, off, buf, len);
			if (e != O_ESTALE || tries == OFS_STALE_TRIES ||
			    (e = file_catch_up(ns, in)) != O_OK)
				break;
		}
		if (e != O_OK || len == 0)
			goto out_unlock;
		in->mt = in->ct = now_ns();
		mark_dirty(ns, in);
		ns->bytes_written += len;
		goto out_unlock;
	}
	if ((e = inode_coll(ns, in, &oc)) != O_OK)
		goto out_unlock;
	/* bounded memory: a writer that outruns the committer commits the
	 * queue itself before its append is taken (an error is then
	 * reported before anything of this write is queued) */
	if (oc->queued_bytes >= OFS_QUEUE_MAX || oc->err != O_OK) {
		unlock_ns(ns);
		e = coll_sync(ns, oc);
		lock_ns(ns);
		if (e != O_OK)
			goto out_unlock;
	}
	path_of(ns, ino, path, sizeof(path)); /* for messages, unlocked */
	coll_pin(oc);
	unlock_ns(ns);
	e = diary_write(in, oc->c, wid, off, buf, len, append, ns->opts.shared,
	    path, &nact);
	lock_ns(ns);
	oc->pins--;
	if (e == O_OK) { /* nothing was queued otherwise */
		ns->bytes_written += len;
		/* what the queue holds: the bytes and each append's values */
		oc->queued_bytes += len + nact * OFS_ACT_OVERHEAD;
		oc->dirty = true;
	}
out_unlock:
	unlock_ns(ns);
	return e;
}

void
ofs_release(struct ofs_ns *ns, uint64_t ino, uint64_t wid)
{
	struct ofs_inode *in;
	struct ofs_coll  *oc;
	size_t            i;
	char              path[512];
	o_err             e = O_OK;

	lock_ns(ns);
	in = ino_get(ns, ino);
	if (in == NULL || in->kind != OFS_DIARY || in->coll == NULL) {
		unlock_ns(ns);
		return;
	}
	oc = in->coll;
	coll_pin(oc);
	path_of(ns, ino, path, sizeof(path));
	unlock_ns(ns);
	pthread_mutex_lock(&in->i_mtx);
	if (frag_index(in, wid) < in->nfrag &&
	    (e = diary_emit_frag(in, oc->c, wid)) != O_OK) {
		/* drop the slot: wid may name another writer later */
		i = frag_index(in, wid);
		o_buf_fini(&in->frags[i].b);
		in->frags[i] = in->frags[--in->nfrag];
	}
	pthread_mutex_unlock(&in->i_mtx);
	if (e != O_OK)
		o_log(O_LOG_ERROR,
		    "release of %s: the writer's unfinished line is lost: %s",
		    path, o_err_detail());
	lock_ns(ns);
	oc->dirty = true;
	oc->pins--;
	unlock_ns(ns);
}

/*
 * Bring every commit acknowledged so far to disk (oc_tx_sync: a lazily
 * synced local store syncs its log; a cluster's replicas synced each
 * commit).  what/ino name the caller in the error.
 */
static o_err
ns_sync_disk(struct ofs_ns *ns, uint64_t ino, const char *what)
{
	char  path[512];
	o_err e;

	if ((e = oc_tx_sync(ns->tx)) == O_OK)
		return O_OK;
	lock_ns(ns);
	path_of(ns, ino, path, sizeof(path));
	unlock_ns(ns);
	return o_err_wrap(e,
	    "%s %s: committed, but the store's log could not be synced to "
	    "disk",
	    what, path);
}

/*
 * Write the journal's held records (the diaries' lazy appends): a close
 * that returns before the commit acknowledges work that must outlive a
 * killed daemon.  what/ino name the caller in the error.
 */
static o_err
ns_keep(struct ofs_ns *ns, uint64_t ino, const char *what)
{
	char  path[512];
	o_err e;

	if (ns->opts.journal == NULL ||
	    (e = oc_journal_flush(ns->opts.journal)) == O_OK)
		return O_OK;
	lock_ns(ns);
	path_of(ns, ino, path, sizeof(path));
	unlock_ns(ns);
	return o_err_wrap(
	    e, "%s %s: queued, but the journal could not keep it", what, path);
}

/* ofs_flush; commit: commit even on an async mount (a rename's
 * write-back first), where a close only queues; op names the caller in
 * messages. */
static o_err
flush_ino(struct ofs_ns *ns, uint64_t ino, uint64_t wid, bool wait,
    bool commit, const char *op)
{
	struct ofs_inode *in;
	struct ofs_coll  *cs[3];
	size_t            n = 0, i;
	o_err             e, kept = O_OK, ke;

	lock_ns(ns);
	if ((e = need_ino(ns, ino, "flush", &in)) != O_OK)
		goto out_unlock;
	if (in->dirty && !in->unlinked && (e = ent_stage(ns, in)) != O_OK)
		goto out_unlock;
	if (in->kind != OFS_FILE && (e = inode_coll(ns, in, &cs[n])) == O_OK)
		n++;
	if (in->kind == OFS_FILE && in->pcoll != NULL)
		cs[n++] = in->pcoll; /* the pieces before the entry */
	if (e == O_OK && in->ino != OFS_ROOT_INO && !in->unlinked &&
	    (e = parent_coll(ns, in, &cs[n])) == O_OK)
		n++;
	if (e != O_OK)
		goto out_unlock;
	for (i = 0; i < n; i++) {
		if (kept == O_OK && cs[i]->err != O_OK)
			kept = cs[i]->err;
		coll_pin(cs[i]);
	}
	unlock_ns(ns);

	if (in->kind == OFS_DIARY) { /* cs[0]: its own */
		pthread_mutex_lock(&in->i_mtx);
		e = diary_emit_frag(in, cs[0]->c, wid);
		pthread_mutex_unlock(&in->i_mtx);
		if (e != O_OK)
			goto out_unpin;
	}
	if (commit) {
		for (i = 0; i < n && e == O_OK; i++)
			e = coll_sync(ns, cs[i]);
		if (e == O_OK && wait)
			e = ns_sync_disk(ns, ino, "fsync");
		else if (e != O_OK) {
			/* the work stays queued: keep it past a kill too */
			char why[1024];

			snprintf(why, sizeof(why), "%s", o_err_detail());
			if (ns_keep(ns, ino, op) != O_OK)
				o_log(O_LOG_ERROR, "%s", o_err_detail());
			e = o_err_set(e, "%s", why);
		}
		goto out_unpin;
	}
	/* async: the close acknowledges what is only queued */
	ke = ns_keep(ns, ino, "close");
	lock_ns(ns);
	for (i = 0; i < n; i++) {
		if (in->kind == OFS_DIARY)
			cs[i]->dirty = true;
		cs[i]->err = O_OK; /* reported now */
		cs[i]->pins--;
	}
	if (ke != O_OK) {
		e = ke;
	} else if (kept != O_OK) {
		char path[512];

		path_of(ns, ino, path, sizeof(path));
		e = o_err_set(kept,
		    "flush %s: an earlier background commit failed (%s); the "
		    "work stays queued",
		    path, o_errname(kept));
	}
out_unlock:
	unlock_ns(ns);
	return e;
out_unpin:
	lock_ns(ns);
	for (i = 0; i < n; i++)
		cs[i]->pins--;
	unlock_ns(ns);
	return e;
}

o_err
ofs_flush(struct ofs_ns *ns, uint64_t ino, uint64_t wid, bool wait)
{
	return flush_ino(ns, ino, wid, wait, wait || !ns->opts.async,
	    wait ? "fsync" : "close");
}

/* ---- xattrs --------------------------------------------------------------
 */

enum { OX_REV, OX_ENTRIES, OX_TAILHASH, OX_COLL, OX_N };

static const char *const ox_names[OX_N] = {
	OFS_OX_PREFIX "rev",
	OFS_OX_PREFIX "entries",
	OFS_OX_PREFIX "tailhash",
	OFS_OX_PREFIX "collection",
};

static int
ox_find(const char *name)
{
	int i;

	for (i = 0; i < OX_N; i++)
		if (strcmp(name, ox_names[i]) == 0)
			return i;
	return -1;
}

struct tail_arg {
	const struct oc_bid *col;
	uint8_t              h[32];
};

static o_err
tailhash_fn(struct oc_bstore *s, void *arg)
{
	struct tail_arg     *t = arg;
	struct oc_log        log;
	struct oc_chain_path p;
	struct oc_val        blk;
	o_err                e;

	if ((e = oc_log_open(&log, s, t->col)) != O_OK ||
	    (e = oc_chain_tail(&log.ch, &p, &blk)) != O_OK)
		return e;
	oc_log_block_hash(&blk, t->h);
	oc_val_fini(&blk);
	return O_OK;
}

/* Value of computed attribute which of in, read from oc (pinned). */
static o_err
ox_value_of(
    struct ofs_coll *oc, struct ofs_inode *in, int which, struct o_buf *out)
{
	struct tail_arg t;
	char            s[OC_BID_STRLEN], hex[65], num[32];
	uint64_t        n;
	o_err           e;

	switch (which) {
	case OX_REV:
		snprintf(num, sizeof(num), "%" PRId64, oc_coll_rev(oc->c));
		return o_buf_append(out, num, strlen(num));
	case OX_ENTRIES:
		if (in->kind == OFS_DIR) {
			if ((e = dir_count(oc->c, &n)) != O_OK)
				return e;
		} else {
			struct dread r;

			memset(&r, 0, sizeof(r));
			r.in = in;
			if ((e = diary_view(oc->c, &r)) != O_OK)
				return e;
			n = r.nent;
		}
		snprintf(num, sizeof(num), "%" PRIu64, n);
		return o_buf_append(out, num, strlen(num));
	case OX_TAILHASH:
		t.col = &oc->id;
		if ((e = oc_coll_read_again(oc->c, tailhash_fn, &t)) != O_OK)
			return e;
		o_hex(t.h, sizeof(t.h), hex);
		return o_buf_append(out, hex, 64);
	default:
		oc_bid_str(&oc->id, s);
		return o_buf_append(out, s, strlen(s));
	}
}

/* Value of computed attribute which (no lock held). */
static o_err
ox_value(struct ofs_ns *ns, struct ofs_inode *in, int which, struct o_buf *out)
{
	struct ofs_coll *oc;
	o_err            e;

	lock_ns(ns);
	e = in->kind == OFS_FILE ? parent_coll(ns, in, &oc)
	                         : inode_coll(ns, in, &oc);
	if (e == O_OK)
		coll_pin(oc);
	unlock_ns(ns);
	if (e != O_OK)
		return e;
	e = ox_value_of(oc, in, which, out);
	coll_unpin(ns, oc);
	return e;
}

static o_err
xattr_out(const void *p, size_t n, void *buf, size_t cap, size_t *len,
    const char *what)
{
	*len = n;
	if (cap == 0)
		return O_OK;
	if (cap < n)
		return o_err_set(O_ETOOBIG, "%s: %zu bytes do not fit in %zu",
		    what, n, cap);
	if (n > 0)
		memcpy(buf, p, n);
	return O_OK;
}

o_err
ofs_getxattr(struct ofs_ns *ns, uint64_t ino, const char *name, void *buf,
    size_t cap, size_t *len)
{
	struct ofs_inode    *in;
	const struct oc_val *v;
	struct o_buf         val = { 0 };
	char                 path[512], what[700];
	int                  which;
	o_err                e;

	*len = 0;
	lock_ns(ns);
	e = need_ino(ns, ino, "getxattr", &in);
	path_of(ns, ino, path, sizeof(path));
	snprintf(what, sizeof(what), "getxattr %s on %s", name, path);
	if (e == O_OK &&
	    strncmp(name, OFS_OX_PREFIX, strlen(OFS_OX_PREFIX)) != 0) {
		v = oc_map_bytes(&in->x, name);
		if (v == NULL)
			e = o_err_set(
			    O_ENOTFOUND, "%s: no such attribute", what);
		else
			o_buf_append(&val, v->u.s.p, v->u.s.n);
		unlock_ns(ns);
		goto out;
	}
	unlock_ns(ns);
	if (e != O_OK)
		goto out;
	which = ox_find(name);
	if (which < 0 || (which == OX_ENTRIES && in->kind == OFS_FILE)) {
		e = o_err_set(O_ENOTFOUND, "%s: no such attribute", what);
		goto out;
	}
	if ((e = ox_value(ns, in, which, &val)) != O_OK)
		e = o_err_wrap(e, "%s", what);
out:
	if (e == O_OK)
		e = xattr_out(val.data, val.len, buf, cap, len, what);
	o_buf_fini(&val);
	return e;
}

static o_err
xattr_change(struct ofs_ns *ns, uint64_t ino, const char *name,
    const void *val, size_t len, bool remove)
{
	const char       *op = remove ? "removexattr" : "setxattr";
	struct ofs_inode *in;
	char              path[512];
	o_err             e;

	lock_ns(ns);
	if ((e = need_ino(ns, ino, op, &in)) != O_OK)
		goto out;
	path_of(ns, ino, path, sizeof(path));
	if (strncmp(name, "user.", 5) != 0) {
		e = o_err_set(O_EPERM,
		    "%s %s on %s: only user.* attributes are supported", op,
		    name, path);
		goto out;
	}
	if (strncmp(name, OFS_OX_PREFIX, strlen(OFS_OX_PREFIX)) == 0) {
		e = o_err_set(O_EPERM, "%s %s on %s: read-only attribute", op,
		    name, path);
		goto out;
	}
	if (strlen(name) > OFS_NAME_MAX) {
		e = o_err_set(O_ENAMETOOLONG, "%s on %s: name of %zu bytes",
		    op, path, strlen(name));
		goto out;
	}
	if (len > OFS_XATTR_MAX) {
		e = o_err_set(O_ETOOBIG, "%s %s on %s: %zu bytes exceed %u",
		    op, name, path, len, OFS_XATTR_MAX);
		goto out;
	}
	if (in->ino == OFS_ROOT_INO) {
		e = o_err_set(O_EPERM,
		    "%s %s on /: the root has no entry to hold attributes", op,
		    name);
		goto out;
	}
	if (in->kind == OFS_DIARY) { /* a change it may make: settle first */
		unlock_ns(ns);
		if ((e = diary_settle(ns, ino, op)) != O_OK)
			return e;
		lock_ns(ns);
		if ((e = need_ino(ns, ino, op, &in)) != O_OK)
			goto out;
	}
	if ((e = ent_catch_up(ns, in)) != O_OK)
		goto out;
	if (remove) {
		if (!oc_map_del(&in->x, name)) {
			e = o_err_set(O_ENOTFOUND,
			    "removexattr %s on %s: no such attribute", name,
			    path);
			goto out;
		}
	} else {
		if (in->x.type != OC_MAP) {
			oc_val_fini(&in->x);
			in->x = oc_map();
		}
		oc_map_set(
		    &in->x, name, oc_bytes(val != NULL ? val : "", len));
	}
	diary_keep_mtime(in);
	in->ct = now_ns();
	e      = ent_stage(ns, in);
out:
	unlock_ns(ns);
	return e;
}

o_err
ofs_setxattr(struct ofs_ns *ns, uint64_t ino, const char *name,
    const void *val, size_t len)
{
	return xattr_change(ns, ino, name, val, len, false);
}

o_err
ofs_removexattr(struct ofs_ns *ns, uint64_t ino, const char *name)
{
	return xattr_change(ns, ino, name, NULL, 0, true);
}

o_err
ofs_listxattr(
    struct ofs_ns *ns, uint64_t ino, void *buf, size_t cap, size_t *len)
{
	struct ofs_inode *in;
	struct o_buf      names = { 0 };
	char              path[512], what[600];
	size_t            i;
	o_err             e;

	*len = 0;
	lock_ns(ns);
	if ((e = need_ino(ns, ino, "listxattr", &in)) == O_OK &&
	    in->x.type == OC_MAP)
		for (i = 0; i < in->x.u.m.n; i++)
			o_buf_append(&names, in->x.u.m.kv[i].key.u.s.p,
			    in->x.u.m.kv[i].key.u.s.n + 1);
	path_of(ns, ino, path, sizeof(path));
	unlock_ns(ns);
	if (e != O_OK)
		goto out;
	for (i = 0; i < OX_N; i++)
		if (!(i == OX_ENTRIES && in->kind == OFS_FILE))
			o_buf_append(
			    &names, ox_names[i], strlen(ox_names[i]) + 1);
	snprintf(what, sizeof(what), "listxattr %s", path);
	e = xattr_out(names.data, names.len, buf, cap, len, what);
out:
	o_buf_fini(&names);
	return e;
}

/* ---- refresh, stats, accessors -------------------------------------------
 */

o_err
ofs_ns_refresh(struct ofs_ns *ns, uint64_t ino)
{
	struct ofs_inode *in, *t;
	struct ofs_coll  *oc;
	o_err             e;

	lock_ns(ns);
	if ((e = need_ino(ns, ino, "refresh", &in)) == O_OK) {
		t = in->kind == OFS_FILE ? ino_get(ns, in->parent) : in;
		if ((e = inode_coll(ns, t, &oc)) == O_OK)
			coll_pin(oc);
	}
	unlock_ns(ns);
	if (e != O_OK)
		return e;
	return coll_refresh(ns, oc, 0, NULL, NULL);
}

/* Names of entries a directory's log entries touched (ofs_ns_changed). */
#define OFS_CHANGED_REVS 32  /* newer revisions read at most */
#define OFS_CHANGED_NAMES 64 /* names reported at most */

struct chg_names {
	const struct oc_bid *col;
	int64_t              from; /* entries after this rev */
	char                *v[OFS_CHANGED_NAMES];
	size_t               n;
	bool                 over; /* too many, or unreadable: none */
};

static void
chg_name_add(struct chg_names *cn, const uint8_t *k, size_t kl)
{
	size_t i;

	if (cn->over || kl == 0 || kl > OFS_NAME_MAX || memchr(k, 0, kl))
		return;
	for (i = 0; i < cn->n; i++)
		if (strlen(cn->v[i]) == kl && memcmp(cn->v[i], k, kl) == 0)
			return;
	if (cn->n == OFS_CHANGED_NAMES) {
		cn->over = true;
		return;
	}
	cn->v[cn->n] = o_malloc(kl + 1);
	memcpy(cn->v[cn->n], k, kl);
	cn->v[cn->n++][kl] = '\0';
}

/* Under the collection latch: the keys of the tree actions of the log
 * entries after cn->from ({t: "replace", kv: [[key, value]...]}). */
static o_err
chg_names_fn(struct oc_bstore *s, void *arg)
{
	struct chg_names    *cn = arg;
	struct oc_log        log;
	struct oc_val        ents, acts;
	const struct oc_val *kv, *pair;
	size_t               i, j, k;
	o_err                e;

	if ((e = oc_log_open(&log, s, cn->col)) != O_OK ||
	    (e = oc_log_after(&log, cn->from, &ents)) != O_OK)
		return e;
	for (i = 0; i < ents.u.a.n && e == O_OK; i++) {
		if ((e = oc_log_entry_acts(&ents.u.a.v[i], &acts)) != O_OK)
			break;
		for (j = 0; j < acts.u.a.n; j++) {
			if ((kv = oc_map_arr(&acts.u.a.v[j], "kv")) == NULL)
				continue;
			for (k = 0; k < kv->u.a.n; k++) {
				pair = &kv->u.a.v[k];
				if (pair->type == OC_ARRAY && pair->u.a.n > 0 &&
				    pair->u.a.v[0].type == OC_BYTES)
					chg_name_add(cn, pair->u.a.v[0].u.s.p,
					    pair->u.a.v[0].u.s.n);
			}
		}
		oc_val_fini(&acts);
	}
	oc_val_fini(&ents);
	return e;
}

o_err
ofs_ns_changed(struct ofs_ns *ns, const struct oc_bid *col, int64_t rev,
    ofs_changed_cb cb, void *arg)
{
	struct ofs_coll  *oc;
	struct ofs_inode *in, *ch;
	struct chg_names  cn;
	uint64_t          dino = 0, *kids = NULL;
	size_t            nkids = 0, i, j;
	int64_t           from, to;
	o_err             e;

	memset(&cn, 0, sizeof(cn));
	lock_ns(ns);
	oc = idmap_get(&ns->colls, col);
	if (oc == NULL || rev <= oc->told_rev) { /* not ours, or told */
		unlock_ns(ns);
		return O_OK;
	}
	coll_pin(oc); /* not a request: no inode the kernel holds keeps it */
	coll_pin(oc); /* given back by coll_refresh */
	unlock_ns(ns);
	if ((e = coll_refresh(ns, oc, 0, &from, &to)) != O_OK) {
		coll_unpin(ns, oc);
		return e;
	}
	/* a lookup or getattr may have taken the entries in already
	 * (seen_rev): the kernel was not told of them yet */
	lock_ns(ns);
	from = O_MIN(from, oc->told_rev);
	if (to > oc->told_rev)
		oc->told_rev = to;
	if (to <= from) {
		oc->pins--;
		unlock_ns(ns);
		return O_OK; /* the transactor does not show it yet */
	}
	unlock_ns(ns);
	if (oc->kind == OFS_DIR) {
		cn.col  = col;
		cn.from = from;
		/* the names are a refinement: without them the directory */
		if (to - from > OFS_CHANGED_REVS ||
		    oc_coll_read_again(oc->c, chg_names_fn, &cn) != O_OK)
			cn.over = true;
	}
	lock_ns(ns);
	if ((in = idmap_get(&ns->by_id, col)) != NULL) {
		dino = in->ino;
		if (in->kind != OFS_DIARY || in->coll != oc)
			in = NULL; /* no read index to extend */
	}
	for (i = 2; dino != 0 && !cn.over && cn.n > 0 && i < ns->ninodes;
	     i++) {
		if ((ch = ns->inodes[i]) == NULL || ch->parent != dino ||
		    ch->name == NULL)
			continue;
		for (j = 0; j < cn.n; j++)
			if (strcmp(ch->name, cn.v[j]) == 0) {
				kids = o_realloc(
				    kids, (nkids + 1) * sizeof(*kids));
				kids[nkids++] = ch->ino;
				break;
			}
	}
	unlock_ns(ns);
	if (in != NULL) /* count the new entries while they are cached */
		diary_index_catch_up(in, oc->c);
	if (dino != 0) {
		cb(arg, dino, NULL);
		for (j = 0; !cn.over && j < cn.n; j++)
			cb(arg, dino, cn.v[j]);
		for (i = 0; i < nkids; i++)
			cb(arg, kids[i], NULL);
	}
	/* only now: while it is open, dino is not freed nor reused */
	coll_unpin(ns, oc);
	for (j = 0; j < cn.n; j++)
		free(cn.v[j]);
	free(kids);
	return O_OK;
}

void
ofs_ns_stats(struct ofs_ns *ns, struct ofs_ns_stats *out)
{
	struct ofs_coll *oc;
	size_t           i;

	memset(out, 0, sizeof(*out));
	lock_ns(ns);
	for (oc = ns->coll_list; oc != NULL; oc = oc->next) {
		struct oc_coll_stats st;

		oc_coll_get_stats(oc->c, &st);
		out->commits += st.commits;
		out->conflicts += st.conflicts;
		out->pending += oc_coll_npending(oc->c);
		out->cache_bytes += oc_coll_cache_bytes(oc->c);
		out->queue_bytes += st.queue_bytes;
	}
	out->caches_dropped = ns->caches_dropped;
	for (i = 0; i < ns->ndirty; i++)
		if (ns->dirty[i]->dirty)
			out->pending++;
	out->bytes_written = ns->bytes_written;
	out->errors        = ns->errors;
	out->inodes        = ns->nlive;
	out->inodes_freed  = ns->evicted;
	out->collections   = ns->ncolls;
	out->colls_closed  = ns->colls_closed;
	out->file_bytes    = ns->loaded_bytes;
	for (i = 1; i < ns->ninodes; i++)
		if (ns->inodes[i] != NULL)
			out->file_pieces += ns->inodes[i]->npc;
	unlock_ns(ns);
}

o_err
ofs_ns_coll_id(struct ofs_ns *ns, uint64_t ino, struct oc_bid *out)
{
	struct ofs_inode *in;
	char              path[512];
	o_err             e;

	memset(out, 0, sizeof(*out));
	lock_ns(ns);
	if ((e = need_ino(ns, ino, "collection", &in)) != O_OK)
		goto out;
	if (in->kind == OFS_FILE) {
		path_of(ns, ino, path, sizeof(path));
		e = o_err_set(
		    O_EINVAL, "%s is a regular file, not a collection", path);
		goto out;
	}
	*out = in->id; /* a directory's or diary's collection id */
out:
	unlock_ns(ns);
	return e;
}

void
ofs_ns_path(struct ofs_ns *ns, uint64_t ino, char *buf, size_t cap)
{
	lock_ns(ns);
	path_of(ns, ino, buf, cap);
	unlock_ns(ns);
}
