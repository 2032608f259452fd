/* Printable forms of raw names (util/escape.h). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "util/escape.h"

static void expect_escaped(const char *in, size_t n, const char *want)
{
	struct buf b = { 0 };
	assert_int_equal(escape_append(&b, in, n), 0);
	assert_int_equal(b.len, strlen(want));
	assert_memory_equal(b.data, want, b.len);
	buf_fini(&b);
}

static void test_append(void **state)
{
	(void)state;
	expect_escaped("plain name", 10, "plain name");
	expect_escaped("a\nb", 3, "a\\x0ab");
	expect_escaped("back\\slash", 10, "back\\\\slash");
	expect_escaped("\xff\xfe", 2, "\\xff\\xfe");
	expect_escaped("caf\xc3\xa9", 5, "caf\xc3\xa9");         /* valid UTF-8 */
	expect_escaped("\xc2\x9b[31m", 6, "\\xc2\\x9b[31m");    /* C1 CSI */
	expect_escaped("\x1b[2J", 4, "\\x1b[2J");               /* ESC */
	expect_escaped("\xe2\x82", 2, "\\xe2\\x82");            /* truncated */
	expect_escaped("\xc0\xaf", 2, "\\xc0\\xaf");            /* overlong '/' */
	expect_escaped("\xed\xa0\x80", 3, "\\xed\\xa0\\x80");   /* surrogate */
	expect_escaped("a\0b", 3, "a\\x00b");
}

static void test_utf8_len(void **state)
{
	(void)state;
	assert_int_equal(utf8_seq_len((const uint8_t *)"\xf0\x9f\x98\x80", 4), 4);
	assert_int_equal(utf8_seq_len((const uint8_t *)"\xf4\x90\x80\x80", 4), 0);
	assert_int_equal(utf8_seq_len((const uint8_t *)"\x80", 1), 0);
	assert_int_equal(utf8_printable_len((const uint8_t *)"\x7f", 1), 0);
	assert_int_equal(utf8_printable_len((const uint8_t *)"\xc2\xa0", 2), 2);
}

static void test_cstr(void **state)
{
	(void)state;
	char out[12];
	assert_string_equal(escape_cstr("ok", out, sizeof out), "ok");
	assert_string_equal(escape_cstr(NULL, out, sizeof out), "(no name)");
	assert_string_equal(escape_cstr("a\tb", out, sizeof out), "a\\x09b");
	/* Cut with "..." and never past the buffer. */
	assert_string_equal(escape_cstr("abcdefghijklmnop", out, sizeof out), "abcdefgh...");
	/* A cut never splits a UTF-8 sequence. */
	assert_string_equal(escape_cstr("abcdefg\xc3\xa9xyzw", out, sizeof out), "abcdefg...");
	char tiny[3];
	assert_string_equal(escape_cstr("abcdef", tiny, sizeof tiny), "ab");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_append),
		cmocka_unit_test(test_utf8_len),
		cmocka_unit_test(test_cstr),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
