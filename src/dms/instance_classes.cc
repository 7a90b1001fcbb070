// The replication instance classes DMS sells, and what each gives the tasks that run on it in
// opendms (docs/replication-instances.md explains the rules):
//   concurrent tasks       = max(1, min(vCPU, 2 × GiB))           — CPU-bound loads, ≥ 512 MiB each
//   MaxFullLoadSubTasks    = clamp(2 × vCPU, 2, 49)               — AWS: 8 is right for ~4 vCPU
//   read buffer per table  = clamp(GiB × 1 MiB / concurrent, 256 KiB, 8 MiB)
#include <algorithm>

#include "dms/dms.h"

namespace opendms::dms {
namespace {

constexpr InstanceClass Make(std::string_view name, int vcpus, double gib) {
  const int concurrent = std::max(1, std::min(vcpus, static_cast<int>(gib * 2)));
  const int subtasks = std::clamp(2 * vcpus, 2, 49);
  const int64_t buffer = std::clamp<int64_t>(static_cast<int64_t>(gib * (1 << 20)) / concurrent,
                                             int64_t{256} << 10, int64_t{8} << 20);
  return InstanceClass{name, vcpus, gib, concurrent, subtasks, buffer};
}

constexpr InstanceClass kClasses[] = {
    Make("dms.t2.micro", 1, 1),        Make("dms.t2.small", 1, 2),
    Make("dms.t2.medium", 2, 4),       Make("dms.t2.large", 2, 8),
    Make("dms.t3.micro", 2, 1),        Make("dms.t3.small", 2, 2),
    Make("dms.t3.medium", 2, 4),       Make("dms.t3.large", 2, 8),
    Make("dms.c4.large", 2, 3.75),     Make("dms.c4.xlarge", 4, 7.5),
    Make("dms.c4.2xlarge", 8, 15),     Make("dms.c4.4xlarge", 16, 30),
    Make("dms.c5.large", 2, 4),        Make("dms.c5.xlarge", 4, 8),
    Make("dms.c5.2xlarge", 8, 16),     Make("dms.c5.4xlarge", 16, 32),
    Make("dms.c5.9xlarge", 36, 72),    Make("dms.c5.12xlarge", 48, 96),
    Make("dms.c5.18xlarge", 72, 144),  Make("dms.c5.24xlarge", 96, 192),
    Make("dms.c6i.large", 2, 4),       Make("dms.c6i.xlarge", 4, 8),
    Make("dms.c6i.2xlarge", 8, 16),    Make("dms.c6i.4xlarge", 16, 32),
    Make("dms.c6i.8xlarge", 32, 64),   Make("dms.c6i.12xlarge", 48, 96),
    Make("dms.c6i.16xlarge", 64, 128), Make("dms.c6i.24xlarge", 96, 192),
    Make("dms.c6i.32xlarge", 128, 256),
    Make("dms.r4.large", 2, 15.25),    Make("dms.r4.xlarge", 4, 30.5),
    Make("dms.r4.2xlarge", 8, 61),     Make("dms.r4.4xlarge", 16, 122),
    Make("dms.r4.8xlarge", 32, 244),
    Make("dms.r5.large", 2, 16),       Make("dms.r5.xlarge", 4, 32),
    Make("dms.r5.2xlarge", 8, 64),     Make("dms.r5.4xlarge", 16, 128),
    Make("dms.r5.8xlarge", 32, 256),   Make("dms.r5.12xlarge", 48, 384),
    Make("dms.r5.16xlarge", 64, 512),  Make("dms.r5.24xlarge", 96, 768),
    Make("dms.r6i.large", 2, 16),      Make("dms.r6i.xlarge", 4, 32),
    Make("dms.r6i.2xlarge", 8, 64),    Make("dms.r6i.4xlarge", 16, 128),
    Make("dms.r6i.8xlarge", 32, 256),  Make("dms.r6i.12xlarge", 48, 384),
    Make("dms.r6i.16xlarge", 64, 512), Make("dms.r6i.24xlarge", 96, 768),
    Make("dms.r6i.32xlarge", 128, 1024),
};

}  // namespace

std::span<const InstanceClass> InstanceClasses() { return kClasses; }

const InstanceClass* FindInstanceClass(std::string_view name) {
  for (const InstanceClass& c : kClasses) {
    if (c.name == name) return &c;
  }
  return nullptr;
}

}  // namespace opendms::dms
