#!/usr/bin/env bash
# Builds one configuration of Coffer: release (default), asan or fuzz.
# Usage: scripts/build.sh [release|asan|fuzz] [TARGET...]
# Prints the build directory. Without targets, builds everything.
set -euo pipefail
cd "$(dirname "$0")/.."
kind=${1:-release}
shift || true
targets=()
for t in "$@"; do targets+=(--target "$t"); done
dir=build/$kind
case $kind in
release) args=(-DCMAKE_BUILD_TYPE=RelWithDebInfo) ;;
asan) args=(-DCMAKE_BUILD_TYPE=Debug -DCOFFER_SANITIZE=ON) ;;
fuzz) args=(-DCMAKE_BUILD_TYPE=Debug -DCOFFER_FUZZ=ON -DCMAKE_C_COMPILER=clang) ;;
*) echo "unknown build kind: $kind" >&2; exit 2 ;;
esac
mkdir -p build
cmake -S . -B "$dir" "${args[@]}" >"$dir.configure.log" 2>&1 || {
	cat "$dir.configure.log" >&2
	exit 1
}
cmake --build "$dir" -j"$(nproc)" "${targets[@]}" >&2
echo "$dir"
