#!/usr/bin/env bash
# test_syscalls.sh - the C syscall exerciser (exerciser.c) against a fresh
# mount: open flags, pwrite/pread and holes, O_APPEND, ftruncate, fstat,
# rename over existing files and directories, unlink while open,
# readdir with telldir/seekdir while entries change, concurrent writers,
# diaries' refusals and concurrent appends, fsync, xattrs, statfs.  Then
# unmount, remount on the same data and check what it left in keep/.
# Then the same once more on a mount with -o commit=async.
#
# EXERCISER_SKIP="name1,name2" skips checks by name (see the table at the
# end of exerciser.c), for known failures until they are fixed.
source "$(dirname "$0")/e2e_lib.sh"

step "build the exerciser"
cc -O1 -Wall -pthread -o "$TMP/exerciser" "$E2E_ROOT/tests/e2e/exerciser.c" ||
	fail "cc exerciser.c"
[ -n "${EXERCISER_SKIP:-}" ] && echo "   skipping: $EXERCISER_SKIP"
export EXERCISER_SKIP=${EXERCISER_SKIP:-}

# run_exerciser WHAT ARGS...: run it, fail with the failed checks' names.
run_exerciser() {
	local what=$1 rc=0
	shift
	timeout 120 "$TMP/exerciser" "$@" | tee "$TMP/run.out" || rc=$?
	[ "$rc" -eq 124 ] && fail "$what: not finished within 120 s"
	grep -qE '^(exerciser|verify): ' "$TMP/run.out" ||
		fail "$what: the exerciser died (status $rc) before its summary"
	[ "$rc" -eq 0 ] || fail "$what: failed: $(grep '^FAIL' "$TMP/run.out" |
		cut -d' ' -f2 | tr -d : | paste -sd, -)"
	kill -0 "$DAEMON_PID" 2>/dev/null || fail "$what: the daemon died"
}

step "mount"
e2e_mount

step "run the exerciser"
run_exerciser "exerciser" "$MNT"
# what the exerciser's calls were refused (EFBIG, EEXIST, ...) is the
# caller's doing, logged as info: no error, and no fault in status
if grep -n "optimfs\[error\]" "$TMP/daemon.log" >&2; then
	fail "refusals of the exerciser's calls were logged as errors"
fi
grep -qE "^errors: +0$" "$MNT/.optimfs/status" ||
	fail "faults counted: $(grep '^errors' "$MNT/.optimfs/status")"

step "the kept files, from the shell"
cd "$MNT/keep"
if ! [[ ",$EXERCISER_SKIP," == *,diary_concurrent,* ]]; then
	expect_eq "diary lines" 600 "$(wc -l <diary_concurrent/log)"
fi
if ! [[ ",$EXERCISER_SKIP," == *,concurrent_writers,* ]]; then
	expect_eq "shared file size" 262144 \
		"$(stat -c %s concurrent_writers/shared)"
fi
find . | LC_ALL=C sort >"$TMP/keep.before"
md5sum $(find . -type f | LC_ALL=C sort) >"$TMP/sums.before"

step "unmount, remount"
cd /
e2e_umount
e2e_mount

step "the kept files after remount"
cd "$MNT/keep"
find . | LC_ALL=C sort >"$TMP/keep.after"
diff "$TMP/keep.before" "$TMP/keep.after" || fail "keep/ changed across remount"
md5sum -c --quiet "$TMP/sums.before" || fail "contents changed across remount"
cd /
run_exerciser "verify after remount" --verify "$MNT"

step "again with -o commit=async, verified after a remount"
e2e_umount
e2e_mount commit=async
mkdir "$MNT/async"
run_exerciser "exerciser (async)" "$MNT/async"
e2e_umount
e2e_mount
run_exerciser "verify after an async run" --verify "$MNT/async"

step "unmount"
e2e_umount
expect_clean_log
echo "$E2E_NAME: OK"
