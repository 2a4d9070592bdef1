/*
 * scaler.h: how many of the transport's threads take calls.
 *
 * A second thread serving calls pays for itself only when a CPU is free to run
 * it. When the server shares its cores with other busy processes (a load
 * generator, a sidecar, a neighbour on the node) and gets about one core, every
 * call handed from one thread to another is a wake-up the server pays for and
 * no parallelism comes back. So the transport starts with its base threads and
 * lets the others take calls only while measurements say it helps.
 *
 * Each period the transport reads, for every thread taking calls, the time it
 * ran and the time it was runnable but waited for a CPU (the scheduler's
 * /proc/self/task/TID/schedstat), the idle time of the CPUs the process may
 * use (/proc/stat), and the calls answered. Whether a thread more or less
 * helps is then measured, not guessed: aw_scaler_decide() runs trials.
 *
 *  - Trial up: when, two periods in a row, every active thread was always
 *    running or runnable (none waited for calls) and at least
 *    AW_SCALER_IDLE_CPUS of a CPU stood idle, one more thread takes calls. After a period to settle, the calls answered
 *    over AW_SCALER_TRIAL_PERIODS periods are compared with those before: at
 *    least AW_SCALER_GAIN times as many keep it, else it stops again.
 *  - Trial down: when, two periods in a row, the active threads waited for a
 *    CPU for more than AW_SCALER_CONTENDED of the time on average (other
 *    processes want the CPUs too), one thread stops taking calls, and comes back only if the calls
 *    answered fall below AW_SCALER_KEEP of those before.
 *  - Idle: when the active threads together are idle enough that one fewer
 *    would carry the load, one stops at once.
 *
 * A trial that did not pay holds the next of its kind back for a while that
 * doubles each time (AW_SCALER_FIRST_HOLD_US up to AW_SCALER_MAX_HOLD_US), so a
 * machine whose state does not change is probed rarely; one that paid resets
 * it. A server with CPUs to spare thus grows to all its threads within a
 * second or two, and one that shares its cores settles on fewer.
 *
 * This file holds the readings and the decision; transport.c runs them on a
 * thread of its own and applies the count. The decision is a function of its
 * inputs and its state only, so tests drive it with readings of their own.
 */
#ifndef AW_SCALER_H
#define AW_SCALER_H

#include <stdint.h>
#include <sys/types.h>

/* Busy: a thread ran or waited to run for at least this share of the period. */
#define AW_SCALER_SATURATED 0.85
/* Idle CPU, in CPUs, over the period that a further thread could use. */
#define AW_SCALER_IDLE_CPUS 0.3
/* Mean share of the period the active threads waited for a CPU: contended. */
#define AW_SCALER_CONTENDED 0.10
/* Periods a trial is measured over, after one to settle. */
#define AW_SCALER_TRIAL_PERIODS 2
/* A thread more stays when calls/s grew by this factor; one fewer stays when
 * calls/s kept this share. */
#define AW_SCALER_GAIN 1.08
#define AW_SCALER_KEEP 0.95
/* First hold after a trial that did not pay, and the longest. */
#define AW_SCALER_FIRST_HOLD_US 2000000
#define AW_SCALER_MAX_HOLD_US 64000000

/* One thread's share of one period. */
typedef struct aw_scaler_load {
	double running; /* on a CPU, 0..1 */
	double waiting; /* runnable, waiting for a CPU, 0..1 */
} aw_scaler_load;

typedef enum aw_scaler_phase {
	AW_SCALER_STEADY,
	AW_SCALER_TRIAL_UP,
	AW_SCALER_TRIAL_DOWN,
} aw_scaler_phase;

typedef struct aw_scaler {
	int min;                 /* threads always taking calls, >= 1 */
	int max;                 /* threads there are, >= min */
	int active;              /* threads taking calls now, min..max */
	aw_scaler_phase phase;
	int trial_left;          /* periods of the trial still to come */
	double before;           /* calls/s before the trial */
	double during;           /* calls/s summed over the trial's measured periods */
	double last_rate;        /* calls/s of the last period */
	int up_periods;          /* periods in a row that called for a trial up */
	int down_periods;        /* ... for a trial down */
	int64_t up_hold_us, down_hold_us;      /* the next failed trial's hold */
	int64_t up_not_before, down_not_before; /* no trial of the kind before */
	const char *why;         /* the reason of the last change, for the log */
} aw_scaler;

void aw_scaler_init(aw_scaler *s, int min, int max);

/*
 * One period's decision: `load` has s->active entries, the active threads'
 * shares of the period; `idle_cpus` is the idle time of the process's CPUs over
 * the period, in CPUs (negative: unknown, which never starts a trial up);
 * `calls_per_s` the calls answered over the period. Updates and returns
 * s->active.
 */
int aw_scaler_decide(aw_scaler *s, const aw_scaler_load *load, double idle_cpus,
		     double calls_per_s, int64_t now_us);

/* Cumulative time thread `tid` of this process ran and waited to run, in
 * nanoseconds. Returns 0, or -1 when the scheduler does not report it. */
int aw_scaler_read_thread(pid_t tid, uint64_t *run_ns, uint64_t *wait_ns);

/* Cumulative idle time, in nanoseconds, summed over the CPUs this process may
 * run on (its affinity mask). Returns 0, or -1 when it cannot be read. */
int aw_scaler_read_idle(uint64_t *idle_ns);

#endif /* AW_SCALER_H */
