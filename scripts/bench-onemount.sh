# Sourced by bench scripts that run one optimfs mount at a time: the
# script sets $t (a temp dir whose m/ is the mountpoint) and $bin (the
# optimfs binary mounted there); on exit or interrupt the mount is
# unmounted and $t removed.
t=""
bin=""
cleanup() {
	trap '' INT TERM
	if [ -n "$t" ]; then
		grep -qs " $t/m fuse" /proc/mounts &&
			{ "$bin" umount "$t/m" 2>/dev/null || fusermount3 -u -z "$t/m" 2>/dev/null || true; }
		rm -rf "$t"
	fi
	t=""
}
trap cleanup EXIT
trap 'exit 130' INT TERM
