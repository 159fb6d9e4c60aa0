/* test_work.c: the thread pools of node/work.c: a job runs on a pool thread and its
 * done() on the loop, a batch pool gets every queued job at once, and the buffers a
 * pool keeps for reuse (which sizes are kept, which come from the heap). */
#include "node/work.h"

#include <check.h>
#include <event2/event.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

struct tjob {
	struct job j;
	pthread_t ran_on;
	int done;
	int *ndone;
	struct event_base *base;
	int want;
};

static void
tjob_run(struct job *j, void *ctx)
{
	struct tjob *t = (struct tjob *)j;

	(void)ctx;
	t->ran_on = pthread_self();
}

static void
tjob_done(struct job *j)
{
	struct tjob *t = (struct tjob *)j;

	t->done = 1;
	if (++*t->ndone == t->want)
		event_base_loopbreak(t->base);
}

static void
batch_run(struct jobq *q, void *ctx, void *arg)
{
	struct job *j;
	int *nbatches = arg;

	(void)ctx;
	(*nbatches)++;
	TAILQ_FOREACH(j, q, entry)
		((struct tjob *)j)->ran_on = pthread_self();
}

static void
run_jobs(struct event_base *base, struct pool *p, struct tjob *t, int n, int *ndone)
{
	for (int i = 0; i < n; i++) {
		t[i].j.run = tjob_run;
		t[i].j.done = tjob_done;
		t[i].ndone = ndone;
		t[i].base = base;
		t[i].want = n;
		pool_submit(p, &t[i].j);
	}
	while (*ndone < n)
		ck_assert_int_ge(event_base_loop(base, EVLOOP_ONCE), 0);
}

START_TEST(jobs_run_off_the_loop)
{
	struct event_base *base = event_base_new();
	struct pool_ops ops = { 0 };
	struct tjob t[16];
	char *cause = NULL;
	struct pool *p;
	int ndone = 0;

	ck_assert_ptr_nonnull(base);
	p = pool_new(base, "t-work", 2, 0, &ops, &cause);
	ck_assert_msg(p != NULL, "pool_new: %s", cause ? cause : "?");
	memset(t, 0, sizeof t);
	run_jobs(base, p, t, 16, &ndone);
	for (int i = 0; i < 16; i++) {
		ck_assert_int_eq(t[i].done, 1);
		ck_assert(!pthread_equal(t[i].ran_on, pthread_self()));
	}
	pool_free(p);
	event_base_free(base);
}
END_TEST

START_TEST(batch_pool_takes_all_queued)
{
	struct event_base *base = event_base_new();
	int nbatches = 0;
	struct pool_ops ops = { .run_batch = batch_run, .arg = &nbatches };
	struct tjob t[8];
	char *cause = NULL;
	struct pool *p;
	int ndone = 0;

	ck_assert_ptr_nonnull(base);
	p = pool_new(base, "t-commit", 1, 1, &ops, &cause);
	ck_assert_msg(p != NULL, "pool_new: %s", cause ? cause : "?");
	memset(t, 0, sizeof t);
	run_jobs(base, p, t, 8, &ndone);
	for (int i = 0; i < 8; i++)
		ck_assert(!pthread_equal(t[i].ran_on, pthread_self()));
	/* submitted faster than a thread wakes: fewer batches than jobs, at least one */
	ck_assert_int_ge(nbatches, 1);
	ck_assert_int_le(nbatches, 8);
	pool_free(p);
	event_base_free(base);
}
END_TEST

#define BIG (1024 * 1024)

START_TEST(buffers_kept_by_size)
{
	struct event_base *base = event_base_new();
	struct pool_ops ops = { .buf_size = BIG, .buf_keep = 2 };
	char *cause = NULL;
	struct pool *p;
	uint8_t *big, *small, *b2, *huge;

	ck_assert_ptr_nonnull(base);
	p = pool_new(base, "t-bufs", 1, 0, &ops, &cause);
	ck_assert_msg(p != NULL, "pool_new: %s", cause ? cause : "?");

	/* a part-sized buffer goes back to the pool and comes out again */
	big = pool_buf_get(p, BIG);
	memset(big, 1, BIG);
	pool_buf_put(p, big, BIG);
	/* a small one does not take it: it comes from the heap */
	small = pool_buf_get(p, 4096);
	ck_assert_ptr_ne(small, big);
	memset(small, 2, 4096);
	/* and is not kept: the next part-sized request must not get 4 KiB */
	pool_buf_put(p, small, 4096);
	b2 = pool_buf_get(p, BIG);
	ck_assert_ptr_eq(b2, big);
	b2 = pool_buf_get(p, BIG - 1);
	ck_assert_ptr_ne(b2, big);
	memset(b2, 3, BIG - 1); /* full size: ASan / valgrind see an overrun */
	pool_buf_put(p, b2, BIG - 1);
	pool_buf_put(p, big, BIG);
	/* just above the small limit: a kept one */
	small = pool_buf_get(p, POOL_BUF_SMALL + 1);
	ck_assert(small == big || small == b2);
	pool_buf_put(p, small, POOL_BUF_SMALL + 1);
	/* larger than a part: the heap, whatever is kept */
	huge = pool_buf_get(p, 2 * BIG);
	ck_assert_ptr_ne(huge, big);
	ck_assert_ptr_ne(huge, b2);
	memset(huge, 4, 2 * BIG);
	pool_buf_put(p, huge, 2 * BIG);
	pool_buf_put(p, NULL, 10);
	pool_free(p);
	event_base_free(base);
}
END_TEST

static Suite *
work_suite(void)
{
	Suite *s = suite_create("work");
	TCase *tc = tcase_create("pool");

	tcase_add_test(tc, jobs_run_off_the_loop);
	tcase_add_test(tc, batch_pool_takes_all_queued);
	tcase_add_test(tc, buffers_kept_by_size);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	SRunner *sr = srunner_create(work_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? 1 : 0;
}
