// Text rules for what the engine receives and sends: proto3 `string` fields
// must hold valid UTF-8, or the peer's parser refuses the whole frame. So
// the engine (a) refuses input whose text is not UTF-8, naming the field, and
// (b) shortens over-long texts only at a character boundary.
//
// Pure functions; thread-safe.
#ifndef CELLSIM_SERVER_ENGINE_TEXT_H_
#define CELLSIM_SERVER_ENGINE_TEXT_H_

#include <cstddef>
#include <string>
#include <string_view>

#include <google/protobuf/descriptor.h>

namespace cellsim::engine {

// Whether `s` is well-formed UTF-8 (RFC 3629: no overlongs, no surrogates,
// nothing above U+10FFFF).
bool is_valid_utf8(std::string_view s);

// The longest prefix of `s` of at most `max_bytes` bytes that does not end
// inside a multi-byte character. REQUIRES: s is valid UTF-8 (then so is the
// result). An invalid tail is cut back to the last lead byte, so the result
// is never longer than max_bytes either way.
std::string truncate_utf8(std::string_view s, size_t max_bytes);

// For a serialized message of type `type` that failed to parse: finds the
// first `string` field (depth first, nested messages included) whose bytes
// are not UTF-8 and writes its path ("open_meeting.agenda[2]") to *path.
// Returns false when no such field explains the failure (the bytes are not
// valid wire format, or something else is wrong): then the frame is simply
// malformed. Bounded by kMaxTextFieldDepth levels of nesting.
inline constexpr int kMaxTextFieldDepth = 8;
bool find_invalid_text_field(const google::protobuf::Descriptor* type, std::string_view bytes,
                             std::string* path);

}  // namespace cellsim::engine

#endif  // CELLSIM_SERVER_ENGINE_TEXT_H_
