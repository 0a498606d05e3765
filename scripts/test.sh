#!/usr/bin/env bash
# Install, build and run the whole test suite through ctest: first the
# release build, then the same suite under ASan+UBSan.
#   OPTIMFS_SKIP_ASAN=1 scripts/test.sh   skip the sanitizer pass
set -euo pipefail
cd "$(dirname "$0")/.."

# The failing tests' own verdicts (Criterion's failed assertions and
# crashes, the e2e scripts' FAIL lines), printed last so that they are
# what a truncated CI log still shows.
failures() {
	echo "== failures in $1 ==" >&2
	grep -E "\*\*\*Failed|\*\*\*Timeout|\[FAIL\]|Assertion Failed|\[----\]|CRASH|FAIL: |FAILED at step" "$1" |
		grep -v "^ *[0-9]*: optimfs\[" | tail -n 40 >&2 || true
}

scripts/setup.sh
echo "== tests (release build) =="
log=build/ctest.log
set +e
ctest --test-dir build --output-on-failure -j2 2>&1 | tee "$log"
rc=${PIPESTATUS[0]}
set -e
if [ "$rc" -ne 0 ]; then
	failures "$log"
	echo "test.sh: release suite failed (full log: $log)" >&2
	exit "$rc"
fi

if [ -z "${OPTIMFS_SKIP_ASAN:-}" ]; then
	scripts/setup.sh --asan
	echo "== tests under ASan+UBSan =="
	# Criterion counts a test whose forked worker leaks (LeakSanitizer
	# reports at exit) as passed, so run verbosely into a log and fail on
	# any sanitizer report as well as on ctest's own verdict.
	log=build-asan/ctest-asan.log
	set +e
	ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 \
	LSAN_OPTIONS=suppressions=$PWD/tests/lsan.supp \
	UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 \
		ctest --test-dir build-asan -j2 -V >"$log" 2>&1
	rc=$?
	set -e
	grep -E "Test +#[0-9]+:.*(Passed|Failed|\*\*\*)|tests passed|Synthesis" "$log" || true
	if grep -nE "AddressSanitizer|LeakSanitizer|runtime error:" "$log"; then
		echo "test.sh: sanitizer reports above (full log: $log)" >&2
		exit 1
	fi
	if [ "$rc" -ne 0 ]; then
		tail -n 200 "$log"
		failures "$log"
		echo "test.sh: ASan+UBSan suite failed (full log: $log)" >&2
		exit "$rc"
	fi
fi
echo "test.sh: all tests passed"
