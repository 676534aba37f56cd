// The CPU kernels as the module _cpu_kernels_avx2, built with AVX2 + FMA
// flags (setup.py). A source file of its own gives the build an object
// file of its own.
#include "cpwc_context.cpp"
#include "coc_weight.cpp"
#include "bindings.cpp"
