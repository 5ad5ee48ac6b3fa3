#include "lagscale/proxy/model_router.h"

#include <string>

#include <gtest/gtest.h>

namespace lagscale::proxy {
namespace {

TEST(ModelFromTarget, V2RoutesNameTheModel) {
  EXPECT_EQ(ModelFromTarget("/v2/models/iris/infer"), "iris");
  EXPECT_EQ(ModelFromTarget("/v2/models/iris/versions/3/infer"), "iris");
  EXPECT_EQ(ModelFromTarget("/v2/models/iris/ready"), "iris");
  EXPECT_EQ(ModelFromTarget("/v2/models/iris"), "iris");
  EXPECT_EQ(ModelFromTarget("/v2/models/iris?x=/v2/models/other"), "iris");
  EXPECT_EQ(ModelFromTarget("/v2/models/my-model_1.2/generate_stream"), "my-model_1.2");
  EXPECT_EQ(ModelFromTarget("http://host:8000/v2/models/iris/infer"), "iris");
}

TEST(ModelFromTarget, V1PredictAndExplainNameTheModel) {
  EXPECT_EQ(ModelFromTarget("/v1/models/sklearn:predict"), "sklearn");
  EXPECT_EQ(ModelFromTarget("/v1/models/sklearn:explain"), "sklearn");
  EXPECT_EQ(ModelFromTarget("/v1/models/sklearn/versions/2:predict"), "sklearn");
  EXPECT_EQ(ModelFromTarget("/v1/models/sklearn:predict?debug=1"), "sklearn");
}

TEST(ModelFromTarget, OtherTargetsNameNoModel) {
  for (const char* target : {"/", "/v2", "/v2/models", "/v2/models/", "/v2/health/ready",
                             "/v1/models/sklearn", "/v1/models/sklearn:delete",
                             "/v1/models/a/b:predict", "/v1/models/a/versions/:predict",
                             "/v1/models/a/versions/1/x:predict", "/V2/models/iris/infer",
                             "*", "host:443", "http://host", "/metrics"}) {
    EXPECT_EQ(ModelFromTarget(target), "") << target;
  }
}

class RouteModelTest : public ::testing::Test {
 protected:
  metrics::ModelTable table_{4};
};

TEST_F(RouteModelTest, HeaderWinsOverThePath) {
  const metrics::ModelId id = RouteModel(table_, true, "bert", "/v2/models/iris/infer");
  EXPECT_EQ(table_.Name(id), "bert");
}

TEST_F(RouteModelTest, EmptyHeaderFallsBackToThePath) {
  EXPECT_EQ(table_.Name(RouteModel(table_, true, "", "/v2/models/iris/infer")), "iris");
  EXPECT_EQ(table_.Name(RouteModel(table_, false, "", "/v1/models/iris:predict")), "iris");
}

TEST_F(RouteModelTest, NoModelIsUnattributed) {
  EXPECT_EQ(RouteModel(table_, false, "", "/v2/health/live"), table_.unattributed());
  EXPECT_EQ(table_.invalid_names(), 0u);
}

TEST_F(RouteModelTest, HostileNamesAreUnattributedAndCounted) {
  const std::string too_long(129, 'a');
  for (const std::string& name :
       {std::string("../etc"), std::string(".hidden"), std::string("-x"), std::string("a b"),
        std::string("a%2Fb"), std::string("a\"b"), std::string("m\xc3\xa9"), too_long,
        std::string("a\0b", 3), std::string("{model}")}) {
    EXPECT_EQ(RouteModel(table_, true, name, "/"), table_.unattributed()) << name;
    EXPECT_EQ(RouteModel(table_, false, "", "/v2/models/" + name + "/infer"),
              table_.unattributed())
        << name;
  }
  // An invalid header does not fall through to a valid path: the client named a model, badly.
  EXPECT_EQ(RouteModel(table_, true, "bad name", "/v2/models/iris/infer"), table_.unattributed());
  EXPECT_EQ(table_.tracked(), 0u);
  EXPECT_EQ(table_.invalid_names(), 21u);
}

TEST_F(RouteModelTest, LongestValidNameIsTracked) {
  const std::string name(128, 'a');
  EXPECT_EQ(table_.Name(RouteModel(table_, true, name, "/")), name);
}

TEST_F(RouteModelTest, ModelsPastTheCapOverflow) {
  for (int i = 0; i < 4; ++i) {
    EXPECT_NE(RouteModel(table_, true, "m" + std::to_string(i), "/"), table_.overflow());
  }
  EXPECT_EQ(RouteModel(table_, true, "m4", "/"), table_.overflow());
  EXPECT_EQ(RouteModel(table_, false, "", "/v2/models/m5/infer"), table_.overflow());
  EXPECT_EQ(table_.Name(RouteModel(table_, true, "m0", "/")), "m0");  // known ones still resolve
  EXPECT_EQ(table_.tracked(), 4u);
}

}  // namespace
}  // namespace lagscale::proxy

namespace lagscale::proxy {
namespace {

TEST(OpenAiPath, DefaultPathsMatchExactlyWithQueryAndAbsoluteForm) {
  const ModelRouting r;
  for (const char* t : {"/v1/chat/completions", "/v1/completions", "/v1/embeddings",
                        "/openai/v1/chat/completions", "/openai/v1/completions",
                        "/openai/v1/embeddings", "/v1/chat/completions?stream=1",
                        "http://host:1/v1/completions"}) {
    EXPECT_TRUE(IsOpenAiPath(r, t)) << t;
  }
  for (const char* t : {"/v1/chat", "/v1/chat/completions/", "/v2/models/m/infer",
                        "/x/v1/completions", ""}) {
    EXPECT_FALSE(IsOpenAiPath(r, t)) << t;
  }
  ModelRouting more;
  more.openai_paths.push_back("/llm/generate");
  EXPECT_TRUE(IsOpenAiPath(more, "/llm/generate"));
}

TEST(ModelHeaderTest, FirstConfiguredHeaderWithAValueWins) {
  ModelRouting r;
  r.headers = {"seldon-model", "x-gateway-model-name"};
  HttpHead head;
  head.Reset(1024);
  ASSERT_TRUE(head.AppendFieldName("X-Gateway-Model-Name"));
  ASSERT_TRUE(head.AppendFieldValue("gw"));
  ASSERT_TRUE(head.AppendFieldName("Seldon-Model"));
  ASSERT_TRUE(head.AppendFieldValue(""));
  EXPECT_EQ(ModelHeader(r, head), "gw") << "an empty header counts as absent";
  r.headers = {"other"};
  EXPECT_EQ(ModelHeader(r, head), "");
}

}  // namespace
}  // namespace lagscale::proxy
