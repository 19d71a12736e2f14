# cvmm — cluster virtual machine monitor.
#   make run     install missing build dependencies (as root), build, run the demo
#   make test    same dependency step, then every test
#   make bench   benchmarks into bench/out/results.json
#   make fuzz    short bounded fuzz run of the ELF parser
#   make format  clang-format the sources
# SAN=address,undefined builds the agent and the unit tests with sanitizers.

CC       ?= gcc
BUILD    ?= build
SAN      ?=
CI       ?=
DEB_DEPS := gcc make libc6-dev libhwloc-dev libnuma-dev libcmocka-dev \
            pkg-config clang libucx-dev libibverbs-dev librdmacm-dev \
            libpmix-dev ucx-utils openmpi-bin iproute2 python3 spin \
            libjansson-dev clang-format

WARN     := -Wall -Wextra -Wshadow -Wno-unused-parameter -Wstrict-prototypes \
            -Wmissing-prototypes -Wformat=2
ifneq ($(CI),)
WARN     += -Werror
endif
CFLAGS   ?= -O2 -g
PKGS     := hwloc ucx pmix libibverbs jansson
CFLAGS   += -std=gnu11 $(WARN) -fPIE -Isrc -D_GNU_SOURCE \
            $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
LDFLAGS  += -pie -pthread
LDLIBS   += $(shell pkg-config --libs $(PKGS) 2>/dev/null) -lnuma -lm
ifneq ($(SAN),)
SANFLAGS := -fsanitize=$(SAN) -fno-omit-frame-pointer
CFLAGS   += $(SANFLAGS)
LDFLAGS  += $(SANFLAGS)
BUILD    := build-san
endif

# Code that runs with the guest's FS base or on the SIGSYS path: no stack
# protector (it reads %fs:0x28), no fortify longjmp checks, no sanitizers.
ENTRY_CFLAGS := -fno-stack-protector -U_FORTIFY_SOURCE -D_FORTIFY_SOURCE=0 \
                -fno-sanitize=all
ENTRY_SRCS   := src/core/entry.c

SRC_DIRS := src/common src/rdma src/coherence src/iosrv src/core src/core/sys \
            src/node src/cli
SRCS     := $(sort $(foreach d,$(SRC_DIRS),$(wildcard $(d)/*.c)))
ASRCS    := $(wildcard src/core/*.S)
OBJS     := $(SRCS:%.c=$(BUILD)/%.o) $(ASRCS:%.S=$(BUILD)/%.o)
LIBOBJS  := $(filter-out $(BUILD)/src/cli/main.o,$(OBJS))
UNIT_SRCS := $(sort $(wildcard test/unit/test_*.c))
UNIT_BINS := $(UNIT_SRCS:test/unit/%.c=$(BUILD)/test/%)

.PHONY: all deps run test unit integration bench fuzz format clean guests
all: $(BUILD)/cvmm

# ---- dependencies: install what is missing when root, else say how --------
deps:
	@missing=""; for p in $(DEB_DEPS); do \
	  dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q 'ok installed' || missing="$$missing $$p"; \
	done; \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" = 0 ]; then \
	    echo "installing:$$missing"; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing >/dev/null || exit 1; \
	  else \
	    echo "missing build dependencies; run as root:"; \
	    echo "  apt-get install -y$$missing"; exit 1; \
	  fi; \
	fi

$(BUILD)/cvmm: $(OBJS)
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

$(BUILD)/libcvmm.a: $(LIBOBJS)
	@rm -f $@
	ar rcs $@ $^

$(BUILD)/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(if $(filter $<,$(ENTRY_SRCS)),$(ENTRY_CFLAGS)) -MMD -MP -c -o $@ $<

$(BUILD)/%.o: %.S
	@mkdir -p $(dir $@)
	$(CC) $(filter-out -fsanitize=%,$(CFLAGS)) -c -o $@ $<

$(BUILD)/test/test_%: test/unit/test_%.c $(BUILD)/libcvmm.a
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -Itest -o $@ $< $(BUILD)/libcvmm.a $(LDFLAGS) $(LDLIBS) -lcmocka

-include $(OBJS:.o=.d)

# ---- guests, integration, fuzz and bench fragments -------------------------
-include test/guests/guests.mk
-include test/fuzz/fuzz.mk
-include bench/bench.mk
-include test/integration/probe.mk
-include bench/workloads/workloads.mk
-include test/model/model.mk

run: deps
	@$(MAKE) --no-print-directory all guests
	@BUILD=$(BUILD) bench/demo.sh

integration: guests workloads $(BUILD)/cvmm $(BUILD)/test/boot_probe
	BUILD=$(BUILD) CVMM=$(BUILD)/cvmm GUESTS=$(BUILD)/guests \
	  bash test/integration/run_all.sh

unit: $(UNIT_BINS)
	@fail=0; for t in $(UNIT_BINS); do echo "== $$t"; \
	  CVMM_GUESTS=$(BUILD)/guests $$t || fail=1; done; exit $$fail

test: deps
	@$(MAKE) --no-print-directory all guests workloads unit
	@$(MAKE) --no-print-directory integration

format:
	clang-format -i $$(find src test bench -name '*.[ch]')

clean:
	rm -rf build build-san fuzz-build
