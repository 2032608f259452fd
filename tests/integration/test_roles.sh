# Roles from unix groups, with real accounts (created here, as root, and
# removed afterwards): each of sysadmin, secadmin, operator, auditor and
# approver can do exactly its own operations through the daemons and is
# refused the rest with a message naming the role it lacks; a user with no
# role is refused everything but hello; a user holding two of the three
# exclusive roles is refused everything, naming the conflict; and a
# roles.conf mapping one group to two exclusive roles is refused by -n.
source "$(dirname "$0")/lib.sh"

is_root || skip "the role tests create unix users and groups and need root"
for t in useradd groupadd userdel groupdel setpriv runuser python3; do
	command -v "$t" >/dev/null || skip "$t is not installed"
done
[ -x "$(daemon_bin restored)" ] || skip "coffer-restored is not built"

p=ct$$
G=$p                          # may reach the sockets
accounts=()
remove_accounts() {
	local a
	for a in "${accounts[@]:-}"; do
		[ -n "$a" ] || continue
		case $a in
		user:*) userdel "${a#user:}" 2>/dev/null || true ;;
		group:*) groupdel "${a#group:}" 2>/dev/null || true ;;
		esac
	done
}
trap 'rc=$?; remove_accounts; (exit $rc); cleanup' EXIT
for g in "$G" "$p-sys" "$p-sec" "$p-aud" "$p-op" "$p-appr"; do
	groupadd "$g" || fail "groupadd $g"
	accounts=("group:$g" "${accounts[@]}")
done
mkuser() { # mkuser NAME GROUPS
	useradd -M -N -g "$G" -G "$2" -s /bin/sh "$1" || fail "useradd $1"
	accounts=("user:$1" "${accounts[@]}")
}
mkuser "${p}sys" "$p-sys"
mkuser "${p}sec" "$p-sec"
mkuser "${p}aud" "$p-aud"
mkuser "${p}op" "$p-op"
mkuser "${p}appr" "$p-appr"
mkuser "${p}none" "$G"
mkuser "${p}both" "$p-sys,$p-aud"

appliance_init "$T/app"
cat >"$COFFER_CONFIG_DIR/roles.conf" <<EOF
sysadmin = $p-sys
secadmin = $p-sec
auditor = $p-aud
operator = $p-op
approver = $p-appr
EOF
# A group in two exclusive roles: the configuration check refuses it.
mkdir -p "$T/bad"
printf 'sysadmin = %s-sys\nauditor = %s-sys\n' "$p" "$p" >"$T/bad/roles.conf"
expect_rc 1 "$(daemon_bin backupd)" -n --config-dir "$T/bad" --state-dir "$COFFER_STATE_DIR" \
	2>"$T/err"
grep -q "roles.conf:2:" "$T/err" || fail "the conflicting roles.conf is not refused by line: $(cat "$T/err")"

# Daemons as root with the socket group $G, so the test users can connect.
chgrp "$G" "$COFFER_RUN_DIR" && chmod 750 "$COFFER_RUN_DIR"
chmod 755 "$T" "$T/app"
DAEMON_WRAP="setpriv --regid=$G --clear-groups"
daemon_start backupd
daemon_start restored
mkdir -p "$T/src"
head -c 100000 /dev/urandom >"$T/src/data.bin"

# as USER coffer-args...: the console as that user; output in $T/out, $T/err.
as() {
	local u=$1
	shift
	runuser -u "$u" -- env COFFER_RUN_DIR="$COFFER_RUN_DIR" COFFER_PASSPHRASE_FILE="$T/pass.$u" \
		"$COFFER" "$@" >"$T/out" 2>"$T/err"
}
# allowed USER args...: the command succeeds.
allowed() {
	local u=$1
	shift
	as "$u" "$@" || fail "$u may '$*' but was refused: $(cat "$T/err")"
}
# refused USER ROLE args...: the command fails naming ROLE as missing.
refused() {
	local u=$1 role=$2
	shift 2
	if as "$u" "$@"; then
		fail "$u may not '$*' but it succeeded"
	fi
	grep -q "needs the role.*$role" "$T/err" || fail "$u '$*': refusal does not name $role: $(cat "$T/err")"
}
for u in "${p}sec"; do
	install -m 600 -o "$u" "$COFFER_PASSPHRASE_FILE" "$T/pass.$u"
done

# sysadmin: datasets and policies, not jobs or keys.
allowed "${p}sys" dataset create r --level 1 --owner roles
allowed "${p}sys" dataset list
allowed "${p}sys" policy set r --source "$T/src" --keep-last 3
allowed "${p}sys" policy show r
allowed "${p}sys" jobs
refused "${p}sys" operator backup --dataset r
refused "${p}sys" operator restore --dataset r latest --target "$T/r-sys"
refused "${p}sys" secadmin keystore lock

# operator: jobs, backups, restores, snapshots; not configuration or keys.
allowed "${p}op" backup --dataset r
allowed "${p}op" snapshots --dataset r
allowed "${p}op" restore --dataset r latest --target "$T/r-op"
cmp "$T/src/data.bin" "$T/r-op$T/src/data.bin" || fail "the operator's restore differs"
allowed "${p}op" jobs
allowed "${p}op" dataset show r
refused "${p}op" sysadmin dataset create r2 --level 1 --owner roles
refused "${p}op" sysadmin policy set r --keep-last 1
refused "${p}op" secadmin keystore lock

# secadmin: the keystore session; not datasets or jobs.
allowed "${p}sec" keystore lock
as "${p}op" backup --dataset r && fail "a backup ran with the keystore locked"
grep -q "keystore is locked" "$T/err" || fail "locked keystore not named: $(cat "$T/err")"
allowed "${p}sec" keystore unlock
allowed "${p}op" backup --dataset r
refused "${p}sec" sysadmin dataset create r3 --level 1 --owner roles
refused "${p}sec" operator backup --dataset r
refused "${p}sec" operator jobs

# auditor and approver: nothing of this here (the audit trail comes later).
for u in "${p}aud" "${p}appr"; do
	refused "$u" sysadmin dataset create r4 --level 1 --owner roles
	refused "$u" operator backup --dataset r
	refused "$u" operator jobs
	refused "$u" secadmin keystore lock
	refused "$u" operator restore --dataset r latest --target "$T/r-$u"
done

# No role: refused everything, status included.
refused "${p}none" operator jobs
refused "${p}none" sysadmin dataset list
# status still says who you are (hello needs no role) and why the rest is refused.
as "${p}none" status || true
grep -q "needs the role" "$T/err" "$T/out" || fail "status does not show the refusal: $(cat "$T/out" "$T/err")"

# Two exclusive roles: refused as a whole, naming both.
for cmd in "dataset list" "jobs"; do
	# shellcheck disable=SC2086
	as "${p}both" $cmd && fail "a user with conflicting roles may '$cmd'"
	grep -q "holds both sysadmin" "$T/err" && grep -q "auditor" "$T/err" ||
		fail "conflict not named for '$cmd': $(cat "$T/err")"
done
# The daemons logged the refusals with the uid.
grep -q "refused 'backup' from uid $(id -u "${p}sys")" "$T/app/log/backupd.log" ||
	fail "refusals are not logged with the uid"
echo "ok"
