# Archives on the console: `backup --from-archive -` reads tar (plain and
# gzip), cpio and zip streams from standard input and `backup --from-archive
# FILE` names the snapshot after the file; `restore --to-archive -` writes
# pax, cpio and zip to standard output (summary on stderr), and other tools
# read them back: GNU tar for pax, a newc parser (or cpio) for cpio, Python's
# zipfile for zip. Round trips through each format keep what it can carry;
# garbage on stdin is refused without writing a snapshot.
source "$(dirname "$0")/lib.sh"
# "producer | ingest" sets RC in this shell.
shopt -s lastpipe

[ -x "$TREECMP" ] || fail "treecmp not built at $TREECMP"
HAVE_PY=0
command -v python3 >/dev/null && HAVE_PY=1

R=$T/repo
S=$T/src
new_repo "$R"

# A tree every format here can carry, with whole-second times (cpio and zip
# keep no fractions; zip's are even seconds).
mkdir -p "$S/dir/nested" "$S/private"
printf 'hello\n' >"$S/a.txt"
: >"$S/empty"
head -c 200000 /dev/urandom >"$S/dir/random.bin"
printf 'nested\n' >"$S/dir/nested/n.txt"
printf 'spaced\n' >"$S/dir/with space.txt"
printf 'secret\n' >"$S/private/p.txt"
chmod 640 "$S/private/p.txt"
chmod 750 "$S/private"
ln "$S/a.txt" "$S/dir/a-link.txt"
ln -s ../a.txt "$S/dir/sym"
mkfifo "$S/fifo"
find "$S" -exec touch -h -d @1600000000 {} +

count_snaps() { snapshot_ids "$R" | wc -l; }
# ingest LABEL: backup --from-archive - from stdin; sets RC.
ingest() {
	RC=0
	coffer backup --repo "$R" --quiet --from-archive - 2>"$T/$1.err" || RC=$?
	cat "$T/$1.err" >&2
}
# restore_latest DIR: restores the newest snapshot into DIR.
restore_latest() { coffer restore --repo "$R" latest --target "$1" --quiet; }
# same LABEL A B [treecmp options]: the trees must be identical.
same() {
	local label=$1 rc=0
	shift
	"$TREECMP" --no-atime "$@" >"$T/cmp.out" 2>&1 || rc=$?
	if [ "$rc" -ne 0 ]; then
		head -n 40 "$T/cmp.out" >&2
		soft_fail "$label: restored tree differs from the source"
	fi
}

# --- tar from stdin (GNU tar, pax and gzip) -------------------------------------------
tar --format=pax -cf - -C "$T" src | ingest tar
[ "$RC" -eq 0 ] || soft_fail "backup --from-archive - (pax tar on stdin): exit $RC"
restore_latest "$T/r_tar" || soft_fail "restore of the tar-ingested snapshot failed"
same "tar from stdin" "$S" "$T/r_tar/src"
if [ "$HAVE_PY" -eq 1 ]; then
	coffer snapshots --repo "$R" --json | python3 -c '
import json, sys
s = json.load(sys.stdin)
assert len(s) == 1 and s[0]["paths"] == ["-"], [x["paths"] for x in s]' ||
		soft_fail "snapshot from stdin is not named '-'"
fi

tar --format=gnu -czf - -C "$T" src | ingest targz
[ "$RC" -eq 0 ] || soft_fail "backup --from-archive - (gzip tar on stdin): exit $RC"
restore_latest "$T/r_targz" || soft_fail "restore of the tar.gz-ingested snapshot failed"
same "tar.gz from stdin" "$S" "$T/r_targz/src"

# From a file: the snapshot's path is the file name as given.
tar --format=pax -cf "$T/file.tar" -C "$T" src
coffer backup --repo "$R" --quiet --from-archive "$T/file.tar" ||
	soft_fail "backup --from-archive FILE failed"
coffer snapshots --repo "$R" >"$T/snaps.txt"
grep -qF "$T/file.tar" "$T/snaps.txt" || soft_fail "snapshot from a file is not named after it"
if [ "$HAVE_PY" -eq 1 ]; then
	coffer snapshots --repo "$R" --json | python3 -c '
import json, sys
s = [x for x in json.load(sys.stdin) if x["paths"] == [sys.argv[1]]]
assert len(s) == 1, "no snapshot with paths == [file]"' "$T/file.tar" ||
		soft_fail "snapshot paths of --from-archive FILE are not [FILE]"
fi
coffer ls --repo "$R" latest >"$T/ls.txt" || soft_fail "ls of the archive snapshot failed"
grep -qE ' /src/dir/nested/n\.txt$' "$T/ls.txt" || soft_fail "archive snapshot does not list /src/dir/nested/n.txt"

# --- cpio from stdin ---------------------------------------------------------------------
if command -v cpio >/dev/null; then
	(cd "$T" && find src | cpio -o -H newc 2>/dev/null) | ingest cpio
	[ "$RC" -eq 0 ] || soft_fail "backup --from-archive - (cpio on stdin): exit $RC"
	restore_latest "$T/r_cpio" || soft_fail "restore of the cpio-ingested snapshot failed"
	same "cpio from stdin" "$S" "$T/r_cpio/src"
elif [ "$HAVE_PY" -eq 1 ]; then
	# No cpio(1): a newc writer as GNU cpio writes it (hard links share an
	# inode number, the data on the last name).
	python3 - "$T" src <<'EOF' | ingest cpio
import os, stat, sys
os.chdir(sys.argv[1])
out = sys.stdout.buffer
entries = []
for top, dirs, files in os.walk(sys.argv[2]):
    dirs.sort()
    entries.append(top)
    entries += [os.path.join(top, f) for f in sorted(files)]
    entries += [os.path.join(top, d) for d in dirs if os.path.islink(os.path.join(top, d))]
last = {}
for e in entries:
    st = os.lstat(e)
    if not stat.S_ISDIR(st.st_mode) and st.st_nlink > 1:
        last[st.st_ino] = e
def put(name, st, data):
    n = name.encode() + b"\0"
    f = [st.st_ino, st.st_mode, st.st_uid, st.st_gid, st.st_nlink, int(st.st_mtime), len(data),
         os.major(st.st_dev), os.minor(st.st_dev), os.major(st.st_rdev), os.minor(st.st_rdev),
         len(n), 0]
    h = b"070701" + b"".join(b"%08X" % x for x in f) + n
    out.write(h + b"\0" * (-len(h) % 4) + data + b"\0" * (-len(data) % 4))
for e in entries:
    st = os.lstat(e)
    data = b""
    if stat.S_ISLNK(st.st_mode):
        data = os.readlink(e).encode()
    elif stat.S_ISREG(st.st_mode) and (st.st_nlink == 1 or last.get(st.st_ino) == e):
        data = open(e, "rb").read()
    put(e, st, data)
class Z: st_ino = st_mode = st_uid = st_gid = st_mtime = st_dev = st_rdev = 0; st_nlink = 1
put("TRAILER!!!", Z, b"")
EOF
	[ "$RC" -eq 0 ] || soft_fail "backup --from-archive - (newc cpio on stdin): exit $RC"
	restore_latest "$T/r_cpio" || soft_fail "restore of the cpio-ingested snapshot failed"
	same "cpio from stdin" "$S" "$T/r_cpio/src"
else
	echo "SKIP: neither cpio nor python3: no foreign cpio ingested (coffer's own is, below)" >&2
fi

# --- zip from stdin (made by Python's zipfile) --------------------------------------------
if [ "$HAVE_PY" -eq 1 ]; then
	# zipfile follows symlinks and cannot store FIFOs or links: a plain tree.
	Z=$T/zsrc
	mkdir -p "$Z/src/d"
	printf 'zipped\n' >"$Z/src/z.txt"
	head -c 100000 /dev/urandom >"$Z/src/d/bin"
	: >"$Z/src/d/empty"
	(cd "$Z" && python3 -m zipfile -c "$T/in.zip" src)
	# through a pipe, not seekable (cat on purpose)
	# shellcheck disable=SC2002
	cat "$T/in.zip" | ingest zip
	[ "$RC" -eq 0 ] || soft_fail "backup --from-archive - (zip through a pipe): exit $RC"
	restore_latest "$T/r_zip" || soft_fail "restore of the zip-ingested snapshot failed"
	diff -r "$Z/src" "$T/r_zip/src" >&2 || soft_fail "zip from stdin: content differs"
else
	echo "SKIP: python3 not found: no zip ingested from stdin" >&2
fi

# --- garbage on stdin --------------------------------------------------------------------
before=$(count_snaps)
head -c 100000 /dev/urandom | ingest garbage
[ "$RC" -eq 1 ] || soft_fail "backup --from-archive - of random bytes: exit $RC, want 1"
[ "$(count_snaps)" -eq "$before" ] || soft_fail "random bytes on stdin produced a snapshot"
# docs/archive.md: zero bytes (a failed producer) is refused, no snapshot;
# a valid archive without entries (an empty tar) gives an empty snapshot.
before=$(count_snaps)
: | ingest emptyin
[ "$RC" -eq 1 ] || soft_fail "backup --from-archive - of empty stdin: exit $RC, want 1 (documented)"
grep -q "empty" "$T/emptyin.err" || soft_fail "empty stdin: the error does not say the input is empty"
[ "$(count_snaps)" -eq "$before" ] || soft_fail "empty stdin produced a snapshot"
head -c 1024 /dev/zero | ingest emptytar
[ "$RC" -eq 0 ] || soft_fail "backup --from-archive - of an empty tar: exit $RC, want 0"
[ "$(count_snaps)" -eq $((before + 1)) ] || soft_fail "an empty tar gave no snapshot"
coffer ls --repo "$R" latest >"$T/ls_empty.txt" || soft_fail "ls of the empty snapshot failed"
[ ! -s "$T/ls_empty.txt" ] || soft_fail "the snapshot of an empty tar is not empty"

# --- to-archive on stdout -----------------------------------------------------------------
coffer backup --repo "$R" --quiet "$S" || fail "backup of the source failed"
# out FORMAT [RC]: restore latest to stdout, a pipe (not seekable), into
# $T/out.FORMAT; stdout must hold only the archive. Exit RC (default 0).
out() {
	local want=${2:-0}
	{
		RC=0
		coffer restore --repo "$R" latest --to-archive - --format "$1" 2>"$T/out.$1.err" || RC=$?
		echo "$RC" >"$T/out.$1.rc"
	} | cat >"$T/out.$1"
	RC=$(cat "$T/out.$1.rc")
	[ "$RC" -eq "$want" ] ||
		soft_fail "restore --to-archive - --format $1: exit $RC, want $want: $(cat "$T/out.$1.err")"
	grep -q "restored snapshot" "$T/out.$1.err" ||
		soft_fail "--to-archive - --format $1: no summary on stderr"
}
P=${S#/}

out pax
tar -tvf "$T/out.pax" >"$T/pax.list" 2>&1 || soft_fail "GNU tar cannot list coffer's pax: $(head -5 "$T/pax.list")"
grep -qF "$P/dir/nested/n.txt" "$T/pax.list" || soft_fail "pax listing misses $P/dir/nested/n.txt"
grep -qE "^l.* $P/dir/sym -> \.\./a\.txt\$" "$T/pax.list" || soft_fail "pax listing shows no symlink dir/sym"
grep -qE "^h.* $P/(dir/a-link\.txt link to $P/a\.txt|a\.txt link to $P/dir/a-link\.txt)\$" "$T/pax.list" ||
	soft_fail "pax listing shows no hard link between a.txt and dir/a-link.txt"
grep -q "^-rw-r----- .* $P/private/p.txt\$" "$T/pax.list" || soft_fail "pax listing: wrong mode for private/p.txt"
mkdir "$T/x_pax"
tar -xpf "$T/out.pax" -C "$T/x_pax" || soft_fail "GNU tar cannot extract coffer's pax"
same "pax to stdout, extracted by GNU tar" "$S" "$T/x_pax$S"
# back in through stdin
ingest pax_back <"$T/out.pax"
[ "$RC" -eq 0 ] || soft_fail "coffer's pax back through stdin: exit $RC"
restore_latest "$T/r_pax_back" || soft_fail "restore of the pax round trip failed"
same "coffer pax round trip via stdin" "$S" "$T/r_pax_back$S"

out cpio
if [ "$HAVE_PY" -eq 1 ]; then
	# A newc reader: prints mode (octal), nlink, mtime, size and name per entry.
	python3 - "$T/out.cpio" >"$T/cpio.list" <<'EOF' || soft_fail "coffer's cpio is not valid newc: $(tail -3 "$T/cpio.list")"
import sys
d = open(sys.argv[1], "rb").read()
off = 0
while True:
    h = d[off:off + 110]
    assert len(h) == 110 and h[:6] == b"070701", "bad header at %d" % off
    f = [int(h[6 + 8 * i:14 + 8 * i], 16) for i in range(13)]
    mode, nlink, mtime, size, namesize = f[1], f[4], f[5], f[6], f[11]
    name = d[off + 110:off + 110 + namesize - 1]
    off = (off + 110 + namesize + 3) & ~3
    if name == b"TRAILER!!!":
        break
    print("%o %d %d %d %s" % (mode, nlink, mtime, size, name.decode("utf-8", "backslashreplace")))
    off = (off + size + 3) & ~3
EOF
	grep -qE "^100640 1 1600000000 7 $P/private/p.txt\$" "$T/cpio.list" ||
		soft_fail "cpio: private/p.txt entry wrong: $(grep p.txt "$T/cpio.list")"
	grep -qE "^120777 1 1600000000 8 $P/dir/sym\$" "$T/cpio.list" || soft_fail "cpio: no symlink entry dir/sym"
	grep -qE "^10644 1 1600000000 0 $P/fifo\$" "$T/cpio.list" || soft_fail "cpio: no fifo entry"
	grep -qE "^100644 2 1600000000 [0-9]+ $P/dir/a-link.txt\$" "$T/cpio.list" ||
		soft_fail "cpio: hard link dir/a-link.txt does not show nlink 2"
fi
if command -v cpio >/dev/null; then
	cpio -t <"$T/out.cpio" >/dev/null 2>&1 || soft_fail "cpio -t cannot read coffer's cpio"
fi
ingest cpio_back <"$T/out.cpio"
[ "$RC" -eq 0 ] || soft_fail "coffer's cpio back through stdin: exit $RC"
restore_latest "$T/r_cpio_back" || soft_fail "restore of the cpio round trip failed"
same "coffer cpio round trip via stdin" "$S" "$T/r_cpio_back$S"

# zip holds no FIFO: it is left out, named and counted as an error (exit 1).
out zip 1
grep -qF "$P/fifo" "$T/out.zip.err" || soft_fail "--format zip: the FIFO left out is not named"
if [ "$HAVE_PY" -eq 1 ]; then
	python3 - "$T/out.zip" "$P" "$S" <<'EOF' || soft_fail "coffer's zip is wrong (see above)"
import os, stat, sys, zipfile
z = zipfile.ZipFile(sys.argv[1])
assert z.testzip() is None, "bad CRC"
p, src = sys.argv[2], sys.argv[3]
names = {i.filename.rstrip("/"): i for i in z.infolist()}
for rel in ["a.txt", "empty", "dir/random.bin", "dir/nested/n.txt", "dir/with space.txt",
            "private/p.txt", "dir/a-link.txt"]:
    i = names.get(p + "/" + rel)
    assert i is not None, "missing " + rel
    assert z.read(i) == open(os.path.join(src, rel), "rb").read(), "content of " + rel
for d in ["dir", "dir/nested", "private"]:
    assert p + "/" + d in names, "missing directory " + d
s = names.get(p + "/dir/sym")
assert s is not None, "missing symlink dir/sym"
assert stat.S_ISLNK(s.external_attr >> 16), "dir/sym is not stored as a symlink"
assert z.read(s) == b"../a.txt", "symlink target"
m = names[p + "/private/p.txt"].external_attr >> 16
assert stat.S_IMODE(m) == 0o640, "mode of private/p.txt is %o" % m
print("zip ok: %d entries" % len(names))
EOF
fi
ZIPPED=(a.txt empty dir/random.bin dir/nested/n.txt "dir/with space.txt" private/p.txt dir/a-link.txt)
# Back in with stdin a regular file: libarchive reads the central directory,
# so modes and symlinks come back (docs/archive.md).
ingest zip_back <"$T/out.zip"
[ "$RC" -eq 0 ] || soft_fail "coffer's zip back through stdin (a file): exit $RC"
restore_latest "$T/r_zip_back" || soft_fail "restore of the zip round trip failed"
for rel in "${ZIPPED[@]}"; do
	cmp -s "$S/$rel" "$T/r_zip_back$S/$rel" || soft_fail "zip round trip: $rel differs or is missing"
done
[ "$(readlink "$T/r_zip_back$S/dir/sym" 2>/dev/null)" = ../a.txt ] ||
	soft_fail "zip round trip: dir/sym is not a symlink to ../a.txt"
[ "$(stat -c %a "$T/r_zip_back$S/private/p.txt" 2>/dev/null)" = 640 ] ||
	soft_fail "zip round trip: private/p.txt lost its mode 640"
# Back in through a pipe: the content survives (modes and symlinks need the
# central directory, which a stream reader does not see).
# shellcheck disable=SC2002
cat "$T/out.zip" | ingest zip_pipe
[ "$RC" -eq 0 ] || soft_fail "coffer's zip back through a pipe: exit $RC"
restore_latest "$T/r_zip_pipe" || soft_fail "restore of the piped zip failed"
for rel in "${ZIPPED[@]}"; do
	cmp -s "$S/$rel" "$T/r_zip_pipe$S/$rel" || soft_fail "zip through a pipe: $rel differs or is missing"
done

# --json summary goes to stderr too when the archive is on stdout.
RC=0
coffer restore --repo "$R" latest --to-archive - --json --include "$S/dir" >"$T/j.pax" 2>"$T/j.err" ||
	RC=$?
[ "$RC" -eq 0 ] || soft_fail "restore --to-archive - --json: exit $RC"
grep -q '"snapshot":' "$T/j.err" || soft_fail "--to-archive - --json: JSON not on stderr"
tar -tf "$T/j.pax" >"$T/j.list" 2>&1 || soft_fail "--to-archive - --json: stdout is not a clean archive"
grep -qx "$P/dir/nested/n.txt" "$T/j.list" || soft_fail "--to-archive --include $S/dir misses dir/nested/n.txt"
grep -q "private\|a\.txt\$" "$T/j.list" && soft_fail "--to-archive --include $S/dir wrote entries outside it"

finish_checks
echo "archive cli: all checks passed"
