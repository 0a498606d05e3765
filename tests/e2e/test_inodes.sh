#!/usr/bin/env bash
# test_inodes.sh - the daemon frees the inodes the kernel forgets.
#
# A mount that has listed N files with `ls -l` holds N inodes; after
# `echo 2 > /proc/sys/vm/drop_caches` the kernel evicts its unused inodes
# and sends FORGET for each, and the daemon frees them (.optimfs/stats:
# optimfs_inodes falls, optimfs_inodes_freed_total rises).  Everything
# reads back afterwards through new inodes.  A file held open across the
# drop keeps its inode (same st_ino, still readable through the open fd);
# so does a directory.  An inode the kernel got from readdirplus and holds
# through an open file outlives the sweep of unused inodes.  st_ino is the
# object's, so it does not change when the inode is freed, nor across a
# remount, and readdir's d_ino matches it.  Then on a
# commit=async mount whose commit interval
# never comes: files closed but not committed are freed from the table
# too, their staged work stays queued, reads back, and is committed at
# unmount.
#
# drop_caches is machine-wide: it also drops other processes' clean page
# cache, which costs them rereads, nothing else.
source "$(dirname "$0")/e2e_lib.sh"

N=${E2E_INODES_N:-2000}

stat_of() { # stat_of NAME: a counter of .optimfs/stats
	awk -v n="optimfs_$1" '$1 == n { print $2 }' "$MNT/.optimfs/stats"
}

drop_caches() {
	sync
	echo 2 >/proc/sys/vm/drop_caches
}

inodes_below() { [ "$(stat_of inodes)" -lt "$1" ]; }

# check_files DIR WHEN: every file of DIR holds its own name.
check_files() {
	local dir=$1 when=$2 i bad=0
	for ((i = 0; i < N; i++)); do
		[ "$(cat "$dir/f$i")" = "file $i" ] || bad=$((bad + 1))
	done
	expect_eq "$when: files with the wrong content" 0 "$bad"
}

step "$N files listed with ls -l are $N inodes"
e2e_mount
mkdir "$MNT/d"
for ((i = 0; i < N; i++)); do
	echo "file $i" >"$MNT/d/f$i"
done
expect_eq "ls -l lines" $((N + 1)) "$(ls -l "$MNT/d" | wc -l)"
before=$(stat_of inodes)
[ "$before" -ge "$N" ] || fail "inodes after ls -l: $before, expected >= $N"
freed0=$(stat_of inodes_freed_total)

step "an entry handed over by readdirplus is held: it outlives the sweep"
# ls -l reads the small directory with readdirplus and the file is opened
# through the entry it made (within the 1 s entry timeout, no lookup):
# only the readdirplus count keeps the inode, past the sweep of unused
# inodes (10 s idle, once a second)
mkdir "$MNT/e"
echo one >"$MNT/e/f0"
drop_caches
ls -l "$MNT/e" >/dev/null
exec 4<"$MNT/e/f0"
sleep 12
expect_eq "read through an fd of a readdirplus entry after 12 s" one "$(cat <&4)"
exec 4<&-

step "a file held open and its directory keep their inodes"
exec 3<"$MNT/d/f7"
ino_open=$(stat -c %i "$MNT/d/f7")
ino_dir=$(stat -c %i "$MNT/d")
# st_ino comes from the object, not from the slot of the inode table:
# a file nobody holds keeps it across the drop and a remount, and
# readdir's d_ino (ls -i) is the same number
ino_f9=$(stat -c %i "$MNT/d/f9")
expect_eq "ls -i (d_ino) and stat of f9" "$ino_f9" \
	"$(ls -i "$MNT/d" | awk '$2 == "f9" { print $1 }')"

step "drop_caches: the kernel forgets them, the daemon frees them"
drop_caches
wait_for "inodes freed after drop_caches" 10 inodes_below $((N / 10))
freed=$(($(stat_of inodes_freed_total) - freed0))
[ "$freed" -ge $((N * 9 / 10)) ] || fail "inodes freed: $freed of $N"
expect_eq "the open file's st_ino" "$ino_open" "$(stat -c %i "$MNT/d/f7")"
expect_eq "the directory's st_ino" "$ino_dir" "$(stat -c %i "$MNT/d")"
expect_eq "st_ino of f9, whose inode was freed" "$ino_f9" \
	"$(stat -c %i "$MNT/d/f9")"
expect_eq "read through the fd held open" "file 7" "$(cat <&3)"
exec 3<&-

step "everything reads back through new inodes"
check_files "$MNT/d" "after the drop"
expect_eq "ls after the drop" "$N" "$(ls "$MNT/d" | wc -l)"
# plain stat of every file: the new inodes' numbers are distinct
expect_eq "distinct st_ino" "$N" \
	"$(cd "$MNT/d" && stat -c %i f* | sort -u | wc -l)"
# overwrite, rename and remove through new inodes
echo "changed" >"$MNT/d/f1"
mv "$MNT/d/f2" "$MNT/d/g2"
rm "$MNT/d/f3"
check_changes() { # check_changes WHEN
	expect_eq "$1: overwritten file" changed "$(cat "$MNT/d/f1")"
	expect_eq "$1: renamed file" "file 2" "$(cat "$MNT/d/g2")"
	[ ! -e "$MNT/d/f3" ] || fail "$1: removed file is back"
}
drop_caches
check_changes "after another drop"
e2e_umount

step "remount: the changes are there"
e2e_mount
check_changes "after remount"
expect_eq "st_ino of f9 after remount" "$ino_f9" "$(stat -c %i "$MNT/d/f9")"
expect_eq "st_ino of d after remount" "$ino_dir" "$(stat -c %i "$MNT/d")"
e2e_umount

step "commit=async: closed, uncommitted files are freed and stay queued"
rm -rf "$DATA"
e2e_mount commit=async,commit_interval=600000
mkdir "$MNT/a"
for ((i = 0; i < N; i++)); do
	echo "file $i" >"$MNT/a/f$i"
done
ls -l "$MNT/a" >/dev/null
freed0=$(stat_of inodes_freed_total)
drop_caches
wait_for "async: inodes freed after drop_caches" 10 inodes_below $((N / 10))
[ "$(stat_of pending_actions)" -gt 0 ] ||
	fail "async: nothing queued any more (the test needs queued work)"
check_files "$MNT/a" "async, queued"
e2e_umount
e2e_mount
check_files "$MNT/a" "async, after unmount and remount"
e2e_umount
expect_clean_log
echo "$E2E_NAME: OK"
