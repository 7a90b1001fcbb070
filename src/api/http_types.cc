// The small value types of http.h: header and query look-ups, response headers, BufferBody.
#include <algorithm>
#include <cctype>

#include "api/http.h"

namespace opendms::api {
namespace {

bool EqualsIgnoreCase(std::string_view a, std::string_view b) {
  return a.size() == b.size() &&
         std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           return std::tolower(static_cast<unsigned char>(x)) ==
                  std::tolower(static_cast<unsigned char>(y));
         });
}

// Collects the body into memory up to `limit_` bytes; past that the upload is refused.
class BufferedExchange final : public Exchange {
 public:
  BufferedExchange(size_t limit, Status too_large,
                   std::function<HttpResponse(std::string body)> complete)
      : limit_(limit), too_large_(std::move(too_large)), complete_(std::move(complete)) {}

  Status OnBody(std::string_view chunk) override {
    if (chunk.size() > limit_ - body_.size()) return too_large_;
    body_.append(chunk);
    return Status::Ok();
  }
  HttpResponse OnComplete() override { return complete_(std::move(body_)); }
  void OnAbort() override { std::string().swap(body_); }

 private:
  const size_t limit_;
  const Status too_large_;
  std::function<HttpResponse(std::string body)> complete_;
  std::string body_;  // invariant: body_.size() <= limit_
};

}  // namespace

const std::string* HttpRequest::Header(std::string_view lowercase_name) const {
  auto it = headers.find(std::string(lowercase_name));
  return it == headers.end() ? nullptr : &it->second;
}

std::string HttpRequest::HeaderOr(std::string_view lowercase_name, std::string fallback) const {
  const std::string* value = Header(lowercase_name);
  return value ? *value : std::move(fallback);
}

const std::string* HttpRequest::Query(std::string_view name) const {
  for (const auto& [key, value] : query) {
    if (key == name) return &value;
  }
  return nullptr;
}

void HttpResponse::SetHeader(std::string name, std::string value) {
  for (auto& [existing, existing_value] : headers) {
    if (EqualsIgnoreCase(existing, name)) {
      existing_value = std::move(value);
      return;
    }
  }
  headers.emplace_back(std::move(name), std::move(value));
}

std::unique_ptr<Exchange> BufferBody(size_t limit, Status too_large,
                                     std::function<HttpResponse(std::string body)> complete) {
  return std::make_unique<BufferedExchange>(limit, std::move(too_large), std::move(complete));
}

}  // namespace opendms::api
