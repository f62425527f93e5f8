#pragma once
// Runs one coroutine to completion on an io_context and returns its result (exceptions rethrown), so
// tests read top to bottom.
#include "util/clock.hpp"

#include <asio/co_spawn.hpp>
#include <asio/io_context.hpp>

#include <cassert>
#include <exception>
#include <optional>

namespace hoshino::test {

// (Real time only: under virtual time, io.run() cannot move time; VirtualTime::run_until does.)
template <class T>
T run(asio::io_context& io, asio::awaitable<T> op) {
  assert(!Clock::source() && "test::run blocks in real time: use VirtualTime::run_until");
  std::optional<T> out;
  std::exception_ptr error;
  asio::co_spawn(io, std::move(op), [&](std::exception_ptr e, T value) {
    error = e;
    if (!e) out.emplace(std::move(value));
  });
  io.restart();
  io.run();
  if (error) std::rethrow_exception(error);
  return std::move(*out);
}

inline void run(asio::io_context& io, asio::awaitable<void> op) {
  assert(!Clock::source() && "test::run blocks in real time: use VirtualTime::run_until");
  std::exception_ptr error;
  asio::co_spawn(io, std::move(op), [&](std::exception_ptr e) { error = e; });
  io.restart();
  io.run();
  if (error) std::rethrow_exception(error);
}

} // namespace hoshino::test

#include <vector>

namespace hoshino::test {

// Runs all operations concurrently on the io_context (each its own coroutine) and returns their
// results in order.
template <class T>
std::vector<T> run_all(asio::io_context& io, std::vector<asio::awaitable<T>> ops) {
  std::vector<std::optional<T>> out(ops.size());
  std::exception_ptr error;
  for (std::size_t i = 0; i < ops.size(); ++i) {
    asio::co_spawn(io, std::move(ops[i]), [&, i](std::exception_ptr e, T value) {
      if (e) error = e;
      else out[i].emplace(std::move(value));
    });
  }
  io.restart();
  io.run();
  if (error) std::rethrow_exception(error);
  std::vector<T> results;
  for (auto& o : out) results.push_back(std::move(*o));
  return results;
}

} // namespace hoshino::test
