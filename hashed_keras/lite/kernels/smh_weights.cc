#include "smh_weights.h"

#include <inttypes.h>

#include "hash_contract.h"

namespace hk {

namespace {
// U and V together at most 2^30 floats, M-hat at most 2^62 positions.
constexpr int64_t kMaxFactorSize = int64_t{1} << 30;
}  // namespace

Status ParseSmhWeightsOptions(const uint8_t* options, size_t length,
                              SmhWeightsPlan* plan) {
  *plan = SmhWeightsPlan();
  OptionsMap map(options, length);
  HK_RETURN_IF_ERROR(map.Init());
  HK_RETURN_IF_ERROR(map.CheckContractVersion());
  int64_t n, rank, start, bias_size;
  HK_RETURN_IF_ERROR(map.Int("n", &n));
  HK_RETURN_IF_ERROR(map.Int("rank", &rank));
  HK_RETURN_IF_ERROR(map.Int("start", &start));
  HK_ENSURE(n >= 1 && n <= kMaxFactorSize,
            Format("key 'n' = %" PRId64 " must be in [1, 2^30]", n));
  HK_ENSURE(rank >= 1 && rank <= kMaxFactorSize / n,
            Format("key 'rank' = %" PRId64 " must be >= 1 with rank * n <= "
                   "2^30 (n = %" PRId64 ")", rank, n));
  HK_RETURN_IF_ERROR(map.Geometry(nullptr, plan));
  const int64_t out = static_cast<int64_t>(plan->out);
  HK_RETURN_IF_ERROR(map.Int("bias_size", &bias_size));
  HK_ENSURE(bias_size == 0 || bias_size == out,
            Format("key 'bias_size' = %" PRId64 " must be 0 or the output "
                   "size %" PRId64, bias_size, out));
  const uint64_t positions = static_cast<uint64_t>(n) * static_cast<uint64_t>(n);
  const uint64_t size = plan->kernel_size + static_cast<uint64_t>(bias_size);
  HK_ENSURE(start >= 0 && static_cast<uint64_t>(start) <= positions &&
                size <= positions - static_cast<uint64_t>(start),
            Format("keys 'start' = %" PRId64 " and kernel_shape + bias_size "
                   "(%" PRIu64 " values) do not fit the %" PRId64 " x %" PRId64
                   " matrix", start, size, n, n));
  plan->n = static_cast<uint64_t>(n);
  plan->rank = static_cast<uint64_t>(rank);
  plan->start = static_cast<uint64_t>(start);
  plan->bias_size = static_cast<uint64_t>(bias_size);
  plan->first_row = plan->start / plan->n;
  plan->last_row = (plan->start + size - 1) / plan->n;
  return Status();
}

void ComputeSmhWeights(const SmhWeightsPlan& plan, const float* u,
                       const float* v, const float* scales,
                       const float* channel_scale, double* scratch, float* out,
                       float* bias) {
  const uint64_t n = plan.n;
  // The covered rows of M-hat: scratch[(r - first_row) * n + c], each
  // position summed over m in order (row += U[m, r] * V[m, :]: contiguous).
  for (uint64_t r = plan.first_row; r <= plan.last_row; ++r) {
    double* row = scratch + (r - plan.first_row) * n;
    for (uint64_t c = 0; c < n; ++c) row[c] = 0.0;
    for (uint64_t m = 0; m < plan.rank; ++m) {
      const double a = u[m * n + r];
      const float* vm = v + m * n;
      for (uint64_t c = 0; c < n; ++c) row[c] += a * vm[c];
    }
  }
  const double* flat = scratch + (plan.start - plan.first_row * n);
  const uint64_t num_out = plan.out, rows = plan.rows;
  // The transpose, in tiles (a large layer's flat rows do not fit a cache).
  constexpr uint64_t kTile = 32;
  for (uint64_t r0 = 0; r0 < rows; r0 += kTile) {
    const uint64_t r1 = r0 + kTile < rows ? r0 + kTile : rows;
    for (uint64_t o0 = 0; o0 < num_out; o0 += kTile) {
      const uint64_t o1 = o0 + kTile < num_out ? o0 + kTile : num_out;
      for (uint64_t o = o0; o < o1; ++o) {
        const float s =
            channel_scale ? scales[0] * channel_scale[o] : scales[0];
        float* dst = out + o * rows;
        for (uint64_t r = r0; r < r1; ++r) {
          dst[r] = s * static_cast<float>(flat[r * num_out + o]);
        }
      }
    }
  }
  if (plan.bias_size && bias != nullptr) {
    for (uint64_t o = 0; o < plan.bias_size; ++o) {
      bias[o] = scales[1] * static_cast<float>(flat[plan.kernel_size + o]);
    }
  }
}

namespace {

// M-hat at positions p0, p0 + 1, ..., p0 + count - 1 (count <= kRun) into
// `acc`, each summed over m in order as ComputeSmhWeights sums it.
constexpr uint64_t kRun = 64;
void Positions(const SmhWeightsPlan& plan, const float* u, const float* v,
               uint64_t p0, uint64_t count, double* acc) {
  const uint64_t n = plan.n;
  for (uint64_t done = 0; done < count;) {
    const uint64_t row = (p0 + done) / n, col = (p0 + done) % n;
    const uint64_t len = count - done < n - col ? count - done : n - col;
    double* a = acc + done;
    for (uint64_t c = 0; c < len; ++c) a[c] = 0.0;
    for (uint64_t m = 0; m < plan.rank; ++m) {
      const double um = u[m * n + row];
      const float* vm = v + m * n + col;
      for (uint64_t c = 0; c < len; ++c) a[c] += um * vm[c];
    }
    done += len;
  }
}

}  // namespace

void ComputeSmhTile(const SmhWeightsPlan& plan, const float* u, const float* v,
                    const float* scales, const float* channel_scale,
                    uint64_t o0, uint64_t o1, uint64_t r0, uint64_t r1,
                    float* tile) {
  const uint64_t width = r1 - r0;
  double acc[kRun];
  // For one r, the outputs o0.. are consecutive positions of M-hat.
  for (uint64_t r = r0; r < r1; ++r) {
    for (uint64_t a0 = o0; a0 < o1; a0 += kRun) {
      const uint64_t count = o1 - a0 < kRun ? o1 - a0 : kRun;
      Positions(plan, u, v, plan.start + r * plan.out + a0, count, acc);
      for (uint64_t q = 0; q < count; ++q) {
        const uint64_t o = a0 + q;
        const float s =
            channel_scale ? scales[0] * channel_scale[o] : scales[0];
        tile[(o - o0) * width + (r - r0)] = s * static_cast<float>(acc[q]);
      }
    }
  }
}

void ComputeSmhBias(const SmhWeightsPlan& plan, const float* u, const float* v,
                    const float* scales, float* bias) {
  double acc[kRun];
  for (uint64_t a0 = 0; a0 < plan.bias_size; a0 += kRun) {
    const uint64_t count =
        plan.bias_size - a0 < kRun ? plan.bias_size - a0 : kRun;
    Positions(plan, u, v, plan.start + plan.kernel_size + a0, count, acc);
    for (uint64_t q = 0; q < count; ++q) {
      bias[a0 + q] = scales[1] * static_cast<float>(acc[q]);
    }
  }
}

}  // namespace hk
