/*
 * link.h - requests and answers between peers over nng byte streams.
 *
 * A link is one connection from a client to a server (tls+tcp://, or
 * tcp:// with insecure, the rules of tls.h), carrying many requests at
 * once, each answered by its id.  On the wire it is nng's SP transport
 * with the req0 / rep0 protocols: an 8-byte header each way ("\0SP\0",
 * the protocol, 0, 0), then each message as a 64-bit big-endian length
 * and the message, whose first four bytes are the request id (high bit
 * set), echoed in the answer.  So an nng req0 socket can ask a link
 * server and a link can ask an nng rep0 socket (the tests do both).
 *
 * Why not nng's req0 / rep0 sockets: in nng 1.5.2 each message crosses
 * four or five layers (TCP, TLS, the SP transport, the protocol, the
 * context), each completing through a task queue thread; a 64-byte round
 * trip over TLS took ~260 us on this VM, against ~100 us for the same
 * bytes over nng's TLS stream read and written by our own threads (their
 * aios have no callback, so a completion wakes the waiting thread
 * directly).  See docs/BENCHMARKS.md (twenty-second run).
 *
 * Threads.  A client link has one thread that dials (again after a loss,
 * every 50 ms to 1 s), reads answers and hands each to its caller's
 * callback, a timer thread that ends requests at their deadline, and a
 * writer thread.  Requests are written by the threads that make them:
 * one at a time per connection, the others' requests queued meanwhile
 * and written with the next (so concurrent requests share TLS records
 * and system calls); a requesting thread writes only what was queued
 * when it began and leaves the rest to the writer thread, and the
 * link's own threads (callbacks) only queue.  A server has one thread
 * accepting, one per connection reading requests, and a pool of workers
 * that serve them and write the answers the same way.  Readers never
 * wait for a queue to drain, so two nodes asking each other cannot
 * block each other's answers.
 */
#ifndef OTR_LINK_H
#define OTR_LINK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <nng/nng.h>
#include <nng/supplemental/tls/tls.h>

#include "core/o_err.h"
#include "core/o_util.h"

struct otr_link;
struct otr_link_server;

/*
 * A request's outcome: e O_OK and the answer (ans, len: valid only during
 * the call), or an error and why ("no answer by the deadline", "connection
 * lost: ...", "link closed").  Called exactly once per otr_link_call, on
 * the link's thread or inside otr_link_call / otr_link_close themselves
 * (never with a lock of the link held).
 */
typedef void (*otr_link_done_fn)(
    void *arg, o_err e, const char *why, const uint8_t *ans, size_t len);

/*
 * Start a link to url (checked as otr_tls_dial does; tls is kept, not
 * copied: free it after otr_link_close).  It connects in the background
 * and again whenever the connection is lost.  max_msg bounds an answer;
 * a longer one closes the connection.  name is for the log.
 */
o_err otr_link_open(const char *url, nng_tls_config *tls, bool insecure,
    size_t max_msg, const char *name, struct otr_link **out);

/*
 * Send req (len bytes, copied) and call done(arg, ...) with the answer,
 * or with an error once deadline (ms, o_mono_ms's clock) has passed or the
 * connection is lost after the request was queued.  A request made while
 * the link is not connected waits for the connection until its deadline.
 * The calling thread writes a small request itself when no one else is
 * writing (the lowest latency); one over 64 KiB it leaves to the link's
 * writer thread, so it returns at once even when the peer reads nothing.
 */
void otr_link_call(struct otr_link *l, const uint8_t *req, size_t len,
    int64_t deadline, otr_link_done_fn done, void *arg);
/* otr_link_call, leaving the write to the link's writer thread whatever
 * the size: for a peer that may not be reading (it answered nothing for
 * a while). */
void otr_link_call_later(struct otr_link *l, const uint8_t *req, size_t len,
    int64_t deadline, otr_link_done_fn done, void *arg);

/*
 * Call fn(arg) on l's reading thread for each answer that comes after its
 * request ended (its deadline passed, or l gave it up): the answer itself
 * is dropped, but the peer is reading and answering again.  Set it once,
 * before the first request; fn must not call into l.
 */
void otr_link_on_late(struct otr_link *l, void (*fn)(void *arg), void *arg);

/* Whether l is connected; addr (may be NULL) gets the server's address,
 * or when l is not connected why its last attempt failed ("" if none
 * did yet), e.g. "Cryptographic error" for a certificate refused. */
bool otr_link_up(struct otr_link *l, char *addr, size_t cap);

/* Whether l's connection has TCP_NODELAY set (false when not connected):
 * for the tests (see otr_link_open's comment in link.c for why). */
bool otr_link_nodelay(struct otr_link *l);

/* Stop l: every request not answered yet gets O_ECLOSED ("link closed"),
 * then its thread is joined and l freed. */
void otr_link_close(struct otr_link *l);

/*
 * A request to serve: req (len bytes) came from peer ("1.2.3.4:5"); the
 * answer goes into ans (empty: none is sent, the client times out).
 * Runs on one of the server's workers.
 */
typedef void (*otr_link_serve_fn)(void *arg, const uint8_t *req, size_t len,
    const char *peer, struct o_buf *ans);

/*
 * Listen on url (rules of otr_tls_listen; tls kept, not copied) and serve
 * each request with serve on one of nworkers threads.  A connection that
 * fails its TLS handshake, speaks no SP req0, or sends a message longer
 * than max_msg is closed and logged with its address.
 */
o_err otr_link_listen(const char *url, nng_tls_config *tls, bool insecure,
    size_t max_msg, int nworkers, otr_link_serve_fn serve, void *arg,
    struct otr_link_server **out);

/* TCP port the server listens on (useful with port 0). */
int otr_link_server_port(struct otr_link_server *s);

/* A connection on which nothing arrives for ms (default 60 s) while
 * none of its requests is being served is closed and logged: members
 * say hello every second, so it is one whose peer's host went away
 * without closing it (power lost, cut off), which would otherwise hold
 * a thread and one of the 256 places for ever.  Its peer, if alive,
 * dials again.  A connection takes the new bound when it next waits for
 * a message (or, while serving one, when its bound is next extended).
 * The bound is the reader's progress, not the socket's: a process
 * stopped (SIGSTOP, a paused VM) for longer may close live peers'
 * connections when it resumes, failing their requests in flight. */
void otr_link_server_set_idle(struct otr_link_server *s, int64_t ms);

/* Connections refused so far: failed TLS handshakes (no certificate of
 * the cluster CA) and peers that spoke something else than SP req0. */
uint64_t otr_link_refusals(struct otr_link_server *s);

/* Stop accepting, close every connection, finish the workers (requests
 * not served yet are dropped), free s. */
void otr_link_server_stop(struct otr_link_server *s);

/* "1.2.3.4:5678" / "[::1]:5678" of sa, or "unknown address". */
void otr_sockaddr_str(const nng_sockaddr *sa, char *out, size_t cap);

#endif /* OTR_LINK_H */
