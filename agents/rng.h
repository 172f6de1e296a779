// A small, fast, seedable random stream (xoshiro256**) and the draws the
// agents and the simulator need. No global state: every entity owns its own
// stream, derived from the scenario seed and the entity's id by SplitMix64,
// so an entity's draws do not depend on what else is simulated.
//
// Thread-safety: none; one stream per entity.
#ifndef CELLSIM_AGENTS_RNG_H_
#define CELLSIM_AGENTS_RNG_H_

#include <cmath>
#include <cstdint>

namespace cellsim::agents {

inline uint64_t splitmix64(uint64_t* state) {
  uint64_t z = (*state += 0x9e3779b97f4a7c15ULL);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}

// Entity ids are namespaced by kind so a member and a link never share one.
enum class StreamKind : uint64_t {
  kMember = 1,
  kLinkUp = 2,
  kLinkDown = 3,
  kCell = 4,
  kServer = 5,
  kOutage = 6,
  // A member's agent at run time (its plan is drawn from kMember). Derived
  // as release 1 derived it, from kMember with the id's top bit set, so that
  // runs stay comparable with earlier results.
  kAgent = 7,
  // One packet of a member's link in packet-level live mode (netem/): the
  // stream of packet k of (member, direction) is Rng(packet_seed(seed, k),
  // kPacket, member * 2 + direction); see netem/impairment.h.
  kPacket = 8,
};

class Rng {
 public:
  // The stream of entity (kind, id) in a run seeded with `seed`.
  // REQUIRES: for kAgent, id < 2^63 (a member number).
  Rng(uint64_t seed, StreamKind kind, uint64_t id) {
    if (kind == StreamKind::kAgent) {
      kind = StreamKind::kMember;
      id |= uint64_t{1} << 63;
    }
    uint64_t sm = seed ^ (static_cast<uint64_t>(kind) * 0xd1b54a32d192ed03ULL);
    sm = splitmix64(&sm) ^ id;
    for (auto& w : s_) w = splitmix64(&sm);
  }
  explicit Rng(uint64_t seed) : Rng(seed, StreamKind::kCell, 0) {}

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

  // Uniform in [0, 1).
  double uniform() { return static_cast<double>(next() >> 11) * 0x1.0p-53; }
  double uniform(double lo, double hi) { return lo + (hi - lo) * uniform(); }
  bool bernoulli(double p) { return uniform() < p; }
  // Uniform integer in [0, n). REQUIRES: n > 0.
  uint64_t below(uint64_t n) { return static_cast<uint64_t>(uniform() * static_cast<double>(n)); }
  double exponential(double mean) { return -mean * std::log1p(-uniform()); }
  double normal(double mean, double stddev) {
    // Box–Muller; one value per call keeps the stream's use simple to reason about.
    const double u1 = 1.0 - uniform();
    const double u2 = uniform();
    return mean + stddev * std::sqrt(-2.0 * std::log(u1)) * std::cos(6.283185307179586 * u2);
  }

 private:
  static uint64_t rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }
  uint64_t s_[4];
};

}  // namespace cellsim::agents

#endif  // CELLSIM_AGENTS_RNG_H_
