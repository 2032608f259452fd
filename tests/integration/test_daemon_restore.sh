# coffer-restored: restores as jobs through the daemons (docs/daemons.md).
# A dataset is created and backed up through coffer-backupd, then
# restored through coffer-restored: a full restore that compares equal,
# an include restore, a relative target made absolute by the console, a
# snapshot that does not exist (the job fails naming it), requests
# refused before any job (a dataset that does not exist, --to-archive,
# --threads), a partial restore from a damaged pack (a failure), and a
# restore stopped mid-way by SIGTERM (interrupted) and by SIGKILL (marked
# interrupted when the daemon starts again), after which a new restore
# completes. Verification jobs have no console command yet: the share
# arithmetic is unit.test_maint's (test_check_share).
source "$(dirname "$0")/lib.sh"

[ -x "$TREECMP" ] || fail "treecmp not built at $TREECMP"
appliance_init "$T/app"
LOG=$T/app/log/restored.log
daemon_start backupd
daemon_start restored

# repo_of NAME: the dataset's repository path from dataset show --json.
repo_of() { coffer dataset show "$1" --json | grep -o '"repository":"[^"]*"' | cut -d'"' -f4; }
# job_of FILE: the job ID from "job N queued".
job_of() { awk '/^job [0-9]+ queued$/ {print $2}' "$1"; }
# wait_log PATTERN: until the restored log has a line matching PATTERN (20 s).
wait_log() {
	local i
	for i in $(seq 1 400); do
		grep -q -- "$1" "$LOG" && return 0
		sleep 0.05
	done
	fail "coffer-restored never logged '$1': $(tail -5 "$LOG")"
}
# wait_started DIR JOB: until the restore of JOB has created its target
# (it is running), failing if the job ended first.
wait_started() {
	local i
	for i in $(seq 1 400); do
		[ -d "$1" ] && return 0
		grep -q "job $2 (restore" "$LOG" && fail "job $2 ended before it could be stopped"
		sleep 0.025
	done
	fail "job $2 never started: $(tail -5 "$LOG")"
}

coffer dataset create docs --level 1 --owner registry --quiet || fail "dataset create"
S=$T/src
mkdir -p "$S/sub/deeper" "$S/other"
head -c 300000 /dev/urandom >"$S/sub/random.bin"
for i in $(seq 1 300); do echo "line $i of a compressible file"; done >"$S/sub/deeper/text.txt"
printf 'top\n' >"$S/top.txt"
printf 'other\n' >"$S/other/o.txt"
ln -s sub/deeper/text.txt "$S/link"
chmod 0640 "$S/top.txt"
coffer backup --dataset docs --quiet "$S" || fail "backup through coffer-backupd failed"

# A full restore of the latest snapshot, followed to its end.
coffer restore --dataset docs latest --target "$T/out" >"$T/stdout" 2>"$T/err" ||
	fail "restore through coffer-restored failed: $(cat "$T/err")"
grep -q "^job [0-9]*: restored [0-9]* files, .* MiB into $T/out$" "$T/stdout" ||
	soft_fail "no summary of the restore: $(cat "$T/stdout")"
"$TREECMP" --no-atime "$S" "$T/out$S" >&2 || soft_fail "restored tree differs"
# The restore held a shared lock against prune, and released it.
RDOCS=$(repo_of docs)
[ -d "$RDOCS/locks" ] && [ -z "$(ls -A "$RDOCS/locks")" ] ||
	soft_fail "the restore left a lock in $RDOCS/locks"

# By a unique prefix of the snapshot's ID, with includes: only those subtrees.
snap=$(coffer snapshots --dataset docs --json | grep -o '"id":"[0-9a-f]*"' | head -1 | cut -d'"' -f4)
[ -n "$snap" ] || fail "no snapshot listed"
coffer restore --dataset docs "${snap:0:10}" --target "$T/inc" --include "$S/sub/deeper" \
	--include "$S/top.txt" --quiet || fail "include restore failed"
cmp "$S/sub/deeper/text.txt" "$T/inc$S/sub/deeper/text.txt" || soft_fail "included file differs"
cmp "$S/top.txt" "$T/inc$S/top.txt" || soft_fail "included top.txt differs"
[ ! -e "$T/inc$S/sub/random.bin" ] || soft_fail "a file outside the includes was restored"
[ ! -e "$T/inc$S/other" ] || soft_fail "a directory outside the includes was restored"
expect_rc 2 coffer restore --dataset docs latest --target "$T/x" --include sub 2>"$T/err"
grep -q "starting with '/'" "$T/err" || soft_fail "relative include not refused clearly: $(cat "$T/err")"

# A relative target is made absolute against the console's directory,
# whose missing parents the restore creates.
(cd "$T" && coffer restore --dataset docs latest --target rel/out --quiet) ||
	fail "restore to a relative target failed"
"$TREECMP" --no-atime "$S" "$T/rel/out$S" >&2 || soft_fail "tree restored to a relative target differs"
(cd "$T/rel" && coffer restore --dataset docs latest --target out2 --json) >"$T/json" ||
	fail "restore to a relative target in an existing directory failed"
grep -q "\"state\":\"succeeded\",\"snapshot\":\"$snap\"" "$T/json" ||
	soft_fail "json result does not name the snapshot read: $(cat "$T/json")"
[ -f "$T/rel/out2$S/top.txt" ] || soft_fail "nothing restored into rel/out2"

# A snapshot that does not exist: the job fails, naming it; nothing is restored.
expect_rc 1 coffer restore --dataset docs 0badc0de --target "$T/none" 2>"$T/err"
grep -q "0badc0de" "$T/err" || soft_fail "a missing snapshot is not named: $(cat "$T/err")"
grep -q "failed" "$T/err" || soft_fail "the job is not said to have failed: $(cat "$T/err")"
[ ! -e "$T/none" ] || soft_fail "a target was created for a missing snapshot"
# Refused before any job: no such dataset; an archive (direct mode only).
expect_rc 1 coffer restore --dataset nosuch latest --target "$T/none" 2>"$T/err"
grep -q "no dataset 'nosuch'" "$T/err" || soft_fail "missing dataset not named: $(cat "$T/err")"
expect_rc 2 coffer restore --dataset docs latest --to-archive "$T/a.tar" 2>"$T/err"
grep -q "direct mode" "$T/err" || soft_fail "--to-archive refusal unclear: $(cat "$T/err")"
[ ! -e "$T/a.tar" ] || soft_fail "an archive was written through the daemons"
expect_rc 2 coffer restore --dataset docs latest --target "$T/none" --threads 2 2>"$T/err"
grep -q "direct mode" "$T/err" || soft_fail "--threads refusal unclear: $(cat "$T/err")"

# A partial restore is a failure: a damaged data pack costs the one file
# that needs it, which is named in the job's messages.
coffer dataset create dmg --level 1 --owner registry --quiet || fail "dataset create dmg"
D=$T/dmgsrc
mkdir -p "$D"
head -c 2000000 /dev/urandom >"$D/big.bin"
printf 'small\n' >"$D/small.txt"
coffer backup --dataset dmg --quiet "$D" || fail "backup of dmg failed"
RD=$(repo_of dmg)
[ -d "$RD/data" ] || fail "no repository for dmg at '$RD'"
# The largest pack holds big.bin's data (trees are in their own, small packs).
pack=$(find "$RD/data" -type f -printf '%s %p\n' | sort -n | tail -1)
flip_byte "${pack#* }" $((${pack%% *} / 2))
expect_rc 1 coffer restore --dataset dmg latest --target "$T/dmgout" 2>"$T/err"
grep -q "could not be restored" "$T/err" || soft_fail "partial restore not reported: $(cat "$T/err")"
grep -q "big.bin" "$T/err" || soft_fail "the damaged file is not named: $(cat "$T/err")"
cmp "$D/small.txt" "$T/dmgout$D/small.txt" || soft_fail "an undamaged file was not restored"

# A larger tree, so that a restore can be stopped while it runs.
coffer dataset create big --level 1 --owner registry --quiet || fail "dataset create big"
B=$T/bigsrc
mkdir -p "$B/a" "$B/b"
head -c $((1500 * 16384)) /dev/urandom | split -b 16384 -a 4 - "$B/a/f"
head -c $((1500 * 16384)) /dev/urandom | split -b 16384 -a 4 - "$B/b/f"
coffer backup --dataset big --quiet "$B" || fail "backup of big failed"

# SIGTERM: the running restore stops at its next entry and is interrupted.
coffer restore --dataset big latest --target "$T/big1" --detach >"$T/stdout" || fail "detached restore"
job=$(job_of "$T/stdout")
[ -n "$job" ] || fail "no job ID printed: $(cat "$T/stdout")"
wait_started "$T/big1" "$job"
daemon_stop restored
grep -q "job $job (restore of big) interrupted" "$LOG" ||
	soft_fail "SIGTERM did not interrupt job $job: $(tail -5 "$LOG")"

# SIGKILL: the job is left running in jobs.db and marked interrupted at the next start.
daemon_start restored
coffer restore --dataset big latest --target "$T/big2" --detach >"$T/stdout" || fail "detached restore"
job=$(job_of "$T/stdout")
wait_started "$T/big2" "$job"
daemon_kill restored
grep -q "job $job (restore" "$LOG" && fail "job $job ended before SIGKILL"
daemon_start restored
wait_log "1 job(s) were running when the daemon last stopped; marked interrupted"

# The daemon works on: a new restore of the same tree completes and compares equal.
coffer restore --dataset big latest --target "$T/big3" --quiet || fail "restore after the crash failed"
"$TREECMP" --no-atime "$B" "$T/big3$B" >&2 || soft_fail "tree restored after the crash differs"
# Both daemons are still answering, and stop cleanly.
coffer restore --dataset docs latest --target "$T/last" --quiet || fail "last restore failed"
daemon_stop restored
daemon_stop backupd
grep -q "AddressSanitizer\|runtime error" "$T/app/log/restored.log" &&
	soft_fail "coffer-restored logged a sanitizer report"
finish_checks
