#pragma once
// A value or an error, for expected failures (network, S3, parse): errors are values, not exceptions.
// C++20 has no std::expected; this is the small subset the project needs.
#include <cassert>
#include <type_traits>
#include <utility>
#include <variant>

namespace hoshino {

template <class T, class E>
class [[nodiscard]] Result {
public:
  // asio::co_spawn default-constructs the result it passes alongside an exception.
  Result() requires std::is_default_constructible_v<T> : v_(std::in_place_index<0>) {}
  Result(T value) : v_(std::in_place_index<0>, std::move(value)) {}
  Result(E error) : v_(std::in_place_index<1>, std::move(error)) {}

  bool ok() const noexcept { return v_.index() == 0; }
  explicit operator bool() const noexcept { return ok(); }

  T& value() & { assert(ok()); return std::get<0>(v_); }
  const T& value() const& { assert(ok()); return std::get<0>(v_); }
  T&& value() && { assert(ok()); return std::get<0>(std::move(v_)); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }
  T&& operator*() && { return std::move(*this).value(); }

  const E& error() const& { assert(!ok()); return std::get<1>(v_); }
  E&& error() && { assert(!ok()); return std::get<1>(std::move(v_)); }

private:
  std::variant<T, E> v_;
};

// For operations whose success carries no value.
struct Unit {};

} // namespace hoshino
