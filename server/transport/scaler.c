/*
 * scaler.c: the readings and the decision of scaler.h.
 */
#define _GNU_SOURCE
#include "scaler.h"

#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

void aw_scaler_init(aw_scaler *s, int min, int max)
{
	memset(s, 0, sizeof(*s));
	s->min = min < 1 ? 1 : min;
	s->max = max < s->min ? s->min : max;
	s->active = s->min;
	s->up_hold_us = s->down_hold_us = AW_SCALER_FIRST_HOLD_US;
}

/* Doubles a hold, up to the longest. */
static int64_t doubled(int64_t hold_us)
{
	return hold_us * 2 > AW_SCALER_MAX_HOLD_US ? AW_SCALER_MAX_HOLD_US : hold_us * 2;
}

static void start_trial(aw_scaler *s, aw_scaler_phase phase, double calls_per_s)
{
	s->phase = phase;
	s->trial_left = AW_SCALER_TRIAL_PERIODS + 1;
	s->before = (s->last_rate + calls_per_s) / 2;
	s->during = 0;
	s->active += phase == AW_SCALER_TRIAL_UP ? 1 : -1;
	s->why = phase == AW_SCALER_TRIAL_UP ? "trial of one more: the threads are busy and a CPU idles"
					     : "trial of one fewer: the threads wait for a CPU";
}

/* The last period of a trial is in: keep its count or go back. */
static void end_trial(aw_scaler *s, int64_t now_us)
{
	double rate = s->during / AW_SCALER_TRIAL_PERIODS;

	if (s->phase == AW_SCALER_TRIAL_UP) {
		if (rate >= s->before * AW_SCALER_GAIN) {
			s->up_hold_us = AW_SCALER_FIRST_HOLD_US;
		} else {
			s->active--;
			s->why = "one more did not answer more calls";
			s->up_not_before = now_us + s->up_hold_us;
			s->up_hold_us = doubled(s->up_hold_us);
		}
		/* Contention right after a change is the change's own doing. */
		s->down_not_before = now_us + AW_SCALER_FIRST_HOLD_US;
	} else {
		if (rate >= s->before * AW_SCALER_KEEP) {
			s->down_hold_us = AW_SCALER_FIRST_HOLD_US;
			/* Fewer threads did as well: no trial up soon either. */
			s->up_not_before = now_us + s->up_hold_us;
			s->up_hold_us = doubled(s->up_hold_us);
		} else {
			s->active++;
			s->why = "one fewer answered fewer calls";
			s->down_not_before = now_us + s->down_hold_us;
			s->down_hold_us = doubled(s->down_hold_us);
		}
	}
	s->phase = AW_SCALER_STEADY;
	s->up_periods = s->down_periods = 0;
}

int aw_scaler_decide(aw_scaler *s, const aw_scaler_load *load, double idle_cpus,
		     double calls_per_s, int64_t now_us)
{
	double running = 0, waiting = 0;
	int saturated = 1;

	if (s->phase != AW_SCALER_STEADY) {
		/* The first period after a change settles; the others count. */
		if (s->trial_left-- <= AW_SCALER_TRIAL_PERIODS)
			s->during += calls_per_s;
		if (s->trial_left == 0)
			end_trial(s, now_us);
		s->last_rate = calls_per_s;
		return s->active;
	}
	for (int i = 0; i < s->active; i++) {
		running += load[i].running;
		waiting += load[i].waiting;
		if (load[i].running + load[i].waiting < AW_SCALER_SATURATED)
			saturated = 0;
	}
	/* A trial needs two periods in a row that call for it: one alone may be
	 * a burst, or the first calls after a pause, a poor measure to compare
	 * the trial with. */
	s->up_periods = s->active < s->max && saturated && idle_cpus >= AW_SCALER_IDLE_CPUS
				? s->up_periods + 1
				: 0;
	s->down_periods = s->active > s->min && waiting / s->active > AW_SCALER_CONTENDED
				  ? s->down_periods + 1
				  : 0;
	if (s->active > s->min && running + waiting < (s->active - 1) * 0.5) {
		/* One fewer would carry this load with room to spare. */
		s->active--;
		s->why = "the threads are mostly idle";
		s->up_periods = s->down_periods = 0;
	} else if (s->up_periods >= 2 && now_us >= s->up_not_before) {
		start_trial(s, AW_SCALER_TRIAL_UP, calls_per_s);
	} else if (s->down_periods >= 2 && now_us >= s->down_not_before) {
		start_trial(s, AW_SCALER_TRIAL_DOWN, calls_per_s);
	}
	if (s->phase != AW_SCALER_STEADY)
		s->up_periods = s->down_periods = 0;
	s->last_rate = calls_per_s;
	return s->active;
}

/* Reads up to `cap` - 1 bytes of `path` into `buf`, NUL-terminated. */
static int read_small(const char *path, char *buf, size_t cap)
{
	FILE *f = fopen(path, "re");
	size_t n;

	if (f == NULL)
		return -1;
	n = fread(buf, 1, cap - 1, f);
	fclose(f);
	buf[n] = '\0';
	return n > 0 ? 0 : -1;
}

int aw_scaler_read_thread(pid_t tid, uint64_t *run_ns, uint64_t *wait_ns)
{
	char path[64], buf[128];
	unsigned long long run, wait;

	snprintf(path, sizeof(path), "/proc/self/task/%d/schedstat", (int)tid);
	if (read_small(path, buf, sizeof(buf)) != 0 ||
	    sscanf(buf, "%llu %llu", &run, &wait) != 2)
		return -1;
	*run_ns = run;
	*wait_ns = wait;
	return 0;
}

int aw_scaler_read_idle(uint64_t *idle_ns)
{
	static long hz;
	cpu_set_t mask;
	FILE *f;
	char line[512];
	unsigned long long total = 0;
	int found = 0;

	if (hz <= 0)
		hz = sysconf(_SC_CLK_TCK);
	if (hz <= 0 || sched_getaffinity(0, sizeof(mask), &mask) != 0)
		return -1;
	f = fopen("/proc/stat", "re");
	if (f == NULL)
		return -1;
	while (fgets(line, sizeof(line), f) != NULL) {
		unsigned cpu;
		unsigned long long user, nice, sys, idle, iowait;

		if (strncmp(line, "cpu", 3) != 0)
			break; /* the per-CPU lines come first */
		if (sscanf(line, "cpu%u %llu %llu %llu %llu %llu", &cpu, &user, &nice, &sys, &idle,
			   &iowait) != 6)
			continue; /* the "cpu " total */
		if (cpu < CPU_SETSIZE && CPU_ISSET(cpu, &mask)) {
			total += idle + iowait;
			found = 1;
		}
	}
	fclose(f);
	if (!found)
		return -1;
	*idle_ns = total * (1000000000ULL / (unsigned long long)hz);
	return 0;
}
