#include "grpc_proxy_outcome.h"

#include <gtest/gtest.h>

namespace lagscale::proxy::internal {
namespace {

using metrics::Outcome;
using std::chrono::system_clock;

TEST(GrpcProxyOutcomeTest, StatusCodesMapToTheDocumentedOutcomes) {
  auto outcome = [](grpc::StatusCode code) {
    return StatusOutcome(grpc::Status(code, ""), nullptr);
  };
  EXPECT_EQ(outcome(grpc::StatusCode::OK), Outcome::kSuccess);
  EXPECT_EQ(outcome(grpc::StatusCode::DEADLINE_EXCEEDED), Outcome::kTimeout);
  EXPECT_EQ(outcome(grpc::StatusCode::INVALID_ARGUMENT), Outcome::kClientError);
  EXPECT_EQ(outcome(grpc::StatusCode::NOT_FOUND), Outcome::kClientError);
  EXPECT_EQ(outcome(grpc::StatusCode::RESOURCE_EXHAUSTED), Outcome::kClientError);
  EXPECT_EQ(outcome(grpc::StatusCode::UNAUTHENTICATED), Outcome::kClientError);
  EXPECT_EQ(outcome(grpc::StatusCode::INTERNAL), Outcome::kServerError);
  EXPECT_EQ(outcome(grpc::StatusCode::UNKNOWN), Outcome::kServerError);
}

TEST(GrpcProxyOutcomeTest, UnavailableWithoutAnUpstreamCallIsTheServers) {
  EXPECT_EQ(StatusOutcome(grpc::Status(grpc::StatusCode::UNAVAILABLE, ""), nullptr),
            Outcome::kServerError);
}

TEST(GrpcProxyOutcomeTest, AbandonedBeforeTheDeadlineIsAClientAbort) {
  EXPECT_EQ(
      AbandonedOutcome(grpc::StatusCode::CANCELLED, system_clock::now() + std::chrono::seconds(10)),
      Outcome::kClientAbort);
}

TEST(GrpcProxyOutcomeTest, AbandonedAtOrJustBeforeTheDeadlineIsATimeout) {
  EXPECT_EQ(AbandonedOutcome(grpc::StatusCode::CANCELLED, system_clock::now()), Outcome::kTimeout);
  EXPECT_EQ(AbandonedOutcome(grpc::StatusCode::CANCELLED,
                             system_clock::now() + std::chrono::milliseconds(20)),
            Outcome::kTimeout);
}

TEST(GrpcProxyOutcomeTest, AbandonedWithDeadlineExceededIsATimeout) {
  EXPECT_EQ(AbandonedOutcome(grpc::StatusCode::DEADLINE_EXCEEDED,
                             system_clock::now() + std::chrono::seconds(10)),
            Outcome::kTimeout);
}

}  // namespace
}  // namespace lagscale::proxy::internal
