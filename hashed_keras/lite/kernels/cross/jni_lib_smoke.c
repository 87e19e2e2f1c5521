/* Loads the Android demo's libhk_jni.so (built for the target by
 * run_arm_tests.sh) with dlopen, as a runtime loads a delegate plugin, and
 * calls its exported C entry points on real model files -- under qemu-user,
 * so the app's own library runs on the ARM ABI here:
 *
 *   jni_lib_smoke <libhk_jni.so> <good.tflite>...  [--bad <corrupt file>]...
 *
 * Checks: the library loads; every JNI function and the plugin entry points
 * are exported; tflite_plugin_create_delegate accepts the app's caps and
 * destroy releases it; hk_verify_model accepts each good file, rejects each
 * bad one with one line, and rejects every truncation of the first good file
 * without reading outside it. Exit status 1 on any failure. */
#include <dlfcn.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hk_kernels.h"

typedef struct TfLiteDelegate* (*CreateFn)(char**, char**, size_t,
                                           void (*)(const char*));
typedef void (*DestroyFn)(struct TfLiteDelegate*);
typedef int (*VerifyFn)(const uint8_t*, size_t, const HkLimits*, char*, size_t);

static int failures = 0;
static int checks = 0;

static void check(int ok, const char* what, const char* detail) {
  ++checks;
  if (!ok) {
    ++failures;
    printf("FAIL %s%s%s\n", what, detail ? ": " : "", detail ? detail : "");
  }
}

static uint8_t* read_file(const char* path, size_t* size) {
  FILE* f = fopen(path, "rb");
  if (!f) return NULL;
  fseek(f, 0, SEEK_END);
  long n = ftell(f);
  fseek(f, 0, SEEK_SET);
  uint8_t* data = (uint8_t*)malloc(n > 0 ? (size_t)n : 1);
  if (data && n > 0 && fread(data, 1, (size_t)n, f) != (size_t)n) {
    free(data);
    data = NULL;
  }
  fclose(f);
  *size = (size_t)(n > 0 ? n : 0);
  return data;
}

static void report(const char* message) {
  size_t n = strlen(message);
  printf("  plugin: %s%s", message, n && message[n - 1] == '\n' ? "" : "\n");
}

int main(int argc, char** argv) {
  if (argc < 3) {
    fprintf(stderr, "usage: %s libhk_jni.so good.tflite... [--bad file]...\n", argv[0]);
    return 2;
  }
  void* lib = dlopen(argv[1], RTLD_NOW | RTLD_LOCAL);
  if (!lib) {
    printf("FAIL dlopen: %s\n", dlerror());
    return 1;
  }
  static const char* const kExports[] = {
      "tflite_plugin_create_delegate", "tflite_plugin_destroy_delegate",
      "hk_verify_model", "hk_kernels_version",
      "Java_org_hashedkeras_demo_HkNative_nativeCreateDelegate",
      "Java_org_hashedkeras_demo_HkNative_destroyDelegate",
      "Java_org_hashedkeras_demo_HkNative_nativeVerifyModel",
      "Java_org_hashedkeras_demo_HkNative_kernelsVersion",
      "Java_org_hashedkeras_demo_HkNative_xxh32",
      "Java_org_hashedkeras_demo_HkNative_liveDelegates"};
  for (size_t i = 0; i < sizeof(kExports) / sizeof(kExports[0]); ++i) {
    check(dlsym(lib, kExports[i]) != NULL, "exported", kExports[i]);
  }
  CreateFn create = (CreateFn)dlsym(lib, "tflite_plugin_create_delegate");
  DestroyFn destroy = (DestroyFn)dlsym(lib, "tflite_plugin_destroy_delegate");
  VerifyFn verify = (VerifyFn)dlsym(lib, "hk_verify_model");
  if (!create || !destroy || !verify) {
    printf("FAIL entry points missing\n");
    return 1;
  }
  const char* (*version)(void) =
      (const char* (*)(void))dlsym(lib, "hk_kernels_version");
  printf("libhk_jni.so: kernels %s, pointer size %d bytes\n",
         version ? version() : "?", (int)sizeof(void*));

  /* The app's caps, as HkNative.createDelegate passes them. */
  char k0[] = "verbose", k1[] = "max_virtual_weights", k2[] = "max_rebuild_bytes";
  char v0[] = "0", v1[] = "16777216", v2[] = "134217728";
  char* keys[] = {k0, k1, k2};
  char* values[] = {v0, v1, v2};
  struct TfLiteDelegate* d = create(keys, values, 3, report);
  check(d != NULL, "tflite_plugin_create_delegate with the app's caps", NULL);
  if (d) destroy(d);
  char k3[] = "no_such_option";
  char* bad_keys[] = {k3};
  char* bad_values[] = {v0};
  d = create(bad_keys, bad_values, 1, report);
  check(d == NULL, "an unknown option is refused", NULL);
  if (d) destroy(d);

  HkLimits limits;
  memset(&limits, 0, sizeof(limits));
  limits.struct_size = sizeof(limits);
  char error[512];
  int bad = 0, good_files = 0, bad_files = 0, truncations = 0;
  uint8_t* first = NULL;
  size_t first_size = 0;
  for (int i = 2; i < argc; ++i) {
    if (strcmp(argv[i], "--bad") == 0) {
      bad = 1;
      continue;
    }
    size_t size = 0;
    uint8_t* data = read_file(argv[i], &size);
    check(data != NULL, "read", argv[i]);
    if (!data) continue;
    error[0] = '\0';
    int status = verify(data, size, &limits, error, sizeof(error));
    if (bad) {
      ++bad_files;
      check(status != HK_OK && error[0] != '\0' && strchr(error, '\n') == NULL,
            "a corrupt file is rejected with one line", argv[i]);
      printf("  %s: %s\n", argv[i], error);
      free(data);
    } else {
      ++good_files;
      check(status == HK_OK, "a good model passes hk_verify_model", error);
      if (!first) {
        first = data;
        first_size = size;
      } else {
        free(data);
      }
    }
  }
  /* Every truncation of the first good model, each in a buffer of exactly
   * that size (qemu-user does not catch overreads, but the answers must be
   * errors). */
  for (size_t n = 0; first && n < first_size; n += (n < 256 ? 1 : 97)) {
    uint8_t* copy = (uint8_t*)malloc(n ? n : 1);
    memcpy(copy, first, n);
    error[0] = '\0';
    int status = verify(copy, n, &limits, error, sizeof(error));
    check(status != HK_OK && error[0] != '\0', "a truncated model is rejected", error);
    ++truncations;
    free(copy);
  }
  free(first);
  printf("%d good and %d corrupt files, %d truncations; %d checks, %d failed\n",
         good_files, bad_files, truncations, checks, failures);
  dlclose(lib);
  puts(failures ? "FAILED" : "OK");
  return failures ? 1 : 0;
}
