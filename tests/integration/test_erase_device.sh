# coffer erase device on a loop device, through the approval process
# (issue 7): a device request, its quorum, the overwrite with the BMB21
# pattern through coffer-erased; afterwards no block of the device holds
# the earlier marker, and the certificate verifies and reports the
# verification pass. Refused: a request for a mounted device, for a
# regular file, an execution named for another device than the request,
# and one whose device changed (resized) after approval.
source "$(dirname "$0")/lib.sh"

is_root || skip "loop devices need root"
command -v losetup >/dev/null || skip "losetup is needed"
command -v openssl >/dev/null || skip "openssl is needed"
command -v python3 >/dev/null || skip "python3 is needed"
for d in backupd erased; do
	[ -x "$(daemon_bin $d)" ] || skip "coffer-$d is not built"
done

LOOPS=()
detach() { for l in "${LOOPS[@]:-}"; do [ -z "$l" ] || losetup -d "$l" 2>/dev/null || true; done; }
trap 'rc=$?; daemon_stop erased; daemon_stop backupd; umount "$T/mnt" 2>/dev/null || true; detach; (exit $rc); cleanup' EXIT
attach() { # attach IMAGE: the loop device in LOOP (not in a subshell: LOOPS must keep it)
	LOOP=$(losetup -f --show "$1") || skip "cannot attach a loop device here"
	LOOPS+=("$LOOP")
}
# A 32 MiB image of marker lines.
python3 -c '
import sys
line = b"COFFER-DEVICE-MARKER-%08d-0123456789abcdef\n"
with open(sys.argv[1], "wb") as f:
    for i in range(32 * 1024 * 1024 // 48):
        f.write(line % i)
' "$T/disk.img"
truncate -s 32M "$T/disk.img"
attach "$T/disk.img"
DEV=$LOOP
# scan DEV: how many 4 KiB blocks still hold a marker.
scan() {
	python3 - "$1" <<'EOF'
import os, sys
fd = os.open(sys.argv[1], os.O_RDONLY | os.O_DIRECT)
import mmap
buf = mmap.mmap(-1, 1 << 20)
found = 0
while True:
    n = os.readv(fd, [buf])
    if n == 0:
        break
    data = buf[:n]
    for off in range(0, n, 4096):
        if b"COFFER-DEVICE-MARKER" in data[off:off + 4096 + 40]:
            found += 1
print(found)
EOF
}
[ "$(scan "$DEV")" -gt 8000 ] || fail "the marker is not on the device before: $(scan "$DEV")"

appliance_init "$T/app"
daemon_start backupd
daemon_start erased
mkdir -p "$T/k"
for n in ann ben sue; do
	openssl genpkey -algorithm ED25519 -out "$T/k/$n.pem" 2>/dev/null || fail "genpkey"
	openssl pkey -in "$T/k/$n.pem" -pubout -out "$T/k/$n.pub" || fail "pubout"
done
coffer approver add ann --pubkey "$T/k/ann.pub" --role approver --quiet || fail "add ann"
coffer approver add ben --pubkey "$T/k/ben.pub" --role approver --quiet || fail "add ben"
coffer approver add sue --pubkey "$T/k/sue.pub" --role supervisor --quiet || fail "add sue"
approve_all() { for n in ann ben sue; do coffer erase approve "$1" --key "$T/k/$n.pem" --quiet || fail "$n approves $1"; done; }
refused() {
	local why=$1
	shift
	expect_rc "${RC:-1}" "$@" >"$T/out" 2>"$T/err"
	grep -q -- "$why" "$T/err" "$T/out" || fail "'$*' not refused with '$why': $(cat "$T/err" "$T/out")"
}

# Refused requests: a mounted device, a regular file, a relative path.
truncate -s 16M "$T/m.img"
mkfs.ext4 -q -F "$T/m.img" >/dev/null 2>&1 || fail "mkfs"
attach "$T/m.img"
MDEV=$LOOP
mkdir -p "$T/mnt"
mount "$MDEV" "$T/mnt" || skip "cannot mount here"
refused "mounted" coffer erase request --device "$MDEV" --level 1 --reason r --legal-basis l
umount "$T/mnt"
refused "not a block device" coffer erase request --device "$T/disk.img" --level 1 --reason r \
	--legal-basis l
RC=2 refused "needs --dataset NAME" coffer erase request --device "$DEV" --reason r --legal-basis l

cd "$T" || fail "cd"
REQ=$(coffer erase request --device "$DEV" --level 1 --reason "decommissioned disk" \
	--legal-basis "media rule 4" --quiet) || fail "erase request --device"
coffer erase show "$REQ" --json | grep -q '"scope":"device"' || fail "not a device request"
refused "without its full quorum" coffer erase device "$DEV" --request "$REQ"
approve_all "$REQ"
refused "is not for device $MDEV" coffer erase device "$MDEV" --request "$REQ"
# A loop device has no secure erase: Purge is refused, not claimed, and another method may follow.
refused "failed: purge of $DEV failed" coffer erase device "$DEV" --request "$REQ" --method purge
coffer erase device "$DEV" --request "$REQ" --method bmb21 >"$T/out" || fail "erase device: $(cat "$T/out")"
grep -q "^ok: device $DEV (33554432 bytes) overwritten with bmb21 (0x00,0xff,random), Clear: passed" "$T/out" ||
	fail "erase device said: $(cat "$T/out")"
[ "$(scan "$DEV")" = 0 ] || fail "$(scan "$DEV") blocks still hold the marker"
# The final pass is the random one: no block is all 0x00 or all 0xFF.
python3 - "$DEV" <<'EOF' || fail "the device does not hold the final random pass"
import sys
d = open(sys.argv[1], "rb").read()
for off in range(0, len(d), 4096):
    b = d[off:off + 4096]
    assert b.count(b[0]) != len(b), "block at %d is one repeated byte" % off
EOF
coffer erase certificate "$REQ" --out "$T/cert" || fail "certificate"
coffer erase verify-certificate "$T/cert" --public-key "$COFFER_STATE_DIR/audit/sign.pem" >"$T/out" ||
	fail "verify-certificate: $(cat "$T/out")"
for f in "scope device" "media block device $DEV, identity " "keys-destroyed none" \
	"method-type Clear" "method bmb21: 0x00,0xff,random" \
	"verification full read-back of the final pass from the device: passed"; do
	grep -q "^$f" "$T/cert" || fail "the certificate lacks '$f': $(cat "$T/cert")"
done

# A device that changed after approval (resized) is refused at execution.
truncate -s 24M "$T/disk2.img"
attach "$T/disk2.img"
DEV2=$LOOP
REQ2=$(coffer erase request --device "$DEV2" --level 1 --reason r --legal-basis l --quiet) ||
	fail "request 2"
approve_all "$REQ2"
truncate -s 28M "$T/disk2.img"
losetup -c "$DEV2" || fail "losetup -c"
refused "not the device the request approved" coffer erase device "$DEV2" --request "$REQ2"

coffer audit show --json --op "erase done" | grep -q "device $DEV" || fail "no audit record of the device's destruction"
echo "ok"
