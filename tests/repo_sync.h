/*
 * repo_sync.h: waiting for repository outcomes in tests.
 *
 * The repository reports through callbacks (reads at once, writes from the
 * writer thread); tests want a value. A sync_req is an aw_repo_req whose
 * callback stores the outcome and wakes the waiter.
 */
#ifndef AW_TEST_REPO_SYNC_H
#define AW_TEST_REPO_SYNC_H

#include <pthread.h>
#include <string.h>

#include "repo/repo.h"

typedef struct sync_req {
	aw_repo_req req; /* first */
	pthread_mutex_t mu;
	pthread_cond_t cv;
	int done;
	int rc;
	aw_err err;
	ProtobufCMessage *result; /* system allocator: free with protobuf_c_message_free_unpacked */
} sync_req;

static void sync_done(aw_repo_req *req, int rc, const aw_err *err, ProtobufCMessage *result)
{
	sync_req *s = (sync_req *)req;

	pthread_mutex_lock(&s->mu);
	s->rc = rc;
	if (err != NULL)
		s->err = *err;
	s->result = result;
	s->done = 1;
	pthread_cond_signal(&s->cv);
	pthread_mutex_unlock(&s->mu);
}

static inline aw_repo_req *sync_init(sync_req *s)
{
	memset(s, 0, sizeof(*s));
	pthread_mutex_init(&s->mu, NULL);
	pthread_cond_init(&s->cv, NULL);
	s->req.done = sync_done;
	return &s->req;
}

/* Waits for the outcome; returns its code. The result stays in s->result. */
static inline int sync_wait(sync_req *s)
{
	pthread_mutex_lock(&s->mu);
	while (!s->done)
		pthread_cond_wait(&s->cv, &s->mu);
	pthread_mutex_unlock(&s->mu);
	pthread_mutex_destroy(&s->mu);
	pthread_cond_destroy(&s->cv);
	return s->rc;
}

#endif /* AW_TEST_REPO_SYNC_H */
