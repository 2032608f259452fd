# Shared set-up for integration tests: sourced, not run.
# Gives each test its own scratch directory, a passphrase file, the coffer
# binary as $COFFER, helpers to assert, and cleanup of what the test made.
set -euo pipefail

: "${COFFER:?set COFFER to the coffer binary (ctest does)}"
: "${COFFER_SRC:=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}"
: "${COFFER_BUILD:=$(dirname "$(dirname "$COFFER")")}"
TREECMP=${TREECMP:-$COFFER_BUILD/tests/treecmp}

T=$(mktemp -d "${TMPDIR:-/tmp}/coffer-test.XXXXXX")
chmod 755 "$T"
export COFFER_PASSPHRASE_FILE=$T/passphrase
printf 'correct horse battery staple\n' >"$COFFER_PASSPHRASE_FILE"
chmod 600 "$COFFER_PASSPHRASE_FILE"

# Processes a test starts in the background are recorded here and ended by
# PID on exit; nothing else is ever killed.
BG_PIDS=()
cleanup() {
	local rc=$?
	for p in "${BG_PIDS[@]:-}"; do
		[ -n "$p" ] && kill "$p" 2>/dev/null || true
	done
	wait 2>/dev/null || true
	# Directories restored with mode 000 must be opened up before removal.
	chmod -R u+rwx "$T" 2>/dev/null || true
	rm -rf "$T"
	exit $rc
}
trap cleanup EXIT

fail() {
	echo "FAIL: $*" >&2
	exit 1
}
skip() {
	echo "SKIP: $*" >&2
	exit 77
}
is_root() { [ "$(id -u)" -eq 0 ]; }

# coffer with a fast key derivation for repositories the test creates.
coffer() { "$COFFER" "$@"; }
# new_repo DIR [init options...]: small chunks so small test data makes many.
new_repo() {
	local dir=$1
	shift
	"$COFFER" init --repo "$dir" --kdf-cost 10 --quiet "$@"
}
# expect_rc N cmd...: runs cmd, fails the test unless it exits with N.
expect_rc() {
	local want=$1 rc=0
	shift
	"$@" || rc=$?
	[ "$rc" -eq "$want" ] || fail "expected exit $want, got $rc: $*"
}
# Bytes in all pack files of a repository.
pack_bytes() { find "$1/data" -type f -printf '%s\n' | awk '{s+=$1} END {print s+0}'; }
pack_count() { find "$1/data" -type f | wc -l; }
