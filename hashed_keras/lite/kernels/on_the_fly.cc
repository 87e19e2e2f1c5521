#include "on_the_fly.h"

#include <string.h>

#include <limits>

#include "tflite_abi.h"

namespace hk {

Status ParseFcOptions(const void* builtin_data, FcOptions* options) {
  HK_ENSURE(builtin_data != nullptr, "has no FULLY_CONNECTED options");
  tfl::TfLiteFullyConnectedParamsPrefix params;
  memcpy(&params, builtin_data, sizeof(params));
  HK_ENSURE(params.weights_format == 0,
            Format("has weights_format %d; only the default float layout "
                   "runs on the fly", params.weights_format));
  constexpr float kInf = std::numeric_limits<float>::infinity();
  switch (params.activation) {
    case tfl::kTfLiteActNone:
      options->act_min = -kInf, options->act_max = kInf;
      break;
    case tfl::kTfLiteActRelu:
      options->act_min = 0.0f, options->act_max = kInf;
      break;
    case tfl::kTfLiteActReluN1To1:
      options->act_min = -1.0f, options->act_max = 1.0f;
      break;
    case tfl::kTfLiteActRelu6:
      options->act_min = 0.0f, options->act_max = 6.0f;
      break;
    default:
      return Status::Error(Format(
          "has fused activation %d; on the fly computes NONE, RELU, "
          "RELU_N1_TO_1 and RELU6", params.activation));
  }
  unsigned char keep;
  memcpy(&keep, &params.keep_num_dims, 1);  // a bool's byte, maybe not 0/1
  options->keep_num_dims = keep != 0;
  return Status();
}

Status FcShape(const int* dims, int rank, uint64_t in, uint64_t out,
               bool keep_num_dims, OutputShape* shape, uint64_t* batch) {
  HK_ENSURE(rank >= 1 && rank <= OutputShape::kMaxRank,
            Format("input 0 has rank %d; on the fly takes ranks 1 to %d", rank,
                   OutputShape::kMaxRank));
  uint64_t count = 1;
  for (int i = 0; i < rank; ++i) {
    HK_ENSURE(dims[i] >= 1, "input 0 has a dimension < 1");
    count *= static_cast<uint64_t>(dims[i]);  // <= 2^31 per dim, rank <= 4
  }
  HK_ENSURE(count % in == 0,
            Format("input 0 has %llu elements, not a multiple of the "
                   "filter's %llu inputs",
                   static_cast<unsigned long long>(count),
                   static_cast<unsigned long long>(in)));
  *batch = count / in;
  HK_ENSURE(*batch <= (uint64_t{1} << 31) && *batch * out <= (uint64_t{1} << 40),
            "the output would be too large");
  if (keep_num_dims) {
    HK_ENSURE(static_cast<uint64_t>(dims[rank - 1]) == in,
              Format("input 0's last dimension is %d, the filter takes %llu "
                     "(keep_num_dims)", dims[rank - 1],
                     static_cast<unsigned long long>(in)));
    shape->rank = rank;
    for (int i = 0; i < rank; ++i) shape->dims[i] = dims[i];
    shape->dims[rank - 1] = static_cast<int64_t>(out);
  } else {
    shape->rank = 2;
    shape->dims[0] = static_cast<int64_t>(*batch);
    shape->dims[1] = static_cast<int64_t>(out);
  }
  return Status();
}

uint64_t TileFloats(uint64_t in, uint64_t out) {
  const uint64_t cols = in < kTileFloats ? in : kTileFloats;
  const uint64_t rows = kTileFloats / cols < out ? kTileFloats / cols : out;
  return rows * cols;
}

namespace {

// sum_i a[i] b[i] over 8 lanes (the compiler vectorises the lanes).
inline float Dot(const float* a, const float* b, uint64_t n) {
  float lane[8] = {0, 0, 0, 0, 0, 0, 0, 0};
  uint64_t i = 0;
  for (; i + 8 <= n; i += 8) {
    for (int k = 0; k < 8; ++k) lane[k] += a[i + k] * b[i + k];
  }
  float tail = 0.0f;
  for (; i < n; ++i) tail += a[i] * b[i];
  return ((lane[0] + lane[4]) + (lane[1] + lane[5])) +
         ((lane[2] + lane[6]) + (lane[3] + lane[7])) + tail;
}

}  // namespace

void FullyConnectedOnTheFly(const OpKernel& weights,
                            const float* const* inputs, const float* x,
                            uint64_t batch, const float* bias,
                            const FcOptions& options, float* tile, float* y) {
  const uint64_t in = weights.Geometry().rows, out = weights.Geometry().out;
  const uint64_t cols = in < kTileFloats ? in : kTileFloats;
  const uint64_t units = TileFloats(in, out) / cols;
  for (uint64_t o0 = 0; o0 < out; o0 += units) {
    const uint64_t o1 = o0 + units < out ? o0 + units : out;
    for (uint64_t r0 = 0; r0 < in; r0 += cols) {
      const uint64_t r1 = r0 + cols < in ? r0 + cols : in;
      const uint64_t width = r1 - r0;
      weights.ComputeTile(inputs, o0, o1, r0, r1, tile);
      for (uint64_t b = 0; b < batch; ++b) {
        const float* xb = x + b * in + r0;
        float* yb = y + b * out;
        for (uint64_t o = o0; o < o1; ++o) {
          const float start = r0 != 0 ? yb[o] : bias ? bias[o] : 0.0f;
          yb[o] = start + Dot(xb, tile + (o - o0) * width, width);
        }
      }
    }
    for (uint64_t b = 0; b < batch; ++b) {
      float* yb = y + b * out;
      for (uint64_t o = o0; o < o1; ++o) {
        const float v = yb[o] < options.act_min ? options.act_min : yb[o];
        yb[o] = v > options.act_max ? options.act_max : v;
      }
    }
  }
}

}  // namespace hk
