/*
 * utf8.h: proto3's rule that string fields hold UTF-8, which protobuf-c's
 * unpacker does not enforce. Other gRPC implementations refuse such messages on
 * parse; the transport does the same before any stub sees the request, so
 * nothing invalid is ever stored and handed to a strict client later.
 */
#ifndef AW_UTF8_H
#define AW_UTF8_H

#include <stddef.h>

#include <protobuf-c/protobuf-c.h>

/* Whether the `len` bytes at `s` are well-formed UTF-8 (no overlongs, no
 * surrogates, nothing above U+10FFFF). */
int aw__utf8_valid(const char *s, size_t len);

/*
 * Checks every string field of `msg` and of the messages it contains. Returns 0
 * when all are UTF-8; otherwise -1 with the offending field's path written to
 * `field` ("series.name", "episode_dict.value.x") as far as `size` allows.
 */
int aw__pb_check_utf8(const ProtobufCMessage *msg, char *field, size_t size);

#endif /* AW_UTF8_H */
