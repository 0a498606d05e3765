#!/bin/bash
# bench-cluster-phases.sh BUILD [PHASES] [SECONDS] - writer phases one
# after the other on one fresh 3-node TLS cluster (bench-cluster3.sh), to
# compare a fresh cluster with a used one: PHASES ("64 1 8 64") are writer
# counts, each phase SECONDS (5) s of bench_fs writers (one fdatasync per
# append) into a new directory spread over the three mounts.  Per phase:
# appends/s, p50, the daemons' CPU (user + system) per append, their SST
# files, node 1's store block-cache hits and loads, and the thread names
# with the most CPU per append (threads that lived through the phase).
set -u
b=${1:?usage: bench-cluster-phases.sh BUILD_DIR [PHASES] [SECONDS]}
phases=${2:-"64 1 8 64"}; secs=${3:-5}
opt=$b/optimfs
. "$(dirname "$0")/bench-cluster3.sh"
ticks() { local p t=0; for p in "${pids[@]}"; do t=$((t + $(cut -d' ' -f14,15 /proc/"$p"/stat | tr ' ' +))); done; echo "$t"; }
threads() { local p t; for p in "${pids[@]}"; do for t in /proc/"$p"/task/*; do
	echo "$p/${t##*/}/$(tr ' ' _ <"$t/comm") $(cut -d' ' -f14,15 "$t/stat" | tr ' ' +)"; done; done | sort; }
start3 optimfs-phases
hz=$(getconf CLK_TCK); k=0
for w in $phases; do
	k=$((k + 1)); d=p$k; mkdir "$base/c1/$d"; sleep 1.5 # reaches every mount
	threads >"$base/t0"; c0=$(ticks)
	out=$("$b/tests/bench_fs" "$base/c1/$d:$base/c2/$d:$base/c3/$d" writers "$w" "$secs")
	c1=$(ticks); threads >"$base/t1"
	n=$(sed -n 's/.*ops=\([0-9]*\).*/\1/p' <<<"$out")
	[ "${n:-0}" -gt 0 ] || { echo "phase $k: $out" >&2; exit 1; }
	echo "phase $k: $w writers $(grep -o 'rate=[0-9.]* p50_us=[0-9.]*' <<<"$out")" \
		"cpu/append=$(((c1 - c0) * 1000000 / hz / n))us" \
		"sst=$(ls "$base"/d?/store/*.sst 2>/dev/null | wc -l)" \
		"$(grep -oE '^optimfs_store_cache_(hits|loads)_total [0-9]+' "$base/c1/.optimfs/stats" | tr ' \n' '= ')"
	join "$base/t0" "$base/t1" | awk -v n="$n" -v hz="$hz" '{
		split($1, a, "/"); split($2, x, "+"); split($3, y, "+")
		c[a[3]] += y[1] + y[2] - x[1] - x[2] }
		END { for (t in c) if (c[t] > 0) printf "%s %.0f\n", t, c[t] * 1e6 / hz / n }' |
		sort -k2 -n -r | head -6 | awk '{ printf "  %s=%sus", $1, $2 } END { print "" }'
done
