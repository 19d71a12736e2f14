# ---- fuzz: a short bounded libFuzzer run of the ELF parser -----------------
# Included by the top Makefile. `make fuzz` builds fuzz-build/fuzz_elf with
# clang's fuzzer and sanitizers, seeds fuzz-build/seeds from the built guests
# (when there are any) and two minimal generated ELF programs, and fuzzes for
# FUZZ_SECONDS. New inputs go to fuzz-build/corpus, crashes to fuzz-build/.
FUZZ_CC      ?= clang
FUZZ_SECONDS ?= 20
FUZZ_DIR     := fuzz-build
FUZZ_CFLAGS  := -std=gnu11 -g -O1 -Isrc -D_GNU_SOURCE \
                -fsanitize=fuzzer,address,undefined \
                -fno-sanitize-recover=undefined
FUZZ_ARGS    ?=
FUZZ_SRCS    := test/fuzz/fuzz_elf.c test/fuzz/fuzz_stubs.c \
                src/core/loader.c src/common/log.c src/common/status.c
FUZZ_MIN_ASM := .globl _start\n_start: mov $$60, %%eax\n xor %%edi, %%edi\n syscall\n
FUZZ_MIN_LD  := -nostdlib -Wl,--build-id=none -Wl,-z,noseparate-code

.PHONY: fuzz fuzz-seeds

fuzz: $(FUZZ_DIR)/fuzz_elf fuzz-seeds
	@mkdir -p $(FUZZ_DIR)/corpus
	$(FUZZ_DIR)/fuzz_elf -max_total_time=$(FUZZ_SECONDS) -timeout=10 \
	  -print_final_stats=1 -artifact_prefix=$(FUZZ_DIR)/ $(FUZZ_ARGS) \
	  $(FUZZ_DIR)/corpus $(FUZZ_DIR)/seeds

$(FUZZ_DIR)/fuzz_elf: $(FUZZ_SRCS) src/core/loader.h src/core/gmem.h \
		      src/core/vcpu.h src/common/log.h src/common/status.h
	@mkdir -p $(dir $@)
	$(FUZZ_CC) $(FUZZ_CFLAGS) -o $@ $(FUZZ_SRCS)

fuzz-seeds:
	@mkdir -p $(FUZZ_DIR)/seeds
	@for f in $(BUILD)/guests/*; do \
	  [ -f "$$f" ] && cp "$$f" $(FUZZ_DIR)/seeds/; \
	done; true
	@printf '$(FUZZ_MIN_ASM)' | $(CC) -x assembler - -static $(FUZZ_MIN_LD) \
	  -o $(FUZZ_DIR)/seeds/min-static
	@printf '$(FUZZ_MIN_ASM)' | $(CC) -x assembler - -static-pie $(FUZZ_MIN_LD) \
	  -o $(FUZZ_DIR)/seeds/min-static-pie
