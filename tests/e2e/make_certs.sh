#!/bin/sh
# Makes throwaway certificates for the TLS tests in directory $1:
#   ca.crt/ca.key          the test CA
#   server.crt/server.key  for localhost and 127.0.0.1, signed by the CA
#   client.crt/client.key  a client certificate signed by the CA
#   rogue-ca.crt           another CA, and rogue.crt/rogue.key: a client
#                          certificate it signed (the server must refuse it)
set -eu
dir=$1
cd "$dir"
key() { openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:prime256v1 -out "$1" 2>/dev/null; }
ca() { key "$1.key"; openssl req -x509 -new -key "$1.key" -out "$1.crt" -days 2 -subj "/CN=$2" 2>/dev/null; }
leaf() { # name ca cn extensions
	key "$1.key"
	openssl req -new -key "$1.key" -out "$1.csr" -subj "/CN=$3" 2>/dev/null
	printf '%s\n' "$4" > "$1.ext"
	openssl x509 -req -in "$1.csr" -CA "$2.crt" -CAkey "$2.key" -CAcreateserial -out "$1.crt" \
		-days 2 -extfile "$1.ext" 2>/dev/null
}
ca ca "Aniworld Test CA"
ca rogue-ca "Rogue CA"
leaf server ca localhost "subjectAltName=DNS:localhost,IP:127.0.0.1
extendedKeyUsage=serverAuth"
leaf client ca test-client "extendedKeyUsage=clientAuth"
leaf rogue rogue-ca rogue-client "extendedKeyUsage=clientAuth"
