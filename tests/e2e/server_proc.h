/*
 * server_proc.h: the real server binary as a child process, for tests that kill
 * it, restart it, or start it where a fault has to be in place before it opens
 * the database. Its log (stderr) goes to a file the test reads.
 *
 * The binary is AW_SERVER_BINARY, a path the build defines for the test.
 * Start and stop it from the test's main thread: the child is killed when the
 * thread that started it exits (PR_SET_PDEATHSIG), so that a failing test
 * never leaves a server behind.
 */
#ifndef AW_TEST_SERVER_PROC_H
#define AW_TEST_SERVER_PROC_H

#include <sys/types.h>

typedef struct server_proc {
	pid_t pid;          /* 0 while not running */
	char target[64];    /* "127.0.0.1:<port>" of the last start */
	char log[256];      /* its stderr, appended across starts; set before starting */
	long long fsize_limit; /* RLIMIT_FSIZE of the server in bytes; 0: none */
} server_proc;

/*
 * Starts the server on a free loopback port with `--db db --log-level info` and
 * `extra` (arguments, NULL-terminated; NULL for none) and waits until health
 * answers, at most 30 s. Returns 0; or -1 when it exited or never answered
 * (then it has been killed and reaped, and p->pid is 0).
 */
int server_proc_start(server_proc *p, const char *db, const char *const *extra);

/*
 * Starts the server as server_proc_start does but returns at once, without
 * waiting for health: for several servers that must start together (launch
 * each, then server_proc_wait_ready each). Returns 0 or -1.
 */
int server_proc_launch(server_proc *p, const char *db, const char *const *extra);

/*
 * Waits until a launched server answers health, at most `ms`. Returns 0; or -1
 * when it exited or never answered (then it has been killed and reaped).
 */
int server_proc_wait_ready(server_proc *p, int ms);

/*
 * Starts the server as server_proc_start does and waits for it to exit by
 * itself, at most `ms`: for servers that must refuse to start. Returns its wait
 * status, or -1 when it was still running (it is then killed).
 */
int server_proc_run_to_exit(server_proc *p, const char *db, const char *const *extra, int ms);

/* Sends `sig` and reaps the server, waiting at most 30 s before SIGKILL. Returns
 * the wait status (-1 when it was not running). */
int server_proc_stop(server_proc *p, int sig);

/* How many lines of p->log contain `needle`. */
int server_proc_log_count(const server_proc *p, const char *needle);

/* Waits until server_proc_log_count(p, needle) >= n, at most `ms`; 1 if so. */
int server_proc_log_wait(const server_proc *p, const char *needle, int n, int ms);

/* Whether health answers on `target` (one call). */
int server_proc_healthy(const char *target);

/* Milliseconds on a monotonic clock. */
long long server_proc_now_ms(void);

#endif /* AW_TEST_SERVER_PROC_H */
