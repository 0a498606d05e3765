#!/usr/bin/env bash
# Install, build and run the whole test suite through ctest: first the
# release build, then the same suite under ASan+UBSan.
#   OPTIMFS_SKIP_ASAN=1 scripts/test.sh   skip the sanitizer pass
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/setup.sh
echo "== tests (release build) =="
ctest --test-dir build --output-on-failure -j2

if [ -z "${OPTIMFS_SKIP_ASAN:-}" ]; then
	scripts/setup.sh --asan
	echo "== tests under ASan+UBSan =="
	# Criterion counts a test that leaks or trips UBSan in a forked
	# worker as passed, so the sanitizer reports are also grepped.
	log=build-asan/ctest-asan.log
	ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 \
	UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 \
		ctest --test-dir build-asan --output-on-failure -j2 \
		--output-log "$log"
	if grep -nE "AddressSanitizer|LeakSanitizer|runtime error:" "$log"; then
		echo "test.sh: sanitizer reports above (full log: $log)" >&2
		exit 1
	fi
fi
echo "test.sh: all tests passed"
