#!/usr/bin/env bash
# The main job on the embedded default, through the daemons: builds
# Coffer, starts every daemon as the current user under one work directory
# (`coffer up --dev`, development mode: this user holds every role), makes
# a sample tree and a dataset, gives it a policy, backs the tree up twice
# as jobs of coffer-backupd, lists the snapshots and jobs, restores the
# latest snapshot as a job of coffer-restored, verifies the restored tree
# against the source and the repository, destroys a second dataset through
# the approval process (two approvers, one signing offline with openssl,
# and the supervisor) and verifies its certificate, seals, exports and
# verifies the audit trail of all of it, prints a summary and stops the
# daemons again.
# Usage: scripts/demo.sh [WORKDIR]   (default: ./demo-work, recreated)
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/deps.sh
build=$(scripts/build.sh release coffer coffer-backupd coffer-restored coffer-erased coffer-scheduler)
bin=$build/console/coffer

work=$(realpath -m "${1:-demo-work}")
if [ -d "$work/appliance/run" ]; then
	"$bin" down --dev "$work/appliance" --quiet || true # a previous run's daemons
fi
rm -rf "$work"
mkdir -p "$work"
src=$work/source target=$work/restore
unset COFFER_PASSPHRASE_FILE # the appliance makes its own

step() { printf '\n== %s\n' "$*"; }
stop() { "$bin" down --dev "$work/appliance" || true; }
trap stop EXIT

step "coffer up --dev $work/appliance"
eval "$("$bin" up --dev "$work/appliance")"
echo "  COFFER_RUN_DIR=$COFFER_RUN_DIR"
export COFFER_PASSPHRASE_FILE=$work/appliance/passphrase # for the direct-mode check below

step "coffer status"
"$bin" status

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

step "coffer dataset create records --level 1 --owner registry"
"$bin" dataset create records --level 1 --owner registry

step "coffer policy set records (sources, nightly calendar, GFS retention, verification)"
"$bin" policy set records --source "$src" --calendar '@daily' --keep-daily 7 --keep-weekly 4 \
	--keep-monthly 12 --verify-days 30
"$bin" policy show records

step "coffer backup --dataset records (a job of coffer-backupd; paths from the policy)"
"$bin" backup --dataset records --tag demo

step "change one file, add one, back up again (unchanged files are not re-read)"
echo "a late addition" >>"$src/docs/reports/report-7.txt"
echo "new" >"$src/docs/new.txt"
"$bin" backup --dataset records --tag demo

step "coffer snapshots --dataset records"
"$bin" snapshots --dataset records

step "coffer restore --dataset records latest --target $target (a job of coffer-restored)"
"$bin" restore --dataset records latest --target "$target"

step "coffer jobs"
"$bin" jobs

step "verify: restored tree equals the source"
diff -r --no-dereference --exclude=pipe "$src" "$target$src" # diff cannot compare FIFOs
# Directory sizes depend on the filesystem's history, so only others'.
listing() {
	(cd "$1" && find . \( -type d -printf '%p d %m %T@\n' \) -o -printf '%p %y %m %s %T@ %l\n' | sort)
}
cmp <(listing "$src") <(listing "$target$src")
echo "  contents, types, modes, sizes, mtimes and symlinks identical"

step "coffer check --dataset records --read-data (direct mode, with the appliance's passphrase)"
(unset COFFER_RUN_DIR && "$bin" check --dataset records --read-data)

step "destruction of a second dataset: request, quorum, execution, certificate"
mkdir -p "$work/drafts" "$work/keys"
head -c 2000000 /dev/urandom >"$work/drafts/draft.bin"
"$bin" dataset create drafts --level 1 --owner registry --quiet
"$bin" backup --dataset drafts --quiet "$work/drafts"
for n in ann ben sue; do
	openssl genpkey -algorithm ED25519 -out "$work/keys/$n.pem" 2>/dev/null
	openssl pkey -in "$work/keys/$n.pem" -pubout -out "$work/keys/$n.pub"
done
"$bin" approver add ann --pubkey "$work/keys/ann.pub" --role approver
"$bin" approver add ben --pubkey "$work/keys/ben.pub" --role approver
"$bin" approver add sue --pubkey "$work/keys/sue.pub" --role supervisor
req=$("$bin" erase request --dataset drafts --reason "demo: the drafts are no longer needed" \
	--legal-basis "records schedule 1.1" --statement-out "$work/drafts.statement" --quiet)
echo "  request $req; statement to sign in $work/drafts.statement"
"$bin" erase approve "$req" --key "$work/keys/ann.pem"
openssl pkeyutl -sign -rawin -inkey "$work/keys/ben.pem" -in "$work/drafts.statement" \
	-out "$work/ben.sig"
"$bin" erase approve "$req" --signature "$work/ben.sig" --approver ben
"$bin" erase approve "$req" --key "$work/keys/sue.pem"
"$bin" erase execute "$req"
"$bin" erase certificate "$req" --out "$work/certificate.txt"
"$bin" erase certificate "$req" --format pdf --out "$work/certificate.pdf"
"$bin" erase verify-certificate "$work/certificate.txt" \
	--public-key "$work/appliance/state/audit/sign.pem"

step "coffer audit: every operation above, sealed, checked from the initial key"
"$bin" audit seal
"$bin" audit export --to "$work/audit.export"
"$bin" audit show --from "$work/audit.export" | tail -8
"$bin" audit verify --from "$work/audit.export" --initial-key "$work/appliance/audit-initial.key"

step "coffer down --dev $work/appliance"
trap - EXIT
"$bin" down --dev "$work/appliance"

step "summary"
snaps=$(unset COFFER_RUN_DIR && "$bin" snapshots --dataset records --json | grep -o '"id"' | wc -l)
echo "  appliance:   $work/appliance (state, run, etc, log)"
echo "  snapshots:   $snaps"
echo "  restored to: $target$src"
echo "  verified:    yes"
echo "  destroyed:   dataset drafts; certificate $work/certificate.txt (and .pdf) verifies"
echo "  audit trail: $work/audit.export verifies from $work/appliance/audit-initial.key"
