// The `files` sink: each successful result's body as a file under a
// directory, written atomically (temp name, then rename).
#include <fmt/format.h>

#include "sinks.hpp"

namespace sluice::stages::sinks {

namespace net = boost::asio;

namespace {

class files_sink final : public sink {
 public:
  files_sink(const stage_context& ctx, files_config cfg)
      : ctx_(ctx), retry_(cfg.retry), store_(std::make_shared<body_store>(cfg.store)) {}

  net::awaitable<void> write(const std::vector<result_ptr>& batch) override {
    for (const auto& r : batch) {
      // Failed items have no body worth keeping; a `when:` filter narrows
      // further (for example to 2xx).
      if (!r->ok()) {
        continue;
      }
      // Named locals, not temporaries, in the co_await: g++ 12 mishandles
      // the lifetime of non-trivial temporaries there.
      auto store = store_;
      result_ptr keep = r;
      std::string what = "storing the body of " + r->url + " under " + store->dir().string();
      std::function<void()> step = [store, keep] { store->store(*keep); };
      co_await with_retries(ctx_, retry_, std::move(what), std::move(step));
    }
    co_await sync();
  }

  net::awaitable<void> close() override { co_await sync(); }

  // Files are replaced by rename, so a resumed run that stores a body again
  // replaces it: no position is needed. Everything renamed so far is made
  // durable at once (syncfs) rather than one fsync per file.
  net::awaitable<std::optional<std::string>> commit() override {
    auto store = store_;
    std::string what = "syncing " + store->dir().string();
    std::function<void()> step = [store] {
      store->sync_dirs();
      store->sync_all();
    };
    co_await with_retries(ctx_, retry_, std::move(what), std::move(step), true);
    co_return std::string();
  }

 private:
  net::awaitable<void> sync() {
    auto store = store_;
    std::string what = "syncing " + store->dir().string();
    std::function<void()> step = [store] { store->sync_dirs(); };
    co_await with_retries(ctx_, retry_, std::move(what), std::move(step));
  }

  stage_context ctx_;
  retry_policy retry_;
  std::shared_ptr<body_store> store_;
};

}  // namespace

std::unique_ptr<sink> make_files_sink(const stage_context& ctx, files_config cfg) {
  return std::make_unique<files_sink>(ctx, std::move(cfg));
}

}  // namespace sluice::stages::sinks
