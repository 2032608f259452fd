/* Bounds-checked buffers (util/buf.h): every decoder reads through these. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "util/buf.h"

static void test_round_trip(void **state)
{
	(void)state;
	struct buf b = { 0 };
	assert_int_equal(buf_put_u8(&b, 0xab), 0);
	assert_int_equal(buf_put_u16(&b, 0x1234), 0);
	assert_int_equal(buf_put_u32(&b, 0xdeadbeef), 0);
	assert_int_equal(buf_put_u64(&b, 0x0102030405060708ull), 0);
	assert_int_equal(buf_put_str(&b, "name"), 0);
	assert_int_equal(buf_put_str(&b, NULL), 0);
	assert_int_equal(buf_put_bytes(&b, "\0\1", 2), 0);
	/* Little-endian on disk, whatever the host. */
	static const uint8_t head[] = { 0xab, 0x34, 0x12, 0xef, 0xbe, 0xad, 0xde,
					0x08, 0x07, 0x06, 0x05, 0x04, 0x03, 0x02, 0x01 };
	assert_memory_equal(b.data, head, sizeof head);

	struct rbuf r;
	uint8_t u8;
	uint16_t u16;
	uint32_t u32;
	uint64_t u64;
	char *s1, *s2;
	const uint8_t *p;
	size_t n;
	rbuf_init(&r, b.data, b.len);
	assert_int_equal(rbuf_get_u8(&r, &u8), 0);
	assert_int_equal(rbuf_get_u16(&r, &u16), 0);
	assert_int_equal(rbuf_get_u32(&r, &u32), 0);
	assert_int_equal(rbuf_get_u64(&r, &u64), 0);
	assert_int_equal(rbuf_get_str(&r, 16, &s1), 0);
	assert_int_equal(rbuf_get_str(&r, 16, &s2), 0);
	assert_int_equal(rbuf_get_bytes_ref(&r, 16, &p, &n), 0);
	assert_int_equal(rbuf_end(&r), 0);
	assert_int_equal(u8, 0xab);
	assert_int_equal(u16, 0x1234);
	assert_int_equal(u32, 0xdeadbeef);
	assert_true(u64 == 0x0102030405060708ull);
	assert_string_equal(s1, "name");
	assert_string_equal(s2, "");
	assert_int_equal(n, 2);
	assert_memory_equal(p, "\0\1", 2);
	free(s1);
	free(s2);
	buf_fini(&b);
}

static void test_short_and_hostile_input(void **state)
{
	(void)state;
	struct rbuf r;
	uint32_t v;
	char *s = NULL;
	const uint8_t *p;
	size_t n;
	/* Every read past the end fails and consumes nothing. */
	rbuf_init(&r, "\1\2\3", 3);
	assert_int_equal(rbuf_get_u32(&r, &v), -EBADMSG);
	assert_int_equal(rbuf_left(&r), 3);
	/* A length prefix larger than the input or the limit. */
	static const uint8_t huge[] = { 0xff, 0xff, 0xff, 0xff, 'a' };
	rbuf_init(&r, huge, sizeof huge);
	assert_int_equal(rbuf_get_bytes_ref(&r, SIZE_MAX, &p, &n), -EBADMSG);
	assert_int_equal(rbuf_left(&r), sizeof huge);
	static const uint8_t over[] = { 3, 0, 0, 0, 'a', 'b', 'c' };
	rbuf_init(&r, over, sizeof over);
	assert_int_equal(rbuf_get_str(&r, 2, &s), -EBADMSG);
	assert_null(s);
	/* NUL inside a string is corruption. */
	static const uint8_t nul[] = { 3, 0, 0, 0, 'a', 0, 'c' };
	rbuf_init(&r, nul, sizeof nul);
	assert_int_equal(rbuf_get_str(&r, 16, &s), -EBADMSG);
	/* Trailing bytes are corruption. */
	rbuf_init(&r, "\1\2", 2);
	assert_int_equal(rbuf_get_u8(&r, (uint8_t *)&v), 0);
	assert_int_equal(rbuf_end(&r), -EBADMSG);
}

static void test_growth_and_steal(void **state)
{
	(void)state;
	struct buf b = { 0 };
	for (int i = 0; i < 100000; i++)
		assert_int_equal(buf_put_u32(&b, (uint32_t)i), 0);
	assert_int_equal(b.len, 400000);
	assert_int_equal(le32_get(b.data + 4 * 99999), 99999);
	uint8_t *p;
	size_t n;
	buf_steal(&b, &p, &n);
	assert_int_equal(n, 400000);
	assert_null(b.data);
	assert_int_equal(b.len, 0);
	free(p);
	buf_reset(&b);
	buf_fini(&b);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_round_trip),
		cmocka_unit_test(test_short_and_hostile_input),
		cmocka_unit_test(test_growth_and_steal),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
