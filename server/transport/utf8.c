#include "utf8.h"

#include <stdint.h>
#include <stdio.h>
#include <string.h>

int aw__utf8_valid(const char *str, size_t len)
{
	const unsigned char *s = (const unsigned char *)str;
	size_t i = 0;

	while (i < len) {
		unsigned char c = s[i];
		uint32_t cp;
		size_t n;

		if (c < 0x80) {
			i++;
			continue;
		} else if ((c & 0xE0) == 0xC0) {
			n = 1;
			cp = c & 0x1F;
		} else if ((c & 0xF0) == 0xE0) {
			n = 2;
			cp = c & 0x0F;
		} else if ((c & 0xF8) == 0xF0) {
			n = 3;
			cp = c & 0x07;
		} else {
			return 0;
		}
		if (len - i <= n)
			return 0;
		for (size_t k = 1; k <= n; k++) {
			if ((s[i + k] & 0xC0) != 0x80)
				return 0;
			cp = (cp << 6) | (s[i + k] & 0x3F);
		}
		if ((n == 1 && cp < 0x80) || (n == 2 && cp < 0x800) || (n == 3 && cp < 0x10000) ||
		    cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
			return 0;
		i += n + 1;
	}
	return 1;
}

static int check(const ProtobufCMessage *msg, char *field, size_t size, size_t at)
{
	const ProtobufCMessageDescriptor *d = msg->descriptor;

	for (unsigned f = 0; f < d->n_fields; f++) {
		const ProtobufCFieldDescriptor *fd = &d->fields[f];
		const char *base = (const char *)msg;
		int wrote;

		if (fd->type != PROTOBUF_C_TYPE_STRING && fd->type != PROTOBUF_C_TYPE_MESSAGE)
			continue;
		if ((fd->flags & PROTOBUF_C_FIELD_FLAG_ONEOF) &&
		    *(const uint32_t *)(base + fd->quantifier_offset) != fd->id)
			continue;
		wrote = snprintf(field + at, at < size ? size - at : 0, "%s%s", at > 0 ? "." : "",
				 fd->name);
		size_t next = at + (wrote > 0 ? (size_t)wrote : 0);
		if (next >= size)
			next = size - 1;

		if (fd->label == PROTOBUF_C_LABEL_REPEATED) {
			size_t count = *(const size_t *)(base + fd->quantifier_offset);
			void *const *arr = *(void *const *const *)(base + fd->offset);

			for (size_t i = 0; i < count; i++) {
				if (fd->type == PROTOBUF_C_TYPE_STRING) {
					const char *s = arr[i];
					if (!aw__utf8_valid(s, strlen(s)))
						return -1;
				} else if (check(arr[i], field, size, next) != 0) {
					return -1;
				}
			}
		} else if (fd->type == PROTOBUF_C_TYPE_STRING) {
			const char *s = *(const char *const *)(base + fd->offset);
			if (s != NULL && !aw__utf8_valid(s, strlen(s)))
				return -1;
		} else {
			const ProtobufCMessage *sub = *(const ProtobufCMessage *const *)(base + fd->offset);
			if (sub != NULL && check(sub, field, size, next) != 0)
				return -1;
		}
		field[at] = '\0';
	}
	return 0;
}

int aw__pb_check_utf8(const ProtobufCMessage *msg, char *field, size_t size)
{
	if (size == 0)
		return check(msg, (char[1]){0}, 1, 0);
	field[0] = '\0';
	return check(msg, field, size, 0);
}
