#!/usr/bin/env bash
# test_basic.sh - one mount driven with ordinary shell tools: directories,
# regular files, diaries, renames, cp -r / tar round trips, attributes,
# xattrs, the control files; then unmount, remount on the same data and
# check that everything is still there and the hash chains verify; bad
# mount options are refused with exit 2 and a message naming them.
source "$(dirname "$0")/e2e_lib.sh"

step "mount"
e2e_mount
cd "$MNT"

step "control files"
grep -q "^data dir: *$DATA" .optimfs/status ||
	fail "status does not name the data dir: $(cat .optimfs/status)"
grep -q "^commit: *sync" .optimfs/status || fail "status: commit mode"
grep -q '^optimfs_requests_total{op="lookup"} [0-9]' .optimfs/stats ||
	fail "stats: no request counters"
"$OPTIMFS_BIN" status "$MNT" | grep -q "^pid: *$DAEMON_PID" ||
	fail "optimfs status: wrong pid"
[ -z "$(ls -A)" ] || fail "a fresh root lists [$(ls -A)], expected nothing"

step "mkdir, create, write, read"
mkdir d
echo x >d/f
expect_eq "cat d/f" x "$(cat d/f)"
expect_eq "size of d/f" 2 "$(stat -c %s d/f)"
printf 'hello world' >d/g
expect_eq "cat d/g" "hello world" "$(cat d/g)"
printf 'HELLO' | dd of=d/g conv=notrunc status=none
expect_eq "overwrite at 0" "HELLO world" "$(cat d/g)"
printf '!' | dd of=d/g bs=1 seek=20 conv=notrunc status=none
expect_eq "write past the end: size" 21 "$(stat -c %s d/g)"
expect_eq "write past the end: zeros" "HELLO world" \
	"$(head -c 11 d/g)"
expect_eq "a hole reads as zeros" "000000000000000000" \
	"$(dd if=d/g bs=1 skip=11 count=9 status=none | od -An -tx1 |
		tr -d ' \n')"
expect_fail "mkdir over a file" "File exists" mkdir d/f
expect_fail "create under a file" "Not a directory" touch d/f/x
expect_fail "long name" "File name too long" touch "d/$(printf 'n%.0s' {1..256})"

step "ls order"
touch d/b d/a d/c
expect_eq "ls d" "a b c f g" "$(ls d | tr '\n' ' ' | sed 's/ $//')"
expect_eq "ls -U d (directory order)" "a b c f g" \
	"$(ls -U d | tr '\n' ' ' | sed 's/ $//')"
expect_eq "ls -a d" ". .. a b c f g" \
	"$(ls -a d | tr '\n' ' ' | sed 's/ $//')"

step "mv within and across directories, over an existing file"
mv d/a d/a2
[ -e d/a ] && fail "mv d/a d/a2: d/a still exists"
[ -e d/a2 ] || fail "mv d/a d/a2: d/a2 missing"
mkdir e
mv d/b e/b
[ -e d/b ] && fail "mv d/b e/b: d/b still exists"
[ -e e/b ] || fail "mv d/b e/b: e/b missing"
echo one >d/c
echo two >e/c2
mv e/c2 d/c
expect_eq "mv over an existing file" two "$(cat d/c)"
[ -e e/c2 ] && fail "mv e/c2 d/c: e/c2 still exists"
mkdir e/sub
echo deep >e/sub/file
mv e/sub d/sub
expect_eq "mv of a directory across" deep "$(cat d/sub/file)"

step "rm, rmdir"
rm d/a2
[ -e d/a2 ] && fail "rm d/a2: still there"
expect_fail "rmdir of a non-empty directory" "Directory not empty" rmdir d
expect_fail "unlink of a directory" "Is a directory" unlink e
rm e/b
rmdir e
[ -e e ] && fail "rmdir e: still there"

step "diary: >> creates it, lines are entries"
printf 'one\ntwo\n' >>log
echo three >>log
expect_eq "cat log" "$(printf 'one\ntwo\nthree')" "$(cat log)"
expect_eq "wc -l log" 3 "$(wc -l <log)"
expect_eq "grep two log" two "$(grep two log)"
expect_eq "sort -r log" "$(printf 'two\nthree\none')" "$(sort -r log)"
expect_eq "head -n1 log" one "$(head -n1 log)"
expect_eq "tail -n1 log" three "$(tail -n1 log)"
expect_eq "read at an offset" "two" "$(tail -c +5 log | head -n1)"
before=$(md5sum <log)

step "diary: no truncation, no overwrite"
expect_fail "echo bad > log" "Operation not permitted" \
	bash -c 'echo bad >log'
expect_fail "truncate -s 0 log" "Operation not permitted" truncate -s 0 log
expect_fail "overwrite inside log" "Operation not permitted" \
	bash -c 'printf X | dd of=log conv=notrunc status=none'
expect_eq "diary unchanged after refusals" "$before" "$(md5sum <log)"
"$OPTIMFS_BIN" diary create d/journal
expect_eq "optimfs diary create: empty" 0 "$(stat -c %s d/journal)"
echo entry >>d/journal
expect_fail "echo > on a created diary" "Operation not permitted" \
	bash -c 'echo bad >d/journal'
expect_fail "optimfs diary create over an existing file" "File exists" \
	"$OPTIMFS_BIN" diary create d/journal

step "diary: tail -f sees a new append"
tail -n0 -f log >"$TMP/tail.out" 2>/dev/null &
tailpid=$!
# tail must hold the file (and have taken its end) before the append
tail_open() { ls -l "/proc/$tailpid/fd" 2>/dev/null | grep -q "$MNT/log"; }
wait_for "tail -f opened the diary" 10 tail_open
sleep 0.3
echo appended-later >>log
seen() { grep -q appended-later "$TMP/tail.out"; }
wait_for "tail -f shows the new line" 5 seen
kill "$tailpid"
wait "$tailpid" 2>/dev/null || true

step "cp -r of a tree and diff -r"
mkdir -p "$TMP/src/a/b/c" "$TMP/src/empty"
for i in $(seq 20); do
	head -c $((i * 997)) /dev/urandom >"$TMP/src/a/f$i"
	echo "line $i" >"$TMP/src/a/b/t$i"
done
head -c 300000 /dev/urandom >"$TMP/src/a/b/c/big"
cp -r "$TMP/src" tree
diff -r "$TMP/src" tree || fail "diff -r after cp -r"

step "tar c and x of a few hundred files, both ways"
mkdir -p "$TMP/tarsrc"
for dir in $(seq 10); do
	mkdir "$TMP/tarsrc/dir$dir"
	for f in $(seq 30); do
		head -c $(((dir * 31 + f * 17) % 700)) /dev/urandom |
			base64 >"$TMP/tarsrc/dir$dir/file$f.txt"
	done
done
mkdir tarx
tar -C "$TMP/tarsrc" -cf - . | tar -C tarx -xf -
diff -r "$TMP/tarsrc" tarx || fail "diff -r after tar x into the mount"
mkdir "$TMP/back"
tar -C tarx -cf - . | tar -C "$TMP/back" -xf -
diff -r "$TMP/tarsrc" "$TMP/back" || fail "diff -r after tar c from the mount"
expect_eq "files in tarx" 300 "$(find tarx -type f | wc -l)"

step "stat, chmod, truncate, utimens"
chmod 640 d/f
expect_eq "mode after chmod 640" 640 "$(stat -c %a d/f)"
expect_eq "type" "regular file" "$(stat -c %F d/f)"
expect_eq "dir type" "directory" "$(stat -c %F d)"
truncate -s 10 d/f
expect_eq "size after truncate up" 10 "$(stat -c %s d/f)"
expect_eq "truncate up pads with zeros" "78 0a 00 00 00 00 00 00 00 00" \
	"$(od -An -tx1 d/f | xargs)"
truncate -s 1 d/f
expect_eq "content after truncate down" x "$(cat d/f)"
touch -m -d "2001-02-03 04:05:06 UTC" d/f
expect_eq "mtime after touch -d" 981173106 "$(stat -c %Y d/f)"
before=$(stat -c %Y d/c)
sleep 1.1
echo more >>d/c
after=$(stat -c %Y d/c)
[ "$after" -gt "$before" ] || fail "mtime did not advance on write ($before -> $after)"
df -P "$MNT" >/dev/null || fail "df (statfs) failed"

step "xattrs"
setfattr -n user.color -v blue d/f
expect_eq "getfattr user.color" blue \
	"$(getfattr --only-values -n user.color d/f)"
getfattr -d d/f | grep -q '^user.color="blue"' ||
	fail "getfattr -d d/f: $(getfattr -d d/f)"
setfattr -x user.color d/f
expect_fail "removed xattr" "No such attribute" \
	getfattr -n user.color d/f
getfattr -d -m '^user\.optimfs\.' log >"$TMP/xattr.out" 2>&1 ||
	fail "getfattr user.optimfs.* on a diary: $(cat "$TMP/xattr.out")"
grep -q 'user.optimfs.rev=' "$TMP/xattr.out" ||
	fail "no user.optimfs.rev on the diary: $(cat "$TMP/xattr.out")"
expect_fail "user.optimfs.* is read-only" "Operation not permitted" \
	setfattr -n user.optimfs.rev -v 7 log

step "optimfs log and verify"
"$OPTIMFS_BIN" log log >"$TMP/log.out" ||
	fail "optimfs log: $(cat "$TMP/log.out")"
head -n1 "$TMP/log.out" | grep -q '^REV' || fail "optimfs log: no header"
[ "$(wc -l <"$TMP/log.out")" -ge 2 ] || fail "optimfs log: no entries"
"$OPTIMFS_BIN" verify log | grep -q "OK" || fail "optimfs verify log"
"$OPTIMFS_BIN" verify d | grep -q "OK" || fail "optimfs verify d (a directory)"
expect_fail "verify of a regular file" "regular file" \
	"$OPTIMFS_BIN" verify d/f
expect_fail "verify outside a mount" "not inside an optimfs mount" \
	"$OPTIMFS_BIN" verify "$TMP"
# the control file takes an st_ino (the object's, not the table slot);
# one no inode of this mount has is refused (ENOENT), not read as another
expect_fail "a log request for an st_ino nobody has" "No such file" \
	bash -c 'echo "log 12345" >.optimfs/ctl'
expect_fail "log of a control file" \
	"optimfs log: .optimfs/status: a control file of the mount, not a diary" \
	"$OPTIMFS_BIN" log .optimfs/status
expect_fail "umount of a directory inside the mount" \
	"optimfs umount: d: not a mountpoint: it is inside the optimfs mount at $MNT" \
	"$OPTIMFS_BIN" umount d
expect_fail "status with an unknown option" "optimfs status: unknown option '--bogus'" \
	"$OPTIMFS_BIN" status --bogus "$MNT"
expect_fail "verify of two paths" "optimfs verify: one PATH, not 2 arguments" \
	"$OPTIMFS_BIN" verify log d

step "restart: unmount, remount, everything is there"
find . -path ./.optimfs -prune -o -print | LC_ALL=C sort >"$TMP/tree.before"
cat log >"$TMP/log.before"
cd /
e2e_umount
e2e_mount
cd "$MNT"
find . -path ./.optimfs -prune -o -print | LC_ALL=C sort >"$TMP/tree.after"
diff "$TMP/tree.before" "$TMP/tree.after" || fail "tree changed across remount"
diff "$TMP/log.before" log || fail "diary changed across remount"
expect_eq "d/c after remount" "$(printf 'two\nmore')" "$(cat d/c)"
expect_eq "mode after remount" 640 "$(stat -c %a d/f)"
expect_eq "mtime after remount" 981173106 "$(stat -c %Y d/f)"
diff -r "$TMP/src" tree || fail "diff -r of the copied tree after remount"
diff -r "$TMP/tarsrc" tarx || fail "diff -r of the tar tree after remount"
"$OPTIMFS_BIN" verify log | grep -q "OK" || fail "verify after remount"
echo after-restart >>log
expect_eq "append after remount" after-restart "$(tail -n1 log)"

step "a second daemon on the same data directory fails before mounting"
# before: a daemon that mounts and then fails unmounts the topmost mount
# on its mountpoint, which two daemons started at once share; findmnt
# --poll sees even a mount that lasts a moment
mkdir -p "$TMP/m2"
findmnt --poll --mountpoint "$TMP/m2" --timeout 3000 >"$TMP/m2.events" 2>&1 &
poller=$!
# findmnt watches once it holds /proc/self/mountinfo open
for _ in $(seq 100); do
	ls -l "/proc/$poller/fd" 2>/dev/null | grep -q mountinfo && break
	sleep 0.05
done
ls -l "/proc/$poller/fd" 2>/dev/null | grep -q mountinfo ||
	fail "findmnt --poll never opened mountinfo"
expect_fail "a second mount of the data directory" \
	"data directory $DATA is in use by another optimfs daemon (pid $DAEMON_PID)" \
	"$OPTIMFS_BIN" mount "$TMP/m2" --data "$DATA" -f -o auto_unmount
wait "$poller" || true
[ -s "$TMP/m2.events" ] && fail "the refused daemon mounted $TMP/m2: $(cat "$TMP/m2.events")"
expect_eq "the first mount still serves" after-restart "$(tail -n1 log)"

step "a data directory whose store is not optimfs's is refused, untouched"
mkdir -p "$TMP/foreign/store" "$TMP/m3"
echo mine >"$TMP/foreign/store/notes.txt"
expect_fail "a mount over a directory of other files" \
	"store $TMP/foreign/store: the directory holds other files (notes.txt) and no RocksDB database" \
	"$OPTIMFS_BIN" mount "$TMP/m3" --data "$TMP/foreign" -f -o auto_unmount
[ -e "$TMP/foreign/store/CURRENT" ] && fail "a store was created among the other files"
expect_eq "their file" mine "$(cat "$TMP/foreign/store/notes.txt")"
mountpoint -q "$TMP/m3" && fail "the refused daemon left $TMP/m3 mounted"

step "bad mount options exit 2, naming the option and its range"
mount_usage() { # mount_usage OPTS MESSAGE
	local rc=0 out
	out=$("$OPTIMFS_BIN" mount "$TMP/m3" --data "$TMP/d3" -f -o "$1" 2>&1) ||
		rc=$?
	expect_eq "-o $1: exit status" 2 "$rc"
	case $out in
	*"-o $2"*) ;;
	*) fail "-o $1: message [$out], expected '-o $2'" ;;
	esac
}
mount_usage commit=never "commit=never: commit must be sync, durable or async"
mount_usage commit_interval=0 "commit_interval=0: commit_interval is 1 to 3600000 ms"
mount_usage idle=10s "idle=10s: idle is 1 to 86400000 ms"
mount_usage idle= "idle=: idle is 1 to 86400000 ms"
mount_usage replicas=9 "replicas=9: replicas is 1 to 8"
mount_usage allow_other,timeout=99999999999999999999 \
	"timeout=99999999999999999999: timeout is 100 to 600000 ms"
expect_fail "--data without its value" "optimfs mount: option '--data' needs a value" \
	"$OPTIMFS_BIN" mount "$TMP/m3" --data
expect_fail "serve with an unknown option" "optimfs serve: unknown option '--bogus'" \
	"$OPTIMFS_BIN" serve --bogus
for bad in --bogus -z; do
	rc=0
	out=$("$OPTIMFS_BIN" mount "$TMP/m3" --data "$TMP/d3" -f "$bad" 2>&1) ||
		rc=$?
	expect_eq "$bad: exit status" 2 "$rc"
	case $out in
	"optimfs mount: unknown option '$bad'"*) ;;
	*) fail "$bad: message [$out], expected optimfs mount: unknown option '$bad'" ;;
	esac
done
: >"$TMP/afile"
rc=0
out=$("$OPTIMFS_BIN" mount "$TMP/m3" --data "$TMP/afile" -f 2>&1) || rc=$?
expect_eq "--data FILE: exit status" 1 "$rc"
case $out in
"optimfs mount: data directory $TMP/afile: Not a directory"*) ;;
*) fail "--data FILE: message [$out]" ;;
esac
mountpoint -q "$TMP/m3" && fail "a refused mount left $TMP/m3 mounted"
[ -e "$TMP/d3" ] && fail "a refused mount created its data directory"

step "unmount"
cd /
e2e_umount

step "a mountpoint that is not empty is mounted over, with a warning"
echo under >"$MNT/under"
e2e_mount
grep -qF "is not empty; its files are hidden while optimfs is mounted there" \
	"$TMP/daemon.log" || fail "no warning of a mountpoint not empty"
[ ! -e "$MNT/under" ] || fail "a file under the mount shows through it"
e2e_umount
expect_eq "the file under the mount, after" under "$(cat "$MNT/under")"
rm "$MNT/under"
echo "$E2E_NAME: OK"
