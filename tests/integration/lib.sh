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

# --- Helpers added for test_dedup/confidentiality/damage/crash/forget_prune (h8) ---
# json_num FIELD: the first numeric value of "FIELD": in the JSON on stdin.
json_num() { grep -o "\"$1\":[0-9.]*" | awk -F: 'NR == 1 {print $2}'; }
# snapshot_ids REPO: the full hex IDs of the repository's snapshots, sorted.
snapshot_ids() {
	"$COFFER" snapshots --repo "$1" --json | grep -o '"id":"[0-9a-f]*"' | cut -d'"' -f4 | sort
}
# repo_state DIR: every path under DIR with size and mtime, to prove nothing changed.
repo_state() { find "$1" -printf '%p %s %T@\n' | sort; }
# flip_byte FILE OFFSET: replaces the byte at OFFSET by a different value.
flip_byte() {
	local f=$1 off=$2 old new
	old=$(od -An -tu1 -j "$off" -N1 "$f" | tr -d ' ')
	[ -n "$old" ] || fail "flip_byte: offset $off is beyond the end of $f"
	new=$(((old + 1 + RANDOM % 255) % 256))
	# shellcheck disable=SC2059
	printf "$(printf '\\%03o' "$new")" | dd of="$f" bs=1 seek="$off" conv=notrunc status=none
}
# rand_below N: a random integer in [0, N) (N up to 2^45).
rand_below() { echo $(((RANDOM << 30 | RANDOM << 15 | RANDOM) % $1)); }

# --- Helpers added for test_fidelity/cli/archive_cli (h7) ---
# soft_fail MSG: records a failed check and goes on, so that one run names
# every failure; finish_checks (call it last) fails the test if any was
# recorded.
SOFT_FAILS=0
soft_fail() {
	echo "FAIL: $*" >&2
	SOFT_FAILS=$((SOFT_FAILS + 1))
}
finish_checks() {
	[ "$SOFT_FAILS" -eq 0 ] || fail "$SOFT_FAILS check(s) failed (see above)"
}
# make_deep DIR LEVELS [LINK]: a chain of LEVELS directories of 200-byte
# names below DIR (made if absent), deeper than PATH_MAX for LEVELS >= 21,
# built with relative steps (a logical cd fails past PATH_MAX, cd -P does
# not). Leaves a file "bottom" in the last directory and, if LINK (a short
# path) is given, a hard link to it named "linked".
make_deep() {
	local name
	name=$(printf 'd%.0s' $(seq 200))
	(
		mkdir -p "$1" && cd -P "$1" || exit 1
		for _ in $(seq "$2"); do
			mkdir "$name" && cd -P "$name" || exit 1
		done
		printf 'at the bottom\n' >bottom || exit 1
		if [ -n "${3:-}" ]; then ln "$3" linked || exit 1; fi
	)
}

# --- Daemons (docs/daemons.md) ---
# daemon_bin NAME: the built coffer-NAME (backupd, restored, erased, scheduler).
daemon_bin() {
	case $1 in
	backupd) echo "$COFFER_BUILD/backupd/coffer-backupd" ;;
	restored) echo "$COFFER_BUILD/restore/coffer-restored" ;;
	erased) echo "$COFFER_BUILD/erase/coffer-erased" ;;
	scheduler) echo "$COFFER_BUILD/scheduler/coffer-scheduler" ;;
	*) fail "daemon_bin: unknown daemon $1" ;;
	esac
}
# appliance_init DIR: DIR/{etc,state,run,log}, development roles (this uid
# holds every role), a keystore under the test passphrase, an audit trail
# (K(0) in DIR/audit-initial.key; AUDIT_INIT_OPTS adds options); exports
# COFFER_STATE_DIR, COFFER_RUN_DIR and COFFER_CONFIG_DIR for the console.
appliance_init() {
	local d=$1
	mkdir -p "$d/etc" "$d/state" "$d/run" "$d/log"
	printf 'dev-single-user = %s\n' "$(id -u)" >"$d/etc/roles.conf"
	export COFFER_STATE_DIR=$d/state COFFER_RUN_DIR=$d/run COFFER_CONFIG_DIR=$d/etc
	"$COFFER" keystore init --kdf-cost 10 --quiet || fail "keystore init in $d"
	# shellcheck disable=SC2086 # AUDIT_INIT_OPTS is a word list
	"$COFFER" audit init --initial-key-out "$d/audit-initial.key" --quiet ${AUDIT_INIT_OPTS:-} ||
		fail "audit init in $d"
}
# daemon_start NAME [ARGS...]: starts coffer-NAME in the foreground on the
# exported directories (keystore unlocked from the test passphrase), logs
# to $COFFER_STATE_DIR/../log/NAME.log, waits until its socket listens, and
# records its PID (DAEMON_PID_NAME, and BG_PIDS for cleanup).
daemon_start() {
	local name=$1 bin log i
	shift
	bin=$(daemon_bin "$name")
	[ -x "$bin" ] || fail "coffer-$name not built at $bin"
	log=$(dirname "$COFFER_STATE_DIR")/log/$name.log
	rm -f "$COFFER_RUN_DIR/$name.pid" # left by a daemon the test killed
	# DAEMON_WRAP (word-split) runs the daemon under another identity.
	${DAEMON_WRAP:-} "$bin" -f --passphrase-file "$COFFER_PASSPHRASE_FILE" "$@" >>"$log" 2>&1 &
	local pid=$!
	BG_PIDS+=("$pid")
	printf -v "DAEMON_PID_$name" '%s' "$pid"
	for i in $(seq 1 100); do
		# The pid file is written once the socket listens.
		[ -S "$COFFER_RUN_DIR/$name.sock" ] && [ -f "$COFFER_RUN_DIR/$name.pid" ] && return 0
		kill -0 "$pid" 2>/dev/null || fail "coffer-$name exited at start: $(tail -5 "$log")"
		sleep 0.05
	done
	fail "coffer-$name did not come up: $(tail -5 "$log")"
}
# daemon_stop NAME: SIGTERM to the daemon this test started, and waits for it.
daemon_stop() {
	local var="DAEMON_PID_$1" pid
	pid=${!var:-}
	[ -n "$pid" ] || return 0
	kill "$pid" 2>/dev/null || true
	wait "$pid" 2>/dev/null || true
	printf -v "$var" '%s' ""
}
# daemon_kill NAME: SIGKILL, as a crash would stop it.
daemon_kill() {
	local var="DAEMON_PID_$1" pid
	pid=${!var:-}
	[ -n "$pid" ] || return 0
	kill -9 "$pid" 2>/dev/null || true
	wait "$pid" 2>/dev/null || true
	printf -v "$var" '%s' ""
}
