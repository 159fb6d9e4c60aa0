/* ticket.c: see ticket.h. */
#include "p2p/ticket.h"
#include "lib/buf.h"
#include "lib/util.h"

#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>

static const char b64url[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

static int
addr_ok(const char *s, size_t len)
{
	if (len == 0 || len > TICKET_ADDR_MAX)
		return 0;
	for (size_t i = 0; i < len; i++)
		if ((unsigned char)s[i] < 0x21 || (unsigned char)s[i] > 0x7e)
			return 0;
	return 1;
}

int
ticket_add_addr(struct ticket *t, const char *addr)
{
	size_t len = strnlen(addr, TICKET_ADDR_MAX + 1);

	if (t->naddrs >= TICKET_MAX_ADDRS || !addr_ok(addr, len))
		return -1;
	memcpy(t->addrs[t->naddrs], addr, len);
	t->addrs[t->naddrs][len] = '\0';
	t->naddrs++;
	return 0;
}

int
ticket_encode(struct wr *w, const struct ticket *t)
{
	if (t->naddrs > TICKET_MAX_ADDRS)
		return -1;
	wr_u8(w, TICKET_VERSION);
	wr_bytes(w, t->key.k, NETKEY_LEN);
	wr_u8(w, (uint8_t)t->naddrs);
	for (size_t i = 0; i < t->naddrs; i++) {
		size_t len = strnlen(t->addrs[i], TICKET_ADDR_MAX + 1);

		if (!addr_ok(t->addrs[i], len))
			return -1;
		wr_str16(w, t->addrs[i], len);
	}
	return wr_ok(w) ? 0 : -1;
}

int
ticket_decode(struct rd *r, struct ticket *t, const char **errstr)
{
	uint8_t version, n;

	memset(t, 0, sizeof *t);
	if (rd_u8(r, &version) == -1) {
		*errstr = "empty ticket";
		return -1;
	}
	if (version != TICKET_VERSION) {
		*errstr = "unsupported ticket version";
		return -1;
	}
	rd_bytes(r, t->key.k, NETKEY_LEN);
	if (rd_u8(r, &n) == -1) {
		*errstr = "truncated ticket";
		goto bad;
	}
	if (n > TICKET_MAX_ADDRS) {
		*errstr = "too many addresses in ticket";
		goto bad;
	}
	for (size_t i = 0; i < n; i++) {
		const uint8_t *p;
		size_t len;

		if (rd_str16(r, &p, &len, TICKET_ADDR_MAX) == -1) {
			*errstr = "truncated ticket or over-long address";
			goto bad;
		}
		if (!addr_ok((const char *)p, len)) {
			*errstr = "bad address in ticket";
			goto bad;
		}
		memcpy(t->addrs[i], p, len);
		t->addrs[i][len] = '\0';
	}
	if (rd_end(r) == -1) {
		*errstr = "trailing bytes in ticket";
		goto bad;
	}
	t->naddrs = n;
	return 0;
bad:
	netkey_clear(&t->key);
	t->naddrs = 0;
	return -1;
}

char *
ticket_to_string(const struct ticket *t)
{
	struct wr w;
	char *s = NULL, *o;
	size_t i;

	wr_init(&w, TICKET_BLOB_MAX);
	if (ticket_encode(&w, t) == -1)
		goto out;
	s = xmalloc(TICKET_STR_MAX + 1);
	o = stpcpy(s, TICKET_PREFIX);
	for (i = 0; i + 3 <= w.len; i += 3) {
		uint32_t v = (uint32_t)w.p[i] << 16 | (uint32_t)w.p[i + 1] << 8 | w.p[i + 2];
		*o++ = b64url[v >> 18 & 63];
		*o++ = b64url[v >> 12 & 63];
		*o++ = b64url[v >> 6 & 63];
		*o++ = b64url[v & 63];
	}
	if (w.len - i == 1) {
		uint32_t v = (uint32_t)w.p[i] << 16;
		*o++ = b64url[v >> 18 & 63];
		*o++ = b64url[v >> 12 & 63];
	} else if (w.len - i == 2) {
		uint32_t v = (uint32_t)w.p[i] << 16 | (uint32_t)w.p[i + 1] << 8;
		*o++ = b64url[v >> 18 & 63];
		*o++ = b64url[v >> 12 & 63];
		*o++ = b64url[v >> 6 & 63];
	}
	*o = '\0';
out:
	if (w.p != NULL)
		OPENSSL_cleanse(w.p, w.cap);
	wr_free(&w);
	return s;
}

static int
b64val(unsigned char c)
{
	const char *p;

	if (c == '\0' || (p = strchr(b64url, c)) == NULL)
		return -1;
	return (int)(p - b64url);
}

/* Strict base64url without padding: a length of 1 mod 4 and non-zero unused bits are
 * rejected, so each blob has exactly one string. out: at least len * 3 / 4 bytes. */
static int
b64url_decode(const char *s, size_t len, uint8_t *out, size_t *outlen)
{
	size_t o = 0, i;
	uint32_t acc = 0;
	int bits = 0;

	if (len % 4 == 1)
		return -1;
	for (i = 0; i < len; i++) {
		int v = b64val((unsigned char)s[i]);
		if (v < 0)
			return -1;
		acc = acc << 6 | (uint32_t)v;
		bits += 6;
		if (bits >= 8) {
			bits -= 8;
			out[o++] = (uint8_t)(acc >> bits);
			acc &= (1u << bits) - 1;
		}
	}
	if (acc != 0)
		return -1;
	*outlen = o;
	return 0;
}

int
ticket_from_string(const char *s, struct ticket *t, char **cause)
{
	const size_t plen = sizeof(TICKET_PREFIX) - 1;
	uint8_t blob[TICKET_BLOB_MAX + 3];
	const char *errstr;
	size_t len, blen;
	struct rd r;
	int rc = -1;

	memset(t, 0, sizeof *t);
	while (*s == ' ' || *s == '\t' || *s == '\n' || *s == '\r')
		s++;
	/* The whole string: a prefix cap let "valid ticket + spaces + junk" through. */
	len = strlen(s);
	while (len > 0 && (s[len - 1] == ' ' || s[len - 1] == '\t' || s[len - 1] == '\n' ||
	    s[len - 1] == '\r'))
		len--;
	if (len < plen || memcmp(s, TICKET_PREFIX, plen) != 0)
		return set_cause(cause, "not a join ticket (it should start with \"%s\")",
		    TICKET_PREFIX);
	if (len > TICKET_STR_MAX)
		return set_cause(cause, "join ticket is too long");
	if (b64url_decode(s + plen, len - plen, blob, &blen) == -1)
		return set_cause(cause, "join ticket is damaged (bad characters or length; "
		    "was it copied whole?)");
	rd_init(&r, blob, blen);
	if (ticket_decode(&r, t, &errstr) == -1)
		set_cause(cause, "join ticket: %s", errstr);
	else
		rc = 0;
	OPENSSL_cleanse(blob, sizeof blob);
	return rc;
}
