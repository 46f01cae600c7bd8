// Body storage: safe layouts and atomic writes; see body_store.hpp.
#include "body_store.hpp"

#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/evp.h>

#include <atomic>
#include <cerrno>
#include <memory>
#include <system_error>
#include <vector>

#include <fmt/format.h>
#include <boost/url/parse.hpp>
#include <boost/url/url_view.hpp>

#include "common.hpp"

namespace sluice::stages::sinks {

namespace fs = std::filesystem;

namespace {

constexpr std::size_t max_component = 200;  // leaves room below NAME_MAX for `~hash`
constexpr std::size_t max_depth = 64;
constexpr std::size_t max_relative = 3000;  // below PATH_MAX with the output dir in front

const char* hex_digits = "0123456789ABCDEF";

void append_escape(std::string& out, unsigned char c) {
  out += '%';
  out += hex_digits[c >> 4];
  out += hex_digits[c & 15];
}

// Escapes what must never reach a file name: the separators, NUL and other
// control bytes, and `%` itself so the mapping stays one-to-one.
std::string encode_component(std::string_view s) {
  if (s == ".") {
    return "%2E";
  }
  if (s == "..") {
    return "%2E%2E";
  }
  std::string out;
  out.reserve(s.size());
  for (char ch : s) {
    auto c = static_cast<unsigned char>(ch);
    if (c == '/' || c == '\\' || c == '%' || c < 0x20 || c == 0x7f) {
      append_escape(out, c);
    } else {
      out += ch;
    }
  }
  return out;
}

// Cuts an over-long component, never inside a `%XX` escape, and makes it
// unique again with a hash of the whole.
std::string cap_component(std::string s) {
  if (s.size() <= max_component) {
    return s;
  }
  std::string suffix = "~" + sha256_hex(s).substr(0, 16);
  std::size_t cut = max_component - suffix.size();
  if (cut >= 1 && s[cut - 1] == '%') {
    cut -= 1;
  } else if (cut >= 2 && s[cut - 2] == '%') {
    cut -= 2;
  }
  return s.substr(0, cut) + suffix;
}

std::string lower(std::string s) {
  for (char& c : s) {
    if (c >= 'A' && c <= 'Z') {
      c = static_cast<char>(c - 'A' + 'a');
    }
  }
  return s;
}

bool is_dir_nofollow(const fs::path& p, bool& exists) {
  struct stat st {};
  if (::lstat(p.c_str(), &st) != 0) {
    exists = false;
    return false;
  }
  exists = true;
  return S_ISDIR(st.st_mode);
}

std::atomic<std::uint64_t> store_instances{0};

}  // namespace

std::string sha256_hex(std::string_view data) {
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  std::unique_ptr<EVP_MD_CTX, decltype(&EVP_MD_CTX_free)> ctx(EVP_MD_CTX_new(), &EVP_MD_CTX_free);
  if (!ctx || EVP_DigestInit_ex(ctx.get(), EVP_sha256(), nullptr) != 1 ||
      EVP_DigestUpdate(ctx.get(), data.data(), data.size()) != 1 ||
      EVP_DigestFinal_ex(ctx.get(), md, &len) != 1) {
    throw std::runtime_error("SHA-256 failed (OpenSSL)");
  }
  std::string out;
  out.reserve(len * 2);
  static const char* lower_hex = "0123456789abcdef";
  for (unsigned int i = 0; i < len; ++i) {
    out += lower_hex[md[i] >> 4];
    out += lower_hex[md[i] & 15];
  }
  return out;
}

std::string host_dir(std::string_view url) {
  auto parsed = boost::urls::parse_uri(url);
  if (!parsed) {
    return "_invalid";
  }
  std::string host = lower(parsed->host());
  if (host.empty()) {
    return "_nohost";
  }
  std::string out;
  for (std::size_t i = 0; i < host.size(); ++i) {
    auto c = static_cast<unsigned char>(host[i]);
    bool safe = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '_' ||
                (c == '.' && i > 0);
    if (safe) {
      out += static_cast<char>(c);
    } else {
      append_escape(out, c);
    }
  }
  if (parsed->has_port()) {
    out += "_" + encode_component(parsed->port());
  }
  return cap_component(out);
}

fs::path hash_path(std::string_view url) {
  std::string h = sha256_hex(url);
  return fs::path(host_dir(url)) / h.substr(0, 2) / h;
}

fs::path readable_path(std::string_view url) {
  auto parsed = boost::urls::parse_uri(url);
  if (!parsed) {
    return {};
  }
  std::vector<std::string> parts;
  bool trailing_slash = true;
  for (std::string seg : parsed->segments()) {  // decoded exactly once
    if (seg.empty()) {
      trailing_slash = true;
      continue;  // `//` and a trailing `/`
    }
    trailing_slash = false;
    parts.push_back(encode_component(seg));
  }
  if (trailing_slash || parts.empty()) {
    parts.emplace_back("index.html");
  }
  if (parsed->has_query()) {
    parts.back() += "?" + encode_component(parsed->encoded_query());
  }
  if (parts.size() > max_depth) {
    return {};
  }
  fs::path rel = host_dir(url);
  for (auto& p : parts) {
    rel /= cap_component(std::move(p));
  }
  if (rel.native().size() > max_relative || !is_safe_relative(rel)) {
    return {};
  }
  return rel;
}

bool is_safe_relative(const fs::path& rel) {
  const std::string& s = rel.native();
  if (s.empty() || s.front() == '/' || s.find('\0') != std::string::npos ||
      s.find('\\') != std::string::npos) {
    return false;
  }
  std::size_t start = 0;
  while (start <= s.size()) {
    std::size_t end = s.find('/', start);
    if (end == std::string::npos) {
      end = s.size();
    }
    std::string_view c(s.data() + start, end - start);
    if (c.empty() || c == "." || c == ".." || c.size() > 255) {
      return false;
    }
    start = end + 1;
  }
  return true;
}

body_store::body_store(body_store_options opts) : opts_(std::move(opts)) {
  std::error_code ec;
  fs::create_directories(opts_.dir, ec);
  if (ec) {
    throw std::system_error(ec, "cannot create directory " + opts_.dir.string());
  }
  tmp_dir_ = opts_.dir / ".sluice-tmp";
  fs::create_directories(tmp_dir_, ec);
  if (ec) {
    throw std::system_error(ec, "cannot create directory " + tmp_dir_.string());
  }
  // Leftovers of a crashed run: temporary names of processes that are gone.
  for (const auto& e : fs::directory_iterator(tmp_dir_, ec)) {
    std::string name = e.path().filename().string();
    auto dot = name.find('.');
    pid_t pid = static_cast<pid_t>(std::atoll(name.substr(0, dot).c_str()));
    if (pid <= 0 || (pid != ::getpid() && ::kill(pid, 0) != 0 && errno == ESRCH)) {
      fs::remove(e.path(), ec);
    }
  }
  counter_ = store_instances.fetch_add(1) << 40;
}

bool body_store::make_parents(const fs::path& rel) {
  fs::path cur = opts_.dir;
  fs::path parent = rel.parent_path();
  for (const auto& part : parent) {
    cur /= part;
    bool exists = false;
    if (is_dir_nofollow(cur, exists)) {
      continue;
    }
    if (exists) {
      return false;  // a file (or a link) where a directory is needed
    }
    if (::mkdir(cur.c_str(), 0755) != 0 && errno != EEXIST) {
      throw_errno("cannot create directory", cur);
    }
    if (!is_dir_nofollow(cur, exists)) {
      return false;
    }
  }
  return true;
}

fs::path body_store::choose(const std::string& url) {
  if (opts_.layout == body_layout::hash) {
    fs::path rel = hash_path(url);
    if (!make_parents(rel)) {
      throw std::system_error(std::make_error_code(std::errc::not_a_directory),
                              "cannot create the directories of " + (opts_.dir / rel).string());
    }
    return rel;
  }
  fs::path rel = readable_path(url);
  if (!rel.empty()) {
    auto it = claimed_.find(rel);
    if (it != claimed_.end() && it->second != url) {
      // Two URLs map to one readable name in this run: keep both.
      rel.replace_filename(rel.filename().string() + "~" + sha256_hex(url).substr(0, 16));
      it = claimed_.find(rel);
      if (it != claimed_.end() && it->second != url) {
        rel.clear();
      }
    }
  }
  if (!rel.empty() && make_parents(rel)) {
    bool exists = false;
    if (!is_dir_nofollow(opts_.dir / rel, exists)) {
      struct stat st {};
      bool link = ::lstat((opts_.dir / rel).c_str(), &st) == 0 && S_ISLNK(st.st_mode);
      if (!link) {
        return rel;
      }
    }
  }
  // A file/directory clash, or a name too deep or long to be readable.
  fs::path fallback = fs::path(".by-hash") / hash_path(url);
  if (!make_parents(fallback)) {
    throw std::system_error(std::make_error_code(std::errc::not_a_directory),
                            "cannot create the directories of " + (opts_.dir / fallback).string());
  }
  return fallback;
}

void body_store::write_temp(const result& r, const fs::path& tmp) {
  if (!r.body_file.empty()) {
    // Zero-copy: a second name for the consumer's file. The source stays for
    // other sinks and is removed with the run's temporary directory.
    if (::link(r.body_file.c_str(), tmp.c_str()) == 0) {
      if (opts_.fsync) {
        int fd = ::open(tmp.c_str(), O_RDONLY | O_CLOEXEC);
        if (fd < 0 || ::fsync(fd) != 0) {
          int e = errno;
          if (fd >= 0) {
            ::close(fd);
          }
          ::unlink(tmp.c_str());
          errno = e;
          throw_errno("cannot fsync", tmp);
        }
        ::close(fd);
      }
      return;
    }
    if (errno == ENOENT) {
      throw_errno("body file vanished:", r.body_file);
    }
    // Another file system (EXDEV) or no hard links: the kernel copies.
    std::error_code ec;
    fs::copy_file(r.body_file, tmp, fs::copy_options::overwrite_existing, ec);
    if (ec) {
      fs::remove(tmp);
      throw std::system_error(ec, "cannot copy " + r.body_file + " to " + tmp.string());
    }
    if (opts_.fsync) {
      int fd = ::open(tmp.c_str(), O_RDONLY | O_CLOEXEC);
      int rc = fd < 0 ? -1 : ::fsync(fd);
      if (fd >= 0) {
        ::close(fd);
      }
      if (rc != 0) {
        ::unlink(tmp.c_str());
        throw_errno("cannot fsync", tmp);
      }
    }
    return;
  }
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) {
    throw_errno("cannot create", tmp);
  }
  std::size_t off = 0;
  while (off < r.body.size()) {
    ssize_t n = ::write(fd, r.body.data() + off, r.body.size() - off);
    if (n < 0 && errno == EINTR) {
      continue;
    }
    if (n <= 0) {
      int e = n < 0 ? errno : ENOSPC;
      ::close(fd);
      ::unlink(tmp.c_str());
      errno = e;
      throw_errno("cannot write", tmp);
    }
    off += static_cast<std::size_t>(n);
  }
  if ((opts_.fsync && ::fsync(fd) != 0) || ::close(fd) != 0) {
    int e = errno;
    ::unlink(tmp.c_str());
    errno = e;
    throw_errno("cannot write", tmp);
  }
}

fs::path body_store::store(const result& r) {
  fs::path rel = choose(r.url);
  if (!is_safe_relative(rel)) {
    throw std::logic_error("unsafe body path for " + r.url);  // a bug, never input
  }
  fs::path tmp = tmp_dir_ / fmt::format("{}.{}", ::getpid(), counter_++);
  write_temp(r, tmp);
  fs::path final_path = opts_.dir / rel;
  if (::rename(tmp.c_str(), final_path.c_str()) != 0) {
    int e = errno;
    ::unlink(tmp.c_str());
    errno = e;
    throw_errno("cannot rename a body into", final_path);
  }
  if (opts_.fsync) {
    dirty_dirs_.insert(final_path.parent_path());
  }
  if (opts_.layout == body_layout::path) {
    claimed_.emplace(rel, r.url);
  }
  return rel;
}

void body_store::sync_all() {
  int fd = ::open(opts_.dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0 || ::syncfs(fd) != 0) {
    int e = errno;
    if (fd >= 0) {
      ::close(fd);
    }
    errno = e;
    throw_errno("cannot sync", opts_.dir);
  }
  ::close(fd);
}

void body_store::sync_dirs() {
  for (auto it = dirty_dirs_.begin(); it != dirty_dirs_.end();) {
    int fd = ::open(it->c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0 || ::fsync(fd) != 0) {
      int e = errno;
      if (fd >= 0) {
        ::close(fd);
      }
      errno = e;
      throw_errno("cannot fsync directory", *it);
    }
    ::close(fd);
    it = dirty_dirs_.erase(it);
  }
}

}  // namespace sluice::stages::sinks
