#!/bin/bash
# bench-cluster-quick.sh BUILD [N] [WRITERS] [SECONDS] - a quick A/B of the
# cluster workloads for comparing two builds in one session: a fresh
# 3-node cluster over mutual TLS (-o replicas=3, a mount on each, all on
# 127.0.0.1 and one disk), then (f) N (300) x append + fdatasync to one
# diary through mount 1, and (g) WRITERS (64; 0 skips it) writers for
# SECONDS (3) s spread over the three mounts. Prints bench_fs's lines and
# the daemons' CPU time (user + system). Run it alternately for each
# build: on a shared machine only interleaved runs compare.
set -u
b=${1:?usage: bench-cluster-quick.sh BUILD_DIR [N] [WRITERS] [SECONDS]}
n=${2:-300}; w=${3:-64}; secs=${4:-3}
opt=$b/optimfs
. "$(dirname "$0")/bench-cluster3.sh"
cpu_us() { local p t=0 tck; tck=$(getconf CLK_TCK); for p in "$@"; do t=$((t + $(cut -d' ' -f14,15 /proc/"$p"/stat | tr ' ' +))); done; echo $((t * 1000000 / tck)); }
start3 optimfs-qc
mkdir "$base/c1/f" "$base/c1/g"; sleep 1.5 # the directories reach every mount
c0=$(cpu_us "${pids[@]}")
"$b/tests/bench_fs" "$base/c1/f" datasync "$n" | tr '\n' ' '
echo " cpu/append $((($(cpu_us "${pids[@]}") - c0) / n)) us"
if [ "$w" -gt 0 ]; then
	c0=$(cpu_us "${pids[@]}")
	"$b/tests/bench_fs" "$base/c1/g:$base/c2/g:$base/c3/g" writers "$w" "$secs" | tr '\n' ' '
	echo " cpu $((($(cpu_us "${pids[@]}") - c0) / 1000)) ms"
fi
grep "^  peer" "$base/c1/.optimfs/status" 2>/dev/null | sed 's/^  /mount 1: /'
