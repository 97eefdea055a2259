// Python bindings of the CPU and CUDA rasterisers (CUDA build: sources cpu/raster_cpu.cpp,
// cuda/raster_cuda.cu and this file). Device guard and current stream are taken here so the .cu
// file needs no c10/cuda headers.
#include <ATen/cuda/CUDAContext.h>
#include <c10/cuda/CUDAGuard.h>

#include "raster_api.h"

static std::vector<torch::Tensor> raster_forward_cuda(torch::Tensor verts_screen, torch::Tensor faces,
                                                      int64_t height, int64_t width, double znear) {
  TORCH_CHECK(verts_screen.is_cuda(), "verts_screen must be a CUDA tensor");
  const c10::cuda::OptionalCUDAGuard guard(verts_screen.device());
  cudaStream_t stream = at::cuda::getCurrentCUDAStream().stream();
  return raster_forward_cuda_impl(verts_screen, faces, height, width, znear, static_cast<void*>(stream));
}

PYBIND11_MODULE(TORCH_EXTENSION_NAME, m) {
  m.def("raster_forward", &raster_forward_cpu, "rasterize triangles (CPU, OpenMP)");
  m.def("raster_forward_cuda", &raster_forward_cuda, "rasterize triangles (CUDA)");
}
