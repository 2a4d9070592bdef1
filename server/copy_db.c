/*
 * aniworld-server copy-db: one database copied into another of a different
 * backend (copy_db.h). Generic: the backends are found by location and
 * reached through their bulk side (repo/bulk.h); no backend is named here.
 *
 * The tables come from the data model, listed below parents first; their
 * columns are discovered on both sides and matched by name, so a column added
 * by a migration is copied without a change here. A table either side has
 * that the list lacks stops the copy (and the tests) until it is added.
 */
#define _POSIX_C_SOURCE 200809L
#include "copy_db.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "repo/bulk.h"
#include "repo/repo.h"

/* Every table of the data model, each after the tables its foreign keys refer
 * to. A new table goes here (the copy refuses to run without it). */
static const char *const tables[] = {
	"anime_series",
	"episodes",
	"download_queue",
	"user_sessions",
	"request_ids", /* answers of writes given a request_id: a retry after the move
			* still gets the first answer */
};
#define N_TABLES (sizeof(tables) / sizeof(tables[0]))

/* One end of the copy. */
typedef struct side {
	const char *role;            /* "source", "target" */
	char shown[512];             /* the location, redacted */
	const aw_bulk_methods *m;
	aw_bulk *b;
	aw_bulk_table *tables;
	size_t n_tables;
} side;

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static const char *kind_name(aw_bulk_kind k)
{
	static const char *const names[] = {"null", "integer", "boolean", "real",
					    "text", "bytes", "other"};

	return (size_t)k < sizeof(names) / sizeof(names[0]) ? names[k] : "?";
}

static int list_index(const char *name)
{
	for (size_t i = 0; i < N_TABLES; i++)
		if (strcmp(tables[i], name) == 0)
			return (int)i;
	return -1;
}

static const aw_bulk_table *find_table(const side *s, const char *name)
{
	for (size_t i = 0; i < s->n_tables; i++)
		if (strcmp(s->tables[i].name, name) == 0)
			return &s->tables[i];
	return NULL;
}

static int side_open(side *s, const char *role, const char *location, int write, aw_err *err)
{
	const aw_repo_backend *be = aw_repo_backend_find(location);
	int rc;

	s->role = role;
	aw_repo_location_redact(location, s->shown, sizeof(s->shown));
	if (be == NULL || be->bulk == NULL)
		return aw_err_set(err, AW_EINVAL, "the %s %s is of a backend that cannot be copied",
				  role, s->shown);
	s->m = be->bulk;
	rc = s->m->open(&s->b, location, write, err);
	if (rc == 0)
		rc = s->m->describe(s->b, &s->tables, &s->n_tables, err);
	if (rc != 0) {
		char msg[AW_ERR_MSG_MAX];

		snprintf(msg, sizeof(msg), "%s", err->msg);
		aw_err_set(err, rc, "%s %s: %s", role, s->shown, msg);
	}
	return rc;
}

static void side_close(side *s)
{
	if (s->m != NULL)
		s->m->close(s->b);
	aw_bulk_tables_free(s->tables, s->n_tables);
	s->b = NULL;
	s->tables = NULL;
	s->n_tables = 0;
}

/* Whether values of kind `a` can go to a column of kind `b`. */
static int kinds_fit(aw_bulk_kind a, aw_bulk_kind b)
{
	if (a == b)
		return 1;
	if ((a == AW_BULK_INT || a == AW_BULK_BOOL || a == AW_BULK_REAL) &&
	    (b == AW_BULK_INT || b == AW_BULK_BOOL || b == AW_BULK_REAL))
		return !(a == AW_BULK_REAL && b == AW_BULK_BOOL) && !(a == AW_BULK_BOOL && b == AW_BULK_REAL);
	return (a == AW_BULK_TEXT || a == AW_BULK_OTHER) && (b == AW_BULK_TEXT || b == AW_BULK_OTHER);
}

/*
 * The two sides describe the same data model: every table of either is in the
 * list (parents first, as their foreign keys say), every table of the list is
 * on both, and each has the same columns on both, of kinds that fit.
 */
static int check_schemas(const side *src, const side *dst, aw_err *err)
{
	const side *sides[2] = {src, dst};

	for (int k = 0; k < 2; k++) {
		const side *s = sides[k];

		for (size_t i = 0; i < s->n_tables; i++) {
			const aw_bulk_table *t = &s->tables[i];
			int at = list_index(t->name);

			if (at < 0)
				return aw_err_set(err, AW_EINVAL,
						  "table %s of the %s is not known to copy-db: add it "
						  "to the table list in server/copy_db.c",
						  t->name, s->role);
			for (size_t p = 0; p < t->n_parents; p++) {
				int parent = list_index(t->parents[p]);

				if (parent > at)
					return aw_err_set(err, AW_EINVAL,
							  "copy-db's table list has %s before %s, "
							  "which its foreign key refers to",
							  t->name, t->parents[p]);
			}
		}
	}
	for (size_t i = 0; i < N_TABLES; i++) {
		const aw_bulk_table *a = find_table(src, tables[i]), *b = find_table(dst, tables[i]);

		if (a == NULL || b == NULL)
			return aw_err_set(err, AW_EINVAL, "table %s is missing from the %s", tables[i],
					  a == NULL ? "source" : "target");
		for (size_t c = 0; c < a->n_cols; c++) {
			const aw_bulk_column *to = aw_bulk_column_find(b, a->cols[c].name);

			if (to == NULL)
				return aw_err_set(err, AW_EINVAL,
						  "column %s.%s of the source is missing from the target",
						  a->name, a->cols[c].name);
			if (!kinds_fit(a->cols[c].kind, to->kind))
				return aw_err_set(err, AW_EINVAL,
						  "column %s.%s is %s (%s) in the source but %s (%s) in "
						  "the target",
						  a->name, a->cols[c].name, kind_name(a->cols[c].kind),
						  a->cols[c].type, kind_name(to->kind), to->type);
		}
		for (size_t c = 0; c < b->n_cols; c++)
			if (aw_bulk_column_find(a, b->cols[c].name) == NULL)
				return aw_err_set(err, AW_EINVAL,
						  "column %s.%s of the target is missing from the source",
						  b->name, b->cols[c].name);
	}
	return 0;
}

/* What the rows of one table go through. */
typedef struct table_copy {
	const side *dst;
	const aw_bulk_table *table;
	const aw_bulk_column *src_cols;  /* the order values come in */
	const aw_bulk_column **dst_cols; /* the target's column of each */
	aw_bulk_value *out;              /* the converted row */
	int id_col;                      /* index of "id", or -1 */
	int64_t rows;
} table_copy;

/* Converts `v` for a column of kind `kind`; *out borrows v's text. */
static int convert(const table_copy *tc, size_t col, const aw_bulk_value *row,
		   aw_bulk_value *out, aw_err *err)
{
	const aw_bulk_value *v = &row[col];
	aw_bulk_kind kind = tc->dst_cols[col]->kind;

	*out = *v;
	if (v->kind == AW_BULK_NULL || v->kind == kind)
		return 0;
	out->kind = kind;
	if (kind == AW_BULK_BOOL && v->kind == AW_BULK_INT && (v->i == 0 || v->i == 1))
		return 0;
	if (kind == AW_BULK_INT && v->kind == AW_BULK_BOOL)
		return 0;
	if (kind == AW_BULK_REAL && v->kind == AW_BULK_INT) {
		out->d = (double)v->i;
		return 0;
	}
	if (kind == AW_BULK_INT && v->kind == AW_BULK_REAL && v->d == (double)(int64_t)v->d) {
		out->i = (int64_t)v->d;
		return 0;
	}
	if ((kind == AW_BULK_TEXT || kind == AW_BULK_OTHER) &&
	    (v->kind == AW_BULK_TEXT || v->kind == AW_BULK_OTHER))
		return 0;
	return aw_err_set(err, AW_EINVAL, "%s.%s of the row with id %lld: a %s value for a %s column",
			  tc->table->name, tc->src_cols[col].name,
			  tc->id_col >= 0 ? (long long)row[tc->id_col].i : -1LL,
			  kind_name(v->kind), tc->dst_cols[col]->type);
}

static int copy_row(void *arg, const aw_bulk_value *row, size_t n, aw_err *err)
{
	table_copy *tc = arg;
	int rc = 0;

	for (size_t i = 0; i < n && rc == 0; i++)
		rc = convert(tc, i, row, &tc->out[i], err);
	if (rc == 0)
		rc = tc->dst->m->insert(tc->dst->b, tc->out, err);
	if (rc == 0)
		tc->rows++;
	return rc;
}

/* Copies the rows of table `name` and moves the target's id counter. */
static int copy_table(side *src, side *dst, const char *name, int64_t *rows, int64_t *id_last,
		      aw_err *err)
{
	const aw_bulk_table *st = find_table(src, name), *tt = find_table(dst, name);
	const aw_bulk_column *id = aw_bulk_column_find(st, "id");
	aw_bulk_column *dcols = calloc(st->n_cols + 1, sizeof(*dcols));
	table_copy tc = {.dst = dst, .table = st, .src_cols = st->cols, .id_col = -1};
	int rc = 0, begun = 0;

	tc.dst_cols = calloc(st->n_cols + 1, sizeof(*tc.dst_cols));
	tc.out = calloc(st->n_cols + 1, sizeof(*tc.out));
	*rows = 0;
	*id_last = 0;
	if (dcols == NULL || tc.dst_cols == NULL || tc.out == NULL)
		rc = aw_err_set(err, AW_ENOMEM, "out of memory copying %s", name);
	for (size_t i = 0; rc == 0 && i < st->n_cols; i++) {
		tc.dst_cols[i] = aw_bulk_column_find(tt, st->cols[i].name);
		dcols[i] = *tc.dst_cols[i];
		if (strcmp(st->cols[i].name, "id") == 0)
			tc.id_col = (int)i;
	}
	if (rc == 0)
		rc = dst->m->insert_begin(dst->b, name, dcols, st->n_cols, err);
	begun = rc == 0;
	if (rc == 0)
		rc = src->m->read(src->b, name, st->cols, st->n_cols, copy_row, &tc, err);
	if (begun) {
		aw_err end_err;
		int end = dst->m->insert_end(dst->b, &end_err);

		if (rc == 0 && end != 0) {
			*err = end_err;
			rc = end;
		}
	}
	if (rc == 0 && id != NULL && (id->kind == AW_BULK_INT))
		rc = src->m->id_last(src->b, name, id_last, err);
	if (rc == 0 && id != NULL && (id->kind == AW_BULK_INT))
		rc = dst->m->id_set(dst->b, name, *id_last, err);
	*rows = tc.rows;
	free(dcols);
	free(tc.dst_cols);
	free(tc.out);
	return rc;
}

/* Refuses a target holding records (without force) or empties it. */
static int clear_target(side *dst, int force, aw_err *err)
{
	char found[AW_ERR_MSG_MAX] = "";
	size_t used = 0;
	int rc = dst->m->lock(dst->b, tables, N_TABLES, err);

	for (size_t i = 0; rc == 0 && i < N_TABLES; i++) {
		int64_t n;

		rc = dst->m->count(dst->b, tables[i], &n, err);
		if (rc == 0 && n > 0 && used < sizeof(found))
			used += (size_t)snprintf(found + used, sizeof(found) - used, "%s%s %lld",
						 used > 0 ? ", " : "", tables[i], (long long)n);
	}
	if (rc != 0 || found[0] == '\0')
		return rc;
	if (!force)
		return aw_err_set(err, AW_EEXIST,
				  "the target %s is not empty (%s rows): nothing copied; --force "
				  "empties it first",
				  dst->shown, found);
	return dst->m->empty(dst->b, tables, N_TABLES, err);
}

/* Opens the target through the repository, which migrates it (and makes a
 * SQLite file that does not exist yet). */
static int migrate_target(const char *location, aw_err *err)
{
	aw_repo_options opts;
	aw_repo *r = NULL;
	int rc;

	aw_repo_options_defaults(&opts);
	rc = aw_repo_open(&r, location, &opts, err);
	aw_repo_close(r);
	return rc;
}

int aw_copy_db(const aw_copy_db_options *opts, aw_copy_db_progress_fn *progress, void *arg,
	       aw_copy_db_summary *summary, aw_err *err)
{
	side src = {0}, dst = {0};
	int64_t src_count[N_TABLES], copied[N_TABLES];
	int stored, current, dst_stored, dst_current;
	double start = now_s();
	int rc;

	memset(summary, 0, sizeof(*summary));
	if (strcmp(opts->from, opts->to) == 0)
		return aw_err_set(err, AW_EINVAL, "the source and the target are the same database");

	/* The source first: a source this build cannot copy leaves the target
	 * untouched, not even migrated. */
	rc = side_open(&src, "source", opts->from, 0, err);
	if (rc == 0)
		rc = src.m->version(src.b, &stored, &current, err);
	if (rc == 0 && stored != current)
		rc = aw_err_set(err, AW_EVERSION,
				"the source %s is at schema version %d, this build at %d: %s",
				src.shown, stored, current,
				stored > current
					? "copy it with the aniworld-server that wrote it, or a newer one"
					: "migrate it first (aniworld-server --db SOURCE --migrate-only)");
	for (size_t i = 0; rc == 0 && i < N_TABLES; i++)
		if (find_table(&src, tables[i]) != NULL)
			rc = src.m->count(src.b, tables[i], &src_count[i], err);

	if (rc == 0)
		rc = migrate_target(opts->to, err);
	if (rc == 0)
		rc = side_open(&dst, "target", opts->to, 1, err);
	if (rc == 0)
		rc = dst.m->version(dst.b, &dst_stored, &dst_current, err);
	if (rc == 0 && dst_stored != stored)
		rc = aw_err_set(err, AW_EVERSION,
				"the target %s is at schema version %d, the source at %d", dst.shown,
				dst_stored, stored);
	if (rc == 0)
		rc = check_schemas(&src, &dst, err);
	if (rc == 0)
		rc = clear_target(&dst, opts->force, err);

	for (size_t i = 0; rc == 0 && i < N_TABLES; i++) {
		double t0 = now_s();
		int64_t id_last;

		rc = copy_table(&src, &dst, tables[i], &copied[i], &id_last, err);
		if (rc == 0) {
			summary->tables++;
			summary->rows += copied[i];
			if (progress != NULL)
				progress(arg, tables[i], copied[i], id_last, now_s() - t0);
		}
	}
	if (rc == 0)
		rc = dst.m->recount(dst.b, err);
	/* Counted inside the transaction: a mismatch is never committed. */
	for (size_t i = 0; rc == 0 && i < N_TABLES; i++) {
		int64_t n;

		rc = dst.m->count(dst.b, tables[i], &n, err);
		if (rc == 0 && (n != src_count[i] || copied[i] != src_count[i]))
			rc = aw_err_set(err, AW_EDATALOSS,
					"%s: the source holds %lld rows, %lld were copied and the "
					"target holds %lld: nothing committed",
					tables[i], (long long)src_count[i], (long long)copied[i],
					(long long)n);
	}
	if (rc == 0)
		rc = dst.m->commit(dst.b, err);
	side_close(&dst);
	side_close(&src);
	summary->seconds = now_s() - start;
	summary->version = stored;
	return rc;
}

/* ---- the subcommand ------------------------------------------------------------------ */

static void usage(FILE *f)
{
	fprintf(f,
		"usage: aniworld-server copy-db --from LOCATION --to LOCATION [--force]\n"
		"\n"
		"Copies every record of one database into another of a different backend,\n"
		"keeping ids and every field: a SQLite path and a postgresql:// URI, either way.\n"
		"The source is read from one snapshot (it may be in use); the target is migrated\n"
		"to this build's schema and written in one transaction (a copy that fails or is\n"
		"stopped leaves it as it was). Both must be at this build's schema version.\n"
		"\n"
		"  --from LOCATION  the database to copy (opened read-only)\n"
		"  --to LOCATION    the database to fill; must hold no records\n"
		"  --force          empty a target that holds records first (same transaction)\n"
		"  -h, --help       this text\n");
}

typedef struct cli_progress {
	long pause_ms;  /* AW_TEST_COPY_DB_PAUSE_MS */
} cli_progress;

static void print_progress(void *arg, const char *table, int64_t rows, int64_t id_last,
			   double seconds)
{
	const cli_progress *p = arg;

	if (id_last > 0)
		fprintf(stderr, "copy-db: %s: %lld rows in %.2f s, ids continue after %lld\n", table,
			(long long)rows, seconds, (long long)id_last);
	else
		fprintf(stderr, "copy-db: %s: %lld rows in %.2f s\n", table, (long long)rows,
			seconds);
	fflush(stderr);
	if (p->pause_ms > 0) {
		struct timespec ts = {p->pause_ms / 1000, (p->pause_ms % 1000) * 1000000L};

		while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
			;
	}
}

/* The value of option `name` at argv[*i] ("--name VALUE" or "--name=VALUE"),
 * moving *i past it; NULL when argv[*i] is not that option. */
static const char *option_value(int argc, char **argv, int *i, const char *name, int *missing)
{
	size_t n = strlen(name);

	if (strncmp(argv[*i], name, n) != 0)
		return NULL;
	if (argv[*i][n] == '=')
		return argv[*i] + n + 1;
	if (argv[*i][n] != '\0')
		return NULL;
	if (*i + 1 >= argc) {
		*missing = 1;
		return NULL;
	}
	return argv[++*i];
}

int aw_copy_db_main(int argc, char **argv)
{
	aw_copy_db_options opts = {0};
	aw_copy_db_summary sum;
	cli_progress progress = {0};
	char from[512], to[512];
	const char *pause = getenv("AW_TEST_COPY_DB_PAUSE_MS");
	aw_err err;
	int rc;

	for (int i = 1; i < argc; i++) {
		const char *v;
		int missing = 0;

		if ((v = option_value(argc, argv, &i, "--from", &missing)) != NULL) {
			opts.from = v;
		} else if ((v = option_value(argc, argv, &i, "--to", &missing)) != NULL) {
			opts.to = v;
		} else if (strcmp(argv[i], "--force") == 0) {
			opts.force = 1;
		} else if (strcmp(argv[i], "-h") == 0 || strcmp(argv[i], "--help") == 0) {
			usage(stdout);
			return 0;
		} else {
			fprintf(stderr, "aniworld-server copy-db: %s %s\n",
				missing ? "a value is missing after" : "unknown argument", argv[i]);
			usage(stderr);
			return 2;
		}
	}
	if (opts.from == NULL || opts.to == NULL || opts.from[0] == '\0' || opts.to[0] == '\0') {
		fprintf(stderr, "aniworld-server copy-db: --from and --to are both needed\n");
		usage(stderr);
		return 2;
	}
	if (pause != NULL)
		progress.pause_ms = strtol(pause, NULL, 10);
	aw_repo_location_redact(opts.from, from, sizeof(from));
	aw_repo_location_redact(opts.to, to, sizeof(to));
	fprintf(stderr, "copy-db: from %s to %s\n", from, to);
	aw_err_clear(&err);
	rc = aw_copy_db(&opts, print_progress, &progress, &sum, &err);
	if (rc != 0) {
		fprintf(stderr, "copy-db: failed: %s (%s); no record was written to the target\n", err.msg,
			aw_err_name(rc));
		return 1;
	}
	fprintf(stderr,
		"copy-db: copied %zu tables, %lld rows in %.2f s (%.0f rows/s) at schema version "
		"%d; row counts match\n",
		sum.tables, (long long)sum.rows, sum.seconds,
		sum.seconds > 0 ? (double)sum.rows / sum.seconds : 0.0, sum.version);
	return 0;
}
