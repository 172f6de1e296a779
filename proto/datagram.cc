// Voice datagrams (proto/datagram.h).
#include "proto/datagram.h"
