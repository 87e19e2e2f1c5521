// On the fly (docs/tflite_format.md, "On the fly"): a FULLY_CONNECTED or
// CONV_2D node whose filter (and bias) one of our operators makes is
// computed straight from that operator's inputs (the shared variables), a
// bounded tile of weights at a time: every tile is hashed (or, for SMH,
// summed) once per invoke and serves every row of the batch (every pixel of
// every image), and no buffer of all the weights exists. The delegate
// (delegate.cc) chooses the nodes and checks their wiring; this is the
// builtins' side: their options, their shapes, their loops.
#ifndef HASHED_KERAS_LITE_KERNELS_ON_THE_FLY_H_
#define HASHED_KERAS_LITE_KERNELS_ON_THE_FLY_H_

#include <stdint.h>

#include "op_registry.h"
#include "status.h"

namespace hk {

// The FULLY_CONNECTED options this mode computes: the fused activation as a
// clamp (NONE, RELU, RELU_N1_TO_1, RELU6: what the runtime's float kernels
// apply) and keep_num_dims.
struct FcOptions {
  float act_min = 0.0f, act_max = 0.0f;
  bool keep_num_dims = false;
};

// The clamp of a fused activation NONE, RELU, RELU_N1_TO_1 or RELU6 (what
// the runtime's float kernels apply); an error for any other.
Status ActivationRange(int activation, float* min, float* max);

// Reads a FULLY_CONNECTED node's builtin data (TfLiteFullyConnectedParams);
// an error says why the node cannot run on the fly (it keeps the rebuilt
// weights and the runtime's kernel).
Status ParseFcOptions(const void* builtin_data, FcOptions* options);

// FULLY_CONNECTED's shapes for an input of `dims` (rank `rank`) and a filter
// [out, in], as the runtime's kernel computes them: batch = elements / in,
// output [batch, out], or with keep_num_dims the input's dims with the last
// one `out`.
Status FcShape(const int* dims, int rank, uint64_t in, uint64_t out,
               bool keep_num_dims, OutputShape* shape, uint64_t* batch);

// Floats of the scratch tile the loops need (at most kTileFloats; fewer for
// a smaller filter), and of a CONV_2D's patch (the tile's width).
constexpr uint64_t kTileFloats = 4096;
uint64_t TileFloats(uint64_t in, uint64_t out);
uint64_t TileWidth(uint64_t in);

// y[b, o] = clamp(bias[o] + sum_r x[b, r] W[o, r]) for b < batch (x: [batch,
// in], y: [batch, out], bias null or [out]), with W = the filter `weights`
// makes from `inputs` (OpKernel::Streams), TileFloats(in, out) at a time into
// `tile`.
void FullyConnectedOnTheFly(const OpKernel& weights,
                            const float* const* inputs, const float* x,
                            uint64_t batch, const float* bias,
                            const FcOptions& options, float* tile, float* y);

// The CONV_2D options this mode computes (TfLiteConvParams): padding SAME or
// VALID, strides and dilations >= 1, the fused activation as a clamp.
struct ConvOptions {
  float act_min = 0.0f, act_max = 0.0f;
  bool same = true;
  int stride_w = 1, stride_h = 1, dilation_w = 1, dilation_h = 1;
};
Status ParseConvOptions(const void* builtin_data, ConvOptions* options);

// CONV_2D's shapes for an input [batch, in_h, in_w, in_c] and a filter
// [out, kh, kw, in_c], as the runtime's kernel computes them (output sizes
// and the padding before; the output [batch, out_h, out_w, out]).
struct ConvGeometry {
  uint64_t batch = 0, in_h = 0, in_w = 0, out_h = 0, out_w = 0;
  int64_t pad_top = 0, pad_left = 0;
};
Status ConvShape(const int* dims, int rank, const KernelGeometry& filter,
                 const ConvOptions& options, OutputShape* shape,
                 ConvGeometry* geometry);

// The convolution (x: NHWC, y: [batch, out_h, out_w, out]) with the filter
// `weights` makes from `inputs`, TileFloats(rows, out) at a time into `tile`;
// `patch` holds TileWidth(rows) floats: one output pixel's receptive field
// for the tile's columns (zeros in the padding).
void Conv2DOnTheFly(const OpKernel& weights, const float* const* inputs,
                    const float* x, const ConvGeometry& geometry,
                    const float* bias, const ConvOptions& options,
                    float* tile, float* patch, float* y);

}  // namespace hk

#endif  // HASHED_KERAS_LITE_KERNELS_ON_THE_FLY_H_
