# bench-cluster.sh - the cluster benchmarks of issue [3], sourced by
# `scripts/bench.sh --peers N` (not run on its own): it uses bench.sh's
# $peers, $bin, $optimfs, $bdir, $base, pids/mounts (stopped by bench.sh's
# EXIT trap), wait_mount, run and ratio.
#
#   (f) BENCH_F_N (1000) x append one 60-byte line + fdatasync to a diary,
#       p50/p99: on one plain optimfs mount, and on mount 1 of an N-node
#       cluster over mutual TLS with -o replicas=N.  Beside them, in the
#       same run: write + fdatasync of a plain file in $base (the disk),
#       the raw nng tls+tcp req/rep round trip of 64 B (bench_nng), and a
#       put of a 60-byte value through etcd's JSON gateway on an N-member
#       etcd cluster, sent to its leader over one keep-alive connection.
#       And the floor of any two-round replicated commit here: bench_nng's
#       skeleton (two rounds of 256 B requests to two peers at once over
#       tls+tcp, each member fdatasyncing in the second; no encoding, no
#       store, no FUSE), waiting for both peers as the cluster's pend
#       and commit do, and for one only.
#   (g) 1, 8 and 64 writers for BENCH_G_SECS (5) s each, every writer its
#       own diary and O_APPEND fd, one fdatasync per append (every append
#       is durable when counted); on the cluster, writer i writes through
#       mount (i mod N) + 1.
# Targets (issue [3]): (f) cluster p50 <= fsync p50 + 2 round-trip p50s,
# and below etcd's put p50; (g) 64 writers on N nodes >= 0.40 x one node.

fn=${BENCH_F_N:-1000}
gsecs=${BENCH_G_SECS:-5}
port=${BENCH_PORT:-$((12000 + ($$ % 100) * 100))} # below 32768 (ephemeral)
certs=$base/certs

node_url() { echo "tls+tcp://127.0.0.1:$((port + 10 * ($1 - 1)))"; }
etcd_client() { echo "http://127.0.0.1:$((port + 80 + 2 * $1))"; }
etcd_peer() { echo "http://127.0.0.1:$((port + 81 + 2 * $1))"; }

cpu_us() { # cpu_us PID...: their user + system CPU so far, in microseconds
	local p t=0 tck
	tck=$(getconf CLK_TCK)
	for p in "$@"; do t=$((t + $(cut -d' ' -f14,15 /proc/"$p"/stat | tr ' ' +))); done
	echo $((t * 1000000 / tck))
}

members_up() { # members_up MNT N: the mount's status shows N members up/self
	local c
	c=$(grep -scE '^  peer .* (up|self) ' "$1/.optimfs/status" 2>/dev/null)
	[ "${c:-0}" -eq "$2" ]
}

echo "bench: load before: $(cut -d' ' -f1-3 /proc/loadavg), $(nproc) CPUs" >&2

# The disk and the wire, the two terms of the (f) target.
mkdir -p "$base/disk" "$base/nng"
run disk "$base/disk" x datasync "$fn"
nrt=$("$bdir/tests/bench_nng" "$base/nng" 2000 "tls 64 serial")
R[nng.p50]=$(awk '$1 == "tls" && $3 == "serial" { print $5 }' <<<"$nrt")
R[nng.p99]=$(awk '$1 == "tls" && $3 == "serial" { print $7 }' <<<"$nrt")
[ -n "${R[nng.p50]}" ] || { echo "bench: bench_nng printed no tls line" >&2; exit 1; }
# The floor of a two-round replicated commit on this machine: bench_nng's
# skeleton of it (two rounds to two peers over tls+tcp, an fdatasync on
# every member in the second; nothing else).
nq=$("$bdir/tests/bench_nng" "$base/nng" 2000 "tls 256 quorum")
R[q.all]=$(awk '$3 == "quorum-all" { print $5 }' <<<"$nq")
R[q.maj]=$(awk '$3 == "quorum-maj" { print $5 }' <<<"$nq")
[ -n "${R[q.all]}" ] || { echo "bench: bench_nng printed no quorum line" >&2; exit 1; }

# One node, no cluster.
mkdir -p "$base/one" "$base/one-data"
"$optimfs" mount "$base/one" --data "$base/one-data" -f 2>"$base/one.log" &
pids+=($!); mounts+=("$base/one"); wait_mount "$base/one"
mkdir "$base/one/f"
c0=$(cpu_us $!)
run one "$base/one/f" x datasync "$fn"
R[one.cpu]=$((($(cpu_us $!) - c0) / fn))
for w in 1 8 64; do
	mkdir -p "$base/one/g$w"
	run one$w "$base/one/g$w" x writers $w "$gsecs"
done

# N nodes over mutual TLS, each mounted, every block on all of them.
cpids=()
"$optimfs" init "$certs" --name n1 >/dev/null
for i in $(seq 2 "$peers"); do "$optimfs" node add "$certs" "n$i" >/dev/null; done
for i in $(seq "$peers"); do
	join=()
	[ "$i" -gt 1 ] && join=(--join "$(node_url 1)")
	mkdir -p "$base/c$i"
	"$optimfs" mount "$base/c$i" --data "$base/c$i-data" -f -o replicas="$peers" \
		--listen "$(node_url "$i")" "${join[@]}" --certs "$certs" --name "n$i" \
		2>"$base/n$i.log" &
	pids+=($!); cpids+=($!); mounts+=("$base/c$i"); wait_mount "$base/c$i"
done
for i in $(seq "$peers"); do
	for t in $(seq 150); do
		members_up "$base/c$i" "$peers" && break
		[ "$t" -eq 150 ] && { echo "bench: n$i does not see $peers members: $(tail -n 3 "$base/n$i.log")" >&2; exit 1; }
		sleep 0.1
	done
done
# a directory made on one mount shows on the others within a second
mkdir "$base/c1/f" "$base/c1/g1" "$base/c1/g8" "$base/c1/g64"
for i in $(seq 2 "$peers"); do
	for t in $(seq 100); do
		[ -d "$base/c$i/g64" ] && break
		[ "$t" -eq 100 ] && { echo "bench: n$i does not show n1's directories after 10 s" >&2; exit 1; }
		sleep 0.1
	done
done
c0=$(cpu_us "${cpids[@]}")
run clu "$base/c1/f" x datasync "$fn"
R[clu.cpu]=$((($(cpu_us "${cpids[@]}") - c0) / fn))
for w in 1 8 64; do
	dirs=$base/c1/g$w
	for i in $(seq 2 "$peers"); do dirs+=":$base/c$i/g$w"; done
	run clu$w "$dirs" x writers $w "$gsecs"
done
for i in $(seq "$peers"); do fusermount3 -u "$base/c$i"; done # idle while etcd runs

# etcd: N members on 127.0.0.1, data on the same disk.
if [ ! -x /usr/bin/etcd ]; then
	echo "bench: installing etcd-server" >&2
	apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq etcd-server >/dev/null
fi
initial=
for i in $(seq "$peers"); do initial+="${initial:+,}e$i=$(etcd_peer "$i")"; done
eports=()
for i in $(seq "$peers"); do
	/usr/bin/etcd --name "e$i" --data-dir "$base/etcd$i" \
		--listen-client-urls "$(etcd_client "$i")" --advertise-client-urls "$(etcd_client "$i")" \
		--listen-peer-urls "$(etcd_peer "$i")" --initial-advertise-peer-urls "$(etcd_peer "$i")" \
		--initial-cluster "$initial" --initial-cluster-token optimfs-bench \
		--initial-cluster-state new >"$base/etcd$i.log" 2>&1 &
	pids+=($!)
	eports+=("$((port + 80 + 2 * i))")
done
ert=$(python3 - "$fn" "${eports[@]}" <<'EOF'
# Puts through the JSON gateway of the leader, on one HTTP/1.1 keep-alive
# connection: no process or connection set-up inside the timed loop.
import base64, http.client, json, sys, time

n = int(sys.argv[1])
ports = [int(p) for p in sys.argv[2:]]
b64 = lambda s: base64.b64encode(s.encode()).decode()

def post(conn, path, body):
    conn.request("POST", path, json.dumps(body),
                 {"Content-Type": "application/json"})
    r = conn.getresponse()
    data = r.read()
    if r.status != 200:
        raise RuntimeError("%s: HTTP %d %s" % (path, r.status, data[:200]))
    return json.loads(data)

leader = None
deadline = time.time() + 30
while leader is None:
    for p in ports:
        try:
            st = post(http.client.HTTPConnection("127.0.0.1", p, timeout=5),
                      "/v3/maintenance/status", {})
            if st.get("leader") and st["leader"] == st["header"]["member_id"]:
                leader = p
        except (OSError, RuntimeError, http.client.HTTPException):
            pass
    if leader is None:
        if time.time() > deadline:
            sys.exit("bench: etcd elected no leader in 30 s")
        time.sleep(0.2)

def timed(conn, path, body_of, count):
    lat = []
    for i in range(count):
        body = body_of(i)
        t = time.perf_counter()
        post(conn, path, body)
        lat.append(time.perf_counter() - t)
    lat.sort()
    return lat[len(lat) // 2] * 1e6, lat[int(len(lat) * 0.99)] * 1e6

line = "2026-11-21T06:00:00Z host-17 deploy 42 ok, 60 bytes per line.\n"
conn = http.client.HTTPConnection("127.0.0.1", leader, timeout=10)
put = lambda i: {"key": b64("bench/%08d" % i), "value": b64(line)}
timed(conn, "/v3/kv/put", put, 100)  # warm-up
p50, p99 = timed(conn, "/v3/kv/put", lambda i: put(100 + i), n)
# the floor of this client and the gateway: a request without raft
f50, _ = timed(conn, "/v3/maintenance/status", lambda i: {}, 200)
print("put %.1f %.1f status %.1f" % (p50, p99, f50))
EOF
) || { echo "bench: etcd measurement failed: $(tail -n 3 "$base/etcd1.log")" >&2; exit 1; }
read -r _ R[etcd.p50] R[etcd.p99] _ R[etcd.floor] <<<"$ert"

# The table.
target=$(awk -v f="${R[disk.datasync.p50]}" -v r="${R[nng.p50]}" 'BEGIN { printf "%.1f", f + 2 * r }')
lrow() { printf '%-50s %9s %9s %s\n' "$1" "$2" "$3" "${4:-}"; }
lrow "(f) append + fdatasync, ${fn}x" "p50 us" "p99 us"
lrow "disk: write + fdatasync, plain file" "${R[disk.datasync.p50]}" "${R[disk.datasync.p99]}"
lrow "nng tls+tcp req/rep round trip, 64 B" "${R[nng.p50]}" "${R[nng.p99]}"
lrow "target: fsync + 2 round trips" "$target" ""
lrow "floor: 2 rounds to 2 peers, fsync in the 2nd (nng)" "${R[q.all]}" "" \
	"(only a majority waited for: ${R[q.maj]} us)"
lrow "optimfs, 1 node" "${R[one.datasync.p50]}" "${R[one.datasync.p99]}"
lrow "optimfs, $peers nodes, R=$peers" "${R[clu.datasync.p50]}" "${R[clu.datasync.p99]}" \
	"x$(ratio "${R[clu.datasync.p50]}" "$target") of target, x$(ratio "${R[clu.datasync.p50]}" "${R[one.datasync.p50]}") of 1 node"
lrow "etcd 3.4, $peers members, put via JSON gateway" "${R[etcd.p50]}" "${R[etcd.p99]}" \
	"(client + gateway floor, status request: ${R[etcd.floor]} us)"
echo "    daemon CPU (user + system) per append: 1 node ${R[one.cpu]} us, $peers nodes ${R[clu.cpu]} us (all daemons)"
printf '%-50s %9s %9s %9s %s\n' "(g) appends/s, fdatasync per append, ${gsecs} s" "1 node" "$peers nodes" ratio "p50 us (1 / $peers nodes)"
for w in 1 8 64; do
	printf '%-50s %9.0f %9.0f %9s %s\n' "$w writer(s)" "${R[one$w.writers]}" "${R[clu$w.writers]}" \
		"$(ratio "${R[clu$w.writers]}" "${R[one$w.writers]}")" "${R[one$w.writers.p50]} / ${R[clu$w.writers.p50]}"
done
met() { awk -v a="$1" -v b="$2" 'BEGIN { print (a <= b) ? "met" : "missed" }'; }
echo "target (f) p50 <= fsync + 2 round trips: $(met "${R[clu.datasync.p50]}" "$target")"
echo "target (f) p50 below etcd's put p50:      $(met "${R[clu.datasync.p50]}" "${R[etcd.p50]}")"
echo "target (g) 64 writers >= 0.40 x 1 node:    $(met 0.40 "$(ratio "${R[clu64.writers]}" "${R[one64.writers]}")")"
echo "load after: $(cut -d' ' -f1-3 /proc/loadavg)   ($(nproc) CPUs, $(date -u +%F), disk: ${BENCH_DIR:-/tmp})"
