/*
 * The schema, as numbered migrations compiled into the server.
 *
 * PRAGMA user_version records how many have run. Opening a database applies the
 * missing ones in order, each in its own transaction with its version bump, so
 * a crash mid-upgrade leaves the file at a whole version. A database whose
 * version is higher than this build knows is refused rather than misread.
 * Migrations are only ever appended; a shipped one is never edited. They are
 * numbered as PostgreSQL's (postgres/schema.c): version N means the same
 * tables on both, and a migration one backend does not need is an empty one.
 *
 * Times are INTEGER microseconds since the Unix epoch, UTC. Enums are stored as
 * their proto numbers.
 */
#include "sqlite_int.h"

#include <stdio.h>

static const char *const migrations[] = {
	/* 1: the seed's four tables, with their keys, indexes and cascades. */
	"CREATE TABLE anime_series ("
	"  id INTEGER PRIMARY KEY AUTOINCREMENT,"
	"  key TEXT NOT NULL UNIQUE,"
	"  name TEXT NOT NULL,"
	"  site TEXT NOT NULL DEFAULT '',"
	"  folder TEXT NOT NULL DEFAULT '',"
	"  description TEXT NOT NULL DEFAULT '',"
	"  status TEXT NOT NULL DEFAULT '',"
	"  total_episodes INTEGER NOT NULL DEFAULT 0 CHECK (total_episodes >= 0),"
	"  cover_url TEXT NOT NULL DEFAULT '',"
	"  episode_dict TEXT NOT NULL DEFAULT '{}'," /* JSON {"season": [episode, ...]} */
	"  created_at INTEGER NOT NULL,"
	"  updated_at INTEGER NOT NULL"
	");"
	"CREATE INDEX anime_series_name ON anime_series(name);"
	"CREATE INDEX anime_series_site ON anime_series(site);"

	"CREATE TABLE episodes ("
	"  id INTEGER PRIMARY KEY AUTOINCREMENT,"
	"  series_id INTEGER NOT NULL REFERENCES anime_series(id) ON DELETE CASCADE,"
	"  season INTEGER NOT NULL CHECK (season >= 0),"
	"  episode_number INTEGER NOT NULL CHECK (episode_number >= 1),"
	"  title TEXT NOT NULL DEFAULT '',"
	"  file_path TEXT NOT NULL DEFAULT '',"
	"  file_size INTEGER NOT NULL DEFAULT 0,"
	"  is_downloaded INTEGER NOT NULL DEFAULT 0,"
	"  download_date INTEGER," /* NULL until downloaded */
	"  created_at INTEGER NOT NULL,"
	"  updated_at INTEGER NOT NULL,"
	"  UNIQUE (series_id, season, episode_number)"
	");"

	"CREATE TABLE download_queue ("
	"  id INTEGER PRIMARY KEY AUTOINCREMENT,"
	"  series_id INTEGER NOT NULL REFERENCES anime_series(id) ON DELETE CASCADE,"
	"  season INTEGER NOT NULL CHECK (season >= 0),"
	"  episode_number INTEGER NOT NULL CHECK (episode_number >= 1),"
	"  status INTEGER NOT NULL CHECK (status BETWEEN 1 AND 6),"     /* DownloadStatus */
	"  priority INTEGER NOT NULL CHECK (priority BETWEEN 1 AND 3)," /* DownloadPriority */
	"  progress_percent REAL NOT NULL DEFAULT 0,"
	"  downloaded_bytes INTEGER NOT NULL DEFAULT 0 CHECK (downloaded_bytes >= 0),"
	"  total_bytes INTEGER NOT NULL DEFAULT 0 CHECK (total_bytes >= 0),"
	"  download_speed REAL NOT NULL DEFAULT 0,"
	"  error_message TEXT NOT NULL DEFAULT '',"
	"  retry_count INTEGER NOT NULL DEFAULT 0,"
	"  download_url TEXT NOT NULL DEFAULT '',"
	"  file_destination TEXT NOT NULL DEFAULT '',"
	"  started_at INTEGER,"
	"  completed_at INTEGER,"
	"  heartbeat_at INTEGER," /* last claim or progress report while DOWNLOADING */
	"  created_at INTEGER NOT NULL,"
	"  updated_at INTEGER NOT NULL"
	");"
	/* Queue order within a series: lists filtered by series walk it; the
	 * cascade from anime_series uses its first column. */
	"CREATE INDEX download_queue_series"
	"  ON download_queue(series_id, priority DESC, created_at, id);"
	/* Queue order within a status: claims and status-filtered lists walk it. */
	"CREATE INDEX download_queue_order ON download_queue(status, priority DESC, created_at, id);"
	/* At most one unfinished (PENDING, DOWNLOADING, PAUSED) item per episode. */
	"CREATE UNIQUE INDEX download_queue_unfinished"
	"  ON download_queue(series_id, season, episode_number) WHERE status IN (1, 2, 3);"
	/* Stale claims: DOWNLOADING items by heartbeat. */
	"CREATE INDEX download_queue_heartbeat ON download_queue(heartbeat_at) WHERE status = 2;"

	"CREATE TABLE user_sessions ("
	"  id INTEGER PRIMARY KEY AUTOINCREMENT,"
	"  session_id TEXT NOT NULL UNIQUE,"
	"  token_hash BLOB NOT NULL," /* SHA-256 of the token; the token is never stored */
	"  user_id TEXT NOT NULL,"
	"  ip_address TEXT NOT NULL DEFAULT '',"
	"  user_agent TEXT NOT NULL DEFAULT '',"
	"  expires_at INTEGER NOT NULL,"
	"  is_active INTEGER NOT NULL DEFAULT 1,"
	"  last_activity INTEGER NOT NULL,"
	"  created_at INTEGER NOT NULL,"
	"  updated_at INTEGER NOT NULL"
	");"
	/* A user's sessions in id order: per-user lists page on it (active_only
	 * filters the rows it yields), RevokeUserSessions finds them with it. */
	"CREATE INDEX user_sessions_user ON user_sessions(user_id, id);"
	/* Active sessions in id order (entries end in the rowid). */
	"CREATE INDEX user_sessions_active ON user_sessions(is_active);"
	/* PurgeExpiredSessions: a range. */
	"CREATE INDEX user_sessions_expires ON user_sessions(expires_at);",

	/* 2: row counts kept by triggers, so that an unfiltered list's total_size
	 * costs one lookup instead of a count over the whole table. */
	"CREATE TABLE row_counts (name TEXT PRIMARY KEY, n INTEGER NOT NULL) WITHOUT ROWID;"
	"INSERT INTO row_counts VALUES ('anime_series', (SELECT COUNT(*) FROM anime_series));"
	"CREATE TRIGGER anime_series_counted AFTER INSERT ON anime_series BEGIN"
	"  UPDATE row_counts SET n = n + 1 WHERE name = 'anime_series';"
	"END;"
	"CREATE TRIGGER anime_series_uncounted AFTER DELETE ON anime_series BEGIN"
	"  UPDATE row_counts SET n = n - 1 WHERE name = 'anime_series';"
	"END;",

	/* 3: the same counts for episodes (a cascade from a deleted series fires
	 * the delete trigger for each of its episodes). */
	"INSERT INTO row_counts VALUES ('episodes', (SELECT COUNT(*) FROM episodes));"
	"CREATE TRIGGER episodes_counted AFTER INSERT ON episodes BEGIN"
	"  UPDATE row_counts SET n = n + 1 WHERE name = 'episodes';"
	"END;"
	"CREATE TRIGGER episodes_uncounted AFTER DELETE ON episodes BEGIN"
	"  UPDATE row_counts SET n = n - 1 WHERE name = 'episodes';"
	"END;",

	/* 4: nothing. PostgreSQL's migration 4 makes the outbox that carries
	 * large download events between replicas; SQLite delivers its events in
	 * the process that commits them and needs no carrier. The number is
	 * taken all the same, so that a schema version means the same tables on
	 * both backends (a tool that copies a database from one to the other
	 * compares versions). */
	"",

	/* 5: safe retries and concurrency control. request_ids holds the answer
	 * of every write given a request_id (AIP-155), written in the write's
	 * own transaction; `done` 0 is a claim whose write is under way. The
	 * version of each record counts its writes: its etag (AIP-154). */
	"CREATE TABLE request_ids ("
	"  request_id TEXT PRIMARY KEY,"
	"  method TEXT NOT NULL,"
	"  fingerprint BLOB NOT NULL," /* SHA-256 of the request, request_id left out */
	"  done INTEGER NOT NULL DEFAULT 0,"
	"  code INTEGER NOT NULL DEFAULT 0," /* 0 or the AW_E* code of the error */
	"  message TEXT NOT NULL DEFAULT '',"
	"  reply BLOB," /* the packed result when code is 0 */
	"  created_at INTEGER NOT NULL"
	") WITHOUT ROWID;"
	"CREATE INDEX request_ids_created ON request_ids(created_at);"
	"ALTER TABLE anime_series ADD COLUMN version INTEGER NOT NULL DEFAULT 1;"
	"ALTER TABLE episodes ADD COLUMN version INTEGER NOT NULL DEFAULT 1;"
	"ALTER TABLE download_queue ADD COLUMN version INTEGER NOT NULL DEFAULT 1;"
	"ALTER TABLE user_sessions ADD COLUMN version INTEGER NOT NULL DEFAULT 1;",

	/* 6: the download queue as download managers have it, and soft delete
	 * for series. Each queue item's provider (hoster) and language, and its
	 * place in the queue (queue_position, the enqueue time until MoveDownload
	 * moves it), which replaces created_at in the queue order. A deleted
	 * series keeps its row with delete_time and purge_time set; its episodes
	 * and queue items are marked hidden (so that lists and claims skip them
	 * through their indexes, hidden coming right after status), until it is
	 * undeleted or purged. Claims filtered by provider or language walk an
	 * index of their own, in queue order. The row counts of the unfiltered
	 * lists gain the numbers of deleted series and hidden episodes, which
	 * they leave out. */
	"ALTER TABLE anime_series ADD COLUMN delete_time INTEGER;"
	"ALTER TABLE anime_series ADD COLUMN purge_time INTEGER;"
	"CREATE INDEX anime_series_purge ON anime_series(purge_time) WHERE purge_time IS NOT NULL;"
	"ALTER TABLE episodes ADD COLUMN hidden INTEGER NOT NULL DEFAULT 0;"
	"ALTER TABLE download_queue ADD COLUMN provider TEXT NOT NULL DEFAULT '';"
	"ALTER TABLE download_queue ADD COLUMN language TEXT NOT NULL DEFAULT '';"
	"ALTER TABLE download_queue ADD COLUMN queue_position INTEGER NOT NULL DEFAULT 0;"
	"ALTER TABLE download_queue ADD COLUMN hidden INTEGER NOT NULL DEFAULT 0;"
	"UPDATE download_queue SET queue_position = created_at;"
	"DROP INDEX download_queue_series;"
	"CREATE INDEX download_queue_series"
	"  ON download_queue(series_id, priority DESC, queue_position, id);"
	"DROP INDEX download_queue_order;"
	"CREATE INDEX download_queue_order"
	"  ON download_queue(status, hidden, priority DESC, queue_position, id);"
	"CREATE INDEX download_queue_provider"
	"  ON download_queue(status, hidden, provider, priority DESC, queue_position, id);"
	"CREATE INDEX download_queue_language"
	"  ON download_queue(status, hidden, language, priority DESC, queue_position, id);"
	"INSERT INTO row_counts VALUES ('anime_series_deleted', 0), ('episodes_hidden', 0);"
	"CREATE TRIGGER anime_series_deleted_counted AFTER UPDATE OF delete_time ON anime_series"
	"  WHEN (OLD.delete_time IS NULL) <> (NEW.delete_time IS NULL) BEGIN"
	"  UPDATE row_counts SET n = n + (CASE WHEN NEW.delete_time IS NULL THEN -1 ELSE 1 END)"
	"   WHERE name = 'anime_series_deleted';"
	"END;"
	"CREATE TRIGGER anime_series_deleted_uncounted AFTER DELETE ON anime_series"
	"  WHEN OLD.delete_time IS NOT NULL BEGIN"
	"  UPDATE row_counts SET n = n - 1 WHERE name = 'anime_series_deleted';"
	"END;"
	"CREATE TRIGGER episodes_hidden_added AFTER INSERT ON episodes WHEN NEW.hidden <> 0 BEGIN"
	"  UPDATE row_counts SET n = n + 1 WHERE name = 'episodes_hidden';"
	"END;"
	"CREATE TRIGGER episodes_hidden_counted AFTER UPDATE OF hidden ON episodes"
	"  WHEN OLD.hidden <> NEW.hidden BEGIN"
	"  UPDATE row_counts SET n = n + NEW.hidden - OLD.hidden WHERE name = 'episodes_hidden';"
	"END;"
	"CREATE TRIGGER episodes_hidden_uncounted AFTER DELETE ON episodes WHEN OLD.hidden <> 0 BEGIN"
	"  UPDATE row_counts SET n = n - 1 WHERE name = 'episodes_hidden';"
	"END;",
};

#define N_MIGRATIONS ((int)(sizeof(migrations) / sizeof(migrations[0])))

int aw__sq_schema_version(void)
{
	return N_MIGRATIONS;
}

static int user_version(sqlite3 *db, int *out, aw_err *err)
{
	sqlite3_stmt *st;
	int rc = sqlite3_prepare_v2(db, "PRAGMA user_version", -1, &st, NULL);

	if (rc != SQLITE_OK)
		return aw__sq_error(db, rc, "reading the schema version", err);
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW)
		*out = sqlite3_column_int(st, 0);
	sqlite3_finalize(st);
	if (rc != SQLITE_ROW)
		return aw__sq_error(db, rc, "reading the schema version", err);
	return 0;
}

int aw__sq_schema_read(sqlite3 *db, int *version, aw_err *err)
{
	*version = 0;
	return user_version(db, version, err);
}

static int exec(sqlite3 *db, const char *sql, const char *what, aw_err *err)
{
	char *msg = NULL;
	int rc = sqlite3_exec(db, sql, NULL, NULL, &msg);

	sqlite3_free(msg);
	return rc == SQLITE_OK ? 0 : aw__sq_error(db, rc, what, err);
}

int aw__sq_migrate(sqlite3 *db, aw_err *err)
{
	int version = 0, rc;

	rc = user_version(db, &version, err);
	if (rc != 0)
		return rc;
	if (version > N_MIGRATIONS)
		return aw_err_set(err, AW_EVERSION,
				  "database schema version %d is newer than this server's %d: "
				  "upgrade the server, or restore a backup made for this version",
				  version, N_MIGRATIONS);
	while (version < N_MIGRATIONS) {
		char bump[64], what[64];

		snprintf(bump, sizeof(bump), "PRAGMA user_version = %d", version + 1);
		snprintf(what, sizeof(what), "migration %d", version + 1);
		rc = exec(db, "BEGIN IMMEDIATE", what, err);
		if (rc == 0) {
			/* Re-read inside the lock: another process may have migrated. */
			rc = user_version(db, &version, err);
			if (rc == 0 && version >= N_MIGRATIONS) {
				exec(db, "COMMIT", what, NULL);
				break;
			}
			if (rc == 0)
				snprintf(bump, sizeof(bump), "PRAGMA user_version = %d", version + 1);
			if (rc == 0)
				rc = exec(db, migrations[version], what, err);
			if (rc == 0)
				rc = exec(db, bump, what, err);
			if (rc == 0)
				rc = exec(db, "COMMIT", what, err);
			if (rc != 0) {
				exec(db, "ROLLBACK", what, NULL);
				return rc;
			}
			version++;
		} else {
			return rc;
		}
	}
	return 0;
}
