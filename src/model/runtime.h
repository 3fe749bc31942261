// Process-wide runtime settings of libtorch: which device to use and how many
// threads. Kept behind a small header so that files which only need a device
// name do not pull in <torch/torch.h>.
#pragma once

#include <string>

namespace pg::model {

struct RuntimeInfo {
  std::string torch_version;  // e.g. "2.11.0"
  bool cuda_available = false;
  int cuda_devices = 0;
  int intra_op_threads = 1;
};

RuntimeInfo runtime_info();

// Sets libtorch's intra-op threads (0 = leave the default). The one place
// thread counts are set, so OpenMP and BLAS pools do not fight on small machines.
void set_threads(int n);

// Validates a device string ("cpu", "cuda", "cuda:1") against this build and
// machine; throws pg::Error naming the problem.
std::string check_device(const std::string& device);

}  // namespace pg::model
