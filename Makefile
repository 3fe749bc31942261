# The two commands of the README. Both set everything up first if needed.
#   make demo   runs the main job on the bundled demo data
#   make test   builds and runs the whole test suite
BUILD_DIR ?= build
BIN := $(BUILD_DIR)/src/perturbgen
DEMO_OUT ?= demo_out

.PHONY: all setup demo test asan fuzz bench clean
all: setup

setup:
	@BUILD_DIR=$(BUILD_DIR) scripts/setup

demo: setup
	@scripts/demo $(BIN) $(DEMO_OUT)

test: setup
	cd $(BUILD_DIR) && ctest --output-on-failure -j 2

# Address and UB sanitizers over the whole suite (separate build folder).
asan:
	@BUILD_DIR=build-asan BUILD_TYPE=Debug CMAKE_ARGS="-DPERTURBGEN_SANITIZE=ON -DPERTURBGEN_WITH_TORCH=OFF -DPERTURBGEN_FUZZ_SMOKE=OFF" scripts/setup
	cd build-asan && ASAN_OPTIONS=detect_leaks=0 ctest --output-on-failure -j 2

# libFuzzer targets (clang); long runs: see README.
fuzz:
	@BUILD_DIR=build-fuzz CMAKE_ARGS="-DPERTURBGEN_FUZZ=ON -DCMAKE_CXX_COMPILER=clang++ -DCMAKE_C_COMPILER=clang -DPERTURBGEN_BUILD_TESTS=OFF -DPERTURBGEN_WITH_TORCH=OFF" scripts/setup

bench: setup
	@scripts/bench $(BUILD_DIR)

clean:
	rm -rf $(BUILD_DIR) build-asan build-fuzz $(DEMO_OUT)
