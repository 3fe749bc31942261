#include "io/pickle.h"

#include <algorithm>
#include <array>
#include <cstring>
#include <unordered_map>

#include "core/error.h"

namespace pg::io {

const PickleNode* PickleNode::get(std::string_view key) const {
  for (auto it = entries.rbegin(); it != entries.rend(); ++it)
    if (it->first && it->first->kind == Kind::Str && it->first->text == key) return it->second.get();
  return nullptr;
}

namespace {

using Kind = PickleNode::Kind;

// Plain data and the tensor-rebuild machinery of torch.save; none of them is
// ever called, they only label Object nodes.
bool allowed(std::string_view m, std::string_view n) {
  static const std::array<std::pair<std::string_view, std::string_view>, 57> list = {{
      {"collections", "OrderedDict"},
      {"torch._utils", "_rebuild_tensor_v2"},
      {"torch._utils", "_rebuild_parameter"},
      {"torch._utils", "_rebuild_parameter_with_state"},
      {"torch", "FloatStorage"},
      {"torch", "DoubleStorage"},
      {"torch", "HalfStorage"},
      {"torch", "BFloat16Storage"},
      {"torch", "LongStorage"},
      {"torch", "IntStorage"},
      {"torch", "ShortStorage"},
      {"torch", "CharStorage"},
      {"torch", "ByteStorage"},
      {"torch", "BoolStorage"},
      {"torch", "UntypedStorage"},
      {"torch.storage", "UntypedStorage"},
      {"torch", "device"},
      {"torch", "Size"},
      {"torch", "float32"},
      {"torch", "float64"},
      {"torch", "float16"},
      {"torch", "bfloat16"},
      {"torch", "int64"},
      {"torch", "int32"},
      {"torch", "int16"},
      {"torch", "int8"},
      {"torch", "uint8"},
      {"torch", "bool"},
      {"numpy.core.multiarray", "scalar"},
      {"numpy._core.multiarray", "scalar"},
      {"numpy.core.multiarray", "_reconstruct"},
      {"numpy._core.multiarray", "_reconstruct"},
      {"numpy", "dtype"},
      {"numpy", "ndarray"},
      {"numpy.dtypes", "Float64DType"},
      {"numpy.dtypes", "Float32DType"},
      {"numpy.dtypes", "Int64DType"},
      {"numpy.dtypes", "Int32DType"},
      {"numpy.dtypes", "BoolDType"},
      {"_codecs", "encode"},
      {"builtins", "set"},
      {"builtins", "frozenset"},
      {"__builtin__", "set"},
      {"__builtin__", "frozenset"},
      {"argparse", "Namespace"},
      {"pathlib", "Path"},
      {"pathlib", "PosixPath"},
      {"pathlib", "WindowsPath"},
      {"pathlib", "PurePosixPath"},
      {"pathlib", "PureWindowsPath"},
      {"pathlib._local", "PosixPath"},
      {"pathlib._local", "WindowsPath"},
      {"pathlib._local", "Path"},
      {"lightning_fabric.utilities.data", "AttributeDict"},
      {"lightning.fabric.utilities.data", "AttributeDict"},
      {"pytorch_lightning.utilities.parsing", "AttributeDict"},
      {"lightning.pytorch.utilities.parsing", "AttributeDict"},
  }};
  return std::any_of(list.begin(), list.end(), [&](const auto& p) { return p.first == m && p.second == n; });
}

// Packages whose globals are refused even as opaque values.
bool denied_package(std::string_view module) {
  const std::string_view top = module.substr(0, module.find('.'));
  static const std::array<std::string_view, 28> deny = {
      "os",     "posix",      "nt",      "subprocess", "builtins", "__builtin__", "sys",
      "shutil", "importlib",  "pickle",  "_pickle",    "socket",   "runpy",       "code",
      "codeop", "ctypes",     "marshal", "types",      "operator", "functools",   "io",
      "pty",    "webbrowser", "torch",   "numpy",      "copyreg",  "copy_reg",    "pydoc"};
  return std::find(deny.begin(), deny.end(), top) != deny.end();
}

PickleValue make(Kind k) {
  auto v = std::make_shared<PickleNode>();
  v->kind = k;
  return v;
}

class Unpickler {
 public:
  Unpickler(std::string_view data, const std::string& file, const std::string& element,
            const UnpickleOptions& o)
      : d_(data), file_(file), element_(element), o_(o) {}

  PickleValue run() {
    while (true) {
      op_pos_ = pos_;
      const auto op = static_cast<unsigned char>(byte());
      if (op == '.') {
        if (stack_.empty() || stack_.size() <= base()) fail("STOP with an empty stack");
        return stack_.back();
      }
      step(op);
    }
  }

 private:
  [[noreturn]] void fail(const std::string& problem) const {
    throw pg::Error(file_, element_, problem + " (pickle byte " + std::to_string(op_pos_) + ")");
  }

  // Every node goes through here, so a hostile pickle cannot turn a few
  // bytes of DUP/GET/EMPTY_LIST into unbounded memory.
  PickleValue node(Kind k) {
    if (++nodes_ > o_.max_nodes) fail("more than " + std::to_string(o_.max_nodes) + " values");
    return make(k);
  }

  // ---- input ----
  void need(uint64_t n) {
    if (n > d_.size() - pos_)
      fail("truncated pickle: needs " + std::to_string(n) + " more bytes, " +
           std::to_string(d_.size() - pos_) + " left");
  }
  char byte() {
    need(1);
    return d_[pos_++];
  }
  uint64_t le(int n) {
    need(static_cast<uint64_t>(n));
    uint64_t v = 0;
    for (int i = n - 1; i >= 0; --i)
      v = (v << 8) | static_cast<unsigned char>(d_[pos_ + static_cast<size_t>(i)]);
    pos_ += static_cast<size_t>(n);
    return v;
  }
  std::string_view take(uint64_t n) {
    if (n > o_.max_allocation) fail("declared length " + std::to_string(n) + " exceeds the limit");
    need(n);
    std::string_view s = d_.substr(pos_, n);
    pos_ += n;
    return s;
  }
  std::string_view line() {
    const size_t end = d_.find('\n', pos_);
    if (end == std::string_view::npos) fail("truncated pickle: unterminated text argument");
    std::string_view s = d_.substr(pos_, end - pos_);
    pos_ = end + 1;
    return s;
  }

  // ---- stack ----
  size_t base() const { return marks_.empty() ? 0 : marks_.back(); }
  PickleValue pop() {
    if (stack_.size() <= base()) fail("stack underflow");
    PickleValue v = std::move(stack_.back());
    stack_.pop_back();
    return v;
  }
  PickleValue& top() {
    if (stack_.size() <= base()) fail("stack underflow");
    return stack_.back();
  }
  std::vector<PickleValue> pop_mark() {
    if (marks_.empty()) fail("no MARK on the stack");
    std::vector<PickleValue> out(
        std::make_move_iterator(stack_.begin() + static_cast<std::ptrdiff_t>(marks_.back())),
        std::make_move_iterator(stack_.end()));
    stack_.resize(marks_.back());
    marks_.pop_back();
    return out;
  }
  void push(PickleValue v) {
    if (stack_.size() > o_.max_allocation / 16) fail("stack too large");
    stack_.push_back(std::move(v));
  }

  // Places `child` under `parent`: freezes the child, updates the depth.
  void adopt(PickleNode& parent, const PickleValue& child) {
    if (child.get() == &parent) fail("an object contains itself (cyclic structure)");
    child->sealed = true;
    parent.depth = std::max(parent.depth, child->depth + 1);
    if (parent.depth > o_.max_depth) fail("nesting deeper than " + std::to_string(o_.max_depth) + " levels");
  }
  void mutable_check(const PickleNode& n, const char* op) const {
    if (n.sealed) fail(std::string(op) + " modifies an object already nested elsewhere (cyclic structure?)");
  }
  PickleValue seq(Kind k, std::vector<PickleValue> items) {
    auto v = make(k);
    for (const auto& it : items) adopt(*v, it);
    v->items = std::move(items);
    return v;
  }
  PickleValue integer(int64_t i) {
    auto v = node(Kind::Int);
    v->integer = i;
    return v;
  }
  PickleValue str(Kind k, std::string_view s) {
    auto v = make(k);
    v->text.assign(s);
    return v;
  }
  PickleValue long_bytes(std::string_view b) {
    auto v = node(Kind::Int);
    if (b.size() <= 8) {
      uint64_t u = 0;
      for (size_t i = b.size(); i-- > 0;) u = (u << 8) | static_cast<unsigned char>(b[i]);
      if (!b.empty() && b.size() < 8 && (static_cast<unsigned char>(b.back()) & 0x80))
        u |= ~uint64_t{0} << (8 * b.size());  // sign-extend
      v->integer = static_cast<int64_t>(u);
    } else {
      v->big_int = true;
      v->text.assign(b);
    }
    return v;
  }

  PickleValue global(std::string_view module, std::string_view name) {
    if (!allowed(module, name) && !(o_.opaque_unknown_globals && !denied_package(module)))
      fail("refusing to unpickle global '" + std::string(module) + "." + std::string(name) +
           "' (not on the allow-list of plain data and tensor types)");
    auto v = node(Kind::Global);
    v->module.assign(module);
    v->name.assign(name);
    return v;
  }

  // REDUCE / NEWOBJ / INST / OBJ: record the call, never make it. A few
  // calls are pure data constructors and are rebuilt as what they return.
  PickleValue call(const PickleValue& callable, const PickleValue& args) {
    if (!callable->is(Kind::Global)) fail("call of a non-global object");
    if (!args->is(Kind::Tuple)) fail("call arguments are not a tuple");
    const std::string& m = callable->module;
    const std::string& n = callable->name;
    if (m == "collections" && n == "OrderedDict" && args->items.empty()) return node(Kind::Dict);
    if ((m == "builtins" || m == "__builtin__") && (n == "set" || n == "frozenset")) {
      if (args->items.empty()) return node(Kind::Set);
      const auto& a = args->items[0];
      if (args->items.size() == 1 && (a->is(Kind::List) || a->is(Kind::Tuple)))
        return seq(Kind::Set, a->items);
      fail("unsupported arguments to " + n);
    }
    if (m == "_codecs" && n == "encode") return latin1(args);
    auto v = node(Kind::Object);
    v->module = m;
    v->name = n;
    for (const auto& a : args->items) adopt(*v, a);
    v->items = args->items;
    return v;
  }
  // _codecs.encode(text, 'latin1') is how protocol 2 spells bytes: each code point is one byte.
  PickleValue latin1(const PickleValue& args) {
    if (args->items.size() != 2 || !args->items[0]->is(Kind::Str) || !args->items[1]->is(Kind::Str) ||
        (args->items[1]->text != "latin1" && args->items[1]->text != "latin-1"))
      fail("unsupported _codecs.encode call");
    const std::string& s = args->items[0]->text;
    auto v = node(Kind::Bytes);
    for (size_t i = 0; i < s.size(); ++i) {
      const auto c = static_cast<unsigned char>(s[i]);
      if (c < 0x80) {
        v->text.push_back(static_cast<char>(c));
      } else if ((c & 0xE0) == 0xC0 && i + 1 < s.size()) {
        const unsigned cp = ((c & 0x1Fu) << 6) | (static_cast<unsigned char>(s[++i]) & 0x3Fu);
        if (cp > 0xFF) fail("_codecs.encode: character beyond latin-1");
        v->text.push_back(static_cast<char>(cp));
      } else {
        fail("_codecs.encode: character beyond latin-1");
      }
    }
    return v;
  }

  void set_items(PickleNode& target, std::vector<PickleValue> kv) {
    if (!target.is(Kind::Dict) && !target.is(Kind::Object)) fail("SETITEM(S) on a non-dict");
    mutable_check(target, "SETITEMS");
    if (kv.size() % 2 != 0) fail("SETITEMS with an odd number of items");
    for (size_t i = 0; i < kv.size(); i += 2) {
      adopt(target, kv[i]);
      adopt(target, kv[i + 1]);
      target.entries.emplace_back(std::move(kv[i]), std::move(kv[i + 1]));
    }
  }
  void append_items(PickleNode& target, std::vector<PickleValue> items, Kind want, const char* op) {
    if (!target.is(want)) fail(std::string(op) + " on the wrong kind of object");
    mutable_check(target, op);
    for (auto& it : items) {
      adopt(target, it);
      target.items.push_back(std::move(it));
    }
  }
  void memo_put(uint64_t idx) {
    if (memo_.size() >= o_.max_memo && memo_.count(idx) == 0) fail("memo too large");
    memo_[idx] = top();
  }
  void memo_get(uint64_t idx) {
    auto it = memo_.find(idx);
    if (it == memo_.end()) fail("memo key " + std::to_string(idx) + " not defined");
    push(it->second);
  }
  int64_t parse_int(std::string_view s) {
    std::string t(s);
    if (!t.empty() && t.back() == 'L') t.pop_back();
    try {
      size_t used = 0;
      const long long v = std::stoll(t, &used);
      if (used != t.size()) fail("bad integer '" + t + "'");
      return v;
    } catch (const std::exception&) {
      fail("integer '" + t + "' outside the 64-bit range or malformed");
    }
  }
  // Protocol 0 text: latin-1 bytes with \\uXXXX / \\UXXXXXXXX escapes, to UTF-8.
  std::string raw_unicode_escape(std::string_view s) {
    std::string out;
    auto put = [&](uint32_t cp) {
      if (cp < 0x80) {
        out.push_back(static_cast<char>(cp));
      } else if (cp < 0x800) {
        out.push_back(static_cast<char>(0xC0 | (cp >> 6)));
        out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
      } else if (cp < 0x10000) {
        out.push_back(static_cast<char>(0xE0 | (cp >> 12)));
        out.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
        out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
      } else if (cp < 0x110000) {
        out.push_back(static_cast<char>(0xF0 | (cp >> 18)));
        out.push_back(static_cast<char>(0x80 | ((cp >> 12) & 0x3F)));
        out.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
        out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
      } else {
        fail("bad code point in protocol-0 text");
      }
    };
    for (size_t i = 0; i < s.size(); ++i) {
      if (s[i] == '\\' && i + 1 < s.size() && (s[i + 1] == 'u' || s[i + 1] == 'U')) {
        const size_t n = s[i + 1] == 'u' ? 4 : 8;
        if (i + 2 + n > s.size()) fail("bad escape in protocol-0 text");
        uint32_t cp = 0;
        for (size_t k = 0; k < n; ++k) {
          const char c = s[i + 2 + k];
          const int v = c >= '0' && c <= '9'   ? c - '0'
                        : c >= 'a' && c <= 'f' ? c - 'a' + 10
                        : c >= 'A' && c <= 'F' ? c - 'A' + 10
                                               : -1;
          if (v < 0) fail("bad escape in protocol-0 text");
          cp = cp * 16 + static_cast<uint32_t>(v);
        }
        put(cp);
        i += 1 + n;
      } else {
        put(static_cast<unsigned char>(s[i]));
      }
    }
    return out;
  }
  std::string_view quoted(std::string_view s) {
    if (s.size() < 2 || (s.front() != '\'' && s.front() != '"') || s.back() != s.front())
      fail("bad quoted string argument");
    s = s.substr(1, s.size() - 2);
    if (s.find('\\') != std::string_view::npos) fail("escaped protocol-0 strings are not supported");
    return s;
  }

  void step(unsigned char op);

  std::string_view d_;
  size_t pos_ = 0, op_pos_ = 0;
  uint64_t nodes_ = 0;
  const std::string& file_;
  const std::string& element_;
  const UnpickleOptions& o_;
  std::vector<PickleValue> stack_;
  std::vector<size_t> marks_;
  std::unordered_map<uint64_t, PickleValue> memo_;
};

void Unpickler::step(unsigned char op) {
  switch (op) {
    case 0x80: {  // PROTO
      const auto v = static_cast<unsigned char>(byte());
      if (v > 5) fail("unsupported pickle protocol " + std::to_string(v));
      return;
    }
    case 0x95: {  // FRAME: framing is only a read-ahead hint; check the length and go on
      const uint64_t n = le(8);
      if (n > d_.size() - pos_)
        fail("truncated pickle: frame of " + std::to_string(n) + " bytes declared, " +
             std::to_string(d_.size() - pos_) + " left");
      return;
    }
    case '(':
      marks_.push_back(stack_.size());
      if (marks_.size() > static_cast<size_t>(o_.max_depth) * 4) fail("too many open MARKs");
      return;
    case '0':
      if (stack_.size() > base())
        stack_.pop_back();
      else
        pop_mark();
      return;
    case '1':
      pop_mark();
      return;
    case '2':
      push(top());
      return;
    case 'N':
      push(node(Kind::None));
      return;
    case 0x88:
    case 0x89: {
      auto v = node(Kind::Bool);
      v->boolean = op == 0x88;
      push(v);
      return;
    }
    case 'J':
      push(integer(static_cast<int32_t>(static_cast<uint32_t>(le(4)))));
      return;
    case 'K':
      push(integer(static_cast<int64_t>(le(1))));
      return;
    case 'M':
      push(integer(static_cast<int64_t>(le(2))));
      return;
    case 'I': {
      const std::string_view s = line();
      if (s == "00" || s == "01") {
        auto v = node(Kind::Bool);
        v->boolean = s == "01";
        push(v);
      } else {
        push(integer(parse_int(s)));
      }
      return;
    }
    case 'L':
      push(integer(parse_int(line())));
      return;
    case 0x8a:
      push(long_bytes(take(le(1))));
      return;
    case 0x8b:
      push(long_bytes(take(le(4))));
      return;
    case 'G': {
      const uint64_t bits = [&] {
        need(8);
        uint64_t b = 0;
        for (int i = 0; i < 8; ++i) b = (b << 8) | static_cast<unsigned char>(d_[pos_++]);
        return b;
      }();
      auto v = node(Kind::Float);
      std::memcpy(&v->real, &bits, 8);
      push(v);
      return;
    }
    case 'F': {
      const std::string s(line());
      char* end = nullptr;
      auto v = node(Kind::Float);
      v->real = std::strtod(s.c_str(), &end);
      if (end != s.c_str() + s.size()) fail("bad float '" + s + "'");
      push(v);
      return;
    }
    case 'X':
      push(str(Kind::Str, take(le(4))));
      return;
    case 0x8c:
      push(str(Kind::Str, take(le(1))));
      return;
    case 0x8d:
      push(str(Kind::Str, take(le(8))));
      return;
    case 'V': {
      push(str(Kind::Str, raw_unicode_escape(line())));
      return;
    }
    case 'S':
      push(str(Kind::Str, quoted(line())));
      return;
    case 'T':
      push(str(Kind::Str, take(le(4))));
      return;
    case 'U':
      push(str(Kind::Str, take(le(1))));
      return;
    case 'B':
      push(str(Kind::Bytes, take(le(4))));
      return;
    case 'C':
      push(str(Kind::Bytes, take(le(1))));
      return;
    case 0x8e:
    case 0x96:
      push(str(Kind::Bytes, take(le(8))));
      return;
    case 0x97:
    case 0x98:
      fail("out-of-band pickle buffers are not supported");
    case ')':
      push(node(Kind::Tuple));
      return;
    case 0x85: {
      auto a = pop();
      push(seq(Kind::Tuple, {a}));
      return;
    }
    case 0x86: {
      auto b = pop(), a = pop();
      push(seq(Kind::Tuple, {a, b}));
      return;
    }
    case 0x87: {
      auto c = pop(), b = pop(), a = pop();
      push(seq(Kind::Tuple, {a, b, c}));
      return;
    }
    case 't':
      push(seq(Kind::Tuple, pop_mark()));
      return;
    case ']':
      push(node(Kind::List));
      return;
    case 'l':
      push(seq(Kind::List, pop_mark()));
      return;
    case '}':
      push(node(Kind::Dict));
      return;
    case 'd': {
      auto v = node(Kind::Dict);
      set_items(*v, pop_mark());
      push(v);
      return;
    }
    case 0x8f:
      push(node(Kind::Set));
      return;
    case 0x91:
      push(seq(Kind::Set, pop_mark()));
      return;
    case 'a': {
      auto v = pop();
      append_items(*top(), {v}, Kind::List, "APPEND");
      return;
    }
    case 'e': {
      auto items = pop_mark();
      append_items(*top(), std::move(items), Kind::List, "APPENDS");
      return;
    }
    case 0x90: {
      auto items = pop_mark();
      append_items(*top(), std::move(items), Kind::Set, "ADDITEMS");
      return;
    }
    case 's': {
      auto v = pop(), k = pop();
      set_items(*top(), {k, v});
      return;
    }
    case 'u': {
      auto kv = pop_mark();
      set_items(*top(), std::move(kv));
      return;
    }
    case 'c': {
      const std::string module(line());
      push(global(module, line()));
      return;
    }
    case 0x93: {
      auto name = pop(), module = pop();
      if (!module->is(Kind::Str) || !name->is(Kind::Str)) fail("STACK_GLOBAL with non-string operands");
      push(global(module->text, name->text));
      return;
    }
    case 0x82:
    case 0x83:
    case 0x84:
      fail("pickle extension codes (EXT1/2/4) are not supported");
    case 'R': {
      auto args = pop();
      auto callable = pop();
      push(call(callable, args));
      return;
    }
    case 0x81: {
      auto args = pop();
      auto cls = pop();
      push(call(cls, args));
      return;
    }
    case 0x92: {
      auto kwargs = pop(), args = pop(), cls = pop();
      if (!kwargs->is(Kind::Dict) || !kwargs->entries.empty())
        fail("NEWOBJ_EX with keyword arguments is not supported");
      push(call(cls, args));
      return;
    }
    case 'i': {
      const std::string module(line());
      auto cls = global(module, line());
      push(call(cls, seq(Kind::Tuple, pop_mark())));
      return;
    }
    case 'o': {
      auto items = pop_mark();
      if (items.empty()) fail("OBJ without a class");
      auto cls = items.front();
      items.erase(items.begin());
      push(call(cls, seq(Kind::Tuple, std::move(items))));
      return;
    }
    case 'b': {
      auto state = pop();
      PickleNode& obj = *top();
      if (!obj.is(Kind::Object) && !obj.is(Kind::Dict))
        fail("BUILD on an object that is not a rebuilt global");
      mutable_check(obj, "BUILD");
      if (obj.state) fail("BUILD applied twice to one object");
      adopt(obj, state);
      obj.state = state;
      return;
    }
    case 'Q': {
      auto pid = pop();
      auto v = node(Kind::Persistent);
      if (pid->is(Kind::Tuple)) {
        for (const auto& it : pid->items) adopt(*v, it);
        v->items = pid->items;
      } else {
        adopt(*v, pid);
        v->items = {pid};
      }
      push(v);
      return;
    }
    case 'P': {
      auto v = node(Kind::Persistent);
      v->items = {str(Kind::Str, line())};
      push(v);
      return;
    }
    case 'p':
      memo_put(static_cast<uint64_t>(parse_int(line())));
      return;
    case 'q':
      memo_put(le(1));
      return;
    case 'r':
      memo_put(le(4));
      return;
    case 0x94:
      memo_put(memo_.size());
      return;
    case 'g':
      memo_get(static_cast<uint64_t>(parse_int(line())));
      return;
    case 'h':
      memo_get(le(1));
      return;
    case 'j':
      memo_get(le(4));
      return;
    default: {
      char hex[8];
      std::snprintf(hex, sizeof hex, "0x%02x", op);
      fail(std::string("unknown pickle opcode ") + hex);
    }
  }
}

}  // namespace

bool pickle_global_allowed(std::string_view module, std::string_view name) {
  return allowed(module, name);
}

PickleValue unpickle(std::string_view data, const std::string& file, const std::string& element,
                     const UnpickleOptions& options) {
  return Unpickler(data, file, element, options).run();
}

}  // namespace pg::io
