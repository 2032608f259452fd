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
#
# Then the dataset phase: whole-dataset destruction (coffer erase execute)
# through the daemons of a dev appliance (coffer up --dev) made in a
# directory under WORKDIR, so on the same filesystem as the loop device's
# file (with -d: the filesystem of WORKDIR). Per variant and round, two
# fresh level-1 datasets are backed up (one is destroyed with --method
# zero, the other with random), two copies of the first one's repository
# are made, requests get their quorum (2 approvers and a supervisor,
# ED25519 keys from openssl), and in rotating order, each after a sync:
#   fio      the same options as above on a file of the repository's size
#            in the same directory, written once beforehand so that every
#            tool overwrites allocated blocks; job runtimes of the write
#            (with its fsync) and of the read, and the write's wall time
#   shred-u       shred -n1 -u on every file of one copy (one random pass,
#                 no verification; -u renames each file to ever shorter
#                 names, syncing each rename, then unlinks it)
#   shred-unlink  shred -n1 --remove=unlink on the other copy
#                 (for both, "wall+sync" adds a sync of the filesystem
#                 after it, which makes its unlinks durable as coffer's are)
#   engine   the overwrite engine alone on a third copy: wipetool file
#            (wipe_file_at, --method zero) on every file, its own clock
#            summed over the files: "write" is overwriting, fsync, unlink
#            and fsync of the directory, "verify" the read-back, "total"
#            both; no daemon, no approvals, no key destruction
#   zero, random  wall time of `coffer erase execute REQ --method M`: from
#            the console's start until it has seen the request done (it
#            polls erase show every 200 ms; nothing is subtracted), so it
#            includes crypto-shredding, the catalog, overwriting, reading
#            back in full and comparing, fsync and unlink of every file
#            (and fsync of its directory), and removing the directories
# Bytes are the repository's (execution.bytes of coffer erase show); every
# MiB/s is that tool's bytes over its median time. Environment:
#   DATASET_VARIANTS  any of "large small history", or "none" (default: all)
#     large    DATASET_MIB MiB (default 1024) of random data in files of
#              256 MiB: the repository is packs of about 16 MiB
#     small    20000 random files of 16 KiB (312.5 MiB): packed into the
#              same large packs, so about as few repository files
#     history  500 backups, each of a new 64 KiB random file: about 2000
#              small repository files (a pack, a tree pack, an index and a
#              snapshot each), where the cost per file shows
#   COFFER    the console to use (its daemons found beside it in its build
#             tree); else a release build
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

# ---- the dataset phase (see the header) ------------------------------------------
variants=${DATASET_VARIANTS-large small history}
[ -n "$variants" ] && [ "$variants" != none ] || exit 0
ds_mib=${DATASET_MIB:-1024}
# The loop device and its file are done with: free them now.
cleanup || true
loop=""
if [ -z "${COFFER:-}" ]; then
	build=$(scripts/build.sh release coffer coffer-backupd coffer-restored coffer-erased \
		coffer-scheduler)
	COFFER=$PWD/$build/console/coffer
fi
[ -x "$COFFER" ] || { echo "erase.sh: coffer not built" >&2; exit 1; }
command -v openssl >/dev/null || { echo "erase.sh: the dataset phase needs openssl" >&2; exit 1; }
mkdir -p "$work"
# The largest variant at once: its data, two repositories, three copies, fio's file.
need_mib=$((7 * (ds_mib > 313 ? ds_mib : 313) + 1024))
free_mib=$(df -Pm "$work" | awk 'NR == 2 {print $4}')
if [ "$free_mib" -lt "$need_mib" ]; then
	echo "erase.sh: $work has $free_mib MiB free, the dataset phase needs $need_mib" >&2
	exit 1
fi
dw=$(mktemp -d "$work/dataset.XXXXXX")
ds_up=0
ds_cleanup() {
	[ "$ds_up" -eq 0 ] || "$COFFER" down --dev "$dw/app" >/dev/null 2>&1 || true
	rm -rf "$dw"
}
trap 'cleanup || true; ds_cleanup' EXIT
up=$("$COFFER" up --dev "$dw/app" 2>"$dw/up.log") || { cat "$dw/up.log" >&2; exit 1; }
ds_up=1
eval "$up"
mkdir -p "$dw/keys"
for n in ann ben sue; do
	openssl genpkey -algorithm ED25519 -out "$dw/keys/$n.pem" 2>/dev/null
	openssl pkey -in "$dw/keys/$n.pem" -pubout -out "$dw/keys/$n.pub"
done
"$COFFER" approver add ann --pubkey "$dw/keys/ann.pub" --role approver --quiet
"$COFFER" approver add ben --pubkey "$dw/keys/ben.pub" --role approver --quiet
"$COFFER" approver add sue --pubkey "$dw/keys/sue.pub" --role supervisor --quiet

# ds_source VARIANT: its source data in $dw/src/VARIANT (random: incompressible).
ds_source() {
	local d=$dw/src/$1 left=$ds_mib i=0 m
	mkdir -p "$d"
	case $1 in
	large)
		while [ "$left" -gt 0 ]; do
			m=$((left < 256 ? left : 256))
			head -c "$((m << 20))" /dev/urandom >"$d/random$i.bin"
			left=$((left - m)) i=$((i + 1))
		done
		;;
	small) head -c $((20000 * 16384)) /dev/urandom | split -b 16384 -a 5 -d - "$d/f" ;;
	history) ;;
	*) echo "erase.sh: unknown dataset variant $1" >&2; exit 2 ;;
	esac
}
# ds_fill VARIANT NAME: a new dataset NAME holding VARIANT's backups.
ds_fill() {
	"$COFFER" dataset create "$2" --level 1 --owner bench --quiet
	if [ "$1" = history ]; then
		for _ in $(seq 500); do
			head -c 65536 /dev/urandom >"$dw/src/history/new.bin"
			"$COFFER" backup --dataset "$2" --quiet "$dw/src/history"
		done
	else
		"$COFFER" backup --dataset "$2" --quiet "$dw/src/$1"
	fi
}
ds_repo() { "$COFFER" dataset show "$1" --json | sed -n 's/.*"repository":"\([^"]*\)".*/\1/p'; }
# ds_request NAME: a request to destroy dataset NAME, with its full quorum; prints its ID.
ds_request() {
	local q
	q=$(cd "$dw" && "$COFFER" erase request --dataset "$1" --reason "benchmark" \
		--legal-basis "benchmark of bench/erase.sh" --quiet)
	local k
	for k in ann ben sue; do
		"$COFFER" erase approve "$q" --key "$dw/keys/$k.pem" --quiet
	done
	echo "$q"
}
# xfield REQ FIELD: a number of the request's execution record.
xfield() {
	"$COFFER" erase show "$1" --json | sed -n "s/.*\"execution\":{.*\"$2\":\([0-9]*\).*/\1/p"
}
filebytes() { find "$1" -type f -printf '%s\n' | awk '{s += $1} END {print s + 0}'; }
shred_all() { find "$1" -type f -print0 | xargs -0 shred -n1 "$2"; }

# ds_one TOOL: one measurement, appended to $res as "TOOL PHASE SECONDS BYTES".
ds_one() {
	local s b f
	sync
	case $1 in
	fio)
		s=$(sec fio --name=w --filename="$dw/fio.dat" --rw=write --bs=1M --iodepth=32 \
			--direct=1 --ioengine=io_uring --end_fsync=1 --size="$fio_bytes" \
			--output-format=json --output="$work.fio")
		echo "fio wall $s $fio_bytes" >>"$res"
		echo "fio write $(fio_secs write "$work.fio") $fio_bytes" >>"$res"
		f=$(fio_secs write "$work.fio")
		sync
		fio --name=r --filename="$dw/fio.dat" --rw=read --bs=1M --iodepth=32 --direct=1 \
			--ioengine=io_uring --size="$fio_bytes" --output-format=json >"$work.fio" 2>/dev/null
		echo "fio read $(fio_secs read "$work.fio") $fio_bytes" >>"$res"
		echo "fio write+read $(awk -v a="$f" -v b="$(fio_secs read "$work.fio")" \
			'BEGIN {printf "%.3f", a + b}') $fio_bytes" >>"$res"
		;;
	shred-u | shred-unlink)
		b=$(filebytes "$dw/$1")
		if [ "$1" = shred-u ]; then
			s=$(sec shred_all "$dw/$1" -u)
		else
			s=$(sec shred_all "$dw/$1" --remove=unlink)
		fi
		f=$(sec sync -f "$dw")
		[ -z "$(find "$dw/$1" -type f)" ] || { echo "erase.sh: $1 left files" >&2; exit 1; }
		rm -r "${dw:?}/$1"
		echo "$1 wall $s $b" >>"$res"
		echo "$1 wall+sync $(awk -v a="$s" -v b="$f" 'BEGIN {printf "%.3f", a + b}') $b" >>"$res"
		;;
	engine)
		b=$(filebytes "$dw/engine")
		find "$dw/engine" -type f | while read -r f; do
			"$WIPETOOL" file "$(dirname "$f")" "$(basename "$f")" zero
		done >"$work.out"
		if [ "$(grep -c '^verify=passed$' "$work.out")" -ne "$(grep -c '^elapsed_ns=' "$work.out")" ] ||
			[ -n "$(find "$dw/engine" -type f)" ]; then
			echo "erase.sh: wipetool file failed" >&2
			exit 1
		fi
		rm -r "$dw/engine"
		awk -v b="$b" -F= '/^elapsed_ns=/ {el += $2} /^verify_ns=/ {ve += $2} END {
			printf "engine write %.3f %d\nengine verify %.3f %d\nengine total %.3f %d\n",
				(el - ve) / 1e9, b, ve / 1e9, b, el / 1e9, b}' "$work.out" >>"$res"
		;;
	zero | random)
		s=$(sec "$COFFER" erase execute "${req[$1]}" --method "$1")
		"$COFFER" erase show "${req[$1]}" --json | grep -q '"state":"done"' ||
			{ echo "erase.sh: destruction ${req[$1]} not done" >&2; exit 1; }
		[ ! -e "${repo[$1]}" ] || { echo "erase.sh: ${repo[$1]} survives" >&2; exit 1; }
		b=$(xfield "${req[$1]}" bytes)
		echo "$1 wall $s $b" >>"$res"
		echo "$1 files $(xfield "${req[$1]}" files) $(xfield "${req[$1]}" direct_files)" >>"$files"
		;;
	esac
}
# bps TOOL PHASE: bytes per second, the median bytes over the median seconds.
bps() {
	awk -v b="$(awk -v t="$1" -v p="$2" '$1 == t && $2 == p {print $4}' "$res" | median)" \
		-v s="$(med "$1" "$2")" 'BEGIN {printf "%.1f\n", b / s}'
}
# speed TOOL PHASE: the same in MiB/s (a decimal below 100).
speed() { awk -v v="$(bps "$1" "$2")" 'BEGIN {v /= 1048576; printf (v < 100 ? "%.1f" : "%.0f"), v}'; }
# sratio TOOL PHASE OTHER OPHASE: TOOL's speed over OTHER's (their bytes may differ a little).
sratio() {
	awk -v a="$(bps "$1" "$2")" -v b="$(bps "$3" "$4")" \
		'BEGIN {printf (a / b < 0.1 ? "%.3f" : "%.2f"), a / b}'
}
# perfile TOOL [PHASE]: milliseconds of its median time (wall) per repository file (median count).
perfile() {
	awk -v s="$(med "$1" "${2:-wall}")" -v n="$(awk '{print $3}' "$files" | median)" \
		'BEGIN {printf "%.1f", 1000 * s / n}'
}

declare -A req repo
for v in $variants; do
	ds_source "$v"
	res=$(mktemp)
	files=$(mktemp)
	fio_bytes=""
	tools=(shred-u shred-unlink engine zero random)
	[ "$have_fio" -eq 1 ] && tools=(fio "${tools[@]}")
	for r in $(seq "$rounds"); do
		for m in zero random; do
			ds_fill "$v" "$v-$m-$r"
			repo[$m]=$(ds_repo "$v-$m-$r")
			req[$m]=$(ds_request "$v-$m-$r")
			if [ -z "${req[$m]}" ] || [ ! -d "${repo[$m]}" ]; then
				echo "erase.sh: dataset $v-$m-$r: no repository or no request" >&2
				exit 1
			fi
		done
		cp -a "${repo[zero]}" "$dw/shred-u"
		cp -a "${repo[zero]}" "$dw/shred-unlink"
		cp -a "${repo[zero]}" "$dw/engine"
		if [ "$have_fio" -eq 1 ] && [ -z "$fio_bytes" ]; then
			# fio's file: the repository's size in whole MiB, written once untimed.
			fio_bytes=$(($(filebytes "${repo[zero]}") >> 20 << 20))
			fio --name=lay --filename="$dw/fio.dat" --rw=write --bs=1M --direct=1 \
				--size="$fio_bytes" >/dev/null 2>&1
		fi
		n=${#tools[@]}
		for i in $(seq 0 $((n - 1))); do
			ds_one "${tools[$(((i + r - 1) % n))]}"
		done
		echo "dataset $v: round $r of $rounds done" >&2
	done
	rm -rf "$dw/src/$v" "$dw/fio.dat"
	{
		echo
		echo "Dataset erasure, variant $v, $(date -u +%Y-%m-%d), $rounds rounds, medians (load average at the end: $(cut -d' ' -f1-3 /proc/loadavg))"
		echo "repository: $(awk '{print $3}' "$files" | median) files (median; $(awk '{if ($4 != $3) n++} END {print n + 0}' "$files") of $(wc -l <"$files") executions had files without O_DIRECT), $(awk '$2 == "wall" && ($1 == "zero" || $1 == "random") {print $4}' "$res" | sort -n | sed -n '1p;$p' | paste -sd- ) bytes; $(df -PT "$dw" | awk 'NR == 2 {print $2}') in $dw"
		echo
		printf '%-13s %-11s %10s %10s %8s\n' tool phase "median s" "MiB/s" spread
		for t in fio shred-u shred-unlink engine zero random; do
			for p in write read write+read verify total wall wall+sync; do
				s=$(med "$t" "$p")
				[ -n "$s" ] || continue
				printf '%-13s %-11s %10.2f %10s %8s\n' "$t" "$p" "$s" "$(speed "$t" "$p")" \
					"$(spread "$t" "$p" "$s")"
			done
		done
		echo
		echo "Wall time per repository file: zero $(perfile zero) ms, random $(perfile random) ms, shred -n1 -u $(perfile shred-u) ms, shred -n1 --remove=unlink $(perfile shred-unlink) ms; the engine alone $(perfile engine total) ms"
		echo "Ratios of speed (coffer's MiB/s over the other's; above 1: coffer faster):"
		for m in zero random; do
			if [ "$have_fio" -eq 1 ]; then
				printf '  %-7s vs fio write wall %s, vs fio write job %s, vs fio write+read jobs %s\n' \
					"$m" "$(sratio "$m" wall fio wall)" "$(sratio "$m" wall fio write)" \
					"$(sratio "$m" wall fio write+read)"
			fi
			printf '  %-7s vs shred -n1 -u %s (with its sync %s), vs shred -n1 --remove=unlink %s (%s)\n' \
				"$m" "$(sratio "$m" wall shred-u wall)" "$(sratio "$m" wall shred-u wall+sync)" \
				"$(sratio "$m" wall shred-unlink wall)" "$(sratio "$m" wall shred-unlink wall+sync)"
			printf '  %-7s vs the engine alone (wipetool file, zero) %s\n' "$m" \
				"$(sratio "$m" wall engine total)"
		done
	}
	rm -f "$res" "$files"
done
rm -f "$work.fio" "$work.out"
