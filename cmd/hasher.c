/* hasher.c: see hasher.h. */
#include "cmd/hasher.h"
#include "lib/log.h"
#include "lib/util.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/evp.h>

struct hasher {
	pthread_t t;
	pthread_mutex_t mtx;
	pthread_cond_t cv;
	EVP_MD_CTX *ctx;
	const void *p;  /* guarded by mtx */
	size_t n;
	int busy;
	int stop;
	int fd;         /* hasher_new_file: the file; -1 otherwise */
	int err;        /* errno of a failed read of fd */
};

#define HASHER_FILE_BUF (1u << 20)

static void *
hasher_thread(void *arg)
{
	struct hasher *h = arg;

	pthread_mutex_lock(&h->mtx);
	for (;;) {
		while (!h->busy && !h->stop)
			pthread_cond_wait(&h->cv, &h->mtx);
		if (!h->busy)
			break;
		const void *p = h->p;
		size_t n = h->n;
		pthread_mutex_unlock(&h->mtx);
		EVP_DigestUpdate(h->ctx, p, n);
		pthread_mutex_lock(&h->mtx);
		h->busy = 0;
		pthread_cond_broadcast(&h->cv);
	}
	pthread_mutex_unlock(&h->mtx);
	return NULL;
}

/* hasher_new_file: the whole file, then wait to be stopped like a feeding hasher. */
static void *
hasher_file_thread(void *arg)
{
	struct hasher *h = arg;
	uint8_t *buf = xmalloc(HASHER_FILE_BUF);
	off_t off = 0;
	int err = 0;

	for (;;) {
		ssize_t r = pread(h->fd, buf, HASHER_FILE_BUF, off);

		if (r == -1 && errno == EINTR)
			continue;
		if (r == -1)
			err = errno;
		if (r <= 0)
			break;
		EVP_DigestUpdate(h->ctx, buf, (size_t)r);
		off += r;
	}
	free(buf);
	pthread_mutex_lock(&h->mtx);
	h->err = err;
	h->busy = 0;
	pthread_cond_broadcast(&h->cv);
	while (!h->stop)
		pthread_cond_wait(&h->cv, &h->mtx);
	pthread_mutex_unlock(&h->mtx);
	return NULL;
}

struct hasher *
hasher_new_file(int fd)
{
	struct hasher *h = xcalloc(1, sizeof *h);
	int rc;

	h->fd = fd;
	h->busy = 1;
	if ((h->ctx = EVP_MD_CTX_new()) == NULL ||
	    EVP_DigestInit_ex(h->ctx, EVP_sha256(), NULL) != 1)
		fatalx("EVP_DigestInit_ex");
	pthread_mutex_init(&h->mtx, NULL);
	pthread_cond_init(&h->cv, NULL);
	if ((rc = pthread_create(&h->t, NULL, hasher_file_thread, h)) != 0)
		fatalx("pthread_create: %s", strerror(rc));
	return h;
}

int
hasher_error(struct hasher *h)
{
	int err;

	pthread_mutex_lock(&h->mtx);
	err = h->err;
	pthread_mutex_unlock(&h->mtx);
	return err;
}

struct hasher *
hasher_new(void)
{
	struct hasher *h = xcalloc(1, sizeof *h);
	int rc;

	h->fd = -1;
	if ((h->ctx = EVP_MD_CTX_new()) == NULL ||
	    EVP_DigestInit_ex(h->ctx, EVP_sha256(), NULL) != 1)
		fatalx("EVP_DigestInit_ex");
	pthread_mutex_init(&h->mtx, NULL);
	pthread_cond_init(&h->cv, NULL);
	if ((rc = pthread_create(&h->t, NULL, hasher_thread, h)) != 0)
		fatalx("pthread_create: %s", strerror(rc));
	return h;
}

static void
hasher_wait(struct hasher *h)
{
	while (h->busy)
		pthread_cond_wait(&h->cv, &h->mtx);
}

void
hasher_feed(struct hasher *h, const void *p, size_t n)
{
	pthread_mutex_lock(&h->mtx);
	hasher_wait(h);
	h->p = p;
	h->n = n;
	h->busy = 1;
	pthread_cond_broadcast(&h->cv);
	pthread_mutex_unlock(&h->mtx);
}

void
hasher_final(struct hasher *h, uint8_t out[32])
{
	unsigned len = 0;

	pthread_mutex_lock(&h->mtx);
	hasher_wait(h);
	pthread_mutex_unlock(&h->mtx);
	EVP_DigestFinal_ex(h->ctx, out, &len);
}

void
hasher_free(struct hasher *h)
{
	if (h == NULL)
		return;
	pthread_mutex_lock(&h->mtx);
	hasher_wait(h);
	h->stop = 1;
	pthread_cond_broadcast(&h->cv);
	pthread_mutex_unlock(&h->mtx);
	pthread_join(h->t, NULL);
	EVP_MD_CTX_free(h->ctx);
	pthread_mutex_destroy(&h->mtx);
	pthread_cond_destroy(&h->cv);
	free(h);
}
