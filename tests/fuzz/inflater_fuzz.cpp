// libFuzzer harness: the http consumer's decoders (gzip with every member,
// zlib or raw deflate, brotli, and stacks of them as `Content-Encoding`
// lists them) fed fuzzer bytes, whole and cut into fuzzer-chosen pieces.
// Beyond "no crash, leak or UB": the decoded bytes, the error verdict and
// whether the stream ended do not depend on the cutting. Output is capped
// (as max_decoded caps it), so a bomb ends early.
#include <fuzzer/FuzzedDataProvider.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "inflater.hpp"

namespace hd = sluice::stages::http;

namespace {

constexpr std::size_t k_cap = 4 << 20;

const char* const k_encodings[] = {"gzip",       "x-gzip",       "deflate",      "br",
                                   "gzip, gzip", "gzip, br",     "br, deflate",  "deflate, gzip",
                                   "GZIP",       "identity, br", "br, br, gzip", "gzip,deflate"};

struct verdict {
  std::string out;
  bool ok = true;
  bool capped = false;
  bool finished = false;
};

verdict decode(const char* encoding, const std::vector<std::string>& pieces) {
  verdict v;
  auto chain = hd::decoder_chain::for_encoding(encoding);
  if (!chain) {
    v.ok = false;
    return v;
  }
  auto sink = [&](const char* p, std::size_t n) {
    if (v.out.size() + n > k_cap) {
      v.out.append(p, k_cap - v.out.size());
      v.capped = true;
      return false;
    }
    v.out.append(p, n);
    return true;
  };
  std::string error;
  for (const auto& piece : pieces) {
    if (!chain->feed(piece.data(), piece.size(), sink, error)) {
      v.ok = v.capped;
      if (!v.capped && error.empty()) {
        std::abort();  // a failure must say why
      }
      return v;
    }
  }
  v.finished = chain->finished();
  return v;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  FuzzedDataProvider fdp(data, size);
  const char* encoding = fdp.PickValueInArray(k_encodings);
  std::vector<std::size_t> cuts(fdp.ConsumeIntegralInRange<std::size_t>(0, 8));
  for (auto& c : cuts) {
    c = fdp.ConsumeIntegral<std::uint16_t>();
  }
  std::string in = fdp.ConsumeRemainingBytesAsString();
  for (auto& c : cuts) {
    c %= in.size() + 1;
  }
  std::sort(cuts.begin(), cuts.end());
  std::vector<std::string> pieces;
  std::size_t at = 0;
  for (auto c : cuts) {
    pieces.push_back(in.substr(at, c - at));
    at = c;
  }
  pieces.push_back(in.substr(at));
  verdict whole = decode(encoding, {in});
  verdict cut = decode(encoding, pieces);
  // Capped at the same limit: both capped with the same prefix. A stream
  // that turns corrupt near the cap may fail in one cutting before it
  // reaches the cap in the other (a call's bytes before its error are not
  // given): both fail then, and agree as far as both go.
  auto prefix_of = [](const verdict& failed, const verdict& capped) {
    return !failed.ok && capped.out.compare(0, failed.out.size(), failed.out) == 0;
  };
  bool same = whole.capped && cut.capped ? whole.out == cut.out
              : whole.capped             ? prefix_of(cut, whole)
              : cut.capped
                  ? prefix_of(whole, cut)
                  : whole.ok == cut.ok &&
                        (!whole.ok || (whole.out == cut.out && whole.finished == cut.finished));
  if (!same) {
    // Decoding depended on where the body was cut.
    std::fprintf(stderr,
                 "inflater: %s in %zu pieces: ok %d/%d, capped %d/%d, out %zu/%zu bytes, "
                 "finished %d/%d (whole/cut)\n",
                 encoding, pieces.size(), whole.ok, cut.ok, whole.capped, cut.capped,
                 whole.out.size(), cut.out.size(), whole.finished, cut.finished);
    std::abort();
  }
  return 0;
}
