# The national suite in standalone mode: `coffer init --suite national`,
# a backup and a full restore that compares equal, and check --read-data
# clean. The repository holds no SHA-256 and no AES material: its config
# names suite 2, every object file is named by the SM3 of its bytes and
# none by its SHA-256, and the key file names the national suite. (That
# every blob is SM4-CTR/HMAC-SM3 sealed and opens with no other suite is
# proven by unit.test_keyed and unit.test_national.) An unknown suite name
# is refused, naming it, and nothing is created.
source "$(dirname "$0")/lib.sh"

[ -x "$TREECMP" ] || fail "treecmp not built at $TREECMP"
R=$T/repo
S=$T/src

expect_rc 2 "$COFFER" init --repo "$T/bad" --suite rot13 --kdf-cost 10 2>"$T/err"
grep -q "unknown suite 'rot13'" "$T/err" || fail "unknown suite not named: $(cat "$T/err")"
[ ! -e "$T/bad" ] || fail "a repository was created for an unknown suite"

new_repo "$R" --suite national --chunk-min 4096 --chunk-avg 16384 --chunk-max 65536
mkdir -p "$S/d"
head -c 300000 /dev/urandom >"$S/d/random.bin"
for i in $(seq 1 200); do echo "line $i of a compressible file"; done >"$S/d/text.txt"
ln -s d/text.txt "$S/link"
coffer backup --repo "$R" --quiet "$S" || fail "backup failed"
coffer restore --repo "$R" latest --target "$T/out" --quiet || fail "restore failed"
"$TREECMP" --no-atime "$S" "$T/out$S" >&2 || soft_fail "restored tree differs"
coffer check --repo "$R" --read-data --quiet || soft_fail "check --read-data found problems"

# Config: magic, version 1, suite 2 (little-endian u32 at offset 12).
suite=$(od -An -tu4 -j12 -N4 "$R/config" | tr -d ' ')
[ "$suite" = 2 ] || soft_fail "config names suite $suite, want 2"
n=0
while IFS= read -r -d '' f; do
	name=$(basename "$f")
	[ "$name" = config ] && continue
	n=$((n + 1))
	sm3=$(openssl dgst -sm3 -r "$f" | cut -d' ' -f1)
	sha=$(sha256sum "$f" | cut -d' ' -f1)
	[ "$name" = "$sm3" ] || soft_fail "$f is not named by its SM3 ($sm3)"
	[ "$name" != "$sha" ] || soft_fail "$f is named by its SHA-256"
done < <(find "$R" -type f -not -path "*/locks/*" -print0)
[ "$n" -ge 4 ] || soft_fail "only $n objects checked (key, pack, index, snapshot expected)"
for k in "$R"/keys/*; do
	ks=$(od -An -tu4 -j12 -N4 "$k" | tr -d ' ')
	[ "$ks" = 2 ] || soft_fail "key file $k names suite $ks"
done
finish_checks
