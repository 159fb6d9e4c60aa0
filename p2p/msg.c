/* msg.c: see msg.h. */
#include "p2p/msg.h"
#include "p2p/frame.h"
#include "lib/buf.h"
#include "lib/util.h"

#include <pthread.h>
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

/* ---- FILE ---------------------------------------------------------------------- */

/* Sizes of a version: nchunks chunks of chunk_size bytes, the last one not empty. */
static int
file_sizes_ok(uint64_t size, uint32_t chunk_size, uint32_t nchunks)
{
	uint64_t full;

	if (nchunks == 0)
		return size == 0 && (chunk_size == 0 || (chunk_size >= MSG_CHUNK_SIZE_MIN &&
		    chunk_size <= MSG_CHUNK_SIZE_MAX));
	if (chunk_size < MSG_CHUNK_SIZE_MIN || chunk_size > MSG_CHUNK_SIZE_MAX)
		return 0;
	full = (uint64_t)nchunks * chunk_size;
	return size <= full && size > full - chunk_size;
}

/* A key (FILE, MANIFEST_GET): str16, 1..MSG_KEY_MAX bytes that key_validate accepts. */
static int
key_write(struct wr *w, const char *key)
{
	size_t klen = strnlen(key, MSG_KEY_MAX + 1);
	const char *errstr;

	if (klen == 0 || klen > MSG_KEY_MAX || key_validate(key, klen, &errstr) == -1)
		return -1;
	wr_str16(w, key, klen);
	return 0;
}

static int
key_read(struct rd *r, char key[MSG_KEY_MAX + 1], const char **errstr)
{
	const uint8_t *k;
	size_t klen;
	const char *why;

	if (rd_str16(r, &k, &klen, MSG_KEY_MAX) == -1)
		return fail(errstr, "truncated or over-long key");
	if (key_validate((const char *)k, klen, &why) == -1) {
		r->err = 1;
		return fail(errstr, "bad key");
	}
	memcpy(key, k, klen);
	key[klen] = '\0';
	return 0;
}

/* Flags known, MORE only on a version, and the chunk count in the range its flags
 * allow (a tombstone's count is not sent). */
static int
file_counts_ok(uint8_t flags, uint32_t nchunks)
{
	if (flags & ~(MSG_FILE_DELETED | MSG_FILE_MORE))
		return 0;
	if (flags & MSG_FILE_DELETED)
		return !(flags & MSG_FILE_MORE);
	if (flags & MSG_FILE_MORE)
		return nchunks > MSG_FILE_MAX_CHUNKS && nchunks <= MSG_MANIFEST_MAX_CHUNKS;
	return nchunks <= MSG_FILE_MAX_CHUNKS;
}

int
msg_file_encode(struct wr *w, const struct msg_file *m)
{
	if (m->version >= MSG_VERSION_LIMIT || m->prev_version >= MSG_VERSION_LIMIT ||
	    key_write(w, m->key) == -1)
		return -1;
	wr_u64(w, m->version);
	wr_bytes(w, m->origin, MSG_ID_LEN);
	wr_u64(w, m->prev_version);
	wr_bytes(w, m->prev_origin, MSG_ID_LEN);
	if (!file_counts_ok(m->flags, m->nchunks))
		return -1;
	wr_u8(w, m->flags);
	wr_u64(w, m->created_ms);
	if (!(m->flags & MSG_FILE_DELETED)) {
		if (!file_sizes_ok(m->size, m->chunk_size, m->nchunks) ||
		    (m->nchunks > 0 && m->chunks == NULL))
			return -1;
		wr_u64(w, m->size);
		wr_u32(w, m->chunk_size);
		wr_u32(w, m->nchunks);
		wr_bytes(w, m->file_hash, MSG_HASH_LEN);
		for (uint32_t i = 0; i < msg_file_inline(m); i++)
			wr_bytes(w, m->chunks[i], MSG_HASH_LEN);
	}
	return wr_ok(w) ? 0 : -1;
}

int
msg_file_decode(struct rd *r, struct msg_file *m, const char **errstr)
{
	memset(m, 0, sizeof *m);
	if (key_read(r, m->key, errstr) == -1)
		return -1;
	rd_u64(r, &m->version);
	rd_bytes(r, m->origin, MSG_ID_LEN);
	rd_u64(r, &m->prev_version);
	rd_bytes(r, m->prev_origin, MSG_ID_LEN);
	rd_u8(r, &m->flags);
	if (rd_u64(r, &m->created_ms) == -1)
		return fail(errstr, "truncated message");
	if (m->version >= MSG_VERSION_LIMIT || m->prev_version >= MSG_VERSION_LIMIT)
		return fail(errstr, "version out of range");
	if (m->flags & ~(MSG_FILE_DELETED | MSG_FILE_MORE) ||
	    (m->flags & (MSG_FILE_DELETED | MSG_FILE_MORE)) == (MSG_FILE_DELETED | MSG_FILE_MORE))
		return fail(errstr, "unknown FILE flags");
	if (!(m->flags & MSG_FILE_DELETED)) {
		rd_u64(r, &m->size);
		rd_u32(r, &m->chunk_size);
		rd_u32(r, &m->nchunks);
		if (rd_bytes(r, m->file_hash, MSG_HASH_LEN) == -1)
			return fail(errstr, "truncated message");
		uint32_t n;

		if (!file_counts_ok(m->flags, m->nchunks))
			return fail(errstr, "chunk count out of range in FILE");
		if (!file_sizes_ok(m->size, m->chunk_size, m->nchunks))
			return fail(errstr, "size does not match the chunk count");
		n = msg_file_inline(m);
		if (rd_left(r) / MSG_HASH_LEN < n)
			return fail(errstr, "truncated message");
		if (n > 0) {
			m->chunks = xcalloc(n, MSG_HASH_LEN);
			rd_bytes(r, m->chunks, (size_t)n * MSG_HASH_LEN);
		}
	}
	if (end(r, errstr) == -1) {
		free(m->chunks);
		m->chunks = NULL;
		m->nchunks = 0;
		return -1;
	}
	return 0;
}

/* ---- DIGEST -------------------------------------------------------------------- */

int
msg_digest_encode(struct wr *w, const struct msg_digest *m)
{
	wr_u8(w, m->flags & MSG_DIGEST_REPLY);
	wr_u32(w, m->count);
	for (size_t i = 0; i < MSG_DIGEST_BUCKETS; i++)
		wr_u64(w, m->bucket[i]);
	return wr_ok(w) ? 0 : -1;
}

int
msg_digest_decode(struct rd *r, struct msg_digest *m, const char **errstr)
{
	memset(m, 0, sizeof *m);
	if (rd_u8(r, &m->flags) == 0 && (m->flags & ~MSG_DIGEST_REPLY) != 0)
		return fail(errstr, "unknown DIGEST flags");
	rd_u32(r, &m->count);
	for (size_t i = 0; i < MSG_DIGEST_BUCKETS; i++)
		rd_u64(r, &m->bucket[i]);
	return end(r, errstr);
}

/* ---- CHUNK_PUT / CHUNK_DATA ------------------------------------------------------ */

int
msg_chunk_encode_head(struct wr *w, const struct msg_chunk *m, int with_status)
{
	if (m->len > MSG_CHUNK_MAX)
		return -1;
	if (!with_status && m->len == 0)
		return -1; /* a chunk has at least one byte */
	if (with_status && m->status != MSG_CHUNK_OK && m->len != 0)
		return -1;
	wr_bytes(w, m->hash, MSG_HASH_LEN);
	if (with_status)
		wr_u8(w, m->status);
	wr_u32(w, m->len);
	return wr_ok(w) ? 0 : -1;
}

int
msg_chunk_encode(struct wr *w, const struct msg_chunk *m, int with_status)
{
	if (msg_chunk_encode_head(w, m, with_status) == -1)
		return -1;
	if (m->len > 0)
		wr_bytes(w, m->data, m->len);
	return wr_ok(w) ? 0 : -1;
}

/* Chunk data buffers. A 1 MiB malloc is an mmap whose 256 pages fault in as it is
 * filled, then an munmap: on a node receiving 1 GiB that was a fifth of the loop's
 * time. Large buffers are kept for reuse (at most MSG_CHUNK_KEEP); small ones come
 * from malloc at their size, so many small chunks in flight hold little memory. */
#define MSG_CHUNK_POOLED (256 * 1024)
#define MSG_CHUNK_KEEP 8

static pthread_mutex_t chunk_mtx = PTHREAD_MUTEX_INITIALIZER;
static void *chunk_keep[MSG_CHUNK_KEEP];
static unsigned chunk_nkeep;

void *
msg_chunk_alloc(size_t len)
{
	void *p = NULL;

	if (len < MSG_CHUNK_POOLED || len > MSG_CHUNK_MAX)
		return xmalloc(len > 0 ? len : 1);
	pthread_mutex_lock(&chunk_mtx);
	if (chunk_nkeep > 0)
		p = chunk_keep[--chunk_nkeep];
	pthread_mutex_unlock(&chunk_mtx);
	return p != NULL ? p : xmalloc(MSG_CHUNK_MAX);
}

void
msg_chunk_free(void *p, size_t len)
{
	if (p == NULL)
		return;
	if (len >= MSG_CHUNK_POOLED && len <= MSG_CHUNK_MAX) {
		pthread_mutex_lock(&chunk_mtx);
		if (chunk_nkeep < MSG_CHUNK_KEEP) {
			chunk_keep[chunk_nkeep++] = p;
			p = NULL;
		}
		pthread_mutex_unlock(&chunk_mtx);
	}
	free(p);
}

/* Everything of a CHUNK_PUT / CHUNK_DATA but its data; plen is the whole payload's
 * length, which must be exactly the head plus m->len. */
static int
chunk_decode_head(struct rd *r, struct msg_chunk *m, int with_status, size_t plen,
    const char **errstr)
{
	size_t hlen = MSG_HASH_LEN + (with_status ? 1 : 0) + 4;

	memset(m, 0, sizeof *m);
	rd_bytes(r, m->hash, MSG_HASH_LEN);
	if (with_status)
		rd_u8(r, &m->status);
	if (rd_u32(r, &m->len) == -1)
		return fail(errstr, "truncated message");
	if (m->len > MSG_CHUNK_MAX)
		return fail(errstr, "chunk too large");
	if (!with_status && m->len == 0)
		return fail(errstr, "empty chunk");
	if (with_status && m->status != MSG_CHUNK_OK && m->len != 0)
		return fail(errstr, "data with a failure status");
	if (with_status && m->status == MSG_CHUNK_OK && m->len == 0)
		return fail(errstr, "empty chunk");
	if (plen - hlen != m->len)
		return fail(errstr, plen - hlen < m->len ? "truncated message" :
		    "trailing bytes after message");
	return 0;
}

int
msg_chunk_decode(struct rd *r, struct msg_chunk *m, int with_status, const char **errstr)
{
	if (chunk_decode_head(r, m, with_status, rd_left(r), errstr) == -1)
		return -1;
	if (m->len > 0) {
		m->data = msg_chunk_alloc(m->len);
		rd_bytes(r, m->data, m->len);
	}
	if (end(r, errstr) == -1) {
		msg_chunk_free(m->data, m->len);
		m->data = NULL;
		m->len = 0;
		return -1;
	}
	return 0;
}

int
msg_chunk_decode_head(uint8_t type, const uint8_t *p, size_t n, size_t plen,
    struct msg *m, const char **errstr)
{
	struct rd r;
	int with_status = type == MSG_CHUNK_DATA;

	memset(m, 0, sizeof *m);
	m->type = type;
	if ((type != MSG_CHUNK_PUT && type != MSG_CHUNK_DATA) ||
	    n != msg_chunk_head_len(type) || plen < n)
		return fail(errstr, "not a chunk head");
	rd_init(&r, p, n);
	if (chunk_decode_head(&r, &m->u.chunk, with_status, plen, errstr) == -1)
		return -1;
	return end(&r, errstr);
}

size_t
msg_chunk_head_len(uint8_t type)
{
	return MSG_HASH_LEN + (type == MSG_CHUNK_DATA ? 1 : 0) + 4;
}

/* ---- CHUNK_ACK / CHUNK_GET ------------------------------------------------------- */

int
msg_ref_encode(struct wr *w, const struct msg_chunk_ref *m, int with_status)
{
	wr_bytes(w, m->hash, MSG_HASH_LEN);
	if (with_status)
		wr_u8(w, m->status);
	return wr_ok(w) ? 0 : -1;
}

int
msg_ref_decode(struct rd *r, struct msg_chunk_ref *m, int with_status, const char **errstr)
{
	memset(m, 0, sizeof *m);
	rd_bytes(r, m->hash, MSG_HASH_LEN);
	if (with_status)
		rd_u8(r, &m->status);
	return end(r, errstr);
}

/* ---- HAVE ------------------------------------------------------------------------ */

int
msg_have_encode(struct wr *w, const struct msg_have *m)
{
	if (m->n > MSG_HAVE_MAX)
		return -1;
	wr_u16(w, m->n);
	for (size_t i = 0; i < m->n; i++)
		wr_bytes(w, m->v[i], MSG_HASH_LEN);
	return wr_ok(w) ? 0 : -1;
}

/* The rest of the payload: exactly n hashes, into *v (malloc'd; NULL when n is 0, and
 * on failure). */
static int
rd_hashes(struct rd *r, uint32_t n, uint8_t (**v)[MSG_HASH_LEN], const char **errstr)
{
	*v = NULL;
	if (rd_left(r) != (size_t)n * MSG_HASH_LEN)
		return fail(errstr, rd_left(r) < (size_t)n * MSG_HASH_LEN ?
		    "truncated message" : "trailing bytes after message");
	if (n > 0) {
		*v = xcalloc(n, MSG_HASH_LEN);
		rd_bytes(r, *v, (size_t)n * MSG_HASH_LEN);
	}
	if (end(r, errstr) == -1) {
		free(*v);
		*v = NULL;
		return -1;
	}
	return 0;
}

int
msg_have_decode(struct rd *r, struct msg_have *m, const char **errstr)
{
	uint16_t n;

	m->n = 0;
	m->v = NULL;
	if (rd_u16(r, &n) == -1)
		return fail(errstr, "truncated message");
	if (n > MSG_HAVE_MAX)
		return fail(errstr, "too many entries in HAVE");
	if (rd_hashes(r, n, &m->v, errstr) == -1)
		return -1;
	m->n = n;
	return 0;
}

/* ---- MANIFEST_GET, MANIFEST_PART ---------------------------------------------------- */

int
msg_mget_encode(struct wr *w, const struct msg_mget *m)
{
	if (m->version >= MSG_VERSION_LIMIT || m->start >= MSG_MANIFEST_MAX_CHUNKS ||
	    key_write(w, m->key) == -1)
		return -1;
	wr_u64(w, m->version);
	wr_bytes(w, m->origin, MSG_ID_LEN);
	wr_u32(w, m->start);
	return wr_ok(w) ? 0 : -1;
}

int
msg_mget_decode(struct rd *r, struct msg_mget *m, const char **errstr)
{
	memset(m, 0, sizeof *m);
	if (key_read(r, m->key, errstr) == -1)
		return -1;
	rd_u64(r, &m->version);
	rd_bytes(r, m->origin, MSG_ID_LEN);
	if (rd_u32(r, &m->start) == -1)
		return fail(errstr, "truncated message");
	if (m->version >= MSG_VERSION_LIMIT)
		return fail(errstr, "version out of range");
	if (m->start >= MSG_MANIFEST_MAX_CHUNKS)
		return fail(errstr, "start out of range in MANIFEST_GET");
	return end(r, errstr);
}

int
msg_mpart_encode(struct wr *w, const struct msg_mpart *m)
{
	if (m->version >= MSG_VERSION_LIMIT || m->start >= MSG_MANIFEST_MAX_CHUNKS ||
	    (m->status == 0 && (m->n == 0 || m->n > MSG_FILE_MAX_CHUNKS || m->v == NULL)) ||
	    (m->status != 0 && (m->status != MSG_CHUNK_MISSING || m->n != 0)))
		return -1;
	wr_u64(w, m->version);
	wr_bytes(w, m->origin, MSG_ID_LEN);
	wr_u32(w, m->start);
	wr_u8(w, m->status);
	wr_u32(w, m->n);
	for (uint32_t i = 0; i < m->n; i++)
		wr_bytes(w, m->v[i], MSG_HASH_LEN);
	return wr_ok(w) ? 0 : -1;
}

int
msg_mpart_decode(struct rd *r, struct msg_mpart *m, const char **errstr)
{
	uint32_t n;

	memset(m, 0, sizeof *m); /* m->n and m->v are set only once all is well */
	rd_u64(r, &m->version);
	rd_bytes(r, m->origin, MSG_ID_LEN);
	rd_u32(r, &m->start);
	rd_u8(r, &m->status);
	if (rd_u32(r, &n) == -1)
		return fail(errstr, "truncated message");
	if (m->version >= MSG_VERSION_LIMIT || m->start >= MSG_MANIFEST_MAX_CHUNKS)
		return fail(errstr, "version or start out of range in MANIFEST_PART");
	if (m->status == 0 ? n == 0 || n > MSG_FILE_MAX_CHUNKS :
	    m->status != MSG_CHUNK_MISSING || n != 0)
		return fail(errstr, "bad status or count in MANIFEST_PART");
	if (rd_hashes(r, n, &m->v, errstr) == -1)
		return -1;
	m->n = n;
	return 0;
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
	case MSG_FILE:
		return msg_file_encode(w, &m->u.file);
	case MSG_DIGEST:
		return msg_digest_encode(w, &m->u.digest);
	case MSG_CHUNK_PUT:
		return msg_chunk_encode(w, &m->u.chunk, 0);
	case MSG_CHUNK_DATA:
		return msg_chunk_encode(w, &m->u.chunk, 1);
	case MSG_CHUNK_ACK:
		return msg_ref_encode(w, &m->u.ref, 1);
	case MSG_CHUNK_GET:
		return msg_ref_encode(w, &m->u.ref, 0);
	case MSG_HAVE:
		return msg_have_encode(w, &m->u.have);
	case MSG_MANIFEST_GET:
		return msg_mget_encode(w, &m->u.mget);
	case MSG_MANIFEST_PART:
		return msg_mpart_encode(w, &m->u.mpart);
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
	case MSG_FILE:
		return msg_file_decode(&r, &m->u.file, errstr);
	case MSG_DIGEST:
		return msg_digest_decode(&r, &m->u.digest, errstr);
	case MSG_CHUNK_PUT:
		return msg_chunk_decode(&r, &m->u.chunk, 0, errstr);
	case MSG_CHUNK_DATA:
		return msg_chunk_decode(&r, &m->u.chunk, 1, errstr);
	case MSG_CHUNK_ACK:
		return msg_ref_decode(&r, &m->u.ref, 1, errstr);
	case MSG_CHUNK_GET:
		return msg_ref_decode(&r, &m->u.ref, 0, errstr);
	case MSG_HAVE:
		return msg_have_decode(&r, &m->u.have, errstr);
	case MSG_MANIFEST_GET:
		return msg_mget_decode(&r, &m->u.mget, errstr);
	case MSG_MANIFEST_PART:
		return msg_mpart_decode(&r, &m->u.mpart, errstr);
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
	} else if (m->type == MSG_FILE) {
		free(m->u.file.chunks);
		m->u.file.chunks = NULL;
		m->u.file.nchunks = 0;
	} else if (m->type == MSG_CHUNK_PUT || m->type == MSG_CHUNK_DATA) {
		msg_chunk_free(m->u.chunk.data, m->u.chunk.len);
		m->u.chunk.data = NULL;
		m->u.chunk.len = 0;
	} else if (m->type == MSG_HAVE) {
		free(m->u.have.v);
		m->u.have.v = NULL;
		m->u.have.n = 0;
	} else if (m->type == MSG_MANIFEST_PART) {
		free(m->u.mpart.v);
		m->u.mpart.v = NULL;
		m->u.mpart.n = 0;
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
	case MSG_FILE: return "FILE";
	case MSG_DIGEST: return "DIGEST";
	case MSG_CHUNK_PUT: return "CHUNK_PUT";
	case MSG_CHUNK_ACK: return "CHUNK_ACK";
	case MSG_CHUNK_GET: return "CHUNK_GET";
	case MSG_CHUNK_DATA: return "CHUNK_DATA";
	case MSG_HAVE: return "HAVE";
	case MSG_MANIFEST_GET: return "MANIFEST_GET";
	case MSG_MANIFEST_PART: return "MANIFEST_PART";
	}
	return "unknown";
}
