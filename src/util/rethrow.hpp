#pragma once
// The completion handler for coroutines started with asio::co_spawn that return nothing: never
// `detached` (which swallows exceptions); an exception escaping a coroutine is a bug and must end the
// process loudly, out of io_context::run().
#include <exception>

namespace hoshino {

inline constexpr auto rethrow = [](std::exception_ptr e) {
  if (e) std::rethrow_exception(e);
};

} // namespace hoshino
