/* Config tables: one {name, default, doc, offset, type} table per module
 * serves defaults, config files, CVMM_<MODULE>_<NAME> environment variables
 * and command-line flags (see config.h for the precedence).
 *
 * The options struct a table points at must start zeroed (or hold only
 * values stored by these functions): string fields are freed when they are
 * overwritten. A string value of NULL means "unset"; it is what a NULL
 * default gives, and what an empty unquoted value in a config file gives
 * ("stats =" unsets, 'stats = ""' sets the empty string). */
#include "common/config.h"

#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "common/log.h"

#define CFG_WHY_LEN	256 /* reason text for a rejected value */
#define CFG_ENV_LEN	256 /* longest CVMM_<MODULE>_<NAME> */
#define CFG_SHOW_COL	40  /* cap on the alignment column of cfg_show */
#define CFG_HELP_COL	30  /* cap on the alignment column of cfg_help */

static void *field_ptr(const cfg_table_t *t, const cfg_field_t *f)
{
	return (char *)t->base + f->offset;
}

static bool field_is_str(const cfg_field_t *f)
{
	return f->type == CFG_STRING || f->type == CFG_OPTSTR;
}

/* Compares a[0..alen) with the NUL-terminated b; '-' and '_' are equal. */
static bool name_eq(const char *a, size_t alen, const char *b)
{
	size_t i;

	for (i = 0; i < alen; i++) {
		char x = a[i] == '_' ? '-' : a[i];
		char y = b[i] == '_' ? '-' : b[i];

		if (b[i] == '\0' || x != y)
			return false;
	}
	return b[i] == '\0';
}

/* True if word is one of the '|'-separated entries of list. */
static bool choices_has(const char *list, const char *word)
{
	size_t len = strlen(word);

	while (list && *list) {
		const char *bar = strchr(list, '|');
		size_t n = bar ? (size_t)(bar - list) : strlen(list);

		if (n == len && strncmp(list, word, n) == 0)
			return true;
		list = bar ? bar + 1 : NULL;
	}
	return false;
}

/* Index of word in the NULL-terminated names, or -1. */
static int names_index(const char *const *names, const char *word)
{
	for (int i = 0; names && names[i]; i++)
		if (strcmp(names[i], word) == 0)
			return i;
	return -1;
}

/* names joined with '|' into buf ("auto|none"). */
static const char *names_join(const char *const *names, char *buf,
			      size_t size)
{
	size_t n = 0;

	buf[0] = '\0';
	for (int i = 0; names && names[i] && n < size; i++)
		n += (size_t)snprintf(buf + n, size - n, "%s%s", i ? "|" : "",
				      names[i]);
	return buf;
}

static const cfg_field_t *table_find(const cfg_table_t *t, const char *name,
				     size_t len)
{
	const cfg_field_t *f;

	for (f = t->fields; f->name; f++)
		if (name_eq(name, len, f->name))
			return f;
	return NULL;
}

/* Finds key[0..len), "module.name" or "name" (first table that has it).
 * Writes *tp and *fp only when found. */
static bool cfg_find(const cfg_table_t *tables, const char *key, size_t len,
		     const cfg_table_t **tp, const cfg_field_t **fp)
{
	const char *dot = memchr(key, '.', len);
	size_t mlen = dot ? (size_t)(dot - key) : 0;
	const cfg_table_t *t;
	const cfg_field_t *f = NULL;

	for (t = tables; t->module; t++) {
		if (!dot)
			f = table_find(t, key, len);
		else if (name_eq(key, mlen, t->module))
			f = table_find(t, dot + 1, len - mlen - 1);
		if (f) {
			*tp = t;
			*fp = f;
			return true;
		}
	}
	return false;
}

static cvmm_status_t parse_int(const cfg_field_t *f, const char *s, int *out,
			       char *why)
{
	bool has_auto = choices_has(f->choices, "auto");
	const char *p = (*s == '-' || *s == '+') ? s + 1 : s;
	char *end;
	long v;

	if (has_auto && strcmp(s, "auto") == 0) {
		*out = -1;
		return CVMM_OK;
	}
	errno = 0;
	v = strtol(s, &end, 10);
	if (!isdigit((unsigned char)*p) || *end != '\0') {
		snprintf(why, CFG_WHY_LEN, "not a decimal integer%s",
			 has_auto ? " or auto" : "");
		return CVMM_ERR_INVALID;
	}
	if (errno == ERANGE || v < INT_MIN || v > INT_MAX) {
		snprintf(why, CFG_WHY_LEN, "out of range %d..%d", INT_MIN,
			 INT_MAX);
		return CVMM_ERR_INVALID;
	}
	*out = (int)v;
	return CVMM_OK;
}

static cvmm_status_t parse_bool(const char *s, bool *out, char *why)
{
	static const char *const yes[] = { "1", "yes", "true", "on" };
	static const char *const no[] = { "0", "no", "false", "off" };

	for (size_t i = 0; i < sizeof(yes) / sizeof(yes[0]); i++) {
		if (strcasecmp(s, yes[i]) == 0) {
			*out = true;
			return CVMM_OK;
		}
		if (strcasecmp(s, no[i]) == 0) {
			*out = false;
			return CVMM_OK;
		}
	}
	snprintf(why, CFG_WHY_LEN, "not one of 1|0|yes|no|true|false|on|off");
	return CVMM_ERR_INVALID;
}

/* Unsigned decimal with an optional K, M or G suffix (powers of 1024). */
static cvmm_status_t parse_size(const char *s, size_t *out, char *why)
{
	unsigned long long v;
	unsigned shift = 0;
	char *end;

	errno = 0;
	v = strtoull(s, &end, 10);
	if (!isdigit((unsigned char)*s))
		goto err_syntax;
	switch (toupper((unsigned char)*end)) {
	case 'K': shift = 10; end++; break;
	case 'M': shift = 20; end++; break;
	case 'G': shift = 30; end++; break;
	}
	if (*end != '\0')
		goto err_syntax;
	if (errno == ERANGE || v > (SIZE_MAX >> shift)) {
		snprintf(why, CFG_WHY_LEN, "too large");
		return CVMM_ERR_INVALID;
	}
	*out = (size_t)v << shift;
	return CVMM_OK;

err_syntax:
	snprintf(why, CFG_WHY_LEN, "not a size (number with optional K, M, G)");
	return CVMM_ERR_INVALID;
}

/* Replaces the string field with a copy of s (NULL unsets it). */
static cvmm_status_t store_str(const cfg_table_t *t, const cfg_field_t *f,
			       const char *s)
{
	char **sp = field_ptr(t, f);
	char *copy = NULL;

	if (s) {
		copy = strdup(s);
		if (!copy) {
			log_error("out of memory copying %s.%s", t->module,
				  f->name);
			return CVMM_ERR_NOMEM;
		}
	}
	free(*sp);
	*sp = copy;
	return CVMM_OK;
}

/* Resets a field to unset: NULL, 0 or false. */
static void field_clear(const cfg_table_t *t, const cfg_field_t *f)
{
	void *p = field_ptr(t, f);

	switch (f->type) {
	case CFG_INT: *(int *)p = 0; break;
	case CFG_BOOL: *(bool *)p = false; break;
	case CFG_SIZE: *(size_t *)p = 0; break;
	case CFG_ENUM: *(int *)p = 0; break;
	case CFG_STRING:
	case CFG_OPTSTR:
		free(*(char **)p);
		*(char **)p = NULL;
		break;
	}
}

/* Parses s for f and stores it; s NULL unsets the field. A rejected value
 * leaves the field alone, fills why[CFG_WHY_LEN] and returns
 * CVMM_ERR_INVALID without logging (the caller knows the context). */
static cvmm_status_t field_store(const cfg_table_t *t, const cfg_field_t *f,
				 const char *s, char *why)
{
	void *p = field_ptr(t, f);

	if (!s) {
		field_clear(t, f);
		return CVMM_OK;
	}
	switch (f->type) {
	case CFG_INT: return parse_int(f, s, p, why);
	case CFG_BOOL: return parse_bool(s, p, why);
	case CFG_SIZE: return parse_size(s, p, why);
	case CFG_ENUM: {
		int i = names_index(f->names, s);
		char list[CFG_WHY_LEN / 2];

		if (i < 0) {
			snprintf(why, CFG_WHY_LEN, "not one of %s",
				 names_join(f->names, list, sizeof(list)));
			return CVMM_ERR_INVALID;
		}
		*(int *)p = i;
		return CVMM_OK;
	}
	case CFG_STRING:
	case CFG_OPTSTR: return store_str(t, f, s);
	}
	snprintf(why, CFG_WHY_LEN, "field has unknown type %d", (int)f->type);
	return CVMM_ERR_INVALID;
}

/* Sets every field of every table to its default; a default that does not
 * parse is logged, the field is left unset, and CVMM_ERR_INVALID is returned
 * after the remaining fields are set. */
cvmm_status_t cfg_defaults(const cfg_table_t *tables)
{
	cvmm_status_t ret = CVMM_OK;
	char why[CFG_WHY_LEN];

	for (const cfg_table_t *t = tables; t->module; t++) {
		for (const cfg_field_t *f = t->fields; f->name; f++) {
			cvmm_status_t st;

			field_clear(t, f);
			st = field_store(t, f, f->dflt, why);
			if (st == CVMM_ERR_INVALID)
				log_error("bad default '%s' for %s.%s: %s",
					  f->dflt, t->module, f->name, why);
			if (st != CVMM_OK && ret == CVMM_OK)
				ret = st;
		}
	}
	return ret;
}

/* Sets one field by "module.name" or "name" ('-' and '_' equivalent). value
 * NULL unsets the field. Returns CVMM_ERR_NOT_FOUND for an unknown key and
 * CVMM_ERR_INVALID for a bad value (both logged), CVMM_ERR_NOMEM. */
cvmm_status_t cfg_set(const cfg_table_t *tables, const char *key,
		      const char *value)
{
	const cfg_table_t *t;
	const cfg_field_t *f;
	char why[CFG_WHY_LEN];
	cvmm_status_t st;

	if (!cfg_find(tables, key, strlen(key), &t, &f)) {
		log_error("unknown setting %s", key);
		return CVMM_ERR_NOT_FOUND;
	}
	st = field_store(t, f, value, why);
	if (st == CVMM_ERR_INVALID)
		log_error("bad value '%s' for %s.%s: %s", value, t->module,
			  f->name, why);
	return st;
}

static char *trim(char *s)
{
	char *end;

	while (isspace((unsigned char)*s))
		s++;
	end = s + strlen(s);
	while (end > s && isspace((unsigned char)end[-1]))
		*--end = '\0';
	return s;
}

/* Splits the text after '=' into a value: strips a " # comment", trims, and
 * removes one pair of double quotes. *quoted tells an empty "" apart from
 * nothing. Returns NULL and sets *why on a malformed value. */
static char *line_value(char *s, bool *quoted, const char **why)
{
	char *end, *rest;

	s = trim(s);
	*quoted = *s == '"';
	if (!*quoted) {
		for (end = s; *end; end++)
			if (*end == '#' &&
			    (end == s || isspace((unsigned char)end[-1])))
				break;
		*end = '\0';
		return trim(s);
	}
	end = strchr(s + 1, '"');
	if (!end) {
		*why = "unterminated quote";
		return NULL;
	}
	*end = '\0';
	rest = trim(end + 1);
	if (*rest != '\0' && *rest != '#') {
		*why = "text after the closing quote";
		return NULL;
	}
	return s + 1;
}

/* Applies one config-file line; logs "FILE:LINE: reason" on error. */
static cvmm_status_t file_line(const cfg_table_t *tables, const char *path,
			       unsigned lineno, char *line)
{
	const cfg_table_t *t;
	const cfg_field_t *f;
	const char *err = NULL;
	char why[CFG_WHY_LEN];
	char *eq, *key, *val;
	cvmm_status_t st;
	bool quoted;

	line = trim(line);
	if (*line == '\0' || *line == '#')
		return CVMM_OK;
	eq = strchr(line, '=');
	if (!eq) {
		log_error("%s:%u: expected a setting, got '%s'", path, lineno,
			  line);
		return CVMM_ERR_INVALID;
	}
	*eq = '\0';
	key = trim(line);
	val = line_value(eq + 1, &quoted, &err);
	if (!val) {
		log_error("%s:%u: %s for %s", path, lineno, err, key);
		return CVMM_ERR_INVALID;
	}
	if (!cfg_find(tables, key, strlen(key), &t, &f)) {
		log_error("%s:%u: unknown setting '%s'", path, lineno, key);
		return CVMM_ERR_INVALID;
	}
	if (!quoted && *val == '\0' && field_is_str(f))
		val = NULL;
	st = field_store(t, f, val, why);
	if (st == CVMM_ERR_INVALID)
		log_error("%s:%u: bad value '%s' for %s.%s: %s", path, lineno,
			  val, t->module, f->name, why);
	return st;
}

/* Reads "module.name = value" lines. Every bad line is logged; the good
 * ones are applied. Returns CVMM_ERR_NOT_FOUND (not logged) if the file does
 * not exist, CVMM_ERR_IO, CVMM_ERR_INVALID, CVMM_ERR_NOMEM. */
cvmm_status_t cfg_load_file(const cfg_table_t *tables, const char *path)
{
	cvmm_status_t ret = CVMM_OK;
	unsigned lineno = 0;
	size_t cap = 0;
	char *line = NULL;
	FILE *fp;

	fp = fopen(path, "r");
	if (!fp) {
		if (errno == ENOENT)
			return CVMM_ERR_NOT_FOUND;
		log_error("cannot open %s: %m", path);
		return CVMM_ERR_IO;
	}
	while (getline(&line, &cap, fp) >= 0) {
		cvmm_status_t st = file_line(tables, path, ++lineno, line);

		if (st == CVMM_ERR_NOMEM) {
			ret = st;
			goto out_free;
		}
		if (st != CVMM_OK && ret == CVMM_OK)
			ret = st;
	}
	if (ferror(fp)) {
		log_error("cannot read %s: %m", path);
		ret = CVMM_ERR_IO;
	}
out_free:
	free(line);
	fclose(fp);
	return ret;
}

/* Writes "CVMM_<MODULE>_<NAME>" into buf; false if it does not fit. */
static bool env_name(const cfg_table_t *t, const cfg_field_t *f, char *buf,
		     size_t size)
{
	int n = snprintf(buf, size, "CVMM_%s_%s", t->module, f->name);

	if (n < 0 || (size_t)n >= size)
		return false;
	for (char *p = buf; *p; p++)
		*p = *p == '-' ? '_' : (char)toupper((unsigned char)*p);
	return true;
}

static const char *env_find(char *const envp[], const char *name)
{
	size_t len = strlen(name);

	for (; envp && *envp; envp++)
		if (strncmp(*envp, name, len) == 0 && (*envp)[len] == '=')
			return *envp + len + 1;
	return NULL;
}

/* Applies CVMM_<MODULE>_<NAME> from envp (the first entry wins, as with
 * getenv). Every bad value is logged; returns CVMM_ERR_INVALID or
 * CVMM_ERR_NOMEM after trying the others. envp may be NULL. */
cvmm_status_t cfg_load_env(const cfg_table_t *tables, char *const envp[])
{
	cvmm_status_t ret = CVMM_OK;
	char name[CFG_ENV_LEN];
	char why[CFG_WHY_LEN];

	for (const cfg_table_t *t = tables; t->module; t++) {
		for (const cfg_field_t *f = t->fields; f->name; f++) {
			const char *val;
			cvmm_status_t st;

			if (!env_name(t, f, name, sizeof(name)))
				continue;
			val = env_find(envp, name);
			if (!val)
				continue;
			st = field_store(t, f, val, why);
			if (st == CVMM_ERR_INVALID)
				log_error("bad value '%s' for %s: %s", val,
					  name, why);
			if (st != CVMM_OK && ret == CVMM_OK)
				ret = st;
		}
	}
	return ret;
}

/* Applies one recognised flag. val is the text after '=' or after a short
 * flag, or NULL; then BOOL means true, OPTSTR means optval, and the other
 * types take argv[*argi + 1]. Advances *argi past what it used on success. */
static cvmm_status_t flag_apply(const cfg_table_t *t, const cfg_field_t *f,
				const char *val, int argc, char *const argv[],
				int *argi)
{
	char why[CFG_WHY_LEN];
	cvmm_status_t st;
	int used = 1;

	if (!val) {
		if (f->type == CFG_BOOL) {
			val = "true";
		} else if (f->type == CFG_OPTSTR) {
			val = f->optval ? f->optval : "";
		} else if (*argi + 1 < argc) {
			val = argv[*argi + 1];
			used = 2;
		} else {
			log_error("option --%s needs a value", f->name);
			return CVMM_ERR_INVALID;
		}
	}
	st = field_store(t, f, val, why);
	if (st == CVMM_ERR_INVALID)
		log_error("bad value '%s' for --%s: %s", val, f->name, why);
	if (st == CVMM_OK)
		*argi += used;
	return st;
}

/* --name, --name=value, --name value, --no-name (CFG_BOOL). */
static cvmm_status_t flag_long(const cfg_table_t *tables, int argc,
			       char *const argv[], int *argi)
{
	const char *name = argv[*argi] + 2;
	const char *eq = strchr(name, '=');
	size_t len = eq ? (size_t)(eq - name) : strlen(name);
	const cfg_table_t *t;
	const cfg_field_t *f;

	if (cfg_find(tables, name, len, &t, &f))
		return flag_apply(t, f, eq ? eq + 1 : NULL, argc, argv, argi);
	if (len > 3 && name_eq(name, 3, "no-") &&
	    cfg_find(tables, name + 3, len - 3, &t, &f) &&
	    f->type == CFG_BOOL) {
		if (eq) {
			log_error("option --%.*s takes no value", (int)len,
				  name);
			return CVMM_ERR_INVALID;
		}
		return flag_apply(t, f, "false", argc, argv, argi);
	}
	log_error("unknown option --%.*s", (int)len, name);
	return CVMM_ERR_INVALID;
}

/* -v N, -vN. Text glued to the letter is the value (no bundling). */
static cvmm_status_t flag_short(const cfg_table_t *tables, int argc,
				char *const argv[], int *argi)
{
	const char *arg = argv[*argi];

	for (const cfg_table_t *t = tables; t->module; t++) {
		for (const cfg_field_t *f = t->fields; f->name; f++) {
			if (f->short_opt != arg[1])
				continue;
			return flag_apply(t, f, arg[2] ? arg + 2 : NULL, argc,
					  argv, argi);
		}
	}
	log_error("unknown option -%c", arg[1]);
	return CVMM_ERR_INVALID;
}

/* Parses flags from argv[*argi]; see config.h. A lone "-" is not a flag.
 * Flags may also be spelled --module.name. On error *argi is left at the
 * offending argument. */
cvmm_status_t cfg_parse_args(const cfg_table_t *tables, int argc,
			     char *const argv[], int *argi)
{
	int i = *argi;

	while (i < argc) {
		const char *arg = argv[i];
		cvmm_status_t st;

		if (arg[0] != '-' || arg[1] == '\0')
			break;
		if (strcmp(arg, "--") == 0) {
			i++;
			break;
		}
		if (arg[1] == '-')
			st = flag_long(tables, argc, argv, &i);
		else
			st = flag_short(tables, argc, argv, &i);
		if (st != CVMM_OK) {
			*argi = i;
			return st;
		}
	}
	*argi = i;
	return CVMM_OK;
}

static const char *size_text(size_t v, char *buf, size_t size)
{
	static const char units[] = "GMK";

	for (int i = 0; i < 3 && v; i++) {
		unsigned shift = 30 - 10 * (unsigned)i;

		if ((v & (((size_t)1 << shift) - 1)) == 0) {
			snprintf(buf, size, "%zu%c", v >> shift, units[i]);
			return buf;
		}
	}
	snprintf(buf, size, "%zu", v);
	return buf;
}

/* A string value needs quotes if a config file would not read it back. */
static bool needs_quotes(const char *s)
{
	size_t len = strlen(s);

	return len == 0 || isspace((unsigned char)s[0]) ||
	       isspace((unsigned char)s[len - 1]) || s[0] == '"' ||
	       strchr(s, '#') != NULL;
}

/* The current value as text (in buf or in the field itself); NULL strings
 * give "". *quote is set when the text should be printed in quotes. */
static const char *value_text(const cfg_table_t *t, const cfg_field_t *f,
			      char *buf, size_t size, bool *quote)
{
	const void *p = field_ptr(t, f);
	const char *s;

	*quote = false;
	switch (f->type) {
	case CFG_INT:
		if (*(const int *)p == -1 && choices_has(f->choices, "auto"))
			return "auto";
		snprintf(buf, size, "%d", *(const int *)p);
		return buf;
	case CFG_BOOL: return *(const bool *)p ? "true" : "false";
	case CFG_SIZE: return size_text(*(const size_t *)p, buf, size);
	case CFG_ENUM: return f->names[*(const int *)p];
	case CFG_STRING:
	case CFG_OPTSTR:
		s = *(char *const *)p;
		*quote = s && needs_quotes(s);
		return s ? s : "";
	}
	return "?";
}

static const char *dflt_text(const cfg_field_t *f)
{
	if (!f->dflt)
		return "unset";
	return *f->dflt ? f->dflt : "\"\"";
}

static int show_width(const cfg_table_t *t, const cfg_field_t *f)
{
	char buf[64];
	bool quote;
	size_t n = strlen(value_text(t, f, buf, sizeof(buf), &quote));

	n += strlen(t->module) + 1 + strlen(f->name) + 3 + (quote ? 2 : 0);
	return n > CFG_SHOW_COL ? CFG_SHOW_COL : (int)n;
}

/* Prints "module.name = value  # doc (default: X)" for every field, in a
 * form cfg_load_file reads back. Cannot fail (write errors are the
 * stream's). */
void cfg_show(const cfg_table_t *tables, FILE *out)
{
	int width = 0;
	char buf[64];

	for (const cfg_table_t *t = tables; t->module; t++)
		for (const cfg_field_t *f = t->fields; f->name; f++)
			if (show_width(t, f) > width)
				width = show_width(t, f);
	for (const cfg_table_t *t = tables; t->module; t++) {
		for (const cfg_field_t *f = t->fields; f->name; f++) {
			bool quote;
			const char *v = value_text(t, f, buf, sizeof(buf),
						   &quote);
			const char *q = quote ? "\"" : "";
			int n = fprintf(out, "%s.%s = %s%s%s", t->module,
					f->name, q, v, q);

			fprintf(out, "%*s  # %s%s(default: %s)\n",
				n < width ? width - n : 0, "",
				f->doc ? f->doc : "", f->doc ? " " : "",
				dflt_text(f));
		}
	}
}

/* Writes the flag part of a help line ("-v, --vcpus N") into buf. */
static int help_flag(const cfg_field_t *f, char *buf, size_t size)
{
	char sopt[8] = "    ";
	const char *choices = f->choices;

	if (f->short_opt)
		snprintf(sopt, sizeof(sopt), "-%c, ", f->short_opt);
	switch (f->type) {
	case CFG_INT: return snprintf(buf, size, "%s--%s N", sopt, f->name);
	case CFG_SIZE:
		return snprintf(buf, size, "%s--%s SIZE", sopt, f->name);
	case CFG_BOOL:
		return snprintf(buf, size, "%s--[no-]%s", sopt, f->name);
	case CFG_ENUM: {
		char list[96];

		return snprintf(buf, size, "%s--%s %s", sopt, f->name,
				names_join(f->names, list, sizeof(list)));
	}
	case CFG_STRING:
		return snprintf(buf, size, "%s--%s %s", sopt, f->name,
				choices ? choices : "STR");
	case CFG_OPTSTR:
		return snprintf(buf, size, "%s--%s[=%s]", sopt, f->name,
				choices ? choices : "FILE");
	}
	return snprintf(buf, size, "%s--%s", sopt, f->name);
}

/* Prints "  -v, --vcpus N   doc (default: X)" for every field; the metavar
 * follows the type (N, SIZE, the choices of an enum, [=FILE] for OPTSTR).
 * For CFG_STRING and CFG_OPTSTR a non-NULL choices names the metavar
 * ("DIR"). Cannot fail. */
void cfg_help(const cfg_table_t *tables, FILE *out)
{
	int width = 0;
	char buf[128];

	for (const cfg_table_t *t = tables; t->module; t++) {
		for (const cfg_field_t *f = t->fields; f->name; f++) {
			int n = help_flag(f, buf, sizeof(buf));

			if (n > width)
				width = n > CFG_HELP_COL ? CFG_HELP_COL : n;
		}
	}
	for (const cfg_table_t *t = tables; t->module; t++) {
		for (const cfg_field_t *f = t->fields; f->name; f++) {
			help_flag(f, buf, sizeof(buf));
			fprintf(out, "  %-*s  %s", width, buf,
				f->doc ? f->doc : "");
			if (f->dflt)
				fprintf(out, " (default: %s)", dflt_text(f));
			fputc('\n', out);
		}
	}
}

/* Frees the strings owned by the tables and sets them to NULL; numeric
 * fields are left as they are. Safe to call twice. */
void cfg_free(const cfg_table_t *tables)
{
	for (const cfg_table_t *t = tables; t->module; t++)
		for (const cfg_field_t *f = t->fields; f->name; f++)
			if (field_is_str(f))
				field_clear(t, f);
}
