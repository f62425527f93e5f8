#pragma once
// Logging to stderr through fmt. Quiet by default (warnings and errors); -v adds info, -vv debug.
#include <fmt/core.h>

#include <cstdio>
#include <string_view>

namespace hoshino::log {

enum class Level { error = 0, warn = 1, info = 2, debug = 3 };

inline Level& threshold() {
  static Level level = Level::warn;
  return level;
}

inline bool enabled(Level l) { return l <= threshold(); }

template <class... Args>
void write(Level l, fmt::format_string<Args...> f, Args&&... args) {
  if (!enabled(l)) return;
  static constexpr std::string_view names[] = {"error", "warn", "info", "debug"};
  fmt::print(stderr, "hoshino: {}: {}\n", names[static_cast<int>(l)], fmt::format(f, std::forward<Args>(args)...));
}

template <class... Args> void error(fmt::format_string<Args...> f, Args&&... a) { write(Level::error, f, std::forward<Args>(a)...); }
template <class... Args> void warn(fmt::format_string<Args...> f, Args&&... a) { write(Level::warn, f, std::forward<Args>(a)...); }
template <class... Args> void info(fmt::format_string<Args...> f, Args&&... a) { write(Level::info, f, std::forward<Args>(a)...); }
template <class... Args> void debug(fmt::format_string<Args...> f, Args&&... a) { write(Level::debug, f, std::forward<Args>(a)...); }

} // namespace hoshino::log
