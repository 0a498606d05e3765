# e2e_lib.sh - shared helpers of the end-to-end tests (sourced, not run).
#
# Each test: source this, then `e2e_mount` and drive $MNT with shell
# tools.  Everything lives in a fresh temp dir; an EXIT trap always
# unmounts and stops the daemon, even when a check fails, and shows the
# daemon's log on failure.  OPTIMFS_BIN names the binary (default
# build/optimfs of this checkout).

set -euo pipefail

E2E_NAME=$(basename "$0" .sh)
E2E_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
OPTIMFS_BIN=${OPTIMFS_BIN:-$E2E_ROOT/build/optimfs}
case $OPTIMFS_BIN in /*) ;; *) OPTIMFS_BIN=$PWD/$OPTIMFS_BIN ;; esac
if [ ! -x "$OPTIMFS_BIN" ]; then
	echo "$E2E_NAME: $OPTIMFS_BIN is not built" >&2
	exit 1
fi

TMP=$(mktemp -d "${TMPDIR:-/tmp}/optimfs-$E2E_NAME.XXXXXX")
MNT=$TMP/mnt
DATA=$TMP/data
DAEMON_PID=
E2E_STEP=start
mkdir -p "$MNT"

e2e_mounted() {
	grep -qs " $MNT fuse.optimfs " /proc/mounts
}

# Stop the daemon (SIGTERM first: it unmounts and commits; then force)
# and detach the mount if it is still there.  Never fails.
e2e_stop() {
	if [ -n "$DAEMON_PID" ] && kill -0 "$DAEMON_PID" 2>/dev/null; then
		kill -TERM "$DAEMON_PID" 2>/dev/null
		for _ in $(seq 100); do
			kill -0 "$DAEMON_PID" 2>/dev/null || break
			sleep 0.1
		done
		kill -KILL "$DAEMON_PID" 2>/dev/null
		wait "$DAEMON_PID" 2>/dev/null
	fi
	if e2e_mounted; then
		fusermount3 -u -z "$MNT" 2>/dev/null || umount -l "$MNT"
	fi
	return 0
}

# san_reports: false, after printing them, when a daemon's log holds a
# sanitizer's report.  A daemon built with ASan and UBSan (scripts/test.sh's
# second pass) reports at its exit, into its own log, which is removed
# with $TMP: without this a leak or a UBSan error in the daemon would pass.
# The logs: those of daemons in the foreground ($TMP/*.log) and of those
# that went to the background (DATA/optimfs.log, a data directory in
# $TMP).  A daemon killed with SIGKILL (cluster_cleanup's) reports nothing.
san_reports() {
	local f found=0
	for f in "$TMP"/*.log "$TMP"/*/optimfs.log; do
		[ -f "$f" ] || continue
		if grep -qE "ERROR: (AddressSanitizer|LeakSanitizer)|runtime error:" "$f"; then
			echo "FAIL: sanitizer report in the log ${f#"$TMP"/}:" >&2
			grep -nE -A40 "ERROR: (AddressSanitizer|LeakSanitizer)|runtime error:" "$f" | head -n 120 >&2
			found=1
		fi
	done
	return $found
}

e2e_cleanup() {
	local rc=$?

	set +e
	cd /
	e2e_stop
	if ! san_reports && { [ $rc -eq 0 ] || [ $rc -eq 77 ]; }; then
		rc=1
	fi
	if [ $rc -eq 77 ]; then
		echo "$E2E_NAME: skipped at step: $E2E_STEP" >&2
	elif [ $rc -ne 0 ]; then
		echo "$E2E_NAME: FAILED at step: $E2E_STEP" >&2
		if [ -s "$TMP/daemon.log" ]; then
			echo "--- daemon log (last 40 lines) ---" >&2
			tail -n 40 "$TMP/daemon.log" >&2; cp "$TMP/daemon.log" /tmp/optimfs-last-failed-daemon.log 2>/dev/null || true
		fi
	fi
	rm -rf "$TMP"
	exit $rc
}
trap e2e_cleanup EXIT
trap 'exit 130' INT TERM

step() {
	E2E_STEP=$*
	echo "== $* ($SECONDS s)"
}

fail() {
	echo "FAIL: $*" >&2
	exit 1
}

# expect_clean_log: no commit left blocks behind (a store refusal such as
# a delete of a block that never existed shows as "not committed").
expect_clean_log() {
	if grep -n "not committed" "$TMP/daemon.log" >&2; then
		fail "the daemon log reports blocks not committed"
	fi
}

# acked_in_order ACKS GOT: every number of file ACKS (acknowledged lines)
# appears in file GOT (numbers read back) in the same order; prints the
# first missing one and fails otherwise.
acked_in_order() {
	awk -v acks="$1" '
		BEGIN { while ((getline l < acks) > 0) ack[++na] = l }
		{ got[++ng] = $1 }
		END {
			j = 1
			for (i = 1; i <= na; i++) {
				while (j <= ng && got[j] != ack[i]) j++
				if (j > ng) { print "missing line " ack[i]; exit 1 }
				j++
			}
		}' "$2"
}

# runs_without_repeats GOT: the numbers of GOT count 1, 2, 3, ... in runs
# (each run a round's writer restarting at 1): nothing twice, no reorder.
runs_without_repeats() {
	awk 'NR > 1 && $1 != prev + 1 && $1 != 1 { print; exit 1 }
		{ prev = $1 }' "$1"
}

# expect_eq WHAT EXPECTED GOT
expect_eq() {
	[ "$2" == "$3" ] ||
		fail "$1: expected [$2], got [$3]"
}

# expect_fail WHAT MESSAGE-PART CMD...: CMD must fail, saying MESSAGE-PART.
expect_fail() {
	local what=$1 msg=$2 out
	shift 2
	if out=$("$@" 2>&1); then
		fail "$what: '$*' succeeded, expected it to fail with '$msg'"
	fi
	case $out in
	*"$msg"*) ;;
	*) fail "$what: '$*' failed with [$out], expected '$msg'" ;;
	esac
}

# expect_exit WHAT STATUS MESSAGE-PART CMD...: CMD must exit with STATUS,
# saying MESSAGE-PART (stdout and stderr).
expect_exit() {
	local what=$1 want=$2 msg=$3 out rc=0
	shift 3
	out=$("$@" 2>&1) || rc=$?
	expect_eq "$what: exit status of '$*' (output [$out])" "$want" "$rc"
	case $out in
	*"$msg"*) ;;
	*) fail "$what: '$*' said [$out], expected '$msg'" ;;
	esac
}

# serving DIR: the mount on DIR answers (its .optimfs/status exists).  The
# daemon mounts before it opens its store, and the kernel holds requests
# until it serves, killable only by a fatal signal: ask from a child that
# is killed after 2 s, so a stuck daemon fails the test instead of hanging it.
serving() {
	timeout -s KILL 2 stat "$1/.optimfs/status" >/dev/null 2>&1
}

# Mount $MNT over $DATA in the foreground (background job), with
# auto_unmount so that even a killed daemon leaves no mount behind.
e2e_mount() {
	local opts=auto_unmount
	[ $# -gt 0 ] && opts=$opts,$1
	"$OPTIMFS_BIN" mount "$MNT" --data "$DATA" -f -o "$opts" \
		>>"$TMP/daemon.log" 2>&1 &
	DAEMON_PID=$!
	local end=$((SECONDS + 10))
	while [ $SECONDS -lt $end ]; do
		if e2e_mounted && serving "$MNT"; then
			return 0
		fi
		kill -0 "$DAEMON_PID" 2>/dev/null ||
			fail "mount: the daemon exited ($(tail -n 3 "$TMP/daemon.log"))"
		sleep 0.1
	done
	e2e_show_stuck "$DAEMON_PID"
	fail "mount: $MNT not mounted after 10 s ($(e2e_mounted &&
		echo "in /proc/mounts, .optimfs/status missing" ||
		echo "not in /proc/mounts"))"
}

# e2e_show_stuck PID: where a process that should have answered waits,
# for the failure report: each thread's kernel wait channel and syscall
# (number, then arguments), each child process (a fusermount3 that
# never finished) the same way.
e2e_show_stuck() {
	local pid=$1 t p
	[ -n "$pid" ] && [ -d "/proc/$pid" ] || return 0
	echo "--- where pid $pid and its children wait ---" >&2
	for p in "$pid" $(pgrep -P "$pid" 2>/dev/null); do
		echo "process $p: $(tr '\0' ' ' <"/proc/$p/cmdline" 2>/dev/null)" >&2
		for t in /proc/"$p"/task/*; do
			echo "  thread ${t##*/} $(cat "$t/comm" 2>/dev/null):" \
				"wchan $(cat "$t/wchan" 2>/dev/null)," \
				"syscall $(cut -d' ' -f1-3 "$t/syscall" 2>/dev/null)" >&2
		done
	done
	return 0
}

# Unmount with `optimfs umount` (waits for the daemon) and check that the
# daemon exited cleanly.
e2e_umount() {
	local rc=0
	"$OPTIMFS_BIN" umount "$MNT" || fail "optimfs umount $MNT failed"
	e2e_mounted && fail "umount: $MNT still mounted"
	wait "$DAEMON_PID" || rc=$?
	DAEMON_PID=
	expect_eq "daemon exit status after umount" 0 "$rc"
}

# After kill -9 of the daemon: -o auto_unmount's watchdog (fusermount3)
# normally removes the dead mount within a second, but fusermount3 3.14
# misses it when the system's mount table changes at that moment (it
# counts /proc/mounts lines); then detach it with `optimfs umount`.
e2e_after_kill() {
	local i
	DAEMON_PID=
	for i in $(seq 50); do
		e2e_mounted || return 0
		sleep 0.1
	done
	echo "   note: auto_unmount left the dead mount; optimfs umount detaches it"
	"$OPTIMFS_BIN" umount "$MNT" 2>/dev/null ||
		fail "optimfs umount of a dead mount failed"
	e2e_mounted && fail "dead mount still there after optimfs umount"
	return 0
}

# wait_for WHAT SECONDS CMD...: poll until CMD succeeds.
wait_for() {
	local what=$1 secs=$2 i
	shift 2
	for ((i = 0; i < secs * 10; i++)); do
		"$@" && return 0
		sleep 0.1
	done
	fail "$what: not true after $secs s"
}

# ---- clusters: nodes n1..n4 on 127.0.0.1, a mount $TMP/mI each ----------
#
# cluster_init sets PORT (below the kernel's ephemeral range, 32768+: an
# outgoing connection could hold a test's port), CA ($TMP/certs), PID
# (node -> daemon pid) and the EXIT trap that kills every node and
# detaches its mount before e2e_cleanup, showing the nodes' logs when the
# test failed.  Node I listens at $(url I) and publishes its change feed
# on that port + 1.  CLUSTER_DAEMON_NODE names a node started as a daemon
# (`optimfs mount` without -f) with paths relative to $TMP, as a user
# types them; NODE_OPTS adds mount options (-o) to every node.  BG_PIDS:
# a test's background processes (writers, readers on a mount), killed
# before the nodes.
CLUSTER_DAEMON_NODE=
NODE_OPTS=
BG_PIDS=()

# port_reserve: PORT, the first of 100 ports no other test of this
# machine holds (tests run in parallel: two that picked one range by
# their pids collided), held by an flock on $PORTS_DIR/RANGE.lock through
# fd PORT_FD: the kernel lets it go when the test and every process that
# inherited the fd (its daemons, should one outlive it) are gone, so no
# stale reservation is ever taken over while its ports may be in use.
PORTS_DIR=/tmp/optimfs-e2e-ports
port_reserve() {
	local i base
	mkdir -p -m 1777 "$PORTS_DIR"
	for ((i = 0; i < 90; i++)); do
		base=$((22500 + (($$ + i) % 90) * 100))
		exec {PORT_FD}>>"$PORTS_DIR/$base.lock" || continue
		if flock -n "$PORT_FD"; then
			PORT=$base
			return 0
		fi
		exec {PORT_FD}>&-
	done
	fail "no free range of 100 ports under $PORTS_DIR (all 90 locked)"
}

cluster_init() {
	port_reserve
	CA=$TMP/certs
	declare -gA PID
	trap 'rc=$?; set +e; [ $rc -ne 0 ] && [ $rc -ne 77 ] && cluster_cleanup; cluster_cleanup >/dev/null 2>&1; (exit $rc); e2e_cleanup' EXIT
}

url() { echo "tls+tcp://127.0.0.1:$((PORT + 10 * $1))"; }

# cluster_certs N: a CA with nodes n1..nN in $CA
cluster_certs() {
	local i
	"$OPTIMFS_BIN" init "$CA" --name n1 >/dev/null
	for ((i = 2; i <= $1; i++)); do
		"$OPTIMFS_BIN" node add "$CA" "n$i" >/dev/null
	done
}

node_mounted() { grep -qs " $TMP/m$1 fuse.optimfs " /proc/mounts; }

# bg_stop: kill the processes of BG_PIDS (and their children).
bg_stop() {
	local p
	for p in "${BG_PIDS[@]}"; do
		pkill -KILL -P "$p" 2>/dev/null || true # a writer's dd or echo
		kill -KILL "$p" 2>/dev/null || true
		wait "$p" 2>/dev/null || true
	done
	BG_PIDS=()
	return 0
}

cluster_cleanup() {
	local i
	bg_stop
	for i in 1 2 3 4; do # what each live node thinks of the others
		[ -n "${PID[$i]:-}" ] && node_mounted "$i" && {
			echo "--- m$i/.optimfs/status"
			timeout -s KILL 3 cat "$TMP/m$i/.optimfs/status"
		} >&2
	done
	for i in 1 2 3 4; do
		if [ -n "${PID[$i]:-}" ]; then
			kill -KILL "${PID[$i]}" 2>/dev/null
			wait "${PID[$i]}" 2>/dev/null
		fi
		node_mounted "$i" && fusermount3 -u -z "$TMP/m$i" 2>/dev/null
	done
	for i in 1 2 3 4; do
		[ -s "$TMP/n$i.log" ] && { echo "--- n$i log (tail)"; tail -n 15 "$TMP/n$i.log"; } >&2
	done
	return 0
}

# start_node I [JOIN-NODE]: mount $TMP/mI as node nI (data $TMP/dI, log
# $TMP/nI.log) and wait until it serves.  The environment of the call
# reaches the daemon.
start_node() {
	local i=$1 join=() opts=auto_unmount
	[ $# -gt 1 ] && join=(--join "$(url "$2")")
	[ -n "$NODE_OPTS" ] && opts=$opts,$NODE_OPTS
	mkdir -p "$TMP/m$i"
	if [ "$i" = "$CLUSTER_DAEMON_NODE" ]; then
		(cd "$TMP" && "$OPTIMFS_BIN" mount "m$i" --data "d$i" -o "$opts" \
			--listen "$(url "$i")" "${join[@]}" --certs certs --name "n$i") \
			>>"$TMP/n$i.log" 2>&1 || fail "n$i did not start: $(tail -n 3 "$TMP/n$i.log")"
		PID[$i]=$(head -n 1 "$TMP/d$i/optimfs.pid")
	else
		"$OPTIMFS_BIN" mount "$TMP/m$i" --data "$TMP/d$i" -f -o "$opts" \
			--listen "$(url "$i")" "${join[@]}" --certs "$CA" --name "n$i" \
			>>"$TMP/n$i.log" 2>&1 &
		PID[$i]=$!
	fi
	local end=$((SECONDS + 15))
	while [ $SECONDS -lt $end ]; do
		node_mounted "$i" && serving "$TMP/m$i" && return 0
		kill -0 "${PID[$i]}" 2>/dev/null || fail "n$i exited: $(tail -n 3 "$TMP/n$i.log")"
		sleep 0.1
	done
	e2e_show_stuck "${PID[$i]}"
	fail "n$i: not mounted after 15 s"
}

# node_gone I: after node I's daemon died, wait for auto_unmount to drop
# its mount (detach it after 5 s).
node_gone() {
	PID[$1]=
	for _ in $(seq 50); do
		node_mounted "$1" || return 0
		sleep 0.1
	done
	fusermount3 -u -z "$TMP/m$1"
}

kill_node() {
	kill -KILL "${PID[$1]}"
	wait "${PID[$1]}" 2>/dev/null || true
	node_gone "$1"
}

# stop_node I: unmount node I cleanly and check its exit status.
stop_node() {
	"$OPTIMFS_BIN" umount "$TMP/m$1" || fail "umount m$1"
	wait "${PID[$1]}" || fail "n$1 exit status"
	PID[$1]=
}

now_ms() { echo $(($(date +%s%N) / 1000000)); }

# append_to FILE: append stdin to FILE, never creating it; fails if the
# close (the commit) fails
append_to() { dd of="$1" oflag=append conv=notrunc,nocreat status=none; }

# dies_after_pend I FILE: node I, started with OPTIMFS_TEST_DIE_AFTER_PEND=1
# (docs/PROTOCOL.md §6), is sent an append to FILE (on its mount): the
# append must fail and the node exit 9 in net_commit, its pendings left on
# the replicas; then wait for its mount to go.
dies_after_pend() {
	local rc=0
	# dd, not echo: bash ignores the error of close, where the commit fails
	if echo "doomed" | append_to "$2" 2>"$TMP/dies.err"; then
		fail "the append whose coordinator died was acknowledged"
	fi
	wait "${PID[$1]}" || rc=$?
	expect_eq "n$1's exit status" 9 "$rc"
	grep -q "OPTIMFS_TEST_DIE_AFTER_PEND: exiting before the commit" "$TMP/n$1.log" ||
		fail "n$1 did not die in net_commit"
	node_gone "$1"
}

# appends_after_expiry REL I J: once a dead coordinator's pendings on
# REL (a diary) expire, "after 1" appended through mI and "after 2"
# through mJ commit, within 40 s (the pendings live 10 s; an append that
# finds them live waits up to 15 s for them, then fails).
appends_after_expiry() {
	local t0 i n=1
	t0=$(now_ms)
	for i in "$2" "$3"; do
		echo "after $n" | append_to "$TMP/m$i/$1" 2>"$TMP/after.err" ||
			fail "append on m$i after the coordinator died: $(cat "$TMP/after.err")"
		n=$((n + 1))
	done
	echo "   appends went through after $(($(now_ms) - t0)) ms"
	[ $(($(now_ms) - t0)) -lt 40000 ] || fail "the appends took more than 40 s"
}

members_up() { # members_up I N: node I's status shows N members up or self
	[ "$(grep -cE '^  peer .* (up|self) ' "$TMP/m$1/.optimfs/status")" -eq "$2" ]
}

# start_cluster: certificates for n1..n3 and three mounted nodes that see
# each other.
start_cluster() {
	local i
	cluster_certs 3
	start_node 1
	start_node 2 1
	start_node 3 1
	for i in 1 2 3; do wait_for "n$i sees 3 members up" 15 members_up "$i" 3; done
}
