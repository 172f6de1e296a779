#include "server/engine/text.h"

#include <cstdint>
#include <map>

#include <google/protobuf/unknown_field_set.h>

namespace cellsim::engine {
namespace {

namespace pb = ::google::protobuf;

// Length of the UTF-8 sequence starting at s[i], or 0 if it is not a
// well-formed one.
size_t sequence_length(std::string_view s, size_t i) {
  const auto byte = [&](size_t k) { return static_cast<uint8_t>(s[k]); };
  const uint8_t b0 = byte(i);
  if (b0 < 0x80) return 1;
  size_t n = 0;
  uint8_t lo = 0x80, hi = 0xBF;  // allowed range of the second byte
  if (b0 >= 0xC2 && b0 <= 0xDF) {
    n = 2;
  } else if (b0 >= 0xE0 && b0 <= 0xEF) {
    n = 3;
    if (b0 == 0xE0) lo = 0xA0;  // no overlongs
    if (b0 == 0xED) hi = 0x9F;  // no surrogates
  } else if (b0 >= 0xF0 && b0 <= 0xF4) {
    n = 4;
    if (b0 == 0xF0) lo = 0x90;  // no overlongs
    if (b0 == 0xF4) hi = 0x8F;  // nothing above U+10FFFF
  } else {
    return 0;
  }
  if (i + n > s.size()) return 0;
  if (byte(i + 1) < lo || byte(i + 1) > hi) return 0;
  for (size_t k = 2; k < n; ++k) {
    if ((byte(i + k) & 0xC0) != 0x80) return 0;
  }
  return n;
}

bool find_in(const pb::Descriptor* type, std::string_view bytes, const std::string& prefix,
             int depth, std::string* path) {
  if (depth > kMaxTextFieldDepth) return false;
  pb::UnknownFieldSet fields;
  if (!fields.ParseFromArray(bytes.data(), static_cast<int>(bytes.size()))) return false;
  std::map<int, int> seen;  // field number → occurrences so far (repeated fields)
  for (int i = 0; i < fields.field_count(); ++i) {
    const pb::UnknownField& f = fields.field(i);
    const int index = seen[f.number()]++;
    if (f.type() != pb::UnknownField::TYPE_LENGTH_DELIMITED) continue;
    const pb::FieldDescriptor* fd = type->FindFieldByNumber(f.number());
    if (fd == nullptr) continue;
    std::string name = prefix.empty() ? fd->name() : prefix + "." + fd->name();
    if (fd->is_repeated()) name += "[" + std::to_string(index) + "]";
    if (fd->type() == pb::FieldDescriptor::TYPE_STRING) {
      if (!is_valid_utf8(f.length_delimited())) {
        *path = name;
        return true;
      }
    } else if (fd->type() == pb::FieldDescriptor::TYPE_MESSAGE) {
      if (find_in(fd->message_type(), f.length_delimited(), name, depth + 1, path)) return true;
    }
  }
  return false;
}

}  // namespace

bool is_valid_utf8(std::string_view s) {
  for (size_t i = 0; i < s.size();) {
    const size_t n = sequence_length(s, i);
    if (n == 0) return false;
    i += n;
  }
  return true;
}

std::string truncate_utf8(std::string_view s, size_t max_bytes) {
  if (s.size() <= max_bytes) return std::string(s);
  size_t end = max_bytes;
  // Step back over continuation bytes to the lead byte of the character
  // that straddles the cut, and cut before it (at most 3 steps).
  while (end > 0 && (static_cast<uint8_t>(s[end]) & 0xC0) == 0x80) --end;
  return std::string(s.substr(0, end));
}

bool find_invalid_text_field(const pb::Descriptor* type, std::string_view bytes,
                             std::string* path) {
  return find_in(type, bytes, "", 0, path);
}

}  // namespace cellsim::engine
