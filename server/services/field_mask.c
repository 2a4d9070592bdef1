#include "field_mask.h"

#include <stdio.h>
#include <string.h>

#include "reply.h"

int aw__field_mask_bits(aw_call *call, const Google__Protobuf__FieldMask *mask,
			const aw_mask_field *fields, size_t n, const char *const *output_only,
			uint64_t *bits)
{
	char field[48], esc[AW_ESCAPE_BUF];
	uint64_t all = 0;
	int rc = 0;

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
			if (strcmp(*o, path) == 0) {
				snprintf(field, sizeof(field), "update_mask.paths[%zu]", p);
				rc = aw__violation(call, field, "%s: \"%s\" is output only", field,
						   aw_escape(esc, sizeof(esc), path));
				found = 1;
			}
		}
		if (!found) {
			snprintf(field, sizeof(field), "update_mask.paths[%zu]", p);
			rc = aw__violation(call, field, "%s: unknown or immutable field \"%s\"", field,
					   aw_escape(esc, sizeof(esc), path));
		}
	}
	return rc;
}
