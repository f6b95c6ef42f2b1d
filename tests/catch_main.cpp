// The one Catch2 main shared by every test binary (Debian's Catch2WithMain is built without
// benchmarking support, so we compile our own).
#define CATCH_CONFIG_MAIN
#include <catch2/catch.hpp>
