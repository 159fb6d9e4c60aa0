/* buf.c: see buf.h. */
#include "lib/buf.h"
#include "lib/util.h"

#include <stdlib.h>
#include <string.h>

void
rd_init(struct rd *r, const void *p, size_t len)
{
	r->p = p;
	r->len = len;
	r->off = 0;
	r->err = 0;
}

static int
rd_need(struct rd *r, size_t n)
{
	if (r->err || r->len - r->off < n) {
		r->err = 1;
		return -1;
	}
	return 0;
}

int
rd_u8(struct rd *r, uint8_t *v)
{
	if (rd_need(r, 1) == -1)
		return -1;
	*v = r->p[r->off++];
	return 0;
}

int
rd_u16(struct rd *r, uint16_t *v)
{
	if (rd_need(r, 2) == -1)
		return -1;
	*v = (uint16_t)(r->p[r->off] << 8 | r->p[r->off + 1]);
	r->off += 2;
	return 0;
}

int
rd_u32(struct rd *r, uint32_t *v)
{
	const uint8_t *p;

	if (rd_need(r, 4) == -1)
		return -1;
	p = r->p + r->off;
	*v = (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
	r->off += 4;
	return 0;
}

int
rd_u64(struct rd *r, uint64_t *v)
{
	uint32_t hi, lo;

	if (rd_u32(r, &hi) == -1 || rd_u32(r, &lo) == -1)
		return -1;
	*v = (uint64_t)hi << 32 | lo;
	return 0;
}

int
rd_bytes(struct rd *r, void *out, size_t n)
{
	if (rd_need(r, n) == -1)
		return -1;
	memcpy(out, r->p + r->off, n);
	r->off += n;
	return 0;
}

int
rd_ptr(struct rd *r, const uint8_t **out, size_t n)
{
	if (rd_need(r, n) == -1)
		return -1;
	*out = r->p + r->off;
	r->off += n;
	return 0;
}

int
rd_str16(struct rd *r, const uint8_t **out, size_t *len, size_t max)
{
	uint16_t n;

	if (rd_u16(r, &n) == -1)
		return -1;
	if (n > max) {
		r->err = 1;
		return -1;
	}
	if (rd_ptr(r, out, n) == -1)
		return -1;
	*len = n;
	return 0;
}

size_t
rd_left(const struct rd *r)
{
	return r->len - r->off;
}

int
rd_end(const struct rd *r)
{
	return r->err || r->off != r->len ? -1 : 0;
}

void
wr_init(struct wr *w, size_t max)
{
	memset(w, 0, sizeof *w);
	w->max = max;
}

void
wr_free(struct wr *w)
{
	free(w->p);
	memset(w, 0, sizeof *w);
}

void
wr_reset(struct wr *w)
{
	w->len = 0;
	w->err = 0;
}

void
wr_bytes(struct wr *w, const void *p, size_t n)
{
	if (w->err)
		return;
	if (n > w->max || w->len > w->max - n) {
		w->err = 1;
		return;
	}
	if (w->len + n > w->cap) {
		size_t cap = w->cap ? w->cap : 64;
		while (cap < w->len + n)
			cap = cap > SIZE_MAX / 2 ? w->len + n : cap * 2;
		if (cap > w->max)
			cap = w->max;
		w->p = xreallocarray(w->p, cap, 1);
		w->cap = cap;
	}
	if (n)
		memcpy(w->p + w->len, p, n);
	w->len += n;
}

void
wr_u8(struct wr *w, uint8_t v)
{
	wr_bytes(w, &v, 1);
}

void
wr_u16(struct wr *w, uint16_t v)
{
	uint8_t b[2] = { (uint8_t)(v >> 8), (uint8_t)v };
	wr_bytes(w, b, 2);
}

void
wr_u32(struct wr *w, uint32_t v)
{
	uint8_t b[4] = { (uint8_t)(v >> 24), (uint8_t)(v >> 16), (uint8_t)(v >> 8), (uint8_t)v };
	wr_bytes(w, b, 4);
}

void
wr_u64(struct wr *w, uint64_t v)
{
	wr_u32(w, (uint32_t)(v >> 32));
	wr_u32(w, (uint32_t)v);
}

void
wr_str16(struct wr *w, const void *p, size_t n)
{
	if (n > UINT16_MAX) {
		w->err = 1;
		return;
	}
	wr_u16(w, (uint16_t)n);
	wr_bytes(w, p, n);
}

int
wr_ok(const struct wr *w)
{
	return !w->err;
}
