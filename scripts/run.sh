#!/usr/bin/env bash
# Install what is missing, build, and mount a single-node optimfs.
#   scripts/run.sh [MOUNTPOINT]      default ./mnt
# The data directory is $OPTIMFS_DATA if set, else the default
# ($XDG_DATA_HOME/optimfs or ~/.local/share/optimfs).
set -euo pipefail

mnt=$(realpath -m -- "${1:-./mnt}")
here=$(cd "$(dirname "$0")/.." && pwd)
bin=$here/build/optimfs

"$here/scripts/setup.sh"
mkdir -p -- "$mnt"

if grep -qs " $mnt fuse.optimfs " /proc/mounts; then
	echo "run: $mnt is already mounted"
else
	args=(mount "$mnt")
	if [ -n "${OPTIMFS_DATA:-}" ]; then
		args+=(--data "$OPTIMFS_DATA")
	fi
	if ! "$bin" "${args[@]}"; then
		echo "run: mounting $mnt failed (see the message above)" >&2
		exit 1
	fi
fi

# Shorter paths in the examples when the mountpoint is below this dir.
show=$mnt
case $mnt in "$PWD"/*) show=${mnt#"$PWD"/} ;; esac

cat <<EOF

optimfs is mounted on $mnt
  $("$bin" status "$mnt" | sed -n 's/^data dir: *//p' | sed 's/^/data: /')

Try it:
  mkdir $show/notes
  echo "first line" >> $show/notes/journal      # >> creates a diary (append-only)
  echo "second line" >> $show/notes/journal
  cat $show/notes/journal
  echo draft > $show/notes/todo                 # > creates a regular file
  ls -l $show/notes
  echo oops > $show/notes/journal               # refused: diaries only grow
  $bin log $show/notes/journal        # entries: revision, time, action id
  $bin verify $show/notes/journal     # check the hash chain
  cat $show/.optimfs/status

Unmount (pending changes are committed first):
  $bin umount $show
or
  fusermount3 -u $show
EOF
