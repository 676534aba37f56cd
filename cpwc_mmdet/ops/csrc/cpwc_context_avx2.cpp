// cpwc_context.cpp as the module _cpwc_context_avx2, built with AVX2 + FMA
// flags (setup.py). A source file of its own gives the build an object file
// of its own.
#include "cpwc_context.cpp"
