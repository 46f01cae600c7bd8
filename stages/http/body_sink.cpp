// The http consumer's body sink (see body_sink.hpp).
#include "body_sink.hpp"

#include <cerrno>
#include <cstring>
#include <system_error>

#include <fmt/format.h>
#include <unistd.h>

namespace sluice::stages::http {

temp_files::temp_files(std::filesystem::path dir)
    : dir_(dir.empty() ? std::filesystem::temp_directory_path() : std::move(dir)) {}

std::filesystem::path temp_files::next(std::uint32_t worker) {
  auto n = counter_.fetch_add(1, std::memory_order_relaxed);
  return dir_ / fmt::format("http-{}-{}-{}.body", ::getpid(), worker, n);
}

namespace {

// A full or read-only TMPDIR, or no descriptor left, is the machine's
// failure, not the item's: the environment kind, which stops the run.
fetch_failure file_error(const char* what, const std::filesystem::path& p) {
  const int e = errno;
  return {is_environment_errno(e) ? fetch_errc::environment : fetch_errc::body_file,
          fmt::format("cannot {} {}: {}", what, p.string(), std::strerror(e))};
}

}  // namespace

void body_sink::expect(std::uint64_t length) {
  if (limits_.keep && file_ == nullptr && length <= limits_.memory_body) {
    r_.body.reserve(static_cast<std::size_t>(length));
  }
}

std::optional<fetch_failure> body_sink::spill() {
  path_ = files_.next(worker_);
  file_ = std::fopen(path_.c_str(), "wb");
  if (file_ == nullptr) {
    return file_error("create", path_);
  }
  if (!r_.body.empty() && std::fwrite(r_.body.data(), 1, r_.body.size(), file_) != r_.body.size()) {
    return file_error("write", path_);
  }
  std::string().swap(r_.body);
  return std::nullopt;
}

std::optional<fetch_failure> body_sink::append(const char* p, std::size_t n) {
  std::uint64_t next = r_.bytes + n;
  if (next > limits_.max_decoded) {
    return fetch_failure{
        fetch_errc::body_limit,
        fmt::format("decoded body exceeds max_decoded ({} bytes)", limits_.max_decoded)};
  }
  r_.bytes = next;
  if (!limits_.keep) {
    return std::nullopt;
  }
  if (file_ == nullptr && next > limits_.memory_body) {
    if (auto f = spill()) {
      return f;
    }
  }
  if (file_ == nullptr) {
    r_.body.append(p, n);
  } else if (std::fwrite(p, 1, n, file_) != n) {
    return file_error("write", path_);
  }
  return std::nullopt;
}

std::optional<fetch_failure> body_sink::finish() {
  if (file_ == nullptr) {
    return std::nullopt;
  }
  errno = 0;
  bool ok = std::fflush(file_) == 0;
  ok = (std::fclose(file_) == 0) && ok;
  file_ = nullptr;
  if (!ok) {
    auto f = file_error("write", path_);
    std::error_code ec;
    std::filesystem::remove(path_, ec);
    return f;
  }
  r_.body_file = path_.string();
  return std::nullopt;
}

void body_sink::close_file() {
  if (file_ != nullptr) {
    std::fclose(file_);
    file_ = nullptr;
    std::error_code ec;
    std::filesystem::remove(path_, ec);
  }
}

void body_sink::discard() {
  close_file();
  if (!r_.body_file.empty()) {
    // A finished body of a response we are not keeping (a redirect, a retry).
    std::error_code ec;
    std::filesystem::remove(r_.body_file, ec);
  }
  r_.status = 0;
  r_.bytes = 0;
  r_.body.clear();
  r_.body_file.clear();
  r_.content_type.clear();
  r_.headers.clear();
}

}  // namespace sluice::stages::http
