/* identity.c: see identity.h. */
#include "p2p/identity.h"
#include "p2p/keyfile.h"
#include "p2p/ossl.h"
#include "lib/util.h"

#include <stdlib.h>
#include <string.h>

#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/sha.h>

struct identity {
	EVP_PKEY *pkey;
	uint8_t pub[IDENTITY_PUB_LEN];
	uint8_t id[NODE_ID_LEN];
	char hex[NODE_ID_HEX_LEN + 1];
	char shorthex[NODE_ID_SHORT_LEN + 1];
};

void
node_id_from_pubkey(const uint8_t pub[IDENTITY_PUB_LEN], uint8_t out[NODE_ID_LEN])
{
	SHA256(pub, IDENTITY_PUB_LEN, out);
}

void
node_id_hex(const uint8_t id[NODE_ID_LEN], char *out)
{
	hex_encode(id, NODE_ID_LEN, out);
}

void
node_id_short(const uint8_t id[NODE_ID_LEN], char *out)
{
	hex_encode(id, NODE_ID_SHORT_LEN / 2, out);
}

int
identity_pkey_raw(EVP_PKEY *pkey, uint8_t pub[IDENTITY_PUB_LEN])
{
	size_t len = IDENTITY_PUB_LEN;

	if (pkey == NULL || EVP_PKEY_get_base_id(pkey) != EVP_PKEY_ED25519)
		return -1;
	if (EVP_PKEY_get_raw_public_key(pkey, pub, &len) != 1 || len != IDENTITY_PUB_LEN) {
		ERR_clear_error();
		return -1;
	}
	return 0;
}

/* Takes ownership of pkey (freed on failure). */
static int
identity_from_pkey(struct identity **out, EVP_PKEY *pkey, const char *what, char **cause)
{
	struct identity *id = xcalloc(1, sizeof *id);

	if (identity_pkey_raw(pkey, id->pub) == -1) {
		EVP_PKEY_free(pkey);
		free(id);
		return set_cause(cause, "%s: not an Ed25519 private key", what);
	}
	id->pkey = pkey;
	node_id_from_pubkey(id->pub, id->id);
	node_id_hex(id->id, id->hex);
	node_id_short(id->id, id->shorthex);
	*out = id;
	return 0;
}

static EVP_PKEY *
ed25519_generate(char **cause)
{
	EVP_PKEY_CTX *pctx;
	EVP_PKEY *pkey = NULL;

	if ((pctx = EVP_PKEY_CTX_new_id(EVP_PKEY_ED25519, NULL)) == NULL ||
	    EVP_PKEY_keygen_init(pctx) != 1 || EVP_PKEY_keygen(pctx, &pkey) != 1) {
		set_cause(cause, "generating an Ed25519 key: %s", ossl_errstr());
		pkey = NULL;
	}
	EVP_PKEY_CTX_free(pctx);
	return pkey;
}

int
identity_generate(struct identity **out, char **cause)
{
	EVP_PKEY *pkey;

	*out = NULL;
	if ((pkey = ed25519_generate(cause)) == NULL)
		return -1;
	return identity_from_pkey(out, pkey, "generated key", cause);
}

/* Key files are never encrypted: refuse instead of prompting on a terminal. */
static int
no_passphrase(char *buf, int size, int rwflag, void *arg)
{
	(void)buf;
	(void)size;
	(void)rwflag;
	(void)arg;
	return -1;
}

/* 0 ok, 1 absent, -1 error. */
static int
identity_read(struct identity **out, const char *path, char **cause)
{
	EVP_PKEY *pkey = NULL;
	BIO *bio = NULL;
	char *buf;
	size_t len;
	int rc;

	if ((rc = keyfile_read(path, KEYFILE_MAX, &buf, &len, cause)) != 0)
		return rc;
	rc = -1;
	if ((bio = BIO_new_mem_buf(buf, (int)len)) == NULL)
		goto out;
	pkey = PEM_read_bio_PrivateKey(bio, NULL, no_passphrase, NULL);
	if (pkey == NULL) {
		ERR_clear_error();
		set_cause(cause, "%s: not a readable PEM private key (damaged or "
		    "passphrase-protected? move it away to create a new identity)", path);
		goto out;
	}
	rc = identity_from_pkey(out, pkey, path, cause);
out:
	BIO_free(bio);
	keyfile_free(buf, len);
	return rc;
}

int
identity_load(struct identity **out, const char *path, char **cause)
{
	int rc;

	*out = NULL;
	if ((rc = identity_read(out, path, cause)) == 1)
		return set_cause(cause, "%s: no such file", path);
	return rc;
}

int
identity_open(struct identity **out, const char *datadir, int *created, char **cause)
{
	EVP_PKEY *pkey = NULL;
	BIO *bio = NULL;
	char *path = NULL, *pem;
	long pemlen;
	int rc;

	*out = NULL;
	if (created != NULL)
		*created = 0;
	xasprintf(&path, "%s/%s", datadir, IDENTITY_FILE);
	if ((rc = identity_read(out, path, cause)) != 1)
		goto out;
	rc = -1;
	if ((pkey = ed25519_generate(cause)) == NULL)
		goto out;
	if ((bio = BIO_new(BIO_s_secmem())) == NULL ||
	    PEM_write_bio_PrivateKey(bio, pkey, NULL, NULL, 0, NULL, NULL) != 1 ||
	    (pemlen = BIO_get_mem_data(bio, &pem)) <= 0) {
		set_cause(cause, "encoding the identity key: %s", ossl_errstr());
		goto out;
	}
	switch (keyfile_create(path, pem, (size_t)pemlen, cause)) {
	case 0:
		if (created != NULL)
			*created = 1;
		rc = identity_from_pkey(out, pkey, path, cause);
		pkey = NULL;
		break;
	case 1: /* another process created it meanwhile: use theirs */
		if ((rc = identity_read(out, path, cause)) == 1)
			rc = set_cause(cause, "%s: vanished while being created", path);
		break;
	default:
		break;
	}
out:
	BIO_free(bio);
	EVP_PKEY_free(pkey);
	free(path);
	return rc;
}

void
identity_free(struct identity *id)
{
	if (id == NULL)
		return;
	EVP_PKEY_free(id->pkey);
	free(id);
}

const uint8_t *
identity_id(const struct identity *id)
{
	return id->id;
}

const uint8_t *
identity_pubkey(const struct identity *id)
{
	return id->pub;
}

const char *
identity_hex(const struct identity *id)
{
	return id->hex;
}

const char *
identity_short(const struct identity *id)
{
	return id->shorthex;
}

EVP_PKEY *
identity_pkey(const struct identity *id)
{
	return id->pkey;
}
