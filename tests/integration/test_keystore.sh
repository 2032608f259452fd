# The appliance keystore through the console: init, split 5/3, unlock with
# shares (enough and too few), a wrong passphrase, a truncated and a
# damaged keystore file refused with nothing changed, and an unknown suite
# refused at init.
source "$(dirname "$0")/lib.sh"

S=$T/state
export COFFER_STATE_DIR=$S
ks() { "$COFFER" keystore "$@"; }
# state_of DIR: every file's path, size and content hash, to prove a
# refused command changed nothing.
state_of() { find "$1" -type f -print0 | sort -z | xargs -0 sha256sum; }

expect_rc 0 ks init --kdf-cost 10 --quiet
[ -d "$S/keystore" ] || fail "keystore init made no $S/keystore"
expect_rc 1 ks init --kdf-cost 10 --quiet 2>"$T/err"
grep -qi "already exists" "$T/err" || fail "second init not refused clearly: $(cat "$T/err")"
ks status >"$T/status" || fail "keystore status failed"
grep -q "international" "$T/status" || fail "status does not name the suite"

# Unknown suite: refused before anything is made.
expect_rc 2 "$COFFER" keystore init --suite rot13 --kdf-cost 10 --state-dir "$T/other" 2>"$T/err"
grep -q "unknown suite 'rot13'" "$T/err" || fail "unknown suite not named: $(cat "$T/err")"
[ ! -e "$T/other/keystore" ] || fail "a keystore was made for an unknown suite"

# Split 5 ways, any 3 unlock.
expect_rc 0 ks split --shares 5 --threshold 3 --out "$T/shares" --quiet
n=$(find "$T/shares" -type f | wc -l)
[ "$n" -eq 5 ] || fail "split wrote $n share files, not 5"
for f in "$T"/shares/*; do
	[ "$(stat -c %a "$f")" = 600 ] || fail "share $f is not mode 0600"
done
mapfile -t SH < <(find "$T/shares" -type f | sort)
# Shares alone must unlock: no passphrase is available to fall back on.
COFFER_PASSPHRASE_FILE=/nonexistent ks unlock --share "${SH[0]}" --share "${SH[2]}" \
	--share "${SH[4]}" --timeout 30 >"$T/out" 2>&1 || fail "3 of 5 shares did not unlock: $(cat "$T/out")"
ks lock --quiet || fail "lock failed"
before=$(state_of "$S")
expect_rc 1 ks unlock --share "${SH[0]}" --share "${SH[1]}" 2>"$T/err"
grep -Eqi "too few|need|threshold" "$T/err" || fail "too few shares not explained: $(cat "$T/err")"
# The same share twice counts once.
expect_rc 1 ks unlock --share "${SH[0]}" --share "${SH[0]}" --share "${SH[1]}" 2>"$T/err"
[ "$(state_of "$S")" = "$before" ] || fail "refused unlocks changed the state directory"

# A wrong passphrase.
printf 'not the passphrase\n' >"$T/wrong"
expect_rc 1 env COFFER_PASSPHRASE_FILE="$T/wrong" "$COFFER" keystore unlock --timeout 30 2>"$T/err"
grep -Eqi "passphrase|wrong" "$T/err" || fail "wrong passphrase not explained: $(cat "$T/err")"
[ "$(state_of "$S")" = "$before" ] || fail "a wrong passphrase changed the state directory"
expect_rc 0 ks unlock --timeout 30 --quiet
ks lock --quiet

# A truncated and a damaged root file: refused, named, nothing changed.
ROOT=$S/keystore/root
[ -f "$ROOT" ] || fail "no $ROOT"
cp -p "$ROOT" "$T/root.good"
size=$(stat -c %s "$ROOT")
truncate -s $((size / 2)) "$ROOT"
before=$(state_of "$S")
expect_rc 1 ks unlock --timeout 30 2>"$T/err"
grep -Eqi "root|damaged|truncated" "$T/err" || fail "truncated keystore file not named: $(cat "$T/err")"
[ "$(state_of "$S")" = "$before" ] || fail "unlocking a truncated keystore changed files"
cp -p "$T/root.good" "$ROOT"
flip_byte "$ROOT" $((size - 5))
before=$(state_of "$S")
expect_rc 1 ks unlock --timeout 30 2>"$T/err"
[ "$(state_of "$S")" = "$before" ] || fail "unlocking a damaged keystore changed files"
cp -p "$T/root.good" "$ROOT"
expect_rc 0 ks unlock --timeout 30 --quiet
ks lock --quiet

# Rotation: the new passphrase works, the old one and the old shares do not.
printf 'a brand new passphrase\n' >"$T/new"
expect_rc 0 ks rotate --new-passphrase-file "$T/new" --quiet
expect_rc 1 ks unlock --timeout 30 2>/dev/null
expect_rc 0 env COFFER_PASSPHRASE_FILE="$T/new" "$COFFER" keystore unlock --timeout 30 --quiet
ks lock --quiet
expect_rc 1 env COFFER_PASSPHRASE_FILE=/nonexistent "$COFFER" keystore unlock \
	--share "${SH[0]}" --share "${SH[1]}" --share "${SH[2]}" 2>/dev/null
echo "ok"
