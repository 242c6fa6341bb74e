/* dot_vnni.c - the AVX2 kernels of dot_avx2.c built again with AVX512-VNNI/VL/BW (flags in
 * CMakeLists.txt): fused integer multiply-accumulate and 32 vector registers. cpu.c uses
 * them when the CPU has those extensions; results are bit-identical to dot_avx2.c's. */
#define AK_DOT_VNNI 1
#include "dot_avx2.c"
