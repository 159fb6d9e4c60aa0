/* mdns.h: LAN discovery with mDNS/DNS-SD, through avahi-daemon (libavahi-client).
 *
 * A node publishes one DNS-SD service of type _p2pstore._tcp on its TCP listening
 * port, instance name "p2p-<first 16 hex of its node ID>", with the TXT record
 *     node=<64 hex node ID>  proto=1  net=<16 hex network identifier>
 * (the network identifier of netkey.h: never the key). It browses the same type,
 * resolves each instance and reports, through found(), those that carry another
 * node ID and the same network identifier. Its own service, other networks' services,
 * other protocol versions and malformed TXT records are skipped (log_debug).
 *
 * Runs on the daemon's event_base: Avahi's file descriptors and timers are libevent
 * events (an AvahiPoll adapter), no thread. Each Avahi call is a D-Bus round trip to
 * the local avahi-daemon, made from the loop (normally well under 1 ms).
 *
 * Without avahi-daemon or without D-Bus, mdns_new() still succeeds: one warning line is
 * logged, discovery stays off, and a timer (1 s, doubling up to MDNS_RETRY_MAX_MS) tries
 * again, so the node publishes and browses as soon as the daemon appears, and again
 * after avahi-daemon or dbus-daemon restarts (the client is recreated).
 *
 * mDNS says nothing about liveness: a peer that vanished without a goodbye (cable cut,
 * crash) stays in Avahi's cache for up to 75 min, and a peer that comes back after a
 * partition is seen only at the browser's next query (1 s, 2 s, 4 s ... up to 1 h
 * apart). The daemon checks liveness itself, and calls mdns_rebrowse() when a link
 * comes back (or on a slow timer), which queries the LAN at once.
 *
 * Besides its type, each service carries the DNS-SD subtypes _q0 and _q1
 * (MDNS_QUERY_SUBTYPE_FMT): mdns_rebrowse() browses those to force a question out.
 *
 * All of this is compiled in when HAVE_AVAHI_CLIENT is defined (pkg-config
 * avahi-client); without it, mdns_new() fails with "built without Avahi". */
#ifndef P2P_MDNS_H
#define P2P_MDNS_H

#include <stddef.h>
#include <stdint.h>

struct event_base;
struct mdns;

#define MDNS_SERVICE_TYPE "_p2pstore._tcp"
#define MDNS_PROTO 1              /* TXT proto= this node speaks */
#define MDNS_NODE_HEX_LEN 64      /* = NODE_ID_HEX_LEN (p2p/identity.h) */
#define MDNS_NET_HEX_LEN 16       /* = NETKEY_ID_HEX_LEN (p2p/netkey.h) */
#define MDNS_RETRY_MIN_MS 1000    /* retry after Avahi failed: 1 s, 2 s, 4 s ... */
#define MDNS_RETRY_MAX_MS 5000    /* ... at most this */
#define MDNS_MAX_RESOLVING 256    /* resolvers in flight (more NEW instances: skipped) */
#define MDNS_MAX_SEEN 512         /* resolved instances remembered (de-duplication) */
#define MDNS_ADDR_LEN 80          /* "[ffff:...:ffff%ifname]:65535" */
/* Each service is also published under these DNS-SD subtypes (extra PTR records), so
 * that mdns_rebrowse() can put a question on the LAN that Avahi really sends. */
#define MDNS_QUERY_SUBTYPES 2
#define MDNS_QUERY_SUBTYPE_FMT "_q%u._sub." MDNS_SERVICE_TYPE
#define MDNS_QUERY_MS 2500        /* a query browser lives this long */

/* A peer of this network was resolved: node_id_hex is 64 lowercase hex characters,
 * addr an address string transport_tcp.parse() accepts: "10.0.0.2:3000",
 * "[2001:db8::2]:3000" or "[fe80::2%eth0]:3000" (link-local: with the interface).
 * Called on the loop thread, once per (instance, interface, IP version) and address:
 * a node with IPv4 and IPv6 is reported once per address. It is reported again when
 * its address changes, when it was removed and comes back, after mdns_rebrowse(), and
 * after the client was recreated (avahi-daemon restart). It may call mdns_rebrowse()
 * but must not call mdns_free(). */
typedef void (*mdns_found_fn)(void *arg, const char *node_id_hex, const char *addr);

/* Publish this node (node_id_hex: 64 hex, netid_hex: 16 hex, both copied; port: the
 * TCP port peers dial, 1..65535) and browse for peers. NULL with *cause only for bad
 * arguments or when built without Avahi; an unreachable avahi-daemon is not an error
 * (see above). */
struct mdns *mdns_new(struct event_base *base, const char *node_id_hex,
    const char *netid_hex, uint16_t port, mdns_found_fn found, void *arg, char **cause);
/* Withdraw the service (goodbye packets) and free everything. NULL ok. */
void mdns_free(struct mdns *m);
/* Ask the LAN again, from the loop on its next turn: recreate the service browser and,
 * for MDNS_QUERY_MS, browse one of the query subtypes (Avahi would not send a question
 * for a re-created browser alone; see mdns.c). Peers still there are resolved and
 * reported again, typically within 0.2 s (up to ~1 s). A call while a query browser is
 * still running does nothing. Safe at any time, also from found(). */
void mdns_rebrowse(struct mdns *m);
/* 1 when the service is established on the LAN (probing done), else 0. */
int mdns_published(const struct mdns *m);
/* The instance name in use (it changes after a name collision); NULL until known. */
const char *mdns_service_name(const struct mdns *m);

/* ---- pure helpers (unit tested: tests/unit/test_mdns.c) ------------------------------ */
enum mdns_verdict {
	MDNS_PEER = 0,      /* a peer of our network: report it */
	MDNS_SELF,          /* our own service (node= is our ID) */
	MDNS_OTHER_NET,     /* net= differs from ours */
	MDNS_OTHER_PROTO,   /* proto= is not one we speak */
	MDNS_MALFORMED      /* a TXT value missing, too long, or not hex */
};
/* Judge one resolved instance by its TXT values (NULL = key absent; bytes with a length,
 * as they came off the wire). self_node/self_net: ours, lowercase. On MDNS_PEER,
 * node_out gets the node ID in lowercase (MDNS_NODE_HEX_LEN + 1 bytes). */
enum mdns_verdict mdns_judge(const char *node, size_t nodelen, const char *proto,
    size_t protolen, const char *net, size_t netlen, const char *self_node,
    const char *self_net, char *node_out);
const char *mdns_verdict_name(enum mdns_verdict v);
/* family AF_INET (raw: 4 bytes) or AF_INET6 (16 bytes; ifname is appended as a scope
 * to a link-local address, when not NULL) -> "ip:port" / "[ip]:port". 0 ok, -1 if the
 * family is unknown, port is 0, or out is too small. */
int mdns_format_addr(int family, const void *raw, const char *ifname, uint16_t port,
    char *out, size_t outlen);
/* "p2p-" + first 16 hex characters of the node ID. out: at least 21 bytes. */
void mdns_instance_name(const char *node_id_hex, char *out, size_t outlen);

#endif
