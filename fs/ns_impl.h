/*
 * ns_impl.h - private structures of the namespace engine (fs/ns.c).
 *
 * Locks (the order in which they may be taken):
 *   1. ofs_inode.i_mtx   per diary: serialises appends (fragment + lines)
 *   2. ofs_ns.ns_mtx     the inode table, collection cache, file buffers
 *   3. collection latches (c_sync, c_mtx inside core/collection.c)
 * No lock of ours is held across oc_coll_sync.  Callbacks that core runs
 * under a collection latch (tree/diary scans, oc_coll_read) never take
 * ns_mtx or i_mtx.
 */
#ifndef OFS_NS_IMPL_H
#define OFS_NS_IMPL_H

#include <pthread.h>
#include <stdatomic.h>

#include "core/collection.h"
#include "core/o_util.h"
#include "fs/ahead.h"
#include "fs/ns.h"

/* A chained hash map from object id to pointer (ids are uniform bytes). */
struct ofs_idmap_ent {
	struct oc_bid         id;
	void                 *p;
	struct ofs_idmap_ent *next;
};

struct ofs_idmap {
	struct ofs_idmap_ent **b;
	size_t                 nb, n;
};

/* An open collection (a directory's tree, a diary, or a file's piece
 * tree), cached by id. */
struct ofs_coll {
	struct oc_bid id;        /* immutable */
	uint8_t       kind;      /* OFS_DIR, OFS_DIARY, OFS_FILE; immutable */
	struct oc_collection *c; /* immutable; freed when the collection
	                            is closed (colls_close_idle) */
	uint64_t              ino;   /* owning inode, for messages; ns_mtx */
	bool                  dirty; /* staged work not yet synced; ns_mtx */
	o_err                 err;   /* last failed sync, unreported; ns_mtx */
	bool     failing;       /* the last sync failed (logged); ns_mtx */
	uint64_t queued_bytes;  /* diary bytes appended, not yet committed;
	                          ns_mtx */
	struct ofs_coll **deps; /* to commit before this one (file pieces
	                           its staged records name); ns_mtx */
	size_t           ndeps, depcap; /* guarded by ns_mtx */
	/* a thread is committing the deps it took off the list: another
	 * sync of this collection waits for it (deps_cv) before its own
	 * commit, which would else name pieces not yet committed; ns_mtx */
	bool deps_busy;
	/* groups (renames, shared rmdirs) with a part staged here,
	 * committed with the other parts by coll_sync_group: a commit of
	 * this collection alone waits for them (deps_cv), or it would
	 * commit one part (and groups on one mount take turns: group_mtx) */
	uint32_t pairing;
	/* commits of this collection under way (coll_sync_deps took their
	 * seq): a record naming pieces is then staged after a seal */
	uint32_t syncs;
	/* Cross-mount visibility (see coll_refresh): when oc_coll_update
	 * last started (monotonic ns), and the rev up to which other mounts'
	 * changes were taken into account (inodes marked stale, reported by
	 * ofs_ns_changed); guarded by ns_mtx. */
	uint64_t         fresh_ns;
	int64_t          seen_rev;
	/* rev up to which other mounts' commits were reported to the kernel
	 * (ofs_ns_changed); request handlers' refreshes move seen_rev, not
	 * this, since they cannot tell the kernel (only the feed can) */
	int64_t          told_rev;
	uint64_t         used_ns; /* last reached (monotonic); ns_mtx */
	/* Lifetime (colls_close_idle; ns_mtx): pins: uses of this pointer
	 * with ns_mtx dropped that the kernel's hold on the owner inode
	 * does not cover (syncs, refreshes, the feed); deprefs: other
	 * collections' deps listing it. */
	uint32_t         pins, deprefs;
	struct ofs_coll *next; /* list of all; guarded by ns_mtx */
};

struct oc_journal;

/*
 * Diary read index: sparse marks (byte offset of the first entry of every
 * stride-th log block -> its log position; at most OFS_DMARK_MAX, thinned
 * by doubling the stride), the end of what has been counted, and a cursor:
 * the entry holding the end of the last read, where a sequential reader
 * goes on.  Log positions of committed entries never move (the log only
 * grows), so marks and cursor stay valid and the index only grows, by
 * one mark per log block at most: its memory does not follow the number
 * of entries.  Guarded by the diary collection's latch: it is only
 * touched inside oc_coll_read callbacks.
 */
struct ofs_dmark {
	uint64_t             off;
	struct oc_chain_path pos;
};

struct ofs_dindex {
	struct ofs_dmark    *m;
	size_t               n, cap;
	uint32_t             stride; /* log blocks between marks */
	uint32_t             since;  /* blocks since the last mark */
	bool                 has_end;
	struct oc_chain_path end;     /* last counted entry */
	int64_t              end_rev; /* its rev (0: none) */
	uint64_t             end_off; /* bytes of entries up to end */
	uint64_t             nent;    /* appends up to end */
	int64_t              end_ms;  /* its commit time (ms since the
	                               * epoch; atomic: read unlatched) */
	struct oc_aid        end_aid; /* end's action (zero: none) */
	bool                 has_cur;
	struct oc_chain_path cur;     /* entry where the last read ended */
	uint64_t             cur_off; /* its first byte */
	/* Kept across mounts as the diary's journal hint (dindex_save,
	 * dindex_load): hints is NULL when there is nowhere to keep it
	 * (immutable once set); hint_tried once the stored one was read
	 * (or must not be); saved_rev: end_rev of the stored hint (or of
	 * one seen newer than this index, not to be overwritten by it). */
	struct oc_journal *hints;
	bool               hint_tried;
	uint8_t            hint_stale; /* loads put off by O_ESTALE */
	int64_t            saved_rev;
	uint64_t           walked; /* log entries counted by walking */
	uint64_t           saved_walked; /* walked when last stored */
};

/* File pieces kept in memory across all inodes before clean ones are
 * evicted (each inode's least recently used first): the daemon's only
 * copy of file bytes, since a file's collection caches no chunks.  At 8
 * MiB random 4 KiB re-reads over a 24 MiB file ran at ~8 000/s against
 * ~12 500/s at 16 (docs/BENCHMARKS.md, eighth run). */
#define OFS_PIECE_BUDGET (16ull << 20)
/* Dirty pieces of one file before they are staged and committed: a
 * commit holds its data several times over while it runs (chunk blocks,
 * journal and commit write batches, RocksDB's copies), so this bound sets
 * the peak memory of a large write. */
#define OFS_DIRTY_MAX (2ull << 20)

/* A resident piece of a regular file: bytes [idx * OFS_PIECE, +b.len);
 * the rest of the piece reads as zeros. */
struct ofs_piece {
	uint64_t     idx;
	struct o_buf b;
	bool         dirty; /* newer than what is staged */
	bool         pin;   /* not evicted: a write in progress needs it */
	uint64_t     used;  /* last found or added (o_mono_ns): evicted LRU */
};

/* A writer's bytes after its last newline (diaries). */
struct ofs_frag {
	uint64_t     wid;
	struct o_buf b;
};

/* An inode: one object (directory, file, diary) seen by this mount. */
struct ofs_inode {
	uint64_t      ino;  /* immutable */
	struct oc_bid id;   /* immutable */
	uint8_t       kind; /* immutable */

	/* Lifetime (guarded by ns_mtx; inode_evict).  nlookup: the kernel's
	 * lookup count (entries handed to it minus forgotten); busy: pins of
	 * our own code using the inode with ns_mtx dropped; used_ns: last
	 * reached by a lookup, readdir or request (monotonic). */
	uint64_t nlookup;
	uint32_t busy;
	uint64_t used_ns;
	uint64_t gen; /* distinguishes reuses of ino; immutable */

	/* guarded by ns_mtx */
	uint64_t          parent;   /* directory ino holding the entry */
	uint64_t          nkids;    /* directories: inodes whose parent
	                               this is (it outlives them) */
	char             *name;     /* entry name (NULL for the root) */
	bool              unlinked; /* entry removed; changes not stored */
	bool              gone; /* unlinked by another mount (ns_mtx) */
	bool              stale;    /* entry may have changed (refresh) */
	/* shared, monotonic ns, 0 none: a directory's estale_ns, when an
	 * open of one of its entries found it replaced or removed (the
	 * kernel then looks the name up again: for OFS_REVAL_MS, lookups
	 * there read the directory anew, each a round trip, while such
	 * answers go on); an inode's reval_ns, when such a lookup found it
	 * (the next open takes that read as its own: ofs_open) */
	uint64_t          estale_ns, reval_ns;
	uint32_t          mode;
	struct ofs_owner  owner;
	int64_t           mt, ct;
	uint64_t          sz;          /* files */
	struct oc_val     x;           /* user xattrs: OC_NULL or OC_MAP */
	struct ofs_piece *pc;          /* resident pieces (files) */
	size_t            npc, pccap;  /* guarded by ns_mtx */
	size_t            pin_idx; /* in ns->pinodes while npc > 0; ns_mtx */
	uint64_t          dirty_bytes; /* OFS_PIECE per dirty piece */
	bool              inl;   /* bytes not resident are in the record's "d",
	                            not in the piece collection */
	struct ofs_coll *pcoll;  /* the file's piece collection once open */
	bool             pstale; /* pcoll needs an update: another mount
	                            rewrote the file */
	bool             dirty;  /* size/times newer than the entry */
	bool             on_dirty;       /* listed in ns->dirty */
	size_t           dirty_idx;      /* where, when on_dirty */
	uint64_t         last_write_ns;  /* monotonic */
	uint64_t         dirty_since_ns; /* monotonic: when it became dirty */
	bool             stage_failing;  /* the last staging failed (logged) */
	int64_t           nent; /* directories: entry count, -1 unknown */
	struct ofs_coll *coll; /* own collection (dirs, diaries) once open */

	/* diaries */
	pthread_mutex_t   i_mtx;
	struct ofs_frag  *frags;       /* writers' trailing fragments; i_mtx */
	size_t            nfrag, fcap; /* guarded by i_mtx */
	struct ofs_dindex idx; /* guarded by coll's latch; reset under ns_mtx
	                        * by inode_coll when it opens coll (no one
	                        * else holds the collection then) */
	int64_t           wrote_ns; /* this mount's last write (wall
	                             * clock; atomic) */
};

struct ofs_ns {
	struct oc_transactor *tx;      /* immutable */
	struct ofs_ns_opts    opts;    /* immutable */
	struct oc_sync_opts   sopts;   /* collections' (journal); immutable */
	int64_t               open_ns; /* mount time: root's times */

	pthread_mutex_t    ns_mtx;
	pthread_cond_t     ns_cv;     /* wakes the committer; ns_mtx */
	pthread_cond_t     deps_cv;   /* a deps_busy was cleared; ns_mtx */
	/* shared: held by a rename or rmdir from its reads to its group's
	 * end (before ns_mtx), so that one group's commit never takes
	 * another's staged part (its whole queue goes), whose other parts a
	 * rival may yet drop */
	pthread_mutex_t    group_mtx;
	struct ofs_inode **inodes;    /* by ino; guarded by ns_mtx */
	size_t             ninodes;   /* next ino; guarded by ns_mtx */
	size_t             nlive;     /* inodes in the table; ns_mtx */
	uint64_t          *ifree;     /* inos of evicted inodes, reused */
	size_t             nifree, ifcap; /* guarded by ns_mtx */
	uint64_t           evicted;   /* inodes freed (forget, sweep); ns_mtx */
	uint64_t           gen;       /* last inode generation; ns_mtx */
	uint64_t           sweep_ns;  /* last inodes_sweep (monotonic);
	                                 committer */
	uint64_t           idle_ns;   /* opts.inode_idle_ms; immutable */
	size_t             icap;      /* guarded by ns_mtx */
	struct ofs_idmap   by_id;     /* id -> inode; guarded by ns_mtx */
	struct ofs_idmap   colls;     /* id -> ofs_coll; guarded by ns_mtx */
	struct ofs_coll   *coll_list; /* guarded by ns_mtx */
	size_t             ncolls;    /* guarded by ns_mtx */
	struct ofs_inode **dirty;     /* inodes with unstaged data; ns_mtx */
	size_t             ndirty, dcap; /* guarded by ns_mtx */
	uint64_t           loaded_bytes; /* file pieces in memory; ns_mtx */
	/* inodes holding pieces (npc > 0), the eviction clock's face, and
	 * its hand (an index into it); guarded by ns_mtx */
	struct ofs_inode **pinodes;
	size_t             npinodes, pincap, evict_cur;
	uint32_t           root_mode;    /* guarded by ns_mtx */
	struct ofs_owner   root_owner;   /* guarded by ns_mtx */
	int64_t            root_mt, root_ct; /* guarded by ns_mtx */
	bool               stop;             /* guarded by ns_mtx */
	/* the root's attributes were last served unrefreshed (no
	 * majority: ofs_getattr), and when its refresh last failed
	 * (o_mono_ns), and whether a thread is trying it again */
	atomic_bool        root_stale;
	_Atomic uint64_t   root_fail_ns;
	atomic_bool        root_retrying;
	bool               started; /* committer running; immutable after
	                               open */
	pthread_t committer;
	/* diary read-ahead (fs/ahead.h); NULL when shared; immutable */
	struct ofs_ahead *ahead;
	uint64_t  trim_ns;       /* last colls_trim (monotonic); committer */
	uint64_t  mtrim_ns;      /* last malloc_trim (monotonic); committer */
	bool      sync_failing;  /* the last disk sync failed; committer */
	uint64_t  caches_dropped; /* by colls_trim; guarded by ns_mtx */
	uint64_t  colls_closed;   /* by colls_close_idle; ns_mtx */
	uint64_t  bytes_written; /* guarded by ns_mtx */
	uint64_t  errors;        /* guarded by ns_mtx */
};

#endif /* OFS_NS_IMPL_H */
