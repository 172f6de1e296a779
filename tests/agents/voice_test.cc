// agents/voice.h: the E-model and the speech meter (tests are added with the
// implementation).
#include "agents/voice.h"

#include <gtest/gtest.h>

namespace cellsim::agents {
namespace {

TEST(VoiceTest, Placeholder) { SUCCEED(); }

}  // namespace
}  // namespace cellsim::agents
