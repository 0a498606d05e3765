#!/usr/bin/env bash
# test_bigfile.sh - a 1 GiB regular file through the mount, as cp and dd
# write one: its bytes read back the same (through the daemon's pieces,
# then cold from the store after a remount), and the daemon's peak
# resident memory stays under 200 MB, whatever the file's size (DESIGN
# §6: files of at least 1 GiB without the daemon's memory growing with
# the file).  The bytes are a counting stream (seq), so a piece written at
# the wrong offset or twice does not read back the same.
#
# Under a sanitizer build (its shadow memory and quarantine are part of
# the RSS, and it runs several times slower) the file is 256 MiB and the
# memory bound is not checked.
source "$(dirname "$0")/e2e_lib.sh"

MB=${E2E_BIG_MB:-1024}
RSS_MAX_MB=200
check_rss=1
if grep -qsE "^OPTIMFS_SANITIZER:[A-Z]*=(address|undefined|thread)" \
	"${OPTIMFS_BUILD_DIR:-$(dirname "$OPTIMFS_BIN")}/CMakeCache.txt"; then
	MB=${E2E_BIG_MB:-256}
	check_rss=
fi

# the file's bytes (seq is cut short by head: its SIGPIPE is no failure)
stream() { { seq 1 999999999 || true; } | head -c $((MB * 1048576)); }

# peak_rss_mb PID: the process's peak resident set (VmHWM), in MB
peak_rss_mb() {
	local mb
	mb=$(awk '/^VmHWM/ { printf "%d", $2 / 1024 }' "/proc/$1/status")
	[[ $mb =~ ^[0-9]+$ ]] || fail "no peak RSS for pid $1: [$mb]"
	echo "$mb"
}

free=$(df -Pk "${TMPDIR:-/tmp}" | awk 'NR == 2 { printf "%d", $4 / 1024 }')
[ "$free" -gt $((MB * 2)) ] ||
	fail "${TMPDIR:-/tmp} has $free MB free; this test needs $((MB * 2))"

step "write a $MB MiB file with dd"
want=$(stream | sha256sum | cut -d' ' -f1)
e2e_mount
mkdir "$MNT/d"
stream | dd of="$MNT/d/big" bs=1M iflag=fullblock status=none
sync
expect_eq "size" $((MB * 1048576)) "$(stat -c %s "$MNT/d/big")"

step "read it back"
expect_eq "sha256 read back" "$want" "$(sha256sum <"$MNT/d/big" | cut -d' ' -f1)"
rss=$(peak_rss_mb "$DAEMON_PID")
echo "   daemon peak RSS after writing and reading: $rss MB"
if [ -n "$check_rss" ] && [ "$rss" -ge $RSS_MAX_MB ]; then
	fail "daemon peak RSS $rss MB for a $MB MiB file (bound $RSS_MAX_MB MB)"
fi

step "remount, read it cold from the store"
e2e_umount
e2e_mount
expect_eq "size after remount" $((MB * 1048576)) "$(stat -c %s "$MNT/d/big")"
expect_eq "sha256 after remount" "$want" "$(sha256sum <"$MNT/d/big" | cut -d' ' -f1)"
# a read in the middle, at an offset that is not piece-aligned
expect_eq "a read at an odd offset" \
	"$({ stream | tail -c +$((MB * 524288 + 12346)) || true; } | head -c 100)" \
	"$({ tail -c +$((MB * 524288 + 12346)) "$MNT/d/big" || true; } | head -c 100)"
rss=$(peak_rss_mb "$DAEMON_PID")
echo "   daemon peak RSS after a cold read: $rss MB"
if [ -n "$check_rss" ] && [ "$rss" -ge $RSS_MAX_MB ]; then
	fail "daemon peak RSS $rss MB reading a $MB MiB file (bound $RSS_MAX_MB MB)"
fi
e2e_umount
echo "$E2E_NAME: OK"
