// objectstore (internal): streaming MD5 through OpenSSL's EVP interface, for ETags.
#pragma once

#include <memory>
#include <string>
#include <string_view>

#include <openssl/evp.h>

namespace opendms::objectstore {

// Move-only. Update any number of times, then HexDigest once.
class Md5 {
 public:
  Md5();
  void Update(const void* data, size_t size);
  void Update(std::string_view data) { Update(data.data(), data.size()); }
  // Lowercase hex of the digest of everything passed to Update ("d41d8cd9…" for nothing).
  std::string HexDigest();

 private:
  struct CtxFree {
    void operator()(EVP_MD_CTX* ctx) const { EVP_MD_CTX_free(ctx); }
  };
  std::unique_ptr<EVP_MD_CTX, CtxFree> ctx_;
};

// MD5 of `data`, in lowercase hex.
std::string Md5Hex(std::string_view data);

}  // namespace opendms::objectstore
