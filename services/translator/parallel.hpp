// The parallel-for shared by the translator's C++ kernels (weather/kernels.cpp, cyclegan/cpu_kernels.cpp).
// native.py inlines it where a kernel source writes #include "parallel.hpp".
#ifndef SIM2REAL_PARALLEL_HPP
#define SIM2REAL_PARALLEL_HPP

#include <algorithm>
#include <cstdint>
#include <thread>
#include <vector>

// Runs f(thread_index, begin, end) over [0, n) split into nthreads contiguous ranges, the calling thread
// taking the first.
template <class F> static void parallel(int64_t n, int nthreads, F f) {
    int nt = (int)std::max<int64_t>(1, std::min<int64_t>(nthreads, n));
    int64_t step = (n + nt - 1) / nt;
    std::vector<std::thread> pool;
    for (int t = 1; t < nt; ++t) {
        int64_t b = t * step, e = std::min(n, b + step);
        if (b < e) pool.emplace_back(f, t, b, e);
    }
    f(0, 0, std::min(n, step));
    for (auto& th : pool) th.join();
}

#endif  // SIM2REAL_PARALLEL_HPP
