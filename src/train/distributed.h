// Data-parallel training over torch's c10d process groups: Gloo on CPU,
// launched like torchrun (RANK, WORLD_SIZE, MASTER_ADDR, MASTER_PORT; rank 0
// hosts the TCPStore rendezvous). With WORLD_SIZE unset or 1 nothing is
// created and every collective is the identity, so single-process code
// needs no branches.
//
// Gradients are reduced as one flat buffer per step (sum, not mean: the
// trainer normalises each loss by its global count, so N ranks reproduce
// one process with the same global batch).
#pragma once

#include <torch/torch.h>

#include <memory>
#include <string>
#include <vector>

namespace pg::train {

class Distributed {
 public:
  // Reads the torchrun variables; world 1 when WORLD_SIZE is unset. A
  // malformed variable, or WORLD_SIZE > 1 in a build without Gloo, is a
  // pg::Error naming the variable.
  static std::shared_ptr<Distributed> from_environment(int timeout_seconds = 300);
  ~Distributed();

  int rank() const { return rank_; }
  int world() const { return world_; }
  bool is_main() const { return rank_ == 0; }

  // In-place sums across ranks (CPU tensors; one collective for all).
  void all_reduce_sum(std::vector<torch::Tensor>& tensors);
  double all_reduce_sum(double value);
  // Rank 0's values into every rank's tensors.
  void broadcast(std::vector<torch::Tensor>& tensors);
  void barrier();

 private:
  Distributed() = default;
  struct Impl;
  std::unique_ptr<Impl> impl_;
  int rank_ = 0, world_ = 1;
};

// True when this build can run more than one process (it found Gloo).
bool distributed_available();

}  // namespace pg::train
