# ---- fuzz: short bounded libFuzzer runs of the input parsers --------------
# Included by the top Makefile. `make fuzz` builds, with clang's fuzzer and
# sanitizers, and runs for FUZZ_SECONDS each:
#   fuzz-build/fuzz_elf   the ELF parser, seeded in fuzz-build/seeds from the
#                         built guests (when there are any) and two minimal
#                         generated ELF programs; new inputs go to
#                         fuzz-build/corpus, crashes to fuzz-build/.
#   fuzz-build/fuzz_wire  every wire decoder between agents, the first input
#                         byte choosing one from the table in fuzz_wire.c;
#                         seeded in fuzz-build/seeds-wire by
#                         fuzz-build/fuzz_wire_seeds (valid messages of each
#                         format, made by its own encoder); new inputs go to
#                         fuzz-build/corpus-wire, crashes to fuzz-build/wire-*.
FUZZ_CC      ?= clang
FUZZ_SECONDS ?= 20
FUZZ_DIR     := fuzz-build
FUZZ_CFLAGS  := -std=gnu11 -g -O1 -Isrc -D_GNU_SOURCE \
                -fsanitize=fuzzer,address,undefined \
                -fno-sanitize-recover=undefined
FUZZ_ARGS    ?=
FUZZ_SRCS    := test/fuzz/fuzz_elf.c test/fuzz/fuzz_stubs.c \
                src/core/loader.c src/common/log.c src/common/status.c
# One line per decoder: its fuzz_wire_<name>.c and the sources it needs.
FUZZ_WIRE_SRCS := test/fuzz/fuzz_wire.c \
                  test/fuzz/fuzz_wire_xp.c src/rdma/xp_wire.c \
                  test/fuzz/fuzz_wire_coh.c src/coherence/proto_wire.c \
                  test/fuzz/fuzz_wire_dfx.c src/coherence/dfutex.c \
                  test/fuzz/fuzz_wire_boot.c src/rdma/boot_sock.c \
                  test/fuzz/fuzz_wire_node.c src/node/node_wire.c \
                  test/fuzz/fuzz_wire_rc.c src/coherence/rc.c \
                  test/fuzz/fuzz_wire_join.c src/node/join_wire.c \
                  src/coherence/diff.c \
                  src/common/status.c src/common/log.c
FUZZ_WIRE_HDRS := test/fuzz/fuzz_wire.h \
                  $(wildcard src/common/*.h src/rdma/*.h src/coherence/*.h src/core/*.h \
                             src/node/*.h)
FUZZ_SEED_CFLAGS := $(filter-out -fsanitize=fuzzer%,$(FUZZ_CFLAGS)) \
                    -fsanitize=address,undefined
FUZZ_MIN_ASM := .globl _start\n_start: mov $$60, %%eax\n xor %%edi, %%edi\n syscall\n
FUZZ_MIN_LD  := -nostdlib -Wl,--build-id=none -Wl,-z,noseparate-code

.PHONY: fuzz fuzz-seeds

fuzz: $(FUZZ_DIR)/fuzz_elf $(FUZZ_DIR)/fuzz_wire fuzz-seeds
	@mkdir -p $(FUZZ_DIR)/corpus $(FUZZ_DIR)/corpus-wire
	$(FUZZ_DIR)/fuzz_elf -max_total_time=$(FUZZ_SECONDS) -timeout=10 \
	  -print_final_stats=1 -artifact_prefix=$(FUZZ_DIR)/ $(FUZZ_ARGS) \
	  $(FUZZ_DIR)/corpus $(FUZZ_DIR)/seeds
	$(FUZZ_DIR)/fuzz_wire -max_total_time=$(FUZZ_SECONDS) -timeout=10 \
	  -print_final_stats=1 -artifact_prefix=$(FUZZ_DIR)/wire- $(FUZZ_ARGS) \
	  $(FUZZ_DIR)/corpus-wire $(FUZZ_DIR)/seeds-wire

$(FUZZ_DIR)/fuzz_elf: $(FUZZ_SRCS) src/core/loader.h src/core/gmem.h \
		      src/core/vm.h src/common/log.h src/common/status.h
	@mkdir -p $(dir $@)
	$(FUZZ_CC) $(FUZZ_CFLAGS) -o $@ $(FUZZ_SRCS)

$(FUZZ_DIR)/fuzz_wire: $(FUZZ_WIRE_SRCS) $(FUZZ_WIRE_HDRS)
	@mkdir -p $(dir $@)
	$(FUZZ_CC) $(FUZZ_CFLAGS) -Itest/fuzz -o $@ $(FUZZ_WIRE_SRCS) -pthread

$(FUZZ_DIR)/fuzz_wire_seeds: test/fuzz/fuzz_wire_seeds.c $(FUZZ_WIRE_SRCS) \
			     $(FUZZ_WIRE_HDRS)
	@mkdir -p $(dir $@)
	$(FUZZ_CC) $(FUZZ_SEED_CFLAGS) -Itest/fuzz -o $@ \
	  test/fuzz/fuzz_wire_seeds.c $(FUZZ_WIRE_SRCS) -pthread

fuzz-seeds: $(FUZZ_DIR)/fuzz_wire_seeds
	@rm -rf $(FUZZ_DIR)/seeds-wire
	@mkdir -p $(FUZZ_DIR)/seeds $(FUZZ_DIR)/seeds-wire
	$(FUZZ_DIR)/fuzz_wire_seeds $(FUZZ_DIR)/seeds-wire
	@for f in $(BUILD)/guests/*; do \
	  [ -f "$$f" ] && cp "$$f" $(FUZZ_DIR)/seeds/; \
	done; true
	@printf '$(FUZZ_MIN_ASM)' | $(CC) -x assembler - -static $(FUZZ_MIN_LD) \
	  -o $(FUZZ_DIR)/seeds/min-static
	@printf '$(FUZZ_MIN_ASM)' | $(CC) -x assembler - -static-pie $(FUZZ_MIN_LD) \
	  -o $(FUZZ_DIR)/seeds/min-static-pie
