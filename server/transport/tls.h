/*
 * tls.h: server credentials from PEM files.
 *
 * --tls-cert and --tls-key serve TLS; --tls-client-ca also requires every
 * client to present a certificate signed by that CA and verifies it (mutual
 * TLS, for service-to-service calls). With none of them the server serves
 * plaintext and says so once at start-up.
 */
#ifndef AW_TLS_H
#define AW_TLS_H

#include <grpc/grpc_security.h>

#include "aniworld/error.h"

/* What a server serves. */
typedef enum aw_tls_mode {
	AW_TLS_PLAINTEXT,
	AW_TLS_SERVER,   /* TLS, any client */
	AW_TLS_MUTUAL,   /* TLS, clients must present a certificate from the client CA */
} aw_tls_mode;

/*
 * Builds credentials from the three file paths ("" = not given). *creds is NULL
 * for plaintext, else the caller releases it with grpc_server_credentials_release().
 * Returns AW_EINVAL for a combination that makes no sense (a cert without key, a
 * client CA without cert), AW_EIO when a file cannot be read.
 */
int aw_tls_server_credentials(const char *cert_file, const char *key_file,
			      const char *client_ca_file, grpc_server_credentials **creds,
			      aw_tls_mode *mode, aw_err *err);

/* "plaintext", "TLS" or "mutual TLS". */
const char *aw_tls_mode_name(aw_tls_mode mode);

#endif /* AW_TLS_H */
