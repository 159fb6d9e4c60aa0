/* buf.h: the bounded reader every untrusted byte goes through, and a bounded writer.
 * Integers are big-endian on the wire. Reader calls fail (return -1) on short input and
 * leave the reader poisoned so a chain of gets can be checked once at rd_end(). */
#ifndef P2P_BUF_H
#define P2P_BUF_H

#include <stddef.h>
#include <stdint.h>

struct rd {
	const uint8_t *p;
	size_t len;
	size_t off;
	int err; /* sticky: set by any failed get */
};

void rd_init(struct rd *r, const void *p, size_t len);
int rd_u8(struct rd *r, uint8_t *v);
int rd_u16(struct rd *r, uint16_t *v);
int rd_u32(struct rd *r, uint32_t *v);
int rd_u64(struct rd *r, uint64_t *v);
/* Copy exactly n bytes. */
int rd_bytes(struct rd *r, void *out, size_t n);
/* Point at n bytes inside the input (no copy). */
int rd_ptr(struct rd *r, const uint8_t **out, size_t n);
/* u16 length then bytes; fails if length > max. *out points into the input. */
int rd_str16(struct rd *r, const uint8_t **out, size_t *len, size_t max);
size_t rd_left(const struct rd *r);
/* 0 if no error so far and no trailing bytes; -1 otherwise. */
int rd_end(const struct rd *r);

/* Growable writer with a hard maximum (curl's dynbuf). On overflow of max the writer
 * is poisoned (err=1) and further writes are ignored; check wr_ok() before use. */
struct wr {
	uint8_t *p;
	size_t len;
	size_t cap;
	size_t max;
	int err;
};

void wr_init(struct wr *w, size_t max);
void wr_free(struct wr *w);
void wr_reset(struct wr *w);
void wr_u8(struct wr *w, uint8_t v);
void wr_u16(struct wr *w, uint16_t v);
void wr_u32(struct wr *w, uint32_t v);
void wr_u64(struct wr *w, uint64_t v);
void wr_bytes(struct wr *w, const void *p, size_t n);
void wr_str16(struct wr *w, const void *p, size_t n);
int wr_ok(const struct wr *w);

#endif
