#!/bin/bash
# Delta blobs end to end (docs/format/delta.md): a large file changed in
# place by small scattered writes is backed up again for about the bytes
# written, not a chunk per write; both snapshots restore exactly; stats
# reports the deltas; check --read-data verifies them; pruning the first
# snapshot keeps the bases the second needs; a damaged delta is named by
# check and costs only the file that needs it.
. "$(dirname "$0")/lib.sh"

R=$T/repo
SRC=$T/src
N_WRITES=50
mkdir -p "$SRC"
new_repo "$R" --chunk-min 32768 --chunk-avg 131072 --chunk-max 524288
# 64 MiB of random data in 128 KiB chunks (about 512): small chunks make
# it likely that some writes touch a cut point, which the backup must
# survive without storing whole chunks (chunk_stream.c keeps the old cuts).
head -c $((64 << 20)) /dev/urandom >"$SRC/big"
head -c $((3 << 20)) /dev/urandom >"$SRC/other"
coffer backup --repo "$R" --quiet "$SRC" || fail "first backup failed"
snap1=$(snapshot_ids "$R")
cp "$SRC/big" "$T/big.v1"
packs_before=$(find "$R/data" -type f | sort)

# N_WRITES random 4 KiB writes in place.
size=$((64 << 20))
for _ in $(seq "$N_WRITES"); do
	off=$(rand_below $((size / 4096)))
	dd if=/dev/urandom of="$SRC/big" bs=4096 count=1 seek="$off" conv=notrunc status=none
done
written=$((N_WRITES * 4096))

before=$(du -sb "$R" | cut -f1)
coffer backup --repo "$R" --quiet "$SRC" || fail "second backup failed"
after=$(du -sb "$R" | cut -f1)
growth=$((after - before))
# Allowance: besides the deltas (about 4.6 KiB per 4 KiB write: the
# literal bytes, up to one 512-byte signature block more, commands, AEAD),
# the backup writes the file's tree blob (about 512 extents of some 44
# bytes: 23 KiB), the root trees, an index file (48 bytes a blob), the
# snapshot file and pack headers and trailers: under 64 KiB together.
limit=$((3 * written + (64 << 10)))
echo "repository growth $growth bytes for $written bytes written (limit $limit)"
[ "$growth" -le "$limit" ] || fail "growth $growth exceeds 3x the $written bytes written + 64 KiB"
# Tighter: each write costs about 1.15x its bytes once chunk boundaries
# survive the writes. Without that, the few writes that touch a cut point
# (about 6 % at these sizes) each store a whole chunk or two, which this
# usually catches.
[ "$growth" -le $((2 * written + (64 << 10))) ] ||
	fail "growth $growth exceeds 2x the $written bytes written + 64 KiB: whole chunks stored?"
snap2=$(snapshot_ids "$R" | grep -v "$snap1")
packs_new=$(find "$R/data" -type f | sort | comm -13 <(echo "$packs_before") -)

# stats: the deltas and what they save
coffer stats --repo "$R" --json >"$T/stats.json" || fail "stats failed"
deltas=$(json_num delta_blobs <"$T/stats.json")
saved=$(json_num delta_saved_bytes <"$T/stats.json")
[ -n "$deltas" ] && [ "$deltas" -ge 1 ] || fail "stats reports no delta blobs: $(cat "$T/stats.json")"
# a write across a cut changes two chunks
[ "$deltas" -le $((2 * N_WRITES)) ] || fail "more delta blobs ($deltas) than changed chunks"
# each delta saves a chunk (at least 32 KiB) minus its few KiB
[ "$saved" -ge $((deltas * (20 << 10))) ] ||
	fail "stats reports $saved bytes saved by $deltas deltas"
coffer stats --repo "$R" | grep -q "^delta blobs: *$deltas, saving" ||
	fail "stats text output lacks the delta line"

# both snapshots restore exactly
coffer restore --repo "$R" "$snap1" --target "$T/r1" --quiet || fail "restore of snapshot 1 failed"
cmp "$T/big.v1" "$T/r1$SRC/big" || fail "snapshot 1 restored wrong"
coffer restore --repo "$R" "$snap2" --target "$T/r2" --quiet || fail "restore of snapshot 2 failed"
cmp "$SRC/big" "$T/r2$SRC/big" || fail "snapshot 2 restored wrong"
cmp "$SRC/other" "$T/r2$SRC/other" || fail "snapshot 2 restored other wrong"
rm -rf "$T/r1" "$T/r2"

coffer check --repo "$R" --read-data --quiet || fail "check --read-data failed"

# forget the first snapshot, prune: the bases stay, the second restores
coffer forget --repo "$R" --keep-last 1 --quiet || fail "forget failed"
coffer prune --repo "$R" --quiet || fail "prune failed"
[ "$(snapshot_ids "$R")" = "$snap2" ] || fail "forget kept the wrong snapshot"
coffer check --repo "$R" --read-data --quiet || fail "check --read-data after prune failed"
coffer restore --repo "$R" "$snap2" --target "$T/r3" --quiet || fail "restore after prune failed"
cmp "$SRC/big" "$T/r3$SRC/big" || fail "snapshot 2 restored wrong after prune"
rm -rf "$T/r3"

# damage the delta pack: the largest pack the second backup wrote (the
# other one holds its trees), in the middle of its blobs
dpack=$(for p in $packs_new; do [ -f "$p" ] && echo "$(stat -c %s "$p") $p"; done |
	sort -n | tail -1 | cut -d' ' -f2)
[ -n "$dpack" ] || fail "no pack of the second backup survived prune"
dname=$(basename "$dpack")
flip_byte "$dpack" $(($(stat -c %s "$dpack") / 3))
rc=0
"$COFFER" check --repo "$R" --read-data >"$T/check.out" 2>"$T/check.err" || rc=$?
[ "$rc" -eq 1 ] || fail "check of a damaged delta pack: exit $rc, expected 1"
grep -q "$dname" "$T/check.err" || fail "check does not name the damaged pack: $(cat "$T/check.err")"
grep -q "$SRC/big" "$T/check.err" || fail "check names no affected file: $(cat "$T/check.err")"
grep -q "$SRC/other" "$T/check.err" && fail "check names other, which needs no delta"
rc=0
"$COFFER" restore --repo "$R" "$snap2" --target "$T/r4" >"$T/out" 2>"$T/restore.err" || rc=$?
[ "$rc" -ne 0 ] || fail "restore of a file with a damaged delta exited 0"
[ "$rc" -lt 128 ] || fail "restore crashed (exit $rc)"
grep -q "big" "$T/restore.err" || fail "restore does not name big: $(cat "$T/restore.err")"
cmp "$SRC/other" "$T/r4$SRC/other" || fail "other, untouched by the damage, not restored"
exit 0
