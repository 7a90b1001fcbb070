// The bucket store an S3 source endpoint reads: this server's own store, or an S3Client on the
// remote S3 its ServerName names (engine::S3SourceConnection; docs/compatibility.md), with the
// credentials from the endpoint or from a secret of this server.
#include "dms/service_impl.h"

namespace opendms::dms {

std::string SourceStore::Where(std::string_view bucket) const {
  std::string where = "S3 bucket " + std::string(bucket);
  if (!endpoint_url.empty()) where += " at " + endpoint_url;
  return where;
}

Result<SourceStore> DmsService::Impl::OpenSourceStore(const engine::SourceEndpoint& source,
                                                      const CallContext& ctx, int max_retries) {
  SourceStore out;
  const engine::S3SourceConnection& c = source.connection;
  if (!c.remote()) {
    out.store = &store_;
    return out;
  }
  objectstore::S3ClientOptions options = engine::S3ClientOptionsFor(c);
  options.max_retries = max_retries;
  const std::string who = "endpoint " + source.identifier;
  if (!c.secrets_manager_secret_id.empty()) {
    const std::string& id = c.secrets_manager_secret_id;
    if (!resolver_) {
      return Status::InvalidState(who + ": secretsManagerSecretId is set but this server "
                                        "resolves no secrets");
    }
    auto text = resolver_(id, ctx);
    if (!text.ok()) return text.status().WithContext(who + ": reading secret " + id);
    auto secret = ParseJson(*text, "secret " + id);
    if (!secret.ok() || !secret->is_object()) {
      return Status::InvalidArgument(who + ": secret " + id +
                                     " is not a JSON object with accessKeyId and "
                                     "secretAccessKey");
    }
    for (const char* key : {"accessKeyId", "secretAccessKey"}) {
      if (!secret->contains(key) || !(*secret)[key].is_string() ||
          (*secret)[key].get<std::string>().empty()) {
        return Status::InvalidArgument(who + ": secret " + id + " has no string \"" + key + "\"");
      }
    }
    options.access_key_id = (*secret)["accessKeyId"];
    options.secret_access_key = (*secret)["secretAccessKey"];
    if (secret->contains("sessionToken") && (*secret)["sessionToken"].is_string()) {
      options.session_token = (*secret)["sessionToken"];
    }
  }
  auto client = objectstore::OpenS3Client(std::move(options));
  if (!client.ok()) return client.status().WithContext(who);
  out.owned = std::move(client).value();
  out.store = out.owned.get();
  out.endpoint_url = c.endpoint_url;
  return out;
}

Status CheckSourceBucket(const SourceStore& source, std::string_view bucket) {
  // A one-key listing rather than HeadBucket: a HEAD answer has no body, so a refusal would not
  // say why (InvalidAccessKeyId, SignatureDoesNotMatch, AccessDenied), and listing is the
  // permission a task needs anyway.
  objectstore::ListOptions options;
  options.max_keys = 1;
  auto listed = source.store->List(bucket, options);
  if (listed.ok()) return Status::Ok();
  if (listed.status().IsNotFound()) {
    return Status::NotFound(source.Where(bucket) + " does not exist");
  }
  return listed.status().WithContext(source.Where(bucket));
}

}  // namespace opendms::dms
