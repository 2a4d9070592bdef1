/*
 * Tests the repository as the source of download change events
 * (aw_repo_options.on_download_event; server/repo/download_queue.c and anime_series.c
 * publish, each backend delivers): every change once, in commit order, none
 * of a write that was undone, the items a series delete takes with it.
 *
 * Runs on the backend under test (test_db.h: ctest runs it on SQLite and on
 * PostgreSQL). The checks wait for events with a bound rather than expecting
 * them at a given moment, since a backend may deliver them from a thread of
 * its own; "nothing was delivered" is checked by writing a sentinel afterwards
 * and waiting for its event: events arrive in commit order, so anything
 * earlier would have arrived before it. What one engine alone promises is
 * tested under its name, on that engine only: SQLite delivers before the
 * write's outcome; PostgreSQL's listener reports a lost connection as a gap
 * and hears events again once it has reconnected.
 */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "repo/repo.h"
#include "repo_sync.h"
#include "test_clock.h"
#include "test_db.h"

typedef Aniworld__V1__DownloadQueueItem item;

#define EV_CREATED ANIWORLD__V1__DOWNLOAD_EVENT_TYPE__DOWNLOAD_EVENT_TYPE_CREATED
#define EV_UPDATED ANIWORLD__V1__DOWNLOAD_EVENT_TYPE__DOWNLOAD_EVENT_TYPE_UPDATED
#define EV_DELETED ANIWORLD__V1__DOWNLOAD_EVENT_TYPE__DOWNLOAD_EVENT_TYPE_DELETED

#define MAX_HEARD 256
#define WAIT_MS 10000

/* One event as the hook saw it. */
typedef struct heard_event {
	int type;
	int64_t id, series_id;
	int status;
	int32_t retry_count;
	size_t url_len;
} heard_event;

typedef struct fixture {
	test_db db;
	aw_repo *repo;
	test_clock clock;
	int64_t series;

	pthread_mutex_t mu; /* guards what the hook fills */
	pthread_cond_t cv;
	heard_event heard[MAX_HEARD];
	size_t n_heard;
	int gaps;            /* NULL events */
	int overlapping;     /* the hook was entered while it ran */
	int in_hook;
} fixture;

/* The repository's event hook: records the event. */
static void on_event(void *arg, const Aniworld__V1__DownloadEvent *ev)
{
	fixture *f = arg;

	pthread_mutex_lock(&f->mu);
	if (f->in_hook)
		f->overlapping = 1;
	f->in_hook = 1;
	if (ev == NULL) {
		f->gaps++;
	} else if (f->n_heard < MAX_HEARD) {
		heard_event *h = &f->heard[f->n_heard++];
		h->type = ev->type;
		h->id = ev->item != NULL ? ev->item->id : -1;
		h->series_id = ev->item != NULL ? ev->item->series_id : -1;
		h->status = ev->item != NULL ? (int)ev->item->status : -1;
		h->retry_count = ev->item != NULL ? ev->item->retry_count : -1;
		h->url_len = ev->item != NULL ? strlen(ev->item->download_url) : 0;
	}
	f->in_hook = 0;
	pthread_cond_broadcast(&f->cv);
	pthread_mutex_unlock(&f->mu);
}

static int64_t make_series(aw_repo *r, const char *key)
{
	Aniworld__V1__AnimeSeries s = ANIWORLD__V1__ANIME_SERIES__INIT;
	sync_req sr;
	int64_t id;

	s.key = (char *)key;
	s.name = (char *)key;
	aw_repo_series_create(r, sync_init(&sr), &s);
	if (sync_wait(&sr) != 0)
		return -1;
	id = ((Aniworld__V1__AnimeSeries *)sr.result)->id;
	protobuf_c_message_free_unpacked(sr.result, NULL);
	return id;
}

static int teardown(void **state)
{
	fixture *f = *state;

	if (f == NULL)
		return 0;
	aw_repo_close(f->repo);
	test_db_drop(&f->db);
	pthread_mutex_destroy(&f->mu);
	pthread_cond_destroy(&f->cv);
	free(f);
	return 0;
}

/* cmocka runs no teardown after a failed setup: undo what it made. */
static int setup_failed(void **state)
{
	teardown(state);
	*state = NULL;
	return -1;
}

static int setup(void **state)
{
	fixture *f = calloc(1, sizeof(*f));
	aw_repo_options opts;
	aw_err err;

	*state = f;
	if (f == NULL)
		return -1;
	pthread_mutex_init(&f->mu, NULL);
	pthread_cond_init(&f->cv, NULL);
	if (test_db_create(&f->db, TEST_DB_FILE) != 0)
		return setup_failed(state);
	aw_repo_options_defaults(&opts);
	test_clock_use(&f->clock, &opts);
	opts.on_download_event = on_event;
	opts.event_arg = f;
	if (aw_repo_open(&f->repo, f->db.location, &opts, &err) != 0) {
		fprintf(stderr, "cannot open %s: %s\n", f->db.location, err.msg);
		return setup_failed(state);
	}
	f->series = make_series(f->repo, "frieren");
	return f->series > 0 ? 0 : setup_failed(state);
}

/* ---- helpers ------------------------------------------------------------------------ */

/* Waits until `n` events have been heard in all (WAIT_MS at most); how many were. */
static size_t await_events(fixture *f, size_t n)
{
	struct timespec until;
	size_t got;

	clock_gettime(CLOCK_REALTIME, &until);
	until.tv_sec += WAIT_MS / 1000;
	pthread_mutex_lock(&f->mu);
	while (f->n_heard < n) {
		if (pthread_cond_timedwait(&f->cv, &f->mu, &until) != 0)
			break;
	}
	got = f->n_heard;
	pthread_mutex_unlock(&f->mu);
	return got;
}

static size_t heard_count(fixture *f)
{
	size_t n;

	pthread_mutex_lock(&f->mu);
	n = f->n_heard;
	pthread_mutex_unlock(&f->mu);
	return n;
}

/* Checks event `i` (after awaiting it). status < 0: not checked. */
static void expect(fixture *f, size_t i, int type, int64_t id, int status)
{
	heard_event h;

	if (await_events(f, i + 1) < i + 1)
		fail_msg("event %zu never came (heard %zu)", i, heard_count(f));
	pthread_mutex_lock(&f->mu);
	h = f->heard[i];
	pthread_mutex_unlock(&f->mu);
	if (h.type != type || h.id != id || (status >= 0 && h.status != status))
		fail_msg("event %zu: got type %d item %lld status %d, want type %d item %lld status %d",
			 i, h.type, (long long)h.id, h.status, type, (long long)id, status);
}

static item *enqueue_in(aw_repo *r, int64_t series, int episode, int *rc)
{
	item in = ANIWORLD__V1__DOWNLOAD_QUEUE_ITEM__INIT;
	sync_req sr;

	in.series_id = series;
	in.season = 1;
	in.episode_number = episode;
	in.download_url = "https://example.invalid/ep";
	in.file_destination = "/anime/ep.mp4";
	aw_repo_downloads_enqueue(r, sync_init(&sr), &in);
	*rc = sync_wait(&sr);
	return (item *)sr.result;
}

/* Enqueues an episode of `series`; its id. */
static int64_t must_enqueue(aw_repo *r, int64_t series, int episode)
{
	int rc;
	item *d = enqueue_in(r, series, episode, &rc);
	int64_t id;

	if (rc != 0)
		fail_msg("enqueue of episode %d failed: %s", episode, aw_strerror(rc));
	id = d->id;
	protobuf_c_message_free_unpacked(&d->base, NULL);
	return id;
}

/* Runs a write that reports an item or nothing; fails the test unless it succeeds. */
static void must_succeed(sync_req *sr, const char *what)
{
	if (sync_wait(sr) != 0)
		fail_msg("%s: %s", what, sr->err.msg);
	if (sr->result != NULL)
		protobuf_c_message_free_unpacked(sr->result, NULL);
}

/* Claims; the id of the item claimed (0: none). */
static int64_t must_claim(aw_repo *r, int64_t stale_ms)
{
	sync_req sr;
	int64_t id = 0;

	aw_repo_downloads_claim(r, sync_init(&sr), stale_ms, NULL);
	if (sync_wait(&sr) != 0)
		fail_msg("claim: %s", sr.err.msg);
	if (((Aniworld__V1__ClaimNextDownloadResponse *)sr.result)->item != NULL)
		id = ((Aniworld__V1__ClaimNextDownloadResponse *)sr.result)->item->id;
	protobuf_c_message_free_unpacked(sr.result, NULL);
	return id;
}

static void must_transition(aw_repo *r, int64_t id, aw_download_action action)
{
	sync_req sr;

	aw_repo_downloads_transition(r, sync_init(&sr), id, action,
				     action == AW_DL_FAIL ? "broken" : NULL);
	must_succeed(&sr, "transition");
}

/* Whether item `id` is stored. */
static int exists(aw_repo *r, int64_t id)
{
	sync_req sr;
	int rc;

	aw_repo_downloads_get(r, sync_init(&sr), id);
	rc = sync_wait(&sr);
	if (sr.result != NULL)
		protobuf_c_message_free_unpacked(sr.result, NULL);
	return rc == 0;
}

/* ---- commit order --------------------------------------------------------------------- */

/* Every kind of write, each event after the one before, in the order the writes
 * committed: create, claim, progress, update, a stale claim requeued before the
 * next claim, completion, delete, purge. */
static void test_repo_events_every_write_in_commit_order(void **state)
{
	fixture *f = *state;
	Aniworld__V1__ReportProgressRequest p = ANIWORLD__V1__REPORT_PROGRESS_REQUEST__INIT;
	item upd = ANIWORLD__V1__DOWNLOAD_QUEUE_ITEM__INIT;
	sync_req sr;
	size_t i = 0;
	int64_t a, b;

	a = must_enqueue(f->repo, f->series, 1);
	b = must_enqueue(f->repo, f->series, 2);
	expect(f, i++, EV_CREATED, a, AW_DL_PENDING);
	expect(f, i++, EV_CREATED, b, AW_DL_PENDING);

	assert_int_equal(must_claim(f->repo, 60000), a);
	expect(f, i++, EV_UPDATED, a, AW_DL_DOWNLOADING);

	p.id = a;
	p.downloaded_bytes = 10;
	p.total_bytes = 100;
	aw_repo_downloads_progress(f->repo, sync_init(&sr), &p);
	must_succeed(&sr, "progress");
	expect(f, i++, EV_UPDATED, a, AW_DL_DOWNLOADING);

	upd.id = b;
	upd.priority = ANIWORLD__V1__DOWNLOAD_PRIORITY__DOWNLOAD_PRIORITY_HIGH;
	aw_repo_downloads_update(f->repo, sync_init(&sr), &upd, AW_DOWNLOAD_PRIORITY);
	must_succeed(&sr, "update");
	expect(f, i++, EV_UPDATED, b, AW_DL_PENDING);

	/* a's claim goes stale: the next claim puts it back first, then takes b
	 * (HIGH now). */
	test_clock_advance(&f->clock, 120 * INT64_C(1000000));
	assert_int_equal(must_claim(f->repo, 60000), b);
	expect(f, i++, EV_UPDATED, a, AW_DL_PENDING);
	assert_int_equal(f->heard[i - 1].retry_count, 1);
	expect(f, i++, EV_UPDATED, b, AW_DL_DOWNLOADING);

	must_transition(f->repo, b, AW_DL_COMPLETE);
	expect(f, i++, EV_UPDATED, b, AW_DL_COMPLETED);

	aw_repo_downloads_delete(f->repo, sync_init(&sr), a, NULL);
	must_succeed(&sr, "delete");
	expect(f, i++, EV_DELETED, a, AW_DL_PENDING);

	aw_repo_downloads_purge(f->repo, sync_init(&sr), AW_DL_BIT(AW_DL_COMPLETED), NULL);
	must_succeed(&sr, "purge");
	expect(f, i++, EV_DELETED, b, AW_DL_COMPLETED);

	/* Nothing else, and never two deliveries at once. */
	assert_int_equal(heard_count(f), i);
	assert_int_equal(f->gaps, 0);
	assert_int_equal(f->overlapping, 0);
}

/* A write that fails on its own (not found, exists, precondition) publishes
 * nothing; reads publish nothing. */
static void test_repo_events_none_from_failed_writes(void **state)
{
	fixture *f = *state;
	sync_req sr;
	int64_t a, sentinel;
	item *d;
	int rc;

	a = must_enqueue(f->repo, f->series, 1);
	expect(f, 0, EV_CREATED, a, AW_DL_PENDING);

	d = enqueue_in(f->repo, f->series, 1, &rc); /* the episode is queued already */
	assert_int_equal(rc, AW_EEXIST);
	assert_null(d);
	aw_repo_downloads_transition(f->repo, sync_init(&sr), a, AW_DL_COMPLETE, NULL);
	assert_int_equal(sync_wait(&sr), AW_EPRECOND); /* PENDING, not DOWNLOADING */
	aw_repo_downloads_delete(f->repo, sync_init(&sr), 987654, NULL);
	assert_int_equal(sync_wait(&sr), AW_ENOTFOUND);
	assert_true(exists(f->repo, a));

	sentinel = must_enqueue(f->repo, f->series, 99);
	expect(f, 1, EV_CREATED, sentinel, AW_DL_PENDING);
	assert_int_equal(heard_count(f), 2);
}

/* ---- one batch, some writes undone ------------------------------------------------------- */

/* Fails the publication of one item's event with a logical error, so that the
 * write publishing it fails after publishing others (see batch test). */
static const aw_repo_methods *real_methods;
static int64_t refuse_item;

static int publish_refusing(aw_repo *r, const Aniworld__V1__DownloadEvent *ev, aw_err *err)
{
	if (ev->item != NULL && ev->item->id == refuse_item)
		return aw_err_set(err, AW_EPRECOND, "refused by the test");
	return real_methods->downloads_publish(r, ev, err);
}

static int commit_failing(aw_repo *r, aw_err *err)
{
	(void)r;
	return aw_err_set(err, AW_EIO, "storage I/O error: injected by the test");
}

/* Writes submitted together from one thread, run as one transaction. */
typedef struct batch {
	aw_repo *repo;
	int n;
	sync_req sr[8];
	item items[8];
	int kind[8];   /* 0 enqueue, 1 purge COMPLETED, 2 transition COMPLETE */
} batch;

static void *run_batch(void *arg)
{
	batch *b = arg;

	aw_repo_defer_writes(b->repo); /* this thread's writes wait for the flush */
	for (int i = 0; i < b->n; i++) {
		aw_repo_req *req = sync_init(&b->sr[i]);
		switch (b->kind[i]) {
		case 0:
			aw_repo_downloads_enqueue(b->repo, req, &b->items[i]);
			break;
		case 1:
			aw_repo_downloads_purge(b->repo, req, AW_DL_BIT(AW_DL_COMPLETED), NULL);
			break;
		default:
			aw_repo_downloads_transition(b->repo, req, b->items[i].id, AW_DL_COMPLETE,
						     NULL);
			break;
		}
	}
	aw_repo_flush(b->repo);
	return NULL;
}

static void batch_enqueue_url(batch *b, int64_t series, int episode, char *url)
{
	item *d = &b->items[b->n];

	*d = (item)ANIWORLD__V1__DOWNLOAD_QUEUE_ITEM__INIT;
	d->series_id = series;
	d->season = 1;
	d->episode_number = episode;
	d->download_url = url;
	d->file_destination = "/anime/ep.mp4";
	b->kind[b->n++] = 0;
}

static void batch_enqueue(batch *b, int64_t series, int episode)
{
	batch_enqueue_url(b, series, episode, "https://example.invalid/ep");
}

static void batch_run(batch *b)
{
	pthread_t t;

	assert_int_equal(pthread_create(&t, NULL, run_batch, b), 0);
	assert_int_equal(pthread_join(t, NULL), 0);
}

/* Completes item `id` through a claim (it must be the next PENDING one). */
static void complete(fixture *f, int64_t id)
{
	assert_int_equal(must_claim(f->repo, 60000), id);
	must_transition(f->repo, id, AW_DL_COMPLETE);
}

/*
 * In one transaction: a write that succeeds, one that fails on its own, a
 * purge that fails after publishing the first of its two deletions, another
 * success. The transaction commits the two successes: exactly their events
 * arrive, and the purge's items are still there.
 */
static void test_repo_events_batch_drops_failed_writes(void **state)
{
	fixture *f = *state;
	aw_repo_methods refusing = *f->repo->methods;
	batch *b = calloc(1, sizeof(*b));
	int64_t x, y, sentinel;
	size_t before;

	x = must_enqueue(f->repo, f->series, 1);
	y = must_enqueue(f->repo, f->series, 2);
	complete(f, x);
	complete(f, y);
	before = await_events(f, 6); /* 2 created, 2 claimed, 2 completed */
	assert_int_equal(before, 6);

	b->repo = f->repo;
	batch_enqueue(b, f->series, 10);
	batch_enqueue(b, f->series, 10);            /* the same episode: AW_EEXIST */
	b->kind[b->n++] = 1;                        /* purge x, then y: y is refused */
	batch_enqueue(b, f->series, 11);
	real_methods = f->repo->methods;
	refusing.downloads_publish = publish_refusing;
	refuse_item = y;
	f->repo->methods = &refusing;
	batch_run(b);
	f->repo->methods = real_methods;

	assert_int_equal(sync_wait(&b->sr[0]), 0);
	assert_int_equal(sync_wait(&b->sr[1]), AW_EEXIST);
	assert_int_equal(sync_wait(&b->sr[2]), AW_EPRECOND);
	assert_int_equal(sync_wait(&b->sr[3]), 0);
	expect(f, before, EV_CREATED, ((item *)b->sr[0].result)->id, AW_DL_PENDING);
	expect(f, before + 1, EV_CREATED, ((item *)b->sr[3].result)->id, AW_DL_PENDING);
	assert_true(exists(f->repo, x)); /* the purge was undone, x's event with it */
	assert_true(exists(f->repo, y));

	sentinel = must_enqueue(f->repo, f->series, 99);
	expect(f, before + 2, EV_CREATED, sentinel, AW_DL_PENDING);
	assert_int_equal(heard_count(f), before + 3);
	assert_int_equal(f->gaps, 0);
	for (int i = 0; i < b->n; i++) {
		if (b->sr[i].result != NULL)
			protobuf_c_message_free_unpacked(b->sr[i].result, NULL);
	}
	free(b);
}

/* A transaction that does not commit (COMMIT fails: storage trouble) publishes
 * none of its writes' events, though each write had succeeded. */
static void test_repo_events_none_from_rolled_back_batch(void **state)
{
	fixture *f = *state;
	aw_repo_methods failing = *f->repo->methods;
	batch *b = calloc(1, sizeof(*b));
	int64_t a, sentinel;

	a = must_enqueue(f->repo, f->series, 1);
	expect(f, 0, EV_CREATED, a, AW_DL_PENDING);

	b->repo = f->repo;
	batch_enqueue(b, f->series, 2);
	batch_enqueue(b, f->series, 3);
	b->items[b->n].id = a;
	b->kind[b->n++] = 2; /* COMPLETE a: fails, a is PENDING */
	real_methods = f->repo->methods;
	failing.commit = commit_failing;
	f->repo->methods = &failing;
	batch_run(b);
	f->repo->methods = real_methods;
	assert_int_equal(sync_wait(&b->sr[0]), AW_EIO);
	assert_int_equal(sync_wait(&b->sr[1]), AW_EIO);
	assert_int_equal(sync_wait(&b->sr[2]), AW_EPRECOND);

	sentinel = must_enqueue(f->repo, f->series, 2); /* episode 2 was never stored */
	expect(f, 1, EV_CREATED, sentinel, AW_DL_PENDING);
	assert_int_equal(heard_count(f), 2);
	free(b);
}

/* ---- series delete ------------------------------------------------------------------------- */

/* Deleting a series publishes DELETED for each of its queue items, in id order,
 * with the item's last state; a series without items publishes nothing. */
static void test_repo_events_series_delete_takes_items(void **state)
{
	fixture *f = *state;
	int64_t other = make_series(f->repo, "mushishi"), empty = make_series(f->repo, "kino");
	int64_t c1, c2, c3, keep, sentinel;
	sync_req sr;

	c1 = must_enqueue(f->repo, other, 1);
	keep = must_enqueue(f->repo, f->series, 1);
	c2 = must_enqueue(f->repo, other, 2);
	c3 = must_enqueue(f->repo, other, 3);
	assert_int_equal(await_events(f, 4), 4);
	complete(f, c1); /* its last state is COMPLETED */
	assert_int_equal(await_events(f, 6), 6);

	aw_repo_series_delete(f->repo, sync_init(&sr), empty, NULL);
	must_succeed(&sr, "delete of a series without items");
	aw_repo_series_delete(f->repo, sync_init(&sr), other, NULL);
	must_succeed(&sr, "delete of a series");
	expect(f, 6, EV_DELETED, c1, AW_DL_COMPLETED);
	expect(f, 7, EV_DELETED, c2, AW_DL_PENDING);
	expect(f, 8, EV_DELETED, c3, AW_DL_PENDING);
	for (size_t i = 6; i < 9; i++)
		assert_int_equal(f->heard[i].series_id, other);
	assert_true(exists(f->repo, keep));

	sentinel = must_enqueue(f->repo, f->series, 99);
	expect(f, 9, EV_CREATED, sentinel, AW_DL_PENDING);
	assert_int_equal(heard_count(f), 10);
}

/* ---- large events ------------------------------------------------------------------------- */

/* An event of any size arrives whole and in its place: one too large for a
 * PostgreSQL notification between two small ones of the same transaction. */
static void test_repo_events_large_event_in_order(void **state)
{
	fixture *f = *state;
	batch *b = calloc(1, sizeof(*b));
	char *url = malloc(4097), *dest = malloc(4097);

	memset(url, 'u', 4096);
	url[4096] = '\0';
	memset(dest, 'd', 4096);
	dest[4096] = '\0';
	b->repo = f->repo;
	batch_enqueue(b, f->series, 1);
	batch_enqueue_url(b, f->series, 2, url);
	b->items[1].file_destination = dest;
	batch_enqueue(b, f->series, 3);
	batch_run(b);
	for (int i = 0; i < 3; i++) {
		assert_int_equal(sync_wait(&b->sr[i]), 0);
		expect(f, (size_t)i, EV_CREATED, ((item *)b->sr[i].result)->id, AW_DL_PENDING);
		protobuf_c_message_free_unpacked(b->sr[i].result, NULL);
	}
	assert_int_equal(f->heard[1].url_len, 4096);
	assert_int_equal(f->heard[0].url_len, strlen("https://example.invalid/ep"));
	assert_int_equal(f->gaps, 0);
	free(url);
	free(dest);
	free(b);
}

/* ---- syncing ------------------------------------------------------------------------------- */

/* After aw_repo_events_sync the hook has heard of every change committed
 * before it: nothing to wait for (what a server needs before it ends its
 * watch streams). */
static void test_repo_events_sync_delivers_what_committed(void **state)
{
	fixture *f = *state;
	int64_t ids[5];
	aw_err err;

	for (int i = 0; i < 5; i++)
		ids[i] = must_enqueue(f->repo, f->series, i + 1);
	assert_int_equal(aw_repo_events_sync(f->repo, WAIT_MS, &err), 0);
	assert_int_equal(heard_count(f), 5);
	for (size_t i = 0; i < 5; i++)
		assert_int_equal(f->heard[i].id, ids[i]);
}

/* ---- SQLite: delivered before the outcome --------------------------------------------------- */

typedef struct outcome_probe {
	sync_req sr; /* first */
	fixture *f;
	size_t heard_at_done;
} outcome_probe;

static void probe_done(aw_repo_req *req, int rc, const aw_err *err, ProtobufCMessage *result)
{
	outcome_probe *p = (outcome_probe *)req;

	p->heard_at_done = heard_count(p->f);
	sync_done(req, rc, err, result);
}

/* In one process the events of a write reach the hook before the write's
 * outcome reaches its caller: a watcher hears of a change no later than the
 * writer. */
static void test_repo_events_sqlite_before_outcome(void **state)
{
	fixture *f = *state;
	item in = ANIWORLD__V1__DOWNLOAD_QUEUE_ITEM__INIT;
	outcome_probe p = {.f = f};
	aw_repo_req *req = sync_init(&p.sr);

	req->done = probe_done;
	in.series_id = f->series;
	in.season = 1;
	in.episode_number = 1;
	aw_repo_downloads_enqueue(f->repo, req, &in);
	assert_int_equal(sync_wait(&p.sr), 0);
	assert_int_equal(p.heard_at_done, 1);
	protobuf_c_message_free_unpacked(p.sr.result, NULL);
}

/* ---- PostgreSQL: other replicas, a lost listener ------------------------------------------ */

/* Writes made through another repository on the same database (another
 * replica, which has no hook of its own) reach this one's hook, in commit
 * order with this one's own writes. */
static void test_repo_events_postgres_other_replica(void **state)
{
	fixture *f = *state;
	aw_repo *other;
	int64_t a, b, c;

	assert_int_equal(aw_repo_open(&other, f->db.location, NULL, NULL), 0);
	a = must_enqueue(other, f->series, 1);
	b = must_enqueue(f->repo, f->series, 2);
	c = must_enqueue(other, f->series, 3);
	expect(f, 0, EV_CREATED, a, AW_DL_PENDING);
	expect(f, 1, EV_CREATED, b, AW_DL_PENDING);
	expect(f, 2, EV_CREATED, c, AW_DL_PENDING);
	aw_repo_close(other);
}

/* Waits until the hook has heard of `n` gaps (WAIT_MS at most); how many it has. */
static int await_gaps(fixture *f, int n)
{
	struct timespec until;
	int got;

	clock_gettime(CLOCK_REALTIME, &until);
	until.tv_sec += WAIT_MS / 1000;
	pthread_mutex_lock(&f->mu);
	while (f->gaps < n) {
		if (pthread_cond_timedwait(&f->cv, &f->mu, &until) != 0)
			break;
	}
	got = f->gaps;
	pthread_mutex_unlock(&f->mu);
	return got;
}

/* The listener's connection ends (the server terminates it): the hook hears
 * of a gap at once, and again once the listener listens anew, after which
 * events flow as before. */
static void test_repo_events_postgres_listener_lost(void **state)
{
	fixture *f = *state;
	int64_t a, b;

	a = must_enqueue(f->repo, f->series, 1);
	expect(f, 0, EV_CREATED, a, AW_DL_PENDING);
	/* The listener's last statement was its LISTEN or its outbox sweep. */
	assert_int_equal(test_db_exec(&f->db,
				      "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
				      "WHERE pid <> pg_backend_pid() AND datname = current_database() "
				      "AND (query LIKE 'LISTEN%' OR query LIKE 'DELETE FROM "
				      "download_event_outbox%')"),
			 0);
	assert_int_equal(await_gaps(f, 1) >= 1, 1);
	assert_int_equal(await_gaps(f, 2) >= 2, 1); /* listening again */
	b = must_enqueue(f->repo, f->series, 2);
	expect(f, 1, EV_CREATED, b, AW_DL_PENDING);
}

/* Without a hook nothing is kept or delivered, and writes work as before. */
static void test_repo_events_sqlite_no_hook(void **state)
{
	fixture *f = *state;
	aw_repo *r;
	int64_t series;
	int rc;
	item *d;

	(void)f;
	assert_int_equal(aw_repo_open(&r, ":memory:", NULL, NULL), 0);
	series = make_series(r, "solo");
	d = enqueue_in(r, series, 1, &rc);
	assert_int_equal(rc, 0);
	protobuf_c_message_free_unpacked(&d->base, NULL);
	aw_repo_close(r);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_repo_events_every_write_in_commit_order, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_repo_events_none_from_failed_writes, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_repo_events_batch_drops_failed_writes, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_repo_events_none_from_rolled_back_batch, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_repo_events_series_delete_takes_items, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_repo_events_large_event_in_order, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_repo_events_sync_delivers_what_committed, setup,
						teardown),
	};
	const struct CMUnitTest sqlite_tests[] = {
		cmocka_unit_test_setup_teardown(test_repo_events_sqlite_before_outcome, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_repo_events_sqlite_no_hook, setup, teardown),
	};
	const struct CMUnitTest postgres_tests[] = {
		cmocka_unit_test_setup_teardown(test_repo_events_postgres_other_replica, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_repo_events_postgres_listener_lost, setup,
						teardown),
	};
	int failed = cmocka_run_group_tests_name("backend-neutral", tests, NULL, NULL);

	if (test_db_is_postgres())
		return failed + cmocka_run_group_tests_name("postgres", postgres_tests, NULL, NULL);
	return failed + cmocka_run_group_tests_name("sqlite", sqlite_tests, NULL, NULL);
}
