/* tcp.c: the TCP transport. Addresses:
 *   ":3000"          every IPv4 and IPv6 address ([::] with IPV6_V6ONLY=0; listen only)
 *   "0.0.0.0:3000"   IPv4 only        "[::]:3000"  IPv6 only
 *   "127.0.0.1:3000" "[::1]:3000" "[fe80::1%eth0]:3000"
 *   "host:3000"      resolved with getaddrinfo (first result) */
#include "p2p/transport.h"
#include "lib/util.h"

#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define TCP_BACKLOG 128
#define TCP_HOST_MAX 255

static int
tcp_parse(const char *s, int flags, struct tp_addr *a, char **cause)
{
	struct addrinfo hints, *res = NULL;
	char host[TCP_HOST_MAX + 1], portstr[8];
	const char *colon, *errstr;
	size_t hlen;
	long long port;
	int family = AF_UNSPEC, gai;

	memset(a, 0, sizeof *a);
	if (s == NULL || *s == '\0')
		return set_cause(cause, "empty address");
	if (s[0] == '[') {
		const char *close = strchr(s, ']');
		if (close == NULL || close[1] != ':')
			return set_cause(cause, "%s: expected [IPv6]:port", s);
		hlen = (size_t)(close - s - 1);
		if (hlen == 0 || hlen > TCP_HOST_MAX)
			return set_cause(cause, "%s: bad IPv6 address", s);
		memcpy(host, s + 1, hlen);
		colon = close + 1;
		family = AF_INET6;
	} else {
		if ((colon = strrchr(s, ':')) == NULL)
			return set_cause(cause, "%s: missing port (host:port)", s);
		hlen = (size_t)(colon - s);
		if (memchr(s, ':', hlen) != NULL)
			return set_cause(cause, "%s: IPv6 addresses need brackets, as in "
			    "[::1]:3000", s);
		if (hlen > TCP_HOST_MAX)
			return set_cause(cause, "%s: host name too long", s);
		memcpy(host, s, hlen);
	}
	host[hlen] = '\0';
	port = parse_num(colon + 1, 0, 65535, &errstr);
	if (errstr != NULL)
		return set_cause(cause, "%s: port is %s", s, errstr);
	if (port == 0 && !(flags & TP_PASSIVE))
		return set_cause(cause, "%s: port 0", s);

	if (hlen == 0) {
		struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)&a->ss;

		if (!(flags & TP_PASSIVE))
			return set_cause(cause, "%s: missing host", s);
		sin6->sin6_family = AF_INET6;
		sin6->sin6_addr = in6addr_any;
		sin6->sin6_port = htons((uint16_t)port);
		a->len = sizeof *sin6;
		a->dual = 1;
		return 0;
	}

	memset(&hints, 0, sizeof hints);
	hints.ai_family = family;
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_protocol = IPPROTO_TCP;
	hints.ai_flags = AI_NUMERICSERV | (family == AF_INET6 ? AI_NUMERICHOST : 0);
	snprintf(portstr, sizeof portstr, "%lld", port);
	if ((gai = getaddrinfo(host, portstr, &hints, &res)) != 0)
		return set_cause(cause, "%s: %s", s, gai_strerror(gai));
	if (res == NULL || res->ai_addrlen > sizeof a->ss) {
		freeaddrinfo(res);
		return set_cause(cause, "%s: no usable address", s);
	}
	memcpy(&a->ss, res->ai_addr, res->ai_addrlen);
	a->len = (socklen_t)res->ai_addrlen;
	freeaddrinfo(res);
	return 0;
}

static int
tcp_listen(const struct tp_addr *a, char **cause)
{
	struct tp_addr v4;
	char name[TP_ADDRSTRLEN];
	int fd, on = 1;

	fd = socket(a->ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd == -1 && a->dual && errno == EAFNOSUPPORT) {
		/* No IPv6 on this host: ":port" means every IPv4 address then. */
		struct sockaddr_in *sin = (struct sockaddr_in *)&v4.ss;

		memset(&v4, 0, sizeof v4);
		sin->sin_family = AF_INET;
		sin->sin_addr.s_addr = htonl(INADDR_ANY);
		sin->sin_port = ((const struct sockaddr_in6 *)&a->ss)->sin6_port;
		v4.len = sizeof *sin;
		a = &v4;
		fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	}
	if (fd == -1)
		return set_cause(cause, "socket: %s", strerror(errno));
	if (transport_tcp.format(a, name, sizeof name) == -1)
		snprintf(name, sizeof name, "?");
	if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof on) == -1)
		goto fail;
	/* Nagle's algorithm off, as on the sockets tcp_connect dials: Linux gives the
	 * sockets accepted here the listener's TCP_NODELAY. A message is often several TLS
	 * records (a FILE, a CHUNK_PUT's header, its bytes); with Nagle each waited for the
	 * peer's delayed ACK of the one before (docs/ARCHITECTURE.md, Peer links). */
	(void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &on, sizeof on);
	if (a->ss.ss_family == AF_INET6) {
		int v6only = a->dual ? 0 : 1;
		if (setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &v6only, sizeof v6only) == -1)
			goto fail;
	}
	if (bind(fd, (const struct sockaddr *)&a->ss, a->len) == -1 ||
	    listen(fd, TCP_BACKLOG) == -1)
		goto fail;
	return fd;
fail:
	set_cause(cause, "listen on %s: %s", name, strerror(errno));
	close(fd);
	return -1;
}

static int
tcp_connect_nonblocking(const struct tp_addr *a, char **cause)
{
	char name[TP_ADDRSTRLEN];
	int fd, on = 1;

	fd = socket(a->ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd == -1)
		return set_cause(cause, "socket: %s", strerror(errno));
	(void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &on, sizeof on);
	if (connect(fd, (const struct sockaddr *)&a->ss, a->len) == -1 &&
	    errno != EINPROGRESS) {
		int e = errno;
		if (transport_tcp.format(a, name, sizeof name) == -1)
			snprintf(name, sizeof name, "?");
		set_cause(cause, "connect to %s: %s", name, strerror(e));
		close(fd);
		return -1;
	}
	return fd;
}

static int
tcp_format(const struct tp_addr *a, char *out, size_t outlen)
{
	char host[NI_MAXHOST];
	int n;

	if (a->ss.ss_family == AF_INET) {
		const struct sockaddr_in *sin = (const struct sockaddr_in *)&a->ss;
		if (getnameinfo((const struct sockaddr *)sin, sizeof *sin, host, sizeof host,
		    NULL, 0, NI_NUMERICHOST) != 0)
			return -1;
		n = snprintf(out, outlen, "%s:%u", host, ntohs(sin->sin_port));
	} else if (a->ss.ss_family == AF_INET6) {
		const struct sockaddr_in6 *sin6 = (const struct sockaddr_in6 *)&a->ss;
		uint16_t port = ntohs(sin6->sin6_port);

		if (a->dual)
			n = snprintf(out, outlen, ":%u", port);
		else if (IN6_IS_ADDR_V4MAPPED(&sin6->sin6_addr)) {
			const uint8_t *b = sin6->sin6_addr.s6_addr + 12;
			n = snprintf(out, outlen, "%u.%u.%u.%u:%u", b[0], b[1], b[2], b[3],
			    port);
		} else {
			if (getnameinfo((const struct sockaddr *)sin6, sizeof *sin6, host,
			    sizeof host, NULL, 0, NI_NUMERICHOST) != 0)
				return -1;
			n = snprintf(out, outlen, "[%s]:%u", host, port);
		}
	} else
		return -1;
	return n < 0 || (size_t)n >= outlen ? -1 : 0;
}

const struct transport transport_tcp = {
	.name = "tcp",
	.parse = tcp_parse,
	.listen = tcp_listen,
	.connect_nonblocking = tcp_connect_nonblocking,
	.format = tcp_format,
};
