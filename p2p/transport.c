/* transport.c: the transport table and address helpers; see transport.h. */
#include "p2p/transport.h"
#include "p2p/rfcomm.h"

#include <string.h>

static const struct transport *const transports[] = { &transport_tcp, &transport_rfcomm };

const struct transport *
transport_find(const char *name)
{
	for (size_t i = 0; i < sizeof transports / sizeof transports[0]; i++)
		if (strcmp(transports[i]->name, name) == 0)
			return transports[i];
	return NULL;
}

void
tp_addr_set(struct tp_addr *a, const struct sockaddr *sa, socklen_t len)
{
	memset(a, 0, sizeof *a);
	if (len > sizeof a->ss)
		len = sizeof a->ss;
	memcpy(&a->ss, sa, len);
	a->len = len;
}

int
tp_addr_local(int fd, struct tp_addr *a)
{
	memset(a, 0, sizeof *a);
	a->len = sizeof a->ss;
	return getsockname(fd, (struct sockaddr *)&a->ss, &a->len);
}
