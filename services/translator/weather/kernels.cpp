// Rain and snow in one pass: particle footprints and the composite (weather/kernels.py loads it;
// the numpy reference is particles.render_transmittance + atmosphere.composite).
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <thread>
#include <vector>
#if defined(__AVX512F__)
#include <immintrin.h>
#endif

#include "parallel.hpp"

// particles.footprints: the same float32 operations in the same order (so the same values), vectorised;
// model = particles.kernel_constants: {f·aperture/4, pixel variance, reach in σ, table steps per σ,
// soft σ, thin max width, capsule min width in σ}.
struct Footprints {
    std::vector<float> x, y, z, dx, dy, ux, uy, hl, hw, scale, rl, rw, op;
    std::vector<uint8_t> shape;                // 0 thin line, 1 streak, 2 capsule (particles.THIN, ...)
    std::vector<int32_t> first_row, last_row;  // rows it can touch: its soft box, or its line's ends ± 1
};

// One loop over raw restrict pointers (so the compiler vectorises it).
static void footprint_fields(int n, const float* __restrict py, const float* __restrict pz,
                             const float* __restrict pdx, const float* __restrict pdy,
                             const float* __restrict pth, const float* __restrict pop, const float* model,
                             float* __restrict ux, float* __restrict uy, float* __restrict hl,
                             float* __restrict hw, float* __restrict sc, float* __restrict rl,
                             float* __restrict rw, float* __restrict op, uint8_t* __restrict shape,
                             int32_t* __restrict first, int32_t* __restrict last) {
    const float k = model[0], variance = model[1], reach_sigmas = model[2], steps = model[3];
    const float soft_min = model[4], thin_max = model[5], capsule_min = model[6];
    for (int i = 0; i < n; ++i) {
        const float dx = pdx[i], dy = pdy[i], th = pth[i];
        const float length = std::sqrt(dx * dx + dy * dy);
        const bool moving = length > 0.0f;
        const float safe = moving ? length : 1.0f;
        const float width = std::max(th, 1.0f), defocus = k / pz[i];
        const float sigma = std::sqrt(defocus * defocus + variance);
        const float half_length = (length + width) * 0.5f, half_width = width * 0.5f;
        const float reach = reach_sigmas * sigma;
        const float u = moving ? dx / safe : 0.0f, v = moving ? dy / safe : 1.0f;
        ux[i] = u;
        uy[i] = v;
        hl[i] = half_length;
        hw[i] = half_width;
        sc[i] = steps / sigma;
        rl[i] = half_length + reach;
        rw[i] = half_width + reach;
        const bool is_soft = (defocus >= soft_min) | (th > thin_max);
        const bool capsule = (th > thin_max) & (width >= capsule_min * sigma);
        op[i] = is_soft ? std::min(std::max(pop[i], 0.0f), 1.0f) : std::min(pop[i] * width, 1.0f);
        shape[i] = capsule ? 2 : (is_soft ? 1 : 0);
        const float reach_y = std::fabs(v) * (half_length + reach) + std::fabs(u) * (half_width + reach);
        const float half_dy = 0.5f * std::fabs(dy);
        first[i] = (int32_t)(is_soft ? std::ceil(py[i] - reach_y) : std::floor(py[i] - half_dy) - 1.0f);
        last[i] = (int32_t)(is_soft ? std::floor(py[i] + reach_y) : std::ceil(py[i] + half_dy) + 1.0f);
    }
}

static void make_footprints(int n, const float* const* p, const float* model, Footprints& f) {
    for (auto* v : {&f.ux, &f.uy, &f.hl, &f.hw, &f.scale, &f.rl, &f.rw, &f.op}) v->resize(n);
    f.shape.resize(n);
    f.first_row.resize(n);
    f.last_row.resize(n);
    footprint_fields(n, p[1], p[2], p[3], p[4], p[5], p[6], model, f.ux.data(), f.uy.data(), f.hl.data(),
                     f.hw.data(), f.scale.data(), f.rl.data(), f.rw.data(), f.op.data(), f.shape.data(),
                     f.first_row.data(), f.last_row.data());
    f.x.assign(p[0], p[0] + n);
    f.y.assign(p[1], p[1] + n);
    f.z.assign(p[2], p[2] + n);
    f.dx.assign(p[3], p[3] + n);
    f.dy.assign(p[4], p[4] + n);
}

// Light passing the particles: T[p] *= 1 − α_i(p) for every particle i in index order, α_i being
// particles.coverage (streak, capsule) or particles.thin_line_pixels (thin), the same float32 expressions
// without FMA; a particle is skipped where the depth is not farther than it.
// A Target is the rows [band0, band1) of T held by one thread; depth (full frame) hides particles except
// in rows flagged clear (no surface there is as near as the farthest particle).
struct Target {
    float* band;
    const float* depth;
    const uint8_t* clear;
    int64_t band0, band1, cols;
    inline float* row(int64_t r) const { return band + (r - band0) * cols; }
    inline const float* occluders(int64_t r) const {
        return depth && !clear[r - band0] ? depth + r * cols : nullptr;
    }
    inline void put(int64_t r, int64_t c, float a, float z) const {
        if (r < band0 || r >= band1 || c < 0 || c >= cols) return;
        const float* d = occluders(r);
        if (d && !(d[c] > z)) return;
        row(r)[c] *= 1.0f - a;
    }
};

static void thin_line(const Footprints& f, int i, const Target& t) {
    const float half = 0.5f, x = f.x[i], y = f.y[i], dx = f.dx[i], dy = f.dy[i], o = f.op[i], z = f.z[i];
    const float xa = x - half * dx, xb = x + half * dx, ya = y - half * dy, yb = y + half * dy;
    const bool y_major = std::fabs(dy) >= std::fabs(dx);
    float ma = y_major ? ya : xa, mb = y_major ? yb : xb, na = y_major ? xa : ya, nb = y_major ? xb : yb;
    if (ma > mb) {
        std::swap(ma, mb);
        std::swap(na, nb);
    }
    int64_t k0 = (int64_t)std::floor(ma + half), k1 = (int64_t)std::floor(mb + half);
    const float span = mb - ma, slope = span > 0.0f ? (nb - na) / span : 0.0f;
    if (y_major) {  // only the rows of this block; unchecked writes when both columns stay in the frame
        k0 = std::max(k0, t.band0);
        k1 = std::min(k1, t.band1 - 1);
        const bool inside = std::min(na, nb) >= 0.01f && std::max(na, nb) <= (float)(t.cols - 2) - 0.01f;
        for (int64_t k = k0; k <= k1; ++k) {
            const float s = std::min(std::max((float)k - ma, 0.0f), span);
            const float m = na + s * slope, fl = std::floor(m), frac = m - fl;
            const int64_t m0 = (int64_t)fl;
            const float* d = t.occluders(k);
            if (inside && !d) {
                float* row = t.row(k) + m0;
                row[0] *= 1.0f - o * (1.0f - frac);
                row[1] *= 1.0f - o * frac;
            } else {
                t.put(k, m0, o * (1.0f - frac), z);
                t.put(k, m0 + 1, o * frac, z);
            }
        }
        return;
    }
    for (int64_t k = k0; k <= k1; ++k) {
        const float s = std::min(std::max((float)k - ma, 0.0f), span);
        const float m = na + s * slope, fl = std::floor(m), frac = m - fl;
        const int64_t m0 = (int64_t)fl;
        t.put(m0, k, o * (1.0f - frac), z);
        t.put(m0 + 1, k, o * frac, z);
    }
}

static void soft_footprint(const Footprints& f, int i, const Target& t, const float* __restrict lut, int size) {
    const float ax = std::fabs(f.ux[i]), ay = std::fabs(f.uy[i]);
    const float reach_x = ax * f.rl[i] + ay * f.rw[i], reach_y = ay * f.rl[i] + ax * f.rw[i];
    int64_t r0 = (int64_t)std::ceil(f.y[i] - reach_y), r1 = (int64_t)std::floor(f.y[i] + reach_y);
    int64_t c0 = (int64_t)std::ceil(f.x[i] - reach_x), c1 = (int64_t)std::floor(f.x[i] + reach_x);
    r0 = std::max(r0, t.band0);
    r1 = std::min(r1, t.band1 - 1);
    c0 = std::max<int64_t>(c0, 0);
    c1 = std::min<int64_t>(c1, t.cols - 1);
    if (r0 > r1 || c0 > c1) return;
    const float x0 = f.x[i], y0 = f.y[i], u = f.ux[i], v = f.uy[i], sc = f.scale[i];
    const float h_l = f.hl[i], h_w = f.hw[i], o = f.op[i], zi = f.z[i], segment = h_l - h_w;
    const bool capsule = f.shape[i] == 2;
    const float offset = (float)((size - 1) / 2) + 0.5f, top = (float)size - 0.5f;
    auto phi = [&](float steps) {  // table[round(steps) + mid], clamped, as particles._phi; branch-free
        int k = (int)std::min(steps + offset, top);
        return lut[k > 0 ? k : 0];
    };
    // Outside |along| <= rl, |across| <= rw alpha is exactly 0 (the table saturates); a little slack keeps
    // the per-row column range below conservative.
    const float lim_l = f.rl[i] * 1.001f + 0.01f, lim_w = f.rw[i] * 1.001f + 0.01f;
    for (int64_t r = r0; r <= r1; ++r) {
        const float py = (float)r - y0;
        // px·u ∈ [−lim_l − py·v, lim_l − py·v] and −px·v ∈ [−lim_w − py·u, lim_w − py·u].
        float lo = (float)c0 - x0, hi = (float)c1 - x0;
        if (std::fabs(u) > 1e-6f) {
            float a = (-lim_l - py * v) / u, b = (lim_l - py * v) / u;
            lo = std::max(lo, std::min(a, b));
            hi = std::min(hi, std::max(a, b));
        }
        if (std::fabs(v) > 1e-6f) {
            float a = (lim_w + py * u) / v, b = (-lim_w + py * u) / v;
            lo = std::max(lo, std::min(a, b));
            hi = std::min(hi, std::max(a, b));
        }
        if (lo > hi) continue;
        const int64_t cs = std::max<int64_t>(c0, (int64_t)std::floor(x0 + lo));
        const int64_t ce = std::min<int64_t>(c1, (int64_t)std::ceil(x0 + hi));
        float* __restrict row = t.row(r);
        const float* drow = t.occluders(r);
        for (int64_t c = cs; c <= ce; ++c) {
            const float px = (float)c - x0;
            const float along = px * u + py * v;
            const float across = py * u - px * v;
            const float xp = phi((across + h_w) * sc) - phi((across - h_w) * sc);
            const float yp = phi((along + h_l) * sc) - phi((along - h_l) * sc);
            const float beyond = along - std::min(std::max(along, -segment), segment);
            const float edge = phi((h_w - std::sqrt(beyond * beyond + across * across)) * sc);
            float a = o * (capsule ? edge : xp * yp);
            if (drow) a *= (float)(drow[c] > zi);  // hidden behind a nearer surface
            row[c] *= 1.0f - a;
        }
    }
}

static inline float fast_exp(float x) {  // Cephes expf, |rel err| < 3e-7 on [-88, 88], branch-free
    x = std::min(88.0f, std::max(-88.0f, x));
    float fx = std::floor(x * 1.44269504088896341f + 0.5f);
    float r = std::fma(fx, 2.12194440e-4f, std::fma(-fx, 0.693359375f, x));
    float z = r * r;
    float p = 1.9875691500e-4f;
    p = std::fma(p, r, 1.3981999507e-3f);
    p = std::fma(p, r, 8.3334519073e-3f);
    p = std::fma(p, r, 4.1665795894e-2f);
    p = std::fma(p, r, 1.6666665459e-1f);
    p = std::fma(p, r, 5.0000001201e-1f);
    p = std::fma(p, z, r + 1.0f);
    int32_t e = ((int32_t)fx + 127) << 23;
    float scale;
    std::memcpy(&scale, &e, 4);
    return p * scale;
}

#if defined(__AVX512F__) && defined(__AVX512BW__) && defined(__AVX512VBMI__)
#define HAVE_AVX512_COMPOSITE 1
// fast_exp on 16 lanes, the same operations in the same order.
static inline __m512 fast_exp16(__m512 x) {
    x = _mm512_min_ps(_mm512_max_ps(x, _mm512_set1_ps(-88.0f)), _mm512_set1_ps(88.0f));
    const __m512 scaled = _mm512_add_ps(_mm512_mul_ps(x, _mm512_set1_ps(1.44269504088896341f)),
                                        _mm512_set1_ps(0.5f));
    const __m512 fx = _mm512_roundscale_ps(scaled, _MM_FROUND_TO_NEG_INF | _MM_FROUND_NO_EXC);
    const __m512 r = _mm512_fmadd_ps(fx, _mm512_set1_ps(2.12194440e-4f),
                                     _mm512_fnmadd_ps(fx, _mm512_set1_ps(0.693359375f), x));
    const __m512 z = _mm512_mul_ps(r, r);
    __m512 p = _mm512_set1_ps(1.9875691500e-4f);
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.3981999507e-3f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(8.3334519073e-3f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(4.1665795894e-2f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.6666665459e-1f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(5.0000001201e-1f));
    p = _mm512_fmadd_ps(p, z, _mm512_add_ps(r, _mm512_set1_ps(1.0f)));
    const __m512i e = _mm512_slli_epi32(_mm512_add_epi32(_mm512_cvttps_epi32(fx), _mm512_set1_epi32(127)), 23);
    return _mm512_mul_ps(p, _mm512_castsi512_ps(e));
}

// composite_row in one pass, 16 pixels at a time: interleaved RGB split into planes with one byte
// permute, blended in float, rounded (to nearest even, like nearbyint), clamped and merged back.
static void composite_row_avx512(const uint8_t* im, const float* dr, const float* tr, float beta,
                                 const float* air, const float* col, float gain, int cols, uint8_t* o) {
    alignas(64) static const uint8_t split_idx[64] = {
        0, 3, 6, 9,  12, 15, 18, 21, 24, 27, 30, 33, 36, 39, 42, 45, 1, 4, 7, 10, 13, 16,
        19, 22, 25, 28, 31, 34, 37, 40, 43, 46, 2, 5, 8, 11, 14, 17, 20, 23, 26, 29, 32, 35,
        38, 41, 44, 47, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0};
    alignas(64) static const uint8_t merge_idx[64] = {
        0, 16, 32, 1, 17, 33, 2, 18, 34, 3,  19, 35, 4,  20, 36, 5,  21, 37, 6,  22, 38, 7,
        23, 39, 8, 24, 40, 9, 25, 41, 10, 26, 42, 11, 27, 43, 12, 28, 44, 13, 29, 45, 14, 30,
        46, 15, 31, 47, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0};
    const __m512i split = _mm512_load_si512(split_idx), merge = _mm512_load_si512(merge_idx);
    const __m512i zero = _mm512_setzero_si512();
    const __m512 one = _mm512_set1_ps(1.0f), neg_beta = _mm512_set1_ps(-beta), vgain = _mm512_set1_ps(gain);
    const __m512 floor_e = _mm512_set1_ps(-60.0f);
    const __m512 a[3] = {_mm512_set1_ps(air[0]), _mm512_set1_ps(air[1]), _mm512_set1_ps(air[2])};
    const __m512 k[3] = {_mm512_set1_ps(col[0]), _mm512_set1_ps(col[1]), _mm512_set1_ps(col[2])};
    for (int c = 0; c < cols; c += 16) {
        const int n = cols - c < 16 ? cols - c : 16;
        const __mmask16 lanes = (__mmask16)((1u << n) - 1);
        const __mmask64 bytes = (((__mmask64)1) << (3 * n)) - 1;
        const __m512 d = _mm512_maskz_loadu_ps(lanes, dr + c);
        const __m512 T = _mm512_mask_loadu_ps(one, lanes, tr + c);
        const __m512 t = fast_exp16(_mm512_max_ps(_mm512_mul_ps(neg_beta, d), floor_e));
        const __m512 veil = _mm512_mul_ps(_mm512_sub_ps(one, t), T), own = _mm512_sub_ps(one, T);
        const __m512 m = _mm512_mul_ps(_mm512_mul_ps(vgain, t), T);
        const __m512i px = _mm512_permutexvar_epi8(split, _mm512_maskz_loadu_epi8(bytes, im + 3 * c));
        __m512i packed = zero;
        for (int ch = 0; ch < 3; ++ch) {
            const __m512 b = _mm512_fmadd_ps(a[ch], veil, _mm512_mul_ps(k[ch], own));
            const __m128i plane = ch == 0 ? _mm512_extracti32x4_epi32(px, 0)
                                  : ch == 1 ? _mm512_extracti32x4_epi32(px, 1)
                                            : _mm512_extracti32x4_epi32(px, 2);
            const __m512 v = _mm512_fmadd_ps(_mm512_cvtepi32_ps(_mm512_cvtepu8_epi32(plane)), m, b);
            const __m128i q = _mm512_cvtusepi32_epi8(_mm512_max_epi32(_mm512_cvtps_epi32(v), zero));
            packed = ch == 0 ? _mm512_inserti32x4(packed, q, 0)
                     : ch == 1 ? _mm512_inserti32x4(packed, q, 1)
                               : _mm512_inserti32x4(packed, q, 2);
        }
        _mm512_mask_storeu_epi8(o + 3 * c, bytes, _mm512_permutexvar_epi8(merge, packed));
    }
}
#endif

// One row of composite_scene; restrict pointers and counts by value so that every loop vectorises.
static void composite_row(const uint8_t* __restrict im, const float* __restrict dr,
                          const float* __restrict tr, float beta, const float* air, const float* col,
                          float gain, int cols, float* __restrict m, float* __restrict b0,
                          float* __restrict b1, float* __restrict b2, uint8_t* __restrict o) {
    const float a0 = air[0], a1 = air[1], a2 = air[2], k0 = col[0], k1 = col[1], k2 = col[2];
    for (int c = 0; c < cols; ++c) {
        float e = -beta * dr[c];
        float t = fast_exp(e > -60.0f ? e : -60.0f);
        float T = tr[c];
        float veil = (1.0f - t) * T, own = 1.0f - T;
        m[c] = gain * t * T;
        b0[c] = std::fma(a0, veil, k0 * own);
        b1[c] = std::fma(a1, veil, k1 * own);
        b2[c] = std::fma(a2, veil, k2 * own);
    }
    for (int c = 0; c < cols; ++c) {
        float v0 = std::nearbyint(std::fma((float)im[3 * c], m[c], b0[c]));
        float v1 = std::nearbyint(std::fma((float)im[3 * c + 1], m[c], b1[c]));
        float v2 = std::nearbyint(std::fma((float)im[3 * c + 2], m[c], b2[c]));
        o[3 * c] = (uint8_t)(int)std::min(255.0f, std::max(0.0f, v0));
        o[3 * c + 1] = (uint8_t)(int)std::min(255.0f, std::max(0.0f, v1));
        o[3 * c + 2] = (uint8_t)(int)std::min(255.0f, std::max(0.0f, v2));
    }
}

// out = g·J·t·T + A·(1 − t)·T + C·(1 − T) (atmosphere.composite with α = 1 − T) for a uint8 image J,
// t = exp(max(−β·depth, −60)), T the light passing the particles, airlight A and particle colour C in grey
// levels (0..255). image/out: HxWx3 uint8; depth, occluders (nullable): HxW float32.
// The frame is cut into blocks of kBlockRows rows (a block's T, depth and pixels stay in cache); threads
// take contiguous runs of blocks. In a block, every particle whose rows reach it is drawn into the block's
// T (in particle order: the result does not depend on the thread count), then the block is composited.
static const int64_t kBlockRows = 32;

extern "C" void render_precipitation(int n, const float* const* particles, const float* model,
                                     const float* occluders, const float* table, int table_size,
                                     const uint8_t* image, const float* depth, float beta,
                                     const float* airlight, const float* colour, float gain, int rows, int cols,
                                     uint8_t* out, int nthreads) {
    Footprints fps;  // from particles x, y, z, dx, dy, thickness, opacity
    make_footprints(n, particles, model, fps);
    const int64_t nblocks = (rows + kBlockRows - 1) / kBlockRows;
    const float farthest = n ? *std::max_element(fps.z.begin(), fps.z.end()) : 0.0f;
    parallel(nblocks, nthreads, [&](int, int64_t b, int64_t e) {
        // The particles reaching each of this thread's blocks, in particle order.
        std::vector<std::vector<int>> members(e - b);
        for (auto& m : members) m.reserve(2 * (size_t)n / (size_t)nblocks + 16);
        const int32_t* first_row = fps.first_row.data();
        const int32_t* last_row = fps.last_row.data();
        const int64_t top = b * kBlockRows, bottom = std::min<int64_t>(rows, e * kBlockRows) - 1;
        for (int i = 0; i < n; ++i) {
            const int64_t first = std::max<int64_t>(first_row[i], top), last = std::min<int64_t>(last_row[i], bottom);
            for (int64_t blk = first / kBlockRows; first <= last && blk <= last / kBlockRows; ++blk)
                members[blk - b].push_back(i);
        }
        std::vector<float> block((size_t)(kBlockRows * cols)), work(4 * (size_t)cols);
        std::vector<uint8_t> clear(kBlockRows, 1);
        float* w = work.data();
        for (int64_t blk = b; blk < e; ++blk) {
            const int64_t r0 = blk * kBlockRows, r1 = std::min<int64_t>(rows, r0 + kBlockRows);
            std::fill(block.begin(), block.begin() + (r1 - r0) * cols, 1.0f);
            for (int64_t r = r0; occluders && !members[blk - b].empty() && r < r1; ++r) {
                const float* d = occluders + r * cols;
                int near = 0;  // an OR, not a min: it vectorises
                for (int64_t c = 0; c < cols; ++c) near |= d[c] <= farthest;
                clear[r - r0] = !near;
            }
            const Target t{block.data(), occluders, clear.data(), r0, r1, cols};
            for (int i : members[blk - b]) {
                if (fps.shape[i])
                    soft_footprint(fps, i, t, table, table_size);
                else
                    thin_line(fps, i, t);
            }
            for (int64_t r = r0; r < r1; ++r) {
#ifdef HAVE_AVX512_COMPOSITE
                composite_row_avx512(image + r * cols * 3, depth + r * cols, t.row(r), beta, airlight, colour,
                                     gain, cols, out + r * cols * 3);
#else
                composite_row(image + r * cols * 3, depth + r * cols, t.row(r), beta, airlight, colour, gain,
                              cols, w, w + cols, w + 2 * cols, w + 3 * cols, out + r * cols * 3);
#endif
            }
        }
    });
}
