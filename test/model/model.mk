# Model check of the coherence protocol (test/model/ivy.pml) with spin.
.PHONY: model
model:
	@bash test/model/run.sh
