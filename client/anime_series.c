/*
 * aniworld.v1.AnimeSeriesService, one typed function per method.
 */
#include "client_int.h"

#define SERIES_SERVICE (&aniworld__v1__anime_series_service__descriptor)

int aw_client_series_create(aw_client *c, const Aniworld__V1__CreateSeriesRequest *req,
			    Aniworld__V1__AnimeSeries **out, aw_err *err,
		  const aw_call_opts *opts)
{
	return aw__client_unary(c, SERIES_SERVICE, "CreateSeries", &req->base,
				(ProtobufCMessage **)out, err, opts);
}

int aw_client_series_get(aw_client *c, const Aniworld__V1__GetSeriesRequest *req,
			 Aniworld__V1__AnimeSeries **out, aw_err *err,
		  const aw_call_opts *opts)
{
	return aw__client_unary(c, SERIES_SERVICE, "GetSeries", &req->base,
				(ProtobufCMessage **)out, err, opts);
}

int aw_client_series_get_by_key(aw_client *c, const Aniworld__V1__GetSeriesByKeyRequest *req,
				Aniworld__V1__AnimeSeries **out, aw_err *err,
		  const aw_call_opts *opts)
{
	return aw__client_unary(c, SERIES_SERVICE, "GetSeriesByKey", &req->base,
				(ProtobufCMessage **)out, err, opts);
}

int aw_client_series_list(aw_client *c, const Aniworld__V1__ListSeriesRequest *req,
			  Aniworld__V1__ListSeriesResponse **out, aw_err *err,
		  const aw_call_opts *opts)
{
	return aw__client_unary(c, SERIES_SERVICE, "ListSeries", &req->base,
				(ProtobufCMessage **)out, err, opts);
}

int aw_client_series_update(aw_client *c, const Aniworld__V1__UpdateSeriesRequest *req,
			    Aniworld__V1__AnimeSeries **out, aw_err *err,
		  const aw_call_opts *opts)
{
	return aw__client_unary(c, SERIES_SERVICE, "UpdateSeries", &req->base,
				(ProtobufCMessage **)out, err, opts);
}

int aw_client_series_delete(aw_client *c, const Aniworld__V1__DeleteSeriesRequest *req,
			    aw_err *err,
		  const aw_call_opts *opts)
{
	return aw__client_unary(c, SERIES_SERVICE, "DeleteSeries", (const ProtobufCMessage *)req, NULL, err, opts);
}

int aw_client_series_undelete(aw_client *c, const Aniworld__V1__UndeleteSeriesRequest *req,
			      Aniworld__V1__AnimeSeries **out, aw_err *err,
		  const aw_call_opts *opts)
{
	return aw__client_unary(c, SERIES_SERVICE, "UndeleteSeries", &req->base,
				(ProtobufCMessage **)out, err, opts);
}
