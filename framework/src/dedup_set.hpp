// dedup_set: an exact set of strings kept on disk in flat memory, which drops
// repeated URLs across all producers of a run before they reach the queue.
//
// Exact, because a dropped URL is lost data: a 64-bit fingerprint only picks
// candidates, and every candidate is compared with the full text stored in an
// append-only log, so two strings with one fingerprint are both kept. Flat,
// because a crawl may see far more URLs than fit in memory: a small
// open-addressing front (fingerprint, log offset) spills into sorted run files
// merged geometrically (O(log n) runs), each with a sparse in-memory index so
// a look-up costs one pread per run, and a Bloom filter of fixed size over
// everything spilled lets most new strings skip the runs altogether. Past the
// filter's capacity it gets less selective: slower, never bigger. Files are
// read with pread, never mapped, because mapped pages count in RSS.
//
// The files (every name starts with "dedup", so they can share the run's
// state directory): `dedup.log`, records [u32 check][u32 length][u64 owner]
// [bytes]; `dedup.run.<n>`, sorted (fingerprint, offset) pairs;
// `dedup.manifest`, the runs and the log offset they cover. Runs and the
// manifest are written to a temporary name, synced and renamed, so a crash
// leaves either the old set of runs or the new one; the log is synced before
// a manifest names the records it covers. On open the log after the covered
// offset is replayed into the front and a torn tail (a record cut by kill -9,
// or one whose check does not match) is cut off.
// Internal to the framework.
#pragma once

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <mutex>
#include <string_view>

namespace sluice::detail {

/// How a dedup_set is sized and how it fingerprints.
struct dedup_options {
  /// The memory budget: 7/16 for the front table, 1/2 for the Bloom filter,
  /// 1/32 for the merge buffers (at most 512 KiB) and 1/32 for the runs'
  /// sparse indexes (kept near it by larger blocks as the set grows). The 64 KiB
  /// log buffer comes on top, and at least 16 KiB is used. The default keeps
  /// the set near 17 MiB of RSS however many strings it holds.
  std::size_t memory_bytes = std::size_t{16} << 20;
  /// The fingerprint function; nullptr selects default_hash. Tests inject a
  /// poor one to force collisions. A set must be reopened with the function
  /// it was built with (the manifest records a probe value and open checks it).
  std::uint64_t (*hash)(std::string_view) = nullptr;
};

/// An exact, persistent set of strings, each stored with the owner that
/// added it first. See the file comment for the design.
/// Thread safety: every member may be called concurrently (one mutex inside),
/// except that construction and destruction must not race other calls.
class dedup_set {
 public:
  /// What insert found.
  enum class verdict {
    added,       ///< first time seen; now stored with this owner
    same_owner,  ///< stored before by this same owner (a resumed run re-producing an item)
    duplicate,   ///< stored before by another owner
  };

  /// Opens the set in `dir`, creating the directory and the set when missing;
  /// replays the log's tail and cuts off a torn record. Throws
  /// std::runtime_error (std::system_error for I/O failures) naming the path,
  /// also when another dedup_set holds `dir` open.
  /// Thread safety: not concurrently with other calls on the same `dir`.
  explicit dedup_set(std::filesystem::path dir, dedup_options options = {});
  /// Writes out the buffered log records (not synced) and closes the files;
  /// never throws.
  /// Thread safety: no other call may be running.
  ~dedup_set();
  dedup_set(const dedup_set&) = delete;
  dedup_set& operator=(const dedup_set&) = delete;

  /// Looks `key` up and stores it with `owner` when it is new. Costs a hash,
  /// a probe of the front and, for a string seen before or a Bloom false
  /// positive, one pread per run plus one of the log; now and then a spill.
  /// Throws std::system_error naming the file when the disk fails (the key is
  /// then not stored), std::length_error for a key of 1 GiB or more.
  /// Thread safety: safe to call concurrently (serialised by the mutex).
  verdict insert(std::string_view key, std::uint64_t owner);

  /// Writes the buffered log records and fdatasyncs the log: every insert
  /// that returned before is then durable. Call before saving anything that
  /// relies on them (the run's journal). A failed sync makes the set
  /// unusable (later calls throw), since the kernel may have dropped the
  /// unwritten pages.
  /// Thread safety: safe to call concurrently.
  void sync();

  /// How many distinct strings are stored.
  /// Thread safety: safe to call concurrently.
  std::uint64_t size() const;

  /// Bytes cut from the log's tail when it was opened (a record torn by a
  /// crash), 0 when it was whole.
  /// Thread safety: safe to call concurrently.
  std::uint64_t torn_bytes() const;

  /// The fingerprint used when dedup_options::hash is null (XXH3, 64 bits).
  /// Thread safety: a pure function.
  static std::uint64_t default_hash(std::string_view key) noexcept;

  /// Deletes every file of a set in `dir` (every name starting with
  /// "dedup"), leaving other files alone; nothing when `dir` does not exist.
  /// Precondition: no dedup_set is open on `dir`. Throws
  /// std::filesystem::filesystem_error naming the path.
  /// Thread safety: not concurrently with a dedup_set on `dir`.
  static void remove_files(const std::filesystem::path& dir);

 private:
  class impl;
  mutable std::mutex mutex_;
  std::unique_ptr<impl> impl_;
};

}  // namespace sluice::detail
