/* JSON documents, the one path for every JSON cvmm reads or writes: values
 * are jansson's (json_t, json_pack, json_object_get, ...; see
 * https://jansson.readthedocs.io). This module adds only what jansson leaves
 * to its users: loading a file with a size bound and a one-line error,
 * writing in cvmm's two layouts, numbers with a default, strings that are not
 * UTF-8, and building arrays and objects whose first failure sticks.
 * Functions are jdoc_*: the json_ prefix is jansson's. */
#ifndef CVMM_COMMON_JSON_H
#define CVMM_COMMON_JSON_H

#include <jansson.h>
#include <stdint.h>
#include <stdio.h>

#include "common/status.h"

#define JDOC_MAX_LEN (64UL << 20) /* larger files are refused */
#define JDOC_ERR_LEN 256          /* room for any jdoc error line */

/* Parses buf[0..len) (no NUL needed), an object or an array, nested at most
 * JSON_PARSER_MAX_DEPTH (jansson's bound), no duplicate keys, no \u0000.
 * Returns the root (caller json_decref) or NULL with one lowercase line in
 * err: "bad json at line L column C (byte B): reason". */
json_t *jdoc_parse(const char *buf, size_t len, char *err, size_t errlen);

/* Reads and parses the file at path as jdoc_parse does; a file over
 * JDOC_MAX_LEN bytes is refused unread ("too large: ..."), one that cannot
 * be read gives "cannot read: <strerror>". */
json_t *jdoc_load(const char *path, char *err, size_t errlen);

typedef enum jdoc_layout {
	JDOC_INDENT, /* two spaces per level, one member or element a line */
	JDOC_LINE,   /* the whole document on one line */
} jdoc_layout_t;

/* Writes doc to f in layout and a newline: keys in insertion order, reals
 * with 15 significant digits (writers round to what they mean, e.g. seconds
 * to microseconds). doc is not consumed. Returns CVMM_OK, CVMM_ERR_NOMEM
 * when doc is NULL (the json_pack or jdoc_push building it failed) or
 * CVMM_ERR_IO when f fails. */
cvmm_status_t jdoc_write(const json_t *doc, FILE *f, jdoc_layout_t layout);

/* A string value for s, null for NULL. Bytes that are not UTF-8 (a path
 * can hold any) become '?' instead of failing. NULL only out of memory. */
json_t *jdoc_str(const char *s);

/* Appends v (consumed) to array arr and returns arr. On any failure (arr
 * or v NULL, no memory) frees both and returns NULL, so a loop
 * "a = jdoc_push(a, json_pack(...))" ends NULL when one step failed. */
json_t *jdoc_push(json_t *arr, json_t *v);

/* The same for member key of object obj. */
json_t *jdoc_set(json_t *obj, const char *key, json_t *v);

/* The number v (integer or real), or def when v is NULL or no number. */
double jdoc_num(const json_t *v, double def);

/* The number v as an int, clamped to INT_MIN..INT_MAX (NaN gives def), or
 * def when v is no number. */
int jdoc_int(const json_t *v, int def);

/* The number v as a uint64_t, negative values as 0 and huge ones clamped,
 * or def when v is no number. */
uint64_t jdoc_u64(const json_t *v, uint64_t def);

#endif
