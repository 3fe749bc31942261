// The shortest decimal text that reads back as exactly the same double
// (std::to_chars), as Python's repr prints it: how medians and other values
// are written to text files so that a round trip loses nothing.
#pragma once

#include <charconv>
#include <string>

namespace pg {

inline std::string shortest_text(double v) {
  char buf[32];
  const auto r = std::to_chars(buf, buf + sizeof(buf), v);
  return std::string(buf, r.ptr);
}

}  // namespace pg
