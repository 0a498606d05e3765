/*
 * o_err.h - the project's one error enum (shared base, prefix o_).
 *
 * Every action function returns an o_err.  Foreign error spaces (errno,
 * RocksDB status strings, nng codes) are translated once at the edge that
 * meets them; fs/ alone maps o_err to errno for FUSE.
 *
 * Besides the code, the failing function may record a human-readable detail
 * (what failed, on what, why) in a thread-local buffer with o_err_set();
 * o_err_detail() returns it.  The detail is advisory: callers branch on the
 * code only.
 */
#ifndef O_ERR_H
#define O_ERR_H

#include <stdarg.h>

typedef enum o_err {
	O_OK = 0,
	O_ENOMEM,     /* allocation failed */
	O_EINVAL,     /* bad argument from the caller */
	O_EBADMSG,    /* malformed encoding (CBOR, wire message, record) */
	O_ETOOBIG,    /* an item exceeds a size or depth limit */
	O_ENOTFOUND,  /* a required block or record does not exist */
	O_EEXIST,     /* the thing being created already exists */
	O_ESTALE,     /* revision already taken: rebase and retry */
	O_EPENDING,   /* another action holds a live pending on a block */
	O_ENOBASE,    /* an update has no base block to apply to */
	O_ENOPENDING, /* commit of an action that has no pending record */
	O_EEXPIRED,   /* the pending record expired before commit */
	O_ECORRUPT,  /* stored data failed a check (hash, decode, invariant) */
	O_EIO,       /* the store or disk reported an I/O error */
	O_ENOSPC,    /* the store's disk is full */
	O_EBUSY,     /* resource busy / lock held (e.g. store already open) */
	O_EUNAVAIL,  /* could not find out (peer or block unreachable) */
	O_ETIMEDOUT, /* an operation ran out of time */
	O_ERETRIES,  /* sync gave up after its retry budget */
	O_EVANISHED, /* a collection header read absent while holding a rev */
	O_ECLOSED,   /* object was closed */
	O_EPERM,     /* operation not permitted on this object */
	O_EINTERNAL, /* a bug: an invariant of our own code broke */
	O_ENOTDIR,   /* a path component is not a directory */
	O_EISDIR,    /* a directory where a file was expected */
	O_ENOTEMPTY, /* directory not empty */
	O_ENAMETOOLONG, /* a name longer than the limit */
	O_EBEHIND, /* a replica holds a block older than the writer's base */
	O_EFBIG,   /* a file would pass its size limit (the caller's doing) */
	O_EACCES,  /* the object's permission bits do not let this user */
	O_ERR_COUNT
} o_err;

/* Short name of the code ("O_ESTALE") and a sentence ("revision taken"). */
const char *o_errname(o_err e);
const char *o_strerror(o_err e);

/*
 * Record a detail for the current thread and return e, so that callers can
 * write `return o_err_set(O_EBADMSG, "block %s: ...", id)`.
 */
o_err o_err_set(o_err e, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
o_err o_err_vset(o_err e, const char *fmt, va_list ap)
    __attribute__((format(printf, 2, 0)));
/* Prefix the current detail with more context ("open diary x: ..."). */
o_err o_err_wrap(o_err e, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/* The last detail recorded on this thread, or "" */
const char *o_err_detail(void);
void        o_err_clear(void);

/* Translate an errno value (from a failed syscall) into o_err. */
o_err o_err_from_errno(int err);

#endif /* O_ERR_H */
