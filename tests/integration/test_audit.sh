# The audit trail end to end (docs/format/audit.md):
#  a. a mixed workload through coffer-backupd and coffer-restored, with a
#     refused request (a role the caller lacks, after a reload to a
#     non-development roles.conf) and a failing one: the export holds
#     exactly the expected records (op, actor, role, target, outcome,
#     origin), the daemons' start records and the jobs' end records, and
#     nothing else; it verifies from K(0), and a copy with one byte of a
#     record changed does not, naming the entry after it;
#  b. SIGKILL of coffer-backupd, several times, while clients hammer it
#     (and, while it is down, record their failures directly): the trail
#     only ever grows (each export is a prefix of the next) and verifies;
#     a direct verify names a torn last entry without mending it; the
#     next writer (its own record, or a daemon's start) cuts it off and
#     the entry written next takes its seq; a cut into a sealed entry is
#     named by the verifier and refused by every writer;
#  c. a prune inside the retention is refused naming it, the trail stays
#     as it was (same file, same bytes), and the refusal is recorded;
#  d. a checkpoint taken before more operations is consistent with the
#     later export.
source "$(dirname "$0")/lib.sh"

command -v python3 >/dev/null || skip "python3 is needed to read the JSON listings"
[ -x "$(daemon_bin backupd)" ] || skip "coffer-backupd is not built"
[ -x "$(daemon_bin restored)" ] || skip "coffer-restored is not built"
# Direct mode (the state directory, no daemon) is chosen only when no
# daemon answers at the default run directory.
[ ! -e /run/coffer/backupd.sock ] || skip "a coffer-backupd runs at /run/coffer: no direct mode"
direct() { env -u COFFER_RUN_DIR "$COFFER" "$@"; }

ME=$(id -un)
DEV="approver, auditor, daemon, operator, secadmin, sysadmin" # dev-single-user's roles
YESTERDAY=$(date -d yesterday +%Y-%m-%d)

# export_trail EXPORT: the trail bytes of an export file on stdout.
export_trail() {
	python3 - "$1" <<'EOF'
import struct, sys
b = open(sys.argv[1], "rb").read()
assert b[:8] == b"COFFERAX", "not an export"
(pem,) = struct.unpack_from("<I", b, 16)
off = 20 + pem + 12
(n,) = struct.unpack_from("<Q", b, off)
t = b[off + 8:]
assert len(t) == n, "export length"
sys.stdout.buffer.write(t)
EOF
}
# entries TRAILFILE: "offset kind seq length" of each entry, then "end OFFSET" (the
# first byte not a whole entry).
entries() {
	python3 - "$1" <<'EOF'
import struct, sys
t = open(sys.argv[1], "rb").read()
off = 0
while off + 4 <= len(t):
    (n,) = struct.unpack_from("<I", t, off)
    if off + 4 + n > len(t):
        break
    kind = t[off + 4]
    (seq,) = struct.unpack_from("<Q", t, off + 5)
    print(off, kind, seq, 4 + n)
    off += 4 + n
print("end", off)
EOF
}
# is_prefix A B: file A's bytes begin file B.
is_prefix() { [ "$(stat -c %s "$1")" -le "$(stat -c %s "$2")" ] && cmp -s -n "$(stat -c %s "$1")" "$1" "$2"; }

# check_records SHOWJSON < SPECS: every record of the `audit show --json`
# listing is matched by exactly one spec line and every spec by as many
# records as it says. A spec is tab-separated: count (N or LO-HI), op,
# role, target (regex), outcome (regex), origin; every record must also
# be by $ME (uid and name). Prints the problems, fails if any.
check_records() {
	python3 -c '
import json, re, sys
show, me, uid, specs = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.stdin.read()
entries = json.load(open(show))
recs = [e for e in entries if e["kind"] == "record"]
want = []
for line in specs.splitlines():
    if not line.strip() or line.startswith("#"):
        continue
    f = line.split("\t")
    assert len(f) == 6, "bad spec: %r" % line
    lo, _, hi = f[0].partition("-")
    want.append([int(lo), int(hi or lo), f[1], f[2], f[3], f[4], f[5], 0])
bad = []
for i, e in enumerate(entries):
    if e["seq"] != entries[0]["seq"] + i:
        bad.append("entry %d has seq %d" % (i, e["seq"]))
for r in recs:
    desc = "seq %d: %r by %r (%r) on %r: %r [%s]" % (r["seq"], r["op"], r["actor"], r["role"],
                                                    r["target"], r["outcome"], r["origin"])
    if r["actor"] != me or r["uid"] != uid:
        bad.append("not by %s: %s" % (me, desc))
    zero = r["params"] == "0" * 64
    if r["role"] in ("daemon",) and r["op"].startswith("daemon") and not zero:
        bad.append("a daemon start/stop with request parameters: " + desc)
    if r["origin"] != "console" and r["role"] not in ("daemon", "(job)") and zero:
        bad.append("a request without the digest of its parameters: " + desc)
    for w in want:
        if (r["op"] == w[2] and r["role"] == w[3] and re.fullmatch(w[4], r["target"]) and
                re.fullmatch(w[5], r["outcome"]) and r["origin"] == w[6]):
            w[7] += 1
            break
    else:
        bad.append("unexpected record: " + desc)
for w in want:
    if not w[0] <= w[7] <= w[1]:
        bad.append("%d record(s) %r (%r) on %r: %r [%s], expected %s" % (
            w[7], w[2], w[3], w[4], w[5], w[6], w[0] if w[0] == w[1] else "%d-%d" % (w[0], w[1])))
for b in bad:
    print("  " + b)
sys.exit(1 if bad else 0)
' "$1" "$ME" "$(id -u)"
}

# ===== a, c, d: one appliance, its daemons, a workload ========================
appliance_init "$T/app"
K0=$T/app/audit-initial.key
TRAIL=$COFFER_STATE_DIR/audit/trail
daemon_start backupd
daemon_start restored
mkdir -p "$T/src/sub"
head -c 50000 /dev/urandom >"$T/src/a.bin"
printf 'text\n' >"$T/src/sub/b.txt"

coffer dataset create alpha --level 1 --owner audit --quiet || fail "dataset create"
coffer policy set alpha --source "$T/src" --keep-last 3 --quiet || fail "policy set"
coffer backup --dataset alpha --quiet "$T/src" || fail "backup"
coffer snapshots --dataset alpha >/dev/null || fail "snapshots"
coffer restore --dataset alpha latest --target "$T/restored" --quiet || fail "restore"
cmp -s "$T/src/a.bin" "$T/restored$T/src/a.bin" || fail "the restored file differs"
coffer keystore lock --quiet || fail "keystore lock"
coffer keystore unlock --quiet || fail "keystore unlock"
coffer jobs >/dev/null || fail "jobs"
# Failing: no such dataset.
expect_rc 1 coffer backup --dataset nosuch --quiet "$T/src" 2>"$T/err"
grep -q "no dataset 'nosuch'" "$T/err" || fail "backup of nosuch: $(cat "$T/err")"
coffer audit seal --quiet || fail "audit seal"

# --- c: a prune within the retention is refused, and changes nothing -----------
cp "$TRAIL" "$T/trail.before"
ino=$(stat -c %i "$TRAIL")
expect_rc 1 coffer audit prune --before "$YESTERDAY" >"$T/out" 2>"$T/err"
grep -q "retention of 180 days" "$T/err" || fail "the prune refusal does not name the retention: $(cat "$T/err")"
grep -q "pruned" "$T/out" && fail "a refused prune says it pruned: $(cat "$T/out")"
[ "$(stat -c %i "$TRAIL")" = "$ino" ] || fail "the refused prune replaced the trail file"
is_prefix "$T/trail.before" "$TRAIL" || fail "the refused prune changed the trail's entries"
[ "$(entries "$TRAIL" | sed -n 1p | cut -d' ' -f2,3)" = "1 0" ] ||
	fail "the trail no longer starts with record 0 (an anchor?)"

# --- d: a checkpoint, then more operations -----------------------------------------
coffer audit checkpoint --out "$T/C1" --quiet || fail "audit checkpoint"

# Refused: a non-development roles.conf (this user's group: operator and
# auditor, not sysadmin), reloaded by SIGHUP.
printf 'operator = %s\nauditor = %s\n' "$(id -gn)" "$(id -gn)" >"$COFFER_CONFIG_DIR/roles.conf"
LOG=$T/app/log/backupd.log
reloads=$(grep -c "reloading the configuration" "$LOG" || true)
# shellcheck disable=SC2154 # DAEMON_PID_backupd is set by daemon_start
kill -HUP "$DAEMON_PID_backupd"
for _ in $(seq 1 100); do
	[ "$(grep -c "reloading the configuration" "$LOG" || true)" -gt "$reloads" ] && break
	sleep 0.05
done
[ "$(grep -c "reloading the configuration" "$LOG" || true)" -gt "$reloads" ] || fail "no reload"
expect_rc 1 coffer dataset create beta --level 1 --owner audit 2>"$T/err"
grep -q "needs the role sysadmin" "$T/err" || fail "dataset create not refused: $(cat "$T/err")"

# --- the export, every record in it -------------------------------------------------
coffer audit export --to "$T/F" --quiet || fail "audit export"
coffer audit show --from "$T/F" --json >"$T/F.json" || fail "audit show --from"
J1=$(coffer jobs --json | python3 -c 'import json,sys; print(min(j["id"] for j in json.load(sys.stdin)))')
check_records "$T/F.json" >"$T/problems" <<EOF || fail "the export's records:
$(cat "$T/problems")"
1	console audit init	$DEV		ok	console
1	daemon start	daemon	backupd	ok	backupd
1	keystore unlock	daemon	passphrase file	ok	backupd
1	daemon start	daemon	restored	ok	restored
1	keystore unlock	daemon	passphrase file	ok	restored
1	dataset create	$DEV	alpha	ok	backupd
1	policy set	$DEV	alpha	ok	backupd
1	backup	$DEV	alpha	ok	backupd
1	job backup	(job)	alpha \(job $J1\)	succeeded: snapshot [0-9a-f]+: 2 files, .*	backupd
1	snapshots	$DEV	alpha	ok	backupd
1	restore	$DEV	alpha	ok	restored
1	job restore	(job)	alpha \(job [0-9]+\)	succeeded: restored 2 files, .*	restored
1	keystore lock	$DEV		ok	backupd
1	keystore lock	$DEV		ok	restored
1	keystore unlock	$DEV		ok	backupd
1	keystore unlock	$DEV		ok	restored
# A command that reached the daemons is recorded by them, not again by the console.
0	console keystore lock	$DEV		ok	console
0	console keystore unlock	$DEV		ok	console
1	jobs	$DEV		ok	backupd
1	backup	$DEV	nosuch	failed: no dataset 'nosuch'.*	backupd
1	audit seal	$DEV		ok	backupd
# A policy's refusal (docs/format/audit.md).
1	audit prune	$DEV		refused: records younger than the retention of 180 days .*	backupd
1	audit checkpoint	$DEV		ok	backupd
1	dataset create	auditor, operator	beta	refused: 'dataset create' needs the role sysadmin; uid $(id -u) has: auditor, operator	backupd
EOF
python3 -c 'import json,sys; sys.exit(0 if any(e["kind"] == "seal" for e in json.load(open(sys.argv[1]))) else 1)' \
	"$T/F.json" || fail "no seal in the export after 'audit seal'"

# Verified from K(0) and against the checkpoint taken before (d).
coffer audit verify --from "$T/F" --initial-key "$K0" --checkpoint "$T/C1" >"$T/out" ||
	fail "verify of the export: $(cat "$T/out")"
grep -q "^OK: " "$T/out" || fail "verify does not say OK: $(cat "$T/out")"
grep -q "^seal MACs: checked from K(0)" "$T/out" || fail "MACs not checked: $(cat "$T/out")"
grep -q "^checkpoints: 1 consistent" "$T/out" || fail "checkpoint not checked: $(cat "$T/out")"
# One byte of record 2 (its time) changed: the chain breaks at seq 3.
cp "$T/F" "$T/F.bad"
export_trail "$T/F" >"$T/F.trail"
start=$(($(stat -c %s "$T/F") - $(stat -c %s "$T/F.trail")))
read -r off kind seq _ < <(entries "$T/F.trail" | sed -n 3p)
[ "$kind $seq" = "1 2" ] || fail "entry 2 of the export is not record 2: $kind $seq"
flip_byte "$T/F.bad" $((start + off + 13))
expect_rc 1 coffer audit verify --from "$T/F.bad" --initial-key "$K0" >"$T/out"
grep -q "^FAILED at seq 3 " "$T/out" || fail "the changed record is not named: $(cat "$T/out")"

daemon_stop backupd
daemon_stop restored

# ===== b: crashes under load =======================================================
AUDIT_INIT_OPTS='--epoch-records 5' appliance_init "$T/crash"
K0=$T/crash/audit-initial.key
TRAIL=$COFFER_STATE_DIR/audit/trail
LOG=$T/crash/log/backupd.log
daemon_start backupd
coffer dataset create c --level 1 --owner audit --quiet || fail "dataset create (crash)"
STOP=$T/stop-load
load() {
	while [ ! -e "$STOP" ]; do
		"$COFFER" jobs >/dev/null 2>&1 || true
		"$COFFER" dataset list >/dev/null 2>&1 || true
	done
}
loaders=()
for _ in 1 2 3; do
	load &
	loaders+=("$!")
	BG_PIDS+=("$!")
done
ROUNDS=4
prev=$T/crash-0.x
direct audit export --to "$prev" --quiet || fail "direct export"
export_trail "$prev" >"$prev.trail"
records=$(direct audit verify --from "$prev" --json | json_num records)
for round in $(seq 1 $ROUNDS); do
	sleep "0.$((2 + $(rand_below 4)))"
	daemon_kill backupd
	# Down: the clients' failures are recorded by the console itself, concurrently.
	x=$T/crash-$round.x
	direct audit export --to "$x" --quiet || fail "round $round: direct export"
	export_trail "$x" >"$x.trail"
	is_prefix "$prev.trail" "$x.trail" || fail "round $round: the trail was rewritten"
	direct audit verify --from "$x" --initial-key "$K0" --json >"$T/v.json" ||
		fail "round $round: verify: $(cat "$T/v.json")"
	n=$(json_num records <"$T/v.json")
	[ "$n" -gt "$records" ] || fail "round $round: $n records, $records before"
	records=$n prev=$x
	daemon_start backupd
done
sleep 0.3
touch "$STOP"
wait "${loaders[@]}"
daemon_stop backupd
direct audit verify --initial-key "$K0" >"$T/out" || fail "verify after the crashes: $(cat "$T/out")"
grep -q "^OK: " "$T/out" || fail "verify after the crashes: $(cat "$T/out")"
direct audit show --op "daemon start" --json >"$T/starts.json"
[ "$(grep -c '"op":"daemon start"' "$T/starts.json")" -eq $((ROUNDS + 1)) ] ||
	fail "$((ROUNDS + 1)) daemon starts expected: $(cat "$T/starts.json")"
direct audit show --op "daemon stop" --json | grep -c '"op":"daemon stop"' | grep -qx 1 ||
	fail "one daemon stop (the SIGTERM) expected"
direct audit export --to "$T/crash-end.x" --quiet || fail "direct export"
export_trail "$T/crash-end.x" >"$T/crash-end.trail"
is_prefix "$prev.trail" "$T/crash-end.trail" || fail "the trail was rewritten at the end"
[ "$(entries "$T/crash-end.trail" | grep -c '^[0-9]* 2 ')" -ge 3 ] || fail "too few seals"

# --- a torn last entry -------------------------------------------------------------
# tear: cuts the last entry of the trail short, as a writer killed in
# mid-write would leave it. A seal is covered by the state file (it is
# not a tail to cut), so direct commands are run (each appends a record)
# until the last entry is a record. Sets TORN_SEQ and TORN_OFF.
tear() {
	local last
	last=$(entries "$TRAIL" | tail -2 | head -1)
	for _ in 1 2 3; do
		[ "$(echo "$last" | cut -d' ' -f2)" = 1 ] && break
		direct dataset list >/dev/null || fail "dataset list (direct)"
		last=$(entries "$TRAIL" | tail -2 | head -1)
	done
	read -r TORN_OFF kind TORN_SEQ len <<<"$last"
	[ "$kind" = 1 ] || fail "the last entry is not a record: $last"
	[ "$(entries "$TRAIL" | tail -1)" = "end $(stat -c %s "$TRAIL")" ] || fail "the trail is torn already"
	truncate -s $((TORN_OFF + len - 7)) "$TRAIL"
}
# A direct verify reads the files as they are: it names the torn entry
# and mends nothing. Its own record is written afterwards by a writer,
# which cuts the torn entry off and takes its place (and seq).
tear
size=$(stat -c %s "$TRAIL")
expect_rc 1 direct audit verify --initial-key "$K0" >"$T/out" 2>"$T/err"
grep -q "^FAILED at seq $TORN_SEQ (offset $TORN_OFF): the last $((len - 7)) bytes are an incomplete entry" "$T/out" ||
	fail "verify of a torn trail does not name the torn entry: $(cat "$T/out" "$T/err")"
grep -q "cutting off an incomplete last entry (" "$T/err" ||
	fail "the record of the verify did not cut the torn entry: $(cat "$T/err")"
read -r off kind seq _ < <(entries "$TRAIL" | awk -v s="$TORN_SEQ" '$3 == s')
[ "$off $kind" = "$TORN_OFF 1" ] || fail "seq $TORN_SEQ is not a record at $TORN_OFF: $off $kind"
direct audit show --json >"$T/show.json" || fail "show after the tear"
python3 -c '
import json, sys
e = [x for x in json.load(open(sys.argv[1])) if x["seq"] == int(sys.argv[2])]
sys.exit(0 if e and e[0]["op"] == "console audit verify" and e[0]["outcome"].startswith("failed") else 1)' \
	"$T/show.json" "$TORN_SEQ" || fail "seq $TORN_SEQ is not the failed verify's record"
direct audit verify --initial-key "$K0" >"$T/out" || fail "verify after the mend: $(cat "$T/out")"
[ "$(stat -c %s "$TRAIL")" -gt "$size" ] || fail "the trail did not grow past the torn entry"
# The same at a daemon's start: it comes up, says so, and records its start there.
tear
daemon_start backupd
grep -q "cutting off an incomplete last entry" "$LOG" || fail "backupd did not report the torn entry"
coffer audit export --to "$T/torn.x" --quiet || fail "export after the torn start"
daemon_stop backupd
coffer audit verify --from "$T/torn.x" --initial-key "$K0" >"$T/out" || fail "verify: $(cat "$T/out")"
coffer audit show --from "$T/torn.x" --json | python3 -c '
import json, sys
e = [x for x in json.load(sys.stdin) if x["seq"] == int(sys.argv[1])]
sys.exit(0 if e and e[0]["kind"] == "record" and e[0]["op"] == "daemon start" else 1)' "$TORN_SEQ" ||
	fail "seq $TORN_SEQ is not the daemon's start after the torn entry"
direct audit verify --initial-key "$K0" >"$T/out" || fail "final verify: $(cat "$T/out")"

# A cut into a seal the state file covers is no torn write but sealed
# entries removed: every writer refuses the trail, naming the cut.
for _ in 1 2 3 4 5 6; do
	[ "$(entries "$TRAIL" | tail -2 | head -1 | cut -d' ' -f2)" = 2 ] && break
	direct dataset list >/dev/null || fail "dataset list (direct)"
done
[ "$(entries "$TRAIL" | tail -2 | head -1 | cut -d' ' -f2)" = 2 ] || fail "no seal came last"
read -r cut_off _ cut_seq _ < <(entries "$TRAIL" | tail -2 | head -1)
truncate -s -10 "$TRAIL"
expect_rc 1 direct audit verify --initial-key "$K0" >"$T/out" 2>"$T/err"
grep -q "^FAILED at seq $cut_seq (offset $cut_off): the last .* bytes are an incomplete entry" "$T/out" ||
	fail "verify does not name the cut seal: $(cat "$T/out")"
# Its record is refused by the writer, which names the cut.
grep -q "shorter .* than its sealed part" "$T/err" || fail "the cut is not named: $(cat "$T/err")"
grep -q "not recorded in the audit trail" "$T/err" || fail "no warning of the lost record: $(cat "$T/err")"
expect_rc 1 timeout 60 "$(daemon_bin backupd)" -f --passphrase-file "$COFFER_PASSPHRASE_FILE" \
	>"$T/err" 2>&1
grep -q "shorter .* than its sealed part" "$T/err" || fail "backupd: the cut is not named: $(cat "$T/err")"
echo "ok"
