/*
 * The storage backends, in the order aw_repo_open asks them whether a
 * location is theirs (the way SQLite keeps its list of VFSes). SQLite takes
 * every location, so it comes last. The only file that names a backend.
 */
#include "repo.h"

const aw_repo_backend *const aw__repo_backends[] = {
	&aw__postgres_backend,
	&aw__sqlite_backend,
	NULL,
};
