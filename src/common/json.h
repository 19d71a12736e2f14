/* A small bounded JSON parser into a DOM (RFC 8259). Used by "cvmm report"
 * to read --stats files; robust to malformed input: every error is one
 * lowercase line "bad json at byte N: reason", never a crash. */
#ifndef CVMM_COMMON_JSON_H
#define CVMM_COMMON_JSON_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <stdint.h>

#define JSON_MAX_DEPTH 64        /* arrays and objects nested deeper fail */
#define JSON_MAX_LEN   (64UL << 20) /* documents above 64 MiB fail */

typedef enum json_type {
	JSON_NULL,
	JSON_BOOL,
	JSON_NUM,
	JSON_STR,
	JSON_ARR,
	JSON_OBJ,
} json_type_t;

typedef struct json json_t;

struct json {
	json_type_t type;
	bool b;          /* JSON_BOOL */
	double num;      /* JSON_NUM */
	char *str;       /* JSON_STR: NUL-terminated (\u0000 is refused) */
	char *key;       /* member name when inside an object, else NULL */
	json_t *child;   /* first element or member (JSON_ARR, JSON_OBJ) */
	json_t *next;    /* next sibling */
	size_t len;      /* number of elements or members */
};

/* Parses buf[0..len) (no NUL needed). Returns the root, owned by the caller
 * (json_free), or NULL with "bad json at byte N: reason" written to err. */
json_t *json_parse(const char *buf, size_t len, char *err, size_t errlen);

/* Frees a tree returned by json_parse; NULL is fine. */
void json_free(json_t *root);

/* Member key of object obj, NULL when obj is not an object or lacks it. */
const json_t *json_get(const json_t *obj, const char *key);

/* Element i of array arr, NULL when out of range or not an array. */
const json_t *json_at(const json_t *arr, size_t i);

/* The number v, or def when v is NULL or not a number. Cannot fail. */
double json_num(const json_t *v, double def);

/* The number v as an unsigned integer (negative, NaN and huge values are
 * clamped), or def when v is not a number. */
uint64_t json_u64(const json_t *v, uint64_t def);

/* The string v, or def when v is NULL or not a string. */
const char *json_str(const json_t *v, const char *def);

/* True only for the literal true. */
bool json_true(const json_t *v);

/* Number of elements or members; 0 for scalars and NULL. */
size_t json_len(const json_t *v);

/* Writes s as a JSON string literal (quotes, escapes) to f. */
void json_write_str(FILE *f, const char *s);

#endif
