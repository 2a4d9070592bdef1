/*
 * episode_dict.h: the stored form of AnimeSeries.episode_dict, shared by every
 * backend (each keeps it as text in one column).
 *
 * The seed stored a series' season -> episode numbers map as JSON; so do we:
 * {"1":[1,2,3],"2":[1]}, seasons ascending, a repeated season merged (the last
 * one wins, as protobuf map semantics say).
 */
#ifndef AW_EPISODE_DICT_H
#define AW_EPISODE_DICT_H

#include <stddef.h>

#include <protobuf-c/protobuf-c.h>

#include "aniworld/error.h"
#include "aniworld/v1/anime_series.pb-c.h"

/* Encodes s->episode_dict. *json is malloc'd (NUL-terminated, *len bytes
 * before the NUL); the caller frees it. AW_ENOMEM. */
int aw__episode_dict_encode(const Aniworld__V1__AnimeSeries *s, char **json, size_t *len,
			    aw_err *err);

/* Parses such JSON into s->episode_dict (entries from `mem`). AW_ECORRUPT when
 * the stored text is not that shape. */
int aw__episode_dict_decode(const char *json, size_t len, ProtobufCAllocator *mem,
			    Aniworld__V1__AnimeSeries *s, aw_err *err);

#endif /* AW_EPISODE_DICT_H */
