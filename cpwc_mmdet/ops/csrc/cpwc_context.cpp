// Fused CPWC context unit for CPU inference (float32, channels_last).
//
//   out += s1 + s2(s1),   s1 = stage 1 (one 3x3 filter per output channel z
//                         over its input group G(z)), s2 = depthwise 3x3.
//
// One pass per output row: stage 1 for a row (all channels of a pixel at a
// time, so the per-channel partial sums never leave L1), the group sum, and
// stage 2 over a ring of three stage-1 rows, added straight into the 1x1
// path's output. The unfused form writes and re-reads five activation-sized
// tensors per layer; this writes none. Batch images and row blocks run in
// parallel on ATen's (OpenMP) intra-op threads.
//
// Stage 1 is a "member" depthwise conv followed by a per-z sum:
//   Z <= C: members are the input channels (M = C); group z sums the r_z
//           consecutive members of its segment (r_z = q + 1 or q).
//   Z >  C: members are the outputs (M = Z); member z reads input channel
//           c(z), i.e. each channel of a segment is repeated e = q + 1 or q
//           times: by AVX2 lane permutes when there is one segment with
//           e = 2 or 4 (all of ResNet's Z > C layers), else from "expanded
//           rows" built once per input row.
// Segments: (member start, z start, number of z, r or e), see cpwc_groups.py.
#include <torch/extension.h>
#include <ATen/Parallel.h>

#include <algorithm>
#include <cstring>
#include <vector>

#if defined(__AVX2__)
#include <immintrin.h>
#endif

namespace {

struct Segment {
  int64_t member_start, z_start, count, width;
};

struct Geometry {
  int64_t H, W, C, Ho, Wo, Z, M, stride;
  bool expand;  // Z > C: members are expanded input channels
  int repeat;   // Z > C, each channel read by 2 or 4 outputs: AVX2 permutes
                // of the raw rows instead of expanded rows (0: not used)
  bool stage2;
};

constexpr int kChunk = 32;  // channels per register block (4 AVX2 vectors)

// Channels [m0, m0 + kChunk) of one pixel:
//   dst[m] = (dst[m] + init[m] if kAccumulate) + sum_t w[t * M + m] * tap[t][m]
template <bool kAccumulate>
inline void depthwise_chunk(const float* const* tap, const float* w, int64_t M,
                            int64_t m0, const float* init, float* dst) {
#if defined(__AVX2__) && defined(__FMA__)
  __m256 a[4];
  for (int v = 0; v < 4; ++v)
    a[v] = kAccumulate ? _mm256_add_ps(_mm256_loadu_ps(init + m0 + 8 * v),
                                       _mm256_loadu_ps(dst + m0 + 8 * v))
                       : _mm256_setzero_ps();
#pragma GCC unroll 9
  for (int t = 0; t < 9; ++t) {
    const float* wt = w + t * M + m0;
    const float* x = tap[t] + m0;
    for (int v = 0; v < 4; ++v)
      a[v] = _mm256_fmadd_ps(_mm256_loadu_ps(wt + 8 * v),
                             _mm256_loadu_ps(x + 8 * v), a[v]);
  }
  for (int v = 0; v < 4; ++v) _mm256_storeu_ps(dst + m0 + 8 * v, a[v]);
#else
  float a[kChunk];
  for (int j = 0; j < kChunk; ++j)
    a[j] = kAccumulate ? init[m0 + j] + dst[m0 + j] : 0.f;
  for (int t = 0; t < 9; ++t)
    for (int j = 0; j < kChunk; ++j)
      a[j] += w[t * M + m0 + j] * tap[t][m0 + j];
  for (int j = 0; j < kChunk; ++j) dst[m0 + j] = a[j];
#endif
}

// A row of Wo pixels, M channels each:
//   dst[ow][m] = (dst[ow][m] + init[ow][m] if kAccumulate)
//                + sum over 9 taps t of w[t * M + m] * taps[ow * 9 + t][m]
// Measured over ResNet-50's shapes on a 2-core AVX2 EPYC: 1 pixel x 32
// channels per register block beats 2 x 32, 4 x 16 (pixels sharing weight
// loads) and 1 x 64 (spills); pixels outermost is within noise of channel
// blocks outermost. Its time tracks its FMA count, 9 (M + Z) per pixel.
template <bool kAccumulate>
void depthwise_row(int64_t Wo, const float* w, int64_t M,
                   const float* const* taps, const float* const* init,
                   float* const* dst) {
  const int64_t full = M / kChunk * kChunk;
  for (int64_t ow = 0; ow < Wo; ++ow)
    for (int64_t m0 = 0; m0 < full; m0 += kChunk)
      depthwise_chunk<kAccumulate>(taps + ow * 9, w, M, m0,
                                   kAccumulate ? init[ow] : nullptr, dst[ow]);
  int64_t m0 = full;
  for (; m0 < M; ++m0)
    for (int64_t ow = 0; ow < Wo; ++ow) {
      float v = kAccumulate ? init[ow][m0] + dst[ow][m0] : 0.f;
      for (int t = 0; t < 9; ++t) v += w[t * M + m0] * taps[ow * 9 + t][m0];
      dst[ow][m0] = v;
    }
}

#if defined(__AVX2__) && defined(__FMA__)
// Outputs [m0, m0 + 32) when output z reads input channel z / E (Z > C, one
// segment): the 32 / E channels are loaded once per tap and repeated E
// times by lane permutes, so no expanded copy of the input is written.
// Expanded rows (4 x W x Z floats) outgrow L2 for the stride-2 shortcuts.
template <int E>
inline void repeat_chunk(const float* const* tap, const float* w, int64_t M,
                         int64_t m0, float* dst) {
  const __m256i lo = E == 4 ? _mm256_setr_epi32(0, 0, 0, 0, 1, 1, 1, 1)
                            : _mm256_setr_epi32(0, 0, 1, 1, 2, 2, 3, 3);
  const __m256i hi = E == 4 ? _mm256_setr_epi32(2, 2, 2, 2, 3, 3, 3, 3)
                            : _mm256_setr_epi32(4, 4, 5, 5, 6, 6, 7, 7);
  const __m256i lo2 = _mm256_setr_epi32(4, 4, 4, 4, 5, 5, 5, 5);
  const __m256i hi2 = _mm256_setr_epi32(6, 6, 6, 6, 7, 7, 7, 7);
  __m256 a[4] = {_mm256_setzero_ps(), _mm256_setzero_ps(),
                 _mm256_setzero_ps(), _mm256_setzero_ps()};
  const int64_t c0 = m0 / E;
#pragma GCC unroll 9
  for (int t = 0; t < 9; ++t) {
    const float* wt = w + t * M + m0;
    const __m256 x0 = _mm256_loadu_ps(tap[t] + c0);
    __m256 v[4];
    if (E == 4) {  // 8 channels -> 4 vectors of 2 channels x 4
      v[0] = _mm256_permutevar8x32_ps(x0, lo);
      v[1] = _mm256_permutevar8x32_ps(x0, hi);
      v[2] = _mm256_permutevar8x32_ps(x0, lo2);
      v[3] = _mm256_permutevar8x32_ps(x0, hi2);
    } else {  // 16 channels -> 4 vectors of 4 channels x 2
      const __m256 x1 = _mm256_loadu_ps(tap[t] + c0 + 8);
      v[0] = _mm256_permutevar8x32_ps(x0, lo);
      v[1] = _mm256_permutevar8x32_ps(x0, hi);
      v[2] = _mm256_permutevar8x32_ps(x1, lo);
      v[3] = _mm256_permutevar8x32_ps(x1, hi);
    }
    for (int k = 0; k < 4; ++k)
      a[k] = _mm256_fmadd_ps(_mm256_loadu_ps(wt + 8 * k), v[k], a[k]);
  }
  for (int k = 0; k < 4; ++k) _mm256_storeu_ps(dst + m0 + 8 * k, a[k]);
}

template <int E>
void repeat_row(int64_t Wo, const float* w, int64_t M,
                const float* const* taps, float* const* dst) {
  for (int64_t ow = 0; ow < Wo; ++ow)
    for (int64_t m0 = 0; m0 < M; m0 += kChunk)
      repeat_chunk<E>(taps + ow * 9, w, M, m0, dst[ow]);
}
#endif

// Per-row pointer tables reused by every channel block.
struct RowTables {
  std::vector<const float*> taps, init;
  std::vector<float*> dst;
  explicit RowTables(int64_t Wo) : taps(Wo * 9), init(Wo), dst(Wo) {}
};

template <int R>
inline void group_sum_fixed(const float* acc, int64_t count, float* dst) {
  int64_t z = 0;
#if defined(__AVX2__)
  // 8 outputs per step from 8 * R members, by horizontal adds
  if (R == 4) {
    const __m256i order = _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7);
    for (; z + 8 <= count; z += 8) {
      const float* a = acc + z * 4;
      __m256 h01 = _mm256_hadd_ps(_mm256_loadu_ps(a), _mm256_loadu_ps(a + 8));
      __m256 h23 =
          _mm256_hadd_ps(_mm256_loadu_ps(a + 16), _mm256_loadu_ps(a + 24));
      __m256 sums = _mm256_permutevar8x32_ps(_mm256_hadd_ps(h01, h23), order);
      _mm256_storeu_ps(dst + z, sums);
    }
  } else if (R == 2) {
    for (; z + 8 <= count; z += 8) {
      const float* a = acc + z * 2;
      __m256 h = _mm256_hadd_ps(_mm256_loadu_ps(a), _mm256_loadu_ps(a + 8));
      h = _mm256_castpd_ps(_mm256_permute4x64_pd(_mm256_castps_pd(h), 0xD8));
      _mm256_storeu_ps(dst + z, h);
    }
  }
#endif
  for (; z < count; ++z) {
    float s = 0.f;
#pragma GCC unroll 8
    for (int j = 0; j < R; ++j) s += acc[z * R + j];
    dst[z] = s;
  }
}

// dst[z] = sum of the members of group z (Z <= C).
inline void group_sum(const float* acc, const std::vector<Segment>& segs,
                      float* dst) {
  for (const Segment& s : segs) {
    const float* a = acc + s.member_start;
    float* d = dst + s.z_start;
    switch (s.width) {
      case 1: std::memcpy(d, a, s.count * sizeof(float)); break;
      case 2: group_sum_fixed<2>(a, s.count, d); break;
      case 4: group_sum_fixed<4>(a, s.count, d); break;
      case 8: group_sum_fixed<8>(a, s.count, d); break;
      default:
        for (int64_t z = 0; z < s.count; ++z) {
          float v = 0.f;
          for (int64_t j = 0; j < s.width; ++j) v += a[z * s.width + j];
          d[z] = v;
        }
    }
  }
}

// One input row with channel c repeated e times per segment (Z > C, for the
// layers repeat_chunk does not take: several segments, or Z % 32 != 0).
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
  bool expands() const { return g_.expand && g_.repeat == 0; }

 private:
  const float* image_;
  const Geometry& g_;
  const std::vector<Segment>& segs_;
  std::vector<float> cache_;
  int64_t tags_[4];
};

// Stage 1 of output row oh into dst (Wo x Z); acc holds Wo x M members.
void stage1_row(RowSource& src, int64_t oh, const float* w1, const float* zeros,
                const Geometry& g, const std::vector<Segment>& segs,
                RowTables& tables, float* acc, float* dst) {
  const float* rows[3];
  for (int kh = 0; kh < 3; ++kh) {
    const int64_t ih = oh * g.stride - 1 + kh;
    rows[kh] = (ih >= 0 && ih < g.H) ? src.row(ih) : nullptr;
  }
  const int64_t step = src.width();
  float* members = g.expand ? dst : acc;  // Z > C: members are the outputs
  for (int64_t ow = 0; ow < g.Wo; ++ow) {
    for (int t = 0; t < 9; ++t) {
      const float* row = rows[t / 3];
      const int64_t iw = ow * g.stride - 1 + t % 3;
      tables.taps[ow * 9 + t] =
          (row && iw >= 0 && iw < g.W) ? row + iw * step : zeros;
    }
    tables.dst[ow] = members + ow * g.M;
  }
#if defined(__AVX2__) && defined(__FMA__)
  if (g.repeat == 4)
    return repeat_row<4>(g.Wo, w1, g.M, tables.taps.data(), tables.dst.data());
  if (g.repeat == 2)
    return repeat_row<2>(g.Wo, w1, g.M, tables.taps.data(), tables.dst.data());
#endif
  depthwise_row<false>(g.Wo, w1, g.M, tables.taps.data(), nullptr,
                       tables.dst.data());
  if (!g.expand)
    for (int64_t ow = 0; ow < g.Wo; ++ow)
      group_sum(acc + ow * g.M, segs, dst + ow * g.Z);
}

// out_row += s1[oh] + s2(s1)[oh], with s1 rows above/centre/below.
void stage2_row(const float* above, const float* centre, const float* below,
                const float* w2, const float* zeros, const Geometry& g,
                RowTables& tables, float* out_row) {
  const float* rows[3] = {above, centre, below};
  const int64_t Z = g.Z;
  for (int64_t ow = 0; ow < g.Wo; ++ow) {
    for (int t = 0; t < 9; ++t) {
      const float* row = rows[t / 3];
      const int64_t iw = ow - 1 + t % 3;
      tables.taps[ow * 9 + t] =
          (row && iw >= 0 && iw < g.Wo) ? row + iw * Z : zeros;
    }
    tables.init[ow] = centre + ow * Z;
    tables.dst[ow] = out_row + ow * Z;
  }
  depthwise_row<true>(g.Wo, w2, Z, tables.taps.data(), tables.init.data(),
                      tables.dst.data());
}

void run_block(const float* image, float* out_image, int64_t oh0, int64_t oh1,
               const float* w1, const float* w2, const Geometry& g,
               const std::vector<Segment>& segs) {
  RowSource src(image, g, segs);
  std::vector<float> zeros(std::max(g.M, g.Z), 0.f);
  std::vector<float> acc(g.expand ? 0 : g.Wo * g.M);
  RowTables tables(g.Wo);
  const int64_t row_size = g.Wo * g.Z;
  if (!g.stage2) {
    std::vector<float> s1(row_size);
    for (int64_t oh = oh0; oh < oh1; ++oh) {
      stage1_row(src, oh, w1, zeros.data(), g, segs, tables, acc.data(),
                 s1.data());
      float* o = out_image + oh * row_size;
      for (int64_t i = 0; i < row_size; ++i) o[i] += s1[i];
    }
    return;
  }
  // ring of three stage-1 rows; slot of row r is r mod 3
  std::vector<float> ring(3 * row_size);
  auto slot = [&](int64_t r) { return ring.data() + (r % 3) * row_size; };
  const int64_t first = std::max<int64_t>(oh0 - 1, 0);
  const int64_t last = std::min<int64_t>(oh1 + 1, g.Ho);  // exclusive
  for (int64_t r = first; r < last; ++r) {
    stage1_row(src, r, w1, zeros.data(), g, segs, tables, acc.data(),
               slot(r));
    const int64_t oh = r - 1;  // row whose 3 neighbours are now ready
    if (oh >= oh0 && oh < oh1)
      stage2_row(oh > 0 ? slot(oh - 1) : nullptr, slot(oh), slot(r), w2,
                 zeros.data(), g, tables, out_image + oh * row_size);
  }
  if (oh1 == g.Ho) {  // bottom row (>= oh0, as oh0 < oh1): nothing below
    const int64_t oh = g.Ho - 1;
    stage2_row(oh > 0 ? slot(oh - 1) : nullptr, slot(oh), nullptr, w2,
               zeros.data(), g, tables, out_image + oh * row_size);
  }
}

}  // namespace

// out: (N, Z, Ho, Wo) channels_last float32, accumulated in place.
// x: (N, C, H, W) channels_last float32.
// w1: (9, M) stage-1 member weights, tap-major. w2: (9, Z) or empty.
// segments: (S, 4) int64 rows (member start, z start, count, width).
void context_unit_(torch::Tensor out, torch::Tensor x, torch::Tensor w1,
                   torch::Tensor w2, torch::Tensor segments, int64_t stride) {
  TORCH_CHECK(x.device().is_cpu() && x.scalar_type() == torch::kFloat,
              "cpwc context: x must be a float32 CPU tensor");
  TORCH_CHECK(x.dim() == 4 && out.dim() == 4, "cpwc context: 4-d tensors");
  TORCH_CHECK(x.is_contiguous(at::MemoryFormat::ChannelsLast) &&
                  out.is_contiguous(at::MemoryFormat::ChannelsLast),
              "cpwc context: x and out must be channels_last contiguous");
  TORCH_CHECK(out.scalar_type() == torch::kFloat, "cpwc context: out float32");
  TORCH_CHECK(stride >= 1, "cpwc context: stride >= 1");
  Geometry g;
  g.H = x.size(2);
  g.W = x.size(3);
  g.C = x.size(1);
  g.Z = out.size(1);
  g.Ho = out.size(2);
  g.Wo = out.size(3);
  g.stride = stride;
  g.expand = g.Z > g.C;
  g.M = g.expand ? g.Z : g.C;
  g.stage2 = w2.numel() > 0;
  const int64_t N = x.size(0);
  TORCH_CHECK(out.size(0) == N && g.Ho == (g.H - 1) / stride + 1 &&
                  g.Wo == (g.W - 1) / stride + 1,
              "cpwc context: out shape does not match x and stride");
  TORCH_CHECK(w1.is_contiguous() && w1.scalar_type() == torch::kFloat &&
                  w1.dim() == 2 && w1.size(0) == 9 && w1.size(1) == g.M,
              "cpwc context: w1 must be contiguous float32 (9, M)");
  TORCH_CHECK(!g.stage2 || (w2.is_contiguous() &&
                            w2.scalar_type() == torch::kFloat &&
                            w2.dim() == 2 && w2.size(0) == 9 &&
                            w2.size(1) == g.Z),
              "cpwc context: w2 must be contiguous float32 (9, Z)");
  auto seg_acc = segments.contiguous().to(torch::kLong);
  std::vector<Segment> segs;
  int64_t members = 0, zs = 0;
  for (int64_t i = 0; i < seg_acc.size(0); ++i) {
    const int64_t* s = seg_acc.data_ptr<int64_t>() + 4 * i;
    segs.push_back({s[0], s[1], s[2], s[3]});
    members += g.expand ? s[2] / s[3] : s[2] * s[3];
    zs += s[2];
  }
  TORCH_CHECK(zs == g.Z && members == g.C,
              "cpwc context: segments do not cover C inputs and Z outputs");
  g.repeat = 0;
#if defined(__AVX2__) && defined(__FMA__)
  if (g.expand && segs.size() == 1 && g.Z % kChunk == 0 &&
      (segs[0].width == 2 || segs[0].width == 4))
    g.repeat = static_cast<int>(segs[0].width);
#endif

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

PYBIND11_MODULE(TORCH_EXTENSION_NAME, m) {
  m.def("context_unit_", &context_unit_,
        "out += s1(x) + s2(s1(x)) (CPWC context unit), CPU float32, "
        "channels_last");
}
