// The label audit's colour gradient magnitude in one pass (gradients.py loads it; label_audit.py is the
// numpy/OpenCV reference it must equal).
//
// For each pixel: per channel the 3x3 Sobel derivatives gx, gy (OpenCV's kernels, borders reflected as
// BORDER_REFLECT_101), and out = sqrt((sum over channels of gx^2 + gy^2) / 3). The derivatives of 8-bit
// values are integers of at most 4 * 255 in magnitude, so the sums are exact in int32; only the final
// division and root round. Rows are independent: each thread takes a block of them.
#include <cmath>
#include <cstdint>
#include <vector>

#include "parallel.hpp"

static inline int64_t reflect101(int64_t i, int64_t n) {
    if (n == 1) return 0;
    if (i < 0) return -i;
    if (i >= n) return 2 * n - 2 - i;
    return i;
}

extern "C" void colour_gradient(int64_t height, int64_t width, const uint8_t* image, float* out, int threads) {
    const int64_t stride = width * 3;
    parallel(height, threads, [&](int, int64_t y0, int64_t y1) {
        std::vector<int32_t> sq(stride);
        for (int64_t y = y0; y < y1; ++y) {
            const uint8_t* r0 = image + reflect101(y - 1, height) * stride;
            const uint8_t* r1 = image + y * stride;
            const uint8_t* r2 = image + reflect101(y + 1, height) * stride;
            // Interior columns: the neighbours of element i are i - 3 and i + 3 (same channel).
            for (int64_t i = 3; i < stride - 3; ++i) {
                int32_t gx = (r0[i + 3] + 2 * r1[i + 3] + r2[i + 3]) - (r0[i - 3] + 2 * r1[i - 3] + r2[i - 3]);
                int32_t gy = (r2[i - 3] + 2 * r2[i] + r2[i + 3]) - (r0[i - 3] + 2 * r0[i] + r0[i + 3]);
                sq[i] = gx * gx + gy * gy;
            }
            // The first and last columns, with reflected neighbours.
            for (int64_t x : {int64_t(0), width - 1}) {
                const int64_t xm = reflect101(x - 1, width) * 3, xp = reflect101(x + 1, width) * 3;
                for (int64_t c = 0; c < 3; ++c) {
                    const int64_t i = x * 3 + c;
                    int32_t gx = (r0[xp + c] + 2 * r1[xp + c] + r2[xp + c]) - (r0[xm + c] + 2 * r1[xm + c] + r2[xm + c]);
                    int32_t gy = (r2[xm + c] + 2 * r2[i] + r2[xp + c]) - (r0[xm + c] + 2 * r0[i] + r0[xp + c]);
                    sq[i] = gx * gx + gy * gy;
                }
            }
            float* o = out + y * width;
            for (int64_t x = 0; x < width; ++x) {
                o[x] = std::sqrt(float(sq[3 * x] + sq[3 * x + 1] + sq[3 * x + 2]) / 3.0f);
            }
        }
    });
}
