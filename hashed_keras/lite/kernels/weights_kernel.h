// The OpKernel of every weights operator, as TFLite's builtin kernels are
// written: the options are parsed once, into the operator's plan, when the
// kernel is created (Init); Check validates the node against the plan
// (Prepare); Compute is the operator's rebuild loop. Each operator supplies
// only what is its own, as a struct `Op`:
//   using Plan = ...;  // its validated options, a KernelGeometry
//   static Status Parse(const uint8_t* options, size_t length, Plan* plan);
//   static Status CheckInputs(tfl::TfLiteContext*, const NodeIo&, const Plan&);
//       (the hashing operators inherit it from HashingInputs, below)
//   static uint64_t BiasSize(const Plan&);  // output 1 (bias), 0 if none
//   static std::string CountWhy(const Plan&);  // why that many outputs
//   static OpCost Cost(const Plan&);
//   static void Compute(const Plan&, const float* const* inputs,
//                       float* const* outputs);
// and, if its weights can be made a tile at a time (on the fly,
// OpKernel::Streams; rows are outputs o, columns the other dimensions r in
// either layout):
//   static void ComputeTile(const Plan&, const float* const* inputs,
//                           uint64_t o0, uint64_t o1, uint64_t r0,
//                           uint64_t r1, float* tile);
//   static void ComputeBias(const Plan&, const float* const* inputs,
//                           float* bias);
#ifndef HASHED_KERAS_LITE_KERNELS_WEIGHTS_KERNEL_H_
#define HASHED_KERAS_LITE_KERNELS_WEIGHTS_KERNEL_H_

#include <stddef.h>
#include <stdint.h>

#include <new>
#include <type_traits>
#include <vector>

#include "op_registry.h"
#include "status.h"

namespace hk {

// Whether Op makes its weights a tile at a time (has ComputeTile).
template <typename Op, typename = void>
struct HasTiles : std::false_type {};
template <typename Op>
struct HasTiles<Op, std::void_t<decltype(&Op::ComputeTile)>>
    : std::true_type {};

template <typename Op>
class WeightsKernel final : public OpKernel {
 public:
  WeightsKernel(const uint8_t* options, size_t length)
      : parsed_(Op::Parse(options, length, &plan_)) {}

  Status ParsedOptions() const override { return parsed_; }

  Status Check(tfl::TfLiteContext* context, const NodeIo& node,
               std::vector<OutputShape>* outputs) override {
    HK_ENSURE(parsed_.ok(), "invalid custom options: " + parsed_.message());
    HK_RETURN_IF_ERROR(Op::CheckInputs(context, node, plan_));
    return CheckWeightsOutputs(context, node, plan_, Op::BiasSize(plan_),
                               Op::CountWhy(plan_), outputs);
  }

  OpCost Cost() const override {
    return parsed_.ok() ? Op::Cost(plan_) : OpCost();
  }

  void Compute(const float* const* inputs, float* const* outputs) override {
    Op::Compute(plan_, inputs, outputs);
  }

  bool Streams() const override {
    return HasTiles<Op>::value && parsed_.ok();
  }

  void ComputeTile(const float* const* inputs, uint64_t o0, uint64_t o1,
                   uint64_t r0, uint64_t r1, float* tile) const override {
    if constexpr (HasTiles<Op>::value) {
      Op::ComputeTile(plan_, inputs, o0, o1, r0, r1, tile);
    }
  }

  void ComputeBias(const float* const* inputs, float* bias) const override {
    if constexpr (HasTiles<Op>::value) Op::ComputeBias(plan_, inputs, bias);
  }

  const KernelGeometry& Geometry() const override { return plan_; }

  // The factory of OpKind (null only when out of memory).
  static OpKernel* Create(const uint8_t* options, size_t length) {
    return new (std::nothrow) WeightsKernel(options, length);
  }

 private:
  typename Op::Plan plan_;  // before parsed_: Parse fills it
  Status parsed_;
};

// CheckInputs of the hashing operators (HashedWeights, FreshWeights): the
// buckets and the optional per-output-channel scale.
struct HashingInputs {
  template <typename Plan>
  static Status CheckInputs(tfl::TfLiteContext* context, const NodeIo& node,
                            const Plan& plan) {
    return CheckBucketsAndScale(context, node, plan.num_buckets, plan.out);
  }
};

}  // namespace hk

#endif  // HASHED_KERAS_LITE_KERNELS_WEIGHTS_KERNEL_H_
