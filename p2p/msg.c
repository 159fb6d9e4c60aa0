/* msg.c: see msg.h. */
#include "p2p/msg.h"
#include "p2p/frame.h"
#include "lib/buf.h"
#include "lib/util.h"

#include <stdlib.h>
#include <string.h>

/* Smallest encoded PEERS entry: id, transport, empty-address length, last_seen. */
#define PEER_MIN_LEN (MSG_ID_LEN + 1 + 2 + 8)

static int
fail(const char **errstr, const char *why)
{
	if (errstr != NULL)
		*errstr = why;
	return -1;
}

/* An address: 1..MSG_ADDR_MAX bytes of printable ASCII without spaces. */
static int
addr_ok(const uint8_t *p, size_t len)
{
	if (len == 0 || len > MSG_ADDR_MAX)
		return 0;
	for (size_t i = 0; i < len; i++)
		if (p[i] < 0x21 || p[i] > 0x7e)
			return 0;
	return 1;
}

/* Text: any bytes but NUL (receivers escape before logging). */
static int
text_ok(const uint8_t *p, size_t len, size_t max)
{
	return len <= max && memchr(p, '\0', len) == NULL;
}

static int
rd_addr(struct rd *r, char *out, const char **errstr)
{
	const uint8_t *p;
	size_t len;

	if (rd_str16(r, &p, &len, MSG_ADDR_MAX) == -1)
		return fail(errstr, "truncated or over-long address");
	if (!addr_ok(p, len)) {
		r->err = 1;
		return fail(errstr, "address is empty or not printable ASCII");
	}
	memcpy(out, p, len);
	out[len] = '\0';
	return 0;
}

static int
rd_text(struct rd *r, char *out, size_t max, const char **errstr)
{
	const uint8_t *p;
	size_t len;

	if (rd_str16(r, &p, &len, max) == -1)
		return fail(errstr, "truncated or over-long text");
	if (!text_ok(p, len, max)) {
		r->err = 1;
		return fail(errstr, "text contains a NUL byte");
	}
	memcpy(out, p, len);
	out[len] = '\0';
	return 0;
}

static int
wr_addr(struct wr *w, const char *s)
{
	size_t len = strnlen(s, MSG_ADDR_MAX + 1);

	if (!addr_ok((const uint8_t *)s, len))
		return -1;
	wr_str16(w, s, len);
	return 0;
}

static int
wr_text(struct wr *w, const char *s, size_t max)
{
	size_t len = strnlen(s, max + 1);

	if (len > max)
		return -1;
	wr_str16(w, s, len);
	return 0;
}

static int
end(struct rd *r, const char **errstr)
{
	if (r->err)
		return fail(errstr, "truncated message");
	if (rd_end(r) == -1)
		return fail(errstr, "trailing bytes after message");
	return 0;
}

/* ---- AUTH ---------------------------------------------------------------------- */

int
msg_auth_encode(struct wr *w, const struct msg_auth *m)
{
	wr_bytes(w, m->mac, MSG_AUTH_LEN);
	return wr_ok(w) ? 0 : -1;
}

int
msg_auth_decode(struct rd *r, struct msg_auth *m, const char **errstr)
{
	rd_bytes(r, m->mac, MSG_AUTH_LEN);
	return end(r, errstr);
}

/* ---- HELLO --------------------------------------------------------------------- */

int
msg_hello_encode(struct wr *w, const struct msg_hello *m)
{
	if (m->naddrs > MSG_HELLO_MAX_ADDRS)
		return -1;
	wr_bytes(w, m->id, MSG_ID_LEN);
	wr_u8(w, m->naddrs);
	for (size_t i = 0; i < m->naddrs; i++)
		if (wr_addr(w, m->addrs[i]) == -1)
			return -1;
	if (wr_text(w, m->version, MSG_VERSION_MAX) == -1)
		return -1;
	wr_u32(w, m->caps);
	return wr_ok(w) ? 0 : -1;
}

int
msg_hello_decode(struct rd *r, struct msg_hello *m, const char **errstr)
{
	memset(m, 0, sizeof *m);
	rd_bytes(r, m->id, MSG_ID_LEN);
	if (rd_u8(r, &m->naddrs) == -1)
		return fail(errstr, "truncated message");
	if (m->naddrs > MSG_HELLO_MAX_ADDRS) {
		m->naddrs = 0;
		return fail(errstr, "too many addresses in HELLO");
	}
	for (size_t i = 0; i < m->naddrs; i++)
		if (rd_addr(r, m->addrs[i], errstr) == -1)
			return -1;
	if (rd_text(r, m->version, MSG_VERSION_MAX, errstr) == -1)
		return -1;
	rd_u32(r, &m->caps);
	return end(r, errstr);
}

/* ---- PING / PONG --------------------------------------------------------------- */

int
msg_ping_encode(struct wr *w, const struct msg_ping *m)
{
	wr_u64(w, m->nonce);
	wr_u64(w, m->ts_ms);
	return wr_ok(w) ? 0 : -1;
}

int
msg_ping_decode(struct rd *r, struct msg_ping *m, const char **errstr)
{
	rd_u64(r, &m->nonce);
	rd_u64(r, &m->ts_ms);
	return end(r, errstr);
}

/* ---- PEERS --------------------------------------------------------------------- */

int
msg_peers_encode(struct wr *w, const struct msg_peers *m)
{
	if (m->n > MSG_PEERS_MAX)
		return -1;
	wr_u16(w, m->n);
	for (size_t i = 0; i < m->n; i++) {
		const struct msg_peer *p = &m->v[i];

		wr_bytes(w, p->id, MSG_ID_LEN);
		wr_u8(w, p->transport);
		if (wr_addr(w, p->addr) == -1)
			return -1;
		wr_u64(w, p->last_seen_ms);
	}
	return wr_ok(w) ? 0 : -1;
}

int
msg_peers_decode(struct rd *r, struct msg_peers *m, const char **errstr)
{
	uint16_t n;

	m->n = 0;
	m->v = NULL;
	if (rd_u16(r, &n) == -1)
		return fail(errstr, "truncated message");
	if (n > MSG_PEERS_MAX)
		return fail(errstr, "too many entries in PEERS");
	if (rd_left(r) / PEER_MIN_LEN < n)
		return fail(errstr, "truncated message");
	m->v = xcalloc(n, sizeof *m->v);
	for (size_t i = 0; i < n; i++) {
		struct msg_peer *p = &m->v[i];

		rd_bytes(r, p->id, MSG_ID_LEN);
		rd_u8(r, &p->transport);
		if (rd_addr(r, p->addr, errstr) == -1)
			goto bad;
		if (rd_u64(r, &p->last_seen_ms) == -1)
			break;
	}
	if (end(r, errstr) == -1)
		goto bad;
	m->n = n;
	return 0;
bad:
	free(m->v);
	m->v = NULL;
	return -1;
}

/* ---- GOODBYE / ERROR ----------------------------------------------------------- */

int
msg_goodbye_encode(struct wr *w, const struct msg_goodbye *m)
{
	wr_u8(w, m->reason);
	if (wr_text(w, m->text, MSG_TEXT_MAX) == -1)
		return -1;
	return wr_ok(w) ? 0 : -1;
}

int
msg_goodbye_decode(struct rd *r, struct msg_goodbye *m, const char **errstr)
{
	if (rd_u8(r, &m->reason) == -1)
		return fail(errstr, "truncated message");
	if (rd_text(r, m->text, MSG_TEXT_MAX, errstr) == -1)
		return -1;
	return end(r, errstr);
}

int
msg_error_encode(struct wr *w, const struct msg_error *m)
{
	wr_u16(w, m->code);
	if (wr_text(w, m->text, MSG_TEXT_MAX) == -1)
		return -1;
	return wr_ok(w) ? 0 : -1;
}

int
msg_error_decode(struct rd *r, struct msg_error *m, const char **errstr)
{
	if (rd_u16(r, &m->code) == -1)
		return fail(errstr, "truncated message");
	if (rd_text(r, m->text, MSG_TEXT_MAX, errstr) == -1)
		return -1;
	return end(r, errstr);
}

/* ---- by type ------------------------------------------------------------------- */

int
msg_encode(struct wr *w, const struct msg *m)
{
	switch (m->type) {
	case MSG_AUTH:
		return msg_auth_encode(w, &m->u.auth);
	case MSG_HELLO:
		return msg_hello_encode(w, &m->u.hello);
	case MSG_PING:
	case MSG_PONG:
		return msg_ping_encode(w, &m->u.ping);
	case MSG_PEERS:
		return msg_peers_encode(w, &m->u.peers);
	case MSG_GOODBYE:
		return msg_goodbye_encode(w, &m->u.goodbye);
	case MSG_ERROR:
		return msg_error_encode(w, &m->u.error);
	}
	return -1;
}

int
msg_frame(struct wr *w, const struct msg *m)
{
	size_t start = w->len, plen;

	if (frame_write_hdr(w, m->type, 0) == -1 || msg_encode(w, m) == -1)
		return -1;
	plen = w->len - start - FRAME_HDR_LEN;
	if (plen > FRAME_MAX_PAYLOAD)
		return -1;
	w->p[start + 4] = (uint8_t)(plen >> 24);
	w->p[start + 5] = (uint8_t)(plen >> 16);
	w->p[start + 6] = (uint8_t)(plen >> 8);
	w->p[start + 7] = (uint8_t)plen;
	return 0;
}

int
msg_decode(uint8_t type, const uint8_t *p, size_t len, struct msg *m, const char **errstr)
{
	struct rd r;

	memset(m, 0, sizeof *m);
	m->type = type;
	rd_init(&r, p, len);
	switch (type) {
	case MSG_AUTH:
		return msg_auth_decode(&r, &m->u.auth, errstr);
	case MSG_HELLO:
		return msg_hello_decode(&r, &m->u.hello, errstr);
	case MSG_PING:
	case MSG_PONG:
		return msg_ping_decode(&r, &m->u.ping, errstr);
	case MSG_PEERS:
		return msg_peers_decode(&r, &m->u.peers, errstr);
	case MSG_GOODBYE:
		return msg_goodbye_decode(&r, &m->u.goodbye, errstr);
	case MSG_ERROR:
		return msg_error_decode(&r, &m->u.error, errstr);
	}
	return fail(errstr, "unknown message type");
}

void
msg_clear(struct msg *m)
{
	if (m == NULL)
		return;
	if (m->type == MSG_PEERS) {
		free(m->u.peers.v);
		m->u.peers.v = NULL;
		m->u.peers.n = 0;
	}
}

const char *
msg_type_name(uint8_t type)
{
	switch (type) {
	case MSG_AUTH: return "AUTH";
	case MSG_HELLO: return "HELLO";
	case MSG_PING: return "PING";
	case MSG_PONG: return "PONG";
	case MSG_PEERS: return "PEERS";
	case MSG_GOODBYE: return "GOODBYE";
	case MSG_ERROR: return "ERROR";
	}
	return "unknown";
}
