# Forget and prune: --keep-last keeps exactly the newest snapshots; prune
# then frees the data only the forgotten snapshots held, leaves a repository
# that checks clean with its data read, and the kept snapshots restore
# byte for byte. forget without a keep rule is a usage error.
source "$(dirname "$0")/lib.sh"

R=$T/repo
SRC=$T/src
new_repo "$R" --chunk-min 4096 --chunk-avg 16384 --chunk-max 65536
mkdir -p "$SRC/common"
head -c 500000 /dev/urandom >"$SRC/common/shared"
echo "constant" >"$SRC/common/note"

# Six snapshots; snapshot i alone holds the 1 MB file unique-i.
ids=()
for i in 1 2 3 4 5 6; do
	rm -f "$SRC"/unique-*
	head -c 1048576 /dev/urandom >"$SRC/unique-$i"
	echo "version $i" >"$SRC/common/note"
	j=$(coffer backup --repo "$R" --json "$SRC") || fail "backup $i failed"
	ids+=("$(grep -o '"snapshot":"[0-9a-f]*"' <<<"$j" | cut -d'"' -f4)")
	rm -rf "$T/copy-$i"
	cp -a "$SRC" "$T/copy-$i"
done
[ "$(snapshot_ids "$R" | wc -l)" -eq 6 ] || fail "expected 6 snapshots"

# No keep rule: usage error, nothing removed.
expect_rc 2 coffer forget --repo "$R"
expect_rc 2 coffer forget --repo "$R" --keep-last 0
expect_rc 2 coffer forget --repo "$R" --prune
expect_rc 2 coffer forget --repo "$R" --keep-last two
[ "$(snapshot_ids "$R" | wc -l)" -eq 6 ] || fail "a refused forget removed snapshots"

# Forget changes no pack: only snapshot files go.
pb0=$(pack_bytes "$R")
pc0=$(pack_count "$R")
out=$(coffer forget --repo "$R" --keep-last 2 --json) || fail "forget --keep-last 2 failed"
[ "$(json_num kept <<<"$out")" = 2 ] || fail "forget did not report 2 kept: $out"
[ "$(json_num removed <<<"$out")" = 4 ] || fail "forget did not report 4 removed: $out"
printf '%s\n' "${ids[4]}" "${ids[5]}" | sort >"$T/want"
snapshot_ids "$R" >"$T/have"
diff "$T/want" "$T/have" || fail "forget --keep-last 2 did not keep the two newest snapshots"
[ "$(pack_bytes "$R")" -eq "$pb0" ] && [ "$(pack_count "$R")" -eq "$pc0" ] ||
	fail "forget alone changed the packs"
coffer check --repo "$R" --quiet || fail "check after forget failed"

# Forgetting again removes nothing.
out=$(coffer forget --repo "$R" --keep-last 2 --json) || fail "second forget failed"
[ "$(json_num removed <<<"$out")" = 0 ] || fail "second forget removed snapshots: $out"

# Prune frees the four unique files (4 MiB of random data).
out=$(coffer prune --repo "$R" --json) || fail "prune failed"
pb1=$(pack_bytes "$R")
[ "$pb1" -lt "$pb0" ] || fail "prune did not reduce pack bytes ($pb0 -> $pb1)"
[ $((pb0 - pb1)) -ge $((4 * 1048576 * 95 / 100)) ] ||
	fail "prune freed only $((pb0 - pb1)) bytes of about 4 MiB unique data: $out"
[ "$(json_num bytes_before <<<"$out")" -eq "$pb0" ] ||
	fail "prune's bytes_before $(json_num bytes_before <<<"$out") differs from the pack bytes $pb0"
[ "$(json_num bytes_after <<<"$out")" -eq "$pb1" ] ||
	fail "prune's bytes_after $(json_num bytes_after <<<"$out") differs from the pack bytes $pb1"
[ "$(json_num packs_after <<<"$out")" -eq "$(pack_count "$R")" ] ||
	fail "prune's packs_after differs from the packs on disk: $out"
# What is left is about the kept data: shared, unique-5, unique-6 and trees.
[ "$pb1" -le $((500000 + 2 * 1048576 + 200000)) ] ||
	fail "after prune $pb1 pack bytes remain, more than the kept data"

coffer check --repo "$R" --read-data --json >"$T/check.json" 2>"$T/check.err" ||
	fail "check --read-data after prune: $(cat "$T/check.json" "$T/check.err")"
[ "$(json_num orphan_packs <"$T/check.json")" = 0 ] || fail "orphan packs after prune: $(cat "$T/check.json")"
for k in 5 6; do
	coffer restore --repo "$R" "${ids[$((k - 1))]}" --target "$T/r$k" --quiet ||
		fail "kept snapshot $k does not restore"
	diff -r "$T/copy-$k" "$T/r$k$SRC" || fail "kept snapshot $k restored differently"
done
# Forgotten snapshots are gone for good.
expect_rc 1 coffer restore --repo "$R" "${ids[0]}" --target "$T/gone" --quiet

# A second prune has nothing to do.
out=$(coffer prune --repo "$R" --json) || fail "second prune failed"
[ "$(json_num packs_deleted <<<"$out")" = 0 ] && [ "$(json_num packs_rewritten <<<"$out")" = 0 ] ||
	fail "a second prune still changed packs: $out"
[ "$(pack_bytes "$R")" -eq "$pb1" ] || fail "a second prune changed the pack bytes"

# forget --prune in one step keeps the newest snapshot, which still restores.
out=$(coffer forget --repo "$R" --keep-last 1 --prune --quiet) || fail "forget --prune failed"
[ "$(snapshot_ids "$R")" = "${ids[5]}" ] || fail "forget --keep-last 1 --prune kept the wrong snapshot"
[ "$(pack_bytes "$R")" -lt "$pb1" ] || fail "forget --prune freed nothing (unique-5 was only in the forgotten snapshot)"
coffer check --repo "$R" --read-data --quiet || fail "check after forget --prune failed"
coffer restore --repo "$R" latest --target "$T/r6b" --quiet || fail "newest snapshot does not restore"
diff -r "$T/copy-6" "$T/r6b$SRC" || fail "newest snapshot restored differently after forget --prune"
echo "forget_prune: ok"
