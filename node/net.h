/* net.h: the daemon's peer network (docs/PROTOCOL.md, "Daemon behaviour").
 *
 * One struct net per daemon, on the loop thread: TCP listeners (evconnlistener over
 * the transport vtable), one struct conn per link (bufferevent_openssl, TLS 1.3, AUTH
 * first both ways, then HELLO), the in-memory peer table mirrored in SQLite (peers
 * table: rows are written on state changes and flushed every sweep), and named timers
 * on the monotonic clock: gossip (PEERS to a random peer), ping (RTT, liveness),
 * redial (reconnects with exponential backoff + jitter) and sweep (flush, stale peers).
 *
 * The pure pieces (backoff, address choice, the PEERS list) are exposed at the bottom
 * for tests/unit/test_net.c. */
#ifndef P2P_NET_H
#define P2P_NET_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

struct node;
struct identity;
struct evhttp_request;

#define NET_HANDSHAKE_MS 10000      /* TCP + TLS + AUTH + HELLO must finish in this */
#define NET_IDLE_TIMEOUT_S 30       /* read/write timeout of an established link */
#define NET_PING_MS 5000            /* PING every established link this often */
#define NET_GOSSIP_MS 2000          /* PEERS to one random connected peer this often */
#define NET_REDIAL_TICK_MS 250      /* how often the redial timer looks for work */
#define NET_SWEEP_MS 10000          /* flush peer rows, forget stale candidates */
#define NET_STALE_MS (24LL * 3600 * 1000) /* not gossiped nor redialled beyond this */
#define NET_BACKOFF_BASE_MS 1000
#define NET_BOOT_BACKOFF_BASE_MS 250 /* bootstrap addresses: first retries sooner */
#define NET_PUSH_DELAY_MS 200       /* a new peer: PEERS to every peer this soon... */
#define NET_PUSH_MIN_MS 1000        /* ...but at most once per this */
#define NET_BACKOFF_MAX_MS (5 * 60 * 1000)
#define NET_COPY_MAX (16 * 1024)    /* frames up to a TLS record: copied whole (out_add) */
#define NET_OUT_SOFT (256 * 1024)   /* skip PEERS/PING while more than this is queued */
#define NET_OUT_HARD (4 * 1024 * 1024) /* drop a peer that lets this much pile up... */
/* ...beyond what replication may queue (two windows of 1 MiB chunks: ours and its) */
#define NET_OUT_HARD_REPL (NET_OUT_HARD + 2 * 8 * (1024 * 1024 + 64))
#define NET_KNOWN_MAX 4096          /* peers and candidates held in memory */
#define NET_CAND_TRIES 3            /* dial attempts for a gossiped, never-reached peer */
#define NET_BOOT_MAX 64             /* bootstrap addresses (flags, ticket, URL) */
#define NET_URL_MAX_BYTES (64 * 1024)
#define NET_URL_TIMEOUT_S 10
#define NET_DEFAULT_LISTEN ":3000"
#define NET_MDNS_REBROWSE_MS 5000   /* mDNS re-query while a known peer is unreachable */
#define NET_SELF_MAX 128            /* addresses that reach this node */
#define NET_ADDR_LEN 300            /* TP_ADDRSTRLEN */
#define NET_BT_SCAN_S 5             /* --bt-scan: one inquiry lasts about this long... */
#define NET_BT_SCAN_MS (5 * 60 * 1000) /* ...and is repeated this often */
#define NET_BT_SDP_TRIES 3          /* SDP searches for a bootstrap's channel, then 7 */

/* Peer transports, as in PEERS entries (MSG_TRANSPORT_*) */
#define NET_TP_TCP 1
#define NET_TP_RFCOMM 2

/* Start the network before event_base_dispatch: network key (--network-key, --join,
 * or <datadir>/network.key), TLS context, listeners, bootstrap addresses (resolved
 * here, before the loop; --bootstrap-url fetched here with a 10 s timeout), timers.
 * 0 ok, -1 with *cause (one line). */
int net_start(struct node *n, const struct identity *id, char **cause);
/* SIGTERM/SIGINT: send GOODBYE (reason 0) to every peer. Returns 1 if frames are on
 * their way: the network then ends the loop itself once they left (at most 1 s);
 * 0 if there was nothing to send (the caller ends the loop). */
int net_shutdown(struct node *n);
/* Free everything (after the loop); flushes the peer rows. NULL net ok. */
void net_stop(struct node *n);

unsigned net_connected(const struct node *n);
unsigned net_links(const struct node *n); /* every link, handshakes included */
unsigned net_known(const struct node *n);
json_t *net_listen_json(const struct node *n);

/* Control API handlers (node/peer_api.c). */
void net_api_peers(struct node *n, struct evhttp_request *req);
void net_api_cleanup(struct node *n, struct evhttp_request *req, const char *older_than);
void net_api_invite(struct node *n, struct evhttp_request *req);

/* An address found at run time (e.g. by LAN discovery): dialled like a bootstrap
 * address (retried with backoff until reached). Numeric "host:port" only (no name
 * resolution on the loop). 0 queued (or already known), -1 refused. Loop thread. */
int net_add_address(struct node *n, const char *addr);

/* Remove peers (not connected) whose last_seen is older than cutoff_ms, from memory
 * and from the database. */
int net_cleanup(struct node *n, int64_t cutoff_ms, uint64_t *removed, char **cause);
/* A join ticket for this network with this node's dialable addresses. NULL + cause. */
char *net_ticket(struct node *n, json_t **addrs, char **cause);

/* ---- sending for replication (loop thread) ------------------------------------------- */
struct msg;
/* Encode and queue m to the peer's established link. 0 queued, -1 not connected (or
 * the message breaks a limit). */
int net_send_msg(struct node *n, const uint8_t id[32], const struct msg *m);
/* Queue head (copied) then data by reference (no copy). -1: not connected, nothing
 * queued, cleanup not run. 0: cleanup(data, len, arg) runs exactly once, when the
 * bytes have left or the link is gone (or at once if queueing failed). */
int net_send_ref(struct node *n, const uint8_t id[32], const void *head, size_t hlen,
    const void *data, size_t len, void (*cleanup)(const void *, size_t, void *), void *arg);
/* Bytes waiting to be sent to the peer; SIZE_MAX if it is not connected. */
size_t net_peer_outq(struct node *n, const uint8_t id[32]);
/* Node IDs of the peers with an established link (at most max). */
size_t net_peers_up(struct node *n, uint8_t (*out)[32], size_t max);

/* ---- bootstrap URL (node/peer_boot.c) ---------------------------------------------- */
/* GET url (http/https, 10 s, 64 KiB at most); one address per line, '#' comments.
 * Up to max addresses are appended to out (xstrdup'd). 0 ok, -1 with *cause. */
int net_fetch_bootstrap(const char *url, char **out, int max, int *n, char **cause);

/* ---- Bluetooth discovery (node/peer_bt.c) ------------------------------------------- */
/* SDP searches and inquiry scans block for seconds: they run on a thread of their own
 * ("p2p-bt"), one at a time; results come back on the loop thread. */
struct event_base;
struct netbt;
/* dev_id: N of our adapter hciN; local: its address (kernel byte order); netid: the
 * 16-hex network identifier our SDP records carry. NULL with *cause. */
struct netbt *netbt_new(struct event_base *base, int dev_id, const uint8_t local[6],
    const char *netid, char **cause);
/* Search remote's SDP records for our service: done(arg, channel, why) runs on the loop
 * with channel 1..30, or 0 and why. -1: another job runs (try again later). */
int netbt_lookup(struct netbt *b, const uint8_t remote[6],
    void (*done)(void *arg, int channel, const char *why), void *arg);
/* Inquiry (NET_BT_SCAN_S), then an SDP search of every device heard that is not in
 * skip[]: found(arg, "bt:ADDR/ch") for each that offers our service with our network
 * identifier. -1: another job runs. */
int netbt_scan(struct netbt *b, const uint8_t (*skip)[6], size_t nskip,
    void (*found)(void *arg, const char *addr), void *arg);
int netbt_busy(const struct netbt *b);
void netbt_free(struct netbt *b); /* waits for a job under way; NULL ok */

/* ---- pure helpers (node/peer_util.c; unit tested) ----------------------------------- */
/* "bt:AA:BB:CC:DD:EE:FF" or "bt:aa:bb:cc:dd:ee:ff/N" (N 1..30, default 7) ->
 * "bt:AA:BB:CC:DD:EE:FF/N". 0 ok, -1 anything else (adapter names such as bt:hci0,
 * channel 0, the all-zero or broadcast address): the only form taken from peers. */
int net_bt_addr_norm(const char *in, char *out, size_t outlen);
/* NET_TP_RFCOMM for "bt:..." addresses, else NET_TP_TCP. */
int net_addr_transport(const char *addr);
/* May this node dial over transport t (NET_TP_*)? */
int net_transport_usable(int t, int tcp_on, int bt_on);
/* A known peer that is not reachable at its stored address: it left (GOODBYE), its
 * dials failed, or failures > 0. Gossip may then give it a new address. */
int net_peer_unreachable(const char *status, int64_t failures);
/* A PEERS entry as this node would use it: 0 with the address to dial in out, or -1 to
 * ignore it: a transport this node does not use (tcp_on, bt_on) or does not know, an
 * address of another transport than the entry says, a TCP address that is not numeric
 * or has an unspecified host or port 0, a bt: address net_bt_addr_norm refuses. */
int net_gossip_addr(int transport, const char *addr, int tcp_on, int bt_on, char *out,
    size_t outlen);
/* The bt: address to store for a peer whose RFCOMM link came from device `observed`
 * ("AA:BB:CC:DD:EE:FF"; NULL if unknown), from advs[] (its HELLO): an advertised bt:
 * address of that device, else the first valid bt: address. 0 ok, -1 none. */
int net_pick_bt_addr(const char *const *advs, size_t n, const char *observed, char *out,
    size_t outlen);
/* The peer's address on the other transport than the link's (link_tp), from its HELLO,
 * for gossip to nodes that use only that one: for a TCP link its first bt: address; for
 * an RFCOMM link its first numeric TCP address with a specified host. 0 ok, -1 none. */
int net_alt_addr(const char *const *advs, size_t n, int link_tp, char *out, size_t outlen);

/* Delay before the next dial after `failures` consecutive failures: an exponential
 * step (1 s, 2 s, 4 s, ... capped at 5 min) with "equal jitter": half fixed, half
 * random from rnd. */
uint64_t net_backoff_ms(unsigned failures, uint32_t rnd);
/* The same with another first step (base_ms) and cap (max_ms). */
uint64_t net_backoff_from(uint64_t base_ms, uint64_t max_ms, unsigned failures,
    uint32_t rnd);
/* "host:port", "[v6]:port" or ":port" -> host (no brackets) and port. 0 ok, -1 bad. */
int net_split_addr(const char *addr, char *host, size_t hostlen, uint16_t *port);
/* host + port -> "host:port" ("[v6]:port" for IPv6). 0 ok, -1 does not fit. */
int net_join_addr(const char *host, uint16_t port, char *out, size_t outlen);
/* "", "0.0.0.0", "::" (any address). */
int net_host_unspecified(const char *host);
/* An IPv4 or IPv6 literal (no name resolution needed). */
int net_host_numeric(const char *host);
int net_host_loopback(const char *host);
/* The address to store and gossip for a peer that advertised advs[] (its HELLO) and
 * was seen on the connection from observed_host (never its source port): an advertised
 * address whose host is observed_host; else one with an unspecified host (or a host
 * name, which this daemon never resolves on its loop) with observed_host put in; else
 * the first numeric one. 0 ok, -1 none usable (no advertised address). */
int net_pick_addr(const char *const *advs, size_t n, const char *observed_host,
    char *out, size_t outlen);
/* Dialable addresses for listen[] (as bound: ":3000", "0.0.0.0:3000",
 * "127.0.0.1:3000"): unspecified hosts are replaced by each interface address of the
 * right family from ifhosts[] (caller orders them: global first, loopback last);
 * duplicates dropped. Returns how many were written to out (at most max). */
size_t net_dialable_addrs(const char *const *listen, size_t nlisten,
    const char *const *ifhosts, size_t nif, char (*out)[NET_ADDR_LEN], size_t max);

/* A peer as the PEERS builder sees it. */
struct net_gossip_cand {
	const uint8_t *id;      /* 32 bytes */
	const char *addr;       /* "" if unknown */
	int connected;
	int64_t last_seen_ms;
};
/* Indices (into c[]) of the entries to send to `receiver`: with an address, not the
 * receiver itself, connected or seen within stale_ms of now; connected first, then
 * most recently seen; at most max. Returns the count written to out. */
size_t net_gossip_select(const struct net_gossip_cand *c, size_t n,
    const uint8_t *receiver, int64_t now_ms, int64_t stale_ms, size_t max, size_t *out);
/* Two links to the same peer: 1 if the new one should be kept (and the old one
 * closed), 0 to keep the old one. The link dialled by the smaller node ID wins, so
 * both ends choose the same; if one side dialled both, the older stays. */
int net_keep_new_link(const uint8_t *self, const uint8_t *peer, int old_outbound,
    int new_outbound);

#endif
