#!/usr/bin/env bash
# test_cluster_clocks.sh - three nodes over mutual TLS whose wall clocks
# disagree: n2's reads 20 minutes ahead, n3's 20 minutes behind
# (OPTIMFS_TEST_CLOCK_SKEW_MS, docs/PROTOCOL.md §6).  Nodes must not need
# to agree on the time:
#   a) appends coordinated by each node commit, once each, everywhere;
#   b) a coordinator whose clock is ahead dies between pend and commit:
#      its pendings expire after their 10 s everywhere, not when its
#      clock says, and the restarted node replays the append once.
# Before a pend's expiry travelled as a time to live (protocol version
# 5), it was a wall-clock time: n3's pends had expired on arrival at n1
# and n2 (its appends failed), and n2's held the others' blocks for 20
# minutes.
. "$(dirname "$0")/e2e_lib.sh"

cluster_init
SKEW=$((20 * 60 * 1000))

step "three nodes: n2's clock 20 min ahead, n3's 20 min behind"
cluster_certs 3
start_node 1
OPTIMFS_TEST_CLOCK_SKEW_MS=$SKEW start_node 2 1
OPTIMFS_TEST_CLOCK_SKEW_MS=-$SKEW start_node 3 1
for i in 1 2 3; do wait_for "n$i sees 3 members up" 15 members_up "$i" 3; done
grep -q "wall clock reads $SKEW ms off" "$TMP/n2.log" ||
	fail "n2 did not take its skew: $(tail -n 3 "$TMP/n2.log")"
grep -q "wall clock reads -$SKEW ms off" "$TMP/n3.log" ||
	fail "n3 did not take its skew: $(tail -n 3 "$TMP/n3.log")"

# ---- a) ------------------------------------------------------------------
step "a) each mount appends in turn; every line is on every mount once"
mkdir "$TMP/m1/c"
"$OPTIMFS_BIN" diary create "$TMP/m1/c/log"
wait_for "c/log on m2 and m3" 10 test -e "$TMP/m2/c/log" -a -e "$TMP/m3/c/log"
: >"$TMP/want"
t0=$(now_ms)
for r in 1 2 3 4 5; do
	for i in 1 2 3; do
		echo "m$i line $r" | append_to "$TMP/m$i/c/log" 2>"$TMP/a.err" ||
			fail "append $r through m$i: $(cat "$TMP/a.err")"
		echo "m$i line $r" >>"$TMP/want"
	done
done
echo "   15 appends in $(($(now_ms) - t0)) ms"
seen_all() { cmp -s "$TMP/want" "$TMP/m$1/c/log"; }
for i in 1 2 3; do
	wait_for "c/log on m$i holds the 15 lines in order" 10 seen_all "$i"
done

# ---- b) ------------------------------------------------------------------
step "b) n2 (clock ahead) dies between pend and commit of an append"
stop_node 2
OPTIMFS_TEST_CLOCK_SKEW_MS=$SKEW OPTIMFS_TEST_DIE_AFTER_PEND=1 start_node 2 1
wait_for "n2 sees 3 members up" 15 members_up 2 3
seen_all 2 || fail "c/log on the restarted m2 differs"
dies_after_pend 2 "$TMP/m2/c/log"

step "b) its pendings expire in 10 s on n1 and n3: m1 and m3 append"
appends_after_expiry c/log 1 3
printf 'after 1\nafter 2\n' >>"$TMP/want"
wait_for "c/log on m3" 10 seen_all 3

step "b) n2 restarted replays the dead append once"
OPTIMFS_TEST_CLOCK_SKEW_MS=$SKEW start_node 2 1
wait_for "n2 sees 3 members up" 15 members_up 2 3
echo doomed >>"$TMP/want"
for i in 1 2 3; do wait_for "doomed once, last, on m$i" 30 seen_all "$i"; done

step "unmount"
for i in 1 2 3; do stop_node "$i"; done
echo "PASS"
