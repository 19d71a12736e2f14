/* Recursive-descent JSON parser, depth bounded by JSON_MAX_DEPTH. The
 * first error stops the parse; its byte offset and reason go to err. */
#include "common/json.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct jp {
	const char *s;
	size_t len, pos;
	int depth;
	const char *why; /* first error, NULL while fine */
	size_t at;
} jp_t;

static json_t *jp_value(jp_t *p);

static bool jp_fail(jp_t *p, const char *why)
{
	if (!p->why) {
		p->why = why;
		p->at = p->pos;
	}
	return false;
}

static void jp_ws(jp_t *p)
{
	while (p->pos < p->len && strchr(" \t\r\n", p->s[p->pos]) &&
	       p->s[p->pos])
		p->pos++;
}

static int jp_peek(const jp_t *p)
{
	return p->pos < p->len ? (unsigned char)p->s[p->pos] : -1;
}

static json_t *jp_node(jp_t *p, json_type_t type)
{
	json_t *v = calloc(1, sizeof(*v));

	if (!v)
		jp_fail(p, "out of memory");
	else
		v->type = type;
	return v;
}

static bool jp_lit(jp_t *p, const char *word)
{
	size_t n = strlen(word);

	if (p->len - p->pos < n || memcmp(p->s + p->pos, word, n) != 0)
		return jp_fail(p, "unexpected character");
	p->pos += n;
	return true;
}

static size_t jp_digits(jp_t *p)
{
	size_t start = p->pos;

	while (jp_peek(p) >= '0' && jp_peek(p) <= '9')
		p->pos++;
	return p->pos - start;
}

/* number = [-] int [frac] [exp], checked by the grammar, converted by
 * strtod on a bounded copy. */
static json_t *jp_number(jp_t *p)
{
	size_t start = p->pos, n;
	char tmp[64];
	json_t *v;

	if (jp_peek(p) == '-')
		p->pos++;
	if (jp_peek(p) == '0')
		p->pos++;
	else if (jp_digits(p) == 0)
		return jp_fail(p, "bad number"), NULL;
	if (jp_peek(p) == '.' && (p->pos++, jp_digits(p) == 0))
		return jp_fail(p, "bad number fraction"), NULL;
	if (jp_peek(p) == 'e' || jp_peek(p) == 'E') {
		p->pos++;
		if (jp_peek(p) == '+' || jp_peek(p) == '-')
			p->pos++;
		if (jp_digits(p) == 0)
			return jp_fail(p, "bad number exponent"), NULL;
	}
	n = p->pos - start;
	if (n >= sizeof(tmp)) {
		p->pos = start;
		return jp_fail(p, "number too long"), NULL;
	}
	memcpy(tmp, p->s + start, n);
	tmp[n] = '\0';
	v = jp_node(p, JSON_NUM);
	if (v)
		v->num = strtod(tmp, NULL);
	return v;
}

static int jp_hex4(jp_t *p)
{
	int v = 0;

	if (p->len - p->pos < 4)
		return -1;
	for (int i = 0; i < 4; i++) {
		int c = (unsigned char)p->s[p->pos + i];

		v <<= 4;
		if (c >= '0' && c <= '9')
			v |= c - '0';
		else if ((c | 32) >= 'a' && (c | 32) <= 'f')
			v |= (c | 32) - 'a' + 10;
		else
			return -1;
	}
	p->pos += 4;
	return v;
}

static size_t utf8_put(char *o, unsigned cp)
{
	if (cp < 0x80)
		return o[0] = (char)cp, 1;
	if (cp < 0x800) {
		o[0] = (char)(0xc0 | cp >> 6);
		o[1] = (char)(0x80 | (cp & 0x3f));
		return 2;
	}
	if (cp < 0x10000) {
		o[0] = (char)(0xe0 | cp >> 12);
		o[1] = (char)(0x80 | ((cp >> 6) & 0x3f));
		o[2] = (char)(0x80 | (cp & 0x3f));
		return 3;
	}
	o[0] = (char)(0xf0 | cp >> 18);
	o[1] = (char)(0x80 | ((cp >> 12) & 0x3f));
	o[2] = (char)(0x80 | ((cp >> 6) & 0x3f));
	o[3] = (char)(0x80 | (cp & 0x3f));
	return 4;
}

/* \uXXXX after the "\u", with surrogate pairs; -1 on error. */
static long jp_unicode(jp_t *p)
{
	int hi = jp_hex4(p), lo;

	if (hi < 0)
		return jp_fail(p, "bad \\u escape"), -1;
	if (hi == 0)
		return jp_fail(p, "\\u0000 not supported"), -1;
	if (hi >= 0xdc00 && hi <= 0xdfff)
		return jp_fail(p, "lone low surrogate"), -1;
	if (hi < 0xd800 || hi > 0xdbff)
		return hi;
	if (p->len - p->pos < 2 || memcmp(p->s + p->pos, "\\u", 2) != 0)
		return jp_fail(p, "lone high surrogate"), -1;
	p->pos += 2;
	lo = jp_hex4(p);
	if (lo < 0xdc00 || lo > 0xdfff)
		return jp_fail(p, "bad surrogate pair"), -1;
	return 0x10000 + ((long)(hi - 0xd800) << 10) + (lo - 0xdc00);
}

static bool jp_escape(jp_t *p, char *out, size_t *o)
{
	static const char from[] = "\"\\/bfnrt", to[] = "\"\\/\b\f\n\r\t";
	int c = jp_peek(p);
	const char *e = c > 0 ? strchr(from, c) : NULL;
	long cp;

	p->pos++;
	if (e) {
		out[(*o)++] = to[e - from];
		return true;
	}
	if (c != 'u') {
		p->pos--;
		return jp_fail(p, "bad escape");
	}
	cp = jp_unicode(p);
	if (cp < 0)
		return false;
	*o += utf8_put(out + *o, (unsigned)cp);
	return true;
}

/* A string literal at '"'; returns a malloc'ed NUL-terminated copy. The
 * decoded form is never longer than the literal. */
static char *jp_string(jp_t *p)
{
	size_t o = 0, cap = 16;
	char *out;

	p->pos++;
	for (size_t i = p->pos; i < p->len && p->s[i] != '"'; i++, cap++)
		if (p->s[i] == '\\')
			i++, cap++;
	out = malloc(cap);
	if (!out)
		return jp_fail(p, "out of memory"), NULL;
	for (;;) {
		int c = jp_peek(p);

		if (c < 0) {
			jp_fail(p, "unterminated string");
			break;
		}
		if (c == '"') {
			p->pos++;
			out[o] = '\0';
			return out;
		}
		if (c < 0x20) {
			jp_fail(p, "control character in string");
			break;
		}
		if (c == '\\') {
			p->pos++;
			if (!jp_escape(p, out, &o))
				break;
			continue;
		}
		out[o++] = (char)c;
		p->pos++;
	}
	free(out);
	return NULL;
}

/* Appends v to the children of parent, keeping order. */
static void jp_append(json_t *parent, json_t **tail, json_t *v)
{
	if (*tail)
		(*tail)->next = v;
	else
		parent->child = v;
	*tail = v;
	parent->len++;
}

static bool jp_member(jp_t *p, json_t *obj, json_t **tail)
{
	char *key;
	json_t *v;

	jp_ws(p);
	if (jp_peek(p) != '"')
		return jp_fail(p, "expected a member name");
	key = jp_string(p);
	if (!key)
		return false;
	jp_ws(p);
	if (jp_peek(p) != ':') {
		free(key);
		return jp_fail(p, "expected ':'");
	}
	p->pos++;
	v = jp_value(p);
	if (!v) {
		free(key);
		return false;
	}
	v->key = key;
	jp_append(obj, tail, v);
	return true;
}

/* An array or object at '[' or '{'; elements separated by ',' */
static json_t *jp_container(jp_t *p, json_type_t type)
{
	int close = type == JSON_ARR ? ']' : '}';
	json_t *c, *tail = NULL, *v;

	if (++p->depth > JSON_MAX_DEPTH)
		return jp_fail(p, "nested too deep"), NULL;
	c = jp_node(p, type);
	if (!c)
		return NULL;
	p->pos++;
	jp_ws(p);
	if (jp_peek(p) == close)
		goto done;
	for (;;) {
		if (type == JSON_OBJ) {
			if (!jp_member(p, c, &tail))
				goto err_free;
		} else {
			v = jp_value(p);
			if (!v)
				goto err_free;
			jp_append(c, &tail, v);
		}
		jp_ws(p);
		if (jp_peek(p) == close)
			break;
		if (jp_peek(p) != ',') {
			jp_fail(p, type == JSON_ARR ? "expected ',' or ']'" :
						      "expected ',' or '}'");
			goto err_free;
		}
		p->pos++;
	}
done:
	p->pos++;
	p->depth--;
	return c;
err_free:
	json_free(c);
	return NULL;
}

static json_t *jp_scalar(jp_t *p, json_type_t type, const char *word,
			 bool b)
{
	json_t *v;

	if (!jp_lit(p, word))
		return NULL;
	v = jp_node(p, type);
	if (v)
		v->b = b;
	return v;
}

static json_t *jp_value(jp_t *p)
{
	json_t *v;
	int c;

	jp_ws(p);
	c = jp_peek(p);
	switch (c) {
	case -1:
		return jp_fail(p, "unexpected end of input"), NULL;
	case '{':
		return jp_container(p, JSON_OBJ);
	case '[':
		return jp_container(p, JSON_ARR);
	case '"':
		v = jp_node(p, JSON_STR);
		if (v && !(v->str = jp_string(p))) {
			free(v);
			v = NULL;
		}
		return v;
	case 't':
		return jp_scalar(p, JSON_BOOL, "true", true);
	case 'f':
		return jp_scalar(p, JSON_BOOL, "false", false);
	case 'n':
		return jp_scalar(p, JSON_NULL, "null", false);
	default:
		if (c == '-' || (c >= '0' && c <= '9'))
			return jp_number(p);
		return jp_fail(p, "unexpected character"), NULL;
	}
}

json_t *json_parse(const char *buf, size_t len, char *err, size_t errlen)
{
	jp_t p = { .s = buf, .len = len };
	json_t *root = NULL;

	if (len > JSON_MAX_LEN)
		jp_fail(&p, "document too large");
	else
		root = jp_value(&p);
	if (root) {
		jp_ws(&p);
		if (p.pos < p.len) {
			jp_fail(&p, "trailing characters after the document");
			json_free(root);
			root = NULL;
		}
	}
	if (!root && err && errlen)
		snprintf(err, errlen, "bad json at byte %zu: %s", p.at, p.why);
	return root;
}

void json_free(json_t *root)
{
	json_t *next;

	for (json_t *v = root; v; v = next) {
		next = v->next;
		json_free(v->child);
		free(v->str);
		free(v->key);
		free(v);
	}
}

const json_t *json_get(const json_t *obj, const char *key)
{
	if (!obj || obj->type != JSON_OBJ)
		return NULL;
	for (const json_t *v = obj->child; v; v = v->next)
		if (strcmp(v->key, key) == 0)
			return v;
	return NULL;
}

const json_t *json_at(const json_t *arr, size_t i)
{
	const json_t *v;

	if (!arr || arr->type != JSON_ARR)
		return NULL;
	for (v = arr->child; v && i; v = v->next)
		i--;
	return v;
}

double json_num(const json_t *v, double def)
{
	return v && v->type == JSON_NUM ? v->num : def;
}

uint64_t json_u64(const json_t *v, uint64_t def)
{
	if (!v || v->type != JSON_NUM)
		return def;
	if (!(v->num > 0))
		return 0;
	if (v->num >= 18446744073709551615.0)
		return UINT64_MAX;
	return (uint64_t)v->num;
}

const char *json_str(const json_t *v, const char *def)
{
	return v && v->type == JSON_STR ? v->str : def;
}

bool json_true(const json_t *v)
{
	return v && v->type == JSON_BOOL && v->b;
}

size_t json_len(const json_t *v)
{
	return v && (v->type == JSON_ARR || v->type == JSON_OBJ) ? v->len : 0;
}

void json_write_str(FILE *f, const char *s)
{
	fputc('"', f);
	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;

		if (c == '"' || c == '\\')
			fprintf(f, "\\%c", c);
		else if (c < 0x20)
			fprintf(f, "\\u%04x", c);
		else
			fputc(c, f);
	}
	fputc('"', f);
}
