// The allow-list unpickler: Python's own pickles of plain values in every
// protocol against Python's description of them, and hostile pickles
// (written by hand, byte by byte) that must be refused with one-line errors.
#include "io/pickle.h"

#include <fstream>

#include "test_support.h"

namespace {

using pg::io::unpickle;
using pg::io::UnpickleOptions;
using pg::test::error_of;

nlohmann::json render(const std::string& bytes, const UnpickleOptions& o = {}) {
  return pg::io::pickle_to_json(*unpickle(bytes, "t.pkl", "data.pkl", o), "t.pkl", "data.pkl");
}
std::string error(const std::string& bytes, const UnpickleOptions& o = {}) {
  return error_of([&] { unpickle(bytes, "t.pkl", "data.pkl", o); });
}
// A byte string from a literal, embedded NULs included.
template <size_t N>
std::string s(const char (&bytes)[N]) {
  return std::string(bytes, N - 1);
}

// Python pickles one value in protocols 0..5 and writes, beside each, the
// JSON rendering pickle_to_json promises (computed in Python).
const char* kScript = R"PY(
import json, pickle, sys, collections
out = sys.argv[1]
shared = [7]
value = {"i": 1, "neg": -300, "i32": -2**31, "i64": 2**63 - 1, "f": 1.5, "nan": float("nan"),
         "s": "h\u00e9llo \u4e16\n\\", "b": b"\x00\xff\n", "t": (1, 2, 3), "t1": (None,), "l": [None, True, False],
         "nested": {"k": [1, [2, [3]]], 5: "int key"}, "shared": [shared, shared], "set": {3},
         "od": collections.OrderedDict([("z", 1), ("a", 2)]), "empty": ((), [], {})}
def render(v):
    if isinstance(v, bool) or v is None or isinstance(v, str): return v
    if isinstance(v, int): return v
    if isinstance(v, float): return "nan" if v != v else v
    if isinstance(v, bytes): return {"__bytes__": v.hex()}
    if isinstance(v, (tuple, list, set)): return [render(x) for x in v]
    if isinstance(v, dict): return {(k if isinstance(k, str) else json.dumps(k)): render(x) for k, x in v.items()}
    raise TypeError(v)
for p in range(6):
    with open(f"{out}/p{p}.pkl", "wb") as f: pickle.dump(value, f, protocol=p)
big = {"big": 2**70, "negbig": -(2**70), "l8": -(2**63)}
with open(f"{out}/big.pkl", "wb") as f: pickle.dump(big, f, protocol=2)
with open(f"{out}/expected.json", "w") as f: json.dump(render(value), f)
)PY";

// Real count checkpoints pickle whole AnnData objects into hyper_parameters:
// rendering them is bounded and never fails the read.
TEST(Pickle, HugeValuesAreTruncatedNotFatal) {
  const auto dir = pg::test::temp_dir();
  std::ofstream(dir / "gen.py")
      << "import pickle, sys\n"
         "v = {'blob': bytes(10000), 'small': b'ab', 'many': list(range(1100000)), 'after': 1}\n"
         "open(sys.argv[1], 'wb').write(pickle.dumps(v, protocol=4))\n";
  const auto pkl = (dir / "big.pkl").string();
  const auto r = pg::test::run_command(pg::test::python() + " " + (dir / "gen.py").string() + " " + pkl);
  ASSERT_EQ(r.exit_code, 0) << r.output;
  const std::string bytes = pg::test::read_text(pkl);
  const auto j = pg::io::pickle_to_json(*unpickle(bytes, "big.pkl", "data.pkl"), "big.pkl", "data.pkl");
  EXPECT_EQ(j["blob"], nlohmann::json::parse(R"({"__bytes_omitted__": 10000})"));
  EXPECT_EQ(j["small"], nlohmann::json::parse(R"({"__bytes__": "6162"})"));
  ASSERT_TRUE(j["many"].is_array());
  EXPECT_LT(j["many"].size(), 1100000u);
  EXPECT_EQ(j["many"].back(), "__truncated__");
  EXPECT_EQ(j["many"][1000], 1000);
}

TEST(Pickle, EveryProtocolMatchesPython) {
  const auto dir = pg::test::temp_dir();
  std::ofstream(dir / "gen.py") << kScript;
  const auto r =
      pg::test::run_command(pg::test::python() + " " + (dir / "gen.py").string() + " " + dir.string());
  ASSERT_EQ(r.exit_code, 0) << r.output;
  std::ifstream in(dir / "expected.json");
  const nlohmann::json expected = nlohmann::json::parse(in);
  for (int p = 0; p <= 5; ++p) {
    const std::string bytes = pg::test::read_text(dir / ("p" + std::to_string(p) + ".pkl"));
    EXPECT_EQ(render(bytes), expected) << "protocol " << p;
    // Every truncation is a clean error, never a crash or a partial value.
    for (size_t n = 0; n < bytes.size(); ++n)
      ASSERT_NE(error(bytes.substr(0, n)).find("t.pkl: data.pkl: "), std::string::npos) << p << " " << n;
  }
  // Deterministic byte flips of a real pickle: each either parses or is a
  // pg::Error (anything else escapes and fails the test; ASan catches the rest).
  const std::string p2 = pg::test::read_text(dir / "p2.pkl");
  uint64_t state = 12345;
  for (int round = 0; round < 3000; ++round) {
    std::string m = p2;
    for (int k = 0; k < 1 + round % 4; ++k) {
      state = state * 6364136223846793005ULL + 1442695040888963407ULL;
      m[(state >> 33) % m.size()] = static_cast<char>(state >> 13);
    }
    try {
      const auto v = unpickle(m, "t.pkl", "data.pkl");
      pg::io::pickle_to_json(*v, "t.pkl", "data.pkl");
    } catch (const pg::Error&) {
    }
  }
  // The memo shares one node between the two references.
  const auto v = unpickle(pg::test::read_text(dir / "p4.pkl"), "t.pkl", "data.pkl");
  const auto& shared = v->get("shared")->items;
  EXPECT_EQ(shared[0].get(), shared[1].get());
  // Integers beyond int64 keep their two's-complement bytes.
  EXPECT_EQ(render(pg::test::read_text(dir / "big.pkl")),
            nlohmann::json::parse(R"({"big": {"__bigint_le__": "000000000000000040"},
                                      "negbig": {"__bigint_le__": "0000000000000000c0"},
                                      "l8": -9223372036854775808})"));
}

TEST(Pickle, RefusesGlobalsOffTheAllowList) {
  // Protocol 0: os.system('echo hi') via GLOBAL + REDUCE.
  EXPECT_EQ(
      error("cos\nsystem\n(S'echo hi'\ntR."),
      "t.pkl: data.pkl: refusing to unpickle global 'os.system' (not on the allow-list of plain data and "
      "tensor types) (pickle byte 0)");
  // Protocol 4: builtins.eval via STACK_GLOBAL.
  const std::string eval =
      s("\x80\x04\x8c\x08"
        "builtins\x8c\x04"
        "eval\x93\x8c\x01x\x85R.");
  EXPECT_NE(error(eval).find("refusing to unpickle global 'builtins.eval'"), std::string::npos);
  EXPECT_NE(error("csubprocess\nPopen\n.").find("'subprocess.Popen'"), std::string::npos);
  EXPECT_NE(error("(S'ls'\niposix\nsystem\n.").find("'posix.system'"), std::string::npos);  // INST
  // Opaque mode turns unknown classes into inert values, never dangerous modules.
  UnpickleOptions opaque;
  opaque.opaque_unknown_globals = true;
  EXPECT_NE(error("cos\nsystem\n(S'echo hi'\ntR.", opaque).find("'os.system'"), std::string::npos);
  EXPECT_NE(error(eval, opaque).find("'builtins.eval'"), std::string::npos);
  EXPECT_EQ(render("canndata._core.anndata\nAnnData\n)R.", opaque),
            nlohmann::json::parse(R"({"__opaque__": "anndata._core.anndata.AnnData"})"));
  // Allowed globals are recorded, not called.
  EXPECT_EQ(render("cargparse\nNamespace\n)R}S'a'\nK\x01sb."),
            nlohmann::json::parse(R"({"__opaque__": "argparse.Namespace", "state": {"a": 1}})"));
  EXPECT_NE(error(s("\x80\x02\x82\x01.")).find("extension codes"), std::string::npos);
}

TEST(Pickle, BoundsNestingSizesAndCycles) {
  // 2000 nested lists: [[[...]]] built with APPEND.
  const std::string deep = "\x80\x02" + std::string(2000, ']') + std::string(1999, 'a') + ".";
  EXPECT_NE(error(deep).find("nesting deeper than 1000 levels"), std::string::npos);
  UnpickleOptions roomy;
  roomy.max_depth = 5000;
  EXPECT_EQ(unpickle(deep, "t.pkl", "data.pkl", roomy)->depth, 1999);
  EXPECT_NE(error(std::string(100000, '(')).find("too many open MARKs"), std::string::npos);
  // A frame and a bytes object declaring far more than the input holds.
  EXPECT_NE(error(s("\x80\x04\x95\xff\xff\xff\xff\xff\xff\xff\x7f")).find("truncated pickle: frame of"),
            std::string::npos);
  EXPECT_NE(error(s("\x80\x04\x8e\x00\x00\x00\x00\x00\x00\x00\x40")).find("exceeds the limit"),
            std::string::npos);
  EXPECT_NE(error(s("\x80\x04X\xff\xff\xff\x7f"
                    "abc"))
                .find("truncated pickle: needs 2147483647 more bytes"),
            std::string::npos);
  // Many values from few bytes are capped.
  UnpickleOptions small;
  small.max_nodes = 1000;
  EXPECT_NE(error(std::string(2000, ')') + ".", small).find("more than 1000 values"), std::string::npos);
  // A list containing itself, and two lists containing each other.
  EXPECT_NE(error(s("\x80\x02]q\x00h\x00"
                    "a."))
                .find("cyclic"),
            std::string::npos);
  EXPECT_NE(error(s("\x80\x02]q\x00]q\x01h\x00"
                    "a0h\x01"
                    "a."))
                .find("cyclic"),
            std::string::npos);
  // Malformed streams.
  EXPECT_NE(error("").find("truncated pickle"), std::string::npos);
  EXPECT_NE(error("a.").find("stack underflow"), std::string::npos);
  EXPECT_NE(error(s("\x80\x02h\x05.")).find("memo key 5 not defined"), std::string::npos);
  EXPECT_NE(error(s("\x80\x02\xff")).find("unknown pickle opcode 0xff"), std::string::npos);
  EXPECT_NE(error(s("\x80\x07N.")).find("unsupported pickle protocol 7"), std::string::npos);
}

}  // namespace
