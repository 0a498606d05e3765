#!/usr/bin/env bash
# bench-create.sh [N [BINARY...]] - what creating one small file costs:
# creates per second, bytes the daemon writes and its CPU per create, for
# files of 256, 2000 and 8000 bytes (all kept inline in their directory's
# entries), N files (default 2000) in one directory of a fresh mount
# (`bench_fs DIR create N SIZE`: open O_CREAT|O_EXCL, write, close).
#
# BINARY is an optimfs executable (default build/optimfs).  The client is
# one bench_fs for all ($BENCH_FS, default build/tests/bench_fs: it must
# know `create N SIZE`).  With several binaries, runs alternate between them,
# 3 rounds each; medians are printed with the ratio of each binary to the
# first (the baseline), measured in the same invocation.  The bytes
# written are the daemon's write()s (/proc/PID/io wchar: RocksDB's WAL and
# files, FUSE replies), less noisy than the rates on a shared machine.
set -euo pipefail
export LC_ALL=C
N=${1:-2000}
[[ $N =~ ^[1-9][0-9]*$ ]] || { echo "usage: bench-create.sh [N [BINARY...]]" >&2; exit 2; }
shift || true
bench_fs=${BENCH_FS:-$(dirname "$0")/../build/tests/bench_fs}
[ -x "$bench_fs" ] || { echo "bench-create.sh: $bench_fs: not an executable (set BENCH_FS)" >&2; exit 2; }
bins=()
for b in "${@:-$(dirname "$0")/../build/optimfs}"; do
	b=$(realpath "$b" 2>/dev/null || echo "$b")
	[ -x "$b" ] || { echo "bench-create.sh: $b: not an executable" >&2; exit 2; }
	bins+=("$b")
done

. "$(dirname "$0")/bench-onemount.sh"

# one BINARY SIZE: sets rate, wb (bytes written per create) and cpu (µs of
# daemon CPU per create).  Runs in this shell, so that cleanup sees $t.
one() {
	local size=$2 pid w1 w2 c1 c2 out
	bin=$1
	t=$(mktemp -d /tmp/optimfs-create.XXXXXX)
	mkdir "$t/m" "$t/d"
	"$bin" mount "$t/m" --data "$t/d" -o auto_unmount
	pid=$(head -1 "$t/d/optimfs.pid")
	w1=$(awk '$1 == "wchar:" { print $2 }' "/proc/$pid/io")
	c1=$(awk '{ print $14 + $15 }' "/proc/$pid/stat")
	out=$("$bench_fs" "$t/m" create "$N" "$size") ||
		{ echo "bench-create.sh: $bench_fs on $bin failed" >&2; exit 1; }
	w2=$(awk '$1 == "wchar:" { print $2 }' "/proc/$pid/io")
	c2=$(awk '{ print $14 + $15 }' "/proc/$pid/stat")
	rate=$(sed -n 's/^phase=create .*rate=\([0-9.]*\).*/\1/p' <<<"$out")
	[ -n "$rate" ] || { echo "bench-create.sh: no rate in bench_fs's output: $out" >&2; exit 1; }
	wb=$(((w2 - w1) / N))
	cpu=$(((c2 - c1) * 1000000 / $(getconf CLK_TCK) / N))
	"$bin" umount "$t/m"
	rm -rf "$t"
	t=""
}

ratio() { awk -v a="$1" -v b="$2" 'BEGIN { print (b > 0 ? a / b : 0) }'; }
median() { sort -n | awk '{ a[NR] = $1 } END { print a[int((NR + 1) / 2)] }'; }

declare -A R W C
for size in 256 2000 8000; do
	for round in 1 2 3; do
		for i in "${!bins[@]}"; do
			one "${bins[$i]}" "$size"
			R[$i.$size]+="$rate "
			W[$i.$size]+="$wb "
			C[$i.$size]+="$cpu "
		done
	done
done

printf '%-6s %-40s %10s %14s %12s\n' size binary creates/s B/create cpu_us/create
for size in 256 2000 8000; do
	for i in "${!bins[@]}"; do
		r=$(tr ' ' '\n' <<<"${R[$i.$size]}" | grep . | median)
		w=$(tr ' ' '\n' <<<"${W[$i.$size]}" | grep . | median)
		c=$(tr ' ' '\n' <<<"${C[$i.$size]}" | grep . | median)
		if [ "$i" -eq 0 ]; then
			r0=$r w0=$w c0=$c
			printf '%-6s %-40s %10.0f %14d %12d\n' "$size" "${bins[$i]}" "$r" "$w" "$c"
		else
			printf '%-6s %-40s %10.0f %14d %12d   ratios to the first: %.2f %.2f %.2f\n' \
				"$size" "${bins[$i]}" "$r" "$w" "$c" \
				"$(ratio "$r" "$r0")" "$(ratio "$w" "$w0")" "$(ratio "$c" "$c0")"
		fi
	done
done
