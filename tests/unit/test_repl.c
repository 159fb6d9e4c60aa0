/* test_repl.c: the pure logic of replication (rendezvous placement, digest buckets,
 * conflict naming and resolution), the replication messages (round trips, truncations,
 * limits) and the database pieces replication relies on (schema v2, remote versions). */
#include "db/db.h"
#include "lib/buf.h"
#include "lib/util.h"
#include "node/repl.h"
#include "p2p/frame.h"
#include "p2p/msg.h"
#include "store/store.h"

#include <check.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static void
id_of(uint8_t id[32], unsigned seed)
{
	memset(id, 0x5a, 32);
	id[0] = (uint8_t)(seed >> 8);
	id[1] = (uint8_t)seed;
}

/* ---- placement ------------------------------------------------------------------- */

START_TEST(place_score_defined)
{
	uint8_t c[32], n[32], in[64], out[32];
	uint64_t want = 0;

	id_of(c, 1);
	id_of(n, 2);
	memcpy(in, c, 32);
	memcpy(in + 32, n, 32);
	hash_buf(in, sizeof in, out);
	for (int i = 0; i < 8; i++)
		want = want << 8 | out[i];
	ck_assert_uint_eq(repl_score(c, n), want);
}
END_TEST

START_TEST(place_top_r_ordered)
{
	uint8_t nodes[5][32], c[32];
	size_t out[5], k;

	for (unsigned i = 0; i < 5; i++)
		id_of(nodes[i], i + 1);
	id_of(c, 77);
	k = repl_place(c, (const uint8_t (*)[32])nodes, 5, 2, out);
	ck_assert_uint_eq(k, 2);
	ck_assert_uint_ne(out[0], out[1]);
	ck_assert_uint_ge(repl_score(c, nodes[out[0]]), repl_score(c, nodes[out[1]]));
	for (unsigned i = 0; i < 5; i++)
		if (i != out[0] && i != out[1])
			ck_assert_uint_ge(repl_score(c, nodes[out[1]]), repl_score(c, nodes[i]));
	/* r = 0 (all) and r > n rank every node */
	ck_assert_uint_eq(repl_place(c, (const uint8_t (*)[32])nodes, 5, 0, out), 5);
	ck_assert_uint_eq(repl_place(c, (const uint8_t (*)[32])nodes, 5, 9, out), 5);
	ck_assert_uint_eq(repl_place(c, (const uint8_t (*)[32])nodes, 0, 3, out), 0);
}
END_TEST

/* Removing a node that is not among a chunk's holders never moves that chunk; adding a
 * node moves a chunk only onto the new node. */
START_TEST(place_stable)
{
	uint8_t nodes[6][32], c[32];
	size_t a[3], b[3];
	unsigned moved = 0;

	for (unsigned i = 0; i < 6; i++)
		id_of(nodes[i], 100 + i);
	for (unsigned s = 0; s < 500; s++) {
		id_of(c, s);
		c[5] = (uint8_t)s;
		repl_place(c, (const uint8_t (*)[32])nodes, 5, 3, a);
		repl_place(c, (const uint8_t (*)[32])nodes, 6, 3, b);
		for (int i = 0; i < 3; i++) {
			int found = 0;
			for (int j = 0; j < 3; j++)
				found |= a[j] == b[i];
			if (!found) {
				ck_assert_uint_eq(b[i], 5); /* only the new node gains */
				moved++;
			}
		}
	}
	/* about 3/6 of the chunks gain the new node */
	ck_assert_uint_gt(moved, 150);
	ck_assert_uint_lt(moved, 350);
}
END_TEST

/* ---- digest ----------------------------------------------------------------------- */

START_TEST(digest_order_free)
{
	uint64_t a[256], b[256];
	uint8_t o1[32], o2[32];

	memset(a, 0, sizeof a);
	memset(b, 0, sizeof b);
	id_of(o1, 1);
	id_of(o2, 2);
	repl_digest_add(a, "x", 5, o1, 0);
	repl_digest_add(a, "y", 6, o2, 1);
	repl_digest_add(b, "y", 6, o2, 1);
	repl_digest_add(b, "x", 5, o1, 0);
	ck_assert_mem_eq(a, b, sizeof a);
	/* one field different: that bucket differs */
	memset(b, 0, sizeof b);
	repl_digest_add(b, "x", 5, o1, 0);
	repl_digest_add(b, "y", 6, o2, 0);
	ck_assert_uint_ne(a[repl_bucket("y")], b[repl_bucket("y")]);
	/* an entry added twice cancels out: XOR */
	repl_digest_add(b, "x", 5, o1, 0);
	ck_assert_uint_eq(b[repl_bucket("x")], repl_bucket("x") == repl_bucket("y") ?
	    repl_entry_hash("y", 6, o2, 0) : 0);
	ck_assert_uint_ne(repl_entry_hash("x", 5, o1, 0), repl_entry_hash("x", 6, o1, 0));
	ck_assert_uint_ne(repl_entry_hash("x", 5, o1, 0), repl_entry_hash("x", 5, o2, 0));
	ck_assert_uint_ne(repl_entry_hash("x", 5, o1, 0), repl_entry_hash("x", 5, o1, 1));
}
END_TEST

/* ---- conflicts -------------------------------------------------------------------- */

START_TEST(conflict_name_format)
{
	char out[KEY_MAX + 1], *longkey;
	uint8_t o[32];
	const char *errstr;

	memset(o, 0xab, 32);
	repl_conflict_name("photos/cat.jpg", 0x1234, o, out, sizeof out);
	ck_assert_str_eq(out, "photos/cat.jpg.conflict-abababab-0000000000001234");
	/* a key at the limit is cut (at a UTF-8 boundary) so the name stays a valid key */
	longkey = xmalloc(KEY_MAX + 1);
	memset(longkey, 'k', KEY_MAX);
	longkey[KEY_MAX] = '\0';
	/* a 2-byte UTF-8 character straddling the cut */
	longkey[KEY_MAX - 35 - 1] = (char)0xc3;
	longkey[KEY_MAX - 35] = (char)0xa9;
	repl_conflict_name(longkey, 1, o, out, sizeof out);
	ck_assert_uint_le(strlen(out), KEY_MAX);
	ck_assert_int_eq(key_validate(out, strlen(out), &errstr), 0);
	free(longkey);
}
END_TEST

static struct repl_ver
ver(uint64_t v, unsigned o, int deleted, uint64_t pv, unsigned po)
{
	struct repl_ver r;

	memset(&r, 0, sizeof r);
	r.version = v;
	id_of(r.origin, o);
	r.deleted = deleted;
	r.prev_version = pv;
	if (pv != 0)
		id_of(r.prev_origin, po);
	return r;
}

START_TEST(resolve_cases)
{
	struct repl_ver a = ver(10, 1, 0, 0, 0), b = ver(20, 2, 0, 0, 0);
	struct repl_ver b_saw_a = ver(20, 2, 0, 10, 1), del_a = ver(30, 2, 1, 10, 1);
	struct repl_ver del_blind = ver(30, 2, 1, 0, 0), a_same_v = ver(10, 2, 0, 0, 0);
	struct repl_ver later = ver(40, 1, 0, 0, 0);

	ck_assert_int_eq(repl_resolve(NULL, &a), REPL_APPLY);
	ck_assert_int_eq(repl_resolve(&a, &a), REPL_SAME);
	/* concurrent: the greater wins, the other is kept, whichever arrives first */
	ck_assert_int_eq(repl_resolve(&a, &b), REPL_APPLY_KEEP_CUR);
	ck_assert_int_eq(repl_resolve(&b, &a), REPL_KEEP_IN);
	/* overwrote what it had seen: no conflict */
	ck_assert_int_eq(repl_resolve(&a, &b_saw_a), REPL_APPLY);
	ck_assert_int_eq(repl_resolve(&b_saw_a, &a), REPL_IGNORE);
	/* a delete of the version it saw: no resurrection, no copy */
	ck_assert_int_eq(repl_resolve(&a, &del_a), REPL_APPLY);
	ck_assert_int_eq(repl_resolve(&del_a, &a), REPL_IGNORE);
	/* a delete concurrent with a write it never saw: the write is kept as a copy */
	ck_assert_int_eq(repl_resolve(&a, &del_blind), REPL_APPLY_KEEP_CUR);
	ck_assert_int_eq(repl_resolve(&del_blind, &a), REPL_KEEP_IN);
	/* tombstones are never kept as copies */
	ck_assert_int_eq(repl_resolve(&del_a, &b), REPL_KEEP_IN);
	ck_assert_int_eq(repl_resolve(&later, &del_blind), REPL_IGNORE);
	/* equal versions: origin breaks the tie */
	ck_assert_int_eq(repl_resolve(&a, &a_same_v), REPL_APPLY_KEEP_CUR);
	ck_assert_int_eq(repl_resolve(&a_same_v, &a), REPL_KEEP_IN);
}
END_TEST

/* ---- messages --------------------------------------------------------------------- */

static void
roundtrip(const struct msg *m, struct msg *d, struct wr *w)
{
	const char *errstr = NULL;
	struct frame_hdr h;

	wr_init(w, FRAME_HDR_LEN + FRAME_MAX_PAYLOAD);
	ck_assert_int_eq(msg_frame(w, m), 0);
	ck_assert_int_eq(frame_parse(w->p, w->len, &h), FRAME_OK);
	ck_assert_int_eq(h.type, m->type);
	ck_assert_msg(msg_decode(h.type, w->p + FRAME_HDR_LEN, h.len, d, &errstr) == 0,
	    "decode %s: %s", msg_type_name(m->type), errstr);
	/* every truncation and one trailing byte are rejected */
	for (size_t cut = 0; cut < h.len; cut += 1 + h.len / 200) {
		struct msg t;
		ck_assert_int_eq(msg_decode(h.type, w->p + FRAME_HDR_LEN, cut, &t, &errstr), -1);
	}
	{
		uint8_t *p = xmalloc(h.len + 1);
		struct msg t;
		memcpy(p, w->p + FRAME_HDR_LEN, h.len);
		p[h.len] = 0;
		ck_assert_int_eq(msg_decode(h.type, p, h.len + 1, &t, &errstr), -1);
		free(p);
	}
}

START_TEST(msg_file_roundtrip)
{
	struct msg m, d;
	struct wr w;
	uint8_t ch[3][32];

	memset(&m, 0, sizeof m);
	m.type = MSG_FILE;
	snprintf(m.u.file.key, sizeof m.u.file.key, "dir/ä.txt");
	m.u.file.version = 0x123456789abcULL;
	id_of(m.u.file.origin, 9);
	m.u.file.prev_version = 7;
	id_of(m.u.file.prev_origin, 3);
	m.u.file.created_ms = 1763683200123ULL;
	m.u.file.size = 2 * 4096 + 5;
	m.u.file.chunk_size = 4096;
	m.u.file.nchunks = 3;
	memset(m.u.file.file_hash, 0xee, 32);
	for (int i = 0; i < 3; i++)
		memset(ch[i], i + 1, 32);
	m.u.file.chunks = ch;
	roundtrip(&m, &d, &w);
	ck_assert_str_eq(d.u.file.key, "dir/ä.txt");
	ck_assert_uint_eq(d.u.file.version, m.u.file.version);
	ck_assert_mem_eq(d.u.file.origin, m.u.file.origin, 32);
	ck_assert_uint_eq(d.u.file.prev_version, 7);
	ck_assert_mem_eq(d.u.file.prev_origin, m.u.file.prev_origin, 32);
	ck_assert_uint_eq(d.u.file.size, m.u.file.size);
	ck_assert_uint_eq(d.u.file.nchunks, 3);
	ck_assert_mem_eq(d.u.file.chunks, ch, sizeof ch);
	msg_clear(&d);
	/* payload length: 2+10 + 8+32+8+32+1+8 + 8+4+4+32 + 3*32 */
	ck_assert_uint_eq(w.len, FRAME_HDR_LEN + 12 + 89 + 48 + 96);
	wr_free(&w);

	/* a tombstone carries no sizes */
	m.u.file.flags = MSG_FILE_DELETED;
	roundtrip(&m, &d, &w);
	ck_assert_int_eq(d.u.file.flags, MSG_FILE_DELETED);
	ck_assert_uint_eq(d.u.file.nchunks, 0);
	ck_assert_uint_eq(w.len, FRAME_HDR_LEN + 12 + 89);
	msg_clear(&d);
	wr_free(&w);
}
END_TEST

START_TEST(msg_file_limits)
{
	struct msg m, d;
	struct wr w;
	const char *errstr;
	uint8_t buf[200];

	memset(&m, 0, sizeof m);
	m.type = MSG_FILE;
	snprintf(m.u.file.key, sizeof m.u.file.key, "k");
	m.u.file.version = 1;
	/* sizes that do not match the chunk count are refused both ways */
	m.u.file.size = 10;
	m.u.file.chunk_size = 4096;
	m.u.file.nchunks = 0;
	wr_init(&w, 4096);
	ck_assert_int_eq(msg_encode(&w, &m), -1);
	wr_free(&w);
	/* a version at 2^63 */
	m.u.file.size = 0;
	m.u.file.version = 1ull << 63;
	wr_init(&w, 4096);
	ck_assert_int_eq(msg_encode(&w, &m), -1);
	wr_free(&w);
	/* a bad key (control character) */
	m.u.file.version = 1;
	snprintf(m.u.file.key, sizeof m.u.file.key, "a\nb");
	wr_init(&w, 4096);
	ck_assert_int_eq(msg_encode(&w, &m), -1);
	wr_free(&w);
	/* hand-made: nchunks above the maximum is refused before allocating */
	wr_init(&w, sizeof buf);
	wr_str16(&w, "k", 1);
	wr_u64(&w, 1);
	wr_bytes(&w, buf, 32);
	wr_u64(&w, 0);
	wr_bytes(&w, buf, 32);
	wr_u8(&w, 0);
	wr_u64(&w, 0);
	wr_u64(&w, (uint64_t)0xffffffff * 4096);
	wr_u32(&w, 4096);
	wr_u32(&w, 0xffffffff);
	wr_bytes(&w, buf, 32);
	ck_assert(wr_ok(&w));
	ck_assert_int_eq(msg_decode(MSG_FILE, w.p, w.len, &d, &errstr), -1);
	ck_assert_str_eq(errstr, "chunk count out of range in FILE");
	/* unknown flags */
	w.p[2 + 1 + 8 + 32 + 8 + 32] = 0x80;
	ck_assert_int_eq(msg_decode(MSG_FILE, w.p, w.len, &d, &errstr), -1);
	wr_free(&w);
}
END_TEST

/* A version longer than one FILE: MORE, the first MSG_FILE_MAX_CHUNKS hashes inline;
 * MANIFEST_GET / MANIFEST_PART carry the rest. */
START_TEST(msg_file_more)
{
	const uint32_t n = MSG_FILE_MAX_CHUNKS + 2;
	uint8_t (*ch)[32] = xcalloc(n, 32);
	const char *errstr;
	struct msg m, d;
	struct wr w;

	for (uint32_t i = 0; i < n; i++)
		memcpy(ch[i], &i, sizeof i);
	memset(&m, 0, sizeof m);
	m.type = MSG_FILE;
	snprintf(m.u.file.key, sizeof m.u.file.key, "big");
	m.u.file.version = 5;
	m.u.file.chunk_size = 4096;
	m.u.file.nchunks = n;
	m.u.file.size = (uint64_t)n * 4096 - 1;
	m.u.file.chunks = ch;
	/* without MORE, too many chunks for one FILE */
	wr_init(&w, FRAME_HDR_LEN + FRAME_MAX_PAYLOAD);
	ck_assert_int_eq(msg_encode(&w, &m), -1);
	wr_free(&w);
	m.u.file.flags = MSG_FILE_MORE;
	roundtrip(&m, &d, &w);
	ck_assert_uint_eq(d.u.file.nchunks, n);
	ck_assert_int_eq(d.u.file.flags, MSG_FILE_MORE);
	ck_assert_uint_eq(msg_file_inline(&d.u.file), MSG_FILE_MAX_CHUNKS);
	ck_assert_mem_eq(d.u.file.chunks, ch, (size_t)MSG_FILE_MAX_CHUNKS * 32);
	ck_assert_uint_eq(w.len, FRAME_HDR_LEN + 5 + 89 + 48 + (size_t)MSG_FILE_MAX_CHUNKS * 32);
	ck_assert_uint_le(w.len - FRAME_HDR_LEN, FRAME_MAX_PAYLOAD);
	msg_clear(&d);
	/* MORE on a list that fits, MORE on a tombstone: refused both ways */
	w.p[FRAME_HDR_LEN + 5 + 8 + 32 + 8 + 32] = MSG_FILE_MORE | MSG_FILE_DELETED;
	ck_assert_int_eq(msg_decode(MSG_FILE, w.p + FRAME_HDR_LEN, w.len - FRAME_HDR_LEN, &d,
	    &errstr), -1);
	ck_assert_ptr_null(d.u.file.chunks);
	wr_free(&w);
	m.u.file.nchunks = MSG_FILE_MAX_CHUNKS;
	m.u.file.size = (uint64_t)MSG_FILE_MAX_CHUNKS * 4096;
	wr_init(&w, FRAME_HDR_LEN + FRAME_MAX_PAYLOAD);
	ck_assert_int_eq(msg_encode(&w, &m), -1);
	wr_free(&w);
	m.u.file.flags = MSG_FILE_MORE | MSG_FILE_DELETED;
	wr_init(&w, FRAME_HDR_LEN + FRAME_MAX_PAYLOAD);
	ck_assert_int_eq(msg_encode(&w, &m), -1);
	wr_free(&w);
	/* above MSG_MANIFEST_MAX_CHUNKS */
	m.u.file.flags = MSG_FILE_MORE;
	m.u.file.nchunks = MSG_MANIFEST_MAX_CHUNKS + 1;
	m.u.file.size = (uint64_t)m.u.file.nchunks * 4096;
	wr_init(&w, FRAME_HDR_LEN + FRAME_MAX_PAYLOAD);
	ck_assert_int_eq(msg_encode(&w, &m), -1);
	wr_free(&w);

	/* MANIFEST_GET */
	memset(&m, 0, sizeof m);
	m.type = MSG_MANIFEST_GET;
	snprintf(m.u.mget.key, sizeof m.u.mget.key, "big");
	m.u.mget.version = 5;
	id_of(m.u.mget.origin, 4);
	m.u.mget.start = MSG_FILE_MAX_CHUNKS;
	roundtrip(&m, &d, &w);
	ck_assert_str_eq(d.u.mget.key, "big");
	ck_assert_uint_eq(d.u.mget.version, 5);
	ck_assert_mem_eq(d.u.mget.origin, m.u.mget.origin, 32);
	ck_assert_uint_eq(d.u.mget.start, MSG_FILE_MAX_CHUNKS);
	ck_assert_uint_eq(w.len, FRAME_HDR_LEN + 5 + 8 + 32 + 4);
	wr_free(&w);
	m.u.mget.start = MSG_MANIFEST_MAX_CHUNKS;
	wr_init(&w, 4096);
	ck_assert_int_eq(msg_encode(&w, &m), -1);
	wr_free(&w);

	/* MANIFEST_PART: the hashes, or status 4 and none */
	memset(&m, 0, sizeof m);
	m.type = MSG_MANIFEST_PART;
	m.u.mpart.version = 5;
	id_of(m.u.mpart.origin, 4);
	m.u.mpart.start = MSG_FILE_MAX_CHUNKS;
	m.u.mpart.n = 2;
	m.u.mpart.v = ch + MSG_FILE_MAX_CHUNKS;
	roundtrip(&m, &d, &w);
	ck_assert_uint_eq(d.u.mpart.n, 2);
	ck_assert_int_eq(d.u.mpart.status, 0);
	ck_assert_mem_eq(d.u.mpart.v, ch + MSG_FILE_MAX_CHUNKS, 64);
	ck_assert_uint_eq(w.len, FRAME_HDR_LEN + 8 + 32 + 4 + 1 + 4 + 64);
	msg_clear(&d);
	/* a count that the bytes do not back, or one over the limit */
	w.p[FRAME_HDR_LEN + 8 + 32 + 4 + 1 + 3] = 3;
	ck_assert_int_eq(msg_decode(MSG_MANIFEST_PART, w.p + FRAME_HDR_LEN,
	    w.len - FRAME_HDR_LEN, &d, &errstr), -1);
	ck_assert_ptr_null(d.u.mpart.v);
	wr_free(&w);
	m.u.mpart.n = MSG_FILE_MAX_CHUNKS + 1;
	wr_init(&w, FRAME_HDR_LEN + FRAME_MAX_PAYLOAD);
	ck_assert_int_eq(msg_encode(&w, &m), -1);
	wr_free(&w);
	m.u.mpart.status = MSG_CHUNK_MISSING;
	m.u.mpart.n = 0;
	m.u.mpart.v = NULL;
	roundtrip(&m, &d, &w);
	ck_assert_int_eq(d.u.mpart.status, MSG_CHUNK_MISSING);
	ck_assert_uint_eq(d.u.mpart.n, 0);
	ck_assert_ptr_null(d.u.mpart.v);
	/* status 0 with no hashes, or a status with hashes: refused */
	w.p[FRAME_HDR_LEN + 8 + 32 + 4] = 0;
	ck_assert_int_eq(msg_decode(MSG_MANIFEST_PART, w.p + FRAME_HDR_LEN,
	    w.len - FRAME_HDR_LEN, &d, &errstr), -1);
	wr_free(&w);
	free(ch);
}
END_TEST

START_TEST(msg_digest_roundtrip)
{
	struct msg m, d;
	struct wr w;

	memset(&m, 0, sizeof m);
	m.type = MSG_DIGEST;
	m.u.digest.flags = MSG_DIGEST_REPLY;
	m.u.digest.count = 42;
	for (int i = 0; i < 256; i++)
		m.u.digest.bucket[i] = (uint64_t)i * 0x0101010101010101ULL;
	roundtrip(&m, &d, &w);
	ck_assert_uint_eq(w.len, FRAME_HDR_LEN + 1 + 4 + 256 * 8);
	ck_assert_mem_eq(&d.u.digest, &m.u.digest, sizeof m.u.digest);
	wr_free(&w);
}
END_TEST

START_TEST(msg_chunk_roundtrip)
{
	struct msg m, d;
	struct wr w;
	const char *errstr;
	uint8_t data[5000];

	for (size_t i = 0; i < sizeof data; i++)
		data[i] = (uint8_t)(i * 7);
	memset(&m, 0, sizeof m);
	m.type = MSG_CHUNK_PUT;
	hash_buf(data, sizeof data, m.u.chunk.hash);
	m.u.chunk.len = sizeof data;
	m.u.chunk.data = data;
	roundtrip(&m, &d, &w);
	ck_assert_uint_eq(w.len, FRAME_HDR_LEN + 32 + 4 + sizeof data);
	ck_assert_uint_eq(d.u.chunk.len, sizeof data);
	ck_assert_mem_eq(d.u.chunk.data, data, sizeof data);
	msg_clear(&d);
	ck_assert_ptr_null(d.u.chunk.data);
	wr_free(&w);

	m.type = MSG_CHUNK_DATA;
	m.u.chunk.status = MSG_CHUNK_OK;
	roundtrip(&m, &d, &w);
	ck_assert_uint_eq(w.len, FRAME_HDR_LEN + 32 + 1 + 4 + sizeof data);
	msg_clear(&d);
	wr_free(&w);

	/* a failure status carries no data */
	m.u.chunk.status = MSG_CHUNK_MISSING;
	wr_init(&w, 1 << 16);
	ck_assert_int_eq(msg_encode(&w, &m), -1);
	wr_reset(&w);
	m.u.chunk.len = 0;
	m.u.chunk.data = NULL;
	ck_assert_int_eq(msg_encode(&w, &m), 0);
	ck_assert_int_eq(msg_decode(MSG_CHUNK_DATA, w.p, w.len, &d, &errstr), 0);
	ck_assert_int_eq(d.u.chunk.status, MSG_CHUNK_MISSING);
	msg_clear(&d);
	wr_free(&w);

	/* a length over the maximum is refused before allocating */
	wr_init(&w, 64);
	wr_bytes(&w, data, 32);
	wr_u32(&w, MSG_CHUNK_MAX + 1);
	ck_assert_int_eq(msg_decode(MSG_CHUNK_PUT, w.p, w.len, &d, &errstr), -1);
	ck_assert_str_eq(errstr, "chunk too large");
	wr_free(&w);
	/* an empty CHUNK_PUT */
	wr_init(&w, 64);
	wr_bytes(&w, data, 32);
	wr_u32(&w, 0);
	ck_assert_int_eq(msg_decode(MSG_CHUNK_PUT, w.p, w.len, &d, &errstr), -1);
	wr_free(&w);
}
END_TEST

/* node/net.c decodes a chunk's head in place and copies its data out of the socket
 * buffer itself: msg_chunk_decode_head must take exactly what msg_decode takes. */
START_TEST(msg_chunk_head_decode)
{
	struct msg m, d;
	struct wr w;
	const char *errstr;
	uint8_t data[300 * 1024];
	size_t hl;

	memset(data, 0x5a, sizeof data);
	memset(&m, 0, sizeof m);
	m.type = MSG_CHUNK_DATA;
	m.u.chunk.status = MSG_CHUNK_OK;
	hash_buf(data, sizeof data, m.u.chunk.hash);
	m.u.chunk.len = sizeof data;
	m.u.chunk.data = data;
	wr_init(&w, 1 << 20);
	ck_assert_int_eq(msg_encode(&w, &m), 0);
	hl = msg_chunk_head_len(MSG_CHUNK_DATA);
	ck_assert_uint_eq(hl, 32 + 1 + 4);
	ck_assert_uint_eq(msg_chunk_head_len(MSG_CHUNK_PUT), 32 + 4);
	ck_assert_int_eq(msg_chunk_decode_head(MSG_CHUNK_DATA, w.p, hl, w.len, &d, &errstr),
	    0);
	ck_assert_int_eq(d.type, MSG_CHUNK_DATA);
	ck_assert_uint_eq(d.u.chunk.len, sizeof data);
	ck_assert_ptr_null(d.u.chunk.data);
	ck_assert_mem_eq(d.u.chunk.hash, m.u.chunk.hash, 32);
	/* the frame's length must be the head plus the data, exactly */
	ck_assert_int_eq(msg_chunk_decode_head(MSG_CHUNK_DATA, w.p, hl, w.len - 1, &d,
	    &errstr), -1);
	ck_assert_str_eq(errstr, "truncated message");
	ck_assert_int_eq(msg_chunk_decode_head(MSG_CHUNK_DATA, w.p, hl, w.len + 1, &d,
	    &errstr), -1);
	ck_assert_str_eq(errstr, "trailing bytes after message");
	/* a head of the wrong size, or another type */
	ck_assert_int_eq(msg_chunk_decode_head(MSG_CHUNK_DATA, w.p, hl - 1, w.len, &d,
	    &errstr), -1);
	ck_assert_int_eq(msg_chunk_decode_head(MSG_CHUNK_ACK, w.p, hl, w.len, &d, &errstr),
	    -1);
	/* the data buffer: pooled for large chunks, given back with its length */
	ck_assert_int_eq(msg_chunk_decode_head(MSG_CHUNK_DATA, w.p, hl, w.len, &d, &errstr),
	    0);
	d.u.chunk.data = msg_chunk_alloc(d.u.chunk.len);
	memcpy(d.u.chunk.data, data, sizeof data);
	msg_clear(&d);
	ck_assert_ptr_null(d.u.chunk.data);
	/* a failure status with data, and a length over the maximum */
	wr_reset(&w);
	wr_bytes(&w, data, 32);
	wr_u8(&w, MSG_CHUNK_MISSING);
	wr_u32(&w, 10);
	ck_assert_int_eq(msg_chunk_decode_head(MSG_CHUNK_DATA, w.p, hl, hl + 10, &d, &errstr),
	    -1);
	wr_reset(&w);
	wr_bytes(&w, data, 32);
	wr_u32(&w, MSG_CHUNK_MAX + 1);
	ck_assert_int_eq(msg_chunk_decode_head(MSG_CHUNK_PUT, w.p, 36, 36 +
	    (size_t)MSG_CHUNK_MAX + 1, &d, &errstr), -1);
	ck_assert_str_eq(errstr, "chunk too large");
	wr_free(&w);
}
END_TEST

START_TEST(msg_ref_have_roundtrip)
{
	struct msg m, d;
	struct wr w;
	uint8_t v[3][32];
	const char *errstr;

	memset(&m, 0, sizeof m);
	m.type = MSG_CHUNK_ACK;
	memset(m.u.ref.hash, 3, 32);
	m.u.ref.status = MSG_CHUNK_NOSPACE;
	roundtrip(&m, &d, &w);
	ck_assert_uint_eq(w.len, FRAME_HDR_LEN + 33);
	ck_assert_int_eq(d.u.ref.status, MSG_CHUNK_NOSPACE);
	wr_free(&w);
	m.type = MSG_CHUNK_GET;
	roundtrip(&m, &d, &w);
	ck_assert_uint_eq(w.len, FRAME_HDR_LEN + 32);
	wr_free(&w);

	memset(&m, 0, sizeof m);
	m.type = MSG_HAVE;
	for (int i = 0; i < 3; i++)
		memset(v[i], 9 + i, 32);
	m.u.have.n = 3;
	m.u.have.v = v;
	roundtrip(&m, &d, &w);
	ck_assert_uint_eq(d.u.have.n, 3);
	ck_assert_mem_eq(d.u.have.v, v, sizeof v);
	msg_clear(&d);
	wr_free(&w);
	/* a count over the maximum */
	wr_init(&w, 64);
	wr_u16(&w, MSG_HAVE_MAX + 1);
	ck_assert_int_eq(msg_decode(MSG_HAVE, w.p, w.len, &d, &errstr), -1);
	wr_free(&w);
}
END_TEST

/* The CHUNK_GET example of docs/PROTOCOL.md section 8, byte for byte. */
START_TEST(msg_doc_example)
{
	struct msg m;
	struct wr w;
	uint8_t want[8 + 32] = { 0x50, 0x32, 0x01, 0x14, 0x00, 0x00, 0x00, 0x20 };

	memset(&m, 0, sizeof m);
	m.type = MSG_CHUNK_GET;
	for (int i = 0; i < 32; i++) {
		m.u.ref.hash[i] = (uint8_t)i;
		want[8 + i] = (uint8_t)i;
	}
	wr_init(&w, 64);
	ck_assert_int_eq(msg_frame(&w, &m), 0);
	ck_assert_uint_eq(w.len, sizeof want);
	ck_assert_mem_eq(w.p, want, sizeof want);
	wr_reset(&w);
	m.type = MSG_CHUNK_ACK;
	m.u.ref.status = MSG_CHUNK_NOSPACE;
	ck_assert_int_eq(msg_frame(&w, &m), 0);
	ck_assert_uint_eq(w.len, 8 + 33);
	ck_assert_uint_eq(w.p[3], 0x13);
	ck_assert_uint_eq(w.p[7], 0x21);
	ck_assert_uint_eq(w.p[40], 1);
	wr_free(&w);
}
END_TEST

/* ---- database --------------------------------------------------------------------- */

static char tmpdir[64];

static int
rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	return remove(path);
}

/* The digest kept by the writes of its connection (db_digest_attach) equals the one
 * rebuilt from every row, after a random sequence of local versions, deletes, remote
 * versions (newer, older, tombstones), tombstone expiry, transactions committed and
 * rolled back; so does its part over the rows older than a recent cutoff. Versions
 * run from 14 s ago to about 2 s ahead (2000 steps of 8 ms on average). */
struct before_collect {
	uint64_t b[256];
	uint32_t n;
	uint64_t cutoff_ms;
};

static int
before_cb(void *arg, const char *key, uint64_t version, const uint8_t origin[32],
    int deleted)
{
	struct before_collect *c = arg;

	if ((version >> 16) < c->cutoff_ms) {
		repl_digest_add(c->b, key, version, origin, deleted);
		c->n++;
	}
	return 0;
}

static void
digest_full(struct db *db, uint64_t b[256], uint32_t *n)
{
	struct db_digest *dg = db_digest_new(repl_digest_entry);
	char *cause = NULL;

	ck_assert_msg(db_digest_rebuild(dg, db, &cause) == 0, "%s", cause);
	ck_assert_int_eq(db_digest_read(dg, b, n), 0);
	db_digest_free(dg);
}

START_TEST(digest_incremental)
{
	struct db *db;
	struct db_digest *dg;
	char *cause = NULL, path[128], key[32];
	int64_t t0 = wall_ms();
	uint64_t inc[256], full[256], n, hlc = (uint64_t)t0 - 14000;
	uint32_t cinc, cfull;
	unsigned seed = 12345;
	struct manifest m;
	uint8_t h[32], o[32];

	snprintf(tmpdir, sizeof tmpdir, "/tmp/p2p-test-repl.XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(tmpdir));
	snprintf(path, sizeof path, "%s/p2p.db", tmpdir);
	ck_assert_msg(db_open(&db, path, 0, &cause) == 0, "%s", cause);
	dg = db_digest_new(repl_digest_entry);
	ck_assert_int_eq(db_digest_read(dg, inc, &cinc), -1); /* not computed yet */
	db_digest_attach(db, dg);
	ck_assert_int_eq(db_digest_rebuild(dg, db, &cause), 0);
	for (int step = 0; step < 2000; step++) {
		struct db_file f;
		unsigned op = rand_r(&seed) % 100, k = rand_r(&seed) % 40;
		int tx = rand_r(&seed) % 4 == 0, rollback = tx && rand_r(&seed) % 3 == 0;

		snprintf(key, sizeof key, "k%u", k);
		memset(&f, 0, sizeof f);
		f.key = key;
		id_of(o, rand_r(&seed) % 3);
		memcpy(f.origin, o, 32);
		manifest_init(&m, 4096);
		memset(h, (int)(rand_r(&seed) % 250), 32);
		manifest_add(&m, h);
		m.size = 1 + rand_r(&seed) % 4096;
		manifest_hash(&m, f.manifest_hash);
		/* versions (ms) mostly increase, to about now; some arrive late (older
		 * than the current one, by up to 3 s) */
		hlc += 1 + rand_r(&seed) % 15;
		f.version = (op % 5 == 0 ? hlc - rand_r(&seed) % 3000 : hlc) << 16;
		if (tx)
			ck_assert_int_eq(db_begin(db, &cause), 0);
		if (op < 35)
			ck_assert_msg(db_file_put(db, &f, &m, &cause) == 0, "%s", cause);
		else if (op < 60)
			ck_assert_msg(db_file_put_remote(db, &f, &m, &cause) == 0, "%s", cause);
		else if (op < 75) {
			f.deleted = 1;
			ck_assert_msg(db_file_put_remote(db, &f, NULL, &cause) == 0, "%s", cause);
		} else if (op < 90)
			ck_assert_int_ne(db_file_delete(db, key, f.version, o, 1, &cause), -1);
		else if (op < 93)
			ck_assert_int_eq(db_tombstones_expire(db, (hlc - rand_r(&seed) % 5000) <<
			    16, &n, &cause), 0);
		else {
			/* the same version again: a no-op */
			ck_assert_msg(db_file_put(db, &f, &m, &cause) == 0, "%s", cause);
			ck_assert_msg(db_file_put(db, &f, &m, &cause) == 0, "%s", cause);
		}
		if (tx && rollback)
			db_rollback(db);
		else if (tx)
			ck_assert_int_eq(db_commit(db, &cause), 0);
		manifest_free(&m);
		if (step % 97 == 0 || step == 1999) {
			ck_assert_int_eq(db_digest_read(dg, inc, &cinc), 0);
			digest_full(db, full, &cfull);
			ck_assert_msg(memcmp(inc, full, sizeof inc) == 0,
			    "digest differs from a rebuild after step %d", step);
			ck_assert_uint_eq(cinc, cfull);
		}
	}
	/* the digest of the rows older than a recent cutoff (on the second grid), below
	 * the newest version; an entry is placed by the clock at its commit, so this holds
	 * if the steps ran faster than the versions advanced (8 ms each: 16 s) */
	for (int64_t back = 1000; wall_ms() - t0 < 12000 && back <= 8000; back += 1500) {
		int64_t now = wall_ms(), cut = (int64_t)hlc - back;
		struct before_collect c;

		memset(&c, 0, sizeof c);
		c.cutoff_ms = (uint64_t)(cut / 1000 * 1000);
		ck_assert_int_eq(db_files_entries(db, before_cb, &c, &cause), 0);
		ck_assert_int_eq(db_digest_read_before(dg, now, cut, inc, &cinc), 0);
		ck_assert_msg(memcmp(inc, c.b, sizeof inc) == 0,
		    "digest of the rows before now - %lld ms differs", (long long)back);
		ck_assert_uint_eq(cinc, c.n);
		if (back == 1000)
			ck_assert_uint_lt(c.n, cfull); /* some rows were younger */
	}
	/* too far back for the ring */
	ck_assert_int_eq(db_digest_read_before(dg, wall_ms(), wall_ms() - 60000, inc, &cinc),
	    -1);
	ck_assert_uint_gt(cfull, 10);
	db_digest_attach(db, NULL);
	db_digest_free(dg);
	db_close(db);
	nftw(tmpdir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}
END_TEST

static int
count_cb(void *arg, const struct db_file *f)
{
	(void)f;
	(*(uint64_t *)arg)++;
	return 0;
}

START_TEST(db_remote_version)
{
	struct db *db;
	char *cause = NULL, path[128];
	struct manifest m;
	struct db_file f, g;
	uint8_t h[32], o[32];
	uint64_t n, k = 0;

	snprintf(tmpdir, sizeof tmpdir, "/tmp/p2p-test-repl.XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(tmpdir));
	snprintf(path, sizeof path, "%s/p2p.db", tmpdir);
	ck_assert_msg(db_open(&db, path, 0, &cause) == 0, "%s", cause);
	ck_assert_int_ge(db_schema_version(db), 2);

	manifest_init(&m, 4096);
	memset(h, 1, 32);
	manifest_add(&m, h);
	m.size = 100;
	memset(&f, 0, sizeof f);
	f.key = "r";
	f.version = 5 << 16;
	id_of(o, 4);
	memcpy(f.origin, o, 32);
	f.prev_version = 3;
	memset(f.prev_origin, 7, 32);
	manifest_hash(&m, f.manifest_hash);
	ck_assert_msg(db_file_put_remote(db, &f, &m, &cause) == 0, "%s", cause);
	/* the chunk is known but not held */
	ck_assert_int_eq(db_chunk_have(db, h, &cause), 0);
	ck_assert_int_eq(db_file_get(db, "r", 0, &g, &cause), 0);
	ck_assert_uint_eq(g.chunks_present, 0);
	ck_assert_uint_eq(g.prev_version, 3);
	ck_assert_uint_eq(g.prev_origin[0], 7);
	db_file_clear(&g);
	ck_assert_int_eq(db_files_incomplete(db, count_cb, &k, &cause), 0);
	ck_assert_uint_eq(k, 1); /* the repair scan's list */
	/* received: held now */
	ck_assert_int_eq(db_chunk_put(db, h, 100, &cause), 0);
	k = 0;
	ck_assert_int_eq(db_files_incomplete(db, count_cb, &k, &cause), 0);
	ck_assert_uint_eq(k, 0);
	ck_assert_int_eq(db_chunk_have(db, h, &cause), 1);
	ck_assert_int_eq(db_file_get(db, "r", 0, &g, &cause), 0);
	ck_assert_uint_eq(g.chunks_present, 1);
	db_file_clear(&g);

	/* a newer tombstone drops it; the chunk becomes unreferenced */
	memset(&f, 0, sizeof f);
	f.key = "r";
	f.version = 6 << 16;
	f.deleted = 1;
	ck_assert_int_eq(db_file_put_remote(db, &f, NULL, &cause), 0);
	ck_assert_int_eq(db_file_get(db, "r", 1, &g, &cause), 1);
	ck_assert_int_eq(g.deleted, 1);
	db_file_clear(&g);
	/* tombstones expire below the cutoff only */
	ck_assert_int_eq(db_tombstones_expire(db, 6 << 16, &n, &cause), 0);
	ck_assert_uint_eq(n, 0);
	ck_assert_int_eq(db_tombstones_expire(db, 7 << 16, &n, &cause), 0);
	ck_assert_uint_eq(n, 1);
	ck_assert_int_eq(db_file_get(db, "r", 1, &g, &cause), 1);
	db_file_clear(&g);

	/* rows of chunks neither held nor referenced are forgotten */
	memset(h, 2, 32);
	manifest_free(&m);
	manifest_init(&m, 4096);
	manifest_add(&m, h);
	m.size = 10;
	memset(&f, 0, sizeof f);
	f.key = "s";
	f.version = 8 << 16;
	manifest_hash(&m, f.manifest_hash);
	ck_assert_int_eq(db_file_put_remote(db, &f, &m, &cause), 0);
	ck_assert_int_eq(db_chunks_forget_remote(db, &n, &cause), 0);
	ck_assert_uint_eq(n, 0);
	memset(&f, 0, sizeof f);
	f.key = "s";
	f.version = 9 << 16;
	f.deleted = 1;
	ck_assert_int_eq(db_file_put_remote(db, &f, NULL, &cause), 0);
	ck_assert_int_eq(db_chunks_forget_remote(db, &n, &cause), 0);
	ck_assert_uint_eq(n, 1);
	/* shares of an unknown peer are skipped, not an error */
	ck_assert_int_eq(db_share_set_known(db, o, h, 1, &cause), 1);
	manifest_free(&m);
	db_close(db);
	nftw(tmpdir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}
END_TEST

/* How many CHUNK_GETs of chunks of len bytes one peer gets at once. */
static unsigned
window_of(uint64_t len)
{
	uint32_t charge = repl_get_charge(len);
	uint64_t bytes = 0;
	unsigned n = 0;

	while (repl_get_room(n, bytes, charge)) {
		n++;
		bytes += charge;
	}
	return n;
}

/* The fetch window counts bytes: 4 KiB chunks were asked 6 at a time like 1 MiB ones,
 * leaving the link idle (a 32 MiB get of 4 KiB chunks took ~20 s, 1 s with 64). */
START_TEST(get_window_bytes)
{
	ck_assert_uint_eq(window_of(4096), REPL_GET_WINDOW_MAX);
	ck_assert_uint_eq(window_of(64 * 1024), REPL_GET_WINDOW_MAX);
	ck_assert_uint_eq(window_of(256 * 1024), 24);
	ck_assert_uint_eq(window_of(1024 * 1024), 6);
	/* unknown length, or above the largest chunk sent: counted as the largest */
	ck_assert_uint_eq(repl_get_charge(0), REPL_GET_LEN_UNKNOWN);
	ck_assert_uint_eq(repl_get_charge(16u << 20), REPL_GET_LEN_UNKNOWN);
	ck_assert_uint_eq(window_of(0), 6);
	/* one is always allowed to an idle peer; never more than the cap */
	ck_assert(repl_get_room(0, 0, REPL_GET_LEN_UNKNOWN));
	ck_assert(!repl_get_room(1, REPL_GET_WINDOW_BYTES, 1));
	ck_assert(!repl_get_room(REPL_GET_WINDOW_MAX, 0, 1));
	/* memory: what a peer can have outstanding stays under window + one chunk */
	ck_assert_uint_le((uint64_t)window_of(4096) * 4096, REPL_GET_WINDOW_BYTES);
}
END_TEST

/* The receiver's hint for FILEs: a writer's versions in its push order are new (no
 * read); anything at or below what was seen of that writer, or below the floor, may be
 * recorded (looked up). A full table pushes an origin out and raises the floor, so what
 * was seen of it still counts as "may be recorded". */
START_TEST(seen_versions)
{
	struct repl_seen s;
	uint8_t a[32], b[32], o[32];

	memset(a, 0xaa, 32);
	memset(b, 0xbb, 32);
	repl_seen_init(&s, 100);
	ck_assert(!repl_seen_new(&s, a, 50));   /* under the floor: may be here */
	ck_assert(!repl_seen_new(&s, a, 100));
	ck_assert(repl_seen_new(&s, a, 101));   /* a push */
	ck_assert(repl_seen_new(&s, a, 105));
	ck_assert(!repl_seen_new(&s, a, 103));  /* older than seen: anti-entropy */
	ck_assert(!repl_seen_new(&s, a, 105));  /* the same again */
	ck_assert(repl_seen_new(&s, b, 102));   /* each writer its own order */
	ck_assert(!repl_seen_new(&s, b, 101));
	ck_assert(repl_seen_new(&s, a, 106));

	/* full: the first origin goes out; its 106 is under the floor from then on */
	for (unsigned i = 0; i < REPL_SEEN_MAX - 2; i++) {
		memset(o, 0, 32);
		o[0] = (uint8_t)i;
		o[1] = 1;
		ck_assert(repl_seen_new(&s, o, 200 + i));
	}
	ck_assert_uint_eq(s.n, REPL_SEEN_MAX);
	o[0] = 0xff;
	ck_assert(repl_seen_new(&s, o, 110));   /* pushes a (106) out */
	ck_assert_uint_ge(s.floor, 106);
	ck_assert(!repl_seen_new(&s, a, 106));  /* may be here: looked up */
	/* a came back in b's place; b comes back in that of the origin at 200 */
	ck_assert(!repl_seen_new(&s, b, 107));
	ck_assert_uint_eq(s.floor, 200);
	ck_assert(!repl_seen_new(&s, b, 200));
	ck_assert(repl_seen_new(&s, b, 300));
	ck_assert(repl_seen_new(&s, a, 201));

	/* an unknown clock (UINT64_MAX): every FILE is looked up */
	repl_seen_init(&s, UINT64_MAX);
	ck_assert(!repl_seen_new(&s, a, UINT64_MAX - 1));
	ck_assert(!repl_seen_new(&s, a, 1));
}
END_TEST

static Suite *
repl_suite(void)
{
	Suite *s = suite_create("repl");
	TCase *tc;

	tc = tcase_create("placement");
	tcase_add_test(tc, place_score_defined);
	tcase_add_test(tc, place_top_r_ordered);
	tcase_add_test(tc, place_stable);
	suite_add_tcase(s, tc);
	tc = tcase_create("fetch");
	tcase_add_test(tc, get_window_bytes);
	tcase_add_test(tc, seen_versions);
	suite_add_tcase(s, tc);
	tc = tcase_create("digest");
	tcase_add_test(tc, digest_order_free);
	suite_add_tcase(s, tc);
	tc = tcase_create("conflicts");
	tcase_add_test(tc, conflict_name_format);
	tcase_add_test(tc, resolve_cases);
	suite_add_tcase(s, tc);
	tc = tcase_create("messages");
	tcase_add_test(tc, msg_file_roundtrip);
	tcase_add_test(tc, msg_file_limits);
	tcase_add_test(tc, msg_file_more);
	tcase_add_test(tc, msg_digest_roundtrip);
	tcase_add_test(tc, msg_chunk_roundtrip);
	tcase_add_test(tc, msg_chunk_head_decode);
	tcase_add_test(tc, msg_ref_have_roundtrip);
	tcase_add_test(tc, msg_doc_example);
	suite_add_tcase(s, tc);
	tc = tcase_create("db");
	tcase_set_timeout(tc, 60); /* a few thousand small transactions, each synced */
	tcase_add_test(tc, db_remote_version);
	tcase_add_test(tc, digest_incremental);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	SRunner *sr = srunner_create(repl_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? 1 : 0;
}
