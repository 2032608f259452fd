/*
 * The session cache of an unlocked root key in the kernel's user keyring.
 * Permissions allow the owning uid to find and read the key even from a
 * process that does not "possess" it (another login session), and nobody
 * else anything.
 */
#include "keys/session.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include <keyutils.h>

#include "util/hex.h"
#include "util/mem.h"

static void session_desc(const uint8_t id[32], char desc[80])
{
	char hex[65];
	hex_encode(id, 32, hex);
	snprintf(desc, 80, "coffer:root:%s", hex);
}

/* The errno of a refused keyring call, mapped: absent keyring is -ENOSYS. */
static int keyring_err(void)
{
	int e = errno;
	if (e == ENOSYS || e == EPERM || e == EOPNOTSUPP)
		return -ENOSYS;
	return -e;
}

int session_store(const uint8_t keystore_id[32], const uint8_t root[CRYPTO_KEY_LEN],
		  unsigned timeout_s)
{
	char desc[80];
	session_desc(keystore_id, desc);
	key_serial_t k = add_key("user", desc, root, CRYPTO_KEY_LEN, KEY_SPEC_USER_KEYRING);
	if (k < 0)
		return keyring_err();
	if (keyctl_setperm(k, KEY_POS_ALL | KEY_USR_VIEW | KEY_USR_READ | KEY_USR_SEARCH |
			      KEY_USR_WRITE | KEY_USR_SETATTR) != 0 ||
	    (timeout_s && keyctl_set_timeout(k, timeout_s) != 0)) {
		int e = keyring_err();
		(void)keyctl_revoke(k);
		return e;
	}
	return 0;
}

int session_load(const uint8_t keystore_id[32], uint8_t root[CRYPTO_KEY_LEN])
{
	char desc[80];
	uint8_t tmp[CRYPTO_KEY_LEN + 1];
	session_desc(keystore_id, desc);
	long k = keyctl_search(KEY_SPEC_USER_KEYRING, "user", desc, 0);
	if (k < 0)
		return errno == ENOKEY || errno == EKEYEXPIRED || errno == EKEYREVOKED
			       ? -ENOENT : keyring_err();
	long n = keyctl_read((key_serial_t)k, (char *)tmp, sizeof tmp);
	int e = 0;
	if (n < 0)
		e = errno == EKEYEXPIRED || errno == EKEYREVOKED ? -ENOENT : keyring_err();
	else if (n != CRYPTO_KEY_LEN)
		e = -EBADMSG;
	else
		memcpy(root, tmp, CRYPTO_KEY_LEN);
	mem_wipe(tmp, sizeof tmp);
	return e;
}

int session_clear(const uint8_t keystore_id[32])
{
	char desc[80];
	session_desc(keystore_id, desc);
	long k = keyctl_search(KEY_SPEC_USER_KEYRING, "user", desc, 0);
	if (k < 0)
		return errno == ENOKEY || errno == EKEYEXPIRED || errno == EKEYREVOKED
			       ? -ENOENT : keyring_err();
	(void)keyctl_revoke((key_serial_t)k);
	(void)keyctl_unlink((key_serial_t)k, KEY_SPEC_USER_KEYRING);
	return 0;
}
