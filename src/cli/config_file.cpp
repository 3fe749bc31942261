#include "cli/config_file.h"

#include <algorithm>
#include <cctype>
#include <fstream>

#include "core/error.h"

namespace pg::cli {

namespace {

struct Item {
  std::string section, key;
  std::vector<std::string> values;
};

// The TOML subset options need: [table] headers, `key = value` with basic
// strings ("..." with \" \\ \t \n escapes), literal strings ('...'), numbers,
// booleans and one-line arrays of those; # comments outside strings.
// (CLI11 2.1's reader cuts values at a '#' even inside quotes: "LPS#1h".)
class TomlLine {
 public:
  TomlLine(const std::string& text, const std::string& file, int line) : s_(text), file_(file), line_(line) {}

  void skip_space() {
    while (p_ < s_.size() && (s_[p_] == ' ' || s_[p_] == '\t')) ++p_;
  }
  bool done() {
    skip_space();
    return p_ >= s_.size() || s_[p_] == '#';
  }
  bool eat(char c) {
    skip_space();
    if (p_ < s_.size() && s_[p_] == c) {
      ++p_;
      return true;
    }
    return false;
  }
  std::string bare() {
    skip_space();
    const size_t b = p_;
    while (p_ < s_.size() && (std::isalnum(static_cast<unsigned char>(s_[p_])) || s_[p_] == '-' ||
                              s_[p_] == '_' || s_[p_] == '.' || s_[p_] == '+')) {
      ++p_;
    }
    if (b == p_) fail("expected a key or a value");
    return s_.substr(b, p_ - b);
  }
  std::string scalar() {
    skip_space();
    if (p_ < s_.size() && (s_[p_] == '"' || s_[p_] == '\'')) return quoted(s_[p_++]);
    return bare();
  }
  [[noreturn]] void fail(const std::string& why) const {
    throw Error(file_, "line " + std::to_string(line_), why + " (TOML config)");
  }

 private:
  std::string quoted(char q) {
    std::string out;
    while (p_ < s_.size() && s_[p_] != q) {
      char c = s_[p_++];
      if (q == '"' && c == '\\' && p_ < s_.size()) {
        c = s_[p_++];
        c = c == 't' ? '\t' : c == 'n' ? '\n' : c;
      }
      out += c;
    }
    if (p_ >= s_.size()) fail("unterminated string");
    ++p_;
    return out;
  }
  const std::string& s_;
  const std::string& file_;
  int line_;
  size_t p_ = 0;
};

std::vector<Item> parse_toml(std::istream& in, const std::string& file) {
  std::vector<Item> items;
  std::string section, text;
  for (int line = 1; std::getline(in, text); ++line) {
    if (!text.empty() && text.back() == '\r') text.pop_back();
    TomlLine t(text, file, line);
    if (t.done()) continue;
    if (t.eat('[')) {
      section = t.bare();
      if (!t.eat(']') || !t.done()) t.fail("malformed [table] header");
      continue;
    }
    Item item{section, t.bare(), {}};
    if (!t.eat('=')) t.fail("expected '=' after '" + item.key + "'");
    if (t.eat('[')) {
      bool closed = t.eat(']');
      while (!closed) {
        item.values.push_back(t.scalar());
        const bool comma = t.eat(',');
        closed = t.eat(']');  // also after a trailing comma
        if (!comma && !closed) t.fail("expected ',' or ']' in the array of '" + item.key + "'");
      }
    } else {
      item.values.push_back(t.scalar());
    }
    if (!t.done()) t.fail("unexpected text after the value of '" + item.key + "'");
    items.push_back(std::move(item));
  }
  return items;
}

bool given(const std::vector<std::string>& args, const std::string& name) {
  const std::string flag = "--" + name;
  return std::any_of(args.begin(), args.end(),
                     [&](const std::string& a) { return a == flag || a.rfind(flag + "=", 0) == 0; });
}

}  // namespace

std::vector<std::string> expand_config(const std::vector<std::string>& args) {
  std::string path;
  for (size_t i = 0; i < args.size(); ++i) {
    if (args[i] == "--config" && i + 1 < args.size()) path = args[i + 1];
    if (args[i].rfind("--config=", 0) == 0) path = args[i].substr(9);
  }
  if (path.empty()) return args;
  const std::string& command = args.front();
  std::ifstream in(path);
  if (!in) throw Error(path, "", "cannot read the config file");
  std::vector<std::string> out = args;
  for (const auto& item : parse_toml(in, path)) {
    if (!item.section.empty() && item.section != command) continue;
    if (item.key == "config" || given(args, item.key)) continue;
    if (item.values.size() == 1) {
      out.push_back("--" + item.key + "=" + item.values.front());
    } else if (!item.values.empty()) {
      out.push_back("--" + item.key);
      out.insert(out.end(), item.values.begin(), item.values.end());
    }
  }
  return out;
}

}  // namespace pg::cli
