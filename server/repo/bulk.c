/*
 * The tables a backend describes for a bulk copy (bulk.h): building and
 * freeing them.
 */
#include "bulk.h"

#include <stdlib.h>
#include <string.h>

void aw_bulk_tables_free(aw_bulk_table *tables, size_t n)
{
	if (tables == NULL)
		return;
	for (size_t i = 0; i < n; i++) {
		aw_bulk_table *t = &tables[i];

		for (size_t c = 0; c < t->n_cols; c++) {
			free(t->cols[c].name);
			free(t->cols[c].type);
		}
		free(t->cols);
		for (size_t p = 0; p < t->n_parents; p++)
			free(t->parents[p]);
		free(t->parents);
		free(t->name);
	}
	free(tables);
}

const aw_bulk_column *aw_bulk_column_find(const aw_bulk_table *t, const char *name)
{
	for (size_t i = 0; i < t->n_cols; i++)
		if (strcmp(t->cols[i].name, name) == 0)
			return &t->cols[i];
	return NULL;
}

static int no_memory(aw_err *err)
{
	return aw_err_set(err, AW_ENOMEM, "out of memory describing the tables");
}

int aw__bulk_table_add(aw_bulk_table **tables, size_t *n, const char *name, aw_err *err)
{
	aw_bulk_table *ts = realloc(*tables, (*n + 1) * sizeof(*ts));

	if (ts == NULL)
		return no_memory(err);
	*tables = ts;
	memset(&ts[*n], 0, sizeof(ts[*n]));
	ts[*n].name = strdup(name);
	if (ts[*n].name == NULL)
		return no_memory(err);
	(*n)++;
	return 0;
}

int aw__bulk_column_add(aw_bulk_table *t, const char *name, aw_bulk_kind kind, const char *type,
			aw_err *err)
{
	aw_bulk_column *cs = realloc(t->cols, (t->n_cols + 1) * sizeof(*cs));

	if (cs == NULL)
		return no_memory(err);
	t->cols = cs;
	cs[t->n_cols].name = strdup(name);
	cs[t->n_cols].type = strdup(type);
	cs[t->n_cols].kind = kind;
	t->n_cols++;
	if (cs[t->n_cols - 1].name == NULL || cs[t->n_cols - 1].type == NULL)
		return no_memory(err);
	return 0;
}

int aw__bulk_parent_add(aw_bulk_table *t, const char *name, aw_err *err)
{
	char **ps = realloc(t->parents, (t->n_parents + 1) * sizeof(*ps));

	if (ps == NULL)
		return no_memory(err);
	t->parents = ps;
	ps[t->n_parents] = strdup(name);
	t->n_parents++;
	if (ps[t->n_parents - 1] == NULL)
		return no_memory(err);
	return 0;
}
