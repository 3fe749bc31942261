// The project's one random number generator: xoshiro256** (Blackman & Vigna,
// https://prng.di.unimi.it/xoshiro256starstar.c) seeded through splitmix64
// (https://prng.di.unimi.it/splitmix64.c), as its authors recommend.
//
// Why not <random>: the std engines are portable but the std distributions
// (uniform_int_distribution, shuffle, ...) are implementation-defined, so the
// same seed would give different tables with libstdc++ and libc++. Every
// draw here is specified bit for bit:
//   next()      xoshiro256** output
//   below(n)    Lemire's nearly-divisionless unbiased bounded integer
//               ("Fast Random Integer Generation in an Interval", 2019)
//   uniform()   (next() >> 11) * 2^-53, a double in [0, 1)
//   shuffle()   Fisher-Yates from the back: for i = n-1 .. 1, swap(v[i], v[below(i+1)])
// Components that need independent streams (e.g. one per chunk, so results
// do not depend on the thread count) derive them with jump() or with a seed
// of their own; they never share one generator across threads.
#pragma once

#include <array>
#include <cstdint>
#include <limits>
#include <span>
#include <stdexcept>
#include <utility>

namespace pg {

// One step of splitmix64: advances `state` and returns the mixed value.
inline uint64_t splitmix64(uint64_t& state) {
  uint64_t z = (state += 0x9e3779b97f4a7c15ULL);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}

class Rng {
 public:
  // Satisfies std::uniform_random_bit_generator (for code that must hand an
  // engine to a std algorithm whose result need not be reproducible).
  using result_type = uint64_t;
  static constexpr result_type min() { return 0; }
  static constexpr result_type max() { return std::numeric_limits<uint64_t>::max(); }

  // State = four consecutive splitmix64 outputs from `seed`. splitmix64 is a
  // bijection of its counter, so at most one word can be zero and the
  // forbidden all-zero state cannot occur.
  explicit Rng(uint64_t seed) {
    uint64_t sm = seed;
    for (auto& word : s_) word = splitmix64(sm);
  }

  result_type operator()() { return next(); }

  uint64_t next() {
    const uint64_t result = rotl(s_[1] * 5, 7) * 9;
    const uint64_t t = s_[1] << 17;
    s_[2] ^= s_[0];
    s_[3] ^= s_[1];
    s_[1] ^= s_[2];
    s_[0] ^= s_[3];
    s_[2] ^= t;
    s_[3] = rotl(s_[3], 45);
    return result;
  }

  // Uniform integer in [0, n), n > 0, without modulo bias: the high word of
  // next() * n, rejecting the (rare) low words below 2^64 mod n.
  uint64_t below(uint64_t n) {
    if (n == 0) throw std::invalid_argument("pg::Rng::below(0)");
    uint64_t x = next();
    u128 m = static_cast<u128>(x) * n;
    uint64_t low = static_cast<uint64_t>(m);
    if (low < n) {
      const uint64_t threshold = (0 - n) % n;  // 2^64 mod n
      while (low < threshold) {
        x = next();
        m = static_cast<u128>(x) * n;
        low = static_cast<uint64_t>(m);
      }
    }
    return static_cast<uint64_t>(m >> 64);
  }

  // Uniform double in [0, 1) with 53 random bits.
  double uniform() { return static_cast<double>(next() >> 11) * 0x1.0p-53; }

  // Uniformly random permutation of `v` (Fisher-Yates, from the back).
  template <typename T>
  void shuffle(std::span<T> v) {
    for (size_t i = v.size(); i > 1; --i) {
      const size_t j = static_cast<size_t>(below(i));
      using std::swap;
      swap(v[i - 1], v[j]);
    }
  }

  // Advances the state by 2^128 steps: 2^128 non-overlapping streams from one seed.
  void jump() {
    static constexpr std::array<uint64_t, 4> kJump = {0x180ec6d33cfd0abaULL, 0xd5a61266f0c9392cULL,
                                                      0xa9582618e03fc9aaULL, 0x39abdc4529b1661cULL};
    std::array<uint64_t, 4> acc{};
    for (const uint64_t word : kJump) {
      for (int b = 0; b < 64; ++b) {
        if (word & (uint64_t{1} << b))
          for (size_t k = 0; k < 4; ++k) acc[k] ^= s_[k];
        next();
      }
    }
    s_ = acc;
  }

  const std::array<uint64_t, 4>& state() const { return s_; }

 private:
  __extension__ typedef unsigned __int128 u128;  // GCC/Clang; __extension__ silences -Wpedantic

  static uint64_t rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }

  std::array<uint64_t, 4> s_{};
};

}  // namespace pg
