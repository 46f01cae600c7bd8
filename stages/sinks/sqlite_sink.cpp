// The `sqlite` sink: results upserted into a table keyed by URL, in WAL mode,
// in transactions batched by count and by time.
#include <sqlite3.h>

#include <fmt/format.h>
#include <boost/json/object.hpp>
#include <boost/json/serialize.hpp>

#include "sinks.hpp"

namespace sluice::stages::sinks {

namespace net = boost::asio;

namespace {

const char* columns_sql =
    "url, final_url, ok, status, error_kind, error_message, attempts, redirects, bytes, "
    "content_type, headers, body, body_path, queue_ms, dns_ms, connect_ms, tls_ms, ttfb_ms, "
    "total_ms, stored_at, meta";
constexpr int column_count = 21;

class database {
 public:
  explicit database(const std::filesystem::path& path) : path_(path) {
    std::error_code ec;
    if (path.has_parent_path()) {
      std::filesystem::create_directories(path.parent_path(), ec);
    }
    int rc =
        sqlite3_open_v2(path.c_str(), &db_,
                        SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, nullptr);
    if (rc != SQLITE_OK) {
      std::string msg = db_ ? sqlite3_errmsg(db_) : sqlite3_errstr(rc);
      sqlite3_close(db_);
      db_ = nullptr;
      throw io_error("cannot open SQLite database " + path.string() + ": " + msg);
    }
    sqlite3_extended_result_codes(db_, 1);
  }
  ~database() {
    if (db_) {
      sqlite3_close_v2(db_);
    }
  }
  database(const database&) = delete;
  database& operator=(const database&) = delete;

  sqlite3* get() const noexcept { return db_; }

  [[noreturn]] void fail(const std::string& what) const {
    throw io_error(fmt::format("SQLite {} in {}: {}", what, path_.string(), sqlite3_errmsg(db_)));
  }

  void exec(const std::string& sql) const {
    char* err = nullptr;
    if (sqlite3_exec(db_, sql.c_str(), nullptr, nullptr, &err) != SQLITE_OK) {
      std::string msg = err ? err : sqlite3_errmsg(db_);
      sqlite3_free(err);
      throw io_error(fmt::format("SQLite error in {} ({}): {}", path_.string(),
                                 sql.substr(0, sql.find(' ', 12)), msg));
    }
  }

  std::string query_text(const std::string& sql) const {
    sqlite3_stmt* st = nullptr;
    if (sqlite3_prepare_v2(db_, sql.c_str(), -1, &st, nullptr) != SQLITE_OK) {
      fail("prepare");
    }
    std::string out;
    int rc = sqlite3_step(st);
    if (rc == SQLITE_ROW && sqlite3_column_text(st, 0)) {
      out = reinterpret_cast<const char*>(sqlite3_column_text(st, 0));
    }
    sqlite3_finalize(st);
    if (rc != SQLITE_ROW && rc != SQLITE_DONE) {
      fail("query");
    }
    return out;
  }

 private:
  std::filesystem::path path_;
  sqlite3* db_ = nullptr;
};

class statement {
 public:
  statement(const database& db, const std::string& sql) : db_(db) {
    if (sqlite3_prepare_v3(db.get(), sql.c_str(), -1, SQLITE_PREPARE_PERSISTENT, &st_, nullptr) !=
        SQLITE_OK) {
      db.fail("prepare");
    }
  }
  ~statement() { sqlite3_finalize(st_); }
  statement(const statement&) = delete;
  statement& operator=(const statement&) = delete;
  sqlite3_stmt* get() const noexcept { return st_; }

 private:
  const database& db_;
  sqlite3_stmt* st_ = nullptr;
};

class sqlite_sink final : public sink {
 public:
  sqlite_sink(const stage_context& ctx, sqlite_config cfg)
      : ctx_(ctx), cfg_(std::move(cfg)), db_(cfg_.path), timer_(ctx.executor) {
    db_.exec("PRAGMA busy_timeout = 5000");
    std::string mode = db_.query_text("PRAGMA journal_mode = WAL");
    if (mode != "wal") {
      throw io_error("cannot switch " + cfg_.path.string() + " to WAL mode (journal_mode=" + mode +
                     ")");
    }
    db_.exec(cfg_.synchronous_full ? "PRAGMA synchronous = FULL" : "PRAGMA synchronous = NORMAL");
    db_.exec(sqlite_schema(cfg_.table));
    // A table made before `meta` existed gets the column (NULL in old rows).
    if (db_.query_text(fmt::format("SELECT name FROM pragma_table_info('{}') WHERE name = 'meta'",
                                   cfg_.table))
            .empty()) {
      db_.exec(
          fmt::format("ALTER TABLE {} ADD COLUMN meta TEXT CHECK (meta IS NULL OR "
                      "json_valid(meta))",
                      cfg_.table));
    }
    std::string set;
    std::string cols = columns_sql;
    std::size_t start = 0;
    while (start < cols.size()) {
      std::size_t end = cols.find(',', start);
      if (end == std::string::npos) {
        end = cols.size();
      }
      std::string c = cols.substr(start, end - start);
      c.erase(0, c.find_first_not_of(' '));
      if (c != "url") {
        set += fmt::format("{}{} = excluded.{}", set.empty() ? "" : ", ", c, c);
      }
      start = end + 1;
    }
    std::string params;
    for (int i = 1; i <= column_count; ++i) {
      params += fmt::format("{}?{}", i > 1 ? ", " : "", i);
    }
    upsert_ = std::make_unique<statement>(
        db_, fmt::format("INSERT INTO {0} ({1}) VALUES ({2}) ON CONFLICT(url) DO UPDATE SET {3}, "
                         "store_count = {0}.store_count + 1",
                         cfg_.table, columns_sql, params, set));
    if (cfg_.store_body && !cfg_.body_dir.empty()) {
      body_store_options o;
      o.dir = cfg_.body_dir;
      o.layout = body_layout::hash;
      o.fsync = cfg_.synchronous_full;
      bodies_ = std::make_shared<body_store>(o);
    }
  }

  bool wants_bodies() const override { return cfg_.store_body; }

  net::awaitable<void> write(const std::vector<result_ptr>& batch) override {
    timer_.rethrow();
    pending_.insert(pending_.end(), batch.begin(), batch.end());
    co_await timer_.flush_or_arm(pending_.size() >= cfg_.batch_rows, !pending_.empty(),
                                 cfg_.batch_interval, [this] { return flush(); });
  }

  // Rows are upserted by URL, so a resumed run that stores a URL again
  // replaces its row: no position is needed. The checkpoint fsyncs the WAL
  // and the database (a COMMIT in WAL mode with synchronous=NORMAL survives
  // a crash of the process but not of the machine); syncfs covers the body
  // files stored beside it.
  net::awaitable<std::optional<std::string>> commit() override {
    co_await timer_.drain();
    co_await flush();
    std::string what = "committing " + cfg_.path.string();
    std::function<void()> step = [this] {
      int rc = sqlite3_wal_checkpoint_v2(db_.get(), nullptr, SQLITE_CHECKPOINT_PASSIVE, nullptr,
                                         nullptr);
      if (rc != SQLITE_OK) {
        db_.fail("checkpoint");
      }
      if (bodies_) {
        bodies_->sync_all();
      }
    };
    co_await with_retries(ctx_, cfg_.retry, std::move(what), std::move(step));
    co_return std::string();
  }

  net::awaitable<void> close() override {
    co_await timer_.close([this] { return flush(); });
    // Fold the WAL back into the database so the file stands alone; a busy
    // reader only postpones that, so the outcome is not an error.
    sqlite3_wal_checkpoint_v2(db_.get(), nullptr, SQLITE_CHECKPOINT_TRUNCATE, nullptr, nullptr);
  }

 private:
  net::awaitable<void> flush() {
    if (pending_.empty()) {
      co_return;
    }
    auto rows = std::make_shared<std::vector<result_ptr>>(std::move(pending_));
    pending_.clear();
    // Named locals, not temporaries, in the co_await (g++ 12).
    std::string what = fmt::format("writing {} rows to {}", rows->size(), cfg_.path.string());
    std::function<void()> step = [this, rows] { write_rows(*rows); };
    co_await with_retries(ctx_, cfg_.retry, std::move(what), std::move(step));
  }

  // One transaction for the whole batch: either every row is in, or none
  // (ROLLBACK), so a retry never half-applies.
  void write_rows(const std::vector<result_ptr>& rows) {
    std::vector<std::string> paths(rows.size());
    for (std::size_t i = 0; i < rows.size(); ++i) {
      const result& r = *rows[i];
      if (bodies_ && r.ok() && (!r.body_file.empty() || r.body.size() > cfg_.inline_max)) {
        paths[i] = bodies_->store(r).string();
      }
    }
    if (bodies_) {
      bodies_->sync_dirs();
    }
    db_.exec("BEGIN IMMEDIATE");
    try {
      std::string now = utc_now_rfc3339();
      for (std::size_t i = 0; i < rows.size(); ++i) {
        bind_and_step(*rows[i], paths[i], now);
      }
      db_.exec("COMMIT");
    } catch (...) {
      sqlite3_exec(db_.get(), "ROLLBACK", nullptr, nullptr, nullptr);
      throw;
    }
  }

  void bind_and_step(const result& r, const std::string& body_path, const std::string& now) {
    sqlite3_stmt* st = upsert_->get();
    sqlite3_reset(st);
    sqlite3_clear_bindings(st);
    auto text = [&](int i, const std::string& s) {
      sqlite3_bind_text(st, i, s.data(), static_cast<int>(s.size()), SQLITE_TRANSIENT);
    };
    auto text_or_null = [&](int i, const std::string& s) {
      if (!s.empty()) {
        text(i, s);
      }
    };
    text(1, r.url);
    text_or_null(2, r.final_url);
    sqlite3_bind_int(st, 3, r.ok() ? 1 : 0);
    sqlite3_bind_int(st, 4, r.status);
    text_or_null(5, r.error_kind);
    text_or_null(6, r.error_message);
    sqlite3_bind_int64(st, 7, r.attempts);
    sqlite3_bind_int64(st, 8, r.redirects);
    sqlite3_bind_int64(st, 9, static_cast<sqlite3_int64>(r.bytes));
    text_or_null(10, r.content_type);
    if (!r.headers.empty()) {
      boost::json::object h;
      for (const auto& [k, v] : r.headers) {
        h[utf8_clean(k)] = utf8_clean(v);
      }
      text(11, boost::json::serialize(h));
    }
    if (cfg_.store_body && r.ok()) {
      if (!body_path.empty()) {
        text(13, body_path);
      } else if (r.body_file.empty() && r.body.size() <= cfg_.inline_max) {
        sqlite3_bind_blob64(st, 12, r.body.data(), r.body.size(), SQLITE_STATIC);
      }
    }
    sqlite3_bind_double(st, 14, to_ms(r.time.queue));
    sqlite3_bind_double(st, 15, to_ms(r.time.dns));
    sqlite3_bind_double(st, 16, to_ms(r.time.connect));
    sqlite3_bind_double(st, 17, to_ms(r.time.tls));
    sqlite3_bind_double(st, 18, to_ms(r.time.ttfb));
    sqlite3_bind_double(st, 19, to_ms(r.time.total));
    text(20, now);
    if (r.request) {
      text_or_null(21, r.request->meta);
    }
    int rc = sqlite3_step(st);
    if (rc != SQLITE_DONE) {
      std::string msg = sqlite3_errmsg(db_.get());
      sqlite3_reset(st);
      throw io_error(fmt::format("SQLite upsert into {} failed: {}", cfg_.path.string(), msg));
    }
    sqlite3_reset(st);
  }

  stage_context ctx_;
  sqlite_config cfg_;
  database db_;
  std::unique_ptr<statement> upsert_;
  std::shared_ptr<body_store> bodies_;
  std::vector<result_ptr> pending_;
  flush_timer timer_;
};

}  // namespace

std::string sqlite_schema(const std::string& table) {
  return fmt::format(
      "CREATE TABLE IF NOT EXISTS {} (\n"
      "  url           TEXT PRIMARY KEY,  -- the requested URL\n"
      "  final_url     TEXT,              -- after redirects (NULL when none)\n"
      "  ok            INTEGER NOT NULL,  -- 1 unless the item failed\n"
      "  status        INTEGER NOT NULL,  -- HTTP status, 0 without a response\n"
      "  error_kind    TEXT,              -- connect, timeout, body_limit, ...\n"
      "  error_message TEXT,\n"
      "  attempts      INTEGER NOT NULL,\n"
      "  redirects     INTEGER NOT NULL,\n"
      "  bytes         INTEGER NOT NULL,  -- body bytes (decoded)\n"
      "  content_type  TEXT,\n"
      "  headers       TEXT,              -- selected headers, a JSON object\n"
      "  body          BLOB,              -- the body when at most inline_max bytes\n"
      "  body_path     TEXT,              -- else its path relative to body_dir\n"
      "  queue_ms      REAL,\n"
      "  dns_ms        REAL,\n"
      "  connect_ms    REAL,\n"
      "  tls_ms        REAL,\n"
      "  ttfb_ms       REAL,\n"
      "  total_ms      REAL,\n"
      "  stored_at     TEXT NOT NULL,     -- RFC 3339 UTC time of the last store\n"
      "  store_count   INTEGER NOT NULL DEFAULT 1, -- how often this URL was stored\n"
      "  meta          TEXT CHECK (meta IS NULL OR json_valid(meta))  -- the item's meta object\n"
      ")",
      table);
}

std::unique_ptr<sink> make_sqlite_sink(const stage_context& ctx, sqlite_config cfg) {
  return std::make_unique<sqlite_sink>(ctx, std::move(cfg));
}

}  // namespace sluice::stages::sinks
