/*
 * The unlocked-keystore session: `coffer keystore unlock` puts the root key
 * in the kernel's user keyring (keyutils) with a timeout, so the commands
 * that follow, by the same uid, need no passphrase or shares until
 * `coffer keystore lock` or the timeout. Kernel keys are never swapped or
 * written to disk and are readable only by their owner. Where the keyring
 * is unavailable (seccomp, containers) every command asks again.
 * Keys are named "coffer:root:" + the keystore ID in hex.
 */
#ifndef COFFER_KEYS_SESSION_H
#define COFFER_KEYS_SESSION_H

#include <stdint.h>

#include "crypto/crypto.h"

/* -ENOSYS when the keyring is unavailable. */
int session_store(const uint8_t keystore_id[32], const uint8_t root[CRYPTO_KEY_LEN],
		  unsigned timeout_s);
/* -ENOENT when no unexpired key is cached for this keystore. */
int session_load(const uint8_t keystore_id[32], uint8_t root[CRYPTO_KEY_LEN]);
/* Revokes the cached key: 0, or -ENOENT if none was cached (or it expired). */
int session_clear(const uint8_t keystore_id[32]);

#endif
