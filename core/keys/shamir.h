/*
 * Shamir secret sharing of a 32-byte secret over GF(2^8) (the AES field,
 * polynomial x^8 + x^4 + x^3 + x + 1): each byte of the secret is the
 * constant term of its own random polynomial of degree m - 1, and share x
 * holds the polynomials' values at x. Any m shares give the secret by
 * Lagrange interpolation at 0; m - 1 shares are consistent with every
 * possible secret, so they reveal nothing about it.
 */
#ifndef COFFER_KEYS_SHAMIR_H
#define COFFER_KEYS_SHAMIR_H

#include <stddef.h>
#include <stdint.h>

#define SHAMIR_LEN 32

struct shamir_share {
	uint8_t x; /* 1..255 */
	uint8_t y[SHAMIR_LEN];
};

/*
 * Splits secret into n shares (x = 1..n) any m of which recover it;
 * 2 <= m <= n <= 255, else -EINVAL. shares must hold n entries; the
 * caller wipes them.
 */
int shamir_split(const uint8_t secret[SHAMIR_LEN], unsigned n, unsigned m,
		 struct shamir_share *shares);
/*
 * Interpolates the k given shares at 0 into secret. Distinct, non-zero x
 * are required (-EINVAL). Whether the result is the secret (enough shares,
 * none altered) is for the caller to check.
 */
int shamir_combine(const struct shamir_share *shares, size_t k,
		   uint8_t secret[SHAMIR_LEN]);

#endif
