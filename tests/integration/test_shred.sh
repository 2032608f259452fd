# Crypto-shredding: after keytool shred (the console offers none), no byte
# sequence of the dataset's keys remains in any file under the state
# directory or its pools, the dataset cannot be restored and says why, and
# another dataset restores unharmed.
source "$(dirname "$0")/lib.sh"

KEYTOOL=${KEYTOOL:-$COFFER_BUILD/tests/keytool}
S=$T/state
export COFFER_STATE_DIR=$S COFFER_CONFIG_DIR=$T/conf
mkdir -p "$T/conf"
printf '[level 1]\nname = low\npool = pools/low\n[level 2]\nname = high\npool = pools/high\n' \
	>"$T/conf/levels.conf"
"$COFFER" keystore init --kdf-cost 10 --quiet || fail "keystore init"
"$COFFER" dataset create A --level 1 --owner x --quiet || fail "create A"
"$COFFER" dataset create B --level 2 --owner y --quiet || fail "create B"
"$COFFER" dataset rotate-key A --quiet || fail "rotate A"
mkdir -p "$T/src"
head -c 100000 /dev/urandom >"$T/src/data.bin"
for d in A B; do
	"$COFFER" backup --dataset "$d" --quiet "$T/src" || fail "backup $d"
done
# The console has no way to shred.
expect_rc 2 "$COFFER" dataset shred A 2>/dev/null
expect_rc 2 "$COFFER" keystore shred 2>/dev/null

"$KEYTOOL" dump-keyset --state-dir "$S" --dataset A >"$T/keys" || fail "dump-keyset"
[ "$(wc -l <"$T/keys")" -eq 3 ] || fail "expected master and 2 content keys"
"$KEYTOOL" shred --state-dir "$S" --dataset A >/dev/null || fail "shred"

# Every file, hex-encoded whole, searched for every key (and its upper-case form).
found=0
while IFS= read -r -d '' f; do
	hex=$(od -An -v -tx1 "$f" | tr -d ' \n')
	while read -r k; do
		if [[ $hex == *"$k"* ]]; then
			echo "key bytes of A found in $f" >&2
			found=1
		fi
	done <"$T/keys"
	# The key as text (hex digits) in a file would be as bad.
	if grep -qiFf "$T/keys" "$f"; then
		echo "key hex of A found in $f" >&2
		found=1
	fi
done < <(find "$S" -type f -print0)
[ "$found" -eq 0 ] || fail "A's keys survive the shred"

expect_rc 1 "$COFFER" restore --dataset A latest --target "$T/outA" 2>"$T/err"
grep -q "crypto-shredded" "$T/err" || fail "restore of A does not say why: $(cat "$T/err")"
"$COFFER" dataset show A | grep -q "shredded" || fail "show A does not say shredded"
"$COFFER" restore --dataset B latest --target "$T/outB" --quiet || fail "restore B"
cmp "$(find "$T/outB" -name data.bin | head -1)" "$T/src/data.bin" || fail "B restored wrong data"
echo "ok"
