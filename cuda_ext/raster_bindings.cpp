// Python bindings of the CPU rasteriser (module built by headgen.render.backends.builtin).
#include "raster_api.h"

PYBIND11_MODULE(TORCH_EXTENSION_NAME, m) {
  m.def("raster_forward", &raster_forward_cpu, "rasterize triangles (CPU, OpenMP)");
}
