/*
 * field_mask.h: google.protobuf.FieldMask for update methods.
 *
 * Paths are the proto field names of the updated message. An absent or empty
 * mask means every mutable field. Unknown paths and output-only fields are
 * refused, naming the path, rather than ignored: a caller who misspells a
 * field should hear about it.
 */
#ifndef AW_FIELD_MASK_H
#define AW_FIELD_MASK_H

#include <stdint.h>

#include "../transport/call.h"
#include "google/protobuf/field_mask.pb-c.h"

/* One updatable field: its name and its bit in the repository's mask. */
typedef struct aw_mask_field {
	const char *name;
	uint64_t bit;
} aw_mask_field;

/*
 * Turns `mask` into bits. `fields` lists the mutable fields (n of them),
 * `output_only` the fields callers may not set (NULL-terminated). On success
 * returns 0 with *bits set; otherwise sets INVALID_ARGUMENT on `call` and
 * returns -1.
 */
int aw__field_mask_bits(aw_call *call, const Google__Protobuf__FieldMask *mask,
			const aw_mask_field *fields, size_t n, const char *const *output_only,
			uint64_t *bits);

#endif /* AW_FIELD_MASK_H */
