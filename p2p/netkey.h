/* netkey.h: the network key, a 32-byte shared secret that admits a node to a network.
 *
 * File format: one line, 64 lowercase hex characters and a newline; mode 0600; a file
 * readable by group or others is refused. The key itself is never logged or announced:
 * mDNS advertises only the network identifier (first 8 bytes of
 * HMAC-SHA256(key, "p2p network id v1"), in hex). */
#ifndef P2P_NETKEY_H
#define P2P_NETKEY_H

#include <stddef.h>
#include <stdint.h>

#define NETKEY_LEN 32
#define NETKEY_FILE "network.key"
#define NETKEY_ID_LEN 8 /* bytes of the network identifier */
#define NETKEY_ID_HEX_LEN (2 * NETKEY_ID_LEN)

struct netkey {
	uint8_t k[NETKEY_LEN];
};

/* 32 bytes from RAND_bytes. 0 ok, -1 with *cause. */
int netkey_generate(struct netkey *nk, char **cause);
/* Load a key file. 0 ok, 1 absent, -1 error with *cause (bad format, too-open mode). */
int netkey_load(struct netkey *nk, const char *path, char **cause);
/* Write a new key file (O_EXCL, 0600, durable). 0 ok, 1 if it already exists, -1 error. */
int netkey_save(const struct netkey *nk, const char *path, char **cause);
/* The default key: load <datadir>/network.key, or generate and save it when absent.
 * *created (if not NULL) says whether a new key was made. 0 ok, -1 with *cause. */
int netkey_open(struct netkey *nk, const char *datadir, int *created, char **cause);
/* Parse "64 hex chars" with an optional trailing newline. 0 ok, -1 bad. */
int netkey_parse(struct netkey *nk, const char *s, size_t len);
/* out: NETKEY_ID_HEX_LEN + 1 bytes. */
void netkey_network_id(const struct netkey *nk, char *out);
/* Wipe. */
void netkey_clear(struct netkey *nk);

#endif
