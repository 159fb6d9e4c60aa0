/* client.c: see client.h. */
#include "cmd/client.h"
#include "cmd/common.h"
#include "lib/log.h"
#include "lib/util.h"

#include <curl/curl.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#define CLIENT_BODY_MAX (64u << 20) /* a JSON reply (files list) or an error body */
#define CLIENT_CONNECT_TIMEOUT 10L
#define CLIENT_STALL_SECS 300L      /* give up when nothing moved for this long */

struct client {
	CURL *curl;
	char *db_path;
	char *datadir;
	char *sock;
	int flags;
	struct curl_slist *headers;
	char errbuf[CURL_ERROR_SIZE];

	/* the request in flight */
	const struct client_req *q;
	struct client_reply *r;
	size_t up_off;
	char *buf;
	size_t buflen, bufcap;
	int too_big;
	int sink_failed;
};

static void
print_nodaemon(const struct client *c)
{
	cmd_err("no p2p daemon is running for %s (start one with: p2p serve --db %s)",
	    c->datadir, c->db_path);
}

int
client_open(struct client **out, const char *db_path, int flags)
{
	struct client *c;
	struct stat st;

	*out = NULL;
	c = xcalloc(1, sizeof *c);
	c->flags = flags;
	c->db_path = xstrdup(db_path);
	c->datadir = path_dirname(db_path);
	xasprintf(&c->sock, "%s/api.sock", c->datadir);

	if (stat(c->sock, &st) == -1) {
		if (errno == ENOENT || errno == ENOTDIR) {
			if (!(flags & CLIENT_QUIET_NODAEMON))
				print_nodaemon(c);
			client_free(c);
			return CLIENT_NODAEMON;
		}
		cmd_err("cannot reach %s: %s", c->sock, strerror(errno));
		goto fail;
	}
	if (!S_ISSOCK(st.st_mode)) {
		cmd_err("%s is not a socket; is %s a p2p data directory?", c->sock, c->datadir);
		goto fail;
	}
	if (access(c->sock, R_OK | W_OK) == -1) {
		cmd_err("cannot connect to %s: %s (the socket belongs to the node's user)",
		    c->sock, strerror(errno));
		goto fail;
	}
	if (strlen(c->sock) >= sizeof(((struct sockaddr_un *)NULL)->sun_path)) {
		cmd_err("socket path %s is too long for a Unix socket", c->sock);
		goto fail;
	}
	if ((c->curl = curl_easy_init()) == NULL) {
		cmd_err("cannot initialise libcurl");
		goto fail;
	}
	/* No "Expect: 100-continue" round trip before each part. */
	c->headers = curl_slist_append(NULL, "Expect:");
	*out = c;
	return 0;
fail:
	client_free(c);
	return -1;
}

void
client_free(struct client *c)
{
	if (c == NULL)
		return;
	if (c->curl != NULL)
		curl_easy_cleanup(c->curl);
	curl_slist_free_all(c->headers);
	free(c->buf);
	free(c->db_path);
	free(c->datadir);
	free(c->sock);
	free(c);
}

const char *
client_datadir(const struct client *c)
{
	return c->datadir;
}

char *
client_escape(struct client *c, const char *s)
{
	char *e = curl_easy_escape(c->curl, s, (int)strlen(s));
	char *copy;

	if (e == NULL)
		fatalx("curl_easy_escape failed");
	copy = xstrdup(e);
	curl_free(e);
	return copy;
}

static size_t
read_cb(char *dst, size_t size, size_t nmemb, void *arg)
{
	struct client *c = arg;
	size_t n = size * nmemb, left = c->q->len - c->up_off;

	if (n > left)
		n = left;
	if (n > 0) {
		memcpy(dst, (const char *)c->q->body + c->up_off, n);
		c->up_off += n;
	}
	return n;
}

static int
status_ok(long status)
{
	return status >= 200 && status < 300;
}

static size_t
write_cb(char *p, size_t size, size_t nmemb, void *arg)
{
	struct client *c = arg;
	size_t n = size * nmemb;
	long status = 0;

	curl_easy_getinfo(c->curl, CURLINFO_RESPONSE_CODE, &status);
	if (status_ok(status) && c->q->sink != NULL) {
		if (c->q->sink(c->q->sink_arg, p, n) != 0) {
			c->sink_failed = 1;
			return 0;
		}
		c->r->received += n;
		return n;
	}
	if (n > CLIENT_BODY_MAX - c->buflen) {
		c->too_big = 1;
		return 0;
	}
	if (c->buflen + n + 1 > c->bufcap) {
		size_t cap = c->bufcap ? c->bufcap : 4096;

		while (cap < c->buflen + n + 1)
			cap *= 2;
		c->buf = xreallocarray(c->buf, cap, 1);
		c->bufcap = cap;
	}
	memcpy(c->buf + c->buflen, p, n);
	c->buflen += n;
	c->buf[c->buflen] = '\0';
	return n;
}

/* Copy one header value (trimmed) if its name matches. */
static void
header_value(const char *line, size_t n, const char *name, char *out, size_t outlen)
{
	size_t nl = strlen(name), vlen;
	const char *v;

	if (n <= nl || strncasecmp(line, name, nl) != 0 || line[nl] != ':')
		return;
	v = line + nl + 1;
	vlen = n - nl - 1;
	while (vlen > 0 && (*v == ' ' || *v == '\t')) {
		v++;
		vlen--;
	}
	while (vlen > 0 && (v[vlen - 1] == '\r' || v[vlen - 1] == '\n' || v[vlen - 1] == ' '))
		vlen--;
	if (vlen >= outlen)
		return; /* not what we expect: ignore it */
	memcpy(out, v, vlen);
	out[vlen] = '\0';
}

static size_t
header_cb(char *p, size_t size, size_t nmemb, void *arg)
{
	struct client *c = arg;
	size_t n = size * nmemb;

	if (n >= 5 && strncmp(p, "HTTP/", 5) == 0) {
		/* a new response (after a 1xx): forget the earlier headers */
		c->r->sha256[0] = '\0';
		c->r->version[0] = '\0';
		return n;
	}
	header_value(p, n, "X-P2P-SHA256", c->r->sha256, sizeof c->r->sha256);
	header_value(p, n, "X-P2P-Version", c->r->version, sizeof c->r->version);
	return n;
}

static int
xferinfo_cb(void *arg, curl_off_t dltotal, curl_off_t dlnow, curl_off_t ultotal,
    curl_off_t ulnow)
{
	struct client *c = arg;

	if (cmd_interrupted && !c->q->uninterruptible)
		return 1;
	if (c->q->progress == NULL)
		return 0;
	if (ulnow > 0)
		c->q->progress(c->q->progress_arg, (uint64_t)ulnow,
		    ultotal > 0 ? (uint64_t)ultotal : 0);
	else
		c->q->progress(c->q->progress_arg, (uint64_t)dlnow,
		    dltotal > 0 ? (uint64_t)dltotal : 0);
	return 0;
}

int
client_do(struct client *c, const struct client_req *q, struct client_reply *r)
{
	CURL *h = c->curl;
	char *url;
	CURLcode rc;
	curl_off_t clen = -1;

	memset(r, 0, sizeof *r);
	r->content_length = -1;
	c->q = q;
	c->r = r;
	c->up_off = 0;
	c->buflen = 0;
	c->too_big = 0;
	c->sink_failed = 0;
	if (cmd_interrupted && !q->uninterruptible) {
		cmd_err("interrupted");
		return -1;
	}

	/* Reset keeps the live connection: the next request reuses it. */
	curl_easy_reset(h);
	xasprintf(&url, "http://localhost%s", q->path);
	curl_easy_setopt(h, CURLOPT_URL, url);
	curl_easy_setopt(h, CURLOPT_UNIX_SOCKET_PATH, c->sock);
	/* Keys are names: "." and ".." must reach the daemon, not be resolved away. */
	curl_easy_setopt(h, CURLOPT_PATH_AS_IS, 1L);
	curl_easy_setopt(h, CURLOPT_ERRORBUFFER, c->errbuf);
	curl_easy_setopt(h, CURLOPT_HTTPHEADER, c->headers);
	curl_easy_setopt(h, CURLOPT_USERAGENT, "p2p/" P2P_VERSION);
	curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT, CLIENT_CONNECT_TIMEOUT);
	curl_easy_setopt(h, CURLOPT_LOW_SPEED_LIMIT, 1L);
	curl_easy_setopt(h, CURLOPT_LOW_SPEED_TIME, CLIENT_STALL_SECS);
	curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http");
	/* 1 MiB parts: fewer, larger reads and writes than curl's 16/64 KiB defaults. */
	curl_easy_setopt(h, CURLOPT_BUFFERSIZE, 512L * 1024);
	curl_easy_setopt(h, CURLOPT_UPLOAD_BUFFERSIZE, 1024L * 1024);
	curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, write_cb);
	curl_easy_setopt(h, CURLOPT_WRITEDATA, c);
	curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, header_cb);
	curl_easy_setopt(h, CURLOPT_HEADERDATA, c);
	curl_easy_setopt(h, CURLOPT_NOPROGRESS, 0L);
	curl_easy_setopt(h, CURLOPT_XFERINFOFUNCTION, xferinfo_cb);
	curl_easy_setopt(h, CURLOPT_XFERINFODATA, c);
	if (strcmp(q->method, "GET") == 0) {
		curl_easy_setopt(h, CURLOPT_HTTPGET, 1L);
	} else if (strcmp(q->method, "HEAD") == 0) {
		curl_easy_setopt(h, CURLOPT_NOBODY, 1L);
	} else if (strcmp(q->method, "POST") == 0) {
		curl_easy_setopt(h, CURLOPT_POST, 1L);
		curl_easy_setopt(h, CURLOPT_POSTFIELDS, q->body != NULL ? q->body : "");
		curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)q->len);
	} else if (strcmp(q->method, "PUT") == 0) {
		curl_easy_setopt(h, CURLOPT_UPLOAD, 1L);
		curl_easy_setopt(h, CURLOPT_READFUNCTION, read_cb);
		curl_easy_setopt(h, CURLOPT_READDATA, c);
		curl_easy_setopt(h, CURLOPT_INFILESIZE_LARGE, (curl_off_t)q->len);
	} else {
		curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, q->method);
	}
	c->errbuf[0] = '\0';
	rc = curl_easy_perform(h);
	free(url);

	if (rc != CURLE_OK && q->quiet)
		return rc == CURLE_COULDNT_CONNECT ? CLIENT_NODAEMON : -1;
	switch (rc) {
	case CURLE_OK:
		break;
	case CURLE_COULDNT_CONNECT:
		if (!(c->flags & CLIENT_QUIET_NODAEMON))
			print_nodaemon(c);
		return CLIENT_NODAEMON;
	case CURLE_ABORTED_BY_CALLBACK:
		cmd_err("interrupted");
		return -1;
	case CURLE_WRITE_ERROR:
		if (c->sink_failed)
			return -1; /* the sink said why */
		if (c->too_big) {
			cmd_err("the daemon's reply to %s %s is larger than %u MiB", q->method,
			    q->path, CLIENT_BODY_MAX >> 20);
			return -1;
		}
		/* FALLTHROUGH */
	default:
		cmd_err("%s %s: %s", q->method, q->path,
		    c->errbuf[0] != '\0' ? c->errbuf : curl_easy_strerror(rc));
		return -1;
	}
	curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &r->status);
	if (curl_easy_getinfo(h, CURLINFO_CONTENT_LENGTH_DOWNLOAD_T, &clen) == CURLE_OK)
		r->content_length = clen;
	if (c->buflen > 0) {
		json_error_t jerr;

		r->json = json_loadb(c->buf, c->buflen, 0, &jerr);
		if (r->json == NULL && status_ok(r->status) && q->sink == NULL) {
			cmd_err("%s %s: the daemon's reply is not JSON: %s", q->method, q->path,
			    jerr.text);
			return -1;
		}
	}
	return 0;
}

void
client_reply_free(struct client_reply *r)
{
	if (r == NULL)
		return;
	json_decref(r->json);
	r->json = NULL;
}

/* For replies without a JSON error object (API.md's status table). */
static const char *
status_text(long status)
{
	switch (status) {
	case 400: return "bad request";
	case 404: return "not found";
	case 405: return "method not allowed";
	case 409: return "conflict";
	case 413: return "too large";
	case 503: return "daemon unavailable";
	case 507: return "no space left on device";
	default: return "error";
	}
}

int
client_print_error(const struct client_reply *r)
{
	const char *err = NULL, *detail = NULL;

	if (r->json != NULL && json_is_object(r->json)) {
		err = json_string_value(json_object_get(r->json, "error"));
		detail = json_string_value(json_object_get(r->json, "detail"));
	}
	if (err == NULL)
		err = status_text(r->status);
	if (detail != NULL && *detail != '\0')
		cmd_err("%s: %s", err, detail);
	else
		cmd_err("%s (HTTP %ld)", err, r->status);
	return EXIT_FAIL;
}

int
client_call_json(const char *db_path, int flags, const char *method, const char *path,
    const char *field, json_type type, json_t **out)
{
	struct client *c = NULL;
	struct client_req q = { .method = method, .path = path };
	struct client_reply r;
	json_t *v;
	int rc;

	memset(&r, 0, sizeof r);
	*out = NULL;
	if ((rc = client_open(&c, db_path, flags)) != 0 || (rc = client_do(c, &q, &r)) != 0)
		goto out;
	rc = -1;
	if (r.status != 200) {
		client_print_error(&r);
		goto out;
	}
	v = field != NULL ? json_object_get(r.json, field) : r.json;
	if (!json_is_object(r.json) || v == NULL || json_typeof(v) != type) {
		cmd_err("%s %s: unexpected reply from the daemon", method, path);
		goto out;
	}
	*out = json_incref(r.json);
	rc = 0;
out:
	client_reply_free(&r);
	client_free(c);
	return rc;
}
