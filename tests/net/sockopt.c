/*
 * sockopt: print TCP_NODELAY of another process's TCP sockets (a test tool).
 *
 *   sockopt PID      one line per established TCP socket of PID:
 *                    "<fd> <local addr:port> <peer addr:port> nodelay=<0|1>"
 *
 * The sockets are taken with pidfd_getfd(2) (Linux 5.6+; the caller needs ptrace
 * rights over PID: root, or the same user under Yama ptrace_scope 0), so what is read is
 * the option of the daemon's own socket, set however it was set (on the socket, or
 * inherited from its listener). Exit 0; 2 on a bad argument; 77 when pidfd_getfd cannot
 * be used here (no such system call, or not permitted), so that a test can skip.
 */
#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

#ifndef SYS_pidfd_open
#define SYS_pidfd_open 434
#endif
#ifndef SYS_pidfd_getfd
#define SYS_pidfd_getfd 438
#endif

static int
fmt_addr(const struct sockaddr_storage *ss, char *buf, size_t len)
{
	char host[INET6_ADDRSTRLEN];
	const void *a;
	unsigned port;

	if (ss->ss_family == AF_INET) {
		const struct sockaddr_in *s = (const struct sockaddr_in *)ss;
		a = &s->sin_addr;
		port = ntohs(s->sin_port);
	} else if (ss->ss_family == AF_INET6) {
		const struct sockaddr_in6 *s = (const struct sockaddr_in6 *)ss;
		a = &s->sin6_addr;
		port = ntohs(s->sin6_port);
	} else
		return -1;
	if (inet_ntop(ss->ss_family, a, host, sizeof host) == NULL)
		return -1;
	snprintf(buf, len, ss->ss_family == AF_INET6 ? "[%s]:%u" : "%s:%u", host, port);
	return 0;
}

int
main(int argc, char **argv)
{
	char path[64], *end;
	struct dirent *e;
	DIR *d;
	long pid;
	int pfd;

	if (argc != 2) {
		fprintf(stderr, "usage: sockopt PID\n");
		return 2;
	}
	errno = 0;
	pid = strtol(argv[1], &end, 10);
	if (errno != 0 || *end != '\0' || pid <= 0) {
		fprintf(stderr, "sockopt: bad pid '%s'\n", argv[1]);
		return 2;
	}
	pfd = (int)syscall(SYS_pidfd_open, (pid_t)pid, 0);
	if (pfd == -1) {
		fprintf(stderr, "sockopt: pidfd_open %ld: %s\n", pid, strerror(errno));
		return errno == ENOSYS ? 77 : 2;
	}
	snprintf(path, sizeof path, "/proc/%ld/fd", pid);
	if ((d = opendir(path)) == NULL) {
		fprintf(stderr, "sockopt: %s: %s\n", path, strerror(errno));
		return errno == EACCES ? 77 : 2;
	}
	while ((e = readdir(d)) != NULL) {
		struct sockaddr_storage la, ra;
		socklen_t ll = sizeof la, rl = sizeof ra, ol;
		char ls[80], rs[80];
		int fd, theirs, type, on;

		theirs = (int)strtol(e->d_name, &end, 10);
		if (*end != '\0' || e->d_name[0] == '\0')
			continue;
		fd = (int)syscall(SYS_pidfd_getfd, pfd, theirs, 0);
		if (fd == -1) {
			if (errno == ENOSYS || errno == EPERM) {
				fprintf(stderr, "sockopt: pidfd_getfd: %s\n", strerror(errno));
				return 77;
			}
			continue; /* closed meanwhile, or not a descriptor we may take */
		}
		ol = sizeof type;
		if (getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &ol) == -1 ||
		    type != SOCK_STREAM ||
		    getsockname(fd, (struct sockaddr *)&la, &ll) == -1 ||
		    getpeername(fd, (struct sockaddr *)&ra, &rl) == -1 ||
		    fmt_addr(&la, ls, sizeof ls) == -1 || fmt_addr(&ra, rs, sizeof rs) == -1) {
			close(fd); /* not a connected TCP socket */
			continue;
		}
		ol = sizeof on;
		if (getsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &on, &ol) == -1) {
			fprintf(stderr, "sockopt: fd %d: TCP_NODELAY: %s\n", theirs, strerror(errno));
			close(fd);
			continue;
		}
		printf("%d %s %s nodelay=%d\n", theirs, ls, rs, on != 0);
		close(fd);
	}
	closedir(d);
	close(pfd);
	return 0;
}
