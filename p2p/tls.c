/* tls.c: see tls.h. */
#include "p2p/tls.h"
#include "p2p/frame.h"
#include "p2p/ossl.h"
#include "lib/buf.h"
#include "lib/util.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>

#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

struct tls_conn {
	SSL *ssl;
	int fd;
	enum tls_role role;
	uint8_t peer_id[NODE_ID_LEN];
	char peer_short[NODE_ID_SHORT_LEN + 1];
};

/* ---- context -------------------------------------------------------------------- */

static X509 *
self_signed_cert(const struct identity *id, char **cause)
{
	EVP_PKEY *pkey = identity_pkey(id);
	X509_NAME *name;
	uint64_t serial;
	X509 *x;

	if ((x = X509_new()) == NULL)
		goto fail;
	if (RAND_bytes((unsigned char *)&serial, sizeof serial) != 1)
		goto fail;
	serial &= INT64_MAX; /* positive */
	if (X509_set_version(x, X509_VERSION_3) != 1 ||
	    ASN1_INTEGER_set_uint64(X509_get_serialNumber(x), serial | 1) != 1 ||
	    X509_gmtime_adj(X509_getm_notBefore(x), -86400) == NULL ||
	    X509_time_adj_ex(X509_getm_notAfter(x), 365 * 100, 0, NULL) == NULL)
		goto fail;
	name = X509_get_subject_name(x);
	if (X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC,
	    (const unsigned char *)identity_hex(id), -1, -1, 0) != 1 ||
	    X509_set_issuer_name(x, name) != 1 ||
	    X509_set_pubkey(x, pkey) != 1 ||
	    X509_sign(x, pkey, NULL) <= 0) /* Ed25519: no separate digest */
		goto fail;
	return x;
fail:
	set_cause(cause, "creating the TLS certificate: %s", ossl_errstr());
	X509_free(x);
	return NULL;
}

/* Certificates are not checked against a CA: any self-signed certificate is fine as
 * long as its key is Ed25519 (the node ID is derived from that key afterwards). */
static int
verify_cb(int preverify_ok, X509_STORE_CTX *sctx)
{
	X509 *cert;
	EVP_PKEY *k;

	(void)preverify_ok;
	if (X509_STORE_CTX_get_error_depth(sctx) != 0)
		return 1;
	if ((cert = X509_STORE_CTX_get_current_cert(sctx)) == NULL ||
	    (k = X509_get0_pubkey(cert)) == NULL || EVP_PKEY_get_base_id(k) != EVP_PKEY_ED25519)
		return 0;
	return 1;
}

SSL_CTX *
tls_ctx_new(const struct identity *id, char **cause)
{
	SSL_CTX *ctx = NULL;
	X509 *cert = NULL;

	if ((cert = self_signed_cert(id, cause)) == NULL)
		return NULL;
	if ((ctx = SSL_CTX_new(TLS_method())) == NULL ||
	    SSL_CTX_set_min_proto_version(ctx, TLS1_3_VERSION) != 1 ||
	    SSL_CTX_set_max_proto_version(ctx, TLS1_3_VERSION) != 1 ||
	    SSL_CTX_set1_sigalgs_list(ctx, "ed25519") != 1 ||
	    SSL_CTX_use_certificate(ctx, cert) != 1 ||
	    SSL_CTX_use_PrivateKey(ctx, identity_pkey(id)) != 1 ||
	    SSL_CTX_check_private_key(ctx) != 1 ||
	    SSL_CTX_set_num_tickets(ctx, 0) != 1) {
		set_cause(cause, "creating the TLS context: %s", ossl_errstr());
		SSL_CTX_free(ctx);
		X509_free(cert);
		return NULL;
	}
	X509_free(cert); /* the context holds its own reference */
	SSL_CTX_set_options(ctx, SSL_OP_NO_TICKET);
	SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
	SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT, verify_cb);
	return ctx;
}

/* ---- application-layer checks ----------------------------------------------------- */

int
tls_peer_node_id(SSL *ssl, uint8_t out[NODE_ID_LEN])
{
	uint8_t pub[IDENTITY_PUB_LEN];
	X509 *cert;

	if ((cert = SSL_get0_peer_certificate(ssl)) == NULL)
		return -1;
	if (identity_pkey_raw(X509_get0_pubkey(cert), pub) == -1)
		return -1;
	node_id_from_pubkey(pub, out);
	return 0;
}

int
tls_auth_compute(SSL *ssl, const struct netkey *nk, enum tls_role role,
    uint8_t out[TLS_AUTH_LEN])
{
	const size_t llen = sizeof(TLS_AUTH_LABEL) - 1;
	uint8_t in[sizeof(TLS_AUTH_LABEL) - 1 + 1 + TLS_EXPORTER_LEN];
	unsigned int maclen = 0;
	int rc = -1;

	if (role != TLS_CLIENT && role != TLS_SERVER)
		return -1;
	memcpy(in, TLS_AUTH_LABEL, llen);
	in[llen] = (uint8_t)role;
	if (SSL_export_keying_material(ssl, in + llen + 1, TLS_EXPORTER_LEN,
	    TLS_EXPORTER_LABEL, sizeof(TLS_EXPORTER_LABEL) - 1, NULL, 0, 0) != 1) {
		ERR_clear_error();
		goto out;
	}
	if (HMAC(EVP_sha256(), nk->k, NETKEY_LEN, in, sizeof in, out, &maclen) == NULL ||
	    maclen != TLS_AUTH_LEN) {
		ERR_clear_error();
		goto out;
	}
	rc = 0;
out:
	OPENSSL_cleanse(in, sizeof in);
	return rc;
}

int
tls_auth_verify(SSL *ssl, const struct netkey *nk, enum tls_role peer_role,
    const uint8_t got[TLS_AUTH_LEN])
{
	uint8_t want[TLS_AUTH_LEN];
	int rc = -1;

	if (tls_auth_compute(ssl, nk, peer_role, want) == 0 &&
	    CRYPTO_memcmp(want, got, TLS_AUTH_LEN) == 0)
		rc = 0;
	OPENSSL_cleanse(want, sizeof want);
	return rc;
}

int
tls_auth_frame(SSL *ssl, const struct netkey *nk, enum tls_role own_role, struct wr *w)
{
	uint8_t mac[TLS_AUTH_LEN];

	if (tls_auth_compute(ssl, nk, own_role, mac) == -1)
		return -1;
	frame_write_hdr(w, MSG_AUTH, TLS_AUTH_LEN);
	wr_bytes(w, mac, TLS_AUTH_LEN);
	OPENSSL_cleanse(mac, sizeof mac);
	return wr_ok(w) ? 0 : -1;
}

int
tls_auth_check_frame(SSL *ssl, const struct netkey *nk, enum tls_role peer_role,
    const uint8_t *buf, size_t avail, size_t *used, char **cause)
{
	struct frame_hdr h;
	int rc;

	*used = 0;
	rc = frame_parse(buf, avail, &h);
	if (rc == FRAME_BAD_VERSION)
		return set_cause(cause, "protocol version %u, we speak %u", h.version,
		    FRAME_VERSION);
	if (rc < 0)
		return set_cause(cause, "%s", frame_strerror(rc));
	/* Decide on the header alone: do not wait for a payload we will refuse. */
	if (avail >= FRAME_HDR_LEN && h.type != MSG_AUTH)
		return set_cause(cause, "first message is %s, not AUTH",
		    msg_type_name(h.type));
	if (avail >= FRAME_HDR_LEN && h.len != TLS_AUTH_LEN)
		return set_cause(cause, "malformed AUTH (%u bytes)", h.len);
	if (rc == FRAME_NEED_MORE)
		return TLS_AUTH_NEED_MORE;
	if (tls_auth_verify(ssl, nk, peer_role, buf + FRAME_HDR_LEN) == -1) {
		set_cause(cause, "wrong network key");
		return TLS_EAUTH;
	}
	*used = FRAME_HDR_LEN + TLS_AUTH_LEN;
	return 0;
}

/* ---- blocking driver ------------------------------------------------------------ */

static const char *
ssl_errstr(SSL *ssl, int ret)
{
	switch (SSL_get_error(ssl, ret)) {
	case SSL_ERROR_ZERO_RETURN:
		ERR_clear_error();
		return "connection closed by peer";
	case SSL_ERROR_WANT_READ:
	case SSL_ERROR_WANT_WRITE:
		ERR_clear_error();
		return "timed out";
	case SSL_ERROR_SYSCALL:
		if (ERR_peek_error() != 0)
			return ossl_errstr();
		if (errno == EAGAIN || errno == EWOULDBLOCK)
			return "timed out";
		if (errno != 0)
			return strerror(errno);
		return "connection closed by peer";
	default:
		return ossl_errstr();
	}
}

static int
read_full(struct tls_conn *c, void *buf, size_t n, char **cause)
{
	uint8_t *p = buf;
	size_t off = 0;

	while (off < n) {
		size_t chunk = n - off > INT32_MAX ? INT32_MAX : n - off;
		int r;

		errno = 0;
		if ((r = SSL_read(c->ssl, p + off, (int)chunk)) <= 0)
			return set_cause(cause, "peer %s: read: %s", c->peer_short,
			    ssl_errstr(c->ssl, r));
		off += (size_t)r;
	}
	return 0;
}

static int
write_full(struct tls_conn *c, const void *buf, size_t n, char **cause)
{
	const uint8_t *p = buf;
	size_t off = 0;

	while (off < n) {
		size_t chunk = n - off > INT32_MAX ? INT32_MAX : n - off;
		int r;

		errno = 0;
		if ((r = SSL_write(c->ssl, p + off, (int)chunk)) <= 0)
			return set_cause(cause, "peer %s: write: %s", c->peer_short,
			    ssl_errstr(c->ssl, r));
		off += (size_t)r;
	}
	return 0;
}

int
tls_conn_send(struct tls_conn *c, const struct msg *m, char **cause)
{
	struct wr w;
	int rc;

	wr_init(&w, FRAME_HDR_LEN + FRAME_MAX_PAYLOAD);
	if (msg_frame(&w, m) == -1)
		rc = set_cause(cause, "cannot encode %s message", msg_type_name(m->type));
	else
		rc = write_full(c, w.p, w.len, cause);
	wr_free(&w);
	return rc;
}

int
tls_conn_recv(struct tls_conn *c, struct msg *m, char **cause)
{
	uint8_t hdr[FRAME_HDR_LEN], *payload = NULL;
	struct frame_hdr h;
	const char *errstr = NULL;
	int rc;

	memset(m, 0, sizeof *m);
	if (read_full(c, hdr, sizeof hdr, cause) == -1)
		return -1;
	rc = frame_parse(hdr, sizeof hdr, &h);
	if (rc == FRAME_BAD_VERSION)
		return set_cause(cause, "peer %s: protocol version %u, we speak %u",
		    c->peer_short, h.version, FRAME_VERSION);
	if (rc < 0)
		return set_cause(cause, "peer %s: %s", c->peer_short, frame_strerror(rc));
	/* h.len <= FRAME_MAX_PAYLOAD here */
	payload = xmalloc(h.len);
	if (read_full(c, payload, h.len, cause) == -1)
		goto fail;
	if (msg_decode(h.type, payload, h.len, m, &errstr) == -1) {
		set_cause(cause, "peer %s: malformed %s message (type %u): %s", c->peer_short,
		    msg_type_name(h.type), h.type, errstr);
		goto fail;
	}
	free(payload);
	return 0;
fail:
	free(payload);
	return -1;
}

/* The peer's first frame, through tls_auth_check_frame: the header is judged before
 * the payload is read. 0 ok, TLS_EAUTH, -1. */
static int
recv_auth(struct tls_conn *c, enum tls_role peer_role, const struct netkey *nk,
    char **cause)
{
	uint8_t buf[FRAME_HDR_LEN + TLS_AUTH_LEN];
	char *why = NULL;
	size_t have = FRAME_HDR_LEN, used;
	int rc;

	if (read_full(c, buf, FRAME_HDR_LEN, cause) == -1)
		return -1;
	for (;;) {
		rc = tls_auth_check_frame(c->ssl, nk, peer_role, buf, have, &used, &why);
		if (rc != TLS_AUTH_NEED_MORE)
			break;
		if (read_full(c, buf + have, sizeof buf - have, cause) == -1)
			return -1;
		have = sizeof buf;
	}
	if (rc < 0) {
		set_cause(cause, "peer %s: %s", c->peer_short, why);
		free(why);
	}
	return rc;
}

static int
set_blocking(int fd, int timeout_ms, char **cause)
{
	int fl;

	if ((fl = fcntl(fd, F_GETFL)) == -1 ||
	    (fl & O_NONBLOCK && fcntl(fd, F_SETFL, fl & ~O_NONBLOCK) == -1))
		return set_cause(cause, "fcntl: %s", strerror(errno));
	if (timeout_ms > 0) {
		struct timeval tv = { .tv_sec = timeout_ms / 1000,
		    .tv_usec = (timeout_ms % 1000) * 1000 };
		if (setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv) == -1 ||
		    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv) == -1)
			return set_cause(cause, "setsockopt: %s", strerror(errno));
	}
	return 0;
}

int
tls_conn_handshake(struct tls_conn **out, SSL_CTX *ctx, int fd, enum tls_role role,
    const struct netkey *nk, int timeout_ms, char **cause)
{
	struct tls_conn *c;
	struct msg m;
	enum tls_role peer_role = role == TLS_CLIENT ? TLS_SERVER : TLS_CLIENT;
	int r, rc = -1;

	*out = NULL;
	memset(&m, 0, sizeof m);
	if (role != TLS_CLIENT && role != TLS_SERVER)
		return set_cause(cause, "bad TLS role");
	if (set_blocking(fd, timeout_ms, cause) == -1)
		return -1;
	c = xcalloc(1, sizeof *c);
	c->fd = fd;
	c->role = role;
	snprintf(c->peer_short, sizeof c->peer_short, "?");
	if ((c->ssl = SSL_new(ctx)) == NULL || SSL_set_fd(c->ssl, fd) != 1) {
		set_cause(cause, "SSL_new: %s", ossl_errstr());
		goto out;
	}
	errno = 0;
	r = role == TLS_CLIENT ? SSL_connect(c->ssl) : SSL_accept(c->ssl);
	if (r != 1) {
		set_cause(cause, "TLS handshake failed: %s", ssl_errstr(c->ssl, r));
		goto out;
	}
	if (tls_peer_node_id(c->ssl, c->peer_id) == -1) {
		set_cause(cause, "peer presented no Ed25519 certificate");
		goto out;
	}
	node_id_short(c->peer_id, c->peer_short);

	/* AUTH: our proof first, then the peer's; nothing else before it is checked. */
	m.type = MSG_AUTH;
	if (tls_auth_compute(c->ssl, nk, role, m.u.auth.mac) == -1) {
		set_cause(cause, "TLS exporter: %s", ossl_errstr());
		goto out;
	}
	r = tls_conn_send(c, &m, cause);
	OPENSSL_cleanse(&m, sizeof m);
	if (r == -1)
		goto out;
	if ((rc = recv_auth(c, peer_role, nk, cause)) != 0)
		goto out;
	*out = c;
	c = NULL;
	rc = 0;
out:
	if (c != NULL) {
		/* Failed: send nothing more (no close_notify either), just drop. */
		SSL_free(c->ssl);
		free(c);
	}
	return rc;
}

const uint8_t *
tls_conn_peer_id(const struct tls_conn *c)
{
	return c->peer_id;
}

SSL *
tls_conn_ssl(const struct tls_conn *c)
{
	return c->ssl;
}

void
tls_conn_free(struct tls_conn *c)
{
	if (c == NULL)
		return;
	(void)SSL_shutdown(c->ssl);
	ERR_clear_error();
	SSL_free(c->ssl);
	free(c);
}
