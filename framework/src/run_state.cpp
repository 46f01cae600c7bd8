#include "run_state.hpp"

#include <fcntl.h>
#include <sqlite3.h>
#include <sys/file.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <iterator>
#include <stdexcept>

#include <fmt/format.h>
#include <openssl/evp.h>
#include <boost/json/array.hpp>
#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>

namespace sluice::detail {

namespace json = boost::json;

void producer_progress::mark_done(std::uint64_t seq, std::uint64_t offset) {
  if (is_done(seq)) {
    return;
  }
  ++done_;
  if (seq == watermark_) {
    watermark_ = seq + 1;
    watermark_offset_ = offset;
    // The next interval may now touch the watermark: absorb it.
    auto it = above_.begin();
    if (it != above_.end() && it->first == watermark_) {
      watermark_ = it->second.end;
      watermark_offset_ = it->second.end_offset;
      above_.erase(it);
    }
    return;
  }
  // Join the interval ending at seq and the one starting at seq + 1.
  auto next = above_.find(seq + 1);
  auto after = above_.upper_bound(seq);
  bool joined_before = false;
  if (after != above_.begin()) {
    auto prev = std::prev(after);
    if (prev->second.end == seq) {
      prev->second.end = seq + 1;
      prev->second.end_offset = offset;
      joined_before = true;
      if (next != above_.end()) {
        prev->second.end = next->second.end;
        prev->second.end_offset = next->second.end_offset;
        above_.erase(next);
      }
    }
  }
  if (!joined_before) {
    if (next != above_.end()) {
      interval iv = next->second;
      above_.erase(next);
      above_.emplace(seq, iv);
    } else {
      above_.emplace(seq, interval{seq + 1, offset});
    }
  }
}

bool producer_progress::is_done(std::uint64_t seq) const {
  if (seq < watermark_) {
    return true;
  }
  auto it = above_.upper_bound(seq);
  if (it == above_.begin()) {
    return false;
  }
  --it;
  return seq < it->second.end;
}

std::string producer_progress::intervals_json() const {
  json::array a;
  for (const auto& [begin, iv] : above_) {
    a.push_back(json::array{begin, iv.end, iv.end_offset});
  }
  return json::serialize(a);
}

producer_progress producer_progress::from_saved(std::uint64_t watermark, std::uint64_t offset,
                                                const std::string& intervals) {
  producer_progress p;
  p.watermark_ = watermark;
  p.watermark_offset_ = offset;
  p.done_ = watermark;
  auto v = json::parse(intervals.empty() ? "[]" : intervals);
  for (const auto& e : v.as_array()) {
    const auto& t = e.as_array();
    auto begin = t.at(0).to_number<std::uint64_t>();
    auto end = t.at(1).to_number<std::uint64_t>();
    if (end <= begin || begin <= watermark) {
      throw std::runtime_error("corrupt state: bad done interval");
    }
    p.above_.emplace(begin, interval{end, t.at(2).to_number<std::uint64_t>()});
    p.done_ += end - begin;
  }
  return p;
}

std::uint64_t saved_state::done_count() const {
  std::uint64_t n = 0;
  for (const auto& p : producers) {
    n += p.done_count();
  }
  return n;
}

commit_tracker::commit_tracker(std::size_t producers, std::size_t sinks, const saved_state* prior)
    : producers_(producers), positions_(sinks) {
  if (prior == nullptr) {
    return;
  }
  producers_ = prior->producers;
  producers_.resize(producers);
  commits_ = prior->commits;
  for (std::size_t i = 0; i < sinks && i < prior->sinks.size(); ++i) {
    positions_[i] = prior->sinks[i].position;
    for (auto k : prior->sinks[i].held) {
      prior_held_[k] |= std::uint64_t{1} << i;
    }
  }
}

bool commit_tracker::is_done(std::uint32_t producer, std::uint64_t seq) const {
  std::lock_guard lock(mutex_);
  return producers_[producer].is_done(seq);
}

void commit_tracker::mark_done(std::uint32_t producer, std::uint64_t seq, std::uint64_t offset) {
  std::lock_guard lock(mutex_);
  done_locked(item_key(producer, seq), offset);
}

void commit_tracker::done_locked(std::uint64_t key, std::uint64_t offset) {
  producers_[key >> 48].mark_done(key & ((std::uint64_t{1} << 48) - 1), offset);
  prior_held_.erase(key);
}

std::uint64_t commit_tracker::held_by(std::uint64_t key) const {
  std::lock_guard lock(mutex_);
  auto it = prior_held_.find(key);
  return it == prior_held_.end() ? 0 : it->second;
}

void commit_tracker::delivered(std::uint64_t key, std::uint64_t mask, std::uint64_t offset) {
  std::lock_guard lock(mutex_);
  ++delivered_since_;
  if (mask == 0) {
    done_locked(key, offset);
    return;
  }
  auto it = prior_held_.find(key);
  std::uint64_t have = it == prior_held_.end() ? 0 : it->second;
  pending_[key] = entry{mask, have, offset};
}

void commit_tracker::committed(std::size_t sink, std::optional<std::string> position,
                               const std::vector<std::uint64_t>& keys) {
  const std::uint64_t bit = std::uint64_t{1} << sink;
  std::lock_guard lock(mutex_);
  positions_[sink] = std::move(position);
  for (auto k : keys) {
    auto it = pending_.find(k);
    if (it == pending_.end()) {
      continue;
    }
    it->second.need &= ~bit;
    it->second.have |= bit;
    if (it->second.need == 0) {
      auto offset = it->second.offset;
      pending_.erase(it);
      done_locked(k, offset);
    }
  }
}

std::uint64_t commit_tracker::delivered_since_snapshot() const {
  std::lock_guard lock(mutex_);
  return delivered_since_;
}

saved_state commit_tracker::snapshot(std::uint64_t* pending) {
  std::lock_guard lock(mutex_);
  saved_state s;
  s.producers = producers_;
  s.commits = ++commits_;
  s.sinks.resize(positions_.size());
  for (std::size_t i = 0; i < positions_.size(); ++i) {
    s.sinks[i].position = positions_[i];
    const std::uint64_t bit = std::uint64_t{1} << i;
    for (const auto& [k, m] : prior_held_) {
      if (m & bit) {
        s.sinks[i].held.push_back(k);
      }
    }
    for (const auto& [k, e] : pending_) {
      if ((e.have & bit) && !prior_held_.count(k)) {
        s.sinks[i].held.push_back(k);
      }
    }
  }
  if (pending) {
    *pending = pending_.size();
  }
  delivered_since_ = 0;
  return s;
}

struct state_store::db {
  sqlite3* h = nullptr;
  std::filesystem::path path;
  int lock_fd = -1;  ///< `lock`, flock'ed for the store's lifetime

  [[noreturn]] void fail(const std::string& what) const {
    throw std::runtime_error(
        fmt::format("state {}: {}: {}", path.string(), what, h ? sqlite3_errmsg(h) : "?"));
  }
  void exec(const char* sql) const {
    char* err = nullptr;
    if (sqlite3_exec(h, sql, nullptr, nullptr, &err) != SQLITE_OK) {
      std::string msg = err ? err : sqlite3_errmsg(h);
      sqlite3_free(err);
      throw std::runtime_error(fmt::format("state {}: {}", path.string(), msg));
    }
  }
  sqlite3_stmt* prepare(const char* sql) const {
    sqlite3_stmt* st = nullptr;
    if (sqlite3_prepare_v2(h, sql, -1, &st, nullptr) != SQLITE_OK) {
      fail("prepare");
    }
    return st;
  }
};

namespace {

// One statement, finalized on every path.
struct stmt {
  sqlite3_stmt* st;
  ~stmt() { sqlite3_finalize(st); }
  void text(int i, const std::string& s) {
    sqlite3_bind_text(st, i, s.data(), static_cast<int>(s.size()), SQLITE_TRANSIENT);
  }
  void i64(int i, std::uint64_t v) { sqlite3_bind_int64(st, i, static_cast<sqlite3_int64>(v)); }
  std::string col_text(int i) const {
    auto* p = sqlite3_column_text(st, i);
    return p ? reinterpret_cast<const char*>(p) : "";
  }
  std::uint64_t col_u64(int i) const {
    return static_cast<std::uint64_t>(sqlite3_column_int64(st, i));
  }
};

}  // namespace

state_store::state_store(const std::filesystem::path& dir)
    : dir_(dir), db_(std::make_unique<db>()) {
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  if (ec) {
    throw std::runtime_error(
        fmt::format("cannot create the state directory {}: {}", dir.string(), ec.message()));
  }
  // One run at a time: two runs of one pipeline would both append to its
  // sinks and overwrite each other's journal. An flock, not a pid file: the
  // kernel drops it when the holder dies, kill -9 included, so a crash never
  // leaves a stale lock behind.
  auto lock = dir / "lock";
  db_->lock_fd = ::open(lock.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  if (db_->lock_fd < 0) {
    throw std::runtime_error(
        fmt::format("cannot open {}: {}", lock.string(), std::strerror(errno)));
  }
  if (::flock(db_->lock_fd, LOCK_EX | LOCK_NB) != 0) {
    const int e = errno;
    ::close(db_->lock_fd);
    db_->lock_fd = -1;
    throw std::runtime_error(
        e == EWOULDBLOCK
            ? fmt::format("another sluice run is using {} (wait for it, or give this run "
                          "--state DIR or --no-state)",
                          dir.string())
            : fmt::format("cannot lock {}: {}", lock.string(), std::strerror(e)));
  }
  db_->path = dir / "state.db";
  if (sqlite3_open_v2(db_->path.c_str(), &db_->h,
                      SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX,
                      nullptr) != SQLITE_OK) {
    db_->fail("cannot open");
  }
  db_->exec("PRAGMA busy_timeout = 2000");
  // A rollback journal with synchronous=FULL: a COMMIT that returned is on
  // disk, and one that a kill -9 interrupted is rolled back on the next open.
  db_->exec("PRAGMA journal_mode = DELETE");
  db_->exec("PRAGMA synchronous = FULL");
  db_->exec(
      "CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);"
      "CREATE TABLE IF NOT EXISTS producers (idx INTEGER PRIMARY KEY, watermark INTEGER NOT "
      "NULL, offset INTEGER NOT NULL, done_above TEXT NOT NULL);"
      "CREATE TABLE IF NOT EXISTS sinks (idx INTEGER PRIMARY KEY, position TEXT, held TEXT NOT "
      "NULL)");
}

state_store::~state_store() {
  if (db_ && db_->h) {
    sqlite3_close_v2(db_->h);
  }
  if (db_ && db_->lock_fd >= 0) {
    ::close(db_->lock_fd);  // releases the flock
  }
}

std::optional<saved_state> state_store::load() {
  saved_state s;
  bool any = false;
  {
    stmt q{db_->prepare("SELECT key, value FROM meta")};
    while (sqlite3_step(q.st) == SQLITE_ROW) {
      any = true;
      auto k = q.col_text(0);
      auto v = q.col_text(1);
      if (k == "config_hash") {
        s.config_hash = v;
      } else if (k == "finished") {
        s.finished = v == "1";
      } else if (k == "total") {
        s.total = std::stoull(v);
      } else if (k == "commits") {
        s.commits = std::stoull(v);
      }
    }
  }
  if (!any) {
    return std::nullopt;
  }
  {
    stmt q{db_->prepare("SELECT idx, watermark, offset, done_above FROM producers ORDER BY idx")};
    while (sqlite3_step(q.st) == SQLITE_ROW) {
      if (q.col_u64(0) != s.producers.size()) {
        throw std::runtime_error("corrupt state " + db_->path.string() + ": producer rows");
      }
      s.producers.push_back(
          producer_progress::from_saved(q.col_u64(1), q.col_u64(2), q.col_text(3)));
    }
  }
  {
    stmt q{db_->prepare("SELECT idx, position, held FROM sinks ORDER BY idx")};
    while (sqlite3_step(q.st) == SQLITE_ROW) {
      if (q.col_u64(0) != s.sinks.size()) {
        throw std::runtime_error("corrupt state " + db_->path.string() + ": sink rows");
      }
      sink_saved ss;
      if (sqlite3_column_type(q.st, 1) != SQLITE_NULL) {
        ss.position = q.col_text(1);
      }
      // A named value: in a range-for, the temporary json::parse returns
      // would die before the loop body reads the array it owns (reading
      // freed memory: "not a number" on resume, seen one run in five).
      const auto held = json::parse(q.col_text(2));
      for (const auto& k : held.as_array()) {
        ss.held.push_back(k.to_number<std::uint64_t>());
      }
      s.sinks.push_back(std::move(ss));
    }
  }
  return s;
}

void state_store::save(const saved_state& s) {
  db_->exec("BEGIN IMMEDIATE");
  try {
    db_->exec("DELETE FROM meta; DELETE FROM producers; DELETE FROM sinks");
    auto meta = [&](const char* k, const std::string& v) {
      stmt q{db_->prepare("INSERT INTO meta (key, value) VALUES (?1, ?2)")};
      q.text(1, k);
      q.text(2, v);
      if (sqlite3_step(q.st) != SQLITE_DONE) {
        db_->fail("saving");
      }
    };
    meta("config_hash", s.config_hash);
    meta("finished", s.finished ? "1" : "0");
    meta("commits", std::to_string(s.commits));
    if (s.total) {
      meta("total", std::to_string(*s.total));
    }
    for (std::size_t i = 0; i < s.producers.size(); ++i) {
      const auto& p = s.producers[i];
      stmt q{db_->prepare(
          "INSERT INTO producers (idx, watermark, offset, done_above) VALUES (?1, ?2, ?3, ?4)")};
      q.i64(1, i);
      q.i64(2, p.watermark());
      q.i64(3, p.watermark_offset());
      q.text(4, p.intervals_json());
      if (sqlite3_step(q.st) != SQLITE_DONE) {
        db_->fail("saving");
      }
    }
    for (std::size_t i = 0; i < s.sinks.size(); ++i) {
      const auto& k = s.sinks[i];
      stmt q{db_->prepare("INSERT INTO sinks (idx, position, held) VALUES (?1, ?2, ?3)")};
      q.i64(1, i);
      if (k.position) {
        q.text(2, *k.position);
      }
      json::array held;
      for (auto h : k.held) {
        held.push_back(h);
      }
      q.text(3, json::serialize(held));
      if (sqlite3_step(q.st) != SQLITE_DONE) {
        db_->fail("saving");
      }
    }
    db_->exec("COMMIT");
  } catch (...) {
    sqlite3_exec(db_->h, "ROLLBACK", nullptr, nullptr, nullptr);
    throw;
  }
}

void state_store::discard() {
  db_->exec("DELETE FROM meta; DELETE FROM producers; DELETE FROM sinks");
  std::error_code ec;
  for (const auto& e : std::filesystem::directory_iterator(dir_, ec)) {
    if (e.path().filename().string().rfind("dedup", 0) == 0) {
      std::filesystem::remove_all(e.path(), ec);
    }
  }
}

namespace {

json::value sorted(const json::value& v) {
  if (v.is_object()) {
    std::vector<std::pair<std::string, const json::value*>> kv;
    for (const auto& e : v.as_object()) {
      kv.emplace_back(std::string(e.key()), &e.value());
    }
    std::sort(kv.begin(), kv.end(), [](const auto& a, const auto& b) { return a.first < b.first; });
    json::object o;
    for (const auto& [k, p] : kv) {
      o[k] = sorted(*p);
    }
    return o;
  }
  if (v.is_array()) {
    json::array a;
    for (const auto& e : v.as_array()) {
      a.push_back(sorted(e));
    }
    return a;
  }
  return v;
}

}  // namespace

std::string canonical_text(const json::value& v) {
  return json::serialize(sorted(v));
}

std::string canonical_hash(const json::value& v) {
  return sha256_hex(canonical_text(v));
}

std::string sha256_hex(const std::string& text) {
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  EVP_Digest(text.data(), text.size(), md, &len, EVP_sha256(), nullptr);
  std::string hex;
  for (unsigned i = 0; i < len; ++i) {
    hex += fmt::format("{:02x}", md[i]);
  }
  return hex;
}

}  // namespace sluice::detail
