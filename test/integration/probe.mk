# ---- bootstrap probe ------------------------------------------------------
# Included by the top Makefile. $(BUILD)/test/boot_probe joins a job through
# rdma/boot (rank and size from mpirun/srun/cvmm run), allgathers "rank N"
# strings and prints one "rank R of S via METHOD: all S blobs ok" line.
# `make mpirun-boot` runs test/integration/mpirun_boot.sh with it (PMIx
# under mpirun, then --coordinator under mpirun without PMIx).

$(BUILD)/test/boot_probe: test/integration/boot_probe.c $(BUILD)/libcvmm.a
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -o $@ $< $(BUILD)/libcvmm.a $(LDFLAGS) $(LDLIBS)

.PHONY: mpirun-boot
mpirun-boot: $(BUILD)/test/boot_probe
	@BUILD=$(BUILD) bash test/integration/mpirun_boot.sh
