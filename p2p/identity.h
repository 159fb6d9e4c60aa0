/* identity.h: this node's Ed25519 identity key and node ID.
 *
 * The key lives at <datadir>/node.key (PKCS#8 PEM, mode 0600) and is created on first
 * use. The node ID is SHA-256 of the raw 32-byte Ed25519 public key; it is shown as 64
 * hex characters, or in short form as the first 8. */
#ifndef P2P_IDENTITY_H
#define P2P_IDENTITY_H

#include <stdint.h>

#include <openssl/types.h>

#ifndef NODE_ID_LEN
#define NODE_ID_LEN 32 /* the same definition as db/db.h */
#endif
#define NODE_ID_HEX_LEN (2 * NODE_ID_LEN)
#define NODE_ID_SHORT_LEN 8
#define IDENTITY_PUB_LEN 32
#define IDENTITY_FILE "node.key"

struct identity;

/* Load <datadir>/node.key, creating it (O_EXCL, 0600) if it does not exist. Refuses a
 * key file readable by group or others, or one that is not an Ed25519 private key.
 * *created (if not NULL) is set to 1 when a new key was written. 0 ok, -1 with *cause. */
int identity_open(struct identity **out, const char *datadir, int *created, char **cause);
/* Load an existing key file (same checks). 0 ok, -1 with *cause (also if absent). */
int identity_load(struct identity **out, const char *path, char **cause);
/* A fresh key that is never written anywhere (tests, throw-away clients). */
int identity_generate(struct identity **out, char **cause);
void identity_free(struct identity *id); /* NULL ok */

const uint8_t *identity_id(const struct identity *id);     /* NODE_ID_LEN bytes */
const uint8_t *identity_pubkey(const struct identity *id); /* IDENTITY_PUB_LEN bytes */
const char *identity_hex(const struct identity *id);       /* 64 hex chars */
const char *identity_short(const struct identity *id);     /* first 8 hex chars */
EVP_PKEY *identity_pkey(const struct identity *id);        /* owned by id */

/* node ID := SHA-256(raw Ed25519 public key). */
void node_id_from_pubkey(const uint8_t pub[IDENTITY_PUB_LEN], uint8_t out[NODE_ID_LEN]);
/* out: NODE_ID_HEX_LEN + 1 bytes / NODE_ID_SHORT_LEN + 1 bytes. */
void node_id_hex(const uint8_t id[NODE_ID_LEN], char *out);
void node_id_short(const uint8_t id[NODE_ID_LEN], char *out);
/* Raw public key of an Ed25519 EVP_PKEY; -1 if pkey is not Ed25519. */
int identity_pkey_raw(EVP_PKEY *pkey, uint8_t pub[IDENTITY_PUB_LEN]);

#endif
