# Benchmarks: "make bench" builds cvmm and the guests, then bench/run.py
# runs every benchmark natively and under cvmm and merges the medians into
# bench/out/results.json. BENCH=startup|syscall|clock|fib|xp|faults|uffd|
# downgrade|fib_nodes|workloads_small|workloads runs one; FIB_N=N|auto and
# REPS=N tune them (see bench/run.py).

.PHONY: bench
# The native programs print their results with the JSON writer of
# src/common (jansson); that and the clock are all they take from cvmm.
BENCH_JSON := -Isrc src/common/json.c \
              $(shell pkg-config --cflags --libs jansson) -lm

# The raw UCP baseline for the transport numbers: no cvmm code in it.
$(BUILD)/bench/raw_ucp_get: bench/raw_ucp_get.c src/common/json.c
	@mkdir -p $(dir $@)
	$(CC) -O2 -Wall -Wextra -o $@ $< $(BENCH_JSON) \
	  $(shell pkg-config --cflags --libs ucx)

# userfaultfd MINOR fault service, SIGBUS vs handler thread: no cvmm code.
$(BUILD)/bench/uffd_modes: bench/uffd_modes.c bench/native.h src/common/json.c
	@mkdir -p $(dir $@)
	$(CC) -O2 -Wall -Wextra -pthread -o $@ $< $(BENCH_JSON)

# The TLB flush inside a remote fault (downgrade, invalidate): no cvmm code.
$(BUILD)/bench/downgrade: bench/downgrade.c bench/native.h src/common/json.c
	@mkdir -p $(dir $@)
	$(CC) -O2 -Wall -Wextra -o $@ $< $(BENCH_JSON)

bench: $(BUILD)/cvmm guests workloads $(BUILD)/bench/raw_ucp_get \
	$(BUILD)/bench/uffd_modes $(BUILD)/bench/downgrade
	BENCH='$(BENCH)' python3 bench/run.py --build $(BUILD); st=$$?; \
	python3 bench/report -o bench/out/report.html && exit $$st
