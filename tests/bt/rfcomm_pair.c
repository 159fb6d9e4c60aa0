/* rfcomm_pair.c: one end of an authenticated link over the RFCOMM transport, for the
 * in-guest tests (tests/bt/guest-rfcomm.sh, run by tests/integration/t_bt_rfcomm.sh).
 *
 *   rfcomm_pair server LISTEN NETKEY [BYTES]
 *   rfcomm_pair client REMOTE FROM NETKEY [BYTES]
 *   rfcomm_pair avail          "avail: yes" or "avail: no: <rfcomm_available's reason>"
 *   rfcomm_pair listen LISTEN  "listen: ok <address>" or "listen: error: <cause>"
 *
 * LISTEN/REMOTE/FROM are transport addresses ("bt:AA:BB:CC:DD:EE:FF/7", "bt:hci1/7");
 * FROM picks the client's local adapter. NETKEY is 64 hex characters. The server
 * accepts one connection; both sides run the TLS 1.3 + AUTH handshake of p2p/tls.h
 * with a fresh identity. With BYTES > 0 the client then sends BYTES bytes through the
 * TLS link, the server answers with their SHA-256, and the client checks it and prints
 * the rate.
 *
 * Output, one fact per line, prefixed with the role:
 *   server: listening on bt:.../7         (the server is ready for the client)
 *   <role>: self <64 hex>                 (our node ID, printed before the handshake)
 *   <role>: peer <64 hex>                 (the node ID derived from the peer's certificate)
 *   <role>: auth ok | <role>: refused: <cause> | <role>: error: <cause>
 *   client: connect <ms> ms, handshake <ms> ms
 *   client: throughput <bytes> bytes in <s> s = <KiB/s> KiB/s (sha256 verified)
 * Exit: 0 ok, 2 refused (the peer's AUTH did not match: wrong network key), 1 other. */
#include "lib/util.h"
#include "p2p/identity.h"
#include "p2p/netkey.h"
#include "p2p/rfcomm.h"
#include "p2p/tls.h"
#include "p2p/transport.h"

#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <openssl/evp.h>
#include <openssl/ssl.h>

#define WAIT_MS 60000      /* accept / connect; TCG guests are slow */
#define HANDSHAKE_MS 60000
#define XFER_CHUNK 16384
#define XFER_MAX (64ULL << 20)
#define DIGEST_LEN 32 /* SHA-256 */

static const char *role = "?";

static void
out(const char *fmt, ...)
{
	va_list ap;

	printf("%s: ", role);
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	putchar('\n');
	fflush(stdout);
}

static int
fail(char *cause)
{
	out("error: %s", cause != NULL ? cause : "?");
	free(cause);
	return 1;
}

static int
wait_fd(int fd, short ev, int ms, char **cause)
{
	struct pollfd p = { .fd = fd, .events = ev };
	int r;

	while ((r = poll(&p, 1, ms)) == -1 && errno == EINTR)
		;
	if (r == -1)
		return set_cause(cause, "poll: %s", strerror(errno));
	if (r == 0)
		return set_cause(cause, "timed out after %d ms", ms);
	return 0;
}

static int
ssl_io_full(SSL *ssl, int writing, void *buf, size_t n, char **cause)
{
	uint8_t *p = buf;

	while (n > 0) {
		int chunk = n > XFER_CHUNK ? XFER_CHUNK : (int)n;
		int r = writing ? SSL_write(ssl, p, chunk) : SSL_read(ssl, p, chunk);

		if (r <= 0)
			return set_cause(cause, "TLS %s failed (SSL error %d)",
			    writing ? "write" : "read", SSL_get_error(ssl, r));
		p += r;
		n -= (size_t)r;
	}
	return 0;
}

/* Both sides: handshake, then print what was derived. 0 ok, 2 refused, 1 error. */
static int
handshake(struct tls_conn **c, SSL_CTX *ctx, int fd, enum tls_role r,
    const struct netkey *nk)
{
	char hex[NODE_ID_HEX_LEN + 1], *cause = NULL;
	int rc;

	rc = tls_conn_handshake(c, ctx, fd, r, nk, HANDSHAKE_MS, &cause);
	if (rc == TLS_EAUTH) {
		out("refused: %s", cause);
		free(cause);
		return 2;
	}
	if (rc != 0)
		return fail(cause);
	node_id_hex(tls_conn_peer_id(*c), hex);
	out("peer %s", hex);
	out("auth ok");
	return 0;
}

static int
server(const char *listen_s, const struct netkey *nk, SSL_CTX *ctx, uint64_t bytes)
{
	struct tp_addr la, pa;
	struct tls_conn *c = NULL;
	EVP_MD_CTX *sh = NULL;
	char name[TP_ADDRSTRLEN], *cause = NULL;
	uint8_t buf[XFER_CHUNK], md[DIGEST_LEN];
	int lfd = -1, fd = -1, rc = 1;

	if (transport_rfcomm.parse(listen_s, TP_PASSIVE, &la, &cause) == -1 ||
	    (lfd = transport_rfcomm.listen(&la, &cause)) == -1)
		return fail(cause);
	if (tp_addr_local(lfd, &la) == -1 ||
	    transport_rfcomm.format(&la, name, sizeof name) == -1)
		snprintf(name, sizeof name, "%s", listen_s);
	out("listening on %s", name);
	if (wait_fd(lfd, POLLIN, WAIT_MS, &cause) == -1) {
		rc = fail(cause);
		goto done;
	}
	pa.len = sizeof pa.ss;
	if ((fd = accept4(lfd, (struct sockaddr *)&pa.ss, &pa.len, SOCK_CLOEXEC)) == -1) {
		out("error: accept: %s", strerror(errno));
		goto done;
	}
	if (transport_rfcomm.format(&pa, name, sizeof name) == 0)
		out("accepted from %s", name);
	if (rfcomm_setup_accepted(fd, &cause) == -1) {
		rc = fail(cause);
		goto done;
	}
	if ((rc = handshake(&c, ctx, fd, TLS_SERVER, nk)) != 0 || bytes == 0)
		goto done;

	if ((sh = EVP_MD_CTX_new()) == NULL || EVP_DigestInit_ex(sh, EVP_sha256(), NULL) != 1) {
		out("error: EVP_DigestInit failed");
		goto done;
	}
	for (uint64_t left = bytes; left > 0;) {
		size_t n = left > sizeof buf ? sizeof buf : (size_t)left;
		if (ssl_io_full(tls_conn_ssl(c), 0, buf, n, &cause) == -1) {
			rc = fail(cause);
			goto done;
		}
		EVP_DigestUpdate(sh, buf, n);
		left -= n;
	}
	EVP_DigestFinal_ex(sh, md, NULL);
	if (ssl_io_full(tls_conn_ssl(c), 1, md, sizeof md, &cause) == -1) {
		rc = fail(cause);
		goto done;
	}
	out("received %llu bytes", (unsigned long long)bytes);
	/* Wait for the client to close, so our digest is not cut off by our close. */
	(void)SSL_read(tls_conn_ssl(c), buf, 1);
done:
	EVP_MD_CTX_free(sh);
	tls_conn_free(c);
	if (fd != -1)
		close(fd);
	if (lfd != -1)
		close(lfd);
	return rc;
}

static int
client(const char *remote_s, const char *from_s, const struct netkey *nk, SSL_CTX *ctx,
    uint64_t bytes)
{
	struct tp_addr ra, fa;
	struct tls_conn *c = NULL;
	EVP_MD_CTX *sh = NULL;
	uint64_t seed = 0x9e3779b97f4a7c15ULL;
	char *cause = NULL;
	uint8_t buf[XFER_CHUNK], md[DIGEST_LEN], got[DIGEST_LEN];
	uint64_t t0, t1, t2;
	socklen_t elen = sizeof(int);
	int fd = -1, rc = 1, soerr = 0;

	if (transport_rfcomm.parse(remote_s, 0, &ra, &cause) == -1 ||
	    transport_rfcomm.parse(from_s, TP_PASSIVE, &fa, &cause) == -1)
		return fail(cause);
	t0 = mono_ms();
	if ((fd = rfcomm_connect_from(&ra, &fa, &cause)) == -1)
		return fail(cause);
	if (wait_fd(fd, POLLOUT, WAIT_MS, &cause) == -1) {
		rc = fail(cause);
		goto done;
	}
	if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &elen) == -1 || soerr != 0) {
		out("error: connect to %s: %s", remote_s, strerror(soerr ? soerr : errno));
		goto done;
	}
	t1 = mono_ms();
	if ((rc = handshake(&c, ctx, fd, TLS_CLIENT, nk)) != 0)
		goto done;
	t2 = mono_ms();
	out("connect %llu ms, handshake %llu ms", (unsigned long long)(t1 - t0),
	    (unsigned long long)(t2 - t1));
	if (bytes == 0)
		goto done;

	if ((sh = EVP_MD_CTX_new()) == NULL || EVP_DigestInit_ex(sh, EVP_sha256(), NULL) != 1) {
		out("error: EVP_DigestInit failed");
		goto done;
	}
	t0 = mono_ms();
	for (uint64_t left = bytes; left > 0;) {
		size_t n = left > sizeof buf ? sizeof buf : (size_t)left;
		for (size_t i = 0; i < n; i++) { /* xorshift: not compressible, cheap */
			seed ^= seed << 13;
			seed ^= seed >> 7;
			seed ^= seed << 17;
			buf[i] = (uint8_t)seed;
		}
		EVP_DigestUpdate(sh, buf, n);
		if (ssl_io_full(tls_conn_ssl(c), 1, buf, n, &cause) == -1) {
			rc = fail(cause);
			goto done;
		}
		left -= n;
	}
	EVP_DigestFinal_ex(sh, md, NULL);
	if (ssl_io_full(tls_conn_ssl(c), 0, got, sizeof got, &cause) == -1) {
		rc = fail(cause);
		goto done;
	}
	t1 = mono_ms();
	if (memcmp(md, got, sizeof md) != 0) {
		out("error: the server's SHA-256 of the data does not match");
		rc = 1;
		goto done;
	}
	{
		double s = (double)(t1 - t0) / 1000.0;
		out("throughput %llu bytes in %.3f s = %.1f KiB/s (sha256 verified)",
		    (unsigned long long)bytes, s, s > 0 ? (double)bytes / 1024.0 / s : 0.0);
	}
done:
	EVP_MD_CTX_free(sh);
	tls_conn_free(c);
	if (fd != -1)
		close(fd);
	return rc;
}

static int
usage(void)
{
	fprintf(stderr, "usage: rfcomm_pair server LISTEN NETKEY [BYTES]\n"
	    "       rfcomm_pair client REMOTE FROM NETKEY [BYTES]\n"
	    "       rfcomm_pair avail | listen LISTEN\n");
	return 1;
}

/* The host-facing checks: what rfcomm_available() and listen() say. */
static int
probe(int argc, char **argv)
{
	struct tp_addr a;
	char name[TP_ADDRSTRLEN], *why = NULL;
	int fd;

	if (strcmp(argv[1], "avail") == 0 && argc == 2) {
		if (rfcomm_available(&why))
			out("yes");
		else
			out("no: %s", why);
		free(why);
		return 0;
	}
	if (strcmp(argv[1], "listen") == 0 && argc == 3) {
		if (transport_rfcomm.parse(argv[2], TP_PASSIVE, &a, &why) == -1 ||
		    (fd = transport_rfcomm.listen(&a, &why)) == -1)
			return fail(why);
		if (tp_addr_local(fd, &a) == -1 ||
		    transport_rfcomm.format(&a, name, sizeof name) == -1)
			snprintf(name, sizeof name, "?");
		out("ok %s", name);
		close(fd);
		return 0;
	}
	return usage();
}

int
main(int argc, char **argv)
{
	struct identity *id = NULL;
	struct netkey nk;
	SSL_CTX *ctx = NULL;
	char *cause = NULL, *why = NULL;
	const char *keyhex, *errstr = NULL;
	uint64_t bytes = 0;
	int is_server, nfixed, rc;

	signal(SIGPIPE, SIG_IGN);
	if (argc < 2)
		return usage();
	if (strcmp(argv[1], "avail") == 0 || strcmp(argv[1], "listen") == 0) {
		role = argv[1];
		return probe(argc, argv);
	}
	is_server = strcmp(argv[1], "server") == 0;
	if (!is_server && strcmp(argv[1], "client") != 0)
		return usage();
	role = argv[1];
	nfixed = is_server ? 4 : 5;
	if (argc != nfixed && argc != nfixed + 1)
		return usage();
	keyhex = argv[nfixed - 1];
	if (argc == nfixed + 1)
		bytes = (uint64_t)parse_num(argv[nfixed], 0, (long long)XFER_MAX, &errstr);
	if (errstr != NULL) {
		out("error: BYTES is %s", errstr);
		return 1;
	}
	if (netkey_parse(&nk, keyhex, strlen(keyhex)) == -1) {
		out("error: NETKEY must be 64 hex characters");
		return 1;
	}
	if (!rfcomm_available(&why)) {
		out("error: %s", why);
		free(why);
		return 1;
	}
	if (identity_generate(&id, &cause) == -1 || (ctx = tls_ctx_new(id, &cause)) == NULL) {
		identity_free(id);
		return fail(cause);
	}
	out("self %s", identity_hex(id));
	if (is_server)
		rc = server(argv[2], &nk, ctx, bytes);
	else
		rc = client(argv[2], argv[3], &nk, ctx, bytes);
	SSL_CTX_free(ctx);
	identity_free(id);
	netkey_clear(&nk);
	return rc;
}
