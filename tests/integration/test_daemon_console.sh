# The console through the daemons (docs/daemons.md): status, policies,
# backups with the policy's sources, job listing, show, cancel and watch,
# snapshot listings equal to direct mode, the keystore session in the
# daemons, and clear messages when a daemon is not running.
source "$(dirname "$0")/lib.sh"

[ -x "$(daemon_bin backupd)" ] || skip "coffer-backupd is not built"
HAVE_RESTORED=0
[ -x "$(daemon_bin restored)" ] && HAVE_RESTORED=1

appliance_init "$T/app"
RUN=$COFFER_RUN_DIR
daemon_start backupd
[ "$HAVE_RESTORED" -eq 0 ] || daemon_start restored

# Without any run directory (and no daemon at /run/coffer) commands that
# exist only through the daemons say so (exit 2).
nodaemons() { env -u COFFER_RUN_DIR "$COFFER" "$@"; }
if [ ! -e /run/coffer/backupd.sock ]; then
	expect_rc 2 nodaemons policy show alpha 2>"$T/err"
	grep -q -- "--run-dir" "$T/err" || soft_fail "policy without daemons: $(cat "$T/err")"
	expect_rc 2 nodaemons jobs 2>"$T/err"
	grep -q -- "--run-dir" "$T/err" || soft_fail "jobs without daemons: $(cat "$T/err")"
fi

# --- status ---------------------------------------------------------------
coffer status >"$T/status" || fail "status: $(cat "$T/status")"
grep -q "uid $(id -u)" "$T/status" || soft_fail "status does not show the uid: $(cat "$T/status")"
for role in sysadmin secadmin operator; do
	grep "^roles" "$T/status" | grep -q "$role" || soft_fail "status does not show role $role"
done
grep -q "^development *yes" "$T/status" || soft_fail "status does not show development mode"
grep -Eq "^backupd +running +[^ ]+ +[0-9-]+ [0-9:]+ +unlocked +0 +0" "$T/status" ||
	soft_fail "status: backupd line: $(grep backupd "$T/status")"
grep -Eq "^scheduler +not running" "$T/status" || soft_fail "status: scheduler line"
if [ "$HAVE_RESTORED" -eq 1 ]; then
	grep -Eq "^restored +running" "$T/status" || soft_fail "status: restored line"
else
	grep -Eq "^restored +not running" "$T/status" || soft_fail "status: restored line"
fi
coffer status --json >"$T/status.json" || fail "status --json"
grep -q '"dev_mode":true' "$T/status.json" || soft_fail "status --json: no dev_mode"
grep -q '"name":"backupd","state":"running"' "$T/status.json" || soft_fail "status --json: backupd"
grep -q '"keystore":"unlocked"' "$T/status.json" || soft_fail "status --json: keystore state"
coffer status --quiet >"$T/quiet" 2>&1 || soft_fail "status --quiet: exit $?"
[ ! -s "$T/quiet" ] || soft_fail "status --quiet printed: $(cat "$T/quiet")"
# --run-dir works as well as the environment.
env -u COFFER_RUN_DIR "$COFFER" status --run-dir "$RUN" --quiet || soft_fail "status --run-dir"

# --- datasets and policies --------------------------------------------------
coffer dataset create alpha --level 1 --owner finance --quiet || fail "dataset create"
mkdir -p "$T/src/sub"
head -c 100000 /dev/urandom >"$T/src/a.bin"
printf 'text\n' >"$T/src/sub/b.txt"
SRC=$(cd "$T/src" && pwd -P)

# policy_json FIELD: the value of a numeric field of policy show --json.
policy_num() { coffer policy show alpha --json | json_num "$1"; }
coffer policy set alpha --calendar '@daily' --source "$T/src" --keep-last 3 \
	--verify-days 7 --quiet || fail "policy set"
coffer policy show alpha --json >"$T/pol"
grep -q '"calendar":"@daily"' "$T/pol" || soft_fail "calendar not kept: $(cat "$T/pol")"
grep -q "\"sources\":\[\"$SRC\"\]" "$T/pol" || soft_fail "sources not kept: $(cat "$T/pol")"
[ "$(policy_num keep_last)" = 3 ] || soft_fail "keep_last not kept"
[ "$(policy_num verify_days)" = 7 ] || soft_fail "verify_days not kept"
# A partial update keeps every other setting.
coffer policy set alpha --keep-daily 5 --keep-weekly 2 --quiet || fail "policy set partial"
coffer policy show alpha --json >"$T/pol"
grep -q '"calendar":"@daily"' "$T/pol" || soft_fail "partial update lost the calendar"
grep -q "\"sources\":\[\"$SRC\"\]" "$T/pol" || soft_fail "partial update lost the sources"
[ "$(policy_num keep_last)" = 3 ] && [ "$(policy_num keep_daily)" = 5 ] &&
	[ "$(policy_num keep_weekly)" = 2 ] && [ "$(policy_num verify_days)" = 7 ] ||
	soft_fail "partial update: $(cat "$T/pol")"
# A bad calendar is refused naming the field, and changes nothing.
expect_rc 1 coffer policy set alpha --calendar '61 * * * *' 2>"$T/err"
grep -q "minute" "$T/err" || soft_fail "bad calendar does not name the field: $(cat "$T/err")"
coffer policy show alpha --json | grep -q '"calendar":"@daily"' || soft_fail "bad calendar stored"
expect_rc 2 coffer policy set alpha 2>/dev/null # nothing to change
expect_rc 1 coffer policy show nosuch 2>"$T/err"
grep -q "no dataset 'nosuch'" "$T/err" || soft_fail "unknown dataset: $(cat "$T/err")"
# The text form; relative sources are made absolute; --calendar '' clears it.
(cd "$T" && coffer policy set alpha --source src --calendar '' --quiet) || fail "relative source"
coffer policy show alpha >"$T/pol.txt"
grep -q "^sources *$SRC\$" "$T/pol.txt" || soft_fail "relative source: $(cat "$T/pol.txt")"
grep -q "^calendar *none" "$T/pol.txt" || soft_fail "calendar not cleared: $(cat "$T/pol.txt")"
grep -q "^keep *last 3, daily 5, weekly 2" "$T/pol.txt" || soft_fail "keep: $(cat "$T/pol.txt")"
coffer policy set alpha --no-sources --quiet || fail "no-sources"
coffer policy show alpha --json | grep -q '"sources":\[\]' || soft_fail "--no-sources kept sources"
# No paths and no sources: refused, naming the way out.
expect_rc 1 coffer backup --dataset alpha 2>"$T/err"
grep -q "policy set alpha --source" "$T/err" || soft_fail "no sources: $(cat "$T/err")"
coffer policy set alpha --source "$T/src" --calendar '0 3 * * *' --quiet || fail "policy reset"

# --- a backup with the policy's sources, and its job ---------------------------
coffer backup --dataset alpha --json >"$T/b1" || fail "backup with policy sources"
J1=$(json_num job <"$T/b1")
[ -n "$J1" ] || fail "backup --json gave no job: $(cat "$T/b1")"
grep -q '"state":"succeeded"' "$T/b1" || soft_fail "backup job state: $(cat "$T/b1")"
coffer snapshots --dataset alpha --json | grep -q "\"paths\":\[\"$SRC\"\]" ||
	soft_fail "the snapshot does not hold the policy's source"

coffer jobs >"$T/jobs"
grep -Eq "^ *$J1 +backup +alpha +backupd +succeeded " "$T/jobs" ||
	soft_fail "jobs does not list job $J1 as succeeded: $(cat "$T/jobs")"
coffer jobs --json | grep -q "\"id\":$J1,\"kind\":\"backup\",\"dataset\":\"alpha\",\"daemon\":\"backupd\",\"state\":\"succeeded\"" ||
	soft_fail "jobs --json misses job $J1"
coffer jobs --dataset nosuch | grep -q "^no jobs" || soft_fail "jobs --dataset filter"
coffer job show "$J1" >"$T/show"
grep -q "^state *succeeded" "$T/show" && grep -q "^parameters *path $SRC" "$T/show" ||
	soft_fail "job show: $(cat "$T/show")"

# A job with messages: a source that does not exist fails the backup, named.
coffer policy set alpha --source "$T/src" --source "$T/gone" --quiet || fail "policy gone"
expect_rc 1 coffer backup --dataset alpha 2>"$T/err"
grep -q "$T/gone" "$T/err" || soft_fail "the missing source is not named live: $(cat "$T/err")"
J2=$(coffer jobs --limit 1 --json | json_num id)
[ "$J2" -gt "$J1" ] || fail "no second job"
coffer job show "$J2" >"$T/show"
grep -q "^state *failed" "$T/show" || soft_fail "job $J2 not failed: $(cat "$T/show")"
grep -Eq "^  [0-9-]+ [0-9:]+  error +cannot back up $T/gone" "$T/show" ||
	soft_fail "job show lacks the message: $(cat "$T/show")"
coffer job show "$J2" --json | grep -q '"messages":\[{"time":[0-9]*,"level":"error","text":"cannot back up' ||
	soft_fail "job show --json lacks the message"
[ "$(coffer jobs --limit 1 --json | grep -o '"id":' | wc -l)" -eq 1 ] || soft_fail "--limit 1"
# An unreadable file (not for root, who reads anything): the job succeeds
# with the file named among its messages, exit 3.
if ! is_root; then
	coffer policy set alpha --source "$T/src" --quiet || fail "policy"
	printf 'secret\n' >"$T/src/locked"
	chmod 000 "$T/src/locked"
	expect_rc 3 coffer backup --dataset alpha 2>/dev/null
	J3=$(coffer jobs --limit 1 --json | json_num id)
	coffer job show "$J3" >"$T/show"
	grep -q "^state *succeeded" "$T/show" && grep -q "locked" "$T/show" ||
		soft_fail "unreadable file not among the messages: $(cat "$T/show")"
	rm -f "$T/src/locked"
fi
coffer policy set alpha --source "$T/src" --quiet || fail "policy"

# Ended jobs: cancel says so; watch returns at once with the job's outcome.
expect_rc 1 coffer job cancel "$J1" 2>"$T/err"
grep -q "has already ended" "$T/err" || soft_fail "cancel of an ended job: $(cat "$T/err")"
timeout 30 "$COFFER" job watch "$J1" >"$T/watch" || soft_fail "watch of a succeeded job failed"
grep -q "job $J1 succeeded" "$T/watch" || soft_fail "watch output: $(cat "$T/watch")"
expect_rc 1 timeout 30 "$COFFER" job watch "$J2" 2>/dev/null
expect_rc 1 coffer job show 999999 2>"$T/err"
grep -q "no job 999999" "$T/err" || soft_fail "unknown job: $(cat "$T/err")"
expect_rc 2 coffer job show notanumber 2>/dev/null

# Running jobs: a detached backup is watched live to its end; a second one
# (queued behind it: one job per pool) is cancelled.
mkdir -p "$T/big"
for i in 1 2 3 4; do head -c 8000000 /dev/urandom >"$T/big/f$i"; done
coffer backup --dataset alpha --detach --json "$T/big" >"$T/d1" || fail "detached backup"
coffer backup --dataset alpha --detach --json "$T/big" >"$T/d2" || fail "detached backup 2"
JA=$(json_num job <"$T/d1")
JB=$(json_num job <"$T/d2")
rc=0
coffer job cancel "$JB" >"$T/cancel" 2>&1 || rc=$?
if [ "$rc" -eq 0 ]; then
	expect_rc 1 timeout 120 "$COFFER" job watch "$JB" 2>"$T/err"
	grep -q "cancelled" "$T/err" || soft_fail "cancelled job watched: $(cat "$T/err")"
	coffer job show "$JB" | grep -q "^state *cancelled" || soft_fail "job $JB not cancelled"
else
	grep -q "has already ended" "$T/cancel" || soft_fail "cancel of job $JB: $(cat "$T/cancel")"
	echo "note: job $JB ended before it could be cancelled" >&2
fi
timeout 300 "$COFFER" job watch "$JA" >"$T/watch" || soft_fail "live watch of job $JA failed"
grep -q "job $JA succeeded" "$T/watch" || soft_fail "live watch: $(cat "$T/watch")"
rm -rf "$T/big"

# --- the keystore session in the daemons --------------------------------------
coffer keystore status >"$T/ks"
grep -q "coffer-backupd *unlocked" "$T/ks" || soft_fail "keystore status: $(cat "$T/ks")"
coffer keystore lock >"$T/out" 2>"$T/err" || fail "keystore lock: $(cat "$T/err")"
grep -q "locked in coffer-backupd" "$T/out" || soft_fail "lock output: $(cat "$T/out")"
if [ "$HAVE_RESTORED" -eq 1 ]; then
	grep -q "locked in coffer-restored" "$T/out" || soft_fail "restored not locked"
else
	grep -q "coffer-restored is not running" "$T/err" || soft_fail "restored not reported"
fi
coffer keystore status --json | grep -q '"daemons":{"backupd":"locked"' ||
	soft_fail "keystore status --json after lock"
coffer status --json | grep -q '"keystore":"locked"' || soft_fail "status after lock"
expect_rc 1 coffer backup --dataset alpha 2>"$T/err"
grep -q "keystore is locked" "$T/err" || soft_fail "backup while locked: $(cat "$T/err")"
expect_rc 1 coffer snapshots --dataset alpha 2>"$T/err"
grep -q "keystore is locked" "$T/err" || soft_fail "snapshots while locked: $(cat "$T/err")"
# A wrong passphrase is refused by the daemon.
printf 'wrong horse\n' >"$T/wrong"
expect_rc 1 coffer keystore unlock --passphrase-file "$T/wrong" 2>"$T/err"
grep -q "coffer-backupd:" "$T/err" || soft_fail "wrong passphrase: $(cat "$T/err")"
coffer keystore unlock >"$T/out" 2>/dev/null || fail "keystore unlock"
grep -q "unlocked in coffer-backupd" "$T/out" || soft_fail "unlock output: $(cat "$T/out")"
coffer backup --dataset alpha --quiet || soft_fail "backup after unlock"
# Shares instead of the passphrase (split works on the keystore directly).
coffer keystore split --shares 3 --threshold 2 --out "$T/shares" --quiet || fail "split"
set -- "$T"/shares/*
coffer keystore lock --quiet 2>/dev/null || fail "lock"
expect_rc 1 coffer keystore unlock --share "$1" 2>"$T/err"
coffer keystore unlock --share "$1" --share "$2" --quiet 2>/dev/null || soft_fail "unlock by shares"
coffer backup --dataset alpha --quiet || soft_fail "backup after unlock by shares"
if [ "$HAVE_RESTORED" -eq 1 ]; then
	# One daemon down: reported, not fatal while another unlocks.
	daemon_stop restored
	coffer keystore lock --quiet 2>/dev/null || soft_fail "lock with restored down"
	coffer keystore unlock 2>"$T/err" >/dev/null || soft_fail "unlock with restored down"
	grep -q "coffer-restored is not running" "$T/err" || soft_fail "restored down not reported"
fi

# --- snapshots through the daemon equal direct mode -----------------------------
coffer snapshots --dataset alpha >"$T/snap.daemon" || fail "snapshots via daemon"
[ "$(grep -c "$SRC" "$T/snap.daemon")" -ge 3 ] || soft_fail "snapshots: $(cat "$T/snap.daemon")"
daemon_stop backupd
nodaemons snapshots --dataset alpha >"$T/snap.direct" || fail "snapshots in direct mode"
cmp -s "$T/snap.daemon" "$T/snap.direct" ||
	soft_fail "daemon and direct listings differ: $(diff "$T/snap.daemon" "$T/snap.direct")"

# --- a stopped daemon ---------------------------------------------------------
expect_rc 1 coffer jobs 2>"$T/err"
grep -q "coffer-backupd is not running" "$T/err" || soft_fail "jobs, daemon down: $(cat "$T/err")"
expect_rc 1 coffer policy show alpha 2>"$T/err"
grep -q "coffer-backupd is not running" "$T/err" || soft_fail "policy, daemon down"
expect_rc 1 coffer status >"$T/status"
grep -Eq "^backupd +not running" "$T/status" || soft_fail "status, daemon down: $(cat "$T/status")"
expect_rc 1 coffer keystore lock 2>"$T/err"
grep -q "coffer-backupd is not running" "$T/err" || soft_fail "lock, daemons down: $(cat "$T/err")"
expect_rc 1 coffer backup --dataset alpha 2>"$T/err"
grep -q "coffer-backupd is not running" "$T/err" || soft_fail "backup, daemon down"

finish_checks
echo "ok"
