/*
 * End to end: the database goes away under load and comes back, and its
 * password is never shown (issue 10). The real server binary (server_proc.h)
 * and the real client library, on a PostgreSQL server of this program's own:
 * stopping the test fixture's server would fail every other test sharing it.
 * That server is made by the fixture's script (tests/pg/pg_fixture.sh start,
 * down, up, stop) in a directory of its own, with a password required over
 * TCP, and stopped on every exit path (the group teardown, and atexit).
 *
 * The outage: three writers and two readers, each on a connection of its own
 * with 2 s deadlines, while PostgreSQL is stopped and started again, twice
 * (pg_ctl -m fast: the server ends its sessions; -m immediate: a crash, and
 * recovery at the start). Every call must end within its deadline, OK or
 * UNAVAILABLE, never a wrong answer; calls begun while the database is down
 * must be UNAVAILABLE; health must go NOT_SERVING and, once the database is
 * back, SERVING by itself; every call begun after that must succeed; and every
 * write answered OK must be stored afterwards (an unanswered one may or may
 * not be). The times to the first UNAVAILABLE, to NOT_SERVING and back to
 * SERVING are printed. Then a restart while the server has no call: the first
 * calls after it, on connections that died unseen, must succeed.
 *
 * The password: a server given a wrong one (in the URI's userinfo, and as a
 * password= parameter) refuses to start and a server given the right one
 * serves; neither logs the password, nor does the server of the outage, whose
 * URI carries it, nor does any status message a client got.
 *
 * PostgreSQL only, like test_e2e_replicas; ctest runs it as test_e2e_outage_pg.
 * AW_KEEP=1 keeps the servers' logs (/tmp/aw-outage-*) for a look after a failure.
 */
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <grpc/status.h>
#include <libpq-fe.h>

#include "aniworld/client.h"
#include "server_proc.h"

#define PG_SCRIPT AW_TESTS_DIR "/pg/pg_fixture.sh"
#define PASSWORD "secret-7f3a9c"     /* the role's password: what must never show */
#define WRONG_PASSWORD "secret-wrong" /* a wrong one, which must not show either */
#define NEEDLE "secret"              /* in neither log nor status message */

#define WRITERS 3
#define READERS 2
#define WORKERS (WRITERS + READERS)
#define DEADLINE_MS 2000
#define DEADLINE_SLACK_MS 500 /* the client's own work past its deadline (ASan) */
#define PHASE_MS 10000        /* longest wait for any one condition */

/* ---- the private PostgreSQL server --------------------------------------------------------- */

static char pg_dir[64];  /* "" while none is running */
static int pg_port;
static int pg_down;      /* stopped by `down`, not yet `up` */

/* Runs the fixture's script: `cmd` on pg_dir, with `arg` (may be NULL). 0 on success. */
static int pg_script(const char *cmd, const char *arg)
{
	char line[512];
	int status;

	snprintf(line, sizeof(line), "AW_PG_PASSWORD='%s' '%s' %s '%s' %s", PASSWORD, PG_SCRIPT, cmd,
		 pg_dir, arg != NULL ? arg : "");
	status = system(line);
	return status == 0 ? 0 : -1;
}

/* Stops and removes the private server; harmless when there is none. */
static void pg_private_stop(void)
{
	if (pg_dir[0] == '\0')
		return;
	if (pg_script("stop", NULL) != 0)
		fprintf(stderr, "outage: could not stop the PostgreSQL server in %s\n", pg_dir);
	pg_dir[0] = '\0';
}

/* Makes database `name` through the unix socket (trust), as the role aniworld. */
static int pg_private_createdb(const char *name)
{
	char conninfo[256], sql[128];
	PGconn *c;
	PGresult *r;
	int ok;

	snprintf(conninfo, sizeof(conninfo), "host=%s port=%d user=aniworld dbname=postgres "
		 "connect_timeout=10", pg_dir, pg_port);
	c = PQconnectdb(conninfo);
	if (PQstatus(c) != CONNECTION_OK) {
		fprintf(stderr, "outage: cannot connect to %s: %s", conninfo, PQerrorMessage(c));
		PQfinish(c);
		return -1;
	}
	snprintf(sql, sizeof(sql), "CREATE DATABASE %s", name);
	r = PQexec(c, sql);
	ok = PQresultStatus(r) == PGRES_COMMAND_OK;
	if (!ok)
		fprintf(stderr, "outage: %s: %s", sql, PQerrorMessage(c));
	PQclear(r);
	PQfinish(c);
	return ok ? 0 : -1;
}

static int group_setup(void **state)
{
	FILE *f;
	char path[128];

	(void)state;
	snprintf(pg_dir, sizeof(pg_dir), "/tmp/aw-outage-pg-XXXXXX");
	if (mkdtemp(pg_dir) == NULL) {
		pg_dir[0] = '\0';
		return -1;
	}
	atexit(pg_private_stop);
	if (pg_script("start", NULL) != 0) {
		fprintf(stderr, "outage: the private PostgreSQL server did not start\n");
		pg_private_stop();
		return -1;
	}
	snprintf(path, sizeof(path), "%s/port", pg_dir);
	f = fopen(path, "r");
	if (f == NULL || fscanf(f, "%d", &pg_port) != 1) {
		if (f != NULL)
			fclose(f);
		pg_private_stop();
		return -1;
	}
	fclose(f);
	return 0;
}

static int group_teardown(void **state)
{
	(void)state;
	pg_private_stop();
	return 0;
}

/* ---- one test's files and server ----------------------------------------------------------- */

typedef struct worker worker;

typedef struct fixture {
	char dir[64];          /* the server's log */
	char uri[256];         /* with the password */
	server_proc srv;
	worker *ws;            /* the outage's workers, WORKERS of them */
	pthread_t threads[16];
	int n_threads;         /* started, not yet joined */
} fixture;

static int setup(void **state)
{
	static int seq;
	fixture *f = calloc(1, sizeof(*f));
	char db[32];

	*state = f;
	if (f == NULL)
		return -1;
	snprintf(f->dir, sizeof(f->dir), "/tmp/aw-outage-XXXXXX");
	if (mkdtemp(f->dir) == NULL)
		return -1;
	snprintf(f->srv.log, sizeof(f->srv.log), "%s/server.log", f->dir);
	snprintf(db, sizeof(db), "aw_outage_%d", ++seq);
	if (pg_down && pg_script("up", NULL) == 0)
		pg_down = 0; /* a test that failed mid-outage */
	if (pg_private_createdb(db) != 0)
		return -1;
	snprintf(f->uri, sizeof(f->uri), "postgresql://aniworld:%s@127.0.0.1:%d/%s", PASSWORD,
		 pg_port, db);
	return 0;
}

static void records_clear(void);
static void workers_stop(fixture *f);

static int teardown(void **state)
{
	fixture *f = *state;
	char cmd[128];

	if (f == NULL)
		return 0;
	workers_stop(f); /* a test that failed left them running */
	server_proc_stop(&f->srv, SIGKILL);
	records_clear();
	if (f->dir[0] != '\0' && getenv("AW_KEEP") == NULL) {
		snprintf(cmd, sizeof(cmd), "rm -rf '%s'", f->dir);
		if (system(cmd) != 0)
			fprintf(stderr, "outage: could not remove %s\n", f->dir);
	}
	free(f);
	return 0;
}

/* Fails the test when the server's log holds the password, or does not show
 * the URI redacted. */
static void check_log_redacted(const server_proc *p)
{
	int leaks = server_proc_log_count(p, NEEDLE);

	if (leaks != 0)
		fail_msg("%d line(s) of the server's log (%s) hold the password", leaks, p->log);
	if (server_proc_log_count(p, "aniworld:***@") == 0)
		fail_msg("the server's log (%s) never shows the database, redacted", p->log);
}

/* ---- the password -------------------------------------------------------------------------- */

static void test_outage_password_is_never_logged(void **state)
{
	fixture *f = *state;
	char wrong[256], wrong_param[256];
	const char *const migrate_only[] = {"--migrate-only", NULL};
	aw_client *c;
	aw_err err;
	int status;

	/* Refused: the wrong password in the userinfo, then as a parameter. */
	snprintf(wrong, sizeof(wrong), "postgresql://aniworld:%s@127.0.0.1:%d/postgres",
		 WRONG_PASSWORD, pg_port);
	status = server_proc_run_to_exit(&f->srv, wrong, NULL, 30000);
	assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 1);
	assert_true(server_proc_log_count(&f->srv, "password authentication failed") >= 1);
	check_log_redacted(&f->srv);
	snprintf(wrong_param, sizeof(wrong_param),
		 "postgresql://aniworld@127.0.0.1:%d/postgres?connect_timeout=5&password=%s",
		 pg_port, WRONG_PASSWORD);
	status = server_proc_run_to_exit(&f->srv, wrong_param, NULL, 30000);
	assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 1);
	assert_true(server_proc_log_count(&f->srv, "password authentication failed") >= 2);
	assert_true(server_proc_log_count(&f->srv, "password=***") >= 1);
	assert_int_equal(server_proc_log_count(&f->srv, NEEDLE), 0);

	/* The right one: --migrate-only, then a server that serves. */
	status = server_proc_run_to_exit(&f->srv, f->uri, migrate_only, 30000);
	assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	assert_int_equal(server_proc_start(&f->srv, f->uri, NULL), 0);
	assert_int_equal(aw_client_new(&c, f->srv.target, NULL, &err), 0);
	{
		Aniworld__V1__CreateSeriesRequest req = ANIWORLD__V1__CREATE_SERIES_REQUEST__INIT;
		Aniworld__V1__AnimeSeries s = ANIWORLD__V1__ANIME_SERIES__INIT, *out = NULL;

		s.key = "with-a-password";
		s.name = "with-a-password";
		req.series = &s;
		assert_int_equal(aw_client_series_create(c, &req, &out, &err, NULL), 0);
		aniworld__v1__anime_series__free_unpacked(out, NULL);
	}
	aw_client_free(c);
	status = server_proc_stop(&f->srv, SIGTERM);
	assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	check_log_redacted(&f->srv);
}

/* ---- the outage: phases, records, workers ---------------------------------------------- */

/* Where the outage stands. A call is judged by the phase it began in, if it
 * also ended in it; a call across a change (a write queued just before the
 * stop, a read retried once the database was back) may end OK or
 * UNAVAILABLE. */
enum phase {
	P_UP,       /* the database serves: calls must succeed */
	P_STOPPING, /* pg_ctl stop under way: OK or UNAVAILABLE */
	P_DOWN,     /* stopped: calls must be UNAVAILABLE */
	P_STARTING, /* pg_ctl start under way, health not yet SERVING: OK or UNAVAILABLE */
	P_BACK,     /* health said SERVING again: calls must succeed */
	N_PHASES
};

static const char *const phase_names[N_PHASES] = {"up", "stopping", "down", "starting", "back"};

static atomic_int phase;  /* the phase, plus 8 times the number of changes so far */
static atomic_int stop_workers;
static atomic_llong first_unavailable; /* monotonic ms of an outage's first UNAVAILABLE; 0 none */

/* What the writers were told, shared with the readers. */
typedef struct series_rec {
	char key[32];
	int64_t id;          /* 0: the create got no answer (may or may not exist) */
	int acked_version;   /* the last update answered OK */
	int tried_version;   /* the last update sent, answered or not */
} series_rec;

static pthread_mutex_t recs_mu = PTHREAD_MUTEX_INITIALIZER;
static series_rec *recs;
static size_t n_recs, cap_recs;
static size_t n_acked; /* records with an id */

static void set_phase(int p)
{
	atomic_store(&phase, ((atomic_load(&phase) >> 3) + 1) << 3 | p);
}

/* Appends a record; returns its index. Called under recs_mu. */
static size_t rec_add(const char *key, int64_t id)
{
	if (n_recs == cap_recs) {
		cap_recs = cap_recs ? cap_recs * 2 : 256;
		recs = realloc(recs, cap_recs * sizeof(*recs));
		if (recs == NULL)
			abort(); /* on a worker thread: no cmocka assertions there */
	}
	memset(&recs[n_recs], 0, sizeof(recs[n_recs]));
	snprintf(recs[n_recs].key, sizeof(recs[n_recs].key), "%s", key);
	recs[n_recs].id = id;
	if (id != 0)
		n_acked++;
	return n_recs++;
}

/* Forgets every record (a test's teardown). */
static void records_clear(void)
{
	free(recs);
	recs = NULL;
	n_recs = cap_recs = n_acked = 0;
}

struct worker {
	int index;
	int writer;
	unsigned rnd;
	aw_client *client;
	long calls[N_PHASES], ok[N_PHASES], unavailable[N_PHASES];
	long across;             /* begun in one phase, ended in another */
	long long longest_ms;          /* the longest call */
	int next_key;
	char wrong[400];               /* the first wrong outcome; "" if none */
};

static void wrong(worker *w, const char *fmt, ...)
{
	va_list ap;
	int o;

	if (w->wrong[0] != '\0')
		return;
	o = snprintf(w->wrong, sizeof(w->wrong), "%s %d: ", w->writer ? "writer" : "reader",
		     w->index);
	va_start(ap, fmt);
	vsnprintf(w->wrong + o, sizeof(w->wrong) - (size_t)o, fmt, ap);
	va_end(ap);
}

/*
 * Judges one call that began at `t0` when `phase` was `began`: its time, its
 * status and its message. Returns 1 when it succeeded.
 */
static int judge(worker *w, const char *what, int began, long long t0, int rc, const aw_err *err)
{
	long long took = server_proc_now_ms() - t0;
	int status = aw_err_grpc_status(rc);
	int ph = began & 7, across = atomic_load(&phase) != began;

	if (took > w->longest_ms)
		w->longest_ms = took;
	if (took > DEADLINE_MS + DEADLINE_SLACK_MS)
		wrong(w, "%s took %lld ms (deadline %d ms), status %d", what, took, DEADLINE_MS,
		      status);
	if (rc != 0 && strstr(err->msg, NEEDLE) != NULL)
		wrong(w, "%s: a status message holds the password: %s", what, err->msg);
	if (rc != 0 && status != GRPC_STATUS_UNAVAILABLE)
		wrong(w, "%s ended %s (status %d) in phase %s: %s", what, aw_err_name(rc), status,
		      phase_names[ph], err->msg);
	if (status == GRPC_STATUS_UNAVAILABLE) {
		long long none = 0;

		atomic_compare_exchange_strong(&first_unavailable, &none, server_proc_now_ms());
	}
	if (across) {
		__atomic_add_fetch(&w->across, 1, __ATOMIC_RELAXED);
		return rc == 0;
	}
	__atomic_add_fetch(&w->calls[ph], 1, __ATOMIC_RELAXED);
	if (rc == 0) {
		__atomic_add_fetch(&w->ok[ph], 1, __ATOMIC_RELAXED);
		if (ph == P_DOWN)
			wrong(w, "%s succeeded while the database was down", what);
		return 1;
	}
	if (status == GRPC_STATUS_UNAVAILABLE) {
		__atomic_add_fetch(&w->unavailable[ph], 1, __ATOMIC_RELAXED);
		if (ph == P_UP || ph == P_BACK)
			wrong(w, "%s UNAVAILABLE in phase %s: %s", what, phase_names[ph], err->msg);
	}
	return 0;
}

/* Pauses a failing worker briefly, so a down database does not spin it. */
static void breathe(void)
{
	struct timespec ts = {0, 5 * 1000000};

	nanosleep(&ts, NULL);
}

static void write_once(worker *w)
{
	aw_err err;
	int rc, began = atomic_load(&phase);
	long long t0 = server_proc_now_ms();
	size_t pick = 0;
	int have = 0;

	pthread_mutex_lock(&recs_mu);
	if (n_recs > 0 && rand_r(&w->rnd) % 2 == 0) {
		/* One of this writer's own acknowledged series: only it updates them. */
		for (int tries = 0; tries < 8 && !have; tries++) {
			pick = (size_t)rand_r(&w->rnd) % n_recs;
			have = recs[pick].id != 0 && recs[pick].key[1] == (char)('0' + w->index);
		}
	}
	pthread_mutex_unlock(&recs_mu);

	if (have) {
		Aniworld__V1__UpdateSeriesRequest req = ANIWORLD__V1__UPDATE_SERIES_REQUEST__INIT;
		Aniworld__V1__AnimeSeries s = ANIWORLD__V1__ANIME_SERIES__INIT, *out = NULL;
		Google__Protobuf__FieldMask mask = GOOGLE__PROTOBUF__FIELD_MASK__INIT;
		char *paths[] = {"description"};
		char desc[32];
		int version;

		pthread_mutex_lock(&recs_mu);
		version = ++recs[pick].tried_version;
		s.id = recs[pick].id;
		pthread_mutex_unlock(&recs_mu);
		snprintf(desc, sizeof(desc), "v%d", version);
		s.description = desc;
		mask.n_paths = 1;
		mask.paths = paths;
		req.series = &s;
		req.update_mask = &mask;
		rc = aw_client_series_update(w->client, &req, &out, &err, NULL);
		if (judge(w, "UpdateSeries", began, t0, rc, &err)) {
			if (strcmp(out->description, desc) != 0)
				wrong(w, "UpdateSeries answered description %s, not %s", out->description,
				      desc);
			pthread_mutex_lock(&recs_mu);
			recs[pick].acked_version = version;
			pthread_mutex_unlock(&recs_mu);
			aniworld__v1__anime_series__free_unpacked(out, NULL);
		}
	} else {
		Aniworld__V1__CreateSeriesRequest req = ANIWORLD__V1__CREATE_SERIES_REQUEST__INIT;
		Aniworld__V1__AnimeSeries s = ANIWORLD__V1__ANIME_SERIES__INIT, *out = NULL;
		char key[32];

		/* "w<writer>-<n>": the writer's digit at key[1]. */
		snprintf(key, sizeof(key), "w%d-%d", w->index, w->next_key++);
		s.key = key;
		s.name = key;
		s.description = "v0";
		req.series = &s;
		rc = aw_client_series_create(w->client, &req, &out, &err, NULL);
		pthread_mutex_lock(&recs_mu);
		if (judge(w, "CreateSeries", began, t0, rc, &err)) {
			if (strcmp(out->key, key) != 0 || out->id <= 0)
				wrong(w, "CreateSeries %s answered key %s, id %lld", key, out->key,
				      (long long)out->id);
			rec_add(key, out->id);
			aniworld__v1__anime_series__free_unpacked(out, NULL);
		} else {
			rec_add(key, 0);
		}
		pthread_mutex_unlock(&recs_mu);
	}
	if (rc != 0)
		breathe();
}

/* A Get of an acknowledged series (it must show at least the version
 * acknowledged before the read began), or a list's total_size (at least the
 * creates acknowledged before it began). */
static void read_once(worker *w)
{
	aw_err err;
	int rc, began = atomic_load(&phase);
	long long t0;
	size_t pick = 0, acked_before;
	int have = 0, version = 0;
	int64_t id = 0;
	char key[32] = "";

	pthread_mutex_lock(&recs_mu);
	acked_before = n_acked;
	for (int tries = 0; tries < 8 && n_recs > 0 && !have; tries++) {
		pick = (size_t)rand_r(&w->rnd) % n_recs;
		have = recs[pick].id != 0;
	}
	if (have) {
		id = recs[pick].id;
		version = recs[pick].acked_version;
		snprintf(key, sizeof(key), "%s", recs[pick].key);
	}
	pthread_mutex_unlock(&recs_mu);
	t0 = server_proc_now_ms();

	if (have && rand_r(&w->rnd) % 4 != 0) {
		Aniworld__V1__GetSeriesRequest req = ANIWORLD__V1__GET_SERIES_REQUEST__INIT;
		Aniworld__V1__AnimeSeries *out = NULL;
		int got = -1;

		req.id = id;
		rc = aw_client_series_get(w->client, &req, &out, &err, NULL);
		if (judge(w, "GetSeries", began, t0, rc, &err)) {
			if (strcmp(out->key, key) != 0 || sscanf(out->description, "v%d", &got) != 1 ||
			    got < version)
				wrong(w, "GetSeries %lld: key %s, description %s; expected %s, v%d or later",
				      (long long)id, out->key, out->description, key, version);
			aniworld__v1__anime_series__free_unpacked(out, NULL);
		}
	} else {
		Aniworld__V1__ListSeriesRequest req = ANIWORLD__V1__LIST_SERIES_REQUEST__INIT;
		Aniworld__V1__ListSeriesResponse *out = NULL;

		req.page_size = 1;
		rc = aw_client_series_list(w->client, &req, &out, &err, NULL);
		if (judge(w, "ListSeries", began, t0, rc, &err)) {
			if ((size_t)out->total_size < acked_before)
				wrong(w, "ListSeries: total_size %d, %zu creates acknowledged before",
				      out->total_size, acked_before);
			aniworld__v1__list_series_response__free_unpacked(out, NULL);
		}
	}
	if (rc != 0)
		breathe();
}

static void *worker_main(void *arg)
{
	worker *w = arg;

	while (!atomic_load(&stop_workers)) {
		if (w->writer)
			write_once(w);
		else
			read_once(w);
	}
	return NULL;
}

/* Sums a per-phase count over the workers. */
static long total(const worker *ws, size_t field_offset, int ph)
{
	long n = 0;

	for (int i = 0; i < WORKERS; i++)
		n += ((const long *)((const char *)&ws[i] + field_offset))[ph];
	return n;
}

/* A worker's count of calls begun in phase `ph` (succeeded ones when `ok`),
 * read while it runs. */
static long count_of(const worker *w, int ph, int ok)
{
	return ok ? __atomic_load_n(&w->ok[ph], __ATOMIC_RELAXED)
		  : __atomic_load_n(&w->calls[ph], __ATOMIC_RELAXED);
}

/* Polls health every 20 ms until it is `want` (1 SERVING, 2 NOT_SERVING), at
 * most PHASE_MS. Returns the monotonic ms it was first seen, or -1. */
static long long health_wait(const char *target, int want)
{
	long long until = server_proc_now_ms() + PHASE_MS;
	struct timespec ts = {0, 20 * 1000000};

	do {
		if (server_proc_health(target, 1000, NULL) == want)
			return server_proc_now_ms();
		nanosleep(&ts, NULL);
	} while (server_proc_now_ms() < until);
	return -1;
}

/* Waits until every worker has begun `n` more calls in phase `ph` (succeeded
 * ones when `ok`) than when this was called, polling every 20 ms, at most
 * PHASE_MS. Returns whether they did. */
static int workers_wait(const worker *ws, int ph, long n, int ok)
{
	long long until = server_proc_now_ms() + PHASE_MS;
	struct timespec ts = {0, 20 * 1000000};
	long base[WORKERS];
	int done;

	for (int i = 0; i < WORKERS; i++)
		base[i] = count_of(&ws[i], ph, ok);
	do {
		done = 1;
		for (int i = 0; i < WORKERS && done; i++)
			done = count_of(&ws[i], ph, ok) - base[i] >= n;
		if (done)
			return 1;
		nanosleep(&ts, NULL);
	} while (server_proc_now_ms() < until);
	return 0;
}

/* After the outage: every acknowledged create is stored with at least its
 * acknowledged version and at most its last tried one; an unanswered create
 * is stored once or not at all; nothing else is stored. */
static void check_stored(const char *target)
{
	Aniworld__V1__ListSeriesRequest req = ANIWORLD__V1__LIST_SERIES_REQUEST__INIT;
	aw_client_options o;
	aw_client *c;
	aw_err err;
	size_t found = 0, late = 0;
	char *token = strdup("");

	aw_client_options_init(&o);
	o.deadline_ms = 30000;
	assert_int_equal(aw_client_new(&c, target, &o, &err), 0);
	req.page_size = 1000;
	for (;;) {
		Aniworld__V1__ListSeriesResponse *page = NULL;

		req.page_token = token;
		if (aw_client_series_list(c, &req, &page, &err, NULL) != 0)
			fail_msg("ListSeries after the outage: %s", err.msg);
		for (size_t i = 0; i < page->n_series; i++) {
			const Aniworld__V1__AnimeSeries *s = page->series[i];
			series_rec *rec = NULL;
			int v = -1;

			for (size_t r = 0; r < n_recs && rec == NULL; r++) {
				if (strcmp(recs[r].key, s->key) == 0)
					rec = &recs[r];
			}
			if (rec == NULL)
				fail_msg("series %s is stored, but no writer made it", s->key);
			if (rec->id == 0) {
				late++; /* a create without answer that happened */
				rec->id = -s->id;
			} else if (rec->id > 0 && rec->id != s->id) {
				fail_msg("series %s has id %lld, acknowledged %lld", s->key,
					 (long long)s->id, (long long)rec->id);
			} else if (rec->id < 0) {
				fail_msg("series %s is stored twice", s->key);
			}
			if (sscanf(s->description, "v%d", &v) != 1 || v < rec->acked_version ||
			    v > rec->tried_version)
				fail_msg("series %s: %s stored; v%d acknowledged, v%d the last sent",
					 s->key, s->description, rec->acked_version, rec->tried_version);
			if (rec->id > 0)
				rec->id = -rec->id; /* seen */
			found++;
		}
		free(token);
		token = strdup(page->next_page_token);
		assert_non_null(token);
		aniworld__v1__list_series_response__free_unpacked(page, NULL);
		if (token[0] == '\0')
			break;
	}
	free(token);
	for (size_t r = 0; r < n_recs; r++) {
		if (recs[r].id > 0)
			fail_msg("series %s was acknowledged (id %lld) and is missing", recs[r].key,
				 (long long)recs[r].id);
	}
	assert_int_equal(found, n_acked + late);
	print_message("outage: %zu series stored: %zu acknowledged, %zu of the %zu creates "
		      "without answer had happened\n", found, n_acked, late, n_recs - n_acked);
	aw_client_free(c);
}

/* pg_ctl stop on a thread of its own; calls begin in P_DOWN from its end. */
typedef struct stop_job {
	const char *mode;  /* pg_ctl's shutdown mode */
	int rc;
	long long done_ms;
} stop_job;

static void *stop_main(void *arg)
{
	stop_job *j = arg;

	j->rc = pg_script("down", j->mode);
	j->done_ms = server_proc_now_ms();
	if (j->rc == 0)
		set_phase(P_DOWN);
	return NULL;
}

/* Stops the workers, joins them and frees their clients; for a second call
 * and after a failed test too. */
static void workers_stop(fixture *f)
{
	atomic_store(&stop_workers, 1);
	for (int i = 0; i < f->n_threads; i++)
		pthread_join(f->threads[i], NULL);
	f->n_threads = 0;
	if (f->ws != NULL) {
		for (int i = 0; i < WORKERS; i++)
			aw_client_free(f->ws[i].client);
	}
	free(f->ws);
	f->ws = NULL;
}

/* One outage: PostgreSQL stopped in `mode` under the workers' load, the
 * calls and health while it is down, then started again. */
static void outage(fixture *f, const char *mode)
{
	worker *ws = f->ws;
	long long t_stop, t_down, t_start, t_up, t_unserving, t_serving, first;
	long down_before = 0, unav_before = 0, down_calls = 0, down_unav = 0;
	pthread_t stopper;
	stop_job job = {.mode = mode};

	for (int i = 0; i < WORKERS; i++) {
		down_before += count_of(&ws[i], P_DOWN, 0);
		unav_before += __atomic_load_n(&ws[i].unavailable[P_DOWN], __ATOMIC_RELAXED);
	}
	atomic_store(&first_unavailable, 0);
	/* Health is watched while pg_ctl stops the server. */
	set_phase(P_STOPPING);
	t_stop = server_proc_now_ms();
	assert_int_equal(pthread_create(&stopper, NULL, stop_main, &job), 0);
	t_unserving = health_wait(f->srv.target, 2);
	pthread_join(stopper, NULL);
	assert_int_equal(job.rc, 0);
	pg_down = 1;
	t_down = job.done_ms;
	if (t_unserving < 0)
		fail_msg("%s: health did not turn NOT_SERVING within %d ms of the database stopping",
			 mode, PHASE_MS);
	/* A few calls of every worker meet the database down, and health stays so. */
	assert_true(workers_wait(ws, P_DOWN, 5, 0));
	assert_int_equal(server_proc_health(f->srv.target, 2000, NULL), 2);
	/* The process itself is alive: a liveness probe must not restart it. */
	assert_int_equal(server_proc_health_of(f->srv.target, "liveness", 2000, NULL), 1);

	/* Back again: health SERVING by itself, then every call succeeds. */
	set_phase(P_STARTING);
	t_start = server_proc_now_ms();
	assert_int_equal(pg_script("up", NULL), 0);
	pg_down = 0;
	t_up = server_proc_now_ms();
	t_serving = health_wait(f->srv.target, 1);
	if (t_serving < 0)
		fail_msg("%s: health did not turn SERVING within %d ms of the database starting "
			 "again", mode, PHASE_MS);
	set_phase(P_BACK);
	assert_true(workers_wait(ws, P_BACK, 30, 1));

	for (int i = 0; i < WORKERS; i++) {
		down_calls += count_of(&ws[i], P_DOWN, 0);
		down_unav += __atomic_load_n(&ws[i].unavailable[P_DOWN], __ATOMIC_RELAXED);
	}
	first = atomic_load(&first_unavailable);
	print_message("outage (-m %s): pg_ctl stop took %lld ms, start %lld ms; first UNAVAILABLE "
		      "%lld ms and health NOT_SERVING %lld ms after the stop began; %ld calls "
		      "while down, all UNAVAILABLE; health SERVING %lld ms after the database was "
		      "back\n", mode, t_down - t_stop, t_up - t_start, first ? first - t_stop : -1,
		      t_unserving - t_stop, down_calls - down_before, t_serving - t_up);
	assert_true(first != 0);
	assert_int_equal(down_unav - unav_before, down_calls - down_before);
}

static void test_outage_unavailable_then_serving_again(void **state)
{
	fixture *f = *state;
	const char *const modes[] = {"fast", "immediate"};
	long long longest = 0;
	long across = 0;
	int status;

	assert_int_equal(server_proc_start(&f->srv, f->uri, NULL), 0);
	assert_int_equal(server_proc_health(f->srv.target, 2000, NULL), 1);
	set_phase(P_UP);
	atomic_store(&stop_workers, 0);
	f->ws = calloc(WORKERS, sizeof(*f->ws));
	assert_non_null(f->ws);
	for (int i = 0; i < WORKERS; i++) {
		worker *w = &f->ws[i];
		aw_client_options o;
		aw_err err;

		w->writer = i < WRITERS;
		w->index = w->writer ? i : i - WRITERS;
		w->rnd = (unsigned)time(NULL) * 7u + (unsigned)i;
		aw_client_options_init(&o);
		o.deadline_ms = DEADLINE_MS;
		o.dedicated_connection = 1;
		assert_int_equal(aw_client_new(&w->client, f->srv.target, &o, &err), 0);
		assert_int_equal(pthread_create(&f->threads[i], NULL, worker_main, w), 0);
		f->n_threads = i + 1;
	}

	/* Under load first: every call succeeds. */
	assert_true(workers_wait(f->ws, P_UP, 30, 1));
	/* A clean shutdown (the server ends the sessions), then a crash of it. */
	for (size_t m = 0; m < sizeof(modes) / sizeof(modes[0]); m++)
		outage(f, modes[m]);

	atomic_store(&stop_workers, 1);
	for (int i = 0; i < f->n_threads; i++)
		pthread_join(f->threads[i], NULL);
	f->n_threads = 0;
	for (int i = 0; i < WORKERS; i++) {
		if (f->ws[i].wrong[0] != '\0')
			fail_msg("%s", f->ws[i].wrong);
		if (f->ws[i].longest_ms > longest)
			longest = f->ws[i].longest_ms;
	}
	for (int ph = 0; ph < N_PHASES; ph++)
		print_message("outage: phase %-8s %5ld calls, %5ld OK, %5ld UNAVAILABLE\n",
			      phase_names[ph], total(f->ws, offsetof(worker, calls), ph),
			      total(f->ws, offsetof(worker, ok), ph),
			      total(f->ws, offsetof(worker, unavailable), ph));
	for (int i = 0; i < WORKERS; i++)
		across += f->ws[i].across;
	print_message("outage: %ld calls across a change of phase (OK or UNAVAILABLE); longest "
		      "call %lld ms (deadline %d ms)\n", across, longest, DEADLINE_MS);
	workers_stop(f);

	check_stored(f->srv.target);
	status = server_proc_stop(&f->srv, SIGTERM);
	assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	assert_true(server_proc_log_count(&f->srv, "health NOT_SERVING") >= 2);
	assert_true(server_proc_log_count(&f->srv, "health SERVING") >= 2);
	check_log_redacted(&f->srv);
}

/* ---- a restart between calls ------------------------------------------------------------ */

#define BURST 8 /* concurrent readers: twice the default pool of 4 */

typedef struct burst {
	aw_client *client;
	int64_t id;
	int failures;
	char msg[AW_ERR_MSG_MAX];
} burst;

static void *burst_main(void *arg)
{
	burst *b = arg;

	for (int i = 0; i < 10; i++) {
		Aniworld__V1__GetSeriesRequest req = ANIWORLD__V1__GET_SERIES_REQUEST__INIT;
		Aniworld__V1__AnimeSeries *out = NULL;
		aw_err err;

		req.id = b->id;
		if (aw_client_series_get(b->client, &req, &out, &err, NULL) != 0) {
			b->failures++;
			snprintf(b->msg, sizeof(b->msg), "%s", err.msg);
			continue;
		}
		aniworld__v1__anime_series__free_unpacked(out, NULL);
	}
	return NULL;
}

/* BURST threads read at once through `c`; returns how many reads failed. */
static int read_burst(aw_client *c, int64_t id, char *msg, size_t n)
{
	burst b[BURST];
	pthread_t t[BURST];
	int failures = 0;

	for (int i = 0; i < BURST; i++) {
		b[i] = (burst){.client = c, .id = id};
		assert_int_equal(pthread_create(&t[i], NULL, burst_main, &b[i]), 0);
	}
	for (int i = 0; i < BURST; i++) {
		pthread_join(t[i], NULL);
		failures += b[i].failures;
		if (b[i].failures > 0)
			snprintf(msg, n, "%s", b[i].msg);
	}
	return failures;
}

static int64_t create_one(aw_client *c, const char *key, aw_err *err)
{
	Aniworld__V1__CreateSeriesRequest req = ANIWORLD__V1__CREATE_SERIES_REQUEST__INIT;
	Aniworld__V1__AnimeSeries s = ANIWORLD__V1__ANIME_SERIES__INIT, *out = NULL;
	int64_t id;

	s.key = (char *)key;
	s.name = (char *)key;
	req.series = &s;
	if (aw_client_series_create(c, &req, &out, err, NULL) != 0)
		return -1;
	id = out->id;
	aniworld__v1__anime_series__free_unpacked(out, NULL);
	return id;
}

/*
 * PostgreSQL restarted while the server had no call for it: its connections
 * (the writer's and every pooled reader's) died with it unseen. Once health
 * says SERVING, the first calls must not fail on them: each connection is
 * found dead when taken and opened again. No retries in the client here, so
 * that none of this is hidden.
 */
static void test_outage_restart_while_idle_is_not_seen(void **state)
{
	fixture *f = *state;
	aw_client_options o;
	aw_client *c;
	aw_err err;
	char msg[AW_ERR_MSG_MAX] = "";
	int64_t id;
	int status, failures;

	assert_int_equal(server_proc_start(&f->srv, f->uri, NULL), 0);
	aw_client_options_init(&o);
	o.deadline_ms = DEADLINE_MS;
	o.max_attempts = 1;
	assert_int_equal(aw_client_new(&c, f->srv.target, &o, &err), 0);
	id = create_one(c, "before-the-restart", &err);
	if (id < 0)
		fail_msg("create before the restart: %s", err.msg);
	/* Every pooled reader connection opened. */
	failures = read_burst(c, id, msg, sizeof(msg));
	if (failures != 0)
		fail_msg("%d reads failed before the restart: %s", failures, msg);

	assert_int_equal(pg_script("down", "fast"), 0);
	pg_down = 1;
	assert_int_equal(pg_script("up", NULL), 0);
	pg_down = 0;
	if (health_wait(f->srv.target, 1) < 0)
		fail_msg("health not SERVING within %d ms of the database's restart", PHASE_MS);

	if (create_one(c, "after-the-restart", &err) < 0)
		fail_msg("the first write after the restart failed: %s", err.msg);
	failures = read_burst(c, id, msg, sizeof(msg));
	if (failures != 0)
		fail_msg("%d of %d reads after the restart failed, e.g. %s", failures, BURST * 10, msg);
	aw_client_free(c);
	status = server_proc_stop(&f->srv, SIGTERM);
	assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	check_log_redacted(&f->srv);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_outage_password_is_never_logged, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_outage_unavailable_then_serving_again, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_outage_restart_while_idle_is_not_seen, setup,
						teardown),
	};

	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
