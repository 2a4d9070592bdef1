/*
 * The refusals both backends report, worded once: each sets the code, the
 * message and the details (reason, metadata naming the record) that the
 * transport sends as google.rpc error details. Caller-supplied text (keys,
 * session ids) appears in a message only escaped (escape.h).
 */
#include "repo.h"

#include <string.h>

#include "../escape.h"

/* The reason of a missing record of kind `thing`, as the backends name kinds. */
static const char *not_found_reason(const char *thing)
{
	if (strcmp(thing, "series") == 0)
		return "SERIES_NOT_FOUND";
	if (strcmp(thing, "episode") == 0)
		return "EPISODE_NOT_FOUND";
	if (strcmp(thing, "download") == 0)
		return "DOWNLOAD_NOT_FOUND";
	return "NOT_FOUND";
}

int aw__err_not_found(aw_err *err, const char *thing, int64_t id)
{
	aw_err_set(err, AW_ENOTFOUND, "%s %lld not found", thing, (long long)id);
	return aw_err_detail(err, not_found_reason(thing), "id", "%lld", (long long)id);
}

int aw__err_key_not_found(aw_err *err, const char *thing, const char *key)
{
	char esc[AW_ESCAPE_BUF];

	if (strcmp(thing, "series") == 0)
		return aw__err_series_key_not_found(err, key);
	if (strcmp(thing, "session") == 0)
		return aw__err_session_not_found(err, key);
	aw_err_set(err, AW_ENOTFOUND, "%s \"%s\" not found", thing, aw_escape(esc, sizeof(esc), key));
	return aw_err_detail(err, not_found_reason(thing), "key", "%s", key);
}

int aw__err_series_key_not_found(aw_err *err, const char *key)
{
	char esc[AW_ESCAPE_BUF];

	aw_err_set(err, AW_ENOTFOUND, "series with key \"%s\" not found",
		   aw_escape(esc, sizeof(esc), key));
	return aw_err_detail(err, "SERIES_NOT_FOUND", "key", "%s", key);
}

int aw__err_series_key_taken(aw_err *err, const char *key, int by_another)
{
	char esc[AW_ESCAPE_BUF];

	if (by_another)
		aw_err_set(err, AW_EEXIST, "another series already has key \"%s\"",
			   aw_escape(esc, sizeof(esc), key));
	else
		aw_err_set(err, AW_EEXIST, "a series with key \"%s\" already exists",
			   aw_escape(esc, sizeof(esc), key));
	return aw_err_detail(err, "SERIES_KEY_TAKEN", "key", "%s", key);
}

int aw__err_episode_taken(aw_err *err, int64_t series_id, int season, int number)
{
	aw_err_set(err, AW_EEXIST, "series %lld already has season %d episode %d",
		   (long long)series_id, season, number);
	aw_err_detail(err, "EPISODE_EXISTS", "series_id", "%lld", (long long)series_id);
	aw_err_detail(err, "EPISODE_EXISTS", "season", "%d", season);
	return aw_err_detail(err, "EPISODE_EXISTS", "episode_number", "%d", number);
}

int aw__err_download_open(aw_err *err, const Aniworld__V1__DownloadQueueItem *in, int64_t id,
			  int status)
{
	aw_err_set(err, AW_EEXIST,
		   "series %lld season %d episode %d already has an unfinished download (%lld, %s)",
		   (long long)in->series_id, in->season, in->episode_number, (long long)id,
		   aw__download_status_name(status));
	aw_err_detail(err, "DOWNLOAD_EXISTS", "id", "%lld", (long long)id);
	return aw_err_detail(err, "DOWNLOAD_EXISTS", "status", "%s", aw__download_status_name(status));
}

int aw__err_download_retry_taken(aw_err *err, int64_t id)
{
	aw_err_set(err, AW_EEXIST,
		   "download %lld cannot be retried: its episode has another unfinished download",
		   (long long)id);
	return aw_err_detail(err, "DOWNLOAD_EXISTS", "retried_id", "%lld", (long long)id);
}

int aw__err_download_status(aw_err *err, int64_t id, int status, const char *method,
			    const char *needs)
{
	aw_err_set(err, AW_EPRECOND, "download %lld is %s; %s needs %s", (long long)id,
		   aw__download_status_name(status), method, needs);
	aw_err_detail(err, "DOWNLOAD_STATUS_CONFLICT", "id", "%lld", (long long)id);
	return aw_err_detail(err, "DOWNLOAD_STATUS_CONFLICT", "status", "%s",
			     aw__download_status_name(status));
}

int aw__err_session_not_found(aw_err *err, const char *session_id)
{
	char esc[AW_ESCAPE_BUF];

	aw_err_set(err, AW_ENOTFOUND, "session \"%s\" not found",
		   aw_escape(esc, sizeof(esc), session_id));
	return aw_err_detail(err, "SESSION_NOT_FOUND", "session_id", "%s", session_id);
}

int aw__err_session_exists(aw_err *err, const char *session_id)
{
	char esc[AW_ESCAPE_BUF];

	aw_err_set(err, AW_EEXIST, "session \"%s\" already exists",
		   aw_escape(esc, sizeof(esc), session_id));
	return aw_err_detail(err, "SESSION_EXISTS", "session_id", "%s", session_id);
}

int aw__err_session_revoked(aw_err *err, const char *session_id)
{
	char esc[AW_ESCAPE_BUF];

	aw_err_set(err, AW_EPRECOND, "session \"%s\" is revoked",
		   aw_escape(esc, sizeof(esc), session_id));
	return aw_err_detail(err, "SESSION_REVOKED", "session_id", "%s", session_id);
}
