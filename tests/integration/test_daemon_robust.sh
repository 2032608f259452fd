# Hostile and broken clients on every daemon socket: garbage, a frame
# longer than the protocol allows, frames cut short, a frame of another
# version or an unknown type, a valid request sent one byte at a time,
# a client that sends half a frame and goes quiet, 70 clients at once,
# and a client that disconnects while watching a backup. None may crash,
# hang or slow down a daemon: after each, and while the slow clients are
# still connected, a well-behaved client is answered at once; the backup
# whose watcher vanished completes.
source "$(dirname "$0")/lib.sh"

command -v python3 >/dev/null || skip "python3 is needed for the raw protocol client"
appliance_init "$T/app"
daemons=(backupd)
daemon_start backupd
for d in restored scheduler; do
	if [ -x "$(daemon_bin "$d")" ]; then
		daemon_start "$d"
		daemons+=("$d")
	fi
done
"$COFFER" dataset create robust --level 1 --owner test --quiet || fail "dataset create"
mkdir -p "$T/src"
head -c 20000000 /dev/urandom >"$T/src/big.bin"

cat >"$T/client.py" <<'PY'
import os, socket, struct, sys, time

run, name, case = sys.argv[1], sys.argv[2], sys.argv[3]
path = os.path.join(run, name + ".sock")

def frame(mtype, reqid, payload=b"", version=1):
    return struct.pack("<IHHI", 8 + len(payload), version, mtype, reqid) + payload

def s_(text):
    b = text.encode()
    return struct.pack("<I", len(b)) + b

def connect():
    c = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    c.settimeout(5)
    c.connect(path)
    return c

def recv_frame(c):
    head = b""
    while len(head) < 4:
        chunk = c.recv(4 - len(head))
        if not chunk:
            raise EOFError("closed")
        head += chunk
    (n,) = struct.unpack("<I", head)
    body = b""
    while len(body) < n:
        chunk = c.recv(n - len(body))
        if not chunk:
            raise EOFError("closed")
        body += chunk
    version, mtype, reqid = struct.unpack("<HHI", body[:8])
    return mtype, reqid, body[8:]

def healthy():
    """A well-behaved client gets STATUS answered promptly."""
    c = connect()
    t = time.time()
    c.sendall(frame(0x0002, 7))
    mtype, reqid, _ = recv_frame(c)
    c.close()
    assert mtype == 0x8002 and reqid == 7, (hex(mtype), reqid)
    assert time.time() - t < 2, "status took %.1f s" % (time.time() - t)

def expect_error_then_close(c, code=None):
    mtype, _, body = recv_frame(c)
    assert mtype == 0xFFFF, "expected an error reply, got 0x%04x" % mtype
    (got,) = struct.unpack("<I", body[:4])
    if code is not None:
        assert got == code, "error code %d, wanted %d" % (got, code)
    try:
        rest = c.recv(1)
    except socket.timeout:
        raise AssertionError("the daemon kept a malformed client")
    assert rest == b"", "data after the error"

EPROTO, EPROTONOSUPPORT, EOPNOTSUPP = 71, 93, 95

if case == "garbage":
    c = connect()
    c.sendall(b"\x0c\x00\x00\x00" + os.urandom(12))  # a frame of random type and bytes
    try:
        expect_error_then_close(c)
    except EOFError:
        pass  # closing without a reply is fine too
    healthy()
elif case == "oversized":
    c = connect()
    c.sendall(struct.pack("<I", (1 << 20) + 1))  # refused from the length alone
    expect_error_then_close(c, EPROTO)
    healthy()
elif case == "tiny":
    c = connect()
    c.sendall(struct.pack("<I", 3) + b"abc")
    expect_error_then_close(c, EPROTO)
    healthy()
elif case == "version":
    c = connect()
    c.sendall(frame(0x0002, 1, version=2))
    expect_error_then_close(c, EPROTONOSUPPORT)
    healthy()
elif case == "unknown":
    c = connect()
    c.sendall(frame(0x0999, 1))
    expect_error_then_close(c, EPROTO)
    healthy()
elif case == "wrongtype":
    c = connect()
    c.sendall(frame(0x8002, 5, s_("x") + s_("y") + b"\0" * 8 + b"\0" + b"\0" * 8 + s_("")))
    mtype, reqid, body = recv_frame(c)  # a reply sent as a request: refused, kept open
    assert mtype == 0xFFFF and struct.unpack("<I", body[:4])[0] == EOPNOTSUPP, hex(mtype)
    c.sendall(frame(0x0002, 6))
    mtype, reqid, _ = recv_frame(c)
    assert mtype == 0x8002 and reqid == 6
    healthy()
elif case == "truncated":
    # A request cut short and the connection closed: nothing to answer.
    for cut in (1, 4, 7, 11):
        c = connect()
        c.sendall(frame(0x0001, 1, s_("cut"))[:cut])
        c.close()
    # A payload shorter than its schema: refused.
    c = connect()
    c.sendall(frame(0x0022, 2, struct.pack("<I", 50) + b"short"))
    expect_error_then_close(c, EPROTO)
    healthy()
elif case == "slow":
    # One byte every 20 ms: answered, and others are served meanwhile.
    c = connect()
    data = frame(0x0001, 9, s_("slow client"))
    for i, b in enumerate(data):
        c.sendall(bytes([b]))
        if i % 5 == 0:
            healthy()
        time.sleep(0.02)
    mtype, reqid, _ = recv_frame(c)
    assert mtype == 0x8001 and reqid == 9, hex(mtype)
elif case == "stalled":
    # Half a frame, then silence: dropped after the frame timeout (10 s);
    # meanwhile everyone else is served.
    c = connect()
    c.settimeout(30)
    c.sendall(frame(0x0001, 3, s_("never finished"))[:10])
    t = time.time()
    healthy()
    try:
        data = c.recv(1)
    except ConnectionResetError:
        data = b""
    waited = time.time() - t
    assert data == b"", "the stalled client got data"
    assert 8 <= waited <= 25, "dropped after %.1f s" % waited
    healthy()
elif case == "many":
    # More clients than the daemon serves at once: the extra ones are
    # refused, the daemon stays up, and once they go others are served.
    conns = []
    for i in range(70):
        try:
            conns.append(connect())
        except OSError:
            break
    for c in conns:
        c.close()
    time.sleep(0.3)
    healthy()
elif case == "watch_and_vanish":
    # Start a backup with watch=1, read the reply, and disconnect.
    c = connect()
    payload = (s_("robust") + struct.pack("<I", 1) + s_(sys.argv[4]) + struct.pack("<I", 0)
               + s_("") + struct.pack("<I", 1) + b"\x01")
    c.sendall(frame(0x0040, 11, payload))
    mtype, reqid, body = recv_frame(c)
    assert mtype == 0x8040, "backup refused: %r" % body
    (job,) = struct.unpack("<Q", body[:8])
    c.close()
    print(job)
    healthy()
else:
    raise SystemExit("unknown case " + case)
PY

for d in "${daemons[@]}"; do
	for case in garbage oversized tiny version unknown wrongtype truncated slow many; do
		python3 "$T/client.py" "$COFFER_RUN_DIR" "$d" "$case" ||
			fail "coffer-$d: case $case"
	done
done
# One daemon for the slow path that takes the frame timeout.
python3 "$T/client.py" "$COFFER_RUN_DIR" backupd stalled || fail "coffer-backupd: stalled client"

job=$(python3 "$T/client.py" "$COFFER_RUN_DIR" backupd watch_and_vanish "$T/src") ||
	fail "watch_and_vanish"
# The job goes on without its watcher and succeeds.
for i in $(seq 1 300); do
	state=$(python3 - "$COFFER_RUN_DIR" "$job" <<'PY'
import os, socket, struct, sys
c = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
c.connect(os.path.join(sys.argv[1], "backupd.sock"))
c.sendall(struct.pack("<IHHIQ", 16, 1, 0x0061, 1, int(sys.argv[2])))
head = c.recv(4, socket.MSG_WAITALL)
(n,) = struct.unpack("<I", head)
body = b""
while len(body) < n:
    body += c.recv(n - len(body))
p = body[8 + 8:]
def s(p):
    (l,) = struct.unpack("<I", p[:4])
    return p[4:4 + l], p[4 + l:]
kind, p = s(p)
dataset, p = s(p)
daemon, p = s(p)
state, p = s(p)
print(state.decode())
PY
)
	[ "$state" = succeeded ] && break
	case $state in failed | cancelled | interrupted) fail "job $job ended $state" ;; esac
	sleep 0.1
done
[ "$state" = succeeded ] || fail "job $job did not finish (state $state)"
# Every daemon is still the process that was started.
for d in "${daemons[@]}"; do
	var="DAEMON_PID_$d"
	kill -0 "${!var}" 2>/dev/null || fail "coffer-$d died"
done
echo "ok"
