# libtorch comes from the pinned PyPI `torch` wheel in the setup script's
# virtual environment (the wheel's location is asked from its Python).
#
# Why not find_package(Torch): the PyPI wheel is a CUDA build and its CMake
# config insists on a CUDA toolkit (and probes GPUs with try_run), so it fails
# on CPU-only machines. The wheel itself runs fine there: libtorch.so loads
# libtorch_cuda.so and the CUDA runtime from the wheel's own nvidia packages,
# and CUDA is simply reported unavailable without a GPU. So we import the
# libraries directly; the same build uses a GPU where one exists.

if(NOT PERTURBGEN_PYTHON)
  find_program(PERTURBGEN_PYTHON NAMES python3 python NO_CACHE)
endif()
execute_process(
  COMMAND ${PERTURBGEN_PYTHON} -c
          "import os, torch; print(os.path.dirname(torch.__file__)); print(torch.__version__.split('+')[0]); print(int(torch._C._GLIBCXX_USE_CXX11_ABI))"
  OUTPUT_VARIABLE _torch_out OUTPUT_STRIP_TRAILING_WHITESPACE RESULT_VARIABLE _torch_rc ERROR_QUIET)
if(NOT _torch_rc EQUAL 0)
  message(FATAL_ERROR "PERTURBGEN_PYTHON=${PERTURBGEN_PYTHON} cannot import torch; run scripts/setup "
                      "(or pass -DPERTURBGEN_PYTHON=<venv>/bin/python)")
endif()
string(REPLACE "\n" ";" _torch_out "${_torch_out}")
list(GET _torch_out 0 TORCH_ROOT)
list(GET _torch_out 1 Torch_VERSION)
list(GET _torch_out 2 _torch_abi)

add_library(perturbgen_torch INTERFACE)
target_include_directories(perturbgen_torch SYSTEM INTERFACE ${TORCH_ROOT}/include
                                                             ${TORCH_ROOT}/include/torch/csrc/api/include)
target_compile_definitions(perturbgen_torch INTERFACE _GLIBCXX_USE_CXX11_ABI=${_torch_abi})
target_link_libraries(perturbgen_torch INTERFACE ${TORCH_ROOT}/lib/libtorch.so ${TORCH_ROOT}/lib/libtorch_cpu.so
                                                 ${TORCH_ROOT}/lib/libc10.so)
# The wheel's libraries export copies of libstdc++'s std::filesystem (from the
# manylinux toolchain's libstdc++_nonshared.a) that crash when called from our
# code. Make the system libstdc++ the first library every binary needs, so the
# dynamic linker binds those symbols to it.
add_link_options(LINKER:--push-state,--no-as-needed -lstdc++ LINKER:--pop-state)
# Executables find libtorch (and, through its RPATH, the CUDA runtime) at run time.
set(CMAKE_BUILD_RPATH ${TORCH_ROOT}/lib)
set(CMAKE_INSTALL_RPATH ${TORCH_ROOT}/lib)
message(STATUS "libtorch ${Torch_VERSION} from ${TORCH_ROOT}")
