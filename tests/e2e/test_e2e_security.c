/*
 * End to end: transport security and caller authentication
 * (server/transport/tls.c, auth.c; the client library's TLS and token options).
 * Certificates are made at test time by make_certs.sh (openssl).
 */
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <netinet/in.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <grpc/status.h>

#include "aniworld/client.h"
#include "harness.h"

static char certs[64]; /* directory with the certificates, made once */

static char *slurp(const char *name)
{
	char path[128];
	FILE *f;
	char *buf = calloc(1, 65536);

	snprintf(path, sizeof(path), "%s/%s", certs, name);
	f = fopen(path, "r");
	if (f == NULL || buf == NULL)
		fail_msg("cannot read %s", path);
	if (fread(buf, 1, 65535, f) == 0)
		fail_msg("empty %s", path);
	fclose(f);
	return buf;
}

static const char *cert_path(const char *name)
{
	static char paths[8][128];
	static int next;
	char *p = paths[next++ % 8];

	snprintf(p, 128, "%s/%s", certs, name);
	return p;
}

static int group_setup(void **state)
{
	char cmd[256];

	(void)state;
	snprintf(certs, sizeof(certs), "/tmp/aw-certs-XXXXXX");
	if (mkdtemp(certs) == NULL)
		return -1;
	snprintf(cmd, sizeof(cmd), "sh '%s/e2e/make_certs.sh' '%s'", AW_TESTS_DIR, certs);
	return system(cmd) == 0 ? 0 : -1;
}

static int group_teardown(void **state)
{
	char cmd[128];

	(void)state;
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", certs);
	return system(cmd) == 0 ? 0 : -1;
}

/* ---- server configurations ------------------------------------------------------------ */

typedef struct server_setup {
	int mutual;
	const char *tokens_file;
	int auth_reflection;
} server_setup;

static void configure(aw_config *cfg, void *arg)
{
	const server_setup *ss = arg;

	if (ss->tokens_file == NULL) {
		cfg->tls_cert = (char *)cert_path("server.crt");
		cfg->tls_key = (char *)cert_path("server.key");
		if (ss->mutual)
			cfg->tls_client_ca = (char *)cert_path("ca.crt");
	} else {
		cfg->auth_tokens_file = (char *)ss->tokens_file;
		cfg->auth_reflection = ss->auth_reflection;
	}
}

static harness *start(server_setup *ss)
{
	harness *h = calloc(1, sizeof(*h));

	h->configure = configure;
	h->configure_arg = ss;
	assert_int_equal(harness_start(h), 0);
	return h;
}

static void stop(harness *h)
{
	harness_cleanup(h);
	free(h);
}

/* One CreateSeries with `opts`; returns the client's code. */
static int try_create(const harness *h, const aw_client_options *opts, const char *key,
		      aw_err *err)
{
	aw_client *c;
	Aniworld__V1__AnimeSeries s = ANIWORLD__V1__ANIME_SERIES__INIT, *out = NULL;
	Aniworld__V1__CreateSeriesRequest req = ANIWORLD__V1__CREATE_SERIES_REQUEST__INIT;
	int rc;

	rc = aw_client_new(&c, h->target, opts, err);
	if (rc != 0)
		return rc;
	s.key = (char *)key;
	s.name = (char *)key;
	req.series = &s;
	rc = aw_client_series_create(c, &req, &out, err, NULL);
	aniworld__v1__anime_series__free_unpacked(out, NULL);
	aw_client_free(c);
	return rc;
}

static void tls_options(aw_client_options *o, char *ca, char *cert, char *key)
{
	aw_client_options_init(o);
	o->deadline_ms = 30000; /* the first handshake is slow under valgrind */
	o->tls_root_ca_pem = ca;
	o->tls_cert_pem = cert;
	o->tls_key_pem = key;
}

/* ---- TLS -------------------------------------------------------------------------------- */

static void test_security_tls(void **state)
{
	server_setup ss = {0};
	harness *h = start(&ss);
	char *ca = slurp("ca.crt"), *rogue_ca = slurp("rogue-ca.crt");
	aw_client_options o;
	aw_err err;

	(void)state;
	assert_string_equal(aw_server_security(h->server), "TLS");
	tls_options(&o, ca, NULL, NULL);
	int rc = try_create(h, &o, "tls-ok", &err);
	if (rc != 0)
		fail_msg("TLS create: %s (%s)", err.msg, aw_err_name(rc));
	o.tls_server_name = "localhost"; /* verifying the DNS name instead of the IP works too */
	assert_int_equal(try_create(h, &o, "tls-by-name", &err), 0);

	/* A client that does not trust the server's CA never gets through. */
	tls_options(&o, rogue_ca, NULL, NULL);
	assert_int_equal(try_create(h, &o, "tls-untrusted", &err), AW_EUNAVAIL);
	/* Nor does a plaintext client. */
	aw_client_options_init(&o);
	o.deadline_ms = 5000;
	assert_int_equal(try_create(h, &o, "tls-plaintext", &err), AW_EUNAVAIL);
	free(ca);
	free(rogue_ca);
	stop(h);
}

static void test_security_mutual_tls(void **state)
{
	server_setup ss = {.mutual = 1};
	harness *h = start(&ss);
	char *ca = slurp("ca.crt");
	char *cert = slurp("client.crt"), *key = slurp("client.key");
	char *rogue = slurp("rogue.crt"), *rogue_key = slurp("rogue.key");
	aw_client_options o;
	aw_err err;

	(void)state;
	assert_string_equal(aw_server_security(h->server), "mutual TLS");
	tls_options(&o, ca, cert, key);
	assert_int_equal(try_create(h, &o, "mtls-ok", &err), 0);

	/* No client certificate, or one from another CA: refused. */
	tls_options(&o, ca, NULL, NULL);
	assert_int_equal(try_create(h, &o, "mtls-none", &err), AW_EUNAVAIL);
	tls_options(&o, ca, rogue, rogue_key);
	assert_int_equal(try_create(h, &o, "mtls-rogue", &err), AW_EUNAVAIL);

	/* Options that make no sense are refused by the library. */
	tls_options(&o, ca, cert, NULL);
	assert_int_equal(try_create(h, &o, "bad", &err), AW_EINVAL);
	free(ca);
	free(cert);
	free(key);
	free(rogue);
	free(rogue_key);
	stop(h);
}

static void test_security_bad_tls_config_refused_at_start(void **state)
{
	aw_config cfg;
	aw_server *s = NULL;
	aw_err err;

	(void)state;
	aw_config_defaults(&cfg);
	cfg.listen = "127.0.0.1:0";
	cfg.db = ":memory:";
	cfg.tls_cert = (char *)cert_path("server.crt");
	assert_int_equal(aw_server_start(&s, &cfg, &err), AW_EINVAL);
	assert_non_null(strstr(err.msg, "--tls-key"));
	cfg.tls_key = "/nonexistent/key.pem";
	assert_int_equal(aw_server_start(&s, &cfg, &err), AW_EIO);
	assert_non_null(strstr(err.msg, "/nonexistent/key.pem"));
	assert_null(s);
}

/* ---- bearer tokens ---------------------------------------------------------------------- */

static void write_tokens(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");

	assert_non_null(f);
	fputs(text, f);
	fclose(f);
}

static void test_security_bearer_tokens(void **state)
{
	char tokens[128];
	server_setup ss;
	harness *h;
	aw_client_options o;
	aw_err err;
	char details[256];
	const unsigned char list_services[] = {0x3A, 0x00}; /* ServerReflectionRequest{list_services:""} */
	const unsigned char health_all[] = {0};

	(void)state;
	snprintf(tokens, sizeof(tokens), "%s/tokens", certs);
	write_tokens(tokens, "# service tokens\n\n  alpha-token-1  \nbeta-token-2\n");
	ss = (server_setup){.tokens_file = tokens};
	h = start(&ss);
	assert_int_equal(aw_server_token_count(h->server), 2);

	aw_client_options_init(&o);
	assert_int_equal(try_create(h, &o, "no-token", &err), AW_EUNAUTH);
	assert_int_equal(aw_err_grpc_status(err.code), GRPC_STATUS_UNAUTHENTICATED);
	o.bearer_token = "alpha-token-2";
	assert_int_equal(try_create(h, &o, "wrong-token", &err), AW_EUNAUTH);
	assert_null(strstr(err.msg, "alpha-token-2")); /* the token is never echoed */
	o.bearer_token = "alpha-token-1";
	assert_int_equal(try_create(h, &o, "right-token", &err), 0);
	o.bearer_token = "beta-token-2";
	assert_int_equal(try_create(h, &o, "other-token", &err), 0);
	o.bearer_token = "bad\ntoken";
	assert_int_equal(try_create(h, &o, "x", &err), AW_EINVAL);

	/* Health and reflection stay open for probes and grpcurl. */
	assert_int_equal(harness_raw_call(h->target, "/grpc.health.v1.Health/Check", health_all, 0,
					  details, sizeof(details), NULL),
			 GRPC_STATUS_OK);
	long reply = -1;
	assert_int_equal(harness_raw_call(h->target,
					  "/grpc.reflection.v1.ServerReflection/ServerReflectionInfo",
					  list_services, sizeof(list_services), details, sizeof(details),
					  &reply),
			 GRPC_STATUS_OK);
	assert_true(reply > 0);
	stop(h);

	/* Unless reflection is put behind the tokens too. */
	ss.auth_reflection = 1;
	h = start(&ss);
	assert_int_equal(harness_raw_call(h->target,
					  "/grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo",
					  list_services, sizeof(list_services), details, sizeof(details),
					  NULL),
			 GRPC_STATUS_UNAUTHENTICATED);
	assert_int_equal(harness_raw_call(h->target, "/grpc.health.v1.Health/Check", health_all, 0,
					  details, sizeof(details), NULL),
			 GRPC_STATUS_OK);
	stop(h);
}

/* ---- SIGHUP reload, with the real binary ----------------------------------------------------- */

static int free_port(void)
{
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t len = sizeof(a);
	int fd = socket(AF_INET, SOCK_STREAM, 0), port;

	assert_int_equal(bind(fd, (struct sockaddr *)&a, sizeof(a)), 0);
	assert_int_equal(getsockname(fd, (struct sockaddr *)&a, &len), 0);
	port = ntohs(a.sin_port);
	close(fd);
	return port;
}

/* Polls `cond(h, arg)` for up to `ms` milliseconds. */
static int wait_for(int (*cond)(harness *h, const char *token), harness *h, const char *token,
		    int ms)
{
	for (int waited = 0; waited < ms; waited += 20) {
		if (cond(h, token))
			return 1;
		usleep(20000);
	}
	return 0;
}

static int token_accepted(harness *h, const char *token)
{
	aw_client_options o;
	aw_err err;
	char key[64];
	static int n;

	aw_client_options_init(&o);
	o.deadline_ms = 2000;
	o.bearer_token = token;
	snprintf(key, sizeof(key), "reload-%d-%ld", n++, (long)time(NULL));
	return try_create(h, &o, key, &err) == 0;
}

static int token_refused(harness *h, const char *token)
{
	return !token_accepted(h, token);
}

static void test_security_sighup_reloads_tokens(void **state)
{
	harness h;
	char tokens[128], db[128], log[128], listen[64], cmd[256];
	pid_t pid;
	int status;

	(void)state;
	memset(&h, 0, sizeof(h));
	snprintf(tokens, sizeof(tokens), "%s/hup-tokens", certs);
	snprintf(db, sizeof(db), "%s/hup.db", certs);
	snprintf(log, sizeof(log), "%s/hup.log", certs);
	write_tokens(tokens, "first-secret-token\n");
	snprintf(listen, sizeof(listen), "127.0.0.1:%d", free_port());
	snprintf(h.target, sizeof(h.target), "%s", listen);

	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		FILE *l = freopen(log, "w", stderr);
		(void)l;
		execl(AW_SERVER_BINARY, AW_SERVER_BINARY, "--listen", listen, "--db", db,
		      "--auth-tokens-file", tokens, "--log-level", "info", (char *)NULL);
		_exit(127);
	}
	assert_true(wait_for(token_accepted, &h, "first-secret-token", 10000));
	assert_true(token_refused(&h, "second-secret-token"));

	write_tokens(tokens, "second-secret-token\n");
	assert_int_equal(kill(pid, SIGHUP), 0);
	assert_true(wait_for(token_accepted, &h, "second-secret-token", 10000));
	assert_true(token_refused(&h, "first-secret-token"));

	/* A reload that fails keeps the tokens in force. */
	write_tokens(tokens, "\n# nothing\n");
	assert_int_equal(kill(pid, SIGHUP), 0);
	snprintf(cmd, sizeof(cmd), "grep -q 'reload failed' '%s'", log);
	int seen = 0;
	for (int waited = 0; waited < 10000 && !seen; waited += 20) {
		seen = system(cmd) == 0;
		if (!seen)
			usleep(20000);
	}
	assert_true(seen);
	assert_true(token_accepted(&h, "second-secret-token"));

	assert_int_equal(kill(pid, SIGTERM), 0);
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);

	/* The log says what happened, and never a token. */
	snprintf(cmd, sizeof(cmd), "grep -q 'SIGHUP: reloaded' '%s'", log);
	assert_int_equal(system(cmd), 0);
	snprintf(cmd, sizeof(cmd), "grep -q 'UNAUTHENTICATED' '%s'", log);
	assert_int_equal(system(cmd), 0);
	snprintf(cmd, sizeof(cmd), "grep -q 'secret-token' '%s'", log);
	assert_int_not_equal(system(cmd), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_security_tls),
		cmocka_unit_test(test_security_mutual_tls),
		cmocka_unit_test(test_security_bad_tls_config_refused_at_start),
		cmocka_unit_test(test_security_bearer_tokens),
		cmocka_unit_test(test_security_sighup_reloads_tokens),
	};
	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
