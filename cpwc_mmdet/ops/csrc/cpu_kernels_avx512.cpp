// The CPU kernels as the module _cpu_kernels_avx512, built with AVX-512 F/BW/DQ/VL + FMA
// flags (setup.py). A source file of its own gives the build an object
// file of its own.
#include "cpwc_context.cpp"
#include "coc_weight.cpp"
#include "bindings.cpp"
