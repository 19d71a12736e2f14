/* Config tables (docs/design.md): each module declares {name, default, doc, offset,
 * type}. One table serves command-line flags (--name, --name=value,
 * --name value, and an optional one-letter short flag), config files
 * ("module.name = value" lines, '#' comments) and environment variables
 * (CVMM_<MODULE>_<NAME>, upper case, '-' -> '_').
 * Precedence, lowest first: default, config file, environment, command line. */
#ifndef CVMM_COMMON_CONFIG_H
#define CVMM_COMMON_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#include "common/status.h"

typedef enum cfg_type {
	CFG_INT,    /* int; decimal, or "auto" -> -1 when allowed by choices */
	CFG_BOOL,   /* bool; "1|0|yes|no|true|false|on|off"; a bare flag sets true */
	CFG_STRING, /* char * (malloc'ed, owned by the table; "" allowed) */
	CFG_ENUM,   /* int: the index of the value in names (the module's own
	             * NULL-terminated list of its enum's names) */
	CFG_OPTSTR, /* char *; a bare flag (--stats) sets optval, --stats=X sets X */
	CFG_SIZE,   /* size_t; accepts K, M, G suffixes (powers of 1024) */
} cfg_type_t;

typedef struct cfg_field {
	const char *name;    /* "vcpus": flag --vcpus, env CVMM_CORE_VCPUS */
	const char *dflt;    /* default as text; NULL means unset (NULL/0) */
	const char *doc;     /* one line for --show-config and --help */
	size_t offset;       /* offsetof() in the module's options struct */
	cfg_type_t type;
	const char *choices; /* CFG_INT: "auto" allowed; STRING/OPTSTR: metavar */
	char short_opt;      /* 'v' for -v N, or 0 */
	const char *optval;  /* CFG_OPTSTR: value of the bare flag */
	const char *const *names; /* CFG_ENUM: value i is names[i], NULL ends */
} cfg_field_t;

typedef struct cfg_table {
	const char *module;        /* "core" */
	const cfg_field_t *fields; /* terminated by a field with name NULL */
	void *base;                /* the options struct the offsets refer to */
} cfg_table_t;

/* Sets every field of every table (terminated by module NULL) to its default.
 * Returns CVMM_ERR_INVALID (and logs) if a default does not parse. */
cvmm_status_t cfg_defaults(const cfg_table_t *tables);

/* Sets one field by "module.name" or plain "name" (first match). */
cvmm_status_t cfg_set(const cfg_table_t *tables, const char *key,
		      const char *value);

/* Reads a config file. A missing file is CVMM_ERR_NOT_FOUND (not logged);
 * a bad line logs "FILE:LINE: reason" and returns CVMM_ERR_INVALID. */
cvmm_status_t cfg_load_file(const cfg_table_t *tables, const char *path);

/* Applies CVMM_<MODULE>_<NAME> variables from envp. */
cvmm_status_t cfg_load_env(const cfg_table_t *tables, char *const envp[]);

/* Parses flags from argv[*argi] on, stopping at "--" (consumed), at the
 * first non-flag argument, or at argc. Unknown flags and bad values log one
 * line and return CVMM_ERR_INVALID. *argi is left at the first unparsed
 * argument. "-h"/"--help" are not handled here. */
cvmm_status_t cfg_parse_args(const cfg_table_t *tables, int argc,
			     char *const argv[], int *argi);

/* Prints every setting: "module.name = value  # doc (default: X)". */
void cfg_show(const cfg_table_t *tables, FILE *out);

/* Prints the flags as help lines ("  -v, --vcpus N   doc"). */
void cfg_help(const cfg_table_t *tables, FILE *out);

/* Frees the strings owned by the tables. */
void cfg_free(const cfg_table_t *tables);

#endif
