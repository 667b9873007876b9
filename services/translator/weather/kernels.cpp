// Rain and snow in one pass: particle footprints and the composite (weather/kernels.py loads it;
// the numpy reference is particles.render_transmittance + atmosphere.composite).
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <thread>
#include <vector>

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

// Linear light (colour.py): a 256-entry sRGB code -> linear table and an encode table of steps + 1 uint8
// sRGB codes sampled evenly on linear [0, 1], both built by Python and shared with the numpy reference.
struct Linear {
    const float* decode;
    const uint8_t* encode;
    float steps;
    inline uint8_t put(float v) const {  // colour.linear_to_srgb_u8: index = int(clip(v, 0, 1)·steps + 0.5)
        return encode[(int)(std::min(std::max(v, 0.0f), 1.0f) * steps + 0.5f)];
    }
};

// One row of out = (g·J − A)·t + A, then out += (C − out)·α, in linear light (atmosphere.composite's model
// with α = 1 − T), written as out = J·m + b_ch with m = g·t·(1 − α), b_ch = (A_ch·(1 − t))·(1 − α) + C_ch·α:
// the first loop (per pixel, no lookups) vectorises, the second is three lookups and a multiply-add per
// pixel. t and α are full rows (α nullable: no particles); air, col linear RGB; w: 4 rows of scratch.
static void composite_row(const uint8_t* __restrict im, const float* __restrict tr, const float* __restrict ar,
                          const float* air, const float* col, float gain, int cols, const Linear& lin,
                          float* __restrict w, uint8_t* __restrict o) {
    const float a0 = air[0], a1 = air[1], a2 = air[2], k0 = col[0], k1 = col[1], k2 = col[2];
    float* __restrict m = w;
    float* __restrict b0 = w + cols;
    float* __restrict b1 = w + 2 * cols;
    float* __restrict b2 = w + 3 * cols;
    if (ar) {
        for (int c = 0; c < cols; ++c) {
            const float t = tr[c], a = ar[c], keep = 1.0f - a, veil = 1.0f - t;
            m[c] = gain * t * keep;
            b0[c] = a0 * veil * keep + k0 * a;
            b1[c] = a1 * veil * keep + k1 * a;
            b2[c] = a2 * veil * keep + k2 * a;
        }
    } else {
        for (int c = 0; c < cols; ++c) {
            const float t = tr[c], veil = 1.0f - t;
            m[c] = gain * t;
            b0[c] = a0 * veil;
            b1[c] = a1 * veil;
            b2[c] = a2 * veil;
        }
    }
    const float* __restrict dec = lin.decode;
    const uint8_t* __restrict enc = lin.encode;
    const float steps = lin.steps;
    for (int c = 0; c < cols; ++c) {
        const float v0 = std::min(std::max(dec[im[3 * c]] * m[c] + b0[c], 0.0f), 1.0f);
        const float v1 = std::min(std::max(dec[im[3 * c + 1]] * m[c] + b1[c], 0.0f), 1.0f);
        const float v2 = std::min(std::max(dec[im[3 * c + 2]] * m[c] + b2[c], 0.0f), 1.0f);
        o[3 * c] = enc[(int)(v0 * steps + 0.5f)];
        o[3 * c + 1] = enc[(int)(v1 * steps + 0.5f)];
        o[3 * c + 2] = enc[(int)(v2 * steps + 0.5f)];
    }
}

// out = composite in linear light of a uint8 image with transmission `trans` and opacity `alpha` (nullable)
// (fog, snow: their maps are made in numpy; this is the per-pixel decode, blend and encode).
extern "C" void composite_linear(int rows, int cols, const uint8_t* image, const float* trans, const float* alpha,
                                 const float* decode, const uint8_t* encode, int steps, const float* air,
                                 const float* colour, float gain, uint8_t* out, int nthreads) {
    const Linear lin{decode, encode, (float)steps};
    parallel(rows, nthreads, [&](int, int64_t b, int64_t e) {
        std::vector<float> work(4 * (size_t)cols);
        for (int64_t r = b; r < e; ++r)
            composite_row(image + r * cols * 3, trans + r * cols, alpha ? alpha + r * cols : nullptr, air,
                          colour, gain, cols, lin, work.data(), out + r * cols * 3);
    });
}

// out = g·J·t·T + A·(1 − t)·T + C·(1 − T) in linear light (precipitation.composite_precipitation) for a
// uint8 image J, t = exp(max(−β·depth, −60))·(1 − sky), T the light passing the particles, airlight A and
// particle colour C linear in [0, 1]. image/out: HxWx3 uint8; depth, occluders, sky (both nullable): HxW
// float32. The frame is cut into blocks of kBlockRows rows (a block's T, depth and pixels stay in cache);
// threads take contiguous runs of blocks. In a block, every particle whose rows reach it is drawn into the
// block's T (in particle order: the result does not depend on the thread count), then the block is
// composited.
static const int64_t kBlockRows = 32;

extern "C" void render_precipitation(int n, const float* const* particles, const float* model,
                                     const float* occluders, const float* table, int table_size,
                                     const uint8_t* image, const float* depth, const float* sky, float beta,
                                     const float* airlight, const float* colour, float gain,
                                     const float* decode, const uint8_t* encode, int steps, int rows,
                                     int cols, uint8_t* out, int nthreads) {
    Footprints fps;  // from particles x, y, z, dx, dy, thickness, opacity
    make_footprints(n, particles, model, fps);
    const Linear lin{decode, encode, (float)steps};
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
        std::vector<float> block((size_t)(kBlockRows * cols)), work(6 * (size_t)cols);
        std::vector<uint8_t> clear(kBlockRows, 1);
        float* __restrict tw = work.data();
        float* __restrict aw = work.data() + cols;
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
                const float* __restrict dr = depth + r * cols;
                const float* __restrict sr = sky ? sky + r * cols : nullptr;
                const float* __restrict T = t.row(r);
                // The veil's t times T, and the particles' α = 1 − T scaled so that the row composite's
                // (g·J − A)·t' + A then + (C − ·)·α gives g·J·t·T + A·(1 − t)·T + C·(1 − T).
                for (int c = 0; c < cols; ++c) {
                    const float e2 = -beta * dr[c];
                    float tc = fast_exp(e2 > -60.0f ? e2 : -60.0f);
                    if (sr) tc *= 1.0f - sr[c];
                    tw[c] = tc;
                    aw[c] = 1.0f - T[c];
                }
                composite_row(image + r * cols * 3, tw, aw, airlight, colour, gain, cols, lin, work.data() + 2 * cols,
                              out + r * cols * 3);
            }
        }
    });
}

static inline float fast_log(float x) {  // Cephes logf for normal x > 0, |rel err| < 2e-7
    int32_t i;
    std::memcpy(&i, &x, 4);
    int32_t e = ((i >> 23) & 0xff) - 127;
    i = (i & 0x007fffff) | 0x3f800000;
    float m;
    std::memcpy(&m, &i, 4);  // [1, 2)
    const bool high = m > 1.41421356f;
    m = high ? m * 0.5f : m;
    e += high ? 1 : 0;
    const float x1 = m - 1.0f, z = x1 * x1;
    float y = 7.0376836292e-2f;
    y = std::fma(y, x1, -1.1514610310e-1f);
    y = std::fma(y, x1, 1.1676998740e-1f);
    y = std::fma(y, x1, -1.2420140846e-1f);
    y = std::fma(y, x1, 1.4249322787e-1f);
    y = std::fma(y, x1, -1.6668057665e-1f);
    y = std::fma(y, x1, 2.0000714765e-1f);
    y = std::fma(y, x1, -2.4999993993e-1f);
    y = std::fma(y, x1, 3.3333331174e-1f);
    const float fe = (float)e;
    y = y * x1 * z + fe * -2.12194440e-4f - 0.5f * z;
    return x1 + y + fe * 0.693359375f;
}

static const float kLuma[3] = {0.2126f, 0.7152f, 0.0722f};

// Row helpers with restrict pointers (so each loop vectorises).
static void decode_row(const uint8_t* __restrict im, const float* __restrict dec, int cols, float* __restrict v0,
                       float* __restrict v1, float* __restrict v2) {
    for (int c = 0; c < cols; ++c) {
        v0[c] = dec[im[3 * c]];
        v1[c] = dec[im[3 * c + 1]];
        v2[c] = dec[im[3 * c + 2]];
    }
}

static void encode_row(const float* __restrict v0, const float* __restrict v1, const float* __restrict v2,
                       const uint8_t* __restrict enc, float steps, int cols, uint8_t* __restrict o) {
    for (int c = 0; c < cols; ++c) {
        o[3 * c] = enc[(int)(std::min(std::max(v0[c], 0.0f), 1.0f) * steps + 0.5f)];
        o[3 * c + 1] = enc[(int)(std::min(std::max(v1[c], 0.0f), 1.0f) * steps + 0.5f)];
        o[3 * c + 2] = enc[(int)(std::min(std::max(v2[c], 0.0f), 1.0f) * steps + 0.5f)];
    }
}

static void luma_row(const float* __restrict v0, const float* __restrict v1, const float* __restrict v2, int cols,
                     float* __restrict y) {
    for (int c = 0; c < cols; ++c) y[c] = kLuma[0] * v0[c] + kLuma[1] * v1[c] + kLuma[2] * v2[c];
}

// Overcast, first pass (overcast.render_overcast_reference): linear luminance and its log, both HxW.
extern "C" void overcast_luminance(int rows, int cols, const uint8_t* image, const float* decode, float* lum,
                                   float* log_lum, int nthreads) {
    parallel(rows, nthreads, [&](int, int64_t b, int64_t e) {
        std::vector<float> work(3 * (size_t)cols);
        float *v0 = work.data(), *v1 = v0 + cols, *v2 = v1 + cols;
        for (int64_t r = b; r < e; ++r) {
            decode_row(image + r * cols * 3, decode, cols, v0, v1, v2);
            float* __restrict l = lum + r * cols;
            float* __restrict g = log_lum + r * cols;
            luma_row(v0, v1, v2, cols, l);
            for (int c = 0; c < cols; ++c) g[c] = fast_log(l[c] + 1e-4f);
        }
    });
}

static void gain_row(const float* __restrict log_gain, int cols, float* __restrict g) {
    for (int c = 0; c < cols; ++c) g[c] = fast_exp(log_gain[c]);
}

static void scale_row(const float* __restrict g, float w0, float w1, float w2, int cols, float* __restrict v0,
                      float* __restrict v1, float* __restrict v2) {
    for (int c = 0; c < cols; ++c) {
        v0[c] = v0[c] * g[c] * w0;
        v1[c] = v1[c] * g[c] * w1;
        v2[c] = v2[c] * g[c] * w2;
    }
}

static float sum_row(const float* __restrict y, int cols) {  // 16 lanes, then in order: fixed per row
    float lanes[16] = {0};
    int c = 0;
    for (; c + 16 <= cols; c += 16)
        for (int k = 0; k < 16; ++k) lanes[k] += y[c + k];
    float s = 0.0f;
    for (; c < cols; ++c) s += y[c];
    for (int k = 0; k < 16; ++k) s += lanes[k];
    return s;
}

static void tone_row(const float* __restrict y, float power, float inv_mean, float saturation, int cols,
                     float* __restrict v0, float* __restrict v1, float* __restrict v2) {
    for (int c = 0; c < cols; ++c) {
        const float ratio = fast_exp(power * fast_log(std::max(y[c], 1e-5f) * inv_mean));
        v0[c] = (y[c] + (v0[c] - y[c]) * saturation) * ratio;
        v1[c] = (y[c] + (v1[c] - y[c]) * saturation) * ratio;
        v2[c] = (y[c] + (v2[c] - y[c]) * saturation) * ratio;
    }
}

static void matte_row(const float* __restrict s, float k0, float k1, float k2, int cols, float* __restrict v0,
                      float* __restrict v1, float* __restrict v2) {  // v += (k − v)·s
    for (int c = 0; c < cols; ++c) {
        v0[c] += (k0 - v0[c]) * s[c];
        v1[c] += (k1 - v1[c]) * s[c];
        v2[c] += (k2 - v2[c]) * s[c];
    }
}

// Overcast, second pass: gain = exp(log_gain) lifts the shadows, the white balance and
// exposure `wb` scale the channels, saturation around each pixel's luminance, luminance to the power
// `contrast` around its mean (summed per row, rows added in order: the same for any thread count), the
// cloud deck (one linear grey per row) through the sky matte, encode.
extern "C" void overcast_finish(int rows, int cols, const uint8_t* image, const float* decode,
                                const float* log_gain, const float* wb, float saturation,
                                float contrast, const float* sky, const float* cloud, const uint8_t* encode,
                                int steps, uint8_t* out, int nthreads) {
    std::vector<float> gain((size_t)rows * cols);
    std::vector<double> row_sum(rows);
    const float w0 = wb[0], w1 = wb[1], w2 = wb[2];
    parallel(rows, nthreads, [&](int, int64_t b, int64_t e) {
        std::vector<float> work(4 * (size_t)cols);
        float *v0 = work.data(), *v1 = v0 + cols, *v2 = v1 + cols, *y = v2 + cols;
        for (int64_t r = b; r < e; ++r) {
            float* g = gain.data() + r * cols;
            gain_row(log_gain + r * cols, cols, g);
            decode_row(image + r * cols * 3, decode, cols, v0, v1, v2);
            scale_row(g, w0, w1, w2, cols, v0, v1, v2);
            luma_row(v0, v1, v2, cols, y);
            row_sum[r] = sum_row(y, cols);
        }
    });
    double total = 0.0;
    for (int r = 0; r < rows; ++r) total += row_sum[r];
    const float mean = std::max((float)(total / ((double)rows * cols)), 1e-4f);
    const float inv_mean = 1.0f / mean, power = contrast - 1.0f;
    parallel(rows, nthreads, [&](int, int64_t b, int64_t e) {
        std::vector<float> work(4 * (size_t)cols);
        float *v0 = work.data(), *v1 = v0 + cols, *v2 = v1 + cols, *y = v2 + cols;
        for (int64_t r = b; r < e; ++r) {
            decode_row(image + r * cols * 3, decode, cols, v0, v1, v2);
            scale_row(gain.data() + r * cols, w0, w1, w2, cols, v0, v1, v2);
            luma_row(v0, v1, v2, cols, y);
            tone_row(y, power, inv_mean, saturation, cols, v0, v1, v2);
            if (sky) matte_row(sky + r * cols, cloud[r], cloud[r], cloud[r], cols, v0, v1, v2);
            encode_row(v0, v1, v2, encode, (float)steps, cols, out + r * cols * 3);
        }
    });
}

static void light_row(const float* __restrict l, const float* __restrict j0, const float* __restrict j1,
                      const float* __restrict j2, int cols, float* __restrict v0, float* __restrict v1,
                      float* __restrict v2) {  // v += (j − v)·l
    for (int c = 0; c < cols; ++c) {
        v0[c] += (j0[c] - v0[c]) * l[c];
        v1[c] += (j1[c] - v1[c]) * l[c];
        v2[c] += (j2[c] - v2[c]) * l[c];
    }
}

static void sky_row(const float* __restrict s, const float* __restrict y, float t0, float t1, float t2, int cols,
                    float* __restrict v0, float* __restrict v1, float* __restrict v2) {  // v += (y·t − v)·s
    for (int c = 0; c < cols; ++c) {
        v0[c] += (y[c] * t0 - v0[c]) * s[c];
        v1[c] += (y[c] * t1 - v1[c]) * s[c];
        v2[c] += (y[c] * t2 - v2[c]) * s[c];
    }
}

static void glow_row(const float* __restrict g, int cols, float* __restrict v0, float* __restrict v1,
                     float* __restrict v2) {
    for (int c = 0; c < cols; ++c) {
        v0[c] += g[3 * c];
        v1[c] += g[3 * c + 1];
        v2[c] += g[3 * c + 2];
    }
}

static void noise_row(const uint8_t* __restrict u, const float* __restrict normal, float electrons, float read_var,
                      float inv_e, int cols, float* __restrict x) {  // one channel; u strided by 3
    for (int c = 0; c < cols; ++c) {
        const float q = std::min(std::max(x[c], 0.0f), 1.0f) * electrons;
        x[c] += normal[u[3 * c]] * std::sqrt(q + read_var) * inv_e;
    }
}

// Dusk and night in one pass (night.render_low_light_reference): exposure and white balance `wb`, the sky
// matte blending to its luminance times the row's tint (HxW sky and rows x 3 tint, or null), light sources
// keeping their own linear colour (HxW, or null), the bloom halo (HxWx3, already scaled, or null), then
// shot-plus-read noise: a uniform byte per channel through the normal quantile table, times
// sqrt(clip(v)·E + read²)/E, and the encode.
extern "C" void low_light(int rows, int cols, const uint8_t* image, const float* decode, const float* wb,
                          const float* sky, const float* tint, const float* light, const float* glow,
                          const uint8_t* noise, const float* normal, float electrons, float read_var,
                          const uint8_t* encode, int steps, uint8_t* out, int nthreads) {
    const float w0 = wb[0], w1 = wb[1], w2 = wb[2], inv_e = 1.0f / electrons;
    std::vector<float> ones((size_t)cols, 1.0f);
    parallel(rows, nthreads, [&](int, int64_t b, int64_t e) {
        std::vector<float> work(7 * (size_t)cols);
        float *j0 = work.data(), *j1 = j0 + cols, *j2 = j1 + cols;
        float *v0 = j2 + cols, *v1 = v0 + cols, *v2 = v1 + cols, *y = v2 + cols;
        for (int64_t r = b; r < e; ++r) {
            decode_row(image + r * cols * 3, decode, cols, j0, j1, j2);
            std::memcpy(v0, j0, cols * sizeof(float));
            std::memcpy(v1, j1, cols * sizeof(float));
            std::memcpy(v2, j2, cols * sizeof(float));
            scale_row(ones.data(), w0, w1, w2, cols, v0, v1, v2);
            if (sky) {
                luma_row(j0, j1, j2, cols, y);
                sky_row(sky + r * cols, y, tint[3 * r], tint[3 * r + 1], tint[3 * r + 2], cols, v0, v1, v2);
            }
            if (light) light_row(light + r * cols, j0, j1, j2, cols, v0, v1, v2);
            if (glow) glow_row(glow + r * cols * 3, cols, v0, v1, v2);
            const uint8_t* u = noise + r * cols * 3;
            noise_row(u, normal, electrons, read_var, inv_e, cols, v0);
            noise_row(u + 1, normal, electrons, read_var, inv_e, cols, v1);
            noise_row(u + 2, normal, electrons, read_var, inv_e, cols, v2);
            encode_row(v0, v1, v2, encode, (float)steps, cols, out + r * cols * 3);
        }
    });
}
