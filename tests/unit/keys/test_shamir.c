/*
 * Shamir over GF(2^8): for every (m, n) with n <= 6, every m-subset of the
 * n shares gives the secret back and every (m-1)-subset gives something
 * else; the field arithmetic matches a value computed by hand; bad
 * parameters and repeated or zero x are refused.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "crypto/crypto.h"
#include "keys/shamir.h"

/* Combines the shares whose bit is set in mask into out. */
static void combine_mask(const struct shamir_share *all, unsigned n, unsigned mask,
			 uint8_t out[SHAMIR_LEN])
{
	struct shamir_share pick[8];
	size_t k = 0;
	for (unsigned i = 0; i < n; i++)
		if (mask & (1u << i))
			pick[k++] = all[i];
	assert_int_equal(shamir_combine(pick, k, out), 0);
}

static void test_every_subset(void **state)
{
	uint8_t secret[SHAMIR_LEN], got[SHAMIR_LEN];
	struct shamir_share sh[6];
	(void)state;
	for (unsigned n = 2; n <= 6; n++) {
		for (unsigned m = 2; m <= n; m++) {
			assert_int_equal(crypto_random(secret, sizeof secret), 0);
			assert_int_equal(shamir_split(secret, n, m, sh), 0);
			for (unsigned i = 0; i < n; i++)
				assert_int_equal(sh[i].x, i + 1);
			for (unsigned mask = 1; mask < (1u << n); mask++) {
				unsigned k = (unsigned)__builtin_popcount(mask);
				if (k != m && k != m - 1)
					continue;
				combine_mask(sh, n, mask, got);
				if (k == m)
					assert_memory_equal(got, secret, SHAMIR_LEN);
				else
					assert_memory_not_equal(got, secret, SHAMIR_LEN);
			}
		}
	}
}

/*
 * With m = 2, shares (1, a) and (2, b) give a*(2/3) + b*(1/3). In the AES
 * field 3^-1 = 0xf6 and 2 * 0xf6 = 0xf7, so a = 1, b = 0 gives 0xf7 and
 * a = 0, b = 1 gives 0xf6 in every byte.
 */
static void test_field_by_hand(void **state)
{
	struct shamir_share sh[2] = { { .x = 1 }, { .x = 2 } };
	uint8_t out[SHAMIR_LEN];
	(void)state;
	memset(sh[0].y, 1, SHAMIR_LEN);
	assert_int_equal(shamir_combine(sh, 2, out), 0);
	for (int i = 0; i < SHAMIR_LEN; i++)
		assert_int_equal(out[i], 0xf7);
	memset(sh[0].y, 0, SHAMIR_LEN);
	memset(sh[1].y, 1, SHAMIR_LEN);
	assert_int_equal(shamir_combine(sh, 2, out), 0);
	for (int i = 0; i < SHAMIR_LEN; i++)
		assert_int_equal(out[i], 0xf6);
}

static void test_refusals(void **state)
{
	uint8_t secret[SHAMIR_LEN] = { 1 }, out[SHAMIR_LEN];
	struct shamir_share sh[3];
	(void)state;
	assert_int_equal(shamir_split(secret, 3, 1, sh), -EINVAL);
	assert_int_equal(shamir_split(secret, 2, 3, sh), -EINVAL);
	assert_int_equal(shamir_split(secret, 256, 2, sh), -EINVAL);
	assert_int_equal(shamir_split(secret, 3, 2, sh), 0);
	sh[1].x = sh[0].x;
	assert_int_equal(shamir_combine(sh, 2, out), -EINVAL);
	sh[1].x = 0;
	assert_int_equal(shamir_combine(sh, 2, out), -EINVAL);
	assert_int_equal(shamir_combine(sh, 0, out), -EINVAL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_every_subset),
		cmocka_unit_test(test_field_by_hand),
		cmocka_unit_test(test_refusals),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
