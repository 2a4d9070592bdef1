/* Tests server/transport/scaler.c: the decision on readings made up here, and
 * the readings of this process's own scheduler figures. */
#define _GNU_SOURCE
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cmocka.h>

#include "transport/scaler.h"

#define SEC 1000000

/* Threads always running, none waiting for a CPU. */
static const aw_scaler_load busy[4] = {{1, 0}, {1, 0}, {1, 0}, {1, 0}};
/* Threads that wait for a CPU a third of the time. */
static const aw_scaler_load contended[4] = {{0.65, 0.33}, {0.65, 0.33}, {0.65, 0.33}, {0.65, 0.33}};
/* Threads mostly waiting for calls. */
static const aw_scaler_load quiet[4] = {{0.1, 0}, {0.1, 0}, {0.1, 0}, {0.1, 0}};

/* One period a quarter second after the last; returns the count. */
static int period(aw_scaler *s, const aw_scaler_load *load, double idle, double rate,
		  int64_t *now)
{
	*now += SEC / 4;
	return aw_scaler_decide(s, load, idle, rate, *now);
}

/* Two periods of the same readings, the least that starts a trial. */
static int twice(aw_scaler *s, const aw_scaler_load *load, double idle, double rate,
		 int64_t *now)
{
	period(s, load, idle, rate, now);
	return period(s, load, idle, rate, now);
}

/* Feeds the periods of one trial (one to settle, then the measured ones) at
 * `rate` calls/s from `*now`, a quarter second apart; returns the count. */
static int run_trial(aw_scaler *s, const aw_scaler_load *load, double rate, int64_t *now)
{
	int n = 0;

	for (int i = 0; i <= AW_SCALER_TRIAL_PERIODS; i++) {
		*now += SEC / 4;
		n = aw_scaler_decide(s, load, 0.0, rate, *now);
	}
	return n;
}

static void test_scaler_starts_at_the_base(void **state)
{
	aw_scaler s;

	(void)state;
	aw_scaler_init(&s, 1, 4);
	assert_int_equal(s.active, 1);
	aw_scaler_init(&s, 0, 0); /* bounds are kept sane */
	assert_int_equal(s.min, 1);
	assert_int_equal(s.max, 1);
	assert_int_equal(s.active, 1);
}

static void test_scaler_grows_while_a_thread_more_pays(void **state)
{
	aw_scaler s;
	int64_t now = 10 * SEC;

	(void)state;
	aw_scaler_init(&s, 1, 3);
	/* A busy thread and an idle CPU: a trial of one more. */
	assert_int_equal(twice(&s, busy, 1.0, 10000, &now), 2);
	assert_int_equal(s.phase, AW_SCALER_TRIAL_UP);
	/* Nearly twice the calls: kept. */
	assert_int_equal(run_trial(&s, busy, 19000, &now), 2);
	assert_int_equal(s.phase, AW_SCALER_STEADY);
	/* Both busy, still a CPU idle: one more again. One such period alone
	 * (a burst) starts nothing. */
	assert_int_equal(period(&s, busy, 0.8, 19000, &now), 2);
	assert_int_equal(period(&s, busy, 0.8, 19000, &now), 3);
	assert_int_equal(run_trial(&s, busy, 26000, &now), 3);
	/* At the most there are: no further trial. */
	assert_int_equal(twice(&s, busy, 1.0, 26000, &now), 3);
	assert_int_equal(s.phase, AW_SCALER_STEADY);
}

static void test_scaler_gives_back_a_thread_that_does_not_pay(void **state)
{
	aw_scaler s;
	int64_t now = 10 * SEC, first_hold;

	(void)state;
	aw_scaler_init(&s, 1, 2);
	assert_int_equal(twice(&s, busy, 1.0, 10000, &now), 2);
	/* 5 % more calls is below the gain a thread must bring. */
	assert_int_equal(run_trial(&s, busy, 10500, &now), 1);
	assert_string_equal(s.why, "one more did not answer more calls");
	first_hold = s.up_not_before - now;
	assert_int_equal(first_hold, AW_SCALER_FIRST_HOLD_US);
	/* Held back: the same readings start nothing until the hold is over. */
	assert_int_equal(twice(&s, busy, 1.0, 10000, &now), 1);
	now = s.up_not_before - SEC / 4;
	assert_int_equal(period(&s, busy, 1.0, 10000, &now), 2);
	/* A second failure holds twice as long. */
	assert_int_equal(run_trial(&s, busy, 9000, &now), 1);
	assert_int_equal(s.up_not_before - now, 2 * first_hold);
}

static void test_scaler_hold_has_a_ceiling(void **state)
{
	aw_scaler s;
	int64_t now = 10 * SEC;

	(void)state;
	aw_scaler_init(&s, 1, 2);
	for (int i = 0; i < 20; i++) {
		now = s.up_not_before > now ? s.up_not_before : now + SEC / 4;
		assert_int_equal(twice(&s, busy, 1.0, 10000, &now), 2);
		assert_int_equal(run_trial(&s, busy, 10000, &now), 1);
		assert_true(s.up_not_before - now <= AW_SCALER_MAX_HOLD_US);
	}
	assert_int_equal(s.up_not_before - now, AW_SCALER_MAX_HOLD_US);
}

static void test_scaler_starts_no_trial_without_cause(void **state)
{
	aw_scaler s;
	const aw_scaler_load one_busy[2] = {{1, 0}, {0.5, 0}};
	int64_t now = 10 * SEC;

	(void)state;
	aw_scaler_init(&s, 1, 4);
	/* No CPU idles (or it is not known): a thread more would only take turns. */
	assert_int_equal(twice(&s, busy, 0.1, 10000, &now), 1);
	assert_int_equal(twice(&s, busy, -1.0, 10000, &now), 1);
	/* The thread waits for calls: nothing to share. */
	assert_int_equal(twice(&s, quiet, 2.0, 10000, &now), 1);
	/* Contended, but at the base already: nothing to give back. */
	assert_int_equal(twice(&s, contended, 0.0, 10000, &now), 1);
	assert_int_equal(s.phase, AW_SCALER_STEADY);
	/* Two active, one of them not busy: no trial of a third. */
	assert_int_equal(twice(&s, busy, 1.0, 10000, &now), 2);
	assert_int_equal(run_trial(&s, busy, 20000, &now), 2);
	assert_int_equal(twice(&s, one_busy, 1.0, 20000, &now), 2);
	assert_int_equal(s.phase, AW_SCALER_STEADY);
}

static void test_scaler_contended_threads_try_one_fewer(void **state)
{
	aw_scaler s;
	int64_t now = 10 * SEC;

	(void)state;
	aw_scaler_init(&s, 1, 2);
	assert_int_equal(twice(&s, busy, 1.0, 10000, &now), 2);
	assert_int_equal(run_trial(&s, busy, 15000, &now), 2);
	/* Right after a change its own contention starts no trial. */
	assert_int_equal(twice(&s, contended, 0.0, 15000, &now), 2);
	/* Later, contended: a trial of one fewer, which answers as many calls
	 * and so stays. */
	now = s.down_not_before;
	assert_int_equal(twice(&s, contended, 0.0, 15000, &now), 1);
	assert_int_equal(s.phase, AW_SCALER_TRIAL_DOWN);
	assert_int_equal(run_trial(&s, contended, 14800, &now), 1);
	assert_int_equal(s.phase, AW_SCALER_STEADY);
	/* Fewer did as well: no trial of one more right away. */
	assert_true(s.up_not_before > now);
}

static void test_scaler_keeps_a_thread_that_pays_under_contention(void **state)
{
	aw_scaler s;
	int64_t now = 10 * SEC;

	(void)state;
	aw_scaler_init(&s, 1, 2);
	assert_int_equal(twice(&s, busy, 1.0, 10000, &now), 2);
	assert_int_equal(run_trial(&s, busy, 20000, &now), 2);
	now = s.down_not_before;
	assert_int_equal(twice(&s, contended, 0.0, 20000, &now), 1);
	/* Half the calls with one fewer: back, and the next trial waits. */
	assert_int_equal(run_trial(&s, contended, 10000, &now), 2);
	assert_string_equal(s.why, "one fewer answered fewer calls");
	assert_int_equal(s.down_not_before - now, AW_SCALER_FIRST_HOLD_US);
	assert_int_equal(twice(&s, contended, 0.0, 20000, &now), 2);
}

static void test_scaler_quiet_threads_stop_at_once(void **state)
{
	aw_scaler s;
	int64_t now = 10 * SEC;

	(void)state;
	aw_scaler_init(&s, 1, 3);
	assert_int_equal(twice(&s, busy, 1.0, 10000, &now), 2);
	assert_int_equal(run_trial(&s, busy, 20000, &now), 2);
	/* The load went away: one fewer, with no trial, down to the base. */
	assert_int_equal(period(&s, quiet, 2.0, 100, &now), 1);
	assert_string_equal(s.why, "the threads are mostly idle");
	assert_int_equal(period(&s, quiet, 2.0, 100, &now), 1);
}

static void test_scaler_reads_this_process(void **state)
{
	uint64_t run = 0, wait = 0, idle = 0, run2 = 0, wait2 = 0;
	volatile unsigned long spin = 0;

	(void)state;
	assert_int_equal(aw_scaler_read_thread((pid_t)syscall(SYS_gettid), &run, &wait), 0);
	for (unsigned long i = 0; i < 20000000UL; i++)
		spin += i;
	assert_int_equal(aw_scaler_read_thread((pid_t)syscall(SYS_gettid), &run2, &wait2), 0);
	assert_true(run2 > run);
	assert_true(wait2 >= wait);
	assert_int_equal(aw_scaler_read_idle(&idle), 0);
	/* Not a thread of this process. */
	assert_int_equal(aw_scaler_read_thread(0x7ffffff0, &run, &wait), -1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_scaler_starts_at_the_base),
		cmocka_unit_test(test_scaler_grows_while_a_thread_more_pays),
		cmocka_unit_test(test_scaler_gives_back_a_thread_that_does_not_pay),
		cmocka_unit_test(test_scaler_hold_has_a_ceiling),
		cmocka_unit_test(test_scaler_starts_no_trial_without_cause),
		cmocka_unit_test(test_scaler_contended_threads_try_one_fewer),
		cmocka_unit_test(test_scaler_keeps_a_thread_that_pays_under_contention),
		cmocka_unit_test(test_scaler_quiet_threads_stop_at_once),
		cmocka_unit_test(test_scaler_reads_this_process),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
