/*
 * Simulated power cuts under the real group-commit writer (issue 12).
 *
 * Each round opens the repository on a SQLite file through the power-cut VFS
 * (powercut_vfs.h; the backend's test-only "vfs" setting), runs four writer
 * threads through the repository API until the power goes off at a random
 * I/O call, closes the repository, lets the VFS undo what was not synced
 * (dropped whole, or kept in part: whole writes, 512-byte sectors, torn
 * writes), and then opens the file with the default VFS to check it:
 *   - PRAGMA integrity_check and foreign_key_check pass, and the row counts
 *     kept by triggers match the tables;
 *   - every row is in a state some prefix of the commit order explains
 *     (never a later write without an earlier one), rows no write touched are
 *     as they were;
 *   - with durability "power", that prefix is all of the writes acknowledged
 *     before the cut, with their values.
 * The writers (each owning its own rows, so that its program order is the
 * commit order of those rows): series created, updated twice and deleted;
 * series with batches of episodes, an episode updated, the series deleted
 * with its episodes; and a download worker that enqueues, claims, completes
 * and deletes series with their queue items. Commit order is the order in
 * which the writer reports successes (one batch at a time, in queue order).
 * A write that failed at the cut may or may not be there. A fifth thread
 * checkpoints every few milliseconds, so that cuts land in checkpoints too.
 *
 * Knobs: AW_POWERCUT_ROUNDS (cuts per run, default 200: 3/5 at "power",
 * 2/5 at "process"), AW_POWERCUT_SEED (the seed printed by a run, to replay
 * its choices of cut points and of what is kept; the threads' interleaving
 * is the scheduler's). tests/valgrind.sh runs fewer rounds.
 */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <sqlite3.h>

#include "powercut_vfs.h"
#include "repo/repo.h"

#define WORKERS 4
#define MAX_EFFECTS 8
#define ITERATIONS_MAX 100000 /* a worker that gets this far never saw the cut: a bug */
#define FRESH_EVERY 20        /* rounds on one database file before a new one */

/* ---- the model: what each write did, and in which order -------------------------- */

/* A row a write leaves: its key and its value (absent: deleted). */
typedef struct effect {
	char k[96];
	char v[64];
	int absent;
} effect;

typedef struct leftover {
	int64_t id;
	int status;
	char k[96];
} leftover;

typedef struct run {
	const char *label;
	aw_durability durability;
	char dir[64], path[128];
	sqlite3 *model;             /* tables base, eff, w (see model_open) */
	pthread_mutex_t model_mu;
	pthread_mutex_t seq_mu;
	int64_t seq;                /* successes reported so far this round */
	atomic_llong next_wid;
	atomic_int failed;
	char failure[512];
	aw_repo *repo;
	int round;
	leftover left[8];           /* unfinished queue items at the round's start */
	int n_left;
	/* totals over the run */
	uint64_t acked, lost, pending, pending_db, rounds_with_loss, rounds_in_checkpoint;
} run;

static void fail_run(run *r, const char *fmt, ...)
{
	va_list ap;
	int expected = 0;

	if (!atomic_compare_exchange_strong(&r->failed, &expected, 1))
		return;
	va_start(ap, fmt);
	vsnprintf(r->failure, sizeof(r->failure), fmt, ap);
	va_end(ap);
}

static void model_exec(run *r, const char *sql)
{
	char *msg = NULL;

	if (sqlite3_exec(r->model, sql, NULL, NULL, &msg) != SQLITE_OK)
		fail_run(r, "model: %s: %s", sql, msg != NULL ? msg : "?");
	sqlite3_free(msg);
}

static void model_open(run *r)
{
	assert_int_equal(sqlite3_open(":memory:", &r->model), SQLITE_OK);
	/* The check's connection leaves the WAL as the cut left it (no checkpoint
	 * when it detaches), so later rounds also cut checkpoints under way. */
	sqlite3_db_config(r->model, SQLITE_DBCONFIG_NO_CKPT_ON_CLOSE, 1, NULL);
	model_exec(r, "CREATE TABLE base(k TEXT PRIMARY KEY, v TEXT);"
		      "CREATE TABLE w(wid INTEGER PRIMARY KEY, seq INTEGER);" /* NULL: unknown */
		      "CREATE TABLE eff(wid INTEGER, k TEXT, v TEXT);"
		      "CREATE INDEX eff_k ON eff(k, wid);");
	assert_int_equal(atomic_load(&r->failed), 0);
}

/* Records write `wid`: committed as number `seq` of the round, or (seq 0)
 * failed at the cut, which may or may not have kept it. */
static void model_record(run *r, int64_t wid, int64_t seq, const effect *eff, int n)
{
	sqlite3_stmt *st;

	pthread_mutex_lock(&r->model_mu);
	sqlite3_prepare_v2(r->model, "INSERT INTO w VALUES (?, ?)", -1, &st, NULL);
	sqlite3_bind_int64(st, 1, wid);
	if (seq > 0)
		sqlite3_bind_int64(st, 2, seq);
	if (sqlite3_step(st) != SQLITE_DONE)
		fail_run(r, "model: %s", sqlite3_errmsg(r->model));
	sqlite3_finalize(st);
	sqlite3_prepare_v2(r->model, "INSERT INTO eff VALUES (?, ?, ?)", -1, &st, NULL);
	for (int i = 0; i < n; i++) {
		sqlite3_bind_int64(st, 1, wid);
		sqlite3_bind_text(st, 2, eff[i].k, -1, SQLITE_STATIC);
		if (eff[i].absent)
			sqlite3_bind_null(st, 3);
		else
			sqlite3_bind_text(st, 3, eff[i].v, -1, SQLITE_STATIC);
		if (sqlite3_step(st) != SQLITE_DONE)
			fail_run(r, "model: %s", sqlite3_errmsg(r->model));
		sqlite3_reset(st);
	}
	sqlite3_finalize(st);
	pthread_mutex_unlock(&r->model_mu);
}

/* ---- one write ---------------------------------------------------------------------- */

typedef struct wreq {
	aw_repo_req req; /* first */
	run *run;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	int done, rc;
	aw_err err;
	ProtobufCMessage *result;
	int64_t seq;     /* place in the commit order, when rc == 0 */
} wreq;

/* The writer reports a batch's outcomes in order, one batch after another:
 * numbering the successes here numbers them in commit order. */
static void wreq_done(aw_repo_req *req, int rc, const aw_err *err, ProtobufCMessage *result)
{
	wreq *q = (wreq *)req;

	if (rc == 0) {
		pthread_mutex_lock(&q->run->seq_mu);
		q->seq = ++q->run->seq;
		pthread_mutex_unlock(&q->run->seq_mu);
	}
	pthread_mutex_lock(&q->mu);
	q->rc = rc;
	if (err != NULL)
		q->err = *err;
	q->result = result;
	q->done = 1;
	pthread_cond_signal(&q->cv);
	pthread_mutex_unlock(&q->mu);
}

static aw_repo_req *wreq_init(wreq *q, run *r)
{
	memset(q, 0, sizeof(*q));
	q->run = r;
	pthread_mutex_init(&q->mu, NULL);
	pthread_cond_init(&q->cv, NULL);
	q->req.done = wreq_done;
	return &q->req;
}

/*
 * Waits for the write submitted with `q` and records it with its effects:
 * acknowledged, or failed once the power is off (then it may be there or
 * not). Any other failure fails the run. Returns the write's code; the result
 * stays in q->result (the caller frees it).
 */
static int wreq_finish(wreq *q, const char *what, const effect *eff, int n)
{
	run *r = q->run;
	int64_t wid;

	pthread_mutex_lock(&q->mu);
	while (!q->done)
		pthread_cond_wait(&q->cv, &q->mu);
	pthread_mutex_unlock(&q->mu);
	pthread_mutex_destroy(&q->mu);
	pthread_cond_destroy(&q->cv);
	wid = atomic_fetch_add(&r->next_wid, 1) + 1;
	if (q->rc == 0)
		model_record(r, wid, q->seq, eff, n);
	else if (powercut_is_off())
		model_record(r, wid, 0, eff, n);
	else
		fail_run(r, "%s failed before the cut: %s (%s)", what, q->err.msg,
			 aw_err_name(q->rc));
	return q->rc;
}

static void effect_set(effect *e, const char *v, const char *kfmt, ...)
{
	va_list ap;

	va_start(ap, kfmt);
	vsnprintf(e->k, sizeof(e->k), kfmt, ap);
	va_end(ap);
	e->absent = v == NULL;
	snprintf(e->v, sizeof(e->v), "%s", v != NULL ? v : "");
}

/* ---- the writers ------------------------------------------------------------------- */

typedef struct worker {
	run *run;
	int id;
	int op;              /* this worker's writes so far: makes each value unique */
} worker;

static int stopped(worker *w)
{
	return atomic_load(&w->run->failed) || w->op > ITERATIONS_MAX;
}

/* Creates series `key` (description "d<op>"); *id its id. */
static int series_create(worker *w, const char *key, int64_t *id)
{
	Aniworld__V1__AnimeSeries in = ANIWORLD__V1__ANIME_SERIES__INIT;
	char desc[32], v[64];
	effect e;
	wreq q;
	int rc;

	snprintf(desc, sizeof(desc), "d%d", ++w->op);
	in.key = (char *)key;
	in.name = "n";
	in.description = desc;
	snprintf(v, sizeof(v), "n|%s|0", desc);
	effect_set(&e, v, "S|%s", key);
	aw_repo_series_create(w->run->repo, wreq_init(&q, w->run), &in);
	rc = wreq_finish(&q, "CreateSeries", &e, 1);
	if (rc == 0)
		*id = ((Aniworld__V1__AnimeSeries *)q.result)->id;
	protobuf_c_message_free_unpacked(q.result, NULL);
	return rc;
}

static int series_update(worker *w, const char *key, int64_t id)
{
	Aniworld__V1__AnimeSeries in = ANIWORLD__V1__ANIME_SERIES__INIT;
	char desc[32], v[64];
	effect e;
	wreq q;
	int rc;

	snprintf(desc, sizeof(desc), "d%d", ++w->op);
	in.id = id;
	in.description = desc;
	in.total_episodes = w->op % 1000;
	snprintf(v, sizeof(v), "n|%s|%d", desc, in.total_episodes);
	effect_set(&e, v, "S|%s", key);
	aw_repo_series_update(w->run->repo, wreq_init(&q, w->run), &in,
			      AW_SERIES_DESCRIPTION | AW_SERIES_TOTAL_EPISODES);
	rc = wreq_finish(&q, "UpdateSeries", &e, 1);
	protobuf_c_message_free_unpacked(q.result, NULL);
	return rc;
}

/* Deletes series `key` and with it the rows `children` (episodes, queue items). */
static int series_delete(worker *w, const char *key, int64_t id, const effect *children,
			 int n_children)
{
	effect e[MAX_EFFECTS];
	wreq q;
	int rc;

	w->op++;
	effect_set(&e[0], NULL, "S|%s", key);
	for (int i = 0; i < n_children; i++) {
		e[1 + i] = children[i];
		e[1 + i].absent = 1;
	}
	aw_repo_series_delete(w->run->repo, wreq_init(&q, w->run), id, NULL);
	rc = wreq_finish(&q, "DeleteSeries", e, 1 + n_children);
	protobuf_c_message_free_unpacked(q.result, NULL);
	return rc;
}

/* Creates series, updates each twice, deletes every other one. */
static void *series_worker(void *arg)
{
	worker *w = arg;
	run *r = w->run;

	for (int i = 0; !stopped(w); i++) {
		char key[48];
		int64_t id = 0;

		snprintf(key, sizeof(key), "r%d-w%d-%d", r->round, w->id, i);
		if (series_create(w, key, &id) != 0 || series_update(w, key, id) != 0 ||
		    series_update(w, key, id) != 0)
			break;
		if (i % 2 == 1 && series_delete(w, key, id, NULL, 0) != 0)
			break;
	}
	return NULL;
}

/* A series with a batch of four episodes, one of them renamed; every other
 * series is deleted with its episodes. */
static void *episodes_worker(void *arg)
{
	worker *w = arg;
	run *r = w->run;

	for (int i = 0; !stopped(w); i++) {
		Aniworld__V1__Episode eps[4], *ptrs[4], upd = ANIWORLD__V1__EPISODE__INIT;
		Aniworld__V1__BatchCreateEpisodesRequest batch =
			ANIWORLD__V1__BATCH_CREATE_EPISODES_REQUEST__INIT;
		char key[48], title[32], v[64];
		effect e[4], e1;
		int64_t id = 0, ep2 = 0;
		wreq q;
		int rc;

		snprintf(key, sizeof(key), "r%d-w%d-%d", r->round, w->id, i);
		if (series_create(w, key, &id) != 0)
			break;
		snprintf(title, sizeof(title), "e%d", ++w->op);
		snprintf(v, sizeof(v), "%s|0|", title);
		for (int j = 0; j < 4; j++) {
			eps[j] = (Aniworld__V1__Episode)ANIWORLD__V1__EPISODE__INIT;
			eps[j].series_id = id;
			eps[j].season = 1;
			eps[j].episode_number = j + 1;
			eps[j].title = title;
			ptrs[j] = &eps[j];
			effect_set(&e[j], v, "E|%s|1|%d", key, j + 1);
		}
		batch.series_id = id;
		batch.n_episodes = 4;
		batch.episodes = ptrs;
		aw_repo_episodes_batch_create(r->repo, wreq_init(&q, r), &batch);
		rc = wreq_finish(&q, "BatchCreateEpisodes", e, 4);
		if (rc == 0)
			ep2 = ((Aniworld__V1__BatchCreateEpisodesResponse *)q.result)->episodes[1]->id;
		protobuf_c_message_free_unpacked(q.result, NULL);
		if (rc != 0)
			break;

		snprintf(title, sizeof(title), "e%d", ++w->op);
		snprintf(v, sizeof(v), "%s|0|", title);
		upd.id = ep2;
		upd.title = title;
		effect_set(&e1, v, "E|%s|1|2", key);
		aw_repo_episodes_update(r->repo, wreq_init(&q, r), &upd, AW_EPISODE_TITLE);
		rc = wreq_finish(&q, "UpdateEpisode", &e1, 1);
		protobuf_c_message_free_unpacked(q.result, NULL);
		if (rc != 0)
			break;
		if (i % 2 == 1 && series_delete(w, key, id, e, 4) != 0)
			break;
	}
	return NULL;
}

/* Claims the one PENDING item there is (`k`, id `id`): the claim must return it. */
static int claim(worker *w, const char *k, int64_t id)
{
	effect e;
	wreq q;
	int rc;

	w->op++;
	effect_set(&e, "2", "%s", k);
	aw_repo_downloads_claim(w->run->repo, wreq_init(&q, w->run), 24LL * 3600 * 1000, NULL);
	rc = wreq_finish(&q, "ClaimNextDownload", &e, 1);
	if (rc == 0) {
		Aniworld__V1__ClaimNextDownloadResponse *res = (void *)q.result;
		if (res->item == NULL || res->item->id != id)
			fail_run(w->run, "claim: expected item %lld (%s), got %lld", (long long)id, k,
				 res->item != NULL ? (long long)res->item->id : 0LL);
	}
	protobuf_c_message_free_unpacked(q.result, NULL);
	return rc;
}

static int complete(worker *w, const char *k, int64_t id)
{
	effect e;
	wreq q;
	int rc;

	w->op++;
	effect_set(&e, "4", "%s", k);
	aw_repo_downloads_transition(w->run->repo, wreq_init(&q, w->run), id, AW_DL_COMPLETE, NULL);
	rc = wreq_finish(&q, "CompleteDownload", &e, 1);
	protobuf_c_message_free_unpacked(q.result, NULL);
	return rc;
}

/*
 * The download worker, the only one that touches the queue, so that at most
 * one item is ever PENDING and a claim's effect is known before it runs:
 * first it finishes what an earlier cut left unfinished, then, per series,
 * enqueues, claims and completes three episodes; every other series is
 * deleted with its queue items.
 */
static void *queue_worker(void *arg)
{
	worker *w = arg;
	run *r = w->run;

	for (int i = 0; i < r->n_left; i++) {
		const leftover *l = &r->left[i];
		if (l->status == AW_DL_PENDING && claim(w, l->k, l->id) != 0)
			return NULL;
		if (complete(w, l->k, l->id) != 0)
			return NULL;
	}
	for (int i = 0; !stopped(w); i++) {
		char key[48];
		effect items[3];
		int64_t sid = 0;
		int j;

		snprintf(key, sizeof(key), "r%d-w%d-%d", r->round, w->id, i);
		if (series_create(w, key, &sid) != 0)
			return NULL;
		for (j = 0; j < 3; j++) {
			Aniworld__V1__DownloadQueueItem in = ANIWORLD__V1__DOWNLOAD_QUEUE_ITEM__INIT;
			int64_t id = 0;
			wreq q;
			int rc;

			w->op++;
			in.series_id = sid;
			in.season = 1;
			in.episode_number = j + 1;
			effect_set(&items[j], "1", "Q|%s|1|%d", key, j + 1);
			aw_repo_downloads_enqueue(r->repo, wreq_init(&q, r), &in);
			rc = wreq_finish(&q, "EnqueueDownload", &items[j], 1);
			if (rc == 0)
				id = ((Aniworld__V1__DownloadQueueItem *)q.result)->id;
			protobuf_c_message_free_unpacked(q.result, NULL);
			if (rc != 0 || claim(w, items[j].k, id) != 0 || complete(w, items[j].k, id) != 0)
				return NULL;
		}
		if (i % 2 == 1 && series_delete(w, key, sid, items, 3) != 0)
			return NULL;
	}
	return NULL;
}

/*
 * Checkpoints as the repository's own checkpointer makes them (PASSIVE, on a
 * connection of its own), but every few milliseconds instead of every 4,000
 * WAL pages, so that cuts also land in a checkpoint's writes and syncs.
 */
typedef struct checkpointer {
	run *run;
	sqlite3 *db;
} checkpointer;

static void *checkpoint_worker(void *arg)
{
	checkpointer *c = arg;
	struct timespec pace = {0, 2 * 1000 * 1000};

	while (!powercut_is_off() && !atomic_load(&c->run->failed)) {
		sqlite3_wal_checkpoint_v2(c->db, NULL, SQLITE_CHECKPOINT_PASSIVE, NULL, NULL);
		nanosleep(&pace, NULL);
	}
	return NULL;
}

/* ---- the check ------------------------------------------------------------------------ */

enum { CHECK_OK = 0, CHECK_LOST = 1, CHECK_BROKEN = 2 };

static int same(const char *a, const char *b)
{
	return (a == NULL && b == NULL) || (a != NULL && b != NULL && strcmp(a, b) == 0);
}

static char *col_dup(sqlite3_stmt *st, int col)
{
	const unsigned char *t = sqlite3_column_text(st, col);
	return t != NULL ? strdup((const char *)t) : NULL;
}

/* The first column of the first row of `sql` as text ("" when none), into buf. */
static int query_text(sqlite3 *db, const char *sql, char *buf, size_t n)
{
	sqlite3_stmt *st;
	int rc = sqlite3_prepare_v2(db, sql, -1, &st, NULL);

	buf[0] = '\0';
	if (rc != SQLITE_OK)
		return rc;
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) {
		snprintf(buf, n, "%s", sqlite3_column_text(st, 0) ? (const char *)sqlite3_column_text(st, 0) : "");
		rc = SQLITE_OK;
	} else if (rc == SQLITE_DONE) {
		rc = SQLITE_OK;
	}
	sqlite3_finalize(st);
	return rc;
}

/*
 * Checks the database as the cut left it against the model (see the top of
 * the file) and makes its state the next round's base. Returns CHECK_OK,
 * CHECK_LOST (a write acknowledged before the cut is missing: the check at
 * "power") or CHECK_BROKEN (damage, or a state no prefix of the commit order
 * explains), with a message in msg.
 */
static int check_round(run *r, int64_t *acked, int64_t *lost, char *msg, size_t msg_len)
{
	sqlite3 *db = r->model;
	sqlite3_stmt *keys, *hist;
	char sql[512], buf[256];
	int64_t n = 0, best = -1;
	int *count = NULL, *mark = NULL, n_keys = 0, result = CHECK_OK, has_tables;

	*acked = *lost = 0;
	snprintf(sql, sizeof(sql), "ATTACH '%s' AS d", r->path);
	if (sqlite3_exec(db, sql, NULL, NULL, NULL) != SQLITE_OK) {
		snprintf(msg, msg_len, "the database does not open: %s", sqlite3_errmsg(db));
		return CHECK_BROKEN;
	}
	if (query_text(db, "PRAGMA d.integrity_check", buf, sizeof(buf)) != SQLITE_OK ||
	    strcmp(buf, "ok") != 0) {
		snprintf(msg, msg_len, "integrity_check: %s %s", buf, sqlite3_errmsg(db));
		result = CHECK_BROKEN;
		goto out;
	}
	if (query_text(db, "PRAGMA d.foreign_key_check", buf, sizeof(buf)) != SQLITE_OK ||
	    buf[0] != '\0') {
		snprintf(msg, msg_len, "foreign_key_check: a row of %s has no parent", buf);
		result = CHECK_BROKEN;
		goto out;
	}
	query_text(db, "SELECT count(*) FROM d.sqlite_master WHERE name = 'row_counts'", buf,
		   sizeof(buf));
	has_tables = strcmp(buf, "1") == 0;
	sqlite3_exec(db, "CREATE TEMP TABLE IF NOT EXISTS obs(k TEXT PRIMARY KEY, v TEXT);"
			 "DELETE FROM obs", NULL, NULL, NULL);
	r->n_left = 0;
	if (has_tables) {
		static const char dump[] =
			"INSERT INTO obs SELECT 'S|' || key, name || '|' || description || '|' || "
			"total_episodes FROM d.anime_series;"
			"INSERT INTO obs SELECT 'E|' || s.key || '|' || e.season || '|' || "
			"e.episode_number, e.title || '|' || e.is_downloaded || '|' || e.file_path "
			"FROM d.episodes e JOIN d.anime_series s ON s.id = e.series_id;"
			"INSERT INTO obs SELECT 'Q|' || s.key || '|' || q.season || '|' || "
			"q.episode_number, q.status FROM d.download_queue q "
			"JOIN d.anime_series s ON s.id = q.series_id;";
		sqlite3_stmt *st;

		if (sqlite3_exec(db, dump, NULL, NULL, NULL) != SQLITE_OK) {
			snprintf(msg, msg_len, "reading the rows: %s", sqlite3_errmsg(db));
			result = CHECK_BROKEN;
			goto out;
		}
		query_text(db, "SELECT (SELECT n FROM d.row_counts WHERE name = 'anime_series') = "
			       "(SELECT count(*) FROM d.anime_series) AND (SELECT n FROM d.row_counts "
			       "WHERE name = 'episodes') = (SELECT count(*) FROM d.episodes)", buf,
			       sizeof(buf));
		if (strcmp(buf, "1") != 0) {
			snprintf(msg, msg_len, "row_counts does not match the tables");
			result = CHECK_BROKEN;
			goto out;
		}
		sqlite3_prepare_v2(db, "SELECT q.id, q.status, 'Q|' || s.key || '|' || q.season || '|' "
				   "|| q.episode_number FROM d.download_queue q JOIN d.anime_series s "
				   "ON s.id = q.series_id WHERE q.status IN (1, 2) ORDER BY q.id",
				   -1, &st, NULL);
		while (sqlite3_step(st) == SQLITE_ROW && r->n_left < 8) {
			leftover *l = &r->left[r->n_left++];
			l->id = sqlite3_column_int64(st, 0);
			l->status = sqlite3_column_int(st, 1);
			snprintf(l->k, sizeof(l->k), "%s", sqlite3_column_text(st, 2));
		}
		sqlite3_finalize(st);
		/* The download worker keeps at most one item PENDING, and a cut leaves at
		 * most one claim unfinished. */
		if (r->n_left > 2) {
			snprintf(msg, msg_len, "%d unfinished queue items", r->n_left);
			result = CHECK_BROKEN;
			goto out;
		}
	}

	/* Rows no write touched are as they were. */
	query_text(db, "SELECT u.k || ': was ' || ifnull(b.v, 'absent') || ', is ' || "
		       "ifnull(o.v, 'absent') FROM (SELECT k FROM base UNION SELECT k FROM obs) u "
		       "LEFT JOIN base b ON b.k = u.k LEFT JOIN obs o ON o.k = u.k "
		       "WHERE u.k NOT IN (SELECT k FROM eff) AND b.v IS NOT o.v",
		   buf, sizeof(buf));
	if (buf[0] != '\0') {
		snprintf(msg, msg_len, "a row no write touched changed: %s", buf);
		result = CHECK_BROKEN;
		goto out;
	}

	/* For each row written: which prefixes of the commit order explain it. */
	query_text(db, "SELECT count(*) FROM w WHERE seq IS NOT NULL", buf, sizeof(buf));
	n = strtoll(buf, NULL, 10);
	*acked = n;
	count = calloc((size_t)n + 1, sizeof(*count));
	mark = calloc((size_t)n + 1, sizeof(*mark));
	assert_non_null(count);
	assert_non_null(mark);
	sqlite3_prepare_v2(db, "SELECT k, (SELECT v FROM base WHERE base.k = e.k), "
			   "(SELECT v FROM obs WHERE obs.k = e.k), "
			   "EXISTS (SELECT 1 FROM obs WHERE obs.k = e.k) "
			   "FROM (SELECT DISTINCT k FROM eff) e", -1, &keys, NULL);
	sqlite3_prepare_v2(db, "SELECT w.seq, eff.v FROM eff JOIN w USING (wid) WHERE eff.k = ? "
			   "ORDER BY eff.wid", -1, &hist, NULL);
	while (sqlite3_step(keys) == SQLITE_ROW) {
		char *k = col_dup(keys, 0), *cur = col_dup(keys, 1), *obs = col_dup(keys, 2);
		char *unknown = NULL;
		int64_t from = 0;
		int has_unknown = 0;

		memset(mark, 0, ((size_t)n + 1) * sizeof(*mark));
		sqlite3_bind_text(hist, 1, k, -1, SQLITE_STATIC);
		while (sqlite3_step(hist) == SQLITE_ROW) {
			if (sqlite3_column_type(hist, 0) == SQLITE_NULL) {
				/* Failed at the cut: the row's last write. */
				has_unknown = 1;
				unknown = col_dup(hist, 1);
				continue;
			}
			int64_t seq = sqlite3_column_int64(hist, 0);
			if (same(cur, obs))
				for (int64_t p = from; p < seq; p++)
					mark[p] = 1;
			from = seq;
			free(cur);
			cur = col_dup(hist, 1);
		}
		sqlite3_reset(hist);
		if (same(cur, obs))
			for (int64_t p = from; p <= n; p++)
				mark[p] = 1;
		if (has_unknown && same(unknown, obs))
			mark[n] = 1; /* only after every acknowledged write */
		for (int64_t p = 0; p <= n; p++)
			count[p] += mark[p];
		n_keys++;
		if (!mark[n] && r->durability == AW_DURABILITY_POWER && result == CHECK_OK) {
			snprintf(msg, msg_len, "lost acknowledged write: %s is %s, acknowledged as %s", k,
				 obs != NULL ? obs : "absent", cur != NULL ? cur : "absent");
			result = CHECK_LOST;
		}
		free(k);
		free(cur);
		free(obs);
		free(unknown);
	}
	sqlite3_finalize(keys);
	sqlite3_finalize(hist);
	for (int64_t p = n; p >= 0; p--) {
		if (count[p] == n_keys) {
			best = p;
			break;
		}
	}
	if (best < 0) {
		snprintf(msg, msg_len, "no prefix of the commit order explains the database "
			 "(%d rows written, %lld writes acknowledged)", n_keys, (long long)n);
		result = CHECK_BROKEN;
		goto out;
	}
	*lost = n - best;

	/* What is there is the next round's starting point. */
	sqlite3_exec(db, "DELETE FROM base; INSERT INTO base SELECT k, v FROM obs;"
			 "DELETE FROM eff; DELETE FROM w", NULL, NULL, NULL);
out:
	free(count);
	free(mark);
	sqlite3_exec(db, "DETACH d", NULL, NULL, NULL);
	return result;
}

/* ---- rounds -------------------------------------------------------------------------- */

static void remove_db(run *r)
{
	char p[160];

	unlink(r->path);
	snprintf(p, sizeof(p), "%s-wal", r->path);
	unlink(p);
	snprintf(p, sizeof(p), "%s-shm", r->path);
	unlink(p);
	sqlite3_exec(r->model, "DELETE FROM base; DELETE FROM eff; DELETE FROM w", NULL, NULL, NULL);
	r->n_left = 0;
}

static void run_init(run *r, const char *label, aw_durability d)
{
	memset(r, 0, sizeof(*r));
	r->label = label;
	r->durability = d;
	snprintf(r->dir, sizeof(r->dir), "/tmp/aw-powercut-XXXXXX");
	assert_non_null(mkdtemp(r->dir));
	snprintf(r->path, sizeof(r->path), "%s/p.db", r->dir);
	pthread_mutex_init(&r->model_mu, NULL);
	pthread_mutex_init(&r->seq_mu, NULL);
	model_open(r);
	assert_int_equal(powercut_vfs_register(), SQLITE_OK);
}

static void run_close(run *r)
{
	remove_db(r); /* uses the model: before it is closed */
	sqlite3_close(r->model);
	rmdir(r->dir);
	pthread_mutex_destroy(&r->model_mu);
	pthread_mutex_destroy(&r->seq_mu);
	powercut_vfs_unregister();
}

static uint64_t env_u64(const char *name, uint64_t dflt)
{
	const char *v = getenv(name);
	return v != NULL && v[0] != '\0' ? strtoull(v, NULL, 10) : dflt;
}

static uint64_t base_seed(void)
{
	static uint64_t seed;

	if (seed == 0) {
		struct timespec ts;
		clock_gettime(CLOCK_REALTIME, &ts);
		seed = env_u64("AW_POWERCUT_SEED", ((uint64_t)ts.tv_sec * 1000003u) ^ (uint64_t)ts.tv_nsec);
		if (seed == 0)
			seed = 1;
		printf("powercut: AW_POWERCUT_SEED=%llu\n", (unsigned long long)seed);
	}
	return seed;
}

/*
 * One power cut: open, write from WORKERS threads until the power goes off
 * `target` I/O calls later, close, cut with `keep`, check. Returns the
 * check's verdict; the message is in msg.
 */
static int one_round(run *r, uint64_t rng, powercut_keep keep, unsigned keep_pct,
		     uint64_t target, char *msg, size_t msg_len)
{
	aw_repo_setting settings[] = {
		{"vfs", POWERCUT_VFS_NAME},
		{"durability", aw__repo_durability_name(r->durability)},
	};
	aw_repo_options opts;
	pthread_t threads[WORKERS], ckpt_thread;
	worker workers[WORKERS];
	checkpointer ckpt = {.run = r};
	powercut_stats st;
	int64_t acked, lost;
	aw_err err;
	int rc;

	if (r->round % FRESH_EVERY == 0)
		remove_db(r);
	r->seq = 0;
	atomic_store(&r->failed, 0);
	aw_repo_options_defaults(&opts);
	opts.settings = settings;
	opts.n_settings = 2;
	powercut_arm(target);
	rc = aw_repo_open(&r->repo, r->path, &opts, &err);
	if (rc != 0 && !powercut_is_off()) {
		snprintf(msg, msg_len, "opening failed with the power on: %s", err.msg);
		return CHECK_BROKEN;
	}
	if (rc == 0) {
		assert_int_equal(sqlite3_open_v2(r->path, &ckpt.db, SQLITE_OPEN_READWRITE,
						 POWERCUT_VFS_NAME), SQLITE_OK);
		sqlite3_exec(ckpt.db, r->durability == AW_DURABILITY_POWER ? "PRAGMA synchronous=FULL"
									   : "PRAGMA synchronous=NORMAL",
			     NULL, NULL, NULL);
		assert_int_equal(pthread_create(&ckpt_thread, NULL, checkpoint_worker, &ckpt), 0);
		for (int i = 0; i < WORKERS; i++) {
			workers[i] = (worker){.run = r, .id = i};
			void *(*fn)(void *) = i == 1 ? episodes_worker : i == 2 ? queue_worker : series_worker;
			assert_int_equal(pthread_create(&threads[i], NULL, fn, &workers[i]), 0);
		}
		for (int i = 0; i < WORKERS; i++)
			pthread_join(threads[i], NULL);
		if (!powercut_is_off())
			fail_run(r, "the writers stopped with the power on");
		pthread_join(ckpt_thread, NULL);
		sqlite3_close(ckpt.db);
		aw_repo_close(r->repo);
		r->repo = NULL;
	}
	if (atomic_load(&r->failed)) {
		snprintf(msg, msg_len, "%s", r->failure);
		powercut_restore(POWERCUT_DROP_ALL, 0, &rng, &st, msg, 0);
		return CHECK_BROKEN;
	}
	if (!powercut_is_off()) {
		snprintf(msg, msg_len, "the writers stopped with the power on");
		return CHECK_BROKEN;
	}
	if (powercut_restore(keep, keep_pct, &rng, &st, msg, msg_len) != 0)
		return CHECK_BROKEN;
	r->pending += st.pending;
	r->pending_db += st.pending_db;
	if (st.pending_db > 0)
		r->rounds_in_checkpoint++;
	rc = check_round(r, &acked, &lost, msg, msg_len);
	r->acked += (uint64_t)acked;
	r->lost += (uint64_t)lost;
	if (lost > 0)
		r->rounds_with_loss++;
	return rc;
}

/* Runs `rounds` cuts at durability `d`, failing on the first bad verdict. */
static void run_rounds(const char *label, aw_durability d, int rounds, uint64_t seed_salt)
{
	run *r = calloc(1, sizeof(*r));
	uint64_t seed = base_seed() ^ seed_salt;
	char msg[640];

	assert_non_null(r);
	run_init(r, label, d);
	for (r->round = 0; r->round < rounds; r->round++) {
		uint64_t rng = seed + (uint64_t)r->round * 0x9E3779B97F4A7C15ull;
		static const unsigned pcts[] = {50, 90, 99};
		powercut_keep keep = (powercut_keep)(powercut_rand(&rng) % POWERCUT_KEEP_MODES);
		unsigned pct = pcts[powercut_rand(&rng) % 3];
		uint64_t target = 1 + powercut_rand(&rng) % 1500;
		int v;

		msg[0] = '\0';
		v = one_round(r, rng, keep, pct, target, msg, sizeof(msg));
		if (v != CHECK_OK) {
			print_error("powercut %s: round %d (AW_POWERCUT_SEED=%llu, keep %s %u%%, cut "
				    "after %llu I/O calls): %s\n", label, r->round,
				    (unsigned long long)base_seed(), powercut_keep_name(keep), pct,
				    (unsigned long long)target, msg);
			run_close(r);
			free(r);
			fail();
		}
	}
	printf("powercut %s: %d cuts, %llu writes acknowledged, %llu of them lost (in %llu "
	       "rounds); %llu unsynced writes at the cuts, %llu of them to the database file "
	       "(a checkpoint under way, in %llu rounds)\n",
	       label, rounds, (unsigned long long)r->acked, (unsigned long long)r->lost,
	       (unsigned long long)r->rounds_with_loss, (unsigned long long)r->pending,
	       (unsigned long long)r->pending_db, (unsigned long long)r->rounds_in_checkpoint);
	if (d == AW_DURABILITY_POWER)
		assert_int_equal(r->lost, 0);
	assert_true(r->acked > 0);
	run_close(r);
	free(r);
}

static int total_rounds(void)
{
	return (int)env_u64("AW_POWERCUT_ROUNDS", 200);
}

/* At "power" every write acknowledged before the cut survives it. */
static void test_powercut_power_keeps_every_acknowledged_write(void **state)
{
	(void)state;
	run_rounds("power", AW_DURABILITY_POWER, (total_rounds() * 3 + 4) / 5, 1);
}

/* At "process" a cut may take acknowledged writes back, but only the latest:
 * what remains is a prefix of the commit order, in a whole database. */
static void test_powercut_process_keeps_a_prefix(void **state)
{
	(void)state;
	run_rounds("process", AW_DURABILITY_PROCESS, total_rounds() * 2 / 5, 2);
}

/*
 * The check can fail: with syncs that make nothing durable (the mutation of a
 * server that never syncs), the "power" check must find lost writes in every
 * round that acknowledged any.
 */
static void test_powercut_check_finds_lost_writes_without_syncs(void **state)
{
	run *r = calloc(1, sizeof(*r));
	uint64_t rng = base_seed() ^ 3;
	aw_repo *repo;
	aw_err err;
	char msg[640];
	int detected = 0, rounds_with_writes = 0;

	(void)state;
	assert_non_null(r);
	run_init(r, "no-sync", AW_DURABILITY_POWER);
	/* A migrated database first, written with the default VFS. */
	assert_int_equal(aw_repo_open(&repo, r->path, NULL, &err), 0);
	aw_repo_close(repo);
	powercut_set_sync_noop(1);
	for (r->round = 1; r->round <= 6; r->round++) {
		uint64_t before = r->acked;
		int v;

		msg[0] = '\0';
		v = one_round(r, rng + (uint64_t)r->round, POWERCUT_DROP_ALL, 0,
			      100 + powercut_rand(&rng) % 200, msg, sizeof(msg));
		if (r->acked == before)
			continue;
		rounds_with_writes++;
		if (v == CHECK_LOST)
			detected++;
		else
			print_error("no-sync round %d: verdict %d: %s\n", r->round, v, msg);
	}
	powercut_set_sync_noop(0);
	printf("powercut no-sync: lost writes found in %d of %d rounds that acknowledged writes\n",
	       detected, rounds_with_writes);
	assert_true(rounds_with_writes >= 3);
	assert_int_equal(detected, rounds_with_writes);
	run_close(r);
	free(r);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_powercut_power_keeps_every_acknowledged_write),
		cmocka_unit_test(test_powercut_process_keeps_a_prefix),
		cmocka_unit_test(test_powercut_check_finds_lost_writes_without_syncs),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
