#include "core/atomic_file.h"

#include <fcntl.h>
#include <unistd.h>

#include <cstring>
#include <random>
#include <system_error>
#include <vector>

#include "core/error.h"

namespace fs = std::filesystem;

namespace pg {

namespace {

bool same_path(const fs::path& a, const fs::path& b) {
  std::error_code ec;
  if (fs::exists(a, ec) && fs::exists(b, ec)) return fs::equivalent(a, b, ec);
  return fs::weakly_canonical(a, ec) == fs::weakly_canonical(b, ec);
}

fs::path temporary_sibling(const fs::path& target) {
  std::random_device rd;
  const auto tag = std::to_string(rd()) + std::to_string(rd());
  fs::path dir = target.parent_path();
  if (dir.empty()) dir = ".";
  return dir / ("." + target.filename().string() + ".tmp-" + tag);
}

}  // namespace

void write_atomically(const fs::path& target, const std::function<void(const fs::path&)>& write,
                      const std::vector<fs::path>& protected_inputs) {
  for (const auto& input : protected_inputs) {
    if (same_path(input, target)) {
      throw Error(target.string(), "", "output path is the input file; refusing to overwrite an input");
    }
  }
  fs::path dir = target.parent_path();
  if (!dir.empty() && !fs::is_directory(dir)) {
    throw Error(target.string(), "", "output directory '" + dir.string() + "' does not exist");
  }
  const fs::path tmp = temporary_sibling(target);
  try {
    write(tmp);
    std::error_code ec;
    if (fs::is_directory(target, ec) && fs::is_directory(tmp, ec)) {
      // rename() cannot replace a non-empty directory: move the old one aside first
      // so that the swap is still a pair of renames.
      const fs::path old = temporary_sibling(target);
      fs::rename(target, old);
      fs::rename(tmp, target);
      fs::remove_all(old, ec);
    } else {
      fs::rename(tmp, target);
    }
  } catch (...) {
    std::error_code ec;
    fs::remove_all(tmp, ec);
    throw;
  }
}

namespace {
void sync_one(const fs::path& p) {
  const int fd = ::open(p.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) throw Error(p.string(), "", std::string("cannot be opened to sync: ") + std::strerror(errno));
  const int rc = ::fsync(fd);
  const int err = errno;
  ::close(fd);
  if (rc != 0) throw Error(p.string(), "", std::string("fsync failed: ") + std::strerror(err));
}
}  // namespace

void sync_to_disk(const fs::path& path) {
  if (fs::is_directory(path))
    for (const auto& e : fs::directory_iterator(path))
      if (e.is_regular_file()) sync_one(e.path());
  sync_one(path);
}

}  // namespace pg
