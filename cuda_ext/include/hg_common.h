// Shared macros for math compiled both by g++ (CPU extension) and nvcc (CUDA extension).
#pragma once

#if defined(__CUDACC__)
#define HG_HD __host__ __device__ __forceinline__
#define HG_DEVICE __device__
#else
#define HG_HD inline
#define HG_DEVICE
#endif
