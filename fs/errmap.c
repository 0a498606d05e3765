/*
 * errmap.c - o_err -> errno (see errmap.h).  The table is indexed by the
 * enum with designated initializers; tests/fs/test_errmap.c checks that no
 * entry is missing.
 */
#include "fs/errmap.h"

#include <errno.h>

static const int ofs_errtab[O_ERR_COUNT] = {
	[O_OK]           = 0,
	[O_ENOMEM]       = ENOMEM,
	[O_EINVAL]       = EINVAL,
	[O_EBADMSG]      = EIO, /* malformed bytes from disk or wire */
	[O_ETOOBIG]      = EFBIG,
	[O_ENOTFOUND]    = ENOENT,
	[O_EEXIST]       = EEXIST,
	[O_ESTALE]       = EIO, /* should have been retried below us */
	[O_EPENDING]     = EIO,
	[O_ENOBASE]      = EIO,
	[O_ENOPENDING]   = EIO,
	[O_EEXPIRED]     = EIO,
	[O_ECORRUPT]     = EIO,
	[O_EIO]          = EIO,
	[O_ENOSPC]       = ENOSPC,
	[O_EBUSY]        = EBUSY,
	[O_EUNAVAIL]     = EIO,
	[O_ETIMEDOUT]    = EIO,
	[O_ERETRIES]     = EIO,
	[O_EVANISHED]    = EIO,
	[O_ECLOSED]      = EIO,
	[O_EPERM]        = EPERM,
	[O_EINTERNAL]    = EIO,
	[O_ENOTDIR]      = ENOTDIR,
	[O_EISDIR]       = EISDIR,
	[O_ENOTEMPTY]    = ENOTEMPTY,
	[O_ENAMETOOLONG] = ENAMETOOLONG,
	[O_EBEHIND]      = EIO, /* a replica to repair: not the writer's */
	[O_EFBIG]        = EFBIG,
	[O_EACCES]       = EACCES,
};

_Static_assert(sizeof(ofs_errtab) / sizeof(ofs_errtab[0]) == O_ERR_COUNT,
    "errmap table must cover every o_err");

int
ofs_errno(o_err e)
{
	if ((int) e < 0 || (int) e >= O_ERR_COUNT)
		return EIO;
	return ofs_errtab[e];
}

int
ofs_errno_xattr(o_err e)
{
	if (e == O_ENOTFOUND)
		return ENODATA;
	if (e == O_ETOOBIG)
		return ERANGE;
	return ofs_errno(e);
}
