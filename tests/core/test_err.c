/*
 * test_err.c - error details (core/o_err.h): a detail built from the
 * current one ("outer: %s", o_err_detail()) keeps it whole, with
 * o_err_set as with o_err_wrap, and a long one is cut at the buffer.
 */
#include <string.h>

#include <criterion/criterion.h>

#include "core/o_err.h"

TestSuite(err, .timeout = 60);

Test(err, a_detail_made_from_the_current_one_keeps_it)
{
	o_err_set(O_EIO, "inner cause");
	cr_assert_eq(o_err_set(O_EIO, "commit: %s (then %s)", o_err_detail(),
	                 o_err_detail()),
	    O_EIO);
	cr_assert_str_eq(
	    o_err_detail(), "commit: inner cause (then inner cause)");
	o_err_wrap(O_EIO, "outer");
	cr_assert_str_eq(
	    o_err_detail(), "outer: commit: inner cause (then inner cause)");
}

Test(err, a_long_detail_is_cut_not_overrun)
{
	char big[2000];

	memset(big, 'x', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	o_err_set(O_EIO, "%s", big);
	o_err_set(O_EIO, "again: %s", o_err_detail());
	cr_assert(strncmp(o_err_detail(), "again: xxxx", 11) == 0, "%.40s",
	    o_err_detail());
	cr_assert_lt(strlen(o_err_detail()), sizeof(big) - 1);
}
