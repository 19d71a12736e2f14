# Benchmarks: "make bench" builds cvmm and the guests, then bench/run.py
# runs every benchmark natively and under cvmm and merges the medians into
# bench/out/results.json. BENCH=syscall|fib runs one; FIB_N=N|auto and
# REPS=N tune them (see bench/run.py).

.PHONY: bench
bench: $(BUILD)/cvmm guests
	BENCH='$(BENCH)' python3 bench/run.py --build $(BUILD)
