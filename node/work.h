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
};

struct pool *pool_new(struct event_base *base, const char *name, int nthreads, int batch,
    const struct pool_ops *ops, char **cause);
void pool_submit(struct pool *p, struct job *j);
/* Ask the idle hook to run soon (e.g. after a delete). */
void pool_kick(struct pool *p);
/* Jobs queued or running. Loop thread. */
unsigned pool_pending(const struct pool *p);
/* Finish queued jobs, join threads, run remaining done() callbacks, free. NULL ok. */
void pool_free(struct pool *p);

#endif
