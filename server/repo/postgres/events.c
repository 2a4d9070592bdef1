/*
 * Change events of the PostgreSQL backend: LISTEN/NOTIFY, with an outbox for
 * the events too large for a notification.
 *
 * Sending. A write's events are stashed as it publishes them (a write undone
 * takes its own with it, a rollback all of them), and just before COMMIT the
 * transaction sends them with pg_notify() on channel aniworld_downloads, in one
 * statement for a run of small ones. PostgreSQL delivers notifications only
 * when their transaction commits, to every listening session, in commit order
 * (and, within a transaction, in the order sent), and drops them with a
 * rollback: exactly the promise of aw_repo_event_fn, across replicas. A
 * payload is "e<seq> <base64 of the packed DownloadEvent>"; an event whose
 * payload would not fit under NOTIFY_MAX bytes is stored in the
 * download_event_outbox table and announced as "o<id>", read back by each
 * listener. (<seq> numbers the events of this process: PostgreSQL folds
 * identical notifications of one transaction into one, and two events may be
 * identical.)
 *
 * Listening. A thread of our own holds a connection of its own that LISTENs,
 * waits on its socket with poll(), and hands each notification, decoded, to
 * the repository's hook: the events of this replica's writes come back the
 * same way as everyone else's, after their commit. When the connection is
 * lost, notifications sent meanwhile never reach this replica: the hook hears
 * of a gap (NULL) at once, and again once it listens anew (so that watchers
 * who came during the outage hear of it too), and the thread reconnects with
 * backoff. Outbox rows are kept OUTBOX_KEEP_S seconds and deleted by any
 * replica's listener: a listener that finds its row gone reports a gap.
 *
 * Syncing. Before a server ends its watch streams it asks for the events
 * committed so far (aw__pg_events_sync): a marker "s<token>.<n>" is notified
 * in a transaction of its own, which commits after all of them, so once the
 * listener has read the marker it has delivered everything before it. A new
 * watch asks without waiting (aw__pg_events_sync_start): the listener thread
 * itself notifies the marker, on its own connection, and runs the caller's
 * `done` when it reads the marker back, between two deliveries; a marker that
 * does not come back by the earliest deadline asked for ends the listening
 * connection as lost (the listener listens anew), since a listener that cannot
 * hear its own notification in that time does not follow the changes either.
 */
#define _GNU_SOURCE
#include "postgres_int.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define CHANNEL "aniworld_downloads"
#define NOTIFY_MAX 7900      /* PostgreSQL's limit is 8000 bytes a payload */
#define OUTBOX_KEEP_S 600    /* how long a large event waits for the listeners */
#define SWEEP_EVERY_MS 60000 /* how often a listener deletes older outbox rows */
#define BACKOFF_MIN_MS 100
#define NO_DEADLINE INT64_MAX
#define BACKOFF_MAX_MS 5000

#define SQL_NOTIFY                                                                      \
	"SELECT pg_notify('" CHANNEL "', p) FROM unnest($1::text[]) WITH ORDINALITY AS t(p, i) " \
	"ORDER BY i"
#define SQL_OUTBOX_PUT                                                                      \
	"WITH o AS (INSERT INTO download_event_outbox (event) VALUES ($1) RETURNING id) "   \
	"SELECT pg_notify('" CHANNEL "', 'o' || id) FROM o"
#define SQL_OUTBOX_GET "SELECT event FROM download_event_outbox WHERE id = $1"
#define STR(x) #x
#define XSTR(x) STR(x)
#define SQL_SWEEP                                                                   \
	"DELETE FROM download_event_outbox WHERE created_at < now() - interval '" \
	XSTR(OUTBOX_KEEP_S) " seconds'"

/* An asynchronous sync under way (aw__pg_events_sync_start). */
typedef struct pending_sync {
	struct pending_sync *next;
	uint64_t n;              /* done once marker n (or a later one) is read back */
	int64_t deadline_ms;     /* monotonic; AW_ETIMEDOUT after it */
	aw_repo_synced_fn *done;
	void *arg;
} pending_sync;

struct aw_pg_listener {
	aw_pg_repo *repo;
	aw_pg_conn *conn;        /* the listening connection; the thread's only */
	pthread_t thread;
	int wake[2];             /* a pipe: a byte written to wake[1] wakes the thread */
	atomic_int stopping;     /* the thread is to end (aw__pg_events_stop) */
	int64_t next_sweep_ms;

	/* Sync markers (aw__pg_events_sync). */
	unsigned long long token; /* tells this process's markers from other replicas' */
	pthread_mutex_t sync_mu;  /* guards the two below */
	pthread_cond_t sync_cv;
	uint64_t sync_sent, sync_seen; /* the last marker sent, and the last one read back */
	uint64_t sync_failed;    /* markers up to this one may never come back */
	pending_sync *pending;   /* asynchronous syncs waiting, in the order asked */
	uint64_t sync_marked;    /* the last marker the listener thread sent for them */
};

static int64_t mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* ---- base64 (RFC 4648, with padding) --------------------------------------------------------- */

static const char b64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

static size_t b64_len(size_t n)
{
	return (n + 2) / 3 * 4;
}

/* Writes b64_len(n) characters and a NUL. */
static void b64_encode(const uint8_t *in, size_t n, char *out)
{
	size_t i, o = 0;

	for (i = 0; i + 2 < n; i += 3) {
		uint32_t v = (uint32_t)in[i] << 16 | (uint32_t)in[i + 1] << 8 | in[i + 2];
		out[o++] = b64[v >> 18];
		out[o++] = b64[(v >> 12) & 63];
		out[o++] = b64[(v >> 6) & 63];
		out[o++] = b64[v & 63];
	}
	if (i < n) {
		uint32_t v = (uint32_t)in[i] << 16 | (i + 1 < n ? (uint32_t)in[i + 1] << 8 : 0);
		out[o++] = b64[v >> 18];
		out[o++] = b64[(v >> 12) & 63];
		out[o++] = i + 1 < n ? b64[(v >> 6) & 63] : '=';
		out[o++] = '=';
	}
	out[o] = '\0';
}

static int b64_value(char c)
{
	if (c >= 'A' && c <= 'Z')
		return c - 'A';
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 26;
	if (c >= '0' && c <= '9')
		return c - '0' + 52;
	if (c == '+')
		return 62;
	if (c == '/')
		return 63;
	return -1;
}

/* Decodes `in` into out (room for 3/4 of strlen(in)); the length, or -1 when
 * `in` is not base64. */
static long b64_decode(const char *in, uint8_t *out)
{
	size_t n = strlen(in), o = 0;

	if (n % 4 != 0)
		return -1;
	for (size_t i = 0; i < n; i += 4) {
		int a = b64_value(in[i]), b = b64_value(in[i + 1]);
		int c = in[i + 2] == '=' ? 0 : b64_value(in[i + 2]);
		int d = in[i + 3] == '=' ? 0 : b64_value(in[i + 3]);
		uint32_t v;

		if (a < 0 || b < 0 || c < 0 || d < 0)
			return -1;
		if ((in[i + 2] == '=' || in[i + 3] == '=') && i + 4 != n)
			return -1;
		v = (uint32_t)a << 18 | (uint32_t)b << 12 | (uint32_t)c << 6 | (uint32_t)d;
		out[o++] = (uint8_t)(v >> 16);
		if (in[i + 2] != '=')
			out[o++] = (uint8_t)(v >> 8);
		if (in[i + 3] != '=')
			out[o++] = (uint8_t)v;
	}
	return (long)o;
}

/* ---- sending ---------------------------------------------------------------------------------- */

int aw__pg_downloads_publish(aw_repo *r, const Aniworld__V1__DownloadEvent *ev, aw_err *err)
{
	/* Always: other replicas may listen, whatever this one's hook. */
	return aw__event_stash_add(&((aw_pg_repo *)r)->events, ev, err);
}

/* The array literal being built for SQL_NOTIFY: {"payload","payload",...}. */
typedef struct notify_batch {
	char *text;
	size_t len, cap;
	int n;
} notify_batch;

static int batch_add(notify_batch *b, const char *payload, aw_err *err)
{
	size_t need = b->len + strlen(payload) + 4;

	if (need > b->cap) {
		size_t cap = b->cap != 0 ? b->cap : 8192;
		char *t;

		while (cap < need)
			cap *= 2;
		t = realloc(b->text, cap);
		if (t == NULL)
			return aw_err_set(err, AW_ENOMEM, "out of memory sending queue changes");
		b->text = t;
		b->cap = cap;
	}
	/* Payloads hold no '"' or '\\': quoting needs no escapes. */
	b->len += (size_t)snprintf(b->text + b->len, b->cap - b->len, "%s\"%s\"",
				   b->n == 0 ? "{" : ",", payload);
	b->n++;
	return 0;
}

/* Sends the notifications gathered in `b`, in order, and empties it. */
static int batch_send(aw_pg_repo *r, notify_batch *b, aw_err *err)
{
	aw_pg_params p = {0};
	PGresult *res;
	int rc;

	if (b->n == 0)
		return 0;
	b->text[b->len++] = '}';
	b->text[b->len] = '\0';
	aw__pg_p_text(&p, b->text);
	rc = aw__pg_run(r->writer, AW_PG_EV_NOTIFY, SQL_NOTIFY, &p, "sending queue changes",
			&res, err);
	if (rc == 0)
		PQclear(res);
	b->len = 0;
	b->n = 0;
	return rc;
}

/* Stores one large event in the outbox and announces it, in one statement. */
static int outbox_put(aw_pg_repo *r, const uint8_t *data, size_t len, aw_err *err)
{
	aw_pg_params p = {0};
	PGresult *res;
	int rc;

	aw__pg_p_bytes(&p, data, (int)len);
	rc = aw__pg_run(r->writer, AW_PG_EV_OUTBOX_PUT, SQL_OUTBOX_PUT, &p,
			"storing a large queue change", &res, err);
	if (rc == 0)
		PQclear(res);
	return rc;
}

int aw__pg_events_flush(aw_pg_repo *r, aw_err *err)
{
	aw_event_stash *s = &r->events;
	notify_batch b = {0};
	const uint8_t *data;
	size_t at = 0, len;
	char *payload = NULL;
	size_t payload_cap = 0;
	int rc = 0;

	while (rc == 0 && aw__event_stash_next(s, &at, &data, &len) == 0) {
		size_t need = 24 + b64_len(len);

		if (need > NOTIFY_MAX) {
			/* Order: what is gathered goes first. */
			rc = batch_send(r, &b, err);
			if (rc == 0)
				rc = outbox_put(r, data, len, err);
			continue;
		}
		if (need > payload_cap) {
			char *p = realloc(payload, need);
			if (p == NULL) {
				rc = aw_err_set(err, AW_ENOMEM, "out of memory sending queue changes");
				break;
			}
			payload = p;
			payload_cap = need;
		}
		snprintf(payload, need, "e%llx ", (unsigned long long)++r->event_seq);
		b64_encode(data, len, payload + strlen(payload));
		rc = batch_add(&b, payload, err);
	}
	if (rc == 0)
		rc = batch_send(r, &b, err);
	free(payload);
	free(b.text);
	return rc;
}

/* ---- listening --------------------------------------------------------------------------------- */

/* Hands the event packed in data[0..len) to the hook; a gap when it cannot be read. */
static void deliver_packed(aw_pg_repo *r, const uint8_t *data, size_t len)
{
	Aniworld__V1__DownloadEvent *ev = aniworld__v1__download_event__unpack(NULL, len, data);

	aw__repo_event(&r->base, ev); /* NULL (unreadable, out of memory): a gap */
	if (ev != NULL)
		aniworld__v1__download_event__free_unpacked(ev, NULL);
}

/* Reads outbox row `id` and delivers its event; a gap when it is gone. Returns
 * AW_EUNAVAIL when the connection failed (the caller reconnects). */
static int deliver_outbox(aw_pg_listener *l, int64_t id)
{
	aw_pg_params p = {0};
	PGresult *res;
	aw_err err;
	int rc;

	aw__pg_p_int(&p, id);
	rc = aw__pg_run(l->conn, AW_PG_EV_OUTBOX_GET, SQL_OUTBOX_GET, &p,
			"reading a large queue change", &res, &err);
	if (rc != 0) {
		aw__repo_event(&l->repo->base, NULL);
		return l->conn->pg == NULL || PQstatus(l->conn->pg) != CONNECTION_OK ? AW_EUNAVAIL
										  : 0;
	}
	if (PQntuples(res) == 1)
		deliver_packed(l->repo, (const uint8_t *)PQgetvalue(res, 0, 0),
			       (size_t)PQgetlength(res, 0, 0));
	else
		aw__repo_event(&l->repo->base, NULL); /* swept before we read it */
	PQclear(res);
	return 0;
}

/*
 * Runs `done` of every asynchronous sync that has an outcome: 0 when its
 * marker came back, AW_EUNAVAIL when it cannot any more, AW_ETIMEDOUT past its
 * deadline; everyone with `all` (the listener is stopping). Outside sync_mu.
 */
static void pending_finish(aw_pg_listener *l, int all)
{
	pending_sync *ready = NULL, **tail = &ready, **pp;
	int64_t now = mono_ms();

	pthread_mutex_lock(&l->sync_mu);
	for (pp = &l->pending; *pp != NULL;) {
		pending_sync *p = *pp;

		if (all || p->n <= l->sync_seen || p->n <= l->sync_failed || now >= p->deadline_ms) {
			*pp = p->next;
			p->next = NULL;
			*tail = p;
			tail = &p->next;
		} else {
			pp = &p->next;
		}
	}
	for (pending_sync *p = ready; p != NULL; p = p->next) {
		/* The outcome, decided under the lock; reported below. */
		if (p->n <= l->sync_seen)
			p->deadline_ms = 0;
		else if (p->n <= l->sync_failed || all)
			p->deadline_ms = -1;
		else
			p->deadline_ms = -2;
	}
	pthread_mutex_unlock(&l->sync_mu);
	while (ready != NULL) {
		pending_sync *p = ready;
		aw_err err;

		ready = p->next;
		aw_err_clear(&err);
		if (p->deadline_ms == 0)
			p->done(p->arg, 0, &err);
		else if (p->deadline_ms == -1)
			p->done(p->arg, aw_err_set(&err, AW_EUNAVAIL, "the connection that hears the "
						   "database's notifications was lost"), &err);
		else
			p->done(p->arg, aw_err_set(&err, AW_ETIMEDOUT, "the database's notifications "
						   "did not come back in time"), &err);
		free(p);
	}
}

/* A sync marker read back: everything before it has been delivered. */
static void marker_seen(aw_pg_listener *l, const char *payload)
{
	unsigned long long token, n;

	if (sscanf(payload, "s%llx.%llu", &token, &n) != 2 || token != l->token)
		return; /* another replica's */
	pthread_mutex_lock(&l->sync_mu);
	if (n > l->sync_seen)
		l->sync_seen = n;
	pthread_cond_broadcast(&l->sync_cv);
	pthread_mutex_unlock(&l->sync_mu);
	pending_finish(l, 0);
}

/* The connection was lost or is listening anew: markers sent until now may
 * never come back; their waiters are told at once. */
static void markers_lost(aw_pg_listener *l)
{
	pthread_mutex_lock(&l->sync_mu);
	l->sync_failed = l->sync_sent;
	pthread_cond_broadcast(&l->sync_cv);
	pthread_mutex_unlock(&l->sync_mu);
	pending_finish(l, 0);
}

/*
 * Notifies, on the listening connection, the marker that answers the
 * asynchronous syncs asked for since the last one, waiting for the server's
 * answer no later than the earliest of their deadlines. AW_EUNAVAIL when the
 * connection is lost (or that wait ran out).
 */
static int markers_send(aw_pg_listener *l)
{
	int64_t earliest = NO_DEADLINE;
	uint64_t n = 0;
	char sql[128];
	aw_err err;
	int rc;

	pthread_mutex_lock(&l->sync_mu);
	for (pending_sync *p = l->pending; p != NULL; p = p->next) {
		if (p->n > l->sync_marked && p->n > n)
			n = p->n;
		if (p->deadline_ms < earliest)
			earliest = p->deadline_ms;
	}
	if (n > 0)
		l->sync_marked = n;
	pthread_mutex_unlock(&l->sync_mu);
	if (n == 0)
		return 0;
	snprintf(sql, sizeof(sql), "SELECT pg_notify('" CHANNEL "', 's%llx.%llu')", l->token,
		 (unsigned long long)n);
	aw__repo_deadline_set(earliest * 1000);
	rc = aw__pg_exec(l->conn, sql, l->repo->query_timeout_ms, NULL, &err);
	aw__repo_deadline_set(0);
	return rc;
}

/* The earliest deadline of the asynchronous syncs waiting (NO_DEADLINE: none). */
static int64_t pending_deadline(aw_pg_listener *l)
{
	int64_t earliest = NO_DEADLINE;

	pthread_mutex_lock(&l->sync_mu);
	for (pending_sync *p = l->pending; p != NULL; p = p->next) {
		if (p->deadline_ms < earliest)
			earliest = p->deadline_ms;
	}
	pthread_mutex_unlock(&l->sync_mu);
	return earliest;
}

/* Decodes and delivers one notification's payload. */
static int deliver(aw_pg_listener *l, const char *payload)
{
	aw_pg_repo *r = l->repo;

	if (payload[0] == 's') {
		marker_seen(l, payload);
		return 0;
	}
	/* Nobody listens: nothing to decode (the hint is read as late as possible). */
	if (!aw__repo_events_watched(&r->base))
		return 0;
	if (payload[0] == 'e') {
		const char *sp = strchr(payload, ' ');
		uint8_t *buf;
		long n;

		if (sp == NULL) {
			aw__repo_event(&r->base, NULL);
			return 0;
		}
		buf = malloc(strlen(sp + 1) / 4 * 3 + 3);
		n = buf != NULL ? b64_decode(sp + 1, buf) : -1;
		if (n < 0)
			aw__repo_event(&r->base, NULL);
		else
			deliver_packed(r, buf, (size_t)n);
		free(buf);
		return 0;
	}
	if (payload[0] == 'o') {
		char *end;
		long long id;

		errno = 0;
		id = strtoll(payload + 1, &end, 10);
		if (errno == 0 && end != payload + 1 && *end == '\0' && id > 0)
			return deliver_outbox(l, id);
	}
	aw__repo_event(&r->base, NULL); /* not ours to read */
	return 0;
}

/* Delivers every notification libpq has received. AW_EUNAVAIL: connection lost. */
static int drain(aw_pg_listener *l)
{
	PGnotify *n;
	int rc = 0;

	while (rc == 0 && l->conn->pg != NULL && (n = PQnotifies(l->conn->pg)) != NULL) {
		rc = deliver(l, n->extra);
		PQfreemem(n);
	}
	return rc;
}

/* Connects the listening connection and LISTENs. */
static int listen_start(aw_pg_listener *l, aw_err *err)
{
	int rc = aw__pg_ready(l->conn, err);

	if (rc == 0)
		rc = aw__pg_exec(l->conn, "LISTEN " CHANNEL, l->repo->query_timeout_ms, NULL, err);
	return rc;
}

static void listen_drop(aw_pg_listener *l)
{
	if (l->conn->pg != NULL)
		PQfinish(l->conn->pg);
	l->conn->pg = NULL;
	memset(l->conn->prepared, 0, sizeof(l->conn->prepared));
}

/* Waits up to `ms` for the socket (fd >= 0) or a wake-up; 1 when told to stop. */
static int wait_for(aw_pg_listener *l, int fd, int ms)
{
	struct pollfd pfd[2] = {{.fd = l->wake[0], .events = POLLIN}, {.fd = fd, .events = POLLIN}};

	if (poll(pfd, fd >= 0 ? 2 : 1, ms) < 0 && errno != EINTR)
		return 0;
	if (pfd[0].revents & POLLIN) {
		char buf[64];

		if (read(l->wake[0], buf, sizeof(buf)) < 0 && errno != EAGAIN && errno != EINTR)
			return 1;
	}
	return atomic_load(&l->stopping);
}

/* Wakes the listener thread (a sync to send, or a stop). */
static void listener_wake(aw_pg_listener *l)
{
	ssize_t w;

	do
		w = write(l->wake[1], "x", 1);
	while (w < 0 && errno == EINTR);
}

static void *listener_main(void *arg)
{
	aw_pg_listener *l = arg;
	aw_pg_repo *r = l->repo;
	int backoff = 0;
	aw_err err;

	for (;;) {
		int64_t now = mono_ms();
		int lost = 0;

		if (l->conn->pg == NULL) {
			int64_t until = pending_deadline(l);
			int rc;

			/* Reconnect, after a pause that doubles while it fails (a sync
			 * asked for meanwhile cuts it short). */
			if (wait_for(l, -1, backoff))
				break;
			if (until != NO_DEADLINE)
				aw__repo_deadline_set(until * 1000);
			rc = listen_start(l, &err);
			aw__repo_deadline_set(0);
			if (rc != 0) {
				listen_drop(l);
				/* Syncs asked for now cannot be answered. */
				markers_lost(l);
				backoff = backoff < BACKOFF_MIN_MS ? BACKOFF_MIN_MS : backoff * 2;
				if (backoff > BACKOFF_MAX_MS)
					backoff = BACKOFF_MAX_MS;
				continue;
			}
			backoff = 0;
			/* Watchers who came while we were away missed what was sent. */
			markers_lost(l);
			aw__repo_event(&r->base, NULL);
		}
		if (now >= l->next_sweep_ms) {
			l->next_sweep_ms = now + SWEEP_EVERY_MS;
			aw__pg_exec(l->conn, SQL_SWEEP, r->query_timeout_ms, NULL, &err);
		}
		if (l->conn->pg != NULL && markers_send(l) != 0)
			lost = 1;
		pending_finish(l, 0); /* past their deadlines */
		if (!lost && l->conn->pg != NULL && drain(l) == 0) {
			int64_t until = pending_deadline(l), left;

			if (until > l->next_sweep_ms)
				until = l->next_sweep_ms;
			left = until - mono_ms();

			if (wait_for(l, PQsocket(l->conn->pg), left < 0 ? 0 : (int)left))
				break;
			if (!PQconsumeInput(l->conn->pg) || PQstatus(l->conn->pg) != CONNECTION_OK)
				lost = 1;
			else if (drain(l) != 0)
				lost = 1;
		} else {
			lost = 1;
		}
		if (lost || l->conn->pg == NULL || PQstatus(l->conn->pg) != CONNECTION_OK) {
			listen_drop(l);
			markers_lost(l);
			aw__repo_event(&r->base, NULL);
		}
	}
	return NULL;
}

int aw__pg_events_start(aw_repo *base, aw_err *err)
{
	aw_pg_repo *r = (aw_pg_repo *)base;
	aw_pg_listener *l;
	int rc;

	/* Nobody here to tell: this replica only sends. */
	if (!aw__repo_events_hooked(base))
		return 0;
	l = calloc(1, sizeof(*l));
	if (l == NULL)
		return aw_err_set(err, AW_ENOMEM, "out of memory for the event listener");
	l->repo = r;
	l->wake[0] = l->wake[1] = -1;
	atomic_init(&l->stopping, 0);
	l->token = ((unsigned long long)getpid() << 32) ^ (unsigned long long)mono_ms() ^
		   (unsigned long long)(uintptr_t)l;
	pthread_mutex_init(&l->sync_mu, NULL);
	pthread_cond_init(&l->sync_cv, NULL);
	l->conn = calloc(1, sizeof(*l->conn));
	if (l->conn == NULL || pipe2(l->wake, O_CLOEXEC | O_NONBLOCK) != 0) {
		rc = aw_err_set(err, AW_ENOMEM, "cannot set up the event listener");
		goto fail;
	}
	l->conn->repo = r;
	l->next_sweep_ms = mono_ms();
	/* Listening before the server serves: no event of its time is missed. */
	rc = listen_start(l, err);
	if (rc != 0)
		goto fail;
	if (pthread_create(&l->thread, NULL, listener_main, l) != 0) {
		rc = aw_err_set(err, AW_ENOMEM, "cannot start the event listener thread");
		goto fail;
	}
	r->listener = l;
	return 0;

fail:
	if (l->conn != NULL) {
		listen_drop(l);
		free(l->conn);
	}
	if (l->wake[0] >= 0) {
		close(l->wake[0]);
		close(l->wake[1]);
	}
	pthread_mutex_destroy(&l->sync_mu);
	pthread_cond_destroy(&l->sync_cv);
	free(l);
	return rc;
}

int aw__pg_events_sync(aw_repo *base, int timeout_ms, aw_err *err)
{
	aw_pg_repo *r = (aw_pg_repo *)base;
	aw_pg_listener *l = r->listener;
	struct timespec until;
	char sql[128];
	aw_pg_conn *c;
	uint64_t n;
	int rc, timed_out = 0, lost;

	if (l == NULL)
		return 0;
	pthread_mutex_lock(&l->sync_mu);
	n = ++l->sync_sent;
	pthread_mutex_unlock(&l->sync_mu);
	/* Its own transaction (autocommit), committed after every one before it. */
	snprintf(sql, sizeof(sql), "SELECT pg_notify('" CHANNEL "', 's%llx.%llu')", l->token,
		 (unsigned long long)n);
	/* Connecting too is bounded by timeout_ms (aw__repo_deadline). */
	aw__repo_deadline_set(aw__repo_mono_us() + (int64_t)timeout_ms * 1000);
	rc = aw__pg_reader_get(r, &c, err);
	if (rc == 0) {
		rc = aw__pg_exec(c, sql, timeout_ms, NULL, err);
		aw__pg_reader_put(r, c);
	}
	aw__repo_deadline_set(0);
	if (rc != 0)
		return rc;
	clock_gettime(CLOCK_REALTIME, &until);
	until.tv_sec += timeout_ms / 1000;
	until.tv_nsec += (long)(timeout_ms % 1000) * 1000000;
	if (until.tv_nsec >= 1000000000) {
		until.tv_sec++;
		until.tv_nsec -= 1000000000;
	}
	pthread_mutex_lock(&l->sync_mu);
	while (l->sync_seen < n && l->sync_failed < n && !timed_out)
		timed_out = pthread_cond_timedwait(&l->sync_cv, &l->sync_mu, &until) != 0;
	lost = l->sync_seen < n && l->sync_failed >= n;
	timed_out = l->sync_seen < n;
	pthread_mutex_unlock(&l->sync_mu);
	if (lost)
		return aw_err_set(err, AW_EUNAVAIL,
				  "the connection that hears the database's notifications was lost");
	if (timed_out)
		return aw_err_set(err, AW_ETIMEDOUT,
				  "the database's notifications did not come back within %d ms",
				  timeout_ms);
	return 0;
}

int aw__pg_events_sync_start(aw_repo *base, int timeout_ms, aw_repo_synced_fn *done, void *arg,
			     aw_err *err)
{
	aw_pg_listener *l = ((aw_pg_repo *)base)->listener;
	pending_sync *p;

	if (l == NULL) {
		done(arg, 0, NULL);
		return 0;
	}
	p = calloc(1, sizeof(*p));
	if (p == NULL)
		return aw_err_set(err, AW_ENOMEM, "out of memory for an events sync");
	p->deadline_ms = mono_ms() + timeout_ms;
	p->done = done;
	p->arg = arg;
	pthread_mutex_lock(&l->sync_mu);
	p->n = ++l->sync_sent;
	/* Appended: the syncs finish in the order asked. */
	{
		pending_sync **pp = &l->pending;

		while (*pp != NULL)
			pp = &(*pp)->next;
		*pp = p;
	}
	pthread_mutex_unlock(&l->sync_mu);
	listener_wake(l);
	return 0;
}

void aw__pg_events_stop(aw_pg_repo *r)
{
	aw_pg_listener *l = r->listener;

	if (l == NULL)
		return;
	atomic_store(&l->stopping, 1);
	listener_wake(l);
	pthread_join(l->thread, NULL);
	pending_finish(l, 1); /* told: no more notifications */
	listen_drop(l);
	free(l->conn);
	close(l->wake[0]);
	close(l->wake[1]);
	pthread_mutex_destroy(&l->sync_mu);
	pthread_cond_destroy(&l->sync_cv);
	free(l);
	r->listener = NULL;
}
