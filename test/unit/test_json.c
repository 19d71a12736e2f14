/* Unit tests of the JSON parser (common/json.c): valid documents, every
 * kind of malformed input with its byte offset, the nesting bound, and
 * random bytes and truncations that must never crash. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/json.h"

static json_t *parse(const char *s, char *err, size_t errlen)
{
	return json_parse(s, strlen(s), err, errlen);
}

static void test_valid_doc(void **state)
{
	const char *s = " {\"a\": [1, -2.5e3, true, false, null], "
			"\"s\": \"x\\\"y\\\\z\\n\\u00e9\\ud83d\\ude00\", "
			"\"o\": {}, \"e\": [], \"big\": 140737488355328}\n";
	char err[128];
	json_t *d = parse(s, err, sizeof(err));
	const json_t *a;

	assert_non_null(d);
	assert_int_equal(d->type, JSON_OBJ);
	assert_int_equal(json_len(d), 5);
	a = json_get(d, "a");
	assert_int_equal(json_len(a), 5);
	assert_true(json_num(json_at(a, 0), 0) == 1);
	assert_true(json_num(json_at(a, 1), 0) == -2500);
	assert_true(json_true(json_at(a, 2)));
	assert_false(json_true(json_at(a, 3)));
	assert_int_equal(json_at(a, 4)->type, JSON_NULL);
	assert_null(json_at(a, 5));
	assert_string_equal(json_str(json_get(d, "s"), ""),
			    "x\"y\\z\n\xc3\xa9\xf0\x9f\x98\x80");
	assert_int_equal(json_len(json_get(d, "o")), 0);
	assert_int_equal(json_get(d, "e")->type, JSON_ARR);
	assert_true(json_u64(json_get(d, "big"), 0) == 0x800000000000ULL);
	assert_null(json_get(d, "missing"));
	assert_true(json_num(json_get(d, "s"), 7) == 7);
	json_free(d);
}

static void test_scalars(void **state)
{
	char err[128];
	json_t *d = parse("0", err, sizeof(err));

	assert_non_null(d);
	assert_true(d->num == 0);
	json_free(d);
	d = parse("\"\"", err, sizeof(err));
	assert_string_equal(d->str, "");
	json_free(d);
	assert_true(json_u64(NULL, 9) == 9);
	assert_null(json_str(NULL, NULL));
}

static const struct bad {
	const char *doc;
	size_t at;
	const char *why;
} bads[] = {
	{ "", 0, "unexpected end of input" },
	{ "   ", 3, "unexpected end of input" },
	{ "{", 1, "expected a member name" },
	{ "{\"a\" 1}", 5, "expected ':'" },
	{ "{\"a\":1 \"b\":2}", 7, "expected ',' or '}'" },
	{ "[1 2]", 3, "expected ',' or ']'" },
	{ "[1,]", 3, "unexpected character" },
	{ "{\"a\":1,}", 7, "expected a member name" },
	{ "{1:2}", 1, "expected a member name" },
	{ "[01]", 2, "expected ',' or ']'" },
	{ "-", 1, "bad number" },
	{ "1.", 2, "bad number fraction" },
	{ "1e+", 3, "bad number exponent" },
	{ "tru", 0, "unexpected character" },
	{ "nul", 0, "unexpected character" },
	{ "\"abc", 4, "unterminated string" },
	{ "\"a\\x\"", 3, "bad escape" },
	{ "\"\\u12g4\"", 3, "bad \\u escape" },
	{ "\"\\u0000\"", 7, "\\u0000 not supported" },
	{ "\"\\ud800\"", 7, "lone high surrogate" },
	{ "\"\\udc00\"", 7, "lone low surrogate" },
	{ "\"\\ud800\\u0041\"", 13, "bad surrogate pair" },
	{ "\"a\tb\"", 2, "control character in string" },
	{ "{} x", 3, "trailing characters after the document" },
	{ "@", 0, "unexpected character" },
	{ "\"\\", 2, "bad escape" },
};

static void test_malformed(void **state)
{
	for (size_t i = 0; i < sizeof(bads) / sizeof(bads[0]); i++) {
		char err[128], want[128];
		json_t *d = parse(bads[i].doc, err, sizeof(err));

		snprintf(want, sizeof(want), "bad json at byte %zu: %s",
			 bads[i].at, bads[i].why);
		if (d || strcmp(err, want) != 0)
			print_error("doc %zu '%s': got '%s'\n", i, bads[i].doc,
				    d ? "(parsed)" : err);
		assert_null(d);
		assert_string_equal(err, want);
	}
}

static void test_depth_bound(void **state)
{
	char buf[2 * (JSON_MAX_DEPTH + 1) + 1], err[128];
	json_t *d;
	int n = JSON_MAX_DEPTH;

	memset(buf, '[', (size_t)n);
	memset(buf + n, ']', (size_t)n);
	buf[2 * n] = '\0';
	d = parse(buf, err, sizeof(err));
	assert_non_null(d);
	json_free(d);
	n++;
	memset(buf, '[', (size_t)n);
	memset(buf + n, ']', (size_t)n);
	buf[2 * n] = '\0';
	assert_null(parse(buf, err, sizeof(err)));
	assert_non_null(strstr(err, "nested too deep"));
}

/* Random bytes and every truncation of a valid document: no crash, and
 * every failure leaves an error line. Run under SAN=address for leaks. */
static void test_random_never_crash(void **state)
{
	static const char ok[] = "{\"a\":[1,2.5,{\"b\":\"c\\u00e9\"}],"
				 "\"d\":true,\"e\":null}";
	static const char alpha[] = "{}[],:\"\\u0123456789-+.eEtrufalsn \t";
	char buf[256], err[128];

	srand(42);
	for (size_t cut = 0; cut < sizeof(ok) - 1; cut++) {
		err[0] = '\0';
		assert_null(json_parse(ok, cut, err, sizeof(err)));
		assert_int_equal(strncmp(err, "bad json at byte ", 17), 0);
	}
	for (int iter = 0; iter < 20000; iter++) {
		size_t len = (size_t)(rand() % (int)sizeof(buf));
		json_t *d;

		for (size_t i = 0; i < len; i++)
			buf[i] = iter & 1 ? (char)(rand() & 0xff) :
					    alpha[rand() % (sizeof(alpha) - 1)];
		err[0] = '\0';
		d = json_parse(buf, len, err, sizeof(err));
		if (!d)
			assert_int_equal(strncmp(err, "bad json", 8), 0);
		json_free(d);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_valid_doc),
		cmocka_unit_test(test_scalars),
		cmocka_unit_test(test_malformed),
		cmocka_unit_test(test_depth_bound),
		cmocka_unit_test(test_random_never_crash),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
