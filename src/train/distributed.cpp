#include "train/distributed.h"

#include <cstdlib>

#include "core/error.h"

#ifdef PERTURBGEN_WITH_GLOO
#include <torch/csrc/distributed/c10d/ProcessGroupGloo.hpp>
#include <torch/csrc/distributed/c10d/TCPStore.hpp>
#endif

namespace pg::train {

namespace {

int env_int(const char* name, int fallback, int lo, int hi) {
  const char* v = std::getenv(name);
  if (v == nullptr || *v == '\0') return fallback;
  char* end = nullptr;
  const long x = std::strtol(v, &end, 10);
  if (*end != '\0' || x < lo || x > hi)
    throw pg::Error("environment", name,
                    std::string("'") + v + "' is not an integer in [" + std::to_string(lo) + ", " +
                        std::to_string(hi) + "]");
  return static_cast<int>(x);
}

// Concatenates the tensors into one float buffer (each converted to float32).
torch::Tensor flatten(const std::vector<torch::Tensor>& ts) {
  std::vector<torch::Tensor> flat;
  for (const auto& t : ts) flat.push_back(t.reshape({-1}).to(torch::kFloat32));
  return torch::cat(flat);
}

void unflatten(const torch::Tensor& buffer, std::vector<torch::Tensor>& ts) {
  int64_t offset = 0;
  for (auto& t : ts) {
    t.copy_(buffer.narrow(0, offset, t.numel()).view(t.sizes()));
    offset += t.numel();
  }
}

}  // namespace

struct Distributed::Impl {
#ifdef PERTURBGEN_WITH_GLOO
  c10::intrusive_ptr<c10d::Backend> group;
#endif
};

bool distributed_available() {
#ifdef PERTURBGEN_WITH_GLOO
  return true;
#else
  return false;
#endif
}

Distributed::~Distributed() = default;

std::shared_ptr<Distributed> Distributed::from_environment(int timeout_seconds) {
  std::shared_ptr<Distributed> d(new Distributed());
  d->world_ = env_int("WORLD_SIZE", 1, 1, 1 << 16);
  d->rank_ = env_int("RANK", 0, 0, d->world_ - 1);
  if (d->world_ == 1) return d;
#ifdef PERTURBGEN_WITH_GLOO
  const char* addr = std::getenv("MASTER_ADDR");
  if (addr == nullptr || *addr == '\0')
    throw pg::Error("environment", "MASTER_ADDR", "is not set (needed when WORLD_SIZE > 1)");
  c10d::TCPStoreOptions so;
  so.port = static_cast<uint16_t>(env_int("MASTER_PORT", 29500, 1, 65535));
  so.isServer = d->rank_ == 0;
  so.numWorkers = d->world_;
  so.timeout = std::chrono::seconds(timeout_seconds);
  auto store = c10::make_intrusive<c10d::TCPStore>(addr, so);
  auto options = c10d::ProcessGroupGloo::Options::create(std::chrono::seconds(timeout_seconds));
  // The interface this rank talks on: GLOO_SOCKET_IFNAME as in torch; the
  // loopback when the rendezvous is local; else this host's own address.
  const std::string host = addr;
  if (const char* ifname = std::getenv("GLOO_SOCKET_IFNAME"); ifname != nullptr && *ifname != '\0')
    options->devices.push_back(c10d::ProcessGroupGloo::createDeviceForInterface(ifname));
  else if (host == "localhost" || host.rfind("127.", 0) == 0)
    options->devices.push_back(c10d::ProcessGroupGloo::createDeviceForHostname(host));
  else
    options->devices.push_back(c10d::ProcessGroupGloo::createDefaultDevice());
  d->impl_ = std::make_unique<Impl>();
  d->impl_->group = c10::make_intrusive<c10d::ProcessGroupGloo>(store, d->rank_, d->world_, options);
  return d;
#else
  throw pg::Error("environment", "WORLD_SIZE",
                  "is " + std::to_string(d->world_) +
                      ", but this build has no distributed backend (configure with Gloo's headers, "
                      "Debian libgloo-dev)");
#endif
}

void Distributed::all_reduce_sum(std::vector<torch::Tensor>& tensors) {
  if (world_ == 1 || tensors.empty()) return;
#ifdef PERTURBGEN_WITH_GLOO
  std::vector<torch::Tensor> buf{flatten(tensors).cpu()};
  impl_->group->allreduce(buf)->wait();
  unflatten(buf[0], tensors);
#endif
}

double Distributed::all_reduce_sum(double value) {
  if (world_ == 1) return value;
  std::vector<torch::Tensor> t{torch::tensor({value}, torch::kFloat64)};
#ifdef PERTURBGEN_WITH_GLOO
  impl_->group->allreduce(t)->wait();
#endif
  return t[0].item<double>();
}

void Distributed::broadcast(std::vector<torch::Tensor>& tensors) {
  if (world_ == 1 || tensors.empty()) return;
#ifdef PERTURBGEN_WITH_GLOO
  std::vector<torch::Tensor> buf{flatten(tensors).cpu()};
  impl_->group->broadcast(buf)->wait();
  unflatten(buf[0], tensors);
#endif
}

void Distributed::barrier() {
  if (world_ == 1) return;
#ifdef PERTURBGEN_WITH_GLOO
  impl_->group->barrier()->wait();
#endif
}

}  // namespace pg::train
