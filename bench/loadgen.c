/*
 * aw-loadgen: a closed-loop load generator on the Aniworld Store client library.
 *
 *   aw-loadgen --target 127.0.0.1:50051[,HOST:PORT...] [--concurrency 16] [--connections 4]
 *              [--seconds 5 | --requests N] [--warmup 1] [--mix get=60,get_by_key=20,list=10,create=10]
 *              [--seed 10000] [--prefix bench] [--page-size 50] [--token T] [--json FILE]
 *
 * Each of `concurrency` threads makes one synchronous call after another
 * through the client library (threads share `connections` clients, each with a
 * connection of its own), picking the method at random by the mix weights.
 * Several targets (replicas of one database) take the connections in turn:
 * connection i goes to target i mod n, so each gets an equal share of the
 * threads.
 * `--seed N` first creates N series (keys <prefix>-seed-NNNNNN) whose ids and
 * keys drive get, get_by_key and update; creates use unique keys.
 *
 * Every reply is checked (the id or key asked for, created fields echoed, list
 * pages in strictly increasing id order, a next_page_token only on full pages).
 * The report gives calls/s and p50/p90/p99/p99.9 latency per method, and every
 * non-OK status by code. A run with any error or wrong reply is reported as
 * FAILED and exits 1: its figures are not a result.
 *
 * Methods: get, get_by_key, list, create, update, claim (ClaimNextDownload and
 * CompleteDownload of the item; every item must be claimed once only),
 * enqueue (EnqueueDownload of a new episode of a seeded series).
 * --seed-downloads N queues N items first; --ids LO:HI makes get read random
 * ids of an existing table; --list-tail makes list page through the table's
 * last 1000 rows; --watchers N holds N WatchDownloads streams open meanwhile.
 * --no-request-id sends the measured writes without a request_id (the library
 * gives each one by default), to measure what storing their answers costs.
 *
 * Server CPU per call: --cpu-pids P,... sums the user+system time of those
 * processes (every thread) over the measured window; --cpu-tree PID does the
 * same for PID and its child processes (a PostgreSQL postmaster and its
 * backends). Both are divided by the calls answered in the window.
 */
#include <dirent.h>
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "aniworld/client.h"

enum { M_GET, M_GET_BY_KEY, M_LIST, M_CREATE, M_UPDATE, M_CLAIM, M_ENQUEUE, M_COUNT };
static const char *const method_names[M_COUNT] = {"get",    "get_by_key", "list",   "create",
						  "update", "claim",      "enqueue"};

/* Latency histogram: exact below 64 us, then 64 buckets per power of two (~1.5%). */
#define HIST_BUCKETS (64 + 40 * 64)

typedef struct hist {
	uint64_t n[HIST_BUCKETS];
	uint64_t count;
} hist;

static int bucket_of(uint64_t us)
{
	int e;

	if (us < 64)
		return (int)us;
	e = 63 - __builtin_clzll(us);
	if (e > 45)
		e = 45;
	return 64 + (e - 6) * 64 + (int)((us >> (e - 6)) & 63);
}

static uint64_t bucket_value(int b)
{
	int e;

	if (b < 64)
		return (uint64_t)b;
	e = (b - 64) / 64 + 6;
	return ((uint64_t)1 << e) | ((uint64_t)((b - 64) % 64) << (e - 6));
}

static uint64_t hist_pct(const hist *h, double p)
{
	uint64_t want = (uint64_t)(p * (double)h->count), seen = 0;

	for (int b = 0; b < HIST_BUCKETS; b++) {
		seen += h->n[b];
		if (seen > want)
			return bucket_value(b);
	}
	return 0;
}

/* ---- options -------------------------------------------------------------------------- */

static const char *o_target = "127.0.0.1:50051";
#define MAX_TARGETS 8
static char *g_targets[MAX_TARGETS]; /* o_target split at commas */
static int g_n_targets;
static const char *o_cpu_pids = NULL; /* --cpu-pids: server processes */
static long o_cpu_tree = 0;           /* --cpu-tree: a process and its children */
static int o_concurrency = 16, o_connections = 4, o_seed = 0, o_page_size = 50;
static double o_seconds = 5, o_warmup = 1;
static long o_requests = 0;
static const char *o_prefix = "bench";
static const char *o_token = NULL;
static const char *o_json = NULL;
static int o_weights[M_COUNT] = {60, 20, 10, 10, 0, 0, 0};
static int o_seed_downloads = 0;     /* queue items enqueued before the run */
static int64_t o_ids_lo = 0, o_ids_hi = 0; /* get: ids of an existing table instead of --seed */
static int o_list_tail = 0;          /* list: page from the last full page of the table */
static int o_watchers = 0;           /* WatchDownloads streams held open through the run */

/* ---- shared state ------------------------------------------------------------------------ */

/* The options of measured writes: NULL (the library gives each a request_id),
 * or none with --no-request-id (to measure what the request ids cost). */
static const aw_call_opts no_request_id = {.request_id = ""};
static const aw_call_opts *g_write_opts = NULL;

typedef struct seeded {
	int64_t id;
	char key[48];
} seeded;

static seeded *g_seeded;
static int g_n_seeded;
static aw_client **g_clients;
static atomic_int g_phase;   /* 0 warm-up, 1 measuring, 2 stop */
static char g_tail_token[128]; /* --list-tail: where every list starts */
static atomic_uchar *g_claimed; /* --seed-downloads: claims per item id */
static int64_t g_claimed_max;
static atomic_long g_claims_empty; /* claims that found the queue empty */
static atomic_long g_issued; /* measured calls started (for --requests) */

typedef struct worker {
	int id;
	pthread_t thread;
	unsigned rng;
	aw_client *client;
	hist h[M_COUNT];
	uint64_t errors[M_COUNT][17]; /* by gRPC status */
	uint64_t bad[M_COUNT];        /* OK status, wrong content */
	char first_bad[256];
	long created;
	long enqueued;
	char page_token[128];
	int64_t last_page_id;
} worker;

static uint64_t now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000 + (uint64_t)ts.tv_nsec / 1000;
}

static unsigned next_rand(unsigned *s)
{
	*s = *s * 1103515245u + 12345u;
	return *s >> 8;
}

static void bad(worker *w, int m, const char *what)
{
	if (w->first_bad[0] == '\0')
		snprintf(w->first_bad, sizeof(w->first_bad), "%s: %s", method_names[m], what);
	w->bad[m]++;
}

/* ---- one call of each method ---------------------------------------------------------------- */

static int call_get(worker *w, aw_err *err)
{
	Aniworld__V1__GetSeriesRequest req = ANIWORLD__V1__GET_SERIES_REQUEST__INIT;
	Aniworld__V1__AnimeSeries *out = NULL;
	const seeded *s = NULL;
	int rc;

	if (o_ids_hi > 0) {
		uint64_t r = ((uint64_t)next_rand(&w->rng) << 24) ^ next_rand(&w->rng);
		req.id = o_ids_lo + (int64_t)(r % (uint64_t)(o_ids_hi - o_ids_lo + 1));
	} else {
		s = &g_seeded[next_rand(&w->rng) % (unsigned)g_n_seeded];
		req.id = s->id;
	}
	rc = aw_client_series_get(w->client, &req, &out, err, NULL);
	if (rc == 0 && (out->id != req.id || (s != NULL && strcmp(out->key, s->key) != 0)))
		bad(w, M_GET, "reply is not the series asked for");
	aniworld__v1__anime_series__free_unpacked(out, NULL);
	return rc;
}

static int call_get_by_key(worker *w, aw_err *err)
{
	const seeded *s = &g_seeded[next_rand(&w->rng) % (unsigned)g_n_seeded];
	Aniworld__V1__GetSeriesByKeyRequest req = ANIWORLD__V1__GET_SERIES_BY_KEY_REQUEST__INIT;
	Aniworld__V1__AnimeSeries *out = NULL;
	int rc;

	req.key = (char *)s->key;
	rc = aw_client_series_get_by_key(w->client, &req, &out, err, NULL);
	if (rc == 0 && out->id != s->id)
		bad(w, M_GET_BY_KEY, "reply is not the series asked for");
	aniworld__v1__anime_series__free_unpacked(out, NULL);
	return rc;
}

static int call_list(worker *w, aw_err *err)
{
	Aniworld__V1__ListSeriesRequest req = ANIWORLD__V1__LIST_SERIES_REQUEST__INIT;
	Aniworld__V1__ListSeriesResponse *out = NULL;
	int rc;

	req.page_size = o_page_size;
	req.page_token = w->page_token;
	rc = aw_client_series_list(w->client, &req, &out, err, NULL);
	if (rc == 0) {
		if (out->n_series > (size_t)o_page_size || out->total_size < g_n_seeded ||
		    out->n_series == 0)
			bad(w, M_LIST, "page larger than asked or total_size too small");
		for (size_t i = 0; i < out->n_series; i++) {
			if (out->series[i]->id <= w->last_page_id)
				bad(w, M_LIST, "ids not strictly increasing across pages");
			w->last_page_id = out->series[i]->id;
		}
		if (out->next_page_token[0] != '\0' && out->n_series != (size_t)o_page_size)
			bad(w, M_LIST, "a short page with a next_page_token");
		if (out->next_page_token[0] == '\0') {
			/* The end: start again (from the tail with --list-tail). */
			snprintf(w->page_token, sizeof(w->page_token), "%s", g_tail_token);
			w->last_page_id = 0;
		} else {
			snprintf(w->page_token, sizeof(w->page_token), "%s", out->next_page_token);
		}
	}
	aniworld__v1__list_series_response__free_unpacked(out, NULL);
	return rc;
}

static int create_series(aw_client *c, const char *key, int total, int64_t *id, aw_err *err,
			 int *echo_ok)
{
	Aniworld__V1__AnimeSeries s = ANIWORLD__V1__ANIME_SERIES__INIT, *out = NULL;
	Aniworld__V1__CreateSeriesRequest req = ANIWORLD__V1__CREATE_SERIES_REQUEST__INIT;
	int rc;

	s.key = (char *)key;
	s.name = (char *)key;
	s.site = "aniworld.to";
	s.description = "A series created by the load generator.";
	s.total_episodes = total;
	req.series = &s;
	rc = aw_client_series_create(c, &req, &out, err, g_write_opts);
	if (rc == 0) {
		*id = out->id;
		*echo_ok = out->id > 0 && strcmp(out->key, key) == 0 && strcmp(out->name, key) == 0 &&
			   strcmp(out->site, s.site) == 0 && out->total_episodes == total &&
			   out->created_at != NULL;
	}
	aniworld__v1__anime_series__free_unpacked(out, NULL);
	return rc;
}

static int call_create(worker *w, aw_err *err)
{
	char key[96];
	int64_t id;
	int ok = 0, rc;

	snprintf(key, sizeof(key), "%s-%d-%ld-%u", o_prefix, w->id, w->created++,
		 (unsigned)getpid());
	rc = create_series(w->client, key, (int)(w->created % 100), &id, err, &ok);
	if (rc == 0 && !ok)
		bad(w, M_CREATE, "created series not echoed");
	return rc;
}

static int call_update(worker *w, aw_err *err)
{
	const seeded *s = &g_seeded[next_rand(&w->rng) % (unsigned)g_n_seeded];
	Aniworld__V1__AnimeSeries change = ANIWORLD__V1__ANIME_SERIES__INIT, *out = NULL;
	Aniworld__V1__UpdateSeriesRequest req = ANIWORLD__V1__UPDATE_SERIES_REQUEST__INIT;
	Google__Protobuf__FieldMask mask = GOOGLE__PROTOBUF__FIELD_MASK__INIT;
	char *paths[] = {"status"};
	char status[32];
	int rc;

	snprintf(status, sizeof(status), "s%u", next_rand(&w->rng) % 1000);
	change.id = s->id;
	change.status = status;
	mask.n_paths = 1;
	mask.paths = paths;
	req.series = &change;
	req.update_mask = &mask;
	rc = aw_client_series_update(w->client, &req, &out, err, NULL);
	if (rc == 0 && (out->id != s->id || strcmp(out->status, status) != 0))
		bad(w, M_UPDATE, "update not applied");
	aniworld__v1__anime_series__free_unpacked(out, NULL);
	return rc;
}

/* ClaimNextDownload, then CompleteDownload of what it got. Every item must be
 * claimed once only (g_claimed counts claims per id). */
static int call_claim(worker *w, aw_err *err)
{
	Aniworld__V1__ClaimNextDownloadRequest req = ANIWORLD__V1__CLAIM_NEXT_DOWNLOAD_REQUEST__INIT;
	Aniworld__V1__ClaimNextDownloadResponse *out = NULL;
	int rc = aw_client_downloads_claim(w->client, &req, &out, err, g_write_opts);

	if (rc == 0 && out->item == NULL) {
		atomic_fetch_add(&g_claims_empty, 1);
	} else if (rc == 0) {
		Aniworld__V1__CompleteDownloadRequest done = ANIWORLD__V1__COMPLETE_DOWNLOAD_REQUEST__INIT;
		Aniworld__V1__DownloadQueueItem *item = NULL;
		int64_t id = out->item->id;

		if (out->item->status != ANIWORLD__V1__DOWNLOAD_STATUS__DOWNLOAD_STATUS_DOWNLOADING)
			bad(w, M_CLAIM, "a claimed item is not DOWNLOADING");
		if (g_claimed != NULL && id > 0 && id <= g_claimed_max &&
		    atomic_fetch_add(&g_claimed[id], 1) != 0)
			bad(w, M_CLAIM, "an item was claimed twice");
		done.id = id;
		rc = aw_client_downloads_complete(w->client, &done, &item, err, g_write_opts);
		if (rc == 0 && item->status != ANIWORLD__V1__DOWNLOAD_STATUS__DOWNLOAD_STATUS_COMPLETED)
			bad(w, M_CLAIM, "a completed item is not COMPLETED");
		aniworld__v1__download_queue_item__free_unpacked(item, NULL);
	}
	aniworld__v1__claim_next_download_response__free_unpacked(out, NULL);
	return rc;
}

/* EnqueueDownload of an episode of a random seeded series: episode numbers are
 * unique per worker (worker id in the millions), so an enqueue never meets an
 * unfinished item of the same episode. */
static int call_enqueue(worker *w, aw_err *err)
{
	const seeded *s = &g_seeded[next_rand(&w->rng) % (unsigned)g_n_seeded];
	Aniworld__V1__DownloadQueueItem item = ANIWORLD__V1__DOWNLOAD_QUEUE_ITEM__INIT, *out = NULL;
	Aniworld__V1__EnqueueDownloadRequest req = ANIWORLD__V1__ENQUEUE_DOWNLOAD_REQUEST__INIT;
	int rc;

	item.series_id = s->id;
	item.season = 1;
	item.episode_number = (int32_t)((w->id + 1) * 1000000 + w->enqueued++ % 1000000);
	req.item = &item;
	rc = aw_client_downloads_enqueue(w->client, &req, &out, err, g_write_opts);
	if (rc == 0 && (out->series_id != s->id || out->episode_number != item.episode_number ||
			out->status != ANIWORLD__V1__DOWNLOAD_STATUS__DOWNLOAD_STATUS_PENDING))
		bad(w, M_ENQUEUE, "enqueued item not echoed as PENDING");
	aniworld__v1__download_queue_item__free_unpacked(out, NULL);
	return rc;
}

static int (*const calls[M_COUNT])(worker *, aw_err *) = {
	call_get, call_get_by_key, call_list, call_create, call_update, call_claim, call_enqueue,
};

static int pick(worker *w)
{
	int total = 0, r;

	for (int m = 0; m < M_COUNT; m++)
		total += o_weights[m];
	r = (int)(next_rand(&w->rng) % (unsigned)total);
	for (int m = 0; m < M_COUNT; m++) {
		if (r < o_weights[m])
			return m;
		r -= o_weights[m];
	}
	return M_GET;
}

static void *worker_main(void *arg)
{
	worker *w = arg;
	aw_err err;

	while (atomic_load(&g_phase) < 2) {
		int m = pick(w), measured = atomic_load(&g_phase) == 1, rc;
		uint64_t t0;

		if (measured && o_requests > 0 && atomic_fetch_add(&g_issued, 1) >= o_requests)
			break;
		t0 = now_us();
		rc = calls[m](w, &err);
		if (!measured)
			continue;
		if (rc == 0) {
			w->h[m].n[bucket_of(now_us() - t0)]++;
			w->h[m].count++;
		} else {
			int st = aw_err_grpc_status(rc);
			w->errors[m][st >= 0 && st <= 16 ? st : 2]++;
			if (w->first_bad[0] == '\0')
				snprintf(w->first_bad, sizeof(w->first_bad), "%s: %.180s (%s)", method_names[m],
					 err.msg, aw_err_name(rc));
		}
	}
	return NULL;
}

/* ---- seeding -------------------------------------------------------------------------------- */

typedef struct seeder {
	pthread_t thread;
	int from, to;
	aw_client *client;
	int failed;
} seeder;

static void *seed_main(void *arg)
{
	seeder *s = arg;
	aw_err err;

	for (int i = s->from; i < s->to; i++) {
		int ok = 0;
		snprintf(g_seeded[i].key, sizeof(g_seeded[i].key), "%s-seed-%06d", o_prefix, i);
		if (create_series(s->client, g_seeded[i].key, i % 100, &g_seeded[i].id, &err, &ok) != 0 ||
		    !ok) {
			fprintf(stderr, "aw-loadgen: seeding %s: %s\n", g_seeded[i].key, err.msg);
			s->failed = 1;
			return NULL;
		}
	}
	return NULL;
}

static int seed(void)
{
	seeder *s = calloc((size_t)o_concurrency, sizeof(*s));
	int per = (o_seed + o_concurrency - 1) / o_concurrency, failed = 0;
	uint64_t t0 = now_us();

	g_seeded = calloc((size_t)o_seed, sizeof(*g_seeded));
	g_n_seeded = o_seed;
	for (int t = 0; t < o_concurrency; t++) {
		s[t].from = t * per < o_seed ? t * per : o_seed;
		s[t].to = (t + 1) * per < o_seed ? (t + 1) * per : o_seed;
		s[t].client = g_clients[t % o_connections];
		pthread_create(&s[t].thread, NULL, seed_main, &s[t]);
	}
	for (int t = 0; t < o_concurrency; t++) {
		pthread_join(s[t].thread, NULL);
		failed |= s[t].failed;
	}
	free(s);
	fprintf(stderr, "aw-loadgen: seeded %d series in %.2f s\n", o_seed,
		(double)(now_us() - t0) / 1e6);
	return failed ? -1 : 0;
}

/* Enqueues --seed-downloads items, 1000 episodes to a series, from one thread
 * per connection. */
typedef struct dl_seeder {
	pthread_t thread;
	int from, to;
	aw_client *client;
	int failed;
} dl_seeder;

static void *seed_downloads_main(void *arg)
{
	dl_seeder *s = arg;
	aw_err err;
	int64_t series = 0;

	for (int i = s->from; i < s->to; i++) {
		if (series == 0 || i % 1000 == 0) {
			char key[64];
			int64_t id;
			int ok;
			snprintf(key, sizeof(key), "%s-dl-%d-%u", o_prefix, i / 1000, (unsigned)getpid());
			if (create_series(s->client, key, 0, &id, &err, &ok) != 0) {
				fprintf(stderr, "aw-loadgen: series for downloads: %s\n", err.msg);
				s->failed = 1;
				return NULL;
			}
			series = id;
		}
		Aniworld__V1__DownloadQueueItem item = ANIWORLD__V1__DOWNLOAD_QUEUE_ITEM__INIT;
		Aniworld__V1__EnqueueDownloadRequest req = ANIWORLD__V1__ENQUEUE_DOWNLOAD_REQUEST__INIT;
		Aniworld__V1__DownloadQueueItem *out = NULL;
		item.series_id = series;
		item.season = 1;
		item.episode_number = i % 1000 + 1;
		item.priority = (Aniworld__V1__DownloadPriority)(i % 3 + 1);
		req.item = &item;
		if (aw_client_downloads_enqueue(s->client, &req, &out, &err, NULL) != 0) {
			fprintf(stderr, "aw-loadgen: enqueue: %s\n", err.msg);
			s->failed = 1;
			return NULL;
		}
		if (out->id > g_claimed_max)
			fprintf(stderr, "aw-loadgen: item id %lld beyond the expected range\n",
				(long long)out->id);
		aniworld__v1__download_queue_item__free_unpacked(out, NULL);
	}
	return NULL;
}

static int seed_downloads(void)
{
	int n = o_connections, per, failed = 0;
	dl_seeder *s = calloc((size_t)n, sizeof(*s));
	uint64_t t0 = now_us();

	/* Item ids start after whatever the queue held: leave room. */
	g_claimed_max = (int64_t)o_seed_downloads * 4 + 1000000;
	g_claimed = calloc((size_t)g_claimed_max + 1, sizeof(*g_claimed));
	/* Whole series per thread, so that episode numbers never collide. */
	per = ((o_seed_downloads + n - 1) / n + 999) / 1000 * 1000;
	for (int t = 0; t < n; t++) {
		s[t].from = t * per < o_seed_downloads ? t * per : o_seed_downloads;
		s[t].to = (t + 1) * per < o_seed_downloads ? (t + 1) * per : o_seed_downloads;
		s[t].client = g_clients[t];
		pthread_create(&s[t].thread, NULL, seed_downloads_main, &s[t]);
	}
	for (int t = 0; t < n; t++) {
		pthread_join(s[t].thread, NULL);
		failed |= s[t].failed;
	}
	free(s);
	fprintf(stderr, "aw-loadgen: queued %d downloads in %.2f s\n", o_seed_downloads,
		(double)(now_us() - t0) / 1e6);
	return failed ? -1 : 0;
}

/* --list-tail: pages through the table 1000 at a time and keeps the token that
 * leads to its last o_page_size rows, so that list calls read the table's end. */
static int find_tail_token(void)
{
	char token[128] = "", prev[128] = "";
	aw_err err;

	for (;;) {
		Aniworld__V1__ListSeriesRequest req = ANIWORLD__V1__LIST_SERIES_REQUEST__INIT;
		Aniworld__V1__ListSeriesResponse *out = NULL;
		req.page_size = 1000;
		req.page_token = token;
		if (aw_client_series_list(g_clients[0], &req, &out, &err, NULL) != 0) {
			fprintf(stderr, "aw-loadgen: --list-tail: %s\n", err.msg);
			return -1;
		}
		int last = out->next_page_token[0] == '\0';
		snprintf(prev, sizeof(prev), "%s", token);
		snprintf(token, sizeof(token), "%s", out->next_page_token);
		aniworld__v1__list_series_response__free_unpacked(out, NULL);
		if (last)
			break;
	}
	/* `prev` leads to the last page of 1000; pages of o_page_size from there
	 * cover the table's last 1000 rows. */
	snprintf(g_tail_token, sizeof(g_tail_token), "%s", prev);
	return 0;
}

/* ---- CPU time of other processes ------------------------------------------------------------ */

/* User+system time of process `pid` (all its threads) in clock ticks, and its
 * parent; -1 when it cannot be read. Fields 14 and 15 of /proc/PID/stat,
 * counted after the command name's closing parenthesis. */
static long long proc_ticks(long pid, long *ppid)
{
	char path[64], buf[1024], *p;
	long long utime = 0, stime = 0;
	FILE *f;
	size_t n;

	snprintf(path, sizeof(path), "/proc/%ld/stat", pid);
	f = fopen(path, "r");
	if (f == NULL)
		return -1;
	n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = '\0';
	p = strrchr(buf, ')');
	if (p == NULL || sscanf(p + 1, " %*c %ld %*d %*d %*d %*d %*u %*u %*u %*u %*u %lld %lld", ppid,
				&utime, &stime) != 3)
		return -1;
	return utime + stime;
}

/* The --cpu-pids processes' time, in microseconds. */
static double cpu_pids_us(void)
{
	long long ticks = 0;
	char *copy, *save = NULL;
	long ppid;

	if (o_cpu_pids == NULL || (copy = strdup(o_cpu_pids)) == NULL)
		return 0;
	for (char *t = strtok_r(copy, ",", &save); t != NULL; t = strtok_r(NULL, ",", &save)) {
		long long v = proc_ticks(strtol(t, NULL, 10), &ppid);
		if (v > 0)
			ticks += v;
	}
	free(copy);
	return (double)ticks * 1e6 / (double)sysconf(_SC_CLK_TCK);
}

/* The time of --cpu-tree's process and its children, in microseconds: every
 * process in /proc whose parent it is. */
static double cpu_tree_us(void)
{
	long long ticks = 0;
	struct dirent *e;
	long ppid;
	DIR *d;

	if (o_cpu_tree <= 0 || (d = opendir("/proc")) == NULL)
		return 0;
	while ((e = readdir(d)) != NULL) {
		char *end;
		long pid = strtol(e->d_name, &end, 10);
		long long v;
		if (end == e->d_name || *end != '\0')
			continue;
		v = proc_ticks(pid, &ppid);
		if (v > 0 && (pid == o_cpu_tree || ppid == o_cpu_tree))
			ticks += v;
	}
	closedir(d);
	return (double)ticks * 1e6 / (double)sysconf(_SC_CLK_TCK);
}

/* ---- options and report --------------------------------------------------------------------- */

static void usage(void)
{
	fprintf(stderr,
		"usage: aw-loadgen --target HOST:PORT[,HOST:PORT...] [--concurrency N] [--connections N]\n"
		"                  [--seconds S | --requests N] [--warmup S] [--seed N] [--prefix P]\n"
		"                  [--mix get=60,get_by_key=20,list=10,create=10,update=0]\n"
		"                  [--page-size N] [--token T] [--json FILE]\n"
		"                  [--seed-downloads N] [--ids LO:HI] [--list-tail] [--watchers N]\n"
		"                  [--cpu-pids PID,...] [--cpu-tree PID] [--no-request-id]\n"
		"methods: get get_by_key list create update claim (claim + complete)\n");
	exit(2);
}

static void parse_mix(const char *spec)
{
	char *copy = strdup(spec), *save = NULL;

	memset(o_weights, 0, sizeof(o_weights));
	for (char *item = strtok_r(copy, ",", &save); item != NULL; item = strtok_r(NULL, ",", &save)) {
		char *eq = strchr(item, '=');
		int found = 0;
		if (eq == NULL)
			usage();
		*eq = '\0';
		for (int m = 0; m < M_COUNT; m++) {
			if (strcmp(item, method_names[m]) == 0) {
				o_weights[m] = (int)strtol(eq + 1, NULL, 10);
				found = 1;
			}
		}
		if (!found) {
			fprintf(stderr, "aw-loadgen: unknown method %s in --mix\n", item);
			exit(2);
		}
	}
	free(copy);
}

static void parse(int argc, char **argv)
{
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
		if (strcmp(a, "--list-tail") == 0) {
			o_list_tail = 1;
			continue;
		}
		if (strcmp(a, "--no-request-id") == 0) {
			g_write_opts = &no_request_id;
			continue;
		}
		if (v == NULL)
			usage();
		if (strcmp(a, "--target") == 0)
			o_target = v;
		else if (strcmp(a, "--concurrency") == 0)
			o_concurrency = (int)strtol(v, NULL, 10);
		else if (strcmp(a, "--connections") == 0)
			o_connections = (int)strtol(v, NULL, 10);
		else if (strcmp(a, "--seconds") == 0)
			o_seconds = strtod(v, NULL);
		else if (strcmp(a, "--requests") == 0)
			o_requests = strtol(v, NULL, 10);
		else if (strcmp(a, "--warmup") == 0)
			o_warmup = strtod(v, NULL);
		else if (strcmp(a, "--seed") == 0)
			o_seed = (int)strtol(v, NULL, 10);
		else if (strcmp(a, "--prefix") == 0)
			o_prefix = v;
		else if (strcmp(a, "--mix") == 0)
			parse_mix(v);
		else if (strcmp(a, "--page-size") == 0)
			o_page_size = (int)strtol(v, NULL, 10);
		else if (strcmp(a, "--token") == 0)
			o_token = v;
		else if (strcmp(a, "--json") == 0)
			o_json = v;
		else if (strcmp(a, "--cpu-pids") == 0)
			o_cpu_pids = v;
		else if (strcmp(a, "--cpu-tree") == 0)
			o_cpu_tree = strtol(v, NULL, 10);
		else if (strcmp(a, "--watchers") == 0)
			o_watchers = (int)strtol(v, NULL, 10);
		else if (strcmp(a, "--seed-downloads") == 0)
			o_seed_downloads = (int)strtol(v, NULL, 10);
		else if (strcmp(a, "--ids") == 0) {
			if (sscanf(v, "%" SCNd64 ":%" SCNd64, &o_ids_lo, &o_ids_hi) != 2 || o_ids_lo < 1 ||
			    o_ids_hi < o_ids_lo)
				usage();
		}
		else
			usage();
		i++;
	}
	if (o_concurrency < 1 || o_connections < 1 || o_page_size < 1 || o_seconds <= 0)
		usage();
	if (o_connections > o_concurrency)
		o_connections = o_concurrency;
	char *save = NULL, *copy = strdup(o_target);
	for (char *t = strtok_r(copy, ",", &save); t != NULL; t = strtok_r(NULL, ",", &save)) {
		if (g_n_targets == MAX_TARGETS)
			usage();
		g_targets[g_n_targets++] = strdup(t);
	}
	free(copy);
	if (g_n_targets == 0 || o_connections < g_n_targets) {
		fprintf(stderr, "aw-loadgen: at least one connection per target\n");
		exit(2);
	}
	if (o_seed == 0 && ((o_weights[M_GET] && o_ids_hi == 0) || o_weights[M_GET_BY_KEY] ||
			    o_weights[M_UPDATE] || o_weights[M_ENQUEUE])) {
		fprintf(stderr, "aw-loadgen: get (without --ids), get_by_key, update and enqueue need "
			"--seed N\n");
		exit(2);
	}
}

int main(int argc, char **argv)
{
	aw_client_options opts;
	worker *w;
	hist total[M_COUNT];
	uint64_t errors[M_COUNT][17], bads[M_COUNT], all_errors = 0, all_bad = 0, all_calls = 0;
	double secs;
	uint64_t t_start, t_end;
	double cpu0, cpu1, tree0, tree1;
	char first_bad[256] = ""; /* copied: the workers are freed before it is printed */
	FILE *json = NULL;

	parse(argc, argv);
	aw_client_options_init(&opts);
	opts.deadline_ms = 30000;
	opts.dedicated_connection = 1;
	opts.bearer_token = o_token;
	g_clients = calloc((size_t)o_connections, sizeof(*g_clients));
	for (int c = 0; c < o_connections; c++) {
		aw_err err;
		if (aw_client_new(&g_clients[c], g_targets[c % g_n_targets], &opts, &err) != 0) {
			fprintf(stderr, "aw-loadgen: %s\n", err.msg);
			return 2;
		}
	}
	if (o_seed > 0 && seed() != 0)
		return 1;
	if (o_seed_downloads > 0 && seed_downloads() != 0)
		return 1;
	if (o_list_tail && find_tail_token() != 0)
		return 1;
	aw_watch **watches = NULL;
	if (o_watchers > 0) {
		watches = calloc((size_t)o_watchers, sizeof(*watches));
		for (int i = 0; i < o_watchers; i++) {
			Aniworld__V1__WatchDownloadsRequest wr = ANIWORLD__V1__WATCH_DOWNLOADS_REQUEST__INIT;
			aw_err err;
			if (aw_client_downloads_watch(g_clients[i % o_connections], &wr, &watches[i], &err, NULL) != 0) {
				fprintf(stderr, "aw-loadgen: watch %d: %s\n", i, err.msg);
				return 1;
			}
		}
		fprintf(stderr, "aw-loadgen: %d watch streams open\n", o_watchers);
	}

	w = calloc((size_t)o_concurrency, sizeof(*w));
	for (int t = 0; t < o_concurrency; t++) {
		w[t].id = t;
		w[t].rng = 12345u + 7919u * (unsigned)t;
		w[t].client = g_clients[t % o_connections];
		snprintf(w[t].page_token, sizeof(w[t].page_token), "%s", g_tail_token);
		pthread_create(&w[t].thread, NULL, worker_main, &w[t]);
	}
	if (o_warmup > 0)
		usleep((useconds_t)(o_warmup * 1e6));
	cpu0 = cpu_pids_us();
	tree0 = cpu_tree_us();
	t_start = now_us();
	atomic_store(&g_phase, 1);
	if (o_requests > 0) {
		for (int t = 0; t < o_concurrency; t++)
			pthread_join(w[t].thread, NULL);
	} else {
		usleep((useconds_t)(o_seconds * 1e6));
	}
	t_end = now_us();
	atomic_store(&g_phase, 2);
	cpu1 = cpu_pids_us();
	tree1 = cpu_tree_us();
	if (o_requests == 0) {
		for (int t = 0; t < o_concurrency; t++)
			pthread_join(w[t].thread, NULL);
	}
	secs = (double)(t_end - t_start) / 1e6;

	memset(total, 0, sizeof(total));
	memset(errors, 0, sizeof(errors));
	memset(bads, 0, sizeof(bads));
	for (int t = 0; t < o_concurrency; t++) {
		for (int m = 0; m < M_COUNT; m++) {
			for (int b = 0; b < HIST_BUCKETS; b++)
				total[m].n[b] += w[t].h[m].n[b];
			total[m].count += w[t].h[m].count;
			for (int s = 0; s < 17; s++)
				errors[m][s] += w[t].errors[m][s];
			bads[m] += w[t].bad[m];
		}
		if (first_bad[0] == '\0' && w[t].first_bad[0] != '\0')
			snprintf(first_bad, sizeof(first_bad), "%s", w[t].first_bad);
	}
	if (o_json != NULL)
		json = fopen(o_json, "w");
	if (json != NULL)
		fprintf(json, "{\"target\": \"%s\", \"concurrency\": %d, \"connections\": %d, "
			      "\"seconds\": %.3f, \"methods\": {",
			o_target, o_concurrency, o_connections, secs);
	printf("%-11s %10s %10s %9s %9s %9s %9s %7s %5s\n", "method", "calls", "calls/s", "p50 us",
	       "p90 us", "p99 us", "p99.9 us", "errors", "bad");
	int first = 1;
	for (int m = 0; m < M_COUNT; m++) {
		uint64_t e = 0;
		for (int s = 0; s < 17; s++)
			e += errors[m][s];
		if (total[m].count == 0 && e == 0)
			continue;
		all_calls += total[m].count;
		all_errors += e;
		all_bad += bads[m];
		printf("%-11s %10" PRIu64 " %10.0f %9" PRIu64 " %9" PRIu64 " %9" PRIu64 " %9" PRIu64
		       " %7" PRIu64 " %5" PRIu64 "\n",
		       method_names[m], total[m].count, (double)total[m].count / secs,
		       hist_pct(&total[m], 0.50), hist_pct(&total[m], 0.90), hist_pct(&total[m], 0.99),
		       hist_pct(&total[m], 0.999), e, bads[m]);
		for (int s = 1; s < 17; s++) {
			if (errors[m][s] > 0)
				printf("  %s: %" PRIu64 " calls ended with gRPC status %d\n", method_names[m],
				       errors[m][s], s);
		}
		if (json != NULL) {
			fprintf(json,
				"%s\"%s\": {\"calls\": %" PRIu64 ", \"per_second\": %.1f, \"p50_us\": %" PRIu64
				", \"p90_us\": %" PRIu64 ", \"p99_us\": %" PRIu64 ", \"p999_us\": %" PRIu64
				", \"errors\": %" PRIu64 ", \"bad\": %" PRIu64 "}",
				first ? "" : ", ", method_names[m], total[m].count,
				(double)total[m].count / secs, hist_pct(&total[m], 0.50),
				hist_pct(&total[m], 0.90), hist_pct(&total[m], 0.99),
				hist_pct(&total[m], 0.999), e, bads[m]);
			first = 0;
		}
	}
	printf("%-11s %10" PRIu64 " %10.0f   over %.2f s, %d in flight on %d connections\n", "all",
	       all_calls, (double)all_calls / secs, secs, o_concurrency, o_connections);
	double per_call = all_calls > 0 ? 1.0 / (double)all_calls : 0;
	if (o_cpu_pids != NULL)
		printf("server CPU: %.1f us a call (user+system of %s over the window)\n",
		       (cpu1 - cpu0) * per_call, o_cpu_pids);
	if (o_cpu_tree > 0)
		printf("database CPU: %.1f us a call (process %ld and its children)\n",
		       (tree1 - tree0) * per_call, o_cpu_tree);
	if (json != NULL) {
		fprintf(json, "}, \"calls\": %" PRIu64 ", \"per_second\": %.1f, \"errors\": %" PRIu64
			      ", \"bad\": %" PRIu64 ", \"server_cpu_us_per_call\": %.2f"
			      ", \"db_cpu_us_per_call\": %.2f, \"ok\": %s}\n",
			all_calls, (double)all_calls / secs, all_errors, all_bad,
			(cpu1 - cpu0) * per_call, (tree1 - tree0) * per_call,
			all_errors == 0 && all_bad == 0 ? "true" : "false");
		fclose(json);
	}
	for (int i = 0; i < o_watchers; i++)
		aw_watch_free(watches[i]);
	free(watches);
	for (int c = 0; c < o_connections; c++)
		aw_client_free(g_clients[c]);
	free(g_clients);
	for (int t = 0; t < g_n_targets; t++)
		free(g_targets[t]);
	free(g_seeded);
	free(g_claimed);
	free(w);
	if (o_weights[M_CLAIM] > 0)
		printf("claims that found the queue empty: %ld\n", atomic_load(&g_claims_empty));
	if (all_errors > 0 || all_bad > 0) {
		printf("FAILED: %" PRIu64 " errors, %" PRIu64 " wrong replies (first: %s): not a result\n",
		       all_errors, all_bad, first_bad[0] != '\0' ? first_bad : "?");
		return 1;
	}
	return 0;
}
