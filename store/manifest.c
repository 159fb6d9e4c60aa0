/* manifest.c: a file version's manifest, its canonical encoding and identity.
 *
 * Manifest canonical encoding (docs/PROTOCOL.md "Manifest")
 * ---------------------------------------------------------
 * All integers are unsigned big-endian. Offsets in bytes.
 *
 *   off  size      field
 *   0    4         magic       "P2PM" (0x50 0x32 0x50 0x4d)
 *   4    1         version     format version, 1
 *   5    4         chunk_size  4096 (4 KiB) .. 16777216 (16 MiB) inclusive
 *   9    8         size        length of the file content in bytes
 *   17   32        file_hash   SHA-256 of the whole file content
 *   49   8         nchunks     number of chunks, <= 16777216 (2^24)
 *   57   32*n      chunks      SHA-256 of each chunk, in file order
 *
 * Total length: 57 + 32 * nchunks. Chunk i covers bytes [i*chunk_size, (i+1)*chunk_size)
 * of the file; every chunk is chunk_size bytes except the last, which holds the rest
 * (1..chunk_size bytes). Hence nchunks = ceil(size / chunk_size), and a 0-byte file has
 * nchunks = 0 and file_hash = SHA-256("") =
 * e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855.
 *
 * A decoder rejects: a wrong magic, a version other than 1, chunk_size out of range,
 * nchunks over 2^24, nchunks != ceil(size / chunk_size), a length that is not exactly
 * 57 + 32 * nchunks (short input or trailing bytes). The length is checked before
 * anything is allocated.
 *
 * The manifest hash (a version's identity) is the SHA-256 of this encoding. */
#include "store/store.h"
#include "lib/buf.h"
#include "lib/log.h"
#include "lib/util.h"

#include <stdlib.h>
#include <string.h>

#define MANIFEST_MAGIC "P2PM"
#define MANIFEST_VERSION 1
#define MANIFEST_HDR_LEN (4 + 1 + 4 + 8 + HASH_LEN + 8)

void
manifest_init(struct manifest *m, uint32_t chunk_size)
{
	memset(m, 0, sizeof *m);
	m->chunk_size = chunk_size;
}

void
manifest_free(struct manifest *m)
{
	if (m == NULL)
		return;
	free(m->chunks);
	m->chunks = NULL;
	m->nchunks = 0;
}

/* The struct has no capacity field, so this grows the array by one each time;
 * realloc() makes that amortised cheap in practice (large blocks are mremap'd in place).
 * Bulk builders (stage_finish, manifest_decode) allocate the whole array at once. */
void
manifest_add(struct manifest *m, const uint8_t h[HASH_LEN])
{
	if (m->nchunks >= MANIFEST_MAX_CHUNKS)
		fatalx("manifest_add: more than %llu chunks", (unsigned long long)MANIFEST_MAX_CHUNKS);
	m->chunks = xreallocarray(m->chunks, (size_t)m->nchunks + 1, HASH_LEN);
	memcpy(m->chunks[m->nchunks], h, HASH_LEN);
	m->nchunks++;
}

uint32_t
manifest_chunk_len(const struct manifest *m, uint64_t i)
{
	if (i >= m->nchunks)
		return 0;
	if (i + 1 < m->nchunks)
		return m->chunk_size;
	return (uint32_t)(m->size - i * (uint64_t)m->chunk_size);
}

static uint64_t
expected_chunks(uint64_t size, uint32_t chunk_size)
{
	return size / chunk_size + (size % chunk_size != 0);
}

/* The invariants every manifest must hold, for encode and decode alike. */
static int
manifest_check(const struct manifest *m, char **cause)
{
	if (m->chunk_size < CHUNK_SIZE_MIN || m->chunk_size > CHUNK_SIZE_MAX)
		return set_cause(cause, "manifest: chunk size %u out of range %u..%u",
		    m->chunk_size, CHUNK_SIZE_MIN, CHUNK_SIZE_MAX);
	if (m->nchunks > MANIFEST_MAX_CHUNKS)
		return set_cause(cause, "manifest: %llu chunks is more than %llu",
		    (unsigned long long)m->nchunks, (unsigned long long)MANIFEST_MAX_CHUNKS);
	if (m->nchunks != expected_chunks(m->size, m->chunk_size))
		return set_cause(cause, "manifest: %llu chunks for %llu bytes of %u-byte chunks",
		    (unsigned long long)m->nchunks, (unsigned long long)m->size, m->chunk_size);
	return 0;
}

static void
put_u32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24);
	p[1] = (uint8_t)(v >> 16);
	p[2] = (uint8_t)(v >> 8);
	p[3] = (uint8_t)v;
}

static void
put_u64(uint8_t *p, uint64_t v)
{
	put_u32(p, (uint32_t)(v >> 32));
	put_u32(p + 4, (uint32_t)v);
}

static void
encode_header(const struct manifest *m, uint8_t hdr[MANIFEST_HDR_LEN])
{
	memcpy(hdr, MANIFEST_MAGIC, 4);
	hdr[4] = MANIFEST_VERSION;
	put_u32(hdr + 5, m->chunk_size);
	put_u64(hdr + 9, m->size);
	memcpy(hdr + 17, m->file_hash, HASH_LEN);
	put_u64(hdr + 49, m->nchunks);
}

int
manifest_encode(const struct manifest *m, uint8_t **out, size_t *len)
{
	size_t n;

	*out = NULL;
	*len = 0;
	if (manifest_check(m, NULL) == -1 || (m->nchunks > 0 && m->chunks == NULL))
		return -1;
	n = MANIFEST_HDR_LEN + (size_t)m->nchunks * HASH_LEN; /* <= 57 + 2^29: no overflow */
	*out = xmalloc(n);
	encode_header(m, *out);
	if (m->nchunks > 0)
		memcpy(*out + MANIFEST_HDR_LEN, m->chunks, (size_t)m->nchunks * HASH_LEN);
	*len = n;
	return 0;
}

int
manifest_decode(struct manifest *m, const void *p, size_t len, char **cause)
{
	struct manifest t;
	struct rd r;
	uint8_t magic[4], version;

	memset(m, 0, sizeof *m); /* manifest_free() is safe on m even after a failure */
	memset(&t, 0, sizeof t);
	rd_init(&r, p, len);
	rd_bytes(&r, magic, sizeof magic);
	rd_u8(&r, &version);
	rd_u32(&r, &t.chunk_size);
	rd_u64(&r, &t.size);
	rd_bytes(&r, t.file_hash, HASH_LEN);
	rd_u64(&r, &t.nchunks);
	if (r.err) {
		/* Report a bad magic even on a short input: it says "not a manifest". */
		if (len >= 4 && memcmp(p, MANIFEST_MAGIC, 4) != 0)
			return set_cause(cause, "manifest: bad magic");
		return set_cause(cause, "manifest: truncated header (%zu bytes)", len);
	}
	if (memcmp(magic, MANIFEST_MAGIC, 4) != 0)
		return set_cause(cause, "manifest: bad magic");
	if (version != MANIFEST_VERSION)
		return set_cause(cause, "manifest: unsupported format version %u", version);
	if (manifest_check(&t, cause) == -1)
		return -1;
	/* nchunks <= 2^24, so nchunks * 32 cannot overflow; check before allocating. */
	if (rd_left(&r) != (size_t)t.nchunks * HASH_LEN)
		return set_cause(cause, "manifest: %zu bytes of chunk hashes, expected %llu",
		    rd_left(&r), (unsigned long long)t.nchunks * HASH_LEN);
	if (t.nchunks > 0) {
		t.chunks = xcalloc((size_t)t.nchunks, HASH_LEN);
		rd_bytes(&r, t.chunks, (size_t)t.nchunks * HASH_LEN);
	}
	if (rd_end(&r) == -1) { /* cannot happen after the length check */
		free(t.chunks);
		return set_cause(cause, "manifest: malformed");
	}
	*m = t;
	return 0;
}

void
manifest_hash(const struct manifest *m, uint8_t out[HASH_LEN])
{
	uint8_t hdr[MANIFEST_HDR_LEN];
	EVP_MD_CTX *ctx;

	encode_header(m, hdr);
	if ((ctx = EVP_MD_CTX_new()) == NULL)
		fatalx("EVP_MD_CTX_new");
	if (EVP_DigestInit_ex(ctx, sha256_md(), NULL) != 1 ||
	    EVP_DigestUpdate(ctx, hdr, sizeof hdr) != 1 ||
	    (m->nchunks > 0 &&
	    EVP_DigestUpdate(ctx, m->chunks, (size_t)m->nchunks * HASH_LEN) != 1) ||
	    EVP_DigestFinal_ex(ctx, out, NULL) != 1)
		fatalx("manifest_hash: EVP sha256 failed");
	EVP_MD_CTX_free(ctx);
}
