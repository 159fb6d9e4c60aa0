/* fuzz_msg.c: p2p/msg.c msg_decode for every message type.
 * Input: byte 0 is the type byte of the frame header, the rest is the payload.
 * Unknown types must be rejected. A decoded message must encode back to exactly the
 * payload (every field is kept and the decoders take only canonical encodings), and
 * msg_frame must wrap it in a header that frame_parse accepts. A PEERS decode that
 * fails must leave nothing allocated (LeakSanitizer checks the rest). */
#include "tests/fuzz/fuzz.h"
#include "p2p/frame.h"
#include "p2p/msg.h"
#include "lib/buf.h"

#include <string.h>

static int
known(uint8_t type)
{
	switch (type) {
	case MSG_AUTH: case MSG_HELLO: case MSG_PING: case MSG_PONG:
	case MSG_PEERS: case MSG_GOODBYE: case MSG_ERROR:
		return 1;
	}
	return 0;
}

static void
check_fields(const struct msg *m)
{
	switch (m->type) {
	case MSG_HELLO:
		FUZZ_CHECK(m->u.hello.naddrs <= MSG_HELLO_MAX_ADDRS);
		for (size_t i = 0; i < m->u.hello.naddrs; i++) {
			size_t n = strnlen(m->u.hello.addrs[i], MSG_ADDR_MAX + 1);
			FUZZ_CHECK(n >= 1 && n <= MSG_ADDR_MAX);
		}
		FUZZ_CHECK(strnlen(m->u.hello.version, MSG_VERSION_MAX + 1) <= MSG_VERSION_MAX);
		break;
	case MSG_PEERS:
		FUZZ_CHECK(m->u.peers.n <= MSG_PEERS_MAX);
		FUZZ_CHECK(m->u.peers.n == 0 || m->u.peers.v != NULL);
		for (size_t i = 0; i < m->u.peers.n; i++) {
			size_t n = strnlen(m->u.peers.v[i].addr, MSG_ADDR_MAX + 1);
			FUZZ_CHECK(n >= 1 && n <= MSG_ADDR_MAX);
		}
		break;
	case MSG_GOODBYE:
		FUZZ_CHECK(strnlen(m->u.goodbye.text, MSG_TEXT_MAX + 1) <= MSG_TEXT_MAX);
		break;
	case MSG_ERROR:
		FUZZ_CHECK(strnlen(m->u.error.text, MSG_TEXT_MAX + 1) <= MSG_TEXT_MAX);
		break;
	}
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const uint8_t *p;
	const char *errstr = NULL;
	struct msg m, m2;
	struct frame_hdr h;
	struct wr w;
	uint8_t type;
	size_t len;

	if (size < 1)
		return 0;
	type = data[0];
	p = data + 1;
	len = size - 1;

	FUZZ_CHECK(msg_type_name(type) != NULL);
	if (msg_decode(type, p, len, &m, &errstr) == -1) {
		FUZZ_CHECK(errstr != NULL);
		FUZZ_CHECK(m.type != MSG_PEERS || m.u.peers.v == NULL);
		msg_clear(&m);
		return 0;
	}
	FUZZ_CHECK(known(type));
	FUZZ_CHECK(strcmp(msg_type_name(type), "unknown") != 0);
	FUZZ_CHECK(m.type == type);
	check_fields(&m);

	/* Round trip: payload. */
	wr_init(&w, FRAME_HDR_LEN + FRAME_MAX_PAYLOAD);
	FUZZ_CHECK(msg_encode(&w, &m) == 0);
	FUZZ_CHECK(w.len == len && (len == 0 || memcmp(w.p, p, len) == 0));
	errstr = NULL;
	FUZZ_CHECK(msg_decode(type, w.p, w.len, &m2, &errstr) == 0);
	msg_clear(&m2);

	/* Round trip: a whole frame. */
	wr_reset(&w);
	FUZZ_CHECK(msg_frame(&w, &m) == 0);
	FUZZ_CHECK(frame_parse(w.p, w.len, &h) == FRAME_OK);
	FUZZ_CHECK(h.type == type && h.len == len && w.len == FRAME_HDR_LEN + len);
	FUZZ_CHECK(memcmp(w.p + FRAME_HDR_LEN, p, len) == 0);
	wr_free(&w);

	msg_clear(&m);
	return 0;
}
