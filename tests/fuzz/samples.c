/*
 * Sample requests. Ids of the base data are fixed by its order: series 1
 * ("one-piece") and 2 ("naruto"); episodes 1-3 of series 1 and 4 of series 2;
 * download items 1 (DOWNLOADING), 2 (PENDING), 3 (PAUSED), 4 (CANCELLED),
 * 5 (FAILED); sessions "sess-1" and "sess-2" of user-1, "sess-3" of user-2.
 */
#include "samples.h"

#include <stdlib.h>
#include <string.h>

#include <grpc/status.h>

#include "aniworld/v1/anime_series.pb-c.h"
#include "aniworld/v1/download_queue.pb-c.h"
#include "aniworld/v1/episode.pb-c.h"
#include "aniworld/v1/user_session.pb-c.h"
#include "fixture.h"
#include "grpc/health/v1/health.pb-c.h"
#include "grpc/reflection/v1/reflection.pb-c.h"

#define SERIES "/aniworld.v1.AnimeSeriesService/"
#define EPISODES "/aniworld.v1.EpisodeService/"
#define DOWNLOADS "/aniworld.v1.DownloadQueueService/"
#define SESSIONS "/aniworld.v1.UserSessionService/"
#define HEALTH "/grpc.health.v1.Health/"
#define REFLECTION_V1 "/grpc.reflection.v1.ServerReflection/ServerReflectionInfo"
#define REFLECTION_V1ALPHA "/grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo"

#define OK GRPC_STATUS_OK

/* 2100-01-01T00:00:00Z: an expiry that stays in the future. */
#define FAR_FUTURE 4102444800

typedef struct sink {
	fuzz_sample_fn *fn;
	void *arg;
	aw_transport *t; /* serves the base data; NULL while it is being made */
} sink;

static void emit(const sink *k, const char *path, const ProtobufCMessage *msg, int expect)
{
	size_t len = protobuf_c_message_get_packed_size(msg);
	uint8_t *buf = malloc(len > 0 ? len : 1);

	if (buf == NULL)
		fuzz_fail("samples: out of memory");
	protobuf_c_message_pack(msg, buf);
	k->fn(path, buf, len, expect, k->arg);
	free(buf);
}

/*
 * The next_page_token the server gives `req` (a list request), copied into
 * `out`; "" when there is no next page. Any list response will do: the field
 * is found by name.
 */
static void next_token(const sink *k, const char *path, const ProtobufCMessage *req,
		       const ProtobufCMessageDescriptor *resp_desc, char *out, size_t size)
{
	size_t len = protobuf_c_message_get_packed_size(req);
	uint8_t *buf = malloc(len > 0 ? len : 1);
	const ProtobufCFieldDescriptor *f;
	ProtobufCMessage *resp;
	aw_loopback_reply r;

	if (buf == NULL)
		fuzz_fail("samples: out of memory");
	protobuf_c_message_pack(req, buf);
	if (aw__transport_invoke_bytes(k->t, path, buf, len, &r) != 0 || r.status != OK)
		fuzz_fail("samples: %s for a page token: status %d (%s)", path, r.status, r.message);
	free(buf);
	resp = protobuf_c_message_unpack(resp_desc, NULL, r.len, r.data);
	f = protobuf_c_message_descriptor_get_field_by_name(resp_desc, "next_page_token");
	if (resp == NULL || f == NULL)
		fuzz_fail("samples: %s: no next_page_token in the reply", path);
	snprintf(out, size, "%s", *(char **)((char *)resp + f->offset));
	protobuf_c_message_free_unpacked(resp, NULL);
	aw__loopback_reply_clear(&r);
	if (out[0] == '\0')
		fuzz_fail("samples: %s: the base data has no second page", path);
}

/* ---- series --------------------------------------------------------------------- */

static void base_series(const sink *k)
{
	Aniworld__V1__CreateSeriesRequest req = ANIWORLD__V1__CREATE_SERIES_REQUEST__INIT;
	Aniworld__V1__AnimeSeries s = ANIWORLD__V1__ANIME_SERIES__INIT;
	Aniworld__V1__AnimeSeries__EpisodeDictEntry e1 =
		ANIWORLD__V1__ANIME_SERIES__EPISODE_DICT_ENTRY__INIT;
	Aniworld__V1__AnimeSeries__EpisodeDictEntry e2 =
		ANIWORLD__V1__ANIME_SERIES__EPISODE_DICT_ENTRY__INIT;
	Aniworld__V1__AnimeSeries__EpisodeDictEntry *entries[] = {&e1, &e2};
	Aniworld__V1__EpisodeNumbers n1 = ANIWORLD__V1__EPISODE_NUMBERS__INIT;
	Aniworld__V1__EpisodeNumbers n2 = ANIWORLD__V1__EPISODE_NUMBERS__INIT;
	int32_t eps1[] = {1, 2, 3}, eps2[] = {1};

	n1.n_episodes = 3, n1.episodes = eps1;
	n2.n_episodes = 1, n2.episodes = eps2;
	e1.key = 1, e1.value = &n1;
	e2.key = 2, e2.value = &n2;
	s.key = (char *)"one-piece";
	s.name = (char *)"One Piece";
	s.site = (char *)"aniworld.to";
	s.folder = (char *)"One Piece (1999)";
	s.description = (char *)"Pirates \xc3\xa0 la recherche du tr\xc3\xa9sor.";
	s.status = (char *)"ongoing";
	s.total_episodes = 1100;
	s.cover_url = (char *)"https://example.org/one-piece.jpg";
	s.n_episode_dict = 2;
	s.episode_dict = entries;
	req.series = &s;
	emit(k, SERIES "CreateSeries", &req.base, OK);

	s = (Aniworld__V1__AnimeSeries)ANIWORLD__V1__ANIME_SERIES__INIT;
	s.key = (char *)"naruto";
	s.name = (char *)"Naruto";
	s.site = (char *)"aniworld.to";
	emit(k, SERIES "CreateSeries", &req.base, OK);
}

static void series_operations(const sink *k)
{
	Aniworld__V1__CreateSeriesRequest create = ANIWORLD__V1__CREATE_SERIES_REQUEST__INIT;
	Aniworld__V1__GetSeriesRequest get = ANIWORLD__V1__GET_SERIES_REQUEST__INIT;
	Aniworld__V1__GetSeriesByKeyRequest by_key = ANIWORLD__V1__GET_SERIES_BY_KEY_REQUEST__INIT;
	Aniworld__V1__ListSeriesRequest list = ANIWORLD__V1__LIST_SERIES_REQUEST__INIT;
	Aniworld__V1__UpdateSeriesRequest update = ANIWORLD__V1__UPDATE_SERIES_REQUEST__INIT;
	Aniworld__V1__DeleteSeriesRequest del = ANIWORLD__V1__DELETE_SERIES_REQUEST__INIT;
	Aniworld__V1__UndeleteSeriesRequest undel = ANIWORLD__V1__UNDELETE_SERIES_REQUEST__INIT;
	Aniworld__V1__AnimeSeries s = ANIWORLD__V1__ANIME_SERIES__INIT;
	Aniworld__V1__AnimeSeries__EpisodeDictEntry e =
		ANIWORLD__V1__ANIME_SERIES__EPISODE_DICT_ENTRY__INIT;
	Aniworld__V1__AnimeSeries__EpisodeDictEntry *entries[] = {&e};
	Aniworld__V1__EpisodeNumbers n = ANIWORLD__V1__EPISODE_NUMBERS__INIT;
	Google__Protobuf__FieldMask mask = GOOGLE__PROTOBUF__FIELD_MASK__INIT;
	char *paths[] = {(char *)"name", (char *)"episode_dict", (char *)"status"};
	int32_t eps[] = {1, 2};
	char token[128];

	s.key = (char *)"bleach";
	s.name = (char *)"Bleach";
	create.series = &s;
	emit(k, SERIES "CreateSeries", &create.base, OK);

	get.id = 1;
	emit(k, SERIES "GetSeries", &get.base, OK);
	by_key.key = (char *)"naruto";
	emit(k, SERIES "GetSeriesByKey", &by_key.base, OK);

	emit(k, SERIES "ListSeries", &list.base, OK);
	list.page_size = 1;
	list.site = (char *)"aniworld.to";
	list.name_contains = (char *)"o";
	emit(k, SERIES "ListSeries", &list.base, OK);
	next_token(k, SERIES "ListSeries", &list.base, &aniworld__v1__list_series_response__descriptor,
		   token, sizeof(token));
	list.page_token = token;
	emit(k, SERIES "ListSeries", &list.base, OK);

	n.n_episodes = 2, n.episodes = eps;
	e.key = 3, e.value = &n;
	s = (Aniworld__V1__AnimeSeries)ANIWORLD__V1__ANIME_SERIES__INIT;
	s.id = 1;
	s.name = (char *)"One Piece!";
	s.status = (char *)"finished";
	s.n_episode_dict = 1;
	s.episode_dict = entries;
	mask.n_paths = 3;
	mask.paths = paths;
	update.series = &s;
	update.update_mask = &mask;
	emit(k, SERIES "UpdateSeries", &update.base, OK);
	/* No mask: every mutable field. */
	s.key = (char *)"one-piece";
	update.update_mask = NULL;
	emit(k, SERIES "UpdateSeries", &update.base, OK);

	del.id = 2;
	emit(k, SERIES "DeleteSeries", &del.base, OK);
	/* Soft delete is off in the fuzzers' server: nothing to undelete. */
	undel.id = 1;
	emit(k, SERIES "UndeleteSeries", &undel.base, GRPC_STATUS_FAILED_PRECONDITION);
}

/* ---- episodes ------------------------------------------------------------------- */

static void base_episodes(const sink *k)
{
	Aniworld__V1__BatchCreateEpisodesRequest batch =
		ANIWORLD__V1__BATCH_CREATE_EPISODES_REQUEST__INIT;
	Aniworld__V1__CreateEpisodeRequest create = ANIWORLD__V1__CREATE_EPISODE_REQUEST__INIT;
	Aniworld__V1__Episode e[3] = {ANIWORLD__V1__EPISODE__INIT, ANIWORLD__V1__EPISODE__INIT,
				      ANIWORLD__V1__EPISODE__INIT};
	Aniworld__V1__Episode *ep[] = {&e[0], &e[1], &e[2]};
	Aniworld__V1__Episode one = ANIWORLD__V1__EPISODE__INIT;

	for (int i = 0; i < 3; i++) {
		e[i].series_id = 1;
		e[i].season = i < 2 ? 1 : 2;
		e[i].episode_number = i < 2 ? i + 1 : 1;
		e[i].title = (char *)"Romance Dawn";
	}
	e[0].file_path = (char *)"/media/one-piece/s01e01.mkv";
	e[0].file_size = 734003200;
	e[0].is_downloaded = 1;
	batch.series_id = 1;
	batch.n_episodes = 3;
	batch.episodes = ep;
	emit(k, EPISODES "BatchCreateEpisodes", &batch.base, OK);

	one.series_id = 2;
	one.season = 1;
	one.episode_number = 1;
	one.title = (char *)"Enter: Naruto Uzumaki!";
	create.episode = &one;
	emit(k, EPISODES "CreateEpisode", &create.base, OK);
}

static void episode_operations(const sink *k)
{
	Aniworld__V1__CreateEpisodeRequest create = ANIWORLD__V1__CREATE_EPISODE_REQUEST__INIT;
	Aniworld__V1__BatchCreateEpisodesRequest batch =
		ANIWORLD__V1__BATCH_CREATE_EPISODES_REQUEST__INIT;
	Aniworld__V1__GetEpisodeRequest get = ANIWORLD__V1__GET_EPISODE_REQUEST__INIT;
	Aniworld__V1__UpdateEpisodeRequest update = ANIWORLD__V1__UPDATE_EPISODE_REQUEST__INIT;
	Aniworld__V1__DeleteEpisodeRequest del = ANIWORLD__V1__DELETE_EPISODE_REQUEST__INIT;
	Aniworld__V1__ListEpisodesRequest list = ANIWORLD__V1__LIST_EPISODES_REQUEST__INIT;
	Aniworld__V1__MarkEpisodeDownloadedRequest mark =
		ANIWORLD__V1__MARK_EPISODE_DOWNLOADED_REQUEST__INIT;
	Aniworld__V1__Episode e = ANIWORLD__V1__EPISODE__INIT, e2 = ANIWORLD__V1__EPISODE__INIT;
	Aniworld__V1__Episode *ep[] = {&e, &e2};
	Google__Protobuf__Timestamp when = GOOGLE__PROTOBUF__TIMESTAMP__INIT;
	Google__Protobuf__FieldMask mask = GOOGLE__PROTOBUF__FIELD_MASK__INIT;
	char *paths[] = {(char *)"title", (char *)"is_downloaded", (char *)"download_date"};
	int32_t seasons[] = {1};
	char token[128];

	e.series_id = 2;
	e.season = 1;
	e.episode_number = 2;
	e.title = (char *)"My Name is Konohamaru!";
	create.episode = &e;
	emit(k, EPISODES "CreateEpisode", &create.base, OK);

	e2 = e;
	e2.episode_number = 3;
	batch.series_id = 2;
	batch.n_episodes = 2;
	batch.episodes = ep;
	emit(k, EPISODES "BatchCreateEpisodes", &batch.base, OK);

	get.id = 1;
	emit(k, EPISODES "GetEpisode", &get.base, OK);

	e = (Aniworld__V1__Episode)ANIWORLD__V1__EPISODE__INIT;
	e.id = 2;
	e.title = (char *)"The Great Swordsman Appears";
	e.is_downloaded = 1;
	when.seconds = 1700000000;
	e.download_date = &when;
	mask.n_paths = 3;
	mask.paths = paths;
	update.episode = &e;
	update.update_mask = &mask;
	emit(k, EPISODES "UpdateEpisode", &update.base, OK);

	emit(k, EPISODES "ListEpisodes", &list.base, OK);
	list.series_id = 1;
	list.n_seasons = 1;
	list.seasons = seasons;
	list.downloaded = ANIWORLD__V1__DOWNLOAD_FILTER__DOWNLOAD_FILTER_MISSING;
	list.page_size = 1;
	emit(k, EPISODES "ListEpisodes", &list.base, OK);
	list.downloaded = ANIWORLD__V1__DOWNLOAD_FILTER__DOWNLOAD_FILTER_ANY;
	next_token(k, EPISODES "ListEpisodes", &list.base,
		   &aniworld__v1__list_episodes_response__descriptor, token, sizeof(token));
	list.page_token = token;
	emit(k, EPISODES "ListEpisodes", &list.base, OK);

	mark.id = 2;
	mark.file_path = (char *)"/media/one-piece/s01e02.mkv";
	mark.file_size = 700000000;
	emit(k, EPISODES "MarkEpisodeDownloaded", &mark.base, OK);

	del.id = 3;
	emit(k, EPISODES "DeleteEpisode", &del.base, OK);
}

/* ---- downloads ------------------------------------------------------------------ */

static void enqueue(const sink *k, int64_t series, int32_t season, int32_t number, int priority)
{
	Aniworld__V1__EnqueueDownloadRequest req = ANIWORLD__V1__ENQUEUE_DOWNLOAD_REQUEST__INIT;
	Aniworld__V1__DownloadQueueItem item = ANIWORLD__V1__DOWNLOAD_QUEUE_ITEM__INIT;

	item.series_id = series;
	item.season = season;
	item.episode_number = number;
	item.priority = priority;
	item.download_url = (char *)"https://example.org/stream/123";
	item.file_destination = (char *)"/media/downloads/episode.mkv";
	req.item = &item;
	emit(k, DOWNLOADS "EnqueueDownload", &req.base, OK);
}

/* Sends a request that carries only an id. */
static void by_id(const sink *k, const char *path, const ProtobufCMessageDescriptor *desc,
		  int64_t id, int expect)
{
	ProtobufCMessage *msg = malloc(desc->sizeof_message);
	const ProtobufCFieldDescriptor *f = protobuf_c_message_descriptor_get_field_by_name(desc, "id");

	if (msg == NULL || f == NULL)
		fuzz_fail("samples: %s takes no id", path);
	desc->message_init(msg);
	*(int64_t *)((char *)msg + f->offset) = id;
	emit(k, path, msg, expect);
	free(msg);
}

static void base_downloads(const sink *k)
{
	Aniworld__V1__ClaimNextDownloadRequest claim = ANIWORLD__V1__CLAIM_NEXT_DOWNLOAD_REQUEST__INIT;
	Aniworld__V1__FailDownloadRequest fail = ANIWORLD__V1__FAIL_DOWNLOAD_REQUEST__INIT;

	enqueue(k, 1, 1, 1, ANIWORLD__V1__DOWNLOAD_PRIORITY__DOWNLOAD_PRIORITY_HIGH);
	enqueue(k, 1, 1, 2, ANIWORLD__V1__DOWNLOAD_PRIORITY__DOWNLOAD_PRIORITY_NORMAL);
	enqueue(k, 2, 1, 1, ANIWORLD__V1__DOWNLOAD_PRIORITY__DOWNLOAD_PRIORITY_LOW);
	enqueue(k, 2, 1, 2, ANIWORLD__V1__DOWNLOAD_PRIORITY__DOWNLOAD_PRIORITY_LOW);
	enqueue(k, 1, 2, 1, ANIWORLD__V1__DOWNLOAD_PRIORITY__DOWNLOAD_PRIORITY_HIGH);
	/* 1 and 5 are the high ones: claim both, fail 5. */
	emit(k, DOWNLOADS "ClaimNextDownload", &claim.base, OK);
	emit(k, DOWNLOADS "ClaimNextDownload", &claim.base, OK);
	fail.id = 5;
	fail.error_message = (char *)"connection reset";
	emit(k, DOWNLOADS "FailDownload", &fail.base, OK);
	by_id(k, DOWNLOADS "PauseDownload", &aniworld__v1__pause_download_request__descriptor, 3, OK);
	by_id(k, DOWNLOADS "CancelDownload", &aniworld__v1__cancel_download_request__descriptor, 4,
	      OK);
}

static void download_operations(const sink *k)
{
	Aniworld__V1__UpdateDownloadRequest update = ANIWORLD__V1__UPDATE_DOWNLOAD_REQUEST__INIT;
	Aniworld__V1__DownloadQueueItem item = ANIWORLD__V1__DOWNLOAD_QUEUE_ITEM__INIT;
	Aniworld__V1__ListDownloadsRequest list = ANIWORLD__V1__LIST_DOWNLOADS_REQUEST__INIT;
	Aniworld__V1__ClaimNextDownloadRequest claim = ANIWORLD__V1__CLAIM_NEXT_DOWNLOAD_REQUEST__INIT;
	Aniworld__V1__ReportProgressRequest progress = ANIWORLD__V1__REPORT_PROGRESS_REQUEST__INIT;
	Aniworld__V1__FailDownloadRequest fail = ANIWORLD__V1__FAIL_DOWNLOAD_REQUEST__INIT;
	Aniworld__V1__PurgeDownloadsRequest purge = ANIWORLD__V1__PURGE_DOWNLOADS_REQUEST__INIT;
	Aniworld__V1__WatchDownloadsRequest watch = ANIWORLD__V1__WATCH_DOWNLOADS_REQUEST__INIT;
	Aniworld__V1__GetQueueSummaryRequest summary = ANIWORLD__V1__GET_QUEUE_SUMMARY_REQUEST__INIT;
	Aniworld__V1__RetryFailedDownloadsRequest retry_failed =
		ANIWORLD__V1__RETRY_FAILED_DOWNLOADS_REQUEST__INIT;
	Aniworld__V1__CancelSeriesDownloadsRequest cancel_series =
		ANIWORLD__V1__CANCEL_SERIES_DOWNLOADS_REQUEST__INIT;
	Aniworld__V1__ClearFinishedDownloadsRequest clear =
		ANIWORLD__V1__CLEAR_FINISHED_DOWNLOADS_REQUEST__INIT;
	Aniworld__V1__MoveDownloadRequest move = ANIWORLD__V1__MOVE_DOWNLOAD_REQUEST__INIT;
	Google__Protobuf__Timestamp before = GOOGLE__PROTOBUF__TIMESTAMP__INIT;
	Google__Protobuf__FieldMask mask = GOOGLE__PROTOBUF__FIELD_MASK__INIT;
	char *paths[] = {(char *)"priority", (char *)"download_url"};
	Aniworld__V1__DownloadStatus statuses[] = {
		ANIWORLD__V1__DOWNLOAD_STATUS__DOWNLOAD_STATUS_PENDING,
		ANIWORLD__V1__DOWNLOAD_STATUS__DOWNLOAD_STATUS_PAUSED,
		ANIWORLD__V1__DOWNLOAD_STATUS__DOWNLOAD_STATUS_DOWNLOADING,
	};
	Aniworld__V1__DownloadStatus finished[] = {
		ANIWORLD__V1__DOWNLOAD_STATUS__DOWNLOAD_STATUS_CANCELLED,
		ANIWORLD__V1__DOWNLOAD_STATUS__DOWNLOAD_STATUS_FAILED,
	};
	char token[128];

	enqueue(k, 2, 2, 1, ANIWORLD__V1__DOWNLOAD_PRIORITY__DOWNLOAD_PRIORITY_NORMAL);
	by_id(k, DOWNLOADS "GetDownload", &aniworld__v1__get_download_request__descriptor, 1, OK);

	item.id = 2;
	item.priority = ANIWORLD__V1__DOWNLOAD_PRIORITY__DOWNLOAD_PRIORITY_HIGH;
	item.download_url = (char *)"https://example.org/stream/456";
	mask.n_paths = 2;
	mask.paths = paths;
	update.item = &item;
	update.update_mask = &mask;
	emit(k, DOWNLOADS "UpdateDownload", &update.base, OK);

	emit(k, DOWNLOADS "ListDownloads", &list.base, OK);
	list.n_statuses = 3;
	list.statuses = statuses;
	list.series_id = 1;
	list.page_size = 1;
	emit(k, DOWNLOADS "ListDownloads", &list.base, OK);
	next_token(k, DOWNLOADS "ListDownloads", &list.base,
		   &aniworld__v1__list_downloads_response__descriptor, token, sizeof(token));
	list.page_token = token;
	emit(k, DOWNLOADS "ListDownloads", &list.base, OK);

	emit(k, DOWNLOADS "ClaimNextDownload", &claim.base, OK);
	progress.id = 1;
	progress.downloaded_bytes = 1 << 20;
	progress.total_bytes = 1 << 24;
	progress.download_speed = 524288.5;
	emit(k, DOWNLOADS "ReportProgress", &progress.base, OK);
	by_id(k, DOWNLOADS "CompleteDownload", &aniworld__v1__complete_download_request__descriptor, 1,
	      OK);
	fail.id = 1;
	fail.error_message = (char *)"HTTP 404";
	emit(k, DOWNLOADS "FailDownload", &fail.base, OK);
	by_id(k, DOWNLOADS "PauseDownload", &aniworld__v1__pause_download_request__descriptor, 2, OK);
	by_id(k, DOWNLOADS "ResumeDownload", &aniworld__v1__resume_download_request__descriptor, 3,
	      OK);
	by_id(k, DOWNLOADS "CancelDownload", &aniworld__v1__cancel_download_request__descriptor, 2, OK);
	by_id(k, DOWNLOADS "RetryDownload", &aniworld__v1__retry_download_request__descriptor, 4, OK);
	by_id(k, DOWNLOADS "RetryDownload", &aniworld__v1__retry_download_request__descriptor, 5, OK);
	by_id(k, DOWNLOADS "DeleteDownload", &aniworld__v1__delete_download_request__descriptor, 2, OK);

	purge.n_statuses = 2;
	purge.statuses = finished;
	emit(k, DOWNLOADS "PurgeDownloads", &purge.base, OK);

	emit(k, DOWNLOADS "GetQueueSummary", &summary.base, OK);
	summary.series_id = 1;
	emit(k, DOWNLOADS "GetQueueSummary", &summary.base, OK);
	emit(k, DOWNLOADS "RetryFailedDownloads", &retry_failed.base, OK);
	cancel_series.series_id = 1;
	emit(k, DOWNLOADS "CancelSeriesDownloads", &cancel_series.base, OK);
	before.seconds = 4102444800; /* 2100: every finished item is older */
	clear.finished_before = &before;
	clear.n_statuses = 2;
	clear.statuses = finished;
	emit(k, DOWNLOADS "ClearFinishedDownloads", &clear.base, OK);
	move.id = 1;
	emit(k, DOWNLOADS "MoveDownload", &move.base, OK);

	/* A watch never ends by itself: the loopback hangs up. */
	emit(k, DOWNLOADS "WatchDownloads", &watch.base, GRPC_STATUS_CANCELLED);
	watch.series_id = 1;
	emit(k, DOWNLOADS "WatchDownloads", &watch.base, GRPC_STATUS_CANCELLED);
}

/* ---- sessions ------------------------------------------------------------------- */

static void create_session(const sink *k, const char *user, const char *id, const char *token)
{
	Aniworld__V1__CreateSessionRequest req = ANIWORLD__V1__CREATE_SESSION_REQUEST__INIT;
	Google__Protobuf__Timestamp expires = GOOGLE__PROTOBUF__TIMESTAMP__INIT;

	expires.seconds = FAR_FUTURE;
	req.user_id = (char *)user;
	req.session_id = (char *)id;
	req.token = (char *)token;
	req.ip_address = (char *)"192.0.2.7";
	req.user_agent = (char *)"Mozilla/5.0 (X11; Linux x86_64)";
	req.expires_at = &expires;
	emit(k, SESSIONS "CreateSession", &req.base, OK);
}

static void base_sessions(const sink *k)
{
	create_session(k, "user-1", "sess-1", "token-one");
	create_session(k, "user-1", "sess-2", "token-two");
	create_session(k, "user-2", "sess-3", "token-three");
}

static void session_operations(const sink *k)
{
	Aniworld__V1__GetSessionRequest get = ANIWORLD__V1__GET_SESSION_REQUEST__INIT;
	Aniworld__V1__ListSessionsRequest list = ANIWORLD__V1__LIST_SESSIONS_REQUEST__INIT;
	Aniworld__V1__ValidateSessionRequest validate = ANIWORLD__V1__VALIDATE_SESSION_REQUEST__INIT;
	Aniworld__V1__ExtendSessionRequest extend = ANIWORLD__V1__EXTEND_SESSION_REQUEST__INIT;
	Aniworld__V1__RevokeSessionRequest revoke = ANIWORLD__V1__REVOKE_SESSION_REQUEST__INIT;
	Aniworld__V1__RevokeUserSessionsRequest revoke_user =
		ANIWORLD__V1__REVOKE_USER_SESSIONS_REQUEST__INIT;
	Aniworld__V1__PurgeExpiredSessionsRequest purge =
		ANIWORLD__V1__PURGE_EXPIRED_SESSIONS_REQUEST__INIT;
	Google__Protobuf__Timestamp later = GOOGLE__PROTOBUF__TIMESTAMP__INIT;
	char token[128];

	create_session(k, "user-3", "", "token-four");
	get.session_id = (char *)"sess-1";
	emit(k, SESSIONS "GetSession", &get.base, OK);

	emit(k, SESSIONS "ListSessions", &list.base, OK);
	list.user_id = (char *)"user-1";
	list.active_only = 1;
	list.page_size = 1;
	emit(k, SESSIONS "ListSessions", &list.base, OK);
	next_token(k, SESSIONS "ListSessions", &list.base,
		   &aniworld__v1__list_sessions_response__descriptor, token, sizeof(token));
	list.page_token = token;
	emit(k, SESSIONS "ListSessions", &list.base, OK);

	validate.session_id = (char *)"sess-1";
	validate.token = (char *)"token-one";
	emit(k, SESSIONS "ValidateSession", &validate.base, OK);
	validate.token = (char *)"token-two";
	emit(k, SESSIONS "ValidateSession", &validate.base, OK);

	later.seconds = FAR_FUTURE + 86400;
	extend.session_id = (char *)"sess-1";
	extend.expires_at = &later;
	emit(k, SESSIONS "ExtendSession", &extend.base, OK);

	revoke.session_id = (char *)"sess-2";
	emit(k, SESSIONS "RevokeSession", &revoke.base, OK);
	revoke_user.user_id = (char *)"user-2";
	emit(k, SESSIONS "RevokeUserSessions", &revoke_user.base, OK);
	emit(k, SESSIONS "PurgeExpiredSessions", &purge.base, OK);
}

/* ---- health and reflection ------------------------------------------------------ */

static void protocol_operations(const sink *k)
{
	Grpc__Health__V1__HealthCheckRequest check = GRPC__HEALTH__V1__HEALTH_CHECK_REQUEST__INIT;
	Grpc__Reflection__V1__ServerReflectionRequest refl =
		GRPC__REFLECTION__V1__SERVER_REFLECTION_REQUEST__INIT;
	static const struct {
		Grpc__Reflection__V1__ServerReflectionRequest__MessageRequestCase which;
		const char *value;
	} asks[] = {
		{GRPC__REFLECTION__V1__SERVER_REFLECTION_REQUEST__MESSAGE_REQUEST_LIST_SERVICES, "*"},
		{GRPC__REFLECTION__V1__SERVER_REFLECTION_REQUEST__MESSAGE_REQUEST_FILE_CONTAINING_SYMBOL,
		 "aniworld.v1.AnimeSeriesService"},
		{GRPC__REFLECTION__V1__SERVER_REFLECTION_REQUEST__MESSAGE_REQUEST_FILE_CONTAINING_SYMBOL,
		 "aniworld.v1.DownloadQueueItem.status"},
		{GRPC__REFLECTION__V1__SERVER_REFLECTION_REQUEST__MESSAGE_REQUEST_FILE_BY_FILENAME,
		 "aniworld/v1/episode.proto"},
		{GRPC__REFLECTION__V1__SERVER_REFLECTION_REQUEST__MESSAGE_REQUEST_FILE_BY_FILENAME,
		 "google/protobuf/timestamp.proto"},
		{GRPC__REFLECTION__V1__SERVER_REFLECTION_REQUEST__MESSAGE_REQUEST_FILE_CONTAINING_SYMBOL,
		 "no.such.Symbol"},
	};

	check.service = (char *)"";
	emit(k, HEALTH "Check", &check.base, OK);
	check.service = (char *)"aniworld.v1.EpisodeService";
	emit(k, HEALTH "Check", &check.base, OK);
	emit(k, HEALTH "Watch", &check.base, GRPC_STATUS_CANCELLED);

	/* v1alpha has the same messages under another package: the same bytes. */
	refl.host = (char *)"localhost";
	for (size_t i = 0; i < sizeof(asks) / sizeof(asks[0]); i++) {
		refl.message_request_case = asks[i].which;
		/* The oneof's members share one place in the struct. */
		refl.list_services = (char *)asks[i].value;
		emit(k, REFLECTION_V1, &refl.base, OK);
		emit(k, REFLECTION_V1ALPHA, &refl.base, OK);
	}
}

void fuzz_samples_base(fuzz_sample_fn *fn, void *arg)
{
	sink k = {fn, arg, NULL};

	base_series(&k);
	base_episodes(&k);
	base_downloads(&k);
	base_sessions(&k);
}

void fuzz_samples_operations(aw_transport *t, fuzz_sample_fn *fn, void *arg)
{
	sink k = {fn, arg, t};

	series_operations(&k);
	episode_operations(&k);
	download_operations(&k);
	session_operations(&k);
	protocol_operations(&k);
}
