/*
 * node.h - a cluster node: membership, the peer server, and the network
 * transactor (DESIGN.md section 5; docs/PROTOCOL.md).
 *
 * A node serves its own replica (struct otr_replica) to peers on a rep0
 * socket and reaches the other members through one req0 socket each.  Its
 * transactor places every block on R members by rendezvous hashing over
 * SHA-256(member name || block id), sends each member one request with
 * all of its blocks, many in flight at once, and needs a majority of each
 * block's replicas for every pend, commit and read.
 */
#ifndef OTR_NODE_H
#define OTR_NODE_H

#include <stdbool.h>
#include <stdint.h>

#include "core/o_util.h"
#include "core/transactor.h"
#include "transport/exec.h"

struct otr_node_conf {
	const char *name;       /* this node's name (its certificate's) */
	const char *listen_url; /* tls+tcp://HOST:PORT (tcp:// if insecure) */
	const char *const *join; /* URLs of members to join (may be empty) */
	size_t      njoin;
	const char *certs_dir; /* cluster directory (transport/pki.h) */
	bool        insecure;  /* plain tcp://, no certificates */
	int         replicas;  /* R, default 3 */
	int64_t     timeout_ms; /* per operation, default 5000 */
	/* Where the member list is kept across restarts (NULL: not kept).
	 * A node that restarts knows the members it knew before any of
	 * them answers, so it does not place blocks on itself alone, as a
	 * new node does. */
	const char        *members_path;
	/* The replica's store holds no block (a new or emptied data
	 * directory).  With no member kept nor joined, such a node whose
	 * certificate directory says it has served before (nodes/NAME/
	 * served: written at a start that joins or finds data, else once
	 * the node founded a namespace (otr_node_served) or met another
	 * member) refuses to start: it would found a second, empty
	 * namespace beside its cluster's. */
	bool               empty_store;
	struct otr_replica replica;
	/* A commit of collection col at rev was announced on the feed, or
	 * made on this replica for another node (one thread calls it). */
	void (*on_change)(void *arg, const struct oc_bid *col, int64_t rev);
	void *change_arg;
	/* Optional: otr_node_stop names each step it enters (for a
	 * shutdown watchdog's log; step is a string literal).  sockets_only:
	 * the step only closes nng sockets; every thread that used the
	 * replica's store has been joined before it. */
	void (*on_stop_step)(void *arg, const char *step, bool sockets_only);
	void *stop_arg;
};

struct otr_node;

/*
 * Start: listen, dial the join URLs and learn the membership from the
 * first that answers (within timeout_ms; O_EUNAVAIL naming the URLs if
 * none does).  No join URLs: a cluster of one, others join it.  A node
 * that kept other members (members_path) tries each join URL for a second
 * and, if none answers (down, not refusing it), starts with those.  conf's
 * strings are copied: the caller's may go once this returns.
 */
o_err otr_node_start(const struct otr_node_conf *conf, struct otr_node **out);
void  otr_node_stop(struct otr_node *n);
/* The node's user made its namespace: a node that founded a cluster now
 * marks its certificate directory as served (otr_node_conf.empty_store);
 * otherwise nothing. */
void otr_node_served(struct otr_node *n);

/* The network transactor (borrowed; valid until otr_node_stop). */
struct oc_transactor *otr_node_transactor(struct otr_node *n);

/* Announce a commit of collection col at rev to every member's feed. */
void otr_node_publish(struct otr_node *n, const struct oc_bid *col,
    int64_t rev);

/* How many feed messages this node has sent. */
long otr_node_feed_messages(struct otr_node *n);

/* Human text: one line per member with its URL and state. */
void otr_node_status(struct otr_node *n, struct o_buf *out);

/* A member's rendezvous score for block id: the first 8 bytes of
 * SHA-256(name || id) read little-endian, the same on every host (the R
 * members with the highest hold the block; docs/PROTOCOL.md §3). */
uint64_t otr_place_score(const char *name, const struct oc_bid *id);
/* Number of members (this node included) and how many are connected. */
void otr_node_counts(struct otr_node *n, size_t *members, size_t *up);
/*
 * Member name's silence (false: no such member), in ms on the clock of
 * the node's deadlines (o_mono_ms): *next, when the second message
 * since its last answer went (0: fewer than two), and *at, when it falls
 * silent if it answers nothing more: *next plus the write grace plus 1 ms
 * per 8 KiB of those two messages (INT64_MAX: not on its way).
 */
bool otr_node_silence(
    struct otr_node *n, const char *name, int64_t *next, int64_t *at);
/*
 * The deadline of one request of len bytes to a peer, given the
 * operation's: a pend or install carrying more than 64 KiB gets 1 ms more
 * per 8 KiB, so a large transaction is not timed out by its size on a busy
 * disk (20 MiB: 2.5 s more); a commit (commit) keeps the operation's,
 * which net_commit bounds by the pendings' expiry.
 */
int64_t otr_call_deadline(bool commit, size_t len, int64_t deadline);

#endif /* OTR_NODE_H */
