/*
 * link.c - requests and answers over nng byte streams (link.h).
 *
 * Design notes.  Every aio here has no callback and is waited for by the
 * thread that started it (nng_aio_wait): nng then wakes that thread from
 * the thread that completed the I/O, with no task queue hop in between.
 * Each connection is written by one thread at a time (struct wchan): a
 * thread with something to send queues it and, if no one is writing,
 * writes what is queued, copying it together into one buffer (nng's TLS
 * stream sends only the first element of an iov, so the length and the
 * message must be contiguous to share a record).  A client's requesting
 * thread writes only what was queued when it began and leaves the rest
 * to the link's writer thread, and leaves it a large request (over
 * CALLER_WRITE_MAX) or one its caller hands off (otr_link_call_later)
 * whole: a peer that stops reading then holds the writer thread, not the
 * caller, which would otherwise not send its requests to the other peers
 * until the write gave up.  A server's worker writes until the queue is
 * empty.  The reading side of a connection is always one thread.
 */
#include "transport/link.h"

#include <arpa/inet.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "transport/tls.h"

enum {
	SP_REQ0     = 0x30,
	SP_REP0     = 0x31,
	HELLO_MS    = 10000, /* for the TLS handshake and the SP header */
	BODY_MS     = 30000, /* for the rest of a message once it began */
	SEND_MS     = 10000, /* for one write; then the connection goes */
	DIAL_MS     = 2000,
	BACKOFF_MIN = 50,
	BACKOFF_MAX = 1000,
	COALESCE    = 256 << 10, /* bytes of queued frames written at once */
	CALLER_WRITE_MAX = 64 << 10, /* larger requests: the writer thread */
	MAX_CONNS        = 256,      /* a server's peers' connections */
	MAX_HANDSHAKES   = 32, /* connections not yet verified, at most */
	MAX_HOPS         = 8,  /* ids in a request's header (nng's ttl) */
	MS_PER_MIB = 1000,     /* more time to move a large message: 1 MB/s */
	IDLE_MS   = 60000, /* a connection silent this long, serving nothing */
	HDR_SLACK = 4 * MAX_HOPS,
};

void
otr_sockaddr_str(const nng_sockaddr *sa, char *out, size_t cap)
{
	char ip[INET6_ADDRSTRLEN];

	snprintf(out, cap, "unknown address");
	if (sa->s_family == NNG_AF_INET &&
	    inet_ntop(AF_INET, &sa->s_in.sa_addr, ip, sizeof(ip)) != NULL)
		snprintf(out, cap, "%s:%u", ip, ntohs(sa->s_in.sa_port));
	else if (sa->s_family == NNG_AF_INET6 &&
	    inet_ntop(AF_INET6, sa->s_in6.sa_addr, ip, sizeof(ip)) != NULL)
		snprintf(out, cap, "[%s]:%u", ip, ntohs(sa->s_in6.sa_port));
}

static void
stream_peer(nng_stream *s, char *out, size_t cap)
{
	nng_sockaddr sa;

	if (nng_stream_get_addr(s, NNG_OPT_REMADDR, &sa) == 0)
		otr_sockaddr_str(&sa, out, cap);
	else
		snprintf(out, cap, "unknown address");
}

/*
 * Move n bytes at p over s.  A send waits at most SEND_MS; a receive has
 * no timeout, ever: nng 1.5.2's TLS stream aborts the TCP read under a
 * cancelled receive and so kills the connection (tls_cancel), and a
 * receive started after that never completes.  Receives are bounded by a
 * watchdog that closes the stream instead (phase_until).
 *
 * And an operation must never start on a TLS stream once it is closed:
 * nng 1.5.2's tls_close fails the operations queued then, but one started
 * after it waits forever.  So every close of a stream happens under its
 * owner's mutex and sets the owner's flag (*g.closed), and every
 * operation starts under the same mutex after checking the flag.
 */
struct guard {
	pthread_mutex_t *mtx;
	bool            *closed;
};

/* Close s for good (g.mtx held). */
static void
guard_close(struct guard g, nng_stream *s)
{
	*g.closed = true;
	nng_stream_close(s);
}

static int
xfer(struct guard g, nng_stream *s, nng_aio *aio, uint8_t *p, size_t n,
    bool send)
{
	size_t done = 0;
	int    rv   = 0;

	while (done < n) {
		nng_iov iov = { .iov_buf = p + done, .iov_len = n - done };

		nng_aio_set_iov(aio, 1, &iov);
		nng_aio_set_timeout(
		    aio, send ? SEND_MS : NNG_DURATION_INFINITE);
		pthread_mutex_lock(g.mtx);
		if (*g.closed) {
			pthread_mutex_unlock(g.mtx);
			rv = NNG_ECLOSED;
			break;
		}
		if (send)
			nng_stream_send(s, aio);
		else
			nng_stream_recv(s, aio);
		pthread_mutex_unlock(g.mtx);
		nng_aio_wait(aio);
		if ((rv = nng_aio_result(aio)) != 0)
			break;
		if (nng_aio_count(aio) == 0) {
			rv = NNG_ECLOSED;
			break;
		}
		done += nng_aio_count(aio);
	}
	return done == n ? 0 : rv;
}

static const uint8_t sp_magic[4] = { 0, 'S', 'P', 0 };

/* What to add to nng's "Cryptographic error" or "Peer could not be
 * authenticated", all it says of a TLS handshake that failed (on the
 * first bytes of a connection). */
static const char *
crypto_hint(int rv)
{
	return rv == NNG_ECRYPTO || rv == NNG_EPEERAUTH
	    ? " (the TLS handshake failed: a certificate of another cluster "
	      "CA on either side, one that does not name this peer, or one "
	      "expired or not yet valid: compare the nodes' clocks)"
	    : "";
}

/* The SP header exchange: ours out, the peer's in and checked (proto
 * want).  Returns an nng error, or NNG_EPROTO with why set. */
static int
sp_hello(struct guard g, nng_stream *s, nng_aio *aio, int ours, int want,
    char *why, size_t cap)
{
	uint8_t h[8] = { 0, 'S', 'P', 0, 0, (uint8_t) ours, 0, 0 };
	int     rv;

	if ((rv = xfer(g, s, aio, h, 8, true)) != 0 ||
	    (rv = xfer(g, s, aio, h, 8, false)) != 0) {
		snprintf(why, cap, "%s%s", nng_strerror(rv), crypto_hint(rv));
		return rv;
	}
	if (memcmp(h, sp_magic, 4) != 0 || h[6] != 0 || h[7] != 0 ||
	    (h[4] << 8 | h[5]) != want) {
		snprintf(why, cap,
		    "not an SP %s peer (header %02x %02x %02x %02x %02x %02x "
		    "%02x %02x)",
		    want == SP_REQ0 ? "req0" : "rep0", h[0], h[1], h[2], h[3],
		    h[4], h[5], h[6], h[7]);
		return NNG_EPROTO;
	}
	return 0;
}

/* ---- a connection's writer -------------------------------------------- */

struct wframe {
	struct wframe *next;
	uint32_t       id; /* a client's request id (0: an answer) */
	bool           bg; /* for the writer thread only (wchan_drain) */
	size_t         len;
	uint8_t        b[];
};

/* Frames to write on a connection and who writes them, under its
 * owner's mutex; the owner's cv is told when writing turns false, and
 * wake (a client link's writer thread; NULL on a server) when frames are
 * left for it. */
struct wchan {
	struct wframe   *h, *t;
	nng_stream      *s; /* NULL: not connected */
	bool             writing;
	int64_t          write_until; /* while writing: closed after it */
	nng_aio         *aio;         /* the writer's */
	struct o_buf     scratch;
	pthread_mutex_t *mtx;
	pthread_cond_t  *cv;
	pthread_cond_t  *wake;
	bool            *closed; /* the owner's flag (struct guard) */
};

/* Time allowed for moving n bytes in one step (a write, a message's
 * rest): base plus 1 s per MiB, so a large message on a slow path is not
 * taken for a stuck one. */
static int64_t
step_ms(int64_t base, size_t n)
{
	return base + (int64_t) (n >> 20) * MS_PER_MIB;
}

static struct wframe *
wframe_new(uint32_t id, size_t payload)
{
	struct wframe *f = o_malloc(sizeof(*f) + 8 + payload);

	f->next = NULL;
	f->id   = id;
	f->bg   = false;
	f->len  = 8 + payload;
	o_be64_put(f->b, payload);
	return f;
}

static void
wframes_free(struct wframe *f)
{
	while (f != NULL) {
		struct wframe *nx = f->next;

		free(f);
		f = nx;
	}
}

/*
 * Write w's queue, unless another thread writes or nothing is connected
 * (mtx held; dropped while writing).  With once (a requesting thread of a
 * client link), only what was queued when it began, and nothing from the
 * first frame left to the writer thread (bg: large, or to a peer that
 * may not read) on; what is left goes to the writer thread (w->wake): a
 * caller is neither kept writing other callers' requests for as long as
 * they keep coming nor held in a write meant for that thread.  Otherwise
 * until the queue is empty.  A failed write closes the stream: its reader then
 * sees the loss.
 */
static void
wchan_drain(struct wchan *w, bool once)
{
	struct wframe *end;

	if (w->writing || w->s == NULL)
		return;
	w->writing = true;
	end        = w->t;
	while (w->h != NULL && w->s != NULL && !(once && w->h->bg)) {
		nng_stream    *s     = w->s;
		struct wframe *batch = w->h, *last = w->h, *f;
		size_t         total = w->h->len;
		uint8_t       *p     = w->h->b;
		int            rv;
		bool           ends = last == end;

		while (!ends && last->next != NULL &&
		    !(once && last->next->bg) &&
		    total + last->next->len <= COALESCE) {
			last = last->next;
			total += last->len;
			ends = last == end;
		}
		w->h       = last->next;
		last->next = NULL;
		if (w->h == NULL)
			w->t = NULL;
		/* a bound of our own besides the aio's timeout: the timer
		 * or watchdog closes a stream whose write outlives it, so
		 * no requesting thread can hang in here */
		w->write_until = o_mono_ms() + step_ms(SEND_MS + 2000, total);
		pthread_mutex_unlock(w->mtx);
		if (batch->next != NULL) {
			o_buf_reset(&w->scratch);
			for (f = batch; f != NULL; f = f->next)
				o_buf_append(&w->scratch, f->b, f->len);
			p = w->scratch.data;
		}
		rv = xfer((struct guard) { w->mtx, w->closed }, s, w->aio, p,
		    total, true);
		wframes_free(batch);
		if (w->scratch.cap > 4 * COALESCE)
			o_buf_fini(&w->scratch);
		pthread_mutex_lock(w->mtx);
		if (rv != 0) {
			if (w->s == s)
				guard_close(
				    (struct guard) { w->mtx, w->closed }, s);
			break;
		}
		if (once && ends)
			break;
	}
	w->writing = false;
	pthread_cond_broadcast(w->cv);
	if (w->h != NULL && w->s != NULL && w->wake != NULL)
		pthread_cond_signal(w->wake);
}

/* Queue f on w; write now (wchan_drain) when write, else leave it to
 * the writer thread (mtx held). */
static void
wchan_push(struct wchan *w, struct wframe *f, bool write, bool once)
{
	if (w->t != NULL)
		w->t->next = f;
	else
		w->h = f;
	w->t = f;
	if (write)
		wchan_drain(w, once);
	else if (!w->writing && w->s != NULL && w->wake != NULL)
		pthread_cond_signal(w->wake);
}

/* Whether w's write under way outlived its bound (mtx held). */
static bool
wchan_stuck(const struct wchan *w, int64_t now)
{
	return w->writing && w->s != NULL && w->write_until <= now;
}

/* The stream goes (mtx held): no write starts on it any more, and the
 * one under way has ended when this returns. */
static void
wchan_detach(struct wchan *w)
{
	if (w->s != NULL)
		guard_close((struct guard) { w->mtx, w->closed }, w->s);
	w->s = NULL;
	while (w->writing)
		pthread_cond_wait(w->cv, w->mtx);
}

static o_err
wchan_init(struct wchan *w, pthread_mutex_t *mtx, pthread_cond_t *cv,
    pthread_cond_t *wake, bool *closed)
{
	int rv;

	memset(w, 0, sizeof(*w));
	w->mtx    = mtx;
	w->cv     = cv;
	w->wake   = wake;
	w->closed = closed;
	if ((rv = nng_aio_alloc(&w->aio, NULL, NULL)) != 0)
		return o_err_set(
		    otr_err_from_nng(rv), "nng aio: %s", nng_strerror(rv));
	return O_OK;
}

static void
wchan_fini(struct wchan *w)
{
	wframes_free(w->h);
	w->h = w->t = NULL;
	if (w->aio != NULL)
		nng_aio_free(w->aio);
	o_buf_fini(&w->scratch);
}

/* ---- client ----------------------------------------------------------- */

/* Set on a link's own threads (reader, timer): a request they make (from
 * a callback) is only queued, for the writer thread; they never write. */
static __thread bool on_link_thread;

struct lcall {
	struct lcall    *next;
	uint32_t         id;
	int64_t          deadline;
	otr_link_done_fn done;
	void            *arg;
};

struct otr_link {
	char               url[256], name[64], peer[64];
	char               why[256]; /* why the last attempt failed */
	bool               tls;
	size_t             max_msg;
	nng_stream_dialer *d;
	nng_aio           *raio; /* the reader's: dial, handshake, reads */
	pthread_mutex_t    mtx;
	pthread_cond_t     cv;  /* writing ended; the reader's backoff */
	pthread_cond_t     tcv; /* the timer's */
	pthread_cond_t     wcv; /* the writer thread's */
	struct wchan       w;
	nng_stream        *cur;    /* the reader's stream, from dial to free */
	bool               closed; /* cur is closed (struct guard) */
	int64_t            phase_until; /* cur is closed after this */
	int64_t            dial_until;  /* raio's dial is cancelled after */
	int64_t            timer_at;    /* when the timer wakes next */
	struct lcall      *calls;
	uint32_t           next_id;
	void (*late)(void *arg); /* an answer after its request ended */
	void              *late_arg;
	bool               stop, started, timer_started, writer_started;
	pthread_t          th, timer, writer;
};

#define LGUARD(l) ((struct guard) { &(l)->mtx, &(l)->closed })

/* Unlink and return l's calls that deadline <= now, and their frames
 * still queued (mtx held); all of them when now is INT64_MAX. */
static struct lcall *
calls_take(struct otr_link *l, int64_t now)
{
	struct lcall   *out = NULL, **pp = &l->calls;
	struct wframe **fp;

	while (*pp != NULL) {
		struct lcall *c = *pp;

		if (c->deadline > now) {
			pp = &c->next;
			continue;
		}
		*pp     = c->next;
		c->next = out;
		out     = c;
		l->w.t  = NULL;
		for (fp = &l->w.h; *fp != NULL;) {
			if ((*fp)->id == c->id) {
				struct wframe *f = *fp;

				*fp = f->next;
				free(f);
				continue;
			}
			l->w.t = *fp;
			fp     = &(*fp)->next;
		}
	}
	return out;
}

static void
calls_fail(struct lcall *c, o_err e, const char *why)
{
	while (c != NULL) {
		struct lcall *nx = c->next;

		c->done(c->arg, e, why, NULL, 0);
		free(c);
		c = nx;
	}
}

/* Set how long the reader's current step may take (mtx not held). */
static void
link_phase(struct otr_link *l, int64_t ms)
{
	pthread_mutex_lock(&l->mtx);
	l->phase_until = ms < 0 ? INT64_MAX : o_mono_ms() + ms;
	if (l->phase_until < l->timer_at)
		pthread_cond_signal(&l->tcv);
	pthread_mutex_unlock(&l->mtx);
}

/* Start thread *t running fn(arg) and set *started; or an error naming
 * url and what the thread is for. */
static o_err
thread_start(pthread_t *t, void *(*fn)(void *), void *arg, bool *started,
    const char *url, const char *what)
{
	int rv = pthread_create(t, NULL, fn, arg);

	if (rv != 0)
		return o_err_set(O_EINTERNAL, "%s: no %s thread: %s", url,
		    what, strerror(rv));
	*started = true;
	return O_OK;
}

/*
 * The timer: fails calls whose deadline passed, and closes the stream of
 * a reader stuck in a step past its bound (a handshake, the rest of an
 * answer), which the reader then sees as the connection lost.
 */
static void *
link_timer(void *arg)
{
	struct otr_link *l = arg;

	(void) pthread_setname_np(pthread_self(), "otr-link-timer");
	on_link_thread = true;
	pthread_mutex_lock(&l->mtx);
	while (!l->stop) {
		int64_t       now = o_mono_ms(), next = now + 1000;
		struct lcall *c, *gone;

		if (l->cur != NULL && !l->closed &&
		    (l->phase_until <= now || wchan_stuck(&l->w, now))) {
			o_log(O_LOG_INFO,
			    "link to %s (%s): no progress in time (%s); "
			    "closing the connection",
			    l->name, l->url,
			    l->phase_until <= now ? "reading" : "writing");
			guard_close(LGUARD(l), l->cur);
			l->phase_until = INT64_MAX;
		}
		if (l->dial_until <= now) {
			nng_aio_cancel(l->raio);
			l->dial_until = INT64_MAX;
		}
		if ((gone = calls_take(l, now)) != NULL) {
			bool up = l->w.s != NULL;

			pthread_mutex_unlock(&l->mtx);
			calls_fail(gone, O_ETIMEDOUT,
			    up ? "no answer by the deadline"
			       : "not connected by the deadline");
			pthread_mutex_lock(&l->mtx);
			continue;
		}
		for (c = l->calls; c != NULL; c = c->next)
			next = O_MIN(next, c->deadline);
		if (l->cur != NULL && !l->closed) /* else ends on its own */
			next = O_MIN(next, l->phase_until);
		if (l->w.writing && !l->closed)
			next = O_MIN(next, l->w.write_until);
		next        = O_MIN(next, l->dial_until);
		l->timer_at = next;
		if (next > now) {
			struct timespec ts =
			    o_abstime(CLOCK_MONOTONIC, next - now);

			pthread_cond_timedwait(&l->tcv, &l->mtx, &ts);
		}
	}
	pthread_mutex_unlock(&l->mtx);
	return NULL;
}

/* Dial and say hello: a stream ready for requests, or NULL with why. */
static nng_stream *
link_connect(struct otr_link *l, char *why, size_t cap)
{
	nng_stream *s;
	bool        verified = false;
	int         rv;

	/* nng's own timeout runs on its clock, which in nng 1.5.2 is the
	 * wall clock: the timer also cancels the dial on the monotonic one
	 * (a clock set back would hold a dial to a silent host that long) */
	nng_aio_set_timeout(l->raio, DIAL_MS);
	nng_stream_dialer_dial(l->d, l->raio);
	pthread_mutex_lock(&l->mtx); /* set once the dial is under way */
	l->dial_until = o_mono_ms() + DIAL_MS + 500;
	if (l->dial_until < l->timer_at)
		pthread_cond_signal(&l->tcv);
	pthread_mutex_unlock(&l->mtx);
	nng_aio_wait(l->raio);
	pthread_mutex_lock(&l->mtx);
	l->dial_until = INT64_MAX;
	pthread_mutex_unlock(&l->mtx);
	if ((rv = nng_aio_result(l->raio)) != 0) {
		snprintf(
		    why, cap, "dial: %s%s", nng_strerror(rv), crypto_hint(rv));
		return NULL;
	}
	s = nng_aio_get_output(l->raio, 0);
	pthread_mutex_lock(&l->mtx);
	l->cur         = s;
	l->closed      = false;
	l->phase_until = o_mono_ms() + HELLO_MS;
	if (l->stop)
		guard_close(LGUARD(l), s);
	pthread_mutex_unlock(&l->mtx);
	rv = sp_hello(LGUARD(l), s, l->raio, SP_REQ0, SP_REP0, why, cap);
	if (rv == 0 && l->tls &&
	    (nng_stream_get_bool(s, NNG_OPT_TLS_VERIFIED, &verified) != 0 ||
	        !verified)) {
		snprintf(why, cap, "the server's certificate is not verified");
		rv = NNG_EPEERAUTH;
	}
	if (rv != 0) {
		pthread_mutex_lock(&l->mtx);
		guard_close(LGUARD(l), s);
		l->cur = NULL;
		pthread_mutex_unlock(&l->mtx);
		nng_stream_free(s);
		return NULL;
	}
	return s;
}

/* Read answers from s until it fails; why gets the reason. */
static void
link_read(struct otr_link *l, nng_stream *s, char *why, size_t cap)
{
	uint8_t  h[8], *buf;
	uint64_t len;
	int      rv;

	link_phase(l, -1); /* idle as long as it likes, between answers */
	for (;;) {
		struct lcall *c, **pp;
		uint32_t      id;
		void (*late)(void *);
		void *late_arg;

		if ((rv = xfer(LGUARD(l), s, l->raio, h, 8, false)) != 0) {
			snprintf(why, cap, "%s", nng_strerror(rv));
			return;
		}
		len = o_be64_get(h);
		if (len < 4 || len > l->max_msg + HDR_SLACK) {
			snprintf(why, cap,
			    "an answer of %" PRIu64 " bytes (at most %zu)",
			    len, l->max_msg + HDR_SLACK);
			return;
		}
		link_phase(l, step_ms(BODY_MS, (size_t) len));
		buf = o_malloc((size_t) len);
		if ((rv = xfer(LGUARD(l), s, l->raio, buf, (size_t) len,
		         false)) != 0) {
			snprintf(
			    why, cap, "%s (in an answer)", nng_strerror(rv));
			free(buf);
			return;
		}
		link_phase(l, -1);
		id = o_be32_get(buf);
		pthread_mutex_lock(&l->mtx);
		for (pp = &l->calls; *pp != NULL && (*pp)->id != id;
		     pp = &(*pp)->next)
			;
		c = *pp;
		if (c != NULL)
			*pp = c->next;
		late     = c == NULL ? l->late : NULL;
		late_arg = l->late_arg;
		pthread_mutex_unlock(&l->mtx);
		if (c != NULL) {
			c->done(c->arg, O_OK, "", buf + 4, (size_t) len - 4);
			free(c);
		} else if (late != NULL) { /* answered late: dropped */
			late(late_arg);
		}
		free(buf);
	}
}

/* The reader: connects (again), reads answers, fails what a lost
 * connection carried. */
static void *
link_run(void *arg)
{
	struct otr_link *l       = arg;
	int64_t          backoff = BACKOFF_MIN, up_at;
	char             why[256], last[256] = "", lostwhy[300];

	(void) pthread_setname_np(pthread_self(), "otr-link");
	on_link_thread = true;
	pthread_mutex_lock(&l->mtx);
	while (!l->stop) {
		struct lcall *lost;
		nng_stream   *s;

		pthread_mutex_unlock(&l->mtx);
		s = link_connect(l, why, sizeof(why));
		pthread_mutex_lock(&l->mtx);
		if (s == NULL) {
			if (strcmp(why, last) != 0 && !l->stop)
				o_log(O_LOG_DEBUG, "link to %s (%s): %s",
				    l->name, l->url, why);
			snprintf(l->why, sizeof(l->why), "%s", why);
			snprintf(last, sizeof(last), "%s", why);
			if (!l->stop) {
				struct timespec ts =
				    o_abstime(CLOCK_MONOTONIC, backoff);

				pthread_cond_timedwait(&l->cv, &l->mtx, &ts);
			}
			backoff = O_MIN(2 * backoff, BACKOFF_MAX);
			continue;
		}
		last[0] = '\0';
		up_at   = o_mono_ms();
		stream_peer(s, l->peer, sizeof(l->peer));
		l->w.s = s;
		if (l->stop)
			guard_close(LGUARD(l), s);
		if (l->w.h != NULL) /* queued while not connected */
			pthread_cond_signal(&l->wcv);
		pthread_mutex_unlock(&l->mtx);
		link_read(l, s, why, sizeof(why));
		pthread_mutex_lock(&l->mtx);
		wchan_detach(&l->w);
		l->cur = NULL;
		lost   = calls_take(l, INT64_MAX);
		pthread_mutex_unlock(&l->mtx);
		nng_stream_free(s);
		if (!l->stop)
			o_log(O_LOG_INFO,
			    "link to %s (%s): connection lost: %s", l->name,
			    l->url, why);
		snprintf(lostwhy, sizeof(lostwhy), "connection lost: %s", why);
		calls_fail(lost, l->stop ? O_ECLOSED : O_EUNAVAIL,
		    l->stop ? "link closed" : lostwhy);
		pthread_mutex_lock(&l->mtx);
		/* a server that drops us right after the hello is dialled
		 * with the backoff too, not in a tight loop */
		if (o_mono_ms() - up_at >= BACKOFF_MAX) {
			backoff = BACKOFF_MIN;
		} else if (!l->stop) {
			struct timespec ts =
			    o_abstime(CLOCK_MONOTONIC, backoff);

			pthread_cond_timedwait(&l->cv, &l->mtx, &ts);
			backoff = O_MIN(2 * backoff, BACKOFF_MAX);
		}
	}
	pthread_mutex_unlock(&l->mtx);
	return NULL;
}

/* The writer thread: writes what requesting threads left queued (their
 * own writes stop at what was queued when they began) and what the
 * link's own threads queued. */
static void *
link_writer(void *arg)
{
	struct otr_link *l = arg;

	(void) pthread_setname_np(pthread_self(), "otr-link-write");
	pthread_mutex_lock(&l->mtx);
	while (!l->stop) {
		if (l->w.h == NULL || l->w.writing || l->w.s == NULL) {
			pthread_cond_wait(&l->wcv, &l->mtx);
			continue;
		}
		wchan_drain(&l->w, false);
	}
	pthread_mutex_unlock(&l->mtx);
	return NULL;
}

o_err
otr_link_open(const char *url, nng_tls_config *tls, bool insecure,
    size_t max_msg, const char *name, struct otr_link **out)
{
	struct otr_link *l;
	int              rv;
	o_err            e;

	*out = NULL;
	if ((e = otr_tls_check_url(url, tls, insecure)) != O_OK)
		return e;
	if (strlen(url) >= sizeof(l->url))
		return o_err_set(O_EINVAL, "%s: URL too long", url);
	l = o_calloc(1, sizeof(*l));
	snprintf(l->url, sizeof(l->url), "%s", url);
	snprintf(l->name, sizeof(l->name), "%s", name ? name : url);
	l->tls         = strncmp(url, "tls", 3) == 0;
	l->max_msg     = max_msg;
	l->next_id     = (uint32_t) o_now_ms(); /* differs by restart */
	l->phase_until = INT64_MAX;
	l->dial_until  = INT64_MAX;
	l->timer_at    = INT64_MAX;
	pthread_mutex_init(&l->mtx, NULL);
	o_cond_init_mono(&l->cv);
	o_cond_init_mono(&l->tcv);
	o_cond_init_mono(&l->wcv);
	if ((e = wchan_init(&l->w, &l->mtx, &l->cv, &l->wcv, &l->closed)) !=
	    O_OK)
		goto fail;
	/* TCP_NODELAY: nng's streams leave Nagle on (its SP transport sets
	 * it itself); with it, a small message written while the last is
	 * not yet acknowledged waits for a delayed ACK, 40 ms on Linux:
	 * 64 writers on 3 nodes made 850 appends/s at p50 83 ms */
	if ((rv = nng_aio_alloc(&l->raio, NULL, NULL)) != 0 ||
	    (rv = nng_stream_dialer_alloc(&l->d, url)) != 0 ||
	    (rv = nng_stream_dialer_set_bool(
	         l->d, NNG_OPT_TCP_NODELAY, true)) != 0 ||
	    (l->tls &&
	        (rv = nng_stream_dialer_set_ptr(
	             l->d, NNG_OPT_TLS_CONFIG, tls)) != 0)) {
		e = o_err_set(otr_err_from_nng(rv), "dial %s: %s", url,
		    nng_strerror(rv));
		goto fail;
	}
	if ((e = thread_start(&l->timer, link_timer, l, &l->timer_started, url,
	         "timer")) != O_OK ||
	    (e = thread_start(&l->writer, link_writer, l, &l->writer_started,
	         url, "writer")) != O_OK ||
	    (e = thread_start(
	         &l->th, link_run, l, &l->started, url, "reader")) != O_OK)
		goto fail;
	*out = l;
	return O_OK;
fail:
	otr_link_close(l);
	return e;
}

static void
link_call(struct otr_link *l, const uint8_t *req, size_t len, int64_t deadline,
    otr_link_done_fn done, void *arg, bool later)
{
	struct lcall  *c = o_calloc(1, sizeof(*c));
	struct wframe *f;

	c->deadline = deadline;
	c->done     = done;
	c->arg      = arg;
	f           = wframe_new(0, 4 + len); /* copied outside the lock */
	memcpy(f->b + 12, req, len);
	pthread_mutex_lock(&l->mtx);
	if (l->stop) {
		pthread_mutex_unlock(&l->mtx);
		done(arg, O_ECLOSED, "link closed", NULL, 0);
		free(c);
		free(f);
		return;
	}
	c->id = f->id = l->next_id++ | 0x80000000u;
	f->bg         = later || len > CALLER_WRITE_MAX;
	o_be32_put(f->b + 8, c->id);
	c->next  = l->calls;
	l->calls = c;
	if (deadline < l->timer_at)
		pthread_cond_signal(&l->tcv);
	wchan_push(&l->w, f, !on_link_thread && !f->bg, true);
	pthread_mutex_unlock(&l->mtx);
}

void
otr_link_call(struct otr_link *l, const uint8_t *req, size_t len,
    int64_t deadline, otr_link_done_fn done, void *arg)
{
	link_call(l, req, len, deadline, done, arg, false);
}

void
otr_link_call_later(struct otr_link *l, const uint8_t *req, size_t len,
    int64_t deadline, otr_link_done_fn done, void *arg)
{
	link_call(l, req, len, deadline, done, arg, true);
}

void
otr_link_on_late(struct otr_link *l, void (*fn)(void *arg), void *arg)
{
	pthread_mutex_lock(&l->mtx);
	l->late     = fn;
	l->late_arg = arg;
	pthread_mutex_unlock(&l->mtx);
}

bool
otr_link_up(struct otr_link *l, char *addr, size_t cap)
{
	bool up;

	pthread_mutex_lock(&l->mtx);
	up = l->w.s != NULL;
	if (addr != NULL)
		snprintf(addr, cap, "%s", up ? l->peer : l->why);
	pthread_mutex_unlock(&l->mtx);
	return up;
}

bool
otr_link_nodelay(struct otr_link *l)
{
	bool on = false;

	pthread_mutex_lock(&l->mtx);
	if (l->w.s != NULL &&
	    nng_stream_get_bool(l->w.s, NNG_OPT_TCP_NODELAY, &on) != 0)
		on = false;
	pthread_mutex_unlock(&l->mtx);
	return on;
}

void
otr_link_close(struct otr_link *l)
{
	struct lcall *rest;

	if (l == NULL)
		return;
	pthread_mutex_lock(&l->mtx);
	l->stop = true;
	if (l->cur != NULL)
		guard_close(LGUARD(l), l->cur);
	pthread_cond_broadcast(&l->cv);
	pthread_cond_broadcast(&l->tcv);
	pthread_cond_broadcast(&l->wcv);
	pthread_mutex_unlock(&l->mtx);
	if (l->d != NULL)
		nng_stream_dialer_close(l->d);
	if (l->started)
		pthread_join(l->th, NULL);
	if (l->timer_started)
		pthread_join(l->timer, NULL);
	if (l->writer_started)
		pthread_join(l->writer, NULL);
	pthread_mutex_lock(&l->mtx);
	rest = calls_take(l, INT64_MAX);
	pthread_mutex_unlock(&l->mtx);
	calls_fail(rest, O_ECLOSED, "link closed");
	wchan_fini(&l->w);
	if (l->raio != NULL)
		nng_aio_free(l->raio);
	if (l->d != NULL)
		nng_stream_dialer_free(l->d);
	pthread_mutex_destroy(&l->mtx);
	pthread_cond_destroy(&l->cv);
	pthread_cond_destroy(&l->tcv);
	pthread_cond_destroy(&l->wcv);
	free(l);
}

/* ---- server ----------------------------------------------------------- */

struct sconn {
	struct otr_link_server *srv;
	struct sconn           *next;
	char                    peer[64];
	pthread_mutex_t         mtx;
	pthread_cond_t          cv;
	struct wchan            w;
	nng_stream             *cur;         /* until its reader frees it */
	int64_t                 phase_until; /* mtx: cur closed after it */
	bool                    idle; /* mtx: between messages (phase_until:
	                                 the idle bound) */
	bool                    closed;      /* cur is closed (struct guard) */
	int                     refs; /* srv->mtx: the reader, each job */
	bool hand;     /* srv->mtx: in its handshake, counted in nhand */
	bool verified; /* srv->mtx: a peer's, counted in nverified */
};

struct sjob {
	struct sjob  *next;
	struct sconn *c;
	uint8_t      *msg;
	size_t        len, hlen;
};

struct otr_link_server {
	char                 url[256];
	size_t               max_msg;
	otr_link_serve_fn    serve;
	void                *arg;
	nng_stream_listener *l;
	pthread_mutex_t      mtx;
	pthread_cond_t       cv;   /* jobs, readers gone */
	pthread_cond_t       wdcv; /* the watchdog's, told at stop */
	struct sjob         *jh, *jt;
	struct sconn        *conns;
	size_t               nreaders;
	size_t               nhand, nverified; /* sconn.hand, .verified */
	size_t               evicted;          /* not logged yet */
	int64_t              evict_ms; /* when evictions were last logged */
	char                 evict_last[64]; /* the last one's peer */
	bool                 stop, accepting, watching;
	pthread_t            acceptor, watchdog;
	pthread_t           *workers;
	int                  nw, port;
	_Atomic int64_t      idle_ms; /* otr_link_server_set_idle */
	atomic_uint_fast64_t refusals;
};

#define CGUARD(c) ((struct guard) { &(c)->mtx, &(c)->closed })

/* Drop a reference to c (srv->mtx held): the last frees it. */
static void
sconn_unref(struct sconn *c)
{
	struct otr_link_server *srv = c->srv;
	struct sconn          **pp;

	if (--c->refs > 0)
		return;
	for (pp = &srv->conns; *pp != c; pp = &(*pp)->next)
		;
	*pp = c->next;
	wchan_fini(&c->w);
	pthread_mutex_destroy(&c->mtx);
	pthread_cond_destroy(&c->cv);
	free(c);
}

/* How long c's reader may take for its current step (-1: no bound);
 * idle: the step is waiting for the next message. */
static void
sconn_phase(struct sconn *c, int64_t ms, bool idle)
{
	pthread_mutex_lock(&c->mtx);
	c->phase_until = ms < 0 ? INT64_MAX : o_mono_ms() + ms;
	c->idle        = idle;
	pthread_mutex_unlock(&c->mtx);
}

static void evict_note(struct otr_link_server *srv, int64_t now);

/* Closes the connections whose reader is stuck in a step past its bound
 * (a silent connection never finishing its handshake, a message never
 * finished): receives cannot time out (xfer). */
static void *
watch_run(void *arg)
{
	struct otr_link_server *srv = arg;

	(void) pthread_setname_np(pthread_self(), "otr-watchdog");
	pthread_mutex_lock(&srv->mtx);
	while (!srv->stop) {
		struct timespec ts   = o_abstime(CLOCK_MONOTONIC, 250);
		int64_t         now  = o_mono_ms();
		int64_t         idle = atomic_load(&srv->idle_ms); /* once */
		struct sconn   *c;

		if (idle < 1)
			idle = 1;

		for (c = srv->conns; c != NULL; c = c->next) {
			pthread_mutex_lock(&c->mtx);
			if (c->cur == NULL || c->closed) {
				pthread_mutex_unlock(&c->mtx);
				continue;
			}
			if (c->idle && c->phase_until <= now && c->refs > 1)
				/* a request of its own still served: not
				 * idle, whatever its peer says meanwhile (its
				 * answer's write is still checked below) */
				c->phase_until = now + idle;
			if (c->idle && c->phase_until <= now) {
				o_log(O_LOG_INFO,
				    "closed the connection from %s to %s: "
				    "nothing heard for %.1f s (a "
				    "member says hello every second; its "
				    "host may be gone without closing it)",
				    c->peer, srv->url, (double) idle / 1000);
				guard_close(CGUARD(c), c->cur);
				c->phase_until = INT64_MAX;
			} else if (c->phase_until <= now ||
			    wchan_stuck(&c->w, now)) {
				o_log(O_LOG_INFO,
				    "closed the connection from %s to %s: "
				    "%s in time",
				    c->peer, srv->url,
				    c->w.s == NULL ? "no handshake"
				        : c->phase_until <= now
				        ? "no whole message"
				        : "an answer not written");
				guard_close(CGUARD(c), c->cur);
				c->phase_until = INT64_MAX;
			}
			pthread_mutex_unlock(&c->mtx);
		}
		evict_note(srv, now);
		pthread_cond_timedwait(&srv->wdcv, &srv->mtx, &ts);
	}
	pthread_mutex_unlock(&srv->mtx);
	return NULL;
}

/* Handshake errors that mean the peer is not one of ours. */
static bool
refusal(int rv)
{
	return rv == NNG_EPEERAUTH || rv == NNG_ECRYPTO || rv == NNG_EPROTO ||
	    rv == NNG_ECONNRESET || rv == NNG_ECONNSHUT;
}

/* c's handshake is over, or no longer counted (srv->mtx held). */
static void
hand_done(struct sconn *c)
{
	if (c->hand)
		c->srv->nhand--;
	c->hand = false;
}

/* Log the evictions not logged yet (srv->mtx held), at most once a
 * second: hand_evict, and the watchdog for the last ones of a flood. */
static void
evict_note(struct otr_link_server *srv, int64_t now)
{
	if (srv->evicted == 0 || now - srv->evict_ms < 1000)
		return;
	o_log(O_LOG_WARN,
	    "closed %zu connection(s) to %s still in their handshake, to "
	    "make room for newer ones (at most %d at once), the last from %s",
	    srv->evicted, srv->url, MAX_HANDSHAKES, srv->evict_last);
	srv->evicted  = 0;
	srv->evict_ms = now;
}

/*
 * Make room for a new connection (srv->mtx held): close the oldest of
 * those still in their handshake.  Connections that say nothing would
 * otherwise hold their places for HELLO_MS each, and enough of them
 * (a scan, a flood) would keep every peer out; a peer's handshake takes
 * milliseconds, so only a flood of more than MAX_HANDSHAKES connections
 * in that time can close one (the peer dials again).
 */
static void
hand_evict(struct otr_link_server *srv)
{
	struct sconn *c, *old = NULL;

	for (c = srv->conns; c != NULL; c = c->next) /* newest first */
		if (c->hand)
			old = c;
	if (old == NULL)
		return;
	hand_done(old);
	pthread_mutex_lock(&old->mtx);
	if (old->cur != NULL && !old->closed) {
		guard_close(CGUARD(old), old->cur);
		srv->evicted++;
		snprintf(
		    srv->evict_last, sizeof(srv->evict_last), "%s", old->peer);
	}
	pthread_mutex_unlock(&old->mtx);
	evict_note(srv, o_mono_ms());
}

/* A connection's reader: hello, then requests to the workers. */
static void *
sconn_run(void *arg)
{
	struct sconn           *c   = arg;
	struct otr_link_server *srv = c->srv;
	nng_stream             *s   = c->cur;
	nng_aio                *aio = NULL;
	uint8_t                 h[8];
	char                    why[256];
	bool                    verified = false, evicted;
	int                     rv;

	(void) pthread_setname_np(pthread_self(), "otr-conn");
	if (nng_aio_alloc(&aio, NULL, NULL) != 0)
		goto out;
	sconn_phase(c, HELLO_MS, false);
	if ((rv = sp_hello(CGUARD(c), s, aio, SP_REP0, SP_REQ0, why,
	         sizeof(why))) != 0) {
		bool ours;

		pthread_mutex_lock(&c->mtx);
		ours = c->closed;
		pthread_mutex_unlock(&c->mtx);
		if (ours) {
			/* closed here (hand_evict, watch_run), which logs */
		} else if (rv != NNG_ECLOSED && refusal(rv)) {
			atomic_fetch_add(&srv->refusals, 1);
			o_log(O_LOG_WARN,
			    "refused a connection from %s to %s: %s (no "
			    "certificate of the cluster CA, or not a peer)",
			    c->peer, srv->url, why);
		} else if (rv != NNG_ECLOSED) {
			o_log(O_LOG_INFO,
			    "closed a connection from %s to %s: %s", c->peer,
			    srv->url, why);
		}
		goto out;
	}
	pthread_mutex_lock(&srv->mtx); /* not to be evicted from here on */
	evicted = !c->hand;
	hand_done(c);
	pthread_mutex_unlock(&srv->mtx);
	if (evicted) /* just after its handshake: hand_evict logged it */
		goto out;
	if (strncmp(srv->url, "tls", 3) == 0 &&
	    (nng_stream_get_bool(s, NNG_OPT_TLS_VERIFIED, &verified) != 0 ||
	        !verified)) {
		atomic_fetch_add(&srv->refusals, 1);
		o_log(O_LOG_WARN,
		    "refused peer %s: no certificate from the cluster CA",
		    c->peer);
		goto out;
	}
	pthread_mutex_lock(&srv->mtx);
	if (srv->nverified >= MAX_CONNS) { /* the handshakes in flight */
		pthread_mutex_unlock(&srv->mtx);
		o_log(O_LOG_WARN,
		    "closed a connection from %s to %s: %d peers' "
		    "connections already",
		    c->peer, srv->url, MAX_CONNS);
		goto out;
	}
	c->verified = true;
	srv->nverified++;
	pthread_mutex_unlock(&srv->mtx);
	o_log(O_LOG_DEBUG, "peer %s connected to %s", c->peer, srv->url);
	pthread_mutex_lock(&c->mtx);
	c->w.s = s;
	pthread_mutex_unlock(&c->mtx);
	for (;;) {
		struct sjob *j;
		uint64_t     len;
		size_t       hlen = 0;
		uint8_t     *buf;

		sconn_phase(c, atomic_load(&srv->idle_ms), true);
		if ((rv = xfer(CGUARD(c), s, aio, h, 8, false)) != 0)
			break;
		len = o_be64_get(h);
		sconn_phase(
		    c, step_ms(BODY_MS, (size_t) O_MIN(len, SIZE_MAX)), false);
		if (len > srv->max_msg + HDR_SLACK) {
			o_log(O_LOG_WARN,
			    "closed the connection from %s: a message of "
			    "%" PRIu64 " bytes, over the limit of %zu",
			    c->peer, len, srv->max_msg + HDR_SLACK);
			break;
		}
		buf = o_malloc(len > 0 ? (size_t) len : 1);
		if ((rv = xfer(CGUARD(c), s, aio, buf, (size_t) len, false)) !=
		    0) {
			free(buf);
			break;
		}
		while (hlen + 4 <= len && hlen < 4 * MAX_HOPS) {
			hlen += 4;
			if (buf[hlen - 4] & 0x80)
				break;
		}
		if (hlen == 0 || !(buf[hlen - 4] & 0x80)) {
			o_log(O_LOG_DEBUG,
			    "dropped a message from %s: no request id",
			    c->peer);
			free(buf);
			continue;
		}
		j       = o_malloc(sizeof(*j));
		j->next = NULL;
		j->c    = c;
		j->msg  = buf;
		j->len  = (size_t) len;
		j->hlen = hlen;
		pthread_mutex_lock(&srv->mtx);
		if (srv->stop) {
			pthread_mutex_unlock(&srv->mtx);
			free(buf);
			free(j);
			break;
		}
		c->refs++;
		if (srv->jt != NULL)
			srv->jt->next = j;
		else
			srv->jh = j;
		srv->jt = j;
		pthread_cond_signal(&srv->cv);
		pthread_mutex_unlock(&srv->mtx);
	}
out:
	pthread_mutex_lock(&c->mtx);
	if (c->w.s == NULL)
		guard_close(CGUARD(c), s);
	wchan_detach(&c->w);
	c->cur = NULL;
	pthread_mutex_unlock(&c->mtx);
	nng_stream_free(s);
	if (aio != NULL)
		nng_aio_free(aio);
	pthread_mutex_lock(&srv->mtx);
	hand_done(c);
	if (c->verified)
		srv->nverified--;
	c->verified = false;
	sconn_unref(c);
	srv->nreaders--;
	pthread_cond_broadcast(&srv->cv);
	pthread_mutex_unlock(&srv->mtx);
	return NULL;
}

static void *
accept_run(void *arg)
{
	struct otr_link_server *srv = arg;
	nng_aio                *aio;

	(void) pthread_setname_np(pthread_self(), "otr-accept");
	if (nng_aio_alloc(&aio, NULL, NULL) != 0)
		return NULL;
	for (;;) {
		struct sconn  *c;
		nng_stream    *s;
		pthread_attr_t at;
		pthread_t      th;
		int            rv;

		nng_stream_listener_accept(srv->l, aio);
		nng_aio_wait(aio);
		if ((rv = nng_aio_result(aio)) == NNG_ECLOSED ||
		    rv == NNG_ECANCELED)
			break;
		if (rv != 0) {
			o_log(O_LOG_WARN, "accept on %s: %s", srv->url,
			    nng_strerror(rv));
			o_sleep_ms(50);
			continue;
		}
		s              = nng_aio_get_output(aio, 0);
		c              = o_calloc(1, sizeof(*c));
		c->srv         = srv;
		c->cur         = s;
		c->phase_until = o_mono_ms() + HELLO_MS;
		stream_peer(s, c->peer, sizeof(c->peer));
		pthread_mutex_init(&c->mtx, NULL);
		o_cond_init_mono(&c->cv);
		pthread_mutex_lock(&srv->mtx);
		if (!srv->stop && srv->nverified < MAX_CONNS &&
		    srv->nhand >= MAX_HANDSHAKES)
			hand_evict(srv);
		if (srv->stop || srv->nverified >= MAX_CONNS ||
		    wchan_init(&c->w, &c->mtx, &c->cv, NULL, &c->closed) !=
		        O_OK) {
			bool stop = srv->stop;

			pthread_mutex_unlock(&srv->mtx);
			if (!stop)
				o_log(O_LOG_WARN,
				    "closed a connection from %s to %s: "
				    "%d peers' connections already",
				    c->peer, srv->url, MAX_CONNS);
			wchan_fini(&c->w);
			pthread_mutex_destroy(&c->mtx);
			pthread_cond_destroy(&c->cv);
			free(c);
			nng_stream_close(s);
			nng_stream_free(s);
			if (stop)
				break;
			continue;
		}
		c->refs    = 1;
		c->hand    = true;
		c->next    = srv->conns;
		srv->conns = c;
		srv->nhand++;
		srv->nreaders++;
		pthread_attr_init(&at);
		pthread_attr_setdetachstate(&at, PTHREAD_CREATE_DETACHED);
		if (pthread_create(&th, &at, sconn_run, c) != 0) {
			o_log(O_LOG_WARN, "%s: no thread for a connection",
			    srv->url);
			srv->nreaders--;
			hand_done(c);
			nng_stream_close(s);
			nng_stream_free(s);
			c->cur = NULL;
			sconn_unref(c);
		}
		pthread_attr_destroy(&at);
		pthread_mutex_unlock(&srv->mtx);
	}
	nng_aio_free(aio);
	return NULL;
}

static void *
worker_run(void *arg)
{
	struct otr_link_server *srv = arg;
	struct o_buf            ans = { 0 };

	(void) pthread_setname_np(pthread_self(), "otr-server");
	pthread_mutex_lock(&srv->mtx);
	for (;;) {
		struct sjob   *j;
		struct wframe *f;

		while (!srv->stop && srv->jh == NULL)
			pthread_cond_wait(&srv->cv, &srv->mtx);
		if (srv->stop)
			break;
		j       = srv->jh;
		srv->jh = j->next;
		if (srv->jh == NULL)
			srv->jt = NULL;
		pthread_mutex_unlock(&srv->mtx);
		o_buf_reset(&ans);
		srv->serve(srv->arg, j->msg + j->hlen, j->len - j->hlen,
		    j->c->peer, &ans);
		if (ans.len > 0) {
			f = wframe_new(0, j->hlen + ans.len);
			memcpy(f->b + 8, j->msg, j->hlen);
			memcpy(f->b + 8 + j->hlen, ans.data, ans.len);
			pthread_mutex_lock(&j->c->mtx);
			if (j->c->w.s != NULL)
				wchan_push(&j->c->w, f, true, false);
			else
				free(f);
			pthread_mutex_unlock(&j->c->mtx);
		}
		if (ans.cap > (1u << 20))
			o_buf_fini(&ans);
		free(j->msg);
		pthread_mutex_lock(&srv->mtx);
		sconn_unref(j->c);
		free(j);
	}
	pthread_mutex_unlock(&srv->mtx);
	o_buf_fini(&ans);
	return NULL;
}

o_err
otr_link_listen(const char *url, nng_tls_config *tls, bool insecure,
    size_t max_msg, int nworkers, otr_link_serve_fn serve, void *arg,
    struct otr_link_server **out)
{
	struct otr_link_server *srv;
	int                     rv, i;
	o_err                   e;

	*out = NULL;
	if ((e = otr_tls_check_url(url, tls, insecure)) != O_OK)
		return e;
	srv = o_calloc(1, sizeof(*srv));
	snprintf(srv->url, sizeof(srv->url), "%s", url);
	srv->max_msg = max_msg;
	atomic_init(&srv->idle_ms, IDLE_MS);
	srv->serve   = serve;
	srv->arg     = arg;
	srv->workers =
	    o_calloc((size_t) O_MAX(nworkers, 1), sizeof(pthread_t));
	pthread_mutex_init(&srv->mtx, NULL);
	o_cond_init_mono(&srv->cv);
	o_cond_init_mono(&srv->wdcv);
	if ((rv = nng_stream_listener_alloc(&srv->l, url)) != 0 ||
	    (rv = nng_stream_listener_set_bool(
	         srv->l, NNG_OPT_TCP_NODELAY, true)) != 0 ||
	    (tls != NULL && strncmp(url, "tls", 3) == 0 &&
	        (rv = nng_stream_listener_set_ptr(
	             srv->l, NNG_OPT_TLS_CONFIG, tls)) != 0) ||
	    (rv = nng_stream_listener_listen(srv->l)) != 0) {
		e = o_err_set(otr_err_from_nng(rv), "listen on %s: %s", url,
		    nng_strerror(rv));
		goto fail;
	}
	(void) nng_stream_listener_get_int(
	    srv->l, NNG_OPT_TCP_BOUND_PORT, &srv->port);
	for (i = 0; i < O_MAX(nworkers, 1); i++, srv->nw++)
		if (pthread_create(&srv->workers[i], NULL, worker_run, srv) !=
		    0) {
			e = o_err_set(
			    O_EINTERNAL, "%s: no worker thread", url);
			goto fail;
		}
	if ((e = thread_start(&srv->watchdog, watch_run, srv, &srv->watching,
	         url, "watchdog")) != O_OK ||
	    (e = thread_start(&srv->acceptor, accept_run, srv, &srv->accepting,
	         url, "accept")) != O_OK)
		goto fail;
	*out = srv;
	return O_OK;
fail:
	otr_link_server_stop(srv);
	return e;
}

int
otr_link_server_port(struct otr_link_server *s)
{
	return s->port;
}

void
otr_link_server_set_idle(struct otr_link_server *s, int64_t ms)
{
	atomic_store(&s->idle_ms, ms);
}

uint64_t
otr_link_refusals(struct otr_link_server *s)
{
	return atomic_load(&s->refusals);
}

void
otr_link_server_stop(struct otr_link_server *srv)
{
	struct sconn *c;
	int           i;

	if (srv == NULL)
		return;
	pthread_mutex_lock(&srv->mtx);
	srv->stop = true;
	pthread_cond_broadcast(&srv->cv);
	pthread_cond_broadcast(&srv->wdcv);
	pthread_mutex_unlock(&srv->mtx);
	if (srv->l != NULL)
		nng_stream_listener_close(srv->l);
	if (srv->accepting)
		pthread_join(srv->acceptor, NULL);
	/* every connection closed first: a worker writing an answer to a
	 * peer that does not read ends at once */
	pthread_mutex_lock(&srv->mtx);
	for (c = srv->conns; c != NULL; c = c->next) {
		pthread_mutex_lock(&c->mtx);
		if (c->cur != NULL)
			guard_close(CGUARD(c), c->cur);
		pthread_mutex_unlock(&c->mtx);
	}
	pthread_mutex_unlock(&srv->mtx);
	if (srv->watching)
		pthread_join(srv->watchdog, NULL);
	for (i = 0; i < srv->nw; i++)
		pthread_join(srv->workers[i], NULL);
	pthread_mutex_lock(&srv->mtx);
	while (srv->nreaders > 0)
		pthread_cond_wait(&srv->cv, &srv->mtx);
	while (srv->jh != NULL) {
		struct sjob *j = srv->jh;

		srv->jh = j->next;
		free(j->msg);
		sconn_unref(j->c);
		free(j);
	}
	pthread_mutex_unlock(&srv->mtx);
	if (srv->l != NULL)
		nng_stream_listener_free(srv->l);
	pthread_mutex_destroy(&srv->mtx);
	pthread_cond_destroy(&srv->cv);
	pthread_cond_destroy(&srv->wdcv);
	free(srv->workers);
	free(srv);
}
