// Test support for tests that need an S3 service. Each test binary gets ONE endpoint:
//   - OPENDMS_TEST_S3_ENDPOINT (with OPENDMS_TEST_S3_ACCESS_KEY_ID, OPENDMS_TEST_S3_SECRET_KEY and
//     optionally OPENDMS_TEST_S3_REGION) when set — e.g. a running `opendms server`. It must be a
//     throwaway server: ResetTestS3 deletes every bucket in it. Such an endpoint is taken to
//     check signatures (the bad-credentials tests run against it);
//   - otherwise a `moto_server` started on a free port on first use and stopped after the last
//     test (moto accepts any credentials).
// When neither is available the endpoint's status says why, and tests skip with that message.
#pragma once

#include <string>

#include "core/core.h"
#include "objectstore/objectstore.h"

namespace opendms::testing {

struct TestS3Endpoint {
  std::string url, access_key_id, secret_access_key, region;
  bool is_moto = false;            // moto: POST /moto-api/reset empties it
  bool checks_signatures = false;  // a wrong secret key is refused

  // Client options for this endpoint, with short retry delays (tests wait less).
  objectstore::S3ClientOptions ClientOptions() const;
};

// The binary's endpoint, started on the first call; the same error on every call if it cannot
// be had. Main thread only.
Result<TestS3Endpoint> SharedTestS3Endpoint();

// Deletes every bucket and object on the endpoint.
Status ResetTestS3(const TestS3Endpoint& endpoint);

}  // namespace opendms::testing
