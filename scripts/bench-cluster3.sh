# bench-cluster3.sh - sourced by the quick cluster benchmarks: with $opt
# (the optimfs binary) set, start3 PREFIX makes a temp dir $base, a
# cluster CA in it and a 3-node cluster over mutual TLS on 127.0.0.1
# (-o replicas=3, node i mounted at $base/ci, data $base/di, log
# $base/ni.log; daemons in pids[], mounts in mnts[]), and returns once
# every node sees the three members up (exits 1, showing the log, if one
# does not mount or see them in 15 s).  On exit the daemons (resumed
# if stopped) and mounts go, and $base is removed.
pids=(); mnts=(); base=
port=$((14000 + RANDOM % 1000 * 10))
cleanup() {
	[ ${#pids[@]} -gt 0 ] && kill -CONT "${pids[@]}" 2>/dev/null
	for m in "${mnts[@]}"; do fusermount3 -uz "$m" 2>/dev/null; done
	[ ${#pids[@]} -gt 0 ] && kill "${pids[@]}" 2>/dev/null
	wait 2>/dev/null
	[ -n "$base" ] && rm -rf "$base"
}
trap cleanup EXIT
url() { echo "tls+tcp://127.0.0.1:$((port + 10 * ($1 - 1)))"; }
start3() {
	local i j t c
	base=$(mktemp -d "/tmp/$1.XXXXXX")
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
		# a node that did not mount would leave a plain directory,
		# and the benchmark would measure /tmp
		if ! mountpoint -q "$base/c$i" || [ "${c:-0}" != 3 ]; then
			echo "start3: node $i is not up (sees ${c:-0} of 3 members); its log:" >&2
			tail -n 5 "$base/n$i.log" >&2
			exit 1
		fi
	done
}
