// The origin's hostile endpoints, `/hostile/<case>`: responses that break
// the rules or bend them the way real servers do (interim responses, framing
// lies, resets, stalls, garbage after a response, compression bombs, odd
// redirects, Retry-After abuse, slow bodies). Each case is a script of raw
// writes and pauses, so a server library cannot tidy it up, plus what a
// careful client should make of it. No Beast here: the table is plain data,
// read by the server, the docs and the hostile matrix test.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "sluice/core/fetch_error.hpp"

namespace sluice::stages::origin {

/// One step of a script: `repeat` times, write `bytes` then wait `pause`
/// (the origin stops when the client goes away).
struct hostile_step {
  std::string bytes;
  std::uint64_t repeat = 1;
  std::chrono::milliseconds pause{0};
};

/// What the origin writes for one case, and what becomes of the connection.
struct hostile_script {
  enum class end { keep, close, reset };
  std::vector<hostile_step> steps;
  end then = end::close;
};

/// What the http consumer makes of a case: the error kind, or none and the
/// body's byte count.
struct hostile_expectation {
  fetch_errc kind{};
  std::uint64_t bytes = 0;
};

/// One case of the table.
struct hostile_case {
  std::string_view name;   ///< `/hostile/<name>`
  std::string_view group;  ///< header, interim, framing, connection, encoding, redirect, rate, slow
  std::string_view doc;    ///< what the origin does
  /// What the http consumer makes of it (with the hostile matrix's settings:
  /// one worker at rate 2/s, one attempt, timeouts.header 1s, timeouts.total 3s, min_speed 1000
  /// over 1s, max_decoded 64MiB, retry_after_max 1s).
  hostile_expectation expect;
  hostile_script (*script)();
};

/// Every case, grouped. Thread safety: immutable.
std::span<const hostile_case> hostile_cases();

/// The case named `name`, if any. Thread safety: pure.
const hostile_case* find_hostile_case(std::string_view name);

/// The table as Markdown (`| case | group | what the origin does | sluice |`),
/// as docs/origin.md and the README hold it. Thread safety: pure.
std::string hostile_cases_markdown();

}  // namespace sluice::stages::origin
