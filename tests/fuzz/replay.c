/*
 * Runs a fuzz target without libFuzzer: each input through its
 * LLVMFuzzerTestOneInput, once, in the ordinary builds of `make test` (plain,
 * sanitized, valgrind). One executable per target, test_<target>:
 *
 *   test_fuzz_requests            replays tests/fuzz/regressions/fuzz_requests/
 *                                 (every input a fuzzer ever failed on) and the
 *                                 seed corpus the build generated
 *   test_fuzz_requests FILE|DIR.. replays those instead (reproducing a crash
 *                                 in a debugger, or a whole corpus)
 *
 * A failing input aborts the process (the target's oracles call abort(), the
 * sanitizers report), which fails the test; the name of each input is printed
 * before it runs.
 */
#include <dirent.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <cmocka.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerInitialize(int *argc, char ***argv) __attribute__((weak));

/* Runs the file at `path` through the target. Returns 1, or 0 when unreadable. */
static int replay_file(const char *path)
{
	FILE *f = fopen(path, "rb");
	uint8_t *data = NULL;
	long size;

	if (f == NULL)
		return 0;
	if (fseek(f, 0, SEEK_END) != 0 || (size = ftell(f)) < 0 || fseek(f, 0, SEEK_SET) != 0) {
		fclose(f);
		return 0;
	}
	/* Exactly `size` bytes (at least one to allocate): overreads are caught. */
	data = malloc(size > 0 ? (size_t)size : 1);
	if (data == NULL || fread(data, 1, (size_t)size, f) != (size_t)size) {
		free(data);
		fclose(f);
		return 0;
	}
	fclose(f);
	fprintf(stderr, "replay: %s\n", path);
	LLVMFuzzerTestOneInput(data, (size_t)size);
	free(data);
	return 1;
}

/* Replays every file in `dir`, by name; a missing directory has none.
 * Returns how many ran. */
static int replay_dir(const char *dir)
{
	struct dirent **names;
	int n = scandir(dir, &names, NULL, alphasort), ran = 0;
	char path[4096];

	for (int i = 0; i < n; i++) {
		struct stat st;
		snprintf(path, sizeof(path), "%s/%s", dir, names[i]->d_name);
		if (names[i]->d_name[0] != '.' && stat(path, &st) == 0 && S_ISREG(st.st_mode))
			ran += replay_file(path);
		free(names[i]);
	}
	if (n >= 0)
		free(names);
	return ran;
}

static void replay_path(const char *path)
{
	struct stat st;

	if (stat(path, &st) == 0 && S_ISDIR(st.st_mode))
		fprintf(stderr, "replay: %d inputs from %s\n", replay_dir(path), path);
	else if (!replay_file(path))
		fprintf(stderr, "replay: cannot read %s\n", path);
}

static void test_fuzz_replay_regressions(void **state)
{
	(void)state;
	/* May be empty: a target that never failed has none. */
	replay_dir(AW_FUZZ_REGRESSIONS "/" AW_FUZZ_TARGET);
}

static void test_fuzz_replay_seeds(void **state)
{
	(void)state;
	assert_true(replay_dir(AW_FUZZ_SEEDS "/" AW_FUZZ_TARGET) > 0);
}

int main(int argc, char **argv)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_fuzz_replay_regressions),
		cmocka_unit_test(test_fuzz_replay_seeds),
	};

	if (LLVMFuzzerInitialize != NULL)
		LLVMFuzzerInitialize(&argc, &argv);
	if (argc > 1) {
		for (int i = 1; i < argc; i++)
			replay_path(argv[i]);
		return 0;
	}
	return cmocka_run_group_tests_name(AW_FUZZ_TARGET, tests, NULL, NULL);
}
