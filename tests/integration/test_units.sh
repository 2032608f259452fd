# The systemd units, users and directories of etc/systemd/
# (docs/security/privileges.md). Checked by reading them: each unit runs
# as its own user with NoNewPrivileges, ProtectSystem=strict, PrivateTmp
# and a capability bounding set (empty for the scheduler), checks its
# configuration with -n before starting, and names only users, groups and
# directories that coffer.sysusers and coffer.tmpfiles make. Then
# systemd-analyze verify and security, and each built daemon's -n on a
# good configuration (exit 0) and on broken ones (non-zero, file and line
# named), also with the command line the unit gives it. Every check runs;
# if systemd-analyze is missing or unusable here, the test ends with 77
# (skip) after the others pass, saying so.
source "$(dirname "$0")/lib.sh"

U=$COFFER_SRC/etc/systemd
SYSUSERS=$U/coffer.sysusers
TMPFILES=$U/coffer.tmpfiles
DAEMONS=(backupd restored erased scheduler)
for f in "$SYSUSERS" "$TMPFILES" "$U/README.md"; do
	[ -f "$f" ] || fail "missing $f"
done

unit_of() { echo "$U/coffer-$1.service"; }
bin_name() { case $1 in restored) echo coffer-restored ;; *) echo "coffer-$1" ;; esac; }
# vals UNIT KEY: the values of every KEY= line of UNIT, one a line
# (comments skipped; an empty assignment prints an empty line).
vals() { awk -v k="$2" 'index($0, k "=") == 1 { print substr($0, length(k) + 2) }' "$(unit_of "$1")"; }
val() { vals "$1" "$2" | tail -n 1; }
has() { vals "$1" "$2" | grep -qxF -- "$3"; }
# words LIST...: the words sorted, one a line (split on purpose).
# shellcheck disable=SC2048,SC2086
words() { printf '%s\n' $* | sort -u; }

# ---- each unit --------------------------------------------------------
for d in "${DAEMONS[@]}"; do
	f=$(unit_of "$d")
	[ -f "$f" ] || { soft_fail "missing $f"; continue; }
	b=$(bin_name "$d")
	user=$(val "$d" User)
	[ -n "$user" ] && [ "$user" != root ] || soft_fail "$d: no dedicated User= (got '$user')"
	has "$d" Group coffer-daemon || soft_fail "$d: Group= is not coffer-daemon"
	# shellcheck disable=SC2016 # $MAINPID is systemd's, not ours
	for kv in NoNewPrivileges=yes ProtectSystem=strict PrivateTmp=yes Type=notify \
		Restart=on-failure UMask=0007 RestrictAddressFamilies=AF_UNIX \
		SystemCallArchitectures=native SystemCallFilter=@system-service \
		'ExecReload=/bin/kill -HUP $MAINPID'; do
		has "$d" "${kv%%=*}" "${kv#*=}" || soft_fail "$d: no $kv"
	done
	vals "$d" CapabilityBoundingSet | grep -q '' || soft_fail "$d: no CapabilityBoundingSet= line"
	[ -n "$(val "$d" WatchdogSec)" ] || soft_fail "$d: no WatchdogSec="
	val "$d" ExecStartPre | grep -q "/$b -n " || soft_fail "$d: ExecStartPre= does not run $b -n"
	val "$d" ExecStart | grep -q "/$b -f " || soft_fail "$d: ExecStart= does not run $b -f"
	grep -v '^#' "$f" | grep -q -- '--passphrase-file' &&
		soft_fail "$d: a unit must not unlock the keystore from a file"
	# Shared directories come from tmpfiles (privileges.md says why).
	for k in StateDirectory RuntimeDirectory ConfigurationDirectory; do
		[ -z "$(vals "$d" "$k")" ] || soft_fail "$d: $k= re-owns or binds a shared directory"
	done
	bound=$(words "$(vals "$d" CapabilityBoundingSet)")
	ambient=$(words "$(vals "$d" AmbientCapabilities)")
	[ "$bound" = "$ambient" ] || soft_fail "$d: AmbientCapabilities= differs from the bounding set"
	echo "$bound" | grep -qx CAP_SYS_ADMIN && soft_fail "$d: holds CAP_SYS_ADMIN"
done

# The scheduler holds nothing; backupd only reads; restored may not lose
# what a faithful restore needs to the sandbox.
[ -z "$(vals scheduler CapabilityBoundingSet | tr -d ' \n')" ] &&
	[ -z "$(vals scheduler AmbientCapabilities | tr -d ' \n')" ] ||
	soft_fail "scheduler: CapabilityBoundingSet= and AmbientCapabilities= must be empty"
[ "$(words "$(vals backupd CapabilityBoundingSet)")" = CAP_DAC_READ_SEARCH ] ||
	soft_fail "backupd: the bounding set is not CAP_DAC_READ_SEARCH alone"
has backupd ProtectHome read-only || soft_fail "backupd: sources under /home need ProtectHome=read-only"
for c in CAP_CHOWN CAP_DAC_OVERRIDE CAP_FOWNER CAP_FSETID CAP_MKNOD CAP_SETFCAP; do
	words "$(vals restored CapabilityBoundingSet)" | grep -qx "$c" || soft_fail "restored: no $c"
done
has restored PrivateDevices yes && soft_fail "restored: PrivateDevices=yes drops CAP_MKNOD"
has restored RestrictSUIDSGID yes && soft_fail "restored: RestrictSUIDSGID=yes refuses setuid restores"
has restored DeviceAllow 'char-* m' && has restored DeviceAllow 'block-* m' ||
	soft_fail "restored: device nodes cannot be created (DeviceAllow=char-* m, block-* m)"
for d in backupd restored; do
	has "$d" SystemCallFilter 'io_uring_setup io_uring_enter io_uring_register' ||
		soft_fail "$d: io_uring not allowed explicitly"
done
vals scheduler SystemCallFilter | grep -q '^~.*io_uring_setup' && has scheduler Environment COFFER_IO_ENGINE=sync ||
	soft_fail "scheduler: io_uring should be filtered out and the sync engine chosen"

# ---- users, groups and directories --------------------------------------
# sysusers: a u line per daemon user with its primary group, g lines for
# the groups (and every group roles.conf names).
for d in "${DAEMONS[@]}"; do
	user=$(val "$d" User) group=$(val "$d" Group)
	awk -v u="$user" -v g="$group" '$1 == "u" && $2 == u && $3 ~ (":" g "$") { ok = 1 } END { exit !ok }' \
		"$SYSUSERS" || soft_fail "$d: coffer.sysusers has no user $user in group $group"
done
sysgroups=$(awk '$1 == "g" { print $2 }' "$SYSUSERS")
for g in coffer coffer-daemon $(awk -F'=' '/^[a-z]+ *=/ && $1 !~ /daemon|dev-single-user/ { gsub(/[ ,]+/, " ", $2); print $2 }' "$COFFER_SRC/etc/roles.conf"); do
	echo "$sysgroups" | grep -qx "$g" || soft_fail "coffer.sysusers has no group $g"
done
grep -qx "daemon = $(val scheduler User)" "$COFFER_SRC/etc/roles.conf" ||
	soft_fail "roles.conf does not give the scheduler's user the daemon role"
# tmpfiles: every directory a unit writes is made there, and its ACL names
# the daemon users.
for d in "${DAEMONS[@]}"; do
	for p in $(vals "$d" ReadWritePaths); do
		case $p in -*) continue ;; esac
		awk -v p="$p" '$1 == "d" && $2 == p { ok = 1 } END { exit !ok }' "$TMPFILES" ||
			soft_fail "$d: coffer.tmpfiles does not make $p"
	done
	grep '^a+ */run/coffer ' "$TMPFILES" | grep -q "user:$(val "$d" User):rwx" ||
		soft_fail "coffer.tmpfiles: /run/coffer's ACL does not let $(val "$d" User) create its socket"
done
grep '^a+ */run/coffer ' "$TMPFILES" | grep -q 'default:group:coffer:rw-' ||
	soft_fail "coffer.tmpfiles: sockets would not be connectable by group coffer"

# The two files applied to an empty root, where the tools and privileges
# allow (nothing on this host changes).
if is_root && command -v systemd-sysusers >/dev/null && command -v systemd-tmpfiles >/dev/null; then
	R=$T/root
	mkdir -p "$R/etc" "$R/run" "$R/var/lib" "$R/srv"
	: >"$R/etc/passwd"
	: >"$R/etc/group"
	systemd-sysusers --root="$R" "$SYSUSERS" >"$T/sysusers.out" 2>&1 ||
		soft_fail "systemd-sysusers refused coffer.sysusers: $(cat "$T/sysusers.out")"
	# ACL user names resolve on the host only: that line is left out here.
	grep -v '^a' "$TMPFILES" >"$T/tmpfiles.conf"
	systemd-tmpfiles --root="$R" --create "$T/tmpfiles.conf" >"$T/tmpfiles.out" 2>&1 ||
		soft_fail "systemd-tmpfiles refused coffer.tmpfiles: $(cat "$T/tmpfiles.out")"
	uid_of() { awk -F: -v n="$1" '$1 == n { print $3 }' "$R/etc/passwd"; }
	gid_of() { awk -F: -v n="$1" '$1 == n { print $3 }' "$R/etc/group"; }
	expect_dir() { # PATH MODE USER GROUP
		local got want
		got=$(stat -c '%a %u %g' "$R$1" 2>/dev/null || echo missing)
		want="$2 $(if [ "$3" = root ]; then echo 0; else uid_of "$3"; fi) $(if [ "$4" = root ]; then echo 0; else gid_of "$4"; fi)"
		[ "$got" = "$want" ] || soft_fail "$1: got '$got', want '$want' (mode uid gid)"
	}
	expect_dir /etc/coffer 755 root root
	expect_dir /var/lib/coffer 770 coffer-backup coffer-daemon
	expect_dir /run/coffer 1750 root coffer
	expect_dir /srv/coffer-restore 700 coffer-restore coffer-daemon
	for db in catalog jobs sched; do
		[ "$(stat -c %a "$R/var/lib/coffer/$db.db" 2>/dev/null)" = 660 ] ||
			soft_fail "$db.db is not made 0660 (group-writable for every daemon)"
	done
else
	echo "note: not root or no systemd-sysusers/tmpfiles: the files were not applied" >&2
fi

# ---- systemd-analyze -------------------------------------------------------
# The units as installed name /usr/local/sbin; here they run the built
# daemons (or /bin/true for one not built).
V=$T/units
mkdir -p "$V"
for d in "${DAEMONS[@]}"; do
	b=$(bin_name "$d") exe=$(daemon_bin "$d")
	[ -x "$exe" ] || exe=/bin/true
	sed "s#/usr/local/sbin/$b#$exe#g" "$(unit_of "$d")" >"$V/coffer-$d.service"
done
analyze_skip=
if ! command -v systemd-analyze >/dev/null; then
	analyze_skip="systemd-analyze is not installed"
else
	# Usable at all here? A unit that is certainly fine must verify silently.
	printf '[Unit]\nDescription=probe\n[Service]\nExecStart=/bin/true\n' >"$T/probe.service"
	if ! systemd-analyze verify --man=no "$T/probe.service" >"$T/probe.out" 2>&1 ||
		[ -s "$T/probe.out" ]; then
		analyze_skip="systemd-analyze verify does not work here: $(head -3 "$T/probe.out")"
	fi
fi
if [ -z "$analyze_skip" ]; then
	(cd "$V" && systemd-analyze verify --man=no coffer-backupd.service coffer-restored.service coffer-erased.service \
		coffer-scheduler.service) >"$T/verify.out" 2>&1 ||
		soft_fail "systemd-analyze verify failed: $(cat "$T/verify.out")"
	[ -s "$T/verify.out" ] && soft_fail "systemd-analyze verify warns: $(cat "$T/verify.out")"
	# The exposure score, where this systemd can compute it offline (>= 250).
	for d in "${DAEMONS[@]}"; do
		score=$(systemd-analyze security --offline=yes --no-pager "$V/coffer-$d.service" 2>/dev/null |
			sed -n 's/.*Overall exposure level for [^:]*: \([0-9.]*\).*/\1/p')
		[ -n "$score" ] || continue
		echo "coffer-$d: exposure $score" >&2
		awk -v s="$score" 'BEGIN { exit !(s <= 2.0) }' ||
			soft_fail "coffer-$d: systemd-analyze security exposure $score (> 2.0)"
	done
fi

# ---- -n on good and broken configurations --------------------------------
# C holds a configuration; S and R are the state and run directories -n
# must leave alone.
C=$T/conf S=$T/state R2=$T/run
mkdir -p "$C" "$S"
built=0
for d in "${DAEMONS[@]}"; do
	exe=$(daemon_bin "$d")
	if [ ! -x "$exe" ]; then
		echo "note: $(bin_name "$d") is not built ($exe): its -n is not checked" >&2
		continue
	fi
	built=$((built + 1))
	cp "$COFFER_SRC/etc/levels.conf" "$COFFER_SRC/etc/roles.conf" "$C/"
	chmod 644 "$C/levels.conf" "$C/roles.conf"
	check() { "$exe" -n --state-dir "$S" --run-dir "$R2" --config-dir "$C" >"$T/out" 2>"$T/err"; }

	check || soft_fail "$d -n refused the shipped configuration: $(cat "$T/err")"
	grep -q "configuration in $C is valid" "$T/out" || soft_fail "$d -n did not say the configuration is valid"

	# The command line of the unit's ExecStartPre, directories redirected.
	pre=$(val "$d" ExecStartPre)
	pre=${pre#/usr/local/sbin/$(bin_name "$d")}
	pre=${pre//\/var\/lib\/coffer/$S}
	pre=${pre//\/run\/coffer/$R2}
	pre=${pre//\/etc\/coffer/$C}
	# shellcheck disable=SC2086
	"$exe" $pre >"$T/out" 2>"$T/err" || soft_fail "$d: the unit's ExecStartPre fails: $(cat "$T/err")"

	# levels.conf: an unknown key on line 4 of the file.
	printf '# broken\n[level 1]\nname = internal\nflavour = vanilla\n' >"$C/levels.conf"
	rc=0
	check || rc=$?
	[ "$rc" -ne 0 ] || soft_fail "$d -n accepted a levels.conf with an unknown key"
	grep -q "$C/levels.conf:4:" "$T/err" || soft_fail "$d -n did not name levels.conf:4: $(cat "$T/err")"
	cp "$COFFER_SRC/etc/levels.conf" "$C/"

	# roles.conf: one group as sysadmin and auditor (line 2).
	printf 'sysadmin = staff\nauditor = staff\n' >"$C/roles.conf"
	rc=0
	check || rc=$?
	[ "$rc" -ne 0 ] || soft_fail "$d -n accepted one group as sysadmin and auditor"
	grep -q "$C/roles.conf:2:" "$T/err" || soft_fail "$d -n did not name roles.conf:2: $(cat "$T/err")"

	# A roles.conf anyone may write is refused.
	cp "$COFFER_SRC/etc/roles.conf" "$C/"
	chmod 666 "$C/roles.conf"
	rc=0
	check || rc=$?
	[ "$rc" -ne 0 ] || soft_fail "$d -n accepted a world-writable roles.conf"
	chmod 644 "$C/roles.conf"
done
[ -z "$(ls -A "$S")" ] || soft_fail "-n wrote into the state directory: $(ls -A "$S")"
[ ! -e "$R2" ] || soft_fail "-n made the run directory"

finish_checks
[ "$built" -gt 0 ] || echo "note: no daemon is built: only the files were checked" >&2
[ -z "$analyze_skip" ] || skip "$analyze_skip (every other check passed)"
exit 0
