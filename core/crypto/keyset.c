/*
 * Key sets: creation and content-key rotation. Encoding them for storage
 * is the keystore's business (core/keys), using them the repository's.
 */
#include "crypto/keyset.h"

#include <errno.h>
#include <string.h>

#include "util/mem.h"

struct keyset *keyset_new(void)
{
	return secmem_alloc(sizeof(struct keyset));
}

void keyset_free(struct keyset *k)
{
	secmem_free(k, sizeof *k);
}

int keyset_generate(struct keyset *k, uint32_t suite)
{
	if (suite_by_id(suite) == NULL)
		return -ENOTSUP;
	mem_wipe(k, sizeof *k);
	k->suite = suite;
	k->n_gens = 1;
	int e = crypto_random(k->master, sizeof k->master);
	if (e == 0)
		e = crypto_random(k->content[0], sizeof k->content[0]);
	if (e != 0)
		mem_wipe(k, sizeof *k);
	return e;
}

int keyset_from_master(struct keyset *k, uint32_t suite,
		       const uint8_t master[CRYPTO_KEY_LEN])
{
	const struct suite *s = suite_by_id(suite);
	if (s == NULL)
		return -ENOTSUP;
	mem_wipe(k, sizeof *k);
	k->suite = suite;
	k->n_gens = 1;
	memcpy(k->master, master, sizeof k->master);
	int e = suite_kdf(s, k->master, sizeof k->master, "coffer/v1 data",
			  k->content[0], sizeof k->content[0]);
	if (e != 0)
		mem_wipe(k, sizeof *k);
	return e;
}

int keyset_rotate(struct keyset *k)
{
	if (k->n_gens >= KEYSET_MAX_GENS)
		return -ENOSPC;
	int e = crypto_random(k->content[k->n_gens], CRYPTO_KEY_LEN);
	if (e == 0)
		k->n_gens++;
	return e;
}
