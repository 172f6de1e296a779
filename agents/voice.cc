// The E-model and the speech meter (agents/voice.h).
#include "agents/voice.h"
