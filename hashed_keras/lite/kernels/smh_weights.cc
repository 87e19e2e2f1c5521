#include "smh_weights.h"

#include <inttypes.h>
#include <string.h>

#include "hash_contract.h"
#include "options.h"

namespace hk {

namespace {
// U and V together at most 2^30 floats, M-hat at most 2^62 positions.
constexpr int64_t kMaxFactorSize = int64_t{1} << 30;
}  // namespace

bool ParseSmhWeightsOptions(const uint8_t* options, size_t length,
                            SmhWeightsPlan* plan, std::string* error) {
  *plan = SmhWeightsPlan();
  OptionsMap map(options, length);
  if (!map.Init(error) || !map.CheckContractVersion(error)) return false;
  int64_t n, rank, start, bias_size;
  if (!map.Int("n", &n, error) || !map.Int("rank", &rank, error) ||
      !map.Int("start", &start, error)) {
    return false;
  }
  if (n < 1 || n > kMaxFactorSize) {
    *error = Format("key 'n' = %" PRId64 " must be in [1, 2^30]", n);
    return false;
  }
  if (rank < 1 || rank > kMaxFactorSize / n) {
    *error = Format("key 'rank' = %" PRId64 " must be >= 1 with rank * n <= "
                    "2^30 (n = %" PRId64 ")", rank, n);
    return false;
  }
  const char* layout;
  size_t layout_len;
  if (!map.String("layout", &layout, &layout_len, error)) return false;
  if (layout_len == 2 && memcmp(layout, "fc", 2) == 0) {
    plan->layout = Layout::kFc;
    plan->rank_of_kernel = 2;
  } else if (layout_len == 4 && memcmp(layout, "ohwi", 4) == 0) {
    plan->layout = Layout::kOhwi;
    plan->rank_of_kernel = 4;
  } else {
    *error = "key 'layout' is not one of 'fc', 'ohwi'";
    return false;
  }
  uint64_t kernel_size = 0;
  if (!map.KernelShape(plan->rank_of_kernel,
                       plan->layout == Layout::kFc ? "layout 'fc' needs"
                                                   : "layout 'ohwi' needs",
                       plan->kernel_shape, &kernel_size, error)) {
    return false;
  }
  const int64_t out = plan->kernel_shape[plan->rank_of_kernel - 1];
  if (!map.Int("bias_size", &bias_size, error)) return false;
  if (bias_size != 0 && bias_size != out) {
    *error = Format("key 'bias_size' = %" PRId64 " must be 0 or the output "
                    "size %" PRId64, bias_size, out);
    return false;
  }
  const uint64_t positions = static_cast<uint64_t>(n) * static_cast<uint64_t>(n);
  const uint64_t size = kernel_size + static_cast<uint64_t>(bias_size);
  if (start < 0 || static_cast<uint64_t>(start) > positions ||
      size > positions - static_cast<uint64_t>(start)) {
    *error = Format("keys 'start' = %" PRId64 " and kernel_shape + bias_size "
                    "(%" PRIu64 " values) do not fit the %" PRId64 " x %" PRId64
                    " matrix", start, size, n, n);
    return false;
  }
  plan->n = static_cast<uint64_t>(n);
  plan->rank = static_cast<uint64_t>(rank);
  plan->start = static_cast<uint64_t>(start);
  plan->bias_size = static_cast<uint64_t>(bias_size);
  plan->out = static_cast<uint64_t>(out);
  plan->kernel_size = kernel_size;
  plan->rows = kernel_size / plan->out;
  plan->first_row = plan->start / plan->n;
  plan->last_row = (plan->start + size - 1) / plan->n;
  return true;
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

}  // namespace hk
