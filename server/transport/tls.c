#include "tls.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>

/* Reads a whole (small) file as a NUL-terminated string the caller frees. */
static int read_text(const char *what, const char *path, char **out, aw_err *err)
{
	FILE *f = fopen(path, "rb");
	char *buf = NULL;
	size_t len = 0, cap = 0;

	*out = NULL;
	if (f == NULL)
		return aw_err_set(err, AW_EIO, "%s %s: %s", what, path, strerror(errno));
	for (;;) {
		if (cap - len < 4096) {
			char *b = realloc(buf, cap + 65536);
			if (b == NULL) {
				free(buf);
				fclose(f);
				return aw_err_set(err, AW_ENOMEM, "out of memory reading %s", path);
			}
			buf = b;
			cap += 65536;
		}
		size_t n = fread(buf + len, 1, cap - len - 1, f);
		len += n;
		if (n == 0)
			break;
	}
	int bad = ferror(f);
	fclose(f);
	if (bad || len == 0) {
		free(buf);
		return aw_err_set(err, AW_EIO, "%s %s: %s", what, path,
				  bad ? "read error" : "empty file");
	}
	buf[len] = '\0';
	*out = buf;
	return 0;
}

static void free_secret(char *s)
{
	if (s != NULL) {
		OPENSSL_cleanse(s, strlen(s));
		free(s);
	}
}

int aw_tls_server_credentials(const char *cert_file, const char *key_file,
			      const char *client_ca_file, grpc_server_credentials **creds,
			      aw_tls_mode *mode, aw_err *err)
{
	char *cert = NULL, *key = NULL, *ca = NULL;
	grpc_ssl_pem_key_cert_pair pair;
	int rc;

	*creds = NULL;
	*mode = AW_TLS_PLAINTEXT;
	if (cert_file[0] == '\0' && key_file[0] == '\0') {
		if (client_ca_file[0] != '\0')
			return aw_err_set(err, AW_EINVAL, "--tls-client-ca needs --tls-cert and --tls-key");
		return 0;
	}
	if (cert_file[0] == '\0' || key_file[0] == '\0')
		return aw_err_set(err, AW_EINVAL, "--tls-cert and --tls-key go together");
	rc = read_text("--tls-cert", cert_file, &cert, err);
	if (rc == 0)
		rc = read_text("--tls-key", key_file, &key, err);
	if (rc == 0 && client_ca_file[0] != '\0')
		rc = read_text("--tls-client-ca", client_ca_file, &ca, err);
	if (rc == 0) {
		pair.cert_chain = cert;
		pair.private_key = key;
		*creds = grpc_ssl_server_credentials_create_ex(
			ca, &pair, 1,
			ca != NULL ? GRPC_SSL_REQUEST_AND_REQUIRE_CLIENT_CERTIFICATE_AND_VERIFY
				   : GRPC_SSL_DONT_REQUEST_CLIENT_CERTIFICATE,
			NULL);
		if (*creds == NULL)
			rc = aw_err_set(err, AW_EINVAL, "grpc refused the TLS certificate or key");
		else
			*mode = ca != NULL ? AW_TLS_MUTUAL : AW_TLS_SERVER;
	}
	free(cert);
	free_secret(key);
	free(ca);
	return rc;
}

const char *aw_tls_mode_name(aw_tls_mode mode)
{
	switch (mode) {
	case AW_TLS_SERVER:
		return "TLS";
	case AW_TLS_MUTUAL:
		return "mutual TLS";
	default:
		return "plaintext";
	}
}
