// The http consumer's decoders of gzip and deflate (zlib) and br (brotli) bodies, fed as the
// body arrives; their output goes to a callback (the body sink). A chain of
// them decodes stacked codings (`Content-Encoding: gzip, gzip`).
#pragma once

#include <cstddef>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <brotli/decode.h>
#include <fmt/format.h>
#include <zlib.h>
#include <boost/url/grammar/ci_string.hpp>

#include "sluice/stage/options.hpp"

namespace sluice::stages::http {

/// zlib inflater for gzip (every member of a multi-member file, as gzip -d
/// reads `cat a.gz b.gz`) and for zlib-wrapped or raw deflate.
/// Thread safety: one owner.
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
    while (zs_.avail_in > 0 && !ignore_rest_) {
      if (done_) {
        if (!gzip_) {
          break;  // zlib/deflate has one stream: what follows is ignored
        }
        // Another gzip member follows the one that ended.
        inflateReset(&zs_);
        done_ = false;
        member_out_ = 0;
      }
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
      if (rc == Z_DATA_ERROR && gzip_ && members_ > 0 && member_out_ == 0) {
        // Bytes after a complete member that are no member (zero padding,
        // junk): ignored, as gzip -d does ("trailing garbage ignored").
        ignore_rest_ = true;
        break;
      }
      if (rc != Z_OK && rc != Z_STREAM_END && rc != Z_BUF_ERROR) {
        error = fmt::format("corrupt {} body: {}", gzip_ ? "gzip" : "deflate",
                            zs_.msg ? zs_.msg : "zlib error");
        return false;
      }
      std::size_t produced = sizeof(buf_) - zs_.avail_out;
      member_out_ += produced;
      if (produced > 0 && !out(buf_, produced)) {
        return false;
      }
      if (rc == Z_STREAM_END) {
        done_ = true;
        ++members_;
      }
      if (rc == Z_BUF_ERROR && produced == 0) {
        break;
      }
    }
    return true;
  }

  /// True at the end of a complete stream (a gzip member boundary): false
  /// means the body was cut short.
  bool finished() const { return done_ || ignore_rest_; }

 private:
  z_stream zs_{};
  bool active_ = false;
  bool gzip_ = false;
  bool tried_raw_ = false;
  bool done_ = false;
  bool ignore_rest_ = false;
  std::uint64_t members_ = 0;
  std::uint64_t member_out_ = 0;
  char buf_[16 * 1024];
};

/// Brotli decoder (RFC 7932, `Content-Encoding: br`).
/// Thread safety: one owner.
class brotli_decoder {
 public:
  brotli_decoder() : st_(BrotliDecoderCreateInstance(nullptr, nullptr, nullptr)) {}
  brotli_decoder(const brotli_decoder&) = delete;
  brotli_decoder& operator=(const brotli_decoder&) = delete;
  ~brotli_decoder() {
    if (st_ != nullptr) {
      BrotliDecoderDestroyInstance(st_);
    }
  }

  /// As inflater::feed.
  template <class Out>
  bool feed(const char* in, std::size_t n, Out&& out, std::string& error) {
    if (st_ == nullptr) {
      error = "brotli init failed";
      return false;
    }
    const auto* next_in = reinterpret_cast<const std::uint8_t*>(in);
    std::size_t avail_in = n;
    while (!done_) {
      auto* next_out = reinterpret_cast<std::uint8_t*>(buf_);
      std::size_t avail_out = sizeof(buf_);
      auto rc =
          BrotliDecoderDecompressStream(st_, &avail_in, &next_in, &avail_out, &next_out, nullptr);
      if (rc == BROTLI_DECODER_RESULT_ERROR) {
        error = fmt::format("corrupt br body: {}",
                            BrotliDecoderErrorString(BrotliDecoderGetErrorCode(st_)));
        return false;
      }
      std::size_t produced = sizeof(buf_) - avail_out;
      if (produced > 0 && !out(buf_, produced)) {
        return false;
      }
      if (rc == BROTLI_DECODER_RESULT_SUCCESS) {
        done_ = true;  // bytes after the stream's end are ignored
      } else if (rc == BROTLI_DECODER_RESULT_NEEDS_MORE_INPUT) {
        break;
      }
    }
    return true;
  }

  bool finished() const { return done_; }

 private:
  BrotliDecoderState* st_;
  bool done_ = false;
  char buf_[16 * 1024];
};

/// The decoders of a Content-Encoding list, applied in reverse of the order
/// the codings were applied (RFC 9110 section 8.4).
/// Thread safety: one owner.
class decoder_chain {
 public:
  /// The chain for `content_encoding` (for example `gzip`, `gzip, gzip`,
  /// `deflate`); nullopt when it names a coding we cannot decode, so the
  /// body is kept as received. `identity` entries are skipped.
  static std::optional<decoder_chain> for_encoding(std::string_view content_encoding) {
    decoder_chain c;
    std::vector<coding> codings;
    while (!content_encoding.empty()) {
      auto comma = content_encoding.find(',');
      auto token = trim_blanks(content_encoding.substr(0, comma));
      content_encoding =
          comma == std::string_view::npos ? std::string_view() : content_encoding.substr(comma + 1);
      if (token.empty() || iequal(token, "identity")) {
        continue;
      }
      if (iequal(token, "gzip") || iequal(token, "x-gzip")) {
        codings.push_back(coding::gzip);
      } else if (iequal(token, "deflate")) {
        codings.push_back(coding::deflate);
      } else if (iequal(token, "br")) {
        codings.push_back(coding::br);
      } else {
        return std::nullopt;
      }
    }
    for (auto it = codings.rbegin(); it != codings.rend(); ++it) {
      stage st;
      if (*it == coding::br) {
        st.br = std::make_unique<brotli_decoder>();
      } else {
        st.z = std::make_unique<inflater>();
        if (!st.z->start(*it == coding::gzip)) {
          return std::nullopt;
        }
      }
      c.stages_.push_back(std::move(st));
    }
    return c;
  }

  bool empty() const { return stages_.empty(); }

  /// Decodes `in` through every stage into `out`; false with `error` as
  /// inflater::feed.
  template <class Out>
  bool feed(const char* in, std::size_t n, Out& out, std::string& error) {
    return feed_at(0, in, n, out, error);
  }

  /// Every stage reached the end of its stream.
  bool finished() const {
    for (auto& s : stages_) {
      if (!(s.z ? s.z->finished() : s.br->finished())) {
        return false;
      }
    }
    return true;
  }

 private:
  template <class Out>
  bool feed_at(std::size_t i, const char* in, std::size_t n, Out& out, std::string& error) {
    if (i == stages_.size()) {
      return out(in, n);
    }
    auto next = [&](const char* p, std::size_t m) { return feed_at(i + 1, p, m, out, error); };
    auto& st = stages_[i];
    return st.z ? st.z->feed(in, n, next, error) : st.br->feed(in, n, next, error);
  }

  static bool iequal(std::string_view a, std::string_view b) {
    return boost::urls::grammar::ci_is_equal(a, b);
  }

  enum class coding { gzip, deflate, br };
  /// One decoder: zlib (gzip, deflate) or brotli.
  struct stage {
    std::unique_ptr<inflater> z;
    std::unique_ptr<brotli_decoder> br;
  };

  std::vector<stage> stages_;
};

}  // namespace sluice::stages::http
