#include "fixture.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "log.h"
#include "samples.h"

static aw_server *shared;     /* fuzz_server()'s, NULL before first use */
static unsigned uses;         /* since it was opened */

void fuzz_fail(const char *fmt, ...)
{
	va_list ap;

	fputs("fuzz: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	abort();
}

/* Runs one request of the base data; it must get the status it expects. */
static void load(const char *path, const uint8_t *data, size_t len, int expect, void *arg)
{
	aw_loopback_reply out;

	if (aw__transport_invoke_bytes(arg, path, data, len, &out) != 0)
		fuzz_fail("base data: %s: out of memory", path);
	if (out.status != expect)
		fuzz_fail("base data: %s got status %d (%s), expected %d", path, out.status, out.message,
			  expect);
	aw__loopback_reply_clear(&out);
}

aw_server *fuzz_server_new(void)
{
	aw_config cfg;
	aw_server *s;
	aw_err err;
	char db[] = ":memory:";

	aw_log_set_level(AW_LOG_OFF);
	aw_config_defaults(&cfg);
	cfg.db = db;
	cfg.threads = 1;
	if (aw_server_open(&s, &cfg, &err) != 0)
		fuzz_fail("cannot open the server: %s", err.msg);
	fuzz_samples_base(load, aw_server_transport(s));
	return s;
}

static void close_shared(void)
{
	aw_server_free(shared);
	shared = NULL;
}

aw_server *fuzz_server(unsigned reset_every)
{
	if (shared != NULL && reset_every > 0 && uses >= reset_every) {
		aw_server_free(shared);
		shared = NULL;
	}
	if (shared == NULL) {
		static int registered;
		shared = fuzz_server_new();
		uses = 0;
		if (!registered && atexit(close_shared) == 0)
			registered = 1;
	}
	uses++;
	return shared;
}

aw_transport *fuzz_transport(unsigned reset_every)
{
	return aw_server_transport(fuzz_server(reset_every));
}

uint32_t fuzz_selector(const char *path)
{
	uint32_t h = 2166136261u;

	for (const unsigned char *p = (const unsigned char *)path; *p != '\0'; p++) {
		h ^= *p;
		h *= 16777619u;
	}
	return h;
}

size_t fuzz_pick_method(aw_transport *t, uint32_t selector)
{
	size_t n = aw__transport_method_count(t);
	aw_loopback_method m;

	for (size_t i = 0; i < n; i++) {
		if (aw__transport_method(t, i, &m) == 0 && fuzz_selector(m.path) == selector)
			return i;
	}
	return selector % n;
}

uint32_t fuzz_selector_read(const uint8_t *data)
{
	return (uint32_t)data[0] << 24 | (uint32_t)data[1] << 16 | (uint32_t)data[2] << 8 | data[3];
}

void fuzz_selector_write(uint32_t selector, uint8_t *out)
{
	for (int i = 0; i < FUZZ_SELECTOR_BYTES; i++)
		out[i] = (uint8_t)(selector >> (24 - 8 * i));
}
