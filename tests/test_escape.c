/* Tests server/escape.c: caller-supplied text made safe for messages and logs. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <string.h>

#include <cmocka.h>

#include "escape.h"

static void test_escape_quotes_controls_and_bad_utf8(void **state)
{
	char out[128];

	(void)state;
	assert_string_equal(aw_escape(out, sizeof(out), "plain key"), "plain key");
	assert_string_equal(aw_escape(out, sizeof(out), "\n2026-01-01T00:00:00Z INFO fake"),
			    "\\n2026-01-01T00:00:00Z INFO fake");
	assert_string_equal(aw_escape(out, sizeof(out), "a\"b\\c\r\t\x01\x7f"),
			    "a\\\"b\\\\c\\r\\t\\x01\\x7F");
	/* Well-formed UTF-8 stays; a lone continuation byte, an overlong form and
	 * a surrogate do not. */
	assert_string_equal(aw_escape(out, sizeof(out), "Sh\xc5\x8dnen \xe2\x9c\x93"),
			    "Sh\xc5\x8dnen \xe2\x9c\x93");
	assert_string_equal(aw_escape(out, sizeof(out), "\x80\xc0\xaf\xed\xa0\x80"),
			    "\\x80\\xC0\\xAF\\xED\\xA0\\x80");
	assert_string_equal(aw_escape(out, sizeof(out), NULL), "");
}

static void test_escape_cuts_with_a_mark(void **state)
{
	char out[12];

	(void)state;
	assert_string_equal(aw_escape(out, sizeof(out), "0123456789abcdef"), "01234567...");
	/* Never inside an escape or a character. */
	assert_string_equal(aw_escape(out, sizeof(out), "012345\n\n\n"), "012345\\n...");
	assert_string_equal(aw_escape(out, sizeof(out), "0123456\xe2\x9c\x93xyz"), "0123456...");
	assert_string_equal(aw_escape(out, sizeof(out), "0123456789a"), "0123456789a");
}

static void test_escape_controls_and_json(void **state)
{
	char out[128];
	const char *in = "say \"hi\"\n\x01\xff";

	(void)state;
	aw_escape_controls(out, sizeof(out), in, strlen(in));
	assert_string_equal(out, "say \"hi\"\\n\\x01\\xFF");
	aw_escape_json(out, sizeof(out), in, strlen(in));
	assert_string_equal(out, "say \\\"hi\\\"\\n\\u0001\\ufffd");
	assert_int_equal(aw_escape_json(out, 5, "abcdef", 6), 4);
	assert_string_equal(out, "abcd");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_escape_quotes_controls_and_bad_utf8),
		cmocka_unit_test(test_escape_cuts_with_a_mark),
		cmocka_unit_test(test_escape_controls_and_json),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
