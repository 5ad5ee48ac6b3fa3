#include "lagscale/coordinator/keda_scaler.h"

#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>

#include "externalscaler/externalscaler.grpc.pb.h"

namespace lagscale::coordinator {
namespace {

std::string ErrorOf(const std::map<std::string, std::string>& metadata) {
  KedaQuery q;
  return ParseKedaQuery(metadata, q);
}

TEST(KedaQueryTest, ModelWithDefaultMetricAsksForDesiredReplicas) {
  KedaQuery q;
  ASSERT_EQ(ParseKedaQuery({{"model", "iris"}}, q), "");
  EXPECT_FALSE(q.server);
  EXPECT_EQ(q.name, "iris");
  EXPECT_EQ(q.metric, KedaMetric::kDesiredReplicas);
  EXPECT_EQ(q.MetricName(), "lagscale-model-iris-desiredreplicas");
  ASSERT_EQ(ParseKedaQuery({{"server", "mlserver"}, {"metric", "concurrency"}}, q), "");
  EXPECT_TRUE(q.server);
  EXPECT_EQ(q.metric, KedaMetric::kConcurrency);
  ASSERT_EQ(ParseKedaQuery({{"model", "m.v2_x-1"}, {"metric", "inflight"}}, q), "");
  EXPECT_EQ(q.metric, KedaMetric::kInflight);
}

// KEDA hands on the whole trigger metadata, its own connection settings included.
TEST(KedaQueryTest, KedasOwnKeysAreAccepted) {
  EXPECT_EQ(ErrorOf({{"scalerAddress", "lagscale.ml.svc:7070"},
                     {"model", "iris"},
                     {"metric", "concurrency"},
                     {"enableTLS", "true"},
                     {"unsafeSsl", "false"},
                     {"tlsCertFile", "/c.pem"},
                     {"caCert", "x"},
                     {"tlsClientCert", "y"},
                     {"tlsClientKey", "z"}}),
            "");
  EXPECT_EQ(ErrorOf({{"scalerAddress", "lagscale.ml.svc:7070"}}),
            "scalerMetadata: missing model or server (the name of what to scale on)");
}

TEST(KedaQueryTest, BadMetadataNamesTheProblem) {
  EXPECT_EQ(ErrorOf({}), "scalerMetadata: missing model or server (the name of what to scale on)");
  EXPECT_EQ(ErrorOf({{"metric", "concurrency"}}),
            "scalerMetadata: missing model or server (the name of what to scale on)");
  EXPECT_EQ(ErrorOf({{"model", "a"}, {"server", "b"}}),
            "scalerMetadata: both model and server are set (name exactly one)");
  EXPECT_EQ(ErrorOf({{"model", "-iris"}}),
            "scalerMetadata.model: invalid name \"-iris\" (expected "
            "[A-Za-z0-9][A-Za-z0-9._-]{0,127})");
  EXPECT_EQ(ErrorOf({{"server", "a b"}}).rfind("scalerMetadata.server: invalid name \"a b\"", 0),
            0u);
  EXPECT_EQ(ErrorOf({{"model", std::string(129, 'a')}}).rfind("scalerMetadata.model: invalid", 0),
            0u);
  EXPECT_EQ(ErrorOf({{"model", "iris"}, {"metric", "qps"}}),
            "scalerMetadata.metric: unknown metric \"qps\" (expected desiredReplicas, "
            "concurrency or inflight)");
  EXPECT_EQ(ErrorOf({{"model", "iris"}, {"modle", "x"}}),
            "scalerMetadata.modle: unknown key (expected model or server, and metric)");
  EXPECT_EQ(ErrorOf({{"model", "iris"}, {std::string(10000, 'k'), "x"}}),
            "scalerMetadata." + std::string(64, 'k') +
                "...: unknown key (expected model or server, and metric)");
}

ScalerView FreshView() {
  ScalerView v;
  v.fresh = true;
  v.default_target_concurrency = 2;
  ScalerTargetView iris;
  iris.reported = iris.available = iris.active = true;
  iris.desired = 5;
  iris.concurrency = 8.5;
  iris.target_concurrency = 1.7;
  iris.inflight = 9;
  v.models["iris"] = iris;
  ScalerTargetView srv = iris;
  srv.desired = 3;
  v.servers["srv"] = srv;
  return v;
}

KedaQuery Query(const std::map<std::string, std::string>& metadata) {
  KedaQuery q;
  EXPECT_EQ(ParseKedaQuery(metadata, q), "");
  return q;
}

TEST(KedaAnswerTest, EachMetricCarriesItsValueAndPerReplicaTarget) {
  const ScalerView v = FreshView();
  auto a = AnswerKedaQuery(v, Query({{"model", "iris"}}));
  EXPECT_EQ(a.code, KedaAnswer::Code::kOk);
  EXPECT_EQ(a.value, 5);
  EXPECT_EQ(a.target, 1);
  EXPECT_TRUE(a.active);
  a = AnswerKedaQuery(v, Query({{"model", "iris"}, {"metric", "concurrency"}}));
  EXPECT_DOUBLE_EQ(a.value, 8.5);
  EXPECT_DOUBLE_EQ(a.target, 1.7);
  a = AnswerKedaQuery(v, Query({{"model", "iris"}, {"metric", "inflight"}}));
  EXPECT_DOUBLE_EQ(a.value, 9);
  a = AnswerKedaQuery(v, Query({{"server", "srv"}}));
  EXPECT_EQ(a.value, 3);
}

TEST(KedaAnswerTest, NameNoPodMentionedIsIdleZeroWhileReportsAreFresh) {
  const auto a =
      AnswerKedaQuery(FreshView(), Query({{"model", "not-yet"}, {"metric", "inflight"}}));
  EXPECT_EQ(a.code, KedaAnswer::Code::kOk);
  EXPECT_EQ(a.value, 0);
  EXPECT_FALSE(a.active);
  EXPECT_EQ(a.target, 2);  // the default targetConcurrency
}

TEST(KedaAnswerTest, NoFreshReportsIsUnavailableNeverZero) {
  ScalerView v = FreshView();
  v.fresh = false;
  v.not_fresh_reason = "no sidecar has reported within reportTTL";
  for (const char* metric : {"desiredReplicas", "concurrency", "inflight"}) {
    for (const char* name : {"iris", "not-yet"}) {
      const auto a = AnswerKedaQuery(v, Query({{"model", name}, {"metric", metric}}));
      EXPECT_EQ(a.code, KedaAnswer::Code::kUnavailable) << name << " " << metric;
      EXPECT_NE(a.message.find("no sidecar has reported within reportTTL"), std::string::npos);
    }
  }
  // A model still settling after a restart is unavailable even when other pods are fresh.
  v = FreshView();
  v.models["iris"].available = false;
  const auto a = AnswerKedaQuery(v, Query({{"model", "iris"}}));
  EXPECT_EQ(a.code, KedaAnswer::Code::kUnavailable);
  EXPECT_NE(a.message.find("model \"iris\" has no settled data yet"), std::string::npos);
}

// The service over a real in-process gRPC server: status codes as KEDA sees them.
class KedaServiceTest : public ::testing::Test {
 protected:
  void SetUp() override {
    grpc::ServerBuilder b;
    int port = 0;
    b.AddListeningPort("127.0.0.1:0", grpc::InsecureServerCredentials(), &port);
    b.RegisterService(scaler.service());
    server = b.BuildAndStart();
    ASSERT_TRUE(server && port > 0);
    stub = externalscaler::ExternalScaler::NewStub(grpc::CreateChannel(
        "127.0.0.1:" + std::to_string(port), grpc::InsecureChannelCredentials()));
  }
  void TearDown() override {
    scaler.Shutdown();
    server->Shutdown();
  }
  externalscaler::ScaledObjectRef Ref(const std::map<std::string, std::string>& metadata) {
    externalscaler::ScaledObjectRef ref;
    ref.set_name("so");
    ref.set_namespace_("ml");
    for (const auto& [k, v] : metadata) (*ref.mutable_scalermetadata())[k] = v;
    return ref;
  }

  ScalerViewHub hub;
  KedaScaler scaler{hub};
  std::unique_ptr<grpc::Server> server;
  std::unique_ptr<externalscaler::ExternalScaler::Stub> stub;
};

TEST_F(KedaServiceTest, BadMetadataIsInvalidArgumentOnEveryCall) {
  grpc::ClientContext c1, c2, c3, c4;
  externalscaler::IsActiveResponse active;
  auto s = stub->IsActive(&c1, Ref({{"metric", "qps"}}), &active);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_NE(s.error_message().find("missing model or server"), std::string::npos);
  externalscaler::GetMetricsRequest req;
  *req.mutable_scaledobjectref() = Ref({{"model", "iris"}, {"metric", "qps"}});
  externalscaler::GetMetricsResponse metrics;
  s = stub->GetMetrics(&c2, req, &metrics);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_NE(s.error_message().find("unknown metric \"qps\""), std::string::npos);
  externalscaler::GetMetricSpecResponse spec;
  s = stub->GetMetricSpec(&c3, Ref({{"model", "bad name"}}), &spec);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  auto stream = stub->StreamIsActive(&c4, Ref({{"server", ""}}));
  EXPECT_FALSE(stream->Read(&active));
  s = stream->Finish();
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_NE(s.error_message().find("scalerMetadata.server: invalid name"), std::string::npos);
}

// The ScaledObject's namespace/name are kept for /status: a caller (no credentials needed) could
// otherwise pin megabytes per call.
TEST_F(KedaServiceTest, AScaledObjectRefThatIsNoKubernetesNameIsRefusedAndNotKept) {
  for (const std::string& bad :
       {std::string(254, 'n'), std::string("a/b"), std::string("\x1b[2J")}) {
    grpc::ClientContext c1, c2;
    externalscaler::GetMetricsRequest req;
    *req.mutable_scaledobjectref() = Ref({{"model", "iris"}});
    req.mutable_scaledobjectref()->set_namespace_(bad);
    externalscaler::GetMetricsResponse metrics;
    auto s = stub->GetMetrics(&c1, req, &metrics);
    EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT) << bad;
    EXPECT_NE(
        s.error_message().find("scaledObjectRef: namespace and name must be Kubernetes names"),
        std::string::npos)
        << s.error_message();
    auto ref = Ref({{"model", "iris"}});
    ref.set_name(bad);
    externalscaler::IsActiveResponse active;
    auto stream = stub->StreamIsActive(&c2, ref);
    EXPECT_FALSE(stream->Read(&active));
    EXPECT_EQ(stream->Finish().error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  }
  EXPECT_TRUE(hub.Reads().empty());
  grpc::ClientContext ok;
  externalscaler::GetMetricsRequest req;
  *req.mutable_scaledobjectref() = Ref({{"model", "iris"}});
  req.mutable_scaledobjectref()->set_name(std::string(253, 'n'));
  externalscaler::GetMetricsResponse metrics;
  EXPECT_NE(stub->GetMetrics(&ok, req, &metrics).error_code(), grpc::StatusCode::INVALID_ARGUMENT);
}

TEST_F(KedaServiceTest, WithoutFreshReportsMetricsAreUnavailableButTheSpecIsServed) {
  grpc::ClientContext c1, c2;
  externalscaler::GetMetricsRequest req;
  *req.mutable_scaledobjectref() = Ref({{"model", "iris"}});
  externalscaler::GetMetricsResponse metrics;
  const auto s = stub->GetMetrics(&c1, req, &metrics);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::UNAVAILABLE);
  EXPECT_EQ(metrics.metricvalues_size(), 0);
  externalscaler::GetMetricSpecResponse spec;
  ASSERT_TRUE(stub->GetMetricSpec(&c2, Ref({{"model", "iris"}}), &spec).ok());
  ASSERT_EQ(spec.metricspecs_size(), 1);
  EXPECT_EQ(spec.metricspecs(0).metricname(), "lagscale-model-iris-desiredreplicas");
  EXPECT_EQ(spec.metricspecs(0).targetsizefloat(), 1);
  const auto reads = hub.Reads();
  ASSERT_EQ(reads.size(), 1u);
  EXPECT_EQ(reads[0].status, "UNAVAILABLE");
  EXPECT_EQ(reads[0].scaled_object, "ml/so");
}

TEST_F(KedaServiceTest, StreamIsActivePushesOnlyChanges) {
  grpc::ClientContext ctx;
  auto stream = stub->StreamIsActive(&ctx, Ref({{"model", "iris"}}));
  auto publish = [&](bool active) {
    auto v = std::make_shared<ScalerView>(FreshView());
    v->models["iris"].active = active;
    hub.Publish(v, true);
  };
  publish(false);
  externalscaler::IsActiveResponse r;
  ASSERT_TRUE(stream->Read(&r));
  EXPECT_FALSE(r.result());
  publish(false);  // no change: nothing is sent
  publish(true);
  ASSERT_TRUE(stream->Read(&r));
  EXPECT_TRUE(r.result());
  publish(false);
  ASSERT_TRUE(stream->Read(&r));
  EXPECT_FALSE(r.result());
  ctx.TryCancel();
  while (stream->Read(&r)) {
  }
  EXPECT_EQ(stream->Finish().error_code(), grpc::StatusCode::CANCELLED);
}

TEST_F(KedaServiceTest, StreamMetricSpecIsUnimplemented) {
  grpc::ClientContext ctx;
  auto stream = stub->StreamMetricSpec(&ctx, Ref({{"model", "iris"}}));
  externalscaler::GetMetricSpecResponse r;
  EXPECT_FALSE(stream->Read(&r));
  EXPECT_EQ(stream->Finish().error_code(), grpc::StatusCode::UNIMPLEMENTED);
}

}  // namespace
}  // namespace lagscale::coordinator
