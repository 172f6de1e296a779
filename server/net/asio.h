// The one project header through which Boost.Asio is included.
//
// Boost 1.74's Asio does not compile as C++20 with g++ 12 unless <utility> is
// included first (asio/awaitable.hpp uses std::exchange without including
// it); DESIGN.md, "Known snags". Every file of ours that needs Asio includes
// this header instead of <boost/asio.hpp>.
#ifndef CELLSIM_SERVER_NET_ASIO_H_
#define CELLSIM_SERVER_NET_ASIO_H_

// clang-format off
#include <utility>
#include <boost/asio.hpp>
// clang-format on

namespace cellsim::net {
namespace asio = ::boost::asio;
using tcp = ::boost::asio::ip::tcp;
using error_code = ::boost::system::error_code;
}  // namespace cellsim::net

#endif  // CELLSIM_SERVER_NET_ASIO_H_
