/* Unit tests for common/config.c: defaults, flags, files, environment,
 * precedence, cfg_show/cfg_help output and ownership of strings. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/config.h"

typedef struct core_opts {
	int vcpus;
	int count;
	bool strict;
	char *root;
	int pin;       /* pin_names */
	int log_level; /* level_names */
	char *stats;
	char *label;
	size_t mem;
} core_opts_t;

typedef struct net_opts {
	int count;
	bool fast;
} net_opts_t;

static core_opts_t core;
static net_opts_t net;

static const char *const pin_names[] = { "auto", "none", NULL };
static const char *const level_names[] = { "error", "warn", "info",
					   "debug", "trace", NULL };

static const cfg_field_t core_fields[] = {
	{ "vcpus", "auto", "vcpus", offsetof(core_opts_t, vcpus), CFG_INT,
	  "auto", 'v', NULL, NULL },
	{ "count", "3", "a plain int", offsetof(core_opts_t, count), CFG_INT,
	  NULL, 0, NULL, NULL },
	{ "strict", "false", "stop on errors", offsetof(core_opts_t, strict),
	  CFG_BOOL, NULL, 's', NULL, NULL },
	{ "root", ".", "root dir", offsetof(core_opts_t, root), CFG_STRING,
	  "DIR", 'r', NULL, NULL },
	{ "pin", "auto", "pinning", offsetof(core_opts_t, pin), CFG_ENUM,
	  NULL, 0, NULL, pin_names },
	{ "log-level", "warn", "log level", offsetof(core_opts_t, log_level),
	  CFG_ENUM, NULL, 0, NULL, level_names },
	{ "stats", NULL, "stats file", offsetof(core_opts_t, stats),
	  CFG_OPTSTR, NULL, 0, "-", NULL },
	{ "label", NULL, "a label", offsetof(core_opts_t, label), CFG_STRING,
	  NULL, 0, NULL, NULL },
	{ "mem", "64M", "memory", offsetof(core_opts_t, mem), CFG_SIZE, NULL,
	  'm', NULL, NULL },
	{ .name = NULL },
};

static const cfg_field_t net_fields[] = {
	{ "count", "7", "net count", offsetof(net_opts_t, count), CFG_INT,
	  NULL, 0, NULL, NULL },
	{ "fast", "yes", "fast path", offsetof(net_opts_t, fast), CFG_BOOL,
	  NULL, 0, NULL, NULL },
	{ .name = NULL },
};

static const cfg_table_t tables[] = {
	{ "core", core_fields, &core },
	{ "net", net_fields, &net },
	{ .module = NULL },
};

/* ---- helpers ------------------------------------------------------------- */

static int saved_stderr = -1;
static FILE *cap_file;
static char cap_buf[4096];

/* Sends fd 2 (where log_emit writes) to a temporary file. */
static void capture_begin(void)
{
	cap_file = tmpfile();
	assert_non_null(cap_file);
	saved_stderr = dup(STDERR_FILENO);
	assert_true(saved_stderr >= 0);
	assert_true(dup2(fileno(cap_file), STDERR_FILENO) >= 0);
}

/* Restores fd 2 and returns what was logged since capture_begin. */
static const char *capture_end(void)
{
	size_t n;

	dup2(saved_stderr, STDERR_FILENO);
	close(saved_stderr);
	rewind(cap_file);
	n = fread(cap_buf, 1, sizeof(cap_buf) - 1, cap_file);
	cap_buf[n] = '\0';
	fclose(cap_file);
	return cap_buf;
}

static int parse(int argc, char **argv, int *argi, const char **log)
{
	int st;

	capture_begin();
	st = cfg_parse_args(tables, argc, argv, argi);
	*log = capture_end();
	return st;
}

/* Writes text to a new temporary file; the caller unlinks it. */
static char *write_tmp(const char *text)
{
	static char path[64];
	int fd;

	strcpy(path, "/tmp/test_config.XXXXXX");
	fd = mkstemp(path);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
	close(fd);
	return path;
}

static int load_text(const char *text, const char **log)
{
	char *path = write_tmp(text);
	int st;

	capture_begin();
	st = cfg_load_file(tables, path);
	*log = capture_end();
	unlink(path);
	return st;
}

static int setup(void **state)
{
	(void)state;
	memset(&core, 0, sizeof(core));
	memset(&net, 0, sizeof(net));
	return cfg_defaults(tables) == CVMM_OK ? 0 : -1;
}

static int teardown(void **state)
{
	(void)state;
	cfg_free(tables);
	return 0;
}

#define ARGV(...) ((char *[]){ __VA_ARGS__, NULL })
#define ARGC(...) ((int)(sizeof((char *[]){ __VA_ARGS__ }) / sizeof(char *)))

/* ---- defaults and cfg_set ------------------------------------------------ */

static void test_defaults(void **state)
{
	(void)state;
	assert_int_equal(core.vcpus, -1);
	assert_int_equal(core.count, 3);
	assert_false(core.strict);
	assert_string_equal(core.root, ".");
	assert_string_equal(pin_names[core.pin], "auto");
	assert_string_equal(level_names[core.log_level], "warn");
	assert_null(core.stats);
	assert_null(core.label);
	assert_int_equal(core.mem, 64 << 20);
	assert_int_equal(net.count, 7);
	assert_true(net.fast);
}

static void test_defaults_twice(void **state)
{
	(void)state;
	assert_int_equal(cfg_set(tables, "root", "/x"), CVMM_OK);
	assert_int_equal(cfg_set(tables, "label", "l"), CVMM_OK);
	assert_int_equal(cfg_defaults(tables), CVMM_OK);
	assert_string_equal(core.root, ".");
	assert_null(core.label);
}

static void test_defaults_bad(void **state)
{
	static const cfg_field_t bad_fields[] = {
		{ "n", "lots", "bad", offsetof(net_opts_t, count), CFG_INT,
		  NULL, 0, NULL, NULL },
		{ "fast", "yes", "ok", offsetof(net_opts_t, fast), CFG_BOOL,
		  NULL, 0, NULL, NULL },
		{ .name = NULL },
	};
	const cfg_table_t bad[] = {
		{ "bad", bad_fields, &net },
		{ .module = NULL },
	};
	const char *log;
	int st;

	(void)state;
	net.fast = false;
	capture_begin();
	st = cfg_defaults(bad);
	log = capture_end();
	assert_int_equal(st, CVMM_ERR_INVALID);
	assert_non_null(strstr(log, "bad default 'lots' for bad.n"));
	assert_true(net.fast); /* the fields after it are still set */
}

static void test_set(void **state)
{
	const char *log;
	int st;

	(void)state;
	assert_int_equal(cfg_set(tables, "count", "5"), CVMM_OK);
	assert_int_equal(core.count, 5);
	assert_int_equal(cfg_set(tables, "net.count", "9"), CVMM_OK);
	assert_int_equal(net.count, 9);
	assert_int_equal(core.count, 5);
	assert_int_equal(cfg_set(tables, "core.log_level", "info"), CVMM_OK);
	assert_string_equal(level_names[core.log_level], "info");
	assert_int_equal(cfg_set(tables, "root", NULL), CVMM_OK);
	assert_null(core.root);

	capture_begin();
	st = cfg_set(tables, "nope", "1");
	log = capture_end();
	assert_int_equal(st, CVMM_ERR_NOT_FOUND);
	assert_non_null(strstr(log, "unknown setting nope"));

	capture_begin();
	st = cfg_set(tables, "core.pin", "sometimes");
	log = capture_end();
	assert_int_equal(st, CVMM_ERR_INVALID);
	assert_non_null(strstr(log, "bad value 'sometimes' for core.pin"));
	assert_string_equal(pin_names[core.pin], "auto");
}

/* ---- command line -------------------------------------------------------- */

static void test_args_long_forms(void **state)
{
	char **argv = ARGV("cvmm", "--vcpus=4", "--root", "/srv", "--pin=none",
			   "--log-level", "debug", "--mem", "2G", "--count=-5",
			   "--label=");
	int argc = ARGC("cvmm", "--vcpus=4", "--root", "/srv", "--pin=none",
			"--log-level", "debug", "--mem", "2G", "--count=-5",
			"--label=");
	const char *log;
	int argi = 1;

	(void)state;
	assert_int_equal(parse(argc, argv, &argi, &log), CVMM_OK);
	assert_int_equal(argi, argc);
	assert_int_equal(core.vcpus, 4);
	assert_string_equal(core.root, "/srv");
	assert_string_equal(pin_names[core.pin], "none");
	assert_string_equal(level_names[core.log_level], "debug");
	assert_int_equal(core.mem, (size_t)2 << 30);
	assert_int_equal(core.count, -5);
	assert_string_equal(core.label, "");
	assert_string_equal(log, "");
}

static void test_args_short(void **state)
{
	char **argv = ARGV("-v", "4", "-s", "-r/tmp", "-m1K");
	const char *log;
	int argi = 0;

	(void)state;
	assert_int_equal(parse(5, argv, &argi, &log), CVMM_OK);
	assert_int_equal(argi, 5);
	assert_int_equal(core.vcpus, 4);
	assert_true(core.strict);
	assert_string_equal(core.root, "/tmp");
	assert_int_equal(core.mem, 1024);

	argv = ARGV("-v8");
	argi = 0;
	assert_int_equal(parse(1, argv, &argi, &log), CVMM_OK);
	assert_int_equal(core.vcpus, 8);
}

static void test_args_dash_underscore(void **state)
{
	char **argv = ARGV("--log_level=trace", "--net.count", "11",
			   "--core.count=12");
	const char *log;
	int argi = 0;

	(void)state;
	assert_int_equal(parse(4, argv, &argi, &log), CVMM_OK);
	assert_string_equal(level_names[core.log_level], "trace");
	assert_int_equal(net.count, 11);
	assert_int_equal(core.count, 12);
}

static void test_args_bool(void **state)
{
	const char *log;
	int argi = 0;

	(void)state;
	assert_int_equal(parse(1, ARGV("--strict"), &argi, &log), CVMM_OK);
	assert_true(core.strict);
	argi = 0;
	assert_int_equal(parse(1, ARGV("--strict=no"), &argi, &log), CVMM_OK);
	assert_false(core.strict);
	argi = 0;
	assert_int_equal(parse(1, ARGV("--strict=ON"), &argi, &log), CVMM_OK);
	assert_true(core.strict);
	argi = 0;
	assert_int_equal(parse(1, ARGV("--no-strict"), &argi, &log), CVMM_OK);
	assert_false(core.strict);
	argi = 0;
	assert_int_equal(parse(1, ARGV("--no_fast"), &argi, &log), CVMM_OK);
	assert_false(net.fast);

	/* a bare bool does not take the next argument */
	argi = 0;
	assert_int_equal(parse(2, ARGV("--strict", "0"), &argi, &log),
			 CVMM_OK);
	assert_true(core.strict);
	assert_int_equal(argi, 1);

	argi = 0;
	assert_int_equal(parse(1, ARGV("--strict=maybe"), &argi, &log),
			 CVMM_ERR_INVALID);
	assert_non_null(strstr(log, "bad value 'maybe' for --strict: "));
	argi = 0;
	assert_int_equal(parse(1, ARGV("--no-strict=1"), &argi, &log),
			 CVMM_ERR_INVALID);
	assert_non_null(strstr(log, "option --no-strict takes no value"));
	argi = 0;
	assert_int_equal(parse(1, ARGV("--no-root"), &argi, &log),
			 CVMM_ERR_INVALID);
	assert_non_null(strstr(log, "unknown option --no-root"));
	argi = 0;
	assert_int_equal(parse(1, ARGV("--xx-strict"), &argi, &log),
			 CVMM_ERR_INVALID);
}

static void test_args_optstr(void **state)
{
	const char *log;
	int argi = 0;

	(void)state;
	assert_int_equal(parse(2, ARGV("--stats", "guest"), &argi, &log),
			 CVMM_OK);
	assert_string_equal(core.stats, "-");
	assert_int_equal(argi, 1); /* "guest" is not consumed */

	argi = 0;
	assert_int_equal(parse(1, ARGV("--stats=out.json"), &argi, &log),
			 CVMM_OK);
	assert_string_equal(core.stats, "out.json");

	argi = 0;
	assert_int_equal(parse(1, ARGV("--stats"), &argi, &log), CVMM_OK);
	assert_string_equal(core.stats, "-");
}

static void test_args_stop(void **state)
{
	const char *log;
	int argi = 1;

	(void)state;
	/* "--" is consumed */
	assert_int_equal(parse(5, ARGV("cvmm", "-v", "2", "--", "--vcpus=9"),
			       &argi, &log),
			 CVMM_OK);
	assert_int_equal(argi, 4);
	assert_int_equal(core.vcpus, 2);

	/* the first positional is not */
	argi = 1;
	assert_int_equal(parse(5, ARGV("cvmm", "--strict", "guest", "-v", "9"),
			       &argi, &log),
			 CVMM_OK);
	assert_int_equal(argi, 2);
	assert_true(core.strict);
	assert_int_equal(core.vcpus, 2);

	/* a lone "-" is a positional */
	argi = 0;
	assert_int_equal(parse(2, ARGV("-", "-v3"), &argi, &log), CVMM_OK);
	assert_int_equal(argi, 0);

	/* argc */
	argi = 0;
	assert_int_equal(parse(1, ARGV("-v3", "-v4"), &argi, &log), CVMM_OK);
	assert_int_equal(argi, 1);
	assert_int_equal(core.vcpus, 3);

	argi = 0;
	assert_int_equal(parse(0, ARGV("-v3"), &argi, &log), CVMM_OK);
	assert_int_equal(argi, 0);
}

static void test_args_unknown(void **state)
{
	const char *log;
	int argi = 0;

	(void)state;
	assert_int_equal(parse(3, ARGV("--strict", "--bogus=1", "x"), &argi,
			       &log),
			 CVMM_ERR_INVALID);
	assert_int_equal(argi, 1);
	assert_non_null(strstr(log, "unknown option --bogus\n"));
	assert_null(strchr(log, '='));

	argi = 0;
	assert_int_equal(parse(1, ARGV("-x"), &argi, &log), CVMM_ERR_INVALID);
	assert_non_null(strstr(log, "unknown option -x\n"));

	argi = 0;
	assert_int_equal(parse(1, ARGV("--core.bogus"), &argi, &log),
			 CVMM_ERR_INVALID);
	assert_non_null(strstr(log, "unknown option --core.bogus"));
}

static void test_args_missing_value(void **state)
{
	const char *log;
	int argi = 0;

	(void)state;
	assert_int_equal(parse(1, ARGV("--root"), &argi, &log),
			 CVMM_ERR_INVALID);
	assert_int_equal(argi, 0);
	assert_non_null(strstr(log, "option --root needs a value"));
	assert_string_equal(core.root, ".");

	argi = 0;
	assert_int_equal(parse(1, ARGV("-v"), &argi, &log), CVMM_ERR_INVALID);
	assert_non_null(strstr(log, "option --vcpus needs a value"));
}

static void test_args_bad_int(void **state)
{
	const char *log;
	int argi = 0;

	(void)state;
	assert_int_equal(parse(1, ARGV("--vcpus=x"), &argi, &log),
			 CVMM_ERR_INVALID);
	assert_non_null(strstr(log, "bad value 'x' for --vcpus: "));
	assert_int_equal(core.vcpus, -1);

	static const char *const bad[] = { "12x", "", " 4", "4 ", "0x10",
					   "--4", "+", "1.5" };
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		argi = 0;
		assert_int_equal(parse(2, ARGV("--vcpus", (char *)bad[i]),
				       &argi, &log),
				 CVMM_ERR_INVALID);
	}
	/* "auto" is only accepted where choices allow it */
	argi = 0;
	assert_int_equal(parse(1, ARGV("--count=auto"), &argi, &log),
			 CVMM_ERR_INVALID);
	assert_non_null(strstr(log, "bad value 'auto' for --count: "));
	assert_int_equal(core.count, 3);
}

static void test_args_int_range(void **state)
{
	const char *log;
	int argi = 0;

	(void)state;
	assert_int_equal(parse(1, ARGV("--count=2147483647"), &argi, &log),
			 CVMM_OK);
	assert_int_equal(core.count, 2147483647);
	argi = 0;
	assert_int_equal(parse(1, ARGV("--count=-2147483648"), &argi, &log),
			 CVMM_OK);
	assert_int_equal(core.count, -2147483647 - 1);
	argi = 0;
	assert_int_equal(parse(1, ARGV("--count=2147483648"), &argi, &log),
			 CVMM_ERR_INVALID);
	assert_non_null(strstr(log, "out of range"));
	argi = 0;
	assert_int_equal(parse(1, ARGV("--count=-2147483649"), &argi, &log),
			 CVMM_ERR_INVALID);
	argi = 0;
	assert_int_equal(parse(1, ARGV("--count=99999999999999999999999"),
			       &argi, &log),
			 CVMM_ERR_INVALID);
	assert_non_null(strstr(log, "out of range"));
}

static void test_args_auto(void **state)
{
	const char *log;
	int argi = 0;

	(void)state;
	assert_int_equal(parse(1, ARGV("-v6"), &argi, &log), CVMM_OK);
	assert_int_equal(core.vcpus, 6);
	argi = 0;
	assert_int_equal(parse(1, ARGV("--vcpus=auto"), &argi, &log), CVMM_OK);
	assert_int_equal(core.vcpus, -1);
}

static void test_args_enum_size(void **state)
{
	const char *log;
	int argi = 0;

	(void)state;
	assert_int_equal(parse(1, ARGV("--pin=some"), &argi, &log),
			 CVMM_ERR_INVALID);
	assert_non_null(strstr(log, "bad value 'some' for --pin: not one of "
				    "auto|none"));
	assert_string_equal(pin_names[core.pin], "auto");
	static const char *const bad_pin[] = { "autox", "non", "", "auto|none",
					       "AUTO" };
	for (size_t i = 0; i < sizeof(bad_pin) / sizeof(bad_pin[0]); i++) {
		argi = 0;
		assert_int_equal(parse(2, ARGV("--pin", (char *)bad_pin[i]),
				       &argi, &log),
				 CVMM_ERR_INVALID);
	}
	assert_string_equal(pin_names[core.pin], "auto");

	static const struct {
		const char *text;
		size_t val;
	} good[] = { { "0", 0 }, { "4096", 4096 }, { "4k", 4096 },
		     { "3M", (size_t)3 << 20 }, { "1g", (size_t)1 << 30 } };
	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		argi = 0;
		assert_int_equal(parse(2, ARGV("--mem", (char *)good[i].text),
				       &argi, &log),
				 CVMM_OK);
		assert_int_equal(core.mem, good[i].val);
	}
	static const char *const bad[] = { "", "K", "-1", "1T", "1KB", "1.5G",
					   "99999999999999999999G",
					   "99999999999999999999" };
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		argi = 0;
		assert_int_equal(parse(2, ARGV("--mem", (char *)bad[i]), &argi,
				       &log),
				 CVMM_ERR_INVALID);
	}
	assert_int_equal(core.mem, (size_t)1 << 30);
}

/* ---- files --------------------------------------------------------------- */

static void test_file_good(void **state)
{
	const char *text = "# a comment\n"
			   "\n"
			   "   \t\n"
			   "core.vcpus = 4\n"
			   "count=5   # trailing comment\n"
			   "net.count = 9\n"
			   "  root  =  \"/with space # not a comment\"  # c\n"
			   "log_level = info\r\n"
			   "core.strict = yes\n"
			   "label = a#b\n"
			   "stats = \"\"\n"
			   "mem = 16M";
	const char *log;

	(void)state;
	assert_int_equal(load_text(text, &log), CVMM_OK);
	assert_string_equal(log, "");
	assert_int_equal(core.vcpus, 4);
	assert_int_equal(core.count, 5);
	assert_int_equal(net.count, 9);
	assert_string_equal(core.root, "/with space # not a comment");
	assert_string_equal(level_names[core.log_level], "info");
	assert_true(core.strict);
	assert_string_equal(core.label, "a#b");
	assert_string_equal(core.stats, "");
	assert_int_equal(core.mem, 16 << 20);
}

static void test_file_empty_value(void **state)
{
	const char *log;

	(void)state;
	assert_int_equal(cfg_set(tables, "stats", "x"), CVMM_OK);
	assert_int_equal(cfg_set(tables, "label", "x"), CVMM_OK);
	assert_int_equal(load_text("stats =\nroot = # unset\nlabel=#c\n", &log),
			 CVMM_OK);
	assert_null(core.stats);
	assert_null(core.root);
	assert_null(core.label);
	assert_int_equal(load_text("count =\n", &log), CVMM_ERR_INVALID);
	assert_int_equal(core.count, 3);
}

static void test_file_bad_lines(void **state)
{
	const char *text = "vcpus = 2\n"
			   "just words\n"
			   "core.nope = 1\n"
			   "count = many\n"
			   "root = \"open\n"
			   "label = \"x\" y\n"
			   "pin = none\n";
	char *path = write_tmp(text);
	char want[128];
	const char *log;
	int st;

	(void)state;
	capture_begin();
	st = cfg_load_file(tables, path);
	log = capture_end();
	assert_int_equal(st, CVMM_ERR_INVALID);
	snprintf(want, sizeof(want), "%s:2: expected a setting", path);
	assert_non_null(strstr(log, want));
	snprintf(want, sizeof(want), "%s:3: unknown setting 'core.nope'", path);
	assert_non_null(strstr(log, want));
	snprintf(want, sizeof(want),
		 "%s:4: bad value 'many' for core.count: ", path);
	assert_non_null(strstr(log, want));
	snprintf(want, sizeof(want), "%s:5: unterminated quote", path);
	assert_non_null(strstr(log, want));
	snprintf(want, sizeof(want), "%s:6: text after the closing quote",
		 path);
	assert_non_null(strstr(log, want));
	unlink(path);
	/* the good lines around the bad ones still apply */
	assert_int_equal(core.vcpus, 2);
	assert_string_equal(pin_names[core.pin], "none");
	assert_int_equal(core.count, 3);
	assert_string_equal(core.root, ".");
}

static void test_file_missing(void **state)
{
	const char *log;
	int st;

	(void)state;
	capture_begin();
	st = cfg_load_file(tables, "/nonexistent/cvmm-test.conf");
	log = capture_end();
	assert_int_equal(st, CVMM_ERR_NOT_FOUND);
	assert_string_equal(log, "");
}

/* ---- environment --------------------------------------------------------- */

static void test_env(void **state)
{
	char *envp[] = { "PATH=/bin",
			 "CVMM_CORE_VCPUS=4",
			 "CVMM_CORE_LOG_LEVEL=debug",
			 "CVMM_CORE_STRICT=true",
			 "CVMM_NET_COUNT=9",
			 "CVMM_CORE_VCPUS_X=7",
			 "CVMM_CORE_MEM",
			 "CVMM_CORE_VCPUS=5",
			 "cvmm_core_count=8",
			 NULL };

	(void)state;
	assert_int_equal(cfg_load_env(tables, envp), CVMM_OK);
	assert_int_equal(core.vcpus, 4); /* the first wins */
	assert_string_equal(level_names[core.log_level], "debug");
	assert_true(core.strict);
	assert_int_equal(net.count, 9);
	assert_int_equal(core.count, 3);
	assert_int_equal(core.mem, 64 << 20);
	assert_int_equal(cfg_load_env(tables, NULL), CVMM_OK);
}

static void test_env_bad(void **state)
{
	char *envp[] = { "CVMM_CORE_COUNT=x", "CVMM_CORE_PIN=none", NULL };
	const char *log;
	int st;

	(void)state;
	capture_begin();
	st = cfg_load_env(tables, envp);
	log = capture_end();
	assert_int_equal(st, CVMM_ERR_INVALID);
	assert_non_null(strstr(log, "bad value 'x' for CVMM_CORE_COUNT: "));
	assert_string_equal(pin_names[core.pin], "none");
}

/* ---- precedence: default < file < env < args ----------------------------- */

static void test_precedence(void **state)
{
	char *envp[] = { "CVMM_CORE_VCPUS=3", "CVMM_CORE_ROOT=/env", NULL };
	const char *log;
	int argi = 0;

	(void)state;
	assert_int_equal(load_text("vcpus = 2\nroot = /file\ncount = 5\n",
				   &log),
			 CVMM_OK);
	assert_int_equal(cfg_load_env(tables, envp), CVMM_OK);
	assert_int_equal(parse(1, ARGV("--vcpus=4"), &argi, &log), CVMM_OK);
	assert_int_equal(core.vcpus, 4);
	assert_string_equal(core.root, "/env");
	assert_int_equal(core.count, 5);
	assert_string_equal(pin_names[core.pin], "auto");
}

/* ---- output -------------------------------------------------------------- */

static char *show(void)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *out = open_memstream(&buf, &len);

	assert_non_null(out);
	cfg_show(tables, out);
	fclose(out);
	return buf;
}

static void test_show(void **state)
{
	char *buf;

	(void)state;
	assert_int_equal(cfg_set(tables, "label", "two words # x"), CVMM_OK);
	assert_int_equal(cfg_set(tables, "mem", "1536K"), CVMM_OK);
	buf = show();
	for (const cfg_table_t *t = tables; t->module; t++) {
		for (const cfg_field_t *f = t->fields; f->name; f++) {
			char name[64];

			snprintf(name, sizeof(name), "%s.%s = ", t->module,
				 f->name);
			assert_non_null(strstr(buf, name));
			assert_non_null(strstr(buf, f->doc));
		}
	}
	assert_non_null(strstr(buf, "core.vcpus = auto "));
	assert_non_null(strstr(buf, "core.count = 3 "));
	assert_non_null(strstr(buf, "core.root = . "));
	assert_non_null(strstr(buf, "core.strict = false "));
	assert_non_null(strstr(buf, "core.log-level = warn "));
	assert_non_null(strstr(buf, "core.label = \"two words # x\" "));
	assert_non_null(strstr(buf, "core.mem = 1536K "));
	assert_non_null(strstr(buf, "net.fast = true "));
	assert_non_null(strstr(buf, "# vcpus (default: auto)\n"));
	assert_non_null(strstr(buf, "# stats file (default: unset)\n"));
	/* aligned: every '#' starts in the same column */
	long col = strstr(buf, "  # ") - buf;
	for (char *line = buf; *line; line = strchr(line, '\n') + 1)
		assert_int_equal(strstr(line, "  # ") - line, col);
	free(buf);
}

static void test_show_roundtrip(void **state)
{
	char *before, *after, *path;
	const char *log;

	(void)state;
	assert_int_equal(cfg_set(tables, "label", " padded "), CVMM_OK);
	assert_int_equal(cfg_set(tables, "stats", ""), CVMM_OK);
	assert_int_equal(cfg_set(tables, "vcpus", "12"), CVMM_OK);
	assert_int_equal(cfg_set(tables, "net.fast", "off"), CVMM_OK);
	before = show();
	path = write_tmp(before);
	assert_int_equal(cfg_defaults(tables), CVMM_OK);
	capture_begin();
	assert_int_equal(cfg_load_file(tables, path), CVMM_OK);
	log = capture_end();
	unlink(path);
	assert_string_equal(log, "");
	after = show();
	assert_string_equal(before, after);
	assert_string_equal(core.label, " padded ");
	free(before);
	free(after);
}

static void test_help(void **state)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *out = open_memstream(&buf, &len);

	(void)state;
	assert_non_null(out);
	cfg_help(tables, out);
	fclose(out);
	assert_non_null(strstr(buf, "  -v, --vcpus N "));
	assert_non_null(strstr(buf, "      --count N "));
	assert_non_null(strstr(buf, "  -s, --[no-]strict "));
	assert_non_null(strstr(buf, "  -r, --root DIR "));
	assert_non_null(strstr(buf, "      --pin auto|none "));
	assert_non_null(strstr(buf, "      --stats[=FILE] "));
	assert_non_null(strstr(buf, "  -m, --mem SIZE "));
	assert_non_null(strstr(buf, "      --label STR "));
	assert_non_null(strstr(buf, "vcpus (default: auto)\n"));
	assert_non_null(strstr(buf, "stats file\n"));
	free(buf);
}

/* ---- ownership ----------------------------------------------------------- */

static void test_free_strings(void **state)
{
	const char *log;
	int argi = 0;

	(void)state;
	/* overwrite every string a few times; valgrind checks nothing leaks */
	for (int i = 0; i < 3; i++) {
		argi = 0;
		assert_int_equal(parse(4, ARGV("--root=/a", "--stats",
					       "--pin=none", "--label=l"),
				       &argi, &log),
				 CVMM_OK);
	}
	cfg_free(tables);
	assert_null(core.root);
	assert_null(core.stats);
	assert_null(core.label);
	cfg_free(tables); /* twice is harmless; teardown frees again */
}

#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)

int main(void)
{
	const struct CMUnitTest tests[] = {
		T(test_defaults),	    T(test_defaults_twice),
		T(test_defaults_bad),	    T(test_set),
		T(test_args_long_forms),    T(test_args_short),
		T(test_args_dash_underscore), T(test_args_bool),
		T(test_args_optstr),	    T(test_args_stop),
		T(test_args_unknown),	    T(test_args_missing_value),
		T(test_args_bad_int),	    T(test_args_int_range),
		T(test_args_auto),	    T(test_args_enum_size),
		T(test_file_good),	    T(test_file_empty_value),
		T(test_file_bad_lines),	    T(test_file_missing),
		T(test_env),		    T(test_env_bad),
		T(test_precedence),	    T(test_show),
		T(test_show_roundtrip),	    T(test_help),
		T(test_free_strings),
	};

	cmocka_set_test_filter(getenv("CVMM_TEST_FILTER"));
	return cmocka_run_group_tests(tests, NULL, NULL);
}
