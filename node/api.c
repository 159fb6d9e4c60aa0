/* api.c: the control API: evhttp on a Unix socket in the data directory (0600) and,
 * optionally, on a loopback TCP address. Routing, JSON replies, status, health. */
#include "node/api.h"
#include "node/daemon.h"
#include "node/fdpass.h"
#include "node/work.h"
#include "node/net.h"
#include "node/repl.h"
#include "lib/log.h"
#include "lib/util.h"

#include <errno.h>
#include <inttypes.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>

void
api_json_text(struct evhttp_request *req, int code, struct evbuffer *b)
{
	const char *reason = code < 300 ? "OK" : "Error";

	evbuffer_add(b, "\n", 1);
	evhttp_add_header(evhttp_request_get_output_headers(req), "Content-Type",
	    "application/json");
	evhttp_send_reply(req, code, reason, b);
}

void
api_json(struct evhttp_request *req, int code, json_t *obj)
{
	struct evbuffer *b = evbuffer_new();
	char *s = json_dumps(obj, JSON_COMPACT);

	if (s == NULL)
		fatalx("json_dumps failed");
	evbuffer_add(b, s, strlen(s));
	free(s);
	json_decref(obj);
	api_json_text(req, code, b);
	evbuffer_free(b);
}

void
api_error(struct evhttp_request *req, int code, const char *error, const char *fmt, ...)
{
	char detail[1024];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(detail, sizeof detail, fmt, ap);
	va_end(ap);
	api_json(req, code, json_pack("{s:s,s:s}", "error", error, "detail", detail));
}

void
api_json_str_add(struct evbuffer *b, const char *s)
{
	const char *run = s;

	evbuffer_add(b, "\"", 1);
	for (; *s != '\0'; s++) {
		unsigned char c = (unsigned char)*s;

		if (c >= 0x20 && c != '"' && c != '\\')
			continue;
		evbuffer_add(b, run, (size_t)(s - run));
		if (c == '"' || c == '\\')
			evbuffer_add_printf(b, "\\%c", c);
		else
			evbuffer_add_printf(b, "\\u%04x", c);
		run = s + 1;
	}
	evbuffer_add(b, run, (size_t)(s - run));
	evbuffer_add(b, "\"", 1);
}

void
api_file_json_head(struct evbuffer *b, const struct db_file *f)
{
	char sha[HASH_HEX], man[HASH_HEX], origin[2 * NODE_ID_LEN + 1];

	hex_encode(f->file_hash, HASH_LEN, sha);
	hex_encode(f->manifest_hash, HASH_LEN, man);
	hex_encode(f->origin, NODE_ID_LEN, origin);
	evbuffer_add(b, "{\"key\":", 7);
	api_json_str_add(b, f->key);
	evbuffer_add_printf(b, ",\"version\":\"%016" PRIx64 "\",\"size\":%" PRIu64
	    ",\"chunk_size\":%" PRIu32 ",\"chunks\":%" PRIu64 ",\"sha256\":\"%s\""
	    ",\"manifest\":\"%s\",\"created\":%" PRId64 ",\"origin\":\"%s\""
	    ",\"chunks_present\":%" PRIu64, f->version, f->size, f->chunk_size, f->nchunks,
	    sha, man, f->created_ms, origin, f->chunks_present);
}

void
api_file_json_tail(struct evbuffer *b, int deleted, uint64_t have, uint64_t target)
{
	evbuffer_add_printf(b, ",\"replicas\":{\"have\":%" PRIu64 ",\"target\":%" PRIu64 "}%s",
	    have, target, deleted ? ",\"deleted\":true" : "");
}

void
api_file_json_end(struct evbuffer *b, const char *warning)
{
	if (warning != NULL) {
		evbuffer_add(b, ",\"warning\":", 11);
		api_json_str_add(b, warning);
	}
	evbuffer_add(b, "}", 1);
}

void
api_file_json_add(struct evbuffer *b, const struct node *n, const struct db_file *f)
{
	uint64_t have, target;

	/* replication: copies of the least replicated chunk vs the target */
	repl_file_copies((struct node *)n, f, &have, &target);
	api_file_json_head(b, f);
	api_file_json_tail(b, f->deleted, have, target);
	evbuffer_add(b, "}", 1);
}

static void
api_status(struct node *n, struct evhttp_request *req)
{
	struct db_stats st;
	char *cause = NULL;
	json_t *o;

	if (db_stats(n->db, &st, &cause) == -1) {
		api_error(req, 500, "database error", "%s", cause);
		free(cause);
		return;
	}
	o = json_pack("{s:s,s:s,s:s,s:I,s:I,s:I,s:I,s:I,s:I,s:{s:I,s:I},s:i,s:i,s:s,s:[],s:I}",
	    "node_id", n->node_hex, "version", P2P_VERSION, "data_dir", n->datadir,
	    "uptime_s", (json_int_t)((wall_ms() - n->started_ms) / 1000),
	    "files", (json_int_t)st.files, "tombstones", (json_int_t)st.tombstones,
	    "bytes", (json_int_t)st.bytes, "chunks", (json_int_t)st.chunks,
	    "chunk_bytes", (json_int_t)st.chunk_bytes,
	    "peers", "known", (json_int_t)st.peers, "connected", (json_int_t)0,
	    "uploads", (int)n->nuploads, "pid", (int)getpid(), "api", n->sock_path,
	    "listen", "chunk_size", (json_int_t)n->cfg->chunk_size);
	if (o == NULL)
		fatalx("json_pack status");
	if (n->api_tcp[0] != '\0')
		json_object_set_new(o, "api_tcp", json_string(n->api_tcp));
	/* net: peers and listen addresses */
	json_object_set_new(o, "peers", json_pack("{s:I,s:I,s:I}", "known",
	    (json_int_t)net_known(n), "connected", (json_int_t)net_connected(n),
	    "links", (json_int_t)net_links(n)));
	json_object_set_new(o, "listen", net_listen_json(n));
	api_json(req, 200, o);
}

static void
api_metrics(struct node *n, struct evhttp_request *req)
{
	struct evbuffer *b = evbuffer_new();

	metrics_render(n, b);
	evhttp_add_header(evhttp_request_get_output_headers(req), "Content-Type",
	    "text/plain; version=0.0.4");
	evhttp_send_reply(req, 200, "OK", b);
	evbuffer_free(b);
}

/* Percent-decode and validate a key from the path. Returns NULL after replying 400. */
static char *
api_key(struct evhttp_request *req, const char *raw)
{
	size_t len = 0;
	char *key = evhttp_uridecode(raw, 0, &len);
	const char *errstr;

	if (key == NULL) {
		api_error(req, 400, "bad key", "cannot decode the key");
		return NULL;
	}
	if (key_validate(key, len, &errstr) == -1) {
		api_error(req, 400, "bad key", "%s", errstr);
		free(key);
		return NULL;
	}
	return key;
}

static void
api_route(struct evhttp_request *req, void *arg)
{
	struct node *n = arg;
	const struct evhttp_uri *uri = evhttp_request_get_evhttp_uri(req);
	const char *path = uri ? evhttp_uri_get_path(uri) : NULL;
	const char *query = uri ? evhttp_uri_get_query(uri) : NULL;
	enum evhttp_cmd_type cmd = evhttp_request_get_command(req);
	struct evkeyvalq q;
	char *key = NULL;

	atomic_fetch_add(&n->m.http_requests, 1);
	TAILQ_INIT(&q);
	if (path == NULL) {
		api_error(req, 400, "bad request", "no path");
		return;
	}
	if (query != NULL && evhttp_parse_query_str(query, &q) == -1) {
		api_error(req, 400, "bad request", "malformed query string");
		return;
	}
	if (strcmp(path, "/health") == 0) {
		if (cmd != EVHTTP_REQ_GET && cmd != EVHTTP_REQ_HEAD)
			goto method;
		if (n->stopping)
			api_json(req, 503, json_pack("{s:s}", "status", "stopping"));
		else
			api_json(req, 200, json_pack("{s:s}", "status", "ok"));
		goto out;
	}
	if (n->stopping) {
		api_error(req, 503, "stopping", "the daemon is shutting down");
		goto out;
	}
	if (strcmp(path, "/metrics") == 0) {
		if (cmd != EVHTTP_REQ_GET)
			goto method;
		api_metrics(n, req);
	} else if (strcmp(path, "/v1/status") == 0) {
		if (cmd != EVHTTP_REQ_GET)
			goto method;
		api_status(n, req);
	} else if (strcmp(path, "/v1/files") == 0 || strcmp(path, "/v1/files/") == 0) {
		const char *d = evhttp_find_header(&q, "deleted");
		if (cmd != EVHTTP_REQ_GET)
			goto method;
		files_list(n, req, d != NULL && strcmp(d, "1") == 0);
	} else if (strncmp(path, "/v1/files/", 10) == 0) {
		if ((key = api_key(req, path + 10)) == NULL)
			goto out;
		switch (cmd) {
		case EVHTTP_REQ_PUT:
			files_put(n, req, key, evhttp_find_header(&q, "upload"),
			    evhttp_find_header(&q, "fd"));
			break;
		case EVHTTP_REQ_GET:
		case EVHTTP_REQ_HEAD:
			files_get(n, req, key, cmd == EVHTTP_REQ_HEAD,
			    evhttp_find_header(&q, "fd"));
			break;
		case EVHTTP_REQ_DELETE:
			files_delete(n, req, key);
			break;
		default:
			goto method;
		}
	} else if (strcmp(path, "/v1/uploads") == 0) {
		if (cmd != EVHTTP_REQ_POST)
			goto method;
		uploads_new(n, req);
	} else if (strncmp(path, "/v1/uploads/", 12) == 0) {
		char id[64];
		const char *rest = path + 12, *slash = strchr(rest, '/');
		size_t idlen = slash ? (size_t)(slash - rest) : strlen(rest);
		if (idlen == 0 || idlen >= sizeof id) {
			api_error(req, 404, "not found", "no such upload");
			goto out;
		}
		memcpy(id, rest, idlen);
		id[idlen] = '\0';
		if (slash == NULL && cmd == EVHTTP_REQ_DELETE)
			uploads_abort(n, req, id);
		else if (slash != NULL && cmd == EVHTTP_REQ_PUT)
			uploads_part(n, req, id, slash + 1);
		else
			goto method;
	} else if (strcmp(path, "/v1/peers") == 0) { /* net: peers (peer_api.c) */
		if (cmd != EVHTTP_REQ_GET)
			goto method;
		net_api_peers(n, req);
	} else if (strcmp(path, "/v1/peers/cleanup") == 0) {
		if (cmd != EVHTTP_REQ_POST)
			goto method;
		net_api_cleanup(n, req, evhttp_find_header(&q, "older_than"));
	} else if (strcmp(path, "/v1/shares") == 0) { /* replication (repl.c) */
		if (cmd != EVHTTP_REQ_GET)
			goto method;
		repl_api_shares(n, req);
	} else if (strcmp(path, "/v1/invite") == 0) {
		if (cmd != EVHTTP_REQ_GET)
			goto method;
		net_api_invite(n, req);
	} else {
		api_error(req, 404, "not found", "no such path: %s", path);
	}
	goto out;
method:
	api_error(req, 405, "method not allowed", "%s does not take that method", path);
out:
	free(key);
	evhttp_clear_headers(&q);
}

static int
api_unix_listen(struct node *n, char **cause)
{
	struct sockaddr_un sun;
	int fd;

	memset(&sun, 0, sizeof sun);
	sun.sun_family = AF_UNIX;
	if (strlen(n->sock_path) >= sizeof sun.sun_path)
		return set_cause(cause, "socket path too long (max %zu bytes): %s",
		    sizeof sun.sun_path - 1, n->sock_path);
	strcpy(sun.sun_path, n->sock_path);
	/* We hold the data directory's lock: a socket file left here is stale. */
	unlink(n->sock_path);
	if ((fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0)) == -1)
		return set_cause(cause, "socket: %s", strerror(errno));
	mode_t old = umask(0177);
	if (bind(fd, (struct sockaddr *)&sun, sizeof sun) == -1) {
		umask(old);
		close(fd);
		return set_cause(cause, "bind %s: %s", n->sock_path, strerror(errno));
	}
	umask(old);
	n->sock_bound = 1;
	chmod(n->sock_path, 0600);
	if (listen(fd, 128) == -1) {
		close(fd);
		return set_cause(cause, "listen %s: %s", n->sock_path, strerror(errno));
	}
	if (evhttp_accept_socket(n->http, fd) == -1) {
		close(fd);
		return set_cause(cause, "cannot serve %s", n->sock_path);
	}
	return 0;
}

/* libevent 2.1 moves at most 16 KiB per read or write callback by default: a 1 MiB
 * part took 64 loop iterations. Let each callback move up to 1 MiB. (That holds for
 * writes; a read stays at most 4 KiB whatever is set here, evbuffer_read's own cap in
 * 2.1: 256 loop iterations per 1 MiB part. Hence fd.sock, node/fdpass.h.) */
static struct bufferevent *
api_bevcb(struct event_base *base, void *arg)
{
	struct bufferevent *bev = bufferevent_socket_new(base, -1, BEV_OPT_CLOSE_ON_FREE);

	(void)arg;
	if (bev != NULL) {
		bufferevent_set_max_single_read(bev, 1 << 20);
		bufferevent_set_max_single_write(bev, 1 << 20);
	}
	return bev;
}

int
api_start(struct node *n, char **cause)
{
	size_t max_body = API_MAX_PUT > n->cfg->chunk_size ? API_MAX_PUT : n->cfg->chunk_size;

	n->http = evhttp_new(n->base);
	evhttp_set_gencb(n->http, api_route, n);
	evhttp_set_bevcb(n->http, api_bevcb, NULL);
	evhttp_set_max_body_size(n->http, (ev_ssize_t)max_body);
	evhttp_set_max_headers_size(n->http, 64 * 1024);
	evhttp_set_timeout(n->http, 120);
	evhttp_set_allowed_methods(n->http, EVHTTP_REQ_GET | EVHTTP_REQ_HEAD | EVHTTP_REQ_PUT |
	    EVHTTP_REQ_POST | EVHTTP_REQ_DELETE);
	if (api_unix_listen(n, cause) == -1)
		return -1;
	{
		char *why = NULL;

		if (fdpass_start(n, &why) == -1) { /* HTTP alone still works */
			log_warnx("fd.sock: %s; stores and gets go through HTTP only", why);
			free(why);
		}
	}
	if (n->cfg->api_addr != NULL) {
		char host[256], nhost[NI_MAXHOST], nport[NI_MAXSERV];
		const char *a = n->cfg->api_addr, *colon = strrchr(a, ':');
		struct evhttp_bound_socket *bound;
		struct sockaddr_storage ss;
		socklen_t sl;
		const char *errstr;
		long long port;
		size_t hl;

		if (colon == NULL)
			return set_cause(cause, "--api %s: expected HOST:PORT", a);
		port = parse_num(colon + 1, 0, 65535, &errstr); /* 0: the kernel picks */
		if (errstr != NULL)
			return set_cause(cause, "--api %s: port %s", a, errstr);
		hl = (size_t)(colon - a);
		if (hl >= 2 && a[0] == '[' && a[hl - 1] == ']') {
			a++;
			hl -= 2;
		}
		if (hl == 0 || hl >= sizeof host)
			return set_cause(cause, "--api %s: expected HOST:PORT", n->cfg->api_addr);
		memcpy(host, a, hl);
		host[hl] = '\0';
		if ((bound = evhttp_bind_socket_with_handle(n->http, host, (uint16_t)port)) == NULL)
			return set_cause(cause, "--api %s: cannot listen: %s", n->cfg->api_addr,
			    errno == EADDRINUSE ? "address already in use" : strerror(errno));
		/* Nagle's algorithm off: Linux gives the connections accepted on this socket
		 * its TCP_NODELAY (evhttp accepts them itself). A reply is a header and a
		 * body, or a stream of chunks: with Nagle, a small last segment waits for
		 * the ACK of the one before, which the client may delay by up to 40 ms. */
		{
			int on = 1;

			(void)setsockopt(evhttp_bound_socket_get_fd(bound), IPPROTO_TCP,
			    TCP_NODELAY, &on, sizeof on);
		}
		/* the address really bound (the port the kernel picked for port 0) */
		sl = sizeof ss;
		if (getsockname(evhttp_bound_socket_get_fd(bound), (struct sockaddr *)&ss,
		    &sl) == -1 || getnameinfo((struct sockaddr *)&ss, sl, nhost, sizeof nhost,
		    nport, sizeof nport, NI_NUMERICHOST | NI_NUMERICSERV) != 0)
			snprintf(n->api_tcp, sizeof n->api_tcp, "%s", n->cfg->api_addr);
		else
			snprintf(n->api_tcp, sizeof n->api_tcp, ss.ss_family == AF_INET6 ?
			    "[%s]:%s" : "%s:%s", nhost, nport);
		log_info("control API on http://%s", n->api_tcp);
	}
	return 0;
}

void
api_stop(struct node *n)
{
	if (n->http != NULL)
		evhttp_free(n->http);
	n->http = NULL;
	fdpass_stop(n);
	/* Only the daemon that bound the socket removes it: one that failed to start (the
	 * data directory is locked by another) must not cut the running one off. */
	if (n->sock_bound)
		unlink(n->sock_path);
	n->sock_bound = 0;
}
