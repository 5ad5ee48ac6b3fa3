#include "support/process.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <boost/asio/connect.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>
#include <stdexcept>
#include <thread>
#include <utility>

#include "lagscale/base/host_port.h"
#include "lagscale/base/tcp_address.h"

extern char** environ;

namespace lagscale::testing {

namespace beast = boost::beast;
namespace http = beast::http;
using tcp = boost::asio::ip::tcp;

std::unique_ptr<ChildProcess> ChildProcess::Start(const std::vector<std::string>& argv,
                                                  const std::vector<std::string>& env) {
  std::unique_ptr<ChildProcess> child(new ChildProcess());
  char tmpl[] = "/tmp/lagscale-test-stderr-XXXXXX";
  int err_fd = mkstemp(tmpl);
  if (err_fd < 0) {
    ADD_FAILURE() << "mkstemp failed";
    return nullptr;
  }
  child->stderr_path_ = tmpl;
  int out[2];
  if (pipe2(out, O_CLOEXEC) != 0) {
    ADD_FAILURE() << "pipe failed";
    return nullptr;
  }
  std::vector<std::string> envs;
  for (char** e = environ; *e != nullptr; ++e) envs.emplace_back(*e);
  envs.insert(envs.end(), env.begin(), env.end());
  std::vector<char*> cargv, cenv;
  for (const auto& a : argv) cargv.push_back(const_cast<char*>(a.c_str()));
  cargv.push_back(nullptr);
  for (const auto& e : envs) cenv.push_back(const_cast<char*>(e.c_str()));
  cenv.push_back(nullptr);

  pid_t pid = fork();
  if (pid == 0) {
    dup2(out[1], STDOUT_FILENO);
    dup2(err_fd, STDERR_FILENO);
    // Only stdin, stdout and stderr: a socket the test process holds (a connection its in-process
    // peer accepted, a listener) must not stay open in a child, or closing it in the test would
    // not close the connection (the peer would never see it end).
    close_range(3, ~0U, 0);
    setpgid(0, 0);
    // Die with the test: a test binary killed by a timeout must not leave servers behind.
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    execve(cargv[0], cargv.data(), cenv.data());
    _exit(127);
  }
  close(out[1]);
  close(err_fd);
  if (pid < 0) {
    close(out[0]);
    ADD_FAILURE() << "fork failed";
    return nullptr;
  }
  child->pid_ = pid;
  child->stdout_fd_ = out[0];
  return child;
}

ChildProcess::~ChildProcess() {
  if (pid_ > 0 && !exit_code_) {
    kill(pid_, SIGKILL);
    waitpid(pid_, nullptr, 0);
  }
  if (stdout_fd_ >= 0) close(stdout_fd_);
  if (!stderr_path_.empty()) unlink(stderr_path_.c_str());
}

std::optional<std::string> ChildProcess::WaitForLine(std::string_view prefix,
                                                     std::chrono::milliseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  for (;;) {
    size_t nl;
    while ((nl = stdout_buffer_.find('\n')) != std::string::npos) {
      std::string line = stdout_buffer_.substr(0, nl);
      stdout_buffer_.erase(0, nl + 1);
      if (line.rfind(prefix, 0) == 0) return line;
    }
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) return std::nullopt;
    pollfd pfd{stdout_fd_, POLLIN, 0};
    if (poll(&pfd, 1, static_cast<int>(left.count())) <= 0) continue;
    char buf[4096];
    ssize_t n = read(stdout_fd_, buf, sizeof buf);
    if (n <= 0) return std::nullopt;  // the process closed stdout (exited)
    stdout_buffer_.append(buf, static_cast<size_t>(n));
  }
}

void ChildProcess::Signal(int signal) {
  if (pid_ > 0 && !exit_code_) kill(pid_, signal);
}

std::optional<int> ChildProcess::Wait(std::chrono::milliseconds timeout) {
  if (exit_code_) return exit_code_;
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  do {
    int status = 0;
    if (waitpid(pid_, &status, WNOHANG) == pid_) {
      exit_code_ = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
      return exit_code_;
    }
    // Polling a child's exit: there is no portable fd to wait on before Linux 5.3's pidfd.
    std::this_thread::sleep_for(5ms);
  } while (std::chrono::steady_clock::now() < deadline);
  return std::nullopt;
}

bool ChildProcess::running() { return !Wait(0ms).has_value(); }

std::string ChildProcess::stderr_text() const {
  std::ifstream in(stderr_path_);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

std::map<std::string, std::string> ParseReadyLine(const std::string& line) {
  std::map<std::string, std::string> out;
  std::istringstream words(line);
  std::string word;
  while (words >> word) {
    size_t eq = word.find('=');
    if (eq != std::string::npos) out[word.substr(0, eq)] = word.substr(eq + 1);
  }
  return out;
}

std::unique_ptr<ChildProcess> StartReady(const std::string& binary,
                                         const std::vector<std::string>& args,
                                         std::map<std::string, std::string>& addresses,
                                         const std::vector<std::string>& env) {
  std::vector<std::string> argv{std::string(LAGSCALE_BIN_DIR) + "/" + binary};
  argv.insert(argv.end(), args.begin(), args.end());
  auto child = ChildProcess::Start(argv, env);
  if (!child) return nullptr;
  auto line = child->WaitForLine(binary + " ready", 20s);
  if (!line) {
    ADD_FAILURE() << binary << " did not print its ready line; stderr:\n" << child->stderr_text();
    return nullptr;
  }
  addresses = ParseReadyLine(*line);
  return child;
}

int FreeLoopbackPort() {
  boost::asio::io_context io;
  tcp::acceptor acceptor(io, tcp::endpoint(boost::asio::ip::make_address("127.0.0.1"), 0));
  return acceptor.local_endpoint().port();
}

RefusingPort::RefusingPort() : RefusingPort(0, false) {}

RefusingPort::RefusingPort(const std::string& address)
    : RefusingPort(base::ParseHostPort(address).OrThrow().port, true) {}

RefusingPort::RefusingPort(int port, bool shared) {
  // Without SO_REUSEADDR (a new port), no other socket can bind the port while this one holds it.
  fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  const int on = 1;
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = htons(static_cast<uint16_t>(port));
  socklen_t length = sizeof addr;
  if (fd_ < 0 || (shared && ::setsockopt(fd_, SOL_SOCKET, SO_REUSEADDR, &on, sizeof on) != 0) ||
      ::bind(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 ||
      ::getsockname(fd_, reinterpret_cast<sockaddr*>(&addr), &length) != 0) {
    const std::string error = std::string("RefusingPort: ") + std::strerror(errno);
    if (fd_ >= 0) ::close(fd_);  // the destructor does not run for a constructor that throws
    throw std::runtime_error(error);
  }
  port_ = ntohs(addr.sin_port);
}

RefusingPort::~RefusingPort() {
  if (fd_ >= 0) ::close(fd_);
}

bool Eventually(const std::function<bool()>& condition, std::chrono::milliseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (!condition()) {
    if (std::chrono::steady_clock::now() >= deadline) return false;
    std::this_thread::sleep_for(10ms);
  }
  return true;
}

HttpResponse Http(const std::string& method, const std::string& host_port,
                  const std::string& target, const std::string& body,
                  const std::map<std::string, std::string>& headers,
                  std::chrono::milliseconds timeout) {
  HttpResponse result;
  try {
    boost::asio::io_context io;
    const auto endpoint = base::ResolveTcp(base::ParseHostPort(host_port).OrThrow(), "address");
    beast::tcp_stream stream(io);
    stream.expires_after(timeout);
    stream.connect(endpoint.OrThrow());
    http::request<http::string_body> req(http::string_to_verb(method), target, 11);
    req.set(http::field::host, host_port);
    for (const auto& [k, v] : headers) req.set(k, v);
    if (!body.empty() || method == "POST" || method == "PUT") {
      req.body() = body;
      req.prepare_payload();
    }
    http::write(stream, req);
    beast::flat_buffer buffer;
    http::response_parser<http::string_body> parser;
    parser.body_limit(512 * 1024 * 1024);
    if (method == "HEAD") parser.skip(true);
    http::read(stream, buffer, parser);
    auto& res = parser.get();
    result.status = res.result_int();
    result.body = std::move(res.body());
    for (const auto& field : res) {
      std::string name(field.name_string());
      for (char& c : name) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
      result.headers[name] = std::string(field.value());
    }
  } catch (const std::exception& e) {
    result.status = 0;
    result.error = e.what();
  }
  return result;
}

long RssKiB(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/status");
  std::string key;
  while (in >> key) {
    if (key == "VmRSS:") {
      long kib = -1;
      in >> kib;
      return kib;
    }
    in.ignore(std::numeric_limits<std::streamsize>::max(), '\n');
  }
  return -1;
}

std::set<std::string> ThreadNames(pid_t pid) {
  std::set<std::string> names;
  const std::filesystem::path tasks = "/proc/" + std::to_string(pid) + "/task";
  std::error_code ec;
  for (const auto& task : std::filesystem::directory_iterator(tasks, ec)) {
    std::ifstream comm(task.path() / "comm");
    std::string name;
    if (std::getline(comm, name)) names.insert(name);
  }
  return names;
}

double ThreadCpuSeconds(pid_t pid, const std::string& name) {
  const std::filesystem::path tasks = "/proc/" + std::to_string(pid) + "/task";
  std::error_code ec;
  for (const auto& task : std::filesystem::directory_iterator(tasks, ec)) {
    std::ifstream comm(task.path() / "comm");
    std::string thread_name;
    if (!std::getline(comm, thread_name) || thread_name != name) continue;
    std::ifstream stat(task.path() / "stat");
    std::string line;
    std::getline(stat, line);
    std::istringstream fields(line.substr(line.rfind(')') + 2));  // from field 3, the state
    std::string skip;
    for (int i = 3; i < 14; ++i) fields >> skip;
    double utime = 0, stime = 0;
    fields >> utime >> stime;
    return (utime + stime) / static_cast<double>(::sysconf(_SC_CLK_TCK));
  }
  return -1;
}

int LowestFreeFd(pid_t pid) {
  std::set<int> open;
  std::error_code ec;
  for (auto it = std::filesystem::directory_iterator("/proc/" + std::to_string(pid) + "/fd", ec);
       !ec && it != std::filesystem::directory_iterator(); it.increment(ec)) {
    open.insert(std::stoi(it->path().filename().string()));
  }
  int fd = 0;
  while (open.count(fd) > 0) ++fd;
  return fd;
}

bool SetFdLimit(pid_t pid, int soft) {
  rlimit old{};
  if (::prlimit(pid, RLIMIT_NOFILE, nullptr, &old) != 0) return false;
  const rlimit now{static_cast<rlim_t>(soft), old.rlim_max};
  return ::prlimit(pid, RLIMIT_NOFILE, &now, nullptr) == 0;
}

}  // namespace lagscale::testing
