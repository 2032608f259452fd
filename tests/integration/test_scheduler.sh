# The scheduler on a clock the test controls (--clock-file): a backup fires
# on its calendar and not before; retention after each scheduled backup
# keeps exactly the newest N snapshots; a scheduler restarted after a slot
# neither repeats it nor, killed at random moments around a slot, loses
# it; three days of downtime are caught up with one run, not three; and
# the daily verification shares of a 3-day cycle read every pack exactly
# once; a backup that keeps failing is retried with doubling backoff and,
# after the last attempt, raises an alert in the log and the metrics.
source "$(dirname "$0")/lib.sh"

command -v python3 >/dev/null || skip "python3 is needed to read the JSON listings"
[ -x "$(daemon_bin restored)" ] || skip "coffer-restored is not built"
export TZ=UTC
CLOCK=$T/clock
day0=$(date -u -d '2027-01-10 01:50:00' +%s)
set_clock() { echo "$1" >"$CLOCK.tmp" && mv "$CLOCK.tmp" "$CLOCK"; }
set_clock "$day0"

appliance_init "$T/app"
daemon_start backupd
daemon_start restored
daemon_start scheduler --clock-file "$CLOCK"

"$COFFER" dataset create sched --level 1 --owner ops --quiet || fail "dataset create"
mkdir -p "$T/src"
for i in 1 2 3 4 5 6; do head -c 300000 /dev/urandom >"$T/src/f$i"; done

# count KIND [STATE]: jobs of the dataset of that kind (and state).
count() {
	"$COFFER" jobs --dataset sched --limit 1000 --json | python3 -c '
import json, sys
kind, state = sys.argv[1], sys.argv[2] if len(sys.argv) > 2 else None
print(sum(1 for j in json.load(sys.stdin) if j["kind"] == kind and (state is None or j["state"] == state)))' "$@"
}
# settle: waits until no job of the dataset is queued or running and the
# scheduler has had time to act on what ended (a few ticks).
settle() {
	local i busy
	for i in $(seq 1 200); do
		sleep 0.3
		busy=$("$COFFER" jobs --dataset sched --limit 1000 --json | python3 -c '
import json, sys
print(sum(1 for j in json.load(sys.stdin) if j["state"] in ("queued", "running")))')
		[ "$busy" = 0 ] && [ "$i" -ge 4 ] && return 0
	done
	fail "jobs did not settle"
}
snap_count() { "$COFFER" snapshots --dataset sched | grep -c '^[0-9a-f]\{8\}' || true; }

"$COFFER" policy set sched --calendar '0 2 * * *' --source "$T/src" --keep-last 2 --quiet ||
	fail "policy set"

# Before 02:00 nothing runs.
settle
[ "$(count backup)" = 0 ] || fail "a backup ran before its time"

# 02:00: one backup, then its retention.
set_clock $((day0 + 10 * 60 + 30))
settle
[ "$(count backup succeeded)" = 1 ] || fail "expected 1 backup at 02:00, got $(count backup)"
[ "$(count retention succeeded)" = 1 ] || fail "no retention after the scheduled backup"

# A restarted scheduler does not repeat the slot.
daemon_stop scheduler
daemon_start scheduler --clock-file "$CLOCK"
settle
[ "$(count backup)" = 1 ] || fail "the restarted scheduler repeated the slot ($(count backup))"

# Days 1 and 2: one backup each; keep-last 2 leaves exactly the two newest.
for d in 1 2; do
	echo "day $d" >>"$T/src/f1"
	set_clock $((day0 + d * 86400 + 10 * 60 + 30))
	settle
done
[ "$(count backup succeeded)" = 3 ] || fail "expected 3 backups, got $(count backup)"
[ "$(snap_count)" = 2 ] || fail "keep-last 2 left $(snap_count) snapshots"
newest=$("$COFFER" jobs --dataset sched --limit 1000 --json | python3 -c '
import json, sys
b = [j for j in json.load(sys.stdin) if j["kind"] == "backup" and j["state"] == "succeeded"]
print(" ".join(sorted(j["snapshot"][:8] for j in sorted(b, key=lambda j: j["id"])[-2:])))')
kept=$("$COFFER" snapshots --dataset sched | grep -o '^[0-9a-f]\{8\}' | sort | tr '\n' ' ' | sed 's/ $//')
[ "$newest" = "$kept" ] || fail "retention kept $kept, not the newest backups $newest"

# Killed around a slot, at random moments: each slot still runs exactly once.
n=3
for d in 3 4 5 6; do
	set_clock $((day0 + d * 86400 + 10 * 60 + 30))
	sleep "0.$(rand_below 9)$(rand_below 9)"
	daemon_kill scheduler
	daemon_start scheduler --clock-file "$CLOCK"
	settle
	n=$((n + 1))
	[ "$(count backup)" = "$n" ] || fail "day $d: $(count backup) backups, expected $n"
done

# Three days down: one catch-up run, not three.
daemon_stop scheduler
set_clock $((day0 + 10 * 86400 + 10 * 60 + 30))
daemon_start scheduler --clock-file "$CLOCK"
settle
n=$((n + 1))
[ "$(count backup)" = "$n" ] || fail "catch-up after downtime: $(count backup) backups, expected $n"

# Verification: no more backups (no calendar), a 3-day cycle, three days.
"$COFFER" policy set sched --calendar '' --verify-days 3 --quiet || fail "policy set verify"
settle
base=$((day0 + 11 * 86400))
for d in 0 1 2; do
	set_clock $((base + d * 86400 + 3 * 3600 + 30))
	settle
done
[ "$(count verify succeeded)" = 3 ] || fail "expected 3 verifications, got $(count verify)"
"$COFFER" jobs --dataset sched --limit 1000 --json | python3 -c '
import json, re, sys
v = [j for j in json.load(sys.stdin) if j["kind"] == "verify"]
read, total, slots = 0, set(), set()
for j in v:
    m = re.search(r"verified (\d+) of (\d+) packs \(slot (\d+) of 3\)", j["message"])
    assert m, j["message"]
    read += int(m.group(1)); total.add(int(m.group(2))); slots.add(int(m.group(3)))
assert slots == {0, 1, 2}, slots
assert len(total) == 1, total
assert read == total.pop(), "packs read %d" % read
' || fail "the verification cycle did not read every pack exactly once"

# Failures: with the keystore locked every backup fails. Retries come 1,
# 2, 4 ... minutes after each failure (not sooner), eight attempts in all,
# then the alert.
"$COFFER" keystore lock --quiet || fail "keystore lock"
"$COFFER" policy set sched --calendar '0 2 * * *' --verify-days 0 --quiet || fail "policy set"
settle
now=$((base + 3 * 86400 + 2 * 3600 + 30))
set_clock "$now"
settle
before=$(count backup)
[ "$(count backup failed)" = 1 ] || fail "the backup with a locked keystore did not fail"
wait_s=60
for attempt in 2 3 4 5 6 7 8; do
	set_clock $((now + wait_s - 10)) # not yet
	settle
	[ "$(count backup failed)" = $((attempt - 1)) ] || fail "attempt $attempt came before its backoff"
	now=$((now + wait_s))
	set_clock "$now"
	settle
	[ "$(count backup failed)" = "$attempt" ] || fail "attempt $attempt did not come after $wait_s s"
	wait_s=$((wait_s * 2))
done
set_clock $((now + 3 * 3600)) # long past any retry, before the next day's slot
settle
[ "$(count backup failed)" = 8 ] || fail "more than 8 attempts: $(count backup failed)"
grep -q "ALERT: backup of sched failed 8 times" "$T/app/log/scheduler.log" ||
	fail "no alert in the scheduler's log"
grep -q '^coffer_job_failures_total{dataset="sched",kind="backup"} 8$' \
	"$COFFER_STATE_DIR/metrics/coffer.prom" || fail "the metrics do not count the 8 failures"
attempts=$("$COFFER" jobs --dataset sched --limit 1000 --json | python3 -c '
import json, sys
print(" ".join(str(j["attempt"]) for j in sorted(json.load(sys.stdin), key=lambda j: j["id"]) if j["state"] == "failed"))')
[ "$attempts" = "1 2 3 4 5 6 7 8" ] || fail "attempt numbers $attempts"
echo "ok"
