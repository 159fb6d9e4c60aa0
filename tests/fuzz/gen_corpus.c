/* gen_corpus.c: writes the seed corpora under DIR/<name>/ (`make fuzz-corpus`, DIR is
 * tests/fuzz/corpus). Valid manifests, messages, frames and tickets come from the real
 * encoders; invalid ones are those outputs broken in one way each (truncated, a byte
 * too many, a field out of range), so each seed reaches a different decoder branch.
 * Text seeds (keys, numbers, config files, HTTP key paths) are listed here too.
 * Deterministic: same sources, same files. Seeds are named
 * "ok-..." (should be accepted) or "bad-..." (should be rejected); the harnesses do not
 * rely on the names. Crash reproducers are added by hand as "crash-..." files. */
#include "lib/buf.h"
#include "lib/config.h"
#include "lib/util.h"
#include "p2p/frame.h"
#include "p2p/msg.h"
#include "p2p/ticket.h"
#include "store/store.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <openssl/evp.h>

static const char *root;
static unsigned long nfiles;

static void
put(const char *name, const char *file, const void *p, size_t len)
{
	char path[1024];
	FILE *f;

	snprintf(path, sizeof path, "%s/%s", root, name);
	if (mkdir(path, 0755) == -1 && errno != EEXIST) {
		perror(path);
		exit(1);
	}
	snprintf(path, sizeof path, "%s/%s/%s", root, name, file);
	if ((f = fopen(path, "wb")) == NULL || fwrite(p, 1, len, f) != len || fclose(f) != 0) {
		perror(path);
		exit(1);
	}
	nfiles++;
}

static void
puts_(const char *name, const char *file, const char *s)
{
	put(name, file, s, strlen(s));
}

static void
sha256(const void *p, size_t n, uint8_t out[HASH_LEN])
{
	if (EVP_Digest(p, n, out, NULL, EVP_sha256(), NULL) != 1)
		exit(1);
}

/* ---- manifests ------------------------------------------------------------------ */

static void
manifest_seed(const char *file, uint32_t chunk_size, uint64_t size, int bad)
{
	struct manifest m;
	uint8_t h[HASH_LEN], *enc;
	size_t len;
	char tag[32];

	manifest_init(&m, chunk_size);
	m.size = size;
	snprintf(tag, sizeof tag, "file %llu", (unsigned long long)size);
	sha256(tag, strlen(tag), m.file_hash);
	if (size == 0)
		sha256("", 0, m.file_hash);
	for (uint64_t i = 0; i < size / chunk_size + (size % chunk_size != 0); i++) {
		snprintf(tag, sizeof tag, "chunk %llu", (unsigned long long)i);
		sha256(tag, strlen(tag), h);
		manifest_add(&m, h);
	}
	if (manifest_encode(&m, &enc, &len) == -1) {
		fprintf(stderr, "manifest_encode %s failed\n", file);
		exit(1);
	}
	if (!bad) {
		put("manifest", file, enc, len);
	} else {
		uint8_t *b = xmalloc(len + 1);
		char name[64];

		memcpy(b, enc, len);
		snprintf(name, sizeof name, "bad-truncated-%s", file);
		put("manifest", name, b, len - 1);
		b[len] = 0;
		snprintf(name, sizeof name, "bad-trailing-%s", file);
		put("manifest", name, b, len + 1);
		memcpy(b, enc, len);
		b[3] = 'X';
		snprintf(name, sizeof name, "bad-magic-%s", file);
		put("manifest", name, b, len);
		memcpy(b, enc, len);
		b[4] = 2;
		snprintf(name, sizeof name, "bad-version-%s", file);
		put("manifest", name, b, len);
		memcpy(b, enc, len);
		b[5] = b[6] = b[7] = 0, b[8] = 1; /* chunk_size 1 */
		snprintf(name, sizeof name, "bad-chunksize-%s", file);
		put("manifest", name, b, len);
		memcpy(b, enc, len);
		b[16] ^= 0x01; /* size no longer matches nchunks (when it was a multiple) */
		b[15] ^= 0x80;
		snprintf(name, sizeof name, "bad-size-%s", file);
		put("manifest", name, b, len);
		memcpy(b, enc, len);
		b[49] = 0xff; /* nchunks huge */
		snprintf(name, sizeof name, "bad-nchunks-%s", file);
		put("manifest", name, b, len);
		snprintf(name, sizeof name, "bad-short-header-%s", file);
		put("manifest", name, b, 20);
		free(b);
	}
	free(enc);
	manifest_free(&m);
}

static void
gen_manifest(void)
{
	manifest_seed("ok-empty", CHUNK_SIZE_DEFAULT, 0, 0);
	manifest_seed("ok-one-byte", CHUNK_SIZE_MIN, 1, 0);
	manifest_seed("ok-two-chunks-4k", CHUNK_SIZE_MIN, 5000, 0);
	manifest_seed("ok-exact-4k", CHUNK_SIZE_MIN, 3 * CHUNK_SIZE_MIN, 0);
	manifest_seed("ok-max-chunk", CHUNK_SIZE_MAX, CHUNK_SIZE_MAX + 1, 0);
	manifest_seed("ok-three-1m", CHUNK_SIZE_DEFAULT, 3 * CHUNK_SIZE_DEFAULT - 1, 0);
	manifest_seed("two-chunks", CHUNK_SIZE_MIN, 2 * CHUNK_SIZE_MIN, 1);
	puts_("manifest", "bad-empty", "");
	puts_("manifest", "bad-magic-only", "P2PM");
}

/* ---- messages and frames -------------------------------------------------------- */

static void
fill(uint8_t *p, size_t n, uint8_t seed)
{
	for (size_t i = 0; i < n; i++)
		p[i] = (uint8_t)(seed + i * 7);
}

/* Encode m; write "type byte | payload" to msg/ and the frame to frame/. */
static void
msg_seed(const char *file, const struct msg *m)
{
	struct wr w;
	char name[64];

	wr_init(&w, FRAME_HDR_LEN + FRAME_MAX_PAYLOAD);
	wr_u8(&w, m->type);
	if (msg_encode(&w, m) == -1) {
		fprintf(stderr, "msg_encode %s failed\n", file);
		exit(1);
	}
	put("msg", file, w.p, w.len);
	if (w.len > 1) {
		snprintf(name, sizeof name, "bad-truncated-%s", file + 3);
		put("msg", name, w.p, w.len - 1);
	}
	wr_u8(&w, 0);
	snprintf(name, sizeof name, "bad-trailing-%s", file + 3);
	put("msg", name, w.p, w.len);

	wr_reset(&w);
	if (msg_frame(&w, m) == -1)
		exit(1);
	put("frame", file, w.p, w.len);
	wr_free(&w);
}

static void
gen_msg(void)
{
	struct msg m, m2;
	struct msg_peer peers[3];
	struct wr w;

	memset(&m, 0, sizeof m);
	m.type = MSG_AUTH;
	fill(m.u.auth.mac, MSG_AUTH_LEN, 1);
	msg_seed("ok-auth", &m);

	memset(&m, 0, sizeof m);
	m.type = MSG_HELLO;
	fill(m.u.hello.id, MSG_ID_LEN, 2);
	strcpy(m.u.hello.version, "p2p 0.1.0");
	msg_seed("ok-hello-no-addrs", &m);
	m.u.hello.naddrs = 3;
	strcpy(m.u.hello.addrs[0], "192.168.1.20:7070");
	strcpy(m.u.hello.addrs[1], "[fe80::1]:7070");
	strcpy(m.u.hello.addrs[2], "bt:AA:BB:CC:DD:EE:FF/3");
	m.u.hello.caps = 0x80000001u;
	msg_seed("ok-hello-3-addrs", &m);

	memset(&m, 0, sizeof m);
	m.type = MSG_PING;
	m.u.ping.nonce = 0x0123456789abcdefull;
	m.u.ping.ts_ms = 1763683200000ull;
	msg_seed("ok-ping", &m);
	m.type = MSG_PONG;
	msg_seed("ok-pong", &m);

	memset(&m, 0, sizeof m);
	m.type = MSG_PEERS;
	msg_seed("ok-peers-empty", &m);
	memset(peers, 0, sizeof peers);
	for (int i = 0; i < 3; i++) {
		fill(peers[i].id, MSG_ID_LEN, (uint8_t)(10 + i));
		peers[i].last_seen_ms = 1763683200000ull + (uint64_t)i;
	}
	peers[0].transport = MSG_TRANSPORT_TCP;
	strcpy(peers[0].addr, "10.0.0.7:7070");
	peers[1].transport = MSG_TRANSPORT_RFCOMM;
	strcpy(peers[1].addr, "bt:00:11:22:33:44:55/1");
	peers[2].transport = 9; /* unknown transport: kept, ignored by receivers */
	strcpy(peers[2].addr, "x");
	m.u.peers.n = 3;
	m.u.peers.v = peers;
	msg_seed("ok-peers-3", &m);

	memset(&m, 0, sizeof m);
	m.type = MSG_GOODBYE;
	m.u.goodbye.reason = MSG_BYE_SHUTDOWN;
	strcpy(m.u.goodbye.text, "node stopping");
	msg_seed("ok-goodbye", &m);
	m.u.goodbye.text[0] = '\0';
	m.u.goodbye.reason = 200;
	msg_seed("ok-goodbye-empty", &m);

	memset(&m, 0, sizeof m);
	m.type = MSG_ERROR;
	m.u.error.code = MSG_ERR_MALFORMED;
	strcpy(m.u.error.text, "bad \xff\x01 bytes are fine in text");
	msg_seed("ok-error", &m);

	/* Replication messages (0x10..0x16). */
	{
		static uint8_t chunks[3][MSG_HASH_LEN], have[3][MSG_HASH_LEN], data[40];

		memset(&m, 0, sizeof m);
		m.type = MSG_FILE;
		strcpy(m.u.file.key, "docs/caf\xc3\xa9.txt");
		m.u.file.version = 7;
		fill(m.u.file.origin, MSG_ID_LEN, 3);
		m.u.file.prev_version = 6;
		fill(m.u.file.prev_origin, MSG_ID_LEN, 4);
		m.u.file.created_ms = 1763683200000ull;
		m.u.file.size = 2 * MSG_CHUNK_SIZE_MIN + 1;
		m.u.file.chunk_size = MSG_CHUNK_SIZE_MIN;
		m.u.file.nchunks = 3;
		fill(m.u.file.file_hash, MSG_HASH_LEN, 5);
		for (int i = 0; i < 3; i++)
			fill(chunks[i], MSG_HASH_LEN, (uint8_t)(20 + i));
		m.u.file.chunks = chunks;
		msg_seed("ok-file-3-chunks", &m);
		m.u.file.size = 0;
		m.u.file.nchunks = 0;
		m.u.file.chunks = NULL;
		msg_seed("ok-file-empty", &m);
		m.u.file.flags = MSG_FILE_DELETED;
		m.u.file.chunk_size = 0;
		msg_seed("ok-file-tombstone", &m);

		memset(&m, 0, sizeof m);
		m.type = MSG_DIGEST;
		m.u.digest.flags = MSG_DIGEST_REPLY;
		m.u.digest.count = 3;
		m.u.digest.bucket[0] = 1;
		m.u.digest.bucket[255] = UINT64_MAX;
		msg_seed("ok-digest", &m);

		memset(&m, 0, sizeof m);
		m.type = MSG_CHUNK_PUT;
		fill(m.u.chunk.hash, MSG_HASH_LEN, 6);
		fill(data, sizeof data, 7);
		m.u.chunk.len = sizeof data;
		m.u.chunk.data = data;
		msg_seed("ok-chunk-put", &m);
		m.type = MSG_CHUNK_DATA;
		m.u.chunk.status = MSG_CHUNK_OK;
		msg_seed("ok-chunk-data", &m);
		m.u.chunk.status = MSG_CHUNK_MISSING;
		m.u.chunk.len = 0;
		m.u.chunk.data = NULL;
		msg_seed("ok-chunk-data-missing", &m);

		memset(&m, 0, sizeof m);
		m.type = MSG_CHUNK_ACK;
		fill(m.u.ref.hash, MSG_HASH_LEN, 8);
		m.u.ref.status = MSG_CHUNK_NOSPACE;
		msg_seed("ok-chunk-ack", &m);
		m.type = MSG_CHUNK_GET;
		m.u.ref.status = 0;
		msg_seed("ok-chunk-get", &m);

		memset(&m, 0, sizeof m);
		m.type = MSG_HAVE;
		msg_seed("ok-have-empty", &m);
		for (int i = 0; i < 3; i++)
			fill(have[i], MSG_HASH_LEN, (uint8_t)(30 + i));
		m.u.have.n = 3;
		m.u.have.v = have;
		msg_seed("ok-have-3", &m);

		/* 0x17, 0x18: the rest of a long chunk list (a FILE with MORE carries 32768
		 * hashes inline: 1 MiB, too big a seed; its flag rules are in test_p2p) */
		memset(&m, 0, sizeof m);
		m.type = MSG_MANIFEST_GET;
		strcpy(m.u.mget.key, "vm/disk.img");
		m.u.mget.version = 9;
		fill(m.u.mget.origin, MSG_ID_LEN, 10);
		m.u.mget.start = MSG_FILE_MAX_CHUNKS;
		msg_seed("ok-manifest-get", &m);
		memset(&m, 0, sizeof m);
		m.type = MSG_MANIFEST_PART;
		m.u.mpart.version = 9;
		fill(m.u.mpart.origin, MSG_ID_LEN, 10);
		m.u.mpart.start = MSG_FILE_MAX_CHUNKS;
		m.u.mpart.n = 3;
		m.u.mpart.v = have;
		msg_seed("ok-manifest-part", &m);
		m.u.mpart.status = MSG_CHUNK_MISSING;
		m.u.mpart.n = 0;
		m.u.mpart.v = NULL;
		msg_seed("ok-manifest-part-missing", &m);
	}

	/* Hand-made invalid payloads. */
	put("msg", "bad-type-0", "\x00", 1);
	puts_("msg", "bad-type-reserved", "\x10hello");
	puts_("msg", "bad-type-ff", "\xff");
	{
		static const uint8_t many[] = { MSG_PEERS, 0x01, 0x01 }; /* n = 257 */
		static const uint8_t lie[] = { MSG_PEERS, 0x00, 0x05, 0, 0 }; /* 5, no bytes */
		put("msg", "bad-peers-too-many", many, sizeof many);
		put("msg", "bad-peers-count-lies", lie, sizeof lie);
	}
	{
		/* MANIFEST_PART with a version out of range but a count and its hashes: the
		 * first fuzz run of 0x18 found the decoder left the count set on this
		 * failure (check_empty) */
		uint8_t part[1 + 8 + 32 + 4 + 1 + 4 + 32];

		memset(part, 0, sizeof part);
		part[0] = MSG_MANIFEST_PART;
		part[1] = 0x80;                     /* version 2^63 */
		part[1 + 8 + 32 + 4 + 1 + 3] = 1;   /* count 1 */
		put("msg", "bad-manifest-part-version", part, sizeof part);
	}
	wr_init(&w, 4096);
	wr_u8(&w, MSG_HELLO);
	wr_bytes(&w, m.u.error.text, MSG_ID_LEN); /* any 32 bytes */
	wr_u8(&w, 1);
	wr_str16(&w, "a b:1", 5); /* a space: not an address */
	wr_str16(&w, "v", 1);
	wr_u32(&w, 0);
	put("msg", "bad-hello-addr-space", w.p, w.len);
	wr_reset(&w);
	wr_u8(&w, MSG_HELLO);
	wr_bytes(&w, m.u.error.text, MSG_ID_LEN);
	wr_u8(&w, 17); /* over MSG_HELLO_MAX_ADDRS */
	put("msg", "bad-hello-17-addrs", w.p, w.len);
	wr_reset(&w);
	wr_u8(&w, MSG_GOODBYE);
	wr_u8(&w, 0);
	wr_str16(&w, "a\0b", 3);
	put("msg", "bad-goodbye-nul", w.p, w.len);
	wr_reset(&w);
	wr_u8(&w, MSG_ERROR);
	wr_u16(&w, 1);
	wr_u16(&w, MSG_TEXT_MAX + 1);
	for (int i = 0; i <= MSG_TEXT_MAX; i++)
		wr_u8(&w, 'e');
	put("msg", "bad-error-text-too-long", w.p, w.len);
	wr_free(&w);

	/* Frames: two in a row, partial, broken headers. */
	memset(&m, 0, sizeof m);
	m.type = MSG_PING;
	m2 = m;
	m2.type = MSG_PONG;
	wr_init(&w, 4096);
	msg_frame(&w, &m);
	msg_frame(&w, &m2);
	put("frame", "ok-ping-pong", w.p, w.len);
	put("frame", "ok-partial-header", w.p, 5);
	put("frame", "ok-partial-payload", w.p, 12);
	w.p[0] = 'Q';
	put("frame", "bad-magic", w.p, w.len);
	w.p[0] = FRAME_MAGIC0;
	w.p[1] = 'X';
	put("frame", "bad-magic-2", w.p, 2);
	w.p[1] = FRAME_MAGIC1;
	w.p[2] = 2;
	put("frame", "bad-version", w.p, 3);
	w.p[2] = FRAME_VERSION;
	w.p[4] = 0x7f;
	put("frame", "bad-too-large", w.p, FRAME_HDR_LEN);
	wr_reset(&w);
	frame_write_hdr(&w, MSG_PING, 0);
	put("frame", "bad-empty-ping", w.p, w.len);
	wr_free(&w);
}

/* ---- tickets -------------------------------------------------------------------- */

static void
ticket_seed(const char *file, const struct ticket *t)
{
	struct wr w;
	char name[64], *s, *ws;

	wr_init(&w, TICKET_BLOB_MAX);
	if (ticket_encode(&w, t) == -1 || (s = ticket_to_string(t)) == NULL) {
		fprintf(stderr, "ticket %s failed\n", file);
		exit(1);
	}
	snprintf(name, sizeof name, "%s-blob", file);
	put("ticket", name, w.p, w.len);
	snprintf(name, sizeof name, "%s-string", file);
	puts_("ticket", name, s);
	xasprintf(&ws, " \t%s\r\n", s);
	snprintf(name, sizeof name, "%s-string-spaces", file);
	puts_("ticket", name, ws);
	snprintf(name, sizeof name, "bad-%s-truncated-blob", file + 3);
	put("ticket", name, w.p, w.len - 1);
	snprintf(name, sizeof name, "bad-%s-truncated-string", file + 3);
	put("ticket", name, s, strlen(s) - 1);
	free(ws);
	free(s);
	wr_free(&w);
}

static void
gen_ticket(void)
{
	struct ticket t;
	char addr[32];

	memset(&t, 0, sizeof t);
	fill(t.key.k, NETKEY_LEN, 0x42);
	ticket_seed("ok-no-addrs", &t);
	ticket_add_addr(&t, "192.168.1.20:7070");
	ticket_add_addr(&t, "[2001:db8::1]:7070");
	ticket_seed("ok-2-addrs", &t);
	while (t.naddrs < TICKET_MAX_ADDRS) {
		snprintf(addr, sizeof addr, "10.0.0.%zu:70%02zu", t.naddrs, t.naddrs);
		ticket_add_addr(&t, addr);
	}
	ticket_seed("ok-16-addrs", &t);

	puts_("ticket", "bad-prefix-only", "p2p1:");
	puts_("ticket", "bad-prefix-wrong", "p2p2:AQ");
	puts_("ticket", "bad-char", "p2p1:AQ*A");
	puts_("ticket", "bad-len-1-mod-4", "p2p1:AQIDB");
	puts_("ticket", "bad-pad-bits", "p2p1:AR");
	puts_("ticket", "bad-padding-char", "p2p1:AQ==");
	{
		static const uint8_t v2[] = { 2 };
		static const uint8_t many[1 + NETKEY_LEN + 1] = { 1, [1 + NETKEY_LEN] = 17 };
		put("ticket", "bad-version-blob", v2, sizeof v2);
		put("ticket", "bad-17-addrs-blob", many, sizeof many);
	}
}

/* ---- text inputs ---------------------------------------------------------------- */

static void
gen_text(void)
{
	static const struct { const char *file, *s; size_t len; } keys[] = {
		{ "ok-ascii", "a", 1 },
		{ "ok-path", "docs/report 2025.pdf", 20 },
		{ "ok-dotdot", "../x", 4 },
		{ "ok-latin", "caf\xc3\xa9", 5 },
		{ "ok-cjk", "\xe6\x97\xa5\xe6\x9c\xac", 6 },
		{ "ok-emoji", "\xf0\x9f\x98\x80", 4 },
		{ "ok-max-cp", "\xf4\x8f\xbf\xbf", 4 },
		{ "ok-nbsp", "\xc2\xa0", 2 },
		{ "bad-empty", "", 0 },
		{ "bad-nul", "a\0b", 3 },
		{ "bad-c0", "a\x01" "b", 3 },
		{ "bad-del", "\x7f", 1 },
		{ "bad-c1", "\xc2\x80", 2 },
		{ "bad-c1-last", "\xc2\x9f", 2 },
		{ "bad-overlong", "\xc0\xaf", 2 },
		{ "bad-overlong-3", "\xe0\x80\xaf", 3 },
		{ "bad-surrogate", "\xed\xa0\x80", 3 },
		{ "bad-beyond", "\xf4\x90\x80\x80", 4 },
		{ "bad-truncated", "\xe6\x97", 2 },
		{ "bad-continuation", "\x80", 1 },
		{ "bad-f8", "\xf8\x88\x80\x80\x80", 5 },
	};
	static const char *const numbers[] = {
		"0", "4096", "64K", "1M", "2G", "1T", "1MiB", "1KB", "1B", "7k", "90", "90s",
		"15m", "24h", "7d", "2w", "-5", "+5", "-0", "007",
		"9223372036854775807", "9223372036854775808", "-9223372036854775808",
		"18446744073709551615", "18446744073709551616", "16777215T", "9223372036854775s",
		"1x", " 1", "1 ", "", "K", "1Ki", "1MB5", "0x10", "1e3", "65535", "65536",
	};
	static const char *const configs[][2] = {
		{ "ok-typical",
		  "# p2p serve --config\n"
		  "listen = 0.0.0.0:7070\n"
		  "data-dir = /var/lib/p2p-storage\n"
		  "chunk-size = 1M\n"
		  "log-level = info\n"
		  "peer = 10.0.0.2:7070\n"
		  "peer = 10.0.0.3:7070\n"
		  "no-mdns = true\n" },
		{ "ok-quoted", "name = \"two  spaces \\\" and \\\\ here\"\nempty =\nx=\"\"\n" },
		{ "ok-crlf", "a = 1\r\n\r\n  # comment\r\nb=2\r\n" },
		{ "ok-no-newline", "key.with-all_chars.09 = value # not a comment" },
		{ "ok-warn", "warn = yes\n" },
		{ "ok-empty", "" },
		{ "bad-no-equals", "listen 7070\n" },
		{ "bad-empty-key", " = x\n" },
		{ "bad-key-char", "li$ten = x\n" },
		{ "bad-unterminated", "a = \"open\n" },
		{ "bad-after-quote", "a = \"x\" y\n" },
		{ "bad-reject", "ok = 1\nreject = 2\n" },
		{ "bad-silent", "silent = 1\n" },
		{ "bad-key-65",
		  "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa = 1\n" },
	};
	static const char *const paths[][2] = {
		{ "ok-plain", "report.pdf" },
		{ "ok-slash", "docs%2Freport.pdf" },
		{ "ok-literal-slash", "docs/report.pdf" },
		{ "ok-utf8", "caf%C3%A9" },
		{ "ok-space", "a%20b" },
		{ "ok-plus", "a+b" },
		{ "ok-dotdot", "..%2Fx" },
		{ "bad-nul", "a%00b" },
		{ "bad-c1", "%C2%80" },
		{ "bad-surrogate", "%ED%A0%80" },
		{ "bad-ctl", "%0A" },
		{ "bad-empty", "" },
		{ "bad-trailing-percent", "a%" },
		{ "bad-half-escape", "a%2" },
		{ "bad-not-hex", "%zz" },
		{ "ok-query", "k?upload=1" },
		{ "ok-fragment", "k#frag" },
	};
	char name[64], line[4200];

	for (size_t i = 0; i < nitems(keys); i++)
		put("key", keys[i].file, keys[i].s, keys[i].len);
	memset(line, 'k', KEY_MAX + 1);
	put("key", "ok-1024", line, KEY_MAX);
	put("key", "bad-1025", line, KEY_MAX + 1);

	for (size_t i = 0; i < nitems(numbers); i++) {
		snprintf(name, sizeof name, "n%02zu", i);
		puts_("numbers", name, numbers[i]);
	}

	for (size_t i = 0; i < nitems(configs); i++)
		puts_("config", configs[i][0], configs[i][1]);
	put("config", "bad-nul", "a = 1\nb = \0\n", 11);
	memcpy(line, "k = ", 4);
	memset(line + 4, 'v', CONFIG_LINE_MAX - 4);
	put("config", "ok-longest-line", line, CONFIG_LINE_MAX);
	line[CONFIG_LINE_MAX] = 'v';
	put("config", "bad-line-too-long", line, CONFIG_LINE_MAX + 1);

	for (size_t i = 0; i < nitems(paths); i++)
		puts_("http_key", paths[i][0], paths[i][1]);
}

int
main(int argc, char **argv)
{
	if (argc != 2) {
		fprintf(stderr, "usage: gen_corpus DIR\n");
		return 1;
	}
	root = argv[1];
	if (mkdir(root, 0755) == -1 && errno != EEXIST) {
		perror(root);
		return 1;
	}
	gen_manifest();
	gen_msg();
	gen_ticket();
	gen_text();
	printf("gen_corpus: %lu files under %s\n", nfiles, root);
	return 0;
}
