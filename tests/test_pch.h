// The headers most test translation units include, precompiled once per
// test binary (tests/CMakeLists.txt, target_precompile_headers): parsing
// doctest, nlohmann/json and the standard library was about 40% of a test
// TU's compile time at -O0. Only the standard library and third-party
// headers belong here (they do not change under a test); every test still
// includes what it uses. The binaries that link nlohmann/json also
// precompile <nlohmann/json.hpp>.
#ifndef IAMLEDGER_TESTS_TEST_PCH_H_
#define IAMLEDGER_TESTS_TEST_PCH_H_

#include <doctest/doctest.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <random>
#include <set>
#include <sstream>
#include <string>
#include <string_view>
#include <thread>
#include <utility>
#include <vector>

#endif  // IAMLEDGER_TESTS_TEST_PCH_H_
