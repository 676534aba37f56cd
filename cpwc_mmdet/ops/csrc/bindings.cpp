// The Python module of one ISA's build: the CPWC context unit
// (cpwc_context.cpp) and CoC's weight derivation (coc_weight.cpp).
#include <torch/csrc/utils/pybind.h>

PYBIND11_MODULE(TORCH_EXTENSION_NAME, m) {
  m.def("context_unit_", &context_unit_,
        "out += s1(x) + s2(s1(x)) (CPWC context unit), CPU float32, "
        "channels_last");
  m.def("coc_weight_forward", &coc::forward,
        "CoC weight from its parameters: (W, mean, rstd, mean2, rstd2)");
  m.def("coc_weight_backward", &coc::backward,
        "gradients of the CoC weight derivation");
  m.attr("isa") = kIsa;
}
