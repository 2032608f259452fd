#!/usr/bin/env bash
# The whole test suite, as CI runs it: installs what is missing, then builds
# and tests the release build, the AddressSanitizer+UBSan build, and runs
# every fuzz harness briefly under libFuzzer.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/deps.sh

status=0
run_ctest() { # dir label...
	local dir=$1
	shift
	ctest --test-dir "$dir" --output-on-failure -j2 "$@" || status=1
}

echo "== release build: unit, integration, fuzz corpus replay"
rel=$(scripts/build.sh release)
run_ctest "$rel"

echo "== AddressSanitizer + UndefinedBehaviorSanitizer build"
asan=$(scripts/build.sh asan)
ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
	run_ctest "$asan"

echo "== libFuzzer harnesses (${COFFER_FUZZ_SECONDS:-20} s each)"
fz=$(scripts/build.sh fuzz)
cmake -S . -B "$fz" -DCOFFER_FUZZ_SECONDS="${COFFER_FUZZ_SECONDS:-20}" >/dev/null
run_ctest "$fz" -L fuzz

exit $status
