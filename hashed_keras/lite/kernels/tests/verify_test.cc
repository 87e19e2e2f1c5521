// Test driver for the model verifier (hk_verify_model), without a runtime
// (ci_checks.sh runs it under ASan/UBSan):
//  1. real converted files (tests/verify_samples/*.tflite, written by
//     hashed_keras.lite.convert; see tests/make_verify_samples.py) pass;
//  2. every truncation and thousands of random byte corruptions of them give
//     a valid code and a one-line message, never a crash;
//  3. small models built here with the official schema's generated code,
//     each with one defect, are refused with the expected code;
//  4. limits (defaults, raised, struct_size), a file whose shared tables
//     would make a naive walk quadratic, and the error buffer contract.
//
// Usage: hk_verify_test [SAMPLES_DIR]
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <random>
#include <string>
#include <vector>

#include "check.h"
#include "flatbuffers/flexbuffers.h"
#include "hk_kernels.h"
#include "schema/builtin_options_table.h"
#include "schema/schema_generated.h"
#include "verify_builtin_rules.h"

namespace {

struct Result {
  int code;
  std::string error;
};

Result Verify(const std::vector<uint8_t>& bytes,
              const HkLimits* limits = nullptr) {
  char error[512];
  memset(error, 'x', sizeof(error));
  Result r;
  r.code = hk_verify_model(bytes.empty() ? nullptr : bytes.data(),
                           bytes.size(), limits, error, sizeof(error));
  r.error = error;
  return r;
}

// A result is well formed: a known code, and a message exactly when it is an
// error, on one line.
bool WellFormed(const Result& r) {
  const bool known = r.code == HK_OK ||
                     (r.code >= HK_VERIFY_SCHEMA && r.code <= HK_VERIFY_LIMIT);
  const bool message = (r.code == HK_OK) == r.error.empty();
  return known && message && r.error.find('\n') == std::string::npos;
}

// --------------------------------------------------------------- real files

std::vector<std::vector<uint8_t>> ReadSamples(const char* dir,
                                              std::vector<std::string>* names) {
  std::vector<std::vector<uint8_t>> files;
  DIR* d = opendir(dir);
  if (d == nullptr) return files;
  while (dirent* e = readdir(d)) {
    const std::string name = e->d_name;
    if (name.size() < 7 || name.substr(name.size() - 7) != ".tflite") continue;
    const std::string path = std::string(dir) + "/" + name;
    FILE* f = fopen(path.c_str(), "rb");
    if (f == nullptr) continue;
    std::vector<uint8_t> bytes;
    uint8_t buf[4096];
    size_t n;
    while ((n = fread(buf, 1, sizeof(buf), f)) > 0) {
      bytes.insert(bytes.end(), buf, buf + n);
    }
    fclose(f);
    files.push_back(bytes);
    names->push_back(name);
  }
  closedir(d);
  return files;
}

void TestSamples(const char* dir) {
  std::vector<std::string> names;
  const auto files = ReadSamples(dir, &names);
  CHECK(files.size() >= 3, "expected converted samples in %s", dir);
  std::mt19937 rng(12345);
  for (size_t f = 0; f < files.size(); ++f) {
    const auto& file = files[f];
    const char* name = names[f].c_str();
    Result r = Verify(file);
    CHECK(r.code == HK_OK, "%s: %d %s", name, r.code, r.error.c_str());

    // Every truncation: an error (never OK: the root table and the buffers
    // are spread over the file) or at least a well-formed answer.
    int truncated_ok = 0;
    for (size_t cut = 0; cut < file.size(); ++cut) {
      std::vector<uint8_t> t(file.begin(), file.begin() + cut);
      r = Verify(t);
      CHECK(WellFormed(r), "%s cut %zu: %d '%s'", name, cut, r.code,
            r.error.c_str());
      if (r.code == HK_OK) ++truncated_ok;
    }
    CHECK(truncated_ok == 0, "%s: %d truncations verified", name,
          truncated_ok);
    r = Verify(std::vector<uint8_t>(file.begin(), file.begin() + 7));
    CHECK(r.code == HK_VERIFY_SCHEMA, "%s: 7 bytes gave %d", name, r.code);

    // Random corruptions of 1-8 bytes.
    for (int i = 0; i < 3000; ++i) {
      std::vector<uint8_t> m = file;
      const int flips = 1 + static_cast<int>(rng() % 8);
      for (int k = 0; k < flips; ++k) {
        m[rng() % m.size()] = static_cast<uint8_t>(rng());
      }
      r = Verify(m);
      CHECK(WellFormed(r), "%s corruption %d: %d '%s'", name, i, r.code,
            r.error.c_str());
    }

    // Limits: one virtual weight is too few for any of our files; the
    // default and a raised limit pass; a struct_size without the field means
    // the default.
    HkLimits tight{sizeof(HkLimits), 1, 0, 0};
    r = Verify(file, &tight);
    CHECK(r.code == HK_VERIFY_LIMIT, "%s: max_virtual_weights=1 gave %d",
          name, r.code);
    CHECK(r.error.find("max_virtual_weights") != std::string::npos, "%s: %s",
          name, r.error.c_str());
    HkLimits tight_bytes{sizeof(HkLimits), 0, 4, 0};
    r = Verify(file, &tight_bytes);
    CHECK(r.code == HK_VERIFY_LIMIT &&
              r.error.find("max_rebuild_bytes") != std::string::npos,
          "%s: max_rebuild_bytes=4 gave %d %s", name, r.code, r.error.c_str());
    HkLimits tight_tensor{sizeof(HkLimits), 0, 0, 4};
    r = Verify(file, &tight_tensor);
    CHECK(r.code == HK_VERIFY_LIMIT, "%s: max_tensor_bytes=4 gave %d", name,
          r.code);
    HkLimits raised{sizeof(HkLimits), 1ull << 40, 1ull << 40, 1ull << 40};
    CHECK(Verify(file, &raised).code == HK_OK, "%s: raised limits", name);
    HkLimits old_caller{8, 1, 1, 1};  // knows only struct_size
    CHECK(Verify(file, &old_caller).code == HK_OK, "%s: struct_size 8", name);
  }
}

// ------------------------------------------------------- hand-built models
//
// tensor 0: input float32 [1, 4]
// tensor 1: buckets float32 [3], buffer 1 (constant)
// tensor 2: weights float32 [2, 4] = HashedWeights(tensor 1), layout "fc"
// tensor 3: output float32 [1, 2] = FULLY_CONNECTED(0, 2, -1)
struct Knobs {
  std::vector<int> graph_inputs = {0};
  std::vector<int> hashed_inputs = {1};
  std::vector<int> hashed_outputs = {2};
  std::vector<int> fc_inputs = {0, 2, -1};
  int fc_builtin = tflite::BuiltinOperator_FULLY_CONNECTED;
  int custom_builtin = tflite::BuiltinOperator_CUSTOM;
  int custom_deprecated = tflite::BuiltinOperator_CUSTOM;
  uint32_t hashed_opcode = 0;
  int64_t k_option = 3;
  std::vector<int64_t> kernel_shape = {4, 2};
  const char* layout = "fc";
  std::vector<int> bucket_shape = {3};
  int bucket_bytes = 12;
  uint64_t bucket_offset = 0;  // out of line if > 1
  uint64_t bucket_size = 0;
  uint32_t bucket_buffer = 1;
  int weights_buffer = 0;  // 2: give the weights constant data
  std::vector<int> weights_shape = {2, 4};
  int version = 3;
};

std::vector<uint8_t> BuildModel(const Knobs& k) {
  flatbuffers::FlatBufferBuilder b;
  flexbuffers::Builder fx;
  fx.Map([&] {
    fx.Int("contract_version", 1);
    fx.Int("seed", 7);
    fx.Int("buckets", k.k_option);
    fx.Vector("kernel_shape", [&] {
      for (int64_t d : k.kernel_shape) fx.Int(d);
    });
    fx.String("layout", k.layout);
    fx.Bool("use_sign", true);
    fx.Bool("hash_bias", false);
    fx.Int("bias_size", 0);
  });
  fx.Finish();
  const std::vector<uint8_t>& options = fx.GetBuffer();

  std::vector<float> buckets(static_cast<size_t>(k.bucket_bytes) / 4, 0.5f);
  std::vector<uint8_t> bucket_bytes(static_cast<size_t>(k.bucket_bytes), 0);
  memcpy(bucket_bytes.data(), buckets.data(), buckets.size() * 4);
  std::vector<uint8_t> weight_bytes(32, 0);
  std::vector<flatbuffers::Offset<tflite::Buffer>> buffers = {
      tflite::CreateBuffer(b),
      k.bucket_offset > 1
          ? tflite::CreateBuffer(b, 0, k.bucket_offset, k.bucket_size)
          : tflite::CreateBufferDirect(b, &bucket_bytes),
      tflite::CreateBufferDirect(b, &weight_bytes)};
  std::vector<int> in_shape = {1, 4}, out_shape = {1, 2}, fc_outputs = {3};
  std::vector<flatbuffers::Offset<tflite::Tensor>> tensors = {
      tflite::CreateTensorDirect(b, &in_shape, tflite::TensorType_FLOAT32, 0,
                                 "input"),
      tflite::CreateTensorDirect(b, &k.bucket_shape,
                                 tflite::TensorType_FLOAT32, k.bucket_buffer,
                                 "buckets"),
      tflite::CreateTensorDirect(b, &k.weights_shape,
                                 tflite::TensorType_FLOAT32,
                                 static_cast<uint32_t>(k.weights_buffer),
                                 "weights"),
      tflite::CreateTensorDirect(b, &out_shape, tflite::TensorType_FLOAT32, 0,
                                 "output")};
  std::vector<flatbuffers::Offset<tflite::Operator>> ops = {
      tflite::CreateOperatorDirect(
          b, k.hashed_opcode, &k.hashed_inputs, &k.hashed_outputs,
          tflite::BuiltinOptions_NONE, 0, &options,
          tflite::CustomOptionsFormat_FLEXBUFFERS),
      tflite::CreateOperatorDirect(b, 1, &k.fc_inputs, &fc_outputs)};
  std::vector<int> graph_outputs = {3};
  std::vector<flatbuffers::Offset<tflite::SubGraph>> subgraphs = {
      tflite::CreateSubGraphDirect(b, &tensors, &k.graph_inputs,
                                   &graph_outputs, &ops, "main")};
  std::vector<flatbuffers::Offset<tflite::OperatorCode>> codes = {
      tflite::CreateOperatorCodeDirect(
          b, static_cast<int8_t>(k.custom_deprecated), "HashedWeights", 1,
          static_cast<tflite::BuiltinOperator>(k.custom_builtin)),
      tflite::CreateOperatorCode(
          b, static_cast<int8_t>(k.fc_builtin), 0, 1,
          static_cast<tflite::BuiltinOperator>(k.fc_builtin))};
  auto model = tflite::CreateModelDirect(b, static_cast<uint32_t>(k.version),
                                         &codes, &subgraphs, "test",
                                         &buffers);
  tflite::FinishModelBuffer(b, model);
  return std::vector<uint8_t>(b.GetBufferPointer(),
                              b.GetBufferPointer() + b.GetSize());
}

void Expect(const char* what, const Knobs& k, int code, const char* needle) {
  const Result r = Verify(BuildModel(k));
  CHECK(r.code == code, "%s: expected %d, got %d '%s'", what, code, r.code,
        r.error.c_str());
  CHECK(WellFormed(r), "%s: '%s'", what, r.error.c_str());
  if (needle != nullptr) {
    CHECK(r.error.find(needle) != std::string::npos,
          "%s: '%s' not in '%s'", what, needle, r.error.c_str());
  }
}

// The generated options table (one row per builtin, in code order) and the
// hand-written wiring rules.
void TestBuiltinTables() {
  constexpr int n = tflite::BuiltinOperator_MAX + 1;
  for (int i = 0; i < n; ++i) {
    CHECK(static_cast<int>(hk::kBuiltinOptionsRules[i].op) == i, "row %d", i);
  }
  using tflite::BuiltinOperator;
  struct Want {
    BuiltinOperator op;
    tflite::BuiltinOptions options;
  };
  const Want wants[] = {
      {tflite::BuiltinOperator_STRIDED_SLICE,
       tflite::BuiltinOptions_StridedSliceOptions},
      {tflite::BuiltinOperator_SPLIT, tflite::BuiltinOptions_SplitOptions},
      {tflite::BuiltinOperator_MEAN, tflite::BuiltinOptions_ReducerOptions},
      {tflite::BuiltinOperator_MAX_POOL_2D, tflite::BuiltinOptions_Pool2DOptions},
      {tflite::BuiltinOperator_CONV_3D_TRANSPOSE,
       tflite::BuiltinOptions_Conv3DOptions},
      {tflite::BuiltinOperator_MAXIMUM,
       tflite::BuiltinOptions_MaximumMinimumOptions},
      {tflite::BuiltinOperator_RELU, tflite::BuiltinOptions_NONE},
      {tflite::BuiltinOperator_CUSTOM, tflite::BuiltinOptions_NONE}};
  for (const Want& w : wants) {
    CHECK(hk::kBuiltinOptionsRules[w.op].options == w.options, "%s",
          tflite::EnumNameBuiltinOperator(w.op));
  }
  CHECK(hk::kBuiltinOptionsRules[tflite::BuiltinOperator_STABLEHLO_SLICE]
                .options2 == tflite::BuiltinOptions2_StablehloSliceOptions,
        "STABLEHLO_SLICE");
  for (const hk::BuiltinArity& a : hk::kBuiltinArities) {
    CHECK(a.min_inputs <= a.max_inputs && a.min_outputs <= a.max_outputs &&
              a.min_outputs >= 0,
          "%s", tflite::EnumNameBuiltinOperator(a.op));
    int rows = 0;
    for (const hk::BuiltinArity& b : hk::kBuiltinArities) rows += a.op == b.op;
    CHECK(rows == 1, "%s listed %d times",
          tflite::EnumNameBuiltinOperator(a.op), rows);
  }
  for (const hk::BuiltinTypeRule& a : hk::kBuiltinTypeRules) {
    int rows = 0;
    for (const hk::BuiltinTypeRule& b : hk::kBuiltinTypeRules) {
      rows += a.op == b.op;
    }
    CHECK(rows == 1 && a.input >= 0, "type rule of %s",
          tflite::EnumNameBuiltinOperator(a.op));
  }
}

void TestBuiltModels() {
  Knobs k;
  Expect("valid", k, HK_OK, nullptr);
  {
    Knobs m;  // FULLY_CONNECTED's code changed to STRIDED_SLICE (3 inputs)
    m.fc_builtin = tflite::BuiltinOperator_STRIDED_SLICE;
    Expect("builtin arity", m, HK_VERIFY_OPERATOR, "takes 4 inputs");
  }
  {
    Knobs m;  // FULLY_CONNECTED as SPLIT without SplitOptions: num_splits 0
    m.fc_builtin = tflite::BuiltinOperator_SPLIT;
    m.fc_inputs = {0, 2};
    Expect("split count", m, HK_VERIFY_OPERATOR, "num_splits is 0");
  }
  {
    Knobs m;  // -1 where FULLY_CONNECTED needs its input
    m.fc_inputs = {-1, 2, -1};
    Expect("absent required input", m, HK_VERIFY_OPERATOR, "input 0 is -1");
  }
  {
    Knobs m;  // the buckets out of line at an odd offset inside the file
    m.bucket_offset = 17;
    m.bucket_size = 12;
    Expect("misaligned float32", m, HK_VERIFY_BUFFER, "not a multiple of 4");
  }
  {
    Knobs m;
    m.version = 2;
    Expect("version", m, HK_VERIFY_SCHEMA, "version 2");
  }
  {
    Knobs m;
    m.graph_inputs = {1};
    Expect("constant as graph input", m, HK_VERIFY_GRAPH, "'buckets'");
  }
  {
    Knobs m;
    m.bucket_offset = UINT64_MAX;
    m.bucket_size = 12;
    Expect("offset 2^64-1", m, HK_VERIFY_BUFFER, "outside");
  }
  {
    Knobs m;
    m.bucket_offset = 16;
    m.bucket_size = UINT64_MAX - 8;  // offset + size wraps around
    Expect("offset + size overflow", m, HK_VERIFY_BUFFER, "outside");
  }
  {
    Knobs m;
    m.hashed_opcode = 9;
    Expect("opcode index", m, HK_VERIFY_INDEX, "opcode index 9");
  }
  {
    Knobs m;
    m.hashed_inputs = {17};
    Expect("input index", m, HK_VERIFY_INDEX, "tensor 17");
  }
  {
    Knobs m;
    m.hashed_outputs = {-1};
    Expect("output -1", m, HK_VERIFY_INDEX, "out of range");
  }
  {
    Knobs m;
    m.bucket_buffer = 40;
    Expect("buffer index", m, HK_VERIFY_INDEX, "buffer index 40");
  }
  {
    Knobs m;
    m.bucket_bytes = 8;  // [3] float32 needs 12
    Expect("bucket bytes", m, HK_VERIFY_TENSOR, "needs 12");
  }
  {
    Knobs m;
    m.bucket_shape = {-3};
    Expect("negative dim", m, HK_VERIFY_TENSOR, "is -3");
  }
  {
    Knobs m;
    m.custom_builtin = m.custom_deprecated =
        tflite::BuiltinOperator_STRIDED_SLICE;
    Expect("custom op switched to a builtin", m, HK_VERIFY_GRAPH,
           "custom options");
  }
  {
    Knobs m;
    m.custom_deprecated = 0;  // builtin CUSTOM, deprecated ADD
    Expect("codes disagree", m, HK_VERIFY_GRAPH, "disagree");
  }
  {
    Knobs m;
    m.custom_builtin = 5000;
    Expect("unknown builtin", m, HK_VERIFY_GRAPH, "unknown builtin");
  }
  {
    Knobs m;
    m.weights_buffer = 2;  // the op's output has constant data
    Expect("constant output", m, HK_VERIFY_GRAPH, "'weights'");
  }
  {
    Knobs m;
    m.hashed_inputs = {0};  // the graph input: not a constant
    Expect("input not constant", m, HK_VERIFY_OPERATOR, nullptr);
  }
  {
    Knobs m;
    m.k_option = 4;  // K disagrees with the bucket length
    Expect("K vs buckets", m, HK_VERIFY_OPERATOR, "buckets");
  }
  {
    Knobs m;
    m.kernel_shape = {2, 4};  // output is [2, 4] but the options say [4, 2]
    Expect("kernel_shape vs output", m, HK_VERIFY_OPERATOR, "kernel_shape");
  }
  {
    Knobs m;
    m.fc_inputs = {2, 0, -1};  // weights read as FC's data input
    Expect("wrong consumer slot", m, HK_VERIFY_OPERATOR, "FULLY_CONNECTED");
  }
  {
    Knobs m;
    m.fc_builtin = tflite::BuiltinOperator_CONV_2D;  // layout fc, consumer conv
    Expect("layout vs consumer", m, HK_VERIFY_OPERATOR, "layout 'fc'");
  }
  {
    Knobs m;
    m.fc_inputs = {0, 0, -1};  // FC no longer reads the rebuilt weights
    Expect("weights unused", m, HK_VERIFY_OPERATOR, "read by no operator");
  }
  {
    Knobs m;
    m.graph_inputs = {2};  // the rebuilt weights fed by the user
    Expect("op output as graph input", m, HK_VERIFY_GRAPH, "also writes");
  }
  {
    Knobs m;
    m.hashed_outputs = {3};  // two operators write tensor 3
    Expect("two writers", m, HK_VERIFY_GRAPH, "written twice");
  }
  {
    Knobs m;
    m.hashed_outputs = {2, 2};
    Expect("duplicate outputs", m, HK_VERIFY_GRAPH, "the same");
  }
  // The decompression bomb: options declare 2^30 virtual weights for a file
  // of a few hundred bytes; the output tensor agrees with them.
  {
    Knobs m;
    m.kernel_shape = {1 << 20, 1 << 10};
    m.weights_shape = {1 << 10, 1 << 20};
    Expect("bomb", m, HK_VERIFY_LIMIT, nullptr);
    const std::vector<uint8_t> bomb = BuildModel(m);
    HkLimits raised{sizeof(HkLimits), 1ull << 31, 1ull << 33, 1ull << 33};
    const Result r = Verify(bomb, &raised);
    CHECK(r.code == HK_OK, "bomb with raised limits: %d %s", r.code,
          r.error.c_str());
  }
}

// One tensor table with a long shape, listed many times: the file is small
// but a naive walk over every tensor's dims is quadratic. Refused as over a
// limit, without walking it.
void TestSharedTables() {
  flatbuffers::FlatBufferBuilder b;
  const int kDims = 200000, kRefs = 200000;
  std::vector<int> shape(kDims, 1);
  auto tensor = tflite::CreateTensorDirect(b, &shape, tflite::TensorType_FLOAT32,
                                           0, "t");
  std::vector<flatbuffers::Offset<tflite::Tensor>> tensors(kRefs, tensor);
  std::vector<flatbuffers::Offset<tflite::Buffer>> buffers = {
      tflite::CreateBuffer(b)};
  std::vector<flatbuffers::Offset<tflite::SubGraph>> subgraphs = {
      tflite::CreateSubGraphDirect(b, &tensors)};
  auto model = tflite::CreateModelDirect(b, 3, nullptr, &subgraphs, "shared",
                                         &buffers);
  tflite::FinishModelBuffer(b, model);
  const std::vector<uint8_t> file(b.GetBufferPointer(),
                                  b.GetBufferPointer() + b.GetSize());
  const Result r = Verify(file);
  CHECK(r.code == HK_VERIFY_LIMIT, "shared tables: %d '%s'", r.code,
        r.error.c_str());
  CHECK(r.error.find("reused") != std::string::npos, "%s", r.error.c_str());
}

void TestErrorBuffer() {
  const std::vector<uint8_t> junk(64, 0xab);
  char small[8];
  memset(small, 'x', sizeof(small));
  int code = hk_verify_model(junk.data(), junk.size(), nullptr, small,
                             sizeof(small));
  CHECK(code == HK_VERIFY_SCHEMA, "junk gave %d", code);
  CHECK(strlen(small) == sizeof(small) - 1, "truncated message '%s'", small);
  code = hk_verify_model(junk.data(), junk.size(), nullptr, nullptr, 0);
  CHECK(code == HK_VERIFY_SCHEMA, "no error buffer gave %d", code);
  code = hk_verify_model(nullptr, 0, nullptr, nullptr, 0);
  CHECK(code == HK_VERIFY_SCHEMA, "null data gave %d", code);
  // Random bytes of every small size.
  std::mt19937 rng(7);
  for (int i = 0; i < 2000; ++i) {
    std::vector<uint8_t> r(static_cast<size_t>(rng() % 256));
    for (auto& byte : r) byte = static_cast<uint8_t>(rng());
    const Result res = Verify(r);
    CHECK(res.code != HK_OK && WellFormed(res), "random %d: %d", i, res.code);
  }
}

}  // namespace

int main(int argc, char** argv) {
  const char* samples = argc > 1 ? argv[1] : "tests/verify_samples";
  TestSamples(samples);
  TestBuiltinTables();
  TestBuiltModels();
  TestSharedTables();
  TestErrorBuffer();
  return hk_test::Summary();
}
