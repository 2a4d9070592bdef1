/*
 * End to end: `aniworld-server copy-db` (issue 14), with real processes. A
 * server on SQLite is filled with every record kind through gRPC; copy-db
 * carries the file into a fresh PostgreSQL database while that server still
 * runs; a server on PostgreSQL then answers every Get and List byte for byte
 * as the first did, gives new ids above every copied one, validates an old
 * session token and still holds the claimed item as claimed. The way back
 * (PostgreSQL to a new SQLite file) is checked the same way. A non-empty
 * target is refused and left as it was (and emptied with --force), a source
 * newer than the binary is refused before the target is touched, and a copy
 * killed half-way (SIGKILL) leaves the target empty.
 *
 * Needs the PostgreSQL fixture (ctest: FIXTURES_REQUIRED aw_pg,
 * AW_TEST_BACKEND=postgres); SQLite files are made in a directory of its own.
 */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <sqlite3.h>

#include "aniworld/client.h"
#include "server_proc.h"
#include "test_db.h"

#define PENDING ANIWORLD__V1__DOWNLOAD_STATUS__DOWNLOAD_STATUS_PENDING
#define DOWNLOADING ANIWORLD__V1__DOWNLOAD_STATUS__DOWNLOAD_STATUS_DOWNLOADING
#define COPY_TIMEOUT_MS 120000
#define PASSWORD "s3cret-pw"

typedef struct fixture {
	char dir[64];       /* SQLite files and logs */
	char sqlite[128];   /* the source file */
	test_db pg;         /* the PostgreSQL target */
	char pg_uri[320];   /* its URI, with a password (the fixture's trust ignores it) */
	server_proc servers[3];
	int n_servers;
} fixture;

static int setup(void **state)
{
	fixture *f = calloc(1, sizeof(*f));
	const char *at;

	*state = f;
	if (f == NULL)
		return -1;
	if (!test_db_is_postgres()) {
		fprintf(stderr, "test_e2e_copy_db needs AW_TEST_BACKEND=postgres (run it via ctest)\n");
		return -1;
	}
	snprintf(f->dir, sizeof(f->dir), "/tmp/aw-copydb-XXXXXX");
	if (mkdtemp(f->dir) == NULL)
		return -1;
	snprintf(f->sqlite, sizeof(f->sqlite), "%s/source.db", f->dir);
	if (test_db_create(&f->pg, TEST_DB_FILE) != 0)
		return -1;
	/* postgresql://aniworld@host... -> postgresql://aniworld:PASSWORD@host... */
	at = strchr(f->pg.location, '@');
	if (at == NULL)
		return -1;
	{
		char loc[sizeof(f->pg.location)], uri[sizeof(f->pg_uri)];
		int user = (int)(at - f->pg.location);

		memcpy(loc, f->pg.location, sizeof(loc));
		snprintf(uri, sizeof(uri), "%.*s:%s%s", user, loc, PASSWORD, loc + user);
		memcpy(f->pg_uri, uri, sizeof(uri));
	}
	return 0;
}

static int teardown(void **state)
{
	fixture *f = *state;
	char cmd[128];
	int failed = 0;

	if (f == NULL)
		return 0;
	for (int i = 0; i < 3; i++) {
		int status = server_proc_stop(&f->servers[i], SIGTERM);

		if (status != -1 && !(WIFEXITED(status) && WEXITSTATUS(status) == 0)) {
			fprintf(stderr, "server %d ended with status %#x; its log is %s\n", i, status,
				f->servers[i].log);
			failed = 1;
		}
	}
	test_db_drop(&f->pg);
	if (f->dir[0] != '\0' && !failed) {
		snprintf(cmd, sizeof(cmd), "rm -rf '%s'", f->dir);
		if (system(cmd) != 0)
			fprintf(stderr, "could not remove %s\n", f->dir);
	}
	free(f);
	return failed ? -1 : 0;
}

/* ---- processes ------------------------------------------------------------------------ */

/* Starts server `i` on `db`, its log in the fixture's directory, and connects. */
static aw_client *start_server(fixture *f, int i, const char *db)
{
	aw_client *c = NULL;
	char log[sizeof(f->servers[i].log)];

	snprintf(log, sizeof(log), "%s/server-%d.log", f->dir, i);
	memcpy(f->servers[i].log, log, sizeof(log));
	if (server_proc_start(&f->servers[i], db, NULL) != 0)
		fail_msg("server %d on %s did not start; its log is %s", i, db, f->servers[i].log);
	if (aw_client_new(&c, f->servers[i].target, NULL, NULL) != 0)
		fail_msg("no client for server %d", i);
	return c;
}

static void stop_server(fixture *f, int i, aw_client *c)
{
	int status;

	aw_client_free(c);
	status = server_proc_stop(&f->servers[i], SIGTERM);
	assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
}

/*
 * Runs `aniworld-server copy-db ARGS...` (NULL-terminated), stderr appended to
 * `log`. With pause_ms > 0 the copy pauses that long after each table
 * (AW_TEST_COPY_DB_PAUSE_MS) and the pid is returned at once; otherwise waits
 * and returns the wait status (-1: still running after COPY_TIMEOUT_MS, killed).
 */
static int copy_db(const char *log, int pause_ms, ...)
{
	const char *argv[16] = {AW_SERVER_BINARY, "copy-db"};
	int argc = 2, status;
	long long deadline;
	va_list ap;
	pid_t pid;

	va_start(ap, pause_ms);
	while (argc < 15 && (argv[argc] = va_arg(ap, const char *)) != NULL)
		argc++;
	va_end(ap);
	argv[argc] = NULL;
	pid = fork();
	if (pid < 0)
		return -1;
	if (pid == 0) {
		int fd = open(log, O_WRONLY | O_CREAT | O_APPEND, 0644);
		char ms[32];

		prctl(PR_SET_PDEATHSIG, SIGKILL);
		if (fd < 0 || dup2(fd, 2) < 0)
			_exit(127);
		if (pause_ms > 0) {
			snprintf(ms, sizeof(ms), "%d", pause_ms);
			setenv("AW_TEST_COPY_DB_PAUSE_MS", ms, 1);
		}
		execv(argv[0], (char *const *)argv);
		_exit(127);
	}
	if (pause_ms > 0)
		return pid;
	deadline = server_proc_now_ms() + COPY_TIMEOUT_MS;
	while (waitpid(pid, &status, WNOHANG) == 0) {
		if (server_proc_now_ms() > deadline) {
			kill(pid, SIGKILL);
			waitpid(pid, &status, 0);
			return -1;
		}
		usleep(20000);
	}
	return status;
}

/* The whole of file `path` (NUL-terminated, malloc'd; "" when missing). */
static char *slurp(const char *path)
{
	FILE *fp = fopen(path, "rb");
	char *s = calloc(1, 1 << 20);
	size_t n = 0;

	if (s == NULL)
		fail_msg("out of memory");
	if (fp != NULL) {
		n = fread(s, 1, (1 << 20) - 1, fp);
		fclose(fp);
	}
	s[n] = '\0';
	return s;
}

static int log_has(const char *path, const char *needle)
{
	char *s = slurp(path);
	int yes = strstr(s, needle) != NULL;

	free(s);
	return yes;
}

static void assert_exit(int status, int code, const char *log)
{
	if (!(status != -1 && WIFEXITED(status) && WEXITSTATUS(status) == code)) {
		char *s = slurp(log);

		fail_msg("copy-db ended with status %#x, wanted exit %d; its log:\n%s", status, code, s);
	}
}

/* The rows of `table` in the PostgreSQL target (-1 when it has no such table). */
static int64_t pg_rows(fixture *f, const char *table)
{
	char sql[160];
	int64_t n = -1, exists = 0;

	snprintf(sql, sizeof(sql), "SELECT (to_regclass('%s') IS NOT NULL)::int", table);
	assert_int_equal(test_db_int(&f->pg, sql, &exists), 0);
	if (!exists)
		return -1;
	snprintf(sql, sizeof(sql), "SELECT COUNT(*) FROM %s", table);
	assert_int_equal(test_db_int(&f->pg, sql, &n), 0);
	return n;
}

/* An integer from a SQLite file, read behind the server's back. */
static int64_t sqlite_int(const char *path, const char *sql)
{
	sqlite3 *db;
	sqlite3_stmt *st;
	int64_t v = -1;

	assert_int_equal(sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE, NULL), SQLITE_OK);
	assert_int_equal(sqlite3_prepare_v2(db, sql, -1, &st, NULL), SQLITE_OK);
	if (sqlite3_step(st) == SQLITE_ROW && sqlite3_column_type(st, 0) != SQLITE_NULL)
		v = sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	sqlite3_close(db);
	return v;
}

/* ---- filling through gRPC ---------------------------------------------------------------- */

typedef struct filled {
	int64_t series[4];      /* [3] was deleted: ids above it were given */
	int64_t episodes[4];
	int64_t claimed;        /* the item left DOWNLOADING */
	int64_t pending;        /* the one item left PENDING */
	int64_t max_download;
	int64_t max_session;
	char session[2][40];    /* [0] active, [1] revoked */
} filled;

static const char *const TOKEN = "token-of-session-0";

static Google__Protobuf__Timestamp future_ts(void)
{
	Google__Protobuf__Timestamp ts = GOOGLE__PROTOBUF__TIMESTAMP__INIT;

	ts.seconds = (int64_t)time(NULL) + 30 * 24 * 3600;
	ts.nanos = 123456000;
	return ts;
}

static int64_t make_series(aw_client *c, int i)
{
	Aniworld__V1__CreateSeriesRequest req = ANIWORLD__V1__CREATE_SERIES_REQUEST__INIT;
	Aniworld__V1__AnimeSeries s = ANIWORLD__V1__ANIME_SERIES__INIT, *out = NULL;
	Aniworld__V1__AnimeSeries__EpisodeDictEntry e1 =
		ANIWORLD__V1__ANIME_SERIES__EPISODE_DICT_ENTRY__INIT;
	Aniworld__V1__AnimeSeries__EpisodeDictEntry *entries[1] = {&e1};
	Aniworld__V1__EpisodeNumbers nums = ANIWORLD__V1__EPISODE_NUMBERS__INIT;
	int32_t eps[3] = {1, 2, 5};
	char key[32], name[64];
	aw_err err;
	int64_t id;

	snprintf(key, sizeof(key), "series-%d", i);
	/* Text that tests the copy's escaping: tab, newline, backslash, non-ASCII. */
	snprintf(name, sizeof(name), "Name %d\twith\\tab\nand \xc3\xbc", i);
	s.key = key;
	s.name = name;
	s.site = "aniworld.to";
	s.folder = "/media/anime/x";
	s.description = "a description, 'quoted' and \"double\"";
	s.status = "ongoing";
	s.total_episodes = 12 + i;
	s.cover_url = "https://example.invalid/cover.jpg";
	nums.n_episodes = 3;
	nums.episodes = eps;
	e1.key = 1;
	e1.value = &nums;
	s.n_episode_dict = 1;
	s.episode_dict = entries;
	req.series = &s;
	if (aw_client_series_create(c, &req, &out, &err, NULL) != 0)
		fail_msg("create series %d: %s", i, err.msg);
	id = out->id;
	aniworld__v1__anime_series__free_unpacked(out, NULL);
	return id;
}

static int64_t make_episode(aw_client *c, int64_t series, int season, int number)
{
	Aniworld__V1__CreateEpisodeRequest req = ANIWORLD__V1__CREATE_EPISODE_REQUEST__INIT;
	Aniworld__V1__Episode e = ANIWORLD__V1__EPISODE__INIT, *out = NULL;
	aw_err err;
	int64_t id;

	e.series_id = series;
	e.season = season;
	e.episode_number = number;
	e.title = "An episode";
	req.episode = &e;
	if (aw_client_episodes_create(c, &req, &out, &err, NULL) != 0)
		fail_msg("create episode: %s", err.msg);
	id = out->id;
	aniworld__v1__episode__free_unpacked(out, NULL);
	return id;
}

static int64_t enqueue(aw_client *c, int64_t series, int number)
{
	Aniworld__V1__EnqueueDownloadRequest req = ANIWORLD__V1__ENQUEUE_DOWNLOAD_REQUEST__INIT;
	Aniworld__V1__DownloadQueueItem it = ANIWORLD__V1__DOWNLOAD_QUEUE_ITEM__INIT, *out = NULL;
	aw_err err;
	int64_t id;

	it.series_id = series;
	it.season = 1;
	it.episode_number = number;
	it.priority = ANIWORLD__V1__DOWNLOAD_PRIORITY__DOWNLOAD_PRIORITY_HIGH;
	it.download_url = "https://example.invalid/ep";
	it.file_destination = "/media/anime/x/ep.mkv";
	req.item = &it;
	if (aw_client_downloads_enqueue(c, &req, &out, &err, NULL) != 0)
		fail_msg("enqueue: %s", err.msg);
	id = out->id;
	aniworld__v1__download_queue_item__free_unpacked(out, NULL);
	return id;
}

/* Claims the next item, which must be `want`. */
static void claim(aw_client *c, int64_t want)
{
	Aniworld__V1__ClaimNextDownloadRequest req = ANIWORLD__V1__CLAIM_NEXT_DOWNLOAD_REQUEST__INIT;
	Aniworld__V1__ClaimNextDownloadResponse *out = NULL;
	aw_err err;

	if (aw_client_downloads_claim(c, &req, &out, &err, NULL) != 0)
		fail_msg("claim: %s", err.msg);
	assert_non_null(out->item);
	assert_int_equal(out->item->id, want);
	aniworld__v1__claim_next_download_response__free_unpacked(out, NULL);
}

static void fill(aw_client *c, filled *x)
{
	Aniworld__V1__DeleteSeriesRequest del = ANIWORLD__V1__DELETE_SERIES_REQUEST__INIT;
	Aniworld__V1__MarkEpisodeDownloadedRequest mark =
		ANIWORLD__V1__MARK_EPISODE_DOWNLOADED_REQUEST__INIT;
	Aniworld__V1__ReportProgressRequest prog = ANIWORLD__V1__REPORT_PROGRESS_REQUEST__INIT;
	Aniworld__V1__CompleteDownloadRequest done = ANIWORLD__V1__COMPLETE_DOWNLOAD_REQUEST__INIT;
	Aniworld__V1__FailDownloadRequest fail = ANIWORLD__V1__FAIL_DOWNLOAD_REQUEST__INIT;
	Aniworld__V1__PauseDownloadRequest pause = ANIWORLD__V1__PAUSE_DOWNLOAD_REQUEST__INIT;
	Aniworld__V1__CancelDownloadRequest cancel = ANIWORLD__V1__CANCEL_DOWNLOAD_REQUEST__INIT;
	Aniworld__V1__CreateSessionRequest sreq = ANIWORLD__V1__CREATE_SESSION_REQUEST__INIT;
	Aniworld__V1__RevokeSessionRequest rev = ANIWORLD__V1__REVOKE_SESSION_REQUEST__INIT;
	Google__Protobuf__Timestamp expires = future_ts();
	Aniworld__V1__DownloadQueueItem *item = NULL;
	Aniworld__V1__Episode *ep = NULL;
	Aniworld__V1__UserSession *sess = NULL;
	aw_err err;

	for (int i = 0; i < 4; i++)
		x->series[i] = make_series(c, i);
	/* The last series goes: its id is never to be given again. */
	del.id = x->series[3];
	assert_int_equal(aw_client_series_delete(c, &del, &err, NULL), 0);

	x->episodes[0] = make_episode(c, x->series[0], 1, 1);
	x->episodes[1] = make_episode(c, x->series[0], 1, 2);
	x->episodes[2] = make_episode(c, x->series[0], 2, 1);
	x->episodes[3] = make_episode(c, x->series[1], 0, 1);
	mark.id = x->episodes[1];
	mark.file_path = "/media/anime/x/s1e2.mkv";
	mark.file_size = 734003200;
	assert_int_equal(aw_client_episodes_mark_downloaded(c, &mark, &ep, &err, NULL), 0);
	aniworld__v1__episode__free_unpacked(ep, NULL);

	/* One item in every status; the claims take them in the order made. */
	done.id = enqueue(c, x->series[0], 1);
	claim(c, done.id);
	assert_int_equal(aw_client_downloads_complete(c, &done, &item, &err, NULL), 0);
	aniworld__v1__download_queue_item__free_unpacked(item, NULL);
	fail.id = enqueue(c, x->series[0], 2);
	claim(c, fail.id);
	fail.error_message = "the host\tsaid no\n";
	assert_int_equal(aw_client_downloads_fail(c, &fail, &item, &err, NULL), 0);
	aniworld__v1__download_queue_item__free_unpacked(item, NULL);
	x->claimed = enqueue(c, x->series[0], 3);
	claim(c, x->claimed);
	prog.id = x->claimed;
	prog.downloaded_bytes = 1 << 20;
	prog.total_bytes = 3 << 20;
	prog.download_speed = 123456.789;
	assert_int_equal(aw_client_downloads_report_progress(c, &prog, &item, &err, NULL), 0);
	aniworld__v1__download_queue_item__free_unpacked(item, NULL);
	pause.id = enqueue(c, x->series[1], 1);
	assert_int_equal(aw_client_downloads_pause(c, &pause, &item, &err, NULL), 0);
	aniworld__v1__download_queue_item__free_unpacked(item, NULL);
	cancel.id = enqueue(c, x->series[1], 2);
	assert_int_equal(aw_client_downloads_cancel(c, &cancel, &item, &err, NULL), 0);
	aniworld__v1__download_queue_item__free_unpacked(item, NULL);
	x->pending = enqueue(c, x->series[2], 1);
	x->max_download = x->pending;

	for (int i = 0; i < 2; i++) {
		snprintf(x->session[i], sizeof(x->session[i]), "session-%d", i);
		sreq.session_id = x->session[i];
		sreq.user_id = "user-1";
		sreq.token = (char *)TOKEN;
		sreq.ip_address = "192.0.2.7";
		sreq.user_agent = "test agent/1.0";
		sreq.expires_at = &expires;
		if (aw_client_session_create(c, &sreq, &sess, &err, NULL) != 0)
			fail_msg("create session: %s", err.msg);
		x->max_session = sess->id;
		aniworld__v1__user_session__free_unpacked(sess, NULL);
	}
	rev.session_id = x->session[1];
	assert_int_equal(aw_client_session_revoke(c, &rev, &sess, &err, NULL), 0);
	aniworld__v1__user_session__free_unpacked(sess, NULL);
}

/* ---- what a server answers, packed ------------------------------------------------------- */

typedef struct snapshot {
	char **labels;
	uint8_t **data;
	size_t *len;
	size_t n, cap;
} snapshot;

static void snap_add(snapshot *s, const char *label, const ProtobufCMessage *m)
{
	if (s->n == s->cap) {
		s->cap = s->cap ? 2 * s->cap : 64;
		s->labels = realloc(s->labels, s->cap * sizeof(*s->labels));
		s->data = realloc(s->data, s->cap * sizeof(*s->data));
		s->len = realloc(s->len, s->cap * sizeof(*s->len));
		assert_non_null(s->labels);
		assert_non_null(s->data);
		assert_non_null(s->len);
	}
	s->labels[s->n] = strdup(label);
	s->len[s->n] = protobuf_c_message_get_packed_size(m);
	s->data[s->n] = malloc(s->len[s->n] + 1);
	assert_non_null(s->data[s->n]);
	protobuf_c_message_pack(m, s->data[s->n]);
	s->n++;
}

static void snap_free(snapshot *s)
{
	for (size_t i = 0; i < s->n; i++) {
		free(s->labels[i]);
		free(s->data[i]);
	}
	free(s->labels);
	free(s->data);
	free(s->len);
	memset(s, 0, sizeof(*s));
}

/* Every Get and List a client can make of what `c` serves, in a fixed order:
 * lists page by page (two rows a page), each row read again with its Get. */
static void snap_take(aw_client *c, snapshot *s)
{
	char label[128], token[512];
	aw_err err;

	/* Series. */
	token[0] = '\0';
	for (int page = 0;; page++) {
		Aniworld__V1__ListSeriesRequest req = ANIWORLD__V1__LIST_SERIES_REQUEST__INIT;
		Aniworld__V1__ListSeriesResponse *out = NULL;

		req.page_size = 2;
		req.page_token = token;
		assert_int_equal(aw_client_series_list(c, &req, &out, &err, NULL), 0);
		snprintf(label, sizeof(label), "ListSeries page %d", page);
		snap_add(s, label, &out->base);
		for (size_t i = 0; i < out->n_series; i++) {
			Aniworld__V1__GetSeriesRequest get = ANIWORLD__V1__GET_SERIES_REQUEST__INIT;
			Aniworld__V1__GetSeriesByKeyRequest byk = ANIWORLD__V1__GET_SERIES_BY_KEY_REQUEST__INIT;
			Aniworld__V1__AnimeSeries *one = NULL;

			get.id = out->series[i]->id;
			assert_int_equal(aw_client_series_get(c, &get, &one, &err, NULL), 0);
			snprintf(label, sizeof(label), "GetSeries %lld", (long long)get.id);
			snap_add(s, label, &one->base);
			aniworld__v1__anime_series__free_unpacked(one, NULL);
			byk.key = out->series[i]->key;
			assert_int_equal(aw_client_series_get_by_key(c, &byk, &one, &err, NULL), 0);
			snprintf(label, sizeof(label), "GetSeriesByKey %s", byk.key);
			snap_add(s, label, &one->base);
			aniworld__v1__anime_series__free_unpacked(one, NULL);
		}
		snprintf(token, sizeof(token), "%s", out->next_page_token);
		aniworld__v1__list_series_response__free_unpacked(out, NULL);
		if (token[0] == '\0')
			break;
	}
	/* Episodes. */
	token[0] = '\0';
	for (int page = 0;; page++) {
		Aniworld__V1__ListEpisodesRequest req = ANIWORLD__V1__LIST_EPISODES_REQUEST__INIT;
		Aniworld__V1__ListEpisodesResponse *out = NULL;

		req.page_size = 2;
		req.page_token = token;
		assert_int_equal(aw_client_episodes_list(c, &req, &out, &err, NULL), 0);
		snprintf(label, sizeof(label), "ListEpisodes page %d", page);
		snap_add(s, label, &out->base);
		for (size_t i = 0; i < out->n_episodes; i++) {
			Aniworld__V1__GetEpisodeRequest get = ANIWORLD__V1__GET_EPISODE_REQUEST__INIT;
			Aniworld__V1__Episode *one = NULL;

			get.id = out->episodes[i]->id;
			assert_int_equal(aw_client_episodes_get(c, &get, &one, &err, NULL), 0);
			snprintf(label, sizeof(label), "GetEpisode %lld", (long long)get.id);
			snap_add(s, label, &one->base);
			aniworld__v1__episode__free_unpacked(one, NULL);
		}
		snprintf(token, sizeof(token), "%s", out->next_page_token);
		aniworld__v1__list_episodes_response__free_unpacked(out, NULL);
		if (token[0] == '\0')
			break;
	}
	/* Queue items: all, then the DOWNLOADING ones. */
	for (int filtered = 0; filtered < 2; filtered++) {
		Aniworld__V1__DownloadStatus downloading = DOWNLOADING;

		token[0] = '\0';
		for (int page = 0;; page++) {
			Aniworld__V1__ListDownloadsRequest req = ANIWORLD__V1__LIST_DOWNLOADS_REQUEST__INIT;
			Aniworld__V1__ListDownloadsResponse *out = NULL;

			req.page_size = 2;
			req.page_token = token;
			if (filtered) {
				req.n_statuses = 1;
				req.statuses = &downloading;
			}
			assert_int_equal(aw_client_downloads_list(c, &req, &out, &err, NULL), 0);
			snprintf(label, sizeof(label), "ListDownloads %d page %d", filtered, page);
			snap_add(s, label, &out->base);
			for (size_t i = 0; i < out->n_items && !filtered; i++) {
				Aniworld__V1__GetDownloadRequest get = ANIWORLD__V1__GET_DOWNLOAD_REQUEST__INIT;
				Aniworld__V1__DownloadQueueItem *one = NULL;

				get.id = out->items[i]->id;
				assert_int_equal(aw_client_downloads_get(c, &get, &one, &err, NULL), 0);
				snprintf(label, sizeof(label), "GetDownload %lld", (long long)get.id);
				snap_add(s, label, &one->base);
				aniworld__v1__download_queue_item__free_unpacked(one, NULL);
			}
			snprintf(token, sizeof(token), "%s", out->next_page_token);
			aniworld__v1__list_downloads_response__free_unpacked(out, NULL);
			if (token[0] == '\0')
				break;
		}
	}
	/* Sessions. */
	token[0] = '\0';
	for (int page = 0;; page++) {
		Aniworld__V1__ListSessionsRequest req = ANIWORLD__V1__LIST_SESSIONS_REQUEST__INIT;
		Aniworld__V1__ListSessionsResponse *out = NULL;

		req.page_size = 2;
		req.page_token = token;
		assert_int_equal(aw_client_session_list(c, &req, &out, &err, NULL), 0);
		snprintf(label, sizeof(label), "ListSessions page %d", page);
		snap_add(s, label, &out->base);
		for (size_t i = 0; i < out->n_sessions; i++) {
			Aniworld__V1__GetSessionRequest get = ANIWORLD__V1__GET_SESSION_REQUEST__INIT;
			Aniworld__V1__UserSession *one = NULL;

			get.session_id = out->sessions[i]->session_id;
			assert_int_equal(aw_client_session_get(c, &get, &one, &err, NULL), 0);
			snprintf(label, sizeof(label), "GetSession %s", get.session_id);
			snap_add(s, label, &one->base);
			aniworld__v1__user_session__free_unpacked(one, NULL);
		}
		snprintf(token, sizeof(token), "%s", out->next_page_token);
		aniworld__v1__list_sessions_response__free_unpacked(out, NULL);
		if (token[0] == '\0')
			break;
	}
}

/* The same calls, the same answers, byte for byte (every field). */
static void snap_assert_equal(const snapshot *want, const snapshot *got)
{
	for (size_t i = 0; i < want->n && i < got->n; i++) {
		if (strcmp(want->labels[i], got->labels[i]) != 0)
			fail_msg("call %zu: %s before, %s after the copy", i, want->labels[i],
				 got->labels[i]);
		if (want->len[i] != got->len[i] || memcmp(want->data[i], got->data[i], want->len[i]) != 0)
			fail_msg("%s answers differently after the copy", want->labels[i]);
	}
	assert_int_equal(want->n, got->n);
}

/* ---- checks after a copy ---------------------------------------------------------------- */

static void assert_session_valid(aw_client *c, const char *id)
{
	Aniworld__V1__ValidateSessionRequest req = ANIWORLD__V1__VALIDATE_SESSION_REQUEST__INIT;
	Aniworld__V1__ValidateSessionResponse *out = NULL;
	aw_err err;

	req.session_id = (char *)id;
	req.token = (char *)TOKEN;
	assert_int_equal(aw_client_session_validate(c, &req, &out, &err, NULL), 0);
	assert_true(out->valid);
	aniworld__v1__validate_session_response__free_unpacked(out, NULL);
}

/* The claimed item is still claimed: DOWNLOADING, and the next claim takes the
 * pending one instead. */
static void assert_still_claimed(aw_client *c, const filled *x)
{
	Aniworld__V1__GetDownloadRequest get = ANIWORLD__V1__GET_DOWNLOAD_REQUEST__INIT;
	Aniworld__V1__DownloadQueueItem *one = NULL;
	aw_err err;

	get.id = x->claimed;
	assert_int_equal(aw_client_downloads_get(c, &get, &one, &err, NULL), 0);
	assert_int_equal(one->status, DOWNLOADING);
	assert_non_null(one->started_at);
	aniworld__v1__download_queue_item__free_unpacked(one, NULL);
	claim(c, x->pending);
}

/* New records get ids above every one in *x (the copied ones, and the deleted
 * series); *x then holds the new ones. `i` numbers the new series' key. */
static void assert_new_ids_above(aw_client *c, filled *x, int i)
{
	Aniworld__V1__CreateSessionRequest sreq = ANIWORLD__V1__CREATE_SESSION_REQUEST__INIT;
	Aniworld__V1__UserSession *sess = NULL;
	Google__Protobuf__Timestamp expires = future_ts();
	int64_t s, e, d;
	aw_err err;

	s = make_series(c, i);
	assert_true(s > x->series[3]);
	e = make_episode(c, s, 1, 1);
	assert_true(e > x->episodes[3]);
	d = enqueue(c, s, 1);
	assert_true(d > x->max_download);
	sreq.session_id = i == 10 ? "session-new-10" : "session-new";
	sreq.user_id = "user-2";
	sreq.token = "another token";
	sreq.expires_at = &expires;
	assert_int_equal(aw_client_session_create(c, &sreq, &sess, &err, NULL), 0);
	assert_true(sess->id > x->max_session);
	x->series[3] = s;
	x->episodes[3] = e;
	x->max_download = d;
	x->max_session = sess->id;
	aniworld__v1__user_session__free_unpacked(sess, NULL);
}

/* ---- the tests ------------------------------------------------------------------------- */

static void test_e2e_copy_db_sqlite_to_postgres_and_back(void **state)
{
	fixture *f = *state;
	snapshot before = {0}, after = {0}, back = {0};
	char log[128], back_db[128];
	filled x = {0};
	aw_client *c;

	snprintf(log, sizeof(log), "%s/copy.log", f->dir);
	c = start_server(f, 0, f->sqlite);
	fill(c, &x);
	snap_take(c, &before);

	/* Copied while the SQLite server still runs: the source is read from a
	 * snapshot, read-only. */
	assert_exit(copy_db(log, 0, "--from", f->sqlite, "--to", f->pg_uri, NULL), 0, log);
	stop_server(f, 0, c);
	assert_true(log_has(log, "copy-db: anime_series: 3 rows"));
	assert_true(log_has(log, "copy-db: episodes: 4 rows"));
	assert_true(log_has(log, "copy-db: download_queue: 6 rows"));
	assert_true(log_has(log, "copy-db: user_sessions: 2 rows"));
	assert_true(log_has(log, "row counts match"));
	assert_false(log_has(log, PASSWORD));
	/* The claim's heartbeat (not in any message) came along too. */
	{
		char sql[128];
		int64_t pg_hb = -2;

		snprintf(sql, sizeof(sql), "SELECT heartbeat_at FROM download_queue WHERE id = %lld",
			 (long long)x.claimed);
		assert_int_equal(test_db_int(&f->pg, sql, &pg_hb), 0);
		assert_true(pg_hb > 0);
		assert_int_equal(pg_hb, sqlite_int(f->sqlite, sql));
	}

	c = start_server(f, 1, f->pg.location);
	snap_take(c, &after);
	snap_assert_equal(&before, &after);
	assert_session_valid(c, x.session[0]);
	assert_still_claimed(c, &x);
	assert_new_ids_above(c, &x, 10);
	snap_free(&after);
	snap_take(c, &after);
	stop_server(f, 1, c);

	/* And back, into a SQLite file that does not exist yet. */
	snprintf(back_db, sizeof(back_db), "%s/back.db", f->dir);
	assert_exit(copy_db(log, 0, "--from", f->pg_uri, "--to", back_db, NULL), 0, log);
	c = start_server(f, 2, back_db);
	snap_take(c, &back);
	snap_assert_equal(&after, &back);
	assert_new_ids_above(c, &x, 11);
	stop_server(f, 2, c);

	snap_free(&before);
	snap_free(&after);
	snap_free(&back);
}

/* A target holding records is refused and left exactly as it was; --force
 * empties it in the copy's own transaction. */
static void test_e2e_copy_db_refuses_non_empty_target(void **state)
{
	fixture *f = *state;
	char log[128], sql[160];
	int64_t other, n = -1;
	aw_client *c;

	snprintf(log, sizeof(log), "%s/copy.log", f->dir);
	c = start_server(f, 0, f->sqlite);
	make_series(c, 1);
	make_series(c, 2);
	stop_server(f, 0, c);
	c = start_server(f, 1, f->pg.location);
	other = make_series(c, 7);
	stop_server(f, 1, c);

	assert_exit(copy_db(log, 0, "--from", f->sqlite, "--to", f->pg_uri, NULL), 1, log);
	assert_true(log_has(log, "is not empty (anime_series 1, request_ids 1 rows)"));
	assert_int_equal(pg_rows(f, "anime_series"), 1);
	snprintf(sql, sizeof(sql), "SELECT id FROM anime_series WHERE key = 'series-7'");
	assert_int_equal(test_db_int(&f->pg, sql, &n), 0);
	assert_int_equal(n, other);

	assert_exit(copy_db(log, 0, "--from", f->sqlite, "--to", f->pg_uri, "--force", NULL), 0, log);
	assert_int_equal(pg_rows(f, "anime_series"), 2);
	assert_int_equal(test_db_int(&f->pg, sql, &n), 0);
	assert_int_equal(n, -1);
	/* The derived count the server's unfiltered lists use follows. */
	assert_int_equal(test_db_int(&f->pg, "SELECT n FROM row_counts WHERE name = 'anime_series'",
				     &n), 0);
	assert_int_equal(n, 2);

	/* The other way: the SQLite file holds records too. */
	assert_int_equal(test_db_exec(&f->pg, "INSERT INTO anime_series (key, name, created_at,"
					      " updated_at) VALUES ('series-sql', 'x', 1, 2)"),
			 0);
	assert_exit(copy_db(log, 0, "--from", f->pg_uri, "--to", f->sqlite, NULL), 1, log);
	assert_int_equal(sqlite_int(f->sqlite, "SELECT COUNT(*) FROM anime_series"), 2);
	assert_exit(copy_db(log, 0, "--from", f->pg_uri, "--to", f->sqlite, "--force", NULL), 0, log);
	assert_int_equal(sqlite_int(f->sqlite, "SELECT COUNT(*) FROM anime_series"), 3);
	assert_int_equal(sqlite_int(f->sqlite, "SELECT n FROM row_counts WHERE name = 'anime_series'"),
			 3);
	assert_true(sqlite_int(f->sqlite, "SELECT id FROM anime_series WHERE key = 'series-sql'") > 0);
}

/* A source written by a newer build is refused before the target is touched. */
static void test_e2e_copy_db_refuses_newer_source(void **state)
{
	fixture *f = *state;
	char log[128];
	aw_client *c;
	int64_t v;

	snprintf(log, sizeof(log), "%s/copy.log", f->dir);
	c = start_server(f, 0, f->sqlite);
	make_series(c, 1);
	stop_server(f, 0, c);
	v = sqlite_int(f->sqlite, "PRAGMA user_version");
	assert_true(v > 0);
	assert_int_equal(sqlite_int(f->sqlite, "PRAGMA user_version = 999"), -1);
	assert_int_equal(sqlite_int(f->sqlite, "PRAGMA user_version"), 999);

	assert_exit(copy_db(log, 0, "--from", f->sqlite, "--to", f->pg_uri, NULL), 1, log);
	assert_true(log_has(log, "is at schema version 999"));
	/* Not even migrated. */
	assert_int_equal(pg_rows(f, "anime_series"), -1);
}

/* A table or a column that one side has and the other lacks stops the copy,
 * naming it: what a migration adding one without telling copy-db runs into. */
static void test_e2e_copy_db_refuses_unknown_tables_and_columns(void **state)
{
	fixture *f = *state;
	char log[128];
	aw_client *c;

	snprintf(log, sizeof(log), "%s/copy.log", f->dir);
	c = start_server(f, 0, f->sqlite);
	make_series(c, 1);
	stop_server(f, 0, c);

	sqlite_int(f->sqlite, "ALTER TABLE anime_series ADD COLUMN rating INTEGER");
	assert_exit(copy_db(log, 0, "--from", f->sqlite, "--to", f->pg_uri, NULL), 1, log);
	assert_true(log_has(log, "column anime_series.rating of the source is missing from the target"));
	assert_int_equal(pg_rows(f, "anime_series"), 0);

	sqlite_int(f->sqlite, "ALTER TABLE anime_series DROP COLUMN rating");
	sqlite_int(f->sqlite, "CREATE TABLE watch_history (id INTEGER PRIMARY KEY, at INTEGER)");
	assert_exit(copy_db(log, 0, "--from", f->sqlite, "--to", f->pg_uri, NULL), 1, log);
	assert_true(log_has(log, "table watch_history of the source is not known to copy-db"));
	assert_int_equal(pg_rows(f, "anime_series"), 0);
}

/* SIGKILL half-way (after the first table, during the pause the test asks for
 * after each) leaves the target empty; a second copy then needs no --force
 * and is whole. Both ways. */
static void test_e2e_copy_db_killed_half_way_leaves_target_empty(void **state)
{
	fixture *f = *state;
	char log[128], back[128];
	filled x = {0};
	aw_client *c;
	int pid, status;
	long long deadline;

	snprintf(log, sizeof(log), "%s/copy.log", f->dir);
	c = start_server(f, 0, f->sqlite);
	fill(c, &x);
	stop_server(f, 0, c);

	pid = copy_db(log, 60000, "--from", f->sqlite, "--to", f->pg_uri, NULL);
	assert_true(pid > 0);
	deadline = server_proc_now_ms() + COPY_TIMEOUT_MS;
	while (!log_has(log, "copy-db: anime_series: 3 rows") && server_proc_now_ms() < deadline)
		usleep(20000);
	assert_true(log_has(log, "copy-db: anime_series: 3 rows"));
	assert_false(log_has(log, "copy-db: episodes:"));
	/* A table written, not committed: the target shows none of it. */
	assert_int_equal(pg_rows(f, "anime_series"), 0);
	kill(pid, SIGKILL);
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFSIGNALED(status));
	assert_int_equal(pg_rows(f, "anime_series"), 0);
	assert_int_equal(pg_rows(f, "episodes"), 0);
	assert_int_equal(pg_rows(f, "download_queue"), 0);
	assert_int_equal(pg_rows(f, "user_sessions"), 0);

	assert_exit(copy_db(log, 0, "--from", f->sqlite, "--to", f->pg_uri, NULL), 0, log);
	assert_int_equal(pg_rows(f, "anime_series"), 3);
	assert_int_equal(pg_rows(f, "episodes"), 4);
	assert_int_equal(pg_rows(f, "download_queue"), 6);
	assert_int_equal(pg_rows(f, "user_sessions"), 2);

	/* The same the other way, into a new SQLite file. */
	snprintf(back, sizeof(back), "%s/back.db", f->dir);
	unlink(log);
	pid = copy_db(log, 60000, "--from", f->pg_uri, "--to", back, NULL);
	assert_true(pid > 0);
	deadline = server_proc_now_ms() + COPY_TIMEOUT_MS;
	while (!log_has(log, "copy-db: anime_series: 3 rows") && server_proc_now_ms() < deadline)
		usleep(20000);
	assert_true(log_has(log, "copy-db: anime_series: 3 rows"));
	kill(pid, SIGKILL);
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_int_equal(sqlite_int(back, "SELECT COUNT(*) FROM anime_series"), 0);
	assert_int_equal(sqlite_int(back, "SELECT COUNT(*) FROM episodes"), 0);
	assert_exit(copy_db(log, 0, "--from", f->pg_uri, "--to", back, NULL), 0, log);
	assert_int_equal(sqlite_int(back, "SELECT COUNT(*) FROM anime_series"), 3);
	assert_int_equal(sqlite_int(back, "SELECT COUNT(*) FROM download_queue"), 6);
}

/* Bad usage is told, with exit 2, and touches nothing. */
static void test_e2e_copy_db_usage(void **state)
{
	fixture *f = *state;
	char log[128];

	snprintf(log, sizeof(log), "%s/copy.log", f->dir);
	assert_exit(copy_db(log, 0, "--from", f->sqlite, NULL), 2, log);
	assert_true(log_has(log, "--from and --to are both needed"));
	assert_exit(copy_db(log, 0, "--from", f->sqlite, "--to", f->sqlite, NULL), 1, log);
	assert_true(log_has(log, "the same database"));
	assert_exit(copy_db(log, 0, "--bogus", NULL), 2, log);
	assert_int_equal(pg_rows(f, "anime_series"), -1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_e2e_copy_db_sqlite_to_postgres_and_back, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_e2e_copy_db_refuses_non_empty_target, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_e2e_copy_db_refuses_newer_source, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_e2e_copy_db_refuses_unknown_tables_and_columns,
						setup, teardown),
		cmocka_unit_test_setup_teardown(test_e2e_copy_db_killed_half_way_leaves_target_empty,
						setup, teardown),
		cmocka_unit_test_setup_teardown(test_e2e_copy_db_usage, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
