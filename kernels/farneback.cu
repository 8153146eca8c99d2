// Farneback dense optical flow, batched CUDA kernels.
//
// Specification: gpuvideo/farneback/reference.py (NumPy), which reproduces
// cv2.calcOpticalFlowFarneback's CPU code path.  Every kernel below is one
// function of that module, with the same arithmetic (float32 / float64
// choices, border rules).  Written for cupy.RawModule(code=...) with plain
// extern "C" entry points; all host constants (filter taps, resize tables,
// polynomial-expansion constants, border weights) are computed in
// gpuvideo/farneback/params.py and passed in, so nothing here depends on the
// parameters at compile time.
//
// Batching: every kernel takes a leading batch dimension B.  Frames of all
// pairs are stacked as (2N, H, W): images [0, N) are the "prev" frames and
// [N, 2N) the "next" frames, so the pyramid and polynomial-expansion passes
// process both frames of every pair in one launch.  Flow/matrix passes run
// over the N pairs.  Layouts (C-contiguous):
//   frames   uint8  (B, H, W)
//   images   float  (B, h, w)
//   V3       float  (B, h, w, 3)   vertical polynomial-expansion sums
//   R        float  (2N, h, w, 5)  (r_y, r_x, r_yy, r_xx, r_xy)
//   M, V5    float  (N, h, w, 5)   (G11, G12, G22, h1, h2)
//   flow     float  (N, h, w, 2)   (dx, dy)
//
// Launch: 1-D grid-stride loops over the B*h*w output pixels
// (block 256 threads); any grid size is correct.
//
// STATUS: compiled with nvcc (sm_90, --ptx) only; not yet run on a GPU.

// No standard headers: NVRTC (cupy.RawModule) does not need to find any.

__device__ __forceinline__ int fb_reflect101(int i, int n)
{
    // OpenCV BORDER_REFLECT_101 (gfedcb|abcdefgh|gfedcba); loops for tiny n.
    if (n == 1) return 0;
    while (i < 0 || i >= n) {
        if (i < 0) i = -i;
        if (i >= n) i = 2 * (n - 1) - i;
    }
    return i;
}

__device__ __forceinline__ int fb_clamp(int i, int n)
{
    return i < 0 ? 0 : (i >= n ? n - 1 : i);
}

// ---------------------------------------------------------------------------
// 1. Pyramid level: Gaussian blur of the full-resolution frame (rows, then
//    columns, reflect-101, float32), then bilinear resize to the level size.
// ---------------------------------------------------------------------------

// Horizontal pass, uint8 -> float.  k: (2r+1,) float taps.
extern "C" __global__ void fb_blur_rows_u8(
    const unsigned char* __restrict__ src, float* __restrict__ dst,
    int B, int H, int W, const float* __restrict__ k, int r)
{
    const long long total = (long long)B * H * W;
    for (long long i = blockIdx.x * (long long)blockDim.x + threadIdx.x; i < total;
         i += (long long)gridDim.x * blockDim.x) {
        const int x = (int)(i % W);
        const long long row = i / W;
        const unsigned char* s = src + row * W;
        float acc = 0.f;
        for (int t = -r; t <= r; ++t)
            acc += __ldg(k + t + r) * (float)s[fb_reflect101(x + t, W)];
        dst[i] = acc;
    }
}

// Column value of the blurred full-resolution image at (y, x).
__device__ __forceinline__ float fb_blur_col_at(
    const float* __restrict__ img, int H, int W, int y, int x,
    const float* __restrict__ k, int r)
{
    float acc = 0.f;
    for (int t = -r; t <= r; ++t)
        acc += __ldg(k + t + r) * __ldg(img + (long long)fb_reflect101(y + t, H) * W + x);
    return acc;
}

// Vertical blur pass fused with the bilinear resize (H, W) -> (h, w).
// rowblur: (B, H, W) output of fb_blur_rows_u8.  Resize tables (from
// reference.resize_linear_coords): x0/x1/ax0/ax1 of length w, y0/y1/ay0/ay1
// of length h.  identity != 0 means h == H and w == W (plain copy in OpenCV).
// Resize order as OpenCV: horizontal interpolation, then vertical.
extern "C" __global__ void fb_blur_cols_resize(
    const float* __restrict__ rowblur, float* __restrict__ dst,
    int B, int H, int W, int h, int w,
    const float* __restrict__ k, int r,
    const int* __restrict__ x0, const int* __restrict__ x1,
    const float* __restrict__ ax0, const float* __restrict__ ax1,
    const int* __restrict__ y0, const int* __restrict__ y1,
    const float* __restrict__ ay0, const float* __restrict__ ay1,
    int identity)
{
    const long long total = (long long)B * h * w;
    for (long long i = blockIdx.x * (long long)blockDim.x + threadIdx.x; i < total;
         i += (long long)gridDim.x * blockDim.x) {
        const int x = (int)(i % w);
        const long long t = i / w;
        const int y = (int)(t % h);
        const int b = (int)(t / h);
        const float* img = rowblur + (long long)b * H * W;
        if (identity) {
            dst[i] = fb_blur_col_at(img, H, W, y, x, k, r);
            continue;
        }
        const int sx0 = __ldg(x0 + x), sx1 = __ldg(x1 + x);
        const int sy0 = __ldg(y0 + y), sy1 = __ldg(y1 + y);
        const float wx0 = __ldg(ax0 + x), wx1 = __ldg(ax1 + x);
        const float top = fb_blur_col_at(img, H, W, sy0, sx0, k, r) * wx0 +
                          fb_blur_col_at(img, H, W, sy0, sx1, k, r) * wx1;
        const float bot = fb_blur_col_at(img, H, W, sy1, sx0, k, r) * wx0 +
                          fb_blur_col_at(img, H, W, sy1, sx1, k, r) * wx1;
        dst[i] = top * __ldg(ay0 + y) + bot * __ldg(ay1 + y);
    }
}

// ---------------------------------------------------------------------------
// 2. Polynomial expansion.  g, xg, xxg: the non-negative half (offsets 0..n)
//    of params.poly_expansion_coeffs(), float32.
// ---------------------------------------------------------------------------

// Vertical pass (float32, clamped rows): V3 = (sum g I, sum y g I, sum y^2 g I).
extern "C" __global__ void fb_poly_exp_cols(
    const float* __restrict__ img, float* __restrict__ v3,
    int B, int h, int w,
    const float* __restrict__ g, const float* __restrict__ xg,
    const float* __restrict__ xxg, int n)
{
    const long long total = (long long)B * h * w;
    for (long long i = blockIdx.x * (long long)blockDim.x + threadIdx.x; i < total;
         i += (long long)gridDim.x * blockDim.x) {
        const int x = (int)(i % w);
        const long long t = i / w;
        const int y = (int)(t % h);
        const float* base = img + (t / h) * (long long)h * w + x;
        float t0 = __ldg(base + (long long)y * w) * __ldg(g);
        float t1 = 0.f, t2 = 0.f;
        for (int kk = 1; kk <= n; ++kk) {
            const float up = __ldg(base + (long long)fb_clamp(y - kk, h) * w);
            const float dn = __ldg(base + (long long)fb_clamp(y + kk, h) * w);
            const float p = up + dn;
            t0 += __ldg(g + kk) * p;
            t1 += __ldg(xg + kk) * (dn - up);
            t2 += __ldg(xxg + kk) * p;
        }
        float* o = v3 + i * 3;
        o[0] = t0;
        o[1] = t1;
        o[2] = t2;
    }
}

// Horizontal pass (float64 accumulation, replicated columns) and the
// inverse-matrix scaling -> R (B, h, w, 5).
extern "C" __global__ void fb_poly_exp_rows(
    const float* __restrict__ v3, float* __restrict__ R,
    int B, int h, int w,
    const float* __restrict__ g, const float* __restrict__ xg,
    const float* __restrict__ xxg, int n,
    double ig11, double ig03, double ig33, double ig55)
{
    const long long total = (long long)B * h * w;
    for (long long i = blockIdx.x * (long long)blockDim.x + threadIdx.x; i < total;
         i += (long long)gridDim.x * blockDim.x) {
        const int x = (int)(i % w);
        const float* row = v3 + (i - x) * 3;
        const double g0 = (double)__ldg(g);
        double b1 = (double)__ldg(row + x * 3) * g0, b2 = 0.0;
        double b3 = (double)__ldg(row + x * 3 + 1) * g0, b4 = 0.0;
        double b5 = (double)__ldg(row + x * 3 + 2) * g0, b6 = 0.0;
        for (int kk = 1; kk <= n; ++kk) {
            const float* rp = row + fb_clamp(x + kk, w) * 3;
            const float* lp = row + fb_clamp(x - kk, w) * 3;
            const float r0 = __ldg(rp), l0 = __ldg(lp);
            const float r1 = __ldg(rp + 1), l1 = __ldg(lp + 1);
            const float r2 = __ldg(rp + 2), l2 = __ldg(lp + 2);
            const double gk = (double)__ldg(g + kk);
            const double xgk = (double)__ldg(xg + kk);
            const double tg = (double)(r0 + l0);
            b1 += tg * gk;
            b4 += tg * (double)__ldg(xxg + kk);
            b2 += (double)(r0 - l0) * xgk;
            b3 += (double)(r1 + l1) * gk;
            b6 += (double)(r1 - l1) * xgk;
            b5 += (double)(r2 + l2) * gk;
        }
        float* o = R + i * 5;
        o[0] = (float)(b3 * ig11);
        o[1] = (float)(b2 * ig11);
        o[2] = (float)(b1 * ig03 + b5 * ig33);
        o[3] = (float)(b1 * ig03 + b4 * ig33);
        o[4] = (float)(b6 * ig55);
    }
}

// ---------------------------------------------------------------------------
// 3. Update matrices: M = (G11, G12, G22, h1, h2) per pixel (float32).
//    R: (2N, h, w, 5), pair b uses R[b] (prev) and R[N + b] (next).
//    bw: (nb,) border weights (params.border_weights), bw[d] for distance d.
// ---------------------------------------------------------------------------

// OpenCV's test for de-weighting a pixel at index i of a side of n pixels.
// Within nb of an edge when n >= 2*nb; on smaller sides only n-nb <= i < nb
// passes (the unsigned comparison wraps), which is what OpenCV does.
__device__ __forceinline__ bool fb_near_border(int i, int n, int nb)
{
    return (unsigned)(i - nb) >= (unsigned)(n - 2 * nb);
}

__device__ __forceinline__ float fb_border_scale(
    int x, int y, int w, int h, const float* __restrict__ bw, int nb)
{
    return (x < nb ? __ldg(bw + x) : 1.f) * (x >= w - nb ? __ldg(bw + (w - x - 1)) : 1.f) *
           (y < nb ? __ldg(bw + y) : 1.f) * (y >= h - nb ? __ldg(bw + (h - y - 1)) : 1.f);
}

extern "C" __global__ void fb_update_matrices(
    const float* __restrict__ R, const float* __restrict__ flow,
    float* __restrict__ M, int N, int h, int w,
    const float* __restrict__ bw, int nb)
{
    const long long plane = (long long)h * w;
    const long long total = (long long)N * plane;
    for (long long i = blockIdx.x * (long long)blockDim.x + threadIdx.x; i < total;
         i += (long long)gridDim.x * blockDim.x) {
        const int x = (int)(i % w);
        const long long t = i / w;
        const int y = (int)(t % h);
        const long long b = t / h;
        const float* r0 = R + i * 5;
        const float* R1 = R + (b + N) * plane * 5;
        const float dx = __ldg(flow + i * 2), dy = __ldg(flow + i * 2 + 1);
        float fx = (float)x + dx, fy = (float)y + dy;
        const float fx1 = floorf(fx), fy1 = floorf(fy);
        float r2, r3, r4, r5, r6;
        // Range test on the float floor (no int overflow for wild flows).
        if (fx1 >= 0.f && fx1 < (float)(w - 1) && fy1 >= 0.f && fy1 < (float)(h - 1)) {
            const int x1 = (int)fx1, y1 = (int)fy1;
            fx -= fx1;
            fy -= fy1;
            const float a00 = (1.f - fx) * (1.f - fy), a01 = fx * (1.f - fy);
            const float a10 = (1.f - fx) * fy, a11 = fx * fy;
            const float* p = R1 + ((long long)y1 * w + x1) * 5;
            const float* q = p + (long long)w * 5;
            float s[5];
#pragma unroll
            for (int c = 0; c < 5; ++c)
                s[c] = a00 * __ldg(p + c) + a01 * __ldg(p + 5 + c) +
                       a10 * __ldg(q + c) + a11 * __ldg(q + 5 + c);
            r2 = s[0];
            r3 = s[1];
            r4 = (__ldg(r0 + 2) + s[2]) * 0.5f;
            r5 = (__ldg(r0 + 3) + s[3]) * 0.5f;
            r6 = (__ldg(r0 + 4) + s[4]) * 0.25f;
        } else {
            r2 = r3 = 0.f;
            r4 = __ldg(r0 + 2);
            r5 = __ldg(r0 + 3);
            r6 = __ldg(r0 + 4) * 0.5f;
        }
        r2 = (__ldg(r0) - r2) * 0.5f;
        r3 = (__ldg(r0 + 1) - r3) * 0.5f;
        r2 += r4 * dy + r6 * dx;
        r3 += r6 * dy + r5 * dx;
        if (fb_near_border(x, w, nb) || fb_near_border(y, h, nb)) {
            const float sc = fb_border_scale(x, y, w, h, bw, nb);
            r2 *= sc; r3 *= sc; r4 *= sc; r5 *= sc; r6 *= sc;
        }
        float* o = M + i * 5;
        o[0] = r4 * r4 + r6 * r6;
        o[1] = (r4 + r5) * r6;
        o[2] = r5 * r5 + r6 * r6;
        o[3] = r4 * r2 + r6 * r3;
        o[4] = r6 * r2 + r5 * r3;
    }
}

// ---------------------------------------------------------------------------
// 4. Window average + 2x2 solve.
// ---------------------------------------------------------------------------
__device__ __forceinline__ void fb_solve_store(
    double g11, double g12, double g22, double h1, double h2, float* f)
{
    const double idet = 1.0 / (g11 * g22 - g12 * g12 + 1e-3);
    f[0] = (float)((g11 * h2 - g12 * h1) * idet);
    f[1] = (float)((g22 * h1 - g12 * h2) * idet);
}

// Box window, vertical sums over rows y-m..y+m (clamped), float64
// accumulation stored as float32.  M, V5: (N, h, w, 5).
extern "C" __global__ void fb_box_cols(
    const float* __restrict__ M, float* __restrict__ V5, int N, int h, int w, int m)
{
    const long long total = (long long)N * h * w;
    for (long long i = blockIdx.x * (long long)blockDim.x + threadIdx.x; i < total;
         i += (long long)gridDim.x * blockDim.x) {
        const int x = (int)(i % w);
        const long long t = i / w;
        const int y = (int)(t % h);
        const float* base = M + ((t / h) * (long long)h * w + x) * 5;
        double s[5] = {0.0, 0.0, 0.0, 0.0, 0.0};
        for (int d = -m; d <= m; ++d) {
            const float* p = base + (long long)fb_clamp(y + d, h) * w * 5;
#pragma unroll
            for (int c = 0; c < 5; ++c) s[c] += (double)__ldg(p + c);
        }
        float* o = V5 + i * 5;
#pragma unroll
        for (int c = 0; c < 5; ++c) o[c] = (float)s[c];
    }
}

// Box window, horizontal sums (clamped columns, float64), scale
// = 1/winsize^2, then solve.  flow: (N, h, w, 2).
extern "C" __global__ void fb_box_rows_solve(
    const float* __restrict__ V5, float* __restrict__ flow,
    int N, int h, int w, int m, double scale)
{
    const long long total = (long long)N * h * w;
    for (long long i = blockIdx.x * (long long)blockDim.x + threadIdx.x; i < total;
         i += (long long)gridDim.x * blockDim.x) {
        const int x = (int)(i % w);
        const float* row = V5 + (i - x) * 5;
        double s[5] = {0.0, 0.0, 0.0, 0.0, 0.0};
        for (int d = -m; d <= m; ++d) {
            const float* p = row + fb_clamp(x + d, w) * 5;
#pragma unroll
            for (int c = 0; c < 5; ++c) s[c] += (double)__ldg(p + c);
        }
        fb_solve_store(s[0] * scale, s[1] * scale, s[2] * scale, s[3] * scale,
                       s[4] * scale, flow + i * 2);
    }
}

// Gaussian window (flag 256), vertical pass, float32, clamped rows.
// k: (2m+1,) params.gaussian_window_kernel(winsize).
extern "C" __global__ void fb_gauss_cols(
    const float* __restrict__ M, float* __restrict__ V5, int N, int h, int w,
    const float* __restrict__ k, int m)
{
    const long long total = (long long)N * h * w;
    for (long long i = blockIdx.x * (long long)blockDim.x + threadIdx.x; i < total;
         i += (long long)gridDim.x * blockDim.x) {
        const int x = (int)(i % w);
        const long long t = i / w;
        const int y = (int)(t % h);
        const float* base = M + ((t / h) * (long long)h * w + x) * 5;
        const float* c0 = base + (long long)y * w * 5;
        const float k0 = __ldg(k + m);
        float s[5];
#pragma unroll
        for (int c = 0; c < 5; ++c) s[c] = __ldg(c0 + c) * k0;
        for (int d = 1; d <= m; ++d) {
            const float* dn = base + (long long)fb_clamp(y + d, h) * w * 5;
            const float* up = base + (long long)fb_clamp(y - d, h) * w * 5;
            const float kd = __ldg(k + m + d);
#pragma unroll
            for (int c = 0; c < 5; ++c) s[c] += (__ldg(dn + c) + __ldg(up + c)) * kd;
        }
        float* o = V5 + i * 5;
#pragma unroll
        for (int c = 0; c < 5; ++c) o[c] = s[c];
    }
}

// Gaussian window, horizontal pass (float32, clamped columns), then solve.
extern "C" __global__ void fb_gauss_rows_solve(
    const float* __restrict__ V5, float* __restrict__ flow, int N, int h, int w,
    const float* __restrict__ k, int m)
{
    const long long total = (long long)N * h * w;
    for (long long i = blockIdx.x * (long long)blockDim.x + threadIdx.x; i < total;
         i += (long long)gridDim.x * blockDim.x) {
        const int x = (int)(i % w);
        const float* row = V5 + (i - x) * 5;
        const float* c0 = row + x * 5;
        const float k0 = __ldg(k + m);
        float s[5];
#pragma unroll
        for (int c = 0; c < 5; ++c) s[c] = __ldg(c0 + c) * k0;
        for (int d = 1; d <= m; ++d) {
            const float* lp = row + fb_clamp(x - d, w) * 5;
            const float* rp = row + fb_clamp(x + d, w) * 5;
            const float kd = __ldg(k + m + d);
#pragma unroll
            for (int c = 0; c < 5; ++c) s[c] += kd * (__ldg(lp + c) + __ldg(rp + c));
        }
        fb_solve_store((double)s[0], (double)s[1], (double)s[2], (double)s[3],
                       (double)s[4], flow + i * 2);
    }
}

// ---------------------------------------------------------------------------
// 5. Coarse-to-fine flow transfer: bilinear resize (hs, ws) -> (hd, wd) of a
//    2-channel flow, then multiply by mult = float32(1 / pyr_scale).
//    Tables as for fb_blur_cols_resize (destination-sized).
// ---------------------------------------------------------------------------
extern "C" __global__ void fb_resize_flow(
    const float* __restrict__ src, float* __restrict__ dst,
    int N, int hs, int ws, int hd, int wd,
    const int* __restrict__ x0, const int* __restrict__ x1,
    const float* __restrict__ ax0, const float* __restrict__ ax1,
    const int* __restrict__ y0, const int* __restrict__ y1,
    const float* __restrict__ ay0, const float* __restrict__ ay1,
    float mult)
{
    const long long total = (long long)N * hd * wd;
    for (long long i = blockIdx.x * (long long)blockDim.x + threadIdx.x; i < total;
         i += (long long)gridDim.x * blockDim.x) {
        const int x = (int)(i % wd);
        const long long t = i / wd;
        const int y = (int)(t % hd);
        const long long b = t / hd;
        const float* img = src + b * (long long)hs * ws * 2;
        const int sx0 = __ldg(x0 + x), sx1 = __ldg(x1 + x);
        const float wx0 = __ldg(ax0 + x), wx1 = __ldg(ax1 + x);
        const float* r0 = img + (long long)__ldg(y0 + y) * ws * 2;
        const float* r1 = img + (long long)__ldg(y1 + y) * ws * 2;
        const float wy0 = __ldg(ay0 + y), wy1 = __ldg(ay1 + y);
#pragma unroll
        for (int c = 0; c < 2; ++c) {
            const float top = __ldg(r0 + sx0 * 2 + c) * wx0 + __ldg(r0 + sx1 * 2 + c) * wx1;
            const float bot = __ldg(r1 + sx0 * 2 + c) * wx0 + __ldg(r1 + sx1 * 2 + c) * wx1;
            dst[i * 2 + c] = (top * wy0 + bot * wy1) * mult;
        }
    }
}
