/*
 * The descriptor pool: an index over a FileDescriptorSet.
 *
 * Symbols are kept in one array sorted by name and searched with bsearch; the
 * set holds a few dozen files, so building costs well under a millisecond.
 */
#include "descriptors.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "google/protobuf/descriptor.pb-c.h"

typedef struct symbol {
	char *name;          /* fully qualified, no leading dot */
	size_t file;         /* index into pool->files */
	aw_symbol_kind kind;
	int client_streaming; /* methods only */
	int server_streaming; /* methods only */
} symbol;

typedef struct file_entry {
	const char *name;    /* borrowed from `set` */
	uint8_t *bytes;      /* the file re-serialized */
	size_t len;
	size_t *deps;        /* indexes of direct imports */
	size_t n_deps;
} file_entry;

struct aw_descpool {
	Google__Protobuf__FileDescriptorSet *set;
	file_entry *files;
	size_t n_files;
	symbol *symbols;
	size_t n_symbols;
	size_t cap_symbols;
};

void aw_descpool_free(aw_descpool *pool)
{
	if (pool == NULL)
		return;
	for (size_t i = 0; i < pool->n_symbols; i++)
		free(pool->symbols[i].name);
	free(pool->symbols);
	for (size_t i = 0; i < pool->n_files; i++) {
		free(pool->files[i].bytes);
		free(pool->files[i].deps);
	}
	free(pool->files);
	google__protobuf__file_descriptor_set__free_unpacked(pool->set, NULL);
	free(pool);
}

/* Adds `scope`.`name` (or just `name` when scope is empty). */
static int add_symbol(aw_descpool *pool, const char *scope, const char *name, size_t file,
		      aw_symbol_kind kind, char **full_out)
{
	size_t len;
	char *full;

	if (pool->n_symbols == pool->cap_symbols) {
		size_t cap = pool->cap_symbols ? pool->cap_symbols * 2 : 256;
		symbol *s = realloc(pool->symbols, cap * sizeof(*s));
		if (s == NULL)
			return AW_ENOMEM;
		pool->symbols = s;
		pool->cap_symbols = cap;
	}
	len = strlen(scope) + 1 + strlen(name) + 1;
	full = malloc(len);
	if (full == NULL)
		return AW_ENOMEM;
	if (scope[0] != '\0')
		snprintf(full, len, "%s.%s", scope, name);
	else
		snprintf(full, len, "%s", name);
	pool->symbols[pool->n_symbols++] = (symbol){
		.name = full, .file = file, .kind = kind,
	};
	if (full_out != NULL)
		*full_out = full;
	return 0;
}

static int add_enum(aw_descpool *pool, const char *scope,
		    const Google__Protobuf__EnumDescriptorProto *e, size_t file)
{
	int rc = add_symbol(pool, scope, e->name, file, AW_SYMBOL_ENUM, NULL);

	/* Enum values live in the enum's enclosing scope, as in C++. */
	for (size_t i = 0; rc == 0 && i < e->n_value; i++)
		rc = add_symbol(pool, scope, e->value[i]->name, file, AW_SYMBOL_ENUM_VALUE, NULL);
	return rc;
}

static int add_message(aw_descpool *pool, const char *scope,
		       const Google__Protobuf__DescriptorProto *m, size_t file)
{
	char *full;
	int rc = add_symbol(pool, scope, m->name, file, AW_SYMBOL_MESSAGE, &full);

	for (size_t i = 0; rc == 0 && i < m->n_field; i++)
		rc = add_symbol(pool, full, m->field[i]->name, file, AW_SYMBOL_FIELD, NULL);
	for (size_t i = 0; rc == 0 && i < m->n_nested_type; i++)
		rc = add_message(pool, full, m->nested_type[i], file);
	for (size_t i = 0; rc == 0 && i < m->n_enum_type; i++)
		rc = add_enum(pool, full, m->enum_type[i], file);
	return rc;
}

static int add_file(aw_descpool *pool, const Google__Protobuf__FileDescriptorProto *f,
		    size_t file)
{
	const char *pkg = f->package != NULL ? f->package : "";
	int rc = 0;

	for (size_t i = 0; rc == 0 && i < f->n_message_type; i++)
		rc = add_message(pool, pkg, f->message_type[i], file);
	for (size_t i = 0; rc == 0 && i < f->n_enum_type; i++)
		rc = add_enum(pool, pkg, f->enum_type[i], file);
	for (size_t i = 0; rc == 0 && i < f->n_service; i++) {
		const Google__Protobuf__ServiceDescriptorProto *s = f->service[i];
		char *svc;

		rc = add_symbol(pool, pkg, s->name, file, AW_SYMBOL_SERVICE, &svc);
		for (size_t j = 0; rc == 0 && j < s->n_method; j++) {
			const Google__Protobuf__MethodDescriptorProto *m = s->method[j];

			rc = add_symbol(pool, svc, m->name, file, AW_SYMBOL_METHOD, NULL);
			if (rc == 0) {
				symbol *sym = &pool->symbols[pool->n_symbols - 1];
				sym->client_streaming = m->has_client_streaming && m->client_streaming;
				sym->server_streaming = m->has_server_streaming && m->server_streaming;
			}
		}
	}
	return rc;
}

static int symbol_cmp(const void *a, const void *b)
{
	return strcmp(((const symbol *)a)->name, ((const symbol *)b)->name);
}

static const symbol *find_symbol(const aw_descpool *pool, const char *name)
{
	symbol key = {.name = (char *)name};

	if (name[0] == '.')
		key.name++;
	return bsearch(&key, pool->symbols, pool->n_symbols, sizeof(symbol), symbol_cmp);
}

int aw_descpool_new(aw_descpool **out, const uint8_t *set, size_t len, aw_err *err)
{
	aw_descpool *pool = calloc(1, sizeof(*pool));
	int rc;

	*out = NULL;
	if (pool == NULL)
		return aw_err_set(err, AW_ENOMEM, "out of memory for the descriptor pool");
	pool->set = google__protobuf__file_descriptor_set__unpack(NULL, len, set);
	if (pool->set == NULL) {
		aw_descpool_free(pool);
		return aw_err_set(err, AW_EINVAL, "the embedded descriptor set does not parse");
	}
	pool->n_files = pool->set->n_file;
	pool->files = calloc(pool->n_files ? pool->n_files : 1, sizeof(*pool->files));
	if (pool->files == NULL)
		goto oom;
	for (size_t i = 0; i < pool->n_files; i++) {
		const Google__Protobuf__FileDescriptorProto *f = pool->set->file[i];
		file_entry *fe = &pool->files[i];

		fe->name = f->name;
		fe->len = google__protobuf__file_descriptor_proto__get_packed_size(f);
		fe->bytes = malloc(fe->len ? fe->len : 1);
		if (fe->bytes == NULL)
			goto oom;
		google__protobuf__file_descriptor_proto__pack(f, fe->bytes);
		rc = add_file(pool, f, i);
		if (rc != 0)
			goto oom;
	}
	/* Dependencies by index; the set is closed under imports (--include_imports). */
	for (size_t i = 0; i < pool->n_files; i++) {
		const Google__Protobuf__FileDescriptorProto *f = pool->set->file[i];
		file_entry *fe = &pool->files[i];

		fe->deps = calloc(f->n_dependency ? f->n_dependency : 1, sizeof(size_t));
		if (fe->deps == NULL)
			goto oom;
		for (size_t d = 0; d < f->n_dependency; d++) {
			if (aw_descpool_file_by_name(pool, f->dependency[d], &fe->deps[d]) != 0) {
				aw_err_set(err, AW_EINVAL, "%s imports %s, which the descriptor set lacks",
					   f->name, f->dependency[d]);
				aw_descpool_free(pool);
				return AW_EINVAL;
			}
			fe->n_deps++;
		}
	}
	qsort(pool->symbols, pool->n_symbols, sizeof(symbol), symbol_cmp);
	*out = pool;
	return 0;

oom:
	aw_descpool_free(pool);
	return aw_err_set(err, AW_ENOMEM, "out of memory for the descriptor pool");
}

int aw_descpool_method_shape(const aw_descpool *pool, const char *full_name,
			     int *client_streaming, int *server_streaming)
{
	const symbol *s = find_symbol(pool, full_name);

	if (s == NULL || s->kind != AW_SYMBOL_METHOD)
		return AW_ENOTFOUND;
	*client_streaming = s->client_streaming;
	*server_streaming = s->server_streaming;
	return 0;
}

int aw_descpool_file_of_symbol(const aw_descpool *pool, const char *symbol_name,
			       size_t *file_index, aw_symbol_kind *kind)
{
	const symbol *s = find_symbol(pool, symbol_name);

	if (s == NULL)
		return AW_ENOTFOUND;
	*file_index = s->file;
	if (kind != NULL)
		*kind = s->kind;
	return 0;
}

int aw_descpool_file_by_name(const aw_descpool *pool, const char *name, size_t *file_index)
{
	for (size_t i = 0; i < pool->n_files; i++) {
		if (strcmp(pool->files[i].name, name) == 0) {
			*file_index = i;
			return 0;
		}
	}
	return AW_ENOTFOUND;
}

size_t aw_descpool_file_count(const aw_descpool *pool)
{
	return pool->n_files;
}

const char *aw_descpool_file_name(const aw_descpool *pool, size_t index)
{
	return pool->files[index].name;
}

void aw_descpool_file_bytes(const aw_descpool *pool, size_t index, const uint8_t **data,
			    size_t *len)
{
	*data = pool->files[index].bytes;
	*len = pool->files[index].len;
}

const size_t *aw_descpool_file_deps(const aw_descpool *pool, size_t index, size_t *count)
{
	*count = pool->files[index].n_deps;
	return pool->files[index].deps;
}
