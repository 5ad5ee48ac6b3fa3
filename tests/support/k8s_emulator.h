#pragma once

// A Kubernetes API server emulator for the coordinator's tests: HTTPS with a certificate from a
// test CA made at test time with the `openssl` CLI, serving whatever replies a test scripts (the
// scale subresource's JSON, 403/404/409/429+Retry-After/500, or a hang) and recording method,
// path, headers and body of every request so tests can check them exactly.
// KubeObjects (below) makes it stateful instead: coordination.k8s.io/v1 Leases with
// resourceVersion semantics and scale subresources that remember their replicas and record who
// wrote what and when.

#include <openssl/ssl.h>

#include <boost/asio/ssl.hpp>
#include <boost/beast/ssl.hpp>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <regex>
#include <sstream>
#include <thread>

#include "support/command.h"
#include "support/coordinator_harness.h"
#include "support/scratch_dir.h"

namespace lagscale::testing {

// A throw-away PKI: CA, a server certificate for IP 127.0.0.1, and a client certificate.
struct TestPki {
  ScratchDir dir{"pki"};
  std::string ca_pem, server_cert_pem, server_key_pem, client_cert_pem, client_key_pem;

  TestPki() {
    const std::string script =
        "cd " + dir.path().string() +
        " && "
        "K='-newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes' && "
        "openssl req -x509 $K -keyout ca.key -out ca.crt -days 2 -subj /CN=lagscale-test-ca "
        "  -addext basicConstraints=critical,CA:TRUE -addext keyUsage=critical,keyCertSign "
        ">/dev/null 2>&1 && "
        "openssl req $K -keyout server.key -out server.csr -subj /CN=127.0.0.1 >/dev/null 2>&1 && "
        "printf 'subjectAltName=IP:127.0.0.1\\nextendedKeyUsage=serverAuth\\n' > server.ext && "
        "openssl x509 -req -in server.csr -CA ca.crt -CAkey ca.key -CAcreateserial -days 2 "
        "  -extfile server.ext -out server.crt >/dev/null 2>&1 && "
        "openssl req $K -keyout client.key -out client.csr -subj /CN=lagscale-coordinator "
        ">/dev/null 2>&1 && "
        "printf 'extendedKeyUsage=clientAuth\\n' > client.ext && "
        "openssl x509 -req -in client.csr -CA ca.crt -CAkey ca.key -CAcreateserial -days 2 "
        "  -extfile client.ext -out client.crt >/dev/null 2>&1";
    const CommandResult openssl = RunShell(script);
    if (!openssl.ok())
      throw std::runtime_error("openssl failed in " + dir.path().string() + ": " + openssl.err);
    ca_pem = Read("ca.crt");
    server_cert_pem = Read("server.crt");
    server_key_pem = Read("server.key");
    client_cert_pem = Read("client.crt");
    client_key_pem = Read("client.key");
  }
  std::string Path(const std::string& name) const { return dir.Path(name); }
  // A kubeconfig for the API server at `server_url` (trusting this CA) whose user presents
  // `token`: KubeObjects records it as the writer.
  std::string Kubeconfig(const std::string& server_url, const std::string& token) const {
    const std::string path = Path("kubeconfig-" + token);
    std::ofstream(path) << "apiVersion: v1\nkind: Config\ncurrent-context: test\n"
                        << "contexts:\n- name: test\n  context: {cluster: emu, user: me}\n"
                        << "clusters:\n- name: emu\n  cluster:\n    server: " << server_url
                        << "\n    certificate-authority: " << Path("ca.crt") << "\n"
                        << "users:\n- name: me\n  user:\n    token: " << token << "\n";
    return path;
  }
  std::string Read(const std::string& name) const {
    std::ifstream in(Path(name));
    std::stringstream s;
    s << in.rdbuf();
    return s.str();
  }
};

class KubeEmulator : public ScriptedHttpServer {
 public:
  explicit KubeEmulator(const TestPki& pki)
      : ScriptedHttpServer(/*start=*/false), ssl_(boost::asio::ssl::context::tls_server) {
    ssl_.use_certificate_chain(boost::asio::buffer(pki.server_cert_pem));
    ssl_.use_private_key(boost::asio::buffer(pki.server_key_pem), boost::asio::ssl::context::pem);
    // Ask for a client certificate (accepted when absent; recorded when verified).
    ssl_.add_certificate_authority(boost::asio::buffer(pki.ca_pem));
    ssl_.set_verify_mode(boost::asio::ssl::verify_peer);
    Start();
  }
  ~KubeEmulator() override { Stop(); }

  // The JSON of a Scale object, as the API server returns it.
  static std::string ScaleJson(const std::string& name, const std::string& ns, int replicas) {
    return "{\"kind\":\"Scale\",\"apiVersion\":\"autoscaling/v1\",\"metadata\":{\"name\":\"" +
           name + "\",\"namespace\":\"" + ns +
           "\"},\"spec\":{\"replicas\":" + std::to_string(replicas) +
           "},\"status\":{\"replicas\":" + std::to_string(replicas) + "}}";
  }
  static std::string StatusJson(int code, const std::string& reason, const std::string& message) {
    return "{\"kind\":\"Status\",\"apiVersion\":\"v1\",\"status\":\"Failure\",\"message\":\"" +
           message + "\",\"reason\":\"" + reason + "\",\"code\":" + std::to_string(code) + "}";
  }

 protected:
  bool tls() const override { return true; }
  void Serve(boost::asio::ip::tcp::socket socket) override {
    try {
      boost::beast::ssl_stream<boost::asio::ip::tcp::socket&> stream(socket, ssl_);
      stream.handshake(boost::asio::ssl::stream_base::server);
      X509* peer = SSL_get_peer_certificate(stream.native_handle());
      const bool client_cert = peer && SSL_get_verify_result(stream.native_handle()) == X509_V_OK;
      if (peer) X509_free(peer);
      Exchange(stream, client_cert);
      boost::system::error_code ec;
      stream.shutdown(ec);
    } catch (const std::exception&) {
      // The client gave up (its timeout during a hang) or refused our certificate.
    }
  }

 private:
  boost::asio::ssl::context ssl_;
};

// The state of a few API objects, served through KubeEmulator::SetHandler(objects.Handler()):
// - Leases at /apis/coordination.k8s.io/v1/namespaces/{ns}/leases[/{name}]: GET (404 before
//   creation), POST (201; 409 AlreadyExists when it exists), PUT (200; 409 Conflict when
//   metadata.resourceVersion is not the stored one; 404 when absent). Every successful write gets
//   a new resourceVersion; the spec is checked the way the API server validates it (MicroTime
//   with six fractional digits, leaseDurationSeconds a positive integer).
// - Scale subresources (any .../{plural}/{name}/scale) and their objects: GET returns the stored
//   replicas (SetReplicas), PATCH with a merge patch of spec.replicas stores them.
// Every write is recorded with its writer: the bearer token it carried.
// Thread safety: all methods may be called from any thread (the emulator serves on several).
class KubeObjects {
 public:
  struct Write {
    std::string writer;  // the bearer token
    std::string method, path;
    int status = 0;      // what the emulator answered
    int replicas = -1;   // scale writes: the replicas written
    int before = -1;     // scale writes: the replicas before
    std::string holder;  // lease writes: spec.holderIdentity written
    std::chrono::steady_clock::time_point at;    // when the request arrived
    std::chrono::steady_clock::time_point done;  // when it was applied and answered
  };

  void SetReplicas(const std::string& scale_path, int replicas) {
    std::lock_guard lock(mu_);
    replicas_[scale_path] = replicas;
  }
  int Replicas(const std::string& scale_path) {
    std::lock_guard lock(mu_);
    auto it = replicas_.find(scale_path);
    return it == replicas_.end() ? -1 : it->second;
  }
  // The stored Lease (null when none).
  nlohmann::json Lease(const std::string& ns, const std::string& name) {
    std::lock_guard lock(mu_);
    auto it = leases_.find(ns + "/" + name);
    return it == leases_.end() ? nlohmann::json() : it->second;
  }
  std::vector<Write> ScaleWrites() {
    std::lock_guard lock(mu_);
    return scale_writes_;
  }
  std::vector<Write> LeaseWrites() {
    std::lock_guard lock(mu_);
    return lease_writes_;
  }
  // A slow API server: each scale PATCH (to `scale_path` only, when given) is applied and
  // answered `delay` after it arrived.
  void DelayScaleWrites(std::chrono::milliseconds delay, const std::string& scale_path = "") {
    std::lock_guard lock(mu_);
    scale_write_delays_[scale_path] = delay;
  }
  // When set, every request fails with this status (an API server outage); 0 serves again.
  void FailEverything(int status) {
    std::lock_guard lock(mu_);
    fail_ = status;
  }

  std::function<ScriptedReply(const RecordedRequest&)> Handler() {
    return [this](const RecordedRequest& r) { return Serve(r); };
  }

 private:
  // A metav1.Status as the API server sends it (messages quote names, so JSON-escaped).
  static ScriptedReply Status(int code, const std::string& reason, const std::string& message) {
    const nlohmann::json status = {{"kind", "Status"},    {"apiVersion", "v1"},
                                   {"status", "Failure"}, {"message", message},
                                   {"reason", reason},    {"code", code}};
    return ScriptedReply{code, status.dump()};
  }
  static std::string Writer(const RecordedRequest& r) {
    auto it = r.headers.find("authorization");
    if (it == r.headers.end()) return "";
    return it->second.rfind("Bearer ", 0) == 0 ? it->second.substr(7) : it->second;
  }

  ScriptedReply Serve(const RecordedRequest& r) {
    static const std::regex kLease(
        R"(^/apis/coordination\.k8s\.io/v1/namespaces/([a-z0-9-]+)/leases(?:/([a-z0-9.-]+))?$)");
    static const std::regex kScale(R"(^(/apis?/.+)/scale$)");
    const std::string path = r.target.substr(0, r.target.find('?'));
    if (r.method == "PATCH") {
      std::chrono::milliseconds delay{0};
      {
        std::lock_guard lock(mu_);
        auto it = scale_write_delays_.find(path);
        if (it == scale_write_delays_.end()) it = scale_write_delays_.find("");
        if (it != scale_write_delays_.end()) delay = it->second;
      }
      std::this_thread::sleep_for(delay);  // the emulated server's slowness, not synchronisation
    }
    std::lock_guard lock(mu_);
    if (fail_) return Status(fail_, "InternalError", "emulated outage");
    std::smatch m;
    if (std::regex_match(path, m, kLease))
      return ServeLease(r, m[1], m[2].matched ? m[2].str() : "");
    if (std::regex_match(path, m, kScale)) return ServeScale(r, path);
    // The object behind a scale subresource (the coordinator reads replicas and bounds there).
    if (r.method == "GET" && replicas_.count(path + "/scale")) {
      return ScriptedReply{
          200, nlohmann::json{{"spec", {{"replicas", replicas_[path + "/scale"]}}}}.dump()};
    }
    return Status(404, "NotFound", "the server could not find the requested resource");
  }

  ScriptedReply ServeScale(const RecordedRequest& r, const std::string& path) {
    auto it = replicas_.find(path);
    if (it == replicas_.end()) return Status(404, "NotFound", path + " not found");
    if (r.method == "PATCH") {
      Write w{Writer(r), r.method, path, 0, -1, it->second, "", r.at, {}};
      nlohmann::json patch = nlohmann::json::parse(r.body, nullptr, false);
      if (r.headers.count("content-type") == 0 ||
          r.headers.at("content-type") != "application/merge-patch+json" || patch.is_discarded() ||
          !patch["spec"]["replicas"].is_number_integer()) {
        w.status = 400;
        scale_writes_.push_back(w);
        return Status(400, "BadRequest", "expected a merge patch of spec.replicas");
      }
      it->second = patch["spec"]["replicas"].get<int>();
      w.status = 200;
      w.replicas = it->second;
      w.done = std::chrono::steady_clock::now();
      scale_writes_.push_back(w);
    } else if (r.method != "GET") {
      return Status(405, "MethodNotAllowed", r.method);
    }
    return ScriptedReply{200, KubeEmulator::ScaleJson("x", "ns", it->second)};
  }

  static std::string CheckLeaseSpec(const nlohmann::json& lease) {
    static const std::regex kMicroTime(R"(^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$)");
    if (!lease.is_object() || lease.value("kind", "") != "Lease") return "kind: must be Lease";
    const auto& spec = lease.contains("spec") ? lease["spec"] : nlohmann::json::object();
    for (const char* t : {"acquireTime", "renewTime"}) {
      if (spec.contains(t) &&
          !(spec[t].is_string() && std::regex_match(spec[t].get<std::string>(), kMicroTime))) {
        return std::string("spec.") + t + ": not a MicroTime";
      }
    }
    if (spec.contains("leaseDurationSeconds") &&
        !(spec["leaseDurationSeconds"].is_number_integer() && spec["leaseDurationSeconds"] > 0)) {
      return "spec.leaseDurationSeconds: must be a positive integer";
    }
    return "";
  }

  ScriptedReply ServeLease(const RecordedRequest& r, const std::string& ns,
                           const std::string& name) {
    const std::string key = ns + "/" + name;
    if (r.method == "GET" && !name.empty()) {
      auto it = leases_.find(key);
      if (it == leases_.end()) {
        return Status(404, "NotFound", "leases.coordination.k8s.io \"" + name + "\" not found");
      }
      return ScriptedReply{200, it->second.dump()};
    }
    nlohmann::json body = nlohmann::json::parse(r.body, nullptr, false);
    Write w{Writer(r), r.method, r.target, 0, -1, -1, "", r.at, {}};
    auto reply = [&](ScriptedReply out) {
      w.status = out.status;
      lease_writes_.push_back(w);
      return out;
    };
    if (body.is_discarded()) return reply(Status(400, "BadRequest", "body is not JSON"));
    if (const std::string bad = CheckLeaseSpec(body); !bad.empty()) {
      return reply(Status(422, "Invalid", bad));
    }
    w.holder = body["spec"].value("holderIdentity", "");
    const std::string body_name = body["metadata"].value("name", "");
    if (r.method == "POST" && name.empty()) {
      const std::string created = ns + "/" + body_name;
      if (leases_.count(created)) {
        return reply(Status(409, "AlreadyExists",
                            "leases.coordination.k8s.io \"" + body_name + "\" already exists"));
      }
      body["metadata"]["namespace"] = ns;
      body["metadata"]["resourceVersion"] = std::to_string(++version_);
      leases_[created] = body;
      return reply(ScriptedReply{201, body.dump()});
    }
    if (r.method == "PUT" && !name.empty()) {
      auto it = leases_.find(key);
      if (it == leases_.end()) {
        return reply(
            Status(404, "NotFound", "leases.coordination.k8s.io \"" + name + "\" not found"));
      }
      const std::string sent = body["metadata"].value("resourceVersion", "");
      if (!sent.empty() && sent != it->second["metadata"].value("resourceVersion", "")) {
        return reply(Status(409, "Conflict",
                            "Operation cannot be fulfilled on leases.coordination.k8s.io \"" +
                                name +
                                "\": the object has been modified; please apply your changes "
                                "to the latest version and try again"));
      }
      body["metadata"]["resourceVersion"] = std::to_string(++version_);
      it->second = body;
      return reply(ScriptedReply{200, body.dump()});
    }
    return reply(Status(405, "MethodNotAllowed", r.method + " " + r.target));
  }

  std::mutex mu_;  // guards everything below
  int fail_ = 0;
  std::map<std::string, std::chrono::milliseconds> scale_write_delays_;  // by path; "": any
  uint64_t version_ = 100;
  std::map<std::string, nlohmann::json> leases_;
  std::map<std::string, int> replicas_;
  std::vector<Write> scale_writes_, lease_writes_;
};

}  // namespace lagscale::testing
