#pragma once
// Starts a hoshino node from its options: checks everything that can be checked before touching the
// system (address, credentials, bucket, metrics port, namespace), then creates and configures the TUN
// interface and runs the node until SIGINT/SIGTERM. Every startup failure is one line and exit code 1,
// and leaves no interface behind.
#include "app/options.hpp"

#include <optional>
#include <string>

namespace hoshino::app {

// A file's whole content (settings, keys, the machine-id); nullopt if it cannot be read.
std::optional<std::string> read_file(const std::string& path);

int run(const Options& options);
// The subcommands: `hoshino genkey`, `hoshino pubkey` (stdin to stdout, as wg's), `hoshino peers`,
// `hoshino show`, `hoshino check` (the effective settings, or the first error: exit 2).
int genkey();
int pubkey();
int peers(const Options& options);
int show(const Options& options);
int check(const Options& options);

} // namespace hoshino::app
