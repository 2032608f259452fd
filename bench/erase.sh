#!/usr/bin/env bash
# Overwrite throughput of destruction: coffer's wipe (core/erase, through
# tests/tools/wipetool) against fio sequential writes and `shred -n1` on
# the same block device, rounds repeated, medians and ratios printed.
#
# Usage: bench/erase.sh [-s MIB] [-r ROUNDS] [-w WORKDIR] [-d DEVICE]
#   -s MIB      size of the loop device's backing file (default 1024)
#   -r ROUNDS   repetitions of every measurement (default 3); medians reported
#   -w WORKDIR  where the backing file goes (default ./bench-work/erase): put
#               it on the disk to be measured
#   -d DEVICE   an existing, unused block device instead of a loop device
#               (EVERYTHING ON IT IS DESTROYED)
#
# Without -d the device is a loop device backed by a file in WORKDIR,
# attached with direct I/O when the filesystem allows it: the figures are
# then those of that file system and the disk under it (a loop device
# measures the file system it sits on, not a raw disk), the same for every
# tool. Needs root (losetup, writing a device). Installs fio with apt-get
# when it is missing and this runs as root; without fio that baseline is
# skipped.
#
# What is measured, per round, on the whole device:
#   fio      fio --rw=write --bs=1M --iodepth=32 --direct=1 --ioengine=io_uring
#            --end_fsync=1: the device's sequential write speed at depth 32;
#            and the same with --rw=read (no fsync), to set the
#            verification read against
#   shred    shred -n1 (one pass of random data, synced; no verification)
#   zero     wipetool device DEV zero: write 0x00, fsync, read all back (O_DIRECT)
#   random   wipetool device DEV random: AES-256-CTR keystream, same
#   zero/sync  the zero method on the plain-syscall engine (COFFER_IO_ENGINE=sync)
# Times are each tool's own: fio's job runtime (its JSON output), coffer's
# wipe_result (elapsed_ns, and verify_ns for the verification read; "write"
# is the rest: writing and fsync), shred's wall time. "total" is coffer's
# whole wipe, twice the I/O of fio's write or of shred. The tools' order
# rotates every round.
set -euo pipefail
cd "$(dirname "$0")/.."

usage() { awk 'NR > 1 && /^#/ { print; next } NR > 1 { exit }' "$0"; exit 2; }
size_mib=1024 rounds=3 work=$PWD/bench-work/erase dev=""
while getopts s:r:w:d:h o; do
	case $o in
	s) size_mib=$OPTARG ;;
	r) rounds=$OPTARG ;;
	w) work=$(realpath -m "$OPTARG") ;;
	d) dev=$OPTARG ;;
	*) usage ;;
	esac
done
[ "$(id -u)" -eq 0 ] || { echo "erase.sh: needs root (loop devices, raw writes)" >&2; exit 1; }

if ! command -v fio >/dev/null; then
	env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends fio \
		>/dev/null 2>&1 || true
fi
have_fio=0
command -v fio >/dev/null && have_fio=1

# WIPETOOL in the environment: that build's tool (else a release build).
if [ -z "${WIPETOOL:-}" ]; then
	build=$(scripts/build.sh release wipetool)
	WIPETOOL=$PWD/$build/tests/wipetool
fi
[ -x "$WIPETOOL" ] || { echo "erase.sh: wipetool not built" >&2; exit 1; }

loop=""
cleanup() {
	[ -n "$loop" ] && losetup -d "$loop" 2>/dev/null || true
	[ -n "$loop" ] && rm -f "$work/erase.img"
}
trap cleanup EXIT

dio="n/a"
if [ -z "$dev" ]; then
	mkdir -p "$work"
	free_mib=$(df -Pm "$work" | awk 'NR == 2 {print $4}')
	if [ "$free_mib" -lt $((size_mib + 1024)) ]; then
		echo "erase.sh: $work has $free_mib MiB free, needs $size_mib + 1024" >&2
		exit 1
	fi
	# Allocated for real, so no tool pays for allocating the file.
	fallocate -l "${size_mib}M" "$work/erase.img"
	if loop=$(losetup -f --show --direct-io=on "$work/erase.img" 2>/dev/null); then
		dio=on
	else
		loop=$(losetup -f --show "$work/erase.img")
		dio="off (the backing filesystem refused it: page cache in between)"
	fi
	dev=$loop
fi
"$WIPETOOL" probe "$dev" >"$work.probe" || { echo "erase.sh: $dev refused" >&2; exit 1; }
bytes=$(blockdev --getsize64 "$dev")
mib=$((bytes >> 20))

# sec CMD...: wall seconds of CMD (output discarded).
sec() {
	local t0 t1
	t0=$(date +%s.%N)
	"$@" >/dev/null 2>&1
	t1=$(date +%s.%N)
	awk -v a="$t0" -v b="$t1" 'BEGIN {printf "%.3f\n", b - a}'
}
median() { sort -g | awk '{v[NR] = $1} END {if (NR) print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2}'; }
rate() { awk -v m="$mib" -v s="$1" 'BEGIN {printf "%.0f", m / s}'; }
# ns ARG...: awk arithmetic on nanoseconds, printed in seconds.
ns() { awk -v a="$1" -v b="${2:-0}" 'BEGIN {printf "%.3f\n", (a - b) / 1e9}'; }

# fio_secs DIR JSON: the job's own runtime for DIR (write or read), in
# seconds; for the write job it includes the final fsync. fio's start-up
# (about 0.3 s here) is left out, as coffer's is.
fio_secs() {
	awk -v d="\"$1\"" '$1 == d && $3 == "{" {f = 1} f && $1 == "\"runtime\"" {
		gsub(",", "", $3); printf "%.3f\n", $3 / 1000; exit }' "$2"
}

# run_one TOOL: one measurement of TOOL, appended to $res as "TOOL PHASE SECONDS".
# coffer's phases are its own clock (wipe_result: elapsed_ns, verify_ns):
# "write" is probe-free writing and fsync, "total" the whole wipe; shred's
# is wall time (its start-up is a few milliseconds).
run_one() {
	local s el ve
	case $1 in
	fio)
		fio --name=w --filename="$dev" --rw=write --bs=1M --iodepth=32 --direct=1 \
			--ioengine=io_uring --end_fsync=1 --size="$bytes" --output-format=json \
			>"$work.fio" 2>/dev/null
		echo "fio write $(fio_secs write "$work.fio")" >>"$res"
		fio --name=r --filename="$dev" --rw=read --bs=1M --iodepth=32 --direct=1 \
			--ioengine=io_uring --size="$bytes" --output-format=json >"$work.fio" 2>/dev/null
		echo "fio read $(fio_secs read "$work.fio")" >>"$res"
		;;
	shred)
		s=$(sec shred -n1 "$dev")
		echo "shred write $s" >>"$res"
		;;
	*)
		if [ "$1" = zero/sync ]; then
			COFFER_IO_ENGINE=sync "$WIPETOOL" device "$dev" zero >"$work.out"
		else
			"$WIPETOOL" device "$dev" "$1" >"$work.out"
		fi
		grep -q '^verify=passed$' "$work.out" || { cat "$work.out" >&2; exit 1; }
		el=$(sed -n 's/^elapsed_ns=//p' "$work.out")
		ve=$(sed -n 's/^verify_ns=//p' "$work.out")
		echo "$1 write $(ns "$el" "$ve")" >>"$res"
		echo "$1 verify $(ns "$ve")" >>"$res"
		echo "$1 total $(ns "$el")" >>"$res"
		;;
	esac
}

res=$(mktemp)
tools=(shred zero random zero/sync)
[ "$have_fio" -eq 1 ] && tools=(fio "${tools[@]}")
for r in $(seq "$rounds"); do
	# The order rotates each round, so that no tool always runs first.
	n=${#tools[@]}
	for i in $(seq 0 $((n - 1))); do
		run_one "${tools[$(((i + r - 1) % n))]}"
	done
	echo "round $r of $rounds done" >&2
done

med() { awk -v t="$1" -v p="$2" '$1 == t && $2 == p {print $3}' "$res" | median; }
echo
echo "Overwrite throughput, $(date -u +%Y-%m-%d), $rounds rounds, medians (load average at the end: $(cut -d' ' -f1-3 /proc/loadavg))"
echo "device: $dev ($mib MiB$([ -n "$loop" ] && echo ", loop device on $(df -PT "$work" | awk 'NR == 2 {print $2}') in $work, direct I/O $dio"))"
echo "machine: $(nproc) CPUs ($(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -1)), $(awk '/MemTotal/ {printf "%.1f GiB", $2 / 1048576}' /proc/meminfo) RAM, kernel $(uname -r)"
echo "tools: $([ "$have_fio" -eq 1 ] && fio --version || echo "fio missing"), $(shred --version | head -1)"
echo
# spread TOOL PHASE: (max - min) / median of the rounds.
spread() {
	awk -v t="$1" -v p="$2" -v m="$3" '$1 == t && $2 == p {
		if (n++ == 0 || $3 < lo) lo = $3; if ($3 > hi) hi = $3 }
		END {printf "%.0f%%", (m > 0) ? 100 * (hi - lo) / m : 0}' "$res"
}
printf '%-12s %-8s %10s %10s %8s\n' tool phase "median s" "MiB/s" spread
for t in fio shred zero random zero/sync; do
	for p in write read verify total; do
		v=$(med "$t" "$p")
		[ -n "$v" ] || continue
		printf '%-12s %-8s %10.2f %10s %8s\n' "$t" "$p" "$v" "$(rate "$v")" "$(spread "$t" "$p" "$v")"
	done
done
echo
# ratio TOOL PHASE OTHER OPHASE: speed of TOOL's PHASE over OTHER's OPHASE (same bytes).
ratio() { awk -v a="$(med "$3" "$4")" -v b="$(med "$1" "$2")" 'BEGIN {printf "%.2f", a / b}'; }
echo "Ratios of speed (coffer's MiB/s over the other's; above 1: coffer faster):"
for m in zero random zero/sync; do
	if [ "$have_fio" -eq 1 ]; then
		printf '  %-10s write vs fio write %s, verify vs fio read %s, total vs fio write %s\n' \
			"$m" "$(ratio "$m" write fio write)" "$(ratio "$m" verify fio read)" \
			"$(ratio "$m" total fio write)"
	fi
	printf '  %-10s write vs shred %s, total (write + verify) vs shred %s\n' \
		"$m" "$(ratio "$m" write shred write)" "$(ratio "$m" total shred write)"
done
rm -f "$res" "$work.out" "$work.probe" "$work.fio"
