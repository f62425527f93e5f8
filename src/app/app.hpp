#pragma once
// Starts a hoshino node from its options: checks everything that can be checked before touching the
// system (address, credentials, bucket, metrics port, namespace), then creates and configures the TUN
// interface and runs the node until SIGINT/SIGTERM. Every startup failure is one line and exit code 1,
// and leaves no interface behind.
#include "app/options.hpp"

namespace hoshino::app {

int run(const Options& options);
// The subcommands: `hoshino genkey`, `hoshino pubkey` (stdin to stdout, as wg's), `hoshino peers`.
int genkey();
int pubkey();
int peers(const Options& options);
int show(const Options& options);

} // namespace hoshino::app
