// hoshino: IPv6 over S3. See app/app.hpp for what happens at startup.
#include "app/app.hpp"
#include "app/options.hpp"
#include "hoshino_config.h"
#include "util/log.hpp"

#include <fmt/core.h>

#include <cstdlib>
#include <vector>

int main(int argc, char** argv) {
  std::vector<std::string_view> args(argv + 1, argv + argc);
  auto options = hoshino::app::parse_options(args, hoshino::app::read_file);
  if (!options) {
    // A host set up before the config file: hoshino.env held the settings, which the unit now reads from
    // hoshino.conf.
    const bool old_env = std::getenv("HOSHINO_BUCKET") || std::getenv("HOSHINO_ARGS");
    fmt::print(stderr, "hoshino: {}{} (try --help)\n", options.error(),
               old_env ? "; HOSHINO_BUCKET, HOSHINO_ULA and HOSHINO_ARGS are no longer read: their settings go "
                         "into /etc/hoshino/hoshino.conf (docs/deploying.md)" : "");
    return 2;
  }
  for (const auto& d : options->deprecations) hoshino::log::warn("{}", d);
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
