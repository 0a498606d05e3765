#!/bin/bash
# bench-hung.sh [BUILD] [N] [MB] - writes through mount 1 of a 3-node
# cluster over mutual TLS (-o replicas=3, a mount on each, 127.0.0.1),
# while every node answers (the baseline, in the same run) and while node
# 3 is hung (SIGSTOP: its connections stay open, nothing answers), then
# once it is resumed.  Per phase: N (200) x append + fdatasync (bench_fs
# datasync) and a file of MB (30) MB of random data written with dd
# bs=1M conv=fsync.  Prints each phase's lines, mount 1's view of node 3,
# and the hung phase's rates as ratios of the baseline's.
set -u
b=${1:-build}; n=${2:-200}; mb=${3:-30}
opt=$b/optimfs
. "$(dirname "$0")/bench-cluster3.sh"
phase() { # phase LABEL: N appends and an MB file through mount 1: $rate, $mbs
	local out t0 t1
	out=$("$b/tests/bench_fs" "$base/c1/f" datasync "$n" | tr '\n' ' ')
	rate=$(sed -n 's/.*rate=\([0-9.]*\).*/\1/p' <<<"$out")
	printf '%-10s %s\n' "$1" "$out"
	t0=$(date +%s%N)
	dd if="$base/src" of="$base/c1/f/$1.bin" bs=1M conv=fsync status=none
	t1=$(date +%s%N)
	mbs=$(awk -v m="$mb" -v ns=$((t1 - t0)) 'BEGIN { printf "%.1f", m * 1e9 / ns }')
	printf '%-10s dd %s MB conv=fsync: %s MB/s\n' "$1" "$mb" "$mbs"
	grep "^  peer n3 " "$base/c1/.optimfs/status" | sed 's/^  /           mount 1: /'
}
start3 optimfs-hung
head -c $((mb * 1000000)) /dev/urandom >"$base/src"
mkdir "$base/c1/f"; sleep 1.5 # the directory reaches every mount
phase "all up"; r0=$rate; m0=$mbs
kill -STOP "${pids[2]}"
phase "n3 hung"; r1=$rate; m1=$mbs
kill -CONT "${pids[2]}"; sleep 1
phase "resumed"
awk -v a="$r1" -v b="$r0" -v c="$m1" -v d="$m0" 'BEGIN {
	printf "hung / all up: appends %.2f, dd %.2f\n", (b > 0 ? a / b : 0), (d > 0 ? c / d : 0) }'
