# Datasets at different classification levels: separate pools and
# repositories, keys that do not open each other's packs, a backup /
# snapshots / restore round trip per dataset, and a policy violation
# refused naming the rule with nothing left behind.
source "$(dirname "$0")/lib.sh"

KEYTOOL=${KEYTOOL:-$COFFER_BUILD/tests/keytool}
S=$T/state
export COFFER_STATE_DIR=$S COFFER_CONFIG_DIR=$T/conf
mkdir -p "$T/conf"
cat >"$T/conf/levels.conf" <<'CONF'
[level 1]
name = internal
suite = international
pool = pools/internal

[level 2]
name = sensitive
suite = any
retention = 365d
pool = pools/sensitive

[level 4]
name = blocked
pool = pools/blocked

[level 3]
name = important
suite = national
replication = required
pool = pools/important
CONF
"$COFFER" keystore init --kdf-cost 10 --quiet || fail "keystore init"

ds() { "$COFFER" dataset "$@"; }
# repo_of NAME: the dataset's repository path from dataset show --json.
repo_of() { ds show "$1" --json | grep -o '"repository":"[^"]*"' | cut -d'"' -f4; }

ds create alpha --level 1 --owner finance --quiet || fail "create alpha"
ds create beta --level 2 --owner registry --quiet || fail "create beta"
RA=$(repo_of alpha)
RB=$(repo_of beta)
case $RA in "$S/pools/internal/"*) ;; *) fail "alpha's repository $RA is not in its pool" ;; esac
case $RB in "$S/pools/sensitive/"*) ;; *) fail "beta's repository $RB is not in its pool" ;; esac
[ -f "$RA/config" ] && [ -f "$RB/config" ] || fail "repositories not created"
# No key file in a keyed repository: its keys are in the keystore only.
[ -z "$(ls -A "$RA/keys" 2>/dev/null)" ] || fail "a key file was written into $RA/keys"
expect_rc 1 ds create alpha --level 1 --owner finance 2>"$T/err"
grep -q "already exists" "$T/err" || fail "duplicate name not refused clearly"
ds list >"$T/list"
grep -q alpha "$T/list" && grep -q beta "$T/list" || fail "list misses a dataset"
ds show alpha >"$T/show"
grep -q "key generations  1" "$T/show" || fail "show: no key generations: $(cat "$T/show")"

# Policy: level 3 requires the national suite.
expect_rc 1 ds create leak --level 3 --owner finance --suite international 2>"$T/err"
grep -q "level 3" "$T/err" && grep -q "suite = national" "$T/err" ||
	fail "policy refusal does not name the level and rule: $(cat "$T/err")"
ds list | grep -q leak && fail "a refused dataset is listed"
[ ! -e "$S/pools/important" ] || [ -z "$(ls -A "$S/pools/important")" ] ||
	fail "a refused dataset left a repository"
expect_rc 1 ds create nolevel --level 9 --owner x 2>/dev/null
# A failure half-way (the pool is a file): the catalog row is rolled back.
mkdir -p "$S/pools"
touch "$S/pools/blocked"
expect_rc 1 ds create half --level 4 --owner x 2>"$T/err"
ds list | grep -q half && fail "a failed creation left its catalog row"
expect_rc 1 ds show half 2>/dev/null

# A broken levels.conf is refused naming file and line.
mkdir -p "$T/badconf"
printf '[level 1]\nname = a\npool = p\n[level 2]\nname = b\npool = p/q\n' >"$T/badconf/levels.conf"
expect_rc 1 ds create gamma --level 1 --owner x --config-dir "$T/badconf" 2>"$T/err"
grep -q "levels.conf:4:" "$T/err" || fail "nested pools not refused by line: $(cat "$T/err")"

# Round trip per dataset, with different data.
mkdir -p "$T/srcA" "$T/srcB"
head -c 300000 /dev/urandom >"$T/srcA/a.bin"
printf 'alpha text\n' >"$T/srcA/a.txt"
head -c 200000 /dev/urandom >"$T/srcB/b.bin"
"$COFFER" backup --dataset alpha --quiet "$T/srcA" || fail "backup alpha"
"$COFFER" backup --dataset beta --quiet "$T/srcB" || fail "backup beta"
"$COFFER" snapshots --dataset alpha --json | grep -q '"id"' || fail "snapshots alpha"
"$COFFER" snapshots --repo "$RB" >/dev/null 2>&1 &&
	fail "a keyed repository opened with a passphrase"
for n in alpha beta; do
	"$COFFER" restore --dataset "$n" latest --target "$T/out-$n" --quiet || fail "restore $n"
done
src_a=$(find "$T/out-alpha" -name a.bin | head -1)
cmp "$src_a" "$T/srcA/a.bin" || fail "alpha restored different data"
src_b=$(find "$T/out-beta" -name b.bin | head -1)
cmp "$src_b" "$T/srcB/b.bin" || fail "beta restored different data"
expect_rc 2 "$COFFER" backup --dataset alpha --repo "$RA" "$T/srcA" 2>/dev/null

# One dataset's keys do not open the other's packs.
PA=$(find "$RA/data" -type f | head -1)
[ -n "$PA" ] || fail "alpha has no pack"
expect_rc 0 "$KEYTOOL" open-pack --state-dir "$S" --dataset alpha "$PA"
expect_rc 1 "$KEYTOOL" open-pack --state-dir "$S" --dataset beta "$PA"

# Content-key rotation: old data stays readable, new data uses generation 1.
ds rotate-key alpha --quiet || fail "rotate-key"
ds show alpha | grep -q "key generations  2" || fail "rotation not shown"
printf 'after rotation\n' >"$T/srcA/new.txt"
"$COFFER" backup --dataset alpha --quiet "$T/srcA" || fail "backup after rotation"
"$COFFER" restore --dataset alpha latest --target "$T/out-rot" --quiet || fail "restore after rotation"
[ -n "$(find "$T/out-rot" -name new.txt)" ] || fail "new file missing after rotation"

# The national suite, where this build has it.
if "$COFFER" dataset create gamma --level 3 --owner defence --quiet 2>"$T/err"; then
	RC=$(repo_of gamma)
	case $RC in "$S/pools/important/"*) ;; *) fail "gamma not in its pool" ;; esac
	ds show gamma --json | grep -q '"suite":"national"' || fail "gamma is not national"
	"$COFFER" backup --dataset gamma --quiet "$T/srcB" || fail "backup gamma"
	"$COFFER" restore --dataset gamma latest --target "$T/out-gamma" --quiet ||
		fail "restore gamma"
	cmp "$(find "$T/out-gamma" -name b.bin | head -1)" "$T/srcB/b.bin" ||
		fail "gamma restored different data"
	PC=$(find "$RC/data" -type f | head -1)
	expect_rc 1 "$KEYTOOL" open-pack --state-dir "$S" --dataset alpha "$PC"
else
	grep -q "not available" "$T/err" || fail "national dataset: $(cat "$T/err")"
	echo "note: national suite not built; level 3 round trip not tested" >&2
fi
echo "ok"
