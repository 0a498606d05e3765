/*
 * errmap.h - the one table turning o_err into the positive errno that FUSE
 * replies carry (STYLE.md "Errors: one enum, translated at the edges").
 *
 * Only fs/ includes this.  Every o_err value has an entry; codes that a
 * user cannot act on (refusals the collection layer should have retried,
 * corruption, unreachable peers, internal bugs) become EIO, and the detail
 * (o_err_detail) goes to the daemon's log.
 */
#ifndef OFS_ERRMAP_H
#define OFS_ERRMAP_H

#include "core/o_err.h"

/*
 * The errno for e: 0 for O_OK, a positive errno otherwise (EIO for values
 * outside the enum).  Pure; thread-safe.
 */
int ofs_errno(o_err e);

/*
 * As ofs_errno, for the xattr calls, where an absent attribute is ENODATA
 * (O_ENOTFOUND) and a buffer too small is ERANGE (O_ETOOBIG).
 */
int ofs_errno_xattr(o_err e);

#endif /* OFS_ERRMAP_H */
