#include "dedup_set.hpp"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>
#include <xxhash.h>

#include <algorithm>
#include <array>
#include <bit>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <optional>
#include <span>
#include <sstream>
#include <stdexcept>
#include <string>
#include <system_error>
#include <utility>
#include <vector>

#include <fmt/format.h>

namespace sluice::detail {

namespace fs = std::filesystem;

namespace {

// Run files and log headers are the in-memory integers copied as they are;
// every platform sluice builds for is little-endian, and saying so here keeps
// a big-endian port from reading garbage silently.
static_assert(std::endian::native == std::endian::little, "dedup files are little-endian");

// A log record: [u32 check][u32 length][u64 owner][bytes]. The check (low
// half of XXH3 over everything after it) is what tells a whole record from a
// torn or never-written tail after a crash, where the length alone could be
// garbage that happens to fit.
constexpr std::size_t header_bytes = 16;
constexpr std::size_t max_key_bytes = std::size_t{1} << 30;
constexpr std::size_t log_buffer_bytes = std::size_t{64} << 10;
// Offsets are never this large, so it marks an empty front slot and leaves
// every fingerprint value free for the hash.
constexpr std::uint64_t no_offset = ~std::uint64_t{0};
// Hashed at creation and recorded in the manifest, so reopening with another
// fingerprint function fails instead of missing every spilled string.
constexpr std::string_view hash_probe = "sluice dedup hash probe";

constexpr std::string_view log_name = "dedup.log";
constexpr std::string_view manifest_name = "dedup.manifest";
constexpr std::string_view run_prefix = "dedup.run.";
constexpr std::string_view tmp_suffix = ".tmp";

// Every I/O failure becomes a system_error carrying errno and the file, so
// the runtime's message says which disk filled up.
[[noreturn]] void throw_errno(std::string_view doing, const fs::path& path) {
  int e = errno;
  throw std::system_error(e, std::generic_category(),
                          fmt::format("dedup: cannot {} {}", doing, path.string()));
}

// A file descriptor that closes itself, so an exception between open and
// the end of a spill leaks nothing.
class unique_fd {
 public:
  unique_fd() = default;
  explicit unique_fd(int fd) noexcept : fd_(fd) {}
  unique_fd(unique_fd&& o) noexcept : fd_(std::exchange(o.fd_, -1)) {}
  unique_fd& operator=(unique_fd&& o) noexcept {
    if (this != &o) {
      reset();
      fd_ = std::exchange(o.fd_, -1);
    }
    return *this;
  }
  ~unique_fd() { reset(); }
  int get() const noexcept { return fd_; }
  void reset() noexcept {
    if (fd_ >= 0) {
      ::close(fd_);
      fd_ = -1;
    }
  }

 private:
  int fd_ = -1;
};

// O_NOATIME: every look-up is a pread, and updating the access time of the
// log and the runs on each one costs a measurable part of it. Only a file's
// owner may ask for it, so without that right the open is retried plainly.
unique_fd open_or_throw(const fs::path& path, int flags) {
  int fd = ::open(path.c_str(), flags | O_CLOEXEC | O_NOATIME, 0644);
  if (fd < 0 && errno == EPERM) {
    fd = ::open(path.c_str(), flags | O_CLOEXEC, 0644);
  }
  if (fd < 0) {
    throw_errno("open", path);
  }
  return unique_fd(fd);
}

// pread until `n` bytes or the end of the file; returns how many it got, so
// the caller decides whether a short file is a torn tail or corruption.
std::size_t pread_full(int fd, void* buf, std::size_t n, std::uint64_t off, const fs::path& path) {
  std::size_t got = 0;
  while (got < n) {
    ssize_t r = ::pread(fd, static_cast<char*>(buf) + got, n - got, static_cast<off_t>(off + got));
    if (r < 0) {
      if (errno == EINTR) {
        continue;
      }
      throw_errno("read from", path);
    }
    if (r == 0) {
      break;
    }
    got += static_cast<std::size_t>(r);
  }
  return got;
}

// Positional writes make a retry after ENOSPC idempotent: the next attempt
// overwrites whatever part of the failed one reached the file.
void pwrite_full(int fd, const void* buf, std::size_t n, std::uint64_t off, const fs::path& path) {
  std::size_t put = 0;
  while (put < n) {
    ssize_t r =
        ::pwrite(fd, static_cast<const char*>(buf) + put, n - put, static_cast<off_t>(off + put));
    if (r < 0 && errno == EINTR) {
      continue;
    }
    if (r <= 0) {
      if (r == 0) {
        errno = ENOSPC;
      }
      throw_errno("write to", path);
    }
    put += static_cast<std::size_t>(r);
  }
}

void sync_or_throw(int fd, const fs::path& path) {
  if (::fdatasync(fd) != 0) {
    throw_errno("sync", path);
  }
}

void rename_or_throw(const fs::path& from, const fs::path& to) {
  if (::rename(from.c_str(), to.c_str()) != 0) {
    int e = errno;
    throw std::system_error(
        e, std::generic_category(),
        fmt::format("dedup: cannot rename {} to {}", from.string(), to.string()));
  }
}

// Bytes compared with a view that may be empty (memcmp's pointers must not
// be null even for zero bytes).
bool same_bytes(const char* p, std::string_view s) {
  return s.empty() || std::memcmp(p, s.data(), s.size()) == 0;
}

std::uint32_t record_check(const char* record, std::size_t key_size) {
  return static_cast<std::uint32_t>(XXH3_64bits(record + 4, header_bytes - 4 + key_size));
}

void encode_record(char* p, std::string_view key, std::uint64_t owner) {
  auto len = static_cast<std::uint32_t>(key.size());
  std::memcpy(p + 4, &len, 4);
  std::memcpy(p + 8, &owner, 8);
  if (!key.empty()) {
    std::memcpy(p + header_bytes, key.data(), key.size());
  }
  std::uint32_t check = record_check(p, key.size());
  std::memcpy(p, &check, 4);
}

template <class T>
T load(const char* p) {
  T v;
  std::memcpy(&v, p, sizeof v);
  return v;
}

// The fingerprint remixed: slots and Bloom bits come from this, so that an
// injected hash with poor bits (a test's constant) still spreads, and so
// that the two never line up with the fingerprint order of the runs.
std::uint64_t remix(std::uint64_t fp) noexcept {
  return XXH3_64bits(&fp, sizeof fp);
}

// Maps a 64-bit value onto [0, n) by multiplication (Lemire), which needs
// no power-of-two size and no division.
std::size_t reduce(std::uint64_t h, std::size_t n) noexcept {
  return static_cast<std::size_t>((static_cast<unsigned __int128>(h) * n) >> 64);
}

// One entry of the front and of a run file, ordered by fingerprint and
// then by offset, so equal fingerprints sort by age and runs merge stably.
struct slot {
  std::uint64_t fp;
  std::uint64_t offset;
  friend bool operator<(const slot& a, const slot& b) noexcept {
    return a.fp != b.fp ? a.fp < b.fp : a.offset < b.offset;
  }
};
static_assert(sizeof(slot) == 16);

// The front: open addressing with linear probing over 16-byte slots, which
// keeps a probe in one or two cache lines; filled to 3/4 before it spills,
// so a probe always ends at an empty slot.
class front_table {
 public:
  static constexpr std::size_t npos = ~std::size_t{0};

  explicit front_table(std::size_t bytes)
      : slots_(std::max<std::size_t>(bytes / sizeof(slot), 64), slot{0, no_offset}),
        limit_(slots_.size() / 4 * 3) {}

  std::size_t size() const noexcept { return size_; }
  bool full() const noexcept { return size_ >= limit_; }

  // Offers every entry with fingerprint `fp` to `candidate` until it returns
  // true (then npos); otherwise returns the empty slot where `fp` goes.
  template <class F>
  std::size_t find(std::uint64_t fp, std::uint64_t mixed, F&& candidate) {
    std::size_t n = slots_.size();
    for (std::size_t i = reduce(mixed, n);;) {
      const slot& s = slots_[i];
      if (s.offset == no_offset) {
        return i;
      }
      if (s.fp == fp && candidate(s.offset)) {
        return npos;
      }
      if (++i == n) {
        i = 0;
      }
    }
  }

  // Precondition: `where` came from find() with no change since.
  void put(std::size_t where, slot s) noexcept {
    slots_[where] = s;
    ++size_;
  }

  // Replay knows its records are distinct: no candidate is compared.
  void put_distinct(std::uint64_t fp, std::uint64_t mixed, std::uint64_t offset) {
    put(find(fp, mixed, [](std::uint64_t) { return false; }), slot{fp, offset});
  }

  // Packs and sorts the entries in place (no second buffer, so a spill
  // needs no memory beyond the table); the table is unusable until clear().
  std::span<const slot> sort_entries() {
    auto end = std::remove_if(slots_.begin(), slots_.end(),
                              [](const slot& s) { return s.offset == no_offset; });
    std::sort(slots_.begin(), end);
    return {slots_.data(), size_};
  }

  void clear() noexcept {
    std::fill(slots_.begin(), slots_.end(), slot{0, no_offset});
    size_ = 0;
  }

 private:
  std::vector<slot> slots_;
  std::size_t limit_;
  std::size_t size_ = 0;
};

// A split-block Bloom filter (Putze et al.; Parquet's layout): a 32-byte
// block per key with one bit in each of its eight words, so a test touches
// one cache line. Its size is fixed: as spilled strings outgrow it, it
// passes more of them on to the runs, and memory stays where it was.
class bloom_filter {
 public:
  explicit bloom_filter(std::size_t bytes)
      : blocks_(std::max<std::size_t>(bytes / sizeof(block), 1), block{}) {}

  void add(std::uint64_t h) noexcept {
    block& b = blocks_[reduce(h, blocks_.size())];
    for (unsigned i = 0; i < 8; ++i) {
      b[i] |= std::uint32_t{1} << ((h >> (5 * i)) & 31);
    }
  }

  bool may_contain(std::uint64_t h) const noexcept {
    const block& b = blocks_[reduce(h, blocks_.size())];
    bool all = true;
    for (unsigned i = 0; i < 8; ++i) {
      all &= (b[i] >> ((h >> (5 * i)) & 31)) & 1;
    }
    return all;
  }

 private:
  using block = std::array<std::uint32_t, 8>;
  std::vector<block> blocks_;
};

// One sorted run on disk, with the first fingerprint of each block in
// memory: a look-up reads the one block its fingerprint falls in.
struct run_file {
  std::uint64_t gen = 0;
  std::uint64_t count = 0;
  std::size_t block_entries = 0;
  std::vector<std::uint64_t> first;
  fs::path path;
  unique_fd fd;
};

// The manifest's content: which runs exist and how much of the log they
// cover. Text, because it is small and a person debugging a state directory
// can read it.
struct manifest {
  std::uint64_t probe = 0;
  std::uint64_t covered = 0;
  std::uint64_t next_gen = 1;
  std::vector<std::pair<std::uint64_t, std::uint64_t>> runs;  // gen, count
};

std::optional<manifest> read_manifest(const fs::path& path) {
  std::ifstream in(path);
  if (!in) {
    std::error_code ec;
    if (!fs::exists(path, ec)) {
      return std::nullopt;
    }
    throw_errno("open", path);
  }
  manifest m;
  std::string line;
  std::string word;
  bool header = false;
  bool end = false;
  while (std::getline(in, line)) {
    std::istringstream ls(line);
    ls >> word;
    if (!header) {
      int version = 0;
      header = word == "sluice-dedup" && (ls >> version) && version == 1;
    } else if (word == "hash") {
      ls >> m.probe;
    } else if (word == "covered") {
      ls >> m.covered;
    } else if (word == "next") {
      ls >> m.next_gen;
    } else if (word == "run") {
      std::pair<std::uint64_t, std::uint64_t> r;
      ls >> r.first >> r.second;
      m.runs.push_back(r);
    } else if (word == "end") {
      end = true;
    }
    if (!header || !ls || end) {
      break;
    }
  }
  if (!header || !end) {
    throw std::runtime_error(fmt::format("dedup: {} is malformed", path.string()));
  }
  return m;
}

// The append-only log of every stored string, written through a 64 KiB
// buffer. A record is never split between the buffer and the file, so a
// comparison reads it from one place.
class record_log {
 public:
  explicit record_log(fs::path path)
      : path_(std::move(path)),
        fd_(open_or_throw(path_, O_RDWR | O_CREAT)),
        buf_(log_buffer_bytes) {
    // Two sets on one directory would interleave their records: refuse the
    // second (also in another process) instead.
    if (::flock(fd_.get(), LOCK_EX | LOCK_NB) != 0) {
      if (errno == EWOULDBLOCK) {
        throw std::runtime_error(
            fmt::format("dedup: {} is open in another dedup_set", path_.string()));
      }
      throw_errno("lock", path_);
    }
    struct stat st {};
    if (::fstat(fd_.get(), &st) != 0) {
      throw_errno("stat", path_);
    }
    base_ = static_cast<std::uint64_t>(st.st_size);
    file_size_ = base_;
  }

  ~record_log() {
    try {
      flush();
    } catch (const std::exception&) {
      // Nothing to report to from a destructor; what was never synced may
      // be lost by contract.
    }
  }

  const fs::path& path() const noexcept { return path_; }
  int fd() const noexcept { return fd_.get(); }
  std::uint64_t file_size_at_open() const noexcept { return file_size_; }
  std::uint64_t end() const noexcept { return base_ + used_; }

  // Appends a record and returns its offset. Throws (storing nothing) when a
  // full buffer cannot be written out.
  std::uint64_t append(std::string_view key, std::uint64_t owner) {
    std::size_t n = header_bytes + key.size();
    if (used_ + n > buf_.size()) {
      flush();
    }
    std::uint64_t off = end();
    if (n > buf_.size()) {
      std::string record(n, '\0');
      encode_record(record.data(), key, owner);
      pwrite_full(fd_.get(), record.data(), n, off, path_);
      base_ += n;
      return off;
    }
    encode_record(buf_.data() + used_, key, owner);
    used_ += n;
    return off;
  }

  void flush() {
    if (used_ == 0) {
      return;
    }
    pwrite_full(fd_.get(), buf_.data(), used_, base_, path_);
    base_ += used_;
    used_ = 0;
  }

  // The owner of the record at `off` when it holds exactly `key`.
  std::optional<std::uint64_t> match(std::uint64_t off, std::string_view key) {
    if (off >= base_) {
      const char* p = buf_.data() + (off - base_);
      if (load<std::uint32_t>(p + 4) != key.size() || !same_bytes(p + header_bytes, key)) {
        return std::nullopt;
      }
      return load<std::uint64_t>(p + 8);
    }
    // The record may be shorter than the key (then it is the log's last
    // one): the length decides before anything past it is needed.
    std::size_t n = std::min(header_bytes + key.size(), scratch_.size());
    std::size_t got = pread_full(fd_.get(), scratch_.data(), n, off, path_);
    if (got < header_bytes) {
      throw_short(off + header_bytes);
    }
    if (load<std::uint32_t>(scratch_.data() + 4) != key.size()) {
      return std::nullopt;
    }
    if (got < n) {
      throw_short(off + n);
    }
    auto owner = load<std::uint64_t>(scratch_.data() + 8);
    std::size_t pos = n - header_bytes;
    if (!same_bytes(scratch_.data() + header_bytes, key.substr(0, pos))) {
      return std::nullopt;
    }
    // A key longer than the scratch block is compared a block at a time,
    // so memory does not grow with the longest URL seen.
    while (pos < key.size()) {
      std::size_t m = std::min(scratch_.size(), key.size() - pos);
      read_exactly(scratch_.data(), m, off + header_bytes + pos);
      if (!same_bytes(scratch_.data(), key.substr(pos, m))) {
        return std::nullopt;
      }
      pos += m;
    }
    return owner;
  }

  // Calls on_record(offset, key, owner) for each whole record in [from, to)
  // in order; returns where whole records stop (`to` when all are whole).
  template <class F>
  std::uint64_t scan(std::uint64_t from, std::uint64_t to, F&& on_record) {
    std::vector<char> buf(log_buffer_bytes);
    std::string big;
    std::uint64_t win = from;  // file offset of buf[0]
    std::size_t have = 0;
    auto fill = [&](std::uint64_t at) {
      win = at;
      have = pread_full(fd_.get(), buf.data(), std::min<std::uint64_t>(buf.size(), to - at), at,
                        path_);
    };
    std::uint64_t pos = from;
    while (pos < to) {
      if (pos + header_bytes > win + have) {
        fill(pos);
      }
      if (to - pos < header_bytes || pos + header_bytes > win + have) {
        return pos;
      }
      auto len = load<std::uint32_t>(buf.data() + (pos - win) + 4);
      std::uint64_t n = header_bytes + std::uint64_t{len};
      if (len >= max_key_bytes || n > to - pos) {
        return pos;
      }
      if (pos + n > win + have && n <= buf.size()) {
        fill(pos);
      }
      const char* rec = buf.data() + (pos - win);
      if (n > buf.size()) {
        big.resize(n);
        if (pread_full(fd_.get(), big.data(), n, pos, path_) != n) {
          return pos;
        }
        rec = big.data();
      } else if (pos + n > win + have) {
        return pos;
      }
      if (load<std::uint32_t>(rec) != record_check(rec, len)) {
        return pos;
      }
      on_record(pos, std::string_view(rec + header_bytes, len), load<std::uint64_t>(rec + 8));
      pos += n;
    }
    return pos;
  }

  // Cuts the log at `at` (a torn tail) and makes the cut durable.
  void truncate(std::uint64_t at) {
    if (::ftruncate(fd_.get(), static_cast<off_t>(at)) != 0) {
      throw_errno("truncate", path_);
    }
    sync_or_throw(fd_.get(), path_);
    base_ = at;
    used_ = 0;
  }

 private:
  void read_exactly(char* p, std::size_t n, std::uint64_t off) {
    if (pread_full(fd_.get(), p, n, off, path_) != n) {
      throw_short(off + n);
    }
  }

  [[noreturn]] void throw_short(std::uint64_t end) const {
    throw std::runtime_error(
        fmt::format("dedup: {} ends before offset {}, which an index names", path_.string(), end));
  }

  fs::path path_;
  unique_fd fd_;
  std::vector<char> buf_;
  std::uint64_t base_ = 0;  // file offset of buf_[0]
  std::size_t used_ = 0;
  std::uint64_t file_size_ = 0;
  std::array<char, 4096> scratch_{};
};

fs::path prepared_dir(fs::path dir) {
  std::error_code ec;
  fs::create_directories(dir, ec);
  if (ec) {
    throw std::system_error(ec, fmt::format("dedup: cannot create {}", dir.string()));
  }
  return dir;
}

}  // namespace

// The set's state; the public class adds the mutex around it.
class dedup_set::impl {
 public:
  impl(fs::path dir, dedup_options o);

  std::uint64_t fingerprint(std::string_view key) const { return hash_(key); }
  verdict insert(std::string_view key, std::uint64_t fp, std::uint64_t owner);
  void sync();
  std::uint64_t size() const noexcept { return size_; }
  std::uint64_t torn_bytes() const noexcept { return torn_; }

 private:
  void check_usable() const;
  void sync_log();
  void load(const manifest& m);
  void load_run(run_file& r);
  void remove_strays(const manifest* m);
  void replay();
  template <class F>
  bool find_in_run(run_file& r, std::uint64_t fp, F& candidate);
  void spill(std::uint64_t covered);
  void commit_spill(std::span<const slot> fresh, std::uint64_t covered);
  run_file write_run(std::span<const slot> fresh, std::size_t keep, std::uint64_t total);
  void merge(std::span<const slot> fresh, std::size_t keep, int fd, const fs::path& path,
             run_file& out);
  void write_manifest(std::uint64_t covered, std::size_t keep, const run_file& added);
  void sync_dir();
  std::size_t block_entries_for(std::uint64_t total) const;

  fs::path dir_;
  std::uint64_t (*hash_)(std::string_view);
  std::uint64_t probe_;
  unique_fd dir_fd_;
  record_log log_;
  front_table front_;
  bloom_filter bloom_;
  std::vector<run_file> runs_;  // oldest (and largest) first
  std::vector<slot> merge_buf_;
  std::vector<slot> block_buf_;
  std::size_t index_target_;   // index entries the runs aim to stay under
  std::uint64_t covered_ = 0;  // the runs hold every record before this offset
  std::uint64_t next_gen_ = 1;
  std::uint64_t spilled_ = 0;
  std::uint64_t size_ = 0;
  std::uint64_t torn_ = 0;
  bool broken_ = false;
};

// The budget's split: half for the Bloom filter (about 9.6 bits a string at
// 7M spilled strings with the default), 7/16 for the front (its size sets
// how often a spill happens and so how many runs there are), 1/32 for the
// runs' sparse indexes and 1/32 for the merge buffers, capped: past 512 KiB
// bigger reads gain nothing.
dedup_set::impl::impl(fs::path dir, dedup_options o)
    : dir_(prepared_dir(std::move(dir))),
      hash_(o.hash ? o.hash : &dedup_set::default_hash),
      probe_(hash_(hash_probe)),
      dir_fd_(open_or_throw(dir_, O_RDONLY | O_DIRECTORY)),
      log_(dir_ / log_name),
      front_(std::max<std::size_t>(o.memory_bytes, 16 << 10) / 16 * 7),
      bloom_(std::max<std::size_t>(o.memory_bytes, 16 << 10) / 2),
      merge_buf_(std::clamp<std::size_t>(o.memory_bytes / 32, 16 << 10, 512 << 10) / sizeof(slot)),
      index_target_(std::max<std::size_t>(o.memory_bytes / 32 / sizeof(std::uint64_t), 64)) {
  std::optional<manifest> m = read_manifest(dir_ / manifest_name);
  remove_strays(m ? &*m : nullptr);
  if (m) {
    load(*m);
  }
  replay();
}

void dedup_set::impl::check_usable() const {
  if (broken_) {
    throw std::runtime_error(
        fmt::format("dedup: the set in {} is unusable after an earlier failure to sync or to spill",
                    dir_.string()));
  }
}

// Runs name log offsets, so the log must be durable up to them before a
// manifest names the runs. A failed fdatasync poisons the set: the kernel
// may have dropped the dirty pages, and a later sync would report success.
void dedup_set::impl::sync_log() {
  log_.flush();
  if (::fdatasync(log_.fd()) != 0) {
    broken_ = true;
    throw_errno("sync", log_.path());
  }
}

void dedup_set::impl::sync() {
  check_usable();
  sync_log();
}

// A leftover `.tmp` is a write cut short; a run the manifest does not name
// was written by a spill that crashed before its manifest, or merged away
// by one that crashed before deleting it. Neither holds anything the log
// and the named runs do not.
void dedup_set::impl::remove_strays(const manifest* m) {
  std::vector<fs::path> strays;
  for (const auto& e : fs::directory_iterator(dir_)) {
    std::string name = e.path().filename().string();
    bool tmp = name.starts_with("dedup") && name.ends_with(tmp_suffix);
    bool run = name.starts_with(run_prefix);
    if (run && !tmp && m) {
      for (const auto& [gen, count] : m->runs) {
        if (name == fmt::format("{}{}", run_prefix, gen)) {
          run = false;
        }
      }
    }
    if (tmp || run) {
      strays.push_back(e.path());
    }
  }
  for (const auto& p : strays) {
    fs::remove(p);
  }
}

void dedup_set::impl::load(const manifest& m) {
  if (m.probe != probe_) {
    throw std::runtime_error(fmt::format("dedup: {} was built with another fingerprint function",
                                         (dir_ / manifest_name).string()));
  }
  if (m.covered > log_.file_size_at_open()) {
    throw std::runtime_error(fmt::format("dedup: {} is shorter than {} says ({} < {} bytes)",
                                         log_.path().string(), manifest_name,
                                         log_.file_size_at_open(), m.covered));
  }
  covered_ = m.covered;
  // Never below a named run's number: a new run must not take its name.
  next_gen_ = m.next_gen;
  std::uint64_t total = 0;
  for (const auto& [gen, count] : m.runs) {
    total += count;
    next_gen_ = std::max(next_gen_, gen + 1);
  }
  for (const auto& [gen, count] : m.runs) {
    run_file r;
    r.gen = gen;
    r.count = count;
    r.block_entries = block_entries_for(total);
    r.path = dir_ / fmt::format("{}{}", run_prefix, gen);
    r.fd = open_or_throw(r.path, O_RDONLY);
    load_run(r);
    runs_.push_back(std::move(r));
  }
  spilled_ = total;
  size_ = total;
}

// Reads a run once, front to back: its sparse index and its share of the
// Bloom filter are rebuilt rather than stored, so they can never disagree
// with the run.
void dedup_set::impl::load_run(run_file& r) {
  struct stat st {};
  if (::fstat(r.fd.get(), &st) != 0) {
    throw_errno("stat", r.path);
  }
  if (static_cast<std::uint64_t>(st.st_size) != r.count * sizeof(slot)) {
    throw std::runtime_error(fmt::format("dedup: {} holds {} bytes, {} says {} entries",
                                         r.path.string(), st.st_size, manifest_name, r.count));
  }
  r.first.reserve(r.count / r.block_entries + 1);
  for (std::uint64_t i = 0; i < r.count;) {
    std::size_t n =
        static_cast<std::size_t>(std::min<std::uint64_t>(merge_buf_.size(), r.count - i));
    if (pread_full(r.fd.get(), merge_buf_.data(), n * sizeof(slot), i * sizeof(slot), r.path) !=
        n * sizeof(slot)) {
      throw std::runtime_error(fmt::format("dedup: {} is shorter than it was", r.path.string()));
    }
    for (std::size_t k = 0; k < n; ++k, ++i) {
      if (i % r.block_entries == 0) {
        r.first.push_back(merge_buf_[k].fp);
      }
      bloom_.add(remix(merge_buf_[k].fp));
    }
  }
}

// The records after the covered offset are exactly the front's entries when
// the set was closed (or killed), so they go back into the front unchecked:
// each was stored only because it was new. A record that is not whole ends
// the log: it and anything after it were never synced, so cutting them off
// loses nothing a caller was promised.
void dedup_set::impl::replay() {
  std::uint64_t to = log_.file_size_at_open();
  std::uint64_t whole =
      log_.scan(covered_, to, [&](std::uint64_t off, std::string_view key, std::uint64_t) {
        if (front_.full()) {
          spill(off);
        }
        std::uint64_t fp = hash_(key);
        front_.put_distinct(fp, remix(fp), off);
        ++size_;
      });
  if (whole < to) {
    torn_ = to - whole;
    log_.truncate(whole);
  }
}

std::size_t dedup_set::impl::block_entries_for(std::uint64_t total) const {
  // 64 entries (1 KiB) a block while the index fits its budget; past that
  // the blocks double, so a look-up reads more but memory stays flat.
  std::size_t b = 64;
  while (total / b > index_target_) {
    b *= 2;
  }
  return b;
}

dedup_set::verdict dedup_set::impl::insert(std::string_view key, std::uint64_t fp,
                                           std::uint64_t owner) {
  check_usable();
  // Spilling before the look-up, not after the store, means a failed spill
  // fails this insert cleanly (nothing stored) and the front never fills up.
  if (front_.full()) {
    spill(log_.end());
  }
  std::uint64_t mixed = remix(fp);
  std::optional<std::uint64_t> found;
  auto candidate = [&](std::uint64_t off) {
    found = log_.match(off, key);
    return found.has_value();
  };
  std::size_t where = front_.find(fp, mixed, candidate);
  // Oldest run first: it is the largest, so it most likely holds a repeat.
  if (!found && !runs_.empty() && bloom_.may_contain(mixed)) {
    for (auto& r : runs_) {
      if (find_in_run(r, fp, candidate)) {
        break;
      }
    }
  }
  if (found) {
    return *found == owner ? verdict::same_owner : verdict::duplicate;
  }
  std::uint64_t off = log_.append(key, owner);
  front_.put(where, slot{fp, off});
  ++size_;
  return verdict::added;
}

// Entries with fingerprint `fp` start in the last block whose first
// fingerprint is below it (a run of equal ones may begin at that block's
// end) and end in the last block whose first is at most `fp`: usually one
// block, one pread. Forced collisions make it many, read a block at a time.
template <class F>
bool dedup_set::impl::find_in_run(run_file& r, std::uint64_t fp, F& candidate) {
  auto hi = std::upper_bound(r.first.begin(), r.first.end(), fp);
  if (hi == r.first.begin()) {
    return false;
  }
  auto lo = std::lower_bound(r.first.begin(), hi, fp);
  auto b = static_cast<std::size_t>(lo == r.first.begin() ? 0 : lo - r.first.begin() - 1);
  auto last = static_cast<std::size_t>(hi - r.first.begin() - 1);
  if (block_buf_.size() < r.block_entries) {
    block_buf_.resize(r.block_entries);
  }
  for (; b <= last; ++b) {
    std::uint64_t begin = std::uint64_t{b} * r.block_entries;
    auto n = static_cast<std::size_t>(std::min<std::uint64_t>(r.block_entries, r.count - begin));
    if (pread_full(r.fd.get(), block_buf_.data(), n * sizeof(slot), begin * sizeof(slot), r.path) !=
        n * sizeof(slot)) {
      throw std::runtime_error(fmt::format("dedup: {} is shorter than it was", r.path.string()));
    }
    const slot* start = block_buf_.data();
    const slot* end = start + n;
    const slot* p = std::lower_bound(start, end, slot{fp, 0});
    for (; p != end && p->fp == fp; ++p) {
      if (candidate(p->offset)) {
        return true;
      }
    }
    if (p != end) {
      return false;
    }
  }
  return false;
}

// A spill sorts the front in place and writes it as a run. When anything
// fails the front is rebuilt from the log (its entries are exactly the
// records after the covered offset) and the error goes to the caller with
// the set as it was; only a failure to rebuild leaves the set unusable.
void dedup_set::impl::spill(std::uint64_t covered) {
  sync_log();
  std::span<const slot> fresh = front_.sort_entries();
  try {
    commit_spill(fresh, covered);
  } catch (...) {
    try {
      front_.clear();
      std::uint64_t whole =
          log_.scan(covered_, covered, [&](std::uint64_t off, std::string_view key, std::uint64_t) {
            std::uint64_t fp = hash_(key);
            front_.put_distinct(fp, remix(fp), off);
          });
      broken_ = whole != covered;
    } catch (...) {
      broken_ = true;
    }
    throw;
  }
  front_.clear();
}

// Merges the newest runs while they are no bigger than what is being
// written: sizes then at least double from newest to oldest, so there are
// O(log n) runs and each entry is rewritten O(log n) times.
void dedup_set::impl::commit_spill(std::span<const slot> fresh, std::uint64_t covered) {
  std::size_t keep = runs_.size();
  std::uint64_t total = fresh.size();
  while (keep > 0 && runs_[keep - 1].count <= total) {
    total += runs_[keep - 1].count;
    --keep;
  }
  run_file added = write_run(fresh, keep, total);
  try {
    write_manifest(covered, keep, added);
  } catch (...) {
    ::unlink(added.path.c_str());
    throw;
  }
  for (const slot& s : fresh) {
    bloom_.add(remix(s.fp));
  }
  for (std::size_t i = keep; i < runs_.size(); ++i) {
    ::unlink(runs_[i].path.c_str());
  }
  runs_.resize(keep);
  runs_.push_back(std::move(added));
  spilled_ += fresh.size();
  covered_ = covered;
}

run_file dedup_set::impl::write_run(std::span<const slot> fresh, std::size_t keep,
                                    std::uint64_t total) {
  run_file out;
  out.gen = next_gen_++;
  out.count = total;
  out.block_entries = block_entries_for(spilled_ + fresh.size());
  out.path = dir_ / fmt::format("{}{}", run_prefix, out.gen);
  out.first.reserve(total / out.block_entries + 1);
  fs::path tmp = out.path;
  tmp += tmp_suffix;
  unique_fd fd = open_or_throw(tmp, O_RDWR | O_CREAT | O_TRUNC);
  try {
    merge(fresh, keep, fd.get(), tmp, out);
    sync_or_throw(fd.get(), tmp);
    rename_or_throw(tmp, out.path);
    sync_dir();
  } catch (...) {
    ::unlink(tmp.c_str());
    ::unlink(out.path.c_str());
    throw;
  }
  out.fd = std::move(fd);
  return out;
}

// A k-way merge of the sorted front with the runs after `keep`, through
// the fixed merge buffer (a quarter for output, the rest split between the
// runs): k is O(log n) and small, so the smallest head is found by a scan.
void dedup_set::impl::merge(std::span<const slot> fresh, std::size_t keep, int fd,
                            const fs::path& path, run_file& out) {
  struct cursor {
    const slot* p;
    const slot* end;
    run_file* src;  // null for the front
    std::uint64_t next;
    slot* buf;
    std::size_t cap;
  };
  std::size_t inputs = std::max<std::size_t>(runs_.size() - keep, 1);
  std::size_t out_cap = merge_buf_.size() / 4;
  std::size_t in_cap = (merge_buf_.size() - out_cap) / inputs;
  slot* obuf = merge_buf_.data() + in_cap * inputs;
  auto refill = [&](cursor& c) {
    if (!c.src || c.next == c.src->count) {
      return false;
    }
    auto n = static_cast<std::size_t>(std::min<std::uint64_t>(c.cap, c.src->count - c.next));
    if (pread_full(c.src->fd.get(), c.buf, n * sizeof(slot), c.next * sizeof(slot), c.src->path) !=
        n * sizeof(slot)) {
      throw std::runtime_error(
          fmt::format("dedup: {} is shorter than it was", c.src->path.string()));
    }
    c.p = c.buf;
    c.end = c.buf + n;
    c.next += n;
    return true;
  };
  std::vector<cursor> cs;
  cs.push_back(cursor{fresh.data(), fresh.data() + fresh.size(), nullptr, 0, nullptr, 0});
  for (std::size_t i = keep; i < runs_.size(); ++i) {
    cursor c{nullptr, nullptr, &runs_[i], 0, merge_buf_.data() + in_cap * (i - keep), in_cap};
    if (refill(c)) {
      cs.push_back(c);
    }
  }
  std::erase_if(cs, [](const cursor& c) { return c.p == c.end; });
  std::uint64_t written = 0;
  std::size_t held = 0;
  while (!cs.empty()) {
    std::size_t best = 0;
    for (std::size_t i = 1; i < cs.size(); ++i) {
      if (*cs[i].p < *cs[best].p) {
        best = i;
      }
    }
    const slot s = *cs[best].p++;
    if (written % out.block_entries == 0) {
      out.first.push_back(s.fp);
    }
    obuf[held++] = s;
    ++written;
    if (held == out_cap) {
      pwrite_full(fd, obuf, held * sizeof(slot), (written - held) * sizeof(slot), path);
      held = 0;
    }
    if (cs[best].p == cs[best].end && !refill(cs[best])) {
      cs.erase(cs.begin() + static_cast<std::ptrdiff_t>(best));
    }
  }
  pwrite_full(fd, obuf, held * sizeof(slot), (written - held) * sizeof(slot), path);
  if (written != out.count) {
    throw std::runtime_error(fmt::format("dedup: merged {} entries into {}, expected {}", written,
                                         path.string(), out.count));
  }
}

// Written whole to a temporary name, synced and renamed: a crash leaves
// the old manifest or the new one, never half of one.
void dedup_set::impl::write_manifest(std::uint64_t covered, std::size_t keep,
                                     const run_file& added) {
  std::string text =
      fmt::format("sluice-dedup 1\nhash {}\ncovered {}\nnext {}\n", probe_, covered, next_gen_);
  for (std::size_t i = 0; i < keep; ++i) {
    text += fmt::format("run {} {}\n", runs_[i].gen, runs_[i].count);
  }
  text += fmt::format("run {} {}\nend\n", added.gen, added.count);
  fs::path path = dir_ / manifest_name;
  fs::path tmp = path;
  tmp += tmp_suffix;
  try {
    unique_fd fd = open_or_throw(tmp, O_WRONLY | O_CREAT | O_TRUNC);
    pwrite_full(fd.get(), text.data(), text.size(), 0, tmp);
    sync_or_throw(fd.get(), tmp);
    fd.reset();
    rename_or_throw(tmp, path);
    sync_dir();
  } catch (...) {
    ::unlink(tmp.c_str());
    throw;
  }
}

// A rename is durable only once its directory is synced.
void dedup_set::impl::sync_dir() {
  if (::fsync(dir_fd_.get()) != 0) {
    throw_errno("sync", dir_);
  }
}

dedup_set::dedup_set(fs::path dir, dedup_options options)
    : impl_(std::make_unique<impl>(std::move(dir), options)) {}

dedup_set::~dedup_set() = default;

dedup_set::verdict dedup_set::insert(std::string_view key, std::uint64_t owner) {
  if (key.size() >= max_key_bytes) {
    throw std::length_error(fmt::format("dedup: a key of {} bytes (at most 1 GiB)", key.size()));
  }
  // The hash is a pure function of the key: computed before the lock, so
  // producers hash in parallel.
  std::uint64_t fp = impl_->fingerprint(key);
  std::lock_guard lock(mutex_);
  return impl_->insert(key, fp, owner);
}

void dedup_set::sync() {
  std::lock_guard lock(mutex_);
  impl_->sync();
}

std::uint64_t dedup_set::size() const {
  std::lock_guard lock(mutex_);
  return impl_->size();
}

std::uint64_t dedup_set::torn_bytes() const {
  std::lock_guard lock(mutex_);
  return impl_->torn_bytes();
}

std::uint64_t dedup_set::default_hash(std::string_view key) noexcept {
  return XXH3_64bits(key.data(), key.size());
}

void dedup_set::remove_files(const fs::path& dir) {
  if (!fs::exists(dir)) {
    return;
  }
  // Collected first: removing entries while a directory_iterator walks them
  // may skip some.
  std::vector<fs::path> mine;
  for (const auto& e : fs::directory_iterator(dir)) {
    if (e.path().filename().string().starts_with("dedup")) {
      mine.push_back(e.path());
    }
  }
  for (const auto& p : mine) {
    fs::remove_all(p);
  }
}

}  // namespace sluice::detail
