# Parallel restore (restore --threads): the same snapshot restored with 1,
# 2 and 8 threads is identical to the source each time (treecmp: content,
# holes, hard links, modes, nanosecond times), including files split into
# several jobs, content repeated within and across files, sparse files and
# a read-only directory; a damaged pack fails exactly the same files with
# 4 threads as with 1, and nothing else; bad --threads values are refused.
source "$(dirname "$0")/lib.sh"

[ -x "$TREECMP" ] || fail "treecmp not built at $TREECMP"
R=$T/repo
S=$T/src
# Small chunks: a few MB make files of hundreds of extents, so a file
# spans several jobs (at most 64 extents each) and several workers.
new_repo "$R" --chunk-min 4096 --chunk-avg 16384 --chunk-max 65536

# --- the source tree ----------------------------------------------------------
# 3000 small files in 30 directories, each a little different.
for d in $(seq -w 0 29); do
	mkdir -p "$S/small/d$d"
	for f in $(seq -w 0 99); do
		printf 'file %s/%s\n%0*d\n' "$d" "$f" $((10#$f * 37 % 3000)) 0 >"$S/small/d$d/f$f"
	done
	touch -d "2021-0$((10#$d % 9 + 1))-11 10:00:00.123456789" "$S/small/d$d"/f0*
done
mkdir -p "$S/big" "$S/links/a" "$S/links/b" "$S/ro"
head -c 6000000 /dev/urandom >"$S/big/random"
# The same 64 KiB block twelve times: repeated chunks within a file...
head -c 65536 /dev/urandom >"$T/block"
for _ in $(seq 12); do cat "$T/block"; done >"$S/big/repeated"
# ...and across files.
cp "$S/big/repeated" "$S/big/repeated-copy"
cat "$S/big/random" "$T/block" >"$S/big/random-plus-block"
# Sparse: 300 MiB apparent, a few data regions.
truncate -s 300M "$S/big/sparse"
for mb in 0 7 150 299; do
	head -c 100000 /dev/urandom | dd of="$S/big/sparse" bs=1M seek="$mb" conv=notrunc status=none
done
: >"$S/big/empty"
truncate -s 5M "$S/big/all-hole"
# Hard links: a large file and a group of three small ones, across directories.
ln "$S/big/random" "$S/links/a/random-link"
printf 'linked three times\n' >"$S/links/a/three"
ln "$S/links/a/three" "$S/links/b/three"
ln "$S/links/a/three" "$S/links/b/three-again"
ln -s ../big/random "$S/links/symlink"
# A read-only directory with content, and a read-only file.
head -c 200000 /dev/urandom >"$S/ro/inside"
chmod 0400 "$S/ro/inside"
chmod 0555 "$S/ro"
touch -d "2020-02-02 02:02:02.5" "$S/big" "$S/links/a" "$S/links/b"

coffer backup --repo "$R" --quiet --threads 2 "$S" || fail "backup failed"

# --- restores with 1, 2 and 8 threads ----------------------------------------
for n in 1 2 8; do
	rc=0
	coffer restore --repo "$R" latest --target "$T/r$n" --threads "$n" --json \
		>"$T/r$n.out" 2>"$T/r$n.err" || rc=$?
	cat "$T/r$n.err" >&2
	[ "$rc" -eq 0 ] || soft_fail "restore --threads $n exited $rc"
	rc=0
	"$TREECMP" --no-atime "$S" "$T/r$n$S" >"$T/cmp$n" 2>&1 || rc=$?
	if [ "$rc" -ne 0 ]; then
		head -c 4000 "$T/cmp$n" >&2
		soft_fail "--threads $n: restored tree differs from the source ($(wc -l <"$T/cmp$n") differences)"
	fi
	kib=$(du -k "$T/r$n$S/big/sparse" | cut -f1)
	[ "$kib" -lt 4096 ] || soft_fail "--threads $n: sparse file occupies $kib KiB (holes filled)"
	kib=$(du -k "$T/r$n$S/big/all-hole" | cut -f1)
	[ "$kib" -lt 64 ] || soft_fail "--threads $n: all-hole file occupies $kib KiB"
	[ "$(stat -c %i "$T/r$n$S/links/a/three")" = "$(stat -c %i "$T/r$n$S/links/b/three-again")" ] ||
		soft_fail "--threads $n: hard links not restored as links"
	files=$(json_num files <"$T/r$n.out")
	[ "$files" = "$(json_num files <"$T/r1.out")" ] ||
		soft_fail "--threads $n counts $files files, --threads 1 $(json_num files <"$T/r1.out")"
done
finish_checks

# --- a damaged data pack: the same files fail with 4 threads as with 1 ------
D=$T/damaged
cp -a "$R" "$D"
p=$(find "$D/data" -type f -printf '%s %p\n' | sort -n | tail -1 | cut -d' ' -f2)
size=$(stat -c %s "$p")
hlen=$(od -An -tu4 -j $((size - 4)) -N4 "$p" | tr -d ' ')
data_len=$((size - 16 - hlen))
[ "$data_len" -gt 0 ] || fail "pack trailer of $p gives header_len $hlen for $size bytes"
for _ in 1 2 3; do
	flip_byte "$p" "$(rand_below "$data_len")"
done

# failed_names ERRFILE: the stored paths restore named as not restored, sorted.
failed_names() {
	sed -n 's/^.*cannot restore \(\/[^:]*\): .*$/\1/p' "$1" | sort
}
for n in 1 4; do
	rc=0
	coffer restore --repo "$D" latest --target "$T/d$n" --threads "$n" \
		>/dev/null 2>"$T/d$n.err" || rc=$?
	[ "$rc" -eq 1 ] || fail "restore --threads $n of a damaged repository: exit $rc, expected 1: $(cat "$T/d$n.err")"
	failed_names "$T/d$n.err" >"$T/failed$n"
done
[ -s "$T/failed1" ] || fail "three flipped bytes failed no file: $(cat "$T/d1.err")"
diff "$T/failed1" "$T/failed4" >&2 ||
	fail "--threads 4 fails other files than --threads 1 (diff above)"
# Every failed file is absent and everything else identical to the source.
rc=0
"$TREECMP" --no-atime "$S" "$T/d4$S" >"$T/dcmp" 2>&1 || rc=$?
sed -n 's/: only in A$//p' "$T/dcmp" | sed "s|^|$S/|" | sort >"$T/absent"
diff "$T/failed4" "$T/absent" >&2 ||
	fail "the files missing from the damaged restore are not those named as failed (diff above)"
grep -v ': only in A$' "$T/dcmp" >&2 &&
	fail "damaged restore: files restored differ from the source (above)"
n_failed=$(wc -l <"$T/failed4")
grep -q "$n_failed items could not be restored" "$T/d4.err" ||
	fail "the error count does not match the $n_failed files named: $(tail -1 "$T/d4.err")"

# --- --threads values --------------------------------------------------------
for bad in 0 -1 abc 257 ""; do
	rc=0
	coffer restore --repo "$R" latest --target "$T/bad" --threads "$bad" >/dev/null 2>"$T/bad.err" || rc=$?
	[ "$rc" -eq 2 ] || fail "--threads '$bad': exit $rc, expected 2"
	grep -q -- "--threads" "$T/bad.err" || fail "--threads '$bad': no message naming the option: $(cat "$T/bad.err")"
	[ ! -e "$T/bad" ] || fail "--threads '$bad': restore ran anyway"
done
# An archive is written by one thread whatever --threads says.
coffer restore --repo "$R" latest --to-archive "$T/x.pax" --threads 8 --quiet ||
	fail "--threads with --to-archive failed"
echo "restore_parallel: 1, 2 and 8 threads identical; damage contained alike"
