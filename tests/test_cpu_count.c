/* Tests server/cpu_count.c: cgroup v1, v2 and hybrid layouts built in a
 * temporary directory, and the process's own count. */
#define _GNU_SOURCE /* sched_getaffinity */
#include <sched.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "cpu_count.h"

typedef struct tree {
	char root[64];     /* the cgroup mounts' parent, like /sys/fs/cgroup */
	char cgfile[96];   /* like /proc/self/cgroup */
} tree;

/* Creates every directory of `rel` under the tree's root. */
static void mkdirs(tree *t, const char *rel)
{
	char path[512], *p;

	snprintf(path, sizeof(path), "%s/%s", t->root, rel);
	for (p = path + strlen(t->root) + 1; *p != '\0'; p++) {
		if (*p == '/') {
			*p = '\0';
			mkdir(path, 0700);
			*p = '/';
		}
	}
	mkdir(path, 0700);
}

static void put(tree *t, const char *rel, const char *text)
{
	char path[512];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", t->root, rel);
	f = fopen(path, "w");
	assert_non_null(f);
	fputs(text, f);
	fclose(f);
}

static int setup(void **state)
{
	tree *t = calloc(1, sizeof(*t));

	assert_non_null(t);
	snprintf(t->root, sizeof(t->root), "/tmp/aw-cgroup-XXXXXX");
	assert_non_null(mkdtemp(t->root));
	snprintf(t->cgfile, sizeof(t->cgfile), "%s/self-cgroup", t->root);
	*state = t;
	return 0;
}

static int teardown(void **state)
{
	tree *t = *state;
	char cmd[128];

	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", t->root);
	assert_int_equal(system(cmd), 0);
	free(t);
	return 0;
}

static int quota(tree *t)
{
	return aw_cgroup_cpu_quota(t->cgfile, t->root);
}

/* Pure v2: the limit of the process's cgroup, rounded up; "max" is none. */
static void test_v2_quota_rounds_up(void **state)
{
	tree *t = *state;

	put(t, "self-cgroup", "0::/\n");
	put(t, "cgroup.controllers", "cpu memory\n");
	put(t, "cpu.max", "150000 100000\n");
	assert_int_equal(quota(t), 2);
	put(t, "cpu.max", "100000 100000\n");
	assert_int_equal(quota(t), 1);
	put(t, "cpu.max", "20000 100000\n"); /* 0.2 CPU still gets one thread */
	assert_int_equal(quota(t), 1);
	put(t, "cpu.max", "max 100000\n");
	assert_int_equal(quota(t), 0);
}

/* A parent's smaller limit bounds a child without one of its own. */
static void test_v2_ancestor_limit_counts(void **state)
{
	tree *t = *state;

	put(t, "self-cgroup", "0::/kubepods/pod1/ctr\n");
	put(t, "cgroup.controllers", "cpu\n");
	mkdirs(t, "kubepods/pod1/ctr");
	put(t, "kubepods/pod1/ctr/cpu.max", "max 100000\n");
	put(t, "kubepods/pod1/cpu.max", "300000 100000\n");
	put(t, "kubepods/cpu.max", "max 100000\n");
	assert_int_equal(quota(t), 3);
	put(t, "kubepods/pod1/ctr/cpu.max", "400000 100000\n");
	assert_int_equal(quota(t), 3);
	put(t, "kubepods/pod1/ctr/cpu.max", "200000 100000\n");
	assert_int_equal(quota(t), 2);
}

/* In a container the mount shows its own cgroup at the root while
 * /proc/self/cgroup names the host's path: the root's file is read. */
static void test_v2_path_missing_reads_root(void **state)
{
	tree *t = *state;

	put(t, "self-cgroup", "0::/kubepods/podX/ctrY\n");
	put(t, "cgroup.controllers", "cpu\n");
	put(t, "cpu.max", "250000 100000\n");
	assert_int_equal(quota(t), 3);
}

/* v1: cfs_quota_us over cfs_period_us in the "cpu,cpuacct" hierarchy;
 * -1 means none. Also a hybrid layout (v1 cpu next to a v2 line). */
static void test_v1_and_hybrid(void **state)
{
	tree *t = *state;

	put(t, "self-cgroup", "4:memory:/x\n3:cpu,cpuacct:/docker/abc\n0::/\n");
	mkdirs(t, "cpu,cpuacct/docker/abc");
	mkdirs(t, "unified");
	put(t, "unified/cgroup.controllers", "\n");
	put(t, "cpu,cpuacct/docker/abc/cpu.cfs_quota_us", "-1\n");
	put(t, "cpu,cpuacct/docker/abc/cpu.cfs_period_us", "100000\n");
	assert_int_equal(quota(t), 0);
	put(t, "cpu,cpuacct/docker/abc/cpu.cfs_quota_us", "50000\n");
	assert_int_equal(quota(t), 1);
	put(t, "cpu,cpuacct/docker/cpu.cfs_quota_us", "100000\n");
	put(t, "cpu,cpuacct/docker/cpu.cfs_period_us", "100000\n");
	put(t, "cpu,cpuacct/docker/abc/cpu.cfs_quota_us", "350000\n");
	assert_int_equal(quota(t), 1);
}

/* No cgroup information at all: no quota, not an error. */
static void test_nothing_readable_is_no_quota(void **state)
{
	tree *t = *state;

	assert_int_equal(quota(t), 0); /* no self-cgroup file */
	put(t, "self-cgroup", "0::/\n");
	assert_int_equal(quota(t), 0); /* neither a v2 nor a v1 mount */
	put(t, "self-cgroup", "garbage\n\n3:cpu:\n");
	assert_int_equal(quota(t), 0);
}

/* The process's own count is at least one and never more than its mask. */
static void test_own_count_within_affinity(void **state)
{
	cpu_set_t set;
	int n = aw_cpu_count();

	(void)state;
	assert_int_equal(sched_getaffinity(0, sizeof(set), &set), 0);
	assert_true(n >= 1);
	assert_true(n <= CPU_COUNT(&set));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_v2_quota_rounds_up, setup, teardown),
		cmocka_unit_test_setup_teardown(test_v2_ancestor_limit_counts, setup, teardown),
		cmocka_unit_test_setup_teardown(test_v2_path_missing_reads_root, setup, teardown),
		cmocka_unit_test_setup_teardown(test_v1_and_hybrid, setup, teardown),
		cmocka_unit_test_setup_teardown(test_nothing_readable_is_no_quota, setup, teardown),
		cmocka_unit_test(test_own_count_within_affinity),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
