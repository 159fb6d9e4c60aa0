/* fdpass.h: the CLI's side of <datadir>/fd.sock (protocol in node/fdpass.h): hand the
 * daemon a descriptor of the file to store or to write, so that the bytes do not cross
 * the HTTP connection. Optional: a daemon without fd.sock, or P2P_FDPASS=0 in the
 * environment, and the caller uses HTTP bodies as before. */
#ifndef P2P_CMD_FDPASS_H
#define P2P_CMD_FDPASS_H

#include <stdint.h>

/* Pass fd to the daemon of datadir. 0: token (33 bytes) names it in the one request
 * that uses it (?fd=TOKEN) and *sock is the connection to keep open until that request
 * ended (then close it); 1: not available, use HTTP (nothing printed). */
int fdpass_send(const char *datadir, int fd, char token[33], int *sock);
/* Progress lines that arrived on sock, without waiting: *bytes gets the last count. */
void fdpass_poll(int sock, uint64_t *bytes);

#endif
