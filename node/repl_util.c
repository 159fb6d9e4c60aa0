/* repl_util.c: the pure pieces of replication (see repl.h): rendezvous placement,
 * digest buckets, the fetch window, conflict names and conflict resolution. No I/O, no
 * globals. */
#include "node/repl.h"
#include "store/store.h"
#include "lib/util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static uint64_t
be64(const uint8_t *p)
{
	uint64_t v = 0;

	for (int i = 0; i < 8; i++)
		v = v << 8 | p[i];
	return v;
}

static void
put64(uint8_t *p, uint64_t v)
{
	for (int i = 7; i >= 0; i--) {
		p[i] = (uint8_t)v;
		v >>= 8;
	}
}

uint64_t
repl_score(const uint8_t chunk[32], const uint8_t node[32])
{
	uint8_t in[64], out[HASH_LEN];

	memcpy(in, chunk, 32);
	memcpy(in + 32, node, 32);
	hash_buf(in, sizeof in, out);
	return be64(out);
}

struct ranked {
	uint64_t score;
	const uint8_t *id;
	size_t idx;
};

static int
ranked_cmp(const void *a, const void *b)
{
	const struct ranked *x = a, *y = b;

	if (x->score != y->score)
		return x->score > y->score ? -1 : 1;
	return memcmp(x->id, y->id, 32);
}

size_t
repl_place(const uint8_t chunk[32], const uint8_t (*nodes)[32], size_t n, size_t r,
    size_t *out)
{
	struct ranked *v;
	size_t i;

	if (n == 0)
		return 0;
	if (r == 0 || r > n)
		r = n;
	v = xcalloc(n, sizeof *v);
	for (i = 0; i < n; i++) {
		v[i].score = repl_score(chunk, nodes[i]);
		v[i].id = nodes[i];
		v[i].idx = i;
	}
	qsort(v, n, sizeof *v, ranked_cmp);
	for (i = 0; i < r; i++)
		out[i] = v[i].idx;
	free(v);
	return r;
}

unsigned
repl_bucket(const char *key)
{
	uint8_t h[HASH_LEN];

	hash_buf(key, strlen(key), h);
	return h[0];
}

uint64_t
repl_entry_hash(const char *key, uint64_t version, const uint8_t origin[32], int deleted)
{
	uint8_t buf[KEY_MAX + 1 + 8 + 32 + 1], h[HASH_LEN];
	size_t klen = strnlen(key, KEY_MAX), off;

	memcpy(buf, key, klen);
	buf[klen] = 0;
	off = klen + 1;
	put64(buf + off, version);
	off += 8;
	memcpy(buf + off, origin, 32);
	off += 32;
	buf[off++] = deleted ? 1 : 0;
	hash_buf(buf, off, h);
	return be64(h);
}

void
repl_digest_add(uint64_t bucket[256], const char *key, uint64_t version,
    const uint8_t origin[32], int deleted)
{
	bucket[repl_bucket(key)] ^= repl_entry_hash(key, version, origin, deleted);
}

uint64_t
repl_digest_entry(const char *key, uint64_t version, const uint8_t origin[32],
    int deleted, unsigned *bucket)
{
	*bucket = repl_bucket(key);
	return repl_entry_hash(key, version, origin, deleted);
}

void
repl_conflict_name(const char *key, uint64_t version, const uint8_t origin[32], char *out,
    size_t outlen)
{
	char suffix[64], oh[65];
	size_t klen = strlen(key), slen, max;

	hex_encode(origin, 32, oh);
	snprintf(suffix, sizeof suffix, ".conflict-%.8s-%016llx", oh,
	    (unsigned long long)version);
	slen = strlen(suffix);
	max = KEY_MAX - slen;
	if (klen > max) {
		klen = max;
		/* do not cut a UTF-8 sequence: back up over continuation bytes */
		while (klen > 0 && ((unsigned char)key[klen] & 0xc0) == 0x80)
			klen--;
	}
	snprintf(out, outlen, "%.*s%s", (int)klen, key, suffix);
}

uint32_t
repl_get_charge(uint64_t len)
{
	return len == 0 || len > REPL_GET_LEN_UNKNOWN ? REPL_GET_LEN_UNKNOWN : (uint32_t)len;
}

int
repl_get_room(unsigned n, uint64_t bytes, uint32_t charge)
{
	if (n >= REPL_GET_WINDOW_MAX)
		return 0;
	return n == 0 || bytes + charge <= REPL_GET_WINDOW_BYTES;
}

int
repl_ver_cmp(uint64_t va, const uint8_t oa[32], uint64_t vb, const uint8_t ob[32])
{
	if (va != vb)
		return va < vb ? -1 : 1;
	return memcmp(oa, ob, 32);
}

enum repl_action
repl_resolve(const struct repl_ver *cur, const struct repl_ver *in)
{
	int c;

	if (cur == NULL)
		return REPL_APPLY;
	c = repl_ver_cmp(in->version, in->origin, cur->version, cur->origin);
	if (c == 0)
		return REPL_SAME;
	if (c > 0) {
		/* in wins; cur is lost unless in's writer had seen it (or something newer) */
		if (!cur->deleted && repl_ver_cmp(in->prev_version, in->prev_origin,
		    cur->version, cur->origin) < 0)
			return REPL_APPLY_KEEP_CUR;
		return REPL_APPLY;
	}
	if (!in->deleted && repl_ver_cmp(cur->prev_version, cur->prev_origin, in->version,
	    in->origin) < 0)
		return REPL_KEEP_IN;
	return REPL_IGNORE;
}

void
repl_seen_init(struct repl_seen *s, uint64_t floor)
{
	memset(s, 0, sizeof *s);
	s->floor = floor;
}

int
repl_seen_new(struct repl_seen *s, const uint8_t origin[32], uint64_t version)
{
	size_t i;
	int fresh;

	for (i = 0; i < s->n; i++)
		if (memcmp(s->v[i].origin, origin, 32) == 0)
			break;
	if (i == s->n) {
		if (s->n < REPL_SEEN_MAX)
			i = s->n++;
		else {
			/* full: the origin pushed out leaves its versions under the floor */
			i = s->next;
			s->next = (s->next + 1) % REPL_SEEN_MAX;
			if (s->v[i].max > s->floor)
				s->floor = s->v[i].max;
		}
		memcpy(s->v[i].origin, origin, 32);
		s->v[i].max = s->floor;
	}
	fresh = version > s->v[i].max;
	if (fresh)
		s->v[i].max = version;
	return fresh;
}
