#include "field_mask.h"

#include <string.h>

#include "reply.h"

int aw__field_mask_bits(aw_call *call, const Google__Protobuf__FieldMask *mask,
			const aw_mask_field *fields, size_t n, const char *const *output_only,
			uint64_t *bits)
{
	uint64_t all = 0;

	for (size_t i = 0; i < n; i++)
		all |= fields[i].bit;
	*bits = 0;
	if (mask == NULL || mask->n_paths == 0) {
		*bits = all;
		return 0;
	}
	for (size_t p = 0; p < mask->n_paths; p++) {
		const char *path = mask->paths[p];
		int found = 0;

		for (size_t i = 0; i < n && !found; i++) {
			if (strcmp(fields[i].name, path) == 0) {
				*bits |= fields[i].bit;
				found = 1;
			}
		}
		for (const char *const *o = output_only; !found && o != NULL && *o != NULL; o++) {
			if (strcmp(*o, path) == 0)
				return aw__invalid(call, "update_mask.paths[%zu]: \"%s\" is output only", p,
						   path);
		}
		if (!found)
			return aw__invalid(call, "update_mask.paths[%zu]: unknown or immutable field \"%s\"",
					   p, path);
	}
	return 0;
}
