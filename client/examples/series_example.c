/*
 * series_example: create a series, read it back, list a page.
 *
 *   series_example [target]        (default localhost:50051)
 *
 * Build against an installed library with
 *   cc series_example.c $(pkg-config --cflags --libs aniworld-client)
 */
#include <stdio.h>
#include <time.h>

#include "aniworld/client.h"

int main(int argc, char **argv)
{
	const char *target = argc > 1 ? argv[1] : "localhost:50051";
	aw_client *client;
	aw_err err;
	char key[64];

	if (aw_client_new(&client, target, NULL, &err) != 0) {
		fprintf(stderr, "client: %s\n", err.msg);
		return 1;
	}

	/* Create. Keys are unique, so make one up. */
	Aniworld__V1__AnimeSeries series = ANIWORLD__V1__ANIME_SERIES__INIT;
	Aniworld__V1__CreateSeriesRequest create = ANIWORLD__V1__CREATE_SERIES_REQUEST__INIT;
	Aniworld__V1__AnimeSeries *created = NULL;

	snprintf(key, sizeof(key), "example-%ld", (long)time(NULL));
	series.key = key;
	series.name = "Example Series";
	series.site = "aniworld.to";
	series.total_episodes = 12;
	create.series = &series;
	if (aw_client_series_create(client, &create, &created, &err, NULL) != 0) {
		fprintf(stderr, "CreateSeries: %s (%s)\n", err.msg, aw_err_name(err.code));
		aw_client_free(client);
		return 1;
	}
	printf("created series %lld, key %s\n", (long long)created->id, created->key);

	/* Get it back by id. */
	Aniworld__V1__GetSeriesRequest get = ANIWORLD__V1__GET_SERIES_REQUEST__INIT;
	Aniworld__V1__AnimeSeries *got = NULL;

	get.id = created->id;
	if (aw_client_series_get(client, &get, &got, &err, NULL) == 0) {
		printf("got series %lld: %s (%d episodes)\n", (long long)got->id, got->name,
		       got->total_episodes);
		aniworld__v1__anime_series__free_unpacked(got, NULL);
	} else {
		fprintf(stderr, "GetSeries: %s\n", err.msg);
	}

	/* List the first page. */
	Aniworld__V1__ListSeriesRequest list = ANIWORLD__V1__LIST_SERIES_REQUEST__INIT;
	Aniworld__V1__ListSeriesResponse *page = NULL;

	list.page_size = 10;
	if (aw_client_series_list(client, &list, &page, &err, NULL) == 0) {
		printf("%d series in all; first page:\n", page->total_size);
		for (size_t i = 0; i < page->n_series; i++)
			printf("  %lld %s\n", (long long)page->series[i]->id, page->series[i]->key);
		aniworld__v1__list_series_response__free_unpacked(page, NULL);
	} else {
		fprintf(stderr, "ListSeries: %s\n", err.msg);
	}

	aniworld__v1__anime_series__free_unpacked(created, NULL);
	aw_client_free(client);
	return 0;
}
