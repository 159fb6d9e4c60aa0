/* p2pload: an HTTP load generator for the p2p control API (libevent evhttp client, one
 * thread). Not part of the daemon; built by tests/load/build.sh.
 *
 *   p2pload put --addr H:P[,H:P...] [--conns 64] [--duration S] [--count N] [--size 4096]
 *               [--prefix P] [--keys-out FILE] [--progress SECS] [--rate R] [--lat-out FILE]
 *   p2pload get --addr H:P[,...] --keys FILE [--conns 64] [--duration S | --all] [--size 4096]
 *               [--rate R] [--lat-out FILE]
 *
 * put: each connection PUTs /v1/files/<prefix>.c<conn>.<seq> with a body that is a
 *      function of the key (the key, '\n', then a xorshift stream seeded by the key's
 *      FNV-1a hash), so every body differs and any reader can recompute it. Keys answered
 *      201 are written to --keys-out, one per line.
 * get: GETs keys from --keys: random picks until --duration ends, or (--all) every key
 *      exactly once. Each 200 body is compared byte for byte with the body its key must
 *      have; a difference counts as a mismatch.
 * --duration defaults to 10 s, except with --count or --all, which run to the end.
 * Connections are spread over the --addr list round-robin (a 3-node run names 3 nodes).
 * Requests stop being issued at --duration (or --count); those in flight are awaited
 * (at most 30 s more, then counted as errors).
 *
 * Closed loop (default): each connection sends its next request as soon as the last one is
 * answered, so the rate is the server's ceiling and, by Little's law, the mean latency is
 * conns / rate. --rate R (requests/s over all connections) is open loop instead, as wrk2
 * does it: connection i's k-th request is due at start + (k * conns + i) / R, and its
 * latency counts from that due time, not from when it was sent. A connection still waiting
 * for an answer when its next request is due sends it late, and the wait is in the figure
 * (no coordinated omission): a server slower than R shows latencies that grow.
 *
 * --lat-out FILE: one line per answered request: its start (due time with --rate) in
 * seconds from the start of the run, its latency in ms, and the node it went to.
 *
 * Last line on stdout (figures; the caller decides what they mean):
 *   RESULT mode=put ok=N err=N mismatch=N secs=S rate=R p50_ms= p90_ms= p99_ms= p999_ms= max_ms=
 *          offered=R late=N   (offered: --rate, 0 closed loop; late: requests sent > 1 ms
 *          after their due time)
 * Exit 0 when err == 0 and mismatch == 0, 1 otherwise, 2 on usage errors. */
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>

#define MAX_CONNS 1024
#define MAX_ADDRS 16
#define MAX_SIZE (4u << 20)
#define KEY_MAX 128
#define DRAIN_SECS 30

enum mode { MODE_PUT, MODE_GET };

struct conn {
	int idx;
	struct evhttp_connection *evcon;
	const char *host;
	uint64_t seq;       /* put: next sequence number on this connection */
	size_t key_i;       /* get: index of the key in flight */
	char key[KEY_MAX];  /* key in flight */
	double t0;          /* send time (closed loop) or due time (--rate), seconds */
	double due;         /* --rate: when the next request is due, seconds */
	struct event *timer; /* --rate: fires at due */
	int busy;
};

static struct {
	enum mode mode;
	char *addrs[MAX_ADDRS];
	int naddrs;
	int nconns;
	double duration;
	uint64_t count;     /* 0: unbounded */
	size_t size;
	const char *prefix;
	const char *keys_out, *keys_in;
	int all;
	int duration_set;
	double rate;        /* requests/s over all connections; 0: closed loop */
	int verbose_errors;
	double progress;    /* seconds between progress lines on stderr; 0: none */
} opt = { .nconns = 64, .duration = 10, .size = 4096, .prefix = "load", .verbose_errors = 5 };

static struct event_base *base;
static struct conn conns[MAX_CONNS];
static int stopping, inflight;
static uint64_t issued, ok, err, mismatch, late;
static double t_start, t_end;
static double *lat;          /* seconds, one per completed request */
static size_t nlat, caplat;
static FILE *keys_fp, *lat_fp;
static char **keys;          /* get mode */
static size_t nkeys, next_key;
static uint64_t rng = 0x9e3779b97f4a7c15ull;
static unsigned char *expect_buf, *body_buf;

static double
now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static void
die(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	fputs("p2pload: ", stderr);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
	va_end(ap);
	exit(2);
}

static uint64_t
xorshift(uint64_t *s)
{
	uint64_t x = *s;
	x ^= x << 13;
	x ^= x >> 7;
	x ^= x << 17;
	return *s = x;
}

/* The body a key must have: the key, '\n', then a stream seeded by the key. */
static void
make_body(const char *key, unsigned char *out, size_t size)
{
	size_t klen = strlen(key), i = 0;
	uint64_t h = 0xcbf29ce484222325ull, s, v;
	for (size_t j = 0; j < klen; j++)
		h = (h ^ (unsigned char)key[j]) * 0x100000001b3ull;
	s = h ? h : 1;
	for (; i < klen && i < size; i++)
		out[i] = (unsigned char)key[i];
	if (i < size)
		out[i++] = '\n';
	while (i < size) {
		v = xorshift(&s);
		for (int b = 0; b < 8 && i < size; b++, v >>= 8)
			out[i++] = (unsigned char)v;
	}
}

static void
record_latency(double d)
{
	if (nlat == caplat) {
		caplat = caplat ? caplat * 2 : 65536;
		lat = realloc(lat, caplat * sizeof *lat);
		if (lat == NULL)
			die("out of memory");
	}
	lat[nlat++] = d;
}

static void issue(struct conn *c);
static void next(struct conn *c);

static void
maybe_finish(void)
{
	if (stopping && inflight == 0)
		event_base_loopbreak(base);
}

static void
report_error(struct conn *c, struct evhttp_request *req, const char *what)
{
	err++;
	if (opt.verbose_errors > 0) {
		opt.verbose_errors--;
		char body[201] = "";
		if (req != NULL) {
			struct evbuffer *in = evhttp_request_get_input_buffer(req);
			size_t n = evbuffer_get_length(in);
			if (n > 200)
				n = 200;
			evbuffer_copyout(in, body, n);
			body[n] = '\0';
		}
		fprintf(stderr, "p2pload: %s %s (conn %d, host %s): %s %s\n",
		    opt.mode == MODE_PUT ? "PUT" : "GET", c->key, c->idx, c->host, what, body);
	}
}

static void
done_cb(struct evhttp_request *req, void *arg)
{
	struct conn *c = arg;
	double t = now_s();
	int code = req ? evhttp_request_get_response_code(req) : 0;

	c->busy = 0;
	inflight--;
	record_latency(t - c->t0);
	if (lat_fp != NULL)
		fprintf(lat_fp, "%.4f %.3f %s\n", c->t0 - t_start, (t - c->t0) * 1000, c->host);
	if (code == 0) {
		/* evhttp reconnects on the next request; the connection must not be freed
		 * inside its own callback */
		report_error(c, req, "no response (connection error)");
	} else if (opt.mode == MODE_PUT) {
		if (code == 201) {
			ok++;
			if (keys_fp != NULL)
				fprintf(keys_fp, "%s\n", c->key);
		} else {
			char what[32];
			snprintf(what, sizeof what, "HTTP %d", code);
			report_error(c, req, what);
		}
	} else {
		struct evbuffer *in = evhttp_request_get_input_buffer(req);
		size_t n = evbuffer_get_length(in);
		if (code != 200) {
			char what[32];
			snprintf(what, sizeof what, "HTTP %d", code);
			report_error(c, req, what);
		} else {
			make_body(c->key, expect_buf, opt.size);
			if (n != opt.size || evbuffer_remove(in, body_buf, n) != (int)n ||
			    memcmp(body_buf, expect_buf, n) != 0) {
				mismatch++;
				if (opt.verbose_errors > 0) {
					opt.verbose_errors--;
					fprintf(stderr, "p2pload: GET %s: body differs (%zu bytes)\n",
					    c->key, n);
				}
			} else
				ok++;
		}
	}
	if (!stopping)
		next(c);
	maybe_finish();
}

static struct evhttp_connection *
connect_to(struct conn *c)
{
	char host[256];
	const char *colon = strrchr(c->host, ':');
	long port;
	char *end;
	if (colon == NULL || (size_t)(colon - c->host) >= sizeof host)
		die("bad address '%s' (want HOST:PORT)", c->host);
	memcpy(host, c->host, colon - c->host);
	host[colon - c->host] = '\0';
	errno = 0;
	port = strtol(colon + 1, &end, 10);
	if (errno || *end || port < 1 || port > 65535)
		die("bad port in '%s'", c->host);
	struct evhttp_connection *e =
	    evhttp_connection_base_new(base, NULL, host, (unsigned short)port);
	if (e == NULL)
		die("evhttp_connection_base_new failed");
	evhttp_connection_set_timeout(e, DRAIN_SECS);
	evhttp_connection_set_retries(e, 0);
	return e;
}

static void
issue(struct conn *c)
{
	char uri[KEY_MAX + 16];
	struct evhttp_request *req;
	enum evhttp_cmd_type cmd;

	if (opt.count && issued >= opt.count) {
		stopping = 1;
		return;
	}
	if (opt.mode == MODE_PUT) {
		snprintf(c->key, sizeof c->key, "%s.c%d.%" PRIu64, opt.prefix, c->idx, c->seq++);
	} else {
		size_t i;
		if (opt.all) {
			if (next_key >= nkeys) {
				stopping = 1;
				return;
			}
			i = next_key++;
		} else
			i = xorshift(&rng) % nkeys;
		c->key_i = i;
		snprintf(c->key, sizeof c->key, "%s", keys[i]);
	}
	if (c->evcon == NULL)
		c->evcon = connect_to(c);
	req = evhttp_request_new(done_cb, c);
	if (req == NULL)
		die("evhttp_request_new failed");
	struct evkeyvalq *h = evhttp_request_get_output_headers(req);
	evhttp_add_header(h, "Host", c->host);
	if (opt.mode == MODE_PUT) {
		char len[32];
		make_body(c->key, body_buf, opt.size);
		evbuffer_add(evhttp_request_get_output_buffer(req), body_buf, opt.size);
		snprintf(len, sizeof len, "%zu", opt.size);
		evhttp_add_header(h, "Content-Length", len);
		evhttp_add_header(h, "Content-Type", "application/octet-stream");
		cmd = EVHTTP_REQ_PUT;
	} else
		cmd = EVHTTP_REQ_GET;
	snprintf(uri, sizeof uri, "/v1/files/%s", c->key);
	if (opt.rate > 0) {
		c->t0 = c->due;
		c->due += opt.nconns / opt.rate;
	} else
		c->t0 = now_s();
	c->busy = 1;
	inflight++;
	issued++;
	if (evhttp_make_request(c->evcon, req, cmd, uri) != 0) {
		c->busy = 0;
		inflight--;
		report_error(c, NULL, "evhttp_make_request failed");
		evhttp_connection_free(c->evcon);
		c->evcon = NULL;
	}
}

static void
due_cb(evutil_socket_t fd, short what, void *arg)
{
	if (!stopping)
		issue(arg);
	maybe_finish();
}

/* The connection is free: closed loop sends at once; --rate waits for the next due time,
 * or sends at once (late) when it has passed. */
static void
next(struct conn *c)
{
	if (opt.rate <= 0) {
		issue(c);
		return;
	}
	double wait = c->due - now_s();
	if (wait <= 0) {
		if (wait < -0.001)
			late++;
		issue(c);
		return;
	}
	struct timeval tv = { (time_t)wait, (suseconds_t)((wait - (time_t)wait) * 1e6) };
	evtimer_add(c->timer, &tv);
}

static void
stop_cb(evutil_socket_t fd, short what, void *arg)
{
	stopping = 1;
	t_end = now_s();
	maybe_finish();
}

static void
hard_stop_cb(evutil_socket_t fd, short what, void *arg)
{
	fprintf(stderr, "p2pload: %d requests still in flight %d s after the end: errors\n",
	    inflight, DRAIN_SECS);
	err += inflight;
	inflight = 0;
	event_base_loopbreak(base);
}

static void
progress_cb(evutil_socket_t fd, short what, void *arg)
{
	static uint64_t last_ok;
	static size_t last_nlat;
	static double last_t;
	double t = now_s(), worst = 0;
	if (last_t == 0)
		last_t = t_start;
	for (size_t i = last_nlat; i < nlat; i++)
		if (lat[i] > worst)
			worst = lat[i];
	fprintf(stderr, "p2pload: t=%.0fs ok=%" PRIu64 " err=%" PRIu64 " rate=%.0f/s max_ms=%.1f\n",
	    t - t_start, ok, err, (ok - last_ok) / (t - last_t), worst * 1000);
	last_ok = ok;
	last_nlat = nlat;
	last_t = t;
}

static int
cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return x < y ? -1 : x > y;
}

static double
pct(double p)
{
	if (nlat == 0)
		return 0;
	size_t i = (size_t)(p * (nlat - 1) + 0.5);
	return lat[i] * 1000;
}

static void
load_keys(const char *path)
{
	FILE *f = fopen(path, "r");
	char line[KEY_MAX + 2];
	size_t cap = 0;
	if (f == NULL)
		die("%s: %s", path, strerror(errno));
	while (fgets(line, sizeof line, f) != NULL) {
		size_t n = strcspn(line, "\r\n");
		if (n == 0)
			continue;
		if (n >= KEY_MAX)
			die("%s: key too long", path);
		line[n] = '\0';
		if (nkeys == cap) {
			cap = cap ? cap * 2 : 65536;
			keys = realloc(keys, cap * sizeof *keys);
			if (keys == NULL)
				die("out of memory");
		}
		if ((keys[nkeys++] = strdup(line)) == NULL)
			die("out of memory");
	}
	fclose(f);
	if (nkeys == 0)
		die("%s: no keys", path);
}

static unsigned long long
num(const char *flag, const char *s, unsigned long long max)
{
	char *end;
	errno = 0;
	unsigned long long v = strtoull(s, &end, 10);
	if (errno || end == s || *end || v > max || s[0] == '-')
		die("bad %s '%s'", flag, s);
	return v;
}

static void
usage(void)
{
	fprintf(stderr,
	    "usage: p2pload put --addr H:P[,H:P...] [--conns N] [--duration S] [--count N]\n"
	    "                   [--size BYTES] [--prefix P] [--keys-out FILE] [--progress S]\n"
	    "                   [--rate R] [--lat-out FILE]\n"
	    "       p2pload get --addr H:P[,...] --keys FILE [--conns N] [--duration S | --all]\n"
	    "                   [--size BYTES] [--rate R] [--lat-out FILE]\n");
	exit(2);
}

int
main(int argc, char **argv)
{
	char *addrlist = NULL;
	if (argc < 2)
		usage();
	if (strcmp(argv[1], "put") == 0)
		opt.mode = MODE_PUT;
	else if (strcmp(argv[1], "get") == 0)
		opt.mode = MODE_GET;
	else
		usage();
	for (int i = 2; i < argc; i++) {
		const char *a = argv[i];
		const char *v = i + 1 < argc ? argv[i + 1] : NULL;
		if (strcmp(a, "--all") == 0) {
			opt.all = 1;
			continue;
		}
		if (v == NULL)
			usage();
		i++;
		if (strcmp(a, "--addr") == 0)
			addrlist = strdup(v);
		else if (strcmp(a, "--conns") == 0)
			opt.nconns = (int)num(a, v, MAX_CONNS);
		else if (strcmp(a, "--duration") == 0) {
			char *end;
			opt.duration = strtod(v, &end);
			if (*end || !(opt.duration > 0 && opt.duration < 86400))
				die("bad --duration '%s'", v);
			opt.duration_set = 1;
		} else if (strcmp(a, "--rate") == 0) {
			char *end;
			opt.rate = strtod(v, &end);
			if (*end || !(opt.rate > 0 && opt.rate <= 1e7))
				die("bad --rate '%s' (requests/s, over 0)", v);
		} else if (strcmp(a, "--count") == 0)
			opt.count = num(a, v, UINT64_MAX);
		else if (strcmp(a, "--size") == 0)
			opt.size = num(a, v, MAX_SIZE);
		else if (strcmp(a, "--progress") == 0) {
			char *end;
			opt.progress = strtod(v, &end);
			if (*end || !(opt.progress >= 0 && opt.progress < 86400))
				die("bad --progress '%s'", v);
		} else if (strcmp(a, "--prefix") == 0)
			opt.prefix = v;
		else if (strcmp(a, "--keys-out") == 0)
			opt.keys_out = v;
		else if (strcmp(a, "--keys") == 0)
			opt.keys_in = v;
		else if (strcmp(a, "--lat-out") == 0) {
			if ((lat_fp = fopen(v, "w")) == NULL)
				die("%s: %s", v, strerror(errno));
		}
		else
			usage();
	}
	if (addrlist == NULL || opt.nconns < 1 || opt.size < KEY_MAX + 1)
		usage();
	for (char *s = strtok(addrlist, ","); s != NULL; s = strtok(NULL, ",")) {
		if (opt.naddrs == MAX_ADDRS)
			die("at most %d addresses", MAX_ADDRS);
		opt.addrs[opt.naddrs++] = s;
	}
	if (opt.naddrs == 0)
		usage();
	if (strlen(opt.prefix) > 64 || strpbrk(opt.prefix, "/%?# ") != NULL)
		die("bad --prefix (at most 64 characters, none of / %% ? # space)");
	if (opt.mode == MODE_GET) {
		if (opt.keys_in == NULL)
			usage();
		load_keys(opt.keys_in);
	}
	if (opt.keys_out != NULL && (keys_fp = fopen(opt.keys_out, "w")) == NULL)
		die("%s: %s", opt.keys_out, strerror(errno));
	if ((expect_buf = malloc(opt.size)) == NULL || (body_buf = malloc(opt.size)) == NULL)
		die("out of memory");
	signal(SIGPIPE, SIG_IGN);
	rng ^= (uint64_t)time(NULL) << 20;

	if ((base = event_base_new()) == NULL)
		die("event_base_new failed");
	struct timeval d = { (time_t)opt.duration,
		(suseconds_t)((opt.duration - (time_t)opt.duration) * 1e6) };
	struct timeval hd = d;
	hd.tv_sec += DRAIN_SECS;
	struct event *stop_ev = evtimer_new(base, stop_cb, NULL);
	struct event *hard_ev = evtimer_new(base, hard_stop_cb, NULL);
	/* --all and --count run to completion unless a --duration is given */
	if (opt.duration_set || (!opt.all && !opt.count))
		evtimer_add(stop_ev, &d);
	if (!opt.all && !opt.count)
		evtimer_add(hard_ev, &hd);

	struct event *prog_ev = event_new(base, -1, EV_PERSIST, progress_cb, NULL);
	if (opt.progress > 0) {
		struct timeval pt = { (time_t)opt.progress,
			(suseconds_t)((opt.progress - (time_t)opt.progress) * 1e6) };
		evtimer_add(prog_ev, &pt);
	}
	t_start = now_s();
	for (int i = 0; i < opt.nconns && !stopping; i++) {
		conns[i].idx = i;
		conns[i].host = opt.addrs[i % opt.naddrs];
		if (opt.rate > 0) {
			conns[i].due = t_start + i / opt.rate;
			if ((conns[i].timer = evtimer_new(base, due_cb, &conns[i])) == NULL)
				die("evtimer_new failed");
		}
		next(&conns[i]);
	}
	if (inflight > 0 || opt.rate > 0)
		event_base_dispatch(base);
	if (t_end == 0)
		t_end = now_s();
	double secs = t_end - t_start;

	if (keys_fp != NULL && fclose(keys_fp) != 0)
		die("%s: write failed", opt.keys_out);
	if (lat_fp != NULL && fclose(lat_fp) != 0)
		die("--lat-out: write failed");
	qsort(lat, nlat, sizeof *lat, cmp_double);
	/* rate: requests answered successfully per second of the issuing window */
	printf("RESULT mode=%s conns=%d addrs=%d size=%zu ok=%" PRIu64 " err=%" PRIu64
	       " mismatch=%" PRIu64 " secs=%.2f rate=%.0f p50_ms=%.2f p90_ms=%.2f p99_ms=%.2f"
	       " p999_ms=%.2f max_ms=%.2f offered=%.0f late=%" PRIu64 "\n",
	    opt.mode == MODE_PUT ? "put" : "get", opt.nconns, opt.naddrs, opt.size, ok, err,
	    mismatch, secs, secs > 0 ? ok / secs : 0, pct(0.50), pct(0.90), pct(0.99),
	    pct(0.999), nlat ? lat[nlat - 1] * 1000 : 0, opt.rate, late);
	for (int i = 0; i < opt.nconns; i++) {
		if (conns[i].evcon != NULL)
			evhttp_connection_free(conns[i].evcon);
		if (conns[i].timer != NULL)
			event_free(conns[i].timer);
	}
	event_free(prog_ev);
	event_free(stop_ev);
	event_free(hard_ev);
	event_base_free(base);
	return err == 0 && mismatch == 0 ? 0 : 1;
}
