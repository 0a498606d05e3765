/*
 * o_err.c - error names, messages and the thread-local detail buffer.
 */
#include "core/o_err.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

static const struct {
	const char *name;
	const char *msg;
} o_err_table[O_ERR_COUNT] = {
	[O_OK]         = { "O_OK", "success" },
	[O_ENOMEM]     = { "O_ENOMEM", "out of memory" },
	[O_EINVAL]     = { "O_EINVAL", "invalid argument" },
	[O_EBADMSG]    = { "O_EBADMSG", "malformed encoding" },
	[O_ETOOBIG]    = { "O_ETOOBIG", "item exceeds a size or depth limit" },
	[O_ENOTFOUND]  = { "O_ENOTFOUND", "not found" },
	[O_EEXIST]     = { "O_EEXIST", "already exists" },
	[O_ESTALE]     = { "O_ESTALE", "revision already taken" },
	[O_EPENDING]   = { "O_EPENDING", "another action is pending" },
	[O_ENOBASE]    = { "O_ENOBASE", "no base revision to apply to" },
	[O_ENOPENDING] = { "O_ENOPENDING", "no pending record for action" },
	[O_EEXPIRED]   = { "O_EEXPIRED", "pending record expired" },
	[O_ECORRUPT]   = { "O_ECORRUPT", "stored data is corrupt" },
	[O_EIO]        = { "O_EIO", "I/O error" },
	[O_ENOSPC]     = { "O_ENOSPC", "no space left on device" },
	[O_EBUSY]      = { "O_EBUSY", "resource busy" },
	[O_EUNAVAIL]   = { "O_EUNAVAIL", "could not find out (unavailable)" },
	[O_ETIMEDOUT]  = { "O_ETIMEDOUT", "timed out" },
	[O_ERETRIES]   = { "O_ERETRIES", "retry budget exhausted" },
	[O_EVANISHED]  = { "O_EVANISHED", "collection header vanished" },
	[O_ECLOSED]    = { "O_ECLOSED", "object closed" },
	[O_EPERM]      = { "O_EPERM", "operation not permitted" },
	[O_EINTERNAL]  = { "O_EINTERNAL", "internal error" },
	[O_ENOTDIR]    = { "O_ENOTDIR", "not a directory" },
	[O_EISDIR]     = { "O_EISDIR", "is a directory" },
	[O_ENOTEMPTY]  = { "O_ENOTEMPTY", "directory not empty" },
	[O_ENAMETOOLONG] = { "O_ENAMETOOLONG", "name too long" },
	[O_EBEHIND]      = { "O_EBEHIND", "replica behind the writer's base" },
	[O_EFBIG]        = { "O_EFBIG", "file size limit" },
	[O_EACCES]       = { "O_EACCES", "permission denied" },
};

static _Thread_local char o_err_buf[512];

const char *
o_errname(o_err e)
{
	if ((unsigned) e >= O_ERR_COUNT)
		return "O_E?";
	return o_err_table[e].name;
}

const char *
o_strerror(o_err e)
{
	if ((unsigned) e >= O_ERR_COUNT)
		return "unknown error";
	return o_err_table[e].msg;
}

/* Formatted apart first: callers pass o_err_detail() among the arguments
 * ("...: %s"), and vsnprintf into the buffer it reads is undefined (it
 * repeated the start of the old detail instead of the detail). */
o_err
o_err_vset(o_err e, const char *fmt, va_list ap)
{
	char tmp[sizeof(o_err_buf)];

	vsnprintf(tmp, sizeof(tmp), fmt, ap);
	memcpy(o_err_buf, tmp, sizeof(o_err_buf));
	return e;
}

o_err
o_err_set(o_err e, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	o_err_vset(e, fmt, ap);
	va_end(ap);
	return e;
}

o_err
o_err_wrap(o_err e, const char *fmt, ...)
{
	char    old[sizeof(o_err_buf)];
	char    pre[256];
	va_list ap;

	memcpy(old, o_err_buf, sizeof(old));
	va_start(ap, fmt);
	vsnprintf(pre, sizeof(pre), fmt, ap);
	va_end(ap);
	/* "pre: old" truncated to the buffer (pre is under 256 bytes) */
	{
		const char *rest = old[0] != '\0' ? old : o_strerror(e);
		size_t      pl   = strnlen(pre, sizeof(pre) - 1);
		size_t      rl   = strnlen(rest, sizeof(o_err_buf) - pl - 3);

		memcpy(o_err_buf, pre, pl);
		memcpy(o_err_buf + pl, ": ", 2);
		memcpy(o_err_buf + pl + 2, rest, rl);
		o_err_buf[pl + 2 + rl] = '\0';
	}
	return e;
}

const char *
o_err_detail(void)
{
	return o_err_buf;
}

void
o_err_clear(void)
{
	o_err_buf[0] = '\0';
}

o_err
o_err_from_errno(int err)
{
	switch (err) {
	case 0:
		return O_OK;
	case ENOMEM:
		return O_ENOMEM;
	case EINVAL:
		return O_EINVAL;
	case ENOENT:
		return O_ENOTFOUND;
	case EEXIST:
		return O_EEXIST;
	case ENOSPC:
	case EDQUOT:
		return O_ENOSPC;
	case EBUSY:
	case EAGAIN:
		return O_EBUSY;
	case ETIMEDOUT:
		return O_ETIMEDOUT;
	case EPERM:
	case EACCES:
		return O_EPERM;
	case ENOTDIR:
		return O_ENOTDIR;
	case EISDIR:
		return O_EISDIR;
	case ENOTEMPTY:
		return O_ENOTEMPTY;
	case ENAMETOOLONG:
		return O_ENAMETOOLONG;
	default:
		return O_EIO;
	}
}
