/* libFuzzer target for every wire decoder between agents: the first input
 * byte picks the decoder from the table below, the rest is its input.
 * Besides the sanitizers' checks, each decoder's fuzz_wire_<name>.c checks
 * what a receiver relies on: only the documented statuses, a reason with
 * every refusal, outputs untouched on refusal, and an accepted message that
 * obeys every rule and encodes back to the same bytes. */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "fuzz_wire.h"

/* The decoders, by the first input byte. To add one: write
 * test/fuzz/fuzz_wire_<name>.c defining fuzz_wire_<name> (fuzz_wire.h
 * declares it), add one line here, and one line in fuzz.mk's
 * FUZZ_WIRE_SRCS with that file and the decoder's source. Append only: an
 * entry's index is the selector byte of its saved seeds and corpus. */
const fuzz_wire_target_t *const fuzz_wire_targets[] = {
	&fuzz_wire_xp,   /* 0: transport header, rdma/xp_wire.c */
	&fuzz_wire_coh,  /* 1: coherence message, coherence/proto_wire.c */
	&fuzz_wire_dfx,  /* 2: futex message, coherence/dfutex.c */
	&fuzz_wire_boot, /* 3: bootstrap stream, rdma/boot_sock.c */
	&fuzz_wire_node, /* 4: node services, node/node_wire.c */
	&fuzz_wire_rc,   /* 5: release model message, coherence/rc.c */
	&fuzz_wire_join, /* 6: join conversation blobs, node/join_wire.c */
};

const size_t fuzz_wire_ntargets =
	sizeof(fuzz_wire_targets) / sizeof(fuzz_wire_targets[0]);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

bool fuzz_wire_why_ok(const char *why, size_t len)
{
	return len > 0 && why[0] != '\0' && memchr(why, '\0', len) != NULL;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1 || data[0] >= fuzz_wire_ntargets)
		return 0;
	fuzz_wire_targets[data[0]]->run(data + 1, size - 1);
	return 0;
}
