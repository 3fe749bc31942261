#include "model/runtime.h"

#include <torch/torch.h>

#include "core/error.h"

namespace pg::model {

RuntimeInfo runtime_info() {
  RuntimeInfo info;
  info.torch_version = std::to_string(TORCH_VERSION_MAJOR) + "." + std::to_string(TORCH_VERSION_MINOR) + "." +
                       std::to_string(TORCH_VERSION_PATCH);
  info.cuda_available = torch::cuda::is_available();
  info.cuda_devices = info.cuda_available ? static_cast<int>(torch::cuda::device_count()) : 0;
  info.intra_op_threads = torch::get_num_threads();
  return info;
}

void set_threads(int n) {
  if (n > 0) torch::set_num_threads(n);
}

std::string check_device(const std::string& device) {
  try {
    const torch::Device d(device);
    if (d.is_cuda()) {
      if (!torch::cuda::is_available())
        throw Error("", "--device", "'" + device + "' requested but no CUDA device is available");
      if (d.has_index() && d.index() >= static_cast<int>(torch::cuda::device_count())) {
        throw Error("", "--device",
                    "'" + device + "': only " + std::to_string(torch::cuda::device_count()) +
                        " CUDA device(s) present");
      }
    }
    return d.str();
  } catch (const c10::Error&) {
    throw Error("", "--device", "'" + device + "' is not a device name (use cpu, cuda or cuda:N)");
  }
}

}  // namespace pg::model
