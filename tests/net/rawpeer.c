/* rawpeer.c: a deliberately misbehaving peer for the t_net_* integration tests.
 *
 * It dials a daemon, completes TLS 1.3 + AUTH with a given network key (through the
 * project's own p2p/tls.c blocking driver), optionally sends a HELLO (its real node ID
 * or a forged one), then sends whatever raw bytes it is given and reports what comes
 * back, one line per event:
 *   auth ok peer=<hex> self=<hex>  handshake done     recv TYPE ...   a frame
 *   (CHUNK_ACK: "recv CHUNK_ACK hash=<first 4 bytes, hex> status=N")
 *   (PEERS: then "  peer <short id> <address> tcp|rfcomm|other" per entry)
 *   closed                     the daemon closed     timeout         still open
 *   handshake failed: ...      (exit 3)              wrong network key: ... (exit 4)
 *
 * Built by the tests from the sources:
 *   cc -std=c17 -D_GNU_SOURCE -I. -o rawpeer tests/net/rawpeer.c p2p/[a-z]*.c lib/[a-z]*.c \
 *       $(pkg-config --cflags --libs openssl)
 *
 * --identity KEYFILE: speak as the node whose node.key that is (default: a fresh key).
 *
 * usage: rawpeer --key FILE [--identity KEYFILE] [--hello] [--hello-id HEX] [--hello-addr A]...
 *                [--send HEX]... [--send-file FILE_OF_HEX]... [--tls-only] [--pong]
 *                [--wait MS] HOST:PORT */
#include "lib/buf.h"
#include "lib/util.h"
#include "p2p/frame.h"
#include "p2p/identity.h"
#include "p2p/msg.h"
#include "p2p/netkey.h"
#include "p2p/tls.h"
#include "p2p/transport.h"

#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/ssl.h>

#define MAXSEND 32

static void
usage(void)
{
	fprintf(stderr, "usage: rawpeer --key FILE [--identity KEYFILE] [--hello] [--hello-id HEX] "
	    "[--hello-addr A]... [--send HEX]... [--tls-only] [--pong] [--wait MS] "
	    "HOST:PORT\n");
	exit(2);
}

static int
set_rcvtimeo(int fd, int ms)
{
	struct timeval tv = { .tv_sec = ms / 1000, .tv_usec = (ms % 1000) * 1000 };

	return setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
}

static uint8_t *
unhex(const char *s, size_t *len)
{
	size_t n = strlen(s) / 2;
	uint8_t *p;

	if (strlen(s) % 2 != 0)
		return NULL;
	p = xmalloc(n ? n : 1);
	if (hex_decode(s, p, n) != 0) {
		free(p);
		return NULL;
	}
	*len = n;
	return p;
}

static void
print_msg(const struct msg *m)
{
	char id[NODE_ID_SHORT_LEN + 1];

	switch (m->type) {
	case MSG_HELLO:
		node_id_short(m->u.hello.id, id);
		printf("recv HELLO id=%s addrs=%u\n", id, m->u.hello.naddrs);
		break;
	case MSG_PEERS:
		printf("recv PEERS n=%u\n", m->u.peers.n);
		for (unsigned i = 0; i < m->u.peers.n; i++) {
			uint8_t t = m->u.peers.v[i].transport;

			node_id_short(m->u.peers.v[i].id, id);
			printf("  peer %s %s %s\n", id, m->u.peers.v[i].addr,
			    t == MSG_TRANSPORT_TCP ? "tcp" : t == MSG_TRANSPORT_RFCOMM ? "rfcomm" :
			    "other");
		}
		break;
	case MSG_GOODBYE:
		printf("recv GOODBYE reason=%u text=%s\n", m->u.goodbye.reason, m->u.goodbye.text);
		break;
	case MSG_ERROR:
		printf("recv ERROR code=%u text=%s\n", m->u.error.code, m->u.error.text);
		break;
	case MSG_CHUNK_ACK:
		printf("recv CHUNK_ACK hash=%02x%02x%02x%02x status=%u\n", m->u.ref.hash[0],
		    m->u.ref.hash[1], m->u.ref.hash[2], m->u.ref.hash[3], m->u.ref.status);
		break;
	default:
		printf("recv %s\n", msg_type_name(m->type));
	}
	fflush(stdout);
}

int
main(int argc, char **argv)
{
	enum { O_KEY = 0x100, O_HELLO, O_HELLO_ID, O_HELLO_ADDR, O_SEND, O_TLS_ONLY, O_WAIT,
	    O_PONG, O_SEND_FILE, O_IDENTITY };
	static const struct option opts[] = {
		{ "key", required_argument, NULL, O_KEY },
		{ "hello", no_argument, NULL, O_HELLO },
		{ "hello-id", required_argument, NULL, O_HELLO_ID },
		{ "hello-addr", required_argument, NULL, O_HELLO_ADDR },
		{ "send", required_argument, NULL, O_SEND },
		{ "send-file", required_argument, NULL, O_SEND_FILE },
		{ "identity", required_argument, NULL, O_IDENTITY },
		{ "tls-only", no_argument, NULL, O_TLS_ONLY },
		{ "pong", no_argument, NULL, O_PONG },
		{ "wait", required_argument, NULL, O_WAIT },
		{ NULL, 0, NULL, 0 },
	};
	const char *keyfile = NULL, *idfile = NULL, *hello_id = NULL, *sends[MAXSEND], *haddrs[16];
	int nsend = 0, nhaddr = 0, hello = 0, tls_only = 0, pong = 0, wait_ms = 3000, ch, fd;
	struct identity *id = NULL;
	struct tls_conn *tc = NULL;
	struct netkey nk;
	struct tp_addr ta;
	SSL_CTX *ctx;
	char *cause = NULL;
	int rc;

	signal(SIGPIPE, SIG_IGN);
	while ((ch = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (ch) {
		case O_KEY: keyfile = optarg; break;
		case O_HELLO: hello = 1; break;
		case O_HELLO_ID: hello = 1; hello_id = optarg; break;
		case O_HELLO_ADDR:
			if (nhaddr < 16)
				haddrs[nhaddr++] = optarg;
			break;
		case O_SEND:
			if (nsend < MAXSEND)
				sends[nsend++] = optarg;
			break;
		case O_SEND_FILE: {
			FILE *fp = fopen(optarg, "r");
			char *line = NULL;
			size_t cap = 0;
			ssize_t n;

			if (fp == NULL || (n = getline(&line, &cap, fp)) <= 0) {
				fprintf(stderr, "rawpeer: cannot read %s\n", optarg);
				return 2;
			}
			fclose(fp);
			line[strcspn(line, "\r\n")] = '\0';
			if (nsend < MAXSEND)
				sends[nsend++] = line;
			break;
		}
		case O_IDENTITY: idfile = optarg; break;
		case O_TLS_ONLY: tls_only = 1; break;
		case O_PONG: pong = 1; break;
		case O_WAIT: wait_ms = atoi(optarg); break;
		default: usage();
		}
	}
	if (optind != argc - 1 || keyfile == NULL)
		usage();
	if (netkey_load(&nk, keyfile, &cause) != 0) {
		fprintf(stderr, "rawpeer: key: %s\n", cause ? cause : "missing");
		return 2;
	}
	if ((idfile != NULL ? identity_load(&id, idfile, &cause) :
	    identity_generate(&id, &cause)) == -1 || (ctx = tls_ctx_new(id, &cause)) == NULL) {
		fprintf(stderr, "rawpeer: %s\n", cause);
		return 2;
	}
	if (transport_tcp.parse(argv[optind], 0, &ta, &cause) == -1) {
		fprintf(stderr, "rawpeer: %s\n", cause);
		return 2;
	}
	if ((fd = socket(ta.ss.ss_family, SOCK_STREAM, 0)) == -1 ||
	    connect(fd, (struct sockaddr *)&ta.ss, ta.len) == -1) {
		printf("connect failed: %s\n", strerror(errno));
		return 3;
	}
	if (tls_only) {
		SSL *ssl = SSL_new(ctx);

		set_rcvtimeo(fd, 5000);
		SSL_set_fd(ssl, fd);
		if (SSL_connect(ssl) != 1) {
			printf("handshake failed: TLS\n");
			return 3;
		}
		printf("tls ok\n");
		fflush(stdout);
		/* send nothing: see whether the daemon gives up on us */
		{
			char b[64];
			int r;

			set_rcvtimeo(fd, wait_ms);
			/* the daemon's AUTH may come first: read until EOF or the timeout */
			do {
				errno = 0;
				r = SSL_read(ssl, b, sizeof b);
			} while (r > 0);
			printf(errno == EAGAIN || errno == EWOULDBLOCK ? "timeout\n" : "closed\n");
		}
		return 0;
	}
	rc = tls_conn_handshake(&tc, ctx, fd, TLS_CLIENT, &nk, 5000, &cause);
	if (rc == TLS_EAUTH) {
		printf("wrong network key: %s\n", cause);
		return 4;
	}
	if (rc != 0) {
		printf("handshake failed: %s\n", cause);
		return 3;
	}
	{
		char hex[NODE_ID_HEX_LEN + 1];

		node_id_hex(tls_conn_peer_id(tc), hex);
		printf("auth ok peer=%s self=%s\n", hex, identity_hex(id));
		fflush(stdout);
	}
	if (hello) {
		struct msg m;

		memset(&m, 0, sizeof m);
		m.type = MSG_HELLO;
		memcpy(m.u.hello.id, identity_id(id), NODE_ID_LEN);
		if (hello_id != NULL && hex_decode(hello_id, m.u.hello.id, NODE_ID_LEN) != 0) {
			fprintf(stderr, "rawpeer: bad --hello-id\n");
			return 2;
		}
		for (int i = 0; i < nhaddr; i++)
			snprintf(m.u.hello.addrs[m.u.hello.naddrs++], MSG_ADDR_MAX + 1, "%s",
			    haddrs[i]);
		snprintf(m.u.hello.version, sizeof m.u.hello.version, "rawpeer");
		if (tls_conn_send(tc, &m, &cause) == -1) {
			printf("send failed: %s\n", cause);
			return 3;
		}
	}
	for (int i = 0; i < nsend; i++) {
		size_t len = 0;
		uint8_t *p = unhex(sends[i], &len);

		if (p == NULL) {
			fprintf(stderr, "rawpeer: bad --send hex\n");
			return 2;
		}
		if (len > 0 && SSL_write(tls_conn_ssl(tc), p, (int)len) <= 0) {
			printf("send failed\n");
			free(p);
			break;
		}
		free(p);
	}
	/* what comes back, until the daemon closes or wait_ms of silence */
	set_rcvtimeo(fd, wait_ms);
	for (;;) {
		struct msg m;

		errno = 0;
		if (tls_conn_recv(tc, &m, &cause) == -1) {
			printf(strstr(cause, "timed out") != NULL ? "timeout\n" : "closed\n");
			free(cause);
			cause = NULL;
			break;
		}
		print_msg(&m);
		if (pong && m.type == MSG_PING) {
			struct msg r = m;

			r.type = MSG_PONG;
			tls_conn_send(tc, &r, NULL);
		}
		msg_clear(&m);
	}
	tls_conn_free(tc);
	close(fd);
	SSL_CTX_free(ctx);
	identity_free(id);
	return 0;
}
