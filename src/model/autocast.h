// bf16 autocast for a scope: matrix products in bfloat16, reductions and
// everything the caller converts back in float32 (torch's autocast rules).
// A no-op when off. Used by training (--bf16) and generation (--bf16).
#pragma once

#include <ATen/autocast_mode.h>
#include <torch/torch.h>

namespace pg::model {

class Bf16Autocast {
 public:
  Bf16Autocast(bool on, torch::Device device) : on_(on), type_(device.type()) {
    if (!on_) return;
    at::autocast::set_autocast_enabled(type_, true);
    at::autocast::set_autocast_dtype(type_, at::kBFloat16);
  }
  ~Bf16Autocast() {
    if (!on_) return;
    at::autocast::set_autocast_enabled(type_, false);
    at::autocast::clear_cache();
  }
  Bf16Autocast(const Bf16Autocast&) = delete;
  Bf16Autocast& operator=(const Bf16Autocast&) = delete;

 private:
  bool on_;
  c10::DeviceType type_;
};

}  // namespace pg::model
