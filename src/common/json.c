/* JSON documents on jansson (json.h): bounded loading with one-line errors,
 * the two output layouts, and the few helpers jansson leaves to callers. */
#include "common/json.h"

#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

/* jansson's error as "bad json at line L column C (byte B): reason", with
 * any byte of the quoted input that is not printable ASCII shown as '?' so
 * that the message stays one line. */
static void jdoc_err(const json_error_t *je, char *err, size_t errlen)
{
	char why[JSON_ERROR_TEXT_LENGTH];
	size_t i;

	for (i = 0; i < sizeof(why) - 1 && je->text[i]; i++) {
		unsigned char c = (unsigned char)je->text[i];

		why[i] = c < 0x20 || c >= 0x7f ? '?' : (char)c;
	}
	why[i] = '\0';
	snprintf(err, errlen, "bad json at line %d column %d (byte %d): %s",
		 je->line, je->column, je->position, why);
}

json_t *jdoc_parse(const char *buf, size_t len, char *err, size_t errlen)
{
	json_error_t je;
	json_t *doc;

	if (len > JDOC_MAX_LEN) {
		snprintf(err, errlen, "too large: %zu bytes, the limit is %lu "
			 "MiB", len, JDOC_MAX_LEN >> 20);
		return NULL;
	}
	doc = json_loadb(buf, len, JSON_REJECT_DUPLICATES, &je);
	if (!doc)
		jdoc_err(&je, err, errlen);
	return doc;
}

/* All of f, at most JDOC_MAX_LEN bytes (a pipe has no size to check
 * first); NULL with err written. */
static char *jdoc_read(FILE *f, size_t *len, char *err, size_t errlen)
{
	size_t cap = 0, n = 0, got;
	char *buf = NULL, *nb;

	do {
		if (n == cap) {
			if (cap > JDOC_MAX_LEN) {
				snprintf(err, errlen, "too large: more than "
					 "%lu MiB", JDOC_MAX_LEN >> 20);
				goto err_free;
			}
			cap = cap ? 2 * cap : 65536;
			if (cap > JDOC_MAX_LEN + 1)
				cap = JDOC_MAX_LEN + 1;
			nb = realloc(buf, cap);
			if (!nb) {
				snprintf(err, errlen, "out of memory");
				goto err_free;
			}
			buf = nb;
		}
		got = fread(buf + n, 1, cap - n, f);
		n += got;
	} while (got > 0);
	if (ferror(f)) {
		snprintf(err, errlen, "cannot read: %s", strerror(errno));
		goto err_free;
	}
	*len = n;
	return buf;
err_free:
	free(buf);
	return NULL;
}

json_t *jdoc_load(const char *path, char *err, size_t errlen)
{
	FILE *f = fopen(path, "rb");
	json_t *doc = NULL;
	struct stat st;
	size_t len;
	char *buf;

	if (!f) {
		snprintf(err, errlen, "cannot read: %s", strerror(errno));
		return NULL;
	}
	if (fstat(fileno(f), &st) == 0 && S_ISREG(st.st_mode) &&
	    (uint64_t)st.st_size > JDOC_MAX_LEN) {
		snprintf(err, errlen, "too large: %llu bytes, the limit is %lu "
			 "MiB", (unsigned long long)st.st_size,
			 JDOC_MAX_LEN >> 20);
		goto out_close;
	}
	buf = jdoc_read(f, &len, err, errlen);
	if (buf) {
		doc = jdoc_parse(buf, len, err, errlen);
		free(buf);
	}
out_close:
	fclose(f);
	return doc;
}

cvmm_status_t jdoc_write(const json_t *doc, FILE *f, jdoc_layout_t layout)
{
	size_t flags = JSON_REAL_PRECISION(15);

	if (!doc)
		return CVMM_ERR_NOMEM;
	if (layout == JDOC_INDENT)
		flags |= JSON_INDENT(2);
	if (json_dumpf(doc, f, flags) != 0 || fputc('\n', f) == EOF)
		return CVMM_ERR_IO;
	return CVMM_OK;
}

json_t *jdoc_str(const char *s)
{
	json_t *v;
	char *copy;

	if (!s)
		return json_null();
	v = json_string(s);
	if (v || !(copy = strdup(s)))
		return v;
	for (char *p = copy; *p; p++)
		if ((unsigned char)*p >= 0x80)
			*p = '?';
	v = json_string(copy);
	free(copy);
	return v;
}

json_t *jdoc_push(json_t *arr, json_t *v)
{
	if (!arr || !v) {
		json_decref(arr);
		json_decref(v);
		return NULL;
	}
	if (json_array_append_new(arr, v) != 0) { /* frees v */
		json_decref(arr);
		return NULL;
	}
	return arr;
}

json_t *jdoc_set(json_t *obj, const char *key, json_t *v)
{
	if (!obj || !v) {
		json_decref(obj);
		json_decref(v);
		return NULL;
	}
	if (json_object_set_new(obj, key, v) != 0) { /* frees v */
		json_decref(obj);
		return NULL;
	}
	return obj;
}

double jdoc_num(const json_t *v, double def)
{
	return json_is_number(v) ? json_number_value(v) : def;
}

int jdoc_int(const json_t *v, int def)
{
	double d = jdoc_num(v, def);

	if (d != d)
		return def;
	return d <= INT_MIN ? INT_MIN : d >= INT_MAX ? INT_MAX : (int)d;
}

uint64_t jdoc_u64(const json_t *v, uint64_t def)
{
	double d;

	if (json_is_integer(v))
		return json_integer_value(v) < 0 ?
			       0 : (uint64_t)json_integer_value(v);
	if (!json_is_real(v))
		return def;
	d = json_real_value(v);
	if (!(d > 0))
		return 0;
	return d >= 18446744073709551615.0 ? UINT64_MAX : (uint64_t)d;
}
