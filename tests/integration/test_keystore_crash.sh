# Root-key rotation killed at random moments (SIGKILL, as a power cut
# would stop it): afterwards the old or the new passphrase unlocks the
# keystore, the unlock finishes whatever rotation was under way, and every
# dataset's key set reads back exactly as before. Nothing is ever left
# under a root key nobody holds.
source "$(dirname "$0")/lib.sh"

KEYTOOL=${KEYTOOL:-$COFFER_BUILD/tests/keytool}
S=$T/state
export COFFER_STATE_DIR=$S
"$COFFER" keystore init --kdf-cost 10 --quiet || fail "keystore init"
names=()
for i in 1 2 3 4 5 6 7 8; do
	"$COFFER" dataset create "ds$i" --level 1 --owner x --quiet || fail "create ds$i"
	names+=("ds$i")
done
"$COFFER" keystore identity --quiet >/dev/null || fail "site keys"
"$COFFER" keystore identity >"$T/ident.before"
for n in "${names[@]}"; do
	"$KEYTOOL" dump-keyset --state-dir "$S" --dataset "$n" >"$T/keys.$n" || fail "dump $n"
done

cur=$T/passphrase
completed=0 cut=0
for round in $(seq 1 20); do
	next=$T/pass.$round
	printf 'passphrase of round %s\n' "$round" >"$next"
	COFFER_PASSPHRASE_FILE=$cur "$COFFER" keystore rotate --new-passphrase-file "$next" \
		--quiet 2>/dev/null &
	pid=$!
	sleep "0.0$(rand_below 40 | xargs printf '%02d')"
	kill -9 "$pid" 2>/dev/null && cut=$((cut + 1)) || true
	wait "$pid" 2>/dev/null || true
	# One of the two passphrases unlocks, and the unlock completes the rotation.
	if COFFER_PASSPHRASE_FILE=$cur "$KEYTOOL" dump-keyset --state-dir "$S" \
		--dataset ds1 >"$T/now" 2>"$T/err"; then
		:
	elif COFFER_PASSPHRASE_FILE=$next "$KEYTOOL" dump-keyset --state-dir "$S" \
		--dataset ds1 >"$T/now" 2>>"$T/err"; then
		cur=$next
		completed=$((completed + 1))
	else
		fail "round $round: neither passphrase unlocks: $(cat "$T/err")"
	fi
	[ ! -e "$S/keystore/rotating" ] || {
		# Unlocked with the old one: the pending rotation finished, so the new one rules.
		fail "round $round: the rotation journal survived an unlock"
	}
	# After any completed rotation only the newest passphrase works.
	if ! COFFER_PASSPHRASE_FILE=$cur "$KEYTOOL" dump-keyset --state-dir "$S" --dataset ds1 \
		>/dev/null 2>&1; then
		cur=$next
		completed=$((completed + 1))
	fi
	for n in "${names[@]}"; do
		COFFER_PASSPHRASE_FILE=$cur "$KEYTOOL" dump-keyset --state-dir "$S" --dataset "$n" \
			>"$T/now" 2>"$T/err" || fail "round $round: $n unreadable: $(cat "$T/err")"
		cmp -s "$T/now" "$T/keys.$n" || fail "round $round: the keys of $n changed"
	done
done
COFFER_PASSPHRASE_FILE=$cur "$COFFER" keystore identity >"$T/ident.after" || fail "identity after"
cmp -s "$T/ident.before" "$T/ident.after" || fail "the site identity changed across rotations"
echo "ok: 20 rounds, $cut killed, $completed rotations took effect"
