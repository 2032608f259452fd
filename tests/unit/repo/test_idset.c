/* The ID set used for pending blobs and reachability (repo/idset.h). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "repo/idset.h"

static void make_id(uint8_t id[32], uint32_t i, uint32_t home_bits)
{
	/* Low hash bits from home_bits (to force probe runs), the rest from i. */
	memset(id, 0, 32);
	uint64_t h = (uint64_t)home_bits | (uint64_t)i << 40;
	memcpy(id, &h, sizeof h);
	memcpy(id + 8, &i, sizeof i);
}

static void test_add_remove_many(void **state)
{
	(void)state;
	struct idset *s = idset_new();
	assert_non_null(s);
	uint8_t id[32];
	enum { N = 20000 };
	/* Many IDs share few home slots: long probe runs, wrap-around. */
	for (uint32_t i = 0; i < N; i++) {
		bool added;
		make_id(id, i, i % 7 * 977);
		assert_int_equal(idset_add(s, id, i, &added), 0);
		assert_true(added);
	}
	assert_int_equal(idset_count(s), N);
	/* Remove every third; all others must still be found with their value. */
	for (uint32_t i = 0; i < N; i += 3) {
		make_id(id, i, i % 7 * 977);
		assert_true(idset_remove(s, id));
		assert_false(idset_remove(s, id));
	}
	for (uint32_t i = 0; i < N; i++) {
		uint64_t v;
		make_id(id, i, i % 7 * 977);
		bool present = idset_get(s, id, &v);
		assert_int_equal(present, i % 3 != 0);
		if (present)
			assert_int_equal(v, i);
	}
	assert_int_equal(idset_count(s), N - (N + 2) / 3);
	idset_clear(s);
	assert_int_equal(idset_count(s), 0);
	make_id(id, 1, 0);
	assert_false(idset_has(s, id));
	idset_free(s);
}

static void test_random_ops_against_model(void **state)
{
	(void)state;
	enum { M = 512 };
	bool model[M] = { false };
	struct idset *s = idset_new();
	uint8_t id[32];
	srand(7);
	for (int step = 0; step < 200000; step++) {
		uint32_t k = (uint32_t)rand() % M;
		make_id(id, k, k % 13);
		if (rand() % 2) {
			assert_int_equal(idset_add(s, id, k, NULL), 0);
			model[k] = true;
		} else {
			assert_int_equal(idset_remove(s, id), model[k]);
			model[k] = false;
		}
	}
	size_t n = 0;
	for (uint32_t k = 0; k < M; k++) {
		make_id(id, k, k % 13);
		assert_int_equal(idset_has(s, id), model[k]);
		n += model[k];
	}
	assert_int_equal(idset_count(s), n);
	idset_free(s);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_add_remove_many),
		cmocka_unit_test(test_random_ops_against_model),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
