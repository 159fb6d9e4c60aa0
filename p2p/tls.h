/* tls.h: the secure handshake (docs/PROTOCOL.md, "Handshake").
 *
 * TLS 1.3 only. Each node presents a self-signed X.509 certificate for its Ed25519
 * identity key; certificates are not validated against any CA: the peer's node ID is
 * SHA-256 of the Ed25519 public key in its certificate, and TLS 1.3's CertificateVerify
 * proves the peer holds the matching private key. Admission to the network is proven
 * right after the handshake: each side's first message is AUTH =
 *   HMAC-SHA256(network_key, "p2p auth v1" || role || exporter)
 * with role 'C' (client) or 'S' (server) and exporter = the 32-byte TLS exporter with
 * label "EXPORTER-p2p-auth" and no context. Nothing else is sent or accepted before the
 * peer's AUTH has been checked.
 *
 * The pieces (tls_ctx_new, tls_peer_node_id, tls_auth_compute, tls_auth_verify) work
 * with libevent's bufferevent_openssl; tls_conn_* is a small blocking driver over a
 * connected socket (tests and the CLI). With bufferevent_openssl_socket_new, pass
 * BEV_OPT_CLOSE_ON_FREE: only then does bufferevent_free free the SSL (and the fd).
 *
 * Writes to a socket the peer has closed raise SIGPIPE: the process must ignore it
 * (signal(SIGPIPE, SIG_IGN), as the daemon does for libevent anyway). */
#ifndef P2P_TLS_H
#define P2P_TLS_H

#include <stddef.h>
#include <stdint.h>

#include <openssl/types.h>

#include "p2p/identity.h"
#include "p2p/msg.h"
#include "p2p/netkey.h"

struct wr;

#define TLS_EXPORTER_LABEL "EXPORTER-p2p-auth"
#define TLS_EXPORTER_LEN 32
#define TLS_AUTH_LABEL "p2p auth v1"
#define TLS_AUTH_LEN 32

enum tls_role {
	TLS_CLIENT = 'C', /* the side that dialled (SSL_connect) */
	TLS_SERVER = 'S', /* the side that accepted (SSL_accept) */
};

/* Result of tls_conn_handshake when the peer's AUTH does not match our network key. */
#define TLS_EAUTH (-2)

/* A context for both roles: TLS 1.3 only, Ed25519 signatures only, a self-signed
 * certificate for id generated in memory, peer certificates required both ways and
 * accepted if their key is Ed25519, no session resumption. Free with SSL_CTX_free.
 * NULL with *cause on failure. */
SSL_CTX *tls_ctx_new(const struct identity *id, char **cause);
/* After the handshake: node ID of the peer (SHA-256 of its certificate's raw Ed25519
 * public key). 0 ok, -1 if there is no certificate or its key is not Ed25519. */
int tls_peer_node_id(SSL *ssl, uint8_t out[NODE_ID_LEN]);
/* After the handshake: the AUTH value that side `role` sends on this session.
 * A node sends tls_auth_compute(ssl, nk, its own role). 0 ok, -1 on OpenSSL failure. */
int tls_auth_compute(SSL *ssl, const struct netkey *nk, enum tls_role role,
    uint8_t out[TLS_AUTH_LEN]);
/* Check the AUTH the peer sent (peer_role: the peer's role, i.e. not ours) in constant
 * time. 0 match, -1 mismatch ("wrong network key"). */
int tls_auth_verify(SSL *ssl, const struct netkey *nk, enum tls_role peer_role,
    const uint8_t got[TLS_AUTH_LEN]);

/* For an event loop: append this side's AUTH frame (header + 32 bytes) to w, to be
 * written as soon as the TLS handshake has completed (BEV_EVENT_CONNECTED).
 * 0 ok, -1 on failure. */
int tls_auth_frame(SSL *ssl, const struct netkey *nk, enum tls_role own_role,
    struct wr *w);
/* For an event loop: look at the first avail bytes received after the handshake.
 * TLS_AUTH_NEED_MORE: wait for more (nothing consumed);
 * 0: the peer's AUTH is good, *used bytes (the AUTH frame) are consumed;
 * TLS_EAUTH: well-formed AUTH but the wrong network key (*cause: "wrong network key");
 * -1: anything else (bad frame, other version, first frame not AUTH), with *cause.
 * On any negative result the caller closes the connection without sending more and
 * logs one line "peer <short id>: <cause>". */
#define TLS_AUTH_NEED_MORE 1
int tls_auth_check_frame(SSL *ssl, const struct netkey *nk, enum tls_role peer_role,
    const uint8_t *buf, size_t avail, size_t *used, char **cause);

/* ---- blocking driver ------------------------------------------------------------ */
struct tls_conn;

/* Run the TLS handshake and the AUTH exchange on a connected stream socket fd (put in
 * blocking mode; timeout_ms > 0 sets send/receive timeouts on it). The fd stays the
 * caller's: tls_conn_free does not close it.
 * 0: *out is an authenticated connection;
 * TLS_EAUTH: the peer's AUTH did not match ("peer <short id>: wrong network key" in
 *   *cause); nothing further was sent;
 * -1: any other failure (TLS handshake, no or non-Ed25519 certificate, timeout, peer
 *   closed, first message not AUTH), with *cause. */
int tls_conn_handshake(struct tls_conn **out, SSL_CTX *ctx, int fd, enum tls_role role,
    const struct netkey *nk, int timeout_ms, char **cause);
const uint8_t *tls_conn_peer_id(const struct tls_conn *c); /* NODE_ID_LEN bytes */
SSL *tls_conn_ssl(const struct tls_conn *c);
/* Send one message as a frame. 0 ok, -1 with *cause. */
int tls_conn_send(struct tls_conn *c, const struct msg *m, char **cause);
/* Receive one frame and decode it (msg_clear it afterwards). 0 ok, -1 with *cause on a
 * bad frame, a malformed or unknown message, EOF or a timeout. */
int tls_conn_recv(struct tls_conn *c, struct msg *m, char **cause);
/* Send close_notify (best effort) and free; the fd is not closed. NULL ok. */
void tls_conn_free(struct tls_conn *c);

#endif
