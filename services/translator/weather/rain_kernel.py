"""Two fused C++ passes for rain at frame rate: stroke rasterisation and the final composite.

Why C++: in numpy the thin-stroke splat, the occlusion masks, the layer "over" compositing, the transmission
exp and the fixed-point blend are a dozen full-frame passes, each re-reading and re-writing the frame; here
the strokes are one loop over the drops and everything after the defocus blur is one pass over the frame (two
threads, rows split), vectorised by the compiler. The pixels are those of the numpy/OpenCV path in
particles.py / atmosphere.py to within rounding (tested). No torch headers: the library builds with g++ in
about a second, is loaded with ctypes and cached next to the CycleGAN kernels (same cache folder and CPU
key). Without a compiler :func:`load` raises :class:`KernelBuildError` and rain uses the numpy path.
"""

from __future__ import annotations

import ctypes
from functools import lru_cache

import numpy as np

from services.translator.native import KernelBuildError, load_library

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

// 1-px strokes, the pixels of particles._splat_thin_strokes: sample k of a stroke with `steps` samples sits
// at k/(steps - 1) of its length, coordinates in float32 exactly as numpy evaluates them (no FMA), then
// truncated. Strokes are drawn grouped by ceil(log2(steps)) ascending, in index order within a group, so
// overlaps resolve as in numpy (the later write wins). layer[i] < 0 skips stroke i. Per layer l: the
// margin used in the arithmetic (margins[l]); the canvas (canvases[l], row stride strides[l]) covers
// margin coordinates [origin, origin + rows) x [origin, origin + cols) with origin = margins[l] - pads[l].
extern "C" void splat_thin(int n, const float* x, const float* y, const float* dx, const float* dy,
                           const uint8_t* values, const int8_t* layer, const int* margins, const int* pads,
                           uint8_t** canvases, const int64_t* strides, int rows, int cols) {
    std::vector<int> steps(n), level(n);
    int max_level = 0;
    for (int i = 0; i < n; ++i) {
        float m = std::max(std::fabs(dx[i]), std::fabs(dy[i]));
        int s = (int)std::ceil(m) + 1;
        int lv = 0;
        while ((1 << lv) < s) ++lv;
        steps[i] = s;
        level[i] = lv;
        if (layer[i] >= 0) max_level = std::max(max_level, lv);
    }
    for (int lv = 0; lv <= max_level; ++lv) {
        for (int i = 0; i < n; ++i) {
            int l = layer[i];
            if (l < 0 || level[i] != lv) continue;
            const float off = (float)margins[l] + 0.5f;
            const int origin = margins[l] - pads[l];
            const int h = rows + 2 * pads[l], w = cols + 2 * pads[l];
            const float x0 = x[i] + off, y0 = y[i] + off;
            const int last = steps[i] - 1;
            const float spacing = (float)(1.0 / (double)std::max(last, 1));
            uint8_t* canvas = canvases[l];
            const int64_t stride = strides[l];
            const uint8_t v = values[i];
            for (int k = 0; k <= last; ++k) {
                float along = (float)k * spacing - 0.5f;
                int c = (int)(x0 + dx[i] * along) - origin, r = (int)(y0 + dy[i] * along) - origin;
                if (r >= 0 && r < h && c >= 0 && c < w) canvas[r * stride + c] = v;
            }
        }
    }
}

static inline float fast_exp(float x) {  // Cephes expf, |rel err| < 2e-7 on [-88, 88], branch-free
    x = std::min(88.0f, std::max(-88.0f, x));
    float fx = std::floor(x * 1.44269504088896341f + 0.5f);
    float r = x - fx * 0.693359375f + fx * 2.12194440e-4f;
    float z = r * r;
    float p = 1.9875691500e-4f;
    p = p * r + 1.3981999507e-3f;
    p = p * r + 8.3334519073e-3f;
    p = p * r + 4.1665795894e-2f;
    p = p * r + 1.6666665459e-1f;
    p = p * r + 5.0000001201e-1f;
    p = p * z + r + 1.0f;
    int32_t e = ((int32_t)fx + 127) << 23;
    float scale;
    std::memcpy(&scale, &e, 4);
    return p * scale;
}

static inline int div255(int v) { return (v + 128 + ((v + 128) >> 8)) >> 8; }  // round(v / 255), v >= 0

// One row of composite_rain; a separate function with restrict pointers and counts by value so that
// every loop vectorises.
static void composite_row(const uint8_t* __restrict im, const float* __restrict dr, float beta, int nlayers,
                          const uint8_t* const* rows, const int* occlude, const float* zmid,
                          const float* air, const float* delta, float s, int cols, int* __restrict al,
                          int* __restrict wt, float* __restrict sw, uint8_t* __restrict o) {
    for (int c = 0; c < cols; ++c) al[c] = 0;
    for (int l = 0; l < nlayers; ++l) {
        const uint8_t* __restrict src = rows[l];
        const float z = zmid[l];
        const int occ = occlude[l];
        for (int c = 0; c < cols; ++c) {
            int v = (!occ || dr[c] > z) ? (int)src[c] : 0;
            int a = al[c];
            a += div255(v * (255 - a));
            al[c] = a < 255 ? a : 255;
        }
    }
    for (int c = 0; c < cols; ++c) {
        float e = -beta * dr[c];
        float t = fast_exp(e > -60.0f ? e : -60.0f);
        int w = (int)std::nearbyint(t * 255.0f);
        w = w < 0 ? 0 : (w > 255 ? 255 : w);
        w = div255(w * (255 - al[c]));
        wt[c] = w;
        sw[c] = s * (float)w;
    }
    for (int k = 0; k < 3; ++k) {
        const float a0 = air[k], d0 = delta[k];
        for (int c = 0; c < cols; ++c) {
            float v = std::nearbyint((float)im[3 * c + k] * sw[c]);
            float ch = std::nearbyint((float)(255 - wt[c]) * a0 + (float)al[c] * d0);
            v = v < 255.0f ? v : 255.0f;
            ch = ch < 255.0f ? (ch > 0.0f ? ch : 0.0f) : 255.0f;
            float sum = v + ch;
            o[3 * c + k] = (uint8_t)(int)(sum < 255.0f ? sum : 255.0f);
        }
    }
}

// out = g·J·w + A·(1 − w) + (C − A)·α in 8-bit fixed point (atmosphere.composite_u8), where α is the
// "over" composite of the layers (each zeroed where occlude[l] and depth <= zmid[l]) and w = t·(1 − α),
// t = exp(max(−β·depth, −60)) quantised to 8 bits. image/out: HxWx3 uint8; depth: HxW float32.
extern "C" void composite_rain(const uint8_t* image, const float* depth, float beta, int nlayers,
                               const uint8_t** layers, const int64_t* strides, const int* occlude,
                               const float* zmid, const float* airlight, const float* delta, float gain,
                               int rows, int cols, uint8_t* out, int nthreads) {
    parallel(rows, nthreads, [=](int64_t b, int64_t e) {
        std::vector<int> alpha(cols), weight(cols);
        std::vector<float> scaled(cols);
        std::vector<const uint8_t*> ptr(std::max(1, nlayers));
        for (int64_t r = b; r < e; ++r) {
            for (int l = 0; l < nlayers; ++l) ptr[l] = layers[l] + r * strides[l];
            composite_row(image + r * cols * 3, depth + r * cols, beta, nlayers, ptr.data(), occlude, zmid,
                          airlight, delta, gain / 255.0f, cols, alpha.data(), weight.data(), scaled.data(),
                          out + r * cols * 3);
        }
    });
}
"""

# -ffp-contract=off: an FMA would round the stroke coordinates differently from numpy.
_FLAGS = [
    "-O3",
    "-march=native",
    "-fno-math-errno",
    "-fno-trapping-math",
    "-ffp-contract=off",
    "-shared",
    "-fPIC",
    "-std=c++17",
]
_FLAGS += ["-pthread"]


@lru_cache(maxsize=1)
def load() -> ctypes.CDLL:
    """The compiled kernels (built on first call, then reused from the cache)."""
    dll = load_library("rain", _SOURCE, _FLAGS, "rain kernels")
    p, i, f = ctypes.c_void_p, ctypes.c_int, ctypes.c_float
    dll.splat_thin.argtypes = [i, p, p, p, p, p, p, p, p, p, p, i, i]
    dll.splat_thin.restype = None
    dll.composite_rain.argtypes = [p, p, f, i, p, p, p, p, p, p, f, i, i, p, i]
    dll.composite_rain.restype = None
    return dll


@lru_cache(maxsize=1)
def available() -> bool:
    """Whether the kernels build and load here (cached: a missing compiler is looked for once)."""
    try:
        load()
    except KernelBuildError:
        return False
    return True


def _ptr(array: np.ndarray) -> int:
    return array.ctypes.data


def splat_thin(
    x: np.ndarray,
    y: np.ndarray,
    dx: np.ndarray,
    dy: np.ndarray,
    values: np.ndarray,
    layer: np.ndarray,
    margins: list[int],
    canvases: list[np.ndarray],
    height: int,
    width: int,
) -> None:
    """Draw every thin stroke into its layer's canvas (layer[i] < 0: not drawn here).

    canvases[l] is (height + 2·pad) x (width + 2·pad) uint8 C-contiguous with pad 0 or margins[l].
    """
    n = x.size
    arrays = [np.ascontiguousarray(a, dtype=np.float32) for a in (x, y, dx, dy)]
    values = np.ascontiguousarray(values, dtype=np.uint8)
    layer = np.ascontiguousarray(layer, dtype=np.int8)
    pads = np.array([(c.shape[0] - height) // 2 for c in canvases], np.int32)
    margin_arr = np.asarray(margins, np.int32)
    ptrs = (ctypes.c_void_p * len(canvases))(*[_ptr(c) for c in canvases])
    strides = np.array([c.strides[0] for c in canvases], np.int64)
    load().splat_thin(
        n, *[_ptr(a) for a in arrays], _ptr(values), _ptr(layer), _ptr(margin_arr), _ptr(pads),
        ctypes.addressof(ptrs), _ptr(strides), height, width,
    )  # fmt: skip


def composite_rain(
    image: np.ndarray,
    depth: np.ndarray,
    beta: float,
    layers: list[np.ndarray],
    occlude: list[bool],
    z_mid: list[float],
    airlight: np.ndarray,
    gain: float,
    particle_colour: np.ndarray,
    threads: int = 2,
) -> np.ndarray:
    """atmosphere.composite_u8(image, exp(−β·depth), airlight, gain, α, colour) with α the "over" composite
    of the layers, each hidden where occlude[l] and depth ≤ z_mid[l], in one pass over the frame.

    layers: HxW uint8 with unit column stride (views into padded canvases are fine).
    """
    height, width = image.shape[:2]
    image = np.ascontiguousarray(image, dtype=np.uint8)
    depth = np.ascontiguousarray(depth, dtype=np.float32)
    out = np.empty_like(image)
    if image.size == 0:
        return out
    for layer in layers:
        if layer.shape != (height, width) or layer.dtype != np.uint8 or layer.strides[1] != 1:
            raise ValueError("composite_rain needs HxW uint8 layers with contiguous rows.")
    air = np.clip(np.asarray(airlight, dtype=np.float64).reshape(3), 0.0, 1.0)
    delta = np.clip(np.asarray(particle_colour, dtype=np.float64).reshape(3), 0.0, 1.0) - air
    air32, delta32 = air.astype(np.float32), delta.astype(np.float32)
    ptrs = (ctypes.c_void_p * max(1, len(layers)))(*[_ptr(c) for c in layers])
    strides = np.array([c.strides[0] for c in layers] or [0], np.int64)
    occ = np.array([int(o) for o in occlude] or [0], np.int32)
    zm = np.array(z_mid or [0.0], np.float32)
    load().composite_rain(
        _ptr(image), _ptr(depth), float(beta), len(layers), ctypes.addressof(ptrs), _ptr(strides),
        _ptr(occ), _ptr(zm), _ptr(air32), _ptr(delta32), float(gain), height, width, _ptr(out), threads,
    )  # fmt: skip
    return out
