# Guest programs for the integration tests, benchmarks and the demo.
# Included by the top Makefile. Guests are built like any user's program:
# plain gcc -O2 -static -pthread, never with the agent's CFLAGS.
#   make guests        every test/guests/NAME.c and test/security/NAME.c
#                      -> $(BUILD)/guests/NAME,
#                      plus static-pie variants $(BUILD)/guests/NAME.pie
# (make integration, in the top Makefile, runs them under cvmm.)

GUEST_CC       ?= gcc
GUEST_CFLAGS   := -O2 -Wall
GUEST_LIBS     := -lm
GUEST_DIR      := $(BUILD)/guests
GUEST_SRCS     := $(sort $(wildcard test/guests/*.c))
GUEST_NAMES    := $(GUEST_SRCS:test/guests/%.c=%)
# The attack guests of test/security/ are built the same way, beside them.
SEC_SRCS       := $(sort $(wildcard test/security/*.c))
GUEST_NAMES    += $(SEC_SRCS:test/security/%.c=%)
GUEST_BINS     := $(GUEST_NAMES:%=$(GUEST_DIR)/%)
# Guests also built as static-pie (loaded at a base the VMM chooses).
GUEST_PIE      := hello mutex fpu tls file vdso
GUEST_PIE_BINS := $(GUEST_PIE:%=$(GUEST_DIR)/%.pie)

.PHONY: guests
guests: $(GUEST_BINS) $(GUEST_PIE_BINS)

$(GUEST_DIR)/%: test/guests/%.c test/guests/guests.mk
	@mkdir -p $(dir $@)
	$(GUEST_CC) $(GUEST_CFLAGS) -static -pthread -o $@ $< $(GUEST_LIBS)

# OpenMP guests: also -fopenmp (libgomp.a comes with gcc: libgcc-12-dev on
# Debian 12, a dependency of gcc). Linking it statically warns that
# libgomp's offloading code uses dlopen; no guest offloads, so it never runs.
GUEST_OMP      := omp
$(GUEST_OMP:%=$(GUEST_DIR)/%): $(GUEST_DIR)/%: test/guests/%.c test/guests/guests.mk
	@mkdir -p $(dir $@)
	$(GUEST_CC) $(GUEST_CFLAGS) -fopenmp -static -pthread -o $@ $< $(GUEST_LIBS)

$(GUEST_DIR)/%: test/security/%.c test/guests/guests.mk
	@mkdir -p $(dir $@)
	$(GUEST_CC) $(GUEST_CFLAGS) -static -pthread -o $@ $< $(GUEST_LIBS)

$(GUEST_DIR)/%.pie: test/guests/%.c test/guests/guests.mk
	@mkdir -p $(dir $@)
	$(GUEST_CC) $(GUEST_CFLAGS) -static-pie -pthread -fPIE -o $@ $< $(GUEST_LIBS)
