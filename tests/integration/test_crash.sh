# Crash safety: SIGKILL at a random moment of a backup or of a prune never
# costs an earlier snapshot. After each kill, check passes (orphan packs are
# allowed), the snapshots that existed still restore byte for byte, and the
# next run completes. Two backups into one repository at the same time both
# succeed.
source "$(dirname "$0")/lib.sh"

ITER_BACKUP=${CRASH_ITER_BACKUP:-25}
ITER_PRUNE=${CRASH_ITER_PRUNE:-20}
BIG=$((30 * 1024 * 1024)) # packs are 16 MiB: two full packs and a partial one
START=$(date +%s)

R=$T/repo
SRC=$T/src
new_repo "$R" --chunk-min 4096 --chunk-avg 16384 --chunk-max 65536

# A few hundred small files in a few directories, and one large file.
mkdir -p "$SRC/dir0" "$SRC/dir1" "$SRC/dir2" "$SRC/dir3"
head -c 1200000 /dev/urandom >"$T/smalls"
split -a 3 -b 3000 "$T/smalls" "$SRC/dir0/f-"
n=0
for f in "$SRC"/dir0/f-*; do
	n=$((n + 1))
	[ $((n % 4)) -eq 0 ] || mv "$f" "$SRC/dir$((n % 4))/"
done
rm -f "$T/smalls"
head -c $BIG /dev/urandom >"$SRC/big"

t0=$(date +%s%N)
coffer backup --repo "$R" --quiet "$SRC" || fail "baseline backup failed"
# Kills land anywhere in a backup (a few finish first): at least 300 ms, longer when
# the binary is slow (sanitizers), so that some land after packs are written.
window=$((($(date +%s%N) - t0) / 1000000 * 6 / 5))
[ "$window" -ge 300 ] || window=300
[ "$window" -le 4000 ] || window=4000
base_id=$(snapshot_ids "$R")
cp -a "$SRC" "$T/base"
good_id=$base_id # the newest completed snapshot and its copy
cp -a "$SRC" "$T/good"

# delay MAX [MIN]: a random time of MIN..MAX milliseconds (MIN defaults to
# 1), as sleep(1) takes it.
delay() {
	local lo=${2:-1}
	local ms=$((lo + RANDOM % ($1 - lo + 1)))
	printf '%d.%03d' $((ms / 1000)) $((ms % 1000))
}
# run_killed DELAY CMD...: runs coffer CMD in the background, SIGKILLs that
# process (and only it) after DELAY seconds unless it has finished, reaps it
# and sets $krc to its exit status: 137 if it was killed.
run_killed() {
	local d=$1 pid
	shift
	"$COFFER" "$@" >/dev/null 2>"$T/killed.err" &
	pid=$!
	BG_PIDS+=("$pid")
	sleep "$d"
	kill -KILL "$pid" 2>/dev/null || true
	krc=0
	wait "$pid" 2>/dev/null || krc=$?
}

# restores SNAP and compares it with the copy COPY of what was backed up.
restores_as() {
	local snap=$1 copy=$2 dst=$T/restore-check
	rm -rf "$dst"
	coffer restore --repo "$R" "$snap" --target "$dst" --quiet ||
		fail "$3: snapshot $snap no longer restores"
	diff -r "$copy" "$dst$SRC" >&2 || fail "$3: snapshot $snap restored differently"
	rm -rf "$dst"
}

check_ok() {
	local rc=0
	coffer check --repo "$1" >"$T/check.out" 2>"$T/check.err" || rc=$?
	[ "$rc" -eq 0 ] || fail "$2: check failed (exit $rc): $(cat "$T/check.out" "$T/check.err")"
}

killed=0
finished=0
with_packs=0
for i in $(seq 1 "$ITER_BACKUP"); do
	# New content each round, so each backup writes packs.
	head -c $BIG /dev/urandom >"$SRC/big"
	echo "round $i" >>"$(find "$SRC/dir1" -type f -name "f-*" -print -quit)"
	echo "new file of round $i" >"$SRC/dir2/round-$i"
	snapshot_ids "$R" >"$T/ids.before"
	packs_before=$(pack_count "$R")
	# Mostly after start-up, when chunks and packs are being written.
	d=$(delay "$window" $((RANDOM % 4 == 0 ? 1 : window / 3)))
	run_killed "$d" backup --repo "$R" --quiet "$SRC"
	case $krc in
	137) killed=$((killed + 1)) ;;
	0) finished=$((finished + 1)) ;;
	*) fail "round $i: backup exited $krc before it was killed: $(cat "$T/killed.err")" ;;
	esac
	what="backup round $i (killed after $d s: exit $krc)"
	snapshot_ids "$R" >"$T/ids.after"
	[ -z "$(comm -23 "$T/ids.before" "$T/ids.after")" ] || fail "$what: a snapshot disappeared"
	check_ok "$R" "$what"
	[ "$(pack_count "$R")" -gt "$packs_before" ] && [ "$krc" -eq 137 ] && with_packs=$((with_packs + 1))
	# Alternate between the baseline and the newest completed snapshot.
	if [ $((i % 2)) -eq 1 ]; then
		restores_as "$base_id" "$T/base" "$what"
	else
		restores_as "$good_id" "$T/good" "$what"
	fi
	# The next backup completes; it becomes the newest good snapshot.
	t0=$(date +%s%N)
	j=$(coffer backup --repo "$R" --json "$SRC") || fail "$what: the next backup failed"
	# It did what the killed one did: its duration sets the next window.
	window=$((($(date +%s%N) - t0) / 1000000 * 6 / 5))
	[ "$window" -ge 300 ] || window=300
	[ "$window" -le 4000 ] || window=4000
	good_id=$(grep -o '"snapshot":"[0-9a-f]*"' <<<"$j" | cut -d'"' -f4)
	rm -rf "$T/good"
	cp -a "$SRC" "$T/good"
done
echo "backup: kills within ${window} ms at the end; $killed of $ITER_BACKUP runs killed mid-run, $finished finished first;" \
	"$with_packs of the killed runs had written packs"
[ "$killed" -gt 0 ] || fail "no backup was killed mid-run: the test proves nothing"
coffer check --repo "$R" --read-data >"$T/check.out" 2>"$T/check.err" ||
	fail "check --read-data after the backup rounds: $(cat "$T/check.out" "$T/check.err")"
restores_as "$base_id" "$T/base" "after the backup rounds"
restores_as "$good_id" "$T/good" "after the backup rounds"

# --- SIGKILL during prune ---
# Each round: a backup with a file to keep and a file to drop (same pack),
# then the dropped file is deleted and a second backup made; forgetting the
# first leaves a half-used pack, so prune must rewrite and delete.
P=$T/prepo
PS=$T/psrc
new_repo "$P" --chunk-min 4096 --chunk-avg 16384 --chunk-max 65536
mkdir -p "$PS"
head -c 2000000 /dev/urandom >"$PS/keep-0"
killed=0
finished=0
pwindow=150
changed=0
for i in $(seq 1 "$ITER_PRUNE"); do
	head -c 3000000 /dev/urandom >"$PS/keep-$i"
	head -c 6000000 /dev/urandom >"$PS/drop-$i"
	coffer backup --repo "$P" --quiet "$PS" || fail "prune round $i: backup failed"
	rm -f "$PS/drop-$i"
	[ "$i" -gt 3 ] && rm -f "$PS/keep-$((i - 3))"
	j=$(coffer backup --repo "$P" --json "$PS") || fail "prune round $i: second backup failed"
	kept=$(grep -o '"snapshot":"[0-9a-f]*"' <<<"$j" | cut -d'"' -f4)
	rm -rf "$T/kept"
	cp -a "$PS" "$T/kept"
	coffer forget --repo "$P" --keep-last 1 --quiet || fail "prune round $i: forget failed"
	pstate=$(find "$P/data" "$P/index" -type f | sort)
	d=$(delay "$pwindow")
	run_killed "$d" prune --repo "$P" --quiet
	# A prune takes from a few to a hundred milliseconds: the window adapts
	# so that about half the kills land inside one.
	case $krc in
	137) killed=$((killed + 1)) pwindow=$((pwindow * 5 / 4 > 400 ? 400 : pwindow * 5 / 4)) ;;
	0) finished=$((finished + 1)) pwindow=$((pwindow * 2 / 3 < 3 ? 3 : pwindow * 2 / 3)) ;;
	*) fail "prune round $i: prune exited $krc before it was killed: $(cat "$T/killed.err")" ;;
	esac
	[ "$krc" -eq 137 ] && [ "$(find "$P/data" "$P/index" -type f | sort)" != "$pstate" ] &&
		changed=$((changed + 1))
	what="prune round $i (killed after $d s: exit $krc)"
	[ "$(snapshot_ids "$P")" = "$kept" ] || fail "$what: the kept snapshot is not the only one"
	check_ok "$P" "$what"
	dst=$T/prestore
	rm -rf "$dst"
	coffer restore --repo "$P" "$kept" --target "$dst" --quiet || fail "$what: kept snapshot does not restore"
	diff -r "$T/kept" "$dst$PS" >&2 || fail "$what: kept snapshot restored differently"
	rm -rf "$dst"
done
echo "prune: $killed of $ITER_PRUNE runs killed mid-run, $finished finished first;" \
	"$changed of the killed runs had changed packs or index files"
[ "$killed" -gt 0 ] || fail "no prune was killed mid-run: the test proves nothing"
before=$(pack_bytes "$P")
coffer prune --repo "$P" --quiet || fail "the final prune failed"
coffer check --repo "$P" --read-data --json >"$T/check.out" 2>"$T/check.err" ||
	fail "check --read-data after the final prune: $(cat "$T/check.out" "$T/check.err")"
[ "$(json_num orphan_packs <"$T/check.out")" = 0 ] ||
	fail "orphan packs remain after the final prune: $(cat "$T/check.out")"
after=$(pack_bytes "$P")
# What is left is about the kept files (at most 4 of 3 MB and keep-0).
[ "$after" -le $((4 * 3000000 + 2000000 + 1000000)) ] ||
	fail "the final prune left $after pack bytes (was $before)"
dst=$T/prestore
coffer restore --repo "$P" "$kept" --target "$dst" --quiet || fail "kept snapshot does not restore after the final prune"
diff -r "$T/kept" "$dst$PS" >&2 || fail "kept snapshot restored differently after the final prune"

# --- two backups into one repository at the same time ---
C=$T/crepo
new_repo "$C" --chunk-min 4096 --chunk-avg 16384 --chunk-max 65536
mkdir -p "$T/ca" "$T/cb"
head -c 12000000 /dev/urandom >"$T/ca/a"
head -c 12000000 /dev/urandom >"$T/cb/b"
head -c 3000000 /dev/urandom >"$T/ca/shared"
cp "$T/ca/shared" "$T/cb/shared"
"$COFFER" backup --repo "$C" --json "$T/ca" >"$T/ja" 2>"$T/ea" &
pa=$!
BG_PIDS+=("$pa")
"$COFFER" backup --repo "$C" --json "$T/cb" >"$T/jb" 2>"$T/eb" &
pb=$!
BG_PIDS+=("$pb")
rca=0
rcb=0
wait "$pa" || rca=$?
wait "$pb" || rcb=$?
[ "$rca" -eq 0 ] || fail "concurrent backup A exited $rca: $(cat "$T/ea")"
[ "$rcb" -eq 0 ] || fail "concurrent backup B exited $rcb: $(cat "$T/eb")"
ida=$(grep -o '"snapshot":"[0-9a-f]*"' "$T/ja" | cut -d'"' -f4)
idb=$(grep -o '"snapshot":"[0-9a-f]*"' "$T/jb" | cut -d'"' -f4)
[ "$(snapshot_ids "$C" | wc -l)" -eq 2 ] || fail "concurrent backups: not 2 snapshots listed"
snapshot_ids "$C" | grep -qx "$ida" || fail "concurrent backups: snapshot A not listed"
snapshot_ids "$C" | grep -qx "$idb" || fail "concurrent backups: snapshot B not listed"
coffer check --repo "$C" --read-data >"$T/check.out" 2>"$T/check.err" ||
	fail "check after concurrent backups: $(cat "$T/check.out" "$T/check.err")"
coffer restore --repo "$C" "$ida" --target "$T/rca" --quiet || fail "snapshot A does not restore"
coffer restore --repo "$C" "$idb" --target "$T/rcb" --quiet || fail "snapshot B does not restore"
diff -r "$T/ca" "$T/rca$T/ca" || fail "snapshot A restored differently"
diff -r "$T/cb" "$T/rcb$T/cb" || fail "snapshot B restored differently"

echo "crash: ok in $(($(date +%s) - START)) s"
