// TLS on the report stream, with the real lagscale-coordinator and lagscale-sidecar and
// certificates made by `openssl` at test time: a good certificate lets reports flow (the pod shows
// on /status, with a bearer token that now travels encrypted); a wrong CA, an expired server
// certificate or a missing client certificate under mutual TLS make the sidecar's reports fail
// (counted on its /metrics) while it keeps serving traffic; certificate files replaced on disk are
// picked up by both processes without a restart.
#include <gtest/gtest.h>

#include <fstream>
#include <nlohmann/json.hpp>

#include "support/http_peers.h"
#include "support/loopback.h"
#include "support/metrics_text.h"
#include "support/openssl_certs.h"
#include "support/process.h"

namespace lagscale::testing {
namespace {

using nlohmann::json;

// An upstream answering 200 to every request on every connection.
class OkUpstream {
 public:
  FakeUpstream server{[](FakeConn& c) {
    while (!c.ReadHead().empty()) {
      if (!c.Send(OkResponse("ok"))) return;
    }
  }};
};

json Status(const std::string& http) {
  const HttpResponse r = HttpGet(http, "/status");
  return r.status == 200 ? json::parse(r.body, nullptr, false) : json();
}

bool PodReported(const std::string& coordinator_http, const std::string& pod) {
  const json s = Status(coordinator_http);
  if (!s.is_object() || !s.contains("pods")) return false;
  for (const auto& p : s["pods"]) {
    if (p.value("pod", "") == pod && p.value("sequence", 0) > 0) return true;
  }
  return false;
}

class ReportTlsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    certs_.MakeCa("ca");
    certs_.MakeCa("other-ca");
    certs_.MakeLeaf("server", "ca");
    certs_.MakeLeaf("expired", "ca", -1);
    certs_.MakeLeaf("client", "ca");
  }

  // The coordinator serving `cert`(.pem/.key) on its gRPC port; extra flags appended.
  bool StartCoordinator(const std::string& cert, std::vector<std::string> extra = {}) {
    std::vector<std::string> args = {"--grpc-listen", "127.0.0.1:0",
                                     "--http-listen", "127.0.0.1:0",
                                     "--tls-cert",    certs_.Path(cert + ".pem"),
                                     "--tls-key",     certs_.Path(cert + ".key")};
    args.insert(args.end(), extra.begin(), extra.end());
    std::map<std::string, std::string> addresses;
    coordinator_ = StartReady("lagscale-coordinator", args, addresses);
    grpc_ = addresses["grpc"];
    http_ = addresses["http"];
    return coordinator_ != nullptr;
  }

  SidecarProcess Sidecar(const std::string& pod, std::vector<std::string> extra) {
    std::vector<std::string> args = {"--coordinator", grpc_, "--report-interval", "200ms",
                                     "--server-name", "srv", "--pod-name",        pod};
    args.insert(args.end(), extra.begin(), extra.end());
    return StartSidecar(upstream_.server.address(), args);
  }

  // The sidecar keeps serving while its reports fail.
  void ExpectServes(const SidecarProcess& s) {
    const HttpResponse r = Http("POST", s.http, "/v2/models/iris/infer", "{}");
    EXPECT_EQ(r.status, 200) << r.error;
  }

  // Reports keep failing (at least three counted) and none reaches the coordinator.
  void ExpectReportsFail(const SidecarProcess& s, const std::string& pod) {
    EXPECT_TRUE(Eventually(
        [&] { return ScrapeValue(s.admin, "lagscale_report_failures_total") >= 3; }, 20s))
        << s.process->stderr_text();
    EXPECT_EQ(ScrapeValue(s.admin, "lagscale_reports_sent_total"), 0);
    EXPECT_FALSE(PodReported(http_, pod));
    ExpectServes(s);
  }

  // The sidecar's warnings come at most once a second, and the first may be only "connecting"
  // (a handshake slower than the report interval): wait for the one that says why.
  void ExpectWarning(const SidecarProcess& s, const std::string& text) {
    EXPECT_TRUE(
        Eventually([&] { return s.process->stderr_text().find(text) != std::string::npos; }, 20s))
        << s.process->stderr_text();
  }

  TestCertificates certs_;
  OkUpstream upstream_;
  std::unique_ptr<ChildProcess> coordinator_;
  std::string grpc_, http_;
};

TEST_F(ReportTlsTest, GoodCertificateCarriesReportsAndTheBearerToken) {
  const std::string token = certs_.Path("token");
  std::ofstream(token) << "s3cret\n";
  ASSERT_TRUE(StartCoordinator("server", {"--token-file", token}));
  SidecarProcess s = Sidecar(
      "good", {"--coordinator-ca", certs_.Path("ca.pem"), "--coordinator-token-file", token});
  ASSERT_TRUE(s.ok());
  ExpectServes(s);
  EXPECT_TRUE(Eventually([&] { return PodReported(http_, "good"); }, 20s))
      << s.process->stderr_text();
  EXPECT_GT(ScrapeValue(s.admin, "lagscale_reports_sent_total"), 0);
  // The request sent above reached the coordinator's picture of the model.
  EXPECT_TRUE(Eventually(
      [&] {
        const json st = Status(http_);
        if (!st.is_object()) return false;
        for (const auto& m : st["models"]) {
          if (m.value("name", "") == "iris") return true;
        }
        return false;
      },
      20s));
}

// Reports a coordinator refuses (here: a wrong token) are failures, never sent: the sidecar's
// lagscale_reports_sent_total counts what the coordinator acknowledged.
TEST_F(ReportTlsTest, ReportsRefusedForAWrongTokenAreNotCountedAsSent) {
  const std::string token = certs_.Path("token"), wrong = certs_.Path("wrong");
  std::ofstream(token) << "s3cret\n";
  std::ofstream(wrong) << "guess\n";
  ASSERT_TRUE(StartCoordinator("server", {"--token-file", token}));
  SidecarProcess s = Sidecar("wrong-token", {"--coordinator-ca", certs_.Path("ca.pem"),
                                             "--coordinator-token-file", wrong});
  ASSERT_TRUE(s.ok());
  EXPECT_TRUE(
      Eventually([&] { return ScrapeValue(s.admin, "lagscale_report_failures_total") >= 3; }, 20s));
  EXPECT_EQ(ScrapeValue(s.admin, "lagscale_reports_sent_total"), 0);
}

TEST_F(ReportTlsTest, PlaintextSidecarCannotReportToATlsCoordinator) {
  ASSERT_TRUE(StartCoordinator("server"));
  SidecarProcess s = Sidecar("plain", {});
  ASSERT_TRUE(s.ok());
  ExpectReportsFail(s, "plain");
  // gRPC's reason is only "Socket closed"; the sidecar says what it likely means.
  ExpectWarning(s,
                "Socket closed; a coordinator serving TLS closes plaintext connections: is "
                "--coordinator-ca needed?");
}

TEST_F(ReportTlsTest, WrongCaFailsReportsAndTheSidecarKeepsServing) {
  ASSERT_TRUE(StartCoordinator("server"));
  SidecarProcess s = Sidecar("wrong-ca", {"--coordinator-ca", certs_.Path("other-ca.pem")});
  ASSERT_TRUE(s.ok());
  ExpectReportsFail(s, "wrong-ca");
}

TEST_F(ReportTlsTest, ExpiredServerCertificateIsRefusedBySidecars) {
  ASSERT_TRUE(StartCoordinator("expired"));
  SidecarProcess s = Sidecar("expired", {"--coordinator-ca", certs_.Path("ca.pem")});
  ASSERT_TRUE(s.ok());
  ExpectReportsFail(s, "expired");
}

TEST_F(ReportTlsTest, MutualTlsRefusesASidecarWithoutClientCertificate) {
  ASSERT_TRUE(StartCoordinator("server", {"--tls-client-ca", certs_.Path("ca.pem")}));
  SidecarProcess anonymous = Sidecar("anonymous", {"--coordinator-ca", certs_.Path("ca.pem")});
  SidecarProcess trusted = Sidecar(
      "trusted", {"--coordinator-ca", certs_.Path("ca.pem"), "--coordinator-cert",
                  certs_.Path("client.pem"), "--coordinator-key", certs_.Path("client.key")});
  ASSERT_TRUE(anonymous.ok() && trusted.ok());
  EXPECT_TRUE(Eventually([&] { return PodReported(http_, "trusted"); }, 20s))
      << trusted.process->stderr_text();
  ExpectReportsFail(anonymous, "anonymous");
  ExpectWarning(anonymous,
                "a coordinator requiring client certificates closes connections without one: are "
                "--coordinator-cert and --coordinator-key needed?");
}

TEST_F(ReportTlsTest, ClientCertificateFromAnotherCaIsRefused) {
  certs_.MakeLeaf("stranger", "other-ca");
  ASSERT_TRUE(StartCoordinator("server", {"--tls-client-ca", certs_.Path("ca.pem")}));
  SidecarProcess s = Sidecar(
      "stranger", {"--coordinator-ca", certs_.Path("ca.pem"), "--coordinator-cert",
                   certs_.Path("stranger.pem"), "--coordinator-key", certs_.Path("stranger.key")});
  ASSERT_TRUE(s.ok());
  ExpectReportsFail(s, "stranger");
  ExpectWarning(s,
                "a coordinator that does not accept this client certificate closes the "
                "connection: its log says why");
}

TEST_F(ReportTlsTest, RenewedServerCertificateIsServedWithoutARestart) {
  // The coordinator's files start out expired, as after a renewal that came too late.
  certs_.Install(certs_.Path("expired.pem"), certs_.Path("live.pem"));
  certs_.Install(certs_.Path("expired.key"), certs_.Path("live.key"));
  ASSERT_TRUE(StartCoordinator("live", {"--tls-reload-interval", "1s"}));
  SidecarProcess s = Sidecar("renewed", {"--coordinator-ca", certs_.Path("ca.pem")});
  ASSERT_TRUE(s.ok());
  ASSERT_TRUE(
      Eventually([&] { return ScrapeValue(s.admin, "lagscale_report_failures_total") >= 2; }, 20s));
  EXPECT_FALSE(PodReported(http_, "renewed"));
  certs_.Install(certs_.Path("server.key"), certs_.Path("live.key"));
  certs_.Install(certs_.Path("server.pem"), certs_.Path("live.pem"));
  EXPECT_TRUE(Eventually([&] { return PodReported(http_, "renewed"); }, 30s))
      << s.process->stderr_text();
}

TEST_F(ReportTlsTest, RotatedCaBundleIsTrustedWithoutARestart) {
  ASSERT_TRUE(StartCoordinator("server"));
  certs_.Install(certs_.Path("other-ca.pem"), certs_.Path("bundle.pem"));
  SidecarProcess s = Sidecar("rotated", {"--coordinator-ca", certs_.Path("bundle.pem"),
                                         "--coordinator-tls-reload-interval", "1s"});
  ASSERT_TRUE(s.ok());
  ASSERT_TRUE(
      Eventually([&] { return ScrapeValue(s.admin, "lagscale_report_failures_total") >= 2; }, 20s));
  EXPECT_FALSE(PodReported(http_, "rotated"));
  certs_.Install(certs_.Path("ca.pem"), certs_.Path("bundle.pem"));
  EXPECT_TRUE(Eventually([&] { return PodReported(http_, "rotated"); }, 30s))
      << s.process->stderr_text();
}

// A rotation to files that do not make a good set (a key that is not the certificate's, then an
// empty key, as a truncate-then-write or a Secret with an empty tls.key leaves them) keeps the
// last good set on both ends. gRPC's own file watcher aborted either process on the empty key.
TEST_F(ReportTlsTest, ABadRotationKeepsTheLastGoodCertificateOnBothEnds) {
  certs_.Install(certs_.Path("server.key"), certs_.Path("live.key"));
  certs_.Install(certs_.Path("server.pem"), certs_.Path("live.pem"));
  certs_.Install(certs_.Path("client.key"), certs_.Path("client-live.key"));
  ASSERT_TRUE(StartCoordinator(
      "live", {"--tls-client-ca", certs_.Path("ca.pem"), "--tls-reload-interval", "1s"}));
  // This sidecar trusts another CA, so it keeps reconnecting: every attempt reads its files.
  SidecarProcess s = Sidecar(
      "retrying", {"--coordinator-ca", certs_.Path("other-ca.pem"), "--coordinator-cert",
                   certs_.Path("client.pem"), "--coordinator-key", certs_.Path("client-live.key"),
                   "--coordinator-tls-reload-interval", "1s"});
  ASSERT_TRUE(s.ok());
  ASSERT_TRUE(
      Eventually([&] { return ScrapeValue(s.admin, "lagscale_report_failures_total") >= 1; }, 20s));
  std::ofstream(certs_.Path("empty")) << "";
  certs_.Install(certs_.Path("client.key"), certs_.Path("live.key"));
  EXPECT_TRUE(Eventually(
      [&] { return coordinator_->stderr_text().find("is not the key of") != std::string::npos; },
      20s))
      << coordinator_->stderr_text();
  certs_.Install(certs_.Path("empty"), certs_.Path("live.key"));
  certs_.Install(certs_.Path("empty"), certs_.Path("client-live.key"));
  EXPECT_TRUE(Eventually(
      [&] {
        return coordinator_->stderr_text().find("\"" + certs_.Path("live.key") + "\" is empty") !=
                   std::string::npos &&
               s.process->stderr_text().find("\"" + certs_.Path("client-live.key") +
                                             "\" is empty; reporting with the last good TLS "
                                             "files") != std::string::npos;
      },
      20s))
      << coordinator_->stderr_text() << s.process->stderr_text();
  // Both still run, and a new sidecar's handshake gets the last good certificate.
  EXPECT_TRUE(coordinator_->running());
  EXPECT_TRUE(s.process->running());
  ExpectServes(s);
  SidecarProcess fresh =
      Sidecar("fresh", {"--coordinator-ca", certs_.Path("ca.pem"), "--coordinator-cert",
                        certs_.Path("client.pem"), "--coordinator-key", certs_.Path("client.key")});
  ASSERT_TRUE(fresh.ok());
  EXPECT_TRUE(Eventually([&] { return PodReported(http_, "fresh"); }, 20s))
      << fresh.process->stderr_text();
}

// The sidecar checks its files as the coordinator does: a key that is not its certificate's
// stopped neither before, and the sidecar ran without ever reporting.
TEST_F(ReportTlsTest, ASidecarKeyThatIsNotItsCertificatesStopsStartUpNamingTheFlag) {
  auto s = ChildProcess::Start(
      {std::string(LAGSCALE_BIN_DIR) + "/lagscale-sidecar", "--listen", "127.0.0.1:0", "--admin",
       "127.0.0.1:0", "--grpc-listen", "", "--upstream", "127.0.0.1:1", "--coordinator",
       "127.0.0.1:1", "--coordinator-ca", certs_.Path("ca.pem"), "--coordinator-cert",
       certs_.Path("client.pem"), "--coordinator-key", certs_.Path("server.key")});
  ASSERT_TRUE(s);
  EXPECT_EQ(s->Wait(), 2);
  EXPECT_NE(s->stderr_text().find("--coordinator-key: \"" + certs_.Path("server.key") +
                                  "\" is not the key of --coordinator-cert"),
            std::string::npos)
      << s->stderr_text();
}

TEST_F(ReportTlsTest, KeyThatIsNotTheCertificatesStopsStartUpNamingTheFlag) {
  auto c =
      ChildProcess::Start({std::string(LAGSCALE_BIN_DIR) + "/lagscale-coordinator", "--grpc-listen",
                           "127.0.0.1:0", "--http-listen", "127.0.0.1:0", "--tls-cert",
                           certs_.Path("server.pem"), "--tls-key", certs_.Path("client.key")});
  ASSERT_TRUE(c);
  EXPECT_EQ(c->Wait(), 2);
  EXPECT_NE(c->stderr_text().find("--tls-key"), std::string::npos) << c->stderr_text();
}

TEST_F(ReportTlsTest, MissingCaFileStopsSidecarStartUpNamingTheFlag) {
  auto s = ChildProcess::Start({std::string(LAGSCALE_BIN_DIR) + "/lagscale-sidecar", "--listen",
                                "127.0.0.1:0", "--admin", "127.0.0.1:0", "--grpc-listen", "",
                                "--coordinator", "127.0.0.1:1", "--coordinator-ca",
                                certs_.Path("nothing.pem")});
  ASSERT_TRUE(s);
  EXPECT_EQ(s->Wait(), 2);  // start-up failed on a setting: 2, as in the coordinator
  EXPECT_NE(s->stderr_text().find("--coordinator-ca"), std::string::npos) << s->stderr_text();
}

// A peer that fails the TLS handshake in a loop (here: plain HTTP to the TLS port) shows in the
// coordinator's log once, as a warning at --log-level, not once per connection; with
// --log-level off it does not show at all.
TEST_F(ReportTlsTest, FailedHandshakesAreLoggedAtTheLogLevelAndNotOncePerConnection) {
  for (const std::string level : {"info", "off"}) {
    ASSERT_TRUE(StartCoordinator("server", {"--log-level", level}));
    for (int i = 0; i < 20; ++i) {
      EXPECT_EQ(HttpGet(grpc_, "/").status, 0) << "the port speaks TLS only";
    }
    const auto lines = [&] {
      const std::string text = coordinator_->stderr_text();
      size_t n = 0;
      for (size_t at = 0; (at = text.find("Handshake failed", at)) != std::string::npos; ++at) ++n;
      return n;
    };
    if (level == "info") {
      // The line is written by the coordinator's own threads: wait for it, then count.
      EXPECT_TRUE(Eventually([&] { return lines() >= 1; }, 20s)) << coordinator_->stderr_text();
      EXPECT_EQ(lines(), 1u) << coordinator_->stderr_text();
      EXPECT_NE(coordinator_->stderr_text().find("[warning] grpc: Handshake failed"),
                std::string::npos)
          << coordinator_->stderr_text();
    } else {
      EXPECT_EQ(coordinator_->stderr_text(), "");
    }
  }
}

// gRPC reads a listen address its own way; the coordinator checks it first, like every other
// listen flag, so a typo is exit 2 naming the flag, never an abort after start-up.
TEST(ReportFlagsTest, AGrpcListenAddressWithoutAValidPortStopsStartUpNamingTheFlag) {
  for (const std::string bad : {"127.0.0.1:99999", "127.0.0.1", "127.0.0.1:"}) {
    auto c = ChildProcess::Start({std::string(LAGSCALE_BIN_DIR) + "/lagscale-coordinator",
                                  "--grpc-listen", bad, "--http-listen", "127.0.0.1:0"});
    ASSERT_TRUE(c);
    EXPECT_EQ(c->Wait(), 2) << bad << "\n" << c->stderr_text();
    EXPECT_NE(c->stderr_text().find("--grpc-listen"), std::string::npos) << c->stderr_text();
  }
}

// gRPC says only that it could not listen; the error names the flag and the reason.
TEST(ReportFlagsTest, AGrpcPortInUseStopsStartUpWithTheReason) {
  uint16_t port = 0;
  const int held = ListenOnLoopback(port);
  ASSERT_GE(held, 0);
  auto c =
      ChildProcess::Start({std::string(LAGSCALE_BIN_DIR) + "/lagscale-coordinator", "--grpc-listen",
                           "127.0.0.1:" + std::to_string(port), "--http-listen", "127.0.0.1:0"});
  ASSERT_TRUE(c);
  EXPECT_EQ(c->Wait(), 2) << c->stderr_text();
  ::close(held);
  EXPECT_NE(c->stderr_text().find("cannot listen on --grpc-listen 127.0.0.1:" +
                                  std::to_string(port) + ": Address already in use"),
            std::string::npos)
      << c->stderr_text();
}

// The coordinator refuses reports whose names no sidecar sends; the sidecar says so at start-up.
TEST(ReportFlagsTest, ASidecarNameTheCoordinatorWouldRefuseStopsStartUpNamingTheFlag) {
  for (const auto& [flag, bad] : {std::pair<std::string, std::string>{"--pod-name", "a/b"},
                                  {"--server-name", "triton server"},
                                  {"--pod-name", std::string(254, 'p')}}) {
    auto s = ChildProcess::Start({std::string(LAGSCALE_BIN_DIR) + "/lagscale-sidecar", "--listen",
                                  "127.0.0.1:0", "--admin", "127.0.0.1:0", "--grpc-listen", "",
                                  "--upstream", "127.0.0.1:1", flag, bad});
    ASSERT_TRUE(s);
    EXPECT_EQ(s->Wait(), 2) << flag << " " << bad;
    EXPECT_NE(s->stderr_text().find(flag), std::string::npos) << s->stderr_text();
  }
}

}  // namespace
}  // namespace lagscale::testing
