// The decoders on their own (stages/http/inflater.hpp): every byte they can
// give is given as soon as its input is in, whatever the buffer size, and
// the output does not depend on how the input is cut. The fuzzer
// (tests/fuzz/inflater_fuzz.cpp) checks the same over any bytes; these are
// its findings kept as plain regression tests.
#include "inflater.hpp"

#include <brotli/encode.h>
#include <doctest/doctest.h>
#include <zlib.h>

namespace hd = sluice::stages::http;

namespace {

std::string gzip(const std::string& in) {
  z_stream zs{};
  REQUIRE(deflateInit2(&zs, 9, Z_DEFLATED, 15 + 16, 9, Z_DEFAULT_STRATEGY) == Z_OK);
  std::string out(deflateBound(&zs, in.size()) + 32, '\0');
  zs.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(in.data()));
  zs.avail_in = static_cast<uInt>(in.size());
  zs.next_out = reinterpret_cast<Bytef*>(out.data());
  zs.avail_out = static_cast<uInt>(out.size());
  REQUIRE(deflate(&zs, Z_FINISH) == Z_STREAM_END);
  out.resize(zs.total_out);
  deflateEnd(&zs);
  return out;
}

std::string brotli(const std::string& in) {
  std::string out(BrotliEncoderMaxCompressedSize(in.size()), '\0');
  std::size_t n = out.size();
  REQUIRE(BrotliEncoderCompress(BROTLI_DEFAULT_QUALITY, BROTLI_DEFAULT_WINDOW, BROTLI_MODE_GENERIC,
                                in.size(), reinterpret_cast<const std::uint8_t*>(in.data()), &n,
                                reinterpret_cast<std::uint8_t*>(out.data())) == BROTLI_TRUE);
  out.resize(n);
  return out;
}

/// Decodes `in` (one feed call) and returns the bytes given out.
std::string decode(const char* encoding, const std::string& in, bool& finished) {
  auto chain = hd::decoder_chain::for_encoding(encoding);
  REQUIRE(chain);
  std::string out;
  auto sink = [&](const char* p, std::size_t n) {
    out.append(p, n);
    return true;
  };
  std::string error;
  REQUIRE(chain->feed(in.data(), in.size(), sink, error));
  finished = chain->finished();
  return out;
}

}  // namespace

TEST_CASE("http.inflater.output_is_drained_when_the_input_is_used_up") {
  // 1 MiB of zeros compresses to about 1 KiB: the input is used up long
  // before the output is out, 16 KiB at a time. Cut before its end, the
  // stream is unfinished, and still every byte decodable must be given.
  const std::string zeros(1 << 20, '\0');
  bool finished = true;
  SUBCASE("gzip") {
    std::string z = gzip(zeros);
    CHECK(decode("gzip", z, finished) == zeros);
    CHECK(finished);
    auto cut = decode("gzip", z.substr(0, z.size() - 8), finished);  // no trailer
    CHECK_FALSE(finished);
    CHECK(cut.size() == zeros.size());
  }
  SUBCASE("br") {
    std::string b = brotli(zeros);
    CHECK(decode("br", b, finished) == zeros);
    CHECK(finished);
  }
  SUBCASE("br that asks for input with a full buffer still to give (a fuzzer finding)") {
    // Python's brotli module decodes these 90 bytes (an unfinished stream)
    // to 39,543 bytes; sluice gave 16,384 and held the rest until more
    // input came, so the output depended on how the body was cut.
    const unsigned char bytes[] = {
        0x1f, 0x33, 0xb3, 0xf8, 0x8d, 0x94, 0x6e, 0xde, 0xb4, 0x2e, 0x63, 0x9b, 0xab, 0x93, 0x20,
        0x63, 0x69, 0x61, 0x5b, 0x24, 0xf0, 0xfc, 0xfc, 0x00, 0x00, 0x4c, 0x8d, 0x3f, 0xfe, 0x31,
        0xff, 0xff, 0x1f, 0x33, 0x08, 0xf8, 0x8d, 0x94, 0x6e, 0xde, 0xb4, 0x2e, 0x63, 0x9b, 0xab,
        0x93, 0x20, 0x63, 0x69, 0x61, 0x5b, 0x24, 0xf0, 0xfc, 0xfc, 0x00, 0x00, 0x4c, 0x8d, 0x3f,
        0xfe, 0x31, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x17, 0x2b, 0x9c, 0x4c, 0x3f, 0xff, 0x25,
        0xff, 0xff, 0x17, 0x2b, 0x01, 0xff, 0xff, 0xff, 0xff, 0x17, 0x2b, 0x9c, 0x4c, 0x3f, 0xff};
    std::string b(reinterpret_cast<const char*>(bytes), sizeof bytes);
    CHECK(decode("br", b, finished).size() == 39543);
    CHECK_FALSE(finished);
  }
  SUBCASE("gzip, gzip: the inner one fed by the outer one") {
    std::string z = gzip(gzip(zeros));
    CHECK(decode("gzip, gzip", z, finished) == zeros);
    CHECK(finished);
    auto cut = decode("gzip, gzip", z.substr(0, z.size() - 8), finished);
    CHECK_FALSE(finished);
    CHECK(cut.size() == zeros.size());
  }
}
