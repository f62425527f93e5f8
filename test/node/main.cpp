// The in-process node tests (test/node/*_test.cpp) share one Catch2 runner.
#define CATCH_CONFIG_MAIN
#include <catch2/catch.hpp>
