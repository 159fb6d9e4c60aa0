/* peer_util.c: the network's pure helpers (see net.h): backoff, address parsing and
 * choice, the PEERS list, the duplicate-link rule. No I/O, no clock, no randomness of
 * their own: tests/unit/test_net.c drives them. */
#include "node/net.h"
#include "p2p/rfcomm.h"

#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

uint64_t
net_backoff_from(uint64_t base_ms, uint64_t max_ms, unsigned failures, uint32_t rnd)
{
	uint64_t d = base_ms;
	unsigned i;

	for (i = 0; i < failures && d < max_ms; i++)
		d *= 2;
	if (d > max_ms)
		d = max_ms;
	return d / 2 + rnd % (d / 2 + 1);
}

uint64_t
net_backoff_ms(unsigned failures, uint32_t rnd)
{
	return net_backoff_from(NET_BACKOFF_BASE_MS, NET_BACKOFF_MAX_MS, failures, rnd);
}

int
net_split_addr(const char *addr, char *host, size_t hostlen, uint16_t *port)
{
	const char *colon, *h;
	size_t hl;
	char *end;
	unsigned long p;

	if (addr == NULL || *addr == '\0')
		return -1;
	if (addr[0] == '[') {
		const char *close = strchr(addr, ']');

		if (close == NULL || close[1] != ':')
			return -1;
		h = addr + 1;
		hl = (size_t)(close - h);
		colon = close + 1;
		if (hl == 0)
			return -1;
	} else {
		if ((colon = strrchr(addr, ':')) == NULL)
			return -1;
		h = addr;
		hl = (size_t)(colon - addr);
		if (memchr(h, ':', hl) != NULL)
			return -1;
	}
	if (colon[1] < '0' || colon[1] > '9' || strlen(colon + 1) > 5)
		return -1;
	p = strtoul(colon + 1, &end, 10);
	if (*end != '\0' || p > 65535)
		return -1;
	if (hl >= hostlen)
		return -1;
	memcpy(host, h, hl);
	host[hl] = '\0';
	*port = (uint16_t)p;
	return 0;
}

int
net_join_addr(const char *host, uint16_t port, char *out, size_t outlen)
{
	int n;

	if (strchr(host, ':') != NULL)
		n = snprintf(out, outlen, "[%s]:%u", host, port);
	else
		n = snprintf(out, outlen, "%s:%u", host, port);
	return n < 0 || (size_t)n >= outlen ? -1 : 0;
}

int
net_host_unspecified(const char *host)
{
	return *host == '\0' || strcmp(host, "0.0.0.0") == 0 || strcmp(host, "::") == 0;
}

/* IPv6 literal, with an optional %scope. */
static int
v6_literal(const char *host, struct in6_addr *a)
{
	char buf[64];
	size_t n = strcspn(host, "%");

	if (n >= sizeof buf)
		return 0;
	memcpy(buf, host, n);
	buf[n] = '\0';
	return inet_pton(AF_INET6, buf, a) == 1;
}

int
net_host_numeric(const char *host)
{
	struct in_addr a4;
	struct in6_addr a6;

	return inet_pton(AF_INET, host, &a4) == 1 || v6_literal(host, &a6);
}

int
net_host_loopback(const char *host)
{
	struct in_addr a4;
	struct in6_addr a6;

	if (inet_pton(AF_INET, host, &a4) == 1)
		return (ntohl(a4.s_addr) >> 24) == 127;
	if (v6_literal(host, &a6))
		return IN6_IS_ADDR_LOOPBACK(&a6);
	return 0;
}

int
net_pick_addr(const char *const *advs, size_t n, const char *observed_host,
    char *out, size_t outlen)
{
	char host[NET_ADDR_LEN];
	uint16_t port;
	size_t i;
	int pass;

	/* pass 0: the observed host itself; 1: fill in the observed host; 2: any literal */
	for (pass = 0; pass < 3; pass++) {
		for (i = 0; i < n; i++) {
			if (net_split_addr(advs[i], host, sizeof host, &port) == -1 || port == 0)
				continue;
			if (pass == 0 && observed_host != NULL && strcmp(host, observed_host) == 0)
				return net_join_addr(host, port, out, outlen);
			if (pass == 1 && observed_host != NULL && *observed_host != '\0' &&
			    (net_host_unspecified(host) || !net_host_numeric(host)))
				return net_join_addr(observed_host, port, out, outlen);
			if (pass == 2 && !net_host_unspecified(host) && net_host_numeric(host))
				return net_join_addr(host, port, out, outlen);
		}
	}
	return -1;
}

/* 4 for IPv4 literals, 6 for IPv6, 0 otherwise. */
static int
host_family(const char *host)
{
	struct in_addr a4;
	struct in6_addr a6;

	if (inet_pton(AF_INET, host, &a4) == 1)
		return 4;
	if (v6_literal(host, &a6))
		return 6;
	return 0;
}

static size_t
add_unique(char (*out)[NET_ADDR_LEN], size_t k, size_t max, const char *addr)
{
	size_t i;

	if (k >= max)
		return k;
	for (i = 0; i < k; i++)
		if (strcmp(out[i], addr) == 0)
			return k;
	snprintf(out[k], NET_ADDR_LEN, "%s", addr);
	return k + 1;
}

size_t
net_dialable_addrs(const char *const *listen, size_t nlisten,
    const char *const *ifhosts, size_t nif, char (*out)[NET_ADDR_LEN], size_t max)
{
	char host[NET_ADDR_LEN], a[NET_ADDR_LEN];
	uint16_t port;
	size_t i, j, k = 0;

	for (i = 0; i < nlisten; i++) {
		if (net_split_addr(listen[i], host, sizeof host, &port) == -1 || port == 0)
			continue;
		if (!net_host_unspecified(host)) {
			k = add_unique(out, k, max, listen[i]);
			continue;
		}
		for (j = 0; j < nif; j++) {
			int fam = host_family(ifhosts[j]);

			if (fam == 0 || (strcmp(host, "0.0.0.0") == 0 && fam != 4) ||
			    (strcmp(host, "::") == 0 && fam != 6))
				continue;
			if (net_join_addr(ifhosts[j], port, a, sizeof a) == 0)
				k = add_unique(out, k, max, a);
		}
	}
	return k;
}

int
net_bt_addr_norm(const char *in, char *out, size_t outlen)
{
	static const uint8_t zero[RFCOMM_BDADDR_LEN];
	static const uint8_t bcast[RFCOMM_BDADDR_LEN] = { 0xff, 0xff, 0xff, 0xff, 0xff, 0xff };
	char dev[RFCOMM_BDADDR_STRLEN];
	uint8_t b[RFCOMM_BDADDR_LEN];
	const char *p, *slash;
	unsigned long ch = RFCOMM_DEFAULT_CHANNEL;
	size_t dlen;
	int n;

	if (in == NULL || strncmp(in, RFCOMM_PREFIX, strlen(RFCOMM_PREFIX)) != 0)
		return -1;
	p = in + strlen(RFCOMM_PREFIX);
	if ((slash = strchr(p, '/')) != NULL) {
		char *end;

		if (slash[1] < '1' || slash[1] > '9' || strlen(slash + 1) > 2)
			return -1;
		ch = strtoul(slash + 1, &end, 10);
		if (*end != '\0' || ch < 1 || ch > RFCOMM_CHANNEL_MAX)
			return -1;
		dlen = (size_t)(slash - p);
	} else {
		dlen = strlen(p);
	}
	if (dlen != RFCOMM_BDADDR_STRLEN - 1)
		return -1;
	memcpy(dev, p, dlen);
	dev[dlen] = '\0';
	if (rfcomm_bdaddr_parse(dev, b) == -1 || memcmp(b, zero, sizeof b) == 0 ||
	    memcmp(b, bcast, sizeof b) == 0)
		return -1;
	rfcomm_bdaddr_format(b, dev);
	n = snprintf(out, outlen, "%s%s/%lu", RFCOMM_PREFIX, dev, ch);
	return n < 0 || (size_t)n >= outlen ? -1 : 0;
}

int
net_addr_transport(const char *addr)
{
	return strncmp(addr, RFCOMM_PREFIX, strlen(RFCOMM_PREFIX)) == 0 ? NET_TP_RFCOMM :
	    NET_TP_TCP;
}

int
net_transport_usable(int t, int tcp_on, int bt_on)
{
	return (t == NET_TP_TCP && tcp_on) || (t == NET_TP_RFCOMM && bt_on);
}

int
net_peer_unreachable(const char *status, int64_t failures)
{
	return failures > 0 || strcmp(status, "left") == 0 || strcmp(status, "failed") == 0;
}

int
net_gossip_addr(int transport, const char *addr, int tcp_on, int bt_on, char *out,
    size_t outlen)
{
	char host[NET_ADDR_LEN];
	uint16_t port;
	int n;

	if (!net_transport_usable(transport, tcp_on, bt_on) ||
	    net_addr_transport(addr) != transport)
		return -1;
	if (transport == NET_TP_RFCOMM)
		return net_bt_addr_norm(addr, out, outlen);
	/* only numeric addresses: no name resolution on the loop */
	if (net_split_addr(addr, host, sizeof host, &port) == -1 || port == 0 ||
	    !net_host_numeric(host) || net_host_unspecified(host))
		return -1;
	n = snprintf(out, outlen, "%s", addr);
	return n < 0 || (size_t)n >= outlen ? -1 : 0;
}

int
net_pick_bt_addr(const char *const *advs, size_t n, const char *observed, char *out,
    size_t outlen)
{
	char a[NET_ADDR_LEN], want[NET_ADDR_LEN];
	size_t i;
	int first = -1;

	for (i = 0; i < n; i++) {
		if (net_bt_addr_norm(advs[i], a, sizeof a) == -1)
			continue;
		if (first == -1)
			first = (int)i;
		/* "bt:" + the 17 characters of the device address */
		if (observed != NULL && snprintf(want, sizeof want, "%s%s/", RFCOMM_PREFIX,
		    observed) > 0 && strncasecmp(a, want, strlen(want)) == 0) {
			snprintf(out, outlen, "%s", a);
			return strlen(a) < outlen ? 0 : -1;
		}
	}
	if (first == -1)
		return -1;
	net_bt_addr_norm(advs[first], a, sizeof a);
	snprintf(out, outlen, "%s", a);
	return strlen(a) < outlen ? 0 : -1;
}

int
net_alt_addr(const char *const *advs, size_t n, int link_tp, char *out, size_t outlen)
{
	size_t i;

	if (link_tp == NET_TP_TCP)
		return net_pick_bt_addr(advs, n, NULL, out, outlen);
	for (i = 0; i < n; i++)
		if (net_gossip_addr(NET_TP_TCP, advs[i], 1, 0, out, outlen) == 0)
			return 0;
	return -1;
}

struct sel {
	size_t idx;
	int connected;
	int64_t last_seen;
};

static int
sel_cmp(const void *x, const void *y)
{
	const struct sel *a = x, *b = y;

	if (a->connected != b->connected)
		return b->connected - a->connected;
	if (a->last_seen != b->last_seen)
		return a->last_seen > b->last_seen ? -1 : 1;
	return a->idx < b->idx ? -1 : a->idx > b->idx;
}

size_t
net_gossip_select(const struct net_gossip_cand *c, size_t n, const uint8_t *receiver,
    int64_t now_ms, int64_t stale_ms, size_t max, size_t *out)
{
	struct sel *s;
	size_t i, k = 0;

	if (n == 0 || max == 0)
		return 0;
	s = calloc(n, sizeof *s);
	if (s == NULL)
		return 0;
	for (i = 0; i < n; i++) {
		if (c[i].addr == NULL || c[i].addr[0] == '\0')
			continue;
		if (receiver != NULL && memcmp(c[i].id, receiver, 32) == 0)
			continue;
		if (!c[i].connected && c[i].last_seen_ms < now_ms - stale_ms)
			continue;
		s[k].idx = i;
		s[k].connected = c[i].connected ? 1 : 0;
		s[k].last_seen = c[i].last_seen_ms;
		k++;
	}
	qsort(s, k, sizeof *s, sel_cmp);
	if (k > max)
		k = max;
	for (i = 0; i < k; i++)
		out[i] = s[i].idx;
	free(s);
	return k;
}

int
net_keep_new_link(const uint8_t *self, const uint8_t *peer, int old_outbound,
    int new_outbound)
{
	const uint8_t *old_dialer = old_outbound ? self : peer;
	const uint8_t *new_dialer = new_outbound ? self : peer;

	if ((old_outbound != 0) == (new_outbound != 0))
		return 0;
	return memcmp(new_dialer, old_dialer, 32) < 0;
}
