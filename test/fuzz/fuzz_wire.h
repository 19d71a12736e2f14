/* fuzz_wire: one libFuzzer target for every wire decoder. The first input
 * byte selects a decoder from the table in fuzz_wire.c; the rest is that
 * decoder's input (its own control bytes, then the message as a peer sent
 * it). Each decoder lives in test/fuzz/fuzz_wire_<name>.c and defines one
 * fuzz_wire_target_t. */
#ifndef CVMM_TEST_FUZZ_WIRE_H
#define CVMM_TEST_FUZZ_WIRE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Fails the run (libFuzzer saves the input) when c is false. */
#define FUZZ_CHECK(c)                                                         \
	do {                                                                  \
		if (!(c))                                                     \
			__builtin_trap();                                     \
	} while (0)

typedef struct fuzz_wire_target {
	const char *name; /* seed file names: <index>-<name>-<k> */
	/* Decodes data[size] (the selector byte removed) and checks what the
	 * decoder said with FUZZ_CHECK; true when it accepted the input. */
	bool (*run)(const uint8_t *data, size_t size);
	/* Writes seed number k (a valid input for run, built with the
	 * format's own encoder) into buf[cap]; returns its length, 0 once
	 * there are no more. */
	size_t (*seed)(unsigned k, uint8_t *buf, size_t cap);
} fuzz_wire_target_t;

/* The decoders (one fuzz_wire_<name>.c each). */
extern const fuzz_wire_target_t fuzz_wire_xp;
extern const fuzz_wire_target_t fuzz_wire_coh;
extern const fuzz_wire_target_t fuzz_wire_dfx;
extern const fuzz_wire_target_t fuzz_wire_boot;
extern const fuzz_wire_target_t fuzz_wire_node;
extern const fuzz_wire_target_t fuzz_wire_rc;
extern const fuzz_wire_target_t fuzz_wire_join;

/* The table, indexed by the selector byte (fuzz_wire.c). */
extern const fuzz_wire_target_t *const fuzz_wire_targets[];
extern const size_t fuzz_wire_ntargets;

/* True when why[len] holds a non-empty NUL-terminated reason. */
bool fuzz_wire_why_ok(const char *why, size_t len);

#endif
