/*
 * test_db.h: a fresh, empty database for each test, on the backend under test.
 *
 * The backend comes from the environment, set per test by ctest
 * (tests/CMakeLists.txt registers each backend-neutral suite twice):
 *   AW_TEST_BACKEND   "sqlite" (also when unset) or "postgres";
 *   AW_TEST_PG_DIR    with postgres: the directory of the throwaway server that
 *                     tests/pg/pg_fixture.sh started; its file `port` holds the
 *                     port it serves on 127.0.0.1.
 * On SQLite a database is a file in a new temporary directory (or ":memory:");
 * on PostgreSQL it is a new database, created on the fixture's server under a
 * name no other test uses and dropped again by test_db_drop (the fixture's
 * `stop` removes the whole server, with anything a crashed test left).
 *
 * The side connection (test_db_exec, test_db_int) lets a test look at or
 * change stored rows behind the repository's back, with SQL both engines read
 * the same way.
 */
#ifndef AW_TEST_DB_H
#define AW_TEST_DB_H

#include <stddef.h>
#include <stdint.h>

typedef struct test_db {
	char location[256]; /* what aw_repo_open and --db take: a path, ":memory:" or a URI */
	char dir[64];       /* SQLite: the temporary directory holding the file, else "" */
	char name[64];      /* PostgreSQL: the database's name, else "" */
} test_db;

enum {
	TEST_DB_FILE = 0,   /* SQLite: a file in a temporary directory */
	TEST_DB_MEMORY = 1, /* SQLite: ":memory:"; PostgreSQL: a database as always */
};

/* Whether the tests run against PostgreSQL (AW_TEST_BACKEND=postgres). */
int test_db_is_postgres(void);

/* "sqlite" or "postgres", for messages. */
const char *test_db_backend(void);

/*
 * Makes a fresh, empty database and fills *db (its storage is the caller's).
 * `flags` is TEST_DB_FILE or TEST_DB_MEMORY. Returns 0, or -1 after saying why
 * on stderr (no PostgreSQL fixture, the server refused, ...): a setup that gets
 * -1 must fail its test, never skip it.
 */
int test_db_create(test_db *db, int flags);

/* Removes the database made by test_db_create. Does nothing on a zeroed db or
 * a second call. */
void test_db_drop(test_db *db);

/* Runs `sql` (one or more statements) on a connection of its own. Returns 0,
 * or -1 after printing the engine's message. Not on ":memory:". */
int test_db_exec(const test_db *db, const char *sql);

/* Runs `sql` and stores the first column of its first row in *out (-1 when
 * that value is NULL or there is no row). Returns 0 or -1 as test_db_exec. */
int test_db_int(const test_db *db, const char *sql, int64_t *out);

#endif /* AW_TEST_DB_H */
