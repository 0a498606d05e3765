#!/usr/bin/env bash
# test_diary.sh - diaries through the shell: concurrent appenders never
# interleave inside a line, a trailing fragment becomes an entry at close,
# large appends and reads at any offset, the log and hash chain, and
# -o commit=async keeping everything across a remount.
source "$(dirname "$0")/e2e_lib.sh"

step "mount"
e2e_mount
cd "$MNT"

step "trailing fragment becomes an entry at close"
printf 'partial' >>frag
expect_eq "fragment visible after close" partial "$(cat frag)"
echo " line" >>frag
expect_eq "fragment then line" "partial line" "$(cat frag)"
entries=$(getfattr --only-values -n user.optimfs.entries frag)
expect_eq "two entries (fragment, line)" 2 "$entries"

step "appends move the mtime, touch sets it"
touch -d @1000000000 frag
expect_eq "mtime set by touch" 1000000000 "$(stat -c %Y frag)"
echo "later" >>frag
t=$(stat -c %Y frag)
[ "$t" -ge $(($(date +%s) - 60)) ] || fail "an append left the mtime at $t"

step "size seen at once by other processes, attributes cached"
# A one-node mount lets the kernel keep a diary's attributes for a
# second: its own writes mark size and times stale, so another process
# sees each append at once, and an open does not ask for them again.
exec 7>>sized
want=0
for i in 1 2 3 4 5; do
	echo "line $i" >&7
	want=$((want + 7))
	expect_eq "size after write $i, seen by stat" "$want" "$(stat -c %s sized)"
done
exec 7>&-
getattrs() { sed -n 's/^optimfs_requests_total{op="getattr"} //p' .optimfs/stats; }
before=$(getattrs)
for i in $(seq 50); do echo "again $i" >>sized; done
after=$(getattrs)
[ $((after - before)) -lt 25 ] ||
	fail "50 appends by open+write+close asked for the attributes $((after - before)) times"
expect_eq "size after the appends" "$((35 + 9 * 8 + 41 * 9))" "$(stat -c %s sized)"
# an unfinished line joins the diary at its writer's close, which the
# kernel does not see as a write: a size read before (once the write's
# own attributes expired) must not be kept past the close
exec 7>>sized
printf 'abc' >&7
sleep 1.2
stat -c %s sized >/dev/null
exec 7>&-
expect_eq "size once its writer closed" 479 "$(stat -c %s sized)"

step "two appenders at once: whole lines, each writer in order"
writer() {
	local id=$1 i
	for i in $(seq 300); do
		echo "writer-$id line-$i $(printf 'x%.0s' $(seq $((i % 40))))"
	done >>both
}
writer a &
pa=$!
writer b &
pb=$!
wait $pa
wait $pb
expect_eq "line count" 600 "$(wc -l <both)"
bad=$(grep -cvE '^writer-[ab] line-[0-9]+ x*$' both || true)
expect_eq "torn or interleaved lines" 0 "$bad"
for id in a b; do
	grep "^writer-$id " both | awk '{print $2}' >"$TMP/order.$id"
	seq 300 | sed 's/^/line-/' >"$TMP/expect.$id"
	diff -q "$TMP/expect.$id" "$TMP/order.$id" >/dev/null ||
		fail "writer $id: lines missing, duplicated or out of order"
done

step "two writers that split each line over several write()s"
# Each writer keeps one descriptor open and writes every line in three
# pieces (printf is a builtin: one write() per call, and the group's
# redirection opens the file once); the pieces of the two writers
# alternate in time, but each line must come out whole.
splitter() {
	local id=$1 i
	{
		for i in $(seq 200); do
			printf 'split-%s ' "$id"
			printf 'part-%d ' "$i"
			printf 'end\n'
		done
	} >>split
}
splitter a &
pa=$!
splitter b &
pb=$!
wait $pa
wait $pb
expect_eq "split lines" 400 "$(wc -l <split)"
bad=$(grep -cvE '^split-[ab] part-[0-9]+ end$' split || true)
expect_eq "lines interleaved inside" 0 "$bad"
for id in a b; do
	expect_eq "writer $id order" "$(seq 200 | sed 's/^/part-/')" \
		"$(grep "^split-$id " split | awk '{print $2}')"
done

step "large appends and reads at any offset"
for i in $(seq 2000); do
	printf 'record %05d %s\n' "$i" "$(head -c 48 /dev/zero | tr '\0' r)"
done >"$TMP/records"
head -c 3000000 /dev/urandom | base64 >>"$TMP/records"
cat "$TMP/records" >>big
cmp "$TMP/records" big || fail "cat of a large diary differs"
expect_eq "size" "$(stat -c %s "$TMP/records")" "$(stat -c %s big)"
for off in 0 1 4095 4096 65537 131071 1000000 2500000; do
	expect_eq "read 100 bytes at $off" \
		"$(dd if="$TMP/records" bs=1 skip=$off count=100 status=none | md5sum)" \
		"$(dd if=big iflag=skip_bytes,count_bytes skip=$off count=100 status=none | md5sum)"
done
expect_eq "tail -c" "$(tail -c 777 "$TMP/records" | md5sum)" \
	"$(tail -c 777 big | md5sum)"
expect_eq "grep -c" 2000 "$(grep -c '^record ' big)"

# the diary's queue held ~60 000 lines; committed, it holds no memory
# (its collection is still open: the kernel holds the diary just read,
# and an idle one is closed only after 10 s)
expect_eq "queue memory after the commits" 0 \
	"$(awk '$1 == "optimfs_queue_bytes" { print $2 }' .optimfs/stats)"

step "append with fsync (dd conv=fsync)"
echo synced | dd of=big oflag=append conv=notrunc,fsync status=none
expect_eq "last line" synced "$(tail -n1 big)"

step "log and verify"
"$OPTIMFS_BIN" log both >"$TMP/log.out"
n=$(($(wc -l <"$TMP/log.out") - 1))
[ "$n" -ge 1 ] || fail "optimfs log both: no entries"
revs=$(awk 'NR > 1 {print $1}' "$TMP/log.out" | tr '\n' ' ')
expect_eq "revisions consecutive" "$(seq 1 $n | tr '\n' ' ')" "$revs"
appends=$(awk 'NR > 1 {s += $4} END {print s}' "$TMP/log.out")
[ "$appends" -ge 600 ] || fail "log lists $appends appends, expected >= 600"
for f in frag both big; do
	"$OPTIMFS_BIN" verify "$f" >"$TMP/verify.out" ||
		fail "optimfs verify $f: $(cat "$TMP/verify.out")"
	grep -q "OK" "$TMP/verify.out" || fail "verify $f: $(cat "$TMP/verify.out")"
done

step "remount with -o commit=async: close returns at once, nothing lost"
cd /
e2e_umount
e2e_mount commit=async
cd "$MNT"
grep -q "^commit: *async" .optimfs/status || fail "status: not async"
for i in $(seq 500); do
	echo "async $i" >>async
done
cd /
e2e_umount
e2e_mount
cd "$MNT"
expect_eq "async lines after remount" "$(seq 500 | sed 's/^/async /')" \
	"$(cat async)"
cmp "$TMP/records" <(head -c "$(stat -c %s "$TMP/records")" big) ||
	fail "big diary changed across remounts"
"$OPTIMFS_BIN" verify async | grep -q OK || fail "verify async"

cd /
e2e_umount
echo "$E2E_NAME: OK"
