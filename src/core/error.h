// The one error type of the project: every failure a user can cause names the
// file, the element inside it and the problem, so the CLI can print one line.
#pragma once

#include <stdexcept>
#include <string>

namespace pg {

class Error : public std::runtime_error {
 public:
  Error(std::string file, std::string element, std::string problem)
      : std::runtime_error(format(file, element, problem)),
        file_(std::move(file)),
        element_(std::move(element)),
        problem_(std::move(problem)) {}

  const std::string& file() const { return file_; }
  const std::string& element() const { return element_; }
  const std::string& problem() const { return problem_; }

 private:
  static std::string format(const std::string& file, const std::string& element, const std::string& problem) {
    std::string out = file.empty() ? std::string("<input>") : file;
    if (!element.empty()) out += ": " + element;
    out += ": " + problem;
    return out;
  }

  std::string file_;
  std::string element_;
  std::string problem_;
};

}  // namespace pg
