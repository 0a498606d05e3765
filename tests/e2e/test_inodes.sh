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
# remount, and readdir's d_ino matches it.  Directories and diaries the
# kernel forgot have their collections closed once idle (-o idle=), and
# read and append as before when opened again; one the kernel holds stays
# open.  Their inodes are freed then too (a directory once none of its
# children has one).  Then on a
# commit=async mount whose commit interval
# never comes: files closed but not committed are freed from the table
# too, their staged work stays queued (its directory's collection is not
# closed), reads back, and is committed at unmount.
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

step "directories and diaries nobody holds are closed, and open again"
# -o idle=300: a collection unused for 0.3 s whose object the kernel has
# forgotten is closed (its memory freed); the next use opens it again
rm -rf "$DATA"
e2e_mount idle=300
D=100
for ((i = 0; i < D; i++)); do
	mkdir "$MNT/c$i"
	printf 'one %d\ntwo %d\n' "$i" "$i" >>"$MNT/c$i/log"
done
check_diaries() { # check_diaries WHEN WANT_LINES
	local i bad=0
	for ((i = 0; i < D; i++)); do
		[ "$(wc -l <"$MNT/c$i/log")" -eq "$2" ] &&
			[ "$(head -1 "$MNT/c$i/log")" = "one $i" ] ||
			bad=$((bad + 1))
	done
	expect_eq "$1: diaries with the wrong lines" 0 "$bad"
}
check_diaries "written" 2
[ "$(stat_of open_collections)" -gt "$D" ] ||
	fail "open collections after reading $D diaries: $(stat_of open_collections)"
ino_c9=$(stat -c %i "$MNT/c9") # the object's: the same after the drop
exec 5<"$MNT/c7/log" # held: its diary and directory stay open
drop_caches
colls_are() { [ "$(stat_of open_collections)" -eq "$1" ]; }
wait_for "only the root, c7 and c7/log open after drop_caches" 10 colls_are 3
# and their inodes are freed too (a directory once no inode is its child)
inodes_are() { [ "$(stat_of inodes)" -eq "$1" ]; }
wait_for "inodes: only the root, c7 and c7/log after drop_caches" 10 inodes_are 3
# a fresh mount: every close since it began (at least all but c7's two)
closed=$(stat_of collections_closed_total)
[ "$closed" -ge $((2 * D - 2)) ] ||
	fail "collections closed: $closed, expected >= $((2 * D - 2))"
sleep 1.5 # more sweeps: what the kernel holds stays open
expect_eq "open collections 1.5 s later" 3 "$(stat_of open_collections)"
expect_eq "read through the fd held open" "one 7" "$(head -1 <&5)"
exec 5<&-
check_diaries "opened again" 2
for ((i = 0; i < D; i++)); do
	echo "three $i" >>"$MNT/c$i/log"
done
check_diaries "appended after reopening" 3
"$OPTIMFS_BIN" verify "$MNT/c42/log" >/dev/null || fail "verify c42/log"
expect_eq "ls of a reopened directory" "log" "$(ls "$MNT/c9")"
expect_eq "st_ino of c9, whose inode was freed" "$ino_c9" "$(stat -c %i "$MNT/c9")"
e2e_umount
e2e_mount
check_diaries "after remount" 3
e2e_umount

step "commit=async: closed, uncommitted files are freed and stay queued"
rm -rf "$DATA"
# idle=300: the sweep runs, but a directory with queued work stays open
e2e_mount commit=async,commit_interval=600000,idle=300
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
sleep 2 # past idle=300 and a sweep: a closed "a" would lose its queue
check_files "$MNT/a" "async, queued"
e2e_umount
e2e_mount
check_files "$MNT/a" "async, after unmount and remount"
e2e_umount
expect_clean_log
echo "$E2E_NAME: OK"
