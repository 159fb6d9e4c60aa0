/* test_p2p.c: the p2p/ layer: framing, messages, tickets, identity and network keys,
 * the TLS 1.3 handshake with AUTH (real handshakes between two threads), TCP addresses. */
#include "lib/buf.h"
#include "lib/util.h"
#include "p2p/frame.h"
#include "p2p/identity.h"
#include "p2p/msg.h"
#include "p2p/netkey.h"
#include "p2p/ticket.h"
#include "p2p/tls.h"
#include "p2p/transport.h"
#include "p2p/rfcomm.h"

#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <event2/event.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/pem.h>
#include <openssl/sha.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

/* ---- helpers ------------------------------------------------------------------- */

static char tmpdir[64];

static void
tmp_setup(void)
{
	snprintf(tmpdir, sizeof tmpdir, "/tmp/p2p-test-p2p.XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(tmpdir));
}

static int
rm_cb(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	return remove(path);
}

static void
tmp_teardown(void)
{
	if (tmpdir[0] != '\0')
		nftw(tmpdir, rm_cb, 8, FTW_DEPTH | FTW_PHYS);
	tmpdir[0] = '\0';
}

static char *
tmp_path(const char *name)
{
	char *p;

	xasprintf(&p, "%s/%s", tmpdir, name);
	return p;
}

static void
write_file(const char *path, const void *data, size_t len, mode_t mode)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, mode);

	ck_assert_int_ne(fd, -1);
	ck_assert_int_eq(write(fd, data, len), (ssize_t)len);
	ck_assert_int_eq(fchmod(fd, mode), 0);
	close(fd);
}

static mode_t
file_mode(const char *path)
{
	struct stat st;

	ck_assert_int_eq(stat(path, &st), 0);
	return st.st_mode & 07777;
}

/* ---- frame --------------------------------------------------------------------- */

static size_t
make_frame(uint8_t *buf, uint8_t version, uint8_t type, uint32_t len)
{
	buf[0] = 'P';
	buf[1] = '2';
	buf[2] = version;
	buf[3] = type;
	buf[4] = (uint8_t)(len >> 24);
	buf[5] = (uint8_t)(len >> 16);
	buf[6] = (uint8_t)(len >> 8);
	buf[7] = (uint8_t)len;
	return FRAME_HDR_LEN;
}

START_TEST(frame_need_more_every_prefix)
{
	uint8_t buf[FRAME_HDR_LEN + 20];
	struct frame_hdr h;

	make_frame(buf, FRAME_VERSION, MSG_PING, 16);
	memset(buf + FRAME_HDR_LEN, 0xab, 20);
	for (size_t i = 0; i < FRAME_HDR_LEN + 16; i++) {
		ck_assert_int_eq(frame_parse(buf, i, &h), FRAME_NEED_MORE);
		if (i >= FRAME_HDR_LEN)
			ck_assert_uint_eq(h.len, 16); /* known once the header is in */
		else
			ck_assert_uint_eq(h.len, 0);
	}
	ck_assert_int_eq(frame_parse(buf, FRAME_HDR_LEN + 16, &h), FRAME_OK);
	ck_assert_uint_eq(h.version, FRAME_VERSION);
	ck_assert_uint_eq(h.type, MSG_PING);
	ck_assert_uint_eq(h.len, 16);
	/* bytes of the next frame after it do not matter */
	ck_assert_int_eq(frame_parse(buf, sizeof buf, &h), FRAME_OK);
	ck_assert_uint_eq(h.len, 16);
}
END_TEST

START_TEST(frame_empty_payload)
{
	uint8_t buf[FRAME_HDR_LEN];
	struct frame_hdr h;

	make_frame(buf, FRAME_VERSION, 7, 0);
	ck_assert_int_eq(frame_parse(buf, FRAME_HDR_LEN - 1, &h), FRAME_NEED_MORE);
	ck_assert_int_eq(frame_parse(buf, FRAME_HDR_LEN, &h), FRAME_OK);
	ck_assert_uint_eq(h.len, 0);
}
END_TEST

START_TEST(frame_bad_magic)
{
	uint8_t buf[FRAME_HDR_LEN];
	struct frame_hdr h;

	make_frame(buf, FRAME_VERSION, 1, 0);
	buf[0] = 'G'; /* "GET / HTTP/1.1" */
	ck_assert_int_eq(frame_parse(buf, 1, &h), FRAME_BAD_MAGIC);
	ck_assert_int_eq(frame_parse(buf, sizeof buf, &h), FRAME_BAD_MAGIC);
	buf[0] = 'P';
	buf[1] = '3';
	ck_assert_int_eq(frame_parse(buf, 1, &h), FRAME_NEED_MORE);
	ck_assert_int_eq(frame_parse(buf, 2, &h), FRAME_BAD_MAGIC);
	ck_assert_int_eq(frame_parse(buf, sizeof buf, &h), FRAME_BAD_MAGIC);
	ck_assert_str_ne(frame_strerror(FRAME_BAD_MAGIC), "");
}
END_TEST

START_TEST(frame_bad_version)
{
	uint8_t buf[FRAME_HDR_LEN];
	struct frame_hdr h;

	make_frame(buf, 2, 1, 0);
	ck_assert_int_eq(frame_parse(buf, 2, &h), FRAME_NEED_MORE);
	ck_assert_int_eq(frame_parse(buf, 3, &h), FRAME_BAD_VERSION);
	ck_assert_uint_eq(h.version, 2); /* reportable: theirs 2, ours FRAME_VERSION */
	ck_assert_int_eq(frame_parse(buf, sizeof buf, &h), FRAME_BAD_VERSION);
	ck_assert_uint_eq(h.version, 2);
	make_frame(buf, 0, 1, 0);
	ck_assert_int_eq(frame_parse(buf, sizeof buf, &h), FRAME_BAD_VERSION);
	ck_assert_uint_eq(h.version, 0);
}
END_TEST

START_TEST(frame_too_large)
{
	uint8_t buf[FRAME_HDR_LEN];
	struct frame_hdr h;

	/* reported from the header alone, before any payload (or allocation) */
	make_frame(buf, FRAME_VERSION, MSG_PEERS, FRAME_MAX_PAYLOAD + 1);
	ck_assert_int_eq(frame_parse(buf, FRAME_HDR_LEN, &h), FRAME_TOO_LARGE);
	make_frame(buf, FRAME_VERSION, MSG_PEERS, UINT32_MAX);
	ck_assert_int_eq(frame_parse(buf, FRAME_HDR_LEN, &h), FRAME_TOO_LARGE);
	make_frame(buf, FRAME_VERSION, MSG_PEERS, FRAME_MAX_PAYLOAD);
	ck_assert_int_eq(frame_parse(buf, FRAME_HDR_LEN, &h), FRAME_NEED_MORE);
	ck_assert_uint_eq(h.len, FRAME_MAX_PAYLOAD);
	ck_assert_uint_eq(FRAME_MAX_PAYLOAD, 1024 * 1024 + 64 * 1024);
}
END_TEST

START_TEST(frame_write_hdr_round_trip)
{
	struct frame_hdr h;
	struct wr w;

	wr_init(&w, 64);
	ck_assert_int_eq(frame_write_hdr(&w, MSG_HELLO, 1234), 0);
	ck_assert_uint_eq(w.len, FRAME_HDR_LEN);
	ck_assert_int_eq(memcmp(w.p, "P2\x01\x02\x00\x00\x04\xd2", 8), 0);
	ck_assert_int_eq(frame_parse(w.p, w.len, &h), FRAME_NEED_MORE);
	ck_assert_uint_eq(h.len, 1234);
	wr_reset(&w);
	ck_assert_int_eq(frame_write_hdr(&w, MSG_HELLO, FRAME_MAX_PAYLOAD + 1), -1);
	wr_free(&w);
}
END_TEST

/* ---- messages ------------------------------------------------------------------ */

static void
fill_hello(struct msg *m, int naddrs)
{
	memset(m, 0, sizeof *m);
	m->type = MSG_HELLO;
	for (int i = 0; i < MSG_ID_LEN; i++)
		m->u.hello.id[i] = (uint8_t)(i * 7 + 1);
	m->u.hello.naddrs = (uint8_t)naddrs;
	for (int i = 0; i < naddrs; i++) {
		if (i == 0) {
			memset(m->u.hello.addrs[0], 'h', MSG_ADDR_MAX); /* longest allowed */
			m->u.hello.addrs[0][MSG_ADDR_MAX] = '\0';
		} else if (i % 2)
			snprintf(m->u.hello.addrs[i], sizeof m->u.hello.addrs[i],
			    "192.168.1.%d:3000", i);
		else
			snprintf(m->u.hello.addrs[i], sizeof m->u.hello.addrs[i],
			    "[fe80::%d]:3000", i);
	}
	memset(m->u.hello.version, 'v', MSG_VERSION_MAX);
	m->u.hello.version[MSG_VERSION_MAX] = '\0';
	m->u.hello.caps = 0xdeadbeef;
}

static void
fill_peers(struct msg *m, int n)
{
	memset(m, 0, sizeof *m);
	m->type = MSG_PEERS;
	m->u.peers.n = (uint16_t)n;
	m->u.peers.v = xcalloc((size_t)n, sizeof *m->u.peers.v);
	for (int i = 0; i < n; i++) {
		struct msg_peer *p = &m->u.peers.v[i];
		memset(p->id, i & 0xff, sizeof p->id);
		p->id[0] = (uint8_t)(i >> 8);
		p->transport = i % 3 == 0 ? MSG_TRANSPORT_RFCOMM : MSG_TRANSPORT_TCP;
		if (p->transport == MSG_TRANSPORT_RFCOMM)
			snprintf(p->addr, sizeof p->addr, "bt:AA:BB:CC:DD:EE:%02X/1", i & 0xff);
		else
			snprintf(p->addr, sizeof p->addr, "10.0.%d.%d:3000", i / 256, i % 256);
		p->last_seen_ms = 1700000000000ULL + (uint64_t)i;
	}
}

/* A few messages of each type, including the limits. */
static void
sample(int i, struct msg *m)
{
	memset(m, 0, sizeof *m);
	switch (i) {
	case 0:
		m->type = MSG_AUTH;
		for (int k = 0; k < MSG_AUTH_LEN; k++)
			m->u.auth.mac[k] = (uint8_t)(255 - k);
		break;
	case 1:
		fill_hello(m, 0);
		break;
	case 2:
		fill_hello(m, MSG_HELLO_MAX_ADDRS);
		break;
	case 3:
		m->type = MSG_PING;
		m->u.ping.nonce = 0x0102030405060708ULL;
		m->u.ping.ts_ms = UINT64_MAX;
		break;
	case 4:
		m->type = MSG_PONG;
		m->u.ping.nonce = 42;
		m->u.ping.ts_ms = 1700000000123ULL;
		break;
	case 5:
		fill_peers(m, 0);
		break;
	case 6:
		fill_peers(m, 3);
		break;
	case 7:
		fill_peers(m, MSG_PEERS_MAX);
		break;
	case 8:
		m->type = MSG_GOODBYE;
		m->u.goodbye.reason = MSG_BYE_LEAVING;
		snprintf(m->u.goodbye.text, sizeof m->u.goodbye.text, "leaving the network");
		break;
	case 9:
		m->type = MSG_GOODBYE;
		m->u.goodbye.reason = 200;
		memset(m->u.goodbye.text, 'x', MSG_TEXT_MAX);
		break;
	case 10:
		m->type = MSG_ERROR;
		m->u.error.code = MSG_ERR_MALFORMED;
		snprintf(m->u.error.text, sizeof m->u.error.text, "caf\xc3\xa9 \x01 ok");
		break;
	case 11:
		m->type = MSG_ERROR;
		m->u.error.code = UINT16_MAX;
		break;
	}
}
#define NSAMPLES 12

static void
encode(const struct msg *m, struct wr *w)
{
	wr_init(w, FRAME_MAX_PAYLOAD);
	ck_assert_int_eq(msg_encode(w, m), 0);
	ck_assert(wr_ok(w));
}

static void
assert_msg_eq(const struct msg *a, const struct msg *b)
{
	ck_assert_uint_eq(a->type, b->type);
	switch (a->type) {
	case MSG_AUTH:
		ck_assert_mem_eq(a->u.auth.mac, b->u.auth.mac, MSG_AUTH_LEN);
		break;
	case MSG_HELLO:
		ck_assert_mem_eq(a->u.hello.id, b->u.hello.id, MSG_ID_LEN);
		ck_assert_uint_eq(a->u.hello.naddrs, b->u.hello.naddrs);
		for (int i = 0; i < a->u.hello.naddrs; i++)
			ck_assert_str_eq(a->u.hello.addrs[i], b->u.hello.addrs[i]);
		ck_assert_str_eq(a->u.hello.version, b->u.hello.version);
		ck_assert_uint_eq(a->u.hello.caps, b->u.hello.caps);
		break;
	case MSG_PING:
	case MSG_PONG:
		ck_assert_uint_eq(a->u.ping.nonce, b->u.ping.nonce);
		ck_assert_uint_eq(a->u.ping.ts_ms, b->u.ping.ts_ms);
		break;
	case MSG_PEERS:
		ck_assert_uint_eq(a->u.peers.n, b->u.peers.n);
		for (int i = 0; i < a->u.peers.n; i++) {
			const struct msg_peer *p = &a->u.peers.v[i], *q = &b->u.peers.v[i];
			ck_assert_mem_eq(p->id, q->id, MSG_ID_LEN);
			ck_assert_uint_eq(p->transport, q->transport);
			ck_assert_str_eq(p->addr, q->addr);
			ck_assert_uint_eq(p->last_seen_ms, q->last_seen_ms);
		}
		break;
	case MSG_GOODBYE:
		ck_assert_uint_eq(a->u.goodbye.reason, b->u.goodbye.reason);
		ck_assert_str_eq(a->u.goodbye.text, b->u.goodbye.text);
		break;
	case MSG_ERROR:
		ck_assert_uint_eq(a->u.error.code, b->u.error.code);
		ck_assert_str_eq(a->u.error.text, b->u.error.text);
		break;
	default:
		ck_abort_msg("unexpected type %u", a->type);
	}
}

START_TEST(msg_round_trip)
{
	struct msg m, d;
	const char *errstr = NULL;
	struct wr w;

	sample(_i, &m);
	encode(&m, &w);
	ck_assert_msg(msg_decode(m.type, w.p, w.len, &d, &errstr) == 0, "sample %d: %s",
	    _i, errstr);
	assert_msg_eq(&m, &d);
	msg_clear(&d);
	msg_clear(&m);
	wr_free(&w);
}
END_TEST

START_TEST(msg_truncated_every_length)
{
	struct msg m, d;
	const char *errstr;
	struct wr w;

	sample(_i, &m);
	encode(&m, &w);
	for (size_t len = 0; len < w.len; len++) {
		/* a private copy of exactly len bytes, so a read past it would show */
		uint8_t *p = xmalloc(len);
		memcpy(p, w.p, len);
		errstr = NULL;
		ck_assert_msg(msg_decode(m.type, p, len, &d, &errstr) == -1,
		    "sample %d decoded at %zu of %zu bytes", _i, len, w.len);
		ck_assert_ptr_nonnull(errstr);
		msg_clear(&d);
		free(p);
	}
	msg_clear(&m);
	wr_free(&w);
}
END_TEST

START_TEST(msg_trailing_byte)
{
	struct msg m, d;
	const char *errstr = NULL;
	struct wr w;

	sample(_i, &m);
	encode(&m, &w);
	wr_u8(&w, 0);
	ck_assert_int_eq(msg_decode(m.type, w.p, w.len, &d, &errstr), -1);
	ck_assert_str_eq(errstr, "trailing bytes after message");
	msg_clear(&d);
	msg_clear(&m);
	wr_free(&w);
}
END_TEST

START_TEST(msg_frame_round_trip)
{
	struct frame_hdr h;
	struct msg m, d;
	const char *errstr;
	struct wr w;

	sample(_i, &m);
	wr_init(&w, FRAME_HDR_LEN + FRAME_MAX_PAYLOAD);
	wr_u8(&w, 0xee); /* frames append after whatever the writer holds */
	ck_assert_int_eq(msg_frame(&w, &m), 0);
	ck_assert_int_eq(frame_parse(w.p + 1, w.len - 1, &h), FRAME_OK);
	ck_assert_uint_eq(h.type, m.type);
	ck_assert_uint_eq(FRAME_HDR_LEN + h.len, w.len - 1);
	ck_assert_int_eq(msg_decode(h.type, w.p + 1 + FRAME_HDR_LEN, h.len, &d, &errstr), 0);
	assert_msg_eq(&m, &d);
	msg_clear(&d);
	msg_clear(&m);
	wr_free(&w);
}
END_TEST

static uint64_t rng_state;

static uint32_t
rng(void)
{
	/* xorshift64*: deterministic, so a failure reproduces */
	rng_state ^= rng_state >> 12;
	rng_state ^= rng_state << 25;
	rng_state ^= rng_state >> 27;
	return (uint32_t)((rng_state * 2685821657736338717ULL) >> 32);
}

/* Decoders on mutated input: never crash or leak (valgrind/ASan watch), and anything
 * accepted is canonical: it encodes back to exactly the same bytes. */
START_TEST(msg_decode_mutations)
{
	struct msg m, d;
	const char *errstr;
	struct wr w, w2;

	rng_state = 0x9e3779b97f4a7c15ULL + (uint64_t)_i;
	sample(_i, &m);
	encode(&m, &w);
	for (int k = 0; k < 3000; k++) {
		uint8_t *p = xmalloc(w.len + 4);
		size_t len = w.len;
		int edits = 1 + (int)(rng() % 3);

		memcpy(p, w.p, w.len);
		for (int e = 0; e < edits && len > 0; e++) {
			switch (rng() % 4) {
			case 0: p[rng() % len] ^= (uint8_t)(1u << (rng() % 8)); break;
			case 1: p[rng() % len] = (uint8_t)rng(); break;
			case 2: len -= rng() % (len < 4 ? len : 4); break;
			case 3: if (len < w.len + 4) p[len++] = (uint8_t)rng(); break;
			}
		}
		if (msg_decode(m.type, p, len, &d, &errstr) == 0) {
			wr_init(&w2, FRAME_MAX_PAYLOAD);
			ck_assert_int_eq(msg_encode(&w2, &d), 0);
			ck_assert_uint_eq(w2.len, len);
			ck_assert_mem_eq(w2.p, p, len);
			wr_free(&w2);
		}
		msg_clear(&d);
		free(p);
	}
	msg_clear(&m);
	wr_free(&w);
}
END_TEST

START_TEST(frame_random_headers)
{
	uint8_t buf[FRAME_HDR_LEN];
	struct frame_hdr h;

	rng_state = 12345;
	for (int k = 0; k < 100000; k++) {
		size_t avail = rng() % (FRAME_HDR_LEN + 1);
		int rc;

		for (size_t i = 0; i < sizeof buf; i++)
			buf[i] = (uint8_t)rng();
		if (k % 2) {
			buf[0] = 'P';
			buf[1] = '2';
			buf[2] = FRAME_VERSION;
		}
		rc = frame_parse(buf, avail, &h);
		ck_assert(rc == FRAME_OK || rc == FRAME_NEED_MORE || rc == FRAME_BAD_MAGIC ||
		    rc == FRAME_BAD_VERSION || rc == FRAME_TOO_LARGE);
		if (rc == FRAME_OK)
			ck_assert_uint_eq(h.len, 0);
		if (rc == FRAME_TOO_LARGE)
			ck_assert_uint_gt(h.len, FRAME_MAX_PAYLOAD);
	}
}
END_TEST

START_TEST(msg_unknown_type)
{
	uint8_t p[16] = { 0 };
	const char *errstr = NULL;
	struct msg d, m;
	struct wr w;

	ck_assert_int_eq(msg_decode(0x00, p, sizeof p, &d, &errstr), -1);
	ck_assert_str_eq(errstr, "unknown message type");
	ck_assert_int_eq(msg_decode(0x10, p, 0, &d, &errstr), -1);
	ck_assert_int_eq(msg_decode(0xff, p, sizeof p, &d, &errstr), -1);
	memset(&m, 0, sizeof m);
	m.type = 0x42;
	wr_init(&w, 64);
	ck_assert_int_eq(msg_encode(&w, &m), -1);
	wr_free(&w);
	ck_assert_str_eq(msg_type_name(0x42), "unknown");
	ck_assert_str_eq(msg_type_name(MSG_PEERS), "PEERS");
}
END_TEST

START_TEST(msg_hello_too_many_addrs)
{
	struct msg m, d;
	const char *errstr = NULL;
	struct wr w;

	/* encoder refuses */
	fill_hello(&m, MSG_HELLO_MAX_ADDRS);
	m.u.hello.naddrs = MSG_HELLO_MAX_ADDRS + 1;
	snprintf(m.u.hello.addrs[0], sizeof m.u.hello.addrs[0], "1.2.3.4:5");
	wr_init(&w, FRAME_MAX_PAYLOAD);
	ck_assert_int_eq(msg_encode(&w, &m), -1);
	wr_free(&w);

	/* decoder refuses a hand-made one with 17 valid addresses */
	wr_init(&w, FRAME_MAX_PAYLOAD);
	wr_bytes(&w, m.u.hello.id, MSG_ID_LEN);
	wr_u8(&w, MSG_HELLO_MAX_ADDRS + 1);
	for (int i = 0; i < MSG_HELLO_MAX_ADDRS + 1; i++)
		wr_str16(&w, "1.2.3.4:5", 9);
	wr_str16(&w, "v", 1);
	wr_u32(&w, 0);
	ck_assert_int_eq(msg_decode(MSG_HELLO, w.p, w.len, &d, &errstr), -1);
	ck_assert_str_eq(errstr, "too many addresses in HELLO");
	ck_assert_uint_eq(d.u.hello.naddrs, 0);
	wr_free(&w);
}
END_TEST

START_TEST(msg_hello_field_limits)
{
	struct msg m, d;
	const char *errstr;
	struct wr w;
	char big[MSG_ADDR_MAX + 2];

	/* address of 256 bytes: too long for either side */
	memset(big, 'a', sizeof big - 1);
	big[sizeof big - 1] = '\0';
	wr_init(&w, FRAME_MAX_PAYLOAD);
	wr_bytes(&w, big, MSG_ID_LEN);
	wr_u8(&w, 1);
	wr_str16(&w, big, MSG_ADDR_MAX + 1);
	wr_str16(&w, "v", 1);
	wr_u32(&w, 0);
	ck_assert_int_eq(msg_decode(MSG_HELLO, w.p, w.len, &d, &errstr), -1);
	wr_free(&w);

	/* empty address, address with a space, with a control byte */
	static const char *bad[] = { "", "a b:1", "a\x01:1", "\xc3\xa9:1" };
	for (size_t i = 0; i < nitems(bad); i++) {
		wr_init(&w, FRAME_MAX_PAYLOAD);
		wr_bytes(&w, big, MSG_ID_LEN);
		wr_u8(&w, 1);
		wr_str16(&w, bad[i], strlen(bad[i]));
		wr_str16(&w, "v", 1);
		wr_u32(&w, 0);
		ck_assert_msg(msg_decode(MSG_HELLO, w.p, w.len, &d, &errstr) == -1,
		    "bad address %zu accepted", i);
		wr_free(&w);
	}

	/* version of 65 bytes; version with a NUL */
	wr_init(&w, FRAME_MAX_PAYLOAD);
	wr_bytes(&w, big, MSG_ID_LEN);
	wr_u8(&w, 0);
	wr_str16(&w, big, MSG_VERSION_MAX + 1);
	wr_u32(&w, 0);
	ck_assert_int_eq(msg_decode(MSG_HELLO, w.p, w.len, &d, &errstr), -1);
	wr_free(&w);
	wr_init(&w, FRAME_MAX_PAYLOAD);
	wr_bytes(&w, big, MSG_ID_LEN);
	wr_u8(&w, 0);
	wr_str16(&w, "1.0\0x", 5);
	wr_u32(&w, 0);
	ck_assert_int_eq(msg_decode(MSG_HELLO, w.p, w.len, &d, &errstr), -1);
	wr_free(&w);

	/* encoder refuses an over-long version and a bad address */
	fill_hello(&m, 1);
	memset(m.u.hello.version, 'v', sizeof m.u.hello.version); /* no NUL within 64 */
	wr_init(&w, FRAME_MAX_PAYLOAD);
	ck_assert_int_eq(msg_encode(&w, &m), -1);
	wr_free(&w);
	fill_hello(&m, 1);
	snprintf(m.u.hello.addrs[0], sizeof m.u.hello.addrs[0], "has space:1");
	wr_init(&w, FRAME_MAX_PAYLOAD);
	ck_assert_int_eq(msg_encode(&w, &m), -1);
	wr_free(&w);
}
END_TEST

START_TEST(msg_peers_over_limit)
{
	struct msg m, d;
	const char *errstr = NULL;
	struct wr w;
	uint16_t counts[] = { MSG_PEERS_MAX + 1, 1000, UINT16_MAX };

	/* the count alone is refused, before anything is allocated */
	for (size_t i = 0; i < nitems(counts); i++) {
		uint8_t p[2] = { (uint8_t)(counts[i] >> 8), (uint8_t)counts[i] };
		ck_assert_int_eq(msg_decode(MSG_PEERS, p, sizeof p, &d, &errstr), -1);
		ck_assert_str_eq(errstr, "too many entries in PEERS");
		ck_assert_ptr_null(d.u.peers.v);
	}
	/* 257 well-formed entries: still refused */
	fill_peers(&m, MSG_PEERS_MAX + 1);
	wr_init(&w, FRAME_MAX_PAYLOAD);
	ck_assert_int_eq(msg_encode(&w, &m), -1); /* encoder refuses too */
	wr_reset(&w);
	wr_u16(&w, MSG_PEERS_MAX + 1);
	for (int i = 0; i < MSG_PEERS_MAX + 1; i++) {
		wr_bytes(&w, m.u.peers.v[i].id, MSG_ID_LEN);
		wr_u8(&w, m.u.peers.v[i].transport);
		wr_str16(&w, m.u.peers.v[i].addr, strlen(m.u.peers.v[i].addr));
		wr_u64(&w, 0);
	}
	ck_assert_int_eq(msg_decode(MSG_PEERS, w.p, w.len, &d, &errstr), -1);
	ck_assert_ptr_null(d.u.peers.v);
	msg_clear(&m);
	wr_free(&w);

	/* a count the remaining bytes cannot hold is refused before allocating too */
	{
		uint8_t p[2 + 43] = { 0, 200 };
		ck_assert_int_eq(msg_decode(MSG_PEERS, p, sizeof p, &d, &errstr), -1);
		ck_assert_ptr_null(d.u.peers.v);
	}
}
END_TEST

START_TEST(msg_text_limits)
{
	char big[MSG_TEXT_MAX + 1];
	struct msg m, d;
	const char *errstr;
	struct wr w;

	memset(big, 't', sizeof big);
	wr_init(&w, FRAME_MAX_PAYLOAD);
	wr_u8(&w, 0);
	wr_str16(&w, big, MSG_TEXT_MAX + 1);
	ck_assert_int_eq(msg_decode(MSG_GOODBYE, w.p, w.len, &d, &errstr), -1);
	wr_reset(&w);
	wr_u16(&w, 1);
	wr_str16(&w, big, MSG_TEXT_MAX + 1);
	ck_assert_int_eq(msg_decode(MSG_ERROR, w.p, w.len, &d, &errstr), -1);
	wr_reset(&w);
	wr_u16(&w, 1);
	wr_str16(&w, "a\0b", 3);
	ck_assert_int_eq(msg_decode(MSG_ERROR, w.p, w.len, &d, &errstr), -1);
	wr_reset(&w);
	memset(&m, 0, sizeof m);
	m.type = MSG_GOODBYE;
	memset(m.u.goodbye.text, 't', sizeof m.u.goodbye.text); /* 257 bytes, no NUL */
	ck_assert_int_eq(msg_encode(&w, &m), -1);
	wr_free(&w);
}
END_TEST

START_TEST(msg_wire_bytes)
{
	/* the exact bytes documented in docs/PROTOCOL.md */
	struct msg m;
	struct wr w;
	static const uint8_t ping[] = { 'P', '2', 1, 3, 0, 0, 0, 16,
		0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 2 };
	static const uint8_t bye[] = { 'P', '2', 1, 6, 0, 0, 0, 5, 1, 0, 2, 'o', 'k' };

	memset(&m, 0, sizeof m);
	m.type = MSG_PING;
	m.u.ping.nonce = 1;
	m.u.ping.ts_ms = 2;
	wr_init(&w, 1024);
	ck_assert_int_eq(msg_frame(&w, &m), 0);
	ck_assert_uint_eq(w.len, sizeof ping);
	ck_assert_mem_eq(w.p, ping, sizeof ping);
	wr_reset(&w);
	m.type = MSG_GOODBYE;
	m.u.goodbye.reason = MSG_BYE_LEAVING;
	snprintf(m.u.goodbye.text, sizeof m.u.goodbye.text, "ok");
	ck_assert_int_eq(msg_frame(&w, &m), 0);
	ck_assert_uint_eq(w.len, sizeof bye);
	ck_assert_mem_eq(w.p, bye, sizeof bye);
	wr_free(&w);
}
END_TEST

/* PEERS with one node reachable over both transports (docs/PROTOCOL.md, PEERS): the
 * documented bytes, and they decode back to two entries with the same node ID. */
START_TEST(msg_wire_peers_two_transports)
{
	static const char a1[] = "10.0.0.1:3000", a2[] = "bt:00:AA:01:00:00:00/7";
	uint8_t want[8 + 123], *p = want;
	struct msg m, d;
	struct msg_peer e[2];
	const char *errstr = NULL;
	struct wr w;

	memcpy(p, (const uint8_t[]){ 'P', '2', 1, 5, 0, 0, 0, 123, 0, 2 }, 10);
	p += 10;
	for (int i = 0; i < 2; i++) {
		const char *a = i == 0 ? a1 : a2;

		memset(p, 0x11, 32);
		p += 32;
		*p++ = (uint8_t)(i + 1);            /* 1 tcp, 2 rfcomm */
		*p++ = 0;
		*p++ = (uint8_t)strlen(a);
		memcpy(p, a, strlen(a));
		p += strlen(a);
		memcpy(p, (const uint8_t[]){ 0, 0, 0, 0, 0, 0, 0, 1 }, 8);
		p += 8;
	}
	ck_assert_uint_eq((size_t)(p - want), sizeof want);

	memset(e, 0, sizeof e);
	for (int i = 0; i < 2; i++) {
		memset(e[i].id, 0x11, sizeof e[i].id);
		e[i].transport = i == 0 ? MSG_TRANSPORT_TCP : MSG_TRANSPORT_RFCOMM;
		snprintf(e[i].addr, sizeof e[i].addr, "%s", i == 0 ? a1 : a2);
		e[i].last_seen_ms = 1;
	}
	memset(&m, 0, sizeof m);
	m.type = MSG_PEERS;
	m.u.peers.n = 2;
	m.u.peers.v = e;
	wr_init(&w, 1024);
	ck_assert_int_eq(msg_frame(&w, &m), 0);
	ck_assert_uint_eq(w.len, sizeof want);
	ck_assert_mem_eq(w.p, want, sizeof want);
	ck_assert_int_eq(msg_decode(MSG_PEERS, want + 8, sizeof want - 8, &d, &errstr), 0);
	ck_assert_uint_eq(d.u.peers.n, 2);
	ck_assert_mem_eq(d.u.peers.v[0].id, d.u.peers.v[1].id, 32);
	ck_assert_uint_eq(d.u.peers.v[1].transport, MSG_TRANSPORT_RFCOMM);
	ck_assert_str_eq(d.u.peers.v[1].addr, a2);
	msg_clear(&d);
	wr_free(&w);
}
END_TEST

/* ---- tickets ------------------------------------------------------------------- */

static const char b64chars[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

/* Independent base64url (no padding) for building malformed tickets. */
static char *
ticket_str_of(const uint8_t *p, size_t n)
{
	char *s = xmalloc(5 + (n * 4 + 2) / 3 + 1), *o;
	size_t i;

	o = stpcpy(s, "p2p1:");
	for (i = 0; i < n; i += 3) {
		uint32_t v = (uint32_t)p[i] << 16;
		size_t left = n - i;

		if (left > 1)
			v |= (uint32_t)p[i + 1] << 8;
		if (left > 2)
			v |= p[i + 2];
		*o++ = b64chars[v >> 18 & 63];
		*o++ = b64chars[v >> 12 & 63];
		if (left > 1)
			*o++ = b64chars[v >> 6 & 63];
		if (left > 2)
			*o++ = b64chars[v & 63];
	}
	*o = '\0';
	return s;
}

static void
fill_ticket(struct ticket *t, size_t naddrs)
{
	memset(t, 0, sizeof *t);
	for (int i = 0; i < NETKEY_LEN; i++)
		t->key.k[i] = (uint8_t)(0xf0 ^ i);
	for (size_t i = 0; i < naddrs; i++) {
		char a[TICKET_ADDR_MAX + 1];
		if (i == 1)
			snprintf(a, sizeof a, "[2001:db8::%zx]:3000", i);
		else if (i == 2) {
			memset(a, 'n', TICKET_ADDR_MAX);
			a[TICKET_ADDR_MAX] = '\0';
		} else
			snprintf(a, sizeof a, "node%zu.example:30%02zu", i, i);
		ck_assert_int_eq(ticket_add_addr(t, a), 0);
	}
}

START_TEST(ticket_round_trip)
{
	static const size_t ns[] = { 0, 1, 3, TICKET_MAX_ADDRS };
	struct ticket t, u;
	char *s, *cause = NULL;

	for (size_t k = 0; k < nitems(ns); k++) {
		fill_ticket(&t, ns[k]);
		s = ticket_to_string(&t);
		ck_assert_ptr_nonnull(s);
		ck_assert_int_eq(strncmp(s, "p2p1:", 5), 0);
		ck_assert_ptr_null(strchr(s, '=')); /* no padding */
		ck_assert_ptr_null(strpbrk(s + 5, "+/ \n"));
		ck_assert_uint_le(strlen(s), TICKET_STR_MAX);
		ck_assert_msg(ticket_from_string(s, &u, &cause) == 0, "%s", cause);
		ck_assert_mem_eq(u.key.k, t.key.k, NETKEY_LEN);
		ck_assert_uint_eq(u.naddrs, t.naddrs);
		for (size_t i = 0; i < t.naddrs; i++)
			ck_assert_str_eq(u.addrs[i], t.addrs[i]);
		free(s);
	}
	/* surrounding whitespace from a copy-paste is fine */
	fill_ticket(&t, 2);
	s = ticket_to_string(&t);
	{
		char *padded;
		xasprintf(&padded, "  %s\r\n", s);
		ck_assert_int_eq(ticket_from_string(padded, &u, &cause), 0);
		ck_assert_str_eq(u.addrs[1], t.addrs[1]);
		free(padded);
	}
	free(s);
}
END_TEST

START_TEST(ticket_binary)
{
	struct ticket t, u;
	const char *errstr;
	struct wr w;
	struct rd r;

	fill_ticket(&t, 2);
	wr_init(&w, TICKET_BLOB_MAX);
	ck_assert_int_eq(ticket_encode(&w, &t), 0);
	ck_assert_uint_eq(w.p[0], TICKET_VERSION);
	ck_assert_mem_eq(w.p + 1, t.key.k, NETKEY_LEN);
	ck_assert_uint_eq(w.p[1 + NETKEY_LEN], 2);
	/* every truncation fails */
	for (size_t len = 0; len < w.len; len++) {
		rd_init(&r, w.p, len);
		ck_assert_int_eq(ticket_decode(&r, &u, &errstr), -1);
	}
	rd_init(&r, w.p, w.len);
	ck_assert_int_eq(ticket_decode(&r, &u, &errstr), 0);
	/* one trailing byte fails */
	wr_u8(&w, 0);
	rd_init(&r, w.p, w.len);
	ck_assert_int_eq(ticket_decode(&r, &u, &errstr), -1);
	ck_assert_str_eq(errstr, "trailing bytes in ticket");
	wr_free(&w);
}
END_TEST

START_TEST(ticket_mutations)
{
	struct ticket t, u;
	char *s, *cause, *back;
	size_t len;
	int accepted = 0;

	rng_state = 777;
	fill_ticket(&t, 3);
	s = ticket_to_string(&t);
	len = strlen(s);
	for (int k = 0; k < 3000; k++) {
		char *p = xstrdup(s);
		size_t n = len;

		p[5 + rng() % (n - 5)] = b64chars[rng() % 64];
		if (k % 3 == 0)
			p[n - 1 - rng() % 3] = '\0';
		cause = NULL;
		if (ticket_from_string(p, &u, &cause) == 0) {
			accepted++;
			back = ticket_to_string(&u);
			ck_assert_str_eq(back, p); /* canonical */
			free(back);
		} else
			ck_assert_ptr_nonnull(cause);
		free(cause);
		free(p);
	}
	ck_assert_int_gt(accepted, 0); /* key bytes may change freely */
	free(s);
}
END_TEST

START_TEST(ticket_too_many_addresses)
{
	struct ticket t, u;
	char *s, *cause = NULL;
	struct wr w;

	fill_ticket(&t, TICKET_MAX_ADDRS);
	ck_assert_int_eq(ticket_add_addr(&t, "1.2.3.4:5"), -1);
	t.naddrs = TICKET_MAX_ADDRS + 1;
	ck_assert_ptr_null(ticket_to_string(&t));

	wr_init(&w, 8192);
	wr_u8(&w, TICKET_VERSION);
	wr_bytes(&w, t.key.k, NETKEY_LEN);
	wr_u8(&w, TICKET_MAX_ADDRS + 1);
	for (int i = 0; i < TICKET_MAX_ADDRS + 1; i++)
		wr_str16(&w, "1.2.3.4:5", 9);
	s = ticket_str_of(w.p, w.len);
	ck_assert_int_eq(ticket_from_string(s, &u, &cause), -1);
	ck_assert_ptr_nonnull(strstr(cause, "too many addresses"));
	free(cause);
	free(s);
	wr_free(&w);
}
END_TEST

START_TEST(ticket_malformed)
{
	struct ticket t, u;
	char *s, *bad, *cause;
	struct wr w;
	size_t len;

	fill_ticket(&t, 2);
	s = ticket_to_string(&t);
	len = strlen(s);

	static const char *junk[] = { "", "p2p1:", "p2p2:AAAA", "P2P1:AAAA", "hello",
		"p2p1:AQ==", "p2p1:A", "p2p1:AQ+/", "p2p1:AQ AA" };
	for (size_t i = 0; i < nitems(junk); i++) {
		cause = NULL;
		ck_assert_msg(ticket_from_string(junk[i], &u, &cause) == -1, "%s", junk[i]);
		ck_assert_ptr_nonnull(cause);
		free(cause);
	}
	/* every truncation of a real ticket fails */
	bad = xstrdup(s);
	for (size_t n = 0; n < len; n++) {
		bad[n] = '\0';
		cause = NULL;
		ck_assert_msg(ticket_from_string(bad, &u, &cause) == -1, "prefix %zu", n);
		free(cause);
		memcpy(bad, s, len + 1);
	}
	/* a character outside the alphabet */
	bad[len / 2] = '*';
	cause = NULL;
	ck_assert_int_eq(ticket_from_string(bad, &u, &cause), -1);
	free(cause);
	free(bad);
	free(s);

	/* wrong version, address too long, bad address, trailing byte */
	for (int k = 0; k < 4; k++) {
		char a[TICKET_ADDR_MAX + 2];
		wr_init(&w, 8192);
		wr_u8(&w, k == 0 ? 2 : TICKET_VERSION);
		wr_bytes(&w, t.key.k, NETKEY_LEN);
		wr_u8(&w, 1);
		memset(a, 'a', sizeof a);
		if (k == 1)
			wr_str16(&w, a, TICKET_ADDR_MAX + 1);
		else if (k == 2)
			wr_str16(&w, "a b:1", 5);
		else
			wr_str16(&w, "a:1", 3);
		if (k == 3)
			wr_u8(&w, 0);
		s = ticket_str_of(w.p, w.len);
		cause = NULL;
		ck_assert_msg(ticket_from_string(s, &u, &cause) == -1, "case %d", k);
		free(cause);
		free(s);
		wr_free(&w);
	}
	/* the reference encoder agrees with ticket_to_string */
	wr_init(&w, 8192);
	ck_assert_int_eq(ticket_encode(&w, &t), 0);
	s = ticket_str_of(w.p, w.len);
	bad = ticket_to_string(&t);
	ck_assert_str_eq(s, bad);
	free(s);
	free(bad);
	wr_free(&w);
}
END_TEST

/* ---- identity ------------------------------------------------------------------ */

START_TEST(identity_create_and_reload)
{
	struct identity *a = NULL, *b = NULL;
	char *cause = NULL, *path = tmp_path(IDENTITY_FILE);
	uint8_t want[NODE_ID_LEN];
	char hex[NODE_ID_HEX_LEN + 1];
	int created = -1;

	ck_assert_msg(identity_open(&a, tmpdir, &created, &cause) == 0, "%s", cause);
	ck_assert_int_eq(created, 1);
	ck_assert_uint_eq(file_mode(path), 0600);
	/* node id = SHA-256(raw public key) */
	SHA256(identity_pubkey(a), IDENTITY_PUB_LEN, want);
	ck_assert_mem_eq(identity_id(a), want, NODE_ID_LEN);
	node_id_hex(want, hex);
	ck_assert_str_eq(identity_hex(a), hex);
	ck_assert_uint_eq(strlen(identity_short(a)), NODE_ID_SHORT_LEN);
	ck_assert_int_eq(strncmp(identity_short(a), hex, NODE_ID_SHORT_LEN), 0);
	/* stable across reloads */
	ck_assert_int_eq(identity_open(&b, tmpdir, &created, &cause), 0);
	ck_assert_int_eq(created, 0);
	ck_assert_mem_eq(identity_id(a), identity_id(b), NODE_ID_LEN);
	identity_free(b);
	ck_assert_int_eq(identity_load(&b, path, &cause), 0);
	ck_assert_str_eq(identity_hex(a), identity_hex(b));
	identity_free(b);
	identity_free(a);
	free(path);
}
END_TEST

START_TEST(identity_permissions_refused)
{
	struct identity *a = NULL, *b = NULL;
	char *cause = NULL, *path = tmp_path(IDENTITY_FILE);

	ck_assert_int_eq(identity_open(&a, tmpdir, NULL, &cause), 0);
	ck_assert_int_eq(chmod(path, 0644), 0);
	ck_assert_int_eq(identity_open(&b, tmpdir, NULL, &cause), -1);
	ck_assert_ptr_null(b);
	ck_assert_ptr_nonnull(strstr(cause, "0644"));
	ck_assert_ptr_nonnull(strstr(cause, "chmod 600"));
	free(cause);
	cause = NULL;
	ck_assert_int_eq(chmod(path, 0640), 0);
	ck_assert_int_eq(identity_load(&b, path, &cause), -1);
	free(cause);
	cause = NULL;
	/* refused, not replaced: fixing the mode brings the same identity back */
	ck_assert_int_eq(chmod(path, 0600), 0);
	ck_assert_int_eq(identity_open(&b, tmpdir, NULL, &cause), 0);
	ck_assert_mem_eq(identity_id(a), identity_id(b), NODE_ID_LEN);
	identity_free(a);
	identity_free(b);
	free(path);
}
END_TEST

START_TEST(identity_bad_files)
{
	struct identity *a = NULL;
	char *cause = NULL, *path = tmp_path(IDENTITY_FILE);
	EVP_PKEY *other;
	FILE *f;

	write_file(path, "garbage\n", 8, 0600);
	ck_assert_int_eq(identity_open(&a, tmpdir, NULL, &cause), -1);
	ck_assert_ptr_nonnull(strstr(cause, "not a readable PEM private key"));
	free(cause);
	cause = NULL;
	/* a valid PEM key that is not Ed25519 */
	unlink(path);
	other = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
	ck_assert_ptr_nonnull(other);
	f = fopen(path, "w");
	ck_assert_ptr_nonnull(f);
	ck_assert_int_eq(PEM_write_PrivateKey(f, other, NULL, NULL, 0, NULL, NULL), 1);
	fclose(f);
	chmod(path, 0600);
	EVP_PKEY_free(other);
	ck_assert_int_eq(identity_open(&a, tmpdir, NULL, &cause), -1);
	ck_assert_ptr_nonnull(strstr(cause, "not an Ed25519"));
	free(cause);
	cause = NULL;
	/* an encrypted key is refused, never a passphrase prompt */
	unlink(path);
	other = EVP_PKEY_Q_keygen(NULL, NULL, "ED25519");
	f = fopen(path, "w");
	ck_assert_int_eq(PEM_write_PrivateKey(f, other, EVP_aes_128_cbc(),
	    (unsigned char *)"secret", 6, NULL, NULL), 1);
	fclose(f);
	chmod(path, 0600);
	EVP_PKEY_free(other);
	ck_assert_int_eq(identity_open(&a, tmpdir, NULL, &cause), -1);
	ck_assert_ptr_nonnull(strstr(cause, "not a readable PEM private key"));
	free(cause);
	cause = NULL;
	unlink(path);
	ck_assert_int_eq(identity_load(&a, path, &cause), -1); /* absent */
	free(cause);
	free(path);
}
END_TEST

/* ---- network key --------------------------------------------------------------- */

START_TEST(netkey_create_and_reload)
{
	struct netkey a, b;
	char *cause = NULL, *path = tmp_path(NETKEY_FILE), buf[80];
	char ida[NETKEY_ID_HEX_LEN + 1], idb[NETKEY_ID_HEX_LEN + 1];
	char keyhex[2 * NETKEY_LEN + 1];
	int created = -1, fd;
	ssize_t n;

	ck_assert_msg(netkey_open(&a, tmpdir, &created, &cause) == 0, "%s", cause);
	ck_assert_int_eq(created, 1);
	ck_assert_uint_eq(file_mode(path), 0600);
	fd = open(path, O_RDONLY);
	n = read(fd, buf, sizeof buf);
	close(fd);
	ck_assert_int_eq(n, 2 * NETKEY_LEN + 1);
	ck_assert_int_eq(buf[2 * NETKEY_LEN], '\n');
	hex_encode(a.k, NETKEY_LEN, keyhex);
	ck_assert_mem_eq(buf, keyhex, 2 * NETKEY_LEN);

	ck_assert_int_eq(netkey_open(&b, tmpdir, &created, &cause), 0);
	ck_assert_int_eq(created, 0);
	ck_assert_mem_eq(a.k, b.k, NETKEY_LEN);
	netkey_network_id(&a, ida);
	netkey_network_id(&b, idb);
	ck_assert_str_eq(ida, idb);
	ck_assert_uint_eq(strlen(ida), NETKEY_ID_HEX_LEN);
	ck_assert_ptr_null(strstr(keyhex, ida)); /* not a piece of the key */

	/* save refuses to overwrite */
	ck_assert_int_eq(netkey_generate(&b, &cause), 0);
	ck_assert_int_ne(memcmp(a.k, b.k, NETKEY_LEN), 0);
	ck_assert_int_eq(netkey_save(&b, path, &cause), 1);
	ck_assert_int_eq(netkey_load(&b, path, &cause), 0);
	ck_assert_mem_eq(a.k, b.k, NETKEY_LEN);
	free(path);
}
END_TEST

START_TEST(netkey_network_id_value)
{
	struct netkey k;
	uint8_t mac[32];
	unsigned int maclen;
	char want[17], got[17], other[17];

	for (int i = 0; i < NETKEY_LEN; i++)
		k.k[i] = (uint8_t)i;
	HMAC(EVP_sha256(), k.k, NETKEY_LEN, (const uint8_t *)"p2p network id v1", 17, mac,
	    &maclen);
	hex_encode(mac, 8, want);
	netkey_network_id(&k, got);
	ck_assert_str_eq(got, want);
	k.k[0] ^= 1;
	netkey_network_id(&k, other);
	ck_assert_str_ne(got, other);
}
END_TEST

START_TEST(netkey_bad_files)
{
	struct netkey k;
	char *cause = NULL, *path = tmp_path(NETKEY_FILE);
	static const char good[] =
	    "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f\n";
	static const char *bad[] = {
		"000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e\n", /* short */
		"000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f00\n",
		"zz0102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f\n",
		"000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f\n\n", "",
	};

	write_file(path, good, strlen(good), 0600);
	ck_assert_int_eq(netkey_load(&k, path, &cause), 0);
	ck_assert_uint_eq(k.k[31], 0x1f);
	write_file(path, good, strlen(good) - 1, 0600); /* no newline: still fine */
	ck_assert_int_eq(netkey_load(&k, path, &cause), 0);

	write_file(path, good, strlen(good), 0644);
	ck_assert_int_eq(netkey_load(&k, path, &cause), -1);
	ck_assert_ptr_nonnull(strstr(cause, "too open"));
	free(cause);
	cause = NULL;
	ck_assert_int_eq(netkey_open(&k, tmpdir, NULL, &cause), -1); /* not replaced */
	free(cause);
	cause = NULL;
	write_file(path, good, strlen(good), 0604);
	ck_assert_int_eq(netkey_load(&k, path, &cause), -1);
	free(cause);
	cause = NULL;

	for (size_t i = 0; i < nitems(bad); i++) {
		write_file(path, bad[i], strlen(bad[i]), 0600);
		ck_assert_msg(netkey_load(&k, path, &cause) == -1, "bad %zu accepted", i);
		free(cause);
		cause = NULL;
	}
	unlink(path);
	ck_assert_int_eq(netkey_load(&k, path, &cause), 1); /* absent */
	free(path);
}
END_TEST

/* ---- TLS handshake ------------------------------------------------------------- */

struct side {
	SSL_CTX *ctx;
	int fd;
	enum tls_role role;
	struct netkey nk;
	int rc;
	char *cause;
	uint8_t peer_id[NODE_ID_LEN];
	int exchanged; /* a PING/PONG went through after the handshake */
};

static void *
side_run(void *arg)
{
	struct side *s = arg;
	struct tls_conn *c = NULL;
	struct msg m;

	s->rc = tls_conn_handshake(&c, s->ctx, s->fd, s->role, &s->nk, 10000, &s->cause);
	if (s->rc != 0)
		return NULL;
	memcpy(s->peer_id, tls_conn_peer_id(c), NODE_ID_LEN);
	memset(&m, 0, sizeof m);
	if (s->role == TLS_CLIENT) {
		m.type = MSG_PING;
		m.u.ping.nonce = 77;
		if (tls_conn_send(c, &m, &s->cause) == 0 &&
		    tls_conn_recv(c, &m, &s->cause) == 0 && m.type == MSG_PONG &&
		    m.u.ping.nonce == 77)
			s->exchanged = 1;
	} else {
		if (tls_conn_recv(c, &m, &s->cause) == 0 && m.type == MSG_PING) {
			m.type = MSG_PONG;
			if (tls_conn_send(c, &m, &s->cause) == 0)
				s->exchanged = 1;
		}
	}
	msg_clear(&m);
	tls_conn_free(c);
	return NULL;
}

/* Server in a thread, client here; fds[0] client, fds[1] server. */
static void
run_pair(struct side *cl, struct side *sv, int fds[2])
{
	pthread_t t;

	cl->fd = fds[0];
	cl->role = TLS_CLIENT;
	sv->fd = fds[1];
	sv->role = TLS_SERVER;
	ck_assert_int_eq(pthread_create(&t, NULL, side_run, sv), 0);
	side_run(cl);
	ck_assert_int_eq(pthread_join(t, NULL), 0);
	close(fds[0]);
	close(fds[1]);
}

static struct identity *id_a, *id_b;

static void
tls_setup(void)
{
	char *cause = NULL;

	signal(SIGPIPE, SIG_IGN);
	ck_assert_int_eq(identity_generate(&id_a, &cause), 0);
	ck_assert_int_eq(identity_generate(&id_b, &cause), 0);
}

static void
tls_teardown(void)
{
	identity_free(id_a);
	identity_free(id_b);
	id_a = id_b = NULL;
}

static void
sides_init(struct side *cl, struct side *sv, int same_key)
{
	char *cause = NULL;

	memset(cl, 0, sizeof *cl);
	memset(sv, 0, sizeof *sv);
	cl->ctx = tls_ctx_new(id_a, &cause);
	ck_assert_msg(cl->ctx != NULL, "%s", cause);
	sv->ctx = tls_ctx_new(id_b, &cause);
	ck_assert_ptr_nonnull(sv->ctx);
	ck_assert_int_eq(netkey_generate(&cl->nk, &cause), 0);
	if (same_key)
		sv->nk = cl->nk;
	else
		ck_assert_int_eq(netkey_generate(&sv->nk, &cause), 0);
}

static void
sides_free(struct side *cl, struct side *sv)
{
	SSL_CTX_free(cl->ctx);
	SSL_CTX_free(sv->ctx);
	free(cl->cause);
	free(sv->cause);
}

START_TEST(tls_same_key)
{
	struct side cl, sv;
	int fds[2];

	sides_init(&cl, &sv, 1);
	ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM, 0, fds), 0);
	run_pair(&cl, &sv, fds);
	ck_assert_msg(cl.rc == 0, "client: %s", cl.cause);
	ck_assert_msg(sv.rc == 0, "server: %s", sv.cause);
	/* each side derived the other's node ID from its certificate */
	ck_assert_mem_eq(cl.peer_id, identity_id(id_b), NODE_ID_LEN);
	ck_assert_mem_eq(sv.peer_id, identity_id(id_a), NODE_ID_LEN);
	ck_assert_int_eq(cl.exchanged, 1);
	ck_assert_int_eq(sv.exchanged, 1);
	sides_free(&cl, &sv);
}
END_TEST

START_TEST(tls_wrong_key)
{
	struct side cl, sv;
	int fds[2];

	sides_init(&cl, &sv, 0);
	ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM, 0, fds), 0);
	run_pair(&cl, &sv, fds);
	ck_assert_int_eq(cl.rc, TLS_EAUTH);
	ck_assert_int_eq(sv.rc, TLS_EAUTH);
	ck_assert_ptr_nonnull(strstr(cl.cause, "wrong network key"));
	ck_assert_ptr_nonnull(strstr(sv.cause, "wrong network key"));
	/* the line names the peer by its short node ID */
	ck_assert_ptr_nonnull(strstr(cl.cause, identity_short(id_b)));
	ck_assert_ptr_nonnull(strstr(sv.cause, identity_short(id_a)));
	ck_assert_int_eq(cl.exchanged, 0);
	sides_free(&cl, &sv);
}
END_TEST

START_TEST(tls_client_without_cert)
{
	struct side cl, sv;
	char *cause = NULL;
	int fds[2];

	sides_init(&cl, &sv, 1);
	SSL_CTX_free(cl.ctx);
	cl.ctx = SSL_CTX_new(TLS_client_method()); /* TLS 1.3, but no certificate */
	ck_assert_ptr_nonnull(cl.ctx);
	SSL_CTX_set_min_proto_version(cl.ctx, TLS1_3_VERSION);
	ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM, 0, fds), 0);
	run_pair(&cl, &sv, fds);
	ck_assert_int_eq(sv.rc, -1);
	ck_assert_ptr_nonnull(strstr(sv.cause, "TLS handshake failed"));
	ck_assert_int_ne(cl.rc, 0);
	ck_assert_int_eq(cl.exchanged, 0);
	sides_free(&cl, &sv);
	(void)cause;
}
END_TEST

START_TEST(tls_client_with_ecdsa_cert)
{
	/* a certificate whose key is not Ed25519 has no node ID: refused */
	struct side cl, sv;
	EVP_PKEY *k;
	X509 *x;
	int fds[2];

	sides_init(&cl, &sv, 1);
	SSL_CTX_free(cl.ctx);
	cl.ctx = SSL_CTX_new(TLS_client_method());
	SSL_CTX_set_min_proto_version(cl.ctx, TLS1_3_VERSION);
	k = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
	ck_assert_ptr_nonnull(k);
	x = X509_new();
	X509_set_version(x, X509_VERSION_3);
	ASN1_INTEGER_set(X509_get_serialNumber(x), 1);
	X509_gmtime_adj(X509_getm_notBefore(x), 0);
	X509_gmtime_adj(X509_getm_notAfter(x), 3600);
	X509_NAME_add_entry_by_txt(X509_get_subject_name(x), "CN", MBSTRING_ASC,
	    (const unsigned char *)"ecdsa", -1, -1, 0);
	X509_set_issuer_name(x, X509_get_subject_name(x));
	X509_set_pubkey(x, k);
	ck_assert_int_gt(X509_sign(x, k, EVP_sha256()), 0);
	ck_assert_int_eq(SSL_CTX_use_certificate(cl.ctx, x), 1);
	ck_assert_int_eq(SSL_CTX_use_PrivateKey(cl.ctx, k), 1);
	X509_free(x);
	EVP_PKEY_free(k);
	ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM, 0, fds), 0);
	run_pair(&cl, &sv, fds);
	ck_assert_int_eq(sv.rc, -1);
	ck_assert_int_ne(cl.rc, 0);
	ck_assert_int_eq(sv.exchanged, 0);
	sides_free(&cl, &sv);
}
END_TEST

START_TEST(tls_old_protocol_refused)
{
	struct side cl, sv;
	int fds[2];

	sides_init(&cl, &sv, 1);
	SSL_CTX_free(cl.ctx);
	cl.ctx = SSL_CTX_new(TLS_client_method());
	SSL_CTX_set_max_proto_version(cl.ctx, TLS1_2_VERSION);
	ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM, 0, fds), 0);
	run_pair(&cl, &sv, fds);
	ck_assert_int_eq(sv.rc, -1);
	ck_assert_int_eq(cl.rc, -1);
	sides_free(&cl, &sv);
}
END_TEST

/* A server that completes TLS but sends a PING before its AUTH. */
static void *
rogue_server(void *arg)
{
	struct side *s = arg;
	SSL *ssl = SSL_new(s->ctx);
	uint8_t frame[FRAME_HDR_LEN + 16] = { 'P', '2', 1, MSG_PING, 0, 0, 0, 16 };
	uint8_t buf[64];

	SSL_set_fd(ssl, s->fd);
	if (SSL_accept(ssl) == 1) {
		SSL_write(ssl, frame, sizeof frame);
		(void)SSL_read(ssl, buf, sizeof buf);
	}
	SSL_free(ssl);
	return NULL;
}

START_TEST(tls_first_message_must_be_auth)
{
	struct side cl, sv;
	pthread_t t;
	int fds[2];

	sides_init(&cl, &sv, 1);
	ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM, 0, fds), 0);
	cl.fd = fds[0];
	cl.role = TLS_CLIENT;
	sv.fd = fds[1];
	ck_assert_int_eq(pthread_create(&t, NULL, rogue_server, &sv), 0);
	side_run(&cl);
	shutdown(fds[0], SHUT_RDWR);
	ck_assert_int_eq(pthread_join(t, NULL), 0);
	close(fds[0]);
	close(fds[1]);
	ck_assert_int_eq(cl.rc, -1);
	ck_assert_ptr_nonnull(strstr(cl.cause, "not AUTH"));
	sides_free(&cl, &sv);
}
END_TEST

START_TEST(tls_auth_values)
{
	/* AUTH is bound to the role: a reflected AUTH does not verify. Checked through
	 * the pieces the daemon uses with bufferevent_openssl. */
	struct side cl, sv;
	SSL *a, *b;
	int fds[2], r1 = 0, r2 = 0;
	uint8_t ca[TLS_AUTH_LEN], sa[TLS_AUTH_LEN], cb[TLS_AUTH_LEN], pid[NODE_ID_LEN];

	sides_init(&cl, &sv, 1);
	ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM, 0, fds), 0);
	a = SSL_new(cl.ctx);
	b = SSL_new(sv.ctx);
	SSL_set_fd(a, fds[0]);
	SSL_set_fd(b, fds[1]);
	fcntl(fds[0], F_SETFL, O_NONBLOCK);
	fcntl(fds[1], F_SETFL, O_NONBLOCK);
	SSL_set_connect_state(a);
	SSL_set_accept_state(b);
	for (int i = 0; i < 1000 && (r1 != 1 || r2 != 1); i++) {
		if (r1 != 1)
			r1 = SSL_do_handshake(a);
		if (r2 != 1)
			r2 = SSL_do_handshake(b);
	}
	ck_assert_int_eq(r1, 1);
	ck_assert_int_eq(r2, 1);
	ck_assert_int_eq(tls_peer_node_id(a, pid), 0);
	ck_assert_mem_eq(pid, identity_id(id_b), NODE_ID_LEN);
	ck_assert_int_eq(tls_auth_compute(a, &cl.nk, TLS_CLIENT, ca), 0);
	ck_assert_int_eq(tls_auth_compute(a, &cl.nk, TLS_SERVER, sa), 0);
	ck_assert_int_eq(tls_auth_compute(b, &sv.nk, TLS_CLIENT, cb), 0);
	ck_assert_mem_eq(ca, cb, TLS_AUTH_LEN);      /* both ends agree */
	ck_assert_int_ne(memcmp(ca, sa, TLS_AUTH_LEN), 0); /* roles differ */
	ck_assert_int_eq(tls_auth_verify(b, &sv.nk, TLS_CLIENT, ca), 0);
	ck_assert_int_eq(tls_auth_verify(b, &sv.nk, TLS_CLIENT, sa), -1); /* reflection */
	ca[0] ^= 1;
	ck_assert_int_eq(tls_auth_verify(b, &sv.nk, TLS_CLIENT, ca), -1);

	/* the event-loop pieces: the client's AUTH frame as the server sees it */
	{
		struct wr w;
		char *cause = NULL;
		size_t used = 99;

		wr_init(&w, 128);
		ck_assert_int_eq(tls_auth_frame(a, &cl.nk, TLS_CLIENT, &w), 0);
		ck_assert_uint_eq(w.len, FRAME_HDR_LEN + TLS_AUTH_LEN);
		ck_assert_mem_eq(w.p, "P2\x01\x01\x00\x00\x00\x20", FRAME_HDR_LEN);
		for (size_t n = 0; n < w.len; n++) {
			ck_assert_int_eq(tls_auth_check_frame(b, &sv.nk, TLS_CLIENT, w.p, n,
			    &used, &cause), TLS_AUTH_NEED_MORE);
			ck_assert_uint_eq(used, 0);
		}
		wr_u8(&w, 0xaa); /* the next frame's first byte is not consumed */
		ck_assert_int_eq(tls_auth_check_frame(b, &sv.nk, TLS_CLIENT, w.p, w.len,
		    &used, &cause), 0);
		ck_assert_uint_eq(used, FRAME_HDR_LEN + TLS_AUTH_LEN);
		/* as if it came from the server: reflection refused */
		ck_assert_int_eq(tls_auth_check_frame(a, &cl.nk, TLS_SERVER, w.p, w.len,
		    &used, &cause), TLS_EAUTH);
		ck_assert_str_eq(cause, "wrong network key");
		free(cause);
		cause = NULL;
		/* a PING header is refused at once, a long AUTH too, without the payload */
		w.p[3] = MSG_PING;
		ck_assert_int_eq(tls_auth_check_frame(b, &sv.nk, TLS_CLIENT, w.p,
		    FRAME_HDR_LEN, &used, &cause), -1);
		ck_assert_ptr_nonnull(strstr(cause, "not AUTH"));
		free(cause);
		cause = NULL;
		w.p[3] = MSG_AUTH;
		w.p[7] = 33;
		ck_assert_int_eq(tls_auth_check_frame(b, &sv.nk, TLS_CLIENT, w.p,
		    FRAME_HDR_LEN, &used, &cause), -1);
		free(cause);
		cause = NULL;
		w.p[2] = 9;
		ck_assert_int_eq(tls_auth_check_frame(b, &sv.nk, TLS_CLIENT, w.p, 3, &used,
		    &cause), -1);
		ck_assert_str_eq(cause, "protocol version 9, we speak 1");
		free(cause);
		wr_free(&w);
	}
	SSL_free(a);
	SSL_free(b);
	close(fds[0]);
	close(fds[1]);
	sides_free(&cl, &sv);
}
END_TEST

/* The pieces with libevent's bufferevent_openssl: the server runs an event loop, the
 * client the blocking driver in a thread. */
struct ev_server {
	struct event_base *base;
	struct netkey nk;
	int rc;          /* 0 authenticated, TLS_EAUTH, -1, or 99 still running */
	char *cause;
	uint8_t peer_id[NODE_ID_LEN];
};

static void
ev_read_cb(struct bufferevent *bev, void *arg)
{
	struct ev_server *es = arg;
	struct evbuffer *in = bufferevent_get_input(bev);
	size_t avail = evbuffer_get_length(in), used;
	uint8_t *p = evbuffer_pullup(in, -1);
	int rc;

	if (es->rc != 99)
		return;
	rc = tls_auth_check_frame(bufferevent_openssl_get_ssl(bev), &es->nk, TLS_CLIENT, p,
	    avail, &used, &es->cause);
	if (rc == TLS_AUTH_NEED_MORE)
		return;
	es->rc = rc;
	if (rc == 0)
		evbuffer_drain(in, used);
	event_base_loopexit(es->base, NULL);
}

static void
ev_event_cb(struct bufferevent *bev, short what, void *arg)
{
	struct ev_server *es = arg;

	if (what & BEV_EVENT_CONNECTED) {
		SSL *ssl = bufferevent_openssl_get_ssl(bev);
		struct wr w;

		ck_assert_int_eq(tls_peer_node_id(ssl, es->peer_id), 0);
		wr_init(&w, 64);
		ck_assert_int_eq(tls_auth_frame(ssl, &es->nk, TLS_SERVER, &w), 0);
		bufferevent_write(bev, w.p, w.len);
		wr_free(&w);
		return;
	}
	if (what & (BEV_EVENT_EOF | BEV_EVENT_ERROR)) {
		if (es->rc == 99) {
			es->rc = -1;
			xasprintf(&es->cause, "connection ended before AUTH");
		}
		event_base_loopexit(es->base, NULL);
	}
}

static void *
client_handshake_only(void *arg)
{
	struct side *s = arg;
	struct tls_conn *c = NULL;

	s->rc = tls_conn_handshake(&c, s->ctx, s->fd, TLS_CLIENT, &s->nk, 10000, &s->cause);
	if (s->rc == 0)
		memcpy(s->peer_id, tls_conn_peer_id(c), NODE_ID_LEN);
	tls_conn_free(c);
	return NULL;
}

static void
ev_run(int same_key, struct side *cl, struct ev_server *es)
{
	struct side sv;
	struct bufferevent *bev;
	struct timeval tv = { 10, 0 };
	pthread_t t;
	int fds[2];

	sides_init(cl, &sv, same_key);
	memset(es, 0, sizeof *es);
	es->nk = sv.nk;
	es->rc = 99;
	ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM, 0, fds), 0);
	evutil_make_socket_nonblocking(fds[1]);
	es->base = event_base_new();
	ck_assert_ptr_nonnull(es->base);
	bev = bufferevent_openssl_socket_new(es->base, fds[1], SSL_new(sv.ctx),
	    BUFFEREVENT_SSL_ACCEPTING, BEV_OPT_CLOSE_ON_FREE); /* frees the SSL, closes fd */
	ck_assert_ptr_nonnull(bev);
	bufferevent_setcb(bev, ev_read_cb, NULL, ev_event_cb, es);
	bufferevent_enable(bev, EV_READ | EV_WRITE);
	cl->fd = fds[0];
	ck_assert_int_eq(pthread_create(&t, NULL, client_handshake_only, cl), 0);
	event_base_loopexit(es->base, &tv);
	event_base_dispatch(es->base);
	if (es->rc != 0) {
		/* wrong key: close without sending anything more */
		bufferevent_free(bev);
		bev = NULL;
	}
	ck_assert_int_eq(pthread_join(t, NULL), 0);
	if (bev != NULL)
		bufferevent_free(bev);
	event_base_free(es->base);
	close(fds[0]);
	SSL_CTX_free(sv.ctx);
	free(sv.cause);
}

START_TEST(tls_bufferevent_openssl)
{
	struct side cl;
	struct ev_server es;

	ev_run(1, &cl, &es);
	ck_assert_msg(es.rc == 0, "server: %s", es.cause);
	ck_assert_msg(cl.rc == 0, "client: %s", cl.cause);
	ck_assert_mem_eq(es.peer_id, identity_id(id_a), NODE_ID_LEN);
	ck_assert_mem_eq(cl.peer_id, identity_id(id_b), NODE_ID_LEN);
	SSL_CTX_free(cl.ctx);
	free(cl.cause);
	free(es.cause);

	ev_run(0, &cl, &es);
	ck_assert_int_eq(es.rc, TLS_EAUTH);
	ck_assert_str_eq(es.cause, "wrong network key");
	ck_assert_int_eq(cl.rc, TLS_EAUTH);
	SSL_CTX_free(cl.ctx);
	free(cl.cause);
	free(es.cause);
}
END_TEST

static int
accept_wait(int lfd)
{
	struct pollfd p = { .fd = lfd, .events = POLLIN };

	if (poll(&p, 1, 5000) != 1)
		return -1;
	return accept(lfd, NULL, NULL);
}

START_TEST(tls_over_tcp_loopback)
{
	struct side cl, sv;
	struct tp_addr la, ca;
	char *cause = NULL, name[TP_ADDRSTRLEN];
	int lfd, fds[2];

	sides_init(&cl, &sv, 1);
	ck_assert_int_eq(transport_tcp.parse("127.0.0.1:0", TP_PASSIVE, &la, &cause), 0);
	lfd = transport_tcp.listen(&la, &cause);
	ck_assert_msg(lfd != -1, "%s", cause);
	ck_assert_int_eq(tp_addr_local(lfd, &la), 0);
	ck_assert_int_eq(transport_tcp.format(&la, name, sizeof name), 0);
	ck_assert_int_eq(transport_tcp.parse(name, 0, &ca, &cause), 0);
	fds[0] = transport_tcp.connect_nonblocking(&ca, &cause);
	ck_assert_msg(fds[0] != -1, "%s", cause);
	fds[1] = accept_wait(lfd);
	ck_assert_int_ne(fds[1], -1);
	close(lfd);
	run_pair(&cl, &sv, fds); /* the driver puts the fds in blocking mode */
	ck_assert_msg(cl.rc == 0, "client: %s", cl.cause);
	ck_assert_msg(sv.rc == 0, "server: %s", sv.cause);
	ck_assert_mem_eq(cl.peer_id, identity_id(id_b), NODE_ID_LEN);
	ck_assert_mem_eq(sv.peer_id, identity_id(id_a), NODE_ID_LEN);
	ck_assert_int_eq(cl.exchanged, 1);
	sides_free(&cl, &sv);
}
END_TEST

/* ---- TCP addresses ------------------------------------------------------------- */

static const struct {
	const char *in;
	int flags;
	int ok;
	int family;
	int dual;
	const char *fmt; /* NULL: not checked */
} tcp_cases[] = {
	{ ":3000", TP_PASSIVE, 1, AF_INET6, 1, ":3000" },
	{ "0.0.0.0:3000", TP_PASSIVE, 1, AF_INET, 0, "0.0.0.0:3000" },
	{ "[::]:3000", TP_PASSIVE, 1, AF_INET6, 0, "[::]:3000" },
	{ "127.0.0.1:3000", 0, 1, AF_INET, 0, "127.0.0.1:3000" },
	{ "[::1]:3000", 0, 1, AF_INET6, 0, "[::1]:3000" },
	{ "[2001:db8::1]:65535", 0, 1, AF_INET6, 0, "[2001:db8::1]:65535" },
	{ "localhost:3000", 0, 1, 0, 0, NULL },
	{ "127.0.0.1:0", TP_PASSIVE, 1, AF_INET, 0, "127.0.0.1:0" },
	{ ":3000", 0, 0, 0, 0, NULL },          /* no host to dial */
	{ "127.0.0.1:0", 0, 0, 0, 0, NULL },    /* cannot dial port 0 */
	{ "", TP_PASSIVE, 0, 0, 0, NULL },
	{ "3000", TP_PASSIVE, 0, 0, 0, NULL },
	{ "127.0.0.1", 0, 0, 0, 0, NULL },
	{ "127.0.0.1:", 0, 0, 0, 0, NULL },
	{ "127.0.0.1:65536", 0, 0, 0, 0, NULL },
	{ "127.0.0.1:-1", 0, 0, 0, 0, NULL },
	{ "127.0.0.1:30x", 0, 0, 0, 0, NULL },
	{ "127.0.0.1: 30", 0, 0, 0, 0, NULL },
	{ "::1:3000", 0, 0, 0, 0, NULL },       /* IPv6 needs brackets */
	{ "[::1]3000", 0, 0, 0, 0, NULL },
	{ "[::1]:", 0, 0, 0, 0, NULL },
	{ "[::1:3000", 0, 0, 0, 0, NULL },
	{ "[]:3000", 0, 0, 0, 0, NULL },
	{ "[127.0.0.1]:3000", 0, 0, 0, 0, NULL },
	{ "[localhost]:3000", 0, 0, 0, 0, NULL },
};

START_TEST(tcp_parse_table)
{
	struct tp_addr a;
	char *cause = NULL, out[TP_ADDRSTRLEN];
	int rc;

	rc = transport_tcp.parse(tcp_cases[_i].in, tcp_cases[_i].flags, &a, &cause);
	if (!tcp_cases[_i].ok) {
		ck_assert_msg(rc == -1, "\"%s\" accepted", tcp_cases[_i].in);
		ck_assert_ptr_nonnull(cause);
		free(cause);
		return;
	}
	ck_assert_msg(rc == 0, "\"%s\": %s", tcp_cases[_i].in, cause);
	if (tcp_cases[_i].family != 0)
		ck_assert_int_eq(a.ss.ss_family, tcp_cases[_i].family);
	else
		ck_assert(a.ss.ss_family == AF_INET || a.ss.ss_family == AF_INET6);
	ck_assert_int_eq(a.dual, tcp_cases[_i].dual);
	ck_assert_int_eq(transport_tcp.format(&a, out, sizeof out), 0);
	if (tcp_cases[_i].fmt != NULL)
		ck_assert_str_eq(out, tcp_cases[_i].fmt);
	ck_assert_int_eq(transport_tcp.format(&a, out, 4), -1); /* does not fit */
}
END_TEST

START_TEST(tcp_transport_table)
{
	ck_assert_ptr_eq(transport_find("tcp"), &transport_tcp);
	ck_assert_ptr_eq(transport_find("rfcomm"), &transport_rfcomm);
	ck_assert_ptr_null(transport_find("carrier-pigeon"));
	ck_assert_str_eq(transport_tcp.name, "tcp");
}
END_TEST

static int
have_ipv6(void)
{
	int fd = socket(AF_INET6, SOCK_STREAM, 0);
	struct sockaddr_in6 s = { .sin6_family = AF_INET6, .sin6_addr = IN6ADDR_LOOPBACK_INIT };
	int ok;

	if (fd == -1)
		return 0;
	ok = bind(fd, (struct sockaddr *)&s, sizeof s) == 0;
	close(fd);
	return ok;
}

/* Listen on addr; connect to each of dials (with the bound port); -1 means refused. */
static void
listen_and_dial(const char *listen_on, const char *dial_host, int want_ok)
{
	struct tp_addr la, ca;
	char *cause = NULL, name[TP_ADDRSTRLEN], dial[TP_ADDRSTRLEN];
	int lfd, cfd, afd, err = 0;
	socklen_t elen = sizeof err;
	struct pollfd p;
	uint16_t port;

	ck_assert_int_eq(transport_tcp.parse(listen_on, TP_PASSIVE, &la, &cause), 0);
	lfd = transport_tcp.listen(&la, &cause);
	ck_assert_msg(lfd != -1, "%s: %s", listen_on, cause);
	ck_assert_int_eq(tp_addr_local(lfd, &la), 0);
	port = la.ss.ss_family == AF_INET ? ntohs(((struct sockaddr_in *)&la.ss)->sin_port) :
	    ntohs(((struct sockaddr_in6 *)&la.ss)->sin6_port);
	ck_assert_uint_ne(port, 0);
	snprintf(dial, sizeof dial, "%s:%u", dial_host, port);
	ck_assert_int_eq(transport_tcp.parse(dial, 0, &ca, &cause), 0);
	cfd = transport_tcp.connect_nonblocking(&ca, &cause);
	ck_assert_msg(cfd != -1, "%s", cause);
	p.fd = cfd;
	p.events = POLLOUT;
	ck_assert_int_eq(poll(&p, 1, 5000), 1);
	ck_assert_int_eq(getsockopt(cfd, SOL_SOCKET, SO_ERROR, &err, &elen), 0);
	if (want_ok) {
		struct sockaddr_storage ss;
		socklen_t sl = sizeof ss;
		struct tp_addr pa;

		ck_assert_msg(err == 0, "%s -> %s: %s", listen_on, dial, strerror(err));
		p.fd = lfd;
		p.events = POLLIN;
		ck_assert_int_eq(poll(&p, 1, 5000), 1);
		afd = accept(lfd, (struct sockaddr *)&ss, &sl);
		ck_assert_int_ne(afd, -1);
		tp_addr_set(&pa, (struct sockaddr *)&ss, sl);
		ck_assert_int_eq(transport_tcp.format(&pa, name, sizeof name), 0);
		/* an IPv4 peer on a dual-stack socket is shown as IPv4 */
		ck_assert_int_eq(strncmp(name, dial_host, strlen(dial_host)), 0);
		close(afd);
	} else
		ck_assert_int_eq(err, ECONNREFUSED);
	close(cfd);
	close(lfd);
}

START_TEST(tcp_listen_connect)
{
	listen_and_dial("127.0.0.1:0", "127.0.0.1", 1);
	listen_and_dial("0.0.0.0:0", "127.0.0.1", 1);
	if (!have_ipv6())
		return;
	listen_and_dial(":0", "127.0.0.1", 1); /* dual stack: IPv4 ... */
	listen_and_dial(":0", "[::1]", 1);     /* ... and IPv6 */
	listen_and_dial("[::1]:0", "[::1]", 1);
	listen_and_dial("[::]:0", "[::1]", 1);
	listen_and_dial("[::]:0", "127.0.0.1", 0); /* IPv6 only */
}
END_TEST

START_TEST(tcp_listen_busy)
{
	struct tp_addr a;
	char *cause = NULL, name[TP_ADDRSTRLEN];
	int l1, l2;

	ck_assert_int_eq(transport_tcp.parse("127.0.0.1:0", TP_PASSIVE, &a, &cause), 0);
	l1 = transport_tcp.listen(&a, &cause);
	ck_assert_int_ne(l1, -1);
	ck_assert_int_eq(tp_addr_local(l1, &a), 0);
	ck_assert_int_eq(transport_tcp.format(&a, name, sizeof name), 0);
	l2 = transport_tcp.listen(&a, &cause);
	ck_assert_int_eq(l2, -1);
	ck_assert_ptr_nonnull(strstr(cause, name));
	free(cause);
	close(l1);
}
END_TEST

/* ---- main ---------------------------------------------------------------------- */

static Suite *
p2p_suite(void)
{
	Suite *s = suite_create("p2p");
	TCase *tc;

	tc = tcase_create("frame");
	tcase_add_test(tc, frame_need_more_every_prefix);
	tcase_add_test(tc, frame_empty_payload);
	tcase_add_test(tc, frame_bad_magic);
	tcase_add_test(tc, frame_bad_version);
	tcase_add_test(tc, frame_too_large);
	tcase_add_test(tc, frame_write_hdr_round_trip);
	suite_add_tcase(s, tc);

	tc = tcase_create("msg");
	tcase_set_timeout(tc, 60);
	tcase_add_loop_test(tc, msg_round_trip, 0, NSAMPLES);
	tcase_add_loop_test(tc, msg_truncated_every_length, 0, NSAMPLES);
	tcase_add_loop_test(tc, msg_trailing_byte, 0, NSAMPLES);
	tcase_add_loop_test(tc, msg_frame_round_trip, 0, NSAMPLES);
	tcase_add_loop_test(tc, msg_decode_mutations, 0, NSAMPLES);
	tcase_add_test(tc, frame_random_headers);
	tcase_add_test(tc, msg_unknown_type);
	tcase_add_test(tc, msg_hello_too_many_addrs);
	tcase_add_test(tc, msg_hello_field_limits);
	tcase_add_test(tc, msg_peers_over_limit);
	tcase_add_test(tc, msg_text_limits);
	tcase_add_test(tc, msg_wire_bytes);
	tcase_add_test(tc, msg_wire_peers_two_transports);
	suite_add_tcase(s, tc);

	tc = tcase_create("ticket");
	tcase_add_test(tc, ticket_round_trip);
	tcase_add_test(tc, ticket_binary);
	tcase_add_test(tc, ticket_too_many_addresses);
	tcase_add_test(tc, ticket_malformed);
	tcase_add_test(tc, ticket_mutations);
	suite_add_tcase(s, tc);

	tc = tcase_create("identity");
	tcase_add_checked_fixture(tc, tmp_setup, tmp_teardown);
	tcase_add_test(tc, identity_create_and_reload);
	tcase_add_test(tc, identity_permissions_refused);
	tcase_add_test(tc, identity_bad_files);
	suite_add_tcase(s, tc);

	tc = tcase_create("netkey");
	tcase_add_checked_fixture(tc, tmp_setup, tmp_teardown);
	tcase_add_test(tc, netkey_create_and_reload);
	tcase_add_test(tc, netkey_network_id_value);
	tcase_add_test(tc, netkey_bad_files);
	suite_add_tcase(s, tc);

	tc = tcase_create("tls");
	tcase_set_timeout(tc, 60);
	tcase_add_checked_fixture(tc, tls_setup, tls_teardown);
	tcase_add_test(tc, tls_same_key);
	tcase_add_test(tc, tls_wrong_key);
	tcase_add_test(tc, tls_client_without_cert);
	tcase_add_test(tc, tls_client_with_ecdsa_cert);
	tcase_add_test(tc, tls_old_protocol_refused);
	tcase_add_test(tc, tls_first_message_must_be_auth);
	tcase_add_test(tc, tls_auth_values);
	tcase_add_test(tc, tls_over_tcp_loopback);
	tcase_add_test(tc, tls_bufferevent_openssl);
	suite_add_tcase(s, tc);

	tc = tcase_create("tcp");
	tcase_add_loop_test(tc, tcp_parse_table, 0, (int)nitems(tcp_cases));
	tcase_add_test(tc, tcp_transport_table);
	tcase_add_test(tc, tcp_listen_connect);
	tcase_add_test(tc, tcp_listen_busy);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	SRunner *sr = srunner_create(p2p_suite());
	int failed;

	srunner_run_all(sr, CK_ENV); /* CK_VERBOSITY, default normal */
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
