#include "on_the_fly.h"

#include <string.h>

#include <limits>

#include "tflite_abi.h"

namespace hk {

Status ActivationRange(int activation, float* min, float* max) {
  constexpr float kInf = std::numeric_limits<float>::infinity();
  switch (activation) {
    case tfl::kTfLiteActNone:
      *min = -kInf, *max = kInf;
      return Status();
    case tfl::kTfLiteActRelu:
      *min = 0.0f, *max = kInf;
      return Status();
    case tfl::kTfLiteActReluN1To1:
      *min = -1.0f, *max = 1.0f;
      return Status();
    case tfl::kTfLiteActRelu6:
      *min = 0.0f, *max = 6.0f;
      return Status();
    default:
      return Status::Error(Format(
          "has fused activation %d; on the fly computes NONE, RELU, "
          "RELU_N1_TO_1 and RELU6", activation));
  }
}

Status ParseFcOptions(const void* builtin_data, FcOptions* options) {
  HK_ENSURE(builtin_data != nullptr, "has no FULLY_CONNECTED options");
  tfl::TfLiteFullyConnectedParamsPrefix params;
  memcpy(&params, builtin_data, sizeof(params));
  HK_ENSURE(params.weights_format == 0,
            Format("has weights_format %d; only the default float layout "
                   "runs on the fly", params.weights_format));
  HK_RETURN_IF_ERROR(
      ActivationRange(params.activation, &options->act_min, &options->act_max));
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

uint64_t TileWidth(uint64_t in) { return in < kTileFloats ? in : kTileFloats; }

uint64_t TileFloats(uint64_t in, uint64_t out) {
  const uint64_t cols = TileWidth(in);
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

// The loop both builtins are: for every tile of the filter (outputs
// [o0, o1) x columns [r0, r1)), y[row, o] += the tile's row o . the row's
// inputs r0..r1, which `columns(row, r0, r1)` gives, for every row (an
// example, an output pixel); the bias first, the clamp last.
template <typename Columns>
void TiledLoop(const OpKernel& weights, const float* const* inputs,
               uint64_t rows, const float* bias, float act_min, float act_max,
               float* tile, float* y, Columns columns) {
  const uint64_t in = weights.Geometry().rows, out = weights.Geometry().out;
  const uint64_t cols = TileWidth(in);
  const uint64_t units = TileFloats(in, out) / cols;
  for (uint64_t o0 = 0; o0 < out; o0 += units) {
    const uint64_t o1 = o0 + units < out ? o0 + units : out;
    for (uint64_t r0 = 0; r0 < in; r0 += cols) {
      const uint64_t r1 = r0 + cols < in ? r0 + cols : in;
      const uint64_t width = r1 - r0;
      weights.ComputeTile(inputs, o0, o1, r0, r1, tile);
      for (uint64_t row = 0; row < rows; ++row) {
        const float* v = columns(row, r0, r1);
        float* yr = y + row * out;
        for (uint64_t o = o0; o < o1; ++o) {
          const float start = r0 != 0 ? yr[o] : bias ? bias[o] : 0.0f;
          yr[o] = start + Dot(v, tile + (o - o0) * width, width);
        }
      }
    }
    for (uint64_t row = 0; row < rows; ++row) {
      float* yr = y + row * out;
      for (uint64_t o = o0; o < o1; ++o) {
        const float v = yr[o] < act_min ? act_min : yr[o];
        yr[o] = v > act_max ? act_max : v;
      }
    }
  }
}

}  // namespace

void FullyConnectedOnTheFly(const OpKernel& weights,
                            const float* const* inputs, const float* x,
                            uint64_t batch, const float* bias,
                            const FcOptions& options, float* tile, float* y) {
  const uint64_t in = weights.Geometry().rows;
  TiledLoop(weights, inputs, batch, bias, options.act_min, options.act_max,
            tile, y, [&](uint64_t b, uint64_t r0, uint64_t) {
              return x + b * in + r0;
            });
}

Status ParseConvOptions(const void* builtin_data, ConvOptions* options) {
  HK_ENSURE(builtin_data != nullptr, "has no CONV_2D options");
  tfl::TfLiteConvParamsPrefix params;
  memcpy(&params, builtin_data, sizeof(params));
  HK_ENSURE(params.padding == tfl::kTfLitePaddingSame ||
                params.padding == tfl::kTfLitePaddingValid,
            Format("has padding %d; expected SAME or VALID", params.padding));
  options->same = params.padding == tfl::kTfLitePaddingSame;
  constexpr int kMax = 1 << 16;
  for (const int v : {params.stride_width, params.stride_height,
                      params.dilation_width_factor,
                      params.dilation_height_factor}) {
    HK_ENSURE(v >= 1 && v <= kMax,
              Format("has a stride or dilation of %d; expected 1 to %d", v,
                     kMax));
  }
  options->stride_w = params.stride_width;
  options->stride_h = params.stride_height;
  options->dilation_w = params.dilation_width_factor;
  options->dilation_h = params.dilation_height_factor;
  return ActivationRange(params.activation, &options->act_min,
                         &options->act_max);
}

namespace {

// The runtime's output size and padding before (tensorflow/lite/kernels/
// padding.h: ComputeOutSize, ComputePaddingWithOffset) of one dimension.
bool OutSize(bool same, int64_t in, int64_t filter, int64_t stride,
             int64_t dilation, uint64_t* out, int64_t* pad) {
  const int64_t effective = (filter - 1) * dilation + 1;
  const int64_t size =
      same ? (in + stride - 1) / stride : (in + stride - effective) / stride;
  if (size < 1) return false;
  const int64_t total = (size - 1) * stride + effective - in;
  *out = static_cast<uint64_t>(size);
  *pad = total > 0 ? total / 2 : 0;
  return true;
}

}  // namespace

Status ConvShape(const int* dims, int rank, const KernelGeometry& filter,
                 const ConvOptions& options, OutputShape* shape,
                 ConvGeometry* geometry) {
  HK_ENSURE(rank == 4, Format("input 0 has rank %d; CONV_2D takes 4", rank));
  for (int i = 0; i < 4; ++i) HK_ENSURE(dims[i] >= 1, "input 0 has a dimension < 1");
  const int64_t kh = filter.kernel_shape[0], kw = filter.kernel_shape[1];
  const int64_t channels = filter.kernel_shape[2];
  HK_ENSURE(dims[3] == channels,
            Format("input 0 has %d channels, the filter takes %lld", dims[3],
                   static_cast<long long>(channels)));
  ConvGeometry g;
  g.batch = static_cast<uint64_t>(dims[0]);
  g.in_h = static_cast<uint64_t>(dims[1]);
  g.in_w = static_cast<uint64_t>(dims[2]);
  HK_ENSURE(OutSize(options.same, dims[1], kh, options.stride_h,
                    options.dilation_h, &g.out_h, &g.pad_top) &&
                OutSize(options.same, dims[2], kw, options.stride_w,
                        options.dilation_w, &g.out_w, &g.pad_left),
            "the filter (dilated) is larger than the input");
  HK_ENSURE(g.batch * g.out_h * g.out_w <= (uint64_t{1} << 31) &&
                g.batch * g.out_h * g.out_w * filter.out <= (uint64_t{1} << 40),
            "the output would be too large");
  *geometry = g;
  shape->rank = 4;
  shape->dims[0] = dims[0];
  shape->dims[1] = static_cast<int64_t>(g.out_h);
  shape->dims[2] = static_cast<int64_t>(g.out_w);
  shape->dims[3] = static_cast<int64_t>(filter.out);
  return Status();
}

void Conv2DOnTheFly(const OpKernel& weights, const float* const* inputs,
                    const float* x, const ConvGeometry& g, const float* bias,
                    const ConvOptions& options, float* tile, float* patch,
                    float* y) {
  const KernelGeometry& f = weights.Geometry();
  const uint64_t kw = static_cast<uint64_t>(f.kernel_shape[1]);
  const uint64_t channels = static_cast<uint64_t>(f.kernel_shape[2]);
  // Row p is the output pixel (b, oy, ox); its columns r0..r1 (of the
  // filter's [kh, kw, channels]) are its receptive field's values there, in
  // runs of channels of one tap, zeros in the padding.
  auto columns = [&](uint64_t p, uint64_t r0, uint64_t r1) {
    const uint64_t b = p / (g.out_h * g.out_w);
    const int64_t oy = static_cast<int64_t>((p / g.out_w) % g.out_h);
    const int64_t ox = static_cast<int64_t>(p % g.out_w);
    for (uint64_t r = r0; r < r1;) {
      const uint64_t tap = r / channels, c = r % channels;
      const uint64_t len = channels - c < r1 - r ? channels - c : r1 - r;
      const int64_t iy = oy * options.stride_h - g.pad_top +
                         static_cast<int64_t>(tap / kw) * options.dilation_h;
      const int64_t ix = ox * options.stride_w - g.pad_left +
                         static_cast<int64_t>(tap % kw) * options.dilation_w;
      float* dst = patch + (r - r0);
      if (iy < 0 || ix < 0 || static_cast<uint64_t>(iy) >= g.in_h ||
          static_cast<uint64_t>(ix) >= g.in_w) {
        for (uint64_t k = 0; k < len; ++k) dst[k] = 0.0f;
      } else {
        const float* src =
            x + ((b * g.in_h + static_cast<uint64_t>(iy)) * g.in_w +
                 static_cast<uint64_t>(ix)) * channels + c;
        memcpy(dst, src, len * sizeof(float));
      }
      r += len;
    }
    return static_cast<const float*>(patch);
  };
  TiledLoop(weights, inputs, g.batch * g.out_h * g.out_w, bias,
            options.act_min, options.act_max, tile, y, columns);
}

}  // namespace hk
