// CoC's weight derivation on the CPU, forward and backward, fused.
//
// A CoC conv's weight is derived from its parameters at every step:
//
//   A = superconv(I)            depthwise over the image's G channels, per
//                               input channel c (the "batch"): kernel g of
//                               size s x s, dilation d, zero padding
//   C = LN_c(A) * gamma + beta  (+ I with skip)   LayerNorm over each
//                               c's (G, S, S) row, elementwise affine
//   V[g sa^2 + a sa + b, c, y, x] = C[c, g, a k + y, b k + x]   (co < Z)
//   W = LN_co(V) * gamma2 + beta2   (orth: a LayerNorm over each output
//                               channel's (ci, k, k), elementwise affine)
//
// with I the (ci, G, S, S) image parameter (S = sa k). PyTorch runs this as
// a depthwise conv on 6x6 images, two LayerNorm passes, an add and a
// permute copy, forward and backward: memory-bound passes that cost CoC
// ResNet-50 a third of a ResNet-50 training step. Here a row (one c) is
// computed in registers and cache: a pass reads I and writes W (two with
// orth); the backward reads dW and I and writes dI, recomputing what it
// needs.
//
// Layout: I is read as channels_last (c, y, x, g) so that the super conv
// and the LayerNorm run over the G channels, contiguous; gamma / beta and
// the super kernel are transposed once per call to (y, x, g) and (tap, g).
// Threads split the input channels in blocks of 16 (one AVX-512 vector);
// a block's rows are transposed in cache to (y, x, g, c), so that each
// output channel's tap takes the block's 16 values as one vector: W is
// written channels_last (co, k, k, ci) a cache line at a time, or
// contiguous. With orth, the per-output-channel statistics need every
// block first: the rows are computed twice (statistics, then W) rather
// than kept, since a weight-sized buffer per layer per step costs more in
// page faults and memory than the recomputation. The backward likewise
// recomputes the rows: once for the orth sums, once for dC. Sums over c
// (d gamma, d beta, d super kernel) and over co (the orth sums) are per
// thread, then added; d gamma2 / d beta2 belong to one block each.
//
// Compiled into the per-ISA modules of setup.py with cpwc_context.cpp
// (bindings.cpp names both); the loops are written for the compiler to
// vectorise over g.
#include <ATen/Parallel.h>
#include <ATen/core/Tensor.h>
#include <ATen/Dispatch.h>
#include <ATen/ops/empty.h>
#include <ATen/ops/empty_like.h>

#include <algorithm>
#include <cmath>
#include <type_traits>
#include <vector>

namespace coc {

struct Shape {
  int64_t ci, G, S, k, sa, co, taps, ks;
  std::vector<int64_t> oy, ox;  // tap offsets
  bool skip;
};

Shape make_shape(const at::Tensor& image, const at::Tensor& sk, int64_t sa,
                 int64_t co, int64_t dilation, bool skip) {
  Shape s;
  s.ci = image.size(0);
  s.G = image.size(1);
  s.S = image.size(2);
  s.sa = sa;
  s.k = s.S / sa;
  s.co = co;
  s.ks = sk.size(-1);
  s.taps = s.ks * s.ks;
  s.skip = skip;
  const int64_t half = s.ks / 2;
  for (int64_t i = 0; i < s.ks; ++i)
    for (int64_t j = 0; j < s.ks; ++j) {
      s.oy.push_back((i - half) * dilation);
      s.ox.push_back((j - half) * dilation);
    }
  return s;
}

// a[(y S + x) G + g] = sum_t w[t G + g] in[((y + oy) S + x + ox) G + g]
template <typename T>
void super_conv(const T* __restrict in, const T* __restrict w,
                T* __restrict a, const Shape& s) {
  const int64_t G = s.G, S = s.S;
  for (int64_t y = 0; y < S; ++y)
    for (int64_t x = 0; x < S; ++x) {
      T* __restrict acc = a + (y * S + x) * G;
      for (int64_t g = 0; g < G; ++g) acc[g] = 0;
      for (int64_t t = 0; t < s.taps; ++t) {
        const int64_t yy = y + s.oy[t], xx = x + s.ox[t];
        if (yy < 0 || yy >= S || xx < 0 || xx >= S) continue;
        const T* __restrict src = in + (yy * S + xx) * G;
        const T* __restrict wt = w + t * G;
#pragma omp simd
        for (int64_t g = 0; g < G; ++g) acc[g] += wt[g] * src[g];
      }
    }
}

// (rows, cols) -> (cols, rows), into dst
template <typename T>
void transpose(const T* __restrict src, T* __restrict dst, int64_t rows,
               int64_t cols) {
  constexpr int64_t kTile = 8;
  for (int64_t r0 = 0; r0 < rows; r0 += kTile)
    for (int64_t c0 = 0; c0 < cols; c0 += kTile) {
      const int64_t r1 = std::min(rows, r0 + kTile);
      const int64_t c1 = std::min(cols, c0 + kTile);
      for (int64_t r = r0; r < r1; ++r)
        for (int64_t c = c0; c < c1; ++c) dst[c * rows + r] = src[r * cols + c];
    }
}

template <typename T>
std::vector<T> transposed(const T* src, int64_t rows, int64_t cols) {
  std::vector<T> out(rows * cols);
  transpose(src, out.data(), rows, cols);
  return out;
}

// (sum, sum of squares) of n values, in double
template <typename T>
void moments(const T* __restrict a, int64_t n, double& sum, double& sq) {
  double s = 0, q = 0;
#pragma omp simd reduction(+ : s, q)
  for (int64_t i = 0; i < n; ++i) {
    const double v = a[i];
    s += v;
    q += v * v;
  }
  sum = s;
  sq = q;
}

constexpr int64_t kBlock = 16;  // input channels per task: one vector

// Where the weight's element (co, c, y, x) lies: kernels-last rows
// (co, k k, ci), the channels_last weight and V, or (co, ci, k k), the
// contiguous weight.
struct Layout {
  int64_t ci, kk;
  bool channels_last;
  int64_t at(int64_t co, int64_t c, int64_t t) const {
    return channels_last ? (co * kk + t) * ci + c : (co * ci + c) * kk + t;
  }
  int64_t c_step() const { return channels_last ? 1 : kk; }
};

// Calls f(len, step) with the block's length and the weight's stride
// between input channels, as compile-time constants for a full block of a
// kernels-last layout (every conv of the papers' backbones), so the tile
// loops below compile to whole vectors.
template <typename F>
inline void with_block(int64_t nc, int64_t step, F&& f) {
  if (nc == kBlock && step == 1)
    f(std::integral_constant<int64_t, kBlock>{},
      std::integral_constant<int64_t, 1>{});
  else
    f(nc, step);
}

// Kernels last, a block's runs of the weight are one cache line each, a
// row (ci values) apart: too far apart for the hardware prefetcher. The
// tile loops ask for the run kAhead rows on (rows are consecutive (co, t)).
constexpr int64_t kAhead = 8;
template <int kWrite, typename T>
inline void prefetch_ahead(const T* run, int64_t step, int64_t ci) {
  if (step == 1) __builtin_prefetch(run + kAhead * ci, kWrite, 3);
}

// The block buffer: the C (or dC) rows of a block of input channels,
// (S S, G, kBlock), the channel innermost, so that a kernel tap's run of
// the block is one contiguous vector. For each output channel co and tap
// t = (y, x): its position in the image.
struct Tiles {
  std::vector<int64_t> pos;  // (co, k k): (index in (S S, G))
  Tiles(const Shape& s) : pos(s.co * s.k * s.k) {
    const int64_t sa2 = s.sa * s.sa, S = s.S, k = s.k;
    for (int64_t co = 0; co < s.co; ++co) {
      const int64_t g = co / sa2, ty = (co % sa2) / s.sa, tx = co % s.sa;
      for (int64_t y = 0; y < k; ++y)
        for (int64_t x = 0; x < k; ++x)
          pos[co * k * k + y * k + x] =
              ((ty * k + y) * S + tx * k + x) * s.G + g;
    }
  }
};

// The per-call constants: the super kernel (taps, G), gamma and beta
// (S S, G), the orth affine (k k, ci), the tiles' positions.
template <typename T>
struct Params {
  std::vector<T> wt, gam, bet, g2, b2;
  Tiles tiles;
  Params(const Shape& s, const T* sk, const T* gamma, const T* beta,
         const T* gamma2, const T* beta2)
      : wt(transposed(sk, s.G, s.taps)),
        gam(transposed(gamma, s.G, s.S * s.S)),
        bet(beta ? transposed(beta, s.G, s.S * s.S) : std::vector<T>()),
        g2(gamma2 ? transposed(gamma2, s.ci, s.k * s.k) : std::vector<T>()),
        b2(beta2 ? transposed(beta2, s.ci, s.k * s.k) : std::vector<T>()),
        tiles(s) {}
};

// (nc, row) -> (row, kBlock), in kBlock x kBlock tiles that stay in L1
template <typename T>
void to_block(const T* __restrict rows, T* __restrict blk, int64_t nc,
              int64_t row) {
  int64_t i0 = 0;
  if (nc == kBlock)
    for (; i0 + kBlock <= row; i0 += kBlock)
      for (int64_t c = 0; c < kBlock; ++c)
        for (int64_t i = 0; i < kBlock; ++i)
          blk[(i0 + i) * kBlock + c] = rows[c * row + i0 + i];
  for (int64_t c = 0; c < nc; ++c)
    for (int64_t i = i0; i < row; ++i) blk[i * kBlock + c] = rows[c * row + i];
}

// The block c0..c1's C rows into blk (S S, G, kBlock); rows: scratch
// (kBlock, S S, G), where the super conv's output A is kept when keep_a.
// Writes the rows' LayerNorm statistics when mean_out is given.
template <typename T>
void block_rows(const T* image, const Params<T>& p, const Shape& s,
                int64_t c0, int64_t c1, T* rows, T* blk, T* mean_out,
                T* rstd_out, double eps, T* keep_a = nullptr) {
  const int64_t row = s.S * s.S * s.G;
  for (int64_t c = c0; c < c1; ++c) {
    const T* __restrict in = image + c * row;
    T* cp = rows + (c - c0) * row;  // may be ap
    T* ap = keep_a ? keep_a + (c - c0) * row : cp;
    super_conv(in, p.wt.data(), ap, s);
    double sum, sq;
    moments(ap, row, sum, sq);
    const double mean = sum / row;
    const double var = std::max(sq / row - mean * mean, 0.0);
    const T rstd = T(1.0 / std::sqrt(var + eps));
    const T m = T(mean);
    if (mean_out != nullptr) {
      mean_out[c] = m;
      rstd_out[c] = rstd;
    }
    const T* __restrict gp = p.gam.data();
    const T* __restrict bt = p.bet.data();
    const T skip = s.skip ? T(1) : T(0);
#pragma omp simd
    for (int64_t i = 0; i < row; ++i)
      cp[i] = (ap[i] - m) * rstd * gp[i] + bt[i] + skip * in[i];
  }
  to_block(rows, blk, c1 - c0, row);
}

// (row, kBlock) -> (nc, row): to_block's inverse
template <typename T>
void from_block(const T* __restrict blk, T* __restrict rows, int64_t nc,
                int64_t row) {
  int64_t i0 = 0;
  if (nc == kBlock)
    for (; i0 + kBlock <= row; i0 += kBlock)
      for (int64_t c = 0; c < kBlock; ++c)
        for (int64_t i = 0; i < kBlock; ++i)
          rows[c * row + i0 + i] = blk[(i0 + i) * kBlock + c];
  for (int64_t c = 0; c < nc; ++c)
    for (int64_t i = i0; i < row; ++i) rows[c * row + i] = blk[i * kBlock + c];
}

// Orth, forward: each output channel's (sum, sum of squares) over its
// (ci, k, k), the blocks' rows computed once more than the write needs
// rather than kept (a weight-sized buffer each step).
template <typename T>
void orth_moments(const T* image, const Params<T>& p, const Shape& s,
                  T* mean2, T* rstd2, double eps, double eps2) {
  const int64_t row = s.S * s.S * s.G, kk = s.k * s.k;
  const int64_t blocks = (s.ci + kBlock - 1) / kBlock;
  const int64_t threads = at::get_num_threads();
  std::vector<double> sums(threads * 2 * s.co, 0.0);
  at::parallel_for(0, blocks, 1, [&](int64_t begin, int64_t end) {
    double* mine = sums.data() + at::get_thread_num() * 2 * s.co;
    std::vector<T> a(row * kBlock), blk(row * kBlock);
    for (int64_t b = begin; b < end; ++b) {
      const int64_t c0 = b * kBlock, c1 = std::min(s.ci, c0 + kBlock);
      const int64_t nc = c1 - c0;
      block_rows(image, p, s, c0, c1, a.data(), blk.data(), (T*)nullptr,
                 (T*)nullptr, eps);
      with_block(nc, 1, [&](auto len, auto) {
        for (int64_t co = 0; co < s.co; ++co) {
          double sum = 0, sq = 0;
          for (int64_t t = 0; t < kk; ++t) {
            const T* __restrict src =
                blk.data() + p.tiles.pos[co * kk + t] * kBlock;
#pragma omp simd reduction(+ : sum, sq)
            for (int64_t j = 0; j < len; ++j) {
              const double v = src[j];
              sum += v;
              sq += v * v;
            }
          }
          mine[2 * co] += sum;
          mine[2 * co + 1] += sq;
        }
      });
    }
  });
  const double n = double(s.ci * kk);
  for (int64_t co = 0; co < s.co; ++co) {
    double sum = 0, sq = 0;
    for (int64_t t = 0; t < threads; ++t) {
      sum += sums[t * 2 * s.co + 2 * co];
      sq += sums[t * 2 * s.co + 2 * co + 1];
    }
    const double mean = sum / n;
    const double var = std::max(sq / n - mean * mean, 0.0);
    mean2[co] = T(mean);
    rstd2[co] = T(1.0 / std::sqrt(var + eps2));
  }
}

// W from the blocks' rows: each (output channel, tap)'s run of a block,
// normalised per output channel when mean2 is given (orth).
template <typename T>
void forward_kernel(const T* image, const Params<T>& p, T* W, T* mean_out,
                    T* rstd_out, const T* mean2, const T* rstd2,
                    const Shape& s, const Layout& out, double eps) {
  const int64_t row = s.S * s.S * s.G, kk = s.k * s.k;
  const int64_t blocks = (s.ci + kBlock - 1) / kBlock;
  at::parallel_for(0, blocks, 1, [&](int64_t begin, int64_t end) {
    std::vector<T> a(row * kBlock), blk(row * kBlock);
    for (int64_t b = begin; b < end; ++b) {
      const int64_t c0 = b * kBlock, c1 = std::min(s.ci, c0 + kBlock);
      block_rows(image, p, s, c0, c1, a.data(), blk.data(), mean_out,
                 rstd_out, eps);
      with_block(c1 - c0, out.c_step(), [&](auto len, auto step) {
        for (int64_t co = 0; co < s.co; ++co) {
          const T m = mean2 ? mean2[co] : T(0);
          const T rs = mean2 ? rstd2[co] : T(1);
          for (int64_t t = 0; t < kk; ++t) {
            const T* __restrict src =
                blk.data() + p.tiles.pos[co * kk + t] * kBlock;
            T* __restrict dst = W + out.at(co, c0, t);
            prefetch_ahead<1>(dst, step, s.ci);
            if (mean2 != nullptr) {
              const T* __restrict g = p.g2.data() + t * s.ci + c0;
              const T* __restrict bb = p.b2.data() + t * s.ci + c0;
#pragma omp simd
              for (int64_t j = 0; j < len; ++j)
                dst[j * step] = (src[j] - m) * rs * g[j] + bb[j];
            } else {
#pragma omp simd
              for (int64_t j = 0; j < len; ++j) dst[j * step] = src[j];
            }
          }
        }
      });
    }
  });
}

// Orth, backward, first pass: with V's rows recomputed block by block,
// d gamma2 and d beta2 ((k k, ci): each block owns its columns) and each
// output channel's sums of dxhat and dxhat * xhat (s12, (co, 2)).
template <typename T>
void orth_backward_sums(const T* dW, const T* image, const Params<T>& p,
                        const T* mean2, const T* rstd2, T* dg2, T* db2,
                        double* s12, const Shape& s, const Layout& in,
                        double eps) {
  const int64_t row = s.S * s.S * s.G, kk = s.k * s.k;
  const int64_t blocks = (s.ci + kBlock - 1) / kBlock;
  const int64_t threads = at::get_num_threads();
  std::vector<double> sums(threads * 2 * s.co, 0.0);
  std::fill(dg2, dg2 + kk * s.ci, T(0));
  std::fill(db2, db2 + kk * s.ci, T(0));
  at::parallel_for(0, blocks, 1, [&](int64_t begin, int64_t end) {
    double* mine = sums.data() + at::get_thread_num() * 2 * s.co;
    std::vector<T> a(row * kBlock), blk(row * kBlock);
    for (int64_t b = begin; b < end; ++b) {
      const int64_t c0 = b * kBlock, c1 = std::min(s.ci, c0 + kBlock);
      block_rows(image, p, s, c0, c1, a.data(), blk.data(), (T*)nullptr,
                 (T*)nullptr, eps);
      with_block(c1 - c0, in.c_step(), [&](auto len, auto step) {
        for (int64_t co = 0; co < s.co; ++co) {
          const T m = mean2[co], rs = rstd2[co];
          double s1 = 0, s2 = 0;
          for (int64_t t = 0; t < kk; ++t) {
            const T* __restrict v =
                blk.data() + p.tiles.pos[co * kk + t] * kBlock;
            const T* __restrict src = dW + in.at(co, c0, t);
            prefetch_ahead<0>(src, step, s.ci);
            const T* __restrict g = p.g2.data() + t * s.ci + c0;
            T* __restrict dg = dg2 + t * s.ci + c0;
            T* __restrict db = db2 + t * s.ci + c0;
#pragma omp simd reduction(+ : s1, s2)
            for (int64_t j = 0; j < len; ++j) {
              const T d = src[j * step];
              const T xhat = (v[j] - m) * rs;
              const T dxhat = d * g[j];
              dg[j] += d * xhat;
              db[j] += d;
              s1 += double(dxhat);
              s2 += double(dxhat) * double(xhat);
            }
          }
          mine[2 * co] += s1;
          mine[2 * co + 1] += s2;
        }
      });
    }
  });
  for (int64_t co = 0; co < 2 * s.co; ++co) {
    double sum = 0;
    for (int64_t t = 0; t < threads; ++t) sum += sums[t * 2 * s.co + co];
    s12[co] = sum;
  }
}

// The backward through the rows: dC gathered from dW (through the orth
// LayerNorm when mean2 is given, with V's rows recomputed), then the
// LayerNorm and the super conv, per input channel.
template <typename T>
void backward_kernel(const T* dW, const T* image, const Params<T>& p,
                     const T* mean_in, const T* rstd_in, const T* mean2,
                     const T* rstd2, const double* s12, T* d_image, T* d_sk,
                     T* d_gamma, T* d_beta, const Shape& s,
                     const Layout& in_layout, double eps) {
  const int64_t G = s.G, S = s.S, SS = S * S, row = SS * G;
  const int64_t kk = s.k * s.k;
  const double n2 = double(s.ci * kk);
  const int64_t blocks = (s.ci + kBlock - 1) / kBlock;
  const int64_t threads = at::get_num_threads();
  const int64_t per = 2 * row + s.taps * G;
  // per thread: d gamma, d beta (S S, G), d super kernel (taps, G)
  std::vector<T> sums(threads * per, T(0));
  at::parallel_for(0, blocks, 1, [&](int64_t begin, int64_t end) {
    T* mine = sums.data() + at::get_thread_num() * per;
    T* __restrict dg = mine;
    T* __restrict db = mine + row;
    T* __restrict dk = mine + 2 * row;
    // blk, dblk: the block's C and dC, (S S, G, kBlock); dy: the block's
    // dC, (kBlock, S S, G); a, da: one c's, (S S, G)
    std::vector<T> a(kBlock * row), rows(mean2 ? kBlock * row : 0),
        blk(mean2 ? kBlock * row : 0), dblk(kBlock * row), dy(kBlock * row),
        da(row);
    for (int64_t b = begin; b < end; ++b) {
      const int64_t c0 = b * kBlock, c1 = std::min(s.ci, c0 + kBlock);
      if (mean2 != nullptr)  // A kept for the LayerNorm's backward
        block_rows(image, p, s, c0, c1, rows.data(), blk.data(), (T*)nullptr,
                   (T*)nullptr, eps, a.data());
      std::fill(dblk.begin(), dblk.end(), T(0));  // padded kernels: no grad
      with_block(c1 - c0, in_layout.c_step(), [&](auto len, auto step) {
        for (int64_t co = 0; co < s.co; ++co) {
          T m = 0, rs = 0, m1 = 0, m2 = 0;
          if (mean2 != nullptr) {
            m = mean2[co];
            rs = rstd2[co];
            m1 = T(s12[2 * co] / n2);
            m2 = T(s12[2 * co + 1] / n2);
          }
          for (int64_t t = 0; t < kk; ++t) {
            const int64_t at = p.tiles.pos[co * kk + t] * kBlock;
            const T* __restrict src = dW + in_layout.at(co, c0, t);
            prefetch_ahead<0>(src, step, s.ci);
            T* __restrict dst = dblk.data() + at;
            if (mean2 != nullptr) {
              const T* __restrict v = blk.data() + at;
              const T* __restrict g = p.g2.data() + t * s.ci + c0;
#pragma omp simd
              for (int64_t j = 0; j < len; ++j) {
                const T xhat = (v[j] - m) * rs;
                dst[j] = rs * (src[j * step] * g[j] - m1 - xhat * m2);
              }
            } else {
#pragma omp simd
              for (int64_t j = 0; j < len; ++j) dst[j] = src[j * step];
            }
          }
        }
      });
      from_block(dblk.data(), dy.data(), c1 - c0, row);
      for (int64_t c = c0; c < c1; ++c) {
        const T* __restrict in = image + c * row;
        T* ap = a.data() + (c - c0) * row;
        if (mean2 == nullptr) super_conv(in, p.wt.data(), ap, s);
        const T m = mean_in[c], rstd = rstd_in[c];
        const T* __restrict dyp = dy.data() + (c - c0) * row;
        const T* __restrict gp = p.gam.data();
        double s1 = 0, s2 = 0;  // sums of dxhat and dxhat * xhat
#pragma omp simd reduction(+ : s1, s2)
        for (int64_t i = 0; i < row; ++i) {
          const T xhat = (ap[i] - m) * rstd;
          const T dxhat = dyp[i] * gp[i];
          dg[i] += dyp[i] * xhat;
          db[i] += dyp[i];
          s1 += double(dxhat);
          s2 += double(dxhat) * double(xhat);
        }
        const T m1 = T(s1 / row), m2 = T(s2 / row);
        T* __restrict dap = da.data();
        T* __restrict di = d_image + c * row;
        const T skip = s.skip ? T(1) : T(0);
#pragma omp simd
        for (int64_t i = 0; i < row; ++i) {
          const T xhat = (ap[i] - m) * rstd;
          dap[i] = rstd * (dyp[i] * gp[i] - m1 - xhat * m2);
          di[i] = skip * dyp[i];
        }
        for (int64_t y = 0; y < S; ++y)
          for (int64_t x = 0; x < S; ++x) {
            const T* __restrict dpix = dap + (y * S + x) * G;
            for (int64_t t = 0; t < s.taps; ++t) {
              const int64_t yy = y + s.oy[t], xx = x + s.ox[t];
              if (yy < 0 || yy >= S || xx < 0 || xx >= S) continue;
              const T* __restrict src = in + (yy * S + xx) * G;
              T* __restrict dst = di + (yy * S + xx) * G;
              const T* __restrict w = p.wt.data() + t * G;
              T* __restrict dkt = dk + t * G;
#pragma omp simd
              for (int64_t g = 0; g < G; ++g) {
                dst[g] += w[g] * dpix[g];
                dkt[g] += src[g] * dpix[g];
              }
            }
          }
      }
    }
  });
  // add the threads' sums; back to (G, S S) and (G, taps)
  std::vector<T> total(per, T(0));
  for (int64_t t = 0; t < threads; ++t)
    for (int64_t i = 0; i < per; ++i) total[i] += sums[t * per + i];
  transpose(total.data(), d_gamma, SS, G);
  transpose(total.data() + row, d_beta, SS, G);
  transpose(total.data() + 2 * row, d_sk, s.taps, G);
}

void check(const at::Tensor& image, const at::Tensor& sk,
           const at::Tensor& gamma, const at::Tensor& beta, int64_t sa,
           int64_t co) {
  TORCH_CHECK(image.device().is_cpu() && image.dim() == 4,
              "coc weight: image must be a (ci, G, S, S) CPU tensor");
  TORCH_CHECK(image.is_contiguous(at::MemoryFormat::ChannelsLast),
              "coc weight: image must be channels_last");
  TORCH_CHECK(image.size(2) == image.size(3) && sa >= 1 &&
                  image.size(2) % sa == 0,
              "coc weight: image sides must be sa * k");
  TORCH_CHECK(sk.is_contiguous() && sk.dim() == 4 &&
                  sk.size(0) == image.size(1) && sk.size(1) == 1 &&
                  sk.size(2) == sk.size(3),
              "coc weight: super kernel must be contiguous (G, 1, s, s)");
  TORCH_CHECK(gamma.is_contiguous() && beta.is_contiguous() &&
                  gamma.numel() == image.numel() / image.size(0) &&
                  beta.numel() == gamma.numel(),
              "coc weight: gamma, beta must be contiguous (G, S, S)");
  TORCH_CHECK(co >= 1 && co <= image.size(1) * sa * sa,
              "coc weight: out_channels out of range");
  for (const auto* t : {&sk, &gamma, &beta})
    TORCH_CHECK(t->scalar_type() == image.scalar_type(),
                "coc weight: one dtype for all tensors");
}

bool has(const at::Tensor& t) { return t.defined() && t.numel() > 0; }

void check_orth(const at::Tensor& gamma2, const at::Tensor& beta2,
                const at::Tensor& image, const Shape& s) {
  if (!has(gamma2)) return;
  TORCH_CHECK(gamma2.is_contiguous() && beta2.is_contiguous() &&
                  gamma2.numel() == s.ci * s.k * s.k &&
                  beta2.numel() == gamma2.numel() &&
                  gamma2.scalar_type() == image.scalar_type() &&
                  beta2.scalar_type() == image.scalar_type(),
              "coc weight: gamma2, beta2 must be contiguous (ci, k, k)");
}

// (W (co, ci, k, k), mean, rstd (ci), mean2, rstd2 (co; empty without
// orth))
std::vector<at::Tensor> forward(at::Tensor image, at::Tensor sk,
                                at::Tensor gamma, at::Tensor beta,
                                at::Tensor gamma2, at::Tensor beta2,
                                int64_t sa, int64_t co, int64_t dilation,
                                bool skip, double eps, double eps2,
                                bool channels_last) {
  check(image, sk, gamma, beta, sa, co);
  const Shape s = make_shape(image, sk, sa, co, dilation, skip);
  const bool orth = has(gamma2);
  check_orth(gamma2, beta2, image, s);
  const auto memory = channels_last ? at::MemoryFormat::ChannelsLast
                                    : at::MemoryFormat::Contiguous;
  auto W = at::empty({co, s.ci, s.k, s.k}, image.options(), memory);
  auto mean = at::empty({s.ci}, image.options());
  auto rstd = at::empty({s.ci}, image.options());
  auto mean2 = at::empty({orth ? co : 0}, image.options());
  auto rstd2 = at::empty({orth ? co : 0}, image.options());
  const Layout layout{s.ci, s.k * s.k, channels_last};
  AT_DISPATCH_FLOATING_TYPES(image.scalar_type(), "coc_weight_forward", [&] {
    using T = scalar_t;
    const Params<T> p(s, sk.data_ptr<T>(), gamma.data_ptr<T>(),
                      beta.data_ptr<T>(), orth ? gamma2.data_ptr<T>() : nullptr,
                      orth ? beta2.data_ptr<T>() : nullptr);
    if (orth)
      orth_moments<T>(image.data_ptr<T>(), p, s, mean2.data_ptr<T>(),
                      rstd2.data_ptr<T>(), eps, eps2);
    forward_kernel<T>(image.data_ptr<T>(), p, W.data_ptr<T>(),
                      mean.data_ptr<T>(), rstd.data_ptr<T>(),
                      orth ? mean2.data_ptr<T>() : nullptr,
                      orth ? rstd2.data_ptr<T>() : nullptr, s, layout, eps);
  });
  return {W, mean, rstd, mean2, rstd2};
}

// (d image (channels_last), d super kernel, d gamma, d beta, d gamma2,
//  d beta2 (empty without orth))
std::vector<at::Tensor> backward(at::Tensor dW, at::Tensor image,
                                 at::Tensor sk, at::Tensor gamma,
                                 at::Tensor beta, at::Tensor gamma2,
                                 at::Tensor mean, at::Tensor rstd,
                                 at::Tensor mean2, at::Tensor rstd2,
                                 int64_t sa, int64_t co, int64_t dilation,
                                 bool skip, double eps) {
  check(image, sk, gamma, beta, sa, co);
  const Shape s = make_shape(image, sk, sa, co, dilation, skip);
  const bool orth = has(gamma2);
  check_orth(gamma2, gamma2, image, s);
  const int64_t kk = s.k * s.k, n = s.ci * kk;
  TORCH_CHECK(dW.dim() == 4 && dW.size(0) == co && dW.size(1) == s.ci &&
                  dW.size(2) == s.k && dW.size(3) == s.k &&
                  dW.scalar_type() == image.scalar_type(),
              "coc weight: dW must be (co, ci, k, k)");
  const bool channels_last = !dW.is_contiguous() &&
                             dW.is_contiguous(at::MemoryFormat::ChannelsLast);
  dW = channels_last ? dW : dW.contiguous();
  auto d_image = at::empty_like(image, at::MemoryFormat::ChannelsLast);
  auto d_sk = at::empty_like(sk);
  auto d_gamma = at::empty_like(gamma);
  auto d_beta = at::empty_like(gamma);
  auto d_gamma2 = at::empty({orth ? n : 0}, image.options());
  auto d_beta2 = at::empty({orth ? n : 0}, image.options());
  const Layout layout{s.ci, kk, channels_last};
  AT_DISPATCH_FLOATING_TYPES(image.scalar_type(), "coc_weight_backward", [&] {
    using T = scalar_t;
    const Params<T> p(s, sk.data_ptr<T>(), gamma.data_ptr<T>(),
                      beta.data_ptr<T>(), orth ? gamma2.data_ptr<T>() : nullptr,
                      nullptr);
    std::vector<double> s12(orth ? 2 * co : 0);
    if (orth) {
      std::vector<T> dg(n), db(n);  // kernels last (k k, ci)
      orth_backward_sums<T>(dW.data_ptr<T>(), image.data_ptr<T>(), p,
                            mean2.data_ptr<T>(), rstd2.data_ptr<T>(),
                            dg.data(), db.data(), s12.data(), s, layout, eps);
      transpose(dg.data(), d_gamma2.data_ptr<T>(), kk, s.ci);
      transpose(db.data(), d_beta2.data_ptr<T>(), kk, s.ci);
    }
    backward_kernel<T>(dW.data_ptr<T>(), image.data_ptr<T>(), p,
                       mean.data_ptr<T>(), rstd.data_ptr<T>(),
                       orth ? mean2.data_ptr<T>() : nullptr,
                       orth ? rstd2.data_ptr<T>() : nullptr, s12.data(),
                       d_image.data_ptr<T>(), d_sk.data_ptr<T>(),
                       d_gamma.data_ptr<T>(), d_beta.data_ptr<T>(), s, layout,
                       eps);
  });
  return {d_image, d_sk, d_gamma, d_beta, d_gamma2, d_beta2};
}

}  // namespace coc
