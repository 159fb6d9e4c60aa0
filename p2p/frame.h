/* frame.h: the frame header that carries every message on a secure link.
 *
 *   offset 0  2 bytes  magic "P2" (0x50 0x32)
 *   offset 2  u8       protocol version (FRAME_VERSION)
 *   offset 3  u8       message type (msg.h)
 *   offset 4  u32      payload length, big-endian, <= FRAME_MAX_PAYLOAD
 *   offset 8  payload
 */
#ifndef P2P_FRAME_H
#define P2P_FRAME_H

#include <stddef.h>
#include <stdint.h>

struct wr;

#define FRAME_MAGIC0 0x50 /* 'P' */
#define FRAME_MAGIC1 0x32 /* '2' */
#define FRAME_VERSION 1
#define FRAME_HDR_LEN 8
/* Chunk data (up to 1 MiB) travels in frames later; 64 KiB of room for its header. */
#define FRAME_MAX_PAYLOAD (1024 * 1024 + 64 * 1024)

enum frame_result {
	FRAME_OK = 0,          /* a whole frame (header + payload) is in the buffer */
	FRAME_NEED_MORE = 1,   /* valid so far; need more bytes (not an error) */
	FRAME_BAD_MAGIC = -1,
	FRAME_BAD_VERSION = -2,
	FRAME_TOO_LARGE = -3,
};

struct frame_hdr {
	uint8_t version; /* as sent: on FRAME_BAD_VERSION this is the peer's version */
	uint8_t type;
	uint32_t len;    /* payload length */
};

/* Look at the first avail bytes of a stream. Checks the magic, the version and the
 * length (against FRAME_MAX_PAYLOAD, before the caller allocates anything) as soon as
 * those bytes are present, so a bad frame is reported without waiting for more.
 * FRAME_OK: the frame occupies FRAME_HDR_LEN + h->len bytes starting at buf.
 * FRAME_NEED_MORE: *h is filled if the header is complete (h->len tells how much
 * more to wait for), otherwise h->len is 0.
 * FRAME_BAD_VERSION: h->version holds the peer's version (compare FRAME_VERSION). */
int frame_parse(const uint8_t *buf, size_t avail, struct frame_hdr *h);
/* "bad magic", "too large", ... for a frame_parse result. */
const char *frame_strerror(int rc);
/* Append a header for a payload of len bytes (-1 if len > FRAME_MAX_PAYLOAD). */
int frame_write_hdr(struct wr *w, uint8_t type, size_t len);

#endif
