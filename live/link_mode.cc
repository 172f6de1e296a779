#include "live/link_mode.h"

#include "netem/netns.h"
#include "proto/assert.h"

namespace cellsim::live {

const char* link_mode_name(LinkMode mode) {
  return mode == LinkMode::kPacket ? "packet" : "frame";
}

bool parse_link_mode(std::string_view text, LinkMode* mode) {
  if (text == "frame") {
    *mode = LinkMode::kFrame;
  } else if (text == "packet") {
    *mode = LinkMode::kPacket;
  } else {
    return false;
  }
  return true;
}

bool choose_link_mode(std::optional<LinkMode> requested, LinkModeChoice* choice,
                      std::string* error) {
  CELLSIM_ASSERT(choice != nullptr && error != nullptr);
  *choice = LinkModeChoice{};
  if (requested == LinkMode::kFrame) return true;
  std::string why;
  const bool available = netem::packet_mode_available(&why);
  if (requested == LinkMode::kPacket) {
    if (!available) {
      *error = "--link packet: " + why;
      return false;
    }
    choice->mode = LinkMode::kPacket;
    return true;
  }
  if (available) {
    choice->mode = LinkMode::kPacket;
  } else {
    choice->fallback_reason = "packet mode unavailable (" + why + "); using --link frame";
  }
  return true;
}

}  // namespace cellsim::live
