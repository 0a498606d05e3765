#!/usr/bin/env bash
# test_corrupt.sh - a stored value goes bad on disk.
#
# A large file (its bytes in a chunk block) and a small file (its bytes in
# its directory's leaf block) carry marker strings.  With the daemon
# stopped, tests/store_flip flips one bit inside each marker in the stored
# records (their per-value checksums no longer match, as after a bad
# disk); after remounting:
#   * reading the damaged file fails with EIO ("Input/output error"), every
#     time, and so does the directory whose block is damaged;
#   * the daemon's log has a line naming the corruption and where it is;
#   * the daemon stays up, other files and the diary read back intact, the
#     diary verifies, and new writes still work; unmount is clean.
source "$(dirname "$0")/e2e_lib.sh"

OPTIMFS_BUILD_DIR=${OPTIMFS_BUILD_DIR:-$(dirname "$OPTIMFS_BIN")}
FLIP=$OPTIMFS_BUILD_DIR/tests/store_flip
[ -x "$FLIP" ] || fail "$FLIP is not built"

EIO="Input/output error"
BIG_MARK="optimfs-big-marker-$RANDOM$RANDOM"
SMALL_MARK="optimfs-small-marker-$RANDOM$RANDOM"
HUGE_MARK="optimfs-huge-marker-$RANDOM$RANDOM"

step "mount, write files and a diary"
e2e_mount
mkdir "$MNT/a" "$MNT/b" "$MNT/c"
{
	head -c 20000 /dev/urandom
	printf '%s' "$BIG_MARK"
	head -c 20000 /dev/urandom
} >"$TMP/big"
head -c 50000 /dev/urandom >"$TMP/other"
# past the inline limit: stored in 256 KiB pieces; the marker lies in the
# second piece, so the first piece stays readable
{
	head -c 400000 /dev/urandom
	printf '%s' "$HUGE_MARK"
	head -c 300000 /dev/urandom
} >"$TMP/huge"
mkdir "$MNT/d"
cp "$TMP/huge" "$MNT/d/huge"
cp "$TMP/big" "$MNT/b/big"
cp "$TMP/other" "$MNT/a/other"
echo good >"$MNT/a/good"
echo "small $SMALL_MARK" >"$MNT/c/small"
echo sibling >"$MNT/c/sibling"
for i in $(seq 40); do
	echo "line $i" >>"$MNT/diary"
done
e2e_umount

step "flip a bit in the stored records holding the markers"
"$FLIP" "$DATA/store" "$BIG_MARK" >"$TMP/flip.big" ||
	fail "store_flip found no record with the big file's marker"
"$FLIP" "$DATA/store" "$SMALL_MARK" >"$TMP/flip.small" ||
	fail "store_flip found no record with the small file's marker"
"$FLIP" "$DATA/store" "$HUGE_MARK" >"$TMP/flip.huge" ||
	fail "store_flip found no record with the huge file's marker"
echo "   damaged: $(cat "$TMP/flip.big" "$TMP/flip.small" | cut -c1-30 | xargs)"

step "remount: the damaged file fails with EIO, the log names it"
e2e_mount
expect_fail "cat of the damaged large file" "$EIO" cat "$MNT/b/big"
expect_fail "cat of the damaged large file, again" "$EIO" cat "$MNT/b/big"
kill -0 "$DAEMON_PID" 2>/dev/null || fail "the daemon died reading b/big"
grep -E "optimfs\[error\]: .*corrupt.*checksum mismatch" \
	"$TMP/daemon.log" >"$TMP/corrupt.log" ||
	fail "the daemon log has no line naming the corruption"
echo "   log: $(head -n1 "$TMP/corrupt.log" | cut -c1-240)"
# what: a checksum mismatch; where: the block (its id) and the record
grep -qE "block [a-z2-7]{52}" "$TMP/corrupt.log" ||
	fail "the corruption log line does not name the block"
grep -qE "mat|rev" "$TMP/corrupt.log" ||
	fail "the corruption log line does not name the stored record"

step "a damaged piece of a large file: EIO for it, its other pieces read"
expect_fail "read of the file with a damaged piece" "$EIO" \
	dd if="$MNT/d/huge" of=/dev/null bs=64k status=none
cmp -s <(head -c 262144 "$TMP/huge") \
	<(dd if="$MNT/d/huge" bs=64k count=4 status=none) ||
	fail "the first (undamaged) piece of d/huge does not read back"
kill -0 "$DAEMON_PID" 2>/dev/null || fail "the daemon died reading d/huge"

step "a damaged directory block: EIO there, nowhere else"
out=$(cat "$MNT/c/small" 2>&1) && fail "cat c/small read [$out] from a damaged block"
case $out in
*"$EIO"*) ;;
*) fail "cat c/small failed with [$out], expected '$EIO'" ;;
esac
kill -0 "$DAEMON_PID" 2>/dev/null || fail "the daemon died reading c/small"

step "everything else reads, verifies, and takes writes"
cmp -s "$TMP/other" "$MNT/a/other" || fail "a/other does not read back"
expect_eq "a/good" good "$(cat "$MNT/a/good")"
expect_eq "diary" "$(seq 40 | sed 's/^/line /')" "$(cat "$MNT/diary")"
"$OPTIMFS_BIN" verify "$MNT/diary" | grep -q OK || fail "verify diary"
echo more >>"$MNT/diary"
echo new >"$MNT/a/new"
sync "$MNT/a/new"
expect_eq "a/new" new "$(cat "$MNT/a/new")"
expect_eq "ls a" "good new other" "$(ls "$MNT/a" | xargs)"
grep -q "^pid: *$DAEMON_PID" "$MNT/.optimfs/status" ||
	fail "status after the corruption: $(cat "$MNT/.optimfs/status")"
e2e_umount

echo "$E2E_NAME: OK"
