/* mdns-probe.c: node/mdns.c on a bare libevent loop, for tests/integration/t_netlab_mdns.sh.
 *
 *   mdns-probe [-v] NODE_ID_HEX NET_ID_HEX PORT
 *
 * Publishes and browses like the daemon would, and prints on stdout (line-buffered;
 * T = wall clock in ms since the epoch, shared by every namespace of a netlab):
 *   PUBLISHED <instance name> <T>      each time the service becomes established
 *   FOUND <node id> <addr> <T>         each found() call
 * SIGUSR1 calls mdns_rebrowse(); SIGTERM/SIGINT withdraw the service and exit 0.
 * Logs (-v: debug) go to stderr. Built by the test with gcc, not by the Makefile:
 *   gcc -std=c17 -D_GNU_SOURCE -DHAVE_AVAHI_CLIENT=1 -I. tests/netlab/mdns-probe.c \
 *       node/mdns.c lib/log.c lib/util.c $(pkg-config --cflags --libs avahi-client libevent)
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>

#include "lib/log.h"
#include "lib/util.h"
#include "node/mdns.h"

struct probe {
	struct event_base *base;
	struct mdns *m;
	int published;
};

static void
found(void *arg, const char *node, const char *addr)
{
	printf("FOUND %s %s %lld\n", node, addr, (long long)wall_ms());
}

static void
tick(evutil_socket_t fd, short what, void *arg)
{
	struct probe *p = arg;
	int now = mdns_published(p->m);

	if (now && !p->published)
		printf("PUBLISHED %s %lld\n", mdns_service_name(p->m), (long long)wall_ms());
	p->published = now;
}

static void
on_signal(evutil_socket_t sig, short what, void *arg)
{
	struct probe *p = arg;

	if (sig == SIGUSR1)
		mdns_rebrowse(p->m);
	else
		event_base_loopbreak(p->base);
}

int
main(int argc, char **argv)
{
	struct probe p = { 0 };
	struct event *ev[4];
	int sigs[] = { SIGTERM, SIGINT, SIGUSR1 };
	struct timeval ms10 = { 0, 10000 };
	const char *errstr;
	char *cause = NULL;
	long long port;
	int verbose = 0, i;

	if (argc > 1 && strcmp(argv[1], "-v") == 0) {
		verbose = 1;
		argv++;
		argc--;
	}
	if (argc != 4) {
		fprintf(stderr, "usage: mdns-probe [-v] NODE_ID_HEX NET_ID_HEX PORT\n");
		return 2;
	}
	port = parse_num(argv[3], 1, 65535, &errstr);
	if (errstr != NULL) {
		fprintf(stderr, "mdns-probe: port %s: %s\n", argv[3], errstr);
		return 2;
	}
	setvbuf(stdout, NULL, _IOLBF, 0);
	log_init("mdns-probe", verbose ? LOG_DEBUG : LOG_INFO);
	signal(SIGPIPE, SIG_IGN);
	if ((p.base = event_base_new()) == NULL)
		fatalx("event_base_new");
	p.m = mdns_new(p.base, argv[1], argv[2], (uint16_t)port, found, &p, &cause);
	if (p.m == NULL) {
		fprintf(stderr, "mdns-probe: %s\n", cause);
		free(cause);
		return 1;
	}
	for (i = 0; i < 3; i++) {
		ev[i] = evsignal_new(p.base, sigs[i], on_signal, &p);
		evsignal_add(ev[i], NULL);
	}
	ev[3] = event_new(p.base, -1, EV_PERSIST, tick, &p);
	event_add(ev[3], &ms10);
	event_base_dispatch(p.base);
	mdns_free(p.m);
	for (i = 0; i < 4; i++)
		event_free(ev[i]);
	event_base_free(p.base);
	return 0;
}
