"""C++ kernels for rain and snow at frame rate: particle footprints and the whole composite in one pass.

Why C++: in numpy a particle footprint is a dozen array passes over padded boxes and the composite
(transmission exp, particle blend, rounding) a dozen full-frame passes; here each particle is one loop
over its box and the composite one pass over each block of rows (two threads, the block kept in cache),
vectorised by the compiler. The pixels are those of the numpy reference (particles.render_transmittance
and atmosphere.composite) to within float rounding (tested). No torch
headers: the library builds with g++ in about a second, is loaded with ctypes and cached next to the
CycleGAN kernels (same cache folder and CPU key). Without a compiler :func:`load` raises
:class:`KernelBuildError` and the callers use numpy.
"""

from __future__ import annotations

import ctypes
from functools import lru_cache

import numpy as np

from services.translator.native import KernelBuildError, load_library
from services.translator.weather.particles import Particles, kernel_constants, phi_table

_SOURCE = r"""
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <thread>
#include <vector>

template <class F> static void parallel(int64_t n, int nthreads, F f) {
    int nt = (int)std::max<int64_t>(1, std::min<int64_t>(nthreads, n));
    int64_t step = (n + nt - 1) / nt;
    std::vector<std::thread> pool;
    for (int t = 1; t < nt; ++t) {
        int64_t b = t * step, e = std::min(n, b + step);
        if (b < e) pool.emplace_back(f, b, e);
    }
    f((int64_t)0, std::min(n, step));
    for (auto& th : pool) th.join();
}

// Light passing the particles: out[p] *= 1 - alpha_i(p) for every particle i in index order, where alpha
// is particles.coverage (soft[i]) or particles.thin_line_pixels (same float32 expressions, no FMA) and a
// particle is skipped where depth (if given) is not farther than it. Rows are split between threads;
// every pixel is written by one thread, in particle order, so the result does not depend on the count.
// particles.footprints: the same float32 operations in the same order (so the same values), vectorised;
// model = particles.kernel_constants: {f·aperture/4, pixel variance, reach in σ, table steps per σ,
// soft σ, thin max width}.
struct Footprints {
    std::vector<float> x, y, z, dx, dy, ux, uy, hl, hw, scale, rl, rw, op;
    std::vector<uint8_t> soft;
};

static void make_footprints(int n, const float* const* p, const float* model, Footprints& f) {
    for (auto* v : {&f.x, &f.y, &f.z, &f.dx, &f.dy, &f.ux, &f.uy, &f.hl, &f.hw, &f.scale, &f.rl, &f.rw, &f.op})
        v->resize(n);
    f.soft.resize(n);
    const float* __restrict px = p[0];
    const float* __restrict py = p[1];
    const float* __restrict pz = p[2];
    const float* __restrict pdx = p[3];
    const float* __restrict pdy = p[4];
    const float* __restrict pth = p[5];
    const float* __restrict pop = p[6];
    float* __restrict ux = f.ux.data();
    float* __restrict uy = f.uy.data();
    float* __restrict hl = f.hl.data();
    float* __restrict hw = f.hw.data();
    float* __restrict sc = f.scale.data();
    float* __restrict rl = f.rl.data();
    float* __restrict rw = f.rw.data();
    float* __restrict op = f.op.data();
    uint8_t* __restrict soft = f.soft.data();
    const float k = model[0], variance = model[1], reach_sigmas = model[2], steps = model[3];
    const float soft_min = model[4], thin_max = model[5];
    for (int i = 0; i < n; ++i) {
        const float dx = pdx[i], dy = pdy[i], th = pth[i];
        const float length = std::sqrt(dx * dx + dy * dy);
        const bool moving = length > 0.0f;
        const float safe = moving ? length : 1.0f;
        const float width = std::max(th, 1.0f), defocus = k / pz[i];
        const float sigma = std::sqrt(defocus * defocus + variance);
        const float half_length = (length + width) * 0.5f, half_width = width * 0.5f, reach = reach_sigmas * sigma;
        ux[i] = moving ? dx / safe : 0.0f;
        uy[i] = moving ? dy / safe : 1.0f;
        hl[i] = half_length;
        hw[i] = half_width;
        sc[i] = steps / sigma;
        rl[i] = half_length + reach;
        rw[i] = half_width + reach;
        const bool is_soft = (defocus >= soft_min) | (th > thin_max);
        op[i] = is_soft ? std::min(std::max(pop[i], 0.0f), 1.0f) : std::min(pop[i] * width, 1.0f);
        soft[i] = is_soft;
    }
    std::copy(px, px + n, f.x.begin());
    std::copy(py, py + n, f.y.begin());
    std::copy(pz, pz + n, f.z.begin());
    std::copy(pdx, pdx + n, f.dx.begin());
    std::copy(pdy, pdy + n, f.dy.begin());
}

// The rows [band0, band1) of the transmittance, held by one thread; depth (full frame) hides particles
// except in rows flagged clear (no surface there is as near as the farthest particle).
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
    const float h_l = f.hl[i], h_w = f.hw[i], o = f.op[i], zi = f.z[i];
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
            float a = o * xp * yp;
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

// Rows a particle can touch (inclusive, unclipped): its soft box, or its thin line's ends ± 1.
static void row_span(const Footprints& f, int i, int64_t& r0, int64_t& r1) {
    if (f.soft[i]) {
        const float reach_y = std::fabs(f.uy[i]) * f.rl[i] + std::fabs(f.ux[i]) * f.rw[i];
        r0 = (int64_t)std::ceil(f.y[i] - reach_y);
        r1 = (int64_t)std::floor(f.y[i] + reach_y);
    } else {
        const float half = 0.5f * std::fabs(f.dy[i]);
        r0 = (int64_t)std::floor(f.y[i] - half) - 1;
        r1 = (int64_t)std::ceil(f.y[i] + half) + 1;
    }
}

// out = g·J·t·T + A·(1 − t)·T + C·(1 − T) (atmosphere.composite with α = 1 − T) for a uint8 image J,
// t = exp(max(−β·depth, −60)), T the light passing the particles, airlight A and particle colour C in grey
// levels (0..255). image/out: HxWx3 uint8; depth, occluders (nullable): HxW float32.
// The frame is cut into blocks of kBlockRows rows (a block's T, depth and pixels stay in cache); threads
// take contiguous runs of blocks. In a block, every particle touching it is drawn into the block's T (in
// particle order: the result does not depend on the thread count), then the block is composited.
static const int64_t kBlockRows = 32;

extern "C" void render_precipitation(int n, const float* const* particles, const float* model,
                                     const float* occluders, const float* table, int table_size,
                                     const uint8_t* image, const float* depth, float beta,
                                     const float* airlight, const float* colour, float gain, int rows, int cols,
                                     uint8_t* out, int nthreads) {
    Footprints fps;  // from particles x, y, z, dx, dy, thickness, opacity
    make_footprints(n, particles, model, fps);
    const int64_t nblocks = (rows + kBlockRows - 1) / kBlockRows;
    std::vector<std::vector<int>> members(nblocks);
    const float farthest = n ? *std::max_element(fps.z.begin(), fps.z.end()) : 0.0f;
    for (int i = 0; i < n; ++i) {
        int64_t r0, r1;
        row_span(fps, i, r0, r1);
        r0 = std::max<int64_t>(r0, 0);
        r1 = std::min<int64_t>(r1, rows - 1);
        for (int64_t blk = r0 / kBlockRows; r0 <= r1 && blk <= r1 / kBlockRows; ++blk) members[blk].push_back(i);
    }
    parallel(nblocks, nthreads, [&](int64_t b, int64_t e) {
        std::vector<float> block((size_t)(kBlockRows * cols)), work(4 * (size_t)cols);
        std::vector<uint8_t> clear(kBlockRows, 1);
        float* w = work.data();
        for (int64_t blk = b; blk < e; ++blk) {
            const int64_t r0 = blk * kBlockRows, r1 = std::min<int64_t>(rows, r0 + kBlockRows);
            std::fill(block.begin(), block.begin() + (r1 - r0) * cols, 1.0f);
            for (int64_t r = r0; occluders && !members[blk].empty() && r < r1; ++r) {
                const float* d = occluders + r * cols;
                int near = 0;  // an OR, not a min: it vectorises
                for (int64_t c = 0; c < cols; ++c) near |= d[c] <= farthest;
                clear[r - r0] = !near;
            }
            const Target t{block.data(), occluders, clear.data(), r0, r1, cols};
            for (int i : members[blk]) {
                if (fps.soft[i])
                    soft_footprint(fps, i, t, table, table_size);
                else
                    thin_line(fps, i, t);
            }
            for (int64_t r = r0; r < r1; ++r) {
                composite_row(image + r * cols * 3, depth + r * cols, t.row(r), beta, airlight, colour, gain,
                              cols, w, w + cols, w + 2 * cols, w + 3 * cols, out + r * cols * 3);
            }
        }
    });
}
"""

# -ffp-contract=off: an FMA would round the footprint coordinates differently from numpy.
_FLAGS = [
    "-O3",
    "-march=native",
    "-fno-math-errno",
    "-fno-trapping-math",
    "-ffp-contract=off",
    "-shared",
    "-fPIC",
    "-std=c++17",
    "-pthread",
]


@lru_cache(maxsize=1)
def load() -> ctypes.CDLL:
    """The compiled kernels (built on first call, then reused from the cache)."""
    dll = load_library("particles", _SOURCE, _FLAGS, "particle kernels")
    p, i, f = ctypes.c_void_p, ctypes.c_int, ctypes.c_float
    dll.render_precipitation.argtypes = [i, p, p, p, p, i, p, p, f, p, p, f, i, i, p, i]
    dll.render_precipitation.restype = None
    return dll


@lru_cache(maxsize=1)
def available() -> bool:
    """Whether the kernels build and load here (cached: a missing compiler is looked for once)."""
    try:
        load()
    except KernelBuildError:
        return False
    return True


def _ptr(array: np.ndarray | None) -> int | None:
    return None if array is None else array.ctypes.data


def render_precipitation(
    image: np.ndarray,
    particles: Particles,
    focal_px: float,
    scene_depth_m: np.ndarray,
    occluder_depth_m: np.ndarray | None,
    beta: float,
    airlight: np.ndarray,
    gain: float,
    particle_colour: np.ndarray,
    threads: int = 2,
) -> np.ndarray:
    """precipitation.render_precipitation in one C++ pass: the particles' transmittance
    (particles.render_transmittance), then atmosphere.composite with α = 1 − transmittance, as uint8.

    scene_depth_m: HxW metres for the veil (inf = sky); occluder_depth_m: HxW metres that hide particles
    behind nearer surfaces, or None; airlight and particle_colour: RGB in [0, 1].
    """
    height, width = image.shape[:2]
    image = np.ascontiguousarray(image, dtype=np.uint8)
    out = np.empty_like(image)
    if image.size == 0:
        return out
    planes = {"scene depth": scene_depth_m, "occluder depth": occluder_depth_m}
    for name, plane in planes.items():
        if plane is not None and plane.shape != (height, width):
            raise ValueError(f"{name} is {plane.shape}, expected {(height, width)} like the image.")
    depth = np.ascontiguousarray(scene_depth_m, dtype=np.float32)
    occluders = None if occluder_depth_m is None else np.ascontiguousarray(occluder_depth_m, np.float32)
    arrays = [
        np.ascontiguousarray(getattr(particles, name), dtype=np.float32)
        for name in ("x", "y", "z", "dx", "dy", "thickness", "opacity")
    ]
    pointers = (ctypes.c_void_p * len(arrays))(*[_ptr(a) for a in arrays])
    model = np.array(kernel_constants(focal_px), dtype=np.float32)
    air = np.clip(np.asarray(airlight, dtype=np.float32).reshape(3), 0.0, 1.0) * np.float32(255.0)
    colour = np.clip(np.asarray(particle_colour, dtype=np.float32).reshape(3), 0.0, 1.0) * np.float32(255.0)
    table = phi_table()
    load().render_precipitation(
        arrays[0].size, ctypes.addressof(pointers), _ptr(model), _ptr(occluders), _ptr(table), table.size,
        _ptr(image), _ptr(depth), float(beta), _ptr(air), _ptr(colour), float(gain), height, width,
        _ptr(out), threads,
    )  # fmt: skip
    return out
