/*
 * The power-cut VFS for tests (see powercut_vfs.h): a shim over the default
 * VFS that remembers the unsynced changes of each file and undoes them, in
 * whole or in part, when the power is cut.
 */
#define _GNU_SOURCE
#include "powercut_vfs.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <sqlite3.h>

#define SECTOR 512

/* One unsynced change of a file. */
typedef struct pc_op {
	struct pc_op *next;
	int truncate;            /* 1: a truncate to `off`; 0: a write at `off` */
	sqlite3_int64 off;
	int len;                 /* bytes written */
	unsigned char *data;     /* what was written (len bytes) */
	sqlite3_int64 old_size;  /* the file's size before */
	unsigned char *old;      /* the bytes it replaced: [off, min(off + len, old_size))
				    of a write, [off, old_size) of a truncate */
	sqlite3_int64 old_len;
} pc_op;

/* A file, by path, shared by every handle open on it. */
typedef struct pc_node {
	struct pc_node *next;
	char *path;
	int is_db;               /* a main database file (else a WAL or journal) */
	pc_op *head, *tail;      /* unsynced changes, oldest first */
} pc_node;

typedef struct pc_file {
	sqlite3_file base;
	pc_node *node;           /* NULL: not tracked (temporary files) */
	sqlite3_file *real;      /* the default VFS's file, allocated after this struct */
} pc_file;

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static sqlite3_vfs *real_vfs;
static sqlite3_vfs pc_vfs;
static int registered;
static pc_node *nodes;
static int power_off;
static uint64_t countdown;   /* I/O calls until the cut; 0: not armed */
static int sync_noop;

uint64_t powercut_rand(uint64_t *state)
{
	uint64_t z = (*state += 0x9E3779B97F4A7C15ull);

	z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
	z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
	return z ^ (z >> 31);
}

static void ops_free(pc_node *n)
{
	pc_op *o = n->head;

	while (o != NULL) {
		pc_op *next = o->next;
		free(o->data);
		free(o->old);
		free(o);
		o = next;
	}
	n->head = n->tail = NULL;
}

static pc_node *node_get(const char *path, int is_db)
{
	pc_node *n;

	for (n = nodes; n != NULL; n = n->next) {
		if (strcmp(n->path, path) == 0)
			return n;
	}
	n = calloc(1, sizeof(*n));
	if (n == NULL)
		return NULL;
	n->path = strdup(path);
	if (n->path == NULL) {
		free(n);
		return NULL;
	}
	n->is_db = is_db;
	n->next = nodes;
	nodes = n;
	return n;
}

/* Counts one I/O call; returns 1 when the power is (now) off. With mu held. */
static int tick(void)
{
	if (power_off)
		return 1;
	if (countdown > 0 && --countdown == 0)
		power_off = 1;
	return 0;
}

/* ---- the file methods ---------------------------------------------------------- */

static int pc_close(sqlite3_file *f)
{
	pc_file *p = (pc_file *)f;
	int rc = p->real->pMethods != NULL ? p->real->pMethods->xClose(p->real) : SQLITE_OK;

	return rc;
}

static int pc_read(sqlite3_file *f, void *buf, int amt, sqlite3_int64 off)
{
	pc_file *p = (pc_file *)f;
	int rc;

	pthread_mutex_lock(&mu);
	rc = p->real->pMethods->xRead(p->real, buf, amt, off);
	pthread_mutex_unlock(&mu);
	return rc;
}

/* Reads [off, off + len) of the real file into a new buffer; with mu held. */
static int read_old(pc_file *p, sqlite3_int64 off, sqlite3_int64 len, unsigned char **out)
{
	*out = NULL;
	if (len <= 0)
		return SQLITE_OK;
	*out = malloc((size_t)len);
	if (*out == NULL)
		return SQLITE_NOMEM;
	return p->real->pMethods->xRead(p->real, *out, (int)len, off);
}

static int pc_write(sqlite3_file *f, const void *buf, int amt, sqlite3_int64 off)
{
	pc_file *p = (pc_file *)f;
	sqlite3_int64 size = 0;
	pc_op *o = NULL;
	int rc;

	pthread_mutex_lock(&mu);
	if (p->node == NULL) {
		rc = p->real->pMethods->xWrite(p->real, buf, amt, off);
		goto out;
	}
	if (power_off) {
		rc = SQLITE_IOERR_WRITE;
		goto out;
	}
	rc = p->real->pMethods->xFileSize(p->real, &size);
	if (rc != SQLITE_OK)
		goto out;
	o = calloc(1, sizeof(*o));
	if (o == NULL) {
		rc = SQLITE_NOMEM;
		goto out;
	}
	o->off = off;
	o->len = amt;
	o->old_size = size;
	o->old_len = off >= size ? 0 : (off + amt <= size ? amt : size - off);
	o->data = malloc((size_t)amt);
	if (o->data == NULL) {
		rc = SQLITE_NOMEM;
		goto out;
	}
	memcpy(o->data, buf, (size_t)amt);
	rc = read_old(p, off, o->old_len, &o->old);
	if (rc == SQLITE_OK)
		rc = p->real->pMethods->xWrite(p->real, buf, amt, off);
	if (rc != SQLITE_OK)
		goto out;
	if (p->node->tail != NULL)
		p->node->tail->next = o;
	else
		p->node->head = o;
	p->node->tail = o;
	o = NULL;
	tick();
out:
	if (o != NULL) {
		free(o->data);
		free(o->old);
		free(o);
	}
	pthread_mutex_unlock(&mu);
	return rc;
}

static int pc_truncate(sqlite3_file *f, sqlite3_int64 size)
{
	pc_file *p = (pc_file *)f;
	sqlite3_int64 old_size = 0;
	pc_op *o = NULL;
	int rc;

	pthread_mutex_lock(&mu);
	if (p->node == NULL) {
		rc = p->real->pMethods->xTruncate(p->real, size);
		goto out;
	}
	if (power_off) {
		rc = SQLITE_IOERR_TRUNCATE;
		goto out;
	}
	rc = p->real->pMethods->xFileSize(p->real, &old_size);
	if (rc != SQLITE_OK)
		goto out;
	o = calloc(1, sizeof(*o));
	if (o == NULL) {
		rc = SQLITE_NOMEM;
		goto out;
	}
	o->truncate = 1;
	o->off = size;
	o->old_size = old_size;
	o->old_len = old_size > size ? old_size - size : 0;
	rc = read_old(p, size, o->old_len, &o->old);
	if (rc == SQLITE_OK)
		rc = p->real->pMethods->xTruncate(p->real, size);
	if (rc != SQLITE_OK)
		goto out;
	if (p->node->tail != NULL)
		p->node->tail->next = o;
	else
		p->node->head = o;
	p->node->tail = o;
	o = NULL;
	tick();
out:
	if (o != NULL) {
		free(o->old);
		free(o);
	}
	pthread_mutex_unlock(&mu);
	return rc;
}

/* A sync makes the file's changes durable: nothing of them is undone at a cut.
 * The real file is not synced (the simulation decides what survives). */
static int pc_sync(sqlite3_file *f, int flags)
{
	pc_file *p = (pc_file *)f;
	int rc = SQLITE_OK;

	(void)flags;
	pthread_mutex_lock(&mu);
	if (p->node != NULL) {
		if (tick())
			rc = SQLITE_IOERR_FSYNC;
		else if (!sync_noop)
			ops_free(p->node);
	}
	pthread_mutex_unlock(&mu);
	return rc;
}

static int pc_file_size(sqlite3_file *f, sqlite3_int64 *size)
{
	pc_file *p = (pc_file *)f;
	int rc;

	pthread_mutex_lock(&mu);
	rc = p->real->pMethods->xFileSize(p->real, size);
	pthread_mutex_unlock(&mu);
	return rc;
}

static int pc_lock(sqlite3_file *f, int level)
{
	pc_file *p = (pc_file *)f;
	return p->real->pMethods->xLock(p->real, level);
}

static int pc_unlock(sqlite3_file *f, int level)
{
	pc_file *p = (pc_file *)f;
	return p->real->pMethods->xUnlock(p->real, level);
}

static int pc_check_reserved(sqlite3_file *f, int *out)
{
	pc_file *p = (pc_file *)f;
	return p->real->pMethods->xCheckReservedLock(p->real, out);
}

static int pc_file_control(sqlite3_file *f, int op, void *arg)
{
	pc_file *p = (pc_file *)f;

	/* Memory-mapped I/O would read around us; keep it off. */
	if (op == SQLITE_FCNTL_MMAP_SIZE) {
		*(sqlite3_int64 *)arg = 0;
		return SQLITE_OK;
	}
	return p->real->pMethods->xFileControl(p->real, op, arg);
}

static int pc_sector_size(sqlite3_file *f)
{
	pc_file *p = (pc_file *)f;
	return p->real->pMethods->xSectorSize(p->real);
}

static int pc_device_characteristics(sqlite3_file *f)
{
	pc_file *p = (pc_file *)f;
	return p->real->pMethods->xDeviceCharacteristics(p->real);
}

/* The wal-index (-shm) is shared memory, rebuilt from the WAL when the first
 * connection opens the database again: passed through. */
static int pc_shm_map(sqlite3_file *f, int pg, int pgsz, int extend, void volatile **pp)
{
	pc_file *p = (pc_file *)f;
	return p->real->pMethods->xShmMap(p->real, pg, pgsz, extend, pp);
}

static int pc_shm_lock(sqlite3_file *f, int offset, int n, int flags)
{
	pc_file *p = (pc_file *)f;
	return p->real->pMethods->xShmLock(p->real, offset, n, flags);
}

static void pc_shm_barrier(sqlite3_file *f)
{
	pc_file *p = (pc_file *)f;
	p->real->pMethods->xShmBarrier(p->real);
}

static int pc_shm_unmap(sqlite3_file *f, int delete_flag)
{
	pc_file *p = (pc_file *)f;
	return p->real->pMethods->xShmUnmap(p->real, delete_flag);
}

static int pc_fetch(sqlite3_file *f, sqlite3_int64 off, int amt, void **pp)
{
	(void)f;
	(void)off;
	(void)amt;
	*pp = NULL; /* no mapping: SQLite reads with xRead */
	return SQLITE_OK;
}

static int pc_unfetch(sqlite3_file *f, sqlite3_int64 off, void *p)
{
	(void)f;
	(void)off;
	(void)p;
	return SQLITE_OK;
}

static const sqlite3_io_methods pc_methods = {
	.iVersion = 3,
	.xClose = pc_close,
	.xRead = pc_read,
	.xWrite = pc_write,
	.xTruncate = pc_truncate,
	.xSync = pc_sync,
	.xFileSize = pc_file_size,
	.xLock = pc_lock,
	.xUnlock = pc_unlock,
	.xCheckReservedLock = pc_check_reserved,
	.xFileControl = pc_file_control,
	.xSectorSize = pc_sector_size,
	.xDeviceCharacteristics = pc_device_characteristics,
	.xShmMap = pc_shm_map,
	.xShmLock = pc_shm_lock,
	.xShmBarrier = pc_shm_barrier,
	.xShmUnmap = pc_shm_unmap,
	.xFetch = pc_fetch,
	.xUnfetch = pc_unfetch,
};

/* ---- the VFS ------------------------------------------------------------------------ */

static int pc_open(sqlite3_vfs *vfs, sqlite3_filename name, sqlite3_file *f, int flags,
		   int *out_flags)
{
	pc_file *p = (pc_file *)f;
	int tracked = name != NULL &&
		      (flags & (SQLITE_OPEN_MAIN_DB | SQLITE_OPEN_WAL | SQLITE_OPEN_MAIN_JOURNAL)) != 0;
	int rc;

	(void)vfs;
	memset(p, 0, sizeof(*p));
	p->real = (sqlite3_file *)(p + 1);
	rc = real_vfs->xOpen(real_vfs, name, p->real, flags, out_flags);
	if (rc != SQLITE_OK) {
		p->base.pMethods = NULL;
		return rc;
	}
	if (tracked) {
		pthread_mutex_lock(&mu);
		p->node = node_get(name, (flags & SQLITE_OPEN_MAIN_DB) != 0);
		pthread_mutex_unlock(&mu);
		if (p->node == NULL) {
			p->real->pMethods->xClose(p->real);
			p->base.pMethods = NULL;
			return SQLITE_NOMEM;
		}
	}
	p->base.pMethods = &pc_methods;
	return SQLITE_OK;
}

/* A deletion counts as durable (see the header); with the power off it fails. */
static int pc_delete(sqlite3_vfs *vfs, const char *name, int sync_dir)
{
	int rc;

	(void)vfs;
	pthread_mutex_lock(&mu);
	if (power_off) {
		pthread_mutex_unlock(&mu);
		return SQLITE_IOERR_DELETE;
	}
	rc = real_vfs->xDelete(real_vfs, name, sync_dir);
	for (pc_node *n = nodes; rc == SQLITE_OK && n != NULL; n = n->next) {
		if (strcmp(n->path, name) == 0)
			ops_free(n);
	}
	pthread_mutex_unlock(&mu);
	return rc;
}

static int pc_access(sqlite3_vfs *vfs, const char *name, int flags, int *out)
{
	(void)vfs;
	return real_vfs->xAccess(real_vfs, name, flags, out);
}

static int pc_full_pathname(sqlite3_vfs *vfs, const char *name, int n, char *out)
{
	(void)vfs;
	return real_vfs->xFullPathname(real_vfs, name, n, out);
}

static void *pc_dlopen(sqlite3_vfs *vfs, const char *name)
{
	(void)vfs;
	return real_vfs->xDlOpen(real_vfs, name);
}

static void pc_dlerror(sqlite3_vfs *vfs, int n, char *out)
{
	(void)vfs;
	real_vfs->xDlError(real_vfs, n, out);
}

static void (*pc_dlsym(sqlite3_vfs *vfs, void *h, const char *sym))(void)
{
	(void)vfs;
	return real_vfs->xDlSym(real_vfs, h, sym);
}

static void pc_dlclose(sqlite3_vfs *vfs, void *h)
{
	(void)vfs;
	real_vfs->xDlClose(real_vfs, h);
}

static int pc_randomness(sqlite3_vfs *vfs, int n, char *out)
{
	(void)vfs;
	return real_vfs->xRandomness(real_vfs, n, out);
}

static int pc_sleep(sqlite3_vfs *vfs, int us)
{
	(void)vfs;
	return real_vfs->xSleep(real_vfs, us);
}

static int pc_current_time(sqlite3_vfs *vfs, double *out)
{
	(void)vfs;
	return real_vfs->xCurrentTime(real_vfs, out);
}

static int pc_last_error(sqlite3_vfs *vfs, int n, char *out)
{
	(void)vfs;
	return real_vfs->xGetLastError(real_vfs, n, out);
}

static int pc_current_time_int64(sqlite3_vfs *vfs, sqlite3_int64 *out)
{
	(void)vfs;
	return real_vfs->xCurrentTimeInt64(real_vfs, out);
}

int powercut_vfs_register(void)
{
	int rc;

	if (registered)
		return SQLITE_OK;
	real_vfs = sqlite3_vfs_find(NULL);
	if (real_vfs == NULL)
		return SQLITE_ERROR;
	pc_vfs = (sqlite3_vfs){
		.iVersion = 2,
		.szOsFile = (int)sizeof(pc_file) + real_vfs->szOsFile,
		.mxPathname = real_vfs->mxPathname,
		.zName = POWERCUT_VFS_NAME,
		.xOpen = pc_open,
		.xDelete = pc_delete,
		.xAccess = pc_access,
		.xFullPathname = pc_full_pathname,
		.xDlOpen = pc_dlopen,
		.xDlError = pc_dlerror,
		.xDlSym = pc_dlsym,
		.xDlClose = pc_dlclose,
		.xRandomness = pc_randomness,
		.xSleep = pc_sleep,
		.xCurrentTime = pc_current_time,
		.xGetLastError = pc_last_error,
		.xCurrentTimeInt64 = pc_current_time_int64,
	};
	rc = sqlite3_vfs_register(&pc_vfs, 0);
	if (rc == SQLITE_OK)
		registered = 1;
	return rc;
}

void powercut_vfs_unregister(void)
{
	pthread_mutex_lock(&mu);
	if (registered)
		sqlite3_vfs_unregister(&pc_vfs);
	registered = 0;
	while (nodes != NULL) {
		pc_node *n = nodes;
		nodes = n->next;
		ops_free(n);
		free(n->path);
		free(n);
	}
	power_off = 0;
	countdown = 0;
	sync_noop = 0;
	pthread_mutex_unlock(&mu);
}

void powercut_arm(uint64_t ops)
{
	pthread_mutex_lock(&mu);
	countdown = ops > 0 ? ops : 1;
	pthread_mutex_unlock(&mu);
}

int powercut_is_off(void)
{
	int off;

	pthread_mutex_lock(&mu);
	off = power_off;
	pthread_mutex_unlock(&mu);
	return off;
}

void powercut_set_sync_noop(int on)
{
	pthread_mutex_lock(&mu);
	sync_noop = on;
	pthread_mutex_unlock(&mu);
}

const char *powercut_keep_name(powercut_keep keep)
{
	switch (keep) {
	case POWERCUT_DROP_ALL:
		return "drop-all";
	case POWERCUT_KEEP_WRITES:
		return "keep-writes";
	case POWERCUT_KEEP_SECTORS:
		return "keep-sectors";
	case POWERCUT_TORN:
		return "torn";
	default:
		return "?";
	}
}

/* ---- the cut ---------------------------------------------------------------------- */

static int put(int fd, const void *buf, sqlite3_int64 len, sqlite3_int64 off)
{
	const unsigned char *b = buf;

	while (len > 0) {
		ssize_t n = pwrite(fd, b, (size_t)len, (off_t)off);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		b += n;
		len -= n;
		off += n;
	}
	return 0;
}

/* Re-applies bytes [from, to) of write `o`: the file grows to hold them. */
static int put_piece(int fd, const pc_op *o, int from, int to)
{
	return to > from ? put(fd, o->data + from, to - from, o->off + from) : 0;
}

/* Undoes every change of `n` (newest first), then re-applies what `keep`
 * keeps, in order. */
static int restore_node(pc_node *n, powercut_keep keep, unsigned pct, uint64_t *rng,
			powercut_stats *st, char *msg, size_t msg_len)
{
	size_t count = 0, i = 0;
	pc_op **ops;
	int fd, rc = 0;

	for (pc_op *o = n->head; o != NULL; o = o->next)
		count++;
	if (count == 0)
		return 0;
	st->pending += count;
	if (n->is_db)
		st->pending_db += count;
	ops = calloc(count, sizeof(*ops));
	fd = open(n->path, O_RDWR | O_CLOEXEC);
	if (ops == NULL || fd < 0) {
		snprintf(msg, msg_len, "restoring %s: %s", n->path, strerror(errno));
		free(ops);
		if (fd >= 0)
			close(fd);
		return -1;
	}
	for (pc_op *o = n->head; o != NULL; o = o->next)
		ops[i++] = o;
	for (i = count; rc == 0 && i-- > 0;) {
		const pc_op *o = ops[i];
		if (o->truncate) {
			rc = ftruncate(fd, (off_t)o->old_size);
			if (rc == 0)
				rc = put(fd, o->old, o->old_len, o->off);
		} else {
			rc = put(fd, o->old, o->old_len, o->off);
			if (rc == 0)
				rc = ftruncate(fd, (off_t)o->old_size);
		}
	}
	for (i = 0; rc == 0 && i < count; i++) {
		const pc_op *o = ops[i];
		uint64_t r = powercut_rand(rng);
		int take = r % 100 < pct;

		if (keep == POWERCUT_DROP_ALL)
			break;
		if (o->truncate) {
			if (take) {
				rc = ftruncate(fd, (off_t)o->off);
				st->kept++;
			}
			continue;
		}
		switch (keep) {
		case POWERCUT_KEEP_WRITES:
			if (take) {
				rc = put_piece(fd, o, 0, o->len);
				st->kept++;
			}
			break;
		case POWERCUT_KEEP_SECTORS: {
			/* The write's bytes, cut at absolute 512-byte boundaries. */
			int from = 0, any = 0, all = 1;
			while (rc == 0 && from < o->len) {
				sqlite3_int64 at = o->off + from;
				int to = (int)((at / SECTOR + 1) * SECTOR - o->off);
				if (to > o->len)
					to = o->len;
				if (powercut_rand(rng) % 100 < pct) {
					rc = put_piece(fd, o, from, to);
					any = 1;
				} else {
					all = 0;
				}
				from = to;
			}
			if (any)
				all ? st->kept++ : st->partial++;
			break;
		}
		case POWERCUT_TORN:
			if (take) {
				rc = put_piece(fd, o, 0, o->len);
				st->kept++;
			} else if ((r >> 32) % 2 == 0 && o->len > 1) {
				rc = put_piece(fd, o, 0, 1 + (int)(powercut_rand(rng) % (uint64_t)(o->len - 1)));
				st->partial++;
			}
			break;
		default:
			break;
		}
	}
	if (rc != 0)
		snprintf(msg, msg_len, "restoring %s: %s", n->path, strerror(errno));
	close(fd);
	free(ops);
	return rc;
}

int powercut_restore(powercut_keep keep, unsigned keep_pct, uint64_t *rng,
		     powercut_stats *stats, char *msg, size_t msg_len)
{
	int rc = 0;

	memset(stats, 0, sizeof(*stats));
	pthread_mutex_lock(&mu);
	for (pc_node *n = nodes; n != NULL; n = n->next) {
		if (rc == 0)
			rc = restore_node(n, keep, keep_pct, rng, stats, msg, msg_len);
		ops_free(n);
	}
	power_off = 0;
	countdown = 0;
	pthread_mutex_unlock(&mu);
	return rc;
}
