// cpwc_context.cpp as the module _cpwc_context_scalar, built with the
// compiler's baseline flags (setup.py). A source file of its own gives the
// build an object file of its own.
#include "cpwc_context.cpp"
