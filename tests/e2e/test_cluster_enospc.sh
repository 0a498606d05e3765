#!/usr/bin/env bash
# test_cluster_enospc.sh - one replica of three runs out of disk space.
#
# Node n3's data directory lives on a small tmpfs, together with a filler
# file that leaves a few MiB free.  Files are written with fsync through
# mount 1 until n3's store reports the disk full; then:
#   * writes through the other mounts go on: a majority (n1, n2) commits
#     them;
#   * a write through n3's own mount fails with ENOSPC, not EIO and not
#     a hang (a mount keeps what it queues in its own store's journal
#     before the commit, and that store is full);
#   * n3's log names the cause (disk full, ENOSPC) once, not at every
#     read that finds it behind, and it stays up;
#   * once the filler is deleted, n3 writes again by itself (its log says
#     so; RocksDB checks every 5 s): with n1 killed, appends through
#     mount 2 commit on n2 and n3, so n3 takes part again;
#   * every acknowledged line and file reads back intact through mount 2
#     (n2 and n3), each line once.
# Needs root (to mount the tmpfs); skipped otherwise.
. "$(dirname "$0")/e2e_lib.sh"

if [ "$(id -u)" -ne 0 ]; then
	echo "$E2E_NAME: SKIP: needs root to mount a tmpfs"
	exit 77 # ctest: skipped (SKIP_RETURN_CODE)
fi

cluster_init
SMALL=$TMP/d3 # n3's data directory, a tmpfs of its own
SRC=$TMP/src
mkdir -p "$SMALL" "$SRC"
mount -t tmpfs -o size=64m tmpfs "$SMALL"
# the nodes go first (cluster_init's trap), then the tmpfs
trap 'rc=$?; set +e; [ $rc -ne 0 ] && [ $rc -ne 77 ] && cluster_cleanup; cluster_cleanup >/dev/null 2>&1
	mountpoint -q "$SMALL" && { umount "$SMALL" 2>/dev/null || umount -l "$SMALL"; }
	(exit $rc); e2e_cleanup' EXIT

step "three nodes; n3's disk left with 12 MiB free"
start_cluster
avail=$(df --output=avail -k "$SMALL" | tail -n 1)
fallocate -l $(((avail - 12 * 1024) * 1024)) "$SMALL/filler"
mkdir "$TMP/m1/d"
"$OPTIMFS_BIN" diary create "$TMP/m1/d/log"

n3_full() { grep -q "disk full, writes fail with ENOSPC" "$TMP/n3.log"; }

step "files with fsync through m1 until n3's disk is full: every one acknowledged"
k=0
while ! n3_full; do
	k=$((k + 1))
	[ $k -le 60 ] || fail "n3 never reported its disk full (60 MiB written)"
	head -c 1048576 /dev/urandom >"$SRC/f$k"
	dd if="$SRC/f$k" of="$TMP/m1/d/f$k" bs=1M conv=fsync status=none ||
		fail "file f$k not acknowledged while only n3 is full"
done
NFILES=$k
FULL_AT=$SECONDS
echo "   n3 full after $NFILES MiB"

step "appends through m1 and m2 go on while n3 is full; through m3 they fail with ENOSPC"
: >"$TMP/acked"
for k in $(seq 1 30); do
	i=$((k % 2 + 1))
	echo "full $k" | append_to "$TMP/m$i/d/log" || fail "append $k through m$i failed"
	echo "full $k" >>"$TMP/acked"
done
rc=0
out=$(echo "not kept" | timeout -k 5 60 dd of="$TMP/m3/d/log" oflag=append \
	conv=notrunc,nocreat,fsync status=none 2>&1) || rc=$?
[ $rc -ne 0 ] || fail "an append through the full node's mount was acknowledged"
[ $rc -ne 124 ] || fail "an append through the full node's mount hung"
case $out in
*"No space left on device"*) ;;
*) fail "an append through m3 failed with [$out], expected ENOSPC" ;;
esac
kill -0 "${PID[3]}" || fail "n3 died"
expect_eq "n3's disk-full errors logged" 1 "$(grep -c "disk full, writes fail with ENOSPC" "$TMP/n3.log")"
# one line per 10 s (REPAIR_LOG_MS) and node, and a last count after it
allowed=$((($SECONDS - FULL_AT) / 10 + 3))
for i in 1 2 3; do
	got=$(grep -cE "repair of block .* on n3: |repair\(s\) on n3 failed" "$TMP/n$i.log" || true)
	[ "$got" -le "$allowed" ] ||
		fail "n$i logged every failed repair on n3: $got lines in $(($SECONDS - FULL_AT)) s"
done

step "space back: n3 writes again by itself"
rm -f "$SMALL/filler"
k=0
n3_back() {
	k=$((k + 1))
	echo "back $k" | append_to "$TMP/m1/d/log" && echo "back $k" >>"$TMP/acked"
	grep -q "writes work again after disk full" "$TMP/n3.log"
}
wait_for "n3 writing again" 40 n3_back

step "n1 killed: n2 and n3 commit alone"
kill_node 1
for k in $(seq 1 10); do
	echo "two $k" | append_to "$TMP/m2/d/log" || fail "append $k through m2 without n1 failed"
	echo "two $k" >>"$TMP/acked"
done

step "everything acknowledged reads back through m3 (n2 and n3)"
# appends use append_to: a failed close (a commit that failed) fails the
# step, which echo >> would ignore.  Read through m3, the mount whose
# store was full.  The line whose fsync failed on m3 was written
# (write(2) returned) and stays queued there: it may have been committed
# since, once
grep -vx "not kept" "$TMP/m3/d/log" >"$TMP/got" || true
[ "$(grep -cx "not kept" "$TMP/m3/d/log")" -le 1 ] || fail "m3's line committed twice"
diff <(sort "$TMP/acked") <(sort "$TMP/got") >/dev/null ||
	fail "m3's diary is not the acknowledged lines, each once: $(diff <(sort "$TMP/acked") <(sort "$TMP/got") | head -n 5)"
for ((k = 1; k <= NFILES; k++)); do
	cmp -s "$SRC/f$k" "$TMP/m3/d/f$k" || fail "f$k differs on m3"
done
echo "PASS"
