/*
 * aw-fuzz-seeds DIR: writes the seed corpus of every fuzz target into
 * DIR/<target>/, one file an input. The build runs it; tests/fuzz/run.sh and
 * the replay tests read what it wrote.
 *
 * fuzz_requests gets every sample request (samples.h), each checked first on a
 * fresh server with the base data to get the status it expects, so a sample
 * that stops being valid fails the build rather than quietly seeding less; and
 * an empty request for every served method that has no sample (a service added
 * since), named on stderr so that someone writes samples for it.
 */
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fixture.h"
#include "repo/page_token.h"
#include "samples.h"

#define MAX_METHODS 256

typedef struct corpus {
	const char *dir;     /* DIR */
	aw_transport *t;     /* a server with the base data, for method names */
	unsigned counts[MAX_METHODS]; /* requests written per method */
	unsigned n;          /* files written to the current target */
} corpus;

/* Makes directory `path`, or empties it of what an earlier run wrote. */
static void make_dir(const char *path, int empty)
{
	DIR *d;
	struct dirent *e;
	char file[512];

	if (mkdir(path, 0755) != 0 && errno != EEXIST)
		fuzz_fail("cannot make %s: %s", path, strerror(errno));
	if (!empty || (d = opendir(path)) == NULL)
		return;
	while ((e = readdir(d)) != NULL) {
		if (e->d_name[0] == '.')
			continue;
		snprintf(file, sizeof(file), "%s/%s", path, e->d_name);
		unlink(file);
	}
	closedir(d);
}

/* Writes one input of `target`, named after its number and `what`. */
static void write_input(corpus *c, const char *target, const char *what, const uint8_t *head,
			size_t head_len, const uint8_t *data, size_t len)
{
	char path[512];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s/%03u-%s", c->dir, target, c->n++, what);
	f = fopen(path, "wb");
	if (f == NULL || fwrite(head, 1, head_len, f) != head_len ||
	    (len > 0 && fwrite(data, 1, len, f) != len) || fclose(f) != 0)
		fuzz_fail("cannot write %s", path);
}

/* ---- fuzz_requests ----------------------------------------------------------------- */

static void write_request(corpus *c, const char *path, const uint8_t *data, size_t len)
{
	uint8_t head[FUZZ_SELECTOR_BYTES];
	size_t i = fuzz_pick_method(c->t, fuzz_selector(path));
	aw_loopback_method m;
	char what[128];

	aw__transport_method(c->t, i, &m);
	if (strcmp(m.path, path) != 0)
		fuzz_fail("samples call %s, which is not served", path);
	if (i < MAX_METHODS)
		c->counts[i]++;
	/* "/aniworld.v1.EpisodeService/GetEpisode" -> "EpisodeService.GetEpisode" */
	const char *svc = strrchr(path, '.');
	snprintf(what, sizeof(what), "%s", svc != NULL ? svc + 1 : path + 1);
	for (char *p = what; *p != '\0'; p++) {
		if (*p == '/')
			*p = '.';
	}
	fuzz_selector_write(fuzz_selector(path), head);
	write_input(c, "fuzz_requests", what, head, sizeof(head), data, len);
}

static void base_request(const char *path, const uint8_t *data, size_t len, int expect, void *arg)
{
	(void)expect;
	write_request(arg, path, data, len);
}

/* Checks an operation on a fresh server with the base data, then writes it. */
static void operation(const char *path, const uint8_t *data, size_t len, int expect, void *arg)
{
	aw_server *s = fuzz_server_new();
	aw_loopback_reply out;

	if (aw__transport_invoke_bytes(aw_server_transport(s), path, data, len, &out) != 0)
		fuzz_fail("%s: out of memory", path);
	if (out.status != expect)
		fuzz_fail("sample %s got status %d (%s), expected %d", path, out.status, out.message,
			  expect);
	aw__loopback_reply_clear(&out);
	aw_server_free(s);
	write_request(arg, path, data, len);
}

static void requests(corpus *c)
{
	aw_server *s = fuzz_server_new();
	size_t n;

	c->t = aw_server_transport(s);
	c->n = 0;
	fuzz_samples_base(base_request, c);
	fuzz_samples_operations(c->t, operation, c);
	n = aw__transport_method_count(c->t);
	for (size_t i = 0; i < n; i++) {
		aw_loopback_method m;

		aw__transport_method(c->t, i, &m);
		if (i < MAX_METHODS && c->counts[i] > 0)
			continue;
		fprintf(stderr, "aw-fuzz-seeds: no sample request for %s (tests/fuzz/samples.c); "
				"seeded with an empty one\n", m.path);
		write_request(c, m.path, NULL, 0);
	}
	aw_server_free(s);
}

/* ---- fuzz_page_token ----------------------------------------------------------------- */

static void put64(uint8_t *p, uint64_t v)
{
	for (int i = 0; i < 8; i++)
		p[i] = (uint8_t)(v >> (56 - 8 * i));
}

static void page_tokens(corpus *c)
{
	static const int64_t keys[][3] = {
		{0, 0, 1}, {1, 2, 3}, {-1, INT64_MAX, INT64_MIN}, {1700000000000000, 2, 42},
	};
	uint8_t head[9 + 24];
	char token[AW_PAGE_TOKEN_MAX];

	c->n = 0;
	for (int list = AW_LIST_SERIES; list <= AW_LIST_SESSIONS; list++) {
		for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
			aw_cursor cur = {1, {keys[i][0], keys[i][1], keys[i][2]}};
			uint64_t filter = aw_filter_hash_str(AW_FILTER_HASH_INIT, i % 2 ? "o" : "");

			put64(head + 1, filter);
			/* Decode a token the server would issue. */
			head[0] = (uint8_t)(list << 1);
			aw_page_token_encode(&cur, list, filter, token);
			write_input(c, "fuzz_page_token", "decode", head, 9, (const uint8_t *)token,
				    strlen(token));
			/* Encode a cursor. */
			head[0] = (uint8_t)(list << 1 | 1);
			for (int k = 0; k < 3; k++)
				put64(head + 9 + 8 * k, (uint64_t)keys[i][k]);
			write_input(c, "fuzz_page_token", "encode", head, sizeof(head), NULL, 0);
		}
	}
	head[0] = AW_LIST_SERIES << 1;
	write_input(c, "fuzz_page_token", "empty", head, 9, NULL, 0);
}

/* ---- fuzz_field_mask ------------------------------------------------------------------ */

static void field_masks(corpus *c)
{
	static const char *const masks[][8] = {
		{NULL},
		{"name", NULL},
		{"name", "episode_dict", "status", NULL},
		{"key", "name", "site", "folder", "description", "total_episodes", "cover_url", NULL},
		{"priority", "download_url", "file_destination", NULL},
		{"season", "episode_number", "title", "file_path", "file_size", "is_downloaded",
		 "download_date", NULL},
		{"id", NULL},
		{"name", "updated_at", NULL},
		{"no_such_field", NULL},
	};

	c->n = 0;
	for (size_t i = 0; i < sizeof(masks) / sizeof(masks[0]); i++) {
		Google__Protobuf__FieldMask m = GOOGLE__PROTOBUF__FIELD_MASK__INIT;
		uint8_t buf[512];
		size_t n = 0;

		while (masks[i][n] != NULL)
			n++;
		m.n_paths = n;
		m.paths = (char **)masks[i];
		if (google__protobuf__field_mask__get_packed_size(&m) > sizeof(buf))
			fuzz_fail("seed mask too long");
		size_t len = google__protobuf__field_mask__pack(&m, buf);
		/* Selector bytes 0..3: each update method (of the four served today). */
		for (uint8_t sel = 0; sel < 4; sel++)
			write_input(c, "fuzz_field_mask", "mask", &sel, 1, buf, len);
	}
}

/* ---- fuzz_episode_dict ---------------------------------------------------------------- */

static void episode_dicts(corpus *c)
{
	static const char *const texts[] = {
		"{}",
		"{\"1\":[1,2,3],\"2\":[1]}",
		" { \"0\" : [ ] , \"3\":[1,2, 30] } ",
		"{\"-1\":[-2147483648,2147483647]}",
		"{\"1\":[1],\"1\":[2]}",
		"{\"2\":[5],\"1\":[4]}",
	};

	c->n = 0;
	for (size_t i = 0; i < sizeof(texts) / sizeof(texts[0]); i++)
		write_input(c, "fuzz_episode_dict", "json", (const uint8_t *)texts[i], strlen(texts[i]),
			    NULL, 0);
}

int main(int argc, char **argv)
{
	static const char *const targets[] = {
		"fuzz_requests", "fuzz_page_token", "fuzz_field_mask", "fuzz_episode_dict",
	};
	corpus *c;
	char path[512];

	if (argc != 2) {
		fprintf(stderr, "usage: %s DIR\n", argv[0]);
		return 2;
	}
	c = calloc(1, sizeof(*c));
	if (c == NULL)
		return 1;
	c->dir = argv[1];
	make_dir(c->dir, 0);
	for (size_t i = 0; i < sizeof(targets) / sizeof(targets[0]); i++) {
		snprintf(path, sizeof(path), "%s/%s", c->dir, targets[i]);
		make_dir(path, 1);
	}
	requests(c);
	page_tokens(c);
	field_masks(c);
	episode_dicts(c);
	free(c);
	return 0;
}
