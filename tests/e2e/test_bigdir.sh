#!/usr/bin/env bash
# test_bigdir.sh - one directory with 100,000 entries on a real mount.
#
# Creates N files in one directory with `xargs touch` on a commit=async
# mount (a close then returns at once and the committer commits the
# creates in batches; with the default commit=sync every close waits for
# its own commit, which measures the commit path, not the directory).  Then:
# `ls | wc -l` and the entry count, `ls` equal to the names sorted with
# LC_ALL=C, readdir (`ls -f`) returning each name exactly once, stat/cat
# spot checks; unmount, remount with the default commit=sync and check
# all of it again, and change the big directory in sync mode.
#
# N is 100,000 (about 40 s in the release build on 2 cores).  Under ASan
# (the binary is built with AddressSanitizer, or OPTIMFS_BUILD_DIR names an
# ASan build) it is 80,000: still a 4-level B+tree (the root splits near
# 72,000 of these names), about 95 s alone, so under 4 minutes with the
# suite running beside it.  E2E_BIGDIR_N overrides both.
source "$(dirname "$0")/e2e_lib.sh"

N=100000
if grep -qa AddressSanitizer "$OPTIMFS_BIN" 2>/dev/null ||
	[[ ${OPTIMFS_BUILD_DIR:-} == *asan* ]]; then
	N=80000
fi
N=${E2E_BIGDIR_N:-$N}
export LC_ALL=C
SECONDS=0

# Names of varied length, so that byte order is not creation order:
# f0 f1 f10 f100 ... (as `sort` orders them in the C locale).
seq -f 'f%.0f' 0 $((N - 1)) >"$TMP/names"
sort "$TMP/names" >"$TMP/sorted"
expect_eq "expected names" "$N" "$(sort -u "$TMP/sorted" | wc -l)"

# check_listing WHEN: the whole directory, three ways.
check_listing() {
	local when=$1
	expect_eq "$when: ls | wc -l" "$N" "$(ls big | wc -l)"
	ls big >"$TMP/ls.out"
	cmp -s "$TMP/sorted" "$TMP/ls.out" ||
		fail "$when: ls differs from the sorted names:" \
			"$(diff "$TMP/sorted" "$TMP/ls.out" | head -n 5)"
	# readdir order is key order, and each name comes exactly once
	ls -f big | grep -v -x -F -e . -e .. >"$TMP/lsf.out"
	expect_eq "$when: readdir entries" "$N" "$(wc -l <"$TMP/lsf.out")"
	cmp -s "$TMP/sorted" "$TMP/lsf.out" ||
		fail "$when: readdir (ls -f) differs from the sorted names:" \
			"$(diff "$TMP/sorted" "$TMP/lsf.out" | head -n 5)"
	expect_eq "$when: names listed twice" "" \
		"$(sort "$TMP/lsf.out" | uniq -d | head -n 3)"
	expect_eq "$when: user.optimfs.entries" "$N" \
		"$(getfattr --only-values -n user.optimfs.entries big)"
	expect_eq "$when: directory size (its entry count)" "$N" \
		"$(stat -c %s big)"
}

# check_spots WHEN: stat and cat a few entries.
check_spots() {
	local when=$1 f
	for f in f0 f1 f$((N / 2)) f$((N - 1)); do
		expect_eq "$when: stat big/$f" "regular empty file 0 644" \
			"$(stat -c '%F %s %a' "big/$f")"
	done
	expect_eq "$when: cat big/f7" "seven" "$(cat big/f7)"
	expect_eq "$when: cat big/f$((N - 2))" "last but one" \
		"$(cat "big/f$((N - 2))")"
	[ -e "big/f$N" ] && fail "$when: big/f$N exists"
	return 0
}

step "mount (commit=async)"
e2e_mount commit=async
cd "$MNT"
mkdir big

step "create $N entries"
t0=$SECONDS
(cd big && umask 022 && xargs -a "$TMP/names" touch)
echo "   $N creates in $((SECONDS - t0)) s"
echo seven >big/f7
echo "last but one" >"big/f$((N - 2))"

step "list and check"
t0=$SECONDS
check_listing "after create"
check_spots "after create"
echo "   listing and checks in $((SECONDS - t0)) s"

step "unmount (commits everything), remount (commit=sync)"
cd /
e2e_umount
e2e_mount
cd "$MNT"

step "list and check after remount"
t0=$SECONDS
check_listing "after remount"
check_spots "after remount"
echo "   listing and checks in $((SECONDS - t0)) s"

step "change the big directory in sync mode"
t0=$SECONDS
seq -f 'g%.0f' 1 200 | (cd big && xargs touch)
echo "   200 creates (one commit each) in $((SECONDS - t0)) s"
rm big/g*
echo new >big/zz-new
rm big/f5
mv big/f6 big/f6-renamed
mv big/zz-new big/f6
expect_eq "cat big/f6 (renamed over)" new "$(cat big/f6)"
grep -v -x -e f5 "$TMP/sorted" | sed 's/^f6$/f6\nf6-renamed/' |
	sort >"$TMP/sorted2"
mv "$TMP/sorted2" "$TMP/sorted"
expect_eq "count after the changes" "$N" "$(ls big | wc -l)"
cmp -s "$TMP/sorted" <(ls big) ||
	fail "ls after the changes: $(diff "$TMP/sorted" <(ls big) | head -n 5)"
expect_eq "user.optimfs.entries after the changes" "$N" \
	"$(getfattr --only-values -n user.optimfs.entries big)"

step "unmount, remount, list once more"
cd /
e2e_umount
e2e_mount
cd "$MNT"
cmp -s "$TMP/sorted" <(ls big) ||
	fail "ls after the last remount:" \
		"$(diff "$TMP/sorted" <(ls big) | head -n 5)"
expect_eq "cat big/f6 after remount" new "$(cat big/f6)"
expect_eq "cat big/f6-renamed after remount" "" "$(cat big/f6-renamed)"

step "unmount"
cd /
e2e_umount
expect_clean_log
echo "test_bigdir: $N entries, ok in ${SECONDS} s"
