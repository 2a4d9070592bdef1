/*
 * cpu_count.h: how many CPUs this process may really use.
 *
 * A container sees every core of its node in sysconf() and usually in its
 * affinity mask too; what bounds it is the CPU limit of its cgroup (Kubernetes
 * `resources.limits.cpu`), a quota of CPU time per period. The count is the
 * smaller of the affinity mask (taskset, cpusets) and that quota rounded up,
 * counting the limits of every ancestor cgroup too.
 *
 * cgroup v2 keeps the quota in `cpu.max` ("max 100000", or "150000 100000" for
 * 1.5 CPUs); cgroup v1 in `cpu.cfs_quota_us` (-1 = none) and
 * `cpu.cfs_period_us`, in the hierarchy whose controllers include "cpu".
 */
#ifndef AW_CPU_COUNT_H
#define AW_CPU_COUNT_H

/* The CPUs the calling process may use, at least 1: the affinity mask bounded
 * by the cgroup CPU quota. Reads /proc/self/cgroup and /sys/fs/cgroup. */
int aw_cpu_count(void);

/*
 * The cgroup CPU quota alone, read from `proc_cgroup` (the format of
 * /proc/self/cgroup) and the cgroup file systems mounted under `cgroup_root`
 * (v2 at the root itself or at "unified/", v1 controllers at "<controllers>/"
 * or "cpu/"). Returns the quota in CPUs rounded up (>= 1), or 0 when no
 * quota applies or nothing could be read. Separate from aw_cpu_count() so
 * tests can hand it a tree of their own.
 */
int aw_cgroup_cpu_quota(const char *proc_cgroup, const char *cgroup_root);

#endif /* AW_CPU_COUNT_H */
