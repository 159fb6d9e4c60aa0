/* frame.c: see frame.h. */
#include "p2p/frame.h"
#include "lib/buf.h"

#include <string.h>

int
frame_parse(const uint8_t *buf, size_t avail, struct frame_hdr *h)
{
	struct rd r;
	uint8_t m0, m1;

	memset(h, 0, sizeof *h);
	if (avail >= 1 && buf[0] != FRAME_MAGIC0)
		return FRAME_BAD_MAGIC;
	if (avail >= 2 && buf[1] != FRAME_MAGIC1)
		return FRAME_BAD_MAGIC;
	if (avail >= 3 && buf[2] != FRAME_VERSION) {
		h->version = buf[2];
		return FRAME_BAD_VERSION;
	}
	if (avail < FRAME_HDR_LEN)
		return FRAME_NEED_MORE;
	rd_init(&r, buf, FRAME_HDR_LEN);
	rd_u8(&r, &m0);
	rd_u8(&r, &m1);
	rd_u8(&r, &h->version);
	rd_u8(&r, &h->type);
	rd_u32(&r, &h->len);
	if (rd_end(&r) == -1)
		return FRAME_NEED_MORE; /* not reached: 8 bytes are present */
	if (h->len > FRAME_MAX_PAYLOAD)
		return FRAME_TOO_LARGE;
	if (avail - FRAME_HDR_LEN < h->len)
		return FRAME_NEED_MORE;
	return FRAME_OK;
}

const char *
frame_strerror(int rc)
{
	switch (rc) {
	case FRAME_OK:
		return "ok";
	case FRAME_NEED_MORE:
		return "incomplete frame";
	case FRAME_BAD_MAGIC:
		return "bad frame magic (not a p2p peer?)";
	case FRAME_BAD_VERSION:
		return "unsupported protocol version";
	case FRAME_TOO_LARGE:
		return "frame too large";
	}
	return "unknown frame error";
}

int
frame_write_hdr(struct wr *w, uint8_t type, size_t len)
{
	if (len > FRAME_MAX_PAYLOAD)
		return -1;
	wr_u8(w, FRAME_MAGIC0);
	wr_u8(w, FRAME_MAGIC1);
	wr_u8(w, FRAME_VERSION);
	wr_u8(w, type);
	wr_u32(w, (uint32_t)len);
	return wr_ok(w) ? 0 : -1;
}
