/* netkey.c: see netkey.h. */
#include "p2p/netkey.h"
#include "p2p/keyfile.h"
#include "p2p/ossl.h"
#include "lib/log.h"
#include "lib/util.h"

#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>

#define NETKEY_ID_LABEL "p2p network id v1"

int
netkey_generate(struct netkey *nk, char **cause)
{
	if (RAND_bytes(nk->k, NETKEY_LEN) != 1)
		return set_cause(cause, "generating a network key: %s", ossl_errstr());
	return 0;
}

int
netkey_parse(struct netkey *nk, const char *s, size_t len)
{
	char hex[2 * NETKEY_LEN + 1];
	int rc;

	if (len == 2 * NETKEY_LEN + 1 && s[len - 1] == '\n')
		len--;
	if (len != 2 * NETKEY_LEN)
		return -1;
	memcpy(hex, s, len);
	hex[len] = '\0';
	rc = hex_decode(hex, nk->k, NETKEY_LEN);
	OPENSSL_cleanse(hex, sizeof hex);
	return rc;
}

int
netkey_load(struct netkey *nk, const char *path, char **cause)
{
	char *buf;
	size_t len;
	int rc;

	if ((rc = keyfile_read(path, 256, &buf, &len, cause)) != 0)
		return rc;
	if (netkey_parse(nk, buf, len) == -1)
		rc = set_cause(cause, "%s: not a network key (expected one line of 64 hex "
		    "characters)", path);
	keyfile_free(buf, len);
	return rc;
}

int
netkey_save(const struct netkey *nk, const char *path, char **cause)
{
	char line[2 * NETKEY_LEN + 2];
	int rc;

	hex_encode(nk->k, NETKEY_LEN, line);
	line[2 * NETKEY_LEN] = '\n';
	line[2 * NETKEY_LEN + 1] = '\0';
	rc = keyfile_create(path, line, 2 * NETKEY_LEN + 1, cause);
	OPENSSL_cleanse(line, sizeof line);
	return rc;
}

int
netkey_open(struct netkey *nk, const char *datadir, int *created, char **cause)
{
	char *path;
	int rc;

	if (created != NULL)
		*created = 0;
	xasprintf(&path, "%s/%s", datadir, NETKEY_FILE);
	if ((rc = netkey_load(nk, path, cause)) != 1)
		goto out;
	if ((rc = netkey_generate(nk, cause)) == -1)
		goto out;
	switch (netkey_save(nk, path, cause)) {
	case 0:
		if (created != NULL)
			*created = 1;
		rc = 0;
		break;
	case 1: /* created concurrently: use that one */
		if ((rc = netkey_load(nk, path, cause)) == 1)
			rc = set_cause(cause, "%s: vanished while being created", path);
		break;
	default:
		rc = -1;
		break;
	}
out:
	if (rc != 0)
		netkey_clear(nk);
	free(path);
	return rc;
}

void
netkey_network_id(const struct netkey *nk, char *out)
{
	uint8_t mac[EVP_MAX_MD_SIZE];
	unsigned int maclen = 0;

	if (HMAC(EVP_sha256(), nk->k, NETKEY_LEN, (const uint8_t *)NETKEY_ID_LABEL,
	    strlen(NETKEY_ID_LABEL), mac, &maclen) == NULL || maclen < NETKEY_ID_LEN)
		fatalx("HMAC-SHA256 failed");
	hex_encode(mac, NETKEY_ID_LEN, out);
}

void
netkey_clear(struct netkey *nk)
{
	OPENSSL_cleanse(nk->k, sizeof nk->k);
}
