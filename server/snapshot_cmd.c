/*
 * `aniworld-server snapshot`: argument parsing, the client, and the files.
 */
#define _GNU_SOURCE /* mkostemp */
#include "snapshot_cmd.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "aniworld/client.h"

#define PROG "aniworld-server snapshot"

static void usage(FILE *out)
{
	fprintf(out,
		"usage: aniworld-server snapshot --target HOST:PORT --out FILE [--token-file FILE]\n"
		"         [--tls-ca FILE [--tls-cert FILE --tls-key FILE] [--tls-server-name NAME]]\n"
		"         [--timeout SECONDS]\n"
		"\n"
		"Takes a snapshot of the database of the server at HOST:PORT (AdminService.Snapshot)\n"
		"and saves it as FILE, with its checksum as FILE.sha256 (sha256sum's format, for\n"
		"`aniworld-server restore --sha256`). The size and SHA-256 are checked against what\n"
		"the server sent; FILE appears only whole. The admin token is the first token of\n"
		"--token-file (as in --admin-tokens-file), else $ANIWORLD_ADMIN_TOKEN.\n"
		"\n"
		"  --target HOST:PORT      the server (a gRPC target: dns:///name:port works)\n"
		"  --out FILE              where to save the snapshot\n"
		"  --token-file FILE       the admin token\n"
		"  --tls-ca FILE           PEM CA: speak TLS and trust servers it signed\n"
		"  --tls-cert, --tls-key   PEM client certificate and key (mutual TLS)\n"
		"  --tls-server-name NAME  the name to verify instead of the target's host\n"
		"  --timeout SECONDS       longest wait for each message (default 600)\n");
}

/* The whole of file `path` as a string (malloc'd); NULL with errno set. */
static char *slurp(const char *path)
{
	FILE *f = fopen(path, "rb");
	char *buf = NULL;
	size_t len = 0, cap = 0, n;

	if (f == NULL)
		return NULL;
	do {
		if (len + 4096 + 1 > cap) {
			char *b = realloc(buf, cap = cap * 2 + 4096 + 1);
			if (b == NULL) {
				free(buf);
				fclose(f);
				errno = ENOMEM;
				return NULL;
			}
			buf = b;
		}
		n = fread(buf + len, 1, 4096, f);
		len += n;
	} while (n > 0);
	fclose(f);
	buf[len] = '\0';
	return buf;
}

/* The first token of a tokens file (blank lines and # comments skipped),
 * moved to the start of `text`, which it returns; NULL when there is none. */
static char *first_token(char *text)
{
	for (char *line = text; line != NULL && *line != '\0';) {
		char *next = strchr(line, '\n'), *end;

		if (next != NULL)
			*next++ = '\0';
		while (isspace((unsigned char)*line))
			line++;
		end = line + strlen(line);
		while (end > line && isspace((unsigned char)end[-1]))
			*--end = '\0';
		if (*line != '\0' && *line != '#') {
			memmove(text, line, strlen(line) + 1);
			return text;
		}
		line = next;
	}
	return NULL;
}

/* Syncs the directory holding `path`. */
static int sync_dir_of(const char *path)
{
	char dir[4096];
	const char *slash = strrchr(path, '/');
	int fd, rc;

	if (slash == NULL)
		snprintf(dir, sizeof(dir), ".");
	else if (slash == path)
		snprintf(dir, sizeof(dir), "/");
	else
		snprintf(dir, sizeof(dir), "%.*s", (int)(slash - path), path);
	fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	rc = fsync(fd);
	close(fd);
	return rc;
}

/* Writes `text` to `path` through a temporary file renamed into place. */
static int write_atomically(const char *path, const char *text)
{
	char tmp[4200];
	size_t len = strlen(text);
	int fd, ok;

	snprintf(tmp, sizeof(tmp), "%s.tmp-XXXXXX", path);
	fd = mkostemp(tmp, O_CLOEXEC);
	if (fd < 0)
		return -1;
	ok = write(fd, text, len) == (ssize_t)len && fsync(fd) == 0;
	ok = close(fd) == 0 && ok;
	if (!ok || rename(tmp, path) != 0) {
		int e = errno;
		unlink(tmp);
		errno = e;
		return -1;
	}
	return 0;
}

/* Options given, and what was read from their files. */
typedef struct cmd {
	const char *target, *out, *token_file, *ca, *cert, *key, *server_name;
	long timeout_s;
	char *token_text, *ca_pem, *cert_pem, *key_pem; /* malloc'd */
} cmd;

static int parse(cmd *c, int argc, char **argv)
{
	static const struct option longopts[] = {
		{"target", required_argument, NULL, 't'},
		{"out", required_argument, NULL, 'o'},
		{"token-file", required_argument, NULL, 'k'},
		{"tls-ca", required_argument, NULL, 'a'},
		{"tls-cert", required_argument, NULL, 'c'},
		{"tls-key", required_argument, NULL, 'y'},
		{"tls-server-name", required_argument, NULL, 'n'},
		{"timeout", required_argument, NULL, 'T'},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	char *end;
	int opt;

	opterr = 0;
	optind = 1;
	while ((opt = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
		switch (opt) {
		case 't': c->target = optarg; break;
		case 'o': c->out = optarg; break;
		case 'k': c->token_file = optarg; break;
		case 'a': c->ca = optarg; break;
		case 'c': c->cert = optarg; break;
		case 'y': c->key = optarg; break;
		case 'n': c->server_name = optarg; break;
		case 'T':
			errno = 0;
			c->timeout_s = strtol(optarg, &end, 10);
			if (errno != 0 || end == optarg || *end != '\0' || c->timeout_s < 1 ||
			    c->timeout_s > 86400) {
				fprintf(stderr, PROG ": --timeout: expected 1 to 86400 seconds, got %s\n",
					optarg);
				return 2;
			}
			break;
		case 'h':
			usage(stdout);
			return -1;
		default:
			fprintf(stderr, PROG ": unknown or incomplete option %s\n", argv[optind - 1]);
			usage(stderr);
			return 2;
		}
	}
	if (optind < argc) {
		fprintf(stderr, PROG ": unexpected argument %s\n", argv[optind]);
		return 2;
	}
	if (c->target == NULL || c->out == NULL || c->out[0] == '\0') {
		fprintf(stderr, PROG ": --target and --out are required\n");
		usage(stderr);
		return 2;
	}
	if ((c->cert != NULL) != (c->key != NULL) || (c->cert != NULL && c->ca == NULL)) {
		fprintf(stderr, PROG ": --tls-cert and --tls-key go together, with --tls-ca\n");
		return 2;
	}
	return 0;
}

/* Reads the files the options name. */
static int load(cmd *c)
{
	const struct {
		const char *path;
		char **into;
	} files[] = {
		{c->token_file, &c->token_text},
		{c->ca, &c->ca_pem},
		{c->cert, &c->cert_pem},
		{c->key, &c->key_pem},
	};

	for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
		if (files[i].path == NULL)
			continue;
		*files[i].into = slurp(files[i].path);
		if (*files[i].into == NULL) {
			fprintf(stderr, PROG ": cannot read %s: %s\n", files[i].path, strerror(errno));
			return 1;
		}
	}
	return 0;
}

/* Streams the snapshot into a temporary file beside c->out, then puts it and
 * its checksum file in place. */
static int save(cmd *c, aw_client *client)
{
	Aniworld__Admin__V1__SnapshotSummary *sum = NULL;
	char *tmp, *sums, line[256];
	const char *base = strrchr(c->out, '/');
	size_t n = strlen(c->out) + 32;
	aw_err err;
	int fd, rc;

	base = base != NULL ? base + 1 : c->out;
	tmp = malloc(n);
	sums = malloc(n);
	if (tmp == NULL || sums == NULL) {
		free(tmp);
		free(sums);
		fprintf(stderr, PROG ": out of memory\n");
		return 1;
	}
	snprintf(tmp, n, "%s.tmp-XXXXXX", c->out);
	snprintf(sums, n, "%s.sha256", c->out);
	fd = mkostemp(tmp, O_CLOEXEC);
	if (fd < 0) {
		fprintf(stderr, PROG ": cannot create %s: %s\n", tmp, strerror(errno));
		free(tmp);
		free(sums);
		return 1;
	}
	rc = aw_admin_snapshot(client, fd, (int64_t)c->timeout_s * 1000, &sum, &err, NULL);
	if (rc != 0)
		fprintf(stderr, PROG ": %s (%s)\n", err.msg, aw_err_name(rc));
	if (rc == 0 && fsync(fd) != 0) {
		fprintf(stderr, PROG ": cannot sync %s: %s\n", tmp, strerror(errno));
		rc = AW_EIO;
	}
	if (close(fd) != 0 && rc == 0) {
		fprintf(stderr, PROG ": cannot write %s: %s\n", tmp, strerror(errno));
		rc = AW_EIO;
	}
	if (rc == 0 && rename(tmp, c->out) != 0) {
		fprintf(stderr, PROG ": cannot rename %s to %s: %s\n", tmp, c->out, strerror(errno));
		rc = AW_EIO;
	}
	if (rc != 0) {
		unlink(tmp);
	} else {
		snprintf(line, sizeof(line), "%s  %s\n", sum->sha256, base);
		if (write_atomically(sums, line) != 0 || sync_dir_of(c->out) != 0) {
			fprintf(stderr, PROG ": cannot write %s: %s\n", sums, strerror(errno));
			rc = AW_EIO;
		} else {
			printf("saved %s: %lld bytes (%s), SHA-256 %s, checksum in %s\n", c->out,
			       (long long)sum->size_bytes, sum->format, sum->sha256, sums);
		}
	}
	aniworld__admin__v1__snapshot_summary__free_unpacked(sum, NULL);
	free(tmp);
	free(sums);
	return rc == 0 ? 0 : 1;
}

int aw_snapshot_cmd_main(int argc, char **argv)
{
	cmd c = {.timeout_s = 600};
	aw_client_options o;
	aw_client *client = NULL;
	const char *token;
	aw_err err;
	int rc = parse(&c, argc, argv);

	if (rc != 0)
		return rc < 0 ? 0 : rc;
	rc = load(&c);
	token = c.token_text != NULL ? first_token(c.token_text) : getenv("ANIWORLD_ADMIN_TOKEN");
	if (rc == 0 && (token == NULL || token[0] == '\0')) {
		fprintf(stderr, PROG ": no admin token: give --token-file or set "
			"ANIWORLD_ADMIN_TOKEN\n");
		rc = 1;
	}
	if (rc == 0) {
		aw_client_options_init(&o);
		o.bearer_token = token;
		o.tls_root_ca_pem = c.ca_pem;
		o.tls_cert_pem = c.cert_pem;
		o.tls_key_pem = c.key_pem;
		o.tls_server_name = c.server_name;
		o.deadline_ms = (int64_t)c.timeout_s * 1000;
		if (aw_client_new(&client, c.target, &o, &err) != 0) {
			fprintf(stderr, PROG ": %s\n", err.msg);
			rc = 1;
		}
	}
	if (rc == 0)
		rc = save(&c, client);
	aw_client_free(client);
	/* Secrets: wiped before their memory goes back. */
	if (c.token_text != NULL)
		explicit_bzero(c.token_text, strlen(c.token_text));
	if (c.key_pem != NULL)
		explicit_bzero(c.key_pem, strlen(c.key_pem));
	free(c.token_text);
	free(c.ca_pem);
	free(c.cert_pem);
	free(c.key_pem);
	return rc;
}
