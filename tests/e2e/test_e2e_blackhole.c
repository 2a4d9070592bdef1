/*
 * End to end: the network to PostgreSQL cut, packets dropped rather than
 * refused (issue 10). The real server binary (server_proc.h) reaches the test
 * fixture's PostgreSQL through a TCP relay of this program's own, which can be
 * switched to "blackhole": it keeps every socket open and stops forwarding, so
 * that neither side hears anything, as when a network drops packets. Nothing
 * in the system notices such a cut by itself; only the server's time bounds
 * end its waits.
 *
 * Deadlines: with --db-query-timeout 30s, calls with a 1 s deadline made while
 * the network is cut (reads, writes, in parallel) must come back within their
 * deadline (plus a generous margin for a loaded machine: the time is measured
 * and printed, not judged closely), with UNAVAILABLE, or DEADLINE_EXCEEDED
 * where the answer lost the race with the client's own clock; at least one
 * must be the server's UNAVAILABLE, which only a server that stops waiting at
 * the call's deadline gives. Health must go NOT_SERVING while the cut lasts,
 * and once the network is back SERVING again, every call succeeds and every
 * write acknowledged before or during the cut is stored.
 *
 * WatchDownloads: a watch begun while the network is cut waits for the events
 * already on their way, which cannot come; on a server with a single
 * transport thread, other calls must be served meanwhile (the wait is the
 * event listener's, not the thread's), and the watch then ends UNAVAILABLE.
 * Once the network is back a new watch receives the changes made after it.
 *
 * PostgreSQL only; ctest runs it as test_e2e_blackhole_pg on the fixture.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
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
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <grpc/status.h>

#include "aniworld/client.h"
#include "server_proc.h"
#include "test_db.h"

#define DEADLINE_MS 1000
#define MARGIN_MS 3000          /* generous: the machine may be loaded */
#define PHASE_MS 15000          /* longest wait for health to change */
#define CALLERS 4               /* threads calling at once during the cut */
#define CALLS_EACH 3
#define MAX_PAIRS 64

/* ---- the relay ------------------------------------------------------------------------------ */

typedef struct relay {
	int listen_fd;
	int port;                 /* where it listens, on 127.0.0.1 */
	int upstream_port;        /* PostgreSQL's */
	atomic_int blackhole;     /* 1: forward nothing, keep every socket open */
	atomic_int stop;
	pthread_t thread;
	int fds[MAX_PAIRS][2];    /* [0] the server's side, [1] PostgreSQL's; -1 unused */
} relay;

static int connect_upstream(int port)
{
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (fd >= 0 && connect(fd, (struct sockaddr *)&a, sizeof(a)) != 0) {
		close(fd);
		fd = -1;
	}
	return fd;
}

static int write_all(int fd, const char *buf, ssize_t n)
{
	while (n > 0) {
		ssize_t w = write(fd, buf, (size_t)n);

		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return -1;
		buf += w;
		n -= w;
	}
	return 0;
}

static void pair_close(relay *r, int i)
{
	close(r->fds[i][0]);
	close(r->fds[i][1]);
	r->fds[i][0] = r->fds[i][1] = -1;
}

/* Accepts connections (also while blackholed: a cut network still lets the
 * kernel complete a handshake with the relay) and forwards bytes both ways
 * while not blackholed. Polls every 20 ms so that a switch applies at once. */
static void *relay_main(void *arg)
{
	relay *r = arg;
	char buf[65536];

	while (!atomic_load(&r->stop)) {
		struct pollfd pfd[1 + 2 * MAX_PAIRS];
		int who[1 + 2 * MAX_PAIRS][2];
		int n = 0, hole = atomic_load(&r->blackhole);

		pfd[n++] = (struct pollfd){.fd = r->listen_fd, .events = POLLIN};
		for (int i = 0; i < MAX_PAIRS && !hole; i++) {
			for (int s = 0; s < 2 && r->fds[i][0] >= 0; s++) {
				who[n][0] = i;
				who[n][1] = s;
				pfd[n++] = (struct pollfd){.fd = r->fds[i][s], .events = POLLIN};
			}
		}
		if (poll(pfd, (nfds_t)n, 20) <= 0)
			continue;
		if (pfd[0].revents & POLLIN) {
			int c = accept4(r->listen_fd, NULL, NULL, SOCK_CLOEXEC), up = -1, slot = -1;

			if (c >= 0)
				up = connect_upstream(r->upstream_port);
			for (int i = 0; i < MAX_PAIRS && slot < 0; i++) {
				if (r->fds[i][0] < 0)
					slot = i;
			}
			if (c >= 0 && up >= 0 && slot >= 0) {
				r->fds[slot][0] = c;
				r->fds[slot][1] = up;
			} else {
				if (c >= 0)
					close(c);
				if (up >= 0)
					close(up);
			}
		}
		for (int k = 1; k < n; k++) {
			int i = who[k][0], s = who[k][1];
			ssize_t got;

			if (!(pfd[k].revents & (POLLIN | POLLHUP | POLLERR)) || r->fds[i][s] < 0)
				continue;
			got = read(r->fds[i][s], buf, sizeof(buf));
			if (got < 0 && errno == EINTR)
				continue;
			if (got <= 0 || write_all(r->fds[i][1 - s], buf, got) != 0)
				pair_close(r, i);
		}
	}
	return NULL;
}

static int relay_start(relay *r, int upstream_port)
{
	struct sockaddr_in a = {.sin_family = AF_INET};
	socklen_t len = sizeof(a);

	memset(r, 0, sizeof(*r));
	for (int i = 0; i < MAX_PAIRS; i++)
		r->fds[i][0] = r->fds[i][1] = -1;
	r->upstream_port = upstream_port;
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	r->listen_fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (r->listen_fd < 0 || bind(r->listen_fd, (struct sockaddr *)&a, sizeof(a)) != 0 ||
	    listen(r->listen_fd, 64) != 0 ||
	    getsockname(r->listen_fd, (struct sockaddr *)&a, &len) != 0)
		return -1;
	r->port = ntohs(a.sin_port);
	return pthread_create(&r->thread, NULL, relay_main, r) == 0 ? 0 : -1;
}

static void relay_stop(relay *r)
{
	if (r->listen_fd <= 0)
		return;
	atomic_store(&r->stop, 1);
	pthread_join(r->thread, NULL);
	for (int i = 0; i < MAX_PAIRS; i++) {
		if (r->fds[i][0] >= 0)
			pair_close(r, i);
	}
	close(r->listen_fd);
	r->listen_fd = 0;
}

/* ---- fixture -------------------------------------------------------------------------------- */

typedef struct fixture {
	test_db db;
	relay relay;
	char uri[320];            /* the database, through the relay */
	char dir[64];             /* the server's log */
	server_proc srv;
} fixture;

static int setup(void **state)
{
	fixture *f = calloc(1, sizeof(*f));
	const char *at, *slash;
	int port;

	*state = f;
	if (f == NULL || !test_db_is_postgres() || test_db_create(&f->db, TEST_DB_FILE) != 0) {
		fprintf(stderr, "test_e2e_blackhole needs the PostgreSQL fixture\n");
		return -1;
	}
	/* postgresql://aniworld@127.0.0.1:PORT/NAME: the same, through the relay. */
	at = strstr(f->db.location, "@127.0.0.1:");
	slash = at != NULL ? strchr(at + 11, '/') : NULL;
	if (at == NULL || slash == NULL || sscanf(at + 11, "%d", &port) != 1 ||
	    relay_start(&f->relay, port) != 0)
		return -1;
	snprintf(f->uri, sizeof(f->uri), "%.*s@127.0.0.1:%d%s", (int)(at - f->db.location),
		 f->db.location, f->relay.port, slash);
	snprintf(f->dir, sizeof(f->dir), "/tmp/aw-blackhole-XXXXXX");
	if (mkdtemp(f->dir) == NULL)
		return -1;
	snprintf(f->srv.log, sizeof(f->srv.log), "%s/server.log", f->dir);
	return 0;
}

static int teardown(void **state)
{
	fixture *f = *state;
	char cmd[128];

	if (f == NULL)
		return 0;
	server_proc_stop(&f->srv, SIGKILL);
	atomic_store(&f->relay.blackhole, 0);
	relay_stop(&f->relay);
	test_db_drop(&f->db);
	if (f->dir[0] != '\0' && getenv("AW_KEEP") == NULL) {
		snprintf(cmd, sizeof(cmd), "rm -rf '%s'", f->dir);
		if (system(cmd) != 0)
			fprintf(stderr, "blackhole: could not remove %s\n", f->dir);
	}
	free(f);
	return 0;
}

/* Polls health every 50 ms until it is `want` (1 SERVING, 2 NOT_SERVING), at
 * most PHASE_MS. Returns the monotonic ms it was first seen, or -1. */
static long long health_wait(const char *target, int want)
{
	long long until = server_proc_now_ms() + PHASE_MS;
	struct timespec ts = {0, 50 * 1000000};

	do {
		if (server_proc_health(target, 2000, NULL) == want)
			return server_proc_now_ms();
		nanosleep(&ts, NULL);
	} while (server_proc_now_ms() < until);
	return -1;
}

static aw_client *client_new(const char *target, int64_t deadline_ms)
{
	aw_client_options o;
	aw_client *c = NULL;
	aw_err err;

	aw_client_options_init(&o);
	o.deadline_ms = deadline_ms;
	o.max_attempts = 1;          /* nothing hidden by retries */
	o.dedicated_connection = 1;
	assert_int_equal(aw_client_new(&c, target, &o, &err), 0);
	return c;
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

static int get_one(aw_client *c, int64_t id, aw_err *err)
{
	Aniworld__V1__GetSeriesRequest req = ANIWORLD__V1__GET_SERIES_REQUEST__INIT;
	Aniworld__V1__AnimeSeries *out = NULL;
	int rc;

	req.id = id;
	rc = aw_client_series_get(c, &req, &out, err, NULL);
	if (rc == 0)
		aniworld__v1__anime_series__free_unpacked(out, NULL);
	return rc;
}

/* ---- calls during the cut --------------------------------------------------------------------- */

typedef struct caller {
	int index;
	aw_client *client;
	int64_t known_id;          /* a series stored before the cut */
	int unavailable, deadline_exceeded, ok;
	long long longest_ms;
	int64_t acked[CALLS_EACH]; /* creates answered OK during the cut (unlikely) */
	int n_acked;
	char wrong[300];           /* the first wrong outcome; "" if none */
} caller;

static void *caller_main(void *arg)
{
	caller *c = arg;

	for (int i = 0; i < CALLS_EACH; i++) {
		Aniworld__V1__ListSeriesRequest list = ANIWORLD__V1__LIST_SERIES_REQUEST__INIT;
		Aniworld__V1__ListSeriesResponse *page = NULL;
		long long t0 = server_proc_now_ms(), took;
		char key[48];
		aw_err err;
		int64_t id = 0;
		int rc, status;

		switch ((c->index + i) % 3) {
		case 0:
			snprintf(key, sizeof(key), "during-%d-%d", c->index, i);
			id = create_one(c->client, key, &err);
			rc = id < 0 ? err.code : 0;
			break;
		case 1:
			rc = get_one(c->client, c->known_id, &err);
			break;
		default:
			list.page_size = 5;
			rc = aw_client_series_list(c->client, &list, &page, &err, NULL);
			if (rc == 0)
				aniworld__v1__list_series_response__free_unpacked(page, NULL);
			break;
		}
		took = server_proc_now_ms() - t0;
		if (took > c->longest_ms)
			c->longest_ms = took;
		status = rc == 0 ? 0 : aw_err_grpc_status(rc);
		if (rc == 0) {
			c->ok++;
			if (id > 0)
				c->acked[c->n_acked++] = id;
		} else if (status == GRPC_STATUS_UNAVAILABLE) {
			c->unavailable++;
		} else if (status == GRPC_STATUS_DEADLINE_EXCEEDED) {
			c->deadline_exceeded++;
		} else if (c->wrong[0] == '\0') {
			snprintf(c->wrong, sizeof(c->wrong), "caller %d: status %d (%s): %s", c->index,
				 status, aw_err_name(rc), err.msg);
		}
		if (took > DEADLINE_MS + MARGIN_MS && c->wrong[0] == '\0')
			snprintf(c->wrong, sizeof(c->wrong),
				 "caller %d: a call took %lld ms with a deadline of %d ms", c->index,
				 took, DEADLINE_MS);
	}
	return NULL;
}

/*
 * The cut under calls with 1 s deadlines while --db-query-timeout is 30 s:
 * each comes back within its deadline, health goes NOT_SERVING, and after the
 * cut everything works again with nothing acknowledged lost.
 */
static void test_blackhole_calls_end_at_their_deadline(void **state)
{
	fixture *f = *state;
	const char *const extra[] = {"--db-query-timeout", "30s", NULL};
	caller callers[CALLERS];
	pthread_t threads[CALLERS];
	aw_client *c;
	aw_err err;
	int64_t before[5];
	long long t_cut, t_unserving, t_back, t_serving, longest = 0;
	int unavailable = 0, exceeded = 0, ok = 0, status;

	assert_int_equal(server_proc_start(&f->srv, f->uri, extra), 0);
	c = client_new(f->srv.target, 10000);
	for (int i = 0; i < 5; i++) {
		char key[32];

		snprintf(key, sizeof(key), "before-%d", i);
		before[i] = create_one(c, key, &err);
		if (before[i] < 0)
			fail_msg("create before the cut: %s", err.msg);
	}

	atomic_store(&f->relay.blackhole, 1);
	t_cut = server_proc_now_ms();
	for (int i = 0; i < CALLERS; i++) {
		callers[i] = (caller){.index = i, .known_id = before[i % 5]};
		callers[i].client = client_new(f->srv.target, DEADLINE_MS);
		assert_int_equal(pthread_create(&threads[i], NULL, caller_main, &callers[i]), 0);
	}
	t_unserving = health_wait(f->srv.target, 2);
	for (int i = 0; i < CALLERS; i++) {
		pthread_join(threads[i], NULL);
		unavailable += callers[i].unavailable;
		exceeded += callers[i].deadline_exceeded;
		ok += callers[i].ok;
		if (callers[i].longest_ms > longest)
			longest = callers[i].longest_ms;
	}
	print_message("blackhole: %d calls with a %d ms deadline during the cut: %d UNAVAILABLE, "
		      "%d DEADLINE_EXCEEDED, %d OK; longest %lld ms; health NOT_SERVING %lld ms "
		      "after the cut (--db-query-timeout 30 s)\n", CALLERS * CALLS_EACH,
		      DEADLINE_MS, unavailable, exceeded, ok, longest,
		      t_unserving < 0 ? -1 : t_unserving - t_cut);
	for (int i = 0; i < CALLERS; i++) {
		if (callers[i].wrong[0] != '\0')
			fail_msg("%s", callers[i].wrong);
	}
	assert_int_equal(ok, 0);
	assert_true(unavailable >= 1);
	if (t_unserving < 0)
		fail_msg("health did not turn NOT_SERVING within %d ms of the cut", PHASE_MS);
	/* The process is alive: a liveness probe must not restart it. */
	assert_int_equal(server_proc_health_of(f->srv.target, "liveness", 2000, NULL), 1);

	atomic_store(&f->relay.blackhole, 0);
	t_back = server_proc_now_ms();
	t_serving = health_wait(f->srv.target, 1);
	if (t_serving < 0)
		fail_msg("health did not turn SERVING within %d ms of the network's return", PHASE_MS);
	print_message("blackhole: health SERVING %lld ms after the network came back\n",
		      t_serving - t_back);
	/* Every call succeeds again, and nothing acknowledged is lost. */
	if (create_one(c, "after", &err) < 0)
		fail_msg("create after the cut: %s", err.msg);
	for (int i = 0; i < 5; i++) {
		if (get_one(c, before[i], &err) != 0)
			fail_msg("series %lld, acknowledged before the cut: %s", (long long)before[i],
				 err.msg);
	}
	for (int i = 0; i < CALLERS; i++) {
		for (int k = 0; k < callers[i].n_acked; k++)
			assert_int_equal(get_one(c, callers[i].acked[k], &err), 0);
		aw_client_free(callers[i].client);
	}
	aw_client_free(c);
	status = server_proc_stop(&f->srv, SIGTERM);
	assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
}

/* ---- a watch during the cut ------------------------------------------------------------------- */

typedef struct watch_job {
	aw_client *client;
	int rc;                  /* of the watch: its opening, or its first next */
	long long took_ms;
	char msg[AW_ERR_MSG_MAX];
} watch_job;

static void *watch_main(void *arg)
{
	Aniworld__V1__WatchDownloadsRequest req = ANIWORLD__V1__WATCH_DOWNLOADS_REQUEST__INIT;
	watch_job *j = arg;
	long long t0 = server_proc_now_ms();
	aw_watch *w = NULL;
	aw_err err;

	j->rc = aw_client_downloads_watch(j->client, &req, &w, &err, NULL);
	if (j->rc == 0) {
		Aniworld__V1__DownloadEvent *ev = NULL;

		j->rc = aw_watch_next(w, &ev, 10000, &err);
		if (ev != NULL)
			aniworld__v1__download_event__free_unpacked(ev, NULL);
		aw_watch_free(w);
	}
	j->took_ms = server_proc_now_ms() - t0;
	snprintf(j->msg, sizeof(j->msg), "%s", j->rc != 0 ? err.msg : "");
	return NULL;
}

/*
 * On a server with one transport thread: a watch begun during the cut waits
 * for the event listener, not on that thread; health (and any other call) is
 * answered meanwhile; the watch ends UNAVAILABLE. After the cut a new watch
 * hears a change made after it.
 */
static void test_blackhole_watch_does_not_hold_a_transport_thread(void **state)
{
	fixture *f = *state;
	const char *const extra[] = {"--db-query-timeout", "30s", "--threads", "1", NULL};
	Aniworld__V1__WatchDownloadsRequest wreq = ANIWORLD__V1__WATCH_DOWNLOADS_REQUEST__INIT;
	Aniworld__V1__EnqueueDownloadRequest ereq = ANIWORLD__V1__ENQUEUE_DOWNLOAD_REQUEST__INIT;
	Aniworld__V1__DownloadQueueItem item = ANIWORLD__V1__DOWNLOAD_QUEUE_ITEM__INIT, *out = NULL;
	Aniworld__V1__DownloadEvent *ev = NULL;
	watch_job job = {0};
	pthread_t t;
	aw_client *c;
	aw_watch *w = NULL;
	aw_err err;
	long long t0, answered;
	int64_t series;
	int health, grpc_status = 0, status;

	assert_int_equal(server_proc_start(&f->srv, f->uri, extra), 0);
	c = client_new(f->srv.target, 10000);
	series = create_one(c, "watched", &err);
	if (series < 0)
		fail_msg("create: %s", err.msg);

	atomic_store(&f->relay.blackhole, 1);
	job.client = client_new(f->srv.target, 15000);
	assert_int_equal(pthread_create(&t, NULL, watch_main, &job), 0);
	/* Then health, on the only transport thread, while the watch waits for
	 * the listener (up to 5 s). A watch logs only when it ends: nothing to
	 * wait on, so the watch gets a moment to reach the server. */
	{
		struct timespec moment = {0, 500 * 1000000};

		nanosleep(&moment, NULL);
	}
	t0 = server_proc_now_ms();
	health = server_proc_health(f->srv.target, 3000, &grpc_status);
	answered = server_proc_now_ms() - t0;
	pthread_join(t, NULL);
	print_message("blackhole: health answered in %lld ms while a watch waited; the watch "
		      "ended after %lld ms: %s (%s)\n", answered, job.took_ms, aw_err_name(job.rc),
		      job.msg);
	if (health < 0)
		fail_msg("health got no answer (status %d) while a watch waited for the database",
			 grpc_status);
	assert_int_equal(aw_err_grpc_status(job.rc), GRPC_STATUS_UNAVAILABLE);
	aw_client_free(job.client);

	atomic_store(&f->relay.blackhole, 0);
	if (health_wait(f->srv.target, 1) < 0)
		fail_msg("health did not turn SERVING within %d ms of the network's return", PHASE_MS);
	/* The listener may still be finding its way back: watch until a watch holds. */
	for (int tries = 0; tries < 50; tries++) {
		struct timespec pause = {0, 200 * 1000000};

		if (aw_client_downloads_watch(c, &wreq, &w, &err, NULL) == 0)
			break;
		w = NULL;
		nanosleep(&pause, NULL);
	}
	if (w == NULL)
		fail_msg("no watch after the cut: %s", err.msg);
	item.series_id = series;
	item.season = 1;
	item.episode_number = 1;
	item.download_url = "https://example.org/e1";
	item.file_destination = "/downloads/e1.mp4";
	ereq.item = &item;
	assert_int_equal(aw_client_downloads_enqueue(c, &ereq, &out, &err, NULL), 0);
	assert_int_equal(aw_watch_next(w, &ev, 10000, &err), 0);
	assert_int_equal(ev->item->id, out->id);
	aniworld__v1__download_event__free_unpacked(ev, NULL);
	aniworld__v1__download_queue_item__free_unpacked(out, NULL);
	aw_watch_free(w);
	aw_client_free(c);
	status = server_proc_stop(&f->srv, SIGTERM);
	assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_blackhole_calls_end_at_their_deadline, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_blackhole_watch_does_not_hold_a_transport_thread,
						setup, teardown),
	};

	signal(SIGPIPE, SIG_IGN);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
