/*
 * Shamir secret sharing over GF(2^8). Multiplication is the shift-and-add
 * loop rather than log tables, so no secret-dependent table lookups happen;
 * the loop always runs 8 rounds with masks instead of branches.
 */
#include "keys/shamir.h"

#include <errno.h>
#include <string.h>

#include "crypto/crypto.h"
#include "util/mem.h"

static uint8_t gf_mul(uint8_t a, uint8_t b)
{
	uint8_t r = 0;
	for (int i = 0; i < 8; i++) {
		r ^= (uint8_t)(-(b & 1) & a);
		uint8_t hi = (uint8_t)-(a >> 7);
		a = (uint8_t)((a << 1) ^ (hi & 0x1b));
		b >>= 1;
	}
	return r;
}

/* a^254 = a^-1 in GF(2^8) (0 maps to 0, never used as a divisor). */
static uint8_t gf_inv(uint8_t a)
{
	uint8_t r = 1;
	for (int i = 0; i < 7; i++) {
		a = gf_mul(a, a);
		r = gf_mul(r, a);
	}
	return r;
}

int shamir_split(const uint8_t secret[SHAMIR_LEN], unsigned n, unsigned m,
		 struct shamir_share *shares)
{
	if (m < 2 || m > n || n > 255)
		return -EINVAL;
	/* coef[j][i]: coefficient of x^(j+1) of byte i's polynomial. */
	size_t clen = (size_t)(m - 1) * SHAMIR_LEN;
	uint8_t *coef = secmem_alloc(clen);
	if (coef == NULL)
		return -ENOMEM;
	int e = crypto_random(coef, clen);
	for (unsigned s = 0; e == 0 && s < n; s++) {
		uint8_t x = (uint8_t)(s + 1);
		shares[s].x = x;
		for (size_t i = 0; i < SHAMIR_LEN; i++) {
			/* Horner: ((c_{m-1} x + c_{m-2}) x + ...) x + secret */
			uint8_t y = 0;
			for (unsigned j = m - 1; j >= 1; j--)
				y = gf_mul((uint8_t)(y ^ coef[(j - 1) * SHAMIR_LEN + i]), x);
			shares[s].y[i] = (uint8_t)(y ^ secret[i]);
		}
	}
	secmem_free(coef, clen);
	return e;
}

int shamir_combine(const struct shamir_share *shares, size_t k,
		   uint8_t secret[SHAMIR_LEN])
{
	if (k == 0)
		return -EINVAL;
	for (size_t a = 0; a < k; a++) {
		if (shares[a].x == 0)
			return -EINVAL;
		for (size_t b = a + 1; b < k; b++)
			if (shares[a].x == shares[b].x)
				return -EINVAL;
	}
	uint8_t acc[SHAMIR_LEN] = { 0 };
	for (size_t a = 0; a < k; a++) {
		/* Lagrange basis at 0: prod x_b / (x_b - x_a); minus is xor. */
		uint8_t num = 1, den = 1;
		for (size_t b = 0; b < k; b++) {
			if (b == a)
				continue;
			num = gf_mul(num, shares[b].x);
			den = gf_mul(den, (uint8_t)(shares[b].x ^ shares[a].x));
		}
		uint8_t l = gf_mul(num, gf_inv(den));
		for (size_t i = 0; i < SHAMIR_LEN; i++)
			acc[i] ^= gf_mul(shares[a].y[i], l);
	}
	memcpy(secret, acc, SHAMIR_LEN);
	mem_wipe(acc, sizeof acc);
	return 0;
}
