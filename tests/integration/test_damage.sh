# Damage and refusal: a wrong passphrase changes nothing; one flipped byte in
# a pack, an index file or a snapshot file is found by check and named, and
# restore recovers every file the damage does not touch; a newer format
# version is refused before any passphrase is asked for; files changing
# under a running backup give a consistent snapshot.
source "$(dirname "$0")/lib.sh"

R=$T/repo
SRC=$T/src
new_repo "$R" --chunk-min 4096 --chunk-avg 16384 --chunk-max 65536

# Two sets of files backed up in two runs, so their data lands in different
# packs: damaging the second set's pack must leave the first set restorable.
mkdir -p "$SRC/deep/er"
for i in 1 2 3 4 5; do
	head -c $((100000 + i * 37000)) /dev/urandom >"$SRC/file-alpha-$i.dat"
done
head -c 50000 /dev/urandom >"$SRC/deep/er/file-alpha-deep.dat"
: >"$SRC/file-alpha-empty.dat"
ln -s file-alpha-1.dat "$SRC/link-alpha"
j1=$(coffer backup --repo "$R" --json "$SRC") || fail "first backup failed"
snap1=$(grep -o '"snapshot":"[0-9a-f]*"' <<<"$j1" | cut -d'"' -f4)
cp -a "$SRC" "$T/src1"
find "$R/data" -type f | sort >"$T/packs1"

for i in 1 2 3 4 5; do
	head -c $((150000 + i * 23000)) /dev/urandom >"$SRC/file-beta-$i.dat"
done
j2=$(coffer backup --repo "$R" --json "$SRC") || fail "second backup failed"
snap2=$(grep -o '"snapshot":"[0-9a-f]*"' <<<"$j2" | cut -d'"' -f4)
find "$R/data" -type f | sort >"$T/packs2"
# The largest new pack holds the beta files' data (about 1 MB); tree packs
# are a few KB.
beta_pack=$(comm -13 "$T/packs1" "$T/packs2" | xargs ls -S | awk "NR == 1")
[ -n "$beta_pack" ] || fail "the second backup wrote no pack"
[ "$(stat -c %s "$beta_pack")" -gt 500000 ] || fail "no data pack for the beta files found"
coffer check --repo "$R" --read-data --quiet || fail "check of the intact repository failed"

# --- wrong passphrase: refused, exit 1, nothing written ---
printf 'not the passphrase\n' >"$T/wrong"
wrong_pass() {
	local what=$1 rc=0
	shift
	repo_state "$R" >"$T/before"
	"$COFFER" "$@" --repo "$R" --passphrase-file "$T/wrong" >"$T/out" 2>"$T/err" || rc=$?
	repo_state "$R" >"$T/after"
	[ "$rc" -eq 1 ] || fail "$what with a wrong passphrase: exit $rc, expected 1"
	grep -qi "wrong passphrase" "$T/err" ||
		fail "$what with a wrong passphrase: stderr lacks 'wrong passphrase': $(cat "$T/err")"
	diff "$T/before" "$T/after" >&2 ||
		fail "$what with a wrong passphrase changed the repository (diff above)"
}
wrong_pass backup backup "$SRC"
wrong_pass prune prune
wrong_pass forget forget --keep-last 1
wrong_pass check check
[ "$(snapshot_ids "$R" | wc -l)" -eq 2 ] || fail "snapshot count changed"

# run_check DIR: check --read-data on DIR, stderr to $T/check.err; returns its exit code.
run_check() {
	local rc=0
	"$COFFER" check --repo "$1" --read-data >"$T/check.out" 2>"$T/check.err" || rc=$?
	return $rc
}
expect_named() { # FILE-WITH-STDERR HEXNAME WHAT
	grep -qF "${2:0:8}" "$1" || fail "$3: stderr does not name $2: $(cat "$1")"
}

# --- one flipped byte in the beta data pack ---
D=$T/dpack
cp -a "$R" "$D"
p=$D/${beta_pack#"$R"/}
size=$(stat -c %s "$p")
hlen=$(od -An -tu4 -j $((size - 4)) -N4 "$p" | tr -d ' ')
data_len=$((size - 16 - hlen))
[ "$data_len" -gt 0 ] || fail "pack trailer of $p gives header_len $hlen for $size bytes"
# Inside the sealed blobs (restore reads those, not the pack header).
off=$(rand_below "$data_len")
flip_byte "$p" "$off"
pname=$(basename "$p")
rc=0
run_check "$D" || rc=$?
[ "$rc" -eq 1 ] || fail "check of a damaged pack (byte $off of $pname): exit $rc, expected 1"
expect_named "$T/check.err" "$pname" "check of a damaged pack"
grep -q "file-beta-[0-9].dat" "$T/check.err" ||
	fail "check of a damaged pack names no affected file: $(cat "$T/check.err")"
grep -q "file-alpha" "$T/check.err" &&
	fail "check names an alpha file, whose data is not in the damaged pack: $(cat "$T/check.err")"
cp "$T/check.err" "$T/check-pack.err"

rc=0
"$COFFER" restore --repo "$D" latest --target "$T/rp" >"$T/out" 2>"$T/restore.err" || rc=$?
[ "$rc" -ne 0 ] || fail "restore from a damaged pack exited 0"
[ "$rc" -lt 128 ] || fail "restore from a damaged pack crashed (exit $rc)"
named=0
for f in "$SRC"/file-*.dat "$SRC"/deep/er/*.dat; do
	rel=${f#"$SRC"/}
	b=$(basename "$f")
	if grep -qF "$b" "$T/restore.err"; then
		case $b in
		file-beta-*) ;;
		*) fail "restore names $rel, whose data is intact: $(cat "$T/restore.err")" ;;
		esac
		grep -qF "$b" "$T/check-pack.err" || fail "restore names $rel but check did not"
		named=$((named + 1))
		continue
	fi
	cmp "$f" "$T/rp$SRC/$rel" || fail "unaffected file $rel not restored identically"
done
[ "$named" -ge 1 ] || fail "restore from a damaged pack names no file it could not restore: $(cat "$T/restore.err")"
[ "$(readlink "$T/rp$SRC/link-alpha")" = file-alpha-1.dat ] || fail "symlink not restored"
# The first snapshot does not need the damaged pack: it restores completely.
"$COFFER" restore --repo "$D" "$snap1" --target "$T/rp1" --quiet ||
	fail "restore of the first snapshot (not using the damaged pack) failed"
diff -r "$T/src1" "$T/rp1$SRC" || fail "first snapshot restored wrong"

# --- one flipped byte in an index file ---
D=$T/dindex
cp -a "$R" "$D"
mapfile -t idx < <(find "$D/index" -type f | sort)
[ "${#idx[@]}" -ge 1 ] || fail "no index files"
p=${idx[$(rand_below ${#idx[@]})]}
off=$(rand_below "$(stat -c %s "$p")")
flip_byte "$p" "$off"
rc=0
run_check "$D" || rc=$?
[ "$rc" -eq 1 ] || fail "check of a damaged index file (byte $off of $(basename "$p")): exit $rc, expected 1"
expect_named "$T/check.err" "$(basename "$p")" "check of a damaged index file"
# Prune must not treat the packs the damaged index lists as orphans.
prune_refused() {
	local rc=0
	find "$1/data" -type f | sort >"$T/packs.before"
	"$COFFER" prune --repo "$1" >"$T/out" 2>"$T/prune.err" || rc=$?
	find "$1/data" -type f | sort >"$T/packs.after"
	[ "$rc" -eq 1 ] || fail "prune with a damaged $2: exit $rc, expected 1: $(cat "$T/prune.err")"
	diff "$T/packs.before" "$T/packs.after" >&2 || fail "prune with a damaged $2 deleted packs"
}
prune_refused "$D" "index file"

# --- one flipped byte in a snapshot file ---
D=$T/dsnap
cp -a "$R" "$D"
p=$(find "$D/snapshots" -type f -name "$snap2*")
[ -f "$p" ] || fail "snapshot file of $snap2 not found (snapshot files are named by their ID?)"
off=$(rand_below "$(stat -c %s "$p")")
flip_byte "$p" "$off"
rc=0
run_check "$D" || rc=$?
[ "$rc" -eq 1 ] || fail "check of a damaged snapshot file (byte $off): exit $rc, expected 1"
expect_named "$T/check.err" "$(basename "$p")" "check of a damaged snapshot file"
prune_refused "$D" "snapshot file"
"$COFFER" restore --repo "$D" "$snap1" --target "$T/rs1" --quiet ||
	fail "the undamaged snapshot does not restore next to a damaged one"
diff -r "$T/src1" "$T/rs1$SRC" || fail "undamaged snapshot restored wrong"

# --- files vanishing and changing while a backup runs ---
S3=$T/busy
mkdir -p "$S3/stable" "$S3/churn"
for i in $(seq 1 150); do
	head -c $((2000 + i * 97)) /dev/urandom >"$S3/stable/s-$i"
done
head -c 3000000 /dev/urandom >"$S3/stable/big"
for i in $(seq 1 100); do head -c 20000 /dev/urandom >"$S3/churn/c-$i"; done
(
	i=0
	while :; do
		echo "line $i" >>"$S3/churn/grow.log"
		head -c 5000 /dev/urandom >"$S3/churn/new-$((i % 40))"
		rm -f "$S3/churn/new-$(((i + 20) % 40))" "$S3/churn/c-$((i % 100 + 1))"
		mkdir -p "$S3/churn/d-$((i % 10))/x"
		rm -rf "$S3/churn/d-$(((i + 5) % 10))"
		i=$((i + 1))
	done
) &
writer=$!
BG_PIDS+=("$writer")
sleep 0.2
rc=0
coffer backup --repo "$R" --json "$S3" >"$T/busy.json" 2>"$T/busy.err" || rc=$?
kill "$writer"
wait "$writer" 2>/dev/null || true
[ "$rc" -eq 0 ] || [ "$rc" -eq 3 ] ||
	fail "backup of a changing tree: exit $rc, expected 0 or 3: $(cat "$T/busy.err")"
echo "backup of a changing tree exited $rc" >&2
run_check "$R" || fail "check after a backup of a changing tree failed: $(cat "$T/check.err")"
coffer restore --repo "$R" latest --target "$T/rb" --quiet ||
	fail "the snapshot of a changing tree does not restore"
diff -r "$S3/stable" "$T/rb$S3/stable" || fail "stable files of a changing tree restored wrong"
# Last, so that the checks above run even while this one fails.
# --- a newer format version is refused before the passphrase is needed ---
cp -a "$R" "$T/rv"
printf '\002\000\000\000' | dd of="$T/rv/config" bs=1 seek=8 conv=notrunc status=none
rc=0
# No passphrase source at all and no controlling terminal.
env -u COFFER_PASSPHRASE_FILE setsid -w "$COFFER" snapshots --repo "$T/rv" \
	</dev/null >"$T/out" 2>"$T/err" || rc=$?
[ "$rc" -eq 1 ] || fail "version 2 repository: exit $rc, expected 1 ($(cat "$T/err"))"
grep -qi "version" "$T/err" || fail "version 2 repository: message does not mention the version: $(cat "$T/err")"
grep -q "2" "$T/err" || fail "version 2 repository: message does not name version 2: $(cat "$T/err")"
grep -qi "no passphrase" "$T/err" && fail "version 2 repository: asked for a passphrase: $(cat "$T/err")"
nsnap=$(find "$T/rv/snapshots" -type f | wc -l)
rc=0
coffer backup --repo "$T/rv" "$SRC" >"$T/out" 2>"$T/err" || rc=$?
[ "$rc" -eq 1 ] || fail "backup into a version 2 repository: exit $rc, expected 1"
grep -qi "version" "$T/err" || fail "backup into a version 2 repository: no version message"
[ "$(find "$T/rv/snapshots" -type f | wc -l)" -eq "$nsnap" ] || fail "backup wrote into a version 2 repository"

echo "damage: ok"
