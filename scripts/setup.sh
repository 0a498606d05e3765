#!/usr/bin/env bash
# Install what the build and tests need (Debian 12), then configure and build.
#   scripts/setup.sh            release build in ./build
#   scripts/setup.sh --asan     ASan+UBSan build in ./build-asan
# Idempotent and fast when everything is present.
set -euo pipefail
cd "$(dirname "$0")/.."

PKGS=(build-essential cmake ninja-build pkg-config
      librocksdb-dev libnng-dev libcbor-dev libssl-dev libcriterion-dev
      libfuse3-dev fuse3 attr openssl)

missing=()
for p in "${PKGS[@]}"; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" ||
		missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
	echo "setup: installing ${missing[*]}"
	SUDO=""
	[ "$(id -u)" -eq 0 ] || SUDO="sudo"
	$SUDO apt-get update -qq
	DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${missing[@]}" >/dev/null
fi

dir=build
args=(-DCMAKE_BUILD_TYPE=RelWithDebInfo)
if [ "${1:-}" = "--asan" ]; then
	dir=build-asan
	args=(-DCMAKE_BUILD_TYPE=Debug -DOPTIMFS_SANITIZER=address,undefined)
fi
[ -n "${CI:-}" ] && args+=(-DOPTIMFS_WERROR=ON)
cmake -S . -B "$dir" -G Ninja "${args[@]}" >/dev/null
if ! ninja -C "$dir" >"$dir/build.log" 2>&1; then
	grep -E "error|FAILED" "$dir/build.log" | head -n 40 >&2
	echo "setup: build in $dir failed (full log: $dir/build.log)" >&2
	exit 1
fi
echo "setup: built in $dir"
