/* keyfile.c: see keyfile.h. */
#include "p2p/keyfile.h"
#include "lib/util.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/crypto.h>

void
keyfile_free(char *buf, size_t len)
{
	if (buf == NULL)
		return;
	OPENSSL_cleanse(buf, len + 1);
	free(buf);
}

int
keyfile_read(const char *path, size_t max, char **buf, size_t *len, char **cause)
{
	struct stat st;
	char *p = NULL;
	size_t off = 0;
	int fd, rc = -1;

	*buf = NULL;
	*len = 0;
	if ((fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY)) == -1) {
		if (errno == ENOENT)
			return 1;
		return set_cause(cause, "%s: %s", path, strerror(errno));
	}
	if (fstat(fd, &st) == -1) {
		set_cause(cause, "%s: %s", path, strerror(errno));
		goto out;
	}
	if (!S_ISREG(st.st_mode)) {
		set_cause(cause, "%s: not a regular file", path);
		goto out;
	}
	if (st.st_mode & 077) {
		set_cause(cause, "%s: permissions %04o are too open: a key file must not be "
		    "accessible by group or others (run: chmod 600 %s)", path,
		    (unsigned)(st.st_mode & 07777), path);
		goto out;
	}
	if ((uint64_t)st.st_size > max) {
		set_cause(cause, "%s: too large for a key file (%lld bytes)", path,
		    (long long)st.st_size);
		goto out;
	}
	p = xmalloc(max + 1);
	for (;;) {
		ssize_t n;

		if (off == max) {
			char c;
			if ((n = read(fd, &c, 1)) > 0) {
				set_cause(cause, "%s: too large for a key file", path);
				goto out;
			}
		} else
			n = read(fd, p + off, max - off);
		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1) {
			set_cause(cause, "%s: %s", path, strerror(errno));
			goto out;
		}
		if (n == 0)
			break;
		off += (size_t)n;
	}
	p[off] = '\0';
	*buf = p;
	*len = off;
	p = NULL;
	rc = 0;
out:
	if (p != NULL)
		keyfile_free(p, max);
	close(fd);
	return rc;
}

int
keyfile_create(const char *path, const void *data, size_t len, char **cause)
{
	char *tmp = NULL, *dir = NULL;
	const uint8_t *d = data;
	size_t off = 0;
	int fd = -1, rc = -1;

	xasprintf(&tmp, "%s.tmp.%ld", path, (long)getpid());
	fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (fd == -1) {
		set_cause(cause, "%s: %s", tmp, strerror(errno));
		goto out;
	}
	if (fchmod(fd, 0600) == -1) {
		set_cause(cause, "%s: chmod: %s", tmp, strerror(errno));
		goto out_unlink;
	}
	while (off < len) {
		ssize_t n = write(fd, d + off, len - off);
		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1) {
			set_cause(cause, "%s: write: %s", tmp, strerror(errno));
			goto out_unlink;
		}
		off += (size_t)n;
	}
	if (fsync(fd) == -1) {
		set_cause(cause, "%s: fsync: %s", tmp, strerror(errno));
		goto out_unlink;
	}
	close(fd);
	fd = -1;
	if (link(tmp, path) == -1) {
		if (errno == EEXIST)
			rc = 1;
		else
			set_cause(cause, "%s: %s", path, strerror(errno));
		goto out_unlink;
	}
	unlink(tmp);
	dir = path_dirname(path);
	if (fsync_dir(dir) == -1) {
		set_cause(cause, "%s: fsync: %s", dir, strerror(errno));
		goto out;
	}
	rc = 0;
	goto out;
out_unlink:
	unlink(tmp);
out:
	if (fd != -1)
		close(fd);
	free(tmp);
	free(dir);
	return rc;
}
