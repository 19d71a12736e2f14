# ---- fuzz: short bounded libFuzzer runs of the input parsers --------------
# Included by the top Makefile. `make fuzz` builds, with clang's fuzzer and
# sanitizers, and runs for FUZZ_SECONDS each:
#   fuzz-build/fuzz_elf   the ELF parser, seeded in fuzz-build/seeds from the
#                         built guests (when there are any) and two minimal
#                         generated ELF programs; new inputs go to
#                         fuzz-build/corpus, crashes to fuzz-build/.
#   fuzz-build/fuzz_wire  the transport's message-header checker, seeded in
#                         fuzz-build/seeds-wire with one valid header; new
#                         inputs go to fuzz-build/corpus-wire, crashes to
#                         fuzz-build/wire-*.
FUZZ_CC      ?= clang
FUZZ_SECONDS ?= 20
FUZZ_DIR     := fuzz-build
FUZZ_CFLAGS  := -std=gnu11 -g -O1 -Isrc -D_GNU_SOURCE \
                -fsanitize=fuzzer,address,undefined \
                -fno-sanitize-recover=undefined
FUZZ_ARGS    ?=
FUZZ_SRCS    := test/fuzz/fuzz_elf.c test/fuzz/fuzz_stubs.c \
                src/core/loader.c src/common/log.c src/common/status.c
FUZZ_WIRE_SRCS := test/fuzz/fuzz_wire.c src/rdma/xp_wire.c src/common/status.c
# 8 control bytes (payload 8, size 4, no own rank), then a valid header:
# "CMP1", version 1, id 8, src 1, seq 0, len 8, cookie 0x1122334455667788.
FUZZ_WIRE_SEED := \010\0\0\0\004\0\0\0CMP1\001\0\010\0\001\0\0\0\0\0\0\0\010\0\0\0\0\0\0\0\210\167\146\125\104\063\042\021
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
		      src/core/vcpu.h src/common/log.h src/common/status.h
	@mkdir -p $(dir $@)
	$(FUZZ_CC) $(FUZZ_CFLAGS) -o $@ $(FUZZ_SRCS)

$(FUZZ_DIR)/fuzz_wire: $(FUZZ_WIRE_SRCS) src/rdma/xp_wire.h src/rdma/xp.h \
		       src/common/status.h
	@mkdir -p $(dir $@)
	$(FUZZ_CC) $(FUZZ_CFLAGS) -o $@ $(FUZZ_WIRE_SRCS)

fuzz-seeds:
	@mkdir -p $(FUZZ_DIR)/seeds $(FUZZ_DIR)/seeds-wire
	@printf '$(FUZZ_WIRE_SEED)' > $(FUZZ_DIR)/seeds-wire/valid-header
	@for f in $(BUILD)/guests/*; do \
	  [ -f "$$f" ] && cp "$$f" $(FUZZ_DIR)/seeds/; \
	done; true
	@printf '$(FUZZ_MIN_ASM)' | $(CC) -x assembler - -static $(FUZZ_MIN_LD) \
	  -o $(FUZZ_DIR)/seeds/min-static
	@printf '$(FUZZ_MIN_ASM)' | $(CC) -x assembler - -static-pie $(FUZZ_MIN_LD) \
	  -o $(FUZZ_DIR)/seeds/min-static-pie
