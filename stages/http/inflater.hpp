// The http consumer's decoder of gzip and deflate bodies (zlib), fed as the
// body arrives; its output goes to a callback (the body sink).
#pragma once

#include <cstddef>
#include <string>

#include <fmt/format.h>
#include <zlib.h>

namespace sluice::stages::http {

/// zlib inflater for gzip (and zlib-wrapped or raw deflate).
class inflater {
 public:
  inflater() = default;
  inflater(const inflater&) = delete;
  inflater& operator=(const inflater&) = delete;
  ~inflater() {
    if (active_) {
      inflateEnd(&zs_);
    }
  }

  /// `gzip` selects the gzip wrapper; otherwise zlib or raw deflate is detected.
  bool start(bool gzip) {
    gzip_ = gzip;
    zs_ = z_stream{};
    // 15+32: auto-detect gzip or zlib header.
    active_ = inflateInit2(&zs_, 15 + 32) == Z_OK;
    return active_;
  }

  /// Inflates `in`, calling `out(ptr, n)` for each produced chunk; returns
  /// false with `error` set on corrupt data or when `out` returns false.
  template <class Out>
  bool feed(const char* in, std::size_t n, Out&& out, std::string& error) {
    zs_.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(in));
    zs_.avail_in = static_cast<uInt>(n);
    while (zs_.avail_in > 0 && !done_) {
      zs_.next_out = reinterpret_cast<Bytef*>(buf_);
      zs_.avail_out = sizeof(buf_);
      int rc = inflate(&zs_, Z_NO_FLUSH);
      if (rc == Z_DATA_ERROR && !gzip_ && !tried_raw_ && zs_.total_out == 0) {
        // "deflate" sent without the zlib wrapper (common): retry raw.
        tried_raw_ = true;
        inflateEnd(&zs_);
        zs_ = z_stream{};
        if (inflateInit2(&zs_, -15) != Z_OK) {
          active_ = false;
          error = "zlib init failed";
          return false;
        }
        zs_.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(in));
        zs_.avail_in = static_cast<uInt>(n);
        continue;
      }
      if (rc != Z_OK && rc != Z_STREAM_END && rc != Z_BUF_ERROR) {
        error = fmt::format("corrupt {} body: {}", gzip_ ? "gzip" : "deflate",
                            zs_.msg ? zs_.msg : "zlib error");
        return false;
      }
      std::size_t produced = sizeof(buf_) - zs_.avail_out;
      if (produced > 0 && !out(buf_, produced)) {
        return false;
      }
      if (rc == Z_STREAM_END) {
        done_ = true;
      }
      if (rc == Z_BUF_ERROR && produced == 0) {
        break;
      }
    }
    return true;
  }

  bool finished() const { return done_; }

 private:
  z_stream zs_{};
  bool active_ = false;
  bool gzip_ = false;
  bool tried_raw_ = false;
  bool done_ = false;
  char buf_[16 * 1024];
};

}  // namespace sluice::stages::http
