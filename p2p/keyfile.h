/* keyfile.h: private helpers for secret files (node.key, network.key). Internal to p2p/. */
#ifndef P2P_KEYFILE_H
#define P2P_KEYFILE_H

#include <stddef.h>

#define KEYFILE_MAX 8192

/* Read a secret file of at most max bytes into a new NUL-terminated buffer.
 * Refuses a file that is not a regular file or that group or others may access
 * (mode & 077), with a cause that says how to fix it.
 * Returns 0 ok, 1 if the file does not exist, -1 error with *cause. Free *buf with
 * keyfile_free(). */
int keyfile_read(const char *path, size_t max, char **buf, size_t *len, char **cause);
/* Wipe and free a buffer from keyfile_read; NULL ok. */
void keyfile_free(char *buf, size_t len);
/* Create path atomically with mode 0600 and the given contents: written to a temporary
 * file created with O_EXCL, fsynced, then linked into place (link(2) fails if path
 * exists, so an existing key is never replaced) and the directory fsynced.
 * Returns 0 created, 1 if path already exists (nothing changed), -1 error with *cause. */
int keyfile_create(const char *path, const void *data, size_t len, char **cause);

#endif
