#include "lagscale/coordinator/api_responses.h"

#include <gtest/gtest.h>

#include <string>

namespace lagscale::coordinator {
namespace {

using nlohmann::json;

TEST(ApiResponses, RetryAfterTakesDeltaSecondsOnlyAndCapsThem) {
  EXPECT_EQ(ParseRetryAfter("5"), 5);
  EXPECT_EQ(ParseRetryAfter(" 0 "), 0);
  EXPECT_EQ(ParseRetryAfter("86400"), kMaxRetryAfterSeconds);
  EXPECT_EQ(ParseRetryAfter("99999999999999999999999999"), kMaxRetryAfterSeconds);
  // Not delta-seconds: ignored rather than read as forever (or as 5).
  for (const char* v : {"", "inf", "nan", "-1", "1e9", "5abc", "2.5", "Wed, 21 Oct 2015 07:28:00 GMT"}) {
    EXPECT_EQ(ParseRetryAfter(v), -1) << v;
  }
}

TEST(ApiResponses, ScaleTargetReadsSpecFieldsAndLeavesUnusableOnesUnset) {
  const TargetReading r =
      ReadScaleTarget(R"({"spec":{"replicas":3,"minReplicas":1,"maxReplicas":9}})");
  EXPECT_TRUE(r.ok);
  EXPECT_EQ(r.replicas, 3);
  EXPECT_EQ(r.min_replicas, 1);
  EXPECT_EQ(r.max_replicas, 9);
  const TargetReading odd = ReadScaleTarget(
      R"({"spec":{"replicas":1099511627776,"minReplicas":-2,"maxReplicas":"9"}})");
  EXPECT_TRUE(odd.ok);
  EXPECT_EQ(odd.replicas, -1);  // 2^40 does not fit: unknown, not a wrapped number
  EXPECT_FALSE(odd.min_replicas);
  EXPECT_FALSE(odd.max_replicas);
}

TEST(ApiResponses, ScaleTargetWithoutASpecObjectIsAnError) {
  for (const char* body : {"", "[]", "{", "null", R"({"spec":[]})", R"({"kind":"Status"})"}) {
    const TargetReading r = ReadScaleTarget(body);
    EXPECT_FALSE(r.ok) << body;
    EXPECT_FALSE(r.error.empty()) << body;
  }
}

TEST(ApiResponses, PatchReplyReplicas) {
  EXPECT_EQ(ReadSpecReplicas(R"({"spec":{"replicas":4}})"), 4);
  EXPECT_EQ(ReadSpecReplicas(R"({"spec":{"replicas":4.5}})"), -1);
  EXPECT_EQ(ReadSpecReplicas(R"({"spec":{}})"), -1);
  EXPECT_EQ(ReadSpecReplicas("not json"), -1);
}

TEST(ApiResponses, StatusMessageOnlyWhenItIsAString) {
  EXPECT_EQ(ApiStatusMessage(R"({"kind":"Status","message":"the object has been modified"})"),
            "the object has been modified");
  EXPECT_EQ(ApiStatusMessage(R"({"message":42})"), "");
  EXPECT_EQ(ApiStatusMessage("<html>502</html>"), "");
}

TEST(ApiResponses, LeaseSpecWithMistypedFieldsReadsAsEmpty) {
  const LeaseSpec good = ReadLeaseSpec(json::parse(
      R"({"spec":{"holderIdentity":"a","leaseDurationSeconds":15,"leaseTransitions":2,
                  "acquireTime":"2026-12-02T00:00:00.000000Z"}})"));
  EXPECT_EQ(good.holder, "a");
  EXPECT_EQ(good.duration_s, 15);
  EXPECT_EQ(good.transitions, 2);
  EXPECT_TRUE(good.acquire_time.is_string());
  // A hostile or broken API answer must not throw inside the elector's loop.
  const LeaseSpec bad = ReadLeaseSpec(json::parse(
      R"({"spec":{"holderIdentity":5,"leaseDurationSeconds":"15","leaseTransitions":-1,
                  "acquireTime":{}}})"));
  EXPECT_EQ(bad.holder, "");
  EXPECT_EQ(bad.duration_s, 0);
  EXPECT_EQ(bad.transitions, 0);
  EXPECT_TRUE(bad.acquire_time.is_null());
  EXPECT_EQ(ReadLeaseSpec(json::array()).holder, "");
  EXPECT_EQ(ReadLeaseSpec(json::parse(R"({"spec":"x"})")).duration_s, 0);
}

}  // namespace
}  // namespace lagscale::coordinator
