/* fdpass.c: see fdpass.h. */
#include "node/fdpass.h"
#include "node/daemon.h"
#include "lib/log.h"
#include "lib/util.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <event2/event.h>
#include <openssl/rand.h>

#define FDPASS_MAX 64       /* connections at once; more are closed at accept */
#define FDPASS_IDLE_S 60    /* a connection whose token is not used by then is closed */
#define FDPASS_FDS 4        /* room for a few descriptors, to see (and close) extras */

struct fdconn {
	TAILQ_ENTRY(fdconn) entry;
	struct fdpass *fp;
	int sock;
	struct event *ev;
	int fd;                 /* the descriptor passed; -1 before */
	char token[33];
};

struct fdpass {
	struct node *n;
	char *path;
	int lfd;
	struct event *lev;
	struct event *pause;    /* out of descriptors: accept again in a second */
	TAILQ_HEAD(, fdconn) conns;
	unsigned nconns;
};

static void
conn_free(struct fdconn *c)
{
	TAILQ_REMOVE(&c->fp->conns, c, entry);
	c->fp->nconns--;
	event_free(c->ev);
	if (c->fd != -1)
		close(c->fd);
	if (c->sock != -1)
		close(c->sock);
	free(c);
}

/* Refuse: one line, then close. */
static void
conn_refuse(struct fdconn *c, const char *why)
{
	char line[128];
	int len = snprintf(line, sizeof line, "ERR %s\n", why);

	(void)send(c->sock, line, (size_t)len, MSG_NOSIGNAL | MSG_DONTWAIT);
	log_debug("fd.sock: refused a descriptor: %s", why);
	conn_free(c);
}

static void
conn_read(evutil_socket_t sock, short what, void *arg)
{
	struct fdconn *c = arg;
	union {
		struct cmsghdr h;
		char b[CMSG_SPACE(FDPASS_FDS * sizeof(int))];
	} cm;
	char buf[16], line[64];
	struct iovec iov = { buf, sizeof buf };
	struct msghdr mh;
	struct cmsghdr *h;
	struct stat st;
	uint8_t rnd[16];
	int fds[FDPASS_FDS], nfds = 0, len;
	ssize_t r;

	if (what & EV_TIMEOUT) {
		conn_free(c);
		return;
	}
	memset(&mh, 0, sizeof mh);
	mh.msg_iov = &iov;
	mh.msg_iovlen = 1;
	mh.msg_control = cm.b;
	mh.msg_controllen = sizeof cm.b;
	r = recvmsg(sock, &mh, MSG_CMSG_CLOEXEC | MSG_DONTWAIT);
	if (r == -1 && (errno == EAGAIN || errno == EINTR))
		return;
	for (h = r > 0 ? CMSG_FIRSTHDR(&mh) : NULL; h != NULL; h = CMSG_NXTHDR(&mh, h)) {
		if (h->cmsg_level != SOL_SOCKET || h->cmsg_type != SCM_RIGHTS)
			continue;
		for (size_t k = 0; k < (h->cmsg_len - CMSG_LEN(0)) / sizeof(int); k++) {
			int fd;
			memcpy(&fd, CMSG_DATA(h) + k * sizeof(int), sizeof fd);
			if (nfds < FDPASS_FDS)
				fds[nfds++] = fd;
			else
				close(fd);
		}
	}
	if (r <= 0 || c->fd != -1) {
		/* closed, an error, or anything after the one message: done */
		while (nfds > 0)
			close(fds[--nfds]);
		conn_free(c);
		return;
	}
	if (r != 3 || memcmp(buf, "FD\n", 3) != 0 || nfds != 1 ||
	    (mh.msg_flags & MSG_CTRUNC)) {
		while (nfds > 0)
			close(fds[--nfds]);
		conn_refuse(c, "expected \"FD\\n\" with one descriptor");
		return;
	}
	c->fd = fds[0];
	if (fstat(c->fd, &st) == -1 || !S_ISREG(st.st_mode)) {
		conn_refuse(c, "not a regular file");
		return;
	}
	if (RAND_bytes(rnd, sizeof rnd) != 1)
		fatalx("RAND_bytes failed");
	hex_encode(rnd, sizeof rnd, c->token);
	len = snprintf(line, sizeof line, "OK %s\n", c->token);
	if (send(sock, line, (size_t)len, MSG_NOSIGNAL | MSG_DONTWAIT) != len)
		conn_free(c);
}

static void
on_accept(evutil_socket_t lfd, short what, void *arg)
{
	struct fdpass *fp = arg;
	struct timeval tv = { FDPASS_IDLE_S, 0 };
	struct fdconn *c;
	int s, e;

	(void)what;
	while ((s = accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC)) != -1) {
		if (fp->nconns >= FDPASS_MAX) {
			close(s); /* the client falls back to HTTP */
			continue;
		}
		c = xcalloc(1, sizeof *c);
		c->fp = fp;
		c->sock = s;
		c->fd = -1;
		c->ev = event_new(fp->n->base, s, EV_READ | EV_PERSIST, conn_read, c);
		TAILQ_INSERT_TAIL(&fp->conns, c, entry);
		fp->nconns++;
		event_add(c->ev, &tv);
	}
	if ((e = errno) == EAGAIN || e == EINTR || e == ECONNABORTED)
		return;
	log_warn("fd.sock: accept");
	if (e == EMFILE || e == ENFILE || e == ENOBUFS || e == ENOMEM) {
		/* the listener stays readable: do not spin on it */
		struct timeval one = { 1, 0 };

		event_del(fp->lev);
		evtimer_add(fp->pause, &one);
	}
}

static void
on_pause_end(evutil_socket_t fd, short what, void *arg)
{
	struct fdpass *fp = arg;

	(void)fd;
	(void)what;
	event_add(fp->lev, NULL);
}

int
fdpass_start(struct node *n, char **cause)
{
	struct fdpass *fp = xcalloc(1, sizeof *fp);
	struct sockaddr_un sun;
	mode_t old;

	fp->n = n;
	fp->lfd = -1;
	TAILQ_INIT(&fp->conns);
	xasprintf(&fp->path, "%s/fd.sock", n->datadir);
	memset(&sun, 0, sizeof sun);
	sun.sun_family = AF_UNIX;
	if (strlen(fp->path) >= sizeof sun.sun_path) {
		/* api.sock's length was checked first: a long data directory can fit
		 * "api.sock" only if it fits "fd.sock" too; still, never fail the daemon */
		log_warnx("%s: path too long; stores and gets go through HTTP only", fp->path);
		goto none;
	}
	strcpy(sun.sun_path, fp->path);
	/* We hold the data directory's lock: a socket file left here is stale. */
	unlink(fp->path);
	if ((fp->lfd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0)) == -1) {
		set_cause(cause, "socket: %s", strerror(errno));
		goto fail;
	}
	old = umask(0177);
	if (bind(fp->lfd, (struct sockaddr *)&sun, sizeof sun) == -1) {
		umask(old);
		set_cause(cause, "bind %s: %s", fp->path, strerror(errno));
		goto fail;
	}
	umask(old);
	chmod(fp->path, 0600);
	if (listen(fp->lfd, 64) == -1) {
		set_cause(cause, "listen %s: %s", fp->path, strerror(errno));
		unlink(fp->path);
		goto fail;
	}
	fp->lev = event_new(n->base, fp->lfd, EV_READ | EV_PERSIST, on_accept, fp);
	fp->pause = evtimer_new(n->base, on_pause_end, fp);
	event_add(fp->lev, NULL);
none:
	n->fdpass = fp;
	return 0;
fail:
	if (fp->lfd != -1)
		close(fp->lfd);
	free(fp->path);
	free(fp);
	return -1;
}

void
fdpass_stop(struct node *n)
{
	struct fdpass *fp = n->fdpass;

	if (fp == NULL)
		return;
	while (!TAILQ_EMPTY(&fp->conns))
		conn_free(TAILQ_FIRST(&fp->conns));
	if (fp->lev != NULL) {
		event_free(fp->lev);
		event_free(fp->pause);
		close(fp->lfd);
		unlink(fp->path);
	}
	free(fp->path);
	free(fp);
	n->fdpass = NULL;
}

int
fdpass_take(struct node *n, const char *token, int *fd, int *sock)
{
	struct fdpass *fp = n->fdpass;
	struct fdconn *c;

	*fd = *sock = -1;
	if (fp == NULL || token == NULL || strlen(token) != 32)
		return -1;
	TAILQ_FOREACH(c, &fp->conns, entry) {
		if (c->fd != -1 && strcmp(c->token, token) == 0)
			break;
	}
	if (c == NULL)
		return -1;
	*fd = c->fd;
	*sock = c->sock;
	c->fd = c->sock = -1;
	conn_free(c);
	return 0;
}

void
fdpass_progress(int sock, uint64_t bytes)
{
	char line[32];
	int len;

	if (sock == -1)
		return;
	len = snprintf(line, sizeof line, "P %llu\n", (unsigned long long)bytes);
	(void)send(sock, line, (size_t)len, MSG_NOSIGNAL | MSG_DONTWAIT);
}
