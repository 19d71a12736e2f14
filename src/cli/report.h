/* "cvmm report FILE.json [-o report.html]": reads a --stats JSON file and
 * prints a terminal summary; with -o also writes a self-contained HTML page
 * (inline SVG charts, no scripts, no network). See docs/performance.md. */
#ifndef CVMM_CLI_REPORT_H
#define CVMM_CLI_REPORT_H

/* argv[0] is "report". Returns the process exit status: 0 on success, 1 on
 * a usage error, an unreadable, malformed or oversized file (one line on
 * stderr such as "cvmm: run.json: bad json at line 3 column 7 (byte 41):
 * '}' expected near '"vcpu"'"), or when the HTML cannot be written. Writes
 * the summary to stdout. */
int report_main(int argc, char **argv);

#endif
