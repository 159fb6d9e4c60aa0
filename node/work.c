/* work.c: see work.h. */
#include "node/work.h"
#include "lib/log.h"
#include "lib/util.h"

#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>

struct pool {
	char name[16];
	struct pool_ops ops;
	int batch;
	int nthreads;
	pthread_t *threads;
	void **ctx;

	pthread_mutex_t mtx;
	pthread_cond_t cv;
	struct jobq todo;   /* guarded by mtx */
	struct jobq done;   /* guarded by mtx */
	int stop;           /* guarded by mtx */
	int kicked;         /* guarded by mtx */
	unsigned pending;   /* loop thread only */

	int efd;
	struct event *ev;

	pthread_mutex_t buf_mtx;
	void **bufs;        /* kept buffers, guarded by buf_mtx */
	unsigned nbufs;
};

static void
pool_signal_done(struct pool *p)
{
	uint64_t one = 1;

	while (write(p->efd, &one, sizeof one) == -1 && errno == EINTR)
		;
}

static void *
pool_thread(void *arg)
{
	struct pool *p = arg;
	void *ctx;
	size_t self;
	uint64_t last_idle = mono_ms();

	pthread_mutex_lock(&p->mtx);
	for (self = 0; !pthread_equal(p->threads[self], pthread_self()); self++)
		;
	ctx = p->ctx[self];
	for (;;) {
		struct jobq q;

		while (TAILQ_EMPTY(&p->todo) && !p->stop) {
			if (p->ops.idle != NULL && p->ops.idle_ms > 0) {
				uint64_t now = mono_ms();
				if (p->kicked || now - last_idle >= p->ops.idle_ms) {
					p->kicked = 0;
					pthread_mutex_unlock(&p->mtx);
					p->ops.idle(ctx, p->ops.arg);
					last_idle = mono_ms();
					pthread_mutex_lock(&p->mtx);
					continue;
				}
				struct timespec ts;
				clock_gettime(CLOCK_REALTIME, &ts);
				uint64_t wait = p->ops.idle_ms - (now - last_idle);
				ts.tv_sec += (time_t)(wait / 1000);
				ts.tv_nsec += (long)(wait % 1000) * 1000000;
				if (ts.tv_nsec >= 1000000000) {
					ts.tv_sec++;
					ts.tv_nsec -= 1000000000;
				}
				pthread_cond_timedwait(&p->cv, &p->mtx, &ts);
			} else
				pthread_cond_wait(&p->cv, &p->mtx);
		}
		if (TAILQ_EMPTY(&p->todo) && p->stop)
			break;
		TAILQ_INIT(&q);
		if (p->batch) {
			TAILQ_CONCAT(&q, &p->todo, entry);
		} else {
			struct job *j = TAILQ_FIRST(&p->todo);
			TAILQ_REMOVE(&p->todo, j, entry);
			TAILQ_INSERT_TAIL(&q, j, entry);
		}
		pthread_mutex_unlock(&p->mtx);

		if (p->batch)
			p->ops.run_batch(&q, ctx, p->ops.arg);
		else {
			struct job *j = TAILQ_FIRST(&q);
			j->run(j, ctx);
		}

		pthread_mutex_lock(&p->mtx);
		TAILQ_CONCAT(&p->done, &q, entry);
		pool_signal_done(p);
	}
	pthread_mutex_unlock(&p->mtx);
	return NULL;
}

static void
pool_drain_done(struct pool *p)
{
	struct jobq q;
	struct job *j;

	TAILQ_INIT(&q);
	pthread_mutex_lock(&p->mtx);
	TAILQ_CONCAT(&q, &p->done, entry);
	pthread_mutex_unlock(&p->mtx);
	while ((j = TAILQ_FIRST(&q)) != NULL) {
		TAILQ_REMOVE(&q, j, entry);
		p->pending--;
		j->done(j);
	}
}

static void
pool_event(evutil_socket_t fd, short what, void *arg)
{
	struct pool *p = arg;
	uint64_t n;

	(void)what;
	while (read(fd, &n, sizeof n) == -1 && errno == EINTR)
		;
	pool_drain_done(p);
}

struct pool *
pool_new(struct event_base *base, const char *name, int nthreads, int batch,
    const struct pool_ops *ops, char **cause)
{
	struct pool *p = xcalloc(1, sizeof *p);
	int i;

	snprintf(p->name, sizeof p->name, "%s", name);
	p->ops = *ops;
	p->batch = batch;
	p->nthreads = batch ? 1 : nthreads;
	TAILQ_INIT(&p->todo);
	TAILQ_INIT(&p->done);
	pthread_mutex_init(&p->mtx, NULL);
	pthread_cond_init(&p->cv, NULL);
	pthread_mutex_init(&p->buf_mtx, NULL);
	if (ops->buf_keep > 0 && ops->buf_size > 0)
		p->bufs = xcalloc(ops->buf_keep, sizeof *p->bufs);
	p->efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (p->efd == -1) {
		set_cause(cause, "eventfd: %s", strerror(errno));
		free(p->bufs);
		free(p);
		return NULL;
	}
	p->ev = event_new(base, p->efd, EV_READ | EV_PERSIST, pool_event, p);
	event_add(p->ev, NULL);
	p->threads = xcalloc((size_t)p->nthreads, sizeof *p->threads);
	p->ctx = xcalloc((size_t)p->nthreads, sizeof *p->ctx);
	for (i = 0; i < p->nthreads; i++) {
		if (ops->thread_init != NULL &&
		    (p->ctx[i] = ops->thread_init(ops->arg, cause)) == NULL)
			goto fail;
	}
	pthread_mutex_lock(&p->mtx);
	for (i = 0; i < p->nthreads; i++) {
		int rc = pthread_create(&p->threads[i], NULL, pool_thread, p);
		if (rc != 0)
			fatalx("pthread_create: %s", strerror(rc));
		pthread_setname_np(p->threads[i], p->name);
	}
	pthread_mutex_unlock(&p->mtx);
	return p;
fail:
	for (i = 0; i < p->nthreads; i++)
		if (p->ctx[i] != NULL && ops->thread_fini != NULL)
			ops->thread_fini(p->ctx[i]);
	event_free(p->ev);
	close(p->efd);
	free(p->threads);
	free(p->ctx);
	free(p->bufs);
	free(p);
	return NULL;
}

void
pool_submit(struct pool *p, struct job *j)
{
	p->pending++;
	pthread_mutex_lock(&p->mtx);
	TAILQ_INSERT_TAIL(&p->todo, j, entry);
	pthread_cond_signal(&p->cv);
	pthread_mutex_unlock(&p->mtx);
}

void
pool_submit_first(struct pool *p, struct job *j)
{
	p->pending++;
	pthread_mutex_lock(&p->mtx);
	TAILQ_INSERT_HEAD(&p->todo, j, entry);
	pthread_cond_signal(&p->cv);
	pthread_mutex_unlock(&p->mtx);
}

void *
pool_buf_get(struct pool *p, size_t n)
{
	void *buf = NULL;

	if (n > p->ops.buf_size || n <= POOL_BUF_SMALL || p->bufs == NULL)
		return xmalloc(n > 0 ? n : 1);
	pthread_mutex_lock(&p->buf_mtx);
	if (p->nbufs > 0)
		buf = p->bufs[--p->nbufs];
	pthread_mutex_unlock(&p->buf_mtx);
	return buf != NULL ? buf : xmalloc(p->ops.buf_size);
}

void
pool_buf_put(struct pool *p, void *buf, size_t n)
{
	if (buf == NULL)
		return;
	if (n <= p->ops.buf_size && n > POOL_BUF_SMALL && p->bufs != NULL) {
		pthread_mutex_lock(&p->buf_mtx);
		if (p->nbufs < p->ops.buf_keep) {
			p->bufs[p->nbufs++] = buf;
			buf = NULL;
		}
		pthread_mutex_unlock(&p->buf_mtx);
	}
	free(buf);
}

void
pool_kick(struct pool *p)
{
	pthread_mutex_lock(&p->mtx);
	p->kicked = 1;
	pthread_cond_signal(&p->cv);
	pthread_mutex_unlock(&p->mtx);
}

unsigned
pool_pending(const struct pool *p)
{
	return p->pending;
}

void
pool_free(struct pool *p)
{
	int i;

	if (p == NULL)
		return;
	pthread_mutex_lock(&p->mtx);
	p->stop = 1;
	pthread_cond_broadcast(&p->cv);
	pthread_mutex_unlock(&p->mtx);
	for (i = 0; i < p->nthreads; i++)
		pthread_join(p->threads[i], NULL);
	pool_drain_done(p);
	for (i = 0; i < p->nthreads; i++)
		if (p->ctx[i] != NULL && p->ops.thread_fini != NULL)
			p->ops.thread_fini(p->ctx[i]);
	event_free(p->ev);
	close(p->efd);
	pthread_mutex_destroy(&p->mtx);
	pthread_cond_destroy(&p->cv);
	while (p->nbufs > 0)
		free(p->bufs[--p->nbufs]);
	free(p->bufs);
	pthread_mutex_destroy(&p->buf_mtx);
	free(p->threads);
	free(p->ctx);
	free(p);
}
