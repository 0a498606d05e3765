#!/usr/bin/env bash
# bench-memory.sh [N] [BINARY...] - the daemon's memory per directory and
# diary visited.  For each binary (default build/optimfs): a fresh
# commit=async mount on a temp dir; N directories each with a one-line
# diary; RSS and open collections; drop_caches (the kernel forgets the
# inodes) and 15 s (the idle sweep); N more; again.  Give the binary of an
# older build next to the new one to compare them in one invocation.
set -euo pipefail
cd "$(dirname "$0")/.."
N=${1:-3000}
shift || true
[ $# -gt 0 ] || set -- build/optimfs
[ "$(id -u)" -eq 0 ] || { echo "bench-memory.sh: needs root (drop_caches)" >&2; exit 1; }

run_one() { # run_one BINARY
	local bin t pid i r c
	bin=$(realpath "$1")
	t=$(mktemp -d /tmp/optimfs-mem.XXXXXX)
	mkdir "$t/m" "$t/d"
	"$bin" mount "$t/m" --data "$t/d" -o commit=async,auto_unmount
	trap 'fusermount3 -u "$t/m" 2>/dev/null; rm -rf "$t"' RETURN
	pid=$(head -1 "$t/d/optimfs.pid")
	measure() { # measure WHEN
		r=$(ps -o rss= -p "$pid")
		c=$(awk '$1 == "optimfs_open_collections" { print $2 }' \
			"$t/m/.optimfs/stats")
		printf '  %-34s %8d KB RSS %7d collections open\n' "$1" "$r" "$c"
	}
	echo "$1:"
	for p in a b; do
		for ((i = 0; i < N; i++)); do
			mkdir "$t/m/$p$i"
			echo "line $i" >>"$t/m/$p$i/log"
		done
		sync
		sleep 2
		measure "after $N more directories"
		echo 2 >/proc/sys/vm/drop_caches
		sleep 15
		measure "15 s after drop_caches"
	done
}

for b in "$@"; do
	run_one "$b"
done
