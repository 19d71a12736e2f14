# cvmm's guest vDSO (src/core/vdso/, docs/core.md "The guest's vDSO").
# Included by the top Makefile right after OBJS is defined.
#   $(BUILD)/src/core/vdso/vdso_guest.so  the shared object the guest sees,
#       built from vdso_guest.c with flags of its own (never the agent's
#       CFLAGS: no sanitizer, no stack protector, no PIE executable flags);
#       refused when it has a relocation or a writable segment;
#   $(BUILD)/src/core/vdso/vdso_blob.o    those bytes, for the agent;
#   $(BUILD)/src/core/vdso/vdso.o         the agent's side (the generic rule).
VDSO_DIR     := src/core/vdso
VDSO_SO      := $(BUILD)/$(VDSO_DIR)/vdso_guest.so
VDSO_CC      ?= gcc
VDSO_CFLAGS  := -std=gnu11 -O2 -fPIC -Wall -Wextra -Isrc \
                -fno-stack-protector -fno-builtin -fcf-protection=none \
                -fno-sanitize=all -U_FORTIFY_SOURCE
VDSO_LDFLAGS := -shared -nostdlib -Wl,--hash-style=both \
                -Wl,-soname=linux-vdso.so.1 \
                -Wl,--version-script=$(VDSO_DIR)/vdso_guest.ver \
                -Wl,-T,$(VDSO_DIR)/vdso_guest.lds -Wl,--no-undefined \
                -Wl,--build-id=none -Wl,-z,max-page-size=4096
OBJS         += $(BUILD)/$(VDSO_DIR)/vdso.o $(BUILD)/$(VDSO_DIR)/vdso_blob.o
# included before the top Makefile's first rule: these must not become the
# default goal
VDSO_GOAL    := $(.DEFAULT_GOAL)

$(VDSO_SO): $(VDSO_DIR)/vdso_guest.c $(VDSO_DIR)/vdso_data.h \
	    $(VDSO_DIR)/vdso_guest.ver $(VDSO_DIR)/vdso_guest.lds \
	    $(VDSO_DIR)/vdso.mk
	@mkdir -p $(dir $@)
	$(VDSO_CC) $(VDSO_CFLAGS) $(VDSO_LDFLAGS) -o $@.tmp $<
	@readelf -rW $@.tmp | grep -q '^There are no relocations' || \
	  { echo "$@: the guest vDSO must have no relocations" >&2; exit 1; }
	@! readelf -lW $@.tmp | grep -E '^ +LOAD' | grep -q ' RW' || \
	  { echo "$@: the guest vDSO must have no writable segment" >&2; exit 1; }
	@mv $@.tmp $@

$(BUILD)/$(VDSO_DIR)/vdso_blob.o: $(VDSO_DIR)/vdso_blob.S $(VDSO_SO)
	@mkdir -p $(dir $@)
	$(CC) -DCVMM_VDSO_SO='"$(VDSO_SO)"' -c -o $@ $<

.DEFAULT_GOAL := $(VDSO_GOAL)
