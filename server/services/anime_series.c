/*
 * aniworld.v1.AnimeSeriesService: validation and status mapping; storage is the
 * repository's.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <grpc/status.h>

#include "field_mask.h"
#include "reply.h"
#include "services.h"

/* Longest key accepted: keys are identifiers, indexed and echoed in URLs. */
#define MAX_KEY_BYTES 255

typedef struct series_service {
	Aniworld__V1__AnimeSeriesService_Service base; /* first: the transport's view */
	aw_repo *repo;                                 /* borrowed */
	int64_t retention_ms;                          /* soft delete: 0 = off */
} series_service;

static const aw_mask_field mutable_fields[] = {
	{"key", AW_SERIES_KEY},
	{"name", AW_SERIES_NAME},
	{"site", AW_SERIES_SITE},
	{"folder", AW_SERIES_FOLDER},
	{"description", AW_SERIES_DESCRIPTION},
	{"status", AW_SERIES_STATUS},
	{"total_episodes", AW_SERIES_TOTAL_EPISODES},
	{"cover_url", AW_SERIES_COVER_URL},
	{"episode_dict", AW_SERIES_EPISODE_DICT},
};

static const char *const output_only[] = {"id",          "created_at", "updated_at",
					  "delete_time", "purge_time", NULL};

static aw_repo *repo_of(Aniworld__V1__AnimeSeriesService_Service *svc)
{
	return ((series_service *)svc)->repo;
}

/* A series key: required, at most MAX_KEY_BYTES, no control characters. */
static int check_key(aw_call *call, const char *field, const char *key)
{
	return aw__check_text(call, field, key, MAX_KEY_BYTES,
			      AW_TEXT_REQUIRED | AW_TEXT_NO_CTRL | AW_TEXT_ECHO);
}

/* Checks the fields of `s` that `mask` says will be stored, recording every
 * violation. */
static void check_series(aw_call *call, const Aniworld__V1__AnimeSeries *s, uint64_t mask)
{
	char field[64];

	if (mask & AW_SERIES_KEY)
		check_key(call, "series.key", s->key);
	if (mask & AW_SERIES_NAME)
		aw__check_text(call, "series.name", s->name, 0, AW_TEXT_REQUIRED);
	if (mask & AW_SERIES_TOTAL_EPISODES)
		aw__check_min(call, "series.total_episodes", s->total_episodes, 0);
	if (mask & AW_SERIES_EPISODE_DICT) {
		for (size_t i = 0; i < s->n_episode_dict; i++) {
			const Aniworld__V1__AnimeSeries__EpisodeDictEntry *e = s->episode_dict[i];

			if (e->key < 0)
				aw__violation(call, "series.episode_dict",
					      "series.episode_dict: season must be >= 0, got %d", e->key);
			for (size_t j = 0; e->value != NULL && j < e->value->n_episodes; j++) {
				if (e->value->episodes[j] >= 1)
					continue;
				snprintf(field, sizeof(field), "series.episode_dict[%d]", e->key);
				aw__violation(call, field,
					      "%s: episode numbers must be >= 1, got %d", field,
					      e->value->episodes[j]);
				break;
			}
		}
	}
}

static int check_id(aw_call *call, const char *field, int64_t id)
{
	return aw__check_id(call, field, "series", id);
}

static void create_series(Aniworld__V1__AnimeSeriesService_Service *svc,
			  const Aniworld__V1__CreateSeriesRequest *in,
			  Aniworld__V1__AnimeSeries_Closure closure, void *closure_data)
{
	aw_call *call = closure_data;
	aw_repo_req *req;

	if (in->series == NULL) {
		aw__invalid(call, "series is required");
		closure(NULL, call);
		return;
	}
	check_series(call, in->series, AW_SERIES_ALL);
	if (aw__refused(call)) {
		closure(NULL, call);
		return;
	}
	if ((req = aw__reply_req(call, (ProtobufCClosure)closure)) != NULL)
		aw_repo_series_create(repo_of(svc), req, in->series);
}

static void get_series(Aniworld__V1__AnimeSeriesService_Service *svc,
		       const Aniworld__V1__GetSeriesRequest *in,
		       Aniworld__V1__AnimeSeries_Closure closure, void *closure_data)
{
	aw_call *call = closure_data;
	aw_repo_req *req;

	if (check_id(call, "id", in->id) != 0) {
		closure(NULL, call);
		return;
	}
	if ((req = aw__reply_req(call, (ProtobufCClosure)closure)) != NULL)
		aw_repo_series_get(repo_of(svc), req, in->id);
}

static void get_series_by_key(Aniworld__V1__AnimeSeriesService_Service *svc,
			      const Aniworld__V1__GetSeriesByKeyRequest *in,
			      Aniworld__V1__AnimeSeries_Closure closure, void *closure_data)
{
	aw_call *call = closure_data;
	aw_repo_req *req;

	if (check_key(call, "key", in->key) != 0) {
		closure(NULL, call);
		return;
	}
	if ((req = aw__reply_req(call, (ProtobufCClosure)closure)) != NULL)
		aw_repo_series_get_by_key(repo_of(svc), req, in->key);
}

static void list_series(Aniworld__V1__AnimeSeriesService_Service *svc,
			const Aniworld__V1__ListSeriesRequest *in,
			Aniworld__V1__ListSeriesResponse_Closure closure, void *closure_data)
{
	aw_call *call = closure_data;
	aw_repo_req *req;
	int page_size;

	if (aw__page_size(call, in->page_size, &page_size) != 0) {
		closure(NULL, call);
		return;
	}
	if ((req = aw__reply_req(call, (ProtobufCClosure)closure)) != NULL)
		aw_repo_series_list(repo_of(svc), req, in, page_size);
}

static void update_series(Aniworld__V1__AnimeSeriesService_Service *svc,
			  const Aniworld__V1__UpdateSeriesRequest *in,
			  Aniworld__V1__AnimeSeries_Closure closure, void *closure_data)
{
	aw_call *call = closure_data;
	aw_repo_req *req;
	uint64_t mask;

	if (in->series == NULL) {
		aw__invalid(call, "series is required");
		closure(NULL, call);
		return;
	}
	check_id(call, "series.id", in->series->id);
	if (aw__field_mask_bits(call, in->update_mask, mutable_fields,
				sizeof(mutable_fields) / sizeof(mutable_fields[0]), output_only,
				&mask) == 0)
		check_series(call, in->series, mask);
	if (aw__refused(call)) {
		closure(NULL, call);
		return;
	}
	if ((req = aw__reply_req(call, (ProtobufCClosure)closure)) != NULL)
		aw_repo_series_update(repo_of(svc), req, in->series, mask);
}

static void delete_series(Aniworld__V1__AnimeSeriesService_Service *svc,
			  const Aniworld__V1__DeleteSeriesRequest *in,
			  Google__Protobuf__Empty_Closure closure, void *closure_data)
{
	aw_call *call = closure_data;
	aw_repo_req *req;

	if (check_id(call, "id", in->id) != 0) {
		closure(NULL, call);
		return;
	}
	if ((req = aw__reply_req(call, (ProtobufCClosure)closure)) == NULL)
		return;
	/* Kept for the retention (soft delete), unless forced or off. */
	if (((series_service *)svc)->retention_ms > 0 && !in->force)
		aw_repo_series_soft_delete(repo_of(svc), req, in->id,
					   ((series_service *)svc)->retention_ms * 1000);
	else /* the series' queue items go with it: the repository tells their watchers */
		aw_repo_series_delete(repo_of(svc), req, in->id, NULL);
}

static void undelete_series(Aniworld__V1__AnimeSeriesService_Service *svc,
			    const Aniworld__V1__UndeleteSeriesRequest *in,
			    Aniworld__V1__AnimeSeries_Closure closure, void *closure_data)
{
	aw_call *call = closure_data;
	aw_repo_req *req;

	if (check_id(call, "id", in->id) != 0) {
		closure(NULL, call);
		return;
	}
	if ((req = aw__reply_req(call, (ProtobufCClosure)closure)) != NULL)
		aw_repo_series_undelete(repo_of(svc), req, in->id);
}

static void destroy(Aniworld__V1__AnimeSeriesService_Service *svc)
{
	free(svc);
}

int aw_series_service_new(ProtobufCService **out, const aw_service_env *env, aw_err *err)
{
	series_service *s = calloc(1, sizeof(*s));

	*out = NULL;
	if (s == NULL)
		return aw_err_set(err, AW_ENOMEM, "out of memory for AnimeSeriesService");
	aniworld__v1__anime_series_service__init(&s->base, destroy);
	s->base.create_series = create_series;
	s->base.get_series = get_series;
	s->base.get_series_by_key = get_series_by_key;
	s->base.list_series = list_series;
	s->base.update_series = update_series;
	s->base.delete_series = delete_series;
	s->base.undelete_series = undelete_series;
	s->repo = env->repo;
	s->retention_ms = env->cfg->soft_delete_retention_ms;
	*out = &s->base.base;
	return 0;
}
