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

  /// `gzip` selects the gzip wrapper; otherwise zlib or raw deflate is told
  /// apart by the first two bytes (a zlib header or not), so the choice does
  /// not depend on how the body arrives in pieces.
  bool start(bool gzip) {
    gzip_ = gzip;
    zs_ = z_stream{};
    if (!gzip_) {
      return true;  // initialised once the header bytes are in (sniff)
    }
    // 15+32: auto-detect gzip or zlib header.
    active_ = inflateInit2(&zs_, 15 + 32) == Z_OK;
    return active_;
  }

  /// Inflates `in`, calling `out(ptr, n)` for each produced chunk; returns
  /// false with `error` set on corrupt data or when `out` returns false.
  template <class Out>
  bool feed(const char* in, std::size_t n, Out&& out, std::string& error) {
    if (!gzip_ && !active_) {
      // "deflate" is zlib-wrapped by the standard and raw deflate from many
      // servers: two bytes decide, held back until both are here.
      while (head_len_ < 2 && n > 0) {
        head_[head_len_++] = *in++;
        --n;
      }
      if (head_len_ < 2) {
        return true;
      }
      auto cmf = static_cast<unsigned char>(head_[0]);
      auto flg = static_cast<unsigned char>(head_[1]);
      bool zlib = (cmf & 0x0f) == 8 && (cmf >> 4) <= 7 && ((cmf << 8) | flg) % 31 == 0;
      if (inflateInit2(&zs_, zlib ? 15 : -15) != Z_OK) {
        error = "zlib init failed";
        return false;
      }
      active_ = true;
      if (!inflate_some(head_, 2, out, error)) {
        return false;
      }
    }
    return inflate_some(in, n, out, error);
  }

  /// True at the end of a complete stream (a gzip member boundary): false
  /// means the body was cut short.
  bool finished() const { return done_ || ignore_rest_; }

 private:
  template <class Out>
  bool inflate_some(const char* in, std::size_t n, Out&& out, std::string& error) {
    zs_.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(in));
    zs_.avail_in = static_cast<uInt>(n);
    // Also after the input is used up while the last call filled the whole
    // buffer: zlib may hold more output (found by the inflater fuzzer).
    bool full = false;
    while ((zs_.avail_in > 0 || full) && !ignore_rest_) {
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
      std::size_t produced = sizeof(buf_) - zs_.avail_out;
      if (rc == Z_DATA_ERROR && gzip_ && members_ > 0 && member_out_ == 0 && produced == 0) {
        // Bytes after a complete member that are no member (zero padding,
        // junk): ignored, as gzip -d does ("trailing garbage ignored"). A
        // member that decoded and then failed its check is no junk: with
        // `produced` it is an error however the body was cut.
        ignore_rest_ = true;
        break;
      }
      if (rc != Z_OK && rc != Z_STREAM_END && rc != Z_BUF_ERROR) {
        error = fmt::format("corrupt {} body: {}", gzip_ ? "gzip" : "deflate",
                            zs_.msg ? zs_.msg : "zlib error");
        return false;
      }
      member_out_ += produced;
      full = produced == sizeof(buf_) && rc != Z_STREAM_END;
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

  z_stream zs_{};
  bool active_ = false;
  bool gzip_ = false;
  char head_[2] = {};  ///< deflate: the bytes that tell zlib from raw
  int head_len_ = 0;
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
      } else if (rc == BROTLI_DECODER_RESULT_NEEDS_MORE_INPUT && !BrotliDecoderHasMoreOutput(st_)) {
        // It can ask for input with a full buffer still to give (found by
        // the inflater fuzzer): drain that first, or it waits for the next read.
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
