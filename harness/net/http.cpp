#include "net/http.h"

#include <fcntl.h>
#include <netdb.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <optional>

#include <fmt/format.h>

namespace bpfault::net {
namespace {

using Clock = std::chrono::steady_clock;

struct Fd {
  int fd = -1;
  explicit Fd(int f) : fd(f) {}
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  ~Fd() {
    if (fd >= 0) close(fd);
  }
};

int remaining_ms(Clock::time_point deadline) {
  auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()).count();
  return left > 0 ? static_cast<int>(left) : 0;
}

// Splits "host:port" and "[v6]:port".
bool split_host_port(const std::string& hp, std::string& host, std::string& port) {
  if (hp.starts_with('[')) {
    auto close = hp.find("]:");
    if (close == std::string::npos) return false;
    host = hp.substr(1, close - 1);
    port = hp.substr(close + 2);
  } else {
    auto colon = hp.rfind(':');
    if (colon == std::string::npos) return false;
    host = hp.substr(0, colon);
    port = hp.substr(colon + 1);
  }
  return !host.empty() && !port.empty() && std::ranges::all_of(port, [](char c) { return c >= '0' && c <= '9'; });
}

// A connected, non-blocking TCP socket, or why there is none.
Result<int> dial(const std::string& host_port, Clock::time_point deadline) {
  std::string host, port;
  if (!split_host_port(host_port, host, port))
    return fail(ErrorKind::bad_input, host_port, "not HOST:PORT", "e.g. 127.0.0.1:8080");
  addrinfo hints{}, *found = nullptr;
  hints.ai_socktype = SOCK_STREAM;
  if (int rc = getaddrinfo(host.c_str(), port.c_str(), &hints, &found); rc != 0)
    return fail(ErrorKind::environment, host_port, fmt::format("cannot resolve {}: {}", host, gai_strerror(rc)));
  std::string why = "no address";
  for (addrinfo* a = found; a; a = a->ai_next) {
    int fd = socket(a->ai_family, a->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, a->ai_protocol);
    if (fd < 0) continue;
    int rc = connect(fd, a->ai_addr, a->ai_addrlen);
    if (rc < 0 && errno == EINPROGRESS) {
      pollfd p{fd, POLLOUT, 0};
      if (poll(&p, 1, remaining_ms(deadline)) == 1) {
        int err = 0;
        socklen_t len = sizeof err;
        getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len);
        rc = err ? -1 : 0;
        errno = err;
      } else {
        rc = -1;
        errno = ETIMEDOUT;
      }
    }
    if (rc == 0) {
      freeaddrinfo(found);
      return fd;
    }
    why = strerror(errno);
    close(fd);
  }
  freeaddrinfo(found);
  return fail(ErrorKind::environment, host_port, fmt::format("cannot connect: {}", why));
}

std::string lower(std::string s) {
  for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

// A chunked body, decoded; nullopt when it is not well formed (or not complete).
std::optional<std::string> unchunk(std::string_view in) {
  std::string out;
  for (;;) {
    auto eol = in.find("\r\n");
    if (eol == std::string_view::npos) return std::nullopt;
    size_t size = 0;
    auto line = in.substr(0, eol);
    size_t i = 0;
    for (; i < line.size() && std::isxdigit(static_cast<unsigned char>(line[i])); ++i)
      size = size * 16 + static_cast<size_t>(std::isdigit(static_cast<unsigned char>(line[i]))
                                                 ? line[i] - '0'
                                                 : std::tolower(static_cast<unsigned char>(line[i])) - 'a' + 10);
    if (i == 0) return std::nullopt;
    in.remove_prefix(eol + 2);
    if (size == 0) return out;  // trailers, if any, are not needed
    if (in.size() < size + 2) return std::nullopt;
    out.append(in.substr(0, size));
    in.remove_prefix(size + 2);
  }
}

}  // namespace

Result<void> connect_tcp(const std::string& host_port, std::chrono::milliseconds timeout) {
  auto fd = dial(host_port, Clock::now() + timeout);
  if (!fd) return tl::unexpected(fd.error());
  close(*fd);
  return {};
}

Result<void> connect_unix(const std::string& path) {
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  if (path.size() >= sizeof addr.sun_path)
    return fail(ErrorKind::bad_input, path,
                fmt::format("a unix socket path is at most {} bytes", sizeof addr.sun_path - 1));
  std::memcpy(addr.sun_path, path.data(), path.size());
  Fd fd(socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
  if (fd.fd < 0 || connect(fd.fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0)
    return fail(ErrorKind::environment, path, fmt::format("cannot connect: {}", strerror(errno)));
  return {};
}

Result<HttpResponse> request(const HttpRequest& req) {
  const auto deadline = Clock::now() + req.timeout;
  const std::string_view scheme = "http://";
  if (!req.url.starts_with(scheme))
    return fail(ErrorKind::bad_input, req.url, "not an http:// URL", "bpfault's client speaks plain HTTP/1.1");
  std::string rest = req.url.substr(scheme.size());
  auto slash = rest.find('/');
  std::string authority = rest.substr(0, slash), target = slash == std::string::npos ? "/" : rest.substr(slash);
  std::string host_port = authority;
  if (authority.find(':', authority.starts_with('[') ? authority.find(']') : 0) == std::string::npos)
    host_port += ":80";
  auto fd = dial(host_port, deadline);
  if (!fd) {
    Error e = fd.error();
    e.where = req.url;
    return tl::unexpected(e);
  }
  Fd sock(*fd);

  std::string out = fmt::format("{} {} HTTP/1.1\r\nHost: {}\r\nConnection: close\r\n", req.method, target, authority);
  bool has_agent = false;
  for (const auto& [k, v] : req.headers) {
    out += fmt::format("{}: {}\r\n", k, v);
    has_agent |= lower(k) == "user-agent";
  }
  if (!has_agent) out += "User-Agent: bpfault\r\n";
  if (!req.body.empty() || req.method == "POST" || req.method == "PUT" || req.method == "PATCH")
    out += fmt::format("Content-Length: {}\r\n", req.body.size());
  out += "\r\n" + req.body;

  auto timed_out = [&](const char* doing) {
    return fail(ErrorKind::environment, req.url,
                fmt::format("no complete answer within {} ms ({})", req.timeout.count(), doing));
  };
  for (size_t sent = 0; sent < out.size();) {
    pollfd p{sock.fd, POLLOUT, 0};
    if (poll(&p, 1, remaining_ms(deadline)) != 1) return timed_out("sending the request");
    ssize_t n = send(sock.fd, out.data() + sent, out.size() - sent, MSG_NOSIGNAL);
    if (n < 0 && errno != EAGAIN && errno != EINTR)
      return fail(ErrorKind::environment, req.url, fmt::format("sending the request: {}", strerror(errno)));
    if (n > 0) sent += static_cast<size_t>(n);
  }

  std::string in;
  char buf[65536];
  for (;;) {  // Connection: close: the answer ends where the connection does
    pollfd p{sock.fd, POLLIN, 0};
    if (poll(&p, 1, remaining_ms(deadline)) != 1) return timed_out("reading the answer");
    ssize_t n = recv(sock.fd, buf, sizeof buf, 0);
    if (n == 0) break;
    if (n < 0) {
      if (errno == EAGAIN || errno == EINTR) continue;
      if (in.empty())
        return fail(ErrorKind::environment, req.url, fmt::format("reading the answer: {}", strerror(errno)));
      break;  // a reset after the answer: judge what arrived
    }
    in.append(buf, static_cast<size_t>(n));
  }

  auto head_end = in.find("\r\n\r\n");
  if (head_end == std::string::npos || !in.starts_with("HTTP/1."))
    return fail(ErrorKind::environment, req.url,
                fmt::format("not an HTTP answer ({} bytes{})", in.size(), in.empty() ? ": the connection closed" : ""));
  HttpResponse resp;
  std::string_view head(in.data(), head_end);
  auto eol = head.find("\r\n");
  std::string_view status_line = head.substr(0, eol);
  auto sp = status_line.find(' ');
  if (sp == std::string_view::npos || status_line.size() < sp + 4)
    return fail(ErrorKind::environment, req.url, fmt::format("malformed status line \"{}\"", status_line));
  resp.status = std::atoi(std::string(status_line.substr(sp + 1, 3)).c_str());
  if (status_line.size() > sp + 5) resp.reason = status_line.substr(sp + 5);
  for (size_t at = eol == std::string_view::npos ? head.size() : eol + 2; at < head.size();) {
    auto next = head.find("\r\n", at);
    std::string_view line = head.substr(at, next == std::string_view::npos ? std::string_view::npos : next - at);
    if (auto colon = line.find(':'); colon != std::string_view::npos) {
      std::string_view v = line.substr(colon + 1);
      while (!v.empty() && v.front() == ' ') v.remove_prefix(1);
      resp.headers[lower(std::string(line.substr(0, colon)))] = std::string(v);
    }
    if (next == std::string_view::npos) break;
    at = next + 2;
  }
  std::string_view body(in.data() + head_end + 4, in.size() - head_end - 4);
  if (auto te = resp.headers.find("transfer-encoding");
      te != resp.headers.end() && lower(te->second).find("chunked") != std::string::npos) {
    auto decoded = unchunk(body);
    if (!decoded) return fail(ErrorKind::environment, req.url, "the chunked body ended before its last chunk");
    resp.body = std::move(*decoded);
  } else if (auto cl = resp.headers.find("content-length"); cl != resp.headers.end()) {
    const size_t want = std::strtoull(cl->second.c_str(), nullptr, 10);
    if (body.size() < want)
      return fail(ErrorKind::environment, req.url,
                  fmt::format("the body ended after {} of its {} bytes (Content-Length)", body.size(), want));
    resp.body = std::string(body.substr(0, want));
  } else {
    resp.body = std::string(body);
  }
  return resp;
}

}  // namespace bpfault::net
