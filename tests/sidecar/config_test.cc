#include "sidecar/config.h"

#include <cstdlib>
#include <string>
#include <vector>

#include <gtest/gtest.h>

namespace lagscale::sidecar {
namespace {

std::optional<SidecarConfig> Parse(std::vector<std::string> args, int& code) {
  args.insert(args.begin(), "lagscale-sidecar");
  std::vector<const char*> argv;
  for (const auto& a : args) argv.push_back(a.c_str());
  return ParseFlags(static_cast<int>(argv.size()), argv.data(), code);
}

TEST(SidecarConfig, DefaultsFollowTheContract) {
  int code = -1;
  auto c = Parse({}, code);
  ASSERT_TRUE(c);
  EXPECT_EQ(code, 0);
  EXPECT_EQ(c->proxy.listen_port, 8000);
  EXPECT_EQ(c->proxy.upstream_host, "127.0.0.1");
  EXPECT_EQ(c->proxy.upstream_port, 9000);
  EXPECT_EQ(c->admin.port, 9090);
  EXPECT_EQ(c->proxy.routing.headers, std::vector<std::string>{"seldon-model"});
  EXPECT_EQ(c->proxy.routing.openai_paths, proxy::DefaultOpenAiPaths());
  EXPECT_EQ(c->max_models, 1000u);
  EXPECT_EQ(c->proxy.max_header_bytes, 65536u);
  EXPECT_EQ(c->proxy.max_body_bytes, 0u);
  EXPECT_EQ(c->proxy.header_timeout, std::chrono::seconds(10));
  EXPECT_EQ(c->proxy.idle_timeout, std::chrono::seconds(60));
  EXPECT_EQ(c->proxy.connect_timeout, std::chrono::seconds(3));  // outlives a 1 s SYN retransmit
  EXPECT_EQ(c->proxy.connect_attempts, 3);
  EXPECT_EQ(c->proxy.client_write_timeout, std::chrono::seconds(60));
  EXPECT_EQ(c->proxy.upstream_timeout, std::chrono::seconds(300));
  EXPECT_EQ(c->drain_timeout, std::chrono::seconds(30));
  EXPECT_EQ(c->grpc_listen, "0.0.0.0:8001");
  EXPECT_EQ(c->grpc_upstream, "127.0.0.1:9001");
  EXPECT_EQ(c->grpc_engine, "frames");
  EXPECT_EQ(c->coordinator, "");
  EXPECT_EQ(c->report_interval, std::chrono::seconds(1));
  EXPECT_EQ(c->early_report_threshold, 8u);
  EXPECT_GE(c->proxy.threads, 1u);
  EXPECT_FALSE(c->pod_name.empty());
}

TEST(SidecarConfig, DurationsTakeUnits) {
  int code = -1;
  auto c = Parse({"--header-timeout", "250ms", "--idle-timeout", "2m", "--drain-timeout", "5s",
                  "--report-interval", "500ms"},
                 code);
  ASSERT_TRUE(c);
  EXPECT_EQ(c->proxy.header_timeout, std::chrono::milliseconds(250));
  EXPECT_EQ(c->proxy.idle_timeout, std::chrono::minutes(2));
  EXPECT_EQ(c->drain_timeout, std::chrono::seconds(5));
  EXPECT_EQ(c->report_interval, std::chrono::milliseconds(500));
}

TEST(SidecarConfig, EnvironmentFillsUnsetFlags) {
  setenv("LAGSCALE_UPSTREAM", "10.0.0.1:9999", 1);
  setenv("LAGSCALE_CONNECT_TIMEOUT", "5s", 1);
  setenv("LAGSCALE_CLIENT_WRITE_TIMEOUT", "15s", 1);
  setenv("LAGSCALE_MAX_MODELS", "7", 1);
  int code = -1;
  auto c = Parse({"--max-models", "9"}, code);
  unsetenv("LAGSCALE_UPSTREAM");
  unsetenv("LAGSCALE_CONNECT_TIMEOUT");
  unsetenv("LAGSCALE_CLIENT_WRITE_TIMEOUT");
  unsetenv("LAGSCALE_MAX_MODELS");
  ASSERT_TRUE(c);
  EXPECT_EQ(c->proxy.upstream_host, "10.0.0.1");
  EXPECT_EQ(c->proxy.upstream_port, 9999);
  EXPECT_EQ(c->proxy.connect_timeout, std::chrono::seconds(5));
  EXPECT_EQ(c->proxy.client_write_timeout, std::chrono::seconds(15));
  EXPECT_EQ(c->max_models, 9u);  // a flag beats the environment
}

TEST(SidecarConfig, GrpcEngineIsFramesOrCallsByFlagOrEnvironment) {
  int code = -1;
  auto c = Parse({"--grpc-engine", "calls"}, code);
  ASSERT_TRUE(c);
  EXPECT_EQ(c->grpc_engine, "calls");
  setenv("LAGSCALE_GRPC_ENGINE", "calls", 1);
  auto d = Parse({}, code);
  unsetenv("LAGSCALE_GRPC_ENGINE");
  ASSERT_TRUE(d);
  EXPECT_EQ(d->grpc_engine, "calls");
  EXPECT_FALSE(Parse({"--grpc-engine", "envoy"}, code));
  EXPECT_NE(code, 0);
}

TEST(SidecarConfig, LogLevelIsOneOfSpdlogsByFlagOrEnvironment) {
  int code = -1;
  auto c = Parse({}, code);
  ASSERT_TRUE(c);
  EXPECT_EQ(c->log_level, "info");
  auto d = Parse({"--log-level", "warn"}, code);
  ASSERT_TRUE(d);
  EXPECT_EQ(d->log_level, "warn");
  setenv("LAGSCALE_LOG_LEVEL", "debug", 1);
  auto e = Parse({}, code);
  unsetenv("LAGSCALE_LOG_LEVEL");
  ASSERT_TRUE(e);
  EXPECT_EQ(e->log_level, "debug");
  testing::internal::CaptureStderr();
  EXPECT_FALSE(Parse({"--log-level", "verbose"}, code));
  EXPECT_NE(testing::internal::GetCapturedStderr().find("--log-level"), std::string::npos);
  EXPECT_NE(code, 0);
}

TEST(SidecarConfig, CoordinatorTlsFlagsAndTheirEnvironmentVariables) {
  setenv("LAGSCALE_COORDINATOR_CA", "/etc/ca.pem", 1);
  setenv("LAGSCALE_COORDINATOR_CERT", "/etc/client.pem", 1);
  setenv("LAGSCALE_COORDINATOR_KEY", "/etc/client.key", 1);
  setenv("LAGSCALE_COORDINATOR_TLS_RELOAD_INTERVAL", "5s", 1);
  int code = -1;
  auto c = Parse({"--coordinator-ca", "/run/ca.pem"}, code);
  unsetenv("LAGSCALE_COORDINATOR_CA");
  unsetenv("LAGSCALE_COORDINATOR_CERT");
  unsetenv("LAGSCALE_COORDINATOR_KEY");
  unsetenv("LAGSCALE_COORDINATOR_TLS_RELOAD_INTERVAL");
  ASSERT_TRUE(c);
  EXPECT_EQ(c->coordinator_ca, "/run/ca.pem");
  EXPECT_EQ(c->coordinator_cert, "/etc/client.pem");
  EXPECT_EQ(c->coordinator_key, "/etc/client.key");
  EXPECT_EQ(c->coordinator_tls_reload_interval, std::chrono::seconds(5));
  auto d = Parse({}, code);
  ASSERT_TRUE(d);
  EXPECT_EQ(d->coordinator_ca, "");
  EXPECT_EQ(d->coordinator_tls_reload_interval, std::chrono::seconds(60));
}

TEST(SidecarConfig, ModelHeadersAndOpenAiPathsRepeat) {
  int code = -1;
  auto c = Parse({"--model-header", "X-Gateway-Model-Name", "--model-header", "seldon-model",
                  "--openai-path", "/custom/v1/chat/completions", "--openai-path", "/llm/generate"},
                 code);
  ASSERT_TRUE(c);
  EXPECT_EQ(c->proxy.routing.headers,
            (std::vector<std::string>{"X-Gateway-Model-Name", "seldon-model"}));
  std::vector<std::string> paths = proxy::DefaultOpenAiPaths();
  paths.push_back("/custom/v1/chat/completions");
  paths.push_back("/llm/generate");
  EXPECT_EQ(c->proxy.routing.openai_paths, paths);

  setenv("LAGSCALE_MODEL_HEADER", "a-model,b-model", 1);
  setenv("LAGSCALE_OPENAI_PATH", "/x,/y", 1);
  c = Parse({}, code);
  unsetenv("LAGSCALE_MODEL_HEADER");
  unsetenv("LAGSCALE_OPENAI_PATH");
  ASSERT_TRUE(c);
  EXPECT_EQ(c->proxy.routing.headers, (std::vector<std::string>{"a-model", "b-model"}));
  EXPECT_EQ(c->proxy.routing.openai_paths.back(), "/y");
  EXPECT_EQ(c->proxy.routing.openai_paths.size(), proxy::DefaultOpenAiPaths().size() + 2);
}

TEST(SidecarConfig, PodNameFallsBackToPodNameVariable) {
  setenv("POD_NAME", "mlserver-0", 1);
  int code = -1;
  auto c = Parse({}, code);
  unsetenv("POD_NAME");
  ASSERT_TRUE(c);
  EXPECT_EQ(c->pod_name, "mlserver-0");
}

TEST(SidecarConfig, EmptyGrpcListenDisablesIt) {
  int code = -1;
  auto c = Parse({"--grpc-listen", ""}, code);
  ASSERT_TRUE(c);
  EXPECT_EQ(c->grpc_listen, "");
}

TEST(SidecarConfig, InvalidSettingsStopStartUp) {
  for (const std::vector<std::string>& bad : {std::vector<std::string>{"--listen", "nonsense"},
                                              {"--upstream", "host:99999"},
                                              {"--header-timeout", "10"},
                                              {"--header-timeout", "ten seconds"},
                                              {"--threads", "0"},
                                              {"--max-models", "-1"},
                                              {"--bogus-flag", "1"},
                                              {"--admin", "::1:80"},
                                              {"--report-interval", "0s"},
                                              {"--idle-timeout", "0ms"},
                                              {"--connect-timeout", "-1s"},
                                              {"--client-write-timeout", "0s"},
                                              {"--connect-attempts", "0"},
                                              {"--model-header", "bad header"},
                                              {"--openai-path", "v1/chat"},
                                              {"--openai-path", "/v1/x?y=1"}}) {
    int code = 0;
    testing::internal::CaptureStderr();
    testing::internal::CaptureStdout();
    EXPECT_FALSE(Parse(bad, code)) << bad[0];
    const std::string said =
        testing::internal::GetCapturedStderr() + testing::internal::GetCapturedStdout();
    EXPECT_NE(code, 0) << bad[0];
    EXPECT_NE(said.find(bad[0]), std::string::npos) << said;
  }
}

// An upstream that is the sidecar's own listener would proxy each request back to itself, a storm
// of calls that only ends when the process runs out of connections.
TEST(SidecarConfig, UpstreamThatIsItsOwnListenerStopsStartUpNamingBothFlags) {
  const std::vector<std::string> loops[] = {
      {"--listen", "127.0.0.1:8000", "--upstream", "127.0.0.1:8000"},
      {"--listen", "0.0.0.0:8000", "--upstream", "localhost:8000"},
      {"--grpc-listen", "0.0.0.0:8001", "--grpc-upstream", "127.0.0.1:8001"},
      {"--grpc-listen", "[::]:8001", "--grpc-upstream", "[::1]:8001"}};
  for (const auto& args : loops) {
    int code = 0;
    testing::internal::CaptureStderr();
    EXPECT_FALSE(Parse(args, code)) << args[3];
    const std::string said = testing::internal::GetCapturedStderr();
    EXPECT_NE(code, 0);
    EXPECT_NE(said.find(args[2] + " " + args[3] + " is this sidecar's own " + args[0]),
              std::string::npos)
        << said;
  }
  // The same port elsewhere is another server: a listener on one interface does not cover
  // loopback, and a remote host is not this pod.
  const std::vector<std::string> elsewhere[] = {
      {"--listen", "0.0.0.0:8000", "--upstream", "10.0.0.5:8000"},
      {"--listen", "10.0.0.1:8000", "--upstream", "127.0.0.1:8000"},
      {"--grpc-listen", "", "--grpc-upstream", "127.0.0.1:8001"}};
  for (const auto& args : elsewhere) {
    int code = -1;
    EXPECT_TRUE(Parse(args, code)) << args[1] << " " << args[3];
  }
}

TEST(SidecarConfig, HelpAndVersionExitZero) {
  for (const char* flag : {"--help", "--version"}) {
    int code = -1;
    testing::internal::CaptureStdout();
    EXPECT_FALSE(Parse({flag}, code));
    const std::string out = testing::internal::GetCapturedStdout();
    EXPECT_EQ(code, 0) << flag;
    EXPECT_NE(out.find("lagscale-sidecar"), std::string::npos) << out;
  }
}

TEST(HostPort, ParsesNamesAddressesAndBrackets) {
  EXPECT_EQ(ParseHostPort("localhost:80")->host, "localhost");
  EXPECT_EQ(ParseHostPort("[::1]:8000")->host, "::1");
  EXPECT_EQ(ParseHostPort("[::1]:8000")->port, 8000);
  EXPECT_EQ(ParseHostPort("[::1]:8000")->ToString(), "[::1]:8000");
  EXPECT_FALSE(ParseHostPort(":80"));
  EXPECT_FALSE(ParseHostPort("host:"));
  EXPECT_FALSE(ParseHostPort("host:8x"));
}

}  // namespace
}  // namespace lagscale::sidecar
