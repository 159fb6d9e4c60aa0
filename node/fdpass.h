/* fdpass.h: file descriptors handed to the daemon by the local CLI, so that `p2p store
 * FILE` and `p2p get --out FILE` move the bytes with pread/pwrite on the workers, in
 * parallel, instead of through HTTP bodies on the loop thread (libevent 2.1 reads an
 * HTTP body 4 KiB per loop iteration: with the CLI's copies, about a quarter of the CPU
 * time of a store).
 *
 * <datadir>/fd.sock (SOCK_STREAM, mode 0600 like api.sock):
 *   client  "FD\n" in one sendmsg(2) carrying one descriptor (SCM_RIGHTS) of a regular file
 *   daemon  "OK <32 hex digits>\n" (a token) or "ERR <reason>\n" (then closes)
 *   client  one request naming the token while it keeps the connection open:
 *           PUT /v1/files/KEY?fd=TOKEN (store the file) or GET /v1/files/KEY?fd=TOKEN
 *           (write the content into it; the reply is JSON). While that request runs the
 *           daemon writes progress lines "P <bytes done>\n" on the connection.
 * A token is good for one request, while its connection is open (at most 60 s before
 * it is used). Loop thread only. */
#ifndef P2P_FDPASS_H
#define P2P_FDPASS_H

#include <stdint.h>

struct node;

int fdpass_start(struct node *n, char **cause);
void fdpass_stop(struct node *n); /* closes every connection; removes fd.sock */
/* Take the descriptor passed under token: *fd is it, *sock the client's connection (for
 * fdpass_progress); both are the caller's to close. 0 ok, -1 no such token. */
int fdpass_take(struct node *n, const char *token, int *fd, int *sock);
/* Best effort, never blocks: "P <bytes>\n" on sock. */
void fdpass_progress(int sock, uint64_t bytes);

#endif
