/*
 * test_errmap.c - the o_err -> errno table (fs/errmap.c): every code has
 * an entry, the named ones map as documented, and nothing else leaks 0.
 */
#include <errno.h>

#include <criterion/criterion.h>

#include "core/o_err.h"
#include "fs/errmap.h"

TestSuite(errmap, .timeout = 30);

Test(errmap, every_code_has_a_positive_errno)
{
	int e;

	cr_assert_eq(ofs_errno(O_OK), 0);
	for (e = 1; e < O_ERR_COUNT; e++)
		cr_assert_gt(ofs_errno((o_err) e), 0, "%s maps to %d",
		    o_errname((o_err) e), ofs_errno((o_err) e));
}

Test(errmap, documented_mappings)
{
	static const struct {
		o_err e;
		int   err;
	} want[] = {
		{ O_ENOTFOUND, ENOENT },
		{ O_EEXIST, EEXIST },
		{ O_ENOTDIR, ENOTDIR },
		{ O_EISDIR, EISDIR },
		{ O_ENOTEMPTY, ENOTEMPTY },
		{ O_ENAMETOOLONG, ENAMETOOLONG },
		{ O_EPERM, EPERM },
		{ O_ENOSPC, ENOSPC },
		{ O_ECORRUPT, EIO },
		{ O_EIO, EIO },
		{ O_EUNAVAIL, EIO },
		{ O_ETIMEDOUT, EIO },
		{ O_ERETRIES, EIO },
		{ O_EINVAL, EINVAL },
		{ O_ENOMEM, ENOMEM },
		{ O_EBUSY, EBUSY },
		{ O_ETOOBIG, EFBIG },
		{ O_EFBIG, EFBIG },
		{ O_EACCES, EACCES },
		{ O_ESTALE, EIO },
		{ O_EPENDING, EIO },
		{ O_EVANISHED, EIO },
		{ O_EINTERNAL, EIO },
		{ O_EBADMSG, EIO },
	};
	size_t i;

	for (i = 0; i < sizeof(want) / sizeof(want[0]); i++)
		cr_assert_eq(ofs_errno(want[i].e), want[i].err,
		    "%s: got %d want %d", o_errname(want[i].e),
		    ofs_errno(want[i].e), want[i].err);
}

Test(errmap, out_of_range_is_eio)
{
	cr_assert_eq(ofs_errno(O_ERR_COUNT), EIO);
	cr_assert_eq(ofs_errno((o_err) -1), EIO);
	cr_assert_eq(ofs_errno((o_err) 10000), EIO);
}

Test(errmap, xattr_variant)
{
	int e;

	cr_assert_eq(ofs_errno_xattr(O_ENOTFOUND), ENODATA);
	cr_assert_eq(ofs_errno_xattr(O_ETOOBIG), ERANGE);
	cr_assert_eq(ofs_errno_xattr(O_OK), 0);
	for (e = 1; e < O_ERR_COUNT; e++)
		if (e != O_ENOTFOUND && e != O_ETOOBIG)
			cr_assert_eq(
			    ofs_errno_xattr((o_err) e), ofs_errno((o_err) e));
}
