/* work.h: threads that keep blocking work off the event loop.
 *
 * A pool runs jobs on its threads; when a job's run() returns, its done() is called on
 * the loop thread (completion is signalled through an eventfd the loop watches). Each
 * thread has a context (its own database connection) made by the pool's init hook.
 *
 * A pool created with batch = 1 hands run_batch() every job queued at that moment at
 * once (one thread): that is the group commit (one sync + one transaction for many). */
#ifndef P2P_WORK_H
#define P2P_WORK_H

#include <stddef.h>
#include <sys/queue.h>

struct event_base;
struct pool;

struct job {
	void (*run)(struct job *j, void *thread_ctx);  /* worker thread */
	void (*done)(struct job *j);                   /* loop thread */
	TAILQ_ENTRY(job) entry;
};
TAILQ_HEAD(jobq, job);

struct pool_ops {
	/* Per thread: make/free the context passed to run(). NULL = no context.
	 * init returning NULL is fatal for the pool (pool_new fails). */
	void *(*thread_init)(void *arg, char **cause);
	void (*thread_fini)(void *ctx);
	/* batch pools only: run every job in q (the callee may reorder; all of them go to
	 * done() afterwards). */
	void (*run_batch)(struct jobq *q, void *thread_ctx, void *arg);
	/* Called on the worker thread when the queue is empty, at most every idle_ms
	 * (0 = never): background work such as garbage collection. */
	void (*idle)(void *thread_ctx, void *arg);
	unsigned idle_ms;
	void *arg;
	/* Buffers kept for reuse by pool_buf_get/put: up to buf_keep of buf_size bytes
	 * (0 = none kept). */
	size_t buf_size;
	unsigned buf_keep;
};

struct pool *pool_new(struct event_base *base, const char *name, int nthreads, int batch,
    const struct pool_ops *ops, char **cause);
void pool_submit(struct pool *p, struct job *j);
/* Queue j ahead of every queued job: the next step of an ordered chain that later jobs
 * wait for (the whole-file hash of an upload). */
void pool_submit_first(struct pool *p, struct job *j);
/* Ask the idle hook to run soon (e.g. after a delete). */
void pool_kick(struct pool *p);
/* Jobs queued or running. Loop thread. */
unsigned pool_pending(const struct pool *p);
/* A buffer of n bytes for a job (any thread). POOL_BUF_SMALL < n <= buf_size: a kept
 * one if there is one, else a new one of buf_size bytes; smaller or larger: plain
 * malloc. A fresh 1 MiB malloc is an mmap whose pages fault in on first touch: that was
 * a fifth of the CPU time of a get and an eighth of the loop thread's for a store. A
 * small part (a 4 KiB file) comes from the heap: given a kept 1 MiB buffer, it took one
 * that a large upload could use, and with more small stores in flight than buffers
 * kept, each of the others was an mmap and a munmap of 1 MiB. */
#define POOL_BUF_SMALL (64 * 1024)
void *pool_buf_get(struct pool *p, size_t n);
/* Give back a buffer from pool_buf_get(p, n), with the same n. NULL ok. */
void pool_buf_put(struct pool *p, void *buf, size_t n);
/* Finish queued jobs, join threads, run remaining done() callbacks, free. NULL ok. */
void pool_free(struct pool *p);

#endif
