// The CPU kernels as the module _cpu_kernels_scalar, built with the compiler's baseline
// flags (setup.py). A source file of its own gives the build an object
// file of its own.
#include "cpwc_context.cpp"
#include "coc_weight.cpp"
#include "bindings.cpp"
