/*
 * aniworld.v1.EpisodeService, one typed function per method.
 */
#include "client_int.h"

#define EPISODE_SERVICE (&aniworld__v1__episode_service__descriptor)

int aw_client_episodes_create(aw_client *c, const Aniworld__V1__CreateEpisodeRequest *req,
			      Aniworld__V1__Episode **out, aw_err *err,
		  const aw_call_opts *opts)
{
	return aw__client_unary(c, EPISODE_SERVICE, "CreateEpisode", (const ProtobufCMessage *)req,
				(ProtobufCMessage **)out, err, opts);
}

int aw_client_episodes_batch_create(aw_client *c, const Aniworld__V1__BatchCreateEpisodesRequest *req,
				    Aniworld__V1__BatchCreateEpisodesResponse **out, aw_err *err,
		  const aw_call_opts *opts)
{
	return aw__client_unary(c, EPISODE_SERVICE, "BatchCreateEpisodes",
				(const ProtobufCMessage *)req, (ProtobufCMessage **)out, err, opts);
}

int aw_client_episodes_get(aw_client *c, const Aniworld__V1__GetEpisodeRequest *req,
			   Aniworld__V1__Episode **out, aw_err *err,
		  const aw_call_opts *opts)
{
	return aw__client_unary(c, EPISODE_SERVICE, "GetEpisode", (const ProtobufCMessage *)req,
				(ProtobufCMessage **)out, err, opts);
}

int aw_client_episodes_update(aw_client *c, const Aniworld__V1__UpdateEpisodeRequest *req,
			      Aniworld__V1__Episode **out, aw_err *err,
		  const aw_call_opts *opts)
{
	return aw__client_unary(c, EPISODE_SERVICE, "UpdateEpisode", (const ProtobufCMessage *)req,
				(ProtobufCMessage **)out, err, opts);
}

int aw_client_episodes_delete(aw_client *c, const Aniworld__V1__DeleteEpisodeRequest *req,
			      aw_err *err,
		  const aw_call_opts *opts)
{
	return aw__client_unary(c, EPISODE_SERVICE, "DeleteEpisode", (const ProtobufCMessage *)req,
				NULL, err, opts);
}

int aw_client_episodes_list(aw_client *c, const Aniworld__V1__ListEpisodesRequest *req,
			    Aniworld__V1__ListEpisodesResponse **out, aw_err *err,
		  const aw_call_opts *opts)
{
	return aw__client_unary(c, EPISODE_SERVICE, "ListEpisodes", (const ProtobufCMessage *)req,
				(ProtobufCMessage **)out, err, opts);
}

int aw_client_episodes_mark_downloaded(aw_client *c,
				       const Aniworld__V1__MarkEpisodeDownloadedRequest *req,
				       Aniworld__V1__Episode **out, aw_err *err,
		  const aw_call_opts *opts)
{
	return aw__client_unary(c, EPISODE_SERVICE, "MarkEpisodeDownloaded",
				(const ProtobufCMessage *)req, (ProtobufCMessage **)out, err, opts);
}
