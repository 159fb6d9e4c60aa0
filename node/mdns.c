/* mdns.c: see mdns.h. */
#include "node/mdns.h"

#include <arpa/inet.h>
#include <net/if.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "lib/log.h"
#include "lib/util.h"

/* ---- pure helpers ------------------------------------------------------------------- */

static int
is_hex(const char *s, size_t len)
{
	for (size_t i = 0; i < len; i++) {
		char c = s[i];

		if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F')))
			return 0;
	}
	return 1;
}

static void
lower_copy(const char *s, size_t len, char *out)
{
	for (size_t i = 0; i < len; i++)
		out[i] = (s[i] >= 'A' && s[i] <= 'F') ? (char)(s[i] - 'A' + 'a') : s[i];
	out[len] = '\0';
}

enum mdns_verdict
mdns_judge(const char *node, size_t nodelen, const char *proto, size_t protolen,
    const char *net, size_t netlen, const char *self_node, const char *self_net,
    char *node_out)
{
	char buf[MDNS_NODE_HEX_LEN + 1], nbuf[MDNS_NET_HEX_LEN + 1];
	long long v;
	const char *errstr;
	char pbuf[8];

	if (node == NULL || nodelen != MDNS_NODE_HEX_LEN || !is_hex(node, nodelen))
		return MDNS_MALFORMED;
	if (net == NULL || netlen != MDNS_NET_HEX_LEN || !is_hex(net, netlen))
		return MDNS_MALFORMED;
	if (proto == NULL || protolen == 0 || protolen >= sizeof pbuf ||
	    memchr(proto, '\0', protolen) != NULL)
		return MDNS_MALFORMED;
	memcpy(pbuf, proto, protolen);
	pbuf[protolen] = '\0';
	v = parse_num(pbuf, 1, 65535, &errstr);
	if (errstr != NULL)
		return MDNS_MALFORMED;
	lower_copy(node, nodelen, buf);
	if (strcmp(buf, self_node) == 0)
		return MDNS_SELF;
	lower_copy(net, netlen, nbuf);
	if (strcmp(nbuf, self_net) != 0)
		return MDNS_OTHER_NET;
	if (v != MDNS_PROTO)
		return MDNS_OTHER_PROTO;
	if (node_out != NULL)
		memcpy(node_out, buf, sizeof buf);
	return MDNS_PEER;
}

const char *
mdns_verdict_name(enum mdns_verdict v)
{
	switch (v) {
	case MDNS_PEER:
		return "peer";
	case MDNS_SELF:
		return "self";
	case MDNS_OTHER_NET:
		return "other network";
	case MDNS_OTHER_PROTO:
		return "other protocol version";
	case MDNS_MALFORMED:
		return "malformed TXT record";
	}
	return "?";
}

int
mdns_format_addr(int family, const void *raw, const char *ifname, uint16_t port, char *out,
    size_t outlen)
{
	char ip[INET6_ADDRSTRLEN];
	int n;

	if (port == 0 || raw == NULL || outlen == 0)
		return -1;
	if (family == AF_INET) {
		if (inet_ntop(AF_INET, raw, ip, sizeof ip) == NULL)
			return -1;
		n = snprintf(out, outlen, "%s:%u", ip, (unsigned)port);
	} else if (family == AF_INET6) {
		const uint8_t *b = raw;
		int linklocal = b[0] == 0xfe && (b[1] & 0xc0) == 0x80;

		if (inet_ntop(AF_INET6, raw, ip, sizeof ip) == NULL)
			return -1;
		if (linklocal && ifname != NULL && ifname[0] != '\0')
			n = snprintf(out, outlen, "[%s%%%s]:%u", ip, ifname, (unsigned)port);
		else
			n = snprintf(out, outlen, "[%s]:%u", ip, (unsigned)port);
	} else
		return -1;
	if (n < 0 || (size_t)n >= outlen)
		return -1;
	return 0;
}

void
mdns_instance_name(const char *node_id_hex, char *out, size_t outlen)
{
	snprintf(out, outlen, "p2p-%.16s", node_id_hex);
}

#ifdef HAVE_AVAHI_CLIENT

#include <sys/time.h>

#include <avahi-client/client.h>
#include <avahi-client/lookup.h>
#include <avahi-client/publish.h>
#include <avahi-common/address.h>
#include <avahi-common/alternative.h>
#include <avahi-common/error.h>
#include <avahi-common/malloc.h>
#include <avahi-common/strlst.h>
#include <avahi-common/watch.h>
#include <event2/event.h>

/* ---- AvahiPoll on libevent ---------------------------------------------------------- */

struct AvahiWatch {
	struct event *ev;
	struct event_base *base;
	int fd;
	AvahiWatchEvent events;  /* asked for */
	AvahiWatchEvent revents; /* happened (last callback) */
	AvahiWatchCallback cb;
	void *userdata;
};

struct AvahiTimeout {
	struct event *ev;
	AvahiTimeoutCallback cb;
	void *userdata;
};

static short
watch_flags(AvahiWatchEvent e)
{
	/* ERR and HUP have no libevent flag: epoll reports them as readable/writable. */
	return (short)(((e & AVAHI_WATCH_IN) ? EV_READ : 0) | ((e & AVAHI_WATCH_OUT) ? EV_WRITE : 0));
}

static void
watch_fire(evutil_socket_t fd, short what, void *arg)
{
	AvahiWatch *w = arg;
	AvahiWatchEvent e = 0;

	if (what & EV_READ)
		e |= AVAHI_WATCH_IN;
	if (what & EV_WRITE)
		e |= AVAHI_WATCH_OUT;
	w->revents = e;
	/* The callback may free w (watch_free): do not touch it afterwards. */
	w->cb(w, (int)fd, e, w->userdata);
}

static void
watch_arm(AvahiWatch *w)
{
	short fl = watch_flags(w->events);

	if (fl == 0)
		return;
	if (event_assign(w->ev, w->base, w->fd, fl | EV_PERSIST, watch_fire, w) == -1 ||
	    event_add(w->ev, NULL) == -1)
		log_warnx("mdns: cannot watch fd %d", w->fd);
}

static AvahiWatch *
watch_new(const AvahiPoll *api, int fd, AvahiWatchEvent events, AvahiWatchCallback cb,
    void *userdata)
{
	struct event_base *base = api->userdata;
	AvahiWatch *w = xcalloc(1, sizeof *w);

	w->base = base;
	w->fd = fd;
	w->events = events;
	w->cb = cb;
	w->userdata = userdata;
	/* event_assign needs the struct event allocated: make it with no flags first. */
	if ((w->ev = event_new(base, fd, 0, watch_fire, w)) == NULL) {
		free(w);
		return NULL;
	}
	watch_arm(w);
	return w;
}

static void
watch_update(AvahiWatch *w, AvahiWatchEvent events)
{
	event_del(w->ev);
	w->events = events;
	watch_arm(w);
}

static AvahiWatchEvent
watch_get_events(AvahiWatch *w)
{
	return w->revents;
}

static void
watch_free(AvahiWatch *w)
{
	if (w == NULL)
		return;
	event_free(w->ev);
	free(w);
}

static void
timeout_fire(evutil_socket_t fd, short what, void *arg)
{
	AvahiTimeout *t = arg;

	t->cb(t, t->userdata); /* may free t */
}

static void
timeout_arm(AvahiTimeout *t, const struct timeval *when)
{
	struct timeval now, delta = { 0, 0 };

	event_del(t->ev);
	if (when == NULL)
		return;
	/* Avahi gives an absolute gettimeofday() time; libevent wants a delay. */
	gettimeofday(&now, NULL);
	if (timercmp(when, &now, >))
		timersub(when, &now, &delta);
	event_add(t->ev, &delta);
}

static AvahiTimeout *
timeout_new(const AvahiPoll *api, const struct timeval *when, AvahiTimeoutCallback cb,
    void *userdata)
{
	AvahiTimeout *t = xcalloc(1, sizeof *t);

	t->cb = cb;
	t->userdata = userdata;
	if ((t->ev = evtimer_new((struct event_base *)api->userdata, timeout_fire, t)) == NULL) {
		free(t);
		return NULL;
	}
	timeout_arm(t, when);
	return t;
}

static void
timeout_update(AvahiTimeout *t, const struct timeval *when)
{
	timeout_arm(t, when);
}

static void
timeout_free(AvahiTimeout *t)
{
	if (t == NULL)
		return;
	event_free(t->ev);
	free(t);
}

/* ---- discovery ---------------------------------------------------------------------- */

/* A resolver in flight; its userdata. */
struct resolving {
	struct mdns *m;
	AvahiServiceResolver *r;
	int main;       /* started by the main browser (else by a query browser) */
	AvahiIfIndex iface;
	AvahiProtocol proto;
	char *name;
	char *domain;
	struct resolving *next;
};

/* One resolved instance, to report each peer once (until it changes or goes). */
struct seen {
	AvahiIfIndex iface;
	AvahiProtocol proto;
	char *name;
	char *domain;
	char node[MDNS_NODE_HEX_LEN + 1];
	char addr[MDNS_ADDR_LEN];
	int main;       /* the main browser knows it too (and will say when it goes) */
	struct seen *next;
};

struct mdns {
	struct event_base *base;
	AvahiPoll poll;
	AvahiClient *client;
	AvahiEntryGroup *group;
	AvahiServiceBrowser *browser;  /* main: _p2pstore._tcp, for the node's lifetime */
	AvahiServiceBrowser *qbrowser; /* a few seconds after mdns_rebrowse(): a subtype */
	unsigned nquery;               /* query browsers made: picks the subtype */
	struct resolving *resolving;
	int nresolving;
	struct seen *seen;
	int nseen;

	char node[MDNS_NODE_HEX_LEN + 1];
	char net[MDNS_NET_HEX_LEN + 1];
	uint16_t port;
	char *name;          /* instance name (avahi_malloc'd: collisions rename it) */
	int published;

	int warned;          /* "avahi-daemon unavailable" logged; cleared once running */
	unsigned failures;   /* consecutive failures: retry backoff */
	struct event *retry; /* recreate the client */
	struct event *rebrowse;
	struct event *qdone;  /* ends the query browser */

	mdns_found_fn found;
	void *arg;
};

static const char *
esc(const char *s, char *buf, size_t len)
{
	return log_escape(s, strlen(s), buf, len);
}

static void
unavailable(struct mdns *m, const char *why)
{
	m->published = 0;
	if (m->warned) {
		log_debug("mdns: avahi-daemon still unavailable (%s)", why);
		return;
	}
	m->warned = 1;
	log_warnx("mdns: avahi-daemon unavailable (%s): no LAN discovery until it is back; "
	    "retrying in the background", why);
}

/* Recreate the client after delay_ms, or after the backoff when delay_ms < 0. */
static void
schedule_restart(struct mdns *m, int delay_ms)
{
	struct timeval tv;

	if (delay_ms < 0) {
		unsigned shift = m->failures < 8 ? m->failures : 8;
		uint64_t ms = (uint64_t)MDNS_RETRY_MIN_MS << shift;

		delay_ms = (int)(ms > MDNS_RETRY_MAX_MS ? MDNS_RETRY_MAX_MS : ms);
		m->failures++;
	}
	tv.tv_sec = delay_ms / 1000;
	tv.tv_usec = (delay_ms % 1000) * 1000;
	evtimer_add(m->retry, &tv);
}

static void
seen_clear(struct mdns *m)
{
	struct seen *s;

	while ((s = m->seen) != NULL) {
		m->seen = s->next;
		free(s->name);
		free(s->domain);
		free(s);
	}
	m->nseen = 0;
}

static struct seen **
seen_find(struct mdns *m, AvahiIfIndex iface, AvahiProtocol proto, const char *name,
    const char *domain)
{
	struct seen **sp;

	for (sp = &m->seen; *sp != NULL; sp = &(*sp)->next) {
		struct seen *s = *sp;

		if (s->iface == iface && s->proto == proto && strcmp(s->name, name) == 0 &&
		    strcmp(s->domain, domain) == 0)
			return sp;
	}
	return NULL;
}

static void
resolving_free(struct resolving *x)
{
	free(x->name);
	free(x->domain);
	free(x);
}

static void
resolving_forget(struct mdns *m, struct resolving *x)
{
	for (struct resolving **rp = &m->resolving; *rp != NULL; rp = &(*rp)->next) {
		if (*rp == x) {
			*rp = x->next;
			resolving_free(x);
			m->nresolving--;
			return;
		}
	}
}

static int
resolving_has(struct mdns *m, AvahiIfIndex iface, AvahiProtocol proto, const char *name,
    const char *domain)
{
	for (struct resolving *x = m->resolving; x != NULL; x = x->next)
		if (x->iface == iface && x->proto == proto && strcmp(x->name, name) == 0 &&
		    strcmp(x->domain, domain) == 0)
			return 1;
	return 0;
}

static void
browse_stop(struct mdns *m)
{
	struct resolving *x;

	while ((x = m->resolving) != NULL) {
		m->resolving = x->next;
		avahi_service_resolver_free(x->r);
		resolving_free(x);
	}
	m->nresolving = 0;
	if (m->browser != NULL) {
		avahi_service_browser_free(m->browser);
		m->browser = NULL;
	}
	if (m->qbrowser != NULL) {
		avahi_service_browser_free(m->qbrowser);
		m->qbrowser = NULL;
	}
	if (m->qdone != NULL)
		evtimer_del(m->qdone);
	seen_clear(m);
}

static void
client_stop(struct mdns *m)
{
	browse_stop(m);
	if (m->group != NULL) {
		avahi_entry_group_free(m->group);
		m->group = NULL;
	}
	if (m->client != NULL) {
		avahi_client_free(m->client);
		m->client = NULL;
	}
	m->published = 0;
}

/* A TXT value by key: *val (not NUL-terminated) and *len, or *val = NULL when absent.
 * The memory is *pair's; avahi_free it. */
static void
txt_get(AvahiStringList *txt, const char *key, char **pair, const char **val, size_t *len)
{
	AvahiStringList *item = avahi_string_list_find(txt, key);
	char *k = NULL, *v = NULL;
	size_t n = 0;

	*pair = NULL;
	*val = NULL;
	*len = 0;
	if (item == NULL || avahi_string_list_get_pair(item, &k, &v, &n) < 0)
		return;
	avahi_free(k);
	*pair = v;
	*val = v;
	*len = n;
}

static void
resolved(struct mdns *m, int from_main, AvahiIfIndex iface, AvahiProtocol proto,
    const char *name, const char *domain, const AvahiAddress *a, uint16_t port,
    AvahiStringList *txt)
{
	char *pn, *pp, *pt;
	const char *node, *proto_s, *net;
	size_t nl, pl, tl;
	char peer[MDNS_NODE_HEX_LEN + 1], addr[MDNS_ADDR_LEN], ifname[IF_NAMESIZE] = "";
	char ename[128];
	enum mdns_verdict v;
	struct seen **sp, *s;
	int rc;

	txt_get(txt, "node", &pn, &node, &nl);
	txt_get(txt, "proto", &pp, &proto_s, &pl);
	txt_get(txt, "net", &pt, &net, &tl);
	v = mdns_judge(node, nl, proto_s, pl, net, tl, m->node, m->net, peer);
	avahi_free(pn);
	avahi_free(pp);
	avahi_free(pt);
	if (v != MDNS_PEER) {
		log_debug("mdns: skipping '%s': %s", esc(name, ename, sizeof ename),
		    mdns_verdict_name(v));
		return;
	}
	if (iface >= 0 && if_indextoname((unsigned)iface, ifname) == NULL)
		ifname[0] = '\0';
	if (a->proto == AVAHI_PROTO_INET)
		rc = mdns_format_addr(AF_INET, &a->data.ipv4.address, NULL, port, addr, sizeof addr);
	else if (a->proto == AVAHI_PROTO_INET6)
		rc = mdns_format_addr(AF_INET6, a->data.ipv6.address, ifname, port, addr,
		    sizeof addr);
	else
		rc = -1;
	if (rc == -1) {
		log_debug("mdns: skipping '%s': unusable address or port %u",
		    esc(name, ename, sizeof ename), (unsigned)port);
		return;
	}
	if ((sp = seen_find(m, iface, proto, name, domain)) != NULL) {
		s = *sp;
		s->main |= from_main;
		if (strcmp(s->node, peer) == 0 && strcmp(s->addr, addr) == 0)
			return; /* already reported */
	} else if (m->nseen < MDNS_MAX_SEEN) {
		s = xcalloc(1, sizeof *s);
		s->iface = iface;
		s->proto = proto;
		s->name = xstrdup(name);
		s->domain = xstrdup(domain);
		s->next = m->seen;
		m->seen = s;
		m->nseen++;
	} else
		s = NULL; /* report it, without remembering */
	if (s != NULL) {
		s->main |= from_main;
		memcpy(s->node, peer, sizeof s->node);
		snprintf(s->addr, sizeof s->addr, "%s", addr);
	}
	log_debug("mdns: found %.8s at %s ('%s')", peer, addr, esc(name, ename, sizeof ename));
	m->found(m->arg, peer, addr);
}

static void
resolve_cb(AvahiServiceResolver *r, AvahiIfIndex iface, AvahiProtocol proto,
    AvahiResolverEvent event, const char *name, const char *type, const char *domain,
    const char *host, const AvahiAddress *a, uint16_t port, AvahiStringList *txt,
    AvahiLookupResultFlags flags, void *arg)
{
	struct resolving *x = arg;
	struct mdns *m = x->m;
	int from_main = x->main;
	char ename[128];

	resolving_forget(m, x);
	if (event == AVAHI_RESOLVER_FOUND && a != NULL)
		resolved(m, from_main, iface, proto, name, domain, a, port, txt);
	else
		log_debug("mdns: cannot resolve '%s': %s", esc(name, ename, sizeof ename),
		    avahi_strerror(avahi_client_errno(avahi_service_resolver_get_client(r))));
	avahi_service_resolver_free(r);
}

static void
browse_cb(AvahiServiceBrowser *b, AvahiIfIndex iface, AvahiProtocol proto,
    AvahiBrowserEvent event, const char *name, const char *type, const char *domain,
    AvahiLookupResultFlags flags, void *arg)
{
	struct mdns *m = arg;
	int from_main = b == m->browser;
	struct resolving *x;
	struct seen **sp, *s;
	char ename[128];

	switch (event) {
	case AVAHI_BROWSER_NEW:
		if (flags & AVAHI_LOOKUP_RESULT_OUR_OWN)
			return; /* published by this very client */
		if (!from_main && resolving_has(m, iface, proto, name, domain))
			return; /* the main browser is on it */
		if ((sp = seen_find(m, iface, proto, name, domain)) != NULL) {
			s = *sp;
			if (!from_main)
				return; /* a query browser: nothing new */
			if (!s->main) {
				/* Found by a query browser only, so its departure may have gone
				 * unnoticed: forget it, report it again. */
				*sp = s->next;
				free(s->name);
				free(s->domain);
				free(s);
				m->nseen--;
			}
		}
		if (m->nresolving >= MDNS_MAX_RESOLVING) {
			log_debug("mdns: too many services at once, skipping '%s'",
			    esc(name, ename, sizeof ename));
			return;
		}
		x = xcalloc(1, sizeof *x);
		x->m = m;
		x->main = from_main;
		x->iface = iface;
		x->proto = proto;
		x->name = xstrdup(name);
		x->domain = xstrdup(domain);
		x->r = avahi_service_resolver_new(avahi_service_browser_get_client(b), iface, proto,
		    name, MDNS_SERVICE_TYPE, domain, proto, 0, resolve_cb, x);
		if (x->r == NULL) {
			log_debug("mdns: resolver for '%s': %s", esc(name, ename, sizeof ename),
			    avahi_strerror(avahi_client_errno(avahi_service_browser_get_client(b))));
			resolving_free(x);
			return;
		}
		x->next = m->resolving;
		m->resolving = x;
		m->nresolving++;
		break;
	case AVAHI_BROWSER_REMOVE:
		if ((sp = seen_find(m, iface, proto, name, domain)) != NULL) {
			s = *sp;
			log_debug("mdns: %.8s at %s left", s->node, s->addr);
			*sp = s->next;
			free(s->name);
			free(s->domain);
			free(s);
			m->nseen--;
		}
		break;
	case AVAHI_BROWSER_FAILURE:
		if (!from_main) {
			log_debug("mdns: query browser failed");
			break;
		}
		log_warnx("mdns: browsing failed: %s",
		    avahi_strerror(avahi_client_errno(avahi_service_browser_get_client(b))));
		schedule_restart(m, -1);
		break;
	case AVAHI_BROWSER_ALL_FOR_NOW:
	case AVAHI_BROWSER_CACHE_EXHAUSTED:
		break;
	}
}

static void
browse_start(struct mdns *m)
{
	if (m->browser != NULL || m->client == NULL)
		return;
	m->browser = avahi_service_browser_new(m->client, AVAHI_IF_UNSPEC, AVAHI_PROTO_UNSPEC,
	    MDNS_SERVICE_TYPE, NULL, 0, browse_cb, m);
	if (m->browser == NULL) {
		log_warnx("mdns: cannot browse: %s", avahi_strerror(avahi_client_errno(m->client)));
		schedule_restart(m, -1);
	}
}

/* A browser on a subtype, for a few seconds: Avahi shares one querier per record key
 * between all browsers, and keeps it (with its backoff, up to 1 h between questions)
 * until its next question is due even after the last browser is gone: recreating the
 * main browser alone sends nothing. A query browser's querier is young (1 s, 2 s
 * backoff), so it is gone a few seconds after the browser: browsing that subtype again
 * asks the LAN at once. Two subtypes in turn, so back-to-back calls work too. */
static void
query_start(struct mdns *m)
{
	char sub[64];
	struct timeval tv = { MDNS_QUERY_MS / 1000, (MDNS_QUERY_MS % 1000) * 1000 };

	if (m->qbrowser != NULL || m->client == NULL)
		return;
	snprintf(sub, sizeof sub, MDNS_QUERY_SUBTYPE_FMT, m->nquery++ % MDNS_QUERY_SUBTYPES);
	m->qbrowser = avahi_service_browser_new(m->client, AVAHI_IF_UNSPEC, AVAHI_PROTO_UNSPEC,
	    sub, NULL, 0, browse_cb, m);
	if (m->qbrowser == NULL) {
		log_debug("mdns: cannot browse %s: %s", sub,
		    avahi_strerror(avahi_client_errno(m->client)));
		return;
	}
	evtimer_add(m->qdone, &tv);
}

static void
qdone_cb(evutil_socket_t fd, short what, void *arg)
{
	struct mdns *m = arg;

	if (m->qbrowser != NULL) {
		avahi_service_browser_free(m->qbrowser);
		m->qbrowser = NULL;
	}
}

static void publish(struct mdns *);

static void
group_cb(AvahiEntryGroup *g, AvahiEntryGroupState state, void *arg)
{
	struct mdns *m = arg;
	char *alt;

	m->group = g;
	switch (state) {
	case AVAHI_ENTRY_GROUP_ESTABLISHED:
		m->published = 1;
		m->failures = 0;
		log_info("mdns: published '%s' (%s, port %u)", m->name, MDNS_SERVICE_TYPE,
		    (unsigned)m->port);
		break;
	case AVAHI_ENTRY_GROUP_COLLISION:
		/* Another host has our instance name: pick "name #2" and so on. */
		alt = avahi_alternative_service_name(m->name);
		log_info("mdns: service name '%s' taken on the LAN, trying '%s'", m->name, alt);
		avahi_free(m->name);
		m->name = alt;
		m->published = 0;
		avahi_entry_group_reset(g);
		publish(m);
		break;
	case AVAHI_ENTRY_GROUP_FAILURE:
		log_warnx("mdns: publishing failed: %s",
		    avahi_strerror(avahi_client_errno(avahi_entry_group_get_client(g))));
		m->published = 0;
		schedule_restart(m, -1);
		break;
	case AVAHI_ENTRY_GROUP_UNCOMMITED:
	case AVAHI_ENTRY_GROUP_REGISTERING:
		break;
	}
}

static void
publish(struct mdns *m)
{
	char node[8 + MDNS_NODE_HEX_LEN], net[8 + MDNS_NET_HEX_LEN], proto[16];
	int rc, tries;

	if (m->client == NULL)
		return;
	if (m->group == NULL &&
	    (m->group = avahi_entry_group_new(m->client, group_cb, m)) == NULL) {
		log_warnx("mdns: cannot publish: %s", avahi_strerror(avahi_client_errno(m->client)));
		schedule_restart(m, -1);
		return;
	}
	if (!avahi_entry_group_is_empty(m->group))
		return;
	snprintf(node, sizeof node, "node=%s", m->node);
	snprintf(proto, sizeof proto, "proto=%d", MDNS_PROTO);
	snprintf(net, sizeof net, "net=%s", m->net);
	for (tries = 0; tries < 16; tries++) {
		rc = avahi_entry_group_add_service(m->group, AVAHI_IF_UNSPEC, AVAHI_PROTO_UNSPEC, 0,
		    m->name, MDNS_SERVICE_TYPE, NULL, NULL, m->port, node, proto, net, NULL);
		if (rc != AVAHI_ERR_COLLISION)
			break;
		/* Taken by another service on this host (a second node): rename. */
		char *alt = avahi_alternative_service_name(m->name);

		log_info("mdns: service name '%s' taken on this host, trying '%s'", m->name, alt);
		avahi_free(m->name);
		m->name = alt;
		avahi_entry_group_reset(m->group);
	}
	for (unsigned i = 0; rc >= 0 && i < MDNS_QUERY_SUBTYPES; i++) {
		char sub[64];

		snprintf(sub, sizeof sub, MDNS_QUERY_SUBTYPE_FMT, i);
		rc = avahi_entry_group_add_service_subtype(m->group, AVAHI_IF_UNSPEC,
		    AVAHI_PROTO_UNSPEC, 0, m->name, MDNS_SERVICE_TYPE, NULL, sub);
	}
	if (rc < 0 || (rc = avahi_entry_group_commit(m->group)) < 0) {
		log_warnx("mdns: cannot publish '%s': %s", m->name, avahi_strerror(rc));
		schedule_restart(m, -1);
	}
}

static void
client_cb(AvahiClient *c, AvahiClientState state, void *arg)
{
	struct mdns *m = arg;
	int err;

	/* Also called from inside avahi_client_new(), before it returned c. */
	m->client = c;
	switch (state) {
	case AVAHI_CLIENT_S_RUNNING:
		if (m->warned)
			log_info("mdns: avahi-daemon is back");
		m->warned = 0;
		m->failures = 0;
		publish(m);
		browse_start(m);
		break;
	case AVAHI_CLIENT_S_REGISTERING:
	case AVAHI_CLIENT_S_COLLISION:
		/* The server is (re)announcing its host name: publish again once running. */
		if (m->group != NULL)
			avahi_entry_group_reset(m->group);
		m->published = 0;
		break;
	case AVAHI_CLIENT_CONNECTING:
		unavailable(m, "avahi-daemon is not running");
		break;
	case AVAHI_CLIENT_FAILURE:
		err = avahi_client_errno(c);
		unavailable(m, avahi_strerror(err));
		/* Disconnected: the daemon (or the bus) went away. Recreate the client (not
		 * from inside its own callback): with AVAHI_CLIENT_NO_FAIL it waits for the
		 * daemon to come back. */
		schedule_restart(m, err == AVAHI_ERR_DISCONNECTED && m->failures == 0 ? 0 : -1);
		break;
	}
}

static void
client_start(struct mdns *m)
{
	AvahiClient *c;
	int err = 0;

	c = avahi_client_new(&m->poll, AVAHI_CLIENT_NO_FAIL, client_cb, m, &err);
	if (c == NULL) {
		/* No D-Bus system bus at all (NO_FAIL only covers a missing avahi-daemon). */
		m->client = NULL;
		m->group = NULL;
		m->browser = NULL;
		unavailable(m, avahi_strerror(err));
		schedule_restart(m, -1);
		return;
	}
	m->client = c;
}

static void
retry_cb(evutil_socket_t fd, short what, void *arg)
{
	struct mdns *m = arg;

	client_stop(m);
	client_start(m);
}

static void
rebrowse_cb(evutil_socket_t fd, short what, void *arg)
{
	struct mdns *m = arg;

	if (m->client == NULL || avahi_client_get_state(m->client) != AVAHI_CLIENT_S_RUNNING)
		return; /* the browser is created when the client gets running */
	if (m->qbrowser != NULL)
		return; /* a fresh query is under way */
	log_debug("mdns: browsing again");
	browse_stop(m);
	browse_start(m);
	query_start(m);
}

struct mdns *
mdns_new(struct event_base *base, const char *node_id_hex, const char *netid_hex,
    uint16_t port, mdns_found_fn found, void *arg, char **cause)
{
	struct mdns *m;
	char name[32];

	if (base == NULL || found == NULL) {
		set_cause(cause, "mdns: no event base or callback");
		return NULL;
	}
	if (node_id_hex == NULL || strlen(node_id_hex) != MDNS_NODE_HEX_LEN ||
	    !is_hex(node_id_hex, MDNS_NODE_HEX_LEN)) {
		set_cause(cause, "mdns: the node ID must be %d hex characters", MDNS_NODE_HEX_LEN);
		return NULL;
	}
	if (netid_hex == NULL || strlen(netid_hex) != MDNS_NET_HEX_LEN ||
	    !is_hex(netid_hex, MDNS_NET_HEX_LEN)) {
		set_cause(cause, "mdns: the network identifier must be %d hex characters",
		    MDNS_NET_HEX_LEN);
		return NULL;
	}
	if (port == 0) {
		set_cause(cause, "mdns: port 0");
		return NULL;
	}

	m = xcalloc(1, sizeof *m);
	m->base = base;
	lower_copy(node_id_hex, MDNS_NODE_HEX_LEN, m->node);
	lower_copy(netid_hex, MDNS_NET_HEX_LEN, m->net);
	m->port = port;
	m->found = found;
	m->arg = arg;
	mdns_instance_name(m->node, name, sizeof name);
	if ((m->name = avahi_strdup(name)) == NULL)
		fatalx("mdns: out of memory");
	m->poll.userdata = base;
	m->poll.watch_new = watch_new;
	m->poll.watch_update = watch_update;
	m->poll.watch_get_events = watch_get_events;
	m->poll.watch_free = watch_free;
	m->poll.timeout_new = timeout_new;
	m->poll.timeout_update = timeout_update;
	m->poll.timeout_free = timeout_free;
	if ((m->retry = evtimer_new(base, retry_cb, m)) == NULL ||
	    (m->rebrowse = evtimer_new(base, rebrowse_cb, m)) == NULL ||
	    (m->qdone = evtimer_new(base, qdone_cb, m)) == NULL) {
		mdns_free(m);
		set_cause(cause, "mdns: cannot create timers");
		return NULL;
	}
	client_start(m);
	return m;
}

void
mdns_free(struct mdns *m)
{
	if (m == NULL)
		return;
	client_stop(m);
	if (m->retry != NULL)
		event_free(m->retry);
	if (m->rebrowse != NULL)
		event_free(m->rebrowse);
	if (m->qdone != NULL)
		event_free(m->qdone);
	avahi_free(m->name);
	free(m);
}

void
mdns_rebrowse(struct mdns *m)
{
	struct timeval now = { 0, 0 };

	if (m != NULL)
		evtimer_add(m->rebrowse, &now);
}

int
mdns_published(const struct mdns *m)
{
	return m != NULL && m->published;
}

const char *
mdns_service_name(const struct mdns *m)
{
	return m != NULL && m->published ? m->name : NULL;
}

#else /* !HAVE_AVAHI_CLIENT */

struct mdns *
mdns_new(struct event_base *base, const char *node_id_hex, const char *netid_hex,
    uint16_t port, mdns_found_fn found, void *arg, char **cause)
{
	set_cause(cause, "mdns: built without Avahi (libavahi-client): no LAN discovery");
	return NULL;
}

void
mdns_free(struct mdns *m)
{
}

void
mdns_rebrowse(struct mdns *m)
{
}

int
mdns_published(const struct mdns *m)
{
	return 0;
}

const char *
mdns_service_name(const struct mdns *m)
{
	return NULL;
}

#endif /* HAVE_AVAHI_CLIENT */
