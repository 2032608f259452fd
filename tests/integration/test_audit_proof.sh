# Proof files end to end (docs/format/audit.md, "Proofs"):
#  a. operations through coffer-backupd, checkpoint C1, more operations,
#     checkpoint C2; `audit prove` makes an inclusion proof of a backup
#     record after C1 in C2's tree (through the daemon) and a consistency
#     proof C1 -> C2 (from an export); direct mode reads the files;
#  b. `audit check-proof` says OK with only the auditor's copy of
#     sign.pem, the checkpoints and the proofs (the trail moved away);
#  c. refused, naming the reason: a proof against the wrong checkpoint,
#     the checkpoints swapped, a byte changed in the proof (path, entry,
#     header), a checkpoint signed by another trail's key, the other
#     trail's key itself;
#  d. `prove` refuses a checkpoint of another appliance, and one of a
#     fork of this trail (the same key, another history), and writes
#     nothing.
source "$(dirname "$0")/lib.sh"

command -v python3 >/dev/null || skip "python3 is needed to read the JSON listings"
[ -x "$(daemon_bin backupd)" ] || skip "coffer-backupd is not built"
[ ! -e /run/coffer/backupd.sock ] || skip "a coffer-backupd runs at /run/coffer: no direct mode"
direct() { env -u COFFER_RUN_DIR "$COFFER" "$@"; }
# auditor ARGS...: the console where the auditor is: no daemon, no appliance state.
auditor() {
	env -u COFFER_RUN_DIR -u COFFER_CONFIG_DIR COFFER_STATE_DIR="$T/auditor-state" \
		"$COFFER" "$@"
}
mkdir -p "$T/auditor-state"

# cp_size CHECKPOINT: its tree_size.
cp_size() {
	python3 -c '
import struct, sys
b = open(sys.argv[1], "rb").read()
assert b[:8] == b"COFFERCP", "not a checkpoint"
print(struct.unpack_from("<Q", b, 16)[0])' "$1"
}
# proof_field PROOF WHAT: the offset of "path" (the last hash's first byte),
# "entry" (the entry's first byte after its length field) or "outcome" (the
# first byte of a record entry's outcome) in an inclusion proof file.
proof_field() {
	python3 - "$1" "$2" <<'EOF'
import struct, sys
b = open(sys.argv[1], "rb").read()
assert b[:8] == b"COFFERAP" and b[16] == 1, "not an inclusion proof"
(n,) = struct.unpack_from("<I", b, 33)
entry = 37
if sys.argv[2] == "path":
    print(len(b) - 32)
elif sys.argv[2] == "entry":
    print(entry)
else:
    off = entry + 49 + 4            # the header after len, then uid
    for _ in range(4):              # actor, role, op, target
        (l,) = struct.unpack_from("<I", b, off)
        off += 4 + l
    off += 32                       # params
    print(off + 4)
EOF
}

# xor_byte FILE OFFSET MASK: flips the bits of MASK in the byte at OFFSET.
xor_byte() {
	python3 - "$@" <<'EOF'
import sys
path, off, mask = sys.argv[1], int(sys.argv[2]), int(sys.argv[3], 0)
b = bytearray(open(path, "rb").read())
b[off] ^= mask
open(path, "wb").write(b)
EOF
}

# ===== a. the trail, two checkpoints, the proofs ==================================
AUDIT_INIT_OPTS='--epoch-records 4' appliance_init "$T/app"
APP_STATE=$COFFER_STATE_DIR
cp "$COFFER_STATE_DIR/audit/sign.pem" "$T/sign.pem" # the auditor's copy, taken at init
daemon_start backupd
mkdir -p "$T/src"
head -c 20000 /dev/urandom >"$T/src/a.bin"
coffer dataset create alpha --level 1 --owner audit --quiet || fail "dataset create"
coffer policy set alpha --source "$T/src" --keep-last 3 --quiet || fail "policy set"
coffer backup --dataset alpha --quiet "$T/src" || fail "backup 1"
coffer audit checkpoint --out "$T/C1" --quiet || fail "checkpoint C1"
printf 'more\n' >"$T/src/b.txt"
coffer backup --dataset alpha --quiet "$T/src" || fail "backup 2"
coffer snapshots --dataset alpha >/dev/null || fail "snapshots"
coffer jobs >/dev/null || fail "jobs"
coffer audit seal --quiet || fail "audit seal"
coffer audit checkpoint --out "$T/C2" --quiet || fail "checkpoint C2"
S1=$(cp_size "$T/C1")
S2=$(cp_size "$T/C2")
[ "$S1" -gt 0 ] && [ "$S2" -gt "$S1" ] || fail "checkpoint sizes $S1 and $S2"

coffer audit export --to "$T/X" --quiet || fail "export"
# The second backup's request: a record after C1, inside C2.
SEQ=$(coffer audit show --from "$T/X" --json | python3 -c '
import json, sys
lo, hi = int(sys.argv[1]), int(sys.argv[2])
r = [e for e in json.load(sys.stdin)
     if e["kind"] == "record" and e["op"] == "backup" and lo <= e["seq"] < hi]
print(r[0]["seq"] if r else "")' "$S1" "$S2")
[ -n "$SEQ" ] || fail "no backup record between $S1 and $S2"

coffer audit prove --seq "$SEQ" --checkpoint "$T/C2" --out "$T/P1" >"$T/out" ||
	fail "prove (daemon): $(cat "$T/out")"
grep -q "^proof that entry $SEQ is in the tree of $S2 entries" "$T/out" ||
	fail "prove does not say what it wrote: $(cat "$T/out")"
coffer audit prove --old "$T/C1" --checkpoint "$T/C2" --out "$T/P2" --from "$T/X" --quiet ||
	fail "prove --old (export)"
expect_rc 1 coffer audit prove --old "$T/C1" --checkpoint "$T/C2" --out "$T/P2" 2>"$T/err"
grep -q "P2: it exists (not overwritten)" "$T/err" || fail "prove overwrote: $(cat "$T/err")"
# Usage errors.
expect_rc 2 coffer audit prove --checkpoint "$T/C2" --out "$T/P9" 2>"$T/err"
grep -q "give --seq N .* or --old CP1" "$T/err" || fail "prove without --seq/--old: $(cat "$T/err")"
expect_rc 2 coffer audit prove --seq 1 --out "$T/P9" 2>"$T/err"
grep -q "with --checkpoint FILE" "$T/err" || fail "prove without --checkpoint: $(cat "$T/err")"
expect_rc 2 coffer audit prove --seq x1 --checkpoint "$T/C2" --out "$T/P9" 2>"$T/err"
grep -q -- "--seq needs an entry's sequence number, not 'x1'" "$T/err" || fail "--seq x1: $(cat "$T/err")"
expect_rc 1 coffer audit prove --seq "$S2" --checkpoint "$T/C2" --out "$T/P9" 2>"$T/err"
grep -q "entry $S2 is not in the tree of $S2 entries" "$T/err" || fail "seq out of the tree: $(cat "$T/err")"
[ ! -e "$T/P9" ] || fail "a refused prove wrote its file"
daemon_stop backupd
# Direct mode: the trail files, read-only.
direct audit prove --seq 0 --checkpoint "$T/C1" --out "$T/P0" --quiet || fail "prove (direct)"

# ===== b. the auditor: the files and the key, nothing else ========================
mv "$APP_STATE/audit" "$T/audit.away"
auditor audit check-proof "$T/P1" --checkpoint "$T/C2" --public-key "$T/sign.pem" >"$T/out" ||
	fail "check-proof P1: $(cat "$T/out")"
grep -q "^OK: entry $SEQ (record, op \"backup\", actor \"$(id -un)\" .*target \"alpha\", outcome \"ok\".*) is in the signed tree of $S2 entries$" "$T/out" ||
	fail "check-proof P1 does not say OK with the record: $(cat "$T/out")"
grep -q "^checkpoint taken .*, signing key [0-9a-f]\{64\}$" "$T/out" || fail "no key line: $(cat "$T/out")"
auditor audit check-proof "$T/P2" --old "$T/C1" --checkpoint "$T/C2" --public-key "$T/sign.pem" \
	>"$T/out" || fail "check-proof P2: $(cat "$T/out")"
grep -qx "OK: the tree of $S1 entries is a prefix of the tree of $S2 entries" "$T/out" ||
	fail "check-proof P2 does not say OK: $(cat "$T/out")"
auditor audit check-proof "$T/P0" --checkpoint "$T/C1" --public-key "$T/sign.pem" >"$T/out" ||
	fail "check-proof P0: $(cat "$T/out")"
grep -q "^OK: entry 0 (record, op \"console audit init\"" "$T/out" || fail "P0: $(cat "$T/out")"
# Usage errors: the key is not optional, --old goes with consistency proofs only.
expect_rc 2 auditor audit check-proof "$T/P1" --checkpoint "$T/C2" 2>"$T/err"
grep -q "with --public-key PEM" "$T/err" || fail "check-proof without a key: $(cat "$T/err")"
expect_rc 2 auditor audit check-proof "$T/P2" --checkpoint "$T/C2" --public-key "$T/sign.pem" 2>"$T/err"
grep -q "P2 is a consistency proof: give the older checkpoint with --old CP1" "$T/err" ||
	fail "a consistency proof without --old: $(cat "$T/err")"
expect_rc 2 auditor audit check-proof "$T/P1" --old "$T/C1" --checkpoint "$T/C2" \
	--public-key "$T/sign.pem" 2>"$T/err"
grep -q "P1 is an inclusion proof" "$T/err" || fail "an inclusion proof with --old: $(cat "$T/err")"

# ===== c. refusals ============================================================
# expect_failed WHY ARGS...: check-proof exits 1 and prints "FAILED: ...WHY...".
expect_failed() {
	local why=$1
	shift
	expect_rc 1 auditor audit check-proof "$@" >"$T/out" 2>"$T/err"
	grep -q "^FAILED: .*$why" "$T/out" || fail "check-proof $* does not fail saying '$why': $(cat "$T/out" "$T/err")"
	grep -q "^OK" "$T/out" && fail "check-proof $* says OK too"
	return 0
}
expect_failed "the proof is into the tree of $S2 entries, the checkpoint is of $S1" \
	"$T/P1" --checkpoint "$T/C1" --public-key "$T/sign.pem"
expect_failed "the checkpoints are of $S2 (older) and $S1 (newer)" \
	"$T/P2" --old "$T/C2" --checkpoint "$T/C1" --public-key "$T/sign.pem"
cp "$T/P1" "$T/P1.path" && xor_byte "$T/P1.path" "$(proof_field "$T/P1" path)" 0x01
expect_failed "do not lead to the checkpoint's tree head" \
	"$T/P1.path" --checkpoint "$T/C2" --public-key "$T/sign.pem"
# "ok" made "Ok": the record still parses, its leaf is another.
cp "$T/P1" "$T/P1.outcome" && xor_byte "$T/P1.outcome" "$(proof_field "$T/P1" outcome)" 0x20
expect_failed "do not lead to the checkpoint's tree head" \
	"$T/P1.outcome" --checkpoint "$T/C2" --public-key "$T/sign.pem"
cp "$T/P1" "$T/P1.kind" && xor_byte "$T/P1.kind" "$(proof_field "$T/P1" entry)" 0x40
expect_failed "the entry in the proof is damaged" \
	"$T/P1.kind" --checkpoint "$T/C2" --public-key "$T/sign.pem"
cp "$T/P1" "$T/P1.magic" && xor_byte "$T/P1.magic" 3 0x01
expect_failed "P1.magic is not an audit proof (damaged or truncated)" \
	"$T/P1.magic" --checkpoint "$T/C2" --public-key "$T/sign.pem"
head -c -1 "$T/P1" >"$T/P1.short"
expect_failed "is not an audit proof" "$T/P1.short" --checkpoint "$T/C2" --public-key "$T/sign.pem"
cp "$T/P2" "$T/P2.path" && xor_byte "$T/P2.path" $(($(stat -c %s "$T/P2") - 1)) 0x80
expect_failed "the path does not prove that the tree of $S1 entries is a prefix" \
	"$T/P2.path" --old "$T/C1" --checkpoint "$T/C2" --public-key "$T/sign.pem"
mv "$T/audit.away" "$APP_STATE/audit"

# Another appliance: its own trail and key.
appliance_init "$T/other"
direct audit checkpoint --out "$T/CB" --quiet || fail "checkpoint of the other appliance"
OTHER_PEM=$COFFER_STATE_DIR/audit/sign.pem
expect_failed "checkpoint $T/CB is not signed by the key in $T/sign.pem" \
	"$T/P1" --checkpoint "$T/CB" --public-key "$T/sign.pem"
expect_failed "checkpoint $T/CB is not signed by the key in $T/sign.pem" \
	"$T/P2" --old "$T/CB" --checkpoint "$T/C2" --public-key "$T/sign.pem"
expect_failed "checkpoint $T/C2 is not signed by the key in $OTHER_PEM" \
	"$T/P1" --checkpoint "$T/C2" --public-key "$OTHER_PEM"

# ===== d. prove refuses checkpoints this trail does not match ======================
export COFFER_STATE_DIR=$APP_STATE COFFER_RUN_DIR=$T/app/run COFFER_CONFIG_DIR=$T/app/etc
expect_rc 1 direct audit prove --seq 1 --checkpoint "$T/CB" --out "$T/P9" 2>"$T/err"
grep -q "the trail does not match checkpoint $T/CB: it is not signed by the trail's key" "$T/err" ||
	fail "prove against another appliance's checkpoint: $(cat "$T/err")"
daemon_start backupd
expect_rc 1 coffer audit prove --old "$T/C1" --checkpoint "$T/CB" --out "$T/P9" 2>"$T/err"
grep -q "the trail does not match checkpoint $T/CB" "$T/err" ||
	fail "prove --old against another appliance's checkpoint: $(cat "$T/err")"
daemon_stop backupd
# A fork: the same files, then each its own records. The fork's checkpoint
# is signed by the same key but its tree is not this trail's.
mkdir -p "$T/fork/state"
cp -a "$APP_STATE/audit" "$T/fork/state/"
COFFER_STATE_DIR=$T/fork/state direct audit seal --quiet || fail "seal in the fork"
COFFER_STATE_DIR=$T/fork/state direct audit checkpoint --out "$T/CF" --quiet || fail "checkpoint of the fork"
SF=$(cp_size "$T/CF")
for _ in 1 2 3 4; do direct keystore status >/dev/null || fail "keystore status"; done
expect_rc 1 direct audit prove --seq 1 --checkpoint "$T/CF" --out "$T/P9" 2>"$T/err"
grep -q "the trail does not match checkpoint $T/CF: its first $SF entries have another tree head" "$T/err" ||
	fail "prove against a fork's checkpoint: $(cat "$T/err")"
[ ! -e "$T/P9" ] || fail "a refused prove wrote its file"
# The fork does extend the checkpoints taken before it parted.
COFFER_STATE_DIR=$T/fork/state direct audit prove --old "$T/C2" --checkpoint "$T/CF" --out "$T/PF" --quiet ||
	fail "prove in the fork from C2"
auditor audit check-proof "$T/PF" --old "$T/C2" --checkpoint "$T/CF" --public-key "$T/sign.pem" \
	>"$T/out" || fail "the fork extends C2: $(cat "$T/out")"
echo "ok"
