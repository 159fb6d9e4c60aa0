/* transport.h: one small vtable per transport (Redis connection.h style). TCP now
 * (tcp.c); RFCOMM later behind the same table. The secure handshake (tls.h) runs over
 * whatever stream socket a transport hands out. */
#ifndef P2P_TRANSPORT_H
#define P2P_TRANSPORT_H

#include <stddef.h>
#include <sys/socket.h>

#define TP_ADDRSTRLEN 300 /* fits any formatted address (db_peer.addr) */

/* parse() flags */
#define TP_PASSIVE 0x1 /* an address to listen on: ":port" and port 0 allowed */

struct tp_addr {
	struct sockaddr_storage ss;
	socklen_t len;
	int dual; /* TCP ":port": the IPv6 wildcard with IPV6_V6ONLY=0 (IPv4 too) */
};

struct transport {
	const char *name; /* "tcp" (db_peer.transport) */
	/* Address string -> socket address. May block (name resolution). 0 ok, -1 with
	 * *cause. */
	int (*parse)(const char *s, int flags, struct tp_addr *a, char **cause);
	/* A listening socket (non-blocking, close-on-exec). fd or -1 with *cause. */
	int (*listen)(const struct tp_addr *a, char **cause);
	/* Start connecting: a non-blocking socket whose connect may still be in progress
	 * (wait for writability, then check SO_ERROR). fd or -1 with *cause. */
	int (*connect_nonblocking)(const struct tp_addr *a, char **cause);
	/* Socket address -> string (the form parse accepts). 0 ok, -1 if it does not fit. */
	int (*format)(const struct tp_addr *a, char *out, size_t outlen);
};

extern const struct transport transport_tcp;

/* "tcp" -> &transport_tcp; NULL if unknown. */
const struct transport *transport_find(const char *name);
/* Wrap a sockaddr from accept(2)/getsockname(2). */
void tp_addr_set(struct tp_addr *a, const struct sockaddr *sa, socklen_t len);
/* The address a socket is bound to (e.g. the real port after listening on port 0). */
int tp_addr_local(int fd, struct tp_addr *a);

#endif
