/*
 * powercut_vfs.h: a SQLite VFS for tests that can forget, the way a machine
 * does when its power is cut (issue 12).
 *
 * The VFS "powercut" wraps the default one ("unix"). Every write and truncate
 * of a database, WAL or journal file goes to the real file at once (so every
 * connection of the process sees it, as the operating system's cache would
 * show it), and is also remembered, with the bytes it replaced, until the
 * file is synced: xSync is where a write becomes durable, and all it does
 * here is forget what the file's pending writes replaced (the real file is
 * never fsync'ed: what survives the cut is decided by this file, not by the
 * disk). The files are known by their path, so a sync through one connection
 * covers the writes of every connection, as fsync covers an inode.
 *
 * A power cut is armed with powercut_arm(): after that many more writes,
 * truncates and syncs the power goes off. The write that reaches the count
 * still happens; a sync that reaches it does not (it fails, as do all I/O
 * calls after it), so cuts between a write and its sync are common. Once every
 * connection is closed, powercut_restore() puts each file back as the cut
 * leaves it: the unsynced changes are undone, and, depending on `keep`, some
 * of them re-applied (whole, by 512-byte sector, or torn at any byte), in the
 * order they were made. Then the power is on again and nothing is pending;
 * the files can be opened with the default VFS.
 *
 * Not simulated: a file created or deleted without a sync of its directory
 * (creation and deletion count as durable), and damage to bytes outside a
 * write's range (SQLite's unix VFS promises "powersafe overwrite").
 *
 * The state is process-wide; one test at a time uses it. Thread-safe: every
 * call takes one lock, which also serialises the files' I/O.
 */
#ifndef AW_TEST_POWERCUT_VFS_H
#define AW_TEST_POWERCUT_VFS_H

#include <stddef.h>
#include <stdint.h>

#define POWERCUT_VFS_NAME "powercut"

/* What a power cut keeps of the changes made since each file's last sync. */
/* What a power cut keeps of the changes made since each file's last sync; "p"
 * is powercut_restore's keep_pct. */
typedef enum powercut_keep {
	POWERCUT_DROP_ALL,     /* nothing */
	POWERCUT_KEEP_WRITES,  /* each write or truncate, whole, with probability p */
	POWERCUT_KEEP_SECTORS, /* each 512-byte sector a write covered, with probability p */
	POWERCUT_TORN,         /* each write kept whole with probability p, else torn after
				  a random byte or dropped (even odds) */
	POWERCUT_KEEP_MODES
} powercut_keep;

/* What powercut_restore() found and did, for messages. */
typedef struct powercut_stats {
	uint64_t pending;      /* unsynced writes and truncates at the cut */
	uint64_t pending_db;   /* of those, to database files (a checkpoint under way) */
	uint64_t kept;         /* re-applied whole */
	uint64_t partial;      /* re-applied in part */
} powercut_stats;

/* Registers the VFS (not as the default). Returns a SQLite result code. Safe to
 * call again. */
int powercut_vfs_register(void);

/* Unregisters it and frees what it remembers. */
void powercut_vfs_unregister(void);

/* The power goes off after `ops` more writes, truncates and syncs (ops >= 1). */
void powercut_arm(uint64_t ops);

/* Whether the power is off. */
int powercut_is_off(void);

/* For the check that the tests can fail: with `on`, xSync makes nothing durable
 * (the mutation of a server whose syncs do nothing). */
void powercut_set_sync_noop(int on);

/* Name of a keep mode, for messages. */
const char *powercut_keep_name(powercut_keep keep);

/*
 * After a cut (or with the power still on: then as a cut now), with every
 * connection to the files closed: undoes each file's unsynced changes, then
 * re-applies those `keep` keeps, each with probability keep_pct / 100,
 * choosing with the generator state *rng.
 * Then the power is on and nothing is pending. Returns 0, or -1 with a
 * message in msg (an I/O error on a real file).
 */
int powercut_restore(powercut_keep keep, unsigned keep_pct, uint64_t *rng, powercut_stats *stats, char *msg,
		     size_t msg_len);

/* The tests' random numbers (splitmix64): the next value of *state. */
uint64_t powercut_rand(uint64_t *state);

#endif /* AW_TEST_POWERCUT_VFS_H */
