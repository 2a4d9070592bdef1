/*
 * copy_db.h: `aniworld-server copy-db`, which copies every record of one
 * database into another of a different backend (SQLite to PostgreSQL, and
 * back), through each backend's bulk side (repo/bulk.h).
 *
 * What a copy promises:
 *   - the source is opened read-only and read from one snapshot: it may be a
 *     live database, the copy is what it held at one moment;
 *   - the target is migrated to this build's schema first, then written in one
 *     transaction: until it commits nobody sees a row, and a copy that fails
 *     or is killed leaves the target as it was (empty, or as --force found it);
 *   - a target that holds any record is refused unless `force`, which empties
 *     it in that same transaction;
 *   - ids, timestamps and every field are kept as stored; each table's id
 *     counter is moved past the highest id the source ever gave, so the next
 *     create gets a new id;
 *   - before committing, the rows of each table are counted on both sides; a
 *     mismatch rolls back.
 * Both databases must be at the same schema version (in the numbering the
 * backends share): a source newer or older than this build is refused.
 */
#ifndef AW_COPY_DB_H
#define AW_COPY_DB_H

#include <stddef.h>
#include <stdint.h>

#include "aniworld/error.h"

typedef struct aw_copy_db_options {
	const char *from;  /* source location: a SQLite path or a postgresql:// URI (borrowed) */
	const char *to;    /* target location, of any backend (borrowed) */
	int force;         /* empty a target that holds records first */
} aw_copy_db_options;

/* Told after each table has been copied (not yet committed): its name, the
 * rows copied, the id its counter now continues after (0: none), the
 * seconds it took. */
typedef void aw_copy_db_progress_fn(void *arg, const char *table, int64_t rows, int64_t id_last,
				    double seconds);

/* What a copy did. */
typedef struct aw_copy_db_summary {
	size_t tables;    /* tables copied */
	int64_t rows;     /* rows copied, all tables */
	double seconds;   /* from opening the source to the commit */
	int version;      /* the schema version of both (shared numbering) */
} aw_copy_db_summary;

/*
 * Copies opts->from into opts->to as described above; `progress` (may be NULL)
 * hears of each table. Errors: AW_EINVAL (same location, a backend that cannot
 * be copied, a table or column one side has and the other has not), AW_EVERSION
 * (schema versions differ), AW_EEXIST (target not empty, without force),
 * AW_EDATALOSS (row counts differ), and the backends' (AW_EUNAVAIL, AW_EIO,
 * AW_EBUSY, ...). Messages name locations only as aw_repo_location_redact
 * shows them.
 */
int aw_copy_db(const aw_copy_db_options *opts, aw_copy_db_progress_fn *progress, void *arg,
	       aw_copy_db_summary *summary, aw_err *err);

/*
 * The subcommand: argv[0] is "copy-db", then --from, --to, --force, --help.
 * Prints a line per table and a summary on stderr. Returns the exit status: 0
 * copied, 1 failed (the reason on stderr), 2 bad usage. The test-only
 * environment variable AW_TEST_COPY_DB_PAUSE_MS pauses that long after each
 * table (for tests that kill a copy half-way).
 */
int aw_copy_db_main(int argc, char **argv);

#endif /* AW_COPY_DB_H */
