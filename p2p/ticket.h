/* ticket.h: a join ticket, one copy-pasteable string that carries the network key and
 * a few addresses of nodes to dial first:
 *
 *   "p2p1:" base64url-without-padding( u8 version (1) | 32-byte network key |
 *                                      u8 count (<= 16) | count x str16 address )
 *
 * An address is "host:port" or "[v6]:port" (1..255 printable ASCII bytes). The ticket
 * contains the network key: treat it like the key itself. */
#ifndef P2P_TICKET_H
#define P2P_TICKET_H

#include <stddef.h>
#include <stdint.h>

#include "p2p/netkey.h"

struct rd;
struct wr;

#define TICKET_PREFIX "p2p1:"
#define TICKET_VERSION 1
#define TICKET_MAX_ADDRS 16
#define TICKET_ADDR_MAX 255
/* Longest blob and string a valid ticket can have. */
#define TICKET_BLOB_MAX (1 + NETKEY_LEN + 1 + TICKET_MAX_ADDRS * (2 + TICKET_ADDR_MAX))
#define TICKET_STR_MAX (sizeof(TICKET_PREFIX) - 1 + (TICKET_BLOB_MAX * 4 + 2) / 3)

struct ticket {
	struct netkey key;
	size_t naddrs;
	char addrs[TICKET_MAX_ADDRS][TICKET_ADDR_MAX + 1];
};

/* The binary blob. -1 if a limit is broken. */
int ticket_encode(struct wr *w, const struct ticket *t);
/* Reads the whole blob (rd_end: trailing bytes rejected). -1 with *errstr. */
int ticket_decode(struct rd *r, struct ticket *t, const char **errstr);
/* "p2p1:..." (caller frees). NULL if a limit is broken. */
char *ticket_to_string(const struct ticket *t);
/* Parse a ticket string; surrounding whitespace is ignored. 0 ok, -1 with *cause. */
int ticket_from_string(const char *s, struct ticket *t, char **cause);
/* Add an address (checks the limits). 0 ok, -1 if full or invalid. */
int ticket_add_addr(struct ticket *t, const char *addr);

#endif
