# CMake toolchain file: Linux cross builds of the hashed_keras kernels (and
# the Android demo's JNI bridge) with Debian's GNU cross compilers, to run the
# kernels' own tests under qemu-user (run_arm_tests.sh).
#
#   cmake -S hashed_keras/lite/kernels -B build/arm64 \
#         -DCMAKE_TOOLCHAIN_FILE=hashed_keras/lite/kernels/cross/linux-cross.toolchain.cmake \
#         -DHK_CROSS_TRIPLE=aarch64-linux-gnu        # or arm-linux-gnueabihf
#
# HK_CROSS_TRIPLE  the GNU triple: <triple>-gcc / <triple>-g++ must be on PATH
#                  (Debian: g++-aarch64-linux-gnu, g++-arm-linux-gnueabihf) and
#                  the target's libraries under /usr/<triple> (its sysroot).
#
# Headers: the cross compiler sees only its own sysroot. The kernels' one
# third-party dependency, the header-only flatbuffers library (Debian
# libflatbuffers-dev, architecture-independent), is made visible by pointing
# at flatbuffers' own include directory -- a private copy of
# /usr/include/flatbuffers, so the rest of the host's /usr/include (glibc,
# libstdc++ of the build machine) never reaches the cross compiler.
# Override with -DHK_CROSS_FLATBUFFERS_DIR=<dir containing flatbuffers/>.
cmake_minimum_required(VERSION 3.18)

if(NOT HK_CROSS_TRIPLE)
  set(HK_CROSS_TRIPLE "$ENV{HK_CROSS_TRIPLE}")
endif()
if(NOT HK_CROSS_TRIPLE)
  set(HK_CROSS_TRIPLE aarch64-linux-gnu)
endif()
# Try-compile projects see the same triple.
list(APPEND CMAKE_TRY_COMPILE_PLATFORM_VARIABLES HK_CROSS_TRIPLE HK_CROSS_FLATBUFFERS_DIR)

set(CMAKE_SYSTEM_NAME Linux)
if(HK_CROSS_TRIPLE MATCHES "^aarch64")
  set(CMAKE_SYSTEM_PROCESSOR aarch64)
elseif(HK_CROSS_TRIPLE MATCHES "^arm")
  set(CMAKE_SYSTEM_PROCESSOR arm)
else()
  message(FATAL_ERROR "HK_CROSS_TRIPLE=${HK_CROSS_TRIPLE}: expected aarch64-linux-gnu or arm-linux-gnueabihf")
endif()

set(CMAKE_C_COMPILER ${HK_CROSS_TRIPLE}-gcc)
set(CMAKE_CXX_COMPILER ${HK_CROSS_TRIPLE}-g++)

# Libraries and headers only from the target's directory; programs (python,
# flatc) from the host.
set(CMAKE_FIND_ROOT_PATH /usr/${HK_CROSS_TRIPLE})
set(CMAKE_FIND_ROOT_PATH_MODE_PROGRAM NEVER)
set(CMAKE_FIND_ROOT_PATH_MODE_LIBRARY ONLY)
set(CMAKE_FIND_ROOT_PATH_MODE_INCLUDE ONLY)
set(CMAKE_FIND_ROOT_PATH_MODE_PACKAGE ONLY)

# flatbuffers' headers (see above): HK_CROSS_FLATBUFFERS_DIR is a directory
# whose include/ holds only flatbuffers/ (a link to the host's copy). It is
# added as a find root, so find_path(... flatbuffers/flatbuffers.h) finds
# <dir>/include, and as -isystem for every target.
if(NOT HK_CROSS_FLATBUFFERS_DIR)
  set(HK_CROSS_FLATBUFFERS_DIR "$ENV{HK_CROSS_FLATBUFFERS_DIR}")
endif()
if(NOT HK_CROSS_FLATBUFFERS_DIR AND EXISTS /usr/include/flatbuffers/flatbuffers.h)
  set(HK_CROSS_FLATBUFFERS_DIR "${CMAKE_BINARY_DIR}/hk_cross_flatbuffers")
  file(MAKE_DIRECTORY "${HK_CROSS_FLATBUFFERS_DIR}/include")
  if(NOT EXISTS "${HK_CROSS_FLATBUFFERS_DIR}/include/flatbuffers")
    file(CREATE_LINK /usr/include/flatbuffers
         "${HK_CROSS_FLATBUFFERS_DIR}/include/flatbuffers" SYMBOLIC)
  endif()
endif()
set(HK_CROSS_FLAGS "")
if(HK_CROSS_FLATBUFFERS_DIR)
  string(APPEND HK_CROSS_FLAGS " -isystem ${HK_CROSS_FLATBUFFERS_DIR}/include")
  list(APPEND CMAKE_FIND_ROOT_PATH "${HK_CROSS_FLATBUFFERS_DIR}")
endif()
if(CMAKE_SYSTEM_PROCESSOR STREQUAL "arm")
  # 32-bit glibc: 64-bit file offsets, as Android's bionic has for readdir.
  # Without it readdir() fails with EOVERFLOW under qemu-arm on a 64-bit
  # host's file system (64-bit directory cookies), and the tests that list
  # a directory of sample files would find none.
  string(APPEND HK_CROSS_FLAGS " -D_FILE_OFFSET_BITS=64")
endif()
set(CMAKE_C_FLAGS_INIT "${HK_CROSS_FLAGS}")
set(CMAKE_CXX_FLAGS_INIT "${HK_CROSS_FLAGS}")

# ctest (and add_test commands) run the target's programs under qemu-user,
# with the target's libraries from its directory.
if(HK_CROSS_TRIPLE MATCHES "^aarch64")
  set(HK_CROSS_QEMU qemu-aarch64)
else()
  set(HK_CROSS_QEMU qemu-arm)
endif()
set(CMAKE_CROSSCOMPILING_EMULATOR ${HK_CROSS_QEMU} -L /usr/${HK_CROSS_TRIPLE})
