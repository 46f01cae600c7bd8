// The result sinks: files, sqlite, csv, jsonl and stdout.
#pragma once

#include "sluice/stage/registry.hpp"

namespace sluice {

/// Registers the sinks `files`, `sqlite` and `csv`.
/// Thread safety: as registry::add.
void register_sink_stages(registry& reg);

/// Registers the `jsonl` sink (batched appends, torn-last-line repair);
/// replaces the minimal one of the core stages.
/// Thread safety: as registry::add.
void register_jsonl_sink(registry& reg);

/// Registers the `stdout` sink (one human line per result); replaces the
/// minimal one of the core stages.
/// Thread safety: as registry::add.
void register_stdout_sink(registry& reg);

}  // namespace sluice
