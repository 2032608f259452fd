# Device sanitization (core/erase) on loop devices: a 64 MiB device full
# of a marker is overwritten and verified with each method through
# tests/tools/wipetool (until `coffer erase device`, which needs the
# approval workflow, exists); afterwards no block of the device holds the
# marker, the content is what the method's final pass writes, and the
# verification is reported. Refused, with the reason, and untouched: a
# regular file given as a device, a mounted device, a disk whose partition
# is mounted, the partition itself; Purge on a device without secure erase
# is refused and never claimed. Needs root (losetup, mount).
source "$(dirname "$0")/lib.sh"

WIPETOOL=${WIPETOOL:-$COFFER_BUILD/tests/wipetool}
[ -x "$WIPETOOL" ] || fail "wipetool not built at $WIPETOOL"
is_root || skip "needs root for loop devices"
for c in losetup mkfs.ext4 mount umount blockdev gzip; do
	command -v "$c" >/dev/null || skip "$c not installed"
done

# Loop devices and mounts this test made, undone on exit whatever happens;
# then lib.sh's cleanup removes $T with the exit status kept.
LOOPS=()
MOUNTS=()
wipe_cleanup() {
	local rc=$? m l
	set +e
	for m in "${MOUNTS[@]:-}"; do
		[ -n "$m" ] && { umount "$m" 2>/dev/null || umount -l "$m" 2>/dev/null; }
	done
	for l in "${LOOPS[@]:-}"; do
		[ -n "$l" ] && losetup -d "$l" 2>/dev/null
	done
	(exit "$rc")
	cleanup
}
trap wipe_cleanup EXIT

# new_loop IMG [losetup options]: attaches IMG; the device is in $LOOP and
# recorded for the cleanup (so not to be called in a subshell).
new_loop() {
	local img=$1
	shift
	LOOP=$(losetup -f --show "$@" "$img") || skip "losetup cannot attach a loop device here"
	LOOPS+=("$LOOP")
}

SIZE=$((64 << 20))
MARK=COFFER-MARKER-0123456789
# mark DEV: the marker in every 4 KiB block (a 25-byte line, repeated), to the device.
mark() {
	{ yes "$MARK" || true; } | head -c "$SIZE" |
		dd of="$1" bs=1M iflag=fullblock oflag=direct conv=fsync status=none ||
		fail "cannot write the marker to $1"
}
# marker_lines DEV: lines of the device's content (read past the cache) holding the marker.
marker_lines() {
	dd if="$1" bs=1M iflag=direct status=none | grep -a -c -F "COFFER-MARKER" || true
}
# field FILE KEY: the value of KEY= in wipetool's output.
field() { sed -n "s/^$2=//p" "$1" | head -1; }

truncate -s "$SIZE" "$T/disk.img"
new_loop "$T/disk.img"
DEV=$LOOP
[ "$(blockdev --getsize64 "$DEV")" -eq "$SIZE" ] || fail "$DEV is not $SIZE bytes"

"$WIPETOOL" probe "$DEV" >"$T/probe" || fail "probe $DEV: $(cat "$T/probe")"
[ "$(field "$T/probe" size)" = "$SIZE" ] || fail "probe size: $(cat "$T/probe")"
[ "$(field "$T/probe" name)" = "$(basename "$DEV")" ] || fail "probe name: $(cat "$T/probe")"
[ "$(field "$T/probe" partition)" = no ] || fail "probe says partition"
[ "$(field "$T/probe" nvme)" = no ] || fail "probe says NVMe"

# Each method, and the zero method once more on the plain-syscall engine.
for run in zero:uring random:uring bmb21:uring zero:sync; do
	m=${run%%:*} engine=${run#*:}
	mark "$DEV"
	before=$(marker_lines "$DEV")
	[ "$before" -gt 1000 ] || fail "the marker is not on $DEV before the $m wipe ($before lines)"
	out=$T/$m.$engine.out
	if [ "$engine" = sync ]; then
		COFFER_IO_ENGINE=sync "$WIPETOOL" device "$DEV" "$m" --progress >"$out" 2>"$T/err" ||
			fail "wipe $m ($engine): $(cat "$T/err" "$out")"
	else
		"$WIPETOOL" device "$DEV" "$m" --progress >"$out" 2>"$T/err" ||
			fail "wipe $m ($engine): $(cat "$T/err" "$out")"
	fi
	passes=1
	[ "$m" = bmb21 ] && passes=3
	[ "$(field "$out" method)" = "$m" ] || fail "$m: method reported: $(cat "$out")"
	[ "$(field "$out" nist)" = Clear ] || fail "$m: not reported as a Clear: $(cat "$out")"
	[ "$(field "$out" target)" = "block device" ] || fail "$m: target: $(cat "$out")"
	[ "$(field "$out" engine)" = "$engine" ] || fail "$m: engine: $(cat "$out")"
	[ "$(field "$out" passes_done)" = "$passes" ] || fail "$m: passes: $(cat "$out")"
	for p in $(seq "$passes"); do
		[ "$(field "$out" "pass${p}_bytes")" = "$SIZE" ] || fail "$m: pass $p not whole: $(cat "$out")"
	done
	[ "$(field "$out" verify)" = passed ] || fail "$m: verification not passed: $(cat "$out")"
	[ "$(field "$out" verified_bytes)" = "$SIZE" ] || fail "$m: verified bytes: $(cat "$out")"
	[ "$(field "$out" direct_write)" = yes ] || fail "$m: not O_DIRECT: $(cat "$out")"
	[ "$(field "$out" read_path)" = O_DIRECT ] || fail "$m: verified through the cache: $(cat "$out")"
	# The job is every pass and the verification read: the last line says all of it.
	mib=$((64 * (passes + 1)))
	[ "$(tail -1 "$T/err")" = "verifying: $mib / $mib MiB" ] ||
		fail "$m: no final progress line: $(cat "$T/err")"

	# Every block of the device, read past the page cache: no marker left.
	after=$(marker_lines "$DEV")
	[ "$after" -eq 0 ] || fail "$m: $after lines of $DEV still hold the marker"
	# ...and the content is the final pass.
	if [ "$m" = zero ]; then
		dd if="$DEV" bs=1M iflag=direct status=none | cmp -s - <(head -c "$SIZE" /dev/zero) ||
			fail "$m: $DEV is not all zeros"
	else
		# A keystream does not compress (zeros, 0xFF or the marker would).
		z=$(dd if="$DEV" bs=1M iflag=direct status=none | gzip -1 | wc -c)
		[ "$z" -gt "$SIZE" ] || fail "$m: $DEV compresses to $z bytes: not the random pass"
	fi
done

# A pattern from the configuration replaces bmb21's passes and is recorded.
mark "$DEV"
"$WIPETOOL" device "$DEV" bmb21 --pattern 0xff,0x00,0xaa >"$T/pat.out" 2>"$T/err" ||
	fail "patterned wipe: $(cat "$T/err")"
[ "$(field "$T/pat.out" pattern)" = "0xff,0x00,0xaa" ] || fail "pattern: $(cat "$T/pat.out")"
dd if="$DEV" bs=1M iflag=direct status=none | cmp -s - <(head -c "$SIZE" /dev/zero | tr '\0' '\252') ||
	fail "the configured pattern's last pass (0xaa) is not on $DEV"

# Purge: a loop device has no secure erase; refused, nothing claimed, nothing touched.
mark "$DEV"
expect_rc 3 "$WIPETOOL" purge "$DEV" >"$T/purge.out" 2>"$T/err"
grep -q "has no secure erase" "$T/err" || fail "purge refusal without reason: $(cat "$T/err")"
[ -z "$(field "$T/purge.out" nist)" ] || fail "purge claims $(field "$T/purge.out" nist)"
[ "$(marker_lines "$DEV")" -gt 1000 ] || fail "a refused purge changed $DEV"

# A regular file given as the device: refused, untouched.
{ yes "$MARK" || true; } | head -c $((1 << 20)) >"$T/plain.img"
cp "$T/plain.img" "$T/plain.orig"
expect_rc 1 "$WIPETOOL" device "$T/plain.img" zero 2>"$T/err" >/dev/null
grep -q "is not a block device (a regular file)" "$T/err" || fail "file refusal: $(cat "$T/err")"
cmp -s "$T/plain.img" "$T/plain.orig" || fail "the refused file was changed"

# A mounted device: refused, naming where it is mounted; the filesystem is intact.
truncate -s $((32 << 20)) "$T/fs.img"
new_loop "$T/fs.img"
FSDEV=$LOOP
mkfs.ext4 -q -F "$FSDEV" || fail "mkfs.ext4 $FSDEV"
mkdir "$T/mnt"
mount "$FSDEV" "$T/mnt" || skip "cannot mount a loop device here"
MOUNTS+=("$T/mnt")
echo "keep me" >"$T/mnt/file"
sync
expect_rc 1 "$WIPETOOL" device "$FSDEV" zero 2>"$T/err" >/dev/null
grep -qF "is mounted at $T/mnt" "$T/err" || fail "mounted refusal: $(cat "$T/err")"
expect_rc 1 "$WIPETOOL" probe "$FSDEV" 2>"$T/err" >/dev/null
grep -qF "is mounted at $T/mnt" "$T/err" || fail "mounted probe: $(cat "$T/err")"
[ "$(cat "$T/mnt/file")" = "keep me" ] || fail "the mounted filesystem was touched"

# Dataset erasure's case at small scale: a file on ext4 (data=ordered, the
# default) wiped and unlinked; afterwards the raw device holds no marker,
# since ext4 overwrites a file's blocks in place and journals metadata only.
{ yes "$MARK" || true; } | head -c $((3 << 20)) >"$T/mnt/pack"
sync
[ "$(marker_lines "$FSDEV")" -gt 1000 ] || fail "the marker file is not on $FSDEV"
"$WIPETOOL" file "$T/mnt" pack random >"$T/file.out" 2>"$T/err" || fail "file wipe: $(cat "$T/err")"
[ ! -e "$T/mnt/pack" ] || fail "the wiped file is still there"
[ "$(field "$T/file.out" fs)" = ext4 ] || fail "fs: $(cat "$T/file.out")"
[ "$(field "$T/file.out" direct_write)" = yes ] || fail "file not O_DIRECT: $(cat "$T/file.out")"
[ "$(field "$T/file.out" verify)" = passed ] || fail "file verify: $(cat "$T/file.out")"
sync
[ "$(marker_lines "$FSDEV")" -eq 0 ] || fail "the wiped file's marker is still on $FSDEV"

# ext4 with data=journal does no direct I/O (it would silently buffer, and
# the journal keeps a copy of the data): the wipe says so and is buffered.
truncate -s $((32 << 20)) "$T/jfs.img"
new_loop "$T/jfs.img"
JDEV=$LOOP
mkfs.ext4 -q -F "$JDEV" || fail "mkfs.ext4 $JDEV"
mkdir "$T/jmnt"
if mount -o data=journal "$JDEV" "$T/jmnt"; then
	MOUNTS+=("$T/jmnt")
	{ yes "$MARK" || true; } | head -c $((1 << 20)) >"$T/jmnt/pack"
	sync
	"$WIPETOOL" file "$T/jmnt" pack zero >"$T/j.out" 2>"$T/err" || fail "data=journal wipe: $(cat "$T/err")"
	[ "$(field "$T/j.out" direct_write)" = no ] || fail "data=journal claimed O_DIRECT: $(cat "$T/j.out")"
	[ "$(field "$T/j.out" read_path)" = "fadvise DONTNEED" ] || fail "read path: $(cat "$T/j.out")"
	grep -q "^note=.*does no direct I/O" "$T/j.out" || fail "no note: $(cat "$T/j.out")"
	umount "$T/jmnt"
	MOUNTS=("$T/mnt")
	# Not asserted, reported: what the journal still holds.
	echo "info: data=journal: $(marker_lines "$JDEV") lines of the raw device still hold the marker" >&2
fi

# A disk whose partition holds a mounted filesystem, and that partition.
truncate -s $((32 << 20)) "$T/part.img"
le32() { printf '\\x%02x\\x%02x\\x%02x\\x%02x' $(($1 & 255)) $((($1 >> 8) & 255)) \
	$((($1 >> 16) & 255)) $((($1 >> 24) & 255)); }
# One MBR entry: not bootable, type 0x83, from sector 2048 to the end.
# shellcheck disable=SC2059 # the format is the entry's bytes
printf "\\x00\\x00\\x00\\x00\\x83\\x00\\x00\\x00$(le32 2048)$(le32 $((65536 - 2048)))" |
	dd of="$T/part.img" bs=1 seek=446 conv=notrunc status=none
printf '\x55\xaa' | dd of="$T/part.img" bs=1 seek=510 conv=notrunc status=none
new_loop "$T/part.img" -P
PDEV=$LOOP
for _ in $(seq 20); do [ -b "${PDEV}p1" ] && break; sleep 0.1; done
# A kernel without the MBR parser (CONFIG_MSDOS_PARTITION) is told the
# partition directly (BLKPG), as partx does.
if [ ! -b "${PDEV}p1" ] && command -v addpart >/dev/null; then
	addpart "$PDEV" 1 2048 $((65536 - 2048)) || true
	for _ in $(seq 20); do [ -b "${PDEV}p1" ] && break; sleep 0.1; done
fi
[ -b "${PDEV}p1" ] || skip "no partition device ${PDEV}p1 (partitions unavailable)"
mkfs.ext4 -q -F "${PDEV}p1" || fail "mkfs.ext4 ${PDEV}p1"
mkdir "$T/pmnt"
mount "${PDEV}p1" "$T/pmnt" || fail "mount ${PDEV}p1"
MOUNTS+=("$T/pmnt")
expect_rc 1 "$WIPETOOL" device "$PDEV" zero 2>"$T/err" >/dev/null
grep -qF "its partition $(basename "$PDEV")p1" "$T/err" || fail "disk refusal: $(cat "$T/err")"
grep -qF "is mounted at $T/pmnt" "$T/err" || fail "disk refusal: $(cat "$T/err")"
expect_rc 1 "$WIPETOOL" device "${PDEV}p1" zero 2>"$T/err" >/dev/null
grep -qF "is mounted at $T/pmnt" "$T/err" || fail "partition refusal: $(cat "$T/err")"
# Unmounted, the partition is a device like any other.
umount "$T/pmnt"
MOUNTS=("$T/mnt")
"$WIPETOOL" device "${PDEV}p1" zero >"$T/p1.out" 2>"$T/err" || fail "wipe p1: $(cat "$T/err")"
[ "$(field "$T/p1.out" verified_bytes)" = $(((65536 - 2048) * 512)) ] ||
	fail "p1 verified: $(cat "$T/p1.out")"
echo "ok"
