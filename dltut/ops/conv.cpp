#include <math.h>
#include <string.h>
#include <stdlib.h>
#include <limits.h>
#include <atomic>
#include <new>
#include <thread>
#include <vector>

namespace dltut_conv {

/* Row-major C = op(A) . op(B) through the column-major Fortran BLAS, which sees each
   row-major matrix as its transpose: C^T = op(B)^T . op(A)^T.  (A and B are passed without
   const: Theano's numpy-based stand-in for an absent BLAS declares them so.) */
static inline void gemm_rm(char ta, char tb, int M, int N, int K, float alpha,
                           const float* A, int lda, const float* B, int ldb, float beta,
                           float* C, int ldc) {
    sgemm_(&tb, &ta, &N, &M, &K, &alpha, const_cast<float*>(B), &ldb, const_cast<float*>(A),
           &lda, &beta, C, &ldc);
}
static inline void gemm_rm(char ta, char tb, int M, int N, int K, double alpha,
                           const double* A, int lda, const double* B, int ldb, double beta,
                           double* C, int ldc) {
    dgemm_(&tb, &ta, &N, &M, &K, &alpha, const_cast<double*>(B), &ldb, const_cast<double*>(A),
           &lda, &beta, C, &ldc);
}

/* ---------------------------------------------------------------- threads */

/* How many threads work on the blocks: the BLAS's thread count when its products can be made
   single-threaded meanwhile (OpenBLAS), else one (the BLAS then threads each product).
   DLTUT_CONV_THREADS overrides it, except with Theano's numpy-based stand-in for a BLAS, which
   calls Python and so must stay on the calling thread. */
static int worker_threads(npy_intp blocks) {
    int threads = 1;
#if DLTUT_CONV_OPENBLAS
    threads = openblas_get_num_threads();
#endif
    const char* env = getenv("DLTUT_CONV_THREADS");
    if (DLTUT_CONV_LINKED_BLAS && env != NULL && atoi(env) > 0) threads = atoi(env);
    if (threads > blocks) threads = (int)blocks;
    return threads < 1 ? 1 : threads;
}

/* While alive (and threads > 1), the BLAS computes each product on the calling thread only. */
struct SerialBlas {
    int saved;
    explicit SerialBlas(int threads) : saved(0) {
#if DLTUT_CONV_OPENBLAS
        if (threads > 1) {
            saved = openblas_get_num_threads();
            openblas_set_num_threads(1);
        }
#endif
    }
    ~SerialBlas() {
#if DLTUT_CONV_OPENBLAS
        if (saved > 0) openblas_set_num_threads(saved);
#endif
    }
};

/* body(t) for t = 0 .. threads-1 (0 on the calling thread); returns when all are done. */
template <typename F>
static void run_threads(int threads, F body) {
    std::vector<std::thread> pool;
    int started = 1;
    try {
        for (; started < threads; ++started) pool.emplace_back(body, started);
    } catch (...) {
        /* no more threads: the calling thread does the remaining shares itself */
    }
    body(0);
    for (int t = started; t < threads; ++t) body(t);
    for (size_t i = 0; i < pool.size(); ++i) pool[i].join();
}

/* ---------------------------------------------------------------- shapes */

/* A 4-D array read through its strides, in elements (the arrays are aligned). */
template <typename T>
struct View4 {
    const T* data;
    npy_intp str[4];
    inline const T* at(npy_intp a, npy_intp b, npy_intp c, npy_intp d) const {
        return data + a * str[0] + b * str[1] + c * str[2] + d * str[3];
    }
};

template <typename T>
static View4<T> view4(PyArrayObject* a) {
    View4<T> v;
    v.data = (const T*)PyArray_DATA(a);
    for (int d = 0; d < 4; ++d) v.str[d] = PyArray_STRIDES(a)[d] / (npy_intp)sizeof(T);
    return v;
}

/* One stretch of an image's unrolled row (c, i, j): `count` values x[c][y + i][x + j + e * stride],
   e < count, at column `at` of the image's columns. */
struct Run {
    npy_intp at, y, x, count, stride;
};

/* Shapes of one convolution + pooling, and where each convolution output of an image goes among
   its `cols` columns.  Only the outputs inside a pooling window are computed: the rows and
   columns that pooling drops change nothing and get no gradient.  Two orders:
   - windowed: column s * cells + q for the window offset s = u * pw + v and the window
     q = py * pow + px (output y = py * ph + u, x = px * pw + v).  Pooling is then an
     elementwise max over `sub` contiguous slices of `cells` values, which vectorises; the
     unrolling gathers every pw-th value of an image row.
   - by rows: column y * (pow * pw) + x, the pooled region row by row; the unrolling copies whole
     rows and the pooling looks its windows up.
   Window q's value s is at column sub_at[s] + cell_at[q] either way.  The windowed order is
   taken when its gathers are long enough (pow >= WINDOWED_MIN_CELLS) or contiguous (pw == 1):
   LeNet's first layer (12 windows a row) is windowed, its second (4 a row) by rows. */
enum { WINDOWED_MIN_CELLS = 8 };

struct Geometry {
    npy_intp batch, channels, height, width;    /* images x */
    npy_intp filters, fh, fw;                   /* filters W: (filters, channels, fh, fw) */
    npy_intp ph, pw, poh, pow_;                 /* pooling window, pooled output */
    npy_intp sub, cells, cols;                  /* ph * pw, poh * pow, sub * cells */
    npy_intp rows;                              /* channels * fh * fw: rows of col */
    npy_intp block, blocks;                     /* images unrolled at once; their number */
    bool windowed;
    std::vector<Run> runs;                      /* windowed: an image's row, tap (0, 0) */
    std::vector<npy_intp> sub_at, cell_at;
};

static void set_layout(Geometry* g) {
    const npy_intp ph = g->ph, pw = g->pw, poh = g->poh, pow_ = g->pow_, wide = pow_ * pw;
    g->windowed = pw == 1 || pow_ >= WINDOWED_MIN_CELLS;
    g->runs.clear();
    g->sub_at.resize(g->sub);
    g->cell_at.resize(g->cells);
    for (npy_intp u = 0; u < ph; ++u)
        for (npy_intp v = 0; v < pw; ++v)
            g->sub_at[u * pw + v] = g->windowed ? (u * pw + v) * g->cells : u * wide + v;
    for (npy_intp py = 0; py < poh; ++py)
        for (npy_intp px = 0; px < pow_; ++px)
            g->cell_at[py * pow_ + px] = g->windowed ? py * pow_ + px : py * ph * wide + px * pw;
    if (g->windowed)
        for (npy_intp u = 0; u < ph; ++u)
            for (npy_intp v = 0; v < pw; ++v)
                for (npy_intp py = 0; py < poh; ++py) {
                    Run r = {(u * pw + v) * g->cells + py * pow_, py * ph + u, v, pow_, pw};
                    g->runs.push_back(r);
                }
}

static int geometry(Geometry* g, const npy_intp* xs, const npy_intp* ws, npy_intp ph,
                    npy_intp pw) {
    if (ph < 1 || pw < 1) {
        PyErr_Format(PyExc_ValueError, "dltut.conv: poolsize must be positive, got (%ld, %ld)",
                     (long)ph, (long)pw);
        return -1;
    }
    if (xs[1] != ws[1]) {
        PyErr_Format(PyExc_ValueError,
                     "dltut.conv: the images have %ld channels but the filters (%ld, %ld, %ld, "
                     "%ld) expect %ld", (long)xs[1], (long)ws[0], (long)ws[1], (long)ws[2],
                     (long)ws[3], (long)ws[1]);
        return -1;
    }
    if (ws[2] < 1 || ws[3] < 1 || xs[2] < ws[2] || xs[3] < ws[3]) {
        PyErr_Format(PyExc_ValueError,
                     "dltut.conv: images of %ld x %ld are smaller than the %ld x %ld filters "
                     "(a 'valid' convolution needs them at least as large)",
                     (long)xs[2], (long)xs[3], (long)ws[2], (long)ws[3]);
        return -1;
    }
    g->batch = xs[0]; g->channels = xs[1]; g->height = xs[2]; g->width = xs[3];
    g->filters = ws[0]; g->fh = ws[2]; g->fw = ws[3];
    g->ph = ph; g->pw = pw;
    g->poh = (xs[2] - ws[2] + 1) / ph; g->pow_ = (xs[3] - ws[3] + 1) / pw;
    g->sub = ph * pw; g->cells = g->poh * g->pow_; g->cols = g->sub * g->cells;
    g->rows = g->channels * g->fh * g->fw;
    g->block = 1; g->blocks = 0;
    set_layout(g);
    return 0;
}

static int set_block(Geometry* g, npy_intp itemsize, long block_bytes) {
    const npy_intp per_image = g->rows * g->cols * itemsize;
    npy_intp n = g->batch;
    if (block_bytes > 0 && per_image > 0) n = block_bytes / per_image;
    if (n > g->batch) n = g->batch;
    if (n < 1) n = 1;
    if (g->rows > INT_MAX || g->filters > INT_MAX || n * g->cols > INT_MAX) {
        PyErr_Format(PyExc_ValueError,
                     "dltut.conv: the unrolled block (%ld x %ld) is too large for the BLAS",
                     (long)g->rows, (long)(n * g->cols));
        return -1;
    }
    g->block = n;
    g->blocks = (g->batch + n - 1) / n;
    return 0;
}

/* ---------------------------------------------------------------- the pieces */

/* dst[e] = src[e * stride] for e < count; strides 1 and 2 (pooling by 2) as loops the
   compiler vectorises. */
template <typename T>
static inline void gather(T* __restrict__ dst, const T* __restrict__ src, npy_intp count,
                          npy_intp stride) {
    if (stride == 1) {
        for (npy_intp e = 0; e < count; ++e) dst[e] = src[e];
    } else if (stride == 2) {
        for (npy_intp e = 0; e < count; ++e) dst[e] = src[2 * e];
    } else {
        for (npy_intp e = 0; e < count; ++e) dst[e] = src[e * stride];
    }
}

/* dst[e * stride] += src[e] for e < count. */
template <typename T>
static inline void scatter_add(T* __restrict__ dst, const T* __restrict__ src, npy_intp count,
                               npy_intp stride) {
    if (stride == 1) {
        for (npy_intp e = 0; e < count; ++e) dst[e] += src[e];
    } else if (stride == 2) {
        for (npy_intp e = 0; e < count; ++e) dst[2 * e] += src[e];
    } else {
        for (npy_intp e = 0; e < count; ++e) dst[e * stride] += src[e];
    }
}

/* Flipped filters as a (filters, rows) matrix: Wf[k][(c*fh + i)*fw + j] = W[k][c][fh-1-i][fw-1-j]. */
template <typename T>
static void pack_flipped(const View4<T>& w, const Geometry& g, T* wf) {
    for (npy_intp k = 0; k < g.filters; ++k)
        for (npy_intp c = 0; c < g.channels; ++c)
            for (npy_intp i = 0; i < g.fh; ++i)
                for (npy_intp j = 0; j < g.fw; ++j)
                    wf[((k * g.channels + c) * g.fh + i) * g.fw + j] =
                        *w.at(k, c, g.fh - 1 - i, g.fw - 1 - j);
}

/* Copy `count` values, whole 32-byte pieces at a time, the last piece moved back to end at
   `count` (overlapping the one before: same values); element by element when shorter. */
template <typename T>
static inline void copy_run(T* __restrict__ dst, const T* __restrict__ src, npy_intp count) {
    const npy_intp piece = 32 / sizeof(T);
    if (count < piece) {
        for (npy_intp e = 0; e < count; ++e) dst[e] = src[e];
        return;
    }
    for (npy_intp x = 0; x < count; x += piece) {
        const npy_intp at = x + piece <= count ? x : count - piece;
        for (npy_intp e = 0; e < piece; ++e) dst[at + e] = src[at + e];
    }
}

/* Images [b0, b0 + n) unrolled: row (c*fh + i)*fw + j of col holds, for each image m, the
   values x[b0+m][c][y + i][x + j] of the computed outputs (y, x) in the layout's order.  Row by
   row, so that the writes go to one stretch at a time (the block's images stay in cache). */
template <typename T>
static void im2col(const View4<T>& xv, const Geometry& g, npy_intp b0, npy_intp n, T* col) {
    const npy_intp len = n * g.cols, wide = g.pow_ * g.pw, sy = xv.str[2], sx = xv.str[3];
    for (npy_intp c = 0; c < g.channels; ++c)
        for (npy_intp i = 0; i < g.fh; ++i)
            for (npy_intp j = 0; j < g.fw; ++j)
                for (npy_intp m = 0; m < n; ++m) {
                    T* dst = col + ((c * g.fh + i) * g.fw + j) * len + m * g.cols;
                    if (g.windowed) {
                        for (size_t r = 0; r < g.runs.size(); ++r) {
                            const Run& run = g.runs[r];
                            gather(dst + run.at, xv.at(b0 + m, c, run.y + i, run.x + j),
                                   run.count, run.stride * sx);
                        }
                    } else {        /* the pooled region's rows, one after the other */
                        const T* src = xv.at(b0 + m, c, i, j);
                        for (npy_intp y = 0; y < g.poh * g.ph; ++y, dst += wide, src += sy) {
                            if (sx == 1) copy_run(dst, src, wide);
                            else gather(dst, src, wide, sx);
                        }
                    }
                }
}

/* The inverse, adding into the C-contiguous dx. */
template <typename T>
static void col2im_add(const T* dcol, const Geometry& g, npy_intp b0, npy_intp n, T* dx) {
    const npy_intp len = n * g.cols, wide = g.pow_ * g.pw;
    for (npy_intp c = 0; c < g.channels; ++c)
        for (npy_intp i = 0; i < g.fh; ++i)
            for (npy_intp j = 0; j < g.fw; ++j)
                for (npy_intp m = 0; m < n; ++m) {
                    T* image = dx + ((b0 + m) * g.channels + c) * g.height * g.width;
                    const T* src = dcol + ((c * g.fh + i) * g.fw + j) * len + m * g.cols;
                    if (g.windowed) {
                        for (size_t r = 0; r < g.runs.size(); ++r) {
                            const Run& run = g.runs[r];
                            scatter_add(image + (run.y + i) * g.width + run.x + j, src + run.at,
                                        run.count, run.stride);
                        }
                    } else {
                        T* dst = image + i * g.width + j;
                        for (npy_intp y = 0; y < g.poh * g.ph; ++y, dst += g.width, src += wide)
                            scatter_add(dst, src, wide, 1);
                    }
                }
}

/* tanh in place.  float32: each value computed in double and rounded once, which gives the
   correctly rounded tanh (tests/test_conv.py checks it against numpy's float64 tanh) and, unlike
   libm's scalar tanhf, vectorises (some 10x faster).  float64: libm's tanh.
   For a = |x|: tanh(a) = e / (e + 2) with e = expm1(2a) = 2^k (1 + p) - 1 = 2^k p + (2^k - 1),
   where 2a = k ln2 + r, |r| <= ln2 / 2, and p = expm1(r) is its Taylor polynomial to r^13
   (remainder below 1e-17).  a is capped at 20, where tanh rounds to 1 (NaN passes through). */
static void tanh_inplace(float* v, npy_intp n) {
    const double inv_ln2 = 1.4426950408889634, ln2_hi = 6.93147180369123816490e-01,
                 ln2_lo = 1.90821492927058770002e-10, round_shift = 6755399441055744.0;
    for (npy_intp i = 0; i < n; ++i) {
        const double x = v[i];
        double a = x < 0 ? -x : x;
        a = a > 20.0 ? 20.0 : a;
        const double y = a + a;
        const double k = (y * inv_ln2 + round_shift) - round_shift;    /* nearest integer */
        const double r = (y - k * ln2_hi) - k * ln2_lo;
        double p = 1.0 / 6227020800.0;
        p = p * r + 1.0 / 479001600.0;
        p = p * r + 1.0 / 39916800.0;
        p = p * r + 1.0 / 3628800.0;
        p = p * r + 1.0 / 362880.0;
        p = p * r + 1.0 / 40320.0;
        p = p * r + 1.0 / 5040.0;
        p = p * r + 1.0 / 720.0;
        p = p * r + 1.0 / 120.0;
        p = p * r + 1.0 / 24.0;
        p = p * r + 1.0 / 6.0;
        p = p * r + 0.5;
        p = p * r + 1.0;
        p = p * r;
        const npy_int64 bits = ((npy_int64)k + 1023) << 52;
        double scale;
        memcpy(&scale, &bits, sizeof(scale));                            /* 2^k */
        const double e = scale * p + (scale - 1.0);
        v[i] = (float)copysign(e / (e + 2.0), x);
    }
}

static void tanh_inplace(double* v, npy_intp n) {
    for (npy_intp i = 0; i < n; ++i) v[i] = tanh(v[i]);
}

/* Pool the block's products y (filters x n x cols) into out[b0 + m][k] (cells values, bias
   added, activation applied) and mask[k][b0 + m] (sub x cells: 1 where the window's value s
   equals its max; every such position gets the gradient, as with Theano's max). */
template <typename T>
static void pool_block(const T* __restrict__ y, const Geometry& g, npy_intp b0, npy_intp n,
                       const T* __restrict__ bias, int act, T* __restrict__ out,
                       npy_uint8* __restrict__ mask) {
    const npy_intp cells = g.cells, sub = g.sub;
    const npy_intp* sub_at = g.sub_at.data();
    const npy_intp* cell_at = g.cell_at.data();
    for (npy_intp k = 0; k < g.filters; ++k)
        for (npy_intp m = 0; m < n; ++m) {
            const T* src = y + (k * n + m) * g.cols;
            T* dst = out + ((b0 + m) * g.filters + k) * cells;
            npy_uint8* msk = mask + (k * g.batch + b0 + m) * g.cols;
            if (g.windowed) {       /* the same loops on contiguous slices: vectorised */
                for (npy_intp q = 0; q < cells; ++q) dst[q] = src[q];
                for (npy_intp s = 1; s < sub; ++s)
                    for (npy_intp q = 0; q < cells; ++q)
                        dst[q] = src[s * cells + q] > dst[q] ? src[s * cells + q] : dst[q];
                for (npy_intp s = 0; s < sub; ++s)
                    for (npy_intp q = 0; q < cells; ++q)
                        msk[s * cells + q] = src[s * cells + q] == dst[q];
            } else {
                for (npy_intp q = 0; q < cells; ++q) {
                    const T* window = src + cell_at[q];
                    T top = window[sub_at[0]];
                    for (npy_intp s = 1; s < sub; ++s)
                        top = window[sub_at[s]] > top ? window[sub_at[s]] : top;
                    for (npy_intp s = 0; s < sub; ++s)
                        msk[s * cells + q] = window[sub_at[s]] == top;
                    dst[q] = top;
                }
            }
            const T b = bias[k];
            for (npy_intp q = 0; q < cells; ++q) dst[q] += b;
        }
    if (act)   /* out[b0 .. b0 + n) is one contiguous stretch */
        tanh_inplace(out + b0 * g.filters * cells, n * g.filters * cells);
}

/* The gradient dz[b][k] (poh x pow) of the pooled pre-activation, routed back through the
   pooling to the block's convolution outputs dy (filters x n x cols): dz times the mask (a
   product, as Theano's gradient of max makes it).  plane holds `cells` values. */
template <typename T>
static void unpool_block(const View4<T>& dz, const npy_uint8* __restrict__ mask,
                         const Geometry& g, npy_intp b0, npy_intp n, T* __restrict__ dy,
                         T* __restrict__ plane) {
    const npy_intp cells = g.cells, sub = g.sub;
    const npy_intp* sub_at = g.sub_at.data();
    const npy_intp* cell_at = g.cell_at.data();
    for (npy_intp k = 0; k < g.filters; ++k)
        for (npy_intp m = 0; m < n; ++m) {
            const npy_uint8* msk = mask + (k * g.batch + b0 + m) * g.cols;
            T* dst = dy + (k * n + m) * g.cols;
            const T* grad = dz.at(b0 + m, k, 0, 0);
            if (dz.str[3] != 1 || dz.str[2] != g.pow_) {
                for (npy_intp py = 0; py < g.poh; ++py)
                    for (npy_intp px = 0; px < g.pow_; ++px)
                        plane[py * g.pow_ + px] = *dz.at(b0 + m, k, py, px);
                grad = plane;
            }
            if (g.windowed) {
                for (npy_intp s = 0; s < sub; ++s)
                    for (npy_intp q = 0; q < cells; ++q)
                        dst[s * cells + q] = grad[q] * (T)msk[s * cells + q];
            } else {
                for (npy_intp q = 0; q < cells; ++q)
                    for (npy_intp s = 0; s < sub; ++s)
                        dst[cell_at[q] + sub_at[s]] = grad[q] * (T)msk[s * cells + q];
            }
        }
}

/* ---------------------------------------------------------------- the three computations */

/* Calls block(index, b0, n, work) for every block of images [b0, b0 + n) on the worker threads,
   work being the thread's per_thread scratch values, the BLAS single-threaded meanwhile.  Each
   thread takes the next block not yet taken, so that a thread the system holds back (another
   process on the core) leaves its share to the others instead of making them wait; nothing a
   block computes depends on which thread computes it.  -1 (MemoryError set) when the scratch
   cannot be had. */
template <typename T, typename F>
static int over_blocks(const Geometry& g, npy_intp per_thread, F block) {
    const int threads = worker_threads(g.blocks);
    T* scratch = (T*)malloc(sizeof(T) * per_thread * threads);
    if (scratch == NULL) {
        PyErr_NoMemory();
        return -1;
    }
    {
        SerialBlas serial(threads);
        std::atomic<npy_intp> next(0);
        run_threads(threads, [&](int t) {
            for (npy_intp blk = next++; blk < g.blocks; blk = next++) {
                const npy_intp b0 = blk * g.block;
                block(blk, b0, g.batch - b0 < g.block ? g.batch - b0 : g.block,
                      scratch + t * per_thread);
            }
        });
    }
    free(scratch);
    return 0;
}

template <typename T>
static int forward(const View4<T>& xv, const View4<T>& wv, const T* bias, const Geometry& g,
                   int act, T* out, npy_uint8* mask) {
    const npy_intp len_max = g.block * g.cols;
    std::vector<T> wf(g.filters * g.rows);
    pack_flipped<T>(wv, g, wf.data());
    return over_blocks<T>(g, (g.rows + g.filters) * len_max,
                          [&](npy_intp, npy_intp b0, npy_intp n, T* work) {
        T* col = work;
        T* y = col + g.rows * len_max;
        const int len = (int)(n * g.cols);
        im2col<T>(xv, g, b0, n, col);
        gemm_rm('N', 'N', (int)g.filters, len, (int)g.rows, (T)1, wf.data(), (int)g.rows,
                col, len, (T)0, y, len);
        pool_block<T>(y, g, b0, n, bias, act, out, mask);
    });
}

template <typename T>
static int grad_weights(const View4<T>& xv, const View4<T>& dz, const npy_uint8* mask,
                        const Geometry& g, T* dw) {
    const npy_intp len_max = g.block * g.cols, wsize = g.filters * g.rows;
    /* one partial sum per block, added up in block order afterwards: the result does not
       depend on the number of threads */
    std::vector<T> partial(wsize * (g.blocks > 0 ? g.blocks : 1));
    if (over_blocks<T>(g, g.cells + (g.rows + g.filters) * len_max,
                       [&](npy_intp blk, npy_intp b0, npy_intp n, T* work) {
        T* plane = work;
        T* col = plane + g.cells;
        T* dy = col + g.rows * len_max;
        const int len = (int)(n * g.cols);
        im2col<T>(xv, g, b0, n, col);
        unpool_block<T>(dz, mask, g, b0, n, dy, plane);
        gemm_rm('N', 'T', (int)g.filters, (int)g.rows, len, (T)1, dy, len, col, len,
                (T)0, partial.data() + blk * wsize, (int)g.rows);
    }))
        return -1;
    T* acc = partial.data();
    for (npy_intp blk = 1; blk < g.blocks; ++blk)
        for (npy_intp e = 0; e < wsize; ++e) acc[e] += acc[blk * wsize + e];
    /* back to the filters' layout, unflipped */
    for (npy_intp k = 0; k < g.filters; ++k)
        for (npy_intp c = 0; c < g.channels; ++c)
            for (npy_intp i = 0; i < g.fh; ++i)
                for (npy_intp j = 0; j < g.fw; ++j)
                    dw[((k * g.channels + c) * g.fh + g.fh - 1 - i) * g.fw + g.fw - 1 - j] =
                        acc[((k * g.channels + c) * g.fh + i) * g.fw + j];
    return 0;
}

template <typename T>
static int grad_inputs(const View4<T>& wv, const View4<T>& dz, const npy_uint8* mask,
                       const Geometry& g, T* dx) {
    const npy_intp len_max = g.block * g.cols;
    const npy_intp image = g.channels * g.height * g.width;
    std::vector<T> wf(g.filters * g.rows);
    pack_flipped<T>(wv, g, wf.data());
    return over_blocks<T>(g, g.cells + (g.rows + g.filters) * len_max,
                          [&](npy_intp, npy_intp b0, npy_intp n, T* work) {
        T* plane = work;
        T* dcol = plane + g.cells;
        T* dy = dcol + g.rows * len_max;
        const int len = (int)(n * g.cols);
        memset(dx + b0 * image, 0, sizeof(T) * n * image);
        unpool_block<T>(dz, mask, g, b0, n, dy, plane);
        gemm_rm('T', 'N', (int)g.rows, len, (int)g.filters, (T)1, wf.data(), (int)g.rows,
                dy, len, (T)0, dcol, len);
        col2im_add<T>(dcol, g, b0, n, dx);
    });
}

/* ---------------------------------------------------------------- checks and outputs */

static int check_array(PyArrayObject* a, int ndim, const char* what) {
    if (a == NULL || PyArray_NDIM(a) != ndim) {
        PyErr_Format(PyExc_ValueError, "dltut.conv: %s must be %d-D, got %d-D", what, ndim,
                     a == NULL ? -1 : PyArray_NDIM(a));
        return -1;
    }
    return 0;
}

static int check_float(PyArrayObject* a, int typenum, const char* what) {
    if (typenum != NPY_FLOAT32 && typenum != NPY_FLOAT64) {
        PyErr_SetString(PyExc_TypeError, "dltut.conv: only float32 and float64 are supported");
        return -1;
    }
    if (PyArray_TYPE(a) != typenum) {
        PyErr_Format(PyExc_TypeError, "dltut.conv: %s has numpy type number %d, expected %d "
                     "(%s)", what, PyArray_TYPE(a), typenum,
                     typenum == NPY_FLOAT32 ? "float32" : "float64");
        return -1;
    }
    return 0;
}

static int check_shape(PyArrayObject* a, const npy_intp* shape, const char* what) {
    const npy_intp* d = PyArray_DIMS(a);
    if (d[0] != shape[0] || d[1] != shape[1] || d[2] != shape[2] || d[3] != shape[3]) {
        PyErr_Format(PyExc_ValueError,
                     "dltut.conv: %s has shape (%ld, %ld, %ld, %ld), expected (%ld, %ld, %ld, "
                     "%ld)", what, (long)d[0], (long)d[1], (long)d[2], (long)d[3],
                     (long)shape[0], (long)shape[1], (long)shape[2], (long)shape[3]);
        return -1;
    }
    return 0;
}

/* a itself (new reference) when C-contiguous and aligned, else such a copy: the mask and the
   bias are read as plain C arrays. */
static PyArrayObject* c_array(PyArrayObject* a) {
    Py_INCREF(PyArray_DESCR(a));
    return (PyArrayObject*)PyArray_FromAny((PyObject*)a, PyArray_DESCR(a), 0, 0,
                                           NPY_ARRAY_C_CONTIGUOUS | NPY_ARRAY_ALIGNED, NULL);
}

/* a itself (new reference) when aligned, else an aligned copy: strided reads are fine. */
static PyArrayObject* aligned(PyArrayObject* a) {
    if (PyArray_ISALIGNED(a)) {
        Py_INCREF(a);
        return a;
    }
    return (PyArrayObject*)PyArray_NewCopy(a, NPY_CORDER);
}

/* Make *out a C-contiguous array of the given shape and type, reusing it when it fits. */
static int prepare_output(PyArrayObject** out, int ndim, const npy_intp* shape, int typenum) {
    if (*out != NULL && PyArray_NDIM(*out) == ndim && PyArray_TYPE(*out) == typenum &&
        PyArray_IS_C_CONTIGUOUS(*out) && PyArray_ISALIGNED(*out) && PyArray_ISWRITEABLE(*out)) {
        bool same = true;
        for (int d = 0; d < ndim; ++d)
            same = same && PyArray_DIMS(*out)[d] == shape[d];
        if (same) return 0;
    }
    Py_XDECREF(*out);
    *out = (PyArrayObject*)PyArray_EMPTY(ndim, (npy_intp*)shape, typenum, 0);
    return *out == NULL ? -1 : 0;
}

/* Holds new references and drops them on the way out. */
struct Refs {
    PyArrayObject* a[3];
    Refs() { a[0] = a[1] = a[2] = NULL; }
    ~Refs() { for (int i = 0; i < 3; ++i) Py_XDECREF(a[i]); }
};

/* Checks shared by the two gradients: their inputs' ranks and types, the shapes of the
   output gradient (batch, filters, poh, pow) and of the mask (filters, batch, sub, cells). */
static int check_grad(const Geometry& g, PyArrayObject* dz, PyArrayObject* mask, int typenum) {
    if (check_array(dz, 4, "the output gradient") || check_array(mask, 4, "the mask") ||
        check_float(dz, typenum, "the output gradient"))
        return -1;
    if (PyArray_TYPE(mask) != NPY_UINT8) {
        PyErr_SetString(PyExc_TypeError, "dltut.conv: the mask must be uint8");
        return -1;
    }
    const npy_intp dz_shape[4] = {g.batch, g.filters, g.poh, g.pow_};
    const npy_intp mask_shape[4] = {g.filters, g.batch, g.sub, g.cells};
    return check_shape(dz, dz_shape, "the output gradient") ||
           check_shape(mask, mask_shape, "the mask") ? -1 : 0;
}

/* ---------------------------------------------------------------- entry points */

static int forward_checked(PyArrayObject* x0, PyArrayObject* w0, PyArrayObject* b0,
                           PyArrayObject** out, PyArrayObject** mask, npy_intp ph, npy_intp pw,
                           int act, long block_bytes, int typenum) {
    if (check_array(x0, 4, "the images") || check_array(w0, 4, "the filters") ||
        check_array(b0, 1, "the bias") || check_float(x0, typenum, "the images") ||
        check_float(w0, typenum, "the filters") || check_float(b0, typenum, "the bias"))
        return -1;
    Geometry g;
    if (geometry(&g, PyArray_DIMS(x0), PyArray_DIMS(w0), ph, pw)) return -1;
    if (PyArray_DIMS(b0)[0] != g.filters) {
        PyErr_Format(PyExc_ValueError, "dltut.conv: %ld filters but %ld biases",
                     (long)g.filters, (long)PyArray_DIMS(b0)[0]);
        return -1;
    }
    if (set_block(&g, PyArray_ITEMSIZE(x0), block_bytes)) return -1;
    const npy_intp out_shape[4] = {g.batch, g.filters, g.poh, g.pow_};
    const npy_intp mask_shape[4] = {g.filters, g.batch, g.sub, g.cells};
    if (prepare_output(out, 4, out_shape, typenum) ||
        prepare_output(mask, 4, mask_shape, NPY_UINT8))
        return -1;
    Refs refs;
    PyArrayObject* x = refs.a[0] = aligned(x0);
    PyArrayObject* w = refs.a[1] = aligned(w0);
    PyArrayObject* b = refs.a[2] = c_array(b0);
    if (!x || !w || !b) return -1;
    npy_uint8* m = (npy_uint8*)PyArray_DATA(*mask);
    if (typenum == NPY_FLOAT32)
        return forward<float>(view4<float>(x), view4<float>(w), (const float*)PyArray_DATA(b),
                              g, act, (float*)PyArray_DATA(*out), m);
    return forward<double>(view4<double>(x), view4<double>(w), (const double*)PyArray_DATA(b),
                           g, act, (double*)PyArray_DATA(*out), m);
}

/* The gradient with respect to the filters (wrt_filters) or to the images, from the images x0
   or the filters w0 respectively, the output gradient dz0 and the mask; the other one of x0 and
   w0 only gives its shape. */
static int grad_checked(PyArrayObject* x0, PyArrayObject* w0, PyArrayObject* dz0,
                        PyArrayObject* mask0, PyArrayObject** out, npy_intp ph, npy_intp pw,
                        long block_bytes, int typenum, int wrt_filters) {
    PyArrayObject* data0 = wrt_filters ? x0 : w0;
    if (check_array(x0, 4, "the images") || check_array(w0, 4, "the filters") ||
        check_float(data0, typenum, wrt_filters ? "the images" : "the filters"))
        return -1;
    Geometry g;
    if (geometry(&g, PyArray_DIMS(x0), PyArray_DIMS(w0), ph, pw) ||
        set_block(&g, PyArray_ITEMSIZE(data0), block_bytes) ||
        check_grad(g, dz0, mask0, typenum) ||
        prepare_output(out, 4, PyArray_DIMS(wrt_filters ? w0 : x0), typenum))
        return -1;
    Refs refs;
    PyArrayObject* mask = refs.a[0] = c_array(mask0);
    PyArrayObject* data = refs.a[1] = aligned(data0);
    PyArrayObject* dz = refs.a[2] = aligned(dz0);
    if (!mask || !data || !dz) return -1;
    const npy_uint8* m = (const npy_uint8*)PyArray_DATA(mask);
    if (typenum == NPY_FLOAT32) {
        float* o = (float*)PyArray_DATA(*out);
        return wrt_filters ? grad_weights<float>(view4<float>(data), view4<float>(dz), m, g, o)
                           : grad_inputs<float>(view4<float>(data), view4<float>(dz), m, g, o);
    }
    double* o = (double*)PyArray_DATA(*out);
    return wrt_filters ? grad_weights<double>(view4<double>(data), view4<double>(dz), m, g, o)
                       : grad_inputs<double>(view4<double>(data), view4<double>(dz), m, g, o);
}

/* The entry points: the above, with C++'s out-of-memory exception turned into Python's. */
static int conv_pool_forward(PyArrayObject* x0, PyArrayObject* w0, PyArrayObject* b0,
                             PyArrayObject** out, PyArrayObject** mask, npy_intp ph,
                             npy_intp pw, int act, long block_bytes, int typenum) {
    try {
        return forward_checked(x0, w0, b0, out, mask, ph, pw, act, block_bytes, typenum);
    } catch (const std::bad_alloc&) {
        PyErr_NoMemory();
        return -1;
    }
}

static int conv_pool_grad(PyArrayObject* x0, PyArrayObject* w0, PyArrayObject* dz0,
                          PyArrayObject* mask0, PyArrayObject** out, npy_intp ph, npy_intp pw,
                          long block_bytes, int typenum, int wrt_filters) {
    try {
        return grad_checked(x0, w0, dz0, mask0, out, ph, pw, block_bytes, typenum, wrt_filters);
    } catch (const std::bad_alloc&) {
        PyErr_NoMemory();
        return -1;
    }
}

}  // namespace dltut_conv
