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
base=$(mktemp -d /tmp/optimfs-qc.XXXXXX)
port=$((14000 + RANDOM % 1000 * 10))
pids=(); mnts=()
cleanup() {
	for m in "${mnts[@]}"; do fusermount3 -uz "$m" 2>/dev/null; done
	kill "${pids[@]}" 2>/dev/null; wait 2>/dev/null; rm -rf "$base"
}
trap cleanup EXIT
cpu_us() { local p t=0 tck; tck=$(getconf CLK_TCK); for p in "$@"; do t=$((t + $(cut -d' ' -f14,15 /proc/"$p"/stat | tr ' ' +))); done; echo $((t * 1000000 / tck)); }
url() { echo "tls+tcp://127.0.0.1:$((port + 10 * ($1 - 1)))"; }
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
