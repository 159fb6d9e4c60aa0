/* fuzz_frame.c: p2p/frame.c frame_parse on a byte stream, as a link reads it.
 * Checks: the result is one of the documented codes; FRAME_OK means the frame fits in
 * the input and frame_write_hdr rebuilds its header byte for byte; FRAME_NEED_MORE with
 * a whole header means the payload is what is missing; each shorter prefix of the input
 * gives FRAME_NEED_MORE or the same error (a bad frame is reported as soon as its bytes
 * are there, and never before). Then walks the stream frame by frame and hands each
 * payload to msg_decode, as the link does. */
#include "tests/fuzz/fuzz.h"
#include "p2p/frame.h"
#include "p2p/msg.h"
#include "lib/buf.h"

#include <string.h>

static int
parse_checked(const uint8_t *p, size_t avail, struct frame_hdr *h)
{
	int rc = frame_parse(p, avail, h);

	FUZZ_CHECK(rc == FRAME_OK || rc == FRAME_NEED_MORE || rc == FRAME_BAD_MAGIC ||
	    rc == FRAME_BAD_VERSION || rc == FRAME_TOO_LARGE);
	FUZZ_CHECK(frame_strerror(rc) != NULL);
	switch (rc) {
	case FRAME_OK: {
		struct wr w;

		FUZZ_CHECK(avail >= FRAME_HDR_LEN);
		FUZZ_CHECK(h->len <= FRAME_MAX_PAYLOAD);
		FUZZ_CHECK(avail - FRAME_HDR_LEN >= h->len);
		FUZZ_CHECK(h->version == FRAME_VERSION);
		wr_init(&w, FRAME_HDR_LEN);
		FUZZ_CHECK(frame_write_hdr(&w, h->type, h->len) == 0);
		FUZZ_CHECK(w.len == FRAME_HDR_LEN && memcmp(w.p, p, FRAME_HDR_LEN) == 0);
		wr_free(&w);
		break;
	}
	case FRAME_NEED_MORE:
		if (avail >= FRAME_HDR_LEN)
			FUZZ_CHECK(h->len <= FRAME_MAX_PAYLOAD &&
			    avail - FRAME_HDR_LEN < h->len);
		else
			FUZZ_CHECK(h->len == 0);
		break;
	case FRAME_BAD_MAGIC:
		FUZZ_CHECK(avail >= 1);
		FUZZ_CHECK(p[0] != FRAME_MAGIC0 || (avail >= 2 && p[1] != FRAME_MAGIC1));
		break;
	case FRAME_BAD_VERSION:
		FUZZ_CHECK(avail >= 3 && p[2] != FRAME_VERSION && h->version == p[2]);
		break;
	case FRAME_TOO_LARGE:
		FUZZ_CHECK(avail >= FRAME_HDR_LEN);
		FUZZ_CHECK(h->len > FRAME_MAX_PAYLOAD);
		break;
	}
	return rc;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct frame_hdr h, hp;
	size_t off = 0;
	int rc;

	rc = parse_checked(data, size, &h);
	for (size_t k = 0; k < size && k <= FRAME_HDR_LEN; k++) {
		int rp = parse_checked(data, k, &hp);
		/* An error stays the same error; OK only once the whole frame is there. */
		FUZZ_CHECK(rp == FRAME_NEED_MORE || (rp == rc &&
		    (rc != FRAME_OK || k >= FRAME_HDR_LEN + (size_t)h.len)));
	}

	/* The stream, frame after frame. */
	while (off < size) {
		struct msg m;
		const char *errstr = NULL;

		if (parse_checked(data + off, size - off, &h) != FRAME_OK)
			break;
		if (msg_decode(h.type, data + off + FRAME_HDR_LEN, h.len, &m, &errstr) == 0)
			msg_clear(&m);
		else
			FUZZ_CHECK(errstr != NULL);
		off += FRAME_HDR_LEN + h.len;
	}
	return 0;
}
