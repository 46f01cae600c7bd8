// A resumable run's state: which items are done and where each sink stands.
//
// What is kept, per producer: a low watermark (every item before it is done)
// with the producer's resume offset there, plus the done items above it as
// intervals (items finish out of order, but mostly in runs, so this stays as
// small as the disorder in flight). Per sink: the position its last durable
// commit returned (jsonl: the file size) and the items it already holds that
// are not done yet (another sink had not committed them). Everything is saved
// in one SQLite transaction, so the done items and the sinks' positions never
// disagree after a crash: SQLite's journal gives the atomicity and fsync the
// durability (synchronous=FULL), which a hand-written journal would have to
// re-implement.
// Internal to the framework.
#pragma once

#include <cstdint>
#include <filesystem>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include <boost/json/value.hpp>

namespace sluice::detail {

/// The done items of one producer, by ordinal (the runtime's count of the
/// items that producer emitted, from 0).
/// Thread safety: a plain value.
class producer_progress {
 public:
  /// Marks ordinal `seq` done; `offset` is the producer's resume offset
  /// after that item (item::resume_offset).
  void mark_done(std::uint64_t seq, std::uint64_t offset);
  /// True when `seq` is done.
  bool is_done(std::uint64_t seq) const;
  /// Every ordinal below this is done.
  std::uint64_t watermark() const noexcept { return watermark_; }
  /// The resume offset after item watermark() - 1 (0 at the start).
  std::uint64_t watermark_offset() const noexcept { return watermark_offset_; }
  /// How many items are done.
  std::uint64_t done_count() const noexcept { return done_; }
  /// True when nothing is done.
  bool empty() const noexcept { return done_ == 0; }

  /// `[[begin, end, end_offset], ...]` of the done intervals above the
  /// watermark, as JSON text; and back.
  std::string intervals_json() const;
  static producer_progress from_saved(std::uint64_t watermark, std::uint64_t offset,
                                      const std::string& intervals_json);

 private:
  struct interval {
    std::uint64_t end;         ///< one past the last done ordinal
    std::uint64_t end_offset;  ///< resume offset after item end - 1
  };
  std::uint64_t watermark_ = 0;
  std::uint64_t watermark_offset_ = 0;
  std::uint64_t done_ = 0;
  std::map<std::uint64_t, interval> above_;  ///< begin -> interval, disjoint, not adjacent
};

/// Identity of one item in the state: producer index and ordinal.
constexpr std::uint64_t item_key(std::uint32_t producer, std::uint64_t seq) noexcept {
  return (static_cast<std::uint64_t>(producer) << 48) | (seq & ((std::uint64_t{1} << 48) - 1));
}

/// The `seq` of an item_key.
constexpr std::uint64_t item_seq(std::uint64_t key) noexcept {
  return key & ((std::uint64_t{1} << 48) - 1);
}

/// What one sink's last commit left.
struct sink_saved {
  std::optional<std::string> position;  ///< what its commit() returned
  std::vector<std::uint64_t> held;      ///< item keys it holds that are not done
};

/// A run's saved state.
struct saved_state {
  std::string config_hash;
  bool finished = false;
  std::optional<std::uint64_t> total;  ///< items the producers announced, when known
  std::vector<producer_progress> producers;
  std::vector<sink_saved> sinks;
  std::uint64_t commits = 0;  ///< commits saved so far in this state (all runs)

  std::uint64_t done_count() const;
};

/// Which items are done, as sinks commit (the runtime's bookkeeping for a
/// resumable run). An item is done when every sink it was routed to has
/// committed it. A sink may hold an item another sink has not committed
/// yet; a resumed run refetches such an item but does not deliver it to the
/// sinks that hold it, so each sink has it exactly once.
/// Sinks are identified by index (at most 64).
/// Thread safety: every method is safe from any thread (one mutex; callers
/// are workers, once per item, and sinks, once per commit).
class commit_tracker {
 public:
  /// Starts from `prior` (a resumed run) or from nothing.
  commit_tracker(std::size_t producers, std::size_t sinks, const saved_state* prior);

  /// The item is done already (by an earlier run, or as a duplicate).
  bool is_done(std::uint32_t producer, std::uint64_t seq) const;
  /// Marks an item done that needs no sink (skipped, dropped as a
  /// duplicate, or routed to no sink).
  void mark_done(std::uint32_t producer, std::uint64_t seq, std::uint64_t offset);
  /// The sinks (bit per sink) that already hold the item from an earlier run.
  std::uint64_t held_by(std::uint64_t key) const;
  /// A result was handed to the sinks in `mask` (bit per sink), which must
  /// not include held_by(key). An empty mask marks it done at once.
  void delivered(std::uint64_t key, std::uint64_t mask, std::uint64_t offset);
  /// Sink `sink` made everything it received up to now durable: `keys` are
  /// the items it received since its previous commit.
  void committed(std::size_t sink, std::optional<std::string> position,
                 const std::vector<std::uint64_t>& keys);
  /// Items delivered since the last snapshot (for `commit.items`): they
  /// are done only once committed, so this bounds what waits for a commit.
  std::uint64_t delivered_since_snapshot() const;
  /// The state to save; `pending` gets the items delivered and not done.
  saved_state snapshot(std::uint64_t* pending = nullptr);

 private:
  struct entry {
    std::uint64_t need;  ///< sinks yet to commit it
    std::uint64_t have;  ///< sinks that hold it durably
    std::uint64_t offset;
  };
  void done_locked(std::uint64_t key, std::uint64_t offset);

  mutable std::mutex mutex_;
  std::vector<producer_progress> producers_;
  std::vector<std::optional<std::string>> positions_;
  std::unordered_map<std::uint64_t, entry> pending_;
  std::unordered_map<std::uint64_t, std::uint64_t> prior_held_;  ///< key -> sink mask
  std::uint64_t delivered_since_ = 0;
  std::uint64_t commits_ = 0;
};

/// The state directory: `state.db` (SQLite) and the dedup set's files.
/// Thread safety: one thread at a time.
class state_store {
 public:
  /// Opens (creating the directory and the database). Throws
  /// std::runtime_error naming the path.
  explicit state_store(const std::filesystem::path& dir);
  ~state_store();
  state_store(const state_store&) = delete;
  state_store& operator=(const state_store&) = delete;

  /// The saved state, or nullopt when none was saved yet.
  std::optional<saved_state> load();
  /// Replaces the saved state, durably (one transaction, fsync'd).
  void save(const saved_state& s);
  /// Forgets everything (`--fresh`), including the dedup set's files.
  void discard();
  const std::filesystem::path& dir() const noexcept { return dir_; }

 private:
  struct db;
  std::filesystem::path dir_;
  std::unique_ptr<db> db_;
};

/// SHA-256 (hex) of a JSON value serialised with every object's keys
/// sorted, so the order keys were written in does not matter.
std::string canonical_hash(const boost::json::value& v);
/// The JSON text canonical_hash hashes.
std::string canonical_text(const boost::json::value& v);
/// SHA-256 of `text`, in hex.
std::string sha256_hex(const std::string& text);

}  // namespace sluice::detail
