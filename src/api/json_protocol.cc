// JSON 1.1: what the CLI sends is in ../shared/reference/cfn-secrets-ssm.md §1.5.
#include "api/json_protocol.h"

#include <exception>

namespace opendms::api {
namespace {

constexpr std::string_view kContentType = "application/x-amz-json-1.1";

HttpResponse JsonError(const Status& error, const HttpRequest& request) {
  return ErrorResponse(Protocol::kJson11, error, request);
}

}  // namespace

void JsonProtocol::Register(JsonService& service) {
  services_[std::string(service.target_prefix())] = &service;
}

Begun JsonProtocol::Begin(HttpRequest& request) {
  const std::string target = request.HeaderOr("x-amz-target");
  const size_t dot = target.find('.');
  if (dot == std::string::npos || dot == 0 || dot + 1 == target.size()) {
    return {JsonError(Status::Aws(ErrorCode::kInvalidArgument, "UnknownOperationException",
                                  "X-Amz-Target must be '<service prefix>.<Operation>', got '" +
                                      target + "'"),
                      request),
            nullptr};
  }
  const std::string prefix = target.substr(0, dot);
  const std::string operation = target.substr(dot + 1);
  auto it = services_.find(prefix);
  if (it == services_.end()) {
    return {JsonError(Status::Aws(ErrorCode::kInvalidArgument, "UnknownOperationException",
                                  "X-Amz-Target '" + target + "': unknown service prefix '" +
                                      prefix + "'"),
                      request),
            nullptr};
  }
  if (request.method != "POST") {
    return {JsonError(Status::Aws(ErrorCode::kInvalidArgument, "UnknownOperationException",
                                  "JSON 1.1 operations are called with POST, not " +
                                      request.method),
                      request),
            nullptr};
  }
  JsonService* service = it->second;
  CallContext context;
  context.region = request.region;
  context.account_id = account_id_;
  context.request_id = request.request_id;
  context.access_key_id = request.access_key_id;
  Status too_large = Status::Aws(
      ErrorCode::kInvalidArgument, "SerializationException",
      "the request body is larger than the " + std::to_string(max_body_) + " bytes accepted");
  // The request is copied into the completion: the Exchange outlives Begin's argument.
  return {std::nullopt,
          BufferBody(max_body_, std::move(too_large),
                     [service, operation, context, request](std::string body) -> HttpResponse {
                       Result<Json> input =
                           body.empty() ? Result<Json>(Json::object())
                                        : ParseJson(body, "the request body");
                       if (!input.ok()) {
                         return JsonError(input.status().WithAwsCode("SerializationException"),
                                          request);
                       }
                       if (!input->is_object()) {
                         return JsonError(
                             Status::Aws(ErrorCode::kInvalidArgument, "SerializationException",
                                         "the request body must be a JSON object"),
                             request);
                       }
                       Result<Json> output = [&]() -> Result<Json> {
                         try {
                           return service->Call(operation, *input, context);
                         } catch (const std::exception& e) {
                           SPDLOG_ERROR("[api] {} {} threw: {}", request.request_id, operation,
                                        e.what());
                           return Status::Internal("internal error while running " + operation);
                         }
                       }();
                       if (!output.ok()) return JsonError(output.status(), request);
                       HttpResponse response;
                       response.SetHeader("Content-Type", std::string(kContentType));
                       response.body = output->is_null()
                                           ? "{}"
                                           : output->dump(-1, ' ', false,
                                                          Json::error_handler_t::replace);
                       return response;
                     })};
}

}  // namespace opendms::api
