// hoshino: IPv6 over S3. See app/app.hpp for what happens at startup.
#include "app/app.hpp"
#include "app/options.hpp"
#include "hoshino_config.h"

#include <fmt/core.h>

#include <vector>

int main(int argc, char** argv) {
  std::vector<std::string_view> args(argv + 1, argv + argc);
  auto options = hoshino::app::parse_options(args, hoshino::app::read_file);
  if (!options) {
    fmt::print(stderr, "hoshino: {} (try --help)\n", options.error());
    return 2;
  }
  if (options->help) {
    fmt::print("{}", hoshino::app::usage(options->command, options->help_topic));
    return 0;
  }
  if (options->version) {
    fmt::print("hoshino {}\n", HOSHINO_VERSION);
    return 0;
  }
  if (options->command == "genkey") return hoshino::app::genkey();
  if (options->command == "pubkey") return hoshino::app::pubkey();
  if (options->command == "peers") return hoshino::app::peers(*options);
  if (options->command == "show") return hoshino::app::show(*options);
  if (options->command == "check") return hoshino::app::check(*options);
  return hoshino::app::run(*options);
}
