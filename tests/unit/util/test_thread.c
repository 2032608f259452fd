/*
 * Helper threads (util/thread.h): the policy is the calling thread's own,
 * SCHED_BATCH, and leaves other threads (the walker) as they were.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <pthread.h>
#include <sched.h>

#include "util/thread.h"

struct seen {
	int ret, policy;
};

static void *helper_main(void *arg)
{
	struct seen *s = arg;
	s->ret = thread_as_helper();
	int policy;
	struct sched_param sp;
	s->policy = pthread_getschedparam(pthread_self(), &policy, &sp) == 0 ? policy : -1;
	return NULL;
}

static void test_helper_policy(void **state)
{
	(void)state;
	int before, after;
	struct sched_param sp;
	assert_int_equal(pthread_getschedparam(pthread_self(), &before, &sp), 0);
	assert_int_equal(before, SCHED_OTHER);

	struct seen s = { -1, -1 };
	pthread_t t;
	assert_int_equal(pthread_create(&t, NULL, helper_main, &s), 0);
	assert_int_equal(pthread_join(t, NULL), 0);
	assert_int_equal(s.ret, 0);
	assert_int_equal(s.policy, SCHED_BATCH);

	/* The thread that started the helper keeps its own policy. */
	assert_int_equal(pthread_getschedparam(pthread_self(), &after, &sp), 0);
	assert_int_equal(after, SCHED_OTHER);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_helper_policy),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
