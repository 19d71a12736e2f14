/* Unit tests of the JSON path (common/json.c on jansson): valid documents
 * and the accessors, malformed input answered with one line that says
 * where, the nesting and size bounds, random bytes and truncations that
 * must never crash, and documents written by jdoc_write read back equal. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/json.h"

static json_t *parse(const char *s, char *err, size_t errlen)
{
	return jdoc_parse(s, strlen(s), err, errlen);
}

/* One line of printable ASCII: what "cvmm report" prints after the path. */
static void assert_one_line(const char *err)
{
	for (const char *p = err; *p; p++)
		if (*p < 0x20 || *p > 0x7e)
			fail_msg("byte 0x%02x in error '%s'", (unsigned char)*p,
				 err);
}

static void test_valid_doc(void **state)
{
	const char *s = " {\"a\": [1, -2.5e3, true, false, null], "
			"\"s\": \"x\\\"y\\\\z\\n\\u00e9\\ud83d\\ude00\", "
			"\"o\": {}, \"e\": [], \"big\": 140737488355328}\n";
	char err[JDOC_ERR_LEN];
	json_t *d = parse(s, err, sizeof(err));
	const json_t *a;

	assert_non_null(d);
	assert_true(json_is_object(d));
	assert_int_equal(json_object_size(d), 5);
	a = json_object_get(d, "a");
	assert_int_equal(json_array_size(a), 5);
	assert_true(jdoc_num(json_array_get(a, 0), 0) == 1);
	assert_true(jdoc_num(json_array_get(a, 1), 0) == -2500);
	assert_true(json_is_true(json_array_get(a, 2)));
	assert_false(json_is_true(json_array_get(a, 3)));
	assert_true(json_is_null(json_array_get(a, 4)));
	assert_null(json_array_get(a, 5));
	assert_string_equal(json_string_value(json_object_get(d, "s")),
			    "x\"y\\z\n\xc3\xa9\xf0\x9f\x98\x80");
	assert_int_equal(json_object_size(json_object_get(d, "o")), 0);
	assert_true(json_is_array(json_object_get(d, "e")));
	assert_true(jdoc_u64(json_object_get(d, "big"), 0) ==
		    0x800000000000ULL);
	assert_null(json_object_get(d, "missing"));
	assert_true(jdoc_num(json_object_get(d, "s"), 7) == 7);
	json_decref(d);
}

static void test_accessors(void **state)
{
	json_t *d = json_pack("[f, f, I, f, I, s, n]", 3.9, -1e300,
			      (json_int_t)INT64_MIN, 1e30, (json_int_t)-5, "x");

	assert_non_null(d);
	assert_int_equal(jdoc_int(json_array_get(d, 0), 0), 3);
	assert_int_equal(jdoc_int(json_array_get(d, 1), 0), INT32_MIN);
	assert_int_equal(jdoc_int(json_array_get(d, 2), 0), INT32_MIN);
	assert_int_equal(jdoc_int(json_array_get(d, 3), 0), INT32_MAX);
	assert_true(jdoc_u64(json_array_get(d, 3), 0) == UINT64_MAX);
	assert_true(jdoc_u64(json_array_get(d, 4), 9) == 0);
	assert_true(jdoc_u64(json_array_get(d, 1), 9) == 0);
	assert_int_equal(jdoc_int(json_array_get(d, 5), 7), 7);
	assert_true(jdoc_u64(json_array_get(d, 6), 9) == 9);
	assert_true(jdoc_u64(NULL, 9) == 9);
	assert_true(jdoc_num(NULL, 2.5) == 2.5);
	json_decref(d);
}

/* Where jansson stops and a word of its reason; the full line is
 * "bad json at line L column C (byte B): reason near 'token'". */
static const struct bad {
	const char *doc;
	const char *where;
	const char *why;
} bads[] = {
	{ "", "line 1 column 0 (byte 0)", "expected" },
	{ "   ", "line 1 column 3 (byte 3)", "expected" },
	{ "{", "line 1 column 1 (byte 1)", "string or '}' expected" },
	{ "{\"a\" 1}", "line 1 column 6 (byte 6)", "':' expected" },
	{ "{\"a\":1 \"b\":2}", "line 1 column 10", "'}' expected" },
	{ "[1 2]", "line 1 column 4", "']' expected" },
	{ "[1,]", "line 1 column 4", "unexpected token" },
	{ "{\"a\":1,}", "line 1 column 8", "string or '}' expected" },
	{ "{1:2}", "line 1 column 2", "string or '}' expected" },
	{ "[01]", "line 1 column 2", "invalid token" },
	{ "[-]", "line 1 column 2", "invalid token" },
	{ "[1.]", "line 1 column 3", "invalid token" },
	{ "[1e+]", "line 1 column 4", "invalid token" },
	{ "[tru]", "line 1 column 4", "invalid token" },
	{ "[\"abc", "line 1 column 5", "premature end of input" },
	{ "[\"a\\x\"]", "line 1 column 5", "invalid escape" },
	{ "[\"\\u12g4\"]", "line 1 column 7", "invalid escape" },
	{ "[\"\\u0000\"]", "line 1 column 9", "\\u0000 is not allowed" },
	{ "[\"\\ud800\"]", "line 1 column 9", "invalid Unicode" },
	{ "[\"\\udc00\"]", "line 1 column 9", "invalid Unicode" },
	{ "[\"a\tb\"]", "line 1 column 3", "control character 0x9" },
	{ "[\"abc\ndef\"]", "line 1 column 5", "unexpected newline" },
	{ "[\"\xff\"]", "line 1 column 2", "unable to decode byte 0xff" },
	{ "{} x", "line 1 column 4", "end of file expected" },
	{ "[1]\n\n  ]", "line 3 column 3 (byte 8)", "end of file expected" },
	{ "@", "line 1 column 1", "'[' or '{' expected" },
	{ "{\"a\":1,\"a\":2}", "line 1 column 10", "duplicate object key" },
	{ "[99999999999999999999]", "line 1 column 21", "too big integer" },
	{ "{\"per_vcpu\": [}", "line 1 column 15", "unexpected token" },
};

static void test_malformed(void **state)
{
	for (size_t i = 0; i < sizeof(bads) / sizeof(bads[0]); i++) {
		char err[JDOC_ERR_LEN], want[128];
		json_t *d = parse(bads[i].doc, err, sizeof(err));

		snprintf(want, sizeof(want), "bad json at %s", bads[i].where);
		if (d || strncmp(err, want, strlen(want)) != 0 ||
		    !strstr(err, bads[i].why))
			fail_msg("doc %zu '%s': got '%s', want '%s' and '%s'",
				 i, bads[i].doc, d ? "(parsed)" : err, want,
				 bads[i].why);
		assert_one_line(err);
	}
}

static char *nested(int depth)
{
	char *buf = malloc(2 * (size_t)depth + 1);

	assert_non_null(buf);
	memset(buf, '[', (size_t)depth);
	memset(buf + depth, ']', (size_t)depth);
	buf[2 * depth] = '\0';
	return buf;
}

/* jansson's bound (JSON_PARSER_MAX_DEPTH) is the only one: a document at
 * it parses, one level more is refused with a line, not a stack overflow. */
static void test_depth_bound(void **state)
{
	char err[JDOC_ERR_LEN], *ok = nested(JSON_PARSER_MAX_DEPTH);
	char *deep = nested(JSON_PARSER_MAX_DEPTH + 1), *huge = nested(1 << 20);
	json_t *d = parse(ok, err, sizeof(err));

	assert_non_null(d);
	json_decref(d);
	assert_null(parse(deep, err, sizeof(err)));
	assert_non_null(strstr(err, "maximum parsing depth reached"));
	assert_null(parse(huge, err, sizeof(err)));
	assert_non_null(strstr(err, "maximum parsing depth reached"));
	free(ok);
	free(deep);
	free(huge);
}

static char *tmp_path(void)
{
	char *path = strdup("/tmp/cvmm_json_XXXXXX");
	int fd = mkstemp(path);

	assert_true(fd >= 0);
	close(fd);
	return path;
}

/* Over JDOC_MAX_LEN: refused before reading (a sparse file, a buffer whose
 * length alone is too large). */
static void test_size_bound(void **state)
{
	char err[JDOC_ERR_LEN], *path = tmp_path();

	assert_int_equal(truncate(path, JDOC_MAX_LEN + 1), 0);
	assert_null(jdoc_load(path, err, sizeof(err)));
	assert_string_equal(err, "too large: 67108865 bytes, the limit is 64 "
				 "MiB");
	assert_null(jdoc_parse("[]", JDOC_MAX_LEN + 1, err, sizeof(err)));
	assert_non_null(strstr(err, "too large"));
	assert_int_equal(truncate(path, 0), 0);
	assert_null(jdoc_load(path, err, sizeof(err)));
	assert_non_null(strstr(err, "bad json at line 1 column 0"));
	unlink(path);
	assert_null(jdoc_load(path, err, sizeof(err)));
	assert_string_equal(err, "cannot read: No such file or directory");
	free(path);
}

/* Random bytes and every truncation of a valid document: no crash, and
 * every failure leaves one error line. Run under SAN=address for leaks. */
static void test_random_never_crash(void **state)
{
	static const char ok[] = "{\"a\":[1,2.5,{\"b\":\"c\\u00e9\"}],"
				 "\"d\":true,\"e\":null}";
	static const char alpha[] = "{}[],:\"\\u0123456789-+.eEtrufalsn \t\n";
	char buf[256], err[JDOC_ERR_LEN];

	srand(42);
	for (size_t cut = 0; cut < sizeof(ok) - 1; cut++) {
		err[0] = '\0';
		assert_null(jdoc_parse(ok, cut, err, sizeof(err)));
		assert_int_equal(strncmp(err, "bad json at line 1 ", 19), 0);
	}
	for (int iter = 0; iter < 20000; iter++) {
		size_t len = (size_t)(rand() % (int)sizeof(buf));
		json_t *d;

		for (size_t i = 0; i < len; i++)
			buf[i] = iter & 1 ? (char)(rand() & 0xff) :
					    alpha[rand() % (sizeof(alpha) - 1)];
		err[0] = '\0';
		d = jdoc_parse(buf, len, err, sizeof(err));
		if (!d) {
			assert_int_equal(strncmp(err, "bad json at ", 12), 0);
			assert_one_line(err);
		}
		json_decref(d);
	}
}

/* Every kind of value the writers use, with strings that need escapes. */
static json_t *sample_doc(void)
{
	json_t *trace = json_array();

	for (int i = 0; i < 1000; i++)
		trace = jdoc_push(trace, json_pack("[f, I, i, s]", i / 1e6,
						   (json_int_t)0x7fffdeadb000,
						   i % 4, i & 1 ? "w" : "r"));
	return json_pack("{s:i, s:o, s:s, s:s, s:f, s:f, s:f, s:I, s:b, "
			 "s:n, s:o, s:{}, s:[], s:o}",
			 "version", 1,
			 "exe", jdoc_str("/tmp/a \"b\"\\c\x01\t\xc3\xa9\xff"),
			 "ctl", "\x1f\x7f</script>",
			 "uni", "\xf0\x9f\x98\x80",
			 "wall_s", 1234.567891, "tiny", 7.9e-05, "zero", 0.0,
			 "big", (json_int_t)INT64_MAX,
			 "yes", 1, "none",
			 "null_str", jdoc_str(NULL), "o", "a",
			 "fault_trace", trace);
}

static json_t *write_read(const json_t *doc, jdoc_layout_t layout,
			  char **text)
{
	char err[JDOC_ERR_LEN], *path = tmp_path();
	FILE *f = fopen(path, "w");
	json_t *back;

	assert_non_null(f);
	assert_int_equal(jdoc_write(doc, f, layout), CVMM_OK);
	assert_int_equal(fclose(f), 0);
	back = jdoc_load(path, err, sizeof(err));
	if (!back)
		fail_msg("%s", err);
	f = fopen(path, "r");
	*text = calloc(1, 1 << 20);
	assert_true(fread(*text, 1, (1 << 20) - 1, f) > 0);
	fclose(f);
	unlink(path);
	free(path);
	return back;
}

static void test_round_trip(void **state)
{
	json_t *doc = sample_doc(), *back;
	char *text, *nl;

	assert_non_null(doc);
	assert_string_equal(json_string_value(json_object_get(doc, "exe")),
			    "/tmp/a \"b\"\\c\x01\t??\?");
	back = write_read(doc, JDOC_INDENT, &text);
	assert_true(json_equal(doc, back));
	assert_non_null(strstr(text, "\n  \"version\": 1,\n"));
	assert_non_null(strstr(text, "\"wall_s\": 1234.567891,"));
	assert_non_null(strstr(text, "\"zero\": 0.0,"));
	assert_non_null(strstr(text, "\\\"b\\\"\\\\c\\u0001\\t"));
	json_decref(back);
	free(text);
	back = write_read(doc, JDOC_LINE, &text);
	assert_true(json_equal(doc, back));
	nl = strchr(text, '\n');
	assert_non_null(nl);
	assert_string_equal(nl, "\n");
	json_decref(back);
	free(text);
	json_decref(doc);
}

/* A failed step ends the whole build NULL, and writing NULL is an error;
 * nothing leaks (SAN=address). */
static void test_sticky_failure(void **state)
{
	json_t *a = jdoc_push(json_array(), json_integer(1));

	assert_non_null(a);
	assert_null(jdoc_push(a, NULL));
	assert_null(jdoc_push(NULL, json_integer(2)));
	assert_null(jdoc_set(json_object(), "k", NULL));
	assert_null(jdoc_set(NULL, "k", json_integer(3)));
	assert_null(jdoc_set(json_array(), "k", json_integer(4)));
	assert_int_equal(jdoc_write(NULL, stdout, JDOC_LINE), CVMM_ERR_NOMEM);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_valid_doc),
		cmocka_unit_test(test_accessors),
		cmocka_unit_test(test_malformed),
		cmocka_unit_test(test_depth_bound),
		cmocka_unit_test(test_size_bound),
		cmocka_unit_test(test_random_never_crash),
		cmocka_unit_test(test_round_trip),
		cmocka_unit_test(test_sticky_failure),
	};

	cmocka_set_test_filter(getenv("CVMM_TEST_FILTER"));
	return cmocka_run_group_tests(tests, NULL, NULL);
}
