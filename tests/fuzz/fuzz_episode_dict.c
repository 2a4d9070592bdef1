/*
 * fuzz_episode_dict: the JSON of a series' episode_dict column
 * (server/repo/episode_dict.c), read back from storage. Input: any
 * bytes as the stored text.
 *
 * Whatever decodes must encode, and the encoding is canonical: it decodes
 * again, to seasons in ascending order without repeats, and encodes to the
 * same text. What is refused is refused as corrupt storage, leaving nothing
 * behind (the leak check sees the rest).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fixture.h"
#include "repo/episode_dict.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void clear(Aniworld__V1__AnimeSeries *s)
{
	for (size_t i = 0; i < s->n_episode_dict; i++)
		protobuf_c_message_free_unpacked(&s->episode_dict[i]->base, NULL);
	free(s->episode_dict);
	s->episode_dict = NULL;
	s->n_episode_dict = 0;
}

/* Encodes `s`; the text is malloc'd. */
static char *encode(const Aniworld__V1__AnimeSeries *s, size_t *len)
{
	char *json;
	aw_err err;

	if (aw__episode_dict_encode(s, &json, len, &err) != 0)
		fuzz_fail("decoded episode_dict does not encode: %s", err.msg);
	if (strlen(json) != *len)
		fuzz_fail("encoded length %zu, text length %zu", *len, strlen(json));
	return json;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	Aniworld__V1__AnimeSeries s = ANIWORLD__V1__ANIME_SERIES__INIT;
	Aniworld__V1__AnimeSeries again = ANIWORLD__V1__ANIME_SERIES__INIT;
	char *text = malloc(size > 0 ? size : 1);
	char *json, *json2;
	size_t len, len2;
	aw_err err;
	int rc;

	if (text == NULL)
		return 0;
	/* A copy of the exact size: reading past the end is caught. */
	memcpy(text, data, size);
	rc = aw__episode_dict_decode(text, size, NULL, &s, &err);
	free(text);
	if (rc != 0) {
		if (rc != AW_ECORRUPT)
			fuzz_fail("decode failed with %d, not AW_ECORRUPT: %s", rc, err.msg);
		clear(&s);
		return 0;
	}
	json = encode(&s, &len);
	clear(&s);
	if (aw__episode_dict_decode(json, len, NULL, &again, &err) != 0)
		fuzz_fail("own encoding refused: %s: %s", json, err.msg);
	for (size_t i = 1; i < again.n_episode_dict; i++) {
		if (again.episode_dict[i - 1]->key >= again.episode_dict[i]->key)
			fuzz_fail("encoding %s has seasons out of order", json);
	}
	json2 = encode(&again, &len2);
	if (len2 != len || memcmp(json, json2, len) != 0)
		fuzz_fail("encoding is not stable: %s, then %s", json, json2);
	clear(&again);
	free(json);
	free(json2);
	return 0;
}
