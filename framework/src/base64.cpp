#include "sluice/core/base64.hpp"

#include <openssl/evp.h>

namespace sluice {

std::string base64_encode(std::string_view in) {
  // EVP_EncodeBlock writes a terminating NUL after the 4 * ceil(n / 3) bytes.
  std::string out(4 * ((in.size() + 2) / 3) + 1, '\0');
  int n = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                          reinterpret_cast<const unsigned char*>(in.data()),
                          static_cast<int>(in.size()));
  out.resize(static_cast<std::size_t>(n));
  return out;
}

}  // namespace sluice
