/* cvmm's guest vDSO, the shared object vdso.mk builds from vdso_guest.c,
 * as bytes in the agent's read-only data (vdso.c copies them into the guest
 * window). CVMM_VDSO_SO is its path, given by vdso.mk. */
	.section .rodata.cvmm_vdso, "a"
	.balign 64
	.globl cvmm_vdso_blob, cvmm_vdso_blob_end
	.hidden cvmm_vdso_blob, cvmm_vdso_blob_end
cvmm_vdso_blob:
	.incbin CVMM_VDSO_SO
cvmm_vdso_blob_end:

	.section .note.GNU-stack, "", @progbits
