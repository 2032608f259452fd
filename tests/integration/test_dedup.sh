# Deduplication: an unchanged re-backup stores nothing and reads nothing; a
# small change in one file stores about one chunk and reads only that file;
# identical files are stored once; bytes inserted at the start of a large
# file shift content without defeating deduplication (content-defined
# chunking).
source "$(dirname "$0")/lib.sh"

CHUNK_MAX=65536
# Plaintext of the tree blobs a backup rewrites when one file changes: the
# changed directory and each of its ancestors up to /. Each file node costs
# well under 1 KiB plus about 50 bytes per extent; 64 KiB is generous.
TREE_SLACK=65536

R=$T/repo
SRC=$T/src
new_repo "$R" --chunk-min 4096 --chunk-avg 16384 --chunk-max $CHUNK_MAX

mkdir -p "$SRC/sub"
head -c 2097152 /dev/urandom >"$SRC/big"
head -c 1048576 /dev/urandom >"$SRC/sub/other"
for i in $(seq 1 10); do
	head -c 3000 /dev/urandom | od -An -tx1 >"$SRC/sub/small-$i.txt"
done
total=$(find "$SRC" -type f -printf '%s\n' | awk '{s+=$1} END {print s}')

backup_json() { coffer backup --repo "$R" --json "$@"; }

# The metadata of SRC and its ancestors up to /: each is a node in a tree.
ancestors() {
	local d=$SRC
	while :; do
		stat -c '%n %y %z %s %h' "$d"
		[ "$d" = / ] && break
		d=$(dirname "$d")
	done
}

# --- first backup: everything is read and stored ---
b0=$(ancestors)
j1=$(backup_json "$SRC") || fail "first backup failed"
b1=$(ancestors)
[ "$(json_num bytes_read <<<"$j1")" -eq "$total" ] ||
	fail "first backup read $(json_num bytes_read <<<"$j1") bytes, expected $total: $j1"
[ "$(json_num bytes_added <<<"$j1")" -ge "$total" ] ||
	fail "first backup added fewer bytes than the files hold: $j1"
snap1=$(grep -o '"snapshot":"[0-9a-f]*"' <<<"$j1" | cut -d'"' -f4)

# --- unchanged re-backup: nothing read, nothing added, packs untouched ---
# The snapshot also records the metadata of SRC's ancestors (/, /tmp...),
# which other processes may change; then a tree blob is legitimately new.
# The strict assertions apply to a run during which, and since the
# previous run, no ancestor changed; a few attempts find one.
prev=$b1
[ "$b0" = "$b1" ] || prev=changed
parent=$snap1
strict=0
for _ in 1 2 3 4 5 6 7 8; do
	pc=$(pack_count "$R")
	pb=$(pack_bytes "$R")
	a0=$(ancestors)
	j2=$(backup_json "$SRC") || fail "unchanged re-backup failed"
	a1=$(ancestors)
	for f in bytes_read errors; do
		[ "$(json_num $f <<<"$j2")" = 0 ] || fail "unchanged re-backup: $f is not 0: $j2"
	done
	grep -q "\"parent\":\"$parent\"" <<<"$j2" || fail "re-backup's parent is not $parent: $j2"
	parent=$(grep -o '"snapshot":"[0-9a-f]*"' <<<"$j2" | cut -d'"' -f4)
	if [ "$prev" = "$a0" ] && [ "$a0" = "$a1" ]; then
		strict=1
		break
	fi
	# Only the trees from the changed ancestor up to / can be new.
	[ "$(json_num blobs_added <<<"$j2")" -le "$(wc -l <<<"$a1")" ] ||
		fail "re-backup with a changed ancestor directory added too many blobs: $j2"
	prev=changed
	[ "$a0" = "$a1" ] && prev=$a1
	sleep 0.2
done
[ "$strict" = 1 ] || skip "the ancestors of $SRC kept changing; cannot test an unchanged re-backup"
for f in bytes_added stored_added blobs_added; do
	[ "$(json_num $f <<<"$j2")" = 0 ] || fail "unchanged re-backup: $f is not 0: $j2"
done
[ "$(pack_count "$R")" -eq "$pc" ] || fail "unchanged re-backup changed the pack count"
[ "$(pack_bytes "$R")" -eq "$pb" ] || fail "unchanged re-backup changed the pack bytes"
pb=$(pack_bytes "$R")

# --- one 10-byte change in the middle of the 2 MB file ---
printf '0123456789' | dd of="$SRC/big" bs=1 seek=1048570 conv=notrunc status=none
j3=$(backup_json "$SRC") || fail "third backup failed"
[ "$(json_num bytes_read <<<"$j3")" -eq 2097152 ] ||
	fail "after changing one 2 MiB file, bytes_read should be 2097152: $j3"
added=$(json_num bytes_added <<<"$j3")
[ "$added" -gt 0 ] || fail "a changed file added nothing: $j3"
[ "$added" -le $((2 * CHUNK_MAX + TREE_SLACK)) ] ||
	fail "a 10-byte change added $added bytes (limit $((2 * CHUNK_MAX + TREE_SLACK))): $j3"
[ "$(json_num stored_added <<<"$j3")" -le $((2 * CHUNK_MAX + TREE_SLACK + 4096)) ] ||
	fail "a 10-byte change stored too much: $j3"
[ "$(json_num blobs_added <<<"$j3")" -le 12 ] ||
	fail "a 10-byte change added too many blobs: $j3"
[ $(($(pack_bytes "$R") - pb)) -le $((2 * CHUNK_MAX + TREE_SLACK + 16384)) ] ||
	fail "a 10-byte change grew the packs by $(($(pack_bytes "$R") - pb)) bytes"

# The changed file restores as it is now.
coffer restore --repo "$R" latest --target "$T/r3" --quiet || fail "restore after change failed"
cmp "$SRC/big" "$T/r3$SRC/big" || fail "changed file restored wrong"
cmp "$SRC/sub/other" "$T/r3$SRC/sub/other" || fail "unchanged file restored wrong"

# --- two copies of the same 2 MiB file: stored once, dedup ratio about 2 ---
R2=$T/repo2
S2=$T/copies
new_repo "$R2" --chunk-min 4096 --chunk-avg 16384 --chunk-max $CHUNK_MAX
mkdir -p "$S2"
head -c 2097152 /dev/urandom >"$S2/one"
cp "$S2/one" "$S2/two"
j=$(coffer backup --repo "$R2" --json "$S2") || fail "backup of two copies failed"
[ "$(json_num bytes_added <<<"$j")" -le $((2097152 + TREE_SLACK)) ] ||
	fail "two identical 2 MiB files added more than one copy: $j"
st=$(coffer stats --repo "$R2" --json) || fail "stats failed"
ratio=$(json_num dedup_ratio <<<"$st")
awk -v r="$ratio" 'BEGIN {exit !(r > 1.9)}' || fail "dedup ratio $ratio, expected about 2: $st"
[ "$(json_num logical_bytes <<<"$st")" -eq 4194304 ] || fail "logical bytes wrong: $st"
[ "$(json_num unique_bytes <<<"$st")" -eq 2097152 ] || fail "unique bytes wrong: $st"
[ "$(pack_bytes "$R2")" -lt $((2097152 + 2097152 / 2)) ] ||
	fail "packs hold $(pack_bytes "$R2") bytes for 2 MiB of unique data"

# --- bytes inserted at the start of a large file ---
head -c 8388608 /dev/urandom >"$S2/large"
j=$(coffer backup --repo "$R2" --json "$S2") || fail "backup of the large file failed"
[ "$(json_num bytes_read <<<"$j")" -eq 8388608 ] || fail "only the new file should be read: $j"
cp "$S2/large" "$T/large.orig"
{ printf 'inserted at the start: %s\n' "$RANDOM$RANDOM"; cat "$T/large.orig"; } >"$S2/large"
j=$(coffer backup --repo "$R2" --json "$S2") || fail "backup after insertion failed"
[ "$(json_num bytes_read <<<"$j")" -eq "$(stat -c %s "$S2/large")" ] ||
	fail "after the insertion only the large file should be read: $j"
added=$(json_num bytes_added <<<"$j")
[ "$added" -le $((3 * CHUNK_MAX + TREE_SLACK)) ] ||
	fail "inserting ~30 bytes at the start of an 8 MiB file added $added bytes: $j"
[ "$(json_num blobs_added <<<"$j")" -le 10 ] || fail "insertion added too many blobs: $j"
coffer restore --repo "$R2" latest --target "$T/r4" --quiet || fail "restore after insertion failed"
cmp "$S2/large" "$T/r4$S2/large" || fail "large file restored wrong after insertion"

coffer check --repo "$R" --read-data --quiet || fail "check of the first repository failed"
coffer check --repo "$R2" --read-data --quiet || fail "check of the second repository failed"
echo "dedup: ok"
