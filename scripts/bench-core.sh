#!/usr/bin/env bash
# Engine commit throughput against raw synced RocksDB writes of the same
# bytes, measured in the same invocation; prints one table of ratios.
#   scripts/bench-core.sh [SECONDS_PER_RUN] [REPEATS]
set -euo pipefail
cd "$(dirname "$0")/.."
secs=${1:-5}
reps=${2:-3}
scripts/setup.sh >/dev/null
bin=build/tests/bench_core
work=$(mktemp -d "${TMPDIR:-/tmp}/optimfs-bench.XXXXXX")
trap 'rm -rf "$work"' EXIT

# median of the rates of $reps fresh runs
run() {
	local mode=$1 i rates=()
	for i in $(seq "$reps"); do
		rm -rf "$work/db"
		rates+=("$("$bin" "$work/db" "$mode" "$secs" | awk '{print $NF}')")
	done
	printf '%s\n' "${rates[@]}" | sort -g | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'
}

raw60=$(run raw60); raw6000=$(run raw6000)
single=$(run single); batch=$(run batch100); t8=$(run threads8)

printf '%-34s %14s %16s %10s\n' workload "commits/s" baseline ratio
printf '%-34s %14.0f %16s %10s\n' "raw RocksDB synced write, 60 B" "$raw60" - -
printf '%-34s %14.0f %16s %10s\n' "raw RocksDB synced write, 6000 B" "$raw6000" - -
awk -v a="$single" -v b="$raw60" 'BEGIN{printf "%-34s %14.0f %16s %10.2f\n", "diary: 1 append per commit", a, "raw 60 B", a/b}'
awk -v a="$batch" -v b="$raw6000" 'BEGIN{printf "%-34s %14.0f %16s %10.2f  (goal >= 0.5)\n", "diary: 100 appends per commit", a, "raw 6000 B", a/b}'
awk -v a="$t8" -v b="$single" 'BEGIN{printf "%-34s %14.0f %16s %10.2f  (goal >= 3)\n", "diary: 8 threads, 1 append each", a, "1 thread", a/b}'
echo "(median of $reps runs of ${secs}s each; $(nproc) CPUs; $(date -u +%F))"
