// cpwc_context.cpp as the module _cpwc_context_avx512, built with AVX-512
// F/BW/DQ/VL + FMA flags (setup.py). A source file of its own gives the
// build an object file of its own.
#include "cpwc_context.cpp"
