/*
 * aniworld.v1.EpisodeService: validation and status mapping; storage is the
 * repository's.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <grpc/status.h>

#include "field_mask.h"
#include "reply.h"
#include "services.h"

typedef struct episode_service {
	Aniworld__V1__EpisodeService_Service base; /* first: the transport's view */
	aw_repo *repo;                             /* borrowed */
} episode_service;

static const aw_mask_field mutable_fields[] = {
	{"season", AW_EPISODE_SEASON},
	{"episode_number", AW_EPISODE_NUMBER},
	{"title", AW_EPISODE_TITLE},
	{"file_path", AW_EPISODE_FILE_PATH},
	{"file_size", AW_EPISODE_FILE_SIZE},
	{"is_downloaded", AW_EPISODE_IS_DOWNLOADED},
	{"download_date", AW_EPISODE_DOWNLOAD_DATE},
};

static const char *const output_only[] = {"id", "created_at", "updated_at", NULL};

static aw_repo *repo_of(Aniworld__V1__EpisodeService_Service *svc)
{
	return ((episode_service *)svc)->repo;
}

/* series_id is set on creation and is the episode's parent: it is not output
 * only, and an episode never moves to another series. Naming it in a mask is
 * refused with that reason rather than the generic "unknown or immutable". */
static int check_mask_immutable(aw_call *call, const Google__Protobuf__FieldMask *mask)
{
	char field[48];
	int rc = 0;

	for (size_t p = 0; mask != NULL && p < mask->n_paths; p++) {
		if (strcmp(mask->paths[p], "series_id") != 0)
			continue;
		snprintf(field, sizeof(field), "update_mask.paths[%zu]", p);
		rc = aw__violation(call, field, "%s: \"series_id\" is immutable: "
				   "an episode cannot move to another series", field);
	}
	return rc;
}

static int check_id(aw_call *call, const char *field, const char *what, int64_t id)
{
	return aw__check_id(call, field, what, id);
}

/* Checks the fields of episode `e` that `mask` says will be stored; `field` is
 * its path in the request ("episode", "episodes[3]"). Returns 0, or -1 with
 * INVALID_ARGUMENT set. */
static int check_episode(aw_call *call, const char *field, const Aniworld__V1__Episode *e,
			 uint64_t mask)
{
	int before = aw_call_violations(call);
	char name[64];

	snprintf(name, sizeof(name), "%s.season", field);
	if (mask & AW_EPISODE_SEASON)
		aw__check_min(call, name, e->season, 0);
	snprintf(name, sizeof(name), "%s.episode_number", field);
	if (mask & AW_EPISODE_NUMBER)
		aw__check_min(call, name, e->episode_number, 1);
	snprintf(name, sizeof(name), "%s.file_size", field);
	if (mask & AW_EPISODE_FILE_SIZE)
		aw__check_min(call, name, e->file_size, 0);
	snprintf(name, sizeof(name), "%s.download_date", field);
	if (mask & AW_EPISODE_DOWNLOAD_DATE)
		aw__check_timestamp(call, name, e->download_date);
	return aw_call_violations(call) > before ? -1 : 0;
}

static void create_episode(Aniworld__V1__EpisodeService_Service *svc,
			   const Aniworld__V1__CreateEpisodeRequest *in,
			   Aniworld__V1__Episode_Closure closure, void *closure_data)
{
	aw_call *call = closure_data;
	aw_repo_req *req;

	if (in->episode == NULL) {
		aw__invalid(call, "episode is required");
		closure(NULL, call);
		return;
	}
	check_id(call, "episode.series_id", "series", in->episode->series_id);
	check_episode(call, "episode", in->episode, AW_EPISODE_ALL);
	if (aw__refused(call)) {
		closure(NULL, call);
		return;
	}
	if ((req = aw__reply_req(call, (ProtobufCClosure)closure)) != NULL)
		aw_repo_episodes_create(repo_of(svc), req, in->episode);
}

/* The batch checked whole before anything is stored: every episode valid, of
 * the request's series, no season and episode number twice. */
static int check_batch(aw_call *call, const Aniworld__V1__BatchCreateEpisodesRequest *in)
{
	char field[32], name[48];

	check_id(call, "series_id", "series", in->series_id);
	if (in->n_episodes == 0)
		return aw__invalid(call, "episodes must hold at least one episode");
	if (in->n_episodes > AW_EPISODE_BATCH_MAX)
		return aw__invalid(call, "episodes holds %zu episodes, at most %d are allowed",
				   in->n_episodes, AW_EPISODE_BATCH_MAX);
	for (size_t i = 0; i < in->n_episodes; i++) {
		const Aniworld__V1__Episode *e = in->episodes[i];

		snprintf(field, sizeof(field), "episodes[%zu]", i);
		snprintf(name, sizeof(name), "%s.series_id", field);
		if (e->series_id != 0 && in->series_id > 0 && e->series_id != in->series_id)
			aw__violation(call, name, "%s is %lld, not the request's series_id %lld", name,
				      (long long)e->series_id, (long long)in->series_id);
		check_episode(call, field, e, AW_EPISODE_ALL);
	}
	return aw__refused(call) ? -1 : 0;
}

/* A duplicate within the batch, found before the database would: the message
 * names both positions. Sorting a copy keeps this O(n log n) for 1000. */
typedef struct key {
	int32_t season, number;
	size_t index;
} key;

static int key_cmp(const void *a, const void *b)
{
	const key *x = a, *y = b;

	if (x->season != y->season)
		return x->season < y->season ? -1 : 1;
	if (x->number != y->number)
		return x->number < y->number ? -1 : 1;
	return x->index < y->index ? -1 : x->index > y->index;
}

static int check_batch_duplicates(aw_call *call, const Aniworld__V1__BatchCreateEpisodesRequest *in)
{
	key *keys = aw_call_alloc(call, in->n_episodes * sizeof(*keys));

	if (keys == NULL) {
		aw_call_set_status(call, GRPC_STATUS_RESOURCE_EXHAUSTED, "out of memory");
		return -1;
	}
	for (size_t i = 0; i < in->n_episodes; i++)
		keys[i] = (key){in->episodes[i]->season, in->episodes[i]->episode_number, i};
	qsort(keys, in->n_episodes, sizeof(*keys), key_cmp);
	for (size_t i = 1; i < in->n_episodes; i++) {
		if (keys[i].season == keys[i - 1].season && keys[i].number == keys[i - 1].number) {
			aw_call_set_status(call, GRPC_STATUS_ALREADY_EXISTS,
					   "episodes[%zu] and episodes[%zu] are both season %d episode %d",
					   keys[i - 1].index, keys[i].index, keys[i].season, keys[i].number);
			aw_call_set_reason(call, "EPISODE_EXISTS", "series_id", "%lld",
					   (long long)in->series_id);
			aw_call_set_reason(call, "EPISODE_EXISTS", "season", "%d", keys[i].season);
			aw_call_set_reason(call, "EPISODE_EXISTS", "episode_number", "%d", keys[i].number);
			return -1;
		}
	}
	return 0;
}

static void batch_create_episodes(Aniworld__V1__EpisodeService_Service *svc,
				  const Aniworld__V1__BatchCreateEpisodesRequest *in,
				  Aniworld__V1__BatchCreateEpisodesResponse_Closure closure,
				  void *closure_data)
{
	aw_call *call = closure_data;
	aw_repo_req *req;

	if (check_batch(call, in) != 0 || check_batch_duplicates(call, in) != 0) {
		closure(NULL, call);
		return;
	}
	/* The repository stores each episode under the request's series. */
	for (size_t i = 0; i < in->n_episodes; i++)
		in->episodes[i]->series_id = in->series_id;
	if ((req = aw__reply_req(call, (ProtobufCClosure)closure)) != NULL)
		aw_repo_episodes_batch_create(repo_of(svc), req, in);
}

static void get_episode(Aniworld__V1__EpisodeService_Service *svc,
			const Aniworld__V1__GetEpisodeRequest *in,
			Aniworld__V1__Episode_Closure closure, void *closure_data)
{
	aw_call *call = closure_data;
	aw_repo_req *req;

	if (check_id(call, "id", "episode", in->id) != 0) {
		closure(NULL, call);
		return;
	}
	if ((req = aw__reply_req(call, (ProtobufCClosure)closure)) != NULL)
		aw_repo_episodes_get(repo_of(svc), req, in->id);
}

static void update_episode(Aniworld__V1__EpisodeService_Service *svc,
			   const Aniworld__V1__UpdateEpisodeRequest *in,
			   Aniworld__V1__Episode_Closure closure, void *closure_data)
{
	aw_call *call = closure_data;
	aw_repo_req *req;
	uint64_t mask;

	if (in->episode == NULL) {
		aw__invalid(call, "episode is required");
		closure(NULL, call);
		return;
	}
	check_id(call, "episode.id", "episode", in->episode->id);
	if (check_mask_immutable(call, in->update_mask) == 0 &&
	    aw__field_mask_bits(call, in->update_mask, mutable_fields,
				sizeof(mutable_fields) / sizeof(mutable_fields[0]), output_only,
				&mask) == 0)
		check_episode(call, "episode", in->episode, mask);
	if (aw__refused(call)) {
		closure(NULL, call);
		return;
	}
	if ((req = aw__reply_req(call, (ProtobufCClosure)closure)) != NULL)
		aw_repo_episodes_update(repo_of(svc), req, in->episode, mask);
}

static void delete_episode(Aniworld__V1__EpisodeService_Service *svc,
			   const Aniworld__V1__DeleteEpisodeRequest *in,
			   Google__Protobuf__Empty_Closure closure, void *closure_data)
{
	aw_call *call = closure_data;
	aw_repo_req *req;

	if (check_id(call, "id", "episode", in->id) != 0) {
		closure(NULL, call);
		return;
	}
	if ((req = aw__reply_req(call, (ProtobufCClosure)closure)) != NULL)
		aw_repo_episodes_delete(repo_of(svc), req, in->id);
}

static void list_episodes(Aniworld__V1__EpisodeService_Service *svc,
			  const Aniworld__V1__ListEpisodesRequest *in,
			  Aniworld__V1__ListEpisodesResponse_Closure closure, void *closure_data)
{
	aw_call *call = closure_data;
	aw_repo_req *req;
	int page_size = 0;

	if (in->series_id < 0)
		aw__invalid(call, "series_id must be >= 0 (0: every series), got %lld",
			    (long long)in->series_id);
	aw__page_size(call, in->page_size, &page_size);
	if (in->downloaded != ANIWORLD__V1__DOWNLOAD_FILTER__DOWNLOAD_FILTER_ANY &&
	    in->downloaded != ANIWORLD__V1__DOWNLOAD_FILTER__DOWNLOAD_FILTER_DOWNLOADED &&
	    in->downloaded != ANIWORLD__V1__DOWNLOAD_FILTER__DOWNLOAD_FILTER_MISSING)
		aw__invalid(call, "downloaded is not a DownloadFilter: %d", (int)in->downloaded);
	if (in->n_seasons > 1000)
		aw__invalid(call, "seasons holds %zu values, at most 1000 are allowed", in->n_seasons);
	for (size_t i = 0; in->n_seasons <= 1000 && i < in->n_seasons; i++) {
		if (in->seasons[i] < 0) {
			aw__invalid(call, "seasons[%zu] must be >= 0, got %d", i, in->seasons[i]);
			break;
		}
	}
	if (aw__refused(call)) {
		closure(NULL, call);
		return;
	}
	if ((req = aw__reply_req(call, (ProtobufCClosure)closure)) != NULL)
		aw_repo_episodes_list(repo_of(svc), req, in, page_size);
}

static int check_mark(aw_call *call, const Aniworld__V1__MarkEpisodeDownloadedRequest *in)
{
	check_id(call, "id", "episode", in->id);
	aw__check_text(call, "file_path", in->file_path, 0, AW_TEXT_REQUIRED);
	aw__check_min(call, "file_size", in->file_size, 0);
	return aw__refused(call) ? -1 : 0;
}

static void mark_episode_downloaded(Aniworld__V1__EpisodeService_Service *svc,
				    const Aniworld__V1__MarkEpisodeDownloadedRequest *in,
				    Aniworld__V1__Episode_Closure closure, void *closure_data)
{
	aw_call *call = closure_data;
	aw_repo_req *req;

	if (check_mark(call, in) != 0) {
		closure(NULL, call);
		return;
	}
	if ((req = aw__reply_req(call, (ProtobufCClosure)closure)) != NULL)
		aw_repo_episodes_mark_downloaded(repo_of(svc), req, in);
}

static void destroy(Aniworld__V1__EpisodeService_Service *svc)
{
	free(svc);
}

int aw_episode_service_new(ProtobufCService **out, const aw_service_env *env, aw_err *err)
{
	episode_service *s = calloc(1, sizeof(*s));

	*out = NULL;
	if (s == NULL)
		return aw_err_set(err, AW_ENOMEM, "out of memory for EpisodeService");
	aniworld__v1__episode_service__init(&s->base, destroy);
	s->base.create_episode = create_episode;
	s->base.batch_create_episodes = batch_create_episodes;
	s->base.get_episode = get_episode;
	s->base.update_episode = update_episode;
	s->base.delete_episode = delete_episode;
	s->base.list_episodes = list_episodes;
	s->base.mark_episode_downloaded = mark_episode_downloaded;
	s->repo = env->repo;
	*out = &s->base.base;
	return 0;
}
