// secrets: AWS Secrets Manager and SSM Parameter Store over the catalog, as the JSON 1.1
// services the api module serves (X-Amz-Target prefixes "secretsmanager" and "AmazonSSM").
//
// It owns
//   - encryption at rest (MasterKey: AES-256-GCM; every secret value and SecureString is sealed
//     with a fresh nonce, and bound by its additional data to the resource ARN and version, so a
//     ciphertext copied onto another row does not decrypt);
//   - secrets, their versions and staging labels (AWSCURRENT / AWSPREVIOUS / AWSPENDING moved
//     exactly as AWS moves them), in the catalog schema "secretsmanager";
//   - parameters, their versions and labels, AWS's name rules, and the
//     /aws/reference/secretsmanager/<secret-id> bridge, in the catalog schema "ssm".
//
// Start reading at SecretsManagerService. Secret values never reach a log line or an error
// message; responses carry them only where AWS's do (GetSecretValue, GetParameter(s)… with
// WithDecryption).
#pragma once

#include <memory>
#include <string>
#include <string_view>

#include "catalog/catalog.h"
#include "core/core.h"

namespace opendms::secrets {

// The key that seals values at rest. Immutable after construction; thread-safe.
class MasterKey {
 public:
  // The key from env OPENDMS_MASTER_KEY (base64 of 32 bytes) when set; otherwise from
  // <data_dir>/master.key (32 raw bytes), created with mode 0600 from the CSPRNG on first use.
  // InvalidArgument for a malformed key; IoError when the file cannot be read or written.
  static Result<MasterKey> Load(const std::string& data_dir);
  // A key of exactly 32 bytes (tests).
  static Result<MasterKey> FromBytes(std::string key);

  // A short, stable id of this key ("mk-" + 16 hex chars of a hash), stored next to every
  // ciphertext so that values sealed under an older key can be recognised once keys rotate.
  const std::string& key_id() const { return key_id_; }

  // nonce (12 bytes) | ciphertext | GCM tag (16 bytes). `aad` is authenticated, not stored.
  std::string Seal(std::string_view plaintext, std::string_view aad) const;
  // The plaintext, or Corruption (aws code "DecryptionFailure") when the blob was sealed under
  // another key id, was altered, or belongs to other additional data. The message never
  // contains plaintext.
  Result<std::string> Unseal(std::string_view key_id, std::string_view blob,
                             std::string_view aad) const;

 private:
  MasterKey(std::string key, std::string key_id)
      : key_(std::move(key)), key_id_(std::move(key_id)) {}
  std::string key_;  // 32 bytes
  std::string key_id_;
};

// Secrets Manager. Operations: CreateSecret, GetSecretValue, PutSecretValue, UpdateSecret,
// DescribeSecret, ListSecrets, DeleteSecret, RestoreSecret, UpdateSecretVersionStage,
// ListSecretVersionIds, GetRandomPassword, TagResource, UntagResource. A secret scheduled for
// deletion is purged (lazily, at the next call) once Clock::Now() passes its DeletionDate.
// Thread-safe; the catalog and key must outlive the service.
class SecretsManagerService : public JsonService {
 public:
  // Applies the "secretsmanager" migrations.
  static Result<std::unique_ptr<SecretsManagerService>> Create(catalog::Catalog& catalog,
                                                               const MasterKey& key);

  std::string_view target_prefix() const override { return "secretsmanager"; }
  Result<Json> Call(std::string_view operation, const Json& input,
                    const CallContext& context) override;

  // The AWSCURRENT SecretString of a secret named by name or (partial) ARN: for the DMS module's
  // SecretsManagerSecretId. The same errors as GetSecretValue.
  Result<std::string> CurrentSecretString(std::string_view secret_id, const CallContext& context);

  // GetSecretValue's response for `input` (also what SSM's secretsmanager bridge returns).
  Result<Json> GetSecretValue(const Json& input, const CallContext& context);

 private:
  SecretsManagerService(catalog::Catalog& catalog, const MasterKey& key)
      : catalog_(catalog), key_(key) {}
  catalog::Catalog& catalog_;
  const MasterKey& key_;
};

// SSM Parameter Store. Operations: PutParameter, GetParameter, GetParameters,
// GetParametersByPath, DeleteParameter, DeleteParameters, DescribeParameters,
// GetParameterHistory, LabelParameterVersion, UnlabelParameterVersion. Names under
// /aws/reference/secretsmanager/ read secrets through `secrets`. Thread-safe; the catalog, key
// and secrets service must outlive it.
class ParameterStoreService : public JsonService {
 public:
  // Applies the "ssm" migrations.
  static Result<std::unique_ptr<ParameterStoreService>> Create(catalog::Catalog& catalog,
                                                               const MasterKey& key,
                                                               SecretsManagerService& secrets);

  std::string_view target_prefix() const override { return "AmazonSSM"; }
  Result<Json> Call(std::string_view operation, const Json& input,
                    const CallContext& context) override;

 private:
  ParameterStoreService(catalog::Catalog& catalog, const MasterKey& key,
                        SecretsManagerService& secrets)
      : catalog_(catalog), key_(key), secrets_(secrets) {}
  catalog::Catalog& catalog_;
  const MasterKey& key_;
  SecretsManagerService& secrets_;
};

}  // namespace opendms::secrets
