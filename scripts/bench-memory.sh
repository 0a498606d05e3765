#!/usr/bin/env bash
# bench-memory.sh [N [BINARY...]] - the daemon's memory per directory and
# diary visited, and whether it is given back once they are unused.
#
# For each binary (default build/optimfs): a fresh commit=async mount on a
# temp dir with -o idle=1000 where the binary knows the option (older
# builds: their default); twice: N directories each with a one-line diary,
# then drop_caches (the kernel forgets their inodes) and 3 s (idle sweeps).
# Prints RSS and open collections after each step, and the KB added per
# directory + diary over the second round; with several binaries, the
# ratio of each one's growth to the first's (the baseline), measured in
# the same invocation.  Needs root (drop_caches).
set -euo pipefail
N=${1:-3000}
[[ $N =~ ^[1-9][0-9]*$ ]] || { echo "usage: bench-memory.sh [N [BINARY...]]" >&2; exit 2; }
shift || true
bins=()
for b in "${@:-$(dirname "$0")/../build/optimfs}"; do
	[ -x "$b" ] || { echo "bench-memory.sh: $b: not an executable" >&2; exit 2; }
	bins+=("$(realpath "$b")")
done
[ "$(id -u)" -eq 0 ] || { echo "bench-memory.sh: needs root (drop_caches)" >&2; exit 1; }

. "$(dirname "$0")/bench-onemount.sh"

rss() { ps -o rss= -p "$1" | tr -d ' '; }
stat_of() { awk -v n="optimfs_$1" '$1 == n { print $2 }' "$t/m/.optimfs/stats"; }

base_growth=""
for bin in "${bins[@]}"; do
	t=$(mktemp -d /tmp/optimfs-mem.XXXXXX)
	mkdir "$t/m" "$t/d"
	opts=commit=async,auto_unmount
	"$bin" mount --help | grep -q "idle=MS" && opts=$opts,idle=1000
	"$bin" mount "$t/m" --data "$t/d" -o "$opts"
	pid=$(head -1 "$t/d/optimfs.pid")
	echo "$bin (-o $opts):"
	for round in 1 2; do
		for ((i = 0; i < N; i++)); do
			mkdir "$t/m/r$round-$i"
			echo "line $i" >>"$t/m/r$round-$i/log"
		done
		sync
		printf '  round %d, %d directories written:  %8d KB RSS, %6s collections open\n' \
			"$round" "$N" "$(rss "$pid")" "$(stat_of open_collections)"
		echo 2 >/proc/sys/vm/drop_caches
		sleep 3
		r=$(rss "$pid")
		printf '  round %d, 3 s after drop_caches:  %8d KB RSS, %6s collections open\n' \
			"$round" "$r" "$(stat_of open_collections)"
		[ "$round" = 1 ] && r1=$r
	done
	growth=$(((r - r1) * 1024 / N)) # bytes per directory + diary (RSS in KiB)
	line="  second round added $((growth)) bytes per directory + diary"
	if [ -z "$base_growth" ]; then
		base_growth=$growth
		echo "$line (baseline)"
	else
		echo "$line: $(awk -v a="$growth" -v b="$base_growth" 'BEGIN { printf "%.2f", (b > 0 ? a / b : 0) }')x the baseline's"
	fi
	"$bin" umount "$t/m" # waits for the daemon
	cleanup
done
