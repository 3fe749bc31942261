#include "cli/model_plugin.h"

#include <dlfcn.h>

#include <cstdlib>
#include <filesystem>

namespace pg::cli {

namespace {

struct Plugin {
  void (*register_commands)(CLI::App*) = nullptr;
  const char* (*runtime)() = nullptr;
  std::string error;
};

// Loaded once and never unloaded: the commands it registers run its code.
const Plugin& plugin() {
  static const Plugin p = [] {
    Plugin out;
#ifndef PERTURBGEN_WITH_TORCH
    out.error = "this build has no libtorch (configured with PERTURBGEN_WITH_TORCH=OFF)";
    return out;
#else
    std::filesystem::path path;
    if (const char* env = std::getenv("PERTURBGEN_MODEL_PLUGIN"); env != nullptr && *env != '\0') {
      path = env;
    } else {
      std::error_code ec;
      path = std::filesystem::read_symlink("/proc/self/exe", ec).parent_path() / "libperturbgen_model.so";
    }
    void* handle = dlopen(path.c_str(), RTLD_NOW | RTLD_LOCAL);
    if (handle == nullptr) {
      const char* e = dlerror();
      out.error = "cannot load the libtorch plugin " + path.string() + ": " + (e ? e : "unknown error");
      return out;
    }
    out.register_commands = reinterpret_cast<void (*)(CLI::App*)>(dlsym(handle, "perturbgen_model_register"));
    out.runtime = reinterpret_cast<const char* (*)()>(dlsym(handle, "perturbgen_model_runtime"));
    if (out.register_commands == nullptr || out.runtime == nullptr) {
      out.error = path.string() + " is not a perturbgen model plugin (missing entry points)";
    }
    return out;
#endif
  }();
  return p;
}

}  // namespace

bool load_model_commands(CLI::App& app, std::string& why) {
  const Plugin& p = plugin();
  if (!p.error.empty()) {
    why = p.error;
    return false;
  }
  p.register_commands(&app);
  return true;
}

std::string model_runtime_text() {
  const Plugin& p = plugin();
  return p.error.empty() ? std::string(p.runtime()) : p.error;
}

}  // namespace pg::cli
