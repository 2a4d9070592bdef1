/* Tests server/transport/utf8.c. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <string.h>

#include <cmocka.h>

#include "aniworld/v1/anime_series.pb-c.h"
#include "transport/utf8.h"

static void test_utf8_valid_and_invalid(void **state)
{
	(void)state;
	assert_true(aw__utf8_valid("plain", 5));
	assert_true(aw__utf8_valid("\xE9\x80\xB2\xE6\x92\x83\xE3\x81\xAE\xE5\xB7\xA8\xE4\xBA\xBA", 15));
	assert_true(aw__utf8_valid("\xF0\x9F\x8E\xAC", 4));
	assert_false(aw__utf8_valid("\xC3", 1));             /* truncated */
	assert_false(aw__utf8_valid("\xC0\xAF", 2));         /* overlong */
	assert_false(aw__utf8_valid("\xED\xA0\x80", 3));     /* surrogate */
	assert_false(aw__utf8_valid("\xF4\x90\x80\x80", 4)); /* above U+10FFFF */
	assert_false(aw__utf8_valid("\xFF", 1));
}

static void test_utf8_message_check_names_the_field(void **state)
{
	Aniworld__V1__AnimeSeries s = ANIWORLD__V1__ANIME_SERIES__INIT;
	Aniworld__V1__CreateSeriesRequest req = ANIWORLD__V1__CREATE_SERIES_REQUEST__INIT;
	char field[64];

	(void)state;
	s.key = "ok";
	s.name = "bad \xFF name";
	req.series = &s;
	assert_int_equal(aw__pb_check_utf8(&req.base, field, sizeof(field)), -1);
	assert_string_equal(field, "series.name");
	s.name = "fine";
	assert_int_equal(aw__pb_check_utf8(&req.base, field, sizeof(field)), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_utf8_valid_and_invalid),
		cmocka_unit_test(test_utf8_message_check_names_the_field),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
