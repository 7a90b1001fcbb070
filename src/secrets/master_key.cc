// MasterKey: AES-256-GCM through OpenSSL's EVP interface.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <filesystem>

#include <openssl/evp.h>

#include "secrets/secrets.h"

namespace opendms::secrets {

namespace {

constexpr size_t kKeyBytes = 32;
constexpr size_t kNonceBytes = 12;
constexpr size_t kTagBytes = 16;

struct CipherCtx {
  EVP_CIPHER_CTX* ctx = EVP_CIPHER_CTX_new();
  ~CipherCtx() { EVP_CIPHER_CTX_free(ctx); }
};

Status DecryptionFailure(std::string_view why) {
  return Status::Aws(ErrorCode::kCorruption, "DecryptionFailure",
                     "Secrets Manager can't decrypt the protected secret text using the provided "
                     "KMS key: " +
                         std::string(why));
}

// Writes a new key file with O_EXCL, so two processes starting at once cannot both create one.
Result<std::string> CreateKeyFile(const std::string& path) {
  std::string key = RandomBytes(kKeyBytes);
  int fd = open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
  if (fd < 0) return Status::FromErrno("create " + path, errno);
  size_t done = 0;
  while (done < key.size()) {
    ssize_t n = write(fd, key.data() + done, key.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      int err = errno;
      close(fd);
      unlink(path.c_str());
      return Status::FromErrno("write " + path, err);
    }
    done += static_cast<size_t>(n);
  }
  if (fsync(fd) != 0 || close(fd) != 0) return Status::FromErrno("sync " + path, errno);
  return key;
}

}  // namespace

Result<MasterKey> MasterKey::FromBytes(std::string key) {
  if (key.size() != kKeyBytes) {
    return Status::InvalidArgument("a master key must be 32 bytes, not " +
                                   std::to_string(key.size()));
  }
  std::string id = "mk-" + Sha256Hex("opendms master key id\n" + key).substr(0, 16);
  return MasterKey(std::move(key), std::move(id));
}

Result<MasterKey> MasterKey::Load(const std::string& data_dir) {
  if (const char* env = std::getenv("OPENDMS_MASTER_KEY"); env != nullptr && *env != '\0') {
    auto key = Base64Decode(env, "OPENDMS_MASTER_KEY");
    if (!key.ok()) return key.status();
    if (key->size() != kKeyBytes) {
      return Status::InvalidArgument("OPENDMS_MASTER_KEY must be the base64 of 32 bytes");
    }
    return FromBytes(std::move(key).value());
  }
  std::error_code ec;
  std::filesystem::create_directories(data_dir, ec);
  if (ec) return Status::IoError("create directory " + data_dir + ": " + ec.message());
  const std::string path = data_dir + "/master.key";
  if (!std::filesystem::exists(path)) {
    auto created = CreateKeyFile(path);
    if (created.ok()) {
      spdlog::info("[secrets] created a new master key in {}", path);
      return FromBytes(std::move(created).value());
    }
    if (!std::filesystem::exists(path)) return created.status();  // else: lost a race, read it
  }
  struct stat st;
  if (stat(path.c_str(), &st) != 0) return Status::FromErrno("stat " + path, errno);
  if ((st.st_mode & 077) != 0) {
    return Status::InvalidState(path + " is readable by other users; make it mode 0600");
  }
  ASSIGN_OR_RETURN(std::string key, ReadSmallFile(path));
  if (key.size() != kKeyBytes) {
    return Status::Corruption(path + " must hold exactly 32 bytes, it holds " +
                              std::to_string(key.size()));
  }
  return FromBytes(std::move(key));
}

std::string MasterKey::Seal(std::string_view plaintext, std::string_view aad) const {
  std::string out = RandomBytes(kNonceBytes);
  out.resize(kNonceBytes + plaintext.size() + kTagBytes);
  auto* ct = reinterpret_cast<unsigned char*>(out.data() + kNonceBytes);
  CipherCtx c;
  int len = 0, total = 0;
  bool ok =
      c.ctx != nullptr &&
      EVP_EncryptInit_ex(c.ctx, EVP_aes_256_gcm(), nullptr, nullptr, nullptr) == 1 &&
      EVP_CIPHER_CTX_ctrl(c.ctx, EVP_CTRL_GCM_SET_IVLEN, kNonceBytes, nullptr) == 1 &&
      EVP_EncryptInit_ex(c.ctx, nullptr, nullptr,
                         reinterpret_cast<const unsigned char*>(key_.data()),
                         reinterpret_cast<const unsigned char*>(out.data())) == 1 &&
      EVP_EncryptUpdate(c.ctx, nullptr, &len, reinterpret_cast<const unsigned char*>(aad.data()),
                        static_cast<int>(aad.size())) == 1 &&
      EVP_EncryptUpdate(c.ctx, ct, &len, reinterpret_cast<const unsigned char*>(plaintext.data()),
                        static_cast<int>(plaintext.size())) == 1;
  total = len;
  ok = ok && EVP_EncryptFinal_ex(c.ctx, ct + total, &len) == 1;
  total += len;
  ok = ok && EVP_CIPHER_CTX_ctrl(c.ctx, EVP_CTRL_GCM_GET_TAG, kTagBytes, ct + total) == 1;
  // AES-GCM encryption cannot fail for valid inputs; a failure here is a broken OpenSSL.
  if (!ok) {
    spdlog::critical("[secrets] AES-256-GCM encryption failed in OpenSSL");
    std::abort();
  }
  return out;
}

Result<std::string> MasterKey::Unseal(std::string_view key_id, std::string_view blob,
                                      std::string_view aad) const {
  if (key_id != key_id_) {
    return DecryptionFailure("the value was sealed under master key " + std::string(key_id) +
                             ", this server has " + key_id_);
  }
  if (blob.size() < kNonceBytes + kTagBytes)
    return DecryptionFailure("the ciphertext is truncated");
  const size_t ct_size = blob.size() - kNonceBytes - kTagBytes;
  std::string out(ct_size, '\0');
  auto* pt = reinterpret_cast<unsigned char*>(out.data());
  const auto* ct = reinterpret_cast<const unsigned char*>(blob.data() + kNonceBytes);
  std::string tag(blob.substr(kNonceBytes + ct_size));
  CipherCtx c;
  int len = 0;
  bool ok =
      c.ctx != nullptr &&
      EVP_DecryptInit_ex(c.ctx, EVP_aes_256_gcm(), nullptr, nullptr, nullptr) == 1 &&
      EVP_CIPHER_CTX_ctrl(c.ctx, EVP_CTRL_GCM_SET_IVLEN, kNonceBytes, nullptr) == 1 &&
      EVP_DecryptInit_ex(c.ctx, nullptr, nullptr,
                         reinterpret_cast<const unsigned char*>(key_.data()),
                         reinterpret_cast<const unsigned char*>(blob.data())) == 1 &&
      EVP_DecryptUpdate(c.ctx, nullptr, &len, reinterpret_cast<const unsigned char*>(aad.data()),
                        static_cast<int>(aad.size())) == 1 &&
      EVP_DecryptUpdate(c.ctx, pt, &len, ct, static_cast<int>(ct_size)) == 1 &&
      EVP_CIPHER_CTX_ctrl(c.ctx, EVP_CTRL_GCM_SET_TAG, kTagBytes, tag.data()) == 1 &&
      EVP_DecryptFinal_ex(c.ctx, pt + len, &len) == 1;
  if (!ok) {
    return DecryptionFailure(
        "the ciphertext does not verify (altered, or stored for another "
        "resource or version)");
  }
  return out;
}

}  // namespace opendms::secrets
