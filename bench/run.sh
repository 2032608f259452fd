#!/usr/bin/env bash
# The full benchmark: coffer against restic and borg on the same data in the
# same run, on the same disk (measured with fio first), phase by phase, the
# tools' order rotating every round, and prints medians and ratios.
#
# Usage: bench/run.sh [-r ROUNDS] [-s SCALE] [-w WORKDIR] [-g GROUPS] [-V]
#   -r ROUNDS  repetitions of every phase (default 3); medians are reported
#   -s SCALE   fraction of the data sets, 0 < SCALE <= 1 (default 1): the
#              large files are 4 GiB x SCALE (at least 16 MiB) and the tree
#              keeps SCALE of the linux-source files; -s 0.02 is a quick run
#   -w WORKDIR data sets, repositories and logs (default ./bench-work); data
#              sets are built once per scale and kept between runs
#   -g GROUPS  tree, large or tree,large (default)
#   -V         also compare every restore byte for byte with its source
#              (slow at full scale; by default file count and bytes)
#
# Groups and phases (every tool encrypts: coffer AES-256-GCM, restic
# AES-256-CTR+Poly1305, borg repokey-blake2):
#   tree   the Debian linux-source tree: initial backup, unchanged re-backup,
#          changed re-backup (1 % of the files appended to), full restore
#   large  a random and a compressible file, 4 GiB each: initial backup,
#          in-place re-backup (1000 random 4 KiB writes into the random
#          file; 1000 x SCALE in a quick run), full restore
# Caches are dropped before every measured command when
# /proc/sys/vm/drop_caches is writable. See bench/README.md.
set -euo pipefail
cd "$(dirname "$0")/.."

usage() { awk 'NR > 1 && /^#/ { print; next } NR > 1 { exit }' "$0"; exit 2; }
rounds=3 scale=1 work=$PWD/bench-work groups=tree,large verify=0
while getopts r:s:w:g:Vh o; do
	case $o in
	r) rounds=$OPTARG ;;
	s) scale=$OPTARG ;;
	w) work=$(realpath -m "$OPTARG") ;;
	g) groups=$OPTARG ;;
	V) verify=1 ;;
	*) usage ;;
	esac
done
[ $# -lt $OPTIND ] || usage
case $rounds in '' | *[!0-9]* | 0) echo "-r needs a positive number" >&2; exit 2 ;; esac
scale=$(awk -v s="$scale" 'BEGIN { if (s !~ /^[0-9.]+$/ || (s + 0 <= 0) || (s + 0 > 1)) exit 1; printf "%g", s }') || {
	echo "-s needs a number in (0, 1]" >&2
	exit 2
}
case ,$groups, in ,tree, | ,large, | ,tree,large, | ,large,tree,) ;; *) echo "-g: tree, large or tree,large" >&2; exit 2 ;; esac
case $work in / | /bin* | /boot* | /dev* | /etc* | /lib* | /proc* | /sbin* | /sys* | /usr* | "$HOME") echo "refusing work directory $work" >&2; exit 2 ;; esac
# The script deletes only what it made inside the work directory, and it
# will not adopt a non-empty directory that it did not create.
if [ -d "$work" ] && [ ! -f "$work/.coffer-bench" ] && [ -n "$(ls -A "$work")" ]; then
	echo "$work is not empty and not a benchmark work directory; choose another with -w" >&2
	exit 2
fi
mkdir -p "$work/data" "$work/log"
touch "$work/.coffer-bench"

# ---- tools ------------------------------------------------------------------

as_root=""
[ "$(id -u)" -eq 0 ] || as_root=sudo
need_pkgs() {
	local p missing=()
	for p in "$@"; do
		dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
	done
	[ ${#missing[@]} -eq 0 ] && return 0
	if [ -n "$as_root" ] && ! command -v sudo >/dev/null; then
		echo "missing packages ${missing[*]}: run as root or install sudo" >&2
		exit 1
	fi
	echo "installing: ${missing[*]}" >&2
	$as_root env DEBIAN_FRONTEND=noninteractive apt-get update -qq
	$as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
		"${missing[@]}" >/dev/null
}
scripts/deps.sh
need_pkgs restic borgbackup fio time linux-source openssl xz-utils
if ! build=$(scripts/build.sh release coffer coffer_bound 2>"$work/log/build.log"); then
	tail -n 30 "$work/log/build.log" >&2
	echo "building coffer failed; see $work/log/build.log" >&2
	exit 1
fi
coffer=$PWD/$build/console/coffer
bound_tool=$PWD/$build/bench/coffer_bound
tarball=$(find /usr/src -maxdepth 1 -name "linux-source-*.tar.xz" | sort -V | tail -n1)
[ -n "$tarball" ] || { echo "no /usr/src/linux-source-*.tar.xz after installing linux-source" >&2; exit 1; }

# ---- run state --------------------------------------------------------------

run=$work/run           # repositories, restore targets, tool caches: per round
log=$work/log/run-$(date +%Y%m%d-%H%M%S).log
: >"$log"

# Removes a path that must lie inside the work directory; the only deleter.
wipe() {
	local p
	for p in "$@"; do
		case $p in
		"$work"/?*) rm -rf -- "$p" ;;
		*) echo "internal error: not deleting $p (outside $work)" >&2; exit 1 ;;
		esac
	done
}

pass=$work/passphrase
[ -s "$pass" ] || { echo "bench passphrase $(date +%s%N)" >"$pass"; chmod 600 "$pass"; }
printf -v qpass '%q' "$pass"
export COFFER_PASSPHRASE_FILE=$pass RESTIC_PASSWORD_FILE=$pass BORG_PASSCOMMAND="cat $qpass"
# Tool state lives in the run directory so each round starts without caches
# and nothing is left in $HOME; temporary files (restic stages packs there)
# go to the same disk as the repositories.
export RESTIC_CACHE_DIR=$run/cache/restic BORG_BASE_DIR=$run/cache/borg TMPDIR=$run/tmp
export BORG_RELOCATED_REPO_ACCESS_IS_OK=yes BORG_DISPLAY_PASSPHRASE=no

size_of() { du -sb "$1" | cut -f1; }
# "files bytes" of the regular files under DIR
stats_of() { find "$1" -type f -printf '%s\n' | awk '{ n++; b += $1 } END { printf "%d %.0f\n", n, b }'; }
mib() { awk -v b="$1" 'BEGIN { printf "%.1f", b / 1048576 }'; }

cold=no
if [ -w /proc/sys/vm/drop_caches ] && sync && (echo 3 >/proc/sys/vm/drop_caches) 2>/dev/null; then
	cold=yes
fi
drop_caches() {
	sync
	[ $cold = no ] || echo 3 >/proc/sys/vm/drop_caches
}

# ---- data sets --------------------------------------------------------------
# data/tree-SCALE/ and data/large-SCALE/ are built once (a .done file marks a
# finished build). A change in progress is described by a .pending file next
# to the data set; it is undone on exit and, after a crash, at the next start.

tree=$work/data/tree-$scale
large=$work/data/large-$scale
lsize=$(awk -v s="$scale" 'BEGIN { m = int(4096 * s); if (m < 16) m = 16; printf "%.0f", m * 1048576 }')

build_tree() {
	[ -f "$tree.done" ] && return 0
	wipe "$tree"
	mkdir -p "$tree"
	echo "building the tree data set from $tarball (scale $scale)" >&2
	if [ "$scale" = 1 ]; then
		tar -xJf "$tarball" -C "$tree"
	else
		# SCALE of the files, as runs of consecutive files in archive
		# order (whole neighbourhoods of directories, not a sprinkle).
		tar -tJf "$tarball" --quoting-style=literal |
			awk -v s="$scale" 'BEGIN { k = int(1000 * s + 0.5); if (k < 1) k = 1 }
				/\/$/ { next } { if (((n++) % 1000) < k) print }' >"$tree.list"
		tar -xJf "$tarball" -C "$tree" --no-unquote --verbatim-files-from -T "$tree.list"
		rm -f "$tree.list"
	fi
	find "$tree" -type f | sort >"$tree.files"
	touch "$tree.done"
}

# Deterministic content: AES-256-CTR keystream of a fixed key (random) and
# generated log lines with counters (text-like, compresses about 5:1, no two
# lines alike so it does not simply deduplicate).
build_large() {
	[ -f "$large.done" ] && return 0
	wipe "$large"
	mkdir -p "$large"
	echo "building the large-file data set: 2 x $(mib "$lsize") MiB" >&2
	(
		set +o pipefail
		openssl enc -aes-256-ctr -K "$(printf '%064x' 1)" -iv "$(printf '%032x' 0)" \
			-in /dev/zero 2>/dev/null | head -c "$lsize"
	) >"$large/random.bin"
	awk -v size="$lsize" 'BEGIN {
		split("INFO INFO INFO INFO WARN INFO DEBUG ERROR", lv, " ")
		split("auth api store sched index mail dns proxy", svc, " ")
		split("GET GET GET POST PUT GET DELETE GET", verb, " ")
		split("/v1/objects /v1/users /v1/archive /healthz /v1/tokens /v1/jobs /v2/search /v1/audit", url, " ")
		for (i = 0; n < size; i++) {
			t = 1700000000 + int(i / 40)
			d = int(t / 86400); s = t % 86400
			line = sprintf("2023-%02d-%02d %02d:%02d:%02d.%03d node%02d %s[%d]: %s %s %s/%d status=%d bytes=%d ms=%d req=%08x\n",
				int(d / 28) % 12 + 1, d % 28 + 1, int(s / 3600), int(s / 60) % 60, s % 60,
				(i * 37) % 1000, i % 17, svc[i % 8 + 1], 1000 + (i % 613), lv[(i * 7) % 8 + 1],
				verb[i % 8 + 1], url[(i * 3) % 8 + 1], (i * 7919) % 100000,
				((i % 50) ? 200 : 500), (i * 131) % 65536, (i * 17) % 997, i)
			printf "%s", line
			n += length(line)
		}
	}' >"$large/text.log"
	truncate -s "$lsize" "$large/text.log"
	[ "$(stat -c %s "$large/random.bin")" = "$lsize" ] || { echo "random.bin: short write" >&2; exit 1; }
	touch "$large.done"
}

# Tree change: 1 % of the files (a different 1 % each round) get a line
# appended; their sizes and mtimes are kept so the revert is exact.
change_tree() {
	awk -v r="$1" '(NR % 100) == (r % 100)' "$tree.files" | tr '\n' '\0' |
		xargs -0 stat -c $'%s\t%.9Y\t%n' >"$tree.pending.tmp"
	mv "$tree.pending.tmp" "$tree.pending"
	local size mt f
	while IFS=$'\t' read -r size mt f; do echo "bench change, round $1" >>"$f"; done <"$tree.pending"
	changed_files=$(wc -l <"$tree.pending")
}
revert_tree() {
	[ -f "$tree.pending" ] || return 0
	local size mt f
	while IFS=$'\t' read -r size mt f; do
		truncate -s "$size" "$f"
		touch -m -d "@$mt" "$f"
	done <"$tree.pending"
	rm -f "$tree.pending"
}

# In-place writes: WRITES distinct 4 KiB blocks of random.bin, chosen by the
# round, overwritten with fresh data; the old blocks are saved first, and
# put back by revert_large. 1000 in 4 GiB; scaled with the file so that a
# quick run has the same density of changes (at -s 0.02 all 1000 would touch
# every chunk of an 82 MiB file).
writes=$(awk -v s="$scale" 'BEGIN { w = int(1000 * s + 0.5); print ((w < 1) ? 1 : w) }')
change_large() {
	local blocks=$(($(stat -c %s "$large/random.bin") / 4096)) b i=0
	awk -v seed="$1" -v n="$writes" -v blocks="$blocks" 'BEGIN {
		srand(seed)
		while (c < n) { b = int(rand() * blocks); if (!(b in seen)) { seen[b] = 1; c++; print b } }
	}' >"$large.offsets"
	stat -c %.9Y "$large/random.bin" >"$large.saved.mtime"
	: >"$large.saved"
	while read -r b; do
		dd if="$large/random.bin" bs=4096 skip="$b" count=1 status=none >>"$large.saved"
	done <"$large.offsets"
	mv "$large.offsets" "$large.pending"
	(
		set +o pipefail
		openssl enc -aes-256-ctr -K "$(printf '%064x' $((1000 + $1)))" -iv "$(printf '%032x' 0)" \
			-in /dev/zero 2>/dev/null | head -c $((writes * 4096))
	) >"$large.patch"
	while read -r b; do
		dd if="$large.patch" of="$large/random.bin" bs=4096 skip=$i seek="$b" count=1 \
			conv=notrunc status=none
		i=$((i + 1))
	done <"$large.pending"
	rm -f "$large.patch"
}
revert_large() {
	[ -f "$large.pending" ] || return 0
	local b i=0
	while read -r b; do
		dd if="$large.saved" of="$large/random.bin" bs=4096 skip=$i seek="$b" count=1 \
			conv=notrunc status=none
		i=$((i + 1))
	done <"$large.pending"
	touch -m -d "@$(cat "$large.saved.mtime")" "$large/random.bin"
	rm -f "$large.pending" "$large.saved" "$large.saved.mtime"
}

cleanup() {
	revert_tree
	revert_large
	[ ! -d "$run" ] || wipe "$run"
}
# A run that was killed may have left changes in the data sets of any scale.
recover() {
	local p tree large
	for p in "$work"/data/tree-*.pending; do
		if [ -f "$p" ]; then tree=${p%.pending}; revert_tree; fi
	done
	for p in "$work"/data/large-*.pending; do
		if [ -f "$p" ]; then large=${p%.pending}; revert_large; fi
	done
}
trap cleanup EXIT
trap 'exit 130' INT TERM
recover
cleanup
mkdir -p "$run/tmp" "$run/cache"

case ,$groups, in *,tree,*) build_tree ;; esac
case ,$groups, in *,large,*) build_large ;; esac

# ---- disk -------------------------------------------------------------------

fio_file=$work/fio.test
fio_job() {
	local size rt
	size=$(awk -v s="$scale" 'BEGIN { m = int(1024 * s); if (m < 128) m = 128; print m "m" }')
	rt=$(awk -v s="$scale" 'BEGIN { print ((s >= 0.5) ? 10 : 3) }')
	fio --name=bench --filename="$fio_file" --size="$size" --direct=1 --ioengine=libaio \
		--runtime="$rt" --time_based --output-format=terse --terse-version=3 "$@" 2>>"$log"
}
# Terse v3: field 7/8 read KiB/s and IOPS, 48/49 write KiB/s and IOPS.
fio_report() {
	local r w
	echo "disk (fio on $(df --output=fstype "$work" | tail -n1), direct I/O):"
	if ! w=$(fio_job --rw=write --bs=1M --iodepth=8 --end_fsync=1); then
		echo "  fio failed (see $log); continuing without disk figures"
		wipe "$fio_file"
		return 0
	fi
	echo "$w" | awk -F';' '{ printf "  sequential write 1 MiB QD8  %8.0f MiB/s\n", $48 / 1024 }'
	r=$(fio_job --rw=read --bs=1M --iodepth=8)
	echo "$r" | awk -F';' '{ printf "  sequential read  1 MiB QD8  %8.0f MiB/s\n", $7 / 1024 }'
	echo "$r" | awk -F';' '{ printf "%.1f\n", $7 / 1024 }' >"$seqread_file"
	r=$(fio_job --rw=randread --bs=4k --iodepth=1)
	echo "$r" | awk -F';' '{ printf "  random read      4 KiB QD1  %8.0f IOPS (%.0f MiB/s)\n", $8, $7 / 1024 }'
	r=$(fio_job --rw=randread --bs=4k --iodepth=32)
	echo "$r" | awk -F';' '{ printf "  random read      4 KiB QD32 %8.0f IOPS (%.0f MiB/s)\n", $8, $7 / 1024 }'
	wipe "$fio_file"
}

# The other half of issue 3's bound for the large-file backup: what the
# cores together can chunk, MAC, compress and encrypt with coffer's own
# primitives and settings, in memory (bench/bound.c). The bound is the
# smaller of this and the disk's sequential read.
bound_report() {
	local mib
	mib=$(awk -v s="$lsize" 'BEGIN { m = int(s / 1048576); print (m < 256) ? m : 256 }')
	echo
	echo "cores (coffer_bound: chunk + MAC + compress + encrypt in memory, all cores, medians of 3):"
	if ! "$bound_tool" -m "$mib" "$large/random.bin" "$large/text.log" >"$run/bound.out" 2>>"$log"; then
		echo "  coffer_bound failed (see $log); no bound for the large-file backup"
		return 0
	fi
	grep -v '^bound ' "$run/bound.out" | sed 's/^/  /'
	awk '$1 == "bound" && $2 == "total" { for (i = 3; i <= NF; i++) if ($i ~ /^combined_mibs=/) {
		sub(/^combined_mibs=/, "", $i); print $i } }' "$run/bound.out" >"$cores_file"
}

# ---- measuring --------------------------------------------------------------

results=$work/log/$(basename "$log" .log).results
seqread_file=$work/log/$(basename "$log" .log).seqread
cores_file=$work/log/$(basename "$log" .log).cores
: >"$seqread_file"
: >"$cores_file"
: >"$results"
warnings=$work/log/$(basename "$log" .log).warnings
: >"$warnings"
warn() { echo "WARNING: $*" | tee -a "$warnings" >&2; }

# measure GROUP PHASE TOOL REPO DIR CMD...: runs CMD in DIR on cold caches,
# followed by sync (so the time includes getting the written data to disk
# whether or not the tool syncs itself), and appends "group phase tool round
# wall cpu rss_kib growth_bytes" to $results.
measure() {
	local group=$1 phase=$2 tool=$3 repo=$4 dir=$5 s0 s1 tf=$run/time.out err=$run/stderr
	shift 5
	s0=$(size_of "$repo")
	drop_caches
	echo "== round $round $group $phase $tool: $*" >>"$log"
	if ! (cd "$dir" && /usr/bin/time -f '%e %U %S %M' -o "$tf" sh -c '"$@" && sync' sh "$@") \
		>>"$log" 2>"$err"; then
		cat "$err" >>"$log"
		echo "failed: $*" >&2
		tail -n 20 "$err" >&2
		exit 1
	fi
	if [ -s "$err" ]; then
		cat "$err" >>"$log"
		warn "$tool $group $phase (round $round) wrote to stderr: $(head -c 200 "$err" | head -n1)"
	fi
	s1=$(size_of "$repo")
	tail -n1 "$tf" | awk -v k="$group $phase $tool $round" -v g=$((s1 - s0)) \
		'{ printf "%s %s %.2f %d %.0f\n", k, $1, $2 + $3, $4, g }' >>"$results"
}

tool_init() { # TOOL REPO
	case $1 in
	coffer) "$coffer" init --repo "$2" --quiet ;;
	restic) restic init --repo "$2" -q ;;
	borg) borg init -e repokey-blake2 "$2" ;;
	esac >>"$log" 2>&1
}
tool_backup() { # GROUP PHASE TOOL REPO PATH
	local repo=$4 path=$5
	case $3 in
	coffer) measure "$1" "$2" "$3" "$repo" "$run" "$coffer" backup --repo "$repo" --quiet "$path" ;;
	restic) measure "$1" "$2" "$3" "$repo" "$run" restic backup --repo "$repo" -q "$path" ;;
	borg) measure "$1" "$2" "$3" "$repo" "$run" borg create "$repo::$2" "$path" ;;
	esac
}
# Every tool restores PATH as TARGET/PATH (borg extracts relative to its
# working directory). LAST is the last phase's name, borg's archive name.
tool_restore() { # GROUP TOOL REPO TARGET LAST
	local repo=$3 target=$4
	mkdir -p "$target"
	case $2 in
	coffer) measure "$1" restore "$2" "$repo" "$run" "$coffer" restore --repo "$repo" latest \
		--target "$target" --quiet ;;
	restic) measure "$1" restore "$2" "$repo" "$run" restic restore --repo "$repo" latest \
		--target "$target" -q ;;
	borg) measure "$1" restore "$2" "$repo" "$target" borg extract "$repo::$5" ;;
	esac
}
check_restore() { # TOOL SOURCE TARGET
	local want got
	if [ $verify = 1 ]; then
		diff -rq --no-dereference "$2" "$3$2" >>"$log" 2>&1 ||
			warn "$1 restore of $2 differs from the source (round $round; see $log)"
		return 0
	fi
	want=$(stats_of "$2")
	got=$(stats_of "$3$2" 2>/dev/null || true)
	[ "$want" = "$got" ] || warn "$1 restore of $2: files/bytes $got, source $want (round $round)"
}

# run_group GROUP SOURCE PHASE... : the phases in order; change-* and
# revert-* are data steps, the others measured phases; "restore" restores
# what the last backup phase saw (the data is reverted only after it) and
# checks it.
run_group() {
	local group=$1 src=$2 t last=""
	shift 2
	for t in $order; do
		tool_init "$t" "$run/repo-$group-$t" || { echo "$t init failed; see $log" >&2; exit 1; }
	done
	for phase in "$@"; do
		case $phase in
		change-tree) change_tree "$round" ;;
		change-large) change_large "$round" ;;
		revert-tree) revert_tree ;;
		revert-large) revert_large ;;
		restore)
			for t in $order; do
				tool_restore "$group" "$t" "$run/repo-$group-$t" "$run/restore-$t" "$last"
				check_restore "$t" "$src" "$run/restore-$t"
				wipe "$run/restore-$t"
			done ;;
		*)
			for t in $order; do
				tool_backup "$group" "$phase" "$t" "$run/repo-$group-$t" "$src"
			done
			last=$phase ;;
		esac
	done
	for t in $order; do wipe "$run/repo-$group-$t"; done
	wipe "$run/cache"
	mkdir -p "$run/cache"
}

# ---- run --------------------------------------------------------------------

tools=(coffer restic borg)
changed_files=0
{
	echo "coffer benchmark, $(date -u +'%Y-%m-%d %H:%M UTC'), log $log"
	echo "machine: $(nproc) cores, $(awk '/MemTotal/ { printf "%.1f GiB", $2 / 1048576 }' /proc/meminfo) RAM," \
		"kernel $(uname -r), load $(cut -d' ' -f1-3 /proc/loadavg)"
	echo "versions: coffer $("$coffer" --version | cut -d' ' -f2), restic $(restic version | cut -d' ' -f2)," \
		"borg $(borg --version | cut -d' ' -f2), $(fio --version)"
	if [ $cold = yes ]; then
		echo "cold cache before every measured command: yes; rounds: $rounds; scale: $scale"
	else
		echo "cold cache: NOT possible (/proc/sys/vm/drop_caches not writable), caches are warm;" \
			"rounds: $rounds; scale: $scale"
	fi
	case ,$groups, in *,tree,*)
		read -r n b < <(stats_of "$tree")
		echo "tree: $(basename "$tarball" .tar.xz), $n files, $(mib "$b") MiB" ;;
	esac
	case ,$groups, in *,large,*)
		echo "large: random.bin + text.log, $(mib "$lsize") MiB each" ;;
	esac
	# Peak use beyond the data sets (built by now): three repositories of
	# the larger group (up to its size each, as borg compresses less) and
	# one restore target.
	avail=$(df -B1 --output=avail "$work" | tail -n1)
	need=$(awk -v l="$lsize" -v s="$scale" -v g=",$groups," 'BEGIN {
		m = 0
		if (index(g, ",tree,")) m = 4 * 1.4e9 * s
		if (index(g, ",large,") && (8 * l > m)) m = 8 * l
		printf "%.0f", m }')
	echo "free space in $work: $(mib "$avail") MiB (about $(mib "$need") MiB needed)"
	[ "$avail" -ge "$need" ] || echo "WARNING: the run may fill the disk" >&2
	echo
	fio_report
	case ,$groups, in *,large,*) bound_report ;; esac
} | tee "$work/log/$(basename "$log" .log).report"

for round in $(seq 1 "$rounds"); do
	# Rotate the order so no tool always runs first (or on the warmest
	# machine).
	order=""
	for i in 0 1 2; do order+="${tools[(i + round - 1) % 3]} "; done
	echo "round $round/$rounds: $order" >&2
	wipe "$run"
	mkdir -p "$run/tmp" "$run/cache"
	case ,$groups, in *,tree,*)
		run_group tree "$tree" initial unchanged change-tree changed restore revert-tree ;;
	esac
	case ,$groups, in *,large,*)
		run_group large "$large" initial change-large inplace restore revert-large ;;
	esac
done

{
	echo
	echo "medians of $rounds round(s); spread = (max - min) / median of the wall time"
	awk -v writes="$writes" -v groups="$groups" -v cf="$changed_files" \
		-v seqread="$(cat "$seqread_file")" -v cores="$(cat "$cores_file")" -v lsize="${lsize:-0}" '
	function median(a, n,   i, j, t) {
		for (i = 1; i <= n; i++) for (j = i + 1; j <= n; j++)
			if (a[j] < a[i]) { t = a[i]; a[i] = a[j]; a[j] = t }
		return (n % 2) ? a[(n + 1) / 2] : (a[n / 2] + a[n / 2 + 1]) / 2
	}
	{ k = $1 " " $2 " " $3; n = ++cnt[k]; w[k, n] = $5; c[k, n] = $6; r[k, n] = $7; g[k, n] = $8 }
	END {
		np = 0
		if (index("," groups ",", ",tree,")) {
			split("initial unchanged changed restore", tp, " ")
			for (i = 1; i <= 4; i++) ph[++np] = "tree " tp[i]
		}
		if (index("," groups ",", ",large,")) {
			split("initial inplace restore", lp, " ")
			for (i = 1; i <= 3; i++) ph[++np] = "large " lp[i]
		}
		split("coffer restic borg", tools, " ")
		printf "%-16s %-7s %9s %7s %9s %9s %12s\n", "phase", "tool", "wall s", "spread", "cpu s", "rss MiB", "growth MiB"
		for (p = 1; p <= np; p++) for (t = 1; t <= 3; t++) {
			k = ph[p] " " tools[t]; n = cnt[k]
			if (!n) continue
			lo = hi = w[k, 1] + 0
			for (i = 1; i <= n; i++) {
				a[i] = w[k, i] + 0; b[i] = c[k, i] + 0; d[i] = r[k, i] + 0; e[i] = g[k, i] + 0
				if (a[i] < lo) lo = a[i]
				if (a[i] > hi) hi = a[i]
			}
			W[k] = median(a, n); C[k] = median(b, n); R[k] = median(d, n) / 1024; G[k] = median(e, n)
			printf "%-16s %-7s %9.2f %6.0f%% %9.2f %9.1f %12.3f\n", ph[p], tools[t], W[k],
				(W[k] ? 100 * (hi - lo) / W[k] : 0), C[k], R[k], G[k] / 1048576
		}
		printf "\nratios coffer / other (below 1 = coffer better; - = other is 0)\n"
		printf "%-16s %-7s %9s %9s %9s %12s\n", "phase", "vs", "wall", "cpu", "rss", "growth"
		for (p = 1; p <= np; p++) for (t = 2; t <= 3; t++) {
			k = ph[p] " coffer"; o = ph[p] " " tools[t]
			if (!cnt[k] || !cnt[o]) continue
			printf "%-16s %-7s %9s %9s %9s %12s\n", ph[p], tools[t],
				(W[o] ? sprintf("%.2f", W[k] / W[o]) : "-"), (C[o] ? sprintf("%.2f", C[k] / C[o]) : "-"),
				(R[o] ? sprintf("%.2f", R[k] / R[o]) : "-"), (G[o] ? sprintf("%.2f", G[k] / G[o]) : "-")
		}
		if (cnt["large inplace coffer"]) {
			printf "\nin-place writes: %d x 4 KiB = %.2f MiB changed; repository growth as a multiple of it:\n",
				writes, writes * 4096 / 1048576
			for (t = 1; t <= 3; t++)
				printf "  %-7s %8.1f x\n", tools[t], G["large inplace " tools[t]] / (writes * 4096)
		}
		if (cnt["large initial coffer"] && W["large initial coffer"] > 0) {
			rate = 2 * lsize / 1048576 / W["large initial coffer"]
			printf "\nlarge-file initial backup: coffer %.0f MiB/s", rate
			if (seqread > 0 && cores > 0) {
				bound = (seqread < cores) ? seqread : cores
				printf " = %.0f %% of the machine'"'"'s bound %.0f MiB/s\n", 100 * rate / bound, bound
				printf "  (min of disk sequential read %.0f and the cores'"'"' rate %.0f MiB/s; target 80 %%)\n",
					seqread, cores
			} else {
				printf " (no bound: fio or coffer_bound failed)\n"
			}
		}
		if (cf)
			printf "\nchanged re-backup: %d files of the tree changed per round\n", cf
	}' "$results"
	if [ -s "$warnings" ]; then
		echo
		echo "warnings ($(wc -l <"$warnings")):"
		sort "$warnings" | uniq | head -n 20
	fi
	echo
	echo "raw figures: $results; command output: $log"
} | tee -a "$work/log/$(basename "$log" .log).report"
