/*
 * End to end: the admin service's Snapshot (server/services/admin.c,
 * server/repo/sqlite/snapshot.c), its admin tokens (server/transport/auth.c,
 * transport.c), the client's aw_admin_snapshot (client/admin.c) and
 * `aniworld-server restore` (server/restore.c), with the real server binary
 * (server_proc.h) on SQLite.
 *
 * On PostgreSQL (AW_TEST_BACKEND=postgres, test_e2e_admin_pg) only what the
 * backend answers there: UNIMPLEMENTED pointing to pg_dump, and a restore
 * refused with a pointer to pg_restore; the server runs in-process
 * (harness.h) on a database of the fixture.
 *
 * The full disk is a small tmpfs in a private mount namespace (as in
 * test_e2e_storage_faults.c): that test needs root, as CI runs, and is
 * skipped without it.
 */
#define _GNU_SOURCE /* unshare */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <sched.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>
#include <grpc/byte_buffer.h>
#include <grpc/grpc.h>
#include <grpc/grpc_security.h>
#include <grpc/status.h>
#include <grpc/support/time.h>
#include <openssl/evp.h>
#include <sqlite3.h>

#include "aniworld/client.h"
#include "harness.h"
#include "server_proc.h"

#define ADMIN_TOKEN "admin-secret-1"
#define DATA_TOKEN "data-secret-1"
/* Bulk rows: enough for several 1 MiB chunks. */
#define BULK_SERIES 48
#define BULK_BYTES (64 * 1024)

static int can_mount; /* a private mount namespace of our own */

/* ---- set-up --------------------------------------------------------------------------- */

typedef struct fixture {
	char dir[64];        /* temporary directory */
	char db[160];        /* the database file */
	char admin_file[128]; /* admin tokens */
	char data_file[128];  /* data tokens */
	server_proc srv;
	aw_client *admin;    /* with the admin token */
	aw_client *data;     /* with the data token */
} fixture;

static void write_text(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");

	if (f == NULL)
		fail_msg("cannot write %s: %s", path, strerror(errno));
	fputs(text, f);
	fclose(f);
}

static int setup(void **state)
{
	fixture *f = calloc(1, sizeof(*f));

	if (f == NULL)
		return -1;
	snprintf(f->dir, sizeof(f->dir), "/tmp/aw-admin-XXXXXX");
	if (mkdtemp(f->dir) == NULL)
		return -1;
	snprintf(f->db, sizeof(f->db), "%s/store.db", f->dir);
	snprintf(f->admin_file, sizeof(f->admin_file), "%s/admin-tokens", f->dir);
	snprintf(f->data_file, sizeof(f->data_file), "%s/data-tokens", f->dir);
	snprintf(f->srv.log, sizeof(f->srv.log), "%s/server.log", f->dir);
	write_text(f->admin_file, "# admin\n" ADMIN_TOKEN "\n");
	write_text(f->data_file, DATA_TOKEN "\n");
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	fixture *f = *state;
	char cmd[128];

	aw_client_free(f->admin);
	aw_client_free(f->data);
	server_proc_stop(&f->srv, SIGKILL);
	snprintf(cmd, sizeof(cmd), "%s/fs", f->dir);
	umount2(cmd, MNT_DETACH); /* what a failed test left mounted */
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", f->dir);
	if (system(cmd) != 0)
		return -1;
	free(f);
	return 0;
}

static aw_client *connect_with(const char *target, const char *token)
{
	aw_client_options o;
	aw_client *c = NULL;
	aw_err err;

	aw_client_options_init(&o);
	o.deadline_ms = 20000;
	o.bearer_token = token;
	if (aw_client_new(&c, target, &o, &err) != 0)
		fail_msg("client: %s", err.msg);
	return c;
}

/* Starts the server on f->db with data and admin tokens (admin: whether to
 * give --admin-tokens-file) and connects both clients. */
static void start(fixture *f, int admin)
{
	const char *with_admin[] = {"--auth-tokens-file", f->data_file, "--admin-tokens-file",
				    f->admin_file, NULL};
	const char *without[] = {"--auth-tokens-file", f->data_file, NULL};

	assert_int_equal(server_proc_start(&f->srv, f->db, admin ? with_admin : without), 0);
	f->admin = connect_with(f->srv.target, ADMIN_TOKEN);
	f->data = connect_with(f->srv.target, DATA_TOKEN);
}

static void stop(fixture *f)
{
	int status;

	aw_client_free(f->admin);
	aw_client_free(f->data);
	f->admin = f->data = NULL;
	status = server_proc_stop(&f->srv, SIGTERM);
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
		fail_msg("the server did not exit 0 on SIGTERM (status %#x); log %s", status,
			 f->srv.log);
}

static void need_mounts(void)
{
	if (!can_mount) {
		print_message("no private mount namespace (needs root): skipped\n");
		skip();
	}
}

/* ---- calls ------------------------------------------------------------------------------ */

/* Creates series `key` with a description of `len` bytes of `fill`. */
static int create(aw_client *c, const char *key, size_t len, char fill, aw_err *err)
{
	Aniworld__V1__AnimeSeries s = ANIWORLD__V1__ANIME_SERIES__INIT, *out = NULL;
	Aniworld__V1__CreateSeriesRequest req = ANIWORLD__V1__CREATE_SERIES_REQUEST__INIT;
	char *desc = malloc(len + 1);
	int rc;

	assert_non_null(desc);
	memset(desc, fill, len);
	desc[len] = '\0';
	s.key = (char *)key;
	s.name = (char *)key;
	s.description = desc;
	req.series = &s;
	rc = aw_client_series_create(c, &req, &out, err, NULL);
	aniworld__v1__anime_series__free_unpacked(out, NULL);
	free(desc);
	return rc;
}

static int get(aw_client *c, const char *key, aw_err *err)
{
	Aniworld__V1__GetSeriesByKeyRequest req = ANIWORLD__V1__GET_SERIES_BY_KEY_REQUEST__INIT;
	Aniworld__V1__AnimeSeries *out = NULL;
	int rc;

	req.key = (char *)key;
	rc = aw_client_series_get_by_key(c, &req, &out, err, NULL);
	aniworld__v1__anime_series__free_unpacked(out, NULL);
	return rc;
}

/* Rows worth several chunks. */
static void fill_bulk(aw_client *c, int n, size_t len)
{
	char key[32];
	aw_err err;

	for (int i = 0; i < n; i++) {
		snprintf(key, sizeof(key), "bulk-%d", i);
		if (create(c, key, len, (char)('a' + i % 26), &err) != 0)
			fail_msg("create %s: %s", key, err.msg);
	}
}

/* Takes a snapshot into file `path`; returns the client's code, the summary
 * in *sum (may be NULL; free it). */
static int snapshot_to(aw_client *c, const char *path,
		       Aniworld__Admin__V1__SnapshotSummary **sum, aw_err *err)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	int rc;

	assert_true(fd >= 0);
	rc = aw_admin_snapshot(c, fd, 60000, sum, err, NULL);
	close(fd);
	return rc;
}

/* The SHA-256 of file `path` in hex. */
static void sha256_file(const char *path, char hex[65])
{
	unsigned char buf[65536], d[EVP_MAX_MD_SIZE];
	unsigned int n = 0;
	EVP_MD_CTX *md = EVP_MD_CTX_new();
	int fd = open(path, O_RDONLY);
	ssize_t got;

	assert_true(fd >= 0);
	assert_int_equal(EVP_DigestInit_ex(md, EVP_sha256(), NULL), 1);
	while ((got = read(fd, buf, sizeof(buf))) > 0)
		EVP_DigestUpdate(md, buf, (size_t)got);
	close(fd);
	EVP_DigestFinal_ex(md, d, &n);
	EVP_MD_CTX_free(md);
	for (unsigned int i = 0; i < n; i++)
		snprintf(hex + 2 * i, 3, "%02x", d[i]);
}

static long long file_size(const char *path)
{
	struct stat st;

	return stat(path, &st) == 0 ? (long long)st.st_size : -1;
}

/* The first column of the first row of `sql` on database file `path`. */
static long long query_int(const char *path, const char *sql)
{
	sqlite3 *db;
	sqlite3_stmt *st;
	long long v = -1;

	assert_int_equal(sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
	if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK)
		fail_msg("%s on %s: %s", sql, path, sqlite3_errmsg(db));
	if (sqlite3_step(st) == SQLITE_ROW)
		v = sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	sqlite3_close(db);
	return v;
}

/* PRAGMA integrity_check's verdict on `path` is "ok". */
static int integrity_ok(const char *path)
{
	sqlite3 *db;
	sqlite3_stmt *st;
	int ok = 0;

	if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL) == SQLITE_OK &&
	    sqlite3_prepare_v2(db, "PRAGMA integrity_check", -1, &st, NULL) == SQLITE_OK) {
		ok = sqlite3_step(st) == SQLITE_ROW &&
		     strcmp((const char *)sqlite3_column_text(st, 0), "ok") == 0;
		sqlite3_finalize(st);
	}
	sqlite3_close(db);
	return ok;
}

/* Whether directory `dir` holds a file whose name contains `part`. */
static int dir_has(const char *dir, const char *part)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	int found = 0;

	assert_non_null(d);
	while ((e = readdir(d)) != NULL)
		found |= strstr(e->d_name, part) != NULL;
	closedir(d);
	return found;
}

/* How many descriptors of process `pid` name a file containing `part`
 * (an unlinked one shows as "<name> (deleted)"). */
static int fds_naming(pid_t pid, const char *part)
{
	char path[64], link[4096];
	DIR *d;
	struct dirent *e;
	int n = 0;

	snprintf(path, sizeof(path), "/proc/%d/fd", (int)pid);
	d = opendir(path);
	assert_non_null(d);
	while ((e = readdir(d)) != NULL) {
		char fd_path[320];
		ssize_t len;

		snprintf(fd_path, sizeof(fd_path), "%s/%s", path, e->d_name);
		len = readlink(fd_path, link, sizeof(link) - 1);
		if (len <= 0)
			continue;
		link[len] = '\0';
		n += strstr(link, part) != NULL;
	}
	closedir(d);
	return n;
}

/* Runs `aniworld-server <sub>` with `args` (NULL-terminated), its output
 * appended to `log`; returns its exit status, or -1. */
static int run_sub(const char *log, const char *sub, const char *const *args)
{
	const char *argv[16];
	size_t n = 0;
	pid_t pid;
	int status;

	argv[n++] = AW_SERVER_BINARY;
	argv[n++] = sub;
	for (size_t i = 0; args[i] != NULL && n < 15; i++)
		argv[n++] = args[i];
	argv[n] = NULL;
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		int fd = open(log, O_WRONLY | O_CREAT | O_APPEND, 0644);
		if (fd >= 0) {
			dup2(fd, 1);
			dup2(fd, 2);
		}
		execv(AW_SERVER_BINARY, (char *const *)argv);
		_exit(127);
	}
	if (waitpid(pid, &status, 0) != pid || !WIFEXITED(status))
		return -1;
	return WEXITSTATUS(status);
}

static int run_restore(const char *log, const char *const *args)
{
	return run_sub(log, "restore", args);
}

/* Whether file `path` holds `needle`. */
static int file_has(const char *path, const char *needle)
{
	char buf[16384];
	FILE *f = fopen(path, "r");
	size_t n;

	if (f == NULL)
		return 0;
	n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = '\0';
	return strstr(buf, needle) != NULL;
}

/* ---- snapshots under writes ---------------------------------------------------------------- */

#define WRITERS 3

typedef struct writer {
	aw_client *client;
	int id;
	atomic_int acked;     /* writes w<id>-0 .. acked-1 are acknowledged */
	atomic_int failures;
	atomic_int *stop;
	aw_err err;
} writer;

static void *writer_main(void *arg)
{
	writer *w = arg;
	char key[32];

	for (int n = 0; !atomic_load(w->stop); n++) {
		snprintf(key, sizeof(key), "w%d-%d", w->id, n);
		if (create(w->client, key, 200, 'w', &w->err) != 0) {
			atomic_fetch_add(&w->failures, 1);
			break;
		}
		atomic_store(&w->acked, n + 1);
	}
	return NULL;
}

/* Copies the pipe to the file, and after the first bytes waits for the
 * writers to make `more` writes: so the stream is open while they write. */
typedef struct slow_reader {
	int in;
	const char *path;
	writer *writers;
	int more;
	int waited_ok;
} slow_reader;

static int total_acked(const writer *ws)
{
	int n = 0;

	for (int i = 0; i < WRITERS; i++)
		n += atomic_load(&ws[i].acked);
	return n;
}

static void *slow_reader_main(void *arg)
{
	slow_reader *r = arg;
	char buf[65536];
	int out = open(r->path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	int first = 1;
	ssize_t n;

	while ((n = read(r->in, buf, sizeof(buf))) > 0) {
		if (write(out, buf, (size_t)n) != n)
			break;
		if (first) {
			int target = total_acked(r->writers) + r->more;
			long long until = server_proc_now_ms() + 20000;

			first = 0;
			while (total_acked(r->writers) < target && server_proc_now_ms() < until)
				usleep(2000);
			r->waited_ok = total_acked(r->writers) >= target;
		}
	}
	close(out);
	return NULL;
}

static void test_admin_snapshot_under_writes(void **state)
{
	fixture *f = *state;
	Aniworld__Admin__V1__SnapshotSummary *sum = NULL;
	writer ws[WRITERS];
	pthread_t wt[WRITERS], rt;
	atomic_int stop_flag = 0;
	int before[WRITERS], pipefd[2];
	char snap[128], hex[65], sql[128];
	slow_reader reader;
	aw_err err;
	int rc;

	start(f, 1);
	fill_bulk(f->data, BULK_SERIES, BULK_BYTES);
	for (int i = 0; i < WRITERS; i++) {
		ws[i] = (writer){.client = f->data, .id = i, .stop = &stop_flag};
		assert_int_equal(pthread_create(&wt[i], NULL, writer_main, &ws[i]), 0);
	}
	/* Every writer under way. */
	for (long long until = server_proc_now_ms() + 20000; server_proc_now_ms() < until;) {
		int all = 1;
		for (int i = 0; i < WRITERS; i++)
			all &= atomic_load(&ws[i].acked) >= 10;
		if (all)
			break;
		usleep(2000);
	}
	for (int i = 0; i < WRITERS; i++)
		before[i] = atomic_load(&ws[i].acked);

	snprintf(snap, sizeof(snap), "%s/snap.db", f->dir);
	assert_int_equal(pipe(pipefd), 0);
	reader = (slow_reader){.in = pipefd[0], .path = snap, .writers = ws, .more = 30};
	assert_int_equal(pthread_create(&rt, NULL, slow_reader_main, &reader), 0);
	rc = aw_admin_snapshot(f->admin, pipefd[1], 60000, &sum, &err, NULL);
	close(pipefd[1]);
	pthread_join(rt, NULL);
	close(pipefd[0]);
	atomic_store(&stop_flag, 1);
	for (int i = 0; i < WRITERS; i++)
		pthread_join(wt[i], NULL);
	if (rc != 0)
		fail_msg("snapshot: %s (%s)", err.msg, aw_err_name(rc));

	/* Writes went on while the stream was open, and none failed. */
	assert_true(reader.waited_ok);
	for (int i = 0; i < WRITERS; i++) {
		if (atomic_load(&ws[i].failures) != 0)
			fail_msg("writer %d failed: %s", i, ws[i].err.msg);
	}
	/* The file is what the summary says. */
	assert_non_null(sum);
	assert_string_equal(sum->format, "sqlite3");
	assert_int_equal(sum->size_bytes, file_size(snap));
	sha256_file(snap, hex);
	assert_string_equal(sum->sha256, hex);
	assert_true(sum->size_bytes > 2 * 1024 * 1024); /* several chunks */
	aniworld__admin__v1__snapshot_summary__free_unpacked(sum, NULL);

	/* A database that passes its check, holding every write acknowledged
	 * before the snapshot began, and of each writer a prefix (one moment). */
	assert_true(integrity_ok(snap));
	assert_int_equal(query_int(snap, "SELECT count(*) FROM anime_series WHERE key LIKE 'bulk-%'"),
			 BULK_SERIES);
	assert_int_equal(query_int(snap, "SELECT min(length(description)) FROM anime_series "
					 "WHERE key LIKE 'bulk-%'"), BULK_BYTES);
	for (int i = 0; i < WRITERS; i++) {
		long long count, top;

		snprintf(sql, sizeof(sql), "SELECT count(*) FROM anime_series WHERE key LIKE 'w%d-%%'",
			 i);
		count = query_int(snap, sql);
		snprintf(sql, sizeof(sql),
			 "SELECT max(CAST(substr(key, %d) AS INTEGER)) FROM anime_series "
			 "WHERE key LIKE 'w%d-%%'", i < 10 ? 4 : 5, i);
		top = query_int(snap, sql);
		if (count < before[i])
			fail_msg("writer %d: %d writes acknowledged before the snapshot, %lld in it", i,
				 before[i], count);
		assert_int_equal(top, count - 1);
		assert_true(count <= atomic_load(&ws[i].acked));
	}
	/* Nothing left beside the database. */
	assert_false(dir_has(f->dir, ".snapshot-"));
	assert_int_equal(fds_naming(f->srv.pid, ".snapshot-"), 0);
	stop(f);
}

/* ---- a client that goes away mid-stream --------------------------------------------------- */

/*
 * Calls Snapshot on a channel of its own with a small receive window (BDP
 * probing off), so that the server cannot push the whole file into the
 * connection's buffers: takes the first message (then sets *got_first, may be
 * NULL), then with `leave` cancels the call and closes the connection;
 * without, reads nothing more until *go_on is set, then reads what is left
 * (grpc hands out the status only after every message). The call's status
 * goes to *final_status (may be NULL). Returns the first message's size (-1:
 * none came).
 */
static long raw_snapshot(const char *target, const char *token, int leave,
			 atomic_int *got_first, atomic_int *go_on, int *final_status)
{
	grpc_arg args[2];
	grpc_channel_args chargs = {2, args};
	grpc_channel_credentials *creds;
	grpc_channel *ch;
	grpc_completion_queue *cq;
	grpc_call *call;
	grpc_metadata md;
	grpc_metadata_array md_in, md_trail;
	grpc_byte_buffer *send, *recv = NULL;
	grpc_slice empty = grpc_empty_slice(), details = grpc_empty_slice();
	grpc_status_code status;
	grpc_op ops[4];
	char bearer[128];
	long got = -1;

	grpc_init();
	args[0].type = GRPC_ARG_INTEGER;
	args[0].key = (char *)GRPC_ARG_HTTP2_BDP_PROBE;
	args[0].value.integer = 0;
	args[1].type = GRPC_ARG_INTEGER;
	args[1].key = (char *)GRPC_ARG_HTTP2_STREAM_LOOKAHEAD_BYTES;
	args[1].value.integer = 65536;
	creds = grpc_insecure_credentials_create();
	ch = grpc_channel_create(target, creds, &chargs);
	grpc_channel_credentials_release(creds);
	cq = grpc_completion_queue_create_for_pluck(NULL);
	call = grpc_channel_create_call(ch, NULL, GRPC_PROPAGATE_DEFAULTS, cq,
					grpc_slice_from_static_string(
						"/aniworld.admin.v1.AdminService/Snapshot"),
					NULL, gpr_inf_future(GPR_CLOCK_MONOTONIC), NULL);
	snprintf(bearer, sizeof(bearer), "Bearer %s", token);
	md.key = grpc_slice_from_static_string("authorization");
	md.value = grpc_slice_from_copied_string(bearer);
	send = grpc_raw_byte_buffer_create(&empty, 1);
	grpc_metadata_array_init(&md_in);
	grpc_metadata_array_init(&md_trail);
	memset(ops, 0, sizeof(ops));
	ops[0].op = GRPC_OP_SEND_INITIAL_METADATA;
	ops[0].data.send_initial_metadata.count = 1;
	ops[0].data.send_initial_metadata.metadata = &md;
	ops[1].op = GRPC_OP_SEND_MESSAGE;
	ops[1].data.send_message.send_message = send;
	ops[2].op = GRPC_OP_SEND_CLOSE_FROM_CLIENT;
	ops[3].op = GRPC_OP_RECV_INITIAL_METADATA;
	ops[3].data.recv_initial_metadata.recv_initial_metadata = &md_in;
	assert_int_equal(grpc_call_start_batch(call, ops, 4, &ops[0], NULL), GRPC_CALL_OK);
	grpc_completion_queue_pluck(cq, &ops[0], gpr_inf_future(GPR_CLOCK_REALTIME), NULL);
	memset(ops, 0, sizeof(ops));
	ops[0].op = GRPC_OP_RECV_MESSAGE;
	ops[0].data.recv_message.recv_message = &recv;
	assert_int_equal(grpc_call_start_batch(call, ops, 1, &ops[0], NULL), GRPC_CALL_OK);
	grpc_completion_queue_pluck(cq, &ops[0], gpr_inf_future(GPR_CLOCK_REALTIME), NULL);
	if (recv != NULL) {
		got = (long)grpc_byte_buffer_length(recv);
		grpc_byte_buffer_destroy(recv);
	}
	if (got_first != NULL)
		atomic_store(got_first, 1);
	/* Gone: the call cancelled, then the connection closed. Or stalled:
	 * reading nothing more, waiting for the end. */
	if (leave) {
		grpc_call_cancel(call, NULL);
	} else {
		while (!atomic_load(go_on))
			usleep(2000);
		do {
			recv = NULL;
			memset(ops, 0, sizeof(ops));
			ops[0].op = GRPC_OP_RECV_MESSAGE;
			ops[0].data.recv_message.recv_message = &recv;
			if (grpc_call_start_batch(call, ops, 1, &ops[0], NULL) != GRPC_CALL_OK)
				break;
			grpc_completion_queue_pluck(cq, &ops[0], gpr_inf_future(GPR_CLOCK_REALTIME),
						    NULL);
			if (recv != NULL)
				grpc_byte_buffer_destroy(recv);
		} while (recv != NULL);
	}
	memset(ops, 0, sizeof(ops));
	ops[0].op = GRPC_OP_RECV_STATUS_ON_CLIENT;
	ops[0].data.recv_status_on_client.trailing_metadata = &md_trail;
	ops[0].data.recv_status_on_client.status = &status;
	ops[0].data.recv_status_on_client.status_details = &details;
	assert_int_equal(grpc_call_start_batch(call, ops, 1, &ops[0], NULL), GRPC_CALL_OK);
	grpc_completion_queue_pluck(cq, &ops[0], gpr_inf_future(GPR_CLOCK_REALTIME), NULL);
	if (final_status != NULL)
		*final_status = (int)status;
	grpc_call_unref(call);
	grpc_channel_destroy(ch);
	grpc_completion_queue_shutdown(cq);
	grpc_completion_queue_destroy(cq);
	grpc_byte_buffer_destroy(send);
	grpc_slice_unref(md.value);
	grpc_slice_unref(details);
	grpc_metadata_array_destroy(&md_in);
	grpc_metadata_array_destroy(&md_trail);
	grpc_shutdown();
	return got;
}

typedef struct quitter {
	int in;
	size_t take; /* bytes read before closing the pipe */
} quitter;

static void *quitter_main(void *arg)
{
	quitter *q = arg;
	char buf[4096];
	size_t got = 0;
	ssize_t n;

	while (got < q->take && (n = read(q->in, buf, sizeof(buf))) > 0)
		got += (size_t)n;
	close(q->in);
	return NULL;
}

/* Waits until the server holds no snapshot file open; 1 if so. */
static int snapshot_fds_gone(pid_t pid, int ms)
{
	long long until = server_proc_now_ms() + ms;

	while (fds_naming(pid, ".snapshot-") > 0) {
		if (server_proc_now_ms() > until)
			return 0;
		usleep(5000);
	}
	return 1;
}

static void test_admin_snapshot_client_disconnects(void **state)
{
	fixture *f = *state;
	char snap[128];
	int pipefd[2], rc;
	pthread_t t;
	quitter q;
	aw_err err;

	start(f, 1);
	fill_bulk(f->data, BULK_SERIES, BULK_BYTES);

	/* A client that takes the first chunk and goes: the server sees the
	 * stream cancelled in the middle, and lets go of its copy: no file, no
	 * descriptor of one. */
	assert_true(raw_snapshot(f->srv.target, ADMIN_TOKEN, 1, NULL, NULL, NULL) > 1024 * 1024 - 16);
	if (!server_proc_log_wait(&f->srv, "AdminService/Snapshot CANCELLED", 1, 10000))
		fail_msg("the server did not see the snapshot stream cancelled (log %s)", f->srv.log);
	assert_true(snapshot_fds_gone(f->srv.pid, 10000));
	assert_false(dir_has(f->dir, ".snapshot-"));

	/* The client library's side: the file it writes to fails; it cancels. */
	assert_int_equal(pipe(pipefd), 0);
	q = (quitter){.in = pipefd[0], .take = 100 * 1024};
	assert_int_equal(pthread_create(&t, NULL, quitter_main, &q), 0);
	/* The write to the closed pipe fails; the client cancels the stream. */
	rc = aw_admin_snapshot(f->admin, pipefd[1], 60000, NULL, &err, NULL);
	pthread_join(t, NULL);
	close(pipefd[1]);
	assert_int_equal(rc, AW_EIO);

	assert_true(snapshot_fds_gone(f->srv.pid, 10000));
	assert_false(dir_has(f->dir, ".snapshot-"));

	/* And serves the next one whole. */
	snprintf(snap, sizeof(snap), "%s/snap.db", f->dir);
	rc = snapshot_to(f->admin, snap, NULL, &err);
	if (rc != 0)
		fail_msg("snapshot after a disconnect: %s", err.msg);
	assert_true(integrity_ok(snap));
	assert_int_equal(get(f->data, "bulk-0", &err), 0);
	stop(f);
}

/* ---- shutdown during a snapshot -------------------------------------------------------------- */

typedef struct stalled_call {
	const char *target;
	atomic_int got_first, go_on;
	int status;
	long first;
} stalled_call;

static void *stalled_main(void *arg)
{
	stalled_call *sc = arg;

	sc->first = raw_snapshot(sc->target, ADMIN_TOKEN, 0, &sc->got_first, &sc->go_on,
				 &sc->status);
	return NULL;
}

static void test_admin_snapshot_ends_at_shutdown(void **state)
{
	fixture *f = *state;
	const char *args[] = {"--auth-tokens-file", f->data_file, "--admin-tokens-file",
			      f->admin_file, "--shutdown-grace", "1s", NULL};
	stalled_call sc;
	pthread_t t;
	int status;

	assert_int_equal(server_proc_start(&f->srv, f->db, args), 0);
	f->data = connect_with(f->srv.target, DATA_TOKEN);
	fill_bulk(f->data, BULK_SERIES, BULK_BYTES);

	/* A snapshot whose client stops reading after the first chunk. */
	memset(&sc, 0, sizeof(sc));
	sc.target = f->srv.target;
	assert_int_equal(pthread_create(&t, NULL, stalled_main, &sc), 0);
	for (long long until = server_proc_now_ms() + 20000;
	     !atomic_load(&sc.got_first) && server_proc_now_ms() < until;)
		usleep(2000);
	assert_true(atomic_load(&sc.got_first));

	/* SIGTERM: the snapshot ends, and the server exits 0 all the same. */
	aw_client_free(f->data);
	f->data = NULL;
	status = server_proc_stop(&f->srv, SIGTERM);
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
		fail_msg("the server did not exit 0 on SIGTERM during a snapshot (status %#x); log %s",
			 status, f->srv.log);
	atomic_store(&sc.go_on, 1);
	pthread_join(t, NULL);
	assert_true(sc.first > 1024 * 1024 - 16);
	/* The stream did not end OK: the client knows it has no snapshot. */
	assert_int_not_equal(sc.status, GRPC_STATUS_OK);
	assert_int_equal(server_proc_log_count(&f->srv, "AdminService/Snapshot UNAVAILABLE"), 1);
	assert_true(server_proc_log_count(&f->srv, "the server is shutting down") >= 1);
	assert_false(dir_has(f->dir, ".snapshot-"));
}

/* ---- a full disk -------------------------------------------------------------------------- */

/* Writes `path` until the file system holding it has about `leave` bytes free. */
static void fill_leaving(const char *path, long long leave)
{
	static char block[65536];
	struct statvfs vfs;
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);

	assert_true(fd >= 0);
	memset(block, 'x', sizeof(block));
	for (;;) {
		assert_int_equal(fstatvfs(fd, &vfs), 0);
		if ((long long)vfs.f_bavail * (long long)vfs.f_frsize <= leave + (long long)sizeof(block))
			break;
		assert_int_equal(write(fd, block, sizeof(block)), (ssize_t)sizeof(block));
	}
	assert_int_equal(fsync(fd), 0);
	close(fd);
}

static void test_admin_snapshot_disk_full(void **state)
{
	fixture *f = *state;
	char fs[96], filler[128], snap[128];
	aw_err err;
	int rc;

	need_mounts();
	snprintf(fs, sizeof(fs), "%s/fs", f->dir);
	assert_int_equal(mkdir(fs, 0755), 0);
	if (mount("tmpfs", fs, "tmpfs", 0, "size=8m,mode=0755") != 0)
		fail_msg("mount tmpfs: %s", strerror(errno));
	snprintf(f->db, sizeof(f->db), "%s/store.db", fs);
	snprintf(filler, sizeof(filler), "%s/filler", fs);
	start(f, 1);
	/* About 1.5 MiB of rows, then room for the writes below but not for a
	 * copy of the database. */
	fill_bulk(f->data, 24, BULK_BYTES);
	fill_leaving(filler, 512 * 1024);

	snprintf(snap, sizeof(snap), "%s/snap.db", f->dir);
	rc = snapshot_to(f->admin, snap, NULL, &err);
	if (aw_err_grpc_status(rc) != GRPC_STATUS_RESOURCE_EXHAUSTED ||
	    strstr(err.msg, "disk full") == NULL)
		fail_msg("expected RESOURCE_EXHAUSTED \"disk full...\", got %s \"%s\"", aw_err_name(rc),
			 err.msg);
	/* Nothing left behind, and the server goes on: reads, writes, health. */
	assert_false(dir_has(fs, ".snapshot-"));
	assert_int_equal(fds_naming(f->srv.pid, ".snapshot-"), 0);
	assert_true(server_proc_healthy(f->srv.target));
	assert_int_equal(get(f->data, "bulk-3", &err), 0);
	rc = create(f->data, "after-full-snapshot", 100, 'x', &err);
	if (rc != 0)
		fail_msg("write after a failed snapshot: %s", err.msg);

	/* With room again, the next snapshot works and holds that write. */
	assert_int_equal(unlink(filler), 0);
	rc = snapshot_to(f->admin, snap, NULL, &err);
	if (rc != 0)
		fail_msg("snapshot with room: %s", err.msg);
	assert_int_equal(query_int(snap, "SELECT count(*) FROM anime_series "
					 "WHERE key = 'after-full-snapshot'"), 1);
	stop(f);
	assert_int_equal(umount2(fs, 0), 0);
}

/* ---- admin tokens -------------------------------------------------------------------------- */

static void expect_denied(aw_client *c, const char *dir, const char *why)
{
	char snap[128];
	aw_err err;
	int rc;

	snprintf(snap, sizeof(snap), "%s/denied.db", dir);
	rc = snapshot_to(c, snap, NULL, &err);
	if (rc != AW_EPERM)
		fail_msg("%s: expected PERMISSION_DENIED, got %s \"%s\"", why, aw_err_name(rc),
			 err.msg);
	assert_int_equal(file_size(snap), 0);
}

static void test_admin_tokens(void **state)
{
	fixture *f = *state;
	aw_client *none, *wrong;
	char snap[128];
	aw_err err;
	int status;

	/* Without --admin-tokens-file: nobody, whatever they carry. */
	start(f, 0);
	none = connect_with(f->srv.target, NULL);
	expect_denied(none, f->dir, "no admin tokens file, no token");
	expect_denied(f->admin, f->dir, "no admin tokens file, a token");
	expect_denied(f->data, f->dir, "no admin tokens file, a data token");
	aw_client_free(none);
	assert_true(server_proc_log_count(&f->srv, "admin service disabled") >= 1);
	stop(f);

	/* With it: only its tokens; data tokens do not open it, nor it data. */
	start(f, 1);
	none = connect_with(f->srv.target, NULL);
	wrong = connect_with(f->srv.target, "not-a-token");
	expect_denied(none, f->dir, "no token");
	expect_denied(wrong, f->dir, "a wrong token");
	expect_denied(f->data, f->dir, "a data token");
	assert_int_equal(get(f->admin, "none", &err), AW_EUNAUTH);
	snprintf(snap, sizeof(snap), "%s/snap.db", f->dir);
	assert_int_equal(snapshot_to(f->admin, snap, NULL, &err), 0);
	/* No token appears in the log. */
	assert_int_equal(server_proc_log_count(&f->srv, ADMIN_TOKEN), 0);
	assert_int_equal(server_proc_log_count(&f->srv, "not-a-token"), 0);

	/* SIGHUP takes a new admin token and drops the old one. */
	write_text(f->admin_file, "admin-secret-2\n");
	assert_int_equal(kill(f->srv.pid, SIGHUP), 0);
	assert_true(server_proc_log_wait(&f->srv, "SIGHUP: reloaded", 1, 10000));
	expect_denied(f->admin, f->dir, "a rotated-out admin token");
	aw_client *rotated = connect_with(f->srv.target, "admin-secret-2");
	status = snapshot_to(rotated, snap, NULL, &err);
	if (status != 0)
		fail_msg("the new admin token: %s", err.msg);
	aw_client_free(rotated);
	aw_client_free(none);
	aw_client_free(wrong);
	stop(f);
}

/* ---- restore ----------------------------------------------------------------------------------- */

/* Takes a snapshot of a database with the bulk rows and "marker", into
 * <dir>/snap.db with its checksum file <dir>/snap.db.sha256 (sha256sum's
 * format), then stops the server. */
static void snapshot_with_checksum(fixture *f, char *snap, size_t n, char *sums, size_t m)
{
	Aniworld__Admin__V1__SnapshotSummary *sum = NULL;
	char line[256];
	aw_err err;

	start(f, 1);
	fill_bulk(f->data, 8, 16 * 1024);
	assert_int_equal(create(f->data, "marker", 10, 'm', &err), 0);
	snprintf(snap, n, "%s/snap.db", f->dir);
	snprintf(sums, m, "%s/snap.db.sha256", f->dir);
	if (snapshot_to(f->admin, snap, &sum, &err) != 0)
		fail_msg("snapshot: %s", err.msg);
	snprintf(line, sizeof(line), "%s  snap.db\n", sum->sha256);
	write_text(sums, line);
	aniworld__admin__v1__snapshot_summary__free_unpacked(sum, NULL);
	stop(f);
}

static void test_admin_restore_round_trip(void **state)
{
	fixture *f = *state;
	char snap[128], sums[128], target[160], log[128];
	aw_err err;

	/* The snapshot as a CronJob takes it: `aniworld-server snapshot`, which
	 * writes the file and its checksum file. */
	snprintf(log, sizeof(log), "%s/restore.log", f->dir);
	snprintf(snap, sizeof(snap), "%s/backups/snap.db", f->dir);
	snprintf(sums, sizeof(sums), "%s/backups/snap.db.sha256", f->dir);
	snprintf(target, sizeof(target), "%s/backups", f->dir);
	assert_int_equal(mkdir(target, 0755), 0);
	start(f, 1);
	fill_bulk(f->data, 8, 16 * 1024);
	assert_int_equal(create(f->data, "marker", 10, 'm', &err), 0);
	const char *take[] = {"--target", f->srv.target, "--out", snap, "--token-file",
			      f->admin_file, NULL};
	assert_int_equal(run_sub(log, "snapshot", take), 0);
	assert_true(file_has(log, "checksum in"));
	assert_true(file_has(sums, "  snap.db\n"));
	assert_false(dir_has(target, ".tmp-"));
	/* With a data token it is refused, and leaves nothing. */
	snprintf(target, sizeof(target), "%s/backups/refused.db", f->dir);
	const char *refused[] = {"--target", f->srv.target, "--out", target, "--token-file",
				 f->data_file, NULL};
	assert_int_equal(run_sub(log, "snapshot", refused), 1);
	assert_true(file_has(log, "PERMISSION_DENIED") || file_has(log, "AW_EPERM"));
	assert_int_equal(file_size(target), -1);
	snprintf(target, sizeof(target), "%s/backups", f->dir);
	assert_false(dir_has(target, ".tmp-"));
	stop(f);

	/* Into a fresh path (a new volume). */
	snprintf(target, sizeof(target), "%s/restored.db", f->dir);
	const char *fresh[] = {"--from", snap, "--db", target, "--sha256", sums, NULL};
	assert_int_equal(run_restore(log, fresh), 0);
	assert_true(file_has(log, "(SHA-256 checked)"));
	assert_false(dir_has(f->dir, ".restore-"));

	/* Again: it exists now, so only with --force. */
	assert_int_equal(run_restore(log, fresh), 1);
	assert_true(file_has(log, "exists: restore replaces a database only with --force"));

	/* A server on it has every row. */
	snprintf(f->db, sizeof(f->db), "%s", target);
	start(f, 1);
	assert_int_equal(get(f->data, "marker", &err), 0);
	assert_int_equal(get(f->data, "bulk-7", &err), 0);
	assert_int_equal(create(f->data, "after-restore", 10, 'x', &err), 0);

	/* --force is refused while a server has the database open. */
	const char *forced[] = {"--from", snap, "--db", target, "--force", NULL};
	assert_int_equal(run_restore(log, forced), 1);
	assert_true(file_has(log, "is in use"));
	assert_int_equal(get(f->data, "after-restore", &err), 0);
	stop(f);

	/* Offline, --force replaces it: the write made since is gone, the WAL too. */
	assert_int_equal(run_restore(log, forced), 0);
	start(f, 1);
	assert_int_equal(get(f->data, "marker", &err), 0);
	assert_int_equal(get(f->data, "after-restore", &err), AW_ENOTFOUND);
	stop(f);
	assert_false(dir_has(f->dir, ".restore-"));
}

/* Overwrites `len` bytes of `path` at `offset` with garbage. */
static void damage(const char *path, off_t offset, size_t len)
{
	char junk[4096];
	int fd = open(path, O_WRONLY);

	assert_true(fd >= 0 && len <= sizeof(junk));
	for (size_t i = 0; i < len; i++)
		junk[i] = (char)(0x5a ^ (int)(i * 7));
	assert_int_equal(pwrite(fd, junk, len, offset), (ssize_t)len);
	close(fd);
}

static void copy_file(const char *from, const char *to)
{
	char cmd[512];

	snprintf(cmd, sizeof(cmd), "cp '%s' '%s'", from, to);
	assert_int_equal(system(cmd), 0);
}

static void test_admin_restore_refuses_bad_files(void **state)
{
	fixture *f = *state;
	char snap[128], sums[128], bad[128], target[160], log[128];
	sqlite3 *db;

	snapshot_with_checksum(f, snap, sizeof(snap), sums, sizeof(sums));
	snprintf(log, sizeof(log), "%s/restore.log", f->dir);
	snprintf(bad, sizeof(bad), "%s/bad.db", f->dir);
	snprintf(target, sizeof(target), "%s/target.db", f->dir);

	/* Damaged pages (their headers: what a torn or rotten block does to a
	 * b-tree or an overflow chain): the checksum does not match. */
	copy_file(snap, bad);
	for (int page = 1; page < 8; page++)
		damage(bad, (off_t)page * 4096, 16);
	const char *checked[] = {"--from", bad, "--db", target, "--sha256", sums, NULL};
	assert_int_equal(run_restore(log, checked), 1);
	assert_true(file_has(log, "does not match its checksum"));
	assert_int_equal(file_size(target), -1);

	/* Without a checksum file, integrity_check finds it. */
	const char *unchecked[] = {"--from", bad, "--db", target, NULL};
	assert_int_equal(run_restore(log, unchecked), 1);
	assert_true(file_has(log, "integrity_check"));
	assert_int_equal(file_size(target), -1);

	/* A file cut short. */
	copy_file(snap, bad);
	assert_int_equal(truncate(bad, file_size(snap) / 2), 0);
	assert_int_equal(run_restore(log, unchecked), 1);
	assert_int_equal(file_size(target), -1);

	/* No database at all. */
	write_text(bad, "this is not a database, only some text that goes on for a while\n");
	assert_int_equal(run_restore(log, unchecked), 1);
	assert_true(file_has(log, "is not a usable database snapshot"));
	assert_int_equal(file_size(target), -1);

	/* A schema newer than this build. */
	copy_file(snap, bad);
	assert_int_equal(sqlite3_open(bad, &db), SQLITE_OK);
	assert_int_equal(sqlite3_exec(db, "PRAGMA user_version = 9999", NULL, NULL, NULL),
			 SQLITE_OK);
	sqlite3_close(db);
	assert_int_equal(run_restore(log, unchecked), 1);
	assert_true(file_has(log, "schema version 9999, newer than this server's"));
	assert_int_equal(file_size(target), -1);

	/* A checksum file that holds no checksum. */
	write_text(sums, "nothing here\n");
	const char *no_sum[] = {"--from", snap, "--db", target, "--sha256", sums, NULL};
	assert_int_equal(run_restore(log, no_sum), 1);
	assert_true(file_has(log, "does not begin with 64 hex digits"));

	/* Usage errors. */
	const char *missing[] = {"--from", snap, NULL};
	assert_int_equal(run_restore(log, missing), 2);

	/* Nothing half-made was left anywhere. */
	assert_int_equal(file_size(target), -1);
	assert_false(dir_has(f->dir, ".restore-"));
	/* And a good one still restores. */
	const char *good[] = {"--from", snap, "--db", target, NULL};
	assert_int_equal(run_restore(log, good), 0);
	assert_true(integrity_ok(target));
}

/* ---- PostgreSQL ------------------------------------------------------------------------------ */

typedef struct pg_fixture {
	harness h;
	char dir[64];
	char admin_file[128];
} pg_fixture;

static void pg_configure(aw_config *cfg, void *arg)
{
	pg_fixture *p = arg;

	cfg->admin_tokens_file = p->admin_file;
}

static void test_admin_snapshot_unimplemented_pg(void **state)
{
	pg_fixture p;
	aw_client *c;
	char snap[128], log[128];
	aw_err err;
	int rc;

	(void)state;
	memset(&p, 0, sizeof(p));
	snprintf(p.dir, sizeof(p.dir), "/tmp/aw-admin-pg-XXXXXX");
	assert_non_null(mkdtemp(p.dir));
	snprintf(p.admin_file, sizeof(p.admin_file), "%s/admin-tokens", p.dir);
	write_text(p.admin_file, ADMIN_TOKEN "\n");
	p.h.configure = pg_configure;
	p.h.configure_arg = &p;
	assert_int_equal(harness_start(&p.h), 0);

	c = connect_with(p.h.target, ADMIN_TOKEN);
	snprintf(snap, sizeof(snap), "%s/snap.db", p.dir);
	rc = snapshot_to(c, snap, NULL, &err);
	aw_client_free(c);
	if (rc != AW_EUNIMPL || strstr(err.msg, "pg_dump") == NULL)
		fail_msg("expected UNIMPLEMENTED naming pg_dump, got %s \"%s\"", aw_err_name(rc),
			 err.msg);
	assert_int_equal(file_size(snap), 0);
	/* Still an admin call: refused without the token, before the backend. */
	c = connect_with(p.h.target, NULL);
	assert_int_equal(snapshot_to(c, snap, NULL, &err), AW_EPERM);
	aw_client_free(c);

	/* restore takes SQLite files only. */
	snprintf(log, sizeof(log), "%s/restore.log", p.dir);
	write_text(snap, "whatever");
	const char *args[] = {"--from", snap, "--db", p.h.db, NULL};
	assert_int_equal(run_restore(log, args), 1);
	assert_true(file_has(log, "pg_restore"));

	harness_cleanup(&p.h);
	char cmd[128];
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", p.dir);
	assert_int_equal(system(cmd), 0);
}

int main(void)
{
	const struct CMUnitTest sqlite_tests[] = {
		cmocka_unit_test_setup_teardown(test_admin_snapshot_under_writes, setup, teardown),
		cmocka_unit_test_setup_teardown(test_admin_snapshot_client_disconnects, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_admin_snapshot_ends_at_shutdown, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_admin_snapshot_disk_full, setup, teardown),
		cmocka_unit_test_setup_teardown(test_admin_tokens, setup, teardown),
		cmocka_unit_test_setup_teardown(test_admin_restore_round_trip, setup, teardown),
		cmocka_unit_test_setup_teardown(test_admin_restore_refuses_bad_files, setup,
						teardown),
	};
	const struct CMUnitTest pg_tests[] = {
		cmocka_unit_test(test_admin_snapshot_unimplemented_pg),
	};

	/* A write to a pipe whose reader left fails with EPIPE instead. */
	signal(SIGPIPE, SIG_IGN);
	if (test_db_is_postgres())
		return cmocka_run_group_tests(pg_tests, NULL, NULL);
	/* Before any thread: mounts made from here on are this process's alone. */
	if (unshare(CLONE_NEWNS) == 0 && mount("none", "/", "none", MS_REC | MS_PRIVATE, NULL) == 0)
		can_mount = 1;
	return cmocka_run_group_tests(sqlite_tests, NULL, NULL);
}
