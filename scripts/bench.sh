#!/usr/bin/env bash
# Filesystem benchmarks of issue [2]: each workload on tmpfs, on libfuse's
# passthrough_ll example over the same disk (the FUSE floor) and on optimfs,
# in one invocation; prints rates and the ratio of optimfs to the floor.
#   scripts/bench.sh                 full run (1 GiB files for (e))
#   BENCH_E_MB=256 scripts/bench.sh  smaller (e)
#   BENCH_ONLY=e scripts/bench.sh    only the listed workloads (letters a-e)
#   BENCH_BUILD=/tmp/b scripts/bench.sh  use that build dir (no setup.sh)
#   BENCH_A_ROUNDS=3 (rounds of (a); each runs tmpfs, passthrough and
#       optimfs in turn, and the median of each is shown: one run of (a)
#       moved by up to +-15 % from run to run on this shared 2-vCPU VM)
# Disk for passthrough and optimfs: $BENCH_DIR (default /tmp).  With (b)
# or (d), the disk's own fdatasync is measured first (nothing mounted) and
# the ratio a filesystem costing the floor plus one fdatasync per close
# (what -o commit=durable costs; (b) is also run with it) would reach is
# printed beside them: an estimate, not a bound.
#
# Cluster benchmarks of issue [3] (instead of the above):
#   scripts/bench.sh --peers 3       (f) durable append latency and (g)
#       append throughput on a 3-node TLS cluster (R=3) and on one node,
#       next to the disk's fdatasync, a raw nng tls+tcp round trip and a
#       3-member etcd put through its JSON gateway (installs etcd-server
#       with apt-get if /usr/bin/etcd is missing); all on 127.0.0.1.
#   BENCH_F_N=1000 (appends in (f)), BENCH_G_SECS=5 (seconds per (g) run),
#   BENCH_PORT=N (first of the ports used, default from the pid, < 32768)
set -euo pipefail
cd "$(dirname "$0")/.."
peers=0
while [ $# -gt 0 ]; do
	case $1 in
	--peers) peers=${2:?--peers needs a number}; shift 2 ;;
	*) echo "usage: scripts/bench.sh [--peers N]" >&2; exit 2 ;;
	esac
done
case $peers in 0 | [2-8]) ;; *) echo "bench: --peers is 2 to 8" >&2; exit 2 ;; esac
if [ -n "${BENCH_BUILD:-}" ]; then
	bdir=$BENCH_BUILD
else
	scripts/setup.sh >/dev/null
	bdir=$PWD/build
fi
bin=$bdir/tests/bench_fs
optimfs=$bdir/optimfs
pt=$bdir/passthrough_ll
emb=${BENCH_E_MB:-1024}
only=${BENCH_ONLY:-abcde}
want() { [[ $only == *$1* ]]; }
base=$(mktemp -d "${BENCH_DIR:-/tmp}/optimfs-bench.XXXXXX")
shm=$(mktemp -d /dev/shm/optimfs-bench.XXXXXX)
pids=()
mounts=()
cleanup() {
	local m p i alive
	trap '' INT TERM # a second signal must not cut the cleanup short
	for m in "${mounts[@]}"; do fusermount3 -u "$m" 2>/dev/null || umount -l "$m" 2>/dev/null || true; done
	for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
	for i in $(seq 50); do # every daemon and etcd ends, else -9
		alive=0
		for p in "${pids[@]}"; do kill -0 "$p" 2>/dev/null && alive=1; done
		[ $alive = 0 ] && break
		sleep 0.1
	done
	for p in "${pids[@]}"; do kill -KILL "$p" 2>/dev/null && { wait "$p" 2>/dev/null || true; }; done
	for m in "${mounts[@]}"; do
		grep -qs " $m fuse" /proc/mounts && { fusermount3 -u -z "$m" 2>/dev/null || umount -l "$m" 2>/dev/null || true; }
	done
	rm -rf "$base" "$shm"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

wait_mount() {
	local i
	for i in $(seq 100); do
		grep -q " $1 fuse" /proc/mounts && return 0
		sleep 0.1
	done
	echo "bench: $1 did not mount" >&2
	exit 1
}

declare -A R
run() { # label dir x mode arg [seconds]: bench_fs DIR MODE ARG, into R[label.phase]
	local out
	out=$("$bin" "$2" "$4" "$5" ${6:+"$6"}) || { echo "bench: $1 $4 failed" >&2; exit 1; }
	while read -r l; do
		local ph rate p50 p99
		ph=$(sed -n 's/.*phase=\([a-z]*\).*/\1/p' <<<"$l")
		rate=$(sed -n 's/.*rate=\([0-9.]*\).*/\1/p' <<<"$l")
		p50=$(sed -n 's/.*p50_us=\([0-9.]*\).*/\1/p' <<<"$l")
		p99=$(sed -n 's/.*p99_us=\([0-9.]*\).*/\1/p' <<<"$l")
		R[$1.$ph]=$rate; R[$1.$ph.p50]=${p50:--}; R[$1.$ph.p99]=${p99:--}
	done <<<"$out"
}
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.2f", a/b; else print "-" }'; }

if [ "$peers" -gt 0 ]; then
	. scripts/bench-cluster.sh
	exit 0
fi

if [ ! -x "$pt" ]; then
	cc -O2 -D_FILE_OFFSET_BITS=64 $(pkg-config fuse3 --cflags) \
		/usr/share/doc/libfuse3-dev/examples/passthrough_ll.c \
		-o "$pt" $(pkg-config fuse3 --libs)
fi

if want b || want d; then
	# the disk's own fdatasync (no FUSE, nothing else writing), for the
	# estimates below
	mkdir -p "$base/disk"
	run disk "$base/disk" x datasync 1000
fi
mkdir -p "$base/pt-src" "$base/pt" "$base/ofs" "$base/ofs-data"
"$pt" -f -o source="$base/pt-src" "$base/pt" 2>/dev/null &
pids+=($!); mounts+=("$base/pt"); wait_mount "$base/pt"
"$optimfs" mount "$base/ofs" --data "$base/ofs-data" -f ${OPTIMFS_OPTS:-} 2>"$base/optimfs.log" &
ofs_pid=$!; pids+=($ofs_pid); mounts+=("$base/ofs"); wait_mount "$base/ofs"

mkdir -p "$base/ofsa" "$base/ofsa-data"
"$optimfs" mount "$base/ofsa" --data "$base/ofsa-data" -f -o commit=async 2>"$base/optimfs-async.log" &
pids+=($!); mounts+=("$base/ofsa"); wait_mount "$base/ofsa"
if want b; then
	mkdir -p "$base/ofsd" "$base/ofsd-data"
	"$optimfs" mount "$base/ofsd" --data "$base/ofsd-data" -f -o commit=durable 2>"$base/optimfs-durable.log" &
	pids+=($!); mounts+=("$base/ofsd"); wait_mount "$base/ofsd"
fi

fsdir() { case $1 in tmpfs) echo "$shm" ;; pt) echo "$base/pt" ;; ofs) echo "$base/ofs" ;; esac; }
median() { tr ' ' '\n' | grep . | sort -g | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'; }
if want a; then
	declare -A AR
	for r in $(seq "${BENCH_A_ROUNDS:-3}"); do
		for t in tmpfs pt ofs; do
			d=$(fsdir $t)
			mkdir -p "$d/w"
			rm -f "$d/w/a.log"
			run $t "$d/w" x append 200000
			AR[$t]="${AR[$t]:-} ${R[$t.append]}"
		done
	done
	for t in tmpfs pt ofs; do
		R[$t.append]=$(median <<<"${AR[$t]}")
		R[$t.append.runs]=${AR[$t]}
	done
fi
for t in tmpfs pt ofs; do
	d=$(fsdir $t)
	mkdir -p "$d/w"
	want b && run $t "$d/w" x openclose 10000
	want c && run $t "$d/w" x datasync 1000
	want d && run $t "$d/w" x smallfiles 10000
	want e || continue
	# (e): a diary (appended) and a regular file, emb MiB each; the
	# diary's write rate is shown too (not a target)
	t0=$(date +%s.%N)
	{ yes "2026-11-21T06:00:00Z host-17 deploy 42 ok, 60 bytes per line" || true; } |
		head -c $((emb * 1048576)) | dd of="$d/w/big.log" oflag=append conv=notrunc bs=1M iflag=fullblock status=none
	sync
	R[$t.write_diary]=$(awk -v a="$t0" -v b="$(date +%s.%N)" -v m="$emb" 'BEGIN { printf "%.1f", m * 1.048576 / (b - a) }')
	[ $t = ofs ] && rss_w=$(awk '/VmHWM/ {print $2/1024}' /proc/$ofs_pid/status)
	{ head -c $((emb * 1048576)) /dev/zero || true; } | tr '\0' 'x' | dd of="$d/w/big.bin" bs=1M iflag=fullblock status=none
	sync
	run $t "$d/w" x seqread "$d/w/big.log"; R[$t.seqread_diary]=${R[$t.seqread]}
	run $t "$d/w" x seqread "$d/w/big.bin"; R[$t.seqread_file]=${R[$t.seqread]}
done
if want b; then
	mkdir -p "$base/ofsa/w" "$base/ofsd/w"
	run ofsa "$base/ofsa/w" x openclose 10000
	run ofsd "$base/ofsd/w" x openclose 10000
fi
rss=$(awk '/VmHWM/ {print $2/1024}' /proc/$ofs_pid/status)

printf '%-34s %12s %12s %12s %8s\n' workload tmpfs passthrough optimfs "ofs/pt"
row() { printf '%-34s %12.0f %12.0f %12.0f %8s\n' "$1" "${R[tmpfs.$2]}" "${R[pt.$2]}" "${R[ofs.$2]}" "$(ratio "${R[ofs.$2]}" "${R[pt.$2]}")"; }
if want a; then
	row "(a) append lines/s" append
	printf '    (a) median of %s rounds; runs:  pt%s  ofs%s\n' "${BENCH_A_ROUNDS:-3}" "${R[pt.append.runs]}" "${R[ofs.append.runs]}"
fi
if want b; then
	row "(b) open+append+close /s" openclose
	printf '%-34s %12s %12s %12.0f %8s\n' "(b) ... with -o commit=async" - - "${R[ofsa.openclose]}" "$(ratio "${R[ofsa.openclose]}" "${R[pt.openclose]}")"
	printf '%-34s %12s %12s %12.0f %8s\n' "(b) ... with -o commit=durable" - - "${R[ofsd.openclose]}" "$(ratio "${R[ofsd.openclose]}" "${R[pt.openclose]}")"
fi
if want c; then
	row "(c) append+fdatasync /s" datasync
	printf '%-34s %12s %12s %12s %8s\n' "    (c) p50 / p99 us" "${R[tmpfs.datasync.p50]}/${R[tmpfs.datasync.p99]}" "${R[pt.datasync.p50]}/${R[pt.datasync.p99]}" "${R[ofs.datasync.p50]}/${R[ofs.datasync.p99]}" "$(ratio "${R[ofs.datasync.p50]}" "${R[pt.datasync.p50]}")"
fi
if want d; then
	row "(d) create files/s" create
	row "(d) ls -l (stat) files/s" list
	row "(d) cat files/s" read
fi
if want b || want d; then
	# With -o commit=durable a close returns once its change is
	# committed and on disk: one fdatasync per close in these serial
	# loops (nothing to share it with).  The ratio of a filesystem that
	# costs what passthrough_ll costs plus that fdatasync is
	# 1 / (1 + floor rate x fdatasync time): an estimate of what to
	# expect there, not a bound.  The default (commit=sync) waits for
	# the commit but leaves the disk to fsync and the commit interval.
	ceil() { awk -v r="$1" -v f="$2" 'BEGIN { if (r > 0 && f > 0) printf "%.2f", 1 / (1 + r * f / 1e6); else print "-" }'; }
	echo "disk fdatasync p50 ${R[disk.datasync.p50]} us; ratio of the floor plus one fdatasync per close:"
	want b && echo "    (b) durable $(ceil "${R[pt.openclose]}" "${R[disk.datasync.p50]}")"
	want d && echo "    (d) create  $(ceil "${R[pt.create]}" "${R[disk.datasync.p50]}")"
fi
if want e; then
	row "(e) write ${emb} MiB diary MB/s" write_diary
	row "(e) read ${emb} MiB diary MB/s" seqread_diary
	row "(e) read ${emb} MiB file MB/s" seqread_file
	echo "optimfs daemon peak RSS after writing the diary: ${rss_w} MB"
fi
echo "optimfs daemon peak RSS: ${rss} MB   ($(nproc) CPUs, $(date -u +%F), disk: ${BENCH_DIR:-/tmp})"
