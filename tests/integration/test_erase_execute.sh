# Approved destruction of a whole dataset, end to end, on a real
# filesystem in a loop-mounted image (issue 7, "What it must show"):
#  - two datasets are backed up; a request for A gets its quorum, one
#    approval made offline with `openssl pkeyutl`; execution is refused
#    before the quorum is complete and runs after;
#  - afterwards a raw scan of the whole image finds none of A's
#    plaintext, none of its ciphertext blocks (sampled from every file of
#    its repository before), none of its key bytes (raw or as hex) and
#    none of its wrapped key set file, while B's ciphertext is still
#    found by the same scan (so the scan can find what is there) and B
#    restores bit for bit;
#  - A is refused with the reason, the request is done, its certificate
#    verifies offline with the appliance key alone (and an altered one,
#    or one checked against another key, does not), and the audit trail
#    verifies and holds the execution's steps;
#  - chosen snapshots: the snapshot and the packs that held its data are
#    destroyed (the raw scan finds none of the snapshot file), the kept
#    snapshot restores whole, shared data included;
#  - coffer-erased killed in the middle of a second destruction resumes
#    it at its next start and finishes it.
source "$(dirname "$0")/lib.sh"

is_root || skip "mounting a loop image needs root"
command -v mkfs.ext4 >/dev/null || skip "mkfs.ext4 is needed"
command -v openssl >/dev/null || skip "openssl is needed"
command -v python3 >/dev/null || skip "python3 is needed"
KEYTOOL=$COFFER_BUILD/tests/keytool
[ -x "$KEYTOOL" ] || skip "keytool is not built"

IMG=$T/disk.img MNT=$T/mnt
truncate -s 160M "$IMG"
mkfs.ext4 -q -F -O ^has_journal "$IMG" 2>/dev/null || mkfs.ext4 -q -F "$IMG" || fail "mkfs"
mkdir -p "$MNT"
mount -o loop "$IMG" "$MNT" 2>/dev/null || skip "cannot mount a loop image here"
MOUNTED=1
unmount() { [ -z "${MOUNTED:-}" ] || { umount "$MNT" && MOUNTED=; }; }
# The daemons run on the image: they stop before it is unmounted, and the test's status survives.
trap 'rc=$?; stop_all 2>/dev/null; unmount 2>/dev/null || umount -l "$MNT" 2>/dev/null; (exit $rc); cleanup' EXIT

appliance_init "$MNT/app"
K0=$MNT/app/audit-initial.key
cp "$K0" "$T/k0"
start_all() { daemon_start backupd; daemon_start restored; daemon_start erased; }
stop_all() { daemon_stop erased; daemon_stop restored; daemon_stop backupd; }
start_all

mkdir -p "$T/srcA" "$T/srcB" "$T/keys"
head -c 3000000 /dev/urandom >"$T/srcA/a.bin"
head -c 2000000 /dev/urandom >"$T/srcB/b.bin"
coffer dataset create A --level 1 --owner dept-a --quiet || fail "create A"
coffer dataset create B --level 1 --owner dept-b --quiet || fail "create B"
coffer backup --dataset A --quiet "$T/srcA" || fail "backup A"
coffer backup --dataset B --quiet "$T/srcB" || fail "backup B"
REPO_A=$(coffer dataset show A --json | python3 -c 'import json,sys; print(json.load(sys.stdin)["repository"])')
REPO_B=$(coffer dataset show B --json | python3 -c 'import json,sys; print(json.load(sys.stdin)["repository"])')
ID_A=$(basename "$REPO_A")
"$KEYTOOL" dump-keyset --state-dir "$COFFER_STATE_DIR" --dataset A >"$T/keysA" || fail "dump-keyset"
cp "$COFFER_STATE_DIR/keystore/keysets/$ID_A" "$T/wrappedA" 2>/dev/null ||
	cp "$(find "$COFFER_STATE_DIR/keystore" -name "*$ID_A*" -type f | head -1)" "$T/wrappedA" ||
	fail "no wrapped key set file for A"
# Needles: 32 bytes from every 4 KiB of every file of a repository.
needles() {
	python3 - "$1" "$2" <<'EOF'
import os, sys
out = open(sys.argv[2], "w")
for root, _, files in os.walk(sys.argv[1]):
    for f in files:
        b = open(os.path.join(root, f), "rb").read()
        for off in range(0, len(b) - 32, 4096):
            n = b[off:off + 32]
            if len(set(n)) > 8:  # skip runs (zero padding) that occur anywhere
                out.write(n.hex() + "\n")
EOF
}
needles "$REPO_A" "$T/needlesA"
needles "$REPO_B" "$T/needlesB"
[ "$(wc -l <"$T/needlesA")" -gt 100 ] || fail "too few needles from A: $(wc -l <"$T/needlesA")"

for n in ann ben sue; do
	openssl genpkey -algorithm ED25519 -out "$T/keys/$n.pem" 2>/dev/null || fail "genpkey"
	openssl pkey -in "$T/keys/$n.pem" -pubout -out "$T/keys/$n.pub" || fail "pubout"
done
coffer approver add ann --pubkey "$T/keys/ann.pub" --role approver --quiet || fail "add ann"
coffer approver add ben --pubkey "$T/keys/ben.pub" --role approver --quiet || fail "add ben"
coffer approver add sue --pubkey "$T/keys/sue.pub" --role supervisor --quiet || fail "add sue"
cd "$T" || fail "cd"
REQ=$(coffer erase request --dataset A --reason "retention of dept-a ended" \
	--legal-basis "records schedule 7.2" --quiet) || fail "erase request"

refused() {
	local why=$1
	shift
	expect_rc 1 "$@" 2>"$T/err"
	grep -q -- "$why" "$T/err" || fail "'$*' not refused with '$why': $(cat "$T/err")"
}
refused "without its full quorum: 2 more approvals (0 of 2); the supervisor's approval" \
	coffer erase execute "$REQ"
coffer erase approve "$REQ" --key "$T/keys/ann.pem" --quiet || fail "ann"
openssl pkeyutl -sign -rawin -inkey "$T/keys/ben.pem" -in "$T/$REQ.statement" -out "$T/ben.sig" ||
	fail "pkeyutl"
coffer erase approve "$REQ" --signature "$T/ben.sig" --approver ben --quiet || fail "ben offline"
refused "without its full quorum: the supervisor's approval" coffer erase execute "$REQ"
coffer erase approve "$REQ" --key "$T/keys/sue.pem" --quiet || fail "sue"
coffer erase execute "$REQ" >"$T/out" || fail "execute: $(cat "$T/out")"
grep -q "^ok: key set destroyed; [0-9]* files" "$T/out" || fail "execute said: $(cat "$T/out")"
refused "is done" coffer erase execute "$REQ"
[ ! -e "$REPO_A" ] || fail "A's repository is still there: $(find "$REPO_A" | head)"
coffer erase show "$REQ" --json >"$T/show.json" || fail "show"
python3 - "$T/show.json" <<'EOF' || fail "the execution record: $(cat "$T/show.json")"
import json, sys
d = json.load(open(sys.argv[1]))
x = d["execution"]
assert d["state"] == "done", d["state"]
assert x["shredded"] > 0 and x["finished"] >= x["started"] > 0
assert x["files"] >= 5 and x["bytes"] > 3000000, x
assert x["method"] == "random"
EOF
# The certificate: verifiable offline with the appliance key alone.
coffer erase certificate "$REQ" --out "$T/cert" || fail "erase certificate"
cp "$COFFER_STATE_DIR/audit/sign.pem" "$T/appliance.pem"
coffer erase verify-certificate "$T/cert" --public-key "$T/appliance.pem" >"$T/out" ||
	fail "verify-certificate: $(cat "$T/out")"
grep -q "^OK: certificate $REQ: dataset 'A' destroyed" "$T/out" || fail "verify said: $(cat "$T/out")"
grep -q "2 of 2 approvals and the supervisor's verify" "$T/out" || fail "quorum: $(cat "$T/out")"
for f in "classification level 1 (internal)" "legal-basis records schedule 7.2" \
	"reason retention of dept-a ended" "keys-destroyed $ID_A " "method random: random" \
	"verification full read-back of the final pass of every file: passed" \
	"site this appliance" "media files of repository $REPO_A on ext4"; do
	grep -q "^$f" "$T/cert" || fail "the certificate lacks '$f': $(cat "$T/cert")"
done
[ "$(grep -c '^approval ' "$T/cert")" = 3 ] || fail "3 approvals expected in the certificate"
coffer erase certificate "$REQ" --format json | python3 -c '
import json, sys
d = json.load(sys.stdin)
assert d["dataset"] == "A" and len(d["approval"]) == 3 and d["site"], d' ||
	fail "the JSON certificate"
coffer erase certificate "$REQ" --format pdf --out "$T/cert.pdf" || fail "the PDF certificate"
head -c 8 "$T/cert.pdf" | grep -q "^%PDF-1.4" || fail "not a PDF"
if command -v qpdf >/dev/null; then
	qpdf --check "$T/cert.pdf" >"$T/out" 2>&1 || fail "qpdf --check: $(cat "$T/out")"
fi
# Altered: one byte of the reason; signed by another appliance's key.
sed 's/^reason retention/reason Retention/' "$T/cert" >"$T/cert.bad"
expect_rc 1 coffer erase verify-certificate "$T/cert.bad" --public-key "$T/appliance.pem" >"$T/out"
grep -q "^FAILED: the signature is not the appliance key's" "$T/out" || fail "altered: $(cat "$T/out")"
openssl genpkey -algorithm ED25519 2>/dev/null | openssl pkey -pubout -out "$T/other.pem"
expect_rc 1 coffer erase verify-certificate "$T/cert" --public-key "$T/other.pem" >"$T/out"
grep -q "^FAILED: the signature" "$T/out" || fail "another key: $(cat "$T/out")"
expect_rc 1 coffer restore --dataset A latest --target "$T/outA" 2>"$T/err"
grep -qi "shredded\|destroyed" "$T/err" || fail "restore of A does not say why: $(cat "$T/err")"
coffer restore --dataset B latest --target "$T/outB" --quiet || fail "restore B"
cmp "$T/outB$T/srcB/b.bin" "$T/srcB/b.bin" || fail "B restored wrong"

# --- the raw scan of the whole image --------------------------------------------------
stop_all
unmount || fail "umount"
python3 - "$IMG" "$T/needlesA" "$T/needlesB" "$T/keysA" "$T/wrappedA" "$T/srcA/a.bin" <<'EOF' ||
import sys
img = open(sys.argv[1], "rb").read()
a = [bytes.fromhex(l) for l in open(sys.argv[2]).read().split()]
b = [bytes.fromhex(l) for l in open(sys.argv[3]).read().split()]
keys = open(sys.argv[4]).read().split()
wrapped = open(sys.argv[5], "rb").read()
plain = open(sys.argv[6], "rb").read()
bad = []
found_a = sum(1 for n in a if n in img)
if found_a:
    bad.append("%d of %d ciphertext samples of A found" % (found_a, len(a)))
for k in keys:
    for form in (bytes.fromhex(k), k.encode(), k.upper().encode()):
        if form in img:
            bad.append("key bytes of A found (%s...)" % k[:8])
for off in range(0, len(wrapped) - 32, 16):
    if wrapped[off:off + 32] in img:
        bad.append("A's wrapped key set file found (offset %d)" % off)
        break
for off in range(0, len(plain) - 64, 65536):
    if plain[off:off + 64] in img:
        bad.append("A's plaintext found (offset %d)" % off)
        break
found_b = sum(1 for n in b if n in img)
if found_b < len(b) * 9 // 10:
    bad.append("the scan finds only %d of %d samples of B: it cannot be trusted" % (found_b, len(b)))
for x in bad:
    print("  " + x)
sys.exit(1 if bad else 0)
EOF
	fail "the raw scan of the image"
mount -o loop "$IMG" "$MNT" || fail "remount"
MOUNTED=1
start_all
coffer restore --dataset B latest --target "$T/outB2" --quiet || fail "restore B after the scan"
cmp "$T/outB2$T/srcB/b.bin" "$T/srcB/b.bin" || fail "B restored wrong after the scan"

# --- chosen snapshots: destroyed with the packs that held their data -------------------------
# S's first snapshot holds a file of its own and one it shares with the second.
coffer dataset create S --level 1 --owner dept-s --quiet || fail "create S"
mkdir -p "$T/s1" "$T/s2"
head -c 1500000 /dev/urandom >"$T/s1/only-first.bin"
head -c 1000000 /dev/urandom >"$T/s1/shared.bin"
cp "$T/s1/shared.bin" "$T/s2/shared.bin"
head -c 800000 /dev/urandom >"$T/s2/only-second.bin"
coffer backup --dataset S --quiet "$T/s1" || fail "backup S 1"
SNAP1=$(coffer snapshots --dataset S --json | python3 -c 'import json,sys; print(json.load(sys.stdin)[0]["id"])')
mv "$T/s1" "$T/s1.moved"
mv "$T/s2" "$T/s1" # the same path, so the second snapshot's tree replaces the first's
coffer backup --dataset S --quiet "$T/s1" || fail "backup S 2"
mv "$T/s1" "$T/s2"
mv "$T/s1.moved" "$T/s1"
REPO_S=$(coffer dataset show S --json | python3 -c 'import json,sys; print(json.load(sys.stdin)["repository"])')
find "$REPO_S" -type f | sort >"$T/files.before"
cp -a "$REPO_S" "$T/repoS.before" # to sample what goes, once we know what went
REQS=$(coffer erase request --dataset S --snapshot "${SNAP1:0:12}" --reason "one snapshot" \
	--legal-basis "rule 9" --quiet) || fail "request S"
for n in ann ben sue; do coffer erase approve "$REQS" --key "$T/keys/$n.pem" --quiet || fail "$n S"; done
coffer erase execute "$REQS" >"$T/out" || fail "execute S: $(cat "$T/out")"
grep -q "^ok: 1 snapshot(s) destroyed" "$T/out" || fail "execute S said: $(cat "$T/out")"
find "$REPO_S" -type f | sort >"$T/files.after"
comm -23 "$T/files.before" "$T/files.after" >"$T/files.gone"
[ -s "$T/files.gone" ] || fail "nothing of the snapshot's data was removed"
grep -q "/snapshots/$SNAP1" "$T/files.gone" || fail "the snapshot file is still there"
mkdir -p "$T/gone"
while read -r f; do cp "$T/repoS.before/${f#"$REPO_S"/}" "$T/gone/$(basename "$f")"; done <"$T/files.gone"
needles "$T/gone" "$T/needlesS1"
[ "$(wc -l <"$T/needlesS1")" -gt 50 ] || fail "too few samples of what went: $(cat "$T/files.gone")"
coffer snapshots --dataset S --json | python3 -c '
import json, sys
ids = [s["id"] for s in json.load(sys.stdin)]
assert len(ids) == 1 and ids[0] != sys.argv[1], ids' "$SNAP1" || fail "the other snapshot is not alone"
coffer restore --dataset S latest --target "$T/outS" --quiet || fail "restore S"
cmp "$T/outS$T/s1/shared.bin" "$T/s2/shared.bin" || fail "the kept snapshot lost its shared file"
cmp "$T/outS$T/s1/only-second.bin" "$T/s2/only-second.bin" || fail "the kept snapshot is damaged"
coffer erase certificate "$REQS" --out "$T/certS" || fail "certificate S"
coffer erase verify-certificate "$T/certS" --public-key "$T/appliance.pem" >/dev/null ||
	fail "the snapshots' certificate does not verify"
grep -q "^scope chosen snapshots" "$T/certS" && grep -q "^snapshot $SNAP1" "$T/certS" ||
	fail "the certificate does not name the snapshot: $(cat "$T/certS")"
# What the kept snapshot still needs: a rewritten pack holds its blobs as they were.
find "$REPO_S" -type f -exec cat {} + >"$T/kept.bin"
stop_all
unmount || fail "umount"
python3 - "$IMG" "$T/needlesS1" "$T/kept.bin" <<'EOF' || fail "the destroyed snapshot survives in the image"
import sys
img = open(sys.argv[1], "rb").read()
kept = open(sys.argv[3], "rb").read()
n = [bytes.fromhex(l) for l in open(sys.argv[2]).read().split()]
n = [x for x in n if x not in kept]
assert len(n) > 20, "too few samples of destroyed data: %d" % len(n)
found = sum(1 for x in n if x in img)
print("%d of %d samples of the destroyed snapshot and its packs found" % (found, len(n)))
sys.exit(1 if found else 0)
EOF
mount -o loop "$IMG" "$MNT" || fail "remount"
MOUNTED=1
start_all

# --- a crash in the middle of a destruction resumes -----------------------------------------
coffer dataset create C --level 1 --owner dept-c --quiet || fail "create C"
mkdir -p "$T/srcC"
for i in $(seq 1 12); do head -c 2000000 /dev/urandom >"$T/srcC/c$i.bin"; done
coffer backup --dataset C --quiet "$T/srcC" || fail "backup C"
REPO_C=$(coffer dataset show C --json | python3 -c 'import json,sys; print(json.load(sys.stdin)["repository"])')
REQC=$(coffer erase request --dataset C --reason "test" --legal-basis "rule" --quiet) || fail "request C"
for n in ann ben sue; do coffer erase approve "$REQC" --key "$T/keys/$n.pem" --quiet || fail "$n C"; done
files_before=$(find "$REPO_C" -type f | wc -l)
coffer erase execute "$REQC" --method bmb21 >/dev/null 2>&1 &
EXEC=$!
BG_PIDS+=("$EXEC")
# Kill the daemon once some, not all, files are gone.
for _ in $(seq 1 400); do
	left=$( (find "$REPO_C" -type f 2>/dev/null || true) | wc -l)
	[ "$left" -lt "$files_before" ] && break
	sleep 0.01
done
daemon_kill erased
wait "$EXEC" 2>/dev/null || true
left=$( (find "$REPO_C" -type f 2>/dev/null || true) | wc -l)
coffer dataset show C | grep -q shredded || fail "C does not look destroyed after the crash"
expect_rc 1 coffer restore --dataset C latest --target "$T/outC" 2>/dev/null
daemon_start erased
for _ in $(seq 1 600); do
	[ "$(coffer erase show "$REQC" --json | python3 -c 'import json,sys; print(json.load(sys.stdin)["state"])')" = done ] && break
	sleep 0.1
done
coffer erase show "$REQC" --json >"$T/showC.json"
grep -q '"state":"done"' "$T/showC.json" || fail "the destruction did not resume: $(cat "$T/showC.json")"
[ ! -e "$REPO_C" ] || fail "C's repository survives the resumed destruction"
grep -q "resuming destruction $REQC" "$MNT/app/log/erased.log" || fail "no resume message"
echo "left $left of $files_before files at the crash" >&2

# --- the audit trail ------------------------------------------------------------------------------
coffer audit verify --initial-key "$T/k0" >"$T/out" || fail "audit verify: $(cat "$T/out")"
for op in "erase request" "erase approve" "erase execute" "erase shred" "erase done" \
	"erase certificate"; do
	coffer audit show --json --op "$op" | grep -q "\"op\":\"$op\"" || fail "no '$op' record"
done
coffer audit show --json --op "erase execute" | grep -q "refused: request $REQ cannot be executed without its full quorum" ||
	fail "the refused execution is not recorded"
stop_all
echo "ok"
