// lookup(): the value a key maps to in a small constant table of pairs, the
// one way report/ turns an enum or a metric name into a name or a Msg
// (report/strings.h).
//
// Used only inside report/.
//
// Thread-safety: pure function.
#ifndef CELLSIM_REPORT_LOOKUP_H_
#define CELLSIM_REPORT_LOOKUP_H_

#include <cstddef>
#include <utility>

namespace cellsim::report {

// The value of the first pair in `table` whose key == `key`, else
// `otherwise`. Keys compare with ==: for string keys, pass `key` as a
// std::string (two const char* compare as pointers).
template <typename K, typename V, size_t N, typename Key>
V lookup(const std::pair<K, V> (&table)[N], const Key& key, V otherwise) {
  for (const auto& [k, v] : table) {
    if (k == key) return v;
  }
  return otherwise;
}

}  // namespace cellsim::report

#endif  // CELLSIM_REPORT_LOOKUP_H_
