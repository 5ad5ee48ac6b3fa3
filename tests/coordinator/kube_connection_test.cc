#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "lagscale/coordinator/kubernetes.h"
#include "support/scratch_dir.h"

namespace lagscale::coordinator {
namespace {

// A kubeconfig whose only user is `user` (YAML under `user:`), in a temporary directory.
class KubeConnectionTest : public ::testing::Test {
 protected:
  std::string Write(const std::string& user, const std::string& server = "https://10.0.0.1:443") {
    const std::string path = dir_.Path("config");
    std::ofstream(path) << "apiVersion: v1\nkind: Config\ncurrent-context: c\n"
                        << "contexts:\n- name: c\n  context: {cluster: k, user: eks-user}\n"
                        << "clusters:\n- name: k\n  cluster:\n    server: " << server << "\n"
                        << "users:\n- name: eks-user\n  user:\n"
                        << user;
    return path;
  }
  // The message KubeconfigConnection refuses `path` with ("" when it accepts it).
  static std::string Refusal(const std::string& path) {
    try {
      KubeconfigConnection(path);
      return "";
    } catch (const std::runtime_error& e) {
      return e.what();
    }
  }
  testing::ScratchDir dir_{"kubeconfig"};
};

TEST_F(KubeConnectionTest, EksExecPluginIsRefusedNamingTheInClusterServiceAccount) {
  const std::string why = Refusal(Write(
      "    exec:\n      apiVersion: client.authentication.k8s.io/v1beta1\n      command: aws\n"
      "      args: [eks, get-token, --cluster-name, prod]\n"));
  ASSERT_FALSE(why.empty()) << "an exec user without a token must not be accepted";
  EXPECT_NE(why.find("eks-user"), std::string::npos) << why;
  EXPECT_NE(why.find("exec credential plugin (\"aws\")"), std::string::npos) << why;
  EXPECT_NE(why.find("in the cluster with its service account"), std::string::npos) << why;
  EXPECT_NE(why.find("omit --kubeconfig"), std::string::npos) << why;
}

TEST_F(KubeConnectionTest, GkeAuthPluginAndAuthProviderAreRefusedTheSameWay) {
  const std::string gke =
      Refusal(Write("    exec:\n      apiVersion: client.authentication.k8s.io/v1beta1\n"
                    "      command: gke-gcloud-auth-plugin\n      provideClusterInfo: true\n"));
  EXPECT_NE(gke.find("gke-gcloud-auth-plugin"), std::string::npos) << gke;
  EXPECT_NE(gke.find("service account"), std::string::npos) << gke;
  const std::string legacy = Refusal(Write("    auth-provider:\n      name: gcp\n"));
  EXPECT_NE(legacy.find("auth-provider is not supported"), std::string::npos) << legacy;
  EXPECT_NE(legacy.find("service account"), std::string::npos) << legacy;
}

TEST_F(KubeConnectionTest, ExecUserThatAlsoHasATokenUsesTheToken) {
  const std::string path =
      Write("    token: static-token\n    exec:\n      command: aws\n      args: [eks]\n");
  const KubeConnection c = KubeconfigConnection(path);
  EXPECT_EQ(c.token, "static-token");
  EXPECT_EQ(c.server, "https://10.0.0.1:443");
}

// A tokenFile that cannot be read once sent every request without a token (401s), where
// in-cluster mode checked its own token at start-up. It stops start-up naming the file; one that
// is there is accepted, relative to the kubeconfig, and still re-read on use.
TEST_F(KubeConnectionTest, TokenFileThatCannotBeReadIsRefusedNamingTheFile) {
  const std::string missing = dir_.Path("no-such-token");
  EXPECT_EQ(Refusal(Write("    tokenFile: " + missing + "\n")),
            "kubeconfig: user \"eks-user\": tokenFile: cannot read \"" + missing + "\"");
  std::ofstream(dir_.Path("empty-token")) << "\n";
  EXPECT_NE(Refusal(Write("    tokenFile: empty-token\n")).find("tokenFile: \""),
            std::string::npos);
  std::ofstream(dir_.Path("token")) << "rotating\n";
  const KubeConnection c = KubeconfigConnection(Write("    tokenFile: token\n"));
  EXPECT_EQ(c.token_file, dir_.Path("token"));
  EXPECT_EQ(c.token, "") << "the file is read on use, not copied once";
}

// An empty, scheme-less or absurdly long server is refused when the file is read, naming the field,
// not when the first API request is built.
TEST_F(KubeConnectionTest, ServerThatIsNotAnHttpUrlIsRefusedNamingTheField) {
  // The last one is long enough to overflow the stack of a regex matching it.
  const std::string too_long = "https://10.0.0.1/" + std::string(64 * 1024, 'a');
  for (const std::string& server : {std::string("\"\""), std::string("10.0.0.1:6443"),
                                    std::string("ftp://10.0.0.1"), too_long}) {
    const std::string why = Refusal(Write("    token: t\n", server));
    ASSERT_FALSE(why.empty()) << "accepted server: " << server;
    EXPECT_EQ(why.rfind("kubeconfig: cluster \"k\": server: ", 0), 0u) << why;
    EXPECT_NE(why.find("is not an http(s) URL"), std::string::npos) << why;
  }
  EXPECT_EQ(KubeconfigConnection(Write("    token: t\n", "http://127.0.0.1:8001")).server,
            "http://127.0.0.1:8001");
}

}  // namespace
}  // namespace lagscale::coordinator
