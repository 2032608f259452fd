# Key sets exported to another site through the console: site B publishes
# its identity (PEM public keys and fingerprints), site A exports a
# dataset's key set for B's wrapping key, and B imports it only against
# A's signing key, ending with exactly A's keys, which open A's packs.
# Refused, with the reason named and nothing changed at B: an import
# without --sender, with the wrong sender, one made for another site, and
# an altered file. A refuses to export to a signing key, to a key of
# another suite, and over an existing file. Shredding at A destroys the
# export still on this machine; a shredded dataset is not brought back.
source "$(dirname "$0")/lib.sh"

KEYTOOL=${KEYTOOL:-$COFFER_BUILD/tests/keytool}
mkdir -p "$T/conf"
printf '[level 1]\nname = internal\npool = pools/internal\n[level 3]\nname = important\nsuite = national\npool = pools/important\n' \
	>"$T/conf/levels.conf"
export COFFER_CONFIG_DIR=$T/conf
at() { # at SITE coffer-args...: runs the console against site SITE's state
	local site=$1
	shift
	"$COFFER" "$@" --state-dir "$T/$site"
}
state_of() { find "$1" -type f -print0 | sort -z | xargs -0 sha256sum; }

for s in A B C; do at $s keystore init --kdf-cost 10 --quiet || fail "init $s"; done
at N keystore init --suite national --kdf-cost 10 --quiet || fail "init N"
at A dataset create ledger --level 1 --owner finance --quiet || fail "create ledger"
mkdir -p "$T/src"
head -c 200000 /dev/urandom >"$T/src/data.bin"
at A backup --dataset ledger --quiet "$T/src" || fail "backup at A"
ID=$(at A dataset show ledger --json | grep -o '"id":"[0-9a-f]*"' | cut -d'"' -f4)
[ ${#ID} -eq 32 ] || fail "no dataset ID: $ID"

# Identities: stable, written as PEM that openssl reads.
for s in A B C N; do at $s keystore identity --out "$T/id-$s" --quiet >"$T/ident-$s" || fail "identity $s"; done
at B keystore identity >"$T/ident-B2"
cmp -s "$T/ident-B" "$T/ident-B2" || fail "site B's identity changed between calls"
grep -q "^signing key   [0-9a-f]\{64\}$" "$T/ident-B" || fail "no signing fingerprint: $(cat "$T/ident-B")"
for s in A B; do
	openssl pkey -pubin -in "$T/id-$s/site-sign.pem" -noout 2>/dev/null || fail "site-sign.pem of $s unreadable"
	openssl pkey -pubin -in "$T/id-$s/site-wrap.pem" -noout 2>/dev/null || fail "site-wrap.pem of $s unreadable"
done
openssl pkey -pubin -in "$T/id-A/site-sign.pem" -text -noout | grep -q ED25519 || fail "A's signing key is not Ed25519"
openssl pkey -pubin -in "$T/id-N/site-sign.pem" -text -noout | grep -qi "SM2\|ASN1 OID: SM2" || fail "N's signing key is not SM2"

# Export refusals at A.
expect_rc 1 at A dataset export-keys ledger --recipient "$T/id-B/site-sign.pem" --out "$T/x.keys" 2>"$T/err"
grep -q "not a wrapping key" "$T/err" || fail "export to a signing key not refused clearly: $(cat "$T/err")"
expect_rc 1 at A dataset export-keys ledger --recipient "$T/id-N/site-wrap.pem" --out "$T/x.keys" 2>"$T/err"
grep -q "international suite" "$T/err" || fail "suite mismatch not named: $(cat "$T/err")"
[ ! -e "$T/x.keys" ] || fail "a refused export left a file"
expect_rc 2 at A dataset export-keys ledger --out "$T/x.keys" 2>/dev/null

at A dataset export-keys ledger --recipient "$T/id-B/site-wrap.pem" --out "$T/ledger.keys" --quiet ||
	fail "export"
[ "$(stat -c %a "$T/ledger.keys")" = 600 ] || fail "export file is not mode 600"
cp "$T/ledger.keys" "$T/ledger.copy"
expect_rc 1 at A dataset export-keys ledger --recipient "$T/id-B/site-wrap.pem" --out "$T/ledger.keys" 2>"$T/err"
grep -q "never replaces" "$T/err" || fail "export over a file not refused: $(cat "$T/err")"
cmp -s "$T/ledger.keys" "$T/ledger.copy" || fail "a refused export changed the file"

# Import refusals at B, none of which changes B's state.
before=$(state_of "$T/B")
expect_rc 2 at B keystore import "$T/ledger.keys" 2>"$T/err"
grep -q "never accepted" "$T/err" || fail "import without --sender not refused clearly"
expect_rc 1 at B keystore import "$T/ledger.keys" --sender "$T/id-C/site-sign.pem" 2>"$T/err"
grep -q "not signed by the given sender" "$T/err" || fail "wrong sender not named: $(cat "$T/err")"
expect_rc 1 at C keystore import "$T/ledger.keys" --sender "$T/id-A/site-sign.pem" 2>"$T/err"
grep -q "another site" "$T/err" || fail "import at the wrong site not named: $(cat "$T/err")"
cp "$T/ledger.keys" "$T/altered.keys"
size=$(stat -c %s "$T/altered.keys")
flip_byte "$T/altered.keys" $((size / 2))
expect_rc 1 at B keystore import "$T/altered.keys" --sender "$T/id-A/site-sign.pem" 2>"$T/err"
head -c 100 "$T/ledger.keys" >"$T/short.keys"
expect_rc 1 at B keystore import "$T/short.keys" --sender "$T/id-A/site-sign.pem" 2>"$T/err"
grep -q "damaged or truncated" "$T/err" || fail "truncated export not named: $(cat "$T/err")"
[ "$before" = "$(state_of "$T/B")" ] || fail "a refused import changed site B's state"

# The import, and what it gives B.
at B keystore import "$T/ledger.keys" --sender "$T/id-A/site-sign.pem" >"$T/out" || fail "import"
grep -q "$ID" "$T/out" || fail "import does not name the dataset: $(cat "$T/out")"
expect_rc 1 at B keystore import "$T/ledger.keys" --sender "$T/id-A/site-sign.pem" 2>/dev/null
"$KEYTOOL" dump-keyset --state-dir "$T/A" --dataset ledger >"$T/keys-A" || fail "dump at A"
"$KEYTOOL" dump-keyset --state-dir "$T/B" --dataset-id "$ID" >"$T/keys-B" || fail "dump at B"
cmp -s "$T/keys-A" "$T/keys-B" || fail "site B holds different keys than site A"
PACK=$(find "$T/A/pools/internal/$ID/data" -type f | head -1)
expect_rc 0 "$KEYTOOL" open-pack --state-dir "$T/B" --dataset-id "$ID" "$PACK"
# B's copy is wrapped under B's own root key: no file of B holds A's wrapped file.
cmp -s "$T/A/keystore/keysets/$ID" "$T/B/keystore/keysets/$ID" && fail "B holds A's wrapped file"

# Shred at A: the export still here is destroyed with the keystore's copy.
"$KEYTOOL" shred --state-dir "$T/A" --dataset ledger >"$T/out" || fail "shred at A"
[ ! -e "$T/ledger.keys" ] || fail "the export on this machine survived the shred"
[ -e "$T/ledger.copy" ] || fail "an unrecorded copy vanished"
grep -q "0 remote" "$T/out" || fail "shred miscounted remote exports: $(cat "$T/out")"
# B still restores alone: its keys are its own.
expect_rc 0 "$KEYTOOL" open-pack --state-dir "$T/B" --dataset-id "$ID" "$PACK"
# Shredded at B too: a copy of the export does not bring the keys back.
"$KEYTOOL" shred --state-dir "$T/B" --dataset-id "$ID" >/dev/null || fail "shred at B"
expect_rc 1 at B keystore import "$T/ledger.copy" --sender "$T/id-A/site-sign.pem" 2>"$T/err"
grep -q "destroyed" "$T/err" || fail "import of a shredded dataset not refused: $(cat "$T/err")"
echo "ok"
