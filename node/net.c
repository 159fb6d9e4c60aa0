/* net.c: the peer network on the daemon's event loop (see net.h and docs/PROTOCOL.md,
 * "Daemon behaviour").
 *
 * A link goes through: TCP or RFCOMM (transport vtable) -> TLS 1.3 (bufferevent_openssl) ->
 * AUTH sent and the peer's AUTH checked (tls_auth_frame / tls_auth_check_frame) ->
 * HELLO both ways (node ID must equal the certificate's) -> established. Anything wrong
 * before "established" closes the link with one log line; such a peer is never stored,
 * gossiped or sent anything more. Every frame is checked by frame_parse before its
 * payload is awaited and decoded by msg_decode. */
#include "node/net.h"
#include "node/daemon.h"
#include "node/repl.h"
#include "node/mdns.h"
#include "db/db.h"
#include "lib/buf.h"
#include "lib/log.h"
#include "lib/util.h"
#include "p2p/btsdp.h"
#include "p2p/frame.h"
#include "p2p/identity.h"
#include "p2p/msg.h"
#include "p2p/netkey.h"
#include "p2p/rfcomm.h"
#include "p2p/ticket.h"
#include "p2p/tls.h"
#include "p2p/transport.h"

#include <errno.h>
#include <ifaddrs.h>
#include <net/if.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>
#include <sys/socket.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <event2/event.h>
#include <event2/listener.h>
#include <openssl/err.h>
#include <openssl/rand.h>
#include <openssl/ssl.h>

enum cstate {
	C_TLS,     /* TCP connect + TLS handshake */
	C_AUTH,    /* our AUTH sent, waiting for the peer's */
	C_HELLO,   /* AUTH checked, our HELLO sent, waiting for the peer's */
	C_UP,      /* established */
	C_CLOSING, /* flushing a last frame (GOODBYE, ERROR) or our AUTH, then close */
};

_Static_assert(NET_TP_TCP == MSG_TRANSPORT_TCP && NET_TP_RFCOMM == MSG_TRANSPORT_RFCOMM,
    "net.h transports are the PEERS values");

struct kpeer;

struct conn {
	TAILQ_ENTRY(conn) entry;
	struct net *net;
	const struct transport *tp; /* transport_tcp or transport_rfcomm */
	struct bufferevent *bev;
	SSL *ssl;
	enum tls_role role;
	enum cstate state;
	int have_id;
	uint8_t id[NODE_ID_LEN];
	char sid[NODE_ID_SHORT_LEN + 1];
	char where[NET_ADDR_LEN];   /* for log lines: what we dialled, or the source */
	char remote_host[NET_ADDR_LEN]; /* observed peer host (no port); RFCOMM: device */
	char dialed[NET_ADDR_LEN];  /* outbound: the numeric address dialled */
	int boot;                   /* outbound: index+1 into net->boot */
	struct kpeer *want;         /* outbound: the known peer we meant to reach */
	struct event *timer;        /* handshake deadline, then the closing deadline */
	uint64_t ping_nonce, ping_sent_us;
	uint64_t since_ms;          /* monotonic, creation */
	int said;                   /* its one log line about the close is written */
	int replaced;               /* closed as a duplicate: another link to the peer stays */
};
TAILQ_HEAD(connq, conn);

struct kpeer {
	TAILQ_ENTRY(kpeer) entry;
	struct db_peer p;
	char alt[NET_ADDR_LEN];     /* its address on the other transport (HELLO; memory) */
	int stored;                 /* has a row: we completed a handshake with it once */
	int dirty;                  /* row differs from memory */
	struct conn *conn;          /* the established link */
	struct conn *dialing;       /* an outbound link in its handshake */
	uint64_t next_dial_ms;      /* monotonic */
	unsigned tries;             /* dial attempts of a never-reached candidate */
	int self;                   /* the address turned out to be our own */
};
TAILQ_HEAD(kpeerq, kpeer);

struct boot {
	char label[NET_ADDR_LEN];   /* as given (for messages) */
	char addr[NET_ADDR_LEN];    /* numeric, resolved before the loop */
	struct tp_addr ta;
	unsigned failures;
	uint64_t next_dial_ms;
	int done;                   /* reached, ourselves, or another network */
	struct conn *dialing;
	int sdp;                    /* bt: without a channel: BOOT_SDP_* */
};
/* A bt: bootstrap address without a channel: an SDP search before each dial */
enum { BOOT_SDP_NO, BOOT_SDP_NEXT, BOOT_SDP_RUNNING, BOOT_SDP_DONE };

struct net {
	struct node *n;
	SSL_CTX *ctx;
	struct netkey key;
	char netid[NETKEY_ID_HEX_LEN + 1];
	struct evconnlistener *lst[NODE_MAX_LISTEN + 1]; /* TCP ones, then RFCOMM */
	int nlst, paused;
	char bound[NODE_MAX_LISTEN + 1][NET_ADDR_LEN]; /* as bound, real ports */
	int tcp_on;                 /* not --no-tcp */
	int bt_on;                  /* --bluetooth and an adapter is usable */
	struct tp_addr bt_local;    /* our adapter (channel 0): RFCOMM dials start there */
	int bt_dev;                 /* N of that hciN */
	char bt_addr[NET_ADDR_LEN]; /* our RFCOMM listen address, "" if none */
	struct btsdp *sdp;          /* our SDP record (NULL: no bluetoothd or not built) */
	struct netbt *bt;           /* SDP searches, inquiry (NULL: not built in) */
	struct event *bt_scan_ev;   /* --bt-scan */
	char self_addrs[NET_SELF_MAX][NET_ADDR_LEN];
	size_t nself;
	char ifhosts[32][NET_ADDR_LEN];
	size_t nif;
	struct connq conns;
	unsigned nconns, nup;
	struct kpeerq peers;
	unsigned npeers;
	struct boot boot[NET_BOOT_MAX];
	int nboot;
	int max_peers;
	struct event *gossip_ev, *ping_ev, *redial_ev, *sweep_ev, *stop_ev, *push_ev;
	struct mdns *mdns;          /* LAN discovery (NULL: --no-mdns or no listener) */
	struct event *mdns_ev;      /* re-browse while some known peer is unreachable */
	uint64_t last_push_ms;      /* monotonic: the last PEERS to every peer */
	int stopping;
	uint64_t rng;
};

static void conn_free(struct conn *c);
static void mdns_start(struct net *nt, const struct identity *id);
static int conn_send(struct conn *c, const struct msg *m);
static void conn_close_after(struct conn *c);

/* ---- small utilities ---------------------------------------------------------------- */

static uint32_t
net_rand(struct net *nt)
{
	/* xorshift64*, seeded from RAND_bytes: jitter and peer choice, nothing secret */
	nt->rng ^= nt->rng >> 12;
	nt->rng ^= nt->rng << 25;
	nt->rng ^= nt->rng >> 27;
	return (uint32_t)((nt->rng * 2685821657736338717ULL) >> 32);
}

static struct timeval
tv_ms(uint64_t ms)
{
	struct timeval tv = { .tv_sec = (time_t)(ms / 1000),
	    .tv_usec = (suseconds_t)(ms % 1000 * 1000) };
	return tv;
}

static int
is_self_addr(struct net *nt, const char *addr)
{
	char host[NET_ADDR_LEN], a[NET_ADDR_LEN];
	uint16_t port;
	size_t i;

	if (net_addr_transport(addr) == NET_TP_RFCOMM) {
		if (net_bt_addr_norm(addr, a, sizeof a) == -1)
			return 0;
	} else if (net_split_addr(addr, host, sizeof host, &port) == -1 ||
	    net_join_addr(host, port, a, sizeof a) == -1) {
		return 0;
	}
	for (i = 0; i < nt->nself; i++)
		if (strcmp(nt->self_addrs[i], a) == 0)
			return 1;
	return 0;
}

static void
add_self_addr(struct net *nt, const char *addr)
{
	char a[NET_ADDR_LEN];

	if (addr[0] == '\0' || is_self_addr(nt, addr) || nt->nself >= NET_SELF_MAX)
		return;
	if (net_addr_transport(addr) == NET_TP_RFCOMM) {
		if (net_bt_addr_norm(addr, a, sizeof a) == -1)
			return;
		addr = a;
	}
	snprintf(nt->self_addrs[nt->nself++], NET_ADDR_LEN, "%s", addr);
}

static const struct transport *
tp_of(const char *addr)
{
	return net_addr_transport(addr) == NET_TP_RFCOMM ? &transport_rfcomm : &transport_tcp;
}

/* ---- the peer table ----------------------------------------------------------------- */

static struct kpeer *
kp_find(struct net *nt, const uint8_t id[NODE_ID_LEN])
{
	struct kpeer *kp;

	TAILQ_FOREACH(kp, &nt->peers, entry)
		if (memcmp(kp->p.id, id, NODE_ID_LEN) == 0)
			return kp;
	return NULL;
}

static struct kpeer *
kp_new(struct net *nt, const uint8_t id[NODE_ID_LEN])
{
	struct kpeer *kp;

	if (nt->npeers >= NET_KNOWN_MAX) {
		/* make room: forget a candidate we never reached, if any */
		TAILQ_FOREACH(kp, &nt->peers, entry)
			if (!kp->stored && kp->conn == NULL && kp->dialing == NULL)
				break;
		if (kp == NULL)
			return NULL;
		TAILQ_REMOVE(&nt->peers, kp, entry);
		nt->npeers--;
		free(kp);
	}
	kp = xcalloc(1, sizeof *kp);
	memcpy(kp->p.id, id, NODE_ID_LEN);
	snprintf(kp->p.transport, sizeof kp->p.transport, "tcp");
	snprintf(kp->p.status, sizeof kp->p.status, "disconnected");
	kp->p.rtt_us = -1;
	TAILQ_INSERT_TAIL(&nt->peers, kp, entry);
	nt->npeers++;
	return kp;
}

static void
kp_remove(struct net *nt, struct kpeer *kp)
{
	TAILQ_REMOVE(&nt->peers, kp, entry);
	nt->npeers--;
	free(kp);
}

/* Write a stored peer's row now (state changes: few and small). */
static void
kp_save(struct net *nt, struct kpeer *kp)
{
	char *cause = NULL;

	if (!kp->stored)
		return;
	if (db_peer_upsert(nt->n->db, &kp->p, &cause) == -1) {
		log_warnx("peer table: %s", cause);
		free(cause);
		return;
	}
	kp->dirty = 0;
}

/* Write every changed row in one transaction (connected peers: last seen now). */
static void
kp_flush(struct net *nt)
{
	struct kpeer *kp;
	int64_t now = wall_ms();
	char *cause = NULL;
	int n = 0, tx;

	TAILQ_FOREACH(kp, &nt->peers, entry) {
		if (kp->conn != NULL) {
			kp->p.last_seen_ms = now;
			kp->dirty = 1;
		}
		n += kp->stored && kp->dirty;
	}
	if (n == 0)
		return;
	if ((tx = n > 1 && db_begin(nt->n->db, &cause) == 0) == 0 && cause != NULL) {
		log_warnx("peer table: %s", cause);
		free(cause);
		cause = NULL;
	}
	TAILQ_FOREACH(kp, &nt->peers, entry)
		if (kp->stored && kp->dirty)
			kp_save(nt, kp);
	if (tx && db_commit(nt->n->db, &cause) == -1) {
		log_warnx("peer table: %s", cause);
		free(cause);
		db_rollback(nt->n->db);
		TAILQ_FOREACH(kp, &nt->peers, entry)
			kp->dirty = kp->stored; /* try again at the next sweep */
	}
}

static void
kp_set_status(struct kpeer *kp, const char *status)
{
	snprintf(kp->p.status, sizeof kp->p.status, "%s", status);
	kp->dirty = 1;
}

static int
load_peer_cb(void *arg, const struct db_peer *p)
{
	struct net *nt = arg;
	struct kpeer *kp;

	if (memcmp(p->id, nt->n->node_id, NODE_ID_LEN) == 0 || nt->npeers >= NET_KNOWN_MAX)
		return 0;
	kp = kp_new(nt, p->id);
	if (kp == NULL)
		return 0;
	kp->p = *p;
	kp->stored = 1;
	/* it was connected when the daemon stopped: not any more */
	if (strcmp(kp->p.status, "connected") == 0)
		kp_set_status(kp, "disconnected");
	kp->next_dial_ms = 0;
	return 0;
}

/* ---- listeners and back-pressure ------------------------------------------------------ */

static void
lst_update(struct net *nt)
{
	int i, full = nt->nconns >= (unsigned)nt->max_peers || nt->stopping;

	if (full && !nt->paused) {
		for (i = 0; i < nt->nlst; i++)
			evconnlistener_disable(nt->lst[i]);
		nt->paused = 1;
		log_debug("network: %u connections, at the cap (--max-peers %d): not accepting",
		    nt->nconns, nt->max_peers);
	} else if (!full && nt->paused) {
		for (i = 0; i < nt->nlst; i++)
			evconnlistener_enable(nt->lst[i]);
		nt->paused = 0;
	}
}

/* ---- connections ---------------------------------------------------------------------- */

static const char *
peer_name(const struct conn *c)
{
	return c->have_id ? c->sid : "?";
}

static void
on_conn_timer(evutil_socket_t fd, short what, void *arg)
{
	struct conn *c = arg;

	(void)fd;
	(void)what;
	if (c->state == C_CLOSING) {
		conn_free(c);
		return;
	}
	log_info("peer %s (%s): handshake not finished within %d s: closed", peer_name(c),
	    c->where, NET_HANDSHAKE_MS / 1000);
	conn_free(c);
}

/* The link stops being the peer's established link (if it was): the row says
 * "disconnected" (or keeps "left"), and a redial is scheduled. */
static void
conn_detach(struct conn *c)
{
	struct net *nt = c->net;
	struct kpeer *kp;

	if (!c->have_id || (kp = kp_find(nt, c->id)) == NULL || kp->conn != c)
		return;
	kp->conn = NULL;
	nt->nup--;
	kp->p.last_seen_ms = wall_ms();
	/* A duplicate closed in favour of another link is not a disconnection: no status
	 * change, no info line (both ends dialling at once is normal with mDNS). */
	if (strcmp(kp->p.status, "left") != 0 && !c->replaced)
		kp_set_status(kp, "disconnected");
	kp->p.failures = 0;
	kp->next_dial_ms = mono_ms() + net_backoff_ms(
	    strcmp(kp->p.status, "left") == 0 ? 4 : 0, net_rand(nt));
	kp->dirty = 1;
	kp_save(nt, kp);
	if (!nt->stopping && !c->said && c->replaced)
		log_debug("peer %s: duplicate link closed", c->sid);
	else if (!nt->stopping && !c->said)
		log_info("peer %s disconnected (%s)", c->sid, kp->p.status);
	/* replication: what was in flight on this link is lost */
	repl_peer_down(nt->n, c->id);
	/* a second link to the same peer (both dialled by the peer) takes over */
	{
		struct conn *o;

		TAILQ_FOREACH(o, &nt->conns, entry) {
			if (o != c && o->state == C_UP && o->have_id &&
			    memcmp(o->id, c->id, NODE_ID_LEN) == 0) {
				kp->conn = o;
				nt->nup++;
				kp_set_status(kp, "connected");
				kp_save(nt, kp);
				if (!nt->stopping)
					repl_peer_up(nt->n, o->id);
				break;
			}
		}
	}
}

static void
conn_free(struct conn *c)
{
	struct net *nt = c->net;

	conn_detach(c);
	if (c->want != NULL && c->want->dialing == c) {
		struct kpeer *w = c->want;

		w->dialing = NULL;
		if (w->conn == NULL) {
			/* the dial did not give us this peer */
			if (w->stored) {
				w->p.failures++;
				if (strcmp(w->p.status, "left") != 0)
					kp_set_status(w, "failed");
				w->dirty = 1;
				kp_save(nt, w);
				w->next_dial_ms = mono_ms() +
				    net_backoff_ms((unsigned)w->p.failures, net_rand(nt));
			} else {
				w->next_dial_ms = mono_ms() + net_backoff_ms(w->tries, net_rand(nt));
			}
		}
	}
	if (c->boot > 0) {
		struct boot *b = &nt->boot[c->boot - 1];

		if (b->dialing == c)
			b->dialing = NULL;
		if (!b->done) {
			b->next_dial_ms = mono_ms() + net_backoff_from(NET_BOOT_BACKOFF_BASE_MS,
			    NET_BACKOFF_MAX_MS, b->failures, net_rand(nt));
			b->failures++;
		}
	}
	TAILQ_REMOVE(&nt->conns, c, entry);
	nt->nconns--;
	if (c->timer != NULL)
		event_free(c->timer);
	if (c->bev != NULL)
		bufferevent_free(c->bev); /* BEV_OPT_CLOSE_ON_FREE: frees the SSL and the fd */
	else if (c->ssl != NULL)
		SSL_free(c->ssl);
	free(c);
	lst_update(nt);
	if (nt->stopping && nt->nconns == 0)
		event_base_loopexit(nt->n->base, NULL);
}

/* Close once what is queued has left (at most 2 s). Nothing more is read or sent. */
static void
conn_close_after(struct conn *c)
{
	struct timeval tv = tv_ms(2000);

	conn_detach(c);
	c->state = C_CLOSING;
	if (evbuffer_get_length(bufferevent_get_output(c->bev)) == 0) {
		conn_free(c);
		return;
	}
	bufferevent_set_timeouts(c->bev, NULL, NULL);
	evtimer_del(c->timer);
	evtimer_add(c->timer, &tv);
}

/*
 * Append a frame (a, then b) to the link's output in one contiguous piece. libevent's TLS
 * bufferevent hands each piece of its output buffer to its own SSL_write: one TLS
 * record, one write(2) here and two read(2)s at the other end. bufferevent_write()
 * fills what is left of the buffer's last piece and starts another, and a chunk sent by
 * reference is a piece of its own: a pushed 4 KiB chunk was three records (FILE, the
 * chunk's header, its bytes). Reserved in one piece, a frame up to a record's size
 * never needs a record of its own, and frames written one after the other go out
 * together while the piece has room: as few records as their bytes need.
 */
static int
out_add(struct conn *c, const void *a, size_t alen, const void *b, size_t blen)
{
	struct evbuffer *out = bufferevent_get_output(c->bev);
	struct evbuffer_iovec v;

	if (evbuffer_reserve_space(out, (ev_ssize_t)(alen + blen), &v, 1) != 1 ||
	    v.iov_len < alen + blen)
		return -1;
	memcpy(v.iov_base, a, alen);
	if (blen > 0)
		memcpy((uint8_t *)v.iov_base + alen, b, blen);
	v.iov_len = alen + blen;
	return evbuffer_commit_space(out, &v, 1) == 0 ? 0 : -1;
}

static int
conn_send(struct conn *c, const struct msg *m)
{
	struct wr w;
	int rc = -1;

	wr_init(&w, FRAME_HDR_LEN + FRAME_MAX_PAYLOAD);
	if (msg_frame(&w, m) == -1)
		log_warnx("peer %s: cannot encode %s", peer_name(c), msg_type_name(m->type));
	else if (w.len <= NET_COPY_MAX ? out_add(c, w.p, w.len, NULL, 0) == 0 :
	    bufferevent_write(c->bev, w.p, w.len) == 0)
		rc = 0;
	wr_free(&w);
	return rc;
}

static void
send_goodbye(struct conn *c, uint8_t reason, const char *text)
{
	struct msg m;

	memset(&m, 0, sizeof m);
	m.type = MSG_GOODBYE;
	m.u.goodbye.reason = reason;
	snprintf(m.u.goodbye.text, sizeof m.u.goodbye.text, "%.256s", text);
	conn_send(c, &m);
}

/* A protocol violation after the handshake: one line, GOODBYE (protocol error), close. */
static void
conn_reject(struct conn *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void
conn_reject(struct conn *c, const char *fmt, ...)
{
	char why[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(why, sizeof why, fmt, ap);
	va_end(ap);
	log_warnx("peer %s (%s): %s: connection dropped", peer_name(c), c->where, why);
	c->said = 1;
	if (c->state == C_UP) {
		send_goodbye(c, MSG_BYE_PROTOCOL, why);
		conn_close_after(c);
	} else {
		conn_free(c);
	}
}

static void
send_hello(struct conn *c)
{
	struct net *nt = c->net;
	struct msg m;
	int i;

	memset(&m, 0, sizeof m);
	m.type = MSG_HELLO;
	memcpy(m.u.hello.id, nt->n->node_id, NODE_ID_LEN);
	for (i = 0; i < nt->nlst && m.u.hello.naddrs < MSG_HELLO_MAX_ADDRS; i++)
		snprintf(m.u.hello.addrs[m.u.hello.naddrs++], MSG_ADDR_MAX + 1, "%s",
		    nt->bound[i]);
	snprintf(m.u.hello.version, sizeof m.u.hello.version, "p2p %.50s", P2P_VERSION);
	conn_send(c, &m);
}

static void
send_peers(struct conn *c)
{
	struct net *nt = c->net;
	struct net_gossip_cand *cand;
	struct kpeer **kps, *kp;
	struct msg m;
	size_t *idx, i, k = 0, sel;
	int j;

	if (nt->npeers == 0)
		return;
	if (evbuffer_get_length(bufferevent_get_output(c->bev)) > NET_OUT_SOFT)
		return;
	/* up to two entries per peer: the address we reach it on and, for a node with
	 * both transports, its address on the other one (from its HELLO), so that nodes
	 * that use only that transport can reach it too */
	cand = xcalloc(2 * (size_t)nt->npeers, sizeof *cand);
	kps = xcalloc(2 * (size_t)nt->npeers, sizeof *kps);
	idx = xcalloc(2 * (size_t)nt->npeers, sizeof *idx);
	TAILQ_FOREACH(kp, &nt->peers, entry) {
		if (!kp->stored)
			continue; /* only peers we reached ourselves */
		for (j = 0; j < 2; j++) {
			cand[k].id = kp->p.id;
			cand[k].addr = j == 0 ? kp->p.addr : kp->alt;
			cand[k].connected = kp->conn != NULL;
			cand[k].last_seen_ms = kp->conn != NULL ? wall_ms() : kp->p.last_seen_ms;
			kps[k++] = kp;
		}
	}
	sel = net_gossip_select(cand, k, c->id, wall_ms(), NET_STALE_MS, MSG_PEERS_MAX, idx);
	memset(&m, 0, sizeof m);
	m.type = MSG_PEERS;
	if (sel > 0) {
		m.u.peers.v = xcalloc(sel, sizeof *m.u.peers.v);
		for (i = 0; i < sel; i++) {
			struct msg_peer *e = &m.u.peers.v[i];

			kp = kps[idx[i]];
			memcpy(e->id, kp->p.id, NODE_ID_LEN);
			e->transport = (uint8_t)net_addr_transport(cand[idx[i]].addr);
			snprintf(e->addr, sizeof e->addr, "%.255s", cand[idx[i]].addr);
			e->last_seen_ms = (uint64_t)(kp->conn != NULL ? wall_ms() :
			    kp->p.last_seen_ms);
		}
		m.u.peers.n = (uint16_t)sel;
		conn_send(c, &m);
	}
	free(m.u.peers.v);
	free(cand);
	free(kps);
	free(idx);
}

/* A peer was stored for the first time: tell every peer soon (PEERS to all), at most
 * once per NET_PUSH_MIN_MS, so that news crosses the network in a few hops rather
 * than waiting for random gossip rounds. */
static void
push_news(struct net *nt)
{
	uint64_t now = mono_ms(), at = now + NET_PUSH_DELAY_MS;
	struct timeval tv;

	if (nt->push_ev == NULL || evtimer_pending(nt->push_ev, NULL) || nt->stopping)
		return;
	if (nt->last_push_ms != 0 && at < nt->last_push_ms + NET_PUSH_MIN_MS)
		at = nt->last_push_ms + NET_PUSH_MIN_MS;
	tv = tv_ms(at - now);
	evtimer_add(nt->push_ev, &tv);
}

static void
on_push(evutil_socket_t fd, short what, void *arg)
{
	struct net *nt = arg;
	struct conn *c;

	(void)fd;
	(void)what;
	nt->last_push_ms = mono_ms();
	TAILQ_FOREACH(c, &nt->conns, entry)
		if (c->state == C_UP)
			send_peers(c);
}

static void
send_ping(struct conn *c)
{
	struct msg m;

	if (evbuffer_get_length(bufferevent_get_output(c->bev)) > NET_OUT_SOFT)
		return;
	memset(&m, 0, sizeof m);
	m.type = MSG_PING;
	if (RAND_bytes((unsigned char *)&c->ping_nonce, sizeof c->ping_nonce) != 1)
		c->ping_nonce = ((uint64_t)net_rand(c->net) << 32) | net_rand(c->net);
	m.u.ping.nonce = c->ping_nonce;
	m.u.ping.ts_ms = (uint64_t)wall_ms();
	c->ping_sent_us = mono_us();
	conn_send(c, &m);
}

static int dial(struct net *nt, const struct tp_addr *ta, const char *numeric,
    const char *label, struct kpeer *want, int boot);

/* A link to (or being dialled at) this address exists already. */
static int
addr_busy(struct net *nt, const char *addr)
{
	struct conn *c;
	struct kpeer *kp;

	TAILQ_FOREACH(c, &nt->conns, entry)
		if (c->state != C_CLOSING && strcmp(c->dialed, addr) == 0)
			return 1;
	TAILQ_FOREACH(kp, &nt->peers, entry)
		if (kp->conn != NULL && strcmp(kp->p.addr, addr) == 0)
			return 1;
	return 0;
}

/* A PEERS message from an established peer: dial the peers we do not know. */
static void
on_peers(struct conn *c, const struct msg_peers *mp)
{
	struct net *nt = c->net;
	uint16_t i;

	for (i = 0; i < mp->n; i++) {
		const struct msg_peer *e = &mp->v[i];
		char addr[NET_ADDR_LEN];
		struct tp_addr ta;
		struct kpeer *kp;
		char *cause = NULL;
		int cur;

		/* a transport we do not use, a malformed or non-numeric address: ignored */
		if (net_gossip_addr(e->transport, e->addr, nt->tcp_on, nt->bt_on, addr,
		    sizeof addr) == -1)
			continue;
		if (memcmp(e->id, nt->n->node_id, NODE_ID_LEN) == 0 || is_self_addr(nt, addr))
			continue;
		kp = kp_find(nt, e->id);
		if (kp != NULL) {
			if (kp->conn != NULL || kp->dialing != NULL || kp->self)
				continue;
			/* a candidate moved; or it has both transports and we could not use the
			 * address we had; or a known peer we cannot reach at its address (it
			 * left, or dials failed) is reachable elsewhere for a peer of ours (it
			 * restarted on another port or address). Safe: a dial admits only the
			 * node whose key has this ID. */
			cur = net_addr_transport(kp->p.addr);
			if ((!kp->stored || net_peer_unreachable(kp->p.status, kp->p.failures)) &&
			    strcmp(kp->p.addr, addr) != 0 &&
			    (kp->p.addr[0] == '\0' || cur == e->transport ||
			    !net_transport_usable(cur, nt->tcp_on, nt->bt_on))) {
				snprintf(kp->p.addr, sizeof kp->p.addr, "%s", addr);
				snprintf(kp->p.transport, sizeof kp->p.transport, "%s",
				    tp_of(addr)->name);
				kp->tries = 0;
				kp->next_dial_ms = 0;
			}
			continue; /* the redial timer takes it from here */
		}
		if ((kp = kp_new(nt, e->id)) == NULL)
			continue;
		snprintf(kp->p.addr, sizeof kp->p.addr, "%s", addr);
		snprintf(kp->p.transport, sizeof kp->p.transport, "%s", tp_of(addr)->name);
		kp->p.last_seen_ms = 0;
		if (nt->nconns >= (unsigned)nt->max_peers || addr_busy(nt, addr))
			continue;
		if (tp_of(addr)->parse(addr, 0, &ta, &cause) == -1) {
			free(cause);
			continue;
		}
		dial(nt, &ta, addr, addr, kp, 0);
	}
}

/* The peer's HELLO: check it, then the link is established. 0 established, -1 the
 * link is gone or closing. */
static int
on_hello(struct conn *c, const struct msg_hello *h)
{
	struct net *nt = c->net;
	const char *advs[MSG_HELLO_MAX_ADDRS];
	char addr[NET_ADDR_LEN] = "", alt[NET_ADDR_LEN] = "", vers[80];
	struct kpeer *kp;
	struct timeval tv = tv_ms(NET_IDLE_TIMEOUT_S * 1000);
	int i, isnew = 0, relink = 0, ltp = c->tp == &transport_rfcomm ? NET_TP_RFCOMM : NET_TP_TCP;

	if (memcmp(h->id, c->id, NODE_ID_LEN) != 0) {
		char claimed[NODE_ID_SHORT_LEN + 1];

		node_id_short(h->id, claimed);
		log_warnx("peer %s (%s): HELLO claims node ID %s, its certificate says %s: "
		    "connection refused", c->sid, c->where, claimed, c->sid);
		conn_free(c);
		return -1;
	}
	for (i = 0; i < h->naddrs; i++)
		advs[i] = h->addrs[i];
	if (c->role == TLS_CLIENT && c->dialed[0] != '\0')
		snprintf(addr, sizeof addr, "%s", c->dialed);
	else if (ltp == NET_TP_RFCOMM) {
		if (net_pick_bt_addr(advs, h->naddrs, c->remote_host, addr, sizeof addr) == -1 ||
		    is_self_addr(nt, addr))
			addr[0] = '\0';
	} else if (net_pick_addr(advs, h->naddrs, c->remote_host, addr, sizeof addr) == -1)
		addr[0] = '\0';
	if (c->role == TLS_SERVER)
		for (i = 0; i < h->naddrs; i++)
			if (is_self_addr(nt, h->addrs[i]) && strcmp(addr, h->addrs[i]) == 0)
				addr[0] = '\0'; /* never store one of our own addresses for it */
	/* a node with both transports: its other address, for gossip */
	if (net_alt_addr(advs, h->naddrs, ltp, alt, sizeof alt) == -1 || is_self_addr(nt, alt))
		alt[0] = '\0';

	c->state = C_UP;
	evtimer_del(c->timer);
	bufferevent_set_timeouts(c->bev, &tv, &tv);
	kp = kp_find(nt, c->id);
	if (kp != NULL && kp->conn != NULL) {
		struct conn *old = kp->conn;
		int old_out = old->role == TLS_CLIENT, new_out = c->role == TLS_CLIENT;

		if (old_out == new_out && !new_out) {
			/* both dialled by the peer: it decides which one goes (GOODBYE 3) */
			log_debug("peer %s: second link from it: waiting for it to pick one",
			    c->sid);
			return 0;
		}
		if (!net_keep_new_link(nt->n->node_id, c->id, old_out, new_out)) {
			log_debug("peer %s: already connected: closing the new link", c->sid);
			send_goodbye(c, MSG_BYE_DUPLICATE, "already connected");
			c->replaced = 1;
			conn_close_after(c);
			return -1;
		}
		log_debug("peer %s: already connected: closing the older link", c->sid);
		relink = 1;
		send_goodbye(old, MSG_BYE_DUPLICATE, "already connected");
		old->replaced = 1;
		conn_close_after(old);
		kp = kp_find(nt, c->id);
		if (kp != NULL && kp->conn != NULL) { /* a spare link took over: drop it too */
			old = kp->conn;
			send_goodbye(old, MSG_BYE_DUPLICATE, "already connected");
			old->replaced = 1;
			conn_close_after(old);
		}
	}
	if (kp == NULL && (kp = kp_new(nt, c->id)) == NULL) {
		log_warnx("peer %s: the peer table is full (%d): closed", c->sid,
		    NET_KNOWN_MAX);
		conn_free(c);
		return -1;
	}
	if (!kp->stored) {
		/* stored once it has answered a PING (see on_msg): a peer that breaks the
		 * protocol right after its HELLO leaves nothing behind */
		isnew = 1;
		kp->p.first_seen_ms = wall_ms();
	}
	/* the transport goes with the address (an accepted link may leave it unknown) */
	if (addr[0] != '\0' || kp->p.addr[0] == '\0')
		snprintf(kp->p.transport, sizeof kp->p.transport, "%s", c->tp->name);
	if (addr[0] != '\0')
		snprintf(kp->p.addr, sizeof kp->p.addr, "%s", addr);
	snprintf(kp->alt, sizeof kp->alt, "%s", strcmp(alt, kp->p.addr) != 0 ? alt : "");
	kp_set_status(kp, "connected");
	kp->p.last_seen_ms = wall_ms();
	kp->p.last_connect_ms = kp->p.last_seen_ms;
	kp->p.failures = 0;
	kp->tries = 0;
	kp->self = 0;
	kp->conn = c;
	if (kp->dialing == c)
		kp->dialing = NULL;
	if (c->want == kp)
		c->want = NULL;
	nt->nup++;
	kp_save(nt, kp);
	if (c->boot > 0)
		nt->boot[c->boot - 1].done = 1;
	log_escape(h->version, strlen(h->version), vers, sizeof vers);
	/* a link replacing a duplicate (both ends dialled at once) is not news */
	if (relink)
		log_debug("peer %s connected (%s %s, %s): replaces a duplicate link", c->sid,
		    c->role == TLS_CLIENT ? "to" : "from", addr[0] ? addr : c->where, vers);
	else
		log_info("peer %s connected (%s %s, %s)%s", c->sid,
		    c->role == TLS_CLIENT ? "to" : "from", addr[0] ? addr : c->where, vers,
		    isnew ? ": new peer" : "");
	send_peers(c);
	send_ping(c);
	repl_peer_up(nt->n, c->id); /* replication: DIGEST, catch-up */
	return 0;
}

static void
on_goodbye(struct conn *c, const struct msg_goodbye *g)
{
	struct kpeer *kp = kp_find(c->net, c->id);
	char text[300];

	log_escape(g->text, strlen(g->text), text, sizeof text);
	if (g->reason == MSG_BYE_DUPLICATE) {
		log_debug("peer %s: GOODBYE (duplicate link)", c->sid);
		c->replaced = 1;
		conn_free(c);
		return;
	}
	log_info("peer %s: GOODBYE (reason %u: %s)", c->sid, g->reason, text);
	c->said = 1;
	if (kp != NULL && kp->conn == c && g->reason != MSG_BYE_TOO_MANY &&
	    g->reason != MSG_BYE_PROTOCOL)
		kp_set_status(kp, "left");
	conn_free(c);
}

/* One decoded frame from an established (or HELLO-stage) link. Returns -1 if c is
 * gone or closing. */
static int
on_msg(struct conn *c, struct msg *m)
{
	struct kpeer *kp;
	struct msg r;

	if (c->state == C_HELLO) {
		if (m->type != MSG_HELLO) {
			conn_reject(c, "first message after AUTH is %s, not HELLO",
			    msg_type_name(m->type));
			return -1;
		}
		return on_hello(c, &m->u.hello);
	}
	kp = kp_find(c->net, c->id);
	if (kp != NULL && kp->conn == c)
		kp->p.last_seen_ms = wall_ms();
	switch (m->type) {
	case MSG_PING:
		memset(&r, 0, sizeof r);
		r.type = MSG_PONG;
		r.u.ping.nonce = m->u.ping.nonce;
		r.u.ping.ts_ms = (uint64_t)wall_ms();
		if (evbuffer_get_length(bufferevent_get_output(c->bev)) > NET_OUT_HARD_REPL) {
			log_warnx("peer %s: does not read what we send: dropped", c->sid);
			conn_free(c);
			return -1;
		}
		conn_send(c, &r);
		return 0;
	case MSG_PONG:
		if (c->ping_sent_us != 0 && m->u.ping.nonce == c->ping_nonce) {
			if (kp != NULL && kp->conn == c) {
				kp->p.rtt_us = (int64_t)(mono_us() - c->ping_sent_us);
				kp->dirty = 1;
				if (!kp->stored) {
					kp->stored = 1;
					kp_save(c->net, kp);
					push_news(c->net);
				}
			}
			c->ping_sent_us = 0;
		}
		return 0;
	case MSG_PEERS:
		on_peers(c, &m->u.peers);
		return 0;
	case MSG_GOODBYE:
		on_goodbye(c, &m->u.goodbye);
		return -1;
	case MSG_ERROR: {
		char text[300];

		log_escape(m->u.error.text, strlen(m->u.error.text), text, sizeof text);
		log_warnx("peer %s: ERROR %u: %s", c->sid, m->u.error.code, text);
		return 0;
	}
	default:
		if (m->type >= 0x10 && m->type <= 0x3f && kp != NULL && kp->conn == c) {
			/* replication (node/repl.c); -1: malformed in context */
			if (repl_on_msg(c->net->n, c->id, m) == -1) {
				conn_reject(c, "bad %s message", msg_type_name(m->type));
				return -1;
			}
			return 0;
		}
		conn_reject(c, "unexpected %s message", msg_type_name(m->type));
		return -1;
	}
}

static void
on_auth_failed(struct conn *c, int rc, const char *why)
{
	struct net *nt = c->net;

	if (rc == TLS_EAUTH && c->boot > 0) {
		struct boot *b = &nt->boot[c->boot - 1];

		log_warnx("node at %s is in another network (wrong network key): run `p2p "
		    "invite` on that node and start this one with --join TICKET", b->label);
		b->done = 1;
	} else if (rc == TLS_EAUTH) {
		log_warnx("peer %s (%s): wrong network key: connection refused", peer_name(c),
		    c->where);
	} else {
		log_warnx("peer %s (%s): %s: connection refused", peer_name(c), c->where, why);
	}
	if (c->want != NULL && c->want->dialing == c && rc == TLS_EAUTH && !c->want->stored)
		c->want->tries = NET_CAND_TRIES; /* not worth retrying */
	/* our own AUTH may still be queued: let it go (it lets the other side say "wrong
	 * network key" too), nothing else */
	c->state = C_CLOSING;
	conn_close_after(c);
}

static void
on_read(struct bufferevent *bev, void *arg)
{
	struct conn *c = arg;
	struct net *nt = c->net;
	struct evbuffer *in = bufferevent_get_input(bev);

	for (;;) {
		struct frame_hdr h;
		const char *errstr = NULL;
		size_t avail = evbuffer_get_length(in), look, used = 0;
		uint8_t *p;
		struct msg m;
		int rc;

		if (c->state == C_TLS)
			return;
		if (c->state == C_CLOSING) {
			evbuffer_drain(in, avail);
			return;
		}
		if (avail == 0)
			return;
		if (c->state == C_AUTH) {
			char *why = NULL;

			look = avail < FRAME_HDR_LEN + TLS_AUTH_LEN ? avail :
			    FRAME_HDR_LEN + TLS_AUTH_LEN;
			p = evbuffer_pullup(in, (ev_ssize_t)look);
			rc = tls_auth_check_frame(c->ssl, &nt->key,
			    c->role == TLS_CLIENT ? TLS_SERVER : TLS_CLIENT, p, look, &used, &why);
			if (rc == TLS_AUTH_NEED_MORE)
				return;
			if (rc != 0) {
				on_auth_failed(c, rc, why ? why : "bad AUTH");
				free(why);
				return;
			}
			evbuffer_drain(in, used);
			c->state = C_HELLO;
			send_hello(c);
			continue;
		}
		look = avail < FRAME_HDR_LEN ? avail : FRAME_HDR_LEN;
		p = evbuffer_pullup(in, (ev_ssize_t)look);
		rc = frame_parse(p, look, &h);
		if (rc == FRAME_BAD_VERSION) {
			char text[128];

			snprintf(text, sizeof text, "protocol version %u, we speak %u", h.version,
			    FRAME_VERSION);
			log_warnx("peer %s (%s): %s: connection dropped", peer_name(c), c->where,
			    text);
			c->said = 1;
			memset(&m, 0, sizeof m);
			m.type = MSG_ERROR;
			m.u.error.code = MSG_ERR_UNSUPPORTED;
			snprintf(m.u.error.text, sizeof m.u.error.text, "%s", text);
			conn_send(c, &m);
			conn_close_after(c);
			return;
		}
		if (rc < 0) {
			conn_reject(c, "%s", frame_strerror(rc));
			return;
		}
		if (look < FRAME_HDR_LEN)
			return;
		if (avail < FRAME_HDR_LEN + (size_t)h.len)
			return; /* the length was checked against the maximum: wait */
		if ((h.type == MSG_CHUNK_PUT || h.type == MSG_CHUNK_DATA) &&
		    h.len >= msg_chunk_head_len(h.type)) {
			/* A chunk: its head decoded in place, its data copied once out of
			 * the input into its own buffer (a pullup of the whole frame made
			 * one more copy, into a fresh 1 MiB chain) */
			size_t hl = msg_chunk_head_len(h.type);

			p = evbuffer_pullup(in, (ev_ssize_t)(FRAME_HDR_LEN + hl));
			if (msg_chunk_decode_head(h.type, p + FRAME_HDR_LEN, hl, h.len, &m,
			    &errstr) == -1) {
				conn_reject(c, "malformed %s: %s", msg_type_name(h.type),
				    errstr ? errstr : "?");
				return;
			}
			evbuffer_drain(in, FRAME_HDR_LEN + hl);
			if (m.u.chunk.len > 0) {
				m.u.chunk.data = msg_chunk_alloc(m.u.chunk.len);
				if (evbuffer_remove(in, m.u.chunk.data, m.u.chunk.len) !=
				    (int)m.u.chunk.len)
					fatalx("net: a frame's bytes went missing");
			}
			rc = on_msg(c, &m);
			msg_clear(&m);
			if (rc == -1)
				return;
			continue;
		}
		p = evbuffer_pullup(in, (ev_ssize_t)(FRAME_HDR_LEN + h.len));
		if (msg_decode(h.type, p + FRAME_HDR_LEN, h.len, &m, &errstr) == -1) {
			if (strcmp(msg_type_name(h.type), "unknown") == 0)
				conn_reject(c, "message type 0x%02x: %s", h.type,
				    errstr ? errstr : "unknown");
			else
				conn_reject(c, "malformed %s: %s", msg_type_name(h.type),
				    errstr ? errstr : "?");
			return;
		}
		evbuffer_drain(in, FRAME_HDR_LEN + h.len);
		rc = on_msg(c, &m);
		msg_clear(&m);
		if (rc == -1)
			return;
	}
}

static void
on_write(struct bufferevent *bev, void *arg)
{
	struct conn *c = arg;

	if (c->state == C_CLOSING && evbuffer_get_length(bufferevent_get_output(bev)) == 0) {
		conn_free(c);
		return;
	}
	/* below the write low watermark: replication may queue more chunks */
	if (c->state == C_UP)
		repl_peer_drained(c->net->n, c->id);
}

static void
ssl_errors(struct bufferevent *bev, char *buf, size_t len)
{
	unsigned long e;
	size_t off = 0;

	buf[0] = '\0';
	while ((e = bufferevent_get_openssl_error(bev)) != 0) {
		char one[256];

		if (off > 0 || ERR_GET_LIB(e) == 0)
			continue; /* the first real one says it best; lib 0: a socket error */
		ERR_error_string_n(e, one, sizeof one);
		snprintf(buf + off, len - off, "%s", one);
		off = strlen(buf);
	}
}

static void
on_event(struct bufferevent *bev, short what, void *arg)
{
	struct conn *c = arg;
	struct net *nt = c->net;

	if (what & BEV_EVENT_CONNECTED) {
		struct wr w;

		if (tls_peer_node_id(c->ssl, c->id) == -1) {
			log_warnx("peer ? (%s): no Ed25519 certificate: connection refused",
			    c->where);
			conn_free(c);
			return;
		}
		c->have_id = 1;
		node_id_short(c->id, c->sid);
		if (memcmp(c->id, nt->n->node_id, NODE_ID_LEN) == 0) {
			/* we dialled ourselves (a bootstrap or gossiped address of ours) */
			log_debug("%s is this node: not dialling it again", c->where);
			if (c->dialed[0] != '\0')
				add_self_addr(nt, c->dialed);
			if (c->want != NULL)
				c->want->self = 1;
			if (c->boot > 0)
				nt->boot[c->boot - 1].done = 1;
			conn_free(c);
			return;
		}
		if (c->want != NULL && memcmp(c->want->p.id, c->id, NODE_ID_LEN) != 0 &&
		    !c->want->stored)
			c->want->tries = NET_CAND_TRIES; /* that address is someone else's */
		wr_init(&w, FRAME_HDR_LEN + TLS_AUTH_LEN);
		if (tls_auth_frame(c->ssl, &nt->key, c->role, &w) == -1 ||
		    bufferevent_write(bev, w.p, w.len) == -1) {
			wr_free(&w);
			log_warnx("peer %s (%s): cannot compute AUTH", c->sid, c->where);
			conn_free(c);
			return;
		}
		wr_free(&w);
		c->state = C_AUTH;
		if (evbuffer_get_length(bufferevent_get_input(bev)) > 0)
			on_read(bev, c);
		return;
	}
	if (what & (BEV_EVENT_EOF | BEV_EVENT_ERROR | BEV_EVENT_TIMEOUT)) {
		char err[300];
		int e = EVUTIL_SOCKET_ERROR(), soerr = 0;
		socklen_t sl = sizeof soerr;

		if (c->state == C_CLOSING) {
			conn_free(c);
			return;
		}
		ssl_errors(bev, err, sizeof err);
		if (getsockopt(bufferevent_getfd(bev), SOL_SOCKET, SO_ERROR, &soerr, &sl) == 0 &&
		    soerr != 0)
			e = soerr;
		if (c->state == C_UP) {
			if (what & BEV_EVENT_TIMEOUT)
				log_info("peer %s: silent for %d s: closed", c->sid,
				    NET_IDLE_TIMEOUT_S);
			conn_free(c);
			return;
		}
		/* the handshake did not finish: one line. An outbound socket that never got
		 * connected (refused, unreachable) is a failed dial, not a peer's fault. */
		struct sockaddr_storage ss;
		socklen_t ssl_len = sizeof ss;
		int tcp_up = !(c->role == TLS_CLIENT && c->state == C_TLS &&
		    getpeername(bufferevent_getfd(bev), (struct sockaddr *)&ss, &ssl_len) == -1);
		if (c->state == C_TLS && c->role == TLS_CLIENT && err[0] == '\0' &&
		    (!tcp_up || ((what & BEV_EVENT_ERROR) && e != 0))) {
			const char *why = e != 0 ? evutil_socket_error_to_string(e) :
			    (what & BEV_EVENT_TIMEOUT) ? "no answer" : "connection refused";
			if (c->want != NULL && c->want->stored)
				log_debug("dial %s: %s", c->where, why);
			else
				log_info("dial %s: %s", c->where, why);
		} else {
			log_warnx("peer %s (%s): handshake failed: %s", peer_name(c), c->where,
			    err[0] ? err :
			    (what & BEV_EVENT_EOF) ? "closed by the peer" :
			    (what & BEV_EVENT_TIMEOUT) ? "timed out" :
			    e != 0 ? evutil_socket_error_to_string(e) : "connection error");
		}
		conn_free(c);
	}
}

static struct conn *
conn_new(struct net *nt, const struct transport *tp, int fd, enum tls_role role,
    const char *where)
{
	struct conn *c;
	struct timeval tv = tv_ms(NET_HANDSHAKE_MS);

	c = xcalloc(1, sizeof *c);
	c->net = nt;
	c->tp = tp;
	c->role = role;
	c->state = C_TLS;
	c->since_ms = mono_ms();
	snprintf(c->where, sizeof c->where, "%s", where);
	snprintf(c->sid, sizeof c->sid, "?");
	if ((c->ssl = SSL_new(nt->ctx)) == NULL) {
		log_warnx("SSL_new failed");
		close(fd);
		free(c);
		return NULL;
	}
	c->bev = bufferevent_openssl_socket_new(nt->n->base, fd, c->ssl,
	    role == TLS_CLIENT ? BUFFEREVENT_SSL_CONNECTING : BUFFEREVENT_SSL_ACCEPTING,
	    BEV_OPT_CLOSE_ON_FREE);
	if (c->bev == NULL) {
		log_warnx("cannot create a TLS link");
		SSL_free(c->ssl);
		close(fd);
		free(c);
		return NULL;
	}
	bufferevent_openssl_set_allow_dirty_shutdown(c->bev, 1);
	bufferevent_setcb(c->bev, on_read, on_write, on_event, c);
	/* at most one frame waits in the input; the output is checked at each send */
	bufferevent_setwatermark(c->bev, EV_READ, 0, FRAME_HDR_LEN + FRAME_MAX_PAYLOAD);
	bufferevent_setwatermark(c->bev, EV_WRITE, 1024 * 1024, 0);
	/* chunk frames are ~1 MiB: write more than libevent's 16 KiB per callback. A
	 * TLS read takes at most two 16 KiB records whatever this allows, but reserves
	 * it in the input: 256 KiB made 512 KiB chains, each an mmap (see repl_start's
	 * M_MMAP_THRESHOLD) faulted in and unmapped; 64 KiB ones come from the heap. */
	bufferevent_set_max_single_read(c->bev, 64 * 1024);
	bufferevent_set_max_single_write(c->bev, 256 * 1024);
	bufferevent_enable(c->bev, EV_READ | EV_WRITE);
	c->timer = evtimer_new(nt->n->base, on_conn_timer, c);
	evtimer_add(c->timer, &tv);
	TAILQ_INSERT_TAIL(&nt->conns, c, entry);
	nt->nconns++;
	lst_update(nt);
	return c;
}

static int
dial(struct net *nt, const struct tp_addr *ta, const char *numeric, const char *label,
    struct kpeer *want, int boot)
{
	const struct transport *tp;
	struct conn *c;
	char *cause = NULL;
	int fd;

	if (nt->stopping || nt->nconns >= (unsigned)nt->max_peers)
		return -1;
	/* never a transport this node does not use (every caller checks it first) */
	tp = ta->ss.ss_family == AF_BLUETOOTH ? &transport_rfcomm : &transport_tcp;
	if (tp == &transport_rfcomm ? !nt->bt_on : !nt->tcp_on) {
		log_debug("dial %s: %s is off here", label, tp->name);
		return -1;
	}
	if (tp == &transport_rfcomm)
		fd = rfcomm_connect_from(ta, &nt->bt_local, &cause);
	else
		fd = transport_tcp.connect_nonblocking(ta, &cause);
	if (fd == -1) {
		log_debug("dial %s: %s", label, cause);
		free(cause);
		if (want != NULL) {
			want->tries++;
			want->next_dial_ms = mono_ms() + net_backoff_ms(want->tries, net_rand(nt));
		}
		return -1;
	}
	if ((c = conn_new(nt, tp, fd, TLS_CLIENT, label)) == NULL)
		return -1;
	snprintf(c->dialed, sizeof c->dialed, "%s", numeric);
	c->want = want;
	c->boot = boot;
	if (want != NULL) {
		want->dialing = c;
		if (!want->stored)
			want->tries++;
	}
	if (boot > 0)
		nt->boot[boot - 1].dialing = c;
	return 0;
}

static void
on_accept(struct evconnlistener *l, evutil_socket_t fd, struct sockaddr *sa, int len,
    void *arg)
{
	struct net *nt = arg;
	const struct transport *tp;
	struct tp_addr ta;
	struct conn *c;
	char where[NET_ADDR_LEN], host[NET_ADDR_LEN], *cause = NULL;
	uint8_t dev[RFCOMM_BDADDR_LEN];
	uint16_t port;

	(void)l;
	if (nt->stopping || nt->nconns >= (unsigned)nt->max_peers) {
		close(fd);
		lst_update(nt);
		return;
	}
	tp_addr_set(&ta, sa, (socklen_t)len);
	tp = sa->sa_family == AF_BLUETOOTH ? &transport_rfcomm : &transport_tcp;
	if (tp->format(&ta, where, sizeof where) == -1)
		snprintf(where, sizeof where, "?");
	/* accepted RFCOMM sockets do not inherit the listener's send buffer: without
	 * the larger one a 16 KiB TLS record can hang the link (p2p/rfcomm.c) */
	if (tp == &transport_rfcomm && rfcomm_setup_accepted(fd, &cause) == -1) {
		log_warnx("peer ? (%s): %s: connection refused", where, cause);
		free(cause);
		close(fd);
		return;
	}
	if ((c = conn_new(nt, tp, fd, TLS_SERVER, where)) == NULL)
		return;
	if (tp == &transport_rfcomm) {
		if (rfcomm_addr_bdaddr(&ta, dev) == 0)
			rfcomm_bdaddr_format(dev, c->remote_host);
		return;
	}
	if (net_split_addr(where, host, sizeof host, &port) == 0)
		snprintf(c->remote_host, sizeof c->remote_host, "%s", host);
	{
		struct tp_addr local;
		char la[NET_ADDR_LEN];

		/* the address this peer reached us on is ours */
		if (tp_addr_local(fd, &local) == 0 &&
		    transport_tcp.format(&local, la, sizeof la) == 0)
			add_self_addr(nt, la);
	}
}

static void
on_accept_error(struct evconnlistener *l, void *arg)
{
	int e = EVUTIL_SOCKET_ERROR();

	(void)l;
	(void)arg;
	log_warnx("accepting peers: %s", evutil_socket_error_to_string(e));
}

/* ---- timers ----------------------------------------------------------------------------- */

static void
on_gossip(evutil_socket_t fd, short what, void *arg)
{
	struct net *nt = arg;
	struct conn *c, *pick = NULL;
	unsigned i = 0, k;

	(void)fd;
	(void)what;
	if (nt->nup == 0)
		return;
	k = net_rand(nt) % nt->nup;
	TAILQ_FOREACH(c, &nt->conns, entry) {
		if (c->state != C_UP)
			continue;
		if (i++ == k) {
			pick = c;
			break;
		}
	}
	if (pick != NULL)
		send_peers(pick);
}

static void
on_ping(evutil_socket_t fd, short what, void *arg)
{
	struct net *nt = arg;
	struct conn *c;

	(void)fd;
	(void)what;
	TAILQ_FOREACH(c, &nt->conns, entry)
		if (c->state == C_UP)
			send_ping(c);
}

/* The SDP search for a bt: bootstrap address without a channel ended: dial the
 * channel found, else the one we had (RFCOMM_DEFAULT_CHANNEL, or an earlier answer). */
static void
on_boot_sdp(void *arg, int channel, const char *why)
{
	struct boot *b = arg;
	int ch = channel > 0 ? channel : rfcomm_addr_channel(&b->ta);

	if (channel > 0 && rfcomm_addr_channel(&b->ta) != channel)
		log_info("bootstrap %s: SDP gives channel %d", b->label, channel);
	else if (channel == 0)
		log_debug("bootstrap %s: SDP search: %s: trying channel %d", b->label, why, ch);
	rfcomm_addr_set_channel(&b->ta, ch);
	if (transport_rfcomm.format(&b->ta, b->addr, sizeof b->addr) == -1)
		snprintf(b->addr, sizeof b->addr, "%s", b->label);
	b->sdp = BOOT_SDP_DONE;
	b->next_dial_ms = 0;
}

static void
on_redial(evutil_socket_t fd, short what, void *arg)
{
	struct net *nt = arg;
	struct kpeer *kp, *next;
	uint64_t now = mono_ms();
	int64_t wnow = wall_ms();
	int i;

	(void)fd;
	(void)what;
	if (nt->stopping)
		return;
	for (i = 0; i < nt->nboot; i++) {
		struct boot *b = &nt->boot[i];

		if (b->done || b->dialing != NULL || b->next_dial_ms > now ||
		    addr_busy(nt, b->addr))
			continue;
		if (nt->nconns >= (unsigned)nt->max_peers)
			return;
		if (b->sdp == BOOT_SDP_RUNNING)
			continue;
		if (b->sdp == BOOT_SDP_NEXT) {
			uint8_t dev[RFCOMM_BDADDR_LEN];

			/* its channel first (the pool runs one search at a time) */
			if (rfcomm_addr_bdaddr(&b->ta, dev) == 0 &&
			    netbt_lookup(nt->bt, dev, on_boot_sdp, b) == 0)
				b->sdp = BOOT_SDP_RUNNING;
			else if (!netbt_busy(nt->bt))
				b->sdp = BOOT_SDP_DONE; /* no search possible: the default channel */
			continue;
		}
		if (b->sdp == BOOT_SDP_DONE)
			b->sdp = BOOT_SDP_NEXT; /* search again before the next attempt */
		if (dial(nt, &b->ta, b->addr, b->label, NULL, i + 1) == -1) {
			b->next_dial_ms = now + net_backoff_from(NET_BOOT_BACKOFF_BASE_MS,
			    NET_BACKOFF_MAX_MS, b->failures, net_rand(nt));
			b->failures++;
		}
	}
	for (kp = TAILQ_FIRST(&nt->peers); kp != NULL; kp = next) {
		struct tp_addr ta;
		char *cause = NULL, a[NET_ADDR_LEN];
		int t;

		next = TAILQ_NEXT(kp, entry);
		if (kp->conn != NULL || kp->dialing != NULL || kp->self ||
		    kp->next_dial_ms > now || kp->p.addr[0] == '\0')
			continue;
		if (!kp->stored && kp->tries >= NET_CAND_TRIES) {
			kp_remove(nt, kp); /* a gossiped address that never answered */
			continue;
		}
		if (kp->stored && kp->p.last_seen_ms < wnow - NET_STALE_MS)
			continue; /* stale: left for `p2p cleanup` */
		if (nt->nconns >= (unsigned)nt->max_peers)
			return;
		/* never over a transport this node does not use (a bt: peer while
		 * Bluetooth is off, a TCP peer with --no-tcp); numeric addresses only */
		t = net_addr_transport(kp->p.addr);
		if (net_gossip_addr(t, kp->p.addr, nt->tcp_on, nt->bt_on, a, sizeof a) == -1 ||
		    is_self_addr(nt, kp->p.addr)) {
			kp->self = is_self_addr(nt, kp->p.addr);
			kp->next_dial_ms = now + NET_BACKOFF_MAX_MS;
			continue;
		}
		if (addr_busy(nt, kp->p.addr))
			continue;
		if (tp_of(kp->p.addr)->parse(kp->p.addr, 0, &ta, &cause) == -1) {
			free(cause);
			kp->next_dial_ms = now + NET_BACKOFF_MAX_MS;
			continue;
		}
		/* until the dial ends, do not try again */
		kp->next_dial_ms = now + NET_HANDSHAKE_MS;
		dial(nt, &ta, kp->p.addr, kp->p.addr, kp, 0);
	}
}

static void
on_sweep(evutil_socket_t fd, short what, void *arg)
{
	struct net *nt = arg;

	(void)fd;
	(void)what;
	kp_flush(nt);
}

static void
on_stop_deadline(evutil_socket_t fd, short what, void *arg)
{
	struct net *nt = arg;

	(void)fd;
	(void)what;
	event_base_loopexit(nt->n->base, NULL);
}

/* ---- start / stop ------------------------------------------------------------------- */

static void
collect_ifhosts(struct net *nt)
{
	struct ifaddrs *ifa, *i;
	char host[NET_ADDR_LEN];
	int pass;

	nt->nif = 0;
	if (getifaddrs(&ifa) == -1)
		return;
	/* global IPv4, global IPv6, then loopback */
	for (pass = 0; pass < 3; pass++) {
		for (i = ifa; i != NULL; i = i->ifa_next) {
			struct tp_addr ta;
			char a[NET_ADDR_LEN];
			uint16_t port;
			int fam, lo;

			if (i->ifa_addr == NULL || !(i->ifa_flags & IFF_UP))
				continue;
			fam = i->ifa_addr->sa_family;
			if (fam != AF_INET && fam != AF_INET6)
				continue;
			if (fam == AF_INET6 && IN6_IS_ADDR_LINKLOCAL(
			    &((struct sockaddr_in6 *)i->ifa_addr)->sin6_addr))
				continue;
			tp_addr_set(&ta, i->ifa_addr, fam == AF_INET ? sizeof(struct sockaddr_in) :
			    sizeof(struct sockaddr_in6));
			if (transport_tcp.format(&ta, a, sizeof a) == -1 ||
			    net_split_addr(a, host, sizeof host, &port) == -1)
				continue;
			lo = net_host_loopback(host);
			if ((pass == 0 && (fam != AF_INET || lo)) ||
			    (pass == 1 && (fam != AF_INET6 || lo)) || (pass == 2 && !lo))
				continue;
			if (nt->nif < nitems(nt->ifhosts))
				snprintf(nt->ifhosts[nt->nif++], NET_ADDR_LEN, "%s", host);
		}
	}
	freeifaddrs(ifa);
}

static void
compute_self_addrs(struct net *nt)
{
	const char *listen[NODE_MAX_LISTEN + 1], *ifs[32];
	char out[NET_SELF_MAX][NET_ADDR_LEN];
	size_t i, k;

	for (i = 0; i < (size_t)nt->nlst; i++)
		listen[i] = nt->bound[i];
	for (i = 0; i < nt->nif; i++)
		ifs[i] = nt->ifhosts[i];
	k = net_dialable_addrs(listen, (size_t)nt->nlst, ifs, nt->nif, out, NET_SELF_MAX);
	for (i = 0; i < k; i++)
		add_self_addr(nt, out[i]);
}

/* The network key: --network-key FILE, else the ticket's (saved as network.key), else
 * <datadir>/network.key (created on first start). */
static int
load_key(struct net *nt, struct ticket *t, int *have_ticket, char **cause)
{
	const struct node_config *cfg = nt->n->cfg;
	char *path = NULL;
	int rc, created = 0;

	*have_ticket = 0;
	if (cfg->join_ticket != NULL) {
		if (ticket_from_string(cfg->join_ticket, t, cause) == -1)
			return -1;
		*have_ticket = 1;
	}
	if (cfg->network_key_file != NULL) {
		rc = netkey_load(&nt->key, cfg->network_key_file, cause);
		if (rc == 1)
			return set_cause(cause, "--network-key %s: no such file",
			    cfg->network_key_file);
		if (rc == -1)
			return -1;
		if (*have_ticket && memcmp(t->key.k, nt->key.k, NETKEY_LEN) != 0)
			return set_cause(cause, "--join: the ticket is for another network than "
			    "--network-key %s; give only one of them", cfg->network_key_file);
		return 0;
	}
	xasprintf(&path, "%s/%s", nt->n->datadir, NETKEY_FILE);
	if (*have_ticket) {
		struct netkey old;

		rc = netkey_load(&old, path, cause);
		if (rc == -1)
			goto fail;
		if (rc == 0 && memcmp(old.k, t->key.k, NETKEY_LEN) != 0) {
			netkey_clear(&old);
			set_cause(cause, "--join: %s holds the key of another network; to move "
			    "this node to the ticket's network, remove that file first", path);
			goto fail;
		}
		netkey_clear(&old);
		if (rc == 1 && netkey_save(&t->key, path, cause) == -1)
			goto fail;
		if (rc == 1)
			log_info("joined network: key saved to %s", path);
		nt->key = t->key;
	} else if (netkey_open(&nt->key, nt->n->datadir, &created, cause) == -1) {
		goto fail;
	} else if (created) {
		log_info("created a new network key %s (a new network: other nodes join it "
		    "with the ticket from `p2p invite`)", path);
	}
	free(path);
	return 0;
fail:
	free(path);
	return -1;
}

/* A bootstrap address. One of a transport this node does not use is left out, with
 * a warning when it was given on its own (quiet: it came in a ticket, which lists
 * every address of a node, whatever its transports). */
static void
add_boot(struct net *nt, const char *label, int quiet)
{
	const struct transport *tp = tp_of(label);
	struct boot *b;
	char *cause = NULL;

	if (tp == &transport_rfcomm ? !nt->bt_on : !nt->tcp_on) {
		const char *why = tp == &transport_tcp ? "TCP is off (--no-tcp)" :
		    nt->n->cfg->bluetooth ? "Bluetooth is not usable here (see above)" :
		    "Bluetooth is off (serve --bluetooth turns it on)";

		if (quiet || (tp == &transport_rfcomm && nt->n->cfg->bluetooth))
			log_debug("bootstrap %s: %s: left out", label, why);
		else
			log_warnx("bootstrap %s: %s: ignored", label, why);
		return;
	}
	if (nt->nboot >= NET_BOOT_MAX) {
		log_warnx("bootstrap %s: more than %d bootstrap addresses: ignored", label,
		    NET_BOOT_MAX);
		return;
	}
	b = &nt->boot[nt->nboot];
	memset(b, 0, sizeof *b);
	snprintf(b->label, sizeof b->label, "%s", label);
	/* resolved here, before the loop runs: name resolution may block */
	if (tp->parse(label, 0, &b->ta, &cause) == -1) {
		log_warnx("bootstrap %s: %s: ignored", label, cause);
		free(cause);
		return;
	}
	if (tp->format(&b->ta, b->addr, sizeof b->addr) == -1)
		return;
	/* bt:ADDR without /channel: ask its SDP server first (RFCOMM_DEFAULT_CHANNEL if
	 * that fails or SDP is not built in) */
	if (tp == &transport_rfcomm && strchr(label + strlen(RFCOMM_PREFIX), '/') == NULL &&
	    nt->bt != NULL)
		b->sdp = BOOT_SDP_NEXT;
	nt->nboot++;
}

static void
add_boot_arg(struct net *nt, const char *arg)
{
	struct ticket t;
	char *cause = NULL;
	size_t i;

	if (strncmp(arg, TICKET_PREFIX, sizeof(TICKET_PREFIX) - 1) != 0) {
		add_boot(nt, arg, 0);
		return;
	}
	if (ticket_from_string(arg, &t, &cause) == -1) {
		log_warnx("bootstrap ticket: %s: ignored", cause);
		free(cause);
		return;
	}
	if (memcmp(t.key.k, nt->key.k, NETKEY_LEN) != 0)
		log_warnx("bootstrap ticket: it is for another network (use --join TICKET to "
		    "join it); only its addresses are used");
	for (i = 0; i < t.naddrs; i++)
		add_boot(nt, t.addrs[i], 1);
	netkey_clear(&t.key);
}

static int
start_listeners(struct net *nt, char **cause)
{
	const struct node_config *cfg = nt->n->cfg;
	const char *def[1] = { NET_DEFAULT_LISTEN };
	const char *const *list = (const char *const *)cfg->listen;
	int i, nl = cfg->nlisten, dflt = 0;

	if (nl == 0) {
		list = def;
		nl = 1;
		dflt = 1;
	}
	for (i = 0; i < nl; i++) {
		struct tp_addr ta, local;
		int fd;

		if (transport_tcp.parse(list[i], TP_PASSIVE, &ta, cause) == -1)
			return set_cause(cause, "--listen %s: bad address", list[i]);
		if ((fd = transport_tcp.listen(&ta, cause)) == -1) {
			if (errno == EADDRINUSE) {
				free(*cause);
				*cause = NULL;
				if (dflt) {
					log_warnx("listen on %s: address already in use: not accepting "
					    "peers (choose a free port with --listen ADDR)", list[i]);
					return 0;
				}
				return set_cause(cause, "listen on %s: address already in use "
				    "(another node or program has this port; choose another with "
				    "--listen ADDR)", list[i]);
			}
			return -1;
		}
		if (tp_addr_local(fd, &local) == 0)
			local.dual = ta.dual;
		else
			local = ta;
		if (transport_tcp.format(&local, nt->bound[nt->nlst], NET_ADDR_LEN) == -1)
			snprintf(nt->bound[nt->nlst], NET_ADDR_LEN, "%s", list[i]);
		nt->lst[nt->nlst] = evconnlistener_new(nt->n->base, on_accept, nt,
		    LEV_OPT_CLOSE_ON_FREE | LEV_OPT_CLOSE_ON_EXEC, -1, fd);
		if (nt->lst[nt->nlst] == NULL) {
			close(fd);
			return set_cause(cause, "listen on %s: cannot watch the socket", list[i]);
		}
		evconnlistener_set_error_cb(nt->lst[nt->nlst], on_accept_error);
		log_info("listening for peers on %s", nt->bound[nt->nlst]);
		nt->nlst++;
	}
	return 0;
}

/* --bt-scan: an inquiry, then SDP; the nodes of our network found are dialled like
 * bootstrap addresses. Connected RFCOMM peers are not searched again. */
static void
on_bt_found(void *arg, const char *addr)
{
	struct net *nt = arg;

	if (net_add_address(nt->n, addr) == 0)
		log_info("bluetooth scan: a node of this network at %s", addr);
}

static void
on_bt_scan(evutil_socket_t fd, short what, void *arg)
{
	struct net *nt = arg;
	uint8_t (*skip)[RFCOMM_BDADDR_LEN];
	struct kpeer *kp;
	struct timeval tv = tv_ms(NET_BT_SCAN_MS);
	size_t k = 0;

	(void)fd;
	(void)what;
	if (nt->stopping)
		return;
	skip = xcalloc(nt->npeers + 1, sizeof *skip);
	TAILQ_FOREACH(kp, &nt->peers, entry) {
		struct tp_addr ta;
		char *cause = NULL;

		if (kp->conn == NULL || kp->conn->tp != &transport_rfcomm ||
		    transport_rfcomm.parse(kp->p.addr, 0, &ta, &cause) == -1 ||
		    rfcomm_addr_bdaddr(&ta, skip[k]) == -1) {
			free(cause);
			continue;
		}
		k++;
	}
	if (netbt_scan(nt->bt, (const uint8_t (*)[6])skip, k, on_bt_found, nt) == -1)
		tv = tv_ms(1000); /* an SDP search runs: soon */
	free(skip);
	evtimer_add(nt->bt_scan_ev, &tv);
}

/* Bluetooth (--bluetooth): our adapter, the RFCOMM listener, the SDP record, the
 * search thread. Bluetooth that cannot be used is one warning, and the node runs on
 * TCP; with --no-tcp it is an error (nothing else to listen on). 0 or -1 + *cause. */
static int
bt_start(struct net *nt, char **cause)
{
	const struct node_config *cfg = nt->n->cfg;
	struct tp_addr ta, local;
	uint8_t dev[RFCOMM_BDADDR_LEN];
	char *why = NULL;
	int fd, ch = cfg->bt_channel > 0 ? cfg->bt_channel : RFCOMM_DEFAULT_CHANNEL;

	if (rfcomm_adapter_pick(cfg->bt_adapter, &nt->bt_local, &nt->bt_dev, &why) == -1) {
		if (!nt->tcp_on) {
			set_cause(cause, "bluetooth: %s; with --no-tcp this node would have "
			    "nothing to listen on", why);
			free(why);
			return -1;
		}
		log_warnx("bluetooth: %s: running on TCP only", why);
		free(why);
		return 0;
	}
	nt->bt_on = 1;
	rfcomm_addr_bdaddr(&nt->bt_local, dev);
	ta = nt->bt_local;
	rfcomm_addr_set_channel(&ta, ch);
	if ((fd = transport_rfcomm.listen(&ta, cause)) == -1) {
		if (cfg->bt_channel > 0 || !nt->tcp_on)
			return -1; /* "listen on bt:...: channel already in use" */
		log_warnx("bluetooth: %s: not accepting peers over Bluetooth (choose a free "
		    "channel with --bt-channel N)", *cause);
		free(*cause);
		*cause = NULL;
	} else {
		if (tp_addr_local(fd, &local) == -1)
			local = ta;
		if (transport_rfcomm.format(&local, nt->bt_addr, sizeof nt->bt_addr) == -1)
			transport_rfcomm.format(&ta, nt->bt_addr, sizeof nt->bt_addr);
		snprintf(nt->bound[nt->nlst], NET_ADDR_LEN, "%s", nt->bt_addr);
		/* backlog 0: it listens already (a second listen(2) fails on RFCOMM) */
		nt->lst[nt->nlst] = evconnlistener_new(nt->n->base, on_accept, nt,
		    LEV_OPT_CLOSE_ON_FREE | LEV_OPT_CLOSE_ON_EXEC, 0, fd);
		if (nt->lst[nt->nlst] == NULL) {
			close(fd);
			return set_cause(cause, "listen on %s: cannot watch the socket",
			    nt->bt_addr);
		}
		evconnlistener_set_error_cb(nt->lst[nt->nlst], on_accept_error);
		log_info("listening for peers on %s (Bluetooth RFCOMM, hci%d)", nt->bt_addr,
		    nt->bt_dev);
		nt->nlst++;
		add_self_addr(nt, nt->bt_addr);
		/* SDP: peers that know only our device address find the channel */
		if ((nt->sdp = btsdp_register(dev, rfcomm_addr_channel(&local), nt->netid,
		    &why)) == NULL) {
			log_info("bluetooth: %s; peers need this node's channel: %s", why,
			    nt->bt_addr);
			free(why);
			why = NULL;
		} else {
			log_info("bluetooth: SDP record registered (service %s, channel %d)",
			    BTSDP_UUID, rfcomm_addr_channel(&local));
		}
	}
	if (btsdp_built_in() &&
	    (nt->bt = netbt_new(nt->n->base, nt->bt_dev, dev, nt->netid, &why)) == NULL) {
		log_warnx("bluetooth: %s: no SDP searches", why);
		free(why);
	}
	if (cfg->bt_scan && nt->bt == NULL)
		log_warnx("bluetooth: --bt-scan needs libbluetooth (built without it): no scan");
	else if (cfg->bt_scan) {
		struct timeval tv = tv_ms(1000);

		nt->bt_scan_ev = evtimer_new(nt->n->base, on_bt_scan, nt);
		evtimer_add(nt->bt_scan_ev, &tv);
	}
	return 0;
}

int
net_start(struct node *n, const struct identity *id, char **cause)
{
	const struct node_config *cfg = n->cfg;
	struct net *nt;
	struct ticket t;
	struct timeval tv;
	char *why = NULL;
	int have_ticket = 0, i;
	size_t j;

	nt = xcalloc(1, sizeof *nt);
	nt->n = n;
	n->net = nt;
	TAILQ_INIT(&nt->conns);
	TAILQ_INIT(&nt->peers);
	nt->max_peers = cfg->max_peers > 0 ? cfg->max_peers : 64;
	if (RAND_bytes((unsigned char *)&nt->rng, sizeof nt->rng) != 1 || nt->rng == 0)
		nt->rng = (uint64_t)mono_us() | 1;
	memset(&t, 0, sizeof t);
	if (load_key(nt, &t, &have_ticket, cause) == -1)
		return -1;
	netkey_network_id(&nt->key, nt->netid);
	if ((nt->ctx = tls_ctx_new(id, cause)) == NULL)
		return -1;
	nt->tcp_on = !cfg->no_tcp;
	if (nt->tcp_on && start_listeners(nt, cause) == -1)
		return -1;
	if (cfg->bluetooth && bt_start(nt, cause) == -1)
		return -1;
	if (!cfg->bluetooth && (cfg->bt_adapter != NULL || cfg->bt_channel > 0 || cfg->bt_scan))
		log_info("bluetooth: off: bt-adapter, bt-channel and bt-scan apply only with "
		    "--bluetooth");
	collect_ifhosts(nt);
	compute_self_addrs(nt);

	/* bootstrap: the ticket's addresses, --bootstrap, then --bootstrap-url */
	for (j = 0; have_ticket && j < t.naddrs; j++)
		add_boot(nt, t.addrs[j], 1);
	netkey_clear(&t.key);
	for (i = 0; i < cfg->nbootstrap; i++)
		add_boot_arg(nt, cfg->bootstrap[i]);
	if (cfg->bootstrap_url != NULL) {
		char *addrs[NET_BOOT_MAX];
		int na = 0;

		if (net_fetch_bootstrap(cfg->bootstrap_url, addrs, NET_BOOT_MAX, &na,
		    &why) == -1) {
			log_warnx("--bootstrap-url %s: %s", cfg->bootstrap_url, why);
			free(why);
		}
		for (i = 0; i < na; i++) {
			add_boot_arg(nt, addrs[i]);
			free(addrs[i]);
		}
	}
	for (i = 0; i < nt->nboot; i++)
		if (is_self_addr(nt, nt->boot[i].addr))
			nt->boot[i].done = 1;

	if (db_peers_list(n->db, load_peer_cb, nt, &why) == -1) {
		log_warnx("peer table: %s", why);
		free(why);
	}

	nt->gossip_ev = event_new(n->base, -1, EV_PERSIST, on_gossip, nt);
	tv = tv_ms(NET_GOSSIP_MS);
	event_add(nt->gossip_ev, &tv);
	nt->ping_ev = event_new(n->base, -1, EV_PERSIST, on_ping, nt);
	tv = tv_ms(NET_PING_MS);
	event_add(nt->ping_ev, &tv);
	nt->redial_ev = event_new(n->base, -1, EV_PERSIST, on_redial, nt);
	tv = tv_ms(NET_REDIAL_TICK_MS);
	event_add(nt->redial_ev, &tv);
	nt->sweep_ev = event_new(n->base, -1, EV_PERSIST, on_sweep, nt);
	tv = tv_ms(NET_SWEEP_MS);
	event_add(nt->sweep_ev, &tv);
	nt->stop_ev = evtimer_new(n->base, on_stop_deadline, nt);
	nt->push_ev = evtimer_new(n->base, on_push, nt);
	if (cfg->mdns && nt->tcp_on)
		mdns_start(nt, id);
	log_info("network %s: %d listener(s), %d bootstrap address(es), %u known peer(s), "
	    "max %d peers%s%s", nt->netid, nt->nlst, nt->nboot, nt->npeers, nt->max_peers,
	    nt->tcp_on ? "" : ", no TCP", nt->bt_on ? ", Bluetooth" : "");
	/* first dials now rather than at the first tick */
	on_redial(-1, 0, nt);
	return 0;
}

/* ---- LAN discovery (node/mdns.c) ------------------------------------------------------ */

/* mDNS found a node of our network: a hint to dial it (the handshake decides). */
static void
on_mdns_found(void *arg, const char *node_id_hex, const char *addr)
{
	struct net *nt = arg;

	if (net_add_address(nt->n, addr) == 0)
		log_debug("mdns: node %.8s at %s", node_id_hex, addr);
}

/* mDNS says nothing about liveness, and a browser that has run for a while queries
 * rarely: while some known peer is unreachable (a cut link, a healed partition),
 * query again every NET_MDNS_REBROWSE_MS. */
static void
on_mdns_timer(evutil_socket_t fd, short what, void *arg)
{
	struct net *nt = arg;

	(void)fd;
	(void)what;
	if (nt->mdns != NULL && (nt->nup == 0 || nt->nup < nt->npeers))
		mdns_rebrowse(nt->mdns);
}

static void
mdns_start(struct net *nt, const struct identity *id)
{
	char host[NET_ADDR_LEN], *why = NULL;
	uint16_t port = 0;
	struct timeval tv;
	int i;

	for (i = 0; i < nt->nlst && port == 0; i++)
		if (net_split_addr(nt->bound[i], host, sizeof host, &port) == -1)
			port = 0;
	if (port == 0) {
		log_info("mdns: no TCP listener: not announcing this node nor browsing for others");
		return;
	}
	nt->mdns = mdns_new(nt->n->base, identity_hex(id), nt->netid, port, on_mdns_found, nt,
	    &why);
	if (nt->mdns == NULL) {
		log_warnx("mdns: %s; LAN discovery is off", why);
		free(why);
		return;
	}
	nt->mdns_ev = event_new(nt->n->base, -1, EV_PERSIST, on_mdns_timer, nt);
	tv = tv_ms(NET_MDNS_REBROWSE_MS);
	event_add(nt->mdns_ev, &tv);
}

int
net_shutdown(struct node *n)
{
	struct net *nt = n->net;
	struct conn *c, *next;
	struct timeval tv = tv_ms(1000);
	int i;

	if (nt == NULL || nt->stopping)
		return 0;
	nt->stopping = 1;
	for (i = 0; i < nt->nlst; i++)
		evconnlistener_disable(nt->lst[i]);
	nt->paused = 1;
	kp_flush(nt);
	for (c = TAILQ_FIRST(&nt->conns); c != NULL; c = next) {
		next = TAILQ_NEXT(c, entry);
		if (c->state == C_UP) {
			send_goodbye(c, MSG_BYE_SHUTDOWN, "node shutting down");
			conn_close_after(c);
		} else if (c->state != C_CLOSING) {
			conn_free(c);
		}
	}
	if (nt->nconns == 0)
		return 0;
	evtimer_add(nt->stop_ev, &tv);
	return 1;
}

void
net_stop(struct node *n)
{
	struct net *nt = n->net;
	struct conn *c;
	struct kpeer *kp;
	int i;

	if (nt == NULL)
		return;
	nt->stopping = 1;
	if (nt->mdns_ev)
		event_free(nt->mdns_ev);
	mdns_free(nt->mdns);
	if (nt->bt_scan_ev)
		event_free(nt->bt_scan_ev);
	netbt_free(nt->bt); /* waits for a search under way */
	btsdp_free(nt->sdp);
	while ((c = TAILQ_FIRST(&nt->conns)) != NULL)
		conn_free(c);
	if (n->db != NULL)
		kp_flush(nt);
	while ((kp = TAILQ_FIRST(&nt->peers)) != NULL)
		kp_remove(nt, kp);
	for (i = 0; i < nt->nlst; i++)
		evconnlistener_free(nt->lst[i]);
	if (nt->gossip_ev)
		event_free(nt->gossip_ev);
	if (nt->ping_ev)
		event_free(nt->ping_ev);
	if (nt->redial_ev)
		event_free(nt->redial_ev);
	if (nt->sweep_ev)
		event_free(nt->sweep_ev);
	if (nt->stop_ev)
		event_free(nt->stop_ev);
	if (nt->push_ev)
		event_free(nt->push_ev);
	SSL_CTX_free(nt->ctx);
	netkey_clear(&nt->key);
	free(nt);
	n->net = NULL;
}

int
net_add_address(struct node *n, const char *addr)
{
	struct net *nt = n->net;
	struct kpeer *kp;
	char a[NET_ADDR_LEN];
	int i;

	/* numeric, of a transport this node uses */
	if (nt == NULL || nt->stopping || net_gossip_addr(net_addr_transport(addr), addr,
	    nt->tcp_on, nt->bt_on, a, sizeof a) == -1 || is_self_addr(nt, a))
		return -1;
	addr = a;
	/* Seen again (mDNS after a cut or a partition healed): a known peer there that is
	 * not connected is dialled at the next tick instead of after its backoff. */
	TAILQ_FOREACH(kp, &nt->peers, entry) {
		if (strcmp(kp->p.addr, addr) == 0 && kp->conn == NULL && kp->dialing == NULL &&
		    !kp->self) {
			kp->next_dial_ms = 0;
			return 0;
		}
	}
	for (i = 0; i < nt->nboot; i++) {
		if (strcmp(nt->boot[i].label, addr) == 0 || strcmp(nt->boot[i].addr, addr) == 0) {
			if (nt->boot[i].dialing == NULL)
				nt->boot[i].next_dial_ms = 0;
			return 0;
		}
	}
	i = nt->nboot;
	add_boot(nt, addr, 0);
	return nt->nboot > i ? 0 : -1;
}

/* ---- queries (the control API) --------------------------------------------------------- */

unsigned
net_connected(const struct node *n)
{
	return n->net != NULL ? n->net->nup : 0;
}

unsigned
net_links(const struct node *n)
{
	return n->net != NULL ? n->net->nconns : 0;
}

unsigned
net_known(const struct node *n)
{
	const struct kpeer *kp;
	unsigned k = 0;

	if (n->net == NULL)
		return 0;
	TAILQ_FOREACH(kp, &n->net->peers, entry)
		k += kp->stored;
	return k;
}

json_t *
net_listen_json(const struct node *n)
{
	json_t *a = json_array();
	int i;

	if (n->net != NULL)
		for (i = 0; i < n->net->nlst; i++)
			json_array_append_new(a, json_string(n->net->bound[i]));
	return a;
}

/* Used by peer_api.c. */
json_t *net_peers_array(struct node *n);
json_t *
net_peers_array(struct node *n)
{
	json_t *a = json_array();
	struct kpeer *kp;

	if (n->net == NULL)
		return a;
	TAILQ_FOREACH(kp, &n->net->peers, entry) {
		char hex[NODE_ID_HEX_LEN + 1];
		json_t *o;

		if (!kp->stored)
			continue;
		node_id_hex(kp->p.id, hex);
		o = json_pack("{s:s,s:s,s:s,s:s,s:I,s:I,s:I,s:I,s:I}",
		    "id", hex, "addr", kp->p.addr, "transport", kp->p.transport,
		    "status", kp->conn != NULL ? "connected" : kp->p.status,
		    "first_seen", (json_int_t)kp->p.first_seen_ms,
		    "last_seen", (json_int_t)(kp->conn != NULL ? wall_ms() : kp->p.last_seen_ms),
		    "last_connect", (json_int_t)kp->p.last_connect_ms,
		    "failures", (json_int_t)kp->p.failures, "rtt_us", (json_int_t)kp->p.rtt_us);
		if (o == NULL)
			fatalx("json_pack peer");
		if (kp->conn != NULL)
			json_object_set_new(o, "direction",
			    json_string(kp->conn->role == TLS_CLIENT ? "out" : "in"));
		json_array_append_new(a, o);
	}
	return a;
}

int
net_cleanup(struct node *n, int64_t cutoff_ms, uint64_t *removed, char **cause)
{
	struct net *nt = n->net;
	struct kpeer *kp, *next;

	*removed = 0;
	if (nt != NULL)
		kp_flush(nt); /* connected peers' rows get a fresh last_seen first */
	if (db_peers_cleanup(n->db, cutoff_ms, removed, cause) == -1)
		return -1;
	if (nt == NULL)
		return 0;
	for (kp = TAILQ_FIRST(&nt->peers); kp != NULL; kp = next) {
		next = TAILQ_NEXT(kp, entry);
		if (kp->conn == NULL && kp->dialing == NULL && kp->p.last_seen_ms < cutoff_ms)
			kp_remove(nt, kp);
	}
	return 0;
}

char *
net_ticket(struct node *n, json_t **addrs, char **cause)
{
	struct net *nt = n->net;
	const char *listen[NODE_MAX_LISTEN + 1], *ifs[32];
	char out[TICKET_MAX_ADDRS][NET_ADDR_LEN];
	struct ticket t;
	size_t i, k;
	char *s;

	*addrs = json_array();
	if (nt == NULL) {
		set_cause(cause, "the network is not running");
		return NULL;
	}
	memset(&t, 0, sizeof t);
	t.key = nt->key;
	for (i = 0; i < (size_t)nt->nlst; i++)
		listen[i] = nt->bound[i];
	for (i = 0; i < nt->nif; i++)
		ifs[i] = nt->ifhosts[i];
	k = net_dialable_addrs(listen, (size_t)nt->nlst, ifs, nt->nif, out, TICKET_MAX_ADDRS);
	if (nt->bt_addr[0] != '\0' && k == TICKET_MAX_ADDRS)
		k--; /* keep room for the RFCOMM address */
	if (nt->bt_addr[0] != '\0')
		snprintf(out[k++], NET_ADDR_LEN, "%s", nt->bt_addr);
	for (i = 0; i < k; i++)
		if (ticket_add_addr(&t, out[i]) == 0)
			json_array_append_new(*addrs, json_string(out[i]));
	s = ticket_to_string(&t);
	netkey_clear(&t.key);
	if (s == NULL)
		set_cause(cause, "cannot encode the ticket");
	return s;
}

/* ---- sending for replication (node/repl.c) --------------------------------------- */

static struct conn *
up_conn(struct node *n, const uint8_t id[NODE_ID_LEN])
{
	struct kpeer *kp;

	if (n->net == NULL || n->net->stopping || (kp = kp_find(n->net, id)) == NULL ||
	    kp->conn == NULL || kp->conn->state != C_UP)
		return NULL;
	return kp->conn;
}

int
net_send_msg(struct node *n, const uint8_t id[NODE_ID_LEN], const struct msg *m)
{
	struct conn *c = up_conn(n, id);

	return c == NULL ? -1 : conn_send(c, m);
}

int
net_send_ref(struct node *n, const uint8_t id[NODE_ID_LEN], const void *head, size_t hlen,
    const void *data, size_t len, void (*cleanup)(const void *, size_t, void *), void *arg)
{
	struct conn *c = up_conn(n, id);
	struct evbuffer *b;

	if (c == NULL)
		return -1;
	if (hlen + len <= NET_COPY_MAX) {
		/* copied: one piece of the output with the header (see out_add) */
		out_add(c, head, hlen, data, len);
		cleanup(data, len, arg);
		return 0;
	}
	if ((b = evbuffer_new()) == NULL) {
		cleanup(data, len, arg);
		return 0;
	}
	if (evbuffer_add(b, head, hlen) != 0 ||
	    evbuffer_add_reference(b, data, len, cleanup, arg) != 0) {
		evbuffer_free(b);
		cleanup(data, len, arg); /* the reference was not taken */
		return 0;
	}
	bufferevent_write_buffer(c->bev, b);
	evbuffer_free(b); /* if the write failed, this runs cleanup */
	return 0;
}

size_t
net_peer_outq(struct node *n, const uint8_t id[NODE_ID_LEN])
{
	struct conn *c = up_conn(n, id);

	return c == NULL ? SIZE_MAX : evbuffer_get_length(bufferevent_get_output(c->bev));
}

size_t
net_peers_up(struct node *n, uint8_t (*out)[NODE_ID_LEN], size_t max)
{
	struct kpeer *kp;
	size_t k = 0;

	if (n->net == NULL)
		return 0;
	TAILQ_FOREACH(kp, &n->net->peers, entry)
		if (kp->conn != NULL && kp->conn->state == C_UP && k < max)
			memcpy(out[k++], kp->p.id, NODE_ID_LEN);
	return k;
}
