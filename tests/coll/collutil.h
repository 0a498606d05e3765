/*
 * collutil.h - a real repository in a temp dir, and a fault-injecting
 * transactor decorator for collection tests.
 */
#ifndef OT_COLLUTIL_H
#define OT_COLLUTIL_H

#include "core/collection.h"
#include "store/local.h"
#include "store/repo.h"

struct ot_env {
	char                 *dir;
	struct ost_repo      *repo;
	struct oc_transactor *tx;
};

void ot_env_open(struct ot_env *env, const char *tag);
void ot_env_reopen(struct ot_env *env);
void ot_env_close(struct ot_env *env);

/* Decorator: forwards to inner, injecting faults while counters last. */
struct ot_faulty {
	struct oc_transactor  base;
	struct oc_transactor *inner;
	int                   stale_commits;  /* commits answered O_ESTALE */
	int                   io_commits;     /* commits answered O_EIO */
	int                   expired_commits; /* ... O_EEXPIRED, never sent */
	int                   io_after; /* >0: commits after this many fail */
	int                   io_status;      /* status calls answered O_EIO */
	/* commits answered O_EUNAVAIL: lost_commits after reaching the
	 * store (their answers lost), unavail_commits before (never sent);
	 * status calls answered O_EUNAVAIL (no majority to ask) */
	int                   lost_commits, unavail_commits, unavail_status;
	bool                  header_absent;  /* gets of hdr answer ABSENT */
	bool                  unknown;        /* every get answers UNKNOWN */
	/* commits reach the critical block only (the others keep their
	 * pendings: a phase 2 that never came) */
	bool                  crit_only;
	/* pends answered O_ESTALE about their first checked block, at the
	 * revision below theirs: a copy of ours changed at a revision we
	 * hold (the replica's stale-over-an-older-base answer) */
	int                   stale_below;
	struct oc_bid         hdr;
	int                   commits_seen;
	int                   cancels_seen;
	/* gets at a held context: after stale_skip of them, the next
	 * stale_gets answer that the store no longer keeps it (O_ESTALE,
	 * as when a rival's commits pruned it meanwhile) */
	int                   stale_skip, stale_gets, stale_seen;
};

/* Whether tree id holds key k in what is committed (read through tx by a
 * fresh collection). */
bool ot_tree_holds(
    struct oc_transactor *tx, const struct oc_bid *id, const char *k);

void ot_faulty_init(struct ot_faulty *f, struct oc_transactor *inner);
/* The same with pend_commit (inner's must exist): pend and commit at
 * once, as the local transactor does; only io_after is injected there. */
void ot_faulty_init_fused(struct ot_faulty *f, struct oc_transactor *inner);

#endif
