# Destruction requests and approvals through coffer-erased
# (docs/format/erase.md), with real keys made by openssl:
#  a. the secadmin registers approvers and a supervisor (Ed25519; SM2 for
#     a national dataset); bad keys, names and duplicates are refused;
#  b. a request resolves its scope (dataset, level, repository, key set,
#     snapshots by prefix) and writes the statement; show names what is
#     missing;
#  c. approvals: one made with --key, one offline with `openssl pkeyutl`
#     on the statement file, the supervisor's; then the refusals: the
#     requester approving, a forged signature, one replayed from another
#     request, a revoked approver, a second signature, an expired
#     request, an SM2 signature made without the standard ID, a
#     request changed in erase.db after signing, and a caller without
#     the secadmin role;
#  d. the audit trail holds every step, the refusals with their reasons.
source "$(dirname "$0")/lib.sh"

command -v openssl >/dev/null || skip "openssl is needed to make approvers' keys"
command -v python3 >/dev/null || skip "python3 is needed to read JSON and edit erase.db"
for d in backupd erased; do
	[ -x "$(daemon_bin $d)" ] || skip "coffer-$d is not built"
done

json() { python3 -c "import json,sys; d=json.load(sys.stdin); print($1)"; }

appliance_init "$T/app"
# Level 1 takes 2 approvals; level 4 (national) 1, and its requests expire after 3 s.
cat >"$COFFER_CONFIG_DIR/levels.conf" <<'EOF'
[level 1]
name = internal
suite = international
pool = pools/internal
erase_approvals = 2
[level 4]
name = secret
suite = national
pool = pools/secret
erase_approvals = 1
erase_expiry = 3s
EOF
daemon_start backupd
daemon_start erased

mkdir -p "$T/src" "$T/keys"
head -c 20000 /dev/urandom >"$T/src/f"
coffer dataset create payroll --level 1 --owner hr --quiet || fail "dataset create payroll"
coffer dataset create secrets --level 4 --owner sec --quiet || fail "dataset create secrets"
coffer backup --dataset payroll --quiet "$T/src" || fail "backup 1"
coffer backup --dataset payroll --quiet "$T/src" || fail "backup 2"

K=$T/keys
for n in bob carol dave erin mallory; do
	openssl genpkey -algorithm ED25519 -out "$K/$n.pem" 2>/dev/null || fail "genpkey $n"
	openssl pkey -in "$K/$n.pem" -pubout -out "$K/$n.pub" || fail "pubout $n"
done
openssl genpkey -algorithm SM2 -out "$K/frank.pem" 2>/dev/null || fail "genpkey SM2"
openssl pkey -in "$K/frank.pem" -pubout -out "$K/frank.pub" || fail "pubout SM2"
openssl genpkey -algorithm X25519 -out "$K/x.pem" 2>/dev/null || fail "genpkey X25519"
openssl pkey -in "$K/x.pem" -pubout -out "$K/x.pub" || fail "pubout X25519"

# --- a. the registry ----------------------------------------------------------------
coffer approver add bob --pubkey "$K/bob.pub" --role approver --quiet || fail "add bob"
coffer approver add carol --pubkey "$K/carol.pub" --role approver --quiet || fail "add carol"
coffer approver add dave --pubkey "$K/dave.pub" --role approver --quiet || fail "add dave"
coffer approver add erin --pubkey "$K/erin.pub" --role supervisor --quiet || fail "add erin"
coffer approver add frank --pubkey "$K/frank.pub" --role approver >"$T/out" || fail "add frank"
grep -q "national key" "$T/out" || fail "frank's key is not SM2: $(cat "$T/out")"
# The requester (this user) registered as an approver under another name.
coffer approver add me --user "$(id -un)" --pubkey "$K/mallory.pub" --role approver --quiet ||
	fail "add me"
expect_rc 1 coffer approver add xkey --pubkey "$K/x.pub" --role approver 2>"$T/err"
grep -q "not an Ed25519 or SM2 public key" "$T/err" || fail "X25519 key: $(cat "$T/err")"
expect_rc 1 coffer approver add bob2 --pubkey "$K/bob.pub" --role approver 2>"$T/err"
grep -q "never reused" "$T/err" || fail "a key registered twice: $(cat "$T/err")"
expect_rc 1 coffer approver add Bob --pubkey "$K/dave.pub" --role approver 2>"$T/err"
grep -q "bad approver name" "$T/err" || fail "bad name: $(cat "$T/err")"
expect_rc 1 coffer approver add zed --pubkey "$K/dave.pub" --role boss 2>"$T/err"
grep -q "bad role" "$T/err" || fail "bad role: $(cat "$T/err")"
coffer approver list --json >"$T/list.json" || fail "approver list"
[ "$(json 'len(d)' <"$T/list.json")" = 6 ] || fail "6 approvers expected: $(cat "$T/list.json")"
[ "$(json '[a["role"] for a in d if a["name"]=="erin"][0]' <"$T/list.json")" = supervisor ] ||
	fail "erin is not the supervisor"

# --- b. a request ----------------------------------------------------------------------
snap=$(coffer snapshots --dataset payroll --json | json 'sorted(s["id"] for s in d)[0]')
[ ${#snap} = 64 ] || fail "no snapshot ID: $snap"
cd "$T" || fail "cd"
REQ=$(coffer erase request --dataset payroll --reason "retention ended" \
	--legal-basis "Archives Law art. 19" --quiet) || fail "erase request"
[ ${#REQ} = 32 ] || fail "request ID: $REQ"
[ -f "$T/$REQ.statement" ] || fail "no statement file"
printf 'coffer erase approval v1\nrequest %s\n' "$REQ" | cmp -s - <(head -2 "$T/$REQ.statement") ||
	fail "statement: $(cat "$T/$REQ.statement")"
coffer erase show "$REQ" --json >"$T/show.json" || fail "erase show"
[ "$(json 'd["scope"]' <"$T/show.json")" = dataset ] || fail "scope"
[ "$(json 'd["dataset"]' <"$T/show.json")" = payroll ] || fail "dataset"
[ "$(json 'd["keyset"] == d["dataset_id"]' <"$T/show.json")" = True ] || fail "key set"
[ "$(json 'd["packs"] > 0 and d["files"] > d["packs"]' <"$T/show.json")" = True ] ||
	fail "the repository's packs and files: $(cat "$T/show.json")"
[ "$(json 'd["missing"]' <"$T/show.json")" = "2 more approvals (0 of 2); the supervisor's approval" ] ||
	fail "missing: $(json 'd["missing"]' <"$T/show.json")"
grep -q "$(json 'd["digest"]' <"$T/show.json")" "$T/$REQ.statement" || fail "digest not in statement"
# One open whole-dataset request per dataset.
expect_rc 1 coffer erase request --dataset payroll --reason again --legal-basis again 2>"$T/err"
grep -q "request $REQ for dataset 'payroll' is open already" "$T/err" || fail "a second request: $(cat "$T/err")"
# Snapshots by a unique prefix, resolved to their full ID.
REQ2=$(coffer erase request --dataset payroll --snapshot "${snap:0:12}" --reason "one snapshot" \
	--legal-basis "rule 2" --quiet) || fail "erase request (snapshot)"
coffer erase show "$REQ2" --json >"$T/show2.json" || fail "erase show 2"
[ "$(json 'd["snapshots"]' <"$T/show2.json")" = "['$snap']" ] || fail "snapshot not resolved"
expect_rc 1 coffer erase request --dataset payroll --snapshot 0000000000 --reason x \
	--legal-basis y 2>"$T/err"
grep -q "no snapshot 0000000000" "$T/err" || fail "unknown snapshot: $(cat "$T/err")"
expect_rc 1 coffer erase request --dataset nosuch --reason x --legal-basis y 2>"$T/err"
grep -q "no dataset 'nosuch'" "$T/err" || fail "unknown dataset: $(cat "$T/err")"
expect_rc 2 coffer erase request --dataset payroll --reason x 2>"$T/err"

# --- c. approvals ------------------------------------------------------------------------
coffer erase approve "$REQ" --key "$K/bob.pem" >"$T/out" || fail "approve with --key"
grep -q "approval by 'bob' accepted: 1 of 2" "$T/out" || fail "bob: $(cat "$T/out")"
openssl pkeyutl -sign -rawin -inkey "$K/carol.pem" -in "$T/$REQ.statement" -out "$T/carol.sig" ||
	fail "openssl pkeyutl -sign"
coffer erase approve "$REQ" --signature "$T/carol.sig" --approver carol --quiet ||
	fail "offline approval"
refused() { # refused WHY CMD...: exits 1 and says WHY
	local why=$1
	shift
	expect_rc 1 "$@" 2>"$T/err"
	grep -q -- "$why" "$T/err" || fail "'$*' not refused with '$why': $(cat "$T/err")"
}
# Not yet complete: the supervisor is missing.
coffer erase show "$REQ" --json >"$T/show.json"
[ "$(json 'd["missing"]' <"$T/show.json")" = "the supervisor's approval" ] ||
	fail "after two: $(json 'd["missing"]' <"$T/show.json")"
# The requester, under their approver name.
refused "cannot approve their own request" coffer erase approve "$REQ" --key "$K/mallory.pem"
# Forged: carol's signature given as dave's.
refused "not a signature by 'dave'" coffer erase approve "$REQ" --signature "$T/carol.sig" \
	--approver dave
# Replayed: dave's signature of the other request.
openssl pkeyutl -sign -rawin -inkey "$K/dave.pem" -in "$T/$REQ2.statement" -out "$T/dave2.sig"
refused "made for another request" coffer erase approve "$REQ" --signature "$T/dave2.sig" \
	--approver dave
# Twice.
refused "has approved this request already" coffer erase approve "$REQ" --key "$K/bob.pem"
# Unknown key.
openssl genpkey -algorithm ED25519 -out "$K/stranger.pem" 2>/dev/null
refused "belongs to no registered approver" coffer erase approve "$REQ" --key "$K/stranger.pem"
# Revoked: dave's valid signature stops counting.
openssl pkeyutl -sign -rawin -inkey "$K/dave.pem" -in "$T/$REQ.statement" -out "$T/dave.sig"
coffer approver revoke dave --quiet || fail "revoke dave"
refused "was revoked at" coffer erase approve "$REQ" --signature "$T/dave.sig" --approver dave
refused "is revoked already" coffer approver revoke dave
# The supervisor completes the quorum.
coffer erase approve "$REQ" --key "$K/erin.pem" >"$T/out" || fail "supervisor"
grep -q "the quorum is complete" "$T/out" || fail "quorum: $(cat "$T/out")"
coffer erase show "$REQ" >"$T/show.txt" || fail "show text"
grep -q "^complete" "$T/show.txt" || fail "show does not say complete: $(cat "$T/show.txt")"

# National: SM2 with the standard ID counts, without it is refused; then it expires.
REQ3=$(coffer erase request --dataset secrets --reason "case closed" --legal-basis "rule 3" \
	--quiet) || fail "erase request (national)"
openssl pkeyutl -sign -rawin -inkey "$K/frank.pem" -in "$T/$REQ3.statement" -out "$T/f0.sig"
refused "not a signature by 'frank'" coffer erase approve "$REQ3" --signature "$T/f0.sig" \
	--approver frank
refused "needs SM2 signatures" coffer erase approve "$REQ3" --key "$K/bob.pem"
openssl pkeyutl -sign -rawin -inkey "$K/frank.pem" -in "$T/$REQ3.statement" -out "$T/f1.sig" \
	-pkeyopt distid:1234567812345678
coffer erase approve "$REQ3" --signature "$T/f1.sig" --approver frank --quiet ||
	fail "SM2 approval with the standard ID"
sleep 3.2
coffer erase show "$REQ3" --json >"$T/show3.json"
[ "$(json 'd["state"]' <"$T/show3.json")" = expired ] || fail "not expired: $(cat "$T/show3.json")"
refused "expired at" coffer erase approve "$REQ3" --key "$K/erin.pem"

# Tampered: the stored request of REQ is widened to another dataset in erase.db.
python3 - "$COFFER_STATE_DIR/erase.db" "$REQ" <<'EOF' || fail "editing erase.db"
import sqlite3, sys
db = sqlite3.connect(sys.argv[1])
(enc,) = db.execute("SELECT enc FROM requests WHERE id = ?", (bytes.fromhex(sys.argv[2]),)).fetchone()
i = enc.index(b"payroll")
enc = enc[:i] + b"payrolx" + enc[i + 7:]
db.execute("UPDATE requests SET enc = ? WHERE id = ?", (enc, bytes.fromhex(sys.argv[2])))
db.commit()
EOF
coffer erase show "$REQ" --json >"$T/show.json" || fail "show after tampering"
[ "$(json 'd["quorum"]' <"$T/show.json")" = False ] || fail "a tampered request keeps its quorum"
[ "$(json 'sum(a["counts"] for a in d["approvals"])' <"$T/show.json")" = 0 ] ||
	fail "signatures still count after tampering"
json '[a["why"] for a in d["approvals"]][0]' <"$T/show.json" | grep -q "over another scope" ||
	fail "the tampering is not named: $(cat "$T/show.json")"

# A caller without the secadmin role (a non-development roles.conf, by SIGHUP).
printf 'sysadmin = %s\n' "$(id -gn)" >"$COFFER_CONFIG_DIR/roles.conf"
LOG=$T/app/log/erased.log
n=$(grep -c "reloading the configuration" "$LOG" || true)
# shellcheck disable=SC2154 # set by daemon_start
kill -HUP "$DAEMON_PID_erased"
for _ in $(seq 1 100); do
	[ "$(grep -c "reloading the configuration" "$LOG" || true)" -gt "$n" ] && break
	sleep 0.05
done
refused "'erase request' needs the role secadmin" coffer erase request --dataset payroll \
	--reason x --legal-basis y
refused "'approver add' needs the role secadmin" coffer approver add zoe --pubkey "$K/dave.pub" \
	--role approver
printf 'dev-single-user = %s\n' "$(id -u)" >"$COFFER_CONFIG_DIR/roles.conf"
kill -HUP "$DAEMON_PID_erased"
sleep 0.3

# --- d. the audit trail ----------------------------------------------------------------------
coffer audit verify --initial-key "$T/app/audit-initial.key" >"$T/out" || fail "audit verify: $(cat "$T/out")"
coffer audit show --json --op "erase approve" >"$T/ap.json" || fail "audit show"
python3 - "$T/ap.json" <<'EOF' || fail "the approvals' records: $(cat "$T/ap.json")"
import json, sys
recs = [e for e in json.load(open(sys.argv[1])) if e["kind"] == "record"]
ok = [r for r in recs if r["outcome"] == "ok"]
refused = [r["outcome"] for r in recs if r["outcome"].startswith("refused: ")]
assert len(ok) == 4, "4 accepted approvals (bob, carol, erin, frank) expected, %d" % len(ok)
for why in ("own request", "not a signature by 'dave'", "another request", "revoked at",
            "needs SM2", "expired at"):
    assert any(why in o for o in refused), "no refused record saying " + why
assert all(r["origin"] == "erased" for r in recs)
EOF
for op in "approver add" "approver revoke" "erase request" "erase show"; do
	coffer audit show --json --op "$op" | grep -q "\"op\":\"$op\"" || fail "no '$op' record"
done
coffer audit show --json --op "erase request" | grep -q "needs the role secadmin" ||
	fail "the refused request is not recorded"
daemon_stop erased
daemon_stop backupd
echo "ok"
