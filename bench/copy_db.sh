#!/bin/bash
# bench/copy_db.sh: how fast `aniworld-server copy-db` moves a SQLite database
# of ROWS rows (default 100,000: 1,000 series, 60,000 episodes, 30,000 queue
# items, 9,000 sessions) into PostgreSQL and back, with a reference for each
# direction measured in the same run on the same data:
#   - forward: psql's \copy of the same rows, exported as CSV beforehand, into
#     a freshly migrated database (the floor: PostgreSQL's own loader, with no
#     reading, converting, checking or counting);
#   - back: sqlite3's .dump of the PostgreSQL-made copy piped into a new file.
#
#   bench/copy_db.sh [ROWS]
#
# A throwaway PostgreSQL 15 at its default durability (tests/pg/pg_fixture.sh),
# stopped and removed by the exit trap with the work directory. Needs a built
# tree (BUILD, default build/) and the sqlite3 and psql programs.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
BUILD=${BUILD:-$ROOT/build}
BIN=$BUILD/server/aniworld-server
ROWS=${1:-100000}
WORK=$(mktemp -d /tmp/aw-copydb-bench-XXXXXX)
chmod 755 "$WORK"

cleanup() {
	"$ROOT/tests/pg/pg_fixture.sh" stop "$WORK/pg" >/dev/null 2>&1 || true
	rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

now() { date +%s.%N; }
rate() { awk -v n="$1" -v a="$2" -v b="$3" 'BEGIN { printf "%.0f rows/s (%.2f s)", n / (b - a), b - a }'; }

"$ROOT/tests/pg/pg_fixture.sh" start "$WORK/pg" >/dev/null
PORT=$(cat "$WORK/pg/port")
PG="postgresql://aniworld@127.0.0.1:$PORT"
psql -q "$PG/postgres" -c "CREATE DATABASE fwd" -c "CREATE DATABASE ref"

# The source: the schema from the server, the rows from SQL.
SERIES=$((ROWS / 100))
"$BIN" --db "$WORK/src.db" --migrate-only --log-level warn
sqlite3 "$WORK/src.db" <<EOF
WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < $SERIES)
INSERT INTO anime_series (key, name, site, folder, description, status, total_episodes,
                          cover_url, episode_dict, created_at, updated_at)
SELECT 'series-' || i, 'Series number ' || i, 'aniworld.to', '/media/anime/' || i,
       'A description of series ' || i || ', long enough to look like one.', 'ongoing', 60,
       'https://example.invalid/' || i || '.jpg', '{"1":[1,2,3]}', 1700000000000000 + i,
       1700000000000000 + i FROM n;
WITH RECURSIVE n(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM n WHERE i < $SERIES * 60 - 1)
INSERT INTO episodes (series_id, season, episode_number, title, file_path, file_size,
                      is_downloaded, download_date, created_at, updated_at)
SELECT i / 60 + 1, 1, i % 60 + 1, 'Episode ' || (i % 60 + 1), '/media/anime/' || i || '.mkv',
       734003200, i % 2, CASE WHEN i % 2 = 1 THEN 1700000000000000 + i END,
       1700000000000000 + i, 1700000000000000 + i FROM n;
WITH RECURSIVE n(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM n WHERE i < $SERIES * 30 - 1)
INSERT INTO download_queue (series_id, season, episode_number, status, priority,
                            progress_percent, downloaded_bytes, total_bytes, download_speed,
                            error_message, download_url, file_destination, created_at,
                            updated_at)
SELECT i / 30 + 1, 1, i % 30 + 1, i % 6 + 1, i % 3 + 1, (i % 100) / 3.0, 1000 * i, 100000000,
       12345.678, '', 'https://example.invalid/ep/' || i, '/media/anime/' || i || '.mkv',
       1700000000000000 + i, 1700000000000000 + i FROM n;
WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < $SERIES * 9)
INSERT INTO user_sessions (session_id, token_hash, user_id, ip_address, user_agent, expires_at,
                           is_active, last_activity, created_at, updated_at)
SELECT printf('%032x', i), randomblob(32), 'user-' || (i % 100), '192.0.2.1', 'agent/1.0',
       1900000000000000, i % 2, 1700000000000000 + i, 1700000000000000 + i,
       1700000000000000 + i FROM n;
EOF
TOTAL=$(sqlite3 "$WORK/src.db" "SELECT (SELECT COUNT(*) FROM anime_series) + (SELECT COUNT(*) FROM episodes)
  + (SELECT COUNT(*) FROM download_queue) + (SELECT COUNT(*) FROM user_sessions)")
echo "source: $TOTAL rows in $(du -h "$WORK/src.db" | cut -f1)"

# Forward, then its reference.
a=$(now)
"$BIN" copy-db --from "$WORK/src.db" --to "$PG/fwd" 2>"$WORK/fwd.log"
b=$(now)
echo "copy-db SQLite -> PostgreSQL: $(rate "$TOTAL" "$a" "$b")"
sed 's/^/  /' "$WORK/fwd.log"

"$BIN" --db "$PG/ref" --migrate-only --log-level warn
for t in anime_series episodes download_queue user_sessions; do
	cols=$(sqlite3 "$WORK/src.db" "SELECT group_concat(name, ',') FROM pragma_table_info('$t')")
	sel=$(sqlite3 "$WORK/src.db" "SELECT group_concat(CASE WHEN type = 'BLOB' THEN '''\\x'' || hex(' || name || ')' ELSE name END, ',') FROM pragma_table_info('$t')")
	sqlite3 -csv "$WORK/src.db" "SELECT $sel FROM $t ORDER BY id" >"$WORK/$t.csv"
	echo "\\copy $t ($cols) FROM '$WORK/$t.csv' WITH (FORMAT csv)" >>"$WORK/ref.sql"
done
a=$(now)
psql -q -v ON_ERROR_STOP=1 "$PG/ref" -1 -f "$WORK/ref.sql"
b=$(now)
echo "reference, psql \\copy of the same rows as CSV in one transaction: $(rate "$TOTAL" "$a" "$b")"

# Back, then its reference.
a=$(now)
"$BIN" copy-db --from "$PG/fwd" --to "$WORK/back.db" 2>"$WORK/back.log"
b=$(now)
echo "copy-db PostgreSQL -> SQLite: $(rate "$TOTAL" "$a" "$b")"
sed 's/^/  /' "$WORK/back.log"
a=$(now)
sqlite3 "$WORK/back.db" .dump | sqlite3 "$WORK/ref.db"
b=$(now)
echo "reference, sqlite3 .dump piped into a new file: $(rate "$TOTAL" "$a" "$b")"
echo "load average: $(cut -d' ' -f1-3 /proc/loadavg)"
