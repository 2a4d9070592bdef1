#include "server_proc.h"

#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "harness.h"

#define MAX_ARGS 32
#define START_MS 30000 /* the ASan build under load starts slowly */

long long server_proc_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int free_port(void)
{
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t len = sizeof(a);
	int fd = socket(AF_INET, SOCK_STREAM, 0), port = -1;

	if (fd < 0)
		return -1;
	if (bind(fd, (struct sockaddr *)&a, sizeof(a)) == 0 &&
	    getsockname(fd, (struct sockaddr *)&a, &len) == 0)
		port = ntohs(a.sin_port);
	close(fd);
	return port;
}

int server_proc_healthy(const char *target)
{
	return harness_raw_call(target, "/grpc.health.v1.Health/Check", "", 0, NULL, 0, NULL) == 0;
}

/* Forks and execs the server; everything the child needs is made before fork,
 * since the parent has threads (the child only calls async-signal-safe
 * functions until exec). */
static int spawn(server_proc *p, const char *db, const char *const *extra)
{
	const char *argv[MAX_ARGS];
	char listen[64];
	int n = 0, port = free_port(), fd;

	if (port < 0)
		return -1;
	snprintf(listen, sizeof(listen), "127.0.0.1:%d", port);
	snprintf(p->target, sizeof(p->target), "%s", listen);
	argv[n++] = AW_SERVER_BINARY;
	argv[n++] = "--listen";
	argv[n++] = listen;
	argv[n++] = "--db";
	argv[n++] = db;
	argv[n++] = "--log-level";
	argv[n++] = "info";
	for (int i = 0; extra != NULL && extra[i] != NULL && n < MAX_ARGS - 1; i++)
		argv[n++] = extra[i];
	argv[n] = NULL;

	fd = open(p->log, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
	if (fd < 0)
		return -1;
	p->pid = fork();
	if (p->pid == 0) {
		/* Only the soft limit: the test may raise it again, unprivileged. */
		struct rlimit fsize = {(rlim_t)p->fsize_limit, RLIM_INFINITY};

		prctl(PR_SET_PDEATHSIG, SIGKILL);
		if (p->fsize_limit > 0)
			setrlimit(RLIMIT_FSIZE, &fsize);
		dup2(fd, STDERR_FILENO);
		execv(AW_SERVER_BINARY, (char *const *)argv);
		_exit(127);
	}
	close(fd);
	if (p->pid < 0) {
		p->pid = 0;
		return -1;
	}
	return 0;
}

/* Reaps the child if it has exited: 1 with *status set, else 0. */
static int exited(server_proc *p, int *status)
{
	if (waitpid(p->pid, status, WNOHANG) == p->pid) {
		p->pid = 0;
		return 1;
	}
	return 0;
}

int server_proc_launch(server_proc *p, const char *db, const char *const *extra)
{
	return spawn(p, db, extra);
}

int server_proc_start(server_proc *p, const char *db, const char *const *extra)
{
	if (spawn(p, db, extra) != 0)
		return -1;
	return server_proc_wait_ready(p, START_MS);
}

int server_proc_wait_ready(server_proc *p, int ms)
{
	long long until = server_proc_now_ms() + ms;
	int status;

	if (p->pid <= 0)
		return -1;
	while (server_proc_now_ms() < until) {
		if (exited(p, &status)) {
			fprintf(stderr, "server_proc: the server exited at start (status %#x); see %s\n",
				status, p->log);
			return -1;
		}
		if (server_proc_healthy(p->target))
			return 0;
		usleep(10000);
	}
	fprintf(stderr, "server_proc: the server never answered health; see %s\n", p->log);
	server_proc_stop(p, SIGKILL);
	return -1;
}

int server_proc_run_to_exit(server_proc *p, const char *db, const char *const *extra, int ms)
{
	long long until = server_proc_now_ms() + ms;
	int status;

	if (spawn(p, db, extra) != 0)
		return -1;
	while (server_proc_now_ms() < until) {
		if (exited(p, &status))
			return status;
		usleep(10000);
	}
	server_proc_stop(p, SIGKILL);
	return -1;
}

int server_proc_stop(server_proc *p, int sig)
{
	long long until = server_proc_now_ms() + 30000;
	int status = -1;

	if (p->pid <= 0)
		return -1;
	kill(p->pid, sig);
	while (!exited(p, &status)) {
		if (server_proc_now_ms() > until && sig != SIGKILL) {
			fprintf(stderr, "server_proc: no exit 30 s after signal %d: killing it\n", sig);
			kill(p->pid, SIGKILL);
			sig = SIGKILL;
		}
		usleep(2000);
	}
	return status;
}

int server_proc_log_count(const server_proc *p, const char *needle)
{
	FILE *f = fopen(p->log, "r");
	char line[4096];
	int n = 0;

	if (f == NULL)
		return 0;
	while (fgets(line, sizeof(line), f) != NULL) {
		if (strstr(line, needle) != NULL)
			n++;
	}
	fclose(f);
	return n;
}

int server_proc_log_wait(const server_proc *p, const char *needle, int n, int ms)
{
	long long until = server_proc_now_ms() + ms;

	do {
		if (server_proc_log_count(p, needle) >= n)
			return 1;
		usleep(5000);
	} while (server_proc_now_ms() < until);
	return 0;
}
