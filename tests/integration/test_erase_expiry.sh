# Retention expiry (issue 7): when a dataset's level sets
# dataset_retention and that time has passed, coffer-scheduler files its
# destruction request with coffer-erased (the scheduler's clock is the
# test's, --clock-file). The request names the rule as its legal basis,
# still needs every approval (execution is refused without them), is
# filed once while it is open, and a dataset whose level keeps it for ever
# or that is still young gets none.
source "$(dirname "$0")/lib.sh"

command -v python3 >/dev/null || skip "python3 is needed"
for d in backupd erased scheduler; do
	[ -x "$(daemon_bin $d)" ] || skip "coffer-$d is not built"
done

appliance_init "$T/app"
cat >"$COFFER_CONFIG_DIR/levels.conf" <<'EOF'
[level 1]
name = short
pool = pools/short
dataset_retention = 30d
[level 2]
name = forever
pool = pools/forever
EOF
CLOCK=$T/clock
set_clock() { echo "$1" >"$CLOCK.tmp" && mv "$CLOCK.tmp" "$CLOCK"; }
set_clock "$(date +%s)"
daemon_start backupd
daemon_start erased
coffer dataset create old --level 1 --owner a --quiet || fail "create old"
coffer dataset create keep --level 2 --owner b --quiet || fail "create keep"
daemon_start scheduler --clock-file "$CLOCK"
requests() { coffer erase list --json | python3 -c 'import json,sys; print(len(json.load(sys.stdin)))'; }

# Day 29: nothing is due.
set_clock $(($(date +%s) + 29 * 86400))
sleep 6
[ "$(requests)" = 0 ] || fail "a request was filed before the retention ended: $(coffer erase list)"

# Day 31: the request for 'old' is filed, once.
set_clock $(($(date +%s) + 31 * 86400))
for _ in $(seq 1 150); do
	[ "$(requests)" != 0 ] && break
	sleep 0.1
done
coffer erase list --json >"$T/list.json"
python3 - "$T/list.json" <<'EOF' || fail "the filed requests: $(cat "$T/list.json")"
import json, sys
l = json.load(open(sys.argv[1]))
assert len(l) == 1, l
assert l[0]["dataset"] == "old" and l[0]["state"] == "pending" and l[0]["scope"] == "dataset"
assert not l[0]["quorum"]
EOF
REQ=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))[0]["request"])' "$T/list.json")
coffer erase show "$REQ" --json >"$T/show.json" || fail "show"
python3 - "$T/show.json" <<'EOF' || fail "the request's reason and basis: $(cat "$T/show.json")"
import json, sys
d = json.load(open(sys.argv[1]))
assert "the retention period of dataset 'old' ended on" in d["reason"], d["reason"]
assert "filed by coffer-scheduler" in d["reason"]
assert d["legal_basis"] == "levels.conf: level 1 (short), dataset_retention = 30d", d["legal_basis"]
EOF
grep -q "ALERT: the retention of dataset 'old' ended" "$T/app/log/scheduler.log" ||
	fail "the scheduler did not say it filed the request"
expect_rc 1 coffer erase execute "$REQ" 2>"$T/err"
grep -q "without its full quorum" "$T/err" || fail "executed without approvals: $(cat "$T/err")"
# More checks later: still one request.
sleep 6
[ "$(requests)" = 1 ] || fail "the request was filed again: $(coffer erase list)"
python3 - "$COFFER_STATE_DIR/sched.db" <<'EOF' || fail "the filing is not kept in sched.db"
import sqlite3, sys
rows = sqlite3.connect(sys.argv[1]).execute(
    "SELECT dataset, state FROM schedule WHERE kind = 'expiry'").fetchall()
assert rows and rows[0][0] == "old" and rows[0][1] in ("filed", "refused"), rows
EOF
daemon_stop scheduler
daemon_stop erased
daemon_stop backupd
echo "ok"
