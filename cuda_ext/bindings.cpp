// The one torch extension interface of headgen: the same op names for CPU and CUDA. Built as
// headgen_ops_cpu (CPU sources only) and, with -DHG_WITH_CUDA, as headgen_ops_cuda (CPU + CUDA sources);
// each op runs on the backend of its first tensor argument's device (headgen.ext).
#include "ops.h"

namespace {

// the device of the first tensor among the arguments decides the backend
inline void note_device(bool &seen, bool &cuda, const torch::Tensor &t) {
    if (!seen) { seen = true; cuda = t.is_cuda(); }
}
template <typename T> inline void note_device(bool &, bool &, const T &) {}
template <typename... A> bool on_cuda(const A &...a) {
    bool seen = false, cuda = false;
    (note_device(seen, cuda, a), ...);
    return cuda;
}

template <typename F> struct Dispatch;
template <typename R, typename... A> struct Dispatch<R (*)(A...)> {
    template <R (*Cpu)(A...), R (*Cuda)(A...)> static R call(A... a) {
        if (on_cuda(a...)) {
            TORCH_CHECK(Cuda != nullptr, "headgen: this build of the extension has no CUDA backend");
            return Cuda(a...);
        }
        return Cpu(a...);
    }
};

}  // namespace

#ifdef HG_WITH_CUDA
#define HG_CUDA(name) &hg_cuda::name
#else
#define HG_CUDA(name) nullptr
#endif
#define HG_OP(name, doc) \
    m.def(#name, &Dispatch<decltype(&hg_cpu::name)>::call<&hg_cpu::name, HG_CUDA(name)>, doc)

PYBIND11_MODULE(TORCH_EXTENSION_NAME, m) {
    m.doc() = "headgen kernels: Gaussian splatting and triangle rasterisation, CPU (OpenMP) and CUDA";
    HG_OP(project_fwd, "project Gaussians to the image (radii, means2d, depths, conics, comps)");
    HG_OP(project_bwd, "gradients of project_fwd w.r.t. means, quats, scales");
    HG_OP(sh_fwd, "spherical-harmonics colours");
    HG_OP(sh_bwd, "gradients of sh_fwd w.r.t. coefficients (and directions)");
    HG_OP(bin_tiles, "tile binning: tile offsets and depth-sorted Gaussian ids per tile");
    HG_OP(raster_fwd, "alpha-composite the binned Gaussians (render, alpha, last)");
    HG_OP(raster_bwd, "gradients of raster_fwd w.r.t. means2d, conics, colours, opacities");
    HG_OP(mesh_raster, "rasterise triangles (tri_id, depth, bary)");
}
