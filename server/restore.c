/*
 * `aniworld-server restore`: argument parsing, the checksum, and the hand-over
 * to the repository backend that installs the file (aw_repo_restore).
 */
#include "restore.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/evp.h>

#include "repo/repo.h"

#define SHA256_HEX 64

static void usage(FILE *out)
{
	fprintf(out,
		"usage: aniworld-server restore --from FILE --db PATH [--sha256 FILE] [--force]\n"
		"\n"
		"Puts a snapshot (AdminService.Snapshot) in place as the database PATH, offline:\n"
		"no server may have PATH open. Checks, in order: the file's SHA-256 against\n"
		"--sha256 (a file as sha256sum writes it, or the 64 hex digits alone), that the\n"
		"file is a whole database (PRAGMA integrity_check, foreign_key_check), and that\n"
		"its schema is not newer than this server's. An existing database is replaced\n"
		"only with --force; the checked copy takes its place in one rename.\n"
		"\n"
		"  --from FILE     the snapshot file\n"
		"  --db PATH       the database to restore (as the server's --db)\n"
		"  --sha256 FILE   the expected SHA-256 of FILE\n"
		"  --force         replace an existing database at PATH\n");
}

/* The SHA-256 of file `path` as lowercase hex into hex[SHA256_HEX + 1]. */
static int file_sha256(const char *path, char *hex, char *why, size_t why_len)
{
	unsigned char buf[65536], digest[EVP_MAX_MD_SIZE];
	unsigned int len = 0;
	EVP_MD_CTX *md = EVP_MD_CTX_new();
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	int rc = -1;

	if (fd < 0) {
		snprintf(why, why_len, "cannot read %s: %s", path, strerror(errno));
		EVP_MD_CTX_free(md);
		return -1;
	}
	if (md == NULL || EVP_DigestInit_ex(md, EVP_sha256(), NULL) != 1) {
		snprintf(why, why_len, "cannot hash %s: out of memory", path);
		goto out;
	}
	for (;;) {
		ssize_t n = read(fd, buf, sizeof(buf));
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			snprintf(why, why_len, "cannot read %s: %s", path, strerror(errno));
			goto out;
		}
		if (n == 0)
			break;
		if (EVP_DigestUpdate(md, buf, (size_t)n) != 1) {
			snprintf(why, why_len, "cannot hash %s", path);
			goto out;
		}
	}
	if (EVP_DigestFinal_ex(md, digest, &len) != 1 || len * 2 != SHA256_HEX) {
		snprintf(why, why_len, "cannot hash %s", path);
		goto out;
	}
	for (unsigned int i = 0; i < len; i++)
		snprintf(hex + 2 * i, 3, "%02x", digest[i]);
	rc = 0;
out:
	EVP_MD_CTX_free(md);
	close(fd);
	return rc;
}

/* The 64 hex digits a checksum file begins with (sha256sum's "<hex>  <name>"
 * or the digits alone), lowered, into hex[SHA256_HEX + 1]. */
static int read_checksum(const char *path, char *hex, char *why, size_t why_len)
{
	char line[512];
	FILE *f = fopen(path, "r");
	size_t i = 0;
	const char *p;

	if (f == NULL) {
		snprintf(why, why_len, "cannot read --sha256 file %s: %s", path, strerror(errno));
		return -1;
	}
	if (fgets(line, sizeof(line), f) == NULL)
		line[0] = '\0';
	fclose(f);
	for (p = line; isspace((unsigned char)*p); p++) {
	}
	for (; i < SHA256_HEX && isxdigit((unsigned char)p[i]); i++)
		hex[i] = (char)tolower((unsigned char)p[i]);
	hex[i] = '\0';
	if (i != SHA256_HEX || (p[i] != '\0' && !isspace((unsigned char)p[i]))) {
		snprintf(why, why_len, "--sha256 file %s does not begin with 64 hex digits", path);
		return -1;
	}
	return 0;
}

int aw_restore_main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{"from", required_argument, NULL, 'f'},
		{"db", required_argument, NULL, 'd'},
		{"sha256", required_argument, NULL, 's'},
		{"force", no_argument, NULL, 'F'},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	const char *from = NULL, *db = NULL, *sums = NULL;
	char want[SHA256_HEX + 1], got[SHA256_HEX + 1], why[512], where[512];
	int force = 0, opt, rc;
	aw_err err;

	opterr = 0;
	optind = 1;
	while ((opt = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
		switch (opt) {
		case 'f':
			from = optarg;
			break;
		case 'd':
			db = optarg;
			break;
		case 's':
			sums = optarg;
			break;
		case 'F':
			force = 1;
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			fprintf(stderr, "aniworld-server restore: unknown or incomplete option %s\n",
				argv[optind - 1]);
			usage(stderr);
			return 2;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "aniworld-server restore: unexpected argument %s\n", argv[optind]);
		usage(stderr);
		return 2;
	}
	if (from == NULL || db == NULL || from[0] == '\0' || db[0] == '\0') {
		fprintf(stderr, "aniworld-server restore: --from and --db are required\n");
		usage(stderr);
		return 2;
	}

	if (sums != NULL) {
		if (read_checksum(sums, want, why, sizeof(why)) != 0 ||
		    file_sha256(from, got, why, sizeof(why)) != 0) {
			fprintf(stderr, "aniworld-server restore: %s\n", why);
			return 1;
		}
		if (strcmp(want, got) != 0) {
			fprintf(stderr,
				"aniworld-server restore: %s does not match its checksum: SHA-256 %s, "
				"expected %s (from %s); nothing restored\n", from, got, want, sums);
			return 1;
		}
	}
	aw_err_clear(&err);
	rc = aw_repo_restore(db, from, force, &err);
	aw_repo_location_redact(db, where, sizeof(where));
	if (rc != 0) {
		fprintf(stderr, "aniworld-server restore: %s (%s); nothing restored\n", err.msg,
			aw_err_name(err.code));
		return 1;
	}
	printf("restored %s from %s%s\n", where, from, sums != NULL ? " (SHA-256 checked)" : "");
	return 0;
}
