# SPLASH-2-class workloads (bench/workloads/*.c): fft lu radix ocean water
# barnes, and two with sub-page sharing (issue 14): is (NAS IS-like integer
# sort scattering into one shared array) and stencil (Jacobi on a grid of
# sub-page blocks of several threads). Included by the top Makefile. Built
# like any user's program, plain gcc -O2 -static -pthread, never with the
# agent's CFLAGS.
#   make workloads        every bench/workloads/NAME.c -> $(BUILD)/workloads/NAME
#   make workloads-test   run test/integration/run_workloads.sh (small sizes,
#                         natively and under $(BUILD)/cvmm -v 1 2 4)
# bench/run.py runs them at their default sizes (BENCH=workloads or
# BENCH=NAME).

WL_CC     ?= gcc
WL_CFLAGS := -O2 -Wall -Wextra
WL_LIBS   := -lm
WL_DIR    := $(BUILD)/workloads
WL_NAMES  := fft lu radix ocean water barnes is stencil
WL_BINS   := $(WL_NAMES:%=$(WL_DIR)/%)

.PHONY: workloads workloads-test
workloads: $(WL_BINS)

$(WL_DIR)/%: bench/workloads/%.c bench/workloads/wl_common.h \
		bench/workloads/workloads.mk
	@mkdir -p $(dir $@)
	$(WL_CC) $(WL_CFLAGS) -static -pthread -o $@ $< $(WL_LIBS)

workloads-test: workloads $(BUILD)/cvmm
	BUILD=$(BUILD) CVMM=$(BUILD)/cvmm WORKLOADS=$(WL_DIR) \
	  bash test/integration/run_workloads.sh

# "make bench" runs the workloads too (bench/run.py): build them first.
bench: workloads
