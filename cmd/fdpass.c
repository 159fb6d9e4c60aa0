/* fdpass.c: see fdpass.h. */
#include "cmd/fdpass.h"
#include "lib/util.h"

#include <errno.h>
#include <limits.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#define FDPASS_REPLY_MS 5000

int
fdpass_send(const char *datadir, int fd, char token[33], int *sock)
{
	union {
		struct cmsghdr h;
		char b[CMSG_SPACE(sizeof(int))];
	} cm;
	struct sockaddr_un sun;
	struct iovec iov = { "FD\n", 3 };
	struct msghdr mh;
	struct cmsghdr *h;
	struct pollfd pfd;
	char line[64];
	const char *env = getenv("P2P_FDPASS");
	size_t got = 0;
	int s;

	*sock = -1;
	if (env != NULL && strcmp(env, "0") == 0)
		return 1;
	memset(&sun, 0, sizeof sun);
	sun.sun_family = AF_UNIX;
	if ((size_t)snprintf(sun.sun_path, sizeof sun.sun_path, "%s/fd.sock", datadir) >=
	    sizeof sun.sun_path)
		return 1;
	if ((s = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0)) == -1)
		return 1;
	if (connect(s, (struct sockaddr *)&sun, sizeof sun) == -1)
		goto no; /* an older daemon, or none: the HTTP request says which */

	memset(&mh, 0, sizeof mh);
	memset(&cm, 0, sizeof cm);
	mh.msg_iov = &iov;
	mh.msg_iovlen = 1;
	mh.msg_control = cm.b;
	mh.msg_controllen = sizeof cm.b;
	h = CMSG_FIRSTHDR(&mh);
	h->cmsg_level = SOL_SOCKET;
	h->cmsg_type = SCM_RIGHTS;
	h->cmsg_len = CMSG_LEN(sizeof(int));
	memcpy(CMSG_DATA(h), &fd, sizeof fd);
	if (sendmsg(s, &mh, MSG_NOSIGNAL) != 3)
		goto no;

	/* "OK <32 hex>\n" */
	pfd.fd = s;
	pfd.events = POLLIN;
	while (got < sizeof line - 1 && memchr(line, '\n', got) == NULL) {
		ssize_t r;

		if (poll(&pfd, 1, FDPASS_REPLY_MS) != 1)
			goto no;
		if ((r = read(s, line + got, sizeof line - 1 - got)) <= 0) {
			if (r == -1 && errno == EINTR)
				continue;
			goto no;
		}
		got += (size_t)r;
	}
	line[got] = '\0';
	if (got != 36 || strncmp(line, "OK ", 3) != 0 || line[35] != '\n')
		goto no;
	memcpy(token, line + 3, 32);
	token[32] = '\0';
	*sock = s;
	return 0;
no:
	close(s);
	return 1;
}

void
fdpass_poll(int sock, uint64_t *bytes)
{
	char buf[512], *p, *nl;
	ssize_t r;

	/* lines are short and whole in practice; take the last complete "P n" */
	while ((r = recv(sock, buf, sizeof buf - 1, MSG_DONTWAIT)) > 0) {
		buf[r] = '\0';
		for (p = buf; (nl = strchr(p, '\n')) != NULL; p = nl + 1) {
			const char *errstr;
			long long v;

			*nl = '\0';
			if (strncmp(p, "P ", 2) != 0)
				continue;
			v = parse_num(p + 2, 0, LLONG_MAX, &errstr);
			if (errstr == NULL)
				*bytes = (uint64_t)v;
		}
	}
}
