#!/usr/bin/env bash
# test_enospc.sh - the store's disk fills up.
#
# The data directory lives on a small tmpfs, together with a filler file
# that leaves 24 MiB free.  Files and diary lines are written with
# fsync until one fails; then:
#   * the failure is ENOSPC (not EIO, not a hang), the daemon is alive
#     and keeps answering, further writes fail with ENOSPC too, and its
#     log names the cause;
#   * every write whose fsync returned 0 reads back intact;
#   * once the filler is deleted, writing with fsync works again (RocksDB
#     resumes by itself once its write buffer size is free; it checks
#     every 5 s), and the work that failed is committed after all;
#   * after unmount and remount everything acknowledged is there and the
#     diary's hash chain verifies;
#   * filled again: unmounting while full ends the daemon with exit status
#     1 (the failed work could not be committed), not a crash; mounting on
#     the full disk fails saying ENOSPC; once space is back it mounts and
#     everything acknowledged is there.
# Needs root (to mount the tmpfs); skipped otherwise.
source "$(dirname "$0")/e2e_lib.sh"

if [ "$(id -u)" -ne 0 ]; then
	echo "$E2E_NAME: SKIP: needs root to mount a tmpfs"
	exit 77 # ctest: skipped (SKIP_RETURN_CODE)
fi

SMALL=$TMP/small
SRC=$TMP/src
DATA=$SMALL/data
mkdir -p "$SMALL" "$SRC"

# Stop the daemon and unmount $MNT (as e2e_cleanup does) before the
# tmpfs under the data directory goes, then let e2e_cleanup finish.
enospc_cleanup() {
	local rc=$?

	set +e
	cd /
	e2e_stop
	if mountpoint -q "$SMALL"; then
		umount "$SMALL" 2>/dev/null || umount -l "$SMALL"
	fi
	(exit $rc)
	e2e_cleanup
}
trap enospc_cleanup EXIT

NOSPC="No space left on device"

# put_file N: write a fresh 64 KiB file with fsync; prints dd's error.
put_file() {
	head -c 65536 /dev/urandom >"$SRC/f$1"
	timeout 60 dd if="$SRC/f$1" of="$MNT/files/f$1" bs=64k conv=fsync \
		status=none 2>&1
}

# put_line N: append diary line N with fsync; prints dd's error.
put_line() {
	printf 'line %06d %s\n' "$1" "$(head -c $(($1 % 97)) /dev/zero |
		tr '\0' z)" |
		timeout 60 dd of="$MNT/diary" oflag=append \
			conv=notrunc,nocreat,fsync status=none 2>&1
}

# expect_nospc WHAT RC OUTPUT: a failed write must say ENOSPC, not hang.
expect_nospc() {
	[ "$2" -ne 124 ] || fail "$1: hung (no answer in 60 s)"
	case $3 in
	*"$NOSPC"*) ;;
	*) fail "$1: failed with [$3] (status $2), expected '$NOSPC'" ;;
	esac
	kill -0 "$DAEMON_PID" 2>/dev/null || fail "$1: the daemon died"
}

# fill LIMIT KIND...: write KIND (file, line) N with fsync for N = i+1,
# i+2, ... up to LIMIT, recording what was acknowledged, until a write
# fails: then failed names it, and rc and out hold its status and error.
fill() {
	local limit=$1 k
	shift
	failed=
	while [ "$i" -lt "$limit" ]; do
		i=$((i + 1))
		for k in "$@"; do
			if out=$(put_$k $i); then
				if [ "$k" = file ]; then
					echo "f$i" >>"$TMP/ack.files"
				else
					echo "$i" >>"$TMP/ack.lines"
				fi
				continue
			fi
			rc=$?
			if [ "$k" = file ]; then
				failed="file f$i"
			else
				failed="diary line $i"
			fi
			return 0
		done
	done
}

# check_acked WHEN: every acknowledged file and diary line reads back,
# in order; no line is torn or doubled.
check_acked() {
	local f

	while read -r f; do
		cmp -s "$SRC/$f" "$MNT/files/$f" ||
			fail "$1: acknowledged file $f does not read back intact"
	done <"$TMP/ack.files"
	grep '^line ' "$MNT/diary" | awk '{print $2 + 0}' >"$TMP/got" ||
		fail "$1: cannot read the diary"
	acked_in_order "$TMP/ack.lines" "$TMP/got" ||
		fail "$1: an acknowledged diary line is missing"
	bad=$(grep -cvE '^line [0-9]{6} z*$' "$MNT/diary" || true)
	expect_eq "$1: torn diary lines" 0 "$bad"
	# a line whose fsync failed may be committed later, but only once
	expect_eq "$1: diary lines present twice" "" "$(sort "$TMP/got" | uniq -d | xargs)"
}

# The filler goes in before the store is created: RocksDB preallocates
# 1.1 x its write buffer size for a new WAL (and 4 MiB for a MANIFEST)
# when the space is there.  Freeing it leaves ~100 MiB, more than RocksDB
# wants free before it resumes.
step "mount on a 128 MiB tmpfs with 24 MiB free"
mount -t tmpfs -o size=128m optimfs-e2e-small "$SMALL"
avail=$(df -B1 --output=avail "$SMALL" | tail -n1)
fallocate -l $((avail - 24 * 1024 * 1024)) "$SMALL/filler"
e2e_mount
mkdir "$MNT/files"
"$OPTIMFS_BIN" diary create "$MNT/diary"
echo "   $(df -h --output=avail "$SMALL" | tail -n1 | xargs) left for the store"
: >"$TMP/ack.files"
: >"$TMP/ack.lines"

step "write files and diary lines with fsync until the disk is full"
i=0
fill 2000 file line
[ -n "$failed" ] || fail "2000 writes of 64 KiB fitted on a full disk"
echo "   $failed failed after $(wc -l <"$TMP/ack.files") files and $(wc -l <"$TMP/ack.lines") lines: $out"
expect_nospc "$failed" "$rc" "$out"
last=$i

step "while full: writes keep failing with ENOSPC, reads work, log says why"
for j in 1 2; do
	i=$((i + 1))
	out=$(put_file $i) && fail "file f$i was acknowledged on a full disk"
	expect_nospc "file f$i" $? "$out"
	out=$(put_line $i) &&
		fail "diary line $i was acknowledged on a full disk"
	expect_nospc "diary line $i" $? "$out"
done
check_acked "while full"
ls "$MNT/files" >/dev/null || fail "ls of the mount failed while full"
grep -E "optimfs\[(warn|error)\]: .*$NOSPC" "$TMP/daemon.log" >"$TMP/nospc.log" ||
	fail "the daemon log has no line naming '$NOSPC'"
echo "   log: $(head -n1 "$TMP/nospc.log" | cut -c1-200)"

step "free space: writing works again"
rm -f "$SMALL/filler"
for ((t = 0; ; t++)); do
	i=$((i + 1))
	if out=$(put_file $i); then
		echo "f$i" >>"$TMP/ack.files"
		break
	else
		rc=$?
	fi
	expect_nospc "file f$i after freeing space" $rc "$out"
	[ $t -lt 60 ] || fail "writes still fail 60 s after space returned: $out"
	sleep 1
done
echo "   writes work again after about $t s"
for j in $(seq 5); do
	i=$((i + 1))
	out=$(put_line $i) || fail "diary line $i after recovery: $out"
	echo "$i" >>"$TMP/ack.lines"
	out=$(put_file $i) || fail "file f$i after recovery: $out"
	echo "f$i" >>"$TMP/ack.files"
done
check_acked "after recovery"

step "unmount, remount: everything acknowledged is there"
e2e_umount
e2e_mount
check_acked "after remount"

step "full again: unmount while full exits cleanly"
avail=$(df -B1 --output=avail "$SMALL" | tail -n1)
fallocate -l $((avail - 1024 * 1024)) "$SMALL/filler"
fill 4000 line file
[ -n "$failed" ] || fail "the disk did not fill again"
expect_nospc "$failed (full again)" "$rc" "$out"
# umount detaches the mount, waits for the daemon, and says that not
# everything was committed (exit status 1; before, it exited 0 silently)
expect_exit "optimfs umount on a full disk" 1 \
	"is unmounted, but committing the pending changes failed" \
	"$OPTIMFS_BIN" umount "$MNT"
! e2e_mounted || fail "umount left the mount on a full disk mounted"
rc=0
wait "$DAEMON_PID" || rc=$?
DAEMON_PID=
# it could not commit the failed work: exit status 1, not a crash
expect_eq "daemon exit status after unmount on a full disk" 1 "$rc"
grep -q "unmounted with errors" "$TMP/daemon.log" ||
	fail "the daemon did not report the uncommitted work at unmount"

step "mount on a full disk fails with ENOSPC, then works once space is back"
# the last few KiB too (RocksDB's files were truncated at close)
dd if=/dev/zero of="$SMALL/filler.last" bs=4k status=none 2>/dev/null || true
rc=0
out=$(timeout 60 "$OPTIMFS_BIN" mount "$MNT" --data "$DATA" -f \
	-o auto_unmount 2>&1) || rc=$?
[ $rc -ne 0 ] || fail "mount on a full disk succeeded (and was unmounted?)"
expect_eq "exit status of mount on a full disk" 1 "$rc"
case $out in
*"$NOSPC"*) ;;
*) fail "mount on a full disk said [$out], expected '$NOSPC'" ;;
esac
e2e_mounted && fail "a failed mount left $MNT mounted"
echo "   mount said: $(echo "$out" | head -n1 | cut -c1-200)"
rm -f "$SMALL/filler" "$SMALL/filler.last"
e2e_mount
check_acked "after a full-disk unmount and remount"
# The writes that failed stayed queued and were committed once space came
# back: a file that exists holds exactly what was written to it.
for ((j = last; j <= last + 2; j++)); do
	if [ -e "$MNT/files/f$j" ]; then
		cmp -s "$SRC/f$j" "$MNT/files/f$j" ||
			fail "file f$j (its fsync failed) holds other bytes"
	fi
done
"$OPTIMFS_BIN" verify "$MNT/diary" >"$TMP/verify.out" ||
	fail "optimfs verify diary: $(cat "$TMP/verify.out")"
grep -q OK "$TMP/verify.out" || fail "verify diary: $(cat "$TMP/verify.out")"
"$OPTIMFS_BIN" verify "$MNT/files" | grep -q OK || fail "verify files/"
echo "   $(wc -l <"$TMP/ack.files") files and $(wc -l <"$TMP/ack.lines") diary lines acknowledged, all present"
e2e_umount

echo "$E2E_NAME: OK"
