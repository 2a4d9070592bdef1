/* Tests server/repo/episode_dict.c: the JSON form of episode_dict. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "repo/episode_dict.h"

static void test_episode_dict_encode_sorted_last_wins(void **state)
{
	Aniworld__V1__AnimeSeries s = ANIWORLD__V1__ANIME_SERIES__INIT;
	Aniworld__V1__AnimeSeries__EpisodeDictEntry e[3] = {
		ANIWORLD__V1__ANIME_SERIES__EPISODE_DICT_ENTRY__INIT,
		ANIWORLD__V1__ANIME_SERIES__EPISODE_DICT_ENTRY__INIT,
		ANIWORLD__V1__ANIME_SERIES__EPISODE_DICT_ENTRY__INIT,
	};
	Aniworld__V1__EpisodeNumbers n[3] = {
		ANIWORLD__V1__EPISODE_NUMBERS__INIT,
		ANIWORLD__V1__EPISODE_NUMBERS__INIT,
		ANIWORLD__V1__EPISODE_NUMBERS__INIT,
	};
	Aniworld__V1__AnimeSeries__EpisodeDictEntry *ep[3] = {&e[0], &e[1], &e[2]};
	int32_t a[] = {1, 2, 3}, b[] = {9}, c[] = {4, 5};
	char *json;
	size_t len;

	(void)state;
	e[0].key = 2, e[0].value = &n[0], n[0].n_episodes = 3, n[0].episodes = a;
	e[1].key = 1, e[1].value = &n[1], n[1].n_episodes = 1, n[1].episodes = b;
	e[2].key = 2, e[2].value = &n[2], n[2].n_episodes = 2, n[2].episodes = c;
	s.n_episode_dict = 3;
	s.episode_dict = ep;
	assert_int_equal(aw__episode_dict_encode(&s, &json, &len, NULL), 0);
	assert_string_equal(json, "{\"1\":[9],\"2\":[4,5]}");
	assert_int_equal(len, strlen(json));
	free(json);

	s.n_episode_dict = 0;
	assert_int_equal(aw__episode_dict_encode(&s, &json, &len, NULL), 0);
	assert_string_equal(json, "{}");
	free(json);
}

static void test_episode_dict_decode(void **state)
{
	Aniworld__V1__AnimeSeries s = ANIWORLD__V1__ANIME_SERIES__INIT;
	const char *json = " { \"0\" : [ ] , \"3\":[1,2, 30] } ";

	(void)state;
	assert_int_equal(aw__episode_dict_decode(json, strlen(json), NULL, &s, NULL), 0);
	assert_int_equal(s.n_episode_dict, 2);
	assert_int_equal(s.episode_dict[0]->key, 0);
	assert_int_equal(s.episode_dict[0]->value->n_episodes, 0);
	assert_int_equal(s.episode_dict[1]->key, 3);
	assert_int_equal(s.episode_dict[1]->value->n_episodes, 3);
	assert_int_equal(s.episode_dict[1]->value->episodes[2], 30);
	for (size_t i = 0; i < s.n_episode_dict; i++)
		protobuf_c_message_free_unpacked(&s.episode_dict[i]->base, NULL);
	free(s.episode_dict);
}

static void test_episode_dict_decode_rejects_other_shapes(void **state)
{
	static const char *const bad[] = {
		"", "[]", "{", "{\"1\":}", "{\"1\":[1,]}", "{\"x\":[1]}", "{\"1\":[1]} trailing",
		"{\"1\":[99999999999]}", "{\"1\":[1],}", "{1:[1]}",
	};

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		Aniworld__V1__AnimeSeries s = ANIWORLD__V1__ANIME_SERIES__INIT;
		aw_err err;
		int rc = aw__episode_dict_decode(bad[i], strlen(bad[i]), NULL, &s, &err);
		assert_int_equal(rc, AW_ECORRUPT);
		for (size_t j = 0; j < s.n_episode_dict; j++)
			protobuf_c_message_free_unpacked(&s.episode_dict[j]->base, NULL);
		free(s.episode_dict);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_episode_dict_encode_sorted_last_wins),
		cmocka_unit_test(test_episode_dict_decode),
		cmocka_unit_test(test_episode_dict_decode_rejects_other_shapes),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
