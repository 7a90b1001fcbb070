// api (internal): the JSON 1.1 protocol — POST / with X-Amz-Target "<prefix>.<Operation>" and a
// JSON body — dispatched to the registered JsonServices.
#pragma once

#include <map>
#include <string>
#include <string_view>

#include "api/http.h"
#include "core/core.h"

namespace opendms::api {

class JsonProtocol final : public Handler {
 public:
  JsonProtocol(std::string account_id, size_t max_body)
      : account_id_(std::move(account_id)), max_body_(max_body) {}

  // Not thread-safe: register before serving.
  void Register(JsonService& service);
  bool empty() const { return services_.empty(); }

  // Unknown prefix or operation name missing → 400 UnknownOperationException; a body that is not
  // a JSON object → 400 SerializationException; the service's errors in the JSON error format.
  Begun Begin(HttpRequest& request) override;

 private:
  const std::string account_id_;
  const size_t max_body_;
  std::map<std::string, JsonService*, std::less<>> services_;  // by target prefix
};

}  // namespace opendms::api
