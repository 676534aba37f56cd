// Fused CPWC context unit for CPU inference (float32, channels_last).
//
//   out += s1 + s2(s1),   s1 = stage 1 (one 3x3 filter per output channel z
//                         over its input group G(z)), s2 = depthwise 3x3.
//
// One pass per output row: stage 1 for a row, the group sum, and stage 2
// over a ring of three stage-1 rows, added straight into the 1x1 path's
// output. The unfused form writes and re-reads five activation-sized tensors
// per layer; this writes none. Batch images and row blocks run in parallel
// on ATen's (OpenMP) intra-op threads.
//
// Stage 1 is a "member" depthwise conv followed by a per-z sum:
//   Z <= C: members are the input channels (M = C); group z sums the r_z
//           consecutive members of its segment (r_z = q + 1 or q).
//   Z >  C: members are the outputs (M = Z); member z reads input channel
//           c(z), i.e. each channel of a segment is repeated e = q + 1 or q
//           times: by lane permutes when there is one segment with e = 2 or
//           4 (all of ResNet's Z > C layers), else from "expanded rows"
//           built once per input row.
// Segments: (member start, z start, number of z, r or e), see cpwc_groups.py.
//
// Instruction sets: setup.py compiles this file once per ISA (through
// cpu_kernels_<isa>.cpp, with coc_weight.cpp and bindings.cpp), each time
// as a Python extension module of its own: AVX-512 F/BW/DQ/VL + FMA,
// AVX2 + FMA, and a portable build with the compiler's baseline flags.
// cpu_kernels.py imports the best one the CPU runs. A module never holds code of two ISAs, so the linker cannot pick an
// AVX-512 copy of an inline function for the portable build (and
// -fvisibility=hidden keeps each module's copies to itself).
//
// Vector code: the depthwise loops sweep a row of pixels one channel block
// at a time, with the block's 9 tap weight vectors loaded once per row.
// AVX-512: blocks of 2 vectors (32 channels; the 18 weight vectors stay in
// registers) and 4 output pixels at a time, so that each input column is
// loaded once for the (up to 3) pixels that read it; the first and last
// groups of a row skip the columns outside it at compile time. AVX2:
// blocks of 4 vectors (32 channels), one pixel at a time (16 registers).
// The group sums (Z < C) and the channel repeats (Z > C) happen in
// registers, by lane permutes. Chosen by timing ResNet-50's shapes on a
// 2-core AVX-512 EPYC (Zen 4), both builds there: AVX-512 2 x 4 beat 4 x 1,
// 4 x 2, 2 x 3 and 1 x 8 (blocks x pixels) by 3-45%; AVX2 4 x 1 beat 1 x 4,
// 2 x 2 and 2 x 4 by 15-90%; reloading the weights at every pixel was a
// third slower. Memory: the next row is prefetched while a row is swept,
// and the kernel's own stage-1 rows have padded pixels (kPad); expanding
// the repeated channels into rows once, instead of permuting at each use,
// was slower (same host).
#include <ATen/Parallel.h>
#include <ATen/core/Tensor.h>

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <vector>

#if defined(__AVX512F__) && defined(__AVX512BW__) && \
    defined(__AVX512DQ__) && defined(__AVX512VL__) && defined(__FMA__)
#define CPWC_AVX512 1
#elif defined(__AVX2__) && defined(__FMA__)
#define CPWC_AVX2 1
#endif
#if defined(CPWC_AVX512) || defined(CPWC_AVX2)
#include <immintrin.h>
#endif

#define CPWC_INLINE inline __attribute__((always_inline))

namespace {

// ---------------------------------------------------------------------------
// The vector type of this build: V::kLanes floats per vector, V::kBlock
// vectors per channel block, V::kPixels output pixels per step of a sweep,
// the operations the sweeps need, and
//   repeat<E>(c, first):  lanes first + j / E of c, j = 0 .. kLanes - 1,
//   pair_sums(a, b):      a0 + a1, a2 + a3, ..., b0 + b1, b2 + b3, ...

#if defined(CPWC_AVX512)
constexpr const char* kIsa = "avx512";

struct V {
  using T = __m512;
  using Mask = __mmask16;
  static constexpr int kLanes = 16, kBlock = 2, kPixels = 4;
  static Mask mask(int64_t n) { return static_cast<Mask>((1u << n) - 1); }
  static T zero() { return _mm512_setzero_ps(); }
  static T load(const float* p) { return _mm512_loadu_ps(p); }
  static T load(const float* p, Mask m) { return _mm512_maskz_loadu_ps(m, p); }
  template <int n>  // n floats at p in the first lanes
  static T load_part(const float* p) { return load(p, mask(n)); }
  static void store(float* p, T v) { _mm512_storeu_ps(p, v); }
  static void store(float* p, T v, Mask m) { _mm512_mask_storeu_ps(p, m, v); }
  static T add(T a, T b) { return _mm512_add_ps(a, b); }
  static T fma(T a, T b, T c) { return _mm512_fmadd_ps(a, b, c); }
  template <int E>
  static T repeat(T c, int first) {
    const __m512i lane = _mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10,
                                           11, 12, 13, 14, 15);
    // zero-masked form: GCC 12 warns on the plain one's undefined operand
    return _mm512_maskz_permutexvar_ps(
        0xFFFF,
        _mm512_add_epi32(_mm512_set1_epi32(first),
                         _mm512_srli_epi32(lane, E == 2 ? 1 : 2)),
        c);
  }
  static T pair_sums(T a, T b) {
    const __m512i even = _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 16, 18,
                                           20, 22, 24, 26, 28, 30);
    const __m512i odd = _mm512_add_epi32(even, _mm512_set1_epi32(1));
    return _mm512_add_ps(_mm512_permutex2var_ps(a, even, b),
                         _mm512_permutex2var_ps(a, odd, b));
  }
};

#elif defined(CPWC_AVX2)
constexpr const char* kIsa = "avx2";

struct V {
  using T = __m256;
  using Mask = __m256i;
  static constexpr int kLanes = 8, kBlock = 4, kPixels = 1;
  static Mask mask(int64_t n) {
    return _mm256_cmpgt_epi32(_mm256_set1_epi32(static_cast<int>(n)),
                              _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
  }
  static T zero() { return _mm256_setzero_ps(); }
  static T load(const float* p) { return _mm256_loadu_ps(p); }
  static T load(const float* p, Mask m) { return _mm256_maskload_ps(p, m); }
  template <int n>  // n (2 or 4) floats at p, repeated over the lanes
  static T load_part(const float* p) {
    if (n == 4) return _mm256_broadcast_ps(reinterpret_cast<const __m128*>(p));
    if (n == 2)
      return _mm256_castpd_ps(
          _mm256_broadcast_sd(reinterpret_cast<const double*>(p)));
    return load(p, mask(n));
  }
  static void store(float* p, T v) { _mm256_storeu_ps(p, v); }
  static void store(float* p, T v, Mask m) { _mm256_maskstore_ps(p, m, v); }
  static T add(T a, T b) { return _mm256_add_ps(a, b); }
  static T fma(T a, T b, T c) { return _mm256_fmadd_ps(a, b, c); }
  template <int E>
  static T repeat(T c, int first) {
    const __m256i lane = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
    return _mm256_permutevar8x32_ps(
        c, _mm256_add_epi32(_mm256_set1_epi32(first),
                            _mm256_srli_epi32(lane, E == 2 ? 1 : 2)));
  }
  static T pair_sums(T a, T b) {  // hadd works per 128-bit lane
    return _mm256_castpd_ps(_mm256_permute4x64_pd(
        _mm256_castps_pd(_mm256_hadd_ps(a, b)), 0xD8));
  }
};

#else
constexpr const char* kIsa = "scalar";

// Plain loops over small arrays, which the compiler vectorises with what
// its flags allow.
struct V {
  static constexpr int kLanes = 4, kBlock = 4, kPixels = 1;
  struct T {
    float f[kLanes];
  };
  using Mask = int64_t;  // number of valid lanes
  static Mask mask(int64_t n) { return n; }
  static T zero() {
    T r;
    for (int j = 0; j < kLanes; ++j) r.f[j] = 0.f;
    return r;
  }
  static T load(const float* p) {
    T r;
    for (int j = 0; j < kLanes; ++j) r.f[j] = p[j];
    return r;
  }
  static T load(const float* p, Mask m) {
    T r = zero();
    for (int j = 0; j < m; ++j) r.f[j] = p[j];
    return r;
  }
  template <int n>
  static T load_part(const float* p) { return load(p, n); }
  static void store(float* p, T v) {
    for (int j = 0; j < kLanes; ++j) p[j] = v.f[j];
  }
  static void store(float* p, T v, Mask m) {
    for (int j = 0; j < m; ++j) p[j] = v.f[j];
  }
  static T add(T a, T b) {
    for (int j = 0; j < kLanes; ++j) a.f[j] += b.f[j];
    return a;
  }
  static T fma(T a, T b, T c) {
    for (int j = 0; j < kLanes; ++j) c.f[j] += a.f[j] * b.f[j];
    return c;
  }
  template <int E>
  static T repeat(T c, int first) {
    T r;
    for (int j = 0; j < kLanes; ++j) r.f[j] = c.f[first + j / E];
    return r;
  }
  static T pair_sums(T a, T b) {
    T r;
    for (int j = 0; j < kLanes / 2; ++j) {
      r.f[j] = a.f[2 * j] + a.f[2 * j + 1];
      r.f[kLanes / 2 + j] = b.f[2 * j] + b.f[2 * j + 1];
    }
    return r;
  }
};
#endif

// x[0 .. kVecs): the kVecs * kLanes / E channels at p, each repeated E
// (2 or 4) times, by lane permutes.
template <int E, int kVecs>
CPWC_INLINE void repeat_load(const float* p, V::T* x) {
  constexpr int kPer = V::kLanes / E;        // channels per vector
  constexpr int kChannels = kVecs * kPer;    // channels read
  constexpr int kLoads = (kChannels + V::kLanes - 1) / V::kLanes;
  V::T c[kLoads];
#pragma GCC unroll 4
  for (int i = 0; i < kLoads; ++i)
    c[i] = kChannels >= (i + 1) * V::kLanes
               ? V::load(p + i * V::kLanes)
               : V::load_part<kChannels % V::kLanes>(p + i * V::kLanes);
#pragma GCC unroll 4
  for (int v = 0; v < kVecs; ++v)
    x[v] = V::repeat<E>(c[v * kPer / V::kLanes], v * kPer % V::kLanes);
}

// dst[j] = sum of members R j .. R j + R - 1 of acc[0 .. kVecs) (R = 2 or
// 4): kVecs * kLanes / R sums, by rounds of neighbouring-pair sums.
template <int R, int kVecs>
CPWC_INLINE void store_group_sums(const V::T* acc, float* dst) {
  V::T s[kVecs];
  int n = kVecs;
  for (int v = 0; v < n; ++v) s[v] = acc[v];
#pragma GCC unroll 2
  for (int round = 0; round < (R == 2 ? 1 : 2); ++round) {
#pragma GCC unroll 4
    for (int v = 0; v < (n + 1) / 2; ++v)
      s[v] = V::pair_sums(s[2 * v],
                          2 * v + 1 < n ? s[2 * v + 1] : V::zero());
    n = (n + 1) / 2;
  }
  constexpr int kSums = kVecs * V::kLanes / R;
#pragma GCC unroll 4
  for (int v = 0; v < kSums / V::kLanes; ++v)
    V::store(dst + v * V::kLanes, s[v]);
  if (kSums % V::kLanes)
    V::store(dst + kSums / V::kLanes * V::kLanes, s[kSums / V::kLanes],
             V::mask(kSums % V::kLanes));
}

constexpr int64_t kWide = V::kBlock * V::kLanes;  // channels per block

// ---------------------------------------------------------------------------
// Depthwise 3x3 sweeps over one output row.

// The three input rows of an output row and how its pixels map onto them.
struct Window {
  const float* rows[3];  // kh = 0, 1, 2; nullptr outside the map
  int64_t step;          // floats from one pixel of a row to the next
  int64_t width;         // pixels in a row
  int64_t stride;        // of the columns
  int64_t out_width;     // output pixels
  int64_t ahead = 0;     // floats from a pixel of the bottom row to the
                         // same pixel of the row read next (0: none)
};

// Prefetches of the next row's data while a row is swept: the rows are
// read one channel block at a time (a stride of a whole pixel), a pattern
// the hardware prefetchers follow poorly, and the 1x1 path's output arrives
// cold from oneDNN. Hint 2 (L2): a row is swept by every channel block
// before the next one starts, so it is too big for L1. Measured on
// ResNet-50's shapes with cold caches (2-core AVX-512 EPYC): kernel time
// -25%; one row ahead beat two, and L2 beat L1.
constexpr int kPrefetchLocality = 2;

// Hint the cache to fetch the n 64-byte lines from p (reads).
template <int n>
CPWC_INLINE void prefetch_lines(const float* p) {
#pragma GCC unroll 4
  for (int i = 0; i < n; ++i)
    __builtin_prefetch(p + i * 16, 0, kPrefetchLocality);
}

// Taps: how a tap's vectors of channel block m0 are read from a pixel p.
struct DirectTaps {  // channels m0 ... of p
  template <int kVecs, bool kMasked>
  CPWC_INLINE void load(const float* p, int64_t m0, V::Mask tail,
                        V::T* x) const {
    for (int v = 0; v < kVecs; ++v) {
      const float* q = p + m0 + v * V::kLanes;
      x[v] = (kMasked && v == kVecs - 1) ? V::load(q, tail) : V::load(q);
    }
  }
};

template <int E>
struct RepeatTaps {  // member m reads channel m / E (whole vectors only)
  template <int kVecs, bool kMasked>
  CPWC_INLINE void load(const float* p, int64_t m0, V::Mask,
                        V::T* x) const {
    static_assert(!kMasked, "whole vectors only");
    repeat_load<E, kVecs>(p + m0 / E, x);
  }
};

// Sinks: where a pixel's accumulators start and where they go.
struct StoreMembers {  // dst[ow * ld + m] = member m
  float* dst;
  int64_t ld;
  template <int kVecs, bool kMasked>
  CPWC_INLINE void init(int64_t, int64_t, V::Mask, V::T* acc) const {
    for (int v = 0; v < kVecs; ++v) acc[v] = V::zero();
  }
  template <int kVecs, bool kMasked>
  CPWC_INLINE void store(int64_t ow, int64_t m0, V::Mask tail,
                         const V::T* acc) const {
    for (int v = 0; v < kVecs; ++v) {
      float* q = dst + ow * ld + m0 + v * V::kLanes;
      if (kMasked && v == kVecs - 1)
        V::store(q, acc[v], tail);
      else
        V::store(q, acc[v]);
    }
  }
};

template <int R>
struct StoreGroupSums {  // dst[ow * ld + z] = sum of members R z .. R z + R-1
  float* dst;
  int64_t ld;
  template <int kVecs, bool kMasked>
  CPWC_INLINE void init(int64_t, int64_t, V::Mask, V::T* acc) const {
    for (int v = 0; v < kVecs; ++v) acc[v] = V::zero();
  }
  template <int kVecs, bool kMasked>
  CPWC_INLINE void store(int64_t ow, int64_t m0, V::Mask,
                         const V::T* acc) const {
    static_assert(!kMasked, "whole vectors only");
    store_group_sums<R, kVecs>(acc, dst + ow * ld + m0 / R);
  }
};

struct AddToOutput {  // out[ow * ld + z] += centre[ow * ld_c + z] + sum
  const float* centre;
  int64_t ld_c;
  float* out;
  int64_t ld;
  int64_t ahead = 0;  // floats to the same pixel of the next output row
  template <int kVecs, bool kMasked>
  CPWC_INLINE void init(int64_t ow, int64_t m0, V::Mask tail,
                        V::T* acc) const {
    for (int v = 0; v < kVecs; ++v) {
      const int64_t i = ow * ld + m0 + v * V::kLanes;
      const int64_t ic = ow * ld_c + m0 + v * V::kLanes;
      acc[v] = (kMasked && v == kVecs - 1)
                   ? V::add(V::load(out + i, tail), V::load(centre + ic, tail))
                   : V::add(V::load(out + i), V::load(centre + ic));
      if (ahead) __builtin_prefetch(out + i + ahead, 1, kPrefetchLocality);
    }
  }
  template <int kVecs, bool kMasked>
  CPWC_INLINE void store(int64_t ow, int64_t m0, V::Mask tail,
                         const V::T* acc) const {
    StoreMembers{out, ld}.store<kVecs, kMasked>(ow, m0, tail, acc);
  }
};

// One output pixel of channel block m0, any column stride (the rows at
// strides of 3 and more); its columns outside the row are skipped.
template <int kVecs, bool kMasked, class Taps, class Sink>
CPWC_INLINE void sweep_pixel(const Window& win, int64_t ow, int64_t m0,
                             V::Mask tail, const V::T (&w)[9][kVecs],
                             const Taps& taps, const Sink& sink) {
  V::T acc[kVecs];
  sink.template init<kVecs, kMasked>(ow, m0, tail, acc);
  const int64_t iw0 = ow * win.stride - 1;
#pragma GCC unroll 3
  for (int kh = 0; kh < 3; ++kh) {
    const float* row = win.rows[kh];
    if (!row) continue;
#pragma GCC unroll 3
    for (int kw = 0; kw < 3; ++kw) {
      const int64_t iw = iw0 + kw;
      if (iw < 0 || iw >= win.width) continue;
      V::T x[kVecs];
      taps.template load<kVecs, kMasked>(row + iw * win.step, m0, tail, x);
#pragma GCC unroll 4
      for (int v = 0; v < kVecs; ++v)
        acc[v] = V::fma(w[kh * 3 + kw][v], x[v], acc[v]);
    }
  }
  sink.template store<kVecs, kMasked>(ow, m0, tail, acc);
}

// Output pixels ow0 .. ow0 + P - 1 of channel block m0 at column stride S:
// each input column is loaded once for the (up to 3) pixels that read it.
// kLeft: the group starts the row (column -1 is skipped); kRight: columns
// past the row are skipped.
template <int kVecs, bool kMasked, int P, int S, bool kLeft, bool kRight,
          class Taps, class Sink>
CPWC_INLINE void sweep_pixels(const Window& win, int64_t ow0, int64_t m0,
                              V::Mask tail, const V::T (&w)[9][kVecs],
                              const Taps& taps, const Sink& sink) {
  V::T acc[P][kVecs];
#pragma GCC unroll 8
  for (int p = 0; p < P; ++p)
    sink.template init<kVecs, kMasked>(ow0 + p, m0, tail, acc[p]);
  constexpr int kColumns = (P - 1) * S + 3;
  const int64_t iw0 = ow0 * S - 1;
#pragma GCC unroll 3
  for (int kh = 0; kh < 3; ++kh) {
    const float* row = win.rows[kh];
    if (!row) continue;
#pragma GCC unroll 16
    for (int j = 0; j < kColumns; ++j) {
      if (kLeft && j == 0) continue;  // column -1
      if (kRight && iw0 + j >= win.width) continue;
      V::T x[kVecs];
      taps.template load<kVecs, kMasked>(row + (iw0 + j) * win.step, m0, tail,
                                         x);
      // the columns that no other group reads, in the rows that the next
      // output row reads and this one does not (kh >= 3 - S)
      if (kh >= 3 - S && win.ahead && j >= 1 && j <= P * S)
        prefetch_lines<(kVecs * V::kLanes + 15) / 16>(
            row + (iw0 + j) * win.step + m0 + win.ahead);
#pragma GCC unroll 8
      for (int p = 0; p < P; ++p) {
        const int kw = j - p * S;
        if (kw < 0 || kw > 2) continue;
#pragma GCC unroll 4
        for (int v = 0; v < kVecs; ++v)
          acc[p][v] = V::fma(w[kh * 3 + kw][v], x[v], acc[p][v]);
      }
    }
  }
#pragma GCC unroll 8
  for (int p = 0; p < P; ++p)
    sink.template store<kVecs, kMasked>(ow0 + p, m0, tail, acc[p]);
}

// Pixels [ow0, ow0 + count) in one group (count <= n: a full group, or
// the last pixels of the row).
template <int kVecs, bool kMasked, int S, bool kLeft, bool kRight, int n,
          class Taps, class Sink>
CPWC_INLINE void sweep_group(const Window& win, int64_t ow0, int64_t count,
                             int64_t m0, V::Mask tail,
                             const V::T (&w)[9][kVecs], const Taps& taps,
                             const Sink& sink) {
  if constexpr (n >= 1) {
    if (count == n)
      return sweep_pixels<kVecs, kMasked, n, S, kLeft, kRight>(
          win, ow0, m0, tail, w, taps, sink);
    sweep_group<kVecs, kMasked, S, kLeft, kRight, n - 1>(win, ow0, count,
                                                         m0, tail, w, taps,
                                                         sink);
  }
}

// Every output pixel of the row at column stride S, in groups of
// V::kPixels: the first group may read column -1 and the last ones columns
// past the row, which count as zeros.
template <int kVecs, bool kMasked, int S, class Taps, class Sink>
CPWC_INLINE void sweep_row(const Window& win, int64_t m0, V::Mask tail,
                           const V::T (&w)[9][kVecs], const Taps& taps,
                           const Sink& sink) {
  constexpr int P = V::kPixels;
  for (int64_t ow = 0; ow < win.out_width; ow += P) {
    const int64_t count = std::min<int64_t>(P, win.out_width - ow);
    const bool left = ow == 0;
    const bool right = (ow + count - 1) * S + 1 >= win.width;
    if (left && right)
      sweep_group<kVecs, kMasked, S, true, true, P>(win, ow, count, m0, tail,
                                                    w, taps, sink);
    else if (left)
      sweep_group<kVecs, kMasked, S, true, false, P>(win, ow, count, m0, tail,
                                                     w, taps, sink);
    else if (right)
      sweep_group<kVecs, kMasked, S, false, true, P>(win, ow, count, m0, tail,
                                                     w, taps, sink);
    else
      sweep_group<kVecs, kMasked, S, false, false, P>(win, ow, count, m0,
                                                      tail, w, taps, sink);
  }
}

// Channels [m0, m0 + kVecs * kLanes) (the last vector masked by tail if
// kMasked) of every output pixel: sum over taps t of w[t * ld_w + m] times
// the tap's input, into the sink. w: (9, ld_w) tap-major.
template <int kVecs, bool kMasked, class Taps, class Sink>
void sweep_block(const Window& win, const float* w, int64_t ld_w, int64_t m0,
                 V::Mask tail, const Taps& taps, const Sink& sink) {
  V::T wr[9][kVecs];
#pragma GCC unroll 9
  for (int t = 0; t < 9; ++t)
#pragma GCC unroll 4
    for (int v = 0; v < kVecs; ++v) {
      const float* q = w + t * ld_w + m0 + v * V::kLanes;
      wr[t][v] = (kMasked && v == kVecs - 1) ? V::load(q, tail) : V::load(q);
    }
  if (win.stride == 1)
    return sweep_row<kVecs, kMasked, 1>(win, m0, tail, wr, taps, sink);
  if (win.stride == 2)
    return sweep_row<kVecs, kMasked, 2>(win, m0, tail, wr, taps, sink);
  for (int64_t ow = 0; ow < win.out_width; ++ow)  // stride 3 and more
    sweep_pixel<kVecs, kMasked>(win, ow, m0, tail, wr, taps, sink);
}

// All `channels` channels (a multiple of kLanes), in whole blocks, then
// single vectors.
template <class Taps, class Sink>
void sweep_vectors(const Window& win, const float* w, int64_t channels,
                   const Taps& taps, const Sink& sink) {
  int64_t m0 = 0;
  for (; m0 + kWide <= channels; m0 += kWide)
    sweep_block<V::kBlock, false>(win, w, channels, m0, V::mask(0), taps,
                                  sink);
  for (; m0 < channels; m0 += V::kLanes)
    sweep_block<1, false>(win, w, channels, m0, V::mask(0), taps, sink);
}

// All `channels` channels, any number: whole blocks, single vectors, and a
// masked last vector.
template <class Sink>
void sweep_channels(const Window& win, const float* w, int64_t channels,
                    const Sink& sink) {
  const DirectTaps taps;
  int64_t m0 = 0;
  for (; m0 + kWide <= channels; m0 += kWide)
    sweep_block<V::kBlock, false>(win, w, channels, m0, V::mask(0), taps,
                                  sink);
  for (; m0 + V::kLanes <= channels; m0 += V::kLanes)
    sweep_block<1, false>(win, w, channels, m0, V::mask(0), taps, sink);
  if (m0 < channels)
    sweep_block<1, true>(win, w, channels, m0, V::mask(channels - m0), taps,
                         sink);
}

// ---------------------------------------------------------------------------
// Stage 1 and stage 2 of a row.

struct Segment {
  int64_t member_start, z_start, count, width;
};

// How stage 1 computes s1 from the members.
enum class Stage1 {
  kIdentity,   // Z == C: members are the outputs
  kGroups2,    // Z < C, one segment, r = 2: sums in registers
  kGroups4,    // Z < C, one segment, r = 4: sums in registers
  kGroups,     // Z < C otherwise: members row, then group_sum
  kRepeat2,    // Z > C, one segment, e = 2: channels repeated in registers
  kRepeat4,    // Z > C, one segment, e = 4
  kExpanded,   // Z > C otherwise: from expanded input rows
};

// Padding of each pixel of the kernel's stage-1 rows (one 64-byte line):
// with Z a multiple of 1024 a pixel is 4 KiB, and the columns that a group
// of pixels reads in three rows would all fall in one L1 set and evict each
// other. Measured on ResNet-50's 14x14, Z = 1024 layers: -30%.
constexpr int64_t kPad = 16;

struct Geometry {
  int64_t H, W, C, Ho, Wo, Z, M, stride;
  int64_t ldr;  // floats per pixel of the kernel's stage-1 rows: Z + kPad
  Stage1 mode;
  bool stage2;
};

Stage1 stage1_mode(const Geometry& g, const std::vector<Segment>& segs) {
  const bool one = segs.size() == 1;
  const int64_t width = segs[0].width;
  if (g.Z > g.C) {
    if (one && g.Z % V::kLanes == 0 && width == 2) return Stage1::kRepeat2;
    if (one && g.Z % V::kLanes == 0 && width == 4) return Stage1::kRepeat4;
    return Stage1::kExpanded;
  }
  if (one && width == 1) return Stage1::kIdentity;
  if (one && g.C % V::kLanes == 0 && width == 2) return Stage1::kGroups2;
  if (one && g.C % V::kLanes == 0 && width == 4) return Stage1::kGroups4;
  return Stage1::kGroups;
}

template <int R>
inline void group_sum_fixed(const float* acc, int64_t count, float* dst) {
  for (int64_t z = 0; z < count; ++z) {
    float s = 0.f;
#pragma GCC unroll 8
    for (int j = 0; j < R; ++j) s += acc[z * R + j];
    dst[z] = s;
  }
}

// dst[z] = sum of the members of group z (Z < C, the general case).
inline void group_sum(const float* acc, const std::vector<Segment>& segs,
                      float* dst) {
  for (const Segment& s : segs) {
    const float* a = acc + s.member_start;
    float* d = dst + s.z_start;
    switch (s.width) {
      case 1: std::memcpy(d, a, s.count * sizeof(float)); break;
      case 2: group_sum_fixed<2>(a, s.count, d); break;
      case 3: group_sum_fixed<3>(a, s.count, d); break;
      case 4: group_sum_fixed<4>(a, s.count, d); break;
      default:
        for (int64_t z = 0; z < s.count; ++z) {
          float v = 0.f;
          for (int64_t j = 0; j < s.width; ++j) v += a[z * s.width + j];
          d[z] = v;
        }
    }
  }
}

// One input row with channel c repeated e times per segment (Z > C, the
// layers the register repeats do not take).
inline void expand_row(const float* row, const Geometry& g,
                       const std::vector<Segment>& segs, float* dst) {
  for (int64_t w = 0; w < g.W; ++w) {
    const float* x = row + w * g.C;
    float* d = dst + w * g.Z;
    for (const Segment& s : segs) {
      const int64_t channels = s.count / s.width;
      const float* xs = x + s.member_start;
      float* ds = d + s.z_start;
      for (int64_t c = 0; c < channels; ++c)
        for (int64_t j = 0; j < s.width; ++j) ds[c * s.width + j] = xs[c];
    }
  }
}

// Input rows as stage 1 reads them: raw NHWC rows, or expanded rows cached
// in a small ring keyed by row index.
class RowSource {
 public:
  RowSource(const float* image, const Geometry& g,
            const std::vector<Segment>& segs)
      : image_(image), g_(g), segs_(segs) {
    if (expands()) {
      cache_.resize(4 * g.W * g.Z);
      std::fill(tags_, tags_ + 4, -1);
    }
  }
  const float* row(int64_t ih) {
    if (!expands()) return image_ + ih * g_.W * g_.C;
    const int slot = static_cast<int>(ih & 3);
    float* dst = cache_.data() + slot * g_.W * g_.Z;
    if (tags_[slot] != ih) {
      expand_row(image_ + ih * g_.W * g_.C, g_, segs_, dst);
      tags_[slot] = ih;
    }
    return dst;
  }
  int64_t width() const { return expands() ? g_.Z : g_.C; }
  bool expands() const { return g_.mode == Stage1::kExpanded; }

 private:
  const float* image_;
  const Geometry& g_;
  const std::vector<Segment>& segs_;
  std::vector<float> cache_;
  int64_t tags_[4];
};

// Stage 1 of output row oh into dst (Wo x ldr); members (Wo x M) is scratch
// for Stage1::kGroups.
void stage1_row(RowSource& src, int64_t oh, const float* w1, const Geometry& g,
                const std::vector<Segment>& segs, float* members, float* dst) {
  Window win{{}, src.width(), g.W, g.stride, g.Wo};
  if (!src.expands()) win.ahead = g.stride * g.W * g.C;
  for (int kh = 0; kh < 3; ++kh) {
    const int64_t ih = oh * g.stride - 1 + kh;
    win.rows[kh] = (ih >= 0 && ih < g.H) ? src.row(ih) : nullptr;
  }
  switch (g.mode) {
    case Stage1::kIdentity:
    case Stage1::kExpanded:
      return sweep_channels(win, w1, g.M, StoreMembers{dst, g.ldr});
    case Stage1::kGroups2:
      return sweep_vectors(win, w1, g.M, DirectTaps{},
                           StoreGroupSums<2>{dst, g.ldr});
    case Stage1::kGroups4:
      return sweep_vectors(win, w1, g.M, DirectTaps{},
                           StoreGroupSums<4>{dst, g.ldr});
    case Stage1::kRepeat2:
      return sweep_vectors(win, w1, g.M, RepeatTaps<2>{},
                           StoreMembers{dst, g.ldr});
    case Stage1::kRepeat4:
      return sweep_vectors(win, w1, g.M, RepeatTaps<4>{},
                           StoreMembers{dst, g.ldr});
    case Stage1::kGroups:
      sweep_channels(win, w1, g.M, StoreMembers{members, g.M});
      for (int64_t ow = 0; ow < g.Wo; ++ow)
        group_sum(members + ow * g.M, segs, dst + ow * g.ldr);
      return;
  }
}

// out_row += s1[oh] + s2(s1)[oh], with s1 rows above/centre/below.
void stage2_row(const float* above, const float* centre, const float* below,
                const float* w2, const Geometry& g, float* out_row) {
  const Window win{{above, centre, below}, g.ldr, g.Wo, 1, g.Wo};
  sweep_channels(win, w2, g.Z,
                 AddToOutput{centre, g.ldr, out_row, g.Z, g.Wo * g.Z});
}

void run_block(const float* image, float* out_image, int64_t oh0, int64_t oh1,
               const float* w1, const float* w2, const Geometry& g,
               const std::vector<Segment>& segs) {
  RowSource src(image, g, segs);
  std::vector<float> members(g.mode == Stage1::kGroups ? g.Wo * g.M : 0);
  const int64_t row_size = g.Wo * g.ldr;  // of a kept stage-1 row
  const int64_t out_size = g.Wo * g.Z;    // of an output row
  if (!g.stage2) {
    std::vector<float> s1(row_size);
    for (int64_t oh = oh0; oh < oh1; ++oh) {
      stage1_row(src, oh, w1, g, segs, members.data(), s1.data());
      float* o = out_image + oh * out_size;
      for (int64_t ow = 0; ow < g.Wo; ++ow)
        for (int64_t z = 0; z < g.Z; ++z)
          o[ow * g.Z + z] += s1[ow * g.ldr + z];
    }
    return;
  }
  // ring of three stage-1 rows; slot of row r is r mod 3
  std::vector<float> ring(3 * row_size);
  auto slot = [&](int64_t r) { return ring.data() + (r % 3) * row_size; };
  const int64_t first = std::max<int64_t>(oh0 - 1, 0);
  const int64_t last = std::min<int64_t>(oh1 + 1, g.Ho);  // exclusive
  for (int64_t r = first; r < last; ++r) {
    stage1_row(src, r, w1, g, segs, members.data(), slot(r));
    const int64_t oh = r - 1;  // row whose 3 neighbours are now ready
    if (oh >= oh0 && oh < oh1)
      stage2_row(oh > 0 ? slot(oh - 1) : nullptr, slot(oh), slot(r), w2, g,
                 out_image + oh * out_size);
  }
  if (oh1 == g.Ho) {  // bottom row (>= oh0, as oh0 < oh1): nothing below
    const int64_t oh = g.Ho - 1;
    stage2_row(oh > 0 ? slot(oh - 1) : nullptr, slot(oh), nullptr, w2, g,
               out_image + oh * out_size);
  }
}

}  // namespace

// out: (N, Z, Ho, Wo) channels_last float32, accumulated in place.
// x: (N, C, H, W) channels_last float32.
// w1: (9, M) stage-1 member weights, tap-major. w2: (9, Z) or empty.
// segments: (S, 4) int64 rows (member start, z start, count, width).
void context_unit_(at::Tensor out, at::Tensor x, at::Tensor w1, at::Tensor w2,
                   at::Tensor segments, int64_t stride) {
  TORCH_CHECK(x.device().is_cpu() && x.scalar_type() == at::kFloat,
              "cpwc context: x must be a float32 CPU tensor");
  TORCH_CHECK(x.dim() == 4 && out.dim() == 4, "cpwc context: 4-d tensors");
  TORCH_CHECK(x.is_contiguous(at::MemoryFormat::ChannelsLast) &&
                  out.is_contiguous(at::MemoryFormat::ChannelsLast),
              "cpwc context: x and out must be channels_last contiguous");
  TORCH_CHECK(out.device().is_cpu() && out.scalar_type() == at::kFloat,
              "cpwc context: out must be a float32 CPU tensor");
  TORCH_CHECK(stride >= 1, "cpwc context: stride >= 1");
  Geometry g;
  g.H = x.size(2);
  g.W = x.size(3);
  g.C = x.size(1);
  g.Z = out.size(1);
  g.Ho = out.size(2);
  g.Wo = out.size(3);
  g.stride = stride;
  g.M = g.Z > g.C ? g.Z : g.C;
  g.ldr = g.Z + kPad;
  g.stage2 = w2.numel() > 0;
  const int64_t N = x.size(0);
  TORCH_CHECK(out.size(0) == N && g.Ho == (g.H - 1) / stride + 1 &&
                  g.Wo == (g.W - 1) / stride + 1,
              "cpwc context: out shape does not match x and stride");
  TORCH_CHECK(w1.device().is_cpu() && w1.is_contiguous() &&
                  w1.scalar_type() == at::kFloat && w1.dim() == 2 &&
                  w1.size(0) == 9 && w1.size(1) == g.M,
              "cpwc context: w1 must be contiguous float32 (9, M)");
  TORCH_CHECK(!g.stage2 || (w2.device().is_cpu() && w2.is_contiguous() &&
                            w2.scalar_type() == at::kFloat &&
                            w2.dim() == 2 && w2.size(0) == 9 &&
                            w2.size(1) == g.Z),
              "cpwc context: w2 must be contiguous float32 (9, Z)");
  auto seg_acc = segments.contiguous().to(at::kLong);
  TORCH_CHECK(seg_acc.dim() == 2 && seg_acc.size(1) == 4 &&
                  seg_acc.size(0) >= 1,
              "cpwc context: segments must be (S, 4)");
  std::vector<Segment> segs;
  int64_t members = 0, zs = 0;
  for (int64_t i = 0; i < seg_acc.size(0); ++i) {
    const int64_t* s = seg_acc.data_ptr<int64_t>() + 4 * i;
    TORCH_CHECK(s[2] >= 1 && s[3] >= 1 && (g.Z <= g.C || s[2] % s[3] == 0),
                "cpwc context: segments do not cover C inputs and Z outputs");
    const int64_t reads = g.Z > g.C ? s[2] / s[3] : s[2] * s[3];
    TORCH_CHECK(s[0] >= 0 && s[1] >= 0 && s[0] + reads <= g.C &&
                    s[1] + s[2] <= g.Z,
                "cpwc context: segments do not cover C inputs and Z outputs");
    segs.push_back({s[0], s[1], s[2], s[3]});
    members += reads;
    zs += s[2];
  }
  TORCH_CHECK(zs == g.Z && members == g.C,
              "cpwc context: segments do not cover C inputs and Z outputs");
  g.mode = stage1_mode(g, segs);

  const float* xp = x.data_ptr<float>();
  float* op = out.data_ptr<float>();
  const float* w1p = w1.data_ptr<float>();
  const float* w2p = g.stage2 ? w2.data_ptr<float>() : nullptr;
  // split rows so that every thread has work even for a batch of one
  const int64_t threads = at::get_num_threads();
  const int64_t blocks =
      std::min<int64_t>(g.Ho, std::max<int64_t>(1, (threads + N - 1) / N));
  const int64_t rows_per_block = (g.Ho + blocks - 1) / blocks;
  at::parallel_for(0, N * blocks, 1, [&](int64_t begin, int64_t end) {
    for (int64_t task = begin; task < end; ++task) {
      const int64_t n = task / blocks, b = task % blocks;
      const int64_t oh0 = b * rows_per_block;
      const int64_t oh1 = std::min(g.Ho, oh0 + rows_per_block);
      if (oh0 >= oh1) continue;
      run_block(xp + n * g.H * g.W * g.C, op + n * g.Ho * g.Wo * g.Z, oh0,
                oh1, w1p, w2p, g, segs);
    }
  });
}
