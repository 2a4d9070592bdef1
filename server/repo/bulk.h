/*
 * bulk.h: a backend's tables as rows of plain values, for copying a whole
 * database from one backend to another (aniworld-server copy-db, copy_db.c).
 *
 * Where the repository (repo.h) speaks in records and serves many callers at
 * once, this speaks in tables, columns and rows, for one tool at a time:
 *   - a database opened for reading is read-only and everything read from it
 *     until it is closed sees one snapshot, however busy the database is;
 *   - a database opened for writing holds one transaction, begun at open: no
 *     other session sees anything written until commit(), and closing it
 *     without commit() (or a crash, or SIGKILL) undoes everything.
 * The tables described are those of the data model shared by every backend:
 * each backend leaves out its own bookkeeping (schema versions, id counters,
 * derived counts, events in flight), which the copy does not carry as rows.
 *
 * Each backend that can be copied sets aw_repo_backend.bulk. Every function
 * returns 0 or an AW_E* code with its message in `err`; nothing prints.
 */
#ifndef AW_REPO_BULK_H
#define AW_REPO_BULK_H

#include <stddef.h>
#include <stdint.h>

#include "aniworld/error.h"

typedef struct aw_bulk aw_bulk;

/* What a column holds, and what a value is. */
typedef enum aw_bulk_kind {
	AW_BULK_NULL,  /* values only: SQL NULL */
	AW_BULK_INT,   /* 64-bit integers (of any width the engine has) */
	AW_BULK_BOOL,  /* true or false; as a value, i is 0 or 1 */
	AW_BULK_REAL,  /* double precision */
	AW_BULK_TEXT,  /* UTF-8 text */
	AW_BULK_BLOB,  /* bytes */
	AW_BULK_OTHER, /* any other type: carried as the engine's text for it */
} aw_bulk_kind;

/* A column of a table. */
typedef struct aw_bulk_column {
	char *name;
	aw_bulk_kind kind;  /* never AW_BULK_NULL */
	char *type;         /* the engine's own name of the type, for messages */
} aw_bulk_column;

/* A table of the data model. */
typedef struct aw_bulk_table {
	char *name;
	aw_bulk_column *cols;  /* in the engine's order */
	size_t n_cols;
	char **parents;        /* the tables its foreign keys refer to (may repeat) */
	size_t n_parents;
} aw_bulk_table;

/* A value of a row. Text and bytes are borrowed for the duration of a call. */
typedef struct aw_bulk_value {
	aw_bulk_kind kind;  /* AW_BULK_NULL .. AW_BULK_OTHER */
	int64_t i;          /* INT, BOOL */
	double d;           /* REAL */
	const char *p;      /* TEXT, OTHER (NUL-terminated too), BLOB */
	size_t len;         /* bytes at p */
} aw_bulk_value;

/* Takes one row read (n values, in the order of the columns asked for); a
 * non-zero return stops the read, which then returns that code. */
typedef int aw_bulk_row_fn(void *arg, const aw_bulk_value *row, size_t n, aw_err *err);

typedef struct aw_bulk_methods {
	/*
	 * Opens the database at `location` (already migrated, when for writing:
	 * copy_db.c does it through aw_repo_open). write 0: read-only, one
	 * snapshot until close; the schema is not touched, whatever its version.
	 * write 1: begins the one transaction, with the write lock where the
	 * engine has one database-wide. AW_EIO, AW_EUNAVAIL, AW_ECORRUPT,
	 * AW_EBUSY, AW_ENOMEM.
	 */
	int (*open)(aw_bulk **out, const char *location, int write, aw_err *err);
	/* Rolls back what was not committed and closes. NULL is a no-op. */
	void (*close)(aw_bulk *b);
	/*
	 * The schema version the database holds (0: none) and the one this build
	 * writes, both in the numbering every backend shares (the backend's
	 * schema.c maps its own), so that versions of two backends compare.
	 */
	int (*version)(aw_bulk *b, int *stored, int *current, aw_err *err);
	/* Every table of the data model, with columns and foreign keys; free
	 * with aw_bulk_tables_free(). */
	int (*describe)(aw_bulk *b, aw_bulk_table **tables, size_t *n, aw_err *err);
	/* The number of rows of `table`. */
	int (*count)(aw_bulk *b, const char *table, int64_t *n, aw_err *err);
	/* The highest id `table` (which has an integer column `id`) has ever
	 * given: the largest present, or a larger one its id counter has passed
	 * (rows since deleted); 0 for none. */
	int (*id_last)(aw_bulk *b, const char *table, int64_t *last, aw_err *err);
	/* Reads every row of `table`, the `n` columns `cols` (as described) in
	 * that order, in the order of the table's key, calling fn for each. */
	int (*read)(aw_bulk *b, const char *table, const aw_bulk_column *cols, size_t n,
		    aw_bulk_row_fn *fn, void *arg, aw_err *err);

	/* ---- writing (a database opened with write 1) ---- */

	/* Keeps every other session from writing `tables` until the transaction
	 * ends (waiting a while for sessions that do). AW_EBUSY. */
	int (*lock)(aw_bulk *b, const char *const *tables, size_t n, aw_err *err);
	/* Deletes every row of `tables` (given parents first). */
	int (*empty)(aw_bulk *b, const char *const *tables, size_t n, aw_err *err);
	/* Starts inserting rows into `table`, each value of a row going to the
	 * column of the same index of `cols` (as described, the kinds are the
	 * table's): a value of another kind is converted by the caller first. */
	int (*insert_begin)(aw_bulk *b, const char *table, const aw_bulk_column *cols, size_t n,
			    aw_err *err);
	/* One row (n values as given to insert_begin). A row the database refuses
	 * may be reported here or only by insert_end. */
	int (*insert)(aw_bulk *b, const aw_bulk_value *row, aw_err *err);
	/* Ends the rows of insert_begin; reports any refused. */
	int (*insert_end)(aw_bulk *b, aw_err *err);
	/* Makes the next id `table` gives above `last` (and above every id it
	 * holds). */
	int (*id_set)(aw_bulk *b, const char *table, int64_t last, aw_err *err);
	/* Brings what the backend derives from the rows (row counts kept by
	 * triggers) in line with the rows it now holds. */
	int (*recount)(aw_bulk *b, aw_err *err);
	/* Commits the transaction: everything written becomes visible at once. */
	int (*commit)(aw_bulk *b, aw_err *err);
} aw_bulk_methods;

/* What each backend's open database begins with. */
struct aw_bulk {
	const aw_bulk_methods *methods;
};

/* Frees tables made by describe(); NULL is a no-op. */
void aw_bulk_tables_free(aw_bulk_table *tables, size_t n);

/* The column `name` of `t`, or NULL. */
const aw_bulk_column *aw_bulk_column_find(const aw_bulk_table *t, const char *name);

/* For backends: appends a table named `name` (copied) to *tables; the new one
 * is (*tables)[*n - 1]. AW_ENOMEM. */
int aw__bulk_table_add(aw_bulk_table **tables, size_t *n, const char *name, aw_err *err);
/* Appends a column (strings copied). AW_ENOMEM. */
int aw__bulk_column_add(aw_bulk_table *t, const char *name, aw_bulk_kind kind, const char *type,
			aw_err *err);
/* Appends a parent table name (copied). AW_ENOMEM. */
int aw__bulk_parent_add(aw_bulk_table *t, const char *name, aw_err *err);

/* The bulk side of each backend that has one. */
extern const aw_bulk_methods aw__sqlite_bulk;
extern const aw_bulk_methods aw__postgres_bulk;

/*
 * The counters of row_counts (kept by triggers: the unfiltered totals of the
 * lists), each counted afresh from its table: one statement both backends
 * take. A counter the statement does not know is set to -1, which recount
 * reports (a migration that adds a counter adds it here).
 */
#define AW_BULK_RECOUNT_SQL                                                                   \
	"UPDATE row_counts SET n = CASE name "                                                \
	"WHEN 'anime_series' THEN (SELECT COUNT(*) FROM anime_series) "                       \
	"WHEN 'episodes' THEN (SELECT COUNT(*) FROM episodes) "                               \
	"WHEN 'anime_series_deleted' THEN "                                                   \
	"(SELECT COUNT(*) FROM anime_series WHERE delete_time IS NOT NULL) "                 \
	"WHEN 'episodes_hidden' THEN (SELECT COUNT(*) FROM episodes WHERE hidden <> 0) "      \
	"ELSE -1 END"
#define AW_BULK_RECOUNT_UNKNOWN_SQL "SELECT name FROM row_counts WHERE n = -1"

#endif /* AW_REPO_BULK_H */
