#!/bin/bash
# bench-hung.sh [BUILD] [N] - durable appends through mount 1 of a 3-node
# cluster over mutual TLS (-o replicas=3, a mount on each, 127.0.0.1),
# while every node answers (the baseline, in the same run) and while node
# 3 is hung (SIGSTOP: its connections stay open, nothing answers), then
# once it is resumed.  N (200) x append + fdatasync per phase (bench_fs
# datasync); prints each phase's line, mount 1's view of node 3, and the
# hung phase's rate as a ratio of the baseline's.
set -u
b=${1:-build}; n=${2:-200}
opt=$b/optimfs
base=$(mktemp -d /tmp/optimfs-hung.XXXXXX)
port=$((16000 + RANDOM % 1000 * 10))
pids=(); mnts=()
cleanup() {
	kill -CONT "${pids[@]}" 2>/dev/null
	for m in "${mnts[@]}"; do fusermount3 -uz "$m" 2>/dev/null; done
	kill "${pids[@]}" 2>/dev/null; wait 2>/dev/null; rm -rf "$base"
}
trap cleanup EXIT
url() { echo "tls+tcp://127.0.0.1:$((port + 10 * ($1 - 1)))"; }
phase() { # phase LABEL: N appends through mount 1, its rate in $rate
	local out
	out=$("$b/tests/bench_fs" "$base/c1/f" datasync "$n" | tr '\n' ' ')
	rate=$(sed -n 's/.*rate=\([0-9.]*\).*/\1/p' <<<"$out")
	printf '%-10s %s\n' "$1" "$out"
	grep "^  peer n3 " "$base/c1/.optimfs/status" | sed 's/^  /           mount 1: /'
}
"$opt" init "$base/certs" --name n1 >/dev/null
"$opt" node add "$base/certs" n2 >/dev/null
"$opt" node add "$base/certs" n3 >/dev/null
for i in 1 2 3; do
	j=(); [ "$i" -gt 1 ] && j=(--join "$(url 1)")
	mkdir -p "$base/c$i"
	"$opt" mount "$base/c$i" --data "$base/d$i" -f -o replicas=3 --listen "$(url "$i")" \
		"${j[@]}" --certs "$base/certs" --name "n$i" 2>"$base/n$i.log" &
	pids+=($!); mnts+=("$base/c$i")
	for t in $(seq 100); do mountpoint -q "$base/c$i" && break; sleep 0.1; done
done
for i in 1 2 3; do
	for t in $(seq 150); do
		c=$(grep -scE "^  peer .* (up|self) " "$base/c$i/.optimfs/status" 2>/dev/null)
		[ "${c:-0}" = 3 ] && break; sleep 0.1
	done
done
mkdir "$base/c1/f"; sleep 1.5 # the directory reaches every mount
phase "all up"; r0=$rate
kill -STOP "${pids[2]}"
phase "n3 hung"; r1=$rate
kill -CONT "${pids[2]}"; sleep 1
phase "resumed"
awk -v a="$r1" -v b="$r0" 'BEGIN { printf "hung / all up: %.2f\n", (b > 0 ? a / b : 0) }'
