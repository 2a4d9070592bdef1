/* Tests server/config.c: defaults, environment, flags, errors. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "config.h"

static void test_config_defaults(void **state)
{
	aw_config c;
	int help;
	char *argv[] = {"prog", NULL};

	(void)state;
	unsetenv("ANIWORLD_LISTEN");
	unsetenv("ANIWORLD_DB");
	aw_config_defaults(&c);
	assert_int_equal(aw_config_load(&c, 1, argv, &help, NULL), 0);
	assert_string_equal(c.listen, "0.0.0.0:50051");
	assert_string_equal(c.db, "./aniworld.db");
	assert_int_equal(c.shutdown_grace_ms, 10000);
	assert_int_equal(c.max_receive_bytes, 4 * 1024 * 1024);
	assert_int_equal(c.max_reply_bytes, 3 * 1024 * 1024); /* under gRPC's 4 MiB default */
	assert_int_equal(c.stale_claim_ms, 15 * 60 * 1000);
	assert_int_equal(c.max_batch_writes, 256);
	assert_string_equal(c.durability, "power"); /* issue 12: power cuts by default */
	assert_int_equal(help, 0);
	aw_config_close(&c);
}

static void test_config_env_then_flags(void **state)
{
	aw_config c;
	int help;
	char *argv[] = {"prog", "--db", "/tmp/x.db", "--shutdown-grace=2s", "--threads", "3",
			"--max-reply-bytes=65536", NULL};

	(void)state;
	setenv("ANIWORLD_LISTEN", "127.0.0.1:1234", 1);
	setenv("ANIWORLD_DB", "/from/env.db", 1);
	setenv("ANIWORLD_STALE_CLAIM_TIMEOUT", "5m", 1);
	setenv("ANIWORLD_MAX_BATCH_WRITES", "1", 1);
	setenv("ANIWORLD_DURABILITY", "process", 1);
	aw_config_defaults(&c);
	assert_int_equal(aw_config_load(&c, 7, argv, &help, NULL), 0);
	assert_string_equal(c.durability, "process");
	assert_string_equal(c.listen, "127.0.0.1:1234");
	assert_string_equal(c.db, "/tmp/x.db"); /* the flag wins */
	assert_int_equal(c.shutdown_grace_ms, 2000);
	assert_int_equal(c.threads, 3);
	assert_int_equal(c.max_reply_bytes, 65536);
	assert_int_equal(c.stale_claim_ms, 5 * 60 * 1000);
	assert_int_equal(c.max_batch_writes, 1);
	aw_config_close(&c);
	unsetenv("ANIWORLD_LISTEN");
	unsetenv("ANIWORLD_DB");
	unsetenv("ANIWORLD_STALE_CLAIM_TIMEOUT");
	unsetenv("ANIWORLD_MAX_BATCH_WRITES");
	unsetenv("ANIWORLD_DURABILITY");
}

static void test_config_bad_values_name_the_setting(void **state)
{
	aw_config c;
	aw_err err;
	int help;
	char *bad_num[] = {"prog", "--threads", "many", NULL};
	char *unknown[] = {"prog", "--nope", "1", NULL};
	char *missing[] = {"prog", "--db", NULL};

	(void)state;
	aw_config_defaults(&c);
	assert_int_equal(aw_config_load(&c, 3, bad_num, &help, &err), AW_EINVAL);
	assert_non_null(strstr(err.msg, "--threads"));
	aw_config_close(&c);

	aw_config_defaults(&c);
	assert_int_equal(aw_config_load(&c, 3, unknown, &help, &err), AW_EINVAL);
	assert_non_null(strstr(err.msg, "--nope"));
	aw_config_close(&c);

	aw_config_defaults(&c);
	assert_int_equal(aw_config_load(&c, 2, missing, &help, &err), AW_EINVAL);
	assert_non_null(strstr(err.msg, "--db"));
	aw_config_close(&c);

	char *no_batch[] = {"prog", "--max-batch-writes", "0", NULL};
	aw_config_defaults(&c);
	assert_int_equal(aw_config_load(&c, 3, no_batch, &help, &err), AW_EINVAL);
	assert_non_null(strstr(err.msg, "--max-batch-writes"));
	aw_config_close(&c);

	char *bad_durability[] = {"prog", "--durability=disk", NULL};
	aw_config_defaults(&c);
	assert_int_equal(aw_config_load(&c, 2, bad_durability, &help, &err), AW_EINVAL);
	assert_non_null(strstr(err.msg, "--durability"));
	assert_non_null(strstr(err.msg, "power or process"));
	aw_config_close(&c);

	setenv("ANIWORLD_SHUTDOWN_GRACE", "soon", 1);
	aw_config_defaults(&c);
	char *none[] = {"prog", NULL};
	assert_int_equal(aw_config_load(&c, 1, none, &help, &err), AW_EINVAL);
	assert_non_null(strstr(err.msg, "ANIWORLD_SHUTDOWN_GRACE"));
	aw_config_close(&c);
	unsetenv("ANIWORLD_SHUTDOWN_GRACE");
}

static void test_config_help_lists_every_flag(void **state)
{
	char *text = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&text, &len);
	aw_config c;
	int help;
	char *argv[] = {"prog", "--help", NULL};

	(void)state;
	aw_config_defaults(&c);
	assert_int_equal(aw_config_load(&c, 2, argv, &help, NULL), 0);
	assert_int_equal(help, 1);
	aw_config_close(&c);
	aw_config_usage(f, "prog");
	fclose(f);
	assert_non_null(strstr(text, "--listen"));
	assert_non_null(strstr(text, "ANIWORLD_LISTEN"));
	assert_non_null(strstr(text, "--db"));
	assert_non_null(strstr(text, "--threads"));
	assert_non_null(strstr(text, "--log-level"));
	free(text);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_config_defaults),
		cmocka_unit_test(test_config_env_then_flags),
		cmocka_unit_test(test_config_bad_values_name_the_setting),
		cmocka_unit_test(test_config_help_lists_every_flag),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
