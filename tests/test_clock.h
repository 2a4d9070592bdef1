/*
 * test_clock.h: a repository clock that tests move by hand (aw_repo_options
 * .clock), so that expiry, stale claims and timestamps are tested without
 * sleeping. Every reading moves it on by one microsecond, so two writes never
 * share a time, as on a real clock with time passing between them.
 */
#ifndef AW_TEST_CLOCK_H
#define AW_TEST_CLOCK_H

#include <stdatomic.h>
#include <stdint.h>

#include "repo/repo.h"

typedef struct test_clock {
	_Atomic int64_t now_us;
} test_clock;

static int64_t test_clock_read(void *arg)
{
	return atomic_fetch_add(&((test_clock *)arg)->now_us, 1) + 1;
}

/* Starts `c` at the real time and makes `opts` use it. */
static inline void test_clock_use(test_clock *c, aw_repo_options *opts)
{
	atomic_store(&c->now_us, aw__repo_now_us());
	opts->clock = test_clock_read;
	opts->clock_arg = c;
}

/* The time the clock shows, without moving it. */
static inline int64_t test_clock_now(test_clock *c)
{
	return atomic_load(&c->now_us);
}

static inline void test_clock_advance(test_clock *c, int64_t us)
{
	atomic_fetch_add(&c->now_us, us);
}

#endif /* AW_TEST_CLOCK_H */
