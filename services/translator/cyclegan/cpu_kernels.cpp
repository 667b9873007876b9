// Fused passes of the fast CPU CycleGAN generator: Winograd F(4x4, 3x3) input/output transforms with
// reflection padding and instance-norm statistics, and the residual add (cyclegan/cpu_kernels.py loads it).
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <thread>
#include <vector>

#include "parallel.hpp"

static inline int reflect(int i, int n) { return i < 0 ? -i : (i >= n ? 2 * n - 2 - i : i); }

constexpr int CB = 64;  // channels per inner block

// Winograd F(4x4, 3x3) input transform of the reflection-padded (by 1) input, for tile rows [ty0, ty1).
// x: N,H,W,C fp32, used as relu?((x - mean) * rstd) per (n, c). Tiles of 6x6 padded pixels with stride 4
// (TW per tile row); padded rows/cols beyond H+1/W+1 read as zero. V: 36, N*(ty1-ty0)*TW, C.
extern "C" void wino_input(const float* x, const float* mean, const float* rstd, int relu, int N, int H,
                           int W, int C, int ty0, int ty1, int TW, float* V, int nthreads) {
    const int R = ty1 - ty0;
    const int64_t T = (int64_t)N * R * TW;
    parallel((int64_t)N * R, nthreads, [&](int, int64_t b, int64_t e) {
        alignas(64) float d[6][6][CB];
        alignas(64) float t[6][6][CB];
        for (int64_t row = b; row < e; ++row) {
            int n = (int)(row / R), ty = ty0 + (int)(row % R);
            const float* mu = mean + (int64_t)n * C;
            const float* rs = rstd + (int64_t)n * C;
            for (int tx = 0; tx < TW; ++tx) {
                int64_t tile = row * TW + tx;
                for (int c0 = 0; c0 < C; c0 += CB) {
                    int cn = std::min(CB, C - c0);
                    for (int i = 0; i < 6; ++i) {
                        int pr = 4 * ty + i;
                        for (int j = 0; j < 6; ++j) {
                            int pc = 4 * tx + j;
                            float* dd = d[i][j];
                            if (pr > H + 1 || pc > W + 1) {
                                for (int c = 0; c < cn; ++c) dd[c] = 0.0f;
                                continue;
                            }
                            int h = reflect(pr - 1, H), w = reflect(pc - 1, W);
                            const float* src = x + (((int64_t)n * H + h) * W + w) * C + c0;
                            const float* m = mu + c0;
                            const float* r = rs + c0;
                            if (relu) {
                                for (int c = 0; c < cn; ++c) dd[c] = std::max((src[c] - m[c]) * r[c], 0.0f);
                            } else {
                                for (int c = 0; c < cn; ++c) dd[c] = (src[c] - m[c]) * r[c];
                            }
                        }
                    }
                    // t = B^T d (along rows), then V = t B (along columns).
                    for (int j = 0; j < 6; ++j) {
                        for (int c = 0; c < cn; ++c) {
                            float d0 = d[0][j][c], d1 = d[1][j][c], d2 = d[2][j][c];
                            float d3 = d[3][j][c], d4 = d[4][j][c], d5 = d[5][j][c];
                            t[0][j][c] = 4.0f * d0 - 5.0f * d2 + d4;
                            t[1][j][c] = -4.0f * d1 - 4.0f * d2 + d3 + d4;
                            t[2][j][c] = 4.0f * d1 - 4.0f * d2 - d3 + d4;
                            t[3][j][c] = -2.0f * d1 - d2 + 2.0f * d3 + d4;
                            t[4][j][c] = 2.0f * d1 - d2 - 2.0f * d3 + d4;
                            t[5][j][c] = 4.0f * d1 - 5.0f * d3 + d5;
                        }
                    }
                    for (int i = 0; i < 6; ++i) {
                        float* o[6];
                        for (int j = 0; j < 6; ++j) o[j] = V + ((int64_t)(i * 6 + j) * T + tile) * C + c0;
                        for (int c = 0; c < cn; ++c) {
                            float d0 = t[i][0][c], d1 = t[i][1][c], d2 = t[i][2][c];
                            float d3 = t[i][3][c], d4 = t[i][4][c], d5 = t[i][5][c];
                            o[0][c] = 4.0f * d0 - 5.0f * d2 + d4;
                            o[1][c] = -4.0f * d1 - 4.0f * d2 + d3 + d4;
                            o[2][c] = 4.0f * d1 - 4.0f * d2 - d3 + d4;
                            o[3][c] = -2.0f * d1 - d2 + 2.0f * d3 + d4;
                            o[4][c] = 2.0f * d1 - d2 - 2.0f * d3 + d4;
                            o[5][c] = 4.0f * d1 - 5.0f * d3 + d5;
                        }
                    }
                }
            }
        }
    });
}

// Winograd output transform of tile rows [ty0, ty1): M: 36, N*(ty1-ty0)*TW, K -> y: N,H,W,K (cropped to
// H x W); adds each (n, k)'s sum and sum of squares of y (double, for instance norm) to sum and sumsq.
extern "C" void wino_output(const float* M, int N, int H, int W, int K, int ty0, int ty1, int TW, float* y,
                            double* sum, double* sumsq, int nthreads) {
    const int R = ty1 - ty0;
    const int64_t T = (int64_t)N * R * TW;
    int nt = std::max(1, nthreads);
    std::vector<double> ls((size_t)nt * N * K, 0.0), lq((size_t)nt * N * K, 0.0);
    parallel((int64_t)N * R, nt, [&](int ti, int64_t b, int64_t e) {
        alignas(64) float m[6][6][CB];
        alignas(64) float t[4][6][CB];
        for (int64_t row = b; row < e; ++row) {
            int n = (int)(row / R), ty = ty0 + (int)(row % R);
            double* s = &ls[((size_t)ti * N + n) * K];
            double* q = &lq[((size_t)ti * N + n) * K];
            for (int tx = 0; tx < TW; ++tx) {
                int64_t tile = row * TW + tx;
                int oh = std::min(4, H - 4 * ty), ow = std::min(4, W - 4 * tx);
                for (int k0 = 0; k0 < K; k0 += CB) {
                    int kn = std::min(CB, K - k0);
                    for (int p = 0; p < 36; ++p) {
                        const float* src = M + ((int64_t)p * T + tile) * K + k0;
                        for (int c = 0; c < kn; ++c) m[p / 6][p % 6][c] = src[c];
                    }
                    for (int j = 0; j < 6; ++j) {
                        for (int c = 0; c < kn; ++c) {
                            float m0 = m[0][j][c], m1 = m[1][j][c], m2 = m[2][j][c];
                            float m3 = m[3][j][c], m4 = m[4][j][c], m5 = m[5][j][c];
                            t[0][j][c] = m0 + m1 + m2 + m3 + m4;
                            t[1][j][c] = m1 - m2 + 2.0f * (m3 - m4);
                            t[2][j][c] = m1 + m2 + 4.0f * (m3 + m4);
                            t[3][j][c] = m1 - m2 + 8.0f * (m3 - m4) + m5;
                        }
                    }
                    for (int i = 0; i < oh; ++i) {
                        float* dst = y + (((int64_t)n * H + 4 * ty + i) * W + 4 * tx) * K + k0;
                        alignas(64) float o[4][CB];
                        for (int c = 0; c < kn; ++c) {
                            float m0 = t[i][0][c], m1 = t[i][1][c], m2 = t[i][2][c];
                            float m3 = t[i][3][c], m4 = t[i][4][c], m5 = t[i][5][c];
                            o[0][c] = m0 + m1 + m2 + m3 + m4;
                            o[1][c] = m1 - m2 + 2.0f * (m3 - m4);
                            o[2][c] = m1 + m2 + 4.0f * (m3 + m4);
                            o[3][c] = m1 - m2 + 8.0f * (m3 - m4) + m5;
                        }
                        for (int jj = 0; jj < ow; ++jj) {
                            float* d = dst + (int64_t)jj * K;
                            const float* oj = o[jj];
                            double* sk = s + k0;
                            double* qk = q + k0;
                            for (int c = 0; c < kn; ++c) {
                                float v = oj[c];
                                d[c] = v;
                                sk[c] += v;
                                qk[c] += (double)v * v;
                            }
                        }
                    }
                }
            }
        }
    });
    for (int64_t i = 0; i < (int64_t)N * K; ++i) {
        double ss = 0.0, qq = 0.0;
        for (int t = 0; t < nt; ++t) { ss += ls[(size_t)t * N * K + i]; qq += lq[(size_t)t * N * K + i]; }
        sum[i] += ss;
        sumsq[i] += qq;
    }
}

// r += (y - mean) * rstd per (n, c); r, y: N,HW,C.
extern "C" void residual_add(float* r, const float* y, const float* mean, const float* rstd, int N, int HW,
                             int C, int nthreads) {
    parallel((int64_t)N * HW, nthreads, [&](int, int64_t b, int64_t e) {
        for (int64_t p = b; p < e; ++p) {
            int64_t n = p / HW;
            const float* mu = mean + n * C;
            const float* rs = rstd + n * C;
            float* rp = r + p * C;
            const float* yp = y + p * C;
            for (int c = 0; c < C; ++c) rp[c] += (yp[c] - mu[c]) * rs[c];
        }
    });
}
