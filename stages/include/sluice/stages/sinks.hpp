// The result sinks: files, sqlite, csv, jsonl and stdout.
#pragma once

#include "sluice/stage/registry.hpp"

namespace sluice {

/// Registers the sinks `files`, `sqlite`, `csv`, `jsonl` and `stdout`.
/// Thread safety: as registry::add.
void register_sink_stages(registry& reg);

/// Registers the `jsonl` sink alone (called by register_sink_stages).
void register_jsonl_sink(registry& reg);

/// Registers the `stdout` sink alone (called by register_sink_stages).
void register_stdout_sink(registry& reg);

}  // namespace sluice
