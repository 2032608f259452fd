#!/usr/bin/env bash
# Benchmarks coffer against restic and borg on the same data in the same
# run, phase by phase, repeated, and prints medians and ratios.
#
# Usage: bench/compare.sh [-r ROUNDS] [-d DATASET_DIR] [-w WORKDIR]
#   ROUNDS   repetitions of every phase (default 3); medians are reported
#   DATASET  directory to back up (default: a generated mix under WORKDIR:
#            /usr/include and /usr/share/doc copies for many small files,
#            one 256 MiB random file, one 256 MiB compressible file)
#
# Phases: initial backup, unchanged re-backup, changed re-backup (1 % of the
# files touched), full restore. Every tool encrypts (coffer AES-256-GCM,
# restic AES-256-CTR+Poly1305, borg repokey-blake2). Caches are dropped
# before each phase when /proc/sys/vm/drop_caches is writable (root).
# Prints per phase and tool: wall s, CPU s, peak RSS MiB, repository growth
# MiB, then the ratios coffer/restic and coffer/borg (below 1 = coffer
# better).
set -euo pipefail
cd "$(dirname "$0")/.."

rounds=3 data="" work=$PWD/bench-work
while getopts r:d:w: o; do
	case $o in
	r) rounds=$OPTARG ;;
	d) data=$(realpath "$OPTARG") ;;
	w) work=$(realpath -m "$OPTARG") ;;
	*) sed -n 2,18p "$0"; exit 2 ;;
	esac
done

scripts/deps.sh
for p in restic borgbackup time; do
	dpkg-query -W -f='${Status}' $p 2>/dev/null | grep -q "install ok installed" || {
		sudo=""; [ "$(id -u)" -eq 0 ] || sudo=sudo
		$sudo apt-get install -y -qq $p >/dev/null
	}
done
coffer=$PWD/$(scripts/build.sh release coffer)/console/coffer

mkdir -p "$work"
pass=$work/passphrase
echo "bench passphrase $(date +%s)" >"$pass"
export COFFER_PASSPHRASE_FILE=$pass RESTIC_PASSWORD_FILE=$pass
export BORG_PASSCOMMAND="cat $pass"

if [ -z "$data" ]; then
	data=$work/dataset
	if [ ! -d "$data" ]; then
		echo "generating dataset in $data" >&2
		mkdir -p "$data"
		cp -a /usr/include "$data/include"
		cp -a /usr/share/doc "$data/doc"
		head -c 256M /dev/urandom >"$data/random.bin"
		# Compressible: repeated text with some variation.
		awk 'BEGIN { for (i = 1; i <= 6000000; i++)
			printf "record %d: day %d, department %d archive entry, status %s\n",
				i, i / 86400, i % 97, (i % 13 ? "ok" : "retry") }' |
			head -c 256M >"$data/text.log" || true
	fi
fi
files=$(find "$data" -type f | wc -l)
bytes=$(du -sb "$data" | cut -f1)

drop_caches() {
	sync
	[ -w /proc/sys/vm/drop_caches ] && echo 3 >/proc/sys/vm/drop_caches || true
}

# measure LABEL cmd...: appends "label wall cpu rss_kib" to $results
results=$work/results.txt
measure() {
	local label=$1 tf
	shift
	tf=$(mktemp)
	drop_caches
	# Tool steps are shell functions: time a bash running one of them
	# (exported below), whose own cost is a few milliseconds.
	/usr/bin/time -f '%e %U %S %M' -o "$tf" bash -c '"$@"' _ "$@" >/dev/null 2>"$work/last.err" || {
		echo "command failed: $*" >&2
		cat "$work/last.err" >&2
		exit 1
	}
	awk -v l="$label" '{printf "%s %s %.2f %d\n", l, $1, $2 + $3, $4}' "$tf" >>"$results"
	rm -f "$tf"
}
growth() { echo "$1 $2" >>"$work/growth.txt"; }
size_of() { du -sb "$1" | cut -f1; }

# A tool is three functions: init, backup, restore (DIR).
coffer_init() { "$coffer" init --repo "$work/repo-coffer" --quiet; }
coffer_backup() { "$coffer" backup --repo "$work/repo-coffer" --quiet "$data"; }
coffer_restore() { "$coffer" restore --repo "$work/repo-coffer" --quiet latest --target "$1"; }
restic_init() { restic init --repo "$work/repo-restic" -q; }
restic_backup() { restic backup --repo "$work/repo-restic" -q "$data"; }
restic_restore() { restic restore --repo "$work/repo-restic" -q latest --target "$1"; }
borg_init() { borg init -e repokey-blake2 "$work/repo-borg"; }
borg_backup() { borg create "$work/repo-borg::b$(date +%s%N)" "$data"; }
borg_restore() { mkdir -p "$1" && (cd "$1" && borg extract "$work/repo-borg::$(borg list --last 1 --short "$work/repo-borg")"); }

# Changes 1 % of the files (a line appended to each), keeping the originals
# so that every tool sees the same data; revert_files puts them back.
export work data coffer
export -f coffer_init coffer_backup coffer_restore restic_init restic_backup restic_restore \
	borg_init borg_backup borg_restore

change_files() {
	find "$data" -type f | awk -v s="$1" 'NR % 100 == s % 100' >"$work/changed.list"
	tar -cPf "$work/originals.tar" -T "$work/changed.list"
	while read -r f; do echo "change $1" >>"$f"; done <"$work/changed.list"
}
revert_files() { tar -xPpf "$work/originals.tar"; }

: >"$results"
: >"$work/growth.txt"
for round in $(seq 1 "$rounds"); do
	# Alternate the order so no tool always runs on the warmest machine.
	case $((round % 3)) in
	1) tools="coffer restic borg" ;;
	2) tools="restic borg coffer" ;;
	0) tools="borg coffer restic" ;;
	esac
	for t in $tools; do
		rm -rf "$work/repo-$t" "$work/restore-$t"
		${t}_init >/dev/null 2>&1
		s0=$(size_of "$work/repo-$t")
		measure "$t initial" ${t}_backup
		s1=$(size_of "$work/repo-$t")
		growth "$t initial" $((s1 - s0))
		measure "$t unchanged" ${t}_backup
		s2=$(size_of "$work/repo-$t")
		growth "$t unchanged" $((s2 - s1))
		change_files "$round"
		measure "$t changed" ${t}_backup
		s3=$(size_of "$work/repo-$t")
		growth "$t changed" $((s3 - s2))
		measure "$t restore" ${t}_restore "$work/restore-$t"
		revert_files
		rm -rf "$work/restore-$t" "$work/repo-$t"
	done
done

echo
echo "dataset: $files files, $((bytes >> 20)) MiB; rounds: $rounds; $(nproc) cores; $(uname -r)"
echo "coffer $("$coffer" --version | cut -d' ' -f2), $(restic version | cut -d' ' -f2), borg $(borg --version | cut -d' ' -f2)"
awk '
function median(arr, n,   i, j, t) {
	for (i = 1; i <= n; i++) for (j = i + 1; j <= n; j++)
		if (arr[j] < arr[i]) { t = arr[i]; arr[i] = arr[j]; arr[j] = t }
	return n % 2 ? arr[(n + 1) / 2] : (arr[n / 2] + arr[n / 2 + 1]) / 2
}
FNR == NR { k = $1 " " $2; n = ++gn[k]; g[k, n] = $3; next }
{ k = $1 " " $2; n = ++cnt[k]; w[k, n] = $3; c[k, n] = $4; r[k, n] = $5 }
END {
	split("initial unchanged changed restore", phases, " ")
	split("coffer restic borg", tools, " ")
	printf "%-10s %-7s %9s %9s %9s %11s\n", "phase", "tool", "wall s", "cpu s", "rss MiB", "growth MiB"
	for (p = 1; p <= 4; p++) for (t = 1; t <= 3; t++) {
		k = tools[t] " " phases[p]; n = cnt[k]
		for (i = 1; i <= n; i++) { a[i] = w[k, i]; b[i] = c[k, i]; d[i] = r[k, i]; e[i] = g[k, i] }
		W[k] = median(a, n); C[k] = median(b, n); R[k] = median(d, n) / 1024
		G[k] = gn[k] ? median(e, gn[k]) / 1048576 : 0
		printf "%-10s %-7s %9.2f %9.2f %9.1f %11.1f\n", phases[p], tools[t], W[k], C[k], R[k], G[k]
	}
	printf "\nratios (coffer / other; below 1 = coffer better)\n"
	printf "%-10s %-7s %9s %9s %9s %11s\n", "phase", "vs", "wall", "cpu", "rss", "growth"
	for (p = 1; p <= 4; p++) for (t = 2; t <= 3; t++) {
		k = "coffer " phases[p]; o = tools[t] " " phases[p]
		printf "%-10s %-7s %9.2f %9.2f %9.2f %11s\n", phases[p], tools[t],
			W[o] ? W[k] / W[o] : 0, C[o] ? C[k] / C[o] : 0, R[o] ? R[k] / R[o] : 0,
			(G[o] > 0.05 ? sprintf("%.2f", G[k] / G[o]) : "-")
	}
}' "$work/growth.txt" "$results"
