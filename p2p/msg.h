/* msg.h: the messages exchanged over a secure link, one per frame (frame.h).
 * docs/PROTOCOL.md describes every byte. Each type has an encoder writing the payload
 * into a bounded writer and a decoder reading it through the bounded reader; decoders
 * check every limit before allocating and reject trailing bytes. */
#ifndef P2P_MSG_H
#define P2P_MSG_H

#include <stddef.h>
#include <stdint.h>

struct rd;
struct wr;

#define MSG_ID_LEN 32          /* node IDs (NODE_ID_LEN) */
#define MSG_AUTH_LEN 32        /* HMAC-SHA256 */
#define MSG_ADDR_MAX 255       /* "host:port", "[v6]:port", "bt:AA:BB:CC:DD:EE:FF/ch" */
#define MSG_HELLO_MAX_ADDRS 16
#define MSG_VERSION_MAX 64
#define MSG_PEERS_MAX 256
#define MSG_TEXT_MAX 256       /* GOODBYE and ERROR text */

enum msg_type {
	MSG_AUTH = 0x01,
	MSG_HELLO = 0x02,
	MSG_PING = 0x03,
	MSG_PONG = 0x04,
	MSG_PEERS = 0x05,
	MSG_GOODBYE = 0x06,
	MSG_ERROR = 0x07,
	/* 0x10..0x3f: file and chunk exchange (replication, node/repl.c) */
	MSG_FILE = 0x10,       /* one version or tombstone, manifest inline */
	MSG_DIGEST = 0x11,     /* 256-bucket summary of the file index */
	MSG_CHUNK_PUT = 0x12,  /* a replica to store */
	MSG_CHUNK_ACK = 0x13,  /* its outcome */
	MSG_CHUNK_GET = 0x14,  /* ask for a chunk */
	MSG_CHUNK_DATA = 0x15, /* the answer */
	MSG_HAVE = 0x16,       /* chunks the sender holds (shares) */
	MSG_MANIFEST_GET = 0x17,  /* ask for more chunk hashes of a FILE with MORE */
	MSG_MANIFEST_PART = 0x18, /* the answer */
};

/* PEERS entry transports. Receivers ignore entries with a transport they do not know. */
#define MSG_TRANSPORT_TCP 1
#define MSG_TRANSPORT_RFCOMM 2

/* GOODBYE reasons. */
#define MSG_BYE_SHUTDOWN 0  /* the node is stopping; it may come back */
#define MSG_BYE_LEAVING 1   /* the node leaves the network for good */
#define MSG_BYE_TOO_MANY 2  /* connection cap reached */
#define MSG_BYE_DUPLICATE 3 /* already connected to this node */
#define MSG_BYE_PROTOCOL 4  /* the peer broke the protocol */

/* ERROR codes. */
#define MSG_ERR_MALFORMED 1
#define MSG_ERR_UNSUPPORTED 2
#define MSG_ERR_INTERNAL 3

/* HELLO capability bits (none defined yet; unknown bits are ignored). */

/* Replication limits (docs/PROTOCOL.md section 5). */
#define MSG_KEY_MAX 1024            /* KEY_MAX */
#define MSG_FILE_MAX_CHUNKS 32768   /* chunk hashes inline in one FILE, or in one
				     * MANIFEST_PART */
#define MSG_MANIFEST_MAX_CHUNKS (1u << 22) /* chunks of a replicated version: 4 TiB at
				     * 1 MiB; its hashes (128 MiB) are held while
				     * they arrive */
#define MSG_CHUNK_MAX (1024 * 1024) /* chunk bytes in CHUNK_PUT / CHUNK_DATA */
#define MSG_CHUNK_SIZE_MIN 4096     /* CHUNK_SIZE_MIN */
#define MSG_CHUNK_SIZE_MAX (16u << 20) /* CHUNK_SIZE_MAX */
#define MSG_DIGEST_BUCKETS 256
#define MSG_HAVE_MAX 4096
#define MSG_HASH_LEN 32
#define MSG_VERSION_LIMIT (1ull << 63) /* versions are below 2^63 (SQLite integers) */

/* FILE flags. */
#define MSG_FILE_DELETED 0x01
#define MSG_FILE_MORE 0x02          /* a version of more than MSG_FILE_MAX_CHUNKS chunks:
				     * the first MSG_FILE_MAX_CHUNKS hashes inline, the
				     * rest asked for with MANIFEST_GET */
/* DIGEST flags. */
#define MSG_DIGEST_REPLY 0x01       /* answer with your own DIGEST (reply flag clear) */
/* CHUNK_ACK / CHUNK_DATA status. */
#define MSG_CHUNK_OK 0
#define MSG_CHUNK_NOSPACE 1         /* ACK: out of space */
#define MSG_CHUNK_BADHASH 2         /* ACK: bytes do not match the hash */
#define MSG_CHUNK_FAILED 3          /* ACK: any other error */
#define MSG_CHUNK_MISSING 4         /* DATA: not held here */
#define MSG_CHUNK_CORRUPT 5         /* DATA: held but fails verification */

struct msg_auth {
	uint8_t mac[MSG_AUTH_LEN];
};

struct msg_hello {
	uint8_t id[MSG_ID_LEN];
	uint8_t naddrs;
	char addrs[MSG_HELLO_MAX_ADDRS][MSG_ADDR_MAX + 1];
	char version[MSG_VERSION_MAX + 1];
	uint32_t caps;
};

struct msg_ping { /* also PONG */
	uint64_t nonce;
	uint64_t ts_ms; /* sender's wall clock, ms since the epoch */
};

struct msg_peer {
	uint8_t id[MSG_ID_LEN];
	uint8_t transport;
	char addr[MSG_ADDR_MAX + 1];
	uint64_t last_seen_ms;
};

struct msg_peers {
	uint16_t n;
	struct msg_peer *v; /* n entries; xcalloc'd, freed by msg_clear */
};

struct msg_goodbye {
	uint8_t reason;
	char text[MSG_TEXT_MAX + 1];
};

struct msg_error {
	uint16_t code;
	char text[MSG_TEXT_MAX + 1];
};

struct msg_file {
	char key[MSG_KEY_MAX + 1];
	uint64_t version;
	uint8_t origin[MSG_ID_LEN];
	uint64_t prev_version;          /* the version it replaced (0: none) */
	uint8_t prev_origin[MSG_ID_LEN];
	uint8_t flags;                  /* MSG_FILE_DELETED */
	uint64_t created_ms;
	/* versions only (not tombstones): */
	uint64_t size;
	uint32_t chunk_size;
	uint32_t nchunks;               /* all of them, also with MSG_FILE_MORE */
	uint8_t file_hash[MSG_HASH_LEN];
	uint8_t (*chunks)[MSG_HASH_LEN]; /* msg_file_inline() entries (at least), malloc'd;
					  * msg_clear frees */
};
/* Chunk hashes a FILE carries inline: nchunks, or MSG_FILE_MAX_CHUNKS with MORE. */
#define msg_file_inline(f) ((f)->flags & MSG_FILE_MORE ? (uint32_t)MSG_FILE_MAX_CHUNKS : \
	((f)->flags & MSG_FILE_DELETED ? 0 : (f)->nchunks))

struct msg_mget { /* MANIFEST_GET: hashes [start, ...) of a version */
	char key[MSG_KEY_MAX + 1];
	uint64_t version;
	uint8_t origin[MSG_ID_LEN];
	uint32_t start;
};

struct msg_mpart { /* MANIFEST_PART */
	uint64_t version;
	uint8_t origin[MSG_ID_LEN];
	uint32_t start;
	uint8_t status;                 /* 0 ok, MSG_CHUNK_MISSING: not the current version
					 * here (n is then 0) */
	uint32_t n;                     /* 1..MSG_FILE_MAX_CHUNKS when status is 0 */
	uint8_t (*v)[MSG_HASH_LEN];     /* malloc'd by the decoder; msg_clear frees */
};

struct msg_digest {
	uint8_t flags;
	uint32_t count;                 /* entries summarised (informational) */
	uint64_t bucket[MSG_DIGEST_BUCKETS];
};

struct msg_chunk { /* CHUNK_PUT, CHUNK_DATA */
	uint8_t hash[MSG_HASH_LEN];
	uint8_t status;                 /* CHUNK_DATA only */
	uint32_t len;
	uint8_t *data;                  /* len bytes, malloc'd (NULL if 0); msg_clear frees */
};

struct msg_chunk_ref { /* CHUNK_ACK, CHUNK_GET */
	uint8_t hash[MSG_HASH_LEN];
	uint8_t status;                 /* CHUNK_ACK only */
};

struct msg_have {
	uint16_t n;
	uint8_t (*v)[MSG_HASH_LEN];     /* malloc'd; msg_clear frees */
};

struct msg {
	uint8_t type;
	union {
		struct msg_auth auth;
		struct msg_hello hello;
		struct msg_ping ping; /* PING and PONG */
		struct msg_peers peers;
		struct msg_goodbye goodbye;
		struct msg_error error;
		struct msg_file file;
		struct msg_digest digest;
		struct msg_chunk chunk;   /* CHUNK_PUT, CHUNK_DATA */
		struct msg_chunk_ref ref; /* CHUNK_ACK, CHUNK_GET */
		struct msg_have have;
		struct msg_mget mget;
		struct msg_mpart mpart;
	} u;
};

/* Per-type payload encoders: -1 if a field breaks a limit or the writer overflows.
 * Decoders: read the whole payload from r, ending with rd_end (trailing bytes are an
 * error); -1 with *errstr (a static string) on any malformation. */
int msg_auth_encode(struct wr *w, const struct msg_auth *m);
int msg_auth_decode(struct rd *r, struct msg_auth *m, const char **errstr);
int msg_hello_encode(struct wr *w, const struct msg_hello *m);
int msg_hello_decode(struct rd *r, struct msg_hello *m, const char **errstr);
int msg_ping_encode(struct wr *w, const struct msg_ping *m);
int msg_ping_decode(struct rd *r, struct msg_ping *m, const char **errstr);
int msg_peers_encode(struct wr *w, const struct msg_peers *m);
/* Rejects a count over MSG_PEERS_MAX (or larger than the bytes left could hold)
 * before allocating. On failure nothing stays allocated. */
int msg_peers_decode(struct rd *r, struct msg_peers *m, const char **errstr);
int msg_goodbye_encode(struct wr *w, const struct msg_goodbye *m);
int msg_goodbye_decode(struct rd *r, struct msg_goodbye *m, const char **errstr);
int msg_error_encode(struct wr *w, const struct msg_error *m);
int msg_error_decode(struct rd *r, struct msg_error *m, const char **errstr);
/* FILE: key checked with key_validate, version < 2^63, sizes consistent with nchunks
 * and chunk_size; nchunks <= MSG_FILE_MAX_CHUNKS, or with MSG_FILE_MORE (versions only)
 * MSG_FILE_MAX_CHUNKS < nchunks <= MSG_MANIFEST_MAX_CHUNKS, checked before allocating
 * the msg_file_inline() hashes. */
int msg_file_encode(struct wr *w, const struct msg_file *m);
int msg_file_decode(struct rd *r, struct msg_file *m, const char **errstr);
int msg_digest_encode(struct wr *w, const struct msg_digest *m);
int msg_digest_decode(struct rd *r, struct msg_digest *m, const char **errstr);
/* CHUNK_PUT (with_status 0) and CHUNK_DATA (with_status 1). */
int msg_chunk_encode(struct wr *w, const struct msg_chunk *m, int with_status);
int msg_chunk_decode(struct rd *r, struct msg_chunk *m, int with_status,
    const char **errstr);
/* A CHUNK_PUT / CHUNK_DATA payload of plen bytes whose data is not contiguous with
 * its head (read out of a socket buffer): decodes the msg_chunk_head_len(type) bytes
 * at p (n of them) and checks that plen is the head plus m->u.chunk.len; data stays
 * NULL for the caller to fill with msg_chunk_alloc(len). */
int msg_chunk_decode_head(uint8_t type, const uint8_t *p, size_t n, size_t plen,
    struct msg *m, const char **errstr);
size_t msg_chunk_head_len(uint8_t type);
/* Chunk data: allocated by the decoders, freed by msg_clear or the taker with its
 * length (large buffers are kept for reuse; safe on any thread). */
void *msg_chunk_alloc(size_t len);
void msg_chunk_free(void *p, size_t len);
/* The bytes before a chunk's data (everything but data): a sender can write them and
 * then the data without copying it into a writer. */
int msg_chunk_encode_head(struct wr *w, const struct msg_chunk *m, int with_status);
/* CHUNK_ACK (with_status 1) and CHUNK_GET (with_status 0). */
int msg_ref_encode(struct wr *w, const struct msg_chunk_ref *m, int with_status);
int msg_ref_decode(struct rd *r, struct msg_chunk_ref *m, int with_status,
    const char **errstr);
int msg_have_encode(struct wr *w, const struct msg_have *m);
int msg_have_decode(struct rd *r, struct msg_have *m, const char **errstr);
int msg_mget_encode(struct wr *w, const struct msg_mget *m);
int msg_mget_decode(struct rd *r, struct msg_mget *m, const char **errstr);
int msg_mpart_encode(struct wr *w, const struct msg_mpart *m);
int msg_mpart_decode(struct rd *r, struct msg_mpart *m, const char **errstr);

/* Payload of m by m->type. -1 on unknown type or a broken limit. */
int msg_encode(struct wr *w, const struct msg *m);
/* A whole frame: header + payload. */
int msg_frame(struct wr *w, const struct msg *m);
/* Decode a payload of the given type; an unknown type is an error (the caller drops
 * the connection). 0 ok (call msg_clear later), -1 with *errstr. */
int msg_decode(uint8_t type, const uint8_t *p, size_t len, struct msg *m,
    const char **errstr);
void msg_clear(struct msg *m); /* frees what a decoder allocated; NULL ok */
const char *msg_type_name(uint8_t type); /* "HELLO", ..., "unknown" */

#endif
