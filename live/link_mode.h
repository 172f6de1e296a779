// How live mode impairs the members' links (issue 11):
//
//   kFrame   today's mode: the driver holds each whole frame for the delay
//            host/link.h's LinkDirection gives it (the simulator's own
//            link model, on the steady clock), over loopback TCP.
//   kPacket  the agents' sockets in one network namespace, cellmeetd in
//            another, and netem/tun_bridge.h's emulator between them
//            impairing every IP packet; the kernel's TCP does the rest.
//
// choose_link_mode() turns a request into a mode: an explicit request is
// honoured or refused; no request means packet mode when this process may
// use it (netem::packet_mode_available()), else frame mode with a one-line
// reason for the user.
//
// Thread-safety: the functions are safe from any thread.
#ifndef CELLSIM_LIVE_LINK_MODE_H_
#define CELLSIM_LIVE_LINK_MODE_H_

#include <optional>
#include <string>
#include <string_view>

namespace cellsim::live {

enum class LinkMode { kFrame, kPacket };

// "frame" or "packet" (RunInfo.link_mode's values).
const char* link_mode_name(LinkMode mode);
// Parses "frame" / "packet"; false for anything else.
bool parse_link_mode(std::string_view text, LinkMode* mode);

struct LinkModeChoice {
  LinkMode mode = LinkMode::kFrame;
  // Set when no mode was requested and packet mode was not possible: why,
  // in one line ("packet mode needs CAP_NET_ADMIN ...; using frame mode").
  std::string fallback_reason;
};

// nullopt: the best mode available. An explicit kPacket that this process
// cannot use is an error: false with *error saying why.
// REQUIRES: choice != nullptr, error != nullptr.
bool choose_link_mode(std::optional<LinkMode> requested, LinkModeChoice* choice,
                      std::string* error);

}  // namespace cellsim::live

#endif  // CELLSIM_LIVE_LINK_MODE_H_
