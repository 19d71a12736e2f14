# cvmm — cluster virtual machine monitor.
#   make run     install missing build dependencies (as root), build, run the demo
#   make test    same dependency step, then every test
#   make bench   benchmarks into bench/out/results.json
#   make fuzz    short bounded fuzz runs of the ELF parser and the wire decoders
#   make install       build (make all), then copy cvmm, its man page, the
#                      example config and the docs to $(DESTDIR)$(PREFIX)/...
#   make uninstall     remove what make install put there
#   make format        clang-format the sources in place (.clang-format)
#   make format-check  list the files clang-format would change; fail if any
# SAN=address,undefined builds the agent and the unit tests with sanitizers.

CC       ?= gcc
BUILD    ?= build
SAN      ?=
CI       ?=
DEB_DEPS := gcc make libc6-dev libhwloc-dev libnuma-dev libcmocka-dev \
            pkg-config clang libucx-dev libibverbs-dev librdmacm-dev \
            libpmix-dev ucx-utils openmpi-bin iproute2 python3 spin \
            libjansson-dev clang-format procps util-linux binutils

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
# ucx, pmix and libibverbs: headers only, loaded on first use (src/rdma/dl.h)
LDLIBS   += $(shell pkg-config --libs hwloc jansson 2>/dev/null) -lnuma -lm
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
# cvmm's guest vDSO: adds its objects to OBJS and the rules that build it
include src/core/vdso/vdso.mk
LIBOBJS  := $(filter-out $(BUILD)/src/cli/main.o,$(OBJS))
UNIT_SRCS := $(sort $(wildcard test/unit/test_*.c))
UNIT_BINS := $(UNIT_SRCS:test/unit/%.c=$(BUILD)/test/%)

.PHONY: all deps run test unit integration bench fuzz format clean guests \
        install uninstall format-check
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

# ---- install, uninstall ----------------------------------------------------
#   make install [PREFIX=/usr/local] [DESTDIR=] [BINDIR=...] ...
#     $(BUILD)/cvmm         -> $(BINDIR)/cvmm                       0755
#     man/cvmm.1            -> $(MANDIR)/man1/cvmm.1                0644
#     config/cvmm.conf      -> $(SYSCONFDIR)/cvmm/cvmm.conf         0644
#     README.md, docs/*.md  -> $(DOCDIR)/README.md, $(DOCDIR)/docs/ 0644
# BINDIR is $(PREFIX)/bin, MANDIR $(PREFIX)/share/man, DOCDIR
# $(PREFIX)/share/doc/cvmm; SYSCONFDIR is /etc when PREFIX is /usr, else
# $(PREFIX)/etc. cvmm reads /etc/cvmm/cvmm.conf when neither --config nor
# CVMM_CONFIG names a file, so a config under another SYSCONFDIR is read only
# through those. DESTDIR stages the whole tree (packaging).
# install needs only `all`: build as yourself, then `sudo make install` just
# copies. A config file already there that differs from config/cvmm.conf is
# the admin's: install keeps it and uninstall leaves it. uninstall removes
# the other files install put there, then the directories it made that are
# left empty ($(SYSCONFDIR)/cvmm, $(DOCDIR)/docs, $(DOCDIR)), nothing else.
PREFIX      ?= /usr/local
DESTDIR     ?=
BINDIR      ?= $(PREFIX)/bin
DATAROOTDIR ?= $(PREFIX)/share
MANDIR      ?= $(DATAROOTDIR)/man
DOCDIR      ?= $(DATAROOTDIR)/doc/cvmm
ifeq ($(PREFIX),/usr)
SYSCONFDIR  ?= /etc
else
SYSCONFDIR  ?= $(PREFIX)/etc
endif
INSTALL     ?= install
INSTALL_DOCS := README.md $(sort $(wildcard docs/*.md))
INSTALL_CONF := $(DESTDIR)$(SYSCONFDIR)/cvmm/cvmm.conf
# Directories install may create, deepest first; $(DOCDIR) only when it is
# cvmm's own (its name starts with cvmm).
INSTALL_DIRS := $(DESTDIR)$(SYSCONFDIR)/cvmm $(DESTDIR)$(DOCDIR)/docs \
                $(if $(filter cvmm%,$(notdir $(DOCDIR))),$(DESTDIR)$(DOCDIR))

install: all
	$(INSTALL) -D -m 0755 $(BUILD)/cvmm $(DESTDIR)$(BINDIR)/cvmm
	$(INSTALL) -D -m 0644 man/cvmm.1 $(DESTDIR)$(MANDIR)/man1/cvmm.1
	@if [ -e $(INSTALL_CONF) ] && ! cmp -s config/cvmm.conf $(INSTALL_CONF); then \
	  echo "keeping $(INSTALL_CONF): it differs from config/cvmm.conf"; \
	else \
	  echo "$(INSTALL) -D -m 0644 config/cvmm.conf $(INSTALL_CONF)"; \
	  $(INSTALL) -D -m 0644 config/cvmm.conf $(INSTALL_CONF) || exit 1; \
	fi
	@for f in $(INSTALL_DOCS); do \
	  echo "$(INSTALL) -D -m 0644 $$f $(DESTDIR)$(DOCDIR)/$$f"; \
	  $(INSTALL) -D -m 0644 $$f $(DESTDIR)$(DOCDIR)/$$f || exit 1; \
	done
ifneq ($(SYSCONFDIR),/etc)
	@echo "note: cvmm reads /etc/cvmm/cvmm.conf by default; use" \
	  "--config $(SYSCONFDIR)/cvmm/cvmm.conf or CVMM_CONFIG for this one"
endif

uninstall:
	rm -f $(DESTDIR)$(BINDIR)/cvmm $(DESTDIR)$(MANDIR)/man1/cvmm.1
	rm -f $(addprefix $(DESTDIR)$(DOCDIR)/,$(INSTALL_DOCS))
	@if [ -e $(INSTALL_CONF) ] && ! cmp -s config/cvmm.conf $(INSTALL_CONF); then \
	  echo "keeping $(INSTALL_CONF): changed since make install"; \
	else \
	  echo "rm -f $(INSTALL_CONF)"; rm -f $(INSTALL_CONF); \
	fi
	@for d in $(INSTALL_DIRS); do \
	  if [ -d "$$d" ] && [ -z "$$(ls -A "$$d")" ]; then \
	    echo "rmdir $$d"; rmdir "$$d" || exit 1; \
	  fi; \
	done

# ---- formatting: .clang-format (kernel style) ------------------------------
# FORMAT_FILES replaces the file list: make format-check FORMAT_FILES=src/x.c
CLANG_FORMAT ?= clang-format
FORMAT_FILES ?= $(shell find src test bench -path bench/out -prune -o \
                  -name '*.[ch]' -print | LC_ALL=C sort)

format:
	$(CLANG_FORMAT) -i --style=file $(FORMAT_FILES)

# Prints each file clang-format would change, one per line on stdout, then a
# summary on stderr; exits 1 if there is any.
format-check:
	@command -v $(CLANG_FORMAT) >/dev/null || \
	  { echo "format-check: $(CLANG_FORMAT) not found" >&2; exit 2; }
	@n=0; lines=0; total=0; \
	for f in $(FORMAT_FILES); do \
	  total=$$((total + 1)); \
	  c=$$($(CLANG_FORMAT) --style=file "$$f" | diff -- "$$f" - | grep -c '^[<>]'); \
	  if [ "$$c" != 0 ]; then echo "$$f"; n=$$((n + 1)); lines=$$((lines + c)); fi; \
	done; \
	if [ $$n != 0 ]; then \
	  echo "format-check: $$n of $$total files would change" \
	    "($$lines lines; make format rewrites them)" >&2; exit 1; \
	fi; \
	echo "format-check: none of $$total files would change" >&2

clean:
	rm -rf build build-san fuzz-build
