# Confidentiality: nothing a backup stores can be read from the repository
# files without the key. Distinctive markers in file names, directory names,
# contents, a symlink target, xattr names and values, a tag and the backed-up
# path never appear in any repository file; neither does the unkeyed SHA-256
# of a file's content (blob IDs are keyed MACs), in hex or raw; and two
# repositories holding the same data share no pack, index or snapshot name.
source "$(dirname "$0")/lib.sh"

MARK="CofferSecret$(od -An -tx1 -N8 /dev/urandom | tr -d ' \n')Marker"
MARK16=${MARK:0:16}
R=$T/repo
SRC=$T/src-$MARK
new_repo "$R" --chunk-min 4096 --chunk-avg 16384 --chunk-max 65536

mkdir -p "$SRC/dir-$MARK"
# Compressible: the marker repeated.
for _ in $(seq 1 1000); do printf '%s\n' "$MARK"; done >"$SRC/dir-$MARK/file-$MARK.txt"
# Barely compressible: random hex with the marker between the lines.
for _ in $(seq 1 40); do
	head -c 1024 /dev/urandom | od -An -v -tx1 | tr -d ' \n'
	printf '\n%s\n' "$MARK"
done >"$SRC/mixed.txt"
# Random binary content: a 32-byte piece of it is searched for below.
head -c 200000 /dev/urandom >"$SRC/random.bin"
# A file smaller than the minimum chunk: its content is exactly one blob.
printf 'a small file holding %s\n' "$MARK" >"$SRC/small.txt"
ln -s "/nowhere/$MARK/target-$MARK" "$SRC/link-$MARK"
xattrs=0
if setfattr -n "user.note" -v "value-$MARK" "$SRC/small.txt" 2>/dev/null &&
	setfattr -n "user.name-$MARK" -v "x" "$SRC/mixed.txt" 2>/dev/null; then
	xattrs=1
else
	echo "note: user xattrs unsupported on $T; xattr markers not tested" >&2
fi

coffer backup --repo "$R" --tag "tag-$MARK" --quiet "$SRC" || fail "backup failed"
# The data is really there: the names decrypt and list.
coffer ls --repo "$R" latest >"$T/ls.out" || fail "ls failed"
grep -qF "file-$MARK.txt" "$T/ls.out" || fail "ls does not show the marker file"
grep -qF "link-$MARK" "$T/ls.out" || fail "ls does not show the marker symlink"
coffer snapshots --repo "$R" --json | grep -qF "tag-$MARK" || fail "the tag was not stored"
coffer restore --repo "$R" latest --target "$T/restored" --quiet || fail "restore failed"
cmp "$SRC/small.txt" "$T/restored$SRC/small.txt" || fail "small file restored wrong"
[ "$(readlink "$T/restored$SRC/link-$MARK")" = "/nowhere/$MARK/target-$MARK" ] ||
	fail "symlink target restored wrong"
if [ $xattrs = 1 ]; then
	[ "$(getfattr --only-values -n user.note "$T/restored$SRC/small.txt")" = "value-$MARK" ] ||
		fail "xattr value not restored"
fi
# A second snapshot so that locks, parents and a second index exist too.
echo "more $MARK" >"$SRC/dir-$MARK/more-$MARK"
coffer backup --repo "$R" --tag "tag-$MARK" --quiet "$SRC" || fail "second backup failed"

# is_in_repo_hex REPO HEX: true if the bytes HEX (lower-case hex) occur in a file.
is_in_repo_hex() {
	local f
	while IFS= read -r -d '' f; do
		if od -An -v -tx1 "$f" | tr -d ' \n' | grep -qF "$2"; then
			echo "found in $f" >&2
			return 0
		fi
	done < <(find "$1" -type f -print0)
	return 1
}
no_text() {
	if grep -r -a -l -F -e "$1" "$R" >&2; then
		fail "plaintext '$1' ($2) found in the repository files listed above"
	fi
	if find "$R" | grep -F -e "$1" >&2; then
		fail "plaintext '$1' ($2) found in repository file names"
	fi
}

[ "$(find "$R" -type f | wc -l)" -ge 6 ] || fail "repository has too few files to be meaningful"
no_text "$MARK" "marker"
no_text "$MARK16" "first 16 bytes of the marker"
no_text "$(printf '%s' "$MARK16" | od -An -tx1 | tr -d ' \n')" "marker in hex"
no_text "correct horse battery staple" "passphrase"
host=$(hostname 2>/dev/null || cat /proc/sys/kernel/hostname)
if [ ${#host} -ge 8 ]; then
	no_text "$host" "hostname"
fi
is_in_repo_hex "$R" "$(printf '%s' "$MARK16" | od -An -tx1 | tr -d ' \n')" &&
	fail "marker bytes found in a repository file"
# 32 bytes from the middle of the random file.
piece=$(od -An -v -tx1 -j 100000 -N32 "$SRC/random.bin" | tr -d ' \n')
is_in_repo_hex "$R" "$piece" && fail "plaintext of random.bin found in a repository file"

# Unkeyed content hashes must not appear: blob IDs are keyed.
for f in "$SRC/small.txt" "$SRC/dir-$MARK/more-$MARK"; do
	h=$(sha256sum "$f" | cut -d' ' -f1)
	no_text "$h" "SHA-256 of $(basename "$f") in hex"
	is_in_repo_hex "$R" "$h" && fail "raw SHA-256 of $(basename "$f") found in the repository"
done

# Two repositories with the same data and parameters share no object name.
R2=$T/repo2
new_repo "$R2" --chunk-min 4096 --chunk-avg 16384 --chunk-max 65536
coffer backup --repo "$R2" --tag "tag-$MARK" --quiet "$SRC" || fail "backup into repo2 failed"
names() { find "$1/data" "$1/index" "$1/snapshots" -type f -printf '%f\n' | sort; }
[ "$(names "$R" | wc -l)" -ge 3 ] || fail "repository lists too few objects"
common=$(comm -12 <(names "$R") <(names "$R2"))
[ -z "$common" ] || fail "two repositories share object names: $common"
# The same chunk must not be recognisable across repositories either: no
# 32-byte sequence taken from the middle of repo2's packs occurs in repo.
p2=$(find "$R2/data" -type f -size +8k -print -quit)
if [ -n "$p2" ]; then
	is_in_repo_hex "$R" "$(od -An -v -tx1 -j 1000 -N32 "$p2" | tr -d ' \n')" &&
		fail "pack bytes of repo2 occur in repo"
fi
echo "confidentiality: ok"
