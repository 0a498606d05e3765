#!/usr/bin/env bash
# test_restart.sh - durability across daemon restarts.
#   1. clean: SIGTERM (no umount command) commits pending work;
#   2. kill -9 while two writers append with fsync: after remount every
#      fsync-acknowledged line is present exactly once, in each writer's
#      order, untorn; repeated for several rounds on the same data.
source "$(dirname "$0")/e2e_lib.sh"

ROUNDS=${E2E_ROUNDS:-3}

step "SIGTERM commits pending work"
e2e_mount commit=async,commit_interval=60000
mkdir "$MNT/d"
echo kept >"$MNT/d/f"
echo line >>"$MNT/d/log"
kill -TERM "$DAEMON_PID"
wait "$DAEMON_PID" || fail "daemon exit status after SIGTERM: $?"
DAEMON_PID=
wait_for "unmounted after SIGTERM" 10 bash -c "! grep -qs ' $MNT fuse.optimfs ' /proc/mounts"
e2e_mount
expect_eq "file after SIGTERM" kept "$(cat "$MNT/d/f")"
expect_eq "diary after SIGTERM" line "$(cat "$MNT/d/log")"
"$OPTIMFS_BIN" verify "$MNT/d/log" | grep -q OK || fail "verify d/log"
e2e_umount

# writer ID: append numbered lines, each with fsync; record a line in
# $TMP/ack.ID only after its fsync returned.
writer() {
	local id=$1 i=0
	while :; do
		i=$((i + 1))
		# nocreat: once the mount is gone, fail instead of writing
		# into the bare mountpoint directory.
		printf 'w%s %06d %s\n' "$id" "$i" "$(head -c $((i % 50)) /dev/zero |
			tr '\0' z)" |
			dd of="$MNT/crash" oflag=append conv=notrunc,nocreat,fsync \
				status=none 2>/dev/null || return 0
		echo "$i" >>"$TMP/ack.$id"
	done
}

for round in $(seq "$ROUNDS"); do
	step "kill -9 round $round of $ROUNDS"
	e2e_mount
	[ -e "$MNT/crash" ] || "$OPTIMFS_BIN" diary create "$MNT/crash"
	writer A &
	wa=$!
	writer B &
	wb=$!
	sleep "1.$((RANDOM % 10))"
	kill -KILL "$DAEMON_PID"
	wait $wa $wb 2>/dev/null || true
	e2e_after_kill
	e2e_mount
	bad=$(grep -cvE '^w[AB] [0-9]{6} z*$' "$MNT/crash" || true)
	expect_eq "round $round: torn lines" 0 "$bad"
	for id in A B; do
		touch "$TMP/ack.$id"
		grep "^w$id " "$MNT/crash" | awk '{print $2 + 0}' >"$TMP/got.$id"
		# Each round's writer restarts at 1: split the lines into runs.
		awk -v acks="$TMP/ack.$id" '
			BEGIN { while ((getline l < acks) > 0) ack[++na] = l }
			{ got[++ng] = $1 }
			END {
				# acknowledged lines must appear, in order, once
				j = 1
				for (i = 1; i <= na; i++) {
					while (j <= ng && got[j] != ack[i]) j++
					if (j > ng) { print "missing " ack[i]; exit 1 }
					j++
				}
			}' "$TMP/got.$id" ||
			fail "round $round: writer $id lost an fsync-acknowledged line"
		# No line appears twice within one round's run (1, 2, 3, ...).
		awk 'NR > 1 && $1 != prev + 1 && $1 != 1 { print; exit 1 }
			{ prev = $1 }' "$TMP/got.$id" ||
			fail "round $round: writer $id: duplicated or reordered lines"
	done
	"$OPTIMFS_BIN" verify "$MNT/crash" | grep -q OK ||
		fail "round $round: hash chain does not verify"
	echo "   $(wc -l <"$MNT/crash") lines, acknowledged: A $(wc -l <"$TMP/ack.A"), B $(wc -l <"$TMP/ack.B")"
	e2e_umount
done

echo "$E2E_NAME: OK"
