/*
 * The CPUs a process may use: affinity mask and cgroup CPU quota (see
 * cpu_count.h). Missing files are normal (no cgroup file system, no quota
 * set) and mean "no limit from here".
 */
#define _GNU_SOURCE /* sched_getaffinity */
#include "cpu_count.h"

#include <limits.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* Reads the first line of `path` into `buf`; 0 on success. */
static int read_line(const char *path, char *buf, size_t size)
{
	FILE *f = fopen(path, "r");
	int ok;

	if (f == NULL)
		return -1;
	ok = fgets(buf, (int)size, f) != NULL;
	fclose(f);
	if (!ok)
		return -1;
	buf[strcspn(buf, "\n")] = '\0';
	return 0;
}

static int is_dir(const char *path)
{
	return access(path, X_OK) == 0;
}

/* CPUs from a quota and a period in the same unit, rounded up; 0 if none. */
static int quota_cpus(long long quota, long long period)
{
	long long n;

	if (quota <= 0 || period <= 0)
		return 0;
	n = (quota + period - 1) / period;
	return n > INT_MAX ? INT_MAX : (int)n;
}

/* v2: "max 100000" or "<quota> <period>" in <dir>/cpu.max. */
static int v2_limit(const char *dir)
{
	char path[PATH_MAX], line[128];
	long long quota, period;

	if (snprintf(path, sizeof(path), "%s/cpu.max", dir) >= (int)sizeof(path) ||
	    read_line(path, line, sizeof(line)) != 0)
		return 0;
	if (sscanf(line, "%lld %lld", &quota, &period) != 2)
		return 0; /* "max ..." */
	return quota_cpus(quota, period);
}

/* v1: cpu.cfs_quota_us (-1 = none) over cpu.cfs_period_us in <dir>. */
static int v1_limit(const char *dir)
{
	char path[PATH_MAX], line[64];
	long long quota, period;

	if (snprintf(path, sizeof(path), "%s/cpu.cfs_quota_us", dir) >= (int)sizeof(path) ||
	    read_line(path, line, sizeof(line)) != 0 || sscanf(line, "%lld", &quota) != 1)
		return 0;
	if (snprintf(path, sizeof(path), "%s/cpu.cfs_period_us", dir) >= (int)sizeof(path) ||
	    read_line(path, line, sizeof(line)) != 0 || sscanf(line, "%lld", &period) != 1)
		return 0;
	return quota_cpus(quota, period);
}

/*
 * The smallest limit from the cgroup `cg` (a path like "/kubepods/pod1/c1")
 * and each of its ancestors, under the mount `mount`. Inside a container the
 * mount often shows the container's own cgroup at its root while the path
 * names it from the host's root: then only the root is read.
 */
static int walk_limits(const char *mount, const char *cg, int (*limit)(const char *))
{
	char dir[PATH_MAX];
	int best = 0, n;
	size_t base;


	if (snprintf(dir, sizeof(dir), "%s%s", mount, cg) >= (int)sizeof(dir) || !is_dir(dir))
		return limit(mount);
	base = strlen(mount);
	for (;;) {
		char *slash;

		n = limit(dir);
		if (n > 0 && (best == 0 || n < best))
			best = n;
		slash = strrchr(dir + base, '/');
		if (slash == NULL)
			break; /* the mount's root was the last */
		*slash = '\0';
	}
	return best;
}

/* Whether a v1 controller list ("cpu,cpuacct") names "cpu". */
static int names_cpu(const char *list)
{
	const char *p = list;

	while (*p != '\0') {
		size_t len = strcspn(p, ",");
		if (len == 3 && strncmp(p, "cpu", 3) == 0)
			return 1;
		p += len;
		if (*p == ',')
			p++;
	}
	return 0;
}

int aw_cgroup_cpu_quota(const char *proc_cgroup, const char *cgroup_root)
{
	char line[PATH_MAX + 128], mount[PATH_MAX];
	char v2_path[PATH_MAX] = "";
	int v1 = -1, v2 = 0;
	FILE *f = fopen(proc_cgroup, "r");

	if (f == NULL)
		return 0;
	while (fgets(line, sizeof(line), f) != NULL) {
		char *ctrl, *cg;

		line[strcspn(line, "\n")] = '\0';
		ctrl = strchr(line, ':');
		if (ctrl == NULL)
			continue;
		*ctrl++ = '\0';
		cg = strchr(ctrl, ':');
		if (cg == NULL)
			continue;
		*cg++ = '\0';
		if (*ctrl == '\0' && strcmp(line, "0") == 0) {
			snprintf(v2_path, sizeof(v2_path), "%s", cg);
			v2 = 1;
		} else if (names_cpu(ctrl)) {
			/* v1 mounts a hierarchy by its controller list, often also
			 * under the single name "cpu" (a symlink). */
			if (snprintf(mount, sizeof(mount), "%s/%s", cgroup_root, ctrl) >=
				    (int)sizeof(mount) ||
			    !is_dir(mount))
				snprintf(mount, sizeof(mount), "%s/cpu", cgroup_root);
			if (is_dir(mount))
				v1 = walk_limits(mount, cg, v1_limit);
		}
	}
	fclose(f);
	if (v1 >= 0)
		return v1; /* the cpu controller is on v1 (a hybrid layout) */
	if (!v2)
		return 0;
	/* Pure v2 mounts at the root; a hybrid layout's v2 part at unified/. */
	snprintf(mount, sizeof(mount), "%s/cgroup.controllers", cgroup_root);
	if (access(mount, F_OK) == 0)
		snprintf(mount, sizeof(mount), "%s", cgroup_root);
	else if (snprintf(mount, sizeof(mount), "%s/unified", cgroup_root) >= (int)sizeof(mount) ||
		 !is_dir(mount))
		return 0;
	return walk_limits(mount, v2_path, v2_limit);
}

int aw_cpu_count(void)
{
	cpu_set_t set;
	long online;
	int n = 0, quota;

	if (sched_getaffinity(0, sizeof(set), &set) == 0)
		n = CPU_COUNT(&set);
	if (n <= 0) {
		online = sysconf(_SC_NPROCESSORS_ONLN);
		n = online > 0 ? (int)online : 1;
	}
	quota = aw_cgroup_cpu_quota("/proc/self/cgroup", "/sys/fs/cgroup");
	if (quota > 0 && quota < n)
		n = quota;
	return n;
}
