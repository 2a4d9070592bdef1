/*
 * End to end: storage faults, with the real server binary (server_proc.h) and
 * the client library. For each fault: the status and message callers get, the
 * log line, what keeps working, and that nothing failed is stored
 * (server/repo/sqlite/sqlite.c aw__sq_error and the read-only open,
 * server/repo/writer.c, the storage hook in server/server.c).
 *
 * How each fault is made, as root, in a private mount namespace of this test
 * (unshare at the start of main, before any thread: the mounts vanish with
 * the process, whatever happens):
 *   - disk full: a 2 MiB tmpfs holding the database, filled up by a file;
 *     freeing it is deleting that file. A real ENOSPC, as a full volume gives.
 *     Also a file size limit on the server (RLIMIT_FSIZE, EFBIG), raised
 *     while it runs: no privilege needed.
 *   - read-only: read-only bind mounts, of the file alone and of its
 *     directory, as a read-only volume or file system gives; root ignores
 *     permission bits, so chmod would prove nothing.
 *   - locked: the sqlite3 shell, another process, holding BEGIN EXCLUSIVE.
 *   - corrupt: garbage written over one page of a table; and a file that is
 *     not a database at all.
 * Without the privilege to mount, the tests that need mounts are skipped.
 */
#define _GNU_SOURCE /* unshare */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <sched.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>
#include <grpc/status.h>
#include <sqlite3.h>

#include "aniworld/client.h"
#include "server_proc.h"

static int can_mount; /* a private mount namespace of our own */

/* ---- set-up --------------------------------------------------------------------------- */

typedef struct fixture {
	char dir[64];      /* temporary directory */
	char db[160];      /* the database file, where each test puts it */
	server_proc srv;
	aw_client *client; /* for srv, while it runs */
} fixture;

static int setup(void **state)
{
	fixture *f = calloc(1, sizeof(*f));

	if (f == NULL)
		return -1;
	snprintf(f->dir, sizeof(f->dir), "/tmp/aw-faults-XXXXXX");
	if (mkdtemp(f->dir) == NULL)
		return -1;
	snprintf(f->db, sizeof(f->db), "%s/store.db", f->dir);
	snprintf(f->srv.log, sizeof(f->srv.log), "%s/server.log", f->dir);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	fixture *f = *state;
	char cmd[128];

	aw_client_free(f->client);
	server_proc_stop(&f->srv, SIGKILL);
	/* What a failed test left mounted. */
	const char *mounts[] = {"fs", "view", "data/store.db"};
	for (size_t i = 0; i < sizeof(mounts) / sizeof(mounts[0]); i++) {
		snprintf(cmd, sizeof(cmd), "%s/%s", f->dir, mounts[i]);
		umount2(cmd, MNT_DETACH);
	}
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", f->dir);
	if (system(cmd) != 0)
		return -1;
	free(f);
	return 0;
}

static void need_mounts(void)
{
	if (!can_mount) {
		print_message("no private mount namespace (needs root): skipped\n");
		skip();
	}
}

/* Starts the server on f->db with `extra` arguments and connects a client. */
static void start(fixture *f, const char *const *extra)
{
	aw_client_options o;
	aw_err err;

	assert_int_equal(server_proc_start(&f->srv, f->db, extra), 0);
	aw_client_options_init(&o);
	o.deadline_ms = 20000;
	assert_int_equal(aw_client_new(&f->client, f->srv.target, &o, &err), 0);
}

/* Stops the server with SIGTERM and checks that it exited 0. */
static void stop(fixture *f)
{
	int status;

	aw_client_free(f->client);
	f->client = NULL;
	status = server_proc_stop(&f->srv, SIGTERM);
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
		fail_msg("the server did not exit 0 on SIGTERM (status %#x); log %s", status,
			 f->srv.log);
}

static void make_dir(const char *path)
{
	if (mkdir(path, 0755) != 0 && errno != EEXIST)
		fail_msg("mkdir %s: %s", path, strerror(errno));
}

static void unmount(const char *path)
{
	if (umount2(path, 0) != 0)
		fail_msg("umount %s: %s", path, strerror(errno));
}

/* Mounts a read-only view of `src` (a file or a directory) at `dst`. The
 * type, which binds ignore, is named for valgrind's sake. */
static void bind_read_only(const char *src, const char *dst)
{
	if (mount(src, dst, "none", MS_BIND, NULL) != 0)
		fail_msg("bind mount %s: %s", src, strerror(errno));
	if (mount("none", dst, "none", MS_BIND | MS_REMOUNT | MS_RDONLY, NULL) != 0)
		fail_msg("read-only remount %s: %s", dst, strerror(errno));
}

/* ---- calls ------------------------------------------------------------------------------ */

/* Creates series `key` with a description of `len` bytes; returns the client's code. */
static int create(aw_client *c, const char *key, size_t len, aw_err *err)
{
	Aniworld__V1__AnimeSeries s = ANIWORLD__V1__ANIME_SERIES__INIT, *out = NULL;
	Aniworld__V1__CreateSeriesRequest req = ANIWORLD__V1__CREATE_SERIES_REQUEST__INIT;
	char *desc = malloc(len + 1);
	int rc;

	assert_non_null(desc);
	memset(desc, 'd', len);
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

/* Reads series `key`; returns the client's code and its id in *id (may be NULL). */
static int get(aw_client *c, const char *key, int64_t *id, aw_err *err)
{
	Aniworld__V1__GetSeriesByKeyRequest req = ANIWORLD__V1__GET_SERIES_BY_KEY_REQUEST__INIT;
	Aniworld__V1__AnimeSeries *out = NULL;
	int rc;

	req.key = (char *)key;
	rc = aw_client_series_get_by_key(c, &req, &out, err, NULL);
	if (rc == 0 && id != NULL)
		*id = out->id;
	aniworld__v1__anime_series__free_unpacked(out, NULL);
	return rc;
}

/* Lists every series in one page; returns the client's code and the count. */
static int list_all(aw_client *c, int *total, aw_err *err)
{
	Aniworld__V1__ListSeriesRequest req = ANIWORLD__V1__LIST_SERIES_REQUEST__INIT;
	Aniworld__V1__ListSeriesResponse *out = NULL;
	int rc;

	req.page_size = 1000;
	rc = aw_client_series_list(c, &req, &out, err, NULL);
	if (rc == 0)
		*total = out->total_size;
	aniworld__v1__list_series_response__free_unpacked(out, NULL);
	return rc;
}

/* Changes the description of series `id`; returns the client's code. */
static int update(aw_client *c, int64_t id, const char *desc, aw_err *err)
{
	Aniworld__V1__UpdateSeriesRequest req = ANIWORLD__V1__UPDATE_SERIES_REQUEST__INIT;
	Aniworld__V1__AnimeSeries s = ANIWORLD__V1__ANIME_SERIES__INIT, *out = NULL;
	Google__Protobuf__FieldMask mask = GOOGLE__PROTOBUF__FIELD_MASK__INIT;
	char *paths[] = {"description"};
	int rc;

	s.id = id;
	s.description = (char *)desc;
	mask.n_paths = 1;
	mask.paths = paths;
	req.series = &s;
	req.update_mask = &mask;
	rc = aw_client_series_update(c, &req, &out, err, NULL);
	aniworld__v1__anime_series__free_unpacked(out, NULL);
	return rc;
}

/* Checks that `rc` is exactly the AW_E* code `code` (its gRPC status shared with
 * others: the error's reason tells them apart, issue 11) with a message starting
 * `prefix`. */
static void expect_fault(int rc, const aw_err *err, int code, const char *prefix)
{
	if (rc != code || strcmp(err->reason, aw_err_code_reason(code)) != 0 ||
	    strncmp(err->msg, prefix, strlen(prefix)) != 0)
		fail_msg("expected %s \"%s...\", got %s (reason %s) \"%s\"", aw_err_name(code), prefix,
			 aw_err_name(rc), err->reason, err->msg);
}

/* PRAGMA integrity_check and foreign_key_check on `path`, by a connection of
 * the test's own; returns 1 when both find nothing wrong. */
static int database_sound(const char *path)
{
	sqlite3 *db;
	sqlite3_stmt *st;
	int ok = 0;

	if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE, NULL) != SQLITE_OK) {
		sqlite3_close(db);
		return 0;
	}
	sqlite3_busy_timeout(db, 5000);
	if (sqlite3_prepare_v2(db, "PRAGMA integrity_check", -1, &st, NULL) == SQLITE_OK) {
		ok = sqlite3_step(st) == SQLITE_ROW &&
		     strcmp((const char *)sqlite3_column_text(st, 0), "ok") == 0;
		sqlite3_finalize(st);
	}
	if (ok && sqlite3_prepare_v2(db, "PRAGMA foreign_key_check", -1, &st, NULL) == SQLITE_OK) {
		ok = sqlite3_step(st) == SQLITE_DONE;
		sqlite3_finalize(st);
	}
	sqlite3_close(db);
	return ok;
}

/* Several creates at once, from threads of their own, so that they share
 * transactions. */
typedef struct burst {
	aw_client *client;
	char key[48];
	size_t len;
	int rc;
	aw_err err;
} burst;

static void *burst_main(void *arg)
{
	burst *b = arg;

	b->rc = create(b->client, b->key, b->len, &b->err);
	return NULL;
}

static void run_burst(burst *b, int n)
{
	pthread_t t[16];

	assert_true(n <= 16);
	for (int i = 0; i < n; i++)
		assert_int_equal(pthread_create(&t[i], NULL, burst_main, &b[i]), 0);
	for (int i = 0; i < n; i++)
		pthread_join(t[i], NULL);
}

/* ---- disk full ------------------------------------------------------------------------- */

/* Writes `path` until the file system holding it is full. */
static void fill_up(const char *path)
{
	static char block[65536];
	const size_t sizes[] = {sizeof(block), 4096, 512, 1};
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);

	assert_true(fd >= 0);
	memset(block, 'x', sizeof(block));
	/* Smaller and smaller writes: the last block of space goes too. A write of
	 * one byte is never short: it fails, with ENOSPC. */
	for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
		while (write(fd, block, sizes[i]) == (ssize_t)sizes[i])
			;
	}
	assert_int_equal(errno, ENOSPC);
	close(fd);
}

static void test_storage_disk_full(void **state)
{
	fixture *f = *state;
	char fs[96], filler[128], key[48];
	int acked[64] = {0}, n_tries = 0, failed = -1, total;
	burst b[8];
	aw_err err;

	need_mounts();
	snprintf(fs, sizeof(fs), "%s/fs", f->dir);
	make_dir(fs);
	if (mount("tmpfs", fs, "tmpfs", 0, "size=2m,mode=0755") != 0)
		fail_msg("mount tmpfs: %s", strerror(errno));
	snprintf(f->db, sizeof(f->db), "%s/store.db", fs);
	snprintf(filler, sizeof(filler), "%s/filler", fs);
	start(f, NULL);
	assert_int_equal(create(f->client, "before-full", 100, &err), 0);

	fill_up(filler);
	/* The write that needs a new block fails; the WAL may hold a little room. */
	for (n_tries = 0; n_tries < 64 && failed < 0; n_tries++) {
		snprintf(key, sizeof(key), "full-%d", n_tries);
		int rc = create(f->client, key, 3000, &err);
		if (rc == 0) {
			acked[n_tries] = 1;
		} else {
			expect_fault(rc, &err, AW_EFULL, "disk full: ");
			failed = n_tries;
		}
	}
	assert_true(failed >= 0);
	assert_true(server_proc_log_wait(&f->srv, "ERROR storage: writes failing (AW_EFULL): disk full: ",
					 1, 5000));

	/* Reads go on. */
	assert_int_equal(get(f->client, "before-full", NULL, &err), 0);
	assert_int_equal(list_all(f->client, &total, &err), 0);
	assert_true(server_proc_healthy(f->srv.target));

	/* Writes together: each is stored and acknowledged, or refused and absent. */
	for (int i = 0; i < 8; i++) {
		b[i] = (burst){.client = f->client, .len = 3000};
		snprintf(b[i].key, sizeof(b[i].key), "while-full-%d", i);
	}
	run_burst(b, 8);
	int refused = 0;
	for (int i = 0; i < 8; i++) {
		if (b[i].rc != 0) {
			expect_fault(b[i].rc, &b[i].err, AW_EFULL, "disk full: ");
			refused++;
		}
	}
	assert_true(refused > 0);

	/* Space again: writes work, without a restart. */
	assert_int_equal(unlink(filler), 0);
	assert_int_equal(create(f->client, "after-full", 3000, &err), 0);
	assert_true(server_proc_log_wait(&f->srv, "WARN  storage: writes work again", 1, 5000));

	/* After a restart: every acknowledged write is there, no refused one is. */
	stop(f);
	start(f, NULL);
	assert_int_equal(get(f->client, "before-full", NULL, &err), 0);
	assert_int_equal(get(f->client, "after-full", NULL, &err), 0);
	for (int i = 0; i < n_tries; i++) {
		snprintf(key, sizeof(key), "full-%d", i);
		assert_int_equal(get(f->client, key, NULL, &err), acked[i] ? 0 : AW_ENOTFOUND);
	}
	for (int i = 0; i < 8; i++)
		assert_int_equal(get(f->client, b[i].key, NULL, &err), b[i].rc == 0 ? 0 : AW_ENOTFOUND);
	stop(f);
	assert_true(database_sound(f->db));
	unmount(fs);
}

/*
 * A file size limit (ulimit -f, RLIMIT_FSIZE) is a full disk too: the server
 * ignores SIGXFSZ, and the write fails with EFBIG. Needs no privilege; raising
 * the limit of the running server (prlimit) is freeing space.
 */
static void test_storage_file_size_limit(void **state)
{
	fixture *f = *state;
	const char *const args[] = {"--log-level", "warn", NULL}; /* the log is a file too */
	struct rlimit none = {RLIM_INFINITY, RLIM_INFINITY};
	char key[48];
	int failed = -1;
	aw_err err;

	f->srv.fsize_limit = 256 * 1024;
	start(f, args);
	for (int i = 0; i < 400 && failed < 0; i++) {
		snprintf(key, sizeof(key), "limited-%d", i);
		int rc = create(f->client, key, 3000, &err);
		if (rc != 0) {
			expect_fault(rc, &err, AW_EFULL, "disk full: ");
			assert_non_null(strstr(err.msg, "(File too large)"));
			failed = i;
		}
	}
	assert_true(failed > 0);
	assert_int_equal(get(f->client, "limited-0", NULL, &err), 0);
	assert_true(server_proc_log_wait(&f->srv, "ERROR storage: writes failing (AW_EFULL): disk full: ",
					 1, 5000));

	if (prlimit(f->srv.pid, RLIMIT_FSIZE, &none, NULL) != 0)
		fail_msg("prlimit: %s", strerror(errno));
	assert_int_equal(create(f->client, key, 3000, &err), 0);
	assert_true(server_proc_log_wait(&f->srv, "WARN  storage: writes work again", 1, 5000));
	stop(f);
	assert_true(database_sound(f->db));
}

/* ---- read-only ---------------------------------------------------------------------------- */

/* Checks a server on a read-only database: reads of what `keys` name work,
 * writes are refused with FAILED_PRECONDITION, health is serving. */
static void expect_read_only_service(fixture *f, const char *const *keys, int n)
{
	int64_t id = 0;
	int total;
	burst b[4];
	aw_err err;

	for (int i = 0; i < n; i++)
		assert_int_equal(get(f->client, keys[i], &id, &err), 0);
	assert_int_equal(list_all(f->client, &total, &err), 0);
	assert_int_equal(total, n);
	assert_true(server_proc_healthy(f->srv.target));

	expect_fault(create(f->client, "refused", 10, &err), &err, AW_EREADONLY,
		     "database is read-only: ");
	expect_fault(update(f->client, id, "changed", &err), &err, AW_EREADONLY,
		     "database is read-only: ");
	for (int i = 0; i < 4; i++) {
		b[i] = (burst){.client = f->client, .len = 10};
		snprintf(b[i].key, sizeof(b[i].key), "refused-%d", i);
	}
	run_burst(b, 4);
	for (int i = 0; i < 4; i++)
		expect_fault(b[i].rc, &b[i].err, AW_EREADONLY,
			     "database is read-only: ");
	assert_int_equal(get(f->client, "refused", NULL, &err), AW_ENOTFOUND);
}

static void test_storage_read_only(void **state)
{
	fixture *f = *state;
	const char *keys[] = {"ro-1", "ro-2", "ro-3", "ro-in-wal"};
	char data[96], view[96], shm[200];
	int status;
	aw_err err;

	need_mounts();
	snprintf(data, sizeof(data), "%s/data", f->dir);
	snprintf(view, sizeof(view), "%s/view", f->dir);
	make_dir(data);
	make_dir(view);
	snprintf(f->db, sizeof(f->db), "%s/store.db", data);
	start(f, NULL);
	for (int i = 0; i < 3; i++)
		assert_int_equal(create(f->client, keys[i], 10, &err), 0);
	stop(f); /* checkpointed: the file stands alone */

	/* The file read-only, its directory not: SQLite opens it read-only. */
	bind_read_only(f->db, f->db);
	start(f, NULL);
	assert_int_equal(server_proc_log_count(&f->srv, "WARN  storage: database is read-only: "), 1);
	assert_int_equal(server_proc_log_count(&f->srv, "cannot be opened for writing (Read-only file system)"), 1);
	expect_read_only_service(f, keys, 3);
	/* Read-only from the start is said once, not once per refused write. */
	assert_int_equal(server_proc_log_count(&f->srv, "storage: writes failing"), 0);
	stop(f);
	unmount(f->db);

	/* The directory read-only too (a read-only volume): no room for the WAL's
	 * files, so the database is opened immutable. That server left an empty
	 * -wal and a -shm; without the -shm SQLite cannot open the -wal, but
	 * empty, it holds nothing to lose. */
	snprintf(shm, sizeof(shm), "%s/store.db-shm", data);
	assert_int_equal(unlink(shm), 0);
	bind_read_only(data, view);
	snprintf(f->db, sizeof(f->db), "%s/store.db", view);
	start(f, NULL);
	assert_int_equal(server_proc_log_count(&f->srv, "cannot be written (Read-only file system): opened immutable"), 1);
	expect_read_only_service(f, keys, 3);
	stop(f);
	unmount(view);

	/* A server killed leaves its WAL and -shm: a read-only view of them still
	 * shows every committed transaction. */
	snprintf(f->db, sizeof(f->db), "%s/store.db", data);
	start(f, NULL);
	assert_int_equal(create(f->client, "ro-in-wal", 10, &err), 0);
	aw_client_free(f->client);
	f->client = NULL;
	server_proc_stop(&f->srv, SIGKILL);
	bind_read_only(data, view);
	snprintf(f->db, sizeof(f->db), "%s/store.db", view);
	start(f, NULL);
	expect_read_only_service(f, keys, 4);
	stop(f);

	/* A WAL without its -shm cannot be read without writing: opening it
	 * immutable would drop its transactions, so the server refuses to start. */
	assert_int_equal(unlink(shm), 0);
	status = server_proc_run_to_exit(&f->srv, f->db, NULL, 30000);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 1);
	assert_int_equal(server_proc_log_count(&f->srv, "ERROR cannot start: database is read-only: "),
			 1);
	assert_int_equal(server_proc_log_count(&f->srv, "store.db-wal cannot be read without its "
						       "-shm file"), 1);
	unmount(view);

	/* Writable again, the same file serves writes and keeps everything. */
	snprintf(f->db, sizeof(f->db), "%s/store.db", data);
	start(f, NULL);
	assert_int_equal(get(f->client, "ro-in-wal", NULL, &err), 0);
	assert_int_equal(create(f->client, "writable-again", 10, &err), 0);
	stop(f);
	assert_true(database_sound(f->db));
}

/* ---- locked by another process ---------------------------------------------------------- */

typedef struct holder {
	pid_t pid;
	int in;            /* its stdin */
} holder;

/* Whether another connection holds the write lock of `path` right now. */
static int write_locked(const char *path)
{
	sqlite3 *db;
	int rc;

	assert_int_equal(sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE, NULL), SQLITE_OK);
	rc = sqlite3_exec(db, "BEGIN IMMEDIATE", NULL, NULL, NULL);
	if (rc == SQLITE_OK)
		sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
	sqlite3_close(db);
	return rc == SQLITE_BUSY;
}

/* Starts the sqlite3 shell on `path` holding BEGIN EXCLUSIVE until release(). */
static void hold_lock(holder *h, const char *path)
{
	/* With a busy timeout: the server (its checkpointer) or the probe below
	 * may hold a lock for a moment when the shell asks. */
	const char cmds[] = ".timeout 5000\nBEGIN EXCLUSIVE;\n";
	int fds[2], devnull = open("/dev/null", O_WRONLY | O_CLOEXEC);
	long long until = server_proc_now_ms() + 10000;

	assert_int_equal(pipe2(fds, O_CLOEXEC), 0);
	h->pid = fork();
	assert_true(h->pid >= 0);
	if (h->pid == 0) {
		dup2(fds[0], STDIN_FILENO);
		dup2(devnull, STDOUT_FILENO);
		execlp("sqlite3", "sqlite3", path, (char *)NULL);
		_exit(127);
	}
	close(fds[0]);
	close(devnull);
	h->in = fds[1];
	assert_int_equal(write(h->in, cmds, sizeof(cmds) - 1), (ssize_t)sizeof(cmds) - 1);
	while (!write_locked(path)) {
		if (server_proc_now_ms() > until)
			fail_msg("the sqlite3 shell never took the lock");
		usleep(5000);
	}
}

/* Ends the shell (its transaction is rolled back) and so the lock. */
static void release(holder *h)
{
	int status;

	close(h->in);
	assert_int_equal(waitpid(h->pid, &status, 0), h->pid);
	assert_true(WIFEXITED(status));
}

static void test_storage_locked(void **state)
{
	fixture *f = *state;
	const char *const args[] = {"--busy-timeout", "300ms", NULL};
	const char *busy = "database locked by another process (busy timeout 300 ms): ";
	holder h;
	burst b[4];
	char key[48];
	aw_err err;

	start(f, args);
	assert_int_equal(create(f->client, "before-lock", 10, &err), 0);
	hold_lock(&h, f->db);

	/* Each write waits for the busy timeout, then gives up. */
	for (int i = 0; i < 3; i++) {
		long long t0 = server_proc_now_ms();
		snprintf(key, sizeof(key), "locked-%d", i);
		expect_fault(create(f->client, key, 10, &err), &err, AW_EBUSY, busy);
		assert_true(server_proc_now_ms() - t0 >= 250);
	}
	for (int i = 0; i < 4; i++) {
		b[i] = (burst){.client = f->client, .len = 10};
		snprintf(b[i].key, sizeof(b[i].key), "locked-together-%d", i);
	}
	run_burst(b, 4);
	for (int i = 0; i < 4; i++)
		expect_fault(b[i].rc, &b[i].err, AW_EBUSY, busy);
	/* Reads never wait for the writer (WAL). */
	assert_int_equal(get(f->client, "before-lock", NULL, &err), 0);
	/* One line for the fault, however many writes it refused. */
	assert_int_equal(server_proc_log_count(&f->srv, "ERROR storage: writes failing (AW_EBUSY): "
						       "database locked by another process"), 1);

	release(&h);
	assert_int_equal(create(f->client, "after-lock", 10, &err), 0);
	assert_true(server_proc_log_wait(&f->srv, "WARN  storage: writes work again", 1, 5000));
	for (int i = 0; i < 3; i++) {
		snprintf(key, sizeof(key), "locked-%d", i);
		assert_int_equal(get(f->client, key, NULL, &err), AW_ENOTFOUND);
	}
	for (int i = 0; i < 4; i++)
		assert_int_equal(get(f->client, b[i].key, NULL, &err), AW_ENOTFOUND);
	stop(f);
	assert_true(database_sound(f->db));
}

/* ---- corrupt ---------------------------------------------------------------------------- */

/* The page number of a leaf of the series table in the middle of it. */
static int middle_leaf(const char *path, int *page_size)
{
	sqlite3 *db;
	sqlite3_stmt *st;
	int pages[256], n = 0;

	assert_int_equal(sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
	assert_int_equal(sqlite3_prepare_v2(db, "PRAGMA page_size", -1, &st, NULL), SQLITE_OK);
	assert_int_equal(sqlite3_step(st), SQLITE_ROW);
	*page_size = sqlite3_column_int(st, 0);
	sqlite3_finalize(st);
	/* dbstat's path orders the leaves as the keys they hold. */
	assert_int_equal(sqlite3_prepare_v2(db,
					    "SELECT pageno FROM dbstat WHERE name = 'anime_series'"
					    " AND pagetype = 'leaf' ORDER BY path",
					    -1, &st, NULL),
			 SQLITE_OK);
	while (sqlite3_step(st) == SQLITE_ROW && n < 256)
		pages[n++] = sqlite3_column_int(st, 0);
	sqlite3_finalize(st);
	sqlite3_close(db);
	assert_true(n >= 10);
	return pages[n / 2];
}

static void test_storage_corrupt_page(void **state)
{
	fixture *f = *state;
	enum { N = 120 };
	char key[48], *garbage;
	int page, page_size, fd, ok = 0, corrupt = 0, total;
	int64_t bad_id = 0;
	aw_err err;

	start(f, NULL);
	for (int i = 0; i < N; i++) {
		snprintf(key, sizeof(key), "page-%03d", i);
		assert_int_equal(create(f->client, key, 1800, &err), 0); /* two a page */
	}
	stop(f);

	page = middle_leaf(f->db, &page_size);
	garbage = malloc((size_t)page_size);
	assert_non_null(garbage);
	memset(garbage, 0xA5, (size_t)page_size);
	fd = open(f->db, O_WRONLY);
	assert_true(fd >= 0);
	assert_int_equal(pwrite(fd, garbage, (size_t)page_size, (off_t)(page - 1) * page_size),
			 page_size);
	close(fd);
	free(garbage);
	assert_false(database_sound(f->db));

	start(f, NULL);
	/* Reads that touch the page fail; the others work. */
	for (int i = 0; i < N; i++) {
		snprintf(key, sizeof(key), "page-%03d", i);
		int rc = get(f->client, key, NULL, &err);
		if (rc == 0) {
			ok++;
		} else {
			expect_fault(rc, &err, AW_ECORRUPT, "database file is corrupt: ");
			corrupt++;
		}
	}
	assert_true(corrupt >= 1 && corrupt <= 4);
	assert_int_equal(ok + corrupt, N);
	expect_fault(list_all(f->client, &total, &err), &err, AW_ECORRUPT,
		     "database file is corrupt: ");
	assert_true(server_proc_healthy(f->srv.target));
	/* Logged once, not once per failed read. */
	assert_int_equal(server_proc_log_count(&f->srv, "ERROR storage: a read failed (AW_ECORRUPT): "
						       "database file is corrupt: "), 1);

	/* A write that touches the page fails and takes nothing with it; writes
	 * elsewhere go on. */
	for (int i = 0; i < N && bad_id == 0; i++) {
		snprintf(key, sizeof(key), "page-%03d", i);
		if (get(f->client, key, NULL, &err) != 0)
			bad_id = i + 1; /* the (i+1)th series made in a new database */
	}
	expect_fault(update(f->client, bad_id, "changed", &err), &err, AW_ECORRUPT,
		     "database file is corrupt: ");
	assert_true(server_proc_log_wait(&f->srv, "ERROR storage: writes failing (AW_ECORRUPT): ", 1,
					 5000));
	assert_int_equal(create(f->client, "after-corrupt", 10, &err), 0);
	assert_int_equal(get(f->client, "after-corrupt", NULL, &err), 0);
	stop(f);
}

static void test_storage_not_a_database(void **state)
{
	fixture *f = *state;
	FILE *fp = fopen(f->db, "w");
	int status;

	assert_non_null(fp);
	for (int i = 0; i < 1000; i++)
		fputs("this is not a database, just text. ", fp);
	fclose(fp);
	status = server_proc_run_to_exit(&f->srv, f->db, NULL, 30000);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 1);
	assert_int_equal(server_proc_log_count(&f->srv, "ERROR cannot start: not a SQLite database "
						       "file: "), 1);
	assert_int_equal(server_proc_log_count(&f->srv, f->db), 1); /* names the file */
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_storage_disk_full, setup, teardown),
		cmocka_unit_test_setup_teardown(test_storage_file_size_limit, setup, teardown),
		cmocka_unit_test_setup_teardown(test_storage_read_only, setup, teardown),
		cmocka_unit_test_setup_teardown(test_storage_locked, setup, teardown),
		cmocka_unit_test_setup_teardown(test_storage_corrupt_page, setup, teardown),
		cmocka_unit_test_setup_teardown(test_storage_not_a_database, setup, teardown),
	};

	/* Before any thread: mounts made from here on are this process's alone. */
	if (unshare(CLONE_NEWNS) == 0 && mount("none", "/", "none", MS_REC | MS_PRIVATE, NULL) == 0)
		can_mount = 1;
	return cmocka_run_group_tests(tests, NULL, NULL);
}
