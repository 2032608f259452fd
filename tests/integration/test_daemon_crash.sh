# coffer-backupd killed (SIGKILL) at random moments while backups run, and
# stopped (SIGTERM) during one: after each restart the repository passes
# `check --read-data`, the job that was running is marked interrupted
# (never lost, never left running), a job queued behind it still runs, and
# a later backup succeeds and restores equal to the source.
source "$(dirname "$0")/lib.sh"

command -v python3 >/dev/null || skip "python3 is needed to read the JSON listings"
appliance_init "$T/app"
daemon_start backupd
"$COFFER" dataset create crash --level 1 --owner test --quiet || fail "dataset create"
mkdir -p "$T/src/a" "$T/src/b"
for i in $(seq 1 40); do head -c 1500000 /dev/urandom >"$T/src/a/f$i"; done
for i in $(seq 1 2000); do echo "small file $i" >"$T/src/b/s$i"; done

# final_state JOB: waits until the job has ended, prints its state.
final_state() {
	local i st
	for i in $(seq 1 600); do
		st=$(state_of "$1")
		case $st in queued | running) sleep 0.1 ;; *) echo "$st"; return 0 ;; esac
	done
	echo "$st"
}
# state_of JOB: its state from `coffer jobs --json`.
state_of() {
	"$COFFER" jobs --dataset crash --limit 1000 --json | python3 -c '
import json, sys
for j in json.load(sys.stdin):
    if j["id"] == int(sys.argv[1]):
        print(j["state"])' "$1"
}
job_of() { grep -o 'job [0-9]*' "$1" | head -1 | cut -d' ' -f2; }
check_repo() {
	(unset COFFER_RUN_DIR && "$COFFER" check --dataset crash --read-data --quiet) ||
		fail "$1: the repository does not pass check"
}

killed=0
for round in $(seq 1 8); do
	echo "round $round" >>"$T/src/b/s1"
	head -c 200000 /dev/urandom >"$T/src/a/f$round" # new data each round
	"$COFFER" backup --dataset crash --detach "$T/src" >"$T/out" || fail "round $round: submit"
	job=$(job_of "$T/out")
	# A second job queued behind the first (one job per pool at a time).
	"$COFFER" backup --dataset crash --detach "$T/src/b" >"$T/out2" || fail "round $round: submit 2"
	job2=$(job_of "$T/out2")
	sleep "0.$(rand_below 3)$(rand_below 9)"
	daemon_kill backupd
	daemon_start backupd
	# Killed while running: interrupted. Finished first, or still queued
	# at the kill and run by the restarted daemon: succeeded. Nothing else.
	st=$(final_state "$job")
	case $st in
	interrupted) killed=$((killed + 1)) ;;
	succeeded) ;;
	*) fail "round $round: job $job ended '$st'" ;;
	esac
	[ "$st" = succeeded ] || grep -q "marked interrupted" "$T/app/log/backupd.log" ||
		fail "round $round: the restart did not report the interrupted job"
	# The job queued behind it runs (or was itself interrupted).
	st2=$(final_state "$job2")
	[ "$st2" = succeeded ] || [ "$st2" = interrupted ] ||
		fail "round $round: queued job $job2 ended '$st2'"
	check_repo "round $round"
done
[ "$killed" -ge 1 ] || fail "no backup was caught running by the kills (all $round finished first)"

# SIGTERM during a backup: it stops at a safe point, marked interrupted.
"$COFFER" backup --dataset crash --detach "$T/src" >"$T/out" || fail "submit before SIGTERM"
job=$(job_of "$T/out")
sleep 0.2
daemon_stop backupd
daemon_start backupd
st=$(final_state "$job")
[ "$st" = interrupted ] || [ "$st" = succeeded ] || fail "after SIGTERM job $job ended '$st'"
check_repo "after SIGTERM"

# And afterwards everything works.
"$COFFER" backup --dataset crash "$T/src" --quiet || fail "the final backup failed"
if [ -x "$(daemon_bin restored)" ]; then
	daemon_start restored
	"$COFFER" restore --dataset crash latest --target "$T/out-r" --quiet || fail "restore"
	"$TREECMP" --no-atime "$T/src" "$T/out-r$T/src" >&2 || fail "the restore differs from the source"
fi
echo "ok: $killed of 8 backups killed mid-run"
