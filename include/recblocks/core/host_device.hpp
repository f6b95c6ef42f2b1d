#pragma once
/// \file host_device.hpp
/// `RECBLOCKS_HD` marks functions callable from host and device code: `__host__ __device__` under
/// nvcc, empty for host compilers (CCCL 3 no longer defines `__host__` for them).

#ifndef RECBLOCKS_HD
#if defined(__CUDACC__)
#define RECBLOCKS_HD __host__ __device__
#else
#define RECBLOCKS_HD
#endif
#endif
