#!/usr/bin/env bash
# The main job on the embedded default: builds Coffer, then in one work
# directory creates a sample tree, a repository, backs the tree up, changes
# it, backs it up again, lists the snapshots, restores the latest one,
# verifies it against the source and the repository, and prints a summary.
# Usage: scripts/demo.sh [WORKDIR]   (default: ./demo-work, recreated)
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/deps.sh
bin=$(scripts/build.sh release coffer)/console/coffer

work=$(realpath -m "${1:-demo-work}")
rm -rf "$work"
mkdir -p "$work"
src=$work/source repo=$work/repo target=$work/restore
export COFFER_PASSPHRASE_FILE=$work/passphrase
head -c 24 /dev/urandom | base64 >"$COFFER_PASSPHRASE_FILE"
chmod 600 "$COFFER_PASSPHRASE_FILE"

step() { printf '\n== %s\n' "$*"; }

step "sample tree in $src"
mkdir -p "$src/docs/reports" "$src/db" "$src/empty dir"
for i in $(seq 1 40); do
	printf 'Report %d of the department of records.\n%s\n' "$i" "$(seq 1 $((i * 50)))" \
		>"$src/docs/reports/report-$i.txt"
done
head -c 3000000 /dev/urandom >"$src/db/tablespace.bin"
truncate -s 64M "$src/db/sparse.img"
printf 'in the middle' | dd of="$src/db/sparse.img" bs=1 seek=$((32 << 20)) conv=notrunc status=none
ln -s reports/report-1.txt "$src/docs/latest"
ln "$src/docs/reports/report-2.txt" "$src/docs/hardlink.txt"
mkfifo "$src/db/pipe"
touch -d '2001-02-03 04:05:06.123456789' "$src/docs/reports/report-3.txt"
echo "  $(find "$src" | wc -l) entries, $(du -sh --apparent-size "$src" | cut -f1) apparent"

step "coffer init"
"$bin" init --repo "$repo"

step "coffer backup (first)"
"$bin" backup --repo "$repo" --tag demo "$src"

step "change one file, add one, back up again (unchanged files are not re-read)"
echo "a late addition" >>"$src/docs/reports/report-7.txt"
echo "new" >"$src/docs/new.txt"
"$bin" backup --repo "$repo" --tag demo "$src"

step "coffer snapshots"
"$bin" snapshots --repo "$repo"

step "coffer restore latest --target $target"
"$bin" restore --repo "$repo" latest --target "$target"

step "verify: restored tree equals the source"
diff -r --no-dereference --exclude=pipe "$src" "$target$src" # diff cannot compare FIFOs
# Directory sizes depend on the filesystem's history, so only others'.
listing() {
	(cd "$1" && find . \( -type d -printf '%p d %m %T@\n' \) -o -printf '%p %y %m %s %T@ %l\n' | sort)
}
cmp <(listing "$src") <(listing "$target$src")
echo "  contents, types, modes, sizes, mtimes and symlinks identical"

step "coffer check --read-data"
"$bin" check --repo "$repo" --read-data

step "coffer stats"
"$bin" stats --repo "$repo"

step "summary"
snaps=$("$bin" snapshots --repo "$repo" --json | grep -o '"id"' | wc -l)
echo "  repository:  $repo"
echo "  snapshots:   $snaps"
echo "  restored to: $target$src"
echo "  verified:    yes"
